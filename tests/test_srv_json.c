/*
 * test_srv_json.c — the JSON.* commands through a real burrowd, with
 * hiredis as the client: exact replies (types included) and error texts,
 * RedisJSON 2.x's documented examples. (Debian's hiredis here is 0.14,
 * which cannot read RESP3, so RESP3 is not driven from this file.)
 *
 * burrowd is started from $(BUILD)/burrowd (next to the tests directory of
 * this binary, or $BURROWD) on a free port in a scratch directory. The
 * shared harness (tests/lib/srv.h) was not on main when this was written;
 * the small launcher below does only what these tests need.
 *
 * Each table row is a command, its arguments separated by '|', and the
 * reply as render() prints it: +status, -error, :int, (nil), "bulk",
 * [a,b,...].
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "testutil.h"

static pid_t server_pid;
static int server_port;
static char *server_dir;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &n))
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

static redisContext *connect_server(void)
{
    /* burrowd needs a moment to listen: retry for up to ~20 s (a bound on
     * waiting, never a measured threshold). */
    for (int i = 0; i < 2000; i++) {
        redisContext *c = redisConnect("127.0.0.1", server_port);
        if (c && !c->err)
            return c;
        if (c)
            redisFree(c);
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int start_server(void **state)
{
    (void)state;
    char self[4096];
    const char *bin = getenv("BURROWD");
    static char path[4200];
    if (!bin) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return -1;
        self[n] = 0;
        snprintf(path, sizeof path, "%s/../burrowd", dirname(self));
        bin = path;
    }
    if (access(bin, X_OK) != 0) {
        fprintf(stderr, "test_srv_json: %s is missing: build it (make BUILD=... $(BUILD)/burrowd)\n", bin);
        return -1;
    }
    server_dir = tu_tmpdir("srvjson");
    server_port = free_port();
    if (!server_dir || server_port <= 0)
        return -1;
    char port[16];
    snprintf(port, sizeof port, "%d", server_port);
    server_pid = fork();
    if (server_pid == 0) {
        execl(bin, bin, "--port", port, "--dir", server_dir, "--threads", "1", "--durability",
              "no", (char *)NULL);
        _exit(127);
    }
    redisContext *c = connect_server();
    if (!c)
        return -1;
    redisFree(c);
    return 0;
}

static int stop_server(void **state)
{
    (void)state;
    if (server_pid > 0) {
        kill(server_pid, SIGTERM);
        waitpid(server_pid, NULL, 0);
    }
    if (server_dir) {
        tu_rmtree(server_dir);
        free(server_dir);
    }
    return 0;
}

/* ---- replies as text ------------------------------------------------------- */

static void render(const redisReply *r, char *out, size_t cap, size_t *n)
{
#define PUT(...) (*n += (size_t)snprintf(out + *n, *n < cap ? cap - *n : 0, __VA_ARGS__))
    switch (r->type) {
    case REDIS_REPLY_STATUS: PUT("+%s", r->str); break;
    case REDIS_REPLY_ERROR: PUT("-%s", r->str); break;
    case REDIS_REPLY_INTEGER: PUT(":%lld", r->integer); break;
    case REDIS_REPLY_NIL: PUT("(nil)"); break;
    case REDIS_REPLY_STRING: PUT("\"%.*s\"", (int)r->len, r->str); break;
    case REDIS_REPLY_ARRAY:
        PUT("[");
        for (size_t i = 0; i < r->elements; i++) {
            if (i)
                PUT(",");
            render(r->element[i], out, cap, n);
        }
        PUT("]");
        break;
    default: PUT("?%d", r->type); break;
    }
#undef PUT
}

