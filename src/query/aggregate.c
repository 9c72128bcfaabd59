/*
 * aggregate.c — burrow_aggregate: the documents a filter matches (read
 * through the planner), grouped by the values at some paths, with count,
 * sum, avg, min and max per group.
 *
 * A group's key is the doc_key_encode of its values in order (a missing
 * value as null), so values doc_compare calls equal (1 and 1.0, objects
 * with their keys in another order) fall in one group, and sorting the
 * keys bytewise puts the groups in value order. The group's "_id" shows
 * the values of the first document read into it. Groups live in a hash
 * table; at most AGG_GROUPS_MAX of them.
 *
 * Accumulators, per group:
 *   count  documents in the group
 *   sum    of the values that are numbers (others, and missing ones, are
 *          skipped): integers add exactly (in 128 bits), doubles add as
 *          doubles; the result is an integer when every number was one and
 *          the total fits int64, else a double. 0 when there are none.
 *   avg    that total divided by how many numbers there were, a double;
 *          null when there were none
 *   min    the smallest and largest value in doc_compare order (across
 *   max    types: null < booleans < numbers < strings < arrays < objects);
 *          missing and null values are skipped (MongoDB's $min/$max);
 *          null when there were none
 * A total beyond the double range fails with BURROW_ERANGE.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/hash.h"
#include "query/planner.h"

#define AGG_GROUPS_MAX (1u << 20)
#define AGG_PATHS_MAX 32 /* group paths, and accumulators */

typedef struct acc {
    __int128 isum; /* integers */
    double dsum;   /* doubles */
    uint64_t nnum; /* numbers seen */
    bool any_double;
    buf best; /* min/max: the value as a binary document; empty: none yet */
} acc;

typedef struct agg_group {
    uint64_t hash;
    uint64_t count;
    buf value; /* the "_id": a binary document */
    size_t keylen;
    const uint8_t *key; /* after accs, in the same allocation */
    acc accs[];
} agg_group;

typedef struct agg_ctx {
    doc_path group_paths[AGG_PATHS_MAX];
    size_t ngroup;
    doc_path agg_paths[AGG_PATHS_MAX];
    const burrow_agg *aggs;
    size_t naggs;
    agg_group **slots; /* open addressing */
    size_t cap, n;
    buf key;
    doc_builder b;
} agg_ctx;

static void group_free(agg_group *g, size_t naggs)
{
    for (size_t i = 0; i < naggs; i++)
        buf_free(&g->accs[i].best);
    buf_free(&g->value);
    free(g);
}

static void ctx_free(agg_ctx *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i])
            group_free(c->slots[i], c->naggs);
    free(c->slots);
    for (size_t i = 0; i < c->ngroup; i++)
        doc_path_free(&c->group_paths[i]);
    for (size_t i = 0; i < c->naggs; i++)
        doc_path_free(&c->agg_paths[i]);
    buf_free(&c->key);
    doc_builder_free(&c->b);
}

static const char *op_name(int op)
{
    switch (op) {
    case BURROW_AGG_COUNT: return "count";
    case BURROW_AGG_SUM: return "sum";
    case BURROW_AGG_AVG: return "avg";
    case BURROW_AGG_MIN: return "min";
    default: return "max";
    }
}

/* The output name of accumulator a: "count", "sum(price)", ... */
static int agg_name(const burrow_agg *a, buf *out)
{
    out->size = 0;
    const char *op = op_name(a->op);
    int rc = buf_append(out, op, strlen(op));
    if (!rc && a->op != BURROW_AGG_COUNT && !(rc = buf_putc(out, '(')) &&
        !(rc = buf_append(out, a->path, strlen(a->path))))
        rc = buf_putc(out, ')');
    return rc;
}

