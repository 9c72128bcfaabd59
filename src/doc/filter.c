/*
 * filter.c — compiling MongoDB-style filters and evaluating them on binary
 * documents (syntax, semantics and the compiled tree in filter.h).
 *
 * Compiling: the filter document is copied into the doc_filter's own
 * storage (and validated when it came from outside), then walked once to
 * build the node tree. Operands are doc_vals into that copy, so the filter
 * outlives whatever it was compiled from, and each predicate's path is
 * parsed here rather than at every evaluation.
 *
 * Evaluating: a recursive walk of the tree. A predicate walks its path
 * through the document with value.c's checked cursor (each container on
 * the way opened once), testing every item the path yields as soon as it
 * is found and stopping at the first match, so nothing is collected and
 * nothing is allocated. The recursion is bounded by the filter (its
 * nesting came from a validated document of at most DOC_MAX_DEPTH levels,
 * and a path has a fixed number of steps), never by the document being
 * matched.
 *
 * Invariants of a compiled tree: AND has no AND kid and at least two kids;
 * OR has at least two; NOR at least one; NOT and ELEM_MATCH exactly one;
 * leaves in document mode have a path, leaves on a value have none.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "doc/doc.h"
#include "doc/filter.h"

/* What the root is a condition on. */
enum filter_kind {
    KIND_DOC,          /* doc_filter_compile(_doc): a filter on a document */
    KIND_VALUE_OPS,    /* compile_value, operator or equality form */
    KIND_VALUE_FIELDS, /* compile_value, field form: the value must be an object */
};

struct doc_filter {
    filter_node *root;
    buf storage; /* version byte + the filter value; operands point here */
    enum filter_kind kind;
};

static const struct {
    const char *name;
    enum filter_op op;
} value_ops[] = {
    {"$eq", FILTER_EQ},
    {"$ne", FILTER_NE},
    {"$gt", FILTER_GT},
    {"$gte", FILTER_GTE},
    {"$lt", FILTER_LT},
    {"$lte", FILTER_LTE},
    {"$in", FILTER_IN},
    {"$nin", FILTER_NIN},
    {"$exists", FILTER_EXISTS},
    {"$contains", FILTER_CONTAINS},
    {"$startsWith", FILTER_STARTS_WITH},
    {"$endsWith", FILTER_ENDS_WITH},
    {"$not", FILTER_NOT},
    {"$elemMatch", FILTER_ELEM_MATCH},
};

const char *filter_op_name(enum filter_op op)
{
    switch (op) {
    case FILTER_TRUE: return "{}";
    case FILTER_AND: return "$and";
    case FILTER_OR: return "$or";
    case FILTER_NOR: return "$nor";
    default: break;
    }
    for (size_t i = 0; i < sizeof value_ops / sizeof *value_ops; i++)
        if (value_ops[i].op == op)
            return value_ops[i].name;
    return "?";
}

static bool key_is(const char *k, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(k, lit, n) == 0;
}

/* $and, $or, $nor: the keys that make an object a filter even though they
 * start with '$'. */
static enum filter_op logical_op(const char *k, size_t n)
{
    if (key_is(k, n, "$and"))
        return FILTER_AND;
    if (key_is(k, n, "$or"))
        return FILTER_OR;
    if (key_is(k, n, "$nor"))
        return FILTER_NOR;
    return FILTER_TRUE;
}

/* ---- nodes ---------------------------------------------------------------- */

static filter_node *node_new(enum filter_op op)
{
    filter_node *n = calloc(1, sizeof *n);
    if (n)
        n->op = op;
    return n;
}

static void node_free(filter_node *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    doc_path_free(&n->path);
    free(n->in_set);
    free(n);
}

/* A node with kids taken from v (which is consumed either way). */
typedef struct kidvec {
    filter_node **v;
    int n, cap;
} kidvec;

static void kidvec_free(kidvec *kv)
{
    for (int i = 0; i < kv->n; i++)
        node_free(kv->v[i]);
    free(kv->v);
    kv->v = NULL;
    kv->n = kv->cap = 0;
}

/* Append n; on failure n is freed. */
static int kidvec_push(kidvec *kv, filter_node *n)
{
    if (kv->n == kv->cap) {
        int cap = kv->cap ? kv->cap * 2 : 4;
        filter_node **v = realloc(kv->v, (size_t)cap * sizeof *v);
        if (!v) {
            node_free(n);
            return BURROW_ENOMEM;
        }
        kv->v = v;
        kv->cap = cap;
    }
    kv->v[kv->n++] = n;
    return 0;
}

