/*
 * cmd_keys.c — the string and key commands of burrowd (GET, SET, DEL,
 * EXPIRE, SCAN, ...), with Redis 7's semantics, arities and error texts.
 *
 * Values live in the keyspace (keyspace.h). Strings are bytes; integers are
 * stored as their decimal text, as Redis shows them, so INCR on "10" reads
 * and writes text. A JSON key (written by the JSON.* commands) answers
 * WRONGTYPE to every string command; the generic ones (DEL, EXISTS, TYPE,
 * EXPIRE, TTL, RENAME, SCAN, ...) work on either type.
 *
 * Rules every command here keeps (command.h):
 *  - reads go through cmd_lookup (the batch's read cache), and every change
 *    of a key is followed by cmd_touch (cmd_touch_all for FLUSHDB);
 *  - a refusal (syntax, type, range) is decided before anything changes,
 *    so a command that replies an error has changed nothing;
 *  - when a command writes its reply before a change (GETDEL, SET ... GET:
 *    the old value is a pointer into the database that the change ends), a
 *    failure of the change takes the reply back out of c->out before
 *    returning the error, so the data thread's own error reply stands alone.
 *
 * Time: every expiry is absolute Unix milliseconds; "now" is c->now_ms,
 * one reading per batch. A key whose expiry is at or before now is gone.
 * A command that would give a key an expiry already past deletes it, as
 * Redis does for EXPIRE; SET and GETEX with such a time do the same.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "server/command.h"
#include "server/keyspace.h"
#include "server/resp.h"

/* The longest string a command may build (APPEND, SETRANGE), Redis's
 * proto-max-bulk-len default. */
#define STRING_MAX ((uint64_t)512 * 1024 * 1024)

/* SCAN's COUNT when none is given, as in Redis. */
#define SCAN_DEFAULT_COUNT 10
/* RANDOMKEY looks at no more keys than this for a live one. */
#define RANDOM_MAX_VISIT 1000

/* A type that no key has: SCAN TYPE with a name Redis would not match. */
#define TYPE_NO_MATCH 0x7f

/* Scratch space of the data thread: a value being built (APPEND,
 * SETRANGE, INCR's text) or the keys SCAN and KEYS collect. Released
 * after use when it grew past SCRATCH_KEEP. */
#define SCRATCH_KEEP (1u << 20)
static _Thread_local buf scratch;

static void scratch_done(void)
{
    if (scratch.cap > SCRATCH_KEEP)
        buf_free(&scratch);
    scratch.size = 0;
}

/* ---- small helpers ------------------------------------------------------------- */

#define KEY(c, i) (c)->argv[i].ptr, (c)->argv[i].len

static int reply_ok(cmd_ctx *c) { return resp_ok(c->out); }
static int reply_int(cmd_ctx *c, int64_t v) { return resp_int(c->out, v); }
static int reply_null(cmd_ctx *c) { return resp_null(c->out, c->proto); }
static int reply_bulk(cmd_ctx *c, const void *p, size_t n) { return resp_bulk(c->out, p, n); }

static int reply_expire_time_error(cmd_ctx *c)
{
    return resp_errorf(c->out, "ERR invalid expire time in '%s' command", c->cmd->name);
}

