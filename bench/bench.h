/*
 * bench.h — the benchmark harness's engine table and shared helpers.
 *
 * Every engine (BurrowDB, LMDB, SQLite, RocksDB, LevelDB) is reached through
 * the same small table of functions, so every workload in main.c runs exactly
 * the same calls, in the same order, for each engine. An engine file
 * (eng_*.c) holds nothing but the mapping of these calls to its library.
 *
 * Conventions: functions return 0 on success and -1 on failure, after
 * bench_fail() has recorded a message (read it with bench_error()). get()
 * returns 1 when found, 0 when not found, -1 on error.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_db bench_db;         /* an open database (engine-defined) */
typedef struct bench_reader bench_reader; /* per-thread read context (engine-defined) */

/* Called once per pair by scan(), in key order. A non-zero return stops the
 * scan and is returned by scan(). key/val are valid during the call only. */
typedef int (*bench_scan_fn)(void *ctx, const void *key, size_t klen, const void *val,
                             size_t vlen);

typedef struct bench_engine {
    const char *id;   /* short name: "burrow", "lmdb", ... (directory name) */
    const char *name; /* display name: "BurrowDB", "LMDB", ... */

    /* Open the database kept in directory dir (which exists), creating it
     * when empty. Settings are the ones described in docs/benchmarks.md:
     * full durability on every commit. */
    int (*open)(const char *dir, bench_db **out);
    int (*close)(bench_db *db); /* frees db also on failure */

    /* One write transaction at a time, from the opening thread. */
    int (*wbegin)(bench_db *db);
    int (*put)(bench_db *db, const void *k, size_t klen, const void *v, size_t vlen);
    int (*del)(bench_db *db, const void *k, size_t klen); /* key must exist */
    int (*wcommit)(bench_db *db);                         /* durable */

    /* Readers: one per thread, opened before the timed part. A read
     * transaction (snapshot) spans rbegin..rend. *v stays valid until the
     * next get() or rend(). */
    int (*reader_open)(bench_db *db, bench_reader **out);
    void (*reader_close)(bench_reader *r);
    int (*rbegin)(bench_reader *r);
    int (*get)(bench_reader *r, const void *k, size_t klen, const void **v, size_t *vlen);
    int (*rend)(bench_reader *r);
    /* Ordered scan of every pair inside the current read transaction. */
    int (*scan)(bench_reader *r, bench_scan_fn fn, void *ctx);

    /* Optional (NULL when the engine has none). */
    int (*compact)(bench_db *db); /* make the files reflect the data (LSM) */
    int (*check)(bench_db *db);   /* engine's own integrity check */
    /* A one-line description of the engine's view of its files, or "". */
    void (*info)(bench_db *db, char *buf, size_t n);
    /* Library version at run time. */
    void (*version)(char *buf, size_t n);
} bench_engine;

/* The engines compiled into this binary. */
extern const bench_engine bench_lmdb;
extern const bench_engine bench_sqlite;
extern const bench_engine bench_rocksdb;
extern const bench_engine bench_leveldb;
#ifndef BENCH_NO_BURROW
extern const bench_engine bench_burrow;
#endif

/* Settings the engines need to know (set once by main before forking). */
typedef struct bench_config {
    uint64_t lmdb_map_size; /* bytes */
} bench_config;
extern bench_config bench_cfg;

/* Error message of the last failure on this thread. */
void bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *bench_error(void);

#endif /* BENCH_H */
