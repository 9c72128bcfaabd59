/*
 * store.h — the engine's internal types and the contracts between its files.
 *
 *   page.c      slotted page and cell encoding, page verification
 *   freelist.c  free space as extents: the reusable pool and pending groups
 *   pager.c     the map, page access for a txn, dirty pages, allocation
 *   btree.c     search, insert, delete, split, merge, rebalance
 *   cursor.c    cursors (the public cursor API)
 *   txn.c       readers, write txns, nesting, commit
 *   bucket.c    the catalog of buckets, bucket handles
 *   db.c        open, close, recovery of the newest intact commit
 *   check.c     integrity check (every problem), statistics, tree dump
 *   backup.c    hot backup (plain or compacting), restore, compact in place
 *
 * Invariants that hold everywhere:
 *  - A committed page never changes while any snapshot that can see it is
 *    live (copy-on-write; freed pages wait in pending groups).
 *  - Pages the last commit can see are never reused (with NOMETA or NONE,
 *    nor those the commit before it can see), so open can always fall back
 *    to the previous commit.
 *  - Every page handed to btree code has passed page_verify() (or is a dirty
 *    page built by this process); btree code may trust its structure.
 */
#ifndef BURROW_STORE_H
#define BURROW_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/endian.h"
#include "base/err.h"
#include "burrow.h"
#include "store/format.h"

typedef uint64_t pgno_t;

/* ---- page.c ----------------------------------------------------------- */

static inline unsigned page_kind(const uint8_t *p) { return p[PH_KIND]; }
static inline unsigned page_nkeys(const uint8_t *p) { return le16_load(p + PH_NKEYS); }
static inline unsigned page_upper(const uint8_t *p) { return le16_load(p + PH_UPPER); }
static inline unsigned page_frag(const uint8_t *p) { return le16_load(p + 30); }
static inline unsigned page_slot(const uint8_t *p, unsigned i) { return le16_load(p + PAGE_HDR + 2 * i); }
static inline uint64_t page_txnid(const uint8_t *p) { return le64_load(p + PH_TXNID); }
static inline pgno_t page_pgno(const uint8_t *p) { return le64_load(p + PH_PGNO); }

/* Varint decoder for verified pages (well formed by construction). */
static inline const uint8_t *page_vget(const uint8_t *q, uint64_t *v)
{
    uint64_t x = 0;
    unsigned shift = 0;
    while (*q & 0x80) {
        x |= (uint64_t)(*q++ & 0x7f) << shift;
        shift += 7;
    }
    *v = x | (uint64_t)*q << shift;
    return q + 1;
}

/* The key of cell i, without decoding the rest (the search's inner loop). */
static inline const uint8_t *leaf_key_at(const uint8_t *p, unsigned i, size_t *klen)
{
    uint64_t k;
    const uint8_t *q = page_vget(p + page_slot(p, i), &k);
    *klen = (size_t)(k >> 1); /* the low bit marks an overflow value */
    return q;
}

static inline const uint8_t *branch_key_at(const uint8_t *p, unsigned i, size_t *klen)
{
    uint64_t k;
    const uint8_t *q = page_vget(p + page_slot(p, i), &k);
    *klen = (size_t)k;
    return q;
}

/* A decoded leaf cell. Pointers into the page. */
typedef struct lcell {
    const uint8_t *key;
    size_t klen;
    uint64_t vlen;
    const uint8_t *val; /* inline value, or the 24-byte overflow reference */
    bool overflow;
    size_t size; /* bytes of the cell */
} lcell;

/* A decoded branch cell. */
typedef struct bcell {
    const uint8_t *key;
    size_t klen;
    pgno_t child;
    uint64_t child_txnid;
    size_t size;
} bcell;

