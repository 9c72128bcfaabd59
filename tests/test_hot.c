/*
 * test_hot.c — documents read through the hot tier (options.hot_memory):
 * every read equals what the store alone returns at the reader's snapshot,
 * with aborted writes, open older snapshots and reopen; and the tier is
 * used (hits) and stays within its budget.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "burrow.h"
#include "query/query.h"
#include "testutil.h"
#include "tier/tier.h"

#define OK(x) assert_int_equal((x), 0)

static char *dir, *path;

static burrow_db *open_db(size_t hot)
{
    burrow_options o;
    burrow_options_init(&o);
    o.sync_mode = BURROW_SYNC_NONE;
    o.hot_memory = hot;
    burrow_db *db;
    OK(burrow_open(path, &o, &db));
    return db;
}

/* The stored document of id as the store alone sees it in txn, as JSON;
 * "" when there is none. */
static void store_json(burrow_txn *t, const char *id, burrow_buf *out)
{
    burrow_bucket b;
    burrow_val v;
    out->size = 0;
    if (burrow_bucket_open(t, "c:docs", 0, &b) || burrow_get(t, b, id, strlen(id), &v)) {
        burrow_buf_free(out);
        *out = (burrow_buf){0};
        return;
    }
    OK(burrow_json_write(v.data, v.size, 0, out));
}

/* Through the collection API (and the tier). */
static void api_json(burrow_txn *t, const char *id, burrow_buf *out)
{
    burrow_output o = {.flags = BURROW_OUT_RAW};
    int rc = burrow_doc_get(t, "docs", id, strlen(id), &o, out);
    if (rc == BURROW_ENOTFOUND) {
        burrow_buf_free(out);
        *out = (burrow_buf){0};
        return;
    }
    OK(rc);
}

/* The stored bytes of id in txn (valid while it lives); size 0 when there
 * is none. */
static burrow_val store_bin(burrow_txn *t, const char *id)
{
    burrow_bucket b;
    burrow_val v = {0};
    if (burrow_bucket_open(t, "c:docs", 0, &b) || burrow_get(t, b, id, strlen(id), &v))
        v.size = 0;
    return v;
}

/* Binary output through the API: the path that copies straight from the
 * tier's bytes under its lock. */
static void api_bin(burrow_txn *t, const char *id, burrow_buf *out)
{
    burrow_output o = {.flags = BURROW_OUT_BINARY | BURROW_OUT_RAW};
    int rc = burrow_doc_get(t, "docs", id, strlen(id), &o, out);
    if (rc == BURROW_ENOTFOUND) {
        out->size = 0;
        return;
    }
    OK(rc);
}

/* The API's JSON read of id equals the store's at t's snapshot. */
static void same(burrow_txn *t, const char *id)
{
    burrow_buf a = {0}, b = {0};
    store_json(t, id, &a);
    api_json(t, id, &b);
    assert_int_equal(a.size, b.size);
    if (a.size)
        assert_memory_equal(a.data, b.data, a.size);
    burrow_buf_free(&a);
    burrow_buf_free(&b);
}

/* Both of the API's read paths equal the store at t's snapshot: JSON (a
 * copy out of the tier, shaped after) and binary (copied from the tier's
 * bytes under its lock). Two reads: two accesses. */
static void same_both(burrow_txn *t, const char *id)
{
    same(t, id);
    burrow_buf b = {0};
    burrow_val v = store_bin(t, id);
    api_bin(t, id, &b);
    assert_int_equal(v.size, b.size);
    if (v.size)
        assert_memory_equal(v.data, b.data, v.size);
    burrow_buf_free(&b);
}

static void test_hits_and_coherence(void **state)
{
    (void)state;
    unlink(path);
    burrow_db *db = open_db(1 << 20);
    burrow_txn *w, *r1, *r2;
    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_coll_create(w, "docs", NULL));
    const char *d = "{\"_id\":\"a\",\"bid\":100}";
    OK(burrow_doc_insert(w, "docs", d, strlen(d), NULL));
    OK(burrow_txn_commit(w));

    burrow_buf out = {0};
    burrow_tier_stats st;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r1));
    api_json(r1, "a", &out); /* miss, admitted */
    api_json(r1, "a", &out); /* hit */
    OK(burrow_tier_stat(db, &st));
    assert_int_equal(st.misses, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.entries, 1);
    assert_string_equal((char *)out.data, d);

    /* A write txn reads its own writes, never the tier's copy. */
    burrow_update *u;
    const char *us = "{\"$set\":{\"bid\":120}}";
    OK(burrow_update_compile(us, strlen(us), &u));
    OK(burrow_txn_begin(db, NULL, 0, &w));
    assert_int_equal(burrow_doc_update(w, "docs", "a", 1, u, NULL, 0), 1);
    api_json(w, "a", &out);
    assert_string_equal((char *)out.data, "{\"_id\":\"a\",\"bid\":120}");
    burrow_txn_abort(w); /* aborted: the tier never sees 120 */
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r2));
    api_json(r2, "a", &out);
    assert_string_equal((char *)out.data, d);
    burrow_txn_abort(r2);

    /* Committed: new readers see 120; r1, older, still sees 100, from the
     * store (its snapshot is before the write), and cannot put 100 back. */
    OK(burrow_txn_begin(db, NULL, 0, &w));
    assert_int_equal(burrow_doc_update(w, "docs", "a", 1, u, NULL, 0), 1);
    OK(burrow_txn_commit(w));
    api_json(r1, "a", &out);
    assert_string_equal((char *)out.data, d);
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r2));
    api_json(r2, "a", &out);
    assert_string_equal((char *)out.data, "{\"_id\":\"a\",\"bid\":120}");
    api_json(r2, "a", &out);
    api_json(r1, "a", &out);
    assert_string_equal((char *)out.data, d);
    burrow_txn_abort(r1);
    burrow_txn_abort(r2);

    /* A dropped collection is gone from the tier. */
    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_coll_drop(w, "docs"));
    OK(burrow_coll_create(w, "docs", NULL));
    OK(burrow_txn_commit(w));
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r1));
    assert_int_equal(burrow_doc_get(r1, "docs", "a", 1, NULL, &out), BURROW_ENOTFOUND);
    burrow_txn_abort(r1);
    OK(burrow_tier_stat(db, &st));
    assert_true(st.invalidations >= 2);
    assert_true(st.bytes_used <= st.budget);
    burrow_update_free(u);
    burrow_buf_free(&out);
    OK(burrow_close(db));
}

