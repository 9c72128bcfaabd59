/*
 * cmd_multi.c — MULTI, EXEC, DISCARD, WATCH, UNWATCH (N7).
 *
 * Atomicity and isolation come for free from the data thread: EXEC runs
 * the queued commands one after another inside the batch's transaction,
 * and no other command runs in between. WATCH is optimistic, as in Redis:
 * every change to a key (cmd_touch) marks the sessions watching it, and
 * EXEC of a marked session runs nothing and replies with a null array.
 *
 * Session states: normal -MULTI-> queuing -EXEC/DISCARD-> normal; while
 * queuing, a refused command (unknown, wrong arity) sets SESS_DIRTY_EXEC
 * and EXEC then fails with EXECABORT.
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "server/server_int.h"

/* ---- the queue of a MULTI -------------------------------------------------- */

typedef struct queued {
    const cmd_def *cmd;
    uint32_t argc;
    resp_arg *argv; /* argv and the bytes follow in one allocation */
} queued;

struct multi_state {
    queued *q;
    size_t n, cap;
};

int multi_queue(server *s, session *sess, const cmd_def *cmd, uint32_t argc, const resp_arg *argv)
{
    (void)s;
    struct multi_state *m = sess->multi;
    if (!m && !(m = sess->multi = calloc(1, sizeof *m))) return BURROW_ENOMEM;
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 8;
        queued *nq = realloc(m->q, nc * sizeof *nq);
        if (!nq) return BURROW_ENOMEM;
        m->q = nq;
        m->cap = nc;
    }
    size_t bytes = (size_t)argc * sizeof(resp_arg);
    for (uint32_t i = 0; i < argc; i++) bytes += argv[i].len;
    resp_arg *copy = malloc(bytes ? bytes : 1);
    if (!copy) return BURROW_ENOMEM;
    char *p = (char *)(copy + argc);
    for (uint32_t i = 0; i < argc; i++) {
        memcpy(p, argv[i].ptr, argv[i].len);
        copy[i].ptr = p;
        copy[i].len = argv[i].len;
        p += argv[i].len;
    }
    m->q[m->n++] = (queued){cmd, argc, copy};
    return 0;
}

long multi_count(const session *sess)
{
    if (!(sess->flags & SESS_MULTI)) return -1;
    return sess->multi ? (long)sess->multi->n : 0;
}

void multi_reset(server *s, session *sess)
{
    (void)s;
    struct multi_state *m = sess->multi;
    if (m) {
        for (size_t i = 0; i < m->n; i++) free(m->q[i].argv);
        free(m->q);
        free(m);
        sess->multi = NULL;
    }
    sess->flags &= ~(SESS_MULTI | SESS_DIRTY_EXEC);
}

/* ---- the WATCH registry ------------------------------------------------------- */

/* One watched key and the sessions watching it. */
typedef struct wkey {
    struct wkey *next; /* hash chain */
    uint64_t hash;
    session **sess;
    size_t n, cap;
    size_t klen;
    char key[];
} wkey;

struct watchers {
    wkey **slots;
    size_t nslots; /* power of two */
    size_t nkeys;
};

/* The keys one session watches. */
struct watch_state {
    wkey **keys;
    size_t n, cap;
};

int watchers_create(watchers **out)
{
    watchers *w = calloc(1, sizeof *w);
    if (!w) return BURROW_ENOMEM;
    w->nslots = 64;
    w->slots = calloc(w->nslots, sizeof *w->slots);
    if (!w->slots) {
        free(w);
        return BURROW_ENOMEM;
    }
    *out = w;
    return 0;
}

void watchers_destroy(watchers *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->nslots; i++) {
        for (wkey *k = w->slots[i], *nx; k; k = nx) {
            nx = k->next;
            free(k->sess);
            free(k);
        }
    }
    free(w->slots);
    free(w);
}

static uint64_t wk_hash(const void *key, size_t klen) { return hash64(key, klen, 0x77617463u); }

