/*
 * amqp_headers.c - see amqp_headers.h.
 */
#include "amqp_headers.h"

#include <string.h>

const amqp_field_value_t *amqp_headers_find(const amqp_table_t *t,
                                            const char *key)
{
    size_t klen = strlen(key);
    int i;

    if (t == NULL)
        return NULL;
    for (i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (e->key.len == klen && memcmp(e->key.bytes, key, klen) == 0)
            return &e->value;
    }
    return NULL;
}

static int value_string(const amqp_field_value_t *v, char *out, size_t cap)
{
    amqp_bytes_t b;

    out[0] = '\0';
    if (v == NULL ||
        (v->kind != AMQP_FIELD_KIND_UTF8 && v->kind != AMQP_FIELD_KIND_BYTES))
        return -1;
    b = v->value.bytes;
    if (b.len >= cap || (b.len > 0 && memchr(b.bytes, '\0', b.len)))
        return -1;
    if (b.len > 0)
        memcpy(out, b.bytes, b.len);
    out[b.len] = '\0';
    return 0;
}

int amqp_headers_string(const amqp_table_t *t, const char *key, char *out,
                        size_t cap)
{
    return value_string(amqp_headers_find(t, key), out, cap);
}

int amqp_headers_last_string(const amqp_table_t *t, const char *key, char *out,
                             size_t cap)
{
    const amqp_field_value_t *v = amqp_headers_find(t, key);

    out[0] = '\0';
    if (v == NULL || v->kind != AMQP_FIELD_KIND_ARRAY ||
        v->value.array.num_entries <= 0)
        return -1;
    return value_string(&v->value.array.entries[v->value.array.num_entries - 1],
                        out, cap);
}

int amqp_headers_int64(const amqp_table_t *t, const char *key, int64_t *out)
{
    const amqp_field_value_t *v = amqp_headers_find(t, key);
    char buf[24];
    int64_t n = 0;
    size_t i;

    if (v == NULL)
        return -1;
    switch (v->kind) {
    case AMQP_FIELD_KIND_I8:
        *out = v->value.i8;
        return 0;
    case AMQP_FIELD_KIND_U8:
        *out = v->value.u8;
        return 0;
    case AMQP_FIELD_KIND_I16:
        *out = v->value.i16;
        return 0;
    case AMQP_FIELD_KIND_U16:
        *out = v->value.u16;
        return 0;
    case AMQP_FIELD_KIND_I32:
        *out = v->value.i32;
        return 0;
    case AMQP_FIELD_KIND_U32:
        *out = v->value.u32;
        return 0;
    case AMQP_FIELD_KIND_I64:
        *out = v->value.i64;
        return 0;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        if (v->value.u64 > (uint64_t)INT64_MAX)
            return -1;
        *out = (int64_t)v->value.u64;
        return 0;
    default:
        break;
    }
    if (value_string(v, buf, sizeof(buf)) < 0 || buf[0] == '\0' ||
        strlen(buf) > 18)
        return -1;
    for (i = 0; buf[i] != '\0'; i++) {
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
        n = n * 10 + (buf[i] - '0');
    }
    *out = n;
    return 0;
}
