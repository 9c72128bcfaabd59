/*
 * server.c — the data thread: takes the requests of all network threads in
 * batches, runs each batch in one transaction, commits once, and only then
 * releases the replies (group commit, N5).
 *
 * A batch, step by step (batch_run):
 *   1. collect: pop every queue (network threads in turn) until empty or the
 *      batch is full; MSG_OPEN registers a session at once, MSG_REQUESTS
 *      adds its requests, MSG_CLOSE waits for the end of the batch.
 *   2. begin: a write txn when any request's command is CMD_WRITE (or EXEC
 *      of a queue holding one), else a read txn — read txns read through
 *      the hot tier.
 *   3. run every request in arrival order, each writing its reply into its
 *      session's buffer.
 *   4. commit (durability mode decides the sync); on failure every reply of
 *      a writing command is replaced by the error.
 *   5. release: one MSG_REPLY per session that has replies, then the
 *      MSG_CLOSED of the sessions that closed, then one wake-up per network
 *      thread.
 * Requests that arrive while a batch runs wait in the queues and make the
 * next batch bigger, which is what groups commits under load.
 *
 * Session states (flags in server.h): open -> [MULTI] -> ... -> closing
 * (QUIT, kill) -> dropped on MSG_CLOSE. A closing session runs no more
 * commands.
 */
#include "server/server_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#include "base/hash.h"
#include "server/cmd_tier.h"

#define BATCH_MAX_ITEMS 8192
#define SWEEP_PER_TICK 200

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- shared buffers ------------------------------------------------------- */

shared_buf *shared_buf_new(const void *data, size_t len)
{
    shared_buf *b = malloc(sizeof *b + len);
    if (!b) return NULL;
    atomic_init(&b->refs, 1);
    b->len = len;
    memcpy(b->data, data, len);
    return b;
}

void shared_buf_ref(shared_buf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
}

void shared_buf_unref(shared_buf *b)
{
    if (b && atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1) free(b);
}

/* ---- plumbing -------------------------------------------------------------- */

queue *server_to_data(server *s, int thread) { return &s->to_data[thread]; }
queue *server_to_net(server *s, int thread) { return &s->to_net[thread]; }
net_stats *server_net_stats(server *s) { return &s->nstats; }
net_limits *server_net_limits(server *s) { return &s->limits; }

void server_limits_update(server *s)
{
    net_limits *l = &s->limits;
    atomic_store(&l->max_bulk, s->cfg.max_bulk);
    atomic_store(&l->max_inline, s->cfg.max_inline);
    atomic_store(&l->max_request_bytes, s->cfg.max_request_bytes);
    atomic_store(&l->output_limit, s->cfg.output_limit);
    atomic_store(&l->pubsub_output_limit, s->cfg.pubsub_output_limit);
    atomic_store(&l->max_args, s->cfg.max_args);
    atomic_store(&l->max_pipeline, s->cfg.max_pipeline);
    atomic_store(&l->maxclients, s->cfg.maxclients);
    atomic_store(&l->timeout, s->cfg.timeout);
}
const server_config *server_config_of(const server *s) { return &s->cfg; }
int server_threads(const server *s) { return s->nthreads; }

uint64_t server_next_client_id(server *s)
{
    return atomic_fetch_add_explicit(&s->next_client_id, 1, memory_order_relaxed);
}

void server_set_net(server *s, const server_net_ops *ops) { s->net = *ops; }

void server_wake(server *s, int thread)
{
    (void)thread;
    uv_async_send(&s->wake);
}

void server_request_shutdown(server *s)
{
    atomic_store(&s->shutdown_asked, true);
    uv_async_send(&s->wake);
}

void server_send(server *s, int thread, msg *m)
{
    queue_push(&s->to_net[thread], &m->node);
    s->net_wake[thread] = true;
}

static void wake_nets(server *s)
{
    for (int i = 0; i < s->nthreads; i++) {
        if (!s->net_wake[i]) continue;
        s->net_wake[i] = false;
        if (s->net.wake) s->net.wake(s->net.ctx, i);
    }
}

session *server_session_by_id(server *s, uint64_t id)
{
    for (session *x = s->sessions; x; x = x->next)
        if (x->id == id) return x;
    return NULL;
}

