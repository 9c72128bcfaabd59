/*
 * burrow.h — the public C API of libburrow, the BurrowDB engine.
 *
 * A database is one file of fixed-size pages holding named buckets (ordered
 * maps of byte-string keys to byte-string values). Transactions are ACID:
 * one write transaction at a time, any number of read transactions, each
 * reading a stable snapshot and never blocking the writer. Write
 * transactions nest (savepoints): aborting a child undoes only the child.
 *
 * Conventions (see docs/api.md for the long form):
 *  - Functions return 0 on success or a negative error code: one of the
 *    BURROW_E* codes below, or a negated errno for system errors.
 *    burrow_strerror() names every code; burrow_errmsg() gives the detail of
 *    the last error on the calling thread (which page, which limit, ...).
 *  - Ownership and lifetime of every returned pointer is written next to the
 *    function that returns it.
 *  - Library code never prints, exits or aborts on bad input.
 */
#ifndef BURROW_H
#define BURROW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BURROW_VERSION_MAJOR 0
#define BURROW_VERSION_MINOR 1
#define BURROW_VERSION_PATCH 0

/* ---- error codes ------------------------------------------------------ */

#define BURROW_OK 0
#define BURROW_ENOTFOUND (-30001)  /* no such key, bucket, or cursor end */
#define BURROW_EEXIST (-30002)     /* key exists (BURROW_NOOVERWRITE), bucket exists */
#define BURROW_ECORRUPT (-30003)   /* the file is damaged: checksum, structure, truncation */
#define BURROW_EVERSION (-30004)   /* file format version this build cannot read */
#define BURROW_ENOTDB (-30005)     /* the file is not a BurrowDB database (bad magic) */
#define BURROW_EINVAL (-30006)     /* invalid argument (detail in burrow_errmsg()) */
#define BURROW_ELOCKED (-30007)    /* the file is open for writing elsewhere (this process too) */
#define BURROW_EREADONLY (-30008)  /* write attempted in a read-only txn or database */
#define BURROW_EBUSY (-30009)      /* txn has an active child, or db has live txns */
#define BURROW_EKEYSIZE (-30010)   /* key longer than burrow_max_key_size() */
#define BURROW_EVALSIZE (-30011)   /* value larger than BURROW_MAX_VALUE_SIZE */
#define BURROW_ETXNDONE (-30012)   /* txn already failed; it can only be aborted */
#define BURROW_ENOMEM (-30013)     /* out of memory */
#define BURROW_EFULL (-30014)      /* file would exceed the maximum page count, or the hot tier has no room */
#define BURROW_EIO (-30015)        /* an I/O error made the database unusable */
#define BURROW_EJSON (-30016)      /* malformed JSON text ("line:column: why" in burrow_errmsg) */
#define BURROW_ECONSTRAINT (-30017) /* a schema rule or unique index refused a write */
#define BURROW_ETYPE (-30018)      /* a value has the wrong type for the operation */
#define BURROW_ERANGE (-30019)     /* a number is out of range (overflow, not finite) */
#define BURROW_ECANCELED (-30020)  /* a progress callback asked to stop; nothing was left behind */

/* Name of an error code, for every code above and for negated errno values.
 * Returns a static string; never NULL. */
const char *burrow_strerror(int err);

/* Detail of the last error returned on the calling thread, e.g.
 * "page 812: checksum mismatch". Owned by the library, valid until the next
 * call into the library on this thread. Never NULL (may be ""). */
const char *burrow_errmsg(void);

/* ---- buffers ---------------------------------------------------------- */

/* A growable byte buffer the library fills and the caller owns. Start it
 * zeroed (or with burrow_buf_init); functions that fill one replace its
 * contents unless they say they append; release it with burrow_buf_free. */
typedef struct burrow_buf {
    uint8_t *data;
    size_t size; /* bytes of content */
    size_t cap;  /* bytes allocated */
} burrow_buf;

void burrow_buf_init(burrow_buf *b);
void burrow_buf_free(burrow_buf *b);

/* ---- the OS layer ------------------------------------------------------ */

/*
 * All file access goes through this table so tests can substitute a
 * fault-injecting implementation. Every function returns 0 (or a byte count
 * for pread/pwrite) on success and a negated errno on failure. The default
 * (burrow_os_default()) is a thin wrapper over POSIX calls.
 */
typedef struct burrow_os {
    void *ctx; /* passed back as the first argument of every call */
    int (*open)(void *ctx, const char *path, int flags, int mode); /* returns fd >= 0 */
    int (*close)(void *ctx, int fd);
    ssize_t (*pread)(void *ctx, int fd, void *buf, size_t len, uint64_t off);
    ssize_t (*pwrite)(void *ctx, int fd, const void *buf, size_t len, uint64_t off);
    int (*sync)(void *ctx, int fd); /* fdatasync: data and the size needed to read it */
    int (*size)(void *ctx, int fd, uint64_t *out);
    int (*truncate)(void *ctx, int fd, uint64_t size);
    /* Map [0, len) of the file read-only and shared; len may exceed the file. */
    int (*mmap)(void *ctx, int fd, uint64_t len, void **out);
    int (*munmap)(void *ctx, void *addr, uint64_t len);
    /* Advisory whole-file lock: exclusive (writer) or shared (read-only),
     * never waiting; -EWOULDBLOCK when held elsewhere. */
    int (*lock)(void *ctx, int fd, int exclusive);
    /* Used by backup, restore and compact only. A table that leaves any of
     * these NULL gets the default's (so tables written before they existed
     * keep working). */
    int (*rename)(void *ctx, const char *from, const char *to); /* atomic replace */
    int (*unlink)(void *ctx, const char *path);
    /* Make the last rename or creation of an entry of path's directory
     * durable (fsync of the directory). */
    int (*sync_dir)(void *ctx, const char *path);
} burrow_os;

