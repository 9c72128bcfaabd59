/*
 * test_filter.c — MongoDB-style filters (doc/filter.c): a table of
 * (document, filter, expected) cases for every operator and rule in
 * filter.h, conditions on values ($pull's), the compiled tree the planner
 * reads, exact compile-error messages, the canonical format, damaged
 * documents, and a randomised differential test against a reference
 * evaluator written here over a tiny value tree of its own.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "burrow.h"
#include "doc/doc.h"
#include "doc/filter.h"
#include "testutil.h"

/* ---- helpers -------------------------------------------------------------- */

/* Parse JSON text into a malloc'd binary document; *len gets its size. */
static uint8_t *parse_doc(const char *json, size_t *len)
{
    doc_builder b;
    doc_builder_init(&b);
    int rc = json_parse(json, strlen(json), NULL, &b);
    if (rc)
        fail_msg("json_parse(%s): %d %s", json, rc, burrow_errmsg());
    const uint8_t *d;
    assert_int_equal(doc_builder_finish(&b, &d, len), 0);
    uint8_t *copy = malloc(*len);
    memcpy(copy, d, *len);
    doc_builder_free(&b);
    return copy;
}

static doc_filter *compile_ok(const char *json)
{
    doc_filter *f = NULL;
    int rc = doc_filter_compile(json, strlen(json), &f);
    if (rc)
        fail_msg("compile %s: %d %s", json, rc, burrow_errmsg());
    return f;
}

/* The canonical text of f, NUL-terminated, malloc'd. */
static char *format_of(const doc_filter *f)
{
    buf out = {0};
    assert_int_equal(doc_filter_format(f, &out), 0);
    assert_int_equal(buf_putc(&out, 0), 0);
    return (char *)out.data;
}

/* Match through doc_filter_compile, and again through the formatted and
 * recompiled filter (which must give the same answer). */
static int match_json(const char *doc_json, const char *filter_json)
{
    size_t n;
    uint8_t *d = parse_doc(doc_json, &n);
    doc_val root;
    assert_int_equal(doc_root(d, n, &root), 0);
    doc_filter *f = compile_ok(filter_json);
    int r = doc_filter_match(f, root);
    char *text = format_of(f);
    doc_filter *g = compile_ok(text);
    int r2 = doc_filter_match(g, root);
    if (r2 != r)
        fail_msg("%s formatted as %s: %d vs %d on %s", filter_json, text, r, r2, doc_json);
    free(text);
    doc_filter_free(g);
    doc_filter_free(f);
    free(d);
    return r;
}

static void put_text(buf *b, const char *s) { assert_int_equal(buf_append(b, s, strlen(s)), 0); }

/* ---- the table ------------------------------------------------------------ */

typedef struct match_case {
    const char *doc, *filter;
    int expect;
} match_case;