void server_kill_session(server *s, session *sess)
{
    if (sess->flags & SESS_CLOSING) return;
    sess->flags |= SESS_CLOSING;
    msg *m = malloc(sizeof *m);
    if (!m) return; /* the client stays; CLIENT KILL reported it killed, and
                       it is marked closing so it runs nothing more */
    m->kind = MSG_KILL;
    m->conn = NULL;
    /* the network thread finds the connection from the session */
    m->conn = (struct net_conn *)(void *)sess;
    server_send(s, sess->thread, m);
}

/* ---- the batch read cache (cmd_lookup, N3) --------------------------------- */

int cmd_lookup(cmd_ctx *c, const void *key, size_t klen, ks_value *out)
{
    server *s = c->srv;
    uint64_t h = hash64(key, klen, 0x6b6579u);
    lookup_slot *sl = &s->lookup[h & (LOOKUP_SLOTS - 1)];
    if (sl->gen == s->lookup_gen && sl->hash == h && sl->klen == klen && memcmp(sl->key, key, klen) == 0) {
        s->stats.coalesced++;
        if (sl->rc == 0) *out = sl->val;
        return sl->rc;
    }
    int rc = ks_get(c->ks, c->txn, key, klen, c->now_ms, out);
    if (rc == 0) s->stats.keyspace_hits++;
    else if (rc == BURROW_ENOTFOUND) s->stats.keyspace_misses++;
    if ((rc == 0 || rc == BURROW_ENOTFOUND) && klen <= LOOKUP_KEY_MAX) {
        /* out->data points into the txn's pages: valid until the next write
         * of the batch, which bumps lookup_gen */
        sl->gen = s->lookup_gen;
        sl->hash = h;
        sl->klen = (uint8_t)klen;
        memcpy(sl->key, key, klen);
        sl->rc = rc;
        if (rc == 0) sl->val = *out;
    }
    return rc;
}

void cmd_touch(cmd_ctx *c, const void *key, size_t klen)
{
    server *s = c->srv;
    s->lookup_gen++;
    watchers_touch(s, key, klen);
}

void cmd_touch_all(cmd_ctx *c)
{
    c->srv->lookup_gen++;
    watchers_touch_all(c->srv);
}

/* ---- running one command --------------------------------------------------- */

static int reply_unknown(session *sess, uint32_t argc, const resp_arg *argv)
{
    char msgbuf[512];
    size_t n = (size_t)snprintf(msgbuf, sizeof msgbuf, "ERR unknown command '%.*s', with args beginning with: ",
                                (int)(argv[0].len > 128 ? 128 : argv[0].len), argv[0].ptr);
    for (uint32_t i = 1; i < argc && n < sizeof msgbuf - 140; i++)
        n += (size_t)snprintf(msgbuf + n, sizeof msgbuf - n, "'%.*s' ",
                              (int)(argv[i].len > 128 ? 128 : argv[i].len), argv[i].ptr);
    if (n >= sizeof msgbuf) n = sizeof msgbuf - 1;
    return resp_error(&sess->out, msgbuf, n);
}

static bool arity_ok(const cmd_def *cmd, uint32_t argc)
{
    return cmd->arity > 0 ? argc == (uint32_t)cmd->arity : argc >= (uint32_t)-cmd->arity;
}

int server_exec_command(server *s, session *sess, const cmd_def *cmd, uint32_t argc,
                        const resp_arg *argv, bool in_exec)
{
    (void)in_exec;
    cmd_ctx c = {
        .srv = s, .sess = sess, .db = s->db, .ks = s->ks, .txn = s->txn, .cmd = cmd,
        .argc = argc, .argv = argv, .out = &sess->out, .proto = sess->proto, .now_ms = s->now_ms,
    };
    s->stats.commands++;
    sess->last_ms = s->now_ms;
    sess->last_cmd = cmd->name;
    size_t start = sess->out.size;
    int rc = cmd->fn(&c);
    if (rc < 0) {
        /* whatever the command wrote (cmd_fail's error, half an array)
         * gives way to one error reply */
        sess->out.size = start;
        const char *detail = burrow_errmsg();
        resp_errorf(&sess->out, "ERR %s", detail && *detail ? detail : burrow_strerror(rc));
    }
    return rc;
}

