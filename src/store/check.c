/*
 * check.c — the integrity check, statistics and the tree dump.
 *
 * The check reads the last committed state in a read txn and re-verifies
 * every page from scratch (not trusting the verified-page cache), and
 * reports every problem it finds through a callback rather than stopping at
 * the first:
 *
 *  - tree pages (the catalog, then each bucket in name order): checksum,
 *    own page number, structure and in-page key order (page_check_cells),
 *    kind per depth, the txnid the parent expects, child txnids never newer
 *    than their parent, keys against the parents' separators, no empty or
 *    single-child pages below the root, key counts and heights against the
 *    bucket records;
 *  - overflow runs: inside the file, their checksum;
 *  - the freelist run: inside the file, its checksum, every entry decoded
 *    and bounded, pending groups in txnid order and not from the future;
 *  - ownership: a bitmap marks every page as it is claimed (metas, tree
 *    pages, runs, the freelist run, then free and pending extents); a claim
 *    of a marked page is "used twice", and pages nobody claimed are leaked
 *    (reported as ranges).
 *
 * Termination on any file content: a walk enters a page only when it marks
 * it, so it visits each page at most once (cycles and shared subtrees end
 * there), recursion depth is bounded by BT_MAX_DEPTH per tree (catalog plus
 * bucket), and every offset is bounded before it is followed. Trees are
 * walked before the freelist, so that a free extent claiming a live page is
 * the one reported (with the live page's number) and the live subtree is
 * still walked.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hash.h"
#include "store/store.h"

#define PROGRESS_STEP 4096 /* pages between progress calls */

struct check {
    burrow_txn *t;
    burrow_db *db;
    const uint8_t *base;
    uint32_t psize;
    unsigned pshift;
    uint64_t npages;
    int meta_slot; /* the meta page holding the snapshot, for its problems */
    uint8_t *seen;
    const burrow_check_options *opt;
    uint64_t problems;
    char first[512]; /* the first problem, for burrow_check */
    burrow_check_stats st;
    uint64_t marked, next_progress;
    bool cancel;
    bool unwalked;   /* a subtree was skipped: its pages will look leaked */
    char tree[300];  /* "the catalog" or "bucket 'name'", for messages */
};

static void problem(struct check *c, uint64_t pg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct check *c, uint64_t pg, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->problems++ == 0) memcpy(c->first, msg, sizeof msg);
    if (c->opt && c->opt->report) c->opt->report(c->opt->ctx, pg, msg);
}

static bool seen_test(const struct check *c, uint64_t pg) { return c->seen[pg >> 3] >> (pg & 7) & 1; }

static void progress(struct check *c)
{
    if (!c->opt || !c->opt->progress || c->cancel) return;
    if (c->marked < c->next_progress && c->marked < c->npages) return;
    c->next_progress = c->marked + PROGRESS_STEP;
    if (c->opt->progress(c->opt->ctx, c->marked < c->npages ? c->marked : c->npages, c->npages)) c->cancel = true;
}

/* Claim [pg, pg+n) (already bounded by the caller). Returns the first page
 * that was already claimed, or UINT64_MAX when none was; every page ends up
 * claimed either way. */
static uint64_t claim(struct check *c, pgno_t pg, uint64_t n)
{
    uint64_t dup = UINT64_MAX;
    for (uint64_t i = pg; i < pg + n; i++) {
        if (seen_test(c, i)) {
            if (dup == UINT64_MAX) dup = i;
            continue;
        }
        c->seen[i >> 3] |= (uint8_t)(1u << (i & 7));
        c->marked++;
    }
    progress(c);
    return dup;
}

static bool in_file(const struct check *c, uint64_t pg, uint64_t n)
{
    return pg >= 2 && pg < c->npages && n <= c->npages - pg;
}

struct bound {
    const uint8_t *key;
    size_t len;
    bool set;
};

/* Where a pointer to a page came from, for messages. */
struct from {
    pgno_t pg;    /* the page holding the pointer (the meta slot for a root in the meta) */
    unsigned slot; /* PAGE_NO_SLOT: the meta page's record */
};

static void walk_tree(struct check *c, pgno_t pg, uint64_t txnid, int level, int last, bool catalog,
                      struct bound lo, struct bound hi, uint64_t *keys, struct from from);