/* Random writes (some aborted), readers on snapshots of every age, reads
 * through the tier compared with the store at each reader's snapshot; a
 * small budget so the tier evicts; reopen now and then. */
static void test_random_coherence(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    unlink(path);
    size_t budget = 2500;
    burrow_db *db = open_db(budget);
    burrow_txn *w;
    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_coll_create(w, "docs", NULL));
    OK(burrow_txn_commit(w));
    enum { READERS = 4, IDS = 24 };
    burrow_txn *readers[READERS] = {0};
    unsigned rounds = tu_rounds(600, 20000);
    for (unsigned i = 0; i < rounds; i++) {
        unsigned op = (unsigned)tu_below(&r, 10);
        char id[8];
        snprintf(id, sizeof id, "k%u", (unsigned)tu_below(&r, IDS));
        if (op < 3) { /* a write txn of a few changes */
            OK(burrow_txn_begin(db, NULL, 0, &w));
            for (int n = 1 + (int)tu_below(&r, 3); n; n--) {
                snprintf(id, sizeof id, "k%u", (unsigned)tu_below(&r, IDS));
                char doc[96];
                snprintf(doc, sizeof doc, "{\"_id\":\"%s\",\"v\":%u,\"pad\":\"%0*d\"}", id,
                         (unsigned)tu_below(&r, 1000), (int)tu_below(&r, 40), 7);
                burrow_buf cur = {0};
                store_json(w, id, &cur);
                if (tu_chance(&r, 1, 5) && cur.size)
                    OK(burrow_doc_delete(w, "docs", id, strlen(id)));
                else if (cur.size)
                    OK(burrow_doc_replace(w, "docs", id, strlen(id), doc, strlen(doc)));
                else
                    OK(burrow_doc_insert(w, "docs", doc, strlen(doc), NULL));
                burrow_buf_free(&cur);
                same_both(w, id);
            }
            if (tu_chance(&r, 1, 4))
                burrow_txn_abort(w);
            else
                OK(burrow_txn_commit(w));
        } else if (op < 5) { /* replace a reader by a fresh snapshot */
            int k = (int)tu_below(&r, READERS);
            if (readers[k])
                burrow_txn_abort(readers[k]);
            OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &readers[k]));
        } else if (op == 5 && tu_chance(&r, 1, 20)) { /* reopen */
            for (int k = 0; k < READERS; k++)
                if (readers[k]) {
                    burrow_txn_abort(readers[k]);
                    readers[k] = NULL;
                }
            OK(burrow_close(db));
            db = open_db(budget);
        } else { /* reads on some reader */
            int k = (int)tu_below(&r, READERS);
            if (!readers[k])
                OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &readers[k]));
            same_both(readers[k], id);
            same_both(readers[k], id);
        }
        burrow_tier_stats st;
        OK(burrow_tier_stat(db, &st));
        assert_true(st.bytes_used <= st.budget);
    }
    burrow_tier_stats st;
    OK(burrow_tier_stat(db, &st));
    printf("hot: %llu hits, %llu misses, %llu evictions, %llu invalidations\n",
           (unsigned long long)st.hits, (unsigned long long)st.misses,
           (unsigned long long)st.evictions, (unsigned long long)st.invalidations);
    assert_true(st.hits > 0);
    for (int k = 0; k < READERS; k++)
        if (readers[k])
            burrow_txn_abort(readers[k]);
    OK(burrow_close(db));
}

/*
 * Reads keep per-thread shortcuts to a handle's collection metadata and
 * tier (meta_borrow, hot.c), keyed by the handle's address and the
 * snapshot. A handle closed and another opened, very likely at the same
 * address, with the same snapshot ids and collection names but other
 * metadata (bucket handles, a computed field) and other documents: every
 * read must see the new file, never the old one's metadata or cache.
 */
