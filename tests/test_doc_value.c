/*
 * test_doc_value.c — comparing, hashing, index key encoding and paths of
 * binary documents (compare.c, keyenc.c, path.c):
 *  - tables of comparisons across every type and number form, each checked
 *    both ways, against the hash and against the key encoding;
 *  - exact number order (int64 vs double beyond 2^53, near 2^63) against a
 *    64-bit-mantissa long double oracle;
 *  - the key encoding's bytes as doc.h writes them down;
 *  - random documents (seed printed): memcmp of encodings orders like
 *    doc_compare, equal values encode alike and hash alike (also objects in
 *    shuffled order and ints vs equal doubles), doc_key_size finds every end
 *    in concatenations followed by arbitrary bytes;
 *  - paths: valid and invalid spellings with their exact messages,
 *    following paths, printing them back;
 *  - damaged documents (random byte flips, truncation, deep nesting) never
 *    read outside the value (run under ASan).
 *
 * Documents are written here from JSON-like literals by a small reader of
 * its own (numbers with '.', 'e' or beyond int64 are doubles, as json_parse
 * does) so these tests depend only on the builder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <float.h>
#include <math.h>

#include "doc/doc.h"
#include "testutil.h"

/* ---- documents from literals ------------------------------------------- */

/* Documents made by a test live until pool_free() at its end. */
#define POOL_MAX 512
static buf pool[POOL_MAX];
static int pool_n;

static void pool_free(void)
{
    for (int i = 0; i < pool_n; i++)
        buf_free(&pool[i]);
    pool_n = 0;
}

static doc_val pool_take(doc_builder *b)
{
    assert_true(pool_n < POOL_MAX);
    buf *d = &pool[pool_n++];
    assert_int_equal(doc_builder_take(b, d), 0);
    doc_val v;
    assert_int_equal(doc_root(d->data, d->size, &v), 0);
    assert_int_equal(doc_validate(d->data, d->size), 0);
    return v;
}

static void lit_ws(const char **s)
{
    while (**s == ' ' || **s == '\n')
        (*s)++;
}

static size_t lit_string(const char **s, char *out)
{
    size_t n = 0;
    assert_true(**s == '"');
    (*s)++;
    while (**s != '"') {
        assert_true(**s != '\0');
        if (**s == '\\') {
            (*s)++;
            if (**s == 'u') {
                out[n++] = (char)strtol((char[]){(*s)[1], (*s)[2], (*s)[3], (*s)[4], 0}, NULL, 16);
                *s += 5;
                continue;
            }
        }
        out[n++] = *(*s)++;
    }
    (*s)++;
    return n;
}

static void lit_value(const char **s, doc_builder *b)
{
    char tmp[256];
    lit_ws(s);
    if (**s == '{' || **s == '[') {
        bool obj = **s == '{';
        (*s)++;
        assert_int_equal(obj ? doc_builder_begin_object(b) : doc_builder_begin_array(b), 0);
        lit_ws(s);
        while (**s != (obj ? '}' : ']')) {
            if (obj) {
                size_t n = lit_string(s, tmp);
                assert_int_equal(doc_builder_key(b, tmp, n), 0);
                lit_ws(s);
                assert_true(**s == ':');
                (*s)++;
            }
            lit_value(s, b);
            lit_ws(s);
            if (**s == ',')
                (*s)++;
            lit_ws(s);
        }
        (*s)++;
        assert_int_equal(doc_builder_end(b), 0);
    } else if (**s == '"') {
        size_t n = lit_string(s, tmp);
        assert_int_equal(doc_builder_string(b, tmp, n), 0);
    } else if (strncmp(*s, "null", 4) == 0) {
        *s += 4;
        assert_int_equal(doc_builder_null(b), 0);
    } else if (strncmp(*s, "true", 4) == 0) {
        *s += 4;
        assert_int_equal(doc_builder_bool(b, true), 0);
    } else if (strncmp(*s, "false", 5) == 0) {
        *s += 5;
        assert_int_equal(doc_builder_bool(b, false), 0);
    } else {
        const char *start = *s;
        bool is_double = false;
        while (strchr("-+0123456789.eE", **s) && **s) {
            is_double |= **s == '.' || **s == 'e' || **s == 'E';
            (*s)++;
        }
        assert_true(*s > start);
        char text[64];
        snprintf(text, sizeof text, "%.*s", (int)(*s - start), start);
        errno = 0;
        long long i = is_double ? 0 : strtoll(text, NULL, 10);
        if (is_double || errno == ERANGE)
            assert_int_equal(doc_builder_double(b, strtod(text, NULL)), 0);
        else
            assert_int_equal(doc_builder_int(b, i), 0);
    }
}

static doc_builder lit_b;

/* The document written by the literal json. */
static doc_val J(const char *json)
{
    doc_builder_begin(&lit_b);
    lit_value(&json, &lit_b);
    lit_ws(&json);
    assert_true(*json == '\0');
    return pool_take(&lit_b);
}

static int sign(int x) { return (x > 0) - (x < 0); }

static int mem_order(const buf *a, const buf *b)
{
    size_t n = a->size < b->size ? a->size : b->size;
    int r = n ? memcmp(a->data, b->data, n) : 0;
    if (r)
        return sign(r);
    return (a->size > b->size) - (a->size < b->size);
}

static void encode(doc_val v, buf *out)
{
    out->size = 0;
    assert_int_equal(doc_key_encode(v, out), 0);
    assert_int_equal(doc_key_size(out->data, out->data + out->size), out->size);
}

/* Everything a user relies on for one pair whose order is known. */
static void check_pair(doc_val a, doc_val b, int want, const char *what)
{
    static buf ea, eb;
    int r = sign(doc_compare(a, b)), rr = sign(doc_compare(b, a));
    encode(a, &ea);
    encode(b, &eb);
    int m = mem_order(&ea, &eb);
    if (r != want || rr != -want || m != want) {
        print_error("%s: compare %d, reverse %d, encoding %d, want %d\n", what, r, rr, m, want);
        fail();
    }
    if (want == 0) {
        assert_true(doc_hash(a, 7) == doc_hash(b, 7));
        assert_true(doc_hash(a, 0) == doc_hash(b, 0));
        assert_int_equal(ea.size, eb.size);
        assert_memory_equal(ea.data, eb.data, ea.size);
        assert_true(doc_equal(a, b));
    } else {
        assert_false(doc_equal(a, b));
    }
}

static void teardown_pool(void)
{
    pool_free();
    doc_builder_free(&lit_b);
}

/* ---- comparison tables ----------------------------------------------------- */