static void check_run(struct check *c, pgno_t pg, unsigned i, const lcell *lc, uint64_t page_txn)
{
    pgno_t rp = le64_load(lc->val);
    uint64_t rtxn = le64_load(lc->val + 8);
    uint64_t n = run_pages(c->db, lc->vlen);
    if (!in_file(c, rp, n)) {
        problem(c, pg, "page %llu: overflow value at slot %u points to pages %llu..%llu, outside the file",
                (unsigned long long)pg, i, (unsigned long long)rp, (unsigned long long)(rp + n - 1));
        return;
    }
    c->st.overflow_pages += n;
    uint64_t dup = claim(c, rp, n);
    if (dup != UINT64_MAX) {
        problem(c, dup, "page %llu: used twice (again in the overflow run at page %llu, from page %llu slot %u)",
                (unsigned long long)dup, (unsigned long long)rp, (unsigned long long)pg, i);
        return;
    }
    if (rtxn > page_txn)
        problem(c, pg, "page %llu: overflow value at slot %u was written by txn %llu, after its leaf (%llu)",
                (unsigned long long)pg, i, (unsigned long long)rtxn, (unsigned long long)page_txn);
    if (hash64(c->base + (rp << c->pshift), n << c->pshift, 0) != le64_load(lc->val + 16))
        problem(c, rp, "page %llu: overflow run of %llu pages (from page %llu slot %u) fails its checksum",
                (unsigned long long)rp, (unsigned long long)n, (unsigned long long)pg, i);
}

/* A catalog entry: a bucket record, and the bucket's tree. */
static void check_bucket(struct check *c, pgno_t pg, unsigned i, const lcell *lc)
{
    c->st.buckets++;
    if (lc->overflow || lc->vlen != BUCKET_REC_SIZE) {
        problem(c, pg, "page %llu: catalog entry at slot %u is not a bucket record", (unsigned long long)pg, i);
        return;
    }
    if (lc->klen == 0 || lc->klen > 255 || memchr(lc->key, 0, lc->klen))
        problem(c, pg, "page %llu: catalog entry at slot %u has an invalid bucket name", (unsigned long long)pg, i);
    char saved[sizeof c->tree];
    memcpy(saved, c->tree, sizeof saved);
    char name[256];
    size_t nl = lc->klen < 255 ? lc->klen : 255;
    for (size_t k = 0; k < nl; k++) name[k] = lc->key[k] >= 0x20 && lc->key[k] < 0x7f ? (char)lc->key[k] : '?';
    name[nl] = 0;
    snprintf(c->tree, sizeof c->tree, "bucket '%s'", name);
    bucket_rec r;
    bucket_rec_load(&r, lc->val);
    uint64_t keys = 0;
    if (r.root) {
        if (r.height == 0 || r.height > BT_MAX_DEPTH) {
            problem(c, pg, "page %llu: %s (slot %u) has an impossible height %u", (unsigned long long)pg, c->tree, i,
                    r.height);
            c->unwalked = true;
            goto out;
        }
        struct bound none = {NULL, 0, false};
        walk_tree(c, r.root, r.root_txnid, 0, (int)r.height - 1, false, none, none, &keys, (struct from){pg, i});
        if (c->cancel) goto out;
    } else if (r.height || r.keys) {
        problem(c, pg, "page %llu: %s (slot %u) is empty but records height %u and %llu keys", (unsigned long long)pg,
                c->tree, i, r.height, (unsigned long long)r.keys);
        goto out;
    }
    c->st.keys += keys;
    if (keys != r.keys)
        problem(c, pg, "page %llu: %s (slot %u) records %llu keys, its tree holds %llu", (unsigned long long)pg, c->tree,
                i, (unsigned long long)r.keys, (unsigned long long)keys);
out:
    memcpy(c->tree, saved, sizeof saved);
}

