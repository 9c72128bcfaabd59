/*
 * test_cli.c — `burrow` as a user runs it: the real binary ($(BUILD)/burrow,
 * or $BURROW) started as a process with scripted input, its standard
 * output, standard error and exit status checked. Sessions through standard
 * input and through a pseudo-terminal (script(1) from bsdutils), --json,
 * .exit leaving a file that reopens with all data, import/export of 100K
 * documents with bad lines reported by number, backup/restore/check/compact
 * (check finds a planted flipped checksum), and the remote REPL against a
 * real burrowd.
 */
#include <fcntl.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "burrow.h"
#include "server/command.h"
#include "srv.h"
#include "testutil.h"

static char *tmp;

static const char *burrow_path(void)
{
    static char path[4200];
    const char *env = getenv("BURROW");
    if (env && *env) return env;
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return "build/burrow";
    self[n] = 0;
    snprintf(path, sizeof path, "%s/../burrow", dirname(self));
    return path;
}

static char *in_tmp(const char *name)
{
    return tu_path(tmp, name);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t r = fread(s, 1, (size_t)n, f);
    s[r] = 0;
    fclose(f);
    if (len) *len = r;
    return s;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

typedef struct run_result {
    int status;
    char *out, *err;
} run_result;

static void run_free(run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Run argv (argv[0] is the program) with input on stdin (NULL: /dev/null);
 * stdout and stderr captured separately. */
static run_result run(const char *input, const char *const *argv)
{
    char *in = in_tmp("stdin.txt"), *out = in_tmp("stdout.txt"), *err = in_tmp("stderr.txt");
    write_file(in, input ? input : "");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fi = open(in, O_RDONLY), fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644),
            fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fi, 0);
        dup2(fo, 1);
        dup2(fe, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    run_result r = {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), slurp(out, NULL), slurp(err, NULL)};
    free(in);
    free(out);
    free(err);
    return r;
}

/* burrow with the arguments given (NULL-terminated), input on stdin. */
static run_result burrow(const char *input, ...)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = burrow_path();
    va_list ap;
    va_start(ap, input);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 31) argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run(input, argv);
}

static void expect_text(const run_result *r, const char *want)
{
    if (strcmp(r->out, want) != 0) {
        fprintf(stderr, "stdout was:\n%s\n--- wanted:\n%s\n--- stderr:\n%s\n", r->out, want, r->err);
        fail();
    }
}

/* stdout starts with want (what follows is the closing note, with a path) */
static void expect_start(const run_result *r, const char *want)
{
    if (strncmp(r->out, want, strlen(want)) != 0) {
        fprintf(stderr, "stdout was:\n%s\n--- wanted at its start:\n%s\n--- stderr:\n%s\n", r->out, want, r->err);
        fail();
    }
}

static void expect_has(const char *text, const char *want)
{
    if (!strstr(text, want)) {
        fprintf(stderr, "missing \"%s\" in:\n%s\n", want, text);
        fail();
    }
}

/* ---- sessions through standard input ------------------------------------------------ */

