/*
 * eng_rocksdb.c — RocksDB (through its C API) behind the bench engine table.
 *
 * Settings: RocksDB's defaults (64 MB memtable, level compaction, block
 * based tables with the library's default compression and block cache, no
 * bloom filter) plus create_if_missing. A write transaction is a
 * WriteBatch written with WriteOptions.sync = true (one WAL fsync per
 * batch). A read transaction is a snapshot set in the reader's ReadOptions.
 * compact() flushes the memtable and compacts the whole key range, so the
 * files hold the data once (used before measuring file sizes).
 */
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

struct bench_db {
    rocksdb_t *db;
    rocksdb_options_t *opt;
    rocksdb_writeoptions_t *wopt;
    rocksdb_writebatch_t *batch;
};

struct bench_reader {
    bench_db *db;
    rocksdb_readoptions_t *ropt;
    const rocksdb_snapshot_t *snap;
    rocksdb_pinnableslice_t *last; /* the value returned by the last get */
};

static int rdb_err(const char *what, char *err) {
    bench_fail("rocksdb %s: %s", what, err ? err : "failed");
    rocksdb_free(err);
    return -1;
}

static int rdb_open(const char *dir, bench_db **out) {
    bench_db *db = calloc(1, sizeof *db);
    if (!db) return rdb_err("calloc", NULL);
    char *err = NULL;
    db->opt = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(db->opt, 1);
    db->db = rocksdb_open(db->opt, dir, &err);
    if (err) {
        rocksdb_options_destroy(db->opt);
        free(db);
        return rdb_err("open", err);
    }
    db->wopt = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(db->wopt, 1);
    db->batch = rocksdb_writebatch_create();
    *out = db;
    return 0;
}

static int rdb_close(bench_db *db) {
    rocksdb_close(db->db);
    rocksdb_writebatch_destroy(db->batch);
    rocksdb_writeoptions_destroy(db->wopt);
    rocksdb_options_destroy(db->opt);
    free(db);
    return 0;
}

static int rdb_wbegin(bench_db *db) {
    rocksdb_writebatch_clear(db->batch);
    return 0;
}

static int rdb_put(bench_db *db, const void *k, size_t klen, const void *v, size_t vlen) {
    rocksdb_writebatch_put(db->batch, k, klen, v, vlen);
    return 0;
}

static int rdb_del(bench_db *db, const void *k, size_t klen) {
    rocksdb_writebatch_delete(db->batch, k, klen);
    return 0;
}

static int rdb_wcommit(bench_db *db) {
    char *err = NULL;
    rocksdb_write(db->db, db->wopt, db->batch, &err);
    rocksdb_writebatch_clear(db->batch);
    return err ? rdb_err("write", err) : 0;
}

static int rdb_reader_open(bench_db *db, bench_reader **out) {
    bench_reader *r = calloc(1, sizeof *r);
    if (!r) return rdb_err("calloc", NULL);
    r->db = db;
    r->ropt = rocksdb_readoptions_create();
    *out = r;
    return 0;
}

static int rdb_rend(bench_reader *r) {
    if (r->last) rocksdb_pinnableslice_destroy(r->last);
    r->last = NULL;
    if (r->snap) rocksdb_release_snapshot(r->db->db, r->snap);
    r->snap = NULL;
    rocksdb_readoptions_set_snapshot(r->ropt, NULL);
    return 0;
}

static void rdb_reader_close(bench_reader *r) {
    rdb_rend(r);
    rocksdb_readoptions_destroy(r->ropt);
    free(r);
}

static int rdb_rbegin(bench_reader *r) {
    r->snap = rocksdb_create_snapshot(r->db->db);
    rocksdb_readoptions_set_snapshot(r->ropt, r->snap);
    return 0;
}

static int rdb_get(bench_reader *r, const void *k, size_t klen, const void **v, size_t *vlen) {
    char *err = NULL;
    if (r->last) rocksdb_pinnableslice_destroy(r->last);
    r->last = rocksdb_get_pinned(r->db->db, r->ropt, k, klen, &err);
    if (err) return rdb_err("get", err);
    if (!r->last) return 0;
    *v = rocksdb_pinnableslice_value(r->last, vlen);
    return 1;
}

static int rdb_scan(bench_reader *r, bench_scan_fn fn, void *ctx) {
    rocksdb_iterator_t *it = rocksdb_create_iterator(r->db->db, r->ropt);
    int stop = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        if ((stop = fn(ctx, k, kl, v, vl)) != 0) break;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    rocksdb_iter_destroy(it);
    if (err) return rdb_err("iterator", err);
    return stop;
}

static int rdb_compact(bench_db *db) {
    char *err = NULL;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    rocksdb_flush(db->db, fo, &err);
    rocksdb_flushoptions_destroy(fo);
    if (err) return rdb_err("flush", err);
    rocksdb_compact_range(db->db, NULL, 0, NULL, 0);
    return 0;
}

static void rdb_info(bench_db *db, char *buf, size_t n) {
    char *sst = rocksdb_property_value(db->db, "rocksdb.total-sst-files-size");
    char *live = rocksdb_property_value(db->db, "rocksdb.estimate-live-data-size");
    snprintf(buf, n, "total SST bytes %s, estimated live data %s", sst ? sst : "?",
             live ? live : "?");
    rocksdb_free(sst);
    rocksdb_free(live);
}

static void rdb_version(char *buf, size_t n) {
    snprintf(buf, n, "RocksDB (C API; version from dpkg)");
}

const bench_engine bench_rocksdb = {
    .id = "rocksdb",
    .name = "RocksDB",
    .open = rdb_open,
    .close = rdb_close,
    .wbegin = rdb_wbegin,
    .put = rdb_put,
    .del = rdb_del,
    .wcommit = rdb_wcommit,
    .reader_open = rdb_reader_open,
    .reader_close = rdb_reader_close,
    .rbegin = rdb_rbegin,
    .get = rdb_get,
    .rend = rdb_rend,
    .scan = rdb_scan,
    .compact = rdb_compact,
    .info = rdb_info,
    .version = rdb_version,
};
