/*
 * txn.c — transactions: read snapshots, the single writer, savepoints, commit.
 *
 * States of a txn and who moves it:
 *
 *   burrow_txn_begin --> LIVE --(burrow_txn_begin with it as parent)--> HAS_CHILD
 *   HAS_CHILD --(child commits or aborts)--> LIVE
 *   LIVE --(an error mid-write)--> FAILED (only abort is allowed)
 *   LIVE --burrow_txn_commit--> ended (freed) ; any --burrow_txn_abort--> ended
 *
 * A read txn pins its snapshot in a reader slot; the writer never reuses a
 * page freed by commit F while a reader's snapshot is older than F, nor a
 * page the previous commit can see (so open can fall back to it).
 *
 * Commit (top level) in order: bucket records into the catalog, the pages
 * this txn freed into a pending group, the freelist run, all dirty pages,
 * then the meta page into the older slot; one fdatasync (BURROW_SYNC_FULL)
 * makes it durable. Open verifies the newest commit's pages (db.c), so a
 * torn commit is detected and the previous one used.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hash.h"
#include "store/store.h"

/* ---- reader slots --------------------------------------------------------- */

static reader_slot *reader_acquire(burrow_db *db, uint64_t txnid)
{
    /* called with db->lock held */
    for (reader_chunk *c = &db->readers;;) {
        for (int i = 0; i < READER_CHUNK; i++) {
            uint64_t expected = 0;
            if (atomic_load_explicit(&c->slot[i].txnid, memory_order_relaxed) == 0 &&
                atomic_compare_exchange_strong(&c->slot[i].txnid, &expected, txnid)) {
                atomic_store(&c->slot[i].start_ms, clock_mono_ms());
                atomic_store(&c->slot[i].seq, db->commit_seq);
                return &c->slot[i];
            }
        }
        reader_chunk *next = atomic_load(&c->next);
        if (!next) {
            reader_chunk *fresh = calloc(1, sizeof *fresh);
            if (!fresh) return NULL;
            reader_chunk *expected = NULL;
            if (!atomic_compare_exchange_strong(&c->next, &expected, fresh)) {
                free(fresh);
                next = expected;
            } else {
                next = fresh;
            }
        }
        c = next;
    }
}

void reader_oldest(burrow_db *db, uint64_t *txnid, uint64_t *start_ms, uint64_t *count, uint64_t *seq)
{
    uint64_t oldest = UINT64_MAX, start = UINT64_MAX, n = 0, oseq = UINT64_MAX;
    for (reader_chunk *c = &db->readers; c; c = atomic_load(&c->next))
        for (int i = 0; i < READER_CHUNK; i++) {
            uint64_t t = atomic_load(&c->slot[i].txnid);
            if (!t) continue;
            n++;
            if (t < oldest) oldest = t;
            uint64_t q = atomic_load(&c->slot[i].seq);
            if (q < oseq) oseq = q;
            uint64_t s = atomic_load(&c->slot[i].start_ms);
            if (s && s < start) start = s;
        }
    *txnid = oldest;
    if (start_ms) *start_ms = start;
    if (count) *count = n;
    if (seq) *seq = oseq;
}

/* ---- begin ------------------------------------------------------------------ */

static int bk_init(burrow_txn *t, const bstate *from, uint32_t n)
{
    uint32_t cap = n < 8 ? 8 : n;
    t->bk = calloc(cap, sizeof *t->bk);
    if (!t->bk) return diag_set(BURROW_ENOMEM, "out of memory");
    t->nbk = cap;
    if (from) memcpy(t->bk, from, n * sizeof *t->bk);
    return 0;
}

