/*
 * test_json_parse.c — conformance of the strict RFC 8259 parser
 * (json_parse, src/doc/json_parse.c): tables of valid and invalid texts
 * with the exact "line:column: reason" of each failure, int/double
 * typing at the int64 boundaries, correctly rounded doubles against
 * strtod, depth and size limits, duplicate keys, and randomised documents
 * built through the builder, written as JSON (while building, by a small
 * writer in this file, and by json_write) and parsed back to the same bytes
 * (seed printed).
 *
 * Every text is parsed from a heap copy of exactly its length, so the
 * sanitizer build catches any read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>

#include "doc/doc.h"
#include "testutil.h"

/* ---- helpers ------------------------------------------------------------ */

static int parse_opt(const char *text, size_t len, const json_parse_options *opt, doc_builder *b)
{
    char *copy = malloc(len); /* exactly len: a read past it is a sanitizer error */
    if (len)
        memcpy(copy, text, len);
    int rc = json_parse(len ? copy : NULL, len, opt, b);
    free(copy);
    return rc;
}

static int parse(const char *text, size_t len, doc_builder *b)
{
    return parse_opt(text, len, NULL, b);
}

static doc_val root_of(doc_builder *b)
{
    const uint8_t *d;
    size_t n;
    assert_int_equal(doc_builder_finish(b, &d, &n), 0);
    assert_int_equal(doc_validate(d, n), 0);
    doc_val v;
    assert_int_equal(doc_root(d, n, &v), 0);
    return v;
}

static void put(buf *o, const char *s) { assert_int_equal(buf_append(o, s, strlen(s)), 0); }

static void putf(buf *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof tmp);
    assert_int_equal(buf_append(o, tmp, (size_t)n), 0);
}

/* A double as text that reads back to the same double and as a double:
 * 17 significant digits, with ".0" added when it would read as an int. */
static void put_double(buf *o, double d, bool upper_e)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%.17g", d);
    if (!strpbrk(tmp, ".e"))
        strcat(tmp, ".0");
    if (upper_e) {
        char *e = strchr(tmp, 'e');
        if (e)
            *e = 'E';
    }
    put(o, tmp);
}

/* The test's own tiny JSON writer (the real one is json_write.c): compact,
 * keys in stored order, '"' '\\' and control characters escaped, ints in
 * decimal, doubles as put_double. Enough to compare parses as text. */
static void write_string(buf *o, const char *s, size_t n)
{
    put(o, "\"");
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '"' || c == '\\')
            putf(o, "\\%c", c);
        else if (c < 0x20)
            putf(o, "\\u%04x", c);
        else
            assert_int_equal(buf_putc(o, c), 0);
    }
    put(o, "\"");
}

static void write_value(buf *o, doc_val v)
{
    bool bv;
    int64_t i;
    double d;
    const char *s, *k;
    size_t n, kn;
    doc_iter it;
    doc_val e;
    int first = 1;
    switch (doc_type(v)) {
    case DOC_NULL: put(o, "null"); break;
    case DOC_FALSE:
    case DOC_TRUE:
        assert_int_equal(doc_get_bool(v, &bv), 0);
        put(o, bv ? "true" : "false");
        break;
    case DOC_INT:
        assert_int_equal(doc_get_int(v, &i), 0);
        putf(o, "%lld", (long long)i);
        break;
    case DOC_DOUBLE:
        assert_int_equal(doc_get_double(v, &d), 0);
        put_double(o, d, false);
        break;
    case DOC_STRING:
        assert_int_equal(doc_get_string(v, &s, &n), 0);
        write_string(o, s, n);
        break;
    case DOC_ARRAY:
    case DOC_OBJECT:
        put(o, doc_type(v) == DOC_ARRAY ? "[" : "{");
        doc_iter_init(&it, v);
        for (int rc; (rc = doc_iter_next(&it, &k, &kn, &e)) != 0; first = 0) {
            assert_int_equal(rc, 1);
            if (!first)
                put(o, ",");
            if (k) {
                write_string(o, k, kn);
                put(o, ":");
            }
            write_value(o, e);
        }
        put(o, doc_type(v) == DOC_ARRAY ? "]" : "}");
        break;
    default: fail_msg("invalid value in a parsed document");
    }
}

/* The parsed document written back by the tiny writer, NUL-terminated. */
static void render(doc_builder *b, buf *o)
{
    o->size = 0;
    write_value(o, root_of(b));
    assert_int_equal(buf_putc(o, 0), 0);
}

/* ---- valid texts ----------------------------------------------------------- */

typedef struct valid_case {
    const char *text;
    size_t len;
    const char *want; /* the tiny writer's rendering */
} valid_case;
#define OK(t, w) {t, sizeof(t) - 1, w}

static const valid_case valid[] = {
    /* literals and whitespace: only space, tab, LF, CR */
    OK("null", "null"),
    OK("true", "true"),
    OK("false", "false"),
    OK(" \t\r\n null \t\r\n", "null"),
    OK("\n\n\n[\n1\n]\n", "[1]"),
    /* containers */
    OK("[]", "[]"),
    OK("{}", "{}"),
    OK("[ ]", "[]"),
    OK("{ \n\t }", "{}"),
    OK("[[]]", "[[]]"),
    OK("[{}]", "[{}]"),
    OK("[[],{},[[]]]", "[[],{},[[]]]"),
    OK("{\"a\":{}}", "{\"a\":{}}"),
    OK(" [ 1 , { \"a\" : null } ] ", "[1,{\"a\":null}]"),
    OK("{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}",
       "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}"),
    OK("{\"b\":1,\"a\":2}", "{\"b\":1,\"a\":2}"), /* insertion order kept */
    OK("{\"\":0}", "{\"\":0}"),
    OK("{\"a\":1,\"a\\u0000\":2,\"A\":3}", "{\"a\":1,\"a\\u0000\":2,\"A\":3}"), /* distinct keys */
    OK("[null,true,false,\"\",0,[],{}]", "[null,true,false,\"\",0,[],{}]"),
    /* strings and escapes */
    OK("\"\"", "\"\""),
    OK("\"abc\"", "\"abc\""),
    OK("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\\"\\\\/\\u0008\\u000c\\u000a\\u000d\\u0009\""),
    OK("\"/\"", "\"/\""),
    OK("\"\\u0000\"", "\"\\u0000\""),
    OK("\"a\\u0000b\"", "\"a\\u0000b\""),
    OK("\"\\u0041\\u0062\"", "\"Ab\""),
    OK("\"\\u00e9\\u00E9\"", "\"\xC3\xA9\xC3\xA9\""),
    OK("\"\\u07FF\\u0800\"", "\"\xDF\xBF\xE0\xA0\x80\""),
    OK("\"\\uD7FF\\uE000\"", "\"\xED\x9F\xBF\xEE\x80\x80\""),
    OK("\"\\uFFFF\"", "\"\xEF\xBF\xBF\""),
    OK("\"\\uD83D\\uDE00\"", "\"\xF0\x9F\x98\x80\""),
    OK("\"\\ud83d\\ude00\"", "\"\xF0\x9F\x98\x80\""),
    OK("\"\\uD800\\uDC00\"", "\"\xF0\x90\x80\x80\""),
    OK("\"\\uDBFF\\uDFFF\"", "\"\xF4\x8F\xBF\xBF\""),
    OK("\"x\\uD834\\uDD1Ey\"", "\"x\xF0\x9D\x84\x9Ey\""),
    OK("\"\x7F\"", "\"\x7F\""), /* DEL is not a control character for JSON */
    OK("\"\xC2\x80\xDF\xBF\"", "\"\xC2\x80\xDF\xBF\""),
    OK("\"\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\"",
       "\"\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\""),
    OK("\"\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\"", "\"\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\""),
    OK("\"long plain ascii run past several words\\n\xC3\xA9 then more plain text\"",
       "\"long plain ascii run past several words\\u000a\xC3\xA9 then more plain text\""),
    OK("{\"\\u00e9t\\u00e9\":\"summer\"}", "{\"\xC3\xA9t\xC3\xA9\":\"summer\"}"),
    /* numbers: see also test_numbers */
    OK("[0,-1,1.5,-0,-0.0,1e2,1E2,1e+2,1e-2,0e0,0.0]",
       "[0,-1,1.5,-0.0,-0.0,100.0,100.0,100.0,0.01,0.0,0.0]"),
    OK("[1,\"a\",[2,{\"b\":[3]}]]", "[1,\"a\",[2,{\"b\":[3]}]]"),
};

