/*
 * test_ttl.c — documents' time to live through the public API
 * (burrow_doc_expire_at, burrow_doc_expire, burrow_doc_ttl,
 * burrow_ttl_sweep), with the clock replaced (query_set_clock_for_tests),
 * so nothing sleeps:
 *
 *  - set, read and clear; the refusals (no document, read-only txn);
 *  - an expired document is invisible at once to get, find (scan and
 *    index), count and aggregate; update and replace see no document;
 *    an insert of its id succeeds; replace and update keep a TTL;
 *  - expiry survives close and reopen;
 *  - the sweep deletes in bounded steps, earliest first, with the index
 *    entries (every index entry names a stored document and every document
 *    has its entry), and the TTL rows stay in step with the documents;
 *  - lazy deletion by a write txn, undone by its abort;
 *  - an aborted TTL change leaves nothing; drop removes the TTL rows;
 *  - rewriting the metadata (a new index) keeps the collection's TTLs;
 *  - the hot tier never serves an expired document, and expiry drops its
 *    RAM copy (met by a read, by either sweep, across a reopen);
 *  - random inserts, expiries (some in the past), replaces, deletes, gets
 *    in write txns, sweeps, clock steps and aborts against an in-test
 *    model: after each txn every get, TTL, count and indexed find agrees,
 *    the stored documents are exactly the model's (lazy deletion and the
 *    sweep's order included), and the TTL rows match.
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
#include "query/query.h"
#include "testutil.h"

static char *dir;
static char path[512];

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
            fail_msg("%s -> %d %s (%s), want %d %s", #x, rc_, burrow_strerror(rc_),                \
                     burrow_errmsg(), (int)(want), burrow_strerror(want));                         \
    } while (0)

/* ---- the fake clock ----------------------------------------------------------------- */

#define T0 UINT64_C(1700000000000) /* a plausible "now" in Unix ms */
static uint64_t fake_ms;
static uint64_t fake_now(void) { return fake_ms; }

/* ---- fixtures ----------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-ttl");
    if (!dir)
        return -1;
    snprintf(path, sizeof path, "%s/t.db", dir);
    query_set_clock_for_tests(fake_now);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    query_set_clock_for_tests(NULL);
    tu_rmtree(dir);
    free(dir);
    return 0;
}

static uint32_t page_size; /* 0: the default */

static burrow_db *db_open_hot(bool fresh, size_t hot_memory)
{
    if (fresh)
        unlink(path);
    burrow_options o;
    burrow_options_init(&o);
    o.sync_mode = BURROW_SYNC_NONE;
    o.hot_memory = hot_memory;
    if (page_size)
        o.page_size = page_size;
    burrow_db *db;
    OK(burrow_open(path, &o, &db));
    return db;
}

static burrow_db *db_open(bool fresh) { return db_open_hot(fresh, 0); }

static burrow_txn *wtx(burrow_db *db)
{
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    return t;
}

static burrow_txn *rtx(burrow_db *db)
{
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    return t;
}

/* ---- helpers ------------------------------------------------------------------------ */

static burrow_buf out_buf;

static int get(burrow_txn *t, const char *coll, const char *id)
{
    return burrow_doc_get(t, coll, id, strlen(id), NULL, &out_buf);
}

static int expire_at(burrow_txn *t, const char *coll, const char *id, uint64_t at)
{
    return burrow_doc_expire_at(t, coll, id, strlen(id), at);
}

static uint64_t ttl_of(burrow_txn *t, const char *coll, const char *id)
{
    uint64_t at = 42;
    OK(burrow_doc_ttl(t, coll, id, strlen(id), &at));
    return at;
}

static void insert_n(burrow_txn *t, const char *coll, const char *id, int n)
{
    char json[256];
    snprintf(json, sizeof json, "{\"_id\": \"%s\", \"n\": %d, \"g\": \"%s\"}", id, n,
             n % 2 ? "odd" : "even");
    OK(burrow_doc_insert(t, coll, json, strlen(json), NULL));
}

/* Results of a find with filter json (NULL: all). */
static uint64_t find_count(burrow_txn *t, const char *coll, const char *filter)
{
    burrow_filter *f = NULL;
    if (filter)
        OK(burrow_filter_compile(filter, strlen(filter), &f));
    burrow_find_options o = {.filter = f};
    burrow_results *r;
    OK(burrow_find(t, coll, &o, &r));
    burrow_val v;
    uint64_t n = 0;
    int rc;
    while ((rc = burrow_results_next(r, &v)) == 0)
        n++;
    ERR(rc, BURROW_ENOTFOUND);
    burrow_results_close(r);
    burrow_filter_free(f);
    return n;
}

static uint64_t count(burrow_txn *t, const char *coll, const char *filter)
{
    burrow_filter *f = NULL;
    if (filter)
        OK(burrow_filter_compile(filter, strlen(filter), &f));
    uint64_t n;
    OK(burrow_doc_count(t, coll, f, &n));
    burrow_filter_free(f);
    return n;
}

/* Keys in bucket name (0 when it does not exist). */
static uint64_t bucket_keys(burrow_txn *t, const char *name)
{
    burrow_bucket b;
    uint64_t n = 0;
    int rc = burrow_bucket_open(t, name, 0, &b);
    if (rc == BURROW_ENOTFOUND)
        return 0;
    OK(rc);
    OK(burrow_bucket_count(t, b, &n));
    return n;
}

