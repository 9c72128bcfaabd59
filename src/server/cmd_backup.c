/*
 * cmd_backup.c — burrowd's administration of the database file: BACKUP (a
 * hot copy made by a background thread), CHECK (the full integrity check)
 * and COMPACT (rewrite the file without its free pages, in place).
 *
 *   BACKUP path [COMPACT]  start a backup of the last commit to path (a
 *                          relative path is taken from the data directory);
 *                          replies "Backup started" at once
 *   BACKUP STATUS          the running or last backup: state, path, bytes
 *                          done and total, times, the error if it failed
 *   BACKUP CANCEL          ask a running backup to stop (it leaves no file)
 *   CHECK                  array of problem sentences, empty when clean
 *   COMPACT                +OK once the file has been compacted
 *
 * BACKUP never makes the data thread wait: a thread of its own calls
 * burrow_backup, which pins the last commit in a read txn of that thread,
 * so writers go on and the copy is that one snapshot. The thread publishes
 * its progress through atomics and its result under a mutex; the data
 * thread joins it lazily (the next BACKUP, BACKUP STATUS, INFO, COMPACT or
 * the server's end).
 *
 * Backup job states (backup_state.phase):
 *   IDLE --BACKUP--> RUNNING --thread ends--> DONE (ok or failed)
 *   DONE --BACKUP--> RUNNING ...
 * RUNNING -> DONE is the thread's own last step (phase is atomic); the
 * join happens on the data thread when it sees DONE with a live thread.
 *
 * CHECK reads the last commit in a read txn of its own and blocks the data
 * thread for the whole walk (it is O(file size)): an operator's command,
 * not one for busy hours. Writers of other processes do not exist (the file
 * is locked), so nothing else waits.
 *
 * COMPACT is blocking by design, and cannot run inside the batch that asks
 * for it: closing the database needs every txn ended, and the batch's txn
 * is live while commands run. So the command only checks that it can run,
 * writes "+OK" and notes where that reply sits; the data thread calls
 * backup_batch_end once the batch's txn has been committed or aborted and
 * before any reply is released. There the database is closed, compacted in
 * place by burrow_compact (old file or new file after a crash, never a mix)
 * and reopened with the same options, and the keyspace handle is reopened
 * on it (its bucket handles belonged to the old handle). What does not
 * survive: the hot tier starts empty (pins and per-document statistics are
 * RAM only), and SCAN cursors handed out before are forgotten (SCAN with
 * one replies "ERR invalid cursor"). Sessions, MULTI queues, WATCHed keys
 * and subscriptions hold no database state and are kept; WATCHed keys are
 * not disturbed since no key changes. If the compaction fails, the reply
 * is rewritten in place into an error and the old file is reopened. If
 * reopening fails (the file vanished, the disk failed), the server cannot
 * serve anything: it prints why and exits with status 1 — the file on disk
 * is the old one or the compacted one, either sound.
 * A running BACKUP holds a read txn on the database, so COMPACT is refused
 * while one runs, and BACKUP is refused while a COMPACT waits for its
 * batch's end.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server/command.h"
#include "server/resp.h"
#include "server/server_int.h"

enum backup_phase { PHASE_IDLE = 0, PHASE_RUNNING = 1, PHASE_DONE = 2 };

/* A COMPACT reply waiting for the batch's end: where "+OK\r\n" was written. */
typedef struct compact_reply {
    buf *out;
    size_t off;
} compact_reply;

#define OK_REPLY "+OK\r\n"
#define OK_REPLY_LEN 5

