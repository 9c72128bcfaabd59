/*
 * tools.c — the subcommands on a database file that are one library call
 * each: backup, restore, check, compact, stats. Each opens the file itself
 * (a file a running burrowd holds is locked: the message says to use the
 * server's BACKUP / CHECK / COMPACT instead), shows a progress bar on a
 * terminal, and exits 0 on success, 1 on failure (check: problems found),
 * 2 on a usage error.
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void tool_error(const char *what, int rc)
{
    const char *d = burrow_errmsg();
    fprintf(stderr, "burrow: %s: %s\n", what, d && *d ? d : burrow_strerror(rc));
}

burrow_db *tool_open(const char *path, unsigned flags)
{
    burrow_options opt;
    burrow_options_init(&opt);
    opt.flags = flags;
    burrow_db *db;
    int rc = burrow_open(path, &opt, &db);
    if (rc == 0) return db;
    tool_error(path, rc);
    if (rc == BURROW_ELOCKED)
        fprintf(stderr, "burrow: %s is open for writing by another process (a burrowd?): run BACKUP, CHECK or "
                        "COMPACT on the server, or burrow -h HOST -p PORT\n", path);
    return NULL;
}

static int usage(const char *name)
{
    fprintf(stderr, "%s", tool_help(name));
    return 2;
}

int tool_backup(int argc, char **argv)
{
    const char *pos[2] = {NULL, NULL};
    int npos = 0;
    bool compact = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--compact") == 0) compact = true;
        else if (argv[i][0] == '-' && argv[i][1]) return usage("backup");
        else if (npos < 2) pos[npos++] = argv[i];
        else return usage("backup");
    }
    if (npos != 2) return usage("backup");
    burrow_db *db = tool_open(pos[0], BURROW_RDONLY | BURROW_NOCREATE);
    if (!db) return 1;
    progress p;
    progress_init(&p, "backup", "B");
    burrow_backup_options bo = {.flags = compact ? BURROW_BACKUP_COMPACT : 0, .progress = progress_update,
                                .progress_ctx = &p};
    int rc = burrow_backup(db, pos[1], &bo);
    progress_done(&p);
    if (rc) tool_error("backup failed", rc);
    burrow_close(db);
    if (!rc) fprintf(stderr, "burrow: backed up %s to %s%s\n", pos[0], pos[1], compact ? " (compacted)" : "");
    return rc ? 1 : 0;
}

int tool_restore(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] == '-' || argv[2][0] == '-') return usage("restore");
    progress p;
    progress_init(&p, "restore", "B");
    int rc = burrow_restore(argv[1], argv[2], NULL, progress_update, &p);
    progress_done(&p);
    if (rc) {
        tool_error("restore failed, the file is untouched", rc);
        if (rc == BURROW_ELOCKED) fprintf(stderr, "burrow: stop the process that has %s open first\n", argv[2]);
        return 1;
    }
    fprintf(stderr, "burrow: restored %s from %s\n", argv[2], argv[1]);
    return 0;
}

static void print_problem(void *ctx, uint64_t pgno, const char *problem)
{
    (void)pgno; /* the sentence starts with the page */
    (void)ctx;
    printf("%s\n", problem);
}

int tool_check(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') return usage("check");
    burrow_db *db = tool_open(argv[1], BURROW_RDONLY | BURROW_NOCREATE);
    if (!db) return 1; /* a file that does not even open is not clean */
    progress p;
    progress_init(&p, "check", "pages");
    burrow_check_options co = {.report = print_problem, .progress = progress_update, .ctx = &p};
    burrow_check_stats st = {0};
    fflush(stdout);
    int n = burrow_check_all(db, &co, &st);
    progress_done(&p);
    fflush(stdout);
    burrow_close(db);
    if (n < 0) {
        tool_error("check could not run", n);
        return 1;
    }
    if (n == 0) {
        fprintf(stderr,
                "burrow: %s is clean: %llu pages (%llu tree, %llu overflow, %llu freelist, %llu free, %llu pending), "
                "%llu buckets, %llu keys\n",
                argv[1], (unsigned long long)st.pages, (unsigned long long)st.tree_pages,
                (unsigned long long)st.overflow_pages, (unsigned long long)st.freelist_pages,
                (unsigned long long)st.free_pages, (unsigned long long)st.pending_pages, (unsigned long long)st.buckets,
                (unsigned long long)st.keys);
        return 0;
    }
    fprintf(stderr, "burrow: %s: %d problem%s found\n", argv[1], n, n == 1 ? "" : "s");
    return 1;
}

