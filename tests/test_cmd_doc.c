/*
 * test_cmd_doc.c — the DOC.* and TIER.* commands of burrowd (cmd_doc.c,
 * cmd_tier.c), run in process the way the data thread runs them: a
 * cmd_ctx over a real database and a transaction per "batch", with the
 * reply bytes compared exactly, in RESP2 and RESP3.
 *
 *  - collections: create (with and without a schema), the refusals, list,
 *    drop; a missing collection is an error naming it, never a nil;
 *  - documents: insert (given and generated ids), get (projection, nil for
 *    a missing document), replace, update (1 / 0 / nil, IF, UPSERT),
 *    delete, and every error text a user meets;
 *  - queries: find with filter, sort, skip, limit and fields, count,
 *    aggregate (one bulk string per group), explain, argument errors;
 *  - indexes and TTLs (with the library's clock replaced);
 *  - the hot tier: stats, promote (ids, range) in a read batch and in a
 *    write batch (queued until the batch ends, seeing the batch's own
 *    insert), pin, unpin, demote, key statistics, policy, the tier off;
 *  - the atomic bid, randomised: a bid is accepted (1) exactly when it is
 *    above every earlier one, and the final price is the maximum.
 * The network path (hiredis, redis-cli, a restart) is test_srv_doc.c's.
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

#include "burrow.h"
#include "query/query.h"
#include "server/cmd_tier.h"
#include "server/command.h"
#include "server/server_int.h"
#include "testutil.h"

static char *dir;
static burrow_db *db;
static server srv;
static buf out;
static char *reply;

#define T0 UINT64_C(1700000000000)
static uint64_t fake_ms = T0;
static uint64_t fake_now(void) { return fake_ms; }

/* Run one command (argv NULL-terminated) in txn with protocol proto; the
 * reply bytes, NUL-terminated, valid until the next call. */
static const char *run_in(burrow_txn *txn, int proto, const char *const *argv)
{
    resp_arg args[64];
    uint32_t argc = 0;
    while (argv[argc]) {
        args[argc] = (resp_arg){argv[argc], strlen(argv[argc])};
        argc++;
    }
    const cmd_def *d = cmd_find(argv[0], strlen(argv[0]));
    if (!d)
        fail_msg("no command %s", argv[0]);
    bool arity_ok = d->arity > 0 ? argc == (uint32_t)d->arity : argc >= (uint32_t)-d->arity;
    if (!arity_ok)
        fail_msg("%s: %u arguments break its arity %d", argv[0], argc, d->arity);
    out.size = 0;
    cmd_ctx c = {.srv = &srv, .db = db, .txn = txn, .cmd = d, .argc = argc, .argv = args,
                 .out = &out, .proto = proto, .now_ms = fake_ms};
    int rc = d->fn(&c);
    if (rc)
        fail_msg("%s returned %d (%s)", argv[0], rc, burrow_strerror(rc));
    free(reply);
    reply = malloc(out.size + 1);
    memcpy(reply, out.data, out.size);
    reply[out.size] = 0;
    return reply;
}

/* One batch of one command: a write txn (committed) when the command is
 * CMD_WRITE, else a read txn; then the end-of-batch work, as server.c. */
static const char *run_batch(int proto, const char *const *argv)
{
    const cmd_def *d = cmd_find(argv[0], strlen(argv[0]));
    assert_non_null(d);
    bool write = d->flags & CMD_WRITE;
    burrow_txn *txn;
    assert_int_equal(burrow_txn_begin(db, NULL, write ? 0 : BURROW_TXN_RDONLY, &txn), 0);
    srv.txn_write = write;
    const char *r = run_in(txn, proto, argv);
    if (write) {
        assert_int_equal(burrow_txn_commit(txn), 0);
        cmd_tier_batch_end(db);
    } else {
        burrow_txn_abort(txn);
    }
    return r;
}

