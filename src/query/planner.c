/*
 * planner.c — choosing how to read a query's documents (plans and why an
 * index yields a superset of the matches: planner.h).
 *
 * The planner reads the conjuncts of the filter's top-level AND (or the
 * single predicate) and builds one candidate plan for the whole collection
 * (a scan), one for _id conditions, and one per usable index. Plans are
 * compared on cost: a scan costs the collection's size, an id plan its
 * estimated rows, an index plan twice its estimated rows (each entry is
 * read, then its document fetched), plus once more the rows of a plan that
 * must sort them in memory. Each candidate counts the index
 * entries in its ranges only while it can still win: it stops one entry
 * past the point where its cost would reach the best plan's ("capped").
 * So planning never costs more than the query it plans, and little when
 * an earlier plan is already selective. The lowest cost wins;
 * ties go to a plan that streams the requested sort, then to the id plan,
 * the scan, an index with more fields pinned by equality, a unique index,
 * and finally the first index in the collection's list.
 *
 * Conditions become byte ranges of doc_key_encode (doc.h). Per field of an
 * index: an equality condition pins the field to a set of points (its
 * encodings; $eq null also takes DOC_KEY_MISSING), a range condition bounds
 * it within its operand's type bracket (numbers are the keys starting
 * 0x40, strings 0x50...), and $startsWith "ab" is every key starting with
 * 0x50 "ab" (escaped, no terminator). "Every key starting with P" is
 * [P, P+1) with the increment carried over the bytes; an exclusive lower
 * bound enc(v) skips every key starting with enc(v): it is enc(v)+1.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "query/planner.h"

/* First byte of each type's index keys, and the byte past the last. */
enum { KEY_NULL = 0x10, KEY_BOOL = 0x20, KEY_BOOL_END = 0x31 };

typedef struct span {
    size_t off, len; /* in pctx.scratch */
} span;

/* One value an equality condition pins a field to. */
typedef struct point {
    span enc;
    doc_val value; /* p NULL: the field is missing */
} point;

/* A range of one field's encodings. */
typedef struct interval {
    span lo, hi;                        /* lo.len 0: from the first key */
    bool hi_inf;                        /* no upper bound */
    bool missing;                       /* the DOC_KEY_MISSING entries */
    const filter_node *lo_src, *hi_src; /* the conditions behind the bounds;
                                           NULL: the edge of a type */
} interval;

typedef struct pctx {
    burrow_txn *txn;
    const coll_meta *m;
    const filter_node *const *conj;
    size_t nconj;
    const plan_sort_key *sort;
    size_t nsort;
    bool explain;
    uint64_t scan_count;
    uint64_t budget; /* of estimate() */
    buf scratch;     /* encodings of the candidate being built */
} pctx;

const char *plan_kind_name(enum plan_kind k)
{
    switch (k) {
    case PLAN_ID: return "id";
    case PLAN_INDEX: return "index";
    default: return "scan";
    }
}

/* ---- sort keys ------------------------------------------------------------------ */

void plan_sort_free(plan_sort_key *keys, size_t n)
{
    if (!keys)
        return;
    for (size_t i = 0; i < n; i++) {
        doc_path_free(&keys[i].path);
        free(keys[i].text);
    }
    free(keys);
}

int plan_sort_parse(const burrow_sort *sort, size_t n, plan_sort_key **out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    if (!sort)
        return diag_set(BURROW_EINVAL, "sort: %zu keys but no array", n);
    if (n > PLAN_SORT_MAX)
        return diag_set(BURROW_EINVAL, "sort: at most %d keys", PLAN_SORT_MAX);
    plan_sort_key *k = calloc(n, sizeof *k);
    if (!k)
        return BURROW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (!sort[i].path) {
            rc = diag_set(BURROW_EINVAL, "sort: key %zu has no path", i);
        } else if (!(rc = doc_path_parse(sort[i].path, strlen(sort[i].path), DOC_PATH_DOTTED,
                                         &k[i].path))) {
            k[i].text = strdup(sort[i].path);
            rc = k[i].text ? 0 : BURROW_ENOMEM;
        }
        if (rc) {
            plan_sort_free(k, i + 1);
            return rc;
        }
        k[i].descending = sort[i].descending != 0;
    }
    *out = k;
    return 0;
}

