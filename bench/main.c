/*
 * main.c — burrow-bench: the same workloads against BurrowDB and its peers.
 *
 * The parent process forks one child per engine (so a crash or hang of one
 * engine costs only its own column, and no engine inherits another's page
 * cache tricks or heap). A child runs every workload in the order below on
 * its own subdirectory and reports results to the parent over a pipe, one
 * line each:
 *
 *     V <version text>          the library's version
 *     R <metric> <value>        one run of a metric (several for medians)
 *     N <text>                  a note (engine's own view of its files, ...)
 *     E <metric> <text>         a failure; the child stops after it
 *
 * The parent then prints markdown: a summary table, then one table per
 * workload with each engine's result and the ratio BurrowDB / LMDB. The
 * summary's budget column checks DESIGN.md's budgets; those relative to a
 * peer other than LMDB (LevelDB) show the ratio BurrowDB / that peer there.
 *
 * Keys are 16 bytes: big-endian mix(i) then big-endian i, for i in [0, n)
 * (mix is a bijective 64-bit hash seeded by --seed), so index order is a
 * random key order and "random fill" inserts i = 0, 1, 2, ...; sequential
 * fill inserts the same keys sorted. Values are pseudo-random bytes derived
 * from (i, version), so no engine can compress them; every read checks the
 * value's length and first 8 bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* ---- errors ----------------------------------------------------------- */

static __thread char err_buf[1024];

void bench_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
}

const char *bench_error(void) {
    return err_buf;
}

bench_config bench_cfg;

/* ---- settings --------------------------------------------------------- */

#define KEY_LEN 16
#define VAL_LEN 100
#define BIG_VAL_LEN 4096

static struct {
    uint64_t n;       /* keys in the main database */
    uint64_t n4k;     /* keys of the 4 KiB-value fill */
    uint64_t reads;   /* point reads per thread per run */
    uint64_t commits; /* single-put durable commits per run */
    uint64_t batch;   /* puts (or reads) per transaction */
    int runs;         /* runs of the cheap workloads; the median is reported */
    uint64_t seed;
    const char *dir;
    const char *engines;
    const char *out;
    int timeout; /* seconds per engine */
    int keep;
} cfg = {
    .n = 1000000,
    .batch = 1000,
    .commits = 2000,
    .runs = 3,
    .seed = 20240601,
    .dir = "/tmp/burrow-bench",
    .engines = "burrow,lmdb,sqlite,rocksdb,leveldb",
    .timeout = 1800,
};

static const bench_engine *const all_engines[] = {
#ifndef BENCH_NO_BURROW
    &bench_burrow,
#endif
    &bench_lmdb,
    &bench_sqlite,
    &bench_rocksdb,
    &bench_leveldb,
};
#define N_ENGINES (sizeof all_engines / sizeof all_engines[0])

/* ---- metrics ---------------------------------------------------------- */

enum unit { U_OPS, U_BYTES, U_MS };
enum better { HIGHER, LOWER };

/* A DESIGN.md budget: with a peer, a ratio BurrowDB / peer that must be at
 * least value (all such metrics are HIGHER); without, an absolute bound
 * (sizes: at most value × raw; times: below value ms). */
typedef struct budget {
    const char *text; /* as shown in the report, or NULL when there is none */
    double value;
    const char *peer; /* engine id ("lmdb", "leveldb"), or NULL */
} budget;

#define NO_BUDGET {{NULL, 0, NULL}, {NULL, 0, NULL}}
#define BUDGET(text, value, peer) {{text, value, peer}, {NULL, 0, NULL}}

typedef struct metric {
    const char *id;
    const char *title;
    enum unit unit;
    const char *unit_name; /* ops/s, keys/s, ... */
    enum better better;
    int median;            /* measured cfg.runs times */
    int raw_kind;          /* sizes: 1 = n x (16+100), 2 = n4k x (16+4096) */
    budget budgets[2];     /* DESIGN.md goals (a second one: its "then ...") */
    const char *method;
} metric;

enum {
    M_SEQ_FILL,
    M_RND_FILL,
    M_READ_1T,
    M_READ_2T,
    M_SCAN,
    M_COMMIT,
    M_OVERWRITE,
    M_DELETE,
    M_SIZE_RND,
    M_SIZE_SEQ,
    M_SIZE_DEL,
    M_OPEN_WARM,
    M_OPEN_COLD,
    M_FILL_4K,
    M_SIZE_4K,
    N_METRICS
};