static void test_valid_table(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    buf out = {0};
    int bad = 0;
    for (size_t i = 0; i < sizeof valid / sizeof *valid; i++) {
        const valid_case *c = &valid[i];
        int rc = parse(c->text, c->len, &b);
        if (rc) {
            print_error("valid[%zu] %s: rc %d, %s\n", i, c->text, rc, burrow_errmsg());
            bad++;
            continue;
        }
        render(&b, &out);
        if (strlen((char *)out.data) != strlen(c->want) || strcmp((char *)out.data, c->want)) {
            print_error("valid[%zu] %s: got %s, want %s\n", i, c->text, (char *)out.data, c->want);
            bad++;
        }
    }
    buf_free(&out);
    doc_builder_free(&b);
    assert_int_equal(bad, 0);
}

/* ---- invalid texts --------------------------------------------------------- */

typedef struct invalid_case {
    const char *text;
    size_t len;
    const char *msg;
} invalid_case;
#define BAD(t, m) {t, sizeof(t) - 1, m}

static const invalid_case invalid[] = {
    /* end of input */
    BAD("", "1:1: unexpected end of input"),
    BAD("   ", "1:4: unexpected end of input"),
    BAD("\n\n", "3:1: unexpected end of input"),
    BAD("[", "1:2: unexpected end of input"),
    BAD("[1", "1:3: unexpected end of input"),
    BAD("[1,", "1:4: unexpected end of input"),
    BAD("[1, ", "1:5: unexpected end of input"),
    BAD("{", "1:2: unexpected end of input"),
    BAD("{\"a\"", "1:5: unexpected end of input"),
    BAD("{\"a\":", "1:6: unexpected end of input"),
    BAD("{\"a\":1", "1:7: unexpected end of input"),
    BAD("{\"a\":1,", "1:8: unexpected end of input"),
    BAD("{\"a\":1,\n", "2:1: unexpected end of input"),
    /* structure */
    BAD("]", "1:1: unexpected character ']'"),
    BAD("}", "1:1: unexpected character '}'"),
    BAD(":", "1:1: unexpected character ':'"),
    BAD(",", "1:1: unexpected character ','"),
    BAD("[1,]", "1:3: trailing comma"),
    BAD("[1 ,\n ]", "1:4: trailing comma"),
    BAD("{\"a\":1,}", "1:7: trailing comma"),
    BAD("{\"a\":1,\r\n}", "1:7: trailing comma"),
    BAD("[,]", "1:2: unexpected character ','"),
    BAD("[,1]", "1:2: unexpected character ','"),
    BAD("[1,,2]", "1:4: unexpected character ','"),
    BAD("[1 2]", "1:4: missing comma or ']'"),
    BAD("[1}", "1:3: missing comma or ']'"),
    BAD("[1:2]", "1:3: missing comma or ']'"),
    BAD("[\"a\" \"b\"]", "1:6: missing comma or ']'"),
    BAD("{\"a\":1 \"b\":2}", "1:8: missing comma or '}'"),
    BAD("{\"a\":1]", "1:7: missing comma or '}'"),
    BAD("{\"a\":1:2}", "1:7: missing comma or '}'"),
    BAD("{\"a\" 1}", "1:6: expected ':'"),
    BAD("{\"a\",1}", "1:5: expected ':'"),
    BAD("{\"a\"=1}", "1:5: expected ':'"),
    BAD("{\"a\"}", "1:5: expected ':'"),
    BAD("{1:2}", "1:2: expected string key"),
    BAD("{'a':1}", "1:2: expected string key"),
    BAD("{a:1}", "1:2: expected string key"),
    BAD("{,}", "1:2: expected string key"),
    BAD("{null:1}", "1:2: expected string key"),
    BAD("{\"a\":1,2:3}", "1:8: expected string key"),
    BAD("{\"a\":1, ,}", "1:9: expected string key"),
    BAD("{\"a\":}", "1:6: unexpected character '}'"),
    BAD("[1]]", "1:4: trailing characters after the value"),
    BAD("1 2", "1:3: trailing characters after the value"),
    BAD("{} x", "1:4: trailing characters after the value"),
    BAD("\"a\"\"b\"", "1:4: trailing characters after the value"),
    BAD("[1]\n\n  [2]", "3:3: trailing characters after the value"),
    BAD("[1]\0", "1:4: trailing characters after the value"),
    BAD("1\v", "1:2: trailing characters after the value"),
    BAD("[1] // comment", "1:5: trailing characters after the value"),
    /* what is not whitespace or a value */
    BAD("\f1", "1:1: unexpected byte 0x0C"),
    BAD("\v1", "1:1: unexpected byte 0x0B"),
    BAD("\0", "1:1: unexpected byte 0x00"),
    BAD("\xEF\xBB\xBF" "1", "1:1: unexpected byte 0xEF"), /* no byte order mark */
    BAD("\xC2\xA0" "1", "1:1: unexpected byte 0xC2"),     /* no-break space */
    BAD("[\xC3\xA9]", "1:2: unexpected byte 0xC3"),
    BAD("/* c */ 1", "1:1: unexpected character '/'"),
    BAD("'a'", "1:1: unexpected character '''"),
    BAD("[1,\x7F]", "1:4: unexpected byte 0x7F"),
    /* literals */
    BAD("tru", "1:4: unexpected end of input"),
    BAD("t", "1:2: unexpected end of input"),
    BAD("nul", "1:4: unexpected end of input"),
    BAD("fals", "1:5: unexpected end of input"),
    BAD("trUe", "1:3: unexpected character 'U'"),
    BAD("True", "1:1: unexpected character 'T'"),
    BAD("NULL", "1:1: unexpected character 'N'"),
    BAD("nulll", "1:5: unexpected character 'l'"),
    BAD("falsey", "1:6: unexpected character 'y'"),
    BAD("[truex]", "1:6: unexpected character 'x'"),
    BAD("true1", "1:5: unexpected character '1'"),
    BAD("[true false]", "1:7: missing comma or ']'"),
    BAD("NaN", "1:1: unexpected character 'N'"),
    BAD("Infinity", "1:1: unexpected character 'I'"),
    BAD("-Infinity", "1:1: invalid number"),
    BAD("-NaN", "1:1: invalid number"),
    BAD("undefined", "1:1: unexpected character 'u'"),
    /* numbers */
    BAD("01", "1:1: invalid number"),
    BAD("00", "1:1: invalid number"),
    BAD("-01", "1:1: invalid number"),
    BAD("[1,012]", "1:4: invalid number"),
    BAD("1.", "1:1: invalid number"),
    BAD("1.]", "1:1: invalid number"),
    BAD("1.e5", "1:1: invalid number"),
    BAD("-.5", "1:1: invalid number"),
    BAD(".5", "1:1: unexpected character '.'"),
    BAD("+1", "1:1: unexpected character '+'"),
    BAD("[+1]", "1:2: unexpected character '+'"),
    BAD("-", "1:1: invalid number"),
    BAD("- 1", "1:1: invalid number"),
    BAD("--1", "1:1: invalid number"),
    BAD("1e", "1:1: invalid number"),
    BAD("1e+", "1:1: invalid number"),
    BAD("1E-", "1:1: invalid number"),
    BAD("1e+-2", "1:1: invalid number"),
    BAD("1e2.5", "1:1: invalid number"),
    BAD("0x1F", "1:1: invalid number"),
    BAD("1.5.3", "1:1: invalid number"),
    BAD("1e5e5", "1:1: invalid number"),
    BAD("12abc", "1:1: invalid number"),
    BAD("1f", "1:1: invalid number"),
    BAD("[1-2]", "1:2: invalid number"),
    BAD("[1,\n  -]", "2:3: invalid number"),
    BAD("1e400", "1:1: number out of range"),
    BAD("-1e400", "1:1: number out of range"),
    BAD("1.8e308", "1:1: number out of range"),
    BAD("1.7976931348623159e308", "1:1: number out of range"),
    BAD("[0, 1e99999999999999999999]", "1:5: number out of range"),
    BAD("{\"a\":\n\t123456789012345678901234567890e300}", "2:2: number out of range"),
    /* strings */
    BAD("\"abc", "1:1: unterminated string"),
    BAD("[\"abc", "1:2: unterminated string"),
    BAD("\"", "1:1: unterminated string"),
    BAD("\"abc\\", "1:1: unterminated string"),
    BAD("\"abc\\\"", "1:1: unterminated string"),
    BAD("\"\\u", "1:1: unterminated string"),
    BAD("\"\\u12", "1:1: unterminated string"),
    BAD("\"\xC3", "1:1: unterminated string"),
    BAD("\"\xF0\x9F\x98", "1:1: unterminated string"),
    BAD("{\"a\":1,\"b", "1:8: unterminated string"),
    BAD("\"\\u12\"", "1:2: invalid \\u escape"),
    BAD("\"\\u12G4\"", "1:2: invalid \\u escape"),
    BAD("\"\\u 123\"", "1:2: invalid \\u escape"),
    BAD("\"\\u-123\"", "1:2: invalid \\u escape"),
    BAD("\"\\u12", "1:1: unterminated string"),
    BAD("\"\\u1x", "1:2: invalid \\u escape"),
    BAD("\"ab\\U1234\"", "1:4: invalid escape"),
    BAD("\"\\x41\"", "1:2: invalid escape"),
    BAD("\"\\a\"", "1:2: invalid escape"),
    BAD("\"\\'\"", "1:2: invalid escape"),
    BAD("\"\\ \"", "1:2: invalid escape"),
    BAD("\"\\0\"", "1:2: invalid escape"),
    BAD("\"\\\0\"", "1:2: invalid escape"),
    BAD("\"\\\xC3\xA9\"", "1:2: invalid escape"),
    BAD("\"a\\n\\q\"", "1:5: invalid escape"),
    /* surrogates written as escapes must pair, high then low */
    BAD("\"\\uD800\"", "1:2: lone surrogate"),
    BAD("\"\\uDBFF\"", "1:2: lone surrogate"),
    BAD("\"\\uDC00\"", "1:2: lone surrogate"),
    BAD("\"\\uDFFF\"", "1:2: lone surrogate"),
    BAD("\"\\udfff\"", "1:2: lone surrogate"),
    BAD("\"\\uD800\\uD800\"", "1:2: lone surrogate"),
    BAD("\"\\uDC00\\uD800\"", "1:2: lone surrogate"),
    BAD("\"\\uD800\\u0041\"", "1:2: lone surrogate"),
    BAD("\"x\\uD800\\uE000\"", "1:3: lone surrogate"),
    BAD("\"\\uD800a\"", "1:2: lone surrogate"),
    BAD("\"\\uD800\\n\"", "1:2: lone surrogate"),
    BAD("\"\\uD800\\\\uDC00\"", "1:2: lone surrogate"),
    BAD("\"\\uD800\\uZZZZ\"", "1:8: invalid \\u escape"),
    BAD("\"\\uD800\\uDC0\"", "1:8: invalid \\u escape"),
    BAD("\"\\uD800", "1:1: unterminated string"),
    BAD("\"\\uD800\\", "1:1: unterminated string"),
    BAD("\"\\uD800\\u", "1:1: unterminated string"),
    BAD("\"\\uD800\\uDC", "1:1: unterminated string"),
    BAD("{\"\\uDE00\":1}", "1:3: lone surrogate"),
    /* raw control characters */
    BAD("\"\0\"", "1:2: control character in string"),
    BAD("\"a\x01" "b\"", "1:3: control character in string"),
    BAD("\"\x1F\"", "1:2: control character in string"),
    BAD("\"a\nb\"", "1:3: control character in string"),
    BAD("\"\t\"", "1:2: control character in string"),
    BAD("\"\r\"", "1:2: control character in string"),
    BAD("\"0123456789abcdefghij\x01\"", "1:22: control character in string"),
    BAD("\"\\n\x01\"", "1:4: control character in string"),
    BAD("{\"k\x02\":1}", "1:4: control character in string"),
    /* UTF-8 */
    BAD("\"\x80\"", "1:2: invalid UTF-8"),
    BAD("\"\xBF\"", "1:2: invalid UTF-8"),
    BAD("\"a\xC3\xA9\x80\"", "1:5: invalid UTF-8"),
    BAD("\"\xC0\x80\"", "1:2: invalid UTF-8"),
    BAD("\"\xC1\xBF\"", "1:2: invalid UTF-8"),
    BAD("\"\xE0\x80\x80\"", "1:2: invalid UTF-8"),
    BAD("\"\xE0\x9F\xBF\"", "1:2: invalid UTF-8"),
    BAD("\"\xF0\x80\x80\x80\"", "1:2: invalid UTF-8"),
    BAD("\"\xF0\x8F\xBF\xBF\"", "1:2: invalid UTF-8"),
    BAD("\"\xED\xA0\x80\"", "1:2: invalid UTF-8"),
    BAD("\"\xED\xAF\xBF\xED\xB0\x80\"", "1:2: invalid UTF-8"), /* CESU-8 pair */
    BAD("\"\xED\xBF\xBF\"", "1:2: invalid UTF-8"),
    BAD("\"\xF4\x90\x80\x80\"", "1:2: invalid UTF-8"),
    BAD("\"\xF5\x80\x80\x80\"", "1:2: invalid UTF-8"),
    BAD("\"\xF8\x88\x80\x80\x80\"", "1:2: invalid UTF-8"),
    BAD("\"\xFE\"", "1:2: invalid UTF-8"),
    BAD("\"\xFF\"", "1:2: invalid UTF-8"),
    BAD("\"\xC3\"", "1:2: invalid UTF-8"),
    BAD("\"\xC3" "a\"", "1:2: invalid UTF-8"),
    BAD("\"\xE2\x82\"", "1:2: invalid UTF-8"),
    BAD("\"\xE2\x28\xA1\"", "1:2: invalid UTF-8"),
    BAD("\"\xF0\x9F\x98\"", "1:2: invalid UTF-8"),
    BAD("\"\xF0\x9F\x98" "a\"", "1:2: invalid UTF-8"),
    BAD("\"0123456789abcdef\xE9t\xE9\"", "1:18: invalid UTF-8"), /* Latin-1 */
    BAD("\"\\n\xFF\"", "1:4: invalid UTF-8"),
    BAD("{\"\xFF\":1}", "1:3: invalid UTF-8"),
    BAD("[\"ok\",\n\"\xC0\xAF\"]", "2:2: invalid UTF-8"),
    /* duplicate keys: reported at the second occurrence */
    BAD("{\"a\":1,\"a\":2}", "1:8: duplicate key \"a\""),
    BAD("{\"a\":1,\"b\":2,\"\\u0061\":3}", "1:14: duplicate key \"a\""),
    BAD("{\"a\":{\"x\":1,\"x\":2}}", "1:13: duplicate key \"x\""),
    BAD("{\"a\":[{\"b\":1}],\"a\":{\"c\":[1,2,{\"d\":\"}\"}]}}", "1:16: duplicate key \"a\""),
    BAD("{\"\":1,\"\":2}", "1:7: duplicate key \"\""),
    BAD("{\"a\\\"b\":1,\"a\\\"b\":2}", "1:11: duplicate key \"a\\\"b\""),
    BAD("{\"\\u0000\":1,\"\\u0000\":2}", "1:13: duplicate key \"\\u0000\""),
    BAD("{\n  \"a\": 1,\n  \"b\": 2,\n  \"a\": 3\n}", "4:3: duplicate key \"a\""),
    BAD("{\"b\":1,\"a\":1,\"c\":1,\"a\":1,\"b\":1}", "1:20: duplicate key \"a\""),
    /* nesting: see test_depth */
};