static bool bucket_exists(burrow_txn *t, const char *name)
{
    burrow_bucket b;
    int rc = burrow_bucket_open(t, name, 0, &b);
    if (rc != BURROW_ENOTFOUND)
        OK(rc);
    return rc == 0;
}

/* Is id physically stored in coll (expired or not)? */
static bool stored(burrow_txn *t, const char *coll, const char *id)
{
    char bname[256];
    burrow_bucket b;
    burrow_val v;
    coll_docs_bucket_name(coll, bname);
    OK(burrow_bucket_open(t, bname, 0, &b));
    int rc = burrow_get(t, b, id, strlen(id), &v);
    if (rc != BURROW_ENOTFOUND)
        OK(rc);
    return rc == 0;
}

/*
 * coll's single-field index ixname ("n", every document has a scalar n)
 * holds exactly one entry per stored document, each naming a stored
 * document; its "t:" rows name stored documents and each has its entry in
 * "_burrow.expiry". Returns the number of stored documents.
 */
static uint64_t check_consistent(burrow_txn *t, const char *coll, const char *ixname)
{
    char bname[256];
    burrow_bucket docs, ib;
    coll_docs_bucket_name(coll, bname);
    OK(burrow_bucket_open(t, bname, 0, &docs));
    uint64_t ndocs, nentries;
    OK(burrow_bucket_count(t, docs, &ndocs));
    coll_index_bucket_name(coll, ixname, bname);
    OK(burrow_bucket_open(t, bname, 0, &ib));
    OK(burrow_bucket_count(t, ib, &nentries));
    assert_int_equal(nentries, ndocs);
    burrow_cursor *c;
    burrow_val k, v;
    OK(burrow_cursor_open(t, ib, &c));
    int rc = burrow_cursor_first(c, &k, &v);
    while (rc == 0) {
        const char *id;
        size_t idlen;
        OK(index_key_id(k.data, k.size, &id, &idlen));
        char s[BURROW_MAX_ID_SIZE + 1];
        memcpy(s, id, idlen);
        s[idlen] = 0;
        if (!stored(t, coll, s))
            fail_msg("index '%s' of '%s' names '%s', which is not stored", ixname, coll, s);
        rc = burrow_cursor_next(c, &k, &v);
    }
    ERR(rc, BURROW_ENOTFOUND);
    burrow_cursor_close(c);

    snprintf(bname, sizeof bname, "t:%s", coll);
    burrow_bucket tb, eb;
    if (burrow_bucket_open(t, bname, 0, &tb) == 0) {
        OK(burrow_bucket_open(t, "_burrow.expiry", 0, &eb));
        OK(burrow_cursor_open(t, tb, &c));
        rc = burrow_cursor_first(c, &k, &v);
        while (rc == 0) {
            char s[BURROW_MAX_ID_SIZE + 1];
            memcpy(s, k.data, k.size);
            s[k.size] = 0;
            if (!stored(t, coll, s))
                fail_msg("'%s' has a TTL in '%s' but is not stored", s, coll);
            assert_int_equal(v.size, 8);
            uint8_t key[8 + 256 + 1 + 256];
            memcpy(key, v.data, 8);
            memcpy(key + 8, coll, strlen(coll) + 1);
            memcpy(key + 9 + strlen(coll), k.data, k.size);
            burrow_val ev;
            OK(burrow_get(t, eb, key, 9 + strlen(coll) + k.size, &ev));
            rc = burrow_cursor_next(c, &k, &v);
        }
        ERR(rc, BURROW_ENOTFOUND);
        burrow_cursor_close(c);
    }
    return ndocs;
}

/* ---- the tests ---------------------------------------------------------------------- */

