/*
 * check.c — the integrity check, statistics and the tree dump.
 *
 * The check reads the last committed state in a read txn and re-verifies
 * every page from scratch (not trusting the verified-page cache): checksum,
 * structure, kind per depth, key order across pages against the parents'
 * separators, child txnids never newer than their parent, key counts and
 * heights against the bucket records, overflow run checksums, the freelist,
 * and that every page below the high-water mark is accounted for exactly
 * once (a meta page, a tree page, an overflow run, the freelist run, free or
 * pending).
 */
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hash.h"
#include "store/store.h"

struct check {
    burrow_txn *t;
    burrow_db *db;
    uint64_t npages;
    uint8_t *seen;
};

static int mark(struct check *c, pgno_t pg, uint64_t n, const char *what)
{
    if (pg >= c->npages || n > c->npages - pg)
        return diag_set(BURROW_ECORRUPT, "%s at page %llu+%llu is outside the file", what,
                        (unsigned long long)pg, (unsigned long long)n);
    for (uint64_t i = pg; i < pg + n; i++) {
        if (c->seen[i >> 3] & (1u << (i & 7)))
            return diag_set(BURROW_ECORRUPT, "page %llu is used twice (second use: %s)",
                            (unsigned long long)i, what);
        c->seen[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
    return 0;
}

struct bound {
    const uint8_t *key;
    size_t len;
    bool set;
};

static int check_tree(struct check *c, pgno_t pg, uint64_t txnid, int level, int last, bool catalog,
                      struct bound lo, struct bound hi, uint64_t *keys);

static int check_leaf_cell(struct check *c, const lcell *lc, bool catalog, pgno_t pg)
{
    int rc;
    if (lc->overflow) {
        pgno_t rp = le64_load(lc->val);
        uint64_t n = run_pages(c->db, lc->vlen);
        if ((rc = mark(c, rp, n, "overflow run"))) return rc;
        if (rp < 2) return diag_set(BURROW_ECORRUPT, "page %llu: overflow run in the meta pages", (unsigned long long)pg);
        const uint8_t *run = c->t->map->base + (rp << c->db->pshift);
        if (hash64(run, n << c->db->pshift, 0) != le64_load(lc->val + 16))
            return diag_set(BURROW_ECORRUPT, "overflow run at page %llu: checksum mismatch", (unsigned long long)rp);
    }
    if (!catalog) return 0;
    if (lc->overflow || lc->vlen != BUCKET_REC_SIZE)
        return diag_set(BURROW_ECORRUPT, "catalog page %llu: malformed bucket record", (unsigned long long)pg);
    bucket_rec r;
    bucket_rec_load(&r, lc->val);
    uint64_t keys = 0;
    if (r.root) {
        if (r.height == 0 || r.height > BT_MAX_DEPTH)
            return diag_set(BURROW_ECORRUPT, "bucket '%.*s': impossible height %u", (int)lc->klen, lc->key, r.height);
        struct bound none = {NULL, 0, false};
        if ((rc = check_tree(c, r.root, r.root_txnid, 0, (int)r.height - 1, false, none, none, &keys)))
            return rc;
    } else if (r.height || r.keys) {
        return diag_set(BURROW_ECORRUPT, "bucket '%.*s': empty tree with height or keys", (int)lc->klen, lc->key);
    }
    if (keys != r.keys)
        return diag_set(BURROW_ECORRUPT, "bucket '%.*s': record says %llu keys, tree has %llu", (int)lc->klen,
                        lc->key, (unsigned long long)r.keys, (unsigned long long)keys);
    return 0;
}

static int check_tree(struct check *c, pgno_t pg, uint64_t txnid, int level, int last, bool catalog,
                      struct bound lo, struct bound hi, uint64_t *keys)
{
    int rc;
    if (pg < 2 || pg >= c->npages)
        return diag_set(BURROW_ECORRUPT, "page %llu is outside the file", (unsigned long long)pg);
    if ((rc = mark(c, pg, 1, "tree page"))) return rc;
    const uint8_t *p = c->t->map->base + (pg << c->db->pshift);
    if ((rc = page_verify(p, c->db->psize, pg))) return rc;
    if (page_txnid(p) != txnid)
        return diag_set(BURROW_ECORRUPT, "page %llu: written by txn %llu, its parent expects %llu",
                        (unsigned long long)pg, (unsigned long long)page_txnid(p), (unsigned long long)txnid);
    bool leaf = level == last;
    if (page_kind(p) != (leaf ? PAGE_LEAF : PAGE_BRANCH))
        return diag_set(BURROW_ECORRUPT, "page %llu: wrong kind for depth %d", (unsigned long long)pg, level);
    unsigned n = page_nkeys(p);
    if (n == 0 && (level > 0 || !leaf))
        return diag_set(BURROW_ECORRUPT, "page %llu: empty page inside a tree", (unsigned long long)pg);
    if (!leaf && n < 2 && level > 0)
        return diag_set(BURROW_ECORRUPT, "page %llu: branch with a single child", (unsigned long long)pg);
    for (unsigned i = 0; i < n; i++) {
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
        if (has_key && lo.set && key_cmp(k, kl, lo.key, lo.len) < 0)
            return diag_set(BURROW_ECORRUPT, "page %llu: key below its parent's separator", (unsigned long long)pg);
        if (has_key && hi.set && key_cmp(k, kl, hi.key, hi.len) >= 0)
            return diag_set(BURROW_ECORRUPT, "page %llu: key above its parent's separator", (unsigned long long)pg);
        if (leaf) {
            if ((rc = check_leaf_cell(c, &lc, catalog, pg))) return rc;
            (*keys)++;
            continue;
        }
        if (bc.child_txnid > txnid)
            return diag_set(BURROW_ECORRUPT, "page %llu: child %llu is newer than its parent",
                            (unsigned long long)pg, (unsigned long long)bc.child);
        struct bound clo = i > 0 ? (struct bound){bc.key, bc.klen, true} : lo;
        struct bound chi = hi;
        if (i + 1 < n) {
            bcell nx;
            branch_cell_at(p, i + 1, &nx);
            chi = (struct bound){nx.key, nx.klen, true};
        }
        if ((rc = check_tree(c, bc.child, bc.child_txnid, level + 1, last, catalog, clo, chi, keys))) return rc;
    }
    return 0;
}

static int mark_free(void *ctx, pgno_t start, uint64_t n, int pending)
{
    struct check *c = ctx;
    if (start < 2) return diag_set(BURROW_ECORRUPT, "freelist: meta page listed as free");
    return mark(c, start, n, pending ? "pending free extent" : "free extent");
}

int burrow_check(burrow_db *db)
{
    diag_clear();
    if (!db) return diag_set(BURROW_EINVAL, "check: db is NULL");
    burrow_txn *t;
    int rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t);
    if (rc) return rc;
    struct check c = {t, db, t->snap.npages, calloc(t->snap.npages / 8 + 1, 1)};
    freelist fl;
    fl_init(&fl);
    if (!c.seen) {
        rc = diag_set(BURROW_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = mark(&c, 0, 2, "meta pages"))) goto out;
    const snapshot *s = &t->snap;
    if (s->fl_pgno) {
        if ((rc = mark(&c, s->fl_pgno, s->fl_pages, "freelist run"))) goto out;
        if (s->fl_pgno < 2 || s->fl_len > (s->fl_pages << db->pshift)) {
            rc = diag_set(BURROW_ECORRUPT, "meta: bad freelist run");
            goto out;
        }
        const uint8_t *p = t->map->base + (s->fl_pgno << db->pshift);
        if (hash64(p, (size_t)s->fl_len, 0) != s->fl_sum) {
            rc = diag_set(BURROW_ECORRUPT, "freelist run: checksum mismatch");
            goto out;
        }
        if ((rc = fl_decode(&fl, p, (size_t)s->fl_len, s->npages))) goto out;
        if ((rc = fl_walk(&fl, mark_free, &c))) goto out;
    }
    uint64_t nb = 0;
    struct bound none = {NULL, 0, false};
    if (s->catalog.root) {
        if (s->catalog.height == 0 || s->catalog.height > BT_MAX_DEPTH) {
            rc = diag_set(BURROW_ECORRUPT, "meta: impossible catalog height");
            goto out;
        }
        rc = check_tree(&c, s->catalog.root, s->catalog.root_txnid, 0, (int)s->catalog.height - 1, true, none,
                        none, &nb);
        if (rc) goto out;
    }
    if (nb != s->catalog.keys) {
        rc = diag_set(BURROW_ECORRUPT, "catalog: meta says %llu buckets, tree has %llu",
                      (unsigned long long)s->catalog.keys, (unsigned long long)nb);
        goto out;
    }
    for (uint64_t i = 0; i < c.npages; i++)
        if (!(c.seen[i >> 3] & (1u << (i & 7)))) {
            rc = diag_set(BURROW_ECORRUPT, "page %llu is lost: neither in use nor free", (unsigned long long)i);
            goto out;
        }
out:
    fl_destroy(&fl);
    free(c.seen);
    burrow_txn_abort(t);
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
