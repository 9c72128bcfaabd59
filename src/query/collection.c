/*
 * collection.c — collections and their documents: create, drop, list,
 * schema; insert, get, replace, update, delete, count.
 *
 * Every write follows one order, so a refused write changes nothing:
 *   1. read what is there (the old document) and compute the new one;
 *   2. check everything that can refuse: the schema, the index keys'
 *      shape, unique indexes, key sizes;
 *   3. only then write the document and the index differences.
 * Step 3 can still fail on I/O or memory; the store then fails the whole
 * txn, which can only be aborted, so nothing half-done is ever committed.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/err.h"
#include "doc/filter.h"
#include "doc/update.h"
#include "query/computed.h"
#include "query/query.h"
#include "query/schema.h"

/* ---- helpers ---------------------------------------------------------------- */

static int parse_json(const char *json, size_t len, doc_builder *b, doc_val *root)
{
    if (!json)
        return diag_set(BURROW_EINVAL, "JSON text is required");
    int rc = json_parse(json, len, NULL, b);
    const uint8_t *d;
    size_t n;
    if (rc || (rc = doc_builder_finish(b, &d, &n)))
        return rc;
    root->p = d + 1;
    root->len = n - 1;
    return 0;
}

static int id_check(const char *id, size_t idlen)
{
    if (!id || idlen == 0 || idlen > BURROW_MAX_ID_SIZE)
        return diag_set(BURROW_EINVAL, "document id must be 1 to %d bytes", BURROW_MAX_ID_SIZE);
    return 0;
}

/* The schema object stored in m's record, or {0} when there is none. */
static doc_val record_schema(const coll_meta *m)
{
    doc_val root, v = {0};
    if (doc_root(m->record, m->record_len, &root) == 0 &&
        doc_object_get(root, "schema", 6, &v) == 0 && doc_type(v) == DOC_OBJECT)
        return v;
    v.p = NULL;
    v.len = 0;
    return v;
}

/* Keys (index entries) of one document for every index of m. */
typedef struct keyset {
    buf keys[1]; /* per index; allocated n */
} keyset;

typedef struct write_plan {
    int n;
    buf *old_keys, *new_keys;
    size_t *nold, *nnew;
    bool *multikey;
} write_plan;

static void plan_free(write_plan *w)
{
    for (int i = 0; i < w->n; i++) {
        buf_free(&w->old_keys[i]);
        buf_free(&w->new_keys[i]);
    }
    free(w->old_keys);
    free(w->new_keys);
    free(w->nold);
    free(w->nnew);
    free(w->multikey);
    memset(w, 0, sizeof *w);
}

/* Make w hold n indexes' key lists, keeping the buffers of earlier uses
 * (w->n is the capacity; the lists in use are the first n). */
static int plan_init(write_plan *w, int n)
{
    if (n > w->n) {
        size_t k = (size_t)n;
        buf *o = realloc(w->old_keys, k * sizeof *o);
        if (o)
            w->old_keys = o;
        buf *nw = realloc(w->new_keys, k * sizeof *nw);
        if (nw)
            w->new_keys = nw;
        size_t *no = realloc(w->nold, k * sizeof *no);
        if (no)
            w->nold = no;
        size_t *nn = realloc(w->nnew, k * sizeof *nn);
        if (nn)
            w->nnew = nn;
        bool *mk = realloc(w->multikey, k * sizeof *mk);
        if (mk)
            w->multikey = mk;
        if (!o || !nw || !no || !nn || !mk)
            return BURROW_ENOMEM;
        for (int i = w->n; i < n; i++) {
            buf_init(&w->old_keys[i]);
            buf_init(&w->new_keys[i]);
        }
        w->n = n;
    }
    for (int i = 0; i < n; i++) {
        w->old_keys[i].size = w->new_keys[i].size = 0;
        w->nold[i] = w->nnew[i] = 0;
        w->multikey[i] = false;
    }
    return 0;
}

/*
 * Per-thread working space of the document functions, so a write costs no
 * allocation once a thread has done a few. Each function uses its own
 * members (insert: parse, with_id, plan; update: base, out, plan; get:
 * output), and none calls another through them. Buffers that grew past
 * SCRATCH_KEEP are released after use so one huge document does not pin
 * its memory in the thread.
 */
#define SCRATCH_KEEP (1u << 20)
typedef struct scratch {
    doc_builder parse, with_id, base, out, output;
    write_plan plan;
    buf hot; /* a document copied out of the hot tier */
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    scratch *s = p;
    doc_builder_free(&s->parse);
    doc_builder_free(&s->with_id);
    doc_builder_free(&s->base);
    doc_builder_free(&s->out);
    doc_builder_free(&s->output);
    plan_free(&s->plan);
    buf_free(&s->hot);
    free(s);
}

static void scratch_key_make(void) { pthread_key_create(&scratch_key, scratch_destroy); }

static scratch *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_key_make);
    scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return NULL;
        doc_builder_init(&s->parse);
        doc_builder_init(&s->with_id);
        doc_builder_init(&s->base);
        doc_builder_init(&s->out);
        doc_builder_init(&s->output);
        if (pthread_setspecific(scratch_key, s)) {
            free(s);
            return NULL;
        }
    }
    return s;
}

static void trim_builder(doc_builder *b)
{
    if (b->out.cap > SCRATCH_KEEP || b->elems_cap > SCRATCH_KEEP / 4) {
        doc_builder_free(b);
        doc_builder_init(b);
    }
}

