/*
 * value.c — reading binary documents (format in doc.h).
 *
 * Every accessor checks what it reads against the bounds of the value it was
 * given, so a damaged document yields BURROW_ECORRUPT instead of a read
 * outside it. The checks are local (this container's header and offsets);
 * doc_validate() walks a whole document once for callers that take
 * documents from outside.
 *
 * A container is read through a cursor (doc_container): the header is
 * checked once when it is opened, and each element read after that checks
 * only its own offsets, key and value size. The one-shot accessors
 * (doc_array_at, doc_object_get, ...) open a cursor per call; loops open
 * one and keep it.
 */
#include <math.h>
#include <string.h>

#include "base/endian.h"
#include "base/err.h"
#include "doc/doc.h"

static inline uint32_t load_width(const uint8_t *p, unsigned w)
{
    switch (w) {
    case 1: return p[0];
    case 2: return le16_load(p);
    default: return le32_load(p);
    }
}

/* Sizes of the fixed-size values by tag (0: not fixed). */
static const uint8_t fixed_size[DOC_TAG_OBJECT + 1] = {
    [DOC_TAG_NULL] = 1, [DOC_TAG_FALSE] = 1, [DOC_TAG_TRUE] = 1,  [DOC_TAG_INT8] = 2,
    [DOC_TAG_INT16] = 3, [DOC_TAG_INT32] = 5, [DOC_TAG_INT64] = 9, [DOC_TAG_DOUBLE] = 9,
};

size_t doc_value_size(const uint8_t *p, const uint8_t *end)
{
    if (p >= end)
        return 0;
    size_t avail = (size_t)(end - p);
    switch (p[0]) {
    case DOC_TAG_STRING: {
        uint64_t n;
        size_t k = varint_get(p + 1, end, &n);
        if (!k || n > avail - 1 - k)
            return 0;
        return 1 + k + (size_t)n;
    }
    case DOC_TAG_ARRAY:
    case DOC_TAG_OBJECT: {
        if (avail < 1 + DOC_HEADER_SIZE)
            return 0;
        uint32_t body = le32_load(p + 2);
        if (body > avail - 1 - DOC_HEADER_SIZE)
            return 0;
        return 1 + DOC_HEADER_SIZE + (size_t)body;
    }
    default: {
        size_t need = p[0] <= DOC_TAG_OBJECT ? fixed_size[p[0]] : 0;
        return need && avail >= need ? need : 0;
    }
    }
}

/* doc_value_size(p, p + n) == n, for n >= 1: the value exactly fills the
 * slot [p, p + n) of its element. The hot check of every element read, so
 * the common one-byte string length is decoded inline. */
static inline bool fills_slot(const uint8_t *p, size_t n)
{
    uint8_t tag = p[0];
    if (tag < DOC_TAG_STRING)
        return fixed_size[tag] == n;
    if (tag == DOC_TAG_STRING) {
        if (n >= 2 && p[1] < 0x80)
            return p[1] == n - 2;
    } else if (tag == DOC_TAG_ARRAY || tag == DOC_TAG_OBJECT) {
        return n >= 1 + DOC_HEADER_SIZE && le32_load(p + 2) == n - 1 - DOC_HEADER_SIZE;
    }
    return doc_value_size(p, p + n) == n;
}

static const doc_container empty_container = {0};

int doc_container_open(doc_val v, doc_container *c)
{
    *c = empty_container;
    if (v.len < 1 || (v.p[0] != DOC_TAG_ARRAY && v.p[0] != DOC_TAG_OBJECT))
        return BURROW_ETYPE;
    if (v.len < 1 + DOC_HEADER_SIZE)
        return BURROW_ECORRUPT;
    uint8_t tag = v.p[0], flags = v.p[1];
    unsigned wcode = flags & DOC_FLAG_WIDTH_MASK;
    bool sorted = (flags & DOC_FLAG_SORTED) != 0;
    uint32_t body_len = le32_load(v.p + 2), count = le32_load(v.p + 6);
    if (wcode == 3 || (flags & ~(DOC_FLAG_WIDTH_MASK | DOC_FLAG_SORTED)) ||
        (sorted && tag != DOC_TAG_OBJECT))
        return BURROW_ECORRUPT;
    unsigned width = 1u << wcode;
    if ((size_t)body_len != v.len - 1 - DOC_HEADER_SIZE)
        return BURROW_ECORRUPT;
    uint64_t tables = (uint64_t)count * width * (sorted ? 2 : 1);
    /* Every element takes at least one byte, so count <= body_len. */
    if (tables + count > body_len)
        return BURROW_ECORRUPT;
    c->body = v.p + 1 + DOC_HEADER_SIZE;
    c->table = body_len - (uint32_t)tables;
    c->offsets = c->body + c->table;
    c->sorted = sorted ? c->offsets + (size_t)count * width : NULL;
    c->count = count;
    c->width = (uint8_t)width;
    c->tag = tag;
    return 0;
}

