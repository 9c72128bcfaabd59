/*
 * update.c — compiling and applying update operators (contract in update.h).
 *
 * Compiling turns the update into a tree of path steps. The operations'
 * paths are sorted step by step; equal leading steps share a node, so each
 * node lists, in key order, the fields below it that some operation goes
 * through (its kids), and each operation sits on a leaf. Because no path may
 * be a prefix of another (the conflict rule), an operation is always a leaf
 * and a leaf holds exactly one operation.
 *
 * Applying walks the document and the tree together: an object on a path is
 * rebuilt in one pass over its entries, where an entry with no kid of that
 * name is copied verbatim (doc_builder_copy, bytes unchanged) and an entry
 * with a kid is rebuilt recursively or has its operation applied; kids not
 * met in the pass are created at the end, in key order. Arrays are rebuilt
 * the same way with their kids taken in index order. Nothing off the paths
 * is decoded.
 *
 * Rebuilding an object keeps its entries in stored order, so an object
 * with a sorted key table gives the builder that order (less the removed
 * entries; created ones are merged in), and the builder checks it in one
 * pass instead of sorting again (doc_builder_end_sorted). Objects created
 * whole from the update's own paths have unique keys by construction
 * (doc_builder_begin_object_unique).
 *
 * Whether the result differs from the input is decided where values are
 * written: each operation's output bytes are compared with the bytes it
 * replaces (the builder is deterministic, so the same value is the same
 * bytes), and removing or creating a field is a change. The containers that
 * are rebuilt around them then come out byte-identical when nothing below
 * them changed.
 *
 * A compiled update is never written after compile, so threads may share
 * it; applying keeps its scratch in a context on the caller's stack.
 */
#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "doc/doc.h"
#include "doc/filter.h"
#include "doc/update.h"

enum upd_kind { UPD_SET, UPD_UNSET, UPD_INC, UPD_MUL, UPD_MIN, UPD_MAX, UPD_PUSH, UPD_PULL };

static const char *const kind_names[] = {"$set", "$unset", "$inc", "$mul",
                                         "$min", "$max",   "$push", "$pull"};

enum pull_kind {
    PULL_EQUAL,   /* not an object: remove the elements doc_equal to it */
    PULL_OBJECTS, /* {}: remove every object element */
    PULL_COND,    /* another object: a filter from doc_filter_compile_value */
};

typedef struct upd_op {
    enum upd_kind kind;
    doc_path path;
    bool has_path; /* path was parsed (and must be freed) */
    char *text;    /* the path as written, NUL-terminated */
    size_t text_len;
    doc_val arg; /* the operand, inside the update's own copy */
    /* $push with modifiers */
    bool modifiers;
    doc_val each;
    bool has_position, has_slice;
    int64_t position, slice;
    /* $pull */
    enum pull_kind pull;
    doc_filter *filter;
} upd_op;

typedef struct upd_node {
    const char *name; /* the step into this node (into an op's path storage) */
    size_t len;
    int64_t index;      /* canonical array index spelled by name, else -1 */
    int depth;          /* steps from the root */
    const upd_op *op;   /* leaf: its operation; inner: one below it (to name paths) */
    bool leaf;
    bool creates;       /* applying to a missing value writes something */
    struct upd_node *kids; /* sorted by name (doc key order) */
    uint32_t nkids;
    uint32_t nindexed; /* kids[0, nindexed) are array indexes, by value */
} upd_node;

struct doc_update {
    uint8_t *src; /* the update document (version byte + object); operands point in */
    upd_op *ops;
    int nops;
    upd_node *nodes; /* nodes[0] is the root */
};

/* Longest path text quoted in a message. */
#define MSG_PATH_MAX 200

static const char *type_name(doc_val v)
{
    switch (doc_type(v)) {
    case DOC_NULL: return "null";
    case DOC_FALSE:
    case DOC_TRUE: return "bool";
    case DOC_INT: return "int";
    case DOC_DOUBLE: return "double";
    case DOC_STRING: return "string";
    case DOC_ARRAY: return "array";
    case DOC_OBJECT: return "object";
    default: return "invalid";
    }
}

static int msg_len(size_t n) { return n > MSG_PATH_MAX ? MSG_PATH_MAX : (int)n; }

/* The array index a step spells: canonical decimal only ("0", "12"; not
 * "012"), saturating at INT64_MAX, which no array reaches. -1 otherwise. */
static int64_t step_index(const char *s, size_t n)
{
    if (n == 0 || (n > 1 && s[0] == '0'))
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        int d = s[i] - '0';
        v = v > (INT64_MAX - d) / 10 ? INT64_MAX : v * 10 + d;
    }
    return v;
}

/*
 * The order of steps (and so of kids, of applying, and of new fields):
 * array indexes first, by value, then every other name bytewise, shorter
 * first on a common prefix. Indexes by value make an array's kids come in
 * the order of its elements, so one pass pads and sets them (MongoDB 5.0+
 * also takes numeric names in numeric order). ia and ib are step_index of
 * the names, passed in because callers have them at hand.
 */
