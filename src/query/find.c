/*
 * find.c — running queries: the plan executor (planner.h), burrow_find and
 * its results, burrow_explain, burrow_doc_count.
 *
 * A results object runs in one of two modes, fixed by burrow_find:
 *   STREAM  the plan's order is the answer's order (no sort, or a plan that
 *           streams the sort): each next() walks on to the next match,
 *           after skipping the first `skip` matches, until `limit`.
 *   SORTED  burrow_find reads every match first and keeps, per match, its
 *           sort values (doc_key_encode, so comparing is memcmp) and its
 *           id; with a limit only the skip+limit smallest, in a bounded
 *           max-heap. next() fetches each kept document again by id.
 * Either way the object holds cursors on the txn (through the executor)
 * and a reference to the collection's metadata, so it must be closed
 * before the txn ends; after the end every cursor call returns
 * BURROW_EINVAL, and so does next().
 */
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/err.h"
#include "base/hash.h"
#include "query/planner.h"

/* ---- a set of ids (multikey walks) ------------------------------------------------ */

typedef struct idset {
    uint64_t *hash; /* per slot; the entry's position in arena + 1 in pos (0: empty) */
    size_t *pos;
    size_t cap, n;
    buf arena; /* per id: its length (one byte), its bytes */
} idset;

static void idset_free(idset *s)
{
    free(s->hash);
    free(s->pos);
    buf_free(&s->arena);
    memset(s, 0, sizeof *s);
}

static int idset_grow(idset *s)
{
    size_t cap = s->cap ? 2 * s->cap : 64;
    uint64_t *h = calloc(cap, sizeof *h);
    size_t *p = calloc(cap, sizeof *p);
    if (!h || !p) {
        free(h);
        free(p);
        return BURROW_ENOMEM;
    }
    for (size_t i = 0; i < s->cap; i++) {
        if (!s->pos[i])
            continue;
        size_t j = s->hash[i] & (cap - 1);
        while (p[j])
            j = (j + 1) & (cap - 1);
        h[j] = s->hash[i];
        p[j] = s->pos[i];
    }
    free(s->hash);
    free(s->pos);
    s->hash = h;
    s->pos = p;
    s->cap = cap;
    return 0;
}

/* 1 when id was added, 0 when it was there, or BURROW_ENOMEM. */
static int idset_add(idset *s, const char *id, size_t idlen)
{
    if (2 * (s->n + 1) > s->cap) {
        int rc = idset_grow(s);
        if (rc)
            return rc;
    }
    uint64_t h = hash64(id, idlen, 0);
    size_t j = h & (s->cap - 1);
    for (; s->pos[j]; j = (j + 1) & (s->cap - 1)) {
        const uint8_t *e = s->arena.data + s->pos[j] - 1;
        if (s->hash[j] == h && e[0] == idlen && memcmp(e + 1, id, idlen) == 0)
            return 0;
    }
    size_t at = s->arena.size;
    uint8_t len = (uint8_t)idlen;
    int rc = buf_putc(&s->arena, len);
    if (!rc && (rc = buf_append(&s->arena, id, idlen)))
        s->arena.size = at;
    if (rc)
        return rc;
    s->hash[j] = h;
    s->pos[j] = at + 1;
    s->n++;
    return 1;
}

/* ---- the executor ------------------------------------------------------------------- */

/*
 * Walk states. Forward: RANGE seeks the current range's lower bound, NEXT
 * steps on while keys stay below its upper bound. Backward over the
 * documents bucket: RANGE finds the last key below the upper bound, PREV
 * steps back while keys stay at or above the lower bound. Backward over an
 * index (descending values, ties still in id order): RANGE finds the last
 * key K, GROUP_START seeks the first key of K's group (the keys sharing
 * its values), GROUP_NEXT reads the group forward up to K, GROUP_PREV finds
 * the last key before the group, which is the next K. Every step leaves the
 * walk at a key strictly below the previous group, so writes between steps
 * cannot make it loop.
 */
enum walk_state { W_RANGE, W_NEXT, W_PREV, W_GROUP_START, W_GROUP_NEXT, W_GROUP_PREV, W_END };

