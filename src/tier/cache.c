/*
 * cache.c — the hot tier's entries: creation, the hash index, the byte
 * budget, and the public operations on keys (tier.h holds the contract).
 *
 * The index is a chained hash table of 2^k buckets (TIER_MIN_BUCKETS at
 * least), allocated with the first entry and freed with the last; entries
 * carry their chain link. Resizing allocates the new table and rehashes
 * into it before freeing the old one, so a failed allocation changes
 * nothing (for the moment of the rehash both tables exist: the one
 * transient excess over the budget, of 8 bytes a bucket).
 *
 * Accounting (tier.h, MEMORY ACCOUNTING) is kept in one place each:
 * entry bytes in link_entry / tier_remove / entry_replace, table bytes in
 * table_resize, heap bytes in expire.c's heap_resize. Room is made by
 * tier_reserve: a check that the room can be made at all (pinned entries
 * and indexes cannot be evicted), then evictions in policy order. While a
 * reservation is open, removals do not shrink the indexes, so what the
 * caller computed it needs stays true until it has allocated.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "base/hash.h"
#include "tier/tier_int.h"

/* ---- clocks and options ------------------------------------------------------- */

static uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The coarse variant of CLOCK_MONOTONIC (the same clock, read from the
 * last tick: 1-4 ms resolution): every hit reads it, and here it costs 12
 * ns where CLOCK_MONOTONIC costs 41 ns, half of a whole hot read.
 * Millisecond statistics, idleness and decay lose nothing that matters. */
static uint64_t mono_default(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_MONOTONIC_COARSE);
}

static uint64_t wall_default(void *ctx)
{
    (void)ctx;
    return clock_ms(CLOCK_REALTIME);
}

static const tier_clock default_clock = {mono_default, wall_default, NULL};

const tier_clock *tier_clock_default(void) { return &default_clock; }

void tier_options_init(tier_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->budget = (size_t)64 << 20;
    opt->policy = TIER_HYBRID;
    opt->half_life_ms = 60000;
    opt->ghost_slots = 1024;
    opt->write_slots = 4096;
}

size_t tier_entry_charge(size_t coll_len, size_t id_len, size_t doc_len)
{
    return sizeof(tier_entry) + coll_len + id_len + doc_len + TIER_ALLOC_OVERHEAD;
}

uint64_t tier_key_hash(const tier *t, const tier_key *key)
{
    uint64_t h = hash64(key->coll_len ? key->coll : "", key->coll_len, t->seed);
    return hash64(key->id_len ? key->id : "", key->id_len, h);
}

static int check_key(const tier_key *key)
{
    if (key->coll_len > TIER_MAX_KEY_PART || key->id_len > TIER_MAX_KEY_PART)
        return diag_set(BURROW_EINVAL, "hot tier: key part of %zu bytes (at most %u)",
                        key->coll_len > key->id_len ? key->coll_len : key->id_len,
                        TIER_MAX_KEY_PART);
    return 0;
}

int tier_create(const tier_options *opt, tier **out)
{
    tier_options def;
    if (!opt) {
        tier_options_init(&def);
        opt = &def;
    }
    *out = NULL;
    if (opt->policy < TIER_LRU || opt->policy > TIER_HYBRID)
        return diag_set(BURROW_EINVAL, "hot tier: unknown policy %d", opt->policy);
    if (opt->half_life_ms < 1 || opt->half_life_ms > ((uint64_t)1 << 40))
        return diag_set(BURROW_EINVAL, "hot tier: half-life of %llu ms (1 ms .. 2^40 ms)",
                        (unsigned long long)opt->half_life_ms);
    const tier_clock *clk = opt->clock ? opt->clock : tier_clock_default();
    if (!clk->mono_ms || !clk->wall_ms)
        return diag_set(BURROW_EINVAL, "hot tier: clock without a function");
    tier *t = calloc(1, sizeof *t);
    if (!t)
        return BURROW_ENOMEM;
    t->unlocked = (opt->flags & TIER_UNLOCKED) != 0;
    if (!t->unlocked && pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t);
        return BURROW_ENOMEM;
    }
    t->policy = opt->policy;
    t->half_life_ms = opt->half_life_ms;
    t->ln2_per_ms = M_LN2 * 1000.0 / (double)opt->half_life_ms;
    t->rules = opt->rules;
    t->clock = *clk;
    t->budget = opt->budget;
    t->fixed_bytes = sizeof *t;
    t->seed = opt->hash_seed;
    if (!t->seed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t mix[3] = {(uint64_t)(uintptr_t)t, (uint64_t)ts.tv_nsec, (uint64_t)ts.tv_sec};
        t->seed = hash64(mix, sizeof mix, 0x9E3779B97F4A7C15ull) | 1;
    }
    int rc = rules_init(t, opt);
    if (rc) {
        if (!t->unlocked)
            pthread_mutex_destroy(&t->lock);
        free(t);
        return rc;
    }
    policy_init(t, tier_mono(t));
    *out = t;
    return 0;
}

