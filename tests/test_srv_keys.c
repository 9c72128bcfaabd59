/*
 * test_srv_keys.c — burrowd's string and key commands, black-box: a real
 * burrowd in a temporary directory on a free port (tests/lib/srv.h),
 * driven through hiredis (RESP2) and through a raw socket where the bytes
 * matter (RESP3 replies, which hiredis 0.14 cannot read).
 *
 *  - every command of docs/commands-keys.md: replies and Redis's exact
 *    error texts, options and their conflicts;
 *  - expiry with short TTLs, polled until the key is gone (bounded, never
 *    a timing threshold);
 *  - SCAN over 10,000 keys: every key exactly once, with MATCH, TYPE and
 *    COUNT, also while keys are added and deleted between calls;
 *  - values and expiry times survive SIGTERM and a restart;
 *  - RESP2 and RESP3 null replies byte for byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "burrow.h"
#include "server/keyspace.h"
#include "srv.h"
#include "testutil.h"

/* ---- the server ------------------------------------------------------------------ */

static char *dir;
static srv_proc srv;
static redisContext *rc_;
static const char *const flags[] = {"--threads", "2", "--durability", "no", NULL};

/* Start burrowd on dir (on the same port after a stop) and connect. */
static void server_start(void)
{
    assert_int_equal(srv_start(&srv, dir, flags), 0);
    rc_ = srv_connect(&srv);
}

/* SIGTERM: the server must exit cleanly (0). */
static void server_stop(void)
{
    if (rc_) {
        redisFree(rc_);
        rc_ = NULL;
    }
    assert_int_equal(srv_stop(&srv), 0);
}

static int group_setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-srvkeys");
    if (!dir)
        return -1;
    server_start();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    server_stop();
    tu_rmtree(dir);
    free(dir);
    return 0;
}

/* Each test starts from an empty keyspace. */
static int test_setup(void **state)
{
    (void)state;
    redisReply *r = redisCommand(rc_, "FLUSHALL");
    int ok = r && r->type == REDIS_REPLY_STATUS;
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* ---- reply checks ---------------------------------------------------------------- */

static redisReply *cmdv(const char *fmt, va_list ap)
{
    redisReply *r = redisvCommand(rc_, fmt, ap);
    if (!r)
        fail_msg("no reply to '%s': %s", fmt, rc_->errstr);
    return r;
}

static redisReply *cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = cmdv(fmt, ap);
    va_end(ap);
    return r;
}

static const char *type_name(int t)
{
    static const char *n[] = {"?", "string", "array", "integer", "nil", "status", "error"};
    return t >= 1 && t <= 6 ? n[t] : "?";
}

#define CHECK_TYPE(r, want, fmt)                                                                   \
    do {                                                                                           \
        if ((r)->type != (want))                                                                   \
            fail_msg("'%s': %s reply '%s', want %s", fmt, type_name((r)->type),                    \
                     (r)->str ? (r)->str : "", type_name(want));                                   \
    } while (0)

static void ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = cmdv(fmt, ap);
    va_end(ap);
    CHECK_TYPE(r, REDIS_REPLY_STATUS, fmt);
    if (strcmp(r->str, "OK"))
        fail_msg("'%s': %s, want OK", fmt, r->str);
    freeReplyObject(r);
}

static void status(const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = cmdv(fmt, ap);
    va_end(ap);
    CHECK_TYPE(r, REDIS_REPLY_STATUS, fmt);
    if (strcmp(r->str, want))
        fail_msg("'%s': %s, want %s", fmt, r->str, want);
    freeReplyObject(r);
}

static long long integer(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = cmdv(fmt, ap);
    va_end(ap);
    CHECK_TYPE(r, REDIS_REPLY_INTEGER, fmt);
    long long v = r->integer;
    freeReplyObject(r);
    return v;
}

#define INT(want, ...) assert_int_equal(integer(__VA_ARGS__), (want))

static void str(const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = cmdv(fmt, ap);
    va_end(ap);
    CHECK_TYPE(r, REDIS_REPLY_STRING, fmt);
    if (r->len != strlen(want) || memcmp(r->str, want, r->len))
        fail_msg("'%s': '%.*s', want '%s'", fmt, (int)r->len, r->str, want);
    freeReplyObject(r);
}

static void nil(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = cmdv(fmt, ap);
    va_end(ap);
    CHECK_TYPE(r, REDIS_REPLY_NIL, fmt);
    freeReplyObject(r);
}

static void err(const char *want, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = cmdv(fmt, ap);
    va_end(ap);
    CHECK_TYPE(r, REDIS_REPLY_ERROR, fmt);
    if (strcmp(r->str, want))
        fail_msg("'%s': error '%s', want '%s'", fmt, r->str, want);
    freeReplyObject(r);
}

static const char *E_INT = "ERR value is not an integer or out of range";
static const char *E_SYNTAX = "ERR syntax error";
static const char *E_TYPE = "WRONGTYPE Operation against a key holding the wrong kind of value";

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Poll until GET key is nil: true, or false after a generous 20 s. */
static bool wait_gone(const char *key)
{
    for (int i = 0; i < 2000; i++) {
        redisReply *r = cmd("EXISTS %s", key);
        long long n = r->integer;
        freeReplyObject(r);
        if (n == 0)
            return true;
        usleep(10000);
    }
    return false;
}