static int reply_too_long(cmd_ctx *c)
{
    return resp_error(c->out, "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
                      strlen("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
}

/* Keys longer than the keyspace takes are refused before any change, so a
 * multi-key write never stops half way. */
static bool key_fits(const cmd_ctx *c, uint32_t i) { return c->argv[i].len <= ks_max_key(c->ks); }

static int reply_key_too_long(cmd_ctx *c, uint32_t i)
{
    return resp_errorf(c->out, "ERR key of %zu bytes is longer than the longest key (%zu bytes)",
                       c->argv[i].len, ks_max_key(c->ks));
}

/* Look key argv[i] up: 1 found (*v), 0 missing, < 0 an engine error. */
static int lookup(cmd_ctx *c, uint32_t i, ks_value *v)
{
    int rc = cmd_lookup(c, KEY(c, i), v);
    if (rc == 0)
        return 1;
    return rc == BURROW_ENOTFOUND ? 0 : rc;
}

/* Look key argv[i] up for a string command. KEY_FOUND (*v set) or
 * KEY_MISSING: go on. Anything else is the command's result, its reply
 * written: an engine error, or WRONGTYPE for a key of another type. */
enum { KEY_FOUND = 1, KEY_MISSING = 2 };

static int string_key(cmd_ctx *c, uint32_t i, ks_value *v)
{
    int rc = lookup(c, i, v);
    if (rc < 0)
        return cmd_fail(c, rc);
    if (rc == 0)
        return KEY_MISSING;
    if (v->type != KS_STRING)
        return cmd_err_wrongtype(c);
    return KEY_FOUND;
}

/* A failure after the reply was written: take the reply back (see the
 * top of the file) and hand the error to the data thread. */
static int undo_reply(cmd_ctx *c, size_t mark, int rc)
{
    c->out->size = mark;
    return cmd_fail(c, rc);
}

/* Store a string value and note the change. */
static int put_string(cmd_ctx *c, uint32_t i, const void *val, size_t len, uint64_t expire_ms)
{
    int rc = ks_set(c->ks, c->txn, KEY(c, i), KS_STRING, val, len, expire_ms);
    if (rc == 0)
        cmd_touch(c, KEY(c, i));
    return rc;
}

/* Delete key argv[i]: 1 deleted, 0 none, < 0 error. */
static int del_key(cmd_ctx *c, uint32_t i)
{
    int rc = ks_del(c->ks, c->txn, KEY(c, i), c->now_ms);
    if (rc > 0)
        cmd_touch(c, KEY(c, i));
    return rc;
}

/* ---- expiry arguments ------------------------------------------------------------ */

enum {
    SET_NX = 1 << 0,
    SET_XX = 1 << 1,
    SET_GET = 1 << 2,
    SET_KEEPTTL = 1 << 3,
    SET_PERSIST = 1 << 4,
    SET_EX = 1 << 5,
    SET_PX = 1 << 6,
    SET_EXAT = 1 << 7,
    SET_PXAT = 1 << 8,
};
#define SET_ANY_EXPIRE (SET_EX | SET_PX | SET_EXAT | SET_PXAT)

enum { FOR_SET, FOR_GETEX };

/*
 * Parse the options of SET (from argv[3]) or GETEX (from argv[2]) as
 * Redis's parseExtendedStringArgumentsOrReply does: an option that
 * conflicts with one already given, or that the command does not take, is
 * a syntax error; the same option twice is allowed (the last time wins).
 * *expire_arg is the index of the time argument, 0 for none.
 */
static bool parse_string_options(const cmd_ctx *c, uint32_t from, int which, unsigned *flags,
                                 uint32_t *expire_arg)
{
    *flags = 0;
    *expire_arg = 0;
    for (uint32_t j = from; j < c->argc; j++) {
        bool has_next = j + 1 < c->argc;
        unsigned f = *flags;
        if (cmd_arg_is(c, j, "nx") && !(f & SET_XX) && which == FOR_SET) {
            *flags |= SET_NX;
        } else if (cmd_arg_is(c, j, "xx") && !(f & SET_NX) && which == FOR_SET) {
            *flags |= SET_XX;
        } else if (cmd_arg_is(c, j, "get") && which == FOR_SET) {
            *flags |= SET_GET;
        } else if (cmd_arg_is(c, j, "keepttl") && !(f & (SET_PERSIST | SET_ANY_EXPIRE)) &&
                   which == FOR_SET) {
            *flags |= SET_KEEPTTL;
        } else if (cmd_arg_is(c, j, "persist") && which == FOR_GETEX &&
                   !(f & (SET_ANY_EXPIRE | SET_KEEPTTL))) {
            *flags |= SET_PERSIST;
        } else if (has_next && cmd_arg_is(c, j, "ex") &&
                   !(f & (SET_KEEPTTL | SET_PERSIST | SET_EXAT | SET_PX | SET_PXAT))) {
            *flags |= SET_EX;
            *expire_arg = ++j;
        } else if (has_next && cmd_arg_is(c, j, "px") &&
                   !(f & (SET_KEEPTTL | SET_PERSIST | SET_EX | SET_EXAT | SET_PXAT))) {
            *flags |= SET_PX;
            *expire_arg = ++j;
        } else if (has_next && cmd_arg_is(c, j, "exat") &&
                   !(f & (SET_KEEPTTL | SET_PERSIST | SET_EX | SET_PX | SET_PXAT))) {
            *flags |= SET_EXAT;
            *expire_arg = ++j;
        } else if (has_next && cmd_arg_is(c, j, "pxat") &&
                   !(f & (SET_KEEPTTL | SET_PERSIST | SET_EX | SET_EXAT | SET_PX))) {
            *flags |= SET_PXAT;
            *expire_arg = ++j;
        } else {
            return false;
        }
    }
    return true;
}

/*
 * The absolute expiry (Unix ms) of a time argument in seconds or
 * milliseconds, relative to now or absolute, as SET, SETEX, PSETEX and
 * GETEX take it: a positive integer whose result fits int64. Returns 0
 * with *out set, or 1 after replying the error.
 */
static int parse_positive_expire(cmd_ctx *c, uint32_t i, bool seconds, bool relative,
                                 uint64_t *out)
{
    int64_t v;
    if (!cmd_arg_int(c, i, &v)) {
        cmd_err_int(c);
        return 1;
    }
    if (v <= 0 || (seconds && v > INT64_MAX / 1000)) {
        reply_expire_time_error(c);
        return 1;
    }
    if (seconds)
        v *= 1000;
    if (relative) {
        if ((uint64_t)v > (uint64_t)INT64_MAX - c->now_ms) {
            reply_expire_time_error(c);
            return 1;
        }
        v += (int64_t)c->now_ms;
    }
    *out = (uint64_t)v;
    return 0;
}

/* ---- GET, SET and their family --------------------------------------------------- */

static int cmd_get(cmd_ctx *c)
{
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc == KEY_MISSING)
        return reply_null(c);
    if (rc != KEY_FOUND)
        return rc;
    return reply_bulk(c, v.data, v.len);
}

/*
 * The common part of SET, SETNX, SETEX, PSETEX and GETSET: store argv[vi]
 * under argv[1] as flags say, with expiry expire_ms (0 = none, unless
 * KEEPTTL). Replies as SET does, or with *stored for SETNX.
 */
static int set_generic(cmd_ctx *c, uint32_t vi, unsigned flags, uint64_t expire_ms, bool *stored)
{
    if (!key_fits(c, 1))
        return reply_key_too_long(c, 1);
    ks_value old;
    int rc = lookup(c, 1, &old);
    if (rc < 0)
        return cmd_fail(c, rc);
    bool found = rc == 1;
    if ((flags & SET_GET) && found && old.type != KS_STRING)
        return cmd_err_wrongtype(c);

    size_t mark = c->out->size;
    if (flags & SET_GET) {
        rc = found ? reply_bulk(c, old.data, old.len) : reply_null(c);
        if (rc)
            return rc;
    }
    if (((flags & SET_NX) && found) || ((flags & SET_XX) && !found)) {
        *stored = false;
        return (flags & SET_GET) ? 0 : reply_null(c);
    }
    if ((flags & SET_KEEPTTL) && found)
        expire_ms = old.expire_ms;
    if (expire_ms && expire_ms <= c->now_ms)
        rc = found ? del_key(c, 1) : 0; /* set, and expired at once */
    else
        rc = put_string(c, 1, c->argv[vi].ptr, c->argv[vi].len, expire_ms);
    if (rc < 0)
        return undo_reply(c, mark, rc);
    *stored = true;
    return (flags & SET_GET) ? 0 : reply_ok(c);
}

static int cmd_set(cmd_ctx *c)
{
    unsigned flags;
    uint32_t ei;
    if (!parse_string_options(c, 3, FOR_SET, &flags, &ei))
        return cmd_err_syntax(c);
    uint64_t expire_ms = 0;
    if (ei && parse_positive_expire(c, ei, flags & (SET_EX | SET_EXAT),
                                    flags & (SET_EX | SET_PX), &expire_ms))
        return 0;
    bool stored;
    return set_generic(c, 2, flags, expire_ms, &stored);
}

static int cmd_setnx(cmd_ctx *c)
{
    if (!key_fits(c, 1))
        return reply_key_too_long(c, 1);
    ks_value v;
    int rc = lookup(c, 1, &v);
    if (rc < 0)
        return cmd_fail(c, rc);
    if (rc == 1)
        return reply_int(c, 0);
    rc = put_string(c, 1, c->argv[2].ptr, c->argv[2].len, 0);
    if (rc)
        return cmd_fail(c, rc);
    return reply_int(c, 1);
}

/* SETEX key seconds value, PSETEX key milliseconds value. */
static int setex_generic(cmd_ctx *c, bool seconds)
{
    uint64_t expire_ms;
    if (parse_positive_expire(c, 2, seconds, true, &expire_ms))
        return 0;
    bool stored;
    return set_generic(c, 3, 0, expire_ms, &stored);
}

static int cmd_setex(cmd_ctx *c) { return setex_generic(c, true); }
static int cmd_psetex(cmd_ctx *c) { return setex_generic(c, false); }

static int cmd_getset(cmd_ctx *c)
{
    bool stored;
    return set_generic(c, 2, SET_GET, 0, &stored);
}

static int cmd_getdel(cmd_ctx *c)
{
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc == KEY_MISSING)
        return reply_null(c);
    if (rc != KEY_FOUND)
        return rc;
    size_t mark = c->out->size;
    if ((rc = reply_bulk(c, v.data, v.len)))
        return rc;
    rc = del_key(c, 1);
    return rc < 0 ? undo_reply(c, mark, rc) : 0;
}

