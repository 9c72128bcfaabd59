/*
 * build.c — writing binary documents front to back (format in doc.h).
 *
 * A container's header is written as a placeholder when it opens; its
 * elements follow as they come, and their start offsets are kept on a side
 * stack (elems). When it closes, the offset table (and, for big objects,
 * the key-sorted table) is appended after the elements and the header is
 * patched. Nothing is ever moved, so building is linear in the output.
 *
 * Closing an object checks its keys for duplicates: pairwise below
 * DOC_SORTED_MIN keys, else by sorting them (a merge sort on keys decoded
 * once into the builder's scratch, which the sorted table needs anyway).
 * doc_builder_end_sorted lets a caller that rebuilds an object hand in the
 * key order it already has; the builder checks that order in one pass
 * instead of sorting. Keys are never trusted to be unique except in an
 * object begun with doc_builder_begin_object_unique, and then only where
 * no sort happens.
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
    free(b->keys);
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
    f->unique = false;
    uint8_t hdr[1 + DOC_HEADER_SIZE] = {tag};
    return put(b, hdr, sizeof hdr);
}

int doc_builder_begin_array(doc_builder *b) { return begin_container(b, DOC_TAG_ARRAY); }

int doc_builder_begin_object(doc_builder *b) { return begin_container(b, DOC_TAG_OBJECT); }

int doc_builder_begin_object_unique(doc_builder *b)
{
    int rc = begin_container(b, DOC_TAG_OBJECT);
    if (!rc)
        b->stack[b->depth - 1].unique = true;
    return rc;
}

/* Key of the object element starting at absolute offset off in out. */
static void key_at(const doc_builder *b, uint32_t off, const char **k, size_t *n)
{
    const uint8_t *p = b->out.data + off;
    if (p[0] < 0x80) { /* most keys are shorter than 128 bytes */
        *k = (const char *)(p + 1);
        *n = p[0];
        return;
    }
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

/*
 * A key decoded once for ordering and duplicate checks: its first 8 bytes
 * as a big-endian integer, zero-padded, so that most comparisons are one
 * integer comparison. Heads that differ order like the keys (a padding
 * zero only ever meets a real byte that is larger, or equal); equal heads
 * of two keys of at most 8 bytes mean one is the other plus NUL bytes, so
 * the shorter is first; otherwise the whole keys decide.
 */
struct doc_sortkey {
    uint64_t head;
    const char *k;
    uint32_t n;   /* key length (a document is at most DOC_MAX_SIZE) */
    uint32_t idx; /* element index in its object */
};
typedef struct doc_sortkey sortkey;

static inline void sortkey_at(const doc_builder *b, uint32_t off, uint32_t idx, sortkey *sk)
{
    const char *k;
    size_t n;
    key_at(b, off, &k, &n);
    const uint8_t *p = (const uint8_t *)k;
    uint64_t h = 0;
    if (n && p + 8 <= b->out.data + b->out.size) {
        /* The value after the key is in out, so these 8 bytes are too. */
        h = __builtin_bswap64(le64_load(p));
        if (n < 8)
            h &= ~UINT64_C(0) << (8 * (8 - n));
    } else {
        for (size_t i = 0; i < n && i < 8; i++)
            h |= (uint64_t)p[i] << (56 - 8 * i);
    }
    sk->head = h;
    sk->k = k;
    sk->n = (uint32_t)n;
    sk->idx = idx;
}

static inline int sortkey_cmp(const sortkey *a, const sortkey *c)
{
    if (a->head != c->head)
        return a->head < c->head ? -1 : 1;
    if (a->n <= 8 && c->n <= 8)
        return (a->n > c->n) - (a->n < c->n);
    return key_order(a->k, a->n, c->k, c->n);
}

#define SORT_RUN 16

static void insertion_sort(sortkey *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        sortkey x = a[i];
        size_t j = i;
        while (j > 0 && sortkey_cmp(&a[j - 1], &x) > 0) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

/* Sort a[0, n) by key, with tmp[0, n) as scratch: runs of SORT_RUN by
 * insertion, then bottom-up merges. The result is in a. */
static void sort_keys(sortkey *a, sortkey *tmp, size_t n)
{
    for (size_t i = 0; i < n; i += SORT_RUN)
        insertion_sort(a + i, n - i < SORT_RUN ? n - i : SORT_RUN);
    sortkey *src = a, *dst = tmp;
    for (size_t w = SORT_RUN; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = sortkey_cmp(&src[j], &src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        sortkey *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

static int duplicate(doc_builder *b, const char *k, size_t n)
{
    return fail(b, diag_set(BURROW_EEXIST, "duplicate key \"%.*s\"", (int)(n > 200 ? 200 : n), k));
}

/* keys[0, n) sorted: the first pair of equal keys is a duplicate. */
static int check_sorted(doc_builder *b, const sortkey *keys, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (sortkey_cmp(&keys[i - 1], &keys[i]) == 0)
            return duplicate(b, keys[i].k, keys[i].n);
    return 0;
}

/* Scratch for 2n keys. */
static int reserve_keys(doc_builder *b, size_t n)
{
    if (b->keys_cap >= 2 * n)
        return 0;
    size_t cap = b->keys_cap ? b->keys_cap : 64;
    while (cap < 2 * n)
        cap *= 2;
    sortkey *p = realloc(b->keys, cap * sizeof *p);
    if (!p)
        return fail(b, BURROW_ENOMEM);
    b->keys = p;
    b->keys_cap = cap;
    return 0;
}

/* Small objects without an order: pairwise on each key's length and head
 * decoded once, so most pairs differ without a memcmp. */
static int check_unique_pairwise(doc_builder *b, const uint32_t *starts, uint32_t n)
{
    sortkey keys[DOC_SORTED_MIN];
    for (uint32_t i = 0; i < n; i++) {
        sortkey_at(b, starts[i], i, &keys[i]);
        for (uint32_t j = 0; j < i; j++)
            if (keys[j].n == keys[i].n && keys[j].head == keys[i].head &&
                memcmp(keys[j].k, keys[i].k, keys[i].n) == 0)
                return duplicate(b, keys[i].k, keys[i].n);
    }
    return 0;
}

/* Does order[0, norder) list elements [0, norder) of the object in strictly
 * increasing key order? Decodes them, in that order, into keys. */
static bool order_holds(const doc_builder *b, const uint32_t *starts, const uint32_t *order,
                        uint32_t norder, sortkey *keys)
{
    for (uint32_t j = 0; j < norder; j++) {
        uint32_t idx = order[j];
        if (idx >= norder)
            return false;
        sortkey_at(b, starts[idx], idx, &keys[j]);
        if (j > 0 && sortkey_cmp(&keys[j - 1], &keys[j]) >= 0)
            return false;
    }
    return true;
}

/*
 * Check the keys of the object of n > 1 elements being closed for
 * duplicates and, when it gets a sorted table (sorted), put them in key
 * order in *out (b->keys, n entries). order/norder: doc_builder_end_sorted's
 * claim, or NULL.
 */
static int order_keys(doc_builder *b, const doc_frame *f, const uint32_t *starts, uint32_t n,
                      const uint32_t *order, uint32_t norder, bool sorted, const sortkey **out)
{
    *out = NULL;
    if (!order || norder > n) {
        if (!sorted)
            return f->unique ? 0 : check_unique_pairwise(b, starts, n);
        order = NULL;
    }
    if (reserve_keys(b, n))
        return b->err;
    sortkey *a = b->keys, *x = b->keys + n;
    int rc;
    if (order && order_holds(b, starts, order, norder, a)) {
        /* a[0, norder) is in key order and unique. The m elements written
         * after them: sorted in x (a's free tail as scratch), then merged
         * in from the back of a, which never overtakes what it reads. */
        uint32_t m = n - norder;
        if (m) {
            for (uint32_t i = 0; i < m; i++)
                sortkey_at(b, starts[norder + i], norder + i, &x[i]);
            sort_keys(x, a + norder, m);
            if ((rc = check_sorted(b, x, m)))
                return rc;
            size_t i = norder, j = m, k = n;
            while (j > 0) {
                int r = i > 0 ? sortkey_cmp(&a[i - 1], &x[j - 1]) : -1;
                if (r == 0)
                    return duplicate(b, x[j - 1].k, x[j - 1].n);
                a[--k] = r > 0 ? a[--i] : x[--j];
            }
        }
        *out = a;
        return 0;
    }
    if (!sorted) /* an order that did not hold, on a small object */
        return check_unique_pairwise(b, starts, n);
    for (uint32_t i = 0; i < n; i++)
        sortkey_at(b, starts[i], i, &a[i]);
    sort_keys(a, x, n);
    if ((rc = check_sorted(b, a, n)))
        return rc;
    *out = a;
    return 0;
}

static void store_width(uint8_t *p, unsigned w, uint32_t v)
{
    switch (w) {
    case 1: p[0] = (uint8_t)v; break;
    case 2: le16_store(p, (uint16_t)v); break;
    default: le32_store(p, v); break;
    }
}

static int end_container(doc_builder *b, const uint32_t *order, uint32_t norder)
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
    const sortkey *keys = NULL; /* sorted: the keys in key order */

    if (f->tag == DOC_TAG_OBJECT && n > 1) {
        int rc = order_keys(b, f, starts, n, order, norder, sorted, &keys);
        if (rc)
            return rc;
    }

    size_t tables = (size_t)n * w * (sorted ? 2 : 1);
    if (elems_len + tables > b->max_size)
        return fail(b, diag_set(BURROW_EVALSIZE, "document larger than %zu bytes", b->max_size));
    if (buf_reserve(&b->out, tables))
        return fail(b, BURROW_ENOMEM);
    uint8_t *t = b->out.data + b->out.size;
    for (uint32_t i = 0; i < n; i++)
        store_width(t + (size_t)i * w, w, (uint32_t)(starts[i] - body));
    if (sorted)
        for (uint32_t i = 0; i < n; i++)
            store_width(t + (size_t)(n + i) * w, w, keys[i].idx);
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

int doc_builder_end(doc_builder *b) { return end_container(b, NULL, 0); }

int doc_builder_end_sorted(doc_builder *b, const uint32_t *order, uint32_t n)
{
    return end_container(b, order, n);
}

int doc_builder_copy(doc_builder *b, doc_val v)
{
    int rc = before_value(b);
    if (rc || (rc = put(b, v.p, v.len)))
        return rc;
    after_value(b);
    return 0;
}

int doc_builder_copy_entry(doc_builder *b, const char *k, size_t n, doc_val v)
{
    if (b->err)
        return b->err;
    if (b->depth == 0 || b->stack[b->depth - 1].tag != DOC_TAG_OBJECT ||
        b->stack[b->depth - 1].want_value)
        return fail(b, diag_set(BURROW_EINVAL, "document builder: key out of place"));
    if (n > b->max_size)
        return fail(b, diag_set(BURROW_EVALSIZE, "document larger than %zu bytes", b->max_size));
    int rc = push_elem(b, b->out.size);
    if (rc)
        return rc;
    /* doc_builder_copy's check, on the size with the key written. */
    size_t h = varint_size(n);
    if (b->out.size + h + n > b->max_size)
        return fail(b, diag_set(BURROW_EVALSIZE, "document larger than %zu bytes", b->max_size));
    if (buf_reserve(&b->out, h + n + v.len))
        return fail(b, BURROW_ENOMEM);
    uint8_t *p = b->out.data + b->out.size;
    varint_put(p, n);
    if (n && k + n == (const char *)v.p) {
        memcpy(p + h, k, n + v.len); /* an entry of a stored object: one copy */
    } else {
        if (n)
            memcpy(p + h, k, n);
        if (v.len)
            memcpy(p + h + n, v.p, v.len);
    }
    b->out.size += h + n + v.len;
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
