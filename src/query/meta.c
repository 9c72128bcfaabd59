/*
 * meta.c — collection metadata: the catalog record and its compiled cache.
 *
 * Every document operation needs its collection's schema, indexes and
 * bucket handles. Compiling them from the stored record costs allocations
 * and parsing, so the compiled form is cached per database handle. The
 * cache key is the record's exact bytes: a txn reads the record (one get in
 * a tiny bucket) and takes the compiled entry whose bytes match. So each
 * snapshot sees the metadata it should, an aborted change leaves only an
 * unused entry behind, and no invalidation protocol is needed.
 *
 * Entry life: created by meta_acquire or meta_store with refs = 1 (the
 * cache's) + 1 (the caller's); meta_release drops the caller's; an entry
 * evicted from the cache is freed when its last reference goes.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "query/computed.h"
#include "query/query.h"
#include "query/schema.h"
#include "store/ext.h"

#define CACHE_MAX 256 /* compiled entries kept per handle */

/* Read txns' shortcut: a committed snapshot never changes, so the metadata
 * a read txn at snapshot S found for a name is what every read txn at S
 * finds. The last few (name, S) answers are kept, each holding a
 * reference, and spare a read txn the catalog lookup. */
#define SNAP_CACHE 8

typedef struct query_state {
    pthread_mutex_t lock;
    coll_meta *head; /* most recently used first */
    size_t n;
    bool have_meta_bucket;
    burrow_bucket meta_bucket;
    struct {
        uint64_t snapshot;
        coll_meta *m; /* NULL: empty */
    } snap[SNAP_CACHE];
    unsigned snap_next;
} query_state;

static void meta_free(coll_meta *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nindexes; i++)
        index_def_clear(&m->indexes[i]);
    free(m->indexes);
    if (m->schema)
        schema_free(m->schema);
    free(m->record);
    free(m->name);
    free(m);
}

static void *state_make(burrow_db *db)
{
    (void)db;
    query_state *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->lock, NULL);
    return s;
}

/* Bumped whenever a handle's query state or hot tier is destroyed (at
 * burrow_close). A per-thread cache filled under epoch E names a handle by
 * its address; while the epoch is still E no handle has been closed since,
 * so that address cannot yet belong to a new handle. */
static atomic_uint_fast64_t close_epoch = 1;

uint64_t query_close_epoch(void)
{
    return atomic_load_explicit(&close_epoch, memory_order_acquire);
}

void query_note_close(void)
{
    atomic_fetch_add_explicit(&close_epoch, 1, memory_order_release);
}