/* Run request it; returns < 0 when the batch's txn must be rolled back. */
static int exec_item(server *s, batch_item *it)
{
    session *sess = it->sess;
    const cmd_def *cmd = it->cmd;
    buf *out = &sess->out;
    it->out_start = out->size;
    if (sess->flags & SESS_CLOSING) return 0;
    sess->out_replies++;
    if (!cmd) {
        if (sess->flags & SESS_MULTI) sess->flags |= SESS_DIRTY_EXEC;
        reply_unknown(sess, it->argc, s->args + it->arg0);
        return 0;
    }
    if (!arity_ok(cmd, it->argc)) {
        if (sess->flags & SESS_MULTI) sess->flags |= SESS_DIRTY_EXEC;
        resp_errorf(out, "ERR wrong number of arguments for '%s' command", cmd->name);
        return 0;
    }
    if (s->cfg.requirepass && !(sess->flags & SESS_AUTHED) && !(cmd->flags & CMD_NOAUTH)) {
        if (sess->flags & SESS_MULTI) sess->flags |= SESS_DIRTY_EXEC;
        resp_error(out, "NOAUTH Authentication required.", 31);
        return 0;
    }
    if ((sess->flags & SESS_PUBSUB) && sess->proto == 2 && !(cmd->flags & CMD_PUBSUB)) {
        resp_errorf(out,
                    "ERR Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                    "are allowed in this context",
                    cmd->name);
        return 0;
    }
    if ((sess->flags & SESS_MULTI) && !(cmd->flags & CMD_NOMULTI)) {
        if (multi_queue(s, sess, cmd, it->argc, s->args + it->arg0)) {
            sess->flags |= SESS_DIRTY_EXEC;
            resp_error(out, "ERR out of memory queuing the command", 37);
        } else {
            resp_simple(out, "QUEUED", 6);
        }
        return 0;
    }
    it->wrote = s->txn_write && (cmd->flags & CMD_WRITE);
    int rc = server_exec_command(s, sess, cmd, it->argc, s->args + it->arg0, false);
    if (cmd->flags & CMD_WRITE) s->lookup_gen++; /* cached values may point at changed pages */
    return rc;
}

/* ---- sessions ------------------------------------------------------------- */

static void session_register(server *s, session *sess)
{
    sess->proto = 2;
    sess->prev = NULL;
    sess->next = s->sessions;
    if (s->sessions) s->sessions->prev = sess;
    s->sessions = sess;
    s->nsessions++;
    s->stats.connections++;
    if (!s->cfg.requirepass) sess->flags |= SESS_AUTHED;
    sess->last_ms = s->now_ms ? s->now_ms : wall_ms();
}

static void session_drop(server *s, session *sess)
{
    multi_reset(s, sess);
    watch_reset(s, sess);
    pubsub_drop_session(s, sess);
    if (sess->prev) sess->prev->next = sess->next;
    else s->sessions = sess->next;
    if (sess->next) sess->next->prev = sess->prev;
    s->nsessions--;
    free(sess->name);
    free(sess->lib_name);
    free(sess->lib_ver);
    sess->name = sess->lib_name = sess->lib_ver = NULL;
    buf_free(&sess->out);
}

/* The session inside a connection: the network layer puts it first. */
static session *conn_session(struct net_conn *c) { return (session *)(void *)c; }

/* ---- collecting a batch ---------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) n *= 2;
    void *p = realloc(*arr, n * elem);
    if (!p) return BURROW_ENOMEM;
    *arr = p;
    *cap = n;
    return 0;
}

static void add_out(server *s, session *sess)
{
    if (sess->out_next || s->out_list == sess) return;
    sess->out_next = s->out_list ? s->out_list : sess; /* self-loop marks the tail */
    s->out_list = sess;
    s->nout++;
}

/* Decode a MSG_REQUESTS into batch items; their arguments go to s->args
 * and point into the message, which lives until the end of the batch. */
