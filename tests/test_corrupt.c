/*
 * test_corrupt.c — damaged and foreign files.
 *
 * A database with known contents is built once (several buckets, overflow
 * values, 512-byte pages so there are hundreds of pages). Two states are
 * recorded: A, the last commit, and B, the one before it — if the newest
 * meta or a page of the newest commit is damaged the engine may fall back to
 * B, which is correct.
 *
 * Each round copies the file, damages the copy (flips 1..4 bytes, flips
 * bytes of a meta page, truncates it, overwrites a page with garbage or with
 * another page, appends garbage) and then, in a forked child, opens it,
 * reads everything (bucket list, full scans both ways, stats, gets of every
 * key of both states) and runs burrow_check. It asserts:
 *  - the child never dies from a signal (crash, abort, or a 60 s hang);
 *  - every call succeeds or fails with BURROW_ECORRUPT, BURROW_ENOTDB,
 *    BURROW_EVERSION or a negated errno — nothing else;
 *  - whatever is returned successfully equals A or B (chosen by the
 *    snapshot's txn id): never silently wrong or missing data;
 *  - if a read found corruption, burrow_check does not report the same
 *    snapshot healthy.
 * test_every_page damages each page of the file in turn; test_foreign_files
 * opens files that were never databases.
 *
 * Replay: BURROW_TEST_SEED=<seed> [BURROW_TEST_ROUNDS=n] build/tests/test_corrupt.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "burrow.h"
#include "testutil.h"

#define OK(expr)                                                                                   \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            fail_msg("%s:%d: %s -> %d (%s) [%s]", __FILE__, __LINE__, #expr, rc_,                  \
                     burrow_strerror(rc_), burrow_errmsg());                                       \
    } while (0)

#define PAGE 512u
#define MAXB 8

/* ---- expected states -------------------------------------------------------- */

typedef struct kv {
    uint8_t *k, *v;
    size_t kl, vl;
} kv;

typedef struct xbucket {
    char name[32];
    int exists;
    kv *e;
    size_t n, cap;
} xbucket;

typedef struct xstate {
    uint64_t txn;
    xbucket b[MAXB]; /* indexed like bucket_names; sorted by name */
} xstate;

/* In name order, so that "existing buckets in index order" is list order. */
static const char *const bucket_names[MAXB] = {"alpha", "beta", "delta", "epsilon", "gamma",
                                               "omega", "pi", "zeta"};

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    size_t m = al < bl ? al : bl;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (al < bl ? -1 : al > bl);
}

static size_t xb_lower(const xbucket *xb, const void *k, size_t kl, int *found)
{
    size_t lo = 0, hi = xb->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (key_cmp(xb->e[mid].k, xb->e[mid].kl, k, kl) < 0) lo = mid + 1;
        else hi = mid;
    }
    *found = lo < xb->n && key_cmp(xb->e[lo].k, xb->e[lo].kl, k, kl) == 0;
    return lo;
}

static void *dup_bytes(const void *p, size_t n)
{
    void *d = malloc(n ? n : 1);
    assert_non_null(d);
    if (n) memcpy(d, p, n);
    return d;
}

static void xb_put(xbucket *xb, const void *k, size_t kl, const void *v, size_t vl)
{
    int found;
    size_t i = xb_lower(xb, k, kl, &found);
    if (found) {
        free(xb->e[i].v);
    } else {
        if (xb->n == xb->cap) {
            xb->cap = xb->cap ? 2 * xb->cap : 64;
            xb->e = realloc(xb->e, xb->cap * sizeof *xb->e);
            assert_non_null(xb->e);
        }
        memmove(&xb->e[i + 1], &xb->e[i], (xb->n - i) * sizeof *xb->e);
        xb->n++;
        xb->e[i].k = dup_bytes(k, kl);
        xb->e[i].kl = kl;
    }
    xb->e[i].v = dup_bytes(v, vl);
    xb->e[i].vl = vl;
}

