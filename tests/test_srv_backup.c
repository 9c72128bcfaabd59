/*
 * test_srv_backup.c — burrowd's BACKUP, CHECK and COMPACT through hiredis
 * against the real server: a backup taken while another client commits
 * without pause opens, passes the full check and holds a consistent
 * prefix of the writes; BACKUP STATUS and INFO persistence report it;
 * CHECK replies an empty array on a sound file; COMPACT shrinks the file
 * after deletes and keeps every key and JSON document, also when it shares
 * a pipeline with other commands, and the server keeps working (writes,
 * SCAN, restart) on the compacted file.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "burrow.h"
#include "srv.h"
#include "testutil.h"

static char *tmp;
static int dirs;

static void start(srv_proc *p)
{
    char d[600];
    snprintf(d, sizeof d, "%s/s%d", tmp, dirs++);
    memset(p, 0, sizeof *p);
    assert_int_equal(srv_start(p, d, NULL), 0);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The value of field name in BACKUP STATUS's flat RESP2 array. */
static const redisReply *status_field(const redisReply *r, const char *name)
{
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (strcmp(r->element[i]->str, name) == 0) return r->element[i + 1];
    fprintf(stderr, "BACKUP STATUS has no %s\n", name);
    fail();
    return NULL;
}

/* Poll BACKUP STATUS until the backup is no longer running; its state. */
static char *wait_backup(redisContext *c)
{
    for (;;) {
        redisReply *r = srv_cmd(c, "BACKUP STATUS");
        const redisReply *st = status_field(r, "state");
        if (strcmp(st->str, "running") != 0) {
            char *s = strdup(st->str);
            if (strcmp(s, "ok") != 0) fprintf(stderr, "backup: %s\n", status_field(r, "error")->str);
            freeReplyObject(r);
            return s;
        }
        freeReplyObject(r);
        sleep_ms(5);
    }
}

typedef struct writer {
    const srv_proc *p;
    atomic_bool stop;
    long long written; /* keys w0 .. w(written-1) were acknowledged */
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    redisContext *c = srv_connect(w->p);
    for (long long i = 0; !atomic_load(&w->stop); i++) {
        redisReply *r = redisCommand(c, "SET w%lld %lld", i, i);
        if (!r || r->type != REDIS_REPLY_STATUS) break;
        freeReplyObject(r);
        w->written = i + 1;
    }
    redisFree(c);
    return NULL;
}

static uint64_t kv_keys(burrow_db *h, burrow_txn *t)
{
    (void)h;
    burrow_bucket b;
    uint64_t n = 0;
    assert_int_equal(burrow_bucket_open(t, "_burrow.kv", 0, &b), 0);
    assert_int_equal(burrow_bucket_count(t, b, &n), 0);
    return n;
}

