/*
 * pubsub.c — channels and patterns (R1) and the fan-out of published
 * messages (N4): SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH,
 * PUBSUB.
 *
 * The registry belongs to the data thread: channel -> its subscribers, and
 * the list of patterns with theirs. PUBLISH encodes the message once per
 * protocol (RESP2 array, RESP3 push) into a reference-counted buffer and
 * sends each network thread one MSG_BROADCAST listing its subscribers; the
 * network thread writes the same bytes to each of them. A subscriber that
 * already has replies waiting in this batch gets the message appended to
 * them instead, so it never sees a message before the reply to its own
 * SUBSCRIBE.
 */
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "server/glob.h"
#include "server/server_int.h"

/* A channel or a pattern, with its subscribers. */
typedef struct topic {
    struct topic *next; /* hash chain (channels) or list (patterns) */
    uint64_t hash;
    session **subs;
    size_t n, cap;
    size_t len;
    char name[];
} topic;

struct pubsub {
    topic **slots; /* channels */
    size_t nslots, nchannels;
    topic *patterns;
    size_t npatterns;
};

/* What one session is subscribed to. */
struct sub_state {
    topic **ch;
    size_t nch, capch;
    topic **pat;
    size_t npat, cappat;
};

int pubsub_create(pubsub **out)
{
    pubsub *ps = calloc(1, sizeof *ps);
    if (!ps) return BURROW_ENOMEM;
    ps->nslots = 256;
    if (!(ps->slots = calloc(ps->nslots, sizeof *ps->slots))) {
        free(ps);
        return BURROW_ENOMEM;
    }
    *out = ps;
    return 0;
}

static void topic_free(topic *t)
{
    free(t->subs);
    free(t);
}

void pubsub_destroy(pubsub *ps)
{
    if (!ps) return;
    for (size_t i = 0; i < ps->nslots; i++)
        for (topic *t = ps->slots[i], *nx; t; t = nx) {
            nx = t->next;
            topic_free(t);
        }
    for (topic *t = ps->patterns, *nx; t; t = nx) {
        nx = t->next;
        topic_free(t);
    }
    free(ps->slots);
    free(ps);
}

uint64_t pubsub_count_channels(const pubsub *ps) { return ps->nchannels; }
uint64_t pubsub_count_patterns(const pubsub *ps) { return ps->npatterns; }

void pubsub_session_counts(const session *sess, uint64_t *channels, uint64_t *patterns)
{
    *channels = sess->subs ? sess->subs->nch : 0;
    *patterns = sess->subs ? sess->subs->npat : 0;
}

static uint64_t ch_hash(const void *p, size_t n) { return hash64(p, n, 0x70756273u); }

static topic *channel_find(pubsub *ps, const char *name, size_t len, uint64_t h)
{
    for (topic *t = ps->slots[h & (ps->nslots - 1)]; t; t = t->next)
        if (t->hash == h && t->len == len && memcmp(t->name, name, len) == 0) return t;
    return NULL;
}

static topic *pattern_find(pubsub *ps, const char *name, size_t len)
{
    for (topic *t = ps->patterns; t; t = t->next)
        if (t->len == len && memcmp(t->name, name, len) == 0) return t;
    return NULL;
}

static void channels_rehash(pubsub *ps)
{
    size_t nn = ps->nslots * 2;
    topic **ns = calloc(nn, sizeof *ns);
    if (!ns) return;
    for (size_t i = 0; i < ps->nslots; i++)
        for (topic *t = ps->slots[i], *nx; t; t = nx) {
            nx = t->next;
            t->next = ns[t->hash & (nn - 1)];
            ns[t->hash & (nn - 1)] = t;
        }
    free(ps->slots);
    ps->slots = ns;
    ps->nslots = nn;
}

static topic *topic_new(const char *name, size_t len, uint64_t h)
{
    topic *t = calloc(1, sizeof *t + len);
    if (!t) return NULL;
    t->hash = h;
    t->len = len;
    memcpy(t->name, name, len);
    return t;
}

static int push_ptr(void ***arr, size_t *n, size_t *cap, void *p)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        void **na = realloc(*arr, nc * sizeof *na);
        if (!na) return BURROW_ENOMEM;
        *arr = na;
        *cap = nc;
    }
    (*arr)[(*n)++] = p;
    return 0;
}

