/*
 * test_query.c — queries over collections (query/planner.c, find.c,
 * aggregate.c): burrow_find with sort, skip, limit and projection,
 * burrow_doc_count and burrow_aggregate against a brute-force reference
 * over random collections, indexes and filters; EXPLAIN's choices; results
 * seen after writes in the same txn and after the txn has ended.
 *
 * The reference reads every document with a cursor on the collection's
 * documents bucket, keeps those doc_filter_match accepts, sorts them with
 * doc_compare (a missing value first, ties in index key order of the id:
 * the id, then a byte of its length) and applies skip and limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "burrow.h"
#include "doc/doc.h"
#include "doc/filter.h"
#include "query/query.h"
#include "testutil.h"

#define OK(x) assert_int_equal((x), 0)

/* ---- fixture --------------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
    char *path;
    burrow_db *db;
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    fx->dir = tu_tmpdir("burrow-query");
    if (!fx->dir)
        return -1;
    fx->path = tu_path(fx->dir, "db");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->db)
        burrow_close(fx->db);
    tu_rmtree(fx->dir);
    free(fx->dir);
    free(fx->path);
    free(fx);
    return 0;
}

static burrow_db *open_db(fixture *fx, uint32_t page_size)
{
    if (fx->db)
        OK(burrow_close(fx->db));
    remove(fx->path);
    burrow_options opt;
    burrow_options_init(&opt);
    opt.sync_mode = BURROW_SYNC_NONE;
    opt.page_size = page_size;
    OK(burrow_open(fx->path, &opt, &fx->db));
    return fx->db;
}

static burrow_txn *begin(burrow_db *db, unsigned flags)
{
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, flags, &t));
    return t;
}

/* ---- text ------------------------------------------------------------------------------ */

typedef struct sb {
    char *s;
    size_t n, cap;
} sb;

static void sb_add(sb *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (b->s && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        b->cap = 2 * (b->cap + (size_t)k) + 64;
        b->s = realloc(b->s, b->cap);
    }
}

static void sb_reset(sb *b)
{
    b->n = 0;
    if (b->s)
        b->s[0] = '\0';
}

/* ---- random documents and filters ---------------------------------------------------------- */

static const char *const STRINGS[] = {"",   "a",  "ab", "abc",       "b",
                                      "ba", "bb", "c",  "a\\u0000b", "ab\\t"};
#define NSTRINGS (sizeof STRINGS / sizeof *STRINGS)

typedef struct gen {
    tu_rng *r;
    char ids[256][24]; /* ids inserted so far, as JSON string bodies */
    size_t nids;
} gen;

static void gen_scalar(gen *g, sb *b)
{
    tu_rng *r = g->r;
    switch (tu_below(r, 11)) {
    case 0:
    case 1:
    case 2: sb_add(b, "%d", (int)tu_below(r, 7) - 3); break;
    case 3: sb_add(b, "%d.5", (int)tu_below(r, 5) - 2); break;
    case 4: sb_add(b, "%d.0", (int)tu_below(r, 5) - 2); break;
    case 5:
    case 6: sb_add(b, "\"%s\"", STRINGS[tu_below(r, NSTRINGS)]); break;
    case 7: sb_add(b, tu_chance(r, 1, 2) ? "true" : "false"); break;
    case 8: sb_add(b, "null"); break;
    case 9: /* beyond 2^53: exact integers next to a double */
        sb_add(b, tu_chance(r, 1, 2) ? "9007199254740993" : "9007199254740992.0");
        break;
    default: sb_add(b, "%d", (int)tu_below(r, 3)); break;
    }
}

static void gen_value(gen *g, sb *b, int depth)
{
    tu_rng *r = g->r;
    unsigned k = (unsigned)tu_below(r, 10);
    if (depth > 1 || k < 6) {
        gen_scalar(g, b);
    } else if (k < 8) {
        unsigned n = (unsigned)tu_below(r, 4);
        sb_add(b, "[");
        for (unsigned i = 0; i < n; i++) {
            if (i)
                sb_add(b, ",");
            gen_value(g, b, depth + 1);
        }
        sb_add(b, "]");
    } else {
        sb_add(b, "{");
        bool any = false;
        if (tu_chance(r, 3, 4)) {
            sb_add(b, "\"x\":");
            gen_value(g, b, depth + 1);
            any = true;
        }
        if (tu_chance(r, 1, 2)) {
            sb_add(b, "%s\"y\":", any ? "," : "");
            gen_value(g, b, depth + 1);
        }
        sb_add(b, "}");
    }
}

/* The nested field "n": mostly an object, sometimes an array of objects
 * (the path n.x then crosses an array), sometimes a scalar. */
static void gen_n(gen *g, sb *b)
{
    tu_rng *r = g->r;
    unsigned k = (unsigned)tu_below(r, 10);
    if (k < 6) {
        sb_add(b, "{\"x\":");
        gen_scalar(g, b);
        if (tu_chance(r, 1, 2)) {
            sb_add(b, ",\"y\":");
            gen_value(g, b, 1);
        }
        sb_add(b, "}");
    } else if (k < 8) {
        sb_add(b, "[{\"x\":");
        gen_scalar(g, b);
        sb_add(b, "},{\"x\":");
        gen_scalar(g, b);
        sb_add(b, "}]");
    } else {
        gen_value(g, b, 0);
    }
}

static void gen_id(gen *g, sb *b)
{
    static const char *const suffix[] = {"", "", "", " ", "\\t", "\\u0001", "z"};
    unsigned n = (unsigned)tu_below(g->r, 60);
    sb_add(b, "d%u%s", n, suffix[tu_below(g->r, 7)]);
}

static void gen_doc(gen *g, sb *b)
{
    tu_rng *r = g->r;
    sb_add(b, "{");
    bool any = false;
    if (tu_chance(r, 4, 5)) {
        sb_add(b, "\"_id\":\"");
        size_t mark = b->n;
        gen_id(g, b);
        if (g->nids < 256)
            snprintf(g->ids[g->nids++], sizeof g->ids[0], "%.*s", (int)(b->n - mark), b->s + mark);
        sb_add(b, "\"");
        any = true;
    }
    static const char *const fields[] = {"a", "b", "c", "n", "t"};
    for (int f = 0; f < 5; f++) {
        if (tu_chance(r, 1, 5))
            continue;
        sb_add(b, "%s\"%s\":", any ? "," : "", fields[f]);
        any = true;
        switch (f) {
        case 0:
            if (tu_chance(r, 1, 6))
                gen_value(g, b, 1);
            else
                gen_scalar(g, b);
            break;
        case 1: sb_add(b, "%d", (int)tu_below(r, 8)); break;
        case 2:
            if (tu_chance(r, 5, 6))
                sb_add(b, "\"%s\"", STRINGS[tu_below(r, NSTRINGS)]);
            else
                gen_scalar(g, b);
            break;
        case 3: gen_n(g, b); break;
        default:
            if (tu_chance(r, 4, 5)) {
                unsigned n = (unsigned)tu_below(r, 4);
                sb_add(b, "[");
                for (unsigned i = 0; i < n; i++) {
                    if (i)
                        sb_add(b, ",");
                    gen_scalar(g, b);
                }
                sb_add(b, "]");
            } else {
                gen_scalar(g, b);
            }
        }
    }
    sb_add(b, "}");
}

static const char *const PATHS[] = {"a", "b",   "c", "n.x", "n.y", "t",  "_id",   "a",  "b",
                                    "c", "n.x", "t", "t.0", "n",   "zz", "n.x.q", "_id"};
#define NPATHS (sizeof PATHS / sizeof *PATHS)

static void gen_operand(gen *g, const char *path, sb *b)
{
    if (strcmp(path, "_id") == 0 && g->nids && tu_chance(g->r, 3, 4))
        sb_add(b, "\"%s\"", g->ids[tu_below(g->r, g->nids)]);
    else if (tu_chance(g->r, 1, 8))
        gen_value(g, b, 0);
    else
        gen_scalar(g, b);
}

