/*
 * expire.c — TTLs of cached entries: a binary min-heap of (expiry, TTL
 * sequence, entry), the public TTL calls and the incremental sweep.
 *
 * The heap holds exactly the entries with an expiry; entry->heap_index is
 * its node (TIER_NO_HEAP without one). Nodes are ordered by (expires_at,
 * seq): seq comes from a tier-wide counter bumped by every expiry set, so
 * equal expiry times leave in the order they were set and the sweep and
 * HYBRID's "expired first" are exactly predictable. Setting, changing or
 * clearing an expiry is O(log n); the earliest expiry is read in O(1).
 * The node array grows 0 -> 4 -> 8 -> ... and halves when at most a
 * quarter of it is used; its bytes are index bytes (tier.h, MEMORY
 * ACCOUNTING).
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "tier/tier_int.h"

static inline size_t heap_bytes_for(uint32_t cap)
{
    return cap ? (size_t)cap * sizeof(tier_heap_node) + TIER_ALLOC_OVERHEAD : 0;
}

static inline bool node_less(const tier_heap_node *a, const tier_heap_node *b)
{
    return a->expires_at < b->expires_at || (a->expires_at == b->expires_at && a->seq < b->seq);
}

static inline void node_put(tier *t, uint32_t i, tier_heap_node n)
{
    t->heap[i] = n;
    n.e->heap_index = i;
}

static void sift_up(tier *t, uint32_t i)
{
    tier_heap_node n = t->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!node_less(&n, &t->heap[p]))
            break;
        node_put(t, i, t->heap[p]);
        i = p;
    }
    node_put(t, i, n);
}

static void sift_down(tier *t, uint32_t i)
{
    tier_heap_node n = t->heap[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= t->heap_len)
            break;
        if (c + 1 < t->heap_len && node_less(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!node_less(&t->heap[c], &n))
            break;
        node_put(t, i, t->heap[c]);
        i = c;
    }
    node_put(t, i, n);
}

static void heap_account(tier *t, size_t bytes)
{
    t->used = t->used - t->heap_bytes + bytes;
    t->index_bytes = t->index_bytes - t->heap_bytes + bytes;
    t->heap_bytes = bytes;
}

/* Move the nodes to an array of cap slots (cap >= heap_len). A fresh
 * allocation rather than realloc, so that a failure changes nothing. */
static int heap_resize(tier *t, uint32_t cap)
{
    tier_heap_node *h = NULL;
    if (cap) {
        h = malloc((size_t)cap * sizeof *h);
        if (!h)
            return BURROW_ENOMEM;
        if (t->heap_len)
            memcpy(h, t->heap, (size_t)t->heap_len * sizeof *h);
    }
    free(t->heap);
    t->heap = h;
    t->heap_cap = cap;
    heap_account(t, heap_bytes_for(cap));
    return 0;
}

size_t heap_growth(const tier *t)
{
    if (t->heap_len < t->heap_cap)
        return 0;
    uint32_t cap = t->heap_cap ? t->heap_cap * 2 : 4;
    return heap_bytes_for(cap) - heap_bytes_for(t->heap_cap);
}

int heap_reserve_one(tier *t)
{
    if (t->heap_len < t->heap_cap)
        return 0;
    if (t->heap_cap >= UINT32_MAX / 4)
        return diag_set(BURROW_ENOMEM, "tier: TTL heap full");
    int rc = heap_resize(t, t->heap_cap ? t->heap_cap * 2 : 4);
    return rc ? diag_set(rc, "tier: cannot grow the TTL heap") : 0;
}

void heap_set(tier *t, tier_entry *e, uint64_t expires_at)
{
    if (e->heap_index != TIER_NO_HEAP) {
        uint32_t i = e->heap_index;
        t->heap[i].expires_at = expires_at;
        t->heap[i].seq = ++t->ttl_seq;
        sift_up(t, i);
        sift_down(t, e->heap_index);
        return;
    }
    uint32_t i = t->heap_len++;
    node_put(t, i, (tier_heap_node){expires_at, ++t->ttl_seq, e});
    sift_up(t, i);
}

