/*
 * server.h — burrowd's data thread: configuration, sessions, the messages
 * exchanged with the network threads, and the batch loop.
 *
 * Threads (DESIGN.md, server/ and net/):
 *   network thread i --(queue to_data[i])--> data thread
 *   data thread      --(queue to_net[i])---> network thread i
 * The data thread alone touches the database, the keyspace, the hot tier,
 * the command table, every session and the pub/sub registry. A network
 * thread owns its connections (sockets, read and write buffers) and never
 * touches the database.
 *
 * A session is the data thread's half of a connection. It is allocated
 * inside the network thread's connection (one allocation per client) but,
 * once MSG_OPEN has been pushed, only the data thread reads or writes it.
 *
 * Connection life, as messages (each hop in FIFO order per queue):
 *   net: accept  -> MSG_OPEN     data: register the session
 *   net: read    -> MSG_REQUESTS data: run them in the next batch, reply
 *   data         -> MSG_REPLY    net: write (and close after, if asked)
 *   data         -> MSG_KILL     net: close the connection (CLIENT KILL)
 *   net: closed  -> MSG_CLOSE    data: drop the session (subscriptions,
 *                                      WATCH, MULTI), then
 *   data         -> MSG_CLOSED   net: free the connection
 * MSG_CLOSED comes after every message the data thread sent for that
 * connection, so a network thread may act on any connection pointer it
 * receives until it has freed the connection on MSG_CLOSED.
 */
#ifndef BURROW_SERVER_SERVER_H
#define BURROW_SERVER_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "burrow.h"
#include "server/command.h"
#include "server/queue.h"
#include "server/resp.h"

/* ---- configuration (config.c) -------------------------------------------- */

enum server_durability {
    DUR_ALWAYS = 0,   /* reply after the batch's commit is on disk */
    DUR_EVERYSEC = 1, /* commit without sync; sync once a second */
    DUR_NO = 2,       /* commit without sync; the OS writes back */
};

#define SERVER_MAX_THREADS 64

typedef struct server_config {
    char *bind;          /* address to listen on (default 127.0.0.1) */
    int port;            /* default 7379 */
    char *dir;           /* data directory (default ./data) */
    char *dbfilename;    /* database file inside dir (default burrow.db) */
    int threads;         /* network threads (default: cores) */
    int durability;      /* enum server_durability */
    size_t hot_mem;      /* hot tier budget in bytes (0 = off) */
    int eviction;        /* enum burrow_tier_policy */
    uint32_t maxclients; /* default 10000 */
    char *requirepass;   /* NULL = no password */
    size_t max_bulk;     /* proto-max-bulk-len: largest argument (512 MiB) */
    uint32_t max_args;   /* most arguments in one request (1M) */
    size_t max_inline;   /* longest inline request (64 KiB) */
    size_t max_request_bytes; /* client-query-buffer-limit: bytes of one
                                 request held in memory (1 GiB) */
    size_t output_limit;        /* normal clients: hard limit of unwritten
                                   reply bytes (256 MiB) */
    size_t pubsub_output_limit; /* pub/sub clients: hard limit (32 MiB) */
    uint32_t max_pipeline; /* requests of one client in flight (default 4096):
                              beyond it the server stops reading from it */
    uint32_t timeout;      /* close clients idle for this many seconds (0 = never) */
    int tcp_backlog;       /* default 511 */
    char *config_file;     /* the --config file, if any */
} server_config;

/* Fill *c with the defaults. */
void config_defaults(server_config *c);
void config_free(server_config *c);
/* Apply argv (flags, and --config FILE, read first so flags override it).
 * Returns 0, 1 when --help was printed (exit 0), or -1 with a message in
 * err (exit 1). */
int config_from_args(server_config *c, int argc, char **argv, char *err, size_t errlen);
/* Apply one "name value" setting (a config file line or CONFIG SET); the
 * names are the long flag names without "--" ("hot-mem", "maxclients").
 * live: only settings that can change at run time. 0 or -1 with err. */
int config_set(server_config *c, const char *name, const char *value, bool live, char *err,
               size_t errlen);
/* For CONFIG GET: call fn(name, value) for every setting whose name matches
 * the glob pattern. */
void config_each(const server_config *c, const char *pattern, size_t plen,
                 void (*fn)(void *ctx, const char *name, const char *value), void *ctx);
/* Parse a size with Redis's suffixes (k kb m mb g gb, any case; k = 1000,
 * kb = 1024). -1 when malformed. */
int config_parse_size(const char *s, size_t *out);
void config_print_help(void);

/* ---- messages ------------------------------------------------------------- */

enum msg_kind {
    /* network -> data */
    MSG_OPEN = 1,
    MSG_REQUESTS,
    MSG_CLOSE,
    /* data -> network */
    MSG_REPLY,
    MSG_KILL,
    MSG_CLOSED,
    MSG_BROADCAST,
    MSG_STOP,
};

struct net_conn; /* a network thread's connection (net/) */

typedef struct msg {
    queue_node node; /* first: a queue_node * is a msg * */
    int kind;        /* enum msg_kind */
    struct net_conn *conn;
} msg;

/*
 * MSG_REQUESTS: the complete requests one read produced, flattened:
 *   count times:  argc:u32  then argc times  len:u32 (host order)  bytes
 * (an argument longer than 4 GiB is refused by the parser's limits).
 */
typedef struct msg_requests {
    msg m;
    uint32_t count;
    size_t len;
    uint8_t data[]; /* len bytes */
} msg_requests;

/* MSG_REPLY: bytes to write; close the connection after them if close_after. */
typedef struct msg_reply {
    msg m;
    bool close_after;
    bool pubsub;      /* the session has subscriptions (its output limit is
                         the pub/sub one) */
    uint32_t replies; /* number of requests these bytes answer */
    buf data;         /* owned by the message */
} msg_reply;