static void scratch_trim(scratch *s)
{
    trim_builder(&s->parse);
    trim_builder(&s->with_id);
    trim_builder(&s->base);
    trim_builder(&s->out);
    trim_builder(&s->output);
    if (s->hot.cap > SCRATCH_KEEP)
        buf_free(&s->hot);
    for (int i = 0; i < s->plan.n; i++) {
        if (s->plan.old_keys[i].cap > SCRATCH_KEEP)
            buf_free(&s->plan.old_keys[i]);
        if (s->plan.new_keys[i].cap > SCRATCH_KEEP)
            buf_free(&s->plan.new_keys[i]);
    }
}

/* Key lists as (pointer, length) arrays, for the difference of old and new. */
typedef struct kref {
    const uint8_t *p;
    uint32_t n;
} kref;

static int kref_cmp(const void *a, const void *b)
{
    const kref *x = a, *y = b;
    int r = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);
    return r ? r : (x->n > y->n) - (x->n < y->n);
}

static kref *krefs(const buf *keys, size_t n)
{
    kref *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return NULL;
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        v[i].n = le32_load(keys->data + off);
        v[i].p = keys->data + off + 4;
        off += 4 + v[i].n;
    }
    qsort(v, n, sizeof *v, kref_cmp);
    return v;
}

static int append_key(buf *out, const kref *k)
{
    uint8_t len[4];
    le32_store(len, k->n);
    int rc = buf_append(out, len, 4);
    return rc ? rc : buf_append(out, k->p, k->n);
}

/* Reduce old/new key lists of one index to what must be deleted and added. */
static int key_diff(buf *old_keys, size_t *nold, buf *new_keys, size_t *nnew)
{
    if (*nold == 0 || *nnew == 0)
        return 0;
    kref *o = krefs(old_keys, *nold), *n = krefs(new_keys, *nnew);
    buf del = {0}, add = {0};
    size_t nd = 0, na = 0, i = 0, j = 0;
    int rc = (!o || !n) ? BURROW_ENOMEM : 0;
    while (!rc && (i < *nold || j < *nnew)) {
        int c = i == *nold ? 1 : j == *nnew ? -1 : kref_cmp(&o[i], &n[j]);
        if (c == 0) {
            i++;
            j++;
        } else if (c < 0) {
            rc = append_key(&del, &o[i++]);
            nd++;
        } else {
            rc = append_key(&add, &n[j++]);
            na++;
        }
    }
    free(o);
    free(n);
    if (rc) {
        buf_free(&del);
        buf_free(&add);
        return rc;
    }
    buf_free(old_keys);
    buf_free(new_keys);
    *old_keys = del;
    *new_keys = add;
    *nold = nd;
    *nnew = na;
    return 0;
}

/* Rewrite m's record with the multikey flags of w set; *mp is replaced by
 * the new compiled metadata. */
static int mark_multikey(burrow_txn *txn, coll_meta **mp, const write_plan *w)
{
    coll_meta *m = *mp;
    bool any = false;
    for (int i = 0; i < m->nindexes; i++)
        any |= w->multikey[i] && !m->indexes[i].multikey;
    if (!any)
        return 0;
    index_def *copy = malloc((size_t)m->nindexes * sizeof *copy);
    if (!copy)
        return BURROW_ENOMEM;
    memcpy(copy, m->indexes, (size_t)m->nindexes * sizeof *copy);
    for (int i = 0; i < m->nindexes; i++)
        copy[i].multikey |= w->multikey[i];
    doc_builder b;
    doc_builder_init(&b);
    const uint8_t *rec;
    size_t len;
    coll_meta *nm = NULL;
    int rc = meta_record_build(&b, record_schema(m), copy, m->nindexes);
    if (!rc)
        rc = doc_builder_finish(&b, &rec, &len);
    if (!rc)
        rc = meta_store(txn, m->name, rec, len, &nm);
    doc_builder_free(&b);
    free(copy);
    if (rc)
        return rc;
    meta_release(txn, m);
    *mp = nm;
    return 0;
}

/*
 * The one write path. old: the stored document (len 0 when none); new:
 * the document to store (NULL to delete). id names the document.
 */
enum write_kind { WRITE_INSERT, WRITE_REPLACE, WRITE_DELETE };