static void xb_clear(xbucket *xb)
{
    for (size_t i = 0; i < xb->n; i++) {
        free(xb->e[i].k);
        free(xb->e[i].v);
    }
    free(xb->e);
    xb->e = NULL;
    xb->n = xb->cap = 0;
}

static void xs_copy(xstate *dst, const xstate *src)
{
    memset(dst, 0, sizeof *dst);
    dst->txn = src->txn;
    for (int b = 0; b < MAXB; b++) {
        snprintf(dst->b[b].name, sizeof dst->b[b].name, "%s", src->b[b].name);
        dst->b[b].exists = src->b[b].exists;
        for (size_t i = 0; i < src->b[b].n; i++)
            xb_put(&dst->b[b], src->b[b].e[i].k, src->b[b].e[i].kl, src->b[b].e[i].v,
                   src->b[b].e[i].vl);
    }
}

static void xs_free(xstate *s)
{
    for (int b = 0; b < MAXB; b++) xb_clear(&s->b[b]);
}

/* ---- building the database ------------------------------------------------- */

static struct {
    char *dir;
    char *orig_path;
    uint8_t *orig;
    size_t orig_len;
    xstate A, B;
    int built;
} fx;

static size_t gen_vlen(tu_rng *r)
{
    unsigned p = (unsigned)tu_below(r, 100);
    if (p < 70) return (size_t)tu_below(r, 60);
    if (p < 90) return (size_t)tu_range(r, 60, PAGE);
    if (p < 99) return (size_t)tu_range(r, PAGE, 5 * PAGE); /* overflow */
    return (size_t)tu_range(r, 10000, 30000);
}

static void apply_put(burrow_txn *t, burrow_bucket h, xbucket *xb, tu_rng *r, unsigned keyno)
{
    char k[32];
    int kl = snprintf(k, sizeof k, "%s/%05u", tu_chance(r, 1, 2) ? "key" : "k", keyno);
    size_t vl = gen_vlen(r);
    uint8_t *v = malloc(vl + 1);
    tu_fill(r, v, vl);
    OK(burrow_put(t, h, k, (size_t)kl, v, vl, 0));
    xb_put(xb, k, (size_t)kl, v, vl);
    free(v);
}

static void apply_del(burrow_txn *t, burrow_bucket h, xbucket *xb, tu_rng *r)
{
    if (xb->n == 0) return;
    size_t i = tu_below(r, xb->n);
    OK(burrow_del(t, h, xb->e[i].k, xb->e[i].kl));
    free(xb->e[i].k);
    free(xb->e[i].v);
    memmove(&xb->e[i], &xb->e[i + 1], (xb->n - i - 1) * sizeof *xb->e);
    xb->n--;
}