static void test_set_read_clear(void **state)
{
    (void)state;
    fake_ms = T0;
    burrow_db *db = db_open(true);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "s", NULL));
    insert_n(t, "s", "a", 1);
    insert_n(t, "s", "b", 2);
    assert_int_equal(ttl_of(t, "s", "a"), 0);
    /* Clearing where there is no TTL at all creates nothing. */
    OK(expire_at(t, "s", "a", 0));
    assert_false(bucket_exists(t, "t:s"));
    OK(expire_at(t, "s", "a", T0 + 5000));
    assert_int_equal(ttl_of(t, "s", "a"), T0 + 5000);
    assert_int_equal(ttl_of(t, "s", "b"), 0);
    OK(burrow_doc_expire(t, "s", "b", 1, 250));
    assert_int_equal(ttl_of(t, "s", "b"), T0 + 250);
    OK(expire_at(t, "s", "b", T0 + 300)); /* moved: one row each */
    assert_int_equal(bucket_keys(t, "t:s"), 2);
    assert_int_equal(bucket_keys(t, "_burrow.expiry"), 2);
    OK(expire_at(t, "s", "b", 0));
    assert_int_equal(ttl_of(t, "s", "b"), 0);
    assert_int_equal(bucket_keys(t, "t:s"), 1);
    assert_int_equal(bucket_keys(t, "_burrow.expiry"), 1);
    ERR(expire_at(t, "s", "nope", T0 + 1), BURROW_ENOTFOUND);
    uint64_t at;
    ERR(burrow_doc_ttl(t, "s", "nope", 4, &at), BURROW_ENOTFOUND);
    ERR(expire_at(t, "nocoll", "a", T0 + 1), BURROW_ENOTFOUND);
    ERR(burrow_doc_expire_at(t, "s", "", 0, T0 + 1), BURROW_EINVAL);
    ERR(burrow_doc_ttl(t, "s", "a", 1, NULL), BURROW_EINVAL);
    OK(burrow_txn_commit(t));

    t = rtx(db);
    assert_int_equal(ttl_of(t, "s", "a"), T0 + 5000);
    ERR(expire_at(t, "s", "a", T0 + 1), BURROW_EREADONLY);
    ERR(burrow_ttl_sweep(t, 10), BURROW_EREADONLY);
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_invisible_at_once(void **state)
{
    (void)state;
    fake_ms = T0;
    burrow_db *db = db_open(true);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "v", NULL));
    OK(burrow_index_create(t, "v", "n", 0));
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "d%d", i);
        insert_n(t, "v", id, i);
        if (i < 4)
            OK(expire_at(t, "v", id, T0 + 100));
    }
    OK(burrow_txn_commit(t));

    t = rtx(db);
    OK(get(t, "v", "d0"));
    assert_int_equal(find_count(t, "v", NULL), 10);
    assert_int_equal(count(t, "v", NULL), 10);
    burrow_txn_abort(t);

    fake_ms = T0 + 99;
    t = rtx(db);
    OK(get(t, "v", "d0"));
    burrow_txn_abort(t);

    fake_ms = T0 + 100; /* expiry is inclusive: at T0 + 100 it is gone */
    t = rtx(db);
    ERR(get(t, "v", "d0"), BURROW_ENOTFOUND);
    ERR(get(t, "v", "d3"), BURROW_ENOTFOUND);
    OK(get(t, "v", "d4"));
    uint64_t at;
    ERR(burrow_doc_ttl(t, "v", "d0", 2, &at), BURROW_ENOTFOUND);
    assert_int_equal(find_count(t, "v", NULL), 6);
    assert_int_equal(find_count(t, "v", "{\"n\": {\"$gte\": 0}}"), 6); /* through the index */
    assert_int_equal(find_count(t, "v", "{\"n\": {\"$lt\": 4}}"), 0);
    assert_int_equal(find_count(t, "v", "{\"g\": \"odd\"}"), 3); /* a scan */
    assert_int_equal(count(t, "v", NULL), 6);
    assert_int_equal(count(t, "v", "{\"n\": {\"$gte\": 2}}"), 6);
    burrow_buf agg = {0};
    burrow_agg a = {BURROW_AGG_COUNT, NULL};
    OK(burrow_aggregate(t, "v", NULL, NULL, 0, &a, 1, &agg));
    assert_non_null(strstr((const char *)agg.data, "\"count\":6"));
    burrow_buf_free(&agg);
    /* Still stored until someone deletes them. */
    assert_true(stored(t, "v", "d0"));
    burrow_txn_abort(t);

    t = wtx(db);
    /* update and replace see no document; an upsert starts afresh */
    burrow_update *u;
    const char *uj = "{\"$inc\": {\"n\": 100}}";
    OK(burrow_update_compile(uj, strlen(uj), &u));
    ERR(burrow_doc_update(t, "v", "d0", 2, u, NULL, 0), BURROW_ENOTFOUND);
    assert_false(stored(t, "v", "d0")); /* lazily deleted by the update */
    ERR(burrow_doc_replace(t, "v", "d1", 2, "{\"n\": 7}", 8), BURROW_ENOTFOUND);
    ERR(burrow_doc_delete(t, "v", "d2", 2), BURROW_ENOTFOUND);
    OK(burrow_doc_update(t, "v", "d3", 2, u, NULL, BURROW_UPSERT));
    OK(get(t, "v", "d3"));
    assert_non_null(strstr((const char *)out_buf.data, "\"n\":100"));
    assert_int_equal(ttl_of(t, "v", "d3"), 0);
    /* an insert of an expired id succeeds and starts with no TTL */
    OK(burrow_doc_delete(t, "v", "d3", 2));
    OK(expire_at(t, "v", "d4", T0 + 100)); /* expired at once */
    ERR(get(t, "v", "d4"), BURROW_ENOTFOUND);
    insert_n(t, "v", "d1", 41);
    assert_int_equal(ttl_of(t, "v", "d1"), 0);
    /* replace and update keep a TTL */
    OK(expire_at(t, "v", "d5", T0 + 1000));
    OK(burrow_doc_replace(t, "v", "d5", 2, "{\"n\": 55}", 9));
    assert_int_equal(ttl_of(t, "v", "d5"), T0 + 1000);
    OK(burrow_doc_update(t, "v", "d5", 2, u, NULL, 0));
    assert_int_equal(ttl_of(t, "v", "d5"), T0 + 1000);
    burrow_update_free(u);
    /* d1 and d5..d9: d0, d2, d4 were deleted lazily (d4 by the get), d3 by us */
    assert_int_equal(check_consistent(t, "v", "n"), 6);
    OK(burrow_txn_commit(t));
    burrow_buf_free(&out_buf);
    OK(burrow_close(db));
}