static void test_stdin_session(void **state)
{
    (void)state;
    char *db = in_tmp("stdin.db");
    run_result r = burrow("set k {\"a\": [1, 2],\n"
                          "  \"b\": \"x y\"}\n"
                          "get k\n"
                          "get missing\n"
                          "set s hello\n"
                          "set n 42\n"
                          "scan\n"
                          "scan n s\n"
                          "count\n"
                          "delete s missing\n"
                          "begin\n"
                          "set t1 1\n"
                          "rollback\n"
                          "begin\n"
                          "set t2 2\n"
                          "commit\n"
                          "get t1\n"
                          "nosuch a\n"
                          ".exit\n"
                          "get k\n",
                          db, NULL);
    char want[2048];
    snprintf(want, sizeof want,
             "OK\n{\"a\":[1,2],\"b\":\"x y\"}\n(nil)\nOK\nOK\n"
             "k: {\"a\":[1,2],\"b\":\"x y\"}\nn: 42\ns: \"hello\"\n"
             "n: 42\n"
             "(integer) 3\n(integer) 1\n"
             "OK\nOK\nOK\nOK\nOK\nOK\n(nil)\n"
             "(error) ERR unknown command 'nosuch' (.help lists the commands)\n"
             "flushed 5 commits to %s and closed it\n",
             db);
    expect_text(&r, want);
    assert_int_equal(r.status, 1); /* a command failed without a terminal */
    run_free(&r);

    /* .exit left a file that reopens with all the data: the CLI ... */
    r = burrow(NULL, db, "get k", "get n", "get t2", "count", NULL);
    expect_start(&r, "{\"a\":[1,2],\"b\":\"x y\"}\n42\n2\n(integer) 3\nflushed 0 commits to ");
    run_free(&r);
    /* ... and the library, through burrowd's keyspace bucket */
    burrow_db *h;
    assert_int_equal(burrow_open(db, NULL, &h), 0);
    assert_int_equal(burrow_check_all(h, NULL, NULL), 0);
    burrow_txn *t;
    burrow_bucket b;
    uint64_t keys;
    assert_int_equal(burrow_txn_begin(h, NULL, BURROW_TXN_RDONLY, &t), 0);
    assert_int_equal(burrow_bucket_open(t, "_burrow.kv", 0, &b), 0);
    assert_int_equal(burrow_bucket_count(t, b, &keys), 0);
    assert_int_equal(keys, 3);
    burrow_txn_abort(t);
    burrow_close(h);
    free(db);
}

