/*
 * cmd_tier.c — the TIER.* commands of burrowd: the hot tier's counters,
 * manual promotion (prewarm), demotion, pinning, per-key statistics and
 * the eviction policy at run time, over the public API (burrow.h, "the hot
 * tier"). The user's page is docs/commands-doc.md.
 *
 * Replies (RESP2 | RESP3 where they differ):
 *
 *   TIER.STATS             flat array name, value, ... | map name -> value
 *                          (integers; hit_ratio a bulk string | a double;
 *                          policy a bulk string)
 *   TIER.PROMOTE           :n documents cached (found cached included)
 *   TIER.DEMOTE            :1 dropped, :0 not cached
 *   TIER.PIN               :1 pinned, :0 no such document
 *   TIER.UNPIN             :1 unpinned, :0 not cached
 *   TIER.KEY               flat array | map of accesses, last_access_ms,
 *                          frequency, bytes, pinned; nil when not cached
 *   TIER.POLICY            bulk "lru" | "lfu" | "hybrid"; with an argument +OK
 *
 * With the hot tier off (burrowd without --hot-mem), TIER.STATS answers
 * zeros and the others "ERR hot tier is off: start burrowd with --hot-mem".
 *
 * Promotion and write batches. The library promotes only in a read txn: a
 * write txn may see its own uncommitted writes, which must never reach the
 * tier. A batch runs in a write txn when any of its commands writes
 * (command.h), so TIER.PROMOTE and TIER.PIN look at the batch's txn:
 *   read txn   promote at once, at that snapshot;
 *   write txn  check the documents in the write txn (so a DOC.INSERT earlier
 *              in the same pipeline is seen and the reply is right), reply,
 *              and queue the promotion for cmd_tier_batch_end, which the
 *              data thread calls once the batch's txn has ended (cmd_tier.h).
 * The queue is per data thread (thread-local): it is filled and drained on
 * that thread only, so it needs no lock. Demote, unpin, key statistics and
 * the policy act on the tier directly and take effect at once in both
 * cases, so in a write batch a TIER.UNPIN runs before the pin a TIER.PIN
 * earlier in the same batch queued.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/cmd_tier.h"
#include "server/command.h"
#include "server/server_int.h"

/* ---- the hot tier being off ---------------------------------------------- */

/* false (and the error reply written) when db has no hot tier. */
static bool tier_on(cmd_ctx *c)
{
    burrow_tier_stats st;
    if (burrow_tier_stat(c->db, &st) == 0 && st.budget > 0)
        return true;
    resp_errorf(c->out, "ERR hot tier is off: start burrowd with --hot-mem");
    return false;
}

/*
 * A tier operation failed with rc. None of them changes the batch's txn,
 * so the reply is the error and the command returns 0 (a failed cache
 * operation never rolls the batch back).
 */
static int tier_fail(cmd_ctx *c, int rc)
{
    const char *detail = burrow_errmsg();
    if (!*detail)
        detail = burrow_strerror(rc);
    return resp_errorf(c->out, "ERR %s", detail) ? BURROW_ENOMEM : 0;
}

/* The collection name in argument i as a C string (room for
 * BURROW_MAX_NAME_SIZE + 1); false with the error written when it cannot be
 * one. */
static bool arg_coll(cmd_ctx *c, uint32_t i, char *name)
{
    const resp_arg *a = &c->argv[i];
    if (a->len == 0 || a->len > BURROW_MAX_NAME_SIZE || memchr(a->ptr, 0, a->len)) {
        resp_errorf(c->out, "ERR collection name must be 1 to %d bytes without NUL",
                    BURROW_MAX_NAME_SIZE);
        return false;
    }
    memcpy(name, a->ptr, a->len);
    name[a->len] = 0;
    return true;
}

#define ID_ARG(c, i) (c)->argv[i].ptr, (c)->argv[i].len

/* ---- promotions waiting for the end of a write batch ------------------- */

enum { WAIT_PROMOTE, WAIT_PIN, WAIT_RANGE };

