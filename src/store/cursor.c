/*
 * cursor.c — ordered iteration over a bucket.
 *
 * A cursor holds a path from the root to its current leaf cell. Writes in
 * its txn may move or free those pages, so in a write txn the cursor keeps
 * a copy of its current key and the bucket's modification count; when the
 * count has changed it finds its place again by key before moving.
 *
 * States: UNPOSITIONED --first/last/seek--> ON_KEY --next/prev--> ON_KEY;
 * a step past either end returns BURROW_ENOTFOUND and stays on the key.
 * When its txn ends (commit or abort) a cursor becomes DETACHED: every call
 * but close returns BURROW_EINVAL, and close just frees it.
 */
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

struct burrow_cursor {
    burrow_txn *txn; /* NULL once detached */
    burrow_cursor *next, *prev;
    burrow_bucket bucket;
    bt_path path;
    bool positioned;
    uint64_t modcount;
    uint8_t *key; /* copy of the current key (write txns only) */
    size_t klen, kcap;
};

int burrow_cursor_open(burrow_txn *t, burrow_bucket b, burrow_cursor **out)
{
    diag_clear();
    if (!t || !out) return diag_set(BURROW_EINVAL, "cursor_open: txn and out are required");
    bstate *bs;
    int rc = txn_bucket(t, b, &bs);
    if (rc) return rc;
    if (!bs->exists) return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    burrow_cursor *c = calloc(1, sizeof *c);
    if (!c) return diag_set(BURROW_ENOMEM, "out of memory");
    c->txn = t;
    c->bucket = b;
    c->next = t->cursors;
    if (t->cursors) t->cursors->prev = c;
    t->cursors = c;
    *out = c;
    return 0;
}

void burrow_cursor_close(burrow_cursor *c)
{
    if (!c) return;
    if (c->txn) {
        if (c->prev) c->prev->next = c->next;
        else c->txn->cursors = c->next;
        if (c->next) c->next->prev = c->prev;
    }
    free(c->key);
    free(c);
}

void cursors_detach(burrow_txn *t)
{
    for (burrow_cursor *c = t->cursors, *n; c; c = n) {
        n = c->next;
        c->txn = NULL;
        c->next = c->prev = NULL;
        c->positioned = false;
    }
    t->cursors = NULL;
}

static int cur_state(burrow_cursor *c, bstate **bs)
{
    diag_clear();
    if (!c->txn) return diag_set(BURROW_EINVAL, "cursor: its txn has ended");
    int rc = txn_bucket(c->txn, c->bucket, bs);
    if (rc) return rc;
    if (!(*bs)->exists) {
        c->positioned = false;
        return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    }
    return 0;
}

/* Report the current cell and remember where we are. */
static int emit(burrow_cursor *c, const bstate *bs, burrow_val *key, burrow_val *val)
{
    bt_path *p = &c->path;
    lcell lc;
    leaf_cell_at(p->page[p->depth - 1], p->idx[p->depth - 1], &lc);
    if (val) {
        int rc = bt_value(c->txn, &lc, val);
        if (rc) {
            c->positioned = false;
            return rc;
        }
    }
    if (key) {
        key->data = lc.key;
        key->size = lc.klen;
    }
    c->positioned = true;
    c->modcount = bs->modcount;
    if (!c->txn->rdonly) {
        if (lc.klen > c->kcap) {
            uint8_t *k = realloc(c->key, lc.klen);
            if (!k) {
                c->positioned = false;
                return diag_set(BURROW_ENOMEM, "out of memory");
            }
            c->key = k;
            c->kcap = lc.klen;
        }
        if (lc.klen) memcpy(c->key, lc.key, lc.klen);
        c->klen = lc.klen;
    }
    return 0;
}

static int edge(burrow_cursor *c, bool last, burrow_val *key, burrow_val *val)
{
    bstate *bs;
    int rc = cur_state(c, &bs);
    if (rc) return rc;
    rc = bt_first(c->txn, &bs->rec, &c->path, last);
    if (rc) {
        c->positioned = false;
        return rc;
    }
    return emit(c, bs, key, val);
}