struct plan_exec {
    const coll_meta *m;
    const plan *p;
    const doc_filter *f;
    burrow_cursor *cur;  /* over p->bucket */
    burrow_cursor *docs; /* fetches documents by id */
    burrow_cursor *ttl;  /* m->has_ttl: the "t:" bucket, to skip expired ones */
    uint64_t now;        /* the expiry test's time, fixed for the whole query */
    size_t max_key;
    size_t ri; /* forward: the range walked; backward: that range + 1 */
    enum walk_state st;
    bool grouped;    /* a backward walk over an index */
    buf last, group; /* grouped: the group's last key, its values */
    bool at_last;
    idset seen;
};

static const plan_range *range_of(const plan_exec *x)
{
    return &x->p->ranges[x->p->reverse ? x->ri - 1 : x->ri];
}

static int bytes_cmp(const void *a, size_t al, const void *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int r = n ? memcmp(a, b, n) : 0; /* memcmp wants pointers even for 0 bytes */
    return r ? r : (al > bl) - (al < bl);
}

static bool below_hi(const plan_exec *x, const plan_range *r, burrow_val k)
{
    return r->hi_inf || bytes_cmp(k.data, k.size, x->p->bytes.data + r->hi_off, r->hi_len) < 0;
}

static bool at_or_above_lo(const plan_exec *x, const plan_range *r, burrow_val k)
{
    return bytes_cmp(k.data, k.size, x->p->bytes.data + r->lo_off, r->lo_len) >= 0;
}

/* The values of an index key: all but the id and its length byte. */
static int key_values(burrow_val k, size_t *len)
{
    const char *id;
    size_t idlen;
    int rc = index_key_id(k.data, k.size, &id, &idlen);
    if (!rc)
        *len = k.size - 1 - idlen;
    return rc;
}

static int set_buf(buf *b, const void *p, size_t n)
{
    b->size = 0;
    return buf_append(b, p, n);
}

/* Remember K as the last key of its group. */
static int group_of(plan_exec *x, burrow_val k)
{
    size_t vlen;
    int rc = key_values(k, &vlen);
    if (!rc && !(rc = set_buf(&x->last, k.data, k.size)))
        rc = set_buf(&x->group, k.data, vlen);
    return rc;
}

/* Seek the larger of the group's values and the range's lower bound. */
static int seek_group(plan_exec *x, burrow_val *k)
{
    const plan_range *r = range_of(x);
    const uint8_t *lo = x->p->bytes.data + r->lo_off;
    bool use_lo = bytes_cmp(lo, r->lo_len, x->group.data, x->group.size) > 0;
    return plan_seek(x->cur, x->max_key, use_lo ? lo : x->group.data,
                     use_lo ? r->lo_len : x->group.size, k, NULL);
}

static bool in_group(const plan_exec *x, burrow_val k)
{
    size_t vlen;
    return key_values(k, &vlen) == 0 && vlen == x->group.size &&
           memcmp(k.data, x->group.data, vlen) == 0 &&
           bytes_cmp(k.data, k.size, x->last.data, x->last.size) <= 0;
}

/* The last key below hi (the cursor ends there), or BURROW_ENOTFOUND. */
static int last_below(plan_exec *x, const plan_range *r, burrow_val *k, burrow_val *v)
{
    if (r->hi_inf)
        return burrow_cursor_last(x->cur, k, v);
    int s = plan_seek(x->cur, x->max_key, x->p->bytes.data + r->hi_off, r->hi_len, k, NULL);
    if (s == 0)
        return burrow_cursor_prev(x->cur, k, v);
    return s == BURROW_ENOTFOUND ? burrow_cursor_last(x->cur, k, v) : s;
}

/* The next entry of the walk (v: the value, unless NULL), or
 * BURROW_ENOTFOUND at the end. */
