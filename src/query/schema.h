/*
 * schema.h — collection schemas: field rules checked before every write,
 * the fields that want indexes, and the computed fields added on reads.
 *
 * The schema language is described at the top of schema.c. A compiled
 * schema is immutable and owns a copy of the value it was compiled from
 * (schema_doc), so it may be shared between threads, and storing that copy
 * and compiling it again gives the same schema.
 */
#ifndef BURROW_QUERY_SCHEMA_H
#define BURROW_QUERY_SCHEMA_H

#include <stdbool.h>

#include "doc/doc.h"
#include "query/computed.h"

typedef struct schema schema;

/* schema_field_flags */
#define SCHEMA_REQUIRED 0x1u
#define SCHEMA_UNIQUE 0x2u  /* a unique index; always with SCHEMA_INDEXED */
#define SCHEMA_INDEXED 0x4u /* an index ("indexed": true, or "unique": true) */

/* Compile a schema object (from json_parse, or a stored schema_doc). *out
 * is owned by the caller (schema_free). Errors: BURROW_EINVAL with
 * "schema: ..." or "computed '<name>': ..." in burrow_errmsg() for every
 * malformed schema, BURROW_ECORRUPT for a damaged value, BURROW_ENOMEM. */
int schema_compile(doc_val schema_object, schema **out);
void schema_free(schema *s);

/* Check the document root (before it is written) against every rule. 0, or
 * BURROW_ECONSTRAINT with the first rule broken, naming the field and the
 * rule ("field 'age': must be integer, found string"), or BURROW_ECORRUPT
 * for a damaged document. */
int schema_check(const schema *s, doc_val doc_root);

/* The declared fields in declaration order (0 <= i < schema_nfields). The
 * path is the dotted text as declared, NUL-terminated; the parsed path is
 * DOC_PATH_DOTTED. Both are owned by s, valid until schema_free. */
int schema_nfields(const schema *s);
const char *schema_field_path(const schema *s, int i);
const doc_path *schema_field_doc_path(const schema *s, int i);
unsigned schema_field_flags(const schema *s, int i);

/* "additionalFields" (true when absent). */
bool schema_additional_fields(const schema *s);

/* The computed fields, or NULL when there are none. Owned by s. */
const computed *schema_computed(const schema *s);

/* The binary document (version byte and value) the schema was compiled
 * from, byte for byte: store it, and compile doc_root of it to get the
 * schema back. Owned by s, valid until schema_free. */
const uint8_t *schema_doc(const schema *s, size_t *len);

/* Append the schema's JSON text (json_write of schema_doc) to out. */
int schema_to_json(const schema *s, unsigned json_flags, buf *out);

#endif