static void gen_cond(gen *g, const char *path, sb *b)
{
    tu_rng *r = g->r;
    static const char *const cmp[] = {"$gt", "$gte", "$lt", "$lte"};
    switch (tu_below(r, 16)) {
    case 0:
    case 1: gen_operand(g, path, b); break;
    case 2:
        sb_add(b, "{\"%s\":", tu_chance(r, 3, 4) ? "$eq" : "$ne");
        gen_operand(g, path, b);
        sb_add(b, "}");
        break;
    case 3:
    case 4:
    case 5:
        sb_add(b, "{\"%s\":", cmp[tu_below(r, 4)]);
        gen_operand(g, path, b);
        sb_add(b, "}");
        break;
    case 6:
    case 7: {
        sb_add(b, "{\"%s\":[", tu_chance(r, 4, 5) ? "$in" : "$nin");
        unsigned n = (unsigned)tu_below(r, 4);
        for (unsigned i = 0; i < n; i++) {
            if (i)
                sb_add(b, ",");
            gen_operand(g, path, b);
        }
        sb_add(b, "]}");
        break;
    }
    case 8: sb_add(b, "{\"$exists\":%s}", tu_chance(r, 1, 2) ? "true" : "false"); break;
    case 9:
        sb_add(b, "{\"$contains\":");
        gen_scalar(g, b);
        sb_add(b, "}");
        break;
    case 10:
    case 11:
        if (strcmp(path, "_id") == 0)
            sb_add(b, "{\"%s\":\"d%u\"}", tu_chance(r, 3, 4) ? "$startsWith" : "$endsWith",
                   (unsigned)tu_below(r, 6));
        else
            sb_add(b, "{\"%s\":\"%s\"}", tu_chance(r, 3, 4) ? "$startsWith" : "$endsWith",
                   STRINGS[tu_below(r, NSTRINGS)]);
        break;
    case 12:
        if (tu_chance(r, 1, 2)) {
            sb_add(b, "{\"$elemMatch\":{\"%s\":", cmp[tu_below(r, 4)]);
            gen_scalar(g, b);
        } else {
            sb_add(b, "{\"$elemMatch\":{\"x\":");
            gen_scalar(g, b);
        }
        sb_add(b, "}}");
        break;
    case 13:
    case 14: /* a range from two conditions */
        sb_add(b, "{\"%s\":", cmp[tu_below(r, 2)]);
        gen_operand(g, path, b);
        sb_add(b, ",\"%s\":", cmp[2 + tu_below(r, 2)]);
        gen_operand(g, path, b);
        sb_add(b, "}");
        break;
    default:
        sb_add(b, "{\"$not\":{\"%s\":", cmp[tu_below(r, 4)]);
        gen_scalar(g, b);
        sb_add(b, "}}");
        break;
    }
}

static void gen_filter(gen *g, sb *b, int depth)
{
    tu_rng *r = g->r;
    unsigned k = (unsigned)tu_below(r, 12);
    if (depth < 2 && k == 0) {
        static const char *const ops[] = {"$and", "$or", "$nor"};
        sb_add(b, "{\"%s\":[", ops[tu_below(r, 3)]);
        unsigned n = 1 + (unsigned)tu_below(r, 3);
        for (unsigned i = 0; i < n; i++) {
            if (i)
                sb_add(b, ",");
            gen_filter(g, b, depth + 1);
        }
        sb_add(b, "]}");
        return;
    }
    if (depth < 2 && k == 1) {
        sb_add(b, "{\"$not\":");
        gen_filter(g, b, depth + 1);
        sb_add(b, "}");
        return;
    }
    /* Distinct paths: an object may not name one twice. */
    unsigned n = (unsigned)tu_below(r, 4);
    bool used[NPATHS] = {0};
    sb_add(b, "{");
    for (unsigned i = 0; i < n; i++) {
        size_t p = tu_below(r, NPATHS);
        bool dup = false;
        for (size_t q = 0; q < NPATHS; q++)
            dup |= used[q] && strcmp(PATHS[q], PATHS[p]) == 0;
        if (dup)
            continue;
        used[p] = true;
        sb_add(b, "%s\"%s\":", b->s[b->n - 1] == '{' ? "" : ",", PATHS[p]);
        gen_cond(g, PATHS[p], b);
    }
    sb_add(b, "}");
}

/* ---- the reference ----------------------------------------------------------------------- */

typedef struct ref_doc {
    uint8_t *id;
    size_t idlen;
    uint8_t *doc;
    size_t len;
} ref_doc;

typedef struct ref_set {
    ref_doc *v;
    size_t n;
} ref_set;

static void ref_free(ref_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].id);
        free(s->v[i].doc);
    }
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static doc_val ref_root(const ref_doc *d)
{
    doc_val v;
    OK(doc_root(d->doc, d->len, &v));
    return v;
}

/* Every document of coll matching f (NULL: all), in id order. */
static void ref_load(burrow_txn *txn, const char *coll, const burrow_filter *f, ref_set *out)
{
    char name[256];
    coll_docs_bucket_name(coll, name);
    burrow_bucket b;
    OK(burrow_bucket_open(txn, name, 0, &b));
    burrow_cursor *cur;
    OK(burrow_cursor_open(txn, b, &cur));
    burrow_val k, v;
    out->v = NULL;
    out->n = 0;
    int s = burrow_cursor_first(cur, &k, &v);
    while (s == 0) {
        doc_val root;
        OK(doc_root(v.data, v.size, &root));
        int m = f ? doc_filter_match((const doc_filter *)f, root) : 1;
        assert_true(m >= 0);
        if (m) {
            out->v = realloc(out->v, (out->n + 1) * sizeof *out->v);
            ref_doc *d = &out->v[out->n++];
            d->id = malloc(k.size);
            memcpy(d->id, k.data, k.size);
            d->idlen = k.size;
            d->doc = malloc(v.size);
            memcpy(d->doc, v.data, v.size);
            d->len = v.size;
        }
        s = burrow_cursor_next(cur, &k, &v);
    }
    assert_int_equal(s, BURROW_ENOTFOUND);
    burrow_cursor_close(cur);
}

typedef struct ref_sort {
    doc_path paths[4];
    bool desc[4];
    size_t n;
} ref_sort;

static int id_key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    uint8_t ka[BURROW_MAX_ID_SIZE + 1], kb[BURROW_MAX_ID_SIZE + 1];
    memcpy(ka, a, al);
    ka[al] = (uint8_t)al;
    memcpy(kb, b, bl);
    kb[bl] = (uint8_t)bl;
    int c = memcmp(ka, kb, al < bl ? al + 1 : bl + 1);
    return c ? c : (al > bl) - (al < bl);
}

static int ref_cmp(const void *pa, const void *pb, void *ctx)
{
    const ref_doc *a = pa, *b = pb;
    const ref_sort *s = ctx;
    for (size_t i = 0; i < s->n; i++) {
        doc_val va, vb;
        bool ha = doc_path_get(ref_root(a), &s->paths[i], &va) == 0;
        bool hb = doc_path_get(ref_root(b), &s->paths[i], &vb) == 0;
        int c = ha && hb ? doc_compare(va, vb) : (int)ha - (int)hb;
        if (c)
            return s->desc[i] ? -c : c;
    }
    return id_key_cmp(a->id, a->idlen, b->id, b->idlen);
}

/* ---- comparing answers -------------------------------------------------------------------- */

/* Equal values, numbers within a relative 1e-12 (averages). */
static bool approx_equal(doc_val a, doc_val b)
{
    if (doc_is_number(a) && doc_is_number(b)) {
        double x, y;
        doc_get_double(a, &x);
        doc_get_double(b, &y);
        return doc_equal(a, b) || fabs(x - y) <= 1e-12 * fmax(1.0, fabs(x));
    }
    enum doc_type t = doc_type(a);
    if (t != doc_type(b) || (t != DOC_ARRAY && t != DOC_OBJECT))
        return doc_equal(a, b);
    if (doc_count(a) != doc_count(b))
        return false;
    for (uint32_t i = 0; i < doc_count(a); i++) {
        doc_val x, y;
        if (t == DOC_ARRAY) {
            OK(doc_array_at(a, i, &x));
            OK(doc_array_at(b, i, &y));
        } else {
            const char *k;
            size_t kl;
            OK(doc_object_at(a, i, &k, &kl, &x));
            if (doc_object_get(b, k, kl, &y))
                return false;
        }
        if (!approx_equal(x, y))
            return false;
    }
    return true;
}