static void test_invalid_table(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    int bad = 0;
    for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
        const invalid_case *c = &invalid[i];
        int rc = parse(c->text, c->len, &b);
        if (rc != BURROW_EJSON || strcmp(burrow_errmsg(), c->msg) != 0) {
            print_error("invalid[%zu] %.*s: rc %d, \"%s\", want \"%s\"\n", i, (int)c->len, c->text,
                        rc, rc ? burrow_errmsg() : "", c->msg);
            bad++;
        }
    }
    doc_builder_free(&b);
    assert_int_equal(bad, 0);
}

/* Strings are scanned 8 bytes at a time: a byte that needs a look must be
 * seen at every position of a word and in the tail, on the plain path and
 * after an escape (the decoding path). */
static void test_string_scan_positions(void **state)
{
    (void)state;
    static const struct {
        uint8_t byte;
        const char *reason;
    } stops[] = {
        {0x00, "control character in string"}, {0x01, "control character in string"},
        {0x0A, "control character in string"}, {0x1F, "control character in string"},
        {0x80, "invalid UTF-8"},               {0xBF, "invalid UTF-8"},
        {0xC0, "invalid UTF-8"},               {0xFF, "invalid UTF-8"},
    };
    doc_builder b;
    doc_builder_init(&b);
    char text[64], msg[64];
    for (int escaped = 0; escaped < 2; escaped++) {
        size_t lead = escaped ? 3 : 1; /* "\n before the run, or just " */
        for (size_t k = 0; k < 40; k++) {
            for (size_t i = 0; i < sizeof stops / sizeof *stops; i++) {
                size_t len = lead + 40 + 1;
                memset(text, 'a', len);
                memcpy(text, escaped ? "\"\\n" : "\"", lead);
                text[len - 1] = '"';
                text[lead + k] = (char)stops[i].byte;
                assert_int_equal(parse(text, len, &b), BURROW_EJSON);
                snprintf(msg, sizeof msg, "1:%zu: %s", lead + k + 1, stops[i].reason);
                if (strcmp(burrow_errmsg(), msg) != 0)
                    fail_msg("byte 0x%02X at %zu%s: %s", stops[i].byte, k,
                             escaped ? " after an escape" : "", burrow_errmsg());
            }
            /* a quote ends the string early wherever it is */
            size_t len = lead + 40 + 1;
            memset(text, 'a', len);
            memcpy(text, escaped ? "\"\\n" : "\"", lead);
            text[len - 1] = '"';
            text[lead + k] = '"';
            assert_int_equal(parse(text, len, &b), BURROW_EJSON);
            snprintf(msg, sizeof msg, "1:%zu: trailing characters after the value", lead + k + 2);
            assert_string_equal(burrow_errmsg(), msg);
            /* a two-byte character is accepted anywhere and kept */
            if (k == 39)
                continue;
            text[lead + k] = 'a';
            memcpy(text + lead + k, "\xC3\xA9", 2);
            assert_int_equal(parse(text, len, &b), 0);
            const char *s;
            size_t n;
            assert_int_equal(doc_get_string(root_of(&b), &s, &n), 0);
            assert_int_equal(n, 40 + (escaped ? 1 : 0));
            assert_memory_equal(s + (escaped ? 1 : 0) + k, "\xC3\xA9", 2);
        }
    }
    doc_builder_free(&b);
}