static void state_destroy(void *p)
{
    query_state *s = p;
    query_note_close();
    for (int i = 0; i < SNAP_CACHE; i++)
        if (s->snap[i].m && atomic_fetch_sub(&s->snap[i].m->refs, 1) == 1)
            meta_free(s->snap[i].m);
    for (coll_meta *m = s->head, *n; m; m = n) {
        n = m->next;
        if (atomic_fetch_sub(&m->refs, 1) == 1)
            meta_free(m);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static query_state *state_of(burrow_txn *txn)
{
    return db_ext_get(burrow_txn_db(txn), DB_EXT_QUERY, state_make, state_destroy);
}

int coll_name_check(const char *name)
{
    if (!name)
        return diag_set(BURROW_EINVAL, "collection name is required");
    size_t n = strlen(name);
    if (n == 0 || n > BURROW_MAX_NAME_SIZE)
        return diag_set(BURROW_EINVAL, "collection name must be 1 to %d bytes",
                        BURROW_MAX_NAME_SIZE);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return diag_set(BURROW_EINVAL, "collection name has a control character");
    if (!doc_utf8_valid(name, n))
        return diag_set(BURROW_EINVAL, "collection name is not valid UTF-8");
    return 0;
}

void coll_docs_bucket_name(const char *coll, char *out)
{
    snprintf(out, 256, "c:%s", coll);
}

void coll_index_bucket_name(const char *coll, const char *index, char *out)
{
    snprintf(out, 256, "i:%s\x1f%s", coll, index);
}

int meta_bucket(burrow_txn *txn, bool create, burrow_bucket *out)
{
    query_state *s = state_of(txn);
    if (!s)
        return BURROW_ENOMEM;
    pthread_mutex_lock(&s->lock);
    bool have = s->have_meta_bucket;
    burrow_bucket b = s->meta_bucket;
    pthread_mutex_unlock(&s->lock);
    if (!have || create) {
        int rc = burrow_bucket_open(txn, META_BUCKET, create ? BURROW_CREATE : 0, &b);
        if (rc)
            return rc;
        pthread_mutex_lock(&s->lock);
        s->meta_bucket = b;
        s->have_meta_bucket = true;
        pthread_mutex_unlock(&s->lock);
    }
    *out = b;
    return 0;
}

static int no_such(const char *name)
{
    return diag_set(BURROW_ENOTFOUND, "no such collection '%s'", name);
}

/* Read the index list of a record into m. */
static int compile_indexes(burrow_txn *txn, coll_meta *m, doc_val list)
{
    uint32_t n = doc_count(list);
    if (doc_type(list) != DOC_ARRAY)
        return diag_set(BURROW_ECORRUPT, "collection '%s': bad index list", m->name);
    m->indexes = calloc(n ? n : 1, sizeof *m->indexes);
    if (!m->indexes)
        return BURROW_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        doc_val e, v;
        index_def *ix = &m->indexes[i];
        m->nindexes = (int)i + 1;
        int rc = doc_array_at(list, i, &e);
        if (rc)
            return rc;
        const char *s;
        size_t sl;
        if (doc_object_get(e, "name", 4, &v) || doc_get_string(v, &s, &sl) || sl == 0 ||
            sl > INDEX_NAME_MAX)
            return diag_set(BURROW_ECORRUPT, "collection '%s': bad index record", m->name);
        char name[INDEX_NAME_MAX + 1];
        memcpy(name, s, sl);
        name[sl] = '\0';
        if ((rc = index_def_parse(name, ix)))
            return diag_set(BURROW_ECORRUPT, "collection '%s': bad index '%s'", m->name, name);
        bool flag;
        if (!doc_object_get(e, "unique", 6, &v) && !doc_get_bool(v, &flag))
            ix->unique = flag;
        if (!doc_object_get(e, "multikey", 8, &v) && !doc_get_bool(v, &flag))
            ix->multikey = flag;
        if (!doc_object_get(e, "auto", 4, &v) && !doc_get_bool(v, &flag))
            ix->autom = flag;
        char bname[256];
        coll_index_bucket_name(m->name, ix->name, bname);
        if ((rc = burrow_bucket_open(txn, bname, 0, &ix->bucket)))
            return rc == BURROW_ENOTFOUND
                       ? diag_set(BURROW_ECORRUPT, "collection '%s': index bucket missing", m->name)
                       : rc;
    }
    return 0;
}

static int compile(burrow_txn *txn, const char *name, const void *rec, size_t len,
                   coll_meta **out)
{
    coll_meta *m = calloc(1, sizeof *m);
    if (!m)
        return BURROW_ENOMEM;
    m->name = strdup(name);
    m->record = malloc(len);
    int rc = BURROW_ENOMEM;
    if (!m->name || !m->record)
        goto fail;
    memcpy(m->record, rec, len);
    m->record_len = len;
    doc_val root, v;
    if ((rc = doc_validate(rec, len)) || (rc = doc_root(rec, len, &root))) {
        rc = diag_set(BURROW_ECORRUPT, "collection '%s': damaged metadata record", name);
        goto fail;
    }
    if (doc_object_get(root, "schema", 6, &v) == 0 && doc_type(v) == DOC_OBJECT) {
        if ((rc = schema_compile(v, &m->schema)))
            goto fail;
        m->computed = schema_computed(m->schema);
    }
    if (doc_object_get(root, "indexes", 7, &v) == 0 && (rc = compile_indexes(txn, m, v)))
        goto fail;
    char bname[256];
    coll_docs_bucket_name(name, bname);
    if ((rc = burrow_bucket_open(txn, bname, 0, &m->docs))) {
        if (rc == BURROW_ENOTFOUND)
            rc = diag_set(BURROW_ECORRUPT, "collection '%s': document bucket missing", name);
        goto fail;
    }
    bool ttl;
    if (doc_object_get(root, "ttl", 3, &v) == 0 && doc_get_bool(v, &ttl) == 0 && ttl) {
        snprintf(bname, sizeof bname, "t:%s", name);
        if ((rc = burrow_bucket_open(txn, bname, 0, &m->ttl))) {
            if (rc == BURROW_ENOTFOUND)
                rc = diag_set(BURROW_ECORRUPT, "collection '%s': TTL bucket missing", name);
            goto fail;
        }
        m->has_ttl = true;
    }
    atomic_init(&m->refs, 2);
    *out = m;
    return 0;
fail:
    meta_free(m);
    return rc;
}

/* Insert m at the head of the cache, evicting the least recently used
 * entries past CACHE_MAX. */
static void cache_insert(query_state *s, coll_meta *m)
{
    m->next = s->head;
    s->head = m;
    s->n++;
    if (s->n <= CACHE_MAX)
        return;
    coll_meta **pp = &s->head;
    for (size_t i = 0; *pp && i < CACHE_MAX; i++)
        pp = &(*pp)->next;
    while (*pp) {
        coll_meta *e = *pp;
        *pp = e->next;
        s->n--;
        if (atomic_fetch_sub(&e->refs, 1) == 1)
            meta_free(e);
    }
}

static coll_meta *cache_find(query_state *s, const char *name, const void *rec, size_t len)
{
    for (coll_meta **pp = &s->head; *pp; pp = &(*pp)->next) {
        coll_meta *m = *pp;
        if (m->record_len == len && memcmp(m->record, rec, len) == 0 && strcmp(m->name, name) == 0) {
            atomic_fetch_add(&m->refs, 1);
            if (pp != &s->head) { /* move to front */
                *pp = m->next;
                m->next = s->head;
                s->head = m;
            }
            return m;
        }
    }
    return NULL;
}

static int acquire_record(burrow_txn *txn, const char *name, const void *rec, size_t len,
                          coll_meta **out)
{
    query_state *s = state_of(txn);
    if (!s)
        return BURROW_ENOMEM;
    pthread_mutex_lock(&s->lock);
    coll_meta *m = cache_find(s, name, rec, len);
    pthread_mutex_unlock(&s->lock);
    if (m) {
        *out = m;
        return 0;
    }
    int rc = compile(txn, name, rec, len, &m);
    if (rc)
        return rc;
    pthread_mutex_lock(&s->lock);
    coll_meta *other = cache_find(s, name, rec, len);
    if (other) { /* another thread compiled it meanwhile */
        pthread_mutex_unlock(&s->lock);
        atomic_store(&m->refs, 1);
        meta_free(m);
        *out = other;
        return 0;
    }
    cache_insert(s, m);
    pthread_mutex_unlock(&s->lock);
    *out = m;
    return 0;
}

int meta_acquire(burrow_txn *txn, const char *name, coll_meta **out)
{
    int rc = coll_name_check(name);
    if (rc)
        return rc;
    const txn_ext_ops **ops;
    bool rdonly = txn_ext_slot(txn, DB_EXT_QUERY, &ops) == NULL;
    uint64_t snapshot = burrow_txn_id(txn);
    query_state *s = state_of(txn);
    if (!s)
        return BURROW_ENOMEM;
    if (rdonly) {
        pthread_mutex_lock(&s->lock);
        for (int i = 0; i < SNAP_CACHE; i++) {
            coll_meta *m = s->snap[i].m;
            if (m && s->snap[i].snapshot == snapshot && strcmp(m->name, name) == 0) {
                atomic_fetch_add(&m->refs, 1);
                pthread_mutex_unlock(&s->lock);
                *out = m;
                return 0;
            }
        }
        pthread_mutex_unlock(&s->lock);
    }
    burrow_bucket mb;
    if ((rc = meta_bucket(txn, false, &mb)))
        return rc == BURROW_ENOTFOUND ? no_such(name) : rc;
    burrow_val rec;
    rc = burrow_get(txn, mb, name, strlen(name), &rec);
    if (rc)
        return rc == BURROW_ENOTFOUND ? no_such(name) : rc;
    if ((rc = acquire_record(txn, name, rec.data, rec.size, out)) || !rdonly)
        return rc;
    pthread_mutex_lock(&s->lock);
    unsigned i = s->snap_next++ % SNAP_CACHE;
    coll_meta *old = s->snap[i].m;
    atomic_fetch_add(&(*out)->refs, 1);
    s->snap[i].m = *out;
    s->snap[i].snapshot = snapshot;
    pthread_mutex_unlock(&s->lock);
    if (old && atomic_fetch_sub(&old->refs, 1) == 1)
        meta_free(old);
    return 0;
}

void meta_release(burrow_txn *txn, coll_meta *m)
{
    (void)txn;
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        meta_free(m);
}

/*
 * meta_borrow's per-thread answer: the metadata of one (handle, snapshot,
 * name), holding one reference of its own. Only this thread drops that
 * reference (when the answer is replaced, or when the thread exits), so a
 * pointer lent from it stays valid until this thread's next meta_borrow.
 * A hit costs three compares and a strcmp: no lock, no atomic write, no
 * catalog lookup, no name check (the cached name passed it).
 */
typedef struct borrow_cache {
    burrow_db *db;
    uint64_t epoch, snapshot;
    coll_meta *m; /* NULL: empty */
} borrow_cache;

static _Thread_local borrow_cache borrowed;
static pthread_key_t borrow_key;
static pthread_once_t borrow_once = PTHREAD_ONCE_INIT;

/* Thread exit: drop the answer's reference (TLS outlives key destructors). */
static void borrow_exit(void *p)
{
    borrow_cache *c = p;
    coll_meta *m = c->m;
    c->m = NULL;
    meta_release(NULL, m);
}

static void borrow_key_make(void) { pthread_key_create(&borrow_key, borrow_exit); }

int meta_borrow(burrow_txn *txn, const char *name, coll_meta **out, bool *owned)
{
    const txn_ext_ops **ops;
    if (txn_ext_slot(txn, DB_EXT_QUERY, &ops) != NULL) { /* a write txn */
        *owned = true;
        return meta_acquire(txn, name, out);
    }
    *owned = false;
    borrow_cache *c = &borrowed;
    burrow_db *db = burrow_txn_db(txn);
    uint64_t epoch = query_close_epoch(), snapshot = burrow_txn_id(txn);
    if (c->m && c->db == db && c->epoch == epoch && c->snapshot == snapshot && name &&
        strcmp(c->m->name, name) == 0) {
        *out = c->m;
        return 0;
    }
    coll_meta *m;
    int rc = meta_acquire(txn, name, &m);
    if (rc)
        return rc;
    if (!c->m) {
        pthread_once(&borrow_once, borrow_key_make);
        pthread_setspecific(borrow_key, c); /* on failure: a reference kept at exit */
    }
    coll_meta *old = c->m;
    *c = (borrow_cache){db, epoch, snapshot, m}; /* the caller's reference is now the cache's */
    meta_release(NULL, old);
    *out = m;
    return 0;
}

/* Does record (a valid binary document) say "ttl": true? */
static bool record_has_ttl(const void *record, size_t len)
{
    doc_val root, v;
    bool ttl;
    return doc_root(record, len, &root) == 0 && doc_object_get(root, "ttl", 3, &v) == 0 &&
           doc_get_bool(v, &ttl) == 0 && ttl;
}

int meta_store(burrow_txn *txn, const char *name, const uint8_t *record, size_t len,
               coll_meta **out)
{
    burrow_bucket mb;
    int rc = meta_bucket(txn, true, &mb);
    if (rc)
        return rc;
    /* The writers of a record (indexes, schemas) know nothing of TTLs: a
     * record that had "ttl": true keeps it, as its "t:" bucket stays. */
    doc_builder keep;
    doc_builder_init(&keep);
    burrow_val old;
    if (!record_has_ttl(record, len) && burrow_get(txn, mb, name, strlen(name), &old) == 0 &&
        record_has_ttl(old.data, old.size)) {
        doc_val root;
        if ((rc = doc_root(record, len, &root)) || (rc = meta_record_with_ttl(root, &keep)) ||
            (rc = doc_builder_finish(&keep, &record, &len))) {
            doc_builder_free(&keep);
            return rc;
        }
    }
    rc = burrow_put(txn, mb, name, strlen(name), record, len, 0);
    if (!rc && out)
        rc = acquire_record(txn, name, record, len, out);
    doc_builder_free(&keep);
    return rc;
}

int meta_record_with_ttl(doc_val root, doc_builder *b)
{
    doc_builder_begin(b);
    doc_builder_begin_object(b);
    doc_iter it;
    const char *k;
    size_t kl;
    doc_val v;
    doc_iter_init(&it, root);
    int rc;
    while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1)
        if (!(kl == 3 && memcmp(k, "ttl", 3) == 0))
            doc_builder_copy_entry(b, k, kl, v);
    if (rc < 0)
        return rc;
    doc_builder_key(b, "ttl", 3);
    doc_builder_bool(b, true);
    return doc_builder_end(b);
}

