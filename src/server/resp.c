/*
 * resp.c — the Redis protocol: the incremental request parser and the reply
 * writers (contract in resp.h).
 *
 * ---- Requests (client to server; the same in RESP2 and RESP3) ------------
 *
 * A request is one of two kinds, told apart by its first byte:
 *
 * Multibulk (first byte '*'):
 *     '*' <count> CR LF                              the header line
 *     then <count> times:
 *         '$' <len> CR LF  <len bytes>  CR LF         one bulk argument
 *   <count> and <len> are decimal as Redis's string2ll reads them: an
 *   optional '-', then "0" or a digit 1-9 followed by digits; no '+', no
 *   spaces, no leading zeros, no "-0", within int64.
 *   - A header line (the '*' line or a '$' line) is judged once its CR and
 *     the byte after it are there. Its CR must come within the first
 *     max_inline + 1 bytes of the line, else "too big mbulk count string"
 *     (the '*' line) or "too big bulk count string" (a '$' line) — Redis
 *     says so when that many bytes wait without a CR.
 *   - <count> that is not a number, or above max_args: "invalid multibulk
 *     length". <count> <= 0 (*0, *-1): the header is skipped and nothing is
 *     run, as Redis does.
 *   - A '$' line whose first byte is not '$': "expected '$', got 'X'" with X
 *     that byte. <len> not a number, negative or above max_bulk: "invalid
 *     bulk length". Both are found from the header line alone, so a length
 *     just above the limit is refused before any of its bytes arrive, and an
 *     announced length reserves nothing: the argument's bytes stay where the
 *     caller keeps them.
 *   - Stricter than Redis, which takes the byte after a header's CR and the
 *     two bytes after a bulk's data on trust: here the byte after a header's
 *     CR must be LF (else the line's "invalid ... length") and a bulk's data
 *     must be followed by CR LF (else "invalid bulk length": the data was
 *     not as long as announced). A client that miscounts is stopped at its
 *     first mistake instead of being read out of step.
 *   Arguments are binary: <len bytes> may hold CR, LF and NUL.
 *
 * Inline (any other first byte): one line of text ending in LF, CR LF or
 * LF alone:
 *     <words separated by blanks> [CR] LF
 *   - A line longer than max_inline bytes (not counting its CR LF) is "too
 *     big inline request", found as soon as max_inline + 2 bytes without an
 *     LF are there (or max_inline + 1 whose last is not CR).
 *   - Words follow Redis's sdssplitargs: blanks (space, \t, \n, \v, \f, \r)
 *     separate words; a word ends at a space, \t, \n, \r (\v and \f inside a
 *     word are part of it); a NUL byte ends the line (what follows it is
 *     ignored, and a quote still open there is unbalanced). Within a word,
 *     "double quotes" take the escapes \n \r \t \b \a \xHH (two hex digits,
 *     either case) and \ before any other byte stands for that byte;
 *     'single quotes' take only \' for a quote. A quote may open in the
 *     middle of a word (ab"c d" is the word "abc d"); a closing quote must
 *     be followed by a blank or the end of the line, and a quote left open
 *     is "unbalanced quotes in request". "" is an empty argument.
 *   - A line with no words (empty, or only blanks) is skipped, as in Redis.
 *
 * The messages in p->err are Redis's, after "Protocol error: ". A protocol
 * error closes the connection: the parser is not used again after one.
 *
 * Parser states (p->state), all offsets relative to the request's first
 * byte, so the caller may move the bytes between calls:
 *
 *   START      at a request boundary: nothing examined.      -> INLINE or
 *              MB_COUNT on the first byte.
 *   INLINE     p->pos bytes searched for LF.                  -> START
 *   MB_COUNT   searching the '*' line for its CR; p->bulk_len bytes of the
 *              line searched.                                 -> BULK_HDR,
 *              or START when the count is <= 0.
 *   BULK_HDR   the '$' line starts at p->pos; p->bulk_len bytes of it
 *              searched.                                      -> BULK_DATA
 *   BULK_DATA  the argument's bytes start at p->pos and are p->bulk_len
 *              long.                          -> BULK_HDR, or START after
 *              the last argument.
 * Invariants: p->argc arguments of the current request are complete; their
 * lengths are in argv[i].len and their offsets in offs[i]; argv[i].ptr is
 * filled only when the request completes. argc <= argv_cap, and argv_cap <=
 * max(8, 2 * the arguments seen), never more than the count announced.
 *
 * ---- Replies (server to client) -----------------------------------------
 *
 *   simple string  '+' <text without CR or LF> CR LF
 *   error          '-' <CODE> ' ' <text without CR or LF> CR LF
 *   integer        ':' [-]<digits> CR LF
 *   bulk string    '$' <len> CR LF <len bytes> CR LF
 *   array          '*' <n> CR LF, then n values
 *   RESP2 nulls    "$-1" CR LF (null bulk), "*-1" CR LF (null array)
 * RESP3 adds, and what a RESP2 client gets instead (as Redis writes it):
 *   null           '_' CR LF                  RESP2: "$-1" or "*-1"
 *   boolean        '#' ('t' | 'f') CR LF      RESP2: ":1" / ":0"
 *   double         ',' <text> CR LF           RESP2: a bulk of the text
 *   map            '%' <pairs> CR LF, then 2 x pairs values
 *                                             RESP2: '*' <2 x pairs>
 *   set            '~' <n> CR LF, then n      RESP2: '*' <n>
 *   push           '>' <n> CR LF, then n      RESP2: '*' <n>
 *   verbatim       '=' <4 + len> CR LF "txt:" <len bytes> CR LF
 *                                             RESP2: a bulk of the bytes
 * A double's text is Redis 7.2's (d2string): "inf", "-inf", "nan", "0",
 * "-0"; an integral value within +-2^62 as an integer ("3", "-12"); else
 * the shortest digits that read back as the value, laid out as Redis's
 * fpconv_dtoa lays them out: with D the digits and K the power of ten of
 * the last one, plain digits and K zeros when K >= 0 and the exponent E =
 * |K + ndigits - 1| < ndigits + 7; a decimal point ("1.5", "0.001") when K
 * < 0 and (K > -7 or E < 4); else d[.ddd]e±E ("1e+300", "1.5e-7").
 * The digits here are always the shortest that read back; Redis's Grisu2
 * gives the same for nearly every double but, for a rare few, a longer
 * string that reads back just as well.
 */
