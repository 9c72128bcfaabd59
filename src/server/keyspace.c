/*
 * keyspace.c — burrowd's Redis keyspace on top of include/burrow.h.
 *
 * Storage. Two buckets, both written in the caller's transaction, so a
 * value and its expiry entry change together or not at all:
 *
 *   "_burrow.kv"      key -> value
 *   "_burrow.kv.exp"  expiry key -> empty value
 *
 * A key of "_burrow.kv" is the Redis key itself, byte for byte, 0 to
 * ks_max_key() bytes. The engine accepts empty keys, so SET "" x needs no
 * encoding. The order of the bucket is the engine's: memcmp, shorter first
 * on a tie; SCAN and KEYS walk keys in that order.
 *
 * A value of "_burrow.kv":
 *
 *   offset  size  field
 *   0       1     header: bits 0-3 the type (1 = string, 2 = JSON document;
 *                 enum ks_type), bits 4-6 zero, bit 7 set when an expiry
 *                 follows
 *   1       8     only when bit 7 is set: the expiry, Unix milliseconds,
 *                 unsigned little-endian, never 0
 *   1 or 9  n     the payload: the string's bytes, or the binary document
 *                 (docs/documents.md) of a JSON value; n may be 0
 *
 * So a string without expiry costs one byte more than its text, and one
 * with an expiry nine. A value whose header has an unknown type, a
 * reserved bit set, an expiry of 0 or too few bytes for its header is
 * BURROW_ECORRUPT.
 *
 * A key of "_burrow.kv.exp":
 *
 *   offset  size  field
 *   0       8     the expiry, Unix milliseconds, unsigned big-endian (so
 *                 the bucket's byte order is expiry order)
 *   8       k     the Redis key
 *
 * with an empty value. Invariant: a key of "_burrow.kv" has an expiry e in
 * its header exactly when "_burrow.kv.exp" holds (e, key). Hence the
 * longest Redis key is the engine's longest key minus 8 (ks_max_key), the
 * number of keys with an expiry is the key count of "_burrow.kv.exp" (O(1)
 * through burrow_bucket_count), and the sweep removes expired keys
 * earliest first by walking that bucket from its start, O(log n) each.
 *
 * Expiry. A key whose expiry e satisfies e <= now is missing to every call
 * that takes now_ms (Redis: a key with a TTL of 0 ms is gone). It stays in
 * both buckets, and in ks_count, until a write removes it: ks_sweep, ks_del,
 * ks_set (which replaces it), or ks_set_expire (which deletes it and says
 * 0). Reads never write, so read transactions can see expired keys on disk
 * and skip them.
 *
 * Changing only the expiry of a key rewrites its whole value (the header is
 * part of it). The engine copies a value's pages on every change anyway, so
 * EXPIRE on a large value costs about what a SET of it costs.
 *
 * SCAN cursors. A Redis cursor is a number, and our walk resumes from a key,
 * so the handle keeps a table of KS_CURSORS slots. Cursor numbers are handed
 * out consecutively, and cursor c lives in slot c % KS_CURSORS: the newest
 * KS_CURSORS cursors therefore occupy distinct slots, a new cursor pushes
 * out exactly the oldest one, and a lookup is one comparison. The first
 * number is taken from the wall clock at ks_open (milliseconds times 256),
 * so a cursor a client kept across a restart of burrowd is very unlikely to
 * name a cursor of the new process; numbers stay below 2^53 so that
 * clients which read them as doubles (JavaScript) keep them exact.
 */
#include "server/keyspace.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/endian.h"
#include "base/err.h"
#include "server/glob.h"

#define KV_BUCKET "_burrow.kv"
#define EXP_BUCKET "_burrow.kv.exp"

#define HDR_TYPE_MASK 0x0Fu
#define HDR_RESERVED 0x70u
#define HDR_EXPIRY 0x80u
#define EXP_PREFIX 8 /* bytes of the expiry before the key in EXP_BUCKET */

/* The scratch buffer that builds values is released after a value larger
 * than this, so one 512 MiB SET does not pin 512 MiB until ks_close. */
#define SCRATCH_KEEP (1u << 20)

typedef struct cursor_slot {
    uint64_t id; /* 0 = empty */
    buf key;
} cursor_slot;

