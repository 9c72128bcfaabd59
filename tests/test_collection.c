/*
 * test_collection.c — collections through the public API, as a user relies
 * on them (burrow_coll_*, burrow_doc_*, burrow_index_*):
 *
 *  - CRUD: generated ids (26 characters, time ordered, distinct), every
 *    output form (JSON, pretty, binary, projection, computed fields, raw),
 *    replace and its _id rule, every update operator, the conditional
 *    update (the auction bid), upsert, and the error code and message of
 *    every refusal a user can meet;
 *  - a refused write changes nothing: a dump of every bucket of the file
 *    (all keys and values) before and after each refused operation, and
 *    after commit, is byte for byte the same;
 *  - indexes stay consistent with the documents through random inserts,
 *    replaces, updates, deletes, index creation and dropping, savepoints,
 *    aborts and reopening: after each step every index bucket is compared
 *    with the entries recomputed from the stored documents, the documents
 *    with an in-test model, and every refusal with the model's prediction;
 *  - indexes a schema asks for, reopening, aborted creation, and readers
 *    keeping the metadata of their snapshot.
 *
 * The expected index entries are computed with index_keys (query.h) on
 * each stored document; index_keys itself is a pure function of one
 * document, so what is checked here is the upkeep: that the buckets hold
 * exactly those entries whatever sequence of writes led there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/endian.h"
#include "burrow.h"
#include "doc/doc.h"
#include "doc/update.h"
#include "query/query.h"
#include "testutil.h"

static char *dir;
static char path[512];

#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ < 0)                                                                               \
            fail_msg("%s -> %s (%s)", #x, burrow_strerror(rc_), burrow_errmsg());                  \
    } while (0)

/* The detail of the last error ERR or REFUSED saw (the checks that follow
 * a call go through the library and clear burrow_errmsg()). */
static char last_msg[1024];

/* What the randomised test was doing, printed with a failed check ("" in
 * the fixed tests). */
static char ctx[1024];

#define ERR(x, want)                                                                               \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        snprintf(last_msg, sizeof last_msg, "%s", burrow_errmsg());                                \
        if (rc_ != (want))                                                                         \
            fail_msg("%s -> %d %s (%s), want %d %s", #x, rc_, burrow_strerror(rc_),                \
                     burrow_errmsg(), (int)(want), burrow_strerror(want));                         \
    } while (0)

/* The detail of the error ERR or REFUSED last checked contains s. */
static void msg_has(const char *s)
{
    if (!strstr(last_msg, s))
        fail_msg("error detail '%s' does not contain '%s'", last_msg, s);
}

static burrow_db *db_open(bool fresh, uint32_t page_size)
{
    if (fresh)
        unlink(path);
    burrow_options o;
    burrow_options_init(&o);
    o.page_size = page_size;
    o.sync_mode = BURROW_SYNC_NONE;
    burrow_db *db;
    OK(burrow_open(path, &o, &db));
    return db;
}

static burrow_txn *wtx(burrow_db *db)
{
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    return t;
}

static burrow_txn *rtx(burrow_db *db)
{
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    return t;
}

/* ---- document helpers ------------------------------------------------------ */

static burrow_buf out_buf; /* getx's result; freed in teardown */

static const char *getx(burrow_txn *t, const char *coll, const char *id, const burrow_output *o)
{
    OK(burrow_doc_get(t, coll, id, strlen(id), o, &out_buf));
    return (const char *)out_buf.data;
}

static const char *get(burrow_txn *t, const char *coll, const char *id)
{
    return getx(t, coll, id, NULL);
}

static const char *get_raw(burrow_txn *t, const char *coll, const char *id)
{
    burrow_output o = {.flags = BURROW_OUT_RAW};
    return getx(t, coll, id, &o);
}

static int insert(burrow_txn *t, const char *coll, const char *json)
{
    return burrow_doc_insert(t, coll, json, strlen(json), NULL);
}

static int replace(burrow_txn *t, const char *coll, const char *id, const char *json)
{
    return burrow_doc_replace(t, coll, id, strlen(id), json, strlen(json));
}

static int del(burrow_txn *t, const char *coll, const char *id)
{
    return burrow_doc_delete(t, coll, id, strlen(id));
}

/* Compile upd (and cond, may be NULL) and apply them; the compiled forms
 * are freed after the call (freeing does not touch the error detail). */
static int update(burrow_txn *t, const char *coll, const char *id, const char *upd,
                  const char *cond, unsigned flags)
{
    burrow_update *u;
    burrow_filter *f = NULL;
    OK(burrow_update_compile(upd, strlen(upd), &u));
    if (cond)
        OK(burrow_filter_compile(cond, strlen(cond), &f));
    int rc = burrow_doc_update(t, coll, id, strlen(id), u, f, flags);
    burrow_update_free(u);
    if (f)
        burrow_filter_free(f);
    return rc;
}

static void bufprintf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bufprintf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    assert_int_equal(buf_reserve(b, (size_t)n + 1), 0);
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->size, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->size += (size_t)n;
}

/* ---- lists of names ----------------------------------------------------------- */

typedef struct strv {
    char **v;
    unsigned *flags;
    size_t n, cap;
} strv;

static void strv_push(strv *s, const char *name, unsigned flags)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 16;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        s->flags = realloc(s->flags, s->cap * sizeof *s->flags);
        assert_non_null(s->v);
        assert_non_null(s->flags);
    }
    s->v[s->n] = strdup(name);
    assert_non_null(s->v[s->n]);
    s->flags[s->n++] = flags;
}

static int strv_add(void *list, const char *name)
{
    strv_push(list, name, 0);
    return 0;
}

static int strv_add_index(void *list, const char *name, unsigned flags)
{
    strv_push(list, name, flags);
    return 0;
}

static void strv_free(strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    free(s->flags);
    memset(s, 0, sizeof *s);
}

/* "name:flags,name:flags" of the collection's indexes, in list order. */
static const char *index_names(burrow_txn *t, const char *coll)
{
    static char text[1024];
    strv s = {0};
    OK(burrow_index_list(t, coll, strv_add_index, &s));
    text[0] = '\0';
    for (size_t i = 0; i < s.n; i++) {
        size_t at = strlen(text);
        snprintf(text + at, sizeof text - at, "%s%s%s", i ? "," : "", s.v[i],
                 s.flags[i] & BURROW_INDEX_UNIQUE ? ":u" : "");
    }
    strv_free(&s);
    return text;
}

static const char *coll_names(burrow_txn *t)
{
    static char text[1024];
    strv s = {0};
    OK(burrow_coll_list(t, strv_add, &s));
    text[0] = '\0';
    for (size_t i = 0; i < s.n; i++) {
        size_t at = strlen(text);
        snprintf(text + at, sizeof text - at, "%s%s", i ? "," : "", s.v[i]);
    }
    strv_free(&s);
    return text;
}

/* ---- a complete dump of the file -------------------------------------------- */

/*
 * Every bucket in name order: name NUL, u32 entry count, then per entry
 * u32 key length, key, u32 value length, value. Two dumps are equal
 * exactly when the two states hold the same buckets with the same keys and
 * values.
 */
static void dump_db(burrow_txn *t, buf *out)
{
    strv names = {0};
    out->size = 0;
    OK(burrow_bucket_list(t, strv_add, &names));
    for (size_t i = 0; i < names.n; i++) {
        burrow_bucket b;
        OK(burrow_bucket_open(t, names.v[i], 0, &b));
        assert_int_equal(buf_append(out, names.v[i], strlen(names.v[i]) + 1), 0);
        size_t count_at = out->size;
        uint8_t word[4] = {0};
        assert_int_equal(buf_append(out, word, 4), 0);
        uint32_t count = 0;
        burrow_cursor *c;
        OK(burrow_cursor_open(t, b, &c));
        burrow_val k, v;
        int rc = burrow_cursor_first(c, &k, &v);
        while (rc == 0) {
            le32_store(word, (uint32_t)k.size);
            assert_int_equal(buf_append(out, word, 4), 0);
            assert_int_equal(buf_append(out, k.data, k.size), 0);
            le32_store(word, (uint32_t)v.size);
            assert_int_equal(buf_append(out, word, 4), 0);
            assert_int_equal(buf_append(out, v.data, v.size), 0);
            count++;
            rc = burrow_cursor_next(c, &k, &v);
        }
        ERR(rc, BURROW_ENOTFOUND);
        burrow_cursor_close(c);
        le32_store(out->data + count_at, count);
    }
    strv_free(&names);
}

/* Walk one bucket of a dump: *name, and the offset past it. */
static size_t dump_bucket(const buf *d, size_t at, const char **name, uint32_t *count)
{
    *name = (const char *)d->data + at;
    at += strlen(*name) + 1;
    *count = le32_load(d->data + at);
    at += 4;
    for (uint32_t i = 0; i < *count; i++) {
        at += 4 + le32_load(d->data + at);
        at += 4 + le32_load(d->data + at);
    }
    return at;
}

/* Fail, naming the first bucket that differs, unless a and b are equal. */
static void same_dump(const buf *a, const buf *b, const char *what)
{
    if (a->size == b->size && memcmp(a->data, b->data, a->size) == 0)
        return;
    size_t i = 0, j = 0;
    while (i < a->size && j < b->size) {
        const char *na, *nb;
        uint32_t ca, cb;
        size_t ni = dump_bucket(a, i, &na, &ca), nj = dump_bucket(b, j, &nb, &cb);
        if (strcmp(na, nb) != 0)
            fail_msg("%s%s changed the database: bucket '%s' before, '%s' after", ctx, what, na,
                     nb);
        if (ni - i != nj - j || memcmp(a->data + i, b->data + j, ni - i) != 0)
            fail_msg("%s%s changed the database: bucket '%s' (%u entries before, %u after)", ctx,
                     what, na, ca, cb);
        i = ni;
        j = nj;
    }
    fail_msg("%s%s changed the database: bucket '%s' %s", ctx, what,
             i < a->size ? (const char *)a->data + i : (const char *)b->data + j,
             i < a->size ? "went away" : "appeared");
}

/* Run expr, which must fail with want (or return 0 for a condition that
 * did not match) and leave every bucket as it was. */
