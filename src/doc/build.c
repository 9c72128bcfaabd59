/*
 * build.c — writing binary documents front to back (format in doc.h).
 *
 * A container's header is written as a placeholder when it opens; its
 * elements follow as they come, and their start offsets are kept on a side
 * stack (elems). When it closes, the offset table (and, for big objects,
 * the key-sorted table) is appended after the elements and the header is
 * patched. Nothing is ever moved, so building is linear in the output.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/err.h"
#include "doc/doc.h"

void doc_builder_init(doc_builder *b)
{
    memset(b, 0, sizeof *b);
    b->max_depth = DOC_MAX_DEPTH;
    b->max_size = DOC_MAX_SIZE;
}

void doc_builder_free(doc_builder *b)
{
    buf_free(&b->out);
    free(b->elems);
    free(b->stack);
    doc_builder_init(b);
}

static int fail(doc_builder *b, int err)
{
    if (!b->err)
        b->err = err;
    return b->err;
}

int doc_builder_begin(doc_builder *b)
{
    b->out.size = 0;
    b->nelems = 0;
    b->depth = 0;
    b->err = 0;
    b->done = false;
    if (b->max_depth <= 0 || b->max_depth > DOC_MAX_DEPTH)
        b->max_depth = DOC_MAX_DEPTH;
    if (b->max_size == 0 || b->max_size > DOC_MAX_SIZE)
        b->max_size = DOC_MAX_SIZE;
    if (buf_putc(&b->out, DOC_FORMAT_VERSION))
        return fail(b, BURROW_ENOMEM);
    return 0;
}

static int push_elem(doc_builder *b, size_t start)
{
    if (b->nelems == b->elems_cap) {
        size_t cap = b->elems_cap ? b->elems_cap * 2 : 64;
        uint32_t *p = realloc(b->elems, cap * sizeof *p);
        if (!p)
            return fail(b, BURROW_ENOMEM);
        b->elems = p;
        b->elems_cap = cap;
    }
    b->elems[b->nelems++] = (uint32_t)start;
    return 0;
}

/* Called before every value: checks the state and records where the value
 * starts when it is an array element. */
static int before_value(doc_builder *b)
{
    if (b->err)
        return b->err;
    if (b->done || b->out.size == 0)
        return fail(b, diag_set(BURROW_EINVAL, "document builder: value out of place"));
    if (b->out.size > b->max_size)
        return fail(b, diag_set(BURROW_EVALSIZE, "document larger than %zu bytes", b->max_size));
    if (b->depth == 0)
        return 0;
    doc_frame *f = &b->stack[b->depth - 1];
    if (f->tag == DOC_TAG_ARRAY)
        return push_elem(b, b->out.size);
    if (!f->want_value)
        return fail(b, diag_set(BURROW_EINVAL, "document builder: object value without a key"));
    f->want_value = false;
    return 0;
}

static inline void after_value(doc_builder *b)
{
    if (b->depth == 0)
        b->done = true;
}

static int put(doc_builder *b, const void *p, size_t n)
{
    if (buf_append(&b->out, p, n))
        return fail(b, BURROW_ENOMEM);
    return 0;
}

static int scalar(doc_builder *b, const uint8_t *bytes, size_t n)
{
    int rc = before_value(b);
    if (rc || (rc = put(b, bytes, n)))
        return rc;
    after_value(b);
    return 0;
}

int doc_builder_null(doc_builder *b)
{
    uint8_t t = DOC_TAG_NULL;
    return scalar(b, &t, 1);
}

int doc_builder_bool(doc_builder *b, bool v)
{
    uint8_t t = v ? DOC_TAG_TRUE : DOC_TAG_FALSE;
    return scalar(b, &t, 1);
}

int doc_builder_int(doc_builder *b, int64_t v)
{
    uint8_t tmp[9];
    size_t n;
    if (v >= INT8_MIN && v <= INT8_MAX) {
        tmp[0] = DOC_TAG_INT8;
        tmp[1] = (uint8_t)v;
        n = 2;
    } else if (v >= INT16_MIN && v <= INT16_MAX) {
        tmp[0] = DOC_TAG_INT16;
        le16_store(tmp + 1, (uint16_t)v);
        n = 3;
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        tmp[0] = DOC_TAG_INT32;
        le32_store(tmp + 1, (uint32_t)v);
        n = 5;
    } else {
        tmp[0] = DOC_TAG_INT64;
        le64_store(tmp + 1, (uint64_t)v);
        n = 9;
    }
    return scalar(b, tmp, n);
}

