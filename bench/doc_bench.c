/*
 * doc_bench.c — doc-bench: BurrowDB's document API against SQLite's JSON
 * support, on the same machine, in the same run, with the same documents.
 *
 * DESIGN.md's budget: "indexed document inserts, batched >= 300 K/s". The
 * workloads (the issue's): insert n ~200-byte documents in batches of 1,000
 * with 0, 1 and 2 indexed fields; point gets by id; an indexed equality and
 * an indexed range query; a full scan with a filter on fields no index
 * covers; the file sizes.
 *
 * The documents come from a fixed seed (auction bids, ~200 bytes of JSON
 * with their id): a user string of 10^5 distinct values, an int amount in
 * [0, 10^6), a double price in [0, 1000) with cents, an item object, a tags
 * array, a live bool and an int. Each is generated once, as JSON text
 * without an "_id".
 *
 * Ids. BurrowDB generates them (burrow_doc_insert of a document without
 * "_id": 26 characters, time ordered, stored first in the document), as a
 * user who lets it name documents would. SQLite then gets the very same
 * documents: each one's text with {"_id":"<the id BurrowDB gave it>", in
 * front, and the same id as the key. So both engines hold identical (id,
 * document) pairs, and both insert in id order. The SQLite texts are built
 * before its timed part. (With --engines sqlite alone, the ids are made
 * here, in the same format and order.)
 *
 * Durability: every batch of --batch documents is one write transaction,
 * committed durably: BurrowDB BURROW_SYNC_FULL; SQLite journal_mode=WAL and
 * synchronous=FULL (as bench/eng_sqlite.c), everything else SQLite's
 * defaults (4 KiB pages, a 2 MB page cache, no mmap; --sqlite-mmap is a
 * what-if that gives it PRAGMA mmap_size, and the report says so).
 *
 * SQLite's schema: docs(id TEXT PRIMARY KEY, doc TEXT NOT NULL CHECK
 * (json_valid(doc))) WITHOUT ROWID (a B-tree clustered by id, the shape of
 * BurrowDB's collection; the CHECK makes SQLite validate each document, as
 * BurrowDB does when it parses it; SQLite 3.40 has no jsonb). Indexes are
 * expression indexes on json_extract(doc, '$.user') and '$.amount';
 * queries use json_extract in WHERE, so the planner can use them (checked
 * with EXPLAIN QUERY PLAN; BurrowDB's plans with burrow_explain).
 *
 * Indexes exist before the first insert, so every insert maintains them.
 * Each configuration (0, 1, 2 indexes) fills a new database per engine;
 * the 2-index databases are then reopened and queried.
 *
 * Reads, one thread, the files warm in the page cache:
 *   get    burrow_doc_get (JSON out) / SELECT doc WHERE id = ?, ids chosen
 *          uniformly at random; 1,000 per read transaction
 *   eq     {"user": "user_NNNNN"} / json_extract(doc,'$.user') = ?
 *          (~n/10^5 results); 100 queries per read transaction
 *   range  {"amount": {"$gte": a, "$lte": b}} / json_extract(doc,
 *          '$.amount') BETWEEN a AND b, b - a + 1 = 10^8 / n (~100
 *          results); 100 queries per read transaction
 *   scan   burrow_doc_count({"price": {"$gt": 900}, "live": true}) /
 *          SELECT count(*) ... json_extract(doc,'$.price') > 900 AND
 *          json_type(doc,'$.live') = 'true' (~5% match); one per txn
 * Results are read as JSON text (BurrowDB burrow_results_next with
 * BURROW_OUT_JSON; SQLite sqlite3_column_text of doc). BurrowDB has no
 * bound parameters, so each query formats and compiles its filter (timed);
 * SQLite's statements are prepared once and bound per query.
 *
 * Each read measurement runs chunks until --min-time has passed; the
 * median of --runs is reported. The engines and workloads take turns run by
 * run, so a burst of other work on the machine hits both alike; the ratio
 * within each turn is reported too. Inserts change the database and run
 * once per configuration.
 *
 * Checks (untimed, before the timed reads): the counts of every query of
 * the query lists from both engines against the generator's own count, and
 * an order-independent hash of the result documents (SQLite's text
 * normalized by BurrowDB's JSON codec) of both engines against each other;
 * 1,000 random gets compared the same way; the scan's count against the
 * generator's; burrow_check of the 2-index file; the plans. In the timed
 * runs every query's row count is compared with the expected count and
 * every result's "_id" with the id asked for (gets) or its presence (queries).
 *
 * Progress goes to stderr, each phase with its start and end in
 * CLOCK_MONOTONIC seconds (for `perf record -k CLOCK_MONOTONIC` and
 * `perf report --time`). BurrowDB and SQLite are linked into this program
 * only; it uses the public API of include/burrow.h alone.
 */
#include <burrow.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- settings --------------------------------------------------------- */

static struct {
    uint64_t n;      /* documents */
    unsigned batch;  /* documents per write transaction */
    int runs;        /* read measurements per workload and engine; median */
    double min_time; /* seconds per read measurement */
    uint64_t seed;
    unsigned nq; /* queries in each query list */
    const char *dir;
    const char *out;
    int keep;
    int burrow, sqlite; /* engines run */
    uint64_t sqlite_mmap; /* PRAGMA mmap_size; 0 (eng_sqlite.c's setting) unless asked */
} cfg = {
    .n = 1000000,
    .batch = 1000,
    .runs = 3,
    .min_time = 0.5,
    .seed = 20240601,
    .nq = 2000,
    .dir = "/tmp/burrow-bench",
    .burrow = 1,
    .sqlite = 1,
};

#define MAX_RUNS 99
#define ID_LEN 26          /* BurrowDB's generated ids */
#define USERS 100000       /* distinct user values */
#define AMOUNT_END 1000000 /* amounts are in [0, AMOUNT_END) */
#define SCAN_CENTS 90000   /* the scan's filter: price > 900.00 */
#define GET_CHUNK 1000     /* gets per read transaction */
#define QUERY_CHUNK 100    /* queries per read transaction */
#define VERIFY_GETS 1000
#define COLL "docs"
#define ID_PREFIX "{\"_id\":\"" /* every document's text starts with this, then the id */
#define ID_PREFIX_LEN 8

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "doc-bench: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    exit(1);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory (%zu bytes)", n);
    return p;
}

static void bw_must(int rc, const char *what) {
    if (rc) die("BurrowDB %s: %s (%d) %s", what, burrow_strerror(rc), rc, burrow_errmsg());
}

static void sq_must(sqlite3 *c, int rc, int want, const char *what) {
    if (rc != want)
        die("SQLite %s: %s (%s)", what, sqlite3_errstr(rc), c ? sqlite3_errmsg(c) : "");
}

/* Progress lines: "[start, end] what (CPU time)", the times in
 * CLOCK_MONOTONIC seconds; user + sys well below end - start means waiting
 * (for fdatasync, mostly). */
typedef struct phase_usage {
    double wall, user, sys; /* seconds */
    uint64_t wchar, syscw;  /* bytes passed to write calls, and those calls */
    uint64_t write_bytes;   /* bytes sent towards storage (/proc/self/io) */
} phase_usage;

static phase_usage phase_u0, phase_last;
static double phase_t0;

/* /proc/self/io; zeros when it cannot be read. */
static void io_counts(phase_usage *u) {
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    u->wchar = u->syscw = u->write_bytes = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        unsigned long long v;
        if (sscanf(line, "wchar: %llu", &v) == 1) u->wchar = v;
        else if (sscanf(line, "syscw: %llu", &v) == 1) u->syscw = v;
        else if (sscanf(line, "write_bytes: %llu", &v) == 1) u->write_bytes = v;
    }
    fclose(f);
}