/* The POSIX implementation. Static storage; never NULL. */
const burrow_os *burrow_os_default(void);

/* ---- opening a database ----------------------------------------------- */

typedef struct burrow_db burrow_db;
typedef struct burrow_txn burrow_txn;
typedef struct burrow_cursor burrow_cursor;
typedef uint32_t burrow_bucket; /* handle of a named tree, valid until burrow_close */

/* Durability of a commit. */
enum burrow_sync_mode {
    /* Commit returns once the transaction is on stable storage. A crash of
     * the process or of the machine never loses an acknowledged commit and
     * never corrupts the file. A commit writing up to 16 pages (a few puts)
     * costs one fdatasync; a larger one costs two (pages, then meta), which
     * keeps opening the file independent of the size of the last commit. */
    BURROW_SYNC_FULL = 0,
    /* Data pages are synced before the meta page is written, but the meta
     * page itself is not synced (it reaches the disk with the next commit's
     * sync). A machine crash may lose the last commit; never corrupts. */
    BURROW_SYNC_NOMETA = 1,
    /* Nothing is synced; the OS writes back when it likes. A process crash
     * loses nothing committed; a machine crash (power loss, kernel panic) may
     * lose recent commits and may leave a file that fails burrow_check(). */
    BURROW_SYNC_NONE = 2,
    /* Commits are not synced; burrow_sync() makes every commit so far
     * durable. A process crash loses nothing committed; a machine crash
     * falls back to the state of the last burrow_sync() (or of the open),
     * never to a damaged file: each commit's meta goes to the meta slot the
     * last sync did not use, pages that state can see are not reused until
     * the next sync, and open checks the pages written since it. The file
     * grows by what is freed between syncs, so sync regularly (burrowd's
     * --durability everysec syncs once a second). */
    BURROW_SYNC_DEFERRED = 3,
};

/* Flags of burrow_options.flags */
#define BURROW_RDONLY 0x1u   /* open read-only (shared lock; no write txns) */
#define BURROW_NOCREATE 0x2u /* fail with -ENOENT instead of creating the file */

typedef struct burrow_options {
    uint32_t page_size;  /* at creation: power of two, 256..32768; 0 = 4096.
                            An existing file keeps its own page size (the
                            value must still be valid or 0). */
    int sync_mode;       /* enum burrow_sync_mode; default BURROW_SYNC_FULL */
    unsigned flags;      /* BURROW_RDONLY | BURROW_NOCREATE */
    int file_mode;       /* permissions of a new file; default 0644 */
    uint64_t map_reserve; /* bytes of address space reserved for the map; the
                            file may outgrow it (a new, larger map is made
                            without waiting for readers). 0 = 1 TiB. */
    const burrow_os *os; /* NULL = burrow_os_default() */
    size_t hot_memory;   /* bytes of RAM for the hot tier: a cache of
                            documents read by id (burrow_doc_get) in read
                            txns, never exceeded; 0 (the default) = off */
    int hot_policy;      /* enum burrow_tier_policy; 0 = BURROW_TIER_HYBRID */
    uint32_t hot_promote_min_misses; /* a read miss promotes a document on its
                            n-th miss; 0 or 1 (the default) = on every miss */
    uint64_t hot_demote_idle_ms; /* burrow_tier_step demotes documents unused
                            for longer; 0 (the default) = never */
} burrow_options;

/* Fill *opt with the defaults. */
void burrow_options_init(burrow_options *opt);

/* Open or create the database file at path. opt may be NULL (defaults).
 * On success *out is a handle the caller owns; release it with
 * burrow_close(). Errors: BURROW_ENOTDB, BURROW_EVERSION, BURROW_ECORRUPT,
 * BURROW_ELOCKED, BURROW_EINVAL, -errno. */
int burrow_open(const char *path, const burrow_options *opt, burrow_db **out);

/* Close the database. Every transaction and cursor must have ended first
 * (otherwise BURROW_EBUSY and nothing is closed). */
int burrow_close(burrow_db *db);

/* Make every commit so far durable (one fdatasync of the file): the
 * checkpoint of BURROW_SYNC_DEFERRED (see there); with the other modes it
 * only syncs. May run on any thread: the commits published before it
 * began are durable when it returns 0. */
int burrow_sync(burrow_db *db);

/* Largest key this database accepts (depends on the page size). */
size_t burrow_max_key_size(const burrow_db *db);
#define BURROW_MAX_VALUE_SIZE ((size_t)0xFFFFFFFFu) /* largest value: 4 GiB - 1 */

/* ---- transactions ----------------------------------------------------- */

#define BURROW_TXN_RDONLY 0x1u

