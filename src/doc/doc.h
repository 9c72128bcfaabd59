/*
 * doc.h — binary documents: the format, reading, building, comparing.
 *
 * doc/ knows JSON and the binary document format; it knows nothing of files
 * or transactions (it includes only base/). JSON text is parsed once on the
 * way in (json_parse) into the binary format below, which is what the
 * database stores; reading one field touches only the containers on its
 * path.
 *
 * ---------------------------------------------------------------------------
 * Binary document format, version 1 (DOC_FORMAT_VERSION). Little-endian.
 *
 *   document := version:u8 (= 1) value            (nothing after the value)
 *   value    := tag:u8 payload
 *
 *   tag   type     payload
 *   0x00  null     -
 *   0x01  false    -
 *   0x02  true     -
 *   0x03  int      int8   (1 byte, two's complement)
 *   0x04  int      int16  (2 bytes)
 *   0x05  int      int32  (4 bytes)
 *   0x06  int      int64  (8 bytes)
 *   0x07  double   IEEE 754 binary64 (8 bytes); always finite. An integral
 *                  double (2.0) stays a double: it is written back as "2.0".
 *   0x08  string   varint byte length, then that many bytes of valid UTF-8
 *   0x09  array    container header, body
 *   0x0A  object   container header, body
 *
 * An int is stored in the smallest of the four widths that holds it. Every
 * other tag value is invalid.
 *
 *   container header := flags:u8  body_len:u32  count:u32     (9 bytes)
 *     flags bits 0-1: width w of the offsets: 0 = 1 byte, 1 = 2, 2 = 4
 *     flags bit 2:    (objects) a key-sorted table follows the offset table
 *     other bits:     zero
 *   body := element_0 ... element_{count-1}  offsets[count]  [sorted[count]]
 *     array element  := value
 *     object element := key_len:varint  key bytes (UTF-8)  value
 *     offsets[i] (w bytes each): where element i starts, from the start of
 *       the body; strictly increasing; offsets[0] = 0.
 *     Element i ends where element i+1 starts; the last one ends where the
 *     offset table starts: body_len - count * w * (sorted ? 2 : 1).
 *     sorted[j] (w bytes each): the index of the element with the j-th
 *       smallest key (bytewise, shorter first on a common prefix). Written
 *       for objects of DOC_SORTED_MIN or more keys; lookups then bisect.
 *   Object keys are unique (the JSON parser rejects duplicates; the builder
 *   reports them). Objects keep their keys in insertion order.
 *
 * An empty container has count 0 and body_len 0. A document is at most
 * DOC_MAX_SIZE bytes and nests at most DOC_MAX_DEPTH containers.
 *
 * Nothing read from a document is trusted: every accessor checks offsets and
 * lengths against the enclosing value and returns BURROW_ECORRUPT when they
 * are wrong. doc_validate() checks a whole document once (structure, UTF-8,
 * unique keys, finite doubles) so code that has validated can rely on it.
 * ---------------------------------------------------------------------------
 */
#ifndef BURROW_DOC_H
#define BURROW_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "burrow.h"

#define DOC_FORMAT_VERSION 1
#define DOC_MAX_SIZE ((size_t)1 << 30) /* 1 GiB: body_len must fit u32 with room */
#define DOC_MAX_DEPTH 512
#define DOC_SORTED_MIN 16
#define DOC_HEADER_SIZE 9 /* container header after the tag */

enum doc_tag {
    DOC_TAG_NULL = 0x00,
    DOC_TAG_FALSE = 0x01,
    DOC_TAG_TRUE = 0x02,
    DOC_TAG_INT8 = 0x03,
    DOC_TAG_INT16 = 0x04,
    DOC_TAG_INT32 = 0x05,
    DOC_TAG_INT64 = 0x06,
    DOC_TAG_DOUBLE = 0x07,
    DOC_TAG_STRING = 0x08,
    DOC_TAG_ARRAY = 0x09,
    DOC_TAG_OBJECT = 0x0A,
};

#define DOC_FLAG_WIDTH_MASK 0x03u
#define DOC_FLAG_SORTED 0x04u

/* The JSON type of a value. The order of this enum is the order of
 * doc_compare across types: null < false < true < numbers < strings <
 * arrays < objects. (The public burrow_type uses the same numbers.) */
