/*
 * test_tier.c — the hot tier (src/tier/): the byte budget under random
 * workloads, the exact victims of LRU, LFU and HYBRID on scripted
 * sequences, the decaying frequency against its formula, promotion and
 * demotion rules, pinning, TTL expiry and sweep, the coherence rules, and
 * a randomised comparison with a reference model that predicts every
 * victim, counter and byte. All time comes from a fake clock.
 */
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "tier/tier.h"

/* ---- helpers ------------------------------------------------------------------ */

typedef struct fake_clock {
    uint64_t mono, wall;
} fake_clock;

static uint64_t fake_mono(void *ctx) { return ((fake_clock *)ctx)->mono; }
static uint64_t fake_wall(void *ctx) { return ((fake_clock *)ctx)->wall; }

static fake_clock fk;
static tier_clock fk_clock = {fake_mono, fake_wall, &fk};

static tier_key K(const char *coll, const char *id)
{
    return (tier_key){coll, strlen(coll), id, strlen(id)};
}

static tier *make(size_t budget, int policy, uint64_t half_life)
{
    tier_options o;
    tier_options_init(&o);
    o.budget = budget;
    o.policy = policy;
    o.half_life_ms = half_life;
    o.clock = &fk_clock;
    o.hash_seed = 12345;
    tier *t;
    assert_int_equal(tier_create(&o, &t), 0);
    return t;
}

static uint8_t docbuf[4096];

/* put id with a doc of len bytes filled with byte v, as commit 1. */
static int put(tier *t, const char *id, size_t len, uint8_t v)
{
    memset(docbuf, v, len);
    tier_key k = K("c", id);
    return tier_put(t, &k, docbuf, len, 1, 0, 0);
}

static bool cached(tier *t, const char *id)
{
    tier_key k = K("c", id);
    tier_entry_stats st;
    return tier_entry_stat(t, &k, &st) == 0;
}

static int get(tier *t, const char *id)
{
    buf b = {0};
    tier_key k = K("c", id);
    int rc = tier_get(t, &k, UINT64_MAX, &b);
    buf_free(&b);
    return rc;
}

static tier_entry_stats stat_of(tier *t, const char *id)
{
    tier_key k = K("c", id);
    tier_entry_stats st;
    assert_int_equal(tier_entry_stat(t, &k, &st), 0);
    return st;
}

static tier_stats stats(tier *t)
{
    tier_stats s;
    tier_stats_get(t, &s);
    return s;
}

#define TABLE_MIN_BYTES (TIER_MIN_BUCKETS * sizeof(void *) + TIER_ALLOC_OVERHEAD)

/* A budget holding exactly n entries of doc length len (ids of 1 byte). */
static size_t budget_for(int n, size_t len)
{
    return TABLE_MIN_BYTES + (size_t)n * tier_entry_charge(1, 1, len);
}

static void check(tier *t)
{
    int rc = tier_check(t);
    if (rc)
        fail_msg("tier_check: %s", burrow_errmsg());
}

/* ---- basics ------------------------------------------------------------------ */

static int visit_fn(void *ctx, const uint8_t *doc, size_t len)
{
    *(size_t *)ctx = len + doc[0];
    return 7;
}

static void test_basics(void **state)
{
    (void)state;
    fk = (fake_clock){1000, 1700000000000ull};
    tier *t = make(1 << 20, TIER_HYBRID, 1000);
    tier_stats s = stats(t);
    assert_int_equal(s.bytes_used, 0);
    assert_int_equal(s.entries, 0);
    assert_true(s.fixed_bytes > 0);

    assert_int_equal(get(t, "a"), BURROW_ENOTFOUND);
    assert_int_equal(put(t, "a", 100, 'x'), 1);
    s = stats(t);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.promotions, 1);
    assert_int_equal(s.entry_bytes, tier_entry_charge(1, 1, 100));
    assert_int_equal(s.index_bytes, TABLE_MIN_BYTES);
    assert_int_equal(s.bytes_used, s.entry_bytes + s.index_bytes);

    buf b = {0};
    tier_key k = K("c", "a");
    assert_int_equal(tier_get(t, &k, 5, &b), 0);
    assert_int_equal(b.size, 100);
    assert_int_equal(b.data[99], 'x');
    size_t seen = 0;
    assert_int_equal(tier_visit(t, &k, 5, visit_fn, &seen), 7);
    assert_int_equal(seen, 100 + 'x');
    s = stats(t);
    assert_int_equal(s.hits, 2);
    assert_int_equal(s.misses, 1);
    assert_true(fabs(s.hit_ratio - 2.0 / 3.0) < 1e-12);
    assert_int_equal(stat_of(t, "a").accesses, 2);

    /* Same id in another collection is another key. */
    tier_key k2 = K("d", "a");
    assert_int_equal(tier_get(t, &k2, 5, &b), BURROW_ENOTFOUND);
    /* Keys that are prefixes of one another stay apart. */
    tier_key k3 = K("ca", ""), k4 = K("c", "a");
    assert_int_equal(tier_put(t, &k3, "zz", 2, 1, 0, 0), 1);
    assert_int_equal(tier_get(t, &k4, 5, &b), 0);
    assert_int_equal(b.size, 100);
    assert_int_equal(tier_get(t, &k3, 5, &b), 0);
    assert_int_equal(b.size, 2);

    /* Replacing keeps statistics and accounts the new size. */
    assert_int_equal(put(t, "a", 3000, 'y'), 1);
    tier_entry_stats st = stat_of(t, "a");
    assert_int_equal(st.accesses, 3);
    assert_int_equal(st.bytes, tier_entry_charge(1, 1, 3000));
    assert_int_equal(st.doc_len, 3000);
    assert_int_equal(tier_get(t, &k, 5, &b), 0);
    assert_int_equal(b.size, 3000);
    assert_int_equal(b.data[2999], 'y');
    assert_int_equal(stats(t).promotions, 2);
    check(t);

    /* Bad arguments. */
    char big[TIER_MAX_KEY_PART + 1];
    memset(big, 'k', sizeof big);
    tier_key kb = {"c", 1, big, sizeof big};
    assert_int_equal(tier_put(t, &kb, "x", 1, 1, 0, 0), BURROW_EINVAL);
    assert_int_equal(tier_set_policy(t, 7), BURROW_EINVAL);
    tier_options o;
    tier_options_init(&o);
    o.half_life_ms = 0;
    tier *bad;
    assert_int_equal(tier_create(&o, &bad), BURROW_EINVAL);

    /* Clear empties it to 0 bytes. */
    tier_clear(t);
    s = stats(t);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes_used, 0);
    assert_int_equal(s.demotions, 2);
    check(t);

    /* Budget 0: the tier is off. */
    assert_int_equal(tier_set_budget(t, 0), 0);
    assert_int_equal(put(t, "a", 1, 'x'), BURROW_EFULL);
    assert_int_equal(stats(t).refused_full, 1);
    assert_int_equal(stats(t).bytes_used, 0);
    buf_free(&b);
    tier_destroy(t);

    /* Default options and clock work. */
    assert_int_equal(tier_create(NULL, &t), 0);
    assert_int_equal(put(t, "a", 10, 'q'), 1);
    assert_int_equal(get(t, "a"), 0);
    tier_destroy(t);
}

/* ---- scripted victims ----------------------------------------------------------------- */

static void test_lru(void **state)
{
    (void)state;
    fk = (fake_clock){5000, 1000};
    tier *t = make(budget_for(3, 100), TIER_LRU, 1000);
    assert_int_equal(put(t, "a", 100, 1), 1);
    assert_int_equal(put(t, "b", 100, 2), 1);
    assert_int_equal(put(t, "c", 100, 3), 1);
    assert_int_equal(stats(t).bytes_used, stats(t).budget);
    assert_int_equal(get(t, "a"), 0);
    /* order of use: b c a */
    assert_int_equal(put(t, "d", 100, 4), 1);
    assert_false(cached(t, "b"));
    assert_true(cached(t, "a") && cached(t, "c") && cached(t, "d"));
    assert_int_equal(get(t, "c"), 0);
    /* a d c */
    assert_int_equal(put(t, "e", 100, 5), 1);
    assert_false(cached(t, "a"));
    /* A bigger document needs two victims: d then c. */
    assert_int_equal(get(t, "e"), 0);
    assert_int_equal(put(t, "f", 100 + tier_entry_charge(1, 1, 100), 6), 1);
    assert_false(cached(t, "d"));
    assert_false(cached(t, "c"));
    assert_true(cached(t, "e") && cached(t, "f"));
    assert_int_equal(stats(t).evictions, 4);
    /* Too big even for an empty tier: refused, nothing evicted. */
    assert_int_equal(put(t, "g", 4 * tier_entry_charge(1, 1, 100), 7), BURROW_EFULL);
    assert_true(cached(t, "e") && cached(t, "f"));
    assert_int_equal(stats(t).evictions, 4);
    /* Growing a cached document evicts others, never itself. */
    assert_int_equal(put(t, "e", 100 + tier_entry_charge(1, 1, 100), 8), 1);
    assert_false(cached(t, "f"));
    assert_true(cached(t, "e"));
    check(t);
    tier_destroy(t);
}

