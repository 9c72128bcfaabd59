/*
 * cmd_doc.c — the DOC.* commands of burrowd: collections, documents,
 * queries, aggregation, indexes and document TTLs, over the public
 * library API (include/burrow.h, "collections" to "indexes").
 *
 * The syntax is the contract of DESIGN.md (server/ and net/); the user's
 * page is docs/commands-doc.md. A document travels as one bulk string of
 * JSON text, in and out; a filter or an update is one bulk string of JSON
 * too, compiled once per command.
 *
 * Replies (RESP2 | RESP3 where they differ):
 *
 *   DOC.CREATE, DOC.DROP, DOC.INDEX CREATE/DROP   +OK
 *   DOC.LIST                 array of collection names (bulk), name order
 *   DOC.INSERT               bulk: the document's id
 *   DOC.GET                  bulk: the JSON text | nil when no such document
 *   DOC.REPLACE, DOC.DELETE  :1 done, :0 no such document
 *   DOC.UPDATE               :1 applied, :0 condition false, nil no such document
 *   DOC.FIND                 array of bulk JSON documents, in query order
 *   DOC.COUNT                :n
 *   DOC.AGGREGATE            array of bulk JSON objects, one per group
 *   DOC.EXPLAIN              bulk: the plan as JSON (docs/queries.md)
 *   DOC.INDEX LIST           array of *4 [name, <name>, unique, :0|:1] |
 *                            array of maps {name: <name>, unique: #f|#t}
 *   DOC.EXPIRE, DOC.PERSIST  :1 done, :0 no such document (or, PERSIST,
 *                            none to clear), as Redis's EXPIRE and PERSIST
 *   DOC.TTL                  :seconds left, :-1 no expiry, :-2 no document
 *
 * A missing collection is an error naming it ("ERR no such collection
 * 'x'"), never a nil: nil and 0 mean a missing document only.
 *
 * Lifetimes: argv is valid during the call only and is not NUL-terminated;
 * the library wants C strings for names and paths, so those are copied
 * (cstrs below) and freed before the command returns. Nothing in this file
 * outlives a command.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/command.h"

/* ---- arguments --------------------------------------------------------- */

/* NUL-terminated copies of arguments, freed together by cstrs_free. */
typedef struct cstrs {
    char **v;
    size_t n, cap;
} cstrs;

static void cstrs_free(cstrs *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}

/* Copy p[0..n) as a C string owned by s. BURROW_ENOMEM, or BURROW_EINVAL
 * when the bytes hold a NUL (a C string would silently cut it short). */
static int cstrs_add(cstrs *s, const char *p, size_t n, const char **out)
{
    if (memchr(p, 0, n))
        return BURROW_EINVAL;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return BURROW_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    char *c = malloc(n + 1);
    if (!c)
        return BURROW_ENOMEM;
    memcpy(c, p, n);
    c[n] = 0;
    s->v[s->n++] = c;
    *out = c;
    return 0;
}

/* Argument i as a C string in s; on failure the error reply is written and
 * the return is <= 0 as a command returns it (so `if ((rc = arg_cstr(...))
 * != 1) return rc;`). */
static int arg_cstr(cmd_ctx *c, cstrs *s, uint32_t i, const char **out)
{
    int rc = cstrs_add(s, c->argv[i].ptr, c->argv[i].len, out);
    if (rc == BURROW_EINVAL)
        return resp_errorf(c->out, "ERR argument %u holds a NUL byte", (unsigned)i) ? BURROW_ENOMEM
                                                                                     : 0;
    if (rc)
        return rc;
    return 1;
}

/* The collection name in argument i, copied to name (room for
 * BURROW_MAX_NAME_SIZE + 1). false when it cannot be one: the error reply is
 * then written (the library checks the rest: UTF-8, control characters). */
static bool arg_coll(cmd_ctx *c, uint32_t i, char *name)
{
    const resp_arg *a = &c->argv[i];
    if (a->len == 0 || a->len > BURROW_MAX_NAME_SIZE) {
        resp_errorf(c->out, "ERR collection name must be 1 to %d bytes", BURROW_MAX_NAME_SIZE);
        return false;
    }
    if (memchr(a->ptr, 0, a->len)) {
        resp_errorf(c->out, "ERR collection name has a control character");
        return false;
    }
    memcpy(name, a->ptr, a->len);
    name[a->len] = 0;
    return true;
}