static void test_backup_while_writing(void **state)
{
    (void)state;
    srv_proc p;
    start(&p);
    redisContext *c = srv_connect(&p);
    /* enough data that the copy takes a while */
    char val[1000];
    memset(val, 'x', sizeof val - 1);
    val[sizeof val - 1] = 0;
    for (int i = 0; i < 3000; i++) {
        redisAppendCommand(c, "SET big%d %s", i, val);
    }
    for (int i = 0; i < 3000; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    writer w = {.p = &p};
    atomic_init(&w.stop, false);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
    while (w.written < 100) sleep_ms(1);

    srv_expect_status(srv_cmd(c, "BACKUP b1.db"), "Backup started");
    /* a second one while the first runs is refused, or the first already
     * finished and this one starts: both are right, neither may crash */
    redisReply *r2 = srv_cmd(c, "BACKUP b2.db COMPACT");
    assert_true(r2->type == REDIS_REPLY_ERROR ? strstr(r2->str, "already running") != NULL
                                              : strcmp(r2->str, "Backup started") == 0);
    freeReplyObject(r2);
    char *st = wait_backup(c);
    assert_string_equal(st, "ok");
    free(st);
    srv_expect_status(srv_cmd(c, "BACKUP b3.db COMPACT"), "Backup started");
    st = wait_backup(c);
    assert_string_equal(st, "ok");
    free(st);
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);

    redisReply *r = srv_cmd(c, "BACKUP STATUS");
    assert_int_equal(status_field(r, "compact")->integer, 1);
    assert_true(status_field(r, "bytes_done")->integer == status_field(r, "bytes_total")->integer);
    assert_true(status_field(r, "bytes_total")->integer > 3000 * 1000);
    freeReplyObject(r);
    r = srv_cmd(c, "INFO persistence");
    assert_non_null(strstr(r->str, "backup_last_status:ok"));
    assert_non_null(strstr(r->str, "backup_in_progress:0"));
    freeReplyObject(r);

    /* each backup opens, passes the full check, and holds the 3000 big
     * keys and a prefix w0..w(n-1) of the writer's keys (a snapshot) */
    const char *names[] = {"b1.db", "b3.db"};
    for (int k = 0; k < 2; k++) {
        char path[700];
        snprintf(path, sizeof path, "%s/%s", p.dir, names[k]);
        burrow_db *h;
        burrow_options o;
        burrow_options_init(&o);
        o.flags = BURROW_RDONLY | BURROW_NOCREATE;
        assert_int_equal(burrow_open(path, &o, &h), 0);
        assert_int_equal(burrow_check_all(h, NULL, NULL), 0);
        burrow_txn *t;
        assert_int_equal(burrow_txn_begin(h, NULL, BURROW_TXN_RDONLY, &t), 0);
        uint64_t n = kv_keys(h, t);
        assert_true(n >= 3000 + 100);
        burrow_txn_abort(t);
        burrow_close(h);
        /* a prefix: the server's keyspace in the backup, read through the
         * CLI-independent route of a fresh burrowd on a copy is heavy; the
         * count already says it: keys w0..w(n-3001) exist, later ones not */
        srv_proc q;
        char d2[700];
        snprintf(d2, sizeof d2, "%s/restore%d", tmp, k);
        char cmd[2200];
        snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s/burrow.db", d2, path, d2);
        assert_int_equal(system(cmd), 0);
        memset(&q, 0, sizeof q);
        assert_int_equal(srv_start(&q, d2, NULL), 0);
        redisContext *qc = srv_connect(&q);
        long long last = (long long)n - 3000 - 1;
        redisReply *g = srv_cmd(qc, "GET w%lld", last);
        assert_int_equal(g->type, REDIS_REPLY_STRING);
        freeReplyObject(g);
        srv_expect_nil(srv_cmd(qc, "GET w%lld", last + 1));
        srv_expect_str(srv_cmd(qc, "GET w0"), "0");
        redisFree(qc);
        assert_int_equal(srv_stop(&q), 0);
    }

    /* errors */
    srv_expect_error(srv_cmd(c, "BACKUP"), "ERR wrong number of arguments");
    srv_expect_error(srv_cmd(c, "BACKUP x.db FAST"), "ERR syntax error");
    srv_expect_int(srv_cmd(c, "BACKUP CANCEL"), 0); /* nothing running */
    srv_expect_status(srv_cmd(c, "BACKUP /nonexistent-dir/x.db"), "Backup started");
    st = wait_backup(c);
    assert_string_equal(st, "failed");
    free(st);
    r = srv_cmd(c, "INFO persistence");
    assert_non_null(strstr(r->str, "backup_last_status:failed"));
    freeReplyObject(r);
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
}

