/*
 * test_doc_build.c — the binary document builder and reader (doc/build.c,
 * doc/value.c): what is built reads back, limits hold, and damaged
 * documents give BURROW_ECORRUPT without reading outside them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "doc/doc.h"
#include "testutil.h"

static doc_val root_of(const uint8_t *d, size_t n)
{
    doc_val v;
    assert_int_equal(doc_root(d, n, &v), 0);
    return v;
}

static void test_scalars(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    const uint8_t *d;
    size_t n;
    int64_t ints[] = {0, -1, 127, -128, 128, 32767, -32769, 2147483647, -2147483649LL, INT64_MAX,
                      INT64_MIN};
    size_t sizes[] = {2, 2, 2, 2, 3, 3, 5, 5, 9, 9, 9};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        assert_int_equal(doc_builder_begin(&b), 0);
        assert_int_equal(doc_builder_int(&b, ints[i]), 0);
        assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
        assert_int_equal(n, 1 + sizes[i]);
        doc_val v = root_of(d, n);
        int64_t got;
        assert_int_equal(doc_type(v), DOC_INT);
        assert_int_equal(doc_get_int(v, &got), 0);
        assert_true(got == ints[i]);
        assert_int_equal(doc_validate(d, n), 0);
    }
    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_double(&b, 2.5), 0);
    assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
    double x;
    assert_int_equal(doc_get_double(root_of(d, n), &x), 0);
    assert_true(x == 2.5);
    int64_t i64;
    assert_int_equal(doc_get_int(root_of(d, n), &i64), BURROW_ETYPE);

    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_double(&b, 1.0 / 0.0), BURROW_ERANGE);
    assert_int_equal(doc_builder_finish(&b, &d, &n), BURROW_ERANGE);

    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_string(&b, "héllo", 6), 0);
    assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
    const char *s;
    size_t sl;
    assert_int_equal(doc_get_string(root_of(d, n), &s, &sl), 0);
    assert_int_equal(sl, 6);
    assert_memory_equal(s, "héllo", 6);
    doc_builder_free(&b);
}

/* {"name":"ann","tags":["a",1,null],"k0".."k{n-1}":i} — small and sorted. */
static void build_object(doc_builder *b, int nkeys)
{
    assert_int_equal(doc_builder_begin(b), 0);
    assert_int_equal(doc_builder_begin_object(b), 0);
    assert_int_equal(doc_builder_key(b, "name", 4), 0);
    assert_int_equal(doc_builder_string(b, "ann", 3), 0);
    assert_int_equal(doc_builder_key(b, "tags", 4), 0);
    assert_int_equal(doc_builder_begin_array(b), 0);
    assert_int_equal(doc_builder_string(b, "a", 1), 0);
    assert_int_equal(doc_builder_int(b, 1), 0);
    assert_int_equal(doc_builder_null(b), 0);
    assert_int_equal(doc_builder_end(b), 0);
    for (int i = 0; i < nkeys; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%d", (i * 7919) % nkeys);
        assert_int_equal(doc_builder_key(b, k, (size_t)kl), 0);
        assert_int_equal(doc_builder_int(b, (i * 7919) % nkeys), 0);
    }
    assert_int_equal(doc_builder_end(b), 0);
}

static void test_objects(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    int sizes[] = {0, 3, 14, 15, 16, 200, 5000};
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        int nk = sizes[t];
        build_object(&b, nk);
        const uint8_t *d;
        size_t n;
        assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
        assert_int_equal(doc_validate(d, n), 0);
        doc_val root = root_of(d, n), v;
        assert_int_equal(doc_type(root), DOC_OBJECT);
        assert_int_equal(doc_count(root), (uint32_t)nk + 2);
        assert_int_equal(doc_object_get(root, "tags", 4, &v), 0);
        assert_int_equal(doc_count(v), 3);
        doc_val e;
        assert_int_equal(doc_array_at(v, 2, &e), 0);
        assert_int_equal(doc_type(e), DOC_NULL);
        assert_int_equal(doc_array_at(v, 3, &e), BURROW_ENOTFOUND);
        for (int i = 0; i < nk; i++) {
            char k[16];
            int kl = snprintf(k, sizeof k, "k%d", i);
            int64_t got;
            assert_int_equal(doc_object_get(root, k, (size_t)kl, &v), 0);
            assert_int_equal(doc_get_int(v, &got), 0);
            assert_int_equal(got, i);
        }
        assert_int_equal(doc_object_get(root, "nope", 4, &v), BURROW_ENOTFOUND);
        assert_int_equal(doc_object_get(root, "k", 1, &v), BURROW_ENOTFOUND);
        /* Insertion order is kept. */
        const char *k;
        size_t kl;
        assert_int_equal(doc_object_at(root, 1, &k, &kl, &v), 0);
        assert_int_equal(kl, 4);
        assert_memory_equal(k, "tags", 4);
        doc_iter it;
        doc_iter_init(&it, root);
        uint32_t seen = 0;
        int rc;
        while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1)
            seen++;
        assert_int_equal(rc, 0);
        assert_int_equal(seen, (uint32_t)nk + 2);
    }
    doc_builder_free(&b);
}