static int step_order(const char *a, size_t an, int64_t ia, const char *b, size_t bn, int64_t ib)
{
    if (ia >= 0 && ib >= 0 && ia != ib)
        return ia < ib ? -1 : 1;
    if ((ia >= 0) != (ib >= 0))
        return ia >= 0 ? -1 : 1;
    if (an && bn && a[0] != b[0]) /* most names differ here: no memcmp */
        return (uint8_t)a[0] < (uint8_t)b[0] ? -1 : 1;
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r)
        return r;
    return an < bn ? -1 : an > bn;
}

/* The first k steps of op's path joined by dots, cut to fit dst. */
static const char *prefix_text(const upd_op *op, int k, char *dst, size_t cap)
{
    size_t n = 0;
    for (int i = 0; i < k && n + 1 < cap; i++) {
        const doc_step *st = &op->path.steps[i];
        if (i)
            dst[n++] = '.';
        size_t m = st->len < cap - 1 - n ? st->len : cap - 1 - n;
        memcpy(dst + n, st->name, m);
        n += m;
    }
    dst[n < cap ? n : cap - 1] = '\0';
    return dst;
}

/* ---- compiling ------------------------------------------------------------ */

static int kind_of(const char *k, size_t n)
{
    for (int i = 0; i < (int)(sizeof kind_names / sizeof *kind_names); i++)
        if (strlen(kind_names[i]) == n && memcmp(kind_names[i], k, n) == 0)
            return i;
    return -1;
}

static bool is_key(const char *k, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(k, lit, n) == 0;
}

/* MongoDB operators this module knows of but does not implement: refused
 * with a message that says so rather than "unknown". */
static bool is_unsupported(const char *k, size_t n)
{
    static const char *const names[] = {"$rename", "$setOnInsert", "$currentDate", "$bit",
                                        "$addToSet", "$pop", "$pullAll"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (is_key(k, n, names[i]))
            return true;
    return false;
}

static int push_init(upd_op *op)
{
    if (doc_type(op->arg) != DOC_OBJECT)
        return 0;
    doc_iter it;
    const char *k;
    size_t kl;
    doc_val v;
    int rc;
    /* The modifier form is an object naming a modifier; any other object is
     * a value to push. */
    doc_iter_init(&it, op->arg);
    while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1)
        if (is_key(k, kl, "$each") || is_key(k, kl, "$position") || is_key(k, kl, "$slice") ||
            is_key(k, kl, "$sort"))
            op->modifiers = true;
    if (rc < 0)
        return diag_set(BURROW_ECORRUPT, "update: damaged operand");
    if (!op->modifiers)
        return 0;
    bool has_each = false;
    doc_iter_init(&it, op->arg);
    while ((rc = doc_iter_next(&it, &k, &kl, &v)) == 1) {
        if (is_key(k, kl, "$each")) {
            if (doc_type(v) != DOC_ARRAY)
                return diag_set(BURROW_EINVAL, "update: $push $each needs an array at '%.*s', found %s",
                                msg_len(op->text_len), op->text, type_name(v));
            op->each = v;
            has_each = true;
        } else if (is_key(k, kl, "$position") || is_key(k, kl, "$slice")) {
            bool pos = kl == 9;
            int64_t x;
            if (doc_type(v) != DOC_INT || doc_get_int(v, &x))
                return diag_set(BURROW_EINVAL, "update: $push %s needs an int at '%.*s', found %s",
                                pos ? "$position" : "$slice", msg_len(op->text_len), op->text,
                                type_name(v));
            if (pos) {
                op->has_position = true;
                op->position = x;
            } else {
                op->has_slice = true;
                op->slice = x;
            }
        } else if (is_key(k, kl, "$sort")) {
            return diag_set(BURROW_EINVAL, "update: $push $sort is not supported ('%.*s')",
                            msg_len(op->text_len), op->text);
        } else {
            return diag_set(BURROW_EINVAL, "update: unknown $push modifier '%.*s' at '%.*s'",
                            msg_len(kl), k, msg_len(op->text_len), op->text);
        }
    }
    if (!has_each)
        return diag_set(BURROW_EINVAL, "update: $push modifiers need $each at '%.*s'",
                        msg_len(op->text_len), op->text);
    return 0;
}

static int pull_init(upd_op *op)
{
    if (doc_type(op->arg) != DOC_OBJECT) {
        op->pull = PULL_EQUAL;
        return 0;
    }
    /* MongoDB reads {} as the empty query, which every embedded document
     * matches; the filter module would read it as equality with {}. */
    if (doc_count(op->arg) == 0) {
        op->pull = PULL_OBJECTS;
        return 0;
    }
    /* The filter module tells a condition on the element ({"$gte": 6})
     * from a filter on object elements ({"score": {"$gt": 5}}). */
    op->pull = PULL_COND;
    return doc_filter_compile_value(op->arg, &op->filter);
}

