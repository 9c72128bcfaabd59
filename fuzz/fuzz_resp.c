/*
 * fuzz_resp.c — libFuzzer target for the RESP request parser.
 *
 * Input layout (so the fuzzer controls the pieces as well as the bytes):
 *   byte 0      bits 0-5: the number of pieces P (0-63) the stream is cut
 *               into before its last piece; bit 6: small limits (max_bulk
 *               64, max_args 8, max_inline 32) instead of Redis's defaults;
 *               bit 7: piece sizes x 37 (long requests in few pieces).
 *   bytes 1..P  each piece's size minus one (the last piece takes the rest)
 *   the rest    the byte stream a client sent
 * The stream is parsed whole, then delivered in those pieces as a
 * connection would (each call sees a fresh, exactly sized copy of the
 * bytes kept since the current request began, so the bytes "move" between
 * calls and any read past them is caught by ASan). Promises checked:
 *  - both ways give the same requests, argument for argument, and end the
 *    same way: the same protocol error text, or the same bytes pending;
 *  - every argument lies inside the bytes given or the parser's scratch;
 *  - *used never exceeds the bytes given and NEED_MORE's hint asks for
 *    more than is there;
 *  - a protocol error's text starts "Protocol error: ";
 *  - nothing leaks (LeakSanitizer) once the parser is freed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/resp.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_resp: %s failed\n", #c);                                         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct conn {
    resp_parser p;
    const resp_limits *lim;
    char *pending;
    size_t len;
    buf log; /* the requests seen, serialised: argc, then len + bytes each */
    bool dead;
    char err[128];
} conn;

static void log_u64(buf *b, uint64_t v) { CHECK(buf_append(b, &v, sizeof v) == 0); }

static void feed(conn *c, const uint8_t *bytes, size_t n)
{
    if (c->dead)
        return;
    char *grown = realloc(c->pending, c->len + n + 1);
    CHECK(grown);
    c->pending = grown;
    if (n)
        memcpy(c->pending + c->len, bytes, n);
    c->len += n;
    for (;;) {
        char *copy = malloc(c->len ? c->len : 1);
        CHECK(copy);
        if (c->len)
            memcpy(copy, c->pending, c->len);
        size_t used = 0, need = 0;
        int rc = resp_parse(&c->p, c->lim, copy, c->len, &used, &need);
        if (rc == RESP_EPROTO) {
            CHECK(strncmp(c->p.err, "Protocol error: ", 16) == 0);
            snprintf(c->err, sizeof c->err, "%s", c->p.err);
            c->dead = true;
            free(copy);
            return;
        }
        CHECK(rc == RESP_REQUEST || rc == RESP_NEED_MORE);
        CHECK(used <= c->len);
        if (rc == RESP_REQUEST) {
            CHECK(used > 0 && c->p.argc > 0);
            log_u64(&c->log, c->p.argc);
            const char *scratch = (const char *)c->p.scratch.data;
            for (uint32_t i = 0; i < c->p.argc; i++) {
                const resp_arg *a = &c->p.argv[i];
                bool in_data = a->ptr >= copy && a->len <= used &&
                               (size_t)(a->ptr - copy) <= used - a->len;
                bool in_scratch = scratch && a->ptr >= scratch &&
                                  a->len <= c->p.scratch.size &&
                                  (size_t)(a->ptr - scratch) <= c->p.scratch.size - a->len;
                CHECK(in_data || in_scratch || a->len == 0);
                log_u64(&c->log, a->len);
                if (a->len)
                    CHECK(buf_append(&c->log, a->ptr, a->len) == 0);
            }
        } else {
            CHECK(need > c->len - used);
        }
        free(copy);
        memmove(c->pending, c->pending + used, c->len - used);
        c->len -= used;
        if (rc == RESP_NEED_MORE)
            return;
    }
}

static void conn_init(conn *c, const resp_limits *lim)
{
    memset(c, 0, sizeof *c);
    resp_parser_init(&c->p);
    c->lim = lim;
}

static void conn_free(conn *c)
{
    resp_parser_free(&c->p);
    free(c->pending);
    buf_free(&c->log);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t pieces = data[0] & 63;
    bool small = (data[0] & 64) != 0;
    size_t scale = (data[0] & 128) ? 37 : 1;
    if (1 + pieces > size)
        pieces = size - 1;
    const uint8_t *sizes = data + 1;
    const uint8_t *stream = data + 1 + pieces;
    size_t n = size - 1 - pieces;

    resp_limits lim;
    if (small) {
        lim.max_bulk = 64;
        lim.max_args = 8;
        lim.max_inline = 32;
    } else {
        resp_limits_default(&lim);
    }

    conn whole, cut;
    conn_init(&whole, &lim);
    feed(&whole, stream, n);

    conn_init(&cut, &lim);
    size_t at = 0;
    for (size_t i = 0; i < pieces && at < n; i++) {
        size_t k = ((size_t)sizes[i] + 1) * scale;
        if (k > n - at)
            k = n - at;
        feed(&cut, stream + at, k);
        at += k;
    }
    feed(&cut, stream + at, n - at);

    CHECK(whole.log.size == cut.log.size);
    CHECK(whole.log.size == 0 || memcmp(whole.log.data, cut.log.data, whole.log.size) == 0);
    CHECK(whole.dead == cut.dead);
    if (whole.dead)
        CHECK(strcmp(whole.err, cut.err) == 0);
    else
        CHECK(whole.len == cut.len);

    conn_free(&whole);
    conn_free(&cut);
    return 0;
}