static void walk_tree(struct check *c, pgno_t pg, uint64_t txnid, int level, int last, bool catalog,
                      struct bound lo, struct bound hi, uint64_t *keys, struct from from)
{
    if (c->cancel) return;
    if (!in_file(c, pg, 1)) {
        if (from.slot == PAGE_NO_SLOT)
            problem(c, from.pg, "page %llu: the root of %s is page %llu, outside the file",
                    (unsigned long long)from.pg, c->tree, (unsigned long long)pg);
        else
            problem(c, from.pg, "page %llu: pointer at slot %u goes to page %llu, outside the file",
                    (unsigned long long)from.pg, from.slot, (unsigned long long)pg);
        c->unwalked = true;
        return;
    }
    if (claim(c, pg, 1) != UINT64_MAX) {
        /* not entered again: this is what bounds the walk */
        problem(c, pg, "page %llu: used twice (again as a page of %s, from page %llu)", (unsigned long long)pg,
                c->tree, (unsigned long long)from.pg);
        return;
    }
    c->st.tree_pages++;
    const uint8_t *p = c->base + (pg << c->pshift);
    if (le64_load(p + PH_CHECKSUM) != hash64(p + 8, c->psize - 8, 0))
        problem(c, pg, "page %llu: checksum mismatch (a page of %s)", (unsigned long long)pg, c->tree);
    if (page_pgno(p) != pg)
        problem(c, pg, "page %llu: header says page %llu (misplaced write)", (unsigned long long)pg,
                (unsigned long long)page_pgno(p));
    unsigned bad;
    const char *why;
    int shape = page_check_cells(p, c->psize, &bad, &why);
    if (shape) {
        if (bad == PAGE_NO_SLOT)
            problem(c, pg, "page %llu: %s", (unsigned long long)pg, why);
        else
            problem(c, pg, "page %llu: %s at slot %u", (unsigned long long)pg, why, bad);
        if (shape != PAGE_MISORDERED) { /* cells not safe to read: go no further */
            c->unwalked = true;
            return;
        }
    }
    if (page_txnid(p) != txnid)
        problem(c, pg, "page %llu: written by txn %llu, its parent expects %llu", (unsigned long long)pg,
                (unsigned long long)page_txnid(p), (unsigned long long)txnid);
    bool leaf = level == last;
    if (page_kind(p) != (leaf ? PAGE_LEAF : PAGE_BRANCH)) {
        problem(c, pg, "page %llu: a %s page at depth %d of %s, where its height calls for a %s page",
                (unsigned long long)pg, leaf ? "branch" : "leaf", level, c->tree, leaf ? "leaf" : "branch");
        c->unwalked = true;
        return;
    }
    unsigned n = page_nkeys(p);
    if (n == 0 && level > 0)
        problem(c, pg, "page %llu: empty leaf inside %s", (unsigned long long)pg, c->tree);
    if (!leaf && n < 2 && level > 0)
        problem(c, pg, "page %llu: branch with a single child inside %s", (unsigned long long)pg, c->tree);
    bool below = false, above = false;
    for (unsigned i = 0; i < n && !c->cancel; i++) {
        const uint8_t *k;
        size_t kl;
        lcell lc;
        bcell bc;
        if (leaf) {
            leaf_cell_at(p, i, &lc);
            k = lc.key;
            kl = lc.klen;
        } else {
            branch_cell_at(p, i, &bc);
            k = bc.key;
            kl = bc.klen;
        }
        bool has_key = leaf || i > 0;
        if (has_key && lo.set && !below && key_cmp(k, kl, lo.key, lo.len) < 0) {
            problem(c, pg, "page %llu: key at slot %u is below its parent's separator", (unsigned long long)pg, i);
            below = true;
        }
        if (has_key && hi.set && !above && key_cmp(k, kl, hi.key, hi.len) >= 0) {
            problem(c, pg, "page %llu: key at slot %u is not below the next separator of its parent",
                    (unsigned long long)pg, i);
            above = true;
        }
        if (leaf) {
            (*keys)++;
            if (lc.overflow) check_run(c, pg, i, &lc, page_txnid(p));
            if (catalog) check_bucket(c, pg, i, &lc);
            continue;
        }
        if (bc.child_txnid > page_txnid(p))
            problem(c, pg, "page %llu: child at slot %u (page %llu) is newer than its parent",
                    (unsigned long long)pg, i, (unsigned long long)bc.child);
        struct bound clo = i > 0 ? (struct bound){bc.key, bc.klen, true} : lo;
        struct bound chi = hi;
        if (i + 1 < n) {
            bcell nx;
            branch_cell_at(p, i + 1, &nx);
            chi = (struct bound){nx.key, nx.klen, true};
        }
        walk_tree(c, bc.child, bc.child_txnid, level + 1, last, catalog, clo, chi, keys, (struct from){pg, i});
    }
}

