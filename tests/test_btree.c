/*
 * test_btree.c — the B+tree at its edges, with tiny pages so trees are deep:
 * root splits and collapses, append-optimised splits, merges and
 * rebalancing in every delete order, keys at the size limit in branches,
 * the inline/overflow value boundary, space reuse across fill/empty cycles,
 * and savepoints that allocate and give back pages. burrow_check() (which
 * re-verifies every page, separator and count) runs after every commit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "burrow.h"
#include "testutil.h"

static char *dir;
static char path[512];

#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) fail_msg("%s -> %s (%s)", #x, burrow_strerror(rc_), burrow_errmsg());            \
    } while (0)

static burrow_db *fresh(uint32_t psize)
{
    unlink(path);
    burrow_options o;
    burrow_options_init(&o);
    o.page_size = psize;
    o.sync_mode = BURROW_SYNC_NONE;
    burrow_db *db;
    OK(burrow_open(path, &o, &db));
    return db;
}

static burrow_txn *wtxn(burrow_db *db)
{
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    return t;
}

static void commit_check(burrow_db *db, burrow_txn *t)
{
    OK(burrow_txn_commit(t));
    OK(burrow_check(db));
}

static size_t keyn(char *k, int i) { return (size_t)sprintf(k, "k%08d", i); }

static burrow_bucket_stats stats(burrow_db *db, burrow_bucket b)
{
    burrow_txn *t;
    burrow_bucket_stats s;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    OK(burrow_bucket_stat(t, b, &s));
    burrow_txn_abort(t);
    return s;
}

static void test_root_split_and_collapse(void **state)
{
    (void)state;
    burrow_db *db = fresh(256);
    burrow_txn *t = wtxn(db);
    burrow_bucket b;
    OK(burrow_bucket_open(t, "t", BURROW_CREATE, &b));
    char k[32];
    int n = 0;
    burrow_bucket_stats s;
    /* grow one key at a time until the root splits */
    do {
        OK(burrow_put(t, b, k, keyn(k, n), "v", 1, 0));
        n++;
        OK(burrow_bucket_stat(t, b, &s));
    } while (s.height == 1);
    assert_int_equal(s.height, 2);
    assert_int_equal(s.leaf_pages, 2);
    assert_int_equal(s.branch_pages, 1);
    commit_check(db, t);
    /* delete one key: the two leaves are light enough to merge, and the
     * root collapses back into a single leaf */
    t = wtxn(db);
    for (int i = n - 1; i >= n / 2; i--) OK(burrow_del(t, b, k, keyn(k, i)));
    OK(burrow_bucket_stat(t, b, &s));
    assert_int_equal(s.height, 1);
    commit_check(db, t);
    /* and to nothing */
    t = wtxn(db);
    for (int i = 0; i < n / 2; i++) OK(burrow_del(t, b, k, keyn(k, i)));
    OK(burrow_bucket_stat(t, b, &s));
    assert_int_equal(s.height, 0);
    assert_int_equal(s.keys, 0);
    assert_int_equal(s.leaf_pages, 0);
    commit_check(db, t);
    OK(burrow_close(db));
}

static void test_sequential_fill_is_dense(void **state)
{
    (void)state;
    burrow_db *db = fresh(1024);
    burrow_txn *t = wtxn(db);
    burrow_bucket b;
    OK(burrow_bucket_open(t, "seq", BURROW_CREATE, &b));
    char k[32], v[40];
    memset(v, 'x', sizeof v);
    for (int i = 0; i < 5000; i++) OK(burrow_put(t, b, k, keyn(k, i), v, sizeof v, 0));
    commit_check(db, t);
    burrow_bucket_stats s = stats(db, b);
    /* a cell is 1+9+1+40 = 51 bytes + 2 of slot: 18 fit in 992 bytes. An
     * append-aware split keeps leaves full; a plain half split would need
     * about twice as many. */
    uint64_t ideal = (5000 + 17) / 18;
    assert_true(s.leaf_pages <= ideal + ideal / 10);
    OK(burrow_close(db));
}

