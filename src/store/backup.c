/*
 * backup.c — hot backup of a snapshot (plain or compacting), restore from a
 * backup, and compaction of a file in place.
 *
 * A backup copies the snapshot of a read txn while writers go on: the read
 * txn pins the snapshot, so no page it can see is reused until the copy
 * ends (txn.c), and every page is read through that txn's map. The copy is
 * produced as one ordered byte stream (struct out), cut in pieces of at
 * most STAGE_BYTES, so a file of any size is never held in memory; the path
 * form is the stream written to a temporary file.
 *
 * What the copy holds (the format is format.h's; nothing new on disk):
 *
 *   Plain      page 0 and 1: the snapshot's meta, sealed for each slot,
 *              with META_F_VERIFY cleared (the copy is synced whole before
 *              anyone can open it, so there is no torn commit to detect).
 *              Pages 2..npages-1: as in the source, except the pages the
 *              snapshot's freelist lists as free or pending, which are
 *              zeros — a writer may be rewriting them at this moment, and
 *              zeros make the copy the same bytes for the same snapshot.
 *              The freelist run is copied as is: the copy's free space is
 *              the source's.
 *
 *   Compact    page 0 and 1: the snapshot's meta with npages = 2 + live
 *              pages, the catalog root renumbered, no freelist run
 *              (fl_pgno 0). Pages from 2: every live page once, in
 *              post-order of the trees (a subtree's pages, then its root;
 *              a leaf's overflow runs, then the leaf; a catalog leaf's
 *              buckets, then the catalog leaf), so a page's number is known
 *              before its parent is written and the stream never seeks.
 *              Child pointers, bucket roots and overflow references are
 *              rewritten to the new numbers; page headers get their new
 *              number and checksum; txnids are kept (the parents' child
 *              txnids stay true). A first pass counts the live pages so the
 *              meta, written first, can give npages and the catalog root
 *              (the last page).
 *
 * Both walks read pages through txn_page/txn_run, which verify each page
 * and run; a walk visits at most npages pages (a shared page or cycle in a
 * damaged file ends it with BURROW_ECORRUPT), recursion is bounded by
 * BT_MAX_DEPTH per tree.
 *
 * States of a path backup (backup_to_path):
 *   start -> temp file created (O_EXCL) -> written -> synced and closed
 *         -> renamed over path -> directory synced -> done.
 *   Any failure or cancel before the rename unlinks the temp file; path is
 *   untouched until the rename, which is atomic.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hash.h"
#include "store/store.h"

#define STAGE_BYTES ((size_t)1 << 20)

/* ---- the OS calls backup needs beyond the ones burrow_open uses ---------- */

static int os_rename(const burrow_os *os, const char *from, const char *to)
{
    if (!os->rename) os = burrow_os_default();
    return os->rename(os->ctx, from, to);
}

static int os_unlink(const burrow_os *os, const char *path)
{
    if (!os->unlink) os = burrow_os_default();
    return os->unlink(os->ctx, path);
}

static int os_sync_dir(const burrow_os *os, const char *path)
{
    if (!os->sync_dir) os = burrow_os_default();
    return os->sync_dir(os->ctx, path);
}

/* ---- the output stream ----------------------------------------------------- */

struct out {
    burrow_write_fn write;
    void *wctx;
    uint8_t *stage;
    size_t fill;
    uint64_t done, total; /* bytes handed to write, bytes the copy will have */
    burrow_progress_fn progress;
    void *pctx;
};

static int out_flush(struct out *o)
{
    if (!o->fill) return 0;
    int rc = o->write(o->wctx, o->stage, o->fill);
    if (rc) return rc < 0 ? rc : diag_set(-EIO, "backup: the write callback returned %d", rc);
    o->done += o->fill;
    o->fill = 0;
    if (o->progress && o->progress(o->pctx, o->done, o->total))
        return diag_set(BURROW_ECANCELED, "backup cancelled by its progress callback");
    return 0;
}

static int out_put(struct out *o, const void *p, size_t len)
{
    const uint8_t *q = p;
    while (len) {
        if (o->fill == STAGE_BYTES) {
            int rc = out_flush(o);
            if (rc) return rc;
        }
        size_t n = STAGE_BYTES - o->fill < len ? STAGE_BYTES - o->fill : len;
        memcpy(o->stage + o->fill, q, n);
        o->fill += n;
        q += n;
        len -= n;
    }
    return 0;
}