#include "server/resp.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "doc/doc.h"

enum {
    ST_START = 0,
    ST_INLINE,
    ST_MB_COUNT,
    ST_BULK_HDR,
    ST_BULK_DATA,
};

/* Internal result of the request parsers besides resp.h's: the request was
 * skipped (an empty line, *0); its length is in *reqlen. */
#define RESP_SKIP 2

/* What argv and the inline scratch may keep between requests; more is
 * given back when the next request starts, so a connection that once sent
 * a 100,000-argument MSET does not keep its argv while idle. */
#define ARGV_KEEP 1024
#define SCRATCH_KEEP 4096
#define ARGV_FIRST 8

void resp_limits_default(resp_limits *lim)
{
    lim->max_bulk = (size_t)512 * 1024 * 1024;
    lim->max_args = 1024 * 1024;
    lim->max_inline = 64 * 1024;
}

void resp_parser_init(resp_parser *p)
{
    memset(p, 0, sizeof *p);
    buf_init(&p->scratch);
    p->state = ST_START;
}

void resp_parser_free(resp_parser *p)
{
    free(p->argv);
    free(p->offs);
    buf_free(&p->scratch);
    resp_parser_init(p);
}

void resp_parser_reset(resp_parser *p)
{
    p->state = ST_START;
    p->argc = 0;
    p->want_args = 0;
    p->bulk_len = 0;
    p->pos = 0;
    p->err[0] = '\0';
}

static int proto_error(resp_parser *p, const char *what)
{
    snprintf(p->err, sizeof p->err, "Protocol error: %s", what);
    return RESP_EPROTO;
}

/* Make room for one more argument. limit bounds the new capacity (the count
 * a multibulk announced; 0 for none), so argv never holds room for
 * arguments the request cannot have. */