static void test_reopen(void **state)
{
    (void)state;
    fake_ms = T0;
    burrow_db *db = db_open(true);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "r", NULL));
    insert_n(t, "r", "a", 1);
    insert_n(t, "r", "b", 2);
    OK(expire_at(t, "r", "a", T0 + 60000));
    OK(burrow_txn_commit(t));
    OK(burrow_close(db));

    db = db_open(false);
    t = rtx(db);
    assert_int_equal(ttl_of(t, "r", "a"), T0 + 60000);
    OK(get(t, "r", "a"));
    burrow_txn_abort(t);
    OK(burrow_close(db));

    fake_ms = T0 + 60000;
    db = db_open(false);
    t = rtx(db);
    ERR(get(t, "r", "a"), BURROW_ENOTFOUND);
    OK(get(t, "r", "b"));
    assert_int_equal(count(t, "r", NULL), 1);
    burrow_txn_abort(t);
    OK(burrow_close(db));
    /* Turning the clock back shows it again: nothing deleted it yet. */
    fake_ms = T0;
    db = db_open(false);
    t = rtx(db);
    OK(get(t, "r", "a"));
    burrow_txn_abort(t);
    OK(burrow_close(db));
    burrow_buf_free(&out_buf);
}

static void test_sweep(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    fake_ms = T0;
    burrow_db *db = db_open(true);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "a", NULL));
    OK(burrow_coll_create(t, "b", NULL));
    OK(burrow_index_create(t, "a", "n", 0));
    OK(burrow_index_create(t, "b", "n", 0));
    enum { N = 200 };
    uint64_t exp[2][N];
    char id[16];
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < N; i++) {
            snprintf(id, sizeof id, "k%03d", i);
            insert_n(t, c ? "b" : "a", id, i);
            exp[c][i] = tu_chance(&rng, 3, 4) ? T0 + 1 + tu_below(&rng, 1000) : 0;
            if (exp[c][i])
                OK(expire_at(t, c ? "b" : "a", id, exp[c][i]));
        }
    OK(burrow_txn_commit(t));

    t = wtx(db);
    assert_int_equal(burrow_ttl_sweep(t, 50), 0); /* nothing due yet */
    OK(burrow_txn_commit(t));

    for (uint64_t step = 0; step <= 1000; step += 250) {
        fake_ms = T0 + step;
        uint64_t due = 0;
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < N; i++)
                due += exp[c][i] && exp[c][i] <= fake_ms;
        /* Each step deletes at most 7; the earliest go first. */
        uint64_t deleted = 0;
        for (;;) {
            t = wtx(db);
            int n = burrow_ttl_sweep(t, 7);
            OK(n);
            assert_true(n <= 7);
            deleted += (uint64_t)n;
            /* What the sweep left has expiries no earlier than what it
             * deleted: every remaining due document expires later than
             * any already gone (up to ties). */
            uint64_t gone_max = 0, left_min = UINT64_MAX;
            for (int c = 0; c < 2; c++)
                for (int i = 0; i < N; i++) {
                    if (!exp[c][i] || exp[c][i] > fake_ms)
                        continue;
                    snprintf(id, sizeof id, "k%03d", i);
                    if (stored(t, c ? "b" : "a", id))
                        left_min = exp[c][i] < left_min ? exp[c][i] : left_min;
                    else
                        gone_max = exp[c][i] > gone_max ? exp[c][i] : gone_max;
                }
            if (left_min != UINT64_MAX)
                assert_true(gone_max <= left_min);
            check_consistent(t, "a", "n");
            check_consistent(t, "b", "n");
            OK(burrow_txn_commit(t));
            if (n < 7)
                break;
        }
        t = rtx(db);
        uint64_t left = check_consistent(t, "a", "n") + check_consistent(t, "b", "n");
        uint64_t live = 0, all = 0;
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < N; i++)
                live += !exp[c][i] || exp[c][i] > fake_ms;
        for (int c = 0; c < 2; c++)
            for (int i = 0; i < N; i++)
                all += exp[c][i] && exp[c][i] <= fake_ms;
        assert_int_equal(left, live);
        assert_int_equal(all, due);
        assert_int_equal(count(t, "a", NULL) + count(t, "b", NULL), live);
        assert_int_equal(count(t, "a", "{\"n\": {\"$gte\": 0}}") +
                             count(t, "b", "{\"n\": {\"$gte\": 0}}"),
                         live);
        burrow_txn_abort(t);
        (void)deleted;
    }
    t = rtx(db);
    assert_int_equal(bucket_keys(t, "_burrow.expiry"), 0);
    assert_int_equal(bucket_keys(t, "t:a") + bucket_keys(t, "t:b"), 0);
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_lazy_delete(void **state)
{
    (void)state;
    fake_ms = T0;
    burrow_db *db = db_open(true);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "l", NULL));
    OK(burrow_index_create(t, "l", "n", 0));
    insert_n(t, "l", "x", 1);
    insert_n(t, "l", "y", 2);
    OK(expire_at(t, "l", "x", T0 + 10));
    OK(burrow_txn_commit(t));
    fake_ms = T0 + 10;

    /* A read txn only hides it. */
    t = rtx(db);
    ERR(get(t, "l", "x"), BURROW_ENOTFOUND);
    assert_true(stored(t, "l", "x"));
    burrow_txn_abort(t);

    /* A write txn that reads it deletes it; aborting undoes that. */
    t = wtx(db);
    ERR(get(t, "l", "x"), BURROW_ENOTFOUND);
    assert_false(stored(t, "l", "x"));
    assert_int_equal(check_consistent(t, "l", "n"), 1);
    burrow_txn_abort(t);
    t = rtx(db);
    assert_true(stored(t, "l", "x"));
    assert_int_equal(check_consistent(t, "l", "n"), 2);
    burrow_txn_abort(t);

    t = wtx(db);
    ERR(get(t, "l", "x"), BURROW_ENOTFOUND);
    OK(burrow_txn_commit(t));
    t = rtx(db);
    assert_false(stored(t, "l", "x"));
    assert_int_equal(check_consistent(t, "l", "n"), 1);
    assert_int_equal(bucket_keys(t, "t:l"), 0);
    assert_int_equal(bucket_keys(t, "_burrow.expiry"), 0);
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_abort(void **state)
{
    (void)state;
    fake_ms = T0;
    burrow_db *db = db_open(true);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "ab", NULL));
    insert_n(t, "ab", "a", 1);
    OK(burrow_txn_commit(t));

    t = wtx(db);
    OK(expire_at(t, "ab", "a", T0 + 5));
    burrow_txn_abort(t);
    t = rtx(db);
    assert_int_equal(ttl_of(t, "ab", "a"), 0);
    assert_false(bucket_exists(t, "t:ab"));
    assert_int_equal(bucket_keys(t, "_burrow.expiry"), 0);
    burrow_txn_abort(t);
    fake_ms = T0 + 10;
    t = rtx(db);
    OK(get(t, "ab", "a"));
    burrow_txn_abort(t);

    /* A savepoint's TTL goes with it; the parent's stays. */
    t = wtx(db);
    OK(expire_at(t, "ab", "a", T0 + 1000));
    burrow_txn *sp;
    OK(burrow_txn_begin(db, t, 0, &sp));
    OK(expire_at(sp, "ab", "a", 0));
    assert_int_equal(ttl_of(sp, "ab", "a"), 0);
    burrow_txn_abort(sp);
    assert_int_equal(ttl_of(t, "ab", "a"), T0 + 1000);
    OK(burrow_txn_commit(t));

    /* An aborted clear keeps the TTL. */
    t = wtx(db);
    OK(expire_at(t, "ab", "a", 0));
    burrow_txn_abort(t);
    t = rtx(db);
    assert_int_equal(ttl_of(t, "ab", "a"), T0 + 1000);
    burrow_txn_abort(t);
    burrow_buf_free(&out_buf);
    OK(burrow_close(db));
}

