/*
 * policy.c — the hot tier's eviction order: the recency list, the LFU class
 * lists, the decaying frequency, victim choice, and idle demotion.
 *
 * tier.h (STATISTICS AND "LEAST FREQUENT") defines the order; this is how
 * it is kept in O(1) per access and per eviction.
 *
 * The LRU list holds every unpinned entry, most recently used at
 * lru.next, the victim at lru.prev.
 *
 * The LFU lists form a ring of TIER_LFU_CLASSES lists: the list of class c
 * is lfu[c mod 64], for c in the window [lfu_base, lfu_base + 63], and
 * lfu_map has bit i set when lfu[i] is not empty. Within a list entries are
 * in use order (most recent at next). Invariants:
 *  - every list but the bottom one (lfu_base) holds only entries whose
 *    stored class is that list's class;
 *  - the bottom list holds entries of class <= lfu_base, ordered from the
 *    victim end by (class, use sequence) ascending.
 * Hence the LFU victim, the smallest (class, use sequence), is the victim
 * end of the lowest non-empty list: one rotate and one count of trailing
 * zeros of lfu_map. When the epoch floor(now / H) passes, the window moves
 * up one class per epoch, keeping TIER_LFU_BELOW classes below the epoch:
 * the bottom list is spliced to the victim end of the next one (which keeps
 * the bottom list's order: every entry it held has a smaller class than
 * every entry of the next list). New classes are always >= the epoch, so
 * they land above the bottom; the only entries linked at the bottom are
 * unpinned ones, whose class is first raised to lfu_base, and they join
 * at the most recent end, after every entry of a smaller class or an
 * older sequence.
 */
#include <math.h>
#include <string.h>

#include "base/err.h"
#include "tier/tier_int.h"

#define LFU_MASK ((uint64_t)TIER_LFU_CLASSES - 1)

/* ---- lists ----------------------------------------------------------------- */

static inline void link_init(tier_link *l) { l->prev = l->next = l; }

static inline void link_after(tier_link *head, tier_link *l)
{
    l->prev = head;
    l->next = head->next;
    head->next->prev = l;
    head->next = l;
}