/* ---- bytes ------------------------------------------------------------------------ */

static const uint8_t *at(const pctx *c, span s) { return c->scratch.data + s.off; }

static int bytes_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int r = n ? memcmp(a, b, n) : 0; /* memcmp wants pointers even for 0 bytes */
    return r ? r : (al > bl) - (al < bl);
}

static int span_cmp(const pctx *c, span a, span b)
{
    return bytes_cmp(at(c, a), a.len, at(c, b), b.len);
}

/* Turn the bytes into the smallest string above every string they start:
 * increment the last byte, carrying over 0xFF. False when every byte is
 * 0xFF (there is no such string: the range is unbounded). */
static bool bytes_succ(uint8_t *p, size_t *len)
{
    while (*len > 0 && p[*len - 1] == 0xFF)
        (*len)--;
    if (*len == 0)
        return false;
    p[*len - 1]++;
    return true;
}

static int put_bytes(pctx *c, const void *p, size_t n, span *out)
{
    out->off = c->scratch.size;
    out->len = n;
    return buf_append(&c->scratch, p, n);
}

static int put_enc(pctx *c, doc_val v, span *out)
{
    out->off = c->scratch.size;
    int rc = doc_key_encode(v, &c->scratch);
    out->len = c->scratch.size - out->off;
    return rc;
}

/* A copy of s made its successor; *inf when it has none. */
static int put_succ(pctx *c, span s, span *out, bool *inf)
{
    int rc = buf_reserve(&c->scratch, s.len);
    if (rc)
        return rc;
    out->off = c->scratch.size;
    memcpy(c->scratch.data + out->off, at(c, s), s.len);
    out->len = s.len;
    *inf = !bytes_succ(c->scratch.data + out->off, &out->len);
    c->scratch.size += out->len;
    return 0;
}

int plan_seek(burrow_cursor *cur, size_t max_key, const void *key, size_t len, burrow_val *k,
              burrow_val *v)
{
    if (len <= max_key)
        return burrow_cursor_seek(cur, key, len, BURROW_SEEK_GE, k, v);
    int s = burrow_cursor_seek(cur, key, max_key, BURROW_SEEK_GE, k, v);
    if (s == 0 && k->size == max_key && memcmp(k->data, key, max_key) == 0)
        s = burrow_cursor_next(cur, k, v);
    return s;
}

/* ---- conditions ---------------------------------------------------------------------- */

static bool path_is(const filter_node *n, const char *text)
{
    size_t len = strlen(text);
    return n->path_text && n->path_len == len && memcmp(n->path_text, text, len) == 0;
}

/* An index field path whose entries agree with the filter's items, up to
 * the MISSING entries of paths that cross arrays (planner.h). */
static bool path_indexable(const doc_path *p)
{
    for (int i = 1; i < p->nsteps; i++)
        if (p->steps[i].kind != DOC_STEP_KEY)
            return false;
    return p->nsteps > 0;
}

typedef struct points {
    point *v;
    size_t n, cap;
} points;

static int points_add(points *ps, span enc, doc_val value)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 4;
        point *v = realloc(ps->v, cap * sizeof *v);
        if (!v)
            return BURROW_ENOMEM;
        ps->v = v;
        ps->cap = cap;
    }
    ps->v[ps->n].enc = enc;
    ps->v[ps->n].value = value;
    ps->n++;
    return 0;
}

static int point_missing(pctx *c, points *ps)
{
    static const uint8_t missing = DOC_KEY_MISSING;
    span s;
    int rc = put_bytes(c, &missing, 1, &s);
    return rc ? rc : points_add(ps, s, (doc_val){0});
}

/* One value of an equality condition: its point (and for null, MISSING,
 * which the filter's $eq null also matches). 1 when added, 0 when the value
 * cannot use an index (an array), or an error. */
static int point_value(pctx *c, points *ps, doc_val v, bool for_id)
{
    enum doc_type t = doc_type(v);
    span s;
    int rc;
    if (for_id && t != DOC_STRING) /* an _id is a string: nothing else matches */
        return 1;
    if (t == DOC_ARRAY || t == DOC_INVALID)
        return 0;
    if (t == DOC_NULL && (rc = point_missing(c, ps)))
        return rc;
    if ((rc = put_enc(c, v, &s)) || (rc = points_add(ps, s, v)))
        return rc;
    return 1;
}