#define REFUSED(t, expr, want)                                                                     \
    do {                                                                                           \
        buf before_ = {0}, after_ = {0};                                                           \
        dump_db((t), &before_);                                                                    \
        ERR((expr), (want));                                                                       \
        char msg_[sizeof last_msg];                                                                \
        memcpy(msg_, last_msg, sizeof msg_);                                                       \
        dump_db((t), &after_);                                                                     \
        memcpy(last_msg, msg_, sizeof msg_);                                                       \
        same_dump(&before_, &after_, #expr);                                                       \
        buf_free(&before_);                                                                        \
        buf_free(&after_);                                                                         \
    } while (0)

/* ---- index checking: recompute every entry from the stored documents -------- */

struct key {
    uint8_t *p;
    size_t n;
};

typedef struct keyv {
    struct key *v;
    size_t n, cap;
} keyv;

static void keyv_push(keyv *kv, const void *p, size_t n)
{
    if (kv->n == kv->cap) {
        kv->cap = kv->cap ? 2 * kv->cap : 64;
        kv->v = realloc(kv->v, kv->cap * sizeof *kv->v);
        assert_non_null(kv->v);
    }
    kv->v[kv->n].p = malloc(n ? n : 1);
    assert_non_null(kv->v[kv->n].p);
    memcpy(kv->v[kv->n].p, p, n);
    kv->v[kv->n++].n = n;
}

static void keyv_free(keyv *kv)
{
    for (size_t i = 0; i < kv->n; i++)
        free(kv->v[i].p);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

static int key_cmp(const void *a, const void *b)
{
    const struct key *x = a, *y = b;
    int r = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}

static void hex(const struct key *k, char *out, size_t cap)
{
    size_t at = 0;
    for (size_t i = 0; i < k->n && at + 3 < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%02x", k->p[i]);
    out[at] = '\0';
}

/* Whether the document expands an array into index name: one of the
 * index's fields holds a non-empty array (computed apart from index_keys). */
static bool doc_multikey(const char *ixname, const void *bin, size_t len)
{
    index_def ix;
    OK(index_def_parse(ixname, &ix));
    doc_val root, v;
    OK(doc_root(bin, len, &root));
    bool mk = false;
    for (int f = 0; f < ix.nfields; f++)
        if (doc_path_get(root, &ix.paths[f], &v) == 0 && doc_type(v) == DOC_ARRAY && doc_count(v))
            mk = true;
    index_def_clear(&ix);
    return mk;
}

/* The index entries of one document (with id) for index name: appended to
 * keys as (u32 length, bytes); *count set. index_keys' return code. */
static int doc_index_keys(const char *ixname, const void *bin, size_t len, const char *id,
                          size_t idlen, buf *keys, size_t *count, bool *multikey)
{
    index_def ix;
    OK(index_def_parse(ixname, &ix));
    doc_val root;
    OK(doc_root(bin, len, &root));
    int rc = index_keys(&ix, root, id, idlen, keys, count, multikey);
    index_def_clear(&ix);
    return rc;
}

/* Whether the stored metadata of coll says index name is multikey. */
static bool meta_multikey(burrow_txn *t, const char *coll, const char *name)
{
    burrow_bucket mb;
    burrow_val rec;
    OK(burrow_bucket_open(t, META_BUCKET, 0, &mb));
    OK(burrow_get(t, mb, coll, strlen(coll), &rec));
    doc_val root, list, e, v;
    OK(doc_root(rec.data, rec.size, &root));
    OK(doc_object_get(root, "indexes", 7, &list));
    for (uint32_t i = 0; i < doc_count(list); i++) {
        const char *s;
        size_t sl;
        bool flag = false;
        OK(doc_array_at(list, i, &e));
        OK(doc_object_get(e, "name", 4, &v));
        OK(doc_get_string(v, &s, &sl));
        if (sl != strlen(name) || memcmp(s, name, sl) != 0)
            continue;
        OK(doc_object_get(e, "multikey", 8, &v));
        OK(doc_get_bool(v, &flag));
        return flag;
    }
    fail_msg("%sindex '%s' of '%s' is not in the metadata record", ctx, name, coll);
    return false;
}

/*
 * For every index of coll as t sees it: the index bucket holds exactly the
 * entries index_keys gives for the stored documents (values empty), and
 * the index is marked multikey if a document expands an array into it.
 * No index bucket of coll exists without its index. Returns the number of
 * documents.
 */
static size_t check_indexes(burrow_txn *t, const char *coll)
{
    char bname[256];
    burrow_bucket docs;
    coll_docs_bucket_name(coll, bname);
    OK(burrow_bucket_open(t, bname, 0, &docs));
    strv ixs = {0}, buckets = {0};
    OK(burrow_index_list(t, coll, strv_add_index, &ixs));
    OK(burrow_bucket_list(t, strv_add, &buckets));
    char prefix[256];
    snprintf(prefix, sizeof prefix, "i:%s\x1f", coll);
    for (size_t i = 0; i < buckets.n; i++) {
        if (strncmp(buckets.v[i], prefix, strlen(prefix)) != 0)
            continue;
        bool known = false;
        for (size_t j = 0; j < ixs.n && !known; j++)
            known = strcmp(buckets.v[i] + strlen(prefix), ixs.v[j]) == 0;
        if (!known)
            fail_msg("%sbucket '%s' belongs to no index of '%s'", ctx, buckets.v[i], coll);
    }
    size_t ndocs = 0;
    uint64_t stored;
    OK(burrow_bucket_count(t, docs, &stored));
    buf keys = {0};
    for (size_t i = 0; i < ixs.n; i++) {
        keyv want = {0}, have = {0};
        bool multikey = false;
        burrow_cursor *c;
        burrow_val k, v;
        OK(burrow_cursor_open(t, docs, &c));
        int rc = burrow_cursor_first(c, &k, &v);
        ndocs = 0;
        while (rc == 0) {
            size_t count;
            bool mk;
            ndocs++;
            int kr = doc_index_keys(ixs.v[i], v.data, v.size, k.data, k.size, &keys, &count, &mk);
            if (kr)
                fail_msg("%sstored document '%.*s' cannot be in index '%s': %s", ctx, (int)k.size,
                         (const char *)k.data, ixs.v[i], burrow_errmsg());
            if (mk != doc_multikey(ixs.v[i], v.data, v.size))
                fail_msg("%sindex_keys says document '%.*s' is%s multikey in '%s'", ctx,
                         (int)k.size, (const char *)k.data, mk ? "" : " not", ixs.v[i]);
            multikey |= mk;
            size_t off = 0;
            for (size_t n = 0; n < count; n++) {
                uint32_t kl = le32_load(keys.data + off);
                keyv_push(&want, keys.data + off + 4, kl);
                off += 4 + kl;
            }
            rc = burrow_cursor_next(c, &k, &v);
        }
        ERR(rc, BURROW_ENOTFOUND);
        burrow_cursor_close(c);
        if (want.n)
            qsort(want.v, want.n, sizeof *want.v, key_cmp);

        burrow_bucket ib;
        coll_index_bucket_name(coll, ixs.v[i], bname);
        rc = burrow_bucket_open(t, bname, 0, &ib);
        if (rc)
            fail_msg("%sindex '%s' of '%s' has no bucket: %s", ctx, ixs.v[i], coll,
                     burrow_strerror(rc));
        OK(burrow_cursor_open(t, ib, &c));
        rc = burrow_cursor_first(c, &k, &v);
        while (rc == 0) {
            if (v.size != 0)
                fail_msg("%sindex '%s' of '%s': an entry with a value", ctx, ixs.v[i], coll);
            keyv_push(&have, k.data, k.size);
            rc = burrow_cursor_next(c, &k, &v);
        }
        ERR(rc, BURROW_ENOTFOUND);
        burrow_cursor_close(c);
        for (size_t n = 0; n < want.n || n < have.n; n++) {
            if (n < want.n && n < have.n && key_cmp(&want.v[n], &have.v[n]) == 0)
                continue;
            char hw[200] = "(none)", hh[200] = "(none)";
            if (n < want.n)
                hex(&want.v[n], hw, sizeof hw);
            if (n < have.n)
                hex(&have.v[n], hh, sizeof hh);
            fail_msg("%sindex '%s' of '%s': %zu entries expected, %zu held; entry %zu expected "
                     "%s, held %s",
                     ctx, ixs.v[i], coll, want.n, have.n, n, hw, hh);
        }
        if (multikey && !meta_multikey(t, coll, ixs.v[i]))
            fail_msg("%sindex '%s' of '%s' holds array elements but is not marked multikey", ctx,
                     ixs.v[i], coll);
        keyv_free(&want);
        keyv_free(&have);
    }
    if (ixs.n && ndocs != stored)
        fail_msg("%s'%s': burrow_bucket_count says %llu documents, a cursor finds %zu", ctx, coll,
                 (unsigned long long)stored, ndocs);
    buf_free(&keys);
    strv_free(&ixs);
    strv_free(&buckets);
    return (size_t)stored;
}

/* ---- 1. CRUD ------------------------------------------------------------------ */

static int crockford_value(char ch)
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    const char *p = ch ? strchr(alphabet, ch) : NULL;
    return p ? (int)(p - alphabet) : -1;
}

static void test_generated_ids(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "c", NULL));
    enum { N = 300 };
    static char ids[N][64];
    burrow_buf id = {0};
    for (int i = 0; i < N; i++) {
        char json[64];
        snprintf(json, sizeof json, "{\"n\":%d}", i);
        OK(burrow_doc_insert(t, "c", json, strlen(json), &id));
        assert_int_equal(id.size, 26);
        assert_int_equal(strlen((char *)id.data), 26);
        for (int j = 0; j < 26; j++)
            if (crockford_value(((char *)id.data)[j]) < 0)
                fail_msg("id %s: '%c' is not Crockford base32", (char *)id.data, id.data[j]);
        assert_true(crockford_value(((char *)id.data)[0]) <= 7); /* 128 bits in 130 */
        strcpy(ids[i], (char *)id.data);
        if (i > 0 && strcmp(ids[i - 1], ids[i]) >= 0)
            fail_msg("id %s made after %s sorts before it", ids[i], ids[i - 1]);
        if (i == N / 2) { /* ids keep their order across commits */
            OK(burrow_txn_commit(t));
            t = wtx(db);
        }
    }
    /* The first 10 characters are the creation time in milliseconds. */
    uint64_t ms = 0;
    for (int j = 0; j < 10; j++)
        ms = ms * 32 + (uint64_t)crockford_value(ids[0][j]);
    uint64_t now = (uint64_t)time(NULL) * 1000;
    assert_true(ms + 86400000ull > now && ms < now + 86400000ull);
    /* The id is stored in the document, first; the text given comes back. */
    char want[128];
    snprintf(want, sizeof want, "{\"_id\":\"%s\",\"n\":7}", ids[7]);
    assert_string_equal(get(t, "c", ids[7]), want);
    /* An id given is kept, where it was. */
    OK(burrow_doc_insert(t, "c", "{\"a\":1,\"_id\":\"mine\"}", 20, &id));
    assert_string_equal((char *)id.data, "mine");
    assert_string_equal(get(t, "c", "mine"), "{\"a\":1,\"_id\":\"mine\"}");
    uint64_t n;
    burrow_bucket b;
    OK(burrow_bucket_open(t, "c:c", 0, &b));
    OK(burrow_bucket_count(t, b, &n));
    assert_int_equal(n, N + 1); /* distinct: none overwrote another */
    OK(burrow_txn_commit(t));
    burrow_buf_free(&id);
    OK(burrow_close(db));
}

static void test_get_outputs(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "p", NULL));
    const char *doc =
        "{\"_id\":\"p1\",\"name\":\"n\",\"address\":{\"city\":\"Oslo\",\"zip\":\"0150\"},"
        "\"items\":[{\"sku\":\"a\",\"qty\":1},{\"sku\":\"b\"},7,{\"qty\":2.5}],"
        "\"n\":5,\"list\":[1,2]}";
    OK(insert(t, "p", doc));
    assert_string_equal(get(t, "p", "p1"), doc);
    /* pretty */
    burrow_output o = {.flags = BURROW_OUT_PRETTY};
    OK(insert(t, "p", "{\"_id\":\"small\",\"a\":[1,{\"b\":null}],\"e\":{}}"));
    assert_string_equal(getx(t, "p", "small", &o), "{\n"
                                                   "  \"_id\": \"small\",\n"
                                                   "  \"a\": [\n"
                                                   "    1,\n"
                                                   "    {\n"
                                                   "      \"b\": null\n"
                                                   "    }\n"
                                                   "  ],\n"
                                                   "  \"e\": {}\n"
                                                   "}");
    /* binary: a valid document that writes back as the same text */
    o.flags = BURROW_OUT_BINARY;
    getx(t, "p", "p1", &o);
    OK(burrow_doc_validate(out_buf.data, out_buf.size));
    burrow_buf text = {0};
    OK(burrow_json_write(out_buf.data, out_buf.size, 0, &text));
    assert_string_equal((char *)text.data, doc);
    /* projection: dotted paths, through arrays of objects (their scalars
     * dropped, objects without the field kept empty), _id always */
    const char *f1[] = {"address.city", "items.qty"};
    o = (burrow_output){.flags = 0, .fields = f1, .nfields = 2};
    assert_string_equal(getx(t, "p", "p1", &o), "{\"_id\":\"p1\",\"address\":{\"city\":\"Oslo\"},"
                                                "\"items\":[{\"qty\":1},{},{\"qty\":2.5}]}");
    const char *f2[] = {"name", "missing", "n.x", "list"};
    o.fields = f2;
    o.nfields = 4;
    assert_string_equal(getx(t, "p", "p1", &o), "{\"_id\":\"p1\",\"name\":\"n\",\"list\":[1,2]}");
    const char *f3[] = {"address"};
    o = (burrow_output){.flags = BURROW_OUT_BINARY, .fields = f3, .nfields = 1};
    getx(t, "p", "p1", &o);
    OK(burrow_json_write(out_buf.data, out_buf.size, 0, &text));
    assert_string_equal((char *)text.data,
                        "{\"_id\":\"p1\",\"address\":{\"city\":\"Oslo\",\"zip\":\"0150\"}}");
    const char *fbad[] = {"a..b"};
    o = (burrow_output){.fields = fbad, .nfields = 1};
    ERR(burrow_doc_get(t, "p", "p1", 2, &o, &out_buf), BURROW_EINVAL);

    /* computed fields: added on reads, projectable, absent with RAW, never
     * stored */
    OK(burrow_coll_create(t, "orders",
                          "{\"fields\":{\"price\":{\"type\":\"number\"}},"
                          "\"computed\":{\"total\":{\"$sum\":[\"$price\",\"$tax\"]},"
                          "\"label\":{\"$concat\":[\"#\",\"$_id\"]}}}"));
    OK(insert(t, "orders", "{\"_id\":\"o1\",\"price\":10,\"tax\":2}"));
    assert_string_equal(get(t, "orders", "o1"),
                        "{\"_id\":\"o1\",\"price\":10,\"tax\":2,\"total\":12,\"label\":\"#o1\"}");
    assert_string_equal(get_raw(t, "orders", "o1"), "{\"_id\":\"o1\",\"price\":10,\"tax\":2}");
    const char *f4[] = {"total"};
    o = (burrow_output){.flags = 0, .fields = f4, .nfields = 1};
    assert_string_equal(getx(t, "orders", "o1", &o), "{\"_id\":\"o1\",\"total\":12}");
    o.flags = BURROW_OUT_RAW;
    assert_string_equal(getx(t, "orders", "o1", &o), "{\"_id\":\"o1\"}");
    o = (burrow_output){.flags = BURROW_OUT_BINARY | BURROW_OUT_RAW};
    getx(t, "orders", "o1", &o);
    OK(burrow_json_write(out_buf.data, out_buf.size, 0, &text));
    assert_string_equal((char *)text.data, "{\"_id\":\"o1\",\"price\":10,\"tax\":2}");
    OK(update(t, "orders", "o1", "{\"$inc\":{\"tax\":1}}", NULL, 0));
    assert_string_equal(get(t, "orders", "o1"),
                        "{\"_id\":\"o1\",\"price\":10,\"tax\":3,\"total\":13,\"label\":\"#o1\"}");
    burrow_bucket b;
    burrow_val v;
    OK(burrow_bucket_open(t, "c:orders", 0, &b));
    OK(burrow_get(t, b, "o1", 2, &v));
    OK(burrow_json_write(v.data, v.size, 0, &text));
    assert_string_equal((char *)text.data, "{\"_id\":\"o1\",\"price\":10,\"tax\":3}");
    /* a read txn reads the same */
    OK(burrow_txn_commit(t));
    t = rtx(db);
    assert_string_equal(get(t, "orders", "o1"),
                        "{\"_id\":\"o1\",\"price\":10,\"tax\":3,\"total\":13,\"label\":\"#o1\"}");
    assert_string_equal(get(t, "p", "p1"), doc);
    burrow_txn_abort(t);
    burrow_buf_free(&text);
    OK(burrow_close(db));
}