static void build_database(void)
{
    tu_rng r;
    tu_rng_seed(&r, 12345); /* the database is the same every run; the damage is random */
    fx.dir = tu_tmpdir("burrow-corrupt");
    assert_non_null(fx.dir);
    fx.orig_path = tu_path(fx.dir, "orig.db");
    burrow_options opt;
    burrow_options_init(&opt);
    opt.page_size = PAGE;
    opt.sync_mode = BURROW_SYNC_NONE;
    burrow_db *db;
    OK(burrow_open(fx.orig_path, &opt, &db));
    xstate m;
    memset(&m, 0, sizeof m);
    for (int b = 0; b < MAXB; b++) snprintf(m.b[b].name, sizeof m.b[b].name, "%s", bucket_names[b]);

    /* Ten commits into alpha, beta, delta, gamma. */
    static const int first[] = {0, 1, 2, 4};
    for (int c = 0; c < 10; c++) {
        burrow_txn *t;
        OK(burrow_txn_begin(db, NULL, 0, &t));
        for (int j = 0; j < 4; j++) {
            int b = first[j];
            burrow_bucket h;
            OK(burrow_bucket_open(t, bucket_names[b], BURROW_CREATE, &h));
            m.b[b].exists = 1;
            for (int i = 0; i < 40; i++) apply_put(t, h, &m.b[b], &r, (unsigned)tu_below(&r, 600));
            for (int i = 0; i < 8; i++) apply_del(t, h, &m.b[b], &r);
        }
        OK(burrow_txn_commit(t));
    }
    burrow_db_stats st;
    OK(burrow_db_stat(db, &st));
    m.txn = st.last_txn;
    xs_copy(&fx.B, &m);

    /* The last commit: overwrites, deletes, inserts, a new bucket, a drop. */
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    for (int j = 0; j < 4; j++) {
        int b = first[j];
        if (b == 2) continue;
        burrow_bucket h;
        OK(burrow_bucket_open(t, bucket_names[b], 0, &h));
        for (int i = 0; i < 30; i++) apply_put(t, h, &m.b[b], &r, (unsigned)tu_below(&r, 700));
        for (int i = 0; i < 15; i++) apply_del(t, h, &m.b[b], &r);
    }
    burrow_bucket h;
    OK(burrow_bucket_open(t, "delta", 0, &h));
    OK(burrow_bucket_drop(t, h));
    xb_clear(&m.b[2]);
    m.b[2].exists = 0;
    OK(burrow_bucket_open(t, "epsilon", BURROW_CREATE, &h));
    m.b[3].exists = 1;
    for (int i = 0; i < 25; i++) apply_put(t, h, &m.b[3], &r, (unsigned)i);
    OK(burrow_txn_commit(t));
    OK(burrow_db_stat(db, &st));
    m.txn = st.last_txn;
    assert_true(m.txn != fx.B.txn);
    xs_copy(&fx.A, &m);
    xs_free(&m);
    OK(burrow_check(db));
    OK(burrow_close(db));

    FILE *f = fopen(fx.orig_path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    fx.orig_len = (size_t)ftell(f);
    rewind(f);
    fx.orig = malloc(fx.orig_len);
    assert_int_equal(fread(fx.orig, 1, fx.orig_len, f), fx.orig_len);
    fclose(f);
    printf("database: %zu bytes, %zu pages of %u; txn A=%" PRIu64 " B=%" PRIu64 "\n", fx.orig_len,
           fx.orig_len / PAGE, PAGE, fx.A.txn, fx.B.txn);
    fx.built = 1;
}

static int group_setup(void **state)
{
    (void)state;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (fx.dir) tu_rmtree(fx.dir);
    free(fx.dir);
    free(fx.orig_path);
    free(fx.orig);
    xs_free(&fx.A);
    xs_free(&fx.B);
    return 0;
}

/* ---- the child: open, read, check ------------------------------------------ */

static int allowed(int rc)
{
    return rc == BURROW_ECORRUPT || rc == BURROW_ENOTDB || rc == BURROW_EVERSION ||
           (rc < 0 && rc > -4096);
}

static char child_msg[1024];
static int child_bad;

static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
    if (child_bad++) return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(child_msg, sizeof child_msg, fmt, ap);
    va_end(ap);
}

/* A call's result: 1 = succeeded, 0 = failed acceptably (sets *corrupt on
 * ECORRUPT), and an unacceptable code is recorded as a failure. */
static int judge(int rc, const char *what, int *corrupt)
{
    if (rc == 0) return 1;
    if (rc == BURROW_ECORRUPT) *corrupt = 1;
    if (!allowed(rc)) bad("%s -> %d (%s) [%s]", what, rc, burrow_strerror(rc), burrow_errmsg());
    return 0;
}

struct names {
    int n;
    char name[MAXB + 4][64];
};

static int collect(void *ctx, const char *name)
{
    struct names *ns = ctx;
    if (ns->n < MAXB + 4) snprintf(ns->name[ns->n], 64, "%s", name);
    ns->n++;
    return 0;
}

