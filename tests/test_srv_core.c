/*
 * test_srv_core.c — burrowd as a black box: the real server process driven
 * by real clients (hiredis, redis-cli). Connection commands, AUTH, HELLO 3,
 * pipelining, MULTI/EXEC/WATCH, pub/sub fan-out, persistence across SIGTERM
 * and SIGKILL, malformed input, limits, CONFIG and INFO, SHUTDOWN.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "srv.h"
#include "testutil.h"

static char *tmp;
static int dirs;

/* A fresh directory for one server. */
static char *fresh_dir(void)
{
    char *d = malloc(strlen(tmp) + 32);
    sprintf(d, "%s/s%d", tmp, dirs++);
    return d;
}

static void start(srv_proc *p, const char *const *extra)
{
    char *d = fresh_dir();
    memset(p, 0, sizeof *p);
    assert_int_equal(srv_start(p, d, extra), 0);
    free(d);
}

/* The number after "name:" in INFO text. */
static long long info_field(const char *info, const char *name)
{
    const char *at = strstr(info, name);
    if (!at) {
        fprintf(stderr, "INFO has no %s\n", name);
        fail();
    }
    return atoll(at + strlen(name) + 1);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- connection commands --------------------------------------------------------- */

static void test_connection(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    redisContext *c = srv_connect(&p);
    srv_expect_status(srv_cmd(c, "PING"), "PONG");
    srv_expect_str(srv_cmd(c, "PING hello"), "hello");
    redisReply *r = srv_cmd(c, "ECHO %b", "a\0b\r\n", (size_t)5);
    assert_int_equal(r->len, 5);
    assert_memory_equal(r->str, "a\0b\r\n", 5);
    freeReplyObject(r);
    srv_expect_status(srv_cmd(c, "SELECT 0"), "OK");
    srv_expect_error(srv_cmd(c, "SELECT 1"), "ERR DB index is out of range");
    srv_expect_error(srv_cmd(c, "SELECT x"), "ERR value is not an integer or out of range");
    srv_expect_error(srv_cmd(c, "NOSUCH a b"), "ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b'");
    srv_expect_error(srv_cmd(c, "GET"), "ERR wrong number of arguments for 'get' command");
    srv_expect_error(srv_cmd(c, "ECHO a b"), "ERR wrong number of arguments for 'echo' command");
    /* the connection stays usable after errors */
    srv_expect_status(srv_cmd(c, "PING"), "PONG");
    srv_expect_nil(srv_cmd(c, "CLIENT GETNAME"));
    srv_expect_status(srv_cmd(c, "CLIENT SETNAME tester"), "OK");
    srv_expect_str(srv_cmd(c, "CLIENT GETNAME"), "tester");
    srv_expect_error(srv_cmd(c, "CLIENT SETNAME %s", "a b"), "ERR Client names cannot contain spaces");
    r = srv_cmd(c, "CLIENT ID");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    long long id = r->integer;
    freeReplyObject(r);
    r = srv_cmd(c, "CLIENT LIST");
    char want[64];
    snprintf(want, sizeof want, "id=%lld ", id);
    assert_non_null(strstr(r->str, want));
    assert_non_null(strstr(r->str, "name=tester"));
    freeReplyObject(r);
    srv_expect_error(srv_cmd(c, "AUTH x"), "ERR AUTH <password> called without any password configured");
    srv_expect_error(srv_cmd(c, "HELLO 4"), "NOPROTO unsupported protocol version");

    srv_expect_status(srv_cmd(c, "RESET"), "RESET");
    srv_expect_status(srv_cmd(c, "QUIT"), "OK");
    /* after QUIT the server closes the connection */
    r = redisCommand(c, "PING");
    assert_null(r);
    redisFree(c);

    /* HELLO 3: a map, then RESP3 replies (raw: hiredis 0.14 is RESP2 only) */
    char out[2048];
    static const char hello[] = "CLIENT SETNAME me\r\nHELLO 3\r\nCLIENT GETNAME\r\nGET nokey\r\n"
                                "CLIENT SETNAME \"\"\r\nCLIENT GETNAME\r\nQUIT\r\n";
    srv_raw(&p, hello, sizeof hello - 1, out, sizeof out, 5000);
    assert_non_null(strstr(out, "+OK\r\n%7\r\n$6\r\nserver\r\n$7\r\nburrowd\r\n"));
    assert_non_null(strstr(out, "$5\r\nproto\r\n:3\r\n"));
    /* after the map: the name, RESP3 nulls for GET and the cleared name */
    assert_non_null(strstr(out, "$2\r\nme\r\n_\r\n+OK\r\n_\r\n+OK\r\n"));

    /* COMMAND, as redis-cli asks it */
    c = srv_connect(&p);
    r = srv_cmd(c, "COMMAND COUNT");
    assert_true(r->integer > 40);
    freeReplyObject(r);
    r = srv_cmd(c, "COMMAND INFO get nosuch");
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->element[0]->str, "get");
    assert_int_equal(r->element[0]->element[1]->integer, 2);
    assert_int_equal(r->element[1]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    r = srv_cmd(c, "COMMAND DOCS ping");
    assert_int_equal(r->elements, 2);
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
}

static void test_auth(void **state)
{
    (void)state;
    srv_proc p;
    const char *extra[] = {"--requirepass", "s3cret", NULL};
    start(&p, extra);
    redisContext *c = srv_connect(&p);
    srv_expect_error(srv_cmd(c, "GET k"), "NOAUTH Authentication required.");
    srv_expect_error(srv_cmd(c, "PING"), "NOAUTH Authentication required.");
    srv_expect_error(srv_cmd(c, "AUTH wrong"), "WRONGPASS invalid username-password pair");
    srv_expect_error(srv_cmd(c, "AUTH bob s3cret"), "WRONGPASS");
    srv_expect_status(srv_cmd(c, "AUTH s3cret"), "OK");
    srv_expect_status(srv_cmd(c, "SET k v"), "OK");
    srv_expect_status(srv_cmd(c, "RESET"), "RESET");
    srv_expect_error(srv_cmd(c, "GET k"), "NOAUTH");
    srv_expect_error(srv_cmd(c, "HELLO 3"), "NOAUTH HELLO must be called with the client already authenticated");
    redisReply *r = srv_cmd(c, "HELLO 2 AUTH default s3cret");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 14);
    freeReplyObject(r);
    srv_expect_str(srv_cmd(c, "GET k"), "v");
    char out[1024];
    static const char hello[] = "HELLO 3 AUTH default s3cret\r\nGET k\r\nQUIT\r\n";
    srv_raw(&p, hello, sizeof hello - 1, out, sizeof out, 5000);
    assert_non_null(strstr(out, "%7\r\n"));
    assert_non_null(strstr(out, "$1\r\nv\r\n+OK\r\n"));
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
}