/* Send "CMD|arg|arg" and return the rendered reply (static). */
static const char *run(redisContext *c, const char *line)
{
    static char out[8192];
    char *copy = strdup(line);
    const char *argv[64];
    size_t argl[64];
    int argc = 0;
    for (char *s = copy, *tok; (tok = strsep(&s, "|")) && argc < 64; argc++) {
        argv[argc] = tok;
        argl[argc] = strlen(tok);
    }
    redisReply *r = redisCommandArgv(c, argc, argv, argl);
    free(copy);
    if (!r)
        fail_msg("%s: connection error %s", line, c->errstr);
    size_t n = 0;
    render(r, out, sizeof out, &n);
    freeReplyObject(r);
    return out;
}

typedef struct row {
    const char *cmd, *want;
} row;

static void run_table(redisContext *c, const row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *got = run(c, rows[i].cmd);
        if (strcmp(got, rows[i].want) != 0)
            fail_msg("%s\n  got  %s\n  want %s", rows[i].cmd, got, rows[i].want);
    }
}

#define DOC "{\"a\":\"b\",\"b\":[{\"a\":2},{\"a\":5},{\"a\":\"c\"}]}"

static void test_set_get(void **state)
{
    (void)state;
    redisContext *c = connect_server();
    assert_non_null(c);
    static const row rows[] = {
        {"JSON.SET|s1|$|" DOC, "+OK"},
        {"JSON.GET|s1", "\"" DOC "\""},
        {"JSON.GET|s1|$", "\"[" DOC "]\""},
        {"JSON.GET|s1|$..a", "\"[\"b\",2,5,\"c\"]\""},
        {"JSON.GET|s1|.b[1].a", "\"5\""},
        {"JSON.GET|s1|b[-1]", "\"{\"a\":\"c\"}\""},
        {"JSON.GET|s1|.nope", "-ERR Path '$.nope' does not exist"},
        {"JSON.GET|s1|$.nope", "\"[]\""},
        {"JSON.GET|s1|.a|.b[0]", "\"{\".a\":\"b\",\".b[0]\":{\"a\":2}}\""},
        {"JSON.GET|s1|$.a|.b[0]", "\"{\"$.a\":[\"b\"],\".b[0]\":[{\"a\":2}]}\""},
        {"JSON.GET|s1|.a|.zz", "-ERR Path '.zz' does not exist"},
        {"JSON.GET|s1|INDENT|\t|NEWLINE|\n|SPACE| |$.b[0]", "\"[\n\t{\n\t\t\"a\": 2\n\t}\n]\""},
        {"JSON.GET|s1|indent|  |.b[0]", "\"{  \"a\":2}\""},
        {"JSON.GET|s1|INDENT", "-ERR wrong number of arguments for 'json.get' command"},
        {"JSON.GET|s1|$[?(@.a)]", "-ERR path '$[?(@.a)]': filter expressions are not supported at column 3"},
        {"JSON.GET|missing", "(nil)"},
        {"JSON.GET|missing|$", "(nil)"},
        /* SET: NX / XX, creating the last key, the root rule */
        {"JSON.SET|s1|$.c|1|NX", "+OK"},
        {"JSON.SET|s1|$.c|2|NX", "(nil)"},
        {"JSON.SET|s1|$.c|3|XX", "+OK"},
        {"JSON.SET|s1|$.d|3|XX", "(nil)"},
        {"JSON.SET|s1|$.x.y|1", "(nil)"},
        {"JSON.SET|s1|$.b[5]|1", "-ERR array index out of range"},
        {"JSON.SET|s1|$.b[0]|0", "+OK"},
        {"JSON.SET|s1|$..a|\"z\"", "+OK"},
        {"JSON.GET|s1", "\"{\"a\":\"z\",\"b\":[0,{\"a\":\"z\"},{\"a\":\"z\"}],\"c\":3}\""},
        {"JSON.SET|s1|$.b[*]|null", "+OK"},
        {"JSON.GET|s1|$.b", "\"[[null,null,null]]\""},
        {"JSON.SET|s1|$|[1]|NX", "(nil)"},
        {"JSON.SET|s2|$.a|1", "-ERR new objects must be created at the root"},
        {"JSON.SET|s2|.|1|XX", "(nil)"},
        {"JSON.SET|s2|.|{\"k\":1}|NX", "+OK"},
        {"JSON.SET|s2|k|[]", "+OK"},
        {"JSON.SET|s2|.x|{}", "+OK"},
        {"JSON.GET|s2", "\"{\"k\":[],\"x\":{}}\""},
        {"JSON.SET|s2|$|{\"a\":", "-ERR unexpected end of input at line 1 column 6"},
        {"JSON.SET|s2|$|1|NX|XX", "-ERR syntax error"},
        {"JSON.SET|s2|$|1|BOGUS", "-ERR syntax error"},
        {"JSON.SET|s2|$..x.y|1", "-ERR wrong static path"},
        {"JSON.SET|s2|$", "-ERR wrong number of arguments for 'json.set' command"},
        {"JSON.MSET|m1|$|1|m2|$|\"two\"", "+OK"},
        {"JSON.MGET|m1|m2|s2|nokey|$", "[\"[1]\",\"[\"two\"]\",\"[{\"k\":[],\"x\":{}}]\",(nil)]"},
        {"JSON.MGET|m1|m2|s2|.k", "[(nil),(nil),\"[]\"]"},
        {"JSON.MSET|m1|$|2|m3|$.a|1", "-ERR new objects must be created at the root"},
        {"JSON.GET|m1", "\"1\""},
        {"JSON.MSET|m1|$|2|m2", "-ERR wrong number of arguments for 'json.mset' command"},
    };
    run_table(c, rows, sizeof rows / sizeof *rows);
    redisFree(c);
}