static wkey *wk_find(watchers *w, const void *key, size_t klen, uint64_t h)
{
    for (wkey *k = w->slots[h & (w->nslots - 1)]; k; k = k->next)
        if (k->hash == h && k->klen == klen && memcmp(k->key, key, klen) == 0) return k;
    return NULL;
}

static void wk_rehash(watchers *w)
{
    size_t nn = w->nslots * 2;
    wkey **ns = calloc(nn, sizeof *ns);
    if (!ns) return; /* chains just get longer */
    for (size_t i = 0; i < w->nslots; i++) {
        for (wkey *k = w->slots[i], *nx; k; k = nx) {
            nx = k->next;
            k->next = ns[k->hash & (nn - 1)];
            ns[k->hash & (nn - 1)] = k;
        }
    }
    free(w->slots);
    w->slots = ns;
    w->nslots = nn;
}

static void wk_unlink(watchers *w, wkey *k)
{
    wkey **pp = &w->slots[k->hash & (w->nslots - 1)];
    while (*pp != k) pp = &(*pp)->next;
    *pp = k->next;
    w->nkeys--;
    free(k->sess);
    free(k);
}

void watchers_touch(server *s, const void *key, size_t klen)
{
    watchers *w = s->watch;
    if (w->nkeys == 0) return;
    wkey *k = wk_find(w, key, klen, wk_hash(key, klen));
    if (!k) return;
    for (size_t i = 0; i < k->n; i++) k->sess[i]->flags |= SESS_DIRTY_CAS;
}

void watchers_touch_all(server *s)
{
    watchers *w = s->watch;
    if (w->nkeys == 0) return;
    for (size_t i = 0; i < w->nslots; i++)
        for (wkey *k = w->slots[i]; k; k = k->next)
            for (size_t j = 0; j < k->n; j++) k->sess[j]->flags |= SESS_DIRTY_CAS;
}

static int watch_key(server *s, session *sess, const void *key, size_t klen)
{
    watchers *w = s->watch;
    uint64_t h = wk_hash(key, klen);
    wkey *k = wk_find(w, key, klen, h);
    if (k) {
        for (size_t i = 0; i < k->n; i++)
            if (k->sess[i] == sess) return 0; /* already watched */
    } else {
        if (w->nkeys >= w->nslots) wk_rehash(w);
        if (!(k = calloc(1, sizeof *k + klen))) return BURROW_ENOMEM;
        k->hash = h;
        k->klen = klen;
        memcpy(k->key, key, klen);
        k->next = w->slots[h & (w->nslots - 1)];
        w->slots[h & (w->nslots - 1)] = k;
        w->nkeys++;
    }
    struct watch_state *ws = sess->watch;
    if (!ws && !(ws = sess->watch = calloc(1, sizeof *ws))) goto nomem;
    if (k->n == k->cap) {
        size_t nc = k->cap ? k->cap * 2 : 2;
        session **np = realloc(k->sess, nc * sizeof *np);
        if (!np) goto nomem;
        k->sess = np;
        k->cap = nc;
    }
    if (ws->n == ws->cap) {
        size_t nc = ws->cap ? ws->cap * 2 : 4;
        wkey **np = realloc(ws->keys, nc * sizeof *np);
        if (!np) goto nomem;
        ws->keys = np;
        ws->cap = nc;
    }
    k->sess[k->n++] = sess;
    ws->keys[ws->n++] = k;
    return 0;
nomem:
    if (k->n == 0) wk_unlink(w, k);
    return BURROW_ENOMEM;
}

void watch_reset(server *s, session *sess)
{
    struct watch_state *ws = sess->watch;
    sess->flags &= ~SESS_DIRTY_CAS;
    if (!ws) return;
    for (size_t i = 0; i < ws->n; i++) {
        wkey *k = ws->keys[i];
        for (size_t j = 0; j < k->n; j++) {
            if (k->sess[j] == sess) {
                k->sess[j] = k->sess[--k->n];
                break;
            }
        }
        if (k->n == 0) wk_unlink(s->watch, k);
    }
    free(ws->keys);
    free(ws);
    sess->watch = NULL;
}