static void parse_json_doc(const char *json, size_t len, burrow_buf *out, doc_val *root)
{
    int rc = burrow_json_parse(json, len, out);
    if (rc)
        fail_msg("bad JSON (%s): %.*s", burrow_errmsg(), (int)len, json);
    OK(doc_root(out->data, out->size, root));
}

/* A value from a JSON object by key, parsed. */
static doc_val json_member(const burrow_buf *doc, const char *key)
{
    doc_val root, v;
    OK(doc_root(doc->data, doc->size, &root));
    if (doc_object_get(root, key, strlen(key), &v))
        fail_msg("no member '%s'", key);
    return v;
}

static bool json_member_is(const burrow_buf *doc, const char *key, const char *str)
{
    doc_val v = json_member(doc, key);
    const char *s;
    size_t n;
    if (doc_get_string(v, &s, &n))
        return str == NULL && doc_type(v) == DOC_NULL;
    return str && n == strlen(str) && memcmp(s, str, n) == 0;
}

/* ---- one differential query --------------------------------------------------------------- */

static const char *const INDEXES[] = {"a",   "b",     "c",   "n.x", "t",   "a,b",   "c,a",
                                      "b,c", "n.x,b", "t,b", "n.y", "_id", "b,a,c", "n"};
#define NINDEXES (sizeof INDEXES / sizeof *INDEXES)

typedef struct query {
    sb filter;
    burrow_sort sort[4];
    size_t nsort;
    uint64_t skip, limit;
    const char *fields[3];
    size_t nfields;
    unsigned flags;
    char names[4][8]; /* sort paths split from an index's field list */
} query;

static const char *const SORT_PATHS[] = {"a", "b", "c", "n.x", "_id", "t", "zz"};
static const char *const FIELD_SETS[][3] = {{"a", "n.x", NULL}, {"c", NULL, NULL}, {"t", "b", "n"}};

/* A query shaped for an index: equality on a prefix of its fields (or
 * none), perhaps a range on the next, a sort on the rest. */
static void gen_index_query(gen *g, query *q)
{
    tu_rng *r = g->r;
    const char *spec = INDEXES[tu_below(r, NINDEXES)];
    size_t n = 0;
    for (const char *p = spec; n < 4; n++) {
        size_t len = strcspn(p, ",");
        snprintf(q->names[n], sizeof q->names[n], "%.*s", (int)len, p);
        if (!p[len]) {
            n++;
            break;
        }
        p += len + 1;
    }
    size_t pinned = (size_t)tu_below(r, n + 1);
    sb_add(&q->filter, "{");
    for (size_t i = 0; i < pinned; i++) {
        sb_add(&q->filter, "%s\"%s\":", i ? "," : "", q->names[i]);
        gen_operand(g, q->names[i], &q->filter);
    }
    if (pinned < n && tu_chance(r, 1, 2)) {
        sb_add(&q->filter, "%s\"%s\":", pinned ? "," : "", q->names[pinned]);
        gen_cond(g, q->names[pinned], &q->filter);
    }
    sb_add(&q->filter, "}");
    size_t from = tu_chance(r, 1, 3) ? 0 : pinned;
    bool desc = tu_chance(r, 1, 2);
    q->nsort = 0;
    for (size_t i = from; i < n; i++)
        q->sort[q->nsort++] = (burrow_sort){q->names[i], desc};
}

static void gen_query(gen *g, query *q)
{
    tu_rng *r = g->r;
    sb_reset(&q->filter);
    if (tu_chance(r, 1, 4)) {
        gen_index_query(g, q);
    } else {
        if (tu_chance(r, 1, 10))
            sb_add(&q->filter, "{}");
        else
            gen_filter(g, &q->filter, 0);
        q->nsort = tu_chance(r, 1, 3) ? 0 : 1 + (size_t)tu_below(r, 2);
        bool desc = tu_chance(r, 1, 2);
        for (size_t i = 0; i < q->nsort; i++) {
            q->sort[i].path = SORT_PATHS[tu_below(r, sizeof SORT_PATHS / sizeof *SORT_PATHS)];
            /* Mostly one direction, so index order can serve it. */
            q->sort[i].descending = tu_chance(r, 1, 6) ? !desc : desc;
        }
    }
    q->skip = tu_chance(r, 1, 3) ? tu_below(r, 6) : 0;
    q->limit = tu_chance(r, 1, 2) ? tu_below(r, 12) : 0;
    q->nfields = 0;
    if (tu_chance(r, 1, 5)) {
        const char *const *set = FIELD_SETS[tu_below(r, 3)];
        while (q->nfields < 3 && set[q->nfields]) {
            q->fields[q->nfields] = set[q->nfields];
            q->nfields++;
        }
    }
    q->flags = tu_chance(r, 1, 4) ? BURROW_OUT_JSON : BURROW_OUT_BINARY;
}

/* The expected output of one stored document. */
static void expected_output(const query *q, const ref_doc *d, burrow_buf *out)
{
    doc_val root = ref_root(d);
    doc_builder b;
    doc_builder_init(&b);
    if (q->nfields) {
        projection *p;
        OK(projection_compile(q->fields, q->nfields, &p));
        const uint8_t *data;
        size_t len;
        OK(projection_apply(p, root, &b));
        OK(doc_builder_finish(&b, &data, &len));
        OK(doc_root(data, len, &root));
        projection_free(p);
    }
    out->size = 0;
    if (q->flags == BURROW_OUT_BINARY) {
        if (out->cap < 1 + root.len) {
            out->data = realloc(out->data, 1 + root.len);
            out->cap = 1 + root.len;
        }
        out->data[0] = DOC_FORMAT_VERSION;
        memcpy(out->data + 1, root.p, root.len);
        out->size = 1 + root.len;
    } else {
        OK(json_write(root, 0, NULL, out));
    }
    doc_builder_free(&b);
}

static int id_bytes_cmp(const void *pa, const void *pb)
{
    const ref_doc *a = pa, *b = pb;
    int c = memcmp(a->id, b->id, a->idlen < b->idlen ? a->idlen : b->idlen);
    return c ? c : (a->idlen > b->idlen) - (a->idlen < b->idlen);
}

/* Without a sort, results come in the plan's order: read them all, check
 * they are the reference's documents, each once, and replace the
 * reference by them in that order (skip and limit cut that order). */
static void plan_order(burrow_txn *txn, const char *coll, const burrow_filter *f, ref_set *all,
                       const query *q, uint64_t seed, unsigned round)
{
    burrow_find_options o = {.filter = f, .output = {.flags = BURROW_OUT_BINARY | BURROW_OUT_RAW}};
    burrow_results *res;
    OK(burrow_find(txn, coll, &o, &res));
    ref_set got = {0};
    burrow_val v;
    int rc;
    while ((rc = burrow_results_next(res, &v)) == 0) {
        got.v = realloc(got.v, (got.n + 1) * sizeof *got.v);
        ref_doc *d = &got.v[got.n++];
        d->doc = malloc(v.size);
        memcpy(d->doc, v.data, v.size);
        d->len = v.size;
        doc_val idv;
        const char *id;
        OK(doc_object_get(ref_root(d), "_id", 3, &idv));
        OK(doc_get_string(idv, &id, &d->idlen));
        d->id = malloc(d->idlen + 1);
        memcpy(d->id, id, d->idlen);
    }
    assert_int_equal(rc, BURROW_ENOTFOUND);
    burrow_results_close(res);
    ref_set sorted = {malloc((got.n + 1) * sizeof *got.v), got.n};
    if (got.n)
        memcpy(sorted.v, got.v, got.n * sizeof *got.v);
    qsort(sorted.v, sorted.n, sizeof *sorted.v, id_bytes_cmp);
    bool same = sorted.n == all->n;
    for (size_t i = 0; i < sorted.n && same; i++)
        same = sorted.v[i].len == all->v[i].len &&
               memcmp(sorted.v[i].doc, all->v[i].doc, all->v[i].len) == 0;
    if (!same) {
        burrow_buf plan = {0};
        burrow_explain(txn, coll, &o, &plan);
        fail_msg("seed %llu round %u: filter %s: %zu documents, want %zu\nplan %s",
                 (unsigned long long)seed, round, q->filter.s, got.n, all->n,
                 (const char *)plan.data);
    }
    free(sorted.v);
    ref_free(all);
    *all = got;
}

