/*
 * cmd_conn.c — connection commands: PING, ECHO, HELLO, AUTH, CLIENT,
 * SELECT, QUIT, RESET.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

#define SERVER_NAME "burrowd"
/* The Redis version whose protocol and commands we follow; clients read it
 * from HELLO and INFO to decide which commands they may send. */
#define REDIS_COMPAT_VERSION "7.2.0"

static int cmd_ping(cmd_ctx *c)
{
    if (c->argc > 2) return cmd_err_arity(c);
    /* in RESP2 subscribed mode PING answers as a pub/sub message */
    if ((c->sess->flags & SESS_PUBSUB) && c->proto == 2) {
        resp_array(c->out, 2);
        resp_bulk(c->out, "pong", 4);
        if (c->argc == 2) return resp_bulk(c->out, c->argv[1].ptr, c->argv[1].len), 0;
        return resp_bulk(c->out, "", 0), 0;
    }
    if (c->argc == 2) return resp_bulk(c->out, c->argv[1].ptr, c->argv[1].len), 0;
    return resp_simple(c->out, "PONG", 4), 0;
}

static int cmd_echo(cmd_ctx *c) { return resp_bulk(c->out, c->argv[1].ptr, c->argv[1].len), 0; }

static bool password_ok(const server *s, const resp_arg *user, const resp_arg *pass)
{
    if (user && !(user->len == 7 && memcmp(user->ptr, "default", 7) == 0)) return false;
    const char *want = s->cfg.requirepass;
    if (!want) return true; /* no password: the default user takes any, as Redis's nopass */
    size_t n = strlen(want);
    /* compare in time independent of where they differ */
    unsigned diff = (unsigned)(n ^ pass->len);
    for (size_t i = 0; i < pass->len; i++) diff |= (unsigned char)(want[i % (n ? n : 1)] ^ pass->ptr[i]);
    return diff == 0;
}

static int reply_wrongpass(cmd_ctx *c)
{
    static const char t[] = "WRONGPASS invalid username-password pair or user is disabled.";
    return resp_error(c->out, t, sizeof t - 1), 0;
}