int burrow_txn_begin(burrow_db *db, burrow_txn *parent, unsigned flags, burrow_txn **out)
{
    diag_clear();
    if (!db || !out) return diag_set(BURROW_EINVAL, "txn_begin: db and out are required");
    if (flags & ~BURROW_TXN_RDONLY) return diag_set(BURROW_EINVAL, "txn_begin: unknown flags 0x%x", flags);
    bool rdonly = flags & BURROW_TXN_RDONLY;
    if (parent) {
        if (parent->db != db || parent->rdonly || rdonly)
            return diag_set(BURROW_EINVAL, "nested txns must be write txns of the same database");
        if (parent->child) return diag_set(BURROW_EBUSY, "txn already has a live child");
        if (parent->failed) return diag_set(BURROW_ETXNDONE, "parent txn has failed");
    } else if (!rdonly && db->rdonly) {
        return diag_set(BURROW_EREADONLY, "database was opened read-only");
    }
    burrow_txn *t = calloc(1, sizeof *t);
    if (!t) return diag_set(BURROW_ENOMEM, "out of memory");
    t->db = db;
    t->rdonly = rdonly;
    int rc;
    uint32_t nnames = 0;
    if (parent) {
        t->parent = parent;
        t->txnid = parent->txnid;
        t->snap = parent->snap;
        t->map = parent->map;
        if ((rc = bk_init(t, parent->bk, parent->nbk))) goto fail;
        parent->child = t;
        atomic_fetch_add(&db->live_txns, 1);
        *out = t;
        return 0;
    }
    if (rdonly) {
        pthread_mutex_lock(&db->lock);
        t->snap = db->cur;
        t->map = db->map;
        t->map->refs++;
        t->slot = reader_acquire(db, t->snap.txnid);
        nnames = db->nnames;
        pthread_mutex_unlock(&db->lock);
        if (!t->slot) {
            mapping_release(db, t->map);
            rc = diag_set(BURROW_ENOMEM, "out of memory for a reader slot");
            goto fail;
        }
        t->txnid = t->snap.txnid;
    } else {
        pthread_mutex_lock(&db->write_lock);
        if (db->fatal) {
            pthread_mutex_unlock(&db->write_lock);
            rc = diag_set(BURROW_EIO, "an earlier I/O error left the file in an unknown state; reopen it");
            goto fail;
        }
        pthread_mutex_lock(&db->lock);
        t->snap = db->cur;
        t->map = db->map;
        t->map->refs++;
        nnames = db->nnames;
        pthread_mutex_unlock(&db->lock);
        t->txnid = db->last_txnid + 1;
        uint64_t oldest;
        reader_oldest(db, &oldest, NULL, NULL, NULL);
        /* Pages freed by commit F were visible only to snapshots before F.
         * A FULL commit must keep the last commit whole (open falls back to
         * it if this one is torn): release F <= that commit. Under NOMETA
         * the last commit's meta may not be on disk until this commit's
         * first sync, so the one before it must stay whole too. */
        uint64_t upto = db->sync_mode == BURROW_SYNC_FULL ? t->snap.txnid : t->snap.txnid - 1;
        /* Under DEFERRED the last synced commit is the fallback: keep it whole. */
        if (db->sync_mode == BURROW_SYNC_DEFERRED) {
            pthread_mutex_lock(&db->lock);
            upto = db->durable_txnid;
            pthread_mutex_unlock(&db->lock);
        }
        if (oldest < upto) upto = oldest;
        rc = fl_release(&db->fl, upto);
        if (rc) {
            /* the in-memory model is damaged: take it from the file again */
            db->fatal = true;
            mapping_release(db, t->map);
            pthread_mutex_unlock(&db->write_lock);
            goto fail;
        }
    }
    atomic_fetch_add(&db->live_txns, 1); /* before anything that may abort it */
    if ((rc = bk_init(t, NULL, nnames + 1))) {
        burrow_txn_abort(t);
        return rc;
    }
    t->bk[0].loaded = t->bk[0].exists = t->bk[0].existed = true;
    t->bk[0].rec = t->snap.catalog;
    *out = t;
    return 0;
fail:
    free(t);
    return rc;
}

uint64_t burrow_txn_id(const burrow_txn *txn) { return txn->txnid; }

int txn_writable(burrow_txn *t)
{
    if (t->rdonly) return diag_set(BURROW_EREADONLY, "write in a read-only txn");
    if (t->child) return diag_set(BURROW_EBUSY, "txn has a live child txn");
    if (t->failed) return diag_set(BURROW_ETXNDONE, "txn has failed; abort it");
    return 0;
}

/* ---- end ---------------------------------------------------------------------- */

static void txn_free_struct(burrow_txn *t)
{
    atomic_fetch_sub(&t->db->live_txns, 1);
    dirty_destroy(t->db, &t->dirty);
    free(t->frees.v);
    free(t->bk);
    free(t);
}

void burrow_txn_abort(burrow_txn *t)
{
    if (!t) return;
    burrow_db *db = t->db;
    if (t->child) burrow_txn_abort(t->child);
    cursors_detach(t);
    if (t->rdonly) {
        atomic_store(&t->slot->txnid, 0);
        mapping_release(db, t->map);
        txn_free_struct(t);
        return;
    }
    /* pages this level allocated go back to the pool; shadows just vanish */
    for (size_t i = 0; i < t->dirty.cap; i++) {
        dirty *d = &t->dirty.slots[i];
        if (d->pgno && !d->shadow && writer_pool_free(db, d->pgno, d->npages)) db->fatal = true;
    }
    if (t->parent) {
        t->parent->child = NULL;
        txn_free_struct(t);
        return;
    }
    for (int i = 0; i < DB_EXT_COUNT; i++)
        if (t->ext[i] && t->ext_ops[i] && t->ext_ops[i]->end) t->ext_ops[i]->end(t->ext[i]);
    /* everything the writer owns (the buffer pool too) is released before
     * the next writer may start */
    mapping_release(db, t->map);
    txn_free_struct(t);
    pthread_mutex_unlock(&db->write_lock);
}