static void delete_order(int order)
{
    burrow_db *db = fresh(256);
    burrow_txn *t = wtxn(db);
    burrow_bucket b;
    OK(burrow_bucket_open(t, "d", BURROW_CREATE, &b));
    enum { N = 1500 };
    char k[32];
    for (int i = 0; i < N; i++) OK(burrow_put(t, b, k, keyn(k, i), "value", 5, 0));
    commit_check(db, t);
    assert_true(stats(db, b).height >= 4);
    int *perm = malloc(N * sizeof *perm);
    for (int i = 0; i < N; i++) perm[i] = order == 0 ? i : order == 1 ? N - 1 - i : i;
    if (order == 2) {
        tu_rng r;
        tu_rng_seed(&r, tu_seed());
        for (int i = N - 1; i > 0; i--) {
            int j = (int)tu_below(&r, (uint64_t)i + 1), x = perm[i];
            perm[i] = perm[j];
            perm[j] = x;
        }
    }
    for (int start = 0; start < N; start += 100) {
        t = wtxn(db);
        for (int i = start; i < start + 100; i++) OK(burrow_del(t, b, k, keyn(k, perm[i])));
        commit_check(db, t);
        /* every remaining key is still found */
        OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
        burrow_val v;
        for (int i = start + 100; i < N; i++) OK(burrow_get(t, b, k, keyn(k, perm[i]), &v));
        burrow_txn_abort(t);
    }
    burrow_bucket_stats s = stats(db, b);
    assert_int_equal(s.keys, 0);
    assert_int_equal(s.height, 0);
    free(perm);
    OK(burrow_close(db));
}

static void test_delete_forward(void **state) { (void)state; delete_order(0); }
static void test_delete_backward(void **state) { (void)state; delete_order(1); }
static void test_delete_random(void **state) { (void)state; delete_order(2); }

static const char *tail6(int i)
{
    static char buf[16];
    snprintf(buf, sizeof buf, "%06d", i % 1000000);
    return buf;
}

static void test_max_keys_in_branches(void **state)
{
    (void)state;
    burrow_db *db = fresh(256);
    size_t max = burrow_max_key_size(db);
    assert_true(max >= 16);
    burrow_txn *t = wtxn(db);
    burrow_bucket b;
    OK(burrow_bucket_open(t, "big", BURROW_CREATE, &b));
    /* keys of maximum length that differ only at the end: separators cannot
     * be shortened, so branches hold full-size keys and split often */
    char *k = malloc(max + 1);
    memset(k, 'a', max);
    for (int i = 0; i < 600; i++) {
        memcpy(k + max - 6, tail6(i), 6);
        OK(burrow_put(t, b, k, max, "v", 1, 0));
    }
    commit_check(db, t);
    assert_true(stats(db, b).height >= 4);
    assert_int_equal(burrow_put(t = wtxn(db), b, k, max + 1, "v", 1, 0), BURROW_EKEYSIZE);
    /* deleting every other one merges and rebalances full-size separators */
    for (int i = 0; i < 600; i += 2) {
        memcpy(k + max - 6, tail6(i), 6);
        OK(burrow_del(t, b, k, max));
    }
    commit_check(db, t);
    free(k);
    OK(burrow_close(db));
}

static void test_inline_overflow_boundary(void **state)
{
    (void)state;
    burrow_db *db = fresh(512);
    burrow_txn *t = wtxn(db);
    burrow_bucket b;
    OK(burrow_bucket_open(t, "v", BURROW_CREATE, &b));
    /* max cell = (512 - 32) / 4 = 120 bytes; a cell is 1 + 4 + 1 + vlen
     * for a 4-byte key and vlen < 128: inline up to 114 bytes */
    uint8_t val[2000];
    for (int i = 0; i < (int)sizeof val; i++) val[i] = (uint8_t)(i * 7);
    OK(burrow_put(t, b, "in__", 4, val, 114, 0));
    commit_check(db, t);
    assert_int_equal(stats(db, b).overflow_pages, 0);
    t = wtxn(db);
    OK(burrow_put(t, b, "out_", 4, val, 115, 0));
    commit_check(db, t);
    assert_int_equal(stats(db, b).overflow_pages, 1);
    /* a run of exactly one page, and one byte more */
    t = wtxn(db);
    OK(burrow_put(t, b, "one_", 4, val, 512, 0));
    OK(burrow_put(t, b, "two_", 4, val, 513, 0));
    commit_check(db, t);
    assert_int_equal(stats(db, b).overflow_pages, 1 + 1 + 2);
    burrow_val v;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    OK(burrow_get(t, b, "two_", 4, &v));
    assert_int_equal(v.size, 513);
    assert_memory_equal(v.data, val, 513);
    OK(burrow_get(t, b, "in__", 4, &v));
    assert_int_equal(v.size, 114);
    assert_memory_equal(v.data, val, 114);
    burrow_txn_abort(t);
    /* shrinking an overflow value back inline frees its run */
    t = wtxn(db);
    OK(burrow_put(t, b, "two_", 4, val, 3, 0));
    OK(burrow_put(t, b, "one_", 4, val, 3, 0));
    OK(burrow_put(t, b, "out_", 4, val, 3, 0));
    commit_check(db, t);
    assert_int_equal(stats(db, b).overflow_pages, 0);
    OK(burrow_close(db));
}