static int doc_write(burrow_txn *txn, coll_meta **mp, const char *id, size_t idlen, doc_val old,
                     const uint8_t *newdoc, size_t newlen, enum write_kind kind)
{
    coll_meta *m = *mp;
    doc_val nroot = {0};
    int rc;
    scratch *sc = scratch_get();
    if (!sc)
        return BURROW_ENOMEM;
    if (newdoc) {
        if ((rc = doc_root(newdoc, newlen, &nroot)))
            return rc;
        if (m->schema && (rc = schema_check(m->schema, nroot)))
            return rc;
    }
    write_plan *wp = &sc->plan;
    if ((rc = plan_init(wp, m->nindexes)))
        return rc;
#define w (*wp)
    for (int i = 0; i < m->nindexes && !rc; i++) {
        const index_def *ix = &m->indexes[i];
        bool mk = false;
        if (old.len)
            rc = index_keys(ix, old, id, idlen, &w.old_keys[i], &w.nold[i], NULL);
        if (!rc && newdoc)
            rc = index_keys(ix, nroot, id, idlen, &w.new_keys[i], &w.nnew[i], &mk);
        w.multikey[i] = mk;
        if (!rc)
            rc = key_diff(&w.old_keys[i], &w.nold[i], &w.new_keys[i], &w.nnew[i]);
        if (!rc && ix->unique && w.nnew[i])
            rc = index_unique_check(txn, ix, &w.new_keys[i], w.nnew[i], id, idlen);
        if (!rc && w.nnew[i]) {
            /* Key sizes, before anything is written. */
            size_t off = 0, max = burrow_max_key_size(burrow_txn_db(txn));
            for (size_t k = 0; k < w.nnew[i] && !rc; k++) {
                uint32_t kl = le32_load(w.new_keys[i].data + off);
                off += 4 + kl;
                if (kl > max)
                    rc = diag_set(BURROW_ECONSTRAINT,
                                  "index '%s': the indexed value is too long (key of %u bytes, at "
                                  "most %zu)",
                                  ix->name, kl, max);
            }
        }
    }
    /* The old document's memory may move once we write: it is not used
     * past this point. */
    if (!rc) {
        switch (kind) {
        case WRITE_INSERT:
            rc = burrow_put(txn, m->docs, id, idlen, newdoc, newlen, BURROW_NOOVERWRITE);
            if (rc == BURROW_EEXIST)
                rc = diag_set(BURROW_EEXIST, "document '%.*s' already exists in '%s'", (int)idlen,
                              id, m->name);
            break;
        case WRITE_REPLACE: rc = burrow_put(txn, m->docs, id, idlen, newdoc, newlen, 0); break;
        case WRITE_DELETE: rc = burrow_del(txn, m->docs, id, idlen); break;
        }
    }
    /* A document's TTL goes with it; replace and update keep it (ttl.c). */
    if (!rc && kind == WRITE_DELETE)
        rc = ttl_forget(txn, m, id, idlen);
    for (int i = 0; i < m->nindexes && !rc; i++)
        rc = index_apply(txn, &m->indexes[i], &w.old_keys[i], w.nold[i], &w.new_keys[i],
                         w.nnew[i]);
    if (!rc)
        hot_note_write(txn, m->name, id, idlen);
    if (!rc)
        rc = mark_multikey(txn, mp, &w);
#undef w
    return rc;
}

/* The document's "_id" (a string of 1..BURROW_MAX_ID_SIZE bytes), or
 * BURROW_ENOTFOUND when it has none. */
static int doc_id_of(doc_val root, const char **id, size_t *idlen)
{
    doc_val v;
    int rc = doc_object_get(root, "_id", 3, &v);
    if (rc)
        return rc;
    if (doc_get_string(v, id, idlen) || *idlen == 0 || *idlen > BURROW_MAX_ID_SIZE)
        return diag_set(BURROW_EINVAL, "_id must be a string of 1 to %d bytes",
                        BURROW_MAX_ID_SIZE);
    return 0;
}

/* Copy root into b with "_id": id first. */
/* Copy root into b with "_id": id first. root has no "_id" of its own here
 * and was checked moments ago (json_parse or doc_validate refuse duplicate
 * keys), so its keys plus "_id" are unique: the builder need not check. */
static int with_id(doc_val root, const char *id, size_t idlen, doc_builder *b)
{
    doc_builder_begin(b);
    doc_builder_begin_object_unique(b);
    doc_builder_key(b, "_id", 3);
    doc_builder_string(b, id, idlen);
    doc_iter it;
    const char *k;
    size_t kl;
    doc_val v;
    doc_iter_init(&it, root);
    int rc;
    while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1) {
        if (kl == 3 && memcmp(k, "_id", 3) == 0)
            continue;
        doc_builder_copy_entry(b, k, kl, v);
    }
    if (rc < 0)
        return rc;
    return doc_builder_end(b);
}

static int need_object(doc_val root)
{
    if (doc_type(root) != DOC_OBJECT)
        return diag_set(BURROW_EINVAL, "a document must be a JSON object");
    return 0;
}

/* ---- collections ----------------------------------------------------------- */

static int auto_indexes(const schema *s, index_def **out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!s)
        return 0;
    int nf = schema_nfields(s), k = 0;
    index_def *v = calloc(nf ? (size_t)nf : 1, sizeof *v);
    if (!v)
        return BURROW_ENOMEM;
    for (int i = 0; i < nf; i++) {
        unsigned fl = schema_field_flags(s, i);
        if (!(fl & (SCHEMA_UNIQUE | SCHEMA_INDEXED)))
            continue;
        const char *path = schema_field_path(s, i);
        int rc = strchr(path, ',') || path[0] == ' ' || path[0] == '\t' ||
                         (path[0] && (path[strlen(path) - 1] == ' ' || path[strlen(path) - 1] == '\t'))
                     ? diag_set(BURROW_EINVAL,
                                "schema: field '%s' cannot be indexed: index field names have no "
                                "comma and no blank at either end",
                                path)
                     : index_def_parse(path, &v[k]);
        if (rc) {
            for (int j = 0; j < k; j++)
                index_def_clear(&v[j]);
            free(v);
            return rc;
        }
        v[k].unique = (fl & SCHEMA_UNIQUE) != 0;
        v[k].autom = true;
        k++;
    }
    *out = v;
    *n = k;
    return 0;
}

static void defs_free(index_def *v, int n)
{
    for (int i = 0; i < n; i++)
        index_def_clear(&v[i]);
    free(v);
}