void page_init(uint8_t *p, uint32_t psize, pgno_t pgno, uint64_t txnid, unsigned kind);
void leaf_cell_decode(const uint8_t *cell, lcell *c);
void branch_cell_decode(const uint8_t *cell, bcell *c);
void leaf_cell_at(const uint8_t *p, unsigned i, lcell *c);
void branch_cell_at(const uint8_t *p, unsigned i, bcell *c);
size_t cell_size_at(const uint8_t *p, unsigned i);
/* Bytes available for new cells and their slots (including fragments). */
size_t page_room(const uint8_t *p);
size_t page_used(const uint8_t *p, uint32_t psize);
/* Insert cell bytes at slot idx; false when it does not fit. */
bool page_insert(uint8_t *p, uint32_t psize, unsigned idx, const uint8_t *cell, size_t len);
void page_remove(uint8_t *p, unsigned idx);
void page_compact(uint8_t *p, uint32_t psize, uint8_t *scratch);
void page_set_checksum(uint8_t *p, uint32_t psize);
/* Checksum and structure of a branch or leaf page read from disk. */
int page_verify(const uint8_t *p, uint32_t psize, pgno_t pgno);
/* Structure only; on failure a static phrase in *why and the slot at fault
 * in *slot (PAGE_NO_SLOT: the header or the page as a whole). */
#define PAGE_NO_SLOT 0xffffffffu
#define PAGE_MISORDERED 1 /* readable, but keys out of order */
int page_check_cells(const uint8_t *p, uint32_t psize, unsigned *slot, const char **why);
size_t leaf_cell_build(uint8_t *out, const void *key, size_t klen, const void *val, uint64_t vlen,
                       const uint8_t *ovref);
size_t branch_cell_build(uint8_t *out, const void *key, size_t klen, pgno_t child, uint64_t txnid);
void branch_set_child(uint8_t *p, unsigned i, pgno_t child, uint64_t txnid);

/* Byte-wise (memcmp) order, shorter first on a tie; 8 bytes at a time. */
static inline int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    const uint8_t *x = a, *y = b;
    size_t n = alen < blen ? alen : blen;
    for (; n >= 8; n -= 8, x += 8, y += 8) {
        uint64_t u, v;
        memcpy(&u, x, 8);
        memcpy(&v, y, 8);
        if (u != v) return __builtin_bswap64(u) < __builtin_bswap64(v) ? -1 : 1;
    }
    for (; n; n--, x++, y++)
        if (*x != *y) return *x < *y ? -1 : 1;
    return alen < blen ? -1 : alen > blen;
}

/* ---- freelist.c ------------------------------------------------------- */

typedef struct extent {
    pgno_t start;
    uint64_t len;
} extent;

typedef struct fl_node fl_node;

typedef struct fl_group {
    uint64_t txnid; /* the commit that freed these pages */
    extent *ext;
    size_t n, cap;
    uint64_t pages;
} fl_group;

typedef struct freelist {
    fl_node *root; /* reusable extents: a treap by start, augmented by max len */
    uint64_t nextents;
    uint64_t free_pages;
    fl_group *groups; /* pending groups, ascending txnid */
    size_t ngroups, gcap;
    uint64_t pending_pages;
} freelist;

void fl_init(freelist *fl);
void fl_destroy(freelist *fl);
/* First fit (lowest address) run of n pages; BURROW_ENOTFOUND if none. */
int fl_alloc(freelist *fl, uint64_t n, pgno_t *out);
/* Return [start, start+n) to the pool, merging neighbours. */
int fl_free(freelist *fl, pgno_t start, uint64_t n);
/* Remove and return the extent that ends at `end`, if any (to trim the file). */
bool fl_take_tail(freelist *fl, pgno_t end, extent *out);
/* Record pages freed by txnid (not reusable yet). */
int fl_defer(freelist *fl, uint64_t txnid, pgno_t start, uint64_t n);
/* Move every group with txnid <= upto into the pool. */
int fl_release(freelist *fl, uint64_t upto);
size_t fl_encoded_bound(const freelist *fl);
size_t fl_encode(const freelist *fl, uint8_t *out);
/* Decode from untrusted bytes; every extent must lie in [2, npages). */
int fl_decode(freelist *fl, const uint8_t *in, size_t len, uint64_t npages);
/* Call fn for every free and pending extent (for the check). */
int fl_walk(const freelist *fl, int (*fn)(void *ctx, pgno_t start, uint64_t n, int pending), void *ctx);

