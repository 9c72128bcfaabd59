/*
 * test_keyspace.c — burrowd's keyspace (src/server/keyspace.c) on a real
 * database file, with time passed in as numbers, so nothing sleeps:
 *
 *  - set, get and delete strings and JSON documents, the empty key, binary
 *    keys, the longest key and one byte more;
 *  - expiry: missing at and after its instant, still counted by ks_count
 *    until swept; ks_set_expire (set, change, persist, on a missing or an
 *    expired key); a ks_set without expiry removes the old expiry entry;
 *  - the sweep: earliest first, at most max per call, leaves the rest;
 *  - expiry survives close and reopen;
 *  - flush;
 *  - scan: pattern and type filters, literal and prefix patterns, the
 *    max_visit bound and resuming; every key present for the whole walk is
 *    returned exactly once while keys are added and deleted between steps;
 *  - the SCAN cursor table: save, load, reuse, the oldest pushed out past
 *    KS_CURSORS;
 *  - random operations in committed and aborted txns, with reopens,
 *    against an in-test model (prints its seed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "burrow.h"
#include "server/keyspace.h"
#include "testutil.h"

#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            fail_msg("%s -> %s (%s)", #x, burrow_strerror(rc_), burrow_errmsg());                  \
    } while (0)

#define ERR(x, want)                                                                               \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != (want))                                                                         \
            fail_msg("%s -> %d %s (%s), want %d", #x, rc_, burrow_strerror(rc_), burrow_errmsg(),  \
                     (int)(want));                                                                 \
    } while (0)

#define T0 UINT64_C(1700000000000)

static char *dir;
static char path[512];

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-ks");
    if (!dir)
        return -1;
    snprintf(path, sizeof path, "%s/k.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    return 0;
}

typedef struct env {
    burrow_db *db;
    keyspace *ks;
} env;

static void env_open(env *e, bool fresh, uint32_t page_size)
{
    if (fresh)
        unlink(path);
    burrow_options o;
    burrow_options_init(&o);
    o.sync_mode = BURROW_SYNC_NONE;
    o.page_size = page_size;
    OK(burrow_open(path, &o, &e->db));
    OK(ks_open(e->db, &e->ks));
}

static void env_close(env *e)
{
    ks_close(e->ks);
    OK(burrow_close(e->db));
    e->ks = NULL;
    e->db = NULL;
}

static burrow_txn *wtx(env *e)
{
    burrow_txn *t;
    OK(burrow_txn_begin(e->db, NULL, 0, &t));
    return t;
}

static burrow_txn *rtx(env *e)
{
    burrow_txn *t;
    OK(burrow_txn_begin(e->db, NULL, BURROW_TXN_RDONLY, &t));
    return t;
}

static int set_str(env *e, burrow_txn *t, const char *k, const char *v, uint64_t exp)
{
    return ks_set(e->ks, t, k, strlen(k), KS_STRING, v, strlen(v), exp);
}

/* The value of k at now as a NUL-terminated copy in a static buffer, or
 * NULL when missing. */
static const char *get_str(env *e, burrow_txn *t, const char *k, uint64_t now)
{
    static char out[8192];
    ks_value v;
    int rc = ks_get(e->ks, t, k, strlen(k), now, &v);
    if (rc == BURROW_ENOTFOUND)
        return NULL;
    OK(rc);
    assert_int_equal(v.type, KS_STRING);
    assert_true(v.len < sizeof out);
    memcpy(out, v.data, v.len);
    out[v.len] = 0;
    return out;
}

static uint64_t count(env *e, burrow_txn *t)
{
    uint64_t n;
    OK(ks_count(e->ks, t, &n));
    return n;
}

static uint64_t count_exp(env *e, burrow_txn *t)
{
    uint64_t n;
    OK(ks_count_expires(e->ks, t, &n));
    return n;
}

/* Keys of the raw expiry bucket, to see that no stale entry is left. */
static uint64_t raw_exp_keys(burrow_txn *t)
{
    burrow_bucket b;
    OK(burrow_bucket_open(t, "_burrow.kv.exp", 0, &b));
    burrow_cursor *c;
    OK(burrow_cursor_open(t, b, &c));
    uint64_t n = 0;
    while (burrow_cursor_next(c, NULL, NULL) == 0)
        n++;
    burrow_cursor_close(c);
    return n;
}

/* ---- set, get, del ---------------------------------------------------------------- */