static void test_replace_delete_binary(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "c", NULL));
    OK(burrow_index_create(t, "c", "a", 0));
    OK(insert(t, "c", "{\"_id\":\"x\",\"a\":1,\"b\":2}"));
    /* without _id: the id is added, first */
    OK(replace(t, "c", "x", "{\"a\":3}"));
    assert_string_equal(get(t, "c", "x"), "{\"_id\":\"x\",\"a\":3}");
    /* with the same _id: stored as given */
    OK(replace(t, "c", "x", "{\"c\":[],\"_id\":\"x\"}"));
    assert_string_equal(get(t, "c", "x"), "{\"c\":[],\"_id\":\"x\"}");
    /* with another _id, or a bad one: refused */
    ERR(replace(t, "c", "x", "{\"_id\":\"y\",\"a\":1}"), BURROW_EINVAL);
    msg_has("_id");
    ERR(replace(t, "c", "x", "{\"_id\":7}"), BURROW_EINVAL);
    ERR(replace(t, "c", "x", "[]"), BURROW_EINVAL);
    ERR(replace(t, "c", "nope", "{\"a\":1}"), BURROW_ENOTFOUND);
    msg_has("no document 'nope' in 'c'");
    assert_string_equal(get(t, "c", "x"), "{\"c\":[],\"_id\":\"x\"}");
    check_indexes(t, "c");

    /* binary in and out */
    burrow_buf bin = {0};
    const char *bj = "{\"_id\":\"bin\",\"a\":[1,2,2]}";
    OK(burrow_json_parse(bj, strlen(bj), &bin));
    burrow_buf id = {0};
    OK(burrow_doc_insert_bin(t, "c", bin.data, bin.size, &id));
    assert_string_equal((char *)id.data, "bin");
    bj = "{\"a\":\"s\"}";
    OK(burrow_json_parse(bj, strlen(bj), &bin));
    OK(burrow_doc_insert_bin(t, "c", bin.data, bin.size, &id));
    assert_int_equal(id.size, 26);
    OK(burrow_doc_replace_bin(t, "c", "bin", 3, bin.data, bin.size));
    assert_string_equal(get(t, "c", "bin"), "{\"_id\":\"bin\",\"a\":\"s\"}");
    /* a damaged binary document is refused, not read */
    bin.data[bin.size - 1] ^= 0xFF;
    ERR(burrow_doc_insert_bin(t, "c", bin.data, bin.size, NULL), BURROW_ECORRUPT);
    ERR(burrow_doc_replace_bin(t, "c", "bin", 3, bin.data, 1), BURROW_ECORRUPT);
    OK(burrow_json_parse("[1]", 3, &bin));
    ERR(burrow_doc_insert_bin(t, "c", bin.data, bin.size, NULL), BURROW_EINVAL);
    check_indexes(t, "c");

    /* delete, then the id is free again */
    OK(del(t, "c", "x"));
    ERR(burrow_doc_get(t, "c", "x", 1, NULL, &out_buf), BURROW_ENOTFOUND);
    ERR(del(t, "c", "x"), BURROW_ENOTFOUND);
    msg_has("no document 'x' in 'c'");
    OK(insert(t, "c", "{\"_id\":\"x\",\"a\":9}"));
    OK(burrow_txn_commit(t));
    t = rtx(db);
    assert_string_equal(get(t, "c", "x"), "{\"_id\":\"x\",\"a\":9}");
    assert_int_equal(check_indexes(t, "c"), 3);
    burrow_txn_abort(t);
    burrow_buf_free(&bin);
    burrow_buf_free(&id);
    OK(burrow_close(db));
}

static void test_update_operators(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "c", NULL));
    OK(burrow_index_create(t, "c", "arr", 0));
    OK(burrow_index_create(t, "c", "n", 0));
    OK(burrow_index_create(t, "c", "o.k,n", 0));
    OK(insert(t, "c",
              "{\"_id\":\"u\",\"n\":1,\"d\":2.5,\"s\":\"x\",\"arr\":[1,2,3,2],\"o\":{\"k\":1}}"));
    static const struct {
        const char *update, *after;
    } steps[] = {
        {"{\"$set\":{\"o.k\":2,\"new.deep\":true}}",
         "{\"_id\":\"u\",\"n\":1,\"d\":2.5,\"s\":\"x\",\"arr\":[1,2,3,2],\"o\":{\"k\":2},"
         "\"new\":{\"deep\":true}}"},
        {"{\"$unset\":{\"s\":\"\",\"new\":\"\"}}",
         "{\"_id\":\"u\",\"n\":1,\"d\":2.5,\"arr\":[1,2,3,2],\"o\":{\"k\":2}}"},
        {"{\"$inc\":{\"n\":5,\"cnt\":1}}",
         "{\"_id\":\"u\",\"n\":6,\"d\":2.5,\"arr\":[1,2,3,2],\"o\":{\"k\":2},\"cnt\":1}"},
        {"{\"$mul\":{\"d\":2,\"cnt\":3}}",
         "{\"_id\":\"u\",\"n\":6,\"d\":5.0,\"arr\":[1,2,3,2],\"o\":{\"k\":2},\"cnt\":3}"},
        {"{\"$min\":{\"n\":3}}",
         "{\"_id\":\"u\",\"n\":3,\"d\":5.0,\"arr\":[1,2,3,2],\"o\":{\"k\":2},\"cnt\":3}"},
        {"{\"$max\":{\"n\":10}}",
         "{\"_id\":\"u\",\"n\":10,\"d\":5.0,\"arr\":[1,2,3,2],\"o\":{\"k\":2},\"cnt\":3}"},
        {"{\"$min\":{\"n\":11},\"$max\":{\"cnt\":1}}", /* neither changes anything */
         "{\"_id\":\"u\",\"n\":10,\"d\":5.0,\"arr\":[1,2,3,2],\"o\":{\"k\":2},\"cnt\":3}"},
        {"{\"$push\":{\"arr\":4}}",
         "{\"_id\":\"u\",\"n\":10,\"d\":5.0,\"arr\":[1,2,3,2,4],\"o\":{\"k\":2},\"cnt\":3}"},
        {"{\"$push\":{\"arr\":{\"$each\":[5,6],\"$position\":0}}}",
         "{\"_id\":\"u\",\"n\":10,\"d\":5.0,\"arr\":[5,6,1,2,3,2,4],\"o\":{\"k\":2},\"cnt\":3}"},
        {"{\"$pull\":{\"arr\":2}}",
         "{\"_id\":\"u\",\"n\":10,\"d\":5.0,\"arr\":[5,6,1,3,4],\"o\":{\"k\":2},\"cnt\":3}"},
        {"{\"$pull\":{\"arr\":{\"$gte\":5}},\"$set\":{\"n\":[7,8]}}",
         "{\"_id\":\"u\",\"n\":[7,8],\"d\":5.0,\"arr\":[1,3,4],\"o\":{\"k\":2},\"cnt\":3}"},
        {"{\"$set\":{\"arr\":[]},\"$unset\":{\"o\":\"\"}}",
         "{\"_id\":\"u\",\"n\":[7,8],\"d\":5.0,\"arr\":[],\"cnt\":3}"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        ERR(update(t, "c", "u", steps[i].update, NULL, 0), 1);
        if (strcmp(get(t, "c", "u"), steps[i].after) != 0)
            fail_msg("after %s: %s, want %s", steps[i].update, (char *)out_buf.data,
                     steps[i].after);
        check_indexes(t, "c");
    }
    /* errors of the update itself leave the document alone */
    const char *before = "{\"_id\":\"u\",\"n\":[7,8],\"d\":5.0,\"arr\":[],\"cnt\":3}";
    REFUSED(t, update(t, "c", "u", "{\"$inc\":{\"n\":1}}", NULL, 0), BURROW_ETYPE);
    REFUSED(t, update(t, "c", "u", "{\"$push\":{\"d\":1}}", NULL, 0), BURROW_ETYPE);
    REFUSED(t, update(t, "c", "u", "{\"$set\":{\"d.x\":1}}", NULL, 0), BURROW_ETYPE);
    OK(update(t, "c", "u", "{\"$set\":{\"cnt\":9223372036854775807}}", NULL, 0));
    before = "{\"_id\":\"u\",\"n\":[7,8],\"d\":5.0,\"arr\":[],\"cnt\":9223372036854775807}";
    REFUSED(t, update(t, "c", "u", "{\"$inc\":{\"cnt\":1}}", NULL, 0), BURROW_ERANGE);
    assert_string_equal(get(t, "c", "u"), before);
    /* the compiled update refuses _id and replacement documents */
    burrow_update *u;
    const char *bad_updates[] = {"{\"$set\":{\"_id\":\"v\"}}", "{\"$unset\":{\"_id.x\":1}}",
                                 "{\"a\":1}", "{\"$rename\":{\"a\":\"b\"}}", "{}"};
    for (size_t i = 0; i < 5; i++)
        ERR(burrow_update_compile(bad_updates[i], strlen(bad_updates[i]), &u), BURROW_EINVAL);
    ERR(burrow_update_compile("{\"$set\":", 7, &u), BURROW_EJSON);
    ERR(update(t, "c", "nope", "{\"$set\":{\"a\":1}}", NULL, 0), BURROW_ENOTFOUND);
    msg_has("no document 'nope' in 'c'");
    OK(burrow_update_compile("{\"$set\":{\"a\":1}}", 16, &u));
    ERR(burrow_doc_update(t, "c", "u", 1, u, NULL, 0x80), BURROW_EINVAL);
    burrow_update_free(u);
    OK(burrow_txn_commit(t));
    t = rtx(db);
    assert_string_equal(get(t, "c", "u"), before);
    check_indexes(t, "c");
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

/* One bid: set the price to x if it is below x. 1 when it won. */
static int bid(burrow_txn *t, int x)
{
    char upd[64], cond[64];
    snprintf(upd, sizeof upd, "{\"$set\":{\"price\":%d},\"$inc\":{\"bids\":1}}", x);
    snprintf(cond, sizeof cond, "{\"price\":{\"$lt\":%d}}", x);
    return update(t, "lots", "lot", upd, cond, 0);
}

static void test_conditional_bid(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "lots", NULL));
    OK(burrow_index_create(t, "lots", "price", 0));
    OK(insert(t, "lots", "{\"_id\":\"lot\",\"price\":100,\"bids\":0}"));
    OK(burrow_txn_commit(t));

    t = wtx(db);
    ERR(bid(t, 120), 1);
    REFUSED(t, bid(t, 110), 0); /* lower: refused, nothing written */
    REFUSED(t, bid(t, 120), 0); /* equal: refused too */
    assert_string_equal(get(t, "lots", "lot"), "{\"_id\":\"lot\",\"price\":120,\"bids\":1}");
    OK(burrow_txn_commit(t));

    /* many bidders, each in its own txn: the stored price is the highest
     * bid and the count the number of winning bids */
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    int best = 120, wins = 1;
    for (int i = 0; i < 200; i++) {
        int x = (int)tu_range(&r, 50, 400);
        t = wtx(db);
        int rc = bid(t, x);
        OK(rc);
        assert_int_equal(rc, x > best);
        if (rc) {
            best = x;
            wins++;
        }
        if (tu_chance(&r, 1, 10)) { /* a bidder who changes their mind */
            burrow_txn_abort(t);
            if (rc) {
                wins--;
                best = -1; /* recomputed below from the store */
            }
        } else {
            OK(burrow_txn_commit(t));
        }
        if (best < 0) {
            t = rtx(db);
            burrow_buf v = {0};
            burrow_buf doc = {0};
            OK(burrow_doc_get(t, "lots", "lot", 3, &(burrow_output){.flags = BURROW_OUT_BINARY},
                              &doc));
            OK(burrow_doc_path_json(doc.data, doc.size, "price", 0, &v));
            best = atoi((char *)v.data);
            burrow_buf_free(&v);
            burrow_buf_free(&doc);
            burrow_txn_abort(t);
        }
    }
    t = rtx(db);
    char want[96];
    snprintf(want, sizeof want, "{\"_id\":\"lot\",\"price\":%d,\"bids\":%d}", best, wins);
    assert_string_equal(get(t, "lots", "lot"), want);
    check_indexes(t, "lots");
    burrow_txn_abort(t);
    /* the condition applies to a missing document too, with upsert: it is
     * {"_id": id} then, which has no price */
    t = wtx(db);
    REFUSED(t,
            update(t, "lots", "new", "{\"$set\":{\"price\":5}}", "{\"price\":{\"$lt\":5}}",
                   BURROW_UPSERT),
            0);
    ERR(update(t, "lots", "new", "{\"$set\":{\"price\":5}}", "{\"price\":{\"$exists\":false}}",
               BURROW_UPSERT),
        1);
    assert_string_equal(get(t, "lots", "new"), "{\"_id\":\"new\",\"price\":5}");
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_upsert(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "c", "{\"fields\":{\"n\":{\"type\":\"integer\",\"max\":2}}}"));
    OK(burrow_index_create(t, "c", "n", BURROW_INDEX_UNIQUE));
    ERR(update(t, "c", "a", "{\"$inc\":{\"n\":1}}", NULL, 0), BURROW_ENOTFOUND);
    ERR(update(t, "c", "a", "{\"$inc\":{\"n\":1}}", NULL, BURROW_UPSERT), 1);
    assert_string_equal(get(t, "c", "a"), "{\"_id\":\"a\",\"n\":1}");
    ERR(update(t, "c", "a", "{\"$inc\":{\"n\":1}}", NULL, BURROW_UPSERT), 1);
    assert_string_equal(get(t, "c", "a"), "{\"_id\":\"a\",\"n\":2}");
    /* an upsert that creates nothing new still inserts {"_id": id} */
    ERR(update(t, "c", "b", "{\"$unset\":{\"x\":\"\"}}", NULL, BURROW_UPSERT), 1);
    assert_string_equal(get(t, "c", "b"), "{\"_id\":\"b\"}");
    /* the schema and unique indexes bind upserts */
    REFUSED(t, update(t, "c", "a", "{\"$inc\":{\"n\":1}}", NULL, BURROW_UPSERT),
            BURROW_ECONSTRAINT);
    msg_has("maximum");
    REFUSED(t, update(t, "c", "z", "{\"$set\":{\"n\":2}}", NULL, BURROW_UPSERT),
            BURROW_ECONSTRAINT);
    msg_has("unique index 'n'");
    REFUSED(t, update(t, "c", "z", "{\"$set\":{\"n\":\"2\"}}", NULL, BURROW_UPSERT),
            BURROW_ECONSTRAINT);
    ERR(burrow_doc_get(t, "c", "z", 1, NULL, &out_buf), BURROW_ENOTFOUND);
    check_indexes(t, "c");
    OK(burrow_txn_commit(t));
    OK(burrow_close(db));
}

