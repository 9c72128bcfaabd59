/*
 * output.c — shaping documents for readers: computed fields, projection,
 * and the JSON or binary form asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "query/computed.h"
#include "query/query.h"

#define PROJECTION_MAX 64

struct projection {
    int n;
    doc_path paths[PROJECTION_MAX];
};

void projection_free(projection *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++)
        doc_path_free(&p->paths[i]);
    free(p);
}

int projection_compile(const char *const *fields, size_t n, projection **out)
{
    if (n > PROJECTION_MAX)
        return diag_set(BURROW_EINVAL, "projection: at most %d fields", PROJECTION_MAX);
    projection *p = calloc(1, sizeof *p);
    if (!p)
        return BURROW_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!fields[i]) {
            projection_free(p);
            return diag_set(BURROW_EINVAL, "projection: field %zu is NULL", i);
        }
        int rc = doc_path_parse(fields[i], strlen(fields[i]), DOC_PATH_DOTTED, &p->paths[p->n]);
        if (rc) {
            projection_free(p);
            return rc;
        }
        p->n++;
    }
    *out = p;
    return 0;
}

/* Does step s name the object key k? */
static bool step_names(const doc_step *s, const char *k, size_t kl)
{
    if (s->kind == DOC_STEP_INDEX)
        return false;
    return s->len == kl && memcmp(s->name, k, kl) == 0;
}

static int project_object(doc_builder *b, doc_val obj, const doc_path *const *paths, int n,
                          int depth, bool top);

/* The value v of a field reached by paths (all continuing below depth). */
static int project_below(doc_builder *b, doc_val v, const doc_path *const *paths, int n, int depth)
{
    enum doc_type t = doc_type(v);
    if (t == DOC_OBJECT)
        return project_object(b, v, paths, n, depth, false);
    /* An array: project each object element; keep nothing else. */
    int rc = doc_builder_begin_array(b);
    doc_iter it;
    doc_val e;
    doc_iter_init(&it, v);
    while (!rc && (rc = doc_iter_next(&it, NULL, NULL, &e)) == 1) {
        rc = 0;
        if (doc_type(e) == DOC_OBJECT || doc_type(e) == DOC_ARRAY)
            rc = project_below(b, e, paths, n, depth);
    }
    if (rc < 0)
        return rc;
    return doc_builder_end(b);
}

static int project_object(doc_builder *b, doc_val obj, const doc_path *const *paths, int n,
                          int depth, bool top)
{
    int rc = doc_builder_begin_object(b);
    doc_iter it;
    const char *k;
    size_t kl;
    doc_val v;
    const doc_path *sub[PROJECTION_MAX];
    doc_iter_init(&it, obj);
    while (!rc && (rc = doc_iter_next(&it, &k, &kl, &v)) == 1) {
        rc = 0;
        int ns = 0;
        bool whole = top && kl == 3 && memcmp(k, "_id", 3) == 0;
        for (int i = 0; i < n; i++) {
            const doc_path *p = paths[i];
            if (!step_names(&p->steps[depth], k, kl))
                continue;
            if (p->nsteps == depth + 1)
                whole = true;
            else
                sub[ns++] = p;
        }
        if (whole) {
            if (!(rc = doc_builder_key(b, k, kl)))
                rc = doc_builder_copy(b, v);
        } else if (ns > 0 && (doc_type(v) == DOC_OBJECT || doc_type(v) == DOC_ARRAY)) {
            if (!(rc = doc_builder_key(b, k, kl)))
                rc = project_below(b, v, sub, ns, depth + 1);
        }
    }
    if (rc < 0)
        return rc;
    return doc_builder_end(b);
}

int projection_apply(const projection *p, doc_val root, doc_builder *b)
{
    const doc_path *paths[PROJECTION_MAX];
    int n = 0;
    for (int i = 0; i < p->n; i++)
        if (p->paths[i].nsteps > 0)
            paths[n++] = &p->paths[i];
    int rc = doc_builder_begin(b);
    if (rc)
        return rc;
    if (doc_type(root) != DOC_OBJECT)
        return doc_builder_copy(b, root);
    return project_object(b, root, paths, n, 0, true);
}

static int finish_root(doc_builder *b, doc_val *out)
{
    const uint8_t *d;
    size_t n;
    int rc = doc_builder_finish(b, &d, &n);
    if (rc)
        return rc;
    out->p = d + 1;
    out->len = n - 1;
    return 0;
}

int coll_output(const coll_meta *m, doc_val doc, unsigned flags, const projection *p,
                doc_builder *scratch, buf *out)
{
    doc_val cur = doc;
    doc_builder b2;
    bool have_b2 = false;
    int rc = 0;
    if (m && m->computed && !(flags & BURROW_OUT_RAW)) {
        if ((rc = computed_apply(m->computed, cur, scratch)) || (rc = finish_root(scratch, &cur)))
            return rc;
    }
    if (p) {
        doc_builder_init(&b2);
        have_b2 = true;
        if ((rc = projection_apply(p, cur, &b2)) || (rc = finish_root(&b2, &cur)))
            goto done;
    }
    out->size = 0;
    if (flags & BURROW_OUT_BINARY) {
        if (!(rc = buf_putc(out, DOC_FORMAT_VERSION)))
            rc = buf_append(out, cur.p, cur.len);
    } else {
        rc = json_write(cur, (flags & BURROW_OUT_PRETTY) ? JSON_PRETTY : 0, NULL, out);
        if (!rc && !(rc = buf_putc(out, 0)))
            out->size--;
    }
done:
    if (have_b2)
        doc_builder_free(&b2);
    return rc;
}
