/*
 * errors.c - lookups over the TEMPO_ERRORS table, and the one error body.
 */
#include "errors.h"

#include <jansson.h>
#include <pthread.h>
#include <string.h>

struct err_row {
    int status;
    const char *code;
    const char *exc_type;
    const char *exc_path;
    int wire;
};

static const struct err_row err_rows[] = {
#define TEMPO_ERR_ROW(name, status, code, exc, path, wire)                     \
    {status, code, exc, path, wire},
    TEMPO_ERRORS(TEMPO_ERR_ROW)
#undef TEMPO_ERR_ROW
};

#define ERR_NROWS ((int)(sizeof(err_rows) / sizeof(err_rows[0])))

_Static_assert(ERR_NROWS == TEMPO_ERR_COUNT, "one row per code");

int tempo_err_index(int err)
{
    int idx = err - (int)TEMPO__FIRST - 1;

    if (idx < 0 || idx >= ERR_NROWS)
        idx = (int)TEMPO_EINTERNAL - (int)TEMPO__FIRST - 1;
    return idx;
}

int tempo_err_at(int index)
{
    if (index < 0 || index >= ERR_NROWS)
        return TEMPO_EINTERNAL;
    return (int)TEMPO__FIRST + 1 + index;
}

static const struct err_row *err_row(int err)
{
    return &err_rows[tempo_err_index(err)];
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

int tempo_err_wire(int err)
{
    return err_row(err)->wire;
}

/* Position of a code word among the distinct ones, in table order. */
static int code_position(const char *code, const char *const *codes, int n)
{
    int i;

    for (i = 0; i < n; i++)
        if (strcmp(codes[i], code) == 0)
            return i;
    return -1;
}

/* The distinct code words; the table is const, so the list is computed
 * from it the same way every time (no state to initialise). */
static int distinct_codes(const char *out[ERR_NROWS])
{
    int n = 0, i;

    for (i = 0; i < ERR_NROWS; i++)
        if (code_position(err_rows[i].code, out, n) < 0)
            out[n++] = err_rows[i].code;
    return n;
}

static const char *code_list[ERR_NROWS];
static int code_count;
static pthread_once_t code_once = PTHREAD_ONCE_INIT;

static void init_codes(void)
{
    code_count = distinct_codes(code_list);
}

int tempo_err_codes(const char *const **codes)
{
    pthread_once(&code_once, init_codes);
    *codes = code_list;
    return code_count;
}

int tempo_err_code_index(int err)
{
    const char *const *codes;
    int n = tempo_err_codes(&codes);

    return code_position(tempo_err_code(err), codes, n);
}

int tempo_err_from_exc_type(const char *exc_type)
{
    int i;

    if (exc_type == NULL)
        return TEMPO_EINTERNAL;
    for (i = 0; i < ERR_NROWS; i++)
        if (err_rows[i].wire == ERR_WIRE_MAPS &&
            strcmp(exc_type, err_rows[i].exc_type) == 0)
            return tempo_err_at(i);
    return TEMPO_EINTERNAL;
}

char *tempo_err_body(int err, const char *message)
{
    int status = tempo_err_http_status(err);
    const char *code = tempo_err_code(err);
    json_t *body = NULL;
    char *s;

    if (message != NULL)
        body = json_pack("{s:{s:i,s:s,s:s}}", "error", "status", status, "code",
                         code, "message", message);
    if (body == NULL) /* no message, or not valid UTF-8: say the code */
        body = json_pack("{s:{s:i,s:s,s:s}}", "error", "status", status, "code",
                         code, "message", code);
    if (body == NULL)
        return NULL;
    s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return s;
}