static void test_set_get_del(void **state)
{
    (void)state;
    env e;
    env_open(&e, true, 0);
    burrow_txn *t = wtx(&e);

    OK(set_str(&e, t, "a", "hello", 0));
    assert_string_equal(get_str(&e, t, "a", T0), "hello");
    OK(set_str(&e, t, "a", "world", 0));
    assert_string_equal(get_str(&e, t, "a", T0), "world");

    /* The empty key and the empty value, as Redis allows both. */
    OK(ks_set(e.ks, t, "", 0, KS_STRING, "empty key", 9, 0));
    OK(ks_set(e.ks, t, "e", 1, KS_STRING, NULL, 0, 0));
    assert_string_equal(get_str(&e, t, "", T0), "empty key");
    assert_string_equal(get_str(&e, t, "e", T0), "");

    /* Binary keys: a NUL inside, and a prefix of another key. */
    OK(ks_set(e.ks, t, "x\0y", 3, KS_STRING, "1", 1, 0));
    OK(ks_set(e.ks, t, "x", 1, KS_STRING, "2", 1, 0));
    ks_value v;
    OK(ks_get(e.ks, t, "x\0y", 3, T0, &v));
    assert_memory_equal(v.data, "1", 1);
    OK(ks_get(e.ks, t, "x", 1, T0, &v));
    assert_memory_equal(v.data, "2", 1);
    ERR(ks_get(e.ks, t, "x\0", 2, T0, &v), BURROW_ENOTFOUND);

    /* A JSON document replaces a string, and the type says so. */
    burrow_buf doc = {0};
    OK(burrow_json_parse("{\"n\":1,\"s\":\"x\"}", 15, &doc));
    OK(ks_set(e.ks, t, "a", 1, KS_JSON, doc.data, doc.size, 0));
    OK(ks_get(e.ks, t, "a", 1, T0, &v));
    assert_int_equal(v.type, KS_JSON);
    assert_int_equal(v.len, doc.size);
    assert_memory_equal(v.data, doc.data, doc.size);
    assert_int_equal(v.expire_ms, 0);

    /* A large value (overflow pages) round-trips. */
    size_t big = 100000;
    char *bv = malloc(big);
    for (size_t i = 0; i < big; i++)
        bv[i] = (char)(i * 7);
    OK(ks_set(e.ks, t, "big", 3, KS_STRING, bv, big, 0));
    OK(ks_get(e.ks, t, "big", 3, T0, &v));
    assert_int_equal(v.len, big);
    assert_memory_equal(v.data, bv, big);

    /* A value read from the database can be stored under another key
     * (RENAME, COPY do this). */
    OK(ks_get(e.ks, t, "big", 3, T0, &v));
    OK(ks_set(e.ks, t, "big2", 4, KS_STRING, v.data, v.len, T0 + 5));
    OK(ks_get(e.ks, t, "big2", 4, T0, &v));
    assert_int_equal(v.len, big);
    assert_memory_equal(v.data, bv, big);
    free(bv);

    assert_int_equal(count(&e, t), 7);
    ERR(ks_del(e.ks, t, "a", 1, T0), 1);
    ERR(ks_del(e.ks, t, "a", 1, T0), 0);
    ERR(ks_del(e.ks, t, "", 0, T0), 1);
    ERR(ks_get(e.ks, t, "", 0, T0, &v), BURROW_ENOTFOUND);
    ERR(ks_del(e.ks, t, "nope", 4, T0), 0);
    assert_int_equal(count(&e, t), 5);
    OK(burrow_txn_commit(t));

    /* Committed: a read txn sees the same. */
    t = rtx(&e);
    assert_string_equal(get_str(&e, t, "e", T0), "");
    assert_null(get_str(&e, t, "a", T0));
    assert_int_equal(count(&e, t), 5);
    burrow_txn_abort(t);

    burrow_buf_free(&doc);
    env_close(&e);
}

static void test_longest_key(void **state)
{
    (void)state;
    /* Small pages make the engine's key limit small enough to hit. */
    env e;
    env_open(&e, true, 512);
    size_t max = ks_max_key(e.ks);
    assert_int_equal(max, burrow_max_key_size(e.db) - 8);
    char *k = malloc(max + 1);
    memset(k, 'k', max + 1);
    burrow_txn *t = wtx(&e);
    OK(ks_set(e.ks, t, k, max, KS_STRING, "v", 1, T0 + 10));
    ERR(ks_set(e.ks, t, k, max + 1, KS_STRING, "v", 1, 0), BURROW_EINVAL);
    ERR(ks_set(e.ks, t, k, max + 1, KS_STRING, "v", 1, T0 + 10), BURROW_EINVAL);
    ks_value v;
    OK(ks_get(e.ks, t, k, max, T0, &v));
    assert_int_equal(v.expire_ms, T0 + 10);
    ERR(ks_get(e.ks, t, k, max + 1, T0, &v), BURROW_ENOTFOUND);
    ERR(ks_del(e.ks, t, k, max + 1, T0), 0);
    ERR(ks_set_expire(e.ks, t, k, max + 1, T0, 0), 0);
    assert_int_equal(count(&e, t), 1);
    /* The longest key's expiry entry fits: the sweep finds it. */
    ERR(ks_sweep(e.ks, t, T0 + 10, 10), 1);
    assert_int_equal(count(&e, t), 0);
    OK(burrow_txn_commit(t));
    free(k);
    env_close(&e);
}

/* ---- expiry ----------------------------------------------------------------------- */