static int argv_room(resp_parser *p, uint64_t limit)
{
    if (p->argc < p->argv_cap)
        return 0;
    uint64_t cap = p->argv_cap ? (uint64_t)p->argv_cap * 2 : ARGV_FIRST;
    if (limit && cap > limit)
        cap = limit;
    if (cap <= p->argc || cap > UINT32_MAX || cap > SIZE_MAX / sizeof(resp_arg))
        return diag_set(BURROW_ENOMEM, "resp: argv of %llu arguments", (unsigned long long)cap);
    resp_arg *argv = realloc(p->argv, (size_t)cap * sizeof *argv);
    if (!argv)
        return diag_set(BURROW_ENOMEM, "resp: argv of %llu arguments", (unsigned long long)cap);
    p->argv = argv;
    size_t *offs = realloc(p->offs, (size_t)cap * sizeof *offs);
    if (!offs)
        return diag_set(BURROW_ENOMEM, "resp: argv of %llu arguments", (unsigned long long)cap);
    p->offs = offs;
    p->argv_cap = (uint32_t)cap;
    return 0;
}

/* A new request starts: forget the last one, and give back what an unusual
 * request made argv or the scratch grow to. */
static void begin_request(resp_parser *p)
{
    resp_parser_reset(p);
    if (p->argv_cap > ARGV_KEEP) {
        free(p->argv);
        free(p->offs);
        p->argv = NULL;
        p->offs = NULL;
        p->argv_cap = 0;
    }
    if (p->scratch.cap > SCRATCH_KEEP)
        buf_free(&p->scratch);
    p->scratch.size = 0;
}

/* Redis's string2ll: [-] then "0" or [1-9][0-9]*, within int64. */
static bool parse_ll(const char *s, size_t n, int64_t *out)
{
    if (n == 0)
        return false;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return true;
    }
    bool neg = s[0] == '-';
    if (neg) {
        s++;
        n--;
        if (n == 0)
            return false;
    }
    if (s[0] < '1' || s[0] > '9')
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1)
            return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return false;
        *out = (int64_t)v;
    }
    return true;
}

enum { LINE_FOUND, LINE_MORE, LINE_TOO_BIG };

/*
 * Find the CR of the header line starting at d[start]; p->bulk_len bytes of
 * it were searched by earlier calls. LINE_FOUND with *cr its offset once the
 * byte after it is there too; LINE_MORE with *need the bytes to wait for;
 * LINE_TOO_BIG when max_inline + 1 bytes of the line hold no CR.
 */
static int find_header_cr(resp_parser *p, const resp_limits *lim, const char *d, size_t n,
                          size_t start, size_t *cr, size_t *need)
{
    size_t window = lim->max_inline < SIZE_MAX ? lim->max_inline + 1 : SIZE_MAX;
    size_t avail = n - start;
    size_t end = avail < window ? avail : window;
    size_t from = (size_t)p->bulk_len;
    const char *hit = end > from ? memchr(d + start + from, '\r', end - from) : NULL;
    if (!hit) {
        if (avail >= window)
            return LINE_TOO_BIG;
        p->bulk_len = end;
        *need = n + 1;
        return LINE_MORE;
    }
    size_t at = (size_t)(hit - d);
    p->bulk_len = at - start; /* the next call finds this CR at once */
    if (at + 1 >= n) {
        *need = at + 2;
        return LINE_MORE;
    }
    *cr = at;
    return LINE_FOUND;
}

/* Give each complete argument its pointer into d. */
static void point_args(resp_parser *p, const char *d)
{
    for (uint32_t i = 0; i < p->argc; i++)
        p->argv[i].ptr = d + p->offs[i];
}