static int point_order(const void *a, const void *b, void *ctx)
{
    return span_cmp(ctx, ((const point *)a)->enc, ((const point *)b)->enc);
}

/* The points of an equality-like condition, sorted and distinct, with
 * MISSING added when asked: 1 with *ps filled, 0 when n is not one or
 * cannot use an index. */
static int cond_points(pctx *c, const filter_node *n, bool for_id, bool add_missing, points *ps)
{
    ps->n = 0;
    int rc = 1;
    switch (n->op) {
    case FILTER_EQ: rc = point_value(c, ps, n->operand, for_id); break;
    case FILTER_GTE:
    case FILTER_LTE: /* within the null class: $eq null */
        if (doc_type(n->operand) != DOC_NULL)
            return 0;
        rc = point_value(c, ps, n->operand, for_id);
        break;
    case FILTER_IN:
        for (uint32_t i = 0; i < n->in_count && rc == 1; i++)
            rc = point_value(c, ps, n->in_set[i], for_id);
        break;
    default: return 0;
    }
    if (rc == 1 && add_missing && (rc = point_missing(c, ps)) == 0)
        rc = 1;
    if (rc != 1)
        return rc;
    if (ps->n)
        qsort_r(ps->v, ps->n, sizeof *ps->v, point_order, c);
    size_t k = 0;
    for (size_t i = 0; i < ps->n; i++)
        if (k == 0 || span_cmp(c, ps->v[k - 1].enc, ps->v[i].enc) != 0)
            ps->v[k++] = ps->v[i];
    ps->n = k;
    return 1;
}

/* The two edges of the type bracket of t in index keys. */
static void type_edges(enum doc_type t, uint8_t *lo, uint8_t *hi)
{
    switch (t) {
    case DOC_FALSE:
    case DOC_TRUE:
        *lo = KEY_BOOL;
        *hi = KEY_BOOL_END;
        return;
    case DOC_INT:
    case DOC_DOUBLE: *lo = 0x40; break;
    case DOC_STRING: *lo = 0x50; break;
    case DOC_OBJECT: *lo = 0x70; break;
    default: *lo = KEY_NULL; break;
    }
    *hi = (uint8_t)(*lo + 1);
}

/* The interval of a range condition: 1 with *iv, 0 when n is not one or
 * cannot use an index, or an error. for_id: on the documents bucket, whose
 * keys are the raw id bytes and every id is a string. */
static int cond_interval(pctx *c, const filter_node *n, bool for_id, interval *iv)
{
    memset(iv, 0, sizeof *iv);
    enum doc_type t = doc_type(n->operand);
    bool inf;
    int rc;
    if (n->op == FILTER_STARTS_WITH) {
        const char *s;
        size_t sl;
        if (doc_get_string(n->operand, &s, &sl))
            return 0;
        if (for_id) {
            rc = put_bytes(c, s, sl, &iv->lo);
        } else if (!(rc = put_enc(c, n->operand, &iv->lo))) {
            iv->lo.len -= 2; /* the prefix: no end marker */
        }
        if (!rc)
            rc = put_succ(c, iv->lo, &iv->hi, &iv->hi_inf);
        iv->lo_src = iv->hi_src = n;
        return rc ? rc : 1;
    }
    if (n->op < FILTER_GT || n->op > FILTER_LTE)
        return 0;
    if (t == DOC_ARRAY || t == DOC_INVALID ||
        (t == DOC_NULL && !for_id && (n->op == FILTER_GTE || n->op == FILTER_LTE)))
        return 0; /* arrays: element by element; $gte null is a point */
    bool lower = n->op == FILTER_GT || n->op == FILTER_GTE;
    bool strict = n->op == FILTER_GT || n->op == FILTER_LT;
    span v;
    if (for_id) {
        const char *s;
        size_t sl;
        if (doc_get_string(n->operand, &s, &sl)) {
            /* Not a string: matches no id. An empty range. */
            static const uint8_t z = 0;
            if ((rc = put_bytes(c, &z, 1, &iv->lo)) || (rc = put_bytes(c, &z, 0, &iv->hi)))
                return rc;
            iv->lo_src = iv->hi_src = n;
            return 1;
        }
        /* ids above s (or at most s): from (to) s followed by a 0x00 */
        static const uint8_t z = 0;
        if ((rc = put_bytes(c, s, sl, &v)))
            return rc;
        if (lower == strict && (rc = buf_putc(&c->scratch, z)) == 0)
            v.len++;
        if (rc)
            return rc;
        if (lower) {
            iv->lo = v;
            iv->lo_src = n;
            iv->hi_inf = true;
        } else {
            iv->hi = v;
            iv->hi_src = n;
        }
        return 1;
    }
    uint8_t edge[2];
    type_edges(t, &edge[0], &edge[1]);
    if (t == DOC_NULL) { /* $gt null, $lt null: nothing is above or below null */
        if ((rc = put_bytes(c, &edge[1], 1, &iv->lo)) || (rc = put_bytes(c, &edge[0], 1, &iv->hi)))
            return rc;
        iv->lo_src = iv->hi_src = n;
        return 1;
    }
    if ((rc = put_enc(c, n->operand, &v)))
        return rc;
    if (lower == strict && (rc = put_succ(c, v, &v, &inf)))
        return rc;
    if (lower) {
        iv->lo = v;
        iv->lo_src = n;
        rc = put_bytes(c, &edge[1], 1, &iv->hi);
    } else {
        iv->hi = v;
        iv->hi_src = n;
        rc = put_bytes(c, &edge[0], 1, &iv->lo);
    }
    return rc ? rc : 1;
}

