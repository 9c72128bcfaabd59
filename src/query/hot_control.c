/*
 * hot_control.c — the public control surface of the hot tier (burrow.h,
 * "the hot tier"): run-time policy and budget, manual promotion (one key
 * or an id range), pinning, demotion, per-key statistics and the bounded
 * background step.
 *
 * Everything here goes through the tier's own operations (tier/tier.h), so
 * its coherence rules hold unchanged: promotion reads the document in a
 * read txn and offers it with tier_admit at that txn's snapshot, exactly as
 * a read miss does (hot.c), only with TIER_FORCE instead of the promotion
 * threshold. A write txn cannot promote: it may see its own uncommitted
 * writes, which must never reach the tier.
 */
#include <limits.h>
#include <string.h>

#include "base/err.h"
#include "query/query.h"
#include "store/ext.h"
#include "tier/tier.h"

/* db's tier, or BURROW_EINVAL when it is off. */
static int tier_of(burrow_db *db, const char *what, tier **out)
{
    if (!db)
        return diag_set(BURROW_EINVAL, "%s: db is required", what);
    if (db_hot_memory(db) == 0)
        return diag_set(BURROW_EINVAL, "hot tier is off: open with hot_memory > 0");
    *out = hot_tier(db);
    if (!*out)
        return diag_set(BURROW_ENOMEM, "%s: out of memory creating the hot tier", what);
    return 0;
}

/* Check coll and id and make the tier's key for them. */
static int key_of(const char *what, const char *coll, const char *id, size_t idlen,
                  tier_key *k)
{
    if (!coll)
        return diag_set(BURROW_EINVAL, "%s: coll is required", what);
    int rc = coll_name_check(coll);
    if (rc)
        return rc;
    if (!id || idlen == 0 || idlen > BURROW_MAX_ID_SIZE)
        return diag_set(BURROW_EINVAL, "%s: document id must be 1 to %d bytes", what,
                        BURROW_MAX_ID_SIZE);
    *k = (tier_key){coll, strlen(coll), id, idlen};
    return 0;
}

/* The tier for manual promotion in txn: a read txn only. */
static int read_txn_tier(burrow_txn *txn, const char *what, tier **t)
{
    if (!txn)
        return diag_set(BURROW_EINVAL, "%s: txn is required", what);
    const txn_ext_ops **ops;
    if (txn_ext_slot(txn, DB_EXT_TIER, &ops))
        return diag_set(BURROW_EINVAL, "%s: needs a read txn (a write txn may hold "
                                       "uncommitted writes)", what);
    return tier_of(burrow_txn_db(txn), what, t);
}

/* Offer doc, read at txn's snapshot with its stored expiry (0: none), with
 * TIER_FORCE | flags. */
static int admit(tier *t, burrow_txn *txn, const char *what, const tier_key *k, const void *doc,
                 size_t len, uint64_t expires_at, unsigned flags)
{
    int rc = tier_admit(t, k, doc, len, burrow_txn_id(txn), expires_at, TIER_FORCE | flags);
    if (rc == 1)
        return 0;
    if (rc == 0) /* stale: a commit txn cannot see changed the document */
        return diag_set(BURROW_EBUSY, "%s: '%.*s' changed after this txn's snapshot; "
                                      "use a new read txn", what, (int)k->id_len,
                        (const char *)k->id);
    if (rc == BURROW_EFULL)
        return diag_set(rc, "%s: no room in the hot tier (pinned documents fill it)", what);
    return rc;
}

/* Read (coll, id) at txn's snapshot and admit it with flags. */
static int promote_one(burrow_txn *txn, const char *what, const char *coll, const char *id,
                       size_t idlen, unsigned flags)
{
    tier *t;
    tier_key k;
    int rc = read_txn_tier(txn, what, &t);
    if (rc || (rc = key_of(what, coll, id, idlen, &k)))
        return rc;
    if (flags & TIER_PIN) {
        rc = tier_pin(t, &k); /* cached already: no need to read it */
        if (rc != BURROW_ENOTFOUND)
            return rc;
    }
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    burrow_val v;
    uint64_t expires_at;
    /* An expired document is not there (a read txn: ttl_check only says). */
    rc = ttl_check_expiry(txn, &m, id, idlen, &expires_at);
    if (!rc)
        rc = burrow_get(txn, m->docs, id, idlen, &v);
    if (rc == BURROW_ENOTFOUND)
        rc = diag_set(BURROW_ENOTFOUND, "no document '%.*s' in '%s'", (int)idlen, id, coll);
    if (!rc)
        rc = admit(t, txn, what, &k, v.data, v.size, expires_at, flags);
    meta_release(txn, m);
    return rc;
}

int burrow_tier_promote(burrow_txn *txn, const char *coll, const char *id, size_t idlen)
{
    diag_clear();
    return promote_one(txn, "tier_promote", coll, id, idlen, 0);
}

int burrow_tier_pin(burrow_txn *txn, const char *coll, const char *id, size_t idlen)
{
    diag_clear();
    return promote_one(txn, "tier_pin", coll, id, idlen, TIER_PIN);
}

/* key < end (bytes, then length), end a NUL-terminated id. */
static bool before_end(const burrow_val *key, const char *end)
{
    size_t n = strlen(end);
    int c = memcmp(key->data, end, key->size < n ? key->size : n);
    return c < 0 || (c == 0 && key->size < n);
}