/* ---- the freelist ---------------------------------------------------------------- */

static void claim_free(struct check *c, uint64_t fl_pg, pgno_t s, uint64_t len, uint64_t txnid)
{
    if (!in_file(c, s, len)) {
        problem(c, fl_pg, "page %llu: freelist entry %llu+%llu lies outside the file", (unsigned long long)fl_pg,
                (unsigned long long)s, (unsigned long long)len);
        return;
    }
    if (txnid) c->st.pending_pages += len;
    else c->st.free_pages += len;
    uint64_t dup = claim(c, s, len);
    if (dup != UINT64_MAX)
        problem(c, dup, "page %llu: listed %s in the freelist (entry %llu+%llu) but already in use",
                (unsigned long long)dup, txnid ? "as pending" : "as free", (unsigned long long)s,
                (unsigned long long)len);
}

/* Decode the freelist run (format.h) reporting each bad entry; the writer's
 * fl_decode only says "malformed". */
static void check_freelist(struct check *c, const snapshot *s)
{
    pgno_t fp = s->fl_pgno;
    if (!in_file(c, fp, s->fl_pages) || s->fl_pages == 0) {
        problem(c, (uint64_t)c->meta_slot, "page %d: the freelist run %llu+%llu is outside the file", c->meta_slot,
                (unsigned long long)fp, (unsigned long long)s->fl_pages);
        return;
    }
    c->st.freelist_pages += s->fl_pages;
    uint64_t dup = claim(c, fp, s->fl_pages);
    if (dup != UINT64_MAX) {
        problem(c, dup, "page %llu: used twice (again in the freelist run at page %llu)", (unsigned long long)dup,
                (unsigned long long)fp);
        return;
    }
    if (s->fl_len > (s->fl_pages << c->pshift)) {
        problem(c, (uint64_t)c->meta_slot, "page %d: the freelist's %llu bytes do not fit its %llu pages",
                c->meta_slot, (unsigned long long)s->fl_len, (unsigned long long)s->fl_pages);
        return;
    }
    const uint8_t *q = c->base + (fp << c->pshift), *end = q + s->fl_len;
    if (hash64(q, (size_t)s->fl_len, 0) != s->fl_sum) {
        problem(c, fp, "page %llu: the freelist run fails its checksum", (unsigned long long)fp);
        return;
    }
    uint64_t n, v, l;
    size_t k;
#define GET(x)                                                                                          \
    do {                                                                                                \
        if (!(k = varint_get(q, end, &(x)))) goto truncated;                                            \
        q += k;                                                                                         \
    } while (0)
    GET(n);
    pgno_t prev_end = 0;
    for (uint64_t i = 0; i < n && !c->cancel; i++) {
        GET(v);
        GET(l);
        if (v > c->npages || l == 0) {
            problem(c, fp, "page %llu: free extent %llu of the freelist is malformed", (unsigned long long)fp,
                    (unsigned long long)i);
            return; /* later deltas are relative to this one: nothing more to trust */
        }
        if (i > 0 && v == 0)
            problem(c, fp, "page %llu: free extents at page %llu are not merged", (unsigned long long)fp,
                    (unsigned long long)prev_end);
        claim_free(c, fp, prev_end + v, l, 0);
        prev_end += v + l;
    }
    GET(n);
    uint64_t last_txn = 0;
    for (uint64_t i = 0; i < n && !c->cancel; i++) {
        uint64_t txnid, m;
        GET(txnid);
        GET(m);
        if (txnid <= last_txn)
            problem(c, fp, "page %llu: pending groups of the freelist are out of order", (unsigned long long)fp);
        if (txnid > s->txnid)
            problem(c, fp, "page %llu: pending group freed by txn %llu, after this commit (%llu)",
                    (unsigned long long)fp, (unsigned long long)txnid, (unsigned long long)s->txnid);
        if (m == 0)
            problem(c, fp, "page %llu: empty pending group in the freelist", (unsigned long long)fp);
        last_txn = txnid;
        for (uint64_t j = 0; j < m && !c->cancel; j++) {
            GET(v);
            GET(l);
            if (l == 0) {
                problem(c, fp, "page %llu: pending extent of no pages in the freelist", (unsigned long long)fp);
                continue;
            }
            claim_free(c, fp, v, l, txnid ? txnid : 1);
        }
    }
    if (q != end && !c->cancel)
        problem(c, fp, "page %llu: %zu bytes after the end of the freelist", (unsigned long long)fp,
                (size_t)(end - q));
    return;
truncated:
    problem(c, fp, "page %llu: the freelist ends in the middle of an entry", (unsigned long long)fp);
#undef GET
}