void tier_destroy(tier *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nbuckets; i++) {
        tier_entry *e = t->buckets[i];
        while (e) {
            tier_entry *next = e->hnext;
            free(e);
            e = next;
        }
    }
    free(t->buckets);
    free(t->heap);
    rules_free(t);
    if (!t->unlocked)
        pthread_mutex_destroy(&t->lock);
    free(t);
}

/* ---- hash index ---------------------------------------------------------------- */

static inline size_t table_bytes_for(size_t nb)
{
    return nb ? nb * sizeof(tier_entry *) + TIER_ALLOC_OVERHEAD : 0;
}

static int table_resize(tier *t, size_t nb)
{
    tier_entry **nt = NULL;
    if (nb) {
        nt = calloc(nb, sizeof *nt);
        if (!nt)
            return BURROW_ENOMEM;
        for (size_t i = 0; i < t->nbuckets; i++) {
            tier_entry *e = t->buckets[i];
            while (e) {
                tier_entry *next = e->hnext;
                size_t j = e->hash & (nb - 1);
                e->hnext = nt[j];
                nt[j] = e;
                e = next;
            }
        }
    }
    free(t->buckets);
    t->buckets = nt;
    t->nbuckets = nb;
    size_t bytes = table_bytes_for(nb);
    t->used = t->used - t->table_bytes + bytes;
    t->index_bytes = t->index_bytes - t->table_bytes + bytes;
    t->table_bytes = bytes;
    return 0;
}

static inline bool key_equal(const tier_entry *e, const tier_key *k)
{
    return e->coll_len == k->coll_len && e->id_len == k->id_len &&
           (!k->coll_len || memcmp(e->key, k->coll, k->coll_len) == 0) &&
           (!k->id_len || memcmp(e->key + e->coll_len, k->id, k->id_len) == 0);
}