typedef struct waiting {
    struct waiting *next;
    int kind;
    burrow_db *db;
    char *coll;
    char *id; /* WAIT_RANGE: the start, NULL = unbounded */
    size_t idlen;
    char *end; /* WAIT_RANGE: NULL = unbounded */
} waiting;

/* FIFO per data thread: first and last. */
static _Thread_local waiting *wait_head, *wait_last;

static void waiting_free(waiting *w)
{
    free(w->coll);
    free(w->id);
    free(w->end);
    free(w);
}

/* A malloc'd NUL-terminated copy of p[0..n), or NULL. */
static char *dup_bytes(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

/* Queue one. 0 or BURROW_ENOMEM. id may be NULL (a range from the start). */
static int wait_add(burrow_db *db, int kind, const char *coll, const char *id, size_t idlen,
                    const char *end, size_t endlen)
{
    waiting *w = calloc(1, sizeof *w);
    if (!w)
        return BURROW_ENOMEM;
    w->kind = kind;
    w->db = db;
    w->idlen = idlen;
    w->coll = dup_bytes(coll, strlen(coll));
    if (id)
        w->id = dup_bytes(id, idlen);
    if (end)
        w->end = dup_bytes(end, endlen);
    if (!w->coll || (id && !w->id) || (end && !w->end)) {
        waiting_free(w);
        return BURROW_ENOMEM;
    }
    if (wait_last)
        wait_last->next = w;
    else
        wait_head = w;
    wait_last = w;
    return 0;
}

static void batch_discard(void)
{
    while (wait_head) {
        waiting *w = wait_head;
        wait_head = w->next;
        waiting_free(w);
    }
    wait_last = NULL;
}

int cmd_tier_batch_end(burrow_db *db)
{
    if (!wait_head)
        return 0;
    burrow_txn *txn = NULL;
    int done = 0;
    /* A new read txn sees the batch's commit: exactly what a reader will. */
    if (burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &txn) == 0) {
        for (waiting *w = wait_head; w; w = w->next) {
            if (w->db != db)
                continue;
            int rc;
            switch (w->kind) {
            case WAIT_PIN: rc = burrow_tier_pin(txn, w->coll, w->id, w->idlen); break;
            case WAIT_RANGE:
                rc = burrow_tier_promote_range(txn, w->coll, w->id, w->end, 0);
                break;
            default: rc = burrow_tier_promote(txn, w->coll, w->id, w->idlen); break;
            }
            done += rc >= 0;
        }
        burrow_txn_abort(txn);
    }
    batch_discard();
    return done;
}

/* true when the batch runs in a write txn (a command of it writes). */
static bool txn_writes(const cmd_ctx *c) { return c->srv->txn_write; }

/* ---- TIER.STATS ---------------------------------------------------------- */

static const char *const policy_names[] = {
    [BURROW_TIER_HYBRID] = "hybrid",
    [BURROW_TIER_LRU] = "lru",
    [BURROW_TIER_LFU] = "lfu",
};

/* The policy in force. The library has no getter; the server's setting
 * (--eviction, CONFIG SET eviction, TIER.POLICY) is what it was given. */
static const char *policy_name(const cmd_ctx *c)
{
    int p = c->srv->cfg.eviction;
    return p >= 0 && p <= BURROW_TIER_LFU ? policy_names[p] : "hybrid";
}