static void test_drop_and_metadata(void **state)
{
    (void)state;
    fake_ms = T0;
    burrow_db *db = db_open(true);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "d", NULL));
    OK(burrow_coll_create(t, "keep", NULL));
    insert_n(t, "d", "a", 1);
    insert_n(t, "d", "b", 2);
    insert_n(t, "keep", "a", 1);
    OK(expire_at(t, "d", "a", T0 + 5));
    OK(expire_at(t, "d", "b", T0 + 500));
    OK(expire_at(t, "keep", "a", T0 + 50));
    /* Rewriting the metadata (a new index, a schema) keeps the TTLs. */
    OK(burrow_index_create(t, "d", "n", 0));
    OK(burrow_coll_set_schema(t, "d",
                              "{\"fields\":{\"n\":{\"type\":\"integer\",\"indexed\":true}}}"));
    OK(burrow_txn_commit(t));
    t = rtx(db);
    assert_int_equal(ttl_of(t, "d", "b"), T0 + 500);
    burrow_txn_abort(t);
    fake_ms = T0 + 5;
    t = rtx(db);
    ERR(get(t, "d", "a"), BURROW_ENOTFOUND);
    assert_int_equal(find_count(t, "d", "{\"n\": {\"$gte\": 0}}"), 1);
    burrow_txn_abort(t);

    t = wtx(db);
    OK(burrow_coll_drop(t, "d"));
    assert_false(bucket_exists(t, "t:d"));
    assert_int_equal(bucket_keys(t, "_burrow.expiry"), 1); /* keep's */
    OK(burrow_coll_create(t, "d", NULL));
    insert_n(t, "d", "a", 1);
    assert_int_equal(ttl_of(t, "d", "a"), 0);
    OK(burrow_txn_commit(t));
    fake_ms = T0 + 1000;
    t = wtx(db);
    assert_int_equal(burrow_ttl_sweep(t, 100), 1);
    OK(get(t, "d", "a"));
    ERR(get(t, "keep", "a"), BURROW_ENOTFOUND);
    assert_int_equal(bucket_keys(t, "_burrow.expiry"), 0);
    OK(burrow_txn_commit(t));
    burrow_buf_free(&out_buf);
    OK(burrow_close(db));
}

