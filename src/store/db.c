/*
 * db.c — opening and closing a database file; meta pages; recovery.
 *
 * Open reads both meta pages and takes the newest one whose checksum is
 * valid AND whose commit is whole: the pages that commit wrote are found by
 * walking from its roots only into children whose pointer carries its txnid,
 * and each must pass its checksum. If any is missing or torn (a crash
 * between the writes and the single fdatasync of a commit), the previous
 * meta is used; its pages are intact because a commit never reuses a page
 * the previous commit can see. Only commits of up to ONE_SYNC_MAX_PAGES
 * pages are written this way (META_F_VERIFY); larger ones sync their pages
 * before the meta. So opening reads at most that many pages, whatever the
 * size of the file or of the last commit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/hash.h"
#include "store/store.h"

void burrow_options_init(burrow_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->page_size = PAGE_DEFAULT_SIZE;
    opt->sync_mode = BURROW_SYNC_FULL;
    opt->file_mode = 0644;
    opt->map_reserve = (uint64_t)1 << 40;
}

size_t burrow_max_key_size(const burrow_db *db) { return db->max_key; }

/* ---- meta pages ------------------------------------------------------------ */

int meta_encode(const burrow_db *db, const snapshot *s, uint8_t *p)
{
    memset(p, 0, META_CHECKED_LEN);
    le64_store(p + PH_PGNO, 0);
    le64_store(p + PH_TXNID, s->txnid);
    p[PH_KIND] = PAGE_META;
    memcpy(p + META_MAGIC, FORMAT_MAGIC, 8);
    le32_store(p + META_VERSION, FORMAT_VERSION);
    le32_store(p + META_PSIZE, db->psize);
    le64_store(p + META_TXNID, s->txnid);
    le64_store(p + META_NPAGES, s->npages);
    bucket_rec_store(&s->catalog, p + META_CATALOG);
    le64_store(p + META_FL_PGNO, s->fl_pgno);
    le64_store(p + META_FL_LEN, s->fl_len);
    le64_store(p + META_FL_SUM, s->fl_sum);
    le64_store(p + META_FL_TXNID, s->fl_txnid);
    le64_store(p + META_PREV_TXNID, s->prev_txnid);
    le64_store(p + META_FL_PAGES, s->fl_pages);
    le32_store(p + META_FLAGS, s->flags);
    return 0;
}

void meta_seal(uint8_t *p, int slot)
{
    le64_store(p + PH_PGNO, (uint64_t)slot);
    le64_store(p + PH_CHECKSUM, hash64(p + 8, META_CHECKED_LEN - 8, 0));
}

int db_write_meta(burrow_db *db, const snapshot *s, int slot)
{
    uint8_t p[META_CHECKED_LEN];
    meta_encode(db, s, p);
    meta_seal(p, slot);
    return pager_write(db, p, sizeof p, (uint64_t)slot * db->psize);
}

enum meta_status { META_OK, META_NOMAGIC, META_BADVERSION, META_DAMAGED };

static enum meta_status meta_decode(const uint8_t *p, int slot, uint32_t *psize, snapshot *s)
{
    if (memcmp(p + META_MAGIC, FORMAT_MAGIC, 8)) return META_NOMAGIC;
    if (le64_load(p + PH_CHECKSUM) != hash64(p + 8, META_CHECKED_LEN - 8, 0)) return META_DAMAGED;
    if (le32_load(p + META_VERSION) != FORMAT_VERSION) return META_BADVERSION;
    uint32_t ps = le32_load(p + META_PSIZE);
    if (p[PH_KIND] != PAGE_META || le64_load(p + PH_PGNO) != (uint64_t)slot || ps < PAGE_MIN_SIZE ||
        ps > PAGE_MAX_SIZE || (ps & (ps - 1)))
        return META_DAMAGED;
    *psize = ps;
    memset(s, 0, sizeof *s);
    s->txnid = le64_load(p + META_TXNID);
    s->npages = le64_load(p + META_NPAGES);
    bucket_rec_load(&s->catalog, p + META_CATALOG);
    s->fl_pgno = le64_load(p + META_FL_PGNO);
    s->fl_len = le64_load(p + META_FL_LEN);
    s->fl_sum = le64_load(p + META_FL_SUM);
    s->fl_txnid = le64_load(p + META_FL_TXNID);
    s->prev_txnid = le64_load(p + META_PREV_TXNID);
    s->fl_pages = le64_load(p + META_FL_PAGES);
    s->flags = le32_load(p + META_FLAGS);
    if (s->flags & ~META_F_VERIFY) return META_DAMAGED;
    if (s->txnid != le64_load(p + PH_TXNID) || s->npages < 2 || s->npages > MAX_PAGES) return META_DAMAGED;
    return META_OK;
}

