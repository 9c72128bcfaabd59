/*
 * test_txn.c — transaction lifecycle details: cursors outliving their txn,
 * reader lag counted in commits, flags checked, the writer handed from
 * thread to thread, error detail never stale.
 */
#include <pthread.h>
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
#include "fault_os.h"
#include "testutil.h"

static char *dir;
static char path[512];

#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) fail_msg("%s -> %s (%s)", #x, burrow_strerror(rc_), burrow_errmsg());            \
    } while (0)

static burrow_db *fresh(void)
{
    unlink(path);
    burrow_options o;
    burrow_options_init(&o);
    o.page_size = 512;
    o.sync_mode = BURROW_SYNC_NONE;
    burrow_db *db;
    OK(burrow_open(path, &o, &db));
    return db;
}

static void put_keys(burrow_db *db, burrow_bucket *b, int n)
{
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    OK(burrow_bucket_open(t, "c", BURROW_CREATE, b));
    char k[16];
    for (int i = 0; i < n; i++) OK(burrow_put(t, *b, k, (size_t)sprintf(k, "k%04d", i), "v", 1, 0));
    OK(burrow_txn_commit(t));
}

static void test_cursor_outlives_txn(void **state)
{
    (void)state;
    burrow_db *db = fresh();
    burrow_bucket b;
    put_keys(db, &b, 100);
    burrow_val k, v;
    /* a read txn ended with cursors open: they are detached, not dangling */
    burrow_txn *t;
    burrow_cursor *c1, *c2;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    OK(burrow_cursor_open(t, b, &c1));
    OK(burrow_cursor_open(t, b, &c2));
    OK(burrow_cursor_first(c1, &k, &v));
    burrow_cursor_close(c2); /* closing one of several before the end */
    burrow_txn_abort(t);
    assert_int_equal(burrow_cursor_next(c1, &k, &v), BURROW_EINVAL);
    assert_int_equal(burrow_cursor_first(c1, &k, &v), BURROW_EINVAL);
    assert_int_equal(burrow_cursor_seek(c1, "k", 1, BURROW_SEEK_GE, &k, &v), BURROW_EINVAL);
    assert_non_null(strstr(burrow_errmsg(), "ended"));
    burrow_cursor_close(c1);
    /* a write txn committed with a cursor open: the commit goes through */
    OK(burrow_txn_begin(db, NULL, 0, &t));
    OK(burrow_cursor_open(t, b, &c1));
    OK(burrow_cursor_last(c1, &k, &v));
    OK(burrow_put(t, b, "zz", 2, "new", 3, 0));
    OK(burrow_txn_commit(t));
    assert_int_equal(burrow_cursor_prev(c1, &k, &v), BURROW_EINVAL);
    burrow_cursor_close(c1);
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    OK(burrow_get(t, b, "zz", 2, &v));
    burrow_txn_abort(t);
    /* a cursor of a savepoint is detached when the savepoint ends */
    burrow_txn *child;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    OK(burrow_txn_begin(db, t, 0, &child));
    OK(burrow_cursor_open(child, b, &c1));
    OK(burrow_txn_commit(child));
    assert_int_equal(burrow_cursor_first(c1, &k, &v), BURROW_EINVAL);
    OK(burrow_cursor_open(t, b, &c2)); /* the parent works again */
    OK(burrow_cursor_first(c2, &k, &v));
    burrow_txn_abort(t);
    burrow_cursor_close(c1);
    burrow_cursor_close(c2);
    OK(burrow_close(db));
}

static void test_reader_lag_counts_commits(void **state)
{
    (void)state;
    burrow_db *db = fresh();
    burrow_bucket b;
    put_keys(db, &b, 10);
    burrow_txn *r;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r));
    for (int i = 0; i < 3; i++) {
        burrow_txn *t;
        OK(burrow_txn_begin(db, NULL, 0, &t));
        OK(burrow_put(t, b, "k0001", 5, "changed", 7, 0));
        OK(burrow_txn_commit(t));
    }
    burrow_db_stats st;
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.readers, 1);
    assert_int_equal(st.oldest_reader_lag_txns, 3); /* commits, whatever the ids */
    assert_true(st.reader_pinned_pages > 0);
    burrow_txn_abort(r);
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.readers, 0);
    assert_int_equal(st.oldest_reader_lag_txns, 0);
    assert_int_equal(st.reader_pinned_pages, 0);
    OK(burrow_close(db));
}