/* a := a AND b, for a field holding one value. */
static void intersect(const pctx *c, interval *a, const interval *b)
{
    if (span_cmp(c, b->lo, a->lo) > 0) {
        a->lo = b->lo;
        a->lo_src = b->lo_src;
    }
    if (!b->hi_inf && (a->hi_inf || span_cmp(c, b->hi, a->hi) < 0)) {
        a->hi = b->hi;
        a->hi_src = b->hi_src;
        a->hi_inf = false;
    }
}

static bool interval_empty(const pctx *c, const interval *iv)
{
    return !iv->hi_inf && span_cmp(c, iv->lo, iv->hi) >= 0;
}

/* ---- plans ------------------------------------------------------------------------ */

void plan_free(plan *p)
{
    free(p->ranges);
    buf_free(&p->bytes);
    buf_free(&p->desc);
    free(p->cands);
    memset(p, 0, sizeof *p);
    p->index = -1;
}

static void plan_init(plan *p, enum plan_kind kind, int index, burrow_bucket b)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->index = index;
    p->bucket = b;
}

static int add_range(plan *p, const uint8_t *lo, size_t lolen, const uint8_t *hi, size_t hilen,
                     bool hi_inf)
{
    if ((p->nranges & (p->nranges - 1)) == 0) { /* grow at powers of two */
        plan_range *r = realloc(p->ranges, (p->nranges ? 2 * p->nranges : 1) * sizeof *r);
        if (!r)
            return BURROW_ENOMEM;
        p->ranges = r;
    }
    plan_range *r = &p->ranges[p->nranges];
    r->lo_off = p->bytes.size;
    r->lo_len = lolen;
    int rc = buf_append(&p->bytes, lo, lolen);
    r->hi_off = p->bytes.size;
    r->hi_len = hi_inf ? 0 : hilen;
    r->hi_inf = hi_inf;
    if (!rc && !hi_inf)
        rc = buf_append(&p->bytes, hi, hilen);
    if (!rc)
        p->nranges++;
    return rc;
}

/* Count the entries in p's ranges, at most c->budget of them (past it,
 * this plan cannot win). When counting stops early the estimate is the
 * budget, marked capped. Seeks are bounded by the number of ranges. */