/* ---- the database ------------------------------------------------------ */

typedef struct bucket_rec {
    pgno_t root;
    uint64_t root_txnid;
    uint64_t keys;
    uint32_t height;
    uint32_t flags;
} bucket_rec;

void bucket_rec_load(bucket_rec *r, const uint8_t *p);
void bucket_rec_store(const bucket_rec *r, uint8_t *p);

/* A committed state: what a meta page says. */
typedef struct snapshot {
    uint64_t txnid;
    uint64_t prev_txnid;
    uint64_t npages;
    bucket_rec catalog;
    pgno_t fl_pgno;
    uint64_t fl_len, fl_pages, fl_sum, fl_txnid;
    uint32_t flags; /* META_F_* */
} snapshot;

typedef struct mapping {
    uint8_t *base;
    uint64_t len;
    int refs; /* guarded by db->lock */
} mapping;

typedef struct reader_slot {
    _Atomic uint64_t txnid; /* snapshot read; 0 = slot free */
    _Atomic uint64_t start_ms;
    _Atomic uint64_t seq;   /* db->commit_seq when the snapshot was taken */
} reader_slot;

#define READER_CHUNK 64
typedef struct reader_chunk {
    reader_slot slot[READER_CHUNK];
    struct reader_chunk *_Atomic next;
} reader_chunk;

/* The verified-page bitmap: a bit per page that has passed page_verify() in
 * this process, in lazily allocated chunks so it never moves. */
#define VB_CHUNK_BITS 22 /* pages per chunk: 4M (512 KiB of bits) */
#define VB_CHUNKS ((size_t)(MAX_PAGES >> VB_CHUNK_BITS))

#include "store/ext.h"

struct burrow_db {
    const burrow_os *os;
    int fd;
    uint32_t psize;
    unsigned pshift;
    int sync_mode;
    bool rdonly;
    size_t max_key;
    size_t max_cell; /* largest cell allowed in a page (a quarter of the space) */
    uint64_t map_reserve;
    size_t hot_memory; /* options.hot_memory, for tier/ through query/ */
    burrow_options open_options; /* as given to burrow_open, defaults filled in */

    pthread_mutex_t lock; /* guards cur, map swap and refs, names, stat copies */
    snapshot cur;
    int cur_slot;           /* meta slot holding cur */
    uint64_t last_txnid;    /* highest txnid ever seen in a meta; ids are never reused */
    uint64_t commit_seq;    /* commits published by this handle (reader lag) */
    mapping *map;
    _Atomic(_Atomic uint64_t *) vbits[2][VB_CHUNKS]; /* [0] tree pages, [1] runs */

    pthread_mutex_t write_lock; /* held by the live top-level write txn */
    freelist fl;                /* the writer's free-space model */
    pgno_t next_pgno;           /* writer: first page past the high-water mark */
    uint8_t *wscratch;          /* writer scratch: 2 pages + cell tables */
    uint8_t **pool;             /* writer: recycled page buffers */
    size_t npool, pool_cap;
    void **wcells;
    size_t *wsizes;

    reader_chunk readers;
    _Atomic int live_txns;
    bool fatal; /* an I/O error left the file in an unknown state */
    bool base_synced; /* the commit this handle opened on is known durable */
    /* The newest commit known to be on stable storage, and its meta slot.
     * Under BURROW_SYNC_DEFERRED every commit writes its meta into the
     * other slot and no page that commit can see is reused, so a power cut
     * falls back to it; burrow_sync moves it forward. (db->lock) */
    uint64_t durable_txnid;
    int durable_slot;

    char **names;
    uint32_t nnames, names_cap;

    /* copies for burrow_db_stat, updated at publish */
    uint64_t stat_free, stat_pending, stat_fl_pages;
    uint64_t *stat_group_txnid, *stat_group_pages;
    size_t stat_ngroups;
    uint64_t file_size;

