/*
 * tier.h — the hot tier: a RAM cache of binary documents (doc.h format)
 * keyed by (collection, id), with an exact byte budget, access statistics,
 * LRU / LFU / HYBRID eviction, promotion and demotion rules, TTLs and the
 * bookkeeping that keeps it coherent with committed data.
 *
 * tier/ sits above doc/ and below query/. It treats documents as opaque
 * bytes (the layer above has validated them) and knows nothing of files or
 * transactions: it is told commit ids and snapshot ids as plain numbers.
 * The file stays the source of truth: dropping an entry (eviction,
 * demotion, expiry, invalidation) only drops the RAM copy.
 *
 * Files: cache.c (entries, hash index, budget, the public operations),
 * policy.c (recency list, LFU classes, victims, decaying frequency, idle
 * demotion), expire.c (TTL heap and sweep), rules.c (missed-key table and
 * promotion rule, recent-writes table and coherence bounds).
 *
 * ===========================================================================
 * MEMORY ACCOUNTING
 *
 * bytes_used = entry_bytes + index_bytes, and bytes_used <= budget after
 * every operation (each public call is one operation).
 *  - An entry is one malloc block: the entry header, the key bytes and the
 *    document bytes. Its charge is tier_entry_charge(coll_len, id_len,
 *    doc_len) = sizeof header + coll_len + id_len + doc_len +
 *    TIER_ALLOC_OVERHEAD (the allocator's own header and rounding, counted
 *    as a flat 16 bytes per block). entry_bytes is the sum of the charges.
 *  - index_bytes are the structures that grow with the entries: the hash
 *    table (8 bytes a bucket) and the TTL heap (24 bytes a slot), each
 *    counted at its allocated capacity plus TIER_ALLOC_OVERHEAD. Both are
 *    allocated on first need and freed when empty, so an empty tier uses 0
 *    bytes and a budget of 0 turns the tier off (every insert is refused).
 *  - Not in the budget, bounded separately and fixed at creation: the tier
 *    handle with its 64 LFU list heads, the missed-key ("ghost") table
 *    (TIER_GHOST_SLOT_SIZE bytes a slot) and the recent-writes table
 *    (TIER_WRITE_SLOT_SIZE bytes a slot); tier_stats.fixed_bytes says how
 *    much.
 *
 * An insert needs its entry's charge, plus the hash table when it does not
 * exist yet, plus the next heap capacity step when it carries a TTL and
 * the heap is full. If the bytes pinned entries and the indexes hold leave
 * no room for that even with every other entry gone, the insert is refused
 * with BURROW_EFULL and nothing changes. Otherwise victims are evicted, in
 * policy order, until it fits. (Expired entries are collected first when
 * the budget would otherwise refuse.) The hash table doubles when entries
 * outnumber buckets, evicting for its own growth when needed (never the
 * entry just inserted) and staying as it is when it cannot fit; it halves
 * when entries fall under a quarter of the buckets (not below
 * TIER_MIN_BUCKETS). The heap grows 0 -> 4 -> 8 -> ... slots and halves
 * when at most a quarter is used. Shrinking is done after every removal,
 * except removals that make room for an insertion or a growth, after which
 * it is done once when the operation ends.
 *
 * ===========================================================================
 * TIME
 *
 * Two injectable clocks (tier_clock), both in milliseconds:
 *  - mono_ms: statistics, idleness, frequency decay, LFU epochs. Default
 *    CLOCK_MONOTONIC_COARSE: CLOCK_MONOTONIC as of the last timer tick (1-4
 *    ms resolution), because every hit reads it and the precise one costs
 *    as much as the rest of a hot read.
 *  - wall_ms: TTL expiry times only, which are absolute Unix-epoch
 *    milliseconds (CLOCK_REALTIME by default), as the durable side stores
 *    them; a wall clock step moves every expiry with it, as in Redis.
 * The wall clock is read only by operations that meet an entry with a TTL
 * (or sweep), so entries without one never pay for it.
 *
 * ===========================================================================
 * STATISTICS AND "LEAST FREQUENT"
 *
 * Per entry: accesses (hits since it was inserted), last_access_ms (last
 * hit, or insertion), and a decayed count C: C = 1 at insertion, and at a
 * hit at time t, C = C * 2^(-(t - last_access_ms) / H) + 1, where H is the
 * half-life (options.half_life_ms). At any time t the count is
 * C * 2^(-(t - last_access_ms) / H), and the frequency in accesses per
 * second is that count * ln 2 * 1000 / H (a steady stream of r accesses
 * a second reads about r, exactly r on average over the stream). Nothing
 * decays in the background: the value is brought forward when it is read
 * or bumped.
 *
 * LFU class: at insertion and at every hit the entry's class is set to
 *     class = floor(log2(C)) + floor(t / H)
 * with C just updated and t the time (mono ms). Between hits it does not
 * change; since floor(t / H) grows by one every half-life while C halves,
 * comparing classes compares decayed counts to within a factor of 2. Each
 * entry also has a use sequence number, set from a tier-wide counter at
 * insertion, at every hit and when it is unpinned.
 *  - LRU victim: the unpinned entry with the smallest use sequence.
 *  - LFU victim: the unpinned entry with the smallest (class, use
 *    sequence), compared lexicographically: least frequent, then least
 *    recent.
 *  - HYBRID victim: the expired entry (pinned or not: an expired key is
 *    gone, pins protect live keys) with the smallest (expiry time, TTL
 *    sequence), the TTL sequence being a tier-wide counter bumped each time
 *    any expiry is set; when none is expired, the LFU victim.
 * Implementation (policy.c): an LRU list, and 64 LFU lists, one per class in
 * a window [floor(now/H) - 16, floor(now/H) + 47] with a bitmap of the
 * non-empty ones; as time moves on, the lowest list is spliced to the
 * eviction end of the next, which keeps the order above exactly. A class
 * above the window (C >= 2^47 within a half-life) is stored as the top
 * class; unpinning relinks an entry with class max(class, window bottom).
 * Every access and every eviction is O(1): no sorting, no scan.
 * Replacing an entry's document (tier_put on a cached key) keeps its
 * statistics, class, sequence numbers and pin.
 *
 * Per tier (tier_stats): hits, misses, promotions (insertions of new keys),
 * demotions (removals by rule or by hand: idle, tier_demote, tier_clear),
 * evictions (removals for space: inserts, index growth, budget shrink),
 * expirations, invalidations, refusals (stale, declined, full), entries,
 * bytes, budget, hit ratio.
 *
 * ===========================================================================
 * PROMOTION AND DEMOTION
 *
 * Misses seen by tier_get / tier_visit are recorded in a fixed "ghost"
 * table of key hashes (4-way set associative; a full set drops its record
 * with the oldest miss): for each key, misses (in a row, each within
 * rules.promote_window_ms of the one before; all of them when the window is
 * 0) and a decayed miss count with the same half-life and formula as hits.
 * tier_should_promote(key) is true when misses >= promote_min_misses and
 * the miss frequency (per second, as above) >= promote_min_freq; a key
 * with no record, or whose last miss is more than promote_window_ms old
 * (window > 0), has 0 misses; a key with no record has frequency 0. With
 * the defaults (0 and 0) every key is promoted. Example: promote on the
 * second miss within 10 s: min_misses 2, window 10000. A record is dropped
 * when its key is inserted.
 * Demotion: tier_demote_idle_step drops, from the LRU end, unpinned entries
 * whose last use (insertion, hit or unpin) is more than
 * rules.demote_idle_ms old, looking at no more than max_visit entries a
 * call; tier_set_budget below bytes_used evicts in policy order (memory
 * pressure); tier_demote drops one entry by hand.
 *
 * ===========================================================================
 * PINNING
 *
 * A live pinned entry is never chosen as a victim, nor demoted for
 * idleness.
 * Its bytes count in the budget: a put with TIER_PIN that cannot fit fails
 * with BURROW_EFULL, and tier_set_budget refuses (BURROW_EBUSY, nothing
 * changed) a budget that the pinned entries and their indexes exceed.
 * Expiry, invalidation, tier_demote and tier_clear still remove pinned
 * entries: correctness and explicit requests win over pins.
 *
 * ===========================================================================
 * TTL
 *
 * An entry may carry an expiry time (wall ms). It is expired when
 * wall_ms() >= expires_at. Any operation addressing an expired entry by
 * key (get, visit, put, admit, pin, unpin, demote, invalidate, expire_at,
 * ttl, entry_stat) removes it first (counted as an expiration) and goes
 * on as if it were absent, so expired entries are invisible at once.
 * tier_expire_step removes up to max expired entries, earliest first, and
 * reports each key through a callback so the layer above can delete it
 * durably. The durable side of TTL is not here: the tier only knows the
 * TTLs of the documents it holds.
 *
 * ===========================================================================
 * COHERENCE (the rule the layer above relies on)
 *
 * Commit ids and snapshot ids are the store's transaction ids: a commit c
 * is visible to snapshot s iff c <= s.
 *  - Each entry has valid_from: its document is the key's committed value
 *    for every snapshot s >= valid_from. tier_get(key, s) hits only when
 *    valid_from <= s; an older snapshot misses and reads the store.
 *  - The tier remembers, per key, a bound W(key) >= every commit it was
 *    told wrote the key (rules.c): a direct-mapped table of (key hash,
 *    commit) with options.write_slots slots; a key taking a slot from
 *    another pushes that one's commit into a write floor and starts at
 *    max(commit, write floor). W(key) = max(the slot's commit when the slot
 *    holds the key's hash, else the write floor; the collection floor).
 *    Both floors start at options.initial_commit; tier_invalidate_coll
 *    raises the collection floor. Commits may be reported in any order;
 *    bounds only grow, and a bound too high only costs a refused fill.
 *  - tier_invalidate(key, c): commit c writes or deletes key. Removes the
 *    cached entry and records c. The layer above calls it for every key a
 *    commit writes, BEFORE that commit becomes visible to new readers (a
 *    commit that then fails leaves only a harmless, conservative record).
 *  - tier_put(key, doc, c): commit c wrote doc (write-through, after c is
 *    durable). Records c like tier_invalidate; stored with valid_from = c
 *    unless W(key) > c (a newer write is known: refused as stale).
 *  - tier_admit(key, doc, s): doc was read from the store at snapshot s
 *    (a read miss, or manual promotion). Refused as stale when W(key) > s
 *    (a commit the snapshot cannot see wrote the key since); else stored
 *    with valid_from = W(key) (<= s; no commit since W(key) wrote it).
 *    An admit for a key already cached keeps the cached entry.
 *  - tier_invalidate_coll(coll, c): a collection is dropped or rewritten by
 *    commit c: removes its entries and raises the floor to c.
 * Aborted transactions never reach the tier (nothing is put before a
 * commit succeeds), and a write transaction must bypass the tier for keys
 * it has written itself (read them from the txn). A write txn that will
 * commit as c reads at snapshot c - 1.
 *
 * ===========================================================================
 * THREADS
 *
 * One mutex guards a tier, unless options.flags has TIER_UNLOCKED (the
 * caller then guarantees one thread at a time, e.g. the server's data
 * thread). Any thread may call any function. tier_get copies the document
 * out into the caller's buffer, so what it returns stays valid however the
 * tier changes afterwards; tier_visit lends the bytes to a callback run
 * under the lock instead (no copy), which must not call into the same tier.
 *
 * ENTRY STATES
 *     absent --put/admit--> cached --pin--> pinned --unpin--> cached
 *     cached --evict (space) | demote (idle, by hand) | expire | invalidate
 *            | clear--> absent
 *     pinned --expire | invalidate | demote (by hand) | clear--> absent
 *     cached/pinned --put (same key)--> same state, new document
 * Invariants (checked by tier_check): bytes_used = entry_bytes +
 * index_bytes <= budget; entry_bytes is the sum of the charges; every
 * unpinned entry is on the LRU list and on the LFU list of its class, no
 * pinned one is; the LRU list is in use order; the heap holds exactly the
 * entries with a TTL, in heap order.
 */