void heap_remove(tier *t, tier_entry *e)
{
    uint32_t i = e->heap_index;
    e->heap_index = TIER_NO_HEAP;
    uint32_t last = --t->heap_len;
    if (i != last) {
        tier_entry *moved = t->heap[last].e;
        node_put(t, i, t->heap[last]);
        sift_up(t, i);
        sift_down(t, moved->heap_index);
    }
}

void heap_shrink(tier *t)
{
    if (t->heap_len == 0) {
        if (t->heap_cap)
            heap_resize(t, 0);
        return;
    }
    uint32_t cap = t->heap_cap;
    while (cap > 4 && t->heap_len <= cap / 4)
        cap /= 2;
    if (cap != t->heap_cap)
        heap_resize(t, cap); /* on failure the bigger array stays, accounted */
}

tier_entry *heap_expired_top(tier *t, uint64_t wall_now)
{
    if (t->heap_len && t->heap[0].expires_at <= wall_now)
        return t->heap[0].e;
    return NULL;
}

int heap_check(tier *t)
{
    if (t->heap_len > t->heap_cap || t->heap_bytes != heap_bytes_for(t->heap_cap))
        return diag_set(BURROW_ECORRUPT, "tier: heap sizes wrong");
    for (uint32_t i = 0; i < t->heap_len; i++) {
        const tier_heap_node *n = &t->heap[i];
        if (!n->e || n->e->heap_index != i)
            return diag_set(BURROW_ECORRUPT, "tier: heap node %u points back wrong", i);
        if (n->expires_at == 0)
            return diag_set(BURROW_ECORRUPT, "tier: heap node %u without expiry", i);
        if (i > 0 && node_less(n, &t->heap[(i - 1) / 2]))
            return diag_set(BURROW_ECORRUPT, "tier: heap order broken at %u", i);
    }
    return 0;
}

/* ---- public ------------------------------------------------------------------- */

int tier_expire_at(tier *t, const tier_key *key, uint64_t expires_at)
{
    uint64_t h = tier_key_hash(t, key);
    int rc = 0;
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    if (!e) {
        rc = BURROW_ENOTFOUND;
    } else if (expires_at == 0) {
        if (e->heap_index != TIER_NO_HEAP) {
            heap_remove(t, e);
            tier_shrink(t);
        }
    } else if (expires_at <= tier_wall(t)) {
        tier_remove(t, e, TIER_R_EXPIRE);
    } else if (e->heap_index != TIER_NO_HEAP) {
        heap_set(t, e, expires_at);
    } else {
        rc = tier_reserve(t, heap_growth(t), e);
        if (rc == 0)
            rc = heap_reserve_one(t);
        if (rc == 0)
            heap_set(t, e, expires_at);
        tier_reserve_end(t);
    }
    tier_unlock(t);
    return rc;
}

int tier_ttl(tier *t, const tier_key *key, uint64_t *expires_at)
{
    uint64_t h = tier_key_hash(t, key);
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    if (e)
        *expires_at = entry_expiry(t, e);
    tier_unlock(t);
    return e ? 0 : BURROW_ENOTFOUND;
}

size_t tier_expire_step(tier *t, size_t max,
                        void (*fn)(void *ctx, const tier_key *key, uint64_t expires_at), void *ctx)
{
    size_t n = 0;
    tier_lock(t);
    if (t->heap_len) {
        uint64_t now = tier_wall(t);
        tier_entry *e;
        while (n < max && (e = heap_expired_top(t, now)) != NULL) {
            if (fn) {
                tier_key k = {e->key, e->coll_len, e->key + e->coll_len, e->id_len};
                fn(ctx, &k, t->heap[0].expires_at);
            }
            tier_remove(t, e, TIER_R_EXPIRE);
            n++;
        }
    }
    tier_unlock(t);
    return n;
}