static void cpu_times(double *user, double *sys) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void phase_begin(void) {
    cpu_times(&phase_u0.user, &phase_u0.sys);
    io_counts(&phase_u0);
    phase_t0 = now();
}

/* Logs the phase; its usage is left in phase_last. */
static void phase_end(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void phase_end(const char *fmt, ...) {
    double t1 = now();
    phase_usage u;
    cpu_times(&u.user, &u.sys);
    io_counts(&u);
    phase_last = (phase_usage){
        .wall = t1 - phase_t0,
        .user = u.user - phase_u0.user,
        .sys = u.sys - phase_u0.sys,
        .wchar = u.wchar - phase_u0.wchar,
        .syscw = u.syscw - phase_u0.syscw,
        .write_bytes = u.write_bytes - phase_u0.write_bytes,
    };
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "doc-bench: [%.3f, %.3f] ", phase_t0, t1);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (%.2f s: cpu %.2f user, %.2f sys", phase_last.wall, phase_last.user,
            phase_last.sys);
    if (phase_last.syscw)
        fprintf(stderr, "; %" PRIu64 " write calls, %.1f MB written",
                phase_last.syscw, (double)phase_last.wchar / 1e6);
    fprintf(stderr, ")\n");
}

/* splitmix64 */
static uint64_t rnd_r(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

/* A growable text buffer. */
typedef struct tbuf {
    char *data;
    size_t size, cap;
} tbuf;

static void tb_reserve(tbuf *b, size_t more) {
    if (b->size + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->size + more) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) die("out of memory");
    b->cap = cap;
}

static void tb_add(tbuf *b, const void *p, size_t n) {
    tb_reserve(b, n);
    memcpy(b->data + b->size, p, n);
    b->size += n;
}

static void tb_addf(tbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tb_addf(tbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) die("tb_addf: too long");
    tb_add(b, tmp, (size_t)n);
}

/* ---- the documents ------------------------------------------------------ */

/* Document i's text without "_id" is body.data[off[i], off[i+1]); its
 * fields are kept beside it for the generator's own counts. */
static struct {
    tbuf body;
    size_t *off;
    uint32_t *user, *amount, *cents;
    uint8_t *live;
    uint32_t *ucount;  /* documents per user value */
    uint32_t *asorted; /* amounts, sorted */
    uint64_t scan_match;
} C;

static const char *words[] = {"vintage", "brass",  "lamp",   "oak",    "chair", "silver", "ring",
                              "blue",    "glass",  "vase",   "wool",   "rug",   "leather", "bag",
                              "camera",  "clock",  "poster", "guitar", "teapot", "bike"};
static const char *conds[] = {"new", "like new", "used", "for parts"};
static const char *tagset[] = {"auction", "reserve", "buy-now", "vintage", "new",
                               "rare",    "local",   "gift",    "bundle",  "sale"};
#define PICK(s, arr) (arr[rnd_r(s) % (sizeof arr / sizeof arr[0])])

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static void gen_docs(void) {
    uint64_t s = cfg.seed;
    uint64_t n = cfg.n;
    C.off = xmalloc((n + 1) * sizeof *C.off);
    C.user = xmalloc(n * sizeof *C.user);
    C.amount = xmalloc(n * sizeof *C.amount);
    C.cents = xmalloc(n * sizeof *C.cents);
    C.live = xmalloc(n);
    C.ucount = calloc(USERS, sizeof *C.ucount);
    if (!C.ucount) die("out of memory");
    C.off[0] = 0;
    for (uint64_t i = 0; i < n; i++) {
        /* Each draw into its own variable: argument evaluation order is
         * unspecified, and the documents must not depend on the compiler. */
        uint32_t user = (uint32_t)(rnd_r(&s) % USERS);
        uint32_t amount = (uint32_t)(rnd_r(&s) % AMOUNT_END);
        uint32_t cents = (uint32_t)(rnd_r(&s) % 100000);
        uint32_t sku = (uint32_t)(rnd_r(&s) % 10000000);
        const char *w1 = PICK(&s, words), *w2 = PICK(&s, words), *w3 = PICK(&s, words);
        const char *cond = PICK(&s, conds);
        const char *t1 = PICK(&s, tagset), *t2 = PICK(&s, tagset);
        int live = (int)(rnd_r(&s) & 1);
        unsigned bids = (unsigned)(rnd_r(&s) % 60);
        tb_addf(&C.body, "{\"user\":\"user_%05u\",\"amount\":%u,\"price\":%u.%02u,", user, amount,
                cents / 100, cents % 100);
        tb_addf(&C.body, "\"item\":{\"sku\":\"SKU-%07u\",\"title\":\"%s %s %s\",\"cond\":\"%s\"},",
                sku, w1, w2, w3, cond);
        tb_addf(&C.body, "\"tags\":[\"%s\",\"%s\"],\"live\":%s,\"bids\":%u}", t1, t2,
                live ? "true" : "false", bids);
        C.off[i + 1] = C.body.size;
        C.user[i] = user;
        C.amount[i] = amount;
        C.cents[i] = cents;
        C.live[i] = (uint8_t)live;
        C.ucount[user]++;
        if (cents > SCAN_CENTS && live) C.scan_match++;
    }
    C.asorted = xmalloc(n * sizeof *C.asorted);
    memcpy(C.asorted, C.amount, n * sizeof *C.asorted);
    qsort(C.asorted, n, sizeof *C.asorted, cmp_u32);
}

static const char *body(uint64_t i, size_t *len) {
    *len = C.off[i + 1] - C.off[i];
    return C.body.data + C.off[i];
}

/* Documents with amount in [a, b]. */
static uint64_t amount_count(uint32_t a, uint32_t b) {
    size_t lo = 0, hi = cfg.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (C.asorted[mid] < a) lo = mid + 1;
        else hi = mid;
    }
    size_t first = lo;
    hi = cfg.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (C.asorted[mid] <= b) lo = mid + 1;
        else hi = mid;
    }
    return lo - first;
}

/* The ids, n * ID_LEN characters (no NULs), of the configuration being
 * filled; after the last, of the databases queried. */
static char *ids;

/* Ids in BurrowDB's format (ULID layout, Crockford base32), time ordered,
 * for a run without BurrowDB. */
static void make_ids(void) {
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    uint64_t s = cfg.seed ^ 0x1d5;
    uint64_t ms = (uint64_t)time(NULL) * 1000, hi = rnd_r(&s) & 0x7FFF, lo = rnd_r(&s);
    for (uint64_t i = 0; i < cfg.n; i++) {
        unsigned __int128 v = ((unsigned __int128)(ms & 0xFFFFFFFFFFFFull) << 80) |
                              ((unsigned __int128)hi << 64) | (lo + i);
        for (int k = ID_LEN - 1; k >= 0; k--) {
            ids[i * ID_LEN + (uint64_t)k] = alphabet[(unsigned)(v & 31)];
            v >>= 5;
        }
    }
}

/* SQLite's texts: {"_id":"<id>", then the body after its '{'. */
static tbuf stext;
static size_t *soff;

