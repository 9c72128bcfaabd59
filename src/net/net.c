/*
 * net.c — the network threads: accepting, reading and parsing requests,
 * writing replies and broadcasts, limits and back-pressure (N1, N2, N9).
 *
 * A connection's states and who moves it:
 *
 *   OPEN --(EOF, error, QUIT, kill, limit, protocol error)--> CLOSING
 *   CLOSING --(uv_close callback: MSG_CLOSE sent)-----------> CLOSED
 *   CLOSED --(MSG_CLOSED from the data thread)-------------> freed
 *
 * In OPEN the connection reads unless paused by back-pressure: too many
 * requests in flight (max-pipeline) or too many reply bytes not yet written
 * (PAUSE_OUTPUT). Replies that cannot be written at once are queued with
 * uv_write; when the queued bytes pass the client's output limit the
 * connection is closed (a subscriber's limit is the pub/sub one), so a
 * client that never reads cannot make the server's memory grow without
 * bound.
 *
 * Memory of an idle connection: the libuv handle, the session (the data
 * thread's half) and a few counters. Read buffers are per thread; a
 * connection holds bytes of its own only while a request is half arrived.
 */
#include "net/net.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define READ_CHUNK (64 * 1024)
#define PAUSE_OUTPUT (1024 * 1024) /* stop reading a client with this much unwritten */

enum conn_state { C_OPEN, C_CLOSING, C_CLOSED };

typedef struct net_thread net_thread;

struct net_conn {
    session sess; /* first: the data thread finds its session at the same address */
    msg open_msg, close_msg;
    uv_tcp_t tcp;
    net_thread *t;
    struct net_conn *prev, *next; /* the thread's connections */
    char *in;                     /* a request's first bytes, while it is incomplete */
    size_t in_len, in_cap, need;
    resp_parser *parser;          /* its parse state, with in */
    char *proto_error;            /* written (then close) once in-flight replies are out */
    uint64_t last_ms;
    size_t out_pending;           /* bytes queued in uv_write requests */
    uint32_t inflight;            /* requests sent to the data thread, not yet answered */
    buf cork;                     /* small broadcasts of this wake-up, written at its end */
    struct net_conn *cork_next;   /* the thread's corked connections */
    uint8_t state;
    bool reading, close_after_write, pubsub, corked;
};

typedef struct write_req {
    uv_write_t req;
    struct net_conn *c;
    shared_buf *shared; /* or owned bytes below */
    size_t len;
    char owned[];
} write_req;

struct net_thread {
    int index;
    net *n;
    server *srv;
    uv_loop_t loop;
    uv_async_t wake;
    uv_tcp_t listener;
    uv_timer_t idle;
    uv_thread_t tid;
    bool listening, stopping;
    atomic_bool stop_listen;
    resp_parser parser; /* for requests that arrive whole */
    char *rbuf;
    buf batch;          /* requests of the current read, flattened */
    uint32_t batch_count;
    struct net_conn *conns;
    uint64_t nconns;
    struct net_conn *corked; /* connections with bytes in their cork */
};

