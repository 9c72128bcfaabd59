/*
 * keyorder.h — the entries of an object taken in key order (private to doc/).
 *
 * doc_compare orders objects as their (key, value) pairs in key order, and
 * the index key encoding writes them in that order, so both walk objects
 * through this one view (implemented in compare.c). Key order is bytewise,
 * shorter first on a common prefix: the order of the sorted table in doc.h.
 *
 * Objects of DOC_SORTED_MIN keys or more carry their sorted table; smaller
 * ones are read once and sorted here, into 16 bytes per entry on the
 * caller's stack, so walking an object in key order never allocates.
 *
 * A damaged object (its header cannot be read, or an entry of a small object
 * cannot) is seen as empty; an entry that cannot be read while walking is
 * reported by doc_keyorder_at and callers treat it as ("", null). Either way
 * nothing outside the value is read.
 */
#ifndef BURROW_DOC_KEYORDER_H
#define BURROW_DOC_KEYORDER_H

#include <stddef.h>
#include <stdint.h>

#include "doc/doc.h"

/* An entry of a small object: where its key and value lie, as offsets
 * from the object's body (a document is at most DOC_MAX_SIZE, so they fit
 * 32 bits and an entry takes 16 bytes). */
typedef struct doc_keyed {
    uint32_t key_off, klen;
    uint32_t val_off, val_len;
} doc_keyed;

typedef struct doc_keyorder {
    doc_container c; /* the object, opened once; empty when damaged */
    uint32_t count;  /* entries; 0 for a damaged object */
    /* No stored table and fewer than DOC_SORTED_MIN entries: the entries,
     * read once and sorted by key, so walking them reads nothing again. */
    doc_keyed small[DOC_SORTED_MIN - 1];
} doc_keyorder;

/* Prepare the view of obj (which must be an object, by doc_type).
 * Borrows obj: valid as long as its bytes. Never fails: a damaged object is
 * seen as empty. */
void doc_keyorder_init(doc_keyorder *ko, doc_val obj);
/* The same for an object already opened (an empty c: seen as empty). */
void doc_keyorder_init_open(doc_keyorder *ko, const doc_container *c);

/* Entry j (0 <= j < count) in key order. 0 or BURROW_ECORRUPT. */
int doc_keyorder_at(const doc_keyorder *ko, uint32_t j, const char **key, size_t *klen,
                    doc_val *val);

/* Key order: bytewise, shorter first on a common prefix. <0, 0, >0. */
int doc_key_order(const char *a, size_t alen, const char *b, size_t blen);

#endif