static int walk_next(plan_exec *x, burrow_val *k, burrow_val *v)
{
    const plan *p = x->p;
    int s;
    for (;;) {
        switch (x->st) {
        case W_END: return BURROW_ENOTFOUND;
        case W_RANGE:
            if (p->reverse ? x->ri == 0 : x->ri >= p->nranges) {
                x->st = W_END;
                continue;
            }
            if (!p->reverse) {
                const plan_range *r = range_of(x);
                s = r->lo_len
                        ? plan_seek(x->cur, x->max_key, p->bytes.data + r->lo_off, r->lo_len, k, v)
                        : burrow_cursor_first(x->cur, k, v);
                if (s == BURROW_ENOTFOUND) { /* later ranges lie higher still */
                    x->st = W_END;
                    continue;
                }
                if (s)
                    return s;
                if (!below_hi(x, r, *k)) {
                    x->ri++;
                    continue;
                }
                x->st = W_NEXT;
                return 0;
            }
            s = last_below(x, range_of(x), k, x->grouped ? NULL : v);
            if (s == BURROW_ENOTFOUND) { /* earlier ranges lie lower still */
                x->st = W_END;
                continue;
            }
            if (s)
                return s;
            if (!at_or_above_lo(x, range_of(x), *k)) {
                x->ri--;
                continue;
            }
            if (!x->grouped) {
                x->st = W_PREV;
                return 0;
            }
            if ((s = group_of(x, *k)))
                return s;
            x->st = W_GROUP_START;
            continue;
        case W_NEXT:
            s = burrow_cursor_next(x->cur, k, v);
            if (s == BURROW_ENOTFOUND) {
                x->st = W_END;
                continue;
            }
            if (s)
                return s;
            if (!below_hi(x, range_of(x), *k)) {
                x->ri++;
                x->st = W_RANGE;
                continue;
            }
            return 0;
        case W_PREV:
            s = burrow_cursor_prev(x->cur, k, v);
            if (s == BURROW_ENOTFOUND) {
                x->st = W_END;
                continue;
            }
            if (s)
                return s;
            if (!at_or_above_lo(x, range_of(x), *k)) {
                x->ri--;
                x->st = W_RANGE;
                continue;
            }
            return 0;
        case W_GROUP_START:
            s = seek_group(x, k);
            if (s && s != BURROW_ENOTFOUND)
                return s;
            if (s || !in_group(x, *k)) { /* changed meanwhile */
                x->st = W_GROUP_PREV;
                continue;
            }
            x->at_last = bytes_cmp(k->data, k->size, x->last.data, x->last.size) == 0;
            x->st = W_GROUP_NEXT;
            return 0;
        case W_GROUP_NEXT:
            if (x->at_last) {
                x->st = W_GROUP_PREV;
                continue;
            }
            s = burrow_cursor_next(x->cur, k, NULL);
            if (s && s != BURROW_ENOTFOUND)
                return s;
            if (s || !in_group(x, *k)) {
                x->st = W_GROUP_PREV;
                continue;
            }
            x->at_last = bytes_cmp(k->data, k->size, x->last.data, x->last.size) == 0;
            return 0;
        case W_GROUP_PREV:
            s = seek_group(x, k);
            if (s == 0)
                s = burrow_cursor_prev(x->cur, k, NULL);
            else if (s == BURROW_ENOTFOUND)
                s = burrow_cursor_last(x->cur, k, NULL);
            if (s == BURROW_ENOTFOUND) {
                x->st = W_END;
                continue;
            }
            if (s)
                return s;
            if (!at_or_above_lo(x, range_of(x), *k)) {
                x->ri--;
                x->st = W_RANGE;
                continue;
            }
            if ((s = group_of(x, *k)))
                return s;
            x->st = W_GROUP_START;
            continue;
        }
    }
}

void plan_exec_close(plan_exec *x)
{
    if (!x)
        return;
    burrow_cursor_close(x->cur);
    burrow_cursor_close(x->docs);
    burrow_cursor_close(x->ttl);
    buf_free(&x->last);
    buf_free(&x->group);
    idset_free(&x->seen);
    free(x);
}

int plan_exec_open(burrow_txn *txn, const coll_meta *m, const plan *p, const doc_filter *f,
                   plan_exec **out)
{
    plan_exec *x = calloc(1, sizeof *x);
    if (!x)
        return BURROW_ENOMEM;
    x->m = m;
    x->p = p;
    x->f = f;
    x->st = W_RANGE;
    x->ri = p->reverse ? p->nranges : 0;
    x->grouped = p->reverse && p->kind == PLAN_INDEX;
    x->max_key = burrow_max_key_size(burrow_txn_db(txn));
    int rc = burrow_cursor_open(txn, p->bucket, &x->cur);
    if (!rc)
        rc = burrow_cursor_open(txn, m->docs, &x->docs);
    if (!rc && m->has_ttl) {
        rc = burrow_cursor_open(txn, m->ttl, &x->ttl);
        x->now = ttl_now();
    }
    if (rc) {
        plan_exec_close(x);
        return rc;
    }
    *out = x;
    return 0;
}

