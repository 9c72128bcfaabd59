/*
 * tier_int.h — the hot tier's internal structures, shared by its files
 * (cache.c, policy.c, expire.c, rules.c). tier.h holds the contract.
 */
#ifndef BURROW_TIER_INT_H
#define BURROW_TIER_INT_H

#include <pthread.h>

#include "tier/tier.h"

/* An intrusive circular doubly-linked list node; a list is a sentinel node
 * whose next is the most recently used end and prev the victim end. */
typedef struct tier_link {
    struct tier_link *prev, *next;
} tier_link;

#define TIER_NO_HEAP UINT32_MAX

/* One cached document: header, then coll bytes, id bytes, doc bytes, in
 * one malloc block of tier_entry_charge() - TIER_ALLOC_OVERHEAD bytes. */
typedef struct tier_entry {
    struct tier_entry *hnext; /* hash chain */
    tier_link lru;            /* recency list (unpinned only) */
    tier_link lfu;            /* list of its LFU class (unpinned only) */
    uint64_t hash;
    uint64_t valid_from;
    uint64_t last_access_ms;  /* also the time of count */
    uint64_t last_use_ms;
    uint64_t use_seq;
    uint64_t accesses;
    double count;             /* decayed access count at last_access_ms */
    int64_t lfu_class;
    uint32_t doc_len;
    uint32_t heap_index;      /* TIER_NO_HEAP: no TTL */
    uint16_t coll_len, id_len;
    bool pinned;
    uint8_t key[];            /* coll, id, doc */
} tier_entry;

static inline const uint8_t *entry_doc(const tier_entry *e)
{
    return e->key + e->coll_len + e->id_len;
}

typedef struct tier_heap_node {
    uint64_t expires_at;
    uint64_t seq;
    tier_entry *e;
} tier_heap_node;

typedef struct ghost_slot {
    uint64_t hash;
    uint64_t last_ms;
    double count;
    uint32_t misses; /* 0: free slot */
    uint32_t pad;
} ghost_slot;

typedef struct write_slot {
    uint64_t hash;
    uint64_t commit; /* 0 with hash 0: never used */
} write_slot;

/* Why an entry leaves: picks the counter. */
enum tier_reason {
    TIER_R_EVICT,
    TIER_R_DEMOTE,
    TIER_R_EXPIRE,
    TIER_R_INVALIDATE,
};

struct tier {
    pthread_mutex_t lock;
    bool unlocked;
    int policy;
    uint64_t half_life_ms;
    double ln2_per_ms;  /* frequency per second = count * ln2 * 1000 / H */
    tier_rules rules;
    tier_clock clock;
    uint64_t seed;

    /* hash index */
    tier_entry **buckets; /* NULL when no entry */
    size_t nbuckets;      /* power of two; 0 with buckets NULL */
    size_t count, npinned;

    /* accounting */
    size_t budget, used, entry_bytes, index_bytes, pinned_bytes, table_bytes, heap_bytes;
    bool reserving; /* removals now are making room: shrink later */

    /* policy.c */
    tier_link lru;
    tier_link lfu[TIER_LFU_CLASSES];
    uint64_t lfu_map;       /* bit i: lfu[i] is not empty */
    int64_t lfu_base;       /* class of the bottom list */
    int64_t epoch;          /* floor(now / H) as last seen */
    uint64_t epoch_end_ms;  /* (epoch + 1) * H */
    uint64_t use_seq;

    /* expire.c */
    tier_heap_node *heap;
    uint32_t heap_len, heap_cap;
    uint64_t ttl_seq;

    /* rules.c */
    ghost_slot *ghost;
    uint32_t ghost_set_mask; /* sets of 4 slots */
    write_slot *writes;
    uint32_t write_mask;
    uint64_t write_floor; /* covers records dropped from the table */
    uint64_t coll_floor;  /* covers every key: initial commit, invalidate_coll */
    uint64_t last_commit;

    /* counters */
    uint64_t hits, misses, promotions, demotions, evictions, expirations, invalidations;
    uint64_t refused_stale, refused_declined, refused_full;
    size_t fixed_bytes;
};

static inline void tier_lock(tier *t)
{
    if (!t->unlocked)
        pthread_mutex_lock(&t->lock);
}

