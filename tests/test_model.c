/*
 * test_model.c — the randomised model test.
 *
 * For each round (one seed each, printed as "round N seed=S page_size=P"),
 * thousands of random operations run against a database and, in lockstep,
 * against a simple in-memory reference: per bucket a sorted array of
 * (key, value length, value seed) — values are regenerated from their seed,
 * so copying the model for a nested transaction is cheap.
 *
 * Operations: puts with keys of many shapes and values from 0 bytes to
 * several pages (overflow), NOOVERWRITE puts, deletes of present and absent
 * keys, bulk ascending inserts and range deletes (splits, merges), gets,
 * cursor walks, cursors kept across writes, nested transactions begun,
 * committed and aborted at depths up to 4, top-level commits and aborts,
 * bucket create/drop, a reader held across commits, and close+reopen.
 *
 * After every top-level commit and every reopen the whole database is
 * compared with the model: bucket list, forward and backward full scans,
 * point gets, burrow_bucket_stat keys; burrow_check() after every reopen
 * and after one commit in eight.
 *
 * Replay one round: BURROW_TEST_SEED=<round seed> BURROW_TEST_ROUNDS=1
 * build/tests/test_model. Long mode: BURROW_TEST_LONG=1 (or --long).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "burrow.h"
#include "testutil.h"

/* ---- the reference model ------------------------------------------------ */

#define NB 4         /* buckets "b0".."b3" */
#define KEYCAP 160   /* longest key the model generates */
#define MAXDEPTH 5   /* top-level txn + 4 nested levels */

typedef struct entry {
    uint8_t key[KEYCAP];
    uint16_t klen;
    uint32_t vlen;
    uint64_t vseed;
} entry;

typedef struct mbucket {
    int exists;
    entry *e;
    size_t n, cap;
} mbucket;

typedef struct model {
    mbucket b[NB];
} model;

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    if (c != 0) return c;
    return al < bl ? -1 : al > bl;
}

/* Index of the first entry >= key; *found set when it is equal. */
static size_t mb_lower(const mbucket *mb, const uint8_t *k, size_t kl, int *found)
{
    size_t lo = 0, hi = mb->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(mb->e[mid].key, mb->e[mid].klen, k, kl) < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < mb->n && key_cmp(mb->e[lo].key, mb->e[lo].klen, k, kl) == 0;
    return lo;
}

static void mb_put(mbucket *mb, const uint8_t *k, size_t kl, uint32_t vlen, uint64_t vseed)
{
    int found;
    size_t i = mb_lower(mb, k, kl, &found);
    if (!found) {
        if (mb->n == mb->cap) {
            mb->cap = mb->cap ? mb->cap * 2 : 64;
            mb->e = realloc(mb->e, mb->cap * sizeof(entry));
            assert_non_null(mb->e);
        }
        memmove(&mb->e[i + 1], &mb->e[i], (mb->n - i) * sizeof(entry));
        mb->n++;
        memcpy(mb->e[i].key, k, kl);
        mb->e[i].klen = (uint16_t)kl;
    }
    mb->e[i].vlen = vlen;
    mb->e[i].vseed = vseed;
}

static void mb_del_at(mbucket *mb, size_t i)
{
    memmove(&mb->e[i], &mb->e[i + 1], (mb->n - i - 1) * sizeof(entry));
    mb->n--;
}

static void model_copy(model *dst, const model *src)
{
    for (int i = 0; i < NB; i++) {
        dst->b[i].exists = src->b[i].exists;
        dst->b[i].n = src->b[i].n;
        dst->b[i].cap = src->b[i].n ? src->b[i].n : 1;
        dst->b[i].e = malloc(dst->b[i].cap * sizeof(entry));
        assert_non_null(dst->b[i].e);
        if (src->b[i].n) memcpy(dst->b[i].e, src->b[i].e, src->b[i].n * sizeof(entry));
    }
}

static void model_free(model *m)
{
    for (int i = 0; i < NB; i++) {
        free(m->b[i].e);
        m->b[i].e = NULL;
        m->b[i].n = m->b[i].cap = 0;
    }
}

/* Deterministic value bytes for (seed, len). */
static void gen_value(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t s = tu_mix(seed ^ ((uint64_t)len << 40));
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        s = tu_mix(s);
        memcpy(buf + i, &s, 8);
    }
    if (i < len) {
        s = tu_mix(s);
        memcpy(buf + i, &s, len - i);
    }
}

/* ---- one round ----------------------------------------------------------- */

#define HIST 24