static const struct {
    const char *a, *b;
    int want;
} cmp_cases[] = {
    /* classes */
    {"null", "false", -1},
    {"false", "true", -1},
    {"true", "-1e300", -1},
    {"true", "0", -1},
    {"1e300", "\"\"", -1},
    {"9223372036854775807", "\"\"", -1},
    {"\"zzz\"", "[]", -1},
    {"[]", "{}", -1},
    {"[{}]", "{}", -1},
    {"null", "null", 0},
    {"true", "true", 0},
    /* numbers, one form and across forms */
    {"0", "0.0", 0},
    {"-0.0", "0", 0},
    {"-0.0", "0.0", 0},
    {"1", "1.0", 0},
    {"-1", "0", -1},
    {"-1", "-1.0", 0},
    {"1", "1.5", -1},
    {"2", "1.5", 1},
    {"-2", "-1.5", -1},
    {"-1", "-1.5", 1},
    {"0", "5e-324", -1},
    {"0", "-5e-324", 1},
    {"9007199254740992", "9007199254740992.0", 0},
    {"9007199254740993", "9007199254740992.0", 1},
    {"9007199254740993", "9007199254740994.0", -1},
    {"9007199254740993", "9007199254740994", -1},
    {"-9007199254740993", "-9007199254740992.0", -1},
    {"9223372036854775807", "9223372036854775808.0", -1},
    {"9223372036854775807", "9223372036854774784.0", 1},
    {"9223372036854775807", "9223372036854775806", 1},
    {"-9223372036854775808", "-9223372036854775808.0", 0},
    {"-9223372036854775808", "-9223372036854777856.0", 1},
    {"-9223372036854775807", "-9223372036854775808.0", 1},
    {"9223372036854775807", "1e300", -1},
    {"-9223372036854775808", "-1e300", 1},
    {"1e300", "1.7976931348623157e308", -1},
    {"-1.7976931348623157e308", "-1e300", -1},
    {"0.1", "0.2", -1},
    /* strings: bytewise, shorter first */
    {"\"\"", "\"\"", 0},
    {"\"\"", "\"a\"", -1},
    {"\"a\"", "\"b\"", -1},
    {"\"a\"", "\"ab\"", -1},
    {"\"ab\"", "\"b\"", -1},
    {"\"\"", "\"\\u0000\"", -1},
    {"\"a\"", "\"a\\u0000\"", -1},
    {"\"a\\u0000\"", "\"a\\u0001\"", -1},
    {"\"a\\u0000b\"", "\"a\\u0000\"", 1},
    {"\"a\\u0000\\u0000\"", "\"a\\u0000\"", 1},
    {"\"z\"", "\"\xc3\xa9\"", -1},
    {"\"A\"", "\"a\"", -1},
    /* arrays: element by element, shorter first */
    {"[]", "[null]", -1},
    {"[1]", "[1.0]", 0},
    {"[1]", "[1, 0]", -1},
    {"[1, 2]", "[2]", -1},
    {"[1, \"a\"]", "[1, 2]", 1},
    {"[[1]]", "[[1, 2]]", -1},
    {"[[]]", "[null]", 1},
    {"[[1, 2], 3]", "[[1, 2.0], 3.0]", 0},
    {"[{}]", "[[]]", 1},
    /* objects: pairs in key order */
    {"{}", "{}", 0},
    {"{}", "{\"\": null}", -1},
    {"{\"a\": 1, \"b\": 2}", "{\"b\": 2, \"a\": 1}", 0},
    {"{\"a\": 1, \"b\": 2}", "{\"b\": 2.0, \"a\": 1.0}", 0},
    {"{\"a\": 1}", "{\"a\": 2}", -1},
    {"{\"a\": 1}", "{\"b\": 0}", -1},
    {"{\"a\": 2}", "{\"a\": 1, \"b\": 0}", 1},
    {"{\"a\": 1}", "{\"a\": 1, \"b\": 0}", -1},
    {"{\"b\": 1}", "{\"c\": 1, \"a\": 1}", 1},
    {"{\"ab\": 0}", "{\"b\": 0}", -1},
    {"{\"a\": 0}", "{\"ab\": 0}", -1},
    {"{\"a\": 0}", "{\"a\\u0000\": 0}", -1},
    {"{\"\": 5}", "{\"\\u0000\": 0}", -1},
    {"{\"a\": {\"x\": 1, \"y\": [1]}}", "{\"a\": {\"y\": [1.0], \"x\": 1.0}}", 0},
    {"{\"a\": {\"x\": 1}}", "{\"a\": {\"x\": 1, \"y\": null}}", -1},
    {"{\"a\": null}", "{\"a\": false}", -1},
};

static void test_compare_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cmp_cases / sizeof *cmp_cases; i++) {
        char what[160];
        snprintf(what, sizeof what, "case %zu: %s vs %s", i, cmp_cases[i].a, cmp_cases[i].b);
        check_pair(J(cmp_cases[i].a), J(cmp_cases[i].b), cmp_cases[i].want, what);
    }
    teardown_pool();
}

/* Objects of DOC_SORTED_MIN keys or more carry a sorted table; the order
 * must not depend on whether it is there, nor on insertion order. */
static void build_keys(doc_builder *b, int n, const int *perm, int bump_key, int bump_by)
{
    doc_builder_begin(b);
    doc_builder_begin_object(b);
    for (int i = 0; i < n; i++) {
        char k[8];
        int key = perm ? perm[i] : i;
        snprintf(k, sizeof k, "k%02d", key);
        doc_builder_key(b, k, strlen(k));
        doc_builder_int(b, key + (key == bump_key ? bump_by : 0));
    }
    assert_int_equal(doc_builder_end(b), 0);
}

/* Objects of one shape (same keys, same positions) compare without being
 * put in key order (compare.c); the answer must be the general one: that
 * of the same objects written in another order, and their encodings'. */
static void build_shaped(doc_builder *b, int n, const int *keys, const int *vals, bool reverse)
{
    doc_builder_begin(b);
    doc_builder_begin_object(b);
    for (int j = 0; j < n; j++) {
        int i = reverse ? n - 1 - j : j;
        char k[8];
        /* "k", "k0", "k00"...: prefixes of each other; "b0" sorts first */
        int kl = keys[i] < 4 ? 1 + keys[i] : 2;
        if (keys[i] < 4) {
            memset(k, '0', (size_t)kl);
            k[0] = 'k';
        } else {
            k[0] = (char)('a' + keys[i] - 4);
            k[1] = '0';
        }
        doc_builder_key(b, k, (size_t)kl);
        doc_builder_int(b, vals[i]);
    }
    assert_int_equal(doc_builder_end(b), 0);
}

static void test_compare_same_shape(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x7368617065ull);
    doc_builder b;
    doc_builder_init(&b);
    unsigned rounds = tu_rounds(3000, 60000), unequal = 0;
    for (unsigned round = 0; round < rounds; round++) {
        int n = (int)tu_below(&r, 10), keys[16], va[16], vb[16];
        for (int i = 0; i < n; i++) { /* distinct keys in a random order */
            keys[i] = i;
            int j = (int)tu_below(&r, (uint64_t)i + 1), t = keys[j];
            keys[j] = keys[i];
            keys[i] = t;
        }
        for (int i = 0; i < n; i++) {
            va[i] = vb[i] = (int)tu_below(&r, 3);
            if (tu_chance(&r, 1, 3))
                vb[i] = (int)tu_below(&r, 3);
        }
        build_shaped(&b, n, keys, va, false);
        doc_val a = pool_take(&b);
        build_shaped(&b, n, keys, vb, false);
        doc_val sb = pool_take(&b);
        build_shaped(&b, n, keys, vb, true);
        doc_val ob = pool_take(&b); /* same pairs, another order: the general path */
        int want = sign(doc_compare(a, ob));
        unequal += want != 0;
        check_pair(a, sb, want, "same shape");
        check_pair(sb, ob, 0, "same pairs in another order");
        pool_free();
    }
    assert_true(unequal > 0);
    doc_builder_free(&b);
    teardown_pool();
}

static void test_compare_big_objects(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    int n = DOC_SORTED_MIN + 4, rev[64], half[64];
    for (int i = 0; i < n; i++)
        rev[i] = n - 1 - i;
    for (int i = 0; i < n; i++)
        half[i] = (i * 7) % n; /* 7 is prime to 20: a permutation */
    build_keys(&b, n, NULL, -1, 0);
    doc_val fwd = pool_take(&b);
    assert_true(fwd.p[1] & DOC_FLAG_SORTED);
    build_keys(&b, n, rev, -1, 0);
    doc_val back = pool_take(&b);
    build_keys(&b, n, half, -1, 0);
    doc_val mixed = pool_take(&b);
    check_pair(fwd, back, 0, "20 keys forward vs reversed");
    check_pair(fwd, mixed, 0, "20 keys forward vs shuffled");
    /* a change at the first key in key order (k00) decides over a change at
     * the last (k19), whatever the insertion order */
    build_keys(&b, n, rev, 0, 1);
    doc_val first_up = pool_take(&b);
    build_keys(&b, n, NULL, n - 1, -100);
    doc_val last_down = pool_take(&b);
    check_pair(first_up, last_down, 1, "first key larger vs last key smaller");
    check_pair(fwd, first_up, -1, "k00: 0 vs 1");
    /* fewer keys: the 15-key object (no table) is a prefix in key order */
    build_keys(&b, DOC_SORTED_MIN - 1, NULL, -1, 0);
    doc_val small = pool_take(&b);
    assert_false(small.p[1] & DOC_FLAG_SORTED);
    check_pair(small, fwd, -1, "15 keys vs 20 keys");
    /* a small shuffled object against its sorted-table sibling with one key
     * fewer than its own: key order decides, not storage */
    int perm15[DOC_SORTED_MIN - 1];
    for (int i = 0; i < DOC_SORTED_MIN - 1; i++)
        perm15[i] = (i * 4) % (DOC_SORTED_MIN - 1);
    build_keys(&b, DOC_SORTED_MIN - 1, perm15, -1, 0);
    check_pair(small, pool_take(&b), 0, "15 keys shuffled");
    doc_builder_free(&b);
    teardown_pool();
}