/* ---- pipelining ------------------------------------------------------------------------ */

static void test_pipeline(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    redisContext *c = srv_connect(&p);
    enum { N = 20000 };
    for (int i = 0; i < N; i++) redisAppendCommand(c, "SET key:%d value:%d", i, i * 7);
    for (int i = 0; i < N; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        srv_expect_status(r, "OK");
    }
    for (int i = 0; i < N; i++) redisAppendCommand(c, i % 2 ? "GET key:%d" : "INCR counter", i);
    long long expect_counter = 0;
    for (int i = 0; i < N; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        if (i % 2) {
            char want[32];
            snprintf(want, sizeof want, "value:%d", i * 7);
            srv_expect_str(r, want);
        } else {
            srv_expect_int(r, ++expect_counter);
        }
    }
    srv_expect_int(srv_cmd(c, "DBSIZE"), N + 1);
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
}

/* ---- MULTI / EXEC / WATCH ----------------------------------------------------------------- */

static void test_multi_watch(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    redisContext *a = srv_connect(&p), *b = srv_connect(&p);
    srv_expect_status(srv_cmd(a, "MULTI"), "OK");
    srv_expect_error(srv_cmd(a, "MULTI"), "ERR MULTI calls can not be nested");
    srv_expect_status(srv_cmd(a, "SET x 1"), "QUEUED");
    srv_expect_status(srv_cmd(a, "INCR x"), "QUEUED");
    srv_expect_status(srv_cmd(a, "GET x"), "QUEUED");
    /* not visible before EXEC */
    srv_expect_nil(srv_cmd(b, "GET x"));
    redisReply *r = srv_cmd(a, "EXEC");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 3);
    assert_string_equal(r->element[0]->str, "OK");
    assert_int_equal(r->element[1]->integer, 2);
    assert_string_equal(r->element[2]->str, "2");
    freeReplyObject(r);
    srv_expect_error(srv_cmd(a, "EXEC"), "ERR EXEC without MULTI");
    srv_expect_error(srv_cmd(a, "DISCARD"), "ERR DISCARD without MULTI");

    /* a refused command while queuing aborts EXEC */
    srv_expect_status(srv_cmd(a, "MULTI"), "OK");
    srv_expect_status(srv_cmd(a, "SET y 1"), "QUEUED");
    srv_expect_error(srv_cmd(a, "NOSUCH"), "ERR unknown command");
    srv_expect_error(srv_cmd(a, "EXEC"), "EXECABORT Transaction discarded because of previous errors.");
    srv_expect_nil(srv_cmd(b, "GET y"));

    /* runtime errors inside EXEC do not stop the others (as Redis) */
    srv_expect_status(srv_cmd(a, "SET s abc"), "OK");
    srv_expect_status(srv_cmd(a, "MULTI"), "OK");
    srv_expect_status(srv_cmd(a, "INCR s"), "QUEUED");
    srv_expect_status(srv_cmd(a, "SET z 5"), "QUEUED");
    r = srv_cmd(a, "EXEC");
    assert_int_equal(r->elements, 2);
    assert_int_equal(r->element[0]->type, REDIS_REPLY_ERROR);
    assert_string_equal(r->element[1]->str, "OK");
    freeReplyObject(r);
    srv_expect_str(srv_cmd(b, "GET z"), "5");

    /* WATCH: another client's change makes EXEC return nil */
    srv_expect_status(srv_cmd(a, "WATCH x"), "OK");
    srv_expect_status(srv_cmd(b, "SET x 100"), "OK");
    srv_expect_status(srv_cmd(a, "MULTI"), "OK");
    srv_expect_status(srv_cmd(a, "SET x 3"), "QUEUED");
    srv_expect_error(srv_cmd(a, "WATCH x"), "ERR WATCH inside MULTI is not allowed");
    srv_expect_nil(srv_cmd(a, "EXEC"));
    srv_expect_str(srv_cmd(b, "GET x"), "100");
    /* untouched WATCH: EXEC runs; our own change does not count */
    srv_expect_status(srv_cmd(a, "WATCH x"), "OK");
    srv_expect_status(srv_cmd(a, "MULTI"), "OK");
    srv_expect_status(srv_cmd(a, "INCR x"), "QUEUED");
    r = srv_cmd(a, "EXEC");
    assert_int_equal(r->elements, 1);
    assert_int_equal(r->element[0]->integer, 101);
    freeReplyObject(r);
    /* UNWATCH forgets; DISCARD drops the queue */
    srv_expect_status(srv_cmd(a, "WATCH x"), "OK");
    srv_expect_status(srv_cmd(a, "UNWATCH"), "OK");
    srv_expect_status(srv_cmd(b, "SET x 7"), "OK");
    srv_expect_status(srv_cmd(a, "MULTI"), "OK");
    srv_expect_status(srv_cmd(a, "INCR x"), "QUEUED");
    srv_expect_status(srv_cmd(a, "DISCARD"), "OK");
    srv_expect_str(srv_cmd(a, "GET x"), "7");

    /* the classic check-and-set race: many clients incrementing with WATCH
     * retries end at exactly the number of increments */
    enum { CLIENTS = 8, EACH = 30 };
    redisContext *cl[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) cl[i] = srv_connect(&p);
    srv_expect_status(srv_cmd(a, "SET cas 0"), "OK");
    int done[CLIENTS] = {0};
    int total = 0;
    while (total < CLIENTS * EACH) {
        /* interleave: every client WATCHes and reads, then every client tries */
        long long seen[CLIENTS];
        for (int i = 0; i < CLIENTS; i++) {
            if (done[i] == EACH) continue;
            srv_expect_status(srv_cmd(cl[i], "WATCH cas"), "OK");
            r = srv_cmd(cl[i], "GET cas");
            seen[i] = atoll(r->str);
            freeReplyObject(r);
        }
        for (int i = 0; i < CLIENTS; i++) {
            if (done[i] == EACH) continue;
            srv_expect_status(srv_cmd(cl[i], "MULTI"), "OK");
            srv_expect_status(srv_cmd(cl[i], "SET cas %lld", seen[i] + 1), "QUEUED");
            r = srv_cmd(cl[i], "EXEC");
            if (r->type == REDIS_REPLY_ARRAY) {
                done[i]++;
                total++;
            }
            freeReplyObject(r);
        }
    }
    srv_expect_str(srv_cmd(a, "GET cas"), "240"); /* CLIENTS * EACH */
    for (int i = 0; i < CLIENTS; i++) redisFree(cl[i]);
    redisFree(a);
    redisFree(b);
    assert_int_equal(srv_stop(&p), 0);
}