typedef struct round {
    uint64_t seed;
    unsigned round_no;
    uint64_t op;
    tu_rng rng;
    char *path;
    burrow_options opt;
    burrow_db *db;
    size_t max_key;
    size_t keycap; /* min(max_key, KEYCAP) */
    uint32_t ps;
    unsigned keyspace;
    size_t target_keys;

    model lv[MAXDEPTH + 1]; /* lv[0] committed; lv[d] the txn at depth d */
    burrow_txn *tx[MAXDEPTH + 1];
    int dirty[MAXDEPTH + 1]; /* a bucket was created/dropped at this level */
    int depth;
    int need_refresh;
    burrow_bucket h[NB];
    int have_h[NB];

    burrow_txn *held; /* a reader kept across commits */
    model held_model;
    int held_commits;

    uint8_t *vbuf, *vbuf2;
    size_t vcap;

    char hist[HIST][160];
    unsigned nhist;
    uint64_t commits, reopens;
} round;

static const char *const bucket_names[NB] = {"b0", "b1", "b2", "b3"};

static void note(round *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(round *r, const char *fmt, ...)
{
    char *h = r->hist[r->nhist++ % HIST];
    int n = snprintf(h, 160, "op %" PRIu64 " d%d: ", r->op, r->depth);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h + n, (size_t)(160 - n), fmt, ap);
    va_end(ap);
}

static void round_fail(round *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void round_fail(round *r, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "MODEL MISMATCH (test_model.c:%d) round %u seed=%llu page_size=%u op=%" PRIu64
                    ": %s\n  errmsg: %s\n  recent operations:\n",
            line, r->round_no, (unsigned long long)r->seed, r->ps, r->op, msg, burrow_errmsg());
    unsigned first = r->nhist > HIST ? r->nhist - HIST : 0;
    for (unsigned i = first; i < r->nhist; i++) fprintf(stderr, "    %s\n", r->hist[i % HIST]);
    fprintf(stderr, "  replay: BURROW_TEST_SEED=%llu BURROW_TEST_ROUNDS=1 build/tests/test_model\n",
            (unsigned long long)r->seed);
    fflush(stderr);
    fail_msg("seed=%llu op=%" PRIu64 ": %s", (unsigned long long)r->seed, r->op, msg);
}

#define CHECK(r, cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) round_fail((r), __LINE__, __VA_ARGS__);                                       \
    } while (0)

#define CHECK_RC(r, rc, want, what)                                                                \
    do {                                                                                           \
        int rc__ = (rc), want__ = (want);                                                          \
        if (rc__ != want__)                                                                        \
            round_fail((r), __LINE__, "%s -> %d (%s), want %d (%s)", (what), rc__,                 \
                       burrow_strerror(rc__), want__, burrow_strerror(want__));                    \
    } while (0)

static void ensure_vbuf(round *r, size_t len)
{
    if (len + 1 <= r->vcap) return;
    r->vcap = len + 1;
    r->vbuf = realloc(r->vbuf, r->vcap);
    r->vbuf2 = realloc(r->vbuf2, r->vcap);
    assert_non_null(r->vbuf);
    assert_non_null(r->vbuf2);
}

/* Key number x of the key space, in one of several shapes. */
static size_t make_key(round *r, unsigned x, uint8_t *out)
{
    if (x == 0) return 0; /* the empty key */
    uint64_t h = tu_mix(x);
    size_t len;
    switch (h % 5) {
    case 0: /* short binary, with 0x00 and 0xff bytes */
        len = 1 + (h >> 8) % 6;
        for (size_t i = 0; i < len; i++) out[i] = (uint8_t)(tu_mix(h + i) % 3 == 0 ? 0 : tu_mix(h + i) >> 56);
        out[0] = (uint8_t)(x & 0xff);
        break;
    case 1: /* "user/000123/profile" */
        len = (size_t)snprintf((char *)out, KEYCAP, "user/%06u/%s", x, (h >> 9) & 1 ? "profile" : "p");
        break;
    case 2: { /* a long shared prefix, varying tail */
        len = 24 + (h >> 12) % (KEYCAP - 24);
        memset(out, 'x', len);
        char tail[16];
        int tl = snprintf(tail, sizeof tail, "%u", x);
        if ((size_t)tl > len) tl = (int)len;
        memcpy(out + len - (size_t)tl, tail, (size_t)tl);
        break;
    }
    case 3: /* decimal */
        len = (size_t)snprintf((char *)out, KEYCAP, "%u", x);
        break;
    default: /* 8-byte big-endian counter */
        len = 8;
        for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)x * 0x10001u >> (56 - 8 * i));
        break;
    }
    if (len > r->keycap) len = r->keycap;
    return len;
}

static uint32_t pick_vlen(round *r)
{
    unsigned p = (unsigned)tu_below(&r->rng, 100);
    if (p < 35) return (uint32_t)tu_below(&r->rng, 17);
    if (p < 72) return (uint32_t)tu_range(&r->rng, 17, 200);
    if (p < 88) return (uint32_t)tu_range(&r->rng, 200, r->ps);
    if (p < 99) return (uint32_t)tu_range(&r->rng, r->ps, 4 * r->ps);
    return (uint32_t)tu_range(&r->rng, 4 * r->ps, 70000);
}