/* ---- the whole check -------------------------------------------------------------- */

static void report_leaks(struct check *c)
{
    for (uint64_t i = 0; i < c->npages;) {
        if (seen_test(c, i)) {
            i++;
            continue;
        }
        uint64_t j = i;
        while (j < c->npages && !seen_test(c, j)) j++;
        const char *hint = c->unwalked ? " (perhaps below a damaged page)" : "";
        c->st.leaked_pages += j - i;
        if (j - i == 1)
            problem(c, i, "page %llu: leaked: in no tree and not in the freelist%s", (unsigned long long)i, hint);
        else
            problem(c, i, "page %llu: leaked, with the %llu pages after it: in no tree and not in the freelist%s",
                    (unsigned long long)i, (unsigned long long)(j - i - 1), hint);
        i = j;
    }
}

static int check_run_all(burrow_db *db, const burrow_check_options *opt, burrow_check_stats *stats, struct check *c)
{
    burrow_txn *t;
    int rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t);
    if (rc) return rc;
    const snapshot *s = &t->snap;
    c->t = t;
    c->db = db;
    c->base = t->map->base;
    c->psize = db->psize;
    c->pshift = db->pshift;
    c->npages = s->npages;
    c->opt = opt;
    c->seen = calloc(s->npages / 8 + 1, 1);
    if (!c->seen) {
        burrow_txn_abort(t);
        return diag_set(BURROW_ENOMEM, "out of memory for the check's page map");
    }
    /* the meta slot that holds this snapshot (the other holds an older one,
     * or a newer one if a commit landed since the txn began). Not read from
     * the map: a file cut short while it was created may lack part of meta
     * page 1, and touching it would fault. */
    pthread_mutex_lock(&db->lock);
    int cur_slot = db->cur_slot;
    uint64_t cur_txnid = db->cur.txnid;
    pthread_mutex_unlock(&db->lock);
    c->meta_slot = cur_txnid == s->txnid ? cur_slot : 1 - cur_slot;
    c->st.pages = s->npages;
    c->st.meta_pages = 2;
    if (opt && opt->progress && opt->progress(opt->ctx, 0, s->npages)) c->cancel = true;
    claim(c, 0, 2);
    snprintf(c->tree, sizeof c->tree, "the catalog");
    uint64_t nb = 0;
    struct bound none = {NULL, 0, false};
    if (s->catalog.root) {
        if (s->catalog.height == 0 || s->catalog.height > BT_MAX_DEPTH) {
            problem(c, (uint64_t)c->meta_slot, "page %d: the catalog has an impossible height %u", c->meta_slot,
                    s->catalog.height);
            c->unwalked = true;
        } else {
            walk_tree(c, s->catalog.root, s->catalog.root_txnid, 0, (int)s->catalog.height - 1, true, none, none,
                      &nb, (struct from){(pgno_t)c->meta_slot, PAGE_NO_SLOT});
        }
    } else if (s->catalog.height || s->catalog.keys) {
        problem(c, (uint64_t)c->meta_slot, "page %d: the catalog is empty but records height %u and %llu buckets",
                c->meta_slot, s->catalog.height, (unsigned long long)s->catalog.keys);
    }
    if (!c->cancel && s->catalog.root && nb != s->catalog.keys)
        problem(c, (uint64_t)c->meta_slot, "page %d: the meta page records %llu buckets, the catalog holds %llu",
                c->meta_slot, (unsigned long long)s->catalog.keys, (unsigned long long)nb);
    if (!c->cancel && s->fl_pgno) check_freelist(c, s);
    if (!c->cancel) report_leaks(c);
    if (!c->cancel && opt && opt->progress && opt->progress(opt->ctx, s->npages, s->npages)) c->cancel = true;
    free(c->seen);
    burrow_txn_abort(t);
    if (stats) *stats = c->st;
    if (c->cancel) return diag_set(BURROW_ECANCELED, "check cancelled by its progress callback");
    return 0;
}