int burrow_cursor_first(burrow_cursor *c, burrow_val *key, burrow_val *val)
{
    if (!c) return diag_set(BURROW_EINVAL, "cursor is NULL");
    return edge(c, false, key, val);
}

int burrow_cursor_last(burrow_cursor *c, burrow_val *key, burrow_val *val)
{
    if (!c) return diag_set(BURROW_EINVAL, "cursor is NULL");
    return edge(c, true, key, val);
}

/* Position on the first key >= k; *past_end when every key is < k (the path
 * then points at the last key). */
static int seek_ge(burrow_cursor *c, const bstate *bs, const void *k, size_t klen, bool *exact,
                   bool *past_end)
{
    *past_end = false;
    int rc = bt_seek(c->txn, &bs->rec, k, klen, &c->path, exact);
    if (rc) {
        c->positioned = false;
        return rc;
    }
    bt_path *p = &c->path;
    int L = p->depth - 1;
    unsigned n = page_nkeys(p->page[L]);
    if (p->idx[L] >= n) {
        if (n == 0) {
            c->positioned = false;
            return BURROW_ENOTFOUND;
        }
        p->idx[L] = n - 1;
        rc = bt_step(c->txn, p, 1);
        if (rc == BURROW_ENOTFOUND) *past_end = true;
        else if (rc) {
            c->positioned = false;
            return rc;
        }
    }
    return 0;
}

static int step(burrow_cursor *c, int dir, burrow_val *key, burrow_val *val)
{
    if (!c) return diag_set(BURROW_EINVAL, "cursor is NULL");
    if (!c->positioned) return edge(c, dir < 0, key, val);
    bstate *bs;
    int rc = cur_state(c, &bs);
    if (rc) return rc;
    if (bs->modcount != c->modcount) {
        /* the tree changed under us: find our key again */
        bool exact, past_end;
        rc = seek_ge(c, bs, c->key, c->klen, &exact, &past_end);
        if (rc) return rc;
        if (past_end) {
            /* every key is below ours: prev lands on the last one */
            if (dir > 0) return BURROW_ENOTFOUND;
            return emit(c, bs, key, val);
        }
        if (!exact && dir > 0) return emit(c, bs, key, val); /* already on the next key */
    }
    rc = bt_step(c->txn, &c->path, dir);
    if (rc) {
        if (rc != BURROW_ENOTFOUND) c->positioned = false;
        return rc;
    }
    return emit(c, bs, key, val);
}

int burrow_cursor_next(burrow_cursor *c, burrow_val *key, burrow_val *val) { return step(c, 1, key, val); }

int burrow_cursor_prev(burrow_cursor *c, burrow_val *key, burrow_val *val) { return step(c, -1, key, val); }

int burrow_cursor_seek(burrow_cursor *c, const void *k, size_t klen, int mode, burrow_val *key,
                       burrow_val *val)
{
    if (!c || (!k && klen)) return diag_set(BURROW_EINVAL, "cursor_seek: bad arguments");
    if (!c->txn) return diag_set(BURROW_EINVAL, "cursor: its txn has ended");
    if (mode != BURROW_SEEK_EXACT && mode != BURROW_SEEK_GE)
        return diag_set(BURROW_EINVAL, "cursor_seek: unknown mode %d", mode);
    if (klen > c->txn->db->max_key)
        return diag_set(BURROW_EKEYSIZE, "key of %zu bytes exceeds the limit", klen);
    bstate *bs;
    int rc = cur_state(c, &bs);
    if (rc) return rc;
    bool exact, past_end;
    rc = seek_ge(c, bs, k, klen, &exact, &past_end);
    if (rc) return rc;
    if (past_end || (mode == BURROW_SEEK_EXACT && !exact)) {
        c->positioned = false; /* next/prev then start from first/last */
        return BURROW_ENOTFOUND;
    }
    return emit(c, bs, key, val);
}
