/*
 * json_write.c — binary documents back to JSON text (contract in doc.h).
 *
 * The writer reads the container layout directly instead of going through
 * doc_iter: it walks each offset table once, in order, and every offset,
 * length and varint is checked against the bounds of the value that holds
 * it (the same local checks as value.c's accessors), so a damaged document
 * gives BURROW_ECORRUPT and never a read outside it. It does not re-check
 * what only doc_validate checks (UTF-8, unique keys, the sorted table):
 * string bytes are copied as they are.
 *
 * Output goes straight into the caller's buffer: each step makes room for
 * what it may write (buf_reserve grows by doubling) and then stores without
 * further checks. Strings are copied in runs of bytes that need no escape,
 * found eight bytes at a time.
 *
 * Layout with a format (RedisJSON's JSON.GET INDENT/NEWLINE/SPACE shape):
 * every element of a non-empty container starts on newline + indent x
 * (its depth); the closing bracket follows newline + indent x (the
 * container's depth); empty containers print as [] and {}; ':' is followed
 * by space. Without a format (and without JSON_PRETTY) all three are empty:
 * the canonical compact form.
 */
#include <math.h>
#include <string.h>

#include "base/endian.h"
#include "base/err.h"
#include "doc/doc.h"
#include "doc/dtoa.h"

typedef struct json_writer {
    buf *out;
    const uint8_t *base; /* start of the value given to json_write, for messages */
    const char *indent, *newline, *space;
    size_t indent_len, newline_len, space_len;
    bool layout; /* any of indent, newline, space is non-empty */
} json_writer;

/* What follows the backslash for each byte that needs an escape, 0 for the
 * bytes copied as they are; 'u' means \u00XX. */