static int parse_multibulk(resp_parser *p, const resp_limits *lim, const char *d, size_t n,
                           size_t *reqlen, size_t *need)
{
    size_t cr;
    int64_t ll;
    int rc;

    if (p->state == ST_MB_COUNT) {
        rc = find_header_cr(p, lim, d, n, 0, &cr, need);
        if (rc == LINE_MORE)
            return RESP_NEED_MORE;
        if (rc == LINE_TOO_BIG)
            return proto_error(p, "too big mbulk count string");
        if (d[cr + 1] != '\n' || !parse_ll(d + 1, cr - 1, &ll) ||
            (ll > 0 && (uint64_t)ll > lim->max_args))
            return proto_error(p, "invalid multibulk length");
        if (ll <= 0) {
            *reqlen = cr + 2;
            p->state = ST_START;
            return RESP_SKIP;
        }
        p->want_args = (uint64_t)ll;
        p->pos = cr + 2;
        p->bulk_len = 0;
        p->state = ST_BULK_HDR;
    }

    for (;;) {
        if (p->state == ST_BULK_HDR) {
            size_t start = p->pos;
            rc = find_header_cr(p, lim, d, n, start, &cr, need);
            if (rc == LINE_MORE)
                return RESP_NEED_MORE;
            if (rc == LINE_TOO_BIG)
                return proto_error(p, "too big bulk count string");
            if (d[start] != '$') {
                /* Redis prints the byte with %c; a NUL ends the text there
                 * just as it ends Redis's formatted reply. */
                snprintf(p->err, sizeof p->err, "Protocol error: expected '$', got '%c'",
                         d[start]);
                return RESP_EPROTO;
            }
            if (d[cr + 1] != '\n' || !parse_ll(d + start + 1, cr - start - 1, &ll) || ll < 0 ||
                (uint64_t)ll > lim->max_bulk)
                return proto_error(p, "invalid bulk length");
            rc = argv_room(p, p->want_args);
            if (rc)
                return rc;
            p->argv[p->argc].ptr = NULL;
            p->argv[p->argc].len = (size_t)ll;
            p->offs[p->argc] = cr + 2;
            p->pos = cr + 2;
            p->bulk_len = (uint64_t)ll;
            p->state = ST_BULK_DATA;
        }

        /* ST_BULK_DATA */
        size_t have = n - p->pos;
        if (have < 2 || have - 2 < p->bulk_len) {
            uint64_t total = (uint64_t)p->pos + p->bulk_len + 2;
            *need = total > SIZE_MAX ? SIZE_MAX : (size_t)total;
            return RESP_NEED_MORE;
        }
        size_t end = p->pos + (size_t)p->bulk_len;
        if (d[end] != '\r' || d[end + 1] != '\n')
            return proto_error(p, "invalid bulk length");
        p->argc++;
        p->pos = end + 2;
        p->bulk_len = 0;
        if (p->argc == p->want_args) {
            point_args(p, d);
            *reqlen = p->pos;
            p->state = ST_START;
            return RESP_REQUEST;
        }
        p->state = ST_BULK_HDR;
    }
}

/* ---- inline requests ---------------------------------------------------- */

/* isspace() in the C locale, which sdssplitargs uses between words. */
static bool is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static bool is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/*
 * Split line[0..len) into words the way sdssplitargs does (see the top of
 * this file), unquoted into p->scratch; argv gets lengths and offsets into
 * the scratch. RESP_REQUEST, RESP_SKIP (no words), RESP_EPROTO or ENOMEM.
 */
static int split_inline(resp_parser *p, const char *line, size_t len)
{
    /* sdssplitargs reads a C string: a NUL ends the line. */
    const char *nul = memchr(line, '\0', len);
    if (nul)
        len = (size_t)(nul - line);
    /* Unquoting never makes a word longer than its text, so one reservation
     * covers every word and the scratch never moves while it is filled. */
    int rc = buf_reserve(&p->scratch, len);
    if (rc)
        return rc;
    const uint8_t *s = (const uint8_t *)line;
#define AT(k) ((k) < len ? (int)s[k] : 0)
    size_t i = 0;
    for (;;) {
        while (i < len && is_blank(s[i]))
            i++;
        if (i == len)
            break;
        size_t word = p->scratch.size;
        bool inq = false, insq = false, done = false;
        while (!done) {
            int c = AT(i);
            if (inq) {
                if (c == '\\' && AT(i + 1) == 'x' && is_hex(AT(i + 2)) && is_hex(AT(i + 3))) {
                    p->scratch.data[p->scratch.size++] =
                        (uint8_t)(hex_val(AT(i + 2)) * 16 + hex_val(AT(i + 3)));
                    i += 3;
                } else if (c == '\\' && AT(i + 1)) {
                    i++;
                    int e = AT(i);
                    switch (e) {
                    case 'n': e = '\n'; break;
                    case 'r': e = '\r'; break;
                    case 't': e = '\t'; break;
                    case 'b': e = '\b'; break;
                    case 'a': e = '\a'; break;
                    default: break;
                    }
                    p->scratch.data[p->scratch.size++] = (uint8_t)e;
                } else if (c == '"') {
                    if (AT(i + 1) && !is_blank(AT(i + 1)))
                        return proto_error(p, "unbalanced quotes in request");
                    done = true;
                } else if (c == 0) {
                    return proto_error(p, "unbalanced quotes in request");
                } else {
                    p->scratch.data[p->scratch.size++] = (uint8_t)c;
                }
            } else if (insq) {
                if (c == '\\' && AT(i + 1) == '\'') {
                    i++;
                    p->scratch.data[p->scratch.size++] = '\'';
                } else if (c == '\'') {
                    if (AT(i + 1) && !is_blank(AT(i + 1)))
                        return proto_error(p, "unbalanced quotes in request");
                    done = true;
                } else if (c == 0) {
                    return proto_error(p, "unbalanced quotes in request");
                } else {
                    p->scratch.data[p->scratch.size++] = (uint8_t)c;
                }
            } else {
                switch (c) {
                case ' ':
                case '\n':
                case '\r':
                case '\t':
                case 0: done = true; break;
                case '"': inq = true; break;
                case '\'': insq = true; break;
                default: p->scratch.data[p->scratch.size++] = (uint8_t)c; break;
                }
            }
            if (AT(i))
                i++;
        }
#undef AT
        rc = argv_room(p, 0);
        if (rc)
            return rc;
        p->offs[p->argc] = word;
        p->argv[p->argc].len = p->scratch.size - word;
        p->argc++;
    }
    if (p->argc == 0)
        return RESP_SKIP;
    for (uint32_t k = 0; k < p->argc; k++)
        p->argv[k].ptr = (const char *)p->scratch.data + p->offs[k];
    return RESP_REQUEST;
}