static void test_expiry(void **state)
{
    (void)state;
    env e;
    env_open(&e, true, 0);
    burrow_txn *t = wtx(&e);
    OK(set_str(&e, t, "k", "v", T0 + 100));
    OK(set_str(&e, t, "p", "v", 0));

    ks_value v;
    OK(ks_get(e.ks, t, "k", 1, T0 + 99, &v));
    assert_int_equal(v.expire_ms, T0 + 100);
    /* Missing at the instant itself and after. */
    ERR(ks_get(e.ks, t, "k", 1, T0 + 100, &v), BURROW_ENOTFOUND);
    ERR(ks_get(e.ks, t, "k", 1, T0 + 5000, &v), BURROW_ENOTFOUND);
    /* Still stored and counted until something removes it. */
    assert_int_equal(count(&e, t), 2);
    assert_int_equal(count_exp(&e, t), 1);
    OK(burrow_txn_commit(t));

    t = rtx(&e);
    assert_null(get_str(&e, t, "k", T0 + 100));
    assert_string_equal(get_str(&e, t, "k", T0), "v");
    assert_int_equal(count(&e, t), 2);
    burrow_txn_abort(t);

    /* ks_set_expire: change, persist, missing, expired. */
    t = wtx(&e);
    ERR(ks_set_expire(e.ks, t, "k", 1, T0, T0 + 200), 1);
    OK(ks_get(e.ks, t, "k", 1, T0 + 150, &v));
    assert_int_equal(v.expire_ms, T0 + 200);
    assert_memory_equal(v.data, "v", 1);
    assert_int_equal(count_exp(&e, t), 1);
    assert_int_equal(raw_exp_keys(t), 1);
    ERR(ks_set_expire(e.ks, t, "k", 1, T0, 0), 1);
    OK(ks_get(e.ks, t, "k", 1, UINT64_MAX, &v));
    assert_int_equal(v.expire_ms, 0);
    assert_int_equal(count_exp(&e, t), 0);
    ERR(ks_set_expire(e.ks, t, "none", 4, T0, T0 + 1), 0);
    assert_int_equal(count(&e, t), 2);

    ERR(ks_set_expire(e.ks, t, "p", 1, T0, T0 + 10), 1);
    ERR(ks_set_expire(e.ks, t, "p", 1, T0 + 10, T0 + 100), 0); /* expired: gone */
    assert_int_equal(count(&e, t), 1);
    assert_int_equal(count_exp(&e, t), 0);
    assert_int_equal(raw_exp_keys(t), 0);

    /* ks_del of an expired key removes it and says 0. */
    OK(set_str(&e, t, "d", "v", T0 + 1));
    assert_int_equal(count(&e, t), 2);
    ERR(ks_del(e.ks, t, "d", 1, T0 + 1), 0);
    assert_int_equal(count(&e, t), 1);
    assert_int_equal(raw_exp_keys(t), 0);
    OK(burrow_txn_commit(t));
    env_close(&e);
}

static void test_set_replaces_expiry(void **state)
{
    (void)state;
    env e;
    env_open(&e, true, 0);
    burrow_txn *t = wtx(&e);
    OK(set_str(&e, t, "k", "v1", T0 + 100));
    assert_int_equal(raw_exp_keys(t), 1);
    /* SET without KEEPTTL: no expiry, and the old entry is gone. */
    OK(set_str(&e, t, "k", "v2", 0));
    assert_int_equal(count_exp(&e, t), 0);
    assert_int_equal(raw_exp_keys(t), 0);
    ERR(ks_sweep(e.ks, t, T0 + 1000, 100), 0);
    assert_string_equal(get_str(&e, t, "k", T0 + 1000), "v2");

    /* A new expiry replaces the old one: one entry, the new instant. */
    OK(set_str(&e, t, "k", "v3", T0 + 100));
    OK(set_str(&e, t, "k", "v4", T0 + 300));
    assert_int_equal(raw_exp_keys(t), 1);
    ERR(ks_sweep(e.ks, t, T0 + 200, 100), 0);
    assert_string_equal(get_str(&e, t, "k", T0 + 200), "v4");
    /* The same expiry again keeps one entry too. */
    OK(set_str(&e, t, "k", "v5", T0 + 300));
    assert_int_equal(raw_exp_keys(t), 1);
    ERR(ks_sweep(e.ks, t, T0 + 300, 100), 1);
    assert_int_equal(count(&e, t), 0);

    /* A set over an expired key replaces it whatever its type. */
    OK(set_str(&e, t, "j", "old", T0 + 1));
    OK(ks_set(e.ks, t, "j", 1, KS_JSON, "\x01", 1, 0));
    ks_value v;
    OK(ks_get(e.ks, t, "j", 1, T0 + 10, &v));
    assert_int_equal(v.type, KS_JSON);
    assert_int_equal(raw_exp_keys(t), 0);
    OK(burrow_txn_commit(t));
    env_close(&e);
}