/* ---- the commands ----------------------------------------------------------------- */

static int cmd_multi_(cmd_ctx *c)
{
    if (c->sess->flags & SESS_MULTI) {
        static const char t[] = "ERR MULTI calls can not be nested";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    c->sess->flags |= SESS_MULTI;
    c->sess->flags &= ~SESS_DIRTY_EXEC;
    return resp_ok(c->out), 0;
}

static int cmd_exec(cmd_ctx *c)
{
    session *sess = c->sess;
    if (!(sess->flags & SESS_MULTI)) {
        static const char t[] = "ERR EXEC without MULTI";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    if (sess->flags & SESS_DIRTY_EXEC) {
        multi_reset(c->srv, sess);
        watch_reset(c->srv, sess);
        static const char t[] = "EXECABORT Transaction discarded because of previous errors.";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    if (sess->flags & SESS_DIRTY_CAS) {
        multi_reset(c->srv, sess);
        watch_reset(c->srv, sess);
        return resp_null_array(c->out, c->proto), 0;
    }
    struct multi_state *m = sess->multi;
    sess->multi = NULL;
    sess->flags &= ~(SESS_MULTI | SESS_DIRTY_EXEC);
    /* unwatch before running: our own writes must not mark us */
    watch_reset(c->srv, sess);
    size_t n = m ? m->n : 0;
    resp_array(c->out, n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        queued *q = &m->q[i];
        if (!c->srv->txn_write && (q->cmd->flags & CMD_WRITE)) {
            /* cannot happen: a session in MULTI makes its batch take a write txn */
            resp_error(c->out, "ERR internal: write inside a read batch", 39);
            continue;
        }
        rc = server_exec_command(c->srv, sess, q->cmd, q->argc, q->argv, true);
        if (q->cmd->flags & CMD_WRITE) c->srv->lookup_gen++;
    }
    if (m) {
        for (size_t i = 0; i < m->n; i++) free(m->q[i].argv);
        free(m->q);
        free(m);
    }
    return rc;
}

static int cmd_discard(cmd_ctx *c)
{
    if (!(c->sess->flags & SESS_MULTI)) {
        static const char t[] = "ERR DISCARD without MULTI";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    multi_reset(c->srv, c->sess);
    watch_reset(c->srv, c->sess);
    return resp_ok(c->out), 0;
}

static int cmd_watch(cmd_ctx *c)
{
    if (c->sess->flags & SESS_MULTI) {
        static const char t[] = "ERR WATCH inside MULTI is not allowed";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    for (uint32_t i = 1; i < c->argc; i++)
        if (watch_key(c->srv, c->sess, c->argv[i].ptr, c->argv[i].len)) return BURROW_ENOMEM;
    return resp_ok(c->out), 0;
}

static int cmd_unwatch(cmd_ctx *c)
{
    watch_reset(c->srv, c->sess);
    return resp_ok(c->out), 0;
}

const cmd_def cmd_multi[] = {
    {"multi", 1, CMD_FAST | CMD_NOMULTI, 0, 0, 0, cmd_multi_, "transactions", "Starts a transaction."},
    {"exec", 1, CMD_WRITE | CMD_NOMULTI, 0, 0, 0, cmd_exec, "transactions", "Executes all commands in a transaction."},
    {"discard", 1, CMD_FAST | CMD_NOMULTI, 0, 0, 0, cmd_discard, "transactions", "Discards a transaction."},
    {"watch", -2, CMD_FAST | CMD_NOMULTI, 1, -1, 1, cmd_watch, "transactions",
     "Monitors changes to keys to determine the execution of a transaction."},
    {"unwatch", 1, CMD_FAST, 0, 0, 0, cmd_unwatch, "transactions", "Forgets about watched keys."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
