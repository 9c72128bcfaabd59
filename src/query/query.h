/*
 * query.h — collections, their metadata and indexes (internal contracts).
 *
 * query/ builds collections on store/ buckets and doc/ documents. It uses
 * store/ only through burrow.h, plus the handle's state slot (store/ext.h).
 *
 * ---------------------------------------------------------------------------
 * Buckets of a collection named C (bucket names are NUL-terminated, and a
 * collection name has no control characters, so 0x1F separates safely):
 *
 *   "_burrow.collections"     key C -> the metadata record (below)
 *   "c:" C                    key id -> the binary document (doc.h format)
 *   "i:" C 0x1F N             one per index named N: key = index key, value
 *                             empty
 *   "t:" C                    time to live (ttl.c), only once a document of
 *                             C had one: key id -> u64 big-endian expiry
 *                             (Unix ms)
 *   "_burrow.expiry"          every expiry of every collection, in expiry
 *                             order for the sweep: key = u64 big-endian
 *                             expiry, C, 0x00, id; value empty
 *
 * Metadata record: a binary document
 *   {"v": 1, "schema": <the schema object> | null,
 *    "indexes": [{"name": N, "fields": [path, ...], "unique": bool,
 *                 "multikey": bool, "auto": bool}, ...]}
 * "auto" marks an index the schema asked for (dropped with the schema);
 * "multikey" is set once the index has held an array element, after which
 * queries through it remove duplicate documents. An optional "ttl": true
 * (written after the other keys) says the "t:" bucket exists, so only such
 * collections pay for expiry checks; once set it stays until the drop
 * (meta_store keeps it when the record is rewritten).
 *
 * Index key: doc_key_encode of each field's value in order (missing fields
 * as DOC_KEY_MISSING), then the document id, then one byte: the id's
 * length. A field holding an array makes one entry per distinct element
 * (an empty array makes one entry for [] itself); at most one field of a
 * compound index may hold an array in any one document. A unique index
 * refuses two documents whose field values are all present and equal.
 * ---------------------------------------------------------------------------
 */
#ifndef BURROW_QUERY_H
#define BURROW_QUERY_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/buf.h"
#include "burrow.h"
#include "doc/doc.h"

#define META_BUCKET "_burrow.collections"
#define INDEX_NAME_MAX 120
#define INDEX_FIELDS_MAX 8

typedef struct schema schema;
typedef struct computed computed;

typedef struct index_def {
    char *name;
    int nfields;
    doc_path paths[INDEX_FIELDS_MAX];
    char *fields[INDEX_FIELDS_MAX]; /* the paths as written */
    bool unique, multikey, autom;
    burrow_bucket bucket;
} index_def;

/* Compiled metadata of one collection as one snapshot sees it. Immutable
 * once built and shared (reference counted) between threads. */
typedef struct coll_meta {
    char *name;
    uint8_t *record; /* the stored metadata record, the cache's key */
    size_t record_len;
    burrow_bucket docs;
    schema *schema;          /* NULL: none */
    const computed *computed; /* owned by schema; NULL: none */
    index_def *indexes;
    int nindexes;
    bool has_ttl;      /* the record says "ttl": true */
    burrow_bucket ttl; /* "t:" C when has_ttl */
    atomic_int refs;
    struct coll_meta *next; /* cache chain */
} coll_meta;

/* ---- meta.c --------------------------------------------------------------- */

/* Collection names: 1..BURROW_MAX_NAME_SIZE bytes of UTF-8 without control
 * characters. 0 or BURROW_EINVAL with a message. */
int coll_name_check(const char *name);

/* The compiled metadata of collection name as txn sees it: *out holds a
 * reference the caller drops with meta_release. BURROW_ENOTFOUND (with
 * "no such collection 'x'") when it does not exist. */
