/*
 * pager.c — pages for transactions: the read-only map of the file, the
 * verified-page bitmaps, a write txn's dirty pages, allocation and freeing.
 *
 * Reads go through one shared read-only mapping of a large reserved length
 * (the file grows underneath it). When the file outgrows the reservation,
 * the writer makes a new, larger mapping; readers keep the one they started
 * with (reference counted), so growth never waits for them.
 *
 * Dirty pages of a write txn live in malloc'd buffers in a hash table per
 * nesting level. A page dirty in an ancestor is copied ("shadowed") before a
 * child changes it, so aborting the child just drops its table.
 *
 * Page states: free (pool) -> allocated (dirty, this txn) -> committed ->
 * freed (pending group) -> free. A page allocated and freed inside the same
 * txn level goes straight back to the pool.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "store/store.h"

/* ---- mapping ---------------------------------------------------------- */

int pager_map_init(burrow_db *db)
{
    mapping *m = calloc(1, sizeof *m);
    if (!m) return diag_set(BURROW_ENOMEM, "out of memory");
    void *base;
    int rc = db->os->mmap(db->os->ctx, db->fd, db->map_reserve, &base);
    if (rc) {
        free(m);
        return diag_set(rc, "mmap of %llu bytes failed", (unsigned long long)db->map_reserve);
    }
    m->base = base;
    m->len = db->map_reserve;
    m->refs = 1;
    db->map = m;
    return 0;
}

void mapping_release(burrow_db *db, mapping *m)
{
    pthread_mutex_lock(&db->lock);
    bool last = --m->refs == 0;
    pthread_mutex_unlock(&db->lock);
    if (last) {
        db->os->munmap(db->os->ctx, m->base, m->len);
        free(m);
    }
}

int pager_ensure_map(burrow_db *db, uint64_t npages)
{
    uint64_t need = npages << db->pshift;
    if (need <= db->map->len) return 0;
    uint64_t len = db->map->len;
    while (len < need) len *= 2;
    mapping *m = calloc(1, sizeof *m);
    if (!m) return diag_set(BURROW_ENOMEM, "out of memory");
    void *base;
    int rc = db->os->mmap(db->os->ctx, db->fd, len, &base);
    if (rc) {
        free(m);
        return diag_set(rc, "mmap of %llu bytes failed", (unsigned long long)len);
    }
    m->base = base;
    m->len = len;
    m->refs = 1;
    pthread_mutex_lock(&db->lock);
    mapping *old = db->map;
    db->map = m;
    pthread_mutex_unlock(&db->lock);
    mapping_release(db, old);
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

int pager_write(burrow_db *db, const void *buf, size_t len, uint64_t off)
{
    ssize_t w = db->os->pwrite(db->os->ctx, db->fd, buf, len, off);
    if (w < 0) return diag_set((int)w, "write of %zu bytes at offset %llu failed", len, (unsigned long long)off);
    if ((size_t)w != len)
        return diag_set(-EIO, "short write: %zd of %zu bytes at offset %llu", w, len, (unsigned long long)off);
    return 0;
}

/* ---- verified bitmaps (0: tree pages, 1: first pages of runs) ---------- */

static _Atomic uint64_t *vb_word(burrow_db *db, int which, pgno_t pg, bool create)
{
    size_t c = (size_t)(pg >> VB_CHUNK_BITS);
    _Atomic uint64_t *chunk = atomic_load_explicit(&db->vbits[which][c], memory_order_acquire);
    if (!chunk) {
        if (!create) return NULL;
        _Atomic uint64_t *fresh = calloc((size_t)1 << (VB_CHUNK_BITS - 6), sizeof *fresh);
        if (!fresh) return NULL;
        _Atomic uint64_t *expected = NULL;
        if (atomic_compare_exchange_strong(&db->vbits[which][c], &expected, fresh))
            chunk = fresh;
        else {
            free(fresh);
            chunk = expected;
        }
    }
    return &chunk[(pg & (((pgno_t)1 << VB_CHUNK_BITS) - 1)) >> 6];
}

static inline bool vb_test(burrow_db *db, int which, pgno_t pg)
{
    _Atomic uint64_t *w = vb_word(db, which, pg, false);
    return w && (atomic_load_explicit(w, memory_order_acquire) >> (pg & 63) & 1);
}

static inline void vb_set(burrow_db *db, int which, pgno_t pg)
{
    _Atomic uint64_t *w = vb_word(db, which, pg, true);
    if (w) atomic_fetch_or_explicit(w, (uint64_t)1 << (pg & 63), memory_order_release);
}

void vbit_clear(burrow_db *db, pgno_t pg, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        for (int which = 0; which < 2; which++) {
            _Atomic uint64_t *w = vb_word(db, which, pg + i, false);
            if (w) atomic_fetch_and_explicit(w, ~((uint64_t)1 << ((pg + i) & 63)), memory_order_release);
        }
}

void vbit_mark_written(burrow_db *db, pgno_t pg, uint64_t n, bool run)
{
    /* What the writer just wrote is valid by construction: mark it, so the
     * next txn that copies it does not hash it again. */
    vbit_clear(db, pg, n);
    vb_set(db, run ? 1 : 0, pg);
}

/* ---- reading committed pages ------------------------------------------ */

int pager_read_slow(burrow_db *db, const mapping *m, uint64_t npages, pgno_t pg, uint64_t expect_txnid,
                    const uint8_t **out)
{
    if (pg < 2 || pg >= npages)
        return diag_set(BURROW_ECORRUPT, "page %llu is outside the file's %llu pages",
                        (unsigned long long)pg, (unsigned long long)npages);
    const uint8_t *p = m->base + (pg << db->pshift);
    if (!vb_test(db, 0, pg)) {
        int rc = page_verify(p, db->psize, pg);
        if (rc) return rc;
        vb_set(db, 0, pg);
    }
    if (page_txnid(p) != expect_txnid)
        return diag_set(BURROW_ECORRUPT, "page %llu: written by txn %llu, its parent expects %llu",
                        (unsigned long long)pg, (unsigned long long)page_txnid(p),
                        (unsigned long long)expect_txnid);
    *out = p;
    return 0;
}

int pager_read_run(burrow_db *db, const mapping *m, uint64_t npages, pgno_t pg, uint64_t n,
                   uint64_t sum, const uint8_t **out)
{
    if (pg < 2 || n == 0 || pg >= npages || n > npages - pg)
        return diag_set(BURROW_ECORRUPT, "overflow run %llu+%llu is outside the file's %llu pages",
                        (unsigned long long)pg, (unsigned long long)n, (unsigned long long)npages);
    const uint8_t *p = m->base + (pg << db->pshift);
    if (!vb_test(db, 1, pg)) {
        if (hash64(p, n << db->pshift, 0) != sum)
            return diag_set(BURROW_ECORRUPT, "overflow run at page %llu: checksum mismatch",
                            (unsigned long long)pg);
        vb_set(db, 1, pg);
    }
    *out = p;
    return 0;
}

/* ---- dirty tables ------------------------------------------------------ */

static inline size_t dslot(const dirty_table *t, pgno_t pg)
{
    return (size_t)((pg * 0x9e3779b97f4a7c15ull) >> 20) & (t->cap - 1);
}

dirty *dirty_find(const dirty_table *t, pgno_t pg)
{
    if (!t->count) return NULL;
    for (size_t i = dslot(t, pg);; i = (i + 1) & (t->cap - 1)) {
        dirty *d = &t->slots[i];
        if (d->pgno == pg) return d;
        if (!d->pgno) return NULL;
    }
}

static int dirty_grow(dirty_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    dirty *old = t->slots;
    size_t ocap = t->cap;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots) {
        t->slots = old;
        return diag_set(BURROW_ENOMEM, "out of memory");
    }
    t->cap = cap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].pgno) continue;
        size_t j = dslot(t, old[i].pgno);
        while (t->slots[j].pgno) j = (j + 1) & (cap - 1);
        t->slots[j] = old[i];
    }
    free(old);
    return 0;
}