/* ---- verifying the newest commit ------------------------------------------- */

struct walk {
    burrow_db *db;
    const snapshot *s;
    uint64_t base; /* pages of commits after it are walked */
};

static int walk_commit(struct walk *w, pgno_t pg, uint64_t txnid, int level, int last, bool catalog)
{
    const uint8_t *p;
    int rc = pager_read(w->db, w->db->map, w->s->npages, pg, txnid, &p);
    if (rc) return rc;
    if (page_kind(p) != (level == last ? PAGE_LEAF : PAGE_BRANCH))
        return diag_set(BURROW_ECORRUPT, "page %llu: wrong kind for its depth", (unsigned long long)pg);
    unsigned n = page_nkeys(p);
    uint64_t W = w->s->txnid;
    for (unsigned i = 0; i < n; i++) {
        if (level != last) {
            bcell c;
            branch_cell_at(p, i, &c);
            if (c.child_txnid > W)
                return diag_set(BURROW_ECORRUPT, "page %llu: child from a future txn", (unsigned long long)pg);
            if (c.child_txnid > w->base && (rc = walk_commit(w, c.child, c.child_txnid, level + 1, last, catalog)))
                return rc;
            continue;
        }
        lcell c;
        leaf_cell_at(p, i, &c);
        if (catalog) {
            if (c.vlen != BUCKET_REC_SIZE || c.overflow)
                return diag_set(BURROW_ECORRUPT, "catalog page %llu: malformed record", (unsigned long long)pg);
            bucket_rec r;
            bucket_rec_load(&r, c.val);
            if (r.root && r.root_txnid > w->base) {
                if (r.height == 0 || r.height > BT_MAX_DEPTH)
                    return diag_set(BURROW_ECORRUPT, "catalog: impossible tree height %u", r.height);
                if ((rc = walk_commit(w, r.root, r.root_txnid, 0, (int)r.height - 1, false))) return rc;
            }
        } else if (c.overflow && le64_load(c.val + 8) > w->base) {
            const uint8_t *run;
            rc = pager_read_run(w->db, w->db->map, w->s->npages, le64_load(c.val),
                                run_pages(w->db, c.vlen), le64_load(c.val + 16), &run);
            if (rc) return rc;
        }
    }
    return 0;
}

static int freelist_bytes(burrow_db *db, const snapshot *s, const uint8_t **out)
{
    if (s->fl_pgno < 2 || s->fl_pages == 0 || s->fl_pgno >= s->npages || s->fl_pages > s->npages - s->fl_pgno ||
        s->fl_len > (s->fl_pages << db->pshift))
        return diag_set(BURROW_ECORRUPT, "meta: freelist run %llu+%llu is outside the file",
                        (unsigned long long)s->fl_pgno, (unsigned long long)s->fl_pages);
    const uint8_t *p = db->map->base + (s->fl_pgno << db->pshift);
    if (hash64(p, (size_t)s->fl_len, 0) != s->fl_sum)
        return diag_set(BURROW_ECORRUPT, "freelist run at page %llu: checksum mismatch",
                        (unsigned long long)s->fl_pgno);
    *out = p;
    return 0;
}

/* Check that every page the commit s wrote, and every page written by the
 * commits between base and s, is on disk and intact: a FULL commit under
 * one fdatasync has base = the commit before it; under
 * BURROW_SYNC_DEFERRED, base is the last synced commit, whose meta the
 * other slot keeps. */