struct keyspace {
    burrow_db *db;
    burrow_bucket kv, exp;
    size_t max_key;
    buf scratch; /* a value being built */
    buf ekey;    /* an expiry key being built */
    buf keycopy; /* a key copied out of a cursor before a write */
    uint64_t next_cursor;
    cursor_slot cursors[KS_CURSORS];
};

/* ---- the value header ------------------------------------------------------------ */

typedef struct decoded {
    int type;
    uint64_t expire_ms;
    const uint8_t *payload;
    size_t len;
} decoded;

static int decode(const void *key, size_t klen, const burrow_val *v, decoded *d)
{
    const uint8_t *p = v->data;
    if (v->size < 1)
        return diag_set(BURROW_ECORRUPT, "keyspace: key '%.*s': empty value", (int)(klen > 64 ? 64 : klen),
                        (const char *)key);
    uint8_t h = p[0];
    unsigned type = h & HDR_TYPE_MASK;
    if ((type != KS_STRING && type != KS_JSON) || (h & HDR_RESERVED))
        return diag_set(BURROW_ECORRUPT, "keyspace: key '%.*s': bad header byte 0x%02x",
                        (int)(klen > 64 ? 64 : klen), (const char *)key, h);
    d->type = (int)type;
    d->expire_ms = 0;
    size_t off = 1;
    if (h & HDR_EXPIRY) {
        if (v->size < 9)
            return diag_set(BURROW_ECORRUPT, "keyspace: key '%.*s': value of %zu bytes too short for its expiry",
                            (int)(klen > 64 ? 64 : klen), (const char *)key, v->size);
        d->expire_ms = le64_load(p + 1);
        if (d->expire_ms == 0)
            return diag_set(BURROW_ECORRUPT, "keyspace: key '%.*s': expiry 0",
                            (int)(klen > 64 ? 64 : klen), (const char *)key);
        off = 9;
    }
    d->payload = p + off;
    d->len = v->size - off;
    return 0;
}

static bool expired(uint64_t expire_ms, uint64_t now_ms)
{
    return expire_ms != 0 && expire_ms <= now_ms;
}

/* Header + payload into ks->scratch. payload may point into the database:
 * it is copied here, before the caller writes anything. */
static int build_value(keyspace *ks, int type, uint64_t expire_ms, const void *payload, size_t len)
{
    size_t hlen = expire_ms ? 9 : 1;
    if (len > BURROW_MAX_VALUE_SIZE - hlen)
        return diag_set(BURROW_EVALSIZE, "keyspace: value of %zu bytes is too large", len);
    ks->scratch.size = 0;
    int rc = buf_reserve(&ks->scratch, hlen + len);
    if (rc)
        return rc;
    uint8_t *p = ks->scratch.data;
    p[0] = (uint8_t)type | (expire_ms ? HDR_EXPIRY : 0);
    if (expire_ms)
        le64_store(p + 1, expire_ms);
    if (len)
        memcpy(p + hlen, payload, len);
    ks->scratch.size = hlen + len;
    return 0;
}

static void scratch_release(keyspace *ks)
{
    if (ks->scratch.cap > SCRATCH_KEEP)
        buf_free(&ks->scratch);
    ks->scratch.size = 0;
}

/* ---- the expiry bucket --------------------------------------------------------- */

static int build_ekey(keyspace *ks, uint64_t expire_ms, const void *key, size_t klen)
{
    ks->ekey.size = 0;
    int rc = buf_reserve(&ks->ekey, EXP_PREFIX + klen);
    if (rc)
        return rc;
    uint8_t *p = ks->ekey.data;
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(expire_ms >> (56 - 8 * i));
    if (klen)
        memcpy(p + EXP_PREFIX, key, klen);
    ks->ekey.size = EXP_PREFIX + klen;
    return 0;
}