#ifndef BURROW_TIER_H
#define BURROW_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "burrow.h"

typedef struct tier tier;

/* A key: two byte strings, each at most TIER_MAX_KEY_PART bytes. Borrowed:
 * the tier copies what it keeps. Keys handed to callbacks point into the
 * tier and are valid during the call only. */
typedef struct tier_key {
    const void *coll;
    size_t coll_len;
    const void *id;
    size_t id_len;
} tier_key;

#define TIER_MAX_KEY_PART 65535u
#define TIER_MAX_DOC_SIZE ((size_t)1 << 30) /* = DOC_MAX_SIZE */
#define TIER_ALLOC_OVERHEAD 16u
#define TIER_MIN_BUCKETS 16u
#define TIER_HEAP_SLOT_SIZE 24u
#define TIER_GHOST_SLOT_SIZE 32u
#define TIER_WRITE_SLOT_SIZE 16u
#define TIER_LFU_CLASSES 64
#define TIER_LFU_BELOW 16 /* classes kept below the current epoch */

enum tier_policy { TIER_LRU = 0, TIER_LFU = 1, TIER_HYBRID = 2 };

/* Clocks in milliseconds; see TIME above. ctx is passed back. Both must be
 * set (tier_clock_default() for the real ones). */
typedef struct tier_clock {
    uint64_t (*mono_ms)(void *ctx);
    uint64_t (*wall_ms)(void *ctx);
    void *ctx;
} tier_clock;

