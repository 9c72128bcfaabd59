/*
 * keyenc.c — the order-preserving encoding of values for index keys.
 *
 * An index key is the encoding of one or more field values followed by a
 * document id, compared by the B+tree with memcmp. So the encoding must
 * (1) order like doc_compare: memcmp(enc(a), enc(b)) has the sign of
 * doc_compare(a, b), and equal values encode identically; and (2) be
 * self-delimiting: no encoding is a prefix of another, and doc_key_size
 * finds where one ends whatever bytes follow it.
 *
 * The format (also in doc.h):
 *   0x08 missing (a field that is not there; sorts below null)
 *   0x10 null, 0x20 false, 0x30 true
 *   0x40 number: 8 bytes: the value rounded to a double, big-endian, with
 *        the sign bit flipped (negatives: all bits flipped), so unsigned
 *        byte order is numeric order; -0.0 is written as 0.0. Then 2 bytes
 *        big-endian: (exact value - that double) + 0x8000. Only an int64 a
 *        double cannot hold has a non-zero difference; it is at most half
 *        the spacing of doubles near 2^63 (512), and rounding is monotone,
 *        so (double, difference) orders like the exact value.
 *   0x50 string: its bytes with 0x00 written as 0x00 0xFF, then 0x00 0x01.
 *        A content byte is never 0x00 alone, so the end sorts below any
 *        continuation: shorter first on a common prefix.
 *   0x60 array: the elements' encodings, then 0x00 (below every tag, so a
 *        shorter array sorts first).
 *   0x70 object: per entry in key order, the key escaped as a string
 *        (without the 0x50) and the value's encoding; then 0x00 0x00. A key
 *        starts with a non-zero byte, 0x00 0x01 (the empty key) or 0x00 0xFF
 *        (a key that starts with NUL), so the end is unambiguous and sorts
 *        below every entry.
 *
 * Damaged values encode the way doc_compare orders them (compare.c): an
 * invalid tag or truncated scalar as null, an unreadable container as empty.
 */
#include <string.h>

#include "base/endian.h"
#include "doc/doc.h"
#include "doc/keyorder.h"

enum {
    KEY_NULL = 0x10,
    KEY_FALSE = 0x20,
    KEY_TRUE = 0x30,
    KEY_NUMBER = 0x40,
    KEY_STRING = 0x50,
    KEY_ARRAY = 0x60,
    KEY_OBJECT = 0x70,
    KEY_END = 0x00,
    KEY_ESCAPE = 0xFF,    /* 0x00 0xFF: a 0x00 content byte */
    KEY_STR_END = 0x01,   /* 0x00 0x01: end of a string */
    KEY_NUMBER_SIZE = 11, /* tag, 8 bytes of double, 2 of difference */
};

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

static void encode_number(uint8_t *p, bool is_int, int64_t i, double d)
{
    int diff = 0;
    if (is_int) {
        d = (double)i;
        /* Round to nearest: |i - d| <= 512 for every int64. INT64_MAX and
         * its neighbours round to 2^63, which no int64 holds. */
        if (d >= 0x1p63)
            diff = (int)(i - INT64_MAX) - 1;
        else
            diff = (int)(i - (int64_t)d);
    }
    if (d == 0)
        d = 0.0;
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    bits = (bits >> 63) ? ~bits : bits | (UINT64_C(1) << 63);
    p[0] = KEY_NUMBER;
    put_be64(p + 1, bits);
    unsigned u = (unsigned)(diff + 0x8000);
    p[9] = (uint8_t)(u >> 8);
    p[10] = (uint8_t)u;
}

/* The bytes of a string or key, escaped, and the end marker. */
static int encode_bytes(const char *s, size_t n, buf *out)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + n;
    int rc;
    while (p < end) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        size_t run = z ? (size_t)(z - p) : (size_t)(end - p);
        if ((rc = buf_append(out, p, run)))
            return rc;
        p += run;
        if (z) {
            static const uint8_t esc[2] = {KEY_END, KEY_ESCAPE};
            if ((rc = buf_append(out, esc, 2)))
                return rc;
            p++;
        }
    }
    static const uint8_t fin[2] = {KEY_END, KEY_STR_END};
    return buf_append(out, fin, 2);
}