static void test_commands_on_the_command_line(void **state)
{
    (void)state;
    char *db = in_tmp("args.db");
    run_result r = burrow(NULL, "--json", db, "set a {\"x\": [true, null]}", "get a", "get b", "delete b",
                          "json.set j $ {\"y\": 2}", "json.get j $.y", "get j", "scan", "nosuch", NULL);
    expect_text(&r, "\"OK\"\n{\"x\":[true,null]}\nnull\n0\n\"OK\"\n[2]\n{\"y\":2}\n"
                    "[{\"key\":\"a\",\"value\":{\"x\":[true,null]}},{\"key\":\"j\",\"value\":{\"y\":2}}]\n"
                    "{\"error\":\"ERR unknown command 'nosuch' (.help lists the commands)\"}\n");
    assert_int_equal(r.status, 1);
    run_free(&r);
    r = burrow(NULL, db, "get a", NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    /* an unclosed bracket is an error, not a hang */
    r = burrow("set a {\"x\": 1\n", db, NULL);
    expect_has(r.out, "(error) the input ended inside an open bracket or quote");
    assert_int_equal(r.status, 1);
    run_free(&r);
    /* transactions and connection-only commands */
    r = burrow("commit\nmulti\nsubscribe c\nbegin\nbegin\nrollback\n", db, NULL);
    expect_start(&r, "(error) ERR no transaction is open (begin starts one)\n"
                    "(error) ERR multi is not available on a file: use begin, commit and rollback on a file\n"
                    "(error) ERR subscribe is not available on a file: publish and subscribe need a server (burrow -h HOST -p PORT)\n"
                    "OK\n(error) ERR a transaction is already open (commit or rollback)\nOK\n"
                    "flushed 0 commits to ");
    run_free(&r);
    free(db);
}

static void test_dot_commands(void **state)
{
    (void)state;
    char *db = in_tmp("dot.db");
    burrow_db *h;
    assert_int_equal(burrow_open(db, NULL, &h), 0);
    burrow_txn *t;
    assert_int_equal(burrow_txn_begin(h, NULL, 0, &t), 0);
    assert_int_equal(burrow_coll_create(t, "users", NULL), 0);
    assert_int_equal(burrow_doc_insert(t, "users", "{\"_id\":\"u1\",\"age\":30}", 21, NULL), 0);
    assert_int_equal(burrow_index_create(t, "users", "age", BURROW_INDEX_UNIQUE), 0);
    assert_int_equal(burrow_txn_commit(t), 0);
    burrow_close(h);
    run_result r = burrow(".collections\n.indexes\n.indexes nope\n.dump _burrow.kv\n.tier\n.help\n", db, NULL);
    expect_has(r.out, "users (1 documents)\n");
    expect_has(r.out, "users: age (unique)\n");
    expect_has(r.out, "(error) no collection named 'nope'\n");
    expect_has(r.out, "bucket: keys=0 height=0");
    expect_has(r.out, "(the hot tier is off");
    expect_has(r.out, ".exit                   flush, close and leave");
    run_free(&r);
    r = burrow(NULL, "--json", db, ".collections", ".indexes users", NULL);
    expect_text(&r, "[{\"collection\":\"users\",\"documents\":1}]\n"
                    "[{\"collection\":\"users\",\"index\":\"age\",\"unique\":true}]\n");
    run_free(&r);
    /* the DOC.* family, with burrowd's syntax, once burrowd has it */
    if (cmd_find("doc.insert", 10)) {
        r = burrow("doc.insert users {\"_id\": \"u2\", \"age\": 41}\ndoc.get users u2\ndoc.count users\n"
                   "doc.find users {\"age\": {\"$gt\": 35}}\ncount users\n",
                   db, NULL);
        expect_has(r.out, "\"u2\"\n{\"_id\":\"u2\",\"age\":41}\n(integer) 2\n1) {\"_id\":\"u2\",\"age\":41}\n(integer) 2\n");
        run_free(&r);
    } else {
        fprintf(stderr, "(burrowd has no DOC.* commands in this build: their REPL check is skipped)\n");
    }
    /* the remote way of .collections / .indexes goes through DOC.LIST and
     * DOC.INDEX LIST; on a file the library answers (above) */
    free(db);
}

/* ---- a pseudo-terminal ------------------------------------------------------------------ */

static void test_terminal_session(void **state)
{
    (void)state;
    char *db = in_tmp("pty.db"), *hist = in_tmp("history");
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s %s", burrow_path(), db);
    const char *argv[] = {"/usr/bin/script", "-qec", cmd, "/dev/null", NULL};
    setenv("BURROW_HISTORY", hist, 1);
    setenv("TERM", "dumb", 1);
    run_result r = run("set k {\"a\": [1,\r2]}\rget k\rget none\r.exit\r", argv);
    unsetenv("BURROW_HISTORY");
    /* a terminal: a banner, prompts, continuation, pretty JSON */
    expect_has(r.out, " - .help lists the commands, .exit leaves");
    expect_has(r.out, "...> ");
    expect_has(r.out, "{\r\n  \"a\": [\r\n    1,\r\n    2\r\n  ]\r\n}\r\n");
    expect_has(r.out, "(nil)\r\n");
    expect_has(r.out, "flushed 1 commit to ");
    assert_int_equal(r.status, 0);
    run_free(&r);
    /* the history file kept the lines (libedit encodes blanks as \040) */
    char *h = slurp(hist, NULL);
    expect_has(h, "get\\040k");
    free(h);
    r = burrow(NULL, db, "get k", NULL);
    expect_start(&r, "{\"a\":[1,2]}\nflushed 0 commits to ");
    run_free(&r);
    free(db);
    free(hist);
}

/* The progress bar: drawn on a terminal (with its rate and time left),
 * never when stderr is a file. */
static void test_progress_bar(void **state)
{
    (void)state;
    char *in = in_tmp("progress.jsonl"), *db = in_tmp("progress.db"), *bak = in_tmp("progress.bak");
    FILE *f = fopen(in, "wb");
    for (int i = 0; i < 20000; i++) fprintf(f, "{\"_id\":\"d%d\",\"n\":%d}\n", i, i);
    fclose(f);
    /* not a terminal: the summary line only, no bar */
    run_result r = burrow(NULL, "import", db, "docs", in, NULL);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.err, "burrow: imported 20000 documents into docs, 0 refused\n");
    run_free(&r);
    /* a terminal: the bar with percent, rate and time left, ending at 100% */
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s backup %s %s", burrow_path(), db, bak);
    const char *argv[] = {"/usr/bin/script", "-qec", cmd, "/dev/null", NULL};
    r = run(NULL, argv);
    assert_int_equal(r.status, 0);
    expect_has(r.out, "backup");
    expect_has(r.out, "100%");
    expect_has(r.out, "/s");
    expect_has(r.out, "left");
    run_free(&r);
    free(in);
    free(db);
    free(bak);
}

