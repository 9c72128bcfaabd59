/*
 * freelist.c — free space as extents (runs of pages), never single pages.
 *
 * The pool holds extents reusable now, in a treap ordered by start page and
 * augmented with the longest extent in each subtree, so the lowest-addressed
 * run of n pages is found in O(log n) without scanning, and freeing merges
 * with both neighbours in O(log n).
 *
 * Pending groups hold the pages a commit freed, tagged with its txnid. They
 * join the pool (fl_release) once no live snapshot is older than that txnid
 * and open no longer needs them to fall back on (see txn.c).
 *
 * The whole model is written at every commit into a header-less run of
 * pages whose position, length and checksum are in the meta page (the
 * encoding is in format.h).
 */
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

struct fl_node {
    pgno_t start;
    uint64_t len;
    uint64_t maxlen; /* longest extent in this subtree */
    uint32_t prio;
    fl_node *left, *right;
};

static uint32_t fl_rand(void)
{
    /* Treap priorities only need to be well spread, not secret. */
    static _Thread_local uint64_t x = 0x9e3779b97f4a7c15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return (uint32_t)(x >> 32);
}

static inline uint64_t maxlen_of(const fl_node *n) { return n ? n->maxlen : 0; }

static inline void fix(fl_node *n)
{
    uint64_t m = n->len, l = maxlen_of(n->left), r = maxlen_of(n->right);
    if (l > m) m = l;
    if (r > m) m = r;
    n->maxlen = m;
}

/* Split t into keys < start (a) and >= start (b). */
static void split(fl_node *t, pgno_t start, fl_node **a, fl_node **b)
{
    if (!t) {
        *a = *b = NULL;
        return;
    }
    if (t->start < start) {
        split(t->right, start, &t->right, b);
        fix(t);
        *a = t;
    } else {
        split(t->left, start, a, &t->left);
        fix(t);
        *b = t;
    }
}

static fl_node *merge(fl_node *a, fl_node *b)
{
    if (!a) return b;
    if (!b) return a;
    if (a->prio > b->prio) {
        a->right = merge(a->right, b);
        fix(a);
        return a;
    }
    b->left = merge(a, b->left);
    fix(b);
    return b;
}

static fl_node *rightmost(fl_node *t)
{
    while (t && t->right) t = t->right;
    return t;
}

static fl_node *leftmost(fl_node *t)
{
    while (t && t->left) t = t->left;
    return t;
}

/* Recompute maxlen on the path from t down to the node with this start,
 * after that node's extent changed in place (its order did not). */
static void fix_to(fl_node *t, pgno_t start)
{
    if (!t) return;
    if (start < t->start)
        fix_to(t->left, start);
    else if (start > t->start)
        fix_to(t->right, start);
    fix(t);
}

/* The nodes just before and at-or-after start (NULL when none). */
static void neighbours(fl_node *t, pgno_t start, fl_node **prev, fl_node **next)
{
    *prev = *next = NULL;
    while (t) {
        if (t->start < start) {
            *prev = t;
            t = t->right;
        } else {
            *next = t;
            t = t->left;
        }
    }
}

void fl_init(freelist *fl) { memset(fl, 0, sizeof *fl); }

static void free_tree(fl_node *t)
{
    while (t) {
        free_tree(t->left);
        fl_node *r = t->right;
        free(t);
        t = r;
    }
}

void fl_destroy(freelist *fl)
{
    free_tree(fl->root);
    for (size_t i = 0; i < fl->ngroups; i++) free(fl->groups[i].ext);
    free(fl->groups);
    memset(fl, 0, sizeof *fl);
}