/* CLOCK_MONOTONIC_COARSE and CLOCK_REALTIME. Static storage. */
const tier_clock *tier_clock_default(void);

/* Thresholds, changeable at run time with tier_set_rules. */
typedef struct tier_rules {
    uint32_t promote_min_misses; /* default 0 */
    uint64_t promote_window_ms;  /* default 0: misses never reset */
    double promote_min_freq;     /* misses per second; default 0 */
    uint64_t demote_idle_ms;     /* default 0: no idle demotion */
} tier_rules;

#define TIER_UNLOCKED 0x1u /* no mutex: the caller serialises all calls */

typedef struct tier_options {
    size_t budget;           /* bytes; default 64 MiB */
    int policy;              /* enum tier_policy; default TIER_HYBRID */
    uint64_t half_life_ms;   /* frequency decay and LFU epochs; default 60000; >= 1 */
    tier_rules rules;
    uint32_t ghost_slots;    /* missed-key table; rounded up to a power of two >= 4; default 1024 */
    uint32_t write_slots;    /* recent-writes table; rounded up to a power of two; default 4096 */
    uint64_t initial_commit; /* newest commit id when the tier is made (see COHERENCE) */
    uint64_t hash_seed;      /* 0: chosen at random */
    const tier_clock *clock; /* NULL: tier_clock_default(); copied */
    unsigned flags;          /* TIER_UNLOCKED */
} tier_options;

