/*
 * hot.c — collections in front of the hot tier (tier/tier.h).
 *
 * When the database was opened with options.hot_memory > 0, documents read
 * by id in read transactions are served from the tier and, on a miss,
 * offered to it (the tier's promotion rule decides). Coherence, by the
 * tier's rules (tier.h, COHERENCE):
 *  - A write txn records every (collection, id) it writes and every
 *    collection it drops; its commit, once durable and before any reader
 *    can see it (the store's before_publish hook), invalidates them at its
 *    commit id. An aborted txn records nothing in the tier.
 *  - Reads in a write txn bypass the tier: it may hold the txn's own
 *    uncommitted writes, and the tier holds only committed ones.
 *  - A read txn reads at its snapshot id: the tier answers only with values
 *    valid at it, and refuses a fill read at a snapshot older than the last
 *    write of that key.
 *  - Expiry: a document enters the tier with its stored expiry, judged by
 *    the file's clock (ttl.c), so a hit needs no TTL lookup and an expired
 *    copy is never served and is dropped when met or swept.
 *  - Queries (find, count, aggregate) do not read through the tier: scans
 *    already hold each document, and an index fetch saves too little
 *    against a copy out of the tier (docs/tier.md, "Queries and the tier").
 *  - The tier is created on first use with the last published commit as
 *    its starting point, under the lock that publishing takes, so no commit
 *    can slip between "before the tier" and "recorded by the tier"; a
 *    commit's hook creates it as well, so the commit being published is
 *    always recorded.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "query/query.h"
#include "store/ext.h"
#include "tier/tier.h"

/* The clock hot_set_clock_for_tests hands to tier_make on this thread, and
 * whether tier_make ran (so that call knows it made the tier). */
static _Thread_local const tier_clock *make_clock;
static _Thread_local bool make_ran;

/* The tier's wall clock judges the expiries it copies from the file, so it
 * must be the file's clock (ttl_now, which tests replace with
 * query_set_clock_for_tests): then the tier and the file agree on the
 * instant a document expires. */
static uint64_t wall_of_file(void *ctx)
{
    (void)ctx;
    return ttl_now();
}

int hot_policy_to_tier(int policy)
{
    switch (policy) {
    case BURROW_TIER_HYBRID: return TIER_HYBRID;
    case BURROW_TIER_LRU: return TIER_LRU;
    case BURROW_TIER_LFU: return TIER_LFU;
    default: return -1;
    }
}

static void *tier_make(burrow_db *db)
{
    const burrow_options *opt = db_open_options(db);
    tier_options o;
    tier_options_init(&o);
    o.budget = db_hot_memory(db);
    o.initial_commit = db_last_commit_locked(db);
    o.policy = hot_policy_to_tier(opt->hot_policy); /* checked by burrow_open */
    o.rules.promote_min_misses = opt->hot_promote_min_misses;
    o.rules.demote_idle_ms = opt->hot_demote_idle_ms;
    const tier_clock *base = make_clock ? make_clock : tier_clock_default();
    tier_clock clock = {base->mono_ms, wall_of_file, base->ctx};
    o.clock = &clock; /* copied by tier_create */
    make_ran = true;
    tier *t = NULL;
    if (tier_create(&o, &t))
        return NULL;
    return t;
}

static void tier_destroy_cb(void *p)
{
    query_note_close();
    tier_destroy(p);
}

tier *hot_tier(burrow_db *db)
{
    if (!db || db_hot_memory(db) == 0)
        return NULL;
    return db_ext_get(db, DB_EXT_TIER, tier_make, tier_destroy_cb);
}

int hot_set_clock_for_tests(burrow_db *db, const tier_clock *clock)
{
    if (!db || db_hot_memory(db) == 0)
        return BURROW_EINVAL;
    make_clock = clock;
    make_ran = false;
    tier *t = db_ext_get(db, DB_EXT_TIER, tier_make, tier_destroy_cb);
    bool made = make_ran;
    make_clock = NULL;
    if (!t)
        return BURROW_ENOMEM;
    return made ? 0 : BURROW_EBUSY;
}

/* What a write txn wrote: (collection, id) pairs and dropped collections,
 * as length-prefixed byte strings in one buffer. */
typedef struct written {
    burrow_db *db;
    buf keys;  /* u16 coll length, coll, u16 id length, id; ... */
    buf colls; /* u16 length, name; ... */
    bool failed; /* out of memory: invalidate everything at commit */
} written;

static void written_publish(void *state, uint64_t txnid)
{
    written *w = state;
    tier *t = hot_tier(w->db);
    if (!t)
        return;
    if (w->failed) {
        /* A write we could not record (out of memory): drop every entry
         * and raise the tier's write floor to this commit (what
         * tier_invalidate_coll does for any name), so no fill read before
         * it can be admitted. */
        tier_clear(t);
        tier_invalidate_coll(t, "", 0, txnid);
        return;
    }
    size_t off = 0;
    while (off + 2 <= w->colls.size) {
        uint16_t n;
        memcpy(&n, w->colls.data + off, 2);
        tier_invalidate_coll(t, w->colls.data + off + 2, n, txnid);
        off += 2 + n;
    }
    off = 0;
    while (off + 2 <= w->keys.size) {
        tier_key k;
        uint16_t n;
        memcpy(&n, w->keys.data + off, 2);
        k.coll = w->keys.data + off + 2;
        k.coll_len = n;
        off += 2 + n;
        memcpy(&n, w->keys.data + off, 2);
        k.id = w->keys.data + off + 2;
        k.id_len = n;
        off += 2 + n;
        tier_invalidate(t, &k, txnid);
    }
}