static void test_lfu(void **state)
{
    (void)state;
    fk = (fake_clock){100000, 1000}; /* epoch 100 with H = 1000 */
    tier *t = make(budget_for(3, 50), TIER_LFU, 1000);
    assert_int_equal(put(t, "a", 50, 1), 1);
    assert_int_equal(put(t, "b", 50, 2), 1);
    assert_int_equal(put(t, "c", 50, 3), 1);
    assert_int_equal(stat_of(t, "a").lfu_class, 100);
    for (int i = 0; i < 3; i++)
        assert_int_equal(get(t, "a"), 0); /* count 4: class 102 */
    assert_int_equal(get(t, "b"), 0);     /* count 2: class 101 */
    assert_int_equal(stat_of(t, "a").lfu_class, 102);
    assert_int_equal(stat_of(t, "b").lfu_class, 101);
    /* c is least frequent although a was used before it. */
    fk.mono += 10;
    assert_int_equal(put(t, "d", 50, 4), 1);
    assert_false(cached(t, "c"));
    assert_int_equal(stat_of(t, "d").lfu_class, 100);

    /* Three half-lives later, d is hit: count 1/8 + 1, class 0 + 103. */
    fk.mono = 103010;
    assert_int_equal(get(t, "d"), 0);
    assert_int_equal(stat_of(t, "d").lfu_class, 103);
    assert_true(fabs(stat_of(t, "d").count - 1.125) < 1e-12);
    assert_int_equal(put(t, "e", 50, 5), 1); /* b (101) goes */
    assert_false(cached(t, "b"));
    assert_int_equal(put(t, "f", 50, 6), 1); /* a (102): 4 hits long ago lose to e's one now */
    assert_false(cached(t, "a"));
    /* d, e and f are all 103; d was used first, then e. */
    assert_int_equal(put(t, "g", 50, 7), 1);
    assert_false(cached(t, "d"));
    assert_int_equal(put(t, "h", 50, 8), 1);
    assert_false(cached(t, "e"));
    check(t);

    /* A long idle jump merges every class into the bottom list, which keeps
     * the order by class: f (103) then g and h (103, by use). */
    assert_int_equal(get(t, "g"), 0);
    assert_int_equal(get(t, "g"), 0); /* g: count 3, class 104 */
    fk.mono = 1000000000;             /* epoch 10^6 */
    check(t);
    assert_int_equal(put(t, "i", 50, 9), 1);
    assert_false(cached(t, "f"));
    assert_int_equal(put(t, "j", 50, 10), 1);
    assert_false(cached(t, "h")); /* h (103) before g (104) */
    assert_true(cached(t, "g"));
    check(t);

    /* Unpinning relinks with the class raised to the window's bottom, as
     * the most recent of it: after g (104, merged into the bottom). */
    tier_key ki = K("c", "i");
    assert_int_equal(tier_pin(t, &ki), 0);
    fk.mono += 20 * 1000; /* 20 epochs: the bottom is now 10^6 + 4 */
    assert_int_equal(tier_unpin(t, &ki), 0);
    assert_int_equal(stat_of(t, "i").lfu_class, 1000004);
    check(t);
    assert_int_equal(put(t, "k", 50, 11), 1); /* g: 104 */
    assert_false(cached(t, "g"));
    assert_int_equal(put(t, "l", 50, 12), 1); /* j: 10^6 before i: 10^6 + 4 */
    assert_false(cached(t, "j"));
    assert_true(cached(t, "i"));
    check(t);
    tier_destroy(t);
}

static void test_hybrid(void **state)
{
    (void)state;
    fk = (fake_clock){100000, 50000};
    tier *t = make(budget_for(4, 50), TIER_HYBRID, 1000);
    tier_key ka = K("c", "a"), kb = K("c", "b"), kc = K("c", "c");
    assert_int_equal(put(t, "a", 50, 1), 1);
    assert_int_equal(put(t, "b", 50, 2), 1);
    assert_int_equal(put(t, "c", 50, 3), 1);
    assert_int_equal(put(t, "d", 50, 4), 1);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(get(t, "a"), 0);
        assert_int_equal(get(t, "b"), 0);
    }
    assert_int_equal(get(t, "c"), 0);
    /* a and b are hot, but expire; b's TTL set first with the same time. */
    assert_int_equal(tier_expire_at(t, &kb, 60000), 0);
    assert_int_equal(tier_expire_at(t, &ka, 60000), 0);
    assert_int_equal(tier_expire_at(t, &kc, 70000), 0);
    /* The heap's growth to 4 slots took room: d, least frequent, went. */
    assert_false(cached(t, "d"));
    assert_int_equal(tier_pin(t, &kb), 0);
    fk.wall = 65000; /* a and b expired, c not yet */
    assert_int_equal(put(t, "e", 50, 5), 1);
    tier_stats s = stats(t);
    /* b (pinned, but expired, set first) went as the victim. */
    assert_int_equal(s.evictions, 2);
    assert_int_equal(s.entries, 3);
    fk.wall = 50000; /* look without expiring anything */
    assert_false(cached(t, "b"));
    assert_true(cached(t, "a"));
    fk.wall = 65000;
    assert_int_equal(put(t, "f", 50, 6), 1); /* a next */
    fk.wall = 50000;
    assert_false(cached(t, "a"));
    /* No expired entry left: least frequent, then least recent. */
    fk.wall = 65000;
    assert_int_equal(get(t, "e"), 0);
    assert_int_equal(put(t, "g", 50, 7), 1); /* c (count 2), e (2), f (1): f */
    assert_false(cached(t, "f"));
    assert_int_equal(get(t, "g"), 0);
    assert_int_equal(put(t, "h", 50, 8), 1); /* c, e and g all count 2; c used first */
    assert_false(cached(t, "c"));
    check(t);
    tier_destroy(t);

    /* Switching the policy at run time changes the next victim only. */
    t = make(budget_for(3, 50), TIER_HYBRID, 1000);
    assert_int_equal(put(t, "a", 50, 1), 1);
    assert_int_equal(put(t, "b", 50, 2), 1);
    assert_int_equal(put(t, "c", 50, 3), 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(get(t, "c"), 0); /* c: count 4 */
    assert_int_equal(get(t, "a"), 0);     /* a: count 2 */
    assert_int_equal(get(t, "b"), 0);     /* b: count 2; use order c a b */
    assert_int_equal(tier_set_policy(t, TIER_LRU), 0);
    assert_int_equal(put(t, "d", 50, 4), 1);
    assert_false(cached(t, "c"));
    assert_int_equal(tier_set_policy(t, TIER_LFU), 0);
    assert_int_equal(put(t, "e", 50, 5), 1); /* d: count 1 */
    assert_false(cached(t, "d"));
    assert_int_equal(put(t, "f", 50, 6), 1); /* a: count 2 before b, e: count 1 */
    assert_false(cached(t, "e"));
    assert_int_equal(stats(t).policy, TIER_LFU);
    check(t);
    tier_destroy(t);
}

static void test_frequency(void **state)
{
    (void)state;
    const uint64_t H = 2000;
    fk = (fake_clock){777, 0};
    tier *t = make(1 << 20, TIER_LFU, H);
    assert_int_equal(put(t, "a", 10, 1), 1);
    uint64_t times[64];
    int n = 0;
    times[n++] = fk.mono; /* insertion counts as one */
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    for (int i = 0; i < 40; i++) {
        fk.mono += tu_below(&r, 3000);
        if (tu_chance(&r, 2, 3)) {
            assert_int_equal(get(t, "a"), 0);
            times[n++] = fk.mono;
        }
        /* count(now) = sum over accesses of 2^(-(now - t_i) / H) */
        double want = 0;
        for (int j = 0; j < n; j++)
            want += exp2(-(double)(fk.mono - times[j]) / (double)H);
        tier_entry_stats st = stat_of(t, "a");
        assert_true(fabs(st.count - want) <= 1e-9 * want);
        double want_freq = want * log(2.0) * 1000.0 / (double)H;
        assert_true(fabs(st.frequency - want_freq) <= 1e-9 * want_freq);
        assert_int_equal(st.accesses, (uint64_t)n - 1);
        assert_int_equal(st.last_access_ms, times[n - 1]);
        /* class: floor(log2 count) + floor(t / H), both at the last access */
        double at = 0;
        for (int j = 0; j < n; j++)
            at += exp2(-(double)(times[n - 1] - times[j]) / (double)H);
        assert_int_equal(st.lfu_class, (int64_t)floor(log2(at)) + (int64_t)(times[n - 1] / H));
    }
    /* Steady accesses every 100 ms converge to 10 per second. */
    for (int i = 0; i < 2000; i++) {
        fk.mono += 100;
        assert_int_equal(get(t, "a"), 0);
    }
    tier_entry_stats st = stat_of(t, "a");
    assert_true(fabs(st.frequency - 10.0) < 0.5);
    tier_destroy(t);
}