int verify_commit(burrow_db *db, const snapshot *s, uint64_t base)
{
    uint64_t fsize;
    int rc = db->os->size(db->os->ctx, db->fd, &fsize);
    if (rc) return diag_set(rc, "cannot read the file size");
    /* (a file with no pages besides the metas may lack part of the second
     * meta page: a crash while it was being created) */
    if (s->npages > 2 && fsize < (s->npages << db->pshift))
        return diag_set(BURROW_ECORRUPT, "file is truncated: %llu bytes, the last commit needs %llu",
                        (unsigned long long)fsize, (unsigned long long)(s->npages << db->pshift));
    if ((rc = pager_ensure_map(db, s->npages))) return rc;
    const uint8_t *fl;
    if (s->fl_pgno && (rc = freelist_bytes(db, s, &fl))) return rc;
    /* pages synced before their meta need no walk */
    if (!(s->flags & META_F_VERIFY)) return 0;
    struct walk w = {db, s, base};
    const bucket_rec *c = &s->catalog;
    if (c->root && c->root_txnid > base) {
        if (c->height == 0 || c->height > BT_MAX_DEPTH)
            return diag_set(BURROW_ECORRUPT, "meta: impossible catalog height %u", c->height);
        return walk_commit(&w, c->root, c->root_txnid, 0, (int)c->height - 1, true);
    }
    return 0;
}

int writer_load_freelist(burrow_db *db, const snapshot *s)
{
    fl_init(&db->fl);
    db->next_pgno = s->npages;
    if (!s->fl_pgno) return 0;
    const uint8_t *p;
    int rc = freelist_bytes(db, s, &p);
    if (rc) return rc;
    return fl_decode(&db->fl, p, (size_t)s->fl_len, s->npages);
}

/* ---- open and close ---------------------------------------------------------- */