int dirty_insert(dirty_table *t, pgno_t pg, uint64_t npages, uint8_t *buf, bool shadow, bool run)
{
    if ((t->count + 1) * 4 > t->cap * 3) {
        int rc = dirty_grow(t);
        if (rc) return rc;
    }
    size_t i = dslot(t, pg);
    while (t->slots[i].pgno && t->slots[i].pgno != pg) i = (i + 1) & (t->cap - 1);
    if (!t->slots[i].pgno) t->count++;
    t->slots[i] = (dirty){pg, npages, buf, shadow, run};
    return 0;
}

void dirty_remove(dirty_table *t, pgno_t pg)
{
    if (!t->count) return;
    size_t i = dslot(t, pg);
    while (t->slots[i].pgno != pg) {
        if (!t->slots[i].pgno) return;
        i = (i + 1) & (t->cap - 1);
    }
    /* backward-shift deletion keeps probe chains intact without tombstones */
    size_t j = i;
    for (;;) {
        t->slots[i].pgno = 0;
        for (;;) {
            j = (j + 1) & (t->cap - 1);
            if (!t->slots[j].pgno) {
                t->count--;
                return;
            }
            size_t k = dslot(t, t->slots[j].pgno);
            /* move j back to i unless its home k lies cyclically in (i, j] */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j)) continue;
            break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

/* Page buffers of the writer are recycled: a batch of puts dirties
 * thousands of pages, and malloc/free of each showed in profiles. */
#define BUF_POOL_MAX 4096

uint8_t *page_buf_get(burrow_db *db)
{
    if (db->npool) return db->pool[--db->npool];
    return malloc(db->psize);
}

void dirty_buf_put(burrow_db *db, const dirty *d)
{
    if (!d->run && db->npool < BUF_POOL_MAX) {
        if (db->npool == db->pool_cap) {
            size_t cap = db->pool_cap ? db->pool_cap * 2 : 256;
            uint8_t **v = realloc(db->pool, cap * sizeof *v);
            if (!v) {
                free(d->buf);
                return;
            }
            db->pool = v;
            db->pool_cap = cap;
        }
        db->pool[db->npool++] = d->buf;
        return;
    }
    free(d->buf);
}

void dirty_destroy(burrow_db *db, dirty_table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].pgno) dirty_buf_put(db, &t->slots[i]);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