/*
 * Begin a transaction.
 *  - Read-only (BURROW_TXN_RDONLY, parent NULL): sees the last committed
 *    state as of now; never blocks and is never blocked. Use it from one
 *    thread at a time; any thread may own one.
 *  - Write (flags 0, parent NULL): waits until no other write transaction is
 *    live. Do not begin a second one on a thread that already holds one.
 *  - Nested (parent = a write txn): a savepoint. Until it ends, the parent
 *    may not be used (BURROW_EBUSY). Committing it folds its changes into
 *    the parent; aborting it undoes only its own changes.
 * *out is owned by the caller until burrow_txn_commit/abort.
 */
int burrow_txn_begin(burrow_db *db, burrow_txn *parent, unsigned flags, burrow_txn **out);

/* Commit and free the txn (also on failure, after which nothing of it
 * is kept). For a read-only txn this is the same as abort. Cursors still
 * open on the txn become detached (see burrow_cursor_open). A write txn
 * must be committed or aborted on the thread that began it. */
int burrow_txn_commit(burrow_txn *txn);

/* Abort and free the txn and its live children; its open cursors become
 * detached. Never fails. */
void burrow_txn_abort(burrow_txn *txn);

/* The snapshot id a txn reads (write txns: the id it will commit as). */
uint64_t burrow_txn_id(const burrow_txn *txn);

/* The database a txn belongs to. */
burrow_db *burrow_txn_db(burrow_txn *txn);

/* ---- buckets ---------------------------------------------------------- */

#define BURROW_CREATE 0x1u /* bucket_open: create when missing */

/* Names are 1..255 bytes, NUL-terminated. The handle stays valid until
 * burrow_close and can be used in any txn; in a txn where the bucket does
 * not exist, operations return BURROW_ENOTFOUND. Creating needs a write txn;
 * the bucket exists once that txn commits. */
int burrow_bucket_open(burrow_txn *txn, const char *name, unsigned flags, burrow_bucket *out);

/* Delete the bucket and all its keys (write txn). */
int burrow_bucket_drop(burrow_txn *txn, burrow_bucket bucket);

/* Call fn(ctx, name) for each bucket in name order; a non-zero return from
 * fn stops the walk and is returned. name is valid during the call only. */
int burrow_bucket_list(burrow_txn *txn, int (*fn)(void *ctx, const char *name), void *ctx);

/* ---- keys and values -------------------------------------------------- */

typedef struct burrow_val {
    const void *data;
    size_t size;
} burrow_val;

/*
 * Look up key. On success *val points into the database: in a read txn it
 * stays valid until the txn ends; in a write txn until the next write in
 * that txn (or a child) or its end. Never write through it.
 */
int burrow_get(burrow_txn *txn, burrow_bucket b, const void *key, size_t klen, burrow_val *val);

#define BURROW_NOOVERWRITE 0x1u /* put: fail with BURROW_EEXIST if the key exists */

int burrow_put(burrow_txn *txn, burrow_bucket b, const void *key, size_t klen, const void *val,
               size_t vlen, unsigned flags);

/* Delete key; BURROW_ENOTFOUND when it is not there. */
int burrow_del(burrow_txn *txn, burrow_bucket b, const void *key, size_t klen);

/* ---- cursors ---------------------------------------------------------- */

/* A cursor belongs to its txn. It stays valid across writes in its txn:
 * after a write it repositions itself by key. key/val outputs follow
 * burrow_get's lifetime rules. When the txn ends the cursor is detached:
 * every call but burrow_cursor_close returns BURROW_EINVAL. The caller owns
 * the cursor and frees it with burrow_cursor_close, before or after the txn
 * ends. */
int burrow_cursor_open(burrow_txn *txn, burrow_bucket b, burrow_cursor **out);
void burrow_cursor_close(burrow_cursor *cur);

int burrow_cursor_first(burrow_cursor *cur, burrow_val *key, burrow_val *val);
int burrow_cursor_last(burrow_cursor *cur, burrow_val *key, burrow_val *val);
/* next/prev on an unpositioned cursor behave as first/last. */
int burrow_cursor_next(burrow_cursor *cur, burrow_val *key, burrow_val *val);
int burrow_cursor_prev(burrow_cursor *cur, burrow_val *key, burrow_val *val);

#define BURROW_SEEK_EXACT 0 /* position on key itself, else BURROW_ENOTFOUND */
#define BURROW_SEEK_GE 1    /* position on the first key >= key */

/* On BURROW_ENOTFOUND (no such key, or no key >= it) the cursor is left
 * unpositioned. */
int burrow_cursor_seek(burrow_cursor *cur, const void *key, size_t klen, int mode, burrow_val *k,
                       burrow_val *val);

/* ---- JSON and binary documents ----------------------------------------- */

/*
 * Documents are JSON values. The database stores them in a binary form
 * (docs/documents.md) that reads one field without decoding the rest;
 * callers that want speed can pass and take that form directly (the *_bin
 * functions and BURROW_OUT_BINARY), others use JSON text.
 */

/* JSON types, also the order of values across types in comparisons, sorts
 * and indexes: null < false < true < numbers < strings < arrays < objects. */