static void test_check_and_compact(void **state)
{
    (void)state;
    srv_proc p;
    start(&p);
    redisContext *c = srv_connect(&p);
    char val[600];
    memset(val, 'y', sizeof val - 1);
    val[sizeof val - 1] = 0;
    for (int i = 0; i < 4000; i++) redisAppendCommand(c, "SET k%d %s", i, val);
    for (int i = 0; i < 4000; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    for (int i = 0; i < 50; i++)
        srv_expect_status(srv_cmd(c, "JSON.SET doc%d $ {\"n\":%d,\"tags\":[\"a\",\"b\"]}", i, i), "OK");
    /* and a collection with an index */
    srv_expect_status(srv_cmd(c, "DOC.CREATE people"), "OK");
    for (int i = 0; i < 300; i++) {
        redisReply *ins = srv_cmd(c, "DOC.INSERT people {\"_id\":\"p%d\",\"age\":%d}", i, i % 90);
        assert_int_equal(ins->type, REDIS_REPLY_STRING);
        freeReplyObject(ins);
    }
    freeReplyObject(srv_cmd(c, "DOC.INDEX CREATE people age"));
    for (int i = 0; i < 300; i += 2) srv_expect_int(srv_cmd(c, "DOC.DELETE people p%d", i), 1);
    /* delete 9 keys of 10 */
    for (int i = 0; i < 4000; i++)
        if (i % 10) redisAppendCommand(c, "DEL k%d", i);
    for (int i = 0; i < 4000; i++) {
        if (i % 10 == 0) continue;
        redisReply *r;
        assert_int_equal(redisGetReply(c, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
    redisReply *r = srv_cmd(c, "CHECK");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);

    char path[700];
    snprintf(path, sizeof path, "%s/burrow.db", p.dir);
    struct stat_like {
        long long size;
    } before, after;
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    before.size = ftell(f);
    fclose(f);

    /* COMPACT in a pipeline, between a write and a read of the same batch */
    redisAppendCommand(c, "SET before 1");
    redisAppendCommand(c, "COMPACT");
    redisAppendCommand(c, "GET before");
    redisAppendCommand(c, "SET after 2");
    redisGetReply(c, (void **)&r);
    srv_expect_status(r, "OK");
    redisGetReply(c, (void **)&r);
    srv_expect_status(r, "OK");
    redisGetReply(c, (void **)&r);
    srv_expect_str(r, "1");
    redisGetReply(c, (void **)&r);
    srv_expect_status(r, "OK");

    f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    after.size = ftell(f);
    fclose(f);
    assert_true(after.size < before.size / 2);
    r = srv_cmd(c, "INFO persistence");
    assert_non_null(strstr(r->str, "compacts:1"));
    freeReplyObject(r);

    /* every key and document kept; the server goes on working */
    for (int i = 0; i < 4000; i += 10) {
        r = srv_cmd(c, "GET k%d", i);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_int_equal(r->len, sizeof val - 1);
        freeReplyObject(r);
    }
    srv_expect_nil(srv_cmd(c, "GET k1"));
    for (int i = 0; i < 50; i++) {
        char want[100];
        snprintf(want, sizeof want, "{\"n\":%d,\"tags\":[\"a\",\"b\"]}", i);
        srv_expect_str(srv_cmd(c, "JSON.GET doc%d", i), want);
    }
    srv_expect_int(srv_cmd(c, "DBSIZE"), 400 + 50 + 2);
    srv_expect_int(srv_cmd(c, "DOC.COUNT people"), 150);
    srv_expect_int(srv_cmd(c, "DOC.COUNT people %s", "{\"age\": 1}"), 4); /* p1 p91 p181 p271, through the index */
    srv_expect_str(srv_cmd(c, "DOC.GET people p7"), "{\"_id\":\"p7\",\"age\":7}");
    srv_expect_nil(srv_cmd(c, "DOC.GET people p8"));
    r = srv_cmd(c, "SCAN 0 COUNT 1000");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->element[1]->elements, 452);
    freeReplyObject(r);
    r = srv_cmd(c, "CHECK");
    assert_int_equal(r->elements, 0);
    freeReplyObject(r);
    srv_expect_status(srv_cmd(c, "SET later 3"), "OK");
    /* COMPACT inside MULTI: its reply sits in EXEC's array */
    srv_expect_status(srv_cmd(c, "MULTI"), "OK");
    srv_expect_status(srv_cmd(c, "COMPACT"), "QUEUED");
    srv_expect_status(srv_cmd(c, "INCR later"), "QUEUED");
    r = srv_cmd(c, "EXEC");
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 2);
    assert_string_equal(r->element[0]->str, "OK");
    assert_int_equal(r->element[1]->integer, 4);
    freeReplyObject(r);
    redisFree(c);

    /* and after a restart */
    assert_int_equal(srv_stop(&p), 0);
    assert_int_equal(srv_start(&p, p.dir, NULL), 0);
    c = srv_connect(&p);
    srv_expect_int(srv_cmd(c, "DBSIZE"), 453);
    srv_expect_str(srv_cmd(c, "GET later"), "4");
    srv_expect_str(srv_cmd(c, "JSON.GET doc7"), "{\"n\":7,\"tags\":[\"a\",\"b\"]}");
    srv_expect_int(srv_cmd(c, "DOC.COUNT people"), 150);
    redisFree(c);
    assert_int_equal(srv_stop(&p), 0);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    tmp = tu_tmpdir("test_srv_backup");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_while_writing),
        cmocka_unit_test(test_check_and_compact),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    tu_rmtree(tmp);
    free(tmp);
    return rc;
}