/* Element i (< count) of c, checked: its slot [s, e) lies in the elements
 * area and is not empty, the first starts at 0, an object entry's key fits
 * before its value and the value exactly fills the rest. */
static inline __attribute__((always_inline)) int elem_at(const doc_container *c, uint32_t i,
                                                         const char **key, size_t *klen,
                                                         doc_val *out)
{
    unsigned w = c->width;
    const uint8_t *t = c->offsets + (size_t)i * w;
    uint32_t s = load_width(t, w);
    uint32_t e = i + 1 < c->count ? load_width(t + w, w) : c->table;
    if (s >= e || e > c->table || (i == 0 && s != 0))
        return BURROW_ECORRUPT;
    const uint8_t *p = c->body + s, *end = c->body + e;
    if (c->tag == DOC_TAG_OBJECT) {
        uint64_t n;
        size_t k;
        if (p[0] < 0x80) {
            n = p[0];
            k = 1;
        } else if (!(k = varint_get(p, end, &n))) {
            return BURROW_ECORRUPT;
        }
        if (n >= (uint64_t)(end - p) - k)
            return BURROW_ECORRUPT;
        if (key)
            *key = (const char *)(p + k);
        if (klen)
            *klen = (size_t)n;
        p += k + n;
    } else {
        if (key)
            *key = NULL;
        if (klen)
            *klen = 0;
    }
    size_t vlen = (size_t)(end - p);
    if (!fills_slot(p, vlen))
        return BURROW_ECORRUPT;
    out->p = p;
    out->len = vlen;
    return 0;
}

int doc_container_elem(const doc_container *c, uint32_t i, const char **key, size_t *klen,
                       doc_val *val)
{
    if (i >= c->count)
        return BURROW_ENOTFOUND;
    return elem_at(c, i, key, klen, val);
}

int doc_container_sorted_at(const doc_container *c, uint32_t j, uint32_t *index)
{
    if (!c->sorted || j >= c->count)
        return BURROW_ENOTFOUND;
    uint32_t idx = load_width(c->sorted + (size_t)j * c->width, c->width);
    if (idx >= c->count)
        return BURROW_ECORRUPT;
    *index = idx;
    return 0;
}

int doc_root(const void *data, size_t len, doc_val *out)
{
    const uint8_t *p = data;
    if (len < 2)
        return diag_set(BURROW_ECORRUPT, "document of %zu bytes is too short", len);
    if (p[0] != DOC_FORMAT_VERSION)
        return diag_set(BURROW_EVERSION, "document format version %u, this build reads %u", p[0],
                        DOC_FORMAT_VERSION);
    if (doc_value_size(p + 1, p + len) != len - 1)
        return diag_set(BURROW_ECORRUPT, "document size does not match its root value");
    out->p = p + 1;
    out->len = len - 1;
    return 0;
}

enum doc_type doc_type(doc_val v)
{
    if (v.len == 0)
        return DOC_INVALID;
    switch (v.p[0]) {
    case DOC_TAG_NULL: return DOC_NULL;
    case DOC_TAG_FALSE: return DOC_FALSE;
    case DOC_TAG_TRUE: return DOC_TRUE;
    case DOC_TAG_INT8:
    case DOC_TAG_INT16:
    case DOC_TAG_INT32:
    case DOC_TAG_INT64: return DOC_INT;
    case DOC_TAG_DOUBLE: return DOC_DOUBLE;
    case DOC_TAG_STRING: return DOC_STRING;
    case DOC_TAG_ARRAY: return DOC_ARRAY;
    case DOC_TAG_OBJECT: return DOC_OBJECT;
    default: return DOC_INVALID;
    }
}

int doc_get_bool(doc_val v, bool *out)
{
    if (v.len < 1 || (v.p[0] != DOC_TAG_TRUE && v.p[0] != DOC_TAG_FALSE))
        return BURROW_ETYPE;
    *out = v.p[0] == DOC_TAG_TRUE;
    return 0;
}

int doc_get_int(doc_val v, int64_t *out)
{
    if (v.len < 2)
        return BURROW_ETYPE;
    switch (v.p[0]) {
    case DOC_TAG_INT8: *out = (int8_t)v.p[1]; return 0;
    case DOC_TAG_INT16:
        if (v.len < 3)
            return BURROW_ECORRUPT;
        *out = (int16_t)le16_load(v.p + 1);
        return 0;
    case DOC_TAG_INT32:
        if (v.len < 5)
            return BURROW_ECORRUPT;
        *out = (int32_t)le32_load(v.p + 1);
        return 0;
    case DOC_TAG_INT64:
        if (v.len < 9)
            return BURROW_ECORRUPT;
        *out = (int64_t)le64_load(v.p + 1);
        return 0;
    default: return BURROW_ETYPE;
    }
}