static model *top(round *r) { return &r->lv[r->depth]; }
static burrow_txn *ttx(round *r) { return r->tx[r->depth]; }

/* A random existing bucket of the current level, or -1. */
static int pick_bucket(round *r)
{
    int ids[NB], n = 0;
    for (int i = 0; i < NB; i++)
        if (top(r)->b[i].exists) ids[n++] = i;
    return n ? ids[tu_below(&r->rng, (uint64_t)n)] : -1;
}

/* A key: present in bucket bi (when asked and possible) or from the key space. */
static size_t pick_key(round *r, int bi, int present, uint8_t *out)
{
    mbucket *mb = &top(r)->b[bi];
    if (present && mb->n) {
        entry *e = &mb->e[tu_below(&r->rng, mb->n)];
        memcpy(out, e->key, e->klen);
        return e->klen;
    }
    return make_key(r, (unsigned)tu_below(&r->rng, r->keyspace), out);
}

static void check_value(round *r, const burrow_val *v, const entry *e, const char *what)
{
    CHECK(r, v->size == e->vlen, "%s: value size %zu, want %u (klen %u)", what, v->size, e->vlen,
          e->klen);
    ensure_vbuf(r, e->vlen);
    gen_value(r->vbuf2, e->vlen, e->vseed);
    if (e->vlen && memcmp(v->data, r->vbuf2, e->vlen) != 0) {
        size_t i = 0;
        while (((const uint8_t *)v->data)[i] == r->vbuf2[i]) i++;
        round_fail(r, __LINE__, "%s: %u-byte value differs at byte %zu", what, e->vlen, i);
    }
}

static void check_key(round *r, const burrow_val *k, const entry *e, const char *what, size_t idx)
{
    if (k->size != e->klen || (e->klen && memcmp(k->data, e->key, e->klen) != 0)) {
        char got[40] = "", want[40] = "";
        for (size_t i = 0; i < k->size && i < 19; i++)
            sprintf(got + 2 * i, "%02x", ((const uint8_t *)k->data)[i]);
        for (size_t i = 0; i < e->klen && i < 19; i++) sprintf(want + 2 * i, "%02x", e->key[i]);
        round_fail(r, __LINE__, "%s at index %zu: key %s (len %zu), want %s (len %u)", what, idx,
                   got, k->size, want, e->klen);
    }
}

/* ---- whole-database verification ---------------------------------------- */

struct names {
    int n;
    char name[NB + 4][16];
};

static int collect(void *ctx, const char *name)
{
    struct names *ns = ctx;
    if (ns->n < NB + 4) snprintf(ns->name[ns->n], 16, "%s", name);
    ns->n++;
    return 0;
}

/* Everything in txn equals m: bucket list, scans both ways, gets, counts. */
static void verify(round *r, burrow_txn *txn, const model *m, const char *where)
{
    struct names ns = {0};
    CHECK_RC(r, burrow_bucket_list(txn, collect, &ns), 0, "bucket_list");
    int want_n = 0;
    for (int i = 0; i < NB; i++) {
        if (!m->b[i].exists) continue;
        CHECK(r, want_n < ns.n && strcmp(ns.name[want_n], bucket_names[i]) == 0,
              "%s: bucket_list[%d] = '%s', want '%s' (%d listed)", where, want_n,
              want_n < ns.n ? ns.name[want_n] : "(none)", bucket_names[i], ns.n);
        want_n++;
    }
    CHECK(r, ns.n == want_n, "%s: bucket_list has %d names, want %d", where, ns.n, want_n);

    for (int bi = 0; bi < NB; bi++) {
        const mbucket *mb = &m->b[bi];
        burrow_bucket h;
        int rc = burrow_bucket_open(txn, bucket_names[bi], 0, &h);
        if (!mb->exists) {
            CHECK_RC(r, rc, BURROW_ENOTFOUND, "bucket_open of a bucket the model lacks");
            continue;
        }
        CHECK_RC(r, rc, 0, "bucket_open of a bucket the model has");
        burrow_bucket_stats st;
        CHECK_RC(r, burrow_bucket_stat(txn, h, &st), 0, "bucket_stat");
        CHECK(r, st.keys == mb->n, "%s: bucket %s: stat keys %" PRIu64 ", model %zu", where,
              bucket_names[bi], st.keys, mb->n);
        CHECK(r, (st.height == 0) == (mb->n == 0), "%s: bucket %s: height %u with %zu keys", where,
              bucket_names[bi], st.height, mb->n);

        burrow_cursor *c;
        burrow_val k, v;
        CHECK_RC(r, burrow_cursor_open(txn, h, &c), 0, "cursor_open");
        size_t i = 0;
        rc = burrow_cursor_first(c, &k, &v);
        while (rc == 0) {
            CHECK(r, i < mb->n, "%s: forward scan of %s returns more than %zu keys", where,
                  bucket_names[bi], mb->n);
            check_key(r, &k, &mb->e[i], "forward scan", i);
            check_value(r, &v, &mb->e[i], "forward scan");
            i++;
            rc = burrow_cursor_next(c, &k, &v);
        }
        CHECK_RC(r, rc, BURROW_ENOTFOUND, "forward scan end");
        CHECK(r, i == mb->n, "%s: forward scan of %s gave %zu keys, model %zu", where,
              bucket_names[bi], i, mb->n);
        i = mb->n;
        rc = burrow_cursor_last(c, &k, &v);
        while (rc == 0) {
            CHECK(r, i > 0, "%s: backward scan of %s returns more than %zu keys", where,
                  bucket_names[bi], mb->n);
            i--;
            check_key(r, &k, &mb->e[i], "backward scan", i);
            check_value(r, &v, &mb->e[i], "backward scan");
            rc = burrow_cursor_prev(c, &k, &v);
        }
        CHECK_RC(r, rc, BURROW_ENOTFOUND, "backward scan end");
        CHECK(r, i == 0, "%s: backward scan of %s stopped %zu keys short", where,
              bucket_names[bi], i);
        burrow_cursor_close(c);

        for (i = 0; i < mb->n; i++) {
            rc = burrow_get(txn, h, mb->e[i].key, mb->e[i].klen, &v);
            CHECK_RC(r, rc, 0, "get of a model key");
            check_value(r, &v, &mb->e[i], "get");
        }
        /* Some keys the model does not have. */
        uint8_t key[KEYCAP];
        for (int j = 0; j < 20; j++) {
            size_t kl = make_key(r, (unsigned)tu_below(&r->rng, r->keyspace * 2), key);
            int found;
            mb_lower(mb, key, kl, &found);
            if (found) continue;
            CHECK_RC(r, burrow_get(txn, h, key, kl, &v), BURROW_ENOTFOUND, "get of an absent key");
        }
    }
}

