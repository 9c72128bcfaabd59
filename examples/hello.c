/*
 * hello.c — the first embedded example: open a database, write in a
 * transaction, read it back in a snapshot, scan a range with a cursor.
 * Run it twice: the counter survives because the file does.
 *
 *   cc hello.c $(pkg-config --cflags --libs burrow) -o hello && ./hello demo.burrow
 */
#include <burrow.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int rc)
{
    fprintf(stderr, "%s: %s (%s)\n", what, burrow_strerror(rc), burrow_errmsg());
    return 1;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "hello.burrow";
    burrow_db *db;
    int rc = burrow_open(path, NULL, &db); /* defaults: 4 KiB pages, full sync */
    if (rc) return fail("open", rc);

    /* One write transaction: bump a counter and store a few fruit. */
    burrow_txn *txn;
    burrow_bucket fruit;
    if ((rc = burrow_txn_begin(db, NULL, 0, &txn))) return fail("begin", rc);
    if ((rc = burrow_bucket_open(txn, "fruit", BURROW_CREATE, &fruit))) return fail("bucket", rc);
    unsigned long runs = 0;
    burrow_val v;
    if (burrow_get(txn, fruit, "runs", 4, &v) == 0 && v.size < 32) {
        char buf[32];
        memcpy(buf, v.data, v.size);
        buf[v.size] = '\0';
        runs = strtoul(buf, NULL, 10);
    }
    char num[32];
    int n = snprintf(num, sizeof num, "%lu", runs + 1);
    if ((rc = burrow_put(txn, fruit, "runs", 4, num, (size_t)n, 0))) return fail("put", rc);
    const char *names[] = {"apple", "apricot", "banana", "blueberry", "cherry"};
    for (int i = 0; i < 5; i++)
        if ((rc = burrow_put(txn, fruit, names[i], strlen(names[i]), "ripe", 4, 0))) return fail("put", rc);
    if ((rc = burrow_txn_commit(txn))) return fail("commit", rc); /* durable when this returns */

    /* A read snapshot: a prefix scan of everything starting with "b". */
    if ((rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &txn))) return fail("begin", rc);
    burrow_cursor *cur;
    burrow_val k;
    if ((rc = burrow_cursor_open(txn, fruit, &cur))) return fail("cursor", rc);
    printf("this database has been opened %lu time(s)\n", runs + 1);
    printf("fruit starting with 'b':\n");
    for (rc = burrow_cursor_seek(cur, "b", 1, BURROW_SEEK_GE, &k, &v);
         rc == 0 && k.size >= 1 && ((const char *)k.data)[0] == 'b';
         rc = burrow_cursor_next(cur, &k, &v))
        printf("  %.*s = %.*s\n", (int)k.size, (const char *)k.data, (int)v.size, (const char *)v.data);
    burrow_cursor_close(cur);
    burrow_txn_abort(txn);

    burrow_db_stats st;
    if ((rc = burrow_db_stat(db, &st))) return fail("stat", rc);
    printf("file: %llu bytes, %llu pages of %u bytes, last txn %llu\n", (unsigned long long)st.file_size,
           (unsigned long long)st.page_count, st.page_size, (unsigned long long)st.last_txn);
    if ((rc = burrow_check(db))) return fail("check", rc);
    printf("integrity check: ok\n");
    return burrow_close(db) ? 1 : 0;
}
