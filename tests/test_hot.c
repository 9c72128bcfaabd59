/*
 * test_hot.c — documents read through the hot tier (options.hot_memory):
 * every read equals what the store alone returns at the reader's snapshot,
 * with aborted writes, open older snapshots and reopen; and the tier is
 * used (hits) and stays within its budget.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "burrow.h"
#include "testutil.h"

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
                same(w, id);
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
            same(readers[k], id);
            same(readers[k], id);
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
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