static void test_handle_reuse(void **state)
{
    (void)state;
    for (int round = 0; round < 6; round++) {
        bool hot = round & 1, with_computed = !(round & 2);
        unlink(path);
        burrow_db *db = open_db(hot ? 1 << 20 : 0);
        burrow_txn *w;
        OK(burrow_txn_begin(db, NULL, 0, &w));
        /* A collection made first shifts the bucket handles of "docs". */
        if (round % 3 == 0)
            OK(burrow_coll_create(w, "other", NULL));
        const char *sch =
            with_computed ? "{\"computed\": {\"d\": {\"$concat\": [\"$v\", \"!\"]}}}" : NULL;
        OK(burrow_coll_create(w, "docs", sch));
        char d[96];
        snprintf(d, sizeof d, "{\"_id\":\"k\",\"v\":\"round%d\"}", round);
        OK(burrow_doc_insert(w, "docs", d, strlen(d), NULL));
        if (round % 3 == 0)
            OK(burrow_doc_insert(w, "other", "{\"_id\":\"k\",\"v\":\"other\"}", 23, NULL));
        OK(burrow_txn_commit(w));
        for (int pass = 0; pass < 2; pass++) { /* a miss, then a hit when hot */
            burrow_txn *r;
            OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r));
            same_both(r, "k");
            burrow_buf out = {0};
            OK(burrow_doc_get(r, "docs", "k", 1, NULL, &out));
            char want[128];
            if (with_computed)
                snprintf(want, sizeof want, "{\"_id\":\"k\",\"v\":\"round%d\",\"d\":\"round%d!\"}",
                         round, round);
            else
                snprintf(want, sizeof want, "{\"_id\":\"k\",\"v\":\"round%d\"}", round);
            assert_string_equal((const char *)out.data, want);
            burrow_buf_free(&out);
            burrow_txn_abort(r);
        }
        OK(burrow_close(db));
    }

    /* The same file reopened: the same snapshot id and metadata record,
     * but bucket handles are numbered per handle, in the order buckets
     * are first opened. Open "c:other" by hand first in the new handle, so
     * "docs" gets another number than it had. */
    for (int hot = 0; hot < 2; hot++) {
        unlink(path);
        burrow_db *db = open_db(hot ? 1 << 20 : 0);
        burrow_txn *w, *r;
        OK(burrow_txn_begin(db, NULL, 0, &w));
        OK(burrow_coll_create(w, "docs", NULL));
        OK(burrow_coll_create(w, "other", NULL));
        OK(burrow_doc_insert(w, "docs", "{\"_id\":\"k\",\"v\":\"docs\"}", 22, NULL));
        OK(burrow_doc_insert(w, "other", "{\"_id\":\"k\",\"v\":\"other\"}", 23, NULL));
        OK(burrow_txn_commit(w));
        OK(burrow_close(db));
        burrow_buf out = {0};
        for (int open = 0; open < 2; open++) {
            db = open_db(hot ? 1 << 20 : 0);
            OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r));
            if (open) {
                burrow_bucket b;
                OK(burrow_bucket_open(r, "c:other", 0, &b));
            }
            OK(burrow_doc_get(r, "docs", "k", 1, NULL, &out));
            assert_string_equal((const char *)out.data, "{\"_id\":\"k\",\"v\":\"docs\"}");
            same_both(r, "k");
            burrow_txn_abort(r);
            OK(burrow_close(db));
        }
        burrow_buf_free(&out);
    }
}

/*
 * Reader threads (each with its own per-thread shortcuts, dropped when it
 * exits) read through the tier while the main thread commits updates:
 * every read, JSON and binary, equals the store's bytes at the reader's
 * snapshot. Threads cannot fail a cmocka assertion, so they count.
 */
#define TN_DOCS 16
#define TN_THREADS 3
static burrow_db *tn_db;
static atomic_int tn_stop, tn_bad, tn_reads;