typedef enum burrow_type {
    BURROW_NULL = 0,
    BURROW_FALSE = 1,
    BURROW_TRUE = 2,
    BURROW_INT = 3,    /* an integer that fits int64, kept exact */
    BURROW_DOUBLE = 4, /* any other number */
    BURROW_STRING = 5,
    BURROW_ARRAY = 6,
    BURROW_OBJECT = 7,
} burrow_type;

/* Parse RFC 8259 JSON text into a binary document (replaces *doc's
 * contents). Errors: BURROW_EJSON ("line:column: what is wrong" in
 * burrow_errmsg()), BURROW_ENOMEM. Duplicate keys in an object are an
 * error. */
int burrow_json_parse(const char *json, size_t len, burrow_buf *doc);

#define BURROW_JSON_PRETTY 0x1u /* indent by two spaces, one member per line */

/* Write a binary document as JSON text (replaces *json's contents; the text
 * is NUL-terminated, the terminator not counted in size). Canonical compact
 * form unless BURROW_JSON_PRETTY. BURROW_ECORRUPT on a damaged document. */
int burrow_json_write(const void *doc, size_t len, unsigned flags, burrow_buf *json);

/* Check a binary document from outside (structure, UTF-8, limits):
 * 0, BURROW_ECORRUPT, or BURROW_EVERSION (a format version this build does
 * not read). Every function taking a binary document checks it. */
int burrow_doc_validate(const void *doc, size_t len);

/* The value at path (RedisJSON syntax: $, $.a.b, $['a b'], $[3], $[-1];
 * or MongoDB dotted a.b.3) in doc, as JSON text (replaces *json).
 * BURROW_ENOTFOUND when the path leads nowhere. */
int burrow_doc_path_json(const void *doc, size_t len, const char *path, unsigned flags,
                         burrow_buf *json);

/* ---- filters and updates ------------------------------------------------ */

/*
 * A filter is MongoDB-style JSON: {"age": {"$gte": 21}, "tags": "new"}.
 * Operators: $eq $ne $gt $gte $lt $lte $in $nin $exists $contains
 * $startsWith $endsWith $elemMatch, and $and $or $nor $not; dotted paths
 * reach into objects and arrays; a condition on an array field matches when
 * any element matches. docs/queries.md has the full rules.
 * A compiled filter is immutable: share it between threads freely.
 */
typedef struct burrow_filter burrow_filter;
int burrow_filter_compile(const char *json, size_t len, burrow_filter **out);
void burrow_filter_free(burrow_filter *f);
/* 1 when the binary document matches, 0 when not, or an error. */
int burrow_filter_match(const burrow_filter *f, const void *doc, size_t len);

/*
 * An update is MongoDB-style JSON of operators: $set $unset $inc $mul $min
 * $max $push $pull, e.g. {"$set": {"bid.amount": 120}, "$inc": {"bids": 1}}.
 * Compiled once, immutable, shareable.
 */
typedef struct burrow_update burrow_update;
int burrow_update_compile(const char *json, size_t len, burrow_update **out);
void burrow_update_free(burrow_update *u);

/* ---- collections --------------------------------------------------------- */

/*
 * A collection holds documents (JSON objects) by id. The id is the
 * document's "_id" field, a string of 1..BURROW_MAX_ID_SIZE bytes; a
 * document inserted without one gets a generated id: 128 bits, time
 * ordered, printed as 26 characters of Crockford base32 (like a ULID), and
 * stored in its "_id". Collection names are 1..BURROW_MAX_NAME_SIZE bytes
 * of UTF-8 without control characters.
 *
 * An optional schema (JSON, docs/queries.md) declares field types,
 * required, unique and indexed fields, and computed fields. A write that
 * breaks it fails with BURROW_ECONSTRAINT, a message naming the field and
 * the rule, and changes nothing.
 *
 * All functions take a txn: a write txn for changes, any txn for reads.
 * Errors common to all: BURROW_ENOTFOUND (no such collection, or document),
 * BURROW_EINVAL (bad argument), BURROW_EJSON (bad JSON text).
 */
#define BURROW_MAX_ID_SIZE 128
#define BURROW_MAX_NAME_SIZE 128

/* Create a collection; schema_json may be NULL. BURROW_EEXIST if it exists. */
int burrow_coll_create(burrow_txn *txn, const char *name, const char *schema_json);
/* Drop a collection, its documents and its indexes. */
int burrow_coll_drop(burrow_txn *txn, const char *name);
/* Call fn(ctx, name) for each collection in name order; a non-zero return
 * stops the walk and is returned. name is valid during the call only. */
int burrow_coll_list(burrow_txn *txn, int (*fn)(void *ctx, const char *name), void *ctx);
/* Replace the schema (NULL removes it). Every document must pass the new
 * schema (else BURROW_ECONSTRAINT naming the first that does not), and the
 * indexes its unique/indexed fields ask for are built. */
int burrow_coll_set_schema(burrow_txn *txn, const char *name, const char *schema_json);
/* The schema as JSON text (replaces *json; "null" when there is none). */
int burrow_coll_schema(burrow_txn *txn, const char *name, burrow_buf *json);