int doc_builder_double(doc_builder *b, double v)
{
    if (!isfinite(v))
        return fail(b, diag_set(BURROW_ERANGE, "number is not finite"));
    uint8_t tmp[9];
    uint64_t bits;
    memcpy(&bits, &v, 8);
    tmp[0] = DOC_TAG_DOUBLE;
    le64_store(tmp + 1, bits);
    return scalar(b, tmp, 9);
}

/* varint length + bytes, with an optional leading tag. */
static int put_string(doc_builder *b, int tag, const char *s, size_t n)
{
    if (n > b->max_size)
        return fail(b, diag_set(BURROW_EVALSIZE, "document larger than %zu bytes", b->max_size));
    if (buf_reserve(&b->out, 1 + 10 + n))
        return fail(b, BURROW_ENOMEM);
    uint8_t *p = b->out.data + b->out.size;
    size_t k = 0;
    if (tag >= 0)
        p[k++] = (uint8_t)tag;
    k += varint_put(p + k, n);
    if (n)
        memcpy(p + k, s, n);
    b->out.size += k + n;
    return 0;
}

int doc_builder_string(doc_builder *b, const char *s, size_t n)
{
    int rc = before_value(b);
    if (rc || (rc = put_string(b, DOC_TAG_STRING, s, n)))
        return rc;
    after_value(b);
    return 0;
}

int doc_builder_key(doc_builder *b, const char *k, size_t n)
{
    if (b->err)
        return b->err;
    if (b->depth == 0 || b->stack[b->depth - 1].tag != DOC_TAG_OBJECT ||
        b->stack[b->depth - 1].want_value)
        return fail(b, diag_set(BURROW_EINVAL, "document builder: key out of place"));
    int rc = push_elem(b, b->out.size);
    if (rc || (rc = put_string(b, -1, k, n)))
        return rc;
    b->stack[b->depth - 1].want_value = true;
    return 0;
}

static int begin_container(doc_builder *b, uint8_t tag)
{
    int rc = before_value(b);
    if (rc)
        return rc;
    if (b->depth >= b->max_depth)
        return fail(b, diag_set(BURROW_EINVAL, "document nests deeper than %d", b->max_depth));
    if (b->depth == b->stack_cap) {
        int cap = b->stack_cap ? b->stack_cap * 2 : 16;
        doc_frame *s = realloc(b->stack, (size_t)cap * sizeof *s);
        if (!s)
            return fail(b, BURROW_ENOMEM);
        b->stack = s;
        b->stack_cap = cap;
    }
    doc_frame *f = &b->stack[b->depth++];
    f->start = b->out.size;
    f->first_elem = b->nelems;
    f->tag = tag;
    f->want_value = false;
    uint8_t hdr[1 + DOC_HEADER_SIZE] = {tag};
    return put(b, hdr, sizeof hdr);
}

int doc_builder_begin_array(doc_builder *b) { return begin_container(b, DOC_TAG_ARRAY); }

int doc_builder_begin_object(doc_builder *b) { return begin_container(b, DOC_TAG_OBJECT); }

/* Key of the object element starting at absolute offset off in out. */
static void key_at(const doc_builder *b, uint32_t off, const char **k, size_t *n)
{
    const uint8_t *p = b->out.data + off;
    uint64_t len = 0;
    size_t h = varint_get(p, b->out.data + b->out.size, &len);
    *k = (const char *)(p + h);
    *n = (size_t)len;
}

static int key_order(const char *a, size_t an, const char *c, size_t cn)
{
    int r = memcmp(a, c, an < cn ? an : cn);
    if (r)
        return r;
    return an < cn ? -1 : an > cn;
}

typedef struct sort_ctx {
    const doc_builder *b;
    const uint32_t *starts;
} sort_ctx;

static int cmp_elem_keys(const void *x, const void *y, void *arg)
{
    const sort_ctx *sc = arg;
    const char *ka, *kb;
    size_t na, nb;
    key_at(sc->b, sc->starts[*(const uint32_t *)x], &ka, &na);
    key_at(sc->b, sc->starts[*(const uint32_t *)y], &kb, &nb);
    return key_order(ka, na, kb, nb);
}

static int duplicate(doc_builder *b, uint32_t off)
{
    const char *k;
    size_t n;
    key_at(b, off, &k, &n);
    return fail(b, diag_set(BURROW_EEXIST, "duplicate key \"%.*s\"", (int)(n > 200 ? 200 : n), k));
}

static void store_width(uint8_t *p, unsigned w, uint32_t v)
{
    switch (w) {
    case 1: p[0] = (uint8_t)v; break;
    case 2: le16_store(p, (uint16_t)v); break;
    default: le32_store(p, v); break;
    }
}