/* ---- pub/sub ------------------------------------------------------------------------------ */

static void expect_message(redisContext *c, const char *kind, const char *a, const char *b)
{
    redisReply *r;
    assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, kind);
    assert_string_equal(r->element[1]->str, a);
    if (b) assert_string_equal(r->element[r->elements - 1]->str, b);
    freeReplyObject(r);
}

static void test_pubsub(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    enum { SUBS = 300 };
    redisContext *sub[SUBS];
    for (int i = 0; i < SUBS; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", 2 + i % 5); /* spread over source addresses */
        sub[i] = srv_connect_from(&p, src);
        redisReply *r = srv_cmd(sub[i], "SUBSCRIBE news sport");
        /* hiredis returns the first confirmation; the second follows */
        assert_string_equal(r->element[0]->str, "subscribe");
        assert_string_equal(r->element[1]->str, "news");
        assert_int_equal(r->element[2]->integer, 1);
        freeReplyObject(r);
        assert_int_equal(redisGetReply(sub[i], (void **)&r), REDIS_OK);
        assert_int_equal(r->element[2]->integer, 2);
        freeReplyObject(r);
    }
    /* a RESP2 subscriber may only (un)subscribe, ping, quit, reset */
    srv_expect_error(srv_cmd(sub[0], "GET x"), "ERR Can't execute 'get': only (P|S)SUBSCRIBE");
    redisReply *r = srv_cmd(sub[0], "PING");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_string_equal(r->element[0]->str, "pong");
    freeReplyObject(r);

    redisContext *pat = srv_connect(&p);
    r = srv_cmd(pat, "PSUBSCRIBE n*");
    assert_string_equal(r->element[0]->str, "psubscribe");
    freeReplyObject(r);
    /* a RESP3 subscriber: push messages (raw socket) */
    int r3 = srv_sock(&p, NULL);
    char raw[4096];
    static const char sub3[] = "HELLO 3\r\nSUBSCRIBE news\r\n";
    assert_int_equal(send(r3, sub3, sizeof sub3 - 1, 0), (ssize_t)(sizeof sub3 - 1));
    srv_sock_read(r3, raw, sizeof raw, 5000, ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n");
    assert_non_null(strstr(raw, ">3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n"));

    redisContext *pub = srv_connect(&p);
    srv_expect_int(srv_cmd(pub, "PUBLISH news hello"), SUBS + 2);
    srv_expect_int(srv_cmd(pub, "PUBLISH sport goal"), SUBS);
    srv_expect_int(srv_cmd(pub, "PUBLISH nobody x"), 1); /* the pattern n* */
    srv_expect_int(srv_cmd(pub, "PUBLISH empty x"), 0);
    for (int i = 0; i < SUBS; i++) {
        expect_message(sub[i], "message", "news", "hello");
        expect_message(sub[i], "message", "sport", "goal");
    }
    expect_message(pat, "pmessage", "n*", "hello");
    expect_message(pat, "pmessage", "n*", "x");
    static const char push[] = ">3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n";
    srv_sock_read(r3, raw, sizeof raw, 5000, push);
    assert_non_null(strstr(raw, push));
    /* in RESP3 a subscriber may run any command */
    assert_int_equal(send(r3, "SET a b\r\n", 9, 0), 9);
    srv_sock_read(r3, raw, sizeof raw, 5000, "+OK\r\n");
    assert_string_equal(raw, "+OK\r\n");

    r = srv_cmd(pub, "PUBSUB NUMSUB news sport none");
    assert_int_equal(r->elements, 6);
    assert_int_equal(r->element[1]->integer, SUBS + 1);
    assert_int_equal(r->element[3]->integer, SUBS);
    assert_int_equal(r->element[5]->integer, 0);
    freeReplyObject(r);
    srv_expect_int(srv_cmd(pub, "PUBSUB NUMPAT"), 1);
    r = srv_cmd(pub, "PUBSUB CHANNELS s*");
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "sport");
    freeReplyObject(r);

    /* unsubscribe: counts go down; closing subscribers drops them */
    r = srv_cmd(sub[0], "UNSUBSCRIBE sport");
    assert_string_equal(r->element[0]->str, "unsubscribe");
    assert_int_equal(r->element[2]->integer, 1);
    freeReplyObject(r);
    for (int i = 1; i < SUBS; i++) redisFree(sub[i]);
    /* poll: the closes reach the data thread asynchronously */
    long long n = -1;
    for (int tries = 0; tries < 500 && n != 3; tries++) {
        r = srv_cmd(pub, "PUBLISH news again");
        n = r->integer;
        freeReplyObject(r);
        if (n != 3) sleep_ms(10);
    }
    assert_int_equal(n, 3); /* sub[0], r3 and the pattern n* */
    redisFree(sub[0]);
    redisFree(pat);
    close(r3);
    redisFree(pub);
    assert_int_equal(srv_stop(&p), 0);
}