int meta_acquire(burrow_txn *txn, const char *name, coll_meta **out);
void meta_release(burrow_txn *txn, coll_meta *m);
/* meta_acquire for hot paths. In a read txn the metadata is lent, not
 * acquired (*owned = false): valid until this thread's next meta_borrow,
 * so a caller must not hold it across a call that may borrow again. In a
 * write txn it is meta_acquire (*owned = true: meta_release it). */
int meta_borrow(burrow_txn *txn, const char *name, coll_meta **out, bool *owned);

/* A counter bumped when any handle's query state or hot tier is destroyed
 * (burrow_close): per-thread caches keyed by a handle's address are valid
 * only while it has not moved. */
uint64_t query_close_epoch(void);
void query_note_close(void);

/* Write a new metadata record for name (write txn) and return its compiled
 * form like meta_acquire. The record is a finished binary document. */
int meta_store(burrow_txn *txn, const char *name, const uint8_t *record, size_t len,
               coll_meta **out);
/* Remove name's record. */
int meta_remove(burrow_txn *txn, const char *name);
/* The metadata bucket (created in write txns when create is set). */
int meta_bucket(burrow_txn *txn, bool create, burrow_bucket *out);

/* Build a metadata record from parts: schema (may be an invalid doc_val
 * with len 0 for none) and the index list. Written into b. */
int meta_record_build(doc_builder *b, doc_val schema_obj, const index_def *indexes, int nindexes);

/* Bucket names. */
void coll_docs_bucket_name(const char *coll, char *out /* >= 256 */);
void coll_index_bucket_name(const char *coll, const char *index, char *out /* >= 256 */);

/* ---- index.c --------------------------------------------------------------- */

/* The keys index ix holds for document doc (with id): appended to keys as
 * a sequence of (u32 length, bytes). *count is set. BURROW_ECONSTRAINT when
 * two fields hold arrays; *multikey is set when an array was expanded. */
int index_keys(const index_def *ix, doc_val doc, const char *id, size_t idlen, buf *keys,
               size_t *count, bool *multikey);

/* Check that adding doc (id) to unique index ix collides with no other
 * document. BURROW_ECONSTRAINT naming the index and the value. */
int index_unique_check(burrow_txn *txn, const index_def *ix, const buf *keys, size_t count,
                       const char *id, size_t idlen);

/* Change index entries for one document: remove old keys, add new keys
 * (either may be NULL). Unique checks are the caller's, done before. */
int index_apply(burrow_txn *txn, const index_def *ix, const buf *old_keys, size_t nold,
                const buf *new_keys, size_t nnew);

/* Fill index ix from every document of the collection (a new index). */
int index_build(burrow_txn *txn, const coll_meta *m, const index_def *ix, bool *multikey);

/* Parse "a,b.c" into ix (name, paths). BURROW_EINVAL. */
int index_def_parse(const char *fields, index_def *ix);
void index_def_clear(index_def *ix);

/* The document id stored at the end of an index key. */
int index_key_id(const uint8_t *key, size_t klen, const char **id, size_t *idlen);

/* ---- id.c ----------------------------------------------------------------------- */

#define DOC_ID_TEXT_LEN 26
/* A new time-ordered id: 48 bits of milliseconds, 80 random bits, as 26
 * Crockford base32 characters (out gets 27 bytes with the NUL). Ids made
 * by one process in the same millisecond increase. */
void doc_id_generate(char out[DOC_ID_TEXT_LEN + 1]);

/* ---- hot.c: the hot tier in front of documents read by id -------------------- */

typedef struct tier tier;
/* The handle's tier, created on first use; NULL when hot_memory is 0. */
tier *hot_tier(burrow_db *db);
/* A write txn wrote (coll, id) / dropped or rewrote coll: invalidated in
 * the tier when it commits. */
void hot_note_write(burrow_txn *txn, const char *coll, const char *id, size_t idlen);
void hot_note_drop(burrow_txn *txn, const char *coll);
/* Read txns only: the cached binary document (0), else BURROW_ENOTFOUND. */
int hot_get(burrow_txn *txn, const char *coll, const char *id, size_t idlen, buf *out);
/* Read txns only: on a hit, fn(ctx, doc, len) on the tier's own bytes under
 * its lock (tier_visit: fn must not call into the tier, nor take long, as
 * other readers wait) and fn's result; BURROW_ENOTFOUND on a miss (tell it
 * from fn's own results through ctx). */