static void verify_committed(round *r, const char *where)
{
    burrow_txn *t;
    CHECK_RC(r, burrow_txn_begin(r->db, NULL, BURROW_TXN_RDONLY, &t), 0, "begin read");
    verify(r, t, &r->lv[0], where);
    burrow_txn_abort(t);
}

/* ---- transactions -------------------------------------------------------- */

static void refresh_handles(round *r)
{
    for (int i = 0; i < NB; i++) {
        if (!top(r)->b[i].exists) continue;
        CHECK_RC(r, burrow_bucket_open(ttx(r), bucket_names[i], 0, &r->h[i]), 0,
                 "bucket_open (refresh)");
        r->have_h[i] = 1;
    }
    r->need_refresh = 0;
}

static void begin_top(round *r)
{
    burrow_txn *t;
    CHECK_RC(r, burrow_txn_begin(r->db, NULL, 0, &t), 0, "begin write");
    r->depth = 1;
    r->tx[1] = t;
    r->dirty[1] = 0;
    model_copy(&r->lv[1], &r->lv[0]);
    note(r, "begin write txn %" PRIu64, burrow_txn_id(t));
    if (r->need_refresh) refresh_handles(r);
}

static void begin_child(round *r)
{
    burrow_txn *t;
    CHECK_RC(r, burrow_txn_begin(r->db, ttx(r), 0, &t), 0, "begin nested");
    model_copy(&r->lv[r->depth + 1], top(r));
    r->depth++;
    r->tx[r->depth] = t;
    r->dirty[r->depth] = 0;
    note(r, "begin child");
}

static void end_held_reader(round *r, int verify_it);

static void commit_top(round *r)
{
    note(r, "commit");
    CHECK_RC(r, burrow_txn_commit(r->tx[1]), 0, "commit");
    model_free(&r->lv[0]);
    r->lv[0] = r->lv[1];
    memset(&r->lv[1], 0, sizeof r->lv[1]);
    r->depth = 0;
    r->commits++;
    verify_committed(r, "after commit");
    if (tu_chance(&r->rng, 1, 8)) CHECK_RC(r, burrow_check(r->db), 0, "burrow_check after commit");
    if (r->held) r->held_commits++;
}

static void abort_level(round *r)
{
    note(r, "abort level %d", r->depth);
    burrow_txn_abort(ttx(r));
    model_free(top(r));
    if (r->dirty[r->depth]) r->need_refresh = 1;
    r->depth--;
    if (r->depth > 0 && r->need_refresh) refresh_handles(r);
}

static void commit_child(round *r)
{
    note(r, "commit child");
    CHECK_RC(r, burrow_txn_commit(ttx(r)), 0, "commit child");
    int d = r->depth;
    model_free(&r->lv[d - 1]);
    r->lv[d - 1] = r->lv[d];
    memset(&r->lv[d], 0, sizeof r->lv[d]);
    r->dirty[d - 1] |= r->dirty[d];
    r->depth--;
}

/* ---- operations ---------------------------------------------------------- */