static void test_errors(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    burrow_buf b = {0};
    /* no collection yet, not even the catalog */
    ERR(insert(t, "nope", "{}"), BURROW_ENOTFOUND);
    msg_has("no such collection 'nope'");
    ERR(burrow_doc_get(t, "nope", "x", 1, NULL, &b), BURROW_ENOTFOUND);
    msg_has("no such collection 'nope'");
    OK(burrow_coll_create(t, "c", NULL));
    ERR(insert(t, "nope", "{}"), BURROW_ENOTFOUND);
    msg_has("no such collection 'nope'");
    ERR(update(t, "nope", "x", "{\"$set\":{\"a\":1}}", NULL, BURROW_UPSERT), BURROW_ENOTFOUND);
    ERR(replace(t, "nope", "x", "{}"), BURROW_ENOTFOUND);
    ERR(del(t, "nope", "x"), BURROW_ENOTFOUND);
    ERR(burrow_coll_drop(t, "nope"), BURROW_ENOTFOUND);
    ERR(burrow_coll_set_schema(t, "nope", NULL), BURROW_ENOTFOUND);
    ERR(burrow_coll_schema(t, "nope", &b), BURROW_ENOTFOUND);
    ERR(burrow_index_create(t, "nope", "a", 0), BURROW_ENOTFOUND);
    ERR(burrow_index_list(t, "nope", strv_add_index, &(strv){0}), BURROW_ENOTFOUND);
    /* documents */
    ERR(burrow_doc_get(t, "c", "zz", 2, NULL, &b), BURROW_ENOTFOUND);
    msg_has("no document 'zz' in 'c'");
    OK(insert(t, "c", "{\"_id\":\"d\"}"));
    ERR(insert(t, "c", "{\"_id\":\"d\",\"x\":1}"), BURROW_EEXIST);
    msg_has("document 'd' already exists in 'c'");
    const char *not_objects[] = {"[1,2]", "42", "\"s\"", "null", "true", "[]"};
    for (size_t i = 0; i < 6; i++) {
        ERR(insert(t, "c", not_objects[i]), BURROW_EINVAL);
        msg_has("must be a JSON object");
    }
    char longid[300];
    const char *bad_ids[] = {"{\"_id\":5}",       "{\"_id\":\"\"}",      "{\"_id\":null}",
                             "{\"_id\":[\"a\"]}", "{\"_id\":{\"a\":1}}", longid};
    memset(longid, 0, sizeof longid);
    strcpy(longid, "{\"_id\":\"");
    memset(longid + strlen(longid), 'i', BURROW_MAX_ID_SIZE + 1);
    strcat(longid, "\"}");
    for (size_t i = 0; i < 6; i++) {
        ERR(insert(t, "c", bad_ids[i]), BURROW_EINVAL);
        msg_has("_id must be a string of 1 to 128 bytes");
    }
    longid[8 + BURROW_MAX_ID_SIZE] = '\0';
    strcat(longid, "\"}");
    OK(insert(t, "c", longid)); /* exactly the maximum */
    char id128[BURROW_MAX_ID_SIZE + 1];
    memset(id128, 'i', BURROW_MAX_ID_SIZE);
    id128[BURROW_MAX_ID_SIZE] = '\0';
    OK(burrow_doc_get(t, "c", id128, BURROW_MAX_ID_SIZE, NULL, &b));
    ERR(burrow_doc_get(t, "c", id128, 0, NULL, &b), BURROW_EINVAL);
    ERR(burrow_doc_get(t, "c", longid + 8, BURROW_MAX_ID_SIZE + 1, NULL, &b), BURROW_EINVAL);
    ERR(burrow_doc_get(t, "c", NULL, 1, NULL, &b), BURROW_EINVAL);
    ERR(del(t, "c", ""), BURROW_EINVAL);
    ERR(update(t, "c", "", "{\"$set\":{\"a\":1}}", NULL, BURROW_UPSERT), BURROW_EINVAL);
    ERR(burrow_doc_replace(t, "c", "", 0, "{}", 2), BURROW_EINVAL);
    /* JSON text */
    ERR(insert(t, "c", "{\"a\": }"), BURROW_EJSON);
    msg_has("1:7:");
    ERR(insert(t, "c", "{\n  \"a\": 1,\n  \"b\": tru\n}"), BURROW_EJSON);
    msg_has("3:11:");
    ERR(insert(t, "c", "{\"a\":1,\"a\":2}"), BURROW_EJSON);
    ERR(insert(t, "c", "{\"a\":1} x"), BURROW_EJSON);
    ERR(burrow_doc_insert(t, "c", NULL, 0, NULL), BURROW_EINVAL);
    ERR(replace(t, "c", "d", "{\"a\":}"), BURROW_EJSON);
    ERR(burrow_coll_create(t, "bad", "{\"fields\":"), BURROW_EJSON);
    /* collection names */
    char name129[BURROW_MAX_NAME_SIZE + 2], name128[BURROW_MAX_NAME_SIZE + 1];
    memset(name129, 'n', sizeof name129 - 1);
    name129[sizeof name129 - 1] = '\0';
    memset(name128, 'n', sizeof name128 - 1);
    name128[sizeof name128 - 1] = '\0';
    const char *bad_names[] = {"", name129, "a\nb", "a\037b", "a\x7f", "\xff\xfe", "\xc3"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        ERR(burrow_coll_create(t, bad_names[i], NULL), BURROW_EINVAL);
        msg_has("collection name");
        ERR(insert(t, bad_names[i], "{}"), BURROW_EINVAL);
    }
    ERR(burrow_coll_create(t, NULL, NULL), BURROW_EINVAL);
    ERR(burrow_coll_create(NULL, "x", NULL), BURROW_EINVAL);
    OK(burrow_coll_create(t, name128, NULL));
    OK(burrow_coll_create(t, "ñandú with spaces", NULL));
    OK(insert(t, "ñandú with spaces", "{\"_id\":\"1\"}"));
    ERR(burrow_coll_create(t, "c", NULL), BURROW_EEXIST);
    msg_has("collection 'c' already exists");
    /* schemas */
    ERR(burrow_coll_create(t, "s", "[1]"), BURROW_EINVAL);
    ERR(burrow_coll_create(t, "s", "{\"fields\":{\"a\":{\"typo\":1}}}"), BURROW_EINVAL);
    msg_has("schema:");
    ERR(burrow_coll_set_schema(t, "c", "{\"nonsense\":true}"), BURROW_EINVAL);
    /* indexes */
    ERR(burrow_index_drop(t, "c", "nope"), BURROW_ENOTFOUND);
    msg_has("no index 'nope' on 'c'");
    ERR(burrow_index_create(t, "c", "a,a", 0), BURROW_EINVAL);
    msg_has("field 'a' is listed twice");
    ERR(burrow_index_create(t, "c", "a, b ,a", 0), BURROW_EINVAL);
    msg_has("listed twice");
    ERR(burrow_index_create(t, "c", "", 0), BURROW_EINVAL);
    ERR(burrow_index_create(t, "c", NULL, 0), BURROW_EINVAL);
    ERR(burrow_index_create(t, "c", "a..b", 0), BURROW_EINVAL);
    ERR(burrow_index_create(t, "c", "a,b,c,d,e,f,g,h,i", 0), BURROW_EINVAL);
    ERR(burrow_index_create(t, "c", "a", 0x10), BURROW_EINVAL);
    OK(burrow_index_create(t, "c", "a, b", 0));
    ERR(burrow_index_create(t, "c", "a,b", BURROW_INDEX_UNIQUE), BURROW_EEXIST);
    msg_has("index 'a,b' already exists on 'c'");
    assert_string_equal(index_names(t, "c"), "a,b");
    OK(burrow_index_drop(t, "c", "a,b"));
    ERR(burrow_index_drop(t, "c", "a,b"), BURROW_ENOTFOUND);
    /* refusals above left the txn usable and the data as it was */
    OK(burrow_txn_commit(t));
    t = rtx(db);
    char want[1024];
    snprintf(want, sizeof want, "c,%s,ñandú with spaces", name128);
    assert_string_equal(coll_names(t), want);
    assert_string_equal(get(t, "c", "d"), "{\"_id\":\"d\"}");
    /* writes in a read txn */
    ERR(insert(t, "c", "{}"), BURROW_EREADONLY);
    ERR(burrow_coll_create(t, "r", NULL), BURROW_EREADONLY);
    ERR(burrow_coll_drop(t, "c"), BURROW_EREADONLY);
    ERR(burrow_coll_set_schema(t, "c", "{}"), BURROW_EREADONLY);
    ERR(burrow_coll_set_schema(t, "c", NULL), BURROW_EREADONLY);
    ERR(burrow_index_create(t, "c", "a", 0), BURROW_EREADONLY);
    ERR(update(t, "c", "d", "{\"$set\":{\"a\":1}}", NULL, 0), BURROW_EREADONLY);
    ERR(replace(t, "c", "d", "{}"), BURROW_EREADONLY);
    ERR(del(t, "c", "d"), BURROW_EREADONLY);
    burrow_txn_abort(t);
    burrow_buf_free(&b);
    OK(burrow_close(db));
}

static void test_odd_ids_and_big_documents(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 1024);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "c", NULL));
    OK(burrow_index_create(t, "c", "v", BURROW_INDEX_UNIQUE));
    OK(burrow_index_create(t, "c", "w", 0));
    /* ids with a NUL byte, UTF-8, the separator byte, and ids that are
     * prefixes of one another: the index keys end with the id and its
     * length, so none can pass for another */
    burrow_buf id = {0};
    const char *nul = "{\"_id\":\"a\\u0000b\",\"v\":1,\"w\":1}";
    OK(burrow_doc_insert(t, "c", nul, strlen(nul), &id));
    assert_int_equal(id.size, 3);
    assert_memory_equal(id.data, "a\0b", 3);
    ERR(burrow_doc_get(t, "c", "a", 1, NULL, &out_buf), BURROW_ENOTFOUND);
    OK(burrow_doc_get(t, "c", "a\0b", 3, NULL, &out_buf));
    assert_string_equal((char *)out_buf.data, "{\"_id\":\"a\\u0000b\",\"v\":1,\"w\":1}");
    OK(insert(t, "c", "{\"_id\":\"a\",\"v\":2,\"w\":1}"));
    OK(insert(t, "c", "{\"_id\":\"ab\",\"v\":3,\"w\":1}"));
    OK(insert(t, "c", "{\"_id\":\"ñ\\u001f\",\"v\":4,\"w\":1}"));
    ERR(insert(t, "c", "{\"_id\":\"abc\",\"v\":2}"), BURROW_ECONSTRAINT);
    msg_has("document 'a' already has this value");
    ERR(insert(t, "c", "{\"_id\":\"\",\"v\":9}"), BURROW_EINVAL);
    ERR(update(t, "c", "a", "{\"$set\":{\"v\":3}}", NULL, 0), BURROW_ECONSTRAINT);
    ERR(update(t, "c", "ab", "{\"$inc\":{\"v\":-1}}", NULL, 0), BURROW_ECONSTRAINT);
    ERR(update(t, "c", "ab", "{\"$inc\":{\"v\":7}}", NULL, 0), 1);
    OK(burrow_doc_delete(t, "c", "a\0b", 3));
    OK(insert(t, "c", "{\"_id\":\"x\",\"v\":1}")); /* the value is free again */
    assert_int_equal(check_indexes(t, "c"), 4);

    /* a document of a few hundred KiB: stored, read, updated and deleted
     * whole, its small fields indexed */
    size_t n = 300000;
    char *big = malloc(n + 100);
    assert_non_null(big);
    int at = snprintf(big, 100, "{\"_id\":\"big\",\"v\":100,\"w\":[1,2],\"blob\":\"");
    memset(big + at, 'z', n);
    strcpy(big + at + n, "\"}");
    OK(insert(t, "c", big));
    assert_string_equal(get(t, "c", "big"), big);
    ERR(update(t, "c", "big", "{\"$push\":{\"w\":3}}", NULL, 0), 1);
    assert_int_equal(check_indexes(t, "c"), 5);
    OK(burrow_txn_commit(t));
    t = rtx(db);
    burrow_output o = {.flags = BURROW_OUT_RAW, .fields = (const char *const[]){"w"}, .nfields = 1};
    assert_string_equal(getx(t, "c", "big", &o), "{\"_id\":\"big\",\"w\":[1,2,3]}");
    burrow_txn_abort(t);
    t = wtx(db);
    OK(replace(t, "c", "big", "{\"v\":100}"));
    ERR(insert(t, "c", big), BURROW_EEXIST);
    OK(del(t, "c", "big"));
    assert_int_equal(check_indexes(t, "c"), 4);
    OK(burrow_txn_commit(t));
    OK(burrow_check(db));
    free(big);
    burrow_buf_free(&id);
    OK(burrow_close(db));
}

/* ---- 2. refused writes change nothing ----------------------------------------- */

