/*
 * eng_sqlite.c — SQLite behind the bench engine table.
 *
 * Settings: one table `kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID` (a
 * clustered B-tree keyed by k, SQLite's closest shape to a key-value
 * store), PRAGMA journal_mode=WAL and synchronous=FULL (one fsync of the
 * WAL per commit), everything else default (4 KiB pages, 2 MB page cache per
 * connection, automatic checkpoints every 1,000 WAL pages, no mmap).
 * Statements are prepared once. Writes use INSERT OR REPLACE (a put).
 *
 * Each reader thread has its own connection (opened SQLITE_OPEN_NOMUTEX),
 * except that the first reader borrows the writer's connection, which is
 * idle while reads run; so "open + first get" opens exactly one connection.
 * A read transaction is BEGIN ... COMMIT around the batch.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct bench_db {
    sqlite3 *conn;
    char path[4096];
    sqlite3_stmt *begin, *commit, *put, *del;
    int conn_borrowed; /* a reader is using conn */
};

struct bench_reader {
    bench_db *db;
    sqlite3 *conn;
    int borrowed;
    sqlite3_stmt *begin, *commit, *get, *scan;
};

static int sq_err(sqlite3 *c, const char *what, int rc) {
    bench_fail("sqlite %s: %s (%s)", what, sqlite3_errstr(rc), c ? sqlite3_errmsg(c) : "");
    return -1;
}