/* The RESP bulk string of s, and an array of bulk strings (n of them), as
 * expected replies; valid until the 16th call after. */
static char *fmt_slot(void)
{
    static char slots[16][2048];
    static unsigned next;
    return slots[next++ % 16];
}

static const char *B(const char *s)
{
    char *o = fmt_slot();
    snprintf(o, 2048, "$%zu\r\n%s\r\n", strlen(s), s);
    return o;
}

static const char *A(int n, ...)
{
    char *o = fmt_slot();
    size_t len = (size_t)snprintf(o, 2048, "*%d\r\n", n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        len += (size_t)snprintf(o + len, 2048 - len, "$%zu\r\n%s\r\n", strlen(s), s);
    }
    va_end(ap);
    return o;
}

#define R2(...) run_batch(2, (const char *const[]){__VA_ARGS__, NULL})
#define R3(...) run_batch(3, (const char *const[]){__VA_ARGS__, NULL})
#define EQ(want, ...) assert_string_equal(R2(__VA_ARGS__), want)
#define EQ3(want, ...) assert_string_equal(R3(__VA_ARGS__), want)

static void open_db(size_t hot)
{
    char *path = tu_path(dir, hot ? "hot.db" : "cold.db");
    burrow_options opt;
    burrow_options_init(&opt);
    opt.hot_memory = hot;
    opt.sync_mode = BURROW_SYNC_NONE;
    assert_int_equal(burrow_open(path, &opt, &db), 0);
    free(path);
    memset(&srv, 0, sizeof srv);
    srv.db = db;
    srv.cfg.hot_mem = hot;
    srv.cfg.eviction = BURROW_TIER_HYBRID;
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-cmddoc");
    if (!dir)
        return -1;
    query_set_clock_for_tests(fake_now);
    fake_ms = T0;
    open_db(1 << 20);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    burrow_close(db);
    db = NULL;
    buf_free(&out);
    free(reply);
    reply = NULL;
    tu_rmtree(dir);
    free(dir);
    return 0;
}

/* The shop of docs/queries.md, smaller. */
static void shop(void)
{
    EQ("+OK\r\n", "doc.create", "items");
    EQ("$4\r\nvase\r\n", "doc.insert", "items",
       "{\"_id\": \"vase\", \"price\": 120, \"category\": \"decor\", \"tags\": [\"blue\"]}");
    EQ("$4\r\nlamp\r\n", "doc.insert", "items",
       "{\"_id\": \"lamp\", \"price\": 45, \"category\": \"lighting\"}");
    EQ("$4\r\nbowl\r\n", "doc.insert", "items",
       "{\"_id\": \"bowl\", \"price\": 30, \"category\": \"kitchen\", \"tags\": [\"blue\"]}");
    EQ("$3\r\ncup\r\n", "doc.insert", "items",
       "{\"_id\": \"cup\", \"price\": 8, \"category\": \"kitchen\"}");
}

/* ---- collections ------------------------------------------------------------ */

