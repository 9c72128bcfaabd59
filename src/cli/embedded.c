/*
 * embedded.c — the REPL's backend on a database file.
 *
 * The file is opened the way burrowd opens it (server_create: the database
 * and the keyspace of keyspace.h), and each command runs through burrowd's
 * own command table (command.h) on the calling thread, exactly as the data
 * thread runs one request of a batch: SET/GET/DEL/SCAN use the keyspace
 * buckets "_burrow.kv" and "_burrow.kv.exp", the DOC.* commands the
 * collections, JSON.* the JSON keys. A file written by the REPL is
 * therefore the same data burrowd serves, and the reverse; the syntax,
 * replies and error texts are the server's. The reply (RESP2 bytes in the
 * session's buffer) is read back with hiredis's reader into a redisReply.
 *
 * Transactions: outside begin...commit each command is its own
 * transaction (a write txn for a CMD_WRITE command, committed with a full
 * sync; else a read txn). After `begin`, every command runs in one write
 * txn that `commit` commits and `rollback` aborts; a command that fails
 * half-way (the engine's error, not a refusal) rolls the whole txn back,
 * as a failing command rolls back burrowd's batch, and says so.
 *
 * States: idle --begin--> in txn --commit|rollback|failure--> idle.
 *
 * Commands that only make sense on a connection (MULTI/EXEC/WATCH, pub/sub,
 * CLIENT, SHUTDOWN, AUTH, HELLO, ...) are refused with a sentence saying
 * what to use instead.
 */
#include <errno.h>
#include <hiredis/read.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/tmpdir.h"
#include "cli/cli.h"
#include "server/server_int.h"

typedef struct embedded {
    backend be;
    server *srv;
    session sess;
    burrow_txn *user_txn; /* between begin and commit/rollback */
    char *path;
    char *tmpdir;         /* a temporary database's directory, removed at close */
    uint64_t commits;     /* write txns committed */
} embedded;

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Parse the RESP2 bytes of one reply into a redisReply. */
static redisReply *parse_reply(const buf *out)
{
    redisReader *rd = redisReaderCreate();
    if (!rd) return NULL;
    void *reply = NULL;
    if (redisReaderFeed(rd, (const char *)out->data, out->size) != REDIS_OK ||
        redisReaderGetReply(rd, &reply) != REDIS_OK || !reply) {
        if (reply) freeReplyObject(reply);
        reply = reply_new_error("ERR internal: a reply the CLI cannot read");
    }
    redisReaderFree(rd);
    return reply;
}

