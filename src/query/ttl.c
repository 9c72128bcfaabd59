/*
 * ttl.c — documents' time to live: set, read and clear an expiry; expired
 * documents are invisible at once, deleted lazily by write txns that touch
 * them and by an incremental sweep.
 *
 * Storage (the bucket layout in query.h):
 *   "t:" C            id -> u64 big-endian expiry, Unix milliseconds
 *   "_burrow.expiry"  (u64 big-endian expiry, C, 0x00, id) -> empty
 * Both are written in the caller's txn with the document, so an aborted
 * txn leaves no TTL and a committed one keeps it across reopen. The second
 * bucket orders every expiry of every collection, so the sweep visits
 * documents earliest first and each of its steps costs O(max log n),
 * however many documents or collections there are. A collection name holds
 * no NUL (names are C strings), so 0x00 separates it from the id.
 *
 * The "t:" bucket is created with the collection's first TTL, and the
 * metadata record then says "ttl": true: collections that never had a TTL
 * pay nothing (one flag test) on any read or write.
 *
 * Rules:
 *  - A document is expired when it has an expiry e and now >= e. Expired
 *    documents are missing to every reader: burrow_doc_get, find, count,
 *    aggregate; updates and replaces treat them as missing; an insert of
 *    their id succeeds (the expired one is deleted first).
 *  - The TTL belongs to the id, not the content: replace and update keep
 *    it; delete (by the user, lazily or by the sweep) removes it. (Redis's
 *    SET clears a TTL unless KEEPTTL; we keep it, as its document updates
 *    do, so that rewriting a session or cache entry cannot make it
 *    immortal by accident.)
 *  - Lazy deletion: a write txn that reads or writes an expired document by
 *    id deletes it through the normal write path (index entries included).
 *    Queries (find, count, aggregate) only skip: they walk cursors and
 *    must not write under them.
 *  - The hot tier: a document enters the tier with its stored expiry
 *    (hot_offer), and a changed TTL invalidates the cached entry at commit
 *    (hot_note_write), so a cached copy always carries the expiry the file
 *    holds for every snapshot it serves. The tier judges it with this
 *    file's clock (its wall clock is ttl_now, hot.c), so the tier and the
 *    file agree on the instant a document expires, and a tier hit needs no
 *    lookup in "t:". Expired RAM copies go when they are met (the tier
 *    removes an expired entry on any access by key), when a write deletes
 *    the document (lazily or by the sweep: invalidated at commit), and by
 *    burrow_ttl_sweep and burrow_tier_step, which also step the tier's own
 *    expiry heap, so an expired copy nobody reads does not hold RAM.
 *  - Time: ttl_now(), CLOCK_REALTIME in ms unless a test replaced it.
 */
#include <limits.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "base/err.h"
#include "query/query.h"
#include "store/ext.h"
#include "tier/tier.h"

#define EXPIRY_BUCKET "_burrow.expiry"

/* ---- the clock ------------------------------------------------------------------ */

static uint64_t (*_Atomic test_clock)(void);