static int parse_args(agg_ctx *c, const char *const *group, size_t ngroup, const burrow_agg *aggs,
                      size_t naggs)
{
    if ((ngroup && !group) || (naggs && !aggs))
        return diag_set(BURROW_EINVAL, "aggregate: a count without its array");
    if (ngroup > AGG_PATHS_MAX || naggs > AGG_PATHS_MAX)
        return diag_set(BURROW_EINVAL, "aggregate: at most %d group paths and %d accumulators",
                        AGG_PATHS_MAX, AGG_PATHS_MAX);
    int rc;
    for (size_t i = 0; i < ngroup; i++) {
        if (!group[i])
            return diag_set(BURROW_EINVAL, "aggregate: group path %zu is NULL", i);
        if ((rc = doc_path_parse(group[i], strlen(group[i]), DOC_PATH_DOTTED, &c->group_paths[i])))
            return rc;
        c->ngroup++;
    }
    buf name = {0}, other = {0};
    rc = 0;
    for (size_t i = 0; i < naggs && !rc; i++) {
        const burrow_agg *a = &aggs[i];
        if (a->op < BURROW_AGG_COUNT || a->op > BURROW_AGG_MAX) {
            rc = diag_set(BURROW_EINVAL, "aggregate: unknown operation %d", a->op);
        } else if (a->op != BURROW_AGG_COUNT && !a->path) {
            rc = diag_set(BURROW_EINVAL, "aggregate: %s needs a path", op_name(a->op));
        } else if (a->op != BURROW_AGG_COUNT) {
            rc = doc_path_parse(a->path, strlen(a->path), DOC_PATH_DOTTED, &c->agg_paths[i]);
        }
        c->naggs = i + 1; /* agg_paths[i] is zeroed when not parsed: freeing is safe */
        /* Two accumulators of one name would make an object with a key twice. */
        for (size_t j = 0; j < i && !rc; j++) {
            if ((rc = agg_name(a, &name)) || (rc = agg_name(&aggs[j], &other)))
                break;
            if (name.size == other.size && memcmp(name.data, other.data, name.size) == 0)
                rc = diag_set(BURROW_EINVAL, "aggregate: '%.*s' is asked for twice", (int)name.size,
                              (const char *)name.data);
        }
    }
    buf_free(&name);
    buf_free(&other);
    c->aggs = aggs;
    return rc;
}

static int table_grow(agg_ctx *c)
{
    size_t cap = c->cap ? 2 * c->cap : 64;
    agg_group **s = calloc(cap, sizeof *s);
    if (!s)
        return BURROW_ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        agg_group *g = c->slots[i];
        if (!g)
            continue;
        size_t j = g->hash & (cap - 1);
        while (s[j])
            j = (j + 1) & (cap - 1);
        s[j] = g;
    }
    free(c->slots);
    c->slots = s;
    c->cap = cap;
    return 0;
}

/* The group's "_id": the value, or the array of values. */
static int group_value(agg_ctx *c, const doc_val *vals, const bool *present, buf *out)
{
    doc_builder *b = &c->b;
    doc_builder_begin(b);
    if (c->ngroup == 0)
        doc_builder_null(b);
    if (c->ngroup > 1)
        doc_builder_begin_array(b);
    for (size_t i = 0; i < c->ngroup; i++) {
        if (present[i])
            doc_builder_copy(b, vals[i]);
        else
            doc_builder_null(b);
    }
    if (c->ngroup > 1)
        doc_builder_end(b);
    return doc_builder_take(b, out);
}