int burrow_coll_create(burrow_txn *txn, const char *name, const char *schema_json)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "coll_create: txn is required");
    int rc = coll_name_check(name);
    if (rc)
        return rc;
    burrow_bucket mb, docs;
    burrow_val existing;
    if ((rc = meta_bucket(txn, true, &mb)))
        return rc;
    rc = burrow_get(txn, mb, name, strlen(name), &existing);
    if (rc == 0)
        return diag_set(BURROW_EEXIST, "collection '%s' already exists", name);
    if (rc != BURROW_ENOTFOUND)
        return rc;

    doc_builder sb, rb;
    doc_builder_init(&sb);
    doc_builder_init(&rb);
    schema *s = NULL;
    index_def *defs = NULL;
    int ndefs = 0;
    doc_val sv = {0};
    if (schema_json) {
        if ((rc = parse_json(schema_json, strlen(schema_json), &sb, &sv)))
            goto out;
        if (doc_type(sv) == DOC_NULL) {
            sv.len = 0;
        } else if (doc_type(sv) != DOC_OBJECT) {
            rc = diag_set(BURROW_EINVAL, "schema: must be a JSON object");
            goto out;
        } else if ((rc = schema_compile(sv, &s))) {
            goto out;
        }
    }
    if ((rc = auto_indexes(s, &defs, &ndefs)))
        goto out;
    char bname[256];
    coll_docs_bucket_name(name, bname);
    if ((rc = burrow_bucket_open(txn, bname, BURROW_CREATE, &docs)))
        goto out;
    for (int i = 0; i < ndefs && !rc; i++) {
        coll_index_bucket_name(name, defs[i].name, bname);
        rc = burrow_bucket_open(txn, bname, BURROW_CREATE, &defs[i].bucket);
    }
    const uint8_t *rec;
    size_t len;
    if (!rc && !(rc = meta_record_build(&rb, sv, defs, ndefs)) &&
        !(rc = doc_builder_finish(&rb, &rec, &len)))
        rc = meta_store(txn, name, rec, len, NULL);
out:
    if (s)
        schema_free(s);
    defs_free(defs, ndefs);
    doc_builder_free(&sb);
    doc_builder_free(&rb);
    return rc;
}

int burrow_coll_drop(burrow_txn *txn, const char *name)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "coll_drop: txn is required");
    coll_meta *m;
    int rc = meta_acquire(txn, name, &m);
    if (rc)
        return rc;
    for (int i = 0; i < m->nindexes && !rc; i++)
        rc = burrow_bucket_drop(txn, m->indexes[i].bucket);
    if (!rc)
        rc = ttl_coll_drop(txn, m);
    if (!rc)
        rc = burrow_bucket_drop(txn, m->docs);
    if (!rc)
        rc = meta_remove(txn, name);
    if (!rc)
        hot_note_drop(txn, name);
    meta_release(txn, m);
    return rc;
}

int burrow_coll_list(burrow_txn *txn, int (*fn)(void *ctx, const char *name), void *ctx)
{
    diag_clear();
    if (!txn || !fn)
        return diag_set(BURROW_EINVAL, "coll_list: txn and fn are required");
    burrow_bucket mb;
    int rc = meta_bucket(txn, false, &mb);
    if (rc)
        return rc == BURROW_ENOTFOUND ? 0 : rc;
    burrow_cursor *cur;
    if ((rc = burrow_cursor_open(txn, mb, &cur)))
        return rc == BURROW_ENOTFOUND ? 0 : rc;
    burrow_val k, v;
    int s = burrow_cursor_first(cur, &k, &v);
    while (s == 0) {
        char name[BURROW_MAX_NAME_SIZE + 1];
        if (k.size > BURROW_MAX_NAME_SIZE) {
            rc = diag_set(BURROW_ECORRUPT, "collection catalog: name of %zu bytes", k.size);
            break;
        }
        memcpy(name, k.data, k.size);
        name[k.size] = '\0';
        if ((rc = fn(ctx, name)))
            break;
        s = burrow_cursor_next(cur, &k, &v);
    }
    if (!rc && s != BURROW_ENOTFOUND)
        rc = s;
    burrow_cursor_close(cur);
    return rc;
}

int burrow_coll_schema(burrow_txn *txn, const char *name, burrow_buf *json)
{
    diag_clear();
    if (!txn || !json)
        return diag_set(BURROW_EINVAL, "coll_schema: txn and json are required");
    coll_meta *m;
    int rc = meta_acquire(txn, name, &m);
    if (rc)
        return rc;
    doc_val sv = record_schema(m);
    json->size = 0;
    if (sv.len)
        rc = json_write(sv, 0, NULL, json);
    else
        rc = buf_append(json, "null", 4);
    if (!rc && !(rc = buf_putc(json, 0)))
        json->size--;
    meta_release(txn, m);
    return rc;
}