static void read_bucket(burrow_txn *t, burrow_bucket h, const xbucket *xb, const xbucket *other,
                        int *corrupt)
{
    burrow_bucket_stats st;
    if (judge(burrow_bucket_stat(t, h, &st), "bucket_stat", corrupt) && st.keys != xb->n)
        bad("bucket %s: stat keys %" PRIu64 ", want %zu", xb->name, st.keys, xb->n);

    burrow_cursor *c;
    burrow_val k, v;
    if (judge(burrow_cursor_open(t, h, &c), "cursor_open", corrupt)) {
        size_t i = 0;
        int rc = burrow_cursor_first(c, &k, &v);
        for (; rc == 0; rc = burrow_cursor_next(c, &k, &v), i++) {
            if (i >= xb->n) {
                bad("bucket %s: forward scan returns more than %zu keys", xb->name, xb->n);
                break;
            }
            const kv *e = &xb->e[i];
            if (key_cmp(k.data, k.size, e->k, e->kl) != 0 || v.size != e->vl ||
                memcmp(v.data, e->v, e->vl) != 0) {
                bad("bucket %s: forward scan item %zu differs (key '%.*s' vs '%.*s', %zu vs %zu "
                    "value bytes)",
                    xb->name, i, (int)k.size, (const char *)k.data, (int)e->kl,
                    (const char *)e->k, v.size, e->vl);
                break;
            }
        }
        if (rc == BURROW_ENOTFOUND) {
            if (i != xb->n)
                bad("bucket %s: forward scan ended cleanly after %zu of %zu keys", xb->name, i,
                    xb->n);
        } else if (rc != 0) {
            judge(rc, "forward scan", corrupt);
        }
        i = xb->n;
        rc = burrow_cursor_last(c, &k, &v);
        for (; rc == 0; rc = burrow_cursor_prev(c, &k, &v)) {
            if (i == 0) {
                bad("bucket %s: backward scan returns more than %zu keys", xb->name, xb->n);
                break;
            }
            const kv *e = &xb->e[--i];
            if (key_cmp(k.data, k.size, e->k, e->kl) != 0 || v.size != e->vl ||
                memcmp(v.data, e->v, e->vl) != 0) {
                bad("bucket %s: backward scan item %zu differs", xb->name, i);
                break;
            }
        }
        if (rc == BURROW_ENOTFOUND) {
            if (i != 0) bad("bucket %s: backward scan ended cleanly %zu keys early", xb->name, i);
        } else if (rc != 0) {
            judge(rc, "backward scan", corrupt);
        }
        burrow_cursor_close(c);
    }

    for (size_t i = 0; i < xb->n; i++) {
        int rc = burrow_get(t, h, xb->e[i].k, xb->e[i].kl, &v);
        if (rc == BURROW_ENOTFOUND) {
            bad("bucket %s: get of present key '%.*s' -> ENOTFOUND", xb->name, (int)xb->e[i].kl,
                (const char *)xb->e[i].k);
            break;
        }
        if (judge(rc, "get", corrupt) &&
            (v.size != xb->e[i].vl || memcmp(v.data, xb->e[i].v, v.size) != 0)) {
            bad("bucket %s: get '%.*s': wrong value (%zu bytes, want %zu)", xb->name,
                (int)xb->e[i].kl, (const char *)xb->e[i].k, v.size, xb->e[i].vl);
            break;
        }
    }
    /* Keys only the other state has are absent here. */
    for (size_t i = 0; other && i < other->n; i++) {
        int found;
        xb_lower(xb, other->e[i].k, other->e[i].kl, &found);
        if (found) continue;
        int rc = burrow_get(t, h, other->e[i].k, other->e[i].kl, &v);
        if (rc == 0) {
            bad("bucket %s: get of absent key '%.*s' succeeded", xb->name, (int)other->e[i].kl,
                (const char *)other->e[i].k);
            break;
        }
        if (rc != BURROW_ENOTFOUND) judge(rc, "get of an absent key", corrupt);
    }
}

