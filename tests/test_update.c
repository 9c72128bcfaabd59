/*
 * test_update.c — update operators (doc/update.c): a table of documents,
 * updates and expected results or errors for every operator and rule in
 * update.h; *changed; paths; a random property test against a simple
 * reference implementation over an in-test value tree; and applying to
 * damaged documents under the sanitizers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "doc/doc.h"
#include "doc/update.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------- */

static buf parse_json(const char *json)
{
    doc_builder b;
    buf out = {0};
    doc_builder_init(&b);
    int rc = json_parse(json, strlen(json), NULL, &b);
    if (rc)
        fail_msg("json_parse(%s): %s", json, burrow_errmsg());
    assert_int_equal(doc_builder_take(&b, &out), 0);
    doc_builder_free(&b);
    return out;
}

static doc_val root_of(const uint8_t *d, size_t n)
{
    doc_val v;
    assert_int_equal(doc_root(d, n, &v), 0);
    return v;
}

/* The canonical compact JSON of a document, NUL-terminated (caller frees). */
static char *to_json(const uint8_t *d, size_t n)
{
    buf out = {0};
    assert_int_equal(json_write(root_of(d, n), 0, NULL, &out), 0);
    assert_int_equal(buf_putc(&out, 0), 0);
    return (char *)out.data;
}

static char *canon(const char *json)
{
    buf d = parse_json(json);
    char *s = to_json(d.data, d.size);
    buf_free(&d);
    return s;
}

static doc_update *compile_ok(const char *json)
{
    doc_update *u = NULL;
    int rc = doc_update_compile(json, strlen(json), &u);
    if (rc)
        fail_msg("compile %s: %d %s", json, rc, burrow_errmsg());
    return u;
}

/* ---- the table ------------------------------------------------------------- */

typedef struct ucase {
    const char *doc, *update;
    const char *expect; /* NULL: an error is expected */
    int changed;        /* expected *changed */
    int err;
    const char *msg; /* the exact burrow_errmsg(), or NULL */
} ucase;

#define OK(d, u, e) {d, u, e, 1, 0, NULL}
#define SAME(d, u) {d, u, d, 0, 0, NULL}
#define ERR(d, u, code, m) {d, u, NULL, 0, code, m}