static int cmd_getex(cmd_ctx *c)
{
    unsigned flags;
    uint32_t ei;
    if (!parse_string_options(c, 2, FOR_GETEX, &flags, &ei))
        return cmd_err_syntax(c);
    /* Redis 7 looks the key up before it reads the time: a missing key is
     * nil even with a bad time. */
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc == KEY_MISSING)
        return reply_null(c);
    if (rc != KEY_FOUND)
        return rc;
    uint64_t expire_ms = 0;
    if (ei && parse_positive_expire(c, ei, flags & (SET_EX | SET_EXAT),
                                    flags & (SET_EX | SET_PX), &expire_ms))
        return 0;
    bool persist = (flags & SET_PERSIST) && v.expire_ms;
    size_t mark = c->out->size;
    if ((rc = reply_bulk(c, v.data, v.len)))
        return rc;
    if (ei && expire_ms <= c->now_ms) {
        rc = del_key(c, 1);
    } else if (ei || persist) {
        rc = ks_set_expire(c->ks, c->txn, KEY(c, 1), c->now_ms, ei ? expire_ms : 0);
        if (rc >= 0)
            cmd_touch(c, KEY(c, 1));
    }
    return rc < 0 ? undo_reply(c, mark, rc) : 0;
}

static int cmd_getrange(cmd_ctx *c)
{
    int64_t start, end;
    if (!cmd_arg_int(c, 2, &start) || !cmd_arg_int(c, 3, &end))
        return cmd_err_int(c);
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc == KEY_MISSING)
        return reply_bulk(c, "", 0);
    if (rc != KEY_FOUND)
        return rc;
    int64_t len = (int64_t)v.len;
    if (start < 0 && end < 0 && start > end)
        return reply_bulk(c, "", 0);
    if (start < 0)
        start += len;
    if (end < 0)
        end += len;
    if (start < 0)
        start = 0;
    if (end < 0)
        end = 0;
    if (end >= len)
        end = len - 1;
    if (start > end || len == 0)
        return reply_bulk(c, "", 0);
    return reply_bulk(c, (const char *)v.data + start, (size_t)(end - start + 1));
}