static uint64_t ekey_expiry(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static int exp_put(keyspace *ks, burrow_txn *txn, uint64_t expire_ms, const void *key, size_t klen)
{
    int rc = build_ekey(ks, expire_ms, key, klen);
    if (rc)
        return rc;
    return burrow_put(txn, ks->exp, ks->ekey.data, ks->ekey.size, "", 0, 0);
}

static int exp_del(keyspace *ks, burrow_txn *txn, uint64_t expire_ms, const void *key, size_t klen)
{
    int rc = build_ekey(ks, expire_ms, key, klen);
    if (rc)
        return rc;
    rc = burrow_del(txn, ks->exp, ks->ekey.data, ks->ekey.size);
    if (rc == BURROW_ENOTFOUND)
        return diag_set(BURROW_ECORRUPT, "keyspace: key '%.*s' has an expiry but no entry in '%s'",
                        (int)(klen > 64 ? 64 : klen), (const char *)key, EXP_BUCKET);
    return rc;
}

/* ---- open, close ----------------------------------------------------------------- */

static int open_buckets(keyspace *ks, burrow_txn *txn)
{
    int rc = burrow_bucket_open(txn, KV_BUCKET, BURROW_CREATE, &ks->kv);
    if (rc == 0)
        rc = burrow_bucket_open(txn, EXP_BUCKET, BURROW_CREATE, &ks->exp);
    return rc;
}

int ks_open(burrow_db *db, keyspace **out)
{
    assert(db && out);
    size_t engine_max = burrow_max_key_size(db);
    if (engine_max <= EXP_PREFIX)
        return diag_set(BURROW_EINVAL, "keyspace: the database's keys (%zu bytes) are too short",
                        engine_max);
    keyspace *ks = calloc(1, sizeof *ks);
    if (!ks)
        return BURROW_ENOMEM;
    ks->db = db;
    ks->max_key = engine_max - EXP_PREFIX;

    burrow_txn *txn;
    int rc = burrow_txn_begin(db, NULL, 0, &txn);
    if (rc) {
        free(ks);
        return rc;
    }
    rc = open_buckets(ks, txn);
    if (rc) {
        burrow_txn_abort(txn);
        free(ks);
        return rc;
    }
    rc = burrow_txn_commit(txn);
    if (rc) {
        free(ks);
        return rc;
    }

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    ks->next_cursor = (ms << 8) & ((UINT64_C(1) << 52) - 1);
    if (ks->next_cursor == 0)
        ks->next_cursor = 1;
    *out = ks;
    return 0;
}

void ks_close(keyspace *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < KS_CURSORS; i++)
        buf_free(&ks->cursors[i].key);
    buf_free(&ks->scratch);
    buf_free(&ks->ekey);
    buf_free(&ks->keycopy);
    free(ks);
}

size_t ks_max_key(const keyspace *ks) { return ks->max_key; }

static int check_key(const keyspace *ks, const void *key, size_t klen)
{
    if (klen > ks->max_key)
        return diag_set(BURROW_EINVAL, "key of %zu bytes is longer than the longest key (%zu bytes)",
                        klen, ks->max_key);
    if (!key && klen)
        return diag_set(BURROW_EINVAL, "keyspace: NULL key");
    return 0;
}

/* ---- reads --------------------------------------------------------------------- */

/* The stored entry of key, expired or not: 0, BURROW_ENOTFOUND or an error. */
static int load(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, decoded *d)
{
    burrow_val v;
    int rc = burrow_get(txn, ks->kv, key, klen, &v);
    if (rc)
        return rc;
    return decode(key, klen, &v, d);
}

int ks_get(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, uint64_t now_ms,
           ks_value *out)
{
    assert(ks && txn && out);
    assert(key || klen == 0);
    if (klen > ks->max_key)
        return BURROW_ENOTFOUND; /* no such key can be stored */
    decoded d;
    int rc = load(ks, txn, key, klen, &d);
    if (rc)
        return rc;
    if (expired(d.expire_ms, now_ms))
        return BURROW_ENOTFOUND;
    out->type = d.type;
    out->data = d.payload;
    out->len = d.len;
    out->expire_ms = d.expire_ms;
    return 0;
}

int ks_count(keyspace *ks, burrow_txn *txn, uint64_t *n)
{
    return burrow_bucket_count(txn, ks->kv, n);
}

int ks_count_expires(keyspace *ks, burrow_txn *txn, uint64_t *n)
{
    return burrow_bucket_count(txn, ks->exp, n);
}

/* ---- writes -------------------------------------------------------------------- */