static void remove_ptr(void **arr, size_t *n, const void *p)
{
    for (size_t i = 0; i < *n; i++)
        if (arr[i] == p) {
            arr[i] = arr[--*n];
            return;
        }
}

/* Subscribe sess to a channel (pattern = false) or pattern. 1 when added,
 * 0 when it already was, or BURROW_ENOMEM. */
static int subscribe(server *s, session *sess, const char *name, size_t len, bool pattern)
{
    pubsub *ps = s->ps;
    struct sub_state *st = sess->subs;
    if (!st && !(st = sess->subs = calloc(1, sizeof *st))) return BURROW_ENOMEM;
    uint64_t h = pattern ? 0 : ch_hash(name, len);
    topic *t = pattern ? pattern_find(ps, name, len) : channel_find(ps, name, len, h);
    if (t) {
        for (size_t i = 0; i < t->n; i++)
            if (t->subs[i] == sess) return 0;
    } else {
        if (!(t = topic_new(name, len, h))) return BURROW_ENOMEM;
        if (pattern) {
            t->next = ps->patterns;
            ps->patterns = t;
            ps->npatterns++;
        } else {
            if (ps->nchannels >= ps->nslots) channels_rehash(ps);
            t->next = ps->slots[h & (ps->nslots - 1)];
            ps->slots[h & (ps->nslots - 1)] = t;
            ps->nchannels++;
        }
    }
    if (push_ptr((void ***)&t->subs, &t->n, &t->cap, sess)) return BURROW_ENOMEM;
    int rc = pattern ? push_ptr((void ***)&st->pat, &st->npat, &st->cappat, t)
                     : push_ptr((void ***)&st->ch, &st->nch, &st->capch, t);
    if (rc) {
        t->n--;
        return rc;
    }
    sess->flags |= SESS_PUBSUB;
    return 1;
}

static void topic_drop_if_empty(pubsub *ps, topic *t, bool pattern)
{
    if (t->n) return;
    topic **pp = pattern ? &ps->patterns : &ps->slots[t->hash & (ps->nslots - 1)];
    while (*pp != t) pp = &(*pp)->next;
    *pp = t->next;
    if (pattern) ps->npatterns--;
    else ps->nchannels--;
    topic_free(t);
}

static void unsubscribe_topic(server *s, session *sess, topic *t, bool pattern)
{
    struct sub_state *st = sess->subs;
    remove_ptr((void **)t->subs, &t->n, sess);
    if (pattern) remove_ptr((void **)st->pat, &st->npat, t);
    else remove_ptr((void **)st->ch, &st->nch, t);
    topic_drop_if_empty(s->ps, t, pattern);
    if (st->nch == 0 && st->npat == 0) sess->flags &= ~SESS_PUBSUB;
}

void pubsub_drop_session(server *s, session *sess)
{
    struct sub_state *st = sess->subs;
    if (!st) return;
    while (st->nch) unsubscribe_topic(s, sess, st->ch[st->nch - 1], false);
    while (st->npat) unsubscribe_topic(s, sess, st->pat[st->npat - 1], true);
    free(st->ch);
    free(st->pat);
    free(st);
    sess->subs = NULL;
    sess->flags &= ~SESS_PUBSUB;
}

static size_t sub_total(const session *sess)
{
    return sess->subs ? sess->subs->nch + sess->subs->npat : 0;
}

/* ["subscribe", name, count] as a push (RESP3) or array (RESP2). */
static void reply_sub(cmd_ctx *c, const char *kind, const char *name, size_t len, bool null_name)
{
    resp_push(c->out, c->proto, 3);
    resp_bulk_cstr(c->out, kind);
    if (null_name) resp_null(c->out, c->proto);
    else resp_bulk(c->out, name, len);
    resp_int(c->out, (int64_t)sub_total(c->sess));
}

static int do_subscribe(cmd_ctx *c, bool pattern)
{
    for (uint32_t i = 1; i < c->argc; i++) {
        int rc = subscribe(c->srv, c->sess, c->argv[i].ptr, c->argv[i].len, pattern);
        if (rc < 0) return rc;
        reply_sub(c, pattern ? "psubscribe" : "subscribe", c->argv[i].ptr, c->argv[i].len, false);
    }
    return 0;
}

static int cmd_subscribe(cmd_ctx *c) { return do_subscribe(c, false); }
static int cmd_psubscribe(cmd_ctx *c) { return do_subscribe(c, true); }