static int commit_child(burrow_txn *t)
{
    burrow_txn *p = t->parent;
    int rc = 0;
    for (size_t i = 0; i < t->dirty.cap && !rc; i++) {
        dirty *d = &t->dirty.slots[i];
        if (!d->pgno) continue;
        dirty *pd = dirty_find(&p->dirty, d->pgno);
        if (pd) {
            dirty_buf_put(t->db, pd);
            pd->buf = d->buf;
        } else {
            rc = dirty_insert(&p->dirty, d->pgno, d->npages, d->buf, d->shadow, d->run);
            if (rc) break;
        }
        d->pgno = 0; /* ownership moved */
    }
    for (size_t i = 0; i < t->frees.n && !rc; i++) rc = txn_free(p, t->frees.v[i].start, t->frees.v[i].len);
    if (!rc && t->nbk > p->nbk) {
        bstate *v = realloc(p->bk, t->nbk * sizeof *v);
        if (!v) rc = diag_set(BURROW_ENOMEM, "out of memory");
        else {
            p->bk = v;
            p->nbk = t->nbk;
        }
    }
    if (!rc) memcpy(p->bk, t->bk, t->nbk * sizeof *t->bk);
    p->child = NULL;
    if (rc) p->failed = true; /* half merged: only abort is left */
    t->dirty.count = 0;
    for (size_t i = 0; i < t->dirty.cap; i++) /* leftovers after a failure */
        if (t->dirty.slots[i].pgno) dirty_buf_put(t->db, &t->dirty.slots[i]);
    free(t->dirty.slots);
    t->dirty.slots = NULL;
    t->dirty.cap = 0;
    txn_free_struct(t);
    return rc;
}

static int cmp_dirty(const void *a, const void *b)
{
    pgno_t x = (*(dirty *const *)a)->pgno, y = (*(dirty *const *)b)->pgno;
    return x < y ? -1 : x > y;
}

/* Write the dirty pages in page order, gathering neighbours into one
 * pwrite (through a staging buffer) to keep the syscall count low. */
static int write_pages(burrow_db *db, burrow_txn *t)
{
    size_t n = t->dirty.count, k = 0;
    if (!n) return 0;
    dirty **v = malloc(n * sizeof *v);
    if (!v) return diag_set(BURROW_ENOMEM, "out of memory");
    for (size_t i = 0; i < t->dirty.cap; i++)
        if (t->dirty.slots[i].pgno) v[k++] = &t->dirty.slots[i];
    qsort(v, n, sizeof *v, cmp_dirty);
    uint32_t P = db->psize;
    const size_t stage_pages = 256;
    uint8_t *stage = malloc(stage_pages * P);
    int rc = stage ? 0 : diag_set(BURROW_ENOMEM, "out of memory");
    size_t i = 0;
    while (!rc && i < n) {
        dirty *d = v[i];
        if (!d->run) page_set_checksum(d->buf, P);
        vbit_clear(db, d->pgno, d->npages);
        if (d->run || i + 1 == n || v[i + 1]->pgno != d->pgno + 1 || v[i + 1]->run) {
            rc = pager_write(db, d->buf, d->npages * P, d->pgno * P);
            if (!rc) vbit_mark_written(db, d->pgno, d->npages, d->run);
            i++;
            continue;
        }
        /* a run of adjacent single pages */
        size_t j = i, m = 0;
        pgno_t first = d->pgno;
        while (j < n && !v[j]->run && v[j]->pgno == first + m && m < stage_pages) {
            if (j > i) {
                page_set_checksum(v[j]->buf, P);
                vbit_clear(db, v[j]->pgno, 1);
            }
            memcpy(stage + m * P, v[j]->buf, P);
            m++;
            j++;
        }
        rc = pager_write(db, stage, m * P, first * P);
        for (size_t x = i; !rc && x < j; x++) vbit_mark_written(db, v[x]->pgno, 1, false);
        i = j;
    }
    free(stage);
    free(v);
    return rc;
}