/* ---- numbers --------------------------------------------------------------- */

static void expect_int(doc_builder *b, const char *text, int64_t want)
{
    assert_int_equal(parse(text, strlen(text), b), 0);
    doc_val v = root_of(b);
    int64_t got;
    if (doc_type(v) != DOC_INT)
        fail_msg("%s: type %d, want an int", text, doc_type(v));
    assert_int_equal(doc_get_int(v, &got), 0);
    if (got != want)
        fail_msg("%s: got %lld", text, (long long)got);
}

/* Parses text as a double and compares its bits with strtod's. */
static void expect_double(doc_builder *b, const char *text)
{
    int rc = parse(text, strlen(text), b);
    if (rc)
        fail_msg("%s: rc %d %s", text, rc, burrow_errmsg());
    doc_val v = root_of(b);
    if (doc_type(v) != DOC_DOUBLE)
        fail_msg("%s: type %d, want a double", text, doc_type(v));
    double got, want = strtod(text, NULL);
    assert_int_equal(doc_get_double(v, &got), 0);
    if (memcmp(&got, &want, sizeof got) != 0)
        fail_msg("%s: got %.17g, want %.17g", text, got, want);
}

static void test_numbers(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    /* every storage width's boundaries stay exact ints */
    expect_int(&b, "0", 0);
    expect_int(&b, "1", 1);
    expect_int(&b, "-1", -1);
    expect_int(&b, "127", 127);
    expect_int(&b, "128", 128);
    expect_int(&b, "-128", -128);
    expect_int(&b, "-129", -129);
    expect_int(&b, "32767", 32767);
    expect_int(&b, "32768", 32768);
    expect_int(&b, "-32768", -32768);
    expect_int(&b, "-32769", -32769);
    expect_int(&b, "2147483647", 2147483647);
    expect_int(&b, "2147483648", 2147483648LL);
    expect_int(&b, "-2147483648", -2147483648LL);
    expect_int(&b, "-2147483649", -2147483649LL);
    expect_int(&b, "9007199254740993", 9007199254740993LL); /* 2^53 + 1: no double can */
    expect_int(&b, "1000000000000000000", 1000000000000000000LL);
    expect_int(&b, "9223372036854775807", INT64_MAX);
    expect_int(&b, "-9223372036854775807", -INT64_MAX);
    expect_int(&b, "-9223372036854775808", INT64_MIN);
    /* integers past int64 become doubles */
    expect_double(&b, "9223372036854775808");
    expect_double(&b, "-9223372036854775809");
    expect_double(&b, "9999999999999999999");
    expect_double(&b, "10000000000000000000");
    expect_double(&b, "18446744073709551615");
    expect_double(&b, "18446744073709551616");
    expect_double(&b, "-18446744073709551617");
    expect_double(&b, "100000000000000000000000");
    expect_double(&b, "123456789012345678901234567890");
    /* a fraction or an exponent makes a double even when integral */
    expect_double(&b, "1.0");
    expect_double(&b, "1e0");
    expect_double(&b, "1E2");
    expect_double(&b, "1e+2");
    expect_double(&b, "0.0");
    expect_double(&b, "0e0");
    expect_double(&b, "0E-0");
    expect_double(&b, "0e999999999999");
    expect_double(&b, "0.000000000000000000000000000000e99999");
    expect_double(&b, "9223372036854775807.0");
    expect_double(&b, "-9223372036854775808e0");
    /* "-0" keeps its sign as a double; "0" is the int 0 */
    const char *negzero[] = {"-0", "-0.0", "-0e5", "-0.000e-3", "-0E+0"};
    for (size_t i = 0; i < sizeof negzero / sizeof *negzero; i++) {
        expect_double(&b, negzero[i]);
        double d;
        assert_int_equal(doc_get_double(root_of(&b), &d), 0);
        assert_true(d == 0.0 && signbit(d));
    }
    /* underflow is not an error: zero or subnormal */
    expect_double(&b, "1e-400");
    expect_double(&b, "-1e-400");
    expect_double(&b, "1e-99999999999999999999");
    expect_double(&b, "2.4703282292062327e-324");
    expect_double(&b, "2.4703282292062328e-324");
    /* the largest double, and just below where rounding reaches infinity */
    expect_double(&b, "1.7976931348623157e308");
    expect_double(&b, "1.7976931348623158e308");
    expect_double(&b, "-1.7976931348623157e308");
    /* the same as 309 integer digits, and one digit more */
    char big[320];
    memset(big, '0', sizeof big);
    memcpy(big, "17976931348623157", 17);
    big[309] = '\0';
    expect_double(&b, big);
    big[309] = '0';
    big[310] = '\0';
    assert_int_equal(parse(big, 310, &b), BURROW_EJSON);
    assert_string_equal(burrow_errmsg(), "1:1: number out of range");
    doc_builder_free(&b);
}