static const match_case cases[] = {
    /* equality, numeric forms, nested paths */
    {"{\"a\":1}", "{\"a\":1}", 1},
    {"{\"a\":1.0}", "{\"a\":1}", 1},
    {"{\"a\":1}", "{\"a\":1.0}", 1},
    {"{\"a\":1}", "{\"a\":{\"$eq\":1}}", 1},
    {"{\"a\":2}", "{\"a\":1}", 0},
    {"{\"a\":\"1\"}", "{\"a\":1}", 0},
    {"{\"a\":true}", "{\"a\":1}", 0},
    {"{}", "{\"a\":1}", 0},
    {"{\"a\":{\"b\":5}}", "{\"a.b\":5}", 1},
    {"{\"a\":{\"b\":5}}", "{\"a.c\":5}", 0},
    {"{\"a\":{\"b\":1,\"c\":2}}", "{\"a\":{\"c\":2,\"b\":1}}", 1},
    {"{\"a\":{\"b\":1,\"c\":2}}", "{\"a\":{\"b\":1}}", 0},
    {"{\"a\":{}}", "{\"a\":{}}", 1},
    {"{\"a\":{\"b\":1}}", "{\"a\":{}}", 0},
    {"{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2}", 1},
    {"{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":3}", 0},
    {"{\"x\":9}", "{}", 1},
    {"[1,2]", "{}", 1},
    {"{\"a\":9007199254740993}", "{\"a\":9007199254740992.0}", 0},
    /* arrays: membership one level deep, whole-array equality */
    {"{\"a\":[1,2,3]}", "{\"a\":2}", 1},
    {"{\"a\":[1,2,3]}", "{\"a\":4}", 0},
    {"{\"a\":[1,2,3]}", "{\"a\":[1,2,3]}", 1},
    {"{\"a\":[1,2,3]}", "{\"a\":[1,2]}", 0},
    {"{\"a\":[1,2,3]}", "{\"a\":[3,2,1]}", 0},
    {"{\"a\":[[1,2],3]}", "{\"a\":[1,2]}", 1},
    {"{\"a\":[[1,2],3]}", "{\"a\":1}", 0},
    {"{\"a\":[]}", "{\"a\":[]}", 1},
    /* paths through arrays */
    {"{\"items\":[{\"price\":1},{\"price\":7}]}", "{\"items.price\":7}", 1},
    {"{\"items\":[{\"price\":1},{\"price\":7}]}", "{\"items.price\":3}", 0},
    {"{\"a\":[{\"b\":[1,2]}]}", "{\"a.b\":2}", 1},
    {"{\"a\":[[{\"b\":1}]]}", "{\"a.b\":1}", 0},
    {"{\"a\":[{\"b\":[{\"c\":1}]}]}", "{\"a.b.c\":1}", 1},
    {"{\"a\":[{\"b\":{\"c\":[3,4]}}]}", "{\"a.b.c\":4}", 1},
    {"{\"a\":[5,6]}", "{\"a.1\":6}", 1},
    {"{\"a\":[5,6]}", "{\"a.1\":5}", 0},
    {"{\"a\":[5,6]}", "{\"a.0\":5}", 1},
    {"{\"a\":[5,6]}", "{\"a.2\":6}", 0},
    {"{\"a\":{\"1\":\"x\"}}", "{\"a.1\":\"x\"}", 1},
    {"{\"a\":[{\"0\":7}]}", "{\"a.0\":7}", 1},
    {"{\"a\":[[7,8]]}", "{\"a.0.1\":8}", 1},
    {"{\"a\":[5,6]}", "{\"a.01\":6}", 0},
    {"{\"a\":{\"01\":3}}", "{\"a.01\":3}", 1},
    {"{\"a\":[{\"01\":3}]}", "{\"a.01\":3}", 1},
    {"{\"a\":5}", "{\"a.b\":5}", 0},
    /* null and missing */
    {"{}", "{\"a\":null}", 1},
    {"{\"a\":null}", "{\"a\":null}", 1},
    {"{\"a\":0}", "{\"a\":null}", 0},
    {"{\"a\":false}", "{\"a\":null}", 0},
    {"{\"a\":4}", "{\"a.b\":null}", 1},
    {"{\"a\":null}", "{\"a.b\":null}", 1},
    {"{\"a\":{}}", "{\"a.b\":null}", 1},
    {"{\"a\":[]}", "{\"a.b\":null}", 0},
    {"{\"a\":[1,2]}", "{\"a.b\":null}", 0},
    {"{\"a\":[[]]}", "{\"a.b\":null}", 0},
    {"{\"a\":[{\"b\":3},{}]}", "{\"a.b\":null}", 1},
    {"{\"a\":[{\"b\":3},{\"b\":4}]}", "{\"a.b\":null}", 0},
    {"{\"a\":[{\"b\":null},{\"b\":4}]}", "{\"a.b\":null}", 1},
    {"{\"a\":[null]}", "{\"a\":null}", 1},
    {"{\"a\":[1,null]}", "{\"a\":null}", 1},
    {"{\"a\":[]}", "{\"a\":null}", 0},
    {"{\"a\":[1]}", "{\"a.5\":null}", 1},
    {"{\"a\":[1]}", "{\"a.0\":null}", 0},
    /* $ne: the exact negation of $eq */
    {"{\"a\":5}", "{\"a\":{\"$ne\":5}}", 0},
    {"{\"a\":6}", "{\"a\":{\"$ne\":5}}", 1},
    {"{}", "{\"a\":{\"$ne\":5}}", 1},
    {"{\"a\":[5,6]}", "{\"a\":{\"$ne\":5}}", 0},
    {"{\"a\":[6,7]}", "{\"a\":{\"$ne\":5}}", 1},
    {"{\"a\":\"5\"}", "{\"a\":{\"$ne\":5}}", 1},
    {"{\"a\":5.0}", "{\"a\":{\"$ne\":5}}", 0},
    {"{}", "{\"a\":{\"$ne\":null}}", 0},
    {"{\"a\":null}", "{\"a\":{\"$ne\":null}}", 0},
    {"{\"a\":1}", "{\"a\":{\"$ne\":null}}", 1},
    {"{\"a\":[1,null]}", "{\"a\":{\"$ne\":null}}", 0},
    {"{\"a\":[]}", "{\"a.b\":{\"$ne\":null}}", 1},
    {"{\"a\":[{\"b\":3},{}]}", "{\"a.b\":{\"$ne\":null}}", 0},
    /* $exists */
    {"{}", "{\"a\":{\"$exists\":true}}", 0},
    {"{\"a\":null}", "{\"a\":{\"$exists\":true}}", 1},
    {"{\"a\":null}", "{\"a\":{\"$exists\":false}}", 0},
    {"{}", "{\"a\":{\"$exists\":false}}", 1},
    {"{\"a\":[]}", "{\"a\":{\"$exists\":true}}", 1},
    {"{\"a\":[]}", "{\"a.b\":{\"$exists\":false}}", 1},
    {"{\"a\":[{\"b\":1},{}]}", "{\"a.b\":{\"$exists\":true}}", 1},
    {"{\"a\":[{\"b\":1},{}]}", "{\"a.b\":{\"$exists\":false}}", 0},
    {"{\"a\":{\"b\":{\"c\":1}}}", "{\"a.b.c\":{\"$exists\":true}}", 1},
    {"{\"a\":{\"b\":1}}", "{\"a.b.c\":{\"$exists\":true}}", 0},
    /* comparisons and type bracketing */
    {"{\"age\":30}", "{\"age\":{\"$gt\":21}}", 1},
    {"{\"age\":\"30\"}", "{\"age\":{\"$gt\":21}}", 0},
    {"{\"age\":21}", "{\"age\":{\"$gt\":21}}", 0},
    {"{\"age\":21}", "{\"age\":{\"$gte\":21}}", 1},
    {"{\"age\":21.0}", "{\"age\":{\"$gte\":21}}", 1},
    {"{\"age\":21.5}", "{\"age\":{\"$gt\":21}}", 1},
    {"{\"age\":20.9}", "{\"age\":{\"$lt\":21}}", 1},
    {"{\"age\":21}", "{\"age\":{\"$lte\":21.0}}", 1},
    {"{\"age\":true}", "{\"age\":{\"$gt\":0}}", 0},
    {"{}", "{\"age\":{\"$lt\":21}}", 0},
    {"{\"n\":9007199254740993}", "{\"n\":{\"$gt\":9007199254740992.0}}", 1},
    {"{\"n\":-1}", "{\"n\":{\"$lt\":-0.5}}", 1},
    {"{\"s\":\"b\"}", "{\"s\":{\"$gt\":\"a\"}}", 1},
    {"{\"s\":\"ab\"}", "{\"s\":{\"$gt\":\"a\"}}", 1},
    {"{\"s\":\"A\"}", "{\"s\":{\"$gt\":\"a\"}}", 0},
    {"{\"s\":1}", "{\"s\":{\"$lt\":\"a\"}}", 0},
    {"{\"s\":[1]}", "{\"s\":{\"$gt\":\"a\"}}", 0},
    {"{\"b\":true}", "{\"b\":{\"$gt\":false}}", 1},
    {"{\"b\":false}", "{\"b\":{\"$gte\":false}}", 1},
    {"{\"b\":1}", "{\"b\":{\"$gt\":false}}", 0},
    {"{\"a\":[1,10]}", "{\"a\":{\"$gt\":5}}", 1},
    {"{\"a\":[1,2]}", "{\"a\":{\"$gt\":5}}", 0},
    {"{\"a\":[1,10]}", "{\"a\":{\"$gt\":5,\"$lt\":3}}", 1},
    {"{\"a\":[[10]]}", "{\"a\":{\"$gt\":5}}", 0},
    {"{\"a\":[2]}", "{\"a\":{\"$gt\":[1]}}", 1},
    {"{\"a\":[1]}", "{\"a\":{\"$gt\":[1]}}", 0},
    {"{\"a\":[1,2]}", "{\"a\":{\"$gt\":[1]}}", 1},
    {"{\"a\":3}", "{\"a\":{\"$gt\":[1]}}", 0},
    {"{\"a\":{\"x\":2}}", "{\"a\":{\"$gt\":{\"x\":1}}}", 1},
    {"{\"a\":{\"x\":2}}", "{\"a\":{\"$lt\":{\"x\":1}}}", 0},
    {"{\"a\":null}", "{\"a\":{\"$lt\":5}}", 0},
    {"{\"a\":null}", "{\"a\":{\"$gt\":null}}", 0},
    {"{\"a\":null}", "{\"a\":{\"$gte\":null}}", 1},
    {"{\"a\":null}", "{\"a\":{\"$lte\":null}}", 1},
    {"{}", "{\"a\":{\"$gte\":null}}", 1},
    {"{}", "{\"a\":{\"$gt\":null}}", 0},
    {"{\"a\":1}", "{\"a\":{\"$gte\":null}}", 0},
    /* $in / $nin */
    {"{\"a\":2}", "{\"a\":{\"$in\":[1,2]}}", 1},
    {"{\"a\":3}", "{\"a\":{\"$in\":[1,2]}}", 0},
    {"{\"a\":2.0}", "{\"a\":{\"$in\":[\"x\",2]}}", 1},
    {"{\"a\":[3,2]}", "{\"a\":{\"$in\":[1,2]}}", 1},
    {"{}", "{\"a\":{\"$in\":[null,1]}}", 1},
    {"{}", "{\"a\":{\"$in\":[1]}}", 0},
    {"{\"a\":[1,2]}", "{\"a\":{\"$in\":[[1,2]]}}", 1},
    {"{\"a\":{\"k\":1}}", "{\"a\":{\"$in\":[{\"k\":1.0}]}}", 1},
    {"{\"a\":1}", "{\"a\":{\"$in\":[]}}", 0},
    {"{\"a\":3}", "{\"a\":{\"$nin\":[1,2]}}", 1},
    {"{\"a\":2}", "{\"a\":{\"$nin\":[1,2]}}", 0},
    {"{}", "{\"a\":{\"$nin\":[1]}}", 1},
    {"{}", "{\"a\":{\"$nin\":[null]}}", 0},
    {"{\"a\":[3,2]}", "{\"a\":{\"$nin\":[2]}}", 0},
    {"{\"a\":1}", "{\"a\":{\"$nin\":[]}}", 1},
    /* $contains */
    {"{\"s\":\"hello\"}", "{\"s\":{\"$contains\":\"ell\"}}", 1},
    {"{\"s\":\"hello\"}", "{\"s\":{\"$contains\":\"xyz\"}}", 0},
    {"{\"s\":\"hello\"}", "{\"s\":{\"$contains\":\"hello!\"}}", 0},
    {"{\"s\":\"\"}", "{\"s\":{\"$contains\":\"\"}}", 1},
    {"{\"t\":[\"a\",\"b\"]}", "{\"t\":{\"$contains\":\"b\"}}", 1},
    {"{\"t\":[\"a\",\"b\"]}", "{\"t\":{\"$contains\":\"x\"}}", 0},
    {"{\"t\":[\"abc\"]}", "{\"t\":{\"$contains\":\"a\"}}", 0},
    {"{\"t\":[\"abc\"]}", "{\"t.0\":{\"$contains\":\"a\"}}", 1},
    {"{\"t\":[1,2]}", "{\"t\":{\"$contains\":2.0}}", 1},
    {"{\"t\":[[1]]}", "{\"t\":{\"$contains\":[1]}}", 1},
    {"{\"s\":5}", "{\"s\":{\"$contains\":5}}", 0},
    {"{\"s\":\"5\"}", "{\"s\":{\"$contains\":5}}", 0},
    {"{\"items\":[{\"n\":\"apple\"},{\"n\":\"kiwi\"}]}", "{\"items.n\":{\"$contains\":\"iw\"}}", 1},
    {"{}", "{\"s\":{\"$contains\":\"\"}}", 0},
    /* $startsWith / $endsWith */
    {"{\"s\":\"hello\"}", "{\"s\":{\"$startsWith\":\"he\"}}", 1},
    {"{\"s\":\"hello\"}", "{\"s\":{\"$startsWith\":\"lo\"}}", 0},
    {"{\"s\":\"hello\"}", "{\"s\":{\"$endsWith\":\"lo\"}}", 1},
    {"{\"s\":\"hello\"}", "{\"s\":{\"$endsWith\":\"he\"}}", 0},
    {"{\"s\":\"he\"}", "{\"s\":{\"$startsWith\":\"hello\"}}", 0},
    {"{\"s\":\"he\"}", "{\"s\":{\"$startsWith\":\"\"}}", 1},
    {"{\"s\":[\"xy\",\"hello\"]}", "{\"s\":{\"$startsWith\":\"he\"}}", 1},
    {"{\"s\":5}", "{\"s\":{\"$startsWith\":\"5\"}}", 0},
    {"{\"s\":\"h\\u00e9llo\"}", "{\"s\":{\"$startsWith\":\"h\\u00e9\"}}", 1},
    /* logical */
    {"{\"a\":1,\"b\":2}", "{\"$and\":[{\"a\":1},{\"b\":2}]}", 1},
    {"{\"a\":1,\"b\":2}", "{\"$and\":[{\"a\":1},{\"b\":3}]}", 0},
    {"{\"a\":1}", "{\"$and\":[{}]}", 1},
    {"{\"a\":1}", "{\"$or\":[{\"a\":2},{\"a\":1}]}", 1},
    {"{\"a\":1}", "{\"$or\":[{\"a\":2},{\"b\":1}]}", 0},
    {"{\"a\":1}", "{\"$or\":[{\"a\":2},{}]}", 1},
    {"{\"a\":1}", "{\"$nor\":[{\"a\":2},{\"b\":1}]}", 1},
    {"{\"a\":1}", "{\"$nor\":[{\"a\":1}]}", 0},
    {"{}", "{\"$nor\":[{\"a\":1}]}", 1},
    {"{\"a\":1}", "{\"$not\":{\"a\":1}}", 0},
    {"{\"a\":1}", "{\"$not\":{\"a\":2}}", 1},
    {"{\"a\":1}", "{\"$not\":{}}", 0},
    {"{\"a\":1,\"b\":2}", "{\"a\":1,\"$or\":[{\"b\":3},{\"b\":2}]}", 1},
    {"{\"a\":6}", "{\"a\":{\"$not\":{\"$gt\":5}}}", 0},
    {"{\"a\":4}", "{\"a\":{\"$not\":{\"$gt\":5}}}", 1},
    {"{}", "{\"a\":{\"$not\":{\"$gt\":5}}}", 1},
    {"{\"a\":\"x\"}", "{\"a\":{\"$not\":{\"$gt\":5}}}", 1},
    {"{\"a\":[1,9]}", "{\"a\":{\"$not\":{\"$gt\":5}}}", 0},
    {"{\"a\":5}", "{\"a\":{\"$not\":{\"$gt\":1,\"$lt\":5}}}", 1},
    {"{\"a\":3}", "{\"a\":{\"$not\":{\"$gt\":1,\"$lt\":5}}}", 0},
    {"{\"a\":3}", "{\"a\":{\"$not\":{\"$not\":{\"$eq\":3}}}}", 1},
    /* $elemMatch */
    {"{\"a\":[1,5,9]}", "{\"a\":{\"$elemMatch\":{\"$gt\":4,\"$lt\":6}}}", 1},
    {"{\"a\":[1,9]}", "{\"a\":{\"$elemMatch\":{\"$gt\":4,\"$lt\":6}}}", 0},
    {"{\"a\":[1,9]}", "{\"a\":{\"$gt\":4,\"$lt\":6}}", 1},
    {"{\"a\":[{\"b\":1,\"c\":2},{\"b\":2,\"c\":1}]}", "{\"a\":{\"$elemMatch\":{\"b\":1,\"c\":1}}}", 0},
    {"{\"a\":[{\"b\":1,\"c\":2},{\"b\":2,\"c\":1}]}", "{\"a\":{\"$elemMatch\":{\"b\":2,\"c\":1}}}", 1},
    {"{\"a\":[{\"b\":1,\"c\":2},{\"b\":2,\"c\":1}]}", "{\"a.b\":1,\"a.c\":1}", 1},
    {"{\"a\":5}", "{\"a\":{\"$elemMatch\":{\"$eq\":5}}}", 0},
    {"{}", "{\"a\":{\"$elemMatch\":{\"$ne\":5}}}", 0},
    {"{\"a\":[[1]]}", "{\"a\":{\"$elemMatch\":{\"$eq\":1}}}", 0},
    {"{\"a\":[[1]]}", "{\"a\":{\"$elemMatch\":{\"$eq\":[1]}}}", 1},
    {"{\"a\":[1,{\"b\":null}]}", "{\"a\":{\"$elemMatch\":{\"b\":null}}}", 1},
    {"{\"a\":[1,{}]}", "{\"a\":{\"$elemMatch\":{\"b\":null}}}", 1},
    {"{\"a\":[1,2]}", "{\"a\":{\"$elemMatch\":{\"b\":null}}}", 0},
    {"{\"a\":[{\"b\":[1,2]}]}", "{\"a\":{\"$elemMatch\":{\"b\":2}}}", 1},
    {"{\"a\":[null]}", "{\"a\":{\"$elemMatch\":{\"$ne\":null}}}", 0},
    {"{\"a\":[null,1]}", "{\"a\":{\"$elemMatch\":{\"$ne\":null}}}", 1},
    {"{\"a\":[{\"b\":1}]}", "{\"a\":{\"$elemMatch\":{\"$or\":[{\"b\":2},{\"b\":1}]}}}", 1},
    {"{\"x\":[{\"a\":[1,2]}]}", "{\"x.a\":{\"$elemMatch\":{\"$gte\":2}}}", 1},
    {"{\"a\":[[1,2],[3]]}", "{\"a\":{\"$elemMatch\":{\"$elemMatch\":{\"$eq\":3}}}}", 1},
    {"{\"a\":[[1,2],[3]]}", "{\"a\":{\"$elemMatch\":{\"$elemMatch\":{\"$eq\":4}}}}", 0},
    {"{\"a\":[1,2]}", "{\"a\":{\"$not\":{\"$elemMatch\":{\"$gt\":5}}}}", 1},
    {"{\"a\":[1,7]}", "{\"a\":{\"$not\":{\"$elemMatch\":{\"$gt\":5}}}}", 0},
    {"{\"a\":[\"ab\",\"cd\"]}", "{\"a\":{\"$elemMatch\":{\"$startsWith\":\"c\",\"$endsWith\":\"d\"}}}", 1},
    {"{\"a\":[\"ab\",\"cd\"]}", "{\"a\":{\"$elemMatch\":{\"$startsWith\":\"a\",\"$endsWith\":\"d\"}}}", 0},
    {"{\"a\":[1]}", "{\"a\":{\"$elemMatch\":{\"$exists\":true}}}", 1},
    {"{\"a\":[]}", "{\"a\":{\"$elemMatch\":{\"$exists\":true}}}", 0},
    {"{\"a\":[1]}", "{\"a\":{\"$elemMatch\":{\"$in\":[3,1]}}}", 1},
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int r = match_json(cases[i].doc, cases[i].filter);
        if (r != cases[i].expect)
            fail_msg("case %zu: %s on %s gave %d, expected %d", i, cases[i].filter, cases[i].doc,
                     r, cases[i].expect);
    }
}