static int sq_exec(sqlite3 *c, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(c, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        bench_fail("sqlite '%s': %s", sql, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int sq_prepare(sqlite3 *c, const char *sql, sqlite3_stmt **st) {
    int rc = sqlite3_prepare_v3(c, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? 0 : sq_err(c, sql, rc);
}

/* Runs a prepared statement that returns no rows. */
static int sq_step_done(sqlite3 *c, sqlite3_stmt *st, const char *what) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : sq_err(c, what, rc);
}

static int sq_connect(const char *path, sqlite3 **out) {
    int rc = sqlite3_open_v2(path, out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                                            SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        sq_err(*out, "open", rc);
        sqlite3_close(*out);
        return -1;
    }
    sqlite3_busy_timeout(*out, 10000);
    return 0;
}

static void sq_free(bench_db *db) {
    sqlite3_finalize(db->begin);
    sqlite3_finalize(db->commit);
    sqlite3_finalize(db->put);
    sqlite3_finalize(db->del);
    sqlite3_close(db->conn);
    free(db);
}

static int sq_open(const char *dir, bench_db **out) {
    bench_db *db = calloc(1, sizeof *db);
    if (!db) return sq_err(NULL, "calloc", SQLITE_NOMEM);
    snprintf(db->path, sizeof db->path, "%s/data.sqlite", dir);
    if (sq_connect(db->path, &db->conn)) {
        free(db);
        return -1;
    }
    if (sq_exec(db->conn, "PRAGMA journal_mode=WAL") ||
        sq_exec(db->conn, "PRAGMA synchronous=FULL") ||
        sq_exec(db->conn,
                "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID") ||
        sq_prepare(db->conn, "BEGIN", &db->begin) || sq_prepare(db->conn, "COMMIT", &db->commit) ||
        sq_prepare(db->conn, "INSERT OR REPLACE INTO kv(k, v) VALUES(?1, ?2)", &db->put) ||
        sq_prepare(db->conn, "DELETE FROM kv WHERE k = ?1", &db->del)) {
        sq_free(db);
        return -1;
    }
    *out = db;
    return 0;
}

static int sq_close(bench_db *db) {
    sq_free(db);
    return 0;
}

static int sq_wbegin(bench_db *db) {
    return sq_step_done(db->conn, db->begin, "BEGIN");
}

static int sq_put(bench_db *db, const void *k, size_t klen, const void *v, size_t vlen) {
    sqlite3_bind_blob(db->put, 1, k, (int)klen, SQLITE_STATIC);
    sqlite3_bind_blob(db->put, 2, v, (int)vlen, SQLITE_STATIC);
    return sq_step_done(db->conn, db->put, "INSERT");
}

static int sq_del(bench_db *db, const void *k, size_t klen) {
    sqlite3_bind_blob(db->del, 1, k, (int)klen, SQLITE_STATIC);
    if (sq_step_done(db->conn, db->del, "DELETE")) return -1;
    if (sqlite3_changes(db->conn) != 1) {
        bench_fail("sqlite DELETE: key not found");
        return -1;
    }
    return 0;
}

static int sq_wcommit(bench_db *db) {
    return sq_step_done(db->conn, db->commit, "COMMIT");
}

static void sq_reader_free(bench_reader *r) {
    sqlite3_finalize(r->begin);
    sqlite3_finalize(r->commit);
    sqlite3_finalize(r->get);
    sqlite3_finalize(r->scan);
    if (r->borrowed)
        r->db->conn_borrowed = 0;
    else
        sqlite3_close(r->conn);
    free(r);
}

static int sq_reader_open(bench_db *db, bench_reader **out) {
    bench_reader *r = calloc(1, sizeof *r);
    if (!r) return sq_err(NULL, "calloc", SQLITE_NOMEM);
    r->db = db;
    if (!db->conn_borrowed) {
        db->conn_borrowed = r->borrowed = 1;
        r->conn = db->conn;
    } else if (sq_connect(db->path, &r->conn)) {
        free(r);
        return -1;
    }
    if (sq_prepare(r->conn, "BEGIN", &r->begin) || sq_prepare(r->conn, "COMMIT", &r->commit) ||
        sq_prepare(r->conn, "SELECT v FROM kv WHERE k = ?1", &r->get) ||
        sq_prepare(r->conn, "SELECT k, v FROM kv ORDER BY k", &r->scan)) {
        sq_reader_free(r);
        return -1;
    }
    *out = r;
    return 0;
}

static void sq_reader_close(bench_reader *r) {
    sq_reader_free(r);
}

static int sq_rbegin(bench_reader *r) {
    return sq_step_done(r->conn, r->begin, "BEGIN");
}

static int sq_get(bench_reader *r, const void *k, size_t klen, const void **v, size_t *vlen) {
    sqlite3_reset(r->get); /* the previous row stays valid until here */
    sqlite3_bind_blob(r->get, 1, k, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(r->get);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) return sq_err(r->conn, "SELECT", rc);
    *v = sqlite3_column_blob(r->get, 0);
    *vlen = (size_t)sqlite3_column_bytes(r->get, 0);
    return 1;
}

static int sq_rend(bench_reader *r) {
    sqlite3_reset(r->get);
    return sq_step_done(r->conn, r->commit, "COMMIT");
}

static int sq_scan(bench_reader *r, bench_scan_fn fn, void *ctx) {
    int rc, stop = 0;
    while ((rc = sqlite3_step(r->scan)) == SQLITE_ROW) {
        const void *k = sqlite3_column_blob(r->scan, 0);
        size_t kl = (size_t)sqlite3_column_bytes(r->scan, 0);
        const void *v = sqlite3_column_blob(r->scan, 1);
        size_t vl = (size_t)sqlite3_column_bytes(r->scan, 1);
        if ((stop = fn(ctx, k, kl, v, vl)) != 0) break;
    }
    sqlite3_reset(r->scan);
    if (stop) return stop;
    return rc == SQLITE_DONE ? 0 : sq_err(r->conn, "scan", rc);
}

static long long sq_pragma_int(sqlite3 *c, const char *sql) {
    sqlite3_stmt *st;
    long long v = -1;
    if (sqlite3_prepare_v2(c, sql, -1, &st, NULL) != SQLITE_OK) return -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void sq_info(bench_db *db, char *buf, size_t n) {
    snprintf(buf, n, "page size %lld, %lld pages, %lld on the freelist",
             sq_pragma_int(db->conn, "PRAGMA page_size"),
             sq_pragma_int(db->conn, "PRAGMA page_count"),
             sq_pragma_int(db->conn, "PRAGMA freelist_count"));
}

static void sq_version(char *buf, size_t n) {
    snprintf(buf, n, "SQLite %s", sqlite3_libversion());
}

const bench_engine bench_sqlite = {
    .id = "sqlite",
    .name = "SQLite",
    .open = sq_open,
    .close = sq_close,
    .wbegin = sq_wbegin,
    .put = sq_put,
    .del = sq_del,
    .wcommit = sq_wcommit,
    .reader_open = sq_reader_open,
    .reader_close = sq_reader_close,
    .rbegin = sq_rbegin,
    .get = sq_get,
    .rend = sq_rend,
    .scan = sq_scan,
    .info = sq_info,
    .version = sq_version,
};