static void test_hot_tier(void **state)
{
    (void)state;
    fake_ms = T0;
    burrow_db *db = db_open_hot(true, 1 << 20);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "h", NULL));
    insert_n(t, "h", "a", 1);
    insert_n(t, "h", "b", 2);
    OK(burrow_txn_commit(t));
    /* Read them into the tier. */
    for (int i = 0; i < 3; i++) {
        t = rtx(db);
        OK(get(t, "h", "a"));
        OK(get(t, "h", "b"));
        burrow_txn_abort(t);
    }
    t = wtx(db);
    OK(expire_at(t, "h", "a", T0 + 10));
    OK(burrow_txn_commit(t));
    t = rtx(db);
    OK(get(t, "h", "a"));
    OK(get(t, "h", "a"));
    burrow_txn_abort(t);
    fake_ms = T0 + 10;
    t = rtx(db);
    ERR(get(t, "h", "a"), BURROW_ENOTFOUND);
    OK(get(t, "h", "b"));
    burrow_txn_abort(t);
    /* An expiry set in the past hides a cached document at once. */
    t = wtx(db);
    OK(expire_at(t, "h", "b", T0 + 1));
    OK(burrow_txn_commit(t));
    t = rtx(db);
    ERR(get(t, "h", "b"), BURROW_ENOTFOUND);
    /* Manual promotion and pinning do not bring expired documents back. */
    ERR(burrow_tier_promote(t, "h", "a", 1), BURROW_ENOTFOUND);
    ERR(burrow_tier_pin(t, "h", "b", 1), BURROW_ENOTFOUND);
    assert_int_equal(burrow_tier_promote_range(t, "h", NULL, NULL, 0), 0);
    burrow_txn_abort(t);
    burrow_buf_free(&out_buf);
    OK(burrow_close(db));
}

/* Is coll/id's RAM copy in the hot tier? (key_stat is not an access.) */
static bool in_tier(burrow_db *db, const char *coll, const char *id)
{
    burrow_tier_key_stats ks;
    int rc = burrow_tier_key_stat(db, coll, id, strlen(id), &ks);
    if (rc != BURROW_ENOTFOUND)
        OK(rc);
    return rc == 0;
}

static burrow_tier_stats tier_stats(burrow_db *db)
{
    burrow_tier_stats st;
    OK(burrow_tier_stat(db, &st));
    assert_true(st.bytes_used <= st.budget);
    return st;
}

/* Read every id of "x" in one read txn; the ones whose TTL has passed are
 * missing and the others are read. */
#define XN 16
static void read_all_x(burrow_db *db, const uint64_t *exp)
{
    burrow_txn *t = rtx(db);
    for (int i = 0; i < XN; i++) {
        char id[16];
        snprintf(id, sizeof id, "x%02d", i);
        if (exp[i] && fake_ms >= exp[i])
            ERR(get(t, "x", id), BURROW_ENOTFOUND);
        else
            OK(get(t, "x", id));
    }
    burrow_txn_abort(t);
}

/*
 * Expiry drops the RAM copy: a document cached with a TTL leaves the tier
 * when the TTL passes, whether a read meets it (the lazy path), the sweep
 * steps the tier's expiry heap (burrow_ttl_sweep, even in a txn that then
 * aborts, and burrow_tier_step), or nothing touches it but a write. Bytes
 * used go down; reads after expiry miss; after a reopen the expired
 * documents stay missing and never come back into RAM.
 */