int burrow_coll_set_schema(burrow_txn *txn, const char *name, const char *schema_json)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "coll_set_schema: txn is required");
    coll_meta *m;
    int rc = meta_acquire(txn, name, &m);
    if (rc)
        return rc;
    doc_builder sb, rb;
    doc_builder_init(&sb);
    doc_builder_init(&rb);
    schema *s = NULL;
    index_def *want = NULL, *all = NULL;
    int nwant = 0, nall = 0;
    doc_val sv = {0};
    burrow_cursor *cur = NULL;
    burrow_txn *sp = NULL;
    if (schema_json) {
        if ((rc = parse_json(schema_json, strlen(schema_json), &sb, &sv)))
            goto out;
        if (doc_type(sv) == DOC_NULL)
            sv.len = 0;
        else if (doc_type(sv) != DOC_OBJECT)
            rc = diag_set(BURROW_EINVAL, "schema: must be a JSON object");
        else
            rc = schema_compile(sv, &s);
        if (rc)
            goto out;
    }
    /* Every document must pass the new schema. */
    if (s) {
        if ((rc = burrow_cursor_open(txn, m->docs, &cur)))
            goto out;
        burrow_val k, v;
        int st = burrow_cursor_first(cur, &k, &v);
        while (st == 0) {
            doc_val root;
            if ((rc = doc_root(v.data, v.size, &root)))
                goto out;
            if ((rc = schema_check(s, root))) {
                char why[300];
                snprintf(why, sizeof why, "%s", burrow_errmsg());
                rc = diag_set(BURROW_ECONSTRAINT, "document '%.*s': %s", (int)k.size,
                              (const char *)k.data, why);
                goto out;
            }
            st = burrow_cursor_next(cur, &k, &v);
        }
        if (st != BURROW_ENOTFOUND) {
            rc = st;
            goto out;
        }
    }
    burrow_cursor_close(cur);
    cur = NULL;
    /* New index list: the manual indexes, then what the schema asks for;
     * an auto index kept with the same name and kind is not rebuilt. The
     * index changes run in a savepoint: a build the data refuses (a unique
     * violation) must leave no dropped or half-built index behind. */
    if ((rc = auto_indexes(s, &want, &nwant)))
        goto out;
    rc = burrow_txn_begin(burrow_txn_db(txn), txn, 0, &sp);
    if (rc == BURROW_EINVAL) /* the one cause here: txn is read-only */
        rc = diag_set(BURROW_EREADONLY, "coll_set_schema: a write txn is required");
    if (rc)
        goto out;
    all = calloc((size_t)(m->nindexes + nwant) + 1, sizeof *all);
    if (!all) {
        rc = BURROW_ENOMEM;
        goto out;
    }
    for (int i = 0; i < m->nindexes; i++) {
        const index_def *ix = &m->indexes[i];
        /* Kept: a manual index the schema does not name, or one (manual
         * or not) of the kind the schema asks for; a manual non-unique
         * index on a field the schema makes unique is rebuilt unique. */
        bool keep = !ix->autom;
        for (int j = 0; j < nwant; j++)
            if (strcmp(want[j].name, ix->name) == 0)
                keep = want[j].unique == ix->unique;
        if (keep) {
            all[nall] = *ix; /* shallow: only read by meta_record_build */
            all[nall].autom = ix->autom;
            for (int j = 0; j < nwant; j++)
                if (strcmp(want[j].name, ix->name) == 0)
                    all[nall].autom = true;
            nall++;
        } else if ((rc = burrow_bucket_drop(sp, ix->bucket))) {
            goto out;
        }
    }
    int kept = nall;
    for (int j = 0; j < nwant; j++) {
        bool have = false;
        for (int i = 0; i < kept && !have; i++)
            have = strcmp(all[i].name, want[j].name) == 0;
        if (have)
            continue;
        char bname[256];
        coll_index_bucket_name(name, want[j].name, bname);
        if ((rc = burrow_bucket_open(sp, bname, BURROW_CREATE, &want[j].bucket)) ||
            (rc = index_build(sp, m, &want[j], &want[j].multikey)))
            goto out;
        all[nall++] = want[j];
    }
    const uint8_t *rec;
    size_t len;
    if (!(rc = meta_record_build(&rb, sv, all, nall)) && !(rc = doc_builder_finish(&rb, &rec, &len)))
        rc = meta_store(sp, name, rec, len, NULL);
out:
    if (sp && rc) {
        char why[512];
        snprintf(why, sizeof why, "%s", burrow_errmsg());
        burrow_txn_abort(sp);
        diag_set(rc, "%s", why);
    } else if (sp) {
        rc = burrow_txn_commit(sp);
    }
    burrow_cursor_close(cur);
    if (s)
        schema_free(s);
    defs_free(want, nwant);
    free(all);
    doc_builder_free(&sb);
    doc_builder_free(&rb);
    meta_release(txn, m);
    return rc;
}

/* ---- indexes ------------------------------------------------------------------ */

int burrow_index_create(burrow_txn *txn, const char *coll, const char *fields, unsigned flags)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "index_create: txn is required");
    if (flags & ~BURROW_INDEX_UNIQUE)
        return diag_set(BURROW_EINVAL, "index_create: unknown flags 0x%x", flags);
    coll_meta *m;
    int rc = meta_acquire(txn, coll, &m);
    if (rc)
        return rc;
    index_def ix;
    if ((rc = index_def_parse(fields, &ix))) {
        meta_release(txn, m);
        return rc;
    }
    ix.unique = (flags & BURROW_INDEX_UNIQUE) != 0;
    index_def *all = NULL;
    bool created = false;
    doc_builder rb;
    doc_builder_init(&rb);
    for (int i = 0; i < m->nindexes; i++)
        if (strcmp(m->indexes[i].name, ix.name) == 0) {
            rc = diag_set(BURROW_EEXIST, "index '%s' already exists on '%s'", ix.name, coll);
            goto out;
        }
    char bname[256];
    coll_index_bucket_name(coll, ix.name, bname);
    if ((rc = burrow_bucket_open(txn, bname, BURROW_CREATE, &ix.bucket)))
        goto out;
    created = true;
    if ((rc = index_build(txn, m, &ix, &ix.multikey)))
        goto out;
    all = calloc((size_t)m->nindexes + 1, sizeof *all);
    if (!all) {
        rc = BURROW_ENOMEM;
        goto out;
    }
    memcpy(all, m->indexes, (size_t)m->nindexes * sizeof *all);
    all[m->nindexes] = ix;
    const uint8_t *rec;
    size_t len;
    if (!(rc = meta_record_build(&rb, record_schema(m), all, m->nindexes + 1)) &&
        !(rc = doc_builder_finish(&rb, &rec, &len)))
        rc = meta_store(txn, coll, rec, len, NULL);