/* ---- import and export ------------------------------------------------------------------ */

#define NDOCS 100000

static void test_import_export_100k(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed());
    char *in = in_tmp("docs.jsonl"), *out = in_tmp("export.jsonl"), *db = in_tmp("docs.db");
    /* bad lines at random places, their line numbers remembered */
    bool *bad = calloc(NDOCS + 1, sizeof *bad);
    FILE *f = fopen(in, "wb");
    int nbad = 0;
    for (int line = 1; line <= NDOCS; line++) {
        if (line > 1 && tu_below(&rng, 10000) < 3) { /* line 1 decides the format */
            bad[line] = true;
            nbad++;
            fprintf(f, tu_below(&rng, 2) ? "{\"_id\": \"x%d\", oops}\n" : "[\"not an object %d\"]\n", line);
        } else {
            fprintf(f, "{\"_id\":\"d%06d\",\"n\":%d,\"s\":\"v%llu\"}\n", line, line,
                    (unsigned long long)tu_below(&rng, 1000000));
        }
    }
    fclose(f);
    run_result r = burrow(NULL, "import", db, "docs", in, NULL);
    assert_int_equal(r.status, 1); /* some lines were refused */
    /* every bad line reported with its number, and only those */
    int reported = 0;
    for (char *p = r.err; (p = strstr(p, in)); p++) {
        int line = atoi(p + strlen(in) + 1);
        assert_true(line >= 1 && line <= NDOCS);
        assert_true(bad[line]);
        reported++;
    }
    assert_int_equal(reported, nbad);
    char want[200];
    snprintf(want, sizeof want, "imported %d documents into docs, %d refused", NDOCS - nbad, nbad);
    expect_has(r.err, want);
    run_free(&r);

    r = burrow(NULL, "export", db, "docs", out, NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    /* the export is the input without its bad lines, in id order */
    char *a = slurp(in, NULL), *b = slurp(out, NULL);
    char *pa = a, *pb = b;
    for (int line = 1; line <= NDOCS; line++) {
        char *ea = strchr(pa, '\n');
        if (!bad[line]) {
            char *eb = strchr(pb, '\n');
            assert_non_null(eb);
            assert_int_equal(ea - pa, eb - pb);
            assert_memory_equal(pa, pb, (size_t)(ea - pa));
            pb = eb + 1;
        }
        pa = ea + 1;
    }
    assert_int_equal(*pb, 0);
    free(a);
    free(b);

    /* importing the export again: every _id exists, every line refused */
    r = burrow(NULL, "import", db, "docs", out, "--stop-on-error", NULL);
    assert_int_equal(r.status, 1);
    expect_has(r.err, "export.jsonl:1: ");
    expect_has(r.err, "imported 0 documents into docs, 1 refused (stopped at the first)");
    run_free(&r);
    free(bad);
    free(in);
    free(out);
    free(db);
}

static void test_import_array(void **state)
{
    (void)state;
    char *in = in_tmp("arr.json"), *db = in_tmp("arr.db");
    write_file(in, "\n[\n  {\"_id\": \"a\", \"v\": [1, {\"w\": \"],\"}]},\n"
                   "  {\"_id\": \"b\",\n   \"v\": 2},\n"
                   "  {\"_id\": \"c\" \"v\": 3},\n"
                   "  {\"_id\": \"d\"}\n]\n");
    run_result r = burrow(NULL, "import", db, "c", in, NULL);
    assert_int_equal(r.status, 1);
    char want[600];
    snprintf(want, sizeof want, "%s:6: ", in); /* the bad element starts on line 6 */
    expect_has(r.err, want);
    expect_has(r.err, "imported 3 documents into c, 1 refused");
    run_free(&r);
    r = burrow(NULL, "export", db, "c", NULL);
    expect_text(&r, "{\"_id\":\"a\",\"v\":[1,{\"w\":\"],\"}]}\n{\"_id\":\"b\",\"v\":2}\n{\"_id\":\"d\"}\n");
    run_free(&r);
    free(in);
    free(db);
}