/* A document id argument: the library checks its length (1..128 bytes) and
 * takes any bytes, so it is passed as (ptr, len). */
#define ID_ARG(c, i) (c)->argv[i].ptr, (c)->argv[i].len

/* true when argument i is one of the option words of FIND and friends, so
 * that an argument list can tell a filter from the next clause. */
static bool is_clause(const cmd_ctx *c, uint32_t i)
{
    return cmd_arg_is(c, i, "SORT") || cmd_arg_is(c, i, "SKIP") || cmd_arg_is(c, i, "LIMIT") ||
           cmd_arg_is(c, i, "FIELDS");
}

/* ---- errors -------------------------------------------------------------- */

/*
 * A library error rc met while working on `what` (a "document", "filter",
 * "update" or "schema" given as JSON text): bad JSON says which argument it
 * was in, the rest goes through cmd_fail.
 */
static int doc_fail(cmd_ctx *c, int rc, const char *what)
{
    if (rc == BURROW_EJSON && what)
        return resp_errorf(c->out, "ERR invalid JSON in the %s: %s", what, burrow_errmsg())
                   ? BURROW_ENOMEM
                   : 0;
    return cmd_fail(c, rc);
}

/* 0 when collection coll exists in c->txn; else its error (BURROW_ENOTFOUND
 * with "no such collection 'x'" as the detail). O(1). */
static int coll_exists(cmd_ctx *c, const char *coll)
{
    uint64_t n;
    return burrow_doc_count(c->txn, coll, NULL, &n);
}

/*
 * A call on document id of coll returned BURROW_ENOTFOUND: either the
 * collection or the document is missing, and only the first is an error.
 * Returns 1 when the document is missing (the caller replies nil or 0), or
 * <= 0 as a command returns once the error reply is written.
 */
static int doc_missing(cmd_ctx *c, const char *coll)
{
    int rc = coll_exists(c, coll);
    if (rc == 0)
        return 1;
    return cmd_fail(c, rc);
}

/* Compile argument i as a filter / an update; the error reply is written on
 * failure (return as arg_cstr). */
static int arg_filter(cmd_ctx *c, uint32_t i, burrow_filter **f)
{
    int rc = burrow_filter_compile(c->argv[i].ptr, c->argv[i].len, f);
    return rc ? doc_fail(c, rc, "filter") : 1;
}

static int arg_update(cmd_ctx *c, uint32_t i, burrow_update **u)
{
    int rc = burrow_update_compile(c->argv[i].ptr, c->argv[i].len, u);
    return rc ? doc_fail(c, rc, "update") : 1;
}

/* A non-negative integer argument (SKIP, LIMIT); the error is written on
 * failure. */