/* ---- numbers against an exact oracle ---------------------------------------- */

typedef struct num {
    bool is_int;
    int64_t i;
    double d;
} num;

static doc_val num_doc(doc_builder *b, num n)
{
    doc_builder_begin(b);
    if (n.is_int)
        doc_builder_int(b, n.i);
    else
        doc_builder_double(b, n.d);
    return pool_take(b);
}

static void test_numbers_exact(void **state)
{
    (void)state;
    if (LDBL_MANT_DIG < 64)
        skip(); /* the oracle needs a long double that holds every int64 */
    static const int64_t ints[] = {
        0, 1, -1, 2, 1000,
        (INT64_C(1) << 53) - 1, INT64_C(1) << 53, (INT64_C(1) << 53) + 1, (INT64_C(1) << 53) + 2,
        -(INT64_C(1) << 53) - 1, (INT64_C(1) << 62) + 1, (INT64_C(1) << 62) - 1,
        INT64_MAX, INT64_MAX - 1, INT64_MAX - 511, INT64_MAX - 512, INT64_MAX - 513,
        INT64_MAX - 1023, INT64_MAX - 1024, INT64_MAX - 1535, INT64_MAX - 1536,
        INT64_MIN, INT64_MIN + 1, INT64_MIN + 1024, INT64_MIN + 1025, INT64_MIN + 1023,
    };
    static const double dbls[] = {
        0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, 5e-324, -5e-324, 0x1p53, 0x1p53 + 2, -0x1p53,
        0x1p62, 0x1p63, -0x1p63, 0x1p63 - 1024, -0x1p63 - 2048, 0x1p64, 1e300, -1e300,
        DBL_MAX, -DBL_MAX, 9007199254740993.5 /* rounds to 2^53+2 */, 0.1,
    };
    num all[64];
    int n = 0;
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        all[n++] = (num){true, ints[i], 0};
    for (size_t i = 0; i < sizeof dbls / sizeof *dbls; i++)
        all[n++] = (num){false, 0, dbls[i]};
    doc_builder b;
    doc_builder_init(&b);
    doc_val v[64];
    for (int i = 0; i < n; i++)
        v[i] = num_doc(&b, all[i]);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            long double x = all[i].is_int ? (long double)all[i].i : (long double)all[i].d;
            long double y = all[j].is_int ? (long double)all[j].i : (long double)all[j].d;
            char what[64];
            snprintf(what, sizeof what, "numbers %d and %d", i, j);
            check_pair(v[i], v[j], (x > y) - (x < y), what);
        }
    }
    doc_builder_free(&b);
    teardown_pool();
}

/* ---- the encoding's bytes ------------------------------------------------------- */

static void expect_bytes(doc_val v, const uint8_t *want, size_t n)
{
    buf e = {0};
    encode(v, &e);
    assert_int_equal(e.size, n);
    assert_memory_equal(e.data, want, n);
    buf_free(&e);
}

static void test_key_bytes(void **state)
{
    (void)state;
    expect_bytes(J("null"), (const uint8_t[]){0x10}, 1);
    expect_bytes(J("false"), (const uint8_t[]){0x20}, 1);
    expect_bytes(J("true"), (const uint8_t[]){0x30}, 1);
    /* 1.0 is 0x3FF0..., sign flipped: 0xBFF0... */
    static const uint8_t one[] = {0x40, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0, 0x80, 0x00};
    expect_bytes(J("1"), one, sizeof one);
    expect_bytes(J("1.0"), one, sizeof one);
    /* -1.0 is 0xBFF0..., all bits flipped: 0x400F FFFF ... */
    static const uint8_t minus_one[] = {0x40, 0x40, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0};
    expect_bytes(J("-1"), minus_one, sizeof minus_one);
    static const uint8_t zero[] = {0x40, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x00};
    expect_bytes(J("0"), zero, sizeof zero);
    expect_bytes(J("-0.0"), zero, sizeof zero);
    /* 2^53 + 1 is the double 2^53 (0x4340...) and a remainder of +1 */
    static const uint8_t big[] = {0x40, 0xC3, 0x40, 0, 0, 0, 0, 0, 0, 0x80, 0x01};
    expect_bytes(J("9007199254740993"), big, sizeof big);
    /* INT64_MAX is the double 2^63 (0x43E0...) minus 1 */
    static const uint8_t max[] = {0x40, 0xC3, 0xE0, 0, 0, 0, 0, 0, 0, 0x7F, 0xFF};
    expect_bytes(J("9223372036854775807"), max, sizeof max);
    expect_bytes(J("\"\""), (const uint8_t[]){0x50, 0x00, 0x01}, 3);
    expect_bytes(J("\"a\\u0000b\""), (const uint8_t[]){0x50, 'a', 0x00, 0xFF, 'b', 0x00, 0x01},
                 7);
    expect_bytes(J("[]"), (const uint8_t[]){0x60, 0x00}, 2);
    expect_bytes(J("[null, true]"), (const uint8_t[]){0x60, 0x10, 0x30, 0x00}, 4);
    expect_bytes(J("{}"), (const uint8_t[]){0x70, 0x00, 0x00}, 3);
    expect_bytes(J("{\"b\": true, \"a\": null}"),
                 (const uint8_t[]){0x70, 'a', 0x00, 0x01, 0x10, 'b', 0x00, 0x01, 0x30, 0x00, 0x00},
                 11);
    expect_bytes(J("{\"\": []}"), (const uint8_t[]){0x70, 0x00, 0x01, 0x60, 0x00, 0x00, 0x00}, 7);

    buf e = {0};
    assert_int_equal(doc_key_encode_missing(&e), 0);
    assert_int_equal(e.size, 1);
    assert_int_equal(e.data[0], DOC_KEY_MISSING);
    /* missing sorts below null, and appends: missing then null is a
     * compound key of two fields */
    assert_int_equal(doc_key_encode(J("null"), &e), 0);
    assert_int_equal(e.size, 2);
    assert_int_equal(doc_key_size(e.data, e.data + 2), 1);
    assert_int_equal(doc_key_size(e.data + 1, e.data + 2), 1);
    assert_true(e.data[0] < e.data[1]);
    buf_free(&e);
    teardown_pool();
}

/* ---- random documents -------------------------------------------------------------- */

static const int64_t big_ints[] = {
    (INT64_C(1) << 53), (INT64_C(1) << 53) + 1, (INT64_C(1) << 53) + 2, -(INT64_C(1) << 53) - 1,
    INT64_MAX, INT64_MAX - 1, INT64_MAX - 1024, INT64_MIN, INT64_MIN + 1, (INT64_C(1) << 62) + 3,
};
static const double odd_doubles[] = {
    0.5, -0.5, 2.5, -0.0, 1e-300, 0x1p63, -0x1p63, 0x1p53 + 2, 1e300, -1e300, 5e-324,
};
static const char *const keys[] = {
    "", "a", "b", "ab", "ba", "a\0", "\0", "\0a", "k", "kk", "x", "y", "z", "aa", "ab\0c",
    "\xc3\xa9", "_id", "n", "m", "mm", "q", "r", "s", "t",
};
static const size_t key_lens[] = {0, 1, 1, 2, 2, 2, 1, 2, 1, 2, 1, 1, 1, 2, 4, 2, 3, 1, 1, 2, 1, 1, 1, 1};
#define NKEYS (sizeof keys / sizeof *keys)