void tier_options_init(tier_options *opt);

/* 0, BURROW_EINVAL (a bad option, detail in burrow_errmsg()) or
 * BURROW_ENOMEM. The caller owns *out and frees it with tier_destroy. */
int tier_create(const tier_options *opt, tier **out);
void tier_destroy(tier *t);

/* Change the budget. Shrinking below bytes_used evicts in policy order
 * until the rest fits (memory pressure; counted as evictions). If the
 * pinned entries and the indexes they need exceed the new budget it is
 * refused with BURROW_EBUSY and nothing changes. */
int tier_set_budget(tier *t, size_t budget);
/* 0 or BURROW_EINVAL. Takes effect for the next victim: O(1). */
int tier_set_policy(tier *t, int policy);
void tier_set_rules(tier *t, const tier_rules *rules);

/* Hash of a key as this tier computes it (its seed). */
uint64_t tier_key_hash(const tier *t, const tier_key *key);
/* What an entry with these lengths is charged. */
size_t tier_entry_charge(size_t coll_len, size_t id_len, size_t doc_len);

/* ---- reads ---------------------------------------------------------------- */

/* Look up key for a reader at snapshot. A hit (entry present, not expired,
 * valid_from <= snapshot) copies the document into *out (replacing its
 * contents), counts an access and returns 0. Otherwise BURROW_ENOTFOUND,
 * and the miss is recorded for the promotion rule. BURROW_ENOMEM when out
 * cannot grow (nothing counted). */
