/*
 * btree.c — the copy-on-write B+tree: search, insert with split, delete with
 * merge and rebalance, overflow values, freeing a whole tree.
 *
 * A write first descends read-only (so a refused write touches nothing),
 * then makes the whole path writable from the root down (txn_touch copies
 * committed pages to new page numbers and repoints the parent), then edits
 * the leaf. Splits cascade upward through insert_at(); underflow (a page
 * under a quarter full) cascades upward through rebalance(), which merges a
 * page into a sibling when both fit in one page and otherwise evens them out.
 *
 * Every cell is at most a quarter of a page's space (db->max_cell: larger
 * values go to overflow runs, larger keys are refused), which guarantees
 * that a split by bytes always yields two pages that fit.
 *
 * Invariants: keys ascend strictly within and across leaves; a branch
 * separator key i is <= every key under child i and > every key under child
 * i-1; every non-root branch has >= 2 children and every non-root leaf >= 1
 * key; the root is a leaf with >= 1 key or a branch with >= 2 children, or
 * there is no root (empty tree).
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "store/store.h"

#define CELL_BUF (PAGE_MAX_SIZE / 4 + 64)

static inline uint8_t *wpage(bt_path *path, int level) { return (uint8_t *)path->page[level]; }

static inline size_t space_of(const burrow_db *db) { return db->psize - PAGE_HDR; }

static void cell_key(const uint8_t *cell, unsigned kind, const uint8_t **key, size_t *klen)
{
    if (kind == PAGE_LEAF) {
        lcell c;
        leaf_cell_decode(cell, &c);
        *key = c.key;
        *klen = c.klen;
    } else {
        bcell c;
        branch_cell_decode(cell, &c);
        *key = c.key;
        *klen = c.klen;
    }
}

/* ---- reading ------------------------------------------------------------ */

static int check_kind(const uint8_t *p, pgno_t pg, bool leaf)
{
    if (page_kind(p) != (leaf ? PAGE_LEAF : PAGE_BRANCH))
        return diag_set(BURROW_ECORRUPT, "page %llu: a %s was expected at this depth",
                        (unsigned long long)pg, leaf ? "leaf" : "branch");
    if (!leaf && page_nkeys(p) == 0)
        return diag_set(BURROW_ECORRUPT, "page %llu: empty branch", (unsigned long long)pg);
    return 0;
}

static int check_root(const bucket_rec *r)
{
    if (r->height == 0 || r->height > BT_MAX_DEPTH)
        return diag_set(BURROW_ECORRUPT, "tree at page %llu: impossible height %u",
                        (unsigned long long)r->root, r->height);
    return 0;
}