int fl_free(freelist *fl, pgno_t start, uint64_t n)
{
    if (n == 0) return 0;
    /* Fast paths: the run extends one neighbour in place (the common case
     * when pages come back next to free space). Order is unchanged, so
     * only maxlen on the path needs fixing. */
    fl_node *p, *q;
    neighbours(fl->root, start, &p, &q);
    bool overlap = (p && p->start + p->len > start) || (q && start + n > q->start);
    bool join_p = p && p->start + p->len == start, join_q = q && start + n == q->start;
    if (!overlap && join_p != join_q) {
        if (join_p) {
            p->len += n;
            fix_to(fl->root, p->start);
        } else {
            q->start -= n;
            q->len += n;
            fix_to(fl->root, q->start);
        }
        fl->free_pages += n;
        return 0;
    }
    fl_node *a, *b, *mid = NULL;
    split(fl->root, start, &a, &b);
    fl_node *prev = rightmost(a), *next = leftmost(b);
    if ((prev && prev->start + prev->len > start) || (next && start + n > next->start)) {
        fl->root = merge(a, b);
        return diag_set(BURROW_ECORRUPT, "freelist: pages %llu..%llu freed twice",
                        (unsigned long long)start, (unsigned long long)(start + n - 1));
    }
    pgno_t s = start;
    uint64_t len = n;
    if (prev && prev->start + prev->len == start) {
        /* detach prev (the largest of a) and absorb it */
        fl_node *a1, *a2;
        split(a, prev->start, &a1, &a2);
        a = a1;
        s = prev->start;
        len += prev->len;
        free(a2);
        fl->nextents--;
    }
    if (next && start + n == next->start) {
        fl_node *b1, *b2;
        split(b, next->start + 1, &b1, &b2);
        b = b2;
        len += next->len;
        free(b1);
        fl->nextents--;
    }
    mid = malloc(sizeof *mid);
    if (!mid) {
        fl->root = merge(a, b);
        return diag_set(BURROW_ENOMEM, "freelist: out of memory");
    }
    mid->start = s;
    mid->len = len;
    mid->maxlen = len;
    mid->prio = fl_rand();
    mid->left = mid->right = NULL;
    fl->root = merge(merge(a, mid), b);
    fl->nextents++;
    fl->free_pages += n;
    return 0;
}

/* The node with the lowest start among those with len >= n. */
static fl_node *first_fit(fl_node *t, uint64_t n)
{
    while (t) {
        if (maxlen_of(t->left) >= n)
            t = t->left;
        else if (t->len >= n)
            return t;
        else if (maxlen_of(t->right) >= n)
            t = t->right;
        else
            return NULL;
    }
    return NULL;
}

int fl_alloc(freelist *fl, uint64_t n, pgno_t *out)
{
    if (maxlen_of(fl->root) < n) return BURROW_ENOTFOUND;
    fl_node *f = first_fit(fl->root, n);
    pgno_t start = f->start;
    if (f->len > n) {
        /* take the front of the extent in place: its order is unchanged */
        f->start += n;
        f->len -= n;
        fix_to(fl->root, f->start);
        fl->free_pages -= n;
        *out = start;
        return 0;
    }
    fl_node *a, *b, *m, *c;
    split(fl->root, start, &a, &b);
    split(b, start + 1, &m, &c); /* m is exactly f */
    if (m->len == n) {
        free(m);
        m = NULL;
        fl->nextents--;
    } else {
        m->start += n;
        m->len -= n;
        m->maxlen = m->len;
    }
    fl->root = merge(merge(a, m), c);
    fl->free_pages -= n;
    *out = start;
    return 0;
}

bool fl_take_tail(freelist *fl, pgno_t end, extent *out)
{
    fl_node *r = rightmost(fl->root);
    if (!r || r->start + r->len != end) return false;
    fl_node *a, *b;
    split(fl->root, r->start, &a, &b);
    out->start = b->start;
    out->len = b->len;
    free(b);
    fl->root = a;
    fl->nextents--;
    fl->free_pages -= out->len;
    return true;
}

int fl_defer(freelist *fl, uint64_t txnid, pgno_t start, uint64_t n)
{
    fl_group *g = fl->ngroups ? &fl->groups[fl->ngroups - 1] : NULL;
    if (!g || g->txnid != txnid) {
        if (g && g->txnid > txnid)
            return diag_set(BURROW_ECORRUPT, "freelist: pending groups out of order");
        if (fl->ngroups == fl->gcap) {
            size_t cap = fl->gcap ? fl->gcap * 2 : 8;
            fl_group *v = realloc(fl->groups, cap * sizeof *v);
            if (!v) return diag_set(BURROW_ENOMEM, "freelist: out of memory");
            fl->groups = v;
            fl->gcap = cap;
        }
        g = &fl->groups[fl->ngroups++];
        memset(g, 0, sizeof *g);
        g->txnid = txnid;
    }
    if (g->n && g->ext[g->n - 1].start + g->ext[g->n - 1].len == start) {
        g->ext[g->n - 1].len += n;
    } else {
        if (g->n == g->cap) {
            size_t cap = g->cap ? g->cap * 2 : 16;
            extent *v = realloc(g->ext, cap * sizeof *v);
            if (!v) return diag_set(BURROW_ENOMEM, "freelist: out of memory");
            g->ext = v;
            g->cap = cap;
        }
        g->ext[g->n++] = (extent){start, n};
    }
    g->pages += n;
    fl->pending_pages += n;
    return 0;
}

int fl_release(freelist *fl, uint64_t upto)
{
    size_t k = 0;
    while (k < fl->ngroups && fl->groups[k].txnid <= upto) {
        fl_group *g = &fl->groups[k];
        for (size_t i = 0; i < g->n; i++) {
            int rc = fl_free(fl, g->ext[i].start, g->ext[i].len);
            if (rc) return rc;
        }
        fl->pending_pages -= g->pages;
        free(g->ext);
        k++;
    }
    if (k) {
        memmove(fl->groups, fl->groups + k, (fl->ngroups - k) * sizeof *fl->groups);
        fl->ngroups -= k;
    }
    return 0;
}