static bool arg_count(cmd_ctx *c, uint32_t i, uint64_t *out)
{
    int64_t v;
    if (!cmd_arg_int(c, i, &v) || v < 0) {
        resp_errorf(c->out, "ERR %.*s must be a non-negative integer", (int)c->argv[i - 1].len,
                    c->argv[i - 1].ptr);
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

/* ---- replies ------------------------------------------------------------- */

/*
 * Put an array header of n elements in front of the elements already
 * written from out->data[start] on. Used where the count is known only
 * after the elements (FIND streams its documents straight into the reply):
 * the elements are moved once by the header's length, never rebuilt.
 */
static int array_before(buf *out, size_t start, size_t n)
{
    char hdr[32];
    int hl = snprintf(hdr, sizeof hdr, "*%zu\r\n", n);
    int rc = buf_reserve(out, (size_t)hl);
    if (rc)
        return rc;
    memmove(out->data + start + hl, out->data + start, out->size - start);
    memcpy(out->data + start, hdr, (size_t)hl);
    out->size += (size_t)hl;
    return 0;
}

/* ---- collections ------------------------------------------------------- */

/* DOC.CREATE coll [SCHEMA json] */
static int doc_create(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (c->argc != 2 && c->argc != 4)
        return cmd_err_syntax(c);
    if (c->argc == 4 && !cmd_arg_is(c, 2, "SCHEMA"))
        return cmd_err_syntax(c);
    if (!arg_coll(c, 1, coll))
        return 0;
    cstrs s = {0};
    const char *schema = NULL;
    int rc = 1;
    if (c->argc == 4 && (rc = arg_cstr(c, &s, 3, &schema)) != 1)
        goto out;
    rc = burrow_coll_create(c->txn, coll, schema);
    rc = rc ? doc_fail(c, rc, "schema") : resp_ok(c->out);
out:
    cstrs_free(&s);
    return rc;
}

/* DOC.DROP coll */
static int doc_drop(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!arg_coll(c, 1, coll))
        return 0;
    int rc = burrow_coll_drop(c->txn, coll);
    return rc ? cmd_fail(c, rc) : resp_ok(c->out);
}

typedef struct list_ctx {
    buf *out;
    size_t n;
} list_ctx;

static int list_one(void *ctx, const char *name)
{
    list_ctx *l = ctx;
    l->n++;
    return resp_bulk_cstr(l->out, name);
}

/* DOC.LIST */
static int doc_list(cmd_ctx *c)
{
    size_t start = c->out->size;
    list_ctx l = {c->out, 0};
    int rc = burrow_coll_list(c->txn, list_one, &l);
    if (!rc)
        rc = array_before(c->out, start, l.n);
    if (rc) {
        c->out->size = start;
        return cmd_fail(c, rc);
    }
    return 0;
}

/* ---- documents ----------------------------------------------------------- */

/* DOC.INSERT coll json */
static int doc_insert(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!arg_coll(c, 1, coll))
        return 0;
    burrow_buf id = {0};
    int rc = burrow_doc_insert(c->txn, coll, c->argv[2].ptr, c->argv[2].len, &id);
    rc = rc ? doc_fail(c, rc, "document") : resp_bulk(c->out, id.data, id.size);
    burrow_buf_free(&id);
    return rc;
}

/* Parse FIELDS f ... from argument i to the end into out (C strings in s).
 * Returns as arg_cstr. */
static int arg_fields(cmd_ctx *c, cstrs *s, uint32_t i, uint32_t end, burrow_output *out,
                      const char ***fields)
{
    size_t n = end - i;
    if (n == 0)
        return cmd_err_syntax(c);
    *fields = calloc(n, sizeof **fields);
    if (!*fields)
        return BURROW_ENOMEM;
    for (size_t k = 0; k < n; k++) {
        int rc = arg_cstr(c, s, i + (uint32_t)k, &(*fields)[k]);
        if (rc != 1)
            return rc;
    }
    out->fields = *fields;
    out->nfields = n;
    return 1;
}

/* DOC.GET coll id [FIELDS f ...] */
static int doc_get(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (c->argc > 3 && !cmd_arg_is(c, 3, "FIELDS"))
        return cmd_err_syntax(c);
    if (!arg_coll(c, 1, coll))
        return 0;
    cstrs s = {0};
    const char **fields = NULL;
    burrow_output o = {0};
    burrow_buf doc = {0};
    int rc = 1;
    if (c->argc > 3 && (rc = arg_fields(c, &s, 4, c->argc, &o, &fields)) != 1)
        goto out;
    rc = burrow_doc_get(c->txn, coll, ID_ARG(c, 2), &o, &doc);
    if (rc == BURROW_ENOTFOUND) {
        rc = doc_missing(c, coll);
        if (rc == 1)
            rc = resp_null(c->out, c->proto);
    } else if (rc) {
        rc = cmd_fail(c, rc);
    } else {
        rc = resp_bulk(c->out, doc.data, doc.size);
    }
out:
    burrow_buf_free(&doc);
    free(fields);
    cstrs_free(&s);
    return rc;
}

/* DOC.REPLACE coll id json */
static int doc_replace(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!arg_coll(c, 1, coll))
        return 0;
    int rc = burrow_doc_replace(c->txn, coll, ID_ARG(c, 2), c->argv[3].ptr, c->argv[3].len);
    if (rc == BURROW_ENOTFOUND) {
        rc = doc_missing(c, coll);
        return rc == 1 ? resp_int(c->out, 0) : rc;
    }
    return rc ? doc_fail(c, rc, "document") : resp_int(c->out, 1);
}