static int estimate(pctx *c, plan *p)
{
    burrow_cursor *cur;
    int rc = burrow_cursor_open(c->txn, p->bucket, &cur);
    if (rc)
        return rc;
    uint64_t n = 0;
    bool stopped = false;
    size_t max_key = burrow_max_key_size(burrow_txn_db(c->txn));
    for (size_t i = 0; i < p->nranges && !rc && !stopped; i++) {
        const plan_range *r = &p->ranges[i];
        const uint8_t *hi = p->bytes.data + r->hi_off;
        burrow_val k;
        int s = r->lo_len ? plan_seek(cur, max_key, p->bytes.data + r->lo_off, r->lo_len, &k, NULL)
                          : burrow_cursor_first(cur, &k, NULL);
        while (s == 0 && (r->hi_inf || bytes_cmp(k.data, k.size, hi, r->hi_len) < 0)) {
            if (n == c->budget) {
                stopped = true;
                break;
            }
            n++;
            s = burrow_cursor_next(cur, &k, NULL);
        }
        if (!stopped && s && s != BURROW_ENOTFOUND)
            rc = s;
    }
    burrow_cursor_close(cur);
    p->capped = stopped;
    p->estimate = n;
    return rc;
}

/* ---- EXPLAIN's range descriptions ----------------------------------------------------- */

static void desc_op(doc_builder *d, const filter_node *n)
{
    const char *name = filter_op_name(n->op);
    doc_builder_key(d, name, strlen(name));
    doc_builder_copy(d, n->operand);
}

static void desc_point(doc_builder *d, const char *field, const point *pt)
{
    doc_builder_key(d, field, strlen(field));
    doc_builder_begin_object(d);
    if (pt->value.p) {
        doc_builder_key(d, "$eq", 3);
        doc_builder_copy(d, pt->value);
    } else {
        doc_builder_key(d, "$exists", 7);
        doc_builder_bool(d, false);
    }
    doc_builder_end(d);
}

static void desc_interval(doc_builder *d, const char *field, const interval *iv)
{
    doc_builder_key(d, field, strlen(field));
    doc_builder_begin_object(d);
    if (iv->missing) {
        doc_builder_key(d, "$exists", 7);
        doc_builder_bool(d, false);
    } else {
        if (iv->lo_src)
            desc_op(d, iv->lo_src);
        if (iv->hi_src && (!iv->lo_src || iv->hi_src->op != iv->lo_src->op))
            desc_op(d, iv->hi_src);
    }
    doc_builder_end(d);
}

static int desc_finish(doc_builder *d, plan *p)
{
    doc_builder_end(d);
    int rc = doc_builder_take(d, &p->desc);
    doc_builder_free(d);
    return rc;
}

/* ---- candidates ------------------------------------------------------------------------ */

static int scan_candidate(pctx *c, plan *p)
{
    plan_init(p, PLAN_SCAN, -1, c->m->docs);
    p->estimate = c->scan_count;
    if (c->nsort && strcmp(c->sort[0].text, "_id") == 0) {
        p->sort_streams = true;
        p->reverse = c->sort[0].descending;
    }
    int rc = add_range(p, NULL, 0, NULL, 0, true);
    if (!rc && c->explain) {
        doc_builder d;
        doc_builder_init(&d);
        doc_builder_begin(&d);
        doc_builder_begin_array(&d);
        rc = desc_finish(&d, p);
    }
    return rc;
}

/* The _id conditions: ids (the smallest point set) or one range. 1 when
 * there is a plan, 0 when no condition is on _id. */