static int op_init(upd_op *op, enum upd_kind kind, const char *path, size_t plen, doc_val arg)
{
    op->kind = kind;
    op->arg = arg;
    op->text = malloc(plen + 1);
    if (!op->text)
        return BURROW_ENOMEM;
    memcpy(op->text, path, plen);
    op->text[plen] = '\0';
    op->text_len = plen;
    int rc = doc_path_parse(path, plen, DOC_PATH_DOTTED, &op->path);
    if (rc)
        return rc;
    op->has_path = true;
    const char *name = kind_names[kind];
    int shown = msg_len(plen);
    if (op->path.nsteps == 0)
        return diag_set(BURROW_EINVAL, "update: %s needs a field name, found an empty path", name);
    if (op->path.nsteps > DOC_MAX_DEPTH)
        return diag_set(BURROW_EINVAL, "update: path '%.*s' is deeper than %d", shown, path,
                        DOC_MAX_DEPTH);
    for (int i = 0; i < op->path.nsteps; i++) {
        const doc_step *st = &op->path.steps[i];
        if (st->name == NULL || st->kind == DOC_STEP_INDEX)
            return diag_set(BURROW_EINVAL, "update: path '%.*s' is not a dotted path", shown, path);
        if (st->len == 0)
            return diag_set(BURROW_EINVAL, "update: path '%.*s' has an empty field name", shown,
                            path);
        if (st->name[0] == '$')
            return diag_set(BURROW_EINVAL,
                            "update: path '%.*s': positional operators and field names starting "
                            "with '$' are not supported",
                            shown, path);
    }
    if (is_key(op->path.steps[0].name, op->path.steps[0].len, "_id"))
        return diag_set(BURROW_EINVAL, "update: '_id' cannot be changed");
    switch (kind) {
    case UPD_INC:
    case UPD_MUL:
        if (!doc_is_number(arg))
            return diag_set(BURROW_EINVAL, "update: %s needs a number for '%.*s', found %s", name,
                            shown, path, type_name(arg));
        return 0;
    case UPD_PUSH: return push_init(op);
    case UPD_PULL: return pull_init(op);
    default: return 0;
    }
}

static int op_order(const void *x, const void *y)
{
    const upd_op *a = x, *b = y;
    int n = a->path.nsteps < b->path.nsteps ? a->path.nsteps : b->path.nsteps;
    for (int i = 0; i < n; i++) {
        const doc_step *s = &a->path.steps[i], *t = &b->path.steps[i];
        int r = step_order(s->name, s->len, step_index(s->name, s->len), t->name, t->len,
                           step_index(t->name, t->len));
        if (r)
            return r;
    }
    return (a->path.nsteps > b->path.nsteps) - (a->path.nsteps < b->path.nsteps);
}

typedef struct build_ctx {
    doc_update *u;
    uint32_t next_node;
} build_ctx;

static bool same_step(const upd_op *a, const upd_op *b, int depth)
{
    const doc_step *s = &a->path.steps[depth], *t = &b->path.steps[depth];
    return s->len == t->len && memcmp(s->name, t->name, s->len) == 0;
}

/* Fill node's kids from ops[lo, hi), which all share their first depth
 * steps and all go deeper. A node's kids are one block of the pool, in
 * step order: its index kids first. */
static int build(build_ctx *bc, upd_node *node, int lo, int hi, int depth)
{
    upd_op *ops = bc->u->ops;
    uint32_t ngroups = 0;
    for (int i = lo; i < hi;) {
        int j = i + 1;
        while (j < hi && same_step(&ops[i], &ops[j], depth))
            j++;
        ngroups++;
        i = j;
    }
    node->kids = bc->u->nodes + bc->next_node;
    node->nkids = ngroups;
    bc->next_node += ngroups;
    node->creates = false;

    uint32_t g = 0;
    for (int i = lo; i < hi; g++) {
        int j = i + 1;
        while (j < hi && same_step(&ops[i], &ops[j], depth))
            j++;
        upd_node *kid = &node->kids[g];
        const doc_step *st = &ops[i].path.steps[depth];
        kid->name = st->name;
        kid->len = st->len;
        kid->index = step_index(st->name, st->len);
        kid->depth = depth + 1;
        kid->op = &ops[i];
        if (ops[i].path.nsteps == depth + 1) {
            /* Sorted shorter first, so a path equal to or a prefix of
             * another comes first in its group. */
            if (j - i > 1)
                return diag_set(BURROW_EINVAL, "update: paths '%.*s' and '%.*s' conflict",
                                msg_len(ops[i].text_len), ops[i].text,
                                msg_len(ops[i + 1].text_len), ops[i + 1].text);
            kid->leaf = true;
            kid->creates = ops[i].kind != UPD_UNSET && ops[i].kind != UPD_PULL;
        } else {
            int rc = build(bc, kid, i, j, depth + 1);
            if (rc)
                return rc;
        }
        node->creates |= kid->creates;
        if (kid->index >= 0)
            node->nindexed++;
        i = j;
    }
    return 0;
}