int bt_seek(burrow_txn *t, const bucket_rec *r, const void *key, size_t klen, bt_path *path,
            bool *exact)
{
    path->depth = 0;
    *exact = false;
    if (!r->root) return BURROW_ENOTFOUND;
    int rc = check_root(r);
    if (rc) return rc;
    pgno_t pg = r->root;
    uint64_t tx = r->root_txnid;
    int last = (int)r->height - 1;
    for (int level = 0;; level++) {
        const uint8_t *p;
        if ((rc = txn_page(t, pg, tx, &p)) || (rc = check_kind(p, pg, level == last))) return rc;
        path->pg[level] = pg;
        path->page[level] = p;
        path->depth = level + 1;
        unsigned n = page_nkeys(p), lo, hi;
        size_t kl;
        const uint8_t *k;
        if (level == last) {
            lo = 0;
            hi = n;
            bool eq = false;
            while (lo < hi) {
                unsigned mid = (lo + hi) / 2;
                k = leaf_key_at(p, mid, &kl);
                int c = key_cmp(k, kl, key, klen);
                if (c < 0) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                    eq = c == 0; /* the last probe that moved hi is the answer */
                }
            }
            path->idx[level] = lo;
            *exact = lo < n && eq;
            return 0;
        }
        /* child i covers [key i, key i+1); key 0 is minus infinity */
        lo = 1;
        hi = n;
        while (lo < hi) {
            unsigned mid = (lo + hi) / 2;
            k = branch_key_at(p, mid, &kl);
            if (key_cmp(k, kl, key, klen) <= 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        path->idx[level] = lo - 1;
        k = branch_key_at(p, lo - 1, &kl);
        pg = le64_load(k + kl);
        tx = le64_load(k + kl + 8);
    }
}

/* Descend from path level `from` (whose idx is set) to the leaf, taking the
 * first (dir > 0) or last (dir < 0) cell at every level below. */
static int descend_edge(burrow_txn *t, bt_path *path, int from, int last, int dir)
{
    for (int level = from; level < last; level++) {
        bcell bc;
        branch_cell_at(path->page[level], path->idx[level], &bc);
        const uint8_t *p;
        int rc = txn_page(t, bc.child, bc.child_txnid, &p);
        if (!rc) rc = check_kind(p, bc.child, level + 1 == last);
        if (rc) {
            path->depth = 0;
            return rc;
        }
        unsigned n = page_nkeys(p);
        if (n == 0) {
            path->depth = 0;
            return diag_set(BURROW_ECORRUPT, "page %llu: empty leaf", (unsigned long long)bc.child);
        }
        path->pg[level + 1] = bc.child;
        path->page[level + 1] = p;
        path->idx[level + 1] = dir > 0 ? 0 : n - 1;
    }
    return 0;
}

int bt_first(burrow_txn *t, const bucket_rec *r, bt_path *path, bool last)
{
    path->depth = 0;
    if (!r->root) return BURROW_ENOTFOUND;
    int rc = check_root(r);
    if (rc) return rc;
    const uint8_t *p;
    int lastlvl = (int)r->height - 1;
    if ((rc = txn_page(t, r->root, r->root_txnid, &p)) || (rc = check_kind(p, r->root, lastlvl == 0)))
        return rc;
    unsigned n = page_nkeys(p);
    if (n == 0) return BURROW_ENOTFOUND;
    path->pg[0] = r->root;
    path->page[0] = p;
    path->idx[0] = last ? n - 1 : 0;
    path->depth = lastlvl + 1;
    return descend_edge(t, path, 0, lastlvl, last ? -1 : 1);
}

int bt_step(burrow_txn *t, bt_path *path, int dir)
{
    int last = path->depth - 1;
    if (last < 0) return BURROW_ENOTFOUND;
    int level = last;
    for (; level >= 0; level--) {
        unsigned n = page_nkeys(path->page[level]);
        if (dir > 0 ? path->idx[level] + 1 < n : path->idx[level] > 0) break;
    }
    if (level < 0) return BURROW_ENOTFOUND; /* position unchanged */
    path->idx[level] = (unsigned)((int)path->idx[level] + dir);
    return descend_edge(t, path, level, last, dir);
}

int bt_value(burrow_txn *t, const lcell *c, burrow_val *val)
{
    if (!c->overflow) {
        val->data = c->val;
        val->size = (size_t)c->vlen;
        return 0;
    }
    const uint8_t *run;
    int rc = txn_run(t, le64_load(c->val), run_pages(t->db, c->vlen), le64_load(c->val + 16), &run);
    if (rc) return rc;
    val->data = run;
    val->size = (size_t)c->vlen;
    return 0;
}

int bt_get(burrow_txn *t, const bucket_rec *r, const void *key, size_t klen, burrow_val *val)
{
    bt_path path;
    bool exact;
    int rc = bt_seek(t, r, key, klen, &path, &exact);
    if (rc) return rc;
    if (!exact) return BURROW_ENOTFOUND;
    lcell c;
    leaf_cell_at(path.page[path.depth - 1], path.idx[path.depth - 1], &c);
    return bt_value(t, &c, val);
}

/* ---- building pages ----------------------------------------------------- */

/* Rebuild page p from cells [from, to) of the gathered list. */
static void build_page(uint8_t *p, uint32_t psize, pgno_t pg, uint64_t txnid, unsigned kind,
                       uint8_t *const *cells, const size_t *sizes, unsigned from, unsigned to)
{
    page_init(p, psize, pg, txnid, kind);
    size_t upper = psize;
    for (unsigned i = from; i < to; i++) {
        upper -= sizes[i];
        memcpy(p + upper, cells[i], sizes[i]);
        le16_store(p + PAGE_HDR + 2 * (i - from), (uint16_t)upper);
    }
    le16_store(p + PH_UPPER, (uint16_t)upper);
    le16_store(p + PH_NKEYS, (uint16_t)(to - from));
}

/* Index m in [1, n-1] that splits cells into two halves of similar bytes,
 * both fitting in a page. For branches the cell at m moves up and leaves
 * only its child pointer (about 17 bytes) behind as the right page's cell 0. */
static unsigned balance_point(const size_t *sizes, unsigned n, size_t space, bool branch)
{
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) total += sizes[i] + 2;
    size_t acc = 0;
    unsigned m = 1;
    acc = sizes[0] + 2;
    while (m < n - 1 && acc + (sizes[m] + 2) / 2 < total / 2) {
        acc += sizes[m] + 2;
        m++;
    }
    /* defensive: move the point until both sides fit */
    for (int guard = 0; guard < 64; guard++) {
        size_t left = 0, right = 0;
        for (unsigned i = 0; i < m; i++) left += sizes[i] + 2;
        for (unsigned i = m; i < n; i++) right += sizes[i] + 2;
        if (branch) right = right - sizes[m] + 1 + BRANCH_PTR_SIZE;
        if (left > space && m > 1)
            m--;
        else if (right > space && m < n - 1)
            m++;
        else
            break;
    }
    return m;
}