enum doc_type {
    DOC_NULL = 0,
    DOC_FALSE = 1,
    DOC_TRUE = 2,
    DOC_INT = 3,    /* a number stored as int64 */
    DOC_DOUBLE = 4, /* a number stored as a double */
    DOC_STRING = 5,
    DOC_ARRAY = 6,
    DOC_OBJECT = 7,
    DOC_INVALID = 8, /* a malformed value (bad tag, truncated) */
};

/* A value inside a document: p points at its tag, len is the exact number
 * of bytes it occupies. Borrowed: valid as long as the bytes it points into. */
typedef struct doc_val {
    const uint8_t *p;
    size_t len;
} doc_val;

/* ---- reading (value.c) ------------------------------------------------ */

/* The root value of the document [data, data+len). Checks the version byte
 * and that the root value's size is exactly len - 1 (not the whole tree:
 * that is doc_validate). 0, BURROW_ECORRUPT, or BURROW_EVERSION. */
int doc_root(const void *data, size_t len, doc_val *out);

/* Check the whole document: structure, offsets, UTF-8 of strings and keys,
 * key uniqueness, finite doubles, depth. 0 or BURROW_ECORRUPT (detail in
 * burrow_errmsg()). */
int doc_validate(const void *data, size_t len);

/* Size of the value starting at p within [p, end): its tag and payload
 * (for containers, the header's body_len). 0 when it is malformed or does
 * not fit. Does not look inside containers. */
size_t doc_value_size(const uint8_t *p, const uint8_t *end);

/* RFC 3629 UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
bool doc_utf8_valid(const void *s, size_t n);

enum doc_type doc_type(doc_val v);
static inline bool doc_is_number(doc_val v)
{
    enum doc_type t = doc_type(v);
    return t == DOC_INT || t == DOC_DOUBLE;
}

/* Scalars. Each returns 0, or BURROW_ETYPE when v is of another type. */
int doc_get_bool(doc_val v, bool *out);
int doc_get_int(doc_val v, int64_t *out);    /* DOC_INT only */
int doc_get_double(doc_val v, double *out);  /* DOC_INT (converted) or DOC_DOUBLE */
/* *s points into the document; not NUL-terminated. */
int doc_get_string(doc_val v, const char **s, size_t *n);

/*
 * A container cursor: an array or object opened once (its header checked,
 * its tables located), then element i read in O(1) without reading the
 * header again. Every offset and length of the element is still checked
 * against the container, so a damaged one yields BURROW_ECORRUPT, never a
 * read outside it. The fields are for doc/ itself; read them only through
 * the functions below. Borrowed: valid as long as the bytes of the value it
 * was opened on.
 */
typedef struct doc_container {
    const uint8_t *body;    /* the elements start here */
    const uint8_t *offsets; /* the offset table, at body + table */
    const uint8_t *sorted;  /* an object's key-sorted table, or NULL */
    uint32_t count;         /* elements */
    uint32_t table;         /* body offset of the offset table: where the last element ends */
    uint8_t width;          /* bytes per table entry: 1, 2 or 4 */
    uint8_t tag;            /* DOC_TAG_ARRAY or DOC_TAG_OBJECT */
} doc_container;

/* Open the array or object v. 0, BURROW_ETYPE (v is not a container) or
 * BURROW_ECORRUPT (its header is wrong); on error *c is an empty container
 * (count 0) that may still be passed to the functions below. */
int doc_container_open(doc_val v, doc_container *c);
/* Element i (i < c->count) in stored order: for objects its key (into the
 * document, not NUL-terminated), for arrays *key = NULL and *klen = 0; key
 * and klen may be NULL when not wanted. 0, BURROW_ENOTFOUND when i is out
 * of range, BURROW_ECORRUPT. */
int doc_container_elem(const doc_container *c, uint32_t i, const char **key, size_t *klen,
                       doc_val *val);
/* The object's member named key (bisecting the sorted table when there is
 * one). 0, BURROW_ENOTFOUND, BURROW_ETYPE (an array), BURROW_ECORRUPT. */
int doc_container_find(const doc_container *c, const char *key, size_t klen, doc_val *val);
/* For an object with a sorted table (c->sorted), the index of the element
 * with the j-th smallest key (j < c->count). 0, BURROW_ENOTFOUND (j out of
 * range, or no sorted table), BURROW_ECORRUPT (the entry is out of range). */
