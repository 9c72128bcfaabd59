/*
 * repl.c — burrow's read-eval-print loop, the same on a file and on a
 * server (the backend decides where a command runs).
 *
 * Input comes from one of three places:
 *   - commands on the command line (`burrow FILE 'get k' 'count'`): each
 *     argument is one input, run in order, then the REPL ends;
 *   - a terminal: libedit's line editing, history kept in the history
 *     file, tab completion of command names, prompts;
 *   - anything else on standard input: lines read without prompts.
 * An input whose brackets or quotes are still open continues on the next
 * line (prompt "...> "), so JSON can be typed or pasted over many lines.
 *
 * What a line may be (after lex.c splits it):
 *   set k v [EX s ...] -> SET        get k    -> GET (JSON.GET for a JSON key)
 *   delete k [k ...]   -> DEL        count    -> DBSIZE; count coll [filter]
 *                                               -> DOC.COUNT
 *   scan [start] [end] -> the keys from start (inclusive) to end (exclusive)
 *                         in byte order, each with its value (SCAN + GET)
 *   begin, commit, rollback  -> the backend's transactions (files only)
 *   .stats .dump [bucket] .collections .indexes [coll] .tier .help .exit
 *   exit, quit         -> .exit
 *   anything else      -> sent as it is: DOC.*, JSON.*, EXPIRE, INFO, ...
 *
 * Exit status: 0; 1 when, without a terminal, a command replied an error
 * (so scripts can tell), or when closing failed.
 */
#include <editline/readline.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/command.h"

enum step { STEP_OK = 0, STEP_FAILED = 1, STEP_EXIT = 2 };

static const char *const repl_words[] = {
    "set", "get", "delete", "scan", "count", "begin", "commit", "rollback", "exit", "quit",
    ".stats", ".dump", ".collections", ".indexes", ".tier", ".help", ".exit",
};

/* ---- command names (tab completion) --------------------------------------------- */

static const char **names;
static size_t nnames;

static void add_name(const char *n)
{
    for (size_t i = 0; i < nnames; i++)
        if (strcmp(names[i], n) == 0) return;
    const char **p = realloc(names, (nnames + 2) * sizeof *p);
    if (!p) return;
    names = p;
    names[nnames++] = n;
    names[nnames] = NULL;
}

static void add_cmd(void *ctx, const cmd_def *d)
{
    (void)ctx;
    add_name(d->name);
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

const char *const *repl_command_names(void)
{
    if (!names) {
        for (size_t i = 0; i < sizeof repl_words / sizeof repl_words[0]; i++) add_name(repl_words[i]);
        cmd_each(add_cmd, NULL);
        if (names) qsort(names, nnames, sizeof *names, cmp_names);
    }
    return names;
}

static char *complete_next(const char *text, int state)
{
    static size_t at, len;
    const char *const *all = repl_command_names();
    if (!all) return NULL;
    if (state == 0) {
        at = 0;
        len = strlen(text);
    }
    while (all[at]) {
        const char *n = all[at++];
        if (strncasecmp(n, text, len) == 0) return strdup(n);
    }
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* no file names */
    if (start != 0) return NULL;       /* command names only in the first word */
    return rl_completion_matches(text, complete_next);
}

/* ---- help ------------------------------------------------------------------------- */

static const char help_text[] =
    "Commands (the same on a file and on a server):\n"
    "  set KEY VALUE [EX s|PX ms|NX|XX]  store a value (a JSON text or any string)\n"
    "  get KEY                           the value, or (nil)\n"
    "  delete KEY [KEY ...]              delete keys; replies how many existed\n"
    "  scan [START] [END]                keys from START (inclusive) to END (exclusive), with values\n"
    "  count                             number of keys;  count COLL [FILTER]: documents\n"
    "  doc.create COLL [SCHEMA json]     the DOC.* commands of burrowd, same syntax:\n"
    "  doc.insert COLL json              doc.get COLL ID [FIELDS f ...]\n"
    "  doc.find COLL [filter] [SORT f ASC|DESC ...] [SKIP n] [LIMIT n] [FIELDS f ...]\n"
    "  doc.update COLL ID update [IF filter] [UPSERT]   doc.delete COLL ID   doc.count COLL [filter]\n"
    "  doc.index create|drop|list ...    doc.aggregate, doc.explain, doc.list, doc.drop\n"
    "  any other burrowd command         JSON.SET, JSON.GET, EXPIRE, TTL, INFO, CHECK, ...\n"
    "  begin | commit | rollback         one transaction for many commands (files only)\n"
    "Dot-commands:\n"
    "  .stats                  file and database statistics (INFO on a server)\n"
    "  .dump [BUCKET]          the buckets, or one bucket's tree (files only)\n"
    "  .collections            collections and their document counts\n"
    "  .indexes [COLL]         indexes of one or every collection\n"
    "  .tier                   hot tier statistics\n"
    "  .help                   this text\n"
    "  .exit                   flush, close and leave (also exit, quit, Ctrl-D)\n"
    "JSON needs no quotes: an argument starting with { or [ runs to its closing bracket,\n"
    "and an input whose brackets are open continues on the next line.\n";

/* ---- running one input ------------------------------------------------------------ */

static bool is(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

static int print(const cli_out *o, redisReply *r)
{
    if (!r) return STEP_FAILED;
    int failed = out_reply(o, r);
    freeReplyObject(r);
    return failed ? STEP_FAILED : STEP_OK;
}

static redisReply *run_words(backend *be, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++) lens[i] = strlen(argv[i]);
    return be->run(be, argc, argv, lens);
}

/* GET, and JSON.GET when the key holds a JSON document. */
static redisReply *get_value(backend *be, const char *key, size_t klen)
{
    const char *argv[] = {"GET", key};
    size_t lens[] = {3, klen};
    redisReply *r = be->run(be, 2, argv, lens);
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "WRONGTYPE", 9) == 0) {
        freeReplyObject(r);
        argv[0] = "JSON.GET";
        lens[0] = 8;
        r = be->run(be, 2, argv, lens);
    }
    return r;
}