static void *tn_reader(void *arg)
{
    tu_rng r;
    tu_rng_seed(&r, (uint64_t)(uintptr_t)arg);
    burrow_buf j = {0}, b = {0}, sj = {0};
    burrow_output ob = {.flags = BURROW_OUT_BINARY | BURROW_OUT_RAW};
    burrow_output oj = {.flags = BURROW_OUT_RAW};
    while (!atomic_load(&tn_stop) || atomic_load(&tn_reads) < 2000) {
        burrow_txn *t;
        if (burrow_txn_begin(tn_db, NULL, BURROW_TXN_RDONLY, &t)) {
            atomic_fetch_add(&tn_bad, 1);
            break;
        }
        for (int i = 0; i < 20; i++) {
            char id[16];
            snprintf(id, sizeof id, "d%d", (int)tu_below(&r, TN_DOCS));
            burrow_val v = store_bin(t, id);
            int rj = burrow_doc_get(t, "docs", id, strlen(id), &oj, &j);
            int rb = burrow_doc_get(t, "docs", id, strlen(id), &ob, &b);
            bool ok = rj == 0 && rb == 0 && v.size == b.size &&
                      memcmp(v.data, b.data, v.size) == 0 &&
                      burrow_json_write(v.data, v.size, 0, &sj) == 0 && sj.size == j.size &&
                      memcmp(sj.data, j.data, j.size) == 0;
            if (!ok)
                atomic_fetch_add(&tn_bad, 1);
            atomic_fetch_add(&tn_reads, 1);
        }
        burrow_txn_abort(t);
    }
    burrow_buf_free(&j);
    burrow_buf_free(&b);
    burrow_buf_free(&sj);
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    unlink(path);
    tn_db = open_db(4096); /* small: evictions too */
    burrow_txn *w;
    OK(burrow_txn_begin(tn_db, NULL, 0, &w));
    OK(burrow_coll_create(w, "docs", NULL));
    for (int i = 0; i < TN_DOCS; i++) {
        char d[64];
        snprintf(d, sizeof d, "{\"_id\":\"d%d\",\"v\":0}", i);
        OK(burrow_doc_insert(w, "docs", d, strlen(d), NULL));
    }
    OK(burrow_txn_commit(w));
    atomic_store(&tn_stop, 0);
    atomic_store(&tn_bad, 0);
    atomic_store(&tn_reads, 0);
    pthread_t th[TN_THREADS];
    for (int i = 0; i < TN_THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, tn_reader, (void *)(uintptr_t)(seed + i)), 0);
    tu_rng r;
    tu_rng_seed(&r, seed);
    burrow_update *u;
    const char *us = "{\"$inc\":{\"v\":1}}";
    OK(burrow_update_compile(us, strlen(us), &u));
    for (int c = 0; c < 300; c++) {
        OK(burrow_txn_begin(tn_db, NULL, 0, &w));
        for (int k = 0; k < 3; k++) {
            char id[16];
            snprintf(id, sizeof id, "d%d", (int)tu_below(&r, TN_DOCS));
            assert_int_equal(burrow_doc_update(w, "docs", id, strlen(id), u, NULL, 0), 1);
        }
        if (tu_chance(&r, 1, 5))
            burrow_txn_abort(w);
        else
            OK(burrow_txn_commit(w));
    }
    atomic_store(&tn_stop, 1);
    for (int i = 0; i < TN_THREADS; i++)
        pthread_join(th[i], NULL);
    burrow_update_free(u);
    assert_int_equal(atomic_load(&tn_bad), 0);
    burrow_tier_stats st;
    OK(burrow_tier_stat(tn_db, &st));
    assert_true(st.hits > 0);
    assert_true(st.bytes_used <= st.budget);
    OK(burrow_close(tn_db));
}

/* ---- the control surface (burrow_tier_*), with a fake clock ---------------- */

static uint64_t fake_mono, fake_wall = 1700000000000ull;
static uint64_t fake_mono_ms(void *ctx) { (void)ctx; return fake_mono; }
static uint64_t fake_wall_ms(void *ctx) { (void)ctx; return fake_wall; }
static const tier_clock fake_clock = {fake_mono_ms, fake_wall_ms, NULL};

/* A fresh database with the fake clock at 0 and collection "docs" holding
 * ids "a".."a"+n-1, all the same size. */
static burrow_db *open_ctl(const burrow_options *base, int n)
{
    unlink(path);
    burrow_options o;
    burrow_options_init(&o);
    if (base)
        o = *base;
    o.sync_mode = BURROW_SYNC_NONE;
    burrow_db *db;
    OK(burrow_open(path, &o, &db));
    fake_mono = 0;
    OK(hot_set_clock_for_tests(db, &fake_clock));
    assert_int_equal(hot_set_clock_for_tests(db, &fake_clock), BURROW_EBUSY);
    burrow_txn *w;
    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_coll_create(w, "docs", NULL));
    for (int i = 0; i < n; i++) {
        char d[128];
        snprintf(d, sizeof d, "{\"_id\":\"%c\",\"v\":%d,\"pad\":\"%060d\"}", 'a' + i, i, i);
        OK(burrow_doc_insert(w, "docs", d, strlen(d), NULL));
    }
    OK(burrow_txn_commit(w));
    return db;
}

static burrow_options hot_opts(size_t hot)
{
    burrow_options o;
    burrow_options_init(&o);
    o.hot_memory = hot;
    return o;
}

static burrow_txn *rd(burrow_db *db)
{
    burrow_txn *r;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r));
    return r;
}

/* Read id through the collection API in a fresh read txn. */
static void read_id(burrow_db *db, const char *id)
{
    burrow_txn *r = rd(db);
    same(r, id);
    burrow_txn_abort(r);
}

static bool cached(burrow_db *db, const char *id)
{
    burrow_tier_key_stats ks;
    int rc = burrow_tier_key_stat(db, "docs", id, strlen(id), &ks);
    assert_true(rc == 0 || rc == BURROW_ENOTFOUND);
    return rc == 0;
}