static int out_zeros(struct out *o, uint64_t len)
{
    while (len) {
        if (o->fill == STAGE_BYTES) {
            int rc = out_flush(o);
            if (rc) return rc;
        }
        size_t n = STAGE_BYTES - o->fill < len ? STAGE_BYTES - o->fill : (size_t)len;
        memset(o->stage + o->fill, 0, n);
        o->fill += n;
        len -= n;
    }
    return 0;
}

/* Both meta pages: s sealed for slot 0 and for slot 1, zeros to the end of
 * each page. */
static int out_metas(struct out *o, burrow_db *db, const snapshot *s)
{
    uint8_t *p = calloc(1, db->psize);
    if (!p) return diag_set(BURROW_ENOMEM, "out of memory");
    int rc = 0;
    for (int slot = 0; slot < 2 && !rc; slot++) {
        meta_encode(db, s, p);
        meta_seal(p, slot);
        rc = out_put(o, p, db->psize);
    }
    free(p);
    return rc;
}

/* ---- plain copy --------------------------------------------------------------- */

struct extents {
    extent *v;
    size_t n, cap;
};

static int collect(void *ctx, pgno_t start, uint64_t n, int pending)
{
    (void)pending;
    struct extents *e = ctx;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        extent *v = realloc(e->v, cap * sizeof *v);
        if (!v) return diag_set(BURROW_ENOMEM, "out of memory");
        e->v = v;
        e->cap = cap;
    }
    e->v[e->n++] = (extent){start, n};
    return 0;
}

static int cmp_extent(const void *a, const void *b)
{
    pgno_t x = ((const extent *)a)->start, y = ((const extent *)b)->start;
    return x < y ? -1 : x > y;
}

/* The snapshot's free and pending extents, sorted by start. */
static int unused_extents(burrow_txn *t, struct extents *e)
{
    const snapshot *s = &t->snap;
    burrow_db *db = t->db;
    if (!s->fl_pgno) return 0;
    if (s->fl_pgno < 2 || s->fl_pages == 0 || s->fl_pgno >= s->npages || s->fl_pages > s->npages - s->fl_pgno ||
        s->fl_len > (s->fl_pages << db->pshift))
        return diag_set(BURROW_ECORRUPT, "backup: the freelist run %llu+%llu is outside the file",
                        (unsigned long long)s->fl_pgno, (unsigned long long)s->fl_pages);
    const uint8_t *p = t->map->base + (s->fl_pgno << db->pshift);
    if (hash64(p, (size_t)s->fl_len, 0) != s->fl_sum)
        return diag_set(BURROW_ECORRUPT, "backup: the freelist run at page %llu fails its checksum",
                        (unsigned long long)s->fl_pgno);
    freelist fl;
    int rc = fl_decode(&fl, p, (size_t)s->fl_len, s->npages);
    if (rc) return rc;
    rc = fl_walk(&fl, collect, e);
    fl_destroy(&fl);
    if (rc) return rc;
    if (e->n > 1) qsort(e->v, e->n, sizeof *e->v, cmp_extent);
    for (size_t i = 1; i < e->n; i++)
        if (e->v[i].start < e->v[i - 1].start + e->v[i - 1].len)
            return diag_set(BURROW_ECORRUPT, "backup: freelist extents overlap at page %llu",
                            (unsigned long long)e->v[i].start);
    return 0;
}

static int copy_plain(burrow_txn *t, struct out *o)
{
    burrow_db *db = t->db;
    const snapshot *s = &t->snap;
    struct extents e = {0};
    int rc = unused_extents(t, &e);
    if (rc) goto out;
    snapshot m = *s;
    m.flags = 0;
    o->total = s->npages << db->pshift;
    if (o->progress && o->progress(o->pctx, 0, o->total)) {
        rc = diag_set(BURROW_ECANCELED, "backup cancelled by its progress callback");
        goto out;
    }
    if ((rc = out_metas(o, db, &m))) goto out;
    pgno_t pg = 2;
    for (size_t i = 0; i <= e.n && !rc; i++) {
        pgno_t stop = i < e.n ? e.v[i].start : s->npages;
        if (stop > pg) rc = out_put(o, t->map->base + (pg << db->pshift), (size_t)((stop - pg) << db->pshift));
        if (!rc && i < e.n) rc = out_zeros(o, e.v[i].len << db->pshift);
        if (i < e.n) pg = e.v[i].start + e.v[i].len;
    }
    if (!rc) rc = out_flush(o);
out:
    free(e.v);
    return rc;
}

/* ---- compacting copy ------------------------------------------------------------ */

struct compact {
    burrow_txn *t;
    struct out *o;  /* NULL in the counting pass */
    uint64_t count; /* live pages seen (counting) */
    uint64_t limit; /* pages a walk may visit: the snapshot's */
    pgno_t next;    /* the next page number of the copy (emitting) */
};