/* How a child's round went (when nothing was wrong), for the summary. */
enum outcome {
    OUT_OPEN_FAILED,  /* open refused the file */
    OUT_CLEAN_A,      /* read all of state A, check passed */
    OUT_CLEAN_B,      /* fell back to state B, read all, check passed */
    OUT_READ_ERRORS,  /* opened; some reads or the check reported corruption */
    OUT_CHECK_ONLY,   /* all reads fine, only burrow_check found the damage */
    OUT_N
};
static const char *const outcome_names[OUT_N] = {"open refused", "clean A", "clean B (fallback)",
                                                 "read errors", "only check failed"};

/* Everything the child does; sets child_bad/child_msg on a violation. */
static enum outcome child_body(const char *path, int rdonly)
{
    enum outcome out = OUT_OPEN_FAILED;
    int fell_back = 0;
    burrow_options opt;
    burrow_options_init(&opt);
    opt.sync_mode = BURROW_SYNC_NONE;
    opt.flags = rdonly ? BURROW_RDONLY : 0;
    burrow_db *db = NULL;
    int corrupt = 0;
    if (!judge(burrow_open(path, &opt, &db), "open", &corrupt)) return OUT_OPEN_FAILED;

    burrow_txn *t;
    if (judge(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t), "begin read", &corrupt)) {
        uint64_t id = burrow_txn_id(t);
        const xstate *want = id == fx.A.txn ? &fx.A : id == fx.B.txn ? &fx.B : NULL;
        const xstate *other = want == &fx.A ? &fx.B : &fx.A;
        fell_back = want == &fx.B;
        if (want == NULL) {
            bad("snapshot txn id %" PRIu64 " is neither A (%" PRIu64 ") nor B (%" PRIu64 ")", id,
                fx.A.txn, fx.B.txn);
        } else {
            struct names ns = {0};
            if (judge(burrow_bucket_list(t, collect, &ns), "bucket_list", &corrupt)) {
                int j = 0;
                for (int b = 0; b < MAXB; b++) {
                    if (!want->b[b].exists) continue;
                    if (j >= ns.n || strcmp(ns.name[j], bucket_names[b]) != 0)
                        bad("bucket_list[%d] = '%s', want '%s'", j, j < ns.n ? ns.name[j] : "-",
                            bucket_names[b]);
                    j++;
                }
                if (ns.n != j) bad("bucket_list gave %d names, want %d", ns.n, j);
            }
            for (int b = 0; b < MAXB; b++) {
                burrow_bucket h;
                int rc = burrow_bucket_open(t, bucket_names[b], 0, &h);
                if (!want->b[b].exists) {
                    if (rc == 0) bad("bucket %s opened but does not exist", bucket_names[b]);
                    else if (rc != BURROW_ENOTFOUND) judge(rc, "bucket_open (absent)", &corrupt);
                    continue;
                }
                if (rc == BURROW_ENOTFOUND) {
                    bad("bucket %s: ENOTFOUND but it exists", bucket_names[b]);
                    continue;
                }
                if (!judge(rc, "bucket_open", &corrupt)) continue;
                read_bucket(t, h, &want->b[b], other->b[b].exists ? &other->b[b] : NULL, &corrupt);
            }
        }
        burrow_txn_abort(t);
    }

    int read_corrupt = corrupt;
    int rc = burrow_check(db);
    if (rc != 0) judge(rc, "burrow_check", &corrupt);
    else if (corrupt) bad("burrow_check returned 0 though reads of the same snapshot found corruption");
    out = read_corrupt ? OUT_READ_ERRORS : rc != 0 ? OUT_CHECK_ONLY : fell_back ? OUT_CLEAN_B : OUT_CLEAN_A;
    rc = burrow_close(db);
    if (rc != 0) judge(rc, "close", &corrupt);
    return out;
}

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static unsigned outcomes[OUT_N];

static void print_outcomes(const char *what)
{
    printf("%s:", what);
    for (int i = 0; i < OUT_N; i++) printf(" %s %u;", outcome_names[i], outcomes[i]);
    printf("\n");
    memset(outcomes, 0, sizeof outcomes);
}

/* Run child_body on path in a forked child. Returns NULL when all is well,
 * else a description of what went wrong (static buffer). */