/* DOC.UPDATE coll id update [IF filter] [UPSERT] */
static int doc_update(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    uint32_t cond_at = 0;
    unsigned flags = 0;
    for (uint32_t i = 4; i < c->argc; i++) {
        if (cmd_arg_is(c, i, "IF") && !cond_at && i + 1 < c->argc)
            cond_at = ++i;
        else if (cmd_arg_is(c, i, "UPSERT") && !(flags & BURROW_UPSERT))
            flags |= BURROW_UPSERT;
        else
            return cmd_err_syntax(c);
    }
    if (!arg_coll(c, 1, coll))
        return 0;
    burrow_update *u = NULL;
    burrow_filter *f = NULL;
    int rc = arg_update(c, 3, &u);
    if (rc != 1)
        goto out;
    if (cond_at && (rc = arg_filter(c, cond_at, &f)) != 1)
        goto out;
    rc = burrow_doc_update(c->txn, coll, ID_ARG(c, 2), u, f, flags);
    if (rc == BURROW_ENOTFOUND) {
        rc = doc_missing(c, coll);
        if (rc == 1)
            rc = resp_null(c->out, c->proto);
    } else if (rc < 0) {
        rc = cmd_fail(c, rc);
    } else {
        rc = resp_int(c->out, rc);
    }
out:
    burrow_update_free(u);
    burrow_filter_free(f);
    return rc;
}

/* DOC.DELETE coll id */
static int doc_delete(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!arg_coll(c, 1, coll))
        return 0;
    int rc = burrow_doc_delete(c->txn, coll, ID_ARG(c, 2));
    if (rc == BURROW_ENOTFOUND) {
        rc = doc_missing(c, coll);
        return rc == 1 ? resp_int(c->out, 0) : rc;
    }
    return rc ? cmd_fail(c, rc) : resp_int(c->out, 1);
}

/* ---- document TTLs ------------------------------------------------------ */

/* DOC.EXPIRE coll id seconds: as Redis's EXPIRE, a time not in the future
 * deletes the document at once. */
static int doc_expire(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    int64_t sec;
    if (!cmd_arg_int(c, 3, &sec))
        return cmd_err_int(c);
    if (sec > 0 && (uint64_t)sec > (UINT64_MAX / 2 - c->now_ms) / 1000)
        return resp_errorf(c->out, "ERR invalid expire time in 'doc.expire' command")
                   ? BURROW_ENOMEM
                   : 0;
    if (!arg_coll(c, 1, coll))
        return 0;
    int rc = sec > 0 ? burrow_doc_expire_at(c->txn, coll, ID_ARG(c, 2),
                                            c->now_ms + (uint64_t)sec * 1000)
                     : burrow_doc_delete(c->txn, coll, ID_ARG(c, 2));
    if (rc == BURROW_ENOTFOUND) {
        rc = doc_missing(c, coll);
        return rc == 1 ? resp_int(c->out, 0) : rc;
    }
    return rc ? cmd_fail(c, rc) : resp_int(c->out, 1);
}

/* DOC.TTL coll id: seconds left, rounded as Redis's TTL rounds. */
static int doc_ttl(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!arg_coll(c, 1, coll))
        return 0;
    uint64_t at;
    int rc = burrow_doc_ttl(c->txn, coll, ID_ARG(c, 2), &at);
    if (rc == BURROW_ENOTFOUND) {
        rc = doc_missing(c, coll);
        return rc == 1 ? resp_int(c->out, -2) : rc;
    }
    if (rc)
        return cmd_fail(c, rc);
    if (at == 0)
        return resp_int(c->out, -1);
    /* The library reads its own clock; the batch's "now" may be a little
     * behind or ahead of it. */
    uint64_t left = at > c->now_ms ? at - c->now_ms : 0;
    return resp_int(c->out, (int64_t)((left + 500) / 1000));
}