static int visit(struct compact *k, uint64_t n)
{
    if (n > k->limit - k->count)
        return diag_set(BURROW_ECORRUPT, "backup: the trees reach more pages than the file has (a page is shared)");
    k->count += n;
    return 0;
}

/* Copy the tree at pg (post-order) and return its new number in *newpg;
 * in the counting pass only count its pages. */
static int copy_tree(struct compact *k, pgno_t pg, uint64_t txnid, int level, int last, bool catalog,
                     pgno_t *newpg)
{
    burrow_txn *t = k->t;
    burrow_db *db = t->db;
    uint32_t P = db->psize;
    const uint8_t *src;
    int rc = txn_page(t, pg, txnid, &src);
    if (rc) return rc;
    if ((rc = visit(k, 1))) return rc;
    bool leaf = level == last;
    if (page_kind(src) != (leaf ? PAGE_LEAF : PAGE_BRANCH))
        return diag_set(BURROW_ECORRUPT, "page %llu: wrong kind for its depth", (unsigned long long)pg);
    uint8_t *buf = NULL;
    if (k->o) {
        buf = malloc(P);
        if (!buf) return diag_set(BURROW_ENOMEM, "out of memory");
        memcpy(buf, src, P);
    }
    unsigned n = page_nkeys(src);
    for (unsigned i = 0; i < n && !rc; i++) {
        if (!leaf) {
            bcell bc;
            branch_cell_at(src, i, &bc);
            pgno_t child;
            rc = copy_tree(k, bc.child, bc.child_txnid, level + 1, last, catalog, &child);
            if (!rc && buf) branch_set_child(buf, i, child, bc.child_txnid);
            continue;
        }
        lcell lc;
        leaf_cell_at(src, i, &lc);
        size_t voff = (size_t)(lc.val - src);
        if (lc.overflow) {
            uint64_t np = run_pages(db, lc.vlen);
            const uint8_t *run;
            if ((rc = txn_run(t, le64_load(lc.val), np, le64_load(lc.val + 16), &run))) break;
            if ((rc = visit(k, np))) break;
            if (buf) {
                le64_store(buf + voff, k->next);
                k->next += np;
                rc = out_put(k->o, run, (size_t)(np << db->pshift));
            }
        } else if (catalog) {
            if (lc.vlen != BUCKET_REC_SIZE) {
                rc = diag_set(BURROW_ECORRUPT, "catalog page %llu: malformed bucket record", (unsigned long long)pg);
                break;
            }
            bucket_rec r;
            bucket_rec_load(&r, lc.val);
            if (!r.root) continue;
            if (r.height == 0 || r.height > BT_MAX_DEPTH) {
                rc = diag_set(BURROW_ECORRUPT, "catalog page %llu: impossible tree height %u", (unsigned long long)pg,
                              r.height);
                break;
            }
            rc = copy_tree(k, r.root, r.root_txnid, 0, (int)r.height - 1, false, &r.root);
            if (!rc && buf) bucket_rec_store(&r, buf + voff);
        }
    }
    if (!rc && buf) {
        le64_store(buf + PH_PGNO, k->next);
        page_set_checksum(buf, P);
        *newpg = k->next++;
        rc = out_put(k->o, buf, P);
    }
    free(buf);
    return rc;
}

static int copy_compact(burrow_txn *t, struct out *o)
{
    burrow_db *db = t->db;
    const snapshot *s = &t->snap;
    const bucket_rec *cat = &s->catalog;
    if (cat->root && (cat->height == 0 || cat->height > BT_MAX_DEPTH))
        return diag_set(BURROW_ECORRUPT, "meta: impossible catalog height %u", cat->height);
    struct compact k = {t, NULL, 0, s->npages - 2, 2};
    pgno_t root = 0;
    int rc = cat->root ? copy_tree(&k, cat->root, cat->root_txnid, 0, (int)cat->height - 1, true, &root) : 0;
    if (rc) return rc;
    snapshot m = {
        .txnid = s->txnid,
        .prev_txnid = s->prev_txnid,
        .npages = 2 + k.count,
        .catalog = *cat,
    };
    m.catalog.root = cat->root ? m.npages - 1 : 0; /* post-order: the catalog root is written last */
    o->total = m.npages << db->pshift;
    if (o->progress && o->progress(o->pctx, 0, o->total))
        return diag_set(BURROW_ECANCELED, "backup cancelled by its progress callback");
    if ((rc = out_metas(o, db, &m))) return rc;
    uint64_t counted = k.count;
    k = (struct compact){t, o, 0, s->npages - 2, 2};
    if (cat->root && (rc = copy_tree(&k, cat->root, cat->root_txnid, 0, (int)cat->height - 1, true, &root)))
        return rc;
    /* the snapshot is immutable, so the two passes agree */
    if (k.count != counted || k.next != m.npages || (cat->root && root != m.catalog.root))
        return diag_set(BURROW_ECORRUPT, "backup: the snapshot changed between the passes of a compacting copy");
    return out_flush(o);
}