static void test_sweep(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    env e;
    env_open(&e, true, 0);
    enum { N = 200 };
    int order[N];
    for (int i = 0; i < N; i++)
        order[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = (int)tu_below(&r, (uint64_t)i + 1), x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    burrow_txn *t = wtx(&e);
    char k[32];
    /* Key i expires at T0 + 1 + i, inserted in random order; plus keys
     * without expiry. */
    for (int n = 0; n < N; n++) {
        int i = order[n];
        snprintf(k, sizeof k, "key:%03d", i);
        OK(set_str(&e, t, k, "v", T0 + 1 + (uint64_t)i));
        snprintf(k, sizeof k, "keep:%03d", i);
        OK(set_str(&e, t, k, "v", 0));
    }
    OK(burrow_txn_commit(t));

    /* At T0 + 100, keys 0..99 are due. Each sweep of 30 takes the 30
     * earliest left, in one transaction each. */
    int gone = 0;
    int want[] = {30, 30, 30, 10, 0};
    for (int step = 0; step < 5; step++) {
        t = wtx(&e);
        int n = ks_sweep(e.ks, t, T0 + 100, 30);
        assert_int_equal(n, want[step]);
        gone += n;
        for (int i = 0; i < N; i++) {
            snprintf(k, sizeof k, "key:%03d", i);
            /* Read at T0 so expired-but-stored keys show. */
            bool stored = get_str(&e, t, k, T0) != NULL;
            assert_int_equal(stored, i >= gone);
        }
        assert_int_equal(count(&e, t), 2 * N - (uint64_t)gone);
        assert_int_equal(count_exp(&e, t), N - (uint64_t)gone);
        OK(burrow_txn_commit(t));
    }
    assert_int_equal(gone, 100);
    /* max 0 does nothing. */
    t = wtx(&e);
    ERR(ks_sweep(e.ks, t, UINT64_MAX, 0), 0);
    ERR(ks_sweep(e.ks, t, UINT64_MAX, 1000), 100);
    assert_int_equal(count(&e, t), N);
    assert_int_equal(count_exp(&e, t), 0);
    OK(burrow_txn_commit(t));
    env_close(&e);
}

static void test_reopen(void **state)
{
    (void)state;
    env e;
    env_open(&e, true, 0);
    burrow_txn *t = wtx(&e);
    OK(set_str(&e, t, "soon", "1", T0 + 10));
    OK(set_str(&e, t, "later", "2", T0 + 1000));
    OK(set_str(&e, t, "never", "3", 0));
    OK(burrow_txn_commit(t));
    env_close(&e);

    env_open(&e, false, 0);
    t = rtx(&e);
    ks_value v;
    OK(ks_get(e.ks, t, "soon", 4, T0, &v));
    assert_int_equal(v.expire_ms, T0 + 10);
    ERR(ks_get(e.ks, t, "soon", 4, T0 + 10, &v), BURROW_ENOTFOUND);
    OK(ks_get(e.ks, t, "later", 5, T0 + 10, &v));
    assert_int_equal(v.expire_ms, T0 + 1000);
    OK(ks_get(e.ks, t, "never", 5, UINT64_MAX, &v));
    assert_int_equal(count(&e, t), 3);
    assert_int_equal(count_exp(&e, t), 2);
    burrow_txn_abort(t);

    t = wtx(&e);
    ERR(ks_sweep(e.ks, t, T0 + 500, 10), 1);
    OK(burrow_txn_commit(t));
    env_close(&e);

    env_open(&e, false, 0);
    t = rtx(&e);
    assert_null(get_str(&e, t, "soon", T0));
    assert_string_equal(get_str(&e, t, "later", T0 + 999), "2");
    assert_int_equal(count(&e, t), 2);
    assert_int_equal(count_exp(&e, t), 1);
    burrow_txn_abort(t);
    env_close(&e);
}

static void test_flush(void **state)
{
    (void)state;
    env e;
    env_open(&e, true, 0);
    burrow_txn *t = wtx(&e);
    char k[32];
    for (int i = 0; i < 500; i++) {
        snprintf(k, sizeof k, "k%d", i);
        OK(set_str(&e, t, k, "value", i % 2 ? T0 + (uint64_t)i : 0));
    }
    OK(burrow_txn_commit(t));

    /* An aborted flush changes nothing. */
    t = wtx(&e);
    OK(ks_flush(e.ks, t));
    assert_int_equal(count(&e, t), 0);
    burrow_txn_abort(t);
    t = rtx(&e);
    assert_int_equal(count(&e, t), 500);
    assert_int_equal(count_exp(&e, t), 250);
    burrow_txn_abort(t);

    t = wtx(&e);
    OK(ks_flush(e.ks, t));
    assert_int_equal(count(&e, t), 0);
    assert_int_equal(count_exp(&e, t), 0);
    assert_null(get_str(&e, t, "k0", T0));
    /* Usable at once, in the same txn. */
    OK(set_str(&e, t, "after", "x", T0 + 5));
    OK(burrow_txn_commit(t));
    env_close(&e);

    env_open(&e, false, 0);
    t = rtx(&e);
    assert_int_equal(count(&e, t), 1);
    assert_int_equal(count_exp(&e, t), 1);
    assert_string_equal(get_str(&e, t, "after", T0), "x");
    assert_null(get_str(&e, t, "k2", T0));
    burrow_txn_abort(t);
    env_close(&e);
}

/* ---- scan --------------------------------------------------------------------------- */

typedef struct collect {
    char keys[4096][24];
    int types[4096];
    int n;
    int stop_after; /* 0 = never stop */
} collect;

static int collect_fn(void *ctx, const void *key, size_t klen, int type)
{
    collect *c = ctx;
    assert_true(klen < sizeof c->keys[0]);
    assert_true(c->n < 4096);
    memcpy(c->keys[c->n], key, klen);
    c->keys[c->n][klen] = 0;
    c->types[c->n] = type;
    c->n++;
    return c->stop_after && c->n == c->stop_after ? 42 : 0;
}

static int scan_all(env *e, burrow_txn *t, const char *pat, int type, uint64_t now, collect *c)
{
    buf next = {0};
    c->n = 0;
    int rc = ks_scan(e->ks, t, NULL, 0, pat, pat ? strlen(pat) : 0, type, now, 0, collect_fn, c,
                     &next);
    buf_free(&next);
    return rc;
}

static void test_scan_filters(void **state)
{
    (void)state;
    static collect c;
    env e;
    env_open(&e, true, 0);
    burrow_txn *t = wtx(&e);
    OK(set_str(&e, t, "user:1", "a", 0));
    OK(set_str(&e, t, "user:2", "a", T0 + 10));
    OK(set_str(&e, t, "user:10", "a", 0));
    OK(ks_set(e.ks, t, "user:3", 6, KS_JSON, "\x01", 1, 0));
    OK(set_str(&e, t, "usex", "a", 0));
    OK(set_str(&e, t, "item:1", "a", 0));
    OK(set_str(&e, t, "a*b", "a", 0));
    OK(ks_set(e.ks, t, "", 0, KS_STRING, "a", 1, 0));
    OK(burrow_txn_commit(t));

    t = rtx(&e);
    ERR(scan_all(&e, t, NULL, KS_NONE, T0, &c), 0);
    assert_int_equal(c.n, 8);
    assert_string_equal(c.keys[0], ""); /* the empty key sorts first */
    assert_string_equal(c.keys[1], "a*b");
    assert_string_equal(c.keys[7], "usex");

    /* Expired keys are skipped. */
    ERR(scan_all(&e, t, NULL, KS_NONE, T0 + 10, &c), 0);
    assert_int_equal(c.n, 7);

    ERR(scan_all(&e, t, "user:*", KS_NONE, T0, &c), 0);
    assert_int_equal(c.n, 4);
    assert_string_equal(c.keys[0], "user:1");
    assert_string_equal(c.keys[1], "user:10");
    assert_string_equal(c.keys[2], "user:2");
    assert_string_equal(c.keys[3], "user:3");
    assert_int_equal(c.types[3], KS_JSON);
    assert_int_equal(c.types[0], KS_STRING);

    ERR(scan_all(&e, t, "user:*", KS_JSON, T0, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.keys[0], "user:3");
    ERR(scan_all(&e, t, NULL, KS_STRING, T0, &c), 0);
    assert_int_equal(c.n, 7);

    ERR(scan_all(&e, t, "user:?", KS_NONE, T0, &c), 0);
    assert_int_equal(c.n, 3);
    ERR(scan_all(&e, t, "*:1*", KS_NONE, T0, &c), 0);
    assert_int_equal(c.n, 3); /* item:1 user:1 user:10 */
    /* Literal patterns: one key or none. */
    ERR(scan_all(&e, t, "user:1", KS_NONE, T0, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.keys[0], "user:1");
    ERR(scan_all(&e, t, "user:", KS_NONE, T0, &c), 0);
    assert_int_equal(c.n, 0);
    ERR(scan_all(&e, t, "user:3", KS_STRING, T0, &c), 0);
    assert_int_equal(c.n, 0);
    /* An escaped star matches only a star. */
    ERR(scan_all(&e, t, "a\\*b", KS_NONE, T0, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.keys[0], "a*b");
    /* The empty pattern matches the empty key only. */
    ERR(scan_all(&e, t, "", KS_NONE, T0, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.keys[0], "");

    /* fn's non-zero return stops the walk and is returned. */
    c.stop_after = 2;
    ERR(scan_all(&e, t, NULL, KS_NONE, T0, &c), 42);
    assert_int_equal(c.n, 2);
    c.stop_after = 0;
    burrow_txn_abort(t);
    env_close(&e);
}

static void test_scan_max_visit(void **state)
{
    (void)state;
    static collect c;
    env e;
    env_open(&e, true, 0);
    burrow_txn *t = wtx(&e);
    char k[32];
    for (int i = 0; i < 100; i++) {
        snprintf(k, sizeof k, "%c%02d", i % 2 ? 'b' : 'a', i);
        OK(set_str(&e, t, k, "v", 0));
    }
    OK(burrow_txn_commit(t));

    t = rtx(&e);
    buf next = {0};
    /* Sorted: a00 a02 .. a98, then b01 b03 .. b99. The bound counts keys
     * looked at, matching or not: the first 10 are a00..a18, none ends
     * in 1. */
    c.n = 0;
    ERR(ks_scan(e.ks, t, NULL, 0, "*1", 2, KS_NONE, T0, 10, collect_fn, &c, &next), 1);
    assert_int_equal(c.n, 0);
    assert_int_equal(next.size, 3);
    assert_memory_equal(next.data, "a20", 3);
    /* Resume: a20..a98 (40 keys) and b01..b09 (5). */
    buf start = {0};
    buf_append(&start, next.data, next.size);
    ERR(ks_scan(e.ks, t, start.data, start.size, "*1", 2, KS_NONE, T0, 45, collect_fn, &c, &next),
        1);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.keys[0], "b01");
    assert_memory_equal(next.data, "b11", 3);
    start.size = 0;
    buf_append(&start, next.data, next.size);
    ERR(ks_scan(e.ks, t, start.data, start.size, "*1", 2, KS_NONE, T0, 0, collect_fn, &c, &next),
        0);
    assert_int_equal(c.n, 10); /* b01 b11 .. b91 */
    assert_string_equal(c.keys[9], "b91");

    /* A literal prefix starts the walk at the prefix, and keys outside
     * it are not looked at. */
    c.n = 0;
    ERR(ks_scan(e.ks, t, NULL, 0, "b*", 2, KS_NONE, T0, 10, collect_fn, &c, &next), 1);
    assert_int_equal(c.n, 10);
    assert_string_equal(c.keys[0], "b01");
    assert_memory_equal(next.data, "b21", 3);
    /* At the end of the prefix the walk is over (0), not interrupted. */
    c.n = 0;
    ERR(ks_scan(e.ks, t, "b9", 2, "b*", 2, KS_NONE, T0, 5, collect_fn, &c, &next), 0);
    assert_int_equal(c.n, 5);
    c.n = 0;
    ERR(ks_scan(e.ks, t, "c", 1, "b*", 2, KS_NONE, T0, 5, collect_fn, &c, &next), 0);
    assert_int_equal(c.n, 0);
    /* Exactly max_visit keys left: the walk ends (0), no resume key. */
    c.n = 0;
    ERR(ks_scan(e.ks, t, "b91", 3, NULL, 0, KS_NONE, T0, 5, collect_fn, &c, &next), 0);
    assert_int_equal(c.n, 5);
    c.n = 0;
    ERR(ks_scan(e.ks, t, "b89", 3, NULL, 0, KS_NONE, T0, 5, collect_fn, &c, &next), 1);
    assert_int_equal(c.n, 5);
    assert_memory_equal(next.data, "b99", 3);
    buf_free(&start);
    buf_free(&next);
    burrow_txn_abort(t);
    env_close(&e);
}

/* Walk with resumes, changing keys between the steps. */
static void test_scan_resume_changes(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x5ca9);
    env e;
    env_open(&e, true, 0);
    enum { U = 3000 }; /* key universe */
    static bool present[U], stable[U], seen[U], ever[U];
    char k[32];
    burrow_txn *t = wtx(&e);
    for (int i = 0; i < U; i++) {
        present[i] = tu_chance(&r, 1, 2);
        if (present[i]) {
            snprintf(k, sizeof k, "k%05d", i);
            OK(set_str(&e, t, k, "v", 0));
        }
        stable[i] = present[i];
        ever[i] = present[i];
        seen[i] = false;
    }
    OK(burrow_txn_commit(t));

    buf next = {0}, start = {0};
    static collect c;
    int steps = 0;
    for (;;) {
        t = rtx(&e);
        c.n = 0;
        size_t max_visit = 1 + tu_below(&r, 40);
        int rc = ks_scan(e.ks, t, start.data, start.size, NULL, 0, KS_NONE, T0, max_visit,
                         collect_fn, &c, &next);
        OK(rc);
        burrow_txn_abort(t);
        assert_true((size_t)c.n <= max_visit);
        for (int j = 0; j < c.n; j++) {
            int i = atoi(c.keys[j] + 1);
            assert_false(seen[i]); /* never twice */
            assert_true(ever[i]);  /* never a key that never existed */
            seen[i] = true;
        }
        steps++;
        if (rc == 0)
            break;
        /* Save the resume key through the cursor table, as SCAN does. */
        uint64_t cur;
        OK(ks_cursor_save(e.ks, next.data, next.size, &cur));
        assert_true(cur != 0);
        ERR(ks_cursor_load(e.ks, cur, &start), 1);
        assert_int_equal(start.size, next.size);
        /* Add and delete keys anywhere. */
        t = wtx(&e);
        for (int m = 0; m < 20; m++) {
            int i = (int)tu_below(&r, U);
            snprintf(k, sizeof k, "k%05d", i);
            if (present[i]) {
                ERR(ks_del(e.ks, t, k, strlen(k), T0), 1);
                present[i] = false;
                stable[i] = false;
            } else {
                OK(set_str(&e, t, k, "v", 0));
                present[i] = true;
                ever[i] = true;
            }
        }
        OK(burrow_txn_commit(t));
    }
    for (int i = 0; i < U; i++)
        if (stable[i])
            assert_true(seen[i]);
    assert_true(steps > 10);
    buf_free(&next);
    buf_free(&start);
    env_close(&e);
}

static void test_cursor_table(void **state)
{
    (void)state;
    env e;
    env_open(&e, true, 0);
    buf key = {0};
    uint64_t first, second, c;
    OK(ks_cursor_save(e.ks, "alpha", 5, &first));
    OK(ks_cursor_save(e.ks, "beta", 4, &second));
    assert_true(first != 0 && second != 0 && first != second);
    ERR(ks_cursor_load(e.ks, first, &key), 1);
    assert_int_equal(key.size, 5);
    assert_memory_equal(key.data, "alpha", 5);
    /* Used twice: the same key. */
    ERR(ks_cursor_load(e.ks, first, &key), 1);
    assert_memory_equal(key.data, "alpha", 5);
    ERR(ks_cursor_load(e.ks, 0, &key), 0);
    ERR(ks_cursor_load(e.ks, second + 1, &key), 0);
    ERR(ks_cursor_load(e.ks, first + KS_CURSORS, &key), 0);

    /* Fill the table: the newest KS_CURSORS cursors stay, the oldest go
     * first. */
    uint64_t *ids = malloc(sizeof *ids * KS_CURSORS);
    char k[32];
    for (int i = 0; i < KS_CURSORS - 2; i++) {
        snprintf(k, sizeof k, "key%d", i);
        OK(ks_cursor_save(e.ks, k, strlen(k), &ids[i]));
    }
    ERR(ks_cursor_load(e.ks, first, &key), 1);
    ERR(ks_cursor_load(e.ks, second, &key), 1);
    OK(ks_cursor_save(e.ks, "x", 1, &c));
    ERR(ks_cursor_load(e.ks, first, &key), 0);
    ERR(ks_cursor_load(e.ks, second, &key), 1);
    assert_memory_equal(key.data, "beta", 4);
    OK(ks_cursor_save(e.ks, "", 0, &c));
    ERR(ks_cursor_load(e.ks, second, &key), 0);
    ERR(ks_cursor_load(e.ks, c, &key), 1);
    assert_int_equal(key.size, 0);
    for (int i = 0; i < KS_CURSORS - 2; i++) {
        ERR(ks_cursor_load(e.ks, ids[i], &key), 1);
        snprintf(k, sizeof k, "key%d", i);
        assert_int_equal(key.size, strlen(k));
        assert_memory_equal(key.data, k, key.size);
    }
    free(ids);
    buf_free(&key);
    env_close(&e);
}

static void test_random_key(void **state)
{
    (void)state;
    env e;
    env_open(&e, true, 0);
    buf key = {0};
    burrow_txn *t = wtx(&e);
    ERR(ks_random(e.ks, t, T0, 1, 100, &key), 0); /* empty */
    OK(set_str(&e, t, "only", "v", 0));
    for (uint64_t s = 0; s < 20; s++) {
        ERR(ks_random(e.ks, t, T0, s, 100, &key), 1);
        assert_int_equal(key.size, 4);
        assert_memory_equal(key.data, "only", 4);
    }
    ERR(ks_del(e.ks, t, "only", 4, T0), 1);
    /* 100 live keys among 300 expired ones. */
    char k[32];
    for (int i = 0; i < 400; i++) {
        snprintf(k, sizeof k, "%c:%d", 'a' + i % 26, i);
        OK(set_str(&e, t, k, "v", i % 4 == 0 ? 0 : T0 + 1));
    }
    OK(burrow_txn_commit(t));

    t = rtx(&e);
    static bool got[400];
    int distinct = 0;
    for (uint64_t s = 0; s < 2000; s++) {
        ERR(ks_random(e.ks, t, T0 + 1, s, 0, &key), 1);
        char z[32] = {0};
        memcpy(z, key.data, key.size);
        int i = atoi(z + 2);
        assert_true(i >= 0 && i < 400);
        assert_int_equal(i % 4, 0); /* never an expired key */
        if (!got[i]) {
            got[i] = true;
            distinct++;
        }
    }
    /* Not uniform, but not stuck on a few keys either. */
    assert_true(distinct > 50);
    /* Only the keys without expiry are left at the end of time. */
    ERR(ks_random(e.ks, t, UINT64_MAX, 7, 0, &key), 1);
    burrow_txn_abort(t);
    t = wtx(&e);
    for (int i = 0; i < 400; i += 4) {
        snprintf(k, sizeof k, "%c:%d", 'a' + i % 26, i);
        ERR(ks_del(e.ks, t, k, strlen(k), T0), 1);
    }
    /* Everything expired: none, also with no visit limit. */
    ERR(ks_random(e.ks, t, T0 + 1, 7, 0, &key), 0);
    ERR(ks_random(e.ks, t, T0 + 1, 8, 10, &key), 0);
    ERR(ks_random(e.ks, t, T0, 9, 0, &key), 1);
    OK(burrow_txn_commit(t));
    buf_free(&key);
    env_close(&e);
}

/* ---- random operations against a model -------------------------------------------- */

enum { MK = 64 };

typedef struct mentry {
    bool stored;
    int type;
    uint64_t exp;
    size_t len;
    uint8_t val[5000];
} mentry;

typedef struct model {
    mentry e[MK];
} model;

static void mkey(int i, char *k, size_t *klen)
{
    /* Key 0 is the empty key; a few share prefixes. */
    if (i == 0) {
        *klen = 0;
        return;
    }
    if (i % 3) {
        *klen = (size_t)snprintf(k, 16, "k%d", i);
    } else {
        memcpy(k, "k\0z", 3);
        *klen = 3 + (size_t)snprintf(k + 3, 13, "%d", i);
    }
}

static bool mlive(const mentry *m, uint64_t now) { return m->stored && !(m->exp && m->exp <= now); }

static int mkey_cmp(int a, int b)
{
    char ka[16], kb[16];
    size_t la, lb;
    mkey(a, ka, &la);
    mkey(b, kb, &lb);
    size_t n = la < lb ? la : lb;
    int c = n ? memcmp(ka, kb, n) : 0;
    return c ? c : (la < lb ? -1 : la > lb);
}

typedef struct scan_check {
    const model *m;
    uint64_t now;
    int last; /* model index of the previous key, -1 before the first */
    int n;
} scan_check;

static int check_fn(void *ctx, const void *key, size_t klen, int type)
{
    scan_check *s = ctx;
    int found = -1;
    for (int i = 0; i < MK; i++) {
        char k[16];
        size_t l;
        mkey(i, k, &l);
        if (l == klen && (!l || memcmp(k, key, l) == 0))
            found = i;
    }
    assert_true(found >= 0);
    assert_true(mlive(&s->m->e[found], s->now));
    assert_int_equal(type, s->m->e[found].type);
    if (s->last >= 0)
        assert_true(mkey_cmp(s->last, found) < 0);
    s->last = found;
    s->n++;
    return 0;
}

static void check_model(env *e, burrow_txn *t, const model *m, uint64_t now)
{
    uint64_t stored = 0, with_exp = 0;
    int live = 0;
    for (int i = 0; i < MK; i++) {
        char k[16];
        size_t kl;
        mkey(i, k, &kl);
        const mentry *x = &m->e[i];
        ks_value v;
        int rc = ks_get(e->ks, t, k, kl, now, &v);
        if (mlive(x, now)) {
            OK(rc);
            assert_int_equal(v.type, x->type);
            assert_int_equal(v.expire_ms, x->exp);
            assert_int_equal(v.len, x->len);
            if (x->len)
                assert_memory_equal(v.data, x->val, x->len);
            live++;
        } else {
            ERR(rc, BURROW_ENOTFOUND);
        }
        stored += x->stored;
        with_exp += x->stored && x->exp;
    }
    assert_int_equal(count(e, t), stored);
    assert_int_equal(count_exp(e, t), with_exp);
    scan_check s = {m, now, -1, 0};
    buf next = {0};
    ERR(ks_scan(e->ks, t, NULL, 0, NULL, 0, KS_NONE, now, 0, check_fn, &s, &next), 0);
    assert_int_equal(s.n, live);
    buf_free(&next);
}

static void test_random_against_model(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x30de1);
    static model m, w;
    memset(&m, 0, sizeof m);
    env e;
    env_open(&e, true, 0);
    uint64_t now = T0;
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(300, 5000);
    static uint8_t val[5000];
    for (unsigned round = 0; round < rounds; round++) {
        w = m;
        burrow_txn *t = wtx(&e);
        unsigned ops = 1 + (unsigned)tu_below(&r, 8);
        for (unsigned o = 0; o < ops; o++) {
            int i = (int)tu_below(&r, MK);
            char k[16];
            size_t kl;
            mkey(i, k, &kl);
            mentry *x = &w.e[i];
            uint64_t exp = tu_chance(&r, 1, 2) ? 0 : now - 5 + tu_below(&r, 40);
            switch (tu_below(&r, 6)) {
            case 0:
            case 1: { /* set */
                int type = tu_chance(&r, 1, 4) ? KS_JSON : KS_STRING;
                size_t len = tu_chance(&r, 1, 10) ? tu_below(&r, sizeof val) : tu_below(&r, 40);
                tu_fill(&r, val, len);
                OK(ks_set(e.ks, t, k, kl, type, val, len, exp));
                x->stored = true;
                x->type = type;
                x->exp = exp;
                x->len = len;
                memcpy(x->val, val, len);
                break;
            }
            case 2: { /* del */
                int rc = ks_del(e.ks, t, k, kl, now);
                OK(rc);
                assert_int_equal(rc, mlive(x, now));
                x->stored = false;
                break;
            }
            case 3: { /* expire */
                int rc = ks_set_expire(e.ks, t, k, kl, now, exp);
                OK(rc);
                assert_int_equal(rc, mlive(x, now));
                if (mlive(x, now))
                    x->exp = exp;
                else
                    x->stored = false;
                break;
            }
            case 4: { /* sweep: the earliest due keys, by (expiry, key) */
                unsigned max = (unsigned)tu_below(&r, 4);
                int n = ks_sweep(e.ks, t, now, max);
                OK(n);
                int want = 0;
                while ((unsigned)want < max) {
                    int best = -1;
                    for (int j = 0; j < MK; j++) {
                        mentry *y = &w.e[j];
                        if (!y->stored || !y->exp || y->exp > now)
                            continue;
                        if (best < 0 || y->exp < w.e[best].exp ||
                            (y->exp == w.e[best].exp && mkey_cmp(j, best) < 0))
                            best = j;
                    }
                    if (best < 0)
                        break;
                    w.e[best].stored = false;
                    want++;
                }
                assert_int_equal(n, want);
                break;
            }
            default: /* time passes */
                now += tu_below(&r, 10);
                break;
            }
        }
        check_model(&e, t, &w, now);
        if (tu_chance(&r, 1, 5)) {
            burrow_txn_abort(t);
        } else {
            OK(burrow_txn_commit(t));
            m = w;
        }
        if (tu_chance(&r, 1, 25)) {
            env_close(&e);
            env_open(&e, false, 0);
        }
        t = rtx(&e);
        check_model(&e, t, &m, now);
        burrow_txn_abort(t);
    }
    env_close(&e);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    if (getenv("BURROW_TEST_FILTER"))
        cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get_del),
        cmocka_unit_test(test_longest_key),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_set_replaces_expiry),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_flush),
        cmocka_unit_test(test_scan_filters),
        cmocka_unit_test(test_scan_max_visit),
        cmocka_unit_test(test_scan_resume_changes),
        cmocka_unit_test(test_cursor_table),
        cmocka_unit_test(test_random_key),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