/* ---- strings ----------------------------------------------------------------------- */

static void test_get_set(void **state)
{
    (void)state;
    nil("GET nokey");
    ok("SET k v1");
    str("v1", "GET k");
    ok("SET b %b", "a\0b\r\n", (size_t)5);
    redisReply *r = cmd("GET b");
    CHECK_TYPE(r, REDIS_REPLY_STRING, "GET b");
    assert_int_equal(r->len, 5);
    assert_memory_equal(r->str, "a\0b\r\n", 5);
    freeReplyObject(r);
    /* The empty key and the empty value. */
    ok("SET %b empty-key", "", (size_t)0);
    str("empty-key", "GET %b", "", (size_t)0);
    ok("SET e %b", "", (size_t)0);
    str("", "GET e");
    INT(1, "EXISTS e");

    /* NX, XX, GET. */
    nil("SET k v2 NX");
    str("v1", "GET k");
    ok("SET k v2 XX");
    str("v2", "GET k");
    nil("SET nx1 v XX");
    INT(0, "EXISTS nx1");
    ok("SET nx1 v NX");
    str("v2", "SET k v3 GET");
    str("v3", "GET k");
    nil("SET fresh v GET");
    str("v", "GET fresh");
    /* NX with GET (Redis 7): the old value, and nothing set. */
    str("v3", "SET k v4 NX GET");
    str("v3", "GET k");
    nil("SET newnx v NX GET");
    str("v", "GET newnx");
    /* Options in any case, repeated. */
    ok("SET k v5 xx XX");
    str("v5", "GET k");

    /* Conflicts and unknown options. */
    err(E_SYNTAX, "SET k v NX XX");
    err(E_SYNTAX, "SET k v XX NX");
    err(E_SYNTAX, "SET k v EX 10 PX 100");
    err(E_SYNTAX, "SET k v PX 100 EXAT 100");
    err(E_SYNTAX, "SET k v KEEPTTL EX 10");
    err(E_SYNTAX, "SET k v EX 10 KEEPTTL");
    err(E_SYNTAX, "SET k v PERSIST");
    err(E_SYNTAX, "SET k v EX");
    err(E_SYNTAX, "SET k v FOO");
    err(E_INT, "SET k v EX ten");
    err(E_INT, "SET k v PX 1.5");
    err("ERR invalid expire time in 'set' command", "SET k v EX 0");
    err("ERR invalid expire time in 'set' command", "SET k v PX -5");
    err("ERR invalid expire time in 'set' command", "SET k v EX 9223372036854775");
    err("ERR invalid expire time in 'set' command", "SET k v PX 9223372036854775807");
    err("ERR invalid expire time in 'set' command", "SET k v EXAT 0");
    err("ERR wrong number of arguments for 'set' command", "SET k");
    str("v5", "GET k"); /* no refusal changed anything */

    /* Expiry options. */
    ok("SET k v EX 100");
    long long t = integer("TTL k");
    assert_true(t >= 99 && t <= 100);
    ok("SET k v PX 100000");
    t = integer("PTTL k");
    assert_true(t > 99000 && t <= 100000);
    uint64_t at = wall_ms() / 1000 + 1000;
    ok("SET k v EXAT %llu", (unsigned long long)at);
    INT((long long)at, "EXPIRETIME k");
    ok("SET k v PXAT %llu", (unsigned long long)at * 1000 + 7);
    INT((long long)at * 1000 + 7, "PEXPIRETIME k");
    ok("SET k v2 KEEPTTL");
    INT((long long)at * 1000 + 7, "PEXPIRETIME k");
    str("v2", "GET k");
    ok("SET k v3");
    INT(-1, "TTL k"); /* a plain SET clears the expiry */
    /* A time already past: set, and gone at once. */
    ok("SET k v PXAT 1");
    nil("GET k");
    INT(0, "EXISTS k");
    ok("SET k v EXAT 1");
    INT(0, "EXISTS k");
}