static void test_collections(void **state)
{
    (void)state;
    EQ("+OK\r\n", "doc.create", "users");
    EQ("-ERR collection 'users' already exists\r\n", "doc.create", "users");
    EQ("+OK\r\n", "DOC.CREATE", "people", "schema",
       "{\"fields\": {\"age\": {\"type\": \"integer\"}}}");
    assert_true(strncmp(R2("doc.create", "bad", "SCHEMA", "{\"fields\": 1,}"),
                        "-ERR invalid JSON in the schema: 1:", 35) == 0);
    EQ("-ERR syntax error\r\n", "doc.create", "x", "SCHEMA");
    EQ("-ERR syntax error\r\n", "doc.create", "x", "FIELDS", "{}");
    EQ("-ERR collection name must be 1 to 128 bytes\r\n", "doc.create", "");
    EQ("*2\r\n$6\r\npeople\r\n$5\r\nusers\r\n", "doc.list");
    EQ("*2\r\n$6\r\npeople\r\n$5\r\nusers\r\n", "doc.list");
    /* the schema is enforced through the server too */
    assert_string_equal(R2("doc.insert", "people", "{\"age\": \"old\"}"),
                        "-ERR field 'age': must be integer, found string\r\n");
    EQ("+OK\r\n", "doc.drop", "users");
    EQ("-ERR no such collection 'users'\r\n", "doc.drop", "users");
    EQ("*1\r\n$6\r\npeople\r\n", "doc.list");
    EQ("-ERR no such collection 'nope'\r\n", "doc.insert", "nope", "{}");
    EQ("-ERR no such collection 'nope'\r\n", "doc.get", "nope", "x");
    EQ("-ERR no such collection 'nope'\r\n", "doc.update", "nope", "x", "{\"$set\": {\"a\": 1}}");
    EQ("-ERR no such collection 'nope'\r\n", "doc.delete", "nope", "x");
    EQ("-ERR no such collection 'nope'\r\n", "doc.replace", "nope", "x", "{}");
    EQ("-ERR no such collection 'nope'\r\n", "doc.find", "nope");
    EQ("-ERR no such collection 'nope'\r\n", "doc.ttl", "nope", "x");
}

/* ---- documents -------------------------------------------------------------- */

static void test_documents(void **state)
{
    (void)state;
    shop();
    EQ(B("{\"_id\":\"vase\",\"price\":120,\"category\":\"decor\",\"tags\":[\"blue\"]}"),
       "doc.get", "items", "vase");
    EQ(B("{\"_id\":\"vase\",\"tags\":[\"blue\"]}"), "doc.get", "items", "vase", "FIELDS",
       "tags");
    EQ("$-1\r\n", "doc.get", "items", "zed");
    EQ3("_\r\n", "doc.get", "items", "zed");
    EQ("-ERR syntax error\r\n", "doc.get", "items", "vase", "tags");
    EQ("-ERR syntax error\r\n", "doc.get", "items", "vase", "FIELDS");
    EQ("-ERR document 'vase' already exists in 'items'\r\n", "doc.insert", "items",
       "{\"_id\": \"vase\"}");
    EQ("-ERR invalid JSON in the document: 1:8: trailing comma\r\n", "doc.insert", "items",
       "{\"x\": 1,}");
    EQ("-ERR a document must be a JSON object\r\n", "doc.insert", "items", "[1]");
    /* a generated id: 26 characters, and the document carries it */
    const char *r = R2("doc.insert", "items", "{\"price\": 1}");
    assert_int_equal(strlen(r), 5 + 26 + 2);
    char id[27];
    memcpy(id, r + 5, 26);
    id[26] = 0;
    char want[128];
    snprintf(want, sizeof want, "{\"_id\":\"%s\",\"price\":1}", id);
    EQ(B(want), "doc.get", "items", id);

    /* replace: 1, or 0 when there is no such document */
    EQ(":1\r\n", "doc.replace", "items", "cup", "{\"price\": 9}");
    EQ(B("{\"_id\":\"cup\",\"price\":9}"), "doc.get", "items", "cup");
    EQ(":0\r\n", "doc.replace", "items", "zed", "{\"price\": 9}");
    EQ("-ERR replace: the document's _id differs from 'cup'\r\n", "doc.replace", "items", "cup",
       "{\"_id\": \"mug\"}");

    /* update: 1 applied, 0 condition false, nil no document */
    EQ(":1\r\n", "doc.update", "items", "cup", "{\"$inc\": {\"price\": 1}}");
    EQ(":0\r\n", "doc.update", "items", "cup", "{\"$set\": {\"price\": 5}}", "IF",
       "{\"price\": {\"$gt\": 10}}");
    EQ(":1\r\n", "doc.update", "items", "cup", "{\"$set\": {\"price\": 5}}", "if",
       "{\"price\": {\"$lt\": 11}}");
    EQ(B("{\"_id\":\"cup\",\"price\":5}"), "doc.get", "items", "cup");
    EQ("$-1\r\n", "doc.update", "items", "zed", "{\"$set\": {\"a\": 1}}");
    EQ3("_\r\n", "doc.update", "items", "zed", "{\"$set\": {\"a\": 1}}");
    EQ(":1\r\n", "doc.update", "items", "zed", "{\"$set\": {\"a\": 1}}", "UPSERT");
    EQ(B("{\"_id\":\"zed\",\"a\":1}"), "doc.get", "items", "zed");
    EQ(":1\r\n", "doc.update", "items", "new", "{\"$inc\": {\"n\": 2}}", "UPSERT", "IF",
       "{\"n\": {\"$exists\": false}}");
    EQ("-ERR syntax error\r\n", "doc.update", "items", "cup", "{}", "IF");
    EQ("-ERR syntax error\r\n", "doc.update", "items", "cup", "{}", "UPSERT", "UPSERT");
    EQ("-ERR syntax error\r\n", "doc.update", "items", "cup", "{\"$set\":{}}", "WHEN", "{}");
    assert_true(strncmp(R2("doc.update", "items", "cup", "{\"$set\": 1,}"),
                        "-ERR invalid JSON in the update: 1:", 35) == 0);
    assert_true(strncmp(R2("doc.update", "items", "cup", "{\"$set\": {\"a\": 1}}", "IF", "{,}"),
                        "-ERR invalid JSON in the filter: 1:", 35) == 0);
    assert_true(strncmp(R2("doc.update", "items", "cup", "{\"$inc\": {\"price\": \"x\"}}"), "-ERR ",
                        5) == 0);
    EQ(B("{\"_id\":\"cup\",\"price\":5}"), "doc.get", "items", "cup");

    /* delete: 1, then 0 */
    EQ(":1\r\n", "doc.delete", "items", "zed");
    EQ(":0\r\n", "doc.delete", "items", "zed");
    EQ("-ERR document id must be 1 to 128 bytes\r\n", "doc.delete", "items", "");
}