static bool name_is(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

/* Commands of a connection, not of data: what to use instead. */
static const char *refused(const cmd_def *cmd)
{
    static const char *const conn_only[] = {"client", "shutdown", "auth", "hello", "reset", "quit",
                                            "select", "monitor", "readonly", "readwrite", NULL};
    if (strcmp(cmd->group, "transactions") == 0) return "use begin, commit and rollback on a file";
    if (strcmp(cmd->group, "pubsub") == 0) return "publish and subscribe need a server (burrow -h HOST -p PORT)";
    for (int i = 0; conn_only[i]; i++)
        if (name_is(cmd->name, conn_only[i])) return "it is about a connection, and a file has none";
    return NULL;
}

static redisReply *emb_run(backend *be, int argc, const char **argv, const size_t *lens)
{
    embedded *e = (embedded *)be;
    server *s = e->srv;
    const cmd_def *cmd = cmd_find(argv[0], lens[0]);
    if (!cmd) {
        return reply_new_error("ERR unknown command '%.*s' (.help lists the commands)", (int)(lens[0] > 64 ? 64 : lens[0]),
                               argv[0]);
    }
    if (cmd->arity > 0 ? argc != cmd->arity : argc < -cmd->arity)
        return reply_new_error("ERR wrong number of arguments for '%s' command", cmd->name);
    const char *why = refused(cmd);
    if (why) return reply_new_error("ERR %s is not available on a file: %s", cmd->name, why);
    if (e->user_txn && (name_is(cmd->name, "compact") || name_is(cmd->name, "backup")))
        return reply_new_error("ERR %s cannot run inside begin ... commit: commit or roll back first", cmd->name);

    resp_arg *args = malloc((size_t)argc * sizeof *args);
    if (!args) return reply_new_error("ERR out of memory");
    for (int i = 0; i < argc; i++) args[i] = (resp_arg){argv[i], lens[i]};

    bool write = (cmd->flags & CMD_WRITE) != 0;
    int rc = 0;
    if (e->user_txn) {
        s->txn = e->user_txn;
        s->txn_write = true;
    } else {
        rc = burrow_txn_begin(s->db, NULL, write ? 0 : BURROW_TXN_RDONLY, &s->txn);
        s->txn_write = write;
        if (rc) {
            free(args);
            return reply_new_error("ERR cannot begin a transaction: %s", burrow_errmsg());
        }
    }
    s->now_ms = wall_ms();
    s->lookup_gen++;
    e->sess.out.size = 0;
    rc = server_exec_command(s, &e->sess, cmd, (uint32_t)argc, args, false);
    free(args);
    s->lookup_gen++;
    redisReply *reply = parse_reply(&e->sess.out);
    if (e->user_txn) {
        s->txn = NULL;
        if (rc < 0) { /* the txn may hold half of the command: all of it goes */
            burrow_txn_abort(e->user_txn);
            e->user_txn = NULL;
            be->in_txn = false;
            freeReplyObject(reply);
            reply = reply_new_error("ERR %s; the transaction was rolled back", burrow_errmsg());
        }
        return reply;
    }
    if (write && rc == 0) {
        int crc = burrow_txn_commit(s->txn);
        if (crc) {
            freeReplyObject(reply);
            reply = reply_new_error("ERR commit failed: %s", burrow_errmsg());
        } else {
            e->commits++;
        }
    } else {
        burrow_txn_abort(s->txn);
    }
    s->txn = NULL;
    backup_batch_end(s); /* COMPACT runs here, with no txn live */
    return reply;
}

static redisReply *emb_txn(backend *be, int op)
{
    embedded *e = (embedded *)be;
    switch (op) {
    case TXN_BEGIN: {
        if (e->user_txn) return reply_new_error("ERR a transaction is already open (commit or rollback)");
        int rc = burrow_txn_begin(e->srv->db, NULL, 0, &e->user_txn);
        if (rc) return reply_new_error("ERR cannot begin: %s", burrow_errmsg());
        be->in_txn = true;
        return reply_new_status("OK");
    }
    case TXN_COMMIT: {
        if (!e->user_txn) return reply_new_error("ERR no transaction is open (begin starts one)");
        int rc = burrow_txn_commit(e->user_txn);
        e->user_txn = NULL;
        be->in_txn = false;
        if (rc) return reply_new_error("ERR commit failed, nothing was kept: %s", burrow_errmsg());
        e->commits++;
        return reply_new_status("OK");
    }
    default:
        if (!e->user_txn) return reply_new_error("ERR no transaction is open (begin starts one)");
        burrow_txn_abort(e->user_txn);
        e->user_txn = NULL;
        be->in_txn = false;
        return reply_new_status("OK");
    }
}

/* ---- dot-commands ------------------------------------------------------------- */

/* The txn dot-commands read: the user's (to see its changes) or a read txn. */
static int dot_txn(embedded *e, burrow_txn **txn, bool *own)
{
    *own = !e->user_txn;
    if (e->user_txn) {
        *txn = e->user_txn;
        return 0;
    }
    return burrow_txn_begin(e->srv->db, NULL, BURROW_TXN_RDONLY, txn);
}

typedef struct name_list {
    char **names;
    size_t n;
} name_list;

static int collect_name(void *ctx, const char *name)
{
    name_list *l = ctx;
    char **p = realloc(l->names, (l->n + 1) * sizeof *p);
    if (!p) return BURROW_ENOMEM;
    l->names = p;
    if (!(p[l->n] = strdup(name))) return BURROW_ENOMEM;
    l->n++;
    return 0;
}

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names);
}