/* ---- conditions on a value ------------------------------------------------ */

typedef struct value_case {
    const char *cond, *value;
    int expect;
} value_case;

static const value_case value_cases[] = {
    {"5", "5", 1},
    {"5", "5.0", 1},
    {"5", "[5]", 0},
    {"5", "6", 0},
    {"[1,2]", "[1,2]", 1},
    {"[1,2]", "1", 0},
    {"null", "null", 1},
    {"{}", "{}", 1},
    {"{}", "{\"a\":1}", 0},
    {"{\"$gte\":6}", "7", 1},
    {"{\"$gte\":6}", "5", 0},
    {"{\"$gte\":6}", "\"7\"", 0},
    {"{\"$gte\":6}", "[7]", 0},
    {"{\"$in\":[1,2]}", "2", 1},
    {"{\"$in\":[1,2]}", "[2]", 0},
    {"{\"$nin\":[1,2]}", "3", 1},
    {"{\"$ne\":1}", "1", 0},
    {"{\"$ne\":1}", "[1]", 1},
    {"{\"$not\":{\"$gt\":5}}", "3", 1},
    {"{\"$not\":{\"$gt\":5}}", "7", 0},
    {"{\"$exists\":true}", "null", 1},
    {"{\"$exists\":false}", "null", 0},
    {"{\"$contains\":\"b\"}", "\"abc\"", 1},
    {"{\"$contains\":\"b\"}", "[\"b\"]", 1},
    {"{\"$elemMatch\":{\"$eq\":1}}", "[2,1]", 1},
    {"{\"$elemMatch\":{\"$eq\":1}}", "1", 0},
    {"{\"$gt\":1,\"$lt\":3}", "2", 1},
    {"{\"$gt\":1,\"$lt\":3}", "3", 0},
    {"{\"price\":{\"$gt\":5}}", "{\"price\":7}", 1},
    {"{\"price\":{\"$gt\":5}}", "{\"price\":3}", 0},
    {"{\"price\":{\"$gt\":5}}", "7", 0},
    {"{\"price\":null}", "{}", 1},
    {"{\"price\":null}", "5", 0},
    {"{\"a\":1,\"b\":2}", "{\"b\":2,\"a\":1,\"c\":3}", 1},
    {"{\"$or\":[{\"a\":1},{\"b\":1}]}", "{\"b\":1}", 1},
    {"{\"$or\":[{\"a\":1},{\"b\":1}]}", "1", 0},
    {"{\"$and\":[{\"$not\":{\"a\":1}}]}", "{\"a\":2}", 1},
    {"{\"$and\":[{\"$not\":{\"a\":1}}]}", "{\"a\":1}", 0},
};

static void test_value_conditions(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof value_cases / sizeof *value_cases; i++) {
        const value_case *c = &value_cases[i];
        size_t cn, vn;
        uint8_t *cd = parse_doc(c->cond, &cn), *vd = parse_doc(c->value, &vn);
        doc_val cv, vv;
        assert_int_equal(doc_root(cd, cn, &cv), 0);
        assert_int_equal(doc_root(vd, vn, &vv), 0);
        doc_filter *f;
        int rc = doc_filter_compile_value(cv, &f);
        if (rc)
            fail_msg("compile_value %s: %s", c->cond, burrow_errmsg());
        /* The filter owns a copy: wipe the source to prove it. */
        memset(cd, 0xEE, cn);
        int r = doc_filter_match_value(f, vv);
        if (r != c->expect)
            fail_msg("value case %zu: %s on %s gave %d, expected %d", i, c->cond, c->value, r,
                     c->expect);
        /* The canonical text compiles (as a condition) to the same answers. */
        char *text = format_of(f);
        size_t tn;
        uint8_t *td = parse_doc(text, &tn);
        doc_val tv;
        assert_int_equal(doc_root(td, tn, &tv), 0);
        doc_filter *g;
        assert_int_equal(doc_filter_compile_value(tv, &g), 0);
        assert_int_equal(doc_filter_is_value_cond(g), doc_filter_is_value_cond(f));
        assert_int_equal(doc_filter_match_value(g, vv), r);
        char *text2 = format_of(g);
        assert_string_equal(text2, text);
        free(text2);
        free(text);
        free(td);
        doc_filter_free(g);
        doc_filter_free(f);
        free(cd);
        free(vd);
    }
    /* Which form a condition took. */
    const char *forms[][2] = {{"5", "1"}, {"{\"$gt\":1}", "1"}, {"{}", "1"},
                              {"{\"a\":1}", "0"}, {"{\"$or\":[{\"a\":1}]}", "0"}};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        size_t n;
        uint8_t *d = parse_doc(forms[i][0], &n);
        doc_val v;
        assert_int_equal(doc_root(d, n, &v), 0);
        doc_filter *f;
        assert_int_equal(doc_filter_compile_value(v, &f), 0);
        assert_int_equal(doc_filter_is_value_cond(f), forms[i][1][0] == '1');
        doc_filter_free(f);
        free(d);
    }
}