/* Length of the shortest prefix of b that is greater than a (a < b). */
static size_t separator_len(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t i = 0;
    while (i < alen && i < blen && a[i] == b[i]) i++;
    return i + 1 <= blen ? i + 1 : blen;
}

/* Split path->page[level] while inserting cell at idx. The left half stays
 * in place; the right half goes to a new page *rpg; the key that separates
 * them is copied to sep. */
static int split_insert(burrow_txn *t, bt_path *path, int level, unsigned idx, const uint8_t *cell,
                        size_t len, bool append, uint8_t *sep, size_t *seplen, pgno_t *rpg)
{
    burrow_db *db = t->db;
    uint32_t P = db->psize;
    uint8_t *p = wpage(path, level);
    unsigned kind = page_kind(p);
    uint8_t *tmp = db->wscratch;
    memcpy(tmp, p, P);
    unsigned n = page_nkeys(tmp), N = n + 1;
    uint8_t **cells = (uint8_t **)db->wcells;
    size_t *sizes = db->wsizes;
    for (unsigned i = 0, j = 0; i < N; i++) {
        if (i == idx) {
            cells[i] = (uint8_t *)cell;
            sizes[i] = len;
        } else {
            cells[i] = tmp + page_slot(tmp, j);
            sizes[i] = cell_size_at(tmp, j);
            j++;
        }
    }
    unsigned m = append ? n : balance_point(sizes, N, space_of(db), kind == PAGE_BRANCH);
    uint8_t *r;
    int rc = txn_new_page(t, kind, rpg, &r);
    if (rc) return rc;
    const uint8_t *ka, *kb;
    size_t la, lb;
    cell_key(cells[m], kind, &kb, &lb);
    if (kind == PAGE_LEAF) {
        cell_key(cells[m - 1], kind, &ka, &la);
        *seplen = separator_len(ka, la, kb, lb);
        memcpy(sep, kb, *seplen);
    } else {
        *seplen = lb;
        memcpy(sep, kb, lb);
        bcell bc;
        branch_cell_decode(cells[m], &bc);
        uint8_t *c0 = tmp + P; /* scratch beyond the page copy */
        sizes[m] = branch_cell_build(c0, NULL, 0, bc.child, bc.child_txnid);
        cells[m] = c0;
    }
    build_page(r, P, *rpg, t->txnid, kind, cells, sizes, m, N);
    build_page(p, P, path->pg[level], t->txnid, kind, cells, sizes, 0, m);
    return 0;
}

static int insert_at(burrow_txn *t, bstate *bs, bt_path *path, int level, unsigned idx,
                     const uint8_t *cell, size_t len);
static int touch_path(burrow_txn *t, bstate *bs, bt_path *path);

/* Gather the cells of pages a and b (b's first cell in a branch gets the
 * separator key from the parent) into the writer's cell table. */