static int publish(burrow_db *db, const snapshot *s, int slot)
{
    size_t ng = db->fl.ngroups;
    uint64_t *tx = malloc((ng + 1) * sizeof *tx), *pg = malloc((ng + 1) * sizeof *pg);
    if (tx && pg)
        for (size_t i = 0; i < ng; i++) {
            tx[i] = db->fl.groups[i].txnid;
            pg[i] = db->fl.groups[i].pages;
        }
    uint64_t fsize = 0;
    db->os->size(db->os->ctx, db->fd, &fsize);
    pthread_mutex_lock(&db->lock);
    db->cur = *s;
    db->cur_slot = slot;
    db->last_txnid = s->txnid;
    db->commit_seq++;
    db->stat_free = db->fl.free_pages;
    db->stat_pending = db->fl.pending_pages;
    db->stat_fl_pages = s->fl_pgno ? s->fl_pages : 0;
    free(db->stat_group_txnid);
    free(db->stat_group_pages);
    db->stat_group_txnid = tx && pg ? tx : NULL;
    db->stat_group_pages = tx && pg ? pg : NULL;
    db->stat_ngroups = tx && pg ? ng : 0;
    if (!(tx && pg)) {
        free(tx);
        free(pg);
    }
    db->file_size = fsize;
    pthread_mutex_unlock(&db->lock);
    return 0;
}

static int commit_top(burrow_txn *t)
{
    burrow_db *db = t->db;
    uint32_t P = db->psize;
    bstate *cat = &t->bk[0];
    int rc = 0;
    /* 1. bucket records into the catalog */
    for (uint32_t id = 1; id < t->nbk && !rc; id++) {
        bstate *bs = &t->bk[id];
        if (!bs->loaded || !bs->dirty || !bs->exists) continue;
        uint8_t rec[BUCKET_REC_SIZE];
        bucket_rec_store(&bs->rec, rec);
        const char *name = db->names[id - 1];
        rc = bt_put(t, cat, name, strlen(name), rec, sizeof rec, 0);
    }
    if (rc) return rc;
    if (t->dirty.count == 0 && t->frees.n == 0 && !cat->dirty) return 0; /* nothing changed */

    /* The commit this handle opened on may come from a process that never
     * synced it (NOMETA or NONE, or a crash before its sync), and this
     * commit may reuse pages the commit before it could see: make it
     * durable before the first page is overwritten. */
    if (!db->base_synced) {
        if ((rc = db->os->sync(db->os->ctx, db->fd))) return diag_set(rc, "sync before the first commit failed");
        pthread_mutex_lock(&db->lock);
        db->base_synced = true;
        db->durable_txnid = t->snap.txnid;
        db->durable_slot = db->cur_slot;
        pthread_mutex_unlock(&db->lock);
    }

    /* 2. freed pages wait in a group for this txnid; the old freelist run too */
    if (t->snap.fl_pgno && (rc = txn_free(t, t->snap.fl_pgno, t->snap.fl_pages))) return rc;
    for (size_t i = 0; i < t->frees.n && !rc; i++)
        rc = fl_defer(&db->fl, t->txnid, t->frees.v[i].start, t->frees.v[i].len);
    if (rc) return rc;
    t->frees.n = 0;
    size_t bound = fl_encoded_bound(&db->fl);
    uint64_t fln = run_pages(db, bound);
    pgno_t flpg;
    if ((rc = txn_alloc(t, fln, &flpg))) return rc;
    uint8_t *flbuf = calloc(fln, P);
    if (!flbuf) return diag_set(BURROW_ENOMEM, "out of memory");
    size_t fllen = fl_encode(&db->fl, flbuf);
    uint64_t flsum = hash64(flbuf, fllen, 0);

    /* 3. the pages */
    snapshot ns = {
        .txnid = t->txnid,
        .prev_txnid = t->snap.txnid,
        .npages = db->next_pgno,
        .catalog = cat->rec,
        .fl_pgno = flpg,
        .fl_len = fllen,
        .fl_pages = fln,
        .fl_sum = flsum,
        .fl_txnid = t->txnid,
    };
    rc = write_pages(db, t);
    if (!rc) {
        vbit_clear(db, flpg, fln);
        rc = pager_write(db, flbuf, fln * P, flpg * P);
    }
    free(flbuf);
    if (!rc) rc = pager_ensure_map(db, ns.npages);
    if (rc) return rc;

    /* 4. the meta page: the point of no return. A small FULL commit puts
     * pages and meta under one fdatasync (open verifies it); a large one
     * and NOMETA sync the pages first, so the meta never points at pages
     * that might not be on disk. */
    uint64_t written = fln;
    for (size_t i = 0; i < t->dirty.cap; i++) written += t->dirty.slots[i].pgno ? t->dirty.slots[i].npages : 0;
    bool one_sync = db->sync_mode == BURROW_SYNC_FULL && written <= ONE_SYNC_MAX_PAGES;
    bool deferred = db->sync_mode == BURROW_SYNC_DEFERRED;
    if (one_sync || deferred) ns.flags |= META_F_VERIFY;
    /* Under DEFERRED the slot of the last synced commit is left alone:
     * every unsynced commit overwrites the other one (see verify_commit). */
    int slot = deferred ? 1 - db->durable_slot : 1 - db->cur_slot;
    if (db->sync_mode != BURROW_SYNC_NONE && !deferred && !one_sync && (rc = db->os->sync(db->os->ctx, db->fd)))
        goto fatal;
    /* keep the slot's old meta: if the sync fails, it goes back, so a
     * commit reported as failed does not reappear after a reopen */
    uint8_t old_meta[META_CHECKED_LEN];
    ssize_t r = db->os->pread(db->os->ctx, db->fd, old_meta, sizeof old_meta, (uint64_t)slot * P);
    if (r != (ssize_t)sizeof old_meta) {
        rc = r < 0 ? (int)r : -EIO;
        goto fatal;
    }
    if ((rc = db_write_meta(db, &ns, slot)) ||
        (db->sync_mode == BURROW_SYNC_FULL && (rc = db->os->sync(db->os->ctx, db->fd)))) {
        /* a short meta write can still leave a valid new meta (its tail is
         * zeros), and a failed sync may still have written it */
        if (pager_write(db, old_meta, sizeof old_meta, (uint64_t)slot * P) == 0 && db->sync_mode != BURROW_SYNC_NONE)
            (void)db->os->sync(db->os->ctx, db->fd);
        goto fatal;
    }
    if (db->sync_mode == BURROW_SYNC_FULL) {
        pthread_mutex_lock(&db->lock);
        db->durable_txnid = t->txnid;
        db->durable_slot = slot;
        pthread_mutex_unlock(&db->lock);
    }
    for (int i = 0; i < DB_EXT_COUNT; i++)
        if (t->ext[i] && t->ext_ops[i] && t->ext_ops[i]->before_publish)
            t->ext_ops[i]->before_publish(t->ext[i], t->txnid);
    return publish(db, &ns, slot);
fatal:
    /* After a failed sync the kernel may have dropped the dirty pages: we can
     * no longer tell what is on disk. Refuse writes until reopened. */
    db->fatal = true;
    return diag_set(BURROW_EIO, "commit %llu: %s (%s); reopen the database",
                    (unsigned long long)t->txnid, "write or sync of the commit failed",
                    burrow_strerror(rc));
}

