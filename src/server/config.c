/*
 * config.c — burrowd's settings: defaults, command-line flags, the config
 * file, CONFIG GET and CONFIG SET.
 *
 * Every setting has one name, used alike as a flag (--hot-mem 1gb), as a
 * config file line (hot-mem 1gb) and by CONFIG GET/SET. The config file is
 * Redis's format: one "name value" per line, # starts a comment, values
 * may be "quoted". Flags override the file. A few Redis names are accepted
 * as aliases (maxmemory, maxmemory-policy, appendfsync, ...) so tools that
 * read them find an answer.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/glob.h"
#include "server/server.h"

enum kind { K_STR, K_INT, K_SIZE, K_DURABILITY, K_EVICTION, K_U32 };

typedef struct setting {
    const char *name;
    const char *alias; /* Redis's name, or NULL */
    enum kind kind;
    size_t off;
    bool live;         /* CONFIG SET may change it */
    long long min, max;
    const char *help;
} setting;

#define OFF(f) offsetof(server_config, f)

static const setting settings[] = {
    {"port", NULL, K_INT, OFF(port), false, 0, 65535, "TCP port (default 7379; 0 picks a free one)"},
    {"bind", NULL, K_STR, OFF(bind), false, 0, 0, "address to listen on (default 127.0.0.1)"},
    {"dir", NULL, K_STR, OFF(dir), false, 0, 0, "data directory (default ./data)"},
    {"dbfilename", NULL, K_STR, OFF(dbfilename), false, 0, 0, "database file in dir (default burrow.db)"},
    {"threads", "io-threads", K_INT, OFF(threads), false, 1, SERVER_MAX_THREADS, "network threads (default: cores)"},
    {"durability", "appendfsync", K_DURABILITY, OFF(durability), false, 0, 0,
     "always | everysec | no (default always)"},
    {"hot-mem", "maxmemory", K_SIZE, OFF(hot_mem), true, 0, 0, "hot tier budget, e.g. 512mb (default 0 = off)"},
    {"eviction", "maxmemory-policy", K_EVICTION, OFF(eviction), true, 0, 0, "lru | lfu | hybrid (default hybrid)"},
    {"maxclients", NULL, K_U32, OFF(maxclients), true, 1, 1000000, "most clients at once (default 10000)"},
    {"requirepass", NULL, K_STR, OFF(requirepass), true, 0, 0, "password clients must AUTH with (default none)"},
    {"proto-max-bulk-len", NULL, K_SIZE, OFF(max_bulk), true, 1024, 4294967295LL,
     "largest argument (default 512mb)"},
    {"max-args", NULL, K_U32, OFF(max_args), true, 1, 1 << 30, "most arguments in one request (default 1048576)"},
    {"max-inline", NULL, K_SIZE, OFF(max_inline), true, 256, 1 << 30, "longest inline request (default 64kb)"},
    {"client-query-buffer-limit", NULL, K_SIZE, OFF(max_request_bytes), true, 1024 * 1024, 1LL << 40,
     "bytes of one request held in memory (default 1gb)"},
    {"output-limit", NULL, K_SIZE, OFF(output_limit), true, 0, 0,
     "unwritten reply bytes of a client before it is disconnected (default 256mb)"},
    {"pubsub-output-limit", NULL, K_SIZE, OFF(pubsub_output_limit), true, 0, 0,
     "the same for subscribers (default 32mb)"},
    {"max-pipeline", NULL, K_U32, OFF(max_pipeline), true, 1, 1 << 24,
     "requests of a client in flight; beyond, reading pauses (default 4096)"},
    {"timeout", NULL, K_U32, OFF(timeout), true, 0, 1u << 31, "close clients idle this many seconds (default 0 = never)"},
    {"tcp-backlog", NULL, K_INT, OFF(tcp_backlog), false, 1, 65535, "listen backlog (default 511)"},
};

#define NSETTINGS (sizeof settings / sizeof settings[0])

static const char *const durability_names[] = {"always", "everysec", "no"};
static const char *const eviction_names[] = {"hybrid", "lru", "lfu"};

void config_defaults(server_config *c)
{
    memset(c, 0, sizeof *c);
    c->bind = strdup("127.0.0.1");
    c->port = 7379;
    c->dir = strdup("./data");
    c->dbfilename = strdup("burrow.db");
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->threads = n < 1 ? 1 : n > SERVER_MAX_THREADS ? SERVER_MAX_THREADS : (int)n;
    c->durability = DUR_ALWAYS;
    c->eviction = BURROW_TIER_HYBRID;
    c->maxclients = 10000;
    c->max_bulk = 512u * 1024 * 1024;
    c->max_args = 1024 * 1024;
    c->max_inline = 64 * 1024;
    c->max_request_bytes = 1024u * 1024 * 1024;
    c->output_limit = 256u * 1024 * 1024;
    c->pubsub_output_limit = 32u * 1024 * 1024;
    c->max_pipeline = 4096;
    c->timeout = 0;
    c->tcp_backlog = 511;
}