/* ---- promotion and demotion ---------------------------------------------------------- */

static void test_promotion(void **state)
{
    (void)state;
    fk = (fake_clock){10000, 0};
    tier *t = make(1 << 20, TIER_HYBRID, 1000);
    tier_key ka = K("c", "a"), kb = K("c", "b");
    buf b = {0};
    /* Defaults: everything is promoted. */
    assert_int_equal(tier_should_promote(t, &ka), 1);
    assert_int_equal(tier_admit(t, &ka, "x", 1, 0, 0, 0), 1);
    assert_int_equal(tier_demote(t, &ka), 1);
    assert_int_equal(stats(t).demotions, 1);

    /* Second miss within a second. */
    tier_rules r = {.promote_min_misses = 2, .promote_window_ms = 1000};
    tier_set_rules(t, &r);
    assert_int_equal(tier_should_promote(t, &ka), 0);
    assert_int_equal(tier_get(t, &ka, 0, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_should_promote(t, &ka), 0);
    assert_int_equal(tier_admit(t, &ka, "x", 1, 0, 0, 0), 0);
    assert_int_equal(stats(t).refused_declined, 1);
    fk.mono += 1000;
    assert_int_equal(tier_get(t, &ka, 0, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_should_promote(t, &ka), 1);
    fk.mono += 1001; /* the run is broken once the window passes */
    assert_int_equal(tier_should_promote(t, &ka), 0);
    assert_int_equal(tier_get(t, &ka, 0, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_should_promote(t, &ka), 0);
    fk.mono += 10;
    assert_int_equal(tier_get(t, &ka, 0, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_admit(t, &ka, "x", 1, 0, 0, 0), 1);
    /* Inserting drops the record: after a demotion it starts again. */
    assert_int_equal(tier_demote(t, &ka), 1);
    assert_int_equal(tier_should_promote(t, &ka), 0);
    /* TIER_FORCE skips the rule. */
    assert_int_equal(tier_admit(t, &kb, "y", 1, 0, 0, TIER_FORCE), 1);
    assert_int_equal(tier_get(t, &kb, 0, &b), 0);

    /* Frequency threshold: 3 misses at once make 3 * ln2 * 1000 / H per
     * second; a half-life later half that. */
    double f3 = 3 * log(2.0) * 1000.0 / 1000.0;
    r = (tier_rules){.promote_min_freq = f3 * 0.99};
    tier_set_rules(t, &r);
    assert_int_equal(tier_demote(t, &kb), 1);
    for (int i = 0; i < 2; i++)
        assert_int_equal(tier_get(t, &kb, 0, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_should_promote(t, &kb), 0);
    assert_int_equal(tier_get(t, &kb, 0, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_should_promote(t, &kb), 1);
    fk.mono += 1000;
    assert_int_equal(tier_should_promote(t, &kb), 0);
    r.promote_min_freq = f3 / 2 * 0.99;
    tier_set_rules(t, &r);
    assert_int_equal(tier_should_promote(t, &kb), 1);
    tier_destroy(t);

    /* The ghost table is bounded: with one set of 4 slots, a fifth key
     * takes the slot of the oldest miss. */
    tier_options o;
    tier_options_init(&o);
    o.clock = &fk_clock;
    o.ghost_slots = 4;
    o.rules.promote_min_misses = 1;
    assert_int_equal(tier_create(&o, &t), 0);
    assert_int_equal(stats(t).fixed_bytes >= 4 * TIER_GHOST_SLOT_SIZE, 1);
    const char *ids[] = {"1", "2", "3", "4", "5"};
    for (int i = 0; i < 5; i++) {
        fk.mono += 1;
        tier_key k = K("c", ids[i]);
        assert_int_equal(tier_get(t, &k, 0, &b), BURROW_ENOTFOUND);
    }
    for (int i = 0; i < 5; i++) {
        tier_key k = K("c", ids[i]);
        assert_int_equal(tier_should_promote(t, &k), i > 0);
    }
    buf_free(&b);
    tier_destroy(t);
}

static void test_demote_idle(void **state)
{
    (void)state;
    fk = (fake_clock){0, 0};
    tier *t = make(1 << 20, TIER_LRU, 1000);
    assert_int_equal(tier_demote_idle_step(t, 10), 0); /* off by default */
    tier_rules r = {.demote_idle_ms = 1000};
    tier_set_rules(t, &r);
    tier_key kp = K("c", "p");
    fk.mono = 0;
    assert_int_equal(put(t, "p", 10, 0), 1);
    assert_int_equal(tier_pin(t, &kp), 0);
    assert_int_equal(put(t, "a", 10, 1), 1);
    fk.mono = 100;
    assert_int_equal(put(t, "b", 10, 2), 1);
    fk.mono = 200;
    assert_int_equal(put(t, "c", 10, 3), 1);
    fk.mono = 300;
    assert_int_equal(get(t, "a"), 0);
    fk.mono = 1200; /* idle: b 1100, c 1000 (not more than 1000), a 900 */
    assert_int_equal(tier_demote_idle_step(t, 10), 1);
    assert_false(cached(t, "b"));
    fk.mono = 1250;
    assert_int_equal(tier_demote_idle_step(t, 1), 1); /* c; a is next but the budget is spent */
    assert_false(cached(t, "c"));
    fk.mono = 100000;
    assert_int_equal(tier_demote_idle_step(t, 10), 1); /* a; p is pinned */
    assert_true(cached(t, "p"));
    assert_int_equal(stats(t).demotions, 3);
    /* Unpinning counts as a use: p is not idle right after. */
    assert_int_equal(tier_unpin(t, &kp), 0);
    assert_int_equal(tier_demote_idle_step(t, 10), 0);
    fk.mono += 1001;
    assert_int_equal(tier_demote_idle_step(t, 10), 1);
    assert_int_equal(stats(t).entries, 0);
    assert_int_equal(stats(t).bytes_used, 0);
    check(t);
    tier_destroy(t);
}

static void test_pinning(void **state)
{
    (void)state;
    fk = (fake_clock){1000, 1000};
    tier *t = make(budget_for(3, 100), TIER_LRU, 1000);
    tier_key ka = K("c", "a"), kd = K("c", "d"), kx = K("c", "x");
    memset(docbuf, 1, 100);
    assert_int_equal(tier_put(t, &ka, docbuf, 100, 1, 0, TIER_PIN), 1);
    assert_int_equal(put(t, "b", 100, 2), 1);
    assert_int_equal(put(t, "c", 100, 3), 1);
    assert_int_equal(put(t, "d", 100, 4), 1); /* a is the oldest but pinned: b goes */
    assert_true(cached(t, "a"));
    assert_false(cached(t, "b"));
    assert_true(stat_of(t, "a").pinned);
    assert_int_equal(stats(t).pinned, 1);
    assert_int_equal(stats(t).pinned_bytes, tier_entry_charge(1, 1, 100));
    assert_int_equal(tier_pin(t, &kd), 0);
    assert_int_equal(tier_pin(t, &kx), BURROW_ENOTFOUND);
    assert_int_equal(put(t, "e", 100, 5), 1); /* c goes */
    assert_false(cached(t, "c"));
    /* With two pinned, a put bigger than the one evictable entry cannot fit. */
    assert_int_equal(put(t, "f", 200, 6), BURROW_EFULL);
    memset(docbuf, 7, 100);
    tier_key kg = K("c", "g");
    assert_int_equal(tier_put(t, &kg, docbuf, 100, 1, 0, TIER_PIN), 1); /* e goes */
    assert_false(cached(t, "e"));
    assert_int_equal(put(t, "h", 1, 8), BURROW_EFULL);
    assert_int_equal(stats(t).refused_full, 2);
    /* The budget cannot shrink below what the pins hold. */
    assert_int_equal(tier_set_budget(t, budget_for(2, 100)), BURROW_EBUSY);
    assert_int_equal(stats(t).budget, budget_for(3, 100));
    assert_int_equal(stats(t).entries, 3);
    /* Unpinned, a can go. */
    assert_int_equal(tier_unpin(t, &ka), 0);
    assert_int_equal(tier_set_budget(t, budget_for(2, 100)), 0);
    assert_false(cached(t, "a"));
    assert_int_equal(stats(t).evictions, 4);
    /* By hand, a pinned entry can be demoted. */
    assert_int_equal(tier_demote(t, &kd), 1);
    assert_int_equal(stats(t).pinned, 1);
    check(t);
    tier_destroy(t);
}

/* ---- TTL --------------------------------------------------------------------------------- */

typedef struct swept {
    char ids[16][8];
    uint64_t when[16];
    int n;
} swept;

static void on_expire(void *ctx, const tier_key *k, uint64_t when)
{
    swept *s = ctx;
    memcpy(s->ids[s->n], k->id, k->id_len);
    s->ids[s->n][k->id_len] = 0;
    s->when[s->n++] = when;
}

static void test_ttl(void **state)
{
    (void)state;
    fk = (fake_clock){1, 1000000};
    tier *t = make(1 << 20, TIER_LRU, 1000);
    tier_key ka = K("c", "a"), kb = K("c", "b"), kc = K("c", "c"), kd = K("c", "d"),
             kx = K("c", "x");
    uint64_t when;
    memset(docbuf, 1, 10);
    assert_int_equal(tier_put(t, &ka, docbuf, 10, 1, 1005000, 0), 1);
    assert_int_equal(tier_ttl(t, &ka, &when), 0);
    assert_int_equal(when, 1005000);
    assert_int_equal(put(t, "b", 10, 2), 1);
    assert_int_equal(tier_ttl(t, &kb, &when), 0);
    assert_int_equal(when, 0);
    assert_int_equal(tier_ttl(t, &kx, &when), BURROW_ENOTFOUND);
    assert_int_equal(tier_expire_at(t, &kx, 5), BURROW_ENOTFOUND);
    /* The heap's bytes are accounted. */
    tier_stats s = stats(t);
    assert_int_equal(s.index_bytes,
                     TABLE_MIN_BYTES + 4 * TIER_HEAP_SLOT_SIZE + TIER_ALLOC_OVERHEAD);
    /* Clearing and setting again; a put with TIER_TTL_KEEP keeps it. */
    assert_int_equal(tier_expire_at(t, &ka, 0), 0);
    assert_int_equal(tier_ttl(t, &ka, &when), 0);
    assert_int_equal(when, 0);
    assert_int_equal(stats(t).index_bytes, TABLE_MIN_BYTES);
    assert_int_equal(tier_expire_at(t, &ka, 1003000), 0);
    assert_int_equal(tier_put(t, &ka, docbuf, 20, 2, TIER_TTL_KEEP, 0), 1);
    assert_int_equal(tier_ttl(t, &ka, &when), 0);
    assert_int_equal(when, 1003000);
    assert_int_equal(tier_put(t, &ka, docbuf, 20, 3, 0, 0), 1);
    assert_int_equal(tier_ttl(t, &ka, &when), 0);
    assert_int_equal(when, 0);
    assert_int_equal(tier_expire_at(t, &ka, 1003000), 0);

    /* Expired entries are invisible at once and removed on lookup. */
    fk.wall = 1003000;
    assert_int_equal(get(t, "a"), BURROW_ENOTFOUND);
    s = stats(t);
    assert_int_equal(s.expirations, 1);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.entries, 1);
    /* An expiry in the past removes at once; a put that is already expired
     * stores nothing. */
    assert_int_equal(tier_expire_at(t, &kb, 1000), 0);
    assert_false(cached(t, "b"));
    assert_int_equal(tier_put(t, &kb, docbuf, 10, 4, 1000, 0), 0);
    assert_false(cached(t, "b"));
    assert_int_equal(stats(t).expirations, 2);

    /* The sweep: bounded, earliest first, equal times in the order set. */
    assert_int_equal(tier_put(t, &ka, docbuf, 10, 5, 1009000, 0), 1);
    assert_int_equal(tier_put(t, &kb, docbuf, 10, 5, 1007000, 0), 1);
    assert_int_equal(tier_put(t, &kc, docbuf, 10, 5, 1008000, 0), 1);
    assert_int_equal(tier_put(t, &kd, docbuf, 10, 5, 1007000, 0), 1);
    assert_int_equal(put(t, "e", 10, 5), 1);
    swept sw = {0};
    assert_int_equal(tier_expire_step(t, 10, on_expire, &sw), 0);
    fk.wall = 1008500;
    assert_int_equal(tier_expire_step(t, 2, on_expire, &sw), 2);
    assert_int_equal(sw.n, 2);
    assert_string_equal(sw.ids[0], "b");
    assert_string_equal(sw.ids[1], "d");
    assert_int_equal(sw.when[0], 1007000);
    assert_int_equal(tier_expire_step(t, 2, on_expire, &sw), 1);
    assert_string_equal(sw.ids[2], "c");
    assert_int_equal(tier_expire_step(t, 2, NULL, NULL), 0);
    assert_true(cached(t, "a") && cached(t, "e"));
    fk.wall = 2000000;
    assert_int_equal(tier_expire_step(t, 100, NULL, NULL), 1);
    assert_int_equal(stats(t).expirations, 6);
    assert_int_equal(stats(t).index_bytes, TABLE_MIN_BYTES); /* heap freed */
    /* Expired pinned entries go too; every keyed call hides them. */
    assert_int_equal(tier_put(t, &ka, docbuf, 10, 6, 2001000, TIER_PIN), 1);
    fk.wall = 2001000;
    assert_int_equal(tier_pin(t, &ka), BURROW_ENOTFOUND);
    assert_int_equal(stats(t).pinned, 0);
    check(t);
    tier_destroy(t);
}

/* ---- coherence ------------------------------------------------------------------------- */

static void test_coherence(void **state)
{
    (void)state;
    fk = (fake_clock){1, 1};
    tier_options o;
    tier_options_init(&o);
    o.clock = &fk_clock;
    o.hash_seed = 12345;
    o.initial_commit = 10;
    tier *t;
    assert_int_equal(tier_create(&o, &t), 0);
    tier_key ka = K("c", "a"), kb = K("c", "b"), kz = K("z", "a");
    buf b = {0};
    /* A value read before the tier existed is valid from the initial
     * commit; an older snapshot may not fill the tier. */
    assert_int_equal(tier_admit(t, &ka, "v0", 2, 9, 0, 0), 0);
    assert_int_equal(stats(t).refused_stale, 1);
    assert_int_equal(tier_admit(t, &ka, "v0", 2, 12, 0, 0), 1);
    assert_int_equal(tier_entry_stat(t, &ka, &(tier_entry_stats){0}), 0);
    tier_entry_stats st;
    tier_entry_stat(t, &ka, &st);
    assert_int_equal(st.valid_from, 10);
    assert_int_equal(tier_get(t, &ka, 9, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_get(t, &ka, 10, &b), 0);

    /* Commit 15 writes a: invalidated before it is visible. A reader at
     * 14 read the old value and tries to fill: refused. */
    assert_int_equal(tier_invalidate(t, &ka, 15), 1);
    assert_int_equal(tier_get(t, &ka, 14, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_admit(t, &ka, "v0", 2, 14, 0, 0), 0);
    /* A reader at 15 may fill; its value is valid from 15. */
    assert_int_equal(tier_admit(t, &ka, "v1", 2, 15, 0, 0), 1);
    tier_entry_stat(t, &ka, &st);
    assert_int_equal(st.valid_from, 15);
    assert_int_equal(tier_get(t, &ka, 14, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_get(t, &ka, 20, &b), 0);
    assert_memory_equal(b.data, "v1", 2);
    /* A second fill of a cached key keeps what is there. */
    assert_int_equal(tier_admit(t, &ka, "xx", 2, 16, 0, 0), 1);
    assert_int_equal(tier_get(t, &ka, 20, &b), 0);
    assert_memory_equal(b.data, "v1", 2);

    /* Write-through: commit 18 wrote v2. A late put of commit 17 is stale. */
    assert_int_equal(tier_put(t, &ka, "v2", 2, 18, 0, 0), 1);
    tier_entry_stat(t, &ka, &st);
    assert_int_equal(st.valid_from, 18);
    assert_int_equal(tier_get(t, &ka, 17, &b), BURROW_ENOTFOUND);
    assert_int_equal(tier_put(t, &ka, "v1", 2, 17, 0, 0), 0);
    assert_int_equal(tier_get(t, &ka, 18, &b), 0);
    assert_memory_equal(b.data, "v2", 2);
    /* Never-written keys are bounded by the initial commit only. */
    assert_int_equal(tier_admit(t, &kb, "b0", 2, 10, 0, 0), 1);

    /* Dropping a collection: its entries go, and no snapshot before the
     * drop may fill any key. */
    assert_int_equal(tier_admit(t, &kz, "z0", 2, 18, 0, 0), 1);
    assert_int_equal(tier_invalidate_coll(t, "c", 1, 30), 2);
    assert_int_equal(tier_get(t, &kz, 30, &b), 0);
    assert_int_equal(tier_admit(t, &ka, "v2", 2, 29, 0, 0), 0);
    assert_int_equal(tier_admit(t, &ka, "v3", 2, 30, 0, 0), 1);
    tier_stats s = stats(t);
    assert_int_equal(s.invalidations, 3);
    assert_int_equal(s.last_commit, 30);
    buf_free(&b);
    tier_destroy(t);

    /* A one-slot writes table: keys push each other into the floor, the
     * bounds only grow, and commits may come out of order. */
    o.write_slots = 1;
    o.initial_commit = 0;
    assert_int_equal(tier_create(&o, &t), 0);
    assert_int_equal(tier_invalidate(t, &ka, 40), 0);
    assert_int_equal(tier_invalidate(t, &kb, 41), 0);
    assert_int_equal(tier_admit(t, &ka, "a", 1, 39, 0, 0), 0);
    assert_int_equal(tier_admit(t, &ka, "a", 1, 40, 0, 0), 1); /* W(a) = floor 40 */
    assert_int_equal(tier_admit(t, &kb, "b", 1, 40, 0, 0), 0); /* W(b) = 41 */
    assert_int_equal(tier_invalidate(t, &ka, 39), 1);          /* late report */
    assert_int_equal(tier_admit(t, &ka, "a", 1, 40, 0, 0), 0); /* W(a) = 41 now */
    assert_int_equal(tier_admit(t, &ka, "a", 1, 41, 0, 0), 1);
    assert_int_equal(tier_admit(t, &kb, "b", 1, 41, 0, 0), 1);
    tier_destroy(t);
}

/* ---- budget under random workloads ---------------------------------------------------- */

typedef struct sum_ctx {
    size_t bytes, n, pinned;
} sum_ctx;

static void sum_fn(void *ctx, const tier_key *k, const tier_entry_stats *st)
{
    (void)k;
    sum_ctx *s = ctx;
    s->bytes += st->bytes;
    s->n++;
    s->pinned += st->pinned;
}

static void check_budget(tier *t)
{
    check(t);
    tier_stats s = stats(t);
    sum_ctx c = {0};
    tier_foreach(t, sum_fn, &c);
    assert_true(s.bytes_used <= s.budget);
    assert_int_equal(s.bytes_used, c.bytes + s.index_bytes);
    assert_int_equal(s.entry_bytes, c.bytes);
    assert_int_equal(s.entries, c.n);
    assert_int_equal(s.pinned, c.pinned);
}

static void test_budget_random(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0xB0D6E7);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(40000, 1000000);
    fk = (fake_clock){1000000, 1000000000};
    tier *t = make(64 << 10, TIER_HYBRID, 500);
    enum { NKEYS = 3000 };
    static uint32_t version[NKEYS];
    memset(version, 0, sizeof version);
    static uint8_t doc[8192];
    buf out = {0};
    uint64_t commit = 1;
    for (unsigned i = 0; i < rounds; i++) {
        unsigned key = (unsigned)tu_below(&r, tu_chance(&r, 1, 2) ? 50 : NKEYS);
        char id[16], coll[4] = {'c', (char)('0' + key % 3), 0};
        snprintf(id, sizeof id, "%u", key);
        tier_key k = K(coll, id);
        unsigned op = (unsigned)tu_below(&r, 100);
        if (op < 35) {
            int rc = tier_get(t, &k, commit, &out);
            if (rc == 0) {
                /* a hit returns the newest version written */
                assert_true(out.size >= 4);
                uint32_t v;
                memcpy(&v, out.data, 4);
                assert_int_equal(v, version[key]);
            } else {
                assert_int_equal(rc, BURROW_ENOTFOUND);
            }
        } else if (op < 60) {
            size_t len = 4 + (size_t)(tu_chance(&r, 1, 10) ? tu_below(&r, 8000)
                                                           : tu_below(&r, 400));
            tu_fill(&r, doc, len);
            version[key]++;
            memcpy(doc, &version[key], 4);
            unsigned flags = tu_chance(&r, 1, 50) ? TIER_PIN : 0;
            uint64_t exp = tu_chance(&r, 1, 5) ? fk.wall + tu_below(&r, 5000) + 1 : 0;
            ++commit;
            tier_invalidate(t, &k, commit);
            int rc = tier_put(t, &k, doc, len, commit, exp, flags);
            assert_true(rc == 1 || rc == BURROW_EFULL);
        } else if (op < 70) {
            /* a read miss filled from "the store": the newest version */
            size_t len = 4 + (size_t)tu_below(&r, 600);
            tu_fill(&r, doc, len);
            memcpy(doc, &version[key], 4);
            int rc = tier_admit(t, &k, doc, len, commit, 0, 0);
            assert_true(rc == 1 || rc == 0 || rc == BURROW_EFULL);
        } else if (op < 74) {
            tier_pin(t, &k);
        } else if (op < 80) {
            tier_unpin(t, &k);
        } else if (op < 83) {
            tier_demote(t, &k);
        } else if (op < 87) {
            tier_expire_at(t, &k, tu_chance(&r, 1, 3) ? 0 : fk.wall + tu_below(&r, 3000));
        } else if (op < 90) {
            tier_expire_step(t, 1 + tu_below(&r, 20), NULL, NULL);
        } else if (op < 92) {
            tier_rules rl = {.demote_idle_ms = 1 + tu_below(&r, 3000)};
            tier_set_rules(t, &rl);
            tier_demote_idle_step(t, 1 + tu_below(&r, 30));
        } else if (op < 94) {
            size_t b = tu_chance(&r, 1, 20) ? tu_below(&r, 2000) : 8192 + tu_below(&r, 400000);
            int rc = tier_set_budget(t, b);
            assert_true(rc == 0 || rc == BURROW_EBUSY);
            if (rc == BURROW_EBUSY) {
                tier_stats s = stats(t);
                assert_true(s.pinned_bytes > b || s.index_bytes > 0);
            }
        } else if (op < 95) {
            tier_set_policy(t, (int)tu_below(&r, 3));
        } else if (op < 96 && tu_chance(&r, 1, 20)) {
            tier_invalidate_coll(t, coll, 2, ++commit);
        } else {
            fk.mono += tu_below(&r, 400);
            fk.wall += tu_below(&r, 400);
        }
        check_budget(t);
    }
    tier_stats s = stats(t);
    assert_true(s.evictions > 0 && s.hits > 0 && s.expirations > 0);
    buf_free(&out);
    tier_destroy(t);
}

/* ---- the reference model ------------------------------------------------------------------ */

/*
 * The model keeps the tier's state as plain arrays and picks victims by
 * the definitions in tier.h (smallest use sequence, smallest (class, use
 * sequence), smallest (expiry, TTL sequence)), with linear scans. It mirrors
 * the accounting rules (charges, table and heap sizes, when they shrink),
 * the coherence bounds (the writes table, by the tier's own key hash) and
 * the ghost records (the test checks that no ghost set overflows, so each
 * key keeps its own record). After every operation every counter, byte
 * count and per-key statistic must agree.
 */
enum { MK = 12, MAXLEN = 600 };

typedef struct m_entry {
    bool present, pinned;
    size_t len;
    uint32_t version;
    uint64_t valid_from, expires, ttl_seq, use_seq, accesses, last_access, last_use;
    double count;
    int64_t cls;
} m_entry;

typedef struct m_ghost {
    bool present;
    uint32_t misses;
    uint64_t last;
    double count;
} m_ghost;

typedef struct model {
    tier *t;
    m_entry e[MK];
    m_ghost g[MK];
    uint64_t hash[MK];
    tier_key key[MK];
    char ids[MK][12];
    uint64_t (*wslot)[2]; /* hash, commit */
    uint32_t wmask;
    uint64_t write_floor, coll_floor, last_commit;
    size_t budget, entry_bytes, pinned_bytes;
    bool table, reserving;
    uint32_t heap_cap;
    int policy;
    tier_rules rules;
    uint64_t H, use_seq, ttl_seq, epoch, epoch_end;
    int64_t base;
    uint64_t hits, misses, promotions, demotions, evictions, expirations, invalidations;
    uint64_t stale, declined, full;
} model;

static size_t m_charge(const model *m, int i, size_t len)
{
    return tier_entry_charge(m->key[i].coll_len, m->key[i].id_len, len);
}

static size_t m_heap_bytes(uint32_t cap)
{
    return cap ? cap * TIER_HEAP_SLOT_SIZE + TIER_ALLOC_OVERHEAD : 0;
}

static uint32_t m_heap_len(const model *m)
{
    uint32_t n = 0;
    for (int i = 0; i < MK; i++)
        n += m->e[i].present && m->e[i].expires;
    return n;
}

static size_t m_count(const model *m)
{
    size_t n = 0;
    for (int i = 0; i < MK; i++)
        n += m->e[i].present;
    return n;
}

static size_t m_used(const model *m)
{
    return m->entry_bytes + (m->table ? TABLE_MIN_BYTES : 0) + m_heap_bytes(m->heap_cap);
}

static double m_decay(const model *m, double c, uint64_t from, uint64_t to)
{
    return to <= from ? c : c * exp2(-(double)(to - from) / (double)m->H);
}

static void m_advance(model *m, uint64_t now)
{
    if (now < m->epoch_end)
        return;
    m->epoch = now / m->H;
    m->epoch_end = (m->epoch + 1) * m->H;
    int64_t target = (int64_t)m->epoch - TIER_LFU_BELOW;
    if (target > m->base)
        m->base = target;
}

static int64_t m_clamp(const model *m, int64_t c)
{
    if (c < m->base)
        return m->base;
    if (c > m->base + TIER_LFU_CLASSES - 1)
        return m->base + TIER_LFU_CLASSES - 1;
    return c;
}

static void m_shrink(model *m)
{
    if (m->reserving)
        return;
    if (m_count(m) == 0)
        m->table = false;
    uint32_t len = m_heap_len(m);
    if (len == 0)
        m->heap_cap = 0;
    else
        while (m->heap_cap > 4 && len <= m->heap_cap / 4)
            m->heap_cap /= 2;
}

static void m_remove(model *m, int i, uint64_t *counter)
{
    m_entry *e = &m->e[i];
    size_t c = m_charge(m, i, e->len);
    m->entry_bytes -= c;
    if (e->pinned)
        m->pinned_bytes -= c;
    e->present = false;
    if (counter)
        (*counter)++;
    m_shrink(m);
}

static bool m_expired(const model *m, int i)
{
    return m->e[i].present && m->e[i].expires && fk.wall >= m->e[i].expires;
}

static bool m_find_live(model *m, int i)
{
    if (m_expired(m, i))
        m_remove(m, i, &m->expirations);
    return m->e[i].present;
}

/* The heap's top: smallest (expires, ttl_seq) among entries with a TTL. */
static int m_heap_top(const model *m)
{
    int best = -1;
    for (int i = 0; i < MK; i++) {
        const m_entry *e = &m->e[i];
        if (!e->present || !e->expires)
            continue;
        if (best < 0 || e->expires < m->e[best].expires ||
            (e->expires == m->e[best].expires && e->ttl_seq < m->e[best].ttl_seq))
            best = i;
    }
    return best;
}

static int m_victim(const model *m, int keep)
{
    int policy = m->policy;
    if (policy == TIER_HYBRID) {
        int top = m_heap_top(m);
        if (top >= 0 && m->e[top].expires <= fk.wall && top != keep)
            return top;
    }
    int best = -1;
    for (int i = 0; i < MK; i++) {
        const m_entry *e = &m->e[i];
        if (!e->present || e->pinned || i == keep)
            continue;
        if (best < 0) {
            best = i;
            continue;
        }
        const m_entry *b = &m->e[best];
        if (policy == TIER_LRU ? e->use_seq < b->use_seq
                               : (e->cls < b->cls || (e->cls == b->cls && e->use_seq < b->use_seq)))
            best = i;
    }
    return best;
}

static bool m_room_possible(const model *m, size_t need, int keep)
{
    size_t evictable = m->entry_bytes - m->pinned_bytes;
    if (keep >= 0 && !m->e[keep].pinned)
        evictable -= m_charge(m, keep, m->e[keep].len);
    return need <= m->budget && m_used(m) - evictable <= m->budget - need;
}

static int m_reserve(model *m, size_t need, int keep)
{
    m->reserving = true;
    if (!m_room_possible(m, need, keep)) {
        int top;
        while ((top = m_heap_top(m)) >= 0 && m->e[top].expires <= fk.wall && top != keep)
            m_remove(m, top, &m->expirations);
        if (!m_room_possible(m, need, keep)) {
            m->full++;
            return BURROW_EFULL;
        }
    }
    while (m_used(m) > m->budget - need) {
        int v = m_victim(m, keep);
        assert_true(v >= 0);
        m_remove(m, v, &m->evictions);
    }
    return 0;
}

static void m_reserve_end(model *m)
{
    m->reserving = false;
    m_shrink(m);
}

static size_t m_heap_growth(const model *m)
{
    uint32_t len = m_heap_len(m);
    if (len < m->heap_cap)
        return 0;
    return m_heap_bytes(m->heap_cap ? m->heap_cap * 2 : 4) - m_heap_bytes(m->heap_cap);
}

static void m_heap_reserve_one(model *m)
{
    if (m_heap_len(m) == m->heap_cap)
        m->heap_cap = m->heap_cap ? m->heap_cap * 2 : 4;
}

static void m_set_ttl(model *m, int i, uint64_t when)
{
    m->e[i].expires = when;
    m->e[i].ttl_seq = ++m->ttl_seq;
}

static void m_record_write(model *m, int i, uint64_t c)
{
    uint64_t *s = m->wslot[m->hash[i] & m->wmask];
    if (s[0] == m->hash[i]) {
        if (c > s[1])
            s[1] = c;
    } else {
        if (s[1] > m->write_floor)
            m->write_floor = s[1];
        s[0] = m->hash[i];
        s[1] = c > m->write_floor ? c : m->write_floor;
    }
    if (c > m->last_commit)
        m->last_commit = c;
}

static uint64_t m_bound(const model *m, int i)
{
    const uint64_t *s = m->wslot[m->hash[i] & m->wmask];
    uint64_t b = s[0] == m->hash[i] ? s[1] : m->write_floor;
    return b > m->coll_floor ? b : m->coll_floor;
}

static bool m_should_promote(const model *m, int i)
{
    const tier_rules *r = &m->rules;
    if (r->promote_min_misses == 0 && !(r->promote_min_freq > 0))
        return true;
    const m_ghost *g = &m->g[i];
    if (!g->present)
        return false;
    uint32_t misses = g->misses;
    if (r->promote_window_ms && fk.mono > g->last && fk.mono - g->last > r->promote_window_ms)
        misses = 0;
    double freq = m_decay(m, g->count, g->last, fk.mono) * (M_LN2 * 1000.0 / (double)m->H);
    return misses >= r->promote_min_misses && freq >= r->promote_min_freq;
}

static void m_ghost_record(model *m, int i)
{
    m_ghost *g = &m->g[i];
    uint64_t now = fk.mono;
    if (g->present) {
        uint64_t w = m->rules.promote_window_ms;
        if (w && now > g->last && now - g->last > w)
            g->misses = 0;
        g->count = m_decay(m, g->count, g->last, now) + 1.0;
        g->misses++;
        if (now > g->last)
            g->last = now;
    } else {
        *g = (m_ghost){true, 1, now, 1.0};
    }
}

static void m_link_new(model *m, int i)
{
    m_entry *e = &m->e[i];
    m_advance(m, fk.mono);
    e->use_seq = ++m->use_seq;
    e->last_use = fk.mono;
    e->cls = m_clamp(m, (int64_t)ilogb(e->count) + (int64_t)m->epoch);
}

static void m_touch(model *m, int i)
{
    m_entry *e = &m->e[i];
    uint64_t now = fk.mono;
    m_advance(m, now);
    e->count = m_decay(m, e->count, e->last_access, now) + 1.0;
    if (now > e->last_access)
        e->last_access = now;
    if (now > e->last_use)
        e->last_use = now;
    e->accesses++;
    e->use_seq = ++m->use_seq;
    e->cls = m_clamp(m, (int64_t)ilogb(e->count) + (int64_t)m->epoch);
}

static void m_pin(model *m, int i)
{
    if (m->e[i].pinned)
        return;
    m->e[i].pinned = true;
    m->pinned_bytes += m_charge(m, i, m->e[i].len);
}

static int m_insert(model *m, int i, size_t len, uint32_t version, uint64_t valid_from,
                    uint64_t expires, bool pin)
{
    size_t charge = m_charge(m, i, len);
    size_t need = charge + (m->table ? 0 : TABLE_MIN_BYTES) + (expires ? m_heap_growth(m) : 0);
    int rc = m_reserve(m, need, -1);
    if (rc) {
        m_reserve_end(m);
        return rc;
    }
    m->table = true;
    if (expires)
        m_heap_reserve_one(m);
    m_entry *e = &m->e[i];
    *e = (m_entry){.present = true, .pinned = pin, .len = len, .version = version,
                   .valid_from = valid_from, .last_access = fk.mono, .count = 1.0};
    m->entry_bytes += charge;
    if (pin)
        m->pinned_bytes += charge;
    m_link_new(m, i);
    if (expires)
        m_set_ttl(m, i, expires);
    m->promotions++;
    m->g[i].present = false;
    m_reserve_end(m);
    return 1;
}

static int m_replace(model *m, int i, size_t len, uint32_t version, uint64_t valid_from,
                     uint64_t expires, bool pin)
{
    m_entry *e = &m->e[i];
    size_t oldc = m_charge(m, i, e->len), newc = m_charge(m, i, len);
    bool new_node = expires != 0 && expires != TIER_TTL_KEEP && !e->expires;
    size_t need = (newc > oldc ? newc - oldc : 0) + (new_node ? m_heap_growth(m) : 0);
    int rc = m_reserve(m, need, i);
    if (rc == 0) {
        if (new_node)
            m_heap_reserve_one(m);
        m->entry_bytes = m->entry_bytes - oldc + newc;
        if (e->pinned)
            m->pinned_bytes = m->pinned_bytes - oldc + newc;
        e->len = len;
        e->version = version;
        e->valid_from = valid_from;
        if (expires == 0)
            e->expires = 0;
        else if (expires != TIER_TTL_KEEP)
            m_set_ttl(m, i, expires);
        if (pin)
            m_pin(m, i);
        rc = 1;
    }
    m_reserve_end(m);
    return rc;
}

static void m_fill(uint8_t *d, size_t len, int i, uint32_t version)
{
    for (size_t j = 0; j < len; j++)
        d[j] = (uint8_t)(version * 31u + j * 7u + (unsigned)i);
}

typedef struct m_seen {
    bool present[MK];
    tier_entry_stats st[MK];
    const model *m;
} m_seen;

static void m_collect(void *ctx, const tier_key *k, const tier_entry_stats *st)
{
    m_seen *s = ctx;
    for (int i = 0; i < MK; i++) {
        const tier_key *mk = &s->m->key[i];
        if (mk->coll_len == k->coll_len && mk->id_len == k->id_len &&
            memcmp(mk->coll, k->coll, k->coll_len) == 0 && memcmp(mk->id, k->id, k->id_len) == 0) {
            assert_false(s->present[i]);
            s->present[i] = true;
            s->st[i] = *st;
            return;
        }
    }
    fail_msg("tier holds a key the model never made");
}

static void m_compare(model *m, unsigned round)
{
    check(m->t);
    tier_stats s = stats(m->t);
#define SAME(a, b)                                                                            \
    do {                                                                                      \
        if ((uint64_t)(a) != (uint64_t)(b))                                                   \
            fail_msg("round %u: %s = %llu, model %llu", round, #a, (unsigned long long)(a), \
                     (unsigned long long)(b));                                                \
    } while (0)
    SAME(s.hits, m->hits);
    SAME(s.misses, m->misses);
    SAME(s.promotions, m->promotions);
    SAME(s.demotions, m->demotions);
    SAME(s.evictions, m->evictions);
    SAME(s.expirations, m->expirations);
    SAME(s.invalidations, m->invalidations);
    SAME(s.refused_stale, m->stale);
    SAME(s.refused_declined, m->declined);
    SAME(s.refused_full, m->full);
    SAME(s.entries, m_count(m));
    SAME(s.entry_bytes, m->entry_bytes);
    SAME(s.pinned_bytes, m->pinned_bytes);
    SAME(s.bytes_used, m_used(m));
    SAME(s.budget, m->budget);
    SAME(s.last_commit, m->last_commit);
    m_seen seen = {.m = m};
    tier_foreach(m->t, m_collect, &seen);
    for (int i = 0; i < MK; i++) {
        const m_entry *e = &m->e[i];
        if (seen.present[i] != e->present)
            fail_msg("round %u: key %d present %d, model %d", round, i, seen.present[i],
                     e->present);
        if (!e->present)
            continue;
        const tier_entry_stats *st = &seen.st[i];
        SAME(st->accesses, e->accesses);
        SAME(st->last_access_ms, e->last_access);
        SAME(st->last_use_ms, e->last_use);
        SAME(st->use_seq, e->use_seq);
        SAME(st->lfu_class, e->cls);
        SAME(st->valid_from, e->valid_from);
        SAME(st->expires_at, e->expires);
        SAME(st->doc_len, e->len);
        SAME(st->pinned, e->pinned);
        double want = m_decay(m, e->count, e->last_access, fk.mono);
        if (fabs(st->count - want) > 1e-12 * want)
            fail_msg("round %u: key %d count %.17g, model %.17g", round, i, st->count, want);
    }
#undef SAME
}

static void test_model(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(60000, 2000000);
    unsigned runs = 8;
    for (unsigned run = 0; run < runs; run++) {
        tu_rng r;
        tu_rng_seed(&r, tu_mix(seed + run));
        model *m = calloc(1, sizeof *m);
        assert_non_null(m);
        fk = (fake_clock){1000000 + tu_below(&r, 100000), 1000000000};
        uint32_t wslots = tu_chance(&r, 1, 2) ? 4 : 4096;
        tier_options o;
        tier_options_init(&o);
        o.clock = &fk_clock;
        o.policy = (int)tu_below(&r, 3);
        o.half_life_ms = tu_chance(&r, 1, 3) ? 100 : tu_chance(&r, 1, 2) ? 1000 : 5000;
        o.budget = 1000 + tu_below(&r, 4000);
        o.write_slots = wslots;
        o.ghost_slots = 4096;
        o.initial_commit = 5;
        /* A seed under which no ghost set holds more than 4 of the keys. */
        for (o.hash_seed = tu_mix(seed ^ run) | 1;; o.hash_seed++) {
            assert_int_equal(tier_create(&o, &m->t), 0);
            int per_set[1024] = {0};
            bool ok = true;
            for (int i = 0; i < MK; i++) {
                snprintf(m->ids[i], sizeof m->ids[i], "%d", i / 2);
                m->key[i] = (tier_key){i % 2 ? "d" : "c", 1, m->ids[i], strlen(m->ids[i])};
                m->hash[i] = tier_key_hash(m->t, &m->key[i]);
                if (++per_set[(m->hash[i] >> 32) & 1023] > 4)
                    ok = false;
            }
            if (ok)
                break;
            tier_destroy(m->t);
        }
        m->wslot = calloc(wslots, sizeof *m->wslot);
        m->wmask = wslots - 1;
        m->write_floor = m->coll_floor = m->last_commit = 5;
        m->budget = o.budget;
        m->policy = o.policy;
        m->H = o.half_life_ms;
        m->epoch = fk.mono / m->H;
        m->epoch_end = (m->epoch + 1) * m->H;
        m->base = (int64_t)m->epoch - TIER_LFU_BELOW;
        uint64_t commit = 5;
        static uint8_t d[MAXLEN];
        buf out = {0};
        for (unsigned round = 0; round < rounds / runs; round++) {
            int i = (int)tu_below(&r, MK);
            tier_key *k = &m->key[i];
            unsigned op = (unsigned)tu_below(&r, 100);
            int rc, want;
            if (op < 25) { /* get */
                uint64_t snap = commit - tu_below(&r, 4);
                rc = tier_get(m->t, k, snap, &out);
                if (m_expired(m, i))
                    m_remove(m, i, &m->expirations);
                if (!m->e[i].present || m->e[i].valid_from > snap) {
                    m->misses++;
                    m_ghost_record(m, i);
                    assert_int_equal(rc, BURROW_ENOTFOUND);
                } else {
                    assert_int_equal(rc, 0);
                    m_fill(d, m->e[i].len, i, m->e[i].version);
                    assert_int_equal(out.size, m->e[i].len);
                    if (out.size)
                        assert_memory_equal(out.data, d, out.size);
                    m_touch(m, i);
                    m->hits++;
                }
            } else if (op < 40) { /* put */
                size_t len = (size_t)tu_below(&r, MAXLEN);
                uint32_t ver = (uint32_t)tu_rand(&r);
                m_fill(d, len, i, ver);
                uint64_t c = tu_chance(&r, 1, 5) ? commit - tu_below(&r, 3) : ++commit;
                uint64_t exp = 0;
                unsigned x = (unsigned)tu_below(&r, 5);
                if (x == 1)
                    exp = TIER_TTL_KEEP;
                else if (x == 2)
                    exp = fk.wall + tu_below(&r, 4000) - 500;
                bool pin = tu_chance(&r, 1, 10);
                rc = tier_put(m->t, k, d, len, c, exp, pin ? TIER_PIN : 0);
                m_find_live(m, i);
                m_record_write(m, i, c);
                if (m_bound(m, i) > c) {
                    m->stale++;
                    want = 0;
                } else if (exp != 0 && exp != TIER_TTL_KEEP && exp <= fk.wall) {
                    if (m->e[i].present)
                        m_remove(m, i, &m->expirations);
                    want = 0;
                } else if (m->e[i].present) {
                    want = m_replace(m, i, len, ver, c, exp, pin);
                } else {
                    want = m_insert(m, i, len, ver, c, exp == TIER_TTL_KEEP ? 0 : exp, pin);
                }
                assert_int_equal(rc, want);
            } else if (op < 52) { /* admit */
                size_t len = (size_t)tu_below(&r, MAXLEN);
                uint32_t ver = (uint32_t)tu_rand(&r);
                m_fill(d, len, i, ver);
                uint64_t snap = commit - tu_below(&r, 4);
                uint64_t exp = tu_chance(&r, 1, 4) ? fk.wall + tu_below(&r, 4000) - 500 : 0;
                unsigned flags = (tu_chance(&r, 1, 4) ? TIER_FORCE : 0) |
                                 (tu_chance(&r, 1, 10) ? TIER_PIN : 0);
                rc = tier_admit(m->t, k, d, len, snap, exp, flags);
                m_find_live(m, i);
                uint64_t bound = m_bound(m, i);
                if (bound > snap) {
                    m->stale++;
                    want = 0;
                } else if (m->e[i].present) {
                    if (flags & TIER_PIN)
                        m_pin(m, i);
                    want = 1;
                } else if (!(flags & TIER_FORCE) && !m_should_promote(m, i)) {
                    m->declined++;
                    want = 0;
                } else if (exp && exp <= fk.wall) {
                    want = 0;
                } else {
                    want = m_insert(m, i, len, ver, bound, exp, flags & TIER_PIN);
                }
                assert_int_equal(rc, want);
            } else if (op < 57) { /* invalidate */
                uint64_t c = tu_chance(&r, 1, 5) ? commit - tu_below(&r, 3) : ++commit;
                rc = tier_invalidate(m->t, k, c);
                bool was = m_find_live(m, i);
                m_record_write(m, i, c);
                if (was)
                    m_remove(m, i, &m->invalidations);
                assert_int_equal(rc, was);
            } else if (op < 60) { /* demote */
                rc = tier_demote(m->t, k);
                bool was = m_find_live(m, i);
                if (was)
                    m_remove(m, i, &m->demotions);
                assert_int_equal(rc, was);
            } else if (op < 64) { /* pin */
                rc = tier_pin(m->t, k);
                bool was = m_find_live(m, i);
                if (was)
                    m_pin(m, i);
                assert_int_equal(rc, was ? 0 : BURROW_ENOTFOUND);
            } else if (op < 68) { /* unpin */
                rc = tier_unpin(m->t, k);
                bool was = m_find_live(m, i);
                if (was && m->e[i].pinned) {
                    m_entry *e = &m->e[i];
                    e->pinned = false;
                    m->pinned_bytes -= m_charge(m, i, e->len);
                    m_advance(m, fk.mono);
                    e->use_seq = ++m->use_seq;
                    if (fk.mono > e->last_use)
                        e->last_use = fk.mono;
                    e->cls = m_clamp(m, e->cls);
                }
                assert_int_equal(rc, was ? 0 : BURROW_ENOTFOUND);
            } else if (op < 74) { /* expire_at */
                uint64_t when = tu_chance(&r, 1, 4) ? 0 : fk.wall + tu_below(&r, 4000) - 500;
                rc = tier_expire_at(m->t, k, when);
                if (!m_find_live(m, i)) {
                    want = BURROW_ENOTFOUND;
                } else if (when == 0) {
                    m->e[i].expires = 0;
                    m_shrink(m);
                    want = 0;
                } else if (when <= fk.wall) {
                    m_remove(m, i, &m->expirations);
                    want = 0;
                } else if (m->e[i].expires) {
                    m_set_ttl(m, i, when);
                    want = 0;
                } else {
                    want = m_reserve(m, m_heap_growth(m), i);
                    if (want == 0) {
                        m_heap_reserve_one(m);
                        m_set_ttl(m, i, when);
                    }
                    m_reserve_end(m);
                }
                assert_int_equal(rc, want);
            } else if (op < 76) { /* ttl */
                uint64_t when = 0;
                rc = tier_ttl(m->t, k, &when);
                if (m_find_live(m, i)) {
                    assert_int_equal(rc, 0);
                    assert_int_equal(when, m->e[i].expires);
                } else {
                    assert_int_equal(rc, BURROW_ENOTFOUND);
                }
            } else if (op < 79) { /* sweep */
                size_t max = (size_t)tu_below(&r, 4);
                size_t n = tier_expire_step(m->t, max, NULL, NULL);
                size_t wn = 0;
                int top;
                while (wn < max && (top = m_heap_top(m)) >= 0 && m->e[top].expires <= fk.wall) {
                    m_remove(m, top, &m->expirations);
                    wn++;
                }
                assert_int_equal(n, wn);
            } else if (op < 82) { /* idle demotion */
                size_t max = (size_t)tu_below(&r, 4);
                size_t n = tier_demote_idle_step(m->t, max), wn = 0;
                if (m->rules.demote_idle_ms) {
                    for (size_t v = 0; v < max; v++) {
                        int best = -1;
                        for (int j = 0; j < MK; j++)
                            if (m->e[j].present && !m->e[j].pinned &&
                                (best < 0 || m->e[j].use_seq < m->e[best].use_seq))
                                best = j;
                        if (best < 0 || fk.mono <= m->e[best].last_use ||
                            fk.mono - m->e[best].last_use <= m->rules.demote_idle_ms)
                            break;
                        m_remove(m, best, &m->demotions);
                        wn++;
                    }
                }
                assert_int_equal(n, wn);
            } else if (op < 85) { /* budget */
                size_t b = tu_chance(&r, 1, 10) ? tu_below(&r, 800) : 500 + tu_below(&r, 4000);
                rc = tier_set_budget(m->t, b);
                want = 0;
                if (m_used(m) > b) {
                    size_t min = m->pinned_bytes;
                    uint32_t pm = 0;
                    size_t np = 0;
                    for (int j = 0; j < MK; j++) {
                        np += m->e[j].present && m->e[j].pinned;
                        pm += m->e[j].present && m->e[j].pinned && m->e[j].expires;
                    }
                    if (np)
                        min += TABLE_MIN_BYTES;
                    if (pm) {
                        uint32_t cap = m->heap_cap;
                        while (cap > 4 && pm <= cap / 4)
                            cap /= 2;
                        min += m_heap_bytes(cap);
                    }
                    if (min > b) {
                        want = BURROW_EBUSY;
                    } else {
                        int v;
                        while (m_used(m) > b && (v = m_victim(m, -1)) >= 0)
                            m_remove(m, v, &m->evictions);
                    }
                }
                if (want == 0)
                    m->budget = b;
                assert_int_equal(rc, want);
            } else if (op < 86) {
                m->policy = (int)tu_below(&r, 3);
                assert_int_equal(tier_set_policy(m->t, m->policy), 0);
            } else if (op < 87) {
                tier_rules rl = {0};
                if (tu_chance(&r, 1, 2)) {
                    rl.promote_min_misses = (uint32_t)tu_below(&r, 4);
                    rl.promote_window_ms = tu_below(&r, 3) * 1000;
                    rl.promote_min_freq =
                        tu_chance(&r, 1, 2) ? 0 : (double)tu_below(&r, 3000) / 1000.0;
                }
                rl.demote_idle_ms = tu_below(&r, 3) * 2000;
                m->rules = rl;
                tier_set_rules(m->t, &rl);
            } else if (op < 88) { /* invalidate a collection, rarely clear */
                if (tu_chance(&r, 1, 4)) {
                    tier_clear(m->t);
                    m->reserving = true;
                    for (int j = 0; j < MK; j++)
                        if (m->e[j].present)
                            m_remove(m, j, &m->demotions);
                    m_reserve_end(m);
                } else {
                    uint64_t c = ++commit;
                    const char *coll = i % 2 ? "d" : "c";
                    size_t n = tier_invalidate_coll(m->t, coll, 1, c);
                    if (c > m->coll_floor)
                        m->coll_floor = c;
                    if (c > m->last_commit)
                        m->last_commit = c;
                    size_t wn = 0;
                    m->reserving = true;
                    for (int j = 0; j < MK; j++)
                        if (m->e[j].present && j % 2 == i % 2) {
                            m_remove(m, j, &m->invalidations);
                            wn++;
                        }
                    m_reserve_end(m);
                    assert_int_equal(n, wn);
                }
            } else if (op < 91) { /* entry stat */
                tier_entry_stats st;
                rc = tier_entry_stat(m->t, k, &st);
                assert_int_equal(rc, m_find_live(m, i) ? 0 : BURROW_ENOTFOUND);
            } else { /* time */
                uint64_t far = tu_chance(&r, 1, 2) ? 20 * m->H : 200000000;
                uint64_t dt = tu_chance(&r, 1, 50) ? tu_below(&r, far) : tu_below(&r, 1500);
                fk.mono += dt;
                fk.wall += tu_chance(&r, 1, 2) ? dt : tu_below(&r, 1500);
            }
            m_compare(m, round);
        }
        tier_destroy(m->t);
        free(m->wslot);
        free(m);
        buf_free(&out);
    }
}

/* ---- threads ---------------------------------------------------------------------------- */

static tier *shared;

static void *hammer(void *arg)
{
    tu_rng r;
    tu_rng_seed(&r, (uint64_t)(uintptr_t)arg);
    buf out = {0};
    uint8_t d[300];
    for (int i = 0; i < 20000; i++) {
        char id[8];
        snprintf(id, sizeof id, "%u", (unsigned)tu_below(&r, 500));
        tier_key k = K("t", id);
        unsigned op = (unsigned)tu_below(&r, 10);
        if (op < 6) {
            if (tier_get(shared, &k, UINT64_MAX, &out) == 0)
                assert_true(out.size >= 1 && out.data[0] == (uint8_t)(out.size & 0xff));
        } else if (op < 9) {
            size_t len = 1 + (size_t)tu_below(&r, sizeof d - 1);
            memset(d, (int)(len & 0xff), len);
            tier_admit(shared, &k, d, len, UINT64_MAX - 1, 0, TIER_FORCE);
        } else {
            tier_demote(shared, &k);
        }
    }
    buf_free(&out);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    tier_options o;
    tier_options_init(&o);
    o.budget = 40000;
    assert_int_equal(tier_create(&o, &shared), 0);
    pthread_t th[4];
    for (uintptr_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&th[i], NULL, hammer, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    check(shared);
    assert_true(stats(shared).bytes_used <= 40000);
    tier_destroy(shared);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),
        cmocka_unit_test(test_lru),
        cmocka_unit_test(test_lfu),
        cmocka_unit_test(test_hybrid),
        cmocka_unit_test(test_frequency),
        cmocka_unit_test(test_promotion),
        cmocka_unit_test(test_demote_idle),
        cmocka_unit_test(test_pinning),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_coherence),
        cmocka_unit_test(test_budget_random),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