/* ---- backup, restore, check, compact ---------------------------------------------------- */

static void fill(const char *db, int n, int del_every)
{
    burrow_db *h;
    assert_int_equal(burrow_open(db, NULL, &h), 0);
    burrow_txn *t;
    burrow_bucket b;
    assert_int_equal(burrow_txn_begin(h, NULL, 0, &t), 0);
    assert_int_equal(burrow_bucket_open(t, "data", BURROW_CREATE, &b), 0);
    char k[32], v[200];
    memset(v, 'v', sizeof v);
    for (int i = 0; i < n; i++) {
        int kl = snprintf(k, sizeof k, "key%08d", i);
        assert_int_equal(burrow_put(t, b, k, (size_t)kl, v, sizeof v, 0), 0);
    }
    assert_int_equal(burrow_txn_commit(t), 0);
    if (del_every) {
        assert_int_equal(burrow_txn_begin(h, NULL, 0, &t), 0);
        for (int i = 0; i < n; i += 1) {
            if (i % del_every == 0) continue;
            int kl = snprintf(k, sizeof k, "key%08d", i);
            assert_int_equal(burrow_del(t, b, k, (size_t)kl), 0);
        }
        assert_int_equal(burrow_txn_commit(t), 0);
    }
    burrow_close(h);
}

static uint64_t keys_in(const char *db)
{
    burrow_db *h;
    burrow_options o;
    burrow_options_init(&o);
    o.flags = BURROW_RDONLY;
    assert_int_equal(burrow_open(db, &o, &h), 0);
    burrow_txn *t;
    burrow_bucket b;
    uint64_t n = 0;
    assert_int_equal(burrow_txn_begin(h, NULL, BURROW_TXN_RDONLY, &t), 0);
    assert_int_equal(burrow_bucket_open(t, "data", 0, &b), 0);
    assert_int_equal(burrow_bucket_count(t, b, &n), 0);
    burrow_txn_abort(t);
    burrow_close(h);
    return n;
}

static off_t size_of(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return st.st_size;
}