static void test_duplicates_and_misuse(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    const uint8_t *d;
    size_t n;
    for (int nk = 2; nk <= 40; nk += 19) {
        assert_int_equal(doc_builder_begin(&b), 0);
        assert_int_equal(doc_builder_begin_object(&b), 0);
        for (int i = 0; i < nk; i++) {
            char k[16];
            int kl = snprintf(k, sizeof k, "x%d", i == nk - 1 ? 0 : i);
            assert_int_equal(doc_builder_key(&b, k, (size_t)kl), 0);
            assert_int_equal(doc_builder_bool(&b, true), 0);
        }
        assert_int_equal(doc_builder_end(&b), BURROW_EEXIST);
        assert_string_equal(burrow_errmsg(), "duplicate key \"x0\"");
        assert_int_equal(doc_builder_finish(&b, &d, &n), BURROW_EEXIST);
    }
    /* A value without a key, two roots, an unclosed container. */
    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_begin_object(&b), 0);
    assert_int_equal(doc_builder_int(&b, 1), BURROW_EINVAL);
    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_int(&b, 1), 0);
    assert_int_equal(doc_builder_int(&b, 2), BURROW_EINVAL);
    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_begin_array(&b), 0);
    assert_int_equal(doc_builder_finish(&b, &d, &n), BURROW_EINVAL);
    /* Depth limit. */
    b.max_depth = 10;
    assert_int_equal(doc_builder_begin(&b), 0);
    int rc = 0;
    for (int i = 0; i < 11 && rc == 0; i++)
        rc = doc_builder_begin_array(&b);
    assert_int_equal(rc, BURROW_EINVAL);
    doc_builder_free(&b);
}

/* Random byte flips and truncations of a valid document: every accessor
 * either works or says BURROW_ECORRUPT, under ASan. */
static void walk(doc_val v, int depth)
{
    if (depth > 600)
        return;
    doc_iter it;
    const char *k;
    size_t kl;
    doc_val e;
    doc_iter_init(&it, v);
    while (doc_iter_next(&it, &k, &kl, &e) == 1)
        walk(e, depth + 1);
    doc_object_get(v, "k3", 2, &e);
    doc_array_at(v, 1, &e);
}

static void test_corruption(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    doc_builder b;
    doc_builder_init(&b);
    build_object(&b, 20);
    const uint8_t *d;
    size_t n;
    assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
    uint8_t *copy = malloc(n);
    unsigned rounds = tu_rounds(20000, 500000);
    unsigned invalid = 0;
    for (unsigned i = 0; i < rounds; i++) {
        size_t len = tu_chance(&r, 1, 4) ? tu_below(&r, n + 1) : n;
        uint8_t *c = malloc(len ? len : 1);
        memcpy(copy, d, n);
        for (unsigned f = 1 + (unsigned)tu_below(&r, 3); f; f--)
            copy[tu_below(&r, n)] ^= (uint8_t)(1u << tu_below(&r, 8));
        memcpy(c, copy, len);
        doc_val v;
        if (doc_validate(c, len) != 0)
            invalid++;
        if (doc_root(c, len, &v) == 0)
            walk(v, 0);
        free(c);
    }
    assert_true(invalid > 0);
    free(copy);
    doc_builder_free(&b);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_duplicates_and_misuse),
        cmocka_unit_test(test_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