int meta_remove(burrow_txn *txn, const char *name)
{
    burrow_bucket mb;
    int rc = meta_bucket(txn, false, &mb);
    if (rc)
        return rc;
    return burrow_del(txn, mb, name, strlen(name));
}

int meta_record_build(doc_builder *b, doc_val schema_obj, const index_def *indexes, int nindexes)
{
    doc_builder_begin(b);
    doc_builder_begin_object(b);
    doc_builder_key(b, "v", 1);
    doc_builder_int(b, 1);
    doc_builder_key(b, "schema", 6);
    if (schema_obj.len)
        doc_builder_copy(b, schema_obj);
    else
        doc_builder_null(b);
    doc_builder_key(b, "indexes", 7);
    doc_builder_begin_array(b);
    for (int i = 0; i < nindexes; i++) {
        const index_def *ix = &indexes[i];
        doc_builder_begin_object(b);
        doc_builder_key(b, "name", 4);
        doc_builder_string(b, ix->name, strlen(ix->name));
        doc_builder_key(b, "fields", 6);
        doc_builder_begin_array(b);
        for (int f = 0; f < ix->nfields; f++)
            doc_builder_string(b, ix->fields[f], strlen(ix->fields[f]));
        doc_builder_end(b);
        doc_builder_key(b, "unique", 6);
        doc_builder_bool(b, ix->unique);
        doc_builder_key(b, "multikey", 8);
        doc_builder_bool(b, ix->multikey);
        doc_builder_key(b, "auto", 4);
        doc_builder_bool(b, ix->autom);
        doc_builder_end(b);
    }
    doc_builder_end(b);
    return doc_builder_end(b); /* errors are sticky: this returns the first */
}
