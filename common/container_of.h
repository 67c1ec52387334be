/*
 * container_of.h - from a pointer to a member back to its struct, for the
 * intrusive lists tempo uses (amqp_loop mail, the gateway's call table).
 */
#ifndef TEMPO_CONTAINER_OF_H
#define TEMPO_CONTAINER_OF_H

#include <stddef.h>

#define container_of(ptr, type, member)                                        \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
