/*
 * test_concurrency.c — readers and one writer on separate threads.
 *
 *  - test_snapshots_stable: a writer thread commits many transactions that
 *    overwrite, delete and insert (small pages, so pages are freed and
 *    recycled all the time), while reader threads each begin a read txn,
 *    fingerprint the whole snapshot (key count and a hash over a full scan)
 *    and re-scan it several times. Every scan of a snapshot must give the
 *    same fingerprint, and that fingerprint must be the one the writer
 *    computed from its own model for that txn id (published before the
 *    commit): snapshots are stable AND correct.
 *  - test_reader_never_blocks: a read txn begun on another thread (and on
 *    the writer's own thread) while a write txn is live returns at once and
 *    sees the last committed state.
 *  - test_second_writer_waits: a second write txn waits for the first.
 *
 * Worker threads never call cmocka: they record the first failure in a
 * shared message, and the main thread fails the test after joining them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "burrow.h"
#include "testutil.h"

#define NKEYS 3000
#define NREADERS 3

static char *tmp_dir;

static int setup(void **state)
{
    (void)state;
    tmp_dir = tu_tmpdir("burrow-conc");
    return tmp_dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(tmp_dir);
    free(tmp_dir);
    return 0;
}

#define OK(expr)                                                                                   \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            fail_msg("%s:%d: %s -> %d (%s) [%s]", __FILE__, __LINE__, #expr, rc_,                  \
                     burrow_strerror(rc_), burrow_errmsg());                                       \
    } while (0)

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- shared state of the snapshot test ---------------------------------- */

typedef struct fingerprint {
    uint64_t id, count, hash;
} fingerprint;

static struct {
    burrow_db *db;
    burrow_bucket b;
    uint32_t ps;

    pthread_mutex_t mu;
    fingerprint *pub; /* published fingerprints, by commit */
    size_t npub, cappub;

    atomic_int stop;
    atomic_int failed;
    char failure[1024];

    atomic_ullong snapshots, rescans, commits;
} g;

