/*
 * test_catalog.c - the built-in catalog: its data (real tracks, at least
 * 50 per genre, no duplicates), sampling (size, distinct tracks, variety,
 * no uri/url, each track's bytes in nameko_dumps form, safe from several
 * threads) and the TSV parser's refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "raw_json.h"

static struct catalog *cat;

/* catalog_pick's tracks as the JSON array a reply carries. */
static json_t *catalog_sample(const struct catalog *c, enum genre g, size_t n)
{
    size_t cap = n > catalog_count(c, g) ? catalog_count(c, g) : n;
    struct nameko_raw *out = calloc(cap ? cap : 1, sizeof(*out));
    json_t *a;

    assert_non_null(out);
    a = raw_json_array(out, catalog_pick(c, g, n, out));
    free(out);
    return a;
}

static int setup(void **state)
{
    char err[128];

    (void)state;
    cat = catalog_create(err, sizeof(err));
    if (cat == NULL)
        fail_msg("catalog_create: %s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    catalog_destroy(cat);
    return 0;
}

/* "title|artist1|artist2" for comparisons. */
static void track_id(const json_t *t, char *buf, size_t len)
{
    const json_t *a;
    size_t i, o;

    o = (size_t)snprintf(buf, len, "%s",
                         json_string_value(json_object_get(t, "name")));
    json_array_foreach(json_object_get(t, "artists"), i, a)
    {
        if (o < len)
            o +=
                (size_t)snprintf(buf + o, len - o, "|%s", json_string_value(a));
    }
}

static int all_distinct(const json_t *tracks)
{
    char a[512], b[512];
    size_t i, j;

    for (i = 0; i < json_array_size(tracks); i++)
        for (j = i + 1; j < json_array_size(tracks); j++) {
            track_id(json_array_get(tracks, i), a, sizeof(a));
            track_id(json_array_get(tracks, j), b, sizeof(b));
            if (strcmp(a, b) == 0)
                return 0;
        }
    return 1;
}

static void test_at_least_50_per_genre(void **state)
{
    int g;

    (void)state;
    for (g = 0; g < GENRE__COUNT; g++)
        assert_true(catalog_count(cat, (enum genre)g) >= 50);
    assert_int_equal(catalog_count(cat, GENRE__COUNT), 0);
}

static void test_no_duplicates_in_data(void **state)
{
    int g;

    (void)state;
    for (g = 0; g < GENRE__COUNT; g++) {
        size_t n = catalog_count(cat, (enum genre)g);
        json_t *all = catalog_sample(cat, (enum genre)g, n);

        assert_non_null(all);
        assert_int_equal(json_array_size(all), n);
        assert_true(all_distinct(all));
        json_decref(all);
    }
}

static void test_known_entries(void **state)
{
    json_t *all = catalog_sample(cat, GENRE_CLASSICAL, 1000);
    json_t *t;
    size_t i;
    int found = 0;

    (void)state;
    json_array_foreach(all, i, t)
    {
        char id[512];
        track_id(t, id, sizeof(id));
        if (strcmp(id, "Clair de lune|Claude Debussy") == 0)
            found = 1;
    }
    json_decref(all);
    assert_true(found);
}

static void test_sample_shape_and_size(void **state)
{
    size_t sizes[] = {1, 10, 50};
    size_t i, k;
    int g;

    (void)state;
    for (g = 0; g < GENRE__COUNT; g++)
        for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
            json_t *s = catalog_sample(cat, (enum genre)g, sizes[k]);
            json_t *t;

            assert_non_null(s);
            assert_int_equal(json_array_size(s), sizes[k]);
            assert_true(all_distinct(s));
            json_array_foreach(s, i, t)
            {
                json_t *artists = json_object_get(t, "artists");
                assert_true(json_string_length(json_object_get(t, "name")) > 0);
                assert_true(json_array_size(artists) >= 1);
                assert_true(json_is_string(json_array_get(artists, 0)));
                assert_null(json_object_get(t, "uri"));
                assert_null(json_object_get(t, "url"));
            }
            json_decref(s);
        }
}

static void test_sample_caps_at_count(void **state)
{
    json_t *s = catalog_sample(cat, GENRE_ROCK, 100000);

    (void)state;
    assert_int_equal(json_array_size(s), catalog_count(cat, GENRE_ROCK));
    json_decref(s);
    s = catalog_sample(cat, GENRE_ROCK, 0);
    assert_non_null(s);
    assert_int_equal(json_array_size(s), 0);
    json_decref(s);
}

