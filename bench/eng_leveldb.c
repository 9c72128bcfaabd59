/*
 * eng_leveldb.c — LevelDB (through its C API) behind the bench engine table.
 *
 * Settings: LevelDB's defaults (4 MB write buffer, 2 MB table files, 4 KiB
 * blocks, 8 MB block cache, the library's default compression — Snappy in
 * Debian's build —, no bloom filter) plus create_if_missing. A write
 * transaction is a WriteBatch written with WriteOptions.sync = true (one log
 * sync per batch). A read transaction is a snapshot set in the reader's
 * ReadOptions. compact() compacts the whole key range, which first writes
 * the memtable out (LevelDB's CompactRange does that itself; its C API has
 * no separate flush), so the files hold the data once (used before measuring
 * file sizes).
 */
#include <leveldb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

struct bench_db {
    leveldb_t *db;
    leveldb_options_t *opt;
    leveldb_writeoptions_t *wopt;
    leveldb_writebatch_t *batch;
};

struct bench_reader {
    bench_db *db;
    leveldb_readoptions_t *ropt;
    const leveldb_snapshot_t *snap;
    char *last; /* the value returned by the last get (malloc'ed by LevelDB) */
};

static int ldb_err(const char *what, char *err) {
    bench_fail("leveldb %s: %s", what, err ? err : "failed");
    leveldb_free(err);
    return -1;
}

static int ldb_open(const char *dir, bench_db **out) {
    bench_db *db = calloc(1, sizeof *db);
    if (!db) return ldb_err("calloc", NULL);
    char *err = NULL;
    db->opt = leveldb_options_create();
    leveldb_options_set_create_if_missing(db->opt, 1);
    db->db = leveldb_open(db->opt, dir, &err);
    if (err) {
        leveldb_options_destroy(db->opt);
        free(db);
        return ldb_err("open", err);
    }
    db->wopt = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(db->wopt, 1);
    db->batch = leveldb_writebatch_create();
    *out = db;
    return 0;
}

static int ldb_close(bench_db *db) {
    leveldb_close(db->db);
    leveldb_writebatch_destroy(db->batch);
    leveldb_writeoptions_destroy(db->wopt);
    leveldb_options_destroy(db->opt);
    free(db);
    return 0;
}

static int ldb_wbegin(bench_db *db) {
    leveldb_writebatch_clear(db->batch);
    return 0;
}

static int ldb_put(bench_db *db, const void *k, size_t klen, const void *v, size_t vlen) {
    leveldb_writebatch_put(db->batch, k, klen, v, vlen);
    return 0;
}

static int ldb_del(bench_db *db, const void *k, size_t klen) {
    leveldb_writebatch_delete(db->batch, k, klen);
    return 0;
}

static int ldb_wcommit(bench_db *db) {
    char *err = NULL;
    leveldb_write(db->db, db->wopt, db->batch, &err);
    leveldb_writebatch_clear(db->batch);
    return err ? ldb_err("write", err) : 0;
}

static int ldb_reader_open(bench_db *db, bench_reader **out) {
    bench_reader *r = calloc(1, sizeof *r);
    if (!r) return ldb_err("calloc", NULL);
    r->db = db;
    r->ropt = leveldb_readoptions_create();
    *out = r;
    return 0;
}

static int ldb_rend(bench_reader *r) {
    leveldb_free(r->last);
    r->last = NULL;
    if (r->snap) leveldb_release_snapshot(r->db->db, r->snap);
    r->snap = NULL;
    leveldb_readoptions_set_snapshot(r->ropt, NULL);
    return 0;
}

static void ldb_reader_close(bench_reader *r) {
    ldb_rend(r);
    leveldb_readoptions_destroy(r->ropt);
    free(r);
}

static int ldb_rbegin(bench_reader *r) {
    r->snap = leveldb_create_snapshot(r->db->db);
    leveldb_readoptions_set_snapshot(r->ropt, r->snap);
    return 0;
}

static int ldb_get(bench_reader *r, const void *k, size_t klen, const void **v, size_t *vlen) {
    char *err = NULL;
    leveldb_free(r->last);
    r->last = leveldb_get(r->db->db, r->ropt, k, klen, vlen, &err);
    if (err) return ldb_err("get", err);
    if (!r->last) return 0;
    *v = r->last;
    return 1;
}

static int ldb_scan(bench_reader *r, bench_scan_fn fn, void *ctx) {
    leveldb_iterator_t *it = leveldb_create_iterator(r->db->db, r->ropt);
    int stop = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t kl, vl;
        const char *k = leveldb_iter_key(it, &kl);
        const char *v = leveldb_iter_value(it, &vl);
        if ((stop = fn(ctx, k, kl, v, vl)) != 0) break;
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    leveldb_iter_destroy(it);
    if (err) return ldb_err("iterator", err);
    return stop;
}

static int ldb_compact(bench_db *db) {
    /* NULL..NULL is the whole key range; the memtable is written out first. */
    leveldb_compact_range(db->db, NULL, 0, NULL, 0);
    return 0;
}

static void ldb_info(bench_db *db, char *buf, size_t n) {
    /* Table bytes over the whole key range (the harness's keys are 16
     * bytes, so 17 bytes of 0xff is past every one), and files per level. */
    char limit[17];
    memset(limit, 0xff, sizeof limit);
    const char *start_key = "", *limit_key = limit;
    size_t start_len = 0, limit_len = sizeof limit;
    uint64_t bytes = 0;
    leveldb_approximate_sizes(db->db, 1, &start_key, &start_len, &limit_key, &limit_len, &bytes);
    char levels[128] = "";
    size_t o = 0;
    for (int l = 0; l < 7 && o + 16 < sizeof levels; l++) {
        char prop[64];
        snprintf(prop, sizeof prop, "leveldb.num-files-at-level%d", l);
        char *v = leveldb_property_value(db->db, prop);
        o += (size_t)snprintf(levels + o, sizeof levels - o, "%s%s", l ? "/" : "", v ? v : "?");
        leveldb_free(v);
    }
    snprintf(buf, n, "approximate table bytes over the key range %llu, table files per level %s",
             (unsigned long long)bytes, levels);
}

static void ldb_version(char *buf, size_t n) {
    snprintf(buf, n, "LevelDB %d.%d (C API)", leveldb_major_version(), leveldb_minor_version());
}

const bench_engine bench_leveldb = {
    .id = "leveldb",
    .name = "LevelDB",
    .open = ldb_open,
    .close = ldb_close,
    .wbegin = ldb_wbegin,
    .put = ldb_put,
    .del = ldb_del,
    .wcommit = ldb_wcommit,
    .reader_open = ldb_reader_open,
    .reader_close = ldb_reader_close,
    .rbegin = ldb_rbegin,
    .get = ldb_get,
    .rend = ldb_rend,
    .scan = ldb_scan,
    .compact = ldb_compact,
    .info = ldb_info,
    .version = ldb_version,
};