/* ---- persistence ----------------------------------------------------------------------------- */

static void test_restart_keeps_data(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    redisContext *c = srv_connect(&p);
    for (int i = 0; i < 2000; i++) freeReplyObject(srv_cmd(c, "SET k%d v%d", i, i));
    srv_expect_status(srv_cmd(c, "SET ttl x EX 1000"), "OK");
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
    assert_int_equal(srv_start(&p, p.dir, NULL), 0);
    c = srv_connect(&p);
    for (int i = 0; i < 2000; i += 37) {
        char want[16];
        snprintf(want, sizeof want, "v%d", i);
        srv_expect_str(srv_cmd(c, "GET k%d", i), want);
    }
    srv_expect_int(srv_cmd(c, "DBSIZE"), 2001);
    redisReply *r = srv_cmd(c, "TTL ttl");
    assert_true(r->integer > 900 && r->integer <= 1000);
    freeReplyObject(r);
    /* SHUTDOWN stops it cleanly too */
    r = redisCommand(c, "SHUTDOWN");
    if (r) freeReplyObject(r);
    redisFree(c);
    for (int i = 0; i < 3000 && srv_alive(&p); i++) sleep_ms(10);
    assert_false(srv_alive(&p));
}

typedef struct writer {
    const srv_proc *p;
    int id;
    long acked; /* the last i whose SET was acknowledged */
    volatile bool stop;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    redisContext *c = srv_connect(w->p);
    for (long i = 0; !w->stop; i++) {
        redisReply *r = redisCommand(c, "SET w%d:%ld %ld", w->id, i, i);
        if (!r) break; /* the server died */
        bool ok = r->type == REDIS_REPLY_STATUS;
        freeReplyObject(r);
        if (!ok) break;
        w->acked = i;
    }
    redisFree(c);
    return NULL;
}

