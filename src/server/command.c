/*
 * command.c — the command table (the families' tables, found by name) and
 * the helpers command.h gives every command.
 */
#include "server/command.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "server/server_int.h"

/* Every family's table. A new family adds its table here. */
static const cmd_def *const families[] = {
    cmd_conn,
    cmd_admin,
    cmd_multi,
    cmd_pubsub,
    cmd_keys,
    cmd_json,
    cmd_doc,
    cmd_tier,
    cmd_backup,
};

#define NAME_MAX_LEN 32
#define TABLE_SLOTS 1024 /* power of two, well above the number of commands */

static const cmd_def *table[TABLE_SLOTS];
static size_t ncommands;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static uint64_t name_hash(const char *lower, size_t n) { return hash64(lower, n, 0x636d64u); }

static void table_build(void)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        for (const cmd_def *d = families[f]; d->name; d++) {
            size_t n = strlen(d->name);
            uint64_t h = name_hash(d->name, n);
            size_t i = h & (TABLE_SLOTS - 1);
            while (table[i]) i = (i + 1) & (TABLE_SLOTS - 1);
            table[i] = d;
            ncommands++;
        }
    }
}

const cmd_def *cmd_find(const char *name, size_t n)
{
    pthread_once(&table_once, table_build);
    if (n == 0 || n > NAME_MAX_LEN) return NULL;
    char lower[NAME_MAX_LEN];
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        lower[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
    uint64_t h = name_hash(lower, n);
    for (size_t i = h & (TABLE_SLOTS - 1);; i = (i + 1) & (TABLE_SLOTS - 1)) {
        const cmd_def *d = table[i];
        if (!d) return NULL;
        if (strlen(d->name) == n && memcmp(d->name, lower, n) == 0) return d;
    }
}

void cmd_each(void (*fn)(void *ctx, const cmd_def *d), void *ctx)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (const cmd_def *d = families[f]; d->name; d++) fn(ctx, d);
}

size_t cmd_count(void)
{
    pthread_once(&table_once, table_build);
    return ncommands;
}

/* ---- argument helpers ------------------------------------------------------- */

bool cmd_arg_is(const cmd_ctx *c, uint32_t i, const char *s)
{
    if (i >= c->argc) return false;
    size_t n = strlen(s);
    if (c->argv[i].len != n) return false;
    for (size_t k = 0; k < n; k++) {
        char a = c->argv[i].ptr[k], b = s[k];
        if (a >= 'A' && a <= 'Z') a = (char)(a + 32);
        if (b >= 'A' && b <= 'Z') b = (char)(b + 32);
        if (a != b) return false;
    }
    return true;
}

bool cmd_parse_int(const char *p, size_t n, int64_t *out)
{
    if (n == 0 || n > 20) return false;
    size_t i = 0;
    bool neg = false;
    if (p[0] == '-') {
        neg = true;
        i = 1;
        if (n == 1) return false;
    }
    if (p[i] == '0' && n > i + 1) return false; /* no leading zeros */
    if (neg && p[i] == '0') return false;       /* no "-0" */
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return false;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return false;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v;
    }
    return true;
}

bool cmd_arg_int(const cmd_ctx *c, uint32_t i, int64_t *out)
{
    return i < c->argc && cmd_parse_int(c->argv[i].ptr, c->argv[i].len, out);
}

bool cmd_parse_double(const char *p, size_t n, double *out)
{
    char tmp[128];
    if (n == 0 || n >= sizeof tmp) return false;
    if (p[0] == ' ' || p[0] == '\t' || p[0] == '\n' || p[0] == '\r' || p[0] == '\v' || p[0] == '\f')
        return false; /* strtod would skip it; Redis refuses it */
    memcpy(tmp, p, n);
    tmp[n] = 0;
    char *end;
    errno = 0;
    double d = strtod(tmp, &end);
    if (end != tmp + n || isnan(d) || (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL || d == 0)))
        return false;
    *out = d;
    return true;
}

/* ---- error replies ---------------------------------------------------------- */

int cmd_err_syntax(cmd_ctx *c) { return resp_error(c->out, "ERR syntax error", 16), 0; }

int cmd_err_int(cmd_ctx *c)
{
    static const char t[] = "ERR value is not an integer or out of range";
    return resp_error(c->out, t, sizeof t - 1), 0;
}

int cmd_err_float(cmd_ctx *c)
{
    static const char t[] = "ERR value is not a valid float";
    return resp_error(c->out, t, sizeof t - 1), 0;
}

int cmd_err_wrongtype(cmd_ctx *c)
{
    static const char t[] = "WRONGTYPE Operation against a key holding the wrong kind of value";
    return resp_error(c->out, t, sizeof t - 1), 0;
}

int cmd_err_arity(cmd_ctx *c)
{
    return resp_errorf(c->out, "ERR wrong number of arguments for '%s' command", c->cmd->name), 0;
}

int cmd_fail(cmd_ctx *c, int rc)
{
    const char *detail = burrow_errmsg();
    resp_errorf(c->out, "ERR %s", detail && *detail ? detail : burrow_strerror(rc));
    switch (rc) {
    case BURROW_EINVAL:
    case BURROW_ENOTFOUND:
    case BURROW_EEXIST:
    case BURROW_ECONSTRAINT:
    case BURROW_EJSON:
    case BURROW_ETYPE:
    case BURROW_ERANGE:
    case BURROW_EKEYSIZE:
    case BURROW_EVALSIZE:
    case BURROW_EBUSY:
    case BURROW_EREADONLY:
        return 0;
    default:
        return rc;
    }
}
