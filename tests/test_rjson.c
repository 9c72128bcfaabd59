/*
 * test_rjson.c — RedisJSON paths and operations (doc/rjson.c): tables of
 * paths and their matches taken from RedisJSON's documented examples,
 * every operation with its edge cases (RedisJSON's index normalisation,
 * int64 overflow to double, nested targets), and randomised tests: the
 * matcher against a simple list-at-a-time reference evaluator, and
 * NUMINCRBY / DEL checked through properties that hold whatever the path.
 *
 * JSON in the tables is written with ' for " (J() swaps them) to keep it
 * readable.
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
#include "doc/rjson.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------- */

/* s with every ' turned into ", in a static ring of buffers. */
static const char *J(const char *s)
{
    static char ring[8][4096];
    static int k;
    char *d = ring[k++ & 7];
    size_t n = strlen(s);
    assert_true(n < sizeof ring[0]);
    for (size_t i = 0; i <= n; i++)
        d[i] = s[i] == '\'' ? '"' : s[i];
    return d;
}

static buf parse(const char *json)
{
    doc_builder b;
    buf out = {0};
    doc_builder_init(&b);
    if (json_parse(json, strlen(json), NULL, &b))
        fail_msg("json_parse(%s): %s", json, burrow_errmsg());
    assert_int_equal(doc_builder_take(&b, &out), 0);
    doc_builder_free(&b);
    return out;
}

static doc_val root_of(const buf *d)
{
    doc_val v;
    assert_int_equal(doc_root(d->data, d->size, &v), 0);
    return v;
}

/* Compact JSON of v appended to out. */
static void put_json(doc_val v, buf *out) { assert_int_equal(json_write(v, 0, NULL, out), 0); }

static char *cstr(buf *b)
{
    assert_int_equal(buf_putc(b, 0), 0);
    return (char *)b->data;
}

static rjson_path *path_ok(const char *s)
{
    rjson_path *p = NULL;
    int rc = rjson_path_parse(s, strlen(s), &p);
    if (rc)
        fail_msg("path %s: %s", s, burrow_errmsg());
    return p;
}

/* The matches of path in doc as a JSON array text (caller frees). */
static char *find_json(const char *doc, const char *path)
{
    buf d = parse(J(doc)), out = {0};
    rjson_path *p = path_ok(path);
    rjson_matches m;
    rjson_matches_init(&m);
    assert_int_equal(rjson_find(root_of(&d), p, -1, &m), 0);
    buf_putc(&out, '[');
    for (size_t i = 0; i < m.n; i++) {
        if (i)
            buf_putc(&out, ',');
        put_json(m.v[i].val, &out);
    }
    buf_putc(&out, ']');
    rjson_matches_free(&m);
    rjson_path_free(p);
    buf_free(&d);
    return cstr(&out);
}

/* ---- paths ------------------------------------------------------------------- */