static void test_refused_changes_nothing(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 1024);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "u", NULL));
    OK(burrow_index_create(t, "u", "email", BURROW_INDEX_UNIQUE));
    OK(burrow_index_create(t, "u", "tags", BURROW_INDEX_UNIQUE));
    OK(burrow_index_create(t, "u", "first,last", BURROW_INDEX_UNIQUE));
    OK(burrow_index_create(t, "u", "age", 0));
    OK(insert(t, "u",
              "{\"_id\":\"u1\",\"email\":\"a@x\",\"tags\":[\"t1\",\"t2\"],\"first\":\"Ann\","
              "\"last\":\"Lee\",\"age\":30}"));
    OK(insert(t, "u",
              "{\"_id\":\"u2\",\"email\":\"b@x\",\"tags\":[\"t3\"],\"first\":\"Bob\","
              "\"last\":\"Lee\",\"age\":30,\"arr\":[1]}"));
    OK(insert(t, "u", "{\"_id\":\"u3\",\"first\":\"Ann\",\"tags\":[]}"));
    OK(burrow_coll_create(t, "s",
                          "{\"fields\":{"
                          "\"name\":{\"type\":\"string\",\"required\":true,\"minLength\":1},"
                          "\"age\":{\"type\":\"integer\",\"min\":0,\"max\":150},"
                          "\"email\":{\"type\":\"string\",\"unique\":true},"
                          "\"tags\":{\"type\":\"array\",\"items\":\"string\"}}}"));
    OK(insert(t, "s", "{\"_id\":\"s1\",\"name\":\"x\",\"age\":5,\"email\":\"e1\"}"));
    OK(insert(t, "s", "{\"_id\":\"s2\",\"name\":\"y\",\"age\":5,\"email\":\"e2\"}"));
    OK(burrow_txn_commit(t));
    buf start = {0}, now = {0};
    t = rtx(db);
    dump_db(t, &start);
    burrow_txn_abort(t);

    t = wtx(db);
    /* unique indexes: insert, replace, update, upsert; single, multikey,
     * compound */
    REFUSED(t, insert(t, "u", "{\"_id\":\"n1\",\"email\":\"a@x\"}"), BURROW_ECONSTRAINT);
    msg_has("unique index 'email': document 'u1' already has this value");
    REFUSED(t, insert(t, "u", "{\"_id\":\"n2\",\"tags\":[\"t9\",\"t2\"]}"), BURROW_ECONSTRAINT);
    msg_has("unique index 'tags'");
    REFUSED(t, insert(t, "u", "{\"_id\":\"n2\",\"tags\":\"t3\"}"), BURROW_ECONSTRAINT);
    REFUSED(t, insert(t, "u", "{\"_id\":\"n2\",\"tags\":[\"t9\",\"t9\",\"t3\"]}"),
            BURROW_ECONSTRAINT);
    REFUSED(t, insert(t, "u", "{\"_id\":\"n2\",\"tags\":[]}"), BURROW_ECONSTRAINT); /* u3's [] */
    REFUSED(t, insert(t, "u", "{\"_id\":\"n3\",\"first\":\"Ann\",\"last\":\"Lee\"}"),
            BURROW_ECONSTRAINT);
    msg_has("unique index 'first,last'");
    REFUSED(t, insert(t, "u", "{\"_id\":\"n3\",\"first\":[\"Zed\",\"Bob\"],\"last\":\"Lee\"}"),
            BURROW_ECONSTRAINT);
    REFUSED(t, insert(t, "u", "{\"_id\":\"n5\",\"first\":[\"a\",\"b\"],\"last\":[\"c\",\"d\"]}"),
            BURROW_ECONSTRAINT);
    msg_has("both hold arrays");
    char big[3000];
    snprintf(big, sizeof big, "{\"_id\":\"n6\",\"email\":\"%2900d\"}", 1);
    REFUSED(t, insert(t, "u", big), BURROW_ECONSTRAINT);
    msg_has("too long");
    REFUSED(t, replace(t, "u", "u2", "{\"email\":\"a@x\"}"), BURROW_ECONSTRAINT);
    REFUSED(t, replace(t, "u", "u2", "{\"tags\":[\"t1\"]}"), BURROW_ECONSTRAINT);
    REFUSED(t, replace(t, "u", "u3", "{\"first\":\"Bob\",\"last\":\"Lee\"}"), BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "u", "u2", "{\"$set\":{\"email\":\"a@x\"}}", NULL, 0), BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "u", "u2", "{\"$push\":{\"tags\":\"t2\"}}", NULL, 0), BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "u", "u2", "{\"$set\":{\"first\":\"Ann\"}}", NULL, 0), BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "u", "u3", "{\"$set\":{\"last\":\"Lee\"}}", NULL, 0), BURROW_ECONSTRAINT);
    REFUSED(t,
            update(t, "u", "u1", "{\"$set\":{\"first\":[\"A\",\"B\"],\"last\":[\"C\"]}}", NULL, 0),
            BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "u", "u9", "{\"$set\":{\"email\":\"b@x\"}}", NULL, BURROW_UPSERT),
            BURROW_ECONSTRAINT);
    /* other refusals */
    REFUSED(t, insert(t, "u", "{\"_id\":\"u1\"}"), BURROW_EEXIST);
    REFUSED(t, update(t, "u", "u1", "{\"$inc\":{\"email\":1}}", NULL, 0), BURROW_ETYPE);
    REFUSED(t, update(t, "u", "u1", "{\"$set\":{\"age\":1}}", "{\"age\":{\"$gt\":30}}", 0), 0);
    REFUSED(t, update(t, "u", "nope", "{\"$set\":{\"age\":1}}", NULL, 0), BURROW_ENOTFOUND);
    REFUSED(t, del(t, "u", "nope"), BURROW_ENOTFOUND);

    /* schema rules */
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\"}"), BURROW_ECONSTRAINT);
    msg_has("field 'name' is required");
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\",\"name\":5}"), BURROW_ECONSTRAINT);
    msg_has("field 'name': must be string, found integer");
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\",\"name\":\"\"}"), BURROW_ECONSTRAINT);
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\",\"name\":\"n\",\"age\":200}"), BURROW_ECONSTRAINT);
    msg_has("field 'age': 200 is above the maximum 150");
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\",\"name\":\"n\",\"age\":-1}"), BURROW_ECONSTRAINT);
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\",\"name\":\"n\",\"age\":1.5}"), BURROW_ECONSTRAINT);
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\",\"name\":\"n\",\"tags\":[\"a\",1]}"),
            BURROW_ECONSTRAINT);
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\",\"name\":\"n\",\"email\":\"e1\"}"),
            BURROW_ECONSTRAINT);
    msg_has("unique index 'email'");
    REFUSED(t, insert(t, "s", "{\"_id\":\"s1\",\"name\":\"n\",\"email\":\"e2\"}"),
            BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "s", "s1", "{\"$set\":{\"age\":\"old\"}}", NULL, 0), BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "s", "s1", "{\"$unset\":{\"name\":\"\"}}", NULL, 0), BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "s", "s1", "{\"$inc\":{\"age\":200}}", NULL, 0), BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "s", "s1", "{\"$set\":{\"email\":\"e2\"}}", NULL, 0), BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "s", "s3", "{\"$set\":{\"age\":1}}", NULL, BURROW_UPSERT),
            BURROW_ECONSTRAINT);
    REFUSED(t, replace(t, "s", "s1", "{\"age\":3}"), BURROW_ECONSTRAINT);

    /* indexes and schemas the data already breaks */
    REFUSED(t, burrow_index_create(t, "u", "last", BURROW_INDEX_UNIQUE), BURROW_ECONSTRAINT);
    msg_has("unique index 'last'");
    REFUSED(t, burrow_index_create(t, "u", "last,age", BURROW_INDEX_UNIQUE), BURROW_ECONSTRAINT);
    REFUSED(t, burrow_index_create(t, "u", "age", BURROW_INDEX_UNIQUE), BURROW_EEXIST);
    REFUSED(t, burrow_index_create(t, "u", "tags,arr", 0), BURROW_ECONSTRAINT);
    msg_has("both hold arrays");
    REFUSED(t, burrow_coll_set_schema(t, "u", "{\"fields\":{\"age\":{\"type\":\"string\"}}}"),
            BURROW_ECONSTRAINT);
    msg_has("document 'u1'");
    REFUSED(t, burrow_coll_set_schema(t, "u", "{\"fields\":{\"last\":{\"unique\":true}}}"),
            BURROW_ECONSTRAINT);
    /* the new schema drops the auto index on email before it builds the
     * one on age, which two documents break */
    REFUSED(t, burrow_coll_set_schema(t, "s", "{\"fields\":{\"age\":{\"unique\":true}}}"),
            BURROW_ECONSTRAINT);
    REFUSED(t, burrow_coll_set_schema(t, "s", "{\"fields\":{\"name\":{\"type\":\"integer\"}}}"),
            BURROW_ECONSTRAINT);
    /* the txn still works, and a refusal in a savepoint is no different */
    burrow_txn *child;
    OK(burrow_txn_begin(db, t, 0, &child));
    REFUSED(child, insert(child, "u", "{\"email\":\"b@x\"}"), BURROW_ECONSTRAINT);
    REFUSED(child, burrow_index_create(child, "u", "last", BURROW_INDEX_UNIQUE),
            BURROW_ECONSTRAINT);
    OK(burrow_txn_commit(child));
    dump_db(t, &now);
    same_dump(&start, &now, "the refusals");
    OK(burrow_txn_commit(t));
    t = rtx(db);
    dump_db(t, &now);
    same_dump(&start, &now, "committing the refusals");
    burrow_txn_abort(t);
    OK(burrow_check(db));
    buf_free(&start);
    buf_free(&now);
    OK(burrow_close(db));
}

/* ---- 3. random writes against a model ----------------------------------------------- */

/*
 * A few collections, ids k00..k39, random indexes from r_specs (single,
 * compound, unique, on fields that sometimes hold arrays, nested, often
 * missing, one whose values are sometimes too long to index). Each round
 * is a write txn of random operations, some inside savepoints that commit
 * or abort, and the txn commits or aborts; now and then the file is
 * closed and opened again. The model holds, per collection, the canonical
 * JSON of each document and the index list; it predicts the result of
 * every operation (refusals included: a duplicate id, a unique value
 * taken, two arrays in one compound index, a value too long to index, an
 * update the document's types refuse, a condition that does not hold) and
 * is changed only by what succeeds, and by commits. After every txn, in
 * it and after its end, the store must equal the model and every index
 * bucket must hold exactly the entries recomputed from the documents.
 */
#define R_COLLS 3
#define R_IDS 40
#define R_MAXIX 7

typedef struct rdoc {
    char *json; /* canonical JSON; NULL: no document */
    uint8_t *bin;
    size_t len;
} rdoc;

typedef struct rcoll {
    rdoc docs[R_IDS];
    char ix[R_MAXIX][32];
    bool unique[R_MAXIX];
    bool autom[R_MAXIX]; /* asked for by the schema */
    int nix;
    char schema[256]; /* its JSON text; "" when there is none */
    char req[6][8];   /* the fields it requires */
    int nreq;
} rcoll;

typedef struct rmodel {
    rcoll c[R_COLLS];
} rmodel;

static const char *const r_specs[] = {"a",     "b", "n.x", "tags",     "a,b", "b,tags",
                                      "n.x,a", "m", "s",   "tags,n.x", "n",   "n.x,b,a"};

static void rdoc_set(rdoc *d, const char *json)
{
    free(d->json);
    free(d->bin);
    memset(d, 0, sizeof *d);
    if (!json)
        return;
    burrow_buf bin = {0};
    OK(burrow_json_parse(json, strlen(json), &bin));
    d->json = strdup(json);
    assert_non_null(d->json);
    d->bin = bin.data;
    d->len = bin.size;
}

static void model_copy(rmodel *dst, const rmodel *src)
{
    memcpy(dst, src, sizeof *dst);
    for (int c = 0; c < R_COLLS; c++)
        for (int i = 0; i < R_IDS; i++) {
            memset(&dst->c[c].docs[i], 0, sizeof(rdoc));
            rdoc_set(&dst->c[c].docs[i], src->c[c].docs[i].json);
        }
}

static void model_free(rmodel *m)
{
    for (int c = 0; c < R_COLLS; c++)
        for (int i = 0; i < R_IDS; i++)
            rdoc_set(&m->c[c].docs[i], NULL);
}

static void r_id(int slot, char id[8])
{
    snprintf(id, 8, "k%02d", slot % 100);
}

/* The canonical JSON of a binary document, malloc'd. */
static char *canonical(const void *bin, size_t len)
{
    burrow_buf j = {0};
    OK(burrow_json_write(bin, len, 0, &j));
    return (char *)j.data;
}

static void gen_value(tu_rng *r, buf *s)
{
    int k = (int)tu_below(r, 8);
    switch (tu_below(r, 14)) {
    case 7: bufprintf(s, "\"s%d\"", k % 4); break;
    case 8: bufprintf(s, "null"); break;
    case 9: bufprintf(s, "%d.5", k); break;
    case 10: bufprintf(s, "[%d,%d]", k, (int)tu_below(r, 8)); break;
    case 11: bufprintf(s, "[]"); break;
    case 12: bufprintf(s, "{\"k\":%d}", k % 3); break;
    case 13: bufprintf(s, "true"); break;
    default: bufprintf(s, "%d", k); break;
    }
}

static void gen_tags(tu_rng *r, buf *s)
{
    if (tu_chance(r, 1, 6)) {
        bufprintf(s, "\"t%d\"", (int)tu_below(r, 6));
        return;
    }
    int n = (int)tu_below(r, 5);
    bufprintf(s, "[");
    for (int i = 0; i < n; i++)
        bufprintf(s, "%s\"t%d\"", i ? "," : "", (int)tu_below(r, 6));
    bufprintf(s, "]");
}

/* A string of 1 to 300 bytes: past about 200 it is too long to index
 * with 1 KiB pages. */
static void gen_long(tu_rng *r, buf *s)
{
    int n = (int)tu_range(r, 1, 300);
    bufprintf(s, "\"%d", (int)tu_below(r, 3));
    for (int i = 1; i < n; i++)
        bufprintf(s, "p");
    bufprintf(s, "\"");
}

/* The members of a random document, without braces (may be none). */
static void gen_fields(tu_rng *r, buf *s)
{
    const char *sep = "";
    if (tu_chance(r, 7, 10)) {
        bufprintf(s, "%s\"a\":", sep);
        gen_value(r, s);
        sep = ",";
    }
    if (tu_chance(r, 6, 10)) {
        if (tu_chance(r, 3, 4))
            bufprintf(s, "%s\"b\":%d", sep, (int)tu_below(r, 5));
        else
            bufprintf(s, "%s\"b\":[%d,%d]", sep, (int)tu_below(r, 5), (int)tu_below(r, 5));
        sep = ",";
    }
    if (tu_chance(r, 6, 10)) {
        int x = (int)tu_below(r, 6), y = (int)tu_below(r, 6);
        static const char *const forms[] = {"{\"x\":%d}",
                                            "{\"x\":%d}",
                                            "{\"x\":[%d,%d]}",
                                            "{\"y\":%d}",
                                            "[{\"x\":%d},{\"x\":%d}]",
                                            "%d",
                                            "{\"x\":{\"z\":%d}}"};
        bufprintf(s, "%s\"n\":", sep);
        bufprintf(s, forms[tu_below(r, 7)], x, y);
        sep = ",";
    }
    if (tu_chance(r, 6, 10)) {
        bufprintf(s, "%s\"tags\":", sep);
        gen_tags(r, s);
        sep = ",";
    }
    if (tu_chance(r, 1, 10)) {
        bufprintf(s, "%s\"m\":%d", sep, (int)tu_below(r, 3));
        sep = ",";
    }
    if (tu_chance(r, 1, 6)) {
        bufprintf(s, "%s\"s\":", sep);
        gen_long(r, s);
    }
}