static inline tier_entry *table_lookup(const tier *t, const tier_key *k, uint64_t h)
{
    if (!t->buckets)
        return NULL;
    for (tier_entry *e = t->buckets[h & (t->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && key_equal(e, k))
            return e;
    return NULL;
}

static inline tier_entry **table_slot_of(tier *t, const tier_entry *e)
{
    tier_entry **p = &t->buckets[e->hash & (t->nbuckets - 1)];
    while (*p != e)
        p = &(*p)->hnext;
    return p;
}

static inline bool entry_expired(const tier *t, const tier_entry *e)
{
    return e->heap_index != TIER_NO_HEAP && tier_wall(t) >= t->heap[e->heap_index].expires_at;
}

tier_entry *tier_find_live(tier *t, const tier_key *key, uint64_t h)
{
    tier_entry *e = table_lookup(t, key, h);
    if (e && entry_expired(t, e)) {
        tier_remove(t, e, TIER_R_EXPIRE);
        e = NULL;
    }
    return e;
}

/* ---- removal and room ------------------------------------------------------------ */

void tier_shrink(tier *t)
{
    if (t->reserving)
        return;
    if (t->count == 0) {
        if (t->buckets)
            table_resize(t, 0);
    } else {
        size_t nb = t->nbuckets;
        while (nb > TIER_MIN_BUCKETS && t->count * 4 < nb)
            nb /= 2;
        if (nb != t->nbuckets)
            table_resize(t, nb); /* on failure the bigger table stays, accounted */
    }
    heap_shrink(t);
}

void tier_remove(tier *t, tier_entry *e, enum tier_reason why)
{
    tier_entry **p = table_slot_of(t, e);
    *p = e->hnext;
    size_t c = entry_charge(e);
    if (e->pinned) {
        t->npinned--;
        t->pinned_bytes -= c;
    } else {
        policy_unlink(t, e);
    }
    if (e->heap_index != TIER_NO_HEAP)
        heap_remove(t, e);
    t->count--;
    t->entry_bytes -= c;
    t->used -= c;
    switch (why) {
    case TIER_R_EVICT: t->evictions++; break;
    case TIER_R_DEMOTE: t->demotions++; break;
    case TIER_R_EXPIRE: t->expirations++; break;
    case TIER_R_INVALIDATE: t->invalidations++; break;
    }
    free(e);
    tier_shrink(t);
}

/* Whether evicting every unpinned entry but keep leaves room for need. */
static bool room_possible(const tier *t, size_t need, const tier_entry *keep)
{
    size_t evictable = t->entry_bytes - t->pinned_bytes;
    if (keep && !keep->pinned)
        evictable -= entry_charge(keep);
    return need <= t->budget && t->used - evictable <= t->budget - need;
}

static void make_room(tier *t, size_t need, const tier_entry *keep)
{
    while (t->used > t->budget - need) {
        tier_entry *v = policy_victim(t, keep);
        if (!v)
            break; /* room_possible said this cannot happen */
        tier_remove(t, v, TIER_R_EVICT);
    }
}

static void collect_expired(tier *t, const tier_entry *keep)
{
    if (!t->heap_len)
        return;
    uint64_t now = tier_wall(t);
    tier_entry *e;
    while ((e = heap_expired_top(t, now)) != NULL && e != keep)
        tier_remove(t, e, TIER_R_EXPIRE);
}

int tier_reserve(tier *t, size_t need, const tier_entry *keep)
{
    t->reserving = true;
    if (!room_possible(t, need, keep)) {
        collect_expired(t, keep);
        if (!room_possible(t, need, keep)) {
            t->refused_full++;
            return diag_set(BURROW_EFULL,
                            "hot tier: %zu more bytes do not fit in the budget of %zu "
                            "(%zu pinned, %zu in indexes)",
                            need, t->budget, t->pinned_bytes, t->index_bytes);
        }
    }
    make_room(t, need, keep);
    return 0;
}

void tier_reserve_end(tier *t)
{
    t->reserving = false;
    tier_shrink(t);
}

/* Double the table when entries outnumber buckets, if the room can be
 * made without evicting keep; else leave it (chains get longer). */
static void grow_table(tier *t, const tier_entry *keep)
{
    if (t->count <= t->nbuckets || t->nbuckets > (SIZE_MAX / sizeof(tier_entry *)) / 4)
        return;
    size_t delta = table_bytes_for(t->nbuckets * 2) - t->table_bytes;
    if (!room_possible(t, delta, keep))
        return;
    make_room(t, delta, keep);
    table_resize(t, t->nbuckets * 2); /* on failure: stays as it is */
}

/* ---- insertion and replacement -------------------------------------------------- */

static void pin_entry(tier *t, tier_entry *e)
{
    if (e->pinned)
        return;
    policy_unlink(t, e);
    e->pinned = true;
    t->npinned++;
    t->pinned_bytes += entry_charge(e);
}

static void unpin_entry(tier *t, tier_entry *e, uint64_t now)
{
    if (!e->pinned)
        return;
    e->pinned = false;
    t->npinned--;
    t->pinned_bytes -= entry_charge(e);
    policy_relink(t, e, now);
}

/* A new entry. expires_at: 0 or a future wall time. */
static int entry_insert(tier *t, const tier_key *k, uint64_t h, const void *doc, size_t len,
                        uint64_t valid_from, uint64_t expires_at, bool pin, uint64_t now)
{
    size_t charge = tier_entry_charge(k->coll_len, k->id_len, len);
    size_t need = charge + (t->buckets ? 0 : table_bytes_for(TIER_MIN_BUCKETS)) +
                  (expires_at ? heap_growth(t) : 0);
    tier_entry *e = NULL;
    int rc = tier_reserve(t, need, NULL);
    if (rc == 0 && !t->buckets)
        rc = table_resize(t, TIER_MIN_BUCKETS);
    if (rc == 0 && expires_at)
        rc = heap_reserve_one(t);
    if (rc == 0 && !(e = malloc(charge - TIER_ALLOC_OVERHEAD)))
        rc = BURROW_ENOMEM;
    if (rc) {
        tier_reserve_end(t);
        return rc == BURROW_ENOMEM ? diag_set(rc, "hot tier: out of memory") : rc;
    }
    memset(e, 0, sizeof *e);
    e->hash = h;
    e->valid_from = valid_from;
    e->last_access_ms = now;
    e->count = 1.0;
    e->doc_len = (uint32_t)len;
    e->heap_index = TIER_NO_HEAP;
    e->coll_len = (uint16_t)k->coll_len;
    e->id_len = (uint16_t)k->id_len;
    e->pinned = pin;
    if (k->coll_len)
        memcpy(e->key, k->coll, k->coll_len);
    if (k->id_len)
        memcpy(e->key + k->coll_len, k->id, k->id_len);
    if (len)
        memcpy(e->key + k->coll_len + k->id_len, doc, len);
    tier_entry **b = &t->buckets[h & (t->nbuckets - 1)];
    e->hnext = *b;
    *b = e;
    t->count++;
    t->entry_bytes += charge;
    t->used += charge;
    if (pin) {
        t->npinned++;
        t->pinned_bytes += charge;
    }
    policy_link_new(t, e, now);
    if (expires_at)
        heap_set(t, e, expires_at);
    t->promotions++;
    ghost_forget(t, h);
    grow_table(t, e);
    tier_reserve_end(t);
    return 0;
}

/* New document for a cached entry; statistics, positions and pin stay.
 * expires_at: 0 (clear), TIER_TTL_KEEP, or a future wall time. */
static int entry_replace(tier *t, tier_entry *e, const void *doc, size_t len, uint64_t valid_from,
                         uint64_t expires_at, bool pin)
{
    size_t oldc = entry_charge(e), newc = tier_entry_charge(e->coll_len, e->id_len, len);
    bool new_node = expires_at != 0 && expires_at != TIER_TTL_KEEP && e->heap_index == TIER_NO_HEAP;
    size_t need = (newc > oldc ? newc - oldc : 0) + (new_node ? heap_growth(t) : 0);
    int rc = tier_reserve(t, need, e);
    if (rc == 0 && new_node)
        rc = heap_reserve_one(t);
    if (rc == 0 && len != e->doc_len) {
        size_t head = sizeof *e + e->coll_len + e->id_len;
        tier_entry *n = malloc(newc - TIER_ALLOC_OVERHEAD);
        if (!n) {
            rc = diag_set(BURROW_ENOMEM, "hot tier: out of memory");
        } else {
            memcpy(n, e, head);
            *table_slot_of(t, e) = n;
            policy_moved(t, n);
            if (n->heap_index != TIER_NO_HEAP)
                t->heap[n->heap_index].e = n;
            free(e);
            e = n;
            e->doc_len = (uint32_t)len;
            t->entry_bytes = t->entry_bytes - oldc + newc;
            t->used = t->used - oldc + newc;
            if (e->pinned)
                t->pinned_bytes = t->pinned_bytes - oldc + newc;
        }
    }
    if (rc == 0) {
        if (len)
            memcpy(e->key + e->coll_len + e->id_len, doc, len);
        e->valid_from = valid_from;
        if (expires_at == 0) {
            if (e->heap_index != TIER_NO_HEAP)
                heap_remove(t, e);
        } else if (expires_at != TIER_TTL_KEEP) {
            heap_set(t, e, expires_at);
        }
        if (pin)
            pin_entry(t, e);
    }
    tier_reserve_end(t);
    return rc;
}

static int check_put(const tier_key *key, size_t len)
{
    int rc = check_key(key);
    if (rc == 0 && len > TIER_MAX_DOC_SIZE)
        rc = diag_set(BURROW_EINVAL, "hot tier: document of %zu bytes", len);
    return rc;
}

int tier_put(tier *t, const tier_key *key, const void *doc, size_t len, uint64_t commit,
             uint64_t expires_at, unsigned flags)
{
    int rc = check_put(key, len);
    if (rc)
        return rc;
    uint64_t h = tier_key_hash(t, key), now = tier_mono(t);
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    writes_record(t, h, commit);
    if (writes_bound(t, h) > commit) {
        t->refused_stale++;
    } else if (expires_at != 0 && expires_at != TIER_TTL_KEEP && expires_at <= tier_wall(t)) {
        if (e)
            tier_remove(t, e, TIER_R_EXPIRE);
    } else if (e) {
        rc = entry_replace(t, e, doc, len, commit, expires_at, flags & TIER_PIN);
        rc = rc ? rc : 1;
    } else {
        rc = entry_insert(t, key, h, doc, len, commit, expires_at == TIER_TTL_KEEP ? 0 : expires_at,
                          flags & TIER_PIN, now);
        rc = rc ? rc : 1;
    }
    tier_unlock(t);
    return rc;
}

int tier_admit(tier *t, const tier_key *key, const void *doc, size_t len, uint64_t snapshot,
               uint64_t expires_at, unsigned flags)
{
    int rc = check_put(key, len);
    if (rc)
        return rc;
    if (expires_at == TIER_TTL_KEEP)
        expires_at = 0;
    uint64_t h = tier_key_hash(t, key), now = tier_mono(t);
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    uint64_t bound = writes_bound(t, h);
    if (bound > snapshot) {
        t->refused_stale++;
    } else if (e) {
        if (flags & TIER_PIN)
            pin_entry(t, e);
        rc = 1;
    } else if (!(flags & TIER_FORCE) && !ghost_should_promote(t, h, now)) {
        t->refused_declined++;
    } else if (expires_at != 0 && expires_at <= tier_wall(t)) {
        /* already expired: nothing to cache */
    } else {
        rc = entry_insert(t, key, h, doc, len, bound, expires_at, flags & TIER_PIN, now);
        rc = rc ? rc : 1;
    }
    tier_unlock(t);
    return rc;
}

int tier_should_promote(tier *t, const tier_key *key)
{
    uint64_t h = tier_key_hash(t, key), now = tier_mono(t);
    tier_lock(t);
    bool yes = ghost_should_promote(t, h, now);
    tier_unlock(t);
    return yes;
}

/* ---- reads ----------------------------------------------------------------------- */

/* The entry a reader at snapshot may use, or NULL after counting a miss. */
static inline tier_entry *read_lookup(tier *t, const tier_key *k, uint64_t h, uint64_t snapshot,
                                      uint64_t now)
{
    tier_entry *e = table_lookup(t, k, h);
    if (e && e->heap_index != TIER_NO_HEAP && entry_expired(t, e)) {
        tier_remove(t, e, TIER_R_EXPIRE);
        e = NULL;
    }
    if (!e || e->valid_from > snapshot) {
        t->misses++;
        ghost_record(t, h, now);
        return NULL;
    }
    return e;
}

int tier_get(tier *t, const tier_key *key, uint64_t snapshot, buf *out)
{
    uint64_t h = tier_key_hash(t, key), now = tier_mono(t);
    int rc = 0;
    tier_lock(t);
    tier_entry *e = read_lookup(t, key, h, snapshot, now);
    if (!e) {
        rc = BURROW_ENOTFOUND;
    } else {
        out->size = 0;
        rc = buf_reserve(out, e->doc_len);
        if (rc == 0) {
            if (e->doc_len)
                memcpy(out->data, entry_doc(e), e->doc_len);
            out->size = e->doc_len;
            policy_touch(t, e, now);
            t->hits++;
        }
    }
    tier_unlock(t);
    return rc;
}

int tier_visit(tier *t, const tier_key *key, uint64_t snapshot,
               int (*fn)(void *ctx, const uint8_t *doc, size_t len), void *ctx)
{
    uint64_t h = tier_key_hash(t, key), now = tier_mono(t);
    int rc;
    tier_lock(t);
    tier_entry *e = read_lookup(t, key, h, snapshot, now);
    if (!e) {
        rc = BURROW_ENOTFOUND;
    } else {
        policy_touch(t, e, now);
        t->hits++;
        rc = fn(ctx, entry_doc(e), e->doc_len);
    }
    tier_unlock(t);
    return rc;
}

/* ---- invalidation and manual control ------------------------------------------- */

int tier_invalidate(tier *t, const tier_key *key, uint64_t commit)
{
    uint64_t h = tier_key_hash(t, key);
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    writes_record(t, h, commit);
    if (e)
        tier_remove(t, e, TIER_R_INVALIDATE);
    tier_unlock(t);
    return e != NULL;
}

/* Remove every entry for which match(e, arg) holds, counted as why. */
static size_t remove_all(tier *t, bool (*match)(const tier_entry *, const void *), const void *arg,
                         enum tier_reason why)
{
    size_t n = 0;
    t->reserving = true; /* keep the table still while walking it */
    for (size_t i = 0; i < t->nbuckets; i++) {
        tier_entry *e = t->buckets[i];
        while (e) {
            tier_entry *next = e->hnext;
            if (!match || match(e, arg)) {
                tier_remove(t, e, why);
                n++;
            }
            e = next;
        }
    }
    tier_reserve_end(t);
    return n;
}

typedef struct coll_arg {
    const void *coll;
    size_t len;
} coll_arg;

static bool in_coll(const tier_entry *e, const void *arg)
{
    const coll_arg *c = arg;
    return e->coll_len == c->len && (!c->len || memcmp(e->key, c->coll, c->len) == 0);
}

size_t tier_invalidate_coll(tier *t, const void *coll, size_t coll_len, uint64_t commit)
{
    coll_arg arg = {coll, coll_len};
    tier_lock(t);
    writes_raise_floor(t, commit);
    size_t n = remove_all(t, in_coll, &arg, TIER_R_INVALIDATE);
    tier_unlock(t);
    return n;
}

void tier_clear(tier *t)
{
    tier_lock(t);
    remove_all(t, NULL, NULL, TIER_R_DEMOTE);
    tier_unlock(t);
}

int tier_demote(tier *t, const tier_key *key)
{
    uint64_t h = tier_key_hash(t, key);
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    if (e)
        tier_remove(t, e, TIER_R_DEMOTE);
    tier_unlock(t);
    return e != NULL;
}

int tier_pin(tier *t, const tier_key *key)
{
    uint64_t h = tier_key_hash(t, key);
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    if (e)
        pin_entry(t, e);
    tier_unlock(t);
    return e ? 0 : BURROW_ENOTFOUND;
}

int tier_unpin(tier *t, const tier_key *key)
{
    uint64_t h = tier_key_hash(t, key), now = tier_mono(t);
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    if (e)
        unpin_entry(t, e, now);
    tier_unlock(t);
    return e ? 0 : BURROW_ENOTFOUND;
}

/* ---- settings ------------------------------------------------------------------------ */

/* Index bytes left once every unpinned entry is gone (tier_shrink's rules
 * applied to what would remain). */
static size_t pinned_index_bytes(const tier *t)
{
    size_t bytes = 0;
    if (t->npinned) {
        size_t nb = t->nbuckets;
        while (nb > TIER_MIN_BUCKETS && t->npinned * 4 < nb)
            nb /= 2;
        bytes += table_bytes_for(nb);
    }
    uint32_t m = 0;
    for (uint32_t i = 0; i < t->heap_len; i++)
        m += t->heap[i].e->pinned;
    if (m) {
        uint32_t cap = t->heap_cap;
        while (cap > 4 && m <= cap / 4)
            cap /= 2;
        bytes += (size_t)cap * sizeof(tier_heap_node) + TIER_ALLOC_OVERHEAD;
    }
    return bytes;
}

int tier_set_budget(tier *t, size_t budget)
{
    int rc = 0;
    tier_lock(t);
    if (t->used > budget) {
        size_t min = t->pinned_bytes + pinned_index_bytes(t);
        if (min > budget) {
            rc = diag_set(BURROW_EBUSY,
                          "hot tier: pinned entries and their indexes hold %zu bytes, more "
                          "than a budget of %zu",
                          min, budget);
            goto out;
        }
        tier_entry *v;
        while (t->used > budget && (v = policy_victim(t, NULL)) != NULL)
            tier_remove(t, v, TIER_R_EVICT);
        if (t->used > budget) {
            rc = diag_set(BURROW_ENOMEM, "hot tier: could not shrink its indexes");
            goto out;
        }
    }
    t->budget = budget;
out:
    tier_unlock(t);
    return rc;
}

int tier_set_policy(tier *t, int policy)
{
    if (policy < TIER_LRU || policy > TIER_HYBRID)
        return diag_set(BURROW_EINVAL, "hot tier: unknown policy %d", policy);
    tier_lock(t);
    t->policy = policy;
    tier_unlock(t);
    return 0;
}

void tier_set_rules(tier *t, const tier_rules *rules)
{
    tier_lock(t);
    t->rules = *rules;
    tier_unlock(t);
}

/* ---- statistics ------------------------------------------------------------------------ */

static void entry_stats(const tier *t, const tier_entry *e, uint64_t now, tier_entry_stats *out)
{
    out->accesses = e->accesses;
    out->last_access_ms = e->last_access_ms;
    out->last_use_ms = e->last_use_ms;
    out->count = policy_decay(t, e->count, e->last_access_ms, now);
    out->frequency = out->count * t->ln2_per_ms;
    out->lfu_class = e->lfu_class;
    out->use_seq = e->use_seq;
    out->valid_from = e->valid_from;
    out->expires_at = entry_expiry(t, e);
    out->bytes = entry_charge(e);
    out->doc_len = e->doc_len;
    out->pinned = e->pinned;
}

int tier_entry_stat(tier *t, const tier_key *key, tier_entry_stats *out)
{
    uint64_t h = tier_key_hash(t, key), now = tier_mono(t);
    tier_lock(t);
    tier_entry *e = tier_find_live(t, key, h);
    if (e)
        entry_stats(t, e, now, out);
    tier_unlock(t);
    return e ? 0 : BURROW_ENOTFOUND;
}

void tier_stats_get(tier *t, tier_stats *out)
{
    tier_lock(t);
    *out = (tier_stats){
        .hits = t->hits,
        .misses = t->misses,
        .promotions = t->promotions,
        .demotions = t->demotions,
        .evictions = t->evictions,
        .expirations = t->expirations,
        .invalidations = t->invalidations,
        .refused_stale = t->refused_stale,
        .refused_declined = t->refused_declined,
        .refused_full = t->refused_full,
        .entries = t->count,
        .pinned = t->npinned,
        .bytes_used = t->used,
        .budget = t->budget,
        .entry_bytes = t->entry_bytes,
        .index_bytes = t->index_bytes,
        .pinned_bytes = t->pinned_bytes,
        .fixed_bytes = t->fixed_bytes,
        .buckets = t->nbuckets,
        .policy = t->policy,
        .write_floor = t->write_floor > t->coll_floor ? t->write_floor : t->coll_floor,
        .last_commit = t->last_commit,
        .hit_ratio = t->hits + t->misses ? (double)t->hits / (double)(t->hits + t->misses) : 0.0,
    };
    tier_unlock(t);
}

void tier_foreach(tier *t, void (*fn)(void *ctx, const tier_key *key, const tier_entry_stats *st),
                  void *ctx)
{
    tier_lock(t);
    uint64_t now = tier_mono(t);
    for (size_t i = 0; i < t->nbuckets; i++) {
        for (tier_entry *e = t->buckets[i]; e; e = e->hnext) {
            tier_entry_stats st;
            entry_stats(t, e, now, &st);
            tier_key k = {e->key, e->coll_len, e->key + e->coll_len, e->id_len};
            fn(ctx, &k, &st);
        }
    }
    tier_unlock(t);
}

int tier_check(tier *t)
{
    int rc = 0;
    tier_lock(t);
    size_t n = 0, pinned = 0, bytes = 0, pbytes = 0, ttl = 0;
    if ((t->buckets == NULL) != (t->nbuckets == 0) || (t->nbuckets & (t->nbuckets - 1)) ||
        (t->nbuckets && t->nbuckets < TIER_MIN_BUCKETS) ||
        t->table_bytes != table_bytes_for(t->nbuckets)) {
        rc = diag_set(BURROW_ECORRUPT, "tier: hash table sizes wrong");
        goto out;
    }
    for (size_t i = 0; i < t->nbuckets && rc == 0; i++) {
        for (tier_entry *e = t->buckets[i]; e; e = e->hnext) {
            tier_key k = {e->key, e->coll_len, e->key + e->coll_len, e->id_len};
            if (e->hash != tier_key_hash(t, &k) || (e->hash & (t->nbuckets - 1)) != i) {
                rc = diag_set(BURROW_ECORRUPT, "tier: entry in bucket %zu has a wrong hash", i);
                break;
            }
            if (++n > t->count) {
                rc = diag_set(BURROW_ECORRUPT, "tier: more entries than counted");
                break;
            }
            bytes += entry_charge(e);
            pinned += e->pinned;
            pbytes += e->pinned ? entry_charge(e) : 0;
            if (e->heap_index != TIER_NO_HEAP) {
                ttl++;
                if (e->heap_index >= t->heap_len || t->heap[e->heap_index].e != e) {
                    rc = diag_set(BURROW_ECORRUPT, "tier: entry's heap index wrong");
                    break;
                }
            }
        }
    }
    if (rc)
        goto out;
    if (n != t->count || pinned != t->npinned || bytes != t->entry_bytes ||
        pbytes != t->pinned_bytes)
        rc = diag_set(BURROW_ECORRUPT, "tier: counts wrong: %zu/%zu entries, %zu/%zu pinned, "
                      "%zu/%zu bytes, %zu/%zu pinned bytes",
                      n, t->count, pinned, t->npinned, bytes, t->entry_bytes, pbytes,
                      t->pinned_bytes);
    else if (ttl != t->heap_len)
        rc = diag_set(BURROW_ECORRUPT, "tier: %zu entries with a TTL, heap has %u", ttl,
                      t->heap_len);
    else if (t->index_bytes != t->table_bytes + t->heap_bytes)
        rc = diag_set(BURROW_ECORRUPT, "tier: index bytes wrong");
    else if (t->used != t->entry_bytes + t->index_bytes)
        rc = diag_set(BURROW_ECORRUPT, "tier: bytes used %zu != entries %zu + indexes %zu", t->used,
                      t->entry_bytes, t->index_bytes);
    else if (t->used > t->budget)
        rc = diag_set(BURROW_ECORRUPT, "tier: %zu bytes used over a budget of %zu", t->used,
                      t->budget);
    else if (t->reserving)
        rc = diag_set(BURROW_ECORRUPT, "tier: a reservation was left open");
    if (rc == 0)
        rc = heap_check(t);
    if (rc == 0)
        rc = policy_check(t);
out:
    tier_unlock(t);
    return rc;
}