struct net {
    server *srv;
    int nthreads;
    int port;
    net_thread *threads;
    net_stats *stats;
    net_limits *limits;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- closing ------------------------------------------------------------------ */

static void on_closed(uv_handle_t *h)
{
    struct net_conn *c = h->data;
    net_thread *t = c->t;
    c->state = C_CLOSED;
    if (t->stopping) {
        /* the data thread has dropped every session already */
        free(c->in);
        if (c->parser) resp_parser_free(c->parser);
        free(c->parser);
        free(c->proto_error);
        buf_free(&c->cork);
        free(c);
        return;
    }
    c->close_msg.kind = MSG_CLOSE;
    c->close_msg.conn = c;
    queue_push(server_to_data(t->srv, t->index), &c->close_msg.node);
    server_wake(t->srv, t->index);
}

static void conn_close(struct net_conn *c)
{
    if (c->state != C_OPEN) return;
    net_thread *t = c->t;
    c->state = C_CLOSING;
    if (c->prev) c->prev->next = c->next;
    else t->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    t->nconns--;
    atomic_fetch_sub(&t->n->stats->connected, 1);
    atomic_fetch_sub(&t->n->stats->output_bytes, c->out_pending);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void conn_free_after_ack(struct net_conn *c)
{
    free(c->in);
    if (c->parser) resp_parser_free(c->parser);
    free(c->parser);
    free(c->proto_error);
    buf_free(&c->cork);
    free(c);
}

/* ---- writing ------------------------------------------------------------------- */

static void maybe_resume(struct net_conn *c);

static void on_written(uv_write_t *req, int status)
{
    write_req *w = (write_req *)req;
    struct net_conn *c = w->c;
    (void)status;
    if (c->state == C_OPEN || c->state == C_CLOSING) {
        /* while closing, the counters were already settled by conn_close */
        if (c->state == C_OPEN) atomic_fetch_sub(&c->t->n->stats->output_bytes, w->len);
        c->out_pending -= w->len;
    }
    if (w->shared) shared_buf_unref(w->shared);
    free(w);
    if (c->state != C_OPEN) return;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->out_pending == 0 && c->close_after_write) {
        conn_close(c);
        return;
    }
    maybe_resume(c);
}

static size_t output_limit(struct net_conn *c)
{
    net_limits *l = c->t->n->limits;
    return c->pubsub ? atomic_load(&l->pubsub_output_limit) : atomic_load(&l->output_limit);
}

/* Write bytes (copied if they cannot go out at once, or referenced when
 * shared is given). */
static void conn_write(struct net_conn *c, const void *data, size_t len, shared_buf *shared)
{
    if (c->state != C_OPEN || len == 0) return;
    size_t done = 0;
    if (c->out_pending == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (r >= 0) done = (size_t)r;
        else if (r != UV_EAGAIN) {
            conn_close(c);
            return;
        }
    }
    atomic_fetch_add(&c->t->n->stats->bytes_out, done);
    if (done == len) return;
    size_t rest = len - done;
    size_t limit = output_limit(c);
    if (limit && c->out_pending + rest > limit) {
        atomic_fetch_add(c->pubsub ? &c->t->n->stats->pubsub_limit_closed : &c->t->n->stats->output_limit_closed, 1);
        conn_close(c);
        return;
    }
    write_req *w = malloc(sizeof *w + (shared ? 0 : rest));
    if (!w) {
        conn_close(c);
        return;
    }
    w->c = c;
    w->len = rest;
    uv_buf_t b;
    if (shared) {
        shared_buf_ref(shared);
        w->shared = shared;
        b = uv_buf_init((char *)data + done, (unsigned)rest);
    } else {
        w->shared = NULL;
        memcpy(w->owned, (const char *)data + done, rest);
        b = uv_buf_init(w->owned, (unsigned)rest);
    }
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written)) {
        if (w->shared) shared_buf_unref(w->shared);
        free(w);
        conn_close(c);
        return;
    }
    c->out_pending += rest;
    atomic_fetch_add(&c->t->n->stats->output_bytes, rest);
    atomic_fetch_add(&c->t->n->stats->bytes_out, rest);
}

static void conn_write_error_and_close(struct net_conn *c)
{
    if (c->proto_error) {
        conn_write(c, c->proto_error, strlen(c->proto_error), NULL);
        free(c->proto_error);
        c->proto_error = NULL;
    }
    if (c->state != C_OPEN) return;
    if (c->out_pending == 0) conn_close(c);
    else c->close_after_write = true;
}

/* ---- reading ---------------------------------------------------------------------- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

static bool should_pause(struct net_conn *c)
{
    return c->inflight >= atomic_load(&c->t->n->limits->max_pipeline) || c->out_pending > PAUSE_OUTPUT ||
           c->proto_error || c->close_after_write;
}

static void maybe_resume(struct net_conn *c)
{
    if (c->state != C_OPEN || c->reading || should_pause(c)) return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = true;
}

static void pause_reading(struct net_conn *c)
{
    if (!c->reading) return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct net_conn *c = h->data;
    (void)suggested;
    if (!c->in) {
        *b = uv_buf_init(c->t->rbuf, READ_CHUNK);
        return;
    }
    /* a request is half here: read into its own buffer, as much as it is
     * known to need (bounded), else a chunk */
    size_t want = c->need > c->in_len ? c->need - c->in_len : READ_CHUNK;
    if (want > 16u * 1024 * 1024) want = 16u * 1024 * 1024;
    if (want < READ_CHUNK) want = READ_CHUNK;
    if (c->in_cap - c->in_len < want) {
        size_t nc = c->in_len + want;
        char *p = realloc(c->in, nc);
        if (!p) {
            *b = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS: the read callback closes */
            return;
        }
        c->in = p;
        c->in_cap = nc;
    }
    *b = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void resp_limits_of(net_thread *t, resp_limits *lim)
{
    net_limits *l = t->n->limits;
    lim->max_bulk = atomic_load(&l->max_bulk);
    lim->max_args = atomic_load(&l->max_args);
    lim->max_inline = atomic_load(&l->max_inline);
}

