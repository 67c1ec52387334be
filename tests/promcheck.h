/*
 * promcheck.h - a small checker of the Prometheus text exposition format
 * (version 0.0.4), header-only so that unit and integration tests can
 * share it without a library.  Test code: fixed caps, no allocation
 * beyond one list of seen series.
 *
 * promcheck(text, strict, err, errlen) returns 0 when every line is
 *   - empty, or a comment;
 *   - "# HELP <name> <text>" (at most once per family, escapes \\ \n);
 *   - "# TYPE <name> counter|gauge|histogram|summary|untyped" (at most
 *     once, before the family's samples);
 *   - a sample "<name>[{l="v",...}] <value>[ <timestamp ms>]" with a name
 *     matching [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
 *     (not "__..."), distinct within the sample, values quoted with only
 *     \\ \" \n escapes, and a float value (or NaN, +Inf, -Inf);
 * and moreover: lines of one family are contiguous; no series appears
 * twice; counters are >= 0; each histogram series has _bucket samples
 * with strictly increasing "le", cumulative (non-decreasing) values, the
 * last one le="+Inf", then _sum and a _count equal to the +Inf bucket; the
 * text ends with a newline.  With `strict`, every family also needs HELP
 * and TYPE.  Otherwise returns -1 with "line N: why" in err.
 *
 * promcheck_sum(text, name, labels, &sum) adds up the values of the
 * samples called `name` whose labels include every pair of `labels`
 * (`k="v",k2="v2"`, or "" for any) and returns how many matched.
 */
#ifndef TEMPO_PROMCHECK_H
#define TEMPO_PROMCHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PC_NAME_MAX 128
#define PC_LABEL_MAX 16
#define PC_VALUE_MAX 256
#define PC_FAMILIES 128
#define PC_SERIES 256

struct pc_label {
    char name[PC_NAME_MAX];
    char value[PC_VALUE_MAX]; /* unescaped */
};

struct pc_sample {
    char name[PC_NAME_MAX];
    struct pc_label labels[PC_LABEL_MAX];
    int nlabels;
    double value;
};

struct pc_family {
    char name[PC_NAME_MAX];
    char type[16]; /* "" if no TYPE line */
    int help;
    int samples;
    int state; /* 0 not seen, 1 current, 2 done */
};

/* One histogram series, keyed by its labels other than "le". */
struct pc_hseries {
    int family;
    char key[PC_LABEL_MAX * (PC_NAME_MAX + PC_VALUE_MAX + 8)];
    double last_le, last_cum, inf_value;
    int buckets, inf, sum, count;
    double count_value;
};

struct pc_state {
    struct pc_family fam[PC_FAMILIES];
    int nfam, current;
    struct pc_hseries *hs; /* PC_SERIES of them */
    int nhs;
    char **seen; /* "name{labels}" of every sample */
    size_t nseen;
    int line;
    char *err;
    size_t errlen;
};