static unsigned gather_pair(burrow_db *db, const uint8_t *a, const uint8_t *b, const uint8_t *sep,
                            size_t seplen, uint8_t *sepcell)
{
    uint32_t P = db->psize;
    uint8_t *tmp = db->wscratch;
    memcpy(tmp, a, P);
    memcpy(tmp + P, b, P);
    uint8_t **cells = (uint8_t **)db->wcells;
    size_t *sizes = db->wsizes;
    unsigned N = 0, na = page_nkeys(tmp), nb = page_nkeys(tmp + P);
    bool branch = page_kind(a) == PAGE_BRANCH;
    for (unsigned i = 0; i < na; i++, N++) {
        cells[N] = tmp + page_slot(tmp, i);
        sizes[N] = cell_size_at(tmp, i);
    }
    for (unsigned i = 0; i < nb; i++, N++) {
        if (branch && i == 0) {
            bcell bc;
            branch_cell_at(tmp + P, 0, &bc);
            sizes[N] = branch_cell_build(sepcell, sep, seplen, bc.child, bc.child_txnid);
            cells[N] = sepcell;
        } else {
            cells[N] = tmp + P + page_slot(tmp + P, i);
            sizes[N] = cell_size_at(tmp + P, i);
        }
    }
    return N;
}

static bool fits(const size_t *sizes, unsigned from, unsigned to, size_t space)
{
    size_t b = 0;
    for (unsigned i = from; i < to; i++) b += sizes[i] + 2;
    return b <= space;
}

/* Index in (from, n) where the bytes of cells [from, m) first reach `want`. */
static unsigned cut_at(const size_t *sizes, unsigned from, unsigned n, size_t want)
{
    size_t acc = 0;
    unsigned m = from;
    while (m < n - 1 && acc + (sizes[m] + 2) / 2 < want) acc += sizes[m++] + 2;
    return m > from ? m : from + 1;
}

/*
 * A full leaf (not an append) shares with a sibling instead of splitting in
 * two, as a B*-tree does: if the sibling has room, the pair is evened out;
 * if neither sibling has room, the two full pages become three, each about
 * two thirds full. Random inserts then leave leaves about 80% full instead
 * of 69%, and leaf pages are most of the file. Returns 0 or an error.
 */
