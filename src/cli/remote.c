/*
 * remote.c — the REPL's backend on a server: every command goes to burrowd
 * (or any Redis-protocol server) as one request through hiredis, whose
 * RESP2 replies the REPL prints. Debian 12 ships hiredis 0.14: RESP2 only,
 * so the connection stays in RESP2 (no HELLO 3).
 *
 * A lost connection is reconnected once per command (as redis-cli does),
 * with AUTH again when a password was given; a command that was sent
 * before the loss may or may not have run, and the REPL says so.
 *
 * begin/commit/rollback are the embedded backend's: on a server a batch
 * of commands is MULTI ... EXEC, which the REPL passes through as typed.
 * The dot-commands are answered with the server's own commands (INFO,
 * DOC.LIST, DOC.INDEX LIST, TIER.STATS) by the REPL.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "cli/cli.h"

typedef struct remote {
    backend be;
    redisContext *ctx;
    char *host;
    int port;
    char *password;
    char where[300];
} remote;

static int connect_now(remote *r, char *err, size_t errlen)
{
    struct timeval tv = {10, 0};
    if (r->ctx) redisFree(r->ctx);
    r->ctx = redisConnectWithTimeout(r->host, r->port, tv);
    if (!r->ctx || r->ctx->err) {
        snprintf(err, errlen, "cannot connect to %s: %s", r->where, r->ctx ? r->ctx->errstr : "out of memory");
        if (r->ctx) redisFree(r->ctx);
        r->ctx = NULL;
        return -1;
    }
    /* a command may take long (COMPACT, CHECK on a big file): no read
     * timeout once connected */
    struct timeval none = {0, 0};
    redisSetTimeout(r->ctx, none);
    if (r->password) {
        redisReply *a = redisCommand(r->ctx, "AUTH %s", r->password);
        if (!a || a->type == REDIS_REPLY_ERROR) {
            snprintf(err, errlen, "AUTH failed: %s", a ? a->str : r->ctx->errstr);
            if (a) freeReplyObject(a);
            redisFree(r->ctx);
            r->ctx = NULL;
            return -1;
        }
        freeReplyObject(a);
    }
    return 0;
}

static redisReply *rem_run(backend *be, int argc, const char **argv, const size_t *lens)
{
    remote *r = (remote *)be;
    char err[512];
    if (!r->ctx && connect_now(r, err, sizeof err)) return reply_new_error("ERR %s", err);
    redisReply *reply = redisCommandArgv(r->ctx, argc, argv, lens);
    if (reply) return reply;
    /* the connection broke: the command may or may not have run */
    char lost[256];
    snprintf(lost, sizeof lost, "%s", r->ctx->errstr);
    if (connect_now(r, err, sizeof err)) return reply_new_error("ERR connection lost (%s); %s", lost, err);
    return reply_new_error("ERR connection lost (%s) and made again; the command may or may not have run", lost);
}

static int rem_close(backend *be, const cli_out *o)
{
    remote *r = (remote *)be;
    if (r->ctx) redisFree(r->ctx);
    out_note(o, "disconnected from %s (the server keeps the data)", r->where);
    free(r->host);
    free(r->password);
    free(r);
    return 0;
}

backend *remote_open(const char *host, int port, const char *password)
{
    remote *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->host = strdup(host);
    r->port = port;
    r->password = password ? strdup(password) : NULL;
    snprintf(r->where, sizeof r->where, "%s:%d", host, port);
    char err[512];
    if (!r->host || connect_now(r, err, sizeof err)) {
        fprintf(stderr, "burrow: %s\n", r->host ? err : "out of memory");
        free(r->host);
        free(r->password);
        free(r);
        return NULL;
    }
    r->be.where = r->where;
    r->be.run = rem_run;
    r->be.txn = NULL;
    r->be.dot = NULL;
    r->be.close = rem_close;
    return &r->be;
}