/* Add a conjunct, flattening: an AND's kids are spliced in and a TRUE
 * dropped, so the planner sees one flat list of predicates. */
static int and_add(kidvec *kv, filter_node *n)
{
    if (n->op == FILTER_TRUE) {
        node_free(n);
        return 0;
    }
    if (n->op != FILTER_AND)
        return kidvec_push(kv, n);
    int rc = 0;
    for (int i = 0; i < n->nkids; i++) {
        if (!rc)
            rc = kidvec_push(kv, n->kids[i]);
        else
            node_free(n->kids[i]);
    }
    n->nkids = 0;
    node_free(n);
    return rc;
}

/* The node for op over kv's kids (kv is consumed): an AND of none is TRUE,
 * an AND or OR of one is that one. */
static int node_of_kids(enum filter_op op, kidvec *kv, filter_node **out)
{
    if ((op == FILTER_AND || op == FILTER_OR) && kv->n == 1) {
        *out = kv->v[0];
        free(kv->v);
        return 0;
    }
    filter_node *n = node_new(kv->n == 0 && op == FILTER_AND ? FILTER_TRUE : op);
    if (!n) {
        kidvec_free(kv);
        return BURROW_ENOMEM;
    }
    if (kv->n == 0) {
        free(kv->v);
    } else {
        n->kids = kv->v;
        n->nkids = kv->n;
    }
    *out = n;
    return 0;
}

/* A node with one kid; kid is consumed. */
static int node_of_kid(enum filter_op op, filter_node *kid, filter_node **out)
{
    filter_node *n = node_new(op);
    filter_node **kids = malloc(sizeof *kids);
    if (!n || !kids) {
        free(n);
        free(kids);
        node_free(kid);
        return BURROW_ENOMEM;
    }
    kids[0] = kid;
    n->kids = kids;
    n->nkids = 1;
    *out = n;
    return 0;
}

/* ---- compiling ------------------------------------------------------------ */

/* Where a condition applies: the field it is on (for messages, and for
 * the path unless the condition is on a value). */
typedef struct site {
    const char *key; /* NULL: top level, or a condition on a value */
    size_t klen;
    bool has_path; /* leaves get key parsed as their path */
} site;

/* EINVAL with "filter: <what> at '<key>'". */
static int bad(const site *s, const char *fmt, ...) BURROW_PRINTF(2, 3);
static int bad(const site *s, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (!s || !s->key)
        return diag_set(BURROW_EINVAL, "filter: %s", what);
    int shown = s->klen > 200 ? 200 : (int)s->klen;
    return diag_set(BURROW_EINVAL, "filter: %s at '%.*s%s'", what, shown, s->key,
                    s->klen > 200 ? "..." : "");
}

static int compile_filter(doc_val obj, filter_node **out);
static int compile_ops(const site *s, doc_val ops, filter_node **out);

static int cmp_vals(const void *a, const void *b)
{
    return doc_compare(*(const doc_val *)a, *(const doc_val *)b);
}

/* $in's operand sorted, so a test is a bisection, not a scan. */
static int build_in_set(filter_node *n)
{
    uint32_t count = doc_count(n->operand);
    if (count == 0)
        return 0;
    n->in_set = malloc((size_t)count * sizeof *n->in_set);
    if (!n->in_set)
        return BURROW_ENOMEM;
    doc_iter it;
    doc_iter_init(&it, n->operand);
    doc_val e;
    int rc;
    while ((rc = doc_iter_next(&it, NULL, NULL, &e)) == 1) {
        n->in_set[n->in_count++] = e;
        if (doc_type(e) == DOC_NULL)
            n->in_has_null = true;
    }
    if (rc < 0)
        return rc;
    qsort(n->in_set, n->in_count, sizeof *n->in_set, cmp_vals);
    return 0;
}