static void test_path_parse(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int nsteps;
        bool legacy, is_static;
        const char *fixed;
    } ok[] = {
        {"$", 0, false, true, "$"},
        {".", 0, true, true, "$"},
        {"a", 1, true, true, "$.a"},
        {".a.b", 2, true, true, "$.a.b"},
        {"a[0].b", 3, true, true, "$.a[0].b"},
        {"[0]", 1, true, true, "$.[0]"},
        {"$.a", 1, false, true, "$.a"},
        {"$a", 1, false, true, "$a"},
        {"$.a[-1]", 2, false, true, "$.a[-1]"},
        {"$['a b']", 1, false, true, "$['a b']"},
        {"$[\"x\\\"y\"]", 1, false, true, "$[\"x\\\"y\"]"},
        {"$.*", 1, false, false, "$.*"},
        {"$[*]", 1, false, false, "$[*]"},
        {"$..a", 1, false, false, "$..a"},
        {"$..[0]", 1, false, false, "$..[0]"},
        {"$..*", 1, false, false, "$..*"},
        {"$[0,1]", 1, false, false, "$[0,1]"},
        {"$['a','b']", 1, false, false, "$['a','b']"},
        {"$[1:3]", 1, false, false, "$[1:3]"},
        {"$[:]", 1, false, false, "$[:]"},
        {"$[::2]", 1, false, false, "$[::2]"},
        {"$[-2:]", 1, false, false, "$[-2:]"},
        {"$[ 0 , 1 ]", 1, false, false, "$[ 0 , 1 ]"},
        {"$.a-b_c:d", 1, false, true, "$.a-b_c:d"},
        {"$.0", 1, false, true, "$.0"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        rjson_path *p = path_ok(ok[i].path);
        assert_int_equal(rjson_path_nsteps(p), ok[i].nsteps);
        assert_int_equal(rjson_path_legacy(p), ok[i].legacy);
        assert_int_equal(rjson_path_static(p), ok[i].is_static);
        assert_string_equal(rjson_path_fixed(p, NULL), ok[i].fixed);
        rjson_path_free(p);
    }
    static const struct {
        const char *path, *msg;
    } bad[] = {
        {"$.", "path '$.': expected a member name at column 3"},
        {"", "path '': expected a member name at column 1"},
        {"$[", "path '$[': unterminated bracket at column 2"},
        {"$[0", "path '$[0': unterminated bracket at column 2"},
        {"$[01]", "path '$[01]': expected a number at column 3"},
        {"$['a", "path '$['a': unterminated string at column 3"},
        {"$['a'x]", "path '$['a'x]': expected ']' at column 6"},
        {"$[?(@.a>1)]", "path '$[?(@.a>1)]': filter expressions are not supported at column 3"},
        {"$[]", "path '$[]': empty brackets at column 3"},
        {"$[::0]", "path '$[::0]': expected a positive step at column 5"},
        {"$[99999999999999999999]", "path '$[99999999999999999999]': number out of range at column 3"},
        {"$.a b", "path '$.a b': unexpected character at column 5"},
        {"a..", "path 'a..': expected a member name at column 4"},
        {".a!", "path '.a!': unexpected character at column 3"},
        {"$['a\\x']", "path '$['a\\x']': bad escape at column 5"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rjson_path *p = NULL;
        assert_int_equal(rjson_path_parse(bad[i].path, strlen(bad[i].path), &p), BURROW_EINVAL);
        assert_null(p);
        assert_string_equal(burrow_errmsg(), bad[i].msg);
    }
    rjson_path *p = path_ok("$.a[3]");
    const char *k;
    size_t kn;
    int64_t idx;
    bool is_index;
    rjson_path_last(p, &k, &kn, &idx, &is_index);
    assert_true(is_index);
    assert_int_equal(idx, 3);
    rjson_path_free(p);
    p = path_ok("$['a b']");
    rjson_path_last(p, &k, &kn, &idx, &is_index);
    assert_false(is_index);
    assert_int_equal(kn, 3);
    assert_memory_equal(k, "a b", 3);
    rjson_path_free(p);
}

/* ---- finding ----------------------------------------------------------------- */

static void test_find_table(void **state)
{
    (void)state;
    /* The document of RedisJSON's JSON.NUMINCRBY / JSON.GET examples. */
    const char *doc = "{'a':'b','b':[{'a':2},{'a':5},{'a':'c'}]}";
    static const struct {
        const char *doc, *path, *expect;
    } cases[] = {
        {NULL, "$..a", "['b',2,5,'c']"},
        {NULL, "$.a", "['b']"},
        {NULL, "a", "['b']"},
        {NULL, ".", "[{'a':'b','b':[{'a':2},{'a':5},{'a':'c'}]}]"},
        {NULL, "$.b[*].a", "[2,5,'c']"},
        {NULL, "$.b[0,2]", "[{'a':2},{'a':'c'}]"},
        {NULL, "$.b[2,0,2]", "[{'a':'c'},{'a':2},{'a':'c'}]"},
        {NULL, "$.b[-1].a", "['c']"},
        {NULL, "$.b[-4]", "[]"},
        {NULL, "$.b[3]", "[]"},
        {NULL, "$.b[1:]", "[{'a':5},{'a':'c'}]"},
        {NULL, "$.b[:-1].a", "[2,5]"},
        {NULL, "$.b[::2].a", "[2,'c']"},
        {NULL, "$.b[-100:100:2].a", "[2,'c']"},
        {NULL, "$.b[2:1]", "[]"},
        {NULL, "$['a','b','zz','a']", "['b',[{'a':2},{'a':5},{'a':'c'}],'b']"},
        {NULL, "$.*", "['b',[{'a':2},{'a':5},{'a':'c'}]]"},
        {NULL, ".b[1].a", "[5]"},
        {NULL, "b[1]['a']", "[5]"},
        {NULL, "$.nope", "[]"},
        {NULL, "$.a.b", "[]"},
        {NULL, "$.b.a", "[]"},
        {NULL, "$.b['0']", "[]"},
        {NULL, "$[0]", "[]"},
        {NULL, "$..b[0]", "[{'a':2}]"},
        /* ".." takes a value before what is below it */
        {"{'x':{'a':1},'a':2}", "$..a", "[2,1]"},
        {"{'a':{'a':{'a':1}}}", "$..a", "[{'a':{'a':1}},{'a':1},1]"},
        {"[[1,[2]],3]", "$..*", "[[1,[2]],3,1,[2],2]"},
        {"[[1,[2]],3]", "$..[0]", "[[1,[2]],1,2]"},
        {"{'0':'k','x':['i']}", "$.0", "['k']"},
        {"{'0':'k','x':['i']}", "$.x.0", "[]"},
        {"{'a b':1,'c\\'d':2}", "$['a b']", "[1]"},
        {"{'a b':1,'c\\'d':2}", "$[\"c\\\"d\"]", "[2]"},
        {"{'store':{'book':[{'price':8},{'price':12}],'bicycle':{'price':19}}}", "$..price",
         "[8,12,19]"},
        {"{'store':{'book':[{'price':8},{'price':12}],'bicycle':{'price':19}}}", "$.store.*.price",
         "[19]"},
        {"5", "$", "[5]"},
        {"5", "$.*", "[]"},
        {"5", "$..*", "[]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = find_json(cases[i].doc ? cases[i].doc : doc, cases[i].path);
        if (strcmp(got, J(cases[i].expect)) != 0)
            fail_msg("%s on %s: got %s, want %s", cases[i].path, cases[i].doc ? cases[i].doc : doc,
                     got, J(cases[i].expect));
        free(got);
    }
}

/* Locations: positions from the root, objects counted by stored position. */
static void test_find_locations(void **state)
{
    (void)state;
    buf d = parse(J("{'z':0,'b':[{'a':2},{'q':1,'a':5}]}"));
    rjson_path *p = path_ok("$..a");
    rjson_matches m;
    rjson_matches_init(&m);
    assert_int_equal(rjson_find(root_of(&d), p, -1, &m), 0);
    assert_int_equal(m.n, 2);
    assert_int_equal(m.v[0].depth, 3);
    assert_int_equal(m.locs[m.v[0].loc + 0], 1);
    assert_int_equal(m.locs[m.v[0].loc + 1], 0);
    assert_int_equal(m.locs[m.v[0].loc + 2], 0);
    assert_int_equal(m.locs[m.v[1].loc + 1], 1);
    assert_int_equal(m.locs[m.v[1].loc + 2], 1);
    /* the first steps only: the parents of a path (JSON.SET creating a key) */
    rjson_matches_clear(&m);
    rjson_path_free(p);
    p = path_ok("$.b[1].a");
    assert_int_equal(rjson_find(root_of(&d), p, 2, &m), 0);
    assert_int_equal(m.n, 1);
    assert_int_equal(doc_type(m.v[0].val), DOC_OBJECT);
    rjson_matches_free(&m);
    rjson_path_free(p);
    buf_free(&d);
}

/* An object with a sorted key table (16+ keys): members by bisection. */
static void test_find_big_object(void **state)
{
    (void)state;
    buf text = {0};
    buf_putc(&text, '{');
    for (int i = 0; i < 100; i++) {
        char kv[32];
        int n = snprintf(kv, sizeof kv, "%s\"k%d\":%d", i ? "," : "", (i * 37) % 100, i);
        buf_append(&text, kv, (size_t)n);
    }
    buf_putc(&text, '}');
    buf d = parse(cstr(&text));
    for (int i = 0; i < 100; i++) {
        char path[16];
        snprintf(path, sizeof path, "$.k%d", (i * 37) % 100);
        rjson_path *p = path_ok(path);
        rjson_matches m;
        rjson_matches_init(&m);
        assert_int_equal(rjson_find(root_of(&d), p, -1, &m), 0);
        assert_int_equal(m.n, 1);
        assert_int_equal(m.locs[m.v[0].loc], i);
        int64_t v;
        assert_int_equal(doc_get_int(m.v[0].val, &v), 0);
        assert_int_equal(v, i);
        rjson_matches_free(&m);
        rjson_path_free(p);
    }
    buf_free(&d);
    buf_free(&text);
}

/* ---- reading ----------------------------------------------------------------- */

static void test_types_equal_arrindex(void **state)
{
    (void)state;
    buf d = parse(J("[null,true,false,1,1.5,'s',[1],{'a':1}]"));
    static const char *names[] = {"null",   "boolean", "boolean", "integer",
                                  "number", "string",  "array",   "object"};
    doc_val root = root_of(&d);
    for (uint32_t i = 0; i < 8; i++) {
        doc_val v;
        assert_int_equal(doc_array_at(root, i, &v), 0);
        assert_string_equal(rjson_type_name(v), names[i]);
    }
    buf_free(&d);

    static const struct {
        const char *a, *b;
        bool eq;
    } eq[] = {
        {"1", "1", true},         {"1", "1.0", false},     {"1.0", "1.0", true},
        {"'a'", "'a'", true},     {"'a'", "'b'", false},   {"[1,2]", "[1,2]", true},
        {"[1,2]", "[2,1]", false}, {"{'a':1,'b':2}", "{'b':2,'a':1}", true},
        {"{'a':1}", "{'a':1,'b':2}", false}, {"null", "false", false}, {"true", "true", true},
        {"{'a':[1,{'x':null}]}", "{'a':[1,{'x':null}]}", true},
    };
    for (size_t i = 0; i < sizeof eq / sizeof *eq; i++) {
        buf a = parse(J(eq[i].a)), b = parse(J(eq[i].b));
        assert_int_equal(rjson_equal(root_of(&a), root_of(&b)), eq[i].eq);
        buf_free(&a);
        buf_free(&b);
    }

    /* JSON.ARRINDEX examples and RedisJSON's normalisation of start/stop */
    static const struct {
        const char *arr, *v;
        int64_t start, stop, want;
    } ix[] = {
        {"[1,2,3,2]", "2", 0, 0, 1},     {"[1,2,3,2]", "2", 2, 0, 3},
        {"[1,2,3,2]", "2", -1, 0, 3},    {"[1,2,3,2]", "2", 0, 1, -1},
        {"[1,2,3,2]", "2", 0, -1, 1},    {"[1,2,3,2]", "2", 0, -3, -1},
        {"[1,2,3,2]", "2", 99, 0, 3},    {"[1,2,3,2]", "2", -99, 99, 1},
        {"[1,2,3,2]", "4", 0, 0, -1},    {"[]", "1", 0, 0, -1},
        {"[1,1.0]", "1.0", 0, 0, 1},     {"[{'a':[1]},null]", "{'a':[1]}", 0, 0, 0},
        {"[{'a':[1]},null]", "null", 0, 0, 1},
    };
    for (size_t i = 0; i < sizeof ix / sizeof *ix; i++) {
        buf a = parse(J(ix[i].arr)), v = parse(J(ix[i].v));
        int64_t got = rjson_arrindex(root_of(&a), root_of(&v), ix[i].start, ix[i].stop);
        if (got != ix[i].want)
            fail_msg("ARRINDEX %s %s %lld %lld: %lld", ix[i].arr, ix[i].v, (long long)ix[i].start,
                     (long long)ix[i].stop, (long long)got);
        buf_free(&a);
        buf_free(&v);
    }
}

/* ---- changing ----------------------------------------------------------------- */

typedef struct acase {
    const char *doc, *path;
    rjson_op op;
    const char *args;   /* value / values (a JSON array for ARRAPPEND/ARRINSERT) */
    const char *expect; /* the new document, NULL for an error */
    const char *results; /* per target, in match order: the n / number / popped */
    int err;
} acase;

#define OP(k) {.kind = RJSON_##k}

/* Apply one case; results are printed as a JSON-ish list for comparison. */
static void run_case(const acase *c)
{
    buf d = parse(J(c->doc)), arg = {0};
    rjson_path *p = path_ok(c->path);
    rjson_matches m;
    rjson_matches_init(&m);
    assert_int_equal(rjson_find(root_of(&d), p, -1, &m), 0);
    rjson_op op = c->op;
    doc_val values[16];
    if (c->args) {
        arg = parse(J(c->args));
        op.value = root_of(&arg);
        if (op.kind == RJSON_ARRAPPEND || op.kind == RJSON_ARRINSERT) {
            op.nvalues = doc_count(op.value);
            assert_true(op.nvalues <= 16);
            for (uint32_t i = 0; i < op.nvalues; i++)
                assert_int_equal(doc_array_at(op.value, i, &values[i]), 0);
            op.values = values;
        }
    }
    size_t *sel = calloc(m.n + 1, sizeof *sel);
    rjson_result *res = calloc(m.n + 1, sizeof *res);
    for (size_t i = 0; i < m.n; i++)
        sel[i] = i;
    doc_builder b;
    doc_builder_init(&b);
    bool changed;
    int rc = rjson_apply(root_of(&d), &m, sel, m.n, &op, &b, res, &changed);
    if (!c->expect) {
        if (rc != c->err)
            fail_msg("%s on %s: rc %d, want %d", c->path, c->doc, rc, c->err);
    } else {
        if (rc)
            fail_msg("%s on %s: %d %s", c->path, c->doc, rc, burrow_errmsg());
        const uint8_t *data;
        size_t len;
        assert_int_equal(doc_builder_finish(&b, &data, &len), 0);
        assert_int_equal(doc_validate(data, len), 0);
        buf out = {0};
        doc_val nv;
        assert_int_equal(doc_root(data, len, &nv), 0);
        put_json(nv, &out);
        char *got = cstr(&out);
        if (strcmp(got, J(c->expect)) != 0)
            fail_msg("%s on %s: got %s, want %s", c->path, c->doc, got, J(c->expect));
        buf_free(&out);
        /* results: "applied:value" per target */
        buf r = {0};
        bool any = false;
        for (size_t i = 0; i < m.n; i++) {
            char tmp[64];
            int n;
            any = any || res[i].applied;
            if (i)
                buf_putc(&r, ',');
            if (!res[i].applied)
                n = snprintf(tmp, sizeof tmp, "-");
            else if (op.kind == RJSON_NUMINCRBY || op.kind == RJSON_NUMMULTBY)
                n = res[i].is_double ? (int)json_format_double(res[i].num_d, tmp)
                                     : snprintf(tmp, sizeof tmp, "%lld", (long long)res[i].num_i);
            else if (op.kind == RJSON_ARRPOP)
                n = snprintf(tmp, sizeof tmp, "%.*s", (int)res[i].popped.size,
                             (const char *)res[i].popped.data);
            else if (op.kind == RJSON_SET || op.kind == RJSON_DEL || op.kind == RJSON_ADDKEY)
                n = snprintf(tmp, sizeof tmp, "+");
            else
                n = snprintf(tmp, sizeof tmp, "%lld", (long long)res[i].n);
            buf_append(&r, tmp, (size_t)n);
        }
        assert_int_equal(changed, any);
        char *rs = cstr(&r);
        if (strcmp(rs, J(c->results)) != 0)
            fail_msg("%s on %s: results %s, want %s", c->path, c->doc, rs, J(c->results));
        buf_free(&r);
    }
    rjson_results_free(res, m.n);
    free(res);
    free(sel);
    doc_builder_free(&b);
    rjson_matches_free(&m);
    rjson_path_free(p);
    buf_free(&arg);
    buf_free(&d);
}

static void test_apply_table(void **state)
{
    (void)state;
    static const acase cases[] = {
        /* JSON.SET: replace every match; the outer target wins */
        {"{'a':1,'b':{'a':2}}", "$..a", OP(SET), "'x'", "{'a':'x','b':{'a':'x'}}", "+,+", 0},
        {"{'a':{'a':1}}", "$..a", OP(SET), "0", "{'a':0}", "+,-", 0},
        {"[1,2]", "$", OP(SET), "{}", "{}", "+", 0},
        /* JSON.SET creating a key: ADDKEY at the parent */
        {"{'a':{}}", "$.a", {.kind = RJSON_ADDKEY, .key = "k", .klen = 1}, "[1]",
         "{'a':{'k':[1]}}", "+", 0},
        {"{'a':{'k':0}}", "$.a", {.kind = RJSON_ADDKEY, .key = "k", .klen = 1}, "1",
         "{'a':{'k':0}}", "-", 0},
        {"{'a':[]}", "$.a", {.kind = RJSON_ADDKEY, .key = "k", .klen = 1}, "1", "{'a':[]}", "-", 0},
        /* JSON.DEL */
        {"{'a':1,'b':{'a':2,'c':{'a':3}}}", "$..a", OP(DEL), NULL, "{'b':{'c':{}}}", "+,+,+", 0},
        {"{'a':{'a':1},'b':2}", "$..a", OP(DEL), NULL, "{'b':2}", "+,-", 0},
        {"[0,1,2,3]", "$[1,3,1]", OP(DEL), NULL, "[0,2]", "+,+,-", 0},
        {"[0,1,2,3]", "$[*]", OP(DEL), NULL, "[]", "+,+,+,+", 0},
        {"{'x':1}", "$", OP(DEL), NULL, NULL, NULL, BURROW_EINVAL},
        /* JSON.NUMINCRBY / NUMMULTBY (RedisJSON's example: [null,4,7,null]
         * once the command has dropped the non-numbers) */
        {"{'a':'b','b':[{'a':2},{'a':5},{'a':'c'}]}", "$.b[0,1].a",
         {.kind = RJSON_NUMINCRBY}, "2", "{'a':'b','b':[{'a':4},{'a':7},{'a':'c'}]}", "4,7", 0},
        {"{'n':1}", "$.n", {.kind = RJSON_NUMINCRBY}, "1.5", "{'n':2.5}", "2.5", 0},
        {"{'n':1.5}", "$.n", {.kind = RJSON_NUMINCRBY}, "1", "{'n':2.5}", "2.5", 0},
        {"{'n':1}", "$.n", {.kind = RJSON_NUMINCRBY}, "1.0", "{'n':2.0}", "2.0", 0},
        {"{'n':9223372036854775807}", "$.n", {.kind = RJSON_NUMINCRBY}, "1",
         "{'n':9.223372036854776e+18}", "9.223372036854776e+18", 0},
        {"{'n':-9223372036854775808}", "$.n", {.kind = RJSON_NUMINCRBY}, "-1",
         "{'n':-9.223372036854776e+18}", "-9.223372036854776e+18", 0},
        {"{'n':3}", "$.n", {.kind = RJSON_NUMMULTBY}, "-4", "{'n':-12}", "-12", 0},
        {"{'n':3}", "$.n", {.kind = RJSON_NUMMULTBY}, "0.5", "{'n':1.5}", "1.5", 0},
        {"{'n':4611686018427387904}", "$.n", {.kind = RJSON_NUMMULTBY}, "2",
         "{'n':9.223372036854776e+18}", "9.223372036854776e+18", 0},
        {"{'n':1e308}", "$.n", {.kind = RJSON_NUMMULTBY}, "10", NULL, NULL, BURROW_ERANGE},
        {"{'n':'s'}", "$.n", {.kind = RJSON_NUMINCRBY}, "1", NULL, NULL, BURROW_ETYPE},
        /* JSON.STRAPPEND (byte lengths) */
        {"{'s':'foo','t':'\xc3\xa9'}", "$.*", {.kind = RJSON_STRAPPEND}, "'baz'",
         "{'s':'foobaz','t':'\xc3\xa9" "baz'}", "6,5", 0},
        {"{'s':1}", "$.s", {.kind = RJSON_STRAPPEND}, "'x'", NULL, NULL, BURROW_ETYPE},
        /* JSON.ARRAPPEND / ARRINSERT */
        {"{'a':[1]}", "$.a", {.kind = RJSON_ARRAPPEND}, "[2,'x',{}]", "{'a':[1,2,'x',{}]}", "4", 0},
        /* nested targets: the inner array first, then the outer one */
        {"{'a':[{'a':[1]}]}", "$..a", {.kind = RJSON_ARRAPPEND}, "[9]", "{'a':[{'a':[1,9]},9]}",
         "2,2", 0},
        {"[1,2]", "$", {.kind = RJSON_ARRINSERT, .index = 1}, "['x']", "[1,'x',2]", "3", 0},
        {"[1,2]", "$", {.kind = RJSON_ARRINSERT, .index = -1}, "['x']", "[1,'x',2]", "3", 0},
        {"[1,2]", "$", {.kind = RJSON_ARRINSERT, .index = 2}, "['x','y']", "[1,2,'x','y']", "4", 0},
        {"[1,2]", "$", {.kind = RJSON_ARRINSERT, .index = -2}, "['x']", "['x',1,2]", "3", 0},
        {"[1,2]", "$", {.kind = RJSON_ARRINSERT, .index = 3}, "['x']", NULL, NULL, BURROW_ERANGE},
        {"[1,2]", "$", {.kind = RJSON_ARRINSERT, .index = -3}, "['x']", NULL, NULL, BURROW_ERANGE},
        {"{'a':1}", "$.a", {.kind = RJSON_ARRAPPEND}, "[1]", NULL, NULL, BURROW_ETYPE},
        /* JSON.ARRPOP: the index is clamped, an empty array pops nothing */
        {"[1,2,3]", "$", {.kind = RJSON_ARRPOP, .index = -1}, NULL, "[1,2]", "3", 0},
        {"[1,2,3]", "$", {.kind = RJSON_ARRPOP, .index = 0}, NULL, "[2,3]", "1", 0},
        {"[1,2,3]", "$", {.kind = RJSON_ARRPOP, .index = 99}, NULL, "[1,2]", "3", 0},
        {"[1,2,3]", "$", {.kind = RJSON_ARRPOP, .index = -99}, NULL, "[2,3]", "1", 0},
        {"[1,{'a':[2]},3]", "$", {.kind = RJSON_ARRPOP, .index = 1}, NULL, "[1,3]", "{'a':[2]}", 0},
        {"{'a':[],'b':['x']}", "$.*", {.kind = RJSON_ARRPOP, .index = -1}, NULL,
         "{'a':[],'b':[]}", "-,'x'", 0},
        /* JSON.ARRTRIM */
        {"[1,2,3,4,5]", "$", {.kind = RJSON_ARRTRIM, .start = 1, .stop = 3}, NULL, "[2,3,4]", "3", 0},
        {"[1,2,3,4,5]", "$", {.kind = RJSON_ARRTRIM, .start = 0, .stop = -1}, NULL,
         "[1,2,3,4,5]", "5", 0},
        {"[1,2,3,4,5]", "$", {.kind = RJSON_ARRTRIM, .start = -2, .stop = -1}, NULL, "[4,5]", "2", 0},
        {"[1,2,3,4,5]", "$", {.kind = RJSON_ARRTRIM, .start = 3, .stop = 1}, NULL, "[]", "0", 0},
        {"[1,2,3,4,5]", "$", {.kind = RJSON_ARRTRIM, .start = 5, .stop = 9}, NULL, "[]", "0", 0},
        {"[1,2,3,4,5]", "$", {.kind = RJSON_ARRTRIM, .start = 0, .stop = 99}, NULL,
         "[1,2,3,4,5]", "5", 0},
        {"[1,2,3,4,5]", "$", {.kind = RJSON_ARRTRIM, .start = -99, .stop = 0}, NULL, "[1]", "1", 0},
        {"[]", "$", {.kind = RJSON_ARRTRIM, .start = 0, .stop = -1}, NULL, "[]", "0", 0},
        /* JSON.CLEAR */
        {"{'a':[1],'b':{'x':1},'c':5,'d':'s','e':0,'f':2.5,'g':true,'h':[]}", "$.*", OP(CLEAR),
         NULL, "{'a':[],'b':{},'c':0,'d':'s','e':0,'f':0,'g':true,'h':[]}",
         "1,1,1,-,-,1,-,-", 0},
        {"{'a':{'b':[1]}}", "$..*", OP(CLEAR), NULL, "{'a':{}}", "1,-,-", 0},
        {"{'a':{'b':[1]}}", "$", OP(CLEAR), NULL, "{}", "1", 0},
        /* JSON.TOGGLE */
        {"{'a':true,'b':[false]}", "$..[0]", OP(TOGGLE), NULL, "{'a':true,'b':[true]}", "1", 0},
        {"{'a':true,'b':[false]}", "$.a", OP(TOGGLE), NULL, "{'a':false,'b':[false]}", "0", 0},
        {"{'a':1}", "$.a", OP(TOGGLE), NULL, NULL, NULL, BURROW_ETYPE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        run_case(&cases[i]);
    }
}

/* Repeated targets change once and share the result. */
static void test_apply_repeats(void **state)
{
    (void)state;
    acase c = {"{'n':1}", "$['n','n']", {.kind = RJSON_NUMINCRBY}, "1", "{'n':2}", "2,2", 0};
    run_case(&c);
    /* ARRPOP targets arrays; here the targets are ints: an error */
    acase e = {"[1,2]", "$[0,-2]", {.kind = RJSON_ARRPOP}, NULL, NULL, NULL, BURROW_ETYPE};
    run_case(&e);
}

/* ---- randomised: the matcher against a reference ----------------------------- */

/* A random document over few keys so that paths hit. */
static void gen_value(tu_rng *r, buf *out, int depth)
{
    static const char *keys[] = {"a", "b", "c", "d"};
    unsigned pick = (unsigned)tu_below(r, depth >= 4 ? 4 : 8);
    char tmp[32];
    switch (pick) {
    case 0: buf_append(out, "null", 4); break;
    case 1:
        if (tu_chance(r, 1, 2))
            buf_append(out, "true", 4);
        else
            buf_append(out, "false", 5);
        break;
    case 2: buf_append(out, tmp, (size_t)snprintf(tmp, sizeof tmp, "%d", (int)tu_below(r, 100) - 50)); break;
    case 3: buf_append(out, tmp, (size_t)snprintf(tmp, sizeof tmp, "\"s%d\"", (int)tu_below(r, 5))); break;
    case 4:
    case 5: {
        unsigned n = (unsigned)tu_below(r, 5);
        buf_putc(out, '[');
        for (unsigned i = 0; i < n; i++) {
            if (i)
                buf_putc(out, ',');
            gen_value(r, out, depth + 1);
        }
        buf_putc(out, ']');
        break;
    }
    default: {
        unsigned used = 0;
        bool first = true;
        buf_putc(out, '{');
        for (unsigned i = 0; i < 4; i++) {
            if (!tu_chance(r, 2, 3))
                continue;
            unsigned k = (unsigned)tu_below(r, 4);
            if (used & (1u << k))
                continue;
            used |= 1u << k;
            if (!first)
                buf_putc(out, ',');
            first = false;
            buf_append(out, tmp, (size_t)snprintf(tmp, sizeof tmp, "\"%s\":", keys[k]));
            gen_value(r, out, depth + 1);
        }
        buf_putc(out, '}');
        break;
    }
    }
}

/* A random path step, both as text and as the reference's description. */
typedef struct rstep {
    int kind; /* 0 key, 1 indexes, 2 slice, 3 all */
    bool descent;
    char key[2];
    int64_t idx[3];
    int nidx;
    bool has_s, has_e;
    int64_t s, e, st;
} rstep;

static void gen_path(tu_rng *r, rstep *steps, int *nsteps, buf *text)
{
    char tmp[64];
    int n = (int)tu_below(r, 4);
    buf_putc(text, '$');
    for (int i = 0; i < n; i++) {
        rstep *s = &steps[i];
        memset(s, 0, sizeof *s);
        s->descent = tu_chance(r, 1, 4);
        s->kind = (int)tu_below(r, 4);
        s->st = 1;
        if (s->descent)
            buf_append(text, "..", 2);
        switch (s->kind) {
        case 0:
            s->key[0] = (char)('a' + tu_below(r, 4));
            if (tu_chance(r, 1, 2))
                buf_append(text, tmp, (size_t)snprintf(tmp, sizeof tmp, "%s%s", s->descent ? "" : ".", s->key));
            else
                buf_append(text, tmp, (size_t)snprintf(tmp, sizeof tmp, "['%s']", s->key));
            break;
        case 1:
            s->nidx = 1 + (int)tu_below(r, 3);
            buf_putc(text, '[');
            for (int k = 0; k < s->nidx; k++) {
                s->idx[k] = (int64_t)tu_below(r, 9) - 4;
                buf_append(text, tmp, (size_t)snprintf(tmp, sizeof tmp, "%s%lld", k ? "," : "", (long long)s->idx[k]));
            }
            buf_putc(text, ']');
            break;
        case 2:
            s->has_s = tu_chance(r, 1, 2);
            s->has_e = tu_chance(r, 1, 2);
            s->s = (int64_t)tu_below(r, 9) - 4;
            s->e = (int64_t)tu_below(r, 9) - 4;
            s->st = 1 + (int64_t)tu_below(r, 3);
            buf_putc(text, '[');
            if (s->has_s)
                buf_append(text, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)s->s));
            buf_putc(text, ':');
            if (s->has_e)
                buf_append(text, tmp, (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)s->e));
            buf_append(text, tmp, (size_t)snprintf(tmp, sizeof tmp, ":%lld]", (long long)s->st));
            break;
        default: buf_append(text, s->descent ? "*" : ".*", s->descent ? 1 : 2); break;
        }
    }
    *nsteps = n;
}