static int cmd_auth(cmd_ctx *c)
{
    if (c->argc > 3) return cmd_err_syntax(c);
    if (!c->srv->cfg.requirepass && c->argc == 2) {
        static const char t[] = "ERR AUTH <password> called without any password configured for the default "
                                "user. Are you sure your configuration is correct?";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    const resp_arg *user = c->argc == 3 ? &c->argv[1] : NULL;
    const resp_arg *pass = &c->argv[c->argc - 1];
    if (!password_ok(c->srv, user, pass)) return reply_wrongpass(c);
    c->sess->flags |= SESS_AUTHED;
    return resp_ok(c->out), 0;
}

static char *dup_arg(const resp_arg *a)
{
    char *p = malloc(a->len + 1);
    if (!p) return NULL;
    memcpy(p, a->ptr, a->len);
    p[a->len] = 0;
    return p;
}

/* Client names may not hold spaces or newlines (CLIENT LIST would break). */
static bool name_ok(const resp_arg *a)
{
    for (size_t i = 0; i < a->len; i++)
        if (a->ptr[i] < '!' || a->ptr[i] > '~') return false;
    return true;
}

static int set_name(cmd_ctx *c, const resp_arg *a)
{
    if (!name_ok(a)) {
        static const char t[] = "ERR Client names cannot contain spaces, newlines or special characters.";
        return resp_error(c->out, t, sizeof t - 1), 1;
    }
    char *n = a->len ? dup_arg(a) : NULL;
    if (a->len && !n) return BURROW_ENOMEM;
    free(c->sess->name);
    c->sess->name = n;
    return 0;
}

static int cmd_hello(cmd_ctx *c)
{
    session *sess = c->sess;
    int proto = sess->proto;
    uint32_t i = 1;
    if (c->argc >= 2) {
        int64_t v;
        if (!cmd_arg_int(c, 1, &v)) {
            static const char t[] = "ERR Protocol version is not an integer or out of range";
            return resp_error(c->out, t, sizeof t - 1), 0;
        }
        if (v != 2 && v != 3) {
            static const char t[] = "NOPROTO unsupported protocol version";
            return resp_error(c->out, t, sizeof t - 1), 0;
        }
        proto = (int)v;
        i = 2;
    }
    const resp_arg *setname = NULL;
    for (; i < c->argc; i++) {
        if (cmd_arg_is(c, i, "AUTH") && i + 2 < c->argc) {
            if (!c->srv->cfg.requirepass || !password_ok(c->srv, &c->argv[i + 1], &c->argv[i + 2])) {
                if (c->srv->cfg.requirepass) return reply_wrongpass(c);
            }
            sess->flags |= SESS_AUTHED;
            i += 2;
        } else if (cmd_arg_is(c, i, "SETNAME") && i + 1 < c->argc) {
            setname = &c->argv[++i];
        } else {
            return resp_errorf(c->out, "ERR Syntax error in HELLO option '%.*s'", (int)c->argv[i].len,
                               c->argv[i].ptr),
                   0;
        }
    }
    if (!(sess->flags & SESS_AUTHED)) {
        static const char t[] = "NOAUTH HELLO must be called with the client already authenticated, otherwise "
                                "the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the "
                                "client and select the RESP protocol version at the same time";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    if (setname) {
        int r = set_name(c, setname);
        if (r) return r < 0 ? r : 0;
    }
    sess->proto = (uint8_t)proto;
    c->proto = proto;
    buf *o = c->out;
    resp_map(o, proto, 7);
    resp_bulk_cstr(o, "server");
    resp_bulk_cstr(o, SERVER_NAME);
    resp_bulk_cstr(o, "version");
    resp_bulk_cstr(o, REDIS_COMPAT_VERSION);
    resp_bulk_cstr(o, "proto");
    resp_int(o, proto);
    resp_bulk_cstr(o, "id");
    resp_int(o, (int64_t)sess->id);
    resp_bulk_cstr(o, "mode");
    resp_bulk_cstr(o, "standalone");
    resp_bulk_cstr(o, "role");
    resp_bulk_cstr(o, "master");
    resp_bulk_cstr(o, "modules");
    resp_array(o, 0);
    return 0;
}

static int cmd_select(cmd_ctx *c)
{
    int64_t v;
    if (!cmd_arg_int(c, 1, &v)) return cmd_err_int(c);
    if (v != 0) {
        static const char t[] = "ERR DB index is out of range";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    return resp_ok(c->out), 0;
}

static int cmd_quit(cmd_ctx *c)
{
    resp_ok(c->out);
    c->sess->flags |= SESS_CLOSING; /* the reply is written, then the connection closed */
    return 0;
}

static int cmd_reset(cmd_ctx *c)
{
    session *sess = c->sess;
    multi_reset(c->srv, sess);
    watch_reset(c->srv, sess);
    pubsub_drop_session(c->srv, sess);
    free(sess->name);
    sess->name = NULL;
    sess->proto = 2;
    sess->flags &= ~(SESS_MULTI | SESS_DIRTY_CAS | SESS_DIRTY_EXEC | SESS_PUBSUB | SESS_REPLY_OFF);
    if (c->srv->cfg.requirepass) sess->flags &= ~SESS_AUTHED;
    return resp_simple(c->out, "RESET", 5), 0;
}

/* ---- CLIENT ------------------------------------------------------------------- */

static void client_info_line(server *s, const session *x, buf *o)
{
    uint64_t nch = 0, npat = 0;
    pubsub_session_counts(x, &nch, &npat);
    uint64_t now = s->now_ms;
    char flags[8];
    size_t nf = 0;
    if (x->flags & SESS_MULTI) flags[nf++] = 'x';
    if (x->flags & SESS_PUBSUB) flags[nf++] = 'P';
    if (x->flags & SESS_CLOSING) flags[nf++] = 'c';
    if (nf == 0) flags[nf++] = 'N';
    flags[nf] = 0;
    char line[1024];
    int n = snprintf(line, sizeof line,
                     "id=%llu addr=%s laddr=%s fd=-1 name=%s age=%llu idle=%llu flags=%s db=0 sub=%llu psub=%llu "
                     "ssub=0 multi=%ld watch=0 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 "
                     "omem=0 tot-mem=0 events=r cmd=%s user=default redir=-1 resp=%d lib-name=%s lib-ver=%s\n",
                     (unsigned long long)x->id, x->addr, x->laddr, x->name ? x->name : "",
                     (unsigned long long)(now > x->created_ms ? (now - x->created_ms) / 1000 : 0),
                     (unsigned long long)(now > x->last_ms ? (now - x->last_ms) / 1000 : 0), flags,
                     (unsigned long long)nch, (unsigned long long)npat, multi_count(x),
                     x->last_cmd ? x->last_cmd : "NULL", x->proto, x->lib_name ? x->lib_name : "",
                     x->lib_ver ? x->lib_ver : "");
    if (n > 0) buf_append(o, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static int client_kill(cmd_ctx *c)
{
    server *s = c->srv;
    /* old form: CLIENT KILL addr:port */
    if (c->argc == 3) {
        for (session *x = s->sessions; x; x = x->next) {
            if (strlen(x->addr) == c->argv[2].len && memcmp(x->addr, c->argv[2].ptr, c->argv[2].len) == 0 &&
                !(x->flags & SESS_CLOSING)) {
                server_kill_session(s, x);
                return resp_ok(c->out), 0;
            }
        }
        static const char t[] = "ERR No such client";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    /* new form: filters, all must match */
    uint64_t id = 0;
    const resp_arg *addr = NULL, *laddr = NULL;
    bool skipme = true, have_id = false;
    if ((c->argc - 2) % 2) return cmd_err_syntax(c);
    for (uint32_t i = 2; i + 1 < c->argc; i += 2) {
        if (cmd_arg_is(c, i, "ID")) {
            int64_t v;
            if (!cmd_arg_int(c, i + 1, &v) || v <= 0) {
                static const char t[] = "ERR client-id should be greater than 0";
                return resp_error(c->out, t, sizeof t - 1), 0;
            }
            id = (uint64_t)v;
            have_id = true;
        } else if (cmd_arg_is(c, i, "ADDR")) {
            addr = &c->argv[i + 1];
        } else if (cmd_arg_is(c, i, "LADDR")) {
            laddr = &c->argv[i + 1];
        } else if (cmd_arg_is(c, i, "SKIPME")) {
            if (cmd_arg_is(c, i + 1, "yes")) skipme = true;
            else if (cmd_arg_is(c, i + 1, "no")) skipme = false;
            else return cmd_err_syntax(c);
        } else if (cmd_arg_is(c, i, "TYPE") || cmd_arg_is(c, i, "USER") || cmd_arg_is(c, i, "MAXAGE")) {
            /* accepted filters that every client here passes: one user,
             * type normal or pubsub; checked below for TYPE */
        } else {
            return cmd_err_syntax(c);
        }
    }
    int64_t killed = 0;
    for (session *x = s->sessions; x; x = x->next) {
        if (x->flags & SESS_CLOSING) continue;
        if (skipme && x == c->sess) continue;
        if (have_id && x->id != id) continue;
        if (addr && !(strlen(x->addr) == addr->len && memcmp(x->addr, addr->ptr, addr->len) == 0)) continue;
        if (laddr && !(strlen(x->laddr) == laddr->len && memcmp(x->laddr, laddr->ptr, laddr->len) == 0)) continue;
        server_kill_session(s, x);
        killed++;
    }
    return resp_int(c->out, killed), 0;
}

static int cmd_client(cmd_ctx *c)
{
    session *sess = c->sess;
    if (cmd_arg_is(c, 1, "ID") && c->argc == 2) return resp_int(c->out, (int64_t)sess->id), 0;
    if (cmd_arg_is(c, 1, "GETNAME") && c->argc == 2) {
        if (!sess->name) return resp_null(c->out, c->proto), 0;
        return resp_bulk_cstr(c->out, sess->name), 0;
    }
    if (cmd_arg_is(c, 1, "SETNAME") && c->argc == 3) {
        int r = set_name(c, &c->argv[2]);
        if (r) return r < 0 ? r : 0;
        return resp_ok(c->out), 0;
    }
    if (cmd_arg_is(c, 1, "SETINFO") && c->argc == 4) {
        char **slot = cmd_arg_is(c, 2, "LIB-NAME") ? &sess->lib_name
                      : cmd_arg_is(c, 2, "LIB-VER") ? &sess->lib_ver
                                                    : NULL;
        if (!slot)
            return resp_errorf(c->out, "ERR Unrecognized option '%.*s'", (int)c->argv[2].len, c->argv[2].ptr), 0;
        if (!name_ok(&c->argv[3]) && c->argv[3].len) {
            static const char t[] = "ERR lib-name and lib-ver cannot contain spaces, newlines or special characters.";
            return resp_error(c->out, t, sizeof t - 1), 0;
        }
        char *v = dup_arg(&c->argv[3]);
        if (!v) return BURROW_ENOMEM;
        free(*slot);
        *slot = v;
        return resp_ok(c->out), 0;
    }
    if (cmd_arg_is(c, 1, "LIST")) {
        buf o = {0};
        for (session *x = c->srv->sessions; x; x = x->next) client_info_line(c->srv, x, &o);
        resp_verbatim(c->out, c->proto, (const char *)o.data, o.size);
        buf_free(&o);
        return 0;
    }
    if (cmd_arg_is(c, 1, "INFO") && c->argc == 2) {
        buf o = {0};
        client_info_line(c->srv, sess, &o);
        resp_verbatim(c->out, c->proto, (const char *)o.data, o.size);
        buf_free(&o);
        return 0;
    }
    if (cmd_arg_is(c, 1, "KILL") && c->argc >= 3) return client_kill(c);
    if (cmd_arg_is(c, 1, "NO-EVICT") || cmd_arg_is(c, 1, "NO-TOUCH")) return resp_ok(c->out), 0;
    return resp_errorf(c->out,
                       "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try CLIENT HELP.",
                       (int)c->argv[1].len, c->argv[1].ptr),
           0;
}

const cmd_def cmd_conn[] = {
    {"ping", -1, CMD_FAST | CMD_PUBSUB, 0, 0, 0, cmd_ping, "connection", "Returns the server's liveliness response."},
    {"echo", 2, CMD_FAST, 0, 0, 0, cmd_echo, "connection", "Returns the given string."},
    {"hello", -1, CMD_FAST | CMD_NOAUTH, 0, 0, 0, cmd_hello, "connection", "Handshakes with the server (protocol version, auth, name)."},
    {"auth", -2, CMD_FAST | CMD_NOAUTH, 0, 0, 0, cmd_auth, "connection", "Authenticates the connection."},
    {"select", 2, CMD_FAST, 0, 0, 0, cmd_select, "connection", "Selects the database (only 0 exists)."},
    {"quit", -1, CMD_FAST | CMD_NOAUTH | CMD_PUBSUB | CMD_NOMULTI, 0, 0, 0, cmd_quit, "connection", "Closes the connection."},
    {"reset", 1, CMD_FAST | CMD_NOAUTH | CMD_PUBSUB | CMD_NOMULTI, 0, 0, 0, cmd_reset, "connection", "Resets the connection."},
    {"client", -2, 0, 0, 0, 0, cmd_client, "connection", "CLIENT ID|GETNAME|SETNAME|SETINFO|LIST|INFO|KILL."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