static void gen_value(tu_rng *r, doc_builder *b, int depth)
{
    unsigned kind = (unsigned)tu_below(r, depth >= 3 ? 7 : 10);
    switch (kind) {
    case 0: doc_builder_null(b); break;
    case 1: doc_builder_bool(b, tu_below(r, 2)); break;
    case 2: {
        /* small integers, as ints or as equal doubles: collisions across forms */
        int64_t i = (int64_t)tu_below(r, 7) - 3;
        if (tu_below(r, 2))
            doc_builder_int(b, i);
        else
            doc_builder_double(b, (double)i);
        break;
    }
    case 3: {
        if (tu_below(r, 2)) {
            int64_t i = big_ints[tu_below(r, sizeof big_ints / sizeof *big_ints)];
            double d = (double)i;
            /* as a double too, when that is the same number */
            if (tu_below(r, 2) && d < 0x1p63 && (int64_t)d == i)
                doc_builder_double(b, d);
            else
                doc_builder_int(b, i);
        } else {
            doc_builder_double(b, odd_doubles[tu_below(r, sizeof odd_doubles / sizeof *odd_doubles)]);
        }
        break;
    }
    case 4: {
        if (tu_below(r, 2)) {
            doc_builder_int(b, (int64_t)tu_rand(r) >> tu_below(r, 64));
        } else {
            double d;
            do {
                uint64_t bits = tu_rand(r);
                memcpy(&d, &bits, 8);
            } while (!isfinite(d));
            doc_builder_double(b, d);
        }
        break;
    }
    case 5:
    case 6: {
        static const char alpha[] = {'a', 'b', '\0', 'z'};
        char s[8];
        size_t n = tu_below(r, 5);
        for (size_t i = 0; i < n; i++)
            s[i] = alpha[tu_below(r, sizeof alpha)];
        doc_builder_string(b, s, n);
        break;
    }
    case 7: {
        doc_builder_begin_array(b);
        unsigned n = (unsigned)tu_below(r, 4);
        for (unsigned i = 0; i < n; i++)
            gen_value(r, b, depth + 1);
        doc_builder_end(b);
        break;
    }
    default: {
        /* objects: mostly small, sometimes past DOC_SORTED_MIN keys */
        size_t order[NKEYS];
        for (size_t i = 0; i < NKEYS; i++)
            order[i] = i;
        unsigned n = tu_below(r, 8) == 0 ? DOC_SORTED_MIN + (unsigned)tu_below(r, 6)
                                         : (unsigned)tu_below(r, 4);
        /* a few keys from a small pool, so objects often share keys */
        size_t choices = n > 3 ? NKEYS : 6;
        for (unsigned i = 0; i < n; i++) {
            size_t j = i + tu_below(r, choices - i);
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        doc_builder_begin_object(b);
        for (unsigned i = 0; i < n; i++) {
            doc_builder_key(b, keys[order[i]], key_lens[order[i]]);
            gen_value(r, b, depth + (n > 3 ? 2 : 1));
        }
        doc_builder_end(b);
        break;
    }
    }
}

static doc_val gen_doc(tu_rng *r, doc_builder *b)
{
    doc_builder_begin(b);
    gen_value(r, b, 0);
    return pool_take(b);
}

/* Rewrite v as an equal value: object entries in a shuffled order, numbers
 * in the other form where that is the same number. */
static void rewrite(tu_rng *r, doc_val v, doc_builder *b)
{
    switch (doc_type(v)) {
    case DOC_INT: {
        int64_t i;
        assert_int_equal(doc_get_int(v, &i), 0);
        double d = (double)i;
        if (d < 0x1p63 && (int64_t)d == i && tu_below(r, 2))
            doc_builder_double(b, d);
        else
            doc_builder_int(b, i);
        break;
    }
    case DOC_DOUBLE: {
        double d;
        assert_int_equal(doc_get_double(v, &d), 0);
        if (d >= -0x1p63 && d < 0x1p63 && d == (double)(int64_t)d && tu_below(r, 2))
            doc_builder_int(b, (int64_t)d);
        else
            doc_builder_double(b, d == 0 && tu_below(r, 2) ? -d : d);
        break;
    }
    case DOC_ARRAY: {
        doc_builder_begin_array(b);
        doc_val e;
        for (uint32_t i = 0; doc_array_at(v, i, &e) == 0; i++)
            rewrite(r, e, b);
        doc_builder_end(b);
        break;
    }
    case DOC_OBJECT: {
        uint32_t n = doc_count(v), idx[64];
        assert_true(n <= 64);
        for (uint32_t i = 0; i < n; i++)
            idx[i] = i;
        for (uint32_t i = 0; i + 1 < n; i++) {
            uint32_t j = i + (uint32_t)tu_below(r, n - i), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        doc_builder_begin_object(b);
        for (uint32_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            doc_val e;
            assert_int_equal(doc_object_at(v, idx[i], &k, &kl, &e), 0);
            doc_builder_key(b, k, kl);
            rewrite(r, e, b);
        }
        doc_builder_end(b);
        break;
    }
    default: doc_builder_copy(b, v); break;
    }
}

typedef struct encoded {
    doc_val v;
    buf e;
} encoded;

static int cmp_by_doc(const void *x, const void *y)
{
    return doc_compare(((const encoded *)x)->v, ((const encoded *)y)->v);
}

static void test_random_order_and_encoding(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x6b6579);
    doc_builder b;
    doc_builder_init(&b);
    unsigned rounds = tu_rounds(6, 60);
    enum { N = 80 };
    encoded *items = calloc(N, sizeof *items);
    for (unsigned round = 0; round < rounds; round++) {
        for (int i = 0; i < N; i++) {
            items[i].v = gen_doc(&r, &b);
            encode(items[i].v, &items[i].e);
        }
        /* every pair: the encoding orders like doc_compare, equal values
         * encode and hash alike, and the order is antisymmetric */
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < N; j++) {
                int c = sign(doc_compare(items[i].v, items[j].v));
                assert_int_equal(c, -sign(doc_compare(items[j].v, items[i].v)));
                assert_int_equal(mem_order(&items[i].e, &items[j].e), c);
                if (c == 0)
                    assert_true(doc_hash(items[i].v, round) == doc_hash(items[j].v, round));
            }
        }
        /* transitivity: after sorting by doc_compare, neighbours are in
         * order and so is every later item */
        qsort(items, N, sizeof *items, cmp_by_doc);
        for (int i = 0; i + 1 < N; i++)
            for (int j = i + 1; j < N; j++)
                assert_true(doc_compare(items[i].v, items[j].v) <= 0);
        pool_free();
    }
    for (int i = 0; i < N; i++)
        buf_free(&items[i].e);
    free(items);
    doc_builder_free(&b);
    teardown_pool();
}

static void test_random_equal_forms(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x657175);
    doc_builder b, b2;
    doc_builder_init(&b);
    doc_builder_init(&b2);
    buf e1 = {0}, e2 = {0};
    unsigned rounds = tu_rounds(2000, 40000);
    for (unsigned round = 0; round < rounds; round++) {
        doc_val v = gen_doc(&r, &b);
        doc_builder_begin(&b2);
        rewrite(&r, v, &b2);
        doc_val w = pool_take(&b2);
        assert_int_equal(doc_compare(v, w), 0);
        assert_int_equal(doc_compare(w, v), 0);
        assert_true(doc_hash(v, round) == doc_hash(w, round));
        encode(v, &e1);
        encode(w, &e2);
        assert_int_equal(e1.size, e2.size);
        assert_memory_equal(e1.data, e2.data, e1.size);
        if (pool_n > POOL_MAX - 4)
            pool_free();
    }
    buf_free(&e1);
    buf_free(&e2);
    doc_builder_free(&b);
    doc_builder_free(&b2);
    teardown_pool();
}

/* Distinct values should hash apart: among a few thousand distinct values
 * a 64-bit hash has no business colliding. */
static void test_hash_spread(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x68617368);
    doc_builder b;
    doc_builder_init(&b);
    enum { N = 300 };
    doc_val v[N];
    uint64_t h[N];
    int distinct_pairs = 0;
    for (int i = 0; i < N; i++) {
        v[i] = gen_doc(&r, &b);
        h[i] = doc_hash(v[i], 1);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            if (doc_compare(v[i], v[j]) != 0) {
                distinct_pairs++;
                assert_true(h[i] != h[j]);
            }
    assert_true(distinct_pairs > N);
    /* the seed changes the hash */
    assert_true(doc_hash(J("{\"a\": [1, 2]}"), 1) != doc_hash(J("{\"a\": [1, 2]}"), 2));
    /* nearby structures differ */
    assert_true(doc_hash(J("[]"), 0) != doc_hash(J("{}"), 0));
    assert_true(doc_hash(J("[[1], 2]"), 0) != doc_hash(J("[1, [2]]"), 0));
    assert_true(doc_hash(J("{\"a\": \"b\"}"), 0) != doc_hash(J("{\"b\": \"a\"}"), 0));
    assert_true(doc_hash(J("\"\""), 0) != doc_hash(J("null"), 0));
    doc_builder_free(&b);
    teardown_pool();
}

