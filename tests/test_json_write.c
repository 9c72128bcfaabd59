/*
 * test_json_write.c — the JSON writer (doc/json_write.c) and the shortest
 * round-trip doubles (doc/dtoa.c): exact text of scalars, escapes, pretty
 * and RedisJSON-style custom layouts, nesting to the limit, damaged values
 * refused with BURROW_ECORRUPT, doubles that read back bit for bit in the
 * fewest digits, and random documents written the same as a slow reference
 * writer built on the public accessors and parsed back (json_parse) to the
 * same bytes, compact and with layouts (seed printed).
 */
#include <float.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/endian.h"
#include "doc/doc.h"
#include "testutil.h"

/* ---- building test documents ------------------------------------------- */

enum { OP_DONE, OP_NULL, OP_TRUE, OP_FALSE, OP_INT, OP_DBL, OP_STR, OP_KEY, OP_ARR, OP_OBJ, OP_END };
typedef struct op {
    int kind;
    int64_t i;
    double d;
    const char *s;
    size_t n; /* string length; 0 means strlen(s) */
} op;
#define NUL_ {OP_NULL, 0, 0, NULL, 0}
#define TRUE_ {OP_TRUE, 0, 0, NULL, 0}
#define FALSE_ {OP_FALSE, 0, 0, NULL, 0}
#define INT_(x) {OP_INT, (x), 0, NULL, 0}
#define DBL_(x) {OP_DBL, 0, (x), NULL, 0}
#define STR_(x) {OP_STR, 0, 0, (x), 0}
#define KEY_(x) {OP_KEY, 0, 0, (x), 0}
#define ARR_ {OP_ARR, 0, 0, NULL, 0}
#define OBJ_ {OP_OBJ, 0, 0, NULL, 0}
#define END_ {OP_END, 0, 0, NULL, 0}
#define DONE_ {OP_DONE, 0, 0, NULL, 0}

static doc_builder builder;
static doc_builder parser; /* for json_parse of what was written */
static buf doc_bytes;      /* the last document built, owned here */

static int setup(void **state)
{
    (void)state;
    doc_builder_init(&builder);
    doc_builder_init(&parser);
    buf_init(&doc_bytes);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    doc_builder_free(&builder);
    doc_builder_free(&parser);
    buf_free(&doc_bytes);
    return 0;
}

/* The root of the finished document (a copy kept in doc_bytes). */
static doc_val finish_doc(void)
{
    const uint8_t *d;
    size_t n;
    assert_int_equal(doc_builder_finish(&builder, &d, &n), 0);
    doc_bytes.size = 0;
    assert_int_equal(buf_append(&doc_bytes, d, n), 0);
    assert_int_equal(doc_validate(doc_bytes.data, doc_bytes.size), 0);
    doc_val v;
    assert_int_equal(doc_root(doc_bytes.data, doc_bytes.size, &v), 0);
    return v;
}

static doc_val build(const op *ops)
{
    assert_int_equal(doc_builder_begin(&builder), 0);
    for (; ops->kind != OP_DONE; ops++) {
        size_t n = ops->s ? (ops->n ? ops->n : strlen(ops->s)) : 0;
        int rc = 0;
        switch (ops->kind) {
        case OP_NULL: rc = doc_builder_null(&builder); break;
        case OP_TRUE: rc = doc_builder_bool(&builder, true); break;
        case OP_FALSE: rc = doc_builder_bool(&builder, false); break;
        case OP_INT: rc = doc_builder_int(&builder, ops->i); break;
        case OP_DBL: rc = doc_builder_double(&builder, ops->d); break;
        case OP_STR: rc = doc_builder_string(&builder, ops->s, n); break;
        case OP_KEY: rc = doc_builder_key(&builder, ops->s, n); break;
        case OP_ARR: rc = doc_builder_begin_array(&builder); break;
        case OP_OBJ: rc = doc_builder_begin_object(&builder); break;
        case OP_END: rc = doc_builder_end(&builder); break;
        }
        assert_int_equal(rc, 0);
    }
    return finish_doc();
}

/* json_write into a fresh buffer; returns a NUL-terminated copy (free it). */
static char *write_text(doc_val v, unsigned flags, const json_format *fmt)
{
    buf out;
    buf_init(&out);
    assert_int_equal(json_write(v, flags, fmt, &out), 0);
    char *s = malloc(out.size + 1);
    assert_non_null(s);
    memcpy(s, out.data, out.size);
    s[out.size] = '\0';
    assert_int_equal(strlen(s), out.size); /* no NUL inside JSON text */
    buf_free(&out);
    return s;
}

static void expect_text(doc_val v, unsigned flags, const json_format *fmt, const char *want)
{
    char *got = write_text(v, flags, fmt);
    if (strcmp(got, want) != 0)
        fail_msg("json_write wrote\n%s\nwanted\n%s", got, want);
    free(got);
}

static void expect_ops(const op *ops, const char *want)
{
    expect_text(build(ops), 0, NULL, want);
}

/* ---- scalars and strings ------------------------------------------------ */

static void test_literals(void **state)
{
    (void)state;
    expect_ops((op[]){NUL_, DONE_}, "null");
    expect_ops((op[]){TRUE_, DONE_}, "true");
    expect_ops((op[]){FALSE_, DONE_}, "false");
    expect_ops((op[]){ARR_, END_, DONE_}, "[]");
    expect_ops((op[]){OBJ_, END_, DONE_}, "{}");
    expect_ops((op[]){ARR_, NUL_, TRUE_, FALSE_, END_, DONE_}, "[null,true,false]");
}