/* Hand the requests gathered in t->batch for c to the data thread. */
static bool flush_batch(struct net_conn *c)
{
    net_thread *t = c->t;
    if (!t->batch_count) return true;
    msg_requests *m = malloc(sizeof *m + t->batch.size);
    if (!m) return false;
    m->m.kind = MSG_REQUESTS;
    m->m.conn = c;
    m->count = t->batch_count;
    m->len = t->batch.size;
    memcpy(m->data, t->batch.data, t->batch.size);
    c->inflight += t->batch_count;
    t->batch.size = 0;
    t->batch_count = 0;
    queue_push(server_to_data(t->srv, t->index), &m->m.node);
    server_wake(t->srv, t->index);
    return true;
}

static bool add_request(net_thread *t, const resp_parser *p)
{
    size_t need = 4;
    for (uint32_t i = 0; i < p->argc; i++) need += 4 + p->argv[i].len;
    if (buf_reserve(&t->batch, need)) return false;
    uint32_t argc = p->argc;
    memcpy(t->batch.data + t->batch.size, &argc, 4);
    t->batch.size += 4;
    for (uint32_t i = 0; i < argc; i++) {
        uint32_t len = (uint32_t)p->argv[i].len;
        memcpy(t->batch.data + t->batch.size, &len, 4);
        memcpy(t->batch.data + t->batch.size + 4, p->argv[i].ptr, len);
        t->batch.size += 4 + len;
    }
    t->batch_count++;
    return true;
}

static void protocol_error(struct net_conn *c, const char *why)
{
    atomic_fetch_add(&c->t->n->stats->protocol_errors, 1);
    size_t n = strlen(why);
    c->proto_error = malloc(n + 4);
    if (c->proto_error) {
        c->proto_error[0] = '-';
        memcpy(c->proto_error + 1, why, n);
        memcpy(c->proto_error + 1 + n, "\r\n", 3);
    }
    pause_reading(c);
    if (c->inflight == 0) conn_write_error_and_close(c);
}

/* Parse what arrived. Returns the number of bytes at the end of data that
 * belong to an incomplete request (the caller keeps them). */
static size_t parse_input(struct net_conn *c, resp_parser *p, const char *data, size_t len)
{
    net_thread *t = c->t;
    resp_limits lim;
    resp_limits_of(t, &lim);
    size_t off = 0;
    while (off < len) {
        size_t used = 0, need = 0;
        int rc = resp_parse(p, &lim, data + off, len - off, &used, &need);
        if (rc == RESP_REQUEST) {
            off += used;
            if (p->argc && !add_request(t, p)) {
                protocol_error(c, "ERR out of memory reading the request");
                return 0;
            }
            continue;
        }
        if (rc == RESP_NEED_MORE) {
            off += used;
            c->need = need;
            break;
        }
        /* the requests before the bad one are answered first, in order */
        bool sent = flush_batch(c);
        t->batch.size = 0;
        t->batch_count = 0;
        char why[160];
        if (rc == RESP_EPROTO) snprintf(why, sizeof why, "ERR %s", p->err);
        protocol_error(c, rc == RESP_EPROTO && sent ? why : "ERR out of memory reading the request");
        resp_parser_reset(p);
        return 0;
    }
    if (!flush_batch(c)) {
        protocol_error(c, "ERR out of memory reading the request");
        return 0;
    }
    return len - off;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct net_conn *c = s->data;
    net_thread *t = c->t;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0 || c->state != C_OPEN || c->proto_error) return;
    atomic_fetch_add(&t->n->stats->bytes_in, (uint64_t)nread);
    c->last_ms = now_ms();
    size_t max_req = atomic_load(&t->n->limits->max_request_bytes);
    if (!c->in) {
        /* the whole chunk is in the thread's buffer */
        size_t rest = parse_input(c, &t->parser, b->base, (size_t)nread);
        resp_parser_reset(&t->parser);
        if (rest && c->state == C_OPEN && !c->proto_error) {
            /* keep the incomplete request's bytes; its parse restarts from
             * them with the connection's own parser */
            size_t cap = rest < READ_CHUNK ? READ_CHUNK : rest;
            c->in = malloc(cap);
            c->parser = malloc(sizeof *c->parser);
            if (!c->in || !c->parser) {
                free(c->in);
                free(c->parser);
                c->in = NULL;
                c->parser = NULL;
                protocol_error(c, "ERR out of memory reading the request");
                return;
            }
            resp_parser_init(c->parser);
            memcpy(c->in, b->base + nread - rest, rest);
            c->in_len = rest;
            c->in_cap = cap;
        }
    } else {
        c->in_len += (size_t)nread;
        size_t rest = parse_input(c, c->parser, c->in, c->in_len);
        if (c->state != C_OPEN || c->proto_error) return;
        if (rest == 0) {
            free(c->in);
            c->in = NULL;
            c->in_len = c->in_cap = 0;
            resp_parser_free(c->parser);
            free(c->parser);
            c->parser = NULL;
        } else if (rest < c->in_len) {
            /* complete requests went out; the parser's state is relative to
             * the incomplete one, whose bytes move to the front */
            memmove(c->in, c->in + c->in_len - rest, rest);
            c->in_len = rest;
        }
        if (c->in && c->in_len > max_req) {
            protocol_error(c, "ERR Protocol error: request larger than client-query-buffer-limit");
            return;
        }
    }
    if (should_pause(c)) pause_reading(c);
}