static void test_set_family(void **state)
{
    (void)state;
    INT(1, "SETNX a 1");
    INT(0, "SETNX a 2");
    str("1", "GET a");
    ok("SETEX s 100 v");
    long long t = integer("TTL s");
    assert_true(t >= 99 && t <= 100);
    ok("PSETEX p 100000 v");
    t = integer("PTTL p");
    assert_true(t > 99000 && t <= 100000);
    err("ERR invalid expire time in 'setex' command", "SETEX s 0 v");
    err("ERR invalid expire time in 'setex' command", "SETEX s -1 v");
    err("ERR invalid expire time in 'psetex' command", "PSETEX s 0 v");
    err(E_INT, "SETEX s x v");
    err("ERR wrong number of arguments for 'setex' command", "SETEX s 10");

    /* GETSET clears the expiry. */
    str("v", "GETSET s w");
    str("w", "GET s");
    INT(-1, "TTL s");
    nil("GETSET nos x");
    str("x", "GET nos");

    str("x", "GETDEL nos");
    INT(0, "EXISTS nos");
    nil("GETDEL nos");

    /* GETEX: read, and set or clear the expiry. */
    str("w", "GETEX s");
    INT(-1, "TTL s");
    str("w", "GETEX s EX 100");
    t = integer("TTL s");
    assert_true(t >= 99 && t <= 100);
    str("w", "GETEX s PX 50000");
    t = integer("PTTL s");
    assert_true(t > 49000 && t <= 50000);
    uint64_t at = wall_ms() / 1000 + 500;
    str("w", "GETEX s EXAT %llu", (unsigned long long)at);
    INT((long long)at, "EXPIRETIME s");
    str("w", "GETEX s PERSIST");
    INT(-1, "TTL s");
    str("w", "GETEX s PXAT 1"); /* past: returned, then gone */
    INT(0, "EXISTS s");
    nil("GETEX s");
    nil("GETEX s EX 10");
    nil("GETEX s EX 0"); /* the key is looked up before the time is read */
    nil("GETEX s EX x");
    ok("SET k v");
    err(E_SYNTAX, "GETEX k PERSIST EX 10");
    err(E_SYNTAX, "GETEX k EX 10 PERSIST");
    err(E_SYNTAX, "GETEX k NX");
    err(E_SYNTAX, "GETEX k KEEPTTL");
    err(E_SYNTAX, "GETEX k GET");
    err("ERR invalid expire time in 'getex' command", "GETEX k EX 0");
    err(E_INT, "GETEX k PX x");
}