static inline void link_remove(tier_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

#define ENTRY_OF(ptr, field) ((tier_entry *)(void *)((char *)(ptr) - offsetof(tier_entry, field)))

static inline unsigned slot_of(int64_t cls) { return (unsigned)((uint64_t)cls & LFU_MASK); }

static inline bool is_lfu_head(const tier *t, const tier_link *l)
{
    uintptr_t p = (uintptr_t)l, lo = (uintptr_t)&t->lfu[0];
    uintptr_t hi = (uintptr_t)&t->lfu[TIER_LFU_CLASSES];
    return p >= lo && p < hi;
}

/* Move every entry of list src to the victim end of list dst. */
static void splice_below(tier *t, unsigned src, unsigned dst)
{
    tier_link *s = &t->lfu[src], *d = &t->lfu[dst];
    if (s->next == s)
        return;
    tier_link *first = s->next, *last = s->prev; /* first: most recent of src */
    tier_link *oldest = d->prev;                 /* victim end of dst (d itself if empty) */
    oldest->next = first;
    first->prev = oldest;
    last->next = d;
    d->prev = last;
    link_init(s);
    t->lfu_map &= ~((uint64_t)1 << src);
    t->lfu_map |= (uint64_t)1 << dst;
}

/* ---- time ----------------------------------------------------------------- */

double policy_decay(const tier *t, double count, uint64_t from, uint64_t to)
{
    if (to <= from)
        return count;
    return count * exp2(-(double)(to - from) / (double)t->half_life_ms);
}

static void set_epoch(tier *t, uint64_t now)
{
    t->epoch = (int64_t)(now / t->half_life_ms);
    uint64_t end = ((uint64_t)t->epoch + 1) * t->half_life_ms;
    t->epoch_end_ms = end > now ? end : UINT64_MAX; /* overflow: never again */
}

void policy_init(tier *t, uint64_t now)
{
    link_init(&t->lru);
    for (int i = 0; i < TIER_LFU_CLASSES; i++)
        link_init(&t->lfu[i]);
    t->lfu_map = 0;
    t->use_seq = 0;
    set_epoch(t, now);
    t->lfu_base = t->epoch - TIER_LFU_BELOW;
}

void policy_advance(tier *t, uint64_t now)
{
    if (now < t->epoch_end_ms)
        return;
    set_epoch(t, now);
    int64_t target = t->epoch - TIER_LFU_BELOW;
    if (target <= t->lfu_base)
        return;
    if (target - t->lfu_base >= TIER_LFU_CLASSES) {
        /* Everything ends up in the bottom list: merge all the lists in
         * class order, then move the result to the new bottom's slot. */
        for (int i = 0; i < TIER_LFU_CLASSES - 1; i++)
            splice_below(t, slot_of(t->lfu_base + i), slot_of(t->lfu_base + i + 1));
        unsigned from = slot_of(t->lfu_base + TIER_LFU_CLASSES - 1), to = slot_of(target);
        if (from != to)
            splice_below(t, from, to);
        t->lfu_base = target;
        return;
    }
    while (t->lfu_base < target) {
        splice_below(t, slot_of(t->lfu_base), slot_of(t->lfu_base + 1));
        t->lfu_base++;
    }
}

/* The epoch of now (the clock may have stepped back from the last one). */
static inline int64_t epoch_of(const tier *t, uint64_t now)
{
    if (now >= t->epoch_end_ms - t->half_life_ms || t->epoch_end_ms == UINT64_MAX)
        return t->epoch;
    return (int64_t)(now / t->half_life_ms);
}

static inline int64_t clamp_class(const tier *t, int64_t cls)
{
    if (cls < t->lfu_base)
        return t->lfu_base;
    if (cls > t->lfu_base + TIER_LFU_CLASSES - 1)
        return t->lfu_base + TIER_LFU_CLASSES - 1;
    return cls;
}

/* Class from the count just updated at now. count >= 1, so ilogb >= 0. */
static inline int64_t class_of(const tier *t, double count, uint64_t now)
{
    return clamp_class(t, (int64_t)ilogb(count) + epoch_of(t, now));
}

static inline void lfu_link(tier *t, tier_entry *e)
{
    unsigned s = slot_of(e->lfu_class);
    link_after(&t->lfu[s], &e->lfu);
    t->lfu_map |= (uint64_t)1 << s;
}

static inline void lfu_unlink(tier *t, tier_entry *e)
{
    tier_link *prev = e->lfu.prev;
    link_remove(&e->lfu);
    if (prev == prev->next && is_lfu_head(t, prev))
        t->lfu_map &= ~((uint64_t)1 << (unsigned)(prev - t->lfu));
}

/* ---- entries ---------------------------------------------------------------- */

void policy_link_new(tier *t, tier_entry *e, uint64_t now)
{
    policy_advance(t, now);
    e->use_seq = ++t->use_seq;
    e->last_use_ms = now;
    e->lfu_class = class_of(t, e->count, now);
    if (!e->pinned) {
        link_after(&t->lru, &e->lru);
        lfu_link(t, e);
    }
}

void policy_touch(tier *t, tier_entry *e, uint64_t now)
{
    policy_advance(t, now);
    e->count = policy_decay(t, e->count, e->last_access_ms, now) + 1.0;
    if (now > e->last_access_ms)
        e->last_access_ms = now;
    if (now > e->last_use_ms)
        e->last_use_ms = now;
    e->accesses++;
    e->use_seq = ++t->use_seq;
    e->lfu_class = class_of(t, e->count, now);
    if (!e->pinned) {
        link_remove(&e->lru);
        link_after(&t->lru, &e->lru);
        lfu_unlink(t, e);
        lfu_link(t, e);
    }
}

void policy_unlink(tier *t, tier_entry *e)
{
    link_remove(&e->lru);
    lfu_unlink(t, e);
}

void policy_relink(tier *t, tier_entry *e, uint64_t now)
{
    policy_advance(t, now);
    e->use_seq = ++t->use_seq;
    if (now > e->last_use_ms)
        e->last_use_ms = now;
    e->lfu_class = clamp_class(t, e->lfu_class);
    link_after(&t->lru, &e->lru);
    lfu_link(t, e);
}

void policy_moved(tier *t, tier_entry *e)
{
    (void)t;
    if (e->pinned)
        return;
    e->lru.prev->next = &e->lru;
    e->lru.next->prev = &e->lru;
    e->lfu.prev->next = &e->lfu;
    e->lfu.next->prev = &e->lfu;
}

/* ---- victims ---------------------------------------------------------------- */

/* Index of the lowest non-empty list of map, counting from the bottom. */
static inline unsigned lowest(const tier *t, uint64_t map)
{
    unsigned off = slot_of(t->lfu_base);
    uint64_t r = off ? (map >> off) | (map << (64 - off)) : map;
    return (off + (unsigned)__builtin_ctzll(r)) & (unsigned)LFU_MASK;
}

static tier_entry *lfu_victim(tier *t, const tier_entry *keep)
{
    if (!t->lfu_map)
        return NULL;
    unsigned s = lowest(t, t->lfu_map);
    tier_link *l = t->lfu[s].prev;
    if (keep && l == &keep->lfu) {
        l = l->prev;
        if (l == &t->lfu[s]) { /* keep was alone in its list */
            uint64_t rest = t->lfu_map & ~((uint64_t)1 << s);
            if (!rest)
                return NULL;
            l = t->lfu[lowest(t, rest)].prev;
        }
    }
    return ENTRY_OF(l, lfu);
}

static tier_entry *lru_victim(tier *t, const tier_entry *keep)
{
    tier_link *l = t->lru.prev;
    if (keep && l == &keep->lru)
        l = l->prev;
    return l == &t->lru ? NULL : ENTRY_OF(l, lru);
}

tier_entry *policy_victim(tier *t, const tier_entry *keep)
{
    switch (t->policy) {
    case TIER_LRU:
        return lru_victim(t, keep);
    case TIER_LFU:
        return lfu_victim(t, keep);
    default: {
        tier_entry *e = t->heap_len ? heap_expired_top(t, tier_wall(t)) : NULL;
        if (e && e != keep)
            return e;
        return lfu_victim(t, keep);
    }
    }
}

/* ---- idle demotion ------------------------------------------------------------ */

size_t tier_demote_idle_step(tier *t, size_t max_visit)
{
    size_t n = 0;
    tier_lock(t);
    uint64_t idle = t->rules.demote_idle_ms;
    if (idle) {
        uint64_t now = tier_mono(t);
        for (size_t i = 0; i < max_visit && t->lru.prev != &t->lru; i++) {
            tier_entry *e = ENTRY_OF(t->lru.prev, lru);
            if (now <= e->last_use_ms || now - e->last_use_ms <= idle)
                break; /* the rest of the list was used later */
            tier_remove(t, e, TIER_R_DEMOTE);
            n++;
        }
    }
    tier_unlock(t);
    return n;
}

/* ---- checking ----------------------------------------------------------------- */

int policy_check(tier *t)
{
    size_t n = 0;
    uint64_t prev_seq = UINT64_MAX;
    for (tier_link *l = t->lru.next; l != &t->lru; l = l->next) {
        tier_entry *e = ENTRY_OF(l, lru);
        if (e->pinned)
            return diag_set(BURROW_ECORRUPT, "tier: pinned entry on the LRU list");
        if (e->use_seq >= prev_seq)
            return diag_set(BURROW_ECORRUPT, "tier: LRU list out of use order");
        if (l->next->prev != l)
            return diag_set(BURROW_ECORRUPT, "tier: LRU list links broken");
        prev_seq = e->use_seq;
        if (++n > t->count)
            return diag_set(BURROW_ECORRUPT, "tier: LRU list longer than the entries");
    }
    if (n != t->count - t->npinned)
        return diag_set(BURROW_ECORRUPT, "tier: LRU list has %zu entries, %zu unpinned", n,
                        t->count - t->npinned);
    size_t m = 0;
    for (int i = 0; i < TIER_LFU_CLASSES; i++) {
        int64_t cls = t->lfu_base + (int64_t)((uint64_t)(i - (int)slot_of(t->lfu_base)) & LFU_MASK);
        tier_link *h = &t->lfu[slot_of(cls)];
        bool bit = (t->lfu_map >> slot_of(cls)) & 1;
        if (bit != (h->next != h))
            return diag_set(BURROW_ECORRUPT, "tier: LFU map bit of class %lld wrong",
                            (long long)cls);
        int64_t pc = INT64_MAX;
        uint64_t ps = UINT64_MAX;
        for (tier_link *l = h->next; l != h; l = l->next) {
            tier_entry *e = ENTRY_OF(l, lfu);
            if (e->pinned)
                return diag_set(BURROW_ECORRUPT, "tier: pinned entry on an LFU list");
            if (l->next->prev != l)
                return diag_set(BURROW_ECORRUPT, "tier: LFU list links broken");
            if (cls == t->lfu_base ? e->lfu_class > cls : e->lfu_class != cls)
                return diag_set(BURROW_ECORRUPT, "tier: entry of class %lld on the list of %lld",
                                (long long)e->lfu_class, (long long)cls);
            if (e->lfu_class > pc || (e->lfu_class == pc && e->use_seq >= ps))
                return diag_set(BURROW_ECORRUPT, "tier: LFU list of %lld out of order",
                                (long long)cls);
            pc = e->lfu_class;
            ps = e->use_seq;
            if (++m > t->count)
                return diag_set(BURROW_ECORRUPT, "tier: LFU lists longer than the entries");
        }
    }
    if (m != n)
        return diag_set(BURROW_ECORRUPT, "tier: LFU lists hold %zu entries, LRU %zu", m, n);
    return 0;
}