/* Decimal texts where a naive conversion rounds wrongly. */
static const char *hard_doubles[] = {
    "0.1", "0.2", "0.3", "1e23", "1e22", "1e-22", "1e-23", "8.533e+68", "4.1006e-184",
    "9.998e+307", "9.9538452227e-280", "6.47660115e-260", "7.4e+47", "5.92e+48", "7.35e+66",
    "8.32116e+55", "5e-324", "4.9406564584124654e-324", "2.2250738585072011e-308",
    "2.2250738585072012e-308", "2.2250738585072014e-308", "2.2250738585072009e-308",
    "2.225073858507201136057409796709131975934819546351645648e-308",
    "9007199254740993.0", "9007199254740993e0", "9007199254740995.0", "9007199254740992.5",
    "4503599627370497.5", "4503599627370496.5",
    "1.00000000000000011102230246251565404236316680908203125",
    "1.00000000000000011102230246251565404236316680908203124",
    "1.00000000000000011102230246251565404236316680908203126",
    "0.500000000000000166533453693773481063544750213623046875",
    "3.14159265358979323846264338327950288419716939937510", "123456789012345678e-5",
    "1.00000000000000000000000001", "0.000000000000000000000000000000000001",
    "12345678901234567890.123", "1234567890123456789e-10", "123456789e30", "1e37", "1e38",
    "9007199254740991e22", "9007199254740993e22", "4294967295e15", "1e308", "1e-308",
    "1e-307", "0.1e-306", "7.0e-10", "2.5e-1", "-2.5e-1", "6.02214076e23", "1.602176634e-19",
    "0.000001", "1e-7", "100000000000000016777215", "100000000000000016777216",
    "89255.0e-22", "0.30000000000000004", "1448997445238699e-16", "5.0e-324", "1e15", "1.5e16",
};

static void test_hard_doubles(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    for (size_t i = 0; i < sizeof hard_doubles / sizeof *hard_doubles; i++) {
        expect_double(&b, hard_doubles[i]);
        char neg[128];
        snprintf(neg, sizeof neg, "-%s", hard_doubles[i]);
        if (hard_doubles[i][0] != '-')
            expect_double(&b, neg);
    }
    doc_builder_free(&b);
}

/* Random doubles: every finite bit pattern printed with 17 digits reads
 * back to itself, and shorter or random decimal spellings read like
 * strtod. Covers the exact fast path and its edges (mantissa 2^53, powers
 * 10^22 and beyond), dropped digits and the slow path. */
static void test_random_doubles(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0xd0b1e);
    doc_builder b;
    doc_builder_init(&b);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(20000, 1000000);
    char text[128];
    for (unsigned i = 0; i < rounds; i++) {
        uint64_t bits = tu_rand(&r);
        double d;
        memcpy(&d, &bits, 8);
        switch (tu_below(&r, 3)) {
        case 0:
            if (!isfinite(d))
                continue;
            snprintf(text, sizeof text, "%.*e", (int)tu_range(&r, 0, 17), d);
            break;
        case 1: { /* small magnitudes, where the fast path applies */
            double m = (double)(tu_rand(&r) >> tu_range(&r, 8, 63));
            for (int k = (int)tu_below(&r, 30); k > 0; k--)
                m /= 10;
            snprintf(text, sizeof text, "%.*g", (int)tu_range(&r, 1, 17), m);
            if (!strpbrk(text, ".e"))
                strcat(text, ".0"); /* else it is an int */
            break;
        }
        default: { /* random digits, a point somewhere, a random exponent */
            size_t n = 0, ndig = tu_range(&r, 1, 30), point = tu_below(&r, ndig + 1);
            if (tu_chance(&r, 1, 2))
                text[n++] = '-';
            for (size_t k = 0; k < ndig; k++) {
                if (k == point && k > 0)
                    text[n++] = '.';
                text[n++] = (char)('0' + (k == 0 ? tu_range(&r, 1, 9) : tu_below(&r, 10)));
            }
            snprintf(text + n, sizeof text - n, "e%d", (int)tu_range(&r, 0, 700) - 350);
            break;
        }
        }
        double want = strtod(text, NULL);
        int rc = parse(text, strlen(text), &b);
        if (isinf(want)) {
            if (rc != BURROW_EJSON || strcmp(burrow_errmsg(), "1:1: number out of range"))
                fail_msg("%s: rc %d %s, want out of range", text, rc, burrow_errmsg());
            continue;
        }
        if (rc)
            fail_msg("%s: rc %d %s", text, rc, burrow_errmsg());
        double got;
        doc_val v = root_of(&b);
        assert_int_equal(doc_type(v), DOC_DOUBLE);
        assert_int_equal(doc_get_double(v, &got), 0);
        if (memcmp(&got, &want, 8) != 0)
            fail_msg("round %u: %s: got %.17g, want %.17g", i, text, got, want);
    }
    /* 17 significant digits name every double exactly */
    for (unsigned i = 0; i < rounds / 4; i++) {
        uint64_t bits = tu_rand(&r);
        double d, got;
        memcpy(&d, &bits, 8);
        if (!isfinite(d))
            continue;
        snprintf(text, sizeof text, "%.17g", d);
        if (!strpbrk(text, ".e"))
            strcat(text, ".0");
        assert_int_equal(parse(text, strlen(text), &b), 0);
        assert_int_equal(doc_get_double(root_of(&b), &got), 0);
        if (memcmp(&got, &d, 8) != 0)
            fail_msg("%s: got %.17g", text, got);
    }
    doc_builder_free(&b);
}

static void test_random_ints(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x1e7);
    doc_builder b;
    doc_builder_init(&b);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(20000, 1000000);
    char text[64];
    for (unsigned i = 0; i < rounds; i++) {
        int64_t v = (int64_t)(tu_rand(&r) >> tu_below(&r, 64));
        if (tu_chance(&r, 1, 2))
            v = -v;
        if (tu_chance(&r, 1, 50))
            v = tu_chance(&r, 1, 2) ? INT64_MIN : INT64_MAX;
        snprintf(text, sizeof text, "%lld", (long long)v);
        expect_int(&b, text, v);
    }
    doc_builder_free(&b);
}

/* The process locale must not change what '.' means (strtod_l in "C").
 * Needs a locale with a decimal comma; skipped where none is installed. */
static void test_locale_independent(void **state)
{
    (void)state;
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "fr_FR.utf8", "ru_RU.UTF-8",
                           "nl_NL.UTF-8"};
    const char *set = NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names && !set; i++)
        set = setlocale(LC_NUMERIC, names[i]);
    if (!set)
        skip();
    doc_builder b;
    doc_builder_init(&b);
    const char *texts[] = {"2.2250738585072011e-308", "0.1", "1.7976931348623157e308",
                           "123456789012345678901234.5"};
    double want[] = {2.2250738585072011e-308, 0.1, 1.7976931348623157e308,
                     123456789012345678901234.5};
    for (size_t i = 0; i < 4; i++) {
        double got;
        assert_int_equal(parse(texts[i], strlen(texts[i]), &b), 0);
        assert_int_equal(doc_get_double(root_of(&b), &got), 0);
        assert_true(memcmp(&got, &want[i], 8) == 0);
    }
    setlocale(LC_NUMERIC, "C");
    doc_builder_free(&b);
}

/* Threads racing to the first slow-path double share one "C" locale. */
static void *parse_slow_doubles(void *arg)
{
    (void)arg;
    doc_builder b;
    doc_builder_init(&b);
    const char *t = "[2.2250738585072011e-308,1e300,123456789012345678901234.5]";
    long bad = 0;
    for (int i = 0; i < 200; i++)
        bad += json_parse(t, strlen(t), NULL, &b) != 0;
    doc_builder_free(&b);
    return (void *)bad;
}