static void test_kill9_loses_no_acked_write(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    srv_proc p;
    start(&p, NULL); /* durability always, the default */
    enum { W = 4 };
    for (int round = 0; round < 3; round++) {
        writer w[W];
        pthread_t th[W];
        for (int i = 0; i < W; i++) {
            w[i] = (writer){&p, round * W + i, -1, false};
            pthread_create(&th[i], NULL, writer_main, &w[i]);
        }
        sleep_ms((int)tu_range(&rng, 100, 600));
        srv_kill9(&p);
        for (int i = 0; i < W; i++) {
            w[i].stop = true;
            pthread_join(th[i], NULL);
        }
        assert_int_equal(srv_start(&p, p.dir, NULL), 0);
        redisContext *c = srv_connect(&p);
        for (int i = 0; i < W; i++) {
            /* every acknowledged write is there */
            for (long k = 0; k <= w[i].acked; k++) {
                char want[24];
                snprintf(want, sizeof want, "%ld", k);
                srv_expect_str(srv_cmd(c, "GET w%d:%ld", w[i].id, k), want);
            }
        }
        redisFree(c);
    }
    assert_int_equal(srv_stop(&p), 0);
}

/* ---- bad input ------------------------------------------------------------------------------- */

/* Send the text on a fresh connection; what comes back must start with
 * want_prefix. */
static void expect_raw(const srv_proc *p, const char *send, const char *want_prefix)
{
    size_t n = strlen(send);
    char out[4096];
    long got = srv_raw(p, send, n, out, sizeof out, 5000);
    assert_true(got >= 0);
    if (strncmp(out, want_prefix, strlen(want_prefix)) != 0) {
        fprintf(stderr, "sent %zu bytes, got '%s', expected '%s'\n", n, out, want_prefix);
        fail();
    }
}