static void db_free(burrow_db *db)
{
    for (int i = 0; i < DB_EXT_COUNT; i++)
        if (db->ext[i] && db->ext_destroy[i]) db->ext_destroy[i](db->ext[i]);
    if (db->map) {
        db->os->munmap(db->os->ctx, db->map->base, db->map->len);
        free(db->map);
    }
    if (db->fd >= 0) db->os->close(db->os->ctx, db->fd);
    for (int w = 0; w < 2; w++)
        for (size_t i = 0; i < VB_CHUNKS; i++) free((void *)db->vbits[w][i]);
    for (reader_chunk *c = db->readers.next, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    for (uint32_t i = 0; i < db->nnames; i++) free(db->names[i]);
    free(db->names);
    fl_destroy(&db->fl);
    free(db->wscratch);
    for (size_t i = 0; i < db->npool; i++) free(db->pool[i]);
    free(db->pool);
    free(db->wcells);
    free(db->wsizes);
    free(db->stat_group_txnid);
    free(db->stat_group_pages);
    pthread_mutex_destroy(&db->lock);
    pthread_mutex_destroy(&db->write_lock);
    free(db);
}

static int init_file(burrow_db *db)
{
    uint32_t P = db->psize;
    uint8_t *buf = calloc(2, P);
    if (!buf) return diag_set(BURROW_ENOMEM, "out of memory");
    snapshot s = {0};
    s.npages = 2;
    for (int slot = 0; slot < 2; slot++) {
        s.txnid = slot == 0 ? 1 : 0;
        meta_encode(db, &s, buf + slot * P);
        meta_seal(buf + slot * P, slot);
    }
    int rc = pager_write(db, buf, 2 * (size_t)P, 0);
    free(buf);
    if (!rc) rc = db->os->sync(db->os->ctx, db->fd);
    return rc ? diag_set(rc, "cannot initialise the database file") : 0;
}

/* Read both meta pages; candidates[] gets the valid ones, newest first. */
static int read_metas(burrow_db *db, uint64_t fsize, snapshot cand[2], int slots[2], int *ncand)
{
    uint8_t p[META_CHECKED_LEN];
    uint32_t ps[2] = {0, 0};
    snapshot s[2];
    enum meta_status st[2] = {META_NOMAGIC, META_NOMAGIC};
    ssize_t r = db->os->pread(db->os->ctx, db->fd, p, sizeof p, 0);
    if (r < 0) return diag_set((int)r, "cannot read the meta page");
    if ((size_t)r == sizeof p) st[0] = meta_decode(p, 0, &ps[0], &s[0]);
    /* slot 1 sits one page in: try slot 0's page size, else every size */
    uint32_t guess = st[0] == META_OK ? ps[0] : 0;
    for (uint32_t size = PAGE_MIN_SIZE; size <= PAGE_MAX_SIZE; size *= 2) {
        uint32_t off = guess ? guess : size;
        if (off + sizeof p > fsize) break;
        r = db->os->pread(db->os->ctx, db->fd, p, sizeof p, off);
        if (r < 0) return diag_set((int)r, "cannot read the meta page");
        enum meta_status x = (size_t)r == sizeof p ? meta_decode(p, 1, &ps[1], &s[1]) : META_NOMAGIC;
        if (x == META_OK && ps[1] != off) x = META_DAMAGED;
        if (x < st[1] || st[1] == META_NOMAGIC) st[1] = x;
        if (x == META_OK || guess) break;
    }
    if (st[0] == META_NOMAGIC && st[1] == META_NOMAGIC)
        return diag_set(BURROW_ENOTDB, "not a BurrowDB file (no magic in either meta page)");
    if (st[0] == META_BADVERSION || st[1] == META_BADVERSION)
        return diag_set(BURROW_EVERSION, "file format version is not %u", FORMAT_VERSION);
    *ncand = 0;
    for (int i = 0; i < 2; i++)
        if (st[i] == META_OK) {
            cand[*ncand] = s[i];
            slots[*ncand] = i;
            (*ncand)++;
        }
    if (*ncand == 0) return diag_set(BURROW_ECORRUPT, "both meta pages are damaged");
    if (*ncand == 2 && ps[0] != ps[1]) return diag_set(BURROW_ECORRUPT, "meta pages disagree on the page size");
    db->psize = st[0] == META_OK ? ps[0] : ps[1];
    if (*ncand == 2 && cand[1].txnid > cand[0].txnid) {
        snapshot t = cand[0];
        cand[0] = cand[1];
        cand[1] = t;
        int x = slots[0];
        slots[0] = slots[1];
        slots[1] = x;
    }
    return 0;
}

/*
 * A crash while a new file was being initialised leaves a file smaller than
 * the two meta pages, holding a prefix of them (or zeros). Such a file never
 * held a commit, so it is initialised again rather than refused. A file with
 * anything else in it is not ours to overwrite.
 */
static bool unfinished_init(burrow_db *db, uint64_t fsize, uint32_t psize)
{
    if (fsize > 2 * (uint64_t)psize) return false;
    uint8_t *buf = malloc((size_t)fsize);
    if (!buf) return false;
    ssize_t r = db->os->pread(db->os->ctx, db->fd, buf, (size_t)fsize, 0);
    bool ours = false;
    if (r == (ssize_t)fsize) {
        ours = true;
        for (uint64_t i = 0; i < fsize && ours; i++) ours = buf[i] == 0;
        for (uint64_t off = 0; !ours && off + META_MAGIC + 8 <= fsize; off = off ? off * 2 : PAGE_MIN_SIZE)
            ours = !memcmp(buf + off + META_MAGIC, FORMAT_MAGIC, 8);
    }
    free(buf);
    return ours;
}

static int open_file(burrow_db *db, const char *path, const burrow_options *o)
{
    int oflags = db->rdonly ? O_RDONLY : (O_RDWR | ((o->flags & BURROW_NOCREATE) ? 0 : O_CREAT));
    int fd = db->os->open(db->os->ctx, path, oflags, o->file_mode ? o->file_mode : 0644);
    if (fd < 0) return diag_set(fd, "cannot open '%s'", path);
    db->fd = fd;
    int rc = db->os->lock(db->os->ctx, fd, !db->rdonly);
    if (rc == -EWOULDBLOCK || rc == -EAGAIN)
        return diag_set(BURROW_ELOCKED, "'%s' is open for writing elsewhere%s", path,
                        db->rdonly ? "" : " (or for reading)");
    if (rc) return diag_set(rc, "cannot lock '%s'", path);
    return 0;
}

/*
 * Each process that opens the file for writing starts its txn ids past a
 * random gap. A commit whose pages reached the disk but whose meta page did
 * not leaves pages stamped with its id; without the gap, the next process
 * would reuse that id, and if its own pages were then lost while its meta
 * page survived, open would take the old pages for its own.
 */
static uint64_t txnid_gap(const burrow_db *db)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed[4] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)getpid(), (uint64_t)(uintptr_t)db};
    uint64_t r = hash64(seed, sizeof seed, 0x6275727277);
    return ((uint64_t)1 << 16) + (r & 0xffffffffu);
}