/* ---- the public entry points ------------------------------------------------------ */

static int backup_snapshot(burrow_db *db, const burrow_backup_options *opt, burrow_write_fn write, void *wctx)
{
    burrow_txn *t = opt ? opt->txn : NULL;
    if (opt && (opt->flags & ~BURROW_BACKUP_COMPACT))
        return diag_set(BURROW_EINVAL, "backup: unknown flags 0x%x", opt->flags);
    if (t && (!t->rdonly || t->db != db))
        return diag_set(BURROW_EINVAL, "backup: txn must be a read txn of this database");
    struct out o = {write, wctx, malloc(STAGE_BYTES), 0, 0, 0, opt ? opt->progress : NULL,
                    opt ? opt->progress_ctx : NULL};
    if (!o.stage) return diag_set(BURROW_ENOMEM, "out of memory");
    int rc = 0;
    bool own = !t;
    if (own) rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t);
    if (!rc) rc = (opt && (opt->flags & BURROW_BACKUP_COMPACT)) ? copy_compact(t, &o) : copy_plain(t, &o);
    if (own && t) burrow_txn_abort(t);
    free(o.stage);
    return rc;
}

int burrow_backup_stream(burrow_db *db, burrow_write_fn write, void *write_ctx, const burrow_backup_options *opt)
{
    diag_clear();
    if (!db || !write) return diag_set(BURROW_EINVAL, "backup_stream: db and write are required");
    return backup_snapshot(db, opt, write, write_ctx);
}

struct file_out {
    const burrow_os *os;
    int fd;
    uint64_t off;
};

static int file_write(void *ctx, const void *buf, size_t len)
{
    struct file_out *f = ctx;
    ssize_t w = f->os->pwrite(f->os->ctx, f->fd, buf, len, f->off);
    if (w < 0) return diag_set((int)w, "backup: write of %zu bytes at offset %llu failed", len,
                               (unsigned long long)f->off);
    if ((size_t)w != len) return diag_set(-EIO, "backup: short write at offset %llu", (unsigned long long)f->off);
    f->off += len;
    return 0;
}

/* Take the write lock of the database file at path, as burrow_open would,
 * so that nobody has it open while it is replaced. *fd is -1 when there is
 * no file at path (nothing to lock; it may be created). */
static int lock_target(const burrow_os *os, const char *path, int *fd)
{
    *fd = os->open(os->ctx, path, O_RDONLY, 0);
    if (*fd == -ENOENT) {
        *fd = -1;
        return 0;
    }
    if (*fd < 0) return diag_set(*fd, "cannot open '%s'", path);
    int rc = os->lock(os->ctx, *fd, 1);
    if (rc) {
        os->close(os->ctx, *fd);
        *fd = -1;
        if (rc == -EWOULDBLOCK || rc == -EAGAIN) return diag_set(BURROW_ELOCKED, "'%s' is open elsewhere", path);
        return diag_set(rc, "cannot lock '%s'", path);
    }
    return 0;
}

static void unlock_target(const burrow_os *os, int fd)
{
    if (fd >= 0) os->close(os->ctx, fd);
}

/* The path form: a stream into a temporary file next to path, synced, then
 * renamed over path (see the state list at the top). */
static int backup_to_path(burrow_db *db, const char *path, const burrow_backup_options *opt)
{
    static _Atomic unsigned counter;
    const burrow_os *os = db->os;
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 64);
    if (!tmp) return diag_set(BURROW_ENOMEM, "out of memory");
    snprintf(tmp, plen + 64, "%s.burrow-tmp-%ld-%u", path, (long)getpid(), atomic_fetch_add(&counter, 1));
    int mode = db->open_options.file_mode ? db->open_options.file_mode : 0644;
    int fd = os->open(os->ctx, tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) {
        int rc = diag_set(fd, "backup: cannot create '%s'", tmp);
        free(tmp);
        return rc;
    }
    struct file_out f = {os, fd, 0};
    int rc = backup_snapshot(db, opt, file_write, &f);
    if (!rc && (rc = os->sync(os->ctx, fd))) diag_set(rc, "backup: sync of '%s' failed", tmp);
    int crc = os->close(os->ctx, fd);
    if (!rc && crc) rc = diag_set(crc, "backup: close of '%s' failed", tmp);
    if (!rc && (rc = os_rename(os, tmp, path))) diag_set(rc, "backup: cannot rename '%s' to '%s'", tmp, path);
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", burrow_errmsg());
        os_unlink(os, tmp);
        diag_set(rc, "%s", msg);
    } else if ((rc = os_sync_dir(os, path))) {
        diag_set(rc, "backup: sync of the directory of '%s' failed", path);
    }
    free(tmp);
    return rc;
}