/* ---- the compiled tree ---------------------------------------------------- */

static void test_tree(void **state)
{
    (void)state;
    doc_filter *f = compile_ok("{\"age\":{\"$gt\":21,\"$lt\":65},\"name\":\"x\"}");
    const filter_node *r = doc_filter_root(f);
    assert_int_equal(r->op, FILTER_AND);
    assert_int_equal(r->nkids, 3);
    enum filter_op ops[] = {FILTER_GT, FILTER_LT, FILTER_EQ};
    const char *paths[] = {"age", "age", "name"};
    for (int i = 0; i < 3; i++) {
        const filter_node *k = r->kids[i];
        assert_int_equal(k->op, ops[i]);
        assert_int_equal(k->path_len, strlen(paths[i]));
        assert_memory_equal(k->path_text, paths[i], k->path_len);
        assert_int_equal(k->path.nsteps, 1);
        assert_int_equal(k->path.steps[0].kind, DOC_STEP_KEY);
    }
    int64_t x;
    assert_int_equal(doc_get_int(r->kids[0]->operand, &x), 0);
    assert_int_equal(x, 21);
    doc_filter_free(f);

    /* ANDs are flattened, a one-kid $or is its kid, {} is TRUE. */
    f = compile_ok("{\"$and\":[{\"a\":1},{\"$and\":[{\"b\":2},{}]}],\"c\":{\"$gt\":0}}");
    r = doc_filter_root(f);
    assert_int_equal(r->op, FILTER_AND);
    assert_int_equal(r->nkids, 3);
    for (int i = 0; i < 3; i++)
        assert_true(r->kids[i]->op == FILTER_EQ || r->kids[i]->op == FILTER_GT);
    doc_filter_free(f);
    f = compile_ok("{\"$or\":[{\"a\":1}]}");
    assert_int_equal(doc_filter_root(f)->op, FILTER_EQ);
    doc_filter_free(f);
    f = compile_ok("{}");
    assert_int_equal(doc_filter_root(f)->op, FILTER_TRUE);
    doc_filter_free(f);
    f = compile_ok("{\"$or\":[{\"a\":1},{\"b\":1}]}");
    assert_int_equal(doc_filter_root(f)->op, FILTER_OR);
    assert_int_equal(doc_filter_root(f)->nkids, 2);
    doc_filter_free(f);

    /* Dotted paths with digits. */
    f = compile_ok("{\"a.b.0\":1}");
    r = doc_filter_root(f);
    assert_int_equal(r->path.nsteps, 3);
    assert_int_equal(r->path.steps[2].kind, DOC_STEP_DIGITS);
    assert_int_equal(r->path.steps[2].index, 0);
    doc_filter_free(f);

    /* Field-level $not: NOT over leaves carrying the path. */
    f = compile_ok("{\"a\":{\"$not\":{\"$gt\":1,\"$lt\":5}}}");
    r = doc_filter_root(f);
    assert_int_equal(r->op, FILTER_NOT);
    assert_int_equal(r->nkids, 1);
    assert_int_equal(r->kids[0]->op, FILTER_AND);
    assert_int_equal(r->kids[0]->kids[1]->op, FILTER_LT);
    assert_memory_equal(r->kids[0]->kids[1]->path_text, "a", 1);
    doc_filter_free(f);

    /* $elemMatch in both forms. */
    f = compile_ok("{\"x.y\":{\"$elemMatch\":{\"$gt\":1,\"$lt\":5}}}");
    r = doc_filter_root(f);
    assert_int_equal(r->op, FILTER_ELEM_MATCH);
    assert_true(r->elem_value);
    assert_int_equal(r->path.nsteps, 2);
    assert_int_equal(r->kids[0]->op, FILTER_AND);
    assert_int_equal(r->kids[0]->kids[0]->path.nsteps, 0);
    assert_null(r->kids[0]->kids[0]->path_text);
    doc_filter_free(f);
    f = compile_ok("{\"x\":{\"$elemMatch\":{\"b\":1}}}");
    r = doc_filter_root(f);
    assert_false(r->elem_value);
    assert_int_equal(r->kids[0]->op, FILTER_EQ);
    assert_memory_equal(r->kids[0]->path_text, "b", 1);
    doc_filter_free(f);

    /* $in keeps its operand as written and a sorted set. */
    f = compile_ok("{\"t\":{\"$in\":[3,\"a\",null,1.5]}}");
    r = doc_filter_root(f);
    assert_int_equal(r->op, FILTER_IN);
    assert_int_equal(doc_type(r->operand), DOC_ARRAY);
    assert_int_equal(r->in_count, 4);
    assert_true(r->in_has_null);
    for (uint32_t i = 1; i < r->in_count; i++)
        assert_true(doc_compare(r->in_set[i - 1], r->in_set[i]) <= 0);
    assert_int_equal(doc_type(r->in_set[0]), DOC_NULL);
    doc_filter_free(f);

    assert_string_equal(filter_op_name(FILTER_STARTS_WITH), "$startsWith");
    assert_string_equal(filter_op_name(FILTER_NOR), "$nor");
}

/* Nesting as deep as the JSON parser allows compiles and evaluates (the
 * recursion is bounded by the filter, which json_parse bounds). */
static void test_deep_nesting(void **state)
{
    (void)state;
    size_t n;
    uint8_t *d = parse_doc("{\"a\":1}", &n);
    doc_val root;
    assert_int_equal(doc_root(d, n, &root), 0);
    buf t = {0};
    /* 500 field-level $not: an even count is the condition itself. */
    put_text(&t, "{\"a\":");
    for (int i = 0; i < 500; i++)
        put_text(&t, "{\"$not\":");
    put_text(&t, "{\"$eq\":1}");
    for (int i = 0; i < 501; i++)
        put_text(&t, "}");
    assert_int_equal(buf_putc(&t, 0), 0);
    doc_filter *f = compile_ok((char *)t.data);
    assert_int_equal(doc_filter_match(f, root), 1);
    doc_filter_free(f);
    /* 250 nested $and / $nor arrays (two levels of JSON each). */
    const char *ops[] = {"$and", "$nor"};
    for (int k = 0; k < 2; k++) {
        t.size = 0;
        for (int i = 0; i < 250; i++) {
            put_text(&t, "{\"");
            put_text(&t, ops[k]);
            put_text(&t, "\":[");
        }
        put_text(&t, "{\"a\":1}");
        for (int i = 0; i < 250; i++)
            put_text(&t, "]}");
        assert_int_equal(buf_putc(&t, 0), 0);
        f = compile_ok((char *)t.data);
        assert_int_equal(doc_filter_match(f, root), 1); /* an even number of $nor */
        if (k == 0)
            assert_int_equal(doc_filter_root(f)->op, FILTER_EQ); /* flattened away */
        doc_filter_free(f);
    }
    buf_free(&t);
    free(d);
}

/* ---- compile errors ------------------------------------------------------- */

typedef struct error_case {
    const char *filter;
    int rc;
    const char *msg;
} error_case;

static const error_case error_cases[] = {
    {"{\"age\":{\"$foo\":1}}", BURROW_EINVAL, "filter: unknown operator '$foo' at 'age'"},
    {"{\"$foo\":1}", BURROW_EINVAL, "filter: unknown operator '$foo'"},
    {"{\"a\":{\"$and\":[{}]}}", BURROW_EINVAL, "filter: unknown operator '$and' at 'a'"},
    {"{\"tags\":{\"$in\":5}}", BURROW_EINVAL, "filter: $in needs an array at 'tags'"},
    {"{\"tags\":{\"$nin\":{}}}", BURROW_EINVAL, "filter: $nin needs an array at 'tags'"},
    {"{\"$and\":[]}", BURROW_EINVAL, "filter: $and needs a non-empty array of filters"},
    {"{\"$or\":{}}", BURROW_EINVAL, "filter: $or needs a non-empty array of filters"},
    {"{\"$nor\":[1]}", BURROW_EINVAL, "filter: $nor needs a non-empty array of filters"},
    {"{\"a\":{\"$gt\":1,\"b\":2}}", BURROW_EINVAL,
     "filter: cannot mix operators and plain keys at 'a'"},
    {"{\"a\":{\"$exists\":1}}", BURROW_EINVAL, "filter: $exists needs true or false at 'a'"},
    {"{\"a\":{\"$startsWith\":1}}", BURROW_EINVAL, "filter: $startsWith needs a string at 'a'"},
    {"{\"a\":{\"$endsWith\":null}}", BURROW_EINVAL, "filter: $endsWith needs a string at 'a'"},
    {"{\"a\":{\"$not\":5}}", BURROW_EINVAL, "filter: $not needs an operator object at 'a'"},
    {"{\"a\":{\"$not\":{\"b\":1}}}", BURROW_EINVAL, "filter: $not needs an operator object at 'a'"},
    {"{\"a\":{\"$not\":{}}}", BURROW_EINVAL, "filter: $not needs an operator object at 'a'"},
    {"{\"a\":{\"$elemMatch\":5}}", BURROW_EINVAL,
     "filter: $elemMatch needs a non-empty object at 'a'"},
    {"{\"a\":{\"$elemMatch\":{}}}", BURROW_EINVAL,
     "filter: $elemMatch needs a non-empty object at 'a'"},
    {"{\"a\":{\"$elemMatch\":{\"$gt\":1,\"b\":1}}}", BURROW_EINVAL,
     "filter: cannot mix operators and fields in a condition at 'a'"},
    {"{\"a\":{\"$elemMatch\":{\"$in\":1}}}", BURROW_EINVAL, "filter: $in needs an array at 'a'"},
    {"{\"$not\":5}", BURROW_EINVAL, "filter: $not needs a filter object"},
    {"[1]", BURROW_EINVAL, "filter: a filter must be an object"},
    {"{\"$or\":[{\"x\":{\"$gt\":1,\"$in\":3}}]}", BURROW_EINVAL,
     "filter: $in needs an array at 'x'"},
    {"{\"a..b\":1}", BURROW_EINVAL, "path 'a..b': empty step at column 3"},
    {"{\"\":1}", BURROW_EINVAL, "path '': empty step at column 1"},
};

