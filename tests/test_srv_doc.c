/*
 * test_srv_doc.c — DOC.* and TIER.* against a real burrowd (tests/lib/srv.h):
 *
 *  - every command through hiredis (RESP2), with exact replies and errors,
 *    and the connection usable after each error;
 *  - the same family through redis-cli, as a user types it;
 *  - RESP3 after HELLO 3 on a raw socket (Debian's hiredis speaks RESP2
 *    only): nil, maps and booleans;
 *  - a pipelined DOC.INSERT + TIER.PROMOTE: the promotion sees the insert
 *    (whether the two share a batch or not) and the document is cached;
 *  - the atomic bid: clients racing DOC.UPDATE ... IF with increasing
 *    amounts; the final price is the highest bid, the number of 1 replies
 *    is the number of accepted bids (the document counts them), and the
 *    accepted amounts, in the order the document recorded them, rise;
 *  - collections, documents, schemas, indexes and TTLs survive a restart.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "srv.h"
#include "testutil.h"

static char *dir;
static srv_proc proc;
static redisContext *rc;

static const char *const flags[] = {"--hot-mem", "4mb", "--threads", "2", NULL};

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-srvdoc");
    if (!dir || srv_start(&proc, dir, flags))
        return -1;
    rc = srv_connect(&proc);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (rc)
        redisFree(rc);
    rc = NULL;
    int st = srv_stop(&proc);
    tu_rmtree(dir);
    free(dir);
    return st == 0 ? 0 : -1;
}

#define CMD(...) srv_cmd(rc, __VA_ARGS__)

/* An argv command (JSON arguments hold spaces and quotes). */
static redisReply *cmdv(const char *const *argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    return srv_cmdv(rc, argc, (const char **)argv, NULL);
}
#define V(...) cmdv((const char *const[]){__VA_ARGS__, NULL})

/* The reply is an array of these bulk strings (frees it). */
static void expect_strs(redisReply *r, size_t n, ...)
{
    if (r->type != REDIS_REPLY_ARRAY)
        fail_msg("want an array, got type %d (%s)", r->type, r->str ? r->str : "");
    assert_int_equal(r->elements, n);
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        assert_int_equal(r->element[i]->type, REDIS_REPLY_STRING);
        assert_string_equal(r->element[i]->str, s);
    }
    va_end(ap);
    freeReplyObject(r);
}

static void shop(void)
{
    srv_expect_status(CMD("DOC.CREATE items"), "OK");
    srv_expect_str(V("DOC.INSERT", "items",
                     "{\"_id\": \"vase\", \"price\": 120, \"category\": \"decor\", \"tags\": [\"blue\"]}"),
                   "vase");
    srv_expect_str(V("DOC.INSERT", "items",
                     "{\"_id\": \"lamp\", \"price\": 45, \"category\": \"lighting\"}"),
                   "lamp");
    srv_expect_str(V("DOC.INSERT", "items",
                     "{\"_id\": \"bowl\", \"price\": 30, \"category\": \"kitchen\", \"tags\": [\"blue\"]}"),
                   "bowl");
    srv_expect_str(V("DOC.INSERT", "items",
                     "{\"_id\": \"cup\", \"price\": 8, \"category\": \"kitchen\"}"),
                   "cup");
}

/* ---- hiredis ------------------------------------------------------------------ */