static void test_ints(void **state)
{
    (void)state;
    /* every storage width's edges, and every decimal length's edges */
    int64_t vals[200];
    size_t n = 0;
    int64_t edges[] = {0, 1, -1, 127, -128, 128, -129, 255, 256, 32767, -32768, 32768, -32769,
                       65535, 65536, INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
                       (int64_t)INT32_MIN - 1, INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        vals[n++] = edges[i];
    int64_t p = 1;
    for (int d = 0; d <= 18; d++) {
        vals[n++] = p;
        vals[n++] = p - 1;
        vals[n++] = -p;
        vals[n++] = -(p - 1) - 2;
        vals[n++] = p + 1;
        if (d < 18)
            p *= 10;
    }
    for (size_t i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof want, "%" PRId64, vals[i]);
        expect_ops((op[]){INT_(vals[i]), DONE_}, want);
    }
    expect_ops((op[]){ARR_, INT_(INT64_MIN), INT_(INT64_MAX), INT_(-7), END_, DONE_},
                "[-9223372036854775808,9223372036854775807,-7]");
}

/* The escape of one byte, written the slow obvious way. */
static void reference_escape(buf *out, const char *s, size_t n)
{
    assert_int_equal(buf_putc(out, '"'), 0);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        const char *e = NULL;
        switch (c) {
        case '"': e = "\\\""; break;
        case '\\': e = "\\\\"; break;
        case '\b': e = "\\b"; break;
        case '\f': e = "\\f"; break;
        case '\n': e = "\\n"; break;
        case '\r': e = "\\r"; break;
        case '\t': e = "\\t"; break;
        default:
            if (c < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                e = tmp;
            }
        }
        if (e)
            assert_int_equal(buf_append(out, e, strlen(e)), 0);
        else
            assert_int_equal(buf_putc(out, c), 0);
    }
    assert_int_equal(buf_putc(out, '"'), 0);
}

static void test_string_escapes(void **state)
{
    (void)state;
    static const char *const ctl[32] = {
        "\\u0000", "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b",     "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    };
    for (int c = 0; c < 32; c++) {
        char s[1] = {(char)c}, want[16];
        snprintf(want, sizeof want, "\"%s\"", ctl[c]);
        op ops[] = {{OP_STR, 0, 0, s, 1}, DONE_};
        expect_ops(ops, want);
    }
    expect_ops((op[]){STR_("\""), DONE_}, "\"\\\"\"");
    expect_ops((op[]){STR_("\\"), DONE_}, "\"\\\\\"");
    /* '/' and DEL need no escape; neither do quotes' neighbours */
    expect_ops((op[]){STR_("a/b\x7f!#[]"), DONE_}, "\"a/b\x7f!#[]\"");
    expect_ops((op[]){STR_(""), DONE_}, "\"\"");
    /* UTF-8 of every length passes through as it is */
    expect_ops((op[]){STR_("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbf"), DONE_},
                "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xef\xbf\xbf\"");
    /* keys are escaped like strings */
    expect_ops((op[]){OBJ_, KEY_("a\"b\n"), INT_(1), KEY_(""), STR_("\t"), END_, DONE_},
                "{\"a\\\"b\\n\":1,\"\":\"\\t\"}");

    /* an escape at every position of strings around the 8-byte steps */
    const char specials[] = {'"', '\\', '\n', '\x01', '\x1f', ' ', '\x7f', '/'};
    buf want;
    buf_init(&want);
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t k = 0; k < sizeof specials; k++) {
                char s[64];
                memset(s, 'x', len);
                s[at] = specials[k];
                if (at + 1 < len && k % 2)
                    s[len - 1] = '\\'; /* and sometimes a second one at the end */
                want.size = 0;
                reference_escape(&want, s, len);
                assert_int_equal(buf_putc(&want, 0), 0);
                op ops[] = {{OP_STR, 0, 0, s, len}, DONE_};
                expect_ops(ops, (const char *)want.data);
            }
        }
    }
    buf_free(&want);
}

static void test_long_strings(void **state)
{
    (void)state;
    /* a long plain string, then one made only of escapes (the output is six
     * times the input, far past the first reservation) */
    size_t n = 300000;
    char *s = malloc(n);
    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    buf want;
    buf_init(&want);
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            memset(s, 0x01, n);
        op ops[] = {ARR_, {OP_STR, 0, 0, s, n}, {OP_STR, 0, 0, s, n / 3}, END_, DONE_};
        doc_val v = build(ops);
        want.size = 0;
        assert_int_equal(buf_putc(&want, '['), 0);
        reference_escape(&want, s, n);
        assert_int_equal(buf_putc(&want, ','), 0);
        reference_escape(&want, s, n / 3);
        assert_int_equal(buf_putc(&want, ']'), 0);
        buf out;
        buf_init(&out);
        assert_int_equal(json_write(v, 0, NULL, &out), 0);
        assert_int_equal(out.size, want.size);
        assert_memory_equal(out.data, want.data, want.size);
        buf_free(&out);
    }
    buf_free(&want);
    free(s);
}

/* ---- doubles -------------------------------------------------------------- */

static bool same_bits(double a, double b) { return memcmp(&a, &b, sizeof a) == 0; }