int plan_exec_fetch(plan_exec *x, const char *id, size_t idlen, doc_val *root)
{
    burrow_val k, v;
    int rc = burrow_cursor_seek(x->docs, id, idlen, BURROW_SEEK_EXACT, &k, &v);
    if (rc)
        return rc;
    if ((rc = doc_root(v.data, v.size, root)))
        return diag_set(BURROW_ECORRUPT, "collection '%s': document '%.*s' is damaged", x->m->name,
                        (int)idlen, id);
    return 0;
}

int plan_exec_alive(plan_exec *x)
{
    burrow_val k;
    int rc = burrow_cursor_seek(x->docs, NULL, 0, BURROW_SEEK_GE, &k, NULL);
    return rc == BURROW_EINVAL ? rc : 0;
}

int plan_exec_next(plan_exec *x, doc_val *root, const char **id, size_t *idlen)
{
    const plan *p = x->p;
    for (;;) {
        burrow_val k, v;
        int rc = walk_next(x, &k, p->kind == PLAN_INDEX ? NULL : &v);
        if (rc)
            return rc;
        if (p->kind == PLAN_INDEX) {
            if ((rc = index_key_id(k.data, k.size, id, idlen)))
                return rc;
            if (p->dedupe && (rc = idset_add(&x->seen, *id, *idlen)) <= 0) {
                if (rc < 0)
                    return rc;
                continue;
            }
            rc = plan_exec_fetch(x, *id, *idlen, root);
            if (rc == BURROW_ENOTFOUND)
                return diag_set(BURROW_ECORRUPT,
                                "index '%s' of '%s': entry for document '%.*s', which does not "
                                "exist",
                                x->m->indexes[p->index].name, x->m->name, (int)*idlen, *id);
            if (rc)
                return rc;
        } else {
            *id = k.data;
            *idlen = k.size;
            if (doc_root(v.data, v.size, root))
                return diag_set(BURROW_ECORRUPT, "collection '%s': document '%.*s' is damaged",
                                x->m->name, (int)k.size, (const char *)k.data);
        }
        if (x->ttl) { /* expired documents are invisible (ttl.c) */
            burrow_val tk, tv;
            rc = burrow_cursor_seek(x->ttl, *id, *idlen, BURROW_SEEK_EXACT, &tk, &tv);
            if (rc && rc != BURROW_ENOTFOUND)
                return rc;
            if (rc == 0 && ttl_value_expired(tv, x->now))
                continue;
        }
        if (!x->f)
            return 0;
        if ((rc = doc_filter_match(x->f, *root)) < 0)
            return rc;
        if (rc)
            return 0;
    }
}

/* ---- in-memory sort ------------------------------------------------------------------ */

/* One match kept for a sort: per sort key the length (u32) of its value's
 * encoding, the encodings, then the id. */
typedef struct sort_row {
    uint32_t idlen, keylen;
    uint8_t data[];
} sort_row;

typedef struct sort_ctx {
    const plan_sort_key *keys;
    size_t n;
} sort_ctx;

static const uint8_t *row_id(const sort_row *r, size_t nkeys)
{
    return r->data + 4 * nkeys + r->keylen;
}

/* Ids in index key order: the id, then one byte of its length. */
static int id_order(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t n = al < bl ? al : bl;
    int c = memcmp(a, b, n);
    if (c || al == bl)
        return c;
    /* One is a prefix of the other: its length byte meets the other's byte. */
    return al < bl ? (al <= b[n] ? -1 : 1) : (bl <= a[n] ? 1 : -1);
}

static int row_cmp(const void *pa, const void *pb, void *ctx)
{
    const sort_row *a = *(const sort_row *const *)pa, *b = *(const sort_row *const *)pb;
    const sort_ctx *sc = ctx;
    const uint8_t *ka = a->data + 4 * sc->n, *kb = b->data + 4 * sc->n;
    for (size_t i = 0; i < sc->n; i++) {
        uint32_t la = le32_load(a->data + 4 * i), lb = le32_load(b->data + 4 * i);
        int c = bytes_cmp(ka, la, kb, lb);
        if (c)
            return sc->keys[i].descending ? -c : c;
        ka += la;
        kb += lb;
    }
    return id_order(row_id(a, sc->n), a->idlen, row_id(b, sc->n), b->idlen);
}

/* The row of a match: its sort values (a missing one as DOC_KEY_MISSING,
 * which sorts first) and its id. */