/* DOC.PERSIST coll id */
static int doc_persist(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!arg_coll(c, 1, coll))
        return 0;
    uint64_t at;
    int rc = burrow_doc_ttl(c->txn, coll, ID_ARG(c, 2), &at);
    if (rc == BURROW_ENOTFOUND) {
        rc = doc_missing(c, coll);
        return rc == 1 ? resp_int(c->out, 0) : rc;
    }
    if (!rc && at == 0)
        return resp_int(c->out, 0);
    if (!rc)
        rc = burrow_doc_expire_at(c->txn, coll, ID_ARG(c, 2), 0);
    return rc ? cmd_fail(c, rc) : resp_int(c->out, 1);
}

/* ---- queries ------------------------------------------------------------- */

/* The options of FIND, EXPLAIN and COUNT, parsed from the arguments. */
typedef struct query_args {
    char coll[BURROW_MAX_NAME_SIZE + 1];
    burrow_find_options opt;
    burrow_filter *filter;
    burrow_sort *sort;
    const char **fields;
    cstrs strs;
} query_args;

static void query_args_free(query_args *q)
{
    burrow_filter_free(q->filter);
    free(q->sort);
    free(q->fields);
    cstrs_free(&q->strs);
}

/*
 * coll [filter] [SORT f [ASC|DESC] ...] [SKIP n] [LIMIT n] [FIELDS f ...],
 * each clause at most once, in any order; sort_ok, page_ok (SKIP and
 * LIMIT) and fields_ok say which clauses the command takes. A SORT or
 * FIELDS list runs to the next clause word. Returns 1 when parsed, else as
 * a command returns once the error reply is written.
 */
static int query_parse(cmd_ctx *c, query_args *q, bool sort_ok, bool page_ok, bool fields_ok)
{
    if (!arg_coll(c, 1, q->coll))
        return 0;
    uint32_t i = 2;
    int rc;
    if (i < c->argc && !is_clause(c, i)) {
        if ((rc = arg_filter(c, i, &q->filter)) != 1)
            return rc;
        q->opt.filter = q->filter;
        i++;
    }
    bool seen_skip = false, seen_limit = false;
    while (i < c->argc) {
        if (sort_ok && !q->sort && cmd_arg_is(c, i, "SORT")) {
            uint32_t end = i + 1;
            while (end < c->argc && !is_clause(c, end))
                end++;
            if (end == i + 1)
                return cmd_err_syntax(c);
            q->sort = calloc(end - i - 1, sizeof *q->sort);
            if (!q->sort)
                return BURROW_ENOMEM;
            for (uint32_t k = i + 1; k < end; k++) {
                burrow_sort *s = &q->sort[q->opt.nsort++];
                if ((rc = arg_cstr(c, &q->strs, k, &s->path)) != 1)
                    return rc;
                if (k + 1 < end && cmd_arg_is(c, k + 1, "DESC")) {
                    s->descending = 1;
                    k++;
                } else if (k + 1 < end && cmd_arg_is(c, k + 1, "ASC")) {
                    k++;
                }
            }
            q->opt.sort = q->sort;
            i = end;
        } else if (page_ok && !seen_skip && cmd_arg_is(c, i, "SKIP") && i + 1 < c->argc) {
            if (!arg_count(c, i + 1, &q->opt.skip))
                return 0;
            seen_skip = true;
            i += 2;
        } else if (page_ok && !seen_limit && cmd_arg_is(c, i, "LIMIT") && i + 1 < c->argc) {
            if (!arg_count(c, i + 1, &q->opt.limit))
                return 0;
            seen_limit = true;
            i += 2;
        } else if (fields_ok && !q->fields && cmd_arg_is(c, i, "FIELDS")) {
            uint32_t end = i + 1;
            while (end < c->argc && !is_clause(c, end))
                end++;
            if ((rc = arg_fields(c, &q->strs, i + 1, end, &q->opt.output, &q->fields)) != 1)
                return rc;
            i = end;
        } else {
            return cmd_err_syntax(c);
        }
    }
    return 1;
}