int ks_set(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, int type,
           const void *val, size_t vlen, uint64_t expire_ms)
{
    assert(ks && txn);
    assert(type == KS_STRING || type == KS_JSON);
    int rc = check_key(ks, key, klen);
    if (rc)
        return rc;
    if (!val && vlen)
        return diag_set(BURROW_EINVAL, "keyspace: NULL value");
    /* First the copy: val may point into the database, and every write
     * below may move what it points to. */
    rc = build_value(ks, type, expire_ms, val, vlen);
    if (rc)
        return rc;

    decoded old;
    rc = load(ks, txn, key, klen, &old);
    uint64_t old_exp = 0;
    if (rc == 0)
        old_exp = old.expire_ms;
    else if (rc != BURROW_ENOTFOUND)
        goto out;
    if (old_exp != expire_ms) {
        if (old_exp && (rc = exp_del(ks, txn, old_exp, key, klen)))
            goto out;
        if (expire_ms && (rc = exp_put(ks, txn, expire_ms, key, klen)))
            goto out;
    }
    rc = burrow_put(txn, ks->kv, key, klen, ks->scratch.data, ks->scratch.size, 0);
out:
    scratch_release(ks);
    return rc;
}

/* Remove a stored entry whose decoded header is d. */
static int remove_entry(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, uint64_t expire_ms)
{
    int rc = 0;
    if (expire_ms)
        rc = exp_del(ks, txn, expire_ms, key, klen);
    if (rc == 0)
        rc = burrow_del(txn, ks->kv, key, klen);
    return rc;
}