static int add_requests(server *s, msg_requests *m)
{
    session *sess = conn_session(m->m.conn);
    const uint8_t *p = m->data;
    if (grow((void **)&s->items, &s->items_cap, s->nitems + m->count, sizeof *s->items)) return BURROW_ENOMEM;
    size_t items0 = s->nitems, args0 = s->nargs;
    for (uint32_t r = 0; r < m->count; r++) {
        uint32_t argc;
        memcpy(&argc, p, 4);
        p += 4;
        if (grow((void **)&s->args, &s->args_cap, s->nargs + argc, sizeof *s->args)) {
            s->nitems = items0;
            s->nargs = args0;
            return BURROW_ENOMEM;
        }
        batch_item *it = &s->items[s->nitems++];
        memset(it, 0, sizeof *it);
        it->sess = sess;
        it->argc = argc;
        it->arg0 = s->nargs;
        for (uint32_t i = 0; i < argc; i++) {
            uint32_t len;
            memcpy(&len, p, 4);
            p += 4;
            s->args[s->nargs].ptr = (const char *)p;
            s->args[s->nargs].len = len;
            s->nargs++;
            p += len;
        }
        it->cmd = argc ? cmd_find(s->args[it->arg0].ptr, s->args[it->arg0].len) : NULL;
    }
    add_out(s, sess);
    return 0;
}

static bool item_writes(const batch_item *it)
{
    if (!it->cmd) return false;
    if (it->cmd->flags & CMD_WRITE) return true;
    /* EXEC: its queued commands decide; MULTI sessions are rare enough to
     * always take the write txn */
    return (it->sess->flags & SESS_MULTI) != 0;
}

/* Pop messages into the batch. Returns true when something arrived. */
static bool collect(server *s)
{
    bool any = false;
    bool progress = true;
    while (progress && s->nitems < BATCH_MAX_ITEMS) {
        progress = false;
        for (int t = 0; t < s->nthreads; t++) {
            queue_node *n;
            /* take up to a slice per thread per round so one busy thread
             * cannot starve the others */
            for (int k = 0; k < 256 && (n = queue_pop(&s->to_data[t])); k++) {
                msg *m = (msg *)n;
                progress = any = true;
                switch (m->kind) {
                case MSG_OPEN: /* the connection's own message: not freed */
                    session_register(s, conn_session(m->conn));
                    break;
                case MSG_REQUESTS:
                    if (grow((void **)&s->msgs, &s->msgs_cap, s->nmsgs + 1, sizeof *s->msgs) ||
                        add_requests(s, (msg_requests *)m)) {
                        /* out of memory: drop the connection rather than
                         * answer some of its requests and not others */
                        server_kill_session(s, conn_session(m->conn));
                        free(m);
                        break;
                    }
                    s->msgs[s->nmsgs++] = m;
                    break;
                case MSG_CLOSE:
                    conn_session(m->conn)->flags |= SESS_CLOSING;
                    atomic_store_explicit(&m->node.next, s->closes, memory_order_relaxed);
                    s->closes = &m->node;
                    break;
                default:
                    free(m);
                    break;
                }
                if (s->nitems >= BATCH_MAX_ITEMS) break;
            }
        }
    }
    return any;
}

/* ---- running a batch -------------------------------------------------------- */

static void replace_write_replies(server *s, int rc)
{
    const char *detail = burrow_errmsg();
    char text[300];
    snprintf(text, sizeof text, "ERR commit failed: %s", detail && *detail ? detail : burrow_strerror(rc));
    /* rebuild each session's buffer: keep the replies of commands that did
     * not write, replace the others */
    for (session *x = s->out_list; x;) {
        buf nb = {0};
        for (size_t i = 0; i < s->nitems; i++) {
            batch_item *it = &s->items[i];
            if (it->sess != x) continue;
            size_t end = x->out.size;
            for (size_t j = i + 1; j < s->nitems; j++)
                if (s->items[j].sess == x) {
                    end = s->items[j].out_start;
                    break;
                }
            if (it->wrote) resp_error(&nb, text, strlen(text));
            else buf_append(&nb, x->out.data + it->out_start, end - it->out_start);
        }
        buf_free(&x->out);
        x->out = nb;
        session *nx = x->out_next == x ? NULL : x->out_next;
        x = nx;
    }
}

static void release_replies(server *s)
{
    session *x = s->out_list;
    while (x) {
        session *nx = x->out_next == x ? NULL : x->out_next;
        x->out_next = NULL;
        if (x->out_replies || x->out.size) {
            msg_reply *r = malloc(sizeof *r);
            if (r) {
                r->m.kind = MSG_REPLY;
                r->m.conn = (struct net_conn *)(void *)x;
                r->close_after = (x->flags & SESS_CLOSING) != 0;
                r->pubsub = (x->flags & SESS_PUBSUB) != 0;
                r->replies = x->out_replies;
                r->data = x->out; /* moved */
                buf_init(&x->out);
                server_send(s, x->thread, &r->m);
            } else {
                buf_free(&x->out);
                server_kill_session(s, x);
            }
        }
        x->out_replies = 0;
        x = nx;
    }
    s->out_list = NULL;
    s->nout = 0;
}

