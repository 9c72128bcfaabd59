/*
 * filter.h — MongoDB-style query filters, compiled once, evaluated on
 * binary documents.
 *
 * A filter is a JSON object: {"age": {"$gt": 21}, "tags": "new"}. It is
 * compiled into a tree of filter_node (declared here so the query planner
 * can read it to choose indexes) owned by an opaque doc_filter. A compiled
 * filter is immutable: evaluation allocates nothing and any number of
 * threads may share one.
 *
 * ---------------------------------------------------------------------------
 * Syntax
 *
 *   filter   := { member, ... }            members are ANDed; {} matches all
 *   member   := "path": cond
 *             | "$and": [filter, ...]      non-empty
 *             | "$or":  [filter, ...]      non-empty
 *             | "$nor": [filter, ...]      non-empty: none matches
 *             | "$not": filter             (an extension: MongoDB has only
 *                                          the field-level $not)
 *   cond     := value                      not an object, or an object with
 *                                          no '$' keys: {"$eq": value}
 *             | { op: operand, ... }       every key an operator; ANDed
 *   op       := $eq $ne $gt $gte $lt $lte  operand: any value
 *             | $in $nin                   operand: an array
 *             | $exists                    operand: true or false
 *             | $contains                  operand: any value
 *             | $startsWith $endsWith      operand: a string
 *             | $not                       operand: an operator object
 *             | $elemMatch                 operand: a non-empty object, see
 *                                          "conditions on a value" below
 *
 * Paths are MongoDB dotted paths (doc_path_parse with DOC_PATH_DOTTED):
 * "bid.amount", "items.0.price". Keys starting with '$' are operators,
 * never field names. An object mixing '$' keys and plain keys as a cond is
 * an error.
 *
 * Conditions on a value (doc_filter_compile_value, and the operand of
 * $elemMatch) come in three forms, chosen by the keys of cond:
 *   - operators only ({"$gte": 6}, {"$not": {...}}, ...; not $and, $or,
 *     $nor): a test of the value itself;
 *   - fields and $and/$or/$nor only ({"price": {"$gt": 5}}): a filter on
 *     the value, which must be an object;
 *   - any other value (a scalar, an array, {}): equality, as {"$eq": cond}.
 *     $elemMatch refuses this form: it needs a non-empty object.
 *
 * ---------------------------------------------------------------------------
 * Semantics (MongoDB's)
 *
 * A path yields a list of items, each a value or MISSING:
 *   - a key step on an object yields the member, or MISSING when the object
 *     has no such key;
 *   - a key step on an array is taken in each element that is an object
 *     (MISSING for those without the key); other elements (scalars, nested
 *     arrays) yield nothing. So "a.b" yields nothing at all on {"a": []}
 *     or {"a": [1, 2]};
 *   - a digits step ("0", "12"; "07" is not one, it is a name) on an
 *     array yields the element at that index (MISSING when out of range),
 *     and also the member of that name of each element that is an object
 *     and has one; on an object it is a key;
 *   - any step on a scalar (null included) yields MISSING.
 *
 * A predicate on a path matches when any item matches:
 *   - a value item matches when the value itself matches or, for $eq $in
 *     $gt $gte $lt $lte $startsWith $endsWith, when the value is an array
 *     and one of its elements matches (one level: elements of nested arrays
 *     are not looked into). So {"tags": "x"} matches {"tags": ["x", "y"]},
 *     and {"a": [1, 2]} matches both {"a": [1, 2]} and {"a": [[1, 2], 3]};
 *   - a MISSING item matches $eq null, $in with null among its operands,
 *     and $gte null / $lte null; nothing else.
 * $ne, $nin and {"$exists": false} are the exact negations of $eq, $in and
 * {"$exists": true}: they match when no item matches the positive form, so
 * {"a": {"$ne": 5}} matches documents without "a", and {"a": {"$ne": 5}}
 * does not match {"a": [5, 6]}. $exists true: some item is a value.
 *
 * Equality is doc_equal: 1 equals 1.0, object key order does not matter.
 * $gt $gte $lt $lte compare with doc_compare only within a type class —
 * null; booleans (false < true); numbers (int or double, exactly); strings
 * (bytewise); arrays; objects — so {"age": {"$gt": 21}} never matches "30",
 * and {"$gt": null} never matches while {"$gte": null} is $eq null.
 *
 * $contains: a string value contains the string operand as a substring, or
 * an array value has an element equal to the operand. It does not apply the
 * element rule above: {"tags": {"$contains": "a"}} on ["abc"] does not
 * match (no element equals "a"), while {"tags.0": {"$contains": "a"}} does.
 * $startsWith / $endsWith: a string value with that prefix / suffix.
 *
 * $elemMatch: some item is an array with an element that satisfies the
 * condition, which is evaluated on the element as a value (operator form:
 * no element rule, so {"$elemMatch": {"$eq": 1}} does not match [[1]]) or
 * as a document (field form: the element must be an object).
 *
 * Field-level {"$not": cond} is NOT of the whole cond on that path, so it
 * matches documents where the path is missing. {"a": {"$gt": 1, "$lt": 5}}
 * is an AND of two predicates, each of which may be satisfied by a
 * different element of an array.
 *
 * ---------------------------------------------------------------------------
 * The compiled tree (what the planner reads)
 *
 *   FILTER_TRUE                  matches everything; no kids. Only as the
 *                                root of {} (or inside $and/$or/$nor).
 *   FILTER_AND/OR/NOR            kids[0..nkids): AND is flattened (no AND
 *                                under an AND) and AND/OR of one kid are
 *                                replaced by the kid; an AND of no kids
 *                                is FILTER_TRUE.
 *   FILTER_NOT                   kids[0], whose leaves carry the paths (a
 *                                field-level $not is NOT of the leaves).
 *   FILTER_EQ ... FILTER_ENDS_WITH  leaves: path, path_text, operand.
 *   FILTER_ELEM_MATCH            path, kids[0]: the condition on elements;
 *                                elem_value says which form (true: on the
 *                                element as a value, kids[0]'s leaves have no
 *                                path; false: a filter on the element).
 *
 * A leaf on a value (inside $elemMatch's operator form, and every leaf of a
 * doc_filter_compile_value operator condition) has path.nsteps == 0 and
 * path_text == NULL. Every pointer in a node (kids, path, path_text,
 * operand, in_set) is owned by the doc_filter and lives until
 * doc_filter_free.
 * ---------------------------------------------------------------------------
 */