static void stats(burrow_db *db, burrow_tier_stats *st)
{
    OK(burrow_tier_stat(db, st));
    assert_true(st->bytes_used <= st->budget);
}

static void test_ctl_off(void **state)
{
    (void)state;
    unlink(path);
    burrow_db *db = open_db(0);
    burrow_txn *r = rd(db);
    burrow_tier_key_stats ks;
    assert_int_equal(burrow_tier_promote(r, "docs", "a", 1), BURROW_EINVAL);
    assert_non_null(strstr(burrow_errmsg(), "hot tier is off"));
    assert_int_equal(burrow_tier_promote_range(r, "docs", NULL, NULL, 0), BURROW_EINVAL);
    assert_int_equal(burrow_tier_pin(r, "docs", "a", 1), BURROW_EINVAL);
    burrow_txn_abort(r);
    assert_int_equal(burrow_tier_unpin(db, "docs", "a", 1), BURROW_EINVAL);
    assert_int_equal(burrow_tier_demote(db, "docs", "a", 1), BURROW_EINVAL);
    assert_int_equal(burrow_tier_key_stat(db, "docs", "a", 1, &ks), BURROW_EINVAL);
    assert_int_equal(burrow_tier_set_policy(db, BURROW_TIER_LRU), BURROW_EINVAL);
    assert_int_equal(burrow_tier_set_budget(db, 1 << 20), BURROW_EINVAL);
    assert_int_equal(burrow_tier_step(db, 10), BURROW_EINVAL);
    assert_non_null(strstr(burrow_errmsg(), "hot tier is off"));
    assert_int_equal(hot_set_clock_for_tests(db, &fake_clock), BURROW_EINVAL);
    OK(burrow_close(db));

    burrow_options o = hot_opts(1 << 20);
    o.hot_policy = 7;
    assert_int_equal(burrow_open(path, &o, &db), BURROW_EINVAL);
}

static void test_ctl_promote(void **state)
{
    (void)state;
    burrow_options o = hot_opts(1 << 20);
    burrow_db *db = open_ctl(&o, 10);
    burrow_tier_stats st;
    burrow_tier_key_stats ks;
    burrow_txn *r = rd(db), *w;

    fake_mono = 100;
    OK(burrow_tier_promote(r, "docs", "c", 1));
    OK(burrow_tier_key_stat(db, "docs", "c", 1, &ks));
    assert_int_equal(ks.accesses, 0);
    assert_int_equal(ks.last_access_ms, 100);
    assert_int_equal(ks.pinned, 0);
    assert_true(ks.bytes > 60);
    stats(db, &st);
    assert_int_equal(st.promotions, 1);
    assert_int_equal(st.entries, 1);
    OK(burrow_tier_promote(r, "docs", "c", 1)); /* cached already: kept */
    assert_int_equal(burrow_tier_promote(r, "docs", "zz", 2), BURROW_ENOTFOUND);
    assert_int_equal(burrow_tier_promote(r, "nope", "a", 1), BURROW_ENOTFOUND);
    assert_int_equal(burrow_tier_promote(r, "docs", "", 0), BURROW_EINVAL);
    assert_int_equal(burrow_tier_key_stat(db, "docs", "zz", 2, &ks), BURROW_ENOTFOUND);

    /* A range: [b, e) in id order, then at most 2 from f, then the rest. */
    assert_int_equal(burrow_tier_promote_range(r, "docs", "b", "e", 0), 3);
    assert_true(cached(db, "b") && cached(db, "c") && cached(db, "d"));
    assert_false(cached(db, "a") || cached(db, "e"));
    assert_int_equal(burrow_tier_promote_range(r, "docs", "f", NULL, 2), 2);
    assert_true(cached(db, "f") && cached(db, "g"));
    assert_false(cached(db, "h"));
    assert_int_equal(burrow_tier_promote_range(r, "docs", "x", NULL, 0), 0);
    assert_int_equal(burrow_tier_promote_range(r, "docs", NULL, NULL, 0), 10);
    stats(db, &st);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.promotions, 10);

    /* Prewarmed reads are hits, counted on the key. */
    fake_mono = 250;
    uint64_t misses = st.misses;
    same(r, "e");
    stats(db, &st);
    assert_int_equal(st.misses, misses);
    assert_int_equal(st.hits, 1);
    OK(burrow_tier_key_stat(db, "docs", "e", 1, &ks));
    assert_int_equal(ks.accesses, 1);
    assert_int_equal(ks.last_access_ms, 250);
    assert_true(ks.frequency > 0);
    burrow_txn_abort(r);

    /* Not in a write txn; a snapshot older than a commit to the key cannot
     * put its value in the tier. */
    OK(burrow_txn_begin(db, NULL, 0, &w));
    assert_int_equal(burrow_tier_promote(w, "docs", "a", 1), BURROW_EINVAL);
    assert_int_equal(burrow_tier_promote_range(w, "docs", NULL, NULL, 0), BURROW_EINVAL);
    assert_int_equal(burrow_tier_pin(w, "docs", "a", 1), BURROW_EINVAL);
    burrow_txn_abort(w);
    r = rd(db);
    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_doc_delete(w, "docs", "a", 1));
    OK(burrow_txn_commit(w));
    assert_false(cached(db, "a"));
    assert_int_equal(burrow_tier_promote(r, "docs", "a", 1), BURROW_EBUSY);
    assert_false(cached(db, "a"));
    same(r, "a"); /* the old snapshot still reads it, from the file */
    burrow_txn_abort(r);
    r = rd(db);
    assert_int_equal(burrow_tier_promote(r, "docs", "a", 1), BURROW_ENOTFOUND);
    burrow_txn_abort(r);
    OK(burrow_close(db));

    /* hot_promote_min_misses: a read promotes on the second miss only;
     * burrow_tier_promote ignores the threshold. */
    o.hot_promote_min_misses = 2;
    db = open_ctl(&o, 3);
    read_id(db, "a");
    assert_false(cached(db, "a"));
    read_id(db, "a");
    assert_true(cached(db, "a"));
    r = rd(db);
    OK(burrow_tier_promote(r, "docs", "b", 1));
    burrow_txn_abort(r);
    assert_true(cached(db, "b"));
    OK(burrow_close(db));
}

