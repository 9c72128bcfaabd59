/*
 * test_resp.c — the RESP codec (src/server/resp.c):
 *
 *  - multibulk and inline requests give the arguments a client sent, binary
 *    bytes (CR, LF, NUL, all 256 values) included;
 *  - every protocol error gives Redis's exact text, and is found as soon as
 *    the bytes that prove it are there (a count or length above the limit
 *    before any of its data);
 *  - inline quoting as redis-cli/telnet users type it (sdssplitargs),
 *    unbalanced quotes refused;
 *  - empty lines and *0 / *-1 are skipped and counted into *used;
 *  - a request split at every byte boundary, or fed a byte at a time, gives
 *    the same requests and the same final state as the whole; the caller
 *    moves the bytes between calls (every call sees a fresh, exactly sized
 *    copy, so a remembered pointer or an over-read shows up under ASan);
 *  - long random pipelines in random pieces;
 *  - limits: a huge announced length or count reserves nothing, argv grows
 *    only with the arguments that arrive;
 *  - the exact bytes of every reply writer in RESP2 and RESP3, and the text
 *    of doubles as Redis 7.2 prints them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/resp.h"
#include "testutil.h"

#define S(lit) lit, sizeof(lit) - 1

/* ---- a simulated connection ---------------------------------------------------------- */

typedef struct arg_copy {
    char *p;
    size_t n;
} arg_copy;

typedef struct req_copy {
    arg_copy *args;
    uint32_t argc;
} req_copy;

/* What a connection saw: the requests, then either a protocol error (its
 * text) or bytes still waiting (the incomplete request's length). */
typedef struct outcome {
    req_copy *reqs;
    size_t nreqs, cap;
    int status; /* RESP_NEED_MORE or RESP_EPROTO */
    char err[128];
    size_t pending_len; /* bytes of the incomplete request kept */
} outcome;

typedef struct conn {
    resp_parser p;
    resp_limits lim;
    char *pending; /* bytes from the start of the current request */
    size_t len;
    outcome out;
    bool dead;
} conn;

static void conn_init(conn *c, const resp_limits *lim)
{
    memset(c, 0, sizeof *c);
    resp_parser_init(&c->p);
    if (lim)
        c->lim = *lim;
    else
        resp_limits_default(&c->lim);
    c->out.status = RESP_NEED_MORE;
}

static void outcome_free(outcome *o)
{
    for (size_t i = 0; i < o->nreqs; i++) {
        for (uint32_t j = 0; j < o->reqs[i].argc; j++)
            free(o->reqs[i].args[j].p);
        free(o->reqs[i].args);
    }
    free(o->reqs);
    memset(o, 0, sizeof *o);
}

static void conn_free(conn *c)
{
    resp_parser_free(&c->p);
    free(c->pending);
    outcome_free(&c->out);
}

static void record(conn *c, const char *base, size_t blen)
{
    outcome *o = &c->out;
    if (o->nreqs == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->reqs = realloc(o->reqs, o->cap * sizeof *o->reqs);
        assert_non_null(o->reqs);
    }
    req_copy *r = &o->reqs[o->nreqs++];
    r->argc = c->p.argc;
    r->args = calloc(c->p.argc ? c->p.argc : 1, sizeof *r->args);
    assert_non_null(r->args);
    for (uint32_t i = 0; i < c->p.argc; i++) {
        const resp_arg *a = &c->p.argv[i];
        /* Every argument lies inside the bytes given, or in the parser's
         * own scratch (inline words). */
        bool in_data = a->len == 0 || (a->ptr >= base && a->ptr + a->len <= base + blen);
        bool in_scratch =
            c->p.scratch.data && a->ptr >= (const char *)c->p.scratch.data &&
            a->ptr + a->len <= (const char *)c->p.scratch.data + c->p.scratch.size;
        if (!in_data && !in_scratch)
            fail_msg("argument %u lies outside the data and the scratch", i);
        r->args[i].p = malloc(a->len ? a->len : 1);
        assert_non_null(r->args[i].p);
        if (a->len)
            memcpy(r->args[i].p, a->ptr, a->len);
        r->args[i].n = a->len;
    }
}

/* Deliver n more bytes, as a network read would, and run the parser until
 * it needs more. Each call sees a fresh, exactly sized copy of the pending
 * bytes: the caller "moves" them every time. */
static void conn_feed(conn *c, const char *bytes, size_t n)
{
    if (c->dead)
        return;
    c->pending = realloc(c->pending, c->len + n + 1);
    assert_non_null(c->pending);
    if (n)
        memcpy(c->pending + c->len, bytes, n);
    c->len += n;
    for (;;) {
        char *copy = malloc(c->len ? c->len : 1);
        assert_non_null(copy);
        memcpy(copy, c->pending, c->len);
        size_t used = 12345, need = 12345;
        int rc = resp_parse(&c->p, &c->lim, copy, c->len, &used, &need);
        if (rc == RESP_REQUEST) {
            assert_true(used > 0 && used <= c->len);
            record(c, copy, c->len);
        } else if (rc == RESP_NEED_MORE) {
            assert_true(used <= c->len);
            /* the hint always asks for more than is there */
            assert_true(need > c->len - used);
        } else {
            assert_int_equal(rc, RESP_EPROTO);
            c->out.status = RESP_EPROTO;
            snprintf(c->out.err, sizeof c->out.err, "%s", c->p.err);
            c->dead = true;
            free(copy);
            return;
        }
        free(copy);
        memmove(c->pending, c->pending + used, c->len - used);
        c->len -= used;
        if (rc == RESP_NEED_MORE)
            break;
    }
    c->out.pending_len = c->len;
}