int tier_get(tier *t, const tier_key *key, uint64_t snapshot, buf *out);

/* As tier_get, but on a hit calls fn(ctx, doc, len) under the tier's lock
 * instead of copying; doc is valid during the call only, and fn must not
 * call into this tier. Returns fn's return value on a hit. */
int tier_visit(tier *t, const tier_key *key, uint64_t snapshot,
               int (*fn)(void *ctx, const uint8_t *doc, size_t len), void *ctx);

/* ---- writes and promotion ----------------------------------------------- */

#define TIER_PIN 0x1u   /* put/admit: pin the entry */
#define TIER_FORCE 0x2u /* admit: skip the promotion rule (manual promotion, prewarm) */
#define TIER_TTL_KEEP UINT64_MAX /* put: keep a cached entry's expiry (new entries: none) */

/* Commit `commit` wrote doc for key: store it (see COHERENCE). expires_at:
 * wall ms, 0 = none, TIER_TTL_KEEP; an expiry already past stores nothing
 * (and drops a cached entry). doc is copied. Returns 1 when stored, 0 when
 * not (stale, or already expired), BURROW_EFULL (cannot fit; nothing
 * changed but expired entries collected), BURROW_EINVAL (key part or doc too
 * large), BURROW_ENOMEM (victims may have been evicted). */
int tier_put(tier *t, const tier_key *key, const void *doc, size_t len, uint64_t commit,
             uint64_t expires_at, unsigned flags);

/* doc was read from the store at snapshot: promote it if the promotion
 * rule says so (or TIER_FORCE) and it is not stale (see COHERENCE).
 * expires_at: wall ms or 0. Returns 1 when the key is cached afterwards
 * (an already cached key is left as it is, TIER_PIN pins it), 0 when
 * declined (stale, below the thresholds, or already expired), or
 * tier_put's errors. */
int tier_admit(tier *t, const tier_key *key, const void *doc, size_t len, uint64_t snapshot,
               uint64_t expires_at, unsigned flags);

/* The promotion rule for key now (see PROMOTION): 1 or 0. */
int tier_should_promote(tier *t, const tier_key *key);

/* Commit `commit` writes or deletes key: drop the cached entry, record the
 * write. 1 when an entry was removed, 0 when none was cached. */
int tier_invalidate(tier *t, const tier_key *key, uint64_t commit);
/* Remove every entry of the collection and raise the floor to commit.
 * O(entries). Returns the number removed (counted as invalidations). */
size_t tier_invalidate_coll(tier *t, const void *coll, size_t coll_len, uint64_t commit);

/* ---- manual control --------------------------------------------------------- */

/* Drop the entry (also a pinned one). 1 when removed, 0 when not cached. */
int tier_demote(tier *t, const tier_key *key);
/* 0 or BURROW_ENOTFOUND. Pinning a pinned entry, or unpinning an unpinned
 * one, changes nothing. */
