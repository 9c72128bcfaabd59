/*
 * resp.h — the Redis protocol (RESP2 and RESP3): parsing requests and
 * writing replies.
 *
 * The framing is described byte by byte at the top of resp.c. This module
 * knows bytes only: no sockets, no database. net/ parses with it; the
 * commands in server/ write their replies with it.
 *
 * Requests. A client sends either a multibulk request
 *     *<argc>\r\n  then argc times  $<len>\r\n<len bytes>\r\n
 * or an inline command (a line of space-separated words, with "double" and
 * 'single' quotes as redis-cli and telnet users type them). Empty inline
 * lines and *0 / *-1 requests are skipped, as Redis does.
 *
 * The parser is incremental: it is given the bytes of the current request
 * from its first byte on, as many as have arrived, and remembers how far it
 * got, so a request that arrives in many pieces (a 512 MiB bulk, a 100,000
 * argument MSET) is scanned once. It never trusts a length from the
 * network: every count and length is checked against resp_limits before
 * anything is reserved for it.
 */
#ifndef BURROW_SERVER_RESP_H
#define BURROW_SERVER_RESP_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

/* Limits on one request (Redis's defaults in brackets). */
typedef struct resp_limits {
    size_t max_bulk;     /* longest bulk argument (proto-max-bulk-len, 512 MiB) */
    uint32_t max_args;   /* most arguments in one multibulk (1024 * 1024) */
    size_t max_inline;   /* longest inline line without its \r\n (64 KiB) */
} resp_limits;

void resp_limits_default(resp_limits *lim);

/* One argument of a parsed request. */
typedef struct resp_arg {
    const char *ptr; /* not NUL-terminated */
    size_t len;
} resp_arg;

/* Parser state for one connection. Zeroed by resp_parser_init; owns argv
 * (and the inline scratch) until resp_parser_free. */
typedef struct resp_parser {
    /* The request found by the last resp_parse that returned RESP_REQUEST:
     * argv[0..argc). Each ptr points into the data given to that call (or,
     * for inline commands, into the parser's own scratch), valid until the
     * next resp_parse or resp_parser_reset on this parser, or until the
     * caller changes or moves those bytes. */
    resp_arg *argv;
    uint32_t argc;
    /* The reason of the last RESP_EPROTO, Redis's words without the "-" or
     * "\r\n": "Protocol error: invalid bulk length". NUL-terminated. */
    char err[128];

    /* Private: where the parse stands inside the current request. */
    int state;
    uint32_t argv_cap;
    uint64_t want_args;  /* argc announced by the multibulk header */
    uint64_t bulk_len;   /* length of the bulk being read */
    size_t pos;          /* bytes of the current request examined so far */
    size_t *offs;        /* argument offsets while the request is incomplete */
    buf scratch;         /* inline arguments after unquoting */
} resp_parser;

void resp_parser_init(resp_parser *p);
void resp_parser_free(resp_parser *p);
/* Forget the request in progress (after the caller dropped its bytes). */
void resp_parser_reset(resp_parser *p);

enum {
    RESP_NEED_MORE = 0, /* the request is not complete yet */
    RESP_REQUEST = 1,   /* one request is complete: p->argv, p->argc */
    RESP_EPROTO = -1,   /* malformed: p->err says why; close the connection */
};

/*
 * Parse the request starting at data[0]; len bytes are available. The
 * caller passes the same request start (with more bytes) until the result
 * is not RESP_NEED_MORE; it may move the bytes between calls (offsets, not
 * pointers, are remembered).
 *  - RESP_REQUEST: *used = the request's length in bytes (the next request
 *    starts at data[*used]); the parser is ready for the next request.
 *    Skipped input (empty lines, *0) counts into *used too, and may make a
 *    call return RESP_NEED_MORE with *used > 0: the caller drops those bytes
 *    and calls again with the rest.
 *  - RESP_NEED_MORE: *used = bytes that may be dropped (see above, usually
 *    0); *need = the total length (from data[*used]) that the request is
 *    known to need so far, so the caller can wait for that many bytes
 *    before calling again (a hint: always > the bytes available).
 *  - RESP_EPROTO: p->err holds Redis's message.
 * BURROW_ENOMEM (negative, != RESP_EPROTO) when argv could not grow.
 */
int resp_parse(resp_parser *p, const resp_limits *lim, const char *data, size_t len,
               size_t *used, size_t *need);

/* ---- replies ----------------------------------------------------------- */

/*
 * Each appends one RESP value (or a container header, whose elements the
 * caller appends next) to out, in the protocol version proto (2 or 3), and
 * returns 0 or BURROW_ENOMEM (out unchanged on failure). Where RESP2 has no
 * such type, the value is written as Redis writes it to a RESP2 client.
 */
int resp_simple(buf *out, const char *s, size_t n);   /* +s (CR/LF replaced by spaces) */
int resp_ok(buf *out);                                 /* +OK */
/* -<text>: text starts with the error code ("ERR ...", "WRONGTYPE ...");
 * CR and LF in it are replaced by spaces. */
int resp_error(buf *out, const char *text, size_t n);
int resp_errorf(buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int resp_int(buf *out, int64_t v);                     /* :v */
int resp_bulk(buf *out, const void *p, size_t n);      /* $n p */
int resp_bulk_cstr(buf *out, const char *s);
int resp_null(buf *out, int proto);        /* RESP3 _, RESP2 $-1 (null bulk) */
int resp_null_array(buf *out, int proto);  /* RESP3 _, RESP2 *-1 */
int resp_array(buf *out, size_t n);        /* *n */
int resp_map(buf *out, int proto, size_t n);   /* %n pairs; RESP2 *2n */
int resp_set(buf *out, int proto, size_t n);   /* ~n; RESP2 *n */
int resp_push(buf *out, int proto, size_t n);  /* >n; RESP2 *n */
int resp_bool(buf *out, int proto, int v);     /* #t/#f; RESP2 :1/:0 */
/* ,<shortest round-trip>; RESP2: the same digits as a bulk string. Infinity
 * is ,inf / ,-inf. */
int resp_double(buf *out, int proto, double d);
/* =n txt:<text>; RESP2: a bulk string of the text. */
int resp_verbatim(buf *out, int proto, const char *p, size_t n);

/* Length of the decimal form of v, and writing it (no NUL) to dst, which
 * has room for 20 bytes. Shared with the INFO and CLIENT LIST writers. */
size_t resp_i64_to_str(int64_t v, char *dst);

#endif