static int cmd_setrange(cmd_ctx *c)
{
    int64_t offset;
    if (!cmd_arg_int(c, 2, &offset))
        return cmd_err_int(c);
    if (offset < 0)
        return resp_error(c->out, "ERR offset is out of range", strlen("ERR offset is out of range"));
    if (!key_fits(c, 1))
        return reply_key_too_long(c, 1);
    const resp_arg *val = &c->argv[3];
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc != KEY_FOUND && rc != KEY_MISSING)
        return rc;
    bool found = rc == KEY_FOUND;
    size_t olen = found ? v.len : 0;
    if (val->len == 0)
        return reply_int(c, (int64_t)olen);
    if ((uint64_t)offset > STRING_MAX || val->len > STRING_MAX - (uint64_t)offset)
        return reply_too_long(c);

    size_t need = (size_t)offset + val->len;
    size_t nlen = need > olen ? need : olen;
    scratch.size = 0;
    if ((rc = buf_reserve(&scratch, nlen)))
        return rc;
    if (olen)
        memcpy(scratch.data, v.data, olen);
    if ((size_t)offset > olen)
        memset(scratch.data + olen, 0, (size_t)offset - olen);
    memcpy(scratch.data + offset, val->ptr, val->len);
    scratch.size = nlen;
    rc = put_string(c, 1, scratch.data, nlen, found ? v.expire_ms : 0);
    scratch_done();
    if (rc)
        return cmd_fail(c, rc);
    return reply_int(c, (int64_t)nlen);
}

static int cmd_append(cmd_ctx *c)
{
    if (!key_fits(c, 1))
        return reply_key_too_long(c, 1);
    const resp_arg *val = &c->argv[2];
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc != KEY_FOUND && rc != KEY_MISSING)
        return rc;
    bool found = rc == KEY_FOUND;
    size_t olen = found ? v.len : 0;
    if (found && val->len > STRING_MAX - olen)
        return reply_too_long(c);
    scratch.size = 0;
    if ((rc = buf_append(&scratch, found ? v.data : "", olen)) ||
        (rc = buf_append(&scratch, val->ptr, val->len)))
        return rc;
    size_t nlen = scratch.size;
    rc = put_string(c, 1, scratch.data, nlen, found ? v.expire_ms : 0);
    scratch_done();
    if (rc)
        return cmd_fail(c, rc);
    return reply_int(c, (int64_t)nlen);
}

static int cmd_strlen(cmd_ctx *c)
{
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc == KEY_MISSING)
        return reply_int(c, 0);
    if (rc != KEY_FOUND)
        return rc;
    return reply_int(c, (int64_t)v.len);
}

/* ---- several keys ---------------------------------------------------------------- */

static int cmd_mget(cmd_ctx *c)
{
    int rc = resp_array(c->out, c->argc - 1);
    for (uint32_t i = 1; rc == 0 && i < c->argc; i++) {
        ks_value v;
        int found = lookup(c, i, &v);
        if (found < 0)
            return cmd_fail(c, found);
        if (found && v.type == KS_STRING)
            rc = reply_bulk(c, v.data, v.len);
        else
            rc = reply_null(c);
    }
    return rc;
}

static int mset_generic(cmd_ctx *c, bool nx)
{
    if (c->argc % 2 == 0)
        return cmd_err_arity(c);
    for (uint32_t i = 1; i < c->argc; i += 2)
        if (!key_fits(c, i))
            return reply_key_too_long(c, i);
    if (nx) {
        for (uint32_t i = 1; i < c->argc; i += 2) {
            ks_value v;
            int rc = lookup(c, i, &v);
            if (rc < 0)
                return cmd_fail(c, rc);
            if (rc == 1)
                return reply_int(c, 0);
        }
    }
    for (uint32_t i = 1; i < c->argc; i += 2) {
        /* A failure here leaves the earlier keys set: roll the batch back
         * whatever the error (cmd_fail would call a refusal harmless). */
        int rc = put_string(c, i, c->argv[i + 1].ptr, c->argv[i + 1].len, 0);
        if (rc)
            return i == 1 ? cmd_fail(c, rc) : (rc < 0 ? rc : BURROW_EIO);
    }
    return nx ? reply_int(c, 1) : reply_ok(c);
}

static int cmd_mset(cmd_ctx *c) { return mset_generic(c, false); }
static int cmd_msetnx(cmd_ctx *c) { return mset_generic(c, true); }

/* DEL and UNLINK: the count of keys removed. */
static int cmd_del(cmd_ctx *c)
{
    int64_t n = 0;
    for (uint32_t i = 1; i < c->argc; i++) {
        int rc = del_key(c, i);
        if (rc < 0)
            return n ? rc : cmd_fail(c, rc);
        n += rc;
    }
    return reply_int(c, n);
}

/* EXISTS and TOUCH: the count of arguments naming a live key (a key named
 * twice counts twice, as in Redis). */
static int cmd_exists(cmd_ctx *c)
{
    int64_t n = 0;
    for (uint32_t i = 1; i < c->argc; i++) {
        ks_value v;
        int rc = lookup(c, i, &v);
        if (rc < 0)
            return cmd_fail(c, rc);
        n += rc;
    }
    return reply_int(c, n);
}

/* ---- counters ------------------------------------------------------------------------ */

static int incr_generic(cmd_ctx *c, int64_t by)
{
    if (!key_fits(c, 1))
        return reply_key_too_long(c, 1);
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc != KEY_FOUND && rc != KEY_MISSING)
        return rc;
    bool found = rc == KEY_FOUND;
    int64_t cur = 0;
    if (found && !cmd_parse_int(v.data, v.len, &cur))
        return cmd_err_int(c);
    if ((by < 0 && cur < 0 && by < INT64_MIN - cur) || (by > 0 && cur > 0 && by > INT64_MAX - cur))
        return resp_error(c->out, "ERR increment or decrement would overflow",
                          strlen("ERR increment or decrement would overflow"));
    int64_t nv = cur + by;
    char text[24];
    size_t n = resp_i64_to_str(nv, text);
    rc = put_string(c, 1, text, n, found ? v.expire_ms : 0);
    if (rc)
        return cmd_fail(c, rc);
    return reply_int(c, nv);
}

