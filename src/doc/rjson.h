/*
 * rjson.h — RedisJSON's path language and operations on binary documents.
 *
 * This is the doc/ half of burrowd's JSON.* commands: it knows binary
 * documents (doc.h) and nothing of keys, the server or RESP. The command
 * layer (server/cmd_json.c) decides which reply form a command takes; this
 * module finds values and builds changed documents.
 *
 * ---------------------------------------------------------------------------
 * Paths (RedisJSON 2.x grammar; spaces are allowed between tokens):
 *
 *   path     := "$" [first] element*            JSONPath: may match many values
 *             | legacy                          legacy: replies with one value
 *   legacy   := "."  |  "." rest  |  rest       read as "$", "$" + text, "$." + text
 *   first    := literal | "*"                   ("$a" is "$.a", as RedisJSON reads it)
 *   element  := "." literal                     member of an object
 *             | "." "*"                         every member / element
 *             | ".." (literal | "*" | bracket)  the same, at this value and every
 *                                               value below it (recursive descent)
 *             | "."? bracket
 *   bracket  := "[" ( "*"
 *                   | string ("," string)*      members by name: 'a b', "x\"y"
 *                   | number ("," number)*      elements; negative from the end
 *                   | [number] ":" [number] [":" [posnumber]]   slice [start:end:step]
 *                   | "?" filter ) "]"          refused: filters are not supported
 *   literal  := one or more of  A-Z a-z 0-9 - _ ` ~ + # % $ ^ / :  or bytes >= 0x80
 *   number   := "-"? (0 | [1-9][0-9]*)  within int64
 *   string   := '...' or "..." with \\ and an escaped quote of the same kind
 *
 * A literal after "." only ever names an object member ("$.0" is the key
 * "0"); brackets with numbers only index arrays. Slices are Python's:
 * negative bounds count from the end, both are clamped to the array, the
 * step is positive (default 1), the end is excluded.
 *
 * Matches come in RedisJSON's order: steps are applied left to right, each
 * to the values the previous one produced, in order; a union yields its
 * members in the order written (duplicates included); ".." takes a value
 * itself first, then each of its children in stored order, recursively
 * (pre-order).
 *
 * Every match carries its location: the positions (element numbers in
 * stored order, for objects too) of the steps from the root to it. The
 * operations take a set of matches as their targets.
 * ---------------------------------------------------------------------------
 */
#ifndef BURROW_DOC_RJSON_H
#define BURROW_DOC_RJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "doc/doc.h"

/* ---- paths --------------------------------------------------------------- */

typedef struct rjson_path rjson_path;

/* Parse the path text [s, s+n). 0 and *out (freed with rjson_path_free),
 * BURROW_EINVAL with "path '<text>': <what> at column <n>" in
 * burrow_errmsg() (columns in bytes, from 1, in the text as given), or
 * BURROW_ENOMEM. */
int rjson_path_parse(const char *s, size_t n, rjson_path **out);
void rjson_path_free(rjson_path *p); /* NULL is a no-op */

/* Legacy syntax (does not start with '$'). */
bool rjson_path_legacy(const rjson_path *p);
/* The path as RedisJSON rewrites it ("." -> "$", "a" -> "$.a", ".a" ->
 * "$.a"; a "$" path as given), NUL-terminated; RedisJSON's error messages
 * quote this form. Lives as long as p. */
const char *rjson_path_fixed(const rjson_path *p, size_t *len);
/* Number of steps ("$" and "." have none: they are the root). */
int rjson_path_nsteps(const rjson_path *p);
/* Every step is one member name or one index, with no "..": the path
 * names at most one value, and it can be created (JSON.SET). */
bool rjson_path_static(const rjson_path *p);
/* The last step of a static path (nsteps > 0): a member name (*key, *klen;
 * *is_index false) or an index (*index; *is_index true). */
void rjson_path_last(const rjson_path *p, const char **key, size_t *klen, int64_t *index,
                     bool *is_index);

/* ---- finding ------------------------------------------------------------- */

typedef struct rjson_match {
    doc_val val;    /* the value, inside the searched document */
    uint32_t loc;   /* its location: locs[loc .. loc + depth) of the set */
    uint32_t depth; /* steps from the root (0: the root itself) */
} rjson_match;

/* A list of matches. Zero it (or rjson_matches_init) before first use;
 * rjson_find appends. Owns its arrays until rjson_matches_free. */
typedef struct rjson_matches {
    rjson_match *v;
    size_t n, cap;
    uint32_t *locs; /* element positions, root first, for every match */
    size_t nlocs, locs_cap;
} rjson_matches;

void rjson_matches_init(rjson_matches *m);
void rjson_matches_clear(rjson_matches *m); /* forget the matches, keep the memory */
void rjson_matches_free(rjson_matches *m);