/* The budget for exactly n documents of open_ctl's size (and the hash
 * table), measured on a tier holding only "a". */
static size_t budget_for(burrow_db *db, int n)
{
    burrow_tier_key_stats ks;
    burrow_tier_stats st;
    burrow_txn *r = rd(db);
    OK(burrow_tier_promote(r, "docs", "a", 1));
    burrow_txn_abort(r);
    OK(burrow_tier_key_stat(db, "docs", "a", 1, &ks));
    stats(db, &st);
    assert_int_equal(st.entries, 1);
    return st.bytes_used - ks.bytes + (size_t)n * ks.bytes;
}

static void test_ctl_pin(void **state)
{
    (void)state;
    burrow_options o = hot_opts(1 << 20);
    burrow_db *db = open_ctl(&o, 12);
    burrow_tier_stats st;
    burrow_tier_key_stats ks;
    size_t three = budget_for(db, 3);
    OK(burrow_tier_set_budget(db, three));

    burrow_txn *r = rd(db);
    OK(burrow_tier_pin(r, "docs", "b", 1)); /* not cached: promoted, pinned */
    OK(burrow_tier_pin(r, "docs", "b", 1)); /* twice is once */
    assert_int_equal(burrow_tier_pin(r, "docs", "zz", 2), BURROW_ENOTFOUND);
    burrow_txn_abort(r);
    OK(burrow_tier_key_stat(db, "docs", "b", 1, &ks));
    assert_int_equal(ks.pinned, 1);

    /* Pressure: many other documents pass through; b stays. */
    for (int i = 2; i < 12; i++) {
        char id[2] = {(char)('a' + i), 0};
        fake_mono += 10;
        read_id(db, id);
        read_id(db, id);
        assert_true(cached(db, "b"));
        stats(db, &st);
        assert_true(st.entries <= 3);
    }
    stats(db, &st);
    assert_true(st.evictions >= 8);

    /* A smaller budget evicts the others but keeps b; one smaller than b
     * is refused and changes nothing. */
    size_t one = three - 2 * ks.bytes;
    assert_int_equal(burrow_tier_set_budget(db, one - 1), BURROW_EBUSY);
    stats(db, &st);
    assert_int_equal(st.budget, three);
    OK(burrow_tier_set_budget(db, one));
    stats(db, &st);
    assert_int_equal(st.entries, 1);
    assert_true(cached(db, "b"));
    read_id(db, "c"); /* cannot fit: served from the file, b stays */
    assert_true(cached(db, "b"));
    assert_false(cached(db, "c"));
    r = rd(db);
    assert_int_equal(burrow_tier_promote(r, "docs", "c", 1), BURROW_EFULL);
    /* a does not fit: stops at once; from b: b (cached), then c stops it */
    assert_int_equal(burrow_tier_promote_range(r, "docs", NULL, NULL, 0), 0);
    assert_int_equal(burrow_tier_promote_range(r, "docs", "b", NULL, 0), 1);
    burrow_txn_abort(r);

    /* Unpinned, it goes like any other. */
    OK(burrow_tier_set_budget(db, three));
    OK(burrow_tier_unpin(db, "docs", "b", 1));
    OK(burrow_tier_unpin(db, "docs", "b", 1));
    OK(burrow_tier_key_stat(db, "docs", "b", 1, &ks));
    assert_int_equal(ks.pinned, 0);
    assert_int_equal(burrow_tier_unpin(db, "docs", "zz", 2), BURROW_ENOTFOUND);
    for (int i = 2; i < 6; i++) {
        char id[2] = {(char)('a' + i), 0};
        fake_mono += 10;
        read_id(db, id);
    }
    assert_false(cached(db, "b"));
    read_id(db, "b"); /* same data as the file */

    /* A commit to a pinned document drops it, pin and all. */
    r = rd(db);
    OK(burrow_tier_pin(r, "docs", "c", 1));
    burrow_txn_abort(r);
    burrow_txn *w;
    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_doc_delete(w, "docs", "c", 1));
    OK(burrow_txn_commit(w));
    assert_false(cached(db, "c"));
    read_id(db, "c");
    OK(burrow_close(db));
}