static const ucase cases[] = {
    /* $set */
    OK("{\"a\":1}", "{\"$set\":{\"a\":2}}", "{\"a\":2}"),
    SAME("{\"a\":1,\"b\":[1,{\"c\":2}]}", "{\"$set\":{\"a\":1}}"),
    SAME("{\"a\":{\"x\":[1,2]}}", "{\"$set\":{\"a\":{\"x\":[1,2]}}}"),
    OK("{\"a\":1}", "{\"$set\":{\"a\":1.0}}", "{\"a\":1.0}"),
    OK("{\"a\":1,\"b\":2}", "{\"$set\":{\"c\":3}}", "{\"a\":1,\"b\":2,\"c\":3}"),
    OK("{}", "{\"$set\":{\"a.b.c\":1}}", "{\"a\":{\"b\":{\"c\":1}}}"),
    OK("{\"a\":{\"x\":1},\"z\":0}", "{\"$set\":{\"a.b\":2}}", "{\"a\":{\"x\":1,\"b\":2},\"z\":0}"),
    OK("{\"x\":{\"y\":1}}", "{\"$set\":{\"x.y\":{\"deep\":[1,\"s\",null]}}}",
       "{\"x\":{\"y\":{\"deep\":[1,\"s\",null]}}}"),
    OK("{\"a\":1,\"b\":2,\"c\":3}", "{\"$set\":{\"c\":30,\"a\":10,\"z\":1,\"y\":2}}",
       "{\"a\":10,\"b\":2,\"c\":30,\"y\":2,\"z\":1}"),
    /* new fields in step order: indexes by value first, then bytewise */
    OK("{\"k\":0}", "{\"$set\":{\"b\":1,\"10\":2,\"2\":3,\"a\":4,\"02\":5}}",
       "{\"k\":0,\"2\":3,\"10\":2,\"02\":5,\"a\":4,\"b\":1}"),
    ERR("{\"a\":5}", "{\"$set\":{\"a.b\":1}}", BURROW_ETYPE,
        "update: cannot create field 'b' in 'a' of type int"),
    ERR("{\"a\":null}", "{\"$set\":{\"a.b\":1}}", BURROW_ETYPE,
        "update: cannot create field 'b' in 'a' of type null"),
    ERR("{\"a\":{\"b\":\"s\"}}", "{\"$inc\":{\"a.b.c.d\":1}}", BURROW_ETYPE,
        "update: cannot create field 'c' in 'a.b' of type string"),
    ERR("{\"a\":[1]}", "{\"$set\":{\"a.x\":1}}", BURROW_ETYPE,
        "update: cannot create field 'x' in 'a' of type array"),
    ERR("{\"a\":[1,2]}", "{\"$set\":{\"a.01\":1}}", BURROW_ETYPE,
        "update: cannot create field '01' in 'a' of type array"),
    OK("{\"a\":[1,2]}", "{\"$set\":{\"a.1\":5}}", "{\"a\":[1,5]}"),
    OK("{\"a\":[1]}", "{\"$set\":{\"a.3\":5}}", "{\"a\":[1,null,null,5]}"),
    OK("{\"a\":[]}", "{\"$set\":{\"a.1.b\":1}}", "{\"a\":[null,{\"b\":1}]}"),
    OK("{\"a\":[0]}", "{\"$inc\":{\"a.3\":1,\"a.1\":5}}", "{\"a\":[0,5,null,1]}"),
    OK("{\"a\":[]}", "{\"$unset\":{\"a.5\":\"\"},\"$set\":{\"a.2\":1}}", "{\"a\":[null,null,1]}"),
    OK("{\"a\":[]}", "{\"$set\":{\"a.3\":1},\"$unset\":{\"a.1\":\"\"}}",
       "{\"a\":[null,null,null,1]}"),
    /* indexes taken by value: 2 before 10 */
    OK("{\"a\":[0,1,2,3,4,5,6,7,8,9,10,11]}", "{\"$set\":{\"a.10\":\"x\",\"a.2\":\"y\"}}",
       "{\"a\":[0,1,\"y\",3,4,5,6,7,8,9,\"x\",11]}"),
    OK("{\"a\":[0]}", "{\"$inc\":{\"a.10\":1,\"a.2\":1}}",
       "{\"a\":[0,null,1,null,null,null,null,null,null,null,1]}"),
    OK("{}", "{\"$set\":{\"a.0\":1}}", "{\"a\":{\"0\":1}}"),
    OK("{\"a\":{\"0\":1}}", "{\"$set\":{\"a.0\":2}}", "{\"a\":{\"0\":2}}"),
    OK("{\"a\":[{\"b\":1},{\"b\":2}]}", "{\"$set\":{\"a.1.b\":3,\"a.0.c\":4}}",
       "{\"a\":[{\"b\":1,\"c\":4},{\"b\":3}]}"),
    OK("{\"a\":[[1,2],[3]]}", "{\"$set\":{\"a.1.0\":9}}", "{\"a\":[[1,2],[9]]}"),
    ERR("{\"a\":[]}", "{\"$set\":{\"a.10001\":1}}", BURROW_ERANGE,
        "update: index 10001 of 'a' would pad the array with more than 10000 nulls"),
    ERR("{\"a\":[]}", "{\"$set\":{\"a.99999999999999999999999\":1}}", BURROW_ERANGE, NULL),
    SAME("{\"a\":[]}", "{\"$unset\":{\"a.99999999999999999999999\":1}}"),
    OK("{\"ab\":1,\"a\":{\"b\":1}}", "{\"$set\":{\"a.b\":2,\"ab\":3,\"a.c\":4}}",
       "{\"ab\":3,\"a\":{\"b\":2,\"c\":4}}"),
    SAME("{\"a\":1}", "{\"$set\":{}}"),
    /* $unset */
    OK("{\"a\":1,\"b\":2}", "{\"$unset\":{\"a\":\"\"}}", "{\"b\":2}"),
    SAME("{\"b\":2}", "{\"$unset\":{\"a\":\"\"}}"),
    OK("{\"a\":[1,2,3]}", "{\"$unset\":{\"a.1\":\"\"}}", "{\"a\":[1,null,3]}"),
    SAME("{\"a\":[1,null,3]}", "{\"$unset\":{\"a.1\":\"\"}}"),
    SAME("{\"a\":5}", "{\"$unset\":{\"a.b\":\"\"}}"),
    SAME("{\"a\":[1]}", "{\"$unset\":{\"a.5\":\"\",\"a.x\":\"\"}}"),
    OK("{\"a\":{\"b\":1,\"c\":2}}", "{\"$unset\":{\"a.b\":\"\"}}", "{\"a\":{\"c\":2}}"),
    SAME("{}", "{\"$unset\":{\"a.b\":\"\"}}"),
    OK("{\"a\":{\"b\":1}}", "{\"$unset\":{\"a.b\":\"\"}}", "{\"a\":{}}"),
    /* $inc */
    OK("{\"n\":1}", "{\"$inc\":{\"n\":2}}", "{\"n\":3}"),
    OK("{}", "{\"$inc\":{\"n\":2}}", "{\"n\":2}"),
    OK("{}", "{\"$inc\":{\"n\":2.5}}", "{\"n\":2.5}"),
    OK("{\"n\":1}", "{\"$inc\":{\"n\":0.5}}", "{\"n\":1.5}"),
    OK("{\"n\":0.5}", "{\"$inc\":{\"n\":-1}}", "{\"n\":-0.5}"),
    OK("{\"n\":120}", "{\"$inc\":{\"n\":10}}", "{\"n\":130}"), /* int8 -> int16 */
    OK("{\"n\":-9223372036854775807}", "{\"$inc\":{\"n\":-1}}", "{\"n\":-9223372036854775808}"),
    SAME("{\"n\":1}", "{\"$inc\":{\"n\":0}}"),
    OK("{\"n\":1}", "{\"$inc\":{\"n\":0.0}}", "{\"n\":1.0}"),
    ERR("{\"n\":9223372036854775807}", "{\"$inc\":{\"n\":1}}", BURROW_ERANGE,
        "update: $inc overflows int64 at 'n'"),
    ERR("{\"n\":\"x\"}", "{\"$inc\":{\"n\":1}}", BURROW_ETYPE,
        "update: $inc needs a number at 'n', found string"),
    ERR("{\"a\":{\"n\":[]}}", "{\"$inc\":{\"a.n\":1}}", BURROW_ETYPE,
        "update: $inc needs a number at 'a.n', found array"),
    ERR("{\"n\":1}", "{\"$inc\":{\"n\":\"x\"}}", BURROW_EINVAL,
        "update: $inc needs a number for 'n', found string"),
    ERR("{\"n\":1e308}", "{\"$inc\":{\"n\":1e308}}", BURROW_ERANGE,
        "update: $inc gives a number out of range at 'n'"),
    /* $mul */
    OK("{\"p\":2}", "{\"$mul\":{\"p\":3}}", "{\"p\":6}"),
    OK("{\"p\":2}", "{\"$mul\":{\"p\":1.5}}", "{\"p\":3.0}"),
    OK("{}", "{\"$mul\":{\"p\":5}}", "{\"p\":0}"),
    OK("{}", "{\"$mul\":{\"p\":2.5}}", "{\"p\":0.0}"),
    SAME("{\"p\":7}", "{\"$mul\":{\"p\":1}}"),
    ERR("{\"p\":4611686018427387904}", "{\"$mul\":{\"p\":2}}", BURROW_ERANGE,
        "update: $mul overflows int64 at 'p'"),
    ERR("{\"p\":1e200}", "{\"$mul\":{\"p\":1e200}}", BURROW_ERANGE,
        "update: $mul gives a number out of range at 'p'"),
    ERR("{\"p\":true}", "{\"$mul\":{\"p\":2}}", BURROW_ETYPE,
        "update: $mul needs a number at 'p', found bool"),
    ERR("{}", "{\"$mul\":{\"p\":null}}", BURROW_EINVAL,
        "update: $mul needs a number for 'p', found null"),
    /* $min / $max */
    OK("{\"lo\":5}", "{\"$min\":{\"lo\":3}}", "{\"lo\":3}"),
    SAME("{\"lo\":5}", "{\"$min\":{\"lo\":7}}"),
    SAME("{\"lo\":1}", "{\"$min\":{\"lo\":1.0}}"),
    OK("{}", "{\"$min\":{\"lo\":7}}", "{\"lo\":7}"),
    OK("{\"hi\":5}", "{\"$max\":{\"hi\":9.5}}", "{\"hi\":9.5}"),
    SAME("{\"hi\":5}", "{\"$max\":{\"hi\":2}}"),
    OK("{}", "{\"$max\":{\"a.hi\":2}}", "{\"a\":{\"hi\":2}}"),
    SAME("{\"v\":\"str\"}", "{\"$max\":{\"v\":1}}"),
    OK("{\"v\":\"str\"}", "{\"$min\":{\"v\":1}}", "{\"v\":1}"),
    OK("{\"v\":null}", "{\"$max\":{\"v\":false}}", "{\"v\":false}"),
    OK("{\"v\":1}", "{\"$min\":{\"v\":null}}", "{\"v\":null}"),
    OK("{\"v\":[1,2]}", "{\"$max\":{\"v\":{}}}", "{\"v\":{}}"),
    OK("{\"v\":9223372036854775807}", "{\"$max\":{\"v\":9.3e18}}", "{\"v\":9.3e+18}"),
    /* $push */
    OK("{\"arr\":[1]}", "{\"$push\":{\"arr\":2}}", "{\"arr\":[1,2]}"),
    OK("{}", "{\"$push\":{\"arr\":2}}", "{\"arr\":[2]}"),
    OK("{\"arr\":[]}", "{\"$push\":{\"arr\":{\"a\":1}}}", "{\"arr\":[{\"a\":1}]}"),
    OK("{\"arr\":[]}", "{\"$push\":{\"arr\":[1]}}", "{\"arr\":[[1]]}"),
    ERR("{\"arr\":1}", "{\"$push\":{\"arr\":2}}", BURROW_ETYPE,
        "update: $push needs an array at 'arr', found int"),
    OK("{\"arr\":[1,2]}", "{\"$push\":{\"arr\":{\"$each\":[3,4]}}}", "{\"arr\":[1,2,3,4]}"),
    OK("{\"arr\":[1,2]}", "{\"$push\":{\"arr\":{\"$each\":[9],\"$position\":0}}}",
       "{\"arr\":[9,1,2]}"),
    OK("{\"arr\":[1,2]}", "{\"$push\":{\"arr\":{\"$each\":[9,8],\"$position\":1}}}",
       "{\"arr\":[1,9,8,2]}"),
    OK("{\"arr\":[1,2]}", "{\"$push\":{\"arr\":{\"$each\":[9],\"$position\":-1}}}",
       "{\"arr\":[1,9,2]}"),
    OK("{\"arr\":[1,2]}", "{\"$push\":{\"arr\":{\"$each\":[9],\"$position\":10}}}",
       "{\"arr\":[1,2,9]}"),
    OK("{\"arr\":[1,2]}", "{\"$push\":{\"arr\":{\"$each\":[9],\"$position\":-10}}}",
       "{\"arr\":[9,1,2]}"),
    SAME("{\"arr\":[1,2,3]}", "{\"$push\":{\"arr\":{\"$each\":[4,5],\"$slice\":3}}}"),
    OK("{\"arr\":[1,2,3]}", "{\"$push\":{\"arr\":{\"$each\":[4,5],\"$slice\":-2}}}",
       "{\"arr\":[4,5]}"),
    OK("{\"arr\":[1,2,3]}", "{\"$push\":{\"arr\":{\"$each\":[4],\"$slice\":-9223372036854775808}}}",
       "{\"arr\":[1,2,3,4]}"),
    OK("{\"arr\":[1,2,3]}", "{\"$push\":{\"arr\":{\"$each\":[],\"$slice\":0}}}", "{\"arr\":[]}"),
    OK("{\"arr\":[5,6]}",
       "{\"$push\":{\"arr\":{\"$position\":1,\"$each\":[1,2,3],\"$slice\":-3}}}",
       "{\"arr\":[2,3,6]}"),
    SAME("{\"arr\":[1]}", "{\"$push\":{\"arr\":{\"$each\":[]}}}"),
    OK("{}", "{\"$push\":{\"arr\":{\"$each\":[]}}}", "{\"arr\":[]}"),
    OK("{}", "{\"$push\":{\"a.arr\":{\"$each\":[1,2,3],\"$slice\":2}}}", "{\"a\":{\"arr\":[1,2]}}"),
    OK("{\"arr\":[]}", "{\"$push\":{\"arr\":{\"$foo\":1}}}", "{\"arr\":[{\"$foo\":1}]}"),
    ERR("{}", "{\"$push\":{\"arr\":{\"$slice\":1}}}", BURROW_EINVAL,
        "update: $push modifiers need $each at 'arr'"),
    ERR("{}", "{\"$push\":{\"arr\":{\"$each\":1}}}", BURROW_EINVAL,
        "update: $push $each needs an array at 'arr', found int"),
    ERR("{}", "{\"$push\":{\"arr\":{\"$each\":[1],\"$sort\":1}}}", BURROW_EINVAL,
        "update: $push $sort is not supported ('arr')"),
    ERR("{}", "{\"$push\":{\"arr\":{\"$each\":[1],\"$foo\":1}}}", BURROW_EINVAL,
        "update: unknown $push modifier '$foo' at 'arr'"),
    ERR("{}", "{\"$push\":{\"arr\":{\"$each\":[1],\"$slice\":1.5}}}", BURROW_EINVAL,
        "update: $push $slice needs an int at 'arr', found double"),
    ERR("{}", "{\"$push\":{\"arr\":{\"$each\":[1],\"$position\":\"0\"}}}", BURROW_EINVAL,
        "update: $push $position needs an int at 'arr', found string"),
    /* $pull */
    OK("{\"arr\":[1,2,1,3]}", "{\"$pull\":{\"arr\":1}}", "{\"arr\":[2,3]}"),
    OK("{\"arr\":[1,1.0,\"1\"]}", "{\"$pull\":{\"arr\":1}}", "{\"arr\":[\"1\"]}"),
    SAME("{\"arr\":[1,2]}", "{\"$pull\":{\"arr\":5}}"),
    SAME("{}", "{\"$pull\":{\"arr\":1}}"),
    SAME("{\"a\":3}", "{\"$pull\":{\"a.arr\":1}}"),
    ERR("{\"arr\":5}", "{\"$pull\":{\"arr\":5}}", BURROW_ETYPE,
        "update: $pull needs an array at 'arr', found int"),
    OK("{\"arr\":[[1,2],[3]]}", "{\"$pull\":{\"arr\":[1,2]}}", "{\"arr\":[[3]]}"),
    OK("{\"arr\":[3,6,7,1]}", "{\"$pull\":{\"arr\":{\"$gte\":6}}}", "{\"arr\":[3,1]}"),
    OK("{\"arr\":[\"a\",\"b\",\"c\"]}", "{\"$pull\":{\"arr\":{\"$in\":[\"a\",\"c\"]}}}",
       "{\"arr\":[\"b\"]}"),
    SAME("{\"arr\":[1,2]}", "{\"$pull\":{\"arr\":{\"$gt\":5}}}"),
    OK("{\"arr\":[{},{\"a\":1},1,[],null]}", "{\"$pull\":{\"arr\":{}}}", "{\"arr\":[1,[],null]}"),
    OK("{\"arr\":[[1],[2,3],[]]}", "{\"$pull\":{\"arr\":{\"$elemMatch\":{\"$gt\":2}}}}",
       "{\"arr\":[[1],[]]}"),
    ERR("{}", "{\"$pull\":{\"arr\":{\"$gt\":1,\"x\":1}}}", BURROW_EINVAL, NULL),
    OK("{\"results\":[{\"item\":\"A\",\"score\":5},{\"item\":\"B\",\"score\":8},"
       "{\"item\":\"B\",\"score\":4},7]}",
       "{\"$pull\":{\"results\":{\"item\":\"B\",\"score\":{\"$gt\":5}}}}",
       "{\"results\":[{\"item\":\"A\",\"score\":5},{\"item\":\"B\",\"score\":4},7]}"),
    OK("{\"a\":[{\"x\":1},{\"x\":2},{\"x\":3}]}",
       "{\"$pull\":{\"a\":{\"$or\":[{\"x\":1},{\"x\":3}]}}}", "{\"a\":[{\"x\":2}]}"),
    /* several operators at once, on one object */
    OK("{\"a\":{\"z\":0,\"y\":1}}", "{\"$set\":{\"a.x\":1},\"$inc\":{\"a.y\":2},\"$unset\":{\"a.z\":1}}",
       "{\"a\":{\"y\":3,\"x\":1}}"),
    OK("{\"bid\":{\"amount\":10,\"by\":\"ann\"},\"n\":3,\"log\":[]}",
       "{\"$set\":{\"bid.amount\":12,\"bid.by\":\"bob\"},\"$inc\":{\"n\":1},"
       "\"$push\":{\"log\":{\"$each\":[12],\"$slice\":-5}}}",
       "{\"bid\":{\"amount\":12,\"by\":\"bob\"},\"n\":4,\"log\":[12]}"),
    /* compile errors */
    ERR("{}", "{\"$foo\":{\"a\":1}}", BURROW_EINVAL, "update: unknown operator '$foo'"),
    ERR("{}", "{\"$rename\":{\"a\":\"b\"}}", BURROW_EINVAL, "update: unsupported operator '$rename'"),
    ERR("{}", "{\"a\":1}", BURROW_EINVAL,
        "update: replacement documents are not accepted here; use replace"),
    ERR("{}", "{\"$set\":{\"a\":1},\"b\":2}", BURROW_EINVAL,
        "update: replacement documents are not accepted here; use replace"),
    ERR("{}", "{}", BURROW_EINVAL, "update: the update is empty"),
    ERR("{}", "[1]", BURROW_EINVAL, "update: the update must be an object, found array"),
    ERR("{}", "{\"$set\":1}", BURROW_EINVAL, "update: $set needs an object of paths, found int"),
    ERR("{}", "{\"$unset\":[\"a\"]}", BURROW_EINVAL,
        "update: $unset needs an object of paths, found array"),
    ERR("{}", "{\"$set\":{\"a\":1},\"$inc\":{\"a.b\":1}}", BURROW_EINVAL,
        "update: paths 'a' and 'a.b' conflict"),
    ERR("{}", "{\"$set\":{\"a\":1},\"$unset\":{\"a\":1}}", BURROW_EINVAL,
        "update: paths 'a' and 'a' conflict"),
    ERR("{}", "{\"$set\":{\"x.y.z\":1,\"b\":1},\"$pull\":{\"x.y\":1}}", BURROW_EINVAL,
        "update: paths 'x.y' and 'x.y.z' conflict"),
    ERR("{}", "{\"$set\":{\"_id\":1}}", BURROW_EINVAL, "update: '_id' cannot be changed"),
    ERR("{}", "{\"$unset\":{\"_id.x\":1}}", BURROW_EINVAL, "update: '_id' cannot be changed"),
    ERR("{}", "{\"$set\":{\"a.$\":1}}", BURROW_EINVAL,
        "update: path 'a.$': positional operators and field names starting with '$' are not "
        "supported"),
    ERR("{}", "{\"$set\":{\"a.$[]\":1}}", BURROW_EINVAL, NULL),
    ERR("{}", "{\"$set\":{\"\":1}}", BURROW_EINVAL, NULL),
    ERR("{}", "{\"$set\":{\"a..b\":1}}", BURROW_EINVAL, NULL),
    ERR("{}", "{\"$set\":{\"a.\":1}}", BURROW_EINVAL, NULL),
    ERR("{}", "{\"$set\":", BURROW_EJSON, NULL),
};