/* doc_key_size finds each end in concatenations followed by arbitrary
 * bytes (compound index keys then a document id), refuses every proper
 * prefix (no encoding is a prefix of another), and never reads outside. */
static void test_key_size(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x73697a65);
    doc_builder b;
    doc_builder_init(&b);
    buf e = {0};
    unsigned rounds = tu_rounds(1500, 30000);
    for (unsigned round = 0; round < rounds; round++) {
        size_t ends[4];
        int nfields = 1 + (int)tu_below(&r, 3);
        e.size = 0;
        for (int f = 0; f < nfields; f++) {
            if (tu_below(&r, 6) == 0)
                assert_int_equal(doc_key_encode_missing(&e), 0);
            else
                assert_int_equal(doc_key_encode(gen_doc(&r, &b), &e), 0);
            ends[f] = e.size;
        }
        size_t tail = tu_below(&r, 20);
        buf_reserve(&e, tail);
        tu_fill(&r, e.data + e.size, tail);
        e.size += tail;
        /* an exact-size copy, so a read past the end is an ASan error */
        uint8_t *copy = malloc(e.size);
        memcpy(copy, e.data, e.size);
        size_t at = 0;
        for (int f = 0; f < nfields; f++) {
            size_t n = doc_key_size(copy + at, copy + e.size);
            assert_int_equal(at + n, ends[f]);
            at += n;
        }
        /* proper prefixes of the first field's encoding are not encodings */
        size_t first = ends[0];
        for (size_t cut = 0; cut < first; cut++) {
            uint8_t *pre = malloc(cut ? cut : 1);
            memcpy(pre, copy, cut);
            assert_int_equal(doc_key_size(pre, pre + cut), 0);
            free(pre);
            if (first > 64 && cut > 8)
                cut += tu_below(&r, 8); /* long ones: a sample */
        }
        /* random bytes: any answer, but within bounds */
        tu_fill(&r, copy, e.size);
        assert_true(doc_key_size(copy, copy + e.size) <= e.size);
        free(copy);
        pool_free();
    }
    buf_free(&e);
    doc_builder_free(&b);
    teardown_pool();
}

/* Byte strings that are not encodings: doc_key_size says 0. */
static void test_key_size_malformed(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[12];
        size_t n;
    } bad[] = {
        {{0x00}, 1},                               /* no such tag */
        {{0x41}, 1},
        {{0x40, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x80}, 10}, /* number cut short */
        {{0x50, 'a'}, 2},                          /* string without its end */
        {{0x50, 'a', 0x00}, 3},
        {{0x50, 'a', 0x00, 0x02, 0x00, 0x01}, 6},  /* 0x00 is followed by 0x01 or 0xFF only */
        {{0x50, 0x00, 0xFF}, 3},
        {{0x60}, 1},                               /* array without its end */
        {{0x60, 0x10}, 2},
        {{0x60, 0x08, 0x00}, 3},                   /* missing is a whole field, never inside */
        {{0x60, 0x61, 0x00}, 3},
        {{0x70, 0x00}, 2},                         /* object ends with 0x00 0x00 */
        {{0x70, 0x00, 0x05}, 3},
        {{0x70, 'a', 0x00, 0x01}, 4},              /* key without a value */
        {{0x70, 'a', 0x00, 0x01, 0x10, 0x00}, 6},
        {{0x70, 'a', 0x10, 0x00, 0x00}, 5},        /* key without its end */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint8_t *p = malloc(bad[i].n);
        memcpy(p, bad[i].b, bad[i].n);
        if (doc_key_size(p, p + bad[i].n) != 0) {
            print_error("case %zu: size %zu, want 0\n", i, doc_key_size(p, p + bad[i].n));
            fail();
        }
        free(p);
    }
    assert_int_equal(doc_key_size(NULL, NULL), 0);
}

/* ---- damaged documents --------------------------------------------------------------- */

static void test_damaged(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x64616d);
    doc_builder b;
    doc_builder_init(&b);
    doc_path paths[3];
    assert_int_equal(doc_path_parse("a.0.b", 5, DOC_PATH_DOTTED, &paths[0]), 0);
    assert_int_equal(doc_path_parse("$[-1]['ab']", 11, DOC_PATH_JSONPATH, &paths[1]), 0);
    assert_int_equal(doc_path_parse("$.k", 3, DOC_PATH_JSONPATH, &paths[2]), 0);
    buf e1 = {0}, e2 = {0};
    unsigned rounds = tu_rounds(3000, 60000);
    for (unsigned round = 0; round < rounds; round++) {
        /* a few values in an array, so there are containers to damage */
        doc_builder_begin(&b);
        doc_builder_begin_array(&b);
        for (int k = (int)tu_below(&r, 6); k >= 0; k--)
            gen_value(&r, &b, 1);
        doc_builder_end(&b);
        doc_val good = pool_take(&b);
        size_t len = good.len;
        uint8_t *bad = malloc(len);
        memcpy(bad, good.p, len);
        int flips = 1 + (int)tu_below(&r, 4);
        for (int f = 0; f < flips; f++) {
            size_t at = tu_below(&r, len);
            if (tu_below(&r, 2))
                bad[at] ^= (uint8_t)(1u << tu_below(&r, 8));
            else
                bad[at] = (uint8_t)tu_rand(&r);
        }
        /* sometimes also a value that claims less than it needs */
        size_t blen = tu_below(&r, 4) == 0 ? tu_below(&r, len + 1) : len;
        doc_val d = {bad, blen};
        /* whatever the damage: no read outside, and still a consistent
         * answer for the same bytes */
        assert_int_equal(doc_compare(d, d), 0);
        int c = sign(doc_compare(d, good));
        assert_int_equal(sign(doc_compare(good, d)), -c);
        assert_true(doc_hash(d, 3) == doc_hash(d, 3));
        encode(d, &e1); /* also checks doc_key_size on it */
        encode(d, &e2);
        assert_int_equal(e1.size, e2.size);
        assert_memory_equal(e1.data, e2.data, e1.size);
        for (int p = 0; p < 3; p++) {
            doc_val out;
            int rc = doc_path_get(d, &paths[p], &out);
            assert_true(rc == 0 || rc == BURROW_ENOTFOUND || rc == BURROW_ECORRUPT);
            if (rc == 0)
                assert_true(out.p >= bad && out.p + out.len <= bad + blen);
        }
        free(bad);
        pool_free();
    }
    for (int p = 0; p < 3; p++)
        doc_path_free(&paths[p]);
    buf_free(&e1);
    buf_free(&e2);
    doc_builder_free(&b);
    teardown_pool();
}

/* An invalid tag orders as null; a damaged container as an empty one. */
static void test_damaged_rules(void **state)
{
    (void)state;
    static const uint8_t bad_tag[] = {0x0B};
    static const uint8_t short_int[] = {DOC_TAG_INT64, 1, 2};
    static const uint8_t empty_len[] = {0};
    doc_val n = J("null");
    check_pair((doc_val){bad_tag, 1}, n, 0, "invalid tag vs null");
    check_pair((doc_val){short_int, sizeof short_int}, n, 0, "truncated int vs null");
    check_pair((doc_val){empty_len, 0}, n, 0, "empty value vs null");
    check_pair((doc_val){bad_tag, 1}, J("false"), -1, "invalid tag vs false");
    /* an array whose header lies about its size */
    doc_val arr = J("[1, 2]");
    uint8_t *copy = malloc(arr.len);
    memcpy(copy, arr.p, arr.len);
    copy[2] ^= 0x40; /* body_len */
    check_pair((doc_val){copy, arr.len}, J("[]"), 0, "damaged array vs []");
    free(copy);
    teardown_pool();
}

/* Nesting at the document limit works; deeper (damaged) nesting is cut
 * off without exhausting the stack. */