int doc_get_double(doc_val v, double *out)
{
    if (v.len >= 1 && v.p[0] == DOC_TAG_DOUBLE) {
        if (v.len < 9)
            return BURROW_ECORRUPT;
        uint64_t bits = le64_load(v.p + 1);
        memcpy(out, &bits, 8);
        return 0;
    }
    int64_t i;
    int rc = doc_get_int(v, &i);
    if (rc)
        return rc;
    *out = (double)i;
    return 0;
}

int doc_get_string(doc_val v, const char **s, size_t *n)
{
    if (v.len < 1 || v.p[0] != DOC_TAG_STRING)
        return BURROW_ETYPE;
    uint64_t len;
    size_t k = varint_get(v.p + 1, v.p + v.len, &len);
    if (!k || len != v.len - 1 - k)
        return BURROW_ECORRUPT;
    *s = (const char *)(v.p + 1 + k);
    *n = (size_t)len;
    return 0;
}

uint32_t doc_count(doc_val v)
{
    doc_container c;
    doc_container_open(v, &c); /* on error c is empty */
    return c.count;
}

int doc_array_at(doc_val v, uint32_t i, doc_val *out)
{
    doc_container c;
    if (v.len < 1 || v.p[0] != DOC_TAG_ARRAY)
        return BURROW_ETYPE;
    int rc = doc_container_open(v, &c);
    if (rc)
        return rc;
    return doc_container_elem(&c, i, NULL, NULL, out);
}

int doc_object_at(doc_val v, uint32_t i, const char **key, size_t *klen, doc_val *out)
{
    doc_container c;
    if (v.len < 1 || v.p[0] != DOC_TAG_OBJECT)
        return BURROW_ETYPE;
    int rc = doc_container_open(v, &c);
    if (rc)
        return rc;
    return doc_container_elem(&c, i, key, klen, out);
}

/* Key order of the sorted table: bytewise, shorter first on a common prefix. */
static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int r = memcmp(a, b, alen < blen ? alen : blen);
    if (r)
        return r;
    return alen < blen ? -1 : alen > blen;
}

int doc_container_find(const doc_container *c, const char *key, size_t klen, doc_val *out)
{
    const char *k;
    size_t kl;
    doc_val val;
    int rc;
    if (c->tag != DOC_TAG_OBJECT) /* an array; or empty, from a failed open */
        return c->tag == DOC_TAG_ARRAY ? BURROW_ETYPE : BURROW_ENOTFOUND;
    if (c->sorted) {
        uint32_t lo = 0, hi = c->count;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            uint32_t idx = load_width(c->sorted + (size_t)mid * c->width, c->width);
            if (idx >= c->count)
                return BURROW_ECORRUPT;
            if ((rc = elem_at(c, idx, &k, &kl, &val)))
                return rc;
            int r = key_cmp(k, kl, key, klen);
            if (r == 0) {
                *out = val;
                return 0;
            }
            if (r < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return BURROW_ENOTFOUND;
    }
    /* In stored order, with elem_at's checks on every entry passed: each
     * entry's end is read once and is where the next one starts. */
    unsigned w = c->width;
    uint32_t s = 0, e;
    if (c->count && load_width(c->offsets, w) != 0)
        return BURROW_ECORRUPT;
    for (uint32_t i = 0; i < c->count; i++, s = e) {
        e = i + 1 < c->count ? load_width(c->offsets + (size_t)(i + 1) * w, w) : c->table;
        if (s >= e || e > c->table)
            return BURROW_ECORRUPT;
        const uint8_t *p = c->body + s, *end = c->body + e;
        uint64_t n;
        size_t h;
        if (p[0] < 0x80) {
            n = p[0];
            h = 1;
        } else if (!(h = varint_get(p, end, &n))) {
            return BURROW_ECORRUPT;
        }
        if (n >= (uint64_t)(end - p) - h)
            return BURROW_ECORRUPT;
        const uint8_t *vp = p + h + n;
        if (!fills_slot(vp, (size_t)(end - vp)))
            return BURROW_ECORRUPT;
        if (n == klen && (klen == 0 || (p[h] == (uint8_t)key[0] && memcmp(p + h, key, klen) == 0))) {
            out->p = vp;
            out->len = (size_t)(end - vp);
            return 0;
        }
    }
    return BURROW_ENOTFOUND;
}

int doc_object_get(doc_val v, const char *key, size_t klen, doc_val *out)
{
    doc_container c;
    if (v.len < 1 || v.p[0] != DOC_TAG_OBJECT)
        return BURROW_ETYPE;
    int rc = doc_container_open(v, &c);
    if (rc)
        return rc;
    return doc_container_find(&c, key, klen, out);
}

void doc_iter_init(doc_iter *it, doc_val container_val)
{
    doc_container_open(container_val, &it->c); /* on error: empty */
    it->i = 0;
}

int doc_iter_next(doc_iter *it, const char **key, size_t *klen, doc_val *val)
{
    if (it->i >= it->c.count)
        return 0;
    int rc = elem_at(&it->c, it->i, key, klen, val);
    if (rc)
        return rc;
    it->i++;
    return 1;
}

/* ---- whole-document validation ---------------------------------------- */

/* RFC 3629 UTF-8: no overlongs, no surrogates, nothing above U+10FFFF. */
bool doc_utf8_valid(const void *text, size_t n)
{
    const uint8_t *s = text;
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += len;
    }
    return true;
}

