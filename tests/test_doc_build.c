/*
 * test_doc_build.c — the binary document builder and reader (doc/build.c,
 * doc/value.c): what is built reads back, limits hold, and damaged
 * documents give BURROW_ECORRUPT without reading outside them. The
 * container cursor answers as the one-shot accessors do; the builder's
 * shortcuts (a known key order, keys vouched unique, entries copied whole)
 * give doc_builder_end's bytes and errors.
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

/* The cursor of v against the one-shot accessors, element by element. */
static void check_cursor(doc_val v)
{
    doc_container c;
    int rc = doc_container_open(v, &c);
    enum doc_type t = doc_type(v);
    if (t != DOC_ARRAY && t != DOC_OBJECT)
        assert_int_equal(rc, BURROW_ETYPE);
    assert_true(rc == 0 || rc == BURROW_ETYPE || rc == BURROW_ECORRUPT);
    assert_int_equal(c.count, doc_count(v));
    if (rc) {
        /* Opened empty; the one-shot accessors fail the same way. */
        const char *k;
        size_t kl;
        doc_val e;
        assert_int_equal(c.count, 0);
        assert_int_equal(doc_container_elem(&c, 0, &k, &kl, &e), BURROW_ENOTFOUND);
        assert_int_equal(t == DOC_ARRAY ? doc_array_at(v, 0, &e) : doc_object_at(v, 0, &k, &kl, &e),
                         rc);
        return;
    }
    for (uint32_t i = 0; i <= c.count; i++) {
        const char *k1 = NULL, *k2 = NULL;
        size_t l1 = 0, l2 = 0;
        doc_val e1 = {0}, e2 = {0};
        int r1 = doc_container_elem(&c, i, &k1, &l1, &e1);
        int r2 = t == DOC_ARRAY ? doc_array_at(v, i, &e2) : doc_object_at(v, i, &k2, &l2, &e2);
        assert_int_equal(r1, r2);
        if (r1)
            continue;
        assert_true(e1.p == e2.p && e1.len == e2.len);
        assert_true(e1.p >= v.p && e1.p + e1.len <= v.p + v.len);
        if (t == DOC_ARRAY) {
            assert_null(k1);
        } else {
            assert_true(k1 == k2 && l1 == l2);
            doc_val f1, f2;
            int g1 = doc_container_find(&c, k1, l1, &f1), g2 = doc_object_get(v, k1, l1, &f2);
            assert_int_equal(g1, g2);
            if (g1 == 0)
                assert_true(f1.p == f2.p && f1.len == f2.len);
        }
    }
    if (c.sorted) {
        for (uint32_t j = 0; j < c.count; j++) {
            uint32_t idx;
            rc = doc_container_sorted_at(&c, j, &idx);
            assert_true(rc == 0 || rc == BURROW_ECORRUPT);
            if (rc == 0)
                assert_true(idx < c.count);
        }
    }
    uint32_t idx;
    assert_int_equal(doc_container_sorted_at(&c, c.count, &idx), BURROW_ENOTFOUND);
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
    check_cursor(v);
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

static void test_cursor(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    int sizes[] = {0, 3, 15, 16, 200};
    for (size_t t = 0; t < sizeof sizes / sizeof *sizes; t++) {
        build_object(&b, sizes[t]);
        const uint8_t *d;
        size_t n;
        assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
        doc_val root = root_of(d, n), v;
        check_cursor(root);
        doc_container c, ca;
        assert_int_equal(doc_container_open(root, &c), 0);
        assert_int_equal(c.count, (uint32_t)sizes[t] + 2);
        assert_true((c.sorted != NULL) == (c.count >= DOC_SORTED_MIN));
        assert_int_equal(doc_container_find(&c, "tags", 4, &v), 0);
        check_cursor(v);
        assert_int_equal(doc_container_open(v, &ca), 0);
        assert_int_equal(doc_container_find(&ca, "a", 1, &v), BURROW_ETYPE);
        assert_int_equal(doc_container_elem(&ca, 3, NULL, NULL, &v), BURROW_ENOTFOUND);
        assert_int_equal(doc_container_find(&c, "nope", 4, &v), BURROW_ENOTFOUND);
        assert_int_equal(doc_container_find(&c, "", 0, &v), BURROW_ENOTFOUND);
        /* The sorted table, read through the cursor, is in key order. */
        if (c.sorted) {
            const char *pk = NULL;
            size_t pkl = 0;
            for (uint32_t j = 0; j < c.count; j++) {
                uint32_t idx;
                const char *k;
                size_t kl;
                assert_int_equal(doc_container_sorted_at(&c, j, &idx), 0);
                assert_int_equal(doc_container_elem(&c, idx, &k, &kl, &v), 0);
                if (pk) {
                    int r = memcmp(pk, k, pkl < kl ? pkl : kl);
                    assert_true(r < 0 || (r == 0 && pkl < kl));
                }
                pk = k;
                pkl = kl;
            }
        } else {
            uint32_t idx;
            assert_int_equal(doc_container_sorted_at(&c, 0, &idx), BURROW_ENOTFOUND);
        }
        /* A scalar is no container; a damaged header opens empty. */
        assert_int_equal(doc_container_elem(&c, 0, NULL, NULL, &v), 0);
        assert_int_equal(doc_container_open(v, &ca), BURROW_ETYPE);
        assert_int_equal(ca.count, 0);
        assert_int_equal(doc_container_find(&ca, "a", 1, &v), BURROW_ENOTFOUND);
        uint8_t *bad = malloc(root.len);
        memcpy(bad, root.p, root.len);
        bad[1] |= 0x80; /* an unknown flag */
        assert_int_equal(doc_container_open((doc_val){bad, root.len}, &ca), BURROW_ECORRUPT);
        assert_int_equal(ca.count, 0);
        assert_int_equal(doc_container_elem(&ca, 0, NULL, NULL, &v), BURROW_ENOTFOUND);
        doc_iter it;
        doc_iter_init(&it, (doc_val){bad, root.len});
        assert_int_equal(doc_iter_next(&it, NULL, NULL, &v), 0);
        free(bad);
    }
    doc_builder_free(&b);
}

/* Key order (doc.h): bytewise, shorter first on a common prefix. */
static const char *cmp_keys_base[64];
static size_t cmp_keys_len[64];
static int cmp_idx(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, c = *(const uint32_t *)y;
    size_t la = cmp_keys_len[a], lc = cmp_keys_len[c];
    int r = memcmp(cmp_keys_base[a], cmp_keys_base[c], la < lc ? la : lc);
    return r ? r : (la > lc) - (la < lc);
}

/* Keys meant to meet every case of the builder's comparison: equal first
 * 8 bytes, NUL bytes, prefixes of each other, the empty key. */
static size_t gen_key(tu_rng *r, char *k)
{
    static const char *const stems[] = {"", "a", "quantity", "quantity", "ab\0", "price_"};
    static const size_t stem_len[] = {0, 1, 8, 8, 3, 6};
    size_t s = tu_below(r, 6), n = stem_len[s];
    memcpy(k, stems[s], n);
    for (size_t i = tu_below(r, 5); i; i--)
        k[n++] = "ab\0z"[tu_below(r, 4)];
    return n;
}

/* Write the object's entries (keys[i], value i) with end_sorted(order,
 * norder) or, when how < 0, doc_builder_end; unique: begin_object_unique;
 * copy: doc_builder_copy_entry. The result code; the document in *out. */
static int build_with(doc_builder *b, char keys[][16], const size_t *klen, uint32_t n,
                      const uint32_t *order, uint32_t norder, int how, bool unique, buf *out)
{
    static const uint8_t val[] = {DOC_TAG_INT8, 7};
    assert_int_equal(doc_builder_begin(b), 0);
    assert_int_equal(doc_builder_begin_array(b), 0); /* not the root: frames stack */
    assert_int_equal(unique ? doc_builder_begin_object_unique(b) : doc_builder_begin_object(b), 0);
    for (uint32_t i = 0; i < n; i++) {
        if (i % 2) {
            assert_int_equal(doc_builder_copy_entry(b, keys[i], klen[i], (doc_val){val, 2}), 0);
        } else {
            assert_int_equal(doc_builder_key(b, keys[i], klen[i]), 0);
            assert_int_equal(doc_builder_int(b, i), 0);
        }
    }
    int rc = how < 0 ? doc_builder_end(b) : doc_builder_end_sorted(b, order, norder);
    if (rc)
        return rc;
    assert_int_equal(doc_builder_end(b), 0);
    const uint8_t *d;
    size_t dn;
    assert_int_equal(doc_builder_finish(b, &d, &dn), 0);
    out->size = 0;
    assert_int_equal(buf_append(out, d, dn), 0);
    return 0;
}

static void test_end_sorted(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x736f7274ull);
    doc_builder b;
    doc_builder_init(&b);
    buf want = {0}, got = {0};
    char keys[64][16];
    size_t klen[64];
    uint32_t order[64], sorted[64];
    unsigned rounds = tu_rounds(3000, 60000), dups = 0, hinted = 0;
    for (unsigned round = 0; round < rounds; round++) {
        uint32_t n = (uint32_t)tu_below(&r, 3) == 0 ? (uint32_t)tu_below(&r, 4)
                                                     : 10 + (uint32_t)tu_below(&r, 40);
        /* Distinct keys, or now and then one duplicate. */
        for (uint32_t i = 0; i < n; i++) {
            bool again;
            do {
                klen[i] = gen_key(&r, keys[i]);
                again = false;
                for (uint32_t j = 0; j < i; j++)
                    again |= klen[j] == klen[i] && memcmp(keys[j], keys[i], klen[i]) == 0;
            } while (again);
        }
        bool dup = n > 1 && tu_chance(&r, 1, 4);
        if (dup) {
            uint32_t from = (uint32_t)tu_below(&r, n), to = (uint32_t)tu_below(&r, n);
            if (from == to)
                to = (to + 1) % n;
            memcpy(keys[to], keys[from], sizeof keys[to]);
            klen[to] = klen[from];
        }
        int want_rc = build_with(&b, keys, klen, n, NULL, 0, -1, false, &want);
        if (!dup)
            assert_int_equal(want_rc, 0);
        else
            assert_int_equal(want_rc, BURROW_EEXIST);
        /* The true order of the first norder elements; sometimes spoilt. */
        uint32_t norder = (uint32_t)tu_below(&r, n + 1);
        if (tu_chance(&r, 1, 2))
            norder = n;
        for (uint32_t i = 0; i < norder; i++) {
            sorted[i] = i;
            cmp_keys_base[i] = keys[i];
            cmp_keys_len[i] = klen[i];
        }
        qsort(sorted, norder, sizeof *sorted, cmp_idx);
        memcpy(order, sorted, norder * sizeof *order);
        int spoil = (int)tu_below(&r, 4);
        if (spoil == 1 && norder > 1) {
            uint32_t i = (uint32_t)tu_below(&r, norder - 1);
            uint32_t t = order[i];
            order[i] = order[i + 1];
            order[i + 1] = t;
        } else if (spoil == 2 && norder > 0) {
            order[tu_below(&r, norder)] = norder + (uint32_t)tu_below(&r, 3);
        } else if (spoil == 3 && norder > 1) {
            order[tu_below(&r, norder)] = order[tu_below(&r, norder)];
        }
        hinted += spoil == 0 && !dup;
        int rc = build_with(&b, keys, klen, n, order, norder, 1, false, &got);
        assert_int_equal(rc, want_rc);
        if (rc) {
            assert_true(strncmp(burrow_errmsg(), "duplicate key", 13) == 0);
            dups++;
            continue;
        }
        assert_int_equal(got.size, want.size);
        assert_memory_equal(got.data, want.data, want.size);
        assert_int_equal(doc_validate(got.data, got.size), 0);
        /* Keys vouched unique: the same bytes. */
        assert_int_equal(build_with(&b, keys, klen, n, NULL, 0, -1, true, &got), 0);
        assert_int_equal(got.size, want.size);
        assert_memory_equal(got.data, want.data, want.size);
    }
    assert_true(dups > 0 && hinted > 0);
    /* copy_entry outside an object, or after a key, is misuse. */
    static const uint8_t one[] = {DOC_TAG_INT8, 1};
    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_begin_array(&b), 0);
    assert_int_equal(doc_builder_copy_entry(&b, "a", 1, (doc_val){one, 2}), BURROW_EINVAL);
    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_begin_object(&b), 0);
    assert_int_equal(doc_builder_key(&b, "a", 1), 0);
    assert_int_equal(doc_builder_copy_entry(&b, "b", 1, (doc_val){one, 2}), BURROW_EINVAL);
    /* An order on an array is ignored. */
    uint32_t o[1] = {5};
    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_begin_array(&b), 0);
    assert_int_equal(doc_builder_int(&b, 1), 0);
    assert_int_equal(doc_builder_end_sorted(&b, o, 1), 0);
    buf_free(&want);
    buf_free(&got);
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
        cmocka_unit_test(test_cursor),
        cmocka_unit_test(test_end_sorted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