/* The group of a document, made when new. */
static int group_of(agg_ctx *c, doc_val root, agg_group **out)
{
    doc_val vals[AGG_PATHS_MAX];
    bool present[AGG_PATHS_MAX];
    c->key.size = 0;
    int rc = 0;
    for (size_t i = 0; i < c->ngroup && !rc; i++) {
        rc = doc_path_get(root, &c->group_paths[i], &vals[i]);
        present[i] = rc == 0;
        if (rc == BURROW_ENOTFOUND) { /* missing groups with null */
            static const uint8_t null_doc[2] = {DOC_FORMAT_VERSION, DOC_TAG_NULL};
            doc_val nv;
            doc_root(null_doc, sizeof null_doc, &nv);
            rc = doc_key_encode(nv, &c->key);
        } else if (!rc) {
            rc = doc_key_encode(vals[i], &c->key);
        }
    }
    if (rc)
        return rc;
    uint64_t h = hash64(c->key.data, c->key.size, 0);
    if (2 * (c->n + 1) > c->cap && (rc = table_grow(c)))
        return rc;
    size_t j = h & (c->cap - 1);
    for (; c->slots[j]; j = (j + 1) & (c->cap - 1)) {
        agg_group *g = c->slots[j];
        if (g->hash == h && g->keylen == c->key.size &&
            (g->keylen == 0 || memcmp(g->key, c->key.data, g->keylen) == 0)) {
            *out = g;
            return 0;
        }
    }
    if (c->n == AGG_GROUPS_MAX)
        return diag_set(BURROW_EINVAL, "aggregate: more than %u groups", AGG_GROUPS_MAX);
    size_t accs = c->naggs * sizeof(acc);
    agg_group *g = calloc(1, sizeof *g + accs + c->key.size);
    if (!g)
        return BURROW_ENOMEM;
    uint8_t *key = (uint8_t *)g->accs + accs;
    if (c->key.size)
        memcpy(key, c->key.data, c->key.size);
    g->key = key;
    g->keylen = c->key.size;
    g->hash = h;
    if ((rc = group_value(c, vals, present, &g->value))) {
        group_free(g, c->naggs);
        return rc;
    }
    c->slots[j] = g;
    c->n++;
    *out = g;
    return 0;
}

static int accumulate(agg_ctx *c, agg_group *g, doc_val root)
{
    g->count++;
    for (size_t i = 0; i < c->naggs; i++) {
        int op = c->aggs[i].op;
        if (op == BURROW_AGG_COUNT)
            continue;
        acc *a = &g->accs[i];
        doc_val v;
        int rc = doc_path_get(root, &c->agg_paths[i], &v);
        if (rc == BURROW_ENOTFOUND)
            continue;
        if (rc)
            return rc;
        if (op == BURROW_AGG_SUM || op == BURROW_AGG_AVG) {
            int64_t iv;
            double dv;
            if (doc_type(v) == DOC_INT && doc_get_int(v, &iv) == 0) {
                a->isum += iv;
                a->nnum++;
            } else if (doc_type(v) == DOC_DOUBLE && doc_get_double(v, &dv) == 0) {
                a->dsum += dv;
                a->any_double = true;
                a->nnum++;
            }
            continue;
        }
        if (doc_type(v) == DOC_NULL)
            continue;
        doc_val best;
        if (a->best.size && (rc = doc_root(a->best.data, a->best.size, &best)))
            return rc;
        if (a->best.size) {
            int cmp = doc_compare(v, best);
            if (op == BURROW_AGG_MIN ? cmp >= 0 : cmp <= 0)
                continue;
        }
        /* Keep a copy: the document is gone at the next read. */
        a->best.size = 0;
        if ((rc = buf_putc(&a->best, DOC_FORMAT_VERSION)) ||
            (rc = buf_append(&a->best, v.p, v.len)))
            return rc;
    }
    return 0;
}

static int group_order(const void *pa, const void *pb)
{
    const agg_group *a = *(const agg_group *const *)pa, *b = *(const agg_group *const *)pb;
    int r = memcmp(a->key, b->key, a->keylen < b->keylen ? a->keylen : b->keylen);
    return r ? r : (a->keylen > b->keylen) - (a->keylen < b->keylen);
}

/* The total of a sum or avg, exactly for integers. */
static long double total(const acc *a) { return (long double)a->isum + (long double)a->dsum; }