/* Output of the read functions. */
#define BURROW_OUT_JSON 0x0u   /* JSON text (NUL-terminated) */
#define BURROW_OUT_BINARY 0x2u /* a binary document */
#define BURROW_OUT_PRETTY 0x1u /* with JSON: BURROW_JSON_PRETTY */
#define BURROW_OUT_RAW 0x4u    /* without the collection's computed fields */

typedef struct burrow_output {
    unsigned flags;             /* BURROW_OUT_* */
    const char *const *fields;  /* projection: only these paths (and _id); NULL = all */
    size_t nfields;
} burrow_output;

/* Insert a document (JSON text of an object / a binary document). Its id is
 * written to *id when id is not NULL (replacing its contents, NUL-terminated).
 * BURROW_EEXIST when a document with that id exists; BURROW_ECONSTRAINT for
 * a schema rule or a unique index. */
int burrow_doc_insert(burrow_txn *txn, const char *coll, const char *json, size_t len,
                      burrow_buf *id);
int burrow_doc_insert_bin(burrow_txn *txn, const char *coll, const void *doc, size_t len,
                          burrow_buf *id);

/* Read the document with this id into *out (replaced), as out_opt says
 * (NULL: JSON with computed fields). BURROW_ENOTFOUND when there is none;
 * BURROW_EINVAL for output flags other than BURROW_OUT_*. */
int burrow_doc_get(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                   const burrow_output *out_opt, burrow_buf *out);

/* Replace the whole document; its "_id", if present, must equal id. */
int burrow_doc_replace(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                       const char *json, size_t len);
int burrow_doc_replace_bin(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                           const void *doc, size_t len);

#define BURROW_UPSERT 0x1u /* update: create {"_id": id} first when missing */

/* Apply update u to the document, if cond (may be NULL) matches it: the
 * check and the write are one atomic step of txn (the bid: {"$set":
 * {"price": 120}} if {"price": {"$lt": 120}}). Returns 1 when applied, 0
 * when the condition did not match (nothing changed), BURROW_ENOTFOUND when
 * there is no such document (and no BURROW_UPSERT), or an error (the
 * update's own: BURROW_ETYPE, BURROW_ERANGE, BURROW_ECONSTRAINT...). */
int burrow_doc_update(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                      const burrow_update *u, const burrow_filter *cond, unsigned flags);

/* Delete the document; BURROW_ENOTFOUND when there is none. */
int burrow_doc_delete(burrow_txn *txn, const char *coll, const char *id, size_t idlen);

/* Number of documents matching f (NULL: all, O(1)). */
int burrow_doc_count(burrow_txn *txn, const char *coll, const burrow_filter *f, uint64_t *out);

/* ---- time to live ---------------------------------------------------------- */

/*
 * A document may carry an expiry, in Unix milliseconds, stored durably with
 * it. From that instant on it is missing to every reader (get, find, count,
 * aggregate; update and replace see no document; an insert of its id
 * succeeds), also after reopening. Its space is reclaimed lazily: a write
 * txn that touches it by id deletes it, and burrow_ttl_sweep deletes
 * expired documents in expiry order. Replace and update keep the TTL;
 * delete removes it.
 */

/* Set document id's expiry (write txn); unix_ms = 0 clears it.
 * BURROW_ENOTFOUND when there is no (live) document. */
int burrow_doc_expire_at(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                         uint64_t unix_ms);
/* The same, ms_from_now after the current time. */
int burrow_doc_expire(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                      uint64_t ms_from_now);
/* *unix_ms = the document's expiry, 0 when it has none. BURROW_ENOTFOUND
 * when there is no (live) document. */
int burrow_doc_ttl(burrow_txn *txn, const char *coll, const char *id, size_t idlen,
                   uint64_t *unix_ms);
/* Delete up to max expired documents of every collection, earliest expiry
 * first, with their index entries (write txn). Returns how many (>= 0), or
 * an error. Each call costs O(max log n): call it again while it returns
 * max. With the hot tier on, it also drops up to max expired RAM copies
 * (at once, whether txn commits or not). */
int burrow_ttl_sweep(burrow_txn *txn, unsigned max);

/* ---- queries ------------------------------------------------------------- */

typedef struct burrow_sort {
    const char *path;
    int descending;
} burrow_sort;

typedef struct burrow_find_options {
    const burrow_filter *filter; /* NULL = every document */
    const burrow_sort *sort;     /* sort keys, most significant first; NULL = id order or index order */
    size_t nsort;
    uint64_t skip;
    uint64_t limit;              /* 0 = no limit */
    burrow_output output;
} burrow_find_options;

/*
 * Run a query. The planner uses the best index for the filter's equality,
 * range and prefix conditions and else scans the collection; every
 * document read is checked against the whole filter. With sort keys,
 * results come in that order (a missing value before every value, null
 * included; ties in id order); without, in the plan's order (id order for
 * a scan). skip and limit apply after filtering and sorting. Results come
 * one at a time from burrow_results_next; the query reads the txn's
 * snapshot, so it must be closed before the txn ends (after that, next
 * returns BURROW_EINVAL). opt may be NULL (every document, as JSON);
 * opt->filter must stay alive until burrow_results_close, the rest of *opt
 * is copied. Writes in txn while results are open are allowed; documents
 * they change may or may not be seen. The caller owns *out and frees it
 * with burrow_results_close.
 */