static void test_collections_and_documents(void **state)
{
    (void)state;
    shop();
    srv_expect_error(CMD("DOC.CREATE items"), "ERR collection 'items' already exists");
    srv_expect_status(V("DOC.CREATE", "people", "SCHEMA",
                        "{\"fields\": {\"age\": {\"type\": \"integer\", \"min\": 0}}}"),
                      "OK");
    expect_strs(CMD("DOC.LIST"), 2, "items", "people");
    srv_expect_error(V("DOC.INSERT", "people", "{\"age\": -1}"),
                     "ERR field 'age': -1 is below the minimum 0");
    srv_expect_status(CMD("DOC.DROP people"), "OK");
    srv_expect_error(CMD("DOC.DROP people"), "ERR no such collection 'people'");
    expect_strs(CMD("DOC.LIST"), 1, "items");

    srv_expect_str(CMD("DOC.GET items cup"), "{\"_id\":\"cup\",\"price\":8,\"category\":\"kitchen\"}");
    srv_expect_str(CMD("DOC.GET items vase FIELDS price tags"),
                   "{\"_id\":\"vase\",\"price\":120,\"tags\":[\"blue\"]}");
    srv_expect_nil(CMD("DOC.GET items zed"));
    srv_expect_error(CMD("DOC.GET nope zed"), "ERR no such collection 'nope'");
    srv_expect_error(V("DOC.INSERT", "items", "{\"_id\": \"cup\"}"),
                     "ERR document 'cup' already exists in 'items'");
    srv_expect_error(V("DOC.INSERT", "items", "{\"a\": tru}"), "ERR invalid JSON in the document: 1:");
    redisReply *r = V("DOC.INSERT", "items", "{\"price\": 1}");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_int_equal(r->len, 26); /* a generated id */
    freeReplyObject(r);

    srv_expect_int(V("DOC.REPLACE", "items", "cup", "{\"price\": 9}"), 1);
    srv_expect_int(V("DOC.REPLACE", "items", "mug", "{\"price\": 9}"), 0);
    srv_expect_str(CMD("DOC.GET items cup"), "{\"_id\":\"cup\",\"price\":9}");
    srv_expect_int(V("DOC.UPDATE", "items", "cup", "{\"$inc\": {\"price\": 1}}"), 1);
    srv_expect_int(V("DOC.UPDATE", "items", "cup", "{\"$set\": {\"price\": 1}}", "IF",
                     "{\"price\": {\"$gt\": 10}}"),
                   0);
    srv_expect_nil(V("DOC.UPDATE", "items", "mug", "{\"$set\": {\"price\": 1}}"));
    srv_expect_int(V("DOC.UPDATE", "items", "mug", "{\"$set\": {\"price\": 1}}", "UPSERT"), 1);
    srv_expect_str(CMD("DOC.GET items mug"), "{\"_id\":\"mug\",\"price\":1}");
    srv_expect_error(V("DOC.UPDATE", "items", "mug", "{\"$bump\": {\"price\": 1}}"), "ERR ");
    srv_expect_int(CMD("DOC.DELETE items mug"), 1);
    srv_expect_int(CMD("DOC.DELETE items mug"), 0);
    /* errors leave the connection usable */
    srv_expect_error(CMD("DOC.GET items"), "ERR wrong number of arguments for 'doc.get' command");
    srv_expect_error(CMD("DOC.UPDATE items cup {} IF"), "ERR syntax error");
    srv_expect_str(CMD("DOC.GET items cup"), "{\"_id\":\"cup\",\"price\":10}");
}