int tool_compact(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') return usage("compact");
    burrow_db *db = tool_open(argv[1], BURROW_RDONLY | BURROW_NOCREATE);
    if (!db) return 1;
    burrow_db_stats before = {0};
    burrow_db_stat(db, &before);
    burrow_close(db);
    progress p;
    progress_init(&p, "compact", "B");
    int rc = burrow_compact(argv[1], NULL, progress_update, &p);
    progress_done(&p);
    if (rc) {
        tool_error("compact failed, the file is unchanged", rc);
        return 1;
    }
    burrow_db_stats after = {0};
    if ((db = tool_open(argv[1], BURROW_RDONLY | BURROW_NOCREATE))) {
        burrow_db_stat(db, &after);
        burrow_close(db);
    }
    fprintf(stderr, "burrow: compacted %s: %llu -> %llu bytes\n", argv[1], (unsigned long long)before.file_size,
            (unsigned long long)after.file_size);
    return 0;
}

typedef struct stat_walk {
    burrow_txn *txn;
    bool json;
    int n;
} stat_walk;

static int stat_bucket(void *ctx, const char *name)
{
    stat_walk *w = ctx;
    burrow_bucket b;
    burrow_bucket_stats bs = {0};
    if (burrow_bucket_open(w->txn, name, 0, &b) || burrow_bucket_stat(w->txn, b, &bs)) return 0;
    if (w->json) {
        printf("%s{\"name\":", w->n ? "," : "");
        out_json_string(stdout, name, strlen(name));
        printf(",\"keys\":%llu,\"height\":%u,\"branch_pages\":%llu,\"leaf_pages\":%llu,\"overflow_pages\":%llu}",
               (unsigned long long)bs.keys, bs.height, (unsigned long long)bs.branch_pages,
               (unsigned long long)bs.leaf_pages, (unsigned long long)bs.overflow_pages);
    } else {
        printf("  %-30s %10llu keys, height %u, %llu pages\n", name, (unsigned long long)bs.keys, bs.height,
               (unsigned long long)(bs.branch_pages + bs.leaf_pages + bs.overflow_pages));
    }
    w->n++;
    return 0;
}

static int stat_coll(void *ctx, const char *name)
{
    stat_walk *w = ctx;
    uint64_t n = 0;
    burrow_doc_count(w->txn, name, NULL, &n);
    if (w->json) {
        printf("%s{\"name\":", w->n ? "," : "");
        out_json_string(stdout, name, strlen(name));
        printf(",\"documents\":%llu}", (unsigned long long)n);
    } else {
        printf("  %-30s %10llu documents\n", name, (unsigned long long)n);
    }
    w->n++;
    return 0;
}

int tool_stats(int argc, char **argv, bool json)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = true;
        else if (argv[i][0] == '-' || path) return usage("stats");
        else path = argv[i];
    }
    if (!path) return usage("stats");
    burrow_db *db = tool_open(path, BURROW_RDONLY | BURROW_NOCREATE);
    if (!db) return 1;
    burrow_db_stats st = {0};
    burrow_txn *txn = NULL;
    int rc = burrow_db_stat(db, &st);
    if (!rc) rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &txn);
    if (rc) {
        tool_error(path, rc);
        burrow_close(db);
        return 1;
    }
    if (json) {
        printf("{\"file\":");
        out_json_string(stdout, path, strlen(path));
        printf(",\"file_size\":%llu,\"page_size\":%u,\"pages\":%llu,\"free_pages\":%llu,\"pending_pages\":%llu,"
               "\"freelist_pages\":%llu,\"last_txn\":%llu,\"buckets\":[",
               (unsigned long long)st.file_size, st.page_size, (unsigned long long)st.page_count,
               (unsigned long long)st.free_pages, (unsigned long long)st.pending_pages,
               (unsigned long long)st.freelist_pages, (unsigned long long)st.last_txn);
    } else {
        printf("file:          %s\nfile size:     %llu bytes\npage size:     %u\npages:         %llu (%llu free, "
               "%llu pending, %llu freelist)\nlast txn:      %llu\nbuckets:\n",
               path, (unsigned long long)st.file_size, st.page_size, (unsigned long long)st.page_count,
               (unsigned long long)st.free_pages, (unsigned long long)st.pending_pages,
               (unsigned long long)st.freelist_pages, (unsigned long long)st.last_txn);
    }
    stat_walk w = {txn, json, 0};
    burrow_bucket_list(txn, stat_bucket, &w);
    if (json) printf("],\"collections\":[");
    else printf("collections:\n");
    w.n = 0;
    burrow_coll_list(txn, stat_coll, &w);
    if (json) printf("]}\n");
    else if (!w.n) printf("  (none)\n");
    burrow_txn_abort(txn);
    burrow_close(db);
    return 0;
}