int doc_builder_end(doc_builder *b)
{
    if (b->err)
        return b->err;
    if (b->depth == 0)
        return fail(b, diag_set(BURROW_EINVAL, "document builder: end without a container"));
    doc_frame *f = &b->stack[b->depth - 1];
    if (f->want_value)
        return fail(b, diag_set(BURROW_EINVAL, "document builder: key without a value"));
    size_t body = f->start + 1 + DOC_HEADER_SIZE;
    size_t elems_len = b->out.size - body;
    uint32_t n = (uint32_t)(b->nelems - f->first_elem);
    /* elems is NULL until the first element anywhere: no arithmetic on it. */
    uint32_t *starts = n ? b->elems + f->first_elem : NULL;
    unsigned w = elems_len <= 0xFF ? 1 : elems_len <= 0xFFFF ? 2 : 4;
    unsigned wcode = w == 1 ? 0 : w == 2 ? 1 : 2;
    bool sorted = f->tag == DOC_TAG_OBJECT && n >= DOC_SORTED_MIN;
    uint32_t *order = NULL;

    if (f->tag == DOC_TAG_OBJECT && n > 1) {
        if (sorted) {
            order = malloc((size_t)n * sizeof *order);
            if (!order)
                return fail(b, BURROW_ENOMEM);
            for (uint32_t i = 0; i < n; i++)
                order[i] = i;
            sort_ctx sc = {b, starts};
            qsort_r(order, n, sizeof *order, cmp_elem_keys, &sc);
            for (uint32_t i = 1; i < n; i++) {
                if (cmp_elem_keys(&order[i - 1], &order[i], &sc) == 0) {
                    uint32_t dup = starts[order[i]];
                    free(order);
                    return duplicate(b, dup);
                }
            }
        } else {
            /* Small objects: pairwise, on each key's length and first bytes
             * decoded once, so most pairs differ without a memcmp. */
            struct {
                const char *k;
                size_t n;
                uint64_t head;
            } keys[DOC_SORTED_MIN];
            for (uint32_t i = 0; i < n; i++) {
                key_at(b, starts[i], &keys[i].k, &keys[i].n);
                keys[i].head = 0;
                memcpy(&keys[i].head, keys[i].k, keys[i].n < 8 ? keys[i].n : 8);
                for (uint32_t j = 0; j < i; j++)
                    if (keys[j].n == keys[i].n && keys[j].head == keys[i].head &&
                        memcmp(keys[j].k, keys[i].k, keys[i].n) == 0)
                        return duplicate(b, starts[i]);
            }
        }
    }

    size_t tables = (size_t)n * w * (sorted ? 2 : 1);
    if (elems_len + tables > b->max_size) {
        free(order);
        return fail(b, diag_set(BURROW_EVALSIZE, "document larger than %zu bytes", b->max_size));
    }
    if (buf_reserve(&b->out, tables)) {
        free(order);
        return fail(b, BURROW_ENOMEM);
    }
    uint8_t *t = b->out.data + b->out.size;
    for (uint32_t i = 0; i < n; i++)
        store_width(t + (size_t)i * w, w, (uint32_t)(starts[i] - body));
    if (sorted)
        for (uint32_t i = 0; i < n; i++)
            store_width(t + (size_t)(n + i) * w, w, order[i]);
    free(order);
    b->out.size += tables;

    uint8_t *h = b->out.data + f->start;
    h[1] = (uint8_t)(wcode | (sorted ? DOC_FLAG_SORTED : 0));
    le32_store(h + 2, (uint32_t)(b->out.size - body));
    le32_store(h + 6, n);
    b->nelems = f->first_elem;
    b->depth--;
    after_value(b);
    return 0;
}

int doc_builder_copy(doc_builder *b, doc_val v)
{
    int rc = before_value(b);
    if (rc || (rc = put(b, v.p, v.len)))
        return rc;
    after_value(b);
    return 0;
}

int doc_builder_finish(doc_builder *b, const uint8_t **data, size_t *len)
{
    if (b->err)
        return b->err;
    if (!b->done)
        return diag_set(BURROW_EINVAL, "document builder: document is incomplete");
    if (b->out.size > b->max_size)
        return fail(b, diag_set(BURROW_EVALSIZE, "document larger than %zu bytes", b->max_size));
    *data = b->out.data;
    *len = b->out.size;
    return 0;
}

int doc_builder_take(doc_builder *b, buf *out)
{
    const uint8_t *d;
    size_t n;
    int rc = doc_builder_finish(b, &d, &n);
    if (rc)
        return rc;
    *out = b->out;
    buf_init(&b->out);
    b->done = false;
    return 0;
}
