/*
 * cmd_json.c — the JSON.* commands, compatible with RedisJSON 2.x so that
 * its client libraries (redis-py's r.json(), node-redis, ioredis users)
 * work unchanged. docs/commands-json.md is the user's reference.
 *
 * A JSON key is a keyspace value of type KS_JSON holding a binary document
 * (doc/doc.h). Paths and the operations on documents are doc/rjson.c's;
 * this file reads the arguments, picks RedisJSON's reply form and stores
 * the result.
 *
 * RedisJSON's rules, which every command here follows:
 *  - A path starting with '$' is JSONPath: it may match many values and
 *    the reply has one entry per match, null where the match has the wrong
 *    type for the command. Any other path is legacy: the reply is one
 *    value (the first match for reads, the last one changed for writes),
 *    and a path that matches nothing of the right type is an error.
 *  - Errors name the path as RedisJSON rewrites it ("a" -> "$.a"), except
 *    where RedisJSON quotes it as given (ARRAPPEND, ARRLEN, ARRINDEX on a
 *    missing key).
 *  - A change keeps the key's TTL, as RedisJSON changes a value in place.
 *
 * Where the words differ from RedisJSON's (docs/commands-json.md): JSON
 * text errors say what our parser found, as "<reason> at line L column C",
 * path errors say what is wrong at which column, and every error reply
 * starts with an error code (RedisJSON sends some bare).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "doc/doc.h"
#include "doc/rjson.h"
#include "server/command.h"

#define ERR_NO_KEY "ERR could not perform this operation on a key that doesn't exist"

/* ---- arguments ------------------------------------------------------------ */

/* A JSON key as read: exists, and its root when it does. */
typedef struct jkey {
    const resp_arg *name;
    bool exists;
    ks_value v;
    doc_val root;
} jkey;

/* Per-command state, freed in one place. */
typedef struct jcmd {
    cmd_ctx *c;
    jkey key;
    rjson_path *path;
    rjson_matches m;
    size_t *sel;
    size_t nsel;
    rjson_result *res;
    doc_builder b;
    buf arg;  /* a parsed JSON argument */
    buf args; /* several (ARRAPPEND, ARRINSERT): one array document */
    doc_val *values;
    size_t nvalues;
} jcmd;

static void jcmd_init(jcmd *j, cmd_ctx *c)
{
    memset(j, 0, sizeof *j);
    j->c = c;
    rjson_matches_init(&j->m);
    doc_builder_init(&j->b);
}

static void jcmd_free(jcmd *j)
{
    rjson_path_free(j->path);
    rjson_matches_free(&j->m);
    free(j->sel);
    if (j->res)
        rjson_results_free(j->res, j->nsel);
    free(j->res);
    doc_builder_free(&j->b);
    buf_free(&j->arg);
    buf_free(&j->args);
    free(j->values);
}

/* Most helpers return 0 to go on, 1 when they have written an error reply
 * (the command then returns 0), or a negative code for cmd_fail. */
#define REPLIED 1