int doc_container_sorted_at(const doc_container *c, uint32_t j, uint32_t *index);

/* Containers. count: number of elements (0 for scalars). */
uint32_t doc_count(doc_val v);
/* Element i of an array (0 <= i < count). BURROW_ENOTFOUND when out of
 * range, BURROW_ETYPE when v is not an array, BURROW_ECORRUPT. */
int doc_array_at(doc_val v, uint32_t i, doc_val *out);
/* Entry i of an object, in insertion order. */
int doc_object_at(doc_val v, uint32_t i, const char **key, size_t *klen, doc_val *out);
/* Member named key. BURROW_ENOTFOUND, BURROW_ETYPE, BURROW_ECORRUPT. */
int doc_object_get(doc_val v, const char *key, size_t klen, doc_val *out);

/* Iteration over an array or object in stored order. For arrays *key is
 * NULL. Returns 1 with the next element, 0 at the end, BURROW_ECORRUPT.
 * A scalar, or a container whose header is damaged, iterates as empty (as
 * doc_count sees it). The container is opened once, by doc_iter_init. */
typedef struct doc_iter {
    doc_container c;
    uint32_t i;
} doc_iter;
void doc_iter_init(doc_iter *it, doc_val container);
int doc_iter_next(doc_iter *it, const char **key, size_t *klen, doc_val *val);

/* ---- building (build.c) ------------------------------------------------ */

/*
 * A builder writes one document front to back. Calls form a well-nested
 * sequence: doc_builder_begin, then exactly one value, where a value is a
 * scalar call, doc_builder_copy, or begin_array/begin_object ... end; inside
 * an object every value is preceded by doc_builder_key. Errors are sticky:
 * after the first failure every call returns it and doc_builder_finish
 * reports it. Strings and keys must be valid UTF-8 (the caller checks).
 *
 * States: EMPTY --begin--> OPEN --(one complete root value)--> DONE
 *         --finish--> (result in out); reset returns to EMPTY from any state.
 */
typedef struct doc_frame {
    size_t start;      /* offset of the container's tag in out */
    size_t first_elem; /* index in elems of the container's first element */
    uint8_t tag;
    bool want_value;   /* object: a key was written, its value is due */
    bool unique;       /* object: the caller vouches its keys are unique */
} doc_frame;

struct doc_sortkey; /* build.c: a key decoded for sorting */

typedef struct doc_builder {
    buf out;             /* the document being written */
    uint32_t *elems;     /* start offsets of the open containers' elements */
    size_t nelems, elems_cap;
    doc_frame *stack;
    int depth, stack_cap;
    int max_depth;       /* default DOC_MAX_DEPTH */
    size_t max_size;     /* default DOC_MAX_SIZE */
    int err;             /* first error, sticky */
    bool done;
    struct doc_sortkey *keys; /* scratch for ordering an object's keys, reused */
    size_t keys_cap;
} doc_builder;

void doc_builder_init(doc_builder *b);
void doc_builder_free(doc_builder *b);
/* Start a new document (drops whatever was being built). */
int doc_builder_begin(doc_builder *b);
int doc_builder_null(doc_builder *b);
int doc_builder_bool(doc_builder *b, bool v);
int doc_builder_int(doc_builder *b, int64_t v);
/* BURROW_ERANGE when v is not finite. */
int doc_builder_double(doc_builder *b, double v);
int doc_builder_string(doc_builder *b, const char *s, size_t n);
int doc_builder_key(doc_builder *b, const char *k, size_t n);
int doc_builder_begin_array(doc_builder *b);
int doc_builder_begin_object(doc_builder *b);
/* An object whose keys the caller guarantees are unique because it made
 * them itself (never keys that came from outside: text, a request, a
 * stored document): doc_builder_end skips the duplicate check of objects
 * below DOC_SORTED_MIN keys. (Bigger ones are sorted anyway, which finds
 * duplicates for free, so they are still reported.) */
int doc_builder_begin_object_unique(doc_builder *b);
/* Close the innermost container: writes the offset table (and the sorted
 * table). BURROW_EEXIST when an object has a duplicate key (detail names
 * it). Depth (BURROW_EINVAL) and size (BURROW_EVALSIZE) limits are
 * reported by the call that would break them. */