static void outcome_equal(const outcome *a, const outcome *b, const char *what)
{
    if (a->nreqs != b->nreqs)
        fail_msg("%s: %zu requests, want %zu", what, a->nreqs, b->nreqs);
    for (size_t i = 0; i < a->nreqs; i++) {
        if (a->reqs[i].argc != b->reqs[i].argc)
            fail_msg("%s: request %zu has %u args, want %u", what, i, a->reqs[i].argc,
                     b->reqs[i].argc);
        for (uint32_t j = 0; j < a->reqs[i].argc; j++) {
            if (a->reqs[i].args[j].n != b->reqs[i].args[j].n ||
                memcmp(a->reqs[i].args[j].p, b->reqs[i].args[j].p, a->reqs[i].args[j].n) != 0)
                fail_msg("%s: request %zu arg %u differs", what, i, j);
        }
    }
    if (a->status != b->status)
        fail_msg("%s: status %d, want %d (%s)", what, a->status, b->status, a->err);
    if (a->status == RESP_EPROTO && strcmp(a->err, b->err) != 0)
        fail_msg("%s: error '%s', want '%s'", what, a->err, b->err);
    if (a->status == RESP_NEED_MORE && a->pending_len != b->pending_len)
        fail_msg("%s: %zu bytes pending, want %zu", what, a->pending_len, b->pending_len);
}

/* The outcome of the whole input at once. */
static void run_whole(const resp_limits *lim, const char *in, size_t n, conn *c)
{
    conn_init(c, lim);
    conn_feed(c, in, n);
}

/* Whole, split at every boundary, and a byte at a time must agree. */
static void check_splits(const resp_limits *lim, const char *in, size_t n)
{
    conn whole;
    run_whole(lim, in, n, &whole);
    for (size_t k = 0; k <= n; k++) {
        conn c;
        conn_init(&c, lim);
        conn_feed(&c, in, k);
        conn_feed(&c, in + k, n - k);
        char what[64];
        snprintf(what, sizeof what, "split at %zu of %zu", k, n);
        outcome_equal(&c.out, &whole.out, what);
        conn_free(&c);
    }
    conn c;
    conn_init(&c, lim);
    for (size_t k = 0; k < n; k++)
        conn_feed(&c, in + k, 1);
    outcome_equal(&c.out, &whole.out, "byte at a time");
    conn_free(&c);
    conn_free(&whole);
}

/* One request expected: the args as NUL-separated list "a\0b\0" with lens. */
static void expect_args(const outcome *o, size_t i, int argc, ...)
{
    if (o->nreqs <= i)
        fail_msg("no request %zu (have %zu; status %d %s)", i, o->nreqs, o->status, o->err);
    assert_int_equal(o->reqs[i].argc, argc);
    va_list ap;
    va_start(ap, argc);
    for (int j = 0; j < argc; j++) {
        const char *s = va_arg(ap, const char *);
        size_t n = va_arg(ap, size_t);
        if (o->reqs[i].args[j].n != n || memcmp(o->reqs[i].args[j].p, s, n) != 0)
            fail_msg("request %zu arg %d: got '%.*s' (%zu bytes), want '%.*s'", i, j,
                     (int)o->reqs[i].args[j].n, o->reqs[i].args[j].p, o->reqs[i].args[j].n,
                     (int)n, s);
    }
    va_end(ap);
}

#define A(lit) lit, (size_t)(sizeof(lit) - 1)

/* ---- requests ------------------------------------------------------------------------ */