static int cmd_incr(cmd_ctx *c) { return incr_generic(c, 1); }
static int cmd_decr(cmd_ctx *c) { return incr_generic(c, -1); }

static int cmd_incrby(cmd_ctx *c)
{
    int64_t by;
    if (!cmd_arg_int(c, 2, &by))
        return cmd_err_int(c);
    return incr_generic(c, by);
}

static int cmd_decrby(cmd_ctx *c)
{
    int64_t by;
    if (!cmd_arg_int(c, 2, &by))
        return cmd_err_int(c);
    if (by == INT64_MIN)
        return resp_error(c->out, "ERR decrement would overflow",
                          strlen("ERR decrement would overflow"));
    return incr_generic(c, -by);
}

/* Redis reads INCRBYFLOAT's numbers with strtold, so that 10.5 + 0.1 is
 * "10.6" and not "10.59999999999999964": long double, like Redis. The
 * whole text must be the number: no space first, nothing after, no NaN,
 * no overflow. */
#define LONG_DOUBLE_CHARS 5120
static bool parse_long_double(const void *p, size_t n, long double *out)
{
    char text[LONG_DOUBLE_CHARS];
    if (n == 0 || n >= sizeof text)
        return false;
    memcpy(text, p, n);
    text[n] = 0;
    if (isspace((unsigned char)text[0]))
        return false;
    char *end;
    errno = 0;
    long double v = strtold(text, &end);
    if (*end != 0 || isnan(v))
        return false;
    if (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0))
        return false;
    *out = v;
    return true;
}

/* The text Redis gives a long double: 17 decimals, trailing zeros and a
 * trailing point removed, "-0" as "0". */
static size_t format_long_double(long double v, char *text, size_t cap)
{
    int n = snprintf(text, cap, "%.17Lf", v);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t len = (size_t)n;
    if (memchr(text, '.', len)) {
        while (len > 0 && text[len - 1] == '0')
            len--;
        if (len > 0 && text[len - 1] == '.')
            len--;
    }
    if (len == 2 && text[0] == '-' && text[1] == '0') {
        text[0] = '0';
        len = 1;
    }
    return len;
}

static int cmd_incrbyfloat(cmd_ctx *c)
{
    if (!key_fits(c, 1))
        return reply_key_too_long(c, 1);
    ks_value v;
    int rc = string_key(c, 1, &v);
    if (rc != KEY_FOUND && rc != KEY_MISSING)
        return rc;
    bool found = rc == KEY_FOUND;
    long double cur = 0, by;
    if ((found && !parse_long_double(v.data, v.len, &cur)) ||
        !parse_long_double(c->argv[2].ptr, c->argv[2].len, &by))
        return cmd_err_float(c);
    long double nv = cur + by;
    if (isnan(nv) || isinf(nv))
        return resp_error(c->out, "ERR increment would produce NaN or Infinity",
                          strlen("ERR increment would produce NaN or Infinity"));
    static _Thread_local char text[LONG_DOUBLE_CHARS];
    size_t n = format_long_double(nv, text, sizeof text);
    if (n == 0)
        return cmd_err_float(c);
    rc = put_string(c, 1, text, n, found ? v.expire_ms : 0);
    if (rc)
        return cmd_fail(c, rc);
    return reply_bulk(c, text, n);
}

/* ---- expiry ------------------------------------------------------------------------- */

enum { EXP_NX = 1, EXP_XX = 2, EXP_GT = 4, EXP_LT = 8 };

/* EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT key time [NX|XX|GT|LT]. */
static int expire_generic(cmd_ctx *c, bool seconds, bool relative)
{
    unsigned flag = 0;
    for (uint32_t j = 3; j < c->argc; j++) {
        if (cmd_arg_is(c, j, "nx"))
            flag |= EXP_NX;
        else if (cmd_arg_is(c, j, "xx"))
            flag |= EXP_XX;
        else if (cmd_arg_is(c, j, "gt"))
            flag |= EXP_GT;
        else if (cmd_arg_is(c, j, "lt"))
            flag |= EXP_LT;
        else
            return resp_errorf(c->out, "ERR Unsupported option %.*s", (int)c->argv[j].len,
                               c->argv[j].ptr);
    }
    if ((flag & EXP_NX) && (flag & (EXP_XX | EXP_GT | EXP_LT))) {
        const char *m = "ERR NX and XX, GT or LT options at the same time are not compatible";
        return resp_error(c->out, m, strlen(m));
    }
    if ((flag & EXP_GT) && (flag & EXP_LT)) {
        const char *m = "ERR GT and LT options at the same time are not compatible";
        return resp_error(c->out, m, strlen(m));
    }
    int64_t when;
    if (!cmd_arg_int(c, 2, &when))
        return cmd_err_int(c);
    if (seconds) {
        if (when > INT64_MAX / 1000 || when < INT64_MIN / 1000)
            return reply_expire_time_error(c);
        when *= 1000;
    }
    int64_t base = relative ? (int64_t)c->now_ms : 0;
    if (when > INT64_MAX - base)
        return reply_expire_time_error(c);
    when += base;

    ks_value v;
    int rc = lookup(c, 1, &v);
    if (rc < 0)
        return cmd_fail(c, rc);
    if (rc == 0)
        return reply_int(c, 0);
    if (flag) {
        bool has = v.expire_ms != 0;
        int64_t cur = has ? (int64_t)v.expire_ms : -1;
        if ((flag & EXP_NX) && has)
            return reply_int(c, 0);
        if ((flag & EXP_XX) && !has)
            return reply_int(c, 0);
        /* No expiry is an infinite one: GT never beats it, LT always. */
        if ((flag & EXP_GT) && (!has || when <= cur))
            return reply_int(c, 0);
        if ((flag & EXP_LT) && has && when >= cur)
            return reply_int(c, 0);
    }
    if (when <= (int64_t)c->now_ms)
        rc = del_key(c, 1);
    else {
        rc = ks_set_expire(c->ks, c->txn, KEY(c, 1), c->now_ms, (uint64_t)when);
        if (rc >= 0)
            cmd_touch(c, KEY(c, 1));
    }
    if (rc < 0)
        return cmd_fail(c, rc);
    return reply_int(c, 1);
}