static void test_ctl_demote(void **state)
{
    (void)state;
    burrow_options o = hot_opts(1 << 20);
    burrow_db *db = open_ctl(&o, 4);
    burrow_tier_stats st;
    burrow_buf before = {0}, after = {0};
    burrow_txn *r = rd(db);
    OK(burrow_tier_pin(r, "docs", "a", 1));
    api_json(r, "a", &before);
    burrow_txn_abort(r);
    read_id(db, "b");
    stats(db, &st);
    uint64_t misses = st.misses;
    OK(burrow_tier_demote(db, "docs", "a", 1)); /* pinned or not */
    OK(burrow_tier_demote(db, "docs", "b", 1));
    assert_int_equal(burrow_tier_demote(db, "docs", "a", 1), BURROW_ENOTFOUND);
    assert_false(cached(db, "a") || cached(db, "b"));
    stats(db, &st);
    assert_int_equal(st.demotions, 2);
    assert_int_equal(st.entries, 0);
    r = rd(db);
    api_json(r, "a", &after); /* a miss, the same document */
    burrow_txn_abort(r);
    stats(db, &st);
    assert_int_equal(st.misses, misses + 1);
    assert_int_equal(before.size, after.size);
    assert_memory_equal(before.data, after.data, before.size);
    read_id(db, "b");
    burrow_buf_free(&before);
    burrow_buf_free(&after);
    OK(burrow_close(db));
}

static void test_ctl_idle_step(void **state)
{
    (void)state;
    burrow_options o = hot_opts(1 << 20);
    burrow_db *db = open_ctl(&o, 4);
    read_id(db, "a");
    fake_mono = 100000;
    assert_int_equal(burrow_tier_step(db, 100), 0); /* hot_demote_idle_ms 0: never */
    assert_true(cached(db, "a"));
    OK(burrow_close(db));

    o.hot_demote_idle_ms = 1000;
    db = open_ctl(&o, 4);
    read_id(db, "a"); /* t = 0 */
    read_id(db, "b");
    burrow_txn *r = rd(db);
    OK(burrow_tier_pin(r, "docs", "c", 1));
    burrow_txn_abort(r);
    fake_mono = 500;
    read_id(db, "a"); /* a hit: used at 500 */
    fake_mono = 1000;
    assert_int_equal(burrow_tier_step(db, 100), 0); /* idle exactly 1000: not longer */
    fake_mono = 1200;
    assert_int_equal(burrow_tier_step(db, 100), 1); /* b, idle 1200 */
    assert_false(cached(db, "b"));
    assert_true(cached(db, "a") && cached(db, "c"));
    fake_mono = 1600;
    assert_int_equal(burrow_tier_step(db, 0), 0); /* no work allowed */
    assert_int_equal(burrow_tier_step(db, 100), 1); /* a, idle 1100 */
    fake_mono = 100000;
    assert_int_equal(burrow_tier_step(db, 100), 0); /* c is pinned */
    assert_true(cached(db, "c"));
    burrow_tier_stats st;
    stats(db, &st);
    assert_int_equal(st.demotions, 2);
    read_id(db, "a");
    read_id(db, "b");
    OK(burrow_close(db));
}

/* a, b, c cached; a and b used often, then c once, last: LRU evicts a
 * (least recent), LFU and HYBRID evict c (least frequent). */
static void three_cached(burrow_db *db)
{
    OK(burrow_tier_demote(db, "docs", "a", 1));
    read_id(db, "a");
    read_id(db, "b");
    read_id(db, "c");
    for (int i = 0; i < 3; i++) {
        fake_mono += 10;
        read_id(db, "a");
    }
    for (int i = 0; i < 3; i++) {
        fake_mono += 10;
        read_id(db, "b");
    }
    fake_mono += 10;
    read_id(db, "c");
}

static void test_ctl_policy(void **state)
{
    (void)state;
    static const struct {
        int open_policy, run_policy;
        char victim;
    } cases[] = {
        {BURROW_TIER_HYBRID, -1, 'c'},
        {BURROW_TIER_LRU, -1, 'a'},
        {BURROW_TIER_LFU, -1, 'c'},
        {BURROW_TIER_HYBRID, BURROW_TIER_LRU, 'a'},
        {BURROW_TIER_LRU, BURROW_TIER_LFU, 'c'},
        {BURROW_TIER_LFU, BURROW_TIER_HYBRID, 'c'},
        {BURROW_TIER_LFU, BURROW_TIER_LRU, 'a'},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        burrow_options o = hot_opts(1 << 20);
        o.hot_policy = cases[i].open_policy;
        burrow_db *db = open_ctl(&o, 6);
        OK(burrow_tier_set_budget(db, budget_for(db, 3)));
        three_cached(db);
        if (cases[i].run_policy >= 0)
            OK(burrow_tier_set_policy(db, cases[i].run_policy));
        read_id(db, "d"); /* a miss that needs a victim */
        for (char c = 'a'; c <= 'd'; c++) {
            char id[2] = {c, 0};
            assert_int_equal(cached(db, id), c != cases[i].victim);
        }
        burrow_tier_stats st;
        stats(db, &st);
        assert_int_equal(st.evictions, 1);
        assert_int_equal(burrow_tier_set_policy(db, 3), BURROW_EINVAL);
        assert_int_equal(burrow_tier_set_policy(db, -1), BURROW_EINVAL);
        OK(burrow_close(db));
    }
}

