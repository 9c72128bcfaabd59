/*
 * rules.c — what the tier remembers about keys it does not hold: the
 * missed-key ("ghost") table behind the promotion rule, and the
 * recent-writes table behind the coherence rule (tier.h, PROMOTION AND
 * DEMOTION and COHERENCE). Both are fixed arrays sized at creation, outside
 * the byte budget, and keyed by the 64-bit key hash only (two keys with the
 * same hash share a record: for the ghost table that only blurs a
 * threshold; for the writes table it only makes a bound larger).
 *
 * Ghost table: sets of 4 slots, the set chosen by the hash's high bits. A
 * key's record is in its set or nowhere; a new record takes a free slot,
 * else the slot whose last miss is oldest (the first such on ties).
 *
 * Writes table: direct-mapped by the hash's low bits. Invariant: for every
 * key K and every commit c recorded for K,
 *   c <= max(slot(K).hash == hash(K) ? slot(K).commit : write_floor, coll_floor).
 * A record replacing another key's pushes that one's commit into
 * write_floor and starts at max(c, write_floor), so a key re-entering its
 * slot also covers its own records that went to the floor. Commits may be
 * reported in any order; bounds only grow.
 */
#include <math.h>
#include <stdlib.h>

#include "tier/tier_int.h"

#define GHOST_WAYS 4

static inline uint32_t pow2_at_least(uint32_t n, uint32_t min)
{
    uint32_t p = min;
    while (p < n && p < (1u << 30))
        p <<= 1;
    return p;
}

int rules_init(tier *t, const tier_options *opt)
{
    uint32_t gslots = pow2_at_least(opt->ghost_slots, GHOST_WAYS);
    uint32_t wslots = pow2_at_least(opt->write_slots, 1);
    t->ghost = calloc(gslots, sizeof *t->ghost);
    t->writes = calloc(wslots, sizeof *t->writes);
    if (!t->ghost || !t->writes) {
        rules_free(t);
        return BURROW_ENOMEM;
    }
    t->ghost_set_mask = gslots / GHOST_WAYS - 1;
    t->write_mask = wslots - 1;
    t->write_floor = opt->initial_commit;
    t->coll_floor = opt->initial_commit;
    t->last_commit = opt->initial_commit;
    t->fixed_bytes += (size_t)gslots * sizeof *t->ghost + (size_t)wslots * sizeof *t->writes;
    return 0;
}

void rules_free(tier *t)
{
    free(t->ghost);
    free(t->writes);
    t->ghost = NULL;
    t->writes = NULL;
}

/* ---- ghost table ---------------------------------------------------------------- */

static inline ghost_slot *ghost_set(const tier *t, uint64_t hash)
{
    return &t->ghost[(size_t)((hash >> 32) & t->ghost_set_mask) * GHOST_WAYS];
}

static ghost_slot *ghost_find(const tier *t, uint64_t hash)
{
    ghost_slot *s = ghost_set(t, hash);
    for (int i = 0; i < GHOST_WAYS; i++)
        if (s[i].misses && s[i].hash == hash)
            return &s[i];
    return NULL;
}

void ghost_record(tier *t, uint64_t hash, uint64_t now)
{
    ghost_slot *g = ghost_find(t, hash);
    if (g) {
        uint64_t w = t->rules.promote_window_ms;
        if (w && now > g->last_ms && now - g->last_ms > w)
            g->misses = 0; /* the run of misses is broken */
        g->count = policy_decay(t, g->count, g->last_ms, now) + 1.0;
        if (g->misses < UINT32_MAX)
            g->misses++;
        if (now > g->last_ms)
            g->last_ms = now;
        return;
    }
    ghost_slot *s = ghost_set(t, hash);
    g = &s[0];
    for (int i = 0; i < GHOST_WAYS; i++) {
        if (!s[i].misses) {
            g = &s[i];
            break;
        }
        if (s[i].last_ms < g->last_ms)
            g = &s[i];
    }
    *g = (ghost_slot){.hash = hash, .last_ms = now, .count = 1.0, .misses = 1};
}

void ghost_forget(tier *t, uint64_t hash)
{
    ghost_slot *g = ghost_find(t, hash);
    if (g)
        *g = (ghost_slot){0};
}

bool ghost_should_promote(tier *t, uint64_t hash, uint64_t now)
{
    const tier_rules *r = &t->rules;
    if (r->promote_min_misses == 0 && !(r->promote_min_freq > 0))
        return true;
    const ghost_slot *g = ghost_find(t, hash);
    if (!g)
        return false;
    uint32_t misses = g->misses;
    if (r->promote_window_ms && now > g->last_ms && now - g->last_ms > r->promote_window_ms)
        misses = 0;
    double freq = policy_decay(t, g->count, g->last_ms, now) * t->ln2_per_ms;
    return misses >= r->promote_min_misses && freq >= r->promote_min_freq;
}

/* ---- writes table ------------------------------------------------------------------ */

void writes_record(tier *t, uint64_t hash, uint64_t commit)
{
    write_slot *s = &t->writes[hash & t->write_mask];
    if (s->hash == hash) {
        if (commit > s->commit)
            s->commit = commit;
    } else {
        if (s->commit > t->write_floor)
            t->write_floor = s->commit;
        s->hash = hash;
        s->commit = commit > t->write_floor ? commit : t->write_floor;
    }
    if (commit > t->last_commit)
        t->last_commit = commit;
}

uint64_t writes_bound(const tier *t, uint64_t hash)
{
    const write_slot *s = &t->writes[hash & t->write_mask];
    uint64_t b = s->hash == hash ? s->commit : t->write_floor;
    return b > t->coll_floor ? b : t->coll_floor;
}

void writes_raise_floor(tier *t, uint64_t commit)
{
    if (commit > t->coll_floor)
        t->coll_floor = commit;
    if (commit > t->last_commit)
        t->last_commit = commit;
}
