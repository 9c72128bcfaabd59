/*
 * command.h — what a command of burrowd is, and what it may use.
 *
 * Commands run on the data thread only (DESIGN.md, server/). The data
 * thread takes a batch of requests from the network threads, opens one
 * transaction for the batch (a write txn when any command of the batch is
 * CMD_WRITE, else a read txn), runs the commands one after another, commits
 * once, and only then releases the replies. So a command:
 *  - reads and writes through c->txn (never begins or commits its own);
 *  - writes exactly one reply to c->out with the resp_* writers, in the
 *    client's protocol c->proto (errors too: resp_error, cmd_fail);
 *  - never blocks and never sleeps.
 *
 * A family of commands (strings and keys, JSON.*, DOC.*, ...) lives in one
 * file cmd_<family>.c that defines a table `const cmd_def cmd_<family>[]`
 * ending with an entry whose name is NULL; command.c lists the tables.
 */
#ifndef BURROW_SERVER_COMMAND_H
#define BURROW_SERVER_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "burrow.h"
#include "server/keyspace.h"
#include "server/resp.h"

typedef struct server server;   /* the data thread's state (server.h) */
typedef struct session session; /* one client's state on the data thread */
typedef struct cmd_ctx cmd_ctx;

/* Flags of a command (as Redis's COMMAND INFO reports them). */
#define CMD_WRITE 0x01u    /* may change data: the batch needs a write txn */
#define CMD_READONLY 0x02u /* reads data */
#define CMD_ADMIN 0x04u    /* administration (CONFIG, SHUTDOWN, ...) */
#define CMD_PUBSUB 0x08u   /* allowed while a RESP2 client is subscribed */
#define CMD_NOAUTH 0x10u   /* allowed before AUTH (AUTH, HELLO, QUIT, RESET) */
#define CMD_NOMULTI 0x20u  /* runs at once inside MULTI (EXEC, DISCARD, ...) */
#define CMD_FAST 0x40u     /* O(1) or O(log n) */

/*
 * Run the command. Return 0 once a reply (success or error) has been
 * written to c->out. Return a negative BURROW_E* code only when the
 * transaction may hold a partial change of this command (an engine failure
 * in the middle of a write: BURROW_EIO, BURROW_ENOMEM, BURROW_EFULL...): the
 * data thread then drops whatever the command wrote to c->out, writes one
 * error reply instead, and rolls the whole batch back. cmd_fail() makes
 * that choice for a library error code.
 */
typedef int (*cmd_fn)(cmd_ctx *c);

typedef struct cmd_def {
    const char *name;  /* lower case, as COMMAND lists it: "get", "json.set" */
    int arity;         /* Redis's convention, command name included: n > 0
                          exactly n arguments, n < 0 at least -n */
    unsigned flags;    /* CMD_* */
    int first_key;     /* position of the first key argument (0 = none), */
    int last_key;      /* of the last (-1 = the last argument), */
    int key_step;      /* and the step between keys (COMMAND INFO; WATCH) */
    cmd_fn fn;
    const char *group; /* COMMAND DOCS: "string", "generic", "json", ... */
    const char *summary;
} cmd_def;

struct cmd_ctx {
    server *srv;
    session *sess;
    burrow_db *db;
    keyspace *ks;
    burrow_txn *txn;       /* the batch's txn (a write txn for CMD_WRITE) */
    const cmd_def *cmd;
    uint32_t argc;         /* argv[0] is the command name as sent */
    const resp_arg *argv;  /* valid during the call only */
    buf *out;              /* the reply goes here */
    int proto;             /* 2 or 3 */
    uint64_t now_ms;       /* Unix ms, read once per batch (one "now" for a
                              batch, as Redis uses one per command) */
};

/* ---- helpers for commands (command.c) --------------------------------- */

/* true when argument i equals s, ignoring ASCII case ("nx" == "NX"). */
bool cmd_arg_is(const cmd_ctx *c, uint32_t i, const char *s);

/* Parse argument i as Redis parses integers (an optional '-', decimal
 * digits, no spaces, no '+', no leading zeros, fits int64). false when not;
 * the caller then replies "ERR value is not an integer or out of range". */
bool cmd_arg_int(const cmd_ctx *c, uint32_t i, int64_t *out);
bool cmd_parse_int(const char *p, size_t n, int64_t *out);

/* Parse a double as Redis does for INCRBYFLOAT and scores: strtod syntax,
 * the whole argument, no NaN. false when not. */
bool cmd_parse_double(const char *p, size_t n, double *out);

/* The standard error replies. Each returns 0 (usable as `return
 * cmd_err_syntax(c);`). */
int cmd_err_syntax(cmd_ctx *c);   /* ERR syntax error */
int cmd_err_int(cmd_ctx *c);      /* ERR value is not an integer or out of range */
int cmd_err_float(cmd_ctx *c);    /* ERR value is not a valid float */
int cmd_err_wrongtype(cmd_ctx *c);/* WRONGTYPE Operation against a key holding the wrong kind of value */
int cmd_err_arity(cmd_ctx *c);    /* ERR wrong number of arguments for '<name>' command */

/* Reply with an error for library code rc ("ERR " and burrow_errmsg(), or
 * burrow_strerror(rc) when there is no detail). Returns 0 when rc is a
 * refusal that changed nothing (BURROW_EINVAL, ENOTFOUND, EEXIST,
 * ECONSTRAINT, EJSON, ETYPE, ERANGE, EKEYSIZE...), else rc itself (see
 * cmd_fn): `return cmd_fail(c, rc);`. */
int cmd_fail(cmd_ctx *c, int rc);

/* Read key through the batch's read cache: within one batch, reads of the
 * same key between two writes are served by one lookup (N3). Same results
 * as ks_get at c->now_ms. */
int cmd_lookup(cmd_ctx *c, const void *key, size_t klen, ks_value *out);

/* Every command that changes keyspace key k calls this after the change:
 * it drops the batch's read cache and marks the key for WATCH. */
void cmd_touch(cmd_ctx *c, const void *key, size_t klen);
/* After a change to every key (FLUSHDB). */
void cmd_touch_all(cmd_ctx *c);

/* ---- the table (command.c) -------------------------------------------- */

/* The command named name (any case), or NULL. */
const cmd_def *cmd_find(const char *name, size_t n);
/* Call fn for every command, in table order. */
void cmd_each(void (*fn)(void *ctx, const cmd_def *d), void *ctx);
size_t cmd_count(void);

#endif