static int id_candidate(pctx *c, plan *p)
{
    points best = {0}, ps = {0};
    bool have_points = false, have_iv = false;
    interval iv, one;
    int rc = 0;
    for (size_t i = 0; i < c->nconj && rc >= 0; i++) {
        const filter_node *n = c->conj[i];
        if (!path_is(n, "_id"))
            continue;
        if ((rc = cond_points(c, n, true, false, &ps)) == 1) {
            if (!have_points || ps.n < best.n) {
                points t = best;
                best = ps;
                ps = t;
            }
            have_points = true;
        } else if (rc == 0 && (rc = cond_interval(c, n, true, &one)) == 1) {
            if (have_iv)
                intersect(c, &iv, &one);
            else
                iv = one;
            have_iv = true;
        }
    }
    free(ps.v);
    if (rc < 0 || (!have_points && !have_iv)) {
        free(best.v);
        return rc;
    }
    rc = 0;
    plan_init(p, PLAN_ID, -1, c->m->docs);
    p->eq_fields = have_points;
    doc_builder d;
    if (c->explain) {
        doc_builder_init(&d);
        doc_builder_begin(&d);
        doc_builder_begin_array(&d);
    }
    if (have_points) {
        static const uint8_t z = 0;
        buf hi = {0};
        for (size_t i = 0; i < best.n && !rc; i++) {
            /* The point encodings were only for sorting; the key is the id. */
            const char *s;
            size_t sl;
            doc_get_string(best.v[i].value, &s, &sl);
            hi.size = 0;
            if (!(rc = buf_append(&hi, s, sl)) && !(rc = buf_putc(&hi, z)))
                rc = add_range(p, (const uint8_t *)s, sl, hi.data, hi.size, false);
            if (c->explain) {
                doc_builder_begin_object(&d);
                desc_point(&d, "_id", &best.v[i]);
                doc_builder_end(&d);
            }
        }
        buf_free(&hi);
        p->estimate = p->nranges;
    } else {
        if (!interval_empty(c, &iv)) {
            rc = add_range(p, at(c, iv.lo), iv.lo.len, at(c, iv.hi), iv.hi.len, iv.hi_inf);
            if (c->explain) {
                doc_builder_begin_object(&d);
                desc_interval(&d, "_id", &iv);
                doc_builder_end(&d);
            }
        }
        if (!rc)
            rc = estimate(c, p);
    }
    free(best.v);
    if (c->explain) {
        int r2 = desc_finish(&d, p);
        rc = rc ? rc : r2;
    }
    if (!rc && c->nsort && strcmp(c->sort[0].text, "_id") == 0) {
        p->sort_streams = true;
        p->reverse = c->sort[0].descending;
    }
    return rc ? rc : 1;
}

/* Does walking ix's ranges in key order (or in reverse) give the requested
 * sort? pinned: the leading fields held to one value. */
static bool index_streams(const pctx *c, const index_def *ix, int pinned, bool *reverse)
{
    if (c->nsort == 0 || ix->multikey)
        return false;
    int f = pinned, dir = -1;
    for (size_t s = 0; s < c->nsort; s++) {
        const char *t = c->sort[s].text;
        bool constant = false;
        for (int g = 0; g < pinned && !constant; g++)
            constant = strcmp(t, ix->fields[g]) == 0;
        if (constant)
            continue;
        if (f >= ix->nfields || strcmp(t, ix->fields[f]) != 0)
            return false;
        if (dir >= 0 && dir != (int)c->sort[s].descending)
            return false;
        dir = c->sort[s].descending;
        f++;
    }
    if (f != ix->nfields)
        return false;
    *reverse = dir == 1;
    return true;
}

typedef struct field_cond {
    points pts;     /* equality fields */
    interval iv[2]; /* the range field: MISSING first when there */
    int niv;
} field_cond;

/* What the conjuncts give index field f: 1 = points in fc->pts, 2 = a range
 * in fc->iv, 0 = nothing usable. */
static int field_conditions(pctx *c, const index_def *ix, int f, field_cond *fc)
{
    const char *field = ix->fields[f];
    bool missing = ix->paths[f].nsteps > 1;
    points ps = {0};
    bool have_points = false, have_iv = false;
    interval iv, one;
    int rc = 0;
    if (!path_indexable(&ix->paths[f]))
        return 0;
    for (size_t i = 0; i < c->nconj && rc >= 0; i++) {
        const filter_node *n = c->conj[i];
        if (!path_is(n, field))
            continue;
        if ((rc = cond_points(c, n, false, missing, &ps)) == 1) {
            if (!have_points || ps.n < fc->pts.n) {
                points t = fc->pts;
                fc->pts = ps;
                ps = t;
            }
            have_points = true;
        } else if (rc == 0 && !have_iv && (rc = cond_interval(c, n, false, &one)) == 1) {
            iv = one;
            have_iv = true;
        } else if (rc == 0 && have_iv && !ix->multikey &&
                   (rc = cond_interval(c, n, false, &one)) == 1) {
            intersect(c, &iv, &one);
        }
    }
    free(ps.v);
    if (rc < 0)
        return rc;
    if (have_points)
        return 1;
    if (!have_iv)
        return 0;
    fc->niv = 0;
    if (missing) {
        static const uint8_t mk[2] = {DOC_KEY_MISSING, DOC_KEY_MISSING + 1};
        interval *m = &fc->iv[fc->niv++];
        memset(m, 0, sizeof *m);
        m->missing = true;
        if ((rc = put_bytes(c, &mk[0], 1, &m->lo)) || (rc = put_bytes(c, &mk[1], 1, &m->hi)))
            return rc;
    }
    if (!interval_empty(c, &iv))
        fc->iv[fc->niv++] = iv;
    return 2;
}