static void record_failure(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record_failure(const char *fmt, ...)
{
    pthread_mutex_lock(&g.mu);
    if (!atomic_load(&g.failed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(g.failure, sizeof g.failure, fmt, ap);
        va_end(ap);
        atomic_store(&g.failed, 1);
        fprintf(stderr, "FAILURE: %s\n", g.failure);
    }
    pthread_mutex_unlock(&g.mu);
    atomic_store(&g.stop, 1);
}

static void publish(uint64_t id, uint64_t count, uint64_t hash)
{
    pthread_mutex_lock(&g.mu);
    if (g.npub == g.cappub) {
        g.cappub = g.cappub ? g.cappub * 2 : 1024;
        g.pub = realloc(g.pub, g.cappub * sizeof *g.pub);
    }
    g.pub[g.npub++] = (fingerprint){id, count, hash};
    pthread_mutex_unlock(&g.mu);
}

/* The fingerprint published for txn id, or 0 when none. */
static int lookup(uint64_t id, fingerprint *out)
{
    int found = 0;
    pthread_mutex_lock(&g.mu);
    for (size_t i = g.npub; i-- > 0;) {
        if (g.pub[i].id == id) {
            *out = g.pub[i];
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&g.mu);
    return found;
}

/* FNV-1a over the scan: key length, key, value length, value. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t fnv_item(uint64_t h, const void *k, size_t kl, const void *v, size_t vl)
{
    uint64_t l = kl;
    h = fnv(h, &l, sizeof l);
    h = fnv(h, k, kl);
    l = vl;
    h = fnv(h, &l, sizeof l);
    return fnv(h, v, vl);
}

#define FNV_INIT 0xcbf29ce484222325ull

/* ---- the writer's model ------------------------------------------------- */

typedef struct slot {
    uint32_t version; /* 0 = absent */
    uint32_t vlen;
} slot;

static void key_of(char *buf, int i) { snprintf(buf, 16, "k%05d", i); }

static void value_of(uint8_t *buf, int i, uint32_t version, uint32_t vlen)
{
    uint64_t s = tu_mix(((uint64_t)i << 32) ^ version);
    for (uint32_t j = 0; j < vlen; j++) {
        if (j % 8 == 0) s = tu_mix(s);
        buf[j] = (uint8_t)(s >> (8 * (j % 8)));
    }
}

static void model_fingerprint(const slot *m, uint8_t *vbuf, uint64_t *count, uint64_t *hash)
{
    uint64_t h = FNV_INIT, n = 0;
    char k[16];
    for (int i = 0; i < NKEYS; i++) {
        if (!m[i].version) continue;
        key_of(k, i);
        value_of(vbuf, i, m[i].version, m[i].vlen);
        h = fnv_item(h, k, strlen(k), vbuf, m[i].vlen);
        n++;
    }
    *count = n;
    *hash = h;
}

static uint32_t pick_vlen(tu_rng *r, uint32_t ps)
{
    unsigned p = (unsigned)tu_below(r, 100);
    if (p < 60) return (uint32_t)tu_below(r, 40);
    if (p < 90) return (uint32_t)tu_range(r, 40, ps);
    return (uint32_t)tu_range(r, ps, 4 * ps); /* overflow pages */
}

struct writer_arg {
    uint64_t seed;
    unsigned txns;
    slot *model;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    tu_rng rng;
    tu_rng_seed(&rng, a->seed);
    slot *m = a->model;
    slot *next = malloc(NKEYS * sizeof *next);
    uint8_t *vbuf = malloc(8 * g.ps + 16);
    char k[16];
    for (unsigned t = 0; t < a->txns && !atomic_load(&g.stop); t++) {
        burrow_txn *txn;
        int rc = burrow_txn_begin(g.db, NULL, 0, &txn);
        if (rc != 0) {
            record_failure("writer: begin -> %d (%s)", rc, burrow_strerror(rc));
            break;
        }
        memcpy(next, m, NKEYS * sizeof *next);
        unsigned nops = tu_chance(&rng, 1, 20) ? (unsigned)tu_range(&rng, 100, 600)
                                               : (unsigned)tu_range(&rng, 1, 40);
        for (unsigned o = 0; o < nops && rc == 0; o++) {
            int i = (int)tu_below(&rng, NKEYS);
            key_of(k, i);
            if (next[i].version && tu_chance(&rng, 2, 5)) {
                rc = burrow_del(txn, g.b, k, strlen(k));
                if (rc == 0) next[i].version = 0;
            } else {
                uint32_t vlen = pick_vlen(&rng, g.ps);
                uint32_t ver = (uint32_t)(tu_rand(&rng) | 1);
                value_of(vbuf, i, ver, vlen);
                rc = burrow_put(txn, g.b, k, strlen(k), vbuf, vlen, 0);
                if (rc == 0) next[i] = (slot){ver, vlen};
            }
        }
        if (rc != 0) {
            record_failure("writer: txn %u op -> %d (%s) [%s]", t, rc, burrow_strerror(rc),
                           burrow_errmsg());
            burrow_txn_abort(txn);
            break;
        }
        if (tu_chance(&rng, 1, 15)) { /* an aborted txn: nothing published */
            burrow_txn_abort(txn);
            continue;
        }
        uint64_t count, hash;
        model_fingerprint(next, vbuf, &count, &hash);
        publish(burrow_txn_id(txn), count, hash);
        rc = burrow_txn_commit(txn);
        if (rc != 0) {
            record_failure("writer: commit %u -> %d (%s) [%s]", t, rc, burrow_strerror(rc),
                           burrow_errmsg());
            break;
        }
        memcpy(m, next, NKEYS * sizeof *m);
        atomic_fetch_add(&g.commits, 1);
        if (tu_chance(&rng, 1, 10)) sleep_us((long)tu_below(&rng, 2000));
    }
    free(next);
    free(vbuf);
    atomic_store(&g.stop, 1);
    return NULL;
}

/* One full scan of the snapshot: count, hash, and keys strictly ascending. */
static int scan(burrow_txn *txn, uint64_t *count, uint64_t *hash, int reader)
{
    burrow_cursor *c;
    burrow_val k, v;
    int rc = burrow_cursor_open(txn, g.b, &c);
    if (rc != 0) {
        record_failure("reader %d: cursor_open -> %d (%s)", reader, rc, burrow_strerror(rc));
        return -1;
    }
    uint64_t h = FNV_INIT, n = 0;
    char prev[64] = "";
    size_t prevlen = 0;
    for (rc = burrow_cursor_first(c, &k, &v); rc == 0; rc = burrow_cursor_next(c, &k, &v)) {
        if (k.size >= sizeof prev) {
            record_failure("reader %d: key of %zu bytes in the scan", reader, k.size);
            burrow_cursor_close(c);
            return -1;
        }
        if (n > 0) {
            size_t m = prevlen < k.size ? prevlen : k.size;
            int cmp = memcmp(prev, k.data, m);
            if (cmp > 0 || (cmp == 0 && prevlen >= k.size)) {
                record_failure("reader %d: keys out of order: '%.*s' after '%.*s'", reader,
                               (int)k.size, (const char *)k.data, (int)prevlen, prev);
                burrow_cursor_close(c);
                return -1;
            }
        }
        memcpy(prev, k.data, k.size);
        prevlen = k.size;
        h = fnv_item(h, k.data, k.size, v.data, v.size);
        n++;
    }
    burrow_cursor_close(c);
    if (rc != BURROW_ENOTFOUND) {
        record_failure("reader %d: scan ended with %d (%s) [%s]", reader, rc, burrow_strerror(rc),
                       burrow_errmsg());
        return -1;
    }
    *count = n;
    *hash = h;
    return 0;
}

struct reader_arg {
    int id;
    uint64_t seed;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    tu_rng rng;
    tu_rng_seed(&rng, a->seed);
    while (!atomic_load(&g.stop)) {
        burrow_txn *txn;
        int rc = burrow_txn_begin(g.db, NULL, BURROW_TXN_RDONLY, &txn);
        if (rc != 0) {
            record_failure("reader %d: begin -> %d (%s)", a->id, rc, burrow_strerror(rc));
            break;
        }
        uint64_t id = burrow_txn_id(txn);
        fingerprint want;
        if (!lookup(id, &want)) {
            record_failure("reader %d: snapshot id %" PRIu64 " was never committed", a->id, id);
            burrow_txn_abort(txn);
            break;
        }
        unsigned rescans = (unsigned)tu_range(&rng, 1, 12);
        for (unsigned s = 0; s <= rescans && !atomic_load(&g.failed); s++) {
            uint64_t count, hash;
            if (scan(txn, &count, &hash, a->id) != 0) break;
            if (count != want.count || hash != want.hash) {
                record_failure("reader %d: snapshot %" PRIu64 " scan %u: %" PRIu64
                               " keys hash %016" PRIx64 ", committed state had %" PRIu64
                               " keys hash %016" PRIx64 " (%" PRIu64 " commits so far)",
                               a->id, id, s, count, hash, want.count, want.hash,
                               (uint64_t)atomic_load(&g.commits));
                break;
            }
            /* Point reads inside the same snapshot agree with the scan. */
            char k[16];
            burrow_val v;
            key_of(k, (int)tu_below(&rng, NKEYS));
            rc = burrow_get(txn, g.b, k, strlen(k), &v);
            if (rc != 0 && rc != BURROW_ENOTFOUND) {
                record_failure("reader %d: get -> %d (%s)", a->id, rc, burrow_strerror(rc));
                break;
            }
            if (burrow_txn_id(txn) != id) {
                record_failure("reader %d: txn id moved from %" PRIu64 " to %" PRIu64, a->id, id,
                               burrow_txn_id(txn));
                break;
            }
            atomic_fetch_add(&g.rescans, 1);
            if (tu_chance(&rng, 1, 3)) sleep_us((long)tu_below(&rng, 3000));
        }
        burrow_txn_abort(txn);
        atomic_fetch_add(&g.snapshots, 1);
    }
    return NULL;
}

static void test_snapshots_stable(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    memset(&g, 0, sizeof g);
    pthread_mutex_init(&g.mu, NULL);
    static const uint32_t sizes[] = {256, 512, 1024};
    g.ps = sizes[tu_below(&rng, 3)];
    printf("page_size=%u\n", g.ps);

    char *path = tu_path(tmp_dir, "snap.db");
    burrow_options opt;
    burrow_options_init(&opt);
    opt.page_size = g.ps;
    opt.sync_mode = BURROW_SYNC_NONE;
    OK(burrow_open(path, &opt, &g.db));

    /* Initial contents: every second key. */
    slot *model = calloc(NKEYS, sizeof *model);
    uint8_t *vbuf = malloc(8 * g.ps + 16);
    burrow_txn *t;
    OK(burrow_txn_begin(g.db, NULL, 0, &t));
    OK(burrow_bucket_open(t, "c", BURROW_CREATE, &g.b));
    char k[16];
    for (int i = 0; i < NKEYS; i += 2) {
        uint32_t vlen = pick_vlen(&rng, g.ps);
        key_of(k, i);
        value_of(vbuf, i, 1, vlen);
        OK(burrow_put(t, g.b, k, strlen(k), vbuf, vlen, 0));
        model[i] = (slot){1, vlen};
    }
    uint64_t count, hash;
    model_fingerprint(model, vbuf, &count, &hash);
    publish(burrow_txn_id(t), count, hash);
    OK(burrow_txn_commit(t));

    struct writer_arg wa = {tu_mix(seed + 1), tu_long() ? 30000 : 2500, model};
    struct reader_arg ra[NREADERS];
    pthread_t wt, rt[NREADERS];
    for (int i = 0; i < NREADERS; i++) {
        ra[i] = (struct reader_arg){i, tu_mix(seed + 100 + (uint64_t)i)};
        assert_int_equal(pthread_create(&rt[i], NULL, reader_main, &ra[i]), 0);
    }
    assert_int_equal(pthread_create(&wt, NULL, writer_main, &wa), 0);
    pthread_join(wt, NULL);
    for (int i = 0; i < NREADERS; i++) pthread_join(rt[i], NULL);
    printf("commits=%llu snapshots=%llu rescans=%llu\n", (unsigned long long)atomic_load(&g.commits),
           (unsigned long long)atomic_load(&g.snapshots),
           (unsigned long long)atomic_load(&g.rescans));
    if (atomic_load(&g.failed)) fail_msg("seed=%llu: %s", (unsigned long long)seed, g.failure);
    assert_true(atomic_load(&g.snapshots) > 0);

    /* The final state, single-threaded. */
    burrow_db_stats st;
    OK(burrow_db_stat(g.db, &st));
    assert_int_equal(st.readers, 0);
    assert_int_equal(st.reader_pinned_pages, 0);
    OK(burrow_txn_begin(g.db, NULL, BURROW_TXN_RDONLY, &t));
    model_fingerprint(model, vbuf, &count, &hash);
    uint64_t c2, h2;
    if (scan(t, &c2, &h2, -1) != 0) fail_msg("final scan: %s", g.failure);
    burrow_txn_abort(t);
    if (c2 != count || h2 != hash)
        fail_msg("seed=%llu: final state %" PRIu64 " keys, model %" PRIu64,
                 (unsigned long long)seed, c2, count);
    OK(burrow_check(g.db));
    OK(burrow_close(g.db));
    free(model);
    free(vbuf);
    free(g.pub);
    free(path);
    pthread_mutex_destroy(&g.mu);
}

/* ---- a reader never waits for the writer --------------------------------- */

struct probe {
    burrow_db *db;
    burrow_bucket b;
    atomic_int done;
    int rc;
    char seen[32];
};

static void *probe_reader(void *p)
{
    struct probe *pr = p;
    burrow_txn *t;
    pr->rc = burrow_txn_begin(pr->db, NULL, BURROW_TXN_RDONLY, &t);
    if (pr->rc == 0) {
        burrow_val v;
        pr->rc = burrow_get(t, pr->b, "k", 1, &v);
        if (pr->rc == 0) snprintf(pr->seen, sizeof pr->seen, "%.*s", (int)v.size, (const char *)v.data);
        burrow_txn_abort(t);
    }
    atomic_store(&pr->done, 1);
    return NULL;
}

static int wait_flag(atomic_int *flag, long timeout_ms)
{
    for (long waited = 0; waited < timeout_ms; waited += 5) {
        if (atomic_load(flag)) return 1;
        sleep_us(5000);
    }
    return atomic_load(flag);
}

static void test_reader_never_blocks(void **state)
{
    (void)state;
    char *path = tu_path(tmp_dir, "noblock.db");
    burrow_options opt;
    burrow_options_init(&opt);
    opt.sync_mode = BURROW_SYNC_NONE;
    burrow_db *db;
    OK(burrow_open(path, &opt, &db));
    burrow_txn *w;
    burrow_bucket b;
    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_bucket_open(w, "b", BURROW_CREATE, &b));
    OK(burrow_put(w, b, "k", 1, "old", 3, 0));
    OK(burrow_txn_commit(w));

    for (int round = 0; round < 20; round++) {
        OK(burrow_txn_begin(db, NULL, 0, &w));
        OK(burrow_put(w, b, "k", 1, "new", 3, 0));
        for (int i = 0; i < 200; i++) { /* a write txn with lots of dirty pages */
            char k[48];
            snprintf(k, sizeof k, "x%04d-%d", i, round);
            OK(burrow_put(w, b, k, strlen(k), k, strlen(k), 0));
        }
        struct probe pr = {.db = db, .b = b};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, probe_reader, &pr), 0);
        if (!wait_flag(&pr.done, 10000))
            fail_msg("round %d: a read txn begun during a write txn did not finish in 10 s", round);
        pthread_join(th, NULL);
        OK(pr.rc);
        assert_string_equal(pr.seen, round == 0 ? "old" : "new");

        /* On the writer's own thread too. */
        burrow_txn *r;
        burrow_val v;
        OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r));
        OK(burrow_get(r, b, "k", 1, &v));
        assert_int_equal(v.size, 3);
        assert_memory_equal(v.data, round == 0 ? "old" : "new", 3);
        burrow_txn_abort(r);
        OK(burrow_txn_commit(w));
    }
    OK(burrow_check(db));
    OK(burrow_close(db));
    free(path);
}