/* Compile the update document src (version byte + a valid object value),
 * taking ownership of src. */
static int compile_owned(uint8_t *src, size_t len, doc_update **out)
{
    doc_update *u = calloc(1, sizeof *u);
    if (!u) {
        free(src);
        return BURROW_ENOMEM;
    }
    u->src = src;
    doc_val root, arg, operand;
    const char *k, *path;
    size_t kl, plen;
    doc_iter it, jt;
    int rc = doc_root(src, len, &root);
    if (rc)
        goto fail;
    if (doc_type(root) != DOC_OBJECT) {
        rc = diag_set(BURROW_EINVAL, "update: the update must be an object, found %s",
                      type_name(root));
        goto fail;
    }
    if (doc_count(root) == 0) {
        rc = diag_set(BURROW_EINVAL, "update: the update is empty");
        goto fail;
    }
    /* First pass: check the operators, count the paths. */
    size_t total = 0, total_steps = 0;
    doc_iter_init(&it, root);
    while ((rc = doc_iter_next(&it, &k, &kl, &operand)) == 1) {
        if (kl == 0 || k[0] != '$') {
            rc = diag_set(BURROW_EINVAL,
                          "update: replacement documents are not accepted here; use replace");
            goto fail;
        }
        int kind = kind_of(k, kl);
        if (kind < 0) {
            rc = diag_set(BURROW_EINVAL, "update: %s operator '%.*s'",
                          is_unsupported(k, kl) ? "unsupported" : "unknown", msg_len(kl), k);
            goto fail;
        }
        if (doc_type(operand) != DOC_OBJECT) {
            rc = diag_set(BURROW_EINVAL, "update: %s needs an object of paths, found %s",
                          kind_names[kind], type_name(operand));
            goto fail;
        }
        total += doc_count(operand);
    }
    if (rc < 0)
        goto fail;
    u->ops = calloc(total ? total : 1, sizeof *u->ops);
    if (!u->ops) {
        rc = BURROW_ENOMEM;
        goto fail;
    }
    /* Second pass: one operation per path. */
    doc_iter_init(&it, root);
    while ((rc = doc_iter_next(&it, &k, &kl, &operand)) == 1) {
        enum upd_kind kind = (enum upd_kind)kind_of(k, kl);
        doc_iter_init(&jt, operand);
        while ((rc = doc_iter_next(&jt, &path, &plen, &arg)) == 1) {
            upd_op *op = &u->ops[u->nops++];
            if ((rc = op_init(op, kind, path, plen, arg)))
                goto fail;
            total_steps += (size_t)op->path.nsteps;
        }
        if (rc < 0)
            goto fail;
    }
    if (rc < 0)
        goto fail;
    qsort(u->ops, (size_t)u->nops, sizeof *u->ops, op_order);
    u->nodes = calloc(total_steps + 1, sizeof *u->nodes);
    if (!u->nodes) {
        rc = BURROW_ENOMEM;
        goto fail;
    }
    build_ctx bc = {u, 1};
    if (u->nops && (rc = build(&bc, &u->nodes[0], 0, u->nops, 0)))
        goto fail;
    *out = u;
    return 0;
fail:
    if (rc == BURROW_ECORRUPT)
        diag_set(rc, "update: the update document is damaged");
    doc_update_free(u);
    return rc;
}

int doc_update_compile_doc(doc_val update_object, doc_update **out)
{
    assert(out);
    *out = NULL;
    if (doc_type(update_object) != DOC_OBJECT)
        return diag_set(BURROW_EINVAL, "update: the update must be an object, found %s",
                        type_name(update_object));
    size_t len = update_object.len + 1;
    uint8_t *src = malloc(len);
    if (!src)
        return BURROW_ENOMEM;
    src[0] = DOC_FORMAT_VERSION;
    memcpy(src + 1, update_object.p, update_object.len);
    /* Operands are copied verbatim into documents, so they must be sound. */
    int rc = doc_validate(src, len);
    if (rc) {
        free(src);
        return rc;
    }
    return compile_owned(src, len, out);
}

int doc_update_compile(const char *json, size_t len, doc_update **out)
{
    assert(out && (json || len == 0));
    *out = NULL;
    doc_builder b;
    buf doc = {0};
    doc_builder_init(&b);
    int rc = json_parse(json, len, NULL, &b);
    if (!rc)
        rc = doc_builder_take(&b, &doc);
    doc_builder_free(&b);
    if (rc)
        return rc;
    return compile_owned(doc.data, doc.size, out);
}