/* The reference: a list of values, transformed one step at a time. */
typedef struct vlist {
    doc_val *v;
    size_t n, cap;
} vlist;

static void vpush(vlist *l, doc_val v)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    l->v[l->n++] = v;
}

static void preorder(doc_val v, vlist *out)
{
    vpush(out, v);
    doc_iter it;
    doc_iter_init(&it, v);
    doc_val c;
    while (doc_iter_next(&it, NULL, NULL, &c) == 1)
        preorder(c, out);
}

static void ref_select(doc_val v, const rstep *s, vlist *out)
{
    enum doc_type t = doc_type(v);
    int64_t n = doc_count(v);
    doc_val c;
    if (s->kind == 3) {
        doc_iter it;
        doc_iter_init(&it, v);
        while (doc_iter_next(&it, NULL, NULL, &c) == 1)
            vpush(out, c);
    } else if (s->kind == 0) {
        if (t == DOC_OBJECT && doc_object_get(v, s->key, 1, &c) == 0)
            vpush(out, c);
    } else if (t == DOC_ARRAY && s->kind == 1) {
        for (int k = 0; k < s->nidx; k++) {
            int64_t i = s->idx[k] < 0 ? s->idx[k] + n : s->idx[k];
            if (i >= 0 && i < n && doc_array_at(v, (uint32_t)i, &c) == 0)
                vpush(out, c);
        }
    } else if (t == DOC_ARRAY && s->kind == 2) {
        int64_t a = s->has_s ? s->s : 0, e = s->has_e ? s->e : n;
        if (a < 0)
            a = a + n < 0 ? 0 : a + n;
        if (a > n)
            a = n;
        if (e < 0)
            e = e + n < 0 ? 0 : e + n;
        if (e > n)
            e = n;
        for (int64_t i = a; i < e; i += s->st)
            if (doc_array_at(v, (uint32_t)i, &c) == 0)
                vpush(out, c);
    }
}