static const char *run_child(const char *path, int rdonly)
{
    static char result[1200];
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        alarm(60); /* a hang (say, a cycle of pages) is a failure too */
        enum outcome out = child_body(path, rdonly);
        if (!child_bad) snprintf(child_msg, sizeof child_msg, "#%d", (int)out);
        ssize_t w = write(fds[1], child_msg, strlen(child_msg));
        (void)w;
        _exit(child_bad ? 1 : 0);
    }
    close(fds[1]);
    char msg[1024];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fds[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)n;
    msg[got] = 0;
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        snprintf(result, sizeof result, "child killed by signal %d (%s)%s", sig, strsignal(sig),
                 sig == SIGALRM ? ": hung for 60 s" : "");
        return result;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(result, sizeof result, "child exit %d: %s", WEXITSTATUS(status), msg);
        return result;
    }
    if (msg[0] == '#' && msg[1] >= '0' && msg[1] < '0' + OUT_N) outcomes[msg[1] - '0']++;
    return NULL;
}

/* ---- damage ------------------------------------------------------------------- */

/* Damage buf (len bytes, capacity cap) at random; returns the new length and
 * describes the damage in desc. */
static size_t damage(tu_rng *r, uint8_t *buf, size_t len, size_t cap, char *desc, size_t dn)
{
    size_t npages = len / PAGE;
    unsigned kind = (unsigned)tu_below(r, 100);
    if (kind < 35) { /* 1..4 random bytes anywhere */
        int n = (int)tu_range(r, 1, 4);
        int o = snprintf(desc, dn, "flip %d bytes at", n);
        for (int i = 0; i < n; i++) {
            size_t off = tu_below(r, len);
            buf[off] ^= (uint8_t)tu_range(r, 1, 255);
            o += snprintf(desc + o, dn - (size_t)o, " %zu", off);
        }
        return len;
    }
    if (kind < 50) { /* the checksummed part of a meta page (or both) */
        int both = tu_chance(r, 1, 4);
        int o = snprintf(desc, dn, "meta flips at");
        for (int p = 0; p < 2; p++) {
            if (!both && p != (int)tu_below(r, 2)) continue;
            size_t off = (size_t)p * PAGE + tu_below(r, 256);
            buf[off] ^= (uint8_t)tu_range(r, 1, 255);
            o += snprintf(desc + o, dn - (size_t)o, " %zu", off);
        }
        return len;
    }
    if (kind < 65) { /* truncate */
        size_t to = tu_chance(r, 1, 2) ? tu_range(r, 1, npages - 1) * PAGE : tu_range(r, 1, len - 1);
        snprintf(desc, dn, "truncate to %zu", to);
        return to;
    }
    if (kind < 85) { /* a whole page overwritten */
        size_t p = tu_below(r, npages);
        uint8_t *pg = buf + p * PAGE;
        unsigned how = (unsigned)tu_below(r, 4);
        if (how == 0) tu_fill(r, pg, PAGE);
        else if (how == 1) memset(pg, 0, PAGE);
        else if (how == 2) memset(pg, 0xff, PAGE);
        else {
            size_t q = tu_below(r, npages);
            memmove(pg, buf + q * PAGE, PAGE);
            snprintf(desc, dn, "page %zu replaced by a copy of page %zu", p, q);
            return len;
        }
        snprintf(desc, dn, "page %zu overwritten (%s)", p,
                 how == 0 ? "random" : how == 1 ? "zeros" : "0xff");
        return len;
    }
    if (kind < 95) { /* a burst of flips inside one page */
        size_t p = tu_below(r, npages);
        int n = (int)tu_range(r, 5, 40);
        for (int i = 0; i < n; i++) buf[p * PAGE + tu_below(r, PAGE)] ^= (uint8_t)tu_range(r, 1, 255);
        snprintf(desc, dn, "%d flips in page %zu", n, p);
        return len;
    }
    /* garbage appended */
    size_t extra = tu_range(r, 1, 4 * PAGE);
    if (len + extra > cap) extra = cap - len;
    tu_fill(r, buf + len, extra);
    snprintf(desc, dn, "%zu garbage bytes appended", extra);
    return len + extra;
}