struct backup_state {
    /* the background backup */
    pthread_t thread;
    bool joinable;                /* a thread was started and not joined */
    atomic_int phase;             /* enum backup_phase */
    atomic_bool cancel;
    atomic_uint_fast64_t done, total; /* bytes of the copy */
    burrow_db *db;                /* the thread's database (s->db when started) */
    char *path;                   /* the thread reads it; freed after the join */
    bool compact;
    uint64_t started_ms;
    pthread_mutex_t lock;         /* guards the fields below, written by the thread */
    uint64_t finished_ms;
    int result;                   /* 0 or the BURROW_E* code */
    char error[256];
    /* the last COMPACT */
    uint64_t compacts, compact_failures;
    uint64_t compact_ms, compact_before, compact_after; /* when, file sizes */
    char compact_error[320];
    /* COMPACTs of the current batch */
    compact_reply *pending;
    size_t npending, cap;
};

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static backup_state *state_of(server *s)
{
    if (s->backup) return s->backup;
    backup_state *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    pthread_mutex_init(&b->lock, NULL);
    atomic_init(&b->phase, PHASE_IDLE);
    atomic_init(&b->cancel, false);
    atomic_init(&b->done, 0);
    atomic_init(&b->total, 0);
    s->backup = b;
    return b;
}

/* Join a finished thread (never waits for a running one). */
static void reap(backup_state *b)
{
    if (b->joinable && atomic_load(&b->phase) == PHASE_DONE) {
        pthread_join(b->thread, NULL);
        b->joinable = false;
    }
}

/* ---- the background thread ----------------------------------------------------- */

static int on_progress(void *ctx, uint64_t done, uint64_t total)
{
    backup_state *b = ctx;
    atomic_store_explicit(&b->total, total, memory_order_relaxed);
    atomic_store_explicit(&b->done, done, memory_order_relaxed);
    return atomic_load_explicit(&b->cancel, memory_order_relaxed) ? 1 : 0;
}

static void *backup_main(void *arg)
{
    backup_state *b = arg;
    burrow_backup_options opt = {
        .flags = b->compact ? BURROW_BACKUP_COMPACT : 0, .progress = on_progress, .progress_ctx = b,
    };
    int rc = burrow_backup(b->db, b->path, &opt);
    const char *detail = rc ? burrow_errmsg() : "";
    pthread_mutex_lock(&b->lock);
    b->result = rc;
    snprintf(b->error, sizeof b->error, "%s", rc ? (detail && *detail ? detail : burrow_strerror(rc)) : "");
    b->finished_ms = wall_ms();
    pthread_mutex_unlock(&b->lock);
    atomic_store(&b->phase, PHASE_DONE);
    return NULL;
}

/* ---- BACKUP ---------------------------------------------------------------------- */