static void test_random_find(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(3000, 100000);
    for (unsigned round = 0; round < rounds; round++) {
        buf text = {0}, ptext = {0};
        gen_value(&r, &text, 0);
        buf d = parse(cstr(&text));
        rstep steps[4];
        int ns;
        gen_path(&r, steps, &ns, &ptext);
        rjson_path *p = path_ok(cstr(&ptext));
        rjson_matches m;
        rjson_matches_init(&m);
        assert_int_equal(rjson_find(root_of(&d), p, -1, &m), 0);

        vlist cur = {0};
        vpush(&cur, root_of(&d));
        for (int i = 0; i < ns; i++) {
            vlist src = {0}, next = {0};
            if (steps[i].descent)
                for (size_t k = 0; k < cur.n; k++)
                    preorder(cur.v[k], &src);
            else
                src = cur, cur = (vlist){0};
            for (size_t k = 0; k < src.n; k++)
                ref_select(src.v[k], &steps[i], &next);
            free(src.v);
            free(cur.v);
            cur = next;
        }
        if (cur.n != m.n)
            fail_msg("round %u: %s on %s: %zu matches, reference %zu", round, (char *)ptext.data,
                     (char *)text.data, m.n, cur.n);
        for (size_t k = 0; k < m.n; k++) {
            assert_ptr_equal(m.v[k].val.p, cur.v[k].p);
            /* the location leads to the value */
            doc_val v = root_of(&d);
            for (uint32_t s = 0; s < m.v[k].depth; s++) {
                doc_container c;
                assert_int_equal(doc_container_open(v, &c), 0);
                assert_int_equal(doc_container_elem(&c, m.locs[m.v[k].loc + s], NULL, NULL, &v), 0);
            }
            assert_ptr_equal(v.p, m.v[k].val.p);
        }
        free(cur.v);
        rjson_matches_free(&m);
        rjson_path_free(p);
        buf_free(&d);
        buf_free(&text);
        buf_free(&ptext);
    }
}