static void test_double_text(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *text;
    } cases[] = {
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1.0, "1.0"},
        {2.0, "2.0"},
        {-2.0, "-2.0"},
        {100.0, "100.0"},
        {0.1, "0.1"},
        {0.3, "0.3"},
        {0.1 + 0.2, "0.30000000000000004"},
        {-1.5, "-1.5"},
        {123.45, "123.45"},
        {1.0 / 3, "0.3333333333333333"},
        {2.0 / 3, "0.6666666666666666"},
        {3.141592653589793, "3.141592653589793"},
        {12345000000000.0, "12345000000000.0"},
        {1e16, "10000000000000000.0"},
        {12345678901234567.0, "12345678901234568.0"},
        {99999999999999984.0, "99999999999999980.0"},
        {1e17, "1e+17"},
        {1.5e17, "1.5e+17"},
        {1e21, "1e+21"},
        {1e22, "1e+22"},
        {1e23, "1e+23"},
        {1e300, "1e+300"},
        {-1e300, "-1e+300"},
        {9007199254740992.0, "9007199254740992.0"},
        {9007199254740994.0, "9007199254740994.0"},
        {0.00001, "0.00001"},
        {0.000012345, "0.000012345"},
        {-0.00009999, "-0.00009999"},
        {0.000001, "1e-6"},
        {1.5e-7, "1.5e-7"},
        {1e-100, "1e-100"},
        {5e-324, "5e-324"},
        {-5e-324, "-5e-324"},
        {1e-323, "1e-323"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {2.225073858507201e-308, "2.225073858507201e-308"}, /* largest subnormal */
        {4.35, "4.35"},
        {0.5, "0.5"},
        {1e15 + 0.3, "1000000000000000.2"},
        {5e-1, "0.5"},
        {1.7976931348623157e308 / 2, "8.988465674311579e+307"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf32[48];
        size_t n = json_format_double(cases[i].d, buf32);
        buf32[n] = '\0';
        if (strcmp(buf32, cases[i].text) != 0)
            fail_msg("json_format_double(%.17g) = %s, wanted %s", cases[i].d, buf32,
                     cases[i].text);
        /* and the same through json_write */
        expect_ops((op[]){DBL_(cases[i].d), DONE_}, cases[i].text);
        /* and json_parse reads it back as that double, not as an int */
        doc_val back;
        double x;
        assert_int_equal(json_parse(cases[i].text, strlen(cases[i].text), NULL, &parser), 0);
        const uint8_t *pd;
        size_t pn;
        assert_int_equal(doc_builder_finish(&parser, &pd, &pn), 0);
        assert_int_equal(doc_root(pd, pn, &back), 0);
        assert_int_equal(doc_type(back), DOC_DOUBLE);
        assert_int_equal(doc_get_double(back, &x), 0);
        assert_true(same_bits(x, cases[i].d));
    }
    expect_ops((op[]){ARR_, DBL_(1.0), INT_(1), DBL_(-0.0), INT_(0), END_, DONE_},
                "[1.0,1,-0.0,0]");
}

static int significant_digits(const char *s)
{
    int n = 0;
    bool leading = true;
    int trailing_zeros = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (leading && *s == '0')
            continue;
        leading = false;
        n++;
        trailing_zeros = *s == '0' ? trailing_zeros + 1 : 0;
    }
    return n - trailing_zeros;
}