static void test_random_damage(void **state)
{
    (void)state;
    if (!fx.built) build_database();
    uint64_t seed = tu_seed();
    unsigned rounds = tu_rounds(300, 5000);
    char *path = tu_path(fx.dir, "damaged.db");

    /* The undamaged file reads back as A. */
    write_file(path, fx.orig, fx.orig_len);
    const char *res = run_child(path, 0);
    if (res) fail_msg("undamaged copy: %s", res);

    size_t cap = fx.orig_len + 8 * PAGE;
    uint8_t *buf = malloc(cap);
    int failures = 0;
    for (unsigned i = 0; i < rounds; i++) {
        tu_rng r;
        tu_rng_seed(&r, seed + i);
        memcpy(buf, fx.orig, fx.orig_len);
        char desc[256];
        size_t len = damage(&r, buf, fx.orig_len, cap, desc, sizeof desc);
        write_file(path, buf, len);
        int rdonly = tu_chance(&r, 1, 2);
        res = run_child(path, rdonly);
        if (res) {
            fprintf(stderr,
                    "CORRUPTION ROUND FAILED: round %u (seed=%llu, round seed %llu) %s, %s: %s\n"
                    "  replay: BURROW_TEST_SEED=%llu BURROW_TEST_ROUNDS=1 build/tests/test_corrupt\n",
                    i, (unsigned long long)seed, (unsigned long long)(seed + i), desc,
                    rdonly ? "read-only" : "read-write", res, (unsigned long long)(seed + i));
            if (++failures >= 5) break;
        }
    }
    free(buf);
    free(path);
    print_outcomes("random damage");
    if (failures) fail_msg("seed=%llu: %d damaged files mishandled (see above)", (unsigned long long)seed, failures);
}

/* Each page in turn: one random byte flipped. Quick runs take every second
 * page (which half depends on the seed) and both meta pages; long runs all. */
static void test_every_page(void **state)
{
    (void)state;
    if (!fx.built) build_database();
    uint64_t seed = tu_seed();
    tu_rng r;
    tu_rng_seed(&r, seed ^ 0xabcdef);
    char *path = tu_path(fx.dir, "page.db");
    uint8_t *buf = malloc(fx.orig_len);
    size_t npages = fx.orig_len / PAGE;
    size_t stride = tu_long() ? 1 : 2, phase = (size_t)(seed % stride);
    int failures = 0;
    for (size_t p = 0; p < npages; p++) {
        if (p >= 2 && p % stride != phase) continue;
        memcpy(buf, fx.orig, fx.orig_len);
        /* In a meta page, hit the checksummed part. */
        size_t off = p * PAGE + tu_below(&r, p < 2 ? 256 : PAGE);
        uint8_t x = (uint8_t)tu_range(&r, 1, 255);
        buf[off] ^= x;
        write_file(path, buf, fx.orig_len);
        const char *res = run_child(path, (int)(p & 1));
        if (res) {
            fprintf(stderr, "PAGE %zu FAILED (seed=%llu): byte %zu ^= 0x%02x: %s\n", p,
                    (unsigned long long)seed, off, x, res);
            if (++failures >= 5) break;
        }
    }
    free(buf);
    free(path);
    print_outcomes("every page");
    if (failures) fail_msg("seed=%llu: %d damaged pages mishandled (see above)", (unsigned long long)seed, failures);
}