static void test_multibulk(void **state)
{
    (void)state;
    static const char in[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n";
    resp_parser p;
    resp_limits lim;
    resp_parser_init(&p);
    resp_limits_default(&lim);
    size_t used, need;
    assert_int_equal(resp_parse(&p, &lim, in, sizeof in - 1, &used, &need), RESP_REQUEST);
    assert_int_equal(used, sizeof in - 1);
    assert_int_equal(p.argc, 3);
    assert_memory_equal(p.argv[0].ptr, "SET", 3);
    assert_int_equal(p.argv[2].len, 5);
    /* arguments point into the caller's bytes, not into copies */
    assert_ptr_equal(p.argv[2].ptr, in + sizeof in - 8);

    /* A prefix: the hint names the whole length once the bulk header is in. */
    resp_parser_reset(&p);
    assert_int_equal(resp_parse(&p, &lim, in, 19, &used, &need), RESP_NEED_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(need, 20); /* up to "$1\r\nk\r\n" */
    assert_int_equal(resp_parse(&p, &lim, in, 26, &used, &need), RESP_NEED_MORE);
    assert_int_equal(need, sizeof in - 1);
    assert_int_equal(resp_parse(&p, &lim, in, sizeof in - 1, &used, &need), RESP_REQUEST);
    assert_int_equal(p.argc, 3);
    assert_memory_equal(p.argv[1].ptr, "k", 1);

    /* Empty bulk, and nothing given yet. */
    resp_parser_reset(&p);
    assert_int_equal(resp_parse(&p, &lim, "", 0, &used, &need), RESP_NEED_MORE);
    assert_int_equal(need, 1);
    assert_int_equal(resp_parse(&p, &lim, S("*1\r\n$0\r\n\r\n"), &used, &need), RESP_REQUEST);
    assert_int_equal(p.argc, 1);
    assert_int_equal(p.argv[0].len, 0);
    resp_parser_free(&p);
}

static void test_binary_args(void **state)
{
    (void)state;
    /* Every byte value, CR LF and NUL inside arguments, and a length-prefixed
     * "*" and "$" that must not be taken for headers. */
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    buf in = {0};
    const char hdr[] = "*4\r\n$256\r\n";
    assert_int_equal(buf_append(&in, hdr, sizeof hdr - 1), 0);
    assert_int_equal(buf_append(&in, all, 256), 0);
    assert_int_equal(buf_append(&in, S("\r\n$6\r\na\r\nb\0c\r\n$4\r\n*1\r\n\r\n$5\r\n$3\r\nx\r\n")), 0);
    conn c;
    run_whole(NULL, (char *)in.data, in.size, &c);
    assert_int_equal(c.out.nreqs, 1);
    assert_int_equal(c.out.reqs[0].argc, 4);
    assert_int_equal(c.out.reqs[0].args[0].n, 256);
    assert_memory_equal(c.out.reqs[0].args[0].p, all, 256);
    expect_args(&c.out, 0, 4, all, (size_t)256, "a\r\nb\0c", (size_t)6, A("*1\r\n"), A("$3\r\nx"));
    assert_int_equal(c.out.pending_len, 0);
    conn_free(&c);
    check_splits(NULL, (char *)in.data, in.size);
    buf_free(&in);
}

struct err_case {
    const char *in;
    size_t n;
    const char *err;
};

#define E(lit, err) { lit, sizeof(lit) - 1, err }

static void test_protocol_errors(void **state)
{
    (void)state;
    static const struct err_case cases[] = {
        E("*abc\r\n", "Protocol error: invalid multibulk length"),
        E("*\r\n", "Protocol error: invalid multibulk length"),
        E("*-\r\n", "Protocol error: invalid multibulk length"),
        E("*01\r\n", "Protocol error: invalid multibulk length"),
        E("*+1\r\n", "Protocol error: invalid multibulk length"),
        E("* 1\r\n", "Protocol error: invalid multibulk length"),
        E("*1 \r\n", "Protocol error: invalid multibulk length"),
        E("*1048577\r\n", "Protocol error: invalid multibulk length"),
        E("*99999999999999999999\r\n", "Protocol error: invalid multibulk length"),
        E("*1\rX", "Protocol error: invalid multibulk length"),
        E("*1\r\n$-1\r\n", "Protocol error: invalid bulk length"),
        E("*1\r\n$abc\r\n", "Protocol error: invalid bulk length"),
        E("*1\r\n$\r\n", "Protocol error: invalid bulk length"),
        E("*1\r\n$03\r\n", "Protocol error: invalid bulk length"),
        E("*1\r\n$-0\r\n", "Protocol error: invalid bulk length"),
        E("*1\r\n$536870913\r\n", "Protocol error: invalid bulk length"),
        E("*1\r\n$9223372036854775808\r\n", "Protocol error: invalid bulk length"),
        E("*1\r\n$3\rX", "Protocol error: invalid bulk length"),
        E("*1\r\n$3\r\nfooXY", "Protocol error: invalid bulk length"),
        E("*1\r\n$3\r\nfoo\rX", "Protocol error: invalid bulk length"),
        E("*1\r\n$3\r\nfoo\n\r", "Protocol error: invalid bulk length"),
        E("*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'"),
        E("*2\r\n$1\r\na\r\n:1\r\n", "Protocol error: expected '$', got ':'"),
        E("*1\r\n*1\r\n", "Protocol error: expected '$', got '*'"),
        E("*1\r\n\r\n", "Protocol error: expected '$', got '\r'"),
        E("SET \"a\r\n", "Protocol error: unbalanced quotes in request"),
        E("SET 'a\r\n", "Protocol error: unbalanced quotes in request"),
        E("SET \"a\"b\r\n", "Protocol error: unbalanced quotes in request"),
        E("SET 'a'b\r\n", "Protocol error: unbalanced quotes in request"),
        E("PING\r\nECHO \"x\n", "Protocol error: unbalanced quotes in request"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        conn c;
        run_whole(NULL, cases[i].in, cases[i].n, &c);
        if (c.out.status != RESP_EPROTO)
            fail_msg("case %zu: no error (status %d)", i, c.out.status);
        if (strcmp(c.out.err, cases[i].err) != 0)
            fail_msg("case %zu: '%s', want '%s'", i, c.out.err, cases[i].err);
        conn_free(&c);
        /* The same error whatever pieces the bytes came in. */
        check_splits(NULL, cases[i].in, cases[i].n);
    }

    /* The error is found as soon as its bytes are there: one byte fewer
     * still waits. */
    resp_parser p;
    resp_limits lim;
    resp_limits_default(&lim);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strncmp(cases[i].in, "PING", 4) == 0)
            continue; /* a complete request comes first */
        size_t used, need;
        resp_parser_init(&p);
        int rc = resp_parse(&p, &lim, cases[i].in, cases[i].n - 1, &used, &need);
        if (rc != RESP_NEED_MORE)
            fail_msg("case %zu: the error came %d before its last byte (%s)", i, rc, p.err);
        resp_parser_free(&p);
    }

    /* The "too big" texts, at the default 64 KiB and at a small limit. */
    size_t big = 64 * 1024 + 2;
    char *junk = malloc(big + 16);
    assert_non_null(junk);
    memset(junk, 'x', big + 16);
    conn c;
    run_whole(NULL, junk, big, &c);
    assert_int_equal(c.out.status, RESP_EPROTO);
    assert_string_equal(c.out.err, "Protocol error: too big inline request");
    conn_free(&c);

    junk[0] = '*';
    run_whole(NULL, junk, 64 * 1024 + 1, &c);
    assert_int_equal(c.out.status, RESP_EPROTO);
    assert_string_equal(c.out.err, "Protocol error: too big mbulk count string");
    conn_free(&c);
    run_whole(NULL, junk, 64 * 1024, &c);
    assert_int_equal(c.out.status, RESP_NEED_MORE);
    conn_free(&c);

    memcpy(junk, "*1\r\n$", 5);
    run_whole(NULL, junk, 4 + 64 * 1024 + 1, &c);
    assert_int_equal(c.out.status, RESP_EPROTO);
    assert_string_equal(c.out.err, "Protocol error: too big bulk count string");
    conn_free(&c);
    /* The length limit applies before the '$' is looked at, as in Redis. */
    memcpy(junk, "*1\r\nX", 5);
    run_whole(NULL, junk, 4 + 64 * 1024 + 1, &c);
    assert_string_equal(c.out.err, "Protocol error: too big bulk count string");
    conn_free(&c);
    free(junk);

    resp_limits small = {.max_bulk = 10, .max_args = 3, .max_inline = 8};
    check_splits(&small, S("*123456789"));
    check_splits(&small, S("*1\r\n$123456789"));
    check_splits(&small, S("123456789"));
    check_splits(&small, S("GET abcd\r\n"));
    check_splits(&small, S("GET abcde\r\n"));
}

static void test_skip(void **state)
{
    (void)state;
    static const char in[] = "\r\n\n   \r\n \t \n*0\r\n*-1\r\n*-12\r\nPING\r\n";
    conn c;
    run_whole(NULL, S(in), &c);
    assert_int_equal(c.out.nreqs, 1);
    expect_args(&c.out, 0, 1, A("PING"));
    assert_int_equal(c.out.pending_len, 0);
    conn_free(&c);
    check_splits(NULL, S(in));

    /* Skipped bytes alone: NEED_MORE, and *used tells the caller to drop
     * them; a request after them in the same call is still found. */
    resp_parser p;
    resp_limits lim;
    resp_parser_init(&p);
    resp_limits_default(&lim);
    size_t used, need;
    assert_int_equal(resp_parse(&p, &lim, S("*0\r\n\r\n"), &used, &need), RESP_NEED_MORE);
    assert_int_equal(used, 6);
    assert_int_equal(need, 1);
    assert_int_equal(resp_parse(&p, &lim, S("*0\r\n*1\r\n$1\r\nx\r\n*1"), &used, &need),
                     RESP_REQUEST);
    assert_int_equal(used, 15);
    assert_int_equal(p.argc, 1);
    assert_int_equal(resp_parse(&p, &lim, S("*0\r\n*1\r"), &used, &need), RESP_NEED_MORE);
    assert_int_equal(used, 4);
    assert_int_equal(need, 4); /* "*1\r" and its LF, counted from data[used] */
    resp_parser_free(&p);
}

struct inline_case {
    const char *line;
    size_t n;
    int argc; /* -1: unbalanced quotes */
    const char *args[4];
    size_t lens[4];
};

static void test_inline(void **state)
{
    (void)state;
    static const struct inline_case cases[] = {
        {S("PING\r\n"), 1, {"PING"}, {4}},
        {S("PING\n"), 1, {"PING"}, {4}},
        {S("  SET   k  v  \r\n"), 3, {"SET", "k", "v"}, {3, 1, 1}},
        {S("SET k \"hello world\"\r\n"), 3, {"SET", "k", "hello world"}, {3, 1, 11}},
        {S("ECHO \"a\\x41\\x4a\\n\\r\\t\\b\\a\\\\\\\"\"\r\n"), 2, {"ECHO", "aAJ\n\r\t\b\a\\\""},
         {4, 10}},
        {S("ECHO \"\\xZZ\\q\\x4\"\r\n"), 2, {"ECHO", "xZZqx4"}, {4, 6}},
        {S("ECHO 'it\\'s'\r\n"), 2, {"ECHO", "it's"}, {4, 4}},
        {S("ECHO 'a\\nb\"c'\r\n"), 2, {"ECHO", "a\\nb\"c"}, {4, 6}},
        {S("ECHO ab\"c d\"\r\n"), 2, {"ECHO", "abc d"}, {4, 5}},
        {S("ECHO a'b c'\r\n"), 2, {"ECHO", "ab c"}, {4, 4}},
        {S("ECHO \"\" ''\r\n"), 3, {"ECHO", "", ""}, {4, 0, 0}},
        {S("ECHO \"a\"\t\"b\"\r\n"), 3, {"ECHO", "a", "b"}, {4, 1, 1}},
        {S("ECHO \"a\"\v\r\n"), 2, {"ECHO", "a"}, {4, 1}},
        {S("a\tb\r\n"), 2, {"a", "b"}, {1, 1}},
        {S("a\vb\fc\r\n"), 1, {"a\vb\fc"}, {5}},
        {S("\va\r\n"), 1, {"a"}, {1}},
        {S("a\rb\r\n"), 2, {"a", "b"}, {1, 1}},
        {S("PING\0junk \"\r\n"), 1, {"PING"}, {4}},
        {S("ECHO \"x\0\"\r\n"), -1, {0}, {0}},
        {S("ECHO \"abc\r\n"), -1, {0}, {0}},
        {S("ECHO \"a\"b\r\n"), -1, {0}, {0}},
        {S("ECHO 'a'\"b\"\r\n"), -1, {0}, {0}},
        {S("ECHO 'abc\r\n"), -1, {0}, {0}},
        {S("ECHO \"ab\\\"\r\n"), -1, {0}, {0}},
        {S("ECHO \"ab\\\r\n"), -1, {0}, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct inline_case *t = &cases[i];
        conn c;
        run_whole(NULL, t->line, t->n, &c);
        if (t->argc < 0) {
            if (c.out.status != RESP_EPROTO)
                fail_msg("inline case %zu: accepted", i);
            assert_string_equal(c.out.err, "Protocol error: unbalanced quotes in request");
        } else {
            if (c.out.nreqs != 1)
                fail_msg("inline case %zu: %zu requests (%s)", i, c.out.nreqs, c.out.err);
            assert_int_equal(c.out.reqs[0].argc, t->argc);
            for (int j = 0; j < t->argc; j++) {
                if (c.out.reqs[0].args[j].n != t->lens[j] ||
                    memcmp(c.out.reqs[0].args[j].p, t->args[j], t->lens[j]) != 0)
                    fail_msg("inline case %zu arg %d: '%.*s'", i, j, (int)c.out.reqs[0].args[j].n,
                             c.out.reqs[0].args[j].p);
            }
            assert_int_equal(c.out.pending_len, 0);
        }
        conn_free(&c);
        check_splits(NULL, t->line, t->n);
    }

    /* Inline and multibulk requests mixed in one pipeline. */
    static const char mix[] = "PING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO 'x y'\n\r\nGET k\r\n";
    conn c;
    run_whole(NULL, S(mix), &c);
    assert_int_equal(c.out.nreqs, 4);
    expect_args(&c.out, 1, 2, A("ECHO"), A("hi"));
    expect_args(&c.out, 2, 2, A("ECHO"), A("x y"));
    expect_args(&c.out, 3, 2, A("GET"), A("k"));
    conn_free(&c);
    check_splits(NULL, S(mix));
}

static void test_limits(void **state)
{
    (void)state;
    resp_limits lim = {.max_bulk = 10, .max_args = 3, .max_inline = 16};
    resp_parser p;
    size_t used, need;

    /* Count and length just above the limit: refused from the header
     * alone; at the limit: accepted. */
    resp_parser_init(&p);
    assert_int_equal(resp_parse(&p, &lim, S("*4\r\n"), &used, &need), RESP_EPROTO);
    assert_string_equal(p.err, "Protocol error: invalid multibulk length");
    resp_parser_free(&p);
    resp_parser_init(&p);
    assert_int_equal(resp_parse(&p, &lim, S("*3\r\n$11\r\n"), &used, &need), RESP_EPROTO);
    assert_string_equal(p.err, "Protocol error: invalid bulk length");
    resp_parser_free(&p);
    resp_parser_init(&p);
    assert_int_equal(resp_parse(&p, &lim, S("*3\r\n$10\r\n"), &used, &need), RESP_NEED_MORE);
    assert_int_equal(need, 9 + 10 + 2);
    assert_int_equal(
        resp_parse(&p, &lim, S("*3\r\n$10\r\n0123456789\r\n$0\r\n\r\n$1\r\nx\r\n"), &used, &need),
        RESP_REQUEST);
    assert_int_equal(p.argc, 3);
    resp_parser_free(&p);

    /* Header lines: a CR within max_inline + 1 bytes of the line start. */
    resp_parser_init(&p);
    assert_int_equal(resp_parse(&p, &lim, S("*000000000000000"), &used, &need), RESP_NEED_MORE);
    assert_int_equal(resp_parse(&p, &lim, S("*000000000000000\r"), &used, &need), RESP_NEED_MORE);
    assert_int_equal(resp_parse(&p, &lim, S("*000000000000000\r\n"), &used, &need), RESP_EPROTO);
    assert_string_equal(p.err, "Protocol error: invalid multibulk length");
    resp_parser_free(&p);
    resp_parser_init(&p);
    assert_int_equal(resp_parse(&p, &lim, S("*0000000000000000"), &used, &need), RESP_EPROTO);
    assert_string_equal(p.err, "Protocol error: too big mbulk count string");
    resp_parser_free(&p);

    /* Inline lines: max_inline bytes plus CR LF pass; one more fails, as
     * soon as it is certain. */
    resp_parser_init(&p);
    assert_int_equal(resp_parse(&p, &lim, S("ECHO 01234567890\r\n"), &used, &need), RESP_REQUEST);
    assert_int_equal(p.argc, 2);
    assert_int_equal(resp_parse(&p, &lim, S("ECHO 01234567890\r"), &used, &need), RESP_NEED_MORE);
    resp_parser_free(&p);
    resp_parser_init(&p);
    assert_int_equal(resp_parse(&p, &lim, S("ECHO 012345678901"), &used, &need), RESP_EPROTO);
    assert_string_equal(p.err, "Protocol error: too big inline request");
    resp_parser_free(&p);
    resp_parser_init(&p);
    assert_int_equal(resp_parse(&p, &lim, S("ECHO 012345678901\n"), &used, &need), RESP_EPROTO);
    assert_string_equal(p.err, "Protocol error: too big inline request");
    resp_parser_free(&p);

    /* A huge announced length and count reserve nothing: argv holds room
     * for the arguments seen (and at most twice that), whatever the count
     * says, and the bulk's bytes are the caller's. */
    resp_limits def;
    resp_limits_default(&def);
    resp_parser_init(&p);
    static const char huge[] = "*1048576\r\n$536870912\r\nabc";
    assert_int_equal(resp_parse(&p, &def, S(huge), &used, &need), RESP_NEED_MORE);
    assert_int_equal(need, 22 + (size_t)536870912 + 2);
    assert_true(p.argv_cap <= 8);
    assert_int_equal(p.scratch.cap, 0);
    resp_parser_free(&p);

    buf in = {0};
    assert_int_equal(buf_append(&in, S("*1048576\r\n")), 0);
    resp_parser_init(&p);
    for (uint32_t i = 0; i < 5000; i++) {
        assert_int_equal(buf_append(&in, S("$1\r\nx\r\n")), 0);
        assert_int_equal(resp_parse(&p, &def, (char *)in.data, in.size, &used, &need),
                         RESP_NEED_MORE);
        assert_int_equal(p.argc, i + 1);
        assert_true(p.argv_cap <= (p.argc * 2 > 8 ? p.argc * 2 : 8));
    }
    resp_parser_free(&p);
    buf_free(&in);

    /* argv never outgrows the announced count. */
    resp_parser_init(&p);
    assert_int_equal(buf_append(&in, S("*9\r\n")), 0);
    for (int i = 0; i < 9; i++)
        assert_int_equal(buf_append(&in, S("$1\r\nx\r\n")), 0);
    assert_int_equal(resp_parse(&p, &def, (char *)in.data, in.size, &used, &need), RESP_REQUEST);
    assert_int_equal(p.argc, 9);
    assert_true(p.argv_cap == 9);
    resp_parser_free(&p);
    buf_free(&in);
}

/* A big argument that arrives in pieces is scanned once: the parser keeps
 * its place (the hint grows with the data, never re-asks from the start). */
static void test_incremental(void **state)
{
    (void)state;
    resp_limits def;
    resp_limits_default(&def);
    size_t n = 1 << 20;
    buf in = {0};
    assert_int_equal(buf_append(&in, S("*2\r\n$3\r\nSET\r\n$1048576\r\n")), 0);
    size_t hdr = in.size;
    assert_int_equal(buf_reserve(&in, n + 2), 0);
    memset(in.data + in.size, 'v', n);
    in.size += n;
    assert_int_equal(buf_append(&in, S("\r\n")), 0);

    resp_parser p;
    resp_parser_init(&p);
    size_t used, need, have = 0;
    int rc = RESP_NEED_MORE, calls = 0;
    while (rc == RESP_NEED_MORE) {
        have = have + 4096 < in.size ? have + 4096 : in.size;
        rc = resp_parse(&p, &def, (char *)in.data, have, &used, &need);
        calls++;
        if (rc == RESP_NEED_MORE && have >= hdr)
            assert_int_equal(need, in.size);
    }
    assert_int_equal(rc, RESP_REQUEST);
    assert_int_equal(used, in.size);
    assert_int_equal(p.argv[1].len, n);
    assert_ptr_equal(p.argv[1].ptr, (char *)in.data + hdr);
    assert_true(calls > 200);
    resp_parser_free(&p);
    buf_free(&in);
}

/* ---- random pipelines ----------------------------------------------------------------- */

typedef struct gen_req {
    uint32_t argc;
    arg_copy args[8];
} gen_req;

/* Append a random request to in and describe it in r. Inline requests use
 * words of letters (and quoted words with escapes); multibulk ones carry
 * any bytes. Sometimes empty lines or *0 come first. */
static void gen_request(tu_rng *rng, buf *in, gen_req *r)
{
    if (tu_chance(rng, 1, 8)) {
        if (tu_chance(rng, 1, 2))
            assert_int_equal(buf_append(in, "\r\n", 2), 0);
        else
            assert_int_equal(buf_append(in, "*0\r\n", 4), 0);
    }
    r->argc = (uint32_t)tu_range(rng, 1, 8);
    bool inl = tu_chance(rng, 1, 3);
    char hdr[32];
    if (!inl) {
        int h = snprintf(hdr, sizeof hdr, "*%u\r\n", r->argc);
        assert_int_equal(buf_append(in, hdr, (size_t)h), 0);
    }
    for (uint32_t i = 0; i < r->argc; i++) {
        size_t n = (size_t)tu_range(rng, inl ? 1 : 0, tu_chance(rng, 1, 20) ? 3000 : 12);
        char *a = malloc(n + 1);
        assert_non_null(a);
        if (inl) {
            for (size_t k = 0; k < n; k++)
                a[k] = (char)('a' + tu_below(rng, 26));
        } else {
            tu_fill(rng, a, n);
        }
        r->args[i].p = a;
        r->args[i].n = n;
        if (inl) {
            if (i)
                assert_int_equal(buf_putc(in, ' '), 0);
            if (tu_chance(rng, 1, 3)) {
                /* "quoted" with its first byte written as \xHH */
                int h = snprintf(hdr, sizeof hdr, "\"\\x%02x", (unsigned char)a[0]);
                assert_int_equal(buf_append(in, hdr, (size_t)h), 0);
                assert_int_equal(buf_append(in, a + 1, n - 1), 0);
                assert_int_equal(buf_putc(in, '"'), 0);
            } else {
                assert_int_equal(buf_append(in, a, n), 0);
            }
        } else {
            int h = snprintf(hdr, sizeof hdr, "$%zu\r\n", n);
            assert_int_equal(buf_append(in, hdr, (size_t)h), 0);
            assert_int_equal(buf_append(in, a, n), 0);
            assert_int_equal(buf_append(in, "\r\n", 2), 0);
        }
    }
    if (inl) {
        if (tu_chance(rng, 1, 2))
            assert_int_equal(buf_append(in, "\r\n", 2), 0);
        else
            assert_int_equal(buf_putc(in, '\n'), 0);
    }
}

static void test_random_pipeline(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    tu_rng rng;
    tu_rng_seed(&rng, seed ^ 0x7265737070ull);
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(20, 400);
    for (unsigned round = 0; round < rounds; round++) {
        size_t nreq = (size_t)tu_range(&rng, 1, 300);
        gen_req *reqs = calloc(nreq, sizeof *reqs);
        assert_non_null(reqs);
        buf in = {0};
        for (size_t i = 0; i < nreq; i++)
            gen_request(&rng, &in, &reqs[i]);

        conn c;
        conn_init(&c, NULL);
        size_t at = 0;
        while (at < in.size) {
            size_t piece = (size_t)tu_range(&rng, 1, tu_chance(&rng, 1, 4) ? 8 : 5000);
            if (piece > in.size - at)
                piece = in.size - at;
            conn_feed(&c, (char *)in.data + at, piece);
            at += piece;
        }
        if (c.out.status != RESP_NEED_MORE)
            fail_msg("round %u: %s", round, c.out.err);
        assert_int_equal(c.out.pending_len, 0);
        assert_int_equal(c.out.nreqs, nreq);
        for (size_t i = 0; i < nreq; i++) {
            assert_int_equal(c.out.reqs[i].argc, reqs[i].argc);
            for (uint32_t j = 0; j < reqs[i].argc; j++) {
                if (c.out.reqs[i].args[j].n != reqs[i].args[j].n ||
                    memcmp(c.out.reqs[i].args[j].p, reqs[i].args[j].p, reqs[i].args[j].n) != 0)
                    fail_msg("round %u request %zu arg %u differs", round, i, j);
                free(reqs[i].args[j].p);
            }
        }
        conn_free(&c);
        free(reqs);
        buf_free(&in);
    }
}

/* ---- replies ------------------------------------------------------------------------- */

#define REPLY(call, want)                                                                          \
    do {                                                                                           \
        buf o_ = {0};                                                                              \
        assert_int_equal((call), 0);                                                               \
        if (o_.size != sizeof(want) - 1 || memcmp(o_.data, want, o_.size) != 0)                    \
            fail_msg("%s wrote '%.*s', want '%s'", #call, (int)o_.size, (char *)o_.data, want);   \
        buf_free(&o_);                                                                             \
    } while (0)

static void test_replies(void **state)
{
    (void)state;
    REPLY(resp_ok(&o_), "+OK\r\n");
    REPLY(resp_simple(&o_, S("PONG")), "+PONG\r\n");
    REPLY(resp_simple(&o_, S("a\r\nb\rc\nd")), "+a  b c d\r\n");
    REPLY(resp_simple(&o_, "", 0), "+\r\n");
    REPLY(resp_error(&o_, S("ERR unknown command 'x'")), "-ERR unknown command 'x'\r\n");
    REPLY(resp_error(&o_, S("ERR a\r\nb")), "-ERR a  b\r\n");
    REPLY(resp_errorf(&o_, "ERR %s %d", "wrong", 42), "-ERR wrong 42\r\n");
    REPLY(resp_errorf(&o_, "WRONGTYPE %s", "line\nbreak"), "-WRONGTYPE line break\r\n");
    REPLY(resp_int(&o_, 0), ":0\r\n");
    REPLY(resp_int(&o_, -42), ":-42\r\n");
    REPLY(resp_int(&o_, INT64_MAX), ":9223372036854775807\r\n");
    REPLY(resp_int(&o_, INT64_MIN), ":-9223372036854775808\r\n");
    REPLY(resp_bulk(&o_, S("foo")), "$3\r\nfoo\r\n");
    REPLY(resp_bulk(&o_, "", 0), "$0\r\n\r\n");
    REPLY(resp_bulk(&o_, NULL, 0), "$0\r\n\r\n");
    REPLY(resp_bulk(&o_, S("a\r\n\0b")), "$5\r\na\r\n\0b\r\n");
    REPLY(resp_bulk_cstr(&o_, "hello"), "$5\r\nhello\r\n");
    REPLY(resp_null(&o_, 2), "$-1\r\n");
    REPLY(resp_null(&o_, 3), "_\r\n");
    REPLY(resp_null_array(&o_, 2), "*-1\r\n");
    REPLY(resp_null_array(&o_, 3), "_\r\n");
    REPLY(resp_array(&o_, 0), "*0\r\n");
    REPLY(resp_array(&o_, 12), "*12\r\n");
    REPLY(resp_map(&o_, 2, 3), "*6\r\n");
    REPLY(resp_map(&o_, 3, 3), "%3\r\n");
    REPLY(resp_set(&o_, 2, 4), "*4\r\n");
    REPLY(resp_set(&o_, 3, 4), "~4\r\n");
    REPLY(resp_push(&o_, 2, 3), "*3\r\n");
    REPLY(resp_push(&o_, 3, 3), ">3\r\n");
    REPLY(resp_bool(&o_, 2, 1), ":1\r\n");
    REPLY(resp_bool(&o_, 2, 0), ":0\r\n");
    REPLY(resp_bool(&o_, 3, 7), "#t\r\n");
    REPLY(resp_bool(&o_, 3, 0), "#f\r\n");
    REPLY(resp_double(&o_, 3, 1.5), ",1.5\r\n");
    REPLY(resp_double(&o_, 2, 1.5), "$3\r\n1.5\r\n");
    REPLY(resp_double(&o_, 3, 1e300), ",1e+300\r\n");
    REPLY(resp_double(&o_, 2, -1.0 / 0.0), "$4\r\n-inf\r\n");
    REPLY(resp_double(&o_, 3, 1.0 / 0.0), ",inf\r\n");
    REPLY(resp_double(&o_, 3, -1.0 / 0.0), ",-inf\r\n");
    REPLY(resp_verbatim(&o_, 3, S("hello")), "=9\r\ntxt:hello\r\n");
    REPLY(resp_verbatim(&o_, 3, "", 0), "=4\r\ntxt:\r\n");
    REPLY(resp_verbatim(&o_, 2, S("a\r\nb")), "$4\r\na\r\nb\r\n");

    /* An error longer than the writer's stack buffer. */
    char longer[1000];
    memset(longer, 'z', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    buf o = {0};
    assert_int_equal(resp_errorf(&o, "ERR %s", longer), 0);
    assert_int_equal(o.size, 1 + 4 + 999 + 2);
    assert_memory_equal(o.data, "-ERR zzz", 8);
    assert_memory_equal(o.data + o.size - 3, "z\r\n", 3);
    /* Writers append: the earlier bytes stay. */
    assert_int_equal(resp_ok(&o), 0);
    assert_memory_equal(o.data + o.size - 5, "+OK\r\n", 5);
    buf_free(&o);

    /* A nested reply reads back with the parser's framing rules. */
    assert_int_equal(resp_array(&o, 2), 0);
    assert_int_equal(resp_bulk(&o, S("GET")), 0);
    assert_int_equal(resp_bulk(&o, S("k")), 0);
    resp_parser p;
    resp_limits lim;
    resp_parser_init(&p);
    resp_limits_default(&lim);
    size_t used, need;
    assert_int_equal(resp_parse(&p, &lim, (char *)o.data, o.size, &used, &need), RESP_REQUEST);
    assert_int_equal(p.argc, 2);
    assert_int_equal(used, o.size);
    resp_parser_free(&p);
    buf_free(&o);
}

static void test_i64_to_str(void **state)
{
    (void)state;
    static const struct {
        int64_t v;
        const char *s;
    } cases[] = {
        {0, "0"}, {7, "7"}, {-1, "-1"}, {10, "10"}, {-10, "-10"}, {1234567890123, "1234567890123"},
        {INT64_MAX, "9223372036854775807"}, {INT64_MIN, "-9223372036854775808"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dst[21];
        size_t n = resp_i64_to_str(cases[i].v, dst);
        assert_int_equal(n, strlen(cases[i].s));
        assert_memory_equal(dst, cases[i].s, n);
    }
}

/* Redis 7.2's text of doubles (d2string + fpconv_dtoa's layout). */
static void test_double_text(void **state)
{
    (void)state;
    static const struct {
        double d;
        const char *s;
    } cases[] = {
        {0.0, "0"},
        {-0.0, "-0"},
        {3.0, "3"},
        {-12.0, "-12"},
        {1e18, "1000000000000000000"},
        {4611686018427387904.0, "4611686018427387904"}, /* 2^62: still an integer */
        {9223372036854775808.0, "9223372036854776000"}, /* 2^63: digits and zeros */
        {12345678901234567890.0, "12345678901234567000"},
        {1e21 + 1e5, "1000000000000000100000"},
        {1e19, "1e+19"},
        {1e22, "1e+22"},
        {1.23e22, "1.23e+22"},
        {1e300, "1e+300"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {1.5, "1.5"},
        {-2.5, "-2.5"},
        {100.5, "100.5"},
        {0.1, "0.1"},
        {0.30000000000000004, "0.30000000000000004"},
        {1.0 / 3.0, "0.3333333333333333"},
        {123.456789, "123.456789"},
        {0.001, "0.001"},
        {1e-5, "0.00001"},
        {1e-6, "0.000001"},
        {1.5e-6, "1.5e-6"},      /* K = -7: exponent form */
        {2.5e-5, "0.000025"},
        {1.25e-6, "1.25e-6"},
        {1e-7, "1e-7"},
        {1.5e-7, "1.5e-7"},
        {6.666666666666667e-09, "6.666666666666667e-9"},
        {5e-324, "5e-324"},
        {-5e-324, "-5e-324"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf o = {0};
        assert_int_equal(resp_double(&o, 3, cases[i].d), 0);
        char want[64];
        int n = snprintf(want, sizeof want, ",%s\r\n", cases[i].s);
        if (o.size != (size_t)n || memcmp(o.data, want, o.size) != 0)
            fail_msg("%.17g: '%.*s', want '%s'", cases[i].d, (int)o.size - 3, o.data + 1,
                     cases[i].s);
        /* and it reads back as the same double */
        char text[64];
        memcpy(text, o.data + 1, o.size - 3);
        text[o.size - 3] = '\0';
        assert_true(strtod(text, NULL) == cases[i].d);
        buf_free(&o);
        assert_int_equal(resp_double(&o, 2, cases[i].d), 0);
        n = snprintf(want, sizeof want, "$%zu\r\n%s\r\n", strlen(cases[i].s), cases[i].s);
        assert_int_equal(o.size, (size_t)n);
        assert_memory_equal(o.data, want, o.size);
        buf_free(&o);
    }
    buf o = {0};
    assert_int_equal(resp_double(&o, 3, 0.0 / 0.0), 0);
    assert_int_equal(o.size, 6);
    assert_memory_equal(o.data, ",nan\r\n", 6);
    buf_free(&o);

    /* Random doubles: the text always reads back as the same value and is
     * never longer than 17 significant digits. */
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed() ^ 0x646f75626c65ull);
    for (int i = 0; i < 20000; i++) {
        uint64_t bits = tu_rand(&rng);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (d != d || d - d != 0)
            continue;
        assert_int_equal(resp_double(&o, 3, d), 0);
        char text[64];
        memcpy(text, o.data + 1, o.size - 3);
        text[o.size - 3] = '\0';
        if (strtod(text, NULL) != d)
            fail_msg("%.17g printed as %s", d, text);
        buf_free(&o);
    }
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    if (getenv("BURROW_TEST_FILTER"))
        cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multibulk),
        cmocka_unit_test(test_binary_args),
        cmocka_unit_test(test_protocol_errors),
        cmocka_unit_test(test_skip),
        cmocka_unit_test(test_inline),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_random_pipeline),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_i64_to_str),
        cmocka_unit_test(test_double_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