/* Write the documents of r into the reply, each as it comes. */
static int find_stream(cmd_ctx *c, burrow_results *r)
{
    size_t start = c->out->size, n = 0;
    burrow_val doc;
    int rc;
    while ((rc = burrow_results_next(r, &doc)) == 0) {
        if ((rc = resp_bulk(c->out, doc.data, doc.size)))
            break;
        n++;
    }
    if (rc == BURROW_ENOTFOUND)
        rc = array_before(c->out, start, n);
    if (rc) {
        c->out->size = start; /* no half reply */
        return cmd_fail(c, rc);
    }
    return 0;
}

/* DOC.FIND coll [filter] [SORT f ASC|DESC ...] [SKIP n] [LIMIT n] [FIELDS f ...] */
static int doc_find(cmd_ctx *c)
{
    query_args q = {0};
    int rc = query_parse(c, &q, true, true, true);
    if (rc == 1) {
        burrow_results *r;
        rc = burrow_find(c->txn, q.coll, &q.opt, &r);
        if (rc) {
            rc = cmd_fail(c, rc);
        } else {
            rc = find_stream(c, r);
            burrow_results_close(r);
        }
    }
    query_args_free(&q);
    return rc;
}

/* DOC.EXPLAIN coll [filter] [SORT f ASC|DESC ...] [SKIP n] [LIMIT n] */
static int doc_explain(cmd_ctx *c)
{
    query_args q = {0};
    burrow_buf json = {0};
    int rc = query_parse(c, &q, true, true, false);
    if (rc == 1) {
        rc = burrow_explain(c->txn, q.coll, &q.opt, &json);
        rc = rc ? cmd_fail(c, rc) : resp_bulk(c->out, json.data, json.size);
    }
    burrow_buf_free(&json);
    query_args_free(&q);
    return rc;
}

/* DOC.COUNT coll [filter] */
static int doc_count(cmd_ctx *c)
{
    query_args q = {0};
    int rc = query_parse(c, &q, false, false, false);
    if (rc == 1) {
        uint64_t n;
        rc = burrow_doc_count(c->txn, q.coll, q.filter, &n);
        rc = rc ? cmd_fail(c, rc) : resp_int(c->out, n > INT64_MAX ? INT64_MAX : (int64_t)n);
    }
    query_args_free(&q);
    return rc;
}

/* ---- aggregation ----------------------------------------------------------- */

/*
 * The end of the JSON value starting at p[0] (p < end), in the compact
 * text burrow_aggregate writes: strings are skipped with their escapes,
 * brackets counted. Returns end when the value runs to the end.
 */
static const char *json_value_end(const char *p, const char *end)
{
    int depth = 0;
    bool in_str = false;
    for (; p < end; p++) {
        char ch = *p;
        if (in_str) {
            if (ch == '\\')
                p++;
            else if (ch == '"')
                in_str = false;
        } else if (ch == '"') {
            in_str = true;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return p;
            depth--;
        } else if (ch == ',' && depth == 0) {
            return p;
        }
    }
    return end;
}

/* Reply with the elements of the JSON array text json[0..len) (compact,
 * from burrow_aggregate), each as a bulk string. */
static int reply_array_elements(cmd_ctx *c, const char *json, size_t len)
{
    const char *end = json + len;
    if (len < 2 || json[0] != '[' || end[-1] != ']')
        return resp_error(c->out, "ERR aggregate: unexpected result", 32) ? BURROW_ENOMEM : 0;
    const char *body = json + 1, *body_end = end - 1;
    size_t start = c->out->size, n = 0;
    int rc = 0;
    for (const char *p = body; p < body_end && !rc;) {
        const char *e = json_value_end(p, body_end);
        rc = resp_bulk(c->out, p, (size_t)(e - p));
        n++;
        p = e + 1;
    }
    if (!rc)
        rc = array_before(c->out, start, n);
    if (rc)
        c->out->size = start;
    return rc;
}

/* The accumulator word at argument i: its op, and whether it takes a path. */
static bool agg_word(const cmd_ctx *c, uint32_t i, int *op)
{
    static const struct {
        const char *word;
        int op;
    } words[] = {{"COUNT", BURROW_AGG_COUNT}, {"SUM", BURROW_AGG_SUM}, {"AVG", BURROW_AGG_AVG},
                 {"MIN", BURROW_AGG_MIN},     {"MAX", BURROW_AGG_MAX}};
    for (size_t k = 0; k < sizeof words / sizeof words[0]; k++)
        if (cmd_arg_is(c, i, words[k].word)) {
            *op = words[k].op;
            return true;
        }
    return false;
}

