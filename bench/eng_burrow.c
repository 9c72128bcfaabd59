/*
 * eng_burrow.c — BurrowDB (include/burrow.h) behind the bench engine table.
 *
 * Settings: burrow_options defaults (4 KiB pages, 1 TiB map reserve) with
 * sync_mode = BURROW_SYNC_FULL. All keys live in one bucket, "bench". Its
 * handle is looked up at open in a read-only transaction (so opening an
 * existing database writes nothing); on a new file it is created in the
 * first write transaction. The handle is then reused for the whole run.
 */
#include <burrow.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define BUCKET "bench"

struct bench_db {
    burrow_db *db;
    burrow_bucket bucket;
    int have_bucket;
    burrow_txn *wtxn;
};

struct bench_reader {
    bench_db *db;
    burrow_txn *txn;
};

static int bw_err(const char *what, int rc) {
    bench_fail("burrow %s: %s (%d) %s", what, burrow_strerror(rc), rc, burrow_errmsg());
    return -1;
}

static int bw_open(const char *dir, bench_db **out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/data.burrow", dir);
    bench_db *db = calloc(1, sizeof *db);
    if (!db) return bw_err("calloc", BURROW_ENOMEM);
    burrow_options o;
    burrow_options_init(&o);
    o.sync_mode = BURROW_SYNC_FULL;
    int rc = burrow_open(path, &o, &db->db);
    if (rc) {
        free(db);
        return bw_err("open", rc);
    }
    burrow_txn *t;
    if ((rc = burrow_txn_begin(db->db, NULL, BURROW_TXN_RDONLY, &t)) != 0) {
        burrow_close(db->db);
        free(db);
        return bw_err("txn_begin(rdonly)", rc);
    }
    rc = burrow_bucket_open(t, BUCKET, 0, &db->bucket);
    burrow_txn_abort(t);
    if (rc == 0) {
        db->have_bucket = 1;
    } else if (rc != BURROW_ENOTFOUND) {
        burrow_close(db->db);
        free(db);
        return bw_err("bucket_open", rc);
    }
    *out = db;
    return 0;
}

static int bw_close(bench_db *db) {
    if (db->wtxn) burrow_txn_abort(db->wtxn);
    int rc = burrow_close(db->db);
    free(db);
    return rc ? bw_err("close", rc) : 0;
}

static int bw_wbegin(bench_db *db) {
    int rc = burrow_txn_begin(db->db, NULL, 0, &db->wtxn);
    if (rc) return bw_err("txn_begin", rc);
    if (!db->have_bucket) {
        rc = burrow_bucket_open(db->wtxn, BUCKET, BURROW_CREATE, &db->bucket);
        if (rc) return bw_err("bucket_open(CREATE)", rc);
        db->have_bucket = 1;
    }
    return 0;
}

static int bw_put(bench_db *db, const void *k, size_t klen, const void *v, size_t vlen) {
    int rc = burrow_put(db->wtxn, db->bucket, k, klen, v, vlen, 0);
    return rc ? bw_err("put", rc) : 0;
}

static int bw_del(bench_db *db, const void *k, size_t klen) {
    int rc = burrow_del(db->wtxn, db->bucket, k, klen);
    return rc ? bw_err("del", rc) : 0;
}

static int bw_wcommit(bench_db *db) {
    int rc = burrow_txn_commit(db->wtxn);
    db->wtxn = NULL;
    return rc ? bw_err("txn_commit", rc) : 0;
}

static int bw_reader_open(bench_db *db, bench_reader **out) {
    bench_reader *r = calloc(1, sizeof *r);
    if (!r) return bw_err("calloc", BURROW_ENOMEM);
    r->db = db;
    *out = r;
    return 0;
}

static void bw_reader_close(bench_reader *r) {
    if (r->txn) burrow_txn_abort(r->txn);
    free(r);
}

static int bw_rbegin(bench_reader *r) {
    int rc = burrow_txn_begin(r->db->db, NULL, BURROW_TXN_RDONLY, &r->txn);
    return rc ? bw_err("txn_begin(rdonly)", rc) : 0;
}

static int bw_get(bench_reader *r, const void *k, size_t klen, const void **v, size_t *vlen) {
    burrow_val val;
    int rc = burrow_get(r->txn, r->db->bucket, k, klen, &val);
    if (rc == BURROW_ENOTFOUND) return 0;
    if (rc) return bw_err("get", rc);
    *v = val.data;
    *vlen = val.size;
    return 1;
}

static int bw_rend(bench_reader *r) {
    burrow_txn_abort(r->txn);
    r->txn = NULL;
    return 0;
}

static int bw_scan(bench_reader *r, bench_scan_fn fn, void *ctx) {
    burrow_cursor *cur;
    int rc = burrow_cursor_open(r->txn, r->db->bucket, &cur);
    if (rc) return bw_err("cursor_open", rc);
    burrow_val k, v;
    int stop = 0;
    for (rc = burrow_cursor_first(cur, &k, &v); rc == 0; rc = burrow_cursor_next(cur, &k, &v)) {
        if ((stop = fn(ctx, k.data, k.size, v.data, v.size)) != 0) break;
    }
    burrow_cursor_close(cur);
    if (stop) return stop;
    return rc == BURROW_ENOTFOUND ? 0 : bw_err("cursor_next", rc);
}

static int bw_check(bench_db *db) {
    int rc = burrow_check(db->db);
    return rc ? bw_err("check", rc) : 0;
}

static void bw_info(bench_db *db, char *buf, size_t n) {
    burrow_db_stats st;
    int rc = burrow_db_stat(db->db, &st);
    if (rc) {
        snprintf(buf, n, "burrow_db_stat failed: %s", burrow_strerror(rc));
        return;
    }
    snprintf(buf, n,
             "page size %u, file_size %llu, page_count %llu, free %llu, pending %llu, "
             "freelist pages %llu, last txn %llu",
             st.page_size, (unsigned long long)st.file_size, (unsigned long long)st.page_count,
             (unsigned long long)st.free_pages, (unsigned long long)st.pending_pages,
             (unsigned long long)st.freelist_pages, (unsigned long long)st.last_txn);
}

static void bw_version(char *buf, size_t n) {
    snprintf(buf, n, "BurrowDB %d.%d.%d", BURROW_VERSION_MAJOR, BURROW_VERSION_MINOR,
             BURROW_VERSION_PATCH);
}

const bench_engine bench_burrow = {
    .id = "burrow",
    .name = "BurrowDB",
    .open = bw_open,
    .close = bw_close,
    .wbegin = bw_wbegin,
    .put = bw_put,
    .del = bw_del,
    .wcommit = bw_wcommit,
    .reader_open = bw_reader_open,
    .reader_close = bw_reader_close,
    .rbegin = bw_rbegin,
    .get = bw_get,
    .rend = bw_rend,
    .scan = bw_scan,
    .check = bw_check,
    .info = bw_info,
    .version = bw_version,
};