/* ---- queries ---------------------------------------------------------------- */

static void test_find(void **state)
{
    (void)state;
    shop();
    EQ(A(2, "{\"_id\":\"vase\",\"category\":\"decor\"}",
         "{\"_id\":\"bowl\",\"category\":\"kitchen\"}"),
       "doc.find", "items", "{\"tags\": \"blue\"}", "SORT", "price", "DESC", "FIELDS", "category");
    EQ(A(2, "{\"_id\":\"lamp\",\"price\":45}", "{\"_id\":\"bowl\",\"price\":30}"),
       "doc.find", "items", "sort", "price", "desc", "skip", "1", "limit", "2", "fields", "price");
    EQ(A(1, "{\"_id\":\"cup\",\"price\":8}"), "doc.find", "items", "FIELDS", "price",
       "SORT", "price", "ASC", "LIMIT", "1");
    /* several sort keys, the direction optional */
    EQ(A(4, "{\"_id\":\"vase\"}", "{\"_id\":\"bowl\"}", "{\"_id\":\"cup\"}",
         "{\"_id\":\"lamp\"}"),
       "doc.find", "items", "SORT", "category", "price", "DESC", "FIELDS", "nothing");
    EQ("*0\r\n", "doc.find", "items", "{\"price\": {\"$gt\": 1000}}");
    EQ3("*0\r\n", "doc.find", "items", "{\"price\": {\"$gt\": 1000}}");
    const char *all = R2("doc.find", "items");
    assert_true(strncmp(all, "*4\r\n$", 5) == 0);
    EQ("-ERR LIMIT must be a non-negative integer\r\n", "doc.find", "items", "LIMIT", "-1");
    EQ("-ERR SKIP must be a non-negative integer\r\n", "doc.find", "items", "SKIP", "x");
    EQ("-ERR syntax error\r\n", "doc.find", "items", "LIMIT");
    EQ("-ERR syntax error\r\n", "doc.find", "items", "SORT");
    EQ("-ERR syntax error\r\n", "doc.find", "items", "LIMIT", "1", "LIMIT", "2");
    EQ("-ERR syntax error\r\n", "doc.find", "items", "{}", "{}");
    EQ("-ERR filter: unknown operator '$gtx' at 'price'\r\n", "doc.find", "items",
       "{\"price\": {\"$gtx\": 1}}");

    EQ(":4\r\n", "doc.count", "items");
    EQ(":2\r\n", "doc.count", "items", "{\"tags\": \"blue\"}");
    EQ("-ERR syntax error\r\n", "doc.count", "items", "{}", "LIMIT", "1");

    const char *plan = R2("doc.explain", "items", "{\"price\": 45}", "SORT", "price");
    assert_true(strncmp(plan, "$", 1) == 0);
    assert_non_null(strstr(plan, "\"plan\":\"scan\""));
    assert_non_null(strstr(plan, "\"sort\":\"memory\""));
    EQ("+OK\r\n", "doc.index", "CREATE", "items", "price");
    plan = R2("doc.explain", "items", "{\"price\": 45}");
    assert_non_null(strstr(plan, "\"plan\":\"index\",\"index\":\"price\""));
}