static int row_make(const sort_ctx *sc, doc_val root, const char *id, size_t idlen, buf *tmp,
                    sort_row **out)
{
    tmp->size = 0;
    int rc = buf_reserve(tmp, 4 * sc->n);
    if (rc)
        return rc;
    tmp->size = 4 * sc->n;
    for (size_t i = 0; i < sc->n && !rc; i++) {
        doc_val v;
        size_t mark = tmp->size;
        int g = doc_path_get(root, &sc->keys[i].path, &v);
        if (g == BURROW_ENOTFOUND)
            rc = doc_key_encode_missing(tmp);
        else
            rc = g ? g : doc_key_encode(v, tmp);
        if (!rc && tmp->size - mark > UINT32_MAX)
            rc = diag_set(BURROW_EVALSIZE, "sort: a value too large to sort by");
        if (!rc)
            le32_store(tmp->data + 4 * i, (uint32_t)(tmp->size - mark));
    }
    if (rc)
        return rc;
    sort_row *r = malloc(sizeof *r + tmp->size + idlen);
    if (!r)
        return BURROW_ENOMEM;
    r->idlen = (uint32_t)idlen;
    r->keylen = (uint32_t)(tmp->size - 4 * sc->n);
    memcpy(r->data, tmp->data, tmp->size);
    memcpy(r->data + tmp->size, id, idlen);
    *out = r;
    return 0;
}

/* The max-heap of the rows kept when there is a limit: the root is the
 * row that leaves first. */
static void heap_down(sort_row **h, size_t n, size_t i, const sort_ctx *sc)
{
    for (;;) {
        size_t l = 2 * i + 1, big = i;
        if (l < n && row_cmp(&h[l], &h[big], (void *)sc) > 0)
            big = l;
        if (l + 1 < n && row_cmp(&h[l + 1], &h[big], (void *)sc) > 0)
            big = l + 1;
        if (big == i)
            return;
        sort_row *t = h[i];
        h[i] = h[big];
        h[big] = t;
        i = big;
    }
}

static void heap_up(sort_row **h, size_t i, const sort_ctx *sc)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (row_cmp(&h[i], &h[parent], (void *)sc) <= 0)
            return;
        sort_row *t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

/* ---- results ------------------------------------------------------------------------ */

struct burrow_results {
    coll_meta *m;
    plan plan;
    plan_exec *x;
    plan_sort_key *sort;
    size_t nsort;
    projection *proj;
    unsigned flags;
    uint64_t skip, limit; /* limit 0: none */
    uint64_t skipped, returned;
    bool sorted;     /* SORTED mode */
    sort_row **rows; /* SORTED: kept rows, in order after burrow_find */
    size_t nrows, pos;
    bool done;
    int err; /* sticky */
    doc_builder scratch;
    buf out;
};

#define OUT_FLAGS (BURROW_OUT_JSON | BURROW_OUT_BINARY | BURROW_OUT_PRETTY | BURROW_OUT_RAW)

static const burrow_find_options no_options;

static int options_check(const burrow_find_options *o)
{
    if (o->output.flags & ~OUT_FLAGS)
        return diag_set(BURROW_EINVAL, "find: unknown output flags 0x%x", o->output.flags);
    if (o->output.nfields && !o->output.fields)
        return diag_set(BURROW_EINVAL, "find: %zu projection fields but no array",
                        o->output.nfields);
    return 0;
}

static int collect_sorted(burrow_results *r)
{
    sort_ctx sc = {r->sort, r->nsort};
    /* With a limit, only the skip+limit first rows can be returned. */
    uint64_t keep = 0;
    if (r->limit)
        keep = r->skip > UINT64_MAX - r->limit ? 0 : r->skip + r->limit;
    size_t cap = 0;
    buf tmp = {0};
    int rc;
    for (;;) {
        doc_val root;
        const char *id;
        size_t idlen;
        if ((rc = plan_exec_next(r->x, &root, &id, &idlen)))
            break;
        sort_row *row;
        if ((rc = row_make(&sc, root, id, idlen, &tmp, &row)))
            break;
        if (keep && r->nrows == keep) {
            if (row_cmp(&row, &r->rows[0], &sc) < 0) {
                free(r->rows[0]);
                r->rows[0] = row;
                heap_down(r->rows, r->nrows, 0, &sc);
            } else {
                free(row);
            }
            continue;
        }
        if (r->nrows == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            sort_row **v = realloc(r->rows, ncap * sizeof *v);
            if (!v) {
                free(row);
                rc = BURROW_ENOMEM;
                break;
            }
            r->rows = v;
            cap = ncap;
        }
        r->rows[r->nrows++] = row;
        if (keep)
            heap_up(r->rows, r->nrows - 1, &sc);
    }
    buf_free(&tmp);
    if (rc != BURROW_ENOTFOUND)
        return rc;
    if (r->nrows)
        qsort_r(r->rows, r->nrows, sizeof *r->rows, row_cmp, &sc);
    r->pos = r->skip < r->nrows ? (size_t)r->skip : r->nrows;
    return 0;
}