static const metric metrics[N_METRICS] = {
    [M_SEQ_FILL] = {"seq_fill", "Sequential fill", U_OPS, "puts/s", HIGHER, 0, 0, NO_BUDGET,
                    "n keys in ascending key order into an empty database, 1,000 puts per "
                    "durable transaction. One run."},
    [M_RND_FILL] = {"rnd_fill", "Random fill", U_OPS, "puts/s", HIGHER, 0, 0,
                    {{"≥ 1.0× LMDB now", 1.0, "lmdb"}, {"then ≥ 1.0× LevelDB", 1.0, "leveldb"}},
                    "The same n keys in random order (index order; see the seed) into an empty "
                    "database, 1,000 puts per durable transaction. One run. This database is "
                    "the one the reads, scan, open, commit, overwrite and delete workloads use."},
    [M_READ_1T] = {"read_1t", "Random point reads, 1 thread", U_OPS, "reads/s", HIGHER, 1, 0,
                   BUDGET("≥ 1.0× LMDB", 1.0, "lmdb"),
                   "Gets of uniformly random existing keys; a read transaction (snapshot) per "
                   "1,000 gets; every value's length and first 8 bytes checked. Files warm in "
                   "the page cache."},
    [M_READ_2T] = {"read_2t", "Random point reads, 2 threads", U_OPS, "reads/s (total)", HIGHER,
                   1, 0, BUDGET("≥ 1.0× LMDB", 1.0, "lmdb"),
                   "As above, 2 threads at once, each with its own reader (SQLite: its own "
                   "connection) and its own read transaction per 1,000 gets; total reads of "
                   "both threads divided by the time until the last one finished."},
    [M_SCAN] = {"scan", "Full ordered scan (cursor)", U_OPS, "keys/s", HIGHER, 1, 0, NO_BUDGET,
                "One read transaction, a cursor from the first key to the last, touching every "
                "key and value; key order and count are checked."},
    [M_COMMIT] = {"commit", "Durable single-put commits", U_OPS, "commits/s", HIGHER, 1, 0,
                  BUDGET("≥ 1.0× LevelDB", 1.0, "leveldb"),
                  "A transaction of one put of a new random key, committed with full "
                  "durability, repeated (--commits, default 2,000) on the n-key database. "
                  "BurrowDB BURROW_SYNC_FULL; LMDB default (synced); SQLite WAL + "
                  "synchronous=FULL; RocksDB and LevelDB WriteOptions.sync = true."},
    [M_OVERWRITE] = {"overwrite", "Random overwrites", U_OPS, "puts/s", HIGHER, 0, 0,
                     NO_BUDGET,
                     "n/2 puts of new values to uniformly random existing keys, 1,000 per "
                     "durable transaction. One run."},
    [M_DELETE] = {"delete", "Random deletes", U_OPS, "deletes/s", HIGHER, 0, 0, NO_BUDGET,
                  "Then n/2 deletes of distinct existing keys in random order, 1,000 per "
                  "durable transaction. One run. Afterwards a scan checks the key count."},
    [M_SIZE_RND] = {"size_rnd", "File size after the random fill", U_BYTES, "bytes", LOWER, 0,
                    1, BUDGET("≤ 1.3× raw", 1.3, NULL),
                    "Sum of st_size of every file in the engine's directory after the random "
                    "fill and close (RocksDB: after a memtable flush and a full CompactRange, "
                    "then close; LevelDB: after a full CompactRange, which writes the memtable "
                    "out first, then close; SQLite: after close, which checkpoints and removes "
                    "the WAL). Raw = n × (16 + 100) bytes. Lower is better."},
    [M_SIZE_SEQ] = {"size_seq", "File size after the sequential fill", U_BYTES, "bytes", LOWER,
                    0, 1, NO_BUDGET, "As above, for the sequential fill. Lower is better."},
    [M_SIZE_DEL] = {"size_del", "File size after overwrites and deletes", U_BYTES, "bytes",
                    LOWER, 0, 1, NO_BUDGET,
                    "As above, after the commits, overwrites and deletes (n/2 + 3 × commits keys "
                    "left). Raw is still n × 116 bytes. Lower is better."},
    [M_OPEN_WARM] = {"open_warm", "Open + first get, warm", U_MS, "ms", LOWER, 1, 0,
                     BUDGET("< 5 ms", 5.0, NULL),
                     "Time from nothing to the first value: open the n-key database, open a "
                     "reader, begin a read transaction, get one key. Files in the page cache. "
                     "Lower is better."},
    [M_OPEN_COLD] = {"open_cold", "Open + first get, cold", U_MS, "ms", LOWER, 1, 0,
                     BUDGET("< 5 ms", 5.0, NULL),
                     "As above, after dropping the files from the page cache: every file in "
                     "the engine's directory is fdatasync'ed and given posix_fadvise("
                     "POSIX_FADV_DONTNEED) with the database closed (the note shows the "
                     "fraction of pages still resident, from mincore). Lower is better."},
    [M_FILL_4K] = {"fill_4k", "4 KiB-value random fill", U_OPS, "puts/s", HIGHER, 0, 0,
                   NO_BUDGET,
                   "n4k keys (default n/10) with 4,096-byte values, random order, 1,000 puts "
                   "per durable transaction, into an empty database. One run."},
    [M_SIZE_4K] = {"size_4k", "File size with 4 KiB values", U_BYTES, "bytes", LOWER, 0, 2,
                   BUDGET("≤ 1.15× raw", 1.15, NULL),
                   "Files after the 4 KiB-value fill, measured as for the random fill. Raw = "
                   "n4k × (16 + 4,096) bytes. Lower is better."},
};

/* Order of the sections in the report. */
static const int report_order[] = {
    M_SEQ_FILL, M_RND_FILL, M_READ_1T, M_READ_2T, M_SCAN,     M_COMMIT,  M_OVERWRITE, M_DELETE,
    M_SIZE_RND, M_SIZE_SEQ, M_SIZE_DEL, M_OPEN_WARM, M_OPEN_COLD, M_FILL_4K, M_SIZE_4K,
};

/* ---- keys, values, time ---------------------------------------------- */

static uint64_t mix64(uint64_t x) { /* splitmix64's finalizer: a bijection */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

static uint64_t key_salt;

static uint64_t key_prefix(uint64_t i) {
    return mix64(i ^ key_salt);
}

static void make_key(uint8_t *k, uint64_t i) {
    put_be64(k, key_prefix(i));
    put_be64(k + 8, i);
}

static uint64_t value_word(uint64_t i, uint64_t version, uint64_t w) {
    return mix64((i * 0x9e3779b97f4a7c15ULL) ^ (version << 56) ^ (w * 0xd1b54a32d192ed03ULL) ^
                 key_salt);
}

static void make_value(uint8_t *v, size_t len, uint64_t i, uint64_t version) {
    size_t w = 0;
    for (; (w + 1) * 8 <= len; w++) {
        uint64_t x = value_word(i, version, w);
        memcpy(v + w * 8, &x, 8);
    }
    if (w * 8 < len) {
        uint64_t x = value_word(i, version, w);
        memcpy(v + w * 8, &x, len - w * 8);
    }
}

static int value_ok(const void *v, size_t vlen, size_t want_len, uint64_t i, uint64_t version) {
    uint64_t x = value_word(i, version, 0);
    return vlen == want_len && memcmp(v, &x, 8) == 0;
}

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r) {
    r->s += 0x9e3779b97f4a7c15ULL;
    return mix64(r->s);
}