int burrow_tier_promote_range(burrow_txn *txn, const char *coll, const char *start_id,
                              const char *end_id, size_t max)
{
    diag_clear();
    const char *what = "tier_promote_range";
    tier *t;
    int rc = read_txn_tier(txn, what, &t);
    if (rc)
        return rc;
    if (!coll)
        return diag_set(BURROW_EINVAL, "%s: coll is required", what);
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    burrow_cursor *cur = NULL;
    burrow_val key, val;
    size_t done = 0;
    if ((rc = burrow_cursor_open(txn, m->docs, &cur)))
        goto out;
    if (start_id && *start_id)
        rc = burrow_cursor_seek(cur, start_id, strlen(start_id), BURROW_SEEK_GE, &key, &val);
    else
        rc = burrow_cursor_first(cur, &key, &val);
    /* The count is returned as an int. */
    if (max == 0 || max > INT_MAX)
        max = INT_MAX;
    for (; rc == 0 && done < max; rc = burrow_cursor_next(cur, &key, &val)) {
        if (end_id && !before_end(&key, end_id))
            break;
        uint64_t expires_at = 0;
        if (m->has_ttl) { /* skip expired documents (a read txn: nothing is deleted) */
            int e = ttl_check_expiry(txn, &m, key.data, key.size, &expires_at);
            if (e == BURROW_ENOTFOUND)
                continue;
            if (e) {
                rc = e;
                goto out;
            }
        }
        tier_key k = {coll, strlen(coll), key.data, key.size};
        int a = admit(t, txn, what, &k, val.data, val.size, expires_at, 0);
        if (a == 0)
            done++;
        else if (a == BURROW_EFULL)
            break; /* pinned documents fill the tier: nothing more fits */
        else if (a != BURROW_EBUSY) { /* EBUSY: changed since; skip it */
            rc = a;
            goto out;
        }
    }
    rc = rc == BURROW_ENOTFOUND || rc == 0 ? 0 : rc;
out:
    burrow_cursor_close(cur);
    meta_release(txn, m);
    if (!rc)
        diag_clear(); /* skipped documents are not an error */
    return rc ? rc : (int)done;
}

/* unpin, demote, key_stat: on the db, by key. */
static int by_key(burrow_db *db, const char *what, const char *coll, const char *id,
                  size_t idlen, tier **t, tier_key *k)
{
    diag_clear();
    int rc = tier_of(db, what, t);
    return rc ? rc : key_of(what, coll, id, idlen, k);
}

static int not_cached(const char *what, const tier_key *k)
{
    return diag_set(BURROW_ENOTFOUND, "%s: '%.*s' is not in the hot tier", what,
                    (int)k->id_len, (const char *)k->id);
}

int burrow_tier_unpin(burrow_db *db, const char *coll, const char *id, size_t idlen)
{
    tier *t;
    tier_key k;
    int rc = by_key(db, "tier_unpin", coll, id, idlen, &t, &k);
    if (rc)
        return rc;
    rc = tier_unpin(t, &k);
    return rc == BURROW_ENOTFOUND ? not_cached("tier_unpin", &k) : rc;
}

int burrow_tier_demote(burrow_db *db, const char *coll, const char *id, size_t idlen)
{
    tier *t;
    tier_key k;
    int rc = by_key(db, "tier_demote", coll, id, idlen, &t, &k);
    if (rc)
        return rc;
    return tier_demote(t, &k) == 1 ? 0 : not_cached("tier_demote", &k);
}

int burrow_tier_key_stat(burrow_db *db, const char *coll, const char *id, size_t idlen,
                         burrow_tier_key_stats *out)
{
    tier *t;
    tier_key k;
    if (!out)
        return diag_set(BURROW_EINVAL, "tier_key_stat: out is required");
    int rc = by_key(db, "tier_key_stat", coll, id, idlen, &t, &k);
    if (rc)
        return rc;
    tier_entry_stats s;
    if (tier_entry_stat(t, &k, &s))
        return not_cached("tier_key_stat", &k);
    memset(out, 0, sizeof *out);
    out->accesses = s.accesses;
    out->last_access_ms = s.last_access_ms;
    out->frequency = s.frequency;
    out->bytes = s.bytes;
    out->pinned = s.pinned;
    return 0;
}

int burrow_tier_set_policy(burrow_db *db, int policy)
{
    diag_clear();
    tier *t;
    int rc = tier_of(db, "tier_set_policy", &t);
    if (rc)
        return rc;
    int p = hot_policy_to_tier(policy);
    if (p < 0)
        return diag_set(BURROW_EINVAL, "tier_set_policy: unknown policy %d", policy);
    return tier_set_policy(t, p);
}

int burrow_tier_set_budget(burrow_db *db, size_t bytes)
{
    diag_clear();
    tier *t;
    int rc = tier_of(db, "tier_set_budget", &t);
    if (rc)
        return rc;
    rc = tier_set_budget(t, bytes);
    if (rc == BURROW_EBUSY)
        return diag_set(rc, "tier_set_budget: pinned documents need more than %zu bytes", bytes);
    return rc;
}

int burrow_tier_step(burrow_db *db, size_t max_work)
{
    diag_clear();
    tier *t;
    int rc = tier_of(db, "tier_step", &t);
    if (rc)
        return rc;
    if (max_work > INT_MAX)
        max_work = INT_MAX; /* the count is returned as an int */
    /* Expired copies first: they are dead, where idle ones are only cold. */
    size_t n = tier_expire_step(t, max_work, NULL, NULL);
    if (n < max_work)
        n += tier_demote_idle_step(t, max_work - n);
    return (int)n;
}