/* The plan through index number ixno: 1 when there is one, 0 when the
 * index helps neither the filter nor the sort. */
static int index_candidate(pctx *c, int ixno, plan *p)
{
    const index_def *ix = &c->m->indexes[ixno];
    field_cond fc[INDEX_FIELDS_MAX];
    memset(fc, 0, sizeof fc);
    int k = 0, rc = 0;
    bool ranged = false;
    /* Equality on a prefix of the fields, then perhaps one range. */
    while (k < ix->nfields) {
        rc = field_conditions(c, ix, k, &fc[k]);
        if (rc == 1) {
            k++;
            continue;
        }
        ranged = rc == 2;
        break;
    }
    if (rc < 0)
        goto out;
    rc = 0;
    /* At most PLAN_RANGES_MAX ranges: fewer fields past that. */
    size_t nprod = 1;
    for (int f = 0; f < k; f++) {
        if (nprod * (fc[f].pts.n ? fc[f].pts.n : 1) > PLAN_RANGES_MAX) {
            k = f;
            ranged = false;
            break;
        }
        nprod *= fc[f].pts.n;
    }
    if (ranged && nprod * (size_t)(fc[k].niv ? fc[k].niv : 1) > PLAN_RANGES_MAX)
        ranged = false;
    int pinned = 0;
    while (pinned < k && fc[pinned].pts.n == 1)
        pinned++;
    bool reverse = false, streams = index_streams(c, ix, pinned, &reverse);
    if (k == 0 && !ranged && !streams) {
        rc = 0;
        goto out;
    }
    plan_init(p, PLAN_INDEX, ixno, ix->bucket);
    p->eq_fields = k;
    p->dedupe = ix->multikey;
    p->sort_streams = streams;
    p->reverse = reverse;
    doc_builder d;
    if (c->explain) {
        doc_builder_init(&d);
        doc_builder_begin(&d);
        doc_builder_begin_array(&d);
    }
    bool any_missing = false;
    if (k == 0 && !ranged) {
        /* Only for the sort: every entry, one per document. */
        rc = add_range(p, NULL, 0, NULL, 0, true);
        if (c->explain) {
            doc_builder_begin_object(&d);
            doc_builder_end(&d);
        }
        p->estimate = c->scan_count;
    } else {
        /* The points' cartesian product in key order (the first field
         * varies slowest), each followed by the range's intervals. */
        size_t pos[INDEX_FIELDS_MAX] = {0};
        buf lo = {0}, hi = {0};
        for (int f = 0; f < k; f++)
            any_missing |= fc[f].pts.n > 0 && fc[f].pts.v[0].value.p == NULL;
        for (size_t combo = 0; combo < nprod && !rc; combo++) {
            lo.size = 0;
            for (int f = 0; f < k && !rc; f++) {
                span e = fc[f].pts.v[pos[f]].enc;
                rc = buf_append(&lo, at(c, e), e.len);
            }
            size_t plen = lo.size;
            for (int i = 0; i < (ranged ? fc[k].niv : 1) && !rc; i++) {
                bool inf = false;
                lo.size = plen;
                hi.size = 0;
                if (!(rc = buf_append(&hi, lo.data, plen)) && ranged) {
                    const interval *iv = &fc[k].iv[i];
                    if (!(rc = buf_append(&lo, at(c, iv->lo), iv->lo.len)))
                        rc = buf_append(&hi, at(c, iv->hi), iv->hi.len);
                } else if (!rc) {
                    inf = !bytes_succ(hi.data, &hi.size);
                }
                if (!rc)
                    rc = add_range(p, lo.data, lo.size, hi.data, hi.size, inf);
                if (c->explain) {
                    doc_builder_begin_object(&d);
                    for (int f = 0; f < k; f++)
                        desc_point(&d, ix->fields[f], &fc[f].pts.v[pos[f]]);
                    if (ranged)
                        desc_interval(&d, ix->fields[k], &fc[k].iv[i]);
                    doc_builder_end(&d);
                }
            }
            for (int f = k - 1; f >= 0; f--) { /* the odometer */
                if (++pos[f] < fc[f].pts.n)
                    break;
                pos[f] = 0;
            }
        }
        buf_free(&lo);
        buf_free(&hi);
        /* A unique index holds one entry per full set of present values. */
        p->unique_eq = ix->unique && k == ix->nfields && !any_missing;
        if (!rc && p->unique_eq)
            p->estimate = p->nranges;
        else if (!rc)
            rc = estimate(c, p);
    }
    if (c->explain) {
        int r2 = desc_finish(&d, p);
        rc = rc ? rc : r2;
    }
    if (!rc)
        rc = 1;
out:
    for (int f = 0; f < INDEX_FIELDS_MAX; f++)
        free(fc[f].pts.v);
    return rc;
}