static int leaf_new(const site *s, enum filter_op op, doc_val operand, filter_node **out)
{
    filter_node *n = node_new(op);
    if (!n)
        return BURROW_ENOMEM;
    n->operand = operand;
    int rc = 0;
    if (s->has_path) {
        rc = doc_path_parse(s->key, s->klen, DOC_PATH_DOTTED, &n->path);
        n->path_text = s->key;
        n->path_len = s->klen;
    }
    if (!rc && (op == FILTER_IN || op == FILTER_NIN))
        rc = build_in_set(n);
    if (rc) {
        node_free(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* Counts of the keys of an object: '$' keys other than $and/$or/$nor
 * ("operators"), and the rest ("fields"). */
static int count_keys(doc_val obj, uint32_t *nops, uint32_t *nfields)
{
    *nops = *nfields = 0;
    doc_iter it;
    doc_iter_init(&it, obj);
    const char *k;
    size_t kl;
    doc_val v;
    int rc;
    while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1) {
        if (kl > 0 && k[0] == '$' && logical_op(k, kl) == FILTER_TRUE)
            (*nops)++;
        else
            (*nfields)++;
    }
    return rc;
}

/* A condition on a value: $elemMatch's operand (allow_plain false) or
 * doc_filter_compile_value's. *on_value tells which form it took. */
static int compile_cond(const site *s, doc_val cond, bool allow_plain, filter_node **out,
                        bool *on_value)
{
    site vs = {s->key, s->klen, false};
    if (doc_type(cond) == DOC_OBJECT && doc_count(cond) > 0) {
        uint32_t nops, nfields;
        int rc = count_keys(cond, &nops, &nfields);
        if (rc < 0)
            return rc;
        if (nops && nfields)
            return bad(s, "cannot mix operators and fields in a condition");
        *on_value = nops > 0;
        return nops ? compile_ops(&vs, cond, out) : compile_filter(cond, out);
    }
    if (!allow_plain)
        return bad(s, "$elemMatch needs a non-empty object");
    *on_value = true;
    return leaf_new(&vs, FILTER_EQ, cond, out);
}

static int compile_op(const site *s, const char *name, size_t nlen, doc_val operand,
                      filter_node **out)
{
    enum filter_op op = FILTER_TRUE;
    for (size_t i = 0; i < sizeof value_ops / sizeof *value_ops; i++)
        if (key_is(name, nlen, value_ops[i].name))
            op = value_ops[i].op;
    enum doc_type t = doc_type(operand);
    int shown = nlen > 100 ? 100 : (int)nlen;
    switch (op) {
    case FILTER_TRUE: return bad(s, "unknown operator '%.*s'", shown, name);
    case FILTER_IN:
    case FILTER_NIN:
        if (t != DOC_ARRAY)
            return bad(s, "%s needs an array", filter_op_name(op));
        break;
    case FILTER_EXISTS:
        if (t != DOC_TRUE && t != DOC_FALSE)
            return bad(s, "$exists needs true or false");
        break;
    case FILTER_STARTS_WITH:
    case FILTER_ENDS_WITH:
        if (t != DOC_STRING)
            return bad(s, "%s needs a string", filter_op_name(op));
        break;
    case FILTER_NOT: {
        uint32_t nops = 0, nfields = 0;
        if (t == DOC_OBJECT) {
            int rc = count_keys(operand, &nops, &nfields);
            if (rc < 0)
                return rc;
        }
        if (nops == 0 || nfields > 0)
            return bad(s, "$not needs an operator object");
        filter_node *kid;
        int rc = compile_ops(s, operand, &kid);
        return rc ? rc : node_of_kid(FILTER_NOT, kid, out);
    }
    case FILTER_ELEM_MATCH: {
        filter_node *kid;
        bool on_value;
        int rc = compile_cond(s, operand, false, &kid, &on_value);
        if (rc)
            return rc;
        /* The node is a leaf for the path walk: give it the path. */
        filter_node *n;
        if ((rc = leaf_new(s, FILTER_ELEM_MATCH, (doc_val){NULL, 0}, &n))) {
            node_free(kid);
            return rc;
        }
        n->kids = malloc(sizeof *n->kids);
        if (!n->kids) {
            node_free(n);
            node_free(kid);
            return BURROW_ENOMEM;
        }
        n->kids[0] = kid;
        n->nkids = 1;
        n->elem_value = on_value;
        *out = n;
        return 0;
    }
    default: break;
    }
    return leaf_new(s, op, operand, out);
}

/* An operator object {"$gt": 1, "$lt": 5}: the AND of its operators. */
static int compile_ops(const site *s, doc_val ops, filter_node **out)
{
    kidvec kv = {0};
    doc_iter it;
    doc_iter_init(&it, ops);
    const char *k;
    size_t kl;
    doc_val v;
    int rc;
    while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1) {
        filter_node *n;
        if ((rc = compile_op(s, k, kl, v, &n)) || (rc = and_add(&kv, n)))
            break;
    }
    if (rc < 0) {
        kidvec_free(&kv);
        return rc;
    }
    return node_of_kids(FILTER_AND, &kv, out);
}

/* "path": cond */
static int compile_field(const char *key, size_t klen, doc_val cond, filter_node **out)
{
    site s = {key, klen, true};
    if (doc_type(cond) == DOC_OBJECT && doc_count(cond) > 0) {
        doc_iter it;
        doc_iter_init(&it, cond);
        const char *k;
        size_t kl;
        doc_val v;
        uint32_t ndollar = 0, nplain = 0;
        int rc;
        while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1) {
            if (kl > 0 && k[0] == '$')
                ndollar++;
            else
                nplain++;
        }
        if (rc < 0)
            return rc;
        if (ndollar && nplain)
            return bad(&s, "cannot mix operators and plain keys");
        if (ndollar)
            return compile_ops(&s, cond, out);
    }
    return leaf_new(&s, FILTER_EQ, cond, out);
}