static void test_deep(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    doc_builder_begin(&b);
    for (int i = 0; i < DOC_MAX_DEPTH; i++)
        assert_int_equal(doc_builder_begin_array(&b), 0);
    doc_builder_int(&b, 1);
    for (int i = 0; i < DOC_MAX_DEPTH; i++)
        assert_int_equal(doc_builder_end(&b), 0);
    doc_val deep1 = pool_take(&b);
    doc_builder_begin(&b);
    for (int i = 0; i < DOC_MAX_DEPTH; i++)
        doc_builder_begin_array(&b);
    doc_builder_int(&b, 2);
    for (int i = 0; i < DOC_MAX_DEPTH; i++)
        doc_builder_end(&b);
    doc_val deep2 = pool_take(&b);
    check_pair(deep1, deep2, -1, "512 deep: [[...1]] vs [[...2]]");
    buf e = {0};
    encode(deep1, &e);
    assert_int_equal(e.size, 2 * DOC_MAX_DEPTH + 11);

    /* 100,000 nested arrays written by hand, far past the limit: all the
     * headers (level i at 10 * i), the innermost null, then each level's
     * one-entry offset table (4 bytes, offset 0), innermost first. Level i
     * spans everything from its header to the end but the outer tables. */
    enum { DEPTH = 100000 };
    size_t total = (size_t)DEPTH * 14 + 1;
    uint8_t *p = calloc(total, 1);
    for (size_t i = 0; i < DEPTH; i++) {
        uint8_t *h = p + i * 10;
        uint32_t body = (uint32_t)(total - i * 14 - 10), one = 1;
        h[0] = DOC_TAG_ARRAY;
        h[1] = 2; /* offsets of 4 bytes */
        memcpy(h + 2, &body, 4);
        memcpy(h + 6, &one, 4);
    }
    p[(size_t)DEPTH * 10] = DOC_TAG_NULL;
    doc_val huge = {p, total};
    assert_int_equal(doc_compare(huge, huge), 0);
    (void)doc_hash(huge, 0);
    encode(huge, &e);
    free(p);

    /* encodings nested past the limit are refused by doc_key_size */
    uint8_t *k = malloc(DEPTH + DEPTH);
    memset(k, 0x60, DEPTH);
    memset(k + DEPTH, 0x00, DEPTH);
    assert_int_equal(doc_key_size(k, k + 2 * DEPTH), 0);
    size_t ok = DOC_MAX_DEPTH;
    assert_int_equal(doc_key_size(k + DEPTH - ok, k + DEPTH + ok), 2 * ok);
    free(k);
    buf_free(&e);
    doc_builder_free(&b);
    teardown_pool();
}

/* ---- paths ----------------------------------------------------------------------------- */

/* Steps as text: K:name I:n D:name/n, separated by '|'. */
static void steps_text(const doc_path *p, char *out, size_t cap)
{
    size_t n = 0;
    out[0] = '\0';
    for (int i = 0; i < p->nsteps; i++) {
        const doc_step *s = &p->steps[i];
        const char *sep = i ? "|" : "";
        if (s->kind == DOC_STEP_KEY)
            n += (size_t)snprintf(out + n, cap - n, "%sK:%.*s", sep, (int)s->len, s->name);
        else if (s->kind == DOC_STEP_INDEX)
            n += (size_t)snprintf(out + n, cap - n, "%sI:%lld", sep, (long long)s->index);
        else
            n += (size_t)snprintf(out + n, cap - n, "%sD:%.*s/%lld", sep, (int)s->len, s->name,
                                  (long long)s->index);
    }
}

static const struct {
    int syntax;
    const char *path, *steps;
} path_ok[] = {
    {DOC_PATH_JSONPATH, "", ""},
    {DOC_PATH_JSONPATH, "$", ""},
    {DOC_PATH_JSONPATH, ".", ""},
    {DOC_PATH_JSONPATH, "$.a", "K:a"},
    {DOC_PATH_JSONPATH, "$.a.b", "K:a|K:b"},
    {DOC_PATH_JSONPATH, "$['a b']", "K:a b"},
    {DOC_PATH_JSONPATH, "$[\"a\"]", "K:a"},
    {DOC_PATH_JSONPATH, "$[3]", "I:3"},
    {DOC_PATH_JSONPATH, "$[-1]", "I:-1"},
    {DOC_PATH_JSONPATH, "$[007]", "I:7"},
    {DOC_PATH_JSONPATH, "$[9223372036854775807]", "I:9223372036854775807"},
    {DOC_PATH_JSONPATH, "$[-9223372036854775808]", "I:-9223372036854775808"},
    {DOC_PATH_JSONPATH, ".a", "K:a"},
    {DOC_PATH_JSONPATH, "a.b", "K:a|K:b"},
    {DOC_PATH_JSONPATH, "a", "K:a"},
    {DOC_PATH_JSONPATH, "[0]", "I:0"},
    {DOC_PATH_JSONPATH, ".a[2].b", "K:a|I:2|K:b"},
    {DOC_PATH_JSONPATH, "$.a[0]['b.c']", "K:a|I:0|K:b.c"},
    {DOC_PATH_JSONPATH, "$['it\\'s']", "K:it's"},
    {DOC_PATH_JSONPATH, "$[\"say \\\"hi\\\"\"]", "K:say \"hi\""},
    {DOC_PATH_JSONPATH, "$['back\\\\slash']", "K:back\\slash"},
    {DOC_PATH_JSONPATH, "$[\"it's\"]", "K:it's"},
    {DOC_PATH_JSONPATH, "$['']", "K:"},
    {DOC_PATH_JSONPATH, "$[ 'a' ][ 1 ]", "K:a|I:1"},
    {DOC_PATH_JSONPATH, "$.0", "K:0"},
    {DOC_PATH_JSONPATH, "$.a$b", "K:a$b"},
    {DOC_PATH_JSONPATH, "$.citt\xc3\xa0", "K:citt\xc3\xa0"},
    {DOC_PATH_JSONPATH, "$['[x]']", "K:[x]"},
    {DOC_PATH_DOTTED, "a", "K:a"},
    {DOC_PATH_DOTTED, "a.b.0", "K:a|K:b|D:0/0"},
    {DOC_PATH_DOTTED, "0", "D:0/0"},
    {DOC_PATH_DOTTED, "a.12.c", "K:a|D:12/12|K:c"},
    {DOC_PATH_DOTTED, "a.01", "K:a|K:01"}, /* a leading zero: a key only */
    {DOC_PATH_DOTTED, "a.99999999999999999999", "K:a|D:99999999999999999999/9223372036854775807"},
    {DOC_PATH_DOTTED, "a.-1", "K:a|K:-1"},
    {DOC_PATH_DOTTED, "$.a", "K:$|K:a"},
    {DOC_PATH_DOTTED, "a b.c", "K:a b|K:c"},
    {DOC_PATH_DOTTED, "a[0]", "K:a[0]"},
    {DOC_PATH_DOTTED, "1a", "K:1a"},
};

static void test_path_parse_valid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof path_ok / sizeof *path_ok; i++) {
        doc_path p;
        const char *s = path_ok[i].path;
        int rc = doc_path_parse(s, strlen(s), path_ok[i].syntax, &p);
        if (rc) {
            print_error("path '%s': %s\n", s, burrow_errmsg());
            fail();
        }
        char got[256];
        steps_text(&p, got, sizeof got);
        if (strcmp(got, path_ok[i].steps) != 0) {
            print_error("path '%s': steps '%s', want '%s'\n", s, got, path_ok[i].steps);
            fail();
        }
        doc_path_free(&p);
    }
}