uint64_t ttl_now(void)
{
    uint64_t (*fn)(void) = atomic_load_explicit(&test_clock, memory_order_acquire);
    if (fn)
        return fn();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void query_set_clock_for_tests(uint64_t (*now_ms)(void))
{
    atomic_store_explicit(&test_clock, now_ms, memory_order_release);
}

/* ---- helpers ------------------------------------------------------------------- */

static void be64_put(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t be64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

bool ttl_value_expired(burrow_val v, uint64_t now)
{
    return v.size == 8 && be64_get(v.data) <= now;
}

/* The longest expiry key: expiry, name, 0x00, id. */
#define EXPIRY_KEY_MAX (8 + BURROW_MAX_NAME_SIZE + 1 + BURROW_MAX_ID_SIZE)

static size_t expiry_key(uint8_t *out, uint64_t at, const char *coll, const char *id, size_t idlen)
{
    size_t cl = strlen(coll);
    be64_put(out, at);
    memcpy(out + 8, coll, cl);
    out[8 + cl] = 0;
    memcpy(out + 9 + cl, id, idlen);
    return 9 + cl + idlen;
}

static bool is_write_txn(burrow_txn *txn)
{
    const txn_ext_ops **ops;
    return txn_ext_slot(txn, DB_EXT_TIER, &ops) != NULL;
}

static int id_check(const char *id, size_t idlen)
{
    if (!id || idlen == 0 || idlen > BURROW_MAX_ID_SIZE)
        return diag_set(BURROW_EINVAL, "document id must be 1 to %d bytes", BURROW_MAX_ID_SIZE);
    return 0;
}

/* id's expiry in m (0: none). */
static int expiry_of(burrow_txn *txn, const coll_meta *m, const char *id, size_t idlen,
                     uint64_t *at)
{
    *at = 0;
    if (!m->has_ttl)
        return 0;
    burrow_val v;
    int rc = burrow_get(txn, m->ttl, id, idlen, &v);
    if (rc == BURROW_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    if (v.size != 8)
        return diag_set(BURROW_ECORRUPT, "collection '%s': TTL of '%.*s' has %zu bytes", m->name,
                        (int)idlen, id, v.size);
    *at = be64_get(v.data);
    return 0;
}

/* ---- hooks of the document functions ---------------------------------------------- */

int ttl_check_expiry(burrow_txn *txn, coll_meta **mp, const char *id, size_t idlen,
                     uint64_t *expires_at)
{
    *expires_at = 0;
    if (!(*mp)->has_ttl)
        return 0;
    uint64_t at;
    int rc = expiry_of(txn, *mp, id, idlen, &at);
    if (rc || at == 0 || ttl_now() < at) {
        *expires_at = rc ? 0 : at;
        return rc;
    }
    if (is_write_txn(txn) && (rc = coll_doc_remove(txn, mp, id, idlen)) && rc != BURROW_ENOTFOUND)
        return rc;
    return diag_set(BURROW_ENOTFOUND, "no document '%.*s' in '%s' (expired)", (int)idlen, id,
                    (*mp)->name);
}

int ttl_check(burrow_txn *txn, coll_meta **mp, const char *id, size_t idlen)
{
    uint64_t at;
    return ttl_check_expiry(txn, mp, id, idlen, &at);
}

/* Write id's expiry (0: remove it), keeping both buckets in step. */
static int expiry_set(burrow_txn *txn, const coll_meta *m, const char *id, size_t idlen,
                      uint64_t at)
{
    uint64_t old;
    int rc = expiry_of(txn, m, id, idlen, &old);
    if (rc || old == at)
        return rc;
    burrow_bucket eb;
    if ((rc = burrow_bucket_open(txn, EXPIRY_BUCKET, at ? BURROW_CREATE : 0, &eb)))
        return rc == BURROW_ENOTFOUND ? diag_set(BURROW_ECORRUPT, "'%s' is missing", EXPIRY_BUCKET)
                                      : rc;
    uint8_t key[EXPIRY_KEY_MAX];
    if (old) {
        size_t n = expiry_key(key, old, m->name, id, idlen);
        if ((rc = burrow_del(txn, eb, key, n)) == BURROW_ENOTFOUND)
            rc = diag_set(BURROW_ECORRUPT, "'%s': no entry for '%.*s' in '%s'", EXPIRY_BUCKET,
                          (int)idlen, id, m->name);
        if (rc)
            return rc;
    }
    if (!at)
        return burrow_del(txn, m->ttl, id, idlen);
    uint8_t v[8];
    be64_put(v, at);
    size_t n = expiry_key(key, at, m->name, id, idlen);
    if ((rc = burrow_put(txn, m->ttl, id, idlen, v, 8, 0)))
        return rc;
    return burrow_put(txn, eb, key, n, NULL, 0, 0);
}

int ttl_forget(burrow_txn *txn, const coll_meta *m, const char *id, size_t idlen)
{
    return m->has_ttl ? expiry_set(txn, m, id, idlen, 0) : 0;
}

/* Cost: one delete per TTL the collection holds (the drop itself frees
 * every page of the collection's trees, so this adds no new order). */
int ttl_coll_drop(burrow_txn *txn, const coll_meta *m)
{
    if (!m->has_ttl)
        return 0;
    burrow_bucket eb;
    int rc = burrow_bucket_open(txn, EXPIRY_BUCKET, 0, &eb);
    burrow_cursor *cur = NULL;
    if (rc == 0)
        rc = burrow_cursor_open(txn, m->ttl, &cur);
    burrow_val k, v;
    int s = rc ? rc : burrow_cursor_first(cur, &k, &v);
    while (s == 0) {
        if (v.size != 8 || k.size == 0 || k.size > BURROW_MAX_ID_SIZE) {
            s = diag_set(BURROW_ECORRUPT, "collection '%s': damaged TTL entry", m->name);
            break;
        }
        uint8_t key[EXPIRY_KEY_MAX];
        size_t n = expiry_key(key, be64_get(v.data), m->name, k.data, k.size);
        if ((s = burrow_del(txn, eb, key, n)) && s != BURROW_ENOTFOUND)
            break;
        s = burrow_cursor_next(cur, &k, &v);
    }
    burrow_cursor_close(cur);
    if (s != BURROW_ENOTFOUND)
        return s;
    return burrow_bucket_drop(txn, m->ttl);
}

/* ---- the public calls ------------------------------------------------------------- */

/* Make m's collection able to hold TTLs: its "t:" bucket and the flag in
 * its record. *mp is replaced by the new compiled metadata. */
static int ttl_enable(burrow_txn *txn, coll_meta **mp)
{
    coll_meta *m = *mp;
    char bname[256];
    snprintf(bname, sizeof bname, "t:%s", m->name);
    burrow_bucket b;
    int rc = burrow_bucket_open(txn, bname, BURROW_CREATE, &b);
    if (rc)
        return rc;
    doc_builder rb;
    doc_builder_init(&rb);
    doc_val root;
    const uint8_t *rec;
    size_t len;
    coll_meta *nm = NULL;
    if (!(rc = doc_root(m->record, m->record_len, &root)) &&
        !(rc = meta_record_with_ttl(root, &rb)) && !(rc = doc_builder_finish(&rb, &rec, &len)))
        rc = meta_store(txn, m->name, rec, len, &nm);
    doc_builder_free(&rb);
    if (rc)
        return rc;
    meta_release(txn, m);
    *mp = nm;
    return 0;
}

int burrow_doc_expire_at(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                         uint64_t unix_ms)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "doc_expire_at: txn is required");
    int rc = id_check(id, idlen);
    if (rc)
        return rc;
    if (!is_write_txn(txn))
        return diag_set(BURROW_EREADONLY, "doc_expire_at needs a write txn");
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    burrow_val v;
    if (!(rc = ttl_check(txn, &m, id, idlen)) &&
        (rc = burrow_get(txn, m->docs, id, idlen, &v)) == BURROW_ENOTFOUND)
        rc = diag_set(BURROW_ENOTFOUND, "no document '%.*s' in '%s'", (int)idlen, id, coll);
    /* Refuse before writing anything: a refused call changes nothing. */
    size_t max = burrow_max_key_size(burrow_txn_db(txn)), need = 9 + strlen(coll) + idlen;
    if (!rc && unix_ms && need > max)
        rc = diag_set(BURROW_EKEYSIZE,
                      "a TTL for '%.*s' in '%s' needs a key of %zu bytes; this database takes at "
                      "most %zu",
                      (int)idlen, id, coll, need, max);
    if (!rc && unix_ms && !m->has_ttl)
        rc = ttl_enable(txn, &m);
    if (!rc && m->has_ttl)
        rc = expiry_set(txn, m, id, idlen, unix_ms);
    if (!rc)
        hot_note_write(txn, m->name, id, idlen);
    meta_release(txn, m);
    return rc;
}

int burrow_doc_expire(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                      uint64_t ms_from_now)
{
    uint64_t now = ttl_now();
    uint64_t at = ms_from_now > UINT64_MAX - now ? UINT64_MAX : now + ms_from_now;
    return burrow_doc_expire_at(txn, coll, id, idlen, at);
}

int burrow_doc_ttl(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                   uint64_t *unix_ms)
{
    diag_clear();
    if (!txn || !unix_ms)
        return diag_set(BURROW_EINVAL, "doc_ttl: txn and unix_ms are required");
    int rc = id_check(id, idlen);
    if (rc)
        return rc;
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    burrow_val v;
    if (!(rc = ttl_check(txn, &m, id, idlen)) &&
        (rc = burrow_get(txn, m->docs, id, idlen, &v)) == BURROW_ENOTFOUND)
        rc = diag_set(BURROW_ENOTFOUND, "no document '%.*s' in '%s'", (int)idlen, id, coll);
    if (!rc)
        rc = expiry_of(txn, m, id, idlen, unix_ms);
    meta_release(txn, m);
    return rc;
}

/* Delete the expired document the expiry key k names; *mp caches the
 * metadata of the last collection seen (released and replaced here). */
static int sweep_one(burrow_txn *txn, burrow_bucket eb, const uint8_t *k, size_t klen,
                     coll_meta **mp)
{
    const uint8_t *nul = klen > 9 ? memchr(k + 8, 0, klen - 8) : NULL;
    size_t cl = nul ? (size_t)(nul - (k + 8)) : 0;
    size_t idlen = nul ? klen - 9 - cl : 0;
    if (!nul || cl == 0 || cl > BURROW_MAX_NAME_SIZE || idlen == 0 || idlen > BURROW_MAX_ID_SIZE)
        return diag_set(BURROW_ECORRUPT, "'%s': malformed key of %zu bytes", EXPIRY_BUCKET, klen);
    char coll[BURROW_MAX_NAME_SIZE + 1], id[BURROW_MAX_ID_SIZE];
    memcpy(coll, k + 8, cl);
    coll[cl] = '\0';
    memcpy(id, nul + 1, idlen);
    int rc = 0;
    if (!*mp || strcmp((*mp)->name, coll) != 0) {
        meta_release(txn, *mp);
        *mp = NULL;
        rc = meta_acquire(txn, coll, mp);
    }
    if (rc == 0 && !(*mp)->has_ttl)
        rc = BURROW_ENOTFOUND;
    if (rc == BURROW_ENOTFOUND) /* no such collection any more: a stray entry */
        return burrow_del(txn, eb, k, klen);
    if (rc)
        return rc;
    rc = coll_doc_remove(txn, mp, id, idlen); /* removes both TTL rows */
    if (rc == BURROW_ENOTFOUND)               /* a TTL without its document */
        rc = ttl_forget(txn, *mp, id, idlen);
    /* Whatever the rows said, this entry must go, or the sweep would stop
     * at it for ever. */
    if (rc == 0 && (rc = burrow_del(txn, eb, k, klen)) == BURROW_ENOTFOUND)
        rc = 0;
    return rc;
}

int burrow_ttl_sweep(burrow_txn *txn, unsigned max)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "ttl_sweep: txn is required");
    if (!is_write_txn(txn))
        return diag_set(BURROW_EREADONLY, "ttl_sweep needs a write txn");
    if (max > INT_MAX)
        max = INT_MAX;
    /* RAM first: an expired cached copy is dead whatever this txn does
     * (its commit, or its abort), and the file's sweep below may stop
     * early. Bounded by max as well: O(max log n). */
    tier *t = hot_tier(burrow_txn_db(txn));
    if (t)
        tier_expire_step(t, max, NULL, NULL);
    burrow_bucket eb;
    int rc = burrow_bucket_open(txn, EXPIRY_BUCKET, 0, &eb);
    if (rc)
        return rc == BURROW_ENOTFOUND ? 0 : rc;
    burrow_cursor *cur;
    if ((rc = burrow_cursor_open(txn, eb, &cur)))
        return rc == BURROW_ENOTFOUND ? 0 : rc;
    uint64_t now = ttl_now();
    coll_meta *m = NULL;
    unsigned n = 0;
    while (n < max) {
        burrow_val k;
        /* Each pass deletes the first entry, so the next is first again. */
        if ((rc = burrow_cursor_first(cur, &k, NULL)))
            break;
        if (k.size < 8 || be64_get(k.data) > now)
            break;
        uint8_t key[EXPIRY_KEY_MAX];
        if (k.size > sizeof key) {
            rc = diag_set(BURROW_ECORRUPT, "'%s': key of %zu bytes", EXPIRY_BUCKET, k.size);
            break;
        }
        memcpy(key, k.data, k.size); /* k moves with the writes below */
        if ((rc = sweep_one(txn, eb, key, k.size, &m)))
            break;
        n++;
    }
    burrow_cursor_close(cur);
    meta_release(txn, m);
    if (rc && rc != BURROW_ENOTFOUND)
        return rc;
    return (int)n;
}