static void test_hot_expiry_frees_ram(void **state)
{
    (void)state;
    fake_ms = T0;
    burrow_db *db = db_open_hot(true, 1 << 20);
    uint64_t exp[XN];
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "x", NULL));
    for (int i = 0; i < XN; i++) {
        char id[16];
        snprintf(id, sizeof id, "x%02d", i);
        insert_n(t, "x", id, i);
        /* x00..x03: due at T0+100; x04..x07: T0+200; x08..x11: T0+300;
         * the rest never. x00..x07 get their TTL now, x08..x11 after they
         * are cached (the copy without a TTL must go at that commit). */
        exp[i] = i < 4 ? T0 + 100 : i < 8 ? T0 + 200 : i < 12 ? T0 + 300 : 0;
        if (i < 8)
            OK(expire_at(t, "x", id, exp[i]));
    }
    OK(burrow_txn_commit(t));
    read_all_x(db, exp);
    t = wtx(db);
    for (int i = 8; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "x%02d", i);
        OK(expire_at(t, "x", id, exp[i]));
    }
    OK(burrow_txn_commit(t));
    read_all_x(db, exp);
    burrow_tier_stats st = tier_stats(db);
    assert_int_equal(st.entries, XN);
    size_t full = st.bytes_used;

    /* The lazy path: a read of an expired document misses and drops it. */
    fake_ms = T0 + 100;
    t = rtx(db);
    ERR(get(t, "x", "x00"), BURROW_ENOTFOUND);
    burrow_txn_abort(t);
    st = tier_stats(db);
    assert_int_equal(st.entries, XN - 1);
    assert_true(st.bytes_used < full);
    assert_false(in_tier(db, "x", "x00"));

    /* The sweep drops the other expired copies, bounded by max, even when
     * its txn aborts (the documents then stay stored, expired). */
    size_t before = st.bytes_used;
    t = wtx(db);
    assert_int_equal(burrow_ttl_sweep(t, 2), 2); /* two documents deleted */
    burrow_txn_abort(t);
    st = tier_stats(db);
    assert_int_equal(st.entries, XN - 3); /* two RAM copies gone */
    assert_true(st.bytes_used < before);
    t = wtx(db);
    assert_int_equal(burrow_ttl_sweep(t, 100), 4); /* x00..x03 deleted */
    burrow_txn_abort(t);
    st = tier_stats(db);
    assert_int_equal(st.entries, XN - 4);
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "x%02d", i);
        assert_false(in_tier(db, "x", id));
    }
    t = rtx(db);
    assert_true(stored(t, "x", "x01")); /* the sweeps aborted */
    burrow_txn_abort(t);

    /* burrow_tier_step steps the same heap (a server's timer), bounded. */
    fake_ms = T0 + 200;
    before = st.bytes_used;
    assert_int_equal(burrow_tier_step(db, 3), 3);
    st = tier_stats(db);
    assert_int_equal(st.entries, XN - 7);
    assert_true(st.bytes_used < before);
    assert_int_equal(burrow_tier_step(db, 100), 1);
    assert_int_equal(burrow_tier_step(db, 100), 0);
    assert_int_equal(tier_stats(db).entries, XN - 8);

    /* Nothing touches x08..x11 but a committed sweep: gone from RAM and
     * from the file. The other copies are still there and still hit. */
    fake_ms = T0 + 300;
    t = wtx(db);
    assert_int_equal(burrow_ttl_sweep(t, 100), 12);
    OK(burrow_txn_commit(t));
    st = tier_stats(db);
    assert_int_equal(st.entries, XN - 12);
    uint64_t hits = st.hits;
    read_all_x(db, exp);
    st = tier_stats(db);
    assert_int_equal(st.hits, hits + (XN - 12));
    assert_int_equal(st.entries, XN - 12);

    /* A copy cached with a future TTL: after a reopen it is read back with
     * its TTL, and dropped when that passes. */
    t = wtx(db);
    OK(expire_at(t, "x", "x12", T0 + 400));
    OK(burrow_txn_commit(t));
    exp[12] = T0 + 400;
    OK(burrow_close(db));
    db = db_open_hot(false, 1 << 20);
    assert_int_equal(tier_stats(db).entries, 0);
    read_all_x(db, exp);
    assert_int_equal(tier_stats(db).entries, XN - 12);
    assert_true(in_tier(db, "x", "x12"));
    fake_ms = T0 + 400;
    assert_false(in_tier(db, "x", "x12"));
    read_all_x(db, exp);
    st = tier_stats(db);
    assert_int_equal(st.entries, XN - 13);
    t = rtx(db);
    assert_int_equal(count(t, "x", NULL), XN - 13);
    assert_true(stored(t, "x", "x12")); /* expired, not swept yet */
    burrow_txn_abort(t);
    burrow_buf_free(&out_buf);
    OK(burrow_close(db));
}

/* An expiry key longer than the database takes is refused before anything
 * is written (small pages, long names). */
static void test_key_too_long(void **state)
{
    (void)state;
    fake_ms = T0;
    page_size = 256;
    burrow_db *db = db_open(true);
    page_size = 0;
    size_t max = burrow_max_key_size(db);
    assert_true(max > 8 && max <= BURROW_MAX_ID_SIZE);
    char id[BURROW_MAX_ID_SIZE + 1];
    memset(id, 'x', max - 4);
    id[max - 4] = 0;
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "kk", NULL));
    insert_n(t, "kk", id, 1);
    insert_n(t, "kk", "short", 2);
    ERR(expire_at(t, "kk", id, T0 + 5), BURROW_EKEYSIZE);
    assert_false(bucket_exists(t, "t:kk"));
    assert_int_equal(ttl_of(t, "kk", id), 0);
    OK(expire_at(t, "kk", "short", T0 + 5));
    ERR(expire_at(t, "kk", id, T0 + 5), BURROW_EKEYSIZE);
    assert_int_equal(bucket_keys(t, "t:kk"), 1);
    OK(burrow_txn_commit(t));
    OK(burrow_close(db));
}

/* ---- random operations against a model ---------------------------------------------- */

enum { MN = 16 };
typedef struct model {
    bool exists[MN]; /* stored, expired or not */
    int n[MN];
    uint64_t exp[MN];
} model;

static bool visible(const model *m, int i)
{
    return m->exists[i] && !(m->exp[i] && fake_ms >= m->exp[i]);
}

/* A write that touched i by id: an expired document is deleted lazily. */
static void touch(model *m, int i)
{
    if (m->exists[i] && !visible(m, i)) {
        m->exists[i] = false;
        m->exp[i] = 0;
    }
}