static void test_bad_input(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    redisContext *c = srv_connect(&p);
    srv_expect_status(srv_cmd(c, "SET keep me"), "OK");
    size_t rss0 = srv_rss(&p);

    expect_raw(&p, "*3\r\n$3\r\nSET\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length");
    expect_raw(&p, "*2\r\n$3\r\nGET\r\n$99999999999\r\n", "-ERR Protocol error: invalid bulk length");
    expect_raw(&p, "*99999999999\r\n", "-ERR Protocol error: invalid multibulk length");
    expect_raw(&p, "*2\r\n+3\r\n", "-ERR Protocol error: expected '$', got '+'");
    expect_raw(&p, "PING\r\n\"unbalanced\r\n", "+PONG\r\n-ERR Protocol error: unbalanced quotes");
    /* inline commands, as telnet users type them */
    expect_raw(&p, "SET inl \"a b\"\r\nGET inl\r\nQUIT\r\n", "+OK\r\n$3\r\na b\r\n+OK\r\n");
    /* requests answered before the error are answered in order */
    expect_raw(&p, "*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n", "+PONG\r\n-ERR Protocol error");
    /* binary garbage */
    uint64_t seed = tu_seed();
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    for (int i = 0; i < 50; i++) {
        char junk[2048];
        size_t n = (size_t)tu_range(&rng, 1, sizeof junk);
        for (size_t k = 0; k < n; k++) junk[k] = (char)tu_rand(&rng);
        char out[256];
        srv_raw(&p, junk, n, out, sizeof out, 200);
    }
    /* half requests, then disconnect */
    for (int i = 0; i < 50; i++) {
        char out[64];
        srv_raw(&p, "*3\r\n$3\r\nSET\r\n$5\r\nab", 20, out, sizeof out, 20);
        srv_raw(&p, "*2\r\n$3\r\nGET\r\n$100000\r\nxyz", 25, out, sizeof out, 20);
    }
    /* thousands of connections opened and dropped, from several addresses */
    for (int i = 0; i < 3000; i++) {
        char src[32];
        snprintf(src, sizeof src, "127.0.0.%d", 2 + i % 8);
        redisContext *x = srv_connect_from(&p, src);
        if (i % 3 == 0) freeReplyObject(srv_cmd(x, "PING"));
        redisFree(x);
    }
    /* the server still serves, with the data intact */
    srv_expect_str(srv_cmd(c, "GET keep"), "me");
    /* memory returns to its level: the closes reach the data thread
     * asynchronously, so poll for the connection count first */
    long long clients = 0;
    for (int tries = 0; tries < 500; tries++) {
        redisReply *r = srv_cmd(c, "INFO clients");
        clients = info_field(r->str, "connected_clients");
        freeReplyObject(r);
        if (clients == 1) break;
        sleep_ms(10);
    }
    assert_int_equal(clients, 1);
    size_t rss1 = srv_rss(&p);
    /* 3,000 connections held would cost far more than this; the slack
     * covers allocator caching */
    if (rss1 > rss0 + 32u * 1024 * 1024) {
        fprintf(stderr, "rss grew from %zu to %zu\n", rss0, rss1);
        fail();
    }
    redisReply *r = srv_cmd(c, "INFO stats");
    assert_non_null(strstr(r->str, "protocol_errors:"));
    assert_true(info_field(r->str, "protocol_errors") >= 6);
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
}

/* ---- limits ---------------------------------------------------------------------------------- */

static void test_limits(void **state)
{
    (void)state;
    srv_proc p;
    const char *extra[] = {"--maxclients", "4", "--pubsub-output-limit", "256kb", "--output-limit", "1mb", NULL};
    start(&p, extra);
    redisContext *c = srv_connect(&p);
    redisContext *more[3];
    for (int i = 0; i < 3; i++) more[i] = srv_connect(&p);
    for (int i = 0; i < 3; i++) freeReplyObject(srv_cmd(more[i], "PING"));
    char out[256];
    srv_raw(&p, "PING\r\n", 6, out, sizeof out, 2000);
    assert_string_equal(out, "-ERR max number of clients reached\r\n");
    for (int i = 0; i < 3; i++) redisFree(more[i]);
    /* CONFIG SET changes it live */
    srv_expect_status(srv_cmd(c, "CONFIG SET maxclients 100"), "OK");
    redisReply *r = srv_cmd(c, "CONFIG GET maxclients");
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[1]->str, "100");
    freeReplyObject(r);
    srv_expect_error(srv_cmd(c, "CONFIG SET port 1"), "ERR CONFIG SET failed (possibly related to argument 'port')");
    srv_expect_error(srv_cmd(c, "CONFIG SET maxclients abc"), "ERR CONFIG SET failed");

    /* a subscriber that never reads is disconnected at its output limit,
     * and INFO counts it */
    redisContext *slow = srv_connect(&p);
    freeReplyObject(srv_cmd(slow, "SUBSCRIBE firehose"));
    char *big = malloc(64 * 1024 + 1);
    memset(big, 'x', 64 * 1024);
    big[64 * 1024] = 0;
    long long delivered = 1;
    for (int i = 0; i < 2000 && delivered; i++) {
        r = srv_cmd(c, "PUBLISH firehose %s", big);
        delivered = r->integer;
        freeReplyObject(r);
    }
    assert_int_equal(delivered, 0);
    r = srv_cmd(c, "INFO stats");
    assert_true(info_field(r->str, "pubsub_output_buffer_limit_disconnections") >= 1);
    freeReplyObject(r);
    redisFree(slow);

    /* an ordinary client whose reply cannot be written within its limit is
     * disconnected; the others go on */
    char *huge = malloc(48u * 1024 * 1024 + 1);
    memset(huge, 'y', 48u * 1024 * 1024);
    huge[48u * 1024 * 1024] = 0;
    srv_expect_status(srv_cmd(c, "SET huge %s", huge), "OK");
    char got[64];
    long n = srv_raw(&p, "GET huge\r\n", 10, got, sizeof got, 300);
    (void)n;
    r = srv_cmd(c, "INFO stats");
    assert_true(info_field(r->str, "client_output_buffer_limit_disconnections") >= 1);
    freeReplyObject(r);
    srv_expect_status(srv_cmd(c, "PING"), "PONG");
    free(big);
    free(huge);
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
}