static void build_sqlite_texts(void) {
    stext.size = 0;
    if (!soff) soff = xmalloc((cfg.n + 1) * sizeof *soff);
    soff[0] = 0;
    for (uint64_t i = 0; i < cfg.n; i++) {
        size_t len;
        const char *b = body(i, &len);
        tb_reserve(&stext, ID_PREFIX_LEN + ID_LEN + 2 + len);
        tb_add(&stext, ID_PREFIX, ID_PREFIX_LEN);
        tb_add(&stext, ids + i * ID_LEN, ID_LEN);
        tb_add(&stext, "\",", 2);
        tb_add(&stext, b + 1, len - 1);
        soff[i + 1] = stext.size;
    }
}

/* ---- files -------------------------------------------------------------- */

static char rundir[4096];

static uint64_t dir_size(const char *path) {
    DIR *d = opendir(path);
    if (!d) die("%s: %s", path, strerror(errno));
    uint64_t sum = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char p[4600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) sum += (uint64_t)st.st_size;
    }
    closedir(d);
    return sum;
}

static void dir_remove(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[4600];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static void engine_dir(char *dst, size_t n, const char *engine, int nidx) {
    snprintf(dst, n, "%s/%s-%d", rundir, engine, nidx);
    if (mkdir(dst, 0755) && errno != EEXIST) die("mkdir %s: %s", dst, strerror(errno));
}

/* ---- BurrowDB ----------------------------------------------------------- */

typedef struct bw_ctx {
    burrow_db *db;
    burrow_buf out, tmp;
} bw_ctx;

static const char *index_fields[2] = {"user", "amount"};

static void bw_open_at(bw_ctx *b, const char *dir) {
    char path[4600];
    snprintf(path, sizeof path, "%s/data.burrow", dir);
    burrow_options o;
    burrow_options_init(&o);
    o.sync_mode = BURROW_SYNC_FULL;
    bw_must(burrow_open(path, &o, &b->db), "open");
}

/* Fill a new database with nidx indexes; the ids it gives go to ids.
 * Returns documents per second; *bytes the file size after close. */
static double bw_insert(int nidx, uint64_t *bytes) {
    char dir[4300];
    engine_dir(dir, sizeof dir, "burrow", nidx);
    bw_ctx b = {0};
    bw_open_at(&b, dir);
    burrow_txn *t;
    bw_must(burrow_txn_begin(b.db, NULL, 0, &t), "txn_begin");
    bw_must(burrow_coll_create(t, COLL, NULL), "coll_create");
    for (int k = 0; k < nidx; k++)
        bw_must(burrow_index_create(t, COLL, index_fields[k], 0), "index_create");
    bw_must(burrow_txn_commit(t), "commit");

    burrow_buf id = {0};
    phase_begin();
    double t0 = now();
    for (uint64_t i = 0; i < cfg.n;) {
        bw_must(burrow_txn_begin(b.db, NULL, 0, &t), "txn_begin");
        for (unsigned j = 0; j < cfg.batch && i < cfg.n; j++, i++) {
            size_t len;
            const char *doc = body(i, &len);
            bw_must(burrow_doc_insert(t, COLL, doc, len, &id), "doc_insert");
            if (id.size != ID_LEN) die("BurrowDB gave an id of %zu bytes, not %d", id.size, ID_LEN);
            memcpy(ids + i * ID_LEN, id.data, ID_LEN);
        }
        bw_must(burrow_txn_commit(t), "commit");
    }
    double dt = now() - t0;
    phase_end("BurrowDB insert, %d index(es): %.0f docs/s", nidx, (double)cfg.n / dt);
    burrow_buf_free(&id);
    bw_must(burrow_close(b.db), "close");
    *bytes = dir_size(dir);
    if (nidx < 2) dir_remove(dir);
    return (double)cfg.n / dt;
}

/* ---- SQLite ------------------------------------------------------------- */

typedef struct sq_ctx {
    sqlite3 *c;
    sqlite3_stmt *begin, *commit, *insert, *get, *eq, *range, *scan;
} sq_ctx;

static const char *SQ_GET = "SELECT doc FROM docs WHERE id = ?1";
static const char *SQ_EQ = "SELECT doc FROM docs WHERE json_extract(doc, '$.user') = ?1";
static const char *SQ_RANGE =
    "SELECT doc FROM docs WHERE json_extract(doc, '$.amount') BETWEEN ?1 AND ?2";
static const char *SQ_SCAN = "SELECT count(*) FROM docs WHERE json_extract(doc, '$.price') > ?1 "
                             "AND json_type(doc, '$.live') = 'true'";

static void sq_exec(sqlite3 *c, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(c, sql, NULL, NULL, &msg) != SQLITE_OK)
        die("SQLite '%s': %s", sql, msg ? msg : "?");
}

static sqlite3_stmt *sq_prep(sqlite3 *c, const char *sql) {
    sqlite3_stmt *st;
    sq_must(c, sqlite3_prepare_v3(c, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL), SQLITE_OK,
            sql);
    return st;
}

static void sq_step_done(sq_ctx *q, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sq_must(q->c, rc, SQLITE_DONE, what);
}

static void sq_open_at(sq_ctx *q, const char *dir, int create, int nidx) {
    char path[4600];
    snprintf(path, sizeof path, "%s/docs.sqlite", dir);
    sq_must(NULL,
            sqlite3_open_v2(path, &q->c,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL),
            SQLITE_OK, "open");
    sq_exec(q->c, "PRAGMA journal_mode=WAL");
    sq_exec(q->c, "PRAGMA synchronous=FULL");
    if (cfg.sqlite_mmap) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA mmap_size=%" PRIu64, cfg.sqlite_mmap);
        sq_exec(q->c, pragma);
    }
    if (create) {
        sq_exec(q->c, "CREATE TABLE docs(id TEXT PRIMARY KEY, doc TEXT NOT NULL "
                      "CHECK (json_valid(doc))) WITHOUT ROWID");
        if (nidx >= 1) sq_exec(q->c, "CREATE INDEX docs_user ON docs(json_extract(doc, '$.user'))");
        if (nidx >= 2)
            sq_exec(q->c, "CREATE INDEX docs_amount ON docs(json_extract(doc, '$.amount'))");
    }
    q->begin = sq_prep(q->c, "BEGIN");
    q->commit = sq_prep(q->c, "COMMIT");
    if (create) {
        q->insert = sq_prep(q->c, "INSERT INTO docs(id, doc) VALUES(?1, ?2)");
    } else {
        q->get = sq_prep(q->c, SQ_GET);
        q->eq = sq_prep(q->c, SQ_EQ);
        q->range = sq_prep(q->c, SQ_RANGE);
        q->scan = sq_prep(q->c, SQ_SCAN);
    }
}

static void sq_close(sq_ctx *q) {
    sqlite3_stmt *sts[] = {q->begin, q->commit, q->insert, q->get, q->eq, q->range, q->scan};
    for (size_t i = 0; i < sizeof sts / sizeof sts[0]; i++) sqlite3_finalize(sts[i]);
    sq_must(q->c, sqlite3_close(q->c), SQLITE_OK, "close");
    memset(q, 0, sizeof *q);
}

static double sq_insert(int nidx, uint64_t *bytes) {
    char dir[4300];
    engine_dir(dir, sizeof dir, "sqlite", nidx);
    sq_ctx q = {0};
    sq_open_at(&q, dir, 1, nidx);
    phase_begin();
    double t0 = now();
    for (uint64_t i = 0; i < cfg.n;) {
        sq_step_done(&q, q.begin, "BEGIN");
        for (unsigned j = 0; j < cfg.batch && i < cfg.n; j++, i++) {
            sqlite3_bind_text(q.insert, 1, ids + i * ID_LEN, ID_LEN, SQLITE_STATIC);
            sqlite3_bind_text(q.insert, 2, stext.data + soff[i], (int)(soff[i + 1] - soff[i]),
                              SQLITE_STATIC);
            sq_step_done(&q, q.insert, "INSERT");
        }
        sq_step_done(&q, q.commit, "COMMIT");
    }
    double dt = now() - t0;
    phase_end("SQLite insert, %d index(es): %.0f docs/s", nidx, (double)cfg.n / dt);
    sq_close(&q);
    *bytes = dir_size(dir);
    if (nidx < 2) dir_remove(dir);
    return (double)cfg.n / dt;
}