static inline void tier_unlock(tier *t)
{
    if (!t->unlocked)
        pthread_mutex_unlock(&t->lock);
}

static inline uint64_t tier_mono(const tier *t) { return t->clock.mono_ms(t->clock.ctx); }
static inline uint64_t tier_wall(const tier *t) { return t->clock.wall_ms(t->clock.ctx); }

static inline size_t entry_charge(const tier_entry *e)
{
    return tier_entry_charge(e->coll_len, e->id_len, e->doc_len);
}

/* ---- cache.c ------------------------------------------------------------ */

/* The live entry for key (hash h): an expired one is removed (counted as
 * an expiration) and NULL returned. */
tier_entry *tier_find_live(tier *t, const tier_key *key, uint64_t h);
/* Reserve need bytes for an insertion or growth (never evicting keep):
 * sets reserving, collects expired entries when the room is otherwise not
 * there, evicts victims. 0 or BURROW_EFULL (counted). Always pair with
 * tier_reserve_end, which ends the reservation and shrinks what is due. */
int tier_reserve(tier *t, size_t need, const tier_entry *keep);
void tier_reserve_end(tier *t);

/* Remove e: index, lists, heap, accounting, counter for why; frees it. */
void tier_remove(tier *t, tier_entry *e, enum tier_reason why);
/* Shrink the hash table and heap when due (not while reserving). */
void tier_shrink(tier *t);

/* ---- policy.c ----------------------------------------------------------- */

void policy_init(tier *t, uint64_t now);
/* Decayed value of count from time `from` to `to`. */
double policy_decay(const tier *t, double count, uint64_t from, uint64_t to);
/* Bring the LFU window forward to now's epoch. */
void policy_advance(tier *t, uint64_t now);
/* A new entry (count, times set by the caller): link it as used now. */
void policy_link_new(tier *t, tier_entry *e, uint64_t now);
/* A hit on e at now: statistics and positions. */
void policy_touch(tier *t, tier_entry *e, uint64_t now);
/* Take e off the lists (pin, removal) / put it back (unpin). */
void policy_unlink(tier *t, tier_entry *e);
void policy_relink(tier *t, tier_entry *e, uint64_t now);
/* e's list neighbours moved: e was at old's place (relocation). */
void policy_moved(tier *t, tier_entry *e);
/* The next victim under the policy, not keep; NULL when none. */
tier_entry *policy_victim(tier *t, const tier_entry *keep);
/* The lists' invariants (policy.c's header), for tier_check. */
int policy_check(tier *t);

/* ---- expire.c ----------------------------------------------------------- */

/* Bytes the heap would grow by to take one more node (0 when it has room). */
size_t heap_growth(const tier *t);
/* Make sure one more node fits without growing: 0 or BURROW_ENOMEM. */
int heap_reserve_one(tier *t);
/* Set e's expiry (nonzero; a new node needs heap_reserve_one first) /
 * remove it from the heap. */
void heap_set(tier *t, tier_entry *e, uint64_t expires_at);
void heap_remove(tier *t, tier_entry *e);
void heap_shrink(tier *t);
static inline uint64_t entry_expiry(const tier *t, const tier_entry *e)
{
    return e->heap_index == TIER_NO_HEAP ? 0 : t->heap[e->heap_index].expires_at;
}
/* The expired entry with the smallest (expiry, seq), or NULL. */
tier_entry *heap_expired_top(tier *t, uint64_t wall_now);
int heap_check(tier *t);

/* ---- rules.c ------------------------------------------------------------ */

int rules_init(tier *t, const tier_options *opt);
void rules_free(tier *t);
void ghost_record(tier *t, uint64_t hash, uint64_t now);
void ghost_forget(tier *t, uint64_t hash);
bool ghost_should_promote(tier *t, uint64_t hash, uint64_t now);
/* Record that commit wrote the key with this hash. */
void writes_record(tier *t, uint64_t hash, uint64_t commit);
/* W(key): a bound on the newest commit known to have written the key. */
uint64_t writes_bound(const tier *t, uint64_t hash);
void writes_raise_floor(tier *t, uint64_t commit);

#endif