void burrow_results_close(burrow_results *r)
{
    if (!r)
        return;
    plan_exec_close(r->x);
    plan_free(&r->plan);
    for (size_t i = r->pos; i < r->nrows; i++)
        free(r->rows[i]);
    for (size_t i = 0; i < r->pos && i < r->nrows; i++)
        free(r->rows[i]); /* NULL once returned */
    free(r->rows);
    plan_sort_free(r->sort, r->nsort);
    projection_free(r->proj);
    /* The txn may have ended: the metadata needs none to be released. */
    meta_release(NULL, r->m);
    doc_builder_free(&r->scratch);
    buf_free(&r->out);
    free(r);
}

int burrow_find(burrow_txn *txn, const char *coll, const burrow_find_options *opt,
                burrow_results **out)
{
    diag_clear();
    if (!txn || !out)
        return diag_set(BURROW_EINVAL, "find: txn and out are required");
    *out = NULL;
    const burrow_find_options *o = opt ? opt : &no_options;
    int rc = options_check(o);
    if (rc)
        return rc;
    burrow_results *r = calloc(1, sizeof *r);
    if (!r)
        return BURROW_ENOMEM;
    doc_builder_init(&r->scratch);
    r->plan.index = -1;
    r->flags = o->output.flags;
    r->skip = o->skip;
    r->limit = o->limit;
    r->nsort = o->nsort;
    if ((rc = meta_acquire(txn, coll, &r->m)))
        goto fail;
    if ((rc = plan_sort_parse(o->sort, o->nsort, &r->sort)))
        goto fail;
    if (o->output.fields &&
        (rc = projection_compile(o->output.fields, o->output.nfields, &r->proj)))
        goto fail;
    const doc_filter *f = (const doc_filter *)o->filter;
    if ((rc = plan_build(txn, r->m, f, r->sort, r->nsort, false, &r->plan)) ||
        (rc = plan_exec_open(txn, r->m, &r->plan, f, &r->x)))
        goto fail;
    r->sorted = r->nsort > 0 && !r->plan.sort_streams;
    if (r->sorted && (rc = collect_sorted(r)))
        goto fail;
    *out = r;
    return 0;
fail:
    r->nsort = r->sort ? r->nsort : 0;
    burrow_results_close(r);
    return rc;
}

/* The document of the next result, or BURROW_ENOTFOUND at the end. */
static int next_match(burrow_results *r, doc_val *root)
{
    const char *id;
    size_t idlen;
    int rc;
    if (r->limit && r->returned >= r->limit)
        return BURROW_ENOTFOUND;
    if (r->sorted) {
        while (r->pos < r->nrows) {
            sort_row *row = r->rows[r->pos];
            rc = plan_exec_fetch(r->x, (const char *)row_id(row, r->nsort), row->idlen, root);
            if (rc == BURROW_ENOTFOUND) { /* deleted by a write since */
                free(row);
                r->rows[r->pos++] = NULL;
                continue;
            }
            if (rc)
                return rc;
            free(row);
            r->rows[r->pos++] = NULL;
            return 0;
        }
        return BURROW_ENOTFOUND;
    }
    for (;;) {
        if ((rc = plan_exec_next(r->x, root, &id, &idlen)))
            return rc;
        if (r->skipped >= r->skip)
            return 0;
        r->skipped++;
    }
}