/* How often each kind of plan ran, so a change that stops the planner from
 * choosing one shows up as a failure, not as a weaker test. */
static struct {
    unsigned scan, id, index, sort_index, index_sort, sort_memory, reverse, dedupe;
} seen;

static void tally(const burrow_buf *plan_json)
{
    burrow_buf p = {0};
    doc_val root;
    parse_json_doc((const char *)plan_json->data, plan_json->size, &p, &root);
    seen.scan += json_member_is(&p, "plan", "scan");
    seen.id += json_member_is(&p, "plan", "id");
    seen.index += json_member_is(&p, "plan", "index");
    seen.sort_index += json_member_is(&p, "sort", "index");
    seen.sort_memory += json_member_is(&p, "sort", "memory");
    seen.index_sort += json_member_is(&p, "plan", "index") && json_member_is(&p, "sort", "index");
    seen.reverse += doc_type(json_member(&p, "reverse")) == DOC_TRUE;
    seen.dedupe += doc_type(json_member(&p, "dedupe")) == DOC_TRUE;
    burrow_buf_free(&p);
}

static void check_query(burrow_txn *txn, const char *coll, const query *q, uint64_t seed,
                        unsigned round)
{
    burrow_filter *f;
    int rc = burrow_filter_compile(q->filter.s, q->filter.n, &f);
    if (rc)
        fail_msg("filter %s: %s", q->filter.s, burrow_errmsg());
    /* The reference. */
    ref_set all;
    ref_load(txn, coll, f, &all);
    ref_sort rs = {.n = q->nsort};
    for (size_t i = 0; i < q->nsort; i++) {
        OK(doc_path_parse(q->sort[i].path, strlen(q->sort[i].path), DOC_PATH_DOTTED, &rs.paths[i]));
        rs.desc[i] = q->sort[i].descending;
    }
    if (q->nsort && all.n)
        qsort_r(all.v, all.n, sizeof *all.v, ref_cmp, &rs);
    if (q->nsort == 0)
        plan_order(txn, coll, f, &all, q, seed, round);
    size_t from = q->skip < all.n ? (size_t)q->skip : all.n;
    size_t to = q->limit && from + q->limit < all.n ? from + (size_t)q->limit : all.n;

    burrow_find_options o = {.filter = f,
                             .sort = q->nsort ? q->sort : NULL,
                             .nsort = q->nsort,
                             .skip = q->skip,
                             .limit = q->limit,
                             .output = {.flags = q->flags | BURROW_OUT_RAW,
                                        .fields = q->nfields ? q->fields : NULL,
                                        .nfields = q->nfields}};
    burrow_buf plan = {0};
    OK(burrow_explain(txn, coll, &o, &plan));
    tally(&plan);
    burrow_results *res;
    rc = burrow_find(txn, coll, &o, &res);
    if (rc)
        fail_msg("find %s: %s", q->filter.s, burrow_errmsg());
    burrow_buf want = {0};
    burrow_val got;
    for (size_t i = from; i <= to; i++) {
        rc = burrow_results_next(res, &got);
        if (i == to) {
            if (rc != BURROW_ENOTFOUND)
                fail_msg("seed %llu round %u: filter %s: more than %zu results\nplan %s",
                         (unsigned long long)seed, round, q->filter.s, to - from,
                         (const char *)plan.data);
            break;
        }
        if (rc)
            fail_msg("seed %llu round %u: filter %s: %zu results, want %zu (%s)\nplan %s",
                     (unsigned long long)seed, round, q->filter.s, i - from, to - from,
                     burrow_strerror(rc), (const char *)plan.data);
        expected_output(q, &all.v[i], &want);
        if (got.size != want.size || memcmp(got.data, want.data, want.size) != 0) {
            burrow_buf a = {0}, b = {0};
            if (q->flags == BURROW_OUT_BINARY) {
                burrow_json_write(got.data, got.size, 0, &a);
                burrow_json_write(want.data, want.size, 0, &b);
            }
            fail_msg("seed %llu round %u: filter %s sort %zu skip %llu limit %llu: result %zu "
                     "is %s, want %s\nplan %s",
                     (unsigned long long)seed, round, q->filter.s, q->nsort,
                     (unsigned long long)q->skip, (unsigned long long)q->limit, i - from,
                     a.data ? (char *)a.data : (const char *)got.data,
                     b.data ? (char *)b.data : (const char *)want.data, (const char *)plan.data);
        }
    }
    assert_int_equal(burrow_results_next(res, &got), BURROW_ENOTFOUND);
    burrow_results_close(res);

    uint64_t count;
    OK(burrow_doc_count(txn, coll, f, &count));
    assert_int_equal(count, all.n);

    for (size_t i = 0; i < q->nsort; i++)
        doc_path_free(&rs.paths[i]);
    burrow_buf_free(&want);
    burrow_buf_free(&plan);
    ref_free(&all);
    burrow_filter_free(f);
}

/* ---- aggregation reference ---------------------------------------------------------------- */

typedef struct ref_group {
    burrow_buf key;
    doc_val value[2];
    bool present[2];
    size_t first; /* a document of the group */
} ref_group;

static int group_key_cmp(const void *pa, const void *pb)
{
    const ref_group *a = pa, *b = pb;
    size_t n = a->key.size < b->key.size ? a->key.size : b->key.size;
    int r = n ? memcmp(a->key.data, b->key.data, n) : 0;
    return r ? r : (a->key.size > b->key.size) - (a->key.size < b->key.size);
}

static void encode_group(const ref_doc *d, const doc_path *paths, size_t n, burrow_buf *key)
{
    static const uint8_t null_doc[2] = {DOC_FORMAT_VERSION, DOC_TAG_NULL};
    key->size = 0;
    for (size_t i = 0; i < n; i++) {
        doc_val v;
        if (doc_path_get(ref_root(d), &paths[i], &v))
            OK(doc_root(null_doc, 2, &v));
        OK(doc_key_encode(v, key));
    }
}