void doc_update_free(doc_update *u)
{
    if (!u)
        return;
    for (int i = 0; i < u->nops; i++) {
        upd_op *op = &u->ops[i];
        if (op->has_path)
            doc_path_free(&op->path);
        doc_filter_free(op->filter);
        free(op->text);
    }
    free(u->ops);
    free(u->nodes);
    free(u->src);
    free(u);
}

int doc_update_npaths(const doc_update *u)
{
    assert(u);
    return u->nops;
}

const char *doc_update_path(const doc_update *u, int i, size_t *len)
{
    assert(u && i >= 0 && i < u->nops);
    if (len)
        *len = u->ops[i].text_len;
    return u->ops[i].text;
}

/* ---- applying ------------------------------------------------------------- */

typedef struct apply_ctx {
    doc_builder *b;
    bool changed;
    /* Which kids of the objects being rebuilt were met, a stack of flags
     * (one slice per open object); grows into the heap only for updates
     * with many fields under one object. */
    uint8_t *seen;
    size_t seen_cap, seen_top;
    uint8_t local[256];
    /* For objects rebuilt from one with a sorted table: where each entry
     * went in the result, then the result's key order for the builder
     * (doc_builder_end_sorted); a stack like seen. */
    uint32_t *ord;
    size_t ord_cap, ord_top;
    uint32_t ord_local[128];
} apply_ctx;

/* Where the value of an entry goes: an object key, or an array slot. */
typedef struct slot {
    const char *key;
    size_t klen;
    bool in_array;
} slot;

static int corrupt(void) { return diag_set(BURROW_ECORRUPT, "update: the document is damaged"); }

static int put_key(doc_builder *b, const slot *s)
{
    return s->in_array ? 0 : doc_builder_key(b, s->key, s->klen);
}

/* The value at [start, out.size) was written in place of cur (NULL: of
 * nothing); note whether that changes the document. */
static void note_change(apply_ctx *c, size_t start, const doc_val *cur)
{
    const doc_builder *b = c->b;
    if (b->err)
        return;
    size_t n = b->out.size - start;
    if (!cur || cur->len != n || memcmp(b->out.data + start, cur->p, n) != 0)
        c->changed = true;
}

/* Open a container, refusing a damaged header (which doc_count and
 * doc_iter would see as an empty container, silently dropping its
 * contents). */
static int open_container(doc_val v, doc_container *c)
{
    return doc_container_open(v, c) ? corrupt() : 0;
}

static int arith(apply_ctx *c, const upd_op *op, const doc_val *cur)
{
    doc_builder *b = c->b;
    bool inc = op->kind == UPD_INC;
    const char *name = kind_names[op->kind];
    if (!cur) {
        if (inc)
            return doc_builder_copy(b, op->arg);
        return doc_type(op->arg) == DOC_INT ? doc_builder_int(b, 0) : doc_builder_double(b, 0.0);
    }
    enum doc_type t = doc_type(*cur);
    if (t != DOC_INT && t != DOC_DOUBLE)
        return diag_set(BURROW_ETYPE, "update: %s needs a number at '%.*s', found %s", name,
                        msg_len(op->text_len), op->text, type_name(*cur));
    if (t == DOC_INT && doc_type(op->arg) == DOC_INT) {
        int64_t x, y, r;
        if (doc_get_int(*cur, &x) || doc_get_int(op->arg, &y))
            return corrupt();
        if (inc ? __builtin_add_overflow(x, y, &r) : __builtin_mul_overflow(x, y, &r))
            return diag_set(BURROW_ERANGE, "update: %s overflows int64 at '%.*s'", name,
                            msg_len(op->text_len), op->text);
        return doc_builder_int(b, r);
    }
    double x, y;
    if (doc_get_double(*cur, &x) || doc_get_double(op->arg, &y))
        return corrupt();
    double r = inc ? x + y : x * y;
    if (!isfinite(r))
        return diag_set(BURROW_ERANGE, "update: %s gives a number out of range at '%.*s'", name,
                        msg_len(op->text_len), op->text);
    return doc_builder_double(b, r);
}

/* The pushed array is the existing n elements with the m new ones inserted
 * at pos, cut to [lo, hi) by $slice; only that range is copied. */