static void written_end(void *state)
{
    written *w = state;
    buf_free(&w->keys);
    buf_free(&w->colls);
    free(w);
}

static const txn_ext_ops written_ops = {written_publish, written_end};

static written *written_of(burrow_txn *txn)
{
    const txn_ext_ops **ops;
    void **slot = txn_ext_slot(txn, DB_EXT_TIER, &ops);
    if (!slot)
        return NULL;
    if (!*slot) {
        written *w = calloc(1, sizeof *w);
        if (!w)
            return NULL;
        w->db = burrow_txn_db(txn);
        *slot = w;
        *ops = &written_ops;
    }
    return *slot;
}

static int put_part(buf *b, const void *p, size_t n)
{
    uint16_t len = (uint16_t)n;
    int rc = buf_append(b, &len, 2);
    return rc ? rc : buf_append(b, p, n);
}

void hot_note_write(burrow_txn *txn, const char *coll, const char *id, size_t idlen)
{
    if (!hot_tier(burrow_txn_db(txn)))
        return;
    written *w = written_of(txn);
    if (!w)
        return; /* a write txn always has a slot; ENOMEM: see below */
    size_t at = w->keys.size;
    if (put_part(&w->keys, coll, strlen(coll)) || put_part(&w->keys, id, idlen)) {
        w->keys.size = at;
        w->failed = true;
    }
}

void hot_note_drop(burrow_txn *txn, const char *coll)
{
    if (!hot_tier(burrow_txn_db(txn)))
        return;
    written *w = written_of(txn);
    if (w && put_part(&w->colls, coll, strlen(coll)))
        w->failed = true;
}

/* The last handle this thread read through and its tier, so that a hot
 * read does not take the handle's lock (db_ext_get) to find the tier. The
 * close epoch (meta.c) says the address still names the same handle. */
static _Thread_local struct {
    burrow_db *db;
    uint64_t epoch;
    tier *t;
} last_read;

/* The tier to read through for txn: none in write txns. */
static tier *read_tier(burrow_txn *txn)
{
    const txn_ext_ops **ops;
    if (txn_ext_slot(txn, DB_EXT_TIER, &ops)) /* a write txn */
        return NULL;
    burrow_db *db = burrow_txn_db(txn);
    uint64_t epoch = query_close_epoch();
    if (last_read.db == db && last_read.epoch == epoch)
        return last_read.t;
    tier *t = hot_tier(db);
    if (t || db_hot_memory(db) == 0) { /* not a failure to make it: keep the answer */
        last_read.db = db;
        last_read.epoch = epoch;
        last_read.t = t;
    }
    return t;
}

int hot_get(burrow_txn *txn, const char *coll, const char *id, size_t idlen, buf *out)
{
    tier *t = read_tier(txn);
    if (!t)
        return BURROW_ENOTFOUND;
    tier_key k = {coll, strlen(coll), id, idlen};
    return tier_get(t, &k, burrow_txn_id(txn), out);
}

int hot_visit(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
              int (*fn)(void *ctx, const uint8_t *doc, size_t len), void *ctx)
{
    tier *t = read_tier(txn);
    if (!t)
        return BURROW_ENOTFOUND;
    tier_key k = {coll, strlen(coll), id, idlen};
    return tier_visit(t, &k, burrow_txn_id(txn), fn, ctx);
}

void hot_offer(burrow_txn *txn, const char *coll, const char *id, size_t idlen, const void *doc,
               size_t len, uint64_t expires_at)
{
    tier *t = read_tier(txn);
    if (!t)
        return;
    tier_key k = {coll, strlen(coll), id, idlen};
    /* a cache: refusals are fine */
    (void)tier_admit(t, &k, doc, len, burrow_txn_id(txn), expires_at, 0);
}

int burrow_tier_stat(burrow_db *db, burrow_tier_stats *out)
{
    diag_clear();
    if (!db || !out)
        return diag_set(BURROW_EINVAL, "tier_stat: db and out are required");
    memset(out, 0, sizeof *out);
    tier *t = hot_tier(db);
    if (!t)
        return 0;
    tier_stats s;
    tier_stats_get(t, &s);
    out->hits = s.hits;
    out->misses = s.misses;
    out->promotions = s.promotions;
    out->demotions = s.demotions;
    out->evictions = s.evictions;
    out->invalidations = s.invalidations;
    out->entries = s.entries;
    out->bytes_used = s.bytes_used;
    out->budget = s.budget;
    out->hit_ratio = s.hit_ratio;
    return 0;
}