static int reply_status(cmd_ctx *c, backup_state *b)
{
    reap(b);
    int phase = atomic_load(&b->phase);
    pthread_mutex_lock(&b->lock);
    const char *state = phase == PHASE_IDLE ? "idle" : phase == PHASE_RUNNING ? "running"
                        : b->result == 0   ? "ok"
                        : b->result == BURROW_ECANCELED ? "canceled"
                                           : "failed";
    resp_map(c->out, c->proto, 8);
    resp_bulk_cstr(c->out, "state");
    resp_bulk_cstr(c->out, state);
    resp_bulk_cstr(c->out, "path");
    resp_bulk_cstr(c->out, b->path ? b->path : "");
    resp_bulk_cstr(c->out, "compact");
    resp_int(c->out, b->compact);
    resp_bulk_cstr(c->out, "bytes_done");
    resp_int(c->out, (int64_t)atomic_load(&b->done));
    resp_bulk_cstr(c->out, "bytes_total");
    resp_int(c->out, (int64_t)atomic_load(&b->total));
    resp_bulk_cstr(c->out, "started_ms");
    resp_int(c->out, (int64_t)b->started_ms);
    resp_bulk_cstr(c->out, "finished_ms");
    resp_int(c->out, phase == PHASE_DONE ? (int64_t)b->finished_ms : 0);
    resp_bulk_cstr(c->out, "error");
    resp_bulk_cstr(c->out, phase == PHASE_DONE ? b->error : "");
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static char *resolve_path(const server *s, const char *p, size_t n)
{
    bool relative = n == 0 || p[0] != '/';
    size_t dlen = relative ? strlen(s->cfg.dir) + 1 : 0;
    char *out = malloc(dlen + n + 1);
    if (!out) return NULL;
    if (relative) {
        memcpy(out, s->cfg.dir, dlen - 1);
        out[dlen - 1] = '/';
    }
    memcpy(out + dlen, p, n);
    out[dlen + n] = 0;
    return out;
}

static int cmd_backup_(cmd_ctx *c)
{
    server *s = c->srv;
    backup_state *b = state_of(s);
    if (!b) return resp_error(c->out, "ERR out of memory", 17), 0;
    if (c->argc == 2 && cmd_arg_is(c, 1, "status")) return reply_status(c, b);
    if (c->argc == 2 && cmd_arg_is(c, 1, "cancel")) {
        bool running = atomic_load(&b->phase) == PHASE_RUNNING;
        if (running) atomic_store(&b->cancel, true);
        return resp_int(c->out, running), 0;
    }
    bool compact = false;
    if (c->argc == 3) {
        if (!cmd_arg_is(c, 2, "compact")) return cmd_err_syntax(c);
        compact = true;
    } else if (c->argc != 2) {
        return cmd_err_syntax(c);
    }
    if (c->argv[1].len == 0 || memchr(c->argv[1].ptr, 0, c->argv[1].len))
        return resp_errorf(c->out, "ERR the backup path is empty or holds a NUL byte"), 0;
    reap(b);
    if (atomic_load(&b->phase) == PHASE_RUNNING) {
        static const char t[] = "ERR a backup is already running (BACKUP STATUS shows its progress)";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    if (b->npending) {
        static const char t[] = "ERR a COMPACT of this batch has not run yet";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    char *path = resolve_path(s, c->argv[1].ptr, c->argv[1].len);
    if (!path) return resp_error(c->out, "ERR out of memory", 17), 0;
    free(b->path);
    b->path = path;
    b->compact = compact;
    b->db = s->db;
    b->started_ms = c->now_ms;
    atomic_store(&b->done, 0);
    atomic_store(&b->total, 0);
    atomic_store(&b->cancel, false);
    pthread_mutex_lock(&b->lock);
    b->result = 0;
    b->error[0] = 0;
    b->finished_ms = 0;
    pthread_mutex_unlock(&b->lock);
    atomic_store(&b->phase, PHASE_RUNNING);
    if (pthread_create(&b->thread, NULL, backup_main, b)) {
        atomic_store(&b->phase, PHASE_IDLE);
        return resp_error(c->out, "ERR cannot start the backup thread", 34), 0;
    }
    b->joinable = true;
    return resp_simple(c->out, "Backup started", 14), 0;
}

/* ---- CHECK ----------------------------------------------------------------------- */

typedef struct problems {
    buf text; /* each problem NUL-terminated, one after another */
    size_t n;
} problems;

static void on_problem(void *ctx, uint64_t pgno, const char *problem)
{
    (void)pgno; /* the sentence starts with the page */
    problems *p = ctx;
    if (buf_append(&p->text, problem, strlen(problem) + 1) == 0) p->n++;
}

static int cmd_check(cmd_ctx *c)
{
    problems p = {{0}, 0};
    burrow_check_options opt = {.report = on_problem, .ctx = &p};
    int rc = burrow_check_all(c->db, &opt, NULL);
    if (rc < 0) {
        buf_free(&p.text);
        const char *detail = burrow_errmsg();
        return resp_errorf(c->out, "ERR check failed: %s", detail && *detail ? detail : burrow_strerror(rc)), 0;
    }
    resp_array(c->out, p.n);
    const char *at = (const char *)p.text.data;
    for (size_t i = 0; i < p.n; i++) {
        resp_bulk_cstr(c->out, at);
        at += strlen(at) + 1;
    }
    buf_free(&p.text);
    return 0;
}

/* ---- COMPACT --------------------------------------------------------------------- */

static int cmd_compact(cmd_ctx *c)
{
    server *s = c->srv;
    backup_state *b = state_of(s);
    if (!b) return resp_error(c->out, "ERR out of memory", 17), 0;
    reap(b);
    if (atomic_load(&b->phase) == PHASE_RUNNING) {
        static const char t[] = "ERR a backup is running; COMPACT waits for it to end (BACKUP STATUS)";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    if (b->npending == b->cap) {
        size_t n = b->cap ? b->cap * 2 : 4;
        compact_reply *p = realloc(b->pending, n * sizeof *p);
        if (!p) return resp_error(c->out, "ERR out of memory", 17), 0;
        b->pending = p;
        b->cap = n;
    }
    b->pending[b->npending++] = (compact_reply){c->out, c->out->size};
    return buf_append(c->out, OK_REPLY, OK_REPLY_LEN), 0;
}

/* Replace the "+OK\r\n" at r with an error reply, moving the batch's
 * reply offsets behind it (replace_write_replies slices by them). */
static void rewrite_reply(server *s, const compact_reply *r, const char *err)
{
    buf *o = r->out;
    size_t elen = strlen(err);
    buf nb = {0};
    buf_append(&nb, o->data, r->off);
    resp_error(&nb, err, elen);
    size_t new_len = nb.size - r->off;
    buf_append(&nb, o->data + r->off + OK_REPLY_LEN, o->size - r->off - OK_REPLY_LEN);
    if (nb.size != o->size - OK_REPLY_LEN + new_len) { /* out of memory: leave the +OK, say it loudly */
        fprintf(stderr, "burrowd: COMPACT failed (%s) and its reply could not be rewritten\n", err);
        buf_free(&nb);
        return;
    }
    for (size_t i = 0; i < s->nitems; i++) {
        batch_item *it = &s->items[i];
        if (&it->sess->out == o && it->out_start > r->off) it->out_start += new_len - OK_REPLY_LEN;
    }
    buf_free(o);
    *o = nb;
}

static uint64_t file_size(burrow_db *db)
{
    burrow_db_stats st = {0};
    burrow_db_stat(db, &st);
    return st.file_size;
}

/* Close, compact in place, reopen. 0, or an error with its text in err;
 * does not return when the database cannot be reopened. */
static int compact_now(server *s, char *err, size_t errlen)
{
    backup_state *b = s->backup;
    reap(b);
    if (atomic_load(&b->phase) == PHASE_RUNNING) {
        snprintf(err, errlen, "ERR a backup started before the compaction could run");
        return -1;
    }
    uint64_t before = file_size(s->db);
    syncer_pause(s); /* the sync thread must not touch the handle closed below */
    ks_close(s->ks);
    s->ks = NULL;
    int rc = burrow_close(s->db);
    if (rc) { /* a txn is live somewhere: keep serving the old handle */
        syncer_resume(s);
        const char *d = burrow_errmsg();
        snprintf(err, errlen, "ERR cannot close the database to compact it: %s", d && *d ? d : burrow_strerror(rc));
        if (ks_open(s->db, &s->ks)) {
            fprintf(stderr, "burrowd: cannot reopen the keyspace after a failed COMPACT\n");
            _exit(1);
        }
        return -1;
    }
    s->db = NULL;
    burrow_options opt;
    server_db_options(s, &opt);
    int crc = burrow_compact(s->db_path, &opt, NULL, NULL);
    if (crc) {
        const char *d = burrow_errmsg();
        snprintf(err, errlen, "ERR compaction failed, the file is unchanged: %s", d && *d ? d : burrow_strerror(crc));
    }
    rc = burrow_open(s->db_path, &opt, &s->db);
    if (rc == 0 && (rc = ks_open(s->db, &s->ks)) != 0) burrow_close(s->db);
    if (rc) {
        const char *d = burrow_errmsg();
        fprintf(stderr, "burrowd: cannot reopen %s after COMPACT: %s; stopping\n", s->db_path,
                d && *d ? d : burrow_strerror(rc));
        _exit(1);
    }
    syncer_resume(s);
    s->lookup_gen++;
    s->dirty_since_sync = 0; /* the compacted file was synced whole */
    b->compact_ms = wall_ms();
    if (crc) {
        b->compact_failures++;
        snprintf(b->compact_error, sizeof b->compact_error, "%s", err + 4);
        return -1;
    }
    b->compacts++;
    b->compact_before = before;
    b->compact_after = file_size(s->db);
    b->compact_error[0] = 0;
    return 0;
}

void backup_batch_end(server *s)
{
    backup_state *b = s->backup;
    if (!b || !b->npending) return;
    char err[300];
    int rc = compact_now(s, err, sizeof err);
    if (rc) /* the latest first: rewriting one moves only what follows it */
        for (size_t i = b->npending; i-- > 0;) rewrite_reply(s, &b->pending[i], err);
    b->npending = 0;
}

/* ---- INFO and the end ------------------------------------------------------------ */

void backup_info(server *s, buf *o)
{
    backup_state *b = s->backup;
    char tmp[768];
    int n;
    if (!b) {
        n = snprintf(tmp, sizeof tmp, "backup_in_progress:0\r\nbackup_last_status:none\r\ncompacts:0\r\n");
        buf_append(o, tmp, (size_t)n);
        return;
    }
    reap(b);
    int phase = atomic_load(&b->phase);
    pthread_mutex_lock(&b->lock);
    const char *st = phase == PHASE_IDLE ? "none" : phase == PHASE_RUNNING ? "running"
                     : b->result == 0 ? "ok" : b->result == BURROW_ECANCELED ? "canceled" : "failed";
    n = snprintf(tmp, sizeof tmp,
                 "backup_in_progress:%d\r\nbackup_path:%s\r\nbackup_compact:%d\r\nbackup_bytes_done:%llu\r\n"
                 "backup_bytes_total:%llu\r\nbackup_last_status:%s\r\nbackup_last_error:%s\r\n"
                 "compacts:%llu\r\ncompact_failures:%llu\r\ncompact_last_time:%llu\r\n"
                 "compact_last_size_before:%llu\r\ncompact_last_size_after:%llu\r\ncompact_last_error:%s\r\n",
                 phase == PHASE_RUNNING, b->path ? b->path : "", b->compact,
                 (unsigned long long)atomic_load(&b->done), (unsigned long long)atomic_load(&b->total), st,
                 phase == PHASE_DONE ? b->error : "", (unsigned long long)b->compacts,
                 (unsigned long long)b->compact_failures, (unsigned long long)(b->compact_ms / 1000),
                 (unsigned long long)b->compact_before, (unsigned long long)b->compact_after, b->compact_error);
    pthread_mutex_unlock(&b->lock);
    buf_append(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

void backup_shutdown(server *s)
{
    backup_state *b = s->backup;
    if (!b) return;
    if (b->joinable) {
        atomic_store(&b->cancel, true);
        pthread_join(b->thread, NULL);
        b->joinable = false;
    }
    pthread_mutex_destroy(&b->lock);
    free(b->path);
    free(b->pending);
    free(b);
    s->backup = NULL;
}

const cmd_def cmd_backup[] = {
    {"backup", -2, CMD_ADMIN, 0, 0, 0, cmd_backup_, "server",
     "Copies the database to a file in the background (BACKUP path [COMPACT] | STATUS | CANCEL)."},
    {"check", 1, CMD_ADMIN, 0, 0, 0, cmd_check, "server",
     "Checks the integrity of the last commit; replies the problems found."},
    {"compact", 1, CMD_ADMIN, 0, 0, 0, cmd_compact, "server",
     "Rewrites the database file without free pages (blocks the server while it runs)."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