/* What reading p's documents costs, in document reads: an index plan reads
 * each entry and then fetches its document; a plan whose order is not the
 * requested sort also handles each document once more to sort it. */
static uint64_t plan_cost(const pctx *c, const plan *p)
{
    uint64_t cost = p->kind == PLAN_INDEX ? 2 * p->estimate : p->estimate;
    if (c->nsort && !p->sort_streams)
        cost += p->estimate;
    return cost;
}

/* Is a strictly better than b? */
static bool better(const pctx *c, const plan *a, const plan *b)
{
    static const int rank[] = {[PLAN_ID] = 0, [PLAN_SCAN] = 1, [PLAN_INDEX] = 2};
    /* A capped count is only a lower bound of a cost that reached the
     * best's: it never wins. */
    if (a->capped != b->capped)
        return !a->capped;
    uint64_t ca = plan_cost(c, a), cb = plan_cost(c, b);
    if (ca != cb)
        return ca < cb;
    if (c->nsort && a->sort_streams != b->sort_streams)
        return a->sort_streams;
    if (rank[a->kind] != rank[b->kind])
        return rank[a->kind] < rank[b->kind];
    if (a->eq_fields != b->eq_fields)
        return a->eq_fields > b->eq_fields;
    return a->unique_eq && !b->unique_eq;
}

static int note_candidate(plan_candidate **v, size_t *n, const plan *p)
{
    plan_candidate *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv)
        return BURROW_ENOMEM;
    nv[*n] = (plan_candidate){p->kind, p->index, p->estimate, p->capped};
    *v = nv;
    (*n)++;
    return 0;
}

int plan_build(burrow_txn *txn, const coll_meta *m, const doc_filter *f, const plan_sort_key *sort,
               size_t nsort, bool explain, plan *out)
{
    pctx c = {.txn = txn, .m = m, .sort = sort, .nsort = nsort, .explain = explain};
    const filter_node *root = f ? doc_filter_root(f) : NULL;
    if (root && root->op == FILTER_AND) {
        c.conj = (const filter_node *const *)root->kids;
        c.nconj = (size_t)root->nkids;
    } else if (root && root->op != FILTER_TRUE) {
        c.conj = &root;
        c.nconj = 1;
    }
    plan best, cand;
    plan_candidate *cands = NULL;
    size_t ncands = 0;
    int rc = burrow_bucket_count(txn, m->docs, &c.scan_count);
    if (rc)
        return rc;
    if ((rc = scan_candidate(&c, &best)) ||
        (explain && (rc = note_candidate(&cands, &ncands, &best))))
        goto fail;
    for (int i = -1; i < m->nindexes; i++) {
        c.scratch.size = 0;
        /* Count only while this candidate can still cost less than the
         * best: an index plan costs two reads per entry. */
        c.budget = i < 0 ? plan_cost(&c, &best) : plan_cost(&c, &best) / 2;
        rc = i < 0 ? id_candidate(&c, &cand) : index_candidate(&c, i, &cand);
        if (rc < 0)
            goto fail;
        if (rc == 0)
            continue;
        rc = explain ? note_candidate(&cands, &ncands, &cand) : 0;
        if (better(&c, &cand, &best)) {
            plan t = best;
            best = cand;
            cand = t;
        }
        plan_free(&cand);
        if (rc)
            goto fail;
    }
    buf_free(&c.scratch);
    best.cands = cands;
    best.ncands = ncands;
    *out = best;
    return 0;
fail:
    plan_free(&best);
    buf_free(&c.scratch);
    free(cands);
    return rc;
}