static int put_u64(buf *out, const char *name, uint64_t v)
{
    int rc = resp_bulk_cstr(out, name);
    return rc ? rc : resp_int(out, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* TIER.STATS */
static int tier_stats(cmd_ctx *c)
{
    burrow_tier_stats st;
    int rc = burrow_tier_stat(c->db, &st);
    if (rc)
        return tier_fail(c, rc);
    size_t start = c->out->size;
    rc = resp_map(c->out, c->proto, 11);
    if (!rc)
        rc = put_u64(c->out, "hits", st.hits);
    if (!rc)
        rc = put_u64(c->out, "misses", st.misses);
    if (!rc)
        rc = put_u64(c->out, "promotions", st.promotions);
    if (!rc)
        rc = put_u64(c->out, "demotions", st.demotions);
    if (!rc)
        rc = put_u64(c->out, "evictions", st.evictions);
    if (!rc)
        rc = put_u64(c->out, "invalidations", st.invalidations);
    if (!rc)
        rc = put_u64(c->out, "entries", st.entries);
    if (!rc)
        rc = put_u64(c->out, "bytes_used", st.bytes_used);
    if (!rc)
        rc = put_u64(c->out, "budget", st.budget);
    if (!rc)
        rc = resp_bulk_cstr(c->out, "hit_ratio");
    if (!rc)
        rc = resp_double(c->out, c->proto, st.hit_ratio);
    if (!rc)
        rc = resp_bulk_cstr(c->out, "policy");
    if (!rc)
        rc = resp_bulk_cstr(c->out, policy_name(c));
    if (rc)
        c->out->size = start;
    return rc;
}

/* ---- TIER.POLICY --------------------------------------------------------- */

/* TIER.POLICY [lru|lfu|hybrid] */
static int tier_policy(cmd_ctx *c)
{
    if (c->argc > 2)
        return cmd_err_syntax(c);
    if (!tier_on(c))
        return 0;
    if (c->argc == 1)
        return resp_bulk_cstr(c->out, policy_name(c));
    int p = -1;
    for (int k = 0; k <= BURROW_TIER_LFU; k++)
        if (cmd_arg_is(c, 1, policy_names[k]))
            p = k;
    if (p < 0)
        return resp_errorf(c->out, "ERR unknown policy '%.*s': use lru, lfu or hybrid",
                           (int)(c->argv[1].len > 32 ? 32 : c->argv[1].len), c->argv[1].ptr)
                   ? BURROW_ENOMEM
                   : 0;
    int rc = burrow_tier_set_policy(c->db, p);
    if (rc)
        return tier_fail(c, rc);
    c->srv->cfg.eviction = p; /* CONFIG GET eviction and INFO say it too */
    return resp_ok(c->out);
}

/* ---- promotion ------------------------------------------------------------- */

/* Promote (or pin) one document now, in a read txn. 1 cached, 0 no such
 * document, or an error. */
static int promote_now(cmd_ctx *c, const char *coll, uint32_t i, bool pin)
{
    int rc = pin ? burrow_tier_pin(c->txn, coll, ID_ARG(c, i))
                 : burrow_tier_promote(c->txn, coll, ID_ARG(c, i));
    if (rc == 0)
        return 1;
    /* a document changed after this snapshot: the next reader gets it */
    if (rc == BURROW_ENOTFOUND || rc == BURROW_EBUSY)
        return 0;
    return rc;
}

/* Check one document in the batch's write txn and queue it. 1 queued, 0 no
 * such document, or an error. */
static int promote_later(cmd_ctx *c, const char *coll, uint32_t i, bool pin)
{
    uint64_t at;
    int rc = burrow_doc_ttl(c->txn, coll, ID_ARG(c, i), &at);
    if (rc == BURROW_ENOTFOUND)
        return 0;
    if (rc)
        return rc;
    rc = wait_add(c->db, pin ? WAIT_PIN : WAIT_PROMOTE, coll, ID_ARG(c, i), NULL, 0);
    return rc ? rc : 1;
}

/* The JSON string literal of p[0..n) appended to out (quotes, escapes). */
static int json_string(buf *out, const char *p, size_t n)
{
    int rc = buf_putc(out, '"');
    for (size_t k = 0; k < n && !rc; k++) {
        unsigned char ch = (unsigned char)p[k];
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            rc = buf_append(out, e, 2);
        } else if (ch < 0x20) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", ch);
            rc = buf_append(out, e, 6);
        } else {
            rc = buf_putc(out, ch);
        }
    }
    return rc ? rc : buf_putc(out, '"');
}