/* Split a comma-separated list of paths (in s, modified in place) into
 * group[] (room for max). Returns the count, or -1 for an empty path or
 * too many. */
static int split_paths(char *s, const char **group, int max)
{
    int n = 0;
    for (char *p = s;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        if (*p == 0 || n == max)
            return -1;
        group[n++] = p;
        if (!comma)
            return n;
        p = comma + 1;
    }
}

#define AGG_MAX 32 /* the library's limit on group paths and accumulators */

/* DOC.AGGREGATE coll [filter] [GROUP f[,f...]] [COUNT] [SUM f] [AVG f]
 * [MIN f] [MAX f] */
static int doc_aggregate(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    const char *group[AGG_MAX];
    burrow_agg aggs[AGG_MAX];
    int ngroup = 0;
    size_t naggs = 0;
    bool grouped = false;
    burrow_filter *f = NULL;
    burrow_buf json = {0};
    cstrs s = {0};
    int op, rc;

    if (!arg_coll(c, 1, coll))
        return 0;
    uint32_t i = 2;
    if (i < c->argc && !cmd_arg_is(c, i, "GROUP") && !agg_word(c, i, &op)) {
        if ((rc = arg_filter(c, i, &f)) != 1)
            goto out;
        i++;
    }
    for (; i < c->argc; i++) {
        if (cmd_arg_is(c, i, "GROUP") && !grouped && i + 1 < c->argc) {
            const char *list;
            if ((rc = arg_cstr(c, &s, ++i, &list)) != 1)
                goto out;
            ngroup = split_paths((char *)list, group, AGG_MAX);
            if (ngroup < 0) {
                rc = resp_errorf(c->out, "ERR GROUP takes 1 to %d comma-separated fields",
                                 AGG_MAX) ? BURROW_ENOMEM : 0;
                goto out;
            }
            grouped = true;
        } else if (agg_word(c, i, &op) && naggs < AGG_MAX) {
            aggs[naggs] = (burrow_agg){op, NULL};
            if (op != BURROW_AGG_COUNT) {
                if (i + 1 == c->argc) {
                    rc = cmd_err_syntax(c);
                    goto out;
                }
                if ((rc = arg_cstr(c, &s, ++i, &aggs[naggs].path)) != 1)
                    goto out;
            }
            naggs++;
        } else {
            rc = cmd_err_syntax(c);
            goto out;
        }
    }
    rc = burrow_aggregate(c->txn, coll, f, group, (size_t)ngroup, aggs, naggs, &json);
    rc = rc ? cmd_fail(c, rc) : reply_array_elements(c, (const char *)json.data, json.size);
out:
    burrow_filter_free(f);
    burrow_buf_free(&json);
    cstrs_free(&s);
    return rc;
}

/* ---- indexes ----------------------------------------------------------------- */

typedef struct index_list_ctx {
    cmd_ctx *c;
    size_t n;
} index_list_ctx;

static int index_one(void *ctx, const char *name, unsigned flags)
{
    index_list_ctx *l = ctx;
    buf *out = l->c->out;
    l->n++;
    int rc = resp_map(out, l->c->proto, 2);
    if (!rc)
        rc = resp_bulk_cstr(out, "name");
    if (!rc)
        rc = resp_bulk_cstr(out, name);
    if (!rc)
        rc = resp_bulk_cstr(out, "unique");
    if (!rc)
        rc = resp_bool(out, l->c->proto, (flags & BURROW_INDEX_UNIQUE) != 0);
    return rc;
}