static void test_samples_vary(void **state)
{
    json_t *first = catalog_sample(cat, GENRE_POP, 10);
    int i, differ = 0;

    (void)state;
    /* Two equal ordered 10-of-50+ samples have odds below 1e-16. */
    for (i = 0; i < 5; i++) {
        json_t *s = catalog_sample(cat, GENRE_POP, 10);
        if (!json_equal(first, s))
            differ++;
        json_decref(s);
    }
    json_decref(first);
    assert_true(differ >= 4);
}

static void *sampler(void *arg)
{
    int i;

    (void)arg;
    for (i = 0; i < 200; i++) {
        json_t *s = catalog_sample(cat, (enum genre)(i % GENRE__COUNT), 10);
        if (s == NULL || json_array_size(s) != 10 || !all_distinct(s))
            return (void *)1;
        json_decref(s);
    }
    return NULL;
}

static void test_threads(void **state)
{
    pthread_t th[4];
    void *res;
    int i;

    (void)state;
    for (i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, sampler, NULL), 0);
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], &res), 0);
        assert_null(res);
    }
}

static void test_parse_accepts(void **state)
{
    static const char tsv[] = "# comment\n\n"
                              "rock\tSong A\tBand A\r\n"
                              "  # indented comment\n"
                              "pop\tSong B\t Singer ;Guest  \n"
                              "classical\tFür Elise\tLudwig van Beethoven";
    char err[128];
    struct catalog *c = catalog_parse(tsv, strlen(tsv), err, sizeof(err));
    json_t *s, *want;

    (void)state;
    assert_non_null(c);
    assert_int_equal(catalog_count(c, GENRE_ROCK), 1);
    assert_int_equal(catalog_count(c, GENRE_POP), 1);
    assert_int_equal(catalog_count(c, GENRE_CLASSICAL), 1);
    assert_int_equal(catalog_count(c, GENRE_PARTY), 0);
    s = catalog_sample(c, GENRE_POP, 5);
    assert_int_equal(json_array_size(s), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(s, 0), "name")),
        "Song B");
    want = json_pack("[ss]", "Singer", "Guest");
    assert_true(
        json_equal(json_object_get(json_array_get(s, 0), "artists"), want));
    json_decref(want);
    json_decref(s);
    s = catalog_sample(c, GENRE_ROCK, 5);
    assert_string_equal(
        json_string_value(json_array_get(
            json_object_get(json_array_get(s, 0), "artists"), 0)),
        "Band A"); /* no stray \r */
    json_decref(s);
    s = catalog_sample(c, GENRE_PARTY, 5);
    assert_int_equal(json_array_size(s), 0);
    json_decref(s);
    catalog_destroy(c);
}

static void test_parse_rejects(void **state)
{
    static const struct {
        const char *tsv;
        size_t len; /* 0: strlen */
        const char *why;
    } bad[] = {
        {"rock\tTitle\n", 0, "line 1"},
        {"# c\njazz\tTitle\tArtist\n", 0, "line 2"},
        {"rock\t\tArtist\n", 0, "title"},
        {"rock\tTitle\t\n", 0, "artist"},
        {"rock\tTitle\tA;;B\n", 0, "artist"},
        {"rock\tTitle\tA\textra\n", 0, "fields"},
        {"rock\tBad \xff\xfe\tArtist\n", 0, "title"},
        {"rock\tTitle\tA;B;C;D;E;F;G;H;I\n", 0, "artist"},
        {"rock\tTi\0tle\tA\n", 14, "NUL"},
    };
    char err[128];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t len = bad[i].len ? bad[i].len : strlen(bad[i].tsv);
        struct catalog *c = catalog_parse(bad[i].tsv, len, err, sizeof(err));

        if (c != NULL)
            fail_msg("case %zu parsed", i);
        if (strstr(err, bad[i].why) == NULL)
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_at_least_50_per_genre),
        cmocka_unit_test(test_no_duplicates_in_data),
        cmocka_unit_test(test_known_entries),
        cmocka_unit_test(test_sample_shape_and_size),
        cmocka_unit_test(test_sample_caps_at_count),
        cmocka_unit_test(test_samples_vary),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_parse_accepts),
        cmocka_unit_test(test_parse_rejects),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