int burrow_check_all(burrow_db *db, const burrow_check_options *opt, burrow_check_stats *stats)
{
    diag_clear();
    if (!db) return diag_set(BURROW_EINVAL, "check: db is NULL");
    struct check *c = calloc(1, sizeof *c);
    if (!c) return diag_set(BURROW_ENOMEM, "out of memory");
    int rc = check_run_all(db, opt, stats, c);
    if (!rc) {
        rc = c->problems > 0x7fffffff ? 0x7fffffff : (int)c->problems;
        if (c->problems) diag_set(BURROW_ECORRUPT, "%s", c->first);
    }
    free(c);
    return rc;
}

int burrow_check(burrow_db *db)
{
    diag_clear();
    if (!db) return diag_set(BURROW_EINVAL, "check: db is NULL");
    struct check *c = calloc(1, sizeof *c);
    if (!c) return diag_set(BURROW_ENOMEM, "out of memory");
    int rc = check_run_all(db, NULL, NULL, c);
    if (!rc && c->problems) {
        if (c->problems == 1)
            rc = diag_set(BURROW_ECORRUPT, "%s", c->first);
        else
            rc = diag_set(BURROW_ECORRUPT, "%s (and %llu more problems)", c->first,
                          (unsigned long long)(c->problems - 1));
    }
    free(c);
    return rc;
}

/* ---- statistics ------------------------------------------------------------------ */

static int count_pages(burrow_txn *t, pgno_t pg, uint64_t txnid, int level, int last, burrow_bucket_stats *st)
{
    const uint8_t *p;
    int rc = txn_page(t, pg, txnid, &p);
    if (rc) return rc;
    unsigned n = page_nkeys(p);
    if (level == last) {
        st->leaf_pages++;
        for (unsigned i = 0; i < n; i++) {
            lcell c;
            leaf_cell_at(p, i, &c);
            if (c.overflow) st->overflow_pages += run_pages(t->db, c.vlen);
        }
        return 0;
    }
    st->branch_pages++;
    for (unsigned i = 0; i < n; i++) {
        bcell c;
        branch_cell_at(p, i, &c);
        if ((rc = count_pages(t, c.child, c.child_txnid, level + 1, last, st))) return rc;
    }
    return 0;
}

static int tree_stat(burrow_txn *t, const bucket_rec *r, burrow_bucket_stats *out)
{
    memset(out, 0, sizeof *out);
    out->keys = r->keys;
    out->height = r->height;
    if (!r->root) return 0;
    if (r->height == 0 || r->height > BT_MAX_DEPTH) return diag_set(BURROW_ECORRUPT, "impossible tree height");
    return count_pages(t, r->root, r->root_txnid, 0, (int)r->height - 1, out);
}

int burrow_bucket_stat(burrow_txn *t, burrow_bucket b, burrow_bucket_stats *out)
{
    diag_clear();
    if (!t || !out) return diag_set(BURROW_EINVAL, "bucket_stat: txn and out are required");
    bstate *bs;
    int rc = txn_bucket(t, b, &bs);
    if (rc) return rc;
    if (!bs->exists) return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    return tree_stat(t, &bs->rec, out);
}

int burrow_bucket_count(burrow_txn *t, burrow_bucket b, uint64_t *keys)
{
    diag_clear();
    if (!t || !keys) return diag_set(BURROW_EINVAL, "bucket_count: txn and keys are required");
    bstate *bs;
    int rc = txn_bucket(t, b, &bs);
    if (rc) return rc;
    if (!bs->exists) return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    *keys = bs->rec.keys;
    return 0;
}