static void op_put(round *r, unsigned flags)
{
    int bi = pick_bucket(r);
    if (bi < 0) return;
    uint8_t key[KEYCAP];
    size_t kl = pick_key(r, bi, tu_chance(&r->rng, 1, 2), key);
    uint32_t vlen = pick_vlen(r);
    uint64_t vseed = tu_rand(&r->rng);
    ensure_vbuf(r, vlen);
    gen_value(r->vbuf, vlen, vseed);
    mbucket *mb = &top(r)->b[bi];
    int found;
    mb_lower(mb, key, kl, &found);
    note(r, "put%s b%d klen %zu vlen %u%s", flags ? "(NOOVERWRITE)" : "", bi, kl, vlen,
         found ? " (exists)" : "");
    int rc = burrow_put(ttx(r), r->h[bi], key, kl, r->vbuf, vlen, flags);
    if (found && (flags & BURROW_NOOVERWRITE)) {
        CHECK_RC(r, rc, BURROW_EEXIST, "put NOOVERWRITE of an existing key");
        return;
    }
    CHECK_RC(r, rc, 0, "put");
    mb_put(mb, key, kl, vlen, vseed);
}

static void op_del(round *r)
{
    int bi = pick_bucket(r);
    if (bi < 0) return;
    uint8_t key[KEYCAP];
    size_t kl = pick_key(r, bi, tu_chance(&r->rng, 3, 4), key);
    mbucket *mb = &top(r)->b[bi];
    int found;
    size_t i = mb_lower(mb, key, kl, &found);
    note(r, "del b%d klen %zu%s", bi, kl, found ? "" : " (absent)");
    int rc = burrow_del(ttx(r), r->h[bi], key, kl);
    CHECK_RC(r, rc, found ? 0 : BURROW_ENOTFOUND, "del");
    if (found) mb_del_at(mb, i);
}

static void op_get(round *r)
{
    int bi = pick_bucket(r);
    if (bi < 0) return;
    uint8_t key[KEYCAP];
    size_t kl = pick_key(r, bi, tu_chance(&r->rng, 2, 3), key);
    mbucket *mb = &top(r)->b[bi];
    int found;
    size_t i = mb_lower(mb, key, kl, &found);
    burrow_val v;
    int rc = burrow_get(ttx(r), r->h[bi], key, kl, &v);
    CHECK_RC(r, rc, found ? 0 : BURROW_ENOTFOUND, "get");
    if (found) check_value(r, &v, &mb->e[i], "get");
}

static void op_long_key(round *r)
{
    int bi = pick_bucket(r);
    if (bi < 0 || r->max_key + 1 > KEYCAP) return;
    uint8_t key[KEYCAP];
    memset(key, 'L', r->max_key + 1);
    note(r, "put b%d with a key of max+1 = %zu bytes", bi, r->max_key + 1);
    CHECK_RC(r, burrow_put(ttx(r), r->h[bi], key, r->max_key + 1, "v", 1, 0), BURROW_EKEYSIZE,
             "put with a too-long key");
    /* ...and one of exactly the maximum (one of 64, so trees fill with them). */
    char tail[16];
    int tl = snprintf(tail, sizeof tail, "%u", (unsigned)tu_below(&r->rng, 64));
    memcpy(key + r->max_key - (size_t)tl, tail, (size_t)tl);
    uint32_t vlen = pick_vlen(r);
    uint64_t vseed = tu_rand(&r->rng);
    ensure_vbuf(r, vlen);
    gen_value(r->vbuf, vlen, vseed);
    CHECK_RC(r, burrow_put(ttx(r), r->h[bi], key, r->max_key, r->vbuf, vlen, 0), 0,
             "put with a key of the maximum size");
    mb_put(&top(r)->b[bi], key, r->max_key, vlen, vseed);
}

/* Seek somewhere, then walk a few steps either way, against the model. */
static void op_cursor_walk(round *r)
{
    int bi = pick_bucket(r);
    if (bi < 0) return;
    mbucket *mb = &top(r)->b[bi];
    uint8_t key[KEYCAP];
    size_t kl = pick_key(r, bi, tu_chance(&r->rng, 1, 2), key);
    burrow_cursor *c;
    burrow_val k, v;
    CHECK_RC(r, burrow_cursor_open(ttx(r), r->h[bi], &c), 0, "cursor_open");
    int found;
    size_t i = mb_lower(mb, key, kl, &found);
    int exact = tu_chance(&r->rng, 1, 3);
    int rc = burrow_cursor_seek(c, key, kl, exact ? BURROW_SEEK_EXACT : BURROW_SEEK_GE, &k, &v);
    if (exact ? !found : i == mb->n) {
        CHECK_RC(r, rc, BURROW_ENOTFOUND, exact ? "seek EXACT of an absent key" : "seek GE past the end");
        burrow_cursor_close(c);
        return;
    }
    CHECK_RC(r, rc, 0, "seek");
    check_key(r, &k, &mb->e[i], "seek", i);
    check_value(r, &v, &mb->e[i], "seek");
    int steps = (int)tu_range(&r->rng, 1, 30);
    for (int s = 0; s < steps; s++) {
        int fwd = tu_chance(&r->rng, 2, 3);
        rc = fwd ? burrow_cursor_next(c, &k, &v) : burrow_cursor_prev(c, &k, &v);
        if (fwd ? i + 1 == mb->n : i == 0) {
            CHECK_RC(r, rc, BURROW_ENOTFOUND, fwd ? "next at the last key" : "prev at the first key");
            break;
        }
        i = fwd ? i + 1 : i - 1;
        CHECK_RC(r, rc, 0, fwd ? "cursor next" : "cursor prev");
        check_key(r, &k, &mb->e[i], fwd ? "next" : "prev", i);
        check_value(r, &v, &mb->e[i], fwd ? "next" : "prev");
    }
    burrow_cursor_close(c);
}