static int do_unsubscribe(cmd_ctx *c, bool pattern)
{
    session *sess = c->sess;
    const char *kind = pattern ? "punsubscribe" : "unsubscribe";
    struct sub_state *st = sess->subs;
    if (c->argc == 1) {
        size_t *n = st ? (pattern ? &st->npat : &st->nch) : NULL;
        if (!n || *n == 0) {
            reply_sub(c, kind, NULL, 0, true);
            return 0;
        }
        while (*n) {
            topic *t = pattern ? st->pat[*n - 1] : st->ch[*n - 1];
            /* copy the name: unsubscribing may free the topic */
            size_t len = t->len;
            char *name = malloc(len ? len : 1);
            if (!name) return BURROW_ENOMEM;
            memcpy(name, t->name, len);
            unsubscribe_topic(c->srv, sess, t, pattern);
            reply_sub(c, kind, name, len, false);
            free(name);
        }
        return 0;
    }
    for (uint32_t i = 1; i < c->argc; i++) {
        const char *name = c->argv[i].ptr;
        size_t len = c->argv[i].len;
        topic *t = pattern ? pattern_find(c->srv->ps, name, len)
                           : channel_find(c->srv->ps, name, len, ch_hash(name, len));
        if (t && st) {
            for (size_t k = 0; k < t->n; k++)
                if (t->subs[k] == sess) {
                    unsubscribe_topic(c->srv, sess, t, pattern);
                    break;
                }
        }
        reply_sub(c, kind, name, len, false);
    }
    return 0;
}

static int cmd_unsubscribe(cmd_ctx *c) { return do_unsubscribe(c, false); }
static int cmd_punsubscribe(cmd_ctx *c) { return do_unsubscribe(c, true); }

/* ---- PUBLISH ---------------------------------------------------------------------- */

typedef struct fanout {
    server *s;
    msg_broadcast **per_thread; /* one being filled per network thread */
    size_t *cap;
    shared_buf *buf[2];
} fanout;

static shared_buf *encode(int proto, const char *kind, const resp_arg *pattern, const resp_arg *ch,
                          const resp_arg *m)
{
    buf b = {0};
    resp_push(&b, proto, pattern ? 4 : 3);
    resp_bulk_cstr(&b, kind);
    if (pattern) resp_bulk(&b, pattern->ptr, pattern->len);
    resp_bulk(&b, ch->ptr, ch->len);
    resp_bulk(&b, m->ptr, m->len);
    shared_buf *sb = b.data ? shared_buf_new(b.data, b.size) : NULL;
    buf_free(&b);
    return sb;
}

/* Deliver one encoded message to the subscribers of t. Returns how many. */
static int64_t deliver(server *s, topic *t, const char *kind, const resp_arg *pattern, const resp_arg *ch,
                       const resp_arg *m)
{
    int nt = s->nthreads;
    shared_buf *bufs[2] = {NULL, NULL};
    uint32_t *count = calloc((size_t)nt, sizeof *count);
    msg_broadcast **bc = calloc((size_t)nt, sizeof *bc);
    int64_t delivered = 0;
    if (!count || !bc) goto out;
    /* pass 1: which protocols, how many per thread; sessions with replies
     * waiting in this batch get the message in order with them */
    for (size_t i = 0; i < t->n; i++) {
        session *x = t->subs[i];
        if (x->flags & SESS_CLOSING) continue;
        int p = x->proto == 3 ? 1 : 0;
        if (!bufs[p] && !(bufs[p] = encode(x->proto, kind, pattern, ch, m))) goto out;
        delivered++;
        if (x->out.size || x->out_next || s->out_list == x) {
            buf_append(&x->out, bufs[p]->data, bufs[p]->len);
            continue;
        }
        count[x->thread]++;
    }
    for (int th = 0; th < nt; th++) {
        if (!count[th]) continue;
        bc[th] = malloc(sizeof *bc[th] + count[th] * sizeof bc[th]->to[0]);
        if (!bc[th]) goto out;
        bc[th]->m.kind = MSG_BROADCAST;
        bc[th]->m.conn = NULL;
        bc[th]->count = 0;
        for (int p = 0; p < 2; p++) {
            bc[th]->buf[p] = bufs[p];
            if (bufs[p]) shared_buf_ref(bufs[p]);
        }
    }
    for (size_t i = 0; i < t->n; i++) {
        session *x = t->subs[i];
        if (x->flags & SESS_CLOSING) continue;
        if (x->out.size || x->out_next || s->out_list == x) continue;
        msg_broadcast *b = bc[x->thread];
        b->to[b->count].conn = (struct net_conn *)(void *)x;
        b->to[b->count].proto = x->proto;
        b->count++;
    }
    for (int th = 0; th < nt; th++) {
        if (!bc[th]) continue;
        server_send(s, th, &bc[th]->m);
        bc[th] = NULL;
    }
out:
    if (bc)
        for (int th = 0; th < nt; th++)
            if (bc[th]) {
                shared_buf_unref(bc[th]->buf[0]);
                shared_buf_unref(bc[th]->buf[1]);
                free(bc[th]);
            }
    shared_buf_unref(bufs[0]);
    shared_buf_unref(bufs[1]);
    free(count);
    free(bc);
    return delivered;
}