static int push(apply_ctx *c, const upd_op *op, const doc_val *cur)
{
    doc_builder *b = c->b;
    doc_container ca = {0}, ce = {0};
    uint32_t n = 0;
    int rc;
    if (cur) {
        if (doc_type(*cur) != DOC_ARRAY)
            return diag_set(BURROW_ETYPE, "update: $push needs an array at '%.*s', found %s",
                            msg_len(op->text_len), op->text, type_name(*cur));
        if ((rc = open_container(*cur, &ca)))
            return rc;
        n = ca.count;
    }
    if (op->modifiers)
        doc_container_open(op->each, &ce); /* validated at compile */
    uint64_t m = op->modifiers ? ce.count : 1;
    uint64_t total = n + m, pos = n, lo = 0, hi = total;
    if (op->has_position) {
        int64_t p = op->position;
        if (p < 0)
            pos = (uint64_t)-(p + 1) + 1 >= n ? 0 : n - ((uint64_t)-(p + 1) + 1);
        else
            pos = (uint64_t)p < n ? (uint64_t)p : n;
    }
    if (op->has_slice) {
        int64_t s = op->slice;
        if (s >= 0) {
            hi = (uint64_t)s < total ? (uint64_t)s : total;
        } else {
            uint64_t keep = (uint64_t)-(s + 1) + 1;
            lo = keep < total ? total - keep : 0;
        }
    }
    if ((rc = doc_builder_begin_array(b)))
        return rc;
    for (uint64_t v = lo; v < hi; v++) {
        doc_val e;
        if (v < pos)
            rc = doc_container_elem(&ca, (uint32_t)v, NULL, NULL, &e);
        else if (v < pos + m)
            rc = op->modifiers ? doc_container_elem(&ce, (uint32_t)(v - pos), NULL, NULL, &e)
                               : (e = op->arg, 0);
        else
            rc = doc_container_elem(&ca, (uint32_t)(v - m), NULL, NULL, &e);
        if (rc)
            return corrupt();
        if ((rc = doc_builder_copy(b, e)))
            return rc;
    }
    return doc_builder_end(b);
}

/* 1 when element e is to be removed, 0 when kept, or an error. */
static int pull_matches(const upd_op *op, doc_val e)
{
    if (op->pull == PULL_EQUAL)
        return doc_equal(e, op->arg);
    if (op->pull == PULL_OBJECTS)
        return doc_type(e) == DOC_OBJECT;
    int m = doc_filter_match_value(op->filter, e);
    return m < 0 ? corrupt() : m;
}

static int pull(apply_ctx *c, const upd_op *op, doc_val cur)
{
    doc_builder *b = c->b;
    doc_container ca;
    int rc;
    if ((rc = open_container(cur, &ca)) || (rc = doc_builder_begin_array(b)))
        return rc;
    for (uint32_t i = 0; i < ca.count; i++) {
        doc_val e;
        if (doc_container_elem(&ca, i, NULL, NULL, &e))
            return corrupt();
        int m = pull_matches(op, e);
        if (m < 0)
            return m;
        if (!m && (rc = doc_builder_copy(b, e)))
            return rc;
    }
    return doc_builder_end(b);
}

/* Apply a leaf's operation to cur (NULL: the field is missing) and write
 * the result, with its key, into slot s; or write nothing when the field is
 * to stay missing or be removed. */
static int apply_leaf(apply_ctx *c, const upd_op *op, const doc_val *cur, const slot *s)
{
    doc_builder *b = c->b;
    int rc;
    switch (op->kind) {
    case UPD_UNSET:
        if (!cur)
            return 0;
        if (!s->in_array) {
            c->changed = true;
            return 0;
        }
        break;
    case UPD_PULL:
        if (!cur)
            return 0;
        if (doc_type(*cur) != DOC_ARRAY)
            return diag_set(BURROW_ETYPE, "update: $pull needs an array at '%.*s', found %s",
                            msg_len(op->text_len), op->text, type_name(*cur));
        break;
    default: break;
    }
    if ((rc = put_key(b, s)))
        return rc;
    size_t start = b->out.size;
    switch (op->kind) {
    case UPD_SET: rc = doc_builder_copy(b, op->arg); break;
    case UPD_UNSET: rc = doc_builder_null(b); break; /* an array element */
    case UPD_INC:
    case UPD_MUL: rc = arith(c, op, cur); break;
    case UPD_MIN:
    case UPD_MAX: {
        bool take = !cur;
        if (cur) {
            int r = doc_compare(op->arg, *cur);
            take = op->kind == UPD_MIN ? r < 0 : r > 0;
        }
        rc = doc_builder_copy(b, take ? op->arg : *cur);
        break;
    }
    case UPD_PUSH: rc = push(c, op, cur); break;
    case UPD_PULL: rc = pull(c, op, *cur); break;
    }
    if (rc)
        return rc;
    note_change(c, start, cur);
    return 0;
}

static int apply_at(apply_ctx *c, const upd_node *node, const doc_val *cur, const slot *s);