static void finish_closes(server *s)
{
    while (s->closes) {
        msg *m = (msg *)s->closes;
        s->closes = atomic_load_explicit(&m->node.next, memory_order_relaxed);
        session *sess = conn_session(m->conn);
        session_drop(s, sess);
        m->kind = MSG_CLOSED;
        server_send(s, sess->thread, m);
    }
}

/* ---- the sync thread -------------------------------------------------------------
 *
 * Under everysec and no (BURROW_SYNC_DEFERRED) a sync is a checkpoint; the
 * data thread only asks for one (syncer_request) and goes on with the next
 * batch while this thread waits for the fdatasync. burrow_sync makes
 * durable what was published before it began, so a commit that lands
 * during it simply waits for the next one. States: idle -(request)->
 * wanted -> running -> idle; paused holds off new ones (COMPACT closes the
 * database under it).
 */
static void *syncer_main(void *arg)
{
    server *s = arg;
    pthread_mutex_lock(&s->syncer_mu);
    for (;;) {
        while (!s->syncer_stop && (!s->sync_wanted || s->syncer_paused))
            pthread_cond_wait(&s->syncer_cv, &s->syncer_mu);
        if (s->syncer_stop) break;
        s->sync_wanted = false;
        s->sync_running = true;
        pthread_mutex_unlock(&s->syncer_mu);
        uint64_t began = wall_ms();
        if (burrow_sync(s->db) == 0) atomic_store(&s->synced_ms, began);
        pthread_mutex_lock(&s->syncer_mu);
        s->sync_running = false;
        pthread_cond_broadcast(&s->syncer_cv);
    }
    pthread_mutex_unlock(&s->syncer_mu);
    return NULL;
}

bool syncer_request(server *s)
{
    if (!s->syncer_started) return false;
    pthread_mutex_lock(&s->syncer_mu);
    bool fresh = !s->sync_wanted && !s->sync_running;
    s->sync_wanted = true;
    pthread_cond_broadcast(&s->syncer_cv);
    pthread_mutex_unlock(&s->syncer_mu);
    return fresh;
}

void syncer_pause(server *s)
{
    if (!s->syncer_started) return;
    pthread_mutex_lock(&s->syncer_mu);
    s->syncer_paused = true;
    while (s->sync_running) pthread_cond_wait(&s->syncer_cv, &s->syncer_mu);
    pthread_mutex_unlock(&s->syncer_mu);
}

void syncer_resume(server *s)
{
    if (!s->syncer_started) return;
    pthread_mutex_lock(&s->syncer_mu);
    s->syncer_paused = false;
    pthread_cond_broadcast(&s->syncer_cv);
    pthread_mutex_unlock(&s->syncer_mu);
}

static void syncer_stop(server *s)
{
    if (!s->syncer_started) return;
    pthread_mutex_lock(&s->syncer_mu);
    s->syncer_stop = true;
    pthread_cond_broadcast(&s->syncer_cv);
    pthread_mutex_unlock(&s->syncer_mu);
    pthread_join(s->syncer, NULL);
    s->syncer_started = false;
}

/* The pages freed since the last checkpoint are held back until the next
 * one, so under heavy writes the file would grow by a whole interval's
 * worth of rewritten pages. Ask for a checkpoint early once they pass an
 * eighth of the file (at least 32 MiB); the interval only bounds what a
 * power cut can take. */
static void checkpoint_if_large(server *s)
{
    burrow_db_stats st;
    if (burrow_db_stat(s->db, &st)) return;
    uint64_t limit = st.page_count / 8;
    uint64_t floor = (32u << 20) / st.page_size;
    if (limit < floor) limit = floor;
    if (st.pending_pages < limit) return;
    /* one in flight already covers this commit's predecessors; a new one
     * is asked for only when none is pending */
    if (syncer_request(s)) s->stats.early_syncs++;
    s->dirty_since_sync = 0;
}