static int share_with_sibling(burrow_txn *t, bstate *bs, bt_path *path, int level, unsigned idx,
                              const uint8_t *cell, size_t len, bool *done)
{
    burrow_db *db = t->db;
    uint32_t P = db->psize;
    size_t space = space_of(db);
    uint8_t *parent = wpage(path, level - 1);
    unsigned pidx = path->idx[level - 1], pn = page_nkeys(parent);
    uint8_t *p = wpage(path, level);
    size_t total = page_used(p, P) + len + 2; /* bytes of cells and slots */
    int side = 0, rc;
    const uint8_t *sp;
    bcell sc;
    *done = false;
    if (pn < 2) return 0;
    for (int s = 1; s >= -1 && !side; s -= 2) {
        if (s < 0 ? pidx == 0 : pidx + 1 >= pn) continue;
        branch_cell_at(parent, pidx + (unsigned)s, &sc);
        if ((rc = txn_page(t, sc.child, sc.child_txnid, &sp))) return rc;
        /* share only if both end at most 31/32 full, else the next insert
         * would have to share again at once */
        if (page_used(sp, P) + total <= 2 * space - space / 32) side = s;
    }
    bool three = !side;
    if (three) side = pidx + 1 < pn ? 1 : -1;
    unsigned sidx = pidx + (unsigned)side;
    branch_cell_at(parent, sidx, &sc);
    pgno_t spg;
    uint8_t *sw;
    if ((rc = txn_touch(t, sc.child, sc.child_txnid, &spg, &sw))) return rc;
    branch_set_child(parent, sidx, spg, t->txnid);
    uint8_t *L = side < 0 ? sw : p, *R = side < 0 ? p : sw;
    pgno_t Lpg = side < 0 ? spg : path->pg[level], Rpg = side < 0 ? path->pg[level] : spg;

    /* the cells of both pages in order, then the new one in its place */
    uint8_t **cells = (uint8_t **)db->wcells;
    size_t *sizes = db->wsizes;
    unsigned nl = page_nkeys(L);
    unsigned N = gather_pair(db, L, R, NULL, 0, NULL);
    unsigned at = side < 0 ? nl + idx : idx;
    memmove(cells + at + 1, cells + at, (N - at) * sizeof *cells);
    memmove(sizes + at + 1, sizes + at, (N - at) * sizeof *sizes);
    cells[at] = (uint8_t *)cell;
    sizes[at] = len;
    N++;
    size_t bytes = 0;
    for (unsigned i = 0; i < N; i++) bytes += sizes[i] + 2;
    unsigned cut[2];
    if (!three) {
        /* a large cell in the middle can make an even split impossible */
        cut[0] = balance_point(sizes, N, space, false);
        three = !fits(sizes, 0, cut[0], space) || !fits(sizes, cut[0], N, space);
    }
    if (three) {
        cut[0] = cut_at(sizes, 0, N, bytes / 3);
        if (cut[0] > N - 2) cut[0] = N - 2;
        cut[1] = cut_at(sizes, cut[0], N, bytes / 3);
        while (!fits(sizes, cut[1], N, space) && cut[1] + 1 < N && fits(sizes, cut[0], cut[1] + 1, space)) cut[1]++;
        if (!fits(sizes, 0, cut[0], space) || !fits(sizes, cut[0], cut[1], space) || !fits(sizes, cut[1], N, space))
            return 0; /* let the plain split handle it */
    }
    int ncut = three ? 2 : 1;
    /* separators, copied out before pages are rebuilt over the scratch */
    uint8_t sepkey[2][CELL_BUF], up[CELL_BUF];
    size_t seplen[2];
    for (int c = 0; c < ncut; c++) {
        const uint8_t *ka, *kb;
        size_t la, lb;
        cell_key(cells[cut[c] - 1], PAGE_LEAF, &ka, &la);
        cell_key(cells[cut[c]], PAGE_LEAF, &kb, &lb);
        seplen[c] = separator_len(ka, la, kb, lb);
        memcpy(sepkey[c], kb, seplen[c]);
    }
    unsigned ri = side < 0 ? pidx : pidx + 1;
    if (!three) {
        build_page(L, P, Lpg, t->txnid, PAGE_LEAF, cells, sizes, 0, cut[0]);
        build_page(R, P, Rpg, t->txnid, PAGE_LEAF, cells, sizes, cut[0], N);
        page_remove(parent, ri);
        size_t l = branch_cell_build(up, sepkey[0], seplen[0], Rpg, t->txnid);
        if ((rc = insert_at(t, bs, path, level - 1, ri, up, l))) return rc;
        *done = true;
        return 0;
    }
    /* L | R | X: the new page X takes the last third */
    pgno_t Xpg;
    uint8_t *X;
    if ((rc = txn_new_page(t, PAGE_LEAF, &Xpg, &X))) return rc;
    build_page(X, P, Xpg, t->txnid, PAGE_LEAF, cells, sizes, cut[1], N);
    build_page(R, P, Rpg, t->txnid, PAGE_LEAF, cells, sizes, cut[0], cut[1]);
    build_page(L, P, Lpg, t->txnid, PAGE_LEAF, cells, sizes, 0, cut[0]);
    page_remove(parent, ri);
    size_t l = branch_cell_build(up, sepkey[0], seplen[0], Rpg, t->txnid);
    if ((rc = insert_at(t, bs, path, level - 1, ri, up, l))) return rc;
    /* that insert may have split the parent: find X's parent afresh by
     * descending to where X's first key lives now (in R), then link X */
    bool exact;
    if ((rc = bt_seek(t, &bs->rec, sepkey[1], seplen[1], path, &exact)) || (rc = touch_path(t, bs, path)))
        return rc;
    int pl = path->depth - 2; /* the root may have split: levels moved down */
    l = branch_cell_build(up, sepkey[1], seplen[1], Xpg, t->txnid);
    if ((rc = insert_at(t, bs, path, pl, path->idx[pl] + 1, up, l))) return rc;
    *done = true;
    return 0;
}