static void test_threads(void **state)
{
    (void)state;
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, parse_slow_doubles, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *bad;
        assert_int_equal(pthread_join(th[i], &bad), 0);
        assert_null(bad);
    }
}

/* ---- limits -------------------------------------------------------------- */

static char *nested(int depth, const char *open, const char *inner, const char *close, size_t *len)
{
    size_t no = strlen(open), ni = strlen(inner), nc = strlen(close);
    *len = (size_t)depth * (no + nc) + ni;
    char *s = malloc(*len + 1), *p = s;
    for (int i = 0; i < depth; i++, p += no)
        memcpy(p, open, no);
    memcpy(p, inner, ni);
    p += ni;
    for (int i = 0; i < depth; i++, p += nc)
        memcpy(p, close, nc);
    *p = '\0';
    return s;
}

static void test_depth(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    size_t len;
    char msg[64];
    /* DOC_MAX_DEPTH containers is the most, by default */
    char *s = nested(DOC_MAX_DEPTH, "[", "1", "]", &len);
    assert_int_equal(parse(s, len, &b), 0);
    free(s);
    s = nested(DOC_MAX_DEPTH + 1, "[", "1", "]", &len);
    assert_int_equal(parse(s, len, &b), BURROW_EJSON);
    snprintf(msg, sizeof msg, "1:%d: nesting too deep", DOC_MAX_DEPTH + 1);
    assert_string_equal(burrow_errmsg(), msg);
    free(s);
    /* objects and arrays count alike */
    int levels = DOC_MAX_DEPTH / 2 - 1;
    s = nested(levels, "{\"a\":[", "{\"b\":{}}", "]}", &len);
    assert_int_equal(parse(s, len, &b), 0);
    free(s);
    s = nested(levels, "{\"a\":[", "{\"b\":{\"c\":[]}}", "]}", &len);
    assert_int_equal(parse(s, len, &b), BURROW_EJSON);
    snprintf(msg, sizeof msg, "1:%d: nesting too deep", levels * 6 + 11);
    assert_string_equal(burrow_errmsg(), msg);
    free(s);
    /* far deeper than the limit fails cleanly, without recursion */
    s = nested(100000, "[", "", "]", &len);
    assert_int_equal(parse(s, len, &b), BURROW_EJSON);
    free(s);

    /* the option lowers the limit (and cannot raise it) */
    json_parse_options opt = {.max_depth = 2};
    assert_int_equal(parse_opt("[[1],[2]]", 9, &opt, &b), 0);
    assert_int_equal(parse_opt("[[[1]]]", 7, &opt, &b), BURROW_EJSON);
    assert_string_equal(burrow_errmsg(), "1:3: nesting too deep");
    assert_int_equal(parse_opt("{\"a\":{\"b\":{}}}", 14, &opt, &b), BURROW_EJSON);
    assert_string_equal(burrow_errmsg(), "1:11: nesting too deep");
    opt.max_depth = 1;
    assert_int_equal(parse_opt("[1,2,3]", 7, &opt, &b), 0);
    assert_int_equal(parse_opt("7", 1, &opt, &b), 0);
    assert_int_equal(parse_opt("[{}]", 4, &opt, &b), BURROW_EJSON);
    assert_string_equal(burrow_errmsg(), "1:2: nesting too deep");
    opt.max_depth = DOC_MAX_DEPTH * 4;
    s = nested(DOC_MAX_DEPTH + 1, "[", "", "]", &len);
    assert_int_equal(parse_opt(s, len, &opt, &b), BURROW_EJSON);
    free(s);
    /* so does the builder's own limit */
    b.max_depth = 3;
    assert_int_equal(parse("[[[]]]", 6, &b), 0);
    assert_int_equal(parse("[[[[]]]]", 8, &b), BURROW_EJSON);
    assert_string_equal(burrow_errmsg(), "1:4: nesting too deep");
    doc_builder_free(&b);
}

static void test_size_limit(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    json_parse_options opt = {.max_size = 5};
    assert_int_equal(parse_opt("[1,2]", 5, &opt, &b), 0);
    assert_int_equal(parse_opt("[1, 2]", 6, &opt, &b), BURROW_EJSON);
    assert_string_equal(burrow_errmsg(), "1:6: document too large");
    assert_int_equal(parse_opt("[1,\n\n2, 3]", 10, &opt, &b), BURROW_EJSON);
    assert_string_equal(burrow_errmsg(), "3:1: document too large");
    /* the binary output outgrowing the builder's limit is also too large */
    b.max_size = 64;
    char text[200];
    memset(text, 'x', sizeof text);
    text[0] = '"';
    text[sizeof text - 1] = '"';
    assert_int_equal(parse(text, sizeof text, &b), BURROW_EJSON);
    assert_non_null(strstr(burrow_errmsg(), ": document too large"));
    assert_int_equal(parse("[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25]",
                           68, &b),
                     BURROW_EJSON);
    assert_non_null(strstr(burrow_errmsg(), ": document too large"));
    assert_int_equal(parse("[1,2,3]", 7, &b), 0);
    doc_builder_free(&b);
}

/* ---- duplicate keys in big objects ------------------------------------------ */

static void test_duplicate_keys(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    buf t = {0};
    /* big objects (sorted table) and small ones (pairwise), at every place */
    int sizes[] = {2, 15, 16, 17, 40, 3000};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        int n = sizes[si];
        for (int dup_at = 1; dup_at < n; dup_at += (n > 50 ? 997 : 1)) {
            t.size = 0;
            put(&t, "{\"x\":");
            size_t want_col = 0;
            put(&t, "{");
            for (int i = 0; i < n; i++) {
                if (i)
                    put(&t, ",");
                if (i == dup_at)
                    want_col = t.size + 1;
                putf(&t, "\"k%d\":[%d]", i == dup_at ? dup_at / 2 : i, i);
            }
            put(&t, "}}");
            assert_int_equal(parse((char *)t.data, t.size, &b), BURROW_EJSON);
            char msg[64];
            snprintf(msg, sizeof msg, "1:%zu: duplicate key \"k%d\"", want_col, dup_at / 2);
            assert_string_equal(burrow_errmsg(), msg);
        }
    }
    /* the earliest repeat in the text is the one reported */
    assert_int_equal(parse("{\"b\":1,\"a\":2,\"a\":3,\"b\":4}", 25, &b), BURROW_EJSON);
    assert_string_equal(burrow_errmsg(), "1:14: duplicate key \"a\"");
    /* long keys are shortened in the message, never cut inside a UTF-8 character */
    t.size = 0;
    put(&t, "{\"");
    for (int i = 0; i < 100; i++)
        put(&t, "\xC3\xA9");
    put(&t, "\":1,\"");
    size_t at = t.size;
    for (int i = 0; i < 100; i++)
        put(&t, "\xC3\xA9");
    put(&t, "\":2}");
    assert_int_equal(parse((char *)t.data, t.size, &b), BURROW_EJSON);
    const char *m = burrow_errmsg();
    char prefix[32];
    snprintf(prefix, sizeof prefix, "1:%zu: duplicate key \"", at);
    assert_memory_equal(m, prefix, strlen(prefix));
    size_t ml = strlen(m);
    assert_true(ml < 120);
    assert_string_equal(m + ml - 4, "...\"");
    assert_int_equal((ml - strlen(prefix) - 4) % 2, 0); /* whole two-byte characters */
    buf_free(&t);
    doc_builder_free(&b);
}

/* ---- the same bytes as the builder ----------------------------------------- */

/* A document with every tag, wide offset tables and a sorted key table,
 * built by hand through the builder, must equal the parse byte for byte. */