static void test_space_is_reused(void **state)
{
    (void)state;
    burrow_db *db = fresh(512);
    burrow_txn *t = wtxn(db);
    burrow_bucket b;
    OK(burrow_bucket_open(t, "r", BURROW_CREATE, &b));
    commit_check(db, t);
    char k[32];
    uint8_t big[3000] = {1};
    burrow_db_stats st;
    uint64_t pages_after_first = 0;
    for (int cycle = 0; cycle < 8; cycle++) {
        t = wtxn(db);
        for (int i = 0; i < 400; i++) OK(burrow_put(t, b, k, keyn(k, i), big, i % 10 ? 20 : sizeof big, 0));
        commit_check(db, t);
        t = wtxn(db);
        for (int i = 0; i < 400; i++) OK(burrow_del(t, b, k, keyn(k, i)));
        commit_check(db, t);
        OK(burrow_db_stat(db, &st));
        if (cycle == 1) pages_after_first = st.page_count;
        /* steady state: the file stops growing once freed pages come back */
        if (cycle > 1) assert_true(st.page_count <= pages_after_first + 8);
    }
    OK(burrow_close(db));
}

static void test_savepoint_gives_pages_back(void **state)
{
    (void)state;
    burrow_db *db = fresh(512);
    burrow_txn *t = wtxn(db);
    burrow_bucket b;
    OK(burrow_bucket_open(t, "s", BURROW_CREATE, &b));
    char k[32];
    for (int i = 0; i < 200; i++) OK(burrow_put(t, b, k, keyn(k, i), "x", 1, 0));
    commit_check(db, t);
    burrow_db_stats before, after;
    OK(burrow_db_stat(db, &before));
    static uint8_t big[200000];
    for (int round = 0; round < 20; round++) {
        t = wtxn(db);
        burrow_txn *c1, *c2;
        OK(burrow_txn_begin(db, t, 0, &c1));
        OK(burrow_put(c1, b, "huge", 4, big, sizeof big, 0));
        OK(burrow_txn_begin(db, c1, 0, &c2));
        for (int i = 0; i < 200; i++) OK(burrow_del(c2, b, k, keyn(k, i)));
        OK(burrow_txn_commit(c2));
        burrow_txn_abort(c1); /* everything of both children goes away */
        burrow_val v;
        OK(burrow_get(t, b, k, keyn(k, 7), &v));
        assert_int_equal(burrow_get(t, b, "huge", 4, &v), BURROW_ENOTFOUND);
        burrow_txn_abort(t);
    }
    OK(burrow_check(db));
    OK(burrow_db_stat(db, &after));
    /* aborted allocations went back to the pool instead of growing the file */
    assert_true(after.page_count <= before.page_count + 2);
    OK(burrow_close(db));
}

/* Random keys and values of mixed sizes (short keys repeat, so overwrites
 * happen too), checked after every 50 puts: splits, sharing with siblings
 * and three-way splits meet cells of every size. */
static void test_random_sizes(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x5157);
    uint32_t sizes[] = {256, 512, 1024};
    for (int round = 0; round < 6; round++) {
        burrow_db *db = fresh(sizes[round % 3]);
        size_t maxk = burrow_max_key_size(db);
        size_t kmax = round < 3 ? 4 : maxk;
        burrow_txn *t = wtxn(db);
        burrow_bucket b;
        OK(burrow_bucket_open(t, "r", BURROW_CREATE, &b));
        char k[1100], v[600];
        memset(v, 'v', sizeof v);
        for (int op = 0; op < 3000; op++) {
            size_t kl = 1 + tu_below(&r, kmax);
            for (size_t i = 0; i < kl; i++) k[i] = (char)('a' + tu_below(&r, 26));
            size_t vl = tu_below(&r, 4) ? tu_below(&r, 40) : tu_below(&r, sizeof v);
            OK(burrow_put(t, b, k, kl, v, vl, 0));
            if (op % 50 == 49) {
                commit_check(db, t);
                t = wtxn(db);
            }
        }
        commit_check(db, t);
        OK(burrow_close(db));
    }
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-btree");
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/t.burrow", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    return 0;
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_split_and_collapse),
        cmocka_unit_test(test_sequential_fill_is_dense),
        cmocka_unit_test(test_delete_forward),
        cmocka_unit_test(test_delete_backward),
        cmocka_unit_test(test_delete_random),
        cmocka_unit_test(test_max_keys_in_branches),
        cmocka_unit_test(test_inline_overflow_boundary),
        cmocka_unit_test(test_space_is_reused),
        cmocka_unit_test(test_savepoint_gives_pages_back),
        cmocka_unit_test(test_random_sizes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