static void test_idle_timeout_and_config_file(void **state)
{
    (void)state;
    /* settings from a config file; flags override it */
    char *d = fresh_dir();
    char path[700];
    snprintf(path, sizeof path, "%s.conf", d);
    FILE *f = fopen(path, "w");
    fprintf(f, "# burrowd settings\ntimeout 1\nmaxclients \"50\"\nhot-mem 1mb\n");
    fclose(f);
    srv_proc p = {0};
    const char *extra[] = {"--config", path, "--maxclients", "60", NULL};
    assert_int_equal(srv_start(&p, d, extra), 0);
    redisContext *c = srv_connect(&p);
    redisReply *r = srv_cmd(c, "CONFIG GET maxclients timeout hot-mem");
    assert_int_equal(r->elements, 6);
    assert_string_equal(r->element[1]->str, "60");
    assert_string_equal(r->element[3]->str, "1");
    assert_string_equal(r->element[5]->str, "1048576");
    freeReplyObject(r);
    /* idle past the timeout: the server closes the connection */
    bool closed = false;
    for (int i = 0; i < 100 && !closed; i++) {
        sleep_ms(100);
        int fd = c->fd;
        char b;
        ssize_t got = recv(fd, &b, 1, MSG_DONTWAIT);
        closed = got == 0;
    }
    assert_true(closed);
    redisFree(c);
    c = srv_connect(&p);
    r = srv_cmd(c, "INFO stats");
    assert_true(info_field(r->str, "idle_timeout_disconnections") >= 1);
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);

    /* a bad config file is reported and the server does not start */
    f = fopen(path, "w");
    fprintf(f, "maxclients lots\n");
    fclose(f);
    srv_proc q = {0};
    assert_int_equal(srv_start(&q, d, extra), -1);
    free(d);
}

/* ---- durability modes, CLIENT KILL, live settings ------------------------------------------- */

static void test_durability_modes(void **state)
{
    (void)state;
    static const char *const modes[] = {"always", "everysec", "no"};
    for (int m = 0; m < 3; m++) {
        srv_proc p;
        const char *extra[] = {"--durability", modes[m], NULL};
        start(&p, extra);
        redisContext *c = srv_connect(&p);
        redisReply *r = srv_cmd(c, "INFO persistence");
        char want[64];
        snprintf(want, sizeof want, "durability:%s\r\n", modes[m]);
        assert_non_null(strstr(r->str, want));
        /* every mode says what it risks */
        const char *risk = strstr(r->str, "durability_risk:");
        assert_non_null(risk);
        if (m == 0) assert_non_null(strstr(risk, "durability_risk:none"));
        else assert_non_null(strstr(risk, "machine crash may lose"));
        freeReplyObject(r);
        r = srv_cmd(c, "CONFIG GET appendfsync");
        assert_string_equal(r->element[1]->str, modes[m]);
        freeReplyObject(r);
        for (int i = 0; i < 500; i++) freeReplyObject(srv_cmd(c, "SET d%d %d", i, i));
        srv_expect_status(srv_cmd(c, "SAVE"), "OK");
        r = srv_cmd(c, "LASTSAVE");
        assert_true(r->integer > 1700000000);
        freeReplyObject(r);
        redisFree(c);
        /* a process crash loses nothing in any mode: the commit is in the
         * page cache when the reply leaves */
        srv_kill9(&p);
        assert_int_equal(srv_start(&p, p.dir, extra), 0);
        c = srv_connect(&p);
        srv_expect_int(srv_cmd(c, "DBSIZE"), 500);
        srv_expect_str(srv_cmd(c, "GET d499"), "499");
        redisFree(c);
        assert_int_equal(srv_stop(&p), 0);
    }
}