static void test_queries(void **state)
{
    (void)state;
    shop();
    expect_strs(V("DOC.FIND", "items", "{\"tags\": \"blue\"}", "SORT", "price", "DESC", "FIELDS",
                  "price"),
                2, "{\"_id\":\"vase\",\"price\":120}", "{\"_id\":\"bowl\",\"price\":30}");
    expect_strs(CMD("DOC.FIND items SORT price SKIP 1 LIMIT 2 FIELDS price"), 2,
                "{\"_id\":\"bowl\",\"price\":30}", "{\"_id\":\"lamp\",\"price\":45}");
    expect_strs(V("DOC.FIND", "items", "{\"price\": {\"$gt\": 999}}"), 0);
    srv_expect_error(CMD("DOC.FIND items LIMIT -1"), "ERR LIMIT must be a non-negative integer");
    srv_expect_int(CMD("DOC.COUNT items"), 4);
    srv_expect_int(V("DOC.COUNT", "items", "{\"price\": {\"$lt\": 50}}"), 3);
    expect_strs(CMD("DOC.AGGREGATE items GROUP category COUNT AVG price"), 3,
                "{\"_id\":\"decor\",\"count\":1,\"avg(price)\":120.0}",
                "{\"_id\":\"kitchen\",\"count\":2,\"avg(price)\":19.0}",
                "{\"_id\":\"lighting\",\"count\":1,\"avg(price)\":45.0}");

    srv_expect_status(CMD("DOC.INDEX CREATE items price"), "OK");
    srv_expect_status(CMD("DOC.INDEX CREATE items category,price UNIQUE"), "OK");
    redisReply *r = CMD("DOC.INDEX LIST items");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    redisReply *e = r->element[0];
    assert_int_equal(e->elements, 4);
    assert_string_equal(e->element[0]->str, "name");
    assert_string_equal(e->element[1]->str, "category,price");
    assert_string_equal(e->element[2]->str, "unique");
    assert_int_equal(e->element[3]->integer, 1);
    assert_string_equal(r->element[1]->element[1]->str, "price");
    assert_int_equal(r->element[1]->element[3]->integer, 0);
    freeReplyObject(r);
    r = V("DOC.EXPLAIN", "items", "{\"price\": {\"$gte\": 100}}", "SORT", "price");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_non_null(strstr(r->str, "\"plan\":\"index\",\"index\":\"price\""));
    assert_non_null(strstr(r->str, "\"sort\":\"index\""));
    freeReplyObject(r);
    srv_expect_status(CMD("DOC.INDEX DROP items price"), "OK");
    srv_expect_error(CMD("DOC.INDEX FROB items"),
                     "ERR unknown subcommand 'FROB'. Try CREATE, DROP or LIST.");

    srv_expect_int(CMD("DOC.TTL items vase"), -1);
    srv_expect_int(CMD("DOC.EXPIRE items vase 1000"), 1);
    r = CMD("DOC.TTL items vase");
    assert_true(r->integer > 990 && r->integer <= 1000);
    freeReplyObject(r);
    srv_expect_int(CMD("DOC.PERSIST items vase"), 1);
    srv_expect_int(CMD("DOC.TTL items vase"), -1);
    srv_expect_int(CMD("DOC.TTL items zed"), -2);
    srv_expect_int(CMD("DOC.EXPIRE items cup 0"), 1);
    srv_expect_nil(CMD("DOC.GET items cup"));
}

static void test_tier(void **state)
{
    (void)state;
    shop();
    srv_expect_str(CMD("TIER.POLICY"), "hybrid");
    srv_expect_status(CMD("TIER.POLICY lru"), "OK");
    srv_expect_str(CMD("TIER.POLICY"), "lru");
    redisReply *r = CMD("CONFIG GET eviction");
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[1]->str, "lru");
    freeReplyObject(r);

    srv_expect_int(CMD("TIER.PROMOTE items vase lamp zed"), 2);
    srv_expect_int(CMD("TIER.PROMOTE items RANGE - +"), 4);
    r = CMD("TIER.KEY items vase");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 10);
    assert_string_equal(r->element[0]->str, "accesses");
    assert_string_equal(r->element[8]->str, "pinned");
    assert_int_equal(r->element[9]->integer, 0);
    freeReplyObject(r);
    srv_expect_int(CMD("TIER.PIN items vase"), 1);
    r = CMD("TIER.KEY items vase");
    assert_int_equal(r->element[9]->integer, 1);
    freeReplyObject(r);
    srv_expect_int(CMD("TIER.UNPIN items vase"), 1);
    srv_expect_int(CMD("TIER.DEMOTE items vase"), 1);
    srv_expect_int(CMD("TIER.DEMOTE items vase"), 0);
    srv_expect_nil(CMD("TIER.KEY items vase"));

    r = CMD("TIER.STATS");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 22);
    assert_string_equal(r->element[12]->str, "entries");
    assert_int_equal(r->element[13]->integer, 3);
    assert_string_equal(r->element[16]->str, "budget");
    assert_int_equal(r->element[17]->integer, 4 * 1024 * 1024); /* mb, as Redis counts */
    assert_string_equal(r->element[21]->str, "lru");
    freeReplyObject(r);

    /* pipelined: the promotion sees the insert before it */
    redisAppendCommand(rc, "DOC.INSERT items %s", "{\"_id\": \"jug\", \"price\": 3}");
    redisAppendCommand(rc, "TIER.PROMOTE items jug");
    redisAppendCommand(rc, "TIER.KEY items jug");
    void *p;
    assert_int_equal(redisGetReply(rc, &p), REDIS_OK);
    srv_expect_str(p, "jug");
    assert_int_equal(redisGetReply(rc, &p), REDIS_OK);
    srv_expect_int(p, 1);
    assert_int_equal(redisGetReply(rc, &p), REDIS_OK);
    freeReplyObject(p); /* cached or not yet, as the batches fell */
    r = CMD("TIER.KEY items jug");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    freeReplyObject(r);
}