int burrow_results_next(burrow_results *r, burrow_val *doc)
{
    diag_clear();
    if (!r || !doc)
        return diag_set(BURROW_EINVAL, "results_next: results and doc are required");
    if (r->err)
        return r->err;
    int rc;
    doc_val root;
    if (!r->done) {
        rc = next_match(r, &root);
        if (rc == 0 && !(rc = coll_output(r->m, root, r->flags, r->proj, &r->scratch, &r->out))) {
            r->returned++;
            doc->data = r->out.data;
            doc->size = r->out.size;
            return 0;
        }
        if (rc != BURROW_ENOTFOUND)
            return r->err = rc;
        r->done = true;
    }
    /* At the end: still say when the txn has gone. */
    if ((rc = plan_exec_alive(r->x)))
        return r->err = rc;
    return BURROW_ENOTFOUND;
}

/* ---- EXPLAIN ------------------------------------------------------------------------ */

static void put_u64(doc_builder *d, uint64_t v)
{
    if (v <= INT64_MAX)
        doc_builder_int(d, (int64_t)v);
    else
        doc_builder_double(d, (double)v);
}

static void put_key_string(doc_builder *d, const char *key, const char *s)
{
    doc_builder_key(d, key, strlen(key));
    if (s)
        doc_builder_string(d, s, strlen(s));
    else
        doc_builder_null(d);
}

/* The filter in its canonical form, as a value in d. */
static int put_filter(doc_builder *d, const doc_filter *f)
{
    doc_builder_key(d, "filter", 6);
    if (!f) {
        doc_builder_begin_object(d);
        return doc_builder_end(d);
    }
    buf text = {0};
    doc_builder fb;
    doc_builder_init(&fb);
    const uint8_t *fd;
    size_t fl;
    doc_val fv;
    int rc = doc_filter_format(f, &text);
    if (!rc && !(rc = json_parse((const char *)text.data, text.size, NULL, &fb)) &&
        !(rc = doc_builder_finish(&fb, &fd, &fl)) && !(rc = doc_root(fd, fl, &fv)))
        rc = doc_builder_copy(d, fv);
    buf_free(&text);
    doc_builder_free(&fb);
    return rc;
}

/*
 * The plan as JSON, one object with always the same members:
 *   "collection": name
 *   "plan": "scan" | "id" | "index"
 *   "index": the index's name, or null
 *   "ranges": [range, ...]  what the plan reads, in key order (read from
 *       the last when "reverse"); [] for a scan. A range is an
 *       object of field -> condition in filter syntax, one member per
 *       field the range bounds, in the index's field order:
 *         {"$eq": v}            the field is v (null included)
 *         {"$exists": false}    the entries of documents without the field
 *                               (on a dotted path, also of documents where
 *                               the path crosses an array or a scalar)
 *         {"$gt"|"$gte": v, "$lt"|"$lte": w}  a range; a missing end is the
 *                               end of v's type (numbers, strings...)
 *         {"$startsWith": "ab"} strings with that prefix (may come with a
 *                               "$gt"/"$lt" bound)
 *       {} alone: the whole index (a plan chosen for its order).
 *   "filter": the filter in canonical form ({} when none); every document
 *       read is checked against it
 *   "estimated_rows": index entries counted in the ranges, the number of
 *       ids (an id plan with $eq/$in; also a unique index with every field
 *       pinned: one per range), or the collection's size (a scan, or a
 *       whole index read for its order)
 *   "capped": counting stopped before the end of the ranges because this
 *       plan could no longer cost less than the best one before it (an
 *       index plan costs two reads per entry, a scan one per document);
 *       estimated_rows is where it stopped, a lower bound
 *   "sort": "none" (no sort asked), "index" (the plan's order is the
 *       sort's: a scan or id plan for _id, or an index), "memory"
 *   "reverse": the plan is read backwards (a descending sort)
 *   "dedupe": an id may come more than once (a multikey index) and is
 *       dropped after the first
 *   "skip", "limit": as given (0: none)
 *   "candidates": [{"plan", "index", "estimated_rows", "capped"}, ...]
 *       every plan weighed, the chosen one included: the scan first, then
 *       the id plan, then the indexes in the collection's order
 */