static void run_case(size_t i, const ucase *c, doc_builder *b)
{
    doc_update *u = NULL;
    int rc = doc_update_compile(c->update, strlen(c->update), &u);
    if (rc) {
        if (c->expect || rc != c->err)
            fail_msg("case %zu %s: compile gave %d %s", i, c->update, rc, burrow_errmsg());
        if (c->msg && strcmp(burrow_errmsg(), c->msg) != 0)
            fail_msg("case %zu %s: message \"%s\", expected \"%s\"", i, c->update,
                     burrow_errmsg(), c->msg);
        assert_null(u);
        return;
    }
    buf in = parse_json(c->doc);
    bool changed = !c->changed;
    rc = doc_update_apply(u, root_of(in.data, in.size), b, &changed);
    if (!c->expect) {
        if (rc != c->err)
            fail_msg("case %zu %s on %s: gave %d (%s), expected %d", i, c->update, c->doc, rc,
                     rc ? burrow_errmsg() : "", c->err);
        if (c->msg && strcmp(burrow_errmsg(), c->msg) != 0)
            fail_msg("case %zu %s: message \"%s\", expected \"%s\"", i, c->update,
                     burrow_errmsg(), c->msg);
    } else {
        if (rc)
            fail_msg("case %zu %s on %s: %d %s", i, c->update, c->doc, rc, burrow_errmsg());
        const uint8_t *d;
        size_t n;
        assert_int_equal(doc_builder_finish(b, &d, &n), 0);
        assert_int_equal(doc_validate(d, n), 0);
        char *got = to_json(d, n), *want = canon(c->expect);
        if (strcmp(got, want) != 0)
            fail_msg("case %zu %s on %s:\n  got  %s\n  want %s", i, c->update, c->doc, got, want);
        if (changed != (c->changed != 0))
            fail_msg("case %zu %s on %s: changed %d", i, c->update, c->doc, changed);
        /* Unchanged means byte for byte: the caller skips the write. */
        if (!changed && (n != in.size || memcmp(d, in.data, n) != 0))
            fail_msg("case %zu: unchanged but the bytes differ", i);
        free(got);
        free(want);
    }
    buf_free(&in);
    doc_update_free(u);
}