/* ---- redis-cli ------------------------------------------------------------------- */

static void cli(const char *want, const char *const *args)
{
    char out[4096];
    int st = srv_cli(&proc, NULL, out, sizeof out, args);
    assert_int_equal(st, 0);
    assert_string_equal(out, want);
}
#define CLI(want, ...) cli(want, (const char *const[]){__VA_ARGS__, NULL})

static void test_redis_cli(void **state)
{
    (void)state;
    CLI("OK\n", "DOC.CREATE", "users");
    CLI("ann\n", "DOC.INSERT", "users", "{\"_id\": \"ann\", \"age\": 31, \"city\": \"Oslo\"}");
    CLI("bob\n", "doc.insert", "users", "{\"_id\": \"bob\", \"age\": 25}");
    CLI("{\"_id\":\"ann\",\"age\":31,\"city\":\"Oslo\"}\n", "DOC.GET", "users", "ann");
    CLI("\n", "DOC.GET", "users", "zed");
    CLI("ERR no such collection 'nope'\n\n", "DOC.GET", "nope", "zed"); /* redis-cli's way */
    CLI("{\"_id\":\"bob\",\"age\":25}\n{\"_id\":\"ann\",\"age\":31}\n", "DOC.FIND", "users",
        "{\"age\": {\"$gt\": 20}}", "SORT", "age", "FIELDS", "age");
    CLI("2\n", "DOC.COUNT", "users");
    CLI("{\"_id\":null,\"count\":2,\"min(age)\":25,\"max(age)\":31}\n", "DOC.AGGREGATE", "users",
        "COUNT", "MIN", "age", "MAX", "age");
    CLI("1\n", "DOC.UPDATE", "users", "ann", "{\"$inc\": {\"age\": 1}}", "IF", "{\"age\": 31}");
    CLI("0\n", "DOC.UPDATE", "users", "ann", "{\"$inc\": {\"age\": 1}}", "IF", "{\"age\": 31}");
    CLI("\n", "DOC.UPDATE", "users", "zed", "{\"$inc\": {\"age\": 1}}");
    CLI("1\n", "DOC.REPLACE", "users", "bob", "{\"age\": 26}");
    CLI("OK\n", "DOC.INDEX", "CREATE", "users", "age");
    CLI("name\nage\nunique\n0\n", "DOC.INDEX", "LIST", "users");
    CLI("1\n", "DOC.EXPIRE", "users", "bob", "100");
    CLI("1\n", "DOC.PERSIST", "users", "bob");
    CLI("-1\n", "DOC.TTL", "users", "bob");
    CLI("1\n", "DOC.DELETE", "users", "bob");
    CLI("users\n", "DOC.LIST");
    CLI("1\n", "TIER.PROMOTE", "users", "ann");
    CLI("1\n", "TIER.DEMOTE", "users", "ann");
    CLI("hybrid\n", "TIER.POLICY");
    CLI("ERR syntax error\n\n", "DOC.FIND", "users", "LIMIT");
    CLI("OK\n", "DOC.DROP", "users");
}