#ifndef BURROW_DOC_FILTER_H
#define BURROW_DOC_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "doc/doc.h"

enum filter_op {
    FILTER_TRUE = 0,
    FILTER_AND,
    FILTER_OR,
    FILTER_NOR,
    FILTER_NOT,
    FILTER_EQ,
    FILTER_NE,
    FILTER_GT,
    FILTER_GTE,
    FILTER_LT,
    FILTER_LTE,
    FILTER_IN,
    FILTER_NIN,
    FILTER_EXISTS,
    FILTER_CONTAINS,
    FILTER_STARTS_WITH,
    FILTER_ENDS_WITH,
    FILTER_ELEM_MATCH,
};

typedef struct filter_node {
    enum filter_op op;
    /* Leaves and ELEM_MATCH: the parsed dotted path and its text as
     * written ("bid.amount"; not NUL-terminated). Empty (nsteps 0, text
     * NULL) for a leaf on a value and for logical nodes. */
    doc_path path;
    const char *path_text;
    size_t path_len;
    /* Leaves: the operand. IN/NIN: the array as written; EXISTS: true or
     * false; STARTS_WITH/ENDS_WITH: a string. */
    doc_val operand;
    /* AND/OR/NOR: the operands; NOT and ELEM_MATCH: one kid. */
    struct filter_node **kids;
    int nkids;
    /* ELEM_MATCH: kids[0] is a condition on each element as a value (true)
     * or a filter on each element as a document (false). */
    bool elem_value;
    /* IN/NIN: the operand's elements sorted by doc_compare (duplicates
     * kept), for bisection; in_has_null when one of them is null. */
    doc_val *in_set;
    uint32_t in_count;
    bool in_has_null;
} filter_node;

/* Opaque owner of a compiled filter: the tree, the parsed paths and a copy
 * of the filter document that every operand points into. */
typedef struct doc_filter doc_filter;

/* Compile filter JSON text. Errors: BURROW_EJSON ("line:column: why", from
 * json_parse), BURROW_EINVAL ("filter: ..." naming the operator and path,
 * or the path parser's "path '...': ..."), BURROW_ENOMEM. On success *out
 * is owned by the caller (doc_filter_free). */
int doc_filter_compile(const char *json, size_t len, doc_filter **out);

/* Compile a filter given as a value (an object) inside some document. The
 * value is copied and validated, so it need not outlive the filter;
 * BURROW_ECORRUPT when it is malformed. */
int doc_filter_compile_doc(doc_val filter_object, doc_filter **out);

/* Compile a condition on a value (the three forms in the header comment),
 * as $pull uses it. Copies cond. */
int doc_filter_compile_value(doc_val cond, doc_filter **out);

/* The root of the tree; valid until doc_filter_free. */
const filter_node *doc_filter_root(const doc_filter *f);

/* True for a filter from doc_filter_compile_value whose condition is in
 * operator or equality form (its leaves are on the value itself). */
bool doc_filter_is_value_cond(const doc_filter *f);

/* Evaluate f on the document whose root value is root. 1 match, 0 no
 * match, BURROW_ECORRUPT when the document is malformed where the filter
 * looked (a result may also come back for a malformed document: only the
 * parts the filter reads are checked). Thread-safe, allocation-free. */
int doc_filter_match(const doc_filter *f, doc_val root);

/* Evaluate a filter from doc_filter_compile_value on the value v: an
 * operator condition tests v itself (no element rule for arrays), a field
 * condition matches only when v is an object the filter matches. On a
 * filter from doc_filter_compile this is doc_filter_match. */
int doc_filter_match_value(const doc_filter *f, doc_val v);

void doc_filter_free(doc_filter *f);

/* Append the canonical compact JSON of the compiled filter to out, for
 * EXPLAIN and messages: explicit operators ({"a":{"$eq":1}}), predicates
 * on the same path grouped when that is unambiguous, $and arrays
 * otherwise; field-level $not written as a top-level {"$not": ...}.
 * Compiling the text again (with the same function the filter came from)
 * gives a filter with the same answers. 0, BURROW_ENOMEM, BURROW_ECORRUPT. */
int doc_filter_format(const doc_filter *f, buf *out);

/* "$eq", "$and", ... ("{}" for FILTER_TRUE); for EXPLAIN. */
const char *filter_op_name(enum filter_op op);

#endif