static void check_aggregate(burrow_txn *txn, const char *coll, gen *g, uint64_t seed,
                            unsigned round)
{
    tu_rng *r = g->r;
    static const char *const GROUPS[] = {"a", "c", "n.x", "t", "b"};
    static const char *const VALUES[] = {"a", "b", "n.x", "t", "c", "zz"};
    const char *group[2];
    size_t ngroup = (size_t)tu_below(r, 3);
    for (size_t i = 0; i < ngroup; i++)
        group[i] = GROUPS[tu_below(r, 5)];
    if (ngroup == 2 && strcmp(group[0], group[1]) == 0)
        ngroup = 1;
    burrow_agg aggs[5];
    size_t naggs = 0;
    aggs[naggs++] = (burrow_agg){BURROW_AGG_COUNT, NULL};
    const char *vp = VALUES[tu_below(r, 6)];
    for (int op = BURROW_AGG_SUM; op <= BURROW_AGG_MAX; op++)
        if (tu_chance(r, 2, 3))
            aggs[naggs++] = (burrow_agg){op, vp};

    sb fs = {0};
    if (tu_chance(r, 1, 3))
        gen_filter(g, &fs, 1);
    burrow_filter *f = NULL;
    if (fs.n)
        OK(burrow_filter_compile(fs.s, fs.n, &f));
    ref_set all;
    ref_load(txn, coll, f, &all);
    burrow_buf json = {0};
    int rc = burrow_aggregate(txn, coll, f, group, ngroup, aggs, naggs, &json);
    if (rc)
        fail_msg("aggregate: %s", burrow_errmsg());
    burrow_buf parsed = {0};
    doc_val got;
    parse_json_doc((const char *)json.data, json.size, &parsed, &got);

    doc_path gp[2], ap;
    for (size_t i = 0; i < ngroup; i++)
        OK(doc_path_parse(group[i], strlen(group[i]), DOC_PATH_DOTTED, &gp[i]));
    OK(doc_path_parse(vp, strlen(vp), DOC_PATH_DOTTED, &ap));
    /* Groups by key. */
    ref_group *groups = calloc(all.n + 1, sizeof *groups);
    size_t ng = 0;
    burrow_buf key = {0};
    for (size_t i = 0; i < all.n; i++) {
        encode_group(&all.v[i], gp, ngroup, &key);
        size_t j = 0;
        while (j < ng && !(groups[j].key.size == key.size &&
                           (key.size == 0 || memcmp(groups[j].key.data, key.data, key.size) == 0)))
            j++;
        if (j == ng) {
            groups[ng].key.data = malloc(key.size + 1);
            if (key.size)
                memcpy(groups[ng].key.data, key.data, key.size);
            groups[ng].key.size = key.size;
            groups[ng].first = i;
            ng++;
        }
    }
    qsort(groups, ng, sizeof *groups, group_key_cmp);
    assert_int_equal(doc_type(got), DOC_ARRAY);
    if (doc_count(got) != ng)
        fail_msg("seed %llu round %u: %u groups, want %zu: %s", (unsigned long long)seed, round,
                 doc_count(got), ng, (const char *)json.data);
    for (size_t gi = 0; gi < ng; gi++) {
        /* Accumulate this group's documents. */
        __int128 isum = 0;
        double dsum = 0;
        uint64_t count = 0, nnum = 0;
        bool any_double = false;
        doc_val mn = {0}, mx = {0};
        for (size_t i = 0; i < all.n; i++) {
            encode_group(&all.v[i], gp, ngroup, &key);
            if (key.size != groups[gi].key.size ||
                (key.size && memcmp(key.data, groups[gi].key.data, key.size)))
                continue;
            count++;
            doc_val v;
            if (doc_path_get(ref_root(&all.v[i]), &ap, &v))
                continue;
            int64_t iv;
            double dv;
            if (doc_type(v) == DOC_INT) {
                doc_get_int(v, &iv);
                isum += iv;
                nnum++;
            } else if (doc_type(v) == DOC_DOUBLE) {
                doc_get_double(v, &dv);
                dsum += dv;
                any_double = true;
                nnum++;
            }
            if (doc_type(v) == DOC_NULL) /* min and max skip nulls */
                continue;
            if (!mn.p || doc_compare(v, mn) < 0)
                mn = v;
            if (!mx.p || doc_compare(v, mx) > 0)
                mx = v;
        }
        doc_val e, m;
        OK(doc_array_at(got, (uint32_t)gi, &e));
        /* _id */
        OK(doc_object_get(e, "_id", 3, &m));
        burrow_buf idk = {0};
        if (ngroup <= 1) {
            if (ngroup == 0)
                assert_int_equal(doc_type(m), DOC_NULL);
            else
                OK(doc_key_encode(m, &idk));
        } else {
            assert_int_equal(doc_type(m), DOC_ARRAY);
            for (uint32_t i = 0; i < 2; i++) {
                doc_val x;
                OK(doc_array_at(m, i, &x));
                OK(doc_key_encode(x, &idk));
            }
        }
        if (ngroup)
            assert_true(idk.size == groups[gi].key.size &&
                        memcmp(idk.data, groups[gi].key.data, idk.size) == 0);
        burrow_buf_free(&idk);
        OK(doc_object_get(e, "count", 5, &m));
        int64_t n;
        OK(doc_get_int(m, &n));
        assert_int_equal(n, count);
        for (size_t a = 1; a < naggs; a++) {
            char name[64];
            static const char *const names[] = {"count", "sum", "avg", "min", "max"};
            snprintf(name, sizeof name, "%s(%s)", names[aggs[a].op], vp);
            OK(doc_object_get(e, name, strlen(name), &m));
            double total = (double)isum + dsum, x;
            int64_t i64;
            switch (aggs[a].op) {
            case BURROW_AGG_SUM:
                if (!any_double) {
                    OK(doc_get_int(m, &i64));
                    assert_true(i64 == (int64_t)isum);
                } else {
                    OK(doc_get_double(m, &x));
                    assert_true(fabs(x - total) <= 1e-9 * fmax(1, fabs(total)));
                }
                break;
            case BURROW_AGG_AVG:
                if (nnum == 0) {
                    assert_int_equal(doc_type(m), DOC_NULL);
                } else {
                    OK(doc_get_double(m, &x));
                    assert_true(fabs(x - total / (double)nnum) <= 1e-9 * fmax(1, fabs(x)));
                }
                break;
            case BURROW_AGG_MIN:
            case BURROW_AGG_MAX: {
                doc_val want = aggs[a].op == BURROW_AGG_MIN ? mn : mx;
                if (!want.p)
                    assert_int_equal(doc_type(m), DOC_NULL);
                else if (!approx_equal(m, want))
                    fail_msg("seed %llu round %u: %s differs: %s", (unsigned long long)seed, round,
                             name, (const char *)json.data);
                break;
            }
            }
        }
    }
    for (size_t i = 0; i < ng; i++)
        free(groups[i].key.data);
    free(groups);
    for (size_t i = 0; i < ngroup; i++)
        doc_path_free(&gp[i]);
    doc_path_free(&ap);
    burrow_buf_free(&key);
    burrow_buf_free(&json);
    burrow_buf_free(&parsed);
    ref_free(&all);
    burrow_filter_free(f);
    free(fs.s);
}

/* ---- the differential test ------------------------------------------------------------- */

static void create_random_index(burrow_txn *txn, const char *coll, tu_rng *r)
{
    const char *fields = INDEXES[tu_below(r, NINDEXES)];
    unsigned flags = tu_chance(r, 1, 4) ? BURROW_INDEX_UNIQUE : 0;
    burrow_txn *child;
    OK(burrow_txn_begin(burrow_txn_db(txn), txn, 0, &child));
    int rc = burrow_index_create(child, coll, fields, flags);
    if (rc == 0) {
        OK(burrow_txn_commit(child));
    } else {
        /* Collisions, two arrays in one document, or made already. */
        assert_true(rc == BURROW_ECONSTRAINT || rc == BURROW_EEXIST);
        burrow_txn_abort(child);
    }
}

static void test_differential(void **state)
{
    fixture *fx = *state;
    uint64_t seed = tu_seed();
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(12, 300);
    tu_rng r;
    query q = {0};
    sb doc = {0};
    for (unsigned round = 0; round < rounds; round++) {
        tu_rng_seed(&r, tu_mix(seed + round));
        gen g = {.r = &r};
        burrow_db *db = open_db(fx, tu_chance(&r, 1, 3) ? 1024 : 4096);
        burrow_txn *txn = begin(db, 0);
        OK(burrow_coll_create(txn, "c", NULL));
        unsigned ndocs = 20 + (unsigned)tu_below(&r, 100);
        unsigned early = (unsigned)tu_below(&r, 3), late = (unsigned)tu_below(&r, 4);
        for (unsigned i = 0; i < early; i++)
            create_random_index(txn, "c", &r);
        for (unsigned i = 0; i < ndocs; i++) {
            sb_reset(&doc);
            gen_doc(&g, &doc);
            int rc = burrow_doc_insert(txn, "c", doc.s, doc.n, NULL);
            if (rc && rc != BURROW_EEXIST && rc != BURROW_ECONSTRAINT)
                fail_msg("insert %s: %s", doc.s, burrow_errmsg());
        }
        for (unsigned i = 0; i < late; i++)
            create_random_index(txn, "c", &r);
        /* Half the rounds query inside the write txn, half after commit. */
        if (tu_chance(&r, 1, 2)) {
            OK(burrow_txn_commit(txn));
            txn = begin(db, BURROW_TXN_RDONLY);
        }
        for (unsigned i = 0; i < 40; i++) {
            gen_query(&g, &q);
            check_query(txn, "c", &q, seed, round);
        }
        for (unsigned i = 0; i < 6; i++)
            check_aggregate(txn, "c", &g, seed, round);
        burrow_txn_abort(txn);
    }
    free(q.filter.s);
    free(doc.s);
    printf("plans: scan %u, id %u, index %u; sorts by the plan %u (through an index %u, reverse "
           "%u), in memory %u; dedupe %u\n",
           seen.scan, seen.id, seen.index, seen.sort_index, seen.index_sort, seen.reverse,
           seen.sort_memory, seen.dedupe);
    if (rounds >= 12) {
        assert_true(seen.scan && seen.id && seen.index && seen.index_sort && seen.reverse &&
                    seen.sort_memory && seen.dedupe);
    }
}