static const struct {
    int syntax;
    const char *path, *msg;
} path_bad[] = {
    {DOC_PATH_JSONPATH, "$.", "path '$.': empty step at column 3"},
    {DOC_PATH_JSONPATH, "$.a.", "path '$.a.': empty step at column 5"},
    {DOC_PATH_JSONPATH, "a.", "path 'a.': empty step at column 3"},
    {DOC_PATH_JSONPATH, ".[0]", "path '.[0]': empty step at column 2"},
    {DOC_PATH_JSONPATH, "$..a", "path '$..a': recursive descent '..' not supported at column 2"},
    {DOC_PATH_JSONPATH, "..", "path '..': recursive descent '..' not supported at column 1"},
    {DOC_PATH_JSONPATH, "a..b", "path 'a..b': recursive descent '..' not supported at column 2"},
    {DOC_PATH_JSONPATH, "$.*", "path '$.*': wildcard '*' not supported at column 3"},
    {DOC_PATH_JSONPATH, "$[*]", "path '$[*]': wildcard '*' not supported at column 3"},
    {DOC_PATH_JSONPATH, "*", "path '*': wildcard '*' not supported at column 1"},
    {DOC_PATH_JSONPATH, "$[", "path '$[': unterminated bracket at column 2"},
    {DOC_PATH_JSONPATH, "$.a[3", "path '$.a[3': unterminated bracket at column 4"},
    {DOC_PATH_JSONPATH, "$['a'", "path '$['a'': unterminated bracket at column 2"},
    {DOC_PATH_JSONPATH, "$['a", "path '$['a': unterminated quote at column 3"},
    {DOC_PATH_JSONPATH, "$[\"a']", "path '$[\"a']': unterminated quote at column 3"},
    {DOC_PATH_JSONPATH, "$['a\\", "path '$['a\\': unterminated quote at column 3"},
    {DOC_PATH_JSONPATH, "$['a\\n']", "path '$['a\\n']': bad escape at column 5"},
    {DOC_PATH_JSONPATH, "$['a'x]", "path '$['a'x]': expected ']' at column 6"},
    {DOC_PATH_JSONPATH, "$[3x]", "path '$[3x]': bad index at column 3"},
    {DOC_PATH_JSONPATH, "$[x]", "path '$[x]': bad index at column 3"},
    {DOC_PATH_JSONPATH, "$[-]", "path '$[-]': bad index at column 3"},
    {DOC_PATH_JSONPATH, "$[1.5]", "path '$[1.5]': bad index at column 3"},
    {DOC_PATH_JSONPATH, "$[9223372036854775808]",
     "path '$[9223372036854775808]': bad index at column 3"},
    {DOC_PATH_JSONPATH, "$[-9223372036854775809]",
     "path '$[-9223372036854775809]': bad index at column 3"},
    {DOC_PATH_JSONPATH, "$[]", "path '$[]': empty step at column 3"},
    {DOC_PATH_JSONPATH, "$[1:2]", "path '$[1:2]': slices and unions not supported at column 4"},
    {DOC_PATH_JSONPATH, "$[0,1]", "path '$[0,1]': slices and unions not supported at column 4"},
    {DOC_PATH_JSONPATH, "$[?(@.a)]", "path '$[?(@.a)]': filter expressions not supported at column 3"},
    {DOC_PATH_JSONPATH, "$a", "path '$a': trailing characters at column 2"},
    {DOC_PATH_JSONPATH, "$['a']b", "path '$['a']b': trailing characters at column 7"},
    {DOC_PATH_JSONPATH, "$.a]", "path '$.a]': trailing characters at column 4"},
    {DOC_PATH_JSONPATH, "$ ", "path '$ ': trailing characters at column 2"},
    {DOC_PATH_DOTTED, "", "path '': empty step at column 1"},
    {DOC_PATH_DOTTED, "a..b", "path 'a..b': empty step at column 3"},
    {DOC_PATH_DOTTED, ".a", "path '.a': empty step at column 1"},
    {DOC_PATH_DOTTED, "a.", "path 'a.': empty step at column 3"},
    {DOC_PATH_DOTTED, ".", "path '.': empty step at column 1"},
};

static void test_path_parse_invalid(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof path_bad / sizeof *path_bad; i++) {
        doc_path p = {(doc_step *)1, 99, (char *)1}; /* overwritten even on failure */
        const char *s = path_bad[i].path;
        int rc = doc_path_parse(s, strlen(s), path_bad[i].syntax, &p);
        if (rc != BURROW_EINVAL || strcmp(burrow_errmsg(), path_bad[i].msg) != 0) {
            print_error("path '%s': rc %d, message \"%s\", want \"%s\"\n", s, rc, burrow_errmsg(),
                        path_bad[i].msg);
            fail();
        }
        assert_null(p.steps);
        assert_null(p.storage);
        assert_int_equal(p.nsteps, 0);
        doc_path_free(&p); /* harmless after a failure */
    }
    /* a long path is cut in the message, the column still counts */
    char longp[400];
    memset(longp, 'a', sizeof longp);
    longp[0] = '$';
    longp[1] = '.';
    longp[sizeof longp - 1] = '*';
    longp[sizeof longp - 2] = '.';
    doc_path p;
    assert_int_equal(doc_path_parse(longp, sizeof longp, DOC_PATH_JSONPATH, &p), BURROW_EINVAL);
    assert_non_null(strstr(burrow_errmsg(), "...': wildcard '*' not supported at column 400"));
    assert_true(strlen(burrow_errmsg()) < 300);
}

static const char *const get_doc =
    "{\"a\": {\"b\": [10, 20, {\"c\": \"x\"}], \"0\": \"zero\", \"k.e\": 1, \"\": \"empty\"},"
    " \"arr\": [[1, 2], [3]], \"s\": \"str\", \"it's\": true,"
    " \"big\": {\"k00\": 0, \"k01\": 1, \"k02\": 2, \"k03\": 3, \"k04\": 4, \"k05\": 5,"
    "  \"k06\": 6, \"k07\": 7, \"k08\": 8, \"k09\": 9, \"k10\": 10, \"k11\": 11,"
    "  \"k12\": 12, \"k13\": 13, \"k14\": 14, \"k15\": 15, \"k16\": 16, \"k17\": 17}}";

static const struct {
    int syntax;
    const char *path, *want; /* want NULL: not found */
} get_cases[] = {
    {DOC_PATH_JSONPATH, "$.a.b[0]", "10"},
    {DOC_PATH_JSONPATH, "$.a.b[2].c", "\"x\""},
    {DOC_PATH_JSONPATH, "$.a.b[-1].c", "\"x\""},
    {DOC_PATH_JSONPATH, "$.a.b[-3]", "10"},
    {DOC_PATH_JSONPATH, "$.a.b[-4]", NULL},
    {DOC_PATH_JSONPATH, "$.a.b[3]", NULL},
    {DOC_PATH_JSONPATH, "$.a.b[-9223372036854775808]", NULL},
    {DOC_PATH_JSONPATH, "$.a['k.e']", "1"},
    {DOC_PATH_JSONPATH, "$.a.k.e", NULL},
    {DOC_PATH_JSONPATH, "$.a.0", "\"zero\""},
    {DOC_PATH_JSONPATH, "$.a['']", "\"empty\""},
    {DOC_PATH_JSONPATH, "$.a[0]", NULL},
    {DOC_PATH_JSONPATH, "$.arr.0", NULL},
    {DOC_PATH_JSONPATH, "$.arr[1][0]", "3"},
    {DOC_PATH_JSONPATH, "$.s.x", NULL},
    {DOC_PATH_JSONPATH, "$.s[0]", NULL},
    {DOC_PATH_JSONPATH, "$['it\\'s']", "true"},
    {DOC_PATH_JSONPATH, "$.big.k17", "17"},
    {DOC_PATH_JSONPATH, "$.big.k00", "0"},
    {DOC_PATH_JSONPATH, "big.k09", "9"},
    {DOC_PATH_JSONPATH, "$.big.k18", NULL},
    {DOC_PATH_JSONPATH, "$.nope", NULL},
    {DOC_PATH_JSONPATH, "$.arr", "[[1, 2], [3]]"},
    {DOC_PATH_DOTTED, "a.b.2.c", "\"x\""},
    {DOC_PATH_DOTTED, "a.0", "\"zero\""},
    {DOC_PATH_DOTTED, "arr.0.1", "2"},
    {DOC_PATH_DOTTED, "arr.01.0", NULL}, /* "01" is not an index */
    {DOC_PATH_DOTTED, "arr.2", NULL},
    {DOC_PATH_DOTTED, "a.b.99999999999999999999", NULL},
    {DOC_PATH_DOTTED, "a.k.e", NULL},
    {DOC_PATH_DOTTED, "big.k05", "5"},
};