static void set_limits(burrow_db *db)
{
    db->pshift = (unsigned)__builtin_ctz(db->psize);
    db->max_cell = (db->psize - PAGE_HDR) / 4;
    /* a leaf cell with an overflow reference: flags, klen and vlen varints
     * (at most 2 + 5 bytes) and the 24-byte reference */
    db->max_key = db->max_cell - (1 + 2 + 5 + OVERFLOW_REF_SIZE);
}

int burrow_open(const char *path, const burrow_options *opt, burrow_db **out)
{
    diag_clear();
    if (!path || !out) return diag_set(BURROW_EINVAL, "open: path and out are required");
    burrow_options o;
    burrow_options_init(&o);
    if (opt) {
        o = *opt;
        if (!o.page_size) o.page_size = PAGE_DEFAULT_SIZE;
        if (!o.map_reserve) o.map_reserve = (uint64_t)1 << 40;
    }
    /* checked before the file is touched, so a bad value creates nothing */
    if (o.page_size < PAGE_MIN_SIZE || o.page_size > PAGE_MAX_SIZE || (o.page_size & (o.page_size - 1)))
        return diag_set(BURROW_EINVAL, "page size %u: must be a power of two in %u..%u", o.page_size,
                        PAGE_MIN_SIZE, PAGE_MAX_SIZE);
    if (o.sync_mode < BURROW_SYNC_FULL || o.sync_mode > BURROW_SYNC_DEFERRED)
        return diag_set(BURROW_EINVAL, "unknown sync mode %d", o.sync_mode);
    if (o.flags & ~(BURROW_RDONLY | BURROW_NOCREATE))
        return diag_set(BURROW_EINVAL, "unknown open flags 0x%x", o.flags);
    if (o.hot_policy < BURROW_TIER_HYBRID || o.hot_policy > BURROW_TIER_LFU)
        return diag_set(BURROW_EINVAL, "unknown hot tier policy %d", o.hot_policy);
    burrow_db *db = calloc(1, sizeof *db);
    if (!db) return diag_set(BURROW_ENOMEM, "out of memory");
    db->fd = -1;
    db->os = o.os ? o.os : burrow_os_default();
    db->rdonly = o.flags & BURROW_RDONLY;
    db->sync_mode = o.sync_mode;
    pthread_mutex_init(&db->lock, NULL);
    pthread_mutex_init(&db->write_lock, NULL);
    uint64_t fsize = 0;
    snapshot cand[2];
    int slots[2], ncand = 0;
    int rc = open_file(db, path, &o);
    if (!rc) rc = db->os->size(db->os->ctx, db->fd, &fsize);
    if (rc) goto fail;
    if (fsize > 0 && !db->rdonly) {
        /* no valid meta at all, in a file too short to have held a commit */
        rc = read_metas(db, fsize, cand, slots, &ncand);
        if ((rc == BURROW_ENOTDB || rc == BURROW_ECORRUPT) && unfinished_init(db, fsize, o.page_size)) {
            if ((rc = db->os->truncate(db->os->ctx, db->fd, 0))) goto fail;
            fsize = 0;
        }
    }
    if (fsize == 0) {
        if (db->rdonly) {
            rc = diag_set(BURROW_ENOTDB, "'%s' is empty", path);
            goto fail;
        }

        db->psize = o.page_size;
        if ((rc = init_file(db))) goto fail;
        fsize = 2 * (uint64_t)db->psize;
    }
    if ((rc = read_metas(db, fsize, cand, slots, &ncand))) goto fail;
    set_limits(db);
    /* the reservation is rounded to whole pages, at least 1 MiB */
    db->hot_memory = o.hot_memory;
    db->open_options = o;
    db->map_reserve = o.map_reserve < ((uint64_t)1 << 20) ? ((uint64_t)1 << 20) : o.map_reserve;
    db->map_reserve = (db->map_reserve + db->psize - 1) & ~((uint64_t)db->psize - 1);
    if ((rc = pager_map_init(db))) goto fail;
    db->last_txnid = cand[0].txnid;
    if (!db->rdonly) db->last_txnid += txnid_gap(db);
    rc = BURROW_ECORRUPT;
    char first_err[512] = "";
    for (int i = 0; i < ncand && rc; i++) {
        /* the newest meta is checked down to the older one's commit; the
         * older one (a fallback) only for its own pages */
        uint64_t base = i == 0 && ncand == 2 ? cand[1].txnid : cand[i].txnid - 1;
        rc = verify_commit(db, &cand[i], base);
        if (!rc) {
            db->cur = cand[i];
            db->cur_slot = slots[i];
            db->durable_txnid = cand[i].txnid; /* once the first commit syncs it */
            db->durable_slot = slots[i];
        } else if (i == 0) {
            snprintf(first_err, sizeof first_err, "%s", burrow_errmsg());
        }
    }
    if (rc) {
        if (first_err[0]) diag_set(rc, "no intact commit: %s", first_err);
        goto fail;
    }
    if ((rc = writer_load_freelist(db, &db->cur))) goto fail;

    db->stat_free = db->fl.free_pages;
    db->stat_pending = db->fl.pending_pages;
    db->stat_fl_pages = db->cur.fl_pgno ? db->cur.fl_pages : 0;
    db->file_size = fsize;
    if (!db->rdonly) {
        db->wscratch = malloc(2 * (size_t)db->psize + PAGE_MAX_SIZE);
        db->wcells = malloc(db->psize * sizeof(void *));
        db->wsizes = malloc(db->psize * sizeof(size_t));
        if (!db->wscratch || !db->wcells || !db->wsizes) {
            rc = diag_set(BURROW_ENOMEM, "out of memory");
            goto fail;
        }
    }
    *out = db;
    return 0;
fail:
    db_free(db);
    return rc;
}

