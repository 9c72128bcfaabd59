/*
 * cmd_admin.c — administration: INFO, CONFIG, COMMAND, SHUTDOWN, LASTSAVE,
 * SAVE, TIME.
 */
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

#include "server/glob.h"
#include "server/server_int.h"

#define BURROWD_VERSION "0.1.0"
#define REDIS_COMPAT_VERSION "7.2.0"

static const char *durability_name(int d)
{
    return d == DUR_ALWAYS ? "always" : d == DUR_EVERYSEC ? "everysec" : "no";
}

/* What each durability mode risks, in INFO's persistence section. */
static const char *durability_risk(int d)
{
    switch (d) {
    case DUR_ALWAYS: return "none: a reply is sent after its commit is on disk";
    case DUR_EVERYSEC:
        return "a machine crash may lose the writes of the last second (the file falls back to the last "
               "sync and stays intact); a process crash loses nothing";
    default:
        return "a machine crash may lose the writes of the last 30 seconds (the file falls back to the last "
               "sync and stays intact); a process crash loses nothing";
    }
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, rss = 0;
    if (fscanf(f, "%lu %lu", &size, &rss) != 2) rss = 0;
    fclose(f);
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

static bool want(const char *section, const cmd_ctx *c, bool *any)
{
    if (c->argc < 2) return *any = true;
    for (uint32_t i = 1; i < c->argc; i++)
        if (cmd_arg_is(c, i, section) || cmd_arg_is(c, i, "all") || cmd_arg_is(c, i, "everything") ||
            cmd_arg_is(c, i, "default"))
            return *any = true;
    return false;
}

/* Append formatted text to o, however long (INFO holds paths). */
static void appendf(buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void appendf(buf *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(o, (size_t)n + 1)) return;
    va_start(ap, fmt);
    vsnprintf((char *)o->data + o->size, (size_t)n + 1, fmt, ap);
    va_end(ap);
    o->size += (size_t)n;
}

#define LINE(...) appendf(&o, __VA_ARGS__)

static int cmd_info(cmd_ctx *c)
{
    server *s = c->srv;
    buf o = {0};
    bool any = false;
    uint64_t now = c->now_ms;
    if (want("server", c, &any)) {
        LINE("# Server\r\nredis_version:%s\r\nburrow_version:%s\r\nredis_mode:standalone\r\nos:Linux\r\n"
             "process_id:%ld\r\ntcp_port:%d\r\nuptime_in_seconds:%llu\r\nuptime_in_days:%llu\r\n"
             "io_threads_active:%d\r\nexecutable:burrowd\r\nconfig_file:%s\r\n\r\n",
             REDIS_COMPAT_VERSION, BURROWD_VERSION, (long)getpid(), s->cfg.port,
             (unsigned long long)((now - s->start_ms) / 1000), (unsigned long long)((now - s->start_ms) / 86400000),
             s->nthreads, s->cfg.config_file ? s->cfg.config_file : "");
    }
    if (want("clients", c, &any)) {
        uint64_t subs = 0;
        for (session *x = s->sessions; x; x = x->next)
            if (x->flags & SESS_PUBSUB) subs++;
        LINE("# Clients\r\nconnected_clients:%llu\r\nmaxclients:%u\r\npubsub_clients:%llu\r\n"
             "output_buffer_bytes:%llu\r\n\r\n",
             (unsigned long long)s->nsessions, s->cfg.maxclients, (unsigned long long)subs,
             (unsigned long long)atomic_load(&s->nstats.output_bytes));
    }
    if (want("memory", c, &any)) {
        struct mallinfo2 mi = mallinfo2();
        size_t used = mi.uordblks + mi.hblkhd;
        burrow_tier_stats ts = {0};
        burrow_tier_stat(s->db, &ts);
        LINE("# Memory\r\nused_memory:%zu\r\nused_memory_rss:%zu\r\nhot_tier_bytes:%zu\r\n"
             "hot_tier_budget:%zu\r\nmaxmemory:%zu\r\nmaxmemory_policy:%s\r\n\r\n",
             used, rss_bytes(), ts.bytes_used, ts.budget, s->cfg.hot_mem,
             s->cfg.eviction == BURROW_TIER_LRU ? "lru" : s->cfg.eviction == BURROW_TIER_LFU ? "lfu" : "hybrid");
    }
    if (want("persistence", c, &any)) {
        burrow_db_stats ds = {0};
        burrow_db_stat(s->db, &ds);
        LINE("# Persistence\r\nloading:0\r\ndurability:%s\r\ndurability_risk:%s\r\naof_enabled:%d\r\n"
             "rdb_changes_since_last_save:%llu\r\nrdb_last_save_time:%llu\r\nlast_sync_time:%llu\r\n"
             "db_file:%s\r\ndb_file_size:%llu\r\ndb_page_size:%u\r\ndb_last_txn:%llu\r\ndb_free_pages:%llu\r\n"
             "commits:%llu\r\ncommit_failures:%llu\r\ncommit_avg_usec:%llu\r\n\r\n",
             durability_name(s->cfg.durability), durability_risk(s->cfg.durability),
             s->cfg.durability != DUR_NO, (unsigned long long)s->dirty_since_sync,
             (unsigned long long)(s->stats.last_commit_ms / 1000), (unsigned long long)(s->stats.last_sync_ms / 1000),
             s->db_path, (unsigned long long)ds.file_size, ds.page_size, (unsigned long long)ds.last_txn,
             (unsigned long long)ds.free_pages, (unsigned long long)s->stats.commits,
             (unsigned long long)s->stats.commit_failures, (unsigned long long)(s->sync_ns / 1000));
        /* the section's blank line comes after the backup lines */
        if (o.size >= 4 && memcmp(o.data + o.size - 4, "\r\n\r\n", 4) == 0) o.size -= 2;
        backup_info(s, &o);
        LINE("\r\n");
    }
    if (want("stats", c, &any)) {
        net_stats *ns = &s->nstats;
        LINE("# Stats\r\ntotal_connections_received:%llu\r\ntotal_commands_processed:%llu\r\n"
             "total_batches:%llu\r\ncoalesced_reads:%llu\r\ntotal_net_input_bytes:%llu\r\n"
             "total_net_output_bytes:%llu\r\nrejected_connections:%llu\r\nexpired_keys:%llu\r\nexpired_documents:%llu\r\n"
             "keyspace_hits:%llu\r\nkeyspace_misses:%llu\r\npubsub_channels:%llu\r\npubsub_patterns:%llu\r\n"
             "pubsub_messages_published:%llu\r\nclient_output_buffer_limit_disconnections:%llu\r\n"
             "pubsub_output_buffer_limit_disconnections:%llu\r\nprotocol_errors:%llu\r\n"
             "idle_timeout_disconnections:%llu\r\n\r\n",
             (unsigned long long)atomic_load(&ns->accepted), (unsigned long long)s->stats.commands,
             (unsigned long long)s->stats.batches, (unsigned long long)s->stats.coalesced,
             (unsigned long long)atomic_load(&ns->bytes_in), (unsigned long long)atomic_load(&ns->bytes_out),
             (unsigned long long)atomic_load(&ns->rejected), (unsigned long long)s->stats.expired_keys,
             (unsigned long long)s->stats.expired_docs,
             (unsigned long long)s->stats.keyspace_hits, (unsigned long long)s->stats.keyspace_misses,
             (unsigned long long)pubsub_count_channels(s->ps), (unsigned long long)pubsub_count_patterns(s->ps),
             (unsigned long long)s->stats.pubsub_messages, (unsigned long long)atomic_load(&ns->output_limit_closed),
             (unsigned long long)atomic_load(&ns->pubsub_limit_closed),
             (unsigned long long)atomic_load(&ns->protocol_errors),
             (unsigned long long)atomic_load(&ns->idle_closed));
    }
    if (want("tier", c, &any)) {
        burrow_tier_stats ts = {0};
        burrow_tier_stat(s->db, &ts);
        LINE("# Tier\r\ntier_enabled:%d\r\ntier_hits:%llu\r\ntier_misses:%llu\r\ntier_hit_ratio:%.4f\r\n"
             "tier_promotions:%llu\r\ntier_demotions:%llu\r\ntier_evictions:%llu\r\ntier_invalidations:%llu\r\n"
             "tier_entries:%llu\r\ntier_bytes_used:%zu\r\ntier_budget:%zu\r\n\r\n",
             ts.budget > 0, (unsigned long long)ts.hits, (unsigned long long)ts.misses, ts.hit_ratio,
             (unsigned long long)ts.promotions, (unsigned long long)ts.demotions, (unsigned long long)ts.evictions,
             (unsigned long long)ts.invalidations, (unsigned long long)ts.entries, ts.bytes_used, ts.budget);
    }
    if (want("keyspace", c, &any)) {
        uint64_t keys = 0, expires = 0;
        ks_count(s->ks, c->txn, &keys);
        ks_count_expires(s->ks, c->txn, &expires);
        LINE("# Keyspace\r\n");
        if (keys) LINE("db0:keys=%llu,expires=%llu,avg_ttl=0\r\n", (unsigned long long)keys, (unsigned long long)expires);
        LINE("\r\n");
    }
    (void)any;
    /* INFO's text ends with the last section's blank line trimmed to one CRLF */
    if (o.size >= 2) o.size -= 2;
    resp_verbatim(c->out, c->proto, (const char *)o.data, o.size);
    buf_free(&o);
    return 0;
}

#undef LINE

/* ---- CONFIG -------------------------------------------------------------------- */

typedef struct cfg_get {
    buf pairs;
    size_t n;
} cfg_get;

static void collect_pair(void *ctx, const char *name, const char *value)
{
    cfg_get *g = ctx;
    resp_bulk_cstr(&g->pairs, name);
    resp_bulk_cstr(&g->pairs, value);
    g->n++;
}

static void apply_live(server *s, const char *name)
{
    if (!strcasecmp(name, "hot-mem") || !strcasecmp(name, "maxmemory")) burrow_tier_set_budget(s->db, s->cfg.hot_mem);
    if (!strcasecmp(name, "eviction") || !strcasecmp(name, "maxmemory-policy"))
        burrow_tier_set_policy(s->db, s->cfg.eviction);
    server_limits_update(s);
}

static int cmd_config(cmd_ctx *c)
{
    server *s = c->srv;
    if (cmd_arg_is(c, 1, "GET") && c->argc >= 3) {
        cfg_get g = {{0}, 0};
        for (uint32_t i = 2; i < c->argc; i++) config_each(&s->cfg, c->argv[i].ptr, c->argv[i].len, collect_pair, &g);
        resp_map(c->out, c->proto, g.n);
        buf_append(c->out, g.pairs.data, g.pairs.size);
        buf_free(&g.pairs);
        return 0;
    }
    if (cmd_arg_is(c, 1, "SET") && c->argc >= 4 && c->argc % 2 == 0) {
        /* pairs apply in order; the first refused one stops the rest */
        char err[256];
        for (uint32_t i = 2; i + 1 < c->argc; i += 2) {
            char name[64], value[1024];
            if (c->argv[i].len >= sizeof name || c->argv[i + 1].len >= sizeof value)
                return resp_error(c->out, "ERR CONFIG SET failed: argument too long", 40), 0;
            memcpy(name, c->argv[i].ptr, c->argv[i].len);
            name[c->argv[i].len] = 0;
            memcpy(value, c->argv[i + 1].ptr, c->argv[i + 1].len);
            value[c->argv[i + 1].len] = 0;
            if (config_set(&s->cfg, name, value, true, err, sizeof err))
                return resp_errorf(c->out, "ERR CONFIG SET failed (possibly related to argument '%s') - %s", name,
                                   err),
                       0;
            apply_live(s, name);
            if (!strcasecmp(name, "requirepass") && !s->cfg.requirepass) {
                /* no password any more: everyone is authenticated */
                for (session *x = s->sessions; x; x = x->next) x->flags |= SESS_AUTHED;
            }
        }
        return resp_ok(c->out), 0;
    }
    if (cmd_arg_is(c, 1, "RESETSTAT") && c->argc == 2) {
        uint64_t last_commit = s->stats.last_commit_ms, last_sync = s->stats.last_sync_ms;
        memset(&s->stats, 0, sizeof s->stats);
        s->stats.last_commit_ms = last_commit;
        s->stats.last_sync_ms = last_sync;
        return resp_ok(c->out), 0;
    }
    if (cmd_arg_is(c, 1, "REWRITE") && c->argc == 2) {
        static const char t[] = "ERR CONFIG REWRITE is not supported: settings come from flags and the config file";
        return resp_error(c->out, t, sizeof t - 1), 0;
    }
    return resp_errorf(c->out,
                       "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try CONFIG HELP.",
                       (int)c->argv[1].len, c->argv[1].ptr),
           0;
}

/* ---- COMMAND --------------------------------------------------------------------- */

static void write_flags(buf *o, int proto, unsigned f)
{
    const char *names[8];
    size_t n = 0;
    if (f & CMD_WRITE) names[n++] = "write";
    if (f & CMD_READONLY) names[n++] = "readonly";
    if (f & CMD_ADMIN) names[n++] = "admin";
    if (f & CMD_PUBSUB) names[n++] = "pubsub";
    if (f & CMD_NOAUTH) names[n++] = "no_auth";
    if (f & CMD_NOMULTI) names[n++] = "no_multi";
    if (f & CMD_FAST) names[n++] = "fast";
    resp_set(o, proto, n);
    for (size_t i = 0; i < n; i++) resp_simple(o, names[i], strlen(names[i]));
}

static void write_info(buf *o, int proto, const cmd_def *d)
{
    resp_array(o, 10);
    resp_bulk_cstr(o, d->name);
    resp_int(o, d->arity);
    write_flags(o, proto, d->flags);
    resp_int(o, d->first_key);
    resp_int(o, d->last_key);
    resp_int(o, d->key_step);
    resp_set(o, proto, 0);  /* ACL categories */
    resp_set(o, proto, 0);  /* tips */
    resp_set(o, proto, 0);  /* key specifications */
    resp_set(o, proto, 0);  /* subcommands */
}

typedef struct each_ctx {
    buf *o;
    int proto;
    int mode; /* 0 info, 1 docs, 2 list */
} each_ctx;

static void each_info(void *ctx, const cmd_def *d)
{
    each_ctx *e = ctx;
    if (e->mode == 0) write_info(e->o, e->proto, d);
    else if (e->mode == 2) resp_bulk_cstr(e->o, d->name);
    else {
        resp_bulk_cstr(e->o, d->name);
        resp_map(e->o, e->proto, 3);
        resp_bulk_cstr(e->o, "summary");
        resp_bulk_cstr(e->o, d->summary ? d->summary : "");
        resp_bulk_cstr(e->o, "since");
        resp_bulk_cstr(e->o, "0.1.0");
        resp_bulk_cstr(e->o, "group");
        resp_bulk_cstr(e->o, d->group ? d->group : "generic");
    }
}

static int cmd_command(cmd_ctx *c)
{
    if (c->argc == 1) {
        each_ctx e = {c->out, c->proto, 0};
        resp_array(c->out, cmd_count());
        cmd_each(each_info, &e);
        return 0;
    }
    if (cmd_arg_is(c, 1, "COUNT") && c->argc == 2) return resp_int(c->out, (int64_t)cmd_count()), 0;
    if (cmd_arg_is(c, 1, "LIST")) {
        each_ctx e = {c->out, c->proto, 2};
        resp_array(c->out, cmd_count());
        cmd_each(each_info, &e);
        return 0;
    }
    if (cmd_arg_is(c, 1, "INFO")) {
        if (c->argc == 2) {
            each_ctx e = {c->out, c->proto, 0};
            resp_array(c->out, cmd_count());
            cmd_each(each_info, &e);
            return 0;
        }
        resp_array(c->out, c->argc - 2);
        for (uint32_t i = 2; i < c->argc; i++) {
            const cmd_def *d = cmd_find(c->argv[i].ptr, c->argv[i].len);
            if (d) write_info(c->out, c->proto, d);
            else resp_null_array(c->out, c->proto);
        }
        return 0;
    }
    if (cmd_arg_is(c, 1, "DOCS")) {
        each_ctx e = {c->out, c->proto, 1};
        if (c->argc == 2) {
            resp_map(c->out, c->proto, cmd_count());
            cmd_each(each_info, &e);
            return 0;
        }
        size_t found = 0;
        for (uint32_t i = 2; i < c->argc; i++) found += cmd_find(c->argv[i].ptr, c->argv[i].len) != NULL;
        resp_map(c->out, c->proto, found);
        for (uint32_t i = 2; i < c->argc; i++) {
            const cmd_def *d = cmd_find(c->argv[i].ptr, c->argv[i].len);
            if (d) each_info(&e, d);
        }
        return 0;
    }
    return resp_errorf(c->out,
                       "ERR unknown subcommand or wrong number of arguments for '%.*s'. Try COMMAND HELP.",
                       (int)c->argv[1].len, c->argv[1].ptr),
           0;
}

/* ---- the rest ------------------------------------------------------------------------ */

static int cmd_shutdown(cmd_ctx *c)
{
    for (uint32_t i = 1; i < c->argc; i++)
        if (!(cmd_arg_is(c, i, "NOSAVE") || cmd_arg_is(c, i, "SAVE") || cmd_arg_is(c, i, "NOW") ||
              cmd_arg_is(c, i, "FORCE") || cmd_arg_is(c, i, "ABORT")))
            return cmd_err_syntax(c);
    /* the batch commits before the data thread stops; like Redis, a
     * successful SHUTDOWN sends no reply: the connection just closes */
    c->sess->flags |= SESS_CLOSING;
    server_request_shutdown(c->srv);
    return 0;
}

static int cmd_lastsave(cmd_ctx *c)
{
    uint64_t t = c->srv->cfg.durability == DUR_ALWAYS ? c->srv->stats.last_commit_ms : c->srv->stats.last_sync_ms;
    if (!t) t = c->srv->start_ms;
    return resp_int(c->out, (int64_t)(t / 1000)), 0;
}

static int cmd_save(cmd_ctx *c)
{
    /* every batch is already committed; SAVE makes it durable now */
    int rc = burrow_sync(c->db);
    if (rc) return cmd_fail(c, rc);
    c->srv->stats.last_sync_ms = c->now_ms;
    c->srv->dirty_since_sync = 0;
    return resp_ok(c->out), 0;
}

static int cmd_time(cmd_ctx *c)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    char a[24], b[24];
    size_t na = resp_i64_to_str(tv.tv_sec, a), nb = resp_i64_to_str(tv.tv_usec, b);
    resp_array(c->out, 2);
    resp_bulk(c->out, a, na);
    resp_bulk(c->out, b, nb);
    return 0;
}

const cmd_def cmd_admin[] = {
    {"info", -1, 0, 0, 0, 0, cmd_info, "server", "Returns information and statistics about the server."},
    {"config", -2, CMD_ADMIN, 0, 0, 0, cmd_config, "server", "CONFIG GET|SET|RESETSTAT."},
    {"command", -1, 0, 0, 0, 0, cmd_command, "server", "COMMAND [COUNT|INFO|DOCS|LIST]."},
    {"shutdown", -1, CMD_ADMIN | CMD_NOMULTI, 0, 0, 0, cmd_shutdown, "server", "Commits, closes the database and stops the server."},
    {"lastsave", 1, CMD_FAST, 0, 0, 0, cmd_lastsave, "server", "Unix time of the last durable commit."},
    {"save", 1, CMD_ADMIN, 0, 0, 0, cmd_save, "server", "Makes every commit durable now."},
    {"bgsave", -1, CMD_ADMIN, 0, 0, 0, cmd_save, "server", "Same as SAVE (commits are already on disk)."},
    {"time", 1, CMD_FAST, 0, 0, 0, cmd_time, "server", "Returns the server time."},
    {NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL},
};