int burrow_backup(burrow_db *db, const char *path, const burrow_backup_options *opt)
{
    diag_clear();
    if (!db || !path || !*path) return diag_set(BURROW_EINVAL, "backup: db and path are required");
    int lfd;
    int rc = lock_target(db->os, path, &lfd);
    if (rc) return rc;
    rc = backup_to_path(db, path, opt);
    unlock_target(db->os, lfd);
    return rc;
}

/* Restore's progress covers two phases (check, then copy) as one bar:
 * each gets half of a total of 2^20 units, scaled from its own. The check
 * phase also keeps the first problem, to name it when refusing. */
struct restore_ctx {
    burrow_progress_fn fn;
    void *ctx;
    int phase;
    uint64_t problems;
    char first[512];
};

#define PHASE_UNITS ((uint64_t)1 << 20)

static int phase_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct restore_ctx *r = ctx;
    uint64_t part = total ? (uint64_t)((double)done / (double)total * (double)PHASE_UNITS) : PHASE_UNITS;
    return r->fn(r->ctx, (uint64_t)r->phase * PHASE_UNITS + part, 2 * PHASE_UNITS);
}

static void keep_first(void *ctx, uint64_t pgno, const char *problem)
{
    (void)pgno;
    struct restore_ctx *r = ctx;
    if (r->problems++ == 0) snprintf(r->first, sizeof r->first, "%s", problem);
}

int burrow_restore(const char *backup_path, const char *path, const burrow_options *opt,
                   burrow_progress_fn progress, void *progress_ctx)
{
    diag_clear();
    if (!backup_path || !path || !*path) return diag_set(BURROW_EINVAL, "restore: backup_path and path are required");
    burrow_options o;
    burrow_options_init(&o);
    if (opt) o = *opt;
    o.flags = BURROW_RDONLY | BURROW_NOCREATE;
    o.hot_memory = 0;
    const burrow_os *os = o.os ? o.os : burrow_os_default();
    /* locked first: a target in use is refused before any long work */
    int lfd;
    int rc = lock_target(os, path, &lfd);
    if (rc) return rc;
    burrow_db *src = NULL;
    if ((rc = burrow_open(backup_path, &o, &src))) {
        diag_set(rc, "restore: the backup '%s' does not open: %s", backup_path, burrow_errmsg());
        goto out;
    }
    struct restore_ctx r = {progress, progress_ctx, 0, 0, ""};
    burrow_check_options co = {keep_first, progress ? phase_progress : NULL, &r};
    rc = burrow_check_all(src, &co, NULL);
    if (rc < 0) goto out;
    if (rc > 0) {
        rc = diag_set(BURROW_ECORRUPT, "restore: the backup '%s' fails the check (%llu problems; first: %s)",
                      backup_path, (unsigned long long)r.problems, r.first);
        goto out;
    }
    r.phase = 1;
    burrow_backup_options bo = {0, NULL, progress ? phase_progress : NULL, &r};
    /* the new file's mode is the caller's, not the read-only source's */
    src->open_options.file_mode = opt && opt->file_mode ? opt->file_mode : 0644;
    rc = backup_to_path(src, path, &bo);
out:
    if (src) burrow_close(src);
    unlock_target(os, lfd);
    return rc;
}

int burrow_compact(const char *path, const burrow_options *opt, burrow_progress_fn progress, void *progress_ctx)
{
    diag_clear();
    if (!path || !*path) return diag_set(BURROW_EINVAL, "compact: path is required");
    burrow_options o;
    burrow_options_init(&o);
    if (opt) o = *opt;
    /* opening for writing takes the file's exclusive lock: nobody else has
     * it open until the compacted file has replaced it */
    o.flags = BURROW_NOCREATE;
    o.hot_memory = 0;
    burrow_db *db;
    int rc = burrow_open(path, &o, &db);
    if (rc) return rc;
    burrow_backup_options bo = {BURROW_BACKUP_COMPACT, NULL, progress, progress_ctx};
    rc = backup_to_path(db, path, &bo);
    burrow_close(db);
    return rc;
}