int burrow_sync(burrow_db *db)
{
    if (!db) return BURROW_EINVAL;
    if (db->rdonly) return 0;
    /* what is published now is made durable by the sync below */
    pthread_mutex_lock(&db->lock);
    uint64_t txnid = db->cur.txnid;
    int slot = db->cur_slot;
    pthread_mutex_unlock(&db->lock);
    int rc = db->os->sync(db->os->ctx, db->fd);
    if (rc) return diag_set(rc, "sync of the database file failed");
    pthread_mutex_lock(&db->lock);
    if (txnid > db->durable_txnid && db->base_synced) {
        db->durable_txnid = txnid;
        db->durable_slot = slot;
    }
    pthread_mutex_unlock(&db->lock);
    return 0;
}

int burrow_close(burrow_db *db)
{
    if (!db) return 0;
    if (atomic_load(&db->live_txns) > 0)
        return diag_set(BURROW_EBUSY, "close: %d transactions are still live", atomic_load(&db->live_txns));
    db_free(db);
    return 0;
}

void *db_ext_get(burrow_db *db, int slot, void *(*make)(burrow_db *db), void (*destroy)(void *))
{
    void *p;
    pthread_mutex_lock(&db->lock);
    p = db->ext[slot];
    if (!p && make) {
        p = make(db);
        if (p) {
            db->ext[slot] = p;
            db->ext_destroy[slot] = destroy;
        }
    }
    pthread_mutex_unlock(&db->lock);
    return p;
}

burrow_db *burrow_txn_db(burrow_txn *txn) { return txn ? txn->db : NULL; }

size_t db_hot_memory(const burrow_db *db) { return db->hot_memory; }

const burrow_options *db_open_options(const burrow_db *db) { return &db->open_options; }

uint64_t db_last_commit_locked(const burrow_db *db) { return db->cur.txnid; }