static uint64_t rng_below(rng *r, uint64_t n) {
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- files ------------------------------------------------------------ */

static uint64_t walk_size, walk_alloc, walk_resident, walk_pages;
static int walk_err;

static int size_cb(const char *path, const struct stat *st, int type, struct FTW *f) {
    (void)path, (void)f;
    if (type == FTW_F) {
        walk_size += (uint64_t)st->st_size;
        walk_alloc += (uint64_t)st->st_blocks * 512;
    }
    return 0;
}

static void dir_size(const char *dir, uint64_t *size, uint64_t *alloc) {
    walk_size = walk_alloc = 0;
    nftw(dir, size_cb, 16, FTW_PHYS);
    *size = walk_size;
    *alloc = walk_alloc;
}

static int rm_cb(const char *path, const struct stat *st, int type, struct FTW *f) {
    (void)st, (void)type, (void)f;
    if (remove(path) != 0 && errno != ENOENT) walk_err = errno;
    return 0;
}

static void rm_rf(const char *dir) {
    nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int walk_drop; /* drop_cb: 1 = sync and drop, 0 = only count */

/* Syncs each file and asks the kernel to drop its pages from the cache
 * (when walk_drop), then counts the pages still resident. */
static int drop_cb(const char *path, const struct stat *st, int type, struct FTW *f) {
    (void)f;
    if (type != FTW_F) return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        walk_err = errno;
        return 0;
    }
    if (walk_drop) {
        if (fdatasync(fd) != 0) walk_err = errno;
        int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        if (rc != 0) walk_err = rc;
    }
    /* Count what is still resident (mincore does not fault pages in). */
    long pg = sysconf(_SC_PAGESIZE);
    size_t len = (size_t)st->st_size;
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        if (m != MAP_FAILED) {
            size_t np = (len + (size_t)pg - 1) / (size_t)pg;
            unsigned char *vec = malloc(np);
            if (vec && mincore(m, len, vec) == 0) {
                for (size_t i = 0; i < np; i++) walk_resident += vec[i] & 1;
                walk_pages += np;
            }
            free(vec);
            munmap(m, len);
        }
    }
    close(fd);
    return 0;
}

static int drop_cache(const char *dir, double *resident) {
    walk_err = 0;
    walk_drop = 1;
    walk_resident = walk_pages = 0;
    nftw(dir, drop_cb, 16, FTW_PHYS);
    *resident = walk_pages ? (double)walk_resident / (double)walk_pages : 0;
    if (walk_err) {
        bench_fail("dropping %s from the page cache: %s", dir, strerror(walk_err));
        return -1;
    }
    return 0;
}

/* Bytes of the files in dir that are in the page cache. */
static uint64_t resident_bytes(const char *dir) {
    walk_err = 0;
    walk_drop = 0;
    walk_resident = walk_pages = 0;
    nftw(dir, drop_cb, 16, FTW_PHYS);
    return walk_resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

static int warm_cb(const char *path, const struct stat *st, int type, struct FTW *f) {
    (void)st, (void)f;
    if (type != FTW_F) return 0;
    static char buf[1 << 20];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return 0;
    while (read(fd, buf, sizeof buf) > 0) {
    }
    close(fd);
    return 0;
}

static void warm_cache(const char *dir) {
    nftw(dir, warm_cb, 16, FTW_PHYS);
}

/* ---- the child: workloads on one engine ------------------------------- */

static FILE *rep; /* the pipe to the parent */

static void report(int m, double v) {
    fprintf(rep, "R %s %.6f\n", metrics[m].id, v);
    fflush(rep);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    for (char *p = buf; *p; p++)
        if (*p == '\n') *p = ' ';
    fprintf(rep, "N %s\n", buf);
    fflush(rep);
}

static int failed(int m, const char *what) {
    char buf[2048];
    snprintf(buf, sizeof buf, "%s: %s", what, bench_error());
    for (char *p = buf; *p; p++)
        if (*p == '\n') *p = ' ';
    fprintf(rep, "E %s %s\n", metrics[m].id, buf);
    fflush(rep);
    fprintf(stderr, "  FAILED in %s: %s\n", metrics[m].id, buf);
    return -1;
}

static void progress(const bench_engine *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const bench_engine *e, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "[%s] ", e->id);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* Puts keys idx[0..count) (or 0..count when idx is NULL) in transactions of
 * cfg.batch. Returns seconds, or -1. */
static double fill(const bench_engine *e, bench_db *db, const uint64_t *idx, uint64_t first,
                   uint64_t count, size_t vlen, uint64_t version) {
    uint8_t k[KEY_LEN];
    uint8_t *v = malloc(vlen);
    if (!v) {
        bench_fail("out of memory");
        return -1;
    }
    double t0 = now();
    for (uint64_t b = 0; b < count; b += cfg.batch) {
        uint64_t end = b + cfg.batch < count ? b + cfg.batch : count;
        if (e->wbegin(db)) goto fail;
        for (uint64_t j = b; j < end; j++) {
            uint64_t i = idx ? idx[j] : first + j;
            make_key(k, i);
            make_value(v, vlen, i, version);
            if (e->put(db, k, KEY_LEN, v, vlen)) goto fail;
        }
        if (e->wcommit(db)) goto fail;
    }
    double t = now() - t0;
    free(v);
    return t;
fail:
    free(v);
    return -1;
}

typedef struct reader_job {
    const bench_engine *e;
    bench_db *db;
    uint64_t seed;
    pthread_barrier_t *barrier;
    double t_end;
    int failed;
    char err[1200]; /* a prefix + bench_error() */
} reader_job;

static void *reader_thread(void *arg) {
    reader_job *job = arg;
    const bench_engine *e = job->e;
    bench_reader *r = NULL;
    rng g = {job->seed};
    uint8_t k[KEY_LEN];
    int ok = e->reader_open(job->db, &r) == 0;
    if (!ok) snprintf(job->err, sizeof job->err, "reader_open: %s", bench_error());
    pthread_barrier_wait(job->barrier);
    for (uint64_t b = 0; ok && b < cfg.reads; b += cfg.batch) {
        uint64_t end = b + cfg.batch < cfg.reads ? b + cfg.batch : cfg.reads;
        if (e->rbegin(r)) {
            snprintf(job->err, sizeof job->err, "rbegin: %s", bench_error());
            ok = 0;
            break;
        }
        for (uint64_t j = b; j < end; j++) {
            uint64_t i = rng_below(&g, cfg.n);
            const void *v;
            size_t vl;
            make_key(k, i);
            int rc = e->get(r, k, KEY_LEN, &v, &vl);
            if (rc < 0) {
                snprintf(job->err, sizeof job->err, "get: %s", bench_error());
                ok = 0;
                break;
            }
            if (rc == 0 || !value_ok(v, vl, VAL_LEN, i, 0)) {
                snprintf(job->err, sizeof job->err,
                         "get of existing key #%" PRIu64 " returned %s", i,
                         rc == 0 ? "not found" : "a wrong value");
                ok = 0;
                break;
            }
        }
        if (e->rend(r) && ok) {
            snprintf(job->err, sizeof job->err, "rend: %s", bench_error());
            ok = 0;
        }
    }
    job->t_end = now();
    if (r) e->reader_close(r);
    job->failed = !ok;
    return NULL;
}

/* Random point reads with nthreads threads; returns total reads/s or -1. */
static double reads(const bench_engine *e, bench_db *db, int nthreads, uint64_t seed) {
    pthread_t th[8];
    reader_job job[8];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)nthreads + 1);
    for (int t = 0; t < nthreads; t++) {
        job[t] = (reader_job){.e = e, .db = db, .seed = seed + (uint64_t)t * 7919, .barrier = &bar};
        pthread_create(&th[t], NULL, reader_thread, &job[t]);
    }
    pthread_barrier_wait(&bar);
    double t0 = now(), t_end = t0;
    int bad = -1;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        if (job[t].t_end > t_end) t_end = job[t].t_end;
        if (job[t].failed && bad < 0) bad = t;
    }
    pthread_barrier_destroy(&bar);
    if (bad >= 0) {
        bench_fail("thread %d: %s", bad, job[bad].err);
        return -1;
    }
    return (double)(cfg.reads * (uint64_t)nthreads) / (t_end - t0);
}

