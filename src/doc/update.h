/*
 * update.h — MongoDB-style update operators applied to binary documents.
 *
 * An update is compiled once (doc_update_compile) and then applied to any
 * number of documents (doc_update_apply), each time producing a new binary
 * document. Applying rebuilds only the containers on the paths the update
 * touches; every other value is copied verbatim, so the cost is the size of
 * the containers on those paths, not of the document's whole tree.
 *
 * ---------------------------------------------------------------------------
 * The update document: an object of operators, each mapping dotted paths
 * (MongoDB style, doc_path_parse with DOC_PATH_DOTTED) to operands:
 *
 *   {"$set":   {"a.b": v}}     set a.b to v, creating missing objects on the way
 *   {"$unset": {"x": ""}}      remove field x (the operand is ignored); on an
 *                              array element, set it to null (MongoDB)
 *   {"$inc":   {"n": 1}}       add; a missing field becomes the operand
 *   {"$mul":   {"p": 1.5}}     multiply; a missing field becomes 0 (int 0 for an
 *                              int operand, 0.0 for a double)
 *   {"$min":   {"lo": 3}}      set when the operand orders before the value
 *   {"$max":   {"hi": 9}}      set when the operand orders after the value
 *                              (doc_compare's order, across types too: null <
 *                              false < true < numbers < strings < arrays <
 *                              objects); a missing field becomes the operand
 *   {"$push":  {"arr": v}}     append v; a missing field becomes [v]
 *   {"$push":  {"arr": {"$each": [..], "$position": p, "$slice": s}}}
 *                              insert the $each elements before index p
 *                              (default: the end; p < 0 counts from the end,
 *                              clamped to the array), then keep the first s
 *                              (s >= 0) or the last -s (s < 0) elements
 *   {"$pull":  {"arr": cond}}  remove every element matching cond: a value
 *                              that is not an object removes the elements
 *                              doc_equal to it; an object of operators
 *                              ({"$gte": 6}, {"$in": [..]}) tests the element
 *                              itself; an object of fields (and $and/$or/
 *                              $nor) is a filter on object elements; {}
 *                              removes every object element (MongoDB). The
 *                              conditions are doc_filter_compile_value's
 *                              (filter.h).
 *
 * Paths. A numeric step ("a.2") is an index into an array and a key into an
 * object. Only canonical non-negative decimal steps (0, 7, 12; not 07 or -1)
 * index arrays; other steps into an array find nothing. A step is created as
 * an object key when the path is missing (so {"$set": {"a.0": 1}} on {}
 * gives {"a": {"0": 1}}, as in MongoDB).
 *
 * Rules, checked by compile (BURROW_EINVAL, with the reason in
 * burrow_errmsg()):
 *   - at least one operator; every top-level key is one of the eight
 *     operators ("update: unknown operator '$foo'"); a plain top-level key
 *     is refused ("update: replacement documents are not accepted here;
 *     use replace");
 *   - every operand is an object of paths (it may be empty: nothing to do);
 *   - $inc and $mul operands are numbers; $push modifiers are $each (an
 *     array), $position and $slice (ints);
 *   - no two operations touch the same path or a path and one of its
 *     prefixes ("update: paths 'a' and 'a.b' conflict");
 *   - nothing touches "_id" or below it ("update: '_id' cannot be changed");
 *   - no step starts with '$' (positional operators "a.$", "a.$[]" are not
 *     supported) and no path nests deeper than DOC_MAX_DEPTH.
 *
 * Errors while applying (the input is never modified; the builder's output
 * is then garbage to ignore):
 *   BURROW_ETYPE   a path that must be created steps into a scalar or an
 *                  array ("update: cannot create field 'b' in 'a' of type
 *                  int"); $inc/$mul on a non-number ("update: $inc needs a
 *                  number at 'n', found string"); $push/$pull on a
 *                  non-array; the document root is not an object
 *   BURROW_ERANGE  int64 overflow of $inc/$mul ("update: $inc overflows
 *                  int64 at 'n'"), a non-finite double result, or an array
 *                  index that would add more than DOC_UPDATE_MAX_PAD nulls
 *   BURROW_ECORRUPT the part of the document the update walks is damaged
 *   and whatever the builder reports (BURROW_ENOMEM, BURROW_EVALSIZE, and
 *   BURROW_EINVAL for nesting beyond DOC_MAX_DEPTH).
 *
 * Order and shape of the result: existing fields keep their positions; new
 * fields are appended at the end of their object in step order: names
 * that are array indexes (canonical decimal) first, by value, then the
 * others bytewise (as MongoDB 5.0+); operations on the same object or
 * array are applied in one pass over it. $unset of a missing field, $pull on a missing field and
 * either of them through a missing or scalar step are no-ops (MongoDB).
 * Setting an array index past the end pads with nulls.
 *
 * Where this differs from MongoDB, on purpose:
 *   - "_id" cannot be touched at all (MongoDB allows $set to the same value);
 *   - positional operators ($, $[], $[id]) and $push's $sort, $rename,
 *     $setOnInsert, $currentDate, $bit, $addToSet and $pop are not
 *     supported (compile says so);
 *   - padding past the end of an array is limited to DOC_UPDATE_MAX_PAD
 *     nulls (MongoDB: 1,500,000);
 *   - $position and $slice take ints only (not integral doubles).
 * ---------------------------------------------------------------------------
 */
#ifndef BURROW_DOC_UPDATE_H
#define BURROW_DOC_UPDATE_H

#include <stdbool.h>
#include <stddef.h>

#include "doc/doc.h"

/* Most nulls a $set past the end of an array may add. */
#define DOC_UPDATE_MAX_PAD 10000

/* A compiled update. Immutable once compiled: one may be shared by any
 * number of threads applying it at the same time. */
typedef struct doc_update doc_update;

/* Compile the JSON text [json, json+len) (parsed with json_parse). 0 and
 * *out (freed with doc_update_free), or BURROW_EJSON, BURROW_EINVAL,
 * BURROW_ENOMEM with the detail in burrow_errmsg(). */
int doc_update_compile(const char *json, size_t len, doc_update **out);

/* The same from a binary value (an object). The value is validated and
 * copied: the compiled update does not borrow it. BURROW_ECORRUPT when it
 * is damaged, else as doc_update_compile. */
int doc_update_compile_doc(doc_val update_object, doc_update **out);

/* NULL is a no-op. */
void doc_update_free(doc_update *u);

/*
 * Apply u to the document whose root is root (an object; the bytes are only
 * read) and write the result into b: this call begins b, and on success b
 * holds one complete document for doc_builder_finish or doc_builder_take.
 * *changed is set to whether the result differs from the input: a $set to
 * the bytes already there, a $max with a smaller operand, a $pull that
 * matches nothing, an $unset of a missing field leave it false so the caller
 * can skip the write. (A $set of 1.0 over 1 is a change: the type differs.)
 * 0 or an error listed above; on error *changed is meaningless.
 */
int doc_update_apply(const doc_update *u, doc_val root, doc_builder *b, bool *changed);

/* The number of paths the update touches, and path i's text as written
 * (NUL-terminated; *len, when len is not NULL, gets its length), for index
 * maintenance and checks. Paths are listed in the order they are applied:
 * sorted step by step in step order (above). The string lives as long as
 * u. */
int doc_update_npaths(const doc_update *u);
const char *doc_update_path(const doc_update *u, int i, size_t *len);

#endif