/* A reference-counted immutable buffer, shared between threads (pub/sub). */
typedef struct shared_buf {
    atomic_uint refs;
    size_t len;
    uint8_t data[];
} shared_buf;

shared_buf *shared_buf_new(const void *data, size_t len);
void shared_buf_ref(shared_buf *b);
void shared_buf_unref(shared_buf *b);

/* MSG_BROADCAST: one published message for every subscriber of one network
 * thread; buf[proto - 2] is written to each connection of conns[] whose
 * session speaks proto. */
typedef struct msg_broadcast {
    msg m;
    shared_buf *buf[2]; /* RESP2 and RESP3 forms (NULL when unused) */
    uint32_t count;
    struct {
        struct net_conn *conn;
        uint8_t proto;
    } to[];
} msg_broadcast;

/* ---- sessions ------------------------------------------------------------- */

#define SESS_MULTI 0x01u      /* inside MULTI */
#define SESS_DIRTY_CAS 0x02u  /* a WATCHed key changed: EXEC fails */
#define SESS_DIRTY_EXEC 0x04u /* a command was refused while queuing: EXEC fails */
#define SESS_AUTHED 0x08u
#define SESS_CLOSING 0x10u    /* QUIT or a kill: no more replies */
#define SESS_PUBSUB 0x20u     /* has subscriptions */
#define SESS_REPLY_OFF 0x40u  /* CLIENT REPLY OFF */

struct multi_state;
struct watch_state;
struct sub_state;

struct session {
    /* set by the network thread before MSG_OPEN, then read-only */
    uint64_t id;
    int thread;          /* index of the owning network thread */
    char addr[48];       /* "ip:port" of the peer */
    char laddr[48];      /* "ip:port" of our side */
    uint64_t created_ms;
    /* the data thread's from here on */
    uint8_t proto;       /* 2 or 3 */
    uint32_t flags;      /* SESS_* */
    char *name;          /* CLIENT SETNAME; NULL = none */
    char *lib_name, *lib_ver;
    uint64_t last_ms;    /* last command */
    const char *last_cmd;
    struct multi_state *multi;
    struct watch_state *watch;
    struct sub_state *subs;
    session *prev, *next;    /* the registry of all sessions */
    session *out_next;       /* in the batch's list of sessions with replies */
    buf out;                 /* replies of the current batch */
    uint64_t last_write_batch; /* the last write batch it was in (gather) */
    uint32_t out_replies;
};

/* ---- the data thread (server.c) ------------------------------------------ */

typedef struct server_stats {
    uint64_t commands;        /* commands run */
    uint64_t batches;         /* batches (transactions) */
    uint64_t commits;         /* write transactions committed */
    uint64_t commit_failures;
    uint64_t coalesced;       /* reads served from the batch cache */
    uint64_t expired_keys;    /* removed by the sweep */
    uint64_t expired_docs;    /* documents removed by the sweep */
    uint64_t connections;     /* accepted, ever */
    uint64_t rejected;        /* refused: maxclients */
    uint64_t pubsub_messages; /* PUBLISH calls */
    uint64_t keyspace_hits, keyspace_misses;
    uint64_t last_commit_ms;  /* LASTSAVE */
    uint64_t last_sync_ms;
} server_stats;

/* Counters the network threads update (atomics: read by INFO). */
typedef struct net_stats {
    atomic_uint_fast64_t connected;      /* current connections */
    atomic_uint_fast64_t accepted;
    atomic_uint_fast64_t rejected;       /* maxclients */
    atomic_uint_fast64_t bytes_in, bytes_out;
    atomic_uint_fast64_t output_limit_closed; /* normal clients over their limit */
    atomic_uint_fast64_t pubsub_limit_closed; /* subscribers that fell behind */
    atomic_uint_fast64_t protocol_errors;
    atomic_uint_fast64_t idle_closed;
    atomic_uint_fast64_t output_bytes;   /* unwritten reply bytes held, all clients */
} net_stats;

/* The limits the network threads apply, as atomics so CONFIG SET on the
 * data thread changes them live. */
typedef struct net_limits {
    atomic_size_t max_bulk, max_inline, max_request_bytes;
    atomic_size_t output_limit, pubsub_output_limit;
    atomic_uint max_args, max_pipeline, maxclients, timeout;
} net_limits;

typedef struct server server;

/* Hooks the network layer gives the data thread (net/ is above server/, so
 * the data thread reaches it only through these). */
typedef struct server_net_ops {
    void *ctx;
    /* wake network thread i: its queue has messages */
    void (*wake)(void *ctx, int thread);
    /* stop accepting and close the listeners (shutdown) */
    void (*stop_listening)(void *ctx);
} server_net_ops;

/* Open the database and the keyspace as cfg says. */
int server_create(const server_config *cfg, server **out, char *err, size_t errlen);
/* Run the data thread's loop on the calling thread until shutdown. */
int server_run(server *s);
void server_destroy(server *s);

void server_set_net(server *s, const server_net_ops *ops);
/* Queue for network thread i to push to, and to pop its replies from. */
queue *server_to_data(server *s, int thread);
queue *server_to_net(server *s, int thread);
/* Called by network thread i after pushing one or more messages. */
void server_wake(server *s, int thread);
/* Ask for a graceful shutdown (signal handler context is fine). */
void server_request_shutdown(server *s);
net_stats *server_net_stats(server *s);
net_limits *server_net_limits(server *s);
const server_config *server_config_of(const server *s);
int server_threads(const server *s);
uint64_t server_next_client_id(server *s);

#endif