static void test_compile_errors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof error_cases / sizeof *error_cases; i++) {
        const error_case *c = &error_cases[i];
        doc_filter *f = (doc_filter *)0x1;
        int rc = doc_filter_compile(c->filter, strlen(c->filter), &f);
        if (rc != c->rc || strcmp(burrow_errmsg(), c->msg) != 0)
            fail_msg("%s: got %d '%s', expected %d '%s'", c->filter, rc, burrow_errmsg(), c->rc,
                     c->msg);
        assert_ptr_equal(f, (doc_filter *)0x1); /* untouched on failure */
    }
    /* The JSON itself: json_parse's line:column. */
    doc_filter *f;
    assert_int_equal(doc_filter_compile("{\"a\":", 5, &f), BURROW_EJSON);
    assert_true(strncmp(burrow_errmsg(), "1:", 2) == 0);
    assert_int_equal(doc_filter_compile("{\"a\":1,\"a\":2}", 13, &f), BURROW_EJSON);

    /* compile_value: the same checks, without a field to name. */
    size_t n;
    uint8_t *d = parse_doc("{\"$gt\":1,\"b\":1}", &n);
    doc_val v;
    assert_int_equal(doc_root(d, n, &v), 0);
    assert_int_equal(doc_filter_compile_value(v, &f), BURROW_EINVAL);
    assert_string_equal(burrow_errmsg(), "filter: cannot mix operators and fields in a condition");
    free(d);
    d = parse_doc("{\"$in\":{}}", &n);
    assert_int_equal(doc_root(d, n, &v), 0);
    assert_int_equal(doc_filter_compile_value(v, &f), BURROW_EINVAL);
    assert_string_equal(burrow_errmsg(), "filter: $in needs an array");
    free(d);

    /* compile_doc checks what it copies. */
    d = parse_doc("\"xyz\"", &n);
    assert_int_equal(doc_root(d, n, &v), 0);
    d[n - 1] = 0xFF; /* invalid UTF-8 in the string */
    assert_int_equal(doc_filter_compile_doc(v, &f), BURROW_ECORRUPT);
    free(d);
}

/* ---- the canonical format ------------------------------------------------- */

static void test_format(void **state)
{
    (void)state;
    const char *pairs[][2] = {
        {"{}", "{}"},
        {"{\"a\":1}", "{\"a\":{\"$eq\":1}}"},
        {"{\"n\":1.0,\"s\":\"x\\ny\"}", "{\"n\":{\"$eq\":1.0},\"s\":{\"$eq\":\"x\\ny\"}}"},
        {"{\"age\":{\"$gt\":21,\"$lt\":65},\"name\":\"x\"}",
         "{\"age\":{\"$gt\":21,\"$lt\":65},\"name\":{\"$eq\":\"x\"}}"},
        {"{\"a\":{\"$gt\":1},\"b\":2,\"$and\":[{\"a\":{\"$lt\":9}}]}",
         "{\"a\":{\"$gt\":1,\"$lt\":9},\"b\":{\"$eq\":2}}"},
        {"{\"a\":{\"$gt\":1},\"$and\":[{\"a\":{\"$gt\":2}}]}",
         "{\"$and\":[{\"a\":{\"$gt\":1}},{\"a\":{\"$gt\":2}}]}"},
        {"{\"a\":{\"$not\":{\"$gt\":5}}}", "{\"$not\":{\"a\":{\"$gt\":5}}}"},
        {"{\"a\":1,\"$or\":[{\"b\":1},{\"c\":{\"$in\":[2,1]}}]}",
         "{\"$and\":[{\"a\":{\"$eq\":1}},{\"$or\":[{\"b\":{\"$eq\":1}},{\"c\":{\"$in\":[2,1]}}]}]}"},
        {"{\"$nor\":[{\"a\":{\"$exists\":false}}]}", "{\"$nor\":[{\"a\":{\"$exists\":false}}]}"},
        {"{\"a\":{\"$elemMatch\":{\"$gt\":1,\"$not\":{\"$eq\":3}}}}",
         "{\"a\":{\"$elemMatch\":{\"$gt\":1,\"$not\":{\"$eq\":3}}}}"},
        {"{\"a\":{\"$elemMatch\":{\"b\":{\"$not\":{\"$eq\":2}}}}}",
         "{\"a\":{\"$elemMatch\":{\"$and\":[{\"$not\":{\"b\":{\"$eq\":2}}}]}}}"},
        {"{\"a\":{\"$elemMatch\":{\"$and\":[{}]}}}", "{\"a\":{\"$elemMatch\":{\"$and\":[{}]}}}"},
        {"{\"a\\\"b\\u0001\":1}", "{\"a\\\"b\\u0001\":{\"$eq\":1}}"},
        {"{\"s\":{\"$startsWith\":\"p\",\"$endsWith\":\"q\",\"$contains\":[1]}}",
         "{\"s\":{\"$startsWith\":\"p\",\"$endsWith\":\"q\",\"$contains\":[1]}}"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        doc_filter *f = compile_ok(pairs[i][0]);
        char *text = format_of(f);
        if (strcmp(text, pairs[i][1]) != 0)
            fail_msg("%s formatted as %s, expected %s", pairs[i][0], text, pairs[i][1]);
        /* Canonical: formatting the recompiled filter gives the same text. */
        doc_filter *g = compile_ok(text);
        char *text2 = format_of(g);
        assert_string_equal(text2, text);
        free(text2);
        free(text);
        doc_filter_free(g);
        doc_filter_free(f);
    }
    /* format appends. */
    doc_filter *f = compile_ok("{\"a\":1}");
    buf out = {0};
    assert_int_equal(buf_append(&out, "x=", 2), 0);
    assert_int_equal(doc_filter_format(f, &out), 0);
    assert_int_equal(out.size, 2 + strlen("{\"a\":{\"$eq\":1}}"));
    assert_memory_equal(out.data, "x={\"a\":{\"$eq\":1}}", out.size);
    buf_free(&out);
    doc_filter_free(f);
}

/* ---- damaged documents ---------------------------------------------------- */

static void test_damaged_documents(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0xD0C);
    static const char *filters[] = {
        "{\"a.b\":null}",
        "{\"a.b.0\":{\"$gt\":1}}",
        "{\"a\":{\"$in\":[1,\"x\",[1]]},\"s\":{\"$contains\":\"b\"}}",
        "{\"a\":{\"$elemMatch\":{\"b\":{\"$ne\":2}}}}",
        "{\"s\":{\"$startsWith\":\"a\"},\"t\":{\"$contains\":2}}",
        "{\"$or\":[{\"a.c\":{\"$exists\":false}},{\"t.1\":{\"$lte\":\"z\"}}]}",
    };
    enum { NF = sizeof filters / sizeof *filters };
    doc_filter *f[NF];
    for (int i = 0; i < NF; i++)
        f[i] = compile_ok(filters[i]);
    size_t n;
    uint8_t *d = parse_doc("{\"a\":[{\"b\":1,\"c\":[1,2]},{\"b\":[3,{\"d\":null}]},7,[8]],"
                           "\"s\":\"abc\",\"t\":[1,2,\"x\",{\"k\":true}]}",
                           &n);
    uint8_t *copy = malloc(n);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(3000, 100000);
    int corrupt = 0;
    for (unsigned i = 0; i < rounds; i++) {
        memcpy(copy, d, n);
        for (unsigned k = 1 + (unsigned)tu_below(&r, 3); k; k--)
            copy[tu_below(&r, n)] ^= (uint8_t)(1u << tu_below(&r, 8));
        /* An exact-size heap copy, so a read past the end is caught. */
        uint8_t *c = malloc(n);
        memcpy(c, copy, n);
        doc_val root;
        if (doc_root(c, n, &root) == 0) {
            for (int j = 0; j < NF; j++) {
                int rc = doc_filter_match(f[j], root);
                assert_true(rc == 0 || rc == 1 || rc == BURROW_ECORRUPT);
                corrupt += rc == BURROW_ECORRUPT;
            }
        }
        free(c);
    }
    assert_true(corrupt > 0);
    free(copy);
    free(d);
    for (int i = 0; i < NF; i++)
        doc_filter_free(f[i]);
}