    /* State of the layers above store/ (query/, tier/), created on first
     * use through db_ext_get and destroyed at close. Guarded by lock. */
    void *ext[DB_EXT_COUNT];
    void (*ext_destroy[DB_EXT_COUNT])(void *);
};

/* ---- transactions ------------------------------------------------------ */

typedef struct dirty {
    pgno_t pgno;     /* 0 = empty slot */
    uint64_t npages; /* 1 for tree pages, n for an overflow run */
    uint8_t *buf;
    bool shadow;     /* copy of a page dirty in an ancestor txn */
    bool run;        /* an overflow run (no page header) */
} dirty;

typedef struct dirty_table {
    dirty *slots;
    size_t cap, count;
} dirty_table;

typedef struct bstate {
    bool loaded, exists, dirty, existed; /* existed: in the txn's base snapshot */
    bucket_rec rec;
    uint64_t modcount;
} bstate;

typedef struct pglist {
    extent *v;
    size_t n, cap;
} pglist;

struct burrow_txn {
    burrow_db *db;
    burrow_txn *parent, *child;
    bool rdonly;
    bool failed;
    struct burrow_cursor *cursors; /* open cursors, detached when the txn ends */
    uint64_t txnid;
    snapshot snap;
    mapping *map;
    reader_slot *slot;
    bstate *bk; /* indexed by bucket handle; [0] is the catalog */
    uint32_t nbk;
    dirty_table dirty;
    pglist frees; /* pages freed here whose freeing is deferred */
    /* Upper layers' state on a top-level write txn (store/ext.h). */
    void *ext[DB_EXT_COUNT];
    const txn_ext_ops *ext_ops[DB_EXT_COUNT];
};

/* ---- pager.c ----------------------------------------------------------- */

int pager_map_init(burrow_db *db);
/* pwrite all of buf; a short write is an error (-EIO). */
int pager_write(burrow_db *db, const void *buf, size_t len, uint64_t off);
void mapping_release(burrow_db *db, mapping *m);
int pager_ensure_map(burrow_db *db, uint64_t npages);
void vbit_clear(burrow_db *db, pgno_t pg, uint64_t n);
/* After a successful write of a tree page (n = 1) or an overflow run. */
void vbit_mark_written(burrow_db *db, pgno_t pg, uint64_t n, bool run);
/* Read-only access to a committed page through the map: bounds, checksum
 * (first touch), structure, and the txnid its parent expects. */
int pager_read_slow(burrow_db *db, const mapping *m, uint64_t npages, pgno_t pg, uint64_t expect_txnid,
                    const uint8_t **out);
static inline int pager_read(burrow_db *db, const mapping *m, uint64_t npages, pgno_t pg,
                             uint64_t expect_txnid, const uint8_t **out)
{
    /* fast path: in range, already verified, written by the expected txn */
    if (pg >= 2 && pg < npages) {
        _Atomic uint64_t *chunk =
            atomic_load_explicit(&db->vbits[0][pg >> VB_CHUNK_BITS], memory_order_acquire);
        const uint8_t *p = m->base + (pg << db->pshift);
        if (chunk &&
            (atomic_load_explicit(&chunk[(pg & (((pgno_t)1 << VB_CHUNK_BITS) - 1)) >> 6],
                                  memory_order_acquire) >> (pg & 63) & 1) &&
            page_txnid(p) == expect_txnid) {
            *out = p;
            return 0;
        }
    }
    return pager_read_slow(db, m, npages, pg, expect_txnid, out);
}
/* Overflow run bytes; verifies the run's checksum on first touch. */
int pager_read_run(burrow_db *db, const mapping *m, uint64_t npages, pgno_t pg, uint64_t n,
                   uint64_t sum, const uint8_t **out);

dirty *dirty_find(const dirty_table *t, pgno_t pg);
int dirty_insert(dirty_table *t, pgno_t pg, uint64_t npages, uint8_t *buf, bool shadow, bool run);
void dirty_remove(dirty_table *t, pgno_t pg);
void dirty_destroy(burrow_db *db, dirty_table *t);
uint8_t *page_buf_get(burrow_db *db);
void dirty_buf_put(burrow_db *db, const dirty *d);
int pglist_push(pglist *l, pgno_t pg, uint64_t n);