static void test_same_bytes_as_builder(void **state)
{
    (void)state;
    doc_builder want, got;
    doc_builder_init(&want);
    doc_builder_init(&got);
    buf t = {0};
    assert_int_equal(doc_builder_begin(&want), 0);
    put(&t, "{");
    doc_builder_begin_object(&want);
    doc_builder_key(&want, "scalars", 7);
    put(&t, "\"scalars\":[null,true,false,-5,300,-70000,5000000000,2.5,\"s\\u00e9\"]");
    doc_builder_begin_array(&want);
    doc_builder_null(&want);
    doc_builder_bool(&want, true);
    doc_builder_bool(&want, false);
    doc_builder_int(&want, -5);
    doc_builder_int(&want, 300);
    doc_builder_int(&want, -70000);
    doc_builder_int(&want, 5000000000LL);
    doc_builder_double(&want, 2.5);
    doc_builder_string(&want, "s\xC3\xA9", 3);
    doc_builder_end(&want);
    /* 40 keys: a sorted table; their insertion order is not sorted */
    doc_builder_key(&want, "many", 4);
    put(&t, ",\"many\":{");
    doc_builder_begin_object(&want);
    for (int i = 0; i < 40; i++) {
        char k[8];
        int kl = snprintf(k, sizeof k, "%c%d", 'z' - i % 26, i);
        doc_builder_key(&want, k, (size_t)kl);
        doc_builder_int(&want, i);
        putf(&t, "%s\"%s\":%d", i ? "," : "", k, i);
    }
    doc_builder_end(&want);
    put(&t, "}");
    /* a 70,000-byte array body: 4-byte offsets; a 400-byte one: 2-byte */
    size_t sizes[] = {400, 70000};
    for (int s = 0; s < 2; s++) {
        doc_builder_key(&want, s ? "wide" : "mid", s ? 4 : 3);
        putf(&t, ",\"%s\":[", s ? "wide" : "mid");
        doc_builder_begin_array(&want);
        for (size_t i = 0; i * 12 < sizes[s]; i++) {
            doc_builder_string(&want, "0123456789", 10);
            put(&t, i ? ",\"0123456789\"" : "\"0123456789\"");
        }
        doc_builder_end(&want);
        put(&t, "]");
    }
    doc_builder_key(&want, "", 0);
    doc_builder_begin_array(&want);
    doc_builder_end(&want);
    put(&t, ",\"\":[]}");
    doc_builder_end(&want);

    const uint8_t *wd, *gd;
    size_t wn, gn;
    assert_int_equal(doc_builder_finish(&want, &wd, &wn), 0);
    assert_int_equal(parse((char *)t.data, t.size, &got), 0);
    assert_int_equal(doc_builder_finish(&got, &gd, &gn), 0);
    assert_int_equal(gn, wn);
    assert_memory_equal(gd, wd, wn);
    buf_free(&t);
    doc_builder_free(&want);
    doc_builder_free(&got);
}

/*
 * Random documents, built through the builder while their JSON text is
 * written alongside in a random but valid spelling: whitespace anywhere it
 * may go, characters escaped or not (\u with hex digits in either case, surrogate
 * pairs, \/), doubles with 17 digits and e or E. Parsing the text must give
 * the builder's bytes.
 */
typedef struct gen {
    tu_rng *r;
    doc_builder *b;
    buf *t;
    int budget; /* values left to make */
} gen;

static void gen_ws(gen *g)
{
    static const char ws[] = " \t\n\r";
    if (tu_chance(g->r, 1, 3))
        for (int n = (int)tu_range(g->r, 1, 4); n > 0; n--)
            buf_putc(g->t, (uint8_t)ws[tu_below(g->r, 4)]);
}

static const uint32_t interesting_cps[] = {
    0x00, 0x01, 0x08, 0x09, 0x0A, 0x0C, 0x0D, 0x1F, '"', '\\', '/', 0x7F, 0x80, 0xE9, 0x7FF,
    0x800, 0x4E2D, 0xD7FF, 0xE000, 0xFEFF, 0xFFFD, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF,
};