static int commit_batch(server *s)
{
    uint64_t t0 = mono_ns();
    /* the clients of the last two write batches: they take turns while a
     * batch syncs, and the next batch should hold all of them */
    uint64_t seq = ++s->write_batches;
    size_t fresh = 0;
    for (session *x = s->out_list; x; x = x->out_next == x ? NULL : x->out_next) {
        if (x->last_write_batch + 1 != seq) fresh++;
        x->last_write_batch = seq;
    }
    s->writers_wanted = s->prev_write_sessions + fresh;
    s->prev_write_sessions = s->nout;
    int rc = burrow_txn_commit(s->txn);
    uint64_t took = mono_ns() - t0;
    /* a moving average of the commit's cost (mostly its fdatasync) */
    s->sync_ns = s->sync_ns ? (s->sync_ns * 7 + took) / 8 : took;
    s->txn = NULL;
    s->stats.commits++;
    if (rc) {
        s->stats.commit_failures++;
        return rc;
    }
    s->stats.last_commit_ms = s->now_ms;
    if (s->cfg.durability != DUR_ALWAYS) {
        s->dirty_since_sync++;
        checkpoint_if_large(s);
    } else {
        s->stats.last_sync_ms = s->now_ms;
    }
    return 0;
}

static void batch_run(server *s)
{
    s->now_ms = wall_ms();
    s->lookup_gen++;
    bool write = false;
    for (size_t i = 0; i < s->nitems && !write; i++) write = item_writes(&s->items[i]);
    int rc = s->nitems ? burrow_txn_begin(s->db, NULL, write ? 0 : BURROW_TXN_RDONLY, &s->txn) : 0;
    s->txn_write = write;
    if (rc) {
        const char *detail = burrow_errmsg();
        for (size_t i = 0; i < s->nitems; i++) {
            session *x = s->items[i].sess;
            if (x->flags & SESS_CLOSING) continue;
            x->out_replies++;
            resp_errorf(&x->out, "ERR cannot begin a transaction: %s", detail && *detail ? detail : burrow_strerror(rc));
        }
    } else if (s->nitems) {
        s->stats.batches++;
        int fail = 0;
        for (size_t i = 0; i < s->nitems; i++) {
            int r = exec_item(s, &s->items[i]);
            if (r < 0 && !fail) fail = r;
        }
        int bad = 0;
        if (fail && write) {
            burrow_txn_abort(s->txn);
            s->txn = NULL;
            bad = fail;
        } else if (write) {
            bad = commit_batch(s);
        } else {
            burrow_txn_abort(s->txn);
            s->txn = NULL;
        }
        /* no txn is live now: a COMPACT of the batch runs here, and may
         * rewrite its own reply, before replies are rebuilt or released */
        backup_batch_end(s);
        if (bad) replace_write_replies(s, bad);
        /* TIER.PROMOTE/PIN in a write batch promote only now, in a read
         * txn that sees the commit (cmd_tier.h); after a COMPACT, on the
         * reopened database */
        if (write) cmd_tier_batch_end(s->db);
    }
    release_replies(s);
    s->nitems = 0;
    s->nargs = 0;
    for (size_t i = 0; i < s->nmsgs; i++) free(s->msgs[i]);
    s->nmsgs = 0;
    finish_closes(s);
    wake_nets(s);
}

/* ---- the loop ---------------------------------------------------------------- */

static void stop_everything(server *s);

/*
 * Group commit's other half. The clients of a write batch get their replies
 * together and send their next writes a few tens of microseconds later; a
 * batch started at once would hold only the first few of them and pay a
 * whole commit (under `always` a whole fdatasync) for them, and the batches
 * would settle into halves. So a write batch waits, for at most half a
 * commit's time, until the clients of the last two write batches are back.
 * A lone client never waits: it is the only one of its batches.
 */
static void gather(server *s)
{
    if (s->shutting_down || !s->sync_ns) return;
    bool write = false;
    for (size_t i = 0; i < s->nitems && !write; i++) write = item_writes(&s->items[i]);
    if (!write) return;
    size_t want = s->writers_wanted;
    if (s->nout >= want) return;
    uint64_t budget = s->sync_ns / 2, start = mono_ns();
    while (s->nout < want && mono_ns() - start < budget && s->nitems < BATCH_MAX_ITEMS) {
        sched_yield();
        collect(s);
    }
}