/* Files that were never databases: a clean error, never a crash or success. */
static void test_foreign_files(void **state)
{
    (void)state;
    if (!fx.built) build_database();
    char *path = tu_path(fx.dir, "foreign");
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    uint8_t *buf = calloc(1, 64 * 1024);
    struct {
        const char *what;
        size_t len;
    } cases[] = {
        {"random, 1 page", 4096},   {"random, 3 pages", 3 * 4096}, {"random, 9 KiB", 9000},
        {"random, 100 B", 100},     {"text", 20000},               {"zeros, 4 pages", 4 * 4096},
        {"zeros, 1 byte", 1},       {"magic only", 64},            {"meta page copy", 2 * PAGE},
        {"0xff, 2 pages", 8192},
    };
    int failures = 0;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t len = cases[c].len;
        memset(buf, 0, len);
        if (strncmp(cases[c].what, "random", 6) == 0) tu_fill(&r, buf, len);
        else if (strcmp(cases[c].what, "text") == 0)
            for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)"Lorem ipsum dolor sit amet\n"[i % 27];
        else if (strcmp(cases[c].what, "magic only") == 0) memcpy(buf + 32, "BURROWDB", 8);
        else if (strcmp(cases[c].what, "0xff, 2 pages") == 0) memset(buf, 0xff, len);
        else if (strcmp(cases[c].what, "meta page copy") == 0) {
            /* Both meta pages of the real file, then nothing: the trees are gone. */
            memcpy(buf, fx.orig, len);
        }
        for (int rdonly = 0; rdonly < 2; rdonly++) {
            write_file(path, buf, len);
            if (!rdonly && (strcmp(cases[c].what, "zeros, 1 byte") == 0 ||
                            strcmp(cases[c].what, "magic only") == 0)) {
                /* Shorter than two pages and holding nothing but zeros or
                 * our magic: what a crash while creating a database leaves.
                 * It never held a commit, so a writer starts it afresh. */
                burrow_db *db = NULL;
                burrow_txn *t;
                burrow_bucket b;
                int rc = burrow_open(path, NULL, &db);
                if (rc == 0) rc = burrow_check(db);
                if (rc == 0 && burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t) == 0) {
                    rc = burrow_bucket_open(t, "b0", 0, &b) == BURROW_ENOTFOUND ? 0 : -1;
                    burrow_txn_abort(t);
                }
                if (db) burrow_close(db);
                if (rc) {
                    fprintf(stderr, "UNFINISHED NEW FILE '%s': not started afresh (%d)\n", cases[c].what, rc);
                    failures++;
                }
                continue;
            }
            /* Must fail to open (or, for the meta-only copy, fail to read). */
            const char *res = run_child(path, rdonly);
            if (res) {
                fprintf(stderr, "FOREIGN FILE '%s' (%s): %s\n", cases[c].what,
                        rdonly ? "read-only" : "read-write", res);
                failures++;
                continue;
            }
            if (strcmp(cases[c].what, "meta page copy") == 0) continue;
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                alarm(60);
                burrow_options opt;
                burrow_options_init(&opt);
                opt.flags = rdonly ? BURROW_RDONLY : 0;
                burrow_db *db = NULL;
                int rc = burrow_open(path, &opt, &db);
                if (rc == 0) _exit(10);
                _exit(rc == BURROW_ENOTDB || rc == BURROW_ECORRUPT || rc == BURROW_EVERSION ? 0 : 11);
            }
            int status;
            assert_int_equal(waitpid(pid, &status, 0), pid);
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "FOREIGN FILE '%s' (%s): open %s\n", cases[c].what,
                        rdonly ? "read-only" : "read-write",
                        WIFSIGNALED(status) ? "crashed"
                        : WEXITSTATUS(status) == 10 ? "succeeded"
                                                    : "failed with an unexpected code");
                failures++;
            }
            /* The file was not changed by the attempt. */
            struct stat st;
            assert_int_equal(stat(path, &st), 0);
            if ((size_t)st.st_size != len) {
                fprintf(stderr, "FOREIGN FILE '%s': size changed from %zu to %lld\n",
                        cases[c].what, len, (long long)st.st_size);
                failures++;
            }
        }
    }
    free(buf);
    free(path);
    memset(outcomes, 0, sizeof outcomes);
    if (failures) fail_msg("%d foreign files mishandled (see above)", failures);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_foreign_files),
        cmocka_unit_test(test_every_page),
        cmocka_unit_test(test_random_damage),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