static int parse_inline(resp_parser *p, const resp_limits *lim, const char *d, size_t n,
                        size_t *reqlen, size_t *need)
{
    /* The line may be max_inline bytes and its CR: the LF must come within
     * max_inline + 2 bytes. */
    size_t window = lim->max_inline < SIZE_MAX - 1 ? lim->max_inline + 2 : SIZE_MAX;
    size_t end = n < window ? n : window;
    const char *lf = end > p->pos ? memchr(d + p->pos, '\n', end - p->pos) : NULL;
    if (!lf) {
        if (n >= window || (n == window - 1 && d[n - 1] != '\r'))
            return proto_error(p, "too big inline request");
        p->pos = end;
        *need = n + 1;
        return RESP_NEED_MORE;
    }
    size_t at = (size_t)(lf - d);
    size_t qlen = at > 0 && d[at - 1] == '\r' ? at - 1 : at;
    if (qlen > lim->max_inline)
        return proto_error(p, "too big inline request");
    int rc = split_inline(p, d, qlen);
    if (rc == RESP_REQUEST || rc == RESP_SKIP) {
        *reqlen = at + 1;
        p->state = ST_START;
    }
    return rc;
}

int resp_parse(resp_parser *p, const resp_limits *lim, const char *data, size_t len,
               size_t *used, size_t *need)
{
    assert(p && lim && used && need && (data || len == 0));
    size_t base = 0;
    *need = 0;
    for (;;) {
        const char *d = data + base;
        size_t n = len - base;
        if (p->state == ST_START) {
            if (n == 0) {
                *used = base;
                *need = 1;
                return RESP_NEED_MORE;
            }
            begin_request(p);
            p->state = d[0] == '*' ? ST_MB_COUNT : ST_INLINE;
        }
        size_t reqlen = 0;
        int rc = p->state == ST_INLINE ? parse_inline(p, lim, d, n, &reqlen, need)
                                       : parse_multibulk(p, lim, d, n, &reqlen, need);
        if (rc == RESP_SKIP) {
            base += reqlen;
            continue;
        }
        if (rc == RESP_REQUEST) {
            *used = base + reqlen;
            *need = 0;
        } else {
            *used = base;
        }
        return rc;
    }
}

/* ---- replies ------------------------------------------------------------ */

size_t resp_i64_to_str(int64_t v, char *dst)
{
    char tmp[20];
    size_t n = 0;
    /* Work in the negative range: it holds INT64_MIN. */
    int64_t x = v < 0 ? v : -v;
    do {
        tmp[n++] = (char)('0' - (x % 10));
        x /= 10;
    } while (x);
    size_t len = 0;
    if (v < 0)
        dst[len++] = '-';
    while (n)
        dst[len++] = tmp[--n];
    return len;
}

