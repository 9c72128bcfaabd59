/*
 * json_parse.c — strict RFC 8259 JSON text to a binary document (doc.h).
 *
 * One pass, left to right, with one pointer and no recursion: containers
 * open and close through the doc_builder, scalars go straight to it. The
 * text is never copied except where a string holds escapes (decoded into a
 * scratch buffer) and for the rare number strtod has to read.
 *
 * What is accepted is exactly RFC 8259's grammar: one value with optional
 * whitespace (space, tab, LF, CR) around it; strings of valid UTF-8 without
 * raw control characters, escapes \" \\ \/ \b \f \n \r \t and \u with four
 * hex digits, surrogates only in high-low pairs; numbers without '+',
 * leading zeros, bare '.' or hex; no NaN or Infinity; no trailing commas;
 * no comments.
 * On top of the RFC, duplicate keys in one object are an error, and so are
 * numbers whose magnitude exceeds the double range.
 *
 * Numbers: an integer without fraction or exponent that fits int64 stays an
 * exact int; anything else is a double, correctly rounded: exactly in
 * floating point when the decimal mantissa and the power of ten are both
 * exact doubles (Clinger's fast path), otherwise by strtod_l in the "C"
 * locale (so the process locale cannot change what '.' means). "-0" is the
 * double -0.0 because an int cannot keep the sign.
 *
 * Errors return BURROW_EJSON with burrow_errmsg() = "LINE:COL: REASON".
 * LINE and COL count from 1; COL counts bytes; lines end at LF. The position
 * is computed only on failure, by counting LFs before the offending byte.
 * REASON is one of, with the position it names:
 *
 *   unexpected character 'x'     the character (printable ASCII)
 *   unexpected byte 0xNN         the byte (anything else)
 *   unexpected end of input      one past the last byte
 *   unterminated string          the opening quote (input ends in a string)
 *   invalid escape               the backslash
 *   invalid \u escape            the backslash (fewer than 4 hex digits)
 *   lone surrogate               the backslash of the unpaired \uD800-\uDFFF
 *   invalid UTF-8                the first byte of the bad sequence
 *   control character in string  the raw byte 0x00-0x1F
 *   trailing comma               the comma before ']' or '}'
 *   missing comma or ']'         what stands where one was due
 *   missing comma or '}'         what stands where one was due
 *   expected ':'                 what stands where it was due
 *   expected string key          what stands where a key was due
 *   duplicate key "k"            the opening quote of the second occurrence
 *   invalid number               the first byte of the number
 *   number out of range          the first byte of the number
 *   nesting too deep             the bracket that opens one level too many
 *   document too large           the first byte past max_size (input), or
 *                                where the binary output outgrew the
 *                                builder's max_size
 *   trailing characters after the value   the first of them
 *
 * A number is read as the longest run of [0-9A-Za-z.+-]; if the grammar
 * does not cover the whole run ("01", "1.", "0x1F", "1e5.3") it is an
 * invalid number rather than a value followed by junk. A literal followed
 * directly by a letter or digit ("truex") is an unexpected character there.
 * Input that ends inside a string, even inside an escape or a UTF-8
 * sequence, is an unterminated string. The key in "duplicate key" is shown
 * decoded and JSON-escaped, cut to about 64 bytes with "...".
 *
 * Memory: BURROW_ENOMEM from the builder or the scratch buffer. The input is
 * never read at or past text + len.
 */
#include <assert.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/err.h"
#include "doc/doc.h"

typedef struct parser {
    const uint8_t *start, *end;
    doc_builder *b;
    int max_depth;
    /* Decoded strings with escapes land here; the inline part spares small
     * documents an allocation. */
    uint8_t *scratch;
    size_t scratch_cap;
    uint8_t scratch_inline[256];
    /* Per open container: is it an object, and where its bracket is (to find
     * a duplicate key again when the builder reports one). */
    uint8_t is_object[DOC_MAX_DEPTH];
    size_t open_at[DOC_MAX_DEPTH];
} parser;

/* ---- errors ------------------------------------------------------------ */