/* A cursor on a present key K survives writes to other keys: its next and
 * prev are then K's neighbours in the updated model. */
static void op_cursor_across_writes(round *r)
{
    int bi = pick_bucket(r);
    if (bi < 0 || top(r)->b[bi].n == 0) return;
    mbucket *mb = &top(r)->b[bi];
    uint8_t key[KEYCAP];
    size_t kl = pick_key(r, bi, 1, key);
    burrow_cursor *c;
    burrow_val k, v;
    CHECK_RC(r, burrow_cursor_open(ttx(r), r->h[bi], &c), 0, "cursor_open");
    CHECK_RC(r, burrow_cursor_seek(c, key, kl, BURROW_SEEK_EXACT, &k, &v), 0, "seek EXACT");
    int writes = (int)tu_range(&r->rng, 1, 12);
    note(r, "cursor on b%d klen %zu across %d writes", bi, kl, writes);
    for (int w = 0; w < writes; w++) {
        uint8_t k2[KEYCAP];
        size_t kl2 = pick_key(r, bi, tu_chance(&r->rng, 1, 2), k2);
        if (key_cmp(k2, kl2, key, kl) == 0) continue;
        int found;
        size_t i = mb_lower(mb, k2, kl2, &found);
        if (found && tu_chance(&r->rng, 1, 2)) {
            CHECK_RC(r, burrow_del(ttx(r), r->h[bi], k2, kl2), 0, "del beside a cursor");
            mb_del_at(mb, i);
        } else {
            uint32_t vlen = pick_vlen(r);
            uint64_t vseed = tu_rand(&r->rng);
            ensure_vbuf(r, vlen);
            gen_value(r->vbuf, vlen, vseed);
            CHECK_RC(r, burrow_put(ttx(r), r->h[bi], k2, kl2, r->vbuf, vlen, 0), 0,
                     "put beside a cursor");
            mb_put(mb, k2, kl2, vlen, vseed);
        }
    }
    int found;
    size_t i = mb_lower(mb, key, kl, &found);
    assert_true(found);
    int fwd = tu_chance(&r->rng, 1, 2);
    int rc = fwd ? burrow_cursor_next(c, &k, &v) : burrow_cursor_prev(c, &k, &v);
    if (fwd ? i + 1 == mb->n : i == 0) {
        CHECK_RC(r, rc, BURROW_ENOTFOUND, "cursor step off the end after writes");
    } else {
        i = fwd ? i + 1 : i - 1;
        CHECK_RC(r, rc, 0, "cursor step after writes");
        check_key(r, &k, &mb->e[i], fwd ? "next after writes" : "prev after writes", i);
        check_value(r, &v, &mb->e[i], "cursor after writes");
    }
    burrow_cursor_close(c);
}

/* Ascending inserts of fresh keys: right-edge splits. */
static void op_bulk_insert(round *r)
{
    int bi = pick_bucket(r);
    if (bi < 0) return;
    unsigned n = (unsigned)tu_range(&r->rng, 20, 300);
    unsigned base = (unsigned)tu_below(&r->rng, 1000000);
    uint32_t vlen = (uint32_t)tu_below(&r->rng, 3) ? (uint32_t)tu_range(&r->rng, 0, 64) : pick_vlen(r);
    note(r, "bulk insert %u keys into b%d, vlen %u", n, bi, vlen);
    ensure_vbuf(r, vlen);
    for (unsigned j = 0; j < n; j++) {
        uint8_t key[KEYCAP];
        size_t kl = (size_t)snprintf((char *)key, sizeof key, "bulk/%07u", base + j);
        if (kl > r->keycap) kl = r->keycap;
        uint64_t vseed = tu_rand(&r->rng);
        gen_value(r->vbuf, vlen, vseed);
        CHECK_RC(r, burrow_put(ttx(r), r->h[bi], key, kl, r->vbuf, vlen, 0), 0, "bulk put");
        mb_put(&top(r)->b[bi], key, kl, vlen, vseed);
    }
}