void config_free(server_config *c)
{
    free(c->bind);
    free(c->dir);
    free(c->dbfilename);
    free(c->requirepass);
    free(c->config_file);
    memset(c, 0, sizeof *c);
}

int config_parse_size(const char *s, size_t *out)
{
    if (!*s || !isdigit((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno) return -1;
    unsigned long long mul = 1;
    if (!strcasecmp(end, "")) mul = 1;
    else if (!strcasecmp(end, "k")) mul = 1000;
    else if (!strcasecmp(end, "kb")) mul = 1024;
    else if (!strcasecmp(end, "m")) mul = 1000ULL * 1000;
    else if (!strcasecmp(end, "mb")) mul = 1024ULL * 1024;
    else if (!strcasecmp(end, "g")) mul = 1000ULL * 1000 * 1000;
    else if (!strcasecmp(end, "gb")) mul = 1024ULL * 1024 * 1024;
    else return -1;
    if (v > (unsigned long long)SIZE_MAX / mul) return -1;
    *out = (size_t)(v * mul);
    return 0;
}

static const setting *find_setting(const char *name)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (!strcasecmp(settings[i].name, name) || (settings[i].alias && !strcasecmp(settings[i].alias, name)))
            return &settings[i];
    return NULL;
}

static int parse_enum(const char *v, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(v, names[i])) return (int)i;
    return -1;
}

int config_set(server_config *c, const char *name, const char *value, bool live, char *err, size_t errlen)
{
    const setting *st = find_setting(name);
    if (!st) return snprintf(err, errlen, "unknown setting '%s'", name), -1;
    if (live && !st->live)
        return snprintf(err, errlen, "'%s' cannot be changed while the server runs", st->name), -1;
    char *base = (char *)c + st->off;
    switch (st->kind) {
    case K_STR: {
        char *v = strdup(value);
        if (!v) return snprintf(err, errlen, "out of memory"), -1;
        char **slot = (char **)(void *)base;
        free(*slot);
        /* an empty requirepass means no password, as in Redis */
        if (!strcmp(st->name, "requirepass") && !*v) {
            free(v);
            v = NULL;
        }
        *slot = v;
        return 0;
    }
    case K_INT:
    case K_U32: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || !*value || *end || v < st->min || v > st->max)
            return snprintf(err, errlen, "'%s' must be an integer from %lld to %lld, not '%s'", st->name, st->min,
                            st->max, value),
                   -1;
        if (st->kind == K_INT) *(int *)(void *)base = (int)v;
        else *(uint32_t *)(void *)base = (uint32_t)v;
        return 0;
    }
    case K_SIZE: {
        size_t v;
        if (config_parse_size(value, &v) ||
            (st->max && ((long long)v < st->min || (unsigned long long)v > (unsigned long long)st->max)))
            return snprintf(err, errlen, "'%s' must be a size such as 64mb%s, not '%s'", st->name,
                            st->max ? " within its limits" : "", value),
                   -1;
        *(size_t *)(void *)base = v;
        return 0;
    }
    case K_DURABILITY: {
        int v = parse_enum(value, durability_names, 3);
        if (v < 0) return snprintf(err, errlen, "'%s' must be always, everysec or no", st->name), -1;
        *(int *)(void *)base = v;
        return 0;
    }
    case K_EVICTION: {
        int v = parse_enum(value, eviction_names, 3);
        if (v < 0) return snprintf(err, errlen, "'%s' must be lru, lfu or hybrid", st->name), -1;
        *(int *)(void *)base = v == 0 ? BURROW_TIER_HYBRID : v == 1 ? BURROW_TIER_LRU : BURROW_TIER_LFU;
        return 0;
    }
    }
    return -1;
}

static void format_value(const server_config *c, const setting *st, char *out, size_t n)
{
    const char *base = (const char *)c + st->off;
    switch (st->kind) {
    case K_STR: {
        const char *v = *(char *const *)(const void *)base;
        snprintf(out, n, "%s", v ? v : "");
        break;
    }
    case K_INT: snprintf(out, n, "%d", *(const int *)(const void *)base); break;
    case K_U32: snprintf(out, n, "%u", *(const uint32_t *)(const void *)base); break;
    case K_SIZE: snprintf(out, n, "%zu", *(const size_t *)(const void *)base); break;
    case K_DURABILITY: snprintf(out, n, "%s", durability_names[*(const int *)(const void *)base]); break;
    case K_EVICTION: {
        int v = *(const int *)(const void *)base;
        snprintf(out, n, "%s", v == BURROW_TIER_LRU ? "lru" : v == BURROW_TIER_LFU ? "lfu" : "hybrid");
        break;
    }
    }
}