static void test_backup_restore_check_compact(void **state)
{
    (void)state;
    char *db = in_tmp("main.db"), *bk = in_tmp("plain.bak"), *cbk = in_tmp("compact.bak"), *rs = in_tmp("restored.db");
    fill(db, 20000, 10); /* 9 of 10 keys deleted: much free space */
    run_result r = burrow(NULL, "backup", db, bk, NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    r = burrow(NULL, "backup", db, cbk, "--compact", NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    assert_true(size_of(cbk) < size_of(bk));
    assert_int_equal(keys_in(bk), 2000);
    assert_int_equal(keys_in(cbk), 2000);
    r = burrow(NULL, "check", cbk, NULL);
    assert_int_equal(r.status, 0);
    expect_has(r.err, "is clean");
    assert_string_equal(r.out, "");
    run_free(&r);

    r = burrow(NULL, "restore", cbk, rs, NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    assert_int_equal(keys_in(rs), 2000);

    off_t before = size_of(db);
    r = burrow(NULL, "compact", db, NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);
    assert_true(size_of(db) < before);
    assert_int_equal(keys_in(db), 2000);
    r = burrow(NULL, "check", db, NULL);
    assert_int_equal(r.status, 0);
    run_free(&r);

    /* a flipped bit in a tree page of the compacted backup: check says
     * which page, exit status 1; restore refuses it and leaves rs alone */
    int fd = open(cbk, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte;
    off_t at = 3 * 4096 + 1000;
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    byte ^= 0x10;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    close(fd);
    r = burrow(NULL, "check", cbk, NULL);
    assert_int_equal(r.status, 1);
    expect_has(r.out, "page 3");
    expect_has(r.err, "problem");
    run_free(&r);
    r = burrow(NULL, "restore", cbk, rs, NULL);
    assert_int_equal(r.status, 1);
    run_free(&r);
    assert_int_equal(keys_in(rs), 2000);

    /* usage errors: status 2 and the subcommand's help */
    r = burrow(NULL, "backup", db, NULL);
    assert_int_equal(r.status, 2);
    expect_has(r.err, "Usage: burrow backup FILE DEST [--compact]");
    run_free(&r);
    r = burrow(NULL, "check", "--help", NULL);
    assert_int_equal(r.status, 0);
    expect_has(r.out, "Usage: burrow check FILE");
    run_free(&r);
    r = burrow(NULL, "--help", NULL);
    expect_has(r.out, "burrow import FILE COLLECTION INPUT");
    run_free(&r);
    r = burrow(NULL, "stats", db, "--json", NULL);
    expect_has(r.out, "{\"name\":\"data\",\"keys\":2000,");
    run_free(&r);
    free(db);
    free(bk);
    free(cbk);
    free(rs);
}

/* ---- the remote REPL --------------------------------------------------------------------- */

static void test_remote_repl(void **state)
{
    (void)state;
    srv_proc p;
    memset(&p, 0, sizeof p);
    char *dir = in_tmp("srv");
    assert_int_equal(srv_start(&p, dir, NULL), 0);
    char port[16];
    snprintf(port, sizeof port, "%d", p.port);
    run_result r = burrow("set k {\"a\":\n 1}\nget k\nget zz\ncount\nscan\nbegin\nmulti\nset m 1\nexec\ndelete m\n.exit\n",
                          "-h", "127.0.0.1", "-p", port, NULL);
    char want[512];
    snprintf(want, sizeof want,
             "OK\n{\"a\":1}\n(nil)\n(integer) 1\nk: {\"a\":1}\n"
             "(error) begin/commit/rollback work on a file; on a server use MULTI ... EXEC\n"
             "OK\nQUEUED\n1) OK\n(integer) 1\ndisconnected from 127.0.0.1:%s (the server keeps the data)\n",
             port);
    expect_text(&r, want);
    assert_int_equal(r.status, 1);
    run_free(&r);
    /* the server has what the REPL set */
    redisContext *c = srv_connect(&p);
    srv_expect_str(srv_cmd(c, "GET k"), "{\"a\":\n 1}");
    redisFree(c);
    r = burrow(NULL, "--json", "-h", "127.0.0.1", "-p", port, "get k", "check", NULL);
    expect_text(&r, "{\"a\":1}\n[]\n");
    run_free(&r);
    /* the file the server wrote is the same data seen from the shell */
    assert_int_equal(srv_stop(&p), 0);
    char *file = tu_path(dir, "burrow.db");
    r = burrow(NULL, file, "get k", NULL);
    expect_has(r.out, "{\"a\":1}\n");
    run_free(&r);
    free(file);
    /* no server there */
    r = burrow(NULL, "-h", "127.0.0.1", "-p", port, "get k", NULL);
    assert_int_equal(r.status, 1);
    expect_has(r.err, "cannot connect to 127.0.0.1:");
    run_free(&r);
    free(dir);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    tmp = tu_tmpdir("test_cli");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stdin_session),
        cmocka_unit_test(test_commands_on_the_command_line),
        cmocka_unit_test(test_dot_commands),
        cmocka_unit_test(test_terminal_session),
        cmocka_unit_test(test_progress_bar),
        cmocka_unit_test(test_import_export_100k),
        cmocka_unit_test(test_import_array),
        cmocka_unit_test(test_backup_restore_check_compact),
        cmocka_unit_test(test_remote_repl),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmtree(tmp);
    free(tmp);
    return rc;
}