/* DOC.INDEX CREATE coll field[,field...] [UNIQUE] | DROP coll name | LIST coll */
static int doc_index(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    cstrs s = {0};
    const char *arg;
    int rc;
    if (cmd_arg_is(c, 1, "LIST") && c->argc == 3) {
        if (!arg_coll(c, 2, coll))
            return 0;
        size_t start = c->out->size;
        index_list_ctx l = {c, 0};
        rc = burrow_index_list(c->txn, coll, index_one, &l);
        if (!rc)
            rc = array_before(c->out, start, l.n);
        if (rc) {
            c->out->size = start;
            return cmd_fail(c, rc);
        }
        return 0;
    }
    bool create = cmd_arg_is(c, 1, "CREATE");
    if (create && (c->argc == 4 || (c->argc == 5 && cmd_arg_is(c, 4, "UNIQUE")))) {
        if (!arg_coll(c, 2, coll))
            return 0;
        if ((rc = arg_cstr(c, &s, 3, &arg)) == 1) {
            rc = burrow_index_create(c->txn, coll, arg, c->argc == 5 ? BURROW_INDEX_UNIQUE : 0);
            rc = rc ? cmd_fail(c, rc) : resp_ok(c->out);
        }
    } else if (cmd_arg_is(c, 1, "DROP") && c->argc == 4) {
        if (!arg_coll(c, 2, coll))
            return 0;
        if ((rc = arg_cstr(c, &s, 3, &arg)) == 1) {
            rc = burrow_index_drop(c->txn, coll, arg);
            rc = rc ? cmd_fail(c, rc) : resp_ok(c->out);
        }
    } else if (create || cmd_arg_is(c, 1, "DROP") || cmd_arg_is(c, 1, "LIST")) {
        rc = cmd_err_syntax(c);
    } else {
        rc = resp_errorf(c->out, "ERR unknown subcommand '%.*s'. Try CREATE, DROP or LIST.",
                         (int)(c->argv[1].len > 64 ? 64 : c->argv[1].len), c->argv[1].ptr)
                 ? BURROW_ENOMEM
                 : 0;
    }
    cstrs_free(&s);
    return rc;
}

/* ---- the table ----------------------------------------------------------- */

/*
 * No DOC.* argument is a key of the Redis keyspace (collections are apart
 * from it, keyspace.h), so first_key is 0: WATCH and the batch's read cache
 * do not apply to them.
 */
#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST

const cmd_def cmd_doc[] = {
    {"doc.create", -2, W, 0, 0, 0, doc_create, "doc", "Create a collection, with an optional schema."},
    {"doc.drop", 2, W, 0, 0, 0, doc_drop, "doc", "Drop a collection, its documents and its indexes."},
    {"doc.list", 1, R, 0, 0, 0, doc_list, "doc", "List the collections in name order."},
    {"doc.insert", 3, W | F, 0, 0, 0, doc_insert, "doc", "Insert a document; returns its id."},
    {"doc.get", -3, R | F, 0, 0, 0, doc_get, "doc", "Get a document by id, optionally only some fields."},
    {"doc.replace", 4, W | F, 0, 0, 0, doc_replace, "doc", "Replace a whole document."},
    {"doc.update", -4, W | F, 0, 0, 0, doc_update, "doc",
     "Apply update operators to a document, optionally only IF it matches a filter."},
    {"doc.delete", 3, W | F, 0, 0, 0, doc_delete, "doc", "Delete a document."},
    {"doc.find", -2, R, 0, 0, 0, doc_find, "doc",
     "Find documents matching a filter, with sort, skip, limit and projection."},
    {"doc.count", -2, R, 0, 0, 0, doc_count, "doc", "Count the documents matching a filter."},
    {"doc.aggregate", -2, R, 0, 0, 0, doc_aggregate, "doc",
     "Group matching documents and compute count, sum, avg, min and max."},
    {"doc.explain", -2, R, 0, 0, 0, doc_explain, "doc", "Show the plan a query would use."},
    {"doc.index", -3, W, 0, 0, 0, doc_index, "doc", "Create, drop or list the indexes of a collection."},
    {"doc.expire", 4, W | F, 0, 0, 0, doc_expire, "doc", "Set a document's time to live in seconds."},
    {"doc.ttl", 3, R | F, 0, 0, 0, doc_ttl, "doc", "The seconds a document has left to live."},
    {"doc.persist", 3, W | F, 0, 0, 0, doc_persist, "doc", "Remove a document's time to live."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