/* ---- sharing between threads ---------------------------------------------- */

typedef struct share_arg {
    const doc_filter *f;
    doc_val *roots;
    const int *expect;
    int ndocs;
    int bad;
} share_arg;

static void *share_worker(void *p)
{
    share_arg *a = p;
    for (int round = 0; round < 200; round++)
        for (int i = 0; i < a->ndocs; i++)
            a->bad += doc_filter_match(a->f, a->roots[i]) != a->expect[i];
    return NULL;
}

/* One compiled filter, several threads evaluating at once: the same
 * answers as alone (and nothing for ThreadSanitizer to report). */
static void test_shared_between_threads(void **state)
{
    (void)state;
    static const char *docs[] = {"{\"a\":[{\"b\":1},{\"b\":5}],\"s\":\"xy\"}",
                                 "{\"a\":{\"b\":3},\"s\":\"yx\"}", "{\"s\":[\"x\"]}",
                                 "{\"a\":[]}", "{\"a\":{\"b\":1},\"s\":\"z\"}"};
    enum { ND = 5, NT = 4 };
    doc_filter *f = compile_ok("{\"$or\":[{\"a.b\":{\"$gte\":4}},{\"s\":{\"$startsWith\":\"y\"}},"
                               "{\"a.b\":{\"$exists\":false},\"s\":{\"$in\":[\"x\",null]}}]}");
    uint8_t *bin[ND];
    doc_val roots[ND];
    int expect[ND];
    for (int i = 0; i < ND; i++) {
        size_t n;
        bin[i] = parse_doc(docs[i], &n);
        assert_int_equal(doc_root(bin[i], n, &roots[i]), 0);
        expect[i] = doc_filter_match(f, roots[i]);
    }
    assert_int_equal(expect[0], 1);
    assert_int_equal(expect[1], 1);
    assert_int_equal(expect[2], 1);
    assert_int_equal(expect[3], 1);
    assert_int_equal(expect[4], 0);
    pthread_t th[NT];
    share_arg args[NT];
    for (int t = 0; t < NT; t++) {
        args[t] = (share_arg){f, roots, expect, ND, 0};
        assert_int_equal(pthread_create(&th[t], NULL, share_worker, &args[t]), 0);
    }
    for (int t = 0; t < NT; t++) {
        assert_int_equal(pthread_join(th[t], NULL), 0);
        assert_int_equal(args[t].bad, 0);
    }
    for (int i = 0; i < ND; i++)
        free(bin[i]);
    doc_filter_free(f);
}

/* ---- the reference model ---------------------------------------------------
 *
 * Values and filters as small trees of their own, generated at random,
 * written out as JSON for the code under test and evaluated here by a
 * direct reading of the rules in filter.h: a path is expanded into the full
 * list of its items first, then the predicate is checked on each.
 */

enum { V_NULL, V_FALSE, V_TRUE, V_NUM, V_STR, V_ARR, V_OBJ };

typedef struct tv {
    int t;
    double num;
    bool dbl; /* written as a double (1.0) */
    const char *s;
    int n;
    struct tv *kid[4];
    const char *key[4];
} tv;

static const char *const keys[] = {"a", "b", "c", "0", "1"};
static const char *const strs[] = {"", "a", "ab", "b", "ba", "abc"};
enum { NKEYS = 5, NSTRS = 6 };

enum {
    C_EQ, C_NE, C_GT, C_GTE, C_LT, C_LTE, C_IN, C_NIN, C_EXISTS, C_CONTAINS, C_STARTS, C_ENDS,
    C_NOT, C_ELEM, NCOND
};
static const char *const cond_names[NCOND] = {
    "$eq",  "$ne",      "$gt",       "$gte",        "$lt",       "$lte", "$in",
    "$nin", "$exists",  "$contains", "$startsWith", "$endsWith", "$not", "$elemMatch"};

struct tobj;
typedef struct tcond {
    int op;
    tv *operand;
    struct tcond *sub[2]; /* C_NOT, C_ELEM value form */
    int nsub;
    struct tobj *filter; /* C_ELEM field form */
} tcond;

enum { M_FIELD, M_AND, M_OR, M_NOR, M_NOT };
typedef struct tmember {
    int kind;
    char path[16];
    tv *plain; /* M_FIELD: {"path": plain} */
    tcond *ops[3];
    int nops;
    struct tobj *objs[2];
    int nobjs;
} tmember;

typedef struct tobj {
    tmember *m[3];
    int n;
} tobj;

/* Everything of one round comes from these pools, reset per round. */
typedef struct model {
    tu_rng *r;
    tv vals[8192];
    int nvals;
    tcond conds[2048];
    int nconds;
    tmember members[1024];
    int nmembers;
    tobj objs[1024];
    int nobjs;
} model;

static tv *new_tv(model *m, int t)
{
    assert_true(m->nvals < (int)(sizeof m->vals / sizeof *m->vals));
    tv *v = &m->vals[m->nvals++];
    memset(v, 0, sizeof *v);
    v->t = t;
    return v;
}

static tv *gen_scalar(model *m)
{
    tu_rng *r = m->r;
    switch (tu_below(r, 6)) {
    case 0: return new_tv(m, V_NULL);
    case 1: return new_tv(m, tu_chance(r, 1, 2) ? V_TRUE : V_FALSE);
    case 2:
    case 3: {
        tv *v = new_tv(m, V_NUM);
        static const double dbls[] = {0.5, 1.0, 2.0, 2.5};
        if (tu_chance(r, 1, 3)) {
            v->dbl = true;
            v->num = dbls[tu_below(r, 4)];
        } else {
            v->num = (double)tu_below(r, 5) - 1; /* -1 .. 3 */
        }
        return v;
    }
    default: {
        tv *v = new_tv(m, V_STR);
        v->s = strs[tu_below(r, NSTRS)];
        return v;
    }
    }
}

static tv *gen_value(model *m, int depth);

