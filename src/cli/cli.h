/*
 * cli.h — the parts of `burrow`, the shell and toolbox, and how they meet.
 *
 *   main.c      arguments, subcommands, --help texts
 *   repl.c      the read-eval-print loop: line editing, history, tab
 *               completion, multi-line input, REPL commands, dot-commands
 *   lex.c       splitting a REPL line into arguments (quotes, JSON)
 *   embedded.c  backend on a database file: burrowd's own commands run
 *               in-process on the file, through include/burrow.h
 *   remote.c    backend on a server: hiredis
 *   output.c    printing replies: text (pretty JSON on a terminal) or --json
 *   progress.c  the progress bar of long work
 *   tools.c     backup, restore, check, compact, stats
 *   transfer.c  import and export
 *
 * Both backends answer a command with a hiredis redisReply, so the REPL and
 * the printing code never know which one they talk to: the remote one gets
 * it from the server, the embedded one parses the RESP2 bytes burrowd's
 * command wrote with hiredis's reader. The same command table serves both,
 * so a command has the same syntax, replies and errors on a file and on a
 * server.
 */
#ifndef BURROW_CLI_H
#define BURROW_CLI_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "burrow.h"

/* ---- output (output.c) ---------------------------------------------------- */

typedef struct cli_out {
    FILE *f;     /* where replies go (stdout) */
    bool pretty; /* indent JSON (stdout is a terminal and not --json) */
    bool json;   /* --json: every reply as one line of JSON */
} cli_out;

/* Print one reply. Returns 1 when it is an error reply, else 0. */
int out_reply(const cli_out *o, const redisReply *r);
/* Print a value (bytes of a string or a JSON document): JSON text as JSON
 * (pretty when o->pretty), anything else as a JSON string. */
void out_value(const cli_out *o, const char *p, size_t n);
/* Write p as a JSON string (quotes and escapes) to f. */
void out_json_string(FILE *f, const char *p, size_t n);
/* Print an error line: "(error) text", or {"error": text} with --json. */
void out_error(const cli_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print a note for a person: "text" on stdout in text mode, nothing with
 * --json (so scripts read only replies). */
void out_note(const cli_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A reply the CLI makes itself (errors of the CLI, txn commands). Free
 * with freeReplyObject. */
redisReply *reply_new_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
redisReply *reply_new_status(const char *s);

/* ---- backends (embedded.c, remote.c) -------------------------------------- */

typedef struct backend backend;

enum txn_op { TXN_BEGIN, TXN_COMMIT, TXN_ROLLBACK };

struct backend {
    const char *where; /* the file or host:port, for the prompt */
    /* Run one command; a reply (never NULL unless the backend is gone, with
     * a message printed). The caller frees it with freeReplyObject. */
    redisReply *(*run)(backend *be, int argc, const char **argv, const size_t *lens);
    /* begin/commit/rollback; NULL when the backend has none (a server). */
    redisReply *(*txn)(backend *be, int op);
    /* A dot-command the backend answers itself (.stats, .dump, ...):
     * 0 done, 1 not known here (the REPL then uses commands). */
    int (*dot)(backend *be, const cli_out *o, int argc, const char **argv);
    /* End: flush and close, saying what it did (text mode). 0 or 1 when
     * something failed. */
    int (*close)(backend *be, const cli_out *o);
    bool in_txn; /* between begin and commit/rollback */
};

/* Open the file (created when missing) as a backend, with a hot tier of
 * hot_mem bytes (0: off); NULL with a message printed on stderr. A NULL
 * path opens a temporary database deleted at close. */
backend *embedded_open(const char *path, size_t hot_mem);
/* Connect to host:port, AUTH with password when not NULL. */
backend *remote_open(const char *host, int port, const char *password);

/* ---- the REPL (repl.c) ------------------------------------------------------ */

typedef struct repl_options {
    cli_out out;
    bool interactive;       /* standard input is a terminal */
    const char *history;    /* history file; NULL = none */
    char **commands;        /* commands given on the command line (run and exit) */
    int ncommands;
} repl_options;

/* Run the REPL (or the given commands, or standard input) on be, then close
 * it. Returns the exit status: 0, or 1 when a non-interactive command
 * failed or closing failed. */
int repl_run(backend *be, const repl_options *opt);

/* The names tab completion offers (REPL commands, dot-commands, burrowd's
 * commands), NULL-terminated, sorted. */
const char *const *repl_command_names(void);

/* ---- splitting lines (lex.c) ------------------------------------------------ */

typedef struct lex_args {
    int argc;
    char **argv;  /* each NUL-terminated (and may hold NULs inside: see lens) */
    size_t *lens;
} lex_args;

enum lex_result { LEX_OK = 0, LEX_MORE = 1, LEX_ERROR = 2 };

/* Split text into arguments: blanks separate; "..." and '...' quote (with
 * \n \t \r \\ \" \' \xHH escapes in double quotes); an argument starting
 * with { or [ runs to its matching bracket, blanks and strings inside
 * included, so JSON needs no quotes. LEX_MORE when a bracket or quote is
 * still open (the REPL then reads another line), LEX_ERROR with a message
 * in err. */
int lex_split(const char *text, lex_args *out, char *err, size_t errlen);
void lex_free(lex_args *a);

/* ---- progress (progress.c) ------------------------------------------------- */

typedef struct progress {
    const char *label; /* "backup", "import", ... */
    const char *unit;  /* "B" for bytes (shown as MB/s), else a word: "pages" */
    bool on;           /* stderr is a terminal */
    uint64_t start_us, last_draw_us;
    bool drew;
} progress;

void progress_init(progress *p, const char *label, const char *unit);
/* A burrow_progress_fn: ctx is the progress. Draws at most ten times a
 * second, and once at done == total. Always returns 0. */
int progress_update(void *ctx, uint64_t done, uint64_t total);
/* End the bar's line (if one was drawn). */
void progress_done(progress *p);

/* ---- subcommands (tools.c, transfer.c) ------------------------------------- */

int tool_backup(int argc, char **argv);
int tool_restore(int argc, char **argv);
int tool_check(int argc, char **argv);
int tool_compact(int argc, char **argv);
int tool_stats(int argc, char **argv, bool json);
int tool_import(int argc, char **argv);
int tool_export(int argc, char **argv);

/* The --help text of a subcommand (NULL when unknown). */
const char *tool_help(const char *name);

/* Open a database file for a tool: prints why on stderr and returns NULL
 * when it cannot (a server holding it gets a hint to use its commands). */
burrow_db *tool_open(const char *path, unsigned flags);
/* "what: errmsg or strerror" on stderr. */
void tool_error(const char *what, int rc);

#endif