/* The number of documents of coll with start <= id < end (NULL =
 * unbounded) in the batch's txn, through the id plan of a filter on _id. */
static int count_range(cmd_ctx *c, const char *coll, const resp_arg *start, const resp_arg *end,
                       uint64_t *n)
{
    buf f = {0};
    int rc = buf_append(&f, "{\"_id\":{", 8);
    if (!rc && start) {
        rc = buf_append(&f, "\"$gte\":", 7);
        if (!rc)
            rc = json_string(&f, start->ptr, start->len);
    }
    if (!rc && end) {
        if (start)
            rc = buf_putc(&f, ',');
        if (!rc)
            rc = buf_append(&f, "\"$lt\":", 6);
        if (!rc)
            rc = json_string(&f, end->ptr, end->len);
    }
    if (!rc)
        rc = buf_append(&f, "}}", 2);
    burrow_filter *filter = NULL;
    if (!rc)
        rc = burrow_filter_compile((const char *)f.data, f.size, &filter);
    if (!rc)
        rc = burrow_doc_count(c->txn, coll, filter, n);
    burrow_filter_free(filter);
    buf_free(&f);
    return rc;
}

/* TIER.PROMOTE coll RANGE start end: "-" as start and "+" as end are
 * unbounded (as in XRANGE). */
static int tier_promote_range(cmd_ctx *c, const char *coll)
{
    const resp_arg *start = &c->argv[3], *end = &c->argv[4];
    if (start->len == 1 && start->ptr[0] == '-')
        start = NULL;
    if (end->len == 1 && end->ptr[0] == '+')
        end = NULL;
    char *s = NULL, *e = NULL;
    int rc = 0;
    if ((start && memchr(start->ptr, 0, start->len)) || (end && memchr(end->ptr, 0, end->len)))
        return resp_errorf(c->out, "ERR a range bound holds a NUL byte") ? BURROW_ENOMEM : 0;
    if (start && !(s = dup_bytes(start->ptr, start->len)))
        rc = BURROW_ENOMEM;
    if (!rc && end && !(e = dup_bytes(end->ptr, end->len)))
        rc = BURROW_ENOMEM;
    uint64_t n = 0;
    if (!rc && !txn_writes(c)) {
        rc = burrow_tier_promote_range(c->txn, coll, s, e, 0);
        if (rc >= 0) {
            n = (uint64_t)rc;
            rc = 0;
        }
    } else if (!rc) {
        rc = count_range(c, coll, start, end, &n);
        if (!rc && n)
            rc = wait_add(c->db, WAIT_RANGE, coll, s, s ? strlen(s) : 0, e, e ? strlen(e) : 0);
    }
    free(s);
    free(e);
    if (rc == BURROW_ENOMEM)
        return rc;
    return rc ? tier_fail(c, rc) : resp_int(c->out, (int64_t)n);
}

/* TIER.PROMOTE coll id [id ...] | TIER.PROMOTE coll RANGE start end */
static int tier_promote(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!tier_on(c) || !arg_coll(c, 1, coll))
        return 0;
    uint64_t count;
    int rc = burrow_doc_count(c->txn, coll, NULL, &count); /* the collection is there */
    if (rc)
        return tier_fail(c, rc);
    if (c->argc == 5 && cmd_arg_is(c, 2, "RANGE"))
        return tier_promote_range(c, coll);
    bool later = txn_writes(c);
    int64_t n = 0;
    for (uint32_t i = 2; i < c->argc; i++) {
        rc = later ? promote_later(c, coll, i, false) : promote_now(c, coll, i, false);
        if (rc == BURROW_EFULL)
            break; /* no room left for pinned documents: what fit stays */
        if (rc < 0)
            return rc == BURROW_ENOMEM ? rc : tier_fail(c, rc);
        n += rc;
    }
    return resp_int(c->out, n);
}