int hot_visit(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
              int (*fn)(void *ctx, const uint8_t *doc, size_t len), void *ctx);
/* Offer a document read from the store to the tier (read txns only), with
 * its stored expiry (Unix ms, ttl_now's clock; 0 = none). */
void hot_offer(burrow_txn *txn, const char *coll, const char *id, size_t idlen, const void *doc,
               size_t len, uint64_t expires_at);
/* enum burrow_tier_policy -> enum tier_policy; -1 when unknown. */
int hot_policy_to_tier(int policy);
/* For tests: make db's tier now, reading its monotonic time from *clock
 * (copied; clock->ctx must outlive db) instead of the system's. Its wall
 * clock (expiries) is always ttl_now: replace that with
 * query_set_clock_for_tests. Call it right after
 * burrow_open, before any read or write: BURROW_EBUSY when the tier exists
 * already, BURROW_EINVAL when it is off. The public API has no clock: time
 * is not something a user should fake. */
struct tier_clock;
int hot_set_clock_for_tests(burrow_db *db, const struct tier_clock *clock);

/* ---- ttl.c: documents' time to live ----------------------------------------- */

/* The wall clock in Unix milliseconds (CLOCK_REALTIME unless replaced). */
uint64_t ttl_now(void);
/* For tests: read time from now_ms instead; NULL restores the real clock. */
void query_set_clock_for_tests(uint64_t (*now_ms)(void));
/* A "t:" value (u64 big-endian expiry) is due at time now. */
bool ttl_value_expired(burrow_val v, uint64_t now);
/* Is document id of *mp expired? 0: no (or no TTL), BURROW_ENOTFOUND with
 * "no document" when it is. In a write txn an expired document is deleted
 * first (with its index entries, through the normal write path; *mp may
 * be replaced). Cheap when the collection never had a TTL. */
int ttl_check(burrow_txn *txn, coll_meta **mp, const char *id, size_t idlen);
/* ttl_check that also says, when the document is live, its expiry in
 * *expires_at (Unix ms; 0 when it has none), for the hot tier. */
int ttl_check_expiry(burrow_txn *txn, coll_meta **mp, const char *id, size_t idlen,
                     uint64_t *expires_at);
/* The document id is being deleted: remove its TTL rows (write txn). */
int ttl_forget(burrow_txn *txn, const coll_meta *m, const char *id, size_t idlen);
/* The collection is being dropped: remove its TTL rows and bucket. */
int ttl_coll_drop(burrow_txn *txn, const coll_meta *m);
/* A copy of metadata record root with "ttl": true added, into b. */
int meta_record_with_ttl(doc_val root, doc_builder *b);
/* collection.c: delete document id of *mp through the write path
 * (BURROW_ENOTFOUND when there is none). */
int coll_doc_remove(burrow_txn *txn, coll_meta **mp, const char *id, size_t idlen);

/* ---- output.c ---------------------------------------------------------------- */

/* A compiled projection: which paths of a document to keep. "_id" is
 * always kept. A path through an array keeps that part of each object
 * element (MongoDB's rule). */
typedef struct projection projection;
int projection_compile(const char *const *fields, size_t n, projection **out);
void projection_free(projection *p);
/* Write the projected root (an object) into b, begun by this call. */
int projection_apply(const projection *p, doc_val root, doc_builder *b);

/* Shape a stored document for a reader into out (replaced): computed fields
 * (unless BURROW_OUT_RAW), projection (p may be NULL), then JSON text
 * (NUL-terminated) or a binary document. scratch is working space. */
int coll_output(const coll_meta *m, doc_val doc, unsigned flags, const projection *p,
                doc_builder *scratch, buf *out);

#endif