static void test_reads(void **state)
{
    (void)state;
    redisContext *c = connect_server();
    assert_non_null(c);
    static const row rows[] = {
        {"JSON.SET|r|$|{\"s\":\"h\xc3\xa9\",\"n\":1,\"f\":1.5,\"t\":true,\"z\":null,\"arr\":[1,2,3,2],\"o\":{\"x\":1,\"y\":[]}}", "+OK"},
        {"JSON.TYPE|r", "\"object\""},
        {"JSON.TYPE|r|$.*", "[\"string\",\"integer\",\"number\",\"boolean\",\"null\",\"array\",\"object\"]"},
        {"JSON.TYPE|r|.nope", "(nil)"},
        {"JSON.TYPE|r|$.nope", "[]"},
        {"JSON.TYPE|missing", "(nil)"},
        {"JSON.STRLEN|r|.s", ":3"},
        {"JSON.STRLEN|r|$.*", "[:3,(nil),(nil),(nil),(nil),(nil),(nil)]"},
        {"JSON.STRLEN|r|.n", "-WRONGTYPE wrong type of path value - expected string but found integer"},
        {"JSON.STRLEN|r|.q", "-ERR Path '$.q' does not exist"},
        {"JSON.STRLEN|missing|$", "-ERR could not perform this operation on a key that doesn't exist"},
        {"JSON.STRLEN|missing", "(nil)"},
        {"JSON.ARRLEN|r|.arr", ":4"},
        {"JSON.ARRLEN|r|$..*", "[(nil),(nil),(nil),(nil),(nil),:4,(nil),(nil),(nil),(nil),(nil),(nil),:0]"},
        {"JSON.ARRLEN|r|.s", "-ERR Path '.s' does not exist or not an array"},
        {"JSON.ARRLEN|r|.q", "-ERR Path '.q' does not exist"},
        {"JSON.OBJLEN|r|.o", ":2"},
        {"JSON.OBJLEN|r|$.o", "[:2]"},
        {"JSON.OBJLEN|r|.nope", "(nil)"},
        {"JSON.OBJLEN|r|.n", "-WRONGTYPE wrong type of path value - expected object but found integer"},
        {"JSON.OBJLEN|missing|$", "-ERR Path '$' does not exist or not an object"},
        {"JSON.OBJKEYS|r|.o", "[\"x\",\"y\"]"},
        {"JSON.OBJKEYS|r|$..o", "[[\"x\",\"y\"]]"},
        {"JSON.OBJKEYS|r|$.n", "[(nil)]"},
        {"JSON.OBJKEYS|r|.n", "-ERR Path '$.n' does not exist or not an object"},
        {"JSON.OBJKEYS|missing", "(nil)"},
        {"JSON.ARRINDEX|r|.arr|2", ":1"},
        {"JSON.ARRINDEX|r|$.arr|2|2", "[:3]"},
        {"JSON.ARRINDEX|r|$.arr|2|0|-1", "[:1]"},
        {"JSON.ARRINDEX|r|$.arr|2.0", "[:-1]"},
        {"JSON.ARRINDEX|r|$.*|1", "[(nil),(nil),(nil),(nil),(nil),:0,(nil)]"},
        {"JSON.ARRINDEX|r|.n|1", "-WRONGTYPE wrong type of path value - expected array but found integer"},
        {"JSON.ARRINDEX|r|.arr|x", "-ERR unexpected character 'x' at line 1 column 1"},
        {"JSON.ARRINDEX|r|.arr|1|a", "-ERR value is not an integer or out of range"},
        {"JSON.ARRINDEX|r|.arr|1|0|0|0", "-ERR wrong number of arguments for 'json.arrindex' command"},
        {"JSON.ARRINDEX|missing|$|1", "-ERR Path '$' does not exist"},
        {"JSON.RESP|r|.o", "[+{,\"x\",:1,\"y\",[+[]]"},
        {"JSON.RESP|r|$.t", "[+true]"},
        {"JSON.RESP|r|.arr", "[+[,:1,:2,:3,:2]"},
        {"JSON.RESP|r|.f", "\"1.5\""},
    };
    run_table(c, rows, sizeof rows / sizeof *rows);
    redisFree(c);
}