static void test_table(void **state)
{
    (void)state;
    doc_builder b;
    doc_builder_init(&b);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        run_case(i, &cases[i], &b);
    doc_builder_free(&b);
}

/* Padding up to the limit works and gives exactly that many nulls. */
static void test_pad_limit(void **state)
{
    (void)state;
    char upd[64];
    snprintf(upd, sizeof upd, "{\"$set\":{\"a.%d\":7}}", DOC_UPDATE_MAX_PAD + 1);
    doc_update *u = compile_ok(upd);
    buf in = parse_json("{\"a\":[1]}");
    doc_builder b;
    doc_builder_init(&b);
    bool changed = false;
    assert_int_equal(doc_update_apply(u, root_of(in.data, in.size), &b, &changed), 0);
    assert_true(changed);
    const uint8_t *d;
    size_t n;
    assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
    assert_int_equal(doc_validate(d, n), 0);
    doc_val arr, e;
    assert_int_equal(doc_object_get(root_of(d, n), "a", 1, &arr), 0);
    assert_int_equal(doc_count(arr), DOC_UPDATE_MAX_PAD + 2);
    assert_int_equal(doc_array_at(arr, DOC_UPDATE_MAX_PAD, &e), 0);
    assert_int_equal(doc_type(e), DOC_NULL);
    int64_t x;
    assert_int_equal(doc_array_at(arr, DOC_UPDATE_MAX_PAD + 1, &e), 0);
    assert_int_equal(doc_get_int(e, &x), 0);
    assert_int_equal(x, 7);
    doc_update_free(u);
    snprintf(upd, sizeof upd, "{\"$set\":{\"a.%d\":7}}", DOC_UPDATE_MAX_PAD + 2);
    u = compile_ok(upd);
    assert_int_equal(doc_update_apply(u, root_of(in.data, in.size), &b, &changed), BURROW_ERANGE);
    doc_update_free(u);
    buf_free(&in);
    doc_builder_free(&b);
}

/* Untouched values are copied byte for byte, even in an encoding the
 * builder would not choose (5 stored as int64): nothing is re-encoded. */