/* ---- encoding --------------------------------------------------------- */

static size_t bound_tree(const fl_node *t)
{
    size_t s = 0;
    while (t) {
        s += bound_tree(t->left);
        s += varint_size(t->start + t->len) + varint_size(t->len);
        t = t->right;
    }
    return s;
}

size_t fl_encoded_bound(const freelist *fl)
{
    /* Allocating the run itself may shorten one extent (its start grows, so
     * count it at its end) and the counts take at most 10 bytes each. */
    size_t s = 10 + 10 + bound_tree(fl->root);
    for (size_t i = 0; i < fl->ngroups; i++) {
        const fl_group *g = &fl->groups[i];
        s += 20;
        for (size_t j = 0; j < g->n; j++)
            s += varint_size(g->ext[j].start + g->ext[j].len) + varint_size(g->ext[j].len);
    }
    return s;
}

struct enc {
    uint8_t *q;
    pgno_t prev_end;
};

static void enc_tree(const fl_node *t, struct enc *e)
{
    while (t) {
        enc_tree(t->left, e);
        e->q += varint_put(e->q, t->start - e->prev_end);
        e->q += varint_put(e->q, t->len);
        e->prev_end = t->start + t->len;
        t = t->right;
    }
}

size_t fl_encode(const freelist *fl, uint8_t *out)
{
    struct enc e = {out, 0};
    e.q += varint_put(e.q, fl->nextents);
    enc_tree(fl->root, &e);
    e.q += varint_put(e.q, fl->ngroups);
    for (size_t i = 0; i < fl->ngroups; i++) {
        const fl_group *g = &fl->groups[i];
        e.q += varint_put(e.q, g->txnid);
        e.q += varint_put(e.q, g->n);
        e.prev_end = 0;
        for (size_t j = 0; j < g->n; j++) {
            /* group extents are in free order, not address order: encode
             * the start absolutely */
            e.q += varint_put(e.q, g->ext[j].start);
            e.q += varint_put(e.q, g->ext[j].len);
        }
    }
    return (size_t)(e.q - out);
}

int fl_decode(freelist *fl, const uint8_t *in, size_t len, uint64_t npages)
{
    const uint8_t *q = in, *end = in + len;
    uint64_t n, v, l;
    size_t k;
    fl_init(fl);
#define GET(x)                                                   \
    do {                                                         \
        if (!(k = varint_get(q, end, &(x)))) goto bad;           \
        q += k;                                                  \
    } while (0)
    GET(n);
    pgno_t prev_end = 0;
    for (uint64_t i = 0; i < n; i++) {
        GET(v);
        GET(l);
        if (v > npages) goto bad;
        pgno_t s = prev_end + v;
        if (l == 0 || s < 2 || s >= npages || l > npages - s) goto bad;
        if (i > 0 && v == 0) goto bad; /* adjacent extents are always merged */
        if (fl_free(fl, s, l)) goto bad;
        prev_end = s + l;
    }
    GET(n);
    uint64_t last_txn = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t txnid, m;
        GET(txnid);
        GET(m);
        if (txnid <= last_txn || m == 0) goto bad;
        last_txn = txnid;
        for (uint64_t j = 0; j < m; j++) {
            GET(v);
            GET(l);
            if (l == 0 || v < 2 || v >= npages || l > npages - v) goto bad;
            if (fl_defer(fl, txnid, v, l)) goto bad;
        }
    }
    if (q != end) goto bad;
#undef GET
    return 0;
bad:
    fl_destroy(fl);
    return diag_set(BURROW_ECORRUPT, "freelist: malformed contents");
}

static int walk_tree(const fl_node *t, int (*fn)(void *, pgno_t, uint64_t, int), void *ctx)
{
    while (t) {
        int rc = walk_tree(t->left, fn, ctx);
        if (rc) return rc;
        if ((rc = fn(ctx, t->start, t->len, 0))) return rc;
        t = t->right;
    }
    return 0;
}

int fl_walk(const freelist *fl, int (*fn)(void *ctx, pgno_t start, uint64_t n, int pending), void *ctx)
{
    int rc = walk_tree(fl->root, fn, ctx);
    for (size_t i = 0; !rc && i < fl->ngroups; i++)
        for (size_t j = 0; !rc && j < fl->groups[i].n; j++)
            rc = fn(ctx, fl->groups[i].ext[j].start, fl->groups[i].ext[j].len, 1);
    return rc;
}