static void test_flags_checked(void **state)
{
    (void)state;
    burrow_db *db = fresh();
    burrow_txn *t;
    assert_int_equal(burrow_txn_begin(db, NULL, 0x80, &t), BURROW_EINVAL);
    assert_int_equal(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY | 0x10, &t), BURROW_EINVAL);
    OK(burrow_txn_begin(db, NULL, 0, &t)); /* nothing was left locked */
    burrow_txn_abort(t);
    OK(burrow_close(db));
    burrow_options o;
    burrow_options_init(&o);
    o.flags = 0x100;
    assert_int_equal(burrow_open(path, &o, &db), BURROW_EINVAL);
    burrow_options_init(&o);
    o.sync_mode = 7;
    assert_int_equal(burrow_open(path, &o, &db), BURROW_EINVAL);
}

static void test_errmsg_not_stale(void **state)
{
    (void)state;
    burrow_db *db = fresh();
    burrow_bucket b;
    put_keys(db, &b, 5);
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    char big[4096] = {0};
    assert_int_equal(burrow_get(t, b, big, sizeof big, &(burrow_val){0}), BURROW_EKEYSIZE);
    assert_true(strlen(burrow_errmsg()) > 0);
    burrow_val v;
    assert_int_equal(burrow_get(t, b, "nope", 4, &v), BURROW_ENOTFOUND);
    assert_null(strstr(burrow_errmsg(), "exceeds")); /* not the earlier error's text */
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

struct handoff {
    burrow_db *db;
    burrow_bucket b;
    int id;
};

static void *writer_thread(void *arg)
{
    struct handoff *h = arg;
    char k[16];
    for (int i = 0; i < 200; i++) {
        burrow_txn *t;
        if (burrow_txn_begin(h->db, NULL, 0, &t)) return (void *)1;
        int n = sprintf(k, "w%d-%03d", h->id, i);
        if (burrow_put(t, h->b, k, (size_t)n, k, (size_t)n, 0)) return (void *)2;
        if (i % 3 == 0)
            burrow_txn_abort(t); /* aborts hand the writer on as commits do */
        else if (burrow_txn_commit(t))
            return (void *)3;
    }
    return NULL;
}

/* Writers on several threads take turns; aborts and commits both release
 * the writer, and the recycled page buffers are never shared. */
static void test_writers_take_turns(void **state)
{
    (void)state;
    burrow_db *db = fresh();
    burrow_bucket b;
    put_keys(db, &b, 10);
    pthread_t th[3];
    struct handoff h[3];
    for (int i = 0; i < 3; i++) {
        h[i] = (struct handoff){db, b, i};
        assert_int_equal(pthread_create(&th[i], NULL, writer_thread, &h[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    OK(burrow_check(db));
    burrow_txn *t;
    burrow_bucket_stats bs;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    OK(burrow_bucket_stat(t, b, &bs));
    burrow_txn_abort(t);
    /* 200 per thread, every third aborted: 133 commits each, plus the 10 */
    assert_int_equal(bs.keys, 10 + 3 * 133);
    OK(burrow_close(db));
}

/* ---- a FULL process after a NOMETA one ---------------------------------- */

enum { MK = 40 };

/* Contents as the commit number that last wrote each key (-1: absent). */
typedef struct kstate {
    int v[MK];
} kstate;

/* One random commit numbered no; *st becomes the state it would make,
 * whether or not the commit succeeds. */
static int commit_random(burrow_db *db, tu_rng *r, kstate *st, int no)
{
    burrow_txn *t;
    burrow_bucket b;
    int rc = burrow_txn_begin(db, NULL, 0, &t);
    if (rc) return rc;
    if ((rc = burrow_bucket_open(t, "m", BURROW_CREATE, &b))) goto out;
    char k[16], v[80];
    for (int i = 0, n = 3 + (int)tu_below(r, 12); i < n; i++) {
        int key = (int)tu_below(r, MK);
        sprintf(k, "k%03d", key);
        if (tu_below(r, 4) == 0 && st->v[key] >= 0) {
            if ((rc = burrow_del(t, b, k, strlen(k)))) goto out;
            st->v[key] = -1;
        } else {
            int vl = snprintf(v, sizeof v, "commit-%06d-%040d", no, key);
            if ((rc = burrow_put(t, b, k, strlen(k), v, (size_t)vl, 0))) goto out;
            st->v[key] = no;
        }
    }
    return burrow_txn_commit(t);
out:
    burrow_txn_abort(t);
    return rc;
}

static int read_state(burrow_db *db, kstate *st)
{
    burrow_txn *t;
    burrow_bucket b;
    int rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t);
    if (rc) return rc;
    if ((rc = burrow_bucket_open(t, "m", 0, &b)) == 0) {
        for (int key = 0; key < MK && !rc; key++) {
            char k[16];
            burrow_val v;
            sprintf(k, "k%03d", key);
            int g = burrow_get(t, b, k, strlen(k), &v);
            if (g == BURROW_ENOTFOUND) st->v[key] = -1;
            else if (g) rc = g;
            else st->v[key] = atoi((const char *)v.data + 7);
        }
    }
    burrow_txn_abort(t);
    return rc;
}

/*
 * A process writes with NOMETA and exits without syncing its last meta;
 * the next one opens with FULL and commits, and the power goes at a random
 * point of that. The file must come back whole, at the NOMETA process's
 * last or second-last commit or at one of the FULL commits.
 */
static void test_full_after_nometa(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x0a11);
    unsigned rounds = tu_rounds(1000, 10000);
    for (unsigned round = 0; round < rounds; round++) {
        unlink(path);
        fault_os *fo = fault_os_new(NULL, tu_rand(&r));
        assert_non_null(fo);
        burrow_options o;
        burrow_options_init(&o);
        o.page_size = 512;
        o.os = fault_os_table(fo);
        o.sync_mode = BURROW_SYNC_NOMETA;
        burrow_db *db;
        OK(burrow_open(path, &o, &db));
        /* states[i]: after commit i; states[0] is the empty database */
        kstate states[16];
        int n = 0;
        for (int i = 0; i < MK; i++) states[0].v[i] = -1;
        for (int c = 0, k = 2 + (int)tu_below(&r, 8); c < k; c++, n++) {
            states[n + 1] = states[n];
            OK(commit_random(db, &r, &states[n + 1], n + 1));
        }
        OK(burrow_close(db)); /* NOMETA: the last meta page is not synced */
        int lowest = n - 1;   /* the oldest state a cut may leave */
        o.sync_mode = BURROW_SYNC_FULL;
        OK(burrow_open(path, &o, &db));
        fault_os_crash_after(fo, tu_below(&r, 40));
        for (int c = 0; c < 3; c++) {
            states[n + 1] = states[n];
            int rc = commit_random(db, &r, &states[n + 1], n + 1);
            n++;
            if (rc) break; /* the power went: this one may or may not be there */
            lowest = n;    /* acknowledged under FULL: it must be there */
        }
        (void)burrow_close(db);
        assert_int_equal(fault_os_power_cut(fo, NULL), 0);
        fault_os_free(fo);
        burrow_options_init(&o);
        int rc = burrow_open(path, &o, &db);
        if (rc) fail_msg("round %u: reopen: %s (%s)", round, burrow_strerror(rc), burrow_errmsg());
        if ((rc = burrow_check(db))) fail_msg("round %u: the file is damaged: %s", round, burrow_errmsg());
        kstate got;
        OK(read_state(db, &got));
        OK(burrow_close(db));
        int match = -1;
        for (int i = lowest; i <= n && match < 0; i++)
            if (!memcmp(&got, &states[i], sizeof got)) match = i;
        if (match < 0)
            fail_msg("round %u: the reopened contents are none of the states %d..%d", round, lowest, n);
    }
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-txn");
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
        cmocka_unit_test(test_cursor_outlives_txn),
        cmocka_unit_test(test_reader_lag_counts_commits),
        cmocka_unit_test(test_flags_checked),
        cmocka_unit_test(test_errmsg_not_stale),
        cmocka_unit_test(test_writers_take_turns),
        cmocka_unit_test(test_full_after_nometa),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