typedef struct key_list {
    char **k;
    size_t *len;
    size_t n, cap;
} key_list;

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

static key_list *sort_keys;
static int cmp_key_index(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    return cmp_bytes(sort_keys->k[i], sort_keys->len[i], sort_keys->k[j], sort_keys->len[j]);
}

/* scan [start] [end]: SCAN walks the whole keyspace (a server's cursor is
 * not a key), the range is applied here, then the values are read. */
static int do_scan(backend *be, const cli_out *o, const lex_args *a)
{
    const char *start = a->argc > 1 ? a->argv[1] : NULL, *end = a->argc > 2 ? a->argv[2] : NULL;
    size_t slen = start ? a->lens[1] : 0, elen = end ? a->lens[2] : 0;
    key_list kl = {0};
    char cursor[32] = "0";
    int status = STEP_OK;
    do {
        const char *argv[] = {"SCAN", cursor, "COUNT", "1000"};
        redisReply *r = run_words(be, 4, argv);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            status = r ? print(o, r) : STEP_FAILED;
            goto done;
        }
        snprintf(cursor, sizeof cursor, "%.*s", (int)r->element[0]->len, r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *k = keys->element[i];
            if (start && cmp_bytes(k->str, k->len, start, slen) < 0) continue;
            if (end && cmp_bytes(k->str, k->len, end, elen) >= 0) continue;
            if (kl.n == kl.cap) {
                kl.cap = kl.cap ? kl.cap * 2 : 64;
                kl.k = realloc(kl.k, kl.cap * sizeof *kl.k);
                kl.len = realloc(kl.len, kl.cap * sizeof *kl.len);
                if (!kl.k || !kl.len) {
                    freeReplyObject(r);
                    out_error(o, "out of memory");
                    status = STEP_FAILED;
                    goto done;
                }
            }
            kl.k[kl.n] = malloc(k->len + 1);
            memcpy(kl.k[kl.n], k->str, k->len);
            kl.len[kl.n++] = k->len;
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    size_t *order = malloc((kl.n + 1) * sizeof *order);
    for (size_t i = 0; i < kl.n; i++) order[i] = i;
    sort_keys = &kl;
    qsort(order, kl.n, sizeof *order, cmp_key_index);
    if (o->json) fputc('[', o->f);
    for (size_t i = 0; i < kl.n; i++) {
        size_t x = order[i];
        redisReply *v = get_value(be, kl.k[x], kl.len[x]);
        if (o->json) {
            fputs(i ? ",{\"key\":" : "{\"key\":", o->f);
            out_json_string(o->f, kl.k[x], kl.len[x]);
            fputs(",\"value\":", o->f);
            if (v && v->type == REDIS_REPLY_STRING) out_value(o, v->str, v->len);
            else fputs("null", o->f);
            fputc('}', o->f);
        } else {
            fwrite(kl.k[x], 1, kl.len[x], o->f);
            fputs(": ", o->f);
            cli_out one = *o;
            one.pretty = false; /* one line per key */
            if (v && v->type == REDIS_REPLY_STRING) out_value(&one, v->str, v->len);
            else fputs("(nil)", o->f);
            fputc('\n', o->f);
        }
        if (v) freeReplyObject(v);
    }
    if (o->json) fputs("]\n", o->f);
    else if (!kl.n) fputs("(no keys)\n", o->f);
    fflush(o->f);
    free(order);
done:
    for (size_t i = 0; i < kl.n; i++) free(kl.k[i]);
    free(kl.k);
    free(kl.len);
    return status;
}

/* The dot-commands a backend does not answer itself, through commands. */
static int dot_by_commands(backend *be, const cli_out *o, const lex_args *a)
{
    const char *n = a->argv[0];
    if (is(n, ".stats")) {
        const char *argv[] = {"INFO"};
        return print(o, run_words(be, 1, argv));
    }
    if (is(n, ".tier")) {
        const char *argv[] = {"TIER.STATS"};
        return print(o, run_words(be, 1, argv));
    }
    if (is(n, ".collections")) {
        const char *argv[] = {"DOC.LIST"};
        return print(o, run_words(be, 1, argv));
    }
    if (is(n, ".indexes")) {
        if (a->argc >= 2) {
            const char *argv[] = {"DOC.INDEX", "LIST", a->argv[1]};
            return print(o, run_words(be, 3, argv));
        }
        const char *argv[] = {"DOC.LIST"};
        redisReply *colls = run_words(be, 1, argv);
        if (!colls || colls->type != REDIS_REPLY_ARRAY) return print(o, colls);
        int status = STEP_OK;
        for (size_t i = 0; i < colls->elements; i++) {
            redisReply *c = colls->element[i];
            if (c->type != REDIS_REPLY_STRING) continue;
            const char *ia[] = {"DOC.INDEX", "LIST", c->str};
            if (!o->json) fprintf(o->f, "%s:\n", c->str);
            if (print(o, run_words(be, 3, ia))) status = STEP_FAILED;
        }
        if (!colls->elements && !o->json) fputs("(no collections)\n", o->f);
        freeReplyObject(colls);
        return status;
    }
    if (is(n, ".dump")) {
        out_error(o, ".dump reads the file's pages: run it with burrow FILE on the server's file (or burrow stats FILE)");
        return STEP_FAILED;
    }
    out_error(o, "unknown dot-command '%s' (.help lists them)", n);
    return STEP_FAILED;
}

static int run_input(backend *be, const cli_out *o, const lex_args *a)
{
    const char *c0 = a->argv[0];
    if (is(c0, ".exit") || is(c0, ".quit") || is(c0, "exit") || is(c0, "quit")) return STEP_EXIT;
    if (is(c0, ".help") || is(c0, "help")) {
        fputs(help_text, o->f);
        fflush(o->f);
        return STEP_OK;
    }
    if (c0[0] == '.') {
        if (be->dot && be->dot(be, o, a->argc, (const char **)a->argv) == 0) return STEP_OK;
        return dot_by_commands(be, o, a);
    }
    if (is(c0, "begin") || is(c0, "commit") || is(c0, "rollback")) {
        if (a->argc != 1) return out_error(o, "%s takes no arguments", c0), STEP_FAILED;
        if (!be->txn) {
            out_error(o, "begin/commit/rollback work on a file; on a server use MULTI ... EXEC");
            return STEP_FAILED;
        }
        return print(o, be->txn(be, is(c0, "begin") ? TXN_BEGIN : is(c0, "commit") ? TXN_COMMIT : TXN_ROLLBACK));
    }
    if (is(c0, "scan") && a->argc <= 3) return do_scan(be, o, a);
    if (is(c0, "get") && a->argc == 2) return print(o, get_value(be, a->argv[1], a->lens[1]));

    /* the renamed ones, then everything as it is */
    const char **argv = malloc((size_t)(a->argc + 1) * sizeof *argv);
    size_t *lens = malloc((size_t)(a->argc + 1) * sizeof *lens);
    if (!argv || !lens) {
        free(argv);
        free(lens);
        return out_error(o, "out of memory"), STEP_FAILED;
    }
    int argc = a->argc;
    for (int i = 0; i < argc; i++) {
        argv[i] = a->argv[i];
        lens[i] = a->lens[i];
    }
    if (is(c0, "delete")) {
        argv[0] = "DEL";
        lens[0] = 3;
    } else if (is(c0, "count")) {
        argv[0] = argc == 1 ? "DBSIZE" : "DOC.COUNT";
        lens[0] = strlen(argv[0]);
    }
    int status = print(o, be->run(be, argc, argv, lens));
    free(argv);
    free(lens);
    return status;
}

/* ---- the loop --------------------------------------------------------------------- */

typedef struct input {
    const repl_options *opt;
    int next_arg;   /* commands from the command line */
    char *line;     /* getline's buffer */
    size_t cap;
} input;

/* One line (malloc'd, no newline) or NULL at the end. */
static char *read_line(input *in, const char *prompt)
{
    const repl_options *opt = in->opt;
    if (opt->ncommands) {
        if (in->next_arg >= opt->ncommands) return NULL;
        return strdup(opt->commands[in->next_arg++]);
    }
    if (opt->interactive) return readline(prompt);
    ssize_t n = getline(&in->line, &in->cap, stdin);
    if (n < 0) return NULL;
    while (n > 0 && (in->line[n - 1] == '\n' || in->line[n - 1] == '\r')) in->line[--n] = 0;
    return strdup(in->line);
}

int repl_run(backend *be, const repl_options *opt)
{
    const cli_out *o = &opt->out;
    if (opt->interactive) {
        rl_readline_name = "burrow";
        rl_attempted_completion_function = complete;
        rl_basic_word_break_characters = " \t\n\"'{[";
        stifle_history(1000);
        if (opt->history) read_history(opt->history);
        fprintf(o->f, "burrow %d.%d.%d on %s - .help lists the commands, .exit leaves\n", BURROW_VERSION_MAJOR,
                BURROW_VERSION_MINOR, BURROW_VERSION_PATCH, be->where);
    }
    input in = {.opt = opt};
    int status = 0;
    char *text = NULL; /* the input so far (more than one line when continued) */
    size_t tlen = 0;
    for (;;) {
        char prompt[400];
        if (text) snprintf(prompt, sizeof prompt, "...> ");
        else snprintf(prompt, sizeof prompt, "%s%s> ", be->where, be->in_txn ? " (txn)" : "");
        char *line = read_line(&in, prompt);
        if (!line) {
            if (text) {
                out_error(o, "the input ended inside an open bracket or quote");
                status = 1;
            }
            if (opt->interactive) fputc('\n', o->f);
            break;
        }
        size_t ll = strlen(line);
        char *t = realloc(text, tlen + ll + 2);
        if (!t) {
            free(line);
            break;
        }
        text = t;
        if (tlen) text[tlen++] = '\n';
        memcpy(text + tlen, line, ll + 1);
        tlen += ll;
        free(line);

        lex_args a;
        char err[256];
        int lr = lex_split(text, &a, err, sizeof err);
        if (lr == LEX_MORE && !opt->ncommands) continue;
        if (opt->interactive && tlen) add_history(text);
        free(text);
        text = NULL;
        tlen = 0;
        if (lr == LEX_MORE) lr = (snprintf(err, sizeof err, "an open bracket or quote is never closed"), LEX_ERROR);
        if (lr == LEX_ERROR) {
            out_error(o, "%s", err);
            if (!opt->interactive) status = 1;
            continue;
        }
        if (a.argc == 0) continue;
        int step = run_input(be, o, &a);
        lex_free(&a);
        if (step == STEP_EXIT) break;
        if (step == STEP_FAILED && !opt->interactive) status = 1;
    }
    free(text);
    free(in.line);
    if (opt->interactive && opt->history) write_history(opt->history);
    if (be->close(be, o)) status = 1;
    return status;
}