/* ---- the query lists ---------------------------------------------------- */

typedef struct query {
    uint32_t a, b;   /* eq: the user (a); range: amount in [a, b] */
    uint32_t expect; /* the generator's count */
} query;

static query *eqs, *ranges;
static uint32_t range_width;

static void make_queries(void) {
    uint64_t s = cfg.seed ^ 0x9e;
    eqs = xmalloc(cfg.nq * sizeof *eqs);
    ranges = xmalloc(cfg.nq * sizeof *ranges);
    uint64_t w = (100ull * AMOUNT_END + cfg.n / 2) / cfg.n;
    range_width = (uint32_t)(w < 1 ? 1 : w > AMOUNT_END ? AMOUNT_END : w);
    for (unsigned i = 0; i < cfg.nq; i++) {
        uint32_t u = (uint32_t)(rnd_r(&s) % USERS);
        eqs[i] = (query){u, u, C.ucount[u]};
        uint32_t a = (uint32_t)(rnd_r(&s) % (AMOUNT_END - range_width + 1));
        uint32_t b = a + range_width - 1;
        ranges[i] = (query){a, b, (uint32_t)amount_count(a, b)};
    }
}

static size_t eq_filter(char *dst, size_t n, const query *q) {
    return (size_t)snprintf(dst, n, "{\"user\":\"user_%05u\"}", q->a);
}

static size_t range_filter(char *dst, size_t n, const query *q) {
    return (size_t)snprintf(dst, n, "{\"amount\":{\"$gte\":%u,\"$lte\":%u}}", q->a, q->b);
}

static const char SCAN_FILTER[] = "{\"price\":{\"$gt\":900},\"live\":true}";

/* ---- one chunk of each read workload, per engine ------------------------ */

typedef struct run_state {
    uint64_t rng;  /* gets: the ids asked for */
    size_t qpos;   /* queries: the next in the list */
    uint64_t ops;  /* gets, queries, or documents scanned */
    uint64_t rows; /* results read */
    uint64_t bytes;
    uint64_t bad; /* results that failed a check */
} run_state;

static bw_ctx BW;
static sq_ctx SQ;

static int has_id(const void *doc, size_t len, const char *id) {
    return len > ID_PREFIX_LEN + ID_LEN && memcmp(doc, ID_PREFIX, ID_PREFIX_LEN) == 0 &&
           (!id || memcmp((const char *)doc + ID_PREFIX_LEN, id, ID_LEN) == 0);
}

static void bw_get_chunk(run_state *s) {
    burrow_txn *t;
    bw_must(burrow_txn_begin(BW.db, NULL, BURROW_TXN_RDONLY, &t), "txn_begin(rdonly)");
    for (int i = 0; i < GET_CHUNK; i++) {
        const char *id = ids + (rnd_r(&s->rng) % cfg.n) * ID_LEN;
        bw_must(burrow_doc_get(t, COLL, id, ID_LEN, NULL, &BW.out), "doc_get");
        s->bad += !has_id(BW.out.data, BW.out.size, id);
        s->bytes += BW.out.size;
    }
    burrow_txn_abort(t);
    s->ops += GET_CHUNK;
    s->rows += GET_CHUNK;
}

static void sq_get_chunk(run_state *s) {
    sq_step_done(&SQ, SQ.begin, "BEGIN");
    for (int i = 0; i < GET_CHUNK; i++) {
        const char *id = ids + (rnd_r(&s->rng) % cfg.n) * ID_LEN;
        sqlite3_bind_text(SQ.get, 1, id, ID_LEN, SQLITE_STATIC);
        sq_must(SQ.c, sqlite3_step(SQ.get), SQLITE_ROW, "get");
        const unsigned char *doc = sqlite3_column_text(SQ.get, 0);
        size_t len = (size_t)sqlite3_column_bytes(SQ.get, 0);
        s->bad += !has_id(doc, len, id);
        s->bytes += len;
        sqlite3_reset(SQ.get);
    }
    sq_step_done(&SQ, SQ.commit, "COMMIT");
    s->ops += GET_CHUNK;
    s->rows += GET_CHUNK;
}

/* One BurrowDB query: format and compile the filter, find, read every
 * result as JSON. Returns the number of results. */
static uint64_t bw_query(burrow_txn *t, const char *fjson, size_t flen, run_state *s) {
    burrow_filter *f;
    burrow_results *r;
    burrow_val v;
    bw_must(burrow_filter_compile(fjson, flen, &f), "filter_compile");
    burrow_find_options o = {.filter = f};
    bw_must(burrow_find(t, COLL, &o, &r), "find");
    uint64_t rows = 0;
    int rc;
    while ((rc = burrow_results_next(r, &v)) == 0) {
        rows++;
        s->bad += !has_id(v.data, v.size, NULL);
        s->bytes += v.size;
    }
    if (rc != BURROW_ENOTFOUND) bw_must(rc, "results_next");
    burrow_results_close(r);
    burrow_filter_free(f);
    return rows;
}

static void bw_query_chunk(run_state *s, const query *list,
                           size_t (*filter)(char *, size_t, const query *)) {
    burrow_txn *t;
    char fj[128];
    bw_must(burrow_txn_begin(BW.db, NULL, BURROW_TXN_RDONLY, &t), "txn_begin(rdonly)");
    for (int i = 0; i < QUERY_CHUNK; i++) {
        const query *q = &list[s->qpos++ % cfg.nq];
        uint64_t rows = bw_query(t, fj, filter(fj, sizeof fj, q), s);
        s->bad += rows != q->expect;
        s->rows += rows;
    }
    burrow_txn_abort(t);
    s->ops += QUERY_CHUNK;
}

static void bw_eq_chunk(run_state *s) { bw_query_chunk(s, eqs, eq_filter); }
static void bw_range_chunk(run_state *s) { bw_query_chunk(s, ranges, range_filter); }

static uint64_t sq_rows(sqlite3_stmt *st, run_state *s) {
    uint64_t rows = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *doc = sqlite3_column_text(st, 0);
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        rows++;
        s->bad += !has_id(doc, len, NULL);
        s->bytes += len;
    }
    sq_must(SQ.c, rc, SQLITE_DONE, "query");
    sqlite3_reset(st);
    return rows;
}

static void sq_eq_chunk(run_state *s) {
    char user[16];
    sq_step_done(&SQ, SQ.begin, "BEGIN");
    for (int i = 0; i < QUERY_CHUNK; i++) {
        const query *q = &eqs[s->qpos++ % cfg.nq];
        int n = snprintf(user, sizeof user, "user_%05u", q->a);
        sqlite3_bind_text(SQ.eq, 1, user, n, SQLITE_STATIC);
        uint64_t rows = sq_rows(SQ.eq, s);
        s->bad += rows != q->expect;
        s->rows += rows;
    }
    sq_step_done(&SQ, SQ.commit, "COMMIT");
    s->ops += QUERY_CHUNK;
}