static void test_aggregate(void **state)
{
    (void)state;
    shop();
    EQ(A(3, "{\"_id\":\"decor\",\"count\":1,\"sum(price)\":120,\"max(price)\":120}",
         "{\"_id\":\"kitchen\",\"count\":2,\"sum(price)\":38,\"max(price)\":30}",
         "{\"_id\":\"lighting\",\"count\":1,\"sum(price)\":45,\"max(price)\":45}"),
       "doc.aggregate", "items", "GROUP", "category", "COUNT", "SUM", "price", "MAX", "price");
    EQ(A(1, "{\"_id\":null,\"count\":2,\"avg(price)\":75.0}"), "doc.aggregate", "items",
       "{\"tags\": \"blue\"}", "count", "avg", "price");
    /* several group paths; strings with commas and brackets survive the split */
    EQ("+OK\r\n", "doc.create", "g");
    EQ("$1\r\na\r\n", "doc.insert", "g", "{\"_id\": \"a\", \"k\": \"x,]\\\"}\", \"n\": [1, 2]}");
    EQ(A(1, "{\"_id\":[\"x,]\\\"}\",[1,2]],\"min(n)\":[1,2]}"), "doc.aggregate", "g",
       "GROUP", "k,n", "MIN", "n");
    EQ("*0\r\n", "doc.aggregate", "items", "{\"price\": 0}", "COUNT");
    EQ("-ERR syntax error\r\n", "doc.aggregate", "items", "SUM");
    EQ("-ERR syntax error\r\n", "doc.aggregate", "items", "GROUP", "a", "GROUP", "b");
    EQ("-ERR syntax error\r\n", "doc.aggregate", "items", "COUNT", "price");
    EQ("-ERR GROUP takes 1 to 32 comma-separated fields\r\n", "doc.aggregate", "items", "GROUP",
       "a,,b");
    EQ("-ERR aggregate: 'count' is asked for twice\r\n", "doc.aggregate", "items", "COUNT",
       "COUNT");
}

/* ---- indexes ------------------------------------------------------------------ */