static void test_changes(void **state)
{
    (void)state;
    redisContext *c = connect_server();
    assert_non_null(c);
    static const row rows[] = {
        /* RedisJSON's JSON.NUMINCRBY example */
        {"JSON.SET|w|.|" DOC, "+OK"},
        {"JSON.NUMINCRBY|w|$.a|2", "\"[null]\""},
        {"JSON.NUMINCRBY|w|$..a|2", "\"[null,4,7,null]\""},
        {"JSON.NUMINCRBY|w|.b[0].a|1.5", "\"5.5\""},
        {"JSON.NUMMULTBY|w|$.b[1].a|3", "\"[21]\""},
        {"JSON.NUMINCRBY|w|.a|1", "-ERR Path '$.a' does not exist or does not contains a number"},
        {"JSON.NUMINCRBY|w|$.b[1].a|x", "-ERR unexpected character 'x' at line 1 column 1"},
        {"JSON.NUMINCRBY|w|$.b[1].a|\"1\"", "-ERR bad input number"},
        {"JSON.NUMINCRBY|w|$.a|x", "\"[null]\""},
        {"JSON.NUMMULTBY|w|$.b[1].a|1e308", "-ERR result is not a number"},
        {"JSON.NUMINCRBY|missing|$|1", "-ERR could not perform this operation on a key that doesn't exist"},
        {"JSON.SET|w|$.big|9223372036854775807", "+OK"},
        {"JSON.NUMINCRBY|w|$.big|1", "\"[9.223372036854776e+18]\""},
        /* strings */
        {"JSON.STRAPPEND|w|.a|\"ar\"", ":3"},
        {"JSON.STRAPPEND|w|$..a|\"!\"", "[:4,(nil),(nil),:2]"},
        {"JSON.STRAPPEND|w|$.b|1", "[(nil)]"},
        {"JSON.STRAPPEND|w|.a|1", "-WRONGTYPE wrong type of path value - expected string but found 1"},
        {"JSON.STRAPPEND|w|.b|\"x\"", "-ERR Path '$.b' does not exist or not a string"},
        /* arrays */
        {"JSON.SET|w|$.arr|[]", "+OK"},
        {"JSON.ARRAPPEND|w|$.arr|1|\"two\"|{\"three\":3}", "[:3]"},
        {"JSON.ARRAPPEND|w|.arr|4", ":4"},
        {"JSON.ARRAPPEND|w|$.*|0", "[(nil),:4,(nil),:5]"},
        {"JSON.ARRAPPEND|w|.a|0", "-ERR Path '.a' does not exist or not an array"},
        {"JSON.ARRAPPEND|w|.arr|nope", "-ERR unexpected character 'o' at line 1 column 2"},
        {"JSON.ARRINSERT|w|$.arr|0|-1", "[:6]"},
        {"JSON.ARRINSERT|w|.arr|-1|9", ":7"},
        {"JSON.ARRINSERT|w|.arr|99|9", "-ERR index out of bounds"},
        {"JSON.ARRINSERT|w|.arr|x|9", "-ERR value is not an integer or out of range"},
        {"JSON.GET|w|.arr", "\"[-1,1,\"two\",{\"three\":3},4,9,0]\""},
        {"JSON.ARRPOP|w|.arr", "\"0\""},
        {"JSON.ARRPOP|w|$.arr|2", "[\"\"two\"\"]"},
        {"JSON.ARRPOP|w|.arr|99", "\"9\""},
        {"JSON.ARRPOP|w|$.*", "[(nil),\"0\",(nil),\"4\"]"},
        {"JSON.ARRTRIM|w|.arr|1|1", ":1"},
        {"JSON.GET|w|.arr", "\"[1]\""},
        {"JSON.ARRTRIM|w|$.arr|5|9", "[:0]"},
        {"JSON.ARRPOP|w|.arr", "(nil)"},
        {"JSON.ARRPOP|w|$.arr", "[(nil)]"},
        {"JSON.ARRPOP|w|.a", "-ERR Path '$.a' does not exist or not an array"},
        /* booleans, clear, delete */
        {"JSON.SET|w|$.t|true", "+OK"},
        {"JSON.TOGGLE|w|.t", "\"false\""},
        {"JSON.TOGGLE|w|$.t", "[:1]"},
        {"JSON.TOGGLE|w|$.a", "[(nil)]"},
        {"JSON.TOGGLE|w|.a", "-ERR Path '$.a' does not exist or not a bool"},
        {"JSON.SET|w|$|{\"a\":[1],\"b\":{\"x\":1},\"c\":5,\"d\":\"s\",\"e\":0}", "+OK"},
        {"JSON.CLEAR|w|$.*", ":3"},
        {"JSON.GET|w", "\"{\"a\":[],\"b\":{},\"c\":0,\"d\":\"s\",\"e\":0}\""},
        {"JSON.CLEAR|w", ":1"},
        {"JSON.GET|w", "\"{}\""},
        {"JSON.CLEAR|missing", "-ERR could not perform this operation on a key that doesn't exist"},
        {"JSON.SET|w|$|{\"a\":1,\"b\":{\"a\":2,\"c\":{\"a\":3}}}", "+OK"},
        {"JSON.DEL|w|$..a", ":3"},
        {"JSON.GET|w", "\"{\"b\":{\"c\":{}}}\""},
        {"JSON.FORGET|w|.b.c", ":1"},
        {"JSON.DEL|w|.nope", ":0"},
        {"JSON.DEL|w", ":1"},
        {"JSON.GET|w", "(nil)"},
        {"JSON.DEL|w", ":0"},
    };
    run_table(c, rows, sizeof rows / sizeof *rows);
    redisFree(c);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_reads),
        cmocka_unit_test(test_changes),
    };
    return cmocka_run_group_tests(tests, start_server, stop_server);
}