static int __attribute__((cold, noinline, format(printf, 3, 4)))
json_error(const parser *ps, const uint8_t *at, const char *fmt, ...)
{
    size_t off = (size_t)(at - ps->start), line = 1, line_start = 0;
    const uint8_t *p = ps->start, *stop = ps->start + off;
    while (p < stop) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(stop - p));
        if (!nl)
            break;
        line++;
        line_start = (size_t)(nl - ps->start) + 1;
        p = nl + 1;
    }
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return diag_set(BURROW_EJSON, "%zu:%zu: %s", line, off - line_start + 1, what);
}

static int __attribute__((cold, noinline)) unexpected(const parser *ps, const uint8_t *at)
{
    if (at >= ps->end)
        return json_error(ps, at, "unexpected end of input");
    if (*at > 0x20 && *at < 0x7f)
        return json_error(ps, at, "unexpected character '%c'", *at);
    return json_error(ps, at, "unexpected byte 0x%02X", *at);
}

/* ---- character classes ------------------------------------------------- */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* High bit set in each byte of w that needs a look in a string: '"', '\\',
 * a control character or a non-ASCII byte. The lowest flagged byte is always
 * a true one (borrows only run upwards), which is all the scan needs. */
static inline uint64_t string_stops(uint64_t w)
{
    uint64_t q = w ^ (ONES * '"'), s = w ^ (ONES * '\\');
    return ((q - ONES) & ~q) | ((s - ONES) & ~s) | ((w - ONES * 0x20) & ~w) | (w & HIGHS);
}

/* Bytes that end a run of plain string bytes. */
static const uint8_t string_stop[256] = {
    [0x00 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xff] = 1,
};

/* Bytes that may continue a number token; see the header comment. */
static const uint8_t number_tail[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['.'] = 1, ['+'] = 1, ['-'] = 1,
};