/* Insert cell at idx of the page at `level`, splitting upward as needed.
 * The path is stale afterwards if a split happened. */
static int insert_at(burrow_txn *t, bstate *bs, bt_path *path, int level, unsigned idx,
                     const uint8_t *cell, size_t len)
{
    burrow_db *db = t->db;
    uint8_t sep[CELL_BUF], up[CELL_BUF];
    for (;;) {
        uint8_t *p = wpage(path, level);
        if (page_insert(p, db->psize, idx, cell, len)) return 0;
        /* appending past the last key of the rightmost leaf: keep the left
         * page full, as sequential loads would otherwise leave it half empty */
        bool append = page_kind(p) == PAGE_LEAF && idx == page_nkeys(p);
        for (int l = 0; append && l < level; l++)
            append = path->idx[l] + 1 == page_nkeys(path->page[l]);
        if (!append && level > 0 && page_kind(p) == PAGE_LEAF) {
            bool done;
            int rc = share_with_sibling(t, bs, path, level, idx, cell, len, &done);
            if (rc || done) return rc;
        }
        size_t seplen;
        pgno_t rpg;
        int rc = split_insert(t, path, level, idx, cell, len, append, sep, &seplen, &rpg);
        if (rc) return rc;
        if (level == 0) {
            pgno_t root;
            uint8_t *rp;
            if ((rc = txn_new_page(t, PAGE_BRANCH, &root, &rp))) return rc;
            size_t l0 = branch_cell_build(up, NULL, 0, path->pg[0], t->txnid);
            page_insert(rp, db->psize, 0, up, l0);
            size_t l1 = branch_cell_build(up, sep, seplen, rpg, t->txnid);
            page_insert(rp, db->psize, 1, up, l1);
            bs->rec.root = root;
            bs->rec.root_txnid = t->txnid;
            bs->rec.height++;
            return 0;
        }
        len = branch_cell_build(up, sep, seplen, rpg, t->txnid);
        cell = up;
        idx = path->idx[level - 1] + 1;
        level--;
    }
}

/* Make every page on the path writable, root first. */
static int touch_path(burrow_txn *t, bstate *bs, bt_path *path)
{
    for (int level = 0; level < path->depth; level++) {
        uint64_t expect;
        if (level == 0) {
            expect = bs->rec.root_txnid;
        } else {
            bcell bc;
            branch_cell_at(path->page[level - 1], path->idx[level - 1], &bc);
            expect = bc.child_txnid;
        }
        pgno_t np;
        uint8_t *buf;
        int rc = txn_touch(t, path->pg[level], expect, &np, &buf);
        if (rc) return rc;
        if (level == 0) {
            bs->rec.root = np;
            bs->rec.root_txnid = t->txnid;
        } else if (np != path->pg[level]) {
            branch_set_child(wpage(path, level - 1), path->idx[level - 1], np, t->txnid);
        }
        path->pg[level] = np;
        path->page[level] = buf;
    }
    return 0;
}

/* ---- put ------------------------------------------------------------------ */

static int put_overflow(burrow_txn *t, const void *val, size_t vlen, uint8_t *ref)
{
    burrow_db *db = t->db;
    uint64_t n = run_pages(db, vlen);
    size_t bytes = (size_t)(n << db->pshift);
    uint8_t *buf = malloc(bytes);
    if (!buf) return diag_set(BURROW_ENOMEM, "out of memory for a %zu-byte value", vlen);
    memcpy(buf, val, vlen);
    memset(buf + vlen, 0, bytes - vlen);
    pgno_t pg;
    int rc = txn_alloc(t, n, &pg);
    if (!rc) rc = dirty_insert(&t->dirty, pg, n, buf, false, true);
    if (rc) {
        free(buf);
        return rc;
    }
    le64_store(ref, pg);
    le64_store(ref + 8, t->txnid);
    le64_store(ref + 16, hash64(buf, bytes, 0));
    return 0;
}