static const uint8_t escape_table[256] = {
    ['\0'] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u',
    [0x06] = 'u', [0x07] = 'u', ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', [0x0b] = 'u',
    ['\f'] = 'f', ['\r'] = 'r', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u', [0x11] = 'u',
    [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u', [0x16] = 'u', [0x17] = 'u',
    [0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u', [0x1d] = 'u',
    [0x1e] = 'u', [0x1f] = 'u', ['"'] = '"', ['\\'] = '\\',
};

static const char hex_digits[] = "0123456789abcdef";

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Non-zero when one of the 8 bytes of x is < 0x20, '"' or '\\'. Exact as a
 * yes/no answer (the borrow tricks may blur which byte, never whether). */
static inline uint64_t word_needs_escape(uint64_t x)
{
    uint64_t ctl = (x - ONES * 0x20) & ~x;
    uint64_t quote = x ^ (ONES * '"');
    uint64_t bslash = x ^ (ONES * '\\');
    quote = (quote - ONES) & ~quote;
    bslash = (bslash - ONES) & ~bslash;
    return (ctl | quote | bslash) & HIGHS;
}

static int corrupt(const json_writer *w, const uint8_t *at, const char *what)
{
    return diag_set(BURROW_ECORRUPT, "json_write: byte %zu of the value: %s",
                    (size_t)(at - w->base), what);
}

/* Room for n more bytes; returns where they go, or NULL (ENOMEM). */
static inline uint8_t *room(json_writer *w, size_t n)
{
    if (buf_reserve(w->out, n))
        return NULL;
    return w->out->data + w->out->size;
}

/* The string s of n bytes, quoted and escaped; leaves room for extra more
 * bytes after it. */
static int write_string(json_writer *w, const uint8_t *s, size_t n, size_t extra)
{
    /* Invariant: room for the unwritten input as it is, plus the closing
     * quote and extra; an escape grows the output, so it makes room again. */
    uint8_t *o = room(w, n + 2 + extra);
    if (!o)
        return BURROW_ENOMEM;
    *o++ = '"';
    const uint8_t *p = s, *end = s + n;
    for (;;) {
        const uint8_t *run = p;
        while (end - p >= 8) {
            uint64_t x;
            memcpy(&x, p, 8);
            if (word_needs_escape(x))
                break;
            p += 8;
        }
        while (p < end && !escape_table[*p])
            p++;
        memcpy(o, run, (size_t)(p - run));
        o += p - run;
        if (p == end)
            break;
        w->out->size = (size_t)(o - w->out->data);
        if (!(o = room(w, 6 + (size_t)(end - p) + 1 + extra)))
            return BURROW_ENOMEM;
        uint8_t c = *p++, e = escape_table[c];
        o[0] = '\\';
        o[1] = e;
        if (e == 'u') {
            memcpy(o + 2, "00", 2);
            o[4] = (uint8_t)hex_digits[c >> 4];
            o[5] = (uint8_t)hex_digits[c & 15];
            o += 6;
        } else {
            o += 2;
        }
    }
    *o++ = '"';
    w->out->size = (size_t)(o - w->out->data);
    return 0;
}

/* newline, then indent depth times */
static int write_break(json_writer *w, int depth)
{
    uint8_t *o = room(w, w->newline_len + w->indent_len * (size_t)depth);
    if (!o)
        return BURROW_ENOMEM;
    memcpy(o, w->newline, w->newline_len);
    o += w->newline_len;
    for (int i = 0; i < depth; i++) {
        memcpy(o, w->indent, w->indent_len);
        o += w->indent_len;
    }
    w->out->size = (size_t)(o - w->out->data);
    return 0;
}

static inline size_t load_width(const uint8_t *p, unsigned width)
{
    switch (width) {
    case 1: return p[0];
    case 2: return le16_load(p);
    default: return le32_load(p);
    }
}

/* Longest scalar text: "-1.2345678901234567e-308" (24), "-9223372036854775808" */
#define SCALAR_ROOM 32

static inline size_t int_text(uint8_t *o, int64_t i)
{
    /* negate in unsigned arithmetic: INT64_MIN has no positive int64 */
    uint64_t u = (uint64_t)i;
    if (i >= 0)
        return dtoa_u64((char *)o, u);
    *o = '-';
    return 1 + dtoa_u64((char *)o + 1, 0 - u);
}

/* The text of the scalar [p, p+len) at o (SCALAR_ROOM bytes of room): its
 * length, or 0 when the value is malformed (or not a scalar). */
static inline size_t scalar_text(uint8_t *o, const uint8_t *p, size_t len)
{
    switch (p[0]) {
    case DOC_TAG_NULL:
        memcpy(o, "null", 4);
        return len == 1 ? 4 : 0;
    case DOC_TAG_FALSE:
        memcpy(o, "false", 5);
        return len == 1 ? 5 : 0;
    case DOC_TAG_TRUE:
        memcpy(o, "true", 4);
        return len == 1 ? 4 : 0;
    case DOC_TAG_INT8: return len == 2 ? int_text(o, (int8_t)p[1]) : 0;
    case DOC_TAG_INT16: return len == 3 ? int_text(o, (int16_t)le16_load(p + 1)) : 0;
    case DOC_TAG_INT32: return len == 5 ? int_text(o, (int32_t)le32_load(p + 1)) : 0;
    case DOC_TAG_INT64: return len == 9 ? int_text(o, (int64_t)le64_load(p + 1)) : 0;
    case DOC_TAG_DOUBLE: {
        double d;
        if (len != 9)
            return 0;
        memcpy(&d, p + 1, 8);
        return isfinite(d) ? json_format_double(d, (char *)o) : 0;
    }
    default: return 0;
    }
}

static int write_value(json_writer *w, const uint8_t *p, size_t len, int depth);

static int write_container(json_writer *w, const uint8_t *p, size_t len, int depth)
{
    if (depth >= DOC_MAX_DEPTH)
        return corrupt(w, p, "containers nest deeper than DOC_MAX_DEPTH");
    if (len < 1 + DOC_HEADER_SIZE)
        return corrupt(w, p, "truncated container header");
    bool object = p[0] == DOC_TAG_OBJECT;
    uint8_t flags = p[1];
    unsigned wcode = flags & DOC_FLAG_WIDTH_MASK;
    bool sorted = (flags & DOC_FLAG_SORTED) != 0;
    if (wcode == 3 || (flags & ~(DOC_FLAG_WIDTH_MASK | DOC_FLAG_SORTED)) || (sorted && !object))
        return corrupt(w, p, "bad container flags");
    unsigned width = 1u << wcode;
    uint32_t body_len = le32_load(p + 2), count = le32_load(p + 6);
    if ((size_t)body_len != len - 1 - DOC_HEADER_SIZE)
        return corrupt(w, p, "container length does not match its slot");
    uint64_t tables = (uint64_t)count * width * (sorted ? 2 : 1);
    if (tables + count > body_len) /* every element takes at least a byte */
        return corrupt(w, p, "container count does not fit its body");
    const uint8_t *body = p + 1 + DOC_HEADER_SIZE;
    size_t elems_len = body_len - (size_t)tables;
    const uint8_t *offsets = body + elems_len;
    uint8_t open = object ? '{' : '[', close = object ? '}' : ']';

    uint8_t *o = room(w, 2);
    if (!o)
        return BURROW_ENOMEM;
    *o++ = open;
    if (count == 0) {
        *o++ = close;
        w->out->size += 2;
        return 0;
    }
    w->out->size += 1;
    if (load_width(offsets, width) != 0)
        return corrupt(w, offsets, "first element offset is not 0");
    size_t start = 0;
    int rc;
    for (uint32_t i = 0; i < count; i++) {
        size_t end = i + 1 < count ? load_width(offsets + (size_t)(i + 1) * width, width)
                                   : elems_len;
        if (end <= start || end > elems_len)
            return corrupt(w, offsets + (size_t)i * width, "element offsets out of order");
        const uint8_t *e = body + start, *e_end = body + end;
        start = end;

        /* One reservation covers the comma and a scalar value; a key, a
         * line break, a string or a container make their own room. */
        if (!(o = room(w, 1 + SCALAR_ROOM)))
            return BURROW_ENOMEM;
        if (i > 0)
            *o++ = ',';
        if (w->layout) {
            w->out->size = (size_t)(o - w->out->data);
            if ((rc = write_break(w, depth + 1)) || !(o = room(w, SCALAR_ROOM)))
                return rc ? rc : BURROW_ENOMEM;
        }
        if (object) {
            uint64_t klen;
            size_t k = varint_get(e, e_end, &klen);
            if (!k || klen >= (uint64_t)(e_end - e) - k)
                return corrupt(w, e, "object key overruns its element");
            w->out->size = (size_t)(o - w->out->data);
            if ((rc = write_string(w, e + k, (size_t)klen, 1 + w->space_len + SCALAR_ROOM)))
                return rc;
            o = w->out->data + w->out->size;
            *o++ = ':';
            memcpy(o, w->space, w->space_len);
            o += w->space_len;
            e += k + klen;
        }
        size_t vlen = (size_t)(e_end - e);
        if (e[0] < DOC_TAG_STRING) {
            size_t n = scalar_text(o, e, vlen);
            if (!n)
                return corrupt(w, e, "malformed scalar");
            w->out->size = (size_t)(o + n - w->out->data);
        } else {
            w->out->size = (size_t)(o - w->out->data);
            if ((rc = write_value(w, e, vlen, depth + 1)))
                return rc;
        }
    }
    if (w->layout && (rc = write_break(w, depth)))
        return rc;
    if (!(o = room(w, 1)))
        return BURROW_ENOMEM;
    *o = close;
    w->out->size++;
    return 0;
}

/* The value [p, p+len) must fill its slot exactly. depth: containers open
 * around it. */
static int write_value(json_writer *w, const uint8_t *p, size_t len, int depth)
{
    if (len == 0)
        return corrupt(w, p, "empty value");
    uint8_t tag = p[0];
    if (tag == DOC_TAG_STRING) {
        uint64_t n;
        size_t k = varint_get(p + 1, p + len, &n);
        if (!k || n != len - 1 - k)
            return corrupt(w, p, "string length does not match its slot");
        return write_string(w, p + 1 + k, (size_t)n, 0);
    }
    if (tag == DOC_TAG_ARRAY || tag == DOC_TAG_OBJECT)
        return write_container(w, p, len, depth);
    uint8_t *o = room(w, SCALAR_ROOM);
    if (!o)
        return BURROW_ENOMEM;
    size_t n = scalar_text(o, p, len);
    if (!n)
        return corrupt(w, p, tag > DOC_TAG_OBJECT ? "unknown tag" : "malformed scalar");
    w->out->size += n;
    return 0;
}

int json_write(doc_val v, unsigned flags, const json_format *fmt, buf *out)
{
    bool pretty = (flags & JSON_PRETTY) != 0;
    json_writer w = {
        .out = out,
        .base = v.p,
        .indent = pretty ? "  " : "",
        .newline = pretty ? "\n" : "",
        .space = pretty ? " " : "",
    };
    if (fmt) {
        if (fmt->indent)
            w.indent = fmt->indent;
        if (fmt->newline)
            w.newline = fmt->newline;
        if (fmt->space)
            w.space = fmt->space;
    }
    w.indent_len = strlen(w.indent);
    w.newline_len = strlen(w.newline);
    w.space_len = strlen(w.space);
    w.layout = w.indent_len || w.newline_len || w.space_len;

    size_t start = out->size;
    /* The text is usually about as long as the binary form: one early
     * reservation saves most of the doublings on big documents (a length
     * no document can have gets none; the walk will find it corrupt). */
    if (v.len <= DOC_MAX_SIZE && buf_reserve(out, v.len + v.len / 4 + 64))
        return BURROW_ENOMEM;
    int rc = v.p ? write_value(&w, v.p, v.len, 0) : corrupt(&w, v.p, "no value");
    if (rc)
        out->size = start; /* nothing half written stays behind */
    return rc;
}