static tv *gen_object(model *m, int depth, int min)
{
    tv *v = new_tv(m, V_OBJ);
    int order[NKEYS] = {0, 1, 2, 3, 4};
    for (int i = NKEYS - 1; i > 0; i--) {
        int j = (int)tu_below(m->r, (uint64_t)i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    v->n = min + (int)tu_below(m->r, (uint64_t)(4 - min));
    for (int i = 0; i < v->n; i++) {
        v->key[i] = keys[order[i]];
        v->kid[i] = gen_value(m, depth + 1);
    }
    return v;
}

static tv *gen_array(model *m, int depth)
{
    tv *v = new_tv(m, V_ARR);
    v->n = (int)tu_below(m->r, 4);
    for (int i = 0; i < v->n; i++)
        v->kid[i] = gen_value(m, depth + 1);
    return v;
}

static tv *gen_value(model *m, int depth)
{
    uint64_t k = tu_below(m->r, 10);
    if (depth < 3 && k >= 8)
        return gen_object(m, depth, 0);
    if (depth < 3 && k >= 6)
        return gen_array(m, depth);
    return gen_scalar(m);
}

/* ---- writing JSON ---- */

static void put_quoted(buf *b, const char *s)
{
    put_text(b, "\"");
    put_text(b, s);
    put_text(b, "\"");
}

static void write_tv(buf *b, const tv *v)
{
    char num[32];
    switch (v->t) {
    case V_NULL: put_text(b, "null"); break;
    case V_FALSE: put_text(b, "false"); break;
    case V_TRUE: put_text(b, "true"); break;
    case V_NUM:
        snprintf(num, sizeof num, v->dbl ? "%.1f" : "%.0f", v->num);
        put_text(b, num);
        break;
    case V_STR: put_quoted(b, v->s); break;
    case V_ARR:
    case V_OBJ:
        put_text(b, v->t == V_ARR ? "[" : "{");
        for (int i = 0; i < v->n; i++) {
            if (i)
                put_text(b, ",");
            if (v->t == V_OBJ) {
                put_quoted(b, v->key[i]);
                put_text(b, ":");
            }
            write_tv(b, v->kid[i]);
        }
        put_text(b, v->t == V_ARR ? "]" : "}");
        break;
    }
}

static void write_obj(buf *b, const tobj *o);

static void write_cond(buf *b, const tcond *c)
{
    put_quoted(b, cond_names[c->op]);
    put_text(b, ":");
    if (c->op == C_NOT || (c->op == C_ELEM && !c->filter)) {
        put_text(b, "{");
        for (int i = 0; i < c->nsub; i++) {
            if (i)
                put_text(b, ",");
            write_cond(b, c->sub[i]);
        }
        put_text(b, "}");
    } else if (c->op == C_ELEM) {
        write_obj(b, c->filter);
    } else {
        write_tv(b, c->operand);
    }
}

static void write_member(buf *b, const tmember *mb)
{
    static const char *const names[] = {NULL, "$and", "$or", "$nor", "$not"};
    if (mb->kind == M_FIELD) {
        put_quoted(b, mb->path);
        put_text(b, ":");
        if (mb->plain) {
            write_tv(b, mb->plain);
            return;
        }
        put_text(b, "{");
        for (int i = 0; i < mb->nops; i++) {
            if (i)
                put_text(b, ",");
            write_cond(b, mb->ops[i]);
        }
        put_text(b, "}");
        return;
    }
    put_quoted(b, names[mb->kind]);
    put_text(b, ":");
    if (mb->kind == M_NOT) {
        write_obj(b, mb->objs[0]);
        return;
    }
    put_text(b, "[");
    for (int i = 0; i < mb->nobjs; i++) {
        if (i)
            put_text(b, ",");
        write_obj(b, mb->objs[i]);
    }
    put_text(b, "]");
}

static void write_obj(buf *b, const tobj *o)
{
    put_text(b, "{");
    for (int i = 0; i < o->n; i++) {
        if (i)
            put_text(b, ",");
        write_member(b, o->m[i]);
    }
    put_text(b, "}");
}

/* ---- generating filters ---- */

static tobj *gen_filter(model *m, int depth, bool as_cond);

static tcond *new_cond(model *m, int op)
{
    assert_true(m->nconds < (int)(sizeof m->conds / sizeof *m->conds));
    tcond *c = &m->conds[m->nconds++];
    memset(c, 0, sizeof *c);
    c->op = op;
    return c;
}

/* A list of 1..max operators with distinct names. */
static int gen_ops(model *m, int depth, tcond **out, int max)
{
    int n = 1 + (int)tu_below(m->r, (uint64_t)max), got = 0;
    bool used[NCOND] = {false};
    for (int tries = 0; got < n && tries < 10; tries++) {
        int op = (int)tu_below(m->r, depth < 2 ? NCOND : C_NOT);
        if (used[op])
            continue;
        used[op] = true;
        tcond *c = new_cond(m, op);
        tu_rng *r = m->r;
        switch (op) {
        case C_IN:
        case C_NIN: c->operand = gen_array(m, 2); break;
        case C_EXISTS: c->operand = new_tv(m, tu_chance(r, 1, 2) ? V_TRUE : V_FALSE); break;
        case C_STARTS:
        case C_ENDS:
            c->operand = new_tv(m, V_STR);
            c->operand->s = strs[tu_below(r, NSTRS)];
            break;
        case C_NOT: c->nsub = gen_ops(m, depth + 1, c->sub, 2); break;
        case C_ELEM:
            if (tu_chance(r, 1, 2))
                c->nsub = gen_ops(m, depth + 1, c->sub, 2);
            else
                c->filter = gen_filter(m, depth + 1, true);
            break;
        default: c->operand = tu_chance(r, 1, 5) ? gen_value(m, 2) : gen_scalar(m); break;
        }
        out[got++] = c;
    }
    return got;
}

static void gen_path(model *m, char *path)
{
    int steps = 1 + (int)tu_below(m->r, 3);
    path[0] = 0;
    for (int i = 0; i < steps; i++) {
        if (i)
            strcat(path, ".");
        strcat(path, keys[tu_below(m->r, i == 0 ? 3 : NKEYS)]);
    }
}

/* A filter object of 0..3 members with distinct keys. as_cond: it will be
 * $elemMatch's operand, so at least one member and no top-level $not
 * (which would read as an operator). */
static tobj *gen_filter(model *m, int depth, bool as_cond)
{
    assert_true(m->nobjs < (int)(sizeof m->objs / sizeof *m->objs));
    tobj *o = &m->objs[m->nobjs++];
    o->n = 0;
    int want = (as_cond ? 1 : 0) + (int)tu_below(m->r, as_cond ? 2 : 4);
    for (int tries = 0; o->n < want && tries < 10; tries++) {
        assert_true(m->nmembers < (int)(sizeof m->members / sizeof *m->members));
        tmember *mb = &m->members[m->nmembers++]; /* before recursing; wasted on a dup */
        memset(mb, 0, sizeof *mb);
        int k = (int)tu_below(m->r, 10);
        mb->kind = depth >= 2 || k < 6 ? M_FIELD : k - 5; /* M_AND .. M_NOT */
        if (as_cond && mb->kind == M_NOT)
            mb->kind = M_FIELD;
        if (mb->kind == M_FIELD) {
            gen_path(m, mb->path);
            if (tu_chance(m->r, 1, 4))
                mb->plain = tu_chance(m->r, 1, 5) ? gen_value(m, 2) : gen_scalar(m);
            else
                mb->nops = gen_ops(m, depth, mb->ops, 3);
        } else if (mb->kind == M_NOT) {
            mb->objs[0] = gen_filter(m, depth + 1, false);
            mb->nobjs = 1;
        } else {
            mb->nobjs = 1 + (int)tu_below(m->r, 2);
            for (int i = 0; i < mb->nobjs; i++)
                mb->objs[i] = gen_filter(m, depth + 1, false);
        }
        /* Keys are unique within an object. */
        bool dup = false;
        for (int i = 0; i < o->n; i++) {
            const tmember *p = o->m[i];
            dup |= p->kind == mb->kind && (mb->kind != M_FIELD || strcmp(p->path, mb->path) == 0);
        }
        if (!dup)
            o->m[o->n++] = mb;
    }
    return o;
}

/* ---- evaluating ---- */

/* V_* are in doc_compare's class order. */
static int rank(const tv *v) { return v->t; }

static int class_of(const tv *v) { return v->t == V_TRUE ? V_FALSE : v->t; }

static int cmp_tv(const tv *a, const tv *b);

/* Object entries in key order. */
static void sorted_keys(const tv *v, int *idx)
{
    for (int i = 0; i < v->n; i++)
        idx[i] = i;
    for (int i = 1; i < v->n; i++)
        for (int j = i; j > 0 && strcmp(v->key[idx[j - 1]], v->key[idx[j]]) > 0; j--) {
            int t = idx[j];
            idx[j] = idx[j - 1];
            idx[j - 1] = t;
        }
}

static int cmp_tv(const tv *a, const tv *b)
{
    if (rank(a) != rank(b))
        return rank(a) < rank(b) ? -1 : 1;
    switch (a->t) {
    case V_NUM: return a->num < b->num ? -1 : a->num > b->num;
    case V_STR: {
        int c = strcmp(a->s, b->s);
        return c < 0 ? -1 : c > 0;
    }
    case V_ARR:
        for (int i = 0; i < a->n && i < b->n; i++) {
            int c = cmp_tv(a->kid[i], b->kid[i]);
            if (c)
                return c;
        }
        return a->n < b->n ? -1 : a->n > b->n;
    case V_OBJ: {
        int ia[4], ib[4];
        sorted_keys(a, ia);
        sorted_keys(b, ib);
        for (int i = 0; i < a->n && i < b->n; i++) {
            int c = strcmp(a->key[ia[i]], b->key[ib[i]]);
            if (c)
                return c < 0 ? -1 : 1;
            if ((c = cmp_tv(a->kid[ia[i]], b->kid[ib[i]])))
                return c;
        }
        return a->n < b->n ? -1 : a->n > b->n;
    }
    default: return 0;
    }
}

static bool eq_tv(const tv *a, const tv *b) { return cmp_tv(a, b) == 0; }

static const tv *member_of(const tv *o, const char *k)
{
    for (int i = 0; i < o->n; i++)
        if (strcmp(o->key[i], k) == 0)
            return o->kid[i];
    return NULL;
}

/* The items of a path: values, and NULL for MISSING. */
typedef struct items {
    const tv *v[512];
    int n;
} items;

static void add_item(items *it, const tv *v)
{
    assert_true(it->n < 512);
    it->v[it->n++] = v;
}

static void collect(const tv *v, char comps[][4], int ncomps, int i, items *out)
{
    if (i == ncomps) {
        add_item(out, v);
        return;
    }
    const char *c = comps[i];
    bool digits = c[0] >= '0' && c[0] <= '9';
    if (v->t == V_OBJ) {
        const tv *m = member_of(v, c);
        if (m)
            collect(m, comps, ncomps, i + 1, out);
        else
            add_item(out, NULL);
        return;
    }
    if (v->t != V_ARR) {
        add_item(out, NULL);
        return;
    }
    if (digits) {
        int idx = atoi(c);
        if (idx < v->n)
            collect(v->kid[idx], comps, ncomps, i + 1, out);
        else
            add_item(out, NULL);
    }
    for (int k = 0; k < v->n; k++) {
        const tv *e = v->kid[k];
        if (e->t != V_OBJ)
            continue;
        const tv *m = member_of(e, c);
        if (m)
            collect(m, comps, ncomps, i + 1, out);
        else if (!digits)
            add_item(out, NULL);
    }
}

static void path_items(const tv *doc, const char *path, items *out)
{
    char comps[8][4];
    int n = 0;
    const char *p = path;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        memcpy(comps[n], p, len);
        comps[n++][len] = 0;
        if (!dot)
            break;
        p = dot + 1;
    }
    out->n = 0;
    collect(doc, comps, n, 0, out);
}

static bool ref_obj(const tobj *o, const tv *doc);
static bool ref_value_conds(tcond *const *c, int n, const tv *v);

/* The positive form of c on v itself. */
static bool pos_single(const tcond *c, const tv *v)
{
    switch (c->op) {
    case C_EQ:
    case C_NE: return eq_tv(v, c->operand);
    case C_IN:
    case C_NIN:
        for (int i = 0; i < c->operand->n; i++)
            if (eq_tv(v, c->operand->kid[i]))
                return true;
        return false;
    case C_GT:
    case C_GTE:
    case C_LT:
    case C_LTE: {
        if (class_of(v) != class_of(c->operand))
            return false;
        int k = cmp_tv(v, c->operand);
        return c->op == C_GT ? k > 0 : c->op == C_GTE ? k >= 0 : c->op == C_LT ? k < 0 : k <= 0;
    }
    case C_EXISTS: return true;
    case C_CONTAINS:
        if (v->t == V_STR)
            return c->operand->t == V_STR && strstr(v->s, c->operand->s) != NULL;
        if (v->t == V_ARR)
            for (int i = 0; i < v->n; i++)
                if (eq_tv(v->kid[i], c->operand))
                    return true;
        return false;
    case C_STARTS:
        return v->t == V_STR && strncmp(v->s, c->operand->s, strlen(c->operand->s)) == 0;
    case C_ENDS: {
        if (v->t != V_STR)
            return false;
        size_t a = strlen(v->s), b = strlen(c->operand->s);
        return a >= b && strcmp(v->s + a - b, c->operand->s) == 0;
    }
    case C_ELEM:
        if (v->t != V_ARR)
            return false;
        for (int i = 0; i < v->n; i++) {
            const tv *e = v->kid[i];
            if (c->filter ? e->t == V_OBJ && ref_obj(c->filter, e)
                          : ref_value_conds(c->sub, c->nsub, e))
                return true;
        }
        return false;
    default: fail_msg("pos_single: op %d", c->op); return false;
    }
}

static bool is_negated(const tcond *c)
{
    return c->op == C_NE || c->op == C_NIN || (c->op == C_EXISTS && c->operand->t == V_FALSE);
}

/* A condition on a value itself ($elemMatch's operator form). */
static bool ref_value_cond(const tcond *c, const tv *v)
{
    if (c->op == C_NOT)
        return !ref_value_conds(c->sub, c->nsub, v);
    return pos_single(c, v) != is_negated(c);
}

static bool ref_value_conds(tcond *const *c, int n, const tv *v)
{
    for (int i = 0; i < n; i++)
        if (!ref_value_cond(c[i], v))
            return false;
    return true;
}

static bool uses_element_rule(int op)
{
    return op <= C_NIN || op == C_STARTS || op == C_ENDS;
}

/* Some item satisfies the positive form of c. */
static bool pos_any(const tcond *c, const items *it)
{
    for (int i = 0; i < it->n; i++) {
        const tv *v = it->v[i];
        if (!v) {
            bool null_op = c->operand && c->operand->t == V_NULL;
            if (((c->op == C_EQ || c->op == C_NE || c->op == C_GTE || c->op == C_LTE) && null_op))
                return true;
            if (c->op == C_IN || c->op == C_NIN)
                for (int k = 0; k < c->operand->n; k++)
                    if (c->operand->kid[k]->t == V_NULL)
                        return true;
            continue;
        }
        if (pos_single(c, v))
            return true;
        if (uses_element_rule(c->op) && v->t == V_ARR)
            for (int k = 0; k < v->n; k++)
                if (pos_single(c, v->kid[k]))
                    return true;
    }
    return false;
}

static bool ref_conds_on_items(tcond *const *c, int n, const items *it)
{
    for (int i = 0; i < n; i++) {
        bool r = c[i]->op == C_NOT ? !ref_conds_on_items(c[i]->sub, c[i]->nsub, it)
                                   : pos_any(c[i], it) != is_negated(c[i]);
        if (!r)
            return false;
    }
    return true;
}

static bool ref_member(const tmember *mb, const tv *doc)
{
    switch (mb->kind) {
    case M_FIELD: {
        items *it = malloc(sizeof *it);
        path_items(doc, mb->path, it);
        bool r;
        if (mb->plain) {
            tcond eq = {.op = C_EQ, .operand = mb->plain};
            r = pos_any(&eq, it);
        } else {
            r = ref_conds_on_items(mb->ops, mb->nops, it);
        }
        free(it);
        return r;
    }
    case M_AND:
    case M_OR:
    case M_NOR: {
        int hits = 0;
        for (int i = 0; i < mb->nobjs; i++)
            hits += ref_obj(mb->objs[i], doc);
        return mb->kind == M_AND ? hits == mb->nobjs : mb->kind == M_OR ? hits > 0 : hits == 0;
    }
    default: return !ref_obj(mb->objs[0], doc);
    }
}

static bool ref_obj(const tobj *o, const tv *doc)
{
    for (int i = 0; i < o->n; i++)
        if (!ref_member(o->m[i], doc))
            return false;
    return true;
}

/* ---- the differential test ---- */

static char *text_of_tv(const tv *v)
{
    buf b = {0};
    write_tv(&b, v);
    assert_int_equal(buf_putc(&b, 0), 0);
    return (char *)b.data;
}

static char *text_of_filter(const tobj *o)
{
    buf b = {0};
    write_obj(&b, o);
    assert_int_equal(buf_putc(&b, 0), 0);
    return (char *)b.data;
}

enum { NDOCS = 8, NFILTERS = 8 };

static void test_differential(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(1500, 60000);
    model *m = malloc(sizeof *m);
    unsigned matched = 0, total = 0;
    for (unsigned round = 0; round < rounds; round++) {
        tu_rng r;
        tu_rng_seed(&r, tu_mix(seed + round));
        m->r = &r;
        m->nvals = m->nconds = m->nmembers = m->nobjs = 0;

        tv *docs[NDOCS];
        char *doc_text[NDOCS];
        uint8_t *doc_bin[NDOCS];
        doc_val roots[NDOCS];
        for (int i = 0; i < NDOCS; i++) {
            docs[i] = gen_object(m, 0, 1);
            doc_text[i] = text_of_tv(docs[i]);
            size_t n;
            doc_bin[i] = parse_doc(doc_text[i], &n);
            assert_int_equal(doc_root(doc_bin[i], n, &roots[i]), 0);
        }
        for (int j = 0; j < NFILTERS; j++) {
            tobj *fo = gen_filter(m, 0, false);
            char *ft = text_of_filter(fo);
            doc_filter *f = NULL, *g = NULL;
            int rc = doc_filter_compile(ft, strlen(ft), &f);
            if (rc)
                fail_msg("round %u: compile %s: %s", round, ft, burrow_errmsg());
            char *canon = format_of(f);
            if ((rc = doc_filter_compile(canon, strlen(canon), &g)))
                fail_msg("round %u: recompile %s (of %s): %s", round, canon, ft, burrow_errmsg());
            char *canon2 = format_of(g);
            if (strcmp(canon, canon2) != 0)
                fail_msg("round %u: format not canonical: %s then %s", round, canon, canon2);
            for (int i = 0; i < NDOCS; i++) {
                int want = ref_obj(fo, docs[i]);
                int got = doc_filter_match(f, roots[i]);
                int got2 = doc_filter_match(g, roots[i]);
                if (got != want || got2 != want)
                    fail_msg("round %u (seed %llu): filter %s on %s: reference %d, match %d, "
                             "formatted %s gives %d",
                             round, (unsigned long long)seed, ft, doc_text[i], want, got, canon,
                             got2);
                matched += want;
                total++;
            }
            free(canon2);
            free(canon);
            free(ft);
            doc_filter_free(g);
            doc_filter_free(f);
        }

        /* Conditions on values, as $pull uses them. */
        for (int j = 0; j < 4; j++) {
            tcond *ops[3];
            int nops = 0;
            tobj *fo = NULL;
            tv *plain = NULL;
            buf cb = {0};
            switch (tu_below(&r, 3)) {
            case 0:
                plain = gen_value(m, 1);
                if (plain->t == V_OBJ)
                    plain->n = 0; /* an object with keys would be the field form */
                write_tv(&cb, plain);
                break;
            case 1:
                nops = gen_ops(m, 1, ops, 2);
                put_text(&cb, "{");
                for (int i = 0; i < nops; i++) {
                    if (i)
                        put_text(&cb, ",");
                    write_cond(&cb, ops[i]);
                }
                put_text(&cb, "}");
                break;
            default: fo = gen_filter(m, 1, true); write_obj(&cb, fo);
            }
            assert_int_equal(buf_putc(&cb, 0), 0);
            size_t cn;
            uint8_t *cd = parse_doc((char *)cb.data, &cn);
            doc_val cv;
            assert_int_equal(doc_root(cd, cn, &cv), 0);
            doc_filter *f;
            if (doc_filter_compile_value(cv, &f))
                fail_msg("compile_value %s: %s", (char *)cb.data, burrow_errmsg());
            for (int i = 0; i < 6; i++) {
                tv *v = i < 3 ? gen_value(m, 1) : gen_object(m, 1, 1);
                char *vt = text_of_tv(v);
                size_t vn;
                uint8_t *vd = parse_doc(vt, &vn);
                doc_val vv;
                assert_int_equal(doc_root(vd, vn, &vv), 0);
                int want = plain ? eq_tv(v, plain)
                           : fo  ? v->t == V_OBJ && ref_obj(fo, v)
                                 : ref_value_conds(ops, nops, v);
                int got = doc_filter_match_value(f, vv);
                if (got != want)
                    fail_msg("round %u (seed %llu): condition %s on %s: reference %d, got %d",
                             round, (unsigned long long)seed, (char *)cb.data, vt, want, got);
                free(vd);
                free(vt);
            }
            doc_filter_free(f);
            free(cd);
            buf_free(&cb);
        }
        for (int i = 0; i < NDOCS; i++) {
            free(doc_text[i]);
            free(doc_bin[i]);
        }
    }
    /* The generator must exercise both outcomes, or the test proves little. */
    assert_true(matched > total / 20);
    assert_true(matched < total - total / 20);
    free(m);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_value_conditions),
        cmocka_unit_test(test_tree),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_compile_errors),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_damaged_documents),
        cmocka_unit_test(test_shared_between_threads),
        cmocka_unit_test(test_differential),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