int doc_builder_end(doc_builder *b);
/*
 * doc_builder_end for an object whose key order the caller already knows,
 * in part: order[j] (j < n) is the element with the j-th smallest key among
 * its first n elements; the elements written after those n are in no
 * particular order. Typically the order comes from the sorted table of the
 * object this one is rebuilt from. The claim is checked, not trusted: in
 * n - 1 key comparisons (keys strictly increasing along order, every entry
 * below n, which makes it a permutation with unique keys); the rest are
 * sorted and merged in. That spares the sort of big objects and the
 * pairwise duplicate check of small ones. An order that does not check out
 * is ignored and the object is closed as by doc_builder_end; either way
 * the bytes and errors are doc_builder_end's. For an array, order is
 * ignored. order may be NULL when n is 0. order is only read during the
 * call.
 */
int doc_builder_end_sorted(doc_builder *b, const uint32_t *order, uint32_t n);
/* Append an existing (validated) value verbatim, as one element. */
int doc_builder_copy(doc_builder *b, doc_val v);
/* An object entry copied from another object: doc_builder_key(k, n) then
 * doc_builder_copy(v), in one call (same bytes, same errors). */
int doc_builder_copy_entry(doc_builder *b, const char *k, size_t n, doc_val v);
/* The finished document: *data and *len point into b->out (valid until the
 * builder's next begin/reset/free). Returns the sticky error, or EINVAL if
 * the document is incomplete. */
int doc_builder_finish(doc_builder *b, const uint8_t **data, size_t *len);
/* Hand the finished document's buffer to the caller (who frees it with
 * buf_free); the builder keeps its scratch and can begin again. */
int doc_builder_take(doc_builder *b, buf *out);

/* ---- comparing and hashing (compare.c) ---------------------------------- */

/* Total order over values: by type class (null < false < true < numbers <
 * strings < arrays < objects); numbers by value whatever their int/double
 * form (exact, also beyond 2^53); strings bytewise; arrays element by
 * element, shorter first; objects by their (key, value) pairs taken in key
 * order, as arrays of pairs. Malformed values order as null. */
int doc_compare(doc_val a, doc_val b);
static inline bool doc_equal(doc_val a, doc_val b) { return doc_compare(a, b) == 0; }
/* Consistent with doc_equal: 1 and 1.0 hash alike; key order of objects
 * does not matter. */
uint64_t doc_hash(doc_val v, uint64_t seed);

/* Order-preserving encoding for index keys: memcmp of two encodings orders
 * like doc_compare of the values, and no encoding is a prefix of another.
 * Appends to out. 0 or BURROW_ENOMEM.
 *   0x08 missing (a field that is not there; sorts below null)
 *   0x10 null, 0x20 false, 0x30 true
 *   0x40 number: 8 bytes of the value as a double, big-endian with the
 *        sign bit flipped (negatives: all bits flipped), then 2 bytes
 *        big-endian of (exact value - that double) + 0x8000, non-zero only
 *        for int64s a double cannot hold exactly
 *   0x50 string: bytes with 0x00 written as 0x00 0xFF, then 0x00 0x01
 *   0x60 array: the elements' encodings, then 0x00
 *   0x70 object: per key in key order: the key as a string encoding
 *        (without its 0x50), the value's encoding; then 0x00 0x00 (a key
 *        starts with 0x00 only as 0x00 0x01 or 0x00 0xFF, so a lone 0x00
 *        would be ambiguous: {} followed by bytes vs {"": ...})
 */
#define DOC_KEY_MISSING 0x08
int doc_key_encode(doc_val v, buf *out);
int doc_key_encode_missing(buf *out);
/* Length of the encoding starting at p within [p, end); 0 if malformed. */
size_t doc_key_size(const uint8_t *p, const uint8_t *end);

/* ---- paths (path.c) ----------------------------------------------------- */

/*
 * A parsed path. Two spellings parse to the same steps:
 *   JSONPath subset (RedisJSON): $  $.a  $.a.b  $['a b']  $["a"]  $[3]
 *       $[-1]  and the legacy forms  .a  a.b  (no leading $)
 *   dotted (MongoDB filters):    a.b.0   (a numeric step matches an array
 *       index or an object key spelled with those digits)
 * The empty path and "$" denote the root.
 */