/* Delete a run of consecutive keys: merges and rebalances. */
static void op_range_delete(round *r)
{
    int bi = pick_bucket(r);
    if (bi < 0) return;
    mbucket *mb = &top(r)->b[bi];
    if (mb->n == 0) return;
    size_t start = tu_below(&r->rng, mb->n);
    size_t n = tu_range(&r->rng, 1, 400);
    if (start + n > mb->n) n = mb->n - start;
    note(r, "range delete %zu keys of b%d from index %zu", n, bi, start);
    for (size_t j = 0; j < n; j++) {
        /* Alternate from both ends of the run, to hit both neighbours. */
        size_t i = (j % 2) ? start : start + (n - j) - 1;
        if (i >= mb->n) i = mb->n - 1;
        CHECK_RC(r, burrow_del(ttx(r), r->h[bi], mb->e[i].key, mb->e[i].klen), 0, "range del");
        mb_del_at(mb, i);
    }
}

static void op_bucket(round *r)
{
    int bi = (int)tu_below(&r->rng, NB);
    mbucket *mb = &top(r)->b[bi];
    r->dirty[r->depth] = 1;
    if (!mb->exists) {
        note(r, "create b%d", bi);
        burrow_bucket h;
        CHECK_RC(r, burrow_bucket_open(ttx(r), bucket_names[bi], 0, &h), BURROW_ENOTFOUND,
                 "bucket_open of a missing bucket");
        if (r->have_h[bi]) {
            /* A handle of a bucket that does not exist here. */
            burrow_val v;
            CHECK_RC(r, burrow_get(ttx(r), r->h[bi], "k", 1, &v), BURROW_ENOTFOUND,
                     "get through the handle of a missing bucket");
        }
        CHECK_RC(r, burrow_bucket_open(ttx(r), bucket_names[bi], BURROW_CREATE, &r->h[bi]), 0,
                 "bucket create");
        r->have_h[bi] = 1;
        mb->exists = 1;
        mb->n = 0;
    } else if (tu_chance(&r->rng, 1, 2)) {
        note(r, "drop b%d (%zu keys)", bi, mb->n);
        CHECK_RC(r, burrow_bucket_drop(ttx(r), r->h[bi]), 0, "bucket drop");
        mb->exists = 0;
        mb->n = 0;
        burrow_val v;
        CHECK_RC(r, burrow_get(ttx(r), r->h[bi], "k", 1, &v), BURROW_ENOTFOUND,
                 "get in a dropped bucket");
    } else {
        /* Open with CREATE of an existing bucket: same contents. */
        CHECK_RC(r, burrow_bucket_open(ttx(r), bucket_names[bi], BURROW_CREATE, &r->h[bi]), 0,
                 "bucket_open CREATE of an existing bucket");
        burrow_bucket_stats st;
        CHECK_RC(r, burrow_bucket_stat(ttx(r), r->h[bi], &st), 0, "bucket_stat");
        CHECK(r, st.keys == mb->n, "bucket_stat keys %" PRIu64 " in txn, model %zu", st.keys,
              mb->n);
    }
}

static void start_held_reader(round *r)
{
    CHECK_RC(r, burrow_txn_begin(r->db, NULL, BURROW_TXN_RDONLY, &r->held), 0, "begin held reader");
    model_copy(&r->held_model, &r->lv[0]);
    r->held_commits = 0;
    note(r, "held reader begins at txn %" PRIu64, burrow_txn_id(r->held));
}

static void end_held_reader(round *r, int verify_it)
{
    if (!r->held) return;
    if (verify_it) verify(r, r->held, &r->held_model, "held reader snapshot");
    burrow_txn_abort(r->held);
    r->held = NULL;
    model_free(&r->held_model);
    note(r, "held reader ends after %d commits", r->held_commits);
}

static void reopen(round *r)
{
    end_held_reader(r, 1);
    note(r, "close + reopen");
    CHECK_RC(r, burrow_close(r->db), 0, "close");
    r->db = NULL;
    burrow_options o = r->opt;
    o.page_size = tu_chance(&r->rng, 1, 2) ? 0 : 1024; /* ignored for an existing file */
    CHECK_RC(r, burrow_open(r->path, &o, &r->db), 0, "reopen");
    r->reopens++;
    burrow_db_stats st;
    CHECK_RC(r, burrow_db_stat(r->db, &st), 0, "db_stat");
    CHECK(r, st.page_size == r->ps, "page size %u after reopen, want %u", st.page_size, r->ps);
    CHECK_RC(r, burrow_check(r->db), 0, "burrow_check after reopen");
    verify_committed(r, "after reopen");
    burrow_txn *t;
    CHECK_RC(r, burrow_txn_begin(r->db, NULL, BURROW_TXN_RDONLY, &t), 0, "begin read");
    r->depth = 0;
    for (int i = 0; i < NB; i++) {
        r->have_h[i] = 0;
        if (!r->lv[0].b[i].exists) continue;
        CHECK_RC(r, burrow_bucket_open(t, bucket_names[i], 0, &r->h[i]), 0, "bucket_open");
        r->have_h[i] = 1;
    }
    burrow_txn_abort(t);
    r->need_refresh = 0;
}