static const upd_node *find_kid(const upd_node *node, const char *k, size_t kl)
{
    uint32_t lo = 0, hi = node->nkids;
    int64_t ik = hi ? step_index(k, kl) : -1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const upd_node *kid = &node->kids[mid];
        int r = step_order(kid->name, kid->len, kid->index, k, kl, ik);
        if (r == 0)
            return kid;
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* "cannot create field 'b' in 'a' of type int": node's value (cur) is a
 * scalar or an array and kid must be created inside it. */
static int cannot_create(const upd_node *node, const upd_node *kid, doc_val cur)
{
    char where[MSG_PATH_MAX + 1];
    prefix_text(node->op, node->depth, where, sizeof where);
    return diag_set(BURROW_ETYPE, "update: cannot create field '%.*s' in '%s' of type %s",
                    msg_len(kid->len), kid->name, where, type_name(cur));
}

static int seen_push(apply_ctx *c, uint32_t n, size_t *base)
{
    if (c->seen_cap - c->seen_top < n) {
        size_t cap = c->seen_cap * 2 > c->seen_top + n ? c->seen_cap * 2 : c->seen_top + n;
        uint8_t *p = c->seen == c->local ? malloc(cap) : realloc(c->seen, cap);
        if (!p)
            return BURROW_ENOMEM;
        if (c->seen == c->local)
            memcpy(p, c->local, c->seen_top);
        c->seen = p;
        c->seen_cap = cap;
    }
    *base = c->seen_top;
    memset(c->seen + c->seen_top, 0, n);
    c->seen_top += n;
    return 0;
}

/* n more entries on the ord stack; *base is where they start. Entries are
 * addressed by index: a deeper push may move the stack. */
static int ord_push(apply_ctx *c, size_t n, size_t *base)
{
    if (c->ord_cap - c->ord_top < n) {
        size_t cap = c->ord_cap * 2 > c->ord_top + n ? c->ord_cap * 2 : c->ord_top + n;
        uint32_t *p = c->ord == c->ord_local ? malloc(cap * sizeof *p)
                                             : realloc(c->ord, cap * sizeof *p);
        if (!p)
            return BURROW_ENOMEM;
        if (c->ord == c->ord_local)
            memcpy(p, c->ord_local, c->ord_top * sizeof *p);
        c->ord = p;
        c->ord_cap = cap;
    }
    *base = c->ord_top;
    c->ord_top += n;
    return 0;
}

/* The key order of the object rebuilt from src (which has a sorted table):
 * its entries that were kept, by their sorted table; where[i] is the
 * result index of src's entry i, or UINT32_MAX when it was removed. The
 * entries created after them are not in it. Written to order[0, *n); false
 * when src's table is damaged (the builder then sorts). The builder checks
 * the order it is given, so this only has to be right to be fast. */
static bool kept_order(const doc_container *src, const uint32_t *where, uint32_t *order,
                       uint32_t *n)
{
    uint32_t m = 0;
    for (uint32_t j = 0; j < src->count; j++) {
        uint32_t idx;
        if (doc_container_sorted_at(src, j, &idx))
            return false;
        if (where[idx] != UINT32_MAX)
            order[m++] = where[idx];
    }
    *n = m;
    return true;
}

/*
 * Rebuild object obj with node's kids applied. An object with a sorted
 * table keeps its key order: the entries stay in stored order, and the
 * result's sorted table is the input's less what was removed (plus what was
 * created, merged in by the builder), so it is not sorted again.
 */
static int apply_object(apply_ctx *c, const upd_node *node, doc_val obj)
{
    doc_builder *b = c->b;
    doc_container oc;
    size_t base, obase = 0;
    int rc;
    if ((rc = open_container(obj, &oc)) || (rc = seen_push(c, node->nkids, &base)) ||
        (rc = doc_builder_begin_object(b)))
        return rc;
    /* ord[obase, +n): where each entry went; [obase + n, +n): the order. */
    bool keep_order = oc.sorted != NULL;
    if (keep_order && (rc = ord_push(c, 2 * (size_t)oc.count, &obase)))
        return rc;
    uint32_t written = 0;
    for (uint32_t i = 0; i < oc.count; i++) {
        const char *k;
        size_t kl;
        doc_val v;
        if (doc_container_elem(&oc, i, &k, &kl, &v))
            return corrupt();
        const upd_node *kid = find_kid(node, k, kl);
        bool kept = true;
        if (!kid) {
            if ((rc = doc_builder_copy_entry(b, k, kl, v)))
                return rc;
        } else {
            c->seen[base + (size_t)(kid - node->kids)] = 1;
            slot s = {k, kl, false};
            if ((rc = apply_at(c, kid, &v, &s)))
                return rc;
            /* The one way an entry of an object is not rewritten. */
            kept = !(kid->leaf && kid->op->kind == UPD_UNSET);
        }
        if (keep_order)
            c->ord[obase + i] = kept ? written : UINT32_MAX;
        written += kept;
    }
    for (uint32_t i = 0; i < node->nkids; i++) {
        const upd_node *kid = &node->kids[i];
        if (c->seen[base + i] || !kid->creates)
            continue;
        slot s = {kid->name, kid->len, false};
        if ((rc = apply_at(c, kid, NULL, &s)))
            return rc;
    }
    c->seen_top = base;
    if (!keep_order)
        return doc_builder_end(b);
    uint32_t norder, *where = c->ord + obase, *order = where + oc.count;
    if (kept_order(&oc, where, order, &norder))
        rc = doc_builder_end_sorted(b, order, norder);
    else
        rc = doc_builder_end(b);
    c->ord_top = obase;
    return rc;
}

static int apply_array(apply_ctx *c, const upd_node *node, doc_val arr)
{
    doc_builder *b = c->b;
    doc_container ac;
    int rc;
    if ((rc = open_container(arr, &ac)))
        return rc;
    uint32_t n = ac.count;
    /* A named field cannot be made in an array; removing one is a no-op. */
    for (uint32_t i = 0; i < node->nkids; i++)
        if (node->kids[i].index < 0 && node->kids[i].creates)
            return cannot_create(node, &node->kids[i], arr);
    if ((rc = doc_builder_begin_array(b)))
        return rc;
    const slot s = {NULL, 0, true};
    uint32_t j = 0;
    for (uint32_t i = 0; i < n; i++) {
        doc_val e;
        if (doc_container_elem(&ac, i, NULL, NULL, &e))
            return corrupt();
        const upd_node *kid = j < node->nindexed ? &node->kids[j] : NULL;
        if (kid && kid->index == (int64_t)i) {
            j++;
            rc = apply_at(c, kid, &e, &s);
        } else {
            rc = doc_builder_copy(b, e);
        }
        if (rc)
            return rc;
    }
    /* Kids past the end: pad with nulls up to the last one that creates. */
    int64_t last = -1;
    for (uint32_t k = node->nindexed; k > j; k--) {
        const upd_node *kid = &node->kids[k - 1];
        if (kid->creates) {
            last = kid->index;
            break;
        }
    }
    if (last >= 0) {
        if (last - (int64_t)n > DOC_UPDATE_MAX_PAD) {
            char where[MSG_PATH_MAX + 1];
            prefix_text(node->op, node->depth, where, sizeof where);
            return diag_set(BURROW_ERANGE,
                            "update: index %lld of '%s' would pad the array with more than %d "
                            "nulls",
                            (long long)last, where, DOC_UPDATE_MAX_PAD);
        }
        c->changed = true;
        for (int64_t i = n; i <= last; i++) {
            const upd_node *kid = j < node->nindexed ? &node->kids[j] : NULL;
            if (kid && kid->index == i) {
                j++;
                if (kid->creates) {
                    if ((rc = apply_at(c, kid, NULL, &s)))
                        return rc;
                    continue;
                }
            }
            if ((rc = doc_builder_null(b)))
                return rc;
        }
    }
    return doc_builder_end(b);
}

/* Apply the operations below node to cur (NULL: missing), writing the
 * result into slot s. */
static int apply_at(apply_ctx *c, const upd_node *node, const doc_val *cur, const slot *s)
{
    doc_builder *b = c->b;
    int rc;
    if (node->leaf)
        return apply_leaf(c, node->op, cur, s);
    if (!cur) {
        /* Create the missing object with what its kids create: their names
         * are unique (compile merged equal steps into one kid). */
        if (!node->creates)
            return 0;
        if ((rc = put_key(b, s)) || (rc = doc_builder_begin_object_unique(b)))
            return rc;
        for (uint32_t i = 0; i < node->nkids; i++) {
            const upd_node *kid = &node->kids[i];
            slot ks = {kid->name, kid->len, false};
            if (kid->creates && (rc = apply_at(c, kid, NULL, &ks)))
                return rc;
        }
        c->changed = true;
        return doc_builder_end(b);
    }
    switch (doc_type(*cur)) {
    case DOC_OBJECT:
        if ((rc = put_key(b, s)))
            return rc;
        return apply_object(c, node, *cur);
    case DOC_ARRAY:
        if ((rc = put_key(b, s)))
            return rc;
        return apply_array(c, node, *cur);
    default:
        /* Through a scalar: operations that create fail, the rest find
         * nothing to do. */
        if (node->creates) {
            for (uint32_t i = 0; i < node->nkids; i++)
                if (node->kids[i].creates)
                    return cannot_create(node, &node->kids[i], *cur);
        }
        if ((rc = put_key(b, s)))
            return rc;
        return doc_builder_copy(b, *cur);
    }
}

int doc_update_apply(const doc_update *u, doc_val root, doc_builder *b, bool *changed)
{
    assert(u && b && changed);
    *changed = false;
    if (doc_type(root) != DOC_OBJECT)
        return diag_set(BURROW_ETYPE, "update: the document is not an object but %s",
                        type_name(root));
    apply_ctx c; /* the two local arrays are scratch: not cleared */
    c.b = b;
    c.changed = false;
    c.seen_top = 0;
    c.ord_top = 0;
    c.seen = c.local;
    c.seen_cap = sizeof c.local;
    c.ord = c.ord_local;
    c.ord_cap = sizeof c.ord_local / sizeof *c.ord_local;
    int rc = doc_builder_begin(b);
    if (!rc)
        rc = apply_object(&c, &u->nodes[0], root);
    if (c.seen != c.local)
        free(c.seen);
    if (c.ord != c.ord_local)
        free(c.ord);
    if (!rc)
        rc = b->err;
    *changed = c.changed;
    return rc;
}