/* ---- EXPLAIN ------------------------------------------------------------------------------ */

static int count_results(burrow_txn *txn, const char *coll, const char *filter,
                         const burrow_sort *sort, size_t nsort)
{
    burrow_filter *f = NULL;
    if (filter)
        OK(burrow_filter_compile(filter, strlen(filter), &f));
    burrow_find_options o = {.filter = f, .sort = sort, .nsort = nsort};
    burrow_results *r;
    OK(burrow_find(txn, coll, &o, &r));
    burrow_val v;
    int n = 0, rc;
    while ((rc = burrow_results_next(r, &v)) == 0)
        n++;
    assert_int_equal(rc, BURROW_ENOTFOUND);
    burrow_results_close(r);
    burrow_filter_free(f);
    return n;
}

static void explain(burrow_txn *txn, const char *filter, const burrow_sort *sort, size_t nsort,
                    burrow_buf *plan)
{
    burrow_filter *f = NULL;
    if (filter)
        OK(burrow_filter_compile(filter, strlen(filter), &f));
    burrow_find_options o = {.filter = f, .sort = sort, .nsort = nsort};
    burrow_buf json = {0};
    OK(burrow_explain(txn, "users", &o, &json));
    doc_val root;
    parse_json_doc((const char *)json.data, json.size, plan, &root);
    burrow_buf_free(&json);
    burrow_filter_free(f);
}