static int explain_doc(const coll_meta *m, const plan *p, const doc_filter *f,
                       const burrow_find_options *o, doc_builder *d)
{
    doc_builder_begin(d);
    doc_builder_begin_object(d);
    put_key_string(d, "collection", m->name);
    put_key_string(d, "plan", plan_kind_name(p->kind));
    put_key_string(d, "index", p->kind == PLAN_INDEX ? m->indexes[p->index].name : NULL);
    doc_builder_key(d, "ranges", 6);
    doc_val ranges;
    int rc = doc_root(p->desc.data, p->desc.size, &ranges);
    if (rc)
        return rc;
    doc_builder_copy(d, ranges);
    if ((rc = put_filter(d, f)))
        return rc;
    doc_builder_key(d, "estimated_rows", 14);
    put_u64(d, p->estimate);
    doc_builder_key(d, "capped", 6);
    doc_builder_bool(d, p->capped);
    put_key_string(d, "sort", o->nsort == 0 ? "none" : p->sort_streams ? "index" : "memory");
    doc_builder_key(d, "reverse", 7);
    doc_builder_bool(d, p->reverse);
    doc_builder_key(d, "dedupe", 6);
    doc_builder_bool(d, p->dedupe);
    doc_builder_key(d, "skip", 4);
    put_u64(d, o->skip);
    doc_builder_key(d, "limit", 5);
    put_u64(d, o->limit);
    doc_builder_key(d, "candidates", 10);
    doc_builder_begin_array(d);
    for (size_t i = 0; i < p->ncands; i++) {
        const plan_candidate *c = &p->cands[i];
        doc_builder_begin_object(d);
        put_key_string(d, "plan", plan_kind_name(c->kind));
        put_key_string(d, "index", c->kind == PLAN_INDEX ? m->indexes[c->index].name : NULL);
        doc_builder_key(d, "estimated_rows", 14);
        put_u64(d, c->estimate);
        doc_builder_key(d, "capped", 6);
        doc_builder_bool(d, c->capped);
        doc_builder_end(d);
    }
    doc_builder_end(d);
    return doc_builder_end(d);
}

int burrow_explain(burrow_txn *txn, const char *coll, const burrow_find_options *opt,
                   burrow_buf *json)
{
    diag_clear();
    if (!txn || !json)
        return diag_set(BURROW_EINVAL, "explain: txn and json are required");
    const burrow_find_options *o = opt ? opt : &no_options;
    int rc = options_check(o);
    if (rc)
        return rc;
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    plan_sort_key *sort = NULL;
    plan p;
    memset(&p, 0, sizeof p);
    doc_builder d;
    doc_builder_init(&d);
    const doc_filter *f = (const doc_filter *)o->filter;
    const uint8_t *data;
    size_t len;
    doc_val root;
    if (!(rc = plan_sort_parse(o->sort, o->nsort, &sort)) &&
        !(rc = plan_build(txn, m, f, sort, o->nsort, true, &p)) &&
        !(rc = explain_doc(m, &p, f, o, &d)) && !(rc = doc_builder_finish(&d, &data, &len)) &&
        !(rc = doc_root(data, len, &root))) {
        json->size = 0;
        if (!(rc = json_write(root, 0, NULL, json)) && !(rc = buf_putc(json, 0)))
            json->size--;
    }
    doc_builder_free(&d);
    plan_free(&p);
    plan_sort_free(sort, o->nsort);
    meta_release(txn, m);
    return rc;
}

/* ---- counting ---------------------------------------------------------------------------- */

int burrow_doc_count(burrow_txn *txn, const char *coll, const burrow_filter *filter, uint64_t *out)
{
    diag_clear();
    if (!txn || !out)
        return diag_set(BURROW_EINVAL, "doc_count: txn and out are required");
    coll_meta *m;
    int rc = meta_acquire(txn, coll, &m);
    if (rc)
        return rc;
    const doc_filter *f = (const doc_filter *)filter;
    if ((!f || doc_filter_root(f)->op == FILTER_TRUE) && !m->has_ttl) {
        rc = burrow_bucket_count(txn, m->docs, out);
        meta_release(txn, m);
        return rc;
    }
    plan p;
    plan_exec *x = NULL;
    uint64_t n = 0;
    if (!(rc = plan_build(txn, m, f, NULL, 0, false, &p))) {
        if (!(rc = plan_exec_open(txn, m, &p, f, &x))) {
            doc_val root;
            const char *id;
            size_t idlen;
            while ((rc = plan_exec_next(x, &root, &id, &idlen)) == 0)
                n++;
            if (rc == BURROW_ENOTFOUND)
                rc = 0;
        }
        plan_exec_close(x);
        plan_free(&p);
    }
    if (!rc)
        *out = n;
    meta_release(txn, m);
    return rc;
}
