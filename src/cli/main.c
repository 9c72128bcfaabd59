/*
 * main.c — burrow's entry: which subcommand, which backend, and the help
 * texts (burrow --help, burrow CMD --help; docs/cli.md says the same at
 * length).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/server.h"

static const char main_help[] =
    "burrow — the BurrowDB shell and toolbox\n"
    "\n"
    "Usage:\n"
    "  burrow [OPTIONS] [FILE] [COMMAND ...]     shell on a database file (created when missing;\n"
    "                                            without FILE, a temporary database)\n"
    "  burrow -h HOST -p PORT [-a PASSWORD] [OPTIONS] [COMMAND ...]\n"
    "                                            the same shell on a burrowd server\n"
    "  burrow backup FILE DEST [--compact]       hot copy of FILE to DEST\n"
    "  burrow restore BACKUP FILE                replace FILE with a checked backup\n"
    "  burrow check FILE                         full integrity check (exit 0 clean, 1 problems)\n"
    "  burrow compact FILE                       rewrite FILE without free pages\n"
    "  burrow import FILE COLLECTION INPUT [--stop-on-error] [--batch N]\n"
    "                                            JSON lines or a JSON array into a collection\n"
    "  burrow export FILE COLLECTION [OUTPUT]    a collection as JSON lines\n"
    "  burrow stats FILE [--json]                file, bucket and collection statistics\n"
    "  burrow help [CMD], burrow CMD --help      help\n"
    "\n"
    "Shell options:\n"
    "  --json            print every reply as one line of JSON (for scripts)\n"
    "  --hot-mem SIZE    hot tier budget for a file (e.g. 64mb; default off)\n"
    "  -h HOST, -p PORT  connect to a server (default port 7379)\n"
    "  -a PASSWORD       AUTH with this password\n"
    "\n"
    "With COMMANDs the shell runs them in order and exits (burrow app.db 'get k');\n"
    "commands also come from standard input when it is not a terminal. Exit status:\n"
    "0, or 1 when a command replied an error. In the shell, .help lists the commands.\n"
    "History is kept in ~/.burrow_history (or $BURROW_HISTORY). docs/cli.md has it all.\n";

static const struct {
    const char *name, *help;
} tool_helps[] = {
    {"backup",
     "Usage: burrow backup FILE DEST [--compact]\n"
     "Copy the last commit of FILE to DEST while FILE stays usable (readers and\n"
     "another process's reads go on). DEST is written to a temporary file, synced and\n"
     "renamed, so it holds the old content or the whole backup, never half.\n"
     "--compact copies only live pages, renumbered in tree order, without free space.\n"
     "A FILE held by a running burrowd is locked: use the server's BACKUP command.\n"},
    {"restore",
     "Usage: burrow restore BACKUP FILE\n"
     "Check BACKUP in full, then replace FILE with it atomically. FILE must not be open\n"
     "anywhere (stop burrowd first). Exit 1 and FILE untouched when BACKUP is damaged.\n"},
    {"check",
     "Usage: burrow check FILE\n"
     "Walk every page of the last commit: checksums, structure, key order, counts,\n"
     "overflow runs, the freelist, and that each page is used exactly once. Each\n"
     "problem is printed on its own line, starting with its page. Exit status 0 when\n"
     "clean, 1 when problems were found (or FILE does not open), 2 on a usage error.\n"},
    {"compact",
     "Usage: burrow compact FILE\n"
     "Rewrite FILE with only its live pages (smaller after many deletes), atomically:\n"
     "a crash leaves the old file or the new one. FILE must not be open anywhere;\n"
     "on a running server use its COMPACT command.\n"},
    {"import",
     "Usage: burrow import FILE COLLECTION INPUT [--stop-on-error] [--batch N]\n"
     "Insert the documents of INPUT (\"-\" for standard input) into COLLECTION (created\n"
     "when missing). INPUT is JSON lines (one object per line) or one JSON array.\n"
     "Documents go in by transactions of N (default 1000). A document that is refused\n"
     "(bad JSON, a schema rule, a duplicate _id) is reported as INPUT:LINE: why and\n"
     "skipped, or with --stop-on-error ends the import (earlier documents are kept).\n"
     "Exit status 0 when every document went in, else 1.\n"},
    {"export",
     "Usage: burrow export FILE COLLECTION [OUTPUT]\n"
     "Write every document of COLLECTION, in id order, as JSON lines to OUTPUT\n"
     "(default: standard output), from one snapshot.\n"},
    {"stats",
     "Usage: burrow stats FILE [--json]\n"
     "Print the file's size, pages, free pages, last transaction, every bucket with its\n"
     "keys and pages, and every collection with its document count.\n"},
    {NULL, NULL},
};

const char *tool_help(const char *name)
{
    for (int i = 0; tool_helps[i].name; i++)
        if (strcmp(tool_helps[i].name, name) == 0) return tool_helps[i].help;
    return NULL;
}

static bool wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0) return true;
    return false;
}

static int run_tool(const char *name, int argc, char **argv, bool json)
{
    if (wants_help(argc, argv)) return fputs(tool_help(name), stdout), 0;
    if (strcmp(name, "backup") == 0) return tool_backup(argc, argv);
    if (strcmp(name, "restore") == 0) return tool_restore(argc, argv);
    if (strcmp(name, "check") == 0) return tool_check(argc, argv);
    if (strcmp(name, "compact") == 0) return tool_compact(argc, argv);
    if (strcmp(name, "import") == 0) return tool_import(argc, argv);
    if (strcmp(name, "export") == 0) return tool_export(argc, argv);
    return tool_stats(argc, argv, json);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "burrow: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(burrow --help shows the usage)\n");
    return 2;
}

int main(int argc, char **argv)
{
    bool json = false;
    const char *host = NULL, *password = NULL;
    int port = 7379;
    size_t hot_mem = 0;
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0) return fputs(main_help, stdout), 0;
        if (strcmp(a, "--json") == 0) {
            json = true;
        } else if ((strcmp(a, "-h") == 0 || strcmp(a, "--host") == 0) && i + 1 < argc) {
            host = argv[++i];
        } else if ((strcmp(a, "-p") == 0 || strcmp(a, "--port") == 0) && i + 1 < argc) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 1 || p > 65535) return usage_error("bad port '%s'", argv[i]);
            port = (int)p;
        } else if ((strcmp(a, "-a") == 0 || strcmp(a, "--pass") == 0) && i + 1 < argc) {
            password = argv[++i];
        } else if (strcmp(a, "--hot-mem") == 0 && i + 1 < argc) {
            if (config_parse_size(argv[++i], &hot_mem)) return usage_error("bad size '%s'", argv[i]);
        } else if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option '%s'", a);
        } else {
            break;
        }
    }
    if (i < argc && !host) {
        const char *sub = argv[i];
        if (strcmp(sub, "help") == 0) {
            const char *h = i + 1 < argc ? tool_help(argv[i + 1]) : NULL;
            return fputs(h ? h : main_help, stdout), 0;
        }
        if (tool_help(sub)) return run_tool(sub, argc - i, argv + i, json);
    }
    if (password && !host) return usage_error("%s", "-a needs -h HOST");

    backend *be;
    if (host) {
        be = remote_open(host, port, password);
    } else {
        const char *file = i < argc ? argv[i++] : NULL;
        be = embedded_open(file, hot_mem);
    }
    if (!be) return 1;
    repl_options opt = {
        .out = {.f = stdout, .json = json, .pretty = !json && isatty(STDOUT_FILENO)},
        .commands = argv + i,
        .ncommands = argc - i,
    };
    opt.interactive = opt.ncommands == 0 && isatty(STDIN_FILENO);
    char hist[4096];
    const char *h = getenv("BURROW_HISTORY");
    if (h && *h) opt.history = h;
    else if ((h = getenv("HOME")) && *h && snprintf(hist, sizeof hist, "%s/.burrow_history", h) < (int)sizeof hist)
        opt.history = hist;
    return repl_run(be, &opt);
}