static int reply_err(cmd_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reply_err(cmd_ctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int rc = resp_error(c->out, msg, strlen(msg));
    return rc ? rc : REPLIED;
}

/* Look up the key of argument i. WRONGTYPE for a key of another type. */
static int load_key(jcmd *j, uint32_t i)
{
    cmd_ctx *c = j->c;
    j->key.name = &c->argv[i];
    int rc = cmd_lookup(c, c->argv[i].ptr, c->argv[i].len, &j->key.v);
    if (rc == BURROW_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (j->key.v.type != KS_JSON) {
        cmd_err_wrongtype(c);
        return REPLIED;
    }
    if ((rc = doc_root(j->key.v.data, j->key.v.len, &j->key.root)))
        return rc;
    j->key.exists = true;
    return 0;
}

static int parse_path(jcmd *j, const char *s, size_t n)
{
    int rc = rjson_path_parse(s, n, &j->path);
    if (rc == BURROW_EINVAL)
        return reply_err(j->c, "ERR %s", burrow_errmsg());
    return rc;
}

static const char *fixed(const jcmd *j) { return rjson_path_fixed(j->path, NULL); }

/* RedisJSON quotes some paths as the client wrote them. */
static int reply_path_err(jcmd *j, const char *what)
{
    return reply_err(j->c, "ERR Path '%s' does not exist%s%s", fixed(j), what ? " or " : "",
                     what ? what : "");
}

/* Parse JSON text into out; a bad text is replied as RedisJSON's serde
 * words are: "<reason> at line L column C". */
static int parse_json(cmd_ctx *c, const resp_arg *a, buf *out)
{
    doc_builder b;
    doc_builder_init(&b);
    int rc = json_parse(a->ptr, a->len, NULL, &b);
    if (!rc)
        rc = doc_builder_take(&b, out);
    doc_builder_free(&b);
    if (rc == BURROW_EJSON) {
        const char *m = burrow_errmsg();
        unsigned line, col;
        int used = 0;
        if (sscanf(m, "%u:%u: %n", &line, &col, &used) == 2 && used > 0)
            return reply_err(c, "ERR %s at line %u column %u", m + used, line, col);
        return reply_err(c, "ERR %s", m);
    }
    if (rc == BURROW_EVALSIZE || rc == BURROW_EINVAL)
        return reply_err(c, "ERR %s", burrow_errmsg());
    return rc;
}

static doc_val root_of(const buf *d)
{
    doc_val v = {0};
    doc_root(d->data, d->size, &v);
    return v;
}

/* Find the path's matches (all steps, or the first nsteps). */
static int find(jcmd *j, int nsteps)
{
    rjson_matches_clear(&j->m);
    return rjson_find(j->key.root, j->path, nsteps, &j->m);
}

typedef bool (*match_fn)(doc_val v);
static bool is_number(doc_val v) { return doc_is_number(v); }
static bool is_string(doc_val v) { return doc_type(v) == DOC_STRING; }
static bool is_array(doc_val v) { return doc_type(v) == DOC_ARRAY; }
static bool is_object(doc_val v) { return doc_type(v) == DOC_OBJECT; }
static bool is_bool(doc_val v) { return doc_type(v) == DOC_TRUE || doc_type(v) == DOC_FALSE; }
static bool any(doc_val v) { return (void)v, true; }
/* JSON.CLEAR's targets: what clearing changes. */
static bool clearable(doc_val v)
{
    enum doc_type t = doc_type(v);
    if (t == DOC_ARRAY || t == DOC_OBJECT)
        return doc_count(v) > 0;
    double d = 0;
    return (t == DOC_INT || t == DOC_DOUBLE) && !doc_get_double(v, &d) && d != 0;
}

/* Select the matches for which ok holds. */
static int select_matches(jcmd *j, match_fn ok)
{
    free(j->sel);
    j->sel = malloc((j->m.n + 1) * sizeof *j->sel);
    if (!j->sel)
        return BURROW_ENOMEM;
    j->nsel = 0;
    for (size_t i = 0; i < j->m.n; i++)
        if (ok(j->m.v[i].val))
            j->sel[j->nsel++] = i;
    return 0;
}

/* Store a new document under the key (keeping its TTL). */
static int store(jcmd *j, const void *data, size_t len)
{
    cmd_ctx *c = j->c;
    const resp_arg *k = j->key.name;
    int rc = ks_set(c->ks, c->txn, k->ptr, k->len, KS_JSON, data, len,
                    j->key.exists ? j->key.v.expire_ms : 0);
    if (rc)
        return rc;
    cmd_touch(c, k->ptr, k->len);
    return 0;
}

/* Apply op at the selected matches and store the result when it changed
 * anything. A refusal (ERANGE, ETYPE) is replied. */
static int apply(jcmd *j, const rjson_op *op, bool *changed)
{
    j->res = calloc(j->nsel + 1, sizeof *j->res);
    if (!j->res)
        return BURROW_ENOMEM;
    bool ch = false;
    int rc = rjson_apply(j->key.root, &j->m, j->sel, j->nsel, op, &j->b, j->res, &ch);
    if (rc == BURROW_ERANGE || rc == BURROW_ETYPE || rc == BURROW_EINVAL ||
        rc == BURROW_EVALSIZE)
        return reply_err(j->c, "ERR %s", burrow_errmsg());
    if (rc)
        return rc;
    if (changed)
        *changed = ch;
    if (!ch)
        return 0;
    const uint8_t *data;
    size_t len;
    if ((rc = doc_builder_finish(&j->b, &data, &len)))
        return rc;
    return store(j, data, len);
}

/* Finish a command: helper results to the command's return. */
static int done(jcmd *j, int rc)
{
    jcmd_free(j);
    if (rc == REPLIED)
        return 0;
    if (rc < 0)
        return cmd_fail(j->c, rc);
    return 0;
}

/* ---- replies ---------------------------------------------------------------- */

/* v as JSON text, formatted, as a bulk string. */
static int reply_value(cmd_ctx *c, doc_val v, const json_format *fmt)
{
    buf t = {0};
    int rc = json_write(v, 0, fmt, &t);
    if (!rc)
        rc = resp_bulk(c->out, t.data, t.size);
    buf_free(&t);
    return rc;
}

/* Write the selected matches (all: sel NULL) as one JSON array document. */
static int build_array(doc_builder *b, const rjson_matches *m)
{
    int rc = doc_builder_begin_array(b);
    for (size_t i = 0; i < m->n && !rc; i++)
        rc = doc_builder_copy(b, m->v[i].val);
    return rc ? rc : doc_builder_end(b);
}

/* One entry per match: ints from f(res) where the match was selected,
 * nulls elsewhere. */
static int reply_int_per_match(jcmd *j, int64_t (*f)(const jcmd *j, size_t k))
{
    cmd_ctx *c = j->c;
    int rc = resp_array(c->out, j->m.n);
    size_t k = 0;
    for (size_t i = 0; i < j->m.n && !rc; i++) {
        if (k < j->nsel && j->sel[k] == i)
            rc = resp_int(c->out, f(j, k++));
        else
            rc = resp_null(c->out, c->proto);
    }
    return rc;
}

static int64_t res_n(const jcmd *j, size_t k) { return j->res[k].n; }

static int put_number(buf *out, const rjson_result *r)
{
    char tmp[40];
    size_t n = r->is_double ? json_format_double(r->num_d, tmp)
                            : resp_i64_to_str(r->num_i, tmp);
    return buf_append(out, tmp, n);
}

/* ---- JSON.SET, JSON.MSET ------------------------------------------------------- */

enum set_mode { SET_ANY, SET_NX, SET_XX };

/* The JSON.SET of value at path into j's key. *ok: whether it was set (OK)
 * or not (nil). */
static int set_at(jcmd *j, enum set_mode mode, doc_val value, bool *ok)
{
    *ok = false;
    bool root = rjson_path_nsteps(j->path) == 0 && strcmp(fixed(j), "$") == 0;
    if (!j->key.exists) {
        if (mode == SET_XX)
            return 0;
        if (!root)
            return reply_err(j->c, "ERR new objects must be created at the root");
        *ok = true;
        return store(j, value.p - 1, value.len + 1);
    }
    if (root) {
        if (mode == SET_NX)
            return 0;
        *ok = true;
        return store(j, value.p - 1, value.len + 1);
    }
    int rc;
    if (mode != SET_NX) {
        if ((rc = find(j, -1)) || (rc = select_matches(j, any)))
            return rc;
        if (j->nsel > 0) {
            rjson_op op = {.kind = RJSON_SET, .value = value};
            if ((rc = apply(j, &op, ok)))
                return rc;
            return 0;
        }
        if (mode == SET_XX)
            return 0;
    }
    /* Create: the last step of a static path, added to its parent. */
    if (!rjson_path_static(j->path))
        return reply_err(j->c, "ERR wrong static path");
    const char *key;
    size_t klen;
    int64_t index;
    bool is_index;
    rjson_path_last(j->path, &key, &klen, &index, &is_index);
    if (is_index) {
        if ((rc = find(j, -1)))
            return rc;
        return j->m.n == 0 ? reply_err(j->c, "ERR array index out of range") : 0;
    }
    if ((rc = find(j, rjson_path_nsteps(j->path) - 1)) || (rc = select_matches(j, any)))
        return rc;
    if (j->nsel == 0)
        return 0;
    rjson_op op = {.kind = RJSON_ADDKEY, .value = value, .key = key, .klen = klen};
    return apply(j, &op, ok);
}

static int cmd_json_set(cmd_ctx *c)
{
    enum set_mode mode = SET_ANY;
    for (uint32_t i = 4; i < c->argc; i++) {
        if (cmd_arg_is(c, i, "NX") && mode == SET_ANY)
            mode = SET_NX;
        else if (cmd_arg_is(c, i, "XX") && mode == SET_ANY)
            mode = SET_XX;
        else if (cmd_arg_is(c, i, "FORMAT") && i + 1 < c->argc && cmd_arg_is(c, i + 1, "JSON"))
            i++;
        else
            return cmd_err_syntax(c);
    }
    jcmd j;
    jcmd_init(&j, c);
    bool ok = false;
    int rc = parse_path(&j, c->argv[2].ptr, c->argv[2].len);
    if (!rc)
        rc = load_key(&j, 1);
    if (!rc)
        rc = parse_json(c, &c->argv[3], &j.arg);
    if (!rc)
        rc = set_at(&j, mode, root_of(&j.arg), &ok);
    if (!rc)
        rc = ok ? resp_ok(c->out) : resp_null(c->out, c->proto);
    return done(&j, rc);
}

/* JSON.MSET key path json [key path json ...]: every triple is checked
 * before any is set, so it sets all or nothing. */
static int cmd_json_mset(cmd_ctx *c)
{
    if ((c->argc - 1) % 3 != 0)
        return cmd_err_arity(c);
    int rc = 0;
    for (uint32_t pass = 0; pass < 2 && !rc; pass++) {
        for (uint32_t i = 1; i < c->argc && !rc; i += 3) {
            jcmd j;
            jcmd_init(&j, c);
            bool ok;
            rc = parse_path(&j, c->argv[i + 1].ptr, c->argv[i + 1].len);
            if (!rc)
                rc = load_key(&j, i);
            if (!rc)
                rc = parse_json(c, &c->argv[i + 2], &j.arg);
            if (!rc && !j.key.exists && rjson_path_nsteps(j.path) > 0)
                rc = reply_err(c, "ERR new objects must be created at the root");
            if (!rc && pass == 1)
                rc = set_at(&j, SET_ANY, root_of(&j.arg), &ok);
            jcmd_free(&j);
        }
    }
    if (rc == REPLIED)
        return 0;
    if (rc)
        return cmd_fail(c, rc);
    return resp_ok(c->out);
}

/* ---- JSON.GET, JSON.MGET, JSON.RESP, JSON.TYPE ------------------------------------ */

static char *dup_arg(const resp_arg *a)
{
    char *s = malloc(a->len + 1);
    if (s) {
        memcpy(s, a->ptr, a->len);
        s[a->len] = '\0';
    }
    return s;
}

/* The text of JSON.GET for one path: legacy, the first match; else an
 * array of every match. */
static int get_one(jcmd *j, const json_format *fmt, bool legacy)
{
    int rc = find(j, -1);
    if (rc)
        return rc;
    if (legacy) {
        if (j->m.n == 0)
            return reply_path_err(j, NULL);
        return reply_value(j->c, j->m.v[0].val, fmt);
    }
    const uint8_t *data;
    size_t len;
    doc_val v;
    if ((rc = doc_builder_begin(&j->b)) || (rc = build_array(&j->b, &j->m)) ||
        (rc = doc_builder_finish(&j->b, &data, &len)) || (rc = doc_root(data, len, &v)))
        return rc;
    return reply_value(j->c, v, fmt);
}

/* Several paths: an object from each path as written to its value (legacy:
 * the first match, and a path without one is an error) or its array of
 * matches. Paths that do not parse are left out, as RedisJSON does. */
static int get_many(jcmd *j, const uint32_t *paths, uint32_t npaths, const json_format *fmt)
{
    cmd_ctx *c = j->c;
    bool legacy = true;
    for (uint32_t i = 0; i < npaths; i++)
        if (c->argv[paths[i]].len > 0 && c->argv[paths[i]].ptr[0] == '$')
            legacy = false;
    doc_builder *b = &j->b;
    int rc = doc_builder_begin(b);
    if (!rc)
        rc = doc_builder_begin_object(b);
    for (uint32_t i = 0; i < npaths && !rc; i++) {
        const resp_arg *a = &c->argv[paths[i]];
        bool seen = false;
        for (uint32_t k = 0; k < i && !seen; k++)
            seen = c->argv[paths[k]].len == a->len && memcmp(c->argv[paths[k]].ptr, a->ptr, a->len) == 0;
        rjson_path *p = NULL;
        if (seen || rjson_path_parse(a->ptr, a->len, &p))
            continue;
        rjson_matches_clear(&j->m);
        rc = rjson_find(j->key.root, p, -1, &j->m);
        if (!rc && legacy && j->m.n == 0) {
            rjson_path_free(p);
            return reply_err(c, "ERR Path '%.*s' does not exist", (int)a->len, a->ptr);
        }
        rjson_path_free(p);
        if (!rc)
            rc = doc_builder_key(b, a->ptr, a->len);
        if (!rc)
            rc = legacy ? doc_builder_copy(b, j->m.v[0].val) : build_array(b, &j->m);
    }
    const uint8_t *data;
    size_t len;
    doc_val v;
    if (rc || (rc = doc_builder_end(b)) || (rc = doc_builder_finish(b, &data, &len)) ||
        (rc = doc_root(data, len, &v)))
        return rc;
    return reply_value(c, v, fmt);
}

static int cmd_json_get(cmd_ctx *c)
{
    char *opt[3] = {NULL, NULL, NULL}; /* indent, newline, space */
    static const char *const names[3] = {"INDENT", "NEWLINE", "SPACE"};
    uint32_t *paths = malloc(c->argc * sizeof *paths);
    uint32_t npaths = 0;
    int rc = paths ? 0 : BURROW_ENOMEM;
    for (uint32_t i = 2; i < c->argc && !rc; i++) {
        int which = -1;
        /* RedisJSON: anything longer than its longest option is a path */
        if (c->argv[i].len <= 8)
            for (int k = 0; k < 3; k++)
                if (cmd_arg_is(c, i, names[k]))
                    which = k;
        if (which >= 0) {
            if (i + 1 >= c->argc) {
                rc = REPLIED;
                cmd_err_arity(c);
                break;
            }
            free(opt[which]);
            if (!(opt[which] = dup_arg(&c->argv[++i])))
                rc = BURROW_ENOMEM;
        } else if (c->argv[i].len <= 8 && cmd_arg_is(c, i, "NOESCAPE")) {
            continue;
        } else if (c->argv[i].len <= 8 && cmd_arg_is(c, i, "FORMAT")) {
            if (i + 1 >= c->argc) {
                rc = REPLIED;
                cmd_err_arity(c);
            } else if (!cmd_arg_is(c, ++i, "JSON")) {
                rc = reply_err(c, "ERR wrong format");
            }
        } else {
            paths[npaths++] = i;
        }
    }
    jcmd j;
    jcmd_init(&j, c);
    json_format fmt = {opt[0], opt[1], opt[2]};
    if (!rc)
        rc = load_key(&j, 1);
    if (!rc && !j.key.exists)
        rc = resp_null(c->out, c->proto);
    else if (!rc && npaths <= 1) {
        const resp_arg *p = npaths ? &c->argv[paths[0]] : &(resp_arg){".", 1};
        if (!(rc = parse_path(&j, p->ptr, p->len)))
            rc = get_one(&j, &fmt, rjson_path_legacy(j.path));
    } else if (!rc) {
        rc = get_many(&j, paths, npaths, &fmt);
    }
    for (int k = 0; k < 3; k++)
        free(opt[k]);
    free(paths);
    return done(&j, rc);
}

static int cmd_json_mget(cmd_ctx *c)
{
    const resp_arg *pa = &c->argv[c->argc - 1];
    rjson_path *p = NULL;
    /* A path that does not parse makes every entry nil, as in RedisJSON. */
    int rc = rjson_path_parse(pa->ptr, pa->len, &p);
    if (rc && rc != BURROW_EINVAL)
        return cmd_fail(c, rc);
    rc = resp_array(c->out, c->argc - 2);
    for (uint32_t i = 1; i + 1 < c->argc && !rc; i++) {
        ks_value v;
        doc_val root;
        int lr = cmd_lookup(c, c->argv[i].ptr, c->argv[i].len, &v);
        if (lr && lr != BURROW_ENOTFOUND) {
            rc = lr;
            break;
        }
        if (!p || lr || v.type != KS_JSON || doc_root(v.data, v.len, &root)) {
            rc = resp_null(c->out, c->proto);
            continue;
        }
        rjson_matches m;
        rjson_matches_init(&m);
        if ((rc = rjson_find(root, p, -1, &m)) == 0) {
            if (rjson_path_legacy(p)) {
                rc = m.n ? reply_value(c, m.v[0].val, NULL) : resp_null(c->out, c->proto);
            } else {
                doc_builder b;
                const uint8_t *data;
                size_t len;
                doc_val av;
                doc_builder_init(&b);
                if (!(rc = doc_builder_begin(&b)) && !(rc = build_array(&b, &m)) &&
                    !(rc = doc_builder_finish(&b, &data, &len)) && !(rc = doc_root(data, len, &av)))
                    rc = reply_value(c, av, NULL);
                doc_builder_free(&b);
            }
        }
        rjson_matches_free(&m);
    }
    rjson_path_free(p);
    return rc ? cmd_fail(c, rc) : 0;
}

/* JSON.RESP: a value in RESP terms: null, "true"/"false" as simple
 * strings, integers, doubles, bulk strings; arrays as ["[", elements...],
 * objects as ["{", key, value, ...]. */
static int resp_value(cmd_ctx *c, doc_val v, int depth)
{
    if (depth > DOC_MAX_DEPTH)
        return BURROW_ECORRUPT;
    switch (doc_type(v)) {
    case DOC_NULL: return resp_null(c->out, c->proto);
    case DOC_TRUE: return resp_simple(c->out, "true", 4);
    case DOC_FALSE: return resp_simple(c->out, "false", 5);
    case DOC_INT: {
        int64_t i = 0;
        doc_get_int(v, &i);
        return resp_int(c->out, i);
    }
    case DOC_DOUBLE: {
        double d = 0;
        doc_get_double(v, &d);
        return resp_double(c->out, c->proto, d);
    }
    case DOC_STRING: {
        const char *s;
        size_t n;
        doc_get_string(v, &s, &n);
        return resp_bulk(c->out, s, n);
    }
    case DOC_ARRAY:
    case DOC_OBJECT: {
        bool obj = doc_type(v) == DOC_OBJECT;
        uint32_t n = doc_count(v);
        int rc = resp_array(c->out, 1 + (size_t)n * (obj ? 2 : 1));
        if (!rc)
            rc = resp_simple(c->out, obj ? "{" : "[", 1);
        doc_iter it;
        doc_iter_init(&it, v);
        const char *k;
        size_t kn;
        doc_val e;
        int got;
        while (!rc && (got = doc_iter_next(&it, &k, &kn, &e)) == 1) {
            if (obj)
                rc = resp_bulk(c->out, k, kn);
            if (!rc)
                rc = resp_value(c, e, depth + 1);
        }
        return rc ? rc : got < 0 ? got : 0;
    }
    default: return BURROW_ECORRUPT;
    }
}

static int cmd_json_resp(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    const resp_arg *p = c->argc > 2 ? &c->argv[2] : &(resp_arg){".", 1};
    int rc = parse_path(&j, p->ptr, p->len);
    if (!rc)
        rc = load_key(&j, 1);
    if (!rc && !j.key.exists)
        rc = resp_null(c->out, c->proto);
    else if (!rc && !(rc = find(&j, -1))) {
        if (rjson_path_legacy(j.path)) {
            rc = j.m.n ? resp_value(c, j.m.v[0].val, 0) : reply_path_err(&j, NULL);
        } else {
            rc = resp_array(c->out, j.m.n);
            for (size_t i = 0; i < j.m.n && !rc; i++)
                rc = resp_value(c, j.m.v[i].val, 0);
        }
    }
    return done(&j, rc);
}

/* Commands with "key [path]" that read: parse, look up, find. Returns
 * REPLIED after a reply (an error, or nil for a missing key when
 * nil_when_missing; else the missing-key error of JSONPath commands). */
static int read_prologue(jcmd *j, bool nil_legacy, bool nil_jsonpath)
{
    cmd_ctx *c = j->c;
    const resp_arg *p = c->argc > 2 ? &c->argv[2] : &(resp_arg){".", 1};
    int rc = parse_path(j, p->ptr, p->len);
    if (!rc)
        rc = load_key(j, 1);
    if (rc)
        return rc;
    if (!j->key.exists) {
        bool nil = rjson_path_legacy(j->path) ? nil_legacy : nil_jsonpath;
        if (nil) {
            rc = resp_null(c->out, c->proto);
            return rc ? rc : REPLIED;
        }
        return reply_err(c, ERR_NO_KEY);
    }
    return find(j, -1);
}

static int cmd_json_type(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    int rc = read_prologue(&j, true, true);
    if (!rc && rjson_path_legacy(j.path)) {
        rc = j.m.n ? resp_bulk_cstr(c->out, rjson_type_name(j.m.v[0].val))
                   : resp_null(c->out, c->proto);
    } else if (!rc) {
        rc = resp_array(c->out, j.m.n);
        for (size_t i = 0; i < j.m.n && !rc; i++)
            rc = resp_bulk_cstr(c->out, rjson_type_name(j.m.v[i].val));
    }
    return done(&j, rc);
}

/* ---- lengths and keys ------------------------------------------------------------ */

/* STRLEN, ARRLEN, OBJLEN: legacy takes the first match. */
static int64_t length_of(doc_val v)
{
    if (doc_type(v) == DOC_STRING) {
        const char *s;
        size_t n;
        doc_get_string(v, &s, &n);
        return (int64_t)n;
    }
    return doc_count(v);
}

static int reply_lengths(jcmd *j, match_fn ok)
{
    cmd_ctx *c = j->c;
    int rc = resp_array(c->out, j->m.n);
    for (size_t i = 0; i < j->m.n && !rc; i++)
        rc = ok(j->m.v[i].val) ? resp_int(c->out, length_of(j->m.v[i].val))
                               : resp_null(c->out, c->proto);
    return rc;
}

static int wrongtype(jcmd *j, const char *want, doc_val v)
{
    return reply_err(j->c, "WRONGTYPE wrong type of path value - expected %s but found %s", want,
                     rjson_type_name(v));
}

static int cmd_json_strlen(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    int rc = read_prologue(&j, true, false);
    if (!rc && rjson_path_legacy(j.path)) {
        if (j.m.n == 0)
            rc = reply_path_err(&j, NULL);
        else if (!is_string(j.m.v[0].val))
            rc = wrongtype(&j, "string", j.m.v[0].val);
        else
            rc = resp_int(c->out, length_of(j.m.v[0].val));
    } else if (!rc) {
        rc = reply_lengths(&j, is_string);
    }
    return done(&j, rc);
}

static int cmd_json_arrlen(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    int rc = read_prologue(&j, true, false);
    const resp_arg *p = c->argc > 2 ? &c->argv[2] : &(resp_arg){".", 1};
    if (!rc && rjson_path_legacy(j.path)) {
        /* RedisJSON quotes this path as written */
        if (j.m.n == 0)
            rc = reply_err(c, "ERR Path '%.*s' does not exist", (int)p->len, p->ptr);
        else if (!is_array(j.m.v[0].val))
            rc = reply_err(c, "ERR Path '%.*s' does not exist or not an array", (int)p->len, p->ptr);
        else
            rc = resp_int(c->out, length_of(j.m.v[0].val));
    } else if (!rc) {
        rc = reply_lengths(&j, is_array);
    }
    return done(&j, rc);
}

static int cmd_json_objlen(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    const resp_arg *p = c->argc > 2 ? &c->argv[2] : &(resp_arg){".", 1};
    int rc = parse_path(&j, p->ptr, p->len);
    if (!rc)
        rc = load_key(&j, 1);
    if (!rc && !j.key.exists) {
        rc = rjson_path_legacy(j.path) ? resp_null(c->out, c->proto)
                                       : reply_path_err(&j, "not an object");
    } else if (!rc && !(rc = find(&j, -1))) {
        if (!rjson_path_legacy(j.path))
            rc = reply_lengths(&j, is_object);
        else if (j.m.n == 0)
            rc = resp_null(c->out, c->proto);
        else if (!is_object(j.m.v[0].val))
            rc = wrongtype(&j, "object", j.m.v[0].val);
        else
            rc = resp_int(c->out, length_of(j.m.v[0].val));
    }
    return done(&j, rc);
}

static int reply_keys(cmd_ctx *c, doc_val v)
{
    int rc = resp_array(c->out, doc_count(v));
    doc_iter it;
    doc_iter_init(&it, v);
    const char *k;
    size_t kn;
    doc_val e;
    int got;
    while (!rc && (got = doc_iter_next(&it, &k, &kn, &e)) == 1)
        rc = resp_bulk(c->out, k, kn);
    return rc ? rc : got < 0 ? got : 0;
}

static int cmd_json_objkeys(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    int rc = read_prologue(&j, true, false);
    if (!rc && rjson_path_legacy(j.path)) {
        if (j.m.n == 0)
            rc = resp_null(c->out, c->proto);
        else if (!is_object(j.m.v[0].val))
            rc = reply_path_err(&j, "not an object");
        else
            rc = reply_keys(c, j.m.v[0].val);
    } else if (!rc) {
        rc = resp_array(c->out, j.m.n);
        for (size_t i = 0; i < j.m.n && !rc; i++)
            rc = is_object(j.m.v[i].val) ? reply_keys(c, j.m.v[i].val)
                                         : resp_null(c->out, c->proto);
    }
    return done(&j, rc);
}

static int cmd_json_arrindex(cmd_ctx *c)
{
    int64_t start = 0, stop = 0;
    if (c->argc > 6)
        return cmd_err_arity(c);
    if ((c->argc > 4 && !cmd_arg_int(c, 4, &start)) || (c->argc > 5 && !cmd_arg_int(c, 5, &stop)))
        return cmd_err_int(c);
    jcmd j;
    jcmd_init(&j, c);
    int rc = parse_path(&j, c->argv[2].ptr, c->argv[2].len);
    if (!rc)
        rc = load_key(&j, 1);
    if (!rc)
        rc = parse_json(c, &c->argv[3], &j.arg);
    if (!rc && !j.key.exists)
        rc = reply_err(c, "ERR Path '%.*s' does not exist", (int)c->argv[2].len, c->argv[2].ptr);
    else if (!rc && !(rc = find(&j, -1))) {
        doc_val v = root_of(&j.arg);
        if (rjson_path_legacy(j.path)) {
            if (j.m.n == 0)
                rc = reply_path_err(&j, NULL);
            else if (!is_array(j.m.v[0].val))
                rc = wrongtype(&j, "array", j.m.v[0].val);
            else
                rc = resp_int(c->out, rjson_arrindex(j.m.v[0].val, v, start, stop));
        } else {
            rc = resp_array(c->out, j.m.n);
            for (size_t i = 0; i < j.m.n && !rc; i++)
                rc = is_array(j.m.v[i].val)
                         ? resp_int(c->out, rjson_arrindex(j.m.v[i].val, v, start, stop))
                         : resp_null(c->out, c->proto);
        }
    }
    return done(&j, rc);
}

/* ---- changes ------------------------------------------------------------------- */

/* The common shape of a change at "key path": parse, the key must exist,
 * select the matches of the right type. */
static int write_prologue(jcmd *j, const resp_arg *path, match_fn ok)
{
    int rc = parse_path(j, path->ptr, path->len);
    if (!rc)
        rc = load_key(j, 1);
    if (rc)
        return rc;
    if (!j->key.exists)
        return reply_err(j->c, ERR_NO_KEY);
    if ((rc = find(j, -1)))
        return rc;
    return select_matches(j, ok);
}

/* JSON.DEL / JSON.FORGET key [path] -> the number of values deleted. */
static int cmd_json_del(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    const resp_arg *p = c->argc > 2 ? &c->argv[2] : &(resp_arg){".", 1};
    int rc = parse_path(&j, p->ptr, p->len);
    if (!rc)
        rc = load_key(&j, 1);
    if (rc || !j.key.exists)
        return done(&j, rc ? rc : resp_int(c->out, 0));
    if (rjson_path_nsteps(j.path) == 0 && strcmp(fixed(&j), "$") == 0) {
        rc = ks_del(c->ks, c->txn, c->argv[1].ptr, c->argv[1].len, c->now_ms);
        if (rc >= 0) {
            cmd_touch(c, c->argv[1].ptr, c->argv[1].len);
            rc = resp_int(c->out, 1);
        }
        return done(&j, rc);
    }
    if (!(rc = find(&j, -1)) && !(rc = select_matches(&j, any))) {
        rjson_op op = {.kind = RJSON_DEL};
        int64_t n = 0;
        if (j.nsel && !(rc = apply(&j, &op, NULL)))
            for (size_t i = 0; i < j.nsel; i++)
                n += j.res[i].applied;
        if (!rc)
            rc = resp_int(c->out, n);
    }
    return done(&j, rc);
}

static int cmd_json_num(cmd_ctx *c, enum rjson_op_kind kind)
{
    jcmd j;
    jcmd_init(&j, c);
    int rc = write_prologue(&j, &c->argv[2], is_number);
    bool legacy = !rc && rjson_path_legacy(j.path);
    if (!rc && legacy && j.nsel == 0)
        rc = reply_path_err(&j, "does not contains a number");
    /* The number is read only when there is something to change, as
     * RedisJSON does. */
    if (!rc && j.nsel > 0) {
        rc = parse_json(c, &c->argv[3], &j.arg);
        if (!rc && !doc_is_number(root_of(&j.arg)))
            rc = reply_err(c, "ERR bad input number");
    }
    if (!rc && j.nsel > 0) {
        rjson_op op = {.kind = kind, .value = root_of(&j.arg)};
        rc = apply(&j, &op, NULL);
    }
    if (!rc) {
        /* A bulk string: the last result (legacy), or a JSON array with
         * null for every match that is not a number. */
        buf t = {0};
        if (legacy) {
            rc = put_number(&t, &j.res[j.nsel - 1]);
        } else {
            size_t k = 0;
            rc = buf_putc(&t, '[');
            for (size_t i = 0; i < j.m.n && !rc; i++) {
                if (i)
                    rc = buf_putc(&t, ',');
                if (rc)
                    break;
                if (k < j.nsel && j.sel[k] == i)
                    rc = put_number(&t, &j.res[k++]);
                else
                    rc = buf_append(&t, "null", 4);
            }
            if (!rc)
                rc = buf_putc(&t, ']');
        }
        if (!rc)
            rc = resp_bulk(c->out, t.data, t.size);
        buf_free(&t);
    }
    return done(&j, rc);
}

static int cmd_json_numincrby(cmd_ctx *c) { return cmd_json_num(c, RJSON_NUMINCRBY); }
static int cmd_json_nummultby(cmd_ctx *c) { return cmd_json_num(c, RJSON_NUMMULTBY); }

/* JSON.STRAPPEND key [path] json */
static int cmd_json_strappend(cmd_ctx *c)
{
    const resp_arg *path = c->argc > 3 ? &c->argv[2] : &(resp_arg){".", 1};
    const resp_arg *val = c->argc > 3 ? &c->argv[3] : &c->argv[2];
    jcmd j;
    jcmd_init(&j, c);
    int rc = write_prologue(&j, path, is_string);
    bool legacy = !rc && rjson_path_legacy(j.path);
    if (!rc && legacy && j.nsel == 0)
        rc = reply_path_err(&j, "not a string");
    if (!rc && j.nsel > 0) {
        rc = parse_json(c, val, &j.arg);
        if (!rc && doc_type(root_of(&j.arg)) != DOC_STRING)
            rc = reply_err(c, "WRONGTYPE wrong type of path value - expected string but found %.*s",
                           (int)(val->len > 200 ? 200 : val->len), val->ptr);
    }
    if (!rc && j.nsel > 0) {
        rjson_op op = {.kind = RJSON_STRAPPEND, .value = root_of(&j.arg)};
        rc = apply(&j, &op, NULL);
    }
    if (!rc)
        rc = legacy ? resp_int(c->out, j.res[j.nsel - 1].n) : reply_int_per_match(&j, res_n);
    return done(&j, rc);
}

/* Parse arguments [from, argc) as JSON values into j->values. */
static int parse_values(jcmd *j, uint32_t from)
{
    cmd_ctx *c = j->c;
    doc_builder b;
    doc_builder_init(&b);
    int rc = doc_builder_begin(&b);
    if (!rc)
        rc = doc_builder_begin_array(&b);
    for (uint32_t i = from; i < c->argc && !rc; i++) {
        buf one = {0};
        if (!(rc = parse_json(c, &c->argv[i], &one)))
            rc = doc_builder_copy(&b, root_of(&one));
        buf_free(&one);
    }
    if (!rc && !(rc = doc_builder_end(&b)))
        rc = doc_builder_take(&b, &j->args);
    doc_builder_free(&b);
    if (rc)
        return rc;
    doc_val arr = root_of(&j->args);
    j->nvalues = doc_count(arr);
    j->values = malloc((j->nvalues + 1) * sizeof *j->values);
    if (!j->values)
        return BURROW_ENOMEM;
    for (uint32_t i = 0; i < j->nvalues && !rc; i++)
        rc = doc_array_at(arr, i, &j->values[i]);
    return rc;
}

/* The array commands: ARRAPPEND, ARRINSERT, ARRTRIM reply lengths;
 * legacy: the last one, and an error when nothing is an array. */
static int array_change(jcmd *j, rjson_op *op, const resp_arg *path, bool quote_as_written)
{
    cmd_ctx *c = j->c;
    int rc = write_prologue(j, path, is_array);
    bool legacy = !rc && rjson_path_legacy(j->path);
    if (!rc && legacy && j->nsel == 0) {
        if (quote_as_written)
            return reply_err(c, "ERR Path '%.*s' does not exist or not an array", (int)path->len,
                             path->ptr);
        return reply_path_err(j, "not an array");
    }
    op->values = j->values;
    op->nvalues = j->nvalues;
    if (!rc && j->nsel > 0)
        rc = apply(j, op, NULL);
    if (rc)
        return rc;
    return legacy ? resp_int(c->out, j->res[j->nsel - 1].n) : reply_int_per_match(j, res_n);
}

static int cmd_json_arrappend(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    rjson_op op = {.kind = RJSON_ARRAPPEND};
    int rc = parse_values(&j, 3);
    if (!rc)
        rc = array_change(&j, &op, &c->argv[2], true);
    return done(&j, rc);
}

static int cmd_json_arrinsert(cmd_ctx *c)
{
    rjson_op op = {.kind = RJSON_ARRINSERT};
    if (!cmd_arg_int(c, 3, &op.index))
        return cmd_err_int(c);
    jcmd j;
    jcmd_init(&j, c);
    int rc = parse_values(&j, 4);
    if (!rc)
        rc = array_change(&j, &op, &c->argv[2], false);
    return done(&j, rc);
}

static int cmd_json_arrtrim(cmd_ctx *c)
{
    rjson_op op = {.kind = RJSON_ARRTRIM};
    if (!cmd_arg_int(c, 3, &op.start) || !cmd_arg_int(c, 4, &op.stop))
        return cmd_err_int(c);
    jcmd j;
    jcmd_init(&j, c);
    int rc = array_change(&j, &op, &c->argv[2], false);
    return done(&j, rc);
}

static int reply_popped(cmd_ctx *c, const rjson_result *r)
{
    return r->applied ? resp_bulk(c->out, r->popped.data, r->popped.size)
                      : resp_null(c->out, c->proto);
}

/* JSON.ARRPOP key [path [index]]: without a path the last element of the
 * root; an index that is not an integer counts as -1 (RedisJSON). */
static int cmd_json_arrpop(cmd_ctx *c)
{
    rjson_op op = {.kind = RJSON_ARRPOP, .index = c->argc > 2 ? -1 : INT64_MAX};
    if (c->argc > 3 && !cmd_arg_int(c, 3, &op.index))
        op.index = -1;
    const resp_arg *path = c->argc > 2 ? &c->argv[2] : &(resp_arg){".", 1};
    jcmd j;
    jcmd_init(&j, c);
    int rc = write_prologue(&j, path, is_array);
    bool legacy = !rc && rjson_path_legacy(j.path);
    if (!rc && legacy && j.nsel == 0)
        rc = reply_path_err(&j, "not an array");
    if (!rc && j.nsel > 0)
        rc = apply(&j, &op, NULL);
    if (!rc && legacy) {
        rc = reply_popped(c, &j.res[j.nsel - 1]);
    } else if (!rc) {
        size_t k = 0;
        rc = resp_array(c->out, j.m.n);
        for (size_t i = 0; i < j.m.n && !rc; i++)
            rc = k < j.nsel && j.sel[k] == i ? reply_popped(c, &j.res[k++])
                                             : resp_null(c->out, c->proto);
    }
    return done(&j, rc);
}

/* JSON.CLEAR key [path ...]: only the first path counts (RedisJSON). */
static int cmd_json_clear(cmd_ctx *c)
{
    const resp_arg *path = c->argc > 2 ? &c->argv[2] : &(resp_arg){"$", 1};
    jcmd j;
    jcmd_init(&j, c);
    int rc = write_prologue(&j, path, clearable);
    int64_t n = 0;
    rjson_op op = {.kind = RJSON_CLEAR};
    if (!rc && j.nsel > 0 && !(rc = apply(&j, &op, NULL)))
        for (size_t i = 0; i < j.nsel; i++)
            n += j.res[i].n;
    if (!rc)
        rc = resp_int(c->out, n);
    return done(&j, rc);
}

static int cmd_json_toggle(cmd_ctx *c)
{
    jcmd j;
    jcmd_init(&j, c);
    int rc = write_prologue(&j, &c->argv[2], is_bool);
    bool legacy = !rc && rjson_path_legacy(j.path);
    if (!rc && legacy && j.nsel == 0)
        rc = reply_path_err(&j, "not a bool");
    rjson_op op = {.kind = RJSON_TOGGLE};
    if (!rc && j.nsel > 0)
        rc = apply(&j, &op, NULL);
    if (!rc && legacy) {
        const char *s = j.res[j.nsel - 1].n ? "true" : "false";
        rc = resp_bulk(c->out, s, strlen(s));
    } else if (!rc) {
        rc = reply_int_per_match(&j, res_n);
    }
    return done(&j, rc);
}

/* ---- the table ------------------------------------------------------------------ */

#define W (CMD_WRITE)
#define R (CMD_READONLY)

const cmd_def cmd_json[] = {
    {"json.set", -4, W, 1, 1, 1, cmd_json_set, "json", "Sets or updates the JSON value at a path"},
    {"json.get", -2, R, 1, 1, 1, cmd_json_get, "json", "Gets the value at one or more paths in JSON serialized form"},
    {"json.mget", -3, R, 1, -2, 1, cmd_json_mget, "json", "Returns the values at a path from one or more keys"},
    {"json.mset", -4, W, 1, -1, 3, cmd_json_mset, "json", "Sets or updates the JSON value of one or more keys"},
    {"json.del", -2, W, 1, 1, 1, cmd_json_del, "json", "Deletes a value"},
    {"json.forget", -2, W, 1, 1, 1, cmd_json_del, "json", "Deletes a value"},
    {"json.type", -2, R, 1, 1, 1, cmd_json_type, "json", "Returns the type of the JSON value at path"},
    {"json.numincrby", 4, W, 1, 1, 1, cmd_json_numincrby, "json", "Increments the numeric value at path by a value"},
    {"json.nummultby", 4, W, 1, 1, 1, cmd_json_nummultby, "json", "Multiplies the numeric value at path by a value"},
    {"json.strappend", -3, W, 1, 1, 1, cmd_json_strappend, "json", "Appends a string to a JSON string value at path"},
    {"json.strlen", -2, R, 1, 1, 1, cmd_json_strlen, "json", "Returns the length of the JSON String at path in key"},
    {"json.arrappend", -4, W, 1, 1, 1, cmd_json_arrappend, "json", "Append one or more JSON values into the array at path after the last element in it"},
    {"json.arrinsert", -5, W, 1, 1, 1, cmd_json_arrinsert, "json", "Inserts the JSON scalar(s) value at the specified index in the array at path"},
    {"json.arrindex", -4, R, 1, 1, 1, cmd_json_arrindex, "json", "Returns the index of the first occurrence of a JSON scalar value in the array at path"},
    {"json.arrlen", -2, R, 1, 1, 1, cmd_json_arrlen, "json", "Returns the length of the array at path"},
    {"json.arrpop", -2, W, 1, 1, 1, cmd_json_arrpop, "json", "Removes and returns the element at the specified index in the array at path"},
    {"json.arrtrim", 5, W, 1, 1, 1, cmd_json_arrtrim, "json", "Trims the array at path to contain only the specified inclusive range of indices from start to stop"},
    {"json.objkeys", -2, R, 1, 1, 1, cmd_json_objkeys, "json", "Returns the JSON keys of the object at path"},
    {"json.objlen", -2, R, 1, 1, 1, cmd_json_objlen, "json", "Returns the number of keys of the object at path"},
    {"json.clear", -2, W, 1, 1, 1, cmd_json_clear, "json", "Clears all values from an array or an object and sets numeric values to `0`"},
    {"json.toggle", 3, W, 1, 1, 1, cmd_json_toggle, "json", "Toggles a boolean value"},
    {"json.resp", -2, R, 1, 1, 1, cmd_json_resp, "json", "Returns the JSON value at path in Redis Serialization Protocol (RESP)"},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