int bt_put(burrow_txn *t, bstate *bs, const void *key, size_t klen, const void *val, size_t vlen,
           unsigned flags)
{
    burrow_db *db = t->db;
    bt_path path;
    bool exact = false;
    int rc;
    if (bs->rec.root) {
        rc = bt_seek(t, &bs->rec, key, klen, &path, &exact);
        if (rc) return rc;
        if (exact && (flags & BURROW_NOOVERWRITE)) return BURROW_EEXIST;
    }
    /* From here on a failure leaves the txn half-changed: it fails. */
    t->failed = true;
    uint8_t cell[CELL_BUF];
    size_t len;
    size_t inline_size = varint_size((uint64_t)klen << 1) + varint_size(vlen) + klen + vlen;
    if (inline_size > db->max_cell) {
        uint8_t ref[OVERFLOW_REF_SIZE];
        if ((rc = put_overflow(t, val, vlen, ref))) return rc;
        len = leaf_cell_build(cell, key, klen, NULL, vlen, ref);
    } else {
        len = leaf_cell_build(cell, key, klen, val, vlen, NULL);
    }
    if (!bs->rec.root) {
        pgno_t pg;
        uint8_t *p;
        if ((rc = txn_new_page(t, PAGE_LEAF, &pg, &p))) return rc;
        page_insert(p, db->psize, 0, cell, len);
        bs->rec = (bucket_rec){pg, t->txnid, 1, 1, 0};
    } else {
        if ((rc = touch_path(t, bs, &path))) return rc;
        int L = path.depth - 1;
        uint8_t *leaf = wpage(&path, L);
        unsigned idx = path.idx[L];
        if (exact) {
            lcell old;
            leaf_cell_at(leaf, idx, &old);
            if (old.overflow &&
                (rc = txn_free(t, le64_load(old.val), run_pages(db, old.vlen))))
                return rc;
            page_remove(leaf, idx);
        }
        if ((rc = insert_at(t, bs, &path, L, idx, cell, len))) return rc;
        if (!exact) bs->rec.keys++;
    }
    bs->dirty = true;
    bs->modcount++;
    t->failed = false;
    return 0;
}

/* ---- delete ---------------------------------------------------------------- */

static int rebalance(burrow_txn *t, bstate *bs, bt_path *path, int level)
{
    burrow_db *db = t->db;
    uint32_t P = db->psize;
    size_t space = space_of(db);
    uint8_t sepkey[CELL_BUF], sepcell[CELL_BUF], up[CELL_BUF], cell0[32];
    for (;;) {
        uint8_t *p = wpage(path, level);
        unsigned n = page_nkeys(p), kind = page_kind(p);
        int rc;
        if (level == 0) {
            if (kind == PAGE_LEAF && n == 0) {
                rc = txn_free(t, path->pg[0], 1);
                bs->rec.root = 0;
                bs->rec.root_txnid = 0;
                bs->rec.height = 0;
                return rc;
            }
            if (kind == PAGE_BRANCH && n == 1) {
                bcell bc;
                branch_cell_at(p, 0, &bc);
                pgno_t child = bc.child;
                uint64_t ctx = bc.child_txnid;
                bs->rec.root = child;
                bs->rec.root_txnid = ctx;
                bs->rec.height--;
                /* the child becomes the root; continue checking it */
                if ((rc = txn_free(t, path->pg[0], 1))) return rc;
                return 0;
            }
            return 0;
        }
        if (page_used(p, P) >= space / 4 && n >= (kind == PAGE_BRANCH ? 2u : 1u)) return 0;
        uint8_t *parent = wpage(path, level - 1);
        unsigned pidx = path->idx[level - 1], pn = page_nkeys(parent);
        if (pn < 2) return 0; /* no sibling: only possible transiently */
        unsigned sib = pidx > 0 ? pidx - 1 : pidx + 1;
        unsigned ri = pidx > 0 ? pidx : pidx + 1;
        bcell sc;
        branch_cell_at(parent, sib, &sc);
        pgno_t spg;
        uint8_t *sp;
        if ((rc = txn_touch(t, sc.child, sc.child_txnid, &spg, &sp))) return rc;
        branch_set_child(parent, sib, spg, t->txnid);
        uint8_t *L = pidx > 0 ? sp : p, *R = pidx > 0 ? p : sp;
        pgno_t Lpg = pidx > 0 ? spg : path->pg[level], Rpg = pidx > 0 ? path->pg[level] : spg;
        bcell rc_sep;
        branch_cell_at(parent, ri, &rc_sep);
        size_t seplen = rc_sep.klen;
        memcpy(sepkey, rc_sep.key, seplen);
        unsigned N = gather_pair(db, L, R, sepkey, seplen, sepcell);
        uint8_t **cells = (uint8_t **)db->wcells;
        size_t *sizes = db->wsizes;
        size_t total = 0;
        for (unsigned i = 0; i < N; i++) total += sizes[i] + 2;
        if (total <= space) {
            /* merge R into L, drop R and its separator */
            build_page(L, P, Lpg, t->txnid, kind, cells, sizes, 0, N);
            if ((rc = txn_free(t, Rpg, 1))) return rc;
            page_remove(parent, ri);
            if (pidx > 0) path->idx[level - 1] = pidx - 1;
            level--;
            continue;
        }
        /* even the two pages out and replace the separator */
        unsigned m = balance_point(sizes, N, space, kind == PAGE_BRANCH);
        const uint8_t *kb;
        size_t lb;
        cell_key(cells[m], kind, &kb, &lb);
        if (kind == PAGE_LEAF) {
            const uint8_t *ka;
            size_t la;
            cell_key(cells[m - 1], kind, &ka, &la);
            seplen = separator_len(ka, la, kb, lb);
        } else {
            seplen = lb;
        }
        memcpy(sepkey, kb, seplen);
        if (kind == PAGE_BRANCH) {
            bcell bc;
            branch_cell_decode(cells[m], &bc);
            /* not sepcell: cells[na] may still point at it */
            sizes[m] = branch_cell_build(cell0, NULL, 0, bc.child, bc.child_txnid);
            cells[m] = cell0;
        }
        build_page(L, P, Lpg, t->txnid, kind, cells, sizes, 0, m);
        build_page(R, P, Rpg, t->txnid, kind, cells, sizes, m, N);
        page_remove(parent, ri);
        size_t len = branch_cell_build(up, sepkey, seplen, Rpg, t->txnid);
        return insert_at(t, bs, path, level - 1, ri, up, len);
    }
}