static void test_indexes(void **state)
{
    (void)state;
    shop();
    EQ("+OK\r\n", "doc.index", "create", "items", "price");
    EQ("+OK\r\n", "doc.index", "CREATE", "items", "category, price", "UNIQUE");
    EQ("-ERR index 'price' already exists on 'items'\r\n", "doc.index", "CREATE", "items",
       "price");
    EQ("*2\r\n"
       "*4\r\n$4\r\nname\r\n$14\r\ncategory,price\r\n$6\r\nunique\r\n:1\r\n"
       "*4\r\n$4\r\nname\r\n$5\r\nprice\r\n$6\r\nunique\r\n:0\r\n",
       "doc.index", "LIST", "items");
    EQ3("*2\r\n"
        "%2\r\n$4\r\nname\r\n$14\r\ncategory,price\r\n$6\r\nunique\r\n#t\r\n"
        "%2\r\n$4\r\nname\r\n$5\r\nprice\r\n$6\r\nunique\r\n#f\r\n",
        "doc.index", "LIST", "items");
    /* a unique index refuses a duplicate and changes nothing */
    assert_true(strncmp(R2("doc.insert", "items",
                           "{\"_id\": \"jug\", \"category\": \"kitchen\", \"price\": 8}"),
                        "-ERR unique index 'category,price'", 34) == 0);
    EQ(":4\r\n", "doc.count", "items");
    EQ("+OK\r\n", "doc.index", "DROP", "items", "price");
    assert_true(strncmp(R2("doc.index", "DROP", "items", "price"), "-ERR ", 5) == 0);
    EQ("*1\r\n*4\r\n$4\r\nname\r\n$14\r\ncategory,price\r\n$6\r\nunique\r\n:1\r\n", "doc.index",
       "LIST", "items");
    EQ("-ERR unknown subcommand 'SHOW'. Try CREATE, DROP or LIST.\r\n", "doc.index", "SHOW",
       "items");
    EQ("-ERR syntax error\r\n", "doc.index", "CREATE", "items", "a", "PRIMARY");
    EQ("-ERR syntax error\r\n", "doc.index", "LIST", "items", "x");
    EQ("-ERR no such collection 'nope'\r\n", "doc.index", "LIST", "nope");
}

/* ---- time to live ------------------------------------------------------------- */

static void test_ttl(void **state)
{
    (void)state;
    shop();
    EQ(":-1\r\n", "doc.ttl", "items", "vase");
    EQ(":-2\r\n", "doc.ttl", "items", "zed");
    EQ(":1\r\n", "doc.expire", "items", "vase", "100");
    EQ(":100\r\n", "doc.ttl", "items", "vase");
    fake_ms += 30400;
    EQ(":70\r\n", "doc.ttl", "items", "vase");
    EQ(":0\r\n", "doc.expire", "items", "zed", "100");
    EQ(":1\r\n", "doc.persist", "items", "vase");
    EQ(":0\r\n", "doc.persist", "items", "vase");
    EQ(":-1\r\n", "doc.ttl", "items", "vase");
    EQ(":0\r\n", "doc.persist", "items", "zed");
    EQ(":1\r\n", "doc.expire", "items", "lamp", "5");
    fake_ms += 5000;
    EQ("$-1\r\n", "doc.get", "items", "lamp");
    EQ(":-2\r\n", "doc.ttl", "items", "lamp");
    EQ(":3\r\n", "doc.count", "items", "{}");
    /* a time not in the future deletes at once, as Redis's EXPIRE */
    EQ(":1\r\n", "doc.expire", "items", "cup", "0");
    EQ("$-1\r\n", "doc.get", "items", "cup");
    EQ(":0\r\n", "doc.expire", "items", "cup", "-5");
    EQ("-ERR value is not an integer or out of range\r\n", "doc.expire", "items", "bowl", "1.5");
    EQ("-ERR invalid expire time in 'doc.expire' command\r\n", "doc.expire", "items", "bowl",
       "9223372036854775807");
    EQ(":-1\r\n", "doc.ttl", "items", "bowl");
}

/* ---- the hot tier ------------------------------------------------------------- */