static int put_result(agg_ctx *c, const agg_group *g, doc_builder *d, buf *name)
{
    doc_val v;
    int rc = doc_root(g->value.data, g->value.size, &v);
    if (rc)
        return rc;
    doc_builder_begin_object(d);
    doc_builder_key(d, "_id", 3);
    doc_builder_copy(d, v);
    for (size_t i = 0; i < c->naggs; i++) {
        const acc *a = &g->accs[i];
        if ((rc = agg_name(&c->aggs[i], name)))
            return rc;
        doc_builder_key(d, (const char *)name->data, name->size);
        switch (c->aggs[i].op) {
        case BURROW_AGG_COUNT: doc_builder_int(d, (int64_t)g->count); break;
        case BURROW_AGG_SUM:
            if (!a->any_double && a->isum >= INT64_MIN && a->isum <= INT64_MAX)
                doc_builder_int(d, (int64_t)a->isum);
            else if ((rc = doc_builder_double(d, (double)total(a))))
                return diag_set(BURROW_ERANGE, "aggregate: %.*s is beyond the range of a double",
                                (int)name->size, (const char *)name->data);
            break;
        case BURROW_AGG_AVG:
            if (a->nnum == 0)
                doc_builder_null(d);
            else if ((rc = doc_builder_double(d, (double)(total(a) / (long double)a->nnum))))
                return diag_set(BURROW_ERANGE, "aggregate: %.*s is beyond the range of a double",
                                (int)name->size, (const char *)name->data);
            break;
        default:
            if (a->best.size == 0) {
                doc_builder_null(d);
            } else {
                if ((rc = doc_root(a->best.data, a->best.size, &v)))
                    return rc;
                doc_builder_copy(d, v);
            }
        }
    }
    return doc_builder_end(d);
}

/* The groups in key order as a JSON array. */
static int write_groups(agg_ctx *c, burrow_buf *json)
{
    agg_group **v = malloc((c->n ? c->n : 1) * sizeof *v);
    if (!v)
        return BURROW_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i])
            v[n++] = c->slots[i];
    qsort(v, n, sizeof *v, group_order);
    doc_builder d;
    doc_builder_init(&d);
    buf name = {0};
    doc_builder_begin(&d);
    doc_builder_begin_array(&d);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        rc = put_result(c, v[i], &d, &name);
    const uint8_t *data;
    size_t len;
    doc_val root;
    if (!rc && !(rc = doc_builder_end(&d)) && !(rc = doc_builder_finish(&d, &data, &len)) &&
        !(rc = doc_root(data, len, &root))) {
        json->size = 0;
        if (!(rc = json_write(root, 0, NULL, json)) && !(rc = buf_putc(json, 0)))
            json->size--;
    }
    free(v);
    buf_free(&name);
    doc_builder_free(&d);
    return rc;
}

int burrow_aggregate(burrow_txn *txn, const char *coll, const burrow_filter *filter,
                     const char *const *group, size_t ngroup, const burrow_agg *aggs, size_t naggs,
                     burrow_buf *json)
{
    diag_clear();
    if (!txn || !json)
        return diag_set(BURROW_EINVAL, "aggregate: txn and json are required");
    agg_ctx c;
    memset(&c, 0, sizeof c);
    doc_builder_init(&c.b);
    int rc = parse_args(&c, group, ngroup, aggs, naggs);
    if (rc) {
        ctx_free(&c);
        return rc;
    }
    coll_meta *m;
    if ((rc = meta_acquire(txn, coll, &m))) {
        ctx_free(&c);
        return rc;
    }
    const doc_filter *f = (const doc_filter *)filter;
    plan p;
    plan_exec *x = NULL;
    if (!(rc = plan_build(txn, m, f, NULL, 0, false, &p))) {
        if (!(rc = plan_exec_open(txn, m, &p, f, &x))) {
            doc_val root;
            const char *id;
            size_t idlen;
            agg_group *g = NULL;
            while ((rc = plan_exec_next(x, &root, &id, &idlen)) == 0)
                if ((rc = group_of(&c, root, &g)) || (rc = accumulate(&c, g, root)))
                    break;
            if (rc == BURROW_ENOTFOUND)
                rc = write_groups(&c, json);
        }
        plan_exec_close(x);
        plan_free(&p);
    }
    meta_release(txn, m);
    ctx_free(&c);
    return rc;
}