/* Page access in a txn: dirty pages first (up the nesting chain). */
int txn_page_dirty(burrow_txn *t, pgno_t pg, uint64_t expect_txnid, const uint8_t **out);
static inline int txn_page(burrow_txn *t, pgno_t pg, uint64_t expect_txnid, const uint8_t **out)
{
    if (!t->rdonly) return txn_page_dirty(t, pg, expect_txnid, out);
    return pager_read(t->db, t->map, t->snap.npages, pg, expect_txnid, out);
}
int txn_run(burrow_txn *t, pgno_t pg, uint64_t n, uint64_t sum, const uint8_t **out);
/* Allocate n fresh pages for this write txn. */
int txn_alloc(burrow_txn *t, uint64_t n, pgno_t *out);
/* Free pages: now when this level allocated them, else deferred. */
int txn_free(burrow_txn *t, pgno_t pg, uint64_t n);
/* Return a page to the pool at once (allocated by the writer, never committed). */
int writer_pool_free(burrow_db *db, pgno_t pg, uint64_t n);
/* Make page pg writable in txn t; *newpg is its (maybe new) number. */
int txn_touch(burrow_txn *t, pgno_t pg, uint64_t txnid, pgno_t *newpg, uint8_t **out);
/* A new, empty, dirty tree page. */
int txn_new_page(burrow_txn *t, unsigned kind, pgno_t *pg, uint8_t **out);
static inline uint64_t run_pages(const burrow_db *db, uint64_t vlen)
{
    return (vlen + db->psize - 1) >> db->pshift;
}

/* ---- btree.c ----------------------------------------------------------- */

#define BT_MAX_DEPTH 40

typedef struct bt_path {
    int depth; /* number of levels filled; leaf at depth-1 */
    pgno_t pg[BT_MAX_DEPTH];
    const uint8_t *page[BT_MAX_DEPTH];
    unsigned idx[BT_MAX_DEPTH];
} bt_path;

/* Descend to the leaf for key; path->idx[leaf] = first cell >= key. */
int bt_seek(burrow_txn *t, const bucket_rec *r, const void *key, size_t klen, bt_path *path,
            bool *exact);
int bt_first(burrow_txn *t, const bucket_rec *r, bt_path *path, bool last);
/* Step to the next (dir = 1) or previous (dir = -1) cell; ENOTFOUND at the end. */
int bt_step(burrow_txn *t, bt_path *path, int dir);
int bt_value(burrow_txn *t, const lcell *c, burrow_val *val);
int bt_get(burrow_txn *t, const bucket_rec *r, const void *key, size_t klen, burrow_val *val);
int bt_put(burrow_txn *t, bstate *bs, const void *key, size_t klen, const void *val, size_t vlen,
           unsigned flags);
int bt_del(burrow_txn *t, bstate *bs, const void *key, size_t klen);
/* Free every page of a tree (bucket drop). */
int bt_free_tree(burrow_txn *t, const bucket_rec *r);

/* ---- cursor.c ---------------------------------------------------------- */

/* The txn is ending: its cursors stay allocated but become unusable. */
void cursors_detach(burrow_txn *t);

/* ---- txn.c / bucket.c -------------------------------------------------- */

int txn_bucket(burrow_txn *t, burrow_bucket b, bstate **out);
int txn_writable(burrow_txn *t);
void reader_oldest(burrow_db *db, uint64_t *txnid, uint64_t *start_ms, uint64_t *count, uint64_t *seq);
int writer_load_freelist(burrow_db *db, const snapshot *s);

/* ---- db.c -------------------------------------------------------------- */

int meta_encode(const burrow_db *db, const snapshot *s, uint8_t *page);
/* Stamp the slot number and the checksum into an encoded meta page. */
void meta_seal(uint8_t *page, int slot);
int db_write_meta(burrow_db *db, const snapshot *s, int slot);
int verify_commit(burrow_db *db, const snapshot *s, uint64_t base);

#endif