static void test_tier(void **state)
{
    (void)state;
    shop();
    const char *st = R2("tier.stats");
    assert_true(strncmp(st, "*22\r\n$4\r\nhits\r\n:0\r\n$6\r\nmisses\r\n:0\r\n", 35) == 0);
    assert_non_null(strstr(st, "$6\r\nbudget\r\n:1048576\r\n"));
    assert_non_null(strstr(st, "$9\r\nhit_ratio\r\n$1\r\n0\r\n$6\r\npolicy\r\n$6\r\nhybrid\r\n"));
    st = R3("tier.stats");
    assert_true(strncmp(st, "%11\r\n$4\r\nhits\r\n:0\r\n", 19) == 0);
    assert_non_null(strstr(st, "$9\r\nhit_ratio\r\n,0\r\n"));

    /* a read batch promotes at once; a missing id counts 0 */
    EQ(":2\r\n", "tier.promote", "items", "vase", "lamp", "zed");
    const char *k = R2("tier.key", "items", "vase");
    const char *k_head = "*10\r\n$8\r\naccesses\r\n:0\r\n$14\r\nlast_access_ms\r\n:";
    assert_true(strncmp(k, k_head, strlen(k_head)) == 0);
    assert_non_null(strstr(k, "$6\r\npinned\r\n:0\r\n"));
    k = R3("tier.key", "items", "vase");
    assert_true(strncmp(k, "%5\r\n", 4) == 0);
    assert_non_null(strstr(k, "$6\r\npinned\r\n#f\r\n"));
    EQ("$-1\r\n", "tier.key", "items", "bowl");
    EQ(":1\r\n", "tier.demote", "items", "vase");
    EQ(":0\r\n", "tier.demote", "items", "vase");
    EQ("$-1\r\n", "tier.key", "items", "vase");
    EQ("-ERR no such collection 'nope'\r\n", "tier.promote", "nope", "x");

    /* range: [bowl, lamp) holds bowl and cup; "-" and "+" are open ends */
    EQ(":2\r\n", "tier.promote", "items", "RANGE", "bowl", "lamp");
    EQ(":4\r\n", "tier.promote", "items", "range", "-", "+");

    /* pin, unpin */
    EQ(":1\r\n", "tier.pin", "items", "cup");
    assert_non_null(strstr(R2("tier.key", "items", "cup"), "$6\r\npinned\r\n:1\r\n"));
    EQ(":1\r\n", "tier.unpin", "items", "cup");
    assert_non_null(strstr(R2("tier.key", "items", "cup"), "$6\r\npinned\r\n:0\r\n"));
    EQ(":0\r\n", "tier.pin", "items", "zed");

    /* A write batch: the insert and the promotion in one txn. The reply
     * counts the new document; the promotion waits for the batch's end. */
    burrow_txn *txn;
    assert_int_equal(burrow_txn_begin(db, NULL, 0, &txn), 0);
    srv.txn_write = true;
    assert_string_equal(run_in(txn, 2, (const char *const[]){"doc.insert", "items",
                                                               "{\"_id\": \"mug\", \"price\": 12}",
                                                               NULL}),
                        "$3\r\nmug\r\n");
    assert_string_equal(
        run_in(txn, 2, (const char *const[]){"tier.promote", "items", "mug", "zed", NULL}),
        ":1\r\n");
    assert_string_equal(run_in(txn, 2, (const char *const[]){"tier.pin", "items", "vase", NULL}),
                        ":1\r\n");
    assert_string_equal(
        run_in(txn, 2, (const char *const[]){"tier.promote", "items", "RANGE", "m", "n", NULL}),
        ":1\r\n");
    assert_string_equal(run_in(txn, 2, (const char *const[]){"tier.key", "items", "mug", NULL}),
                        "$-1\r\n");
    assert_int_equal(burrow_txn_commit(txn), 0);
    assert_int_equal(cmd_tier_batch_end(db), 3);
    assert_int_equal(cmd_tier_batch_end(db), 0); /* nothing waits twice */
    assert_non_null(strstr(R2("tier.key", "items", "mug"), "$6\r\npinned\r\n:0\r\n"));
    assert_non_null(strstr(R2("tier.key", "items", "vase"), "$6\r\npinned\r\n:1\r\n"));

    /* an aborted batch: the waiting promotion runs on the committed state,
     * where the document never was */
    assert_int_equal(burrow_txn_begin(db, NULL, 0, &txn), 0);
    srv.txn_write = true;
    run_in(txn, 2, (const char *const[]){"doc.insert", "items", "{\"_id\": \"ghost\"}", NULL});
    assert_string_equal(
        run_in(txn, 2, (const char *const[]){"tier.promote", "items", "ghost", NULL}), ":1\r\n");
    burrow_txn_abort(txn);
    assert_int_equal(cmd_tier_batch_end(db), 0);
    EQ("$-1\r\n", "tier.key", "items", "ghost");
    EQ("$-1\r\n", "doc.get", "items", "ghost");

    /* policy */
    EQ("$6\r\nhybrid\r\n", "tier.policy");
    EQ("+OK\r\n", "tier.policy", "LFU");
    EQ("$3\r\nlfu\r\n", "tier.policy");
    assert_int_equal(srv.cfg.eviction, BURROW_TIER_LFU);
    assert_non_null(strstr(R2("tier.stats"), "$6\r\npolicy\r\n$3\r\nlfu\r\n"));
    EQ("-ERR unknown policy 'fifo': use lru, lfu or hybrid\r\n", "tier.policy", "fifo");
    EQ("-ERR syntax error\r\n", "tier.policy", "lru", "lfu");
}