static void sq_range_chunk(run_state *s) {
    sq_step_done(&SQ, SQ.begin, "BEGIN");
    for (int i = 0; i < QUERY_CHUNK; i++) {
        const query *q = &ranges[s->qpos++ % cfg.nq];
        sqlite3_bind_int64(SQ.range, 1, q->a);
        sqlite3_bind_int64(SQ.range, 2, q->b);
        uint64_t rows = sq_rows(SQ.range, s);
        s->bad += rows != q->expect;
        s->rows += rows;
    }
    sq_step_done(&SQ, SQ.commit, "COMMIT");
    s->ops += QUERY_CHUNK;
}

static uint64_t bw_scan_count(void) {
    burrow_txn *t;
    burrow_filter *f;
    uint64_t n;
    bw_must(burrow_txn_begin(BW.db, NULL, BURROW_TXN_RDONLY, &t), "txn_begin(rdonly)");
    bw_must(burrow_filter_compile(SCAN_FILTER, sizeof SCAN_FILTER - 1, &f), "filter_compile");
    bw_must(burrow_doc_count(t, COLL, f, &n), "doc_count");
    burrow_filter_free(f);
    burrow_txn_abort(t);
    return n;
}

static uint64_t sq_scan_count(void) {
    sqlite3_bind_double(SQ.scan, 1, SCAN_CENTS / 100.0);
    sq_must(SQ.c, sqlite3_step(SQ.scan), SQLITE_ROW, "scan");
    uint64_t n = (uint64_t)sqlite3_column_int64(SQ.scan, 0);
    sqlite3_reset(SQ.scan);
    return n;
}

static void bw_scan_chunk(run_state *s) {
    s->bad += bw_scan_count() != C.scan_match;
    s->ops += cfg.n;
    s->rows += C.scan_match;
}

static void sq_scan_chunk(run_state *s) {
    s->bad += sq_scan_count() != C.scan_match;
    s->ops += cfg.n;
    s->rows += C.scan_match;
}

/* ---- checks (untimed) --------------------------------------------------- */

static struct {
    char eq[512], range[512], gets[512], scan[512]; /* "" = passed */
    uint64_t eq_rows, range_rows;                     /* over the whole lists */
    uint64_t bw_scan, sq_scan;
    char bw_check[512];
    double bw_check_s;
    char bw_plan[3][2048], sq_plan[3][512];
    char plan_check[512];
} V;

/* BurrowDB's canonical JSON of a JSON text. */
static const burrow_buf *canon(const void *json, size_t len) {
    bw_must(burrow_json_parse(json, len, &BW.tmp), "json_parse (check)");
    bw_must(burrow_json_write(BW.tmp.data, BW.tmp.size, 0, &BW.out), "json_write (check)");
    return &BW.out;
}

typedef struct digest {
    uint64_t n, sum; /* results, sum of the hashes of their canonical JSON */
} digest;

static digest bw_digest(burrow_txn *t, const char *fj, size_t flen) {
    burrow_filter *f;
    burrow_results *r;
    burrow_val v;
    digest d = {0, 0};
    bw_must(burrow_filter_compile(fj, flen, &f), "filter_compile");
    burrow_find_options o = {.filter = f};
    bw_must(burrow_find(t, COLL, &o, &r), "find");
    int rc;
    while ((rc = burrow_results_next(r, &v)) == 0) {
        d.n++;
        d.sum += fnv1a(v.data, v.size);
    }
    if (rc != BURROW_ENOTFOUND) bw_must(rc, "results_next");
    burrow_results_close(r);
    burrow_filter_free(f);
    return d;
}

static digest sq_digest(sqlite3_stmt *st) {
    digest d = {0, 0};
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const burrow_buf *c = canon(sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        d.n++;
        d.sum += fnv1a(c->data, c->size);
    }
    sq_must(SQ.c, rc, SQLITE_DONE, "query (check)");
    sqlite3_reset(st);
    return d;
}

/* Every query of a list on both engines: counts against the generator,
 * result hashes against each other. */
static void check_list(const char *what, const query *list, char *msg, size_t msgn,
                       uint64_t *rows) {
    burrow_txn *t = NULL;
    char fj[128], user[16];
    if (cfg.burrow) bw_must(burrow_txn_begin(BW.db, NULL, BURROW_TXN_RDONLY, &t), "txn_begin");
    int is_eq = list == eqs;
    *rows = 0;
    for (unsigned i = 0; i < cfg.nq && !msg[0]; i++) {
        const query *q = &list[i];
        digest db = {0, 0}, ds = {0, 0};
        *rows += q->expect;
        if (cfg.burrow) {
            size_t fl = is_eq ? eq_filter(fj, sizeof fj, q) : range_filter(fj, sizeof fj, q);
            db = bw_digest(t, fj, fl);
            if (db.n != q->expect)
                snprintf(msg, msgn, "%s query %u (%s): BurrowDB returned %" PRIu64 " rows, the "
                         "generator counts %u", what, i, fj, db.n, q->expect);
        }
        if (cfg.sqlite && !msg[0]) {
            sqlite3_stmt *st = is_eq ? SQ.eq : SQ.range;
            if (is_eq) {
                int n = snprintf(user, sizeof user, "user_%05u", q->a);
                sqlite3_bind_text(st, 1, user, n, SQLITE_STATIC);
            } else {
                sqlite3_bind_int64(st, 1, q->a);
                sqlite3_bind_int64(st, 2, q->b);
            }
            ds = sq_digest(st);
            if (ds.n != q->expect)
                snprintf(msg, msgn, "%s query %u (a = %u, b = %u): SQLite returned %" PRIu64
                         " rows, the generator counts %u", what, i, q->a, q->b, ds.n, q->expect);
        }
        if (cfg.burrow && cfg.sqlite && !msg[0] && db.sum != ds.sum)
            snprintf(msg, msgn, "%s query %u (%s): same count (%" PRIu64 "), different documents "
                     "(result hashes differ)", what, i, fj, db.n);
    }
    if (t) burrow_txn_abort(t);
}

static void check_gets(void) {
    if (!(cfg.burrow && cfg.sqlite)) {
        snprintf(V.gets, sizeof V.gets, "not compared (one engine only)");
        return;
    }
    burrow_txn *t;
    burrow_buf mine = {0};
    uint64_t s = cfg.seed ^ 0x6e7;
    bw_must(burrow_txn_begin(BW.db, NULL, BURROW_TXN_RDONLY, &t), "txn_begin");
    for (int i = 0; i < VERIFY_GETS && !V.gets[0]; i++) {
        const char *id = ids + (rnd_r(&s) % cfg.n) * ID_LEN;
        bw_must(burrow_doc_get(t, COLL, id, ID_LEN, NULL, &mine), "doc_get");
        sqlite3_bind_text(SQ.get, 1, id, ID_LEN, SQLITE_STATIC);
        sq_must(SQ.c, sqlite3_step(SQ.get), SQLITE_ROW, "get");
        const burrow_buf *c = canon(sqlite3_column_text(SQ.get, 0),
                                    (size_t)sqlite3_column_bytes(SQ.get, 0));
        if (c->size != mine.size || memcmp(c->data, mine.data, mine.size))
            snprintf(V.gets, sizeof V.gets, "id %.*s: BurrowDB returned %.*s, SQLite %.*s", ID_LEN,
                     id, (int)mine.size, (const char *)mine.data, (int)c->size,
                     (const char *)c->data);
        sqlite3_reset(SQ.get);
    }
    burrow_txn_abort(t);
    burrow_buf_free(&mine);
}