/* ---- randomised: operations through properties --------------------------------- */

static size_t count_values(doc_val v)
{
    size_t n = 1;
    doc_iter it;
    doc_iter_init(&it, v);
    doc_val c;
    while (doc_iter_next(&it, NULL, NULL, &c) == 1)
        n += count_values(c);
    return n;
}

static int apply_all(doc_val root, const rjson_matches *m, const rjson_op *op, buf *out,
                     rjson_result **res_out, size_t *sel_n, bool numbers_only)
{
    size_t *sel = calloc(m->n + 1, sizeof *sel);
    size_t n = 0;
    for (size_t i = 0; i < m->n; i++)
        if (!numbers_only || doc_is_number(m->v[i].val))
            sel[n++] = i;
    rjson_result *res = calloc(n + 1, sizeof *res);
    doc_builder b;
    doc_builder_init(&b);
    int rc = rjson_apply(root, m, sel, n, op, &b, res, NULL);
    if (!rc)
        assert_int_equal(doc_builder_take(&b, out), 0);
    doc_builder_free(&b);
    free(sel);
    *res_out = res;
    *sel_n = n;
    return rc;
}

static void test_random_ops(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_mix(tu_seed()));
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(2000, 50000);
    for (unsigned round = 0; round < rounds; round++) {
        buf text = {0}, ptext = {0};
        gen_value(&r, &text, 0);
        buf d = parse(cstr(&text));
        rstep steps[4];
        int ns;
        gen_path(&r, steps, &ns, &ptext);
        rjson_path *p = path_ok(cstr(&ptext));
        rjson_matches m;
        rjson_matches_init(&m);
        doc_val root = root_of(&d);
        assert_int_equal(rjson_find(root, p, -1, &m), 0);

        /* NUMINCRBY k then -k gives back the same bytes (small ints never
         * overflow); every number matched changed by k once. */
        int64_t k = (int64_t)tu_below(&r, 10) + 1;
        char ktext[24];
        snprintf(ktext, sizeof ktext, "%lld", (long long)k);
        buf kd = parse(ktext);
        rjson_op op = {.kind = RJSON_NUMINCRBY, .value = root_of(&kd)};
        buf once = {0}, back = {0};
        rjson_result *res;
        size_t nres;
        assert_int_equal(apply_all(root, &m, &op, &once, &res, &nres, true), 0);
        assert_int_equal(doc_validate(once.data, once.size), 0);
        size_t r_i = 0;
        for (size_t i = 0; i < m.n; i++) {
            if (!doc_is_number(m.v[i].val))
                continue;
            int64_t old;
            assert_int_equal(doc_get_int(m.v[i].val, &old), 0);
            assert_false(res[r_i].is_double);
            assert_int_equal(res[r_i].num_i, old + k);
            r_i++;
        }
        rjson_results_free(res, nres);
        free(res);
        /* the locations are the same in the new document */
        rjson_matches m2;
        rjson_matches_init(&m2);
        doc_val root2;
        assert_int_equal(doc_root(once.data, once.size, &root2), 0);
        assert_int_equal(rjson_find(root2, p, -1, &m2), 0);
        assert_int_equal(m2.n, m.n);
        buf_free(&kd);
        snprintf(ktext, sizeof ktext, "%lld", (long long)-k);
        kd = parse(ktext);
        op.value = root_of(&kd);
        assert_int_equal(apply_all(root2, &m2, &op, &back, &res, &nres, true), 0);
        rjson_results_free(res, nres);
        free(res);
        assert_int_equal(back.size, d.size);
        assert_memory_equal(back.data, d.data, d.size);
        rjson_matches_free(&m2);

        /* DEL: removes exactly the outermost targets' subtrees */
        if (ns > 0) {
            buf del = {0};
            rjson_op dop = {.kind = RJSON_DEL};
            assert_int_equal(apply_all(root, &m, &dop, &del, &res, &nres, false), 0);
            size_t removed = 0;
            for (size_t i = 0; i < nres; i++)
                if (res[i].applied)
                    removed += count_values(m.v[i].val);
            doc_val nr;
            assert_int_equal(doc_validate(del.data, del.size), 0);
            assert_int_equal(doc_root(del.data, del.size, &nr), 0);
            assert_int_equal(count_values(nr), count_values(root) - removed);
            rjson_results_free(res, nres);
            free(res);
            buf_free(&del);
        }
        buf_free(&kd);
        buf_free(&once);
        buf_free(&back);
        rjson_matches_free(&m);
        rjson_path_free(p);
        buf_free(&d);
        buf_free(&text);
        buf_free(&ptext);
    }
}