int tier_pin(tier *t, const tier_key *key);
int tier_unpin(tier *t, const tier_key *key);
/* Drop every entry (counted as demotions); the recent-writes and ghost
 * tables stay. */
void tier_clear(tier *t);

/* ---- TTL -------------------------------------------------------------------- */

/* Set (wall ms) or clear (0) the expiry of a cached key. An expiry already
 * past removes the entry at once. 0, BURROW_ENOTFOUND, BURROW_EFULL (the
 * heap cannot grow within the budget; nothing changed but expired entries
 * collected), BURROW_ENOMEM. */
int tier_expire_at(tier *t, const tier_key *key, uint64_t expires_at);
/* *expires_at = the entry's expiry, 0 when none. 0 or BURROW_ENOTFOUND. */
int tier_ttl(tier *t, const tier_key *key, uint64_t *expires_at);

/* Remove up to max expired entries, earliest expiry first, calling
 * fn(ctx, key, expires_at) (fn may be NULL) for each just before it is
 * freed, under the lock (fn must not call into this tier). Returns the
 * number removed. Cost O(max log n). */
size_t tier_expire_step(tier *t, size_t max,
                        void (*fn)(void *ctx, const tier_key *key, uint64_t expires_at),
                        void *ctx);

/* Demote idle entries (see PROMOTION AND DEMOTION), looking at no more
 * than max_visit entries. Returns the number demoted. 0 when
 * rules.demote_idle_ms is 0. */
size_t tier_demote_idle_step(tier *t, size_t max_visit);

/* ---- statistics ---------------------------------------------------------------- */

typedef struct tier_entry_stats {
    uint64_t accesses;       /* hits since insertion */
    uint64_t last_access_ms; /* mono: last hit, or insertion */
    uint64_t last_use_ms;    /* mono: last hit, insertion or unpin (idleness) */
    double count;            /* decayed access count, now */
    double frequency;        /* decayed accesses per second, now */
    int64_t lfu_class;
    uint64_t use_seq;        /* order of last use (LRU) */
    uint64_t valid_from;
    uint64_t expires_at;     /* wall ms; 0 none */
    size_t bytes;            /* the entry's charge */
    size_t doc_len;
    bool pinned;
} tier_entry_stats;

/* Statistics of a cached key, without counting an access. 0 or
 * BURROW_ENOTFOUND. */
int tier_entry_stat(tier *t, const tier_key *key, tier_entry_stats *out);

typedef struct tier_stats {
    uint64_t hits, misses;
    uint64_t promotions;    /* new keys inserted */
    uint64_t demotions;     /* removed by rule or by hand */
    uint64_t evictions;     /* removed for space */
    uint64_t expirations;
    uint64_t invalidations;
    uint64_t refused_stale;    /* put/admit refused by the coherence rule */
    uint64_t refused_declined; /* admit below the promotion thresholds */
    uint64_t refused_full;     /* put/admit/expire_at that could not fit */
    uint64_t entries, pinned;
    size_t bytes_used, budget;
    size_t entry_bytes, index_bytes, pinned_bytes;
    size_t fixed_bytes;     /* outside the budget: handle, ghost and write tables */
    size_t buckets;         /* hash table size */
    int policy;
    uint64_t write_floor, last_commit;
    double hit_ratio;       /* hits / (hits + misses); 0 before any lookup */
} tier_stats;

void tier_stats_get(tier *t, tier_stats *out);

/* Call fn(ctx, key, stats) for every entry in RAM (expired ones not yet
 * removed included), in no particular order, under the lock; fn must not
 * call into this tier. O(entries): for tests and tools. */
void tier_foreach(tier *t, void (*fn)(void *ctx, const tier_key *key, const tier_entry_stats *st),
                  void *ctx);

/* Check every invariant (O(entries)); 0 or BURROW_ECORRUPT with the first
 * problem in burrow_errmsg(). For tests. */
int tier_check(tier *t);

#endif