static void gen_update(tu_rng *r, buf *s)
{
    int k = (int)tu_below(r, 6);
    switch (tu_below(r, 14)) {
    case 0:
        bufprintf(s, "{\"$set\":{\"a\":");
        gen_value(r, s);
        bufprintf(s, "}}");
        break;
    case 1:
        bufprintf(s, "{\"$set\":{\"n.x\":");
        gen_value(r, s);
        bufprintf(s, "}}");
        break;
    case 2:
        bufprintf(s, "{\"$set\":{\"tags\":");
        gen_tags(r, s);
        bufprintf(s, "}}");
        break;
    case 3: bufprintf(s, "{\"$unset\":{\"a\":\"\"}}"); break;
    case 4: bufprintf(s, "{\"$unset\":{\"n.x\":\"\",\"b\":\"\"}}"); break;
    case 5: bufprintf(s, "{\"$inc\":{\"b\":%d}}", k - 2); break;
    case 6: bufprintf(s, "{\"$mul\":{\"b\":2}}"); break;
    case 7: bufprintf(s, "{\"$min\":{\"a\":%d}}", k); break;
    case 8: bufprintf(s, "{\"$max\":{\"a\":%d}}", k); break;
    case 9: bufprintf(s, "{\"$push\":{\"tags\":\"t%d\"}}", k); break;
    case 10:
        bufprintf(s, "{\"$push\":{\"tags\":{\"$each\":[\"t%d\",\"t%d\"],\"$slice\":-3}}}", k,
                  (int)tu_below(r, 6));
        break;
    case 11: bufprintf(s, "{\"$pull\":{\"tags\":\"t%d\"}}", k); break;
    case 12:
        bufprintf(s, "{\"$set\":{\"s\":");
        gen_long(r, s);
        bufprintf(s, "}}");
        break;
    default: bufprintf(s, "{\"$set\":{\"m\":%d},\"$inc\":{\"b\":1}}", k % 3); break;
    }
}

/* A condition for an update, or nothing. */
static bool gen_cond(tu_rng *r, buf *s)
{
    int k = (int)tu_below(r, 6);
    switch (tu_below(r, 10)) {
    case 0: bufprintf(s, "{\"b\":{\"$lt\":%d}}", k); return true;
    case 1: bufprintf(s, "{\"a\":{\"$exists\":true}}"); return true;
    case 2: bufprintf(s, "{\"tags\":\"t%d\"}", k); return true;
    case 3: bufprintf(s, "{\"n.x\":{\"$gte\":%d}}", k); return true;
    default: return false;
    }
}

static bool key_has_missing(const uint8_t *k, size_t vlen)
{
    const uint8_t *p = k, *end = k + vlen;
    while (p < end) {
        size_t n = doc_key_size(p, end);
        assert_true(n > 0);
        if (p[0] == DOC_KEY_MISSING)
            return true;
        p += n;
    }
    return false;
}

/* Would the keys (of index ixname, for the document in slot self) meet
 * another document's equal, complete values? */
static bool r_collides(const rcoll *c, const char *ixname, int self, const buf *keys, size_t n)
{
    buf other = {0};
    bool hit = false;
    for (int o = 0; o < R_IDS && !hit; o++) {
        if (o == self || !c->docs[o].json)
            continue;
        char oid[8];
        size_t on;
        r_id(o, oid);
        OK(doc_index_keys(ixname, c->docs[o].bin, c->docs[o].len, oid, 3, &other, &on, NULL));
        size_t off = 0;
        for (size_t i = 0; i < n && !hit; i++) {
            uint32_t kl = le32_load(keys->data + off);
            const uint8_t *k = keys->data + off + 4;
            off += 4 + kl;
            size_t vlen = kl - 1 - 3;
            if (key_has_missing(k, vlen))
                continue;
            size_t ooff = 0;
            for (size_t j = 0; j < on && !hit; j++) {
                uint32_t okl = le32_load(other.data + ooff);
                hit = okl == kl && memcmp(other.data + ooff + 4, k, vlen) == 0;
                ooff += 4 + okl;
            }
        }
    }
    buf_free(&other);
    return hit;
}

/* Does bin lack a field c's schema requires? */
static bool r_schema_bad(const rcoll *c, const void *bin, size_t len)
{
    doc_val root, v;
    OK(doc_root(bin, len, &root));
    for (int i = 0; i < c->nreq; i++)
        if (doc_object_get(root, c->req[i], strlen(c->req[i]), &v) == BURROW_ENOTFOUND)
            return true;
    return false;
}

/* Would storing bin in slot self of c break one of c's indexes? */
static bool r_violates(burrow_db *db, const rcoll *c, int self, const void *bin, size_t len)
{
    size_t max = burrow_max_key_size(db);
    char id[8];
    r_id(self, id);
    buf keys = {0};
    bool bad = false;
    for (int i = 0; i < c->nix && !bad; i++) {
        size_t n;
        int rc = doc_index_keys(c->ix[i], bin, len, id, 3, &keys, &n, NULL);
        if (rc == BURROW_ECONSTRAINT) {
            bad = true;
            break;
        }
        OK(rc);
        size_t off = 0;
        for (size_t k = 0; k < n && !bad; k++) {
            uint32_t kl = le32_load(keys.data + off);
            bad = kl > max;
            off += 4 + kl;
        }
        if (!bad && c->unique[i])
            bad = r_collides(c, c->ix[i], self, &keys, n);
    }
    buf_free(&keys);
    return bad;
}