/* -?(0|[1-9][0-9]*)(.[0-9]+)?(e[+-][0-9]+)? with a fraction or an exponent */
static bool json_double_syntax(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0')
        s++;
    else if (*s >= '1' && *s <= '9')
        while (*s >= '0' && *s <= '9')
            s++;
    else
        return false;
    bool frac = false, exp = false;
    if (*s == '.') {
        s++;
        if (!(*s >= '0' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
        frac = true;
    }
    if (*s == 'e') {
        s++;
        if (*s != '+' && *s != '-')
            return false;
        s++;
        if (!(*s >= '1' && *s <= '9'))
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
        exp = true;
    }
    return *s == '\0' && (frac || exp);
}

/* The decimal exponent of the first significant digit of the text s of a
 * non-zero number, and whether s is in scientific notation. */
static int decimal_exponent(const char *s, bool *sci)
{
    const char *e = strchr(s, 'e');
    *sci = e != NULL;
    if (e)
        return atoi(e + 1);
    const char *p = s + (s[0] == '-');
    if (p[0] != '0')
        return (int)(strchr(p, '.') - p) - 1;
    int zeros = 0;
    for (p += 2; *p == '0'; p++)
        zeros++;
    return -zeros - 1;
}

/*
 * What a user relies on for one double: the text is JSON, reads back as a
 * double, to the same bits; it has the fewest significant digits possible
 * (one digit fewer never reads back, and no more than the shortest of
 * %.15g/%.16g/%.17g that does); of those it is the closest (equal to %.Ng
 * when that reads back with the same digit count); and it uses plain
 * notation exactly when the decimal exponent is in [-5, 17).
 */
static void check_double(double d)
{
    char s[64];
    memset(s, 0x5a, sizeof s);
    size_t n = json_format_double(d, s);
    assert_true(n > 0 && n <= 24);
    for (size_t i = 32; i < sizeof s; i++)
        assert_int_equal((unsigned char)s[i], 0x5a); /* never past 32 bytes */
    s[n] = '\0';
    if (d == 0) {
        assert_string_equal(s, signbit(d) ? "-0.0" : "0.0");
        return;
    }
    if (!json_double_syntax(s))
        fail_msg("%.17g: not a JSON double: %s", d, s);
    char *end;
    double back = strtod(s, &end);
    if (*end != '\0' || !same_bits(back, d))
        fail_msg("%.17g: %s reads back as %.17g", d, s, back);
    int digits = significant_digits(s);
    if (digits < 1 || digits > 17)
        fail_msg("%.17g: %s has %d digits", d, s, digits);
    int shortest_g = 0;
    for (int prec = 15; prec <= 17 && !shortest_g; prec++) {
        char g[400];
        snprintf(g, sizeof g, "%.*g", prec, d);
        if (same_bits(strtod(g, NULL), d))
            shortest_g = significant_digits(g);
    }
    assert_true(shortest_g > 0);
    if (digits > shortest_g)
        fail_msg("%.17g: %s has %d digits, %%.Ng needs %d", d, s, digits, shortest_g);
    if (digits > 1) {
        char g[400];
        snprintf(g, sizeof g, "%.*g", digits - 1, d);
        if (same_bits(strtod(g, NULL), d))
            fail_msg("%.17g: %s is not shortest: %s reads back", d, s, g);
    }
    char g[400];
    snprintf(g, sizeof g, "%.*e", digits - 1, d);
    if (same_bits(strtod(g, NULL), d)) {
        /* the correctly rounded one reads back: ours must be it */
        char a[24] = {0}, b[24] = {0};
        int na = 0, nb = 0;
        for (const char *p = s; *p && *p != 'e'; p++)
            if (*p >= '0' && *p <= '9' && (na || *p != '0'))
                a[na++] = *p;
        for (const char *p = g; *p && *p != 'e'; p++)
            if (*p >= '0' && *p <= '9' && (nb || *p != '0'))
                b[nb++] = *p;
        while (na > digits)
            a[--na] = '\0'; /* drop the zeros plain notation adds */
        if (strcmp(a, b) != 0)
            fail_msg("%.17g: %s is not the closest shortest (%s)", d, s, g);
    }
    bool sci;
    int e10 = decimal_exponent(s, &sci);
    if (sci != (e10 < -5 || e10 >= 17))
        fail_msg("%.17g: %s in the wrong notation", d, s);
}

static double from_bits(uint64_t b)
{
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* d * 2^q, exact in the range used here (no libm in the link) */
static double scale2(double d, int q)
{
    for (; q > 0; q--)
        d *= 2;
    for (; q < 0; q++)
        d /= 2;
    return d;
}

static void test_double_hard(void **state)
{
    (void)state;
    static const double hard[] = {
        5e-324, 1e-323, 1.5e-323, 2.225073858507201e-308, 2.2250738585072014e-308,
        2.2250738585072009e-308, 4.9406564584124654e-324, 1e23, 8.41e21, 5.0e22, 9e15,
        9007199254740991.0, 9007199254740993.0, 18014398509481988.0, 4.35, 0.3, 2.675,
        1.0000000000000002, 0.9999999999999999, 1.7976931348623157e308, 1.7976931348623155e308,
        4.940656458412465e-324, 123456789012345680.0, 1e-7, 9.5e-5, 7.0e-10, 1.1e-308,
        2.9802322387695312e-08, 1.8014398509481984e16, 5.764607523034235e17,
        2.305843009213694e18, 7.378697629483821e19, 9.223372036854776e18,
        6.103515625e-05, 1.52587890625e-05, 0.1e-5, 299792458.0, 6.02214076e23,
        1.602176634e-19, 6.62607015e-34, 9.999999999999999e22, 1.0e22 * 10,
    };
    for (size_t i = 0; i < sizeof hard / sizeof *hard; i++) {
        check_double(hard[i]);
        check_double(-hard[i]);
    }
    /* every power of two (the asymmetric intervals), its neighbours, every
     * exponent's largest significand */
    for (uint64_t e = 0; e < 2047; e++) {
        check_double(from_bits(e << 52));
        check_double(from_bits((e << 52) + 1));
        check_double(from_bits((e << 52) | ((1ull << 52) - 1)));
        if (e)
            check_double(from_bits((e << 52) - 1));
    }
    /* the smallest subnormals, where the decimal has one or two digits */
    for (uint64_t c = 1; c < 2000; c++)
        check_double(from_bits(c));
    /* powers of ten and integers with many factors of 5 at every scale:
     * values whose scaled form is an exact integer */
    for (int k = -323; k <= 308; k++) {
        char t[16];
        snprintf(t, sizeof t, "1e%d", k);
        double d = strtod(t, NULL);
        check_double(d);
        uint64_t b;
        memcpy(&b, &d, sizeof b);
        check_double(from_bits(b - 1)); /* the neighbours below and above */
        check_double(from_bits(b + 1));
    }
    uint64_t p5 = 1;
    for (int k = 0; k <= 22; k++, p5 *= 5)
        for (uint64_t j = 1; j < 30 && p5 * j < (1ull << 53); j++)
            for (int q = -60; q < 80; q += 3)
                check_double(scale2((double)(p5 * j), q));
    /* integral doubles around 2^53 */
    for (int64_t i = -50; i <= 50; i++)
        check_double(9007199254740992.0 + (double)i * 2);
}

static void test_double_random(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0xd0b1e);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(100000, 1000000);
    for (unsigned i = 0; i < rounds; i++) {
        double d = from_bits(tu_rand(&r));
        if (isfinite(d))
            check_double(d);
    }
    /* short decimals read in: ours is never longer than what was read */
    for (unsigned i = 0; i < rounds / 4; i++) {
        int ndig = (int)tu_range(&r, 1, 17);
        uint64_t m = tu_range(&r, 1, 99999999999999999ull);
        uint64_t limit = 1;
        for (int j = 0; j < ndig; j++)
            limit *= 10;
        while (m >= limit)
            m /= 10;
        char t[48];
        snprintf(t, sizeof t, "%" PRIu64 "e%d", m, (int)tu_range(&r, 0, 640) - 330);
        double d = strtod(t, NULL);
        if (d == 0 || !isfinite(d))
            continue;
        char s[40];
        size_t n = json_format_double(d, s);
        s[n] = '\0';
        assert_true(same_bits(strtod(s, NULL), d));
        int read_digits = significant_digits(t);
        if (significant_digits(s) > read_digits)
            fail_msg("%s reads as %.17g but is written %s", t, d, s);
    }
}

static void test_double_locale(void **state)
{
    (void)state;
    /* a decimal comma in the process locale changes nothing */
    const char *names[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE", "C.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]);
    char s[40];
    size_t n = json_format_double(1234.5, s);
    s[n] = '\0';
    assert_string_equal(s, "1234.5");
    n = json_format_double(1.5e-7, s);
    s[n] = '\0';
    assert_string_equal(s, "1.5e-7");
    setlocale(LC_NUMERIC, "C");
}

/* ---- layout ----------------------------------------------------------------- */

static const op sample[] = {
    OBJ_, KEY_("a"), INT_(1), KEY_("b"), ARR_, TRUE_, NUL_, OBJ_, END_, DBL_(2.5), END_,
    KEY_("c"), OBJ_, KEY_("d"), STR_("x"), END_, KEY_("e"), ARR_, END_, END_, DONE_,
};

static void test_pretty(void **state)
{
    (void)state;
    doc_val v = build(sample);
    expect_text(v, 0, NULL, "{\"a\":1,\"b\":[true,null,{},2.5],\"c\":{\"d\":\"x\"},\"e\":[]}");
    expect_text(v, JSON_PRETTY, NULL,
                "{\n"
                "  \"a\": 1,\n"
                "  \"b\": [\n"
                "    true,\n"
                "    null,\n"
                "    {},\n"
                "    2.5\n"
                "  ],\n"
                "  \"c\": {\n"
                "    \"d\": \"x\"\n"
                "  },\n"
                "  \"e\": []\n"
                "}");
    /* a scalar alone has no line breaks; empty containers stay closed */
    expect_text(build((op[]){INT_(7), DONE_}), JSON_PRETTY, NULL, "7");
    expect_text(build((op[]){ARR_, END_, DONE_}), JSON_PRETTY, NULL, "[]");
    expect_text(build((op[]){ARR_, ARR_, END_, END_, DONE_}), JSON_PRETTY, NULL, "[\n  []\n]");
    /* NULL fields of a format mean the flag's defaults */
    json_format none = {NULL, NULL, NULL};
    v = build(sample); /* (each build replaces the last document) */
    expect_text(v, 0, &none, "{\"a\":1,\"b\":[true,null,{},2.5],\"c\":{\"d\":\"x\"},\"e\":[]}");
    json_format four = {"    ", NULL, NULL};
    expect_text(build((op[]){OBJ_, KEY_("k"), ARR_, INT_(1), END_, END_, DONE_}), JSON_PRETTY,
                &four, "{\n    \"k\": [\n        1\n    ]\n}");
}

static void test_custom_format(void **state)
{
    (void)state;
    /* the shapes of RedisJSON's JSON.GET INDENT / NEWLINE / SPACE, each
     * alone and together */
    doc_val v = build((op[]){ARR_, OBJ_, KEY_("a"), INT_(1), KEY_("b"), INT_(2), END_, INT_(3),
                             END_, DONE_});
    json_format indent = {"_", NULL, NULL};
    expect_text(v, 0, &indent, "[_{__\"a\":1,__\"b\":2_},_3]");
    json_format newline = {NULL, "n", NULL};
    expect_text(v, 0, &newline, "[n{n\"a\":1,n\"b\":2n},n3n]");
    json_format space = {NULL, NULL, "s"};
    expect_text(v, 0, &space, "[{\"a\":s1,\"b\":s2},3]");
    json_format all = {"\t", "\r\n", "  "};
    expect_text(v, 0, &all, "[\r\n\t{\r\n\t\t\"a\":  1,\r\n\t\t\"b\":  2\r\n\t},\r\n\t3\r\n]");
    /* empty strings turn a JSON_PRETTY part off */
    json_format flat = {"", "", ""};
    expect_text(v, JSON_PRETTY, &flat, "[{\"a\":1,\"b\":2},3]");
    json_format only_nl = {"", NULL, ""};
    expect_text(v, JSON_PRETTY, &only_nl, "[\n{\n\"a\":1,\n\"b\":2\n},\n3\n]");
    expect_text(build((op[]){OBJ_, KEY_("e"), OBJ_, END_, END_, DONE_}), 0, &all,
                "{\r\n\t\"e\":  {}\r\n}");
}

static void test_appends(void **state)
{
    (void)state;
    doc_val v = build(sample);
    buf out;
    buf_init(&out);
    assert_int_equal(buf_append(&out, "prefix:", 7), 0);
    assert_int_equal(json_write(v, 0, NULL, &out), 0);
    const char *want = "prefix:{\"a\":1,\"b\":[true,null,{},2.5],\"c\":{\"d\":\"x\"},\"e\":[]}";
    assert_int_equal(out.size, strlen(want));
    assert_memory_equal(out.data, want, out.size);
    buf_free(&out);
}

/* ---- nesting and damage ------------------------------------------------ */

/* depth arrays, each holding the next, the innermost holding 1: made by
 * hand, so depths past what the builder allows can be made too. */
static uint8_t *nested_arrays(int depth, size_t *len)
{
    buf inner, outer;
    buf_init(&inner);
    buf_init(&outer);
    const uint8_t one[] = {DOC_TAG_INT8, 1};
    assert_int_equal(buf_append(&inner, one, sizeof one), 0);
    for (int i = 0; i < depth; i++) {
        uint8_t hdr[1 + DOC_HEADER_SIZE] = {DOC_TAG_ARRAY, 0};
        le32_store(hdr + 2, (uint32_t)inner.size + 1); /* element + 1-byte offset */
        le32_store(hdr + 6, 1);
        outer.size = 0;
        assert_int_equal(buf_append(&outer, hdr, sizeof hdr), 0);
        assert_int_equal(buf_append(&outer, inner.data, inner.size), 0);
        assert_int_equal(buf_putc(&outer, 0), 0);
        buf t = inner;
        inner = outer;
        outer = t;
    }
    buf_free(&outer);
    *len = inner.size;
    return inner.data;
}

static void test_nesting(void **state)
{
    (void)state;
    /* the deepest the builder makes, written in full */
    assert_int_equal(doc_builder_begin(&builder), 0);
    for (int i = 0; i < DOC_MAX_DEPTH; i++)
        assert_int_equal(doc_builder_begin_array(&builder), 0);
    assert_int_equal(doc_builder_int(&builder, 1), 0);
    for (int i = 0; i < DOC_MAX_DEPTH; i++)
        assert_int_equal(doc_builder_end(&builder), 0);
    doc_val v = finish_doc();
    char *s = write_text(v, 0, NULL);
    assert_int_equal(strlen(s), 2 * DOC_MAX_DEPTH + 1);
    for (int i = 0; i < DOC_MAX_DEPTH; i++) {
        assert_int_equal(s[i], '[');
        assert_int_equal(s[DOC_MAX_DEPTH + 1 + i], ']');
    }
    assert_int_equal(s[DOC_MAX_DEPTH], '1');
    free(s);
    s = write_text(v, JSON_PRETTY, NULL);
    /* "[\n" + 2 spaces per level ... : the innermost line is indented by
     * 2 * DOC_MAX_DEPTH */
    char *one = strchr(s, '1');
    assert_non_null(one);
    assert_int_equal(one[-1 - 2 * DOC_MAX_DEPTH], '\n');
    assert_int_equal(one[-2 * DOC_MAX_DEPTH], ' ');
    free(s);

    /* the same made by hand, then one level too deep */
    size_t len;
    uint8_t *p = nested_arrays(DOC_MAX_DEPTH, &len);
    doc_val hv = {p, len};
    s = write_text(hv, 0, NULL);
    assert_int_equal(strlen(s), 2 * DOC_MAX_DEPTH + 1);
    free(s);
    free(p);
    p = nested_arrays(DOC_MAX_DEPTH + 1, &len);
    hv = (doc_val){p, len};
    buf out;
    buf_init(&out);
    assert_int_equal(json_write(hv, 0, NULL, &out), BURROW_ECORRUPT);
    assert_int_equal(out.size, 0);
    buf_free(&out);
    free(p);
}

/* json_write of [p, p+n) copied to an exact-size heap block, so the
 * sanitizers see any read past it; the output buffer is left as it was. */
static int write_raw(const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, p, n);
    buf out;
    buf_init(&out);
    assert_int_equal(buf_append(&out, "keep", 4), 0);
    int rc = json_write((doc_val){copy, n}, JSON_PRETTY, NULL, &out);
    if (rc) {
        assert_int_equal(out.size, 4);
        assert_memory_equal(out.data, "keep", 4);
    }
    buf_free(&out);
    free(copy);
    return rc;
}