/* ---- RESP3 ------------------------------------------------------------------------ */

/* Send req on fd and read until `until`; the reply must equal want. */
static void raw_expect(int fd, const char *req, const char *want)
{
    char got[4096];
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    srv_sock_read(fd, got, sizeof got, 10000, want);
    assert_string_equal(got, want);
}

static void test_resp3(void **state)
{
    (void)state;
    shop();
    int fd = srv_sock(&proc, NULL);
    assert_true(fd >= 0);
    char got[4096];
    const char *hello = "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n";
    assert_int_equal(write(fd, hello, strlen(hello)), (ssize_t)strlen(hello));
    srv_sock_read(fd, got, sizeof got, 10000, "modules");
    srv_sock_read(fd, got, sizeof got, 200, NULL); /* the rest of HELLO's map */
    raw_expect(fd, "DOC.GET items zed\r\n", "_\r\n");
    raw_expect(fd, "DOC.UPDATE items zed '{\"$set\": {\"a\": 1}}'\r\n", "_\r\n");
    raw_expect(fd, "DOC.INDEX CREATE items price UNIQUE\r\n", "+OK\r\n");
    raw_expect(fd, "DOC.INDEX LIST items\r\n",
               "*1\r\n%2\r\n$4\r\nname\r\n$5\r\nprice\r\n$6\r\nunique\r\n#t\r\n");
    raw_expect(fd, "TIER.PROMOTE items cup\r\n", ":1\r\n");
    assert_int_equal(write(fd, "TIER.KEY items cup\r\n", 20), 20);
    srv_sock_read(fd, got, sizeof got, 10000, "#f\r\n");
    assert_true(strncmp(got, "%5\r\n$8\r\naccesses\r\n:", 19) == 0);
    assert_non_null(strstr(got, "$9\r\nfrequency\r\n,"));
    assert_int_equal(write(fd, "TIER.STATS\r\n", 12), 12);
    srv_sock_read(fd, got, sizeof got, 10000, "hybrid\r\n");
    assert_true(strncmp(got, "%11\r\n$4\r\nhits\r\n:", 15) == 0);
    assert_non_null(strstr(got, "$9\r\nhit_ratio\r\n,"));
    close(fd);
}

/* ---- the atomic bid ---------------------------------------------------------------- */

#define BIDDERS 8

typedef struct bidder {
    int k;
    uint64_t seed;
    int bids;
    long amounts[400];
    bool accepted[400];
} bidder;