/* "$and" / "$or" / "$nor": [filter, ...] */
static int compile_logical(enum filter_op op, doc_val arr, filter_node **out)
{
    if (doc_type(arr) != DOC_ARRAY || doc_count(arr) == 0)
        return bad(NULL, "%s needs a non-empty array of filters", filter_op_name(op));
    kidvec kv = {0};
    doc_iter it;
    doc_iter_init(&it, arr);
    doc_val e;
    int rc;
    while ((rc = doc_iter_next(&it, NULL, NULL, &e)) == 1) {
        if (doc_type(e) != DOC_OBJECT) {
            rc = bad(NULL, "%s needs a non-empty array of filters", filter_op_name(op));
            break;
        }
        filter_node *n;
        if ((rc = compile_filter(e, &n)))
            break;
        if ((rc = op == FILTER_AND ? and_add(&kv, n) : kidvec_push(&kv, n)))
            break;
    }
    if (rc < 0) {
        kidvec_free(&kv);
        return rc;
    }
    return node_of_kids(op, &kv, out);
}

/* A filter object: the AND of its members. */
static int compile_filter(doc_val obj, filter_node **out)
{
    if (doc_type(obj) != DOC_OBJECT)
        return bad(NULL, "a filter must be an object");
    kidvec kv = {0};
    doc_iter it;
    doc_iter_init(&it, obj);
    const char *k;
    size_t kl;
    doc_val v;
    int rc;
    while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1) {
        filter_node *n;
        if (kl > 0 && k[0] == '$') {
            enum filter_op op = logical_op(k, kl);
            if (op != FILTER_TRUE) {
                rc = compile_logical(op, v, &n);
            } else if (key_is(k, kl, "$not")) {
                if (doc_type(v) != DOC_OBJECT)
                    rc = bad(NULL, "$not needs a filter object");
                else if (!(rc = compile_filter(v, &n)))
                    rc = node_of_kid(FILTER_NOT, n, &n);
            } else {
                int shown = kl > 100 ? 100 : (int)kl;
                rc = bad(NULL, "unknown operator '%.*s'", shown, k);
            }
        } else {
            rc = compile_field(k, kl, v, &n);
        }
        if (rc || (rc = and_add(&kv, n)))
            break;
    }
    if (rc < 0) {
        kidvec_free(&kv);
        return rc;
    }
    return node_of_kids(FILTER_AND, &kv, out);
}