static void sq_plan(const char *sql, char *dst, size_t n) {
    char q[512];
    sqlite3_stmt *st;
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    sq_must(SQ.c, sqlite3_prepare_v2(SQ.c, q, -1, &st, NULL), SQLITE_OK, "EXPLAIN QUERY PLAN");
    dst[0] = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t l = strlen(dst);
        snprintf(dst + l, n - l, "%s%s", l ? "; " : "", (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
}

static void check_plans(void) {
    char fj[3][128];
    eq_filter(fj[0], sizeof fj[0], &eqs[0]);
    range_filter(fj[1], sizeof fj[1], &ranges[0]);
    snprintf(fj[2], sizeof fj[2], "%s", SCAN_FILTER);
    static const char *want_bw[3] = {"\"plan\":\"index\",\"index\":\"user\"",
                                     "\"plan\":\"index\",\"index\":\"amount\"",
                                     "\"plan\":\"scan\""};
    static const char *want_sq[3] = {"USING INDEX docs_user", "USING INDEX docs_amount",
                                     "SCAN docs"};
    const char *sqls[3] = {SQ_EQ, SQ_RANGE, SQ_SCAN};
    static const char *names[3] = {"equality", "range", "scan"};
    if (cfg.burrow) {
        burrow_txn *t;
        burrow_buf j = {0};
        bw_must(burrow_txn_begin(BW.db, NULL, BURROW_TXN_RDONLY, &t), "txn_begin");
        for (int k = 0; k < 3; k++) {
            burrow_filter *f;
            bw_must(burrow_filter_compile(fj[k], strlen(fj[k]), &f), "filter_compile");
            burrow_find_options o = {.filter = f};
            bw_must(burrow_explain(t, COLL, &o, &j), "explain");
            snprintf(V.bw_plan[k], sizeof V.bw_plan[k], "%s", (const char *)j.data);
            if (!strstr(V.bw_plan[k], want_bw[k]) && !V.plan_check[0])
                snprintf(V.plan_check, sizeof V.plan_check,
                         "BurrowDB's %s query does not use the plan expected (%s)", names[k],
                         want_bw[k]);
            burrow_filter_free(f);
        }
        burrow_txn_abort(t);
        burrow_buf_free(&j);
    }
    if (cfg.sqlite) {
        for (int k = 0; k < 3; k++) {
            sq_plan(sqls[k], V.sq_plan[k], sizeof V.sq_plan[k]);
            if (!strstr(V.sq_plan[k], want_sq[k]) && !V.plan_check[0])
                snprintf(V.plan_check, sizeof V.plan_check,
                         "SQLite's %s query does not use the plan expected (%s)", names[k],
                         want_sq[k]);
        }
    }
}

static void check_all(void) {
    phase_begin();
    check_plans();
    check_list("equality", eqs, V.eq, sizeof V.eq, &V.eq_rows);
    check_list("range", ranges, V.range, sizeof V.range, &V.range_rows);
    check_gets();
    if (cfg.burrow) V.bw_scan = bw_scan_count();
    if (cfg.sqlite) V.sq_scan = sq_scan_count();
    if ((cfg.burrow && V.bw_scan != C.scan_match) || (cfg.sqlite && V.sq_scan != C.scan_match))
        snprintf(V.scan, sizeof V.scan,
                 "the scan counted %" PRIu64 " (BurrowDB), %" PRIu64 " (SQLite); the generator %" PRIu64,
                 V.bw_scan, V.sq_scan, C.scan_match);
    phase_end("checks: plans %s; equality %s; range %s; gets %s; scan %s",
              V.plan_check[0] ? V.plan_check : "ok", V.eq[0] ? V.eq : "ok",
              V.range[0] ? V.range : "ok", V.gets[0] ? V.gets : "ok", V.scan[0] ? V.scan : "ok");
}

/* ---- measurements --------------------------------------------------------- */

enum { W_GET, W_EQ, W_RANGE, W_SCAN, N_READS };
enum { E_BW, E_SQ, N_ENG };
static void (*const chunks[N_READS][N_ENG])(run_state *) = {
    {bw_get_chunk, sq_get_chunk},
    {bw_eq_chunk, sq_eq_chunk},
    {bw_range_chunk, sq_range_chunk},
    {bw_scan_chunk, sq_scan_chunk},
};
static const char *const read_names[N_READS] = {"point get", "equality query", "range query",
                                                "scan"};

typedef struct measure {
    double ops[MAX_RUNS], rows[MAX_RUNS]; /* per second */
    uint64_t bad, bytes, nops;
} measure;

static measure M[N_READS][N_ENG];

static void measure_once(int w, int e, int run) {
    run_state s = {.rng = cfg.seed ^ (0x5000u + (uint64_t)run), .qpos = (size_t)run * 997};
    phase_begin();
    double t0 = now(), dt;
    do chunks[w][e](&s);
    while ((dt = now() - t0) < cfg.min_time);
    M[w][e].ops[run] = (double)s.ops / dt;
    M[w][e].rows[run] = (double)s.rows / dt;
    M[w][e].bad += s.bad;
    M[w][e].bytes += s.bytes;
    M[w][e].nops += s.ops;
    phase_end("%s %s, run %d: %.0f/s (%" PRIu64 " rows/s)%s", e == E_BW ? "BurrowDB" : "SQLite",
              read_names[w], run + 1, (double)s.ops / dt, (uint64_t)((double)s.rows / dt),
              s.bad ? " CHECK FAILED" : "");
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n) {
    double x[MAX_RUNS];
    memcpy(x, v, (size_t)n * sizeof x[0]);
    qsort(x, (size_t)n, sizeof x[0], cmp_double);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

/* ---- report ----------------------------------------------------------------- */

static double ins_rate[3][N_ENG];
static phase_usage ins_use[3][N_ENG];
static uint64_t ins_bytes[3][N_ENG];
static uint64_t raw_bytes; /* the documents' JSON text with "_id", as SQLite stores it */

static void fmt_int(char *dst, size_t n, double v) {
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.0f", v);
    size_t len = strlen(tmp), o = 0;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) dst[o++] = ',';
        dst[o++] = tmp[i];
    }
    dst[o] = 0;
}

static int ran(int e) { return e == E_BW ? cfg.burrow : cfg.sqlite; }

/* A cell: the value, or "—" for an engine not run. */
static void cell_rate(char *dst, size_t n, int e, double v) {
    if (!ran(e)) snprintf(dst, n, "—");
    else fmt_int(dst, n, v);
}

static void cell_ratio(char *dst, size_t n, double b, double s) {
    if (!cfg.burrow || !cfg.sqlite || s <= 0) snprintf(dst, n, "—");
    else snprintf(dst, n, "**%.2f×**", b / s);
}

static void report(FILE *o) {
    double avg = (double)raw_bytes / (double)cfg.n;
    char nb[32], bb[32];
    fmt_int(nb, sizeof nb, (double)cfg.n);
    fmt_int(bb, sizeof bb, (double)cfg.batch);
    fprintf(o, "n = %s documents (%.0f B of JSON each on average, with their \"_id\"), "
               "batches of %s, seed %" PRIu64 ". Medians of %d runs where marked (m). "
               "Libraries at run time: BurrowDB %d.%d.%d, SQLite %s.\n\n",
            nb, avg, bb, cfg.seed, cfg.runs, BURROW_VERSION_MAJOR, BURROW_VERSION_MINOR,
            BURROW_VERSION_PATCH, sqlite3_libversion());
    if (cfg.sqlite_mmap)
        fprintf(o, "**SQLite with PRAGMA mmap_size=%" PRIu64 " (--sqlite-mmap), not its default "
                   "of no mmap.**\n\n",
                cfg.sqlite_mmap);
    fprintf(o, "| Workload | Unit | BurrowDB | SQLite | BurrowDB / SQLite | Better | "
               "Budget (DESIGN.md) |\n|---|---|---:|---:|---:|---|---|\n");
    static const char *ins_names[3] = {"Insert, no index", "Insert, 1 index (user)",
                                       "Insert, 2 indexes (user, amount)"};
    char a[64], b[64], r[64];
    for (int k = 0; k < 3; k++) {
        cell_rate(a, sizeof a, E_BW, ins_rate[k][E_BW]);
        cell_rate(b, sizeof b, E_SQ, ins_rate[k][E_SQ]);
        cell_ratio(r, sizeof r, ins_rate[k][E_BW], ins_rate[k][E_SQ]);
        char budget[64] = "";
        if (k > 0 && cfg.burrow)
            snprintf(budget, sizeof budget, "≥ 300 K/s — %s",
                     ins_rate[k][E_BW] >= 300000 ? "met" : "**not met**");
        fprintf(o, "| %s | docs/s | %s | %s | %s | higher | %s |\n", ins_names[k], a, b, r,
                budget);
    }
    char eqw[64], rgw[64];
    double eq_avg = (double)V.eq_rows / cfg.nq, range_avg = (double)V.range_rows / cfg.nq;
    snprintf(eqw, sizeof eqw, "user = X, ~%.*f rows", eq_avg < 10 ? 1 : 0, eq_avg);
    snprintf(rgw, sizeof rgw, "amount in [a, a + %u], ~%.*f rows", range_width - 1,
             range_avg < 10 ? 1 : 0, range_avg);
    struct {
        int w, rows;
        const char *name, *unit;
    } rows[] = {
        {W_GET, 0, "Point get by id, JSON out (m)", "gets/s"},
        {W_EQ, 0, NULL, "queries/s"},
        {W_EQ, 1, NULL, "rows/s"},
        {W_RANGE, 0, NULL, "queries/s"},
        {W_RANGE, 1, NULL, "rows/s"},
        {W_SCAN, 0, "Full scan with a filter, price > 900 and live (m)", "docs scanned/s"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int w = rows[i].w;
        double mv[N_ENG];
        for (int e = 0; e < N_ENG; e++)
            mv[e] = ran(e) ? median(rows[i].rows ? M[w][e].rows : M[w][e].ops, cfg.runs) : 0;
        char name[128];
        if (rows[i].name) snprintf(name, sizeof name, "%s", rows[i].name);
        else
            snprintf(name, sizeof name, "Indexed %s query, %s (m)", w == W_EQ ? "equality" : "range",
                     w == W_EQ ? eqw : rgw);
        cell_rate(a, sizeof a, E_BW, mv[E_BW]);
        cell_rate(b, sizeof b, E_SQ, mv[E_SQ]);
        cell_ratio(r, sizeof r, mv[E_BW], mv[E_SQ]);
        fprintf(o, "| %s | %s | %s | %s | %s | higher |  |\n", name, rows[i].unit, a, b, r);
    }
    static const char *size_names[3] = {"File size, no index", "File size, 1 index",
                                        "File size, 2 indexes"};
    for (int k = 0; k < 3; k++) {
        for (int e = 0; e < N_ENG; e++) {
            char *d = e == E_BW ? a : b;
            if (!ran(e)) snprintf(d, sizeof a, "—");
            else
                snprintf(d, sizeof a, "%.1f MB (%.2f× raw)", (double)ins_bytes[k][e] / 1e6,
                         (double)ins_bytes[k][e] / (double)raw_bytes);
        }
        cell_ratio(r, sizeof r, (double)ins_bytes[k][E_BW], (double)ins_bytes[k][E_SQ]);
        fprintf(o, "| %s | MB | %s | %s | %s | lower |  |\n", size_names[k], a, b, r);
    }
    fprintf(o, "\nRaw data: %.1f MB, the documents' JSON text with their ids as given to SQLite. "
               "Ratios are BurrowDB / SQLite.\n\n",
            (double)raw_bytes / 1e6);

    fprintf(o, "Where the inserts' time goes: wall time, the process's CPU time (the rest is "
               "mostly waiting for the disk), and what they wrote (bytes passed to write "
               "calls, from /proc/self/io; SQLite's include its WAL checkpoints):\n\n");
    fprintf(o, "| Insert | Engine | wall s | user s | sys s | write calls | written MB | "
               "written per document |\n|---|---|---:|---:|---:|---:|---:|---:|\n");
    static const char *ins_short[3] = {"no index", "1 index", "2 indexes"};
    for (int k = 0; k < 3; k++)
        for (int e = 0; e < N_ENG; e++) {
            if (!ran(e)) continue;
            const phase_usage *u = &ins_use[k][e];
            fmt_int(a, sizeof a, (double)u->syscw);
            fprintf(o, "| %s | %s | %.2f | %.2f | %.2f | %s | %.0f | %.2f KB |\n", ins_short[k],
                    e == E_BW ? "BurrowDB" : "SQLite", u->wall, u->user, u->sys, a,
                    (double)u->wchar / 1e6, (double)u->wchar / (double)cfg.n / 1e3);
        }
    fprintf(o, "\n");

    fprintf(o, "Runs of the (m) rows (operations per second, in run order), and the ratio "
               "BurrowDB / SQLite within each turn:\n\n");
    fprintf(o, "| Workload | BurrowDB runs | SQLite runs | ratio per turn (min – max) |\n"
               "|---|---|---|---:|\n");
    for (int w = 0; w < N_READS; w++) {
        fprintf(o, "| %s |", read_names[w]);
        for (int e = 0; e < N_ENG; e++) {
            if (!ran(e)) {
                fprintf(o, " — |");
                continue;
            }
            fprintf(o, " ");
            for (int k = 0; k < cfg.runs; k++) {
                fmt_int(a, sizeof a, M[w][e].ops[k]);
                fprintf(o, "%s%s", k ? ", " : "", a);
            }
            fprintf(o, " |");
        }
        if (cfg.burrow && cfg.sqlite) {
            double lo = 1e300, hi = 0;
            for (int k = 0; k < cfg.runs; k++) {
                double q = M[w][E_BW].ops[k] / M[w][E_SQ].ops[k];
                lo = q < lo ? q : lo;
                hi = q > hi ? q : hi;
            }
            fprintf(o, " %.2f – %.2f× |\n", lo, hi);
        } else
            fprintf(o, " — |\n");
    }

    fprintf(o, "\nChecks:\n\n");
    fprintf(o, "- Equality queries (%u, ~%.1f rows each): %s\n", cfg.nq,
            (double)V.eq_rows / cfg.nq,
            V.eq[0] ? V.eq : "every count equals the generator's; both engines return the same "
                             "documents (hash of BurrowDB's canonical JSON of each)");
    fprintf(o, "- Range queries (%u, ~%.1f rows each): %s\n", cfg.nq,
            (double)V.range_rows / cfg.nq,
            V.range[0] ? V.range : "every count equals the generator's; both engines return the "
                                   "same documents");
    fprintf(o, "- Point gets (%d random ids): %s\n", VERIFY_GETS,
            V.gets[0] ? V.gets : "SQLite's text, normalized by BurrowDB's codec, equals "
                                 "BurrowDB's output byte for byte");
    char sm[32];
    fmt_int(sm, sizeof sm, (double)C.scan_match);
    if (V.scan[0]) fprintf(o, "- Scan: %s\n", V.scan);
    else fprintf(o, "- Scan: both engines count %s matches, as the generator does\n", sm);
    int bad = 0;
    for (int w = 0; w < N_READS; w++)
        for (int e = 0; e < N_ENG; e++) bad += M[w][e].bad != 0;
    fprintf(o, "- Timed runs: %s\n",
            bad ? "**some results failed their check** (see stderr)"
                : "every get returned the id asked for; every query returned its expected count");
    if (cfg.burrow)
        fprintf(o, "- burrow_check of the 2-index file: %s (%.1f s, untimed)\n",
                V.bw_check[0] ? V.bw_check : "ok", V.bw_check_s);
    fprintf(o, "- Plans: %s\n\n", V.plan_check[0] ? V.plan_check : "as expected");
    static const char *qn[3] = {"equality", "range", "scan"};
    for (int k = 0; k < 3; k++) {
        if (cfg.sqlite) fprintf(o, "  - SQLite %s: `%s`\n", qn[k], V.sq_plan[k]);
        if (cfg.burrow) fprintf(o, "  - BurrowDB %s: `%s`\n", qn[k], V.bw_plan[k]);
    }
    fprintf(o, "\n");
}

/* ---- main ----------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f,
            "usage: doc-bench [options]\n"
            "  --n N          documents (default 1000000)\n"
            "  --batch N      documents per durable write transaction (default 1000)\n"
            "  --runs N       read measurements per workload and engine, median reported"
            " (default 3)\n"
            "  --min-time S   seconds per read measurement (default 0.5)\n"
            "  --queries N    queries in each query list (default 2000)\n"
            "  --seed N       generator seed (default 20240601)\n"
            "  --engines LIST burrow,sqlite (default both)\n"
            "  --dir DIR      data directory; a run-<pid> directory is made in it and removed"
            " (default /tmp/burrow-bench)\n"
            "  --keep         keep the databases\n"
            "  --sqlite-mmap N  SQLite's PRAGMA mmap_size in bytes (default 0: no mmap, as in\n"
            "                 the engine bench; a what-if, not the peer's reported setting)\n"
            "  --out FILE     write the markdown report to FILE (default stdout)\n");
}

static double parse_num(const char *opt, const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || end == s || v < 0) {
        fprintf(stderr, "doc-bench: bad number for %s: '%s'\n", opt, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--keep") == 0) {
            cfg.keep = 1;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--n") == 0) cfg.n = (uint64_t)parse_num(a, v);
        else if (strcmp(a, "--batch") == 0) cfg.batch = (unsigned)parse_num(a, v);
        else if (strcmp(a, "--runs") == 0) cfg.runs = (int)parse_num(a, v);
        else if (strcmp(a, "--min-time") == 0) cfg.min_time = parse_num(a, v);
        else if (strcmp(a, "--queries") == 0) cfg.nq = (unsigned)parse_num(a, v);
        else if (strcmp(a, "--seed") == 0) cfg.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--dir") == 0) cfg.dir = v;
        else if (strcmp(a, "--sqlite-mmap") == 0) cfg.sqlite_mmap = (uint64_t)parse_num(a, v);
        else if (strcmp(a, "--out") == 0) cfg.out = v;
        else if (strcmp(a, "--engines") == 0) {
            cfg.burrow = strstr(v, "burrow") != NULL;
            cfg.sqlite = strstr(v, "sqlite") != NULL;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (cfg.n < 1000 || cfg.n > 100000000 || cfg.batch < 1 || cfg.runs < 1 ||
        cfg.runs > MAX_RUNS || cfg.nq < 1 || (!cfg.burrow && !cfg.sqlite)) {
        fprintf(stderr, "doc-bench: need 1000 <= --n <= 10^8, --batch >= 1, 1 <= --runs <= %d, "
                        "--queries >= 1, and at least one engine\n",
                MAX_RUNS);
        return 2;
    }

    if (mkdir(cfg.dir, 0755) && errno != EEXIST) die("mkdir %s: %s", cfg.dir, strerror(errno));
    snprintf(rundir, sizeof rundir, "%s/run-%ld", cfg.dir, (long)getpid());
    if (mkdir(rundir, 0755)) die("mkdir %s: %s", rundir, strerror(errno));

    phase_begin();
    gen_docs();
    make_queries();
    ids = xmalloc(cfg.n * ID_LEN);
    phase_end("generated %" PRIu64 " documents, %zu bytes of JSON without ids", cfg.n,
              C.body.size);

    for (int k = 0; k < 3; k++) {
        if (cfg.burrow) {
            ins_rate[k][E_BW] = bw_insert(k, &ins_bytes[k][E_BW]);
            ins_use[k][E_BW] = phase_last;
        } else if (k == 0) {
            make_ids();
        }
        build_sqlite_texts();
        raw_bytes = stext.size;
        if (cfg.sqlite) {
            ins_rate[k][E_SQ] = sq_insert(k, &ins_bytes[k][E_SQ]);
            ins_use[k][E_SQ] = phase_last;
        }
    }
    free(stext.data);
    free(soff);

    char dir[4300];
    if (cfg.burrow) {
        snprintf(dir, sizeof dir, "%s/burrow-2", rundir);
        bw_open_at(&BW, dir);
        phase_begin();
        double t0 = now();
        int rc = burrow_check(BW.db);
        V.bw_check_s = now() - t0;
        if (rc)
            snprintf(V.bw_check, sizeof V.bw_check, "**%s**: %s", burrow_strerror(rc),
                     burrow_errmsg());
        phase_end("burrow_check: %s", rc ? V.bw_check : "ok");
    }
    if (cfg.sqlite) {
        snprintf(dir, sizeof dir, "%s/sqlite-2", rundir);
        sq_open_at(&SQ, dir, 0, 2);
    }
    check_all();

    /* Warm up (caches, buffers), then the measurements, taking turns. */
    for (int w = 0; w < N_READS; w++)
        for (int e = 0; e < N_ENG; e++)
            if (ran(e)) {
                run_state s = {.rng = 1};
                chunks[w][e](&s);
            }
    for (int run = 0; run < cfg.runs; run++)
        for (int w = 0; w < N_READS; w++)
            for (int e = 0; e < N_ENG; e++)
                if (ran(e)) measure_once(w, e, run);

    FILE *o = stdout;
    if (cfg.out && !(o = fopen(cfg.out, "w"))) die("%s: %s", cfg.out, strerror(errno));
    report(o);
    if (o != stdout) fclose(o);

    if (cfg.burrow) {
        bw_must(burrow_close(BW.db), "close");
        burrow_buf_free(&BW.out);
        burrow_buf_free(&BW.tmp);
    }
    if (cfg.sqlite) sq_close(&SQ);
    if (!cfg.keep) {
        snprintf(dir, sizeof dir, "%s/burrow-2", rundir);
        dir_remove(dir);
        snprintf(dir, sizeof dir, "%s/sqlite-2", rundir);
        dir_remove(dir);
        rmdir(rundir);
    } else {
        fprintf(stderr, "doc-bench: kept %s\n", rundir);
    }
    int bad = V.eq[0] || V.range[0] || V.scan[0] || (V.gets[0] && cfg.burrow && cfg.sqlite) ||
              V.plan_check[0] || V.bw_check[0];
    for (int w = 0; w < N_READS; w++)
        for (int e = 0; e < N_ENG; e++) bad |= M[w][e].bad != 0;
    free(ids);
    return bad ? 3 : 0;
}