/* One step inside a write txn. */
static void step_in_txn(round *r)
{
    if (pick_bucket(r) < 0) {
        op_bucket(r);
        return;
    }
    size_t n = 0;
    for (int i = 0; i < NB; i++) n += top(r)->b[i].n;
    unsigned p = (unsigned)tu_below(&r->rng, 1000);
    int shrink = n > r->target_keys; /* bias towards deletes when big */
    if (p < (shrink ? 250u : 380u)) op_put(r, 0);
    else if (p < 450) op_put(r, BURROW_NOOVERWRITE);
    else if (p < (shrink ? 700u : 620u)) op_del(r);
    else if (p < 720) op_get(r);
    else if (p < 780) op_cursor_walk(r);
    else if (p < 810) op_cursor_across_writes(r);
    else if (p < 818) op_bulk_insert(r);
    else if (p < 826) op_range_delete(r);
    else if (p < 832) op_bucket(r);
    else if (p < 844) op_long_key(r);
    else if (p < 870) {
        if (r->depth < MAXDEPTH) begin_child(r);
    } else if (p < 940) {
        /* end the innermost txn */
        if (r->depth > 1) {
            if (tu_chance(&r->rng, 2, 3)) commit_child(r);
            else abort_level(r);
        } else if (tu_chance(&r->rng, 6, 7)) {
            commit_top(r);
        } else {
            abort_level(r);
        }
    } else if (p < 946) {
        verify(r, ttx(r), top(r), "inside a write txn");
    } else {
        op_put(r, 0);
    }
}

static void run_round(unsigned round_no, uint64_t seed, unsigned ops, const char *dir)
{
    round *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->seed = seed;
    r->round_no = round_no;
    tu_rng_seed(&r->rng, seed);
    static const uint32_t sizes[] = {256, 256, 512, 512, 1024, 1024, 4096};
    r->ps = sizes[tu_below(&r->rng, sizeof sizes / sizeof sizes[0])];
    char name[64];
    snprintf(name, sizeof name, "model-%u.db", round_no);
    r->path = tu_path(dir, name);
    burrow_options_init(&r->opt);
    r->opt.page_size = r->ps;
    r->opt.sync_mode = tu_chance(&r->rng, 1, 8) ? BURROW_SYNC_FULL : BURROW_SYNC_NONE;
    r->keyspace = (unsigned)tu_range(&r->rng, 200, 6000);
    r->target_keys = tu_range(&r->rng, 300, 2500);
    printf("round %u seed=%llu page_size=%u sync=%d ops=%u\n", round_no, (unsigned long long)seed,
           r->ps, r->opt.sync_mode, ops);
    fflush(stdout);

    CHECK_RC(r, burrow_open(r->path, &r->opt, &r->db), 0, "open");
    r->max_key = burrow_max_key_size(r->db);
    r->keycap = r->max_key < KEYCAP ? r->max_key : KEYCAP;
    ensure_vbuf(r, 80000);

    for (r->op = 0; r->op < ops; r->op++) {
        if (r->depth == 0) {
            unsigned p = (unsigned)tu_below(&r->rng, 100);
            if (p < 7) {
                reopen(r);
                continue;
            }
            if (p < 12 && !r->held) start_held_reader(r);
            else if (r->held && p < 20) end_held_reader(r, 1);
            begin_top(r);
            continue;
        }
        step_in_txn(r);
    }
    while (r->depth > 1) commit_child(r);
    if (r->depth == 1) commit_top(r);
    reopen(r);
    size_t keys = 0;
    for (int i = 0; i < NB; i++) keys += r->lv[0].b[i].n;
    printf("round %u done: %" PRIu64 " commits, %" PRIu64 " reopens, %zu keys\n", round_no,
           r->commits, r->reopens, keys);
    CHECK_RC(r, burrow_close(r->db), 0, "close");
    for (int i = 0; i <= MAXDEPTH; i++) model_free(&r->lv[i]);
    free(r->vbuf);
    free(r->vbuf2);
    remove(r->path);
    free(r->path);
    free(r);
}

static char *tmp_dir;

static int setup(void **state)
{
    (void)state;
    tmp_dir = tu_tmpdir("burrow-model");
    return tmp_dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(tmp_dir);
    free(tmp_dir);
    return 0;
}

static void test_model_random(void **state)
{
    (void)state;
    uint64_t base = tu_seed();
    unsigned rounds = tu_rounds(40, 300);
    unsigned ops = tu_long() ? 20000 : 3000;
    for (unsigned i = 0; i < rounds; i++) run_round(i, base + i, ops, tmp_dir);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_model_random, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