int burrow_db_stat(burrow_db *db, burrow_db_stats *out)
{
    diag_clear();
    if (!db || !out) return diag_set(BURROW_EINVAL, "db_stat: db and out are required");
    memset(out, 0, sizeof *out);
    uint64_t oldest, start, nreaders, seq;
    reader_oldest(db, &oldest, &start, &nreaders, &seq);
    pthread_mutex_lock(&db->lock);
    uint64_t commit_seq = db->commit_seq;
    snapshot s = db->cur;
    out->page_size = db->psize;
    out->page_count = s.npages;
    out->last_txn = s.txnid;
    out->buckets = s.catalog.keys;
    out->free_pages = db->stat_free;
    out->pending_pages = db->stat_pending;
    out->freelist_pages = db->stat_fl_pages;
    out->meta_pages = 2;
    if (oldest != UINT64_MAX)
        for (size_t i = 0; i < db->stat_ngroups; i++)
            if (db->stat_group_txnid[i] > oldest && db->stat_group_txnid[i] < s.txnid)
                out->reader_pinned_pages += db->stat_group_pages[i];
    pthread_mutex_unlock(&db->lock);
    out->readers = nreaders;
    if (oldest != UINT64_MAX) {
        out->oldest_reader_lag_txns = commit_seq > seq ? commit_seq - seq : 0;
        uint64_t now = clock_mono_ms();
        out->oldest_reader_age_ms = now > start ? now - start : 0;
    }
    int rc = db->os->size(db->os->ctx, db->fd, &out->file_size);
    if (rc) return diag_set(rc, "cannot read the file size");
    burrow_txn *t;
    if ((rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t))) return rc;
    burrow_bucket_stats cs;
    rc = tree_stat(t, &t->snap.catalog, &cs);
    out->catalog_pages = cs.branch_pages + cs.leaf_pages;
    burrow_txn_abort(t);
    return rc;
}

/* ---- dump --------------------------------------------------------------------------- */

static void put_bytes(FILE *f, const uint8_t *k, size_t n)
{
    size_t show = n > 32 ? 32 : n;
    bool text = true;
    for (size_t i = 0; i < show; i++)
        if (k[i] < 0x20 || k[i] > 0x7e) text = false;
    if (text)
        fprintf(f, "\"%.*s\"", (int)show, (const char *)k);
    else {
        fputs("0x", f);
        for (size_t i = 0; i < show; i++) fprintf(f, "%02x", k[i]);
    }
    if (show < n) fprintf(f, "...(%zu bytes)", n);
}

static int dump_tree(burrow_txn *t, pgno_t pg, uint64_t txnid, int level, int last, FILE *f)
{
    const uint8_t *p;
    int rc = txn_page(t, pg, txnid, &p);
    if (rc) return rc;
    unsigned n = page_nkeys(p);
    fprintf(f, "%*spage %llu %s txn=%llu keys=%u used=%zu/%u\n", level * 2, "", (unsigned long long)pg,
            level == last ? "leaf" : "branch", (unsigned long long)page_txnid(p), n,
            page_used(p, t->db->psize), t->db->psize - PAGE_HDR);
    for (unsigned i = 0; i < n; i++) {
        if (level == last) {
            lcell c;
            leaf_cell_at(p, i, &c);
            fprintf(f, "%*s", level * 2 + 2, "");
            put_bytes(f, c.key, c.klen);
            if (c.overflow)
                fprintf(f, " -> %llu bytes in overflow pages %llu+%llu\n", (unsigned long long)c.vlen,
                        (unsigned long long)le64_load(c.val), (unsigned long long)run_pages(t->db, c.vlen));
            else
                fprintf(f, " -> %llu bytes\n", (unsigned long long)c.vlen);
        } else {
            bcell c;
            branch_cell_at(p, i, &c);
            fprintf(f, "%*s[%u] ", level * 2 + 2, "", i);
            if (i == 0) fputs("(-inf)", f);
            else put_bytes(f, c.key, c.klen);
            fputc('\n', f);
            if ((rc = dump_tree(t, c.child, c.child_txnid, level + 1, last, f))) return rc;
        }
    }
    return 0;
}

int burrow_dump(burrow_txn *t, burrow_bucket b, FILE *out)
{
    diag_clear();
    if (!t || !out) return diag_set(BURROW_EINVAL, "dump: txn and out are required");
    bstate *bs;
    int rc = txn_bucket(t, b, &bs);
    if (rc) return rc;
    if (!bs->exists) return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    fprintf(out, "bucket: keys=%llu height=%u root=%llu\n", (unsigned long long)bs->rec.keys, bs->rec.height,
            (unsigned long long)bs->rec.root);
    if (!bs->rec.root) return 0;
    if (bs->rec.height == 0 || bs->rec.height > BT_MAX_DEPTH) return diag_set(BURROW_ECORRUPT, "impossible tree height");
    return dump_tree(t, bs->rec.root, bs->rec.root_txnid, 0, (int)bs->rec.height - 1, out);
}