static void test_explain(void **state)
{
    fixture *fx = *state;
    burrow_db *db = open_db(fx, 4096);
    burrow_txn *txn = begin(db, 0);
    OK(burrow_coll_create(txn, "users", NULL));
    char doc[128];
    for (int i = 0; i < 300; i++) {
        snprintf(doc, sizeof doc, "{\"_id\":\"u%03d\",\"age\":%d,\"city\":\"c%d\",\"tag\":[%d,%d]}",
                 i, i % 100, i % 3, i % 7, i % 11);
        OK(burrow_doc_insert(txn, "users", doc, strlen(doc), NULL));
    }
    OK(burrow_index_create(txn, "users", "age", 0));
    OK(burrow_index_create(txn, "users", "city", 0));
    OK(burrow_index_create(txn, "users", "tag", 0));
    OK(burrow_txn_commit(txn));
    txn = begin(db, BURROW_TXN_RDONLY);
    burrow_buf p = {0};

    /* Equality on a selective indexed field: the index, 3 rows. */
    explain(txn, "{\"age\": 21}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "index"));
    assert_true(json_member_is(&p, "index", "age"));
    assert_true(json_member_is(&p, "collection", "users"));
    assert_true(json_member_is(&p, "sort", "none"));
    int64_t n;
    OK(doc_get_int(json_member(&p, "estimated_rows"), &n));
    assert_int_equal(n, 3);
    assert_int_equal(doc_count(json_member(&p, "ranges")), 1);
    assert_int_equal(doc_count(json_member(&p, "candidates")), 2); /* scan, age */

    /* Nothing indexed: a scan. */
    explain(txn, "{\"name\": \"x\"}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "scan"));
    assert_true(json_member_is(&p, "index", NULL));
    OK(doc_get_int(json_member(&p, "estimated_rows"), &n));
    assert_int_equal(n, 300);

    /* A condition on an unselective field loses to a selective one. */
    explain(txn, "{\"city\": \"c1\", \"age\": {\"$gte\": 10, \"$lt\": 12}}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "index"));
    assert_true(json_member_is(&p, "index", "age"));
    OK(doc_get_int(json_member(&p, "estimated_rows"), &n));
    assert_int_equal(n, 6);

    /* Ids. */
    explain(txn, "{\"_id\": {\"$in\": [\"u001\", \"u002\", \"zz\"]}}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "id"));
    assert_int_equal(doc_count(json_member(&p, "ranges")), 3);
    explain(txn, "{\"_id\": {\"$startsWith\": \"u01\"}}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "id"));
    OK(doc_get_int(json_member(&p, "estimated_rows"), &n));
    assert_int_equal(n, 10);

    /* A multikey index removes duplicates. */
    explain(txn, "{\"tag\": {\"$in\": [1, 2]}}", NULL, 0, &p);
    assert_true(json_member_is(&p, "index", "tag"));
    assert_int_equal(doc_type(json_member(&p, "dedupe")), DOC_TRUE);

    /* Sorts: by the index, or in memory. */
    burrow_sort by_age = {"age", 1};
    explain(txn, NULL, &by_age, 1, &p);
    assert_true(json_member_is(&p, "plan", "index"));
    assert_true(json_member_is(&p, "sort", "index"));
    assert_int_equal(doc_type(json_member(&p, "reverse")), DOC_TRUE);
    burrow_sort by_name = {"name", 0};
    explain(txn, NULL, &by_name, 1, &p);
    assert_true(json_member_is(&p, "plan", "scan"));
    assert_true(json_member_is(&p, "sort", "memory"));
    burrow_sort by_id = {"_id", 1};
    explain(txn, "{\"name\": 1}", &by_id, 1, &p);
    assert_true(json_member_is(&p, "sort", "index"));

    /* An index that yields half the collection costs as much as a scan
     * (two reads per entry) and loses; counting stops once a candidate
     * cannot win; a unique index needs no counting. */
    burrow_txn_abort(txn);
    txn = begin(db, 0);
    for (int i = 0; i < 2500; i++) {
        snprintf(doc, sizeof doc, "{\"_id\":\"v%04d\",\"age\":%d,\"email\":\"e%d\"}", i,
                 i % 5 ? 201 : 200, i);
        OK(burrow_doc_insert(txn, "users", doc, strlen(doc), NULL));
    }
    OK(burrow_index_create(txn, "users", "email", BURROW_INDEX_UNIQUE));
    /* 2,800 documents: 2,000 with age 201 cost 4,000 through the index. */
    explain(txn, "{\"age\": 201}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "scan"));
    explain(txn, "{\"age\": 200}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "index"));
    explain(txn, "{\"age\": {\"$gte\": 0}}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "scan"));
    explain(txn, "{\"age\": 201, \"email\": {\"$gte\": \"e1\"}}", NULL, 0, &p);
    assert_true(json_member_is(&p, "plan", "scan"));
    /* The candidates stopped counting at half the scan's cost. */
    doc_val cands = json_member(&p, "candidates"), c1;
    bool saw_capped = false;
    for (uint32_t i = 0; i < doc_count(cands); i++) {
        OK(doc_array_at(cands, i, &c1));
        doc_val ix, cap, est;
        if (doc_object_get(c1, "index", 5, &ix) == 0 && doc_type(ix) == DOC_STRING &&
            doc_object_get(c1, "capped", 6, &cap) == 0 && doc_type(cap) == DOC_TRUE) {
            OK(doc_object_get(c1, "estimated_rows", 14, &est));
            OK(doc_get_int(est, &n));
            assert_int_equal(n, 1400);
            saw_capped = true;
        }
    }
    assert_true(saw_capped);
    explain(txn, "{\"email\": {\"$in\": [\"e1\", \"e7\"]}, \"age\": 201}", NULL, 0, &p);
    assert_true(json_member_is(&p, "index", "email"));
    OK(doc_get_int(json_member(&p, "estimated_rows"), &n));
    assert_int_equal(n, 2);
    assert_int_equal(doc_type(json_member(&p, "capped")), DOC_FALSE);
    assert_int_equal(count_results(txn, "users",
                                   "{\"email\": {\"$in\": [\"e1\", \"e7\"]}, \"age\": 201}", NULL, 0),
                     2);

    burrow_buf_free(&p);
    burrow_txn_abort(txn);
}

/* ---- results and their txn ------------------------------------------------------------------ */

static void test_writes_in_txn(void **state)
{
    fixture *fx = *state;
    burrow_db *db = open_db(fx, 4096);
    burrow_txn *txn = begin(db, 0);
    OK(burrow_coll_create(txn, "c", NULL));
    OK(burrow_index_create(txn, "c", "k", 0));
    assert_int_equal(count_results(txn, "c", "{\"k\": 1}", NULL, 0), 0);
    char doc[64];
    for (int i = 0; i < 50; i++) {
        snprintf(doc, sizeof doc, "{\"_id\":\"x%02d\",\"k\":%d}", i, i % 5);
        OK(burrow_doc_insert(txn, "c", doc, strlen(doc), NULL));
    }
    assert_int_equal(count_results(txn, "c", "{\"k\": 1}", NULL, 0), 10);
    assert_int_equal(count_results(txn, "c", "{\"k\": {\"$gte\": 3}}", NULL, 0), 20);
    OK(burrow_doc_replace(txn, "c", "x01", 3, "{\"k\": 9}", 8));
    assert_int_equal(count_results(txn, "c", "{\"k\": 1}", NULL, 0), 9);
    assert_int_equal(count_results(txn, "c", "{\"k\": 9}", NULL, 0), 1);
    OK(burrow_doc_delete(txn, "c", "x06", 3));
    assert_int_equal(count_results(txn, "c", "{\"k\": 1}", NULL, 0), 8);
    /* A new index sees what is there; a new array makes it multikey. */
    OK(burrow_doc_insert(txn, "c", "{\"_id\":\"arr\",\"k\":[1,1,2]}", 25, NULL));
    assert_int_equal(count_results(txn, "c", "{\"k\": {\"$in\": [1, 2]}}", NULL, 0), 19);

    /* Writing while results are open: no error, and the walk ends. */
    burrow_sort by_k = {"k", 1};
    burrow_find_options o = {.sort = &by_k, .nsort = 1};
    burrow_results *r;
    OK(burrow_find(txn, "c", &o, &r));
    burrow_val v;
    int n = 0, rc;
    while ((rc = burrow_results_next(r, &v)) == 0 && n < 200) {
        snprintf(doc, sizeof doc, "{\"_id\":\"new%03d\",\"k\":%d}", n, n % 7);
        OK(burrow_doc_insert(txn, "c", doc, strlen(doc), NULL));
        if (n % 3 == 0) {
            snprintf(doc, sizeof doc, "x%02d", n % 50);
            rc = burrow_doc_delete(txn, "c", doc, 3);
            assert_true(rc == 0 || rc == BURROW_ENOTFOUND);
        }
        n++;
    }
    assert_int_equal(rc, BURROW_ENOTFOUND);
    burrow_results_close(r);

    uint64_t count;
    OK(burrow_doc_count(txn, "c", NULL, &count));
    burrow_filter *f;
    OK(burrow_filter_compile("{}", 2, &f));
    uint64_t count2;
    OK(burrow_doc_count(txn, "c", f, &count2));
    assert_int_equal(count, count2);
    burrow_filter_free(f);
    OK(burrow_txn_commit(txn));
}

static void test_after_txn_end(void **state)
{
    fixture *fx = *state;
    burrow_db *db = open_db(fx, 4096);
    burrow_txn *txn = begin(db, 0);
    OK(burrow_coll_create(txn, "c", NULL));
    OK(burrow_index_create(txn, "c", "k", 0));
    char doc[64];
    for (int i = 0; i < 20; i++) {
        snprintf(doc, sizeof doc, "{\"k\":%d}", i % 4);
        OK(burrow_doc_insert(txn, "c", doc, strlen(doc), NULL));
    }
    OK(burrow_txn_commit(txn));

    burrow_sort by_k = {"k", 0}, by_x = {"x", 0};
    const burrow_sort *sorts[] = {NULL, &by_k, &by_x};
    for (int mode = 0; mode < 3; mode++) {
        for (int exhaust = 0; exhaust < 2; exhaust++) {
            txn = begin(db, BURROW_TXN_RDONLY);
            burrow_filter *f;
            const char *fk = "{\"k\": {\"$gte\": 1}}";
            OK(burrow_filter_compile(fk, strlen(fk), &f));
            burrow_find_options o = {.filter = f, .sort = sorts[mode], .nsort = mode > 0};
            burrow_results *r;
            OK(burrow_find(txn, "c", &o, &r));
            burrow_val v;
            OK(burrow_results_next(r, &v));
            if (exhaust)
                while (burrow_results_next(r, &v) == 0)
                    ;
            burrow_txn_abort(txn);
            assert_int_equal(burrow_results_next(r, &v), BURROW_EINVAL);
            assert_int_equal(burrow_results_next(r, &v), BURROW_EINVAL);
            burrow_results_close(r);
            burrow_filter_free(f);
        }
    }
}

/* ---- fixed cases ----------------------------------------------------------------------------- */

/* Every query over docs, against the reference, with every index. */
static void check_fixed(burrow_txn *txn, const char *coll, const char *const *filters,
                        size_t nfilters)
{
    query q = {0};
    for (size_t i = 0; i < nfilters; i++) {
        for (int s = 0; s < 3; s++) {
            sb_reset(&q.filter);
            sb_add(&q.filter, "%s", filters[i]);
            q.nsort = s > 0;
            q.sort[0] = (burrow_sort){"v", s == 2};
            q.flags = BURROW_OUT_BINARY;
            check_query(txn, coll, &q, 0, (unsigned)i);
        }
    }
    free(q.filter.s);
}

static void test_fixed_cases(void **state)
{
    fixture *fx = *state;
    /* A small page: bounds longer than the largest key. */
    burrow_db *db = open_db(fx, 1024);
    burrow_txn *txn = begin(db, 0);
    OK(burrow_coll_create(txn, "c", NULL));
    OK(burrow_index_create(txn, "c", "v", 0));
    OK(burrow_index_create(txn, "c", "o.p", 0));
    static const char *const docs[] = {
        "{\"v\": 1, \"o\": {\"p\": 1}}",
        "{\"v\": 1.0, \"o\": [{\"p\": 2}, {\"p\": 1}]}",
        "{\"v\": 2.5, \"o\": [{\"q\": 1}]}",
        "{\"v\": \"ab\", \"o\": 5}",
        "{\"v\": \"abc\"}",
        "{\"v\": \"ab\\u0000\", \"o\": {\"p\": null}}",
        "{\"v\": null}",
        "{\"w\": 1}",
        "{\"v\": true}",
        "{\"v\": false}",
        "{\"v\": {\"x\": 1}}",
        "{\"v\": []}",
        "{\"v\": [null]}",
        "{\"v\": [1, \"ab\"]}",
        "{\"v\": 9223372036854775807}",
        "{\"v\": -9223372036854775808}",
        "{\"v\": 9223372036854775806}",
        "{\"v\": 1e300}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
        OK(burrow_doc_insert(txn, "c", docs[i], strlen(docs[i]), NULL));
    char longs[1200];
    memset(longs, 'a', sizeof longs);
    longs[sizeof longs - 1] = 0;
    char longq[1400];
    snprintf(longq, sizeof longq, "{\"v\": {\"$lt\": \"%s\"}}", longs);
    char longq2[1400];
    snprintf(longq2, sizeof longq2, "{\"v\": {\"$gt\": \"%s\"}}", longs);
    const char *const filters[] = {
        "{\"v\": 1}",
        "{\"v\": null}",
        "{\"v\": {\"$gte\": null}}",
        "{\"v\": {\"$gt\": null}}",
        "{\"v\": {\"$gt\": 1}}",
        "{\"v\": {\"$gte\": 1, \"$lt\": 3}}",
        "{\"v\": {\"$lte\": true}}",
        "{\"v\": {\"$gt\": false}}",
        "{\"v\": {\"$startsWith\": \"ab\"}}",
        "{\"v\": {\"$startsWith\": \"ab\\u0000\"}}",
        "{\"v\": {\"$startsWith\": \"\"}}",
        "{\"v\": {\"$gt\": \"ab\"}}",
        "{\"v\": {\"$in\": [1, \"ab\", null]}}",
        "{\"v\": {\"x\": 1}}",
        "{\"v\": {\"$gt\": {}}}",
        "{\"v\": []}",
        "{\"v\": [1, \"ab\"]}",
        "{\"v\": {\"$in\": []}}",
        "{\"v\": {\"$gt\": 9223372036854775806}}",
        "{\"v\": {\"$lt\": -9223372036854775807}}",
        "{\"v\": {\"$gte\": 1e300}}",
        "{\"o.p\": 1}",
        "{\"o.p\": null}",
        "{\"o.p\": {\"$gt\": 1}}",
        "{\"o.p\": {\"$lt\": 5}}",
        "{\"v\": {\"$gt\": 5, \"$lt\": \"b\"}}",
        longq,
        longq2,
        "{\"_id\": {\"$gt\": \"\"}}",
        "{\"_id\": 5}",
        "{\"_id\": {\"$lt\": 5}}",
        "{\"v\": {\"$gte\": 1}, \"o.p\": 1}",
    };
    check_fixed(txn, "c", filters, sizeof filters / sizeof *filters);
    OK(burrow_txn_commit(txn));
}

/* Sorts an index serves, with many ties and ids that order differently
 * with and without their length byte. */
static void test_index_order(void **state)
{
    fixture *fx = *state;
    burrow_db *db = open_db(fx, 4096);
    burrow_txn *txn = begin(db, 0);
    OK(burrow_coll_create(txn, "d", NULL));
    OK(burrow_index_create(txn, "d", "k", 0));
    OK(burrow_index_create(txn, "d", "k,s", 0));
    OK(burrow_index_create(txn, "d", "s", 0));
    static const char *const ids[] = {"k",        "k\\t", "k\\u0001", "k ",        "kk",
                                      "k\\u0000", "a",    "ab",       "ab\\u0002", "ab\\u0003",
                                      "b",        "zz",   "z",        "m\\u0001x"};
    char doc[128];
    for (int i = 0; i < 70; i++) {
        const char *id = ids[i % 14];
        if (i % 5 == 4)
            snprintf(doc, sizeof doc, "{\"_id\": \"%s%d\", \"s\": \"%c\"}", id, i / 14,
                     'a' + i % 3);
        else
            snprintf(doc, sizeof doc, "{\"_id\": \"%s%s\", \"k\": %d, \"s\": \"%c\"}", id,
                     i < 14   ? ""
                     : i < 28 ? "1"
                     : i < 42 ? "2"
                     : i < 56 ? "3"
                              : "4",
                     (i / 14) % 4, 'a' + i % 3);
        OK(burrow_doc_insert(txn, "d", doc, strlen(doc), NULL));
    }
    static const char *const filters[] = {"{}",
                                          "{\"k\": 2}",
                                          "{\"k\": {\"$gte\": 1}}",
                                          "{\"k\": {\"$in\": [0, 3]}}",
                                          "{\"s\": {\"$lt\": \"c\"}}",
                                          "{\"k\": 1, \"s\": {\"$gt\": \"a\"}}"};
    static const burrow_sort sorts[][2] = {
        {{"k", 0}}, {{"k", 1}},   {{"k", 1}, {"s", 1}}, {{"k", 0}, {"s", 0}}, {{"s", 0}},
        {{"s", 1}}, {{"_id", 1}}, {{"s", 1}, {"k", 1}}, {{"k", 0}, {"s", 1}},
    };
    static const size_t nsorts[] = {1, 1, 2, 2, 1, 1, 1, 2, 2};
    query q = {0};
    unsigned round = 0;
    for (size_t f = 0; f < sizeof filters / sizeof *filters; f++) {
        for (size_t so = 0; so < sizeof nsorts / sizeof *nsorts; so++) {
            for (int window = 0; window < 3; window++) {
                sb_reset(&q.filter);
                sb_add(&q.filter, "%s", filters[f]);
                q.nsort = nsorts[so];
                memcpy(q.sort, sorts[so], q.nsort * sizeof *q.sort);
                q.skip = window == 1 ? 3 : 0;
                q.limit = window ? 5 : 0;
                q.flags = BURROW_OUT_BINARY;
                check_query(txn, "d", &q, 0, round++);
            }
        }
    }
    free(q.filter.s);
    OK(burrow_txn_commit(txn));
}

static void test_bad_arguments(void **state)
{
    fixture *fx = *state;
    burrow_db *db = open_db(fx, 4096);
    burrow_txn *txn = begin(db, 0);
    OK(burrow_coll_create(txn, "c", NULL));
    burrow_results *r;
    burrow_find_options o = {0};
    assert_int_equal(burrow_find(txn, "nope", &o, &r), BURROW_ENOTFOUND);
    assert_int_equal(burrow_find(NULL, "c", &o, &r), BURROW_EINVAL);
    o.nsort = 1;
    assert_int_equal(burrow_find(txn, "c", &o, &r), BURROW_EINVAL);
    burrow_sort bad = {"a..b", 0};
    o.sort = &bad;
    assert_int_equal(burrow_find(txn, "c", &o, &r), BURROW_EINVAL);
    o = (burrow_find_options){.output = {.flags = 0x100}};
    assert_int_equal(burrow_find(txn, "c", &o, &r), BURROW_EINVAL);
    OK(burrow_find(txn, "c", NULL, &r));
    burrow_val v;
    assert_int_equal(burrow_results_next(r, &v), BURROW_ENOTFOUND);
    burrow_results_close(r);
    burrow_results_close(NULL);

    burrow_buf json = {0};
    burrow_agg twice[2] = {{BURROW_AGG_COUNT, NULL}, {BURROW_AGG_COUNT, NULL}};
    assert_int_equal(burrow_aggregate(txn, "c", NULL, NULL, 0, twice, 2, &json), BURROW_EINVAL);
    burrow_agg nopath = {BURROW_AGG_SUM, NULL};
    assert_int_equal(burrow_aggregate(txn, "c", NULL, NULL, 0, &nopath, 1, &json), BURROW_EINVAL);
    burrow_agg badop = {42, "a"};
    assert_int_equal(burrow_aggregate(txn, "c", NULL, NULL, 0, &badop, 1, &json), BURROW_EINVAL);
    /* Nothing to group: an empty array. */
    burrow_agg count = {BURROW_AGG_COUNT, NULL};
    OK(burrow_aggregate(txn, "c", NULL, NULL, 0, &count, 1, &json));
    assert_string_equal((const char *)json.data, "[]");
    OK(burrow_doc_insert(txn, "c", "{\"p\": 9223372036854775807}", 26, NULL));
    OK(burrow_doc_insert(txn, "c", "{\"p\": 1}", 8, NULL));
    burrow_agg sum[2] = {{BURROW_AGG_COUNT, NULL}, {BURROW_AGG_SUM, "p"}};
    OK(burrow_aggregate(txn, "c", NULL, NULL, 0, sum, 2, &json));
    assert_string_equal((const char *)json.data,
                        "[{\"_id\":null,\"count\":2,\"sum(p)\":9.223372036854776e+18}]");
    burrow_buf_free(&json);
    burrow_txn_abort(txn);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fixed_cases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_in_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_after_txn_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_differential, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