static int cmd_expire(cmd_ctx *c) { return expire_generic(c, true, true); }
static int cmd_pexpire(cmd_ctx *c) { return expire_generic(c, false, true); }
static int cmd_expireat(cmd_ctx *c) { return expire_generic(c, true, false); }
static int cmd_pexpireat(cmd_ctx *c) { return expire_generic(c, false, false); }

/* TTL, PTTL (remaining time) and EXPIRETIME, PEXPIRETIME (the instant):
 * -2 for no key, -1 for no expiry. */
static int ttl_generic(cmd_ctx *c, bool ms, bool absolute)
{
    ks_value v;
    int rc = lookup(c, 1, &v);
    if (rc < 0)
        return cmd_fail(c, rc);
    if (rc == 0)
        return reply_int(c, -2);
    if (v.expire_ms == 0)
        return reply_int(c, -1);
    if (absolute)
        return reply_int(c, (int64_t)(ms ? v.expire_ms : v.expire_ms / 1000));
    int64_t left = (int64_t)(v.expire_ms - c->now_ms); /* > 0: the key is live */
    return reply_int(c, ms ? left : (left + 500) / 1000);
}

static int cmd_ttl(cmd_ctx *c) { return ttl_generic(c, false, false); }
static int cmd_pttl(cmd_ctx *c) { return ttl_generic(c, true, false); }
static int cmd_expiretime(cmd_ctx *c) { return ttl_generic(c, false, true); }
static int cmd_pexpiretime(cmd_ctx *c) { return ttl_generic(c, true, true); }

static int cmd_persist(cmd_ctx *c)
{
    ks_value v;
    int rc = lookup(c, 1, &v);
    if (rc < 0)
        return cmd_fail(c, rc);
    if (rc == 0 || v.expire_ms == 0)
        return reply_int(c, 0);
    rc = ks_set_expire(c->ks, c->txn, KEY(c, 1), c->now_ms, 0);
    if (rc < 0)
        return cmd_fail(c, rc);
    cmd_touch(c, KEY(c, 1));
    return reply_int(c, 1);
}

/* ---- generic key commands ---------------------------------------------------------- */

static const char *type_name(int type)
{
    switch (type) {
    case KS_STRING:
        return "string";
    case KS_JSON:
        return "ReJSON-RL";
    default:
        return "none";
    }
}

static int cmd_type(cmd_ctx *c)
{
    ks_value v;
    int rc = lookup(c, 1, &v);
    if (rc < 0)
        return cmd_fail(c, rc);
    const char *name = type_name(rc ? v.type : KS_NONE);
    return resp_simple(c->out, name, strlen(name));
}

static int rename_generic(cmd_ctx *c, bool nx)
{
    ks_value v;
    int rc = lookup(c, 1, &v);
    if (rc < 0)
        return cmd_fail(c, rc);
    if (rc == 0)
        return resp_error(c->out, "ERR no such key", strlen("ERR no such key"));
    if (c->argv[1].len == c->argv[2].len && memcmp(c->argv[1].ptr, c->argv[2].ptr, c->argv[1].len) == 0)
        return nx ? reply_int(c, 0) : reply_ok(c);
    if (!key_fits(c, 2))
        return reply_key_too_long(c, 2);
    if (nx) {
        ks_value d;
        rc = lookup(c, 2, &d);
        if (rc < 0)
            return cmd_fail(c, rc);
        if (rc == 1)
            return reply_int(c, 0);
        /* The lookup may have ended v's pointer's life only by a write;
         * reads leave it valid. */
    }
    /* ks_set copies v.data before it writes anything. */
    rc = ks_set(c->ks, c->txn, KEY(c, 2), v.type, v.data, v.len, v.expire_ms);
    if (rc)
        return cmd_fail(c, rc);
    cmd_touch(c, KEY(c, 2));
    rc = del_key(c, 1);
    if (rc < 0)
        return rc; /* the new key is written: roll the batch back */
    return nx ? reply_int(c, 1) : reply_ok(c);
}

static int cmd_rename(cmd_ctx *c) { return rename_generic(c, false); }
static int cmd_renamenx(cmd_ctx *c) { return rename_generic(c, true); }

/* Keys collected by SCAN and KEYS in scratch: a size_t length, then the
 * bytes, for each. */
typedef struct collected {
    size_t n;
} collected;

static int collect_key(void *ctx, const void *key, size_t klen, int type)
{
    (void)type;
    collected *col = ctx;
    int rc = buf_append(&scratch, &klen, sizeof klen);
    if (rc == 0)
        rc = buf_append(&scratch, key, klen);
    if (rc == 0)
        col->n++;
    return rc;
}

static int reply_collected(cmd_ctx *c, const collected *col)
{
    int rc = resp_array(c->out, col->n);
    for (size_t off = 0; rc == 0 && off < scratch.size;) {
        size_t klen;
        memcpy(&klen, scratch.data + off, sizeof klen);
        off += sizeof klen;
        rc = reply_bulk(c, scratch.data + off, klen);
        off += klen;
    }
    return rc;
}