static void test_path_get(void **state)
{
    (void)state;
    doc_val d = J(get_doc);
    for (size_t i = 0; i < sizeof get_cases / sizeof *get_cases; i++) {
        doc_path p;
        const char *s = get_cases[i].path;
        assert_int_equal(doc_path_parse(s, strlen(s), get_cases[i].syntax, &p), 0);
        doc_val out;
        int rc = doc_path_get(d, &p, &out);
        if (!get_cases[i].want) {
            if (rc != BURROW_ENOTFOUND) {
                print_error("path '%s': rc %d, want not found\n", s, rc);
                fail();
            }
        } else {
            if (rc != 0) {
                print_error("path '%s': rc %d\n", s, rc);
                fail();
            }
            if (doc_compare(out, J(get_cases[i].want)) != 0) {
                print_error("path '%s': wrong value\n", s);
                fail();
            }
        }
        doc_path_free(&p);
    }
    /* the root path is the value itself */
    doc_path root;
    assert_int_equal(doc_path_parse("$", 1, DOC_PATH_JSONPATH, &root), 0);
    doc_val out;
    assert_int_equal(doc_path_get(d, &root, &out), 0);
    assert_ptr_equal(out.p, d.p);
    assert_int_equal(out.len, d.len);
    doc_path_free(&root);
    teardown_pool();
}

static const struct {
    int syntax;
    const char *path, *printed;
} format_cases[] = {
    {DOC_PATH_JSONPATH, "$", "$"},
    {DOC_PATH_JSONPATH, "a.b", "$.a.b"},
    {DOC_PATH_JSONPATH, "$.a['b c'][3]['it\\'s'][-1]", "$.a['b c'][3]['it\\'s'][-1]"},
    {DOC_PATH_JSONPATH, "$[\"x\\\\y\"]", "$['x\\\\y']"},
    {DOC_PATH_JSONPATH, "$['']", "$['']"},
    {DOC_PATH_JSONPATH, "$.0a", "$['0a']"},
    {DOC_PATH_JSONPATH, "$._x9", "$._x9"},
    {DOC_PATH_JSONPATH, "$.a-b", "$['a-b']"},
    {DOC_PATH_JSONPATH, "$['a.b']", "$['a.b']"},
    {DOC_PATH_DOTTED, "a.b.0", "$.a.b[0]"},
    {DOC_PATH_DOTTED, "a.007", "$.a['007']"},
    {DOC_PATH_DOTTED, "x y", "$['x y']"},
};

static void test_path_format(void **state)
{
    (void)state;
    buf out = {0};
    for (size_t i = 0; i < sizeof format_cases / sizeof *format_cases; i++) {
        doc_path p, q;
        const char *s = format_cases[i].path;
        assert_int_equal(doc_path_parse(s, strlen(s), format_cases[i].syntax, &p), 0);
        out.size = 0;
        assert_int_equal(doc_path_format(&p, &out), 0);
        if (out.size != strlen(format_cases[i].printed) ||
            memcmp(out.data, format_cases[i].printed, out.size) != 0) {
            print_error("path '%s' printed as '%.*s', want '%s'\n", s, (int)out.size,
                        (const char *)out.data, format_cases[i].printed);
            fail();
        }
        /* what is printed reads back as the same steps (a dotted number
         * reads back as an index) */
        assert_int_equal(doc_path_parse((const char *)out.data, out.size, DOC_PATH_JSONPATH, &q),
                         0);
        assert_int_equal(q.nsteps, p.nsteps);
        for (int k = 0; k < p.nsteps; k++) {
            assert_int_equal(q.steps[k].index, p.steps[k].index);
            if (p.steps[k].kind == DOC_STEP_KEY) {
                assert_int_equal(q.steps[k].kind, DOC_STEP_KEY);
                assert_int_equal(q.steps[k].len, p.steps[k].len);
                assert_memory_equal(q.steps[k].name, p.steps[k].name, p.steps[k].len);
            } else {
                assert_int_equal(q.steps[k].kind, DOC_STEP_INDEX);
            }
        }
        doc_path_free(&p);
        doc_path_free(&q);
    }
    /* format appends */
    doc_path p;
    assert_int_equal(doc_path_parse("a", 1, DOC_PATH_DOTTED, &p), 0);
    out.size = 0;
    buf_append(&out, "at ", 3);
    assert_int_equal(doc_path_format(&p, &out), 0);
    assert_int_equal(out.size, 6);
    assert_memory_equal(out.data, "at $.a", 6);
    doc_path_free(&p);
    buf_free(&out);
}

/* Random keys of every byte through brackets: parse(format(p)) == p. */
static void test_path_random_keys(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x70617468);
    buf text = {0}, out = {0};
    unsigned rounds = tu_rounds(2000, 40000);
    for (unsigned round = 0; round < rounds; round++) {
        int nsteps = (int)tu_below(&r, 5);
        char names[5][8];
        size_t lens[5];
        int64_t idx[5];
        text.size = 0;
        buf_putc(&text, '$');
        for (int k = 0; k < nsteps; k++) {
            lens[k] = tu_below(&r, 7);
            idx[k] = -1;
            if (tu_below(&r, 4) == 0) {
                idx[k] = (int64_t)tu_rand(&r) >> tu_below(&r, 64);
                char itext[32];
                buf_append(&text, itext,
                           (size_t)snprintf(itext, sizeof itext, "[%lld]", (long long)idx[k]));
                continue;
            }
            static const char pick[] = "ab'\"\\.[] *$\0\xc3";
            for (size_t c = 0; c < lens[k]; c++)
                names[k][c] = pick[tu_below(&r, sizeof pick - 1)];
            char q = tu_below(&r, 2) ? '\'' : '"';
            buf_append(&text, (char[]){'[', q}, 2);
            for (size_t c = 0; c < lens[k]; c++) {
                if (names[k][c] == q || names[k][c] == '\\')
                    buf_putc(&text, '\\');
                buf_putc(&text, (uint8_t)names[k][c]);
            }
            buf_append(&text, (char[]){q, ']'}, 2);
        }
        doc_path p, p2;
        assert_int_equal(doc_path_parse((const char *)text.data, text.size, DOC_PATH_JSONPATH, &p), 0);
        assert_int_equal(p.nsteps, nsteps);
        out.size = 0;
        assert_int_equal(doc_path_format(&p, &out), 0);
        assert_int_equal(doc_path_parse((const char *)out.data, out.size, DOC_PATH_JSONPATH, &p2), 0);
        assert_int_equal(p2.nsteps, nsteps);
        for (int k = 0; k < nsteps; k++) {
            if (idx[k] != -1 || p.steps[k].kind == DOC_STEP_INDEX) {
                assert_int_equal(p.steps[k].kind, DOC_STEP_INDEX);
                assert_int_equal(p2.steps[k].kind, DOC_STEP_INDEX);
                assert_true(p.steps[k].index == idx[k] && p2.steps[k].index == idx[k]);
            } else {
                assert_int_equal(p.steps[k].len, lens[k]);
                assert_memory_equal(p.steps[k].name, names[k], lens[k]);
                assert_int_equal(p2.steps[k].len, lens[k]);
                assert_memory_equal(p2.steps[k].name, names[k], lens[k]);
            }
        }
        doc_path_free(&p);
        doc_path_free(&p2);
        /* every prefix of the text parses or fails cleanly */
        size_t cut = tu_below(&r, text.size + 1);
        char *pre = malloc(cut ? cut : 1);
        memcpy(pre, text.data, cut);
        int rc = doc_path_parse(pre, cut, DOC_PATH_JSONPATH, &p);
        assert_true(rc == 0 || rc == BURROW_EINVAL);
        if (rc == 0)
            doc_path_free(&p);
        rc = doc_path_parse(pre, cut, DOC_PATH_DOTTED, &p);
        assert_true(rc == 0 || rc == BURROW_EINVAL);
        if (rc == 0)
            doc_path_free(&p);
        free(pre);
    }
    buf_free(&text);
    buf_free(&out);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    doc_builder_init(&lit_b);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare_table),
        cmocka_unit_test(test_compare_big_objects),
        cmocka_unit_test(test_compare_same_shape),
        cmocka_unit_test(test_numbers_exact),
        cmocka_unit_test(test_key_bytes),
        cmocka_unit_test(test_random_order_and_encoding),
        cmocka_unit_test(test_random_equal_forms),
        cmocka_unit_test(test_hash_spread),
        cmocka_unit_test(test_key_size),
        cmocka_unit_test(test_key_size_malformed),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_damaged_rules),
        cmocka_unit_test(test_deep),
        cmocka_unit_test(test_path_parse_valid),
        cmocka_unit_test(test_path_parse_invalid),
        cmocka_unit_test(test_path_get),
        cmocka_unit_test(test_path_format),
        cmocka_unit_test(test_path_random_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