static int validate_value(doc_val v, int depth);

static int validate_object(const doc_container *c, int depth)
{
    const char *k, *pk = NULL;
    size_t kl, pkl = 0;
    doc_val val;
    int rc;
    for (uint32_t i = 0; i < c->count; i++) {
        if ((rc = elem_at(c, i, &k, &kl, &val)))
            return rc;
        if (!doc_utf8_valid(k, kl))
            return diag_set(BURROW_ECORRUPT, "document: key is not valid UTF-8");
        if ((rc = validate_value(val, depth + 1)))
            return rc;
        if (!c->sorted) {
            /* Small objects: pairwise (the builder sorts from DOC_SORTED_MIN up). */
            if (c->count >= DOC_SORTED_MIN)
                return diag_set(BURROW_ECORRUPT, "document: object of %u keys without sorted table",
                                c->count);
            for (uint32_t j = 0; j < i; j++) {
                const char *k2;
                size_t kl2;
                doc_val v2;
                if ((rc = elem_at(c, j, &k2, &kl2, &v2)))
                    return rc;
                if (kl2 == kl && memcmp(k2, k, kl) == 0)
                    return diag_set(BURROW_ECORRUPT, "document: duplicate key");
            }
        }
    }
    if (c->sorted) {
        /* Strictly increasing keys: unique, and the table is a permutation. */
        for (uint32_t j = 0; j < c->count; j++) {
            uint32_t idx;
            if (doc_container_sorted_at(c, j, &idx) || (rc = elem_at(c, idx, &k, &kl, &val)))
                return diag_set(BURROW_ECORRUPT, "document: bad sorted key table");
            if (pk && key_cmp(pk, pkl, k, kl) >= 0)
                return diag_set(BURROW_ECORRUPT, "document: sorted key table out of order");
            pk = k;
            pkl = kl;
        }
    }
    return 0;
}

static int validate_value(doc_val v, int depth)
{
    switch (doc_type(v)) {
    case DOC_NULL:
    case DOC_FALSE:
    case DOC_TRUE:
    case DOC_INT: return doc_value_size(v.p, v.p + v.len) == v.len ? 0 : BURROW_ECORRUPT;
    case DOC_DOUBLE: {
        double d;
        if (v.len != 9 || doc_get_double(v, &d) || !isfinite(d))
            return diag_set(BURROW_ECORRUPT, "document: bad double");
        return 0;
    }
    case DOC_STRING: {
        const char *s;
        size_t n;
        if (doc_get_string(v, &s, &n) || !doc_utf8_valid(s, n))
            return diag_set(BURROW_ECORRUPT, "document: bad string");
        return 0;
    }
    case DOC_ARRAY:
    case DOC_OBJECT: {
        if (depth >= DOC_MAX_DEPTH)
            return diag_set(BURROW_ECORRUPT, "document nests deeper than %d", DOC_MAX_DEPTH);
        doc_container c;
        if (doc_container_open(v, &c))
            return diag_set(BURROW_ECORRUPT, "document: bad container header");
        if (c.tag == DOC_TAG_OBJECT)
            return validate_object(&c, depth);
        for (uint32_t i = 0; i < c.count; i++) {
            doc_val e;
            int rc = elem_at(&c, i, NULL, NULL, &e);
            if (rc)
                return diag_set(BURROW_ECORRUPT, "document: bad array element %u", i);
            if ((rc = validate_value(e, depth + 1)))
                return rc;
        }
        return 0;
    }
    default: return diag_set(BURROW_ECORRUPT, "document: invalid tag 0x%02x", v.len ? v.p[0] : 0);
    }
}

int doc_validate(const void *data, size_t len)
{
    doc_val root;
    int rc = doc_root(data, len, &root);
    if (rc)
        return rc;
    return validate_value(root, 0);
}