out:
    if (rc && created) {
        /* A refused build (a unique or key size violation) must leave no
         * half-filled bucket behind: a refused write changes nothing. */
        char why[512];
        snprintf(why, sizeof why, "%s", burrow_errmsg());
        burrow_bucket_drop(txn, ix.bucket);
        diag_set(rc, "%s", why);
    }
    free(all);
    doc_builder_free(&rb);
    index_def_clear(&ix);
    meta_release(txn, m);
    return rc;
}

int burrow_index_drop(burrow_txn *txn, const char *coll, const char *name)
{
    diag_clear();
    if (!txn || !name)
        return diag_set(BURROW_EINVAL, "index_drop: txn and name are required");
    coll_meta *m;
    int rc = meta_acquire(txn, coll, &m);
    if (rc)
        return rc;
    int at = -1;
    for (int i = 0; i < m->nindexes; i++)
        if (strcmp(m->indexes[i].name, name) == 0)
            at = i;
    doc_builder rb;
    doc_builder_init(&rb);
    index_def *all = NULL;
    if (at < 0) {
        rc = diag_set(BURROW_ENOTFOUND, "no index '%s' on '%s'", name, coll);
        goto out;
    }
    if (m->indexes[at].autom) {
        rc = diag_set(BURROW_EINVAL,
                      "index '%s' is required by the schema of '%s'; change the schema instead",
                      name, coll);
        goto out;
    }
    all = calloc((size_t)m->nindexes + 1, sizeof *all);
    if (!all) {
        rc = BURROW_ENOMEM;
        goto out;
    }
    int n = 0;
    for (int i = 0; i < m->nindexes; i++)
        if (i != at)
            all[n++] = m->indexes[i];
    const uint8_t *rec;
    size_t len;
    if (!(rc = burrow_bucket_drop(txn, m->indexes[at].bucket)) &&
        !(rc = meta_record_build(&rb, record_schema(m), all, n)) &&
        !(rc = doc_builder_finish(&rb, &rec, &len)))
        rc = meta_store(txn, coll, rec, len, NULL);
out:
    free(all);
    doc_builder_free(&rb);
    meta_release(txn, m);
    return rc;
}

int burrow_index_list(burrow_txn *txn, const char *coll,
                      int (*fn)(void *ctx, const char *name, unsigned flags), void *ctx)
{
    diag_clear();
    if (!txn || !fn)
        return diag_set(BURROW_EINVAL, "index_list: txn and fn are required");
    coll_meta *m;
    int rc = meta_acquire(txn, coll, &m);
    if (rc)
        return rc;
    /* Name order. */
    int *order = malloc(((size_t)m->nindexes + 1) * sizeof *order);
    if (!order) {
        meta_release(txn, m);
        return BURROW_ENOMEM;
    }
    for (int i = 0; i < m->nindexes; i++) {
        int j = i;
        while (j > 0 && strcmp(m->indexes[order[j - 1]].name, m->indexes[i].name) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (int i = 0; i < m->nindexes && !rc; i++) {
        const index_def *ix = &m->indexes[order[i]];
        rc = fn(ctx, ix->name, ix->unique ? BURROW_INDEX_UNIQUE : 0);
    }
    free(order);
    meta_release(txn, m);
    return rc;
}

/* ---- documents ------------------------------------------------------------------ */

static int set_id_out(burrow_buf *out, const char *id, size_t idlen)
{
    if (!out)
        return 0;
    out->size = 0;
    int rc = buf_append(out, id, idlen);
    if (!rc && !(rc = buf_putc(out, 0)))
        out->size--;
    return rc;
}

static int insert_root(burrow_txn *txn, const char *coll, doc_val root, const uint8_t *doc,
                       size_t len, burrow_buf *id_out)
{
    int rc = need_object(root);
    if (rc)
        return rc;
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    const char *id;
    size_t idlen;
    char gen[DOC_ID_TEXT_LEN + 1];
    scratch *sc = scratch_get();
    if (!sc) {
        meta_release(txn, m);
        return BURROW_ENOMEM;
    }
    rc = doc_id_of(root, &id, &idlen);
    if (rc == BURROW_ENOTFOUND) {
        doc_id_generate(gen);
        id = gen;
        idlen = DOC_ID_TEXT_LEN;
        if (!(rc = with_id(root, id, idlen, &sc->with_id)))
            rc = doc_builder_finish(&sc->with_id, &doc, &len);
    }
    if (!rc && (rc = ttl_check(txn, &m, id, idlen)) == BURROW_ENOTFOUND)
        rc = 0; /* an expired document: deleted now, so the id is free */
    if (!rc)
        rc = doc_write(txn, &m, id, idlen, (doc_val){0}, doc, len, WRITE_INSERT);
    if (!rc)
        rc = set_id_out(id_out, id, idlen);
    meta_release(txn, m);
    return rc;
}

int burrow_doc_insert(burrow_txn *txn, const char *coll, const char *json, size_t len,
                      burrow_buf *id)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "doc_insert: txn is required");
    scratch *sc = scratch_get();
    if (!sc)
        return BURROW_ENOMEM;
    doc_val root;
    int rc = parse_json(json, len, &sc->parse, &root);
    if (!rc)
        rc = insert_root(txn, coll, root, sc->parse.out.data, sc->parse.out.size, id);
    scratch_trim(sc);
    return rc;
}