/* The result burrow_index_create must give on c. */
static int r_index_result(burrow_db *db, const rcoll *c, const char *name, bool unique)
{
    for (int i = 0; i < c->nix; i++)
        if (strcmp(c->ix[i], name) == 0)
            return BURROW_EEXIST;
    rcoll one = *c; /* only this index: first each document's own keys,
                       then, when unique, collisions between them */
    strcpy(one.ix[0], name);
    one.nix = 1;
    for (int pass = 0; pass < 1 + unique; pass++) {
        one.unique[0] = pass == 1;
        for (int d = 0; d < R_IDS; d++)
            if (c->docs[d].json && r_violates(db, &one, d, c->docs[d].bin, c->docs[d].len))
                return BURROW_ECONSTRAINT;
    }
    return 0;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The store as t sees it equals the model. */
static void r_verify(burrow_txn *t, const rmodel *m)
{
    /* exactly the buckets the model asks for */
    const char *want[1 + R_COLLS * (1 + R_MAXIX)];
    char names[R_COLLS * (1 + R_MAXIX)][64];
    size_t nwant = 0, nn = 0;
    want[nwant++] = META_BUCKET;
    for (int c = 0; c < R_COLLS; c++) {
        snprintf(names[nn], 64, "c:c%d", c);
        want[nwant++] = names[nn++];
        for (int i = 0; i < m->c[c].nix; i++) {
            snprintf(names[nn], 64, "i:c%d\x1f%s", c, m->c[c].ix[i]);
            want[nwant++] = names[nn++];
        }
    }
    qsort(want, nwant, sizeof *want, name_cmp);
    strv have = {0};
    OK(burrow_bucket_list(t, strv_add, &have));
    for (size_t i = 0; i < nwant || i < have.n; i++)
        if (i >= nwant || i >= have.n || strcmp(want[i], have.v[i]) != 0)
            fail_msg("%sbucket %zu is '%s', want '%s'", ctx, i, i < have.n ? have.v[i] : "(none)",
                     i < nwant ? want[i] : "(none)");
    strv_free(&have);

    for (int c = 0; c < R_COLLS; c++) {
        const rcoll *mc = &m->c[c];
        char coll[16], bname[24];
        snprintf(coll, sizeof coll, "c%d", c);
        /* the documents */
        burrow_bucket b;
        burrow_cursor *cur;
        burrow_val k, v;
        snprintf(bname, sizeof bname, "c:%s", coll);
        OK(burrow_bucket_open(t, bname, 0, &b));
        OK(burrow_cursor_open(t, b, &cur));
        int rc = burrow_cursor_first(cur, &k, &v);
        size_t n = 0;
        for (int i = 0; i < R_IDS; i++) {
            if (!mc->docs[i].json)
                continue;
            char id[8];
            r_id(i, id);
            if (rc || k.size != 3 || memcmp(k.data, id, 3) != 0)
                fail_msg("%s%s: document %s missing (found %.*s)", ctx, coll, id,
                         rc ? 6 : (int)k.size, rc ? "(none)" : (const char *)k.data);
            char *json = canonical(v.data, v.size);
            if (strcmp(json, mc->docs[i].json) != 0)
                fail_msg("%s%s/%s is %s, want %s", ctx, coll, id, json, mc->docs[i].json);
            free(json);
            n++;
            rc = burrow_cursor_next(cur, &k, &v);
        }
        if (rc == 0)
            fail_msg("%s%s: document %.*s should not be there", ctx, coll, (int)k.size,
                     (const char *)k.data);
        ERR(rc, BURROW_ENOTFOUND);
        burrow_cursor_close(cur);
        uint64_t count;
        OK(burrow_bucket_count(t, b, &count));
        if (count != n)
            fail_msg("%s%s: burrow_bucket_count says %llu documents, the cursor finds %zu", ctx,
                     coll, (unsigned long long)count, n);
        /* the index list, then every index's entries */
        const char *order[R_MAXIX];
        for (int i = 0; i < mc->nix; i++)
            order[i] = mc->ix[i];
        qsort(order, (size_t)mc->nix, sizeof *order, name_cmp);
        char list[1024] = "";
        for (int i = 0; i < mc->nix; i++) {
            bool u = false;
            for (int j = 0; j < mc->nix; j++)
                if (mc->ix[j] == order[i])
                    u = mc->unique[j];
            size_t at = strlen(list);
            snprintf(list + at, sizeof list - at, "%s%s%s", i ? "," : "", order[i], u ? ":u" : "");
        }
        const char *got = index_names(t, coll);
        if (strcmp(got, list) != 0)
            fail_msg("%s%s: indexes %s, want %s", ctx, coll, got, list);
        burrow_buf js = {0};
        OK(burrow_coll_schema(t, coll, &js));
        if (strcmp((char *)js.data, mc->schema[0] ? mc->schema : "null") != 0)
            fail_msg("%s%s: schema %s, want %s", ctx, coll, (char *)js.data,
                     mc->schema[0] ? mc->schema : "null");
        burrow_buf_free(&js);
        assert_int_equal(check_indexes(t, coll), n);
    }
}

enum { T_UNIQUE, T_ARRAYS, T_LONG, T_REQUIRED, T_EXIST, T_NOTFOUND, T_TYPE, T_COND, T_NKINDS };
static const char *const tally_names[T_NKINDS] = {"unique",     "two arrays",     "too long",
                                                  "required",   "duplicate id",   "not found",
                                                  "type/range", "condition false"};

typedef struct rrun {
    burrow_db *db;
    tu_rng r;
    unsigned round, op;
    unsigned refused, applied;
    unsigned tally[T_NKINDS];
} rrun;

/* Count a refusal (rc <= 0) by its kind, from its code and message. */
static void tally(rrun *x, int rc)
{
    const char *m = burrow_errmsg();
    if (rc == BURROW_ECONSTRAINT && strstr(m, "both hold arrays"))
        x->tally[T_ARRAYS]++;
    else if (rc == BURROW_ECONSTRAINT && strstr(m, "too long"))
        x->tally[T_LONG]++;
    else if (rc == BURROW_ECONSTRAINT && strstr(m, "required"))
        x->tally[T_REQUIRED]++;
    else if (rc == BURROW_ECONSTRAINT)
        x->tally[T_UNIQUE]++;
    else if (rc == BURROW_EEXIST)
        x->tally[T_EXIST]++;
    else if (rc == BURROW_ENOTFOUND)
        x->tally[T_NOTFOUND]++;
    else if (rc == BURROW_ETYPE || rc == BURROW_ERANGE)
        x->tally[T_TYPE]++;
    else if (rc == 0)
        x->tally[T_COND]++;
}

static void r_ops(rrun *x, burrow_txn *t, rmodel *m, int nops, int depth);

/*
 * burrow_coll_set_schema with up to two fields that are required, unique
 * or indexed (or none of these), or no schema at all. The model: every
 * document must have the required fields; an index the schema names is
 * kept when of the kind it asks for (a manual one then belongs to the
 * schema), else rebuilt; the schema's other indexes go; manual ones stay.
 */
static void r_set_schema(rrun *x, burrow_txn *t, rcoll *mc, const char *coll)
{
    static const char *const pool[] = {"a", "b", "n.x", "tags", "m", "s"};
    tu_rng *r = &x->r;
    rcoll next = *mc; /* the index list and schema after; docs shared, never freed here */
    int nf = (int)tu_below(r, 3);
    bool none = nf == 0 && tu_chance(r, 1, 2);
    int picked[2] = {-1, -1}, kind[2] = {0, 0};
    buf js = {0};
    next.nreq = 0;
    next.schema[0] = '\0';
    if (!none) {
        bufprintf(&js, "{\"fields\":{");
        for (int f = 0; f < nf; f++) {
            do
                picked[f] = (int)tu_below(r, 6);
            while (f == 1 && picked[1] == picked[0]);
            const char *name = pool[picked[f]];
            kind[f] = (int)tu_below(r, 3); /* 0 plain, 1 indexed, 2 unique */
            bool req = strcmp(name, "n.x") != 0 && tu_chance(r, 1, 4);
            bufprintf(&js, "%s\"%s\":{", f ? "," : "", name);
            const char *sep = "";
            if (kind[f]) {
                bufprintf(&js, "\"%s\":true", kind[f] == 2 ? "unique" : "indexed");
                sep = ",";
            }
            if (req) {
                bufprintf(&js, "%s\"required\":true", sep);
                strcpy(next.req[next.nreq++], name);
            }
            bufprintf(&js, "}");
        }
        bufprintf(&js, "}}");
        snprintf(next.schema, sizeof next.schema, "%s", (char *)js.data);
    }
    snprintf(ctx, sizeof ctx, "round %u op %u: set_schema %s %s: ", x->round, x->op, coll,
             none ? "null" : (char *)js.data);

    int want = 0;
    for (int d = 0; d < R_IDS && !want; d++)
        if (mc->docs[d].json && r_schema_bad(&next, mc->docs[d].bin, mc->docs[d].len))
            want = BURROW_ECONSTRAINT;
    /* the new index list */
    next.nix = 0;
    for (int i = 0; i < mc->nix; i++) {
        bool named = false, keep = !mc->autom[i];
        for (int f = 0; f < nf && !none; f++)
            if (kind[f] && strcmp(pool[picked[f]], mc->ix[i]) == 0) {
                named = true;
                keep = (kind[f] == 2) == mc->unique[i];
            }
        if (!keep)
            continue;
        strcpy(next.ix[next.nix], mc->ix[i]);
        next.unique[next.nix] = mc->unique[i];
        next.autom[next.nix++] = mc->autom[i] || named;
    }
    int kept = next.nix;
    for (int f = 0; f < nf && !none; f++) {
        if (!kind[f])
            continue;
        bool have = false;
        for (int i = 0; i < kept; i++)
            have |= strcmp(next.ix[i], pool[picked[f]]) == 0;
        if (have)
            continue;
        if (next.nix == R_MAXIX) {
            buf_free(&js);
            return; /* more indexes than the model keeps */
        }
        rcoll bare = *mc;
        bare.nix = 0;
        if (!want)
            want = r_index_result(x->db, &bare, pool[picked[f]], kind[f] == 2);
        strcpy(next.ix[next.nix], pool[picked[f]]);
        next.unique[next.nix] = kind[f] == 2;
        next.autom[next.nix++] = true;
    }
    buf before = {0}, later = {0};
    if (want)
        dump_db(t, &before);
    ERR(burrow_coll_set_schema(t, coll, none ? NULL : (char *)js.data), want);
    if (want) {
        tally(x, want);
        dump_db(t, &later);
        same_dump(&before, &later, "the refused schema");
        x->refused++;
    } else {
        memcpy(mc->ix, next.ix, sizeof next.ix);
        memcpy(mc->unique, next.unique, sizeof next.unique);
        memcpy(mc->autom, next.autom, sizeof next.autom);
        mc->nix = next.nix;
        memcpy(mc->schema, next.schema, sizeof next.schema);
        memcpy(mc->req, next.req, sizeof next.req);
        mc->nreq = next.nreq;
        x->applied++;
    }
    buf_free(&before);
    buf_free(&later);
    buf_free(&js);
}

/* One random operation on t, predicted by m and applied to it when it
 * succeeds. */
static void r_op(rrun *x, burrow_txn *t, rmodel *m, int depth)
{
    tu_rng *r = &x->r;
    int c = (int)tu_below(r, R_COLLS), slot = (int)tu_below(r, R_IDS);
    rcoll *mc = &m->c[c];
    char coll[16], id[8];
    snprintf(coll, sizeof coll, "c%d", c);
    r_id(slot, id);
    rdoc *d = &mc->docs[slot];
    buf text = {0}, cond = {0};
    unsigned what = (unsigned)tu_below(r, 100);
    if (what >= 30 && what < 85 && tu_chance(r, 3, 4)) {
        /* mostly an existing document for replace, update and delete */
        int live[R_IDS], nlive = 0;
        for (int i = 0; i < R_IDS; i++)
            if (mc->docs[i].json)
                live[nlive++] = i;
        if (nlive) {
            slot = live[tu_below(r, (uint64_t)nlive)];
            r_id(slot, id);
            d = &mc->docs[slot];
        }
    }
    int want = 0, alt = 0x7fffffff, got;
    bool change = false; /* a success changes the documents */
    char *after = NULL;  /* the document's JSON after a success */
    x->op++;

    if (what < 30) { /* insert */
        bufprintf(&text, "{\"_id\":\"%s\"", id);
        size_t at = text.size;
        bufprintf(&text, ",");
        gen_fields(r, &text);
        if (text.size == at + 1)
            text.size = at;
        bufprintf(&text, "}");
        rdoc nd = {0};
        rdoc_set(&nd, (char *)text.data);
        after = canonical(nd.bin, nd.len);
        bool viol = r_schema_bad(mc, nd.bin, nd.len) || r_violates(x->db, mc, slot, nd.bin, nd.len);
        rdoc_set(&nd, NULL);
        want = d->json ? BURROW_EEXIST : viol ? BURROW_ECONSTRAINT : 0;
        if (d->json && viol)
            alt = BURROW_ECONSTRAINT; /* which check comes first is not promised */
        change = true;
        snprintf(ctx, sizeof ctx, "round %u op %u: insert %s %s: ", x->round, x->op, coll,
                 (char *)text.data);
    } else if (what < 42) { /* replace, with or without _id */
        bool with_id = tu_chance(r, 1, 2);
        buf fields = {0}, full = {0};
        gen_fields(r, &fields);
        const char *fs = fields.size ? (const char *)fields.data : "";
        const char *sep = fields.size ? "," : "";
        bufprintf(&full, "{\"_id\":\"%s\"%s%s}", id, sep, fs);
        if (with_id)
            bufprintf(&text, "%s", (const char *)full.data);
        else
            bufprintf(&text, "{%s}", fs);
        buf_free(&fields);
        rdoc nd = {0};
        rdoc_set(&nd, (char *)full.data);
        buf_free(&full);
        after = canonical(nd.bin, nd.len);
        bool viol = r_schema_bad(mc, nd.bin, nd.len) || r_violates(x->db, mc, slot, nd.bin, nd.len);
        rdoc_set(&nd, NULL);
        want = !d->json ? BURROW_ENOTFOUND : viol ? BURROW_ECONSTRAINT : 0;
        change = true;
        snprintf(ctx, sizeof ctx, "round %u op %u: replace %s/%s %s: ", x->round, x->op, coll, id,
                 (char *)text.data);
    } else if (what < 70) { /* update, maybe conditional, maybe upsert */
        gen_update(r, &text);
        bool has_cond = gen_cond(r, &cond);
        unsigned flags = tu_chance(r, 1, 4) ? BURROW_UPSERT : 0;
        snprintf(ctx, sizeof ctx, "round %u op %u: update %s/%s %s if %s%s: ", x->round, x->op,
                 coll, id, (char *)text.data, has_cond ? (char *)cond.data : "-",
                 flags ? " upsert" : "");
        burrow_update *u;
        burrow_filter *f = NULL;
        OK(burrow_update_compile((char *)text.data, text.size, &u));
        if (has_cond)
            OK(burrow_filter_compile((char *)cond.data, cond.size, &f));
        rdoc base = {0};
        if (d->json) {
            rdoc_set(&base, d->json);
        } else if (flags) {
            char j[32];
            snprintf(j, sizeof j, "{\"_id\":\"%s\"}", id);
            rdoc_set(&base, j);
        }
        if (!base.json) {
            want = BURROW_ENOTFOUND;
        } else if (f && burrow_filter_match(f, base.bin, base.len) == 0) {
            want = 0;
        } else {
            doc_builder b;
            doc_builder_init(&b);
            doc_val root;
            bool changed = false;
            OK(doc_root(base.bin, base.len, &root));
            int rc = doc_update_apply((const doc_update *)u, root, &b, &changed);
            const uint8_t *nd;
            size_t nl;
            if (rc) {
                want = rc;
            } else {
                OK(doc_builder_finish(&b, &nd, &nl));
                if (!changed && d->json) {
                    want = 1;
                } else {
                    bool viol = r_schema_bad(mc, nd, nl) || r_violates(x->db, mc, slot, nd, nl);
                    want = viol ? BURROW_ECONSTRAINT : 1;
                    after = canonical(nd, nl);
                    change = true;
                }
            }
            doc_builder_free(&b);
        }
        rdoc_set(&base, NULL);
        buf before = {0}, later = {0};
        if (want <= 0 || !change)
            dump_db(t, &before);
        got = burrow_doc_update(t, coll, id, 3, u, f, flags);
        if (got != want)
            fail_msg("%sgot %d %s (%s), want %d %s", ctx, got, burrow_strerror(got),
                     burrow_errmsg(), want, burrow_strerror(want));
        tally(x, got);
        if (want <= 0 || !change) {
            dump_db(t, &later);
            same_dump(&before, &later, "the update");
        }
        buf_free(&before);
        buf_free(&later);
        burrow_update_free(u);
        if (f)
            burrow_filter_free(f);
        if (got == 1 && change) {
            rdoc_set(d, after);
            x->applied++;
        } else {
            x->refused++;
        }
        free(after);
        buf_free(&text);
        buf_free(&cond);
        return;
    } else if (what < 85) { /* delete */
        want = d->json ? 0 : BURROW_ENOTFOUND;
        change = true;
        snprintf(ctx, sizeof ctx, "round %u op %u: delete %s/%s: ", x->round, x->op, coll, id);
    } else if (what < 89) { /* create an index */
        const char *spec = r_specs[tu_below(r, sizeof r_specs / sizeof *r_specs)];
        bool unique = tu_chance(r, 1, 2);
        snprintf(ctx, sizeof ctx, "round %u op %u: index_create %s %s%s: ", x->round, x->op, coll,
                 spec, unique ? " unique" : "");
        want = r_index_result(x->db, mc, spec, unique);
        if (want == 0 && mc->nix == R_MAXIX) {
            buf_free(&text);
            return;
        }
        buf before = {0}, later = {0};
        if (want)
            dump_db(t, &before);
        ERR(burrow_index_create(t, coll, spec, unique ? BURROW_INDEX_UNIQUE : 0), want);
        tally(x, want ? want : 1);
        if (want) {
            dump_db(t, &later);
            same_dump(&before, &later, "the refused index");
            x->refused++;
        } else {
            strcpy(mc->ix[mc->nix], spec);
            mc->autom[mc->nix] = false;
            mc->unique[mc->nix++] = unique;
            x->applied++;
        }
        buf_free(&before);
        buf_free(&later);
        return;
    } else if (what < 92) { /* drop an index */
        int i = mc->nix ? (int)tu_below(r, (uint64_t)mc->nix) : -1;
        snprintf(ctx, sizeof ctx, "round %u op %u: index_drop %s %s: ", x->round, x->op, coll,
                 i >= 0 ? mc->ix[i] : "b");
        if (i < 0) {
            ERR(burrow_index_drop(t, coll, "b"), BURROW_ENOTFOUND);
            return;
        }
        if (mc->autom[i]) { /* the schema's: refused */
            REFUSED(t, burrow_index_drop(t, coll, mc->ix[i]), BURROW_EINVAL);
            return;
        }
        ERR(burrow_index_drop(t, coll, mc->ix[i]), 0);
        mc->nix--;
        memmove(mc->ix[i], mc->ix[i + 1], (size_t)(mc->nix - i) * sizeof mc->ix[0]);
        memmove(&mc->unique[i], &mc->unique[i + 1], (size_t)(mc->nix - i) * sizeof mc->unique[0]);
        memmove(&mc->autom[i], &mc->autom[i + 1], (size_t)(mc->nix - i) * sizeof mc->autom[0]);
        return;
    } else if (what < 95) { /* a new schema, or none */
        r_set_schema(x, t, mc, coll);
        buf_free(&text);
        return;
    } else if (what < 96) { /* drop the collection and create it again */
        snprintf(ctx, sizeof ctx, "round %u op %u: drop and create %s: ", x->round, x->op, coll);
        ERR(burrow_coll_drop(t, coll), 0);
        ERR(burrow_coll_create(t, coll, NULL), 0);
        for (int i = 0; i < R_IDS; i++)
            rdoc_set(&mc->docs[i], NULL);
        mc->nix = 0;
        mc->schema[0] = '\0';
        mc->nreq = 0;
        return;
    } else { /* a savepoint, committed or aborted */
        if (depth > 0)
            return;
        burrow_txn *child;
        OK(burrow_txn_begin(x->db, t, 0, &child));
        rmodel sub;
        model_copy(&sub, m);
        r_ops(x, child, &sub, (int)tu_range(r, 1, 6), depth + 1);
        if (tu_chance(r, 1, 2)) {
            snprintf(ctx, sizeof ctx, "round %u op %u: savepoint committed: ", x->round, x->op);
            OK(burrow_txn_commit(child));
            model_free(m);
            *m = sub;
        } else {
            snprintf(ctx, sizeof ctx, "round %u op %u: savepoint aborted: ", x->round, x->op);
            burrow_txn_abort(child);
            model_free(&sub);
        }
        r_verify(t, m);
        return;
    }

    /* insert, replace, delete */
    buf before = {0}, later = {0};
    if (want < 0)
        dump_db(t, &before);
    if (what < 30)
        got = insert(t, coll, (char *)text.data);
    else if (what < 42)
        got = replace(t, coll, id, (char *)text.data);
    else
        got = del(t, coll, id);
    if (got != want && got != alt)
        fail_msg("%sgot %d %s (%s), want %d %s", ctx, got, burrow_strerror(got), burrow_errmsg(),
                 want, burrow_strerror(want));
    if (got < 0)
        tally(x, got);
    if (want < 0) {
        dump_db(t, &later);
        same_dump(&before, &later, "the refused write");
        x->refused++;
    } else if (change) {
        rdoc_set(d, what < 70 ? after : NULL);
        x->applied++;
    }
    buf_free(&before);
    buf_free(&later);
    free(after);
    buf_free(&text);
    buf_free(&cond);
}

static void r_ops(rrun *x, burrow_txn *t, rmodel *m, int nops, int depth)
{
    for (int i = 0; i < nops; i++)
        r_op(x, t, m, depth);
}

static void test_random_against_model(void **state)
{
    (void)state;
    rrun x = {0};
    uint64_t seed = tu_seed();
    tu_rng_seed(&x.r, tu_mix(seed ^ 0xC011EC7ull));
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(400, 10000);
    x.db = db_open(true, 1024);
    rmodel committed;
    memset(&committed, 0, sizeof committed);
    burrow_txn *t = wtx(x.db);
    for (int c = 0; c < R_COLLS; c++) {
        char coll[16];
        snprintf(coll, sizeof coll, "c%d", c);
        OK(burrow_coll_create(t, coll, NULL));
    }
    OK(burrow_txn_commit(t));
    for (x.round = 0; x.round < rounds; x.round++) {
        rmodel work;
        model_copy(&work, &committed);
        t = wtx(x.db);
        r_ops(&x, t, &work, (int)tu_range(&x.r, 1, 12), 0);
        snprintf(ctx, sizeof ctx, "seed %llu round %u, in the txn: ", (unsigned long long)seed,
                 x.round);
        r_verify(t, &work);
        if (tu_chance(&x.r, 3, 4)) {
            OK(burrow_txn_commit(t));
            model_free(&committed);
            committed = work;
        } else {
            burrow_txn_abort(t);
            model_free(&work);
        }
        snprintf(ctx, sizeof ctx, "seed %llu round %u, after the txn: ", (unsigned long long)seed,
                 x.round);
        t = rtx(x.db);
        r_verify(t, &committed);
        burrow_txn_abort(t);
        if (tu_chance(&x.r, 1, 15)) {
            OK(burrow_close(x.db));
            x.db = db_open(false, 1024);
            OK(burrow_check(x.db));
            snprintf(ctx, sizeof ctx, "seed %llu round %u, reopened: ", (unsigned long long)seed,
                     x.round);
            t = rtx(x.db);
            r_verify(t, &committed);
            burrow_txn_abort(t);
        }
    }
    OK(burrow_check(x.db));
    OK(burrow_close(x.db));
    print_message("%u rounds, %u operations: %u applied, %u refused or without effect:", rounds,
                  x.op, x.applied, x.refused);
    for (int i = 0; i < T_NKINDS; i++)
        print_message("%s %s %u", i ? "," : "", tally_names[i], x.tally[i]);
    print_message("\n");
    model_free(&committed);
    ctx[0] = '\0';
}

/* ---- 4. indexes a schema asks for ------------------------------------------------ */

static void test_schema_indexes(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    const char *schema1 = "{\"fields\":{\"email\":{\"type\":\"string\",\"unique\":true},"
                          "\"age\":{\"type\":\"integer\",\"indexed\":true},\"name\":{},"
                          "\"addr.city\":{\"indexed\":true}}}";
    OK(burrow_coll_create(t, "p", schema1));
    assert_string_equal(index_names(t, "p"), "addr.city,age,email:u");
    burrow_buf js = {0};
    OK(burrow_coll_schema(t, "p", &js));
    assert_string_equal((char *)js.data, schema1);
    /* an index the schema asks for is dropped by changing the schema */
    ERR(burrow_index_drop(t, "p", "email"), BURROW_EINVAL);
    msg_has("required by the schema of 'p'");
    ERR(burrow_index_drop(t, "p", "age"), BURROW_EINVAL);
    OK(burrow_index_create(t, "p", "name", 0));
    assert_string_equal(index_names(t, "p"), "addr.city,age,email:u,name");
    for (int i = 0; i < 12; i++) {
        char doc[160];
        snprintf(doc, sizeof doc,
                 "{\"_id\":\"p%02d\",\"email\":\"e%d\",\"age\":%d,\"name\":\"n%d\","
                 "\"addr\":{\"city\":\"c%d\"},\"tags\":[%d,%d]}",
                 i, i, i % 4, i % 3, i % 2, i, i % 5);
        OK(insert(t, "p", doc));
    }
    ERR(insert(t, "p", "{\"email\":\"e3\"}"), BURROW_ECONSTRAINT);
    check_indexes(t, "p");
    OK(burrow_txn_commit(t));

    /* a new schema: age no longer indexed, tags indexed (built over the
     * documents there), email still unique (kept), the manual index stays */
    t = wtx(db);
    OK(burrow_coll_set_schema(t, "p",
                              "{\"fields\":{\"email\":{\"unique\":true},"
                              "\"tags\":{\"indexed\":true},\"addr.city\":{}}}"));
    assert_string_equal(index_names(t, "p"), "email:u,name,tags");
    check_indexes(t, "p");
    assert_true(meta_multikey(t, "p", "tags"));
    ERR(burrow_index_drop(t, "p", "tags"), BURROW_EINVAL);
    ERR(insert(t, "p", "{\"email\":\"e3\"}"), BURROW_ECONSTRAINT);
    OK(burrow_txn_commit(t));
    t = rtx(db);
    assert_string_equal(index_names(t, "p"), "email:u,name,tags");
    check_indexes(t, "p");
    burrow_txn_abort(t);

    /* an index kind changes: age indexed, then unique (rebuilt, and the
     * data may refuse it), then a unique field over a manual index of the
     * same name, which must become unique */
    t = wtx(db);
    OK(burrow_coll_set_schema(t, "p", "{\"fields\":{\"age\":{\"indexed\":true}}}"));
    assert_string_equal(index_names(t, "p"), "age,name");
    ERR(burrow_coll_set_schema(t, "p", "{\"fields\":{\"age\":{\"unique\":true}}}"),
        BURROW_ECONSTRAINT);
    msg_has("unique index 'age'");
    assert_string_equal(index_names(t, "p"), "age,name");
    OK(burrow_coll_set_schema(t, "p", "{\"fields\":{\"email\":{\"unique\":true}}}"));
    assert_string_equal(index_names(t, "p"), "email:u,name");
    check_indexes(t, "p");
    OK(burrow_txn_commit(t));

    t = wtx(db);
    ERR(burrow_coll_set_schema(t, "p", "{\"fields\":{\"name\":{\"unique\":true}}}"),
        BURROW_ECONSTRAINT); /* n0..n2 repeat */
    assert_string_equal(index_names(t, "p"), "email:u,name");
    OK(burrow_index_create(t, "p", "addr.city", 0));
    ERR(burrow_coll_set_schema(t, "p", "{\"fields\":{\"addr.city\":{\"unique\":true}}}"),
        BURROW_ECONSTRAINT);
    assert_string_equal(index_names(t, "p"), "addr.city,email:u,name");
    OK(del(t, "p", "p00"));
    for (int i = 2; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%02d", i);
        OK(del(t, "p", id));
    }
    /* p01 (c1) is alone now: a unique field over the manual index on
     * addr.city makes that index unique */
    OK(burrow_coll_set_schema(t, "p", "{\"fields\":{\"addr.city\":{\"unique\":true}}}"));
    assert_string_equal(index_names(t, "p"), "addr.city:u,name");
    ERR(insert(t, "p", "{\"addr\":{\"city\":\"c1\"}}"), BURROW_ECONSTRAINT);
    check_indexes(t, "p");
    /* no schema: the auto indexes go, the manual ones stay */
    OK(burrow_coll_set_schema(t, "p", NULL));
    OK(burrow_coll_schema(t, "p", &js));
    assert_string_equal((char *)js.data, "null");
    assert_string_equal(index_names(t, "p"), "name");
    check_indexes(t, "p");
    OK(burrow_txn_commit(t));

    burrow_buf_free(&js);
    OK(burrow_close(db));
}

/* ---- 5. reopening, aborted creation, readers' snapshots ----------------------------- */

/* Field names with blanks keep them; blanks around listed fields go. */
static void test_index_names_with_blanks(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "b", "{\"fields\":{\"first name\":{\"unique\":true}}}"));
    assert_string_equal(index_names(t, "b"), "first name:u");
    OK(insert(t, "b", "{\"_id\":\"1\",\"first name\":\"ann\",\"firstname\":\"x\"}"));
    OK(insert(t, "b", "{\"_id\":\"2\",\"first name\":\"bob\",\"firstname\":\"x\"}"));
    ERR(insert(t, "b", "{\"_id\":\"3\",\"first name\":\"ann\"}"), BURROW_ECONSTRAINT);
    OK(burrow_index_create(t, "b", " firstname ,  first name ", 0));
    assert_string_equal(index_names(t, "b"), "first name:u,firstname,first name");
    ERR(burrow_coll_create(t, "c", "{\"fields\":{\"a,b\":{\"indexed\":true}}}"), BURROW_EINVAL);
    msg_has("cannot be indexed");
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_reopen_and_snapshots(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "keep",
                          "{\"fields\":{\"k\":{\"unique\":true}},"
                          "\"computed\":{\"k2\":{\"$mul\":[\"$k\",2]}}}"));
    OK(burrow_index_create(t, "keep", "tags,k", 0));
    for (int i = 0; i < 50; i++) {
        char doc[96];
        snprintf(doc, sizeof doc, "{\"_id\":\"d%02d\",\"k\":%d,\"tags\":[\"a%d\",\"b\"]}", i, i,
                 i % 7);
        OK(insert(t, "keep", doc));
    }
    OK(burrow_txn_commit(t));

    /* a collection created in an aborted txn does not exist, and the same
     * name can be created afterwards with the same schema */
    const char *gschema = "{\"fields\":{\"g\":{\"indexed\":true}}}";
    t = wtx(db);
    OK(burrow_coll_create(t, "ghost", gschema));
    OK(burrow_index_create(t, "ghost", "h", BURROW_INDEX_UNIQUE));
    OK(insert(t, "ghost", "{\"_id\":\"x\",\"g\":1,\"h\":1}"));
    assert_string_equal(coll_names(t), "ghost,keep");
    burrow_txn_abort(t);
    t = rtx(db);
    assert_string_equal(coll_names(t), "keep");
    ERR(burrow_doc_get(t, "ghost", "x", 1, NULL, &out_buf), BURROW_ENOTFOUND);
    msg_has("no such collection 'ghost'");
    buf d = {0};
    dump_db(t, &d);
    assert_null(memmem(d.data, d.size, "ghost", 5));
    burrow_txn_abort(t);

    /* reopen: data, indexes, schema and computed fields are all there */
    OK(burrow_close(db));
    db = db_open(false, 0);
    t = rtx(db);
    assert_string_equal(coll_names(t), "keep");
    assert_string_equal(index_names(t, "keep"), "k:u,tags,k");
    assert_string_equal(get(t, "keep", "d07"),
                        "{\"_id\":\"d07\",\"k\":7,\"tags\":[\"a0\",\"b\"],\"k2\":14}");
    assert_int_equal(check_indexes(t, "keep"), 50);
    ERR(burrow_doc_get(t, "ghost", "x", 1, NULL, &out_buf), BURROW_ENOTFOUND);
    burrow_txn_abort(t);
    t = wtx(db);
    ERR(insert(t, "keep", "{\"k\":7}"), BURROW_ECONSTRAINT);
    OK(burrow_coll_create(t, "ghost", gschema));
    OK(burrow_index_create(t, "ghost", "h", BURROW_INDEX_UNIQUE));
    OK(insert(t, "ghost", "{\"_id\":\"y\",\"g\":2,\"h\":2}"));
    ERR(burrow_doc_get(t, "ghost", "x", 1, NULL, &out_buf), BURROW_ENOTFOUND);
    assert_int_equal(check_indexes(t, "ghost"), 1);
    OK(burrow_txn_commit(t));

    /* a reader keeps the metadata of its snapshot while a writer changes it */
    burrow_txn *r1 = rtx(db);
    t = wtx(db);
    OK(burrow_index_create(t, "keep", "k,tags", BURROW_INDEX_UNIQUE));
    OK(burrow_coll_set_schema(t, "keep", "{\"fields\":{\"tags\":{\"indexed\":true}}}"));
    OK(insert(t, "keep", "{\"_id\":\"new\",\"k\":7}")); /* k is no longer unique */
    OK(burrow_coll_create(t, "later", NULL));
    assert_string_equal(index_names(t, "keep"), "k,tags:u,tags,tags,k");
    /* before the commit, and after it */
    for (int pass = 0; pass < 2; pass++) {
        assert_string_equal(index_names(r1, "keep"), "k:u,tags,k");
        assert_string_equal(coll_names(r1), "ghost,keep");
        ERR(burrow_doc_get(r1, "keep", "new", 3, NULL, &out_buf), BURROW_ENOTFOUND);
        assert_string_equal(get(r1, "keep", "d07"),
                            "{\"_id\":\"d07\",\"k\":7,\"tags\":[\"a0\",\"b\"],\"k2\":14}");
        assert_int_equal(check_indexes(r1, "keep"), 50);
        burrow_buf js = {0};
        OK(burrow_coll_schema(r1, "keep", &js));
        assert_non_null(strstr((char *)js.data, "\"unique\":true"));
        burrow_buf_free(&js);
        if (pass == 0)
            OK(burrow_txn_commit(t));
    }
    burrow_txn *r2 = rtx(db);
    assert_string_equal(index_names(r2, "keep"), "k,tags:u,tags,tags,k");
    assert_string_equal(get(r2, "keep", "d07"),
                        "{\"_id\":\"d07\",\"k\":7,\"tags\":[\"a0\",\"b\"]}");
    assert_int_equal(check_indexes(r2, "keep"), 51);
    burrow_txn_abort(r2);
    /* dropped while a reader reads it */
    t = wtx(db);
    OK(burrow_coll_drop(t, "keep"));
    ERR(burrow_doc_get(t, "keep", "d07", 3, NULL, &out_buf), BURROW_ENOTFOUND);
    OK(burrow_txn_commit(t));
    assert_int_equal(check_indexes(r1, "keep"), 50);
    burrow_txn_abort(r1);

    /* dropped and created again in one txn: nothing of the old one shows */
    t = wtx(db);
    OK(burrow_coll_drop(t, "ghost"));
    OK(burrow_coll_create(t, "ghost", gschema));
    assert_string_equal(index_names(t, "ghost"), "g");
    ERR(burrow_doc_get(t, "ghost", "y", 1, NULL, &out_buf), BURROW_ENOTFOUND);
    OK(insert(t, "ghost", "{\"_id\":\"z\",\"g\":3,\"h\":2}"));
    assert_int_equal(check_indexes(t, "ghost"), 1);
    OK(burrow_txn_commit(t));
    OK(burrow_close(db));
    db = db_open(false, 0);
    OK(burrow_check(db));
    t = rtx(db);
    assert_string_equal(coll_names(t), "ghost,later");
    assert_int_equal(check_indexes(t, "ghost"), 1);
    dump_db(t, &d);
    assert_null(memmem(d.data, d.size, "keep", 4));
    burrow_txn_abort(t);
    buf_free(&d);
    OK(burrow_close(db));
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-coll");
    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/c.burrow", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    burrow_buf_free(&out_buf);
    return 0;
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    /* BURROW_TEST_FILTER=test_random* runs only the tests it matches */
    if (getenv("BURROW_TEST_FILTER"))
        cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_ids),
        cmocka_unit_test(test_get_outputs),
        cmocka_unit_test(test_replace_delete_binary),
        cmocka_unit_test(test_update_operators),
        cmocka_unit_test(test_conditional_bid),
        cmocka_unit_test(test_upsert),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_odd_ids_and_big_documents),
        cmocka_unit_test(test_refused_changes_nothing),
        cmocka_unit_test(test_random_against_model),
        cmocka_unit_test(test_schema_indexes),
        cmocka_unit_test(test_index_names_with_blanks),
        cmocka_unit_test(test_reopen_and_snapshots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