/* <type><v>\r\n */
static int put_header(buf *out, char type, int64_t v)
{
    char tmp[24];
    tmp[0] = type;
    size_t n = 1 + resp_i64_to_str(v, tmp + 1);
    tmp[n++] = '\r';
    tmp[n++] = '\n';
    return buf_append(out, tmp, n);
}

static int64_t count_i64(size_t n)
{
    return n > (size_t)INT64_MAX ? INT64_MAX : (int64_t)n;
}

/* <type><text with CR and LF as spaces>\r\n */
static int put_line(buf *out, char type, const char *s, size_t n)
{
    if (n > SIZE_MAX - 3)
        return BURROW_ENOMEM;
    int rc = buf_reserve(out, n + 3);
    if (rc)
        return rc;
    uint8_t *o = out->data + out->size;
    *o++ = (uint8_t)type;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        *o++ = (uint8_t)(c == '\r' || c == '\n' ? ' ' : c);
    }
    *o++ = '\r';
    *o++ = '\n';
    out->size += n + 3;
    return 0;
}

int resp_simple(buf *out, const char *s, size_t n) { return put_line(out, '+', s, n); }

int resp_ok(buf *out) { return buf_append(out, "+OK\r\n", 5); }

int resp_error(buf *out, const char *text, size_t n) { return put_line(out, '-', text, n); }