static int cmd_publish(cmd_ctx *c)
{
    server *s = c->srv;
    pubsub *ps = s->ps;
    const resp_arg *ch = &c->argv[1], *m = &c->argv[2];
    int64_t n = 0;
    s->stats.pubsub_messages++;
    topic *t = channel_find(ps, ch->ptr, ch->len, ch_hash(ch->ptr, ch->len));
    if (t) n += deliver(s, t, "message", NULL, ch, m);
    for (topic *p = ps->patterns; p; p = p->next) {
        if (!glob_match(p->name, p->len, ch->ptr, ch->len, false)) continue;
        resp_arg pat = {p->name, p->len};
        n += deliver(s, p, "pmessage", &pat, ch, m);
    }
    return resp_int(c->out, n), 0;
}

/* ---- PUBSUB ----------------------------------------------------------------------- */

static int cmd_pubsub_(cmd_ctx *c)
{
    pubsub *ps = c->srv->ps;
    if (cmd_arg_is(c, 1, "CHANNELS") && c->argc <= 3) {
        const char *pat = c->argc == 3 ? c->argv[2].ptr : NULL;
        size_t plen = c->argc == 3 ? c->argv[2].len : 0;
        size_t n = 0;
        for (size_t i = 0; i < ps->nslots; i++)
            for (topic *t = ps->slots[i]; t; t = t->next)
                if (!pat || glob_match(pat, plen, t->name, t->len, false)) n++;
        resp_array(c->out, n);
        for (size_t i = 0; i < ps->nslots; i++)
            for (topic *t = ps->slots[i]; t; t = t->next)
                if (!pat || glob_match(pat, plen, t->name, t->len, false)) resp_bulk(c->out, t->name, t->len);
        return 0;
    }
    if (cmd_arg_is(c, 1, "NUMSUB")) {
        resp_map(c->out, c->proto, c->argc - 2);
        for (uint32_t i = 2; i < c->argc; i++) {
            topic *t = channel_find(ps, c->argv[i].ptr, c->argv[i].len, ch_hash(c->argv[i].ptr, c->argv[i].len));
            resp_bulk(c->out, c->argv[i].ptr, c->argv[i].len);
            resp_int(c->out, t ? (int64_t)t->n : 0);
        }
        return 0;
    }
    if (cmd_arg_is(c, 1, "NUMPAT") && c->argc == 2) return resp_int(c->out, (int64_t)ps->npatterns), 0;
    return resp_errorf(c->out,
                       "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try PUBSUB HELP.",
                       (int)c->argv[1].len, c->argv[1].ptr),
           0;
}

const cmd_def cmd_pubsub[] = {
    {"subscribe", -2, CMD_PUBSUB, 0, 0, 0, cmd_subscribe, "pubsub", "Listens for messages published to channels."},
    {"unsubscribe", -1, CMD_PUBSUB, 0, 0, 0, cmd_unsubscribe, "pubsub", "Stops listening to channels."},
    {"psubscribe", -2, CMD_PUBSUB, 0, 0, 0, cmd_psubscribe, "pubsub", "Listens for messages published to channels that match patterns."},
    {"punsubscribe", -1, CMD_PUBSUB, 0, 0, 0, cmd_punsubscribe, "pubsub", "Stops listening to channel patterns."},
    {"publish", 3, CMD_FAST, 0, 0, 0, cmd_publish, "pubsub", "Posts a message to a channel."},
    {"pubsub", -2, 0, 0, 0, 0, cmd_pubsub_, "pubsub", "PUBSUB CHANNELS|NUMSUB|NUMPAT."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