static void test_tier_off(void **state)
{
    (void)state;
    burrow_close(db);
    open_db(0);
    shop();
    const char *st = R2("tier.stats");
    assert_true(strncmp(st, "*22\r\n$4\r\nhits\r\n:0\r\n", 19) == 0);
    assert_non_null(strstr(st, "$6\r\nbudget\r\n:0\r\n"));
    const char *off = "-ERR hot tier is off: start burrowd with --hot-mem\r\n";
    EQ(off, "tier.promote", "items", "vase");
    EQ(off, "tier.pin", "items", "vase");
    EQ(off, "tier.unpin", "items", "vase");
    EQ(off, "tier.demote", "items", "vase");
    EQ(off, "tier.key", "items", "vase");
    EQ(off, "tier.policy");
}

/* ---- the atomic bid ------------------------------------------------------------- */

static void test_bid_model(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed());
    EQ("+OK\r\n", "doc.create", "auctions");
    EQ("$3\r\nlot\r\n", "doc.insert", "auctions", "{\"_id\": \"lot\", \"price\": 0, \"bids\": 0}");
    long best = 0, accepted = 0;
    unsigned rounds = tu_rounds(300, 5000);
    for (unsigned i = 0; i < rounds; i++) {
        long amount = (long)tu_range(&rng, 1, 1000);
        char upd[128], cond[64];
        snprintf(upd, sizeof upd, "{\"$set\": {\"price\": %ld}, \"$inc\": {\"bids\": 1}}", amount);
        snprintf(cond, sizeof cond, "{\"price\": {\"$lt\": %ld}}", amount);
        const char *r = R2("doc.update", "auctions", "lot", upd, "IF", cond);
        if (amount > best) {
            assert_string_equal(r, ":1\r\n");
            best = amount;
            accepted++;
        } else {
            assert_string_equal(r, ":0\r\n");
        }
    }
    char want[128], body[96];
    int n = snprintf(body, sizeof body, "{\"_id\":\"lot\",\"price\":%ld,\"bids\":%ld}", best,
                     accepted);
    snprintf(want, sizeof want, "$%d\r\n%s\r\n", n, body);
    EQ(want, "doc.get", "auctions", "lot");
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_collections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_documents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aggregate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tier, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tier_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bid_model, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