static void test_verbatim_copy(void **state)
{
    (void)state;
    static const uint8_t wide5[9] = {DOC_TAG_INT64, 5, 0, 0, 0, 0, 0, 0, 0};
    doc_builder b;
    doc_builder_init(&b);
    assert_int_equal(doc_builder_begin(&b), 0);
    assert_int_equal(doc_builder_begin_object(&b), 0);
    assert_int_equal(doc_builder_key(&b, "x", 1), 0);
    assert_int_equal(doc_builder_copy(&b, (doc_val){wide5, 9}), 0);
    assert_int_equal(doc_builder_key(&b, "o", 1), 0);
    assert_int_equal(doc_builder_begin_object(&b), 0);
    assert_int_equal(doc_builder_key(&b, "w", 1), 0);
    assert_int_equal(doc_builder_copy(&b, (doc_val){wide5, 9}), 0);
    assert_int_equal(doc_builder_end(&b), 0);
    assert_int_equal(doc_builder_end(&b), 0);
    buf in = {0};
    assert_int_equal(doc_builder_take(&b, &in), 0);
    assert_int_equal(doc_validate(in.data, in.size), 0);

    doc_update *u = compile_ok("{\"$set\":{\"o.v\":1,\"y\":2}}");
    bool changed = false;
    assert_int_equal(doc_update_apply(u, root_of(in.data, in.size), &b, &changed), 0);
    assert_true(changed);
    const uint8_t *d;
    size_t n;
    assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
    assert_int_equal(doc_validate(d, n), 0);
    doc_val root = root_of(d, n), x, o, w;
    assert_int_equal(doc_object_get(root, "x", 1, &x), 0);
    assert_int_equal(x.len, 9);
    assert_memory_equal(x.p, wide5, 9);
    assert_int_equal(doc_object_get(root, "o", 1, &o), 0);
    assert_int_equal(doc_object_get(o, "w", 1, &w), 0);
    assert_memory_equal(w.p, wide5, 9);
    char *s = to_json(d, n);
    assert_string_equal(s, "{\"x\":5,\"o\":{\"w\":5,\"v\":1},\"y\":2}");
    free(s);
    doc_update_free(u);
    buf_free(&in);
    doc_builder_free(&b);
}

/* Big objects (with a sorted key table) stay valid and findable. */
static void test_big_object(void **state)
{
    (void)state;
    buf text = {0};
    assert_int_equal(buf_append(&text, "{", 1), 0);
    for (int i = 0; i < 40; i++) {
        char kv[32];
        int k = snprintf(kv, sizeof kv, "%s\"k%02d\":%d", i ? "," : "", (i * 17) % 40, i);
        assert_int_equal(buf_append(&text, kv, (size_t)k), 0);
    }
    assert_int_equal(buf_append(&text, "}", 2), 0);
    buf in = parse_json((const char *)text.data);
    doc_update *u = compile_ok("{\"$set\":{\"k05\":\"five\",\"a\":1,\"zz\":2},"
                               "\"$unset\":{\"k39\":1,\"k00\":1},\"$inc\":{\"k10\":100}}");
    doc_builder b;
    doc_builder_init(&b);
    bool changed = false;
    assert_int_equal(doc_update_apply(u, root_of(in.data, in.size), &b, &changed), 0);
    assert_true(changed);
    const uint8_t *d;
    size_t n;
    assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
    assert_int_equal(doc_validate(d, n), 0);
    doc_val root = root_of(d, n), v;
    assert_int_equal(doc_count(root), 40);
    assert_int_equal(doc_object_get(root, "k39", 3, &v), BURROW_ENOTFOUND);
    assert_int_equal(doc_object_get(root, "k00", 3, &v), BURROW_ENOTFOUND);
    assert_int_equal(doc_object_get(root, "zz", 2, &v), 0);
    assert_int_equal(doc_object_get(root, "k05", 3, &v), 0);
    assert_int_equal(doc_type(v), DOC_STRING);
    int64_t x;
    assert_int_equal(doc_object_get(root, "k10", 3, &v), 0);
    assert_int_equal(doc_get_int(v, &x), 0);
    assert_int_equal(x, 110); /* k10 holds i = 10 (10 * 17 % 40 = 10) */
    doc_update_free(u);
    buf_free(&in);
    buf_free(&text);
    doc_builder_free(&b);
}

static void test_paths_and_misc(void **state)
{
    (void)state;
    doc_update *u = compile_ok("{\"$set\":{\"b\":1,\"a.c\":2,\"x.10\":0,\"x.9\":0},"
                               "\"$inc\":{\"a.b\":1}}");
    const char *want[] = {"a.b", "a.c", "b", "x.9", "x.10"};
    assert_int_equal(doc_update_npaths(u), 5);
    for (int i = 0; i < 5; i++) {
        size_t len;
        const char *p = doc_update_path(u, i, &len);
        assert_string_equal(p, want[i]);
        assert_int_equal(len, strlen(want[i]));
    }
    assert_string_equal(doc_update_path(u, 0, NULL), "a.b");

    /* The root must be an object. */
    buf arr = parse_json("[1,2]");
    doc_builder b;
    doc_builder_init(&b);
    bool changed;
    assert_int_equal(doc_update_apply(u, root_of(arr.data, arr.size), &b, &changed), BURROW_ETYPE);
    buf_free(&arr);
    doc_update_free(u);
    doc_update_free(NULL);

    /* compile_doc copies: the source may go away; a damaged one is refused. */
    buf src = parse_json("{\"$set\":{\"a\":\"value\"}}");
    assert_int_equal(doc_update_compile_doc(root_of(src.data, src.size), &u), 0);
    memset(src.data, 0xEE, src.size);
    buf_free(&src);
    buf in = parse_json("{}");
    assert_int_equal(doc_update_apply(u, root_of(in.data, in.size), &b, &changed), 0);
    const uint8_t *d;
    size_t n;
    assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
    char *s = to_json(d, n);
    assert_string_equal(s, "{\"a\":\"value\"}");
    free(s);
    doc_update_free(u);

    src = parse_json("{\"$set\":{\"a\":\"value\"}}");
    doc_val r = root_of(src.data, src.size);
    src.data[src.size - 1] ^= 0xFF; /* into the offset table */
    assert_int_equal(doc_update_compile_doc(r, &u), BURROW_ECORRUPT);
    assert_null(u);
    assert_int_equal(doc_update_compile_doc(root_of(in.data, in.size), &u), BURROW_EINVAL);
    buf_free(&src);
    buf_free(&in);
    doc_builder_free(&b);
}

/* ---- random property test ---------------------------------------------------- */

/* An in-test value tree: the reference model of a document. */
typedef struct tv {
    enum doc_type type;
    int64_t i;
    double d;
    char s[8];
    int n, cap;
    struct tv **items;
    char **keys; /* objects */
} tv;

static tv *tv_new(enum doc_type t)
{
    tv *v = calloc(1, sizeof *v);
    assert_non_null(v);
    v->type = t;
    return v;
}

static void tv_free(tv *v)
{
    if (!v)
        return;
    for (int i = 0; i < v->n; i++) {
        tv_free(v->items[i]);
        if (v->keys)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v);
}