static void *bid_thread(void *arg)
{
    bidder *b = arg;
    redisContext *c = srv_connect(&proc);
    tu_rng rng;
    tu_rng_seed(&rng, b->seed);
    long step = 0;
    for (int i = 0; i < b->bids; i++) {
        step += (long)tu_range(&rng, 1, 4);
        long amount = step * BIDDERS + b->k; /* rising, and distinct across bidders */
        char upd[256], cond[64];
        snprintf(upd, sizeof upd,
                 "{\"$set\": {\"price\": %ld}, \"$inc\": {\"bids\": 1}, \"$push\": {\"history\": %ld}}",
                 amount, amount);
        snprintf(cond, sizeof cond, "{\"price\": {\"$lt\": %ld}}", amount);
        redisReply *r = redisCommand(c, "DOC.UPDATE auctions lot %s IF %s", upd, cond);
        b->amounts[i] = amount;
        b->accepted[i] = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        if (!r || r->type != REDIS_REPLY_INTEGER || (r->integer != 0 && r->integer != 1))
            b->bids = -1; /* reported by the main thread */
        if (r)
            freeReplyObject(r);
        if (b->bids < 0)
            break;
    }
    redisFree(c);
    return NULL;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static void test_bid_race(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    srv_expect_status(CMD("DOC.CREATE auctions"), "OK");
    srv_expect_str(V("DOC.INSERT", "auctions",
                     "{\"_id\": \"lot\", \"price\": 0, \"bids\": 0, \"history\": []}"),
                   "lot");
    static bidder b[BIDDERS];
    pthread_t t[BIDDERS];
    int nbids = (int)tu_rounds(150, 400);
    for (int k = 0; k < BIDDERS; k++) {
        b[k] = (bidder){.k = k, .seed = tu_mix(seed + (uint64_t)k), .bids = nbids};
        assert_int_equal(pthread_create(&t[k], NULL, bid_thread, &b[k]), 0);
    }
    long max = 0;
    size_t ones = 0;
    long *acc = calloc((size_t)BIDDERS * (size_t)nbids, sizeof *acc);
    for (int k = 0; k < BIDDERS; k++) {
        pthread_join(t[k], NULL);
        assert_int_equal(b[k].bids, nbids);
        for (int i = 0; i < nbids; i++) {
            if (b[k].amounts[i] > max)
                max = b[k].amounts[i];
            if (b[k].accepted[i])
                acc[ones++] = b[k].amounts[i];
        }
    }
    redisReply *r = CMD("DOC.GET auctions lot FIELDS price bids");
    char want[128];
    snprintf(want, sizeof want, "{\"_id\":\"lot\",\"price\":%ld,\"bids\":%zu}", max, ones);
    assert_string_equal(r->str, want);
    freeReplyObject(r);
    /* the history is the accepted amounts, each above the one before */
    r = CMD("DOC.GET auctions lot FIELDS history");
    qsort(acc, ones, sizeof *acc, cmp_long);
    size_t cap = 64 + ones * 24, len = 0;
    char *hist = malloc(cap);
    len += (size_t)snprintf(hist, cap, "{\"_id\":\"lot\",\"history\":[");
    for (size_t i = 0; i < ones; i++)
        len += (size_t)snprintf(hist + len, cap - len, "%s%ld", i ? "," : "", acc[i]);
    snprintf(hist + len, cap - len, "]}");
    assert_string_equal(r->str, hist);
    freeReplyObject(r);
    free(hist);
    free(acc);
}

/* ---- restart ------------------------------------------------------------------------ */

static void test_restart(void **state)
{
    (void)state;
    shop();
    srv_expect_status(V("DOC.CREATE", "people", "SCHEMA",
                        "{\"fields\": {\"age\": {\"type\": \"integer\"}}}"),
                      "OK");
    srv_expect_status(CMD("DOC.INDEX CREATE items price UNIQUE"), "OK");
    srv_expect_int(CMD("DOC.EXPIRE items lamp 10000"), 1);
    srv_expect_int(V("DOC.UPDATE", "items", "vase", "{\"$set\": {\"price\": 150}}"), 1);
    srv_expect_int(CMD("DOC.DELETE items cup"), 1);
    redisFree(rc);
    rc = NULL;
    assert_int_equal(srv_stop(&proc), 0);
    assert_int_equal(srv_start(&proc, dir, flags), 0);
    rc = srv_connect(&proc);

    expect_strs(CMD("DOC.LIST"), 2, "items", "people");
    expect_strs(CMD("DOC.FIND items FIELDS price"), 3, "{\"_id\":\"bowl\",\"price\":30}",
                "{\"_id\":\"lamp\",\"price\":45}", "{\"_id\":\"vase\",\"price\":150}");
    srv_expect_error(V("DOC.INSERT", "items", "{\"_id\": \"x\", \"price\": 30}"),
                     "ERR unique index 'price'");
    srv_expect_error(V("DOC.INSERT", "people", "{\"age\": \"x\"}"), "ERR field 'age'");
    redisReply *r = CMD("DOC.TTL items lamp");
    assert_true(r->integer > 9000 && r->integer <= 10000);
    freeReplyObject(r);
    srv_expect_nil(CMD("DOC.GET items cup"));
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_collections_and_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redis_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resp3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bid_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