static void test_client_kill_and_live_password(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    redisContext *a = srv_connect(&p), *b = srv_connect(&p);
    redisReply *r = srv_cmd(b, "CLIENT ID");
    long long bid = r->integer;
    freeReplyObject(r);
    srv_expect_status(srv_cmd(b, "CLIENT SETNAME victim"), "OK");
    r = srv_cmd(a, "CLIENT LIST");
    assert_non_null(strstr(r->str, "name=victim"));
    freeReplyObject(r);
    srv_expect_int(srv_cmd(a, "CLIENT KILL ID %lld", bid), 1);
    srv_expect_int(srv_cmd(a, "CLIENT KILL ID %lld", bid), 0);
    /* the killed client finds its connection closed */
    r = redisCommand(b, "PING");
    assert_null(r);
    redisFree(b);
    srv_expect_error(srv_cmd(a, "CLIENT KILL 1.2.3.4:5"), "ERR No such client");

    /* a password set live applies to new connections and to RESET */
    srv_expect_status(srv_cmd(a, "CONFIG SET requirepass pw"), "OK");
    redisContext *n = srv_connect(&p);
    srv_expect_error(srv_cmd(n, "GET x"), "NOAUTH");
    srv_expect_status(srv_cmd(n, "AUTH pw"), "OK");
    srv_expect_nil(srv_cmd(n, "GET x"));
    srv_expect_status(srv_cmd(a, "CONFIG SET requirepass %s", ""), "OK");
    redisFree(n);
    n = srv_connect(&p);
    srv_expect_nil(srv_cmd(n, "GET x"));
    redisFree(n);
    redisFree(a);
    /* SIGINT stops it as cleanly as SIGTERM */
    kill(p.pid, SIGINT);
    int st = 0;
    assert_int_equal(waitpid(p.pid, &st, 0), p.pid);
    p.pid = 0;
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_active_expiry(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    redisContext *c = srv_connect(&p);
    srv_expect_status(srv_cmd(c, "SET k v PX 50"), "OK");
    srv_expect_status(srv_cmd(c, "DOC.CREATE lots"), "OK");
    srv_expect_str(srv_cmd(c, "DOC.INSERT lots %s", "{\"_id\":\"a\",\"price\":1}"), "a");
    srv_expect_int(srv_cmd(c, "DOC.EXPIRE lots a 1"), 1);
    /* nobody reads them: the background sweep must remove both (polled,
     * with a generous bound, no timing threshold) */
    long long keys = 0, docs = 0;
    for (int i = 0; i < 1000 && (keys < 1 || docs < 1); i++) {
        redisReply *r = srv_cmd(c, "INFO stats");
        keys = info_field(r->str, "expired_keys");
        docs = info_field(r->str, "expired_documents");
        freeReplyObject(r);
        if (keys < 1 || docs < 1) sleep_ms(20);
    }
    assert_int_equal(keys, 1);
    assert_int_equal(docs, 1);
    srv_expect_int(srv_cmd(c, "DBSIZE"), 0);
    srv_expect_int(srv_cmd(c, "DOC.COUNT lots"), 0);
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
}

/* ---- redis-cli --------------------------------------------------------------------------------- */

static void test_redis_cli(void **state)
{
    (void)state;
    srv_proc p;
    start(&p, NULL);
    char out[8192];
    const char *ping[] = {"PING", NULL};
    assert_int_equal(srv_cli(&p, NULL, out, sizeof out, ping), 0);
    assert_string_equal(out, "PONG\n");
    const char *set[] = {"SET", "greeting", "hello world", NULL};
    assert_int_equal(srv_cli(&p, NULL, out, sizeof out, set), 0);
    assert_string_equal(out, "OK\n");
    /* commands on standard input, one per line */
    assert_int_equal(srv_cli(&p, "GET greeting\nINCR n\nINCR n\nGET missing\n", out, sizeof out, NULL), 0);
    assert_string_equal(out, "hello world\n1\n2\n\n");
    const char *err[] = {"GET", NULL};
    srv_cli(&p, NULL, out, sizeof out, err);
    assert_non_null(strstr(out, "ERR wrong number of arguments for 'get' command"));
    /* RESP3 through redis-cli */
    const char *hello[] = {"-3", "HELLO", "3", NULL};
    assert_int_equal(srv_cli(&p, NULL, out, sizeof out, hello), 0);
    assert_non_null(strstr(out, "burrowd"));
    const char *info[] = {"INFO", "server", NULL};
    assert_int_equal(srv_cli(&p, NULL, out, sizeof out, info), 0);
    assert_non_null(strstr(out, "redis_version:"));
    assert_int_equal(srv_stop(&p), 0);
}

static int setup(void **state)
{
    (void)state;
    tmp = tu_tmpdir("srv_core");
    return tmp ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(tmp);
    free(tmp);
    return 0;
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    if (getenv("BURROW_TEST_FILTER")) cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connection),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_pipeline),
        cmocka_unit_test(test_multi_watch),
        cmocka_unit_test(test_pubsub),
        cmocka_unit_test(test_restart_keeps_data),
        cmocka_unit_test(test_kill9_loses_no_acked_write),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_idle_timeout_and_config_file),
        cmocka_unit_test(test_durability_modes),
        cmocka_unit_test(test_client_kill_and_live_password),
        cmocka_unit_test(test_active_expiry),
        cmocka_unit_test(test_redis_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