/* A hex digit's value plus one; 0 for every other byte. */
static const uint8_t hex_digit[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
    ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static inline bool is_digit(uint8_t c) { return (unsigned)(c - '0') <= 9; }

static inline const uint8_t *skip_ws(const uint8_t *p, const uint8_t *end)
{
    while (p < end && *p <= ' ' && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

/* First byte in [p, end) that is not plain string content, or end. */
static inline const uint8_t *scan_plain(const uint8_t *p, const uint8_t *end)
{
    while (end - p >= 8) {
        uint64_t m = string_stops(le64_load(p)) & HIGHS;
        if (m)
            return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
    while (p < end && !string_stop[*p])
        p++;
    return p;
}

/* Length of the UTF-8 sequence whose lead byte (>= 0x80) is at p: 2 to 4,
 * 0 when it is invalid (stray continuation, overlong, surrogate, beyond
 * U+10FFFF, or cut short by a byte that is not a continuation), -1 when
 * the input ends inside it. */
static inline int utf8_sequence(const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    size_t avail = (size_t)(end - p);
    uint8_t lo = 0x80, hi = 0xBF;
    int n;
    if (c < 0xC2) /* continuation byte, or C0/C1: overlong two-byte form */
        return 0;
    if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong below U+0800 */
        else if (c == 0xED)
            hi = 0x9F; /* U+D800..U+DFFF are surrogates */
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong below U+10000 */
        else if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else {
        return 0;
    }
    if (avail < 2)
        return -1;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (int i = 2; i < n; i++) {
        if ((size_t)i >= avail)
            return -1;
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    }
    return n;
}

/* ---- strings ----------------------------------------------------------- */

static int scratch_reserve(parser *ps, size_t need)
{
    if (need <= ps->scratch_cap)
        return 0;
    size_t cap = ps->scratch_cap * 2;
    while (cap < need)
        cap *= 2;
    uint8_t *p = ps->scratch == ps->scratch_inline ? malloc(cap) : realloc(ps->scratch, cap);
    if (!p)
        return BURROW_ENOMEM;
    if (ps->scratch == ps->scratch_inline)
        memcpy(p, ps->scratch_inline, sizeof ps->scratch_inline);
    ps->scratch = p;
    ps->scratch_cap = cap;
    return 0;
}

/* The \u escape at p (p[0] = '\\', p[1] = 'u'): 0 with the code unit in
 * *unit, or an error. q is the string's opening quote. */
static int u_escape(const parser *ps, const uint8_t *q, const uint8_t *p, unsigned *unit)
{
    if (ps->end - p < 6) {
        for (const uint8_t *h = p + 2; h < ps->end; h++)
            if (!hex_digit[*h])
                return json_error(ps, p, "invalid \\u escape");
        return json_error(ps, q, "unterminated string");
    }
    unsigned a = hex_digit[p[2]], b = hex_digit[p[3]], c = hex_digit[p[4]], d = hex_digit[p[5]];
    if (!a || !b || !c || !d)
        return json_error(ps, p, "invalid \\u escape");
    *unit = (a - 1) << 12 | (b - 1) << 8 | (c - 1) << 4 | (d - 1);
    return 0;
}

static size_t utf8_put(uint8_t *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 | cp >> 6);
        o[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 | cp >> 12);
        o[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | cp >> 18);
    o[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* The slow half of parse_string, from the first backslash at p on: decodes
 * into ps->scratch. The decoded text is never longer than the escaped one,
 * so reserving what was consumed plus 4 always suffices. */
static int __attribute__((noinline))
parse_string_escaped(parser *ps, const uint8_t **pp, const uint8_t *p, const uint8_t **s, size_t *n)
{
    const uint8_t *q = *pp, *end = ps->end, *run = q + 1;
    size_t len = 0;
    for (;;) {
        /* p < end and *p stops a run; [run, p) is plain and not yet copied */
        uint8_t c = *p;
        if (c >= 0x80) {
            int k = utf8_sequence(p, end);
            if (k <= 0)
                return k < 0 ? json_error(ps, q, "unterminated string")
                             : json_error(ps, p, "invalid UTF-8");
            p += k;
        } else {
            size_t plain = (size_t)(p - run);
            if (scratch_reserve(ps, len + plain + 4))
                return BURROW_ENOMEM;
            memcpy(ps->scratch + len, run, plain);
            len += plain;
            if (c == '"') {
                *s = ps->scratch;
                *n = len;
                *pp = p + 1;
                return 0;
            }
            if (c != '\\')
                return json_error(ps, p, "control character in string");
            if (end - p < 2)
                return json_error(ps, q, "unterminated string");
            uint8_t *o = ps->scratch + len;
            switch (p[1]) {
            case '"': *o = '"'; break;
            case '\\': *o = '\\'; break;
            case '/': *o = '/'; break;
            case 'b': *o = '\b'; break;
            case 'f': *o = '\f'; break;
            case 'n': *o = '\n'; break;
            case 'r': *o = '\r'; break;
            case 't': *o = '\t'; break;
            case 'u': {
                unsigned cp, low;
                int rc = u_escape(ps, q, p, &cp);
                if (rc)
                    return rc;
                const uint8_t *first = p;
                p += 6;
                if (cp >= 0xD800 && cp <= 0xDFFF) {
                    if (cp >= 0xDC00)
                        return json_error(ps, first, "lone surrogate");
                    /* a high surrogate: the low half must follow at once */
                    if (end - p < 2)
                        return p < end && *p != '\\' ? json_error(ps, first, "lone surrogate")
                                                     : json_error(ps, q, "unterminated string");
                    if (p[0] != '\\' || p[1] != 'u')
                        return json_error(ps, first, "lone surrogate");
                    if ((rc = u_escape(ps, q, p, &low)))
                        return rc;
                    if (low < 0xDC00 || low > 0xDFFF)
                        return json_error(ps, first, "lone surrogate");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    p += 6;
                }
                len += utf8_put(o, cp);
                run = p;
                goto scan;
            }
            default: return json_error(ps, p, "invalid escape");
            }
            len++;
            p += 2;
            run = p;
        }
    scan:
        p = scan_plain(p, end);
        if (p == end)
            return json_error(ps, q, "unterminated string");
    }
}

/* The string whose opening quote is at *pp. On success *pp is past the
 * closing quote and [*s, *s + *n) is the decoded string: in the input when
 * it holds no escapes, else in ps->scratch (valid until the next string). */
static inline __attribute__((always_inline)) int
parse_string(parser *ps, const uint8_t **pp, const uint8_t **s, size_t *n)
{
    const uint8_t *q = *pp, *p = q + 1, *end = ps->end;
    for (;;) {
        p = scan_plain(p, end);
        if (p == end)
            return json_error(ps, q, "unterminated string");
        uint8_t c = *p;
        if (c == '"') {
            *s = q + 1;
            *n = (size_t)(p - q - 1);
            *pp = p + 1;
            return 0;
        }
        if (c >= 0x80) {
            int k = utf8_sequence(p, end);
            if (k <= 0)
                return k < 0 ? json_error(ps, q, "unterminated string")
                             : json_error(ps, p, "invalid UTF-8");
            p += k;
            continue;
        }
        if (c == '\\')
            return parse_string_escaped(ps, pp, p, s, n);
        return json_error(ps, p, "control character in string");
    }
}

/* ---- numbers ----------------------------------------------------------- */

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

/* strtod_l on [s, e) in the "C" locale; the grammar was checked already. */
static int __attribute__((noinline)) slow_double(const uint8_t *s, const uint8_t *e, double *out)
{
    pthread_once(&c_locale_once, c_locale_init);
    if (c_locale == (locale_t)0)
        return BURROW_ENOMEM;
    size_t n = (size_t)(e - s);
    char local[128], *text = local;
    if (n >= sizeof local && !(text = malloc(n + 1)))
        return BURROW_ENOMEM;
    memcpy(text, s, n);
    text[n] = '\0';
    *out = strtod_l(text, NULL, c_locale);
    if (text != local)
        free(text);
    return 0;
}

/* The number starting at *pp ('-' or a digit), handed to the builder. */
static inline int parse_number(parser *ps, const uint8_t **pp)
{
    const uint8_t *s = *pp, *p = s, *end = ps->end;
    bool neg = false, integral = true, inexact = false;
    uint64_t m = 0;     /* the first 19 significant digits */
    int digits = 0;     /* significant digits in m */
    int64_t exp10 = 0;  /* value = m * 10^exp10, unless inexact */
    if (*p == '-') {
        neg = true;
        p++;
    }
    if (p == end || !is_digit(*p))
        goto invalid;
    if (*p == '0') {
        p++;
    } else {
        /* 19 digits always fit a uint64; the rest only scale and round */
        const uint8_t *first = p, *lim = end - p > 19 ? p + 19 : end;
        do
            m = m * 10 + (unsigned)(*p++ - '0');
        while (p < lim && is_digit(*p));
        digits = (int)(p - first);
        for (; p < end && is_digit(*p); p++) {
            exp10++;
            inexact |= *p != '0';
        }
    }
    if (p < end && *p == '.') {
        integral = false;
        p++;
        if (p == end || !is_digit(*p))
            goto invalid;
        const uint8_t *first = p;
        if (m == 0) /* the zeros of 0.000123 are not significant */
            while (p < end && *p == '0')
                p++;
        const uint8_t *lim = end - p > 19 - digits ? p + (19 - digits) : end;
        for (; p < lim && is_digit(*p); p++)
            m = m * 10 + (unsigned)(*p - '0');
        exp10 -= p - first;
        for (; p < end && is_digit(*p); p++)
            inexact |= *p != '0';
    }
    if (p < end && (*p | 0x20) == 'e') {
        integral = false;
        p++;
        bool eneg = false;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p == end || !is_digit(*p))
            goto invalid;
        int64_t e = 0;
        for (; p < end && is_digit(*p); p++)
            if (e < 1000000) /* far past any double; saturate, never overflow */
                e = e * 10 + (*p - '0');
        exp10 += eneg ? -e : e;
    }
    if (p < end && number_tail[*p])
        goto invalid;
    *pp = p;

    if (integral && exp10 == 0) {
        if (!neg && m <= (uint64_t)INT64_MAX)
            return doc_builder_int(ps->b, (int64_t)m);
        /* m = 2^63 wraps to INT64_MIN; "-0" is left to the double path */
        if (neg && m != 0 && m <= (uint64_t)INT64_MAX + 1)
            return doc_builder_int(ps->b, (int64_t)(0 - m));
    }
    double d;
    if (m == 0) {
        d = 0.0; /* any exponent: zero (and no digit was dropped) */
    } else if (!inexact && m <= (1ull << 53) && exp10 >= -22 && exp10 <= 22 + 15) {
        /* Clinger: m and 10^k are exact doubles, so one rounding. (A dropped
         * digit implies m has 19 digits, above 2^53; !inexact says it.) */
        d = (double)m;
        if (exp10 < 0) {
            d /= pow10_exact[-exp10];
        } else if (exp10 <= 22) {
            d *= pow10_exact[exp10];
        } else {
            /* 10^(exp10-22) * m may still be an exact integer below 2^53 */
            double t = d * pow10_exact[exp10 - 22];
            if (t > 9007199254740992.0)
                goto slow;
            d = t * 1e22;
        }
    } else {
        goto slow;
    }
    return doc_builder_double(ps->b, neg ? -d : d);

slow:;
    int rc = slow_double(s, p, &d);
    if (rc)
        return rc;
    if (isinf(d))
        return json_error(ps, s, "number out of range");
    return doc_builder_double(ps->b, d);

invalid:
    return json_error(ps, s, "invalid number");
}

/* ---- the document ------------------------------------------------------ */

/* Where a key repeats in an object, found by reading the object's text
 * again: only after the builder reported a duplicate, so speed and memory
 * matter little here, but an object of many keys must not take quadratic
 * time. Keys are decoded (so "a" and "\u0061" match), sorted, and the
 * earliest second occurrence in the text wins. */
typedef struct key_pos {
    size_t off, len; /* the decoded key in keys.data */
    const uint8_t *at;
} key_pos;

static int key_bytes_cmp(const key_pos *a, const key_pos *b, const uint8_t *keys)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int r = n ? memcmp(keys + a->off, keys + b->off, n) : 0; /* keys is NULL if all are "" */
    if (r)
        return r;
    return a->len < b->len ? -1 : a->len > b->len;
}

static int key_pos_cmp(const void *x, const void *y, void *keys)
{
    const key_pos *a = x, *b = y;
    int r = key_bytes_cmp(a, b, keys);
    if (r)
        return r;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* Skips the value at p, which was parsed already and so is well-formed. */
static const uint8_t *skip_value(const uint8_t *p, const uint8_t *end)
{
    int depth = 0;
    do {
        p = skip_ws(p, end);
        if (*p == '"') {
            for (p++; *p != '"'; p++)
                if (*p == '\\')
                    p++;
            p++;
        } else if (*p == '[' || *p == '{') {
            depth++;
            p++;
        } else if (*p == ']' || *p == '}') {
            depth--;
            p++;
        } else if (*p == ',' || *p == ':') {
            p++;
        } else {
            while (p < end && number_tail[*p]) /* numbers and literals */
                p++;
        }
    } while (depth > 0);
    return p;
}

/* The message for a key shown in an error: escaped like JSON, cut to about
 * 64 bytes without splitting a UTF-8 sequence. */
static void show_key(const uint8_t *k, size_t n, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    for (; i < n && o + 8 < cap - 4; i++) {
        if (k[i] == '"' || k[i] == '\\')
            o += (size_t)snprintf(out + o, cap - o, "\\%c", k[i]);
        else if (k[i] < 0x20)
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", k[i]);
        else
            out[o++] = (char)k[i];
    }
    if (i < n) {
        while (o > 0 && ((uint8_t)out[o - 1] & 0xC0) == 0x80)
            o--;
        if (o > 0 && (uint8_t)out[o - 1] >= 0xC0)
            o--;
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static int __attribute__((cold, noinline))
duplicate_key(parser *ps, const uint8_t *open, const uint8_t *close)
{
    key_pos *pos = NULL;
    size_t npos = 0, cap = 0, dup = 0;
    buf keys = {0};
    const uint8_t *p = open + 1;
    int rc = BURROW_ENOMEM;
    for (;;) {
        p = skip_ws(p, close);
        if (*p != '"')
            break; /* the closing brace */
        const uint8_t *at = p, *s;
        size_t n;
        if ((rc = parse_string(ps, &p, &s, &n)))
            goto out;
        rc = BURROW_ENOMEM;
        if (npos == cap) {
            cap = cap ? cap * 2 : 16;
            key_pos *grown = realloc(pos, cap * sizeof *grown);
            if (!grown)
                goto out;
            pos = grown;
        }
        pos[npos++] = (key_pos){keys.size, n, at};
        if (buf_append(&keys, s, n))
            goto out;
        p = skip_ws(p, close) + 1; /* past the ':' */
        p = skip_ws(skip_value(p, close), close);
        if (*p == ',')
            p++;
    }
    qsort_r(pos, npos, sizeof *pos, key_pos_cmp, keys.data);
    for (size_t i = 1; i < npos; i++)
        if (key_bytes_cmp(&pos[i], &pos[i - 1], keys.data) == 0 &&
            (!dup || pos[i].at < pos[dup].at))
            dup = i;
    if (dup) {
        char shown[80];
        /* keys.data is NULL when every key is "": no offset on it then. */
        show_key(pos[dup].len ? keys.data + pos[dup].off : (const uint8_t *)"", pos[dup].len,
                 shown, sizeof shown);
        rc = json_error(ps, pos[dup].at, "duplicate key \"%s\"", shown);
    } else {
        /* cannot happen if the builder and this agree; keep its word */
        char what[200];
        snprintf(what, sizeof what, "%s", burrow_errmsg());
        rc = json_error(ps, close, "%s", what);
    }
out:
    free(pos);
    buf_free(&keys);
    return rc;
}

/* A builder call failed at position at: say it in JSON terms. */
static int __attribute__((cold, noinline)) builder_failed(parser *ps, int rc, const uint8_t *at)
{
    if (rc == BURROW_EVALSIZE)
        return json_error(ps, at, "document too large");
    if (rc == BURROW_EEXIST) {
        int depth = ps->b->depth; /* the object that failed to close is still open */
        assert(depth > 0);
        return duplicate_key(ps, ps->start + ps->open_at[depth - 1], at);
    }
    return rc;
}

/* Literal true/false/null at p, or the error at its first wrong byte. */
static int literal(const parser *ps, const uint8_t **pp, const char *word, size_t n)
{
    const uint8_t *p = *pp;
    if ((size_t)(ps->end - p) >= n && memcmp(p, word, n) == 0) {
        p += n;
        if (p < ps->end && number_tail[*p] && *p != '.' && *p != '+' && *p != '-')
            return unexpected(ps, p);
        *pp = p;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (p + i == ps->end || p[i] != (uint8_t)word[i])
            return unexpected(ps, p + i);
    return unexpected(ps, p + n);
}

static int parse_document(parser *ps)
{
    doc_builder *b = ps->b;
    const uint8_t *p = ps->start, *end = ps->end, *s, *comma;
    size_t n;
    int depth = 0, rc;
    bool in_object = false; /* ps->is_object[depth - 1], kept at hand */

value:
    p = skip_ws(p, end);
    if (p == end)
        return unexpected(ps, p);
    switch (*p) {
    case '{':
    case '[':
        if (depth >= ps->max_depth)
            return json_error(ps, p, "nesting too deep");
        in_object = *p == '{';
        ps->is_object[depth] = in_object;
        ps->open_at[depth] = (size_t)(p - ps->start);
        rc = in_object ? doc_builder_begin_object(b) : doc_builder_begin_array(b);
        if (rc)
            return builder_failed(ps, rc, p);
        depth++;
        p = skip_ws(p + 1, end);
        if (p < end && *p == (in_object ? '}' : ']')) {
            p++;
            goto close;
        }
        if (in_object)
            goto key;
        goto value;
    case '"':
        if ((rc = parse_string(ps, &p, &s, &n)))
            return rc;
        if ((rc = doc_builder_string(b, (const char *)s, n)))
            return builder_failed(ps, rc, p);
        break;
    case '-':
    case '0' ... '9':
        if ((rc = parse_number(ps, &p)))
            return rc == BURROW_EJSON || rc == BURROW_ENOMEM ? rc : builder_failed(ps, rc, p);
        break;
    case 't':
        if ((rc = literal(ps, &p, "true", 4)) || (rc = doc_builder_bool(b, true)))
            return rc == BURROW_EJSON ? rc : builder_failed(ps, rc, p);
        break;
    case 'f':
        if ((rc = literal(ps, &p, "false", 5)) || (rc = doc_builder_bool(b, false)))
            return rc == BURROW_EJSON ? rc : builder_failed(ps, rc, p);
        break;
    case 'n':
        if ((rc = literal(ps, &p, "null", 4)) || (rc = doc_builder_null(b)))
            return rc == BURROW_EJSON ? rc : builder_failed(ps, rc, p);
        break;
    default:
        return unexpected(ps, p);
    }

next: /* a value just ended at p */
    if (depth == 0)
        goto done;
    p = skip_ws(p, end);
    if (p == end)
        return unexpected(ps, p);
    if (in_object) {
        if (*p == '}') {
            p++;
            goto close;
        }
        if (*p != ',')
            return json_error(ps, p, "missing comma or '}'");
        comma = p;
        p = skip_ws(p + 1, end);
        if (p < end && *p == '}')
            return json_error(ps, comma, "trailing comma");
        goto key;
    }
    if (*p == ']') {
        p++;
        goto close;
    }
    if (*p != ',')
        return json_error(ps, p, "missing comma or ']'");
    comma = p;
    p = skip_ws(p + 1, end);
    if (p < end && *p == ']')
        return json_error(ps, comma, "trailing comma");
    goto value;

close: /* p is just past the closing bracket */
    if ((rc = doc_builder_end(b)))
        return builder_failed(ps, rc, p - 1);
    depth--;
    in_object = depth > 0 && ps->is_object[depth - 1];
    goto next;

key: /* p is at the first non-blank where a key is due */
    if (p == end)
        return unexpected(ps, p);
    if (*p != '"')
        return json_error(ps, p, "expected string key");
    if ((rc = parse_string(ps, &p, &s, &n)))
        return rc;
    if ((rc = doc_builder_key(b, (const char *)s, n)))
        return builder_failed(ps, rc, p);
    p = skip_ws(p, end);
    if (p == end)
        return unexpected(ps, p);
    if (*p != ':')
        return json_error(ps, p, "expected ':'");
    p++;
    goto value;

done:
    p = skip_ws(p, end);
    if (p != end)
        return json_error(ps, p, "trailing characters after the value");
    return 0;
}

int json_parse(const char *text, size_t len, const json_parse_options *opt, doc_builder *b)
{
    assert(b != NULL);
    assert(text != NULL || len == 0);
    int rc = doc_builder_begin(b);
    if (rc)
        return rc;
    parser ps;
    ps.start = len ? (const uint8_t *)text : (const uint8_t *)""; /* no arithmetic on NULL */
    ps.end = ps.start + len;
    ps.b = b;
    ps.max_depth = b->max_depth; /* begin clamped it to 1..DOC_MAX_DEPTH */
    if (opt && opt->max_depth > 0 && opt->max_depth < ps.max_depth)
        ps.max_depth = opt->max_depth;
    size_t max_size = opt && opt->max_size ? opt->max_size : DOC_MAX_SIZE;
    if (len > max_size)
        return json_error(&ps, ps.start + max_size, "document too large");
    ps.scratch = ps.scratch_inline;
    ps.scratch_cap = sizeof ps.scratch_inline;

    rc = parse_document(&ps);
    if (ps.scratch != ps.scratch_inline)
        free(ps.scratch);
    if (rc)
        return rc;
    const uint8_t *data;
    size_t n;
    rc = doc_builder_finish(b, &data, &n);
    /* The builder checks the finished size last: a top-level scalar can
     * pass the limit only here. */
    if (rc == BURROW_EVALSIZE)
        return json_error(&ps, ps.end, "document too large");
    return rc;
}