static void test_random_against_model(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    fake_ms = T0;
    burrow_db *db = db_open(true);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "m", NULL));
    OK(burrow_index_create(t, "m", "n", 0));
    OK(burrow_txn_commit(t));
    model cur = {0};
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(150, 3000);
    char id[16], json[64];
    for (unsigned r = 0; r < rounds; r++) {
        model next = cur;
        t = wtx(db);
        int nops = (int)tu_range(&rng, 1, 6);
        for (int o = 0; o < nops; o++) {
            int i = (int)tu_below(&rng, MN);
            snprintf(id, sizeof id, "k%02d", i);
            int v = (int)tu_below(&rng, 1000);
            switch (tu_below(&rng, 8)) {
            case 0: /* insert */
                snprintf(json, sizeof json, "{\"_id\": \"%s\", \"n\": %d}", id, v);
                if (visible(&next, i)) {
                    ERR(burrow_doc_insert(t, "m", json, strlen(json), NULL), BURROW_EEXIST);
                } else {
                    OK(burrow_doc_insert(t, "m", json, strlen(json), NULL));
                    next.exists[i] = true;
                    next.exp[i] = 0;
                    next.n[i] = v;
                }
                break;
            case 1:
            case 2: { /* set or clear an expiry, sometimes in the past */
                uint64_t at = tu_chance(&rng, 1, 5) ? 0 : fake_ms - 20 + tu_below(&rng, 200);
                if (visible(&next, i)) {
                    OK(expire_at(t, "m", id, at));
                    next.exp[i] = at;
                } else {
                    ERR(expire_at(t, "m", id, at), BURROW_ENOTFOUND);
                    touch(&next, i);
                }
                break;
            }
            case 3: /* replace keeps the TTL */
                snprintf(json, sizeof json, "{\"n\": %d}", v);
                if (visible(&next, i)) {
                    OK(burrow_doc_replace(t, "m", id, 3, json, strlen(json)));
                    next.n[i] = v;
                } else {
                    ERR(burrow_doc_replace(t, "m", id, 3, json, strlen(json)), BURROW_ENOTFOUND);
                    touch(&next, i);
                }
                break;
            case 4: /* delete */
                if (visible(&next, i)) {
                    OK(burrow_doc_delete(t, "m", id, 3));
                    next.exists[i] = false;
                    next.exp[i] = 0;
                } else {
                    ERR(burrow_doc_delete(t, "m", id, 3), BURROW_ENOTFOUND);
                    touch(&next, i);
                }
                break;
            case 5: /* get in a write txn */
                if (visible(&next, i)) {
                    OK(get(t, "m", id));
                    assert_int_equal(ttl_of(t, "m", id), next.exp[i]);
                } else {
                    ERR(get(t, "m", id), BURROW_ENOTFOUND);
                    touch(&next, i);
                }
                break;
            case 6: { /* sweep: earliest (expiry, id) first */
                int max = (int)tu_range(&rng, 1, 4), want = 0;
                for (; want < max; want++) {
                    int best = -1;
                    for (int j = 0; j < MN; j++)
                        if (next.exists[j] && next.exp[j] && next.exp[j] <= fake_ms &&
                            (best < 0 || next.exp[j] < next.exp[best]))
                            best = j;
                    if (best < 0)
                        break;
                    next.exists[best] = false;
                    next.exp[best] = 0;
                }
                ERR(burrow_ttl_sweep(t, (unsigned)max), want);
                for (int j = 0; j < MN; j++) {
                    snprintf(id, sizeof id, "k%02d", j);
                    assert_int_equal(stored(t, "m", id), next.exists[j]);
                }
                break;
            }
            default: fake_ms += tu_below(&rng, 40); break;
            }
        }
        if (tu_chance(&rng, 1, 4)) {
            burrow_txn_abort(t);
        } else {
            OK(burrow_txn_commit(t));
            cur = next;
        }
        t = rtx(db);
        uint64_t live = 0;
        for (int i = 0; i < MN; i++) {
            snprintf(id, sizeof id, "k%02d", i);
            if (visible(&cur, i)) {
                live++;
                OK(get(t, "m", id));
                snprintf(json, sizeof json, "\"n\":%d", cur.n[i]);
                if (!strstr((const char *)out_buf.data, json))
                    fail_msg("round %u: '%s' is %s, want n %d", r, id, out_buf.data, cur.n[i]);
                assert_int_equal(ttl_of(t, "m", id), cur.exp[i]);
            } else {
                ERR(get(t, "m", id), BURROW_ENOTFOUND);
            }
            assert_int_equal(stored(t, "m", id), cur.exists[i]);
        }
        assert_int_equal(count(t, "m", NULL), live);
        assert_int_equal(find_count(t, "m", "{\"n\": {\"$gte\": 0}}"), live);
        uint64_t nstored = 0, nexp = 0;
        for (int i = 0; i < MN; i++) {
            nstored += cur.exists[i];
            nexp += cur.exists[i] && cur.exp[i];
        }
        assert_int_equal(check_consistent(t, "m", "n"), nstored);
        assert_int_equal(bucket_keys(t, "t:m"), nexp);
        assert_int_equal(bucket_keys(t, "_burrow.expiry"), nexp);
        burrow_txn_abort(t);
    }
    burrow_buf_free(&out_buf);
    OK(burrow_close(db));
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    if (getenv("BURROW_TEST_FILTER"))
        cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_read_clear),
        cmocka_unit_test(test_invisible_at_once),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_sweep),
        cmocka_unit_test(test_lazy_delete),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_drop_and_metadata),
        cmocka_unit_test(test_hot_tier),
        cmocka_unit_test(test_hot_expiry_frees_ram),
        cmocka_unit_test(test_key_too_long),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