void config_each(const server_config *c, const char *pattern, size_t plen,
                 void (*fn)(void *ctx, const char *name, const char *value), void *ctx)
{
    char v[512];
    for (size_t i = 0; i < NSETTINGS; i++) {
        const setting *st = &settings[i];
        bool m = glob_match(pattern, plen, st->name, strlen(st->name), true);
        bool ma = st->alias && glob_match(pattern, plen, st->alias, strlen(st->alias), true);
        if (!m && !ma) continue;
        format_value(c, st, v, sizeof v);
        if (m) fn(ctx, st->name, v);
        if (ma) fn(ctx, st->alias, v);
    }
    /* Redis settings that tools read and that have a fixed answer here */
    static const char *const fixed[][2] = {{"save", ""}, {"databases", "1"}, {"appendonly", NULL}};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!glob_match(pattern, plen, fixed[i][0], strlen(fixed[i][0]), true)) continue;
        const char *val = fixed[i][1] ? fixed[i][1] : (c->durability == DUR_NO ? "no" : "yes");
        fn(ctx, fixed[i][0], val);
    }
}

/* ---- the config file ------------------------------------------------------- */

/* Split a line into name and value (value may be "quoted"). 0 when the line
 * is empty or a comment, 1 when split, -1 when malformed. */
static int split_line(char *line, char **name, char **value)
{
    char *p = line;
    while (isspace((unsigned char)*p)) p++;
    if (!*p || *p == '#') return 0;
    *name = p;
    while (*p && !isspace((unsigned char)*p)) p++;
    if (!*p) return -1;
    *p++ = 0;
    while (isspace((unsigned char)*p)) p++;
    char *e = p + strlen(p);
    while (e > p && isspace((unsigned char)e[-1])) *--e = 0;
    if (*p == '"' || *p == '\'') {
        if (e - p < 2 || e[-1] != *p) return -1;
        e[-1] = 0;
        p++;
    }
    *value = p;
    return 1;
}

static int config_load_file(server_config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) return snprintf(err, errlen, "cannot open config file %s: %s", path, strerror(errno)), -1;
    char line[4096];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *name, *value;
        int r = split_line(line, &name, &value);
        if (r == 0) continue;
        char e2[256];
        if (r < 0) {
            snprintf(err, errlen, "%s:%d: expected 'name value'", path, lineno);
            rc = -1;
            break;
        }
        if (config_set(c, name, value, false, e2, sizeof e2)) {
            snprintf(err, errlen, "%s:%d: %s", path, lineno, e2);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

void config_print_help(void)
{
    printf("Usage: burrowd [--config FILE] [--NAME VALUE ...]\n\n"
           "BurrowDB server: speaks the Redis protocol (RESP2/RESP3) on TCP.\n\n"
           "Settings (as flags, as 'NAME VALUE' lines of the config file, and by CONFIG GET/SET\n"
           "for those marked live):\n");
    for (size_t i = 0; i < NSETTINGS; i++)
        printf("  --%-27s %s%s\n", settings[i].name, settings[i].help, settings[i].live ? " [live]" : "");
    printf("  --%-27s %s\n", "config FILE", "read settings from FILE first (flags override it)");
    printf("  --%-27s %s\n", "help", "print this and exit");
    printf("\nSizes take k, kb, m, mb, g, gb (k = 1000, kb = 1024). SIGTERM or SIGINT shut down gracefully.\n");
}

int config_from_args(server_config *c, int argc, char **argv, char *err, size_t errlen)
{
    /* the config file first, wherever --config appears */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_print_help();
            return 1;
        }
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) return snprintf(err, errlen, "--config needs a file name"), -1;
            free(c->config_file);
            c->config_file = strdup(argv[i + 1]);
            if (config_load_file(c, argv[i + 1], err, errlen)) return -1;
            i++;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config")) {
            i++;
            continue;
        }
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) return snprintf(err, errlen, "unexpected argument '%s' (try --help)", a), -1;
        a += 2;
        const char *eq = strchr(a, '=');
        char name[64];
        const char *value;
        if (eq) {
            size_t n = (size_t)(eq - a);
            if (n >= sizeof name) return snprintf(err, errlen, "unknown flag '%s'", argv[i]), -1;
            memcpy(name, a, n);
            name[n] = 0;
            value = eq + 1;
        } else {
            if (strlen(a) >= sizeof name) return snprintf(err, errlen, "unknown flag '%s'", argv[i]), -1;
            strcpy(name, a);
            if (i + 1 >= argc) return snprintf(err, errlen, "--%s needs a value", name), -1;
            value = argv[++i];
        }
        char e2[256];
        if (config_set(c, name, value, false, e2, sizeof e2))
            return snprintf(err, errlen, "--%s: %s", name, e2), -1;
    }
    return 0;
}