/* Take storage (a whole document) and compile its root as kind. */
static int filter_build(buf *storage, enum filter_kind kind, doc_filter **out)
{
    doc_filter *f = calloc(1, sizeof *f);
    if (!f) {
        buf_free(storage);
        return BURROW_ENOMEM;
    }
    f->storage = *storage;
    buf_init(storage);
    f->kind = kind;
    doc_val root;
    int rc = doc_root(f->storage.data, f->storage.size, &root);
    if (!rc) {
        if (kind == KIND_DOC) {
            rc = compile_filter(root, &f->root);
        } else {
            site s = {NULL, 0, false};
            bool on_value;
            rc = compile_cond(&s, root, true, &f->root, &on_value);
            if (!rc)
                f->kind = on_value ? KIND_VALUE_OPS : KIND_VALUE_FIELDS;
        }
    }
    if (rc) {
        doc_filter_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

/* A validated copy of v as a document of its own. */
static int copy_value(doc_val v, buf *out)
{
    buf_init(out);
    int rc = buf_reserve(out, v.len + 1);
    if (rc)
        return rc;
    buf_putc(out, DOC_FORMAT_VERSION);
    buf_append(out, v.p, v.len);
    if ((rc = doc_validate(out->data, out->size))) {
        buf_free(out);
        return rc;
    }
    return 0;
}

int doc_filter_compile(const char *json, size_t len, doc_filter **out)
{
    assert(out && (json || len == 0));
    doc_builder b;
    doc_builder_init(&b);
    buf storage = {0};
    int rc = json_parse(json, len, NULL, &b);
    if (!rc)
        rc = doc_builder_take(&b, &storage);
    doc_builder_free(&b);
    return rc ? rc : filter_build(&storage, KIND_DOC, out);
}

int doc_filter_compile_doc(doc_val filter_object, doc_filter **out)
{
    assert(out);
    buf storage;
    int rc = copy_value(filter_object, &storage);
    return rc ? rc : filter_build(&storage, KIND_DOC, out);
}

int doc_filter_compile_value(doc_val cond, doc_filter **out)
{
    assert(out);
    buf storage;
    int rc = copy_value(cond, &storage);
    return rc ? rc : filter_build(&storage, KIND_VALUE_OPS, out);
}

const filter_node *doc_filter_root(const doc_filter *f) { return f->root; }

bool doc_filter_is_value_cond(const doc_filter *f) { return f->kind == KIND_VALUE_OPS; }

void doc_filter_free(doc_filter *f)
{
    if (!f)
        return;
    node_free(f->root);
    buf_free(&f->storage);
    free(f);
}

/* ---- evaluating ----------------------------------------------------------- */

static int eval(const filter_node *n, doc_val v, bool on_value);

static int corrupt(void) { return diag_set(BURROW_ECORRUPT, "filter: damaged value in document"); }

/* Type classes of the comparison operators: booleans are one class,
 * numbers another whatever their form. */
static int type_class(enum doc_type t)
{
    switch (t) {
    case DOC_FALSE:
    case DOC_TRUE: return DOC_FALSE;
    case DOC_INT:
    case DOC_DOUBLE: return DOC_INT;
    default: return (int)t;
    }
}

/* NE, NIN and {"$exists": false} are evaluated as their positive form,
 * then negated over the whole path. */
static bool negated(const filter_node *n)
{
    return n->op == FILTER_NE || n->op == FILTER_NIN ||
           (n->op == FILTER_EXISTS && doc_type(n->operand) == DOC_FALSE);
}

/* Operators that also match an array value when one element matches. */
static bool element_rule(enum filter_op op)
{
    switch (op) {
    case FILTER_EQ:
    case FILTER_NE:
    case FILTER_GT:
    case FILTER_GTE:
    case FILTER_LT:
    case FILTER_LTE:
    case FILTER_IN:
    case FILTER_NIN:
    case FILTER_STARTS_WITH:
    case FILTER_ENDS_WITH: return true;
    default: return false;
    }
}

static bool in_set_has(const filter_node *n, doc_val v)
{
    uint32_t lo = 0, hi = n->in_count;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = doc_compare(v, n->in_set[mid]);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

static int string_test(const filter_node *n, doc_val v)
{
    const char *s, *o;
    size_t sl, ol;
    int rc = doc_get_string(v, &s, &sl);
    if (rc)
        return rc == BURROW_ECORRUPT ? corrupt() : 0;
    if (doc_get_string(n->operand, &o, &ol))
        return 0; /* $contains with a non-string operand */
    if (ol > sl)
        return 0;
    switch (n->op) {
    case FILTER_STARTS_WITH: return memcmp(s, o, ol) == 0;
    case FILTER_ENDS_WITH: return memcmp(s + sl - ol, o, ol) == 0;
    default: return ol == 0 || memmem(s, sl, o, ol) != NULL;
    }
}

/* Some element of array v satisfies test (1), none (0), or an error. */
static int any_element(const filter_node *n, doc_val arr, int (*test)(const filter_node *, doc_val))
{
    doc_iter it;
    doc_iter_init(&it, arr);
    doc_val e;
    int rc;
    while ((rc = doc_iter_next(&it, NULL, NULL, &e)) == 1) {
        int r = test(n, e);
        if (r)
            return r;
    }
    return rc;
}

static int equals_operand(const filter_node *n, doc_val e)
{
    if (doc_type(e) == DOC_INVALID)
        return corrupt();
    return doc_equal(e, n->operand);
}

static int elem_match_test(const filter_node *n, doc_val e)
{
    enum doc_type t = doc_type(e);
    if (t == DOC_INVALID)
        return corrupt();
    if (!n->elem_value && t != DOC_OBJECT)
        return 0;
    return eval(n->kids[0], e, n->elem_value);
}

/* The positive form of leaf n on the value v itself. */
static int single_test(const filter_node *n, doc_val v)
{
    enum doc_type t = doc_type(v);
    if (t == DOC_INVALID)
        return corrupt();
    int c;
    switch (n->op) {
    case FILTER_EQ:
    case FILTER_NE: return doc_equal(v, n->operand);
    case FILTER_IN:
    case FILTER_NIN: return in_set_has(n, v);
    case FILTER_GT:
    case FILTER_GTE:
    case FILTER_LT:
    case FILTER_LTE:
        if (type_class(t) != type_class(doc_type(n->operand)))
            return 0;
        c = doc_compare(v, n->operand);
        switch (n->op) {
        case FILTER_GT: return c > 0;
        case FILTER_GTE: return c >= 0;
        case FILTER_LT: return c < 0;
        default: return c <= 0;
        }
    case FILTER_EXISTS: return 1;
    case FILTER_CONTAINS:
        if (t == DOC_ARRAY)
            return any_element(n, v, equals_operand);
        return t == DOC_STRING ? string_test(n, v) : 0;
    case FILTER_STARTS_WITH:
    case FILTER_ENDS_WITH: return t == DOC_STRING ? string_test(n, v) : 0;
    case FILTER_ELEM_MATCH: return t == DOC_ARRAY ? any_element(n, v, elem_match_test) : 0;
    default: assert(!"not a leaf"); return 0;
    }
}

/* A value the path yielded. */
static int item_value(const filter_node *n, doc_val v)
{
    int r = single_test(n, v);
    if (r || !element_rule(n->op) || doc_type(v) != DOC_ARRAY)
        return r;
    return any_element(n, v, single_test);
}

/* A MISSING item: only the null-matching forms match it. */
static int item_missing(const filter_node *n)
{
    switch (n->op) {
    case FILTER_EQ:
    case FILTER_NE:
    case FILTER_GTE:
    case FILTER_LTE: return doc_type(n->operand) == DOC_NULL;
    case FILTER_IN:
    case FILTER_NIN: return n->in_has_null;
    default: return 0;
    }
}

/* Does any item that steps [i, nsteps) of n's path yield from v match? */
static int path_test(const filter_node *n, doc_val v, int i)
{
    if (i == n->path.nsteps)
        return item_value(n, v);
    const doc_step *st = &n->path.steps[i];
    doc_val m;
    int rc;
    doc_container c;
    switch (doc_type(v)) {
    case DOC_OBJECT:
        if (st->kind == DOC_STEP_INDEX)
            return item_missing(n);
        if ((rc = doc_container_open(v, &c)) == 0)
            rc = doc_container_find(&c, st->name, st->len, &m);
        if (rc == BURROW_ENOTFOUND)
            return item_missing(n);
        return rc ? corrupt() : path_test(n, m, i + 1);
    case DOC_ARRAY:
        /* A damaged header reads as an empty array, as doc_count has it. */
        doc_container_open(v, &c);
        break;
    case DOC_INVALID: return corrupt();
    default: return item_missing(n);
    }
    /* Only canonical digits index arrays ("07" is a name), as in MongoDB
     * and update.c. */
    bool index = st->kind == DOC_STEP_INDEX ||
                 (st->kind == DOC_STEP_DIGITS && (st->len == 1 || st->name[0] != '0'));
    if (index) {
        int64_t idx = st->index;
        if (st->kind == DOC_STEP_INDEX && idx < 0)
            idx += c.count;
        int r;
        if (idx >= 0 && idx < (int64_t)c.count) {
            if ((rc = doc_container_elem(&c, (uint32_t)idx, NULL, NULL, &m)))
                return corrupt();
            r = path_test(n, m, i + 1);
        } else {
            r = item_missing(n);
        }
        if (r || st->kind == DOC_STEP_INDEX)
            return r;
    }
    /* A name (or digits) taken in each object element; nested arrays and
     * scalars in the array yield nothing. */
    for (uint32_t j = 0; j < c.count; j++) {
        doc_val e;
        if (doc_container_elem(&c, j, NULL, NULL, &e))
            return corrupt();
        enum doc_type t = doc_type(e);
        if (t == DOC_INVALID)
            return corrupt();
        if (t != DOC_OBJECT)
            continue;
        int r;
        rc = doc_object_get(e, st->name, st->len, &m);
        if (rc == BURROW_ENOTFOUND)
            r = index ? 0 : item_missing(n);
        else if (rc)
            return corrupt();
        else
            r = path_test(n, m, i + 1);
        if (r)
            return r;
    }
    return 0;
}

static int eval(const filter_node *n, doc_val v, bool on_value)
{
    int r;
    switch (n->op) {
    case FILTER_TRUE: return 1;
    case FILTER_AND:
        for (int i = 0; i < n->nkids; i++)
            if ((r = eval(n->kids[i], v, on_value)) <= 0)
                return r;
        return 1;
    case FILTER_OR:
    case FILTER_NOR:
        for (int i = 0; i < n->nkids; i++)
            if ((r = eval(n->kids[i], v, on_value)) != 0)
                return r < 0 ? r : n->op == FILTER_OR;
        return n->op == FILTER_NOR;
    case FILTER_NOT: r = eval(n->kids[0], v, on_value); return r < 0 ? r : !r;
    default:
        r = on_value ? single_test(n, v) : path_test(n, v, 0);
        return r < 0 ? r : negated(n) ? !r : r;
    }
}

int doc_filter_match(const doc_filter *f, doc_val root)
{
    assert(f);
    return eval(f->root, root, f->kind == KIND_VALUE_OPS);
}

int doc_filter_match_value(const doc_filter *f, doc_val v)
{
    assert(f);
    if (f->kind == KIND_VALUE_FIELDS) {
        enum doc_type t = doc_type(v);
        if (t == DOC_INVALID)
            return corrupt();
        if (t != DOC_OBJECT)
            return 0;
    }
    return eval(f->root, v, f->kind == KIND_VALUE_OPS);
}

/* ---- formatting ----------------------------------------------------------- */

static int put(buf *out, const char *s) { return buf_append(out, s, strlen(s)); }

/* A JSON string, escaped as json_write escapes (names are valid UTF-8). */
static int put_string(buf *out, const char *s, size_t n)
{
    int rc = buf_putc(out, '"');
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        switch (c) {
        case '"': rc = put(out, "\\\""); break;
        case '\\': rc = put(out, "\\\\"); break;
        case '\b': rc = put(out, "\\b"); break;
        case '\f': rc = put(out, "\\f"); break;
        case '\n': rc = put(out, "\\n"); break;
        case '\r': rc = put(out, "\\r"); break;
        case '\t': rc = put(out, "\\t"); break;
        default:
            if (c < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                rc = put(out, esc);
            } else {
                rc = buf_putc(out, c);
            }
        }
    }
    return rc ? rc : buf_putc(out, '"');
}

static int fmt_filter(const filter_node *n, buf *out, bool as_cond);
static int fmt_value_cond(const filter_node *n, buf *out);

static bool is_predicate(const filter_node *n) { return n->op >= FILTER_EQ && n->path_text; }

/* "$op":operand of a leaf or an ELEM_MATCH. */
static int fmt_pred_member(const filter_node *n, buf *out)
{
    int rc = buf_putc(out, '"');
    if (!rc)
        rc = put(out, filter_op_name(n->op));
    if (!rc)
        rc = put(out, "\":");
    if (rc)
        return rc;
    if (n->op != FILTER_ELEM_MATCH)
        return json_write(n->operand, 0, NULL, out);
    return n->elem_value ? fmt_value_cond(n->kids[0], out) : fmt_filter(n->kids[0], out, true);
}

/* The members of a condition on a value, without braces. */
static int fmt_value_members(const filter_node *n, buf *out, bool *first)
{
    int rc = 0;
    if (n->op == FILTER_AND) {
        for (int i = 0; i < n->nkids && !rc; i++)
            rc = fmt_value_members(n->kids[i], out, first);
        return rc;
    }
    if (!*first && (rc = buf_putc(out, ',')))
        return rc;
    *first = false;
    if (n->op == FILTER_NOT) {
        if ((rc = put(out, "\"$not\":")))
            return rc;
        return fmt_value_cond(n->kids[0], out);
    }
    return fmt_pred_member(n, out);
}

static int fmt_value_cond(const filter_node *n, buf *out)
{
    bool first = true;
    int rc = buf_putc(out, '{');
    if (!rc)
        rc = fmt_value_members(n, out, &first);
    return rc ? rc : buf_putc(out, '}');
}

static bool same_path(const filter_node *a, const filter_node *b)
{
    return a->path_len == b->path_len && memcmp(a->path_text, b->path_text, a->path_len) == 0;
}

/* An AND can be written as one object, {"a":{"$gt":1,"$lt":5},"b":...},
 * when its kids are all predicates and no path has one operator twice. */
static bool and_groupable(const filter_node *n)
{
    for (int i = 0; i < n->nkids; i++) {
        if (!is_predicate(n->kids[i]))
            return false;
        for (int j = 0; j < i; j++)
            if (n->kids[j]->op == n->kids[i]->op && same_path(n->kids[j], n->kids[i]))
                return false;
    }
    return true;
}

static int fmt_grouped_and(const filter_node *n, buf *out)
{
    int rc = buf_putc(out, '{');
    bool first = true;
    for (int i = 0; i < n->nkids && !rc; i++) {
        const filter_node *k = n->kids[i];
        bool seen = false;
        for (int j = 0; j < i && !seen; j++)
            seen = same_path(n->kids[j], k);
        if (seen)
            continue;
        if (!first)
            rc = buf_putc(out, ',');
        first = false;
        if (!rc)
            rc = put_string(out, k->path_text, k->path_len);
        if (!rc)
            rc = put(out, ":{");
        bool first_op = true;
        for (int j = i; j < n->nkids && !rc; j++) {
            if (!same_path(n->kids[j], k))
                continue;
            if (!first_op)
                rc = buf_putc(out, ',');
            first_op = false;
            if (!rc)
                rc = fmt_pred_member(n->kids[j], out);
        }
        if (!rc)
            rc = buf_putc(out, '}');
    }
    return rc ? rc : buf_putc(out, '}');
}

/* A filter on a document. as_cond: it will be read back as a condition
 * ($elemMatch's operand, compile_value's), where a leading "$not" or an
 * empty object would mean something else, so those are wrapped in $and. */
static int fmt_filter(const filter_node *n, buf *out, bool as_cond)
{
    int rc;
    if (as_cond && (n->op == FILTER_NOT || n->op == FILTER_TRUE)) {
        if ((rc = put(out, "{\"$and\":[")) || (rc = fmt_filter(n, out, false)))
            return rc;
        return put(out, "]}");
    }
    switch (n->op) {
    case FILTER_TRUE: return put(out, "{}");
    case FILTER_AND:
        if (and_groupable(n))
            return fmt_grouped_and(n, out);
        /* fallthrough */
    case FILTER_OR:
    case FILTER_NOR:
        rc = put(out, "{\"");
        if (!rc)
            rc = put(out, filter_op_name(n->op));
        if (!rc)
            rc = put(out, "\":[");
        for (int i = 0; i < n->nkids && !rc; i++) {
            if (i)
                rc = buf_putc(out, ',');
            if (!rc)
                rc = fmt_filter(n->kids[i], out, false);
        }
        return rc ? rc : put(out, "]}");
    case FILTER_NOT:
        if ((rc = put(out, "{\"$not\":")) || (rc = fmt_filter(n->kids[0], out, false)))
            return rc;
        return buf_putc(out, '}');
    default:
        assert(n->path_text);
        if ((rc = buf_putc(out, '{')) || (rc = put_string(out, n->path_text, n->path_len)) ||
            (rc = put(out, ":{")) || (rc = fmt_pred_member(n, out)))
            return rc;
        return put(out, "}}");
    }
}

int doc_filter_format(const doc_filter *f, buf *out)
{
    assert(f && out);
    size_t mark = out->size;
    int rc;
    switch (f->kind) {
    case KIND_DOC: rc = fmt_filter(f->root, out, false); break;
    case KIND_VALUE_FIELDS: rc = fmt_filter(f->root, out, true); break;
    default: rc = fmt_value_cond(f->root, out); break;
    }
    if (rc)
        out->size = mark;
    return rc;
}