/* A damaged document never reads outside itself (run under the sanitizers). */
static void test_damaged(void **state)
{
    (void)state;
    buf d = parse(J("{'a':[1,{'b':[2,3]},'xyz'],'c':{'d':null}}"));
    rjson_path *p = path_ok("$..*");
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x5eed);
    for (int round = 0; round < 2000; round++) {
        buf x = {0};
        buf_append(&x, d.data, d.size);
        size_t at = 1 + (size_t)tu_below(&r, x.size - 1);
        x.data[at] ^= (uint8_t)(1 + tu_below(&r, 255));
        doc_val root;
        if (doc_root(x.data, x.size, &root) == 0) {
            rjson_matches m;
            rjson_matches_init(&m);
            int rc = rjson_find(root, p, -1, &m);
            assert_true(rc == 0 || rc == BURROW_ECORRUPT);
            rjson_matches_free(&m);
        }
        buf_free(&x);
    }
    rjson_path_free(p);
    buf_free(&d);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_parse),      cmocka_unit_test(test_find_table),
        cmocka_unit_test(test_find_locations),  cmocka_unit_test(test_find_big_object),
        cmocka_unit_test(test_types_equal_arrindex), cmocka_unit_test(test_apply_table),
        cmocka_unit_test(test_apply_repeats),   cmocka_unit_test(test_random_find),
        cmocka_unit_test(test_random_ops),      cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