int burrow_txn_commit(burrow_txn *t)
{
    diag_clear();
    if (!t) return diag_set(BURROW_EINVAL, "txn is NULL");
    burrow_db *db = t->db;
    if (t->rdonly) {
        burrow_txn_abort(t);
        return 0;
    }
    if (t->child) {
        burrow_txn_abort(t);
        return diag_set(BURROW_EBUSY, "txn had a live child; both were aborted");
    }
    if (t->failed) {
        burrow_txn_abort(t);
        return diag_set(BURROW_ETXNDONE, "txn had failed; it was aborted");
    }
    cursors_detach(t);
    if (t->parent) return commit_child(t);
    int rc = commit_top(t);
    /* A failed commit may have left pages stamped with its txnid in the
     * file; never hand that id out again, or a later commit's torn pages
     * could be mistaken for its own at open. */
    if (rc && db->last_txnid < t->txnid) db->last_txnid = t->txnid;
    if (rc && !db->fatal) {
        /* Nothing reached the meta page: the file still holds the previous
         * commit. Rebuild the free-space model from it. */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", burrow_errmsg());
        for (size_t i = 0; i < t->dirty.cap; i++)
            if (t->dirty.slots[i].pgno) t->dirty.slots[i].shadow = true; /* don't pool them */
        fl_destroy(&db->fl);
        if (writer_load_freelist(db, &db->cur)) db->fatal = true;
        diag_set(rc, "%s", msg);
    }
    if (!rc) {
        for (size_t i = 0; i < t->dirty.cap; i++) t->dirty.slots[i].shadow = true; /* committed */
    }
    burrow_txn_abort(t);
    return rc;
}

void **txn_ext_slot(burrow_txn *t, int slot, const txn_ext_ops ***ops)
{
    if (!t || t->rdonly || slot < 0 || slot >= DB_EXT_COUNT) return NULL;
    while (t->parent) t = t->parent;
    *ops = &t->ext_ops[slot];
    return &t->ext[slot];
}