typedef struct scan_state {
    uint64_t count;
    uint64_t bytes;
    uint8_t prev[KEY_LEN];
    int bad;
} scan_state;

static int scan_cb(void *ctx, const void *k, size_t kl, const void *v, size_t vl) {
    scan_state *s = ctx;
    if (kl != KEY_LEN || (s->count > 0 && memcmp(s->prev, k, KEY_LEN) >= 0)) {
        s->bad = 1;
        return 1;
    }
    memcpy(s->prev, k, KEY_LEN);
    s->bytes += ((const uint8_t *)v)[vl ? vl - 1 : 0] + kl + vl;
    s->count++;
    return 0;
}

/* One full scan; returns seconds (and the count) or -1. */
static double scan(const bench_engine *e, bench_db *db, uint64_t *count) {
    bench_reader *r;
    scan_state s = {0};
    if (e->reader_open(db, &r)) return -1;
    double t0 = now();
    if (e->rbegin(r)) {
        e->reader_close(r);
        return -1;
    }
    int rc = e->scan(r, scan_cb, &s);
    e->rend(r);
    double t = now() - t0;
    e->reader_close(r);
    if (rc < 0) return -1;
    if (s.bad) {
        bench_fail("scan: keys out of order or of the wrong length after %" PRIu64 " keys",
                   s.count);
        return -1;
    }
    *count = s.count;
    return t;
}

/* Open + reader + read txn + one get; returns milliseconds or -1. */
static double open_first_get(const bench_engine *e, const char *dir) {
    bench_db *db;
    bench_reader *r;
    uint8_t k[KEY_LEN];
    const void *v;
    size_t vl;
    uint64_t i = cfg.n / 3;
    make_key(k, i);
    double t0 = now();
    if (e->open(dir, &db)) return -1;
    if (e->reader_open(db, &r)) {
        e->close(db);
        return -1;
    }
    if (e->rbegin(r)) {
        e->reader_close(r);
        e->close(db);
        return -1;
    }
    int rc = e->get(r, k, KEY_LEN, &v, &vl);
    double t = now() - t0;
    if (rc == 0 || (rc == 1 && !value_ok(v, vl, VAL_LEN, i, 0))) {
        bench_fail("first get of existing key #%" PRIu64 " returned %s", i,
                   rc == 0 ? "not found" : "a wrong value");
        rc = -1;
    }
    e->rend(r);
    e->reader_close(r);
    if (e->close(db) && rc >= 0) return -1;
    return rc < 0 ? -1 : t * 1e3;
}