int resp_errorf(buf *out, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return BURROW_EINVAL;
    if ((size_t)n < sizeof small)
        return resp_error(out, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return BURROW_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = resp_error(out, big, (size_t)n);
    free(big);
    return rc;
}

int resp_int(buf *out, int64_t v) { return put_header(out, ':', v); }

int resp_bulk(buf *out, const void *p, size_t n)
{
    char hdr[24];
    hdr[0] = '$';
    size_t h = 1 + resp_i64_to_str(count_i64(n), hdr + 1);
    hdr[h++] = '\r';
    hdr[h++] = '\n';
    if (n > SIZE_MAX - h - 2)
        return BURROW_ENOMEM;
    int rc = buf_reserve(out, h + n + 2);
    if (rc)
        return rc;
    uint8_t *o = out->data + out->size;
    memcpy(o, hdr, h);
    if (n)
        memcpy(o + h, p, n);
    o[h + n] = '\r';
    o[h + n + 1] = '\n';
    out->size += h + n + 2;
    return 0;
}

int resp_bulk_cstr(buf *out, const char *s)
{
    assert(s);
    return resp_bulk(out, s, strlen(s));
}

int resp_null(buf *out, int proto)
{
    return proto >= 3 ? buf_append(out, "_\r\n", 3) : buf_append(out, "$-1\r\n", 5);
}

int resp_null_array(buf *out, int proto)
{
    return proto >= 3 ? buf_append(out, "_\r\n", 3) : buf_append(out, "*-1\r\n", 5);
}

int resp_array(buf *out, size_t n) { return put_header(out, '*', count_i64(n)); }

int resp_map(buf *out, int proto, size_t n)
{
    if (proto >= 3)
        return put_header(out, '%', count_i64(n));
    return put_header(out, '*', n > (size_t)INT64_MAX / 2 ? INT64_MAX : (int64_t)n * 2);
}

int resp_set(buf *out, int proto, size_t n)
{
    return put_header(out, proto >= 3 ? '~' : '*', count_i64(n));
}

int resp_push(buf *out, int proto, size_t n)
{
    return put_header(out, proto >= 3 ? '>' : '*', count_i64(n));
}

int resp_bool(buf *out, int proto, int v)
{
    if (proto >= 3)
        return buf_append(out, v ? "#t\r\n" : "#f\r\n", 4);
    return buf_append(out, v ? ":1\r\n" : ":0\r\n", 4);
}

/*
 * Redis 7.2's text of a double (d2string, then fpconv_dtoa's layout; see
 * the top of this file). The shortest digits come from json_format_double,
 * whose JSON layout is taken apart again into digits and a power of ten.
 * Writes at most 32 bytes; returns the length.
 */
static size_t format_double(double d, char *dst)
{
    if (isnan(d)) {
        memcpy(dst, "nan", 3);
        return 3;
    }
    if (isinf(d)) {
        if (d < 0) {
            memcpy(dst, "-inf", 4);
            return 4;
        }
        memcpy(dst, "inf", 3);
        return 3;
    }
    if (d == 0) {
        if (signbit(d)) {
            memcpy(dst, "-0", 2);
            return 2;
        }
        dst[0] = '0';
        return 1;
    }
    /* Redis's double2ll: integral values within +-LLONG_MAX/2 print as
     * integers. */
    if (d >= (double)(-INT64_MAX / 2) && d <= (double)(INT64_MAX / 2)) {
        int64_t ll = (int64_t)d;
        if ((double)ll == d)
            return resp_i64_to_str(ll, dst);
    }

    /* json_format_double writes [-]mantissa[e±E], the mantissa digits
     * with at most one point. The value is mantissa-as-integer *
     * 10^(E - digits after the point); leading zeros ("0.001") and
     * trailing zeros ("2.0", "1200.0") are then dropped. */
    char text[40];
    size_t tn = json_format_double(d, text);
    char digits[40];
    int nd = 0, frac = 0, exp10 = 0;
    bool neg = false, after_point = false;
    for (size_t i = 0; i < tn; i++) {
        char c = text[i];
        if (c == '-' && i == 0) {
            neg = true;
        } else if (c == '.') {
            after_point = true;
        } else if (c == 'e') {
            size_t j = i + 1 + (text[i + 1] == '+');
            int64_t e = 0;
            bool ok = parse_ll(text + j, tn - j, &e);
            assert(ok);
            (void)ok;
            exp10 = (int)e;
            break;
        } else {
            if (after_point)
                frac++;
            if (nd > 0 || c != '0')
                digits[nd++] = c;
        }
    }
    int K = exp10 - frac;
    while (nd > 1 && digits[nd - 1] == '0') {
        nd--;
        K++;
    }
    assert(nd > 0);

    char *o = dst;
    if (neg)
        *o++ = '-';
    int e = K + nd - 1;
    int ae = e < 0 ? -e : e;
    if (K >= 0 && ae < nd + 7) {
        memcpy(o, digits, (size_t)nd);
        o += nd;
        memset(o, '0', (size_t)K);
        o += K;
        return (size_t)(o - dst);
    }
    if (K < 0 && (K > -7 || ae < 4)) {
        int offset = nd + K;
        if (offset <= 0) {
            *o++ = '0';
            *o++ = '.';
            memset(o, '0', (size_t)-offset);
            o += -offset;
            memcpy(o, digits, (size_t)nd);
            o += nd;
        } else {
            memcpy(o, digits, (size_t)offset);
            o += offset;
            *o++ = '.';
            memcpy(o, digits + offset, (size_t)(nd - offset));
            o += nd - offset;
        }
        return (size_t)(o - dst);
    }
    *o++ = digits[0];
    if (nd > 1) {
        *o++ = '.';
        memcpy(o, digits + 1, (size_t)(nd - 1));
        o += nd - 1;
    }
    *o++ = 'e';
    *o++ = e < 0 ? '-' : '+';
    o += resp_i64_to_str(ae, o);
    return (size_t)(o - dst);
}

int resp_double(buf *out, int proto, double d)
{
    char text[40];
    size_t n = format_double(d, text);
    if (proto < 3)
        return resp_bulk(out, text, n);
    char tmp[48];
    tmp[0] = ',';
    memcpy(tmp + 1, text, n);
    tmp[n + 1] = '\r';
    tmp[n + 2] = '\n';
    return buf_append(out, tmp, n + 3);
}

int resp_verbatim(buf *out, int proto, const char *p, size_t n)
{
    if (proto < 3)
        return resp_bulk(out, p, n);
    char hdr[32];
    hdr[0] = '=';
    size_t h = 1 + resp_i64_to_str(n > (size_t)INT64_MAX - 4 ? INT64_MAX : (int64_t)n + 4, hdr + 1);
    memcpy(hdr + h, "\r\ntxt:", 6);
    h += 6;
    if (n > SIZE_MAX - h - 2)
        return BURROW_ENOMEM;
    int rc = buf_reserve(out, h + n + 2);
    if (rc)
        return rc;
    uint8_t *o = out->data + out->size;
    memcpy(o, hdr, h);
    if (n)
        memcpy(o + h, p, n);
    o[h + n] = '\r';
    o[h + n + 1] = '\n';
    out->size += h + n + 2;
    return 0;
}
