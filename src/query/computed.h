/*
 * computed.h — computed fields: named expressions over a document's stored
 * fields, evaluated when a document is read (a collection schema's
 * "computed" member; the expression language is described at the top of
 * computed.c).
 *
 * A compiled set is immutable and owns everything it points at (it copies
 * the source value), so it can be shared between threads and outlives the
 * value it was compiled from.
 */
#ifndef BURROW_QUERY_COMPUTED_H
#define BURROW_QUERY_COMPUTED_H

#include "doc/doc.h"

typedef struct computed computed;

/* Expressions nest at most this deep ({"$sum": [{"$mul": [...]}]} is 2). */
#define COMPUTED_MAX_DEPTH 32

/* Compile an object of name -> expression. *out is owned by the caller
 * (computed_free). Errors: BURROW_EINVAL with "computed 'name': why" in
 * burrow_errmsg() (unknown operator, wrong operand count, bad path...),
 * BURROW_ECORRUPT when the value is damaged, BURROW_ENOMEM. */
int computed_compile(doc_val computed_object, computed **out);
void computed_free(computed *c);

/* The number of computed fields and the name of field i (0 <= i < count),
 * in the order they were declared. The name is NUL-terminated and owned by
 * c; valid until computed_free. */
int computed_count(const computed *c);
const char *computed_name(const computed *c, int i);

/*
 * Write into b (begun by this call) the object root with every computed
 * field appended after its stored members, in declaration order; a stored
 * member with the name of a computed field is left out. Finish b to get the
 * document. root should have passed doc_validate: stored members are copied
 * verbatim, not checked again. Operands read the stored document only. A value that cannot be
 * computed (a missing operand, division by zero, overflow past the double
 * range) is written as null: reading never fails because of a document's
 * contents. Errors: BURROW_ETYPE when root is not an object,
 * BURROW_ECORRUPT (damaged document), BURROW_EVALSIZE (a result past
 * DOC_MAX_SIZE), BURROW_ENOMEM.
 */
int computed_apply(const computed *c, doc_val root, doc_builder *b);

#endif
