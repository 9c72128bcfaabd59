/*
 * eng_lmdb.c — LMDB behind the bench engine table.
 *
 * Settings: LMDB's defaults (sync on every commit, OS readahead on, 126
 * reader slots, the main unnamed database) except the map size, which is
 * set from bench_cfg.lmdb_map_size (at least 8 GiB). Puts use flags 0 (no
 * MDB_APPEND, even for the sequential fill).
 */
#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

struct bench_db {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *wtxn;
};

struct bench_reader {
    bench_db *db;
    MDB_txn *txn;
};

static int lmdb_err(const char *what, int rc) {
    bench_fail("lmdb %s: %s", what, mdb_strerror(rc));
    return -1;
}

static int lmdb_open(const char *dir, bench_db **out) {
    bench_db *db = calloc(1, sizeof *db);
    if (!db) return lmdb_err("calloc", ENOMEM);
    int rc = mdb_env_create(&db->env);
    if (rc) {
        free(db);
        return lmdb_err("env_create", rc);
    }
    MDB_txn *txn = NULL;
    if ((rc = mdb_env_set_mapsize(db->env, bench_cfg.lmdb_map_size)) ||
        (rc = mdb_env_open(db->env, dir, 0, 0644))) {
        mdb_env_close(db->env);
        free(db);
        return lmdb_err("env_open", rc);
    }
    if ((rc = mdb_txn_begin(db->env, NULL, MDB_RDONLY, &txn)) ||
        (rc = mdb_dbi_open(txn, NULL, 0, &db->dbi)) || (rc = mdb_txn_commit(txn))) {
        mdb_env_close(db->env);
        free(db);
        return lmdb_err("dbi_open", rc);
    }
    *out = db;
    return 0;
}

static int lmdb_close(bench_db *db) {
    if (db->wtxn) mdb_txn_abort(db->wtxn);
    mdb_env_close(db->env);
    free(db);
    return 0;
}

static int lmdb_wbegin(bench_db *db) {
    int rc = mdb_txn_begin(db->env, NULL, 0, &db->wtxn);
    return rc ? lmdb_err("txn_begin", rc) : 0;
}

static int lmdb_put(bench_db *db, const void *k, size_t klen, const void *v, size_t vlen) {
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    int rc = mdb_put(db->wtxn, db->dbi, &key, &val, 0);
    return rc ? lmdb_err("put", rc) : 0;
}

static int lmdb_del(bench_db *db, const void *k, size_t klen) {
    MDB_val key = {klen, (void *)k};
    int rc = mdb_del(db->wtxn, db->dbi, &key, NULL);
    return rc ? lmdb_err("del", rc) : 0;
}

static int lmdb_wcommit(bench_db *db) {
    int rc = mdb_txn_commit(db->wtxn);
    db->wtxn = NULL;
    return rc ? lmdb_err("txn_commit", rc) : 0;
}

static int lmdb_reader_open(bench_db *db, bench_reader **out) {
    bench_reader *r = calloc(1, sizeof *r);
    if (!r) return lmdb_err("calloc", ENOMEM);
    r->db = db;
    *out = r;
    return 0;
}

static void lmdb_reader_close(bench_reader *r) {
    if (r->txn) mdb_txn_abort(r->txn);
    free(r);
}

static int lmdb_rbegin(bench_reader *r) {
    int rc = mdb_txn_begin(r->db->env, NULL, MDB_RDONLY, &r->txn);
    return rc ? lmdb_err("txn_begin(rdonly)", rc) : 0;
}

static int lmdb_get(bench_reader *r, const void *k, size_t klen, const void **v, size_t *vlen) {
    MDB_val key = {klen, (void *)k}, val;
    int rc = mdb_get(r->txn, r->db->dbi, &key, &val);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc) return lmdb_err("get", rc);
    *v = val.mv_data;
    *vlen = val.mv_size;
    return 1;
}

static int lmdb_rend(bench_reader *r) {
    mdb_txn_abort(r->txn);
    r->txn = NULL;
    return 0;
}

static int lmdb_scan(bench_reader *r, bench_scan_fn fn, void *ctx) {
    MDB_cursor *cur;
    int rc = mdb_cursor_open(r->txn, r->db->dbi, &cur);
    if (rc) return lmdb_err("cursor_open", rc);
    MDB_val k, v;
    int stop = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if ((stop = fn(ctx, k.mv_data, k.mv_size, v.mv_data, v.mv_size)) != 0) break;
    }
    mdb_cursor_close(cur);
    if (stop) return stop;
    return rc == MDB_NOTFOUND ? 0 : lmdb_err("cursor_get", rc);
}

static void lmdb_info(bench_db *db, char *buf, size_t n) {
    MDB_envinfo ei;
    MDB_stat st;
    mdb_env_info(db->env, &ei);
    mdb_env_stat(db->env, &st);
    snprintf(buf, n, "page size %u, last page %zu, depth %u, %zu branch / %zu leaf / %zu overflow pages",
             st.ms_psize, ei.me_last_pgno, st.ms_depth, st.ms_branch_pages, st.ms_leaf_pages,
             st.ms_overflow_pages);
}

static void lmdb_version(char *buf, size_t n) {
    snprintf(buf, n, "%s", mdb_version(NULL, NULL, NULL));
}

const bench_engine bench_lmdb = {
    .id = "lmdb",
    .name = "LMDB",
    .open = lmdb_open,
    .close = lmdb_close,
    .wbegin = lmdb_wbegin,
    .put = lmdb_put,
    .del = lmdb_del,
    .wcommit = lmdb_wcommit,
    .reader_open = lmdb_reader_open,
    .reader_close = lmdb_reader_close,
    .rbegin = lmdb_rbegin,
    .get = lmdb_get,
    .rend = lmdb_rend,
    .scan = lmdb_scan,
    .info = lmdb_info,
    .version = lmdb_version,
};