static void on_wake(uv_async_t *h)
{
    server *s = h->data;
    /* run batches until the queues are empty, then return to the loop (a
     * push that lands after the last pop sends a new wake-up) */
    int rounds = 0;
    for (; rounds < 64; rounds++) {
        if (!collect(s) && !s->closes) break;
        gather(s);
        batch_run(s);
    }
    /* stopped by the bound, not by empty queues: the wake-ups for what is
     * left were consumed by this call, so ask for another turn (timers and
     * the cron run in between) */
    if (rounds == 64) uv_async_send(&s->wake);
    if (atomic_load(&s->shutdown_asked) && !s->shutting_down) stop_everything(s);
}

/* The active half of expiry: keys of the keyspace and documents of the
 * collections whose time has passed are deleted a bounded number per tick
 * (the lazy half is in the reads). */
static void sweep_expired(server *s)
{
    burrow_txn *txn;
    if (burrow_txn_begin(s->db, NULL, 0, &txn)) return;
    int keys = ks_sweep(s->ks, txn, wall_ms(), SWEEP_PER_TICK);
    int docs = burrow_ttl_sweep(txn, SWEEP_PER_TICK);
    if (keys < 0 || docs < 0 || keys + docs == 0) {
        burrow_txn_abort(txn);
        return;
    }
    if (burrow_txn_commit(txn) == 0) {
        s->stats.expired_keys += (uint64_t)keys;
        s->stats.expired_docs += (uint64_t)docs;
        s->lookup_gen++;
        if (keys) watchers_touch_all(s); /* the swept keys changed (conservative) */
        if (s->cfg.durability != DUR_ALWAYS) s->dirty_since_sync++;
    }
}

static void on_cron(uv_timer_t *t)
{
    server *s = t->data;
    if (s->shutting_down) return;
    sweep_expired(s);
    if (s->cfg.hot_mem) burrow_tier_step(s->db, 1000);
    uint64_t now = wall_ms();
    /* everysec: once a second; no: every 30 s, which bounds what a power
     * cut can take and the pages the file holds back between checkpoints */
    uint64_t every = s->cfg.durability == DUR_EVERYSEC ? 1000 : s->cfg.durability == DUR_NO ? 30000 : 0;
    if (every && s->dirty_since_sync && now - s->last_sync_ms >= every) {
        syncer_request(s);
        s->dirty_since_sync = 0;
        s->last_sync_ms = now;
    }
    uint64_t synced = atomic_load(&s->synced_ms);
    if (synced > s->stats.last_sync_ms) s->stats.last_sync_ms = synced;
}

static void stop_everything(server *s)
{
    s->shutting_down = true;
    if (s->net.stop_listening) s->net.stop_listening(s->net.ctx);
    /* finish what has arrived */
    while (collect(s) || s->closes) batch_run(s);
    syncer_stop(s);
    if (s->cfg.durability != DUR_ALWAYS) burrow_sync(s->db);
    /* the network threads free their connections (sessions included) on
     * MSG_STOP without asking us again */
    while (s->sessions) session_drop(s, s->sessions);
    for (int i = 0; i < s->nthreads; i++) {
        msg *m = malloc(sizeof *m);
        if (!m) continue;
        m->kind = MSG_STOP;
        m->conn = NULL;
        server_send(s, i, m);
    }
    wake_nets(s);
    uv_timer_stop(&s->cron);
    uv_close((uv_handle_t *)&s->cron, NULL);
    uv_close((uv_handle_t *)&s->wake, NULL);
}

int server_run(server *s)
{
    s->start_ms = wall_ms();
    s->last_sync_ms = s->start_ms;
    uv_timer_start(&s->cron, on_cron, 100, 100);
    int rc = uv_run(&s->loop, UV_RUN_DEFAULT);
    return rc < 0 ? rc : 0;
}

/* ---- creating -------------------------------------------------------------- */

void server_db_options(const server *s, burrow_options *opt)
{
    burrow_options_init(opt);
    /* everysec and no commit without syncing; burrow_sync (on the cron) is
     * the checkpoint a power cut falls back to */
    opt->sync_mode = s->cfg.durability == DUR_ALWAYS ? BURROW_SYNC_FULL : BURROW_SYNC_DEFERRED;
    opt->hot_memory = s->cfg.hot_mem;
    opt->hot_policy = s->cfg.eviction;
}