int bt_del(burrow_txn *t, bstate *bs, const void *key, size_t klen)
{
    bt_path path;
    bool exact;
    int rc = bt_seek(t, &bs->rec, key, klen, &path, &exact);
    if (rc) return rc;
    if (!exact) return BURROW_ENOTFOUND;
    t->failed = true;
    if ((rc = touch_path(t, bs, &path))) return rc;
    int L = path.depth - 1;
    uint8_t *leaf = wpage(&path, L);
    lcell old;
    leaf_cell_at(leaf, path.idx[L], &old);
    if (old.overflow && (rc = txn_free(t, le64_load(old.val), run_pages(t->db, old.vlen)))) return rc;
    page_remove(leaf, path.idx[L]);
    bs->rec.keys--;
    if ((rc = rebalance(t, bs, &path, L))) return rc;
    bs->dirty = true;
    bs->modcount++;
    t->failed = false;
    return 0;
}

/* ---- freeing a tree --------------------------------------------------------- */

static int free_subtree(burrow_txn *t, pgno_t pg, uint64_t txnid, int level, int last)
{
    const uint8_t *p;
    int rc = txn_page(t, pg, txnid, &p);
    if (!rc) rc = check_kind(p, pg, level == last);
    if (rc) return rc;
    unsigned n = page_nkeys(p);
    for (unsigned i = 0; i < n; i++) {
        if (level == last) {
            lcell c;
            leaf_cell_at(p, i, &c);
            if (c.overflow && (rc = txn_free(t, le64_load(c.val), run_pages(t->db, c.vlen))))
                return rc;
        } else {
            bcell c;
            branch_cell_at(p, i, &c);
            if ((rc = free_subtree(t, c.child, c.child_txnid, level + 1, last))) return rc;
        }
    }
    return txn_free(t, pg, 1);
}

int bt_free_tree(burrow_txn *t, const bucket_rec *r)
{
    if (!r->root) return 0;
    int rc = check_root(r);
    if (rc) return rc;
    return free_subtree(t, r->root, r->root_txnid, 0, (int)r->height - 1);
}