int ks_del(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, uint64_t now_ms)
{
    assert(ks && txn);
    assert(key || klen == 0);
    if (klen > ks->max_key)
        return 0; /* no such key can be stored */
    decoded d;
    int rc = load(ks, txn, key, klen, &d);
    if (rc == BURROW_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    bool live = !expired(d.expire_ms, now_ms);
    rc = remove_entry(ks, txn, key, klen, d.expire_ms);
    if (rc)
        return rc;
    return live ? 1 : 0;
}

int ks_set_expire(keyspace *ks, burrow_txn *txn, const void *key, size_t klen, uint64_t now_ms,
                  uint64_t expire_ms)
{
    assert(ks && txn);
    assert(key || klen == 0);
    if (klen > ks->max_key)
        return 0; /* no such key can be stored */
    decoded d;
    int rc = load(ks, txn, key, klen, &d);
    if (rc == BURROW_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (expired(d.expire_ms, now_ms)) {
        rc = remove_entry(ks, txn, key, klen, d.expire_ms);
        return rc ? rc : 0;
    }
    if (d.expire_ms == expire_ms)
        return 1;
    rc = build_value(ks, d.type, expire_ms, d.payload, d.len);
    if (rc)
        return rc;
    if (d.expire_ms && (rc = exp_del(ks, txn, d.expire_ms, key, klen)))
        goto out;
    if (expire_ms && (rc = exp_put(ks, txn, expire_ms, key, klen)))
        goto out;
    rc = burrow_put(txn, ks->kv, key, klen, ks->scratch.data, ks->scratch.size, 0);
out:
    scratch_release(ks);
    return rc ? rc : 1;
}

int ks_sweep(keyspace *ks, burrow_txn *txn, uint64_t now_ms, unsigned max)
{
    assert(ks && txn);
    burrow_cursor *cur;
    int rc = burrow_cursor_open(txn, ks->exp, &cur);
    if (rc)
        return rc;
    int removed = 0;
    for (unsigned i = 0; i < max; i++) {
        burrow_val k;
        rc = burrow_cursor_first(cur, &k, NULL);
        if (rc == BURROW_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (k.size < EXP_PREFIX) {
            rc = diag_set(BURROW_ECORRUPT, "keyspace: '%s' holds a key of %zu bytes", EXP_BUCKET,
                          k.size);
            break;
        }
        uint64_t e = ekey_expiry(k.data);
        if (e > now_ms)
            break;
        /* The cursor's key dies with the first write: keep a copy. */
        ks->keycopy.size = 0;
        if ((rc = buf_append(&ks->keycopy, k.data, k.size)))
            break;
        const uint8_t *key = ks->keycopy.data + EXP_PREFIX;
        size_t klen = ks->keycopy.size - EXP_PREFIX;
        decoded d;
        rc = load(ks, txn, key, klen, &d);
        if (rc && rc != BURROW_ENOTFOUND)
            break;
        if (rc == 0 && d.expire_ms == e) {
            rc = remove_entry(ks, txn, key, klen, e);
            if (rc)
                break;
            removed++;
        } else {
            /* An entry without its key breaks the invariant at the top;
             * dropping it is the repair, and it is not a key removed. */
            rc = burrow_del(txn, ks->exp, ks->keycopy.data, ks->keycopy.size);
            if (rc)
                break;
        }
    }
    burrow_cursor_close(cur);
    return rc ? rc : removed;
}

int ks_flush(keyspace *ks, burrow_txn *txn)
{
    assert(ks && txn);
    int rc = burrow_bucket_drop(txn, ks->kv);
    if (rc && rc != BURROW_ENOTFOUND)
        return rc;
    rc = burrow_bucket_drop(txn, ks->exp);
    if (rc && rc != BURROW_ENOTFOUND)
        return rc;
    return open_buckets(ks, txn);
}

/* ---- scan ---------------------------------------------------------------------- */

static bool has_prefix(const void *k, size_t klen, const void *pfx, size_t plen)
{
    return klen >= plen && memcmp(k, pfx, plen) == 0;
}

static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Whether the entry (k, v) is a live key of the wanted type and pattern. */
static int scan_match(const void *k, size_t klen, const burrow_val *v, const char *pattern,
                      size_t plen, int type, uint64_t now_ms, int *out_type)
{
    decoded d;
    int rc = decode(k, klen, v, &d);
    if (rc)
        return rc;
    if (expired(d.expire_ms, now_ms))
        return 0;
    if (type != KS_NONE && d.type != type)
        return 0;
    if (pattern && !glob_match(pattern, plen, k, klen, false))
        return 0;
    *out_type = d.type;
    return 1;
}

int ks_scan(keyspace *ks, burrow_txn *txn, const void *start, size_t slen, const char *pattern,
            size_t plen, int type, uint64_t now_ms, size_t max_visit, ks_scan_fn fn, void *ctx,
            buf *next)
{
    assert(ks && txn && fn && next);
    if (!start)
        slen = 0;
    size_t pfx = 0;
    bool literal = false;
    if (pattern)
        literal = glob_literal(pattern, plen, &pfx);
    if (literal)
        pfx = plen;

    /* Start at the later of start and the pattern's literal prefix: no key
     * before the prefix can match. */
    const void *seek = start;
    size_t seeklen = slen;
    if (pfx && key_cmp(start, slen, pattern, pfx) < 0) {
        seek = pattern;
        seeklen = pfx;
    }

    burrow_cursor *cur;
    int rc = burrow_cursor_open(txn, ks->kv, &cur);
    if (rc)
        return rc;
    burrow_val k, v;
    rc = burrow_cursor_seek(cur, seek ? seek : "", seeklen, BURROW_SEEK_GE, &k, &v);
    size_t visited = 0;
    while (rc == 0) {
        if (pfx && !has_prefix(k.data, k.size, pattern, pfx))
            break; /* past every key the pattern can match */
        if (literal && k.size != plen)
            break; /* the one candidate is not there */
        if (max_visit && visited == max_visit) {
            next->size = 0;
            rc = buf_append(next, k.data, k.size);
            burrow_cursor_close(cur);
            return rc ? rc : 1;
        }
        visited++;
        int t = KS_NONE;
        rc = scan_match(k.data, k.size, &v, pattern, plen, type, now_ms, &t);
        if (rc < 0)
            break;
        if (rc == 1) {
            rc = fn(ctx, k.data, k.size, t);
            if (rc)
                break;
        }
        if (literal)
            break;
        rc = burrow_cursor_next(cur, &k, &v);
    }
    burrow_cursor_close(cur);
    if (rc == BURROW_ENOTFOUND)
        rc = 0;
    return rc;
}

/* ---- RANDOMKEY ----------------------------------------------------------------- */

#define RANDOM_SKIP 64

static uint64_t mix64(uint64_t x)
{
    x += UINT64_C(0x9e3779b97f4a7c15);
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

/* A key between first and last (inclusive), in ks->keycopy: their common
 * prefix, then a byte between theirs at that position, then random bytes.
 * Keys that differ early spread well; the point is only where to start. */
static int random_point(keyspace *ks, const burrow_val *first, const burrow_val *last,
                        uint64_t seed)
{
    const uint8_t *f = first->data, *l = last->data;
    size_t p = 0;
    while (p < first->size && p < last->size && f[p] == l[p])
        p++;
    ks->keycopy.size = 0;
    int rc = buf_append(&ks->keycopy, l, p);
    if (rc || p == last->size) /* one key, or first == last */
        return rc;
    unsigned lo = p < first->size ? f[p] : 0, hi = l[p];
    uint64_t r = mix64(seed);
    if ((rc = buf_putc(&ks->keycopy, (uint8_t)(lo + r % (hi - lo + 1)))))
        return rc;
    r = mix64(r);
    for (int i = 0; i < 8 && ks->keycopy.size < ks->max_key; i++, r >>= 8)
        if ((rc = buf_putc(&ks->keycopy, (uint8_t)r)))
            return rc;
    return 0;
}

int ks_random(keyspace *ks, burrow_txn *txn, uint64_t now_ms, uint64_t seed, size_t max_visit,
              buf *key)
{
    assert(ks && txn && key);
    uint64_t n;
    int rc = burrow_bucket_count(txn, ks->kv, &n);
    if (rc || n == 0)
        return rc;
    if (max_visit == 0 || max_visit > n)
        max_visit = (size_t)n; /* every key once, wrapping included */

    burrow_cursor *cur;
    if ((rc = burrow_cursor_open(txn, ks->kv, &cur)))
        return rc;
    burrow_val first, last, k, v;
    buf fcopy = {0};
    if ((rc = burrow_cursor_first(cur, &first, NULL)) || (rc = buf_append(&fcopy, first.data, first.size)) ||
        (rc = burrow_cursor_last(cur, &last, NULL)))
        goto out;
    first.data = fcopy.data;
    if ((rc = random_point(ks, &first, &last, seed)))
        goto out;
    rc = burrow_cursor_seek(cur, ks->keycopy.data, ks->keycopy.size, BURROW_SEEK_GE, &k, &v);
    if (rc == BURROW_ENOTFOUND)
        rc = burrow_cursor_first(cur, &k, &v);
    /* Keys sharing a long prefix all sit behind the same few points (a
     * random byte after "user:" is rarely a digit): a random walk of up to
     * RANDOM_SKIP keys from the point spreads the choice among them. */
    for (uint64_t skip = mix64(seed ^ 0x5eed) % RANDOM_SKIP; rc == 0 && skip > 0; skip--) {
        rc = burrow_cursor_next(cur, &k, &v);
        if (rc == BURROW_ENOTFOUND)
            rc = burrow_cursor_first(cur, &k, &v);
    }
    for (size_t visited = 0; rc == 0 && visited < max_visit; visited++) {
        decoded d;
        if ((rc = decode(k.data, k.size, &v, &d)))
            break;
        if (!expired(d.expire_ms, now_ms)) {
            key->size = 0;
            rc = buf_append(key, k.data, k.size);
            if (rc == 0)
                rc = 1;
            break;
        }
        rc = burrow_cursor_next(cur, &k, &v);
        if (rc == BURROW_ENOTFOUND)
            rc = burrow_cursor_first(cur, &k, &v);
    }
out:
    burrow_cursor_close(cur);
    buf_free(&fcopy);
    return rc == BURROW_ENOTFOUND ? 0 : rc;
}

/* ---- SCAN cursors -------------------------------------------------------------- */

int ks_cursor_save(keyspace *ks, const void *key, size_t klen, uint64_t *cursor)
{
    assert(ks && cursor);
    uint64_t id = ks->next_cursor;
    if (id == 0)
        id = 1;
    cursor_slot *s = &ks->cursors[id % KS_CURSORS];
    buf copy = {0};
    int rc = buf_append(&copy, key, klen);
    if (rc)
        return rc;
    buf_free(&s->key);
    s->key = copy;
    s->id = id;
    ks->next_cursor = id + 1;
    *cursor = id;
    return 0;
}

int ks_cursor_load(keyspace *ks, uint64_t cursor, buf *key)
{
    assert(ks && key);
    if (cursor == 0)
        return 0;
    const cursor_slot *s = &ks->cursors[cursor % KS_CURSORS];
    if (s->id != cursor)
        return 0;
    key->size = 0;
    int rc = buf_append(key, s->key.data, s->key.size);
    return rc ? rc : 1;
}