static void kv_line(const cli_out *o, bool *first, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "name: value" in text mode, members of one JSON object with --json. */
static void kv_line(const cli_out *o, bool *first, const char *name, const char *fmt, ...)
{
    char v[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    if (o->json) {
        fputs(*first ? "{" : ",", o->f);
        out_json_string(o->f, name, strlen(name));
        fputc(':', o->f);
        /* numbers stay numbers */
        char *end;
        strtod(v, &end);
        if (*v && !*end) fputs(v, o->f);
        else out_json_string(o->f, v, strlen(v));
    } else {
        fprintf(o->f, "%s: %s\n", name, v);
    }
    *first = false;
}

static void kv_end(const cli_out *o, bool first)
{
    if (o->json) fputs(first ? "{}\n" : "}\n", o->f);
    fflush(o->f);
}

static int dot_stats(embedded *e, const cli_out *o)
{
    burrow_db_stats st;
    int rc = burrow_db_stat(e->srv->db, &st);
    if (rc) return out_error(o, "%s", burrow_errmsg()), 0;
    burrow_txn *txn;
    bool own;
    uint64_t keys = 0, colls = 0;
    if (dot_txn(e, &txn, &own) == 0) {
        ks_count(e->srv->ks, txn, &keys);
        name_list l = {0};
        burrow_coll_list(txn, collect_name, &l);
        colls = l.n;
        names_free(&l);
        if (own) burrow_txn_abort(txn);
    }
    bool first = true;
    kv_line(o, &first, "file", "%s", e->path);
    kv_line(o, &first, "file_size", "%llu", (unsigned long long)st.file_size);
    kv_line(o, &first, "page_size", "%u", st.page_size);
    kv_line(o, &first, "pages", "%llu", (unsigned long long)st.page_count);
    kv_line(o, &first, "free_pages", "%llu", (unsigned long long)st.free_pages);
    kv_line(o, &first, "pending_pages", "%llu", (unsigned long long)st.pending_pages);
    kv_line(o, &first, "last_txn", "%llu", (unsigned long long)st.last_txn);
    kv_line(o, &first, "buckets", "%llu", (unsigned long long)st.buckets);
    kv_line(o, &first, "keys", "%llu", (unsigned long long)keys);
    kv_line(o, &first, "collections", "%llu", (unsigned long long)colls);
    kv_line(o, &first, "in_transaction", "%d", e->user_txn != NULL);
    kv_end(o, first);
    return 0;
}

static int dot_dump(embedded *e, const cli_out *o, int argc, const char **argv)
{
    burrow_txn *txn;
    bool own;
    if (dot_txn(e, &txn, &own)) return out_error(o, "%s", burrow_errmsg()), 0;
    if (argc >= 2) {
        burrow_bucket b;
        int rc = burrow_bucket_open(txn, argv[1], 0, &b);
        if (rc == 0) rc = burrow_dump(txn, b, o->f);
        if (rc == BURROW_ENOTFOUND) out_error(o, "no bucket named '%s' (.dump alone lists them)", argv[1]);
        else if (rc) out_error(o, "%s", burrow_errmsg());
    } else {
        name_list l = {0};
        int rc = burrow_bucket_list(txn, collect_name, &l);
        if (rc) out_error(o, "%s", burrow_errmsg());
        if (o->json) fputc('[', o->f);
        for (size_t i = 0; i < l.n && !rc; i++) {
            burrow_bucket b;
            burrow_bucket_stats bs = {0};
            if (burrow_bucket_open(txn, l.names[i], 0, &b) || burrow_bucket_stat(txn, b, &bs)) continue;
            if (o->json) {
                fprintf(o->f, "%s{\"bucket\":", i ? "," : "");
                out_json_string(o->f, l.names[i], strlen(l.names[i]));
                fprintf(o->f, ",\"keys\":%llu,\"height\":%u,\"branch_pages\":%llu,\"leaf_pages\":%llu,\"overflow_pages\":%llu}",
                        (unsigned long long)bs.keys, bs.height, (unsigned long long)bs.branch_pages,
                        (unsigned long long)bs.leaf_pages, (unsigned long long)bs.overflow_pages);
            } else {
                fprintf(o->f, "%-32s keys=%llu height=%u pages=%llu+%llu+%llu (branch+leaf+overflow)\n", l.names[i],
                        (unsigned long long)bs.keys, bs.height, (unsigned long long)bs.branch_pages,
                        (unsigned long long)bs.leaf_pages, (unsigned long long)bs.overflow_pages);
            }
        }
        if (o->json) fputs("]\n", o->f);
        names_free(&l);
    }
    fflush(o->f);
    if (own) burrow_txn_abort(txn);
    return 0;
}

static int dot_collections(embedded *e, const cli_out *o)
{
    burrow_txn *txn;
    bool own;
    if (dot_txn(e, &txn, &own)) return out_error(o, "%s", burrow_errmsg()), 0;
    name_list l = {0};
    int rc = burrow_coll_list(txn, collect_name, &l);
    if (rc) out_error(o, "%s", burrow_errmsg());
    if (o->json) fputc('[', o->f);
    for (size_t i = 0; i < l.n && !rc; i++) {
        uint64_t n = 0;
        burrow_doc_count(txn, l.names[i], NULL, &n);
        if (o->json) {
            fprintf(o->f, "%s{\"collection\":", i ? "," : "");
            out_json_string(o->f, l.names[i], strlen(l.names[i]));
            fprintf(o->f, ",\"documents\":%llu}", (unsigned long long)n);
        } else {
            fprintf(o->f, "%s (%llu documents)\n", l.names[i], (unsigned long long)n);
        }
    }
    if (o->json) fputs("]\n", o->f);
    else if (!l.n && !rc) fputs("(no collections)\n", o->f);
    fflush(o->f);
    names_free(&l);
    if (own) burrow_txn_abort(txn);
    return 0;
}

typedef struct index_print {
    const cli_out *o;
    const char *coll;
    size_t n;
} index_print;

static int print_index(void *ctx, const char *name, unsigned flags)
{
    index_print *ip = ctx;
    if (ip->o->json) {
        fprintf(ip->o->f, "%s{\"collection\":", ip->n ? "," : "");
        out_json_string(ip->o->f, ip->coll, strlen(ip->coll));
        fputs(",\"index\":", ip->o->f);
        out_json_string(ip->o->f, name, strlen(name));
        fprintf(ip->o->f, ",\"unique\":%s}", flags & BURROW_INDEX_UNIQUE ? "true" : "false");
    } else {
        fprintf(ip->o->f, "%s: %s%s\n", ip->coll, name, flags & BURROW_INDEX_UNIQUE ? " (unique)" : "");
    }
    ip->n++;
    return 0;
}

static int dot_indexes(embedded *e, const cli_out *o, int argc, const char **argv)
{
    burrow_txn *txn;
    bool own;
    if (dot_txn(e, &txn, &own)) return out_error(o, "%s", burrow_errmsg()), 0;
    name_list l = {0};
    int rc = argc >= 2 ? collect_name(&l, argv[1]) : burrow_coll_list(txn, collect_name, &l);
    index_print ip = {o, NULL, 0};
    if (o->json) fputc('[', o->f);
    for (size_t i = 0; i < l.n && !rc; i++) {
        ip.coll = l.names[i];
        rc = burrow_index_list(txn, l.names[i], print_index, &ip);
        if (rc == BURROW_ENOTFOUND && argc >= 2) {
            if (o->json) fputs("]\n", o->f);
            out_error(o, "no collection named '%s'", argv[1]);
            goto done;
        }
    }
    if (o->json) fputs("]\n", o->f);
    else if (!ip.n && !rc) fputs("(no indexes)\n", o->f);
    if (rc) out_error(o, "%s", burrow_errmsg());
done:
    fflush(o->f);
    names_free(&l);
    if (own) burrow_txn_abort(txn);
    return 0;
}

static int dot_tier(embedded *e, const cli_out *o)
{
    burrow_tier_stats ts = {0};
    burrow_tier_stat(e->srv->db, &ts);
    bool first = true;
    kv_line(o, &first, "budget", "%zu", ts.budget);
    kv_line(o, &first, "bytes_used", "%zu", ts.bytes_used);
    kv_line(o, &first, "entries", "%llu", (unsigned long long)ts.entries);
    kv_line(o, &first, "hits", "%llu", (unsigned long long)ts.hits);
    kv_line(o, &first, "misses", "%llu", (unsigned long long)ts.misses);
    kv_line(o, &first, "hit_ratio", "%.4f", ts.hit_ratio);
    kv_line(o, &first, "promotions", "%llu", (unsigned long long)ts.promotions);
    kv_line(o, &first, "demotions", "%llu", (unsigned long long)ts.demotions);
    kv_line(o, &first, "evictions", "%llu", (unsigned long long)ts.evictions);
    kv_line(o, &first, "invalidations", "%llu", (unsigned long long)ts.invalidations);
    kv_end(o, first);
    if (!ts.budget) out_note(o, "(the hot tier is off: start burrow with --hot-mem SIZE to use it)");
    return 0;
}

static int emb_dot(backend *be, const cli_out *o, int argc, const char **argv)
{
    embedded *e = (embedded *)be;
    const char *n = argv[0];
    if (name_is(n, ".stats")) return dot_stats(e, o);
    if (name_is(n, ".dump")) return dot_dump(e, o, argc, argv);
    if (name_is(n, ".collections")) return dot_collections(e, o);
    if (name_is(n, ".indexes")) return dot_indexes(e, o, argc, argv);
    if (name_is(n, ".tier")) return dot_tier(e, o);
    return 1;
}

/* ---- open and close ----------------------------------------------------------- */

static int emb_close(backend *be, const cli_out *o)
{
    embedded *e = (embedded *)be;
    int status = 0;
    if (e->user_txn) {
        burrow_txn_abort(e->user_txn);
        e->user_txn = NULL;
        out_note(o, "the open transaction was rolled back (it was never committed)");
    }
    int rc = burrow_sync(e->srv->db);
    if (rc) {
        fprintf(stderr, "burrow: flushing %s failed: %s\n", e->path, burrow_errmsg());
        status = 1;
    }
    server_destroy(e->srv); /* closes the keyspace and the database */
    if (e->tmpdir) {
        unlink(e->path);
        rmdir(e->tmpdir);
        out_note(o, "the temporary database was removed");
    } else if (!status) {
        out_note(o, "flushed %llu commit%s to %s and closed it", (unsigned long long)e->commits,
                 e->commits == 1 ? "" : "s", e->path);
    }
    buf_free(&e->sess.out);
    free(e->path);
    free(e->tmpdir);
    free(e);
    return status;
}

backend *embedded_open(const char *path, size_t hot_mem)
{
    embedded *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    if (!path) {
        e->tmpdir = os_make_temp_dir("burrow");
        if (!e->tmpdir) {
            fprintf(stderr, "burrow: cannot create a temporary database: %s\n", strerror(errno));
            free(e);
            return NULL;
        }
        size_t n = strlen(e->tmpdir) + 16;
        e->path = malloc(n);
        if (e->path) snprintf(e->path, n, "%s/scratch.db", e->tmpdir);
    } else {
        e->path = strdup(path);
    }
    char *d = e->path ? strdup(e->path) : NULL, *f = e->path ? strdup(e->path) : NULL;
    server_config cfg;
    config_defaults(&cfg);
    char err[512] = "";
    int rc = -1;
    if (d && f) {
        free(cfg.dir);
        free(cfg.dbfilename);
        cfg.dir = strdup(dirname(d));
        cfg.dbfilename = strdup(basename(f));
        cfg.threads = 1;
        cfg.durability = DUR_ALWAYS;
        cfg.hot_mem = hot_mem;
        if (cfg.dir && cfg.dbfilename) rc = server_create(&cfg, &e->srv, err, sizeof err);
    }
    free(d);
    free(f);
    config_free(&cfg);
    if (rc) {
        if (rc == -1 && strcasestr(err, "lock"))
            fprintf(stderr, "burrow: %s\n(is a burrowd serving it? use burrow -h HOST -p PORT)\n", err);
        else fprintf(stderr, "burrow: %s\n", *err ? err : "out of memory");
        if (e->tmpdir) rmdir(e->tmpdir);
        free(e->path);
        free(e->tmpdir);
        free(e);
        return NULL;
    }
    e->sess.proto = 2;
    e->sess.flags = SESS_AUTHED;
    e->sess.id = 1;
    e->be.where = e->tmpdir ? "(temporary)" : e->path;
    e->be.run = emb_run;
    e->be.txn = emb_txn;
    e->be.dot = emb_dot;
    e->be.close = emb_close;
    return &e->be;
}