/* The controls mixed at random with writes (some aborted) and readers of
 * every age: every read still equals the store at the reader's snapshot,
 * and the budget holds after every call. */
static void test_ctl_random(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    burrow_options o = hot_opts(3000);
    o.hot_demote_idle_ms = 50;
    burrow_db *db = open_ctl(&o, 16);
    enum { READERS = 3, IDS = 20 };
    burrow_txn *readers[READERS] = {0}, *w;
    unsigned rounds = tu_rounds(1500, 40000);
    for (unsigned i = 0; i < rounds; i++) {
        char id[2] = {(char)('a' + tu_below(&r, IDS)), 0};
        int k = (int)tu_below(&r, READERS);
        if (!readers[k])
            readers[k] = rd(db);
        burrow_txn *rt = readers[k];
        fake_mono += tu_below(&r, 20);
        int rc;
        switch (tu_below(&r, 12)) {
        case 0: /* a write */
            OK(burrow_txn_begin(db, NULL, 0, &w));
            {
                char doc[128];
                snprintf(doc, sizeof doc, "{\"_id\":\"%s\",\"v\":%u,\"pad\":\"%0*d\"}", id,
                         (unsigned)tu_below(&r, 1000), (int)tu_below(&r, 80), 3);
                burrow_buf cur = {0};
                store_json(w, id, &cur);
                if (cur.size && tu_chance(&r, 1, 4))
                    OK(burrow_doc_delete(w, "docs", id, 1));
                else if (cur.size)
                    OK(burrow_doc_replace(w, "docs", id, 1, doc, strlen(doc)));
                else
                    OK(burrow_doc_insert(w, "docs", doc, strlen(doc), NULL));
                burrow_buf_free(&cur);
            }
            if (tu_chance(&r, 1, 4))
                burrow_txn_abort(w);
            else
                OK(burrow_txn_commit(w));
            break;
        case 1: /* a fresh snapshot */
            burrow_txn_abort(rt);
            readers[k] = NULL;
            break;
        case 2:
            rc = burrow_tier_promote(rt, "docs", id, 1);
            assert_true(rc == 0 || rc == BURROW_EBUSY || rc == BURROW_ENOTFOUND ||
                        rc == BURROW_EFULL);
            break;
        case 3:
            rc = burrow_tier_promote_range(rt, "docs", id, NULL, tu_below(&r, 5));
            assert_true(rc >= 0);
            break;
        case 4:
            rc = burrow_tier_pin(rt, "docs", id, 1);
            assert_true(rc == 0 || rc == BURROW_EBUSY || rc == BURROW_ENOTFOUND ||
                        rc == BURROW_EFULL);
            if (rc == 0) {
                burrow_tier_key_stats ks;
                OK(burrow_tier_key_stat(db, "docs", id, 1, &ks));
                assert_int_equal(ks.pinned, 1);
            }
            break;
        case 5:
            rc = burrow_tier_unpin(db, "docs", id, 1);
            assert_true(rc == 0 || rc == BURROW_ENOTFOUND);
            break;
        case 6:
            rc = burrow_tier_demote(db, "docs", id, 1);
            assert_true(rc == 0 || rc == BURROW_ENOTFOUND);
            assert_false(cached(db, id));
            break;
        case 7:
            rc = burrow_tier_set_budget(db, 1500 + tu_below(&r, 3000));
            assert_true(rc == 0 || rc == BURROW_EBUSY);
            break;
        case 8:
            OK(burrow_tier_set_policy(db, (int)tu_below(&r, 3)));
            break;
        case 9:
            assert_true(burrow_tier_step(db, tu_below(&r, 8)) >= 0);
            break;
        default:
            same_both(rt, id);
            same_both(rt, id);
        }
        burrow_tier_stats st;
        stats(db, &st);
    }
    for (int k = 0; k < READERS; k++)
        if (readers[k])
            burrow_txn_abort(readers[k]);
    OK(burrow_close(db));
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-hot");
    path = tu_path(dir, "hot.db");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(path);
    free(dir);
    return 0;
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hits_and_coherence),
        cmocka_unit_test(test_random_coherence),
        cmocka_unit_test(test_handle_reuse),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_ctl_off),
        cmocka_unit_test(test_ctl_promote),
        cmocka_unit_test(test_ctl_pin),
        cmocka_unit_test(test_ctl_demote),
        cmocka_unit_test(test_ctl_idle_step),
        cmocka_unit_test(test_ctl_policy),
        cmocka_unit_test(test_ctl_random),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