int burrow_doc_insert_bin(burrow_txn *txn, const char *coll, const void *doc, size_t len,
                          burrow_buf *id)
{
    diag_clear();
    if (!txn || !doc)
        return diag_set(BURROW_EINVAL, "doc_insert_bin: txn and doc are required");
    int rc = doc_validate(doc, len);
    if (rc)
        return rc;
    doc_val root;
    doc_root(doc, len, &root);
    return insert_root(txn, coll, root, doc, len, id);
}

/* A hot read (hot_visit) of burrow_doc_get. Output that is a copy of the
 * document (binary, no projection, no computed fields) is made under the
 * tier's lock straight from its bytes: one copy in all, and the lock is
 * held no longer than tier_get would hold it for its own copy. Other
 * shapes (JSON text, computed fields, projections) cost far more than a
 * copy, so the document is copied out and shaped after the lock is
 * released, and other readers of the tier do not wait for them. */
typedef struct get_hit_ctx {
    const coll_meta *m;
    unsigned flags;
    bool direct; /* shape under the lock */
    bool hit;
    buf *out;    /* direct: the caller's output; else the copy */
} get_hit_ctx;

static int get_hit(void *ctx, const uint8_t *doc, size_t len)
{
    get_hit_ctx *g = ctx;
    g->hit = true;
    if (!g->direct) {
        g->out->size = 0;
        return buf_append(g->out, doc, len);
    }
    doc_val root;
    int rc = doc_root(doc, len, &root);
    return rc ? rc : coll_output(g->m, root, g->flags, NULL, NULL, g->out);
}

int burrow_doc_get(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                   const burrow_output *o, burrow_buf *out)
{
    diag_clear();
    if (!txn || !out)
        return diag_set(BURROW_EINVAL, "doc_get: txn and out are required");
    unsigned flags = o ? o->flags : 0;
    if (flags & ~(BURROW_OUT_BINARY | BURROW_OUT_PRETTY | BURROW_OUT_RAW))
        return diag_set(BURROW_EINVAL, "doc_get: unknown output flags 0x%x", flags);
    int rc = id_check(id, idlen);
    if (rc)
        return rc;
    coll_meta *m;
    bool owned;
    if ((rc = meta_borrow(txn, coll, &m, &owned)))
        return rc;
    bool project = o && o->fields;
    get_hit_ctx g = {m, flags, false, false, out};
    g.direct = !project && (flags & BURROW_OUT_BINARY) &&
               (!m->computed || (flags & BURROW_OUT_RAW));
    projection *p = NULL;
    scratch *sc = NULL;
    if (g.direct) {
        /* The tier holds each document with its stored expiry and drops it
         * when that passes (ttl.c), so a hit needs no look at the TTL. */
        rc = hot_visit(txn, coll, id, idlen, get_hit, &g);
        if (g.hit)
            goto out;
    }
    if (!(sc = scratch_get())) {
        rc = BURROW_ENOMEM;
        goto out;
    }
    if (project && (rc = projection_compile(o->fields, o->nfields, &p)))
        goto out;
    burrow_val v;
    if (!g.direct) {
        g.out = &sc->hot;
        rc = hot_visit(txn, coll, id, idlen, get_hit, &g);
    }
    if (g.hit) {
        if (rc)
            goto out;
        v.data = sc->hot.data;
        v.size = sc->hot.size;
    } else {
        uint64_t expires_at;
        if ((rc = ttl_check_expiry(txn, &m, id, idlen, &expires_at)))
            goto out;
        rc = burrow_get(txn, m->docs, id, idlen, &v);
        if (rc == BURROW_ENOTFOUND)
            rc = diag_set(BURROW_ENOTFOUND, "no document '%.*s' in '%s'", (int)idlen, id, coll);
        if (rc)
            goto out;
        hot_offer(txn, coll, id, idlen, v.data, v.size, expires_at);
    }
    doc_val root;
    if (!(rc = doc_root(v.data, v.size, &root)))
        rc = coll_output(m, root, flags, p, &sc->output, out);
out:
    projection_free(p);
    if (sc)
        scratch_trim(sc);
    if (owned)
        meta_release(txn, m);
    return rc;
}

