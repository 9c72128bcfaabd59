/*
 * keyspace.h — burrowd's Redis keyspace, kept in the database file.
 *
 * The keys of GET/SET/DEL/EXPIRE/SCAN and of the JSON.* commands form one
 * namespace, as in Redis: each key holds one typed value, a string (any
 * bytes) or a JSON document (a binary document, doc/doc.h). Collections of
 * the DOC.* commands are not part of it.
 *
 * It lives in two buckets of the database, written through include/burrow.h
 * only (the value layout is described at the top of keyspace.c):
 *   "_burrow.kv"      key -> value header + payload
 *   "_burrow.kv.exp"  big-endian expiry ms + key -> empty, for the sweep
 * A key with an expiry at or before "now" is missing to every call that
 * takes now_ms; it stays on disk until ks_sweep, ks_del or a ks_set of the
 * same key removes it (Redis's lazy + active expiry). Expiry is durable: it
 * is part of the value, so it holds after a restart.
 *
 * Every call takes the caller's transaction (a write txn for changes, any
 * txn for reads): the data thread runs a whole batch of commands in one
 * transaction. The handle itself holds only bucket handles and the SCAN
 * cursor table; it is used by one thread (the data thread).
 */
#ifndef BURROW_SERVER_KEYSPACE_H
#define BURROW_SERVER_KEYSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "burrow.h"

enum ks_type {
    KS_NONE = 0,
    KS_STRING = 1, /* TYPE says "string" */
    KS_JSON = 2,   /* TYPE says "ReJSON-RL", as RedisJSON does */
};

typedef struct keyspace keyspace;

/* Open the keyspace of db, creating its buckets on first use (in a write
 * txn of its own, so call it before any other write txn is live). */
int ks_open(burrow_db *db, keyspace **out);
void ks_close(keyspace *ks);

/* Longest key: the engine's largest key minus the keyspace's own bytes. */
size_t ks_max_key(const keyspace *ks);

typedef struct ks_value {
    int type;          /* enum ks_type */
    const void *data;  /* the string's bytes / the binary document; valid
                          until the next write in the txn or its end */
    size_t len;
    uint64_t expire_ms; /* Unix ms; 0 = no expiry */
} ks_value;

/* The live value of key, or BURROW_ENOTFOUND (also when expired). */
int ks_get(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, uint64_t now_ms,
           ks_value *out);

/* Store a value under key, replacing whatever was there (any type), with
 * expire_ms (0 = none). The empty key is a key, as in Redis; BURROW_EINVAL
 * for a key longer than ks_max_key(). */
int ks_set(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, int type,
           const void *val, size_t vlen, uint64_t expire_ms);

/* Delete key. 1 when a live key was deleted, 0 when there was none (an
 * expired one is removed too, and counts as none). */
int ks_del(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, uint64_t now_ms);

/* Change the expiry of a live key, keeping its value (0 = persist).
 * 1 when the key exists, 0 when not. */
int ks_set_expire(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, uint64_t now_ms,
                  uint64_t expire_ms);

/* Number of keys stored, expired ones not yet removed included (as Redis's
 * DBSIZE); O(1). */
int ks_count(keyspace *ks, burrow_txn *txn, uint64_t *n);

/* Number of stored keys that carry an expiry (INFO keyspace "expires=");
 * O(1). */
int ks_count_expires(keyspace *ks, burrow_txn *txn, uint64_t *n);

/* Remove up to max keys whose expiry is at or before now_ms, earliest
 * first. Returns how many (>= 0) or an error; cost O(max log n). */
int ks_sweep(keyspace *ks, burrow_txn *txn, uint64_t now_ms, unsigned max);

/* Remove every key (FLUSHDB). */
int ks_flush(keyspace *ks, burrow_txn *txn);

/*
 * Walk live keys in byte order from the first key >= start (start NULL or
 * slen 0: from the first key), calling fn for each that matches pattern
 * (NULL = all; glob.h syntax) and type (KS_NONE = any), until max_visit
 * keys have been looked at (matching or not; 0 = no limit) or fn returns
 * non-zero (returned). When keys remain, *next is set to the key to start
 * from next time and 1 is returned; 0 when the walk reached the end. key is
 * valid during the call only.
 */
typedef int (*ks_scan_fn)(void *ctx, const void *key, size_t klen, int type);
int ks_scan(keyspace *ks, burrow_txn *txn, const void *start, size_t slen, const char *pattern,
            size_t plen, int type, uint64_t now_ms, size_t max_visit, ks_scan_fn fn, void *ctx,
            buf *next);

/*
 * A live key for RANDOMKEY, copied into *key: 1, or 0 when none was found
 * within max_visit keys looked at (0 = no limit). It is not uniform: seed
 * picks a point between the first and the last stored key, then a few
 * (under 64) keys further, and the first live key from there on is taken,
 * wrapping around to the first key. The cost is O(log n + max_visit)
 * whatever the size of the keyspace.
 */
int ks_random(keyspace *ks, burrow_txn *txn, uint64_t now_ms, uint64_t seed, size_t max_visit,
              buf *key);

/*
 * SCAN cursors. Redis clients treat a cursor as an unsigned integer and
 * stop at "0", so the keyspace keeps a bounded table from cursor numbers
 * to resume keys. ks_cursor_save stores a copy of the key and returns a
 * fresh non-zero number; ks_cursor_load copies the key of a cursor into
 * *key (1) or returns 0 when the number is unknown or was pushed out of
 * the table (the table holds the newest KS_CURSORS cursors). A cursor can
 * be used more than once.
 */
#define KS_CURSORS 4096
int ks_cursor_save(keyspace *ks, const void *key, size_t klen, uint64_t *cursor);
int ks_cursor_load(keyspace *ks, uint64_t cursor, buf *key);

#endif