static int mkdir_p(const char *path) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        bench_fail("mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int cmp_pair(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* Closes db after the optional compaction, check and info; reports sizes. */
static int finish_db(const bench_engine *e, bench_db *db, const char *dir, int m,
                     const char *label) {
    char info[1024] = "";
    int rc = 0;
    if (e->compact && e->compact(db)) {
        failed(m, "compact");
        rc = -1;
    }
    if (e->check && e->check(db)) {
        note("%s: integrity check after %s FAILED: %s", e->name, label, bench_error());
        fprintf(stderr, "[%s] integrity check after %s FAILED: %s\n", e->id, label,
                bench_error());
    }
    if (e->info) e->info(db, info, sizeof info);
    if (e->close(db)) return failed(m, "close");
    if (rc) return rc;
    uint64_t size, alloc;
    dir_size(dir, &size, &alloc);
    report(m, (double)size);
    note("%s after %s: %" PRIu64 " bytes (%" PRIu64 " allocated on disk)%s%s", e->name, label,
         size, alloc, info[0] ? "; engine: " : "", info);
    return 0;
}

static int run_engine(const bench_engine *e, const char *base) {
    char dir[4400], d[4600];
    char ver[256] = "";
    e->version(ver, sizeof ver);
    fprintf(rep, "V %s\n", ver);
    fflush(rep);
    snprintf(dir, sizeof dir, "%s/%s", base, e->id);
    if (mkdir_p(dir)) return failed(M_SEQ_FILL, "setup");
    bench_db *db;
    double t;

    /* 1. Sequential fill. */
    {
        snprintf(d, sizeof d, "%s/seq", dir);
        uint64_t *pairs = malloc(cfg.n * 2 * sizeof *pairs);
        uint64_t *idx = malloc(cfg.n * sizeof *idx);
        if (!pairs || !idx) {
            bench_fail("out of memory");
            return failed(M_SEQ_FILL, "setup");
        }
        for (uint64_t i = 0; i < cfg.n; i++) {
            pairs[2 * i] = key_prefix(i);
            pairs[2 * i + 1] = i;
        }
        qsort(pairs, cfg.n, 2 * sizeof *pairs, cmp_pair);
        for (uint64_t i = 0; i < cfg.n; i++) idx[i] = pairs[2 * i + 1];
        free(pairs);
        progress(e, "sequential fill of %" PRIu64 " keys", cfg.n);
        if (mkdir_p(d) || e->open(d, &db)) return failed(M_SEQ_FILL, "open");
        t = fill(e, db, idx, 0, cfg.n, VAL_LEN, 0);
        free(idx);
        if (t < 0) return failed(M_SEQ_FILL, "fill");
        report(M_SEQ_FILL, (double)cfg.n / t);
        if (finish_db(e, db, d, M_SIZE_SEQ, "the sequential fill")) return -1;
        rm_rf(d);
    }

    /* 2. Random fill; 7. its size. */
    snprintf(d, sizeof d, "%s/rnd", dir);
    progress(e, "random fill of %" PRIu64 " keys", cfg.n);
    if (mkdir_p(d) || e->open(d, &db)) return failed(M_RND_FILL, "open");
    if ((t = fill(e, db, NULL, 0, cfg.n, VAL_LEN, 0)) < 0) return failed(M_RND_FILL, "fill");
    report(M_RND_FILL, (double)cfg.n / t);
    if (finish_db(e, db, d, M_SIZE_RND, "the random fill")) return -1;

    /* 8. Open + first get, warm then cold. */
    progress(e, "open + first get, warm and cold");
    for (int r = 0; r < cfg.runs; r++) {
        if ((t = open_first_get(e, d)) < 0) return failed(M_OPEN_WARM, "open + get");
        report(M_OPEN_WARM, t);
    }
    for (int r = 0; r < cfg.runs; r++) {
        double resident;
        if (drop_cache(d, &resident)) return failed(M_OPEN_COLD, "drop cache");
        if (r == 0)
            note("%s: %.2f%% of the files' pages still resident after POSIX_FADV_DONTNEED",
                 e->name, resident * 100);
        if ((t = open_first_get(e, d)) < 0) return failed(M_OPEN_COLD, "open + get");
        report(M_OPEN_COLD, t);
        if (r == 0)
            note("%s: the cold open + first get brought %" PRIu64
                 " KiB of its files into the page cache (reads plus the kernel's readahead)",
                 e->name, resident_bytes(d) / 1024);
    }
    warm_cache(d);

    /* 3. Random reads, 1 and 2 threads; 4. scan. */
    if (e->open(d, &db)) return failed(M_READ_1T, "open");
    progress(e, "random reads, 1 thread");
    for (int r = 0; r < cfg.runs; r++) {
        if ((t = reads(e, db, 1, cfg.seed + 100 + (uint64_t)r)) < 0)
            return failed(M_READ_1T, "reads");
        report(M_READ_1T, t);
    }
    progress(e, "random reads, 2 threads");
    for (int r = 0; r < cfg.runs; r++) {
        if ((t = reads(e, db, 2, cfg.seed + 200 + (uint64_t)r)) < 0)
            return failed(M_READ_2T, "reads");
        report(M_READ_2T, t);
    }
    progress(e, "full scan");
    for (int r = 0; r < cfg.runs; r++) {
        uint64_t count = 0;
        if ((t = scan(e, db, &count)) < 0) return failed(M_SCAN, "scan");
        if (count != cfg.n) {
            bench_fail("scan saw %" PRIu64 " keys, expected %" PRIu64, count, cfg.n);
            return failed(M_SCAN, "scan");
        }
        report(M_SCAN, (double)count / t);
    }

    /* 5. Durable single-put commits of new keys. */
    progress(e, "%" PRIu64 " durable single-put commits x %d", cfg.commits, cfg.runs);
    for (int r = 0; r < cfg.runs; r++) {
        uint64_t first = cfg.n + (uint64_t)r * cfg.commits;
        uint64_t saved = cfg.batch;
        cfg.batch = 1;
        t = fill(e, db, NULL, first, cfg.commits, VAL_LEN, 0);
        cfg.batch = saved;
        if (t < 0) return failed(M_COMMIT, "commit");
        report(M_COMMIT, (double)cfg.commits / t);
    }

    /* 6. Overwrites, then deletes. */
    uint64_t half = cfg.n / 2;
    {
        progress(e, "%" PRIu64 " random overwrites", half);
        uint64_t *idx = malloc((half ? half : 1) * sizeof *idx);
        if (!idx) {
            bench_fail("out of memory");
            return failed(M_OVERWRITE, "setup");
        }
        rng g = {cfg.seed + 300};
        for (uint64_t j = 0; j < half; j++) idx[j] = rng_below(&g, cfg.n);
        t = fill(e, db, idx, 0, half, VAL_LEN, 1);
        free(idx);
        if (t < 0) return failed(M_OVERWRITE, "overwrite");
        report(M_OVERWRITE, (double)half / t);
    }
    progress(e, "%" PRIu64 " deletes", half);
    {
        uint8_t k[KEY_LEN];
        double t0 = now();
        for (uint64_t b = 0; b < half; b += cfg.batch) {
            uint64_t end = b + cfg.batch < half ? b + cfg.batch : half;
            if (e->wbegin(db)) return failed(M_DELETE, "wbegin");
            for (uint64_t i = b; i < end; i++) {
                make_key(k, i);
                if (e->del(db, k, KEY_LEN)) return failed(M_DELETE, "delete of an existing key");
            }
            if (e->wcommit(db)) return failed(M_DELETE, "commit");
        }
        report(M_DELETE, (double)half / (now() - t0));
    }
    {
        uint64_t count = 0, want = cfg.n - half + (uint64_t)cfg.runs * cfg.commits;
        if (scan(e, db, &count) < 0) return failed(M_DELETE, "verification scan");
        if (count != want) {
            bench_fail("after overwrites and deletes a scan saw %" PRIu64
                       " keys, expected %" PRIu64,
                       count, want);
            return failed(M_DELETE, "verification");
        }
    }
    if (finish_db(e, db, d, M_SIZE_DEL, "the overwrites and deletes")) return -1;
    rm_rf(d);

    /* 9. 4 KiB values. */
    snprintf(d, sizeof d, "%s/big", dir);
    progress(e, "4 KiB-value fill of %" PRIu64 " keys", cfg.n4k);
    if (mkdir_p(d) || e->open(d, &db)) return failed(M_FILL_4K, "open");
    if ((t = fill(e, db, NULL, 0, cfg.n4k, BIG_VAL_LEN, 0)) < 0) return failed(M_FILL_4K, "fill");
    report(M_FILL_4K, (double)cfg.n4k / t);
    if (finish_db(e, db, d, M_SIZE_4K, "the 4 KiB-value fill")) return -1;
    rm_rf(d);
    rm_rf(dir);
    progress(e, "done");
    return 0;
}

/* ---- the parent: run children, collect, print ------------------------- */

#define MAX_RUNS 16

typedef struct engine_result {
    const bench_engine *e;
    int ran;
    char version[256];
    double v[N_METRICS][MAX_RUNS];
    int nv[N_METRICS];
    char *notes;        /* newline-separated */
    char error[2048];   /* first failure, or "" */
    int error_metric;   /* -1 when none */
} engine_result;

static int metric_by_id(const char *id) {
    for (int m = 0; m < N_METRICS; m++)
        if (strcmp(metrics[m].id, id) == 0) return m;
    return -1;
}

static void append_note(engine_result *res, const char *text) {
    size_t old = res->notes ? strlen(res->notes) : 0;
    char *p = realloc(res->notes, old + strlen(text) + 2);
    if (!p) return;
    memcpy(p + old, text, strlen(text));
    p[old + strlen(text)] = '\n';
    p[old + strlen(text) + 1] = 0;
    res->notes = p;
}

static void parse_line(engine_result *res, char *line) {
    if (line[0] == 0 || line[1] != ' ') return;
    char *rest = line + 2;
    if (line[0] == 'V') {
        snprintf(res->version, sizeof res->version, "%s", rest);
    } else if (line[0] == 'N') {
        append_note(res, rest);
    } else if (line[0] == 'R' || line[0] == 'E') {
        char *sp = strchr(rest, ' ');
        if (!sp) return;
        *sp = 0;
        int m = metric_by_id(rest);
        if (m < 0) return;
        if (line[0] == 'R') {
            if (res->nv[m] < MAX_RUNS) res->v[m][res->nv[m]++] = strtod(sp + 1, NULL);
        } else if (!res->error[0]) {
            snprintf(res->error, sizeof res->error, "%s", sp + 1);
            res->error_metric = m;
        }
    }
}

static void run_child(const bench_engine *e, const char *base, engine_result *res) {
    int fds[2];
    memset(res, 0, sizeof *res);
    res->e = e;
    res->error_metric = -1;
    if (pipe(fds) != 0) {
        snprintf(res->error, sizeof res->error, "pipe: %s", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(res->error, sizeof res->error, "fork: %s", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(fds[0]);
        rep = fdopen(fds[1], "w");
        int rc = run_engine(e, base);
        fclose(rep);
        _exit(rc == 0 ? 0 : 1);
    }
    close(fds[1]);
    res->ran = 1;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    double deadline = now() + cfg.timeout;
    int timed_out = 0;
    for (;;) {
        double left = deadline - now();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        int pr = poll(&p, 1, left > 60 ? 60000 : (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) continue;
        if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t got = read(fds[0], buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fds[0]);
    if (timed_out) kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    buf[len] = 0;
    for (char *line = buf, *nl; line && *line; line = nl) {
        nl = strchr(line, '\n');
        if (nl) *nl++ = 0;
        parse_line(res, line);
    }
    free(buf);
    if (!res->error[0]) {
        /* the first metric (in the order they run) without results is where
         * it stopped */
        static const int run_order[] = {
            M_SEQ_FILL, M_SIZE_SEQ, M_RND_FILL, M_SIZE_RND, M_OPEN_WARM,
            M_OPEN_COLD, M_READ_1T,  M_READ_2T,  M_SCAN,     M_COMMIT,
            M_OVERWRITE, M_DELETE,  M_SIZE_DEL, M_FILL_4K,  M_SIZE_4K,
        };
        int where = -1;
        for (size_t i = 0; i < sizeof run_order / sizeof run_order[0]; i++) {
            if (res->nv[run_order[i]] < (metrics[run_order[i]].median ? cfg.runs : 1)) {
                where = run_order[i];
                break;
            }
        }
        if (timed_out)
            snprintf(res->error, sizeof res->error, "killed after the %d s time limit",
                     cfg.timeout);
        else if (WIFSIGNALED(status))
            snprintf(res->error, sizeof res->error, "crashed: signal %d (%s)",
                     WTERMSIG(status), strsignal(WTERMSIG(status)));
        else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
            snprintf(res->error, sizeof res->error, "exited with status %d",
                     WEXITSTATUS(status));
        res->error_metric = where;
    }
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The reported value of a metric (median of its runs), or -1 when none. */
static double value_of(const engine_result *res, int m) {
    if (!res || res->nv[m] == 0) return -1;
    double tmp[MAX_RUNS];
    int n = res->nv[m];
    memcpy(tmp, res->v[m], (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static double raw_bytes(int m) {
    if (metrics[m].raw_kind == 1) return (double)cfg.n * (KEY_LEN + VAL_LEN);
    if (metrics[m].raw_kind == 2) return (double)cfg.n4k * (KEY_LEN + BIG_VAL_LEN);
    return 0;
}

static void fmt_count(char *buf, size_t n, double v) {
    char digits[64];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t len = strlen(digits), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = 0;
}

static void fmt_value(char *buf, size_t n, int m, double v) {
    if (v < 0) {
        snprintf(buf, n, "—");
        return;
    }
    switch (metrics[m].unit) {
    case U_OPS:
        fmt_count(buf, n, v);
        break;
    case U_BYTES:
        snprintf(buf, n, "%.3f× raw", v / raw_bytes(m));
        break;
    case U_MS:
        snprintf(buf, n, v < 10 ? "%.2f ms" : "%.1f ms", v);
        break;
    }
}

/* BurrowDB / peer for metric m, or -1 (sizes compare as × raw: same raw). */
static double ratio(const engine_result *burrow, const engine_result *peer, int m) {
    double b = value_of(burrow, m), p = value_of(peer, m);
    if (b < 0 || p <= 0) return -1;
    return b / p;
}

static const engine_result *find_result(const engine_result *res, size_t nres,
                                        const char *id) {
    for (size_t i = 0; i < nres; i++)
        if (strcmp(res[i].e->id, id) == 0) return &res[i];
    return NULL;
}

/* The summary's budget cell of metric m: each budget's text and whether it
 * is met. A ratio to LMDB is in its own column; a ratio to another peer
 * (LevelDB) is shown in the cell. */
static void budget_cell(char *buf, size_t n, const engine_result *res, size_t nres, int m) {
    const metric *mt = &metrics[m];
    const engine_result *burrow = find_result(res, nres, "burrow");
    double b = value_of(burrow, m);
    size_t o = 0;
    buf[0] = 0;
    for (size_t k = 0; k < sizeof mt->budgets / sizeof mt->budgets[0]; k++) {
        const budget *bg = &mt->budgets[k];
        if (!bg->text || o + 1 >= n) continue;
        const char *met = "";
        char shown[64] = "";
        if (bg->peer) {
            const engine_result *peer = find_result(res, nres, bg->peer);
            double r = ratio(burrow, peer, m);
            if (r >= 0) {
                met = r >= bg->value ? " — met" : " — **not met**";
                if (strcmp(bg->peer, "lmdb") != 0) snprintf(shown, sizeof shown, ": %.2f×", r);
            } else if (b >= 0) {
                const char *name = bg->peer;
                for (size_t i = 0; i < N_ENGINES; i++)
                    if (strcmp(all_engines[i]->id, bg->peer) == 0) name = all_engines[i]->name;
                snprintf(shown, sizeof shown, " (no %s result in this run)", name);
            }
        } else if (b >= 0 && mt->unit == U_BYTES) {
            met = b / raw_bytes(m) <= bg->value ? " — met" : " — **not met**";
        } else if (b >= 0 && mt->unit == U_MS) {
            met = b < bg->value ? " — met" : " — **not met**";
        }
        o += (size_t)snprintf(buf + o, n - o, "%s%s%s%s", o ? "; " : "", bg->text, shown, met);
    }
}

static void print_report(FILE *o, engine_result *res, size_t nres) {
    const engine_result *burrow = find_result(res, nres, "burrow");
    const engine_result *lmdb = find_result(res, nres, "lmdb");
    size_t norder = sizeof report_order / sizeof report_order[0];
    char b1[128], cell[512];

    fprintf(o, "## Summary\n\n");
    fprintf(o, "n = %" PRIu64 " keys (16-byte keys, 100-byte values), 4 KiB fill n4k = %" PRIu64
               ", seed %" PRIu64 ". Medians of %d runs where marked (m).\n\n",
            cfg.n, cfg.n4k, cfg.seed, cfg.runs);
    fprintf(o, "Budgets relative to LevelDB show the ratio BurrowDB / LevelDB in the budget "
               "column; those relative to LMDB use the BurrowDB / LMDB column.\n\n");
    fprintf(o, "| Workload | Unit |");
    for (size_t i = 0; i < nres; i++) fprintf(o, " %s |", res[i].e->name);
    fprintf(o, " BurrowDB / LMDB | Better | Budget (DESIGN.md) |\n|---|---|");
    for (size_t i = 0; i < nres; i++) fprintf(o, "---:|");
    fprintf(o, "---:|---|---|\n");
    for (size_t j = 0; j < norder; j++) {
        int m = report_order[j];
        const metric *mt = &metrics[m];
        fprintf(o, "| %s%s | %s |", mt->title, mt->median ? " (m)" : "",
                mt->unit == U_BYTES ? "× raw" : mt->unit_name);
        for (size_t i = 0; i < nres; i++) {
            double v = value_of(&res[i], m);
            if (v < 0) {
                fprintf(o, " %s |", !res[i].ran                ? "not built"
                                    : res[i].error_metric == m ? "**failed**"
                                    : res[i].error[0]          ? "not run"
                                                               : "—");
                continue;
            }
            if (mt->unit == U_BYTES)
                snprintf(b1, sizeof b1, "%.3f×", v / raw_bytes(m));
            else
                fmt_value(b1, sizeof b1, m, v);
            fprintf(o, " %s |", b1);
        }
        double r = ratio(burrow, lmdb, m);
        if (r < 0)
            fprintf(o, " — |");
        else
            fprintf(o, " %.2f× |", r);
        budget_cell(cell, sizeof cell, res, nres, m);
        fprintf(o, " %s | %s |\n", mt->better == HIGHER ? "higher" : "lower", cell);
    }
    fprintf(o, "\n");

    for (size_t i = 0; i < nres; i++) {
        if (!res[i].error[0] && res[i].ran) continue;
        fprintf(o, "**%s did not complete**", res[i].e->name);
        if (!res[i].ran) {
            fprintf(o, ": %s\n\n", res[i].error[0] ? res[i].error : "not run");
            continue;
        }
        if (res[i].error_metric >= 0)
            fprintf(o, ": it stopped in `%s` (%s)", metrics[res[i].error_metric].id,
                    metrics[res[i].error_metric].title);
        fprintf(o, "; the workloads after it were not run. The error:\n\n```\n%s\n```\n\n",
                res[i].error);
    }

    fprintf(o, "## Workloads\n\n");
    for (size_t j = 0; j < norder; j++) {
        int m = report_order[j];
        const metric *mt = &metrics[m];
        fprintf(o, "### %s\n\n%s\n\n", mt->title, mt->method);
        fprintf(o, "| Engine | %s | %s%s |\n|---|---:|---:%s|\n",
                mt->unit == U_BYTES ? "bytes" : mt->unit_name,
                mt->unit == U_BYTES ? "× raw" : mt->median ? "runs" : "vs LMDB",
                mt->unit == U_BYTES || mt->median ? " | vs LMDB" : "",
                mt->unit == U_BYTES || mt->median ? "|---:" : "");
        for (size_t i = 0; i < nres; i++) {
            double v = value_of(&res[i], m);
            double l = value_of(lmdb, m);
            char val[128], second[512] = "", vs[64] = "—";
            if (v < 0) {
                snprintf(val, sizeof val, "%s", !res[i].ran ? "not built" : "not measured");
            } else if (mt->unit == U_BYTES) {
                fmt_count(val, sizeof val, v);
                snprintf(second, sizeof second, "%.3f×", v / raw_bytes(m));
            } else {
                fmt_value(val, sizeof val, m, v);
                if (mt->median) {
                    size_t o2 = 0;
                    for (int r = 0; r < res[i].nv[m] && o2 + 40 < sizeof second; r++) {
                        char one[64];
                        fmt_value(one, sizeof one, m, res[i].v[m][r]);
                        o2 += (size_t)snprintf(second + o2, sizeof second - o2, "%s%s",
                                               r ? ", " : "", one);
                    }
                }
            }
            if (v >= 0 && l > 0) snprintf(vs, sizeof vs, "%.2f×", v / l);
            if (mt->unit == U_BYTES || mt->median)
                fprintf(o, "| %s | %s | %s | %s |\n", res[i].e->name, val, second, vs);
            else
                fprintf(o, "| %s | %s | %s |\n", res[i].e->name, val, vs);
        }
        fprintf(o, "\n");
    }

    fprintf(o, "## Engines and notes\n\n");
    for (size_t i = 0; i < nres; i++) {
        fprintf(o, "- **%s** (%s)%s\n", res[i].e->name,
                res[i].version[0] ? res[i].version : "version unknown",
                res[i].ran ? "" : ": not built into this binary");
        if (res[i].notes) {
            char *s = strdup(res[i].notes);
            for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n"))
                fprintf(o, "  - %s\n", line);
            free(s);
        }
    }
    fprintf(o, "\n");
}

/* ---- command line ----------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: burrow-bench [options]\n"
            "  --n N          keys in the main database (default 1000000)\n"
            "  --n4k N        keys of the 4 KiB-value fill (default n/10)\n"
            "  --reads N      point reads per thread per run (default n)\n"
            "  --commits N    durable single-put commits per run (default 2000)\n"
            "  --batch N      puts/reads per transaction (default 1000)\n"
            "  --runs N       runs of the cheap workloads, median reported (default 3)\n"
            "  --seed N       key order seed (default 20240601)\n"
            "  --dir DIR      data directory (default /tmp/burrow-bench); a run-<pid>\n"
            "                 subdirectory is made in it and removed at the end\n"
            "  --engines LIST comma-separated, of:");
    for (size_t i = 0; i < N_ENGINES; i++) fprintf(f, " %s", all_engines[i]->id);
    fprintf(f,
            "\n"
            "  --out FILE     write the markdown report to FILE (default stdout)\n"
            "  --timeout S    seconds allowed per engine (default 1800)\n"
            "  --keep         keep the data directory\n");
}

static uint64_t parse_u64(const char *opt, const char *s) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "burrow-bench: bad number for %s: '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    uint64_t n4k = 0, reads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--keep") == 0) {
            cfg.keep = 1;
            continue;
        }
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--n") == 0) cfg.n = parse_u64(a, v);
        else if (strcmp(a, "--n4k") == 0) n4k = parse_u64(a, v);
        else if (strcmp(a, "--reads") == 0) reads = parse_u64(a, v);
        else if (strcmp(a, "--commits") == 0) cfg.commits = parse_u64(a, v);
        else if (strcmp(a, "--batch") == 0) cfg.batch = parse_u64(a, v);
        else if (strcmp(a, "--runs") == 0) cfg.runs = (int)parse_u64(a, v);
        else if (strcmp(a, "--seed") == 0) cfg.seed = parse_u64(a, v);
        else if (strcmp(a, "--dir") == 0) cfg.dir = v;
        else if (strcmp(a, "--engines") == 0) cfg.engines = v;
        else if (strcmp(a, "--out") == 0) cfg.out = v;
        else if (strcmp(a, "--timeout") == 0) cfg.timeout = (int)parse_u64(a, v);
        else {
            usage(stderr);
            return 2;
        }
    }
    if (cfg.n < 10 || cfg.batch < 1 || cfg.runs < 1 || cfg.runs > MAX_RUNS) {
        fprintf(stderr, "burrow-bench: need --n >= 10, --batch >= 1, 1 <= --runs <= %d\n",
                MAX_RUNS);
        return 2;
    }
    cfg.n4k = n4k ? n4k : cfg.n / 10;
    cfg.reads = reads ? reads : cfg.n;
    key_salt = mix64(cfg.seed);
    uint64_t map = 8ULL << 30, need = 4 * (cfg.n * 200 + cfg.n4k * 4200);
    bench_cfg.lmdb_map_size = need > map ? need : map;

    /* Engines: those asked for, in the order of all_engines; asked-for
     * engines not built in are reported as such. */
    engine_result res[8];
    size_t nres = 0;
    static const bench_engine burrow_missing = {.id = "burrow", .name = "BurrowDB"};
    int want_burrow_missing = 1;
    for (size_t i = 0; i < N_ENGINES; i++)
        if (strcmp(all_engines[i]->id, "burrow") == 0) want_burrow_missing = 0;
    char *list = strdup(cfg.engines);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        int found = 0;
        for (size_t i = 0; i < N_ENGINES; i++)
            if (strcmp(all_engines[i]->id, tok) == 0) found = 1;
        if (!found && !(want_burrow_missing && strcmp(tok, "burrow") == 0)) {
            fprintf(stderr, "burrow-bench: unknown engine '%s'\n", tok);
            return 2;
        }
    }
    /* Order: burrow, lmdb, sqlite, rocksdb, leveldb, as far as asked for. */
    const char *order[] = {"burrow", "lmdb", "sqlite", "rocksdb", "leveldb"};
    for (size_t o = 0; o < sizeof order / sizeof order[0]; o++) {
        int asked = 0;
        free(list);
        list = strdup(cfg.engines);
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","))
            if (strcmp(tok, order[o]) == 0) asked = 1;
        if (!asked) continue;
        memset(&res[nres], 0, sizeof res[nres]);
        res[nres].e = &burrow_missing;
        res[nres].error_metric = -1;
        for (size_t i = 0; i < N_ENGINES; i++)
            if (strcmp(all_engines[i]->id, order[o]) == 0) res[nres].e = all_engines[i];
        nres++;
    }
    free(list);

    char base[4096];
    if (mkdir(cfg.dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "burrow-bench: mkdir %s: %s\n", cfg.dir, strerror(errno));
        return 1;
    }
    snprintf(base, sizeof base, "%s/run-%d", cfg.dir, (int)getpid());
    if (mkdir(base, 0755) != 0) {
        fprintf(stderr, "burrow-bench: mkdir %s: %s\n", base, strerror(errno));
        return 1;
    }
    fprintf(stderr,
            "burrow-bench: n=%" PRIu64 " n4k=%" PRIu64 " reads=%" PRIu64 " commits=%" PRIu64
            " batch=%" PRIu64 " runs=%d seed=%" PRIu64 " dir=%s\n",
            cfg.n, cfg.n4k, cfg.reads, cfg.commits, cfg.batch, cfg.runs, cfg.seed, base);

    for (size_t i = 0; i < nres; i++) {
        if (res[i].e == &burrow_missing) {
            snprintf(res[i].error, sizeof res[i].error,
                     "not built into this binary (bench/Makefile BURROW=0: libburrow.a was "
                     "missing or incomplete)");
            continue;
        }
        double t0 = now();
        run_child(res[i].e, base, &res[i]);
        fprintf(stderr, "[%s] %s after %.1f s\n", res[i].e->id,
                res[i].error[0] ? res[i].error : "finished", now() - t0);
    }

    FILE *o = stdout;
    if (cfg.out && !(o = fopen(cfg.out, "w"))) {
        fprintf(stderr, "burrow-bench: %s: %s\n", cfg.out, strerror(errno));
        o = stdout;
    }
    print_report(o, res, nres);
    if (o != stdout) fclose(o);

    if (!cfg.keep) {
        rm_rf(base);
        rmdir(cfg.dir); /* only when empty */
    }
    int bad = 0;
    for (size_t i = 0; i < nres; i++)
        if (res[i].error[0]) bad = 1;
    return bad ? 3 : 0;
}