typedef struct burrow_results burrow_results;
int burrow_find(burrow_txn *txn, const char *coll, const burrow_find_options *opt,
                burrow_results **out);
/* The next result, shaped as opt->output says: *doc points into the
 * results object (JSON text is NUL-terminated, the NUL not counted), valid
 * until the next call or close. BURROW_ENOTFOUND at the end. */
int burrow_results_next(burrow_results *r, burrow_val *doc);
void burrow_results_close(burrow_results *r);

/* The plan the planner chooses for these options, as JSON text (replaces
 * *json): {"collection", "plan": "scan"|"id"|"index", "index": name|null,
 * "ranges": [...], "filter", "estimated_rows": n, "capped", "sort":
 * "none"|"index"|"memory", "reverse", "dedupe", "skip", "limit",
 * "candidates": [...]}; docs/queries.md describes each member. */
int burrow_explain(burrow_txn *txn, const char *coll, const burrow_find_options *opt,
                   burrow_buf *json);

/* ---- aggregation ----------------------------------------------------------- */

enum burrow_agg_op { BURROW_AGG_COUNT, BURROW_AGG_SUM, BURROW_AGG_AVG, BURROW_AGG_MIN, BURROW_AGG_MAX };

typedef struct burrow_agg {
    int op;           /* enum burrow_agg_op */
    const char *path; /* the field summed, averaged...; NULL for COUNT */
} burrow_agg;

/* Group the documents matching filter (NULL: all) by the values at the
 * group paths (none: one group) and compute aggs for each group. The result
 * is a JSON array (replaces *json), one object per group in group order:
 * {"_id": <group value, or array of values when several paths>,
 *  "count": n, "sum(price)": s, "avg(price)": a, "min(price)": m, ...}.
 * A missing group value groups as null; values that compare equal (1 and
 * 1.0) group together. sum and avg skip values that are not numbers (sum
 * is exact for integers, a double once a double or an overflow is met);
 * min and max use the order of values across types and skip missing
 * and null values (as MongoDB's $min and $max do); with nothing to use, sum is 0 and the others null. No matching
 * document: []. */
int burrow_aggregate(burrow_txn *txn, const char *coll, const burrow_filter *filter,
                     const char *const *group, size_t ngroup, const burrow_agg *aggs,
                     size_t naggs, burrow_buf *json);

/* ---- indexes ----------------------------------------------------------------- */

#define BURROW_INDEX_UNIQUE 0x1u

/*
 * Create an index on one field or several ("a", "a,b.c"), kept in the same
 * transaction as the documents. The index's name is the field list as
 * given, with the blanks around each field removed ("a, b" is "a,b"); a
 * schema field whose name has a comma or an outer blank cannot be indexed.
 * Creating it on a full collection builds it (and a unique index fails with BURROW_ECONSTRAINT if two documents collide).
 * BURROW_EEXIST if an index of that name exists.
 */
int burrow_index_create(burrow_txn *txn, const char *coll, const char *fields, unsigned flags);
int burrow_index_drop(burrow_txn *txn, const char *coll, const char *name);
/* fn(ctx, name, flags) for each index of the collection, in name order. */
int burrow_index_list(burrow_txn *txn, const char *coll,
                      int (*fn)(void *ctx, const char *name, unsigned flags), void *ctx);

/* ---- the hot tier --------------------------------------------------------- */

/* Counters of the hot tier (options.hot_memory); all zero when it is off. */
typedef struct burrow_tier_stats {
    uint64_t hits, misses;
    uint64_t promotions;    /* documents added */
    uint64_t demotions;     /* removed by rule or by hand */
    uint64_t evictions;     /* removed to stay within the budget */
    uint64_t invalidations; /* removed because a commit changed them */
    uint64_t entries;
    size_t bytes_used, budget;
    double hit_ratio;       /* hits / (hits + misses) */
} burrow_tier_stats;

int burrow_tier_stat(burrow_db *db, burrow_tier_stats *out);

/* Eviction policies (burrow_options.hot_policy, burrow_tier_set_policy).
 * HYBRID is 0 so that a zeroed burrow_options gets the default. */
enum burrow_tier_policy {
    BURROW_TIER_HYBRID = 0, /* expired, then least frequent, then least recent */
    BURROW_TIER_LRU = 1,    /* least recently used */
    BURROW_TIER_LFU = 2,    /* least frequently used (decaying), then least recent */
};

/*
 * Run-time control. Every function below returns BURROW_EINVAL ("hot tier
 * is off: open with hot_memory > 0") when the database was opened with
 * hot_memory 0, and BURROW_ENOTFOUND when the document (promote, pin) or
 * the cached copy (unpin, demote, key_stat) does not exist. Any thread may
 * call them; none blocks a reader or the writer for longer than one tier
 * operation.
 */

/* Takes effect at the next eviction; O(1). */
int burrow_tier_set_policy(burrow_db *db, int policy);
/* Shrinking below the bytes in use evicts in policy order. BURROW_EBUSY
 * (nothing changed) when the pinned documents alone need more. */
int burrow_tier_set_budget(burrow_db *db, size_t bytes);