static void test_ranges_append(void **state)
{
    (void)state;
    ok("SET s Hello,World");
    str("Hello", "GETRANGE s 0 4");
    str("World", "GETRANGE s -5 -1");
    str("Hello,World", "GETRANGE s 0 -1");
    str("Hello,World", "GETRANGE s -100 100");
    str("", "GETRANGE s 5 2");
    str("", "GETRANGE s -1 -5");
    str("d", "GETRANGE s -1 100");
    str("", "GETRANGE nokey 0 -1");
    err(E_INT, "GETRANGE s a 1");

    INT(11, "SETRANGE s 6 Redis");
    str("Hello,Redis", "GET s");
    INT(11, "SETRANGE s 0 %b", "", (size_t)0); /* nothing to write: the length */
    INT(0, "SETRANGE nokey 5 %b", "", (size_t)0);
    INT(0, "EXISTS nokey");
    INT(8, "SETRANGE pad 5 abc");
    redisReply *r = cmd("GET pad");
    assert_int_equal(r->len, 8);
    assert_memory_equal(r->str, "\0\0\0\0\0abc", 8);
    freeReplyObject(r);
    err("ERR offset is out of range", "SETRANGE s -1 x");
    err(E_INT, "SETRANGE s x x");
    err("ERR string exceeds maximum allowed size (proto-max-bulk-len)", "SETRANGE s 536870912 x");
    err("ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        "SETRANGE s 9223372036854775807 x");
    str("Hello,Redis", "GET s");

    INT(5, "APPEND a Hello");
    INT(11, "APPEND a %s", " World");
    str("Hello World", "GET a");
    INT(11, "STRLEN a");
    INT(0, "STRLEN nokey");

    /* Expiry kept by APPEND and SETRANGE. */
    ok("SET t v EX 100");
    INT(2, "APPEND t w");
    assert_true(integer("TTL t") > 0);
    INT(2, "SETRANGE t 0 x");
    assert_true(integer("TTL t") > 0);
}

static void test_multi_key(void **state)
{
    (void)state;
    ok("MSET a 1 b 2 c 3");
    redisReply *r = cmd("MGET a b nokey c");
    CHECK_TYPE(r, REDIS_REPLY_ARRAY, "MGET");
    assert_int_equal(r->elements, 4);
    assert_string_equal(r->element[0]->str, "1");
    assert_string_equal(r->element[1]->str, "2");
    assert_int_equal(r->element[2]->type, REDIS_REPLY_NIL);
    assert_string_equal(r->element[3]->str, "3");
    freeReplyObject(r);
    ok("MSET a x a y"); /* the last one wins */
    str("y", "GET a");
    err("ERR wrong number of arguments for 'mset' command", "MSET a 1 b");
    err("ERR wrong number of arguments for 'msetnx' command", "MSETNX a 1 b");
    err("ERR wrong number of arguments for 'mset' command", "MSET a");
    INT(0, "MSETNX a 1 new 2");
    INT(0, "EXISTS new"); /* all or nothing */
    INT(1, "MSETNX new 1 new2 2");
    str("2", "GET new2");

    /* MSET clears expiries. */
    ok("SET e v EX 100");
    ok("MSET e w");
    INT(-1, "TTL e");
}

static void test_counters(void **state)
{
    (void)state;
    INT(1, "INCR n");
    INT(11, "INCRBY n 10");
    INT(10, "DECR n");
    INT(-5, "DECRBY n 15");
    str("-5", "GET n");
    INT(-1, "INCRBY n 4");
    ok("SET n 9223372036854775806");
    INT(9223372036854775807LL, "INCR n");
    err("ERR increment or decrement would overflow", "INCR n");
    str("9223372036854775807", "GET n");
    ok("SET n -9223372036854775807");
    INT(-9223372036854775807LL - 1, "DECR n");
    err("ERR increment or decrement would overflow", "DECR n");
    err("ERR decrement would overflow", "DECRBY n -9223372036854775808");
    err(E_INT, "INCRBY n 1.5");
    err(E_INT, "INCRBY n 99999999999999999999");
    ok("SET s abc");
    err(E_INT, "INCR s");
    ok("SET s 01");
    err(E_INT, "INCR s");
    ok("SET s %s", " 1");
    err(E_INT, "INCR s");
    ok("SET s +1");
    err(E_INT, "INCR s");
    /* INCR keeps the expiry. */
    ok("SET t 5 EX 100");
    INT(6, "INCR t");
    assert_true(integer("TTL t") > 0);

    str("10.6", "INCRBYFLOAT f 10.6");
    ok("SET f 10.50");
    str("10.6", "INCRBYFLOAT f 0.1");
    str("5.6", "INCRBYFLOAT f -5");
    ok("SET f 5.0e3");
    str("5200", "INCRBYFLOAT f 2.0e2");
    str("5200.25", "INCRBYFLOAT f 0.25");
    /* 17 decimals, as Redis prints a long double: the sum's own error
     * shows when the integer part leaves too few bits. */
    str("5200.25010000000000021", "INCRBYFLOAT f 0.0001");
    ok("SET f 3");
    str("0", "INCRBYFLOAT f -3");
    str("3", "INCRBYFLOAT f 3");
    err("ERR value is not a valid float", "INCRBYFLOAT f x");
    err("ERR value is not a valid float", "INCRBYFLOAT f nan");
    err("ERR value is not a valid float", "INCRBYFLOAT f %s", " 1");
    err("ERR increment would produce NaN or Infinity", "INCRBYFLOAT f inf");
    ok("SET s abc");
    err("ERR value is not a valid float", "INCRBYFLOAT s 1");
    ok("SET t 1.5 EX 100");
    str("2", "INCRBYFLOAT t 0.5");
    assert_true(integer("TTL t") > 0);
}

/* ---- expiry ------------------------------------------------------------------------ */

static void test_expire_commands(void **state)
{
    (void)state;
    INT(0, "EXPIRE nokey 100");
    INT(-2, "TTL nokey");
    INT(-2, "PTTL nokey");
    INT(-2, "EXPIRETIME nokey");
    INT(-2, "PEXPIRETIME nokey");
    INT(0, "PERSIST nokey");
    ok("SET k v");
    INT(-1, "TTL k");
    INT(-1, "PEXPIRETIME k");
    INT(0, "PERSIST k");

    INT(1, "EXPIRE k 100");
    long long t = integer("TTL k");
    assert_true(t >= 99 && t <= 100);
    INT(1, "PEXPIRE k 200000");
    t = integer("PTTL k");
    assert_true(t > 199000 && t <= 200000);
    uint64_t at = wall_ms() / 1000 + 1000;
    INT(1, "EXPIREAT k %llu", (unsigned long long)at);
    INT((long long)at, "EXPIRETIME k");
    INT((long long)at * 1000, "PEXPIRETIME k");
    INT(1, "PEXPIREAT k %llu", (unsigned long long)at * 1000 + 5);
    INT((long long)at * 1000 + 5, "PEXPIRETIME k");
    INT(1, "PERSIST k");
    INT(-1, "TTL k");

    /* NX XX GT LT. */
    INT(0, "EXPIRE k 100 XX");
    INT(0, "EXPIRE k 100 GT"); /* no expiry counts as infinite */
    INT(1, "EXPIRE k 100 LT");
    INT(0, "EXPIRE k 50 NX");
    INT(1, "EXPIRE k 200 XX");
    INT(0, "EXPIRE k 100 GT");
    INT(1, "EXPIRE k 300 GT");
    INT(0, "EXPIRE k 400 LT");
    INT(1, "EXPIRE k 250 lt");
    t = integer("TTL k");
    assert_true(t >= 249 && t <= 250);
    INT(1, "EXPIRE k 260 XX GT");
    err("ERR NX and XX, GT or LT options at the same time are not compatible", "EXPIRE k 1 NX XX");
    err("ERR NX and XX, GT or LT options at the same time are not compatible", "EXPIRE k 1 NX GT");
    err("ERR GT and LT options at the same time are not compatible", "EXPIRE k 1 GT LT");
    err("ERR Unsupported option foo", "EXPIRE k 1 foo");
    err("ERR Unsupported option 10", "EXPIRE k 1 10");
    /* Options are checked before the time. */
    err("ERR Unsupported option foo", "EXPIRE k x foo");
    err(E_INT, "EXPIRE k x");
    err("ERR invalid expire time in 'expire' command", "EXPIRE k 9223372036854775807");
    err("ERR invalid expire time in 'pexpire' command", "PEXPIRE k 9223372036854775807");
    err("ERR invalid expire time in 'expireat' command", "EXPIREAT k 9223372036854775807");
    err("ERR wrong number of arguments for 'expire' command", "EXPIRE k");
    t = integer("TTL k");
    assert_true(t >= 259 && t <= 260);

    /* A time in the past deletes the key, and still says 1. */
    INT(1, "EXPIRE k -1");
    INT(0, "EXISTS k");
    ok("SET k v");
    INT(1, "PEXPIREAT k 0");
    INT(0, "EXISTS k");
    ok("SET k v");
    INT(1, "EXPIRE k 0");
    nil("GET k");
}

static void test_short_ttl(void **state)
{
    (void)state;
    ok("SET a v PX 30");
    ok("SET b v");
    INT(1, "PEXPIRE b 30");
    ok("SETEX c 1 v");
    assert_true(wait_gone("a"));
    assert_true(wait_gone("b"));
    assert_true(wait_gone("c"));
    nil("GET a");
    INT(-2, "TTL b");
    /* Gone for every command, and for SCAN and KEYS. */
    redisReply *r = cmd("KEYS *");
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
    INT(0, "EXISTS a b c");
    /* The sweep removes them in the end: DBSIZE, which counts them until
     * then, reaches 0 (polled, 20 s at most). */
    long long n = -1;
    for (int i = 0; i < 2000 && n != 0; i++) {
        n = integer("DBSIZE");
        if (n)
            usleep(10000);
    }
    assert_int_equal(n, 0);
}

/* ---- generic key commands ---------------------------------------------------------------- */

static void test_generic(void **state)
{
    (void)state;
    ok("MSET a 1 b 2 c 3");
    INT(3, "EXISTS a b c");
    INT(4, "EXISTS a a b nokey c");
    INT(2, "TOUCH a b nokey");
    INT(2, "DEL a b nokey");
    INT(0, "DEL a");
    INT(1, "UNLINK c");
    INT(0, "DBSIZE");
    err("ERR wrong number of arguments for 'del' command", "DEL");
    err("ERR wrong number of arguments for 'exists' command", "EXISTS");

    ok("SET s v");
    status("string", "TYPE s");
    status("none", "TYPE nokey");

    /* RENAME keeps the value and the expiry, and replaces the target. */
    ok("SET src v EX 100");
    ok("SET dst old");
    ok("RENAME src dst");
    str("v", "GET dst");
    INT(0, "EXISTS src");
    assert_true(integer("TTL dst") > 0);
    err("ERR no such key", "RENAME src dst");
    err("ERR no such key", "RENAME src src");
    ok("RENAME dst dst");
    INT(0, "RENAMENX dst dst");
    ok("SET other x");
    INT(0, "RENAMENX dst other");
    str("x", "GET other");
    INT(1, "RENAMENX dst moved");
    str("v", "GET moved");
    INT(0, "EXISTS dst");
    err("ERR no such key", "RENAMENX nokey x");

    /* KEYS */
    ok("FLUSHDB");
    ok("MSET user:1 a user:2 b user:10 c item:1 d %b e", "u*", (size_t)2);
    redisReply *r = cmd("KEYS user:*");
    CHECK_TYPE(r, REDIS_REPLY_ARRAY, "KEYS");
    assert_int_equal(r->elements, 3);
    assert_string_equal(r->element[0]->str, "user:1");
    assert_string_equal(r->element[1]->str, "user:10");
    assert_string_equal(r->element[2]->str, "user:2");
    freeReplyObject(r);
    r = cmd("KEYS user:?");
    assert_int_equal(r->elements, 2);
    freeReplyObject(r);
    r = cmd("KEYS *");
    assert_int_equal(r->elements, 5);
    freeReplyObject(r);
    r = cmd("KEYS u\\*");
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "u*");
    freeReplyObject(r);
    r = cmd("KEYS [iu]*:1");
    assert_int_equal(r->elements, 2);
    freeReplyObject(r);
    r = cmd("KEYS nomatch");
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);

    /* DBSIZE, RANDOMKEY, FLUSHDB, FLUSHALL */
    INT(5, "DBSIZE");
    for (int i = 0; i < 20; i++) {
        r = cmd("RANDOMKEY");
        CHECK_TYPE(r, REDIS_REPLY_STRING, "RANDOMKEY");
        redisReply *e = cmd("EXISTS %b", r->str, r->len);
        assert_int_equal(e->integer, 1);
        freeReplyObject(e);
        freeReplyObject(r);
    }
    ok("FLUSHDB ASYNC");
    INT(0, "DBSIZE");
    nil("RANDOMKEY");
    ok("SET a 1");
    ok("FLUSHALL SYNC");
    INT(0, "DBSIZE");
    ok("FLUSHALL");
    ok("FLUSHDB");
    err(E_SYNTAX, "FLUSHDB LATER");
    err(E_SYNTAX, "FLUSHALL ASYNC SYNC");

    /* Arity errors name the command as typed in lower case. */
    err("ERR wrong number of arguments for 'get' command", "GET");
    err("ERR wrong number of arguments for 'get' command", "GET a b");
    err("ERR wrong number of arguments for 'dbsize' command", "DBSIZE x");
}