static void tv_add(tv *c, const char *key, tv *item)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->items = realloc(c->items, (size_t)c->cap * sizeof *c->items);
        assert_non_null(c->items);
        if (c->type == DOC_OBJECT) {
            c->keys = realloc(c->keys, (size_t)c->cap * sizeof *c->keys);
            assert_non_null(c->keys);
        }
    }
    if (c->type == DOC_OBJECT)
        c->keys[c->n] = strdup(key);
    c->items[c->n++] = item;
}

static tv *tv_clone(const tv *v)
{
    tv *c = tv_new(v->type);
    c->i = v->i;
    c->d = v->d;
    memcpy(c->s, v->s, sizeof c->s);
    for (int i = 0; i < v->n; i++)
        tv_add(c, v->keys ? v->keys[i] : NULL, tv_clone(v->items[i]));
    return c;
}

static int tv_find(const tv *obj, const char *key)
{
    for (int i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0)
            return i;
    return -1;
}

static void tv_build(doc_builder *b, const tv *v)
{
    switch (v->type) {
    case DOC_NULL: doc_builder_null(b); break;
    case DOC_FALSE: doc_builder_bool(b, false); break;
    case DOC_TRUE: doc_builder_bool(b, true); break;
    case DOC_INT: doc_builder_int(b, v->i); break;
    case DOC_DOUBLE: doc_builder_double(b, v->d); break;
    case DOC_STRING: doc_builder_string(b, v->s, strlen(v->s)); break;
    case DOC_ARRAY:
    case DOC_OBJECT:
        v->type == DOC_ARRAY ? doc_builder_begin_array(b) : doc_builder_begin_object(b);
        for (int i = 0; i < v->n; i++) {
            if (v->keys)
                doc_builder_key(b, v->keys[i], strlen(v->keys[i]));
            tv_build(b, v->items[i]);
        }
        doc_builder_end(b);
        break;
    default: break;
    }
}

static buf tv_doc(const tv *v)
{
    doc_builder b;
    buf out = {0};
    doc_builder_init(&b);
    doc_builder_begin(&b);
    tv_build(&b, v);
    assert_int_equal(doc_builder_take(&b, &out), 0);
    doc_builder_free(&b);
    return out;
}

/* Order two values as doc_compare does (the library's, not under test). */
static int tv_compare(const tv *a, const tv *b)
{
    buf x = tv_doc(a), y = tv_doc(b);
    int r = doc_compare(root_of(x.data, x.size), root_of(y.data, y.size));
    buf_free(&x);
    buf_free(&y);
    return r;
}

static const char *const names[] = {"a", "b", "c", "0", "1", "2", "10"};
#define NNAMES (sizeof names / sizeof *names)

static tv *gen_value(tu_rng *r, int depth)
{
    unsigned pick = (unsigned)tu_below(r, depth >= 3 ? 6 : 8);
    tv *v;
    switch (pick) {
    case 0: return tv_new(DOC_NULL);
    case 1: return tv_new(tu_chance(r, 1, 2) ? DOC_TRUE : DOC_FALSE);
    case 2:
        v = tv_new(DOC_INT);
        v->i = tu_chance(r, 1, 4) ? (tu_chance(r, 1, 2) ? INT64_MAX - (int64_t)tu_below(r, 3)
                                                        : INT64_MIN + (int64_t)tu_below(r, 3))
                                  : (int64_t)tu_below(r, 600) - 300;
        return v;
    case 3:
        v = tv_new(DOC_DOUBLE);
        v->d = tu_chance(r, 1, 8) ? 1e308 : ((double)tu_below(r, 2000) - 1000) / 8;
        return v;
    case 4:
    case 5:
        v = tv_new(DOC_STRING);
        snprintf(v->s, sizeof v->s, "s%u", (unsigned)tu_below(r, 5));
        return v;
    case 6:
        v = tv_new(DOC_ARRAY);
        for (int i = (int)tu_below(r, 5); i > 0; i--)
            tv_add(v, NULL, gen_value(r, depth + 1));
        return v;
    default:
        v = tv_new(DOC_OBJECT);
        for (int i = (int)tu_below(r, 5); i > 0; i--) {
            const char *k = names[tu_below(r, NNAMES)];
            tv *item = gen_value(r, depth + 1);
            if (tv_find(v, k) < 0)
                tv_add(v, k, item);
            else
                tv_free(item);
        }
        return v;
    }
}

/* Top-level names of the big documents: enough for objects past
 * DOC_SORTED_MIN keys (with a sorted table), some sharing 8-byte heads. */
static const char *const big_names[] = {
    "a",     "b",         "c",          "0",          "1",          "2",         "10", "d",
    "e",     "f",         "g",          "h",          "i",          "j",         "k",  "l",
    "m",     "n",         "o",          "p",          "quantity",   "quantity2", "3",  "20",
    "price", "price_eur", "quantityX",  "sku",        "zz",         "name",      "x",  "y",
    "name0", "created_at", "updated_at", "updated_by",
};
#define NBIG (sizeof big_names / sizeof *big_names)

/* A document of up to maxkeys top-level keys drawn from pool. */
static tv *gen_doc_from(tu_rng *r, const char *const *pool, size_t npool, unsigned maxkeys)
{
    tv *root = tv_new(DOC_OBJECT);
    for (int i = (int)tu_below(r, maxkeys); i > 0; i--) {
        const char *k = pool[tu_below(r, npool)];
        tv *item = gen_value(r, 1);
        if (tv_find(root, k) < 0)
            tv_add(root, k, item);
        else
            tv_free(item);
    }
    return root;
}

static tv *gen_doc(tu_rng *r) { return gen_doc_from(r, names, NNAMES, 7); }

enum { R_SET, R_UNSET, R_INC, R_MUL, R_MIN, R_MAX, R_PUSH, R_PULL, R_NKINDS };
static const char *const rop_names[] = {"$set", "$unset", "$inc", "$mul",
                                        "$min", "$max",   "$push", "$pull"};

typedef struct rop {
    int kind;
    int nsteps;
    const char *steps[3];
    char text[32];
    tv *arg;
} rop;

static bool creates(const rop *op) { return op->kind != R_UNSET && op->kind != R_PULL; }