/* Append to out every value the first nsteps steps of p select from root
 * (nsteps < 0: all of them), in RedisJSON's order (above). The values point
 * into root's document. 0, BURROW_ENOMEM, BURROW_ECORRUPT (the part of the
 * document walked is damaged). */
int rjson_find(doc_val root, const rjson_path *p, int nsteps, rjson_matches *out);

/* ---- reading --------------------------------------------------------------- */

/* RedisJSON's name of v's type: "null", "boolean", "integer", "number",
 * "string", "array", "object". */
const char *rjson_type_name(doc_val v);

/* RedisJSON's equality (JSON.ARRINDEX): same type, where an int and a
 * double are different types (1 != 1.0); arrays element by element;
 * objects with the same members, in any order. */
bool rjson_equal(doc_val a, doc_val b);

/* JSON.ARRINDEX on the array arr: the first position in [start, stop) whose
 * element is rjson_equal to v, or -1. start and stop are normalised as
 * RedisJSON does: negative counts from the end (clamped at 0); start past
 * the end is the last element; stop 0 means the end, stop past the end is
 * the end. arr must be an array. */
int64_t rjson_arrindex(doc_val arr, doc_val v, int64_t start, int64_t stop);

/* ---- changing ---------------------------------------------------------------- */

enum rjson_op_kind {
    RJSON_SET,       /* replace the target with value */
    RJSON_ADDKEY,    /* target an object without member key: add key: value */
    RJSON_DEL,       /* remove the target from its container (not the root) */
    RJSON_NUMINCRBY, /* target a number: add value (a number) */
    RJSON_NUMMULTBY, /* target a number: multiply by value */
    RJSON_STRAPPEND, /* target a string: append value (a string) */
    RJSON_ARRAPPEND, /* target an array: append values */
    RJSON_ARRINSERT, /* target an array: insert values before index */
    RJSON_ARRPOP,    /* target an array: remove element index (RedisJSON clamps it) */
    RJSON_ARRTRIM,   /* target an array: keep [start, stop] */
    RJSON_CLEAR,     /* containers emptied, numbers to 0; other values kept */
    RJSON_TOGGLE,    /* target a boolean: negate it */
};

typedef struct rjson_op {
    enum rjson_op_kind kind;
    doc_val value;          /* SET, ADDKEY, NUMINCRBY, NUMMULTBY, STRAPPEND */
    const char *key;        /* ADDKEY */
    size_t klen;
    const doc_val *values;  /* ARRAPPEND, ARRINSERT */
    size_t nvalues;
    int64_t index;          /* ARRINSERT, ARRPOP */
    int64_t start, stop;    /* ARRTRIM */
} rjson_op;

/* What the operation did at one target. */
typedef struct rjson_result {
    bool applied;      /* the target was changed (ADDKEY: the key was added;
                          CLEAR: something was cleared; ARRPOP: an element
                          was popped); false for a target skipped because
                          it lies inside another target of a SET, DEL or
                          CLEAR (the outer one wins) */
    int64_t n;         /* STRAPPEND: new byte length; ARR*: new length;
                          TOGGLE: the new value (0/1); CLEAR: 1 or 0 */
    bool is_double;    /* NUM*: the new number: num_d when is_double, */
    int64_t num_i;     /* else num_i */
    double num_d;
    buf popped;        /* ARRPOP: the popped element as compact JSON
                          (empty when the array was empty); the caller
                          frees it (rjson_results_free) */
} rjson_result;

void rjson_results_free(rjson_result *res, size_t n);

/*
 * Apply op at the matches m->v[sel[i]] (i < nsel) of the document whose root
 * is root (only read) and write the new document into b (begun by this
 * call; on success b holds one complete document). res[i] (zeroed by this
 * call) tells what happened at target i. Every target must suit the
 * operation (the command layer filters by type first); a target of the
 * wrong type is BURROW_ETYPE. Targets may come in any order and may
 * repeat; a repeated target is changed once and its results copied.
 * Targets inside another target: SET, DEL and CLEAR change only the outer
 * one; the array operations change the inner ones first, then the outer
 * one (RedisJSON goes outside in, with the inner locations then read in the
 * changed array: the same result for ARRAPPEND, not always for the others).
 *
 * Errors (the input is unchanged; b holds garbage):
 *   BURROW_ERANGE  ARRINSERT index outside [-len, len] ("index out of
 *                  bounds"); a number result that is not finite ("result is
 *                  not a number")
 *   BURROW_ETYPE   a target of the wrong type
 *   BURROW_EINVAL  DEL of the root
 *   BURROW_ECORRUPT, BURROW_ENOMEM, BURROW_EVALSIZE, and nesting beyond
 *   DOC_MAX_DEPTH (BURROW_EINVAL) from the builder.
 * *changed (may be NULL) says whether any target was applied.
 */
int rjson_apply(doc_val root, const rjson_matches *m, const size_t *sel, size_t nsel,
                const rjson_op *op, doc_builder *b, rjson_result *res, bool *changed);

#endif