/* ---- accepting ------------------------------------------------------------------------ */

static void addr_string(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    snprintf(out, n, "%s:%d", host, port);
}

static void on_reject_closed(uv_handle_t *h) { free(h); }
static void on_failed_accept_closed(uv_handle_t *h) { free(h->data); }

static void on_connection(uv_stream_t *listener, int status)
{
    net_thread *t = listener->data;
    if (status < 0 || t->stopping) return;
    net *n = t->n;
    if (atomic_load(&n->stats->connected) >= atomic_load(&n->limits->maxclients)) {
        /* accept, say why, close: as Redis does */
        uv_tcp_t *tmp = malloc(sizeof *tmp);
        if (!tmp) return;
        uv_tcp_init(&t->loop, tmp);
        if (uv_accept(listener, (uv_stream_t *)tmp) == 0) {
            static const char e[] = "-ERR max number of clients reached\r\n";
            uv_buf_t b = uv_buf_init((char *)e, sizeof e - 1);
            uv_try_write((uv_stream_t *)tmp, &b, 1);
            atomic_fetch_add(&n->stats->rejected, 1);
        }
        uv_close((uv_handle_t *)tmp, on_reject_closed);
        return;
    }
    struct net_conn *c = calloc(1, sizeof *c);
    if (!c) return;
    c->t = t;
    uv_tcp_init(&t->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, on_failed_accept_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) addr_string(&ss, c->sess.addr, sizeof c->sess.addr);
    len = sizeof ss;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &len) == 0) addr_string(&ss, c->sess.laddr, sizeof c->sess.laddr);
    c->sess.id = server_next_client_id(t->srv);
    c->sess.thread = t->index;
    c->sess.created_ms = c->last_ms = now_ms();
    c->next = t->conns;
    if (t->conns) t->conns->prev = c;
    t->conns = c;
    t->nconns++;
    atomic_fetch_add(&n->stats->connected, 1);
    atomic_fetch_add(&n->stats->accepted, 1);
    c->open_msg.kind = MSG_OPEN;
    c->open_msg.conn = c;
    queue_push(server_to_data(t->srv, t->index), &c->open_msg.node);
    server_wake(t->srv, t->index);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0) c->reading = true;
    else conn_close(c);
}

/* ---- messages from the data thread ------------------------------------------------------ */

static void close_listener(net_thread *t)
{
    if (!t->listening) return;
    t->listening = false;
    uv_close((uv_handle_t *)&t->listener, NULL);
}

static void stop_thread(net_thread *t)
{
    t->stopping = true;
    close_listener(t);
    /* the data thread has dropped every session; write what is pending
     * (best effort) and close everything */
    while (t->conns) conn_close(t->conns);
    uv_timer_stop(&t->idle);
    uv_close((uv_handle_t *)&t->idle, NULL);
    uv_close((uv_handle_t *)&t->wake, NULL);
}

