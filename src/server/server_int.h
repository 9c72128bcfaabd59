/*
 * server_int.h — the data thread's state, shared by server.c and the
 * command families that need more than command.h gives (connection, admin,
 * MULTI/WATCH, pub/sub). Everything here belongs to the data thread.
 */
#ifndef BURROW_SERVER_SERVER_INT_H
#define BURROW_SERVER_SERVER_INT_H

#include <pthread.h>
#include <uv.h>

#include "server/server.h"

/* The batch's read cache behind cmd_lookup (N3). */
#define LOOKUP_SLOTS 256
#define LOOKUP_KEY_MAX 64 /* longer keys are not cached */
typedef struct lookup_slot {
    uint64_t gen;  /* valid when == server.lookup_gen */
    uint64_t hash;
    int rc;
    ks_value val;
    uint8_t klen;
    char key[LOOKUP_KEY_MAX];
} lookup_slot;

/* One request of the batch. */
typedef struct batch_item {
    session *sess;
    const cmd_def *cmd; /* NULL: unknown command */
    uint32_t argc;
    size_t arg0;        /* its arguments: server.args[arg0 .. arg0 + argc) */
    size_t out_start;   /* where its reply starts in sess->out */
    bool wrote;         /* ran in the write txn as a CMD_WRITE command */
} batch_item;

typedef struct pubsub pubsub;   /* pubsub.c */
typedef struct backup_state backup_state; /* cmd_backup.c */
typedef struct watchers watchers; /* cmd_multi.c */

struct server {
    server_config cfg;
    burrow_db *db;
    keyspace *ks;
    char *db_path;

    uv_loop_t loop;
    bool loop_ready;
    uv_async_t wake;       /* network threads push, then send this */
    uv_timer_t cron;       /* 100 ms: expiry sweep, tier step, sync, timeouts */
    atomic_bool shutdown_asked;
    bool shutting_down;

    int nthreads;
    queue *to_data; /* [nthreads] */
    queue *to_net;  /* [nthreads] */
    bool *net_wake; /* [nthreads]: messages pushed this round */
    server_net_ops net;
    net_stats nstats;
    net_limits limits;
    atomic_uint_fast64_t next_client_id;

    /* sessions */
    session *sessions; /* registry (doubly linked) */
    uint64_t nsessions;

    /* the batch */
    batch_item *items;
    size_t nitems, items_cap;
    msg **msgs;        /* request messages whose bytes the items use */
    size_t nmsgs, msgs_cap;
    resp_arg *args;    /* the arguments of every request of the batch */
    size_t nargs, args_cap;
    queue_node *closes; /* MSG_CLOSE to act on after the batch (linked
                           through their own nodes, newest first) */
    session *out_list; /* sessions with replies this batch */
    size_t nout;       /* how many */
    burrow_txn *txn;
    bool txn_write;
    uint64_t now_ms;
    lookup_slot lookup[LOOKUP_SLOTS];
    uint64_t lookup_gen;

    pubsub *ps;
    watchers *watch;
    backup_state *backup; /* BACKUP's thread and COMPACT's pending replies (NULL until used) */
    server_stats stats;
    uint64_t start_ms;
    uint64_t last_sync_ms;
    uint64_t dirty_since_sync; /* commits not yet synced (everysec) */
    uint64_t sync_ns;          /* moving average of a commit's duration */

    /* everysec and no: burrow_sync runs on this thread so the data thread
     * never waits for an fdatasync (syncer_* in server.c) */
    pthread_t syncer;
    bool syncer_started, syncer_inited;
    pthread_mutex_t syncer_mu;
    pthread_cond_t syncer_cv;
    bool sync_wanted, sync_running, syncer_stop, syncer_paused;
    _Atomic uint64_t synced_ms; /* when the last sync that worked began */
    uint64_t write_batches;    /* write batches committed, for gather() */
    size_t prev_write_sessions; /* clients in the last write batch */
    size_t writers_wanted;     /* clients of the last two write batches */
};

/* The sync thread (everysec and no): ask for a sync (returns at once);
 * wait until none runs and hold new ones off (before the database is
 * closed, COMPACT); let them run again. */
bool syncer_request(server *s); /* true when no sync was already asked for or running */
void syncer_pause(server *s);
void syncer_resume(server *s);

/* Copy the limits of s->cfg into s->limits (after a CONFIG SET). */
void server_limits_update(server *s);

/* The options the database is opened with (server_create, and the
 * reopening after COMPACT). */
void server_db_options(const server *s, burrow_options *opt);

/* Push a message to network thread i and remember to wake it. */
void server_send(server *s, int thread, msg *m);

/* Run one request of session sess now, inside the current batch (used by
 * EXEC for its queued commands). */
int server_exec_command(server *s, session *sess, const cmd_def *cmd, uint32_t argc,
                        const resp_arg *argv, bool in_exec);

/* Close a session's connection from the data thread (CLIENT KILL). */
void server_kill_session(server *s, session *sess);

/* Find a session by id (NULL when none). */
session *server_session_by_id(server *s, uint64_t id);

/* ---- pub/sub (pubsub.c) -------------------------------------------------- */
int pubsub_create(pubsub **out);
void pubsub_destroy(pubsub *ps);
/* Drop every subscription of sess (its connection closed or RESET). */
void pubsub_drop_session(server *s, session *sess);
uint64_t pubsub_count_channels(const pubsub *ps);
/* Channels and patterns sess is subscribed to. */
void pubsub_session_counts(const session *sess, uint64_t *channels, uint64_t *patterns);
uint64_t pubsub_count_patterns(const pubsub *ps);

/* ---- MULTI / WATCH (cmd_multi.c) ------------------------------------------ */
int watchers_create(watchers **out);
void watchers_destroy(watchers *w);
/* A key changed: every session watching it gets SESS_DIRTY_CAS. */
void watchers_touch(server *s, const void *key, size_t klen);
void watchers_touch_all(server *s);
/* Forget sess's MULTI queue and WATCHed keys (EXEC, DISCARD, close). */
void multi_reset(server *s, session *sess);
void watch_reset(server *s, session *sess);
/* Queue a command inside MULTI (its arguments are copied). */
int multi_queue(server *s, session *sess, const cmd_def *cmd, uint32_t argc, const resp_arg *argv);
/* Number of commands queued in sess's MULTI, -1 when not in MULTI. */
long multi_count(const session *sess);

/* ---- BACKUP, CHECK, COMPACT (cmd_backup.c) --------------------------------- */
/* Called once the batch's txn has ended, before any reply is released: runs
 * the COMPACT the batch asked for (closing and reopening s->db and s->ks). */
void backup_batch_end(server *s);
/* INFO persistence lines of the running or last backup and compaction. */
void backup_info(server *s, buf *o);
/* Cancel and join a running backup and free the state (server_destroy,
 * before the database is closed). */
void backup_shutdown(server *s);

/* The tables of the families (each cmd_<family>.c). */
extern const cmd_def cmd_conn[];
extern const cmd_def cmd_admin[];
extern const cmd_def cmd_multi[];
extern const cmd_def cmd_pubsub[];
extern const cmd_def cmd_keys[];
extern const cmd_def cmd_json[];
extern const cmd_def cmd_doc[];
extern const cmd_def cmd_tier[];
extern const cmd_def cmd_backup[];

#endif