static void test_long_key(void **state)
{
    (void)state;
    /* The default page size: the longest key is 976 bytes. */
    char key[2000];
    memset(key, 'k', sizeof key);
    ok("SET %b v", key, (size_t)976);
    str("v", "GET %b", key, (size_t)976);
    redisReply *r = cmd("SET %b v", key, (size_t)977);
    CHECK_TYPE(r, REDIS_REPLY_ERROR, "SET long key");
    assert_string_equal(r->str, "ERR key of 977 bytes is longer than the longest key (976 bytes)");
    freeReplyObject(r);
    nil("GET %b", key, (size_t)977);
    INT(0, "EXISTS %b", key, (size_t)1500);
    /* All or nothing. */
    r = cmd("MSET ok 1 %b 2", key, (size_t)977);
    CHECK_TYPE(r, REDIS_REPLY_ERROR, "MSET long key");
    freeReplyObject(r);
    INT(0, "EXISTS ok");
    r = cmd("RENAME %b %b", key, (size_t)976, key, (size_t)977);
    CHECK_TYPE(r, REDIS_REPLY_ERROR, "RENAME to a long key");
    freeReplyObject(r);
    INT(1, "EXISTS %b", key, (size_t)976);
}

/* A JSON key, written into the stopped server's file through the keyspace
 * itself, so this test does not depend on JSON.SET. */