/*
 * Corking. A burst of PUBLISH (a pipeline, or many publishers in one batch)
 * reaches a network thread as many broadcasts in one wake-up; writing each
 * message to each subscriber would cost a send() per message per
 * subscriber. Small messages are appended to the subscriber's cork instead,
 * and every cork is written once at the end of the wake-up. A reply for a
 * corked connection flushes its cork first, so bytes keep their order.
 */
#define CORK_DIRECT 4096 /* larger broadcasts are written from the shared buffer */

static void cork_append(struct net_conn *c, const void *p, size_t n)
{
    if (buf_append(&c->cork, p, n)) {
        conn_close(c);
        return;
    }
    if (!c->corked) {
        c->corked = true;
        c->cork_next = c->t->corked;
        c->t->corked = c;
    }
}

static void cork_flush(struct net_conn *c)
{
    if (c->state == C_OPEN && c->cork.size) conn_write(c, c->cork.data, c->cork.size, NULL);
    /* an idle subscriber keeps no buffer */
    buf_free(&c->cork);
}

static void cork_flush_all(net_thread *t)
{
    struct net_conn *c = t->corked;
    t->corked = NULL;
    while (c) {
        struct net_conn *nx = c->cork_next;
        c->corked = false;
        c->cork_next = NULL;
        cork_flush(c);
        c = nx;
    }
}

static void handle_reply(msg_reply *r)
{
    struct net_conn *c = r->m.conn;
    if (c->inflight >= r->replies) c->inflight -= r->replies;
    else c->inflight = 0;
    if (c->state == C_OPEN) {
        c->pubsub = r->pubsub;
        if (c->cork.size) cork_flush(c); /* it stays on the corked list, empty */
        if (r->data.size) conn_write(c, r->data.data, r->data.size, NULL);
        if (r->close_after && c->state == C_OPEN) {
            pause_reading(c);
            if (c->out_pending == 0) conn_close(c);
            else c->close_after_write = true;
        }
        if (c->state == C_OPEN && c->proto_error && c->inflight == 0) conn_write_error_and_close(c);
        if (c->state == C_OPEN) maybe_resume(c);
    }
    buf_free(&r->data);
    free(r);
}

static void handle_broadcast(msg_broadcast *b)
{
    for (uint32_t i = 0; i < b->count; i++) {
        struct net_conn *c = b->to[i].conn;
        if (c->state != C_OPEN) continue;
        shared_buf *sb = b->buf[b->to[i].proto == 3 ? 1 : 0];
        if (!sb) continue;
        c->pubsub = true;
        if (sb->len >= CORK_DIRECT && !c->cork.size) conn_write(c, sb->data, sb->len, sb);
        else cork_append(c, sb->data, sb->len);
    }
    shared_buf_unref(b->buf[0]);
    shared_buf_unref(b->buf[1]);
    free(b);
}

static void on_wake(uv_async_t *h)
{
    net_thread *t = h->data;
    if (atomic_load(&t->stop_listen)) close_listener(t);
    queue *q = server_to_net(t->srv, t->index);
    queue_node *n;
    while ((n = queue_pop(q))) {
        msg *m = (msg *)n;
        switch (m->kind) {
        case MSG_REPLY: handle_reply((msg_reply *)m); break;
        case MSG_BROADCAST: handle_broadcast((msg_broadcast *)m); break;
        case MSG_KILL:
            conn_close(m->conn);
            free(m);
            break;
        case MSG_CLOSED:
            /* m is the connection's own close_msg */
            conn_free_after_ack(m->conn);
            break;
        case MSG_STOP:
            free(m);
            cork_flush_all(t);
            stop_thread(t);
            return;
        default: free(m); break;
        }
    }
    cork_flush_all(t);
}

static void on_idle_check(uv_timer_t *tm)
{
    net_thread *t = tm->data;
    uint32_t timeout = atomic_load(&t->n->limits->timeout);
    if (!timeout) return;
    uint64_t now = now_ms();
    for (struct net_conn *c = t->conns, *nx; c; c = nx) {
        nx = c->next;
        if (c->pubsub || c->inflight) continue; /* as Redis: subscribers are not idle */
        if (now - c->last_ms > (uint64_t)timeout * 1000) {
            atomic_fetch_add(&t->n->stats->idle_closed, 1);
            conn_close(c);
        }
    }
}