/* TIER.PIN coll id */
static int tier_pin(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!tier_on(c) || !arg_coll(c, 1, coll))
        return 0;
    uint64_t count;
    int rc = burrow_doc_count(c->txn, coll, NULL, &count);
    if (!rc)
        rc = txn_writes(c) ? promote_later(c, coll, 2, true) : promote_now(c, coll, 2, true);
    if (rc < 0)
        return rc == BURROW_ENOMEM ? rc : tier_fail(c, rc);
    return resp_int(c->out, rc);
}

/* ---- by key: demote, unpin, statistics ----------------------------------- */

/* TIER.DEMOTE coll id, TIER.UNPIN coll id: 1 done, 0 not cached. */
static int tier_by_key(cmd_ctx *c, int (*fn)(burrow_db *, const char *, const char *, size_t))
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!tier_on(c) || !arg_coll(c, 1, coll))
        return 0;
    int rc = fn(c->db, coll, ID_ARG(c, 2));
    if (rc == BURROW_ENOTFOUND)
        return resp_int(c->out, 0);
    return rc ? tier_fail(c, rc) : resp_int(c->out, 1);
}

static int tier_demote(cmd_ctx *c) { return tier_by_key(c, burrow_tier_demote); }
static int tier_unpin(cmd_ctx *c) { return tier_by_key(c, burrow_tier_unpin); }

/* TIER.KEY coll id */
static int tier_key(cmd_ctx *c)
{
    char coll[BURROW_MAX_NAME_SIZE + 1];
    if (!tier_on(c) || !arg_coll(c, 1, coll))
        return 0;
    burrow_tier_key_stats st;
    int rc = burrow_tier_key_stat(c->db, coll, ID_ARG(c, 2), &st);
    if (rc == BURROW_ENOTFOUND)
        return resp_null(c->out, c->proto);
    if (rc)
        return tier_fail(c, rc);
    size_t start = c->out->size;
    rc = resp_map(c->out, c->proto, 5);
    if (!rc)
        rc = put_u64(c->out, "accesses", st.accesses);
    if (!rc)
        rc = put_u64(c->out, "last_access_ms", st.last_access_ms);
    if (!rc)
        rc = resp_bulk_cstr(c->out, "frequency");
    if (!rc)
        rc = resp_double(c->out, c->proto, st.frequency);
    if (!rc)
        rc = put_u64(c->out, "bytes", st.bytes);
    if (!rc)
        rc = resp_bulk_cstr(c->out, "pinned");
    if (!rc)
        rc = resp_bool(c->out, c->proto, st.pinned);
    if (rc)
        c->out->size = start;
    return rc;
}

/* ---- the table ----------------------------------------------------------- */

/*
 * None of these writes data, so none is CMD_WRITE: a batch of reads and
 * TIER.* commands runs in a read txn and promotes at once. They change only
 * the RAM cache; the collection is not a keyspace key (first_key 0).
 */
const cmd_def cmd_tier[] = {
    {"tier.stats", 1, CMD_READONLY | CMD_FAST, 0, 0, 0, tier_stats, "tier",
     "Counters of the hot tier."},
    {"tier.promote", -3, CMD_READONLY, 0, 0, 0, tier_promote, "tier",
     "Load documents into the hot tier, by id or by id RANGE."},
    {"tier.demote", 3, CMD_READONLY | CMD_FAST, 0, 0, 0, tier_demote, "tier",
     "Drop a document's copy from the hot tier."},
    {"tier.pin", 3, CMD_READONLY | CMD_FAST, 0, 0, 0, tier_pin, "tier",
     "Load a document into the hot tier and keep it there."},
    {"tier.unpin", 3, CMD_READONLY | CMD_FAST, 0, 0, 0, tier_unpin, "tier",
     "Let a pinned document be evicted again."},
    {"tier.key", 3, CMD_READONLY | CMD_FAST, 0, 0, 0, tier_key, "tier",
     "Access statistics of one cached document."},
    {"tier.policy", -1, CMD_ADMIN | CMD_FAST, 0, 0, 0, tier_policy, "tier",
     "Get or set the hot tier's eviction policy: lru, lfu or hybrid."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