static void put_json_key_offline(const char *key, const char *json)
{
    server_stop();
    char path[600];
    snprintf(path, sizeof path, "%s/burrow.db", dir);
    burrow_db *db;
    keyspace *ks;
    burrow_txn *t;
    burrow_buf doc = {0};
    assert_int_equal(burrow_open(path, NULL, &db), 0);
    assert_int_equal(ks_open(db, &ks), 0);
    assert_int_equal(burrow_json_parse(json, strlen(json), &doc), 0);
    assert_int_equal(burrow_txn_begin(db, NULL, 0, &t), 0);
    assert_int_equal(ks_set(ks, t, key, strlen(key), KS_JSON, doc.data, doc.size, 0), 0);
    assert_int_equal(burrow_txn_commit(t), 0);
    burrow_buf_free(&doc);
    ks_close(ks);
    assert_int_equal(burrow_close(db), 0);
    server_start();
}

static void test_wrongtype(void **state)
{
    (void)state;
    put_json_key_offline("j", "{\"a\":1}");
    status("ReJSON-RL", "TYPE j");
    err(E_TYPE, "GET j");
    err(E_TYPE, "SET j v GET");
    err(E_TYPE, "GETSET j v");
    err(E_TYPE, "GETDEL j");
    err(E_TYPE, "GETEX j");
    err(E_TYPE, "GETRANGE j 0 1");
    err(E_TYPE, "SETRANGE j 0 x");
    err(E_TYPE, "APPEND j x");
    err(E_TYPE, "STRLEN j");
    err(E_TYPE, "INCR j");
    err(E_TYPE, "INCRBYFLOAT j 1");
    err(E_TYPE, "DECRBY j 1");
    redisReply *r = cmd("MGET j");
    assert_int_equal(r->element[0]->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    /* Generic commands work on it. */
    INT(1, "EXISTS j");
    INT(1, "EXPIRE j 100");
    assert_true(integer("TTL j") > 0);
    ok("RENAME j j2");
    status("ReJSON-RL", "TYPE j2");
    r = cmd("SCAN 0 TYPE ReJSON-RL");
    assert_int_equal(r->element[1]->elements, 1);
    freeReplyObject(r);
    /* SET replaces it whatever its type. */
    ok("SET j2 plain");
    status("string", "TYPE j2");
    INT(1, "DEL j2");
}

/* ---- SCAN ------------------------------------------------------------------------------- */

enum { NSCAN = 10000 };

static void mset_many(int from, int to, const char *fmt)
{
    /* Pipelined MSETs of 500 keys each. */
    char keys[500][32];
    const char *argv[1 + 1000];
    size_t lens[1 + 1000];
    for (int base = from; base < to; base += 500) {
        int n = to - base < 500 ? to - base : 500;
        argv[0] = "MSET";
        lens[0] = 4;
        for (int i = 0; i < n; i++) {
            snprintf(keys[i], sizeof keys[i], fmt, base + i);
            argv[1 + 2 * i] = keys[i];
            lens[1 + 2 * i] = strlen(keys[i]);
            argv[2 + 2 * i] = "v";
            lens[2 + 2 * i] = 1;
        }
        redisReply *r = redisCommandArgv(rc_, 1 + 2 * n, argv, lens);
        assert_non_null(r);
        CHECK_TYPE(r, REDIS_REPLY_STATUS, "MSET many");
        freeReplyObject(r);
    }
}

/* One SCAN call: the next cursor; the keys go to fn. */
static unsigned long long scan_step(unsigned long long cursor, const char *extra,
                                    void (*fn)(void *ctx, const char *k, size_t n), void *ctx,
                                    size_t *nkeys)
{
    /* extra holds several arguments and no '%': part of the format. */
    char line[256];
    snprintf(line, sizeof line, "SCAN %llu %s", cursor, extra ? extra : "");
    redisReply *r = cmd(line);
    CHECK_TYPE(r, REDIS_REPLY_ARRAY, "SCAN");
    assert_int_equal(r->elements, 2);
    CHECK_TYPE(r->element[0], REDIS_REPLY_STRING, "SCAN cursor");
    CHECK_TYPE(r->element[1], REDIS_REPLY_ARRAY, "SCAN keys");
    unsigned long long next = strtoull(r->element[0]->str, NULL, 10);
    for (size_t i = 0; i < r->element[1]->elements; i++)
        fn(ctx, r->element[1]->element[i]->str, r->element[1]->element[i]->len);
    *nkeys = r->element[1]->elements;
    freeReplyObject(r);
    return next;
}

typedef struct seen_set {
    unsigned char seen[NSCAN * 2];
    size_t dup, stray, total;
} seen_set;

static void note_key(void *ctx, const char *k, size_t n)
{
    seen_set *s = ctx;
    char tmp[32];
    if (n >= sizeof tmp || n < 5 || memcmp(k, "key:", 4)) {
        s->stray++;
        return;
    }
    memcpy(tmp, k, n);
    tmp[n] = 0;
    int i = atoi(tmp + 4);
    if (i < 0 || i >= NSCAN * 2) {
        s->stray++;
        return;
    }
    if (s->seen[i]++)
        s->dup++;
    s->total++;
}

static void test_scan_10k(void **state)
{
    (void)state;
    mset_many(0, NSCAN, "key:%05d");
    ok("SET other:1 v");
    INT(NSCAN + 1, "DBSIZE");

    /* Plain walk, default COUNT: never more than 10 keys a call. */
    static seen_set s;
    memset(&s, 0, sizeof s);
    unsigned long long cur = 0;
    int calls = 0;
    size_t n;
    do {
        cur = scan_step(cur, NULL, note_key, &s, &n);
        assert_true(n <= 10);
        calls++;
        assert_true(calls < 5000);
    } while (cur != 0);
    assert_int_equal(s.dup, 0);
    assert_int_equal(s.stray, 1); /* other:1 */
    assert_int_equal(s.total, NSCAN);

    /* MATCH and COUNT. */
    memset(&s, 0, sizeof s);
    cur = 0;
    do {
        cur = scan_step(cur, "MATCH key:*5 COUNT 1000", note_key, &s, &n);
    } while (cur != 0);
    assert_int_equal(s.total, NSCAN / 10);
    assert_int_equal(s.dup, 0);
    assert_int_equal(s.stray, 0);

    /* TYPE string: all; another type: none. */
    memset(&s, 0, sizeof s);
    cur = 0;
    do {
        cur = scan_step(cur, "COUNT 5000 TYPE STRING", note_key, &s, &n);
    } while (cur != 0);
    assert_int_equal(s.total, NSCAN);
    memset(&s, 0, sizeof s);
    cur = 0;
    do {
        cur = scan_step(cur, "COUNT 5000 TYPE hash", note_key, &s, &n);
        assert_int_equal(n, 0);
    } while (cur != 0);

    /* Keys present for the whole walk come back exactly once while others
     * are deleted and added between calls. */
    memset(&s, 0, sizeof s);
    static bool deleted[NSCAN];
    cur = 0;
    int step = 0;
    do {
        cur = scan_step(cur, "COUNT 100", note_key, &s, &n);
        /* Delete two keys anywhere (before or after the cursor), add one. */
        int d1 = (step * 7919) % NSCAN, d2 = (step * 104729 + 13) % NSCAN;
        deleted[d1] = deleted[d2] = true;
        redisReply *r = cmd("DEL key:%05d key:%05d", d1, d2);
        freeReplyObject(r);
        r = cmd("SET key:%05d v", NSCAN + step);
        freeReplyObject(r);
        step++;
    } while (cur != 0);
    assert_true(step > 100);
    assert_int_equal(s.dup, 0);
    assert_int_equal(s.stray, 1); /* other:1 */
    for (int i = 0; i < NSCAN; i++)
        if (!deleted[i])
            assert_true(s.seen[i]);

    /* Cursor errors. */
    err("ERR invalid cursor", "SCAN x");
    err("ERR invalid cursor", "SCAN -1");
    err("ERR invalid cursor", "SCAN 12345");
    err(E_SYNTAX, "SCAN 0 COUNT 0");
    err(E_INT, "SCAN 0 COUNT x");
    err(E_SYNTAX, "SCAN 0 MATCH");
    err(E_SYNTAX, "SCAN 0 FOO bar");
    /* A cursor may be used twice: the same keys. */
    redisReply *a = cmd("SCAN 0 COUNT 3");
    redisReply *b = cmd("SCAN %s COUNT 3", a->element[0]->str);
    redisReply *b2 = cmd("SCAN %s COUNT 3", a->element[0]->str);
    assert_int_equal(b->element[1]->elements, b2->element[1]->elements);
    for (size_t i = 0; i < b->element[1]->elements; i++)
        assert_string_equal(b->element[1]->element[i]->str, b2->element[1]->element[i]->str);
    freeReplyObject(a);
    freeReplyObject(b);
    freeReplyObject(b2);
}

/* ---- restart ---------------------------------------------------------------------------- */

static void test_restart(void **state)
{
    (void)state;
    ok("SET plain v");
    ok("SET %b bin", "\0\xff", (size_t)2);
    ok("SET ttl v EX 1000");
    INT(7, "INCRBY counter 7");
    ok("SET gone v PX 1");
    uint64_t exp = (uint64_t)integer("PEXPIRETIME ttl");
    server_stop();
    server_start();
    str("v", "GET plain");
    str("bin", "GET %b", "\0\xff", (size_t)2);
    str("v", "GET ttl");
    INT((long long)exp, "PEXPIRETIME ttl");
    long long t = integer("TTL ttl");
    assert_true(t > 0 && t <= 1000);
    INT(8, "INCR counter");
    INT(0, "EXISTS gone");
    INT(1, "DEL ttl");
}

/* ---- RESP3 and RESP2 bytes -------------------------------------------------------------- */

static int raw_connect(void)
{
    int fd = srv_sock(&srv, NULL);
    assert_true(fd >= 0);
    return fd;
}

/* Send req; the reply must be exactly want (read until that many bytes). */
static void raw_expect(int fd, const char *req, const char *want)
{
    size_t n = strlen(req);
    assert_int_equal(write(fd, req, n), (ssize_t)n);
    size_t wl = strlen(want);
    char got[4096];
    /* Until the expected reply is there, or 10 s: a bound for a wrong
     * reply, which the comparison below then reports. */
    long r = srv_sock_read(fd, got, sizeof got, 10000, want);
    size_t have = r > 0 ? (size_t)r : 0;
    if (have != wl || memcmp(got, want, wl))
        fail_msg("request %s\ngot  [%s]\nwant [%s]", req, got, want);
}

static void test_resp_versions(void **state)
{
    (void)state;
    ok("SET k v");
    int fd = raw_connect();
    raw_expect(fd, "*2\r\n$3\r\nGET\r\n$5\r\nnokey\r\n", "$-1\r\n");
    raw_expect(fd, "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nx\r\n$2\r\nNX\r\n", "$-1\r\n");
    raw_expect(fd, "*3\r\n$4\r\nMGET\r\n$1\r\nk\r\n$5\r\nnokey\r\n", "*2\r\n$1\r\nv\r\n$-1\r\n");
    raw_expect(fd, "*1\r\n$9\r\nRANDOMKEY\r\n", "$1\r\nk\r\n");
    raw_expect(fd, "*2\r\n$4\r\nTYPE\r\n$1\r\nk\r\n", "+string\r\n");
    raw_expect(fd, "*3\r\n$11\r\nINCRBYFLOAT\r\n$1\r\nf\r\n$3\r\n1.5\r\n", "$3\r\n1.5\r\n");
    /* HELLO 3's map is long: PING after it and read up to the PONG. */
    const char *hello = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*1\r\n$4\r\nPING\r\n";
    assert_int_equal(write(fd, hello, strlen(hello)), (ssize_t)strlen(hello));
    char hbuf[8192];
    srv_sock_read(fd, hbuf, sizeof hbuf, 10000, "+PONG\r\n");
    assert_non_null(strstr(hbuf, "+PONG\r\n"));
    raw_expect(fd, "*2\r\n$3\r\nGET\r\n$5\r\nnokey\r\n", "_\r\n");
    raw_expect(fd, "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nx\r\n$2\r\nNX\r\n", "_\r\n");
    raw_expect(fd, "*3\r\n$4\r\nMGET\r\n$1\r\nk\r\n$5\r\nnokey\r\n", "*2\r\n$1\r\nv\r\n_\r\n");
    raw_expect(fd, "*2\r\n$6\r\nGETDEL\r\n$5\r\nnokey\r\n", "_\r\n");
    raw_expect(fd, "*2\r\n$4\r\nSCAN\r\n$1\r\n0\r\n", "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nf\r\n$1\r\nk\r\n");
    raw_expect(fd, "*2\r\n$3\r\nTTL\r\n$1\r\nk\r\n", ":-1\r\n");
    raw_expect(fd, "*3\r\n$11\r\nINCRBYFLOAT\r\n$1\r\nf\r\n$3\r\n1.5\r\n", "$1\r\n3\r\n");
    raw_expect(fd, "*2\r\n$4\r\nINCR\r\n$1\r\nk\r\n",
               "-ERR value is not an integer or out of range\r\n");
    close(fd);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    if (getenv("BURROW_TEST_FILTER"))
        cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_get_set, test_setup),
        cmocka_unit_test_setup(test_set_family, test_setup),
        cmocka_unit_test_setup(test_ranges_append, test_setup),
        cmocka_unit_test_setup(test_multi_key, test_setup),
        cmocka_unit_test_setup(test_counters, test_setup),
        cmocka_unit_test_setup(test_expire_commands, test_setup),
        cmocka_unit_test_setup(test_short_ttl, test_setup),
        cmocka_unit_test_setup(test_generic, test_setup),
        cmocka_unit_test_setup(test_long_key, test_setup),
        cmocka_unit_test_setup(test_wrongtype, test_setup),
        cmocka_unit_test_setup(test_scan_10k, test_setup),
        cmocka_unit_test_setup(test_restart, test_setup),
        cmocka_unit_test_setup(test_resp_versions, test_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