static int64_t ref_index(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || (n > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    return atoll(s);
}

/* update.h's step order: indexes by value first, then bytewise. */
static int ref_step_order(const char *a, const char *b)
{
    int64_t ia = ref_index(a), ib = ref_index(b);
    if (ia >= 0 && ib >= 0 && ia != ib)
        return ia < ib ? -1 : 1;
    if ((ia >= 0) != (ib >= 0))
        return ia >= 0 ? -1 : 1;
    return strcmp(a, b);
}

static int rop_order(const void *x, const void *y)
{
    const rop *a = x, *b = y;
    for (int i = 0; i < a->nsteps && i < b->nsteps; i++) {
        int r = ref_step_order(a->steps[i], b->steps[i]);
        if (r)
            return r;
    }
    return a->nsteps - b->nsteps;
}

/* The new value of a leaf: *slot holds the current value (NULL: missing)
 * and gets the result (NULL: remove). */
static int ref_leaf(const rop *op, tv **slot, bool in_array)
{
    tv *cur = *slot, *res = NULL;
    switch (op->kind) {
    case R_SET: res = tv_clone(op->arg); break;
    case R_UNSET:
        if (!cur)
            return 0;
        res = in_array ? tv_new(DOC_NULL) : NULL;
        break;
    case R_INC:
    case R_MUL:
        if (!cur) {
            if (op->kind == R_INC) {
                res = tv_clone(op->arg);
            } else {
                res = tv_new(op->arg->type);
                res->i = 0;
                res->d = 0.0;
            }
            break;
        }
        if (cur->type != DOC_INT && cur->type != DOC_DOUBLE)
            return BURROW_ETYPE;
        if (cur->type == DOC_INT && op->arg->type == DOC_INT) {
            res = tv_new(DOC_INT);
            bool ovf = op->kind == R_INC ? __builtin_add_overflow(cur->i, op->arg->i, &res->i)
                                         : __builtin_mul_overflow(cur->i, op->arg->i, &res->i);
            if (ovf) {
                tv_free(res);
                return BURROW_ERANGE;
            }
        } else {
            double x = cur->type == DOC_INT ? (double)cur->i : cur->d;
            double y = op->arg->type == DOC_INT ? (double)op->arg->i : op->arg->d;
            res = tv_new(DOC_DOUBLE);
            res->d = op->kind == R_INC ? x + y : x * y;
            if (res->d - res->d != 0) {
                tv_free(res);
                return BURROW_ERANGE;
            }
        }
        break;
    case R_MIN:
    case R_MAX: {
        int c = cur ? tv_compare(op->arg, cur) : 0;
        if (cur && (op->kind == R_MIN ? c >= 0 : c <= 0))
            return 0;
        res = tv_clone(op->arg);
        break;
    }
    case R_PUSH:
        if (cur && cur->type != DOC_ARRAY)
            return BURROW_ETYPE;
        res = cur ? tv_clone(cur) : tv_new(DOC_ARRAY);
        tv_add(res, NULL, tv_clone(op->arg));
        break;
    case R_PULL:
        if (!cur)
            return 0;
        if (cur->type != DOC_ARRAY)
            return BURROW_ETYPE;
        res = tv_new(DOC_ARRAY);
        for (int i = 0; i < cur->n; i++) {
            /* {} removes every object (MongoDB's empty query) */
            bool match = op->arg->type == DOC_OBJECT && op->arg->n == 0
                             ? cur->items[i]->type == DOC_OBJECT
                             : tv_compare(cur->items[i], op->arg) == 0;
            if (!match)
                tv_add(res, NULL, tv_clone(cur->items[i]));
        }
        break;
    }
    tv_free(cur);
    *slot = res;
    return 0;
}

/* Apply one operation to the tree, MongoDB's way, step by step. */
static int ref_apply(tv *root, const rop *op)
{
    tv *cur = root;
    for (int i = 0; i < op->nsteps; i++) {
        bool last = i == op->nsteps - 1;
        const char *name = op->steps[i];
        if (cur->type == DOC_OBJECT) {
            int k = tv_find(cur, name);
            if (k < 0) {
                if (!creates(op))
                    return 0;
                tv_add(cur, name, last ? NULL : tv_new(DOC_OBJECT));
                k = cur->n - 1;
            }
            if (last) {
                int rc = ref_leaf(op, &cur->items[k], false);
                if (!rc && !cur->items[k]) {
                    free(cur->keys[k]);
                    memmove(cur->items + k, cur->items + k + 1,
                            (size_t)(cur->n - k - 1) * sizeof *cur->items);
                    memmove(cur->keys + k, cur->keys + k + 1,
                            (size_t)(cur->n - k - 1) * sizeof *cur->keys);
                    cur->n--;
                }
                return rc;
            }
            cur = cur->items[k];
        } else if (cur->type == DOC_ARRAY) {
            int64_t idx = ref_index(name);
            if (idx < 0)
                return creates(op) ? BURROW_ETYPE : 0;
            if (idx >= cur->n) {
                if (!creates(op))
                    return 0;
                while (cur->n < idx)
                    tv_add(cur, NULL, tv_new(DOC_NULL));
                tv_add(cur, NULL, last ? NULL : tv_new(DOC_OBJECT));
            }
            if (last)
                return ref_leaf(op, &cur->items[idx], true);
            cur = cur->items[idx];
        } else {
            return creates(op) ? BURROW_ETYPE : 0;
        }
    }
    return 0;
}

static bool prefix_of(const rop *a, const rop *b)
{
    if (a->nsteps > b->nsteps)
        return false;
    for (int i = 0; i < a->nsteps; i++)
        if (strcmp(a->steps[i], b->steps[i]) != 0)
            return false;
    return true;
}

static tv *gen_number(tu_rng *r)
{
    tv *v;
    if (tu_chance(r, 1, 3)) {
        v = tv_new(DOC_DOUBLE);
        v->d = tu_chance(r, 1, 6) ? 1e308 : ((double)tu_below(r, 64) - 32) / 4;
    } else {
        v = tv_new(DOC_INT);
        v->i = tu_chance(r, 1, 6) ? INT64_MAX / 2 + 1 : (int64_t)tu_below(r, 20) - 10;
    }
    return v;
}

/* Random updates: the reference's result (or error) must be what
 * doc_update_apply gives, byte for byte. big: documents of up to 60 keys
 * (objects with a sorted table, rebuilt keeping its order) and top-level
 * steps from big_names. */
static void random_updates(uint64_t seed, unsigned rounds, bool big)
{
    tu_rng r;
    tu_rng_seed(&r, seed);
    doc_builder b;
    doc_builder_init(&b);
    unsigned applied = 0, failed = 0, conflicts = 0, unchanged = 0;
    for (unsigned round = 0; round < rounds; round++) {
        tv *doc = big ? gen_doc_from(&r, big_names, NBIG, 60) : gen_doc(&r);
        rop ops[5];
        int nops = 1 + (int)tu_below(&r, 5);
        bool conflict = false;
        for (int i = 0; i < nops; i++) {
            rop *op = &ops[i];
            op->kind = (int)tu_below(&r, R_NKINDS);
            if (tu_chance(&r, 1, 2))
                op->kind = (int)tu_below(&r, 3); /* mostly $set, $unset, $inc */
            op->nsteps = 1 + (int)tu_below(&r, 3);
            size_t tl = 0;
            for (int s = 0; s < op->nsteps; s++) {
                op->steps[s] = big && s == 0 ? big_names[tu_below(&r, NBIG)]
                                             : names[tu_below(&r, NNAMES)];
                tl += (size_t)snprintf(op->text + tl, sizeof op->text - tl, "%s%s", s ? "." : "",
                                       op->steps[s]);
            }
            op->arg = op->kind == R_INC || op->kind == R_MUL ? gen_number(&r) : gen_value(&r, 2);
            if (op->kind == R_PULL && op->arg->type == DOC_OBJECT && op->arg->n > 0) {
                /* A field filter, not a value: the table tests those. */
                tv_free(op->arg);
                op->arg = tv_new(DOC_OBJECT);
            }
            /* The same path twice under one operator would be a duplicate
             * key of the update; draw again. */
            bool dup = false;
            for (int j = 0; j < i; j++)
                if (ops[j].kind == op->kind && strcmp(ops[j].text, op->text) == 0)
                    dup = true;
            if (dup) {
                tv_free(op->arg);
                i--;
                continue;
            }
            for (int j = 0; j < i; j++)
                if (prefix_of(&ops[j], op) || prefix_of(op, &ops[j]))
                    conflict = true;
        }
        /* The update as a binary document, operators in random order. */
        doc_builder_begin(&b);
        doc_builder_begin_object(&b);
        for (int k = 0; k < R_NKINDS; k++) {
            int kind = (k + (int)round) % R_NKINDS;
            bool any = false;
            for (int i = 0; i < nops; i++) {
                if (ops[i].kind != kind)
                    continue;
                if (!any) {
                    doc_builder_key(&b, rop_names[kind], strlen(rop_names[kind]));
                    doc_builder_begin_object(&b);
                    any = true;
                }
                doc_builder_key(&b, ops[i].text, strlen(ops[i].text));
                tv_build(&b, ops[i].arg);
            }
            if (any)
                doc_builder_end(&b);
        }
        doc_builder_end(&b);
        buf ubuf = {0};
        assert_int_equal(doc_builder_take(&b, &ubuf), 0);
        doc_update *u = NULL;
        int rc = doc_update_compile_doc(root_of(ubuf.data, ubuf.size), &u);
        if (conflict) {
            if (rc != BURROW_EINVAL || strstr(burrow_errmsg(), "conflict") == NULL)
                fail_msg("round %u: conflict not reported: %d %s", round, rc, burrow_errmsg());
            conflicts++;
        } else {
            if (rc)
                fail_msg("round %u: compile: %d %s", round, rc, burrow_errmsg());
            assert_int_equal(doc_update_npaths(u), nops);

            buf in = tv_doc(doc);
            /* The reference, in the order update.h promises. */
            qsort(ops, (size_t)nops, sizeof *ops, rop_order);
            int ref_err = 0;
            bool mixed = false;
            for (int i = 0; i < nops; i++) {
                assert_string_equal(doc_update_path(u, i, NULL), ops[i].text);
                int e = ref_apply(doc, &ops[i]);
                if (e && ref_err && e != ref_err)
                    mixed = true;
                if (e && !ref_err)
                    ref_err = e;
            }
            bool changed = false;
            rc = doc_update_apply(u, root_of(in.data, in.size), &b, &changed);
            if (ref_err) {
                if (rc == 0 || (!mixed && rc != ref_err))
                    fail_msg("round %u: apply gave %d, the reference %d", round, rc, ref_err);
                failed++;
            } else {
                if (rc)
                    fail_msg("round %u: apply: %d %s", round, rc, burrow_errmsg());
                const uint8_t *d;
                size_t n;
                assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
                assert_int_equal(doc_validate(d, n), 0);
                buf want = tv_doc(doc);
                if (n != want.size || memcmp(d, want.data, n) != 0) {
                    char *g = to_json(d, n), *w = to_json(want.data, want.size),
                         *i0 = to_json(in.data, in.size), *us = to_json(ubuf.data, ubuf.size);
                    fail_msg("round %u: %s on %s\n  got  %s\n  want %s", round, us, i0, g, w);
                }
                bool differs = in.size != n || memcmp(in.data, d, n) != 0;
                if (changed != differs)
                    fail_msg("round %u: changed %d but the result %s", round, changed,
                             differs ? "differs" : "is the same");
                unchanged += !changed;
                applied++;
                buf_free(&want);
            }
            buf_free(&in);
        }
        for (int i = 0; i < nops; i++)
            tv_free(ops[i].arg);
        doc_update_free(u);
        buf_free(&ubuf);
        tv_free(doc);
    }
    /* The generator must reach every outcome, or the test proves little. */
    assert_true(applied > rounds / 10);
    assert_true(failed > 0);
    assert_true(conflicts > 0);
    assert_true(unchanged > 0);
    doc_builder_free(&b);
}

static void test_random(void **state)
{
    (void)state;
    random_updates(tu_seed() ^ 0x7570646174ull, tu_rounds(20000, 400000), false);
}

static void test_random_big(void **state)
{
    (void)state;
    random_updates(tu_seed() ^ 0x626967ull, tu_rounds(5000, 100000), true);
}

/* Damaged documents: random byte flips and truncations. Applying either
 * works or fails; it never reads outside the document (ASan), and when the
 * damaged document still validates, so does the result. */
static void test_damaged(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0xDA3A6Eull);
    static const char *const updates[] = {
        "{\"$set\":{\"a.b\":1,\"c\":[1,2],\"0.1\":null},\"$unset\":{\"b\":1}}",
        "{\"$inc\":{\"a.0\":1,\"b.c\":2.5},\"$push\":{\"c\":{\"$each\":[1,2],\"$position\":1,"
        "\"$slice\":-3}}}",
        "{\"$pull\":{\"c\":{\"$gte\":1},\"a.b\":3,\"b\":{\"x\":1}},\"$min\":{\"10\":4},"
        "\"$max\":{\"1\":\"s\"}}",
        "{\"$mul\":{\"a.2\":2},\"$set\":{\"a.1.x\":1,\"b.1\":true},\"$unset\":{\"a.0\":1}}",
    };
    doc_update *us[4];
    for (int i = 0; i < 4; i++)
        us[i] = compile_ok(updates[i]);
    doc_builder b;
    doc_builder_init(&b);
    unsigned rounds = tu_rounds(3000, 100000), ok = 0, bad = 0;
    for (unsigned round = 0; round < rounds; round++) {
        tv *doc = gen_doc(&r);
        buf in = tv_doc(doc);
        tv_free(doc);
        size_t len = tu_chance(&r, 1, 4) ? 1 + tu_below(&r, in.size) : in.size;
        for (unsigned f = 1 + (unsigned)tu_below(&r, 3); f; f--)
            in.data[tu_below(&r, in.size)] ^= (uint8_t)(1u << tu_below(&r, 8));
        /* An exact-size copy so ASan sees any read past the end. */
        uint8_t *c = malloc(len);
        memcpy(c, in.data, len);
        bool valid = doc_validate(c, len) == 0;
        doc_val root = {c + 1, len - 1};
        if (len < 2)
            root.len = 0;
        for (int i = 0; i < 4; i++) {
            bool changed;
            int rc = doc_update_apply(us[i], root, &b, &changed);
            if (rc == 0) {
                const uint8_t *d;
                size_t n;
                assert_int_equal(doc_builder_finish(&b, &d, &n), 0);
                if (valid && doc_validate(d, n) != 0)
                    fail_msg("round %u: a valid document gave an invalid result", round);
                ok++;
            } else {
                bad++;
            }
        }
        free(c);
        buf_free(&in);
    }
    assert_true(ok > 0 && bad > 0);
    for (int i = 0; i < 4; i++)
        doc_update_free(us[i]);
    doc_builder_free(&b);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),        cmocka_unit_test(test_pad_limit),
        cmocka_unit_test(test_verbatim_copy), cmocka_unit_test(test_big_object),
        cmocka_unit_test(test_paths_and_misc), cmocka_unit_test(test_random),
        cmocka_unit_test(test_random_big),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
