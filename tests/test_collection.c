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
            fail_msg("%s -> %s (%s)", #x, burrow_strerror(rc_), burrow_errmsg());                 \
    } while (0)

/* The detail of the last error ERR or REFUSED saw (the checks that follow
 * a call go through the library and clear burrow_errmsg()). */
static char last_msg[1024];

#define ERR(x, want)                                                                               \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        snprintf(last_msg, sizeof last_msg, "%s", burrow_errmsg());                               \
        if (rc_ != (want))                                                                         \
            fail_msg("%s -> %d %s (%s), want %d %s", #x, rc_, burrow_strerror(rc_),              \
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

static int delete(burrow_txn *t, const char *coll, const char *id)
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

static int strv_add(void *ctx, const char *name)
{
    strv_push(ctx, name, 0);
    return 0;
}

static int strv_add_index(void *ctx, const char *name, unsigned flags)
{
    strv_push(ctx, name, flags);
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
            fail_msg("%s changed the database: bucket '%s' before, '%s' after", what, na, nb);
        if (ni - i != nj - j || memcmp(a->data + i, b->data + j, ni - i) != 0)
            fail_msg("%s changed the database: bucket '%s' (%u entries before, %u after)", what,
                     na, ca, cb);
        i = ni;
        j = nj;
    }
    fail_msg("%s changed the database: bucket '%s' %s", what,
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

typedef struct keyv {
    struct key {
        uint8_t *p;
        size_t n;
    } *v;
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
    fail_msg("index '%s' of '%s' is not in the metadata record", name, coll);
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
            fail_msg("bucket '%s' belongs to no index of '%s'", buckets.v[i], coll);
    }
    size_t ndocs = 0;
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
                fail_msg("stored document '%.*s' cannot be in index '%s': %s", (int)k.size,
                         (const char *)k.data, ixs.v[i], burrow_errmsg());
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
        qsort(want.v, want.n, sizeof *want.v, key_cmp);

        burrow_bucket ib;
        coll_index_bucket_name(coll, ixs.v[i], bname);
        rc = burrow_bucket_open(t, bname, 0, &ib);
        if (rc)
            fail_msg("index '%s' of '%s' has no bucket: %s", ixs.v[i], coll, burrow_strerror(rc));
        OK(burrow_cursor_open(t, ib, &c));
        rc = burrow_cursor_first(c, &k, &v);
        while (rc == 0) {
            if (v.size != 0)
                fail_msg("index '%s' of '%s': an entry with a value", ixs.v[i], coll);
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
            fail_msg("index '%s' of '%s': %zu entries expected, %zu held; entry %zu expected "
                     "%s, held %s",
                     ixs.v[i], coll, want.n, have.n, n, hw, hh);
        }
        if (multikey && !meta_multikey(t, coll, ixs.v[i]))
            fail_msg("index '%s' of '%s' holds array elements but is not marked multikey",
                     ixs.v[i], coll);
        keyv_free(&want);
        keyv_free(&have);
    }
    buf_free(&keys);
    strv_free(&ixs);
    strv_free(&buckets);
    return ndocs;
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
    const char *doc = "{\"_id\":\"p1\",\"name\":\"n\",\"address\":{\"city\":\"Oslo\",\"zip\":\"0150\"},"
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
    OK(delete(t, "c", "x"));
    ERR(burrow_doc_get(t, "c", "x", 1, NULL, &out_buf), BURROW_ENOTFOUND);
    ERR(delete(t, "c", "x"), BURROW_ENOTFOUND);
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
    OK(insert(t, "c", "{\"_id\":\"u\",\"n\":1,\"d\":2.5,\"s\":\"x\",\"arr\":[1,2,3,2],\"o\":{\"k\":1}}"));
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
    REFUSED(t, update(t, "lots", "new", "{\"$set\":{\"price\":5}}", "{\"price\":{\"$lt\":5}}",
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
    REFUSED(t, update(t, "c", "z", "{\"$set\":{\"n\":2}}", NULL, BURROW_UPSERT), BURROW_ECONSTRAINT);
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
    ERR(delete(t, "nope", "x"), BURROW_ENOTFOUND);
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
    const char *bad_ids[] = {"{\"_id\":5}", "{\"_id\":\"\"}", "{\"_id\":null}", "{\"_id\":[\"a\"]}",
                             "{\"_id\":{\"a\":1}}", longid};
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
    ERR(delete(t, "c", ""), BURROW_EINVAL);
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
    const char *bad_names[] = {"", name129, "a\nb", "a\x1f" "b", "a\x7f", "\xff\xfe", "\xc3"};
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
    ERR(delete(t, "c", "d"), BURROW_EREADONLY);
    burrow_txn_abort(t);
    burrow_buf_free(&b);
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
    OK(insert(t, "u", "{\"_id\":\"u1\",\"email\":\"a@x\",\"tags\":[\"t1\",\"t2\"],\"first\":\"Ann\","
                      "\"last\":\"Lee\",\"age\":30}"));
    OK(insert(t, "u", "{\"_id\":\"u2\",\"email\":\"b@x\",\"tags\":[\"t3\"],\"first\":\"Bob\","
                      "\"last\":\"Lee\",\"age\":30,\"arr\":[1]}"));
    OK(insert(t, "u", "{\"_id\":\"u3\",\"first\":\"Ann\",\"tags\":[]}"));
    OK(burrow_coll_create(t, "s", "{\"fields\":{"
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
    REFUSED(t, update(t, "u", "u1", "{\"$set\":{\"first\":[\"A\",\"B\"],\"last\":[\"C\"]}}", NULL, 0),
            BURROW_ECONSTRAINT);
    REFUSED(t, update(t, "u", "u9", "{\"$set\":{\"email\":\"b@x\"}}", NULL, BURROW_UPSERT),
            BURROW_ECONSTRAINT);
    /* other refusals */
    REFUSED(t, insert(t, "u", "{\"_id\":\"u1\"}"), BURROW_EEXIST);
    REFUSED(t, update(t, "u", "u1", "{\"$inc\":{\"email\":1}}", NULL, 0), BURROW_ETYPE);
    REFUSED(t, update(t, "u", "u1", "{\"$set\":{\"age\":1}}", "{\"age\":{\"$gt\":30}}", 0), 0);
    REFUSED(t, update(t, "u", "nope", "{\"$set\":{\"age\":1}}", NULL, 0), BURROW_ENOTFOUND);
    REFUSED(t, delete(t, "u", "nope"), BURROW_ENOTFOUND);

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
    REFUSED(t, insert(t, "s", "{\"_id\":\"n\",\"name\":\"n\",\"email\":\"e1\"}"), BURROW_ECONSTRAINT);
    msg_has("unique index 'email'");
    REFUSED(t, insert(t, "s", "{\"_id\":\"s1\",\"name\":\"n\",\"email\":\"e2\"}"), BURROW_ECONSTRAINT);
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
    OK(burrow_coll_set_schema(t, "p", "{\"fields\":{\"email\":{\"unique\":true},"
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
    OK(delete(t, "p", "p00"));
    for (int i = 2; i < 12; i++) {
        char id[16];
        snprintf(id, sizeof id, "p%02d", i);
        OK(delete(t, "p", id));
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

static void test_reopen_and_snapshots(void **state)
{
    (void)state;
    burrow_db *db = db_open(true, 0);
    burrow_txn *t = wtx(db);
    OK(burrow_coll_create(t, "keep", "{\"fields\":{\"k\":{\"unique\":true}},"
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
    assert_string_equal(get(t, "keep", "d07"), "{\"_id\":\"d07\",\"k\":7,\"tags\":[\"a0\",\"b\"],\"k2\":14}");
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
    assert_string_equal(get(r2, "keep", "d07"), "{\"_id\":\"d07\",\"k\":7,\"tags\":[\"a0\",\"b\"]}");
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
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_ids),
        cmocka_unit_test(test_get_outputs),
        cmocka_unit_test(test_replace_delete_binary),
        cmocka_unit_test(test_update_operators),
        cmocka_unit_test(test_conditional_bid),
        cmocka_unit_test(test_upsert),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_refused_changes_nothing),
        cmocka_unit_test(test_schema_indexes),
        cmocka_unit_test(test_reopen_and_snapshots),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