static inline int pc_fail(struct pc_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline int pc_fail(struct pc_state *st, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(st->err, st->errlen, "line %d: ", st->line);

    if (n > 0 && (size_t)n < st->errlen) {
        va_start(ap, fmt);
        vsnprintf(st->err + n, st->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static inline int pc_is_name_start(char c, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon && c == ':');
}

static inline int pc_is_name_char(char c, int colon)
{
    return pc_is_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* Reads a metric (colon = 1) or label name at *p into out. */
static inline int pc_name(const char **p, int colon, char out[PC_NAME_MAX])
{
    size_t n = 0;

    if (!pc_is_name_start(**p, colon))
        return -1;
    while (pc_is_name_char((*p)[n], colon)) {
        if (n + 1 >= PC_NAME_MAX)
            return -1;
        out[n] = (*p)[n];
        n++;
    }
    out[n] = '\0';
    *p += n;
    return 0;
}

/* A Go-ParseFloat-like decimal: [+-]digits[.digits][e[+-]digits], or
 * NaN / [+-]Inf.  The token ends at a blank or the end of the line. */
static inline int pc_float(const char *s, size_t len, double *out)
{
    char buf[64];
    size_t i = 0, digits = 0;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (strcmp(buf, "NaN") == 0) {
        *out = NAN;
        return 0;
    }
    if (strcmp(buf, "+Inf") == 0 || strcmp(buf, "Inf") == 0) {
        *out = INFINITY;
        return 0;
    }
    if (strcmp(buf, "-Inf") == 0) {
        *out = -INFINITY;
        return 0;
    }
    if (buf[i] == '+' || buf[i] == '-')
        i++;
    for (; buf[i] >= '0' && buf[i] <= '9'; i++)
        digits++;
    if (buf[i] == '.')
        for (i++; buf[i] >= '0' && buf[i] <= '9'; i++)
            digits++;
    if (digits == 0)
        return -1;
    if (buf[i] == 'e' || buf[i] == 'E') {
        size_t ed = 0;
        i++;
        if (buf[i] == '+' || buf[i] == '-')
            i++;
        for (; buf[i] >= '0' && buf[i] <= '9'; i++)
            ed++;
        if (ed == 0)
            return -1;
    }
    if (buf[i] != '\0')
        return -1;
    *out = strtod(buf, NULL);
    return 0;
}

/* Parses one sample line (no newline) into *s; why set on failure. */
static inline int pc_parse_sample(const char *p, const char *end,
                                  struct pc_sample *s, const char **why)
{
    const char *tok;
    int i;

    memset(s, 0, sizeof(*s));
    if (pc_name(&p, 1, s->name) < 0) {
        *why = "bad metric name";
        return -1;
    }
    if (p < end && *p == '{') {
        p++;
        for (;;) {
            struct pc_label *l;
            size_t n = 0;

            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            if (p < end && *p == '}') {
                p++;
                break;
            }
            if (s->nlabels == PC_LABEL_MAX) {
                *why = "too many labels";
                return -1;
            }
            l = &s->labels[s->nlabels];
            if (pc_name(&p, 0, l->name) < 0) {
                *why = "bad label name";
                return -1;
            }
            if (strncmp(l->name, "__", 2) == 0) {
                *why = "reserved label name";
                return -1;
            }
            for (i = 0; i < s->nlabels; i++)
                if (strcmp(s->labels[i].name, l->name) == 0) {
                    *why = "duplicate label name";
                    return -1;
                }
            if (p + 1 >= end || p[0] != '=' || p[1] != '"') {
                *why = "want =\" after a label name";
                return -1;
            }
            for (p += 2; p < end && *p != '"'; p++) {
                char c = *p;
                if (c == '\\') {
                    if (p + 1 >= end) {
                        *why = "unfinished escape";
                        return -1;
                    }
                    c = *++p;
                    if (c == 'n')
                        c = '\n';
                    else if (c != '\\' && c != '"') {
                        *why = "bad escape in label value";
                        return -1;
                    }
                }
                if (n + 1 >= PC_VALUE_MAX) {
                    *why = "label value too long";
                    return -1;
                }
                l->value[n++] = c;
            }
            if (p >= end) {
                *why = "unterminated label value";
                return -1;
            }
            l->value[n] = '\0';
            p++; /* the closing quote */
            s->nlabels++;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == '}') {
                p++;
                break;
            }
            *why = "want , or } after a label";
            return -1;
        }
    }
    if (p >= end || (*p != ' ' && *p != '\t')) {
        *why = "want a blank before the value";
        return -1;
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    for (tok = p; p < end && *p != ' ' && *p != '\t'; p++)
        ;
    if (pc_float(tok, (size_t)(p - tok), &s->value) < 0) {
        *why = "bad sample value";
        return -1;
    }
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (p < end) { /* an optional timestamp, in integer milliseconds */
        if (*p == '-')
            p++;
        if (p >= end || *p < '0' || *p > '9') {
            *why = "bad timestamp";
            return -1;
        }
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end) {
            *why = "junk after the sample";
            return -1;
        }
    }
    return 0;
}

static inline int pc_family_find(struct pc_state *st, const char *name)
{
    int i;

    for (i = 0; i < st->nfam; i++)
        if (strcmp(st->fam[i].name, name) == 0)
            return i;
    return -1;
}

/* Makes family `name` the current one; families may not come back. */
static inline int pc_enter(struct pc_state *st, const char *name)
{
    int f = pc_family_find(st, name);

    if (f < 0) {
        if (st->nfam == PC_FAMILIES)
            return pc_fail(st, "too many families");
        f = st->nfam++;
        memset(&st->fam[f], 0, sizeof(st->fam[f]));
        snprintf(st->fam[f].name, sizeof(st->fam[f].name), "%s", name);
    }
    if (f != st->current) {
        if (st->fam[f].state == 2)
            return pc_fail(st, "lines of family %s are not together", name);
        if (st->current >= 0)
            st->fam[st->current].state = 2;
        st->fam[f].state = 1;
        st->current = f;
    }
    return f;
}

/* "# HELP name text" or "# TYPE name type"; other comments pass. */
static inline int pc_meta(struct pc_state *st, const char *p, const char *end)
{
    static const char *const types[] = {"counter", "gauge", "histogram",
                                        "summary", "untyped"};
    char name[PC_NAME_MAX];
    int help, f;
    size_t i;

    if (end - p >= 7 && strncmp(p, "# HELP ", 7) == 0)
        help = 1;
    else if (end - p >= 7 && strncmp(p, "# TYPE ", 7) == 0)
        help = 0;
    else
        return 0;
    p += 7;
    if (pc_name(&p, 1, name) < 0 || (p < end && *p != ' '))
        return pc_fail(st, "bad metric name in # %s", help ? "HELP" : "TYPE");
    f = pc_enter(st, name);
    if (f < 0)
        return -1;
    if (p < end)
        p++;
    if (help) {
        if (st->fam[f].help)
            return pc_fail(st, "second HELP for %s", name);
        st->fam[f].help = 1;
        for (; p < end; p++)
            if (*p == '\\' && (p + 1 >= end || (p[1] != '\\' && p[1] != 'n')))
                return pc_fail(st, "bad escape in HELP of %s", name);
            else if (*p == '\\')
                p++;
        return 0;
    }
    if (st->fam[f].type[0] != '\0')
        return pc_fail(st, "second TYPE for %s", name);
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if ((size_t)(end - p) == strlen(types[i]) &&
            strncmp(p, types[i], strlen(types[i])) == 0)
            break;
    if (i == sizeof(types) / sizeof(types[0]))
        return pc_fail(st, "unknown TYPE for %s", name);
    if (st->fam[f].samples > 0)
        return pc_fail(st, "TYPE of %s after its samples", name);
    snprintf(st->fam[f].type, sizeof(st->fam[f].type), "%s", types[i]);
    return 0;
}

static inline int pc_ends_with(const char *s, const char *suffix, size_t *base)
{
    size_t n = strlen(s), m = strlen(suffix);

    if (n <= m || strcmp(s + n - m, suffix) != 0)
        return 0;
    *base = n - m;
    return 1;
}

/* The family a sample belongs to, and its role in a histogram. */
static inline int pc_sample_family(struct pc_state *st,
                                   const struct pc_sample *s, int *role)
{
    static const char *const sfx[] = {"_bucket", "_sum", "_count"};
    char base[PC_NAME_MAX];
    size_t b, i;
    int f;

    *role = 0; /* plain */
    for (i = 0; i < 3; i++)
        if (pc_ends_with(s->name, sfx[i], &b)) {
            memcpy(base, s->name, b);
            base[b] = '\0';
            f = pc_family_find(st, base);
            if (f >= 0 &&
                (strcmp(st->fam[f].type, "histogram") == 0 ||
                 (i > 0 && strcmp(st->fam[f].type, "summary") == 0))) {
                *role = (int)i + 1; /* 1 bucket, 2 sum, 3 count */
                return pc_enter(st, base);
            }
        }
    return pc_enter(st, s->name);
}

static inline int pc_histogram(struct pc_state *st, int f,
                               const struct pc_sample *s, int role)
{
    struct pc_hseries *h = NULL;
    char key[sizeof(((struct pc_hseries *)0)->key)];
    const char *le = NULL;
    double lev = 0;
    size_t o = 0;
    int i;

    key[0] = '\0';
    for (i = 0; i < s->nlabels; i++) {
        if (strcmp(s->labels[i].name, "le") == 0) {
            le = s->labels[i].value;
            continue;
        }
        o += (size_t)snprintf(key + o, sizeof(key) - o, "%s=\"%s\",",
                              s->labels[i].name, s->labels[i].value);
    }
    if (role == 0)
        return pc_fail(st, "histogram %s has a sample without a suffix",
                       st->fam[f].name);
    if ((role == 1) != (le != NULL))
        return pc_fail(st, "%s: le belongs on _bucket samples only", s->name);
    for (i = 0; i < st->nhs; i++)
        if (st->hs[i].family == f && strcmp(st->hs[i].key, key) == 0)
            h = &st->hs[i];
    if (h == NULL) {
        if (st->nhs == PC_SERIES)
            return pc_fail(st, "too many histogram series");
        h = &st->hs[st->nhs++];
        memset(h, 0, sizeof(*h));
        h->family = f;
        snprintf(h->key, sizeof(h->key), "%s", key);
    }
    if (role == 1) {
        if (pc_float(le, strlen(le), &lev) < 0 || isnan(lev))
            return pc_fail(st, "%s: bad le \"%s\"", s->name, le);
        if (h->inf || h->sum || h->count)
            return pc_fail(st, "%s: bucket after +Inf, _sum or _count",
                           s->name);
        if (h->buckets > 0 && !(lev > h->last_le))
            return pc_fail(st, "%s: le %s not increasing", s->name, le);
        if (!(s->value >= 0) || (h->buckets > 0 && s->value < h->last_cum))
            return pc_fail(st, "%s{le=\"%s\"}: bucket not cumulative", s->name,
                           le);
        h->buckets++;
        h->last_le = lev;
        h->last_cum = s->value;
        if (isinf(lev) && lev > 0) {
            h->inf = 1;
            h->inf_value = s->value;
        }
    } else if (role == 2) {
        if (h->sum)
            return pc_fail(st, "%s: second _sum", s->name);
        h->sum = 1;
    } else {
        if (h->count)
            return pc_fail(st, "%s: second _count", s->name);
        if (!(s->value >= 0))
            return pc_fail(st, "%s: negative _count", s->name);
        h->count = 1;
        h->count_value = s->value;
    }
    return 0;
}

/* Histogram series of family f are complete and consistent. */
static inline int pc_close_histograms(struct pc_state *st)
{
    int i;

    for (i = 0; i < st->nhs; i++) {
        const struct pc_hseries *h = &st->hs[i];
        const char *n = st->fam[h->family].name;
        if (!h->inf)
            return pc_fail(st, "histogram %s{%s} has no le=\"+Inf\" bucket", n,
                           h->key);
        if (!h->sum || !h->count)
            return pc_fail(st, "histogram %s{%s} lacks _sum or _count", n,
                           h->key);
        if (h->count_value != h->inf_value)
            return pc_fail(st, "histogram %s{%s}: _count %g != +Inf %g", n,
                           h->key, h->count_value, h->inf_value);
    }
    return 0;
}

/* Records the series identity; a duplicate fails. */
static inline int pc_seen(struct pc_state *st, const struct pc_sample *s)
{
    char id[PC_NAME_MAX + 8 + PC_LABEL_MAX * (PC_NAME_MAX + PC_VALUE_MAX + 8)];
    size_t o, k;
    int i;

    o = (size_t)snprintf(id, sizeof(id), "%s{", s->name);
    for (i = 0; i < s->nlabels; i++)
        o += (size_t)snprintf(id + o, sizeof(id) - o, "%s=\"%s\",",
                              s->labels[i].name, s->labels[i].value);
    snprintf(id + o, sizeof(id) - o, "}");
    for (k = 0; k < st->nseen; k++)
        if (strcmp(st->seen[k], id) == 0)
            return pc_fail(st, "duplicate series %s", id);
    st->seen = realloc(st->seen, (st->nseen + 1) * sizeof(*st->seen));
    if (st->seen == NULL)
        abort();
    st->seen[st->nseen] = strdup(id);
    if (st->seen[st->nseen] == NULL)
        abort();
    st->nseen++;
    return 0;
}

static inline int pc_line(struct pc_state *st, const char *p, const char *end,
                          int strict)
{
    struct pc_sample s;
    const char *why = NULL;
    int f, role;

    if (p == end)
        return 0;
    if (*p == '#')
        return pc_meta(st, p, end);
    if (pc_parse_sample(p, end, &s, &why) < 0)
        return pc_fail(st, "%s", why);
    f = pc_sample_family(st, &s, &role);
    if (f < 0)
        return -1;
    if (strict && (!st->fam[f].help || st->fam[f].type[0] == '\0'))
        return pc_fail(st, "%s has no HELP or TYPE", s.name);
    if (pc_seen(st, &s) < 0)
        return -1;
    st->fam[f].samples++;
    if (strcmp(st->fam[f].type, "counter") == 0 && !(s.value >= 0))
        return pc_fail(st, "counter %s is negative or NaN", s.name);
    if (strcmp(st->fam[f].type, "histogram") == 0)
        return pc_histogram(st, f, &s, role);
    return 0;
}

static inline int promcheck(const char *text, int strict, char *err,
                            size_t errlen)
{
    struct pc_state *st = calloc(1, sizeof(*st));
    const char *p = text;
    size_t k;
    int rc = 0;

    if (st == NULL)
        abort();
    st->hs = calloc(PC_SERIES, sizeof(*st->hs));
    if (st->hs == NULL)
        abort();
    st->current = -1;
    st->err = err;
    st->errlen = errlen;
    if (errlen > 0)
        err[0] = '\0';
    while (rc == 0 && *p != '\0') {
        const char *nl = strchr(p, '\n');
        st->line++;
        if (nl == NULL) {
            rc = pc_fail(st, "the text does not end with a newline");
            break;
        }
        rc = pc_line(st, p, nl, strict);
        p = nl + 1;
    }
    if (rc == 0)
        rc = pc_close_histograms(st);
    for (k = 0; k < st->nseen; k++)
        free(st->seen[k]);
    free(st->seen);
    free(st->hs);
    free(st);
    return rc;
}

static inline int promcheck_sum(const char *text, const char *name,
                                const char *labels, double *sum)
{
    struct pc_sample want, s;
    char line[PC_NAME_MAX + 1024];
    const char *p = text, *why = NULL;
    int matches = 0, i, j;

    *sum = 0;
    /* Parse the wanted labels as a sample "x{labels} 0". */
    snprintf(line, sizeof(line), "x{%s} 0", labels);
    if (pc_parse_sample(line, line + strlen(line), &want, &why) < 0)
        return -1;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        const char *end = nl ? nl : p + strlen(p);

        if (*p != '#' && p != end && pc_parse_sample(p, end, &s, &why) == 0 &&
            strcmp(s.name, name) == 0) {
            for (i = 0; i < want.nlabels; i++) {
                for (j = 0; j < s.nlabels; j++)
                    if (strcmp(want.labels[i].name, s.labels[j].name) == 0 &&
                        strcmp(want.labels[i].value, s.labels[j].value) == 0)
                        break;
                if (j == s.nlabels)
                    break;
            }
            if (i == want.nlabels) {
                matches++;
                *sum += s.value;
            }
        }
        p = nl ? nl + 1 : end;
    }
    return matches;
}

#endif