static int replace_root(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                        doc_val root, const uint8_t *doc, size_t len)
{
    int rc = id_check(id, idlen);
    if (rc || (rc = need_object(root)))
        return rc;
    const char *did;
    size_t didlen;
    rc = doc_id_of(root, &did, &didlen);
    if (rc == 0 && (didlen != idlen || memcmp(did, id, idlen) != 0))
        return diag_set(BURROW_EINVAL, "replace: the document's _id differs from '%.*s'",
                        (int)idlen, id);
    if (rc && rc != BURROW_ENOTFOUND)
        return rc;
    bool add_id = rc == BURROW_ENOTFOUND;
    scratch *sc = scratch_get();
    if (!sc)
        return BURROW_ENOMEM;
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    burrow_val v;
    doc_val old;
    if (add_id && (!(rc = with_id(root, id, idlen, &sc->with_id))))
        rc = doc_builder_finish(&sc->with_id, &doc, &len);
    if (!rc)
        rc = ttl_check(txn, &m, id, idlen);
    if (!rc) {
        rc = burrow_get(txn, m->docs, id, idlen, &v);
        if (rc == BURROW_ENOTFOUND)
            rc = diag_set(BURROW_ENOTFOUND, "no document '%.*s' in '%s'", (int)idlen, id, coll);
    }
    if (!rc && !(rc = doc_root(v.data, v.size, &old)))
        rc = doc_write(txn, &m, id, idlen, old, doc, len, WRITE_REPLACE);
    meta_release(txn, m);
    return rc;
}

int burrow_doc_replace(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                       const char *json, size_t len)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "doc_replace: txn is required");
    scratch *sc = scratch_get();
    if (!sc)
        return BURROW_ENOMEM;
    doc_val root;
    int rc = parse_json(json, len, &sc->parse, &root);
    if (!rc)
        rc = replace_root(txn, coll, id, idlen, root, sc->parse.out.data, sc->parse.out.size);
    scratch_trim(sc);
    return rc;
}

int burrow_doc_replace_bin(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                           const void *doc, size_t len)
{
    diag_clear();
    if (!txn || !doc)
        return diag_set(BURROW_EINVAL, "doc_replace_bin: txn and doc are required");
    int rc = doc_validate(doc, len);
    if (rc)
        return rc;
    doc_val root;
    doc_root(doc, len, &root);
    return replace_root(txn, coll, id, idlen, root, doc, len);
}

int burrow_doc_update(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                      const burrow_update *u, const burrow_filter *cond, unsigned flags)
{
    diag_clear();
    if (!txn || !u)
        return diag_set(BURROW_EINVAL, "doc_update: txn and update are required");
    if (flags & ~BURROW_UPSERT)
        return diag_set(BURROW_EINVAL, "doc_update: unknown flags 0x%x", flags);
    int rc = id_check(id, idlen);
    if (rc)
        return rc;
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    scratch *sc = scratch_get();
    if (!sc) {
        meta_release(txn, m);
        return BURROW_ENOMEM;
    }
    doc_builder *base = &sc->base, *out = &sc->out;
    burrow_val v;
    doc_val old = {0};
    enum write_kind kind = WRITE_REPLACE;
    if ((rc = ttl_check(txn, &m, id, idlen)) == BURROW_ENOTFOUND)
        rc = 0; /* expired: deleted now, so missing below */
    if (!rc)
        rc = burrow_get(txn, m->docs, id, idlen, &v);
    if (rc == 0) {
        rc = doc_root(v.data, v.size, &old);
    } else if (rc == BURROW_ENOTFOUND && (flags & BURROW_UPSERT)) {
        /* Upsert: start from {"_id": id}. */
        const uint8_t *d;
        size_t dl;
        doc_builder_begin(base);
        doc_builder_begin_object(base);
        doc_builder_key(base, "_id", 3);
        doc_builder_string(base, id, idlen);
        doc_builder_end(base);
        if (!(rc = doc_builder_finish(base, &d, &dl)))
            rc = doc_root(d, dl, &old);
        kind = WRITE_INSERT;
    } else if (rc == BURROW_ENOTFOUND) {
        rc = diag_set(BURROW_ENOTFOUND, "no document '%.*s' in '%s'", (int)idlen, id, coll);
    }
    if (rc)
        goto done;
    if (cond) {
        rc = doc_filter_match((const doc_filter *)cond, old);
        if (rc <= 0)
            goto done; /* 0: the condition is false, nothing changes */
    }
    bool changed = false;
    const uint8_t *nd;
    size_t nl;
    if ((rc = doc_update_apply((const doc_update *)u, old, out, &changed)) ||
        (rc = doc_builder_finish(out, &nd, &nl)))
        goto done;
    if (changed || kind == WRITE_INSERT)
        rc = doc_write(txn, &m, id, idlen, kind == WRITE_INSERT ? (doc_val){0} : old, nd, nl,
                       kind);
    if (!rc)
        rc = 1;
done:
    scratch_trim(sc);
    meta_release(txn, m);
    return rc;
}

int burrow_doc_delete(burrow_txn *txn, const char *coll, const char *id, size_t idlen)
{
    diag_clear();
    if (!txn)
        return diag_set(BURROW_EINVAL, "doc_delete: txn is required");
    int rc = id_check(id, idlen);
    if (rc)
        return rc;
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m)))
        return rc;
    if (!(rc = ttl_check(txn, &m, id, idlen)))
        rc = coll_doc_remove(txn, &m, id, idlen);
    meta_release(txn, m);
    return rc;
}

int coll_doc_remove(burrow_txn *txn, coll_meta **mp, const char *id, size_t idlen)
{
    burrow_val v;
    doc_val old;
    int rc = burrow_get(txn, (*mp)->docs, id, idlen, &v);
    if (rc == BURROW_ENOTFOUND)
        rc = diag_set(BURROW_ENOTFOUND, "no document '%.*s' in '%s'", (int)idlen, id,
                      (*mp)->name);
    if (!rc && !(rc = doc_root(v.data, v.size, &old)))
        rc = doc_write(txn, mp, id, idlen, old, NULL, 0, WRITE_DELETE);
    return rc;
}