/* Prewarm: read the document at the snapshot of txn (a read txn; a write
 * txn gets BURROW_EINVAL) and cache it, whatever the promotion threshold.
 * A cached copy is kept as it is. BURROW_EFULL when pinned documents leave
 * no room; BURROW_EBUSY when a commit newer than txn's snapshot changed the
 * document (begin a new read txn). */
int burrow_tier_promote(burrow_txn *txn, const char *coll, const char *id, size_t idlen);
/* Prewarm the documents with start_id <= id < end_id (NUL-terminated; NULL
 * = unbounded), in id order, at most max of them (0 = no limit). Returns
 * how many it cached or found cached (>= 0), or an error; skips documents
 * changed after txn's snapshot, and stops early, returning the count so
 * far, at the first that cannot fit for pinned documents. Others are
 * evicted to make room (the range's own first ones among them when it is
 * larger than the budget). */
int burrow_tier_promote_range(burrow_txn *txn, const char *coll, const char *start_id,
                              const char *end_id, size_t max);
/* Pin: promote (as burrow_tier_promote, so txn is a read txn) and keep
 * the document in RAM: never evicted, nor demoted for idleness; its bytes
 * count in the budget. A commit that changes or deletes it drops the cached
 * copy and the pin with it (the file is the truth). Pinning twice is one
 * pin. */
int burrow_tier_pin(burrow_txn *txn, const char *coll, const char *id, size_t idlen);
int burrow_tier_unpin(burrow_db *db, const char *coll, const char *id, size_t idlen);
/* Drop the cached copy (pinned or not); the next read is a miss and
 * returns the same document from the file. */
int burrow_tier_demote(burrow_db *db, const char *coll, const char *id, size_t idlen);

/* Statistics of one cached document (reading them is not an access). */
typedef struct burrow_tier_key_stats {
    uint64_t accesses;       /* hits since it was cached */
    uint64_t last_access_ms; /* last hit, or when cached: milliseconds of a
                                monotonic clock, comparable with each other */
    double frequency;        /* accesses per second, decaying with a half-life
                                of a minute */
    size_t bytes;            /* what it is charged in the budget */
    int pinned;              /* 1 when pinned */
} burrow_tier_key_stats;

int burrow_tier_key_stat(burrow_db *db, const char *coll, const char *id, size_t idlen,
                         burrow_tier_key_stats *out);

/* One bounded step of background work, for a server's timer: drops the
 * RAM copies of expired documents (earliest expiry first), then demotes
 * documents unused for longer than hot_demote_idle_ms, looking at no more
 * than max_work documents in all. Returns the number dropped (>= 0). */
int burrow_tier_step(burrow_db *db, size_t max_work);

/* ---- statistics, check, dump ------------------------------------------ */

typedef struct burrow_bucket_stats {
    uint64_t keys;
    uint32_t height; /* 0 for an empty bucket */
    uint64_t branch_pages;
    uint64_t leaf_pages;
    uint64_t overflow_pages;
} burrow_bucket_stats;

int burrow_bucket_stat(burrow_txn *txn, burrow_bucket b, burrow_bucket_stats *out);

/* Number of keys in bucket b as this txn sees it; O(1). */
int burrow_bucket_count(burrow_txn *txn, burrow_bucket b, uint64_t *keys);

typedef struct burrow_db_stats {
    uint32_t page_size;
    uint64_t file_size;       /* bytes on disk */
    uint64_t page_count;      /* pages in use up to the high-water mark */
    uint64_t last_txn;        /* id of the last committed transaction */
    uint64_t buckets;
    uint64_t free_pages;      /* reusable now */
    uint64_t pending_pages;   /* freed, waiting for older snapshots to end */
    uint64_t freelist_pages;  /* pages holding the persisted freelist */
    uint64_t meta_pages;      /* always 2 */
    uint64_t catalog_pages;   /* pages of the bucket catalog tree */
    uint64_t readers;         /* live read transactions */
    uint64_t oldest_reader_lag_txns; /* commits made since the oldest live snapshot
                                        was taken (0 if no reader) */
    uint64_t oldest_reader_age_ms;   /* how long the oldest live reader has run */
    uint64_t reader_pinned_pages;    /* freed pages kept from reuse by readers */
} burrow_db_stats;

int burrow_db_stat(burrow_db *db, burrow_db_stats *out);

/* Full integrity check of the last committed state: every page's checksum
 * and structure, key order, separators, counts, and that every page is
 * accounted for exactly once (in a tree, the freelist, or free). Returns 0
 * or BURROW_ECORRUPT with the first problem in burrow_errmsg(). */
int burrow_check(burrow_db *db);

/* Progress of long work (backup, restore, compact, check): done out of
 * total units (bytes for copies, pages for the check); total does not
 * change during one call. Called from the working thread, first with done
 * 0, last with done == total. Return 0 to go on; anything else stops the
 * work, which then returns BURROW_ECANCELED and leaves no file behind. */