static size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* A random string: decoded bytes into s (at most cap), JSON text to g->t. */
static size_t gen_string(gen *g, uint8_t *s, size_t cap, int alphabet)
{
    size_t n = 0, len = tu_chance(g->r, 1, 8) ? tu_range(g->r, 20, 200) : tu_below(g->r, 12);
    buf_putc(g->t, '"');
    for (size_t i = 0; i < len && n + 4 <= cap; i++) {
        uint32_t cp;
        if (alphabet) /* keys: few letters, so repeats are likely */
            cp = (uint32_t)('a' + tu_below(g->r, (uint64_t)alphabet));
        else if (tu_chance(g->r, 3, 4))
            cp = (uint32_t)tu_range(g->r, 0x20, 0x7E);
        else if (tu_chance(g->r, 1, 2))
            cp = interesting_cps[tu_below(g->r, sizeof interesting_cps / sizeof *interesting_cps)];
        else
            do
                cp = (uint32_t)tu_below(g->r, 0x110000);
            while (cp >= 0xD800 && cp <= 0xDFFF);
        n += put_utf8(s + n, cp);
        /* its spelling in the text: raw, a short escape or \\u */
        bool must = cp < 0x20 || cp == '"' || cp == '\\';
        int how = (int)tu_below(g->r, 4);
        if (!must && how < 2) {
            uint8_t u[4];
            buf_append(g->t, u, put_utf8(u, cp));
        } else if (cp < 0x80 && how < 3 && (cp == '"' || cp == '\\' || cp == '/' || cp == '\b' ||
                                            cp == '\f' || cp == '\n' || cp == '\r' || cp == '\t')) {
            char e = cp == '\b' ? 'b' : cp == '\f' ? 'f' : cp == '\n' ? 'n' : cp == '\r' ? 'r'
                   : cp == '\t' ? 't' : (char)cp;
            putf(g->t, "\\%c", e);
        } else if (cp < 0x10000) {
            putf(g->t, tu_chance(g->r, 1, 2) ? "\\u%04x" : "\\u%04X", cp);
        } else {
            uint32_t v = cp - 0x10000;
            putf(g->t, tu_chance(g->r, 1, 2) ? "\\u%04x\\u%04x" : "\\u%04X\\u%04X",
                 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
        }
    }
    buf_putc(g->t, '"');
    return n;
}

static void gen_value(gen *g, int depth)
{
    tu_rng *r = g->r;
    g->budget--;
    int kind = (int)tu_below(r, depth < 6 && g->budget > 0 ? 10 : 7);
    uint8_t s[1024];
    gen_ws(g);
    switch (kind) {
    case 0:
        doc_builder_null(g->b);
        put(g->t, "null");
        break;
    case 1: {
        bool v = tu_chance(r, 1, 2);
        doc_builder_bool(g->b, v);
        put(g->t, v ? "true" : "false");
        break;
    }
    case 2:
    case 3: {
        int64_t v = (int64_t)(tu_rand(r) >> tu_below(r, 64));
        if (tu_chance(r, 1, 2))
            v = -v;
        if (tu_chance(r, 1, 30))
            v = tu_chance(r, 1, 2) ? INT64_MIN : INT64_MAX;
        doc_builder_int(g->b, v);
        putf(g->t, "%lld", (long long)v);
        break;
    }
    case 4: {
        double d;
        if (tu_chance(r, 1, 2)) {
            uint64_t bits;
            do {
                bits = tu_rand(r);
                memcpy(&d, &bits, 8);
            } while (!isfinite(d));
        } else {
            d = (double)((int64_t)tu_below(r, 2000001) - 1000000) / 1000;
        }
        doc_builder_double(g->b, d);
        put_double(g->t, d, tu_chance(r, 1, 2));
        break;
    }
    case 5:
    case 6: {
        size_t n = gen_string(g, s, sizeof s, 0);
        doc_builder_string(g->b, (char *)s, n);
        break;
    }
    case 7:
    case 8: {
        doc_builder_begin_array(g->b);
        put(g->t, "[");
        int n = tu_chance(r, 1, 5) ? 0 : (int)tu_range(r, 1, tu_chance(r, 1, 10) ? 300 : 8);
        for (int i = 0; i < n; i++) {
            if (i) {
                gen_ws(g);
                put(g->t, ",");
            }
            gen_value(g, depth + 1);
        }
        gen_ws(g);
        put(g->t, "]");
        doc_builder_end(g->b);
        break;
    }
    default: {
        doc_builder_begin_object(g->b);
        put(g->t, "{");
        int n = tu_chance(r, 1, 5) ? 0 : (int)tu_range(r, 1, tu_chance(r, 1, 5) ? 40 : 8);
        /* keys must be unique: spelled text is kept and retried on a repeat */
        uint8_t keys[40][64];
        size_t klen[40];
        for (int i = 0; i < n; i++) {
            if (i) {
                gen_ws(g);
                put(g->t, ",");
            }
            gen_ws(g);
            size_t mark = g->t->size;
            for (;;) {
                g->t->size = mark;
                klen[i] = gen_string(g, keys[i], sizeof keys[i], 8);
                int j = 0;
                while (j < i && !(klen[j] == klen[i] && !memcmp(keys[j], keys[i], klen[i])))
                    j++;
                if (j == i)
                    break;
            }
            doc_builder_key(g->b, (char *)keys[i], klen[i]);
            gen_ws(g);
            put(g->t, ":");
            gen_value(g, depth + 1);
        }
        gen_ws(g);
        put(g->t, "}");
        doc_builder_end(g->b);
        break;
    }
    }
    gen_ws(g);
}

static bool known_reason(const char *msg)
{
    static const char *reasons[] = {
        "unexpected character '", "unexpected byte 0x", "unexpected end of input",
        "unterminated string", "invalid escape", "invalid \\u escape", "lone surrogate",
        "invalid UTF-8", "control character in string", "trailing comma",
        "missing comma or ']'", "missing comma or '}'", "expected ':'", "expected string key",
        "duplicate key \"", "invalid number", "number out of range", "nesting too deep",
        "document too large", "trailing characters after the value",
    };
    unsigned line, col;
    int off = 0;
    if (sscanf(msg, "%u:%u: %n", &line, &col, &off) != 2 || off == 0 || line == 0 || col == 0)
        return false;
    for (size_t i = 0; i < sizeof reasons / sizeof *reasons; i++)
        if (strncmp(msg + off, reasons[i], strlen(reasons[i])) == 0)
            return true;
    return false;
}

static void test_random_documents(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0xd0c);
    doc_builder want, got;
    doc_builder_init(&want);
    doc_builder_init(&got);
    buf t = {0}, w = {0}, again = {0};
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(400, 20000);
    for (unsigned round = 0; round < rounds; round++) {
        t.size = 0;
        gen g = {&r, &want, &t, (int)tu_range(&r, 1, 400)};
        assert_int_equal(doc_builder_begin(&want), 0);
        gen_value(&g, 0);
        const uint8_t *wd, *gd;
        size_t wn, gn;
        int rc = doc_builder_finish(&want, &wd, &wn);
        if (rc)
            fail_msg("round %u: builder: %d %s", round, rc, burrow_errmsg());
        rc = parse((char *)t.data, t.size, &got);
        if (rc)
            fail_msg("round %u: %d %s in %.*s", round, rc, burrow_errmsg(),
                     (int)(t.size < 2000 ? t.size : 2000), (char *)t.data);
        assert_int_equal(doc_builder_finish(&got, &gd, &gn), 0);
        if (gn != wn || memcmp(gd, wd, wn) != 0)
            fail_msg("round %u: bytes differ for %.*s", round, (int)(t.size < 2000 ? t.size : 2000),
                     (char *)t.data);

        /* the tiny writer's compact text parses to the same bytes again */
        render(&got, &w);
        assert_int_equal(parse((char *)w.data, w.size - 1, &got), 0);
        assert_int_equal(doc_builder_finish(&got, &gd, &gn), 0);
        assert_true(gn == wn && memcmp(gd, wd, wn) == 0);
        /* and so does json_write's, compact and pretty */
        for (unsigned flags = 0; flags <= JSON_PRETTY; flags += JSON_PRETTY) {
            doc_val v;
            assert_int_equal(doc_root(wd, wn, &v), 0);
            w.size = 0;
            assert_int_equal(json_write(v, flags, NULL, &w), 0);
            rc = parse((char *)w.data, w.size, &got);
            if (rc)
                fail_msg("round %u: json_write%s text: %s", round, flags ? " pretty" : "",
                         burrow_errmsg());
            assert_int_equal(doc_builder_finish(&got, &gd, &gn), 0);
            if (gn != wn || memcmp(gd, wd, wn) != 0)
                fail_msg("round %u: json_write%s text parses to other bytes: %.*s", round,
                         flags ? " pretty" : "", (int)(w.size < 2000 ? w.size : 2000),
                         (char *)w.data);
        }

        /* a text cut short is an error (no read past the cut), unless what
         * is left is the whole value and some of the whitespace after it */
        if (t.size < 3000 && round % 4 == 0) {
            size_t vend = t.size;
            while (vend > 0 && strchr(" \t\n\r", t.data[vend - 1]))
                vend--;
            bool number = strchr("-0123456789", t.data[vend - 1]) != NULL;
            for (size_t cut = 0; cut < t.size; cut++) {
                rc = parse((char *)t.data, cut, &got);
                if (cut >= vend)
                    assert_int_equal(rc, 0);
                else if (!(number && rc == 0))
                    if (rc != BURROW_EJSON || !known_reason(burrow_errmsg()))
                        fail_msg("round %u cut %zu: %d %s", round, cut, rc, burrow_errmsg());
            }
        }
        /* damaged texts: an error with a documented reason, or a valid document */
        for (int k = 0; k < 8 && t.size > 0; k++) {
            again.size = 0;
            buf_append(&again, t.data, t.size);
            for (int flips = (int)tu_range(&r, 1, 3); flips > 0; flips--) {
                size_t at = tu_below(&r, again.size);
                static const char nasty[] = "\"\\{}[],:0-.eE+ \xFF\xC3\x80\xED";
                again.data[at] = tu_chance(&r, 1, 2)
                                     ? (uint8_t)nasty[tu_below(&r, sizeof nasty - 1)]
                                     : (uint8_t)tu_rand(&r);
            }
            rc = parse((char *)again.data, again.size, &got);
            if (rc == 0) {
                assert_int_equal(doc_builder_finish(&got, &gd, &gn), 0);
                assert_int_equal(doc_validate(gd, gn), 0);
            } else if (rc != BURROW_EJSON || !known_reason(burrow_errmsg())) {
                fail_msg("round %u damaged: %d %s", round, rc, burrow_errmsg());
            }
        }
    }
    buf_free(&t);
    buf_free(&w);
    buf_free(&again);
    doc_builder_free(&want);
    doc_builder_free(&got);
}

/* A builder is reusable after any failure; a failed parse leaves nothing. */
static void test_builder_reuse(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    const uint8_t *d;
    size_t n;
    assert_int_equal(parse("[1,{\"a\":1,\"a\":2}]", 17, &b), BURROW_EJSON);
    assert_int_not_equal(doc_builder_finish(&b, &d, &n), 0);
    assert_int_equal(parse("[1,[2", 5, &b), BURROW_EJSON);
    assert_int_not_equal(doc_builder_finish(&b, &d, &n), 0);
    assert_int_equal(parse("{\"a\":[1,2]}", 11, &b), 0);
    buf out = {0};
    render(&b, &out);
    assert_string_equal((char *)out.data, "{\"a\":[1,2]}");
    buf_free(&out);
    doc_builder_free(&b);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_table),
        cmocka_unit_test(test_invalid_table),
        cmocka_unit_test(test_string_scan_positions),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_hard_doubles),
        cmocka_unit_test(test_random_doubles),
        cmocka_unit_test(test_random_ints),
        cmocka_unit_test(test_locale_independent),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_same_bytes_as_builder),
        cmocka_unit_test(test_random_documents),
        cmocka_unit_test(test_builder_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
