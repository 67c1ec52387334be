/*
 * weather.c - see weather.h.
 */
#include "weather.h"

#include <string.h>

void weather_report_set_name(struct weather_report *r, const char *s,
                             size_t len)
{
    if (len > sizeof(r->name) - 1) {
        len = sizeof(r->name) - 1;
        /* Back up over continuation bytes so no character is split. */
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    memcpy(r->name, s, len);
    r->name[len] = '\0';
}
