/*
 * errors.c - lookups over the TEMPO_ERRORS table.
 */
#include "errors.h"

#include <string.h>

struct err_row {
    int status;
    const char *code;
    const char *exc_type;
    const char *exc_path;
};

static const struct err_row err_rows[] = {
#define TEMPO_ERR_ROW(name, status, code, exc, path) {status, code, exc, path},
    TEMPO_ERRORS(TEMPO_ERR_ROW)
#undef TEMPO_ERR_ROW
};

#define ERR_NROWS (sizeof(err_rows) / sizeof(err_rows[0]))

static const struct err_row *err_row(int err)
{
    long idx = (long)err - (long)TEMPO__FIRST - 1;

    if (idx < 0 || (size_t)idx >= ERR_NROWS)
        idx = (long)TEMPO_EINTERNAL - (long)TEMPO__FIRST - 1;
    return &err_rows[idx];
}

int tempo_err_http_status(int err)
{
    return err_row(err)->status;
}

const char *tempo_err_code(int err)
{
    return err_row(err)->code;
}

const char *tempo_err_exc_type(int err)
{
    return err_row(err)->exc_type;
}

const char *tempo_err_exc_path(int err)
{
    return err_row(err)->exc_path;
}

int tempo_err_from_exc_type(const char *exc_type)
{
    /* Only the types a worker raises on purpose map to a client error
     * (SPEC section 3); Nameko's protocol errors are the caller's bug, and
     * anything else, ServiceUnavailable included (503 is the gateway's own
     * verdict on the broker, not a worker's to give), is 500. */
    static const int mapped[] = {TEMPO_EINVAL, TEMPO_ENOCITY, TEMPO_EUPSTREAM,
                                 TEMPO_ETIMEOUT};
    size_t i;

    if (exc_type == NULL)
        return TEMPO_EINTERNAL;
    for (i = 0; i < sizeof(mapped) / sizeof(mapped[0]); i++)
        if (strcmp(exc_type, tempo_err_exc_type(mapped[i])) == 0)
            return mapped[i];
    return TEMPO_EINTERNAL;
}