static int encode(doc_val v, buf *out, int depth)
{
    int rc;
    switch (doc_type(v)) {
    case DOC_FALSE: return buf_putc(out, KEY_FALSE);
    case DOC_TRUE: return buf_putc(out, KEY_TRUE);
    case DOC_INT:
    case DOC_DOUBLE: {
        int64_t i = 0;
        double d = 0;
        bool is_int = doc_type(v) == DOC_INT;
        if (is_int ? doc_get_int(v, &i) : doc_get_double(v, &d))
            return buf_putc(out, KEY_NULL);
        if ((rc = buf_reserve(out, KEY_NUMBER_SIZE)))
            return rc;
        encode_number(out->data + out->size, is_int, i, d);
        out->size += KEY_NUMBER_SIZE;
        return 0;
    }
    case DOC_STRING: {
        const char *s;
        size_t n;
        if (doc_get_string(v, &s, &n))
            return buf_putc(out, KEY_NULL);
        if ((rc = buf_putc(out, KEY_STRING)))
            return rc;
        return encode_bytes(s, n, out);
    }
    case DOC_ARRAY: {
        if (depth >= DOC_MAX_DEPTH)
            return buf_putc(out, KEY_NULL);
        if ((rc = buf_putc(out, KEY_ARRAY)))
            return rc;
        doc_container c; /* a damaged header: empty */
        doc_container_open(v, &c);
        for (uint32_t i = 0; i < c.count; i++) {
            doc_val e;
            if (doc_container_elem(&c, i, NULL, NULL, &e))
                rc = buf_putc(out, KEY_NULL);
            else
                rc = encode(e, out, depth + 1);
            if (rc)
                return rc;
        }
        return buf_putc(out, KEY_END);
    }
    case DOC_OBJECT: {
        if (depth >= DOC_MAX_DEPTH)
            return buf_putc(out, KEY_NULL);
        if ((rc = buf_putc(out, KEY_OBJECT)))
            return rc;
        doc_keyorder ko;
        doc_keyorder_init(&ko, v);
        for (uint32_t j = 0; j < ko.count; j++) {
            const char *k;
            size_t kl;
            doc_val e;
            if (doc_keyorder_at(&ko, j, &k, &kl, &e)) {
                /* As compare.c sees it: ("", null). */
                static const uint8_t damaged[3] = {KEY_END, KEY_STR_END, KEY_NULL};
                rc = buf_append(out, damaged, sizeof damaged);
            } else if (!(rc = encode_bytes(k, kl, out))) {
                rc = encode(e, out, depth + 1);
            }
            if (rc)
                return rc;
        }
        static const uint8_t fin[2] = {KEY_END, KEY_END};
        return buf_append(out, fin, 2);
    }
    default: return buf_putc(out, KEY_NULL);
    }
}

int doc_key_encode(doc_val v, buf *out)
{
    size_t mark = out->size;
    int rc = encode(v, out, 0);
    if (rc)
        out->size = mark; /* nothing half-written */
    return rc;
}

int doc_key_encode_missing(buf *out) { return buf_putc(out, DOC_KEY_MISSING); }

/* ---- finding the end -------------------------------------------------------- */

/* Past the end marker of the escaped bytes starting at p, or NULL. */
static const uint8_t *skip_bytes(const uint8_t *p, const uint8_t *end)
{
    for (;;) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        if (!z || end - z < 2)
            return NULL;
        if (z[1] == KEY_STR_END)
            return z + 2;
        if (z[1] != KEY_ESCAPE)
            return NULL;
        p = z + 2;
    }
}

/*
 * One pass over the bytes with a stack of the open containers instead of
 * recursion, so damaged input cannot exhaust the C stack; every read is
 * checked against end first. Nesting deeper than DOC_MAX_DEPTH is refused:
 * doc_key_encode never writes it.
 */
size_t doc_key_size(const uint8_t *p, const uint8_t *end)
{
    uint8_t open[DOC_MAX_DEPTH];
    int depth = 0;
    const uint8_t *q = p;
    if (p >= end)
        return 0;
    for (;;) {
        /* q: where a value, or the end of the innermost container, starts. */
        if (depth > 0) {
            bool closed = false;
            if (open[depth - 1] == KEY_ARRAY) {
                if (q >= end)
                    return 0;
                closed = q[0] == KEY_END;
                q += closed;
            } else {
                if (end - q < 2)
                    return 0;
                closed = q[0] == KEY_END && q[1] == KEY_END;
                if (closed)
                    q += 2;
                else if (!(q = skip_bytes(q, end)))
                    return 0; /* the entry's key */
            }
            if (closed) {
                if (--depth == 0)
                    return (size_t)(q - p);
                continue;
            }
        }
        if (q >= end)
            return 0;
        switch (q[0]) {
        case DOC_KEY_MISSING:
            if (depth > 0)
                return 0; /* only ever a whole field */
            q++;
            break;
        case KEY_NULL:
        case KEY_FALSE:
        case KEY_TRUE: q++; break;
        case KEY_NUMBER:
            if (end - q < KEY_NUMBER_SIZE)
                return 0;
            q += KEY_NUMBER_SIZE;
            break;
        case KEY_STRING:
            if (!(q = skip_bytes(q + 1, end)))
                return 0;
            break;
        case KEY_ARRAY:
        case KEY_OBJECT:
            if (depth == DOC_MAX_DEPTH)
                return 0;
            open[depth++] = q[0];
            q++;
            continue;
        default: return 0;
        }
        if (depth == 0)
            return (size_t)(q - p);
    }
}