static void test_corrupt(void **state)
{
    (void)state;
    static const struct {
        const char *why;
        size_t n;
        uint8_t b[40];
    } bad[] = {
        {"empty", 0, {0}},
        {"unknown tag", 1, {0x0b}},
        {"tag 0xff", 2, {0xff, 0}},
        {"null with a tail", 2, {DOC_TAG_NULL, 0}},
        {"int8 truncated", 1, {DOC_TAG_INT8}},
        {"int16 truncated", 2, {DOC_TAG_INT16, 1}},
        {"int32 too long", 6, {DOC_TAG_INT32, 1, 2, 3, 4, 5}},
        {"int64 truncated", 8, {DOC_TAG_INT64, 1, 2, 3, 4, 5, 6, 7}},
        {"double truncated", 5, {DOC_TAG_DOUBLE, 0, 0, 0, 0}},
        {"double nan", 9, {DOC_TAG_DOUBLE, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f}},
        {"double inf", 9, {DOC_TAG_DOUBLE, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f}},
        {"double -inf", 9, {DOC_TAG_DOUBLE, 0, 0, 0, 0, 0, 0, 0xf0, 0xff}},
        {"string past its slot", 4, {DOC_TAG_STRING, 5, 'a', 'b'}},
        {"string short of its slot", 5, {DOC_TAG_STRING, 1, 'a', 'b', 'c'}},
        {"string varint cut", 2, {DOC_TAG_STRING, 0x80}},
        {"string varint huge", 12, {DOC_TAG_STRING, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'}},
        {"header cut", 9, {DOC_TAG_ARRAY, 0, 0, 0, 0, 0, 0, 0, 0}},
        {"width code 3", 10, {DOC_TAG_ARRAY, 3, 0, 0, 0, 0, 0, 0, 0, 0}},
        {"unknown flag", 10, {DOC_TAG_OBJECT, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}},
        {"sorted array", 10, {DOC_TAG_ARRAY, DOC_FLAG_SORTED, 0, 0, 0, 0, 0, 0, 0, 0}},
        {"body past slot", 10, {DOC_TAG_ARRAY, 0, 1, 0, 0, 0, 0, 0, 0, 0}},
        {"body short of slot", 11, {DOC_TAG_ARRAY, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
        {"count past body", 12, {DOC_TAG_ARRAY, 0, 2, 0, 0, 0, 2, 0, 0, 0, DOC_TAG_NULL, 0}},
        {"huge count", 12, {DOC_TAG_ARRAY, 2, 2, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, DOC_TAG_NULL, 0}},
        {"first offset not 0", 12, {DOC_TAG_ARRAY, 0, 2, 0, 0, 0, 1, 0, 0, 0, DOC_TAG_NULL, 1}},
        {"offsets not increasing", 14, {DOC_TAG_ARRAY, 0, 4, 0, 0, 0, 2, 0, 0, 0, DOC_TAG_NULL, DOC_TAG_NULL, 0, 0}},
        {"offset past elements", 14, {DOC_TAG_ARRAY, 0, 4, 0, 0, 0, 2, 0, 0, 0, DOC_TAG_NULL, DOC_TAG_NULL, 0, 9}},
        {"element too long for its tag", 14, {DOC_TAG_ARRAY, 0, 4, 0, 0, 0, 1, 0, 0, 0, DOC_TAG_INT8, 5, 7, 0}},
        {"element bad tag", 12, {DOC_TAG_ARRAY, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0x42, 0}},
        {"key past element", 14, {DOC_TAG_OBJECT, 0, 4, 0, 0, 0, 1, 0, 0, 0, 3, 'k', DOC_TAG_NULL, 0}},
        {"key leaves no value", 14, {DOC_TAG_OBJECT, 0, 4, 0, 0, 0, 1, 0, 0, 0, 2, 'k', 'j', 0}},
        {"key varint cut", 12, {DOC_TAG_OBJECT, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0x80, 0}},
        {"2-byte offsets past body", 13, {DOC_TAG_ARRAY, 1, 3, 0, 0, 0, 1, 0, 0, 0, DOC_TAG_NULL, 0, 0x10}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = write_raw(bad[i].b, bad[i].n);
        if (rc != BURROW_ECORRUPT)
            fail_msg("%s: json_write returned %d, wanted BURROW_ECORRUPT", bad[i].why, rc);
    }
    /* a NULL value */
    buf out;
    buf_init(&out);
    assert_int_equal(json_write((doc_val){NULL, 0}, 0, NULL, &out), BURROW_ECORRUPT);
    buf_free(&out);
    /* the good neighbours of some of those are accepted */
    static const uint8_t good[][16] = {
        {DOC_TAG_ARRAY, 0, 2, 0, 0, 0, 1, 0, 0, 0, DOC_TAG_NULL, 0},
        {DOC_TAG_ARRAY, 1, 3, 0, 0, 0, 1, 0, 0, 0, DOC_TAG_NULL, 0, 0},
        {DOC_TAG_OBJECT, 0, 4, 0, 0, 0, 1, 0, 0, 0, 1, 'k', DOC_TAG_NULL, 0},
    };
    static const size_t good_len[] = {12, 13, 14};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(write_raw(good[i], good_len[i]), 0);
}

/* ---- random documents against a slow reference writer ------------------ */

static void random_string(tu_rng *r, char *s, size_t n)
{
    static const char *const pieces[] = {"a", "Z", " ", "\"", "\\", "\n", "\t", "\x01", "\x1f",
                                         "/", "\x7f", "\xc3\xa9", "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80", "0"};
    size_t at = 0;
    while (at < n) {
        const char *p = pieces[tu_below(r, sizeof pieces / sizeof *pieces)];
        size_t k = strlen(p);
        if (at + k > n)
            p = "x", k = 1;
        if (tu_chance(r, 3, 4))
            p = "abcdefgh", k = n - at < 8 ? n - at : 8;
        memcpy(s + at, p, k);
        at += k;
    }
}

static double random_double(tu_rng *r)
{
    switch (tu_below(r, 4)) {
    case 0: return (double)(int64_t)tu_range(r, 0, 2000000) / 100.0 - 10000.0;
    case 1: return scale2((double)tu_below(r, 1000), (int)tu_range(r, 0, 200) - 100);
    default: {
        double d;
        do
            d = from_bits(tu_rand(r));
        while (!isfinite(d));
        return d;
    }
    }
}

static void random_value(tu_rng *r, int depth, int *budget)
{
    unsigned kind = (unsigned)tu_below(r, depth > 6 || *budget <= 0 ? 7 : 10);
    (*budget)--;
    char s[80];
    switch (kind) {
    case 0: assert_int_equal(doc_builder_null(&builder), 0); break;
    case 1: assert_int_equal(doc_builder_bool(&builder, tu_chance(r, 1, 2)), 0); break;
    case 2: {
        int64_t i = (int64_t)tu_rand(r) >> tu_below(r, 64);
        assert_int_equal(doc_builder_int(&builder, i), 0);
        break;
    }
    case 3: assert_int_equal(doc_builder_double(&builder, random_double(r)), 0); break;
    case 4:
    case 5:
    case 6: {
        size_t n = (size_t)tu_below(r, sizeof s);
        random_string(r, s, n);
        assert_int_equal(doc_builder_string(&builder, s, n), 0);
        break;
    }
    case 7:
    case 8: {
        assert_int_equal(doc_builder_begin_array(&builder), 0);
        unsigned n = (unsigned)tu_below(r, 12);
        for (unsigned i = 0; i < n; i++)
            random_value(r, depth + 1, budget);
        assert_int_equal(doc_builder_end(&builder), 0);
        break;
    }
    default: {
        assert_int_equal(doc_builder_begin_object(&builder), 0);
        unsigned n = (unsigned)tu_below(r, 24); /* sometimes past DOC_SORTED_MIN */
        for (unsigned i = 0; i < n; i++) {
            /* unique: the index first, then random text */
            int k = snprintf(s, sizeof s, "%u:", i);
            size_t extra = (size_t)tu_below(r, 12);
            random_string(r, s + k, extra);
            assert_int_equal(doc_builder_key(&builder, s, (size_t)k + extra), 0);
            random_value(r, depth + 1, budget);
        }
        assert_int_equal(doc_builder_end(&builder), 0);
        break;
    }
    }
}

static void puts_n(buf *out, const char *s, int times)
{
    for (int i = 0; i < times; i++)
        assert_int_equal(buf_append(out, s, strlen(s)), 0);
}

/* The same text by another road: the public accessors and snprintf. */
static void reference_write(doc_val v, const json_format *f, int depth, buf *out)
{
    char tmp[64];
    switch (doc_type(v)) {
    case DOC_NULL: puts_n(out, "null", 1); return;
    case DOC_FALSE: puts_n(out, "false", 1); return;
    case DOC_TRUE: puts_n(out, "true", 1); return;
    case DOC_INT: {
        int64_t i;
        assert_int_equal(doc_get_int(v, &i), 0);
        snprintf(tmp, sizeof tmp, "%" PRId64, i);
        puts_n(out, tmp, 1);
        return;
    }
    case DOC_DOUBLE: {
        double d;
        assert_int_equal(doc_get_double(v, &d), 0);
        tmp[json_format_double(d, tmp)] = '\0';
        puts_n(out, tmp, 1);
        return;
    }
    case DOC_STRING: {
        const char *s;
        size_t n;
        assert_int_equal(doc_get_string(v, &s, &n), 0);
        reference_escape(out, s, n);
        return;
    }
    case DOC_ARRAY:
    case DOC_OBJECT: {
        bool obj = doc_type(v) == DOC_OBJECT;
        puts_n(out, obj ? "{" : "[", 1);
        doc_iter it;
        doc_iter_init(&it, v);
        const char *k;
        size_t kn;
        doc_val e;
        int rc, i = 0;
        while ((rc = doc_iter_next(&it, &k, &kn, &e)) == 1) {
            if (i++)
                puts_n(out, ",", 1);
            puts_n(out, f->newline, 1);
            puts_n(out, f->indent, depth + 1);
            if (obj) {
                reference_escape(out, k, kn);
                puts_n(out, ":", 1);
                puts_n(out, f->space, 1);
            }
            reference_write(e, f, depth + 1, out);
        }
        assert_int_equal(rc, 0);
        if (i) {
            puts_n(out, f->newline, 1);
            puts_n(out, f->indent, depth);
        }
        puts_n(out, obj ? "}" : "]", 1);
        return;
    }
    default: fail_msg("bad value");
    }
}

static void test_random_documents(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0xd0c5);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(1500, 30000);
    static const json_format formats[] = {
        {"", "", ""}, {"  ", "\n", " "}, {"\t", "", ""}, {"", "\r\n", ""}, {"", "", "   "},
    };
    buf got, want;
    buf_init(&got);
    buf_init(&want);
    for (unsigned round = 0; round < rounds; round++) {
        assert_int_equal(doc_builder_begin(&builder), 0);
        int budget = (int)tu_below(&r, 300);
        random_value(&r, 0, &budget);
        doc_val v = finish_doc();
        const json_format *f = &formats[round % (sizeof formats / sizeof *formats)];
        got.size = want.size = 0;
        assert_int_equal(json_write(v, 0, f, &got), 0);
        reference_write(v, f, 0, &want);
        if (got.size != want.size || memcmp(got.data, want.data, got.size) != 0)
            fail_msg("round %u: json_write and the reference differ:\n%.*s\n%.*s", round,
                     (int)got.size, (const char *)got.data, (int)want.size,
                     (const char *)want.data);

        /* the text parses back to the very same bytes, whatever the
         * (whitespace) layout: no value, key order or number type changes */
        const uint8_t *pd;
        size_t pn;
        int prc = json_parse((const char *)got.data, got.size, NULL, &parser);
        if (prc)
            fail_msg("round %u: json_write text does not parse: %s", round, burrow_errmsg());
        assert_int_equal(doc_builder_finish(&parser, &pd, &pn), 0);
        if (pn != doc_bytes.size || memcmp(pd, doc_bytes.data, pn) != 0)
            fail_msg("round %u: json_write text parses to other bytes:\n%.*s", round,
                     (int)got.size, (const char *)got.data);

        /* damage: flip a byte or cut the value short; either the text comes
         * out or BURROW_ECORRUPT, never a read outside the value */
        size_t n = doc_bytes.size - 1;
        uint8_t *copy = malloc(n);
        assert_non_null(copy);
        memcpy(copy, doc_bytes.data + 1, n);
        size_t cut = n;
        if (tu_chance(&r, 1, 3))
            cut = (size_t)tu_below(&r, n) + 1;
        else
            copy[tu_below(&r, n)] ^= (uint8_t)tu_range(&r, 1, 255);
        int rc = write_raw(copy, cut);
        assert_true(rc == 0 || rc == BURROW_ECORRUPT);
        free(copy);
    }
    buf_free(&got);
    buf_free(&want);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_double_text),
        cmocka_unit_test(test_double_hard),
        cmocka_unit_test(test_double_random),
        cmocka_unit_test(test_double_locale),
        cmocka_unit_test(test_pretty),
        cmocka_unit_test(test_custom_format),
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_random_documents),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