static char *xstrdup(const char *x) { return x ? strdup(x) : NULL; }

int server_create(const server_config *cfg, server **out, char *err, size_t errlen)
{
    server *s = calloc(1, sizeof *s);
    if (!s) return snprintf(err, errlen, "out of memory"), -1;
    s->cfg = *cfg;
    s->cfg.bind = xstrdup(cfg->bind);
    s->cfg.dir = xstrdup(cfg->dir);
    s->cfg.dbfilename = xstrdup(cfg->dbfilename);
    s->cfg.requirepass = xstrdup(cfg->requirepass);
    s->cfg.config_file = xstrdup(cfg->config_file);
    s->nthreads = cfg->threads;
    server_limits_update(s);
    atomic_init(&s->next_client_id, 1);
    s->to_data = calloc((size_t)s->nthreads, sizeof *s->to_data);
    s->to_net = calloc((size_t)s->nthreads, sizeof *s->to_net);
    s->net_wake = calloc((size_t)s->nthreads, sizeof *s->net_wake);
    if (!s->to_data || !s->to_net || !s->net_wake) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < s->nthreads; i++) {
        queue_init(&s->to_data[i]);
        queue_init(&s->to_net[i]);
    }
    size_t plen = strlen(cfg->dir) + strlen(cfg->dbfilename) + 2;
    s->db_path = malloc(plen);
    if (!s->db_path) goto fail;
    snprintf(s->db_path, plen, "%s/%s", cfg->dir, cfg->dbfilename);

    burrow_options opt;
    server_db_options(s, &opt);
    int rc = burrow_open(s->db_path, &opt, &s->db);
    if (rc) {
        const char *d = burrow_errmsg();
        snprintf(err, errlen, "cannot open %s: %s", s->db_path, d && *d ? d : burrow_strerror(rc));
        goto fail;
    }
    if ((rc = ks_open(s->db, &s->ks))) {
        const char *d = burrow_errmsg();
        snprintf(err, errlen, "cannot open the keyspace in %s: %s", s->db_path, d && *d ? d : burrow_strerror(rc));
        goto fail;
    }
    if (pubsub_create(&s->ps) || watchers_create(&s->watch)) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (uv_loop_init(&s->loop)) {
        snprintf(err, errlen, "cannot create the event loop");
        goto fail;
    }
    if (cfg->durability != DUR_ALWAYS) {
        pthread_mutex_init(&s->syncer_mu, NULL);
        pthread_cond_init(&s->syncer_cv, NULL);
        s->syncer_inited = true;
        if (pthread_create(&s->syncer, NULL, syncer_main, s)) {
            snprintf(err, errlen, "cannot start the sync thread");
            goto fail;
        }
        s->syncer_started = true;
    }
    s->loop_ready = true;
    uv_async_init(&s->loop, &s->wake, on_wake);
    s->wake.data = s;
    uv_timer_init(&s->loop, &s->cron);
    s->cron.data = s;
    *out = s;
    return 0;
fail:
    server_destroy(s);
    return -1;
}

void server_destroy(server *s)
{
    if (!s) return;
    syncer_stop(s);
    if (s->syncer_inited) {
        pthread_mutex_destroy(&s->syncer_mu);
        pthread_cond_destroy(&s->syncer_cv);
    }
    while (s->sessions) session_drop(s, s->sessions);
    if (s->loop_ready) {
        /* a server that never ran (burrow's embedded mode, a failed start)
         * still has its handles open: the loop closes only without them */
        if (!uv_is_closing((uv_handle_t *)&s->wake)) uv_close((uv_handle_t *)&s->wake, NULL);
        if (!uv_is_closing((uv_handle_t *)&s->cron)) uv_close((uv_handle_t *)&s->cron, NULL);
        uv_run(&s->loop, UV_RUN_NOWAIT);
        uv_loop_close(&s->loop);
    }
    backup_shutdown(s); /* its thread reads s->db */
    if (s->ks) ks_close(s->ks);
    if (s->db) burrow_close(s->db);
    pubsub_destroy(s->ps);
    watchers_destroy(s->watch);
    free(s->items);
    free(s->msgs);
    free(s->args);
    free(s->to_data);
    free(s->to_net);
    free(s->net_wake);
    free(s->db_path);
    config_free(&s->cfg);
    free(s);
}