typedef int (*burrow_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* What the full check found, by page (they add up to pages when the file is
 * sound: meta + tree + overflow + freelist + free + pending + leaked). */
typedef struct burrow_check_stats {
    uint64_t pages;          /* the snapshot's page count */
    uint64_t meta_pages;     /* 2 */
    uint64_t tree_pages;     /* branch and leaf pages of the catalog and every bucket */
    uint64_t overflow_pages; /* pages of overflow runs */
    uint64_t freelist_pages; /* pages of the saved freelist */
    uint64_t free_pages;     /* listed free */
    uint64_t pending_pages;  /* listed as freed, waiting for old snapshots */
    uint64_t leaked_pages;   /* used by nothing (each range is a problem) */
    uint64_t buckets;        /* bucket records found */
    uint64_t keys;           /* keys found in all buckets */
} burrow_check_stats;

typedef struct burrow_check_options {
    /* Called once per problem: pgno is the page at fault (for a problem of
     * the meta page, the meta page's slot, 0 or 1) and problem a sentence
     * that starts with it ("page 812: keys out of order at slot 3"), valid
     * during the call only. NULL: problems are only counted. */
    void (*report)(void *ctx, uint64_t pgno, const char *problem);
    burrow_progress_fn progress; /* NULL: none; units are pages */
    void *ctx;                   /* passed to both */
} burrow_check_options;

/* Full integrity check of the last committed state, reporting every
 * problem it finds, not only the first: each page's checksum, kind and
 * structure, key order in pages and against the parents' separators, child
 * txn ids, key counts and heights against the bucket records, overflow
 * runs, the freelist, and page ownership (no page used twice; a page used
 * by nothing is leaked). Every walk is bounded by the page count and never
 * enters a page twice, so no file content makes it crash or loop. opt and
 * stats may be NULL. Returns the number of problems (0: clean), or
 * BURROW_EINVAL, BURROW_ENOMEM, BURROW_ECANCELED. Any thread; writers go on
 * meanwhile (it reads a snapshot). */
int burrow_check_all(burrow_db *db, const burrow_check_options *opt, burrow_check_stats *stats);

/* ---- backup, restore, compact -------------------------------------------- */

#define BURROW_BACKUP_COMPACT 0x1u /* only live pages, renumbered in tree order, no freelist */

typedef struct burrow_backup_options {
    unsigned flags;              /* BURROW_BACKUP_COMPACT */
    burrow_txn *txn;             /* a read txn of db whose snapshot to copy (it stays
                                    the caller's); NULL: the last commit, in a read
                                    txn of the backup's own */
    burrow_progress_fn progress; /* NULL: none; units are bytes of the copy */
    void *progress_ctx;
} burrow_backup_options;

/* Receives the bytes of a backup in order, in pieces of any size up to
 * 1 MiB; buf is valid during the call only. Return 0, or a negative code
 * that stops the backup and is returned by it. */
typedef int (*burrow_write_fn)(void *ctx, const void *buf, size_t len);

/*
 * Hot backup: copy one snapshot while write txns go on. The copy is a
 * database file whose newest commit is that snapshot (both meta pages hold
 * it). Without BURROW_BACKUP_COMPACT it has the source's page numbers and
 * freelist, with pages that are free in the snapshot written as zeros; with
 * it, the live pages renumbered from 2 in tree order, no free pages, so it
 * is smaller after heavy deletes. The same snapshot and flags always give
 * the same bytes, whichever form writes them.
 *
 * burrow_backup writes to a temporary file in path's directory, syncs it,
 * renames it to path and syncs the directory: path holds either what it
 * held before or the whole backup, whatever happens. An existing database
 * at path that is open (by anyone, through burrow_open's lock) is refused
 * with BURROW_ELOCKED. burrow_backup_stream hands the bytes to write
 * instead, holding at most 1 MiB of them in memory.
 *
 * opt may be NULL. Returns 0, BURROW_EINVAL, BURROW_ECORRUPT (a page of the
 * snapshot is damaged: compacting reads and verifies every live page),
 * BURROW_ECANCELED, BURROW_ELOCKED, BURROW_ENOMEM, -errno, or write's code.
 * The snapshot's pages stay pinned (not reused by writers) until it returns.
 */
int burrow_backup(burrow_db *db, const char *path, const burrow_backup_options *opt);
int burrow_backup_stream(burrow_db *db, burrow_write_fn write, void *write_ctx,
                         const burrow_backup_options *opt);

/*
 * Replace the database file at path with the backup at backup_path: the
 * backup must open and pass burrow_check_all (else BURROW_ECORRUPT, or what
 * opening it returned, and path is untouched); its newest commit is then
 * written to a temporary file, synced, and renamed over path. Refused with
 * BURROW_ELOCKED while anyone has path open (burrow_open's lock, held by
 * restore until the rename). path need not exist. opt (may be NULL) gives
 * the OS layer and the new file's mode; progress counts the check and the
 * copy together.
 */
int burrow_restore(const char *backup_path, const char *path, const burrow_options *opt,
                   burrow_progress_fn progress, void *progress_ctx);

/*
 * Compact the database file at path in place: a compacting backup of its
 * last commit to a temporary file, then a rename over path, all while
 * holding the file's lock for writing (BURROW_ELOCKED if anyone has it
 * open). A crash leaves the old file or the compacted one, never a mix.
 */
int burrow_compact(const char *path, const burrow_options *opt, burrow_progress_fn progress,
                   void *progress_ctx);

/* Write a human-readable dump of bucket b's tree to out. */
int burrow_dump(burrow_txn *txn, burrow_bucket b, FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* BURROW_H */