/* ---- one writer at a time -------------------------------------------------- */

struct second_writer {
    burrow_db *db;
    burrow_bucket b;
    atomic_int begun, done;
    int rc;
    char seen[32];
};

static void *second_writer_main(void *p)
{
    struct second_writer *s = p;
    burrow_txn *t;
    s->rc = burrow_txn_begin(s->db, NULL, 0, &t);
    atomic_store(&s->begun, 1);
    if (s->rc == 0) {
        burrow_val v;
        s->rc = burrow_get(t, s->b, "k", 1, &v);
        if (s->rc == 0) snprintf(s->seen, sizeof s->seen, "%.*s", (int)v.size, (const char *)v.data);
        if (s->rc == 0) s->rc = burrow_put(t, s->b, "k", 1, "second", 6, 0);
        if (s->rc == 0) s->rc = burrow_txn_commit(t);
        else burrow_txn_abort(t);
    }
    atomic_store(&s->done, 1);
    return NULL;
}

static void test_second_writer_waits(void **state)
{
    (void)state;
    char *path = tu_path(tmp_dir, "writers.db");
    burrow_options opt;
    burrow_options_init(&opt);
    opt.sync_mode = BURROW_SYNC_NONE;
    burrow_db *db;
    OK(burrow_open(path, &opt, &db));
    burrow_txn *w;
    burrow_bucket b;
    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_bucket_open(w, "b", BURROW_CREATE, &b));
    OK(burrow_put(w, b, "k", 1, "zero", 4, 0));
    OK(burrow_txn_commit(w));

    OK(burrow_txn_begin(db, NULL, 0, &w));
    OK(burrow_put(w, b, "k", 1, "first", 5, 0));
    struct second_writer s = {.db = db, .b = b};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, second_writer_main, &s), 0);
    sleep_us(300000);
    if (atomic_load(&s.begun)) {
        burrow_txn_abort(w);
        pthread_join(th, NULL);
        fail_msg("a second write txn began while the first was live (rc %d)", s.rc);
    }
    OK(burrow_txn_commit(w));
    if (!wait_flag(&s.done, 10000)) fail_msg("the second writer never got its txn");
    pthread_join(th, NULL);
    OK(s.rc);
    assert_string_equal(s.seen, "first");

    burrow_txn *r;
    burrow_val v;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &r));
    OK(burrow_get(r, b, "k", 1, &v));
    assert_int_equal(v.size, 6);
    assert_memory_equal(v.data, "second", 6);
    burrow_txn_abort(r);
    OK(burrow_close(db));
    free(path);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_snapshots_stable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reader_never_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_second_writer_waits, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