/* A SCAN cursor as Redis takes it: decimal digits only, fits 64 bits. */
static bool parse_cursor(const resp_arg *a, uint64_t *out)
{
    if (a->len == 0 || a->len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < a->len; i++) {
        unsigned d = (unsigned char)a->ptr[i] - '0';
        if (d > 9 || v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static int scan_type(const resp_arg *a)
{
    if (a->len == 6 && strncasecmp(a->ptr, "string", 6) == 0)
        return KS_STRING;
    if (a->len == 9 && strncasecmp(a->ptr, "rejson-rl", 9) == 0)
        return KS_JSON;
    return TYPE_NO_MATCH; /* Redis matches no key then; so do we */
}

static int cmd_scan(cmd_ctx *c)
{
    uint64_t cursor;
    if (!parse_cursor(&c->argv[1], &cursor))
        return resp_error(c->out, "ERR invalid cursor", strlen("ERR invalid cursor"));
    int64_t count = SCAN_DEFAULT_COUNT;
    const char *pat = NULL;
    size_t plen = 0;
    int type = KS_NONE;
    for (uint32_t i = 2; i < c->argc; i += 2) {
        bool has_next = i + 1 < c->argc;
        if (has_next && cmd_arg_is(c, i, "count")) {
            if (!cmd_arg_int(c, i + 1, &count))
                return cmd_err_int(c);
            if (count < 1)
                return cmd_err_syntax(c);
        } else if (has_next && cmd_arg_is(c, i, "match")) {
            /* Never NULL: a NULL pattern means "every key" to ks_scan. */
            pat = c->argv[i + 1].len ? c->argv[i + 1].ptr : "";
            plen = c->argv[i + 1].len;
            if (plen == 1 && pat[0] == '*')
                pat = NULL; /* matches every key */
        } else if (has_next && cmd_arg_is(c, i, "type")) {
            type = scan_type(&c->argv[i + 1]);
        } else {
            return cmd_err_syntax(c);
        }
    }
    buf start = {0};
    if (cursor != 0) {
        int rc = ks_cursor_load(c->ks, cursor, &start);
        if (rc <= 0) {
            buf_free(&start);
            return rc < 0 ? rc : resp_error(c->out, "ERR invalid cursor", strlen("ERR invalid cursor"));
        }
    }
    collected col = {0};
    buf next = {0};
    scratch.size = 0;
    int rc = ks_scan(c->ks, c->txn, start.data, start.size, pat, plen, type, c->now_ms,
                     (size_t)count, collect_key, &col, &next);
    uint64_t next_cursor = 0;
    if (rc == 1)
        rc = ks_cursor_save(c->ks, next.data, next.size, &next_cursor);
    buf_free(&start);
    buf_free(&next);
    if (rc < 0) {
        scratch_done();
        return cmd_fail(c, rc);
    }
    char text[24];
    size_t n = resp_i64_to_str((int64_t)next_cursor, text);
    rc = resp_array(c->out, 2);
    if (rc == 0)
        rc = reply_bulk(c, text, n);
    if (rc == 0)
        rc = reply_collected(c, &col);
    scratch_done();
    return rc;
}

static int cmd_keys_pattern(cmd_ctx *c)
{
    const char *pat = c->argv[1].len ? c->argv[1].ptr : "";
    size_t plen = c->argv[1].len;
    if (plen == 1 && pat[0] == '*')
        pat = NULL;
    collected col = {0};
    buf next = {0};
    scratch.size = 0;
    int rc = ks_scan(c->ks, c->txn, NULL, 0, pat, plen, KS_NONE, c->now_ms, 0, collect_key, &col,
                     &next);
    buf_free(&next);
    if (rc < 0) {
        scratch_done();
        return cmd_fail(c, rc);
    }
    rc = reply_collected(c, &col);
    scratch_done();
    return rc;
}

static int cmd_dbsize(cmd_ctx *c)
{
    uint64_t n;
    int rc = ks_count(c->ks, c->txn, &n);
    if (rc)
        return cmd_fail(c, rc);
    return reply_int(c, (int64_t)n);
}

/* FLUSHDB and FLUSHALL [ASYNC|SYNC]: both empty the keyspace at once
 * (there is one database; ASYNC is accepted and done synchronously). */
static int cmd_flush(cmd_ctx *c)
{
    if (c->argc > 2 || (c->argc == 2 && !cmd_arg_is(c, 1, "async") && !cmd_arg_is(c, 1, "sync")))
        return cmd_err_syntax(c);
    int rc = ks_flush(c->ks, c->txn);
    if (rc)
        return rc; /* the first bucket may be gone already: roll back */
    cmd_touch_all(c);
    return reply_ok(c);
}

static int cmd_randomkey(cmd_ctx *c)
{
    /* A different point for every call: the batch's time and a counter. */
    static _Thread_local uint64_t calls;
    uint64_t seed = c->now_ms * UINT64_C(0x9e3779b97f4a7c15) + ++calls;
    buf key = {0};
    int rc = ks_random(c->ks, c->txn, c->now_ms, seed, RANDOM_MAX_VISIT, &key);
    if (rc < 0) {
        buf_free(&key);
        return cmd_fail(c, rc);
    }
    rc = rc ? reply_bulk(c, key.data, key.size) : reply_null(c);
    buf_free(&key);
    return rc;
}

/* ---- the table ---------------------------------------------------------------------- */

#define W CMD_WRITE
#define R CMD_READONLY
#define F CMD_FAST

const cmd_def cmd_keys[] = {
    {"get", 2, R | F, 1, 1, 1, cmd_get, "string", "Returns the string value of a key."},
    {"set", -3, W, 1, 1, 1, cmd_set, "string",
     "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist."},
    {"setnx", 3, W | F, 1, 1, 1, cmd_setnx, "string",
     "Set the string value of a key only when the key doesn't exist."},
    {"setex", 4, W, 1, 1, 1, cmd_setex, "string",
     "Sets the string value and expiration time of a key. Creates the key if it doesn't exist."},
    {"psetex", 4, W, 1, 1, 1, cmd_psetex, "string",
     "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist."},
    {"getset", 3, W | F, 1, 1, 1, cmd_getset, "string",
     "Returns the previous string value of a key after setting it to a new value."},
    {"getdel", 2, W | F, 1, 1, 1, cmd_getdel, "string",
     "Returns the string value of a key after deleting the key."},
    {"getex", -2, W | F, 1, 1, 1, cmd_getex, "string",
     "Returns the string value of a key after setting its expiration time."},
    {"getrange", 4, R, 1, 1, 1, cmd_getrange, "string", "Returns a substring of the string stored at a key."},
    {"setrange", 4, W, 1, 1, 1, cmd_setrange, "string",
     "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist."},
    {"append", 3, W | F, 1, 1, 1, cmd_append, "string",
     "Appends a string to the value of a key. Creates the key if it doesn't exist."},
    {"strlen", 2, R | F, 1, 1, 1, cmd_strlen, "string", "Returns the length of a string value."},
    {"mget", -2, R | F, 1, -1, 1, cmd_mget, "string", "Atomically returns the string values of one or more keys."},
    {"mset", -3, W, 1, -1, 2, cmd_mset, "string",
     "Atomically creates or modifies the string values of one or more keys."},
    {"msetnx", -3, W, 1, -1, 2, cmd_msetnx, "string",
     "Atomically modifies the string values of one or more keys only when all keys don't exist."},
    {"incr", 2, W | F, 1, 1, 1, cmd_incr, "string",
     "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."},
    {"incrby", 3, W | F, 1, 1, 1, cmd_incrby, "string",
     "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist."},
    {"decr", 2, W | F, 1, 1, 1, cmd_decr, "string",
     "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist."},
    {"decrby", 3, W | F, 1, 1, 1, cmd_decrby, "string",
     "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist."},
    {"incrbyfloat", 3, W | F, 1, 1, 1, cmd_incrbyfloat, "string",
     "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist."},
    {"del", -2, W, 1, -1, 1, cmd_del, "generic", "Deletes one or more keys."},
    {"unlink", -2, W | F, 1, -1, 1, cmd_del, "generic", "Asynchronously deletes one or more keys."},
    {"exists", -2, R | F, 1, -1, 1, cmd_exists, "generic", "Determines whether one or more keys exist."},
    {"touch", -2, R | F, 1, -1, 1, cmd_exists, "generic",
     "Returns the number of existing keys out of those specified after updating the time they were last accessed."},
    {"expire", -3, W | F, 1, 1, 1, cmd_expire, "generic", "Sets the expiration time of a key in seconds."},
    {"pexpire", -3, W | F, 1, 1, 1, cmd_pexpire, "generic", "Sets the expiration time of a key in milliseconds."},
    {"expireat", -3, W | F, 1, 1, 1, cmd_expireat, "generic",
     "Sets the expiration time of a key to a Unix timestamp."},
    {"pexpireat", -3, W | F, 1, 1, 1, cmd_pexpireat, "generic",
     "Sets the expiration time of a key to a Unix milliseconds timestamp."},
    {"expiretime", 2, R | F, 1, 1, 1, cmd_expiretime, "generic",
     "Returns the expiration time of a key as a Unix timestamp."},
    {"pexpiretime", 2, R | F, 1, 1, 1, cmd_pexpiretime, "generic",
     "Returns the expiration time of a key as a Unix milliseconds timestamp."},
    {"ttl", 2, R | F, 1, 1, 1, cmd_ttl, "generic", "Returns the expiration time in seconds of a key."},
    {"pttl", 2, R | F, 1, 1, 1, cmd_pttl, "generic", "Returns the expiration time in milliseconds of a key."},
    {"persist", 2, W | F, 1, 1, 1, cmd_persist, "generic", "Removes the expiration time of a key."},
    {"type", 2, R | F, 1, 1, 1, cmd_type, "generic", "Determines the type of value stored at a key."},
    {"rename", 3, W, 1, 2, 1, cmd_rename, "generic", "Renames a key and overwrites the destination."},
    {"renamenx", 3, W | F, 1, 2, 1, cmd_renamenx, "generic",
     "Renames a key only when the target key name doesn't exist."},
    {"scan", -2, R, 0, 0, 0, cmd_scan, "generic", "Iterates over the key names in the database."},
    {"keys", 2, R, 0, 0, 0, cmd_keys_pattern, "generic", "Returns all key names that match a pattern."},
    {"randomkey", 1, R, 0, 0, 0, cmd_randomkey, "generic", "Returns a random key name from the database."},
    {"dbsize", 1, R | F, 0, 0, 0, cmd_dbsize, "server", "Returns the number of keys in the database."},
    {"flushdb", -1, W, 0, 0, 0, cmd_flush, "server", "Removes all keys from the current database."},
    {"flushall", -1, W, 0, 0, 0, cmd_flush, "server", "Removes all keys from all databases."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