int pglist_push(pglist *l, pgno_t pg, uint64_t n)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        extent *v = realloc(l->v, cap * sizeof *v);
        if (!v) return diag_set(BURROW_ENOMEM, "out of memory");
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (extent){pg, n};
    return 0;
}

/* ---- page access in a txn --------------------------------------------- */

static dirty *chain_find(const burrow_txn *t, pgno_t pg)
{
    for (; t; t = t->parent) {
        dirty *d = dirty_find(&t->dirty, pg);
        if (d) return d;
    }
    return NULL;
}

int txn_page_dirty(burrow_txn *t, pgno_t pg, uint64_t expect_txnid, const uint8_t **out)
{
    dirty *d = chain_find(t, pg);
    if (d) {
        if (d->run) return diag_set(BURROW_ECORRUPT, "page %llu: tree page expected", (unsigned long long)pg);
        *out = d->buf;
        return 0;
    }
    return pager_read(t->db, t->map, t->snap.npages, pg, expect_txnid, out);
}

int txn_run(burrow_txn *t, pgno_t pg, uint64_t n, uint64_t sum, const uint8_t **out)
{
    if (!t->rdonly) {
        dirty *d = chain_find(t, pg);
        if (d) {
            if (!d->run || d->npages != n)
                return diag_set(BURROW_ECORRUPT, "page %llu: overflow run expected", (unsigned long long)pg);
            *out = d->buf;
            return 0;
        }
    }
    return pager_read_run(t->db, t->map, t->snap.npages, pg, n, sum, out);
}

/* ---- allocation -------------------------------------------------------- */

int txn_alloc(burrow_txn *t, uint64_t n, pgno_t *out)
{
    burrow_db *db = t->db;
    if (fl_alloc(&db->fl, n, out) == 0) return 0;
    if (db->next_pgno + n > MAX_PAGES)
        return diag_set(BURROW_EFULL, "file would exceed %llu pages", (unsigned long long)MAX_PAGES);
    *out = db->next_pgno;
    db->next_pgno += n;
    return 0;
}

int writer_pool_free(burrow_db *db, pgno_t pg, uint64_t n)
{
    int rc = fl_free(&db->fl, pg, n);
    if (rc) return rc;
    /* Free space at the end of the file lowers the high-water mark. */
    extent e;
    while (fl_take_tail(&db->fl, db->next_pgno, &e)) db->next_pgno = e.start;
    return 0;
}

int txn_free(burrow_txn *t, pgno_t pg, uint64_t n)
{
    dirty *d = dirty_find(&t->dirty, pg);
    if (d) {
        bool shadow = d->shadow;
        dirty_buf_put(t->db, d);
        dirty_remove(&t->dirty, pg);
        if (!shadow) return writer_pool_free(t->db, pg, n);
    }
    return pglist_push(&t->frees, pg, n);
}

int txn_new_page(burrow_txn *t, unsigned kind, pgno_t *pg, uint8_t **out)
{
    uint8_t *buf = page_buf_get(t->db);
    if (!buf) return diag_set(BURROW_ENOMEM, "out of memory");
    int rc = txn_alloc(t, 1, pg);
    if (!rc) rc = dirty_insert(&t->dirty, *pg, 1, buf, false, false);
    if (rc) {
        free(buf);
        return rc;
    }
    page_init(buf, t->db->psize, *pg, t->txnid, kind);
    *out = buf;
    return 0;
}

int txn_touch(burrow_txn *t, pgno_t pg, uint64_t txnid, pgno_t *newpg, uint8_t **out)
{
    dirty *d = dirty_find(&t->dirty, pg);
    if (d) {
        *newpg = pg;
        *out = d->buf;
        return 0;
    }
    uint32_t P = t->db->psize;
    uint8_t *buf = page_buf_get(t->db);
    if (!buf) return diag_set(BURROW_ENOMEM, "out of memory");
    int rc;
    d = t->parent ? chain_find(t->parent, pg) : NULL;
    if (d) {
        memcpy(buf, d->buf, P);
        rc = dirty_insert(&t->dirty, pg, 1, buf, true, false);
        if (rc) goto fail;
        *newpg = pg;
    } else {
        const uint8_t *src;
        pgno_t np;
        rc = pager_read(t->db, t->map, t->snap.npages, pg, txnid, &src);
        if (rc) goto fail;
        rc = txn_alloc(t, 1, &np);
        if (rc) goto fail;
        memcpy(buf, src, P);
        le64_store(buf + PH_PGNO, np);
        le64_store(buf + PH_TXNID, t->txnid);
        rc = dirty_insert(&t->dirty, np, 1, buf, false, false);
        if (rc) {
            writer_pool_free(t->db, np, 1);
            goto fail;
        }
        rc = txn_free(t, pg, 1);
        if (rc) return rc; /* buf is owned by the table now */
        *newpg = np;
    }
    *out = buf;
    return 0;
fail:
    free(buf);
    return rc;
}