static void thread_main(void *arg)
{
    net_thread *t = arg;
    uv_run(&t->loop, UV_RUN_DEFAULT);
}

/* ---- the listeners ------------------------------------------------------------------------- */

static int bind_socket(const char *host, int port, int backlog, int *fd_out, int *port_out, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0) sl = sizeof(struct sockaddr_in);
    else if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) sl = sizeof(struct sockaddr_in6);
    else return snprintf(err, errlen, "bad bind address '%s'", host), -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return snprintf(err, errlen, "socket: %s", strerror(errno)), -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) {
        snprintf(err, errlen, "SO_REUSEPORT: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, backlog)) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    struct sockaddr_storage got;
    socklen_t gl = sizeof got;
    getsockname(fd, (struct sockaddr *)&got, &gl);
    *port_out = got.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&got)->sin_port)
                                         : ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
    *fd_out = fd;
    return 0;
}

static void net_wake_thread(void *ctx, int i)
{
    net *n = ctx;
    uv_async_send(&n->threads[i].wake);
}

static void net_stop_listening(void *ctx)
{
    net *n = ctx;
    for (int i = 0; i < n->nthreads; i++) {
        atomic_store(&n->threads[i].stop_listen, true);
        uv_async_send(&n->threads[i].wake);
    }
}

int net_start(server *s, const server_config *cfg, net **out, char *err, size_t errlen)
{
    net *n = calloc(1, sizeof *n);
    if (!n) return snprintf(err, errlen, "out of memory"), -1;
    n->srv = s;
    n->nthreads = server_threads(s);
    n->stats = server_net_stats(s);
    n->limits = server_net_limits(s);
    n->threads = calloc((size_t)n->nthreads, sizeof *n->threads);
    if (!n->threads) {
        free(n);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    int port = cfg->port;
    for (int i = 0; i < n->nthreads; i++) {
        net_thread *t = &n->threads[i];
        t->index = i;
        t->n = n;
        t->srv = s;
        resp_parser_init(&t->parser);
        t->rbuf = malloc(READ_CHUNK);
        int fd;
        if (!t->rbuf || bind_socket(cfg->bind, port, cfg->tcp_backlog, &fd, &port, err, errlen) ||
            uv_loop_init(&t->loop)) {
            /* threads not started yet: nothing to join */
            if (!err[0]) snprintf(err, errlen, "cannot start network thread %d", i);
            return -1;
        }
        uv_async_init(&t->loop, &t->wake, on_wake);
        t->wake.data = t;
        uv_timer_init(&t->loop, &t->idle);
        t->idle.data = t;
        uv_timer_start(&t->idle, on_idle_check, 1000, 1000);
        uv_tcp_init(&t->loop, &t->listener);
        t->listener.data = t;
        if (uv_tcp_open(&t->listener, fd) || uv_listen((uv_stream_t *)&t->listener, cfg->tcp_backlog, on_connection)) {
            snprintf(err, errlen, "cannot listen on %s:%d", cfg->bind, port);
            return -1;
        }
        t->listening = true;
    }
    n->port = port;
    server_net_ops ops = {n, net_wake_thread, net_stop_listening};
    server_set_net(s, &ops);
    for (int i = 0; i < n->nthreads; i++)
        if (uv_thread_create(&n->threads[i].tid, thread_main, &n->threads[i])) {
            snprintf(err, errlen, "cannot create network thread %d", i);
            return -1;
        }
    *out = n;
    return 0;
}

int net_port(const net *n) { return n->port; }

void net_join(net *n)
{
    if (!n) return;
    for (int i = 0; i < n->nthreads; i++) uv_thread_join(&n->threads[i].tid);
    /* the data thread has stopped too: what it never took from its queues
     * is freed here (connections that closed during the shutdown) */
    for (int i = 0; i < n->nthreads; i++) {
        queue_node *qn;
        while ((qn = queue_pop(server_to_data(n->srv, i)))) {
            msg *m = (msg *)qn;
            if (m->kind == MSG_CLOSE) conn_free_after_ack(m->conn);
            else if (m->kind == MSG_REQUESTS) free(m);
        }
    }
    for (int i = 0; i < n->nthreads; i++) {
        net_thread *t = &n->threads[i];
        uv_loop_close(&t->loop);
        resp_parser_free(&t->parser);
        buf_free(&t->batch);
        free(t->rbuf);
    }
    free(n->threads);
    free(n);
}