enum doc_step_kind {
    DOC_STEP_KEY = 0,   /* .name or ['name'] */
    DOC_STEP_INDEX = 1, /* [n], n may be negative (from the end) */
    DOC_STEP_DIGITS = 2 /* dotted numeric: key "12" of an object, index 12 of an array */
};
typedef struct doc_step {
    enum doc_step_kind kind;
    const char *name; /* KEY and DIGITS: the name (into the path's storage) */
    size_t len;
    int64_t index;    /* INDEX and DIGITS */
} doc_step;
typedef struct doc_path {
    doc_step *steps;
    int nsteps;
    char *storage;    /* owns names (unescaped) */
} doc_path;

#define DOC_PATH_JSONPATH 0 /* $-style or legacy dotted (RedisJSON) */
#define DOC_PATH_DOTTED 1   /* MongoDB dotted */
/* 0, or BURROW_EINVAL with "path 'x': what is wrong at column n". */
int doc_path_parse(const char *s, size_t len, int syntax, doc_path *out);
void doc_path_free(doc_path *p);
/* Follow the path from v. 0, BURROW_ENOTFOUND (no such member or index,
 * or a step into a scalar), BURROW_ECORRUPT. */
int doc_path_get(doc_val v, const doc_path *p, doc_val *out);
/* Write the path back in JSONPath form ($.a[3]['b c']), for messages. */
int doc_path_format(const doc_path *p, buf *out);

/* ---- JSON text (json_parse.c, json_write.c) ------------------------------ */

typedef struct json_parse_options {
    int max_depth;   /* 0 = DOC_MAX_DEPTH */
    size_t max_size; /* input bytes; 0 = DOC_MAX_SIZE */
} json_parse_options;

/*
 * Parse RFC 8259 JSON text (one value, optional surrounding whitespace) into
 * a binary document written by b (begun by this call); the result is
 * doc_builder_finish's. opt may be NULL. Errors: BURROW_EJSON with
 * "line:column: what is wrong" in burrow_errmsg() (lines and columns from 1,
 * columns counted in bytes), BURROW_ENOMEM. Duplicate keys in one object are
 * an error. Integers that fit int64 stay exact; other numbers become
 * doubles; a number whose magnitude is beyond the double range is an error.
 */
int json_parse(const char *text, size_t len, const json_parse_options *opt, doc_builder *b);

/* Writing. flags: JSON_PRETTY (indent 2, newline, ": "); otherwise the
 * canonical compact form: no whitespace, keys in stored order, strings
 * escaped minimally (", \, control characters as \n \t ... or \u00XX;
 * everything else as UTF-8), ints in decimal, doubles in the shortest form
 * that reads back to the same double, with ".0" or an exponent so they read
 * back as doubles: plain when the decimal exponent E of the first digit is
 * in [-5, 17) ("2.0", "0.00001", "12345678901234568.0"), else d[.ddd]e±E
 * ("1e+17", "1.5e-7", "5e-324"); zero is "0.0" or "-0.0". A format (or
 * JSON_PRETTY) starts each element of a non-empty container on newline +
 * indent x depth and its closing bracket on newline + indent x (depth - 1);
 * [] and {} stay empty (RedisJSON's INDENT/NEWLINE/SPACE shape). */
#define JSON_PRETTY 0x1u
typedef struct json_format {
    const char *indent;  /* per level; NULL = "" (or "  " with JSON_PRETTY) */
    const char *newline; /* NULL = "" (or "\n") */
    const char *space;   /* after ':'; NULL = "" (or " ") */
} json_format;
/* Appends the JSON text of v to out. fmt may be NULL. 0, BURROW_ENOMEM,
 * BURROW_ECORRUPT (damaged value, non-finite double, nesting past
 * DOC_MAX_DEPTH); on error out is left as it was. */
int json_write(doc_val v, unsigned flags, const json_format *fmt, buf *out);
/* The shortest decimal text that reads back as d (finite), e.g. "0.1",
 * "1e+300", "2.0". Writes at most 32 bytes to dst, returns the length. */
size_t json_format_double(double d, char *dst);

#endif
