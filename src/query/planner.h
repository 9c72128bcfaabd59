/*
 * planner.h — query plans over a collection, and the executor that walks
 * them (planner.c plans, find.c executes; count, find and aggregate share
 * both).
 *
 * ---------------------------------------------------------------------------
 * A plan is a list of byte ranges [lo, hi) over one bucket, walked forward
 * or backward, that yields every document the filter can match (a
 * superset: the executor checks each document with the full filter):
 *
 *   PLAN_SCAN   the documents bucket, one range over all of it (id order).
 *   PLAN_ID     the documents bucket, whose keys are the id bytes: one range
 *               [id, id 0x00) per id of an _id $eq/$in, or one range from
 *               the _id $gt/$gte/$lt/$lte/$startsWith conditions.
 *   PLAN_INDEX  one index bucket (key layout in query.h): equality points
 *               on a prefix of the index's fields, then optionally one
 *               range on the next field, as byte ranges of doc_key_encode.
 *
 * Why an index yields a superset. index_keys reads a field with
 * doc_path_get, a filter reads it item by item (filter.h). They agree when
 * the path has one step (documents are objects). On a longer path of plain
 * key steps they agree unless a step crosses an array or a scalar, where
 * doc_path_get stops and the index holds DOC_KEY_MISSING while the filter
 * may still find values inside the array; so every range on such a field
 * also takes the MISSING entries. A path with a numeric step after the
 * first never uses an index (the filter also reads members named like the
 * index of every object element). An array value is indexed element by
 * element, as the filter's element rule reads it, so conditions whose
 * operand is an array (which could also equal the whole array) never use
 * an index. On a multikey index two range conditions on one field may be
 * met by different elements: only one of them bounds the range.
 *
 * Order. A walk yields entries in key order: the documents bucket in id
 * order, an index in (values, id, id length) order. Walking ranges in
 * reverse with each group of equal values read forward gives descending
 * values with ties still in id order, so a plan "streams" a sort when the
 * sort keys, less the fields pinned to one value, are the index's
 * remaining fields in order, in one direction, and the index is not
 * multikey; or when the first sort key is _id on a PLAN_SCAN or PLAN_ID.
 * Ties in every sort order are broken by the id followed by one byte of
 * its length (the index key order): for ids none of which is a prefix of
 * another this is plain bytewise id order.
 * ---------------------------------------------------------------------------
 */
#ifndef BURROW_QUERY_PLANNER_H
#define BURROW_QUERY_PLANNER_H

#include <stdbool.h>
#include <stdint.h>

#include "doc/filter.h"
#include "query/query.h"

#define PLAN_RANGES_MAX 1024   /* ranges of one plan; fewer fields are used past it */
#define PLAN_SORT_MAX 32       /* sort keys of one query */

enum plan_kind { PLAN_SCAN = 0, PLAN_ID = 1, PLAN_INDEX = 2 };

/* A sort key, parsed and copied from a burrow_sort. */
typedef struct plan_sort_key {
    doc_path path; /* DOC_PATH_DOTTED */
    char *text;    /* the path as written, NUL-terminated; owned */
    bool descending;
} plan_sort_key;

/* Parse n keys (n <= PLAN_SORT_MAX, each path non-NULL and a valid dotted
 * path). *out is owned by the caller (plan_sort_free); NULL when n is 0. */
int plan_sort_parse(const burrow_sort *sort, size_t n, plan_sort_key **out);
void plan_sort_free(plan_sort_key *keys, size_t n);

/* [lo, hi) in the plan's bytes; lo_len 0 = from the first key. */
typedef struct plan_range {
    size_t lo_off, lo_len;
    size_t hi_off, hi_len;
    bool hi_inf; /* no upper bound */
} plan_range;

/* A plan the planner weighed, for EXPLAIN. */
typedef struct plan_candidate {
    enum plan_kind kind;
    int index; /* PLAN_INDEX: into coll_meta.indexes; else -1 */
    uint64_t estimate;
    bool capped;
} plan_candidate;

typedef struct plan {
    enum plan_kind kind;
    int index;            /* PLAN_INDEX: into coll_meta.indexes; else -1 */
    burrow_bucket bucket; /* the bucket the ranges walk */
    plan_range *ranges;   /* in key order, disjoint */
    size_t nranges;
    buf bytes;         /* the ranges' bounds */
    uint64_t estimate; /* documents (index entries) expected */
    bool capped;       /* counting stopped (estimate = where) once this plan
                          could no longer cost less than the best */
    int eq_fields;     /* fields pinned by equality (PLAN_ID: 1 for ids) */
    bool unique_eq;    /* a unique index, every field pinned: <= 1 per range */
    bool dedupe;       /* an id may come more than once (multikey) */
    bool sort_streams; /* the walk's order is the requested sort */
    bool reverse;      /* walk backwards (a descending sort) */
    /* Filled when plan_build is asked to explain: */
    buf desc;              /* a binary document: the ranges in filter syntax */
    plan_candidate *cands; /* every plan weighed, the chosen one included */
    size_t ncands;
} plan;

/*
 * Choose the plan for filter f (NULL: every document) and sort keys (may be
 * none) on collection m as txn sees it. Bounded work: each candidate counts
 * index entries only while its cost (two reads per entry) stays below the
 * best candidate's, so planning never costs more than the query. explain:
 * also fill
 * desc and cands. *out is owned by the caller (plan_free). Errors come from
 * the store (BURROW_ECORRUPT...) or BURROW_ENOMEM.
 */
int plan_build(burrow_txn *txn, const coll_meta *m, const doc_filter *f, const plan_sort_key *sort,
               size_t nsort, bool explain, plan *out);
void plan_free(plan *p);

/* burrow_cursor_seek(BURROW_SEEK_GE) for any bound, also one longer than
 * the largest key (max_key), which the store refuses: seek its first
 * max_key bytes instead, past the one stored key that can lie between. */
int plan_seek(burrow_cursor *cur, size_t max_key, const void *key, size_t len, burrow_val *k,
              burrow_val *v);

/* "scan", "id", "index". */
const char *plan_kind_name(enum plan_kind k);

/* ---- find.c: the executor ------------------------------------------------- */

/*
 * Walks a plan's ranges and yields the documents that match the filter,
 * each once. It holds cursors on txn: when txn ends they detach and every
 * call returns BURROW_EINVAL. Writes in txn between calls are allowed (the
 * cursors find their place again by key); documents they add, change or
 * remove ahead of the walk may or may not be seen, and a changed document
 * may be seen twice.
 */
typedef struct plan_exec plan_exec;

/* p and f (may be NULL) are borrowed and must outlive the executor. */
int plan_exec_open(burrow_txn *txn, const coll_meta *m, const plan *p, const doc_filter *f,
                   plan_exec **out);
/* The next matching document: 0 with *root and the id (both valid until the
 * next call or the next write in txn), BURROW_ENOTFOUND at the end, or an
 * error (BURROW_EINVAL once txn has ended). */
int plan_exec_next(plan_exec *x, doc_val *root, const char **id, size_t *idlen);
/* The document with this id as txn sees it now: 0, BURROW_ENOTFOUND, or an
 * error (BURROW_EINVAL once txn has ended). Lifetime of *root as above. */
int plan_exec_fetch(plan_exec *x, const char *id, size_t idlen, doc_val *root);
/* BURROW_EINVAL when txn has ended, else 0. Costs one seek. */
int plan_exec_alive(plan_exec *x);
void plan_exec_close(plan_exec *x);

#endif
