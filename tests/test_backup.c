/*
 * test_backup.c — hot backup, restore and compaction (backup.c):
 *
 *  - a backup taken while another thread commits continuously (made sure
 *    of: the progress callback waits until the writer has committed several
 *    times after the snapshot) opens, passes burrow_check_all, and holds
 *    exactly what the snapshot held (recorded from the same read txn before
 *    the copy), plain and compacting; a backup of the last commit (no txn
 *    given) under the same writer is sound too;
 *  - the stream form gives the same bytes as the path form for the same
 *    snapshot, plain and compacting;
 *  - after heavy deletes a compacted backup is smaller than the plain one,
 *    holds the same data, and has no free, pending or leaked pages;
 *  - cancelling through the progress callback leaves no file (and an
 *    existing destination untouched), for backup, restore and compact;
 *  - restore round trip; refused with BURROW_ELOCKED while the target is
 *    open (for writing or reading); refused when the backup fails its check;
 *  - compact in place round trip: smaller, same data; refused while open;
 *  - a backup onto a database file someone has open is refused;
 *  - a failed or short write, or a failed sync, of the backup file (through
 *    the fault-injecting OS layer) returns the error and leaves no file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "burrow.h"
#include "fault_os.h"
#include "testutil.h"

#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0)                                                                              \
            fail_msg("%s:%d: %s -> %d %s (%s)", __FILE__, __LINE__, #x, rc_, burrow_strerror(rc_), \
                     burrow_errmsg());                                                             \
    } while (0)

#define ERR(x, want)                                                                               \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != (want))                                                                         \
            fail_msg("%s:%d: %s -> %d %s (%s), want %s", __FILE__, __LINE__, #x, rc_,              \
                     burrow_strerror(rc_), burrow_errmsg(), burrow_strerror(want));                \
    } while (0)

static char *dir;

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-backup");
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    return 0;
}

static char *path_in(const char *name) { return tu_path(dir, name); }

static burrow_options opts(void)
{
    burrow_options o;
    burrow_options_init(&o);
    o.page_size = 1024;
    o.sync_mode = BURROW_SYNC_NONE; /* durability is not what these tests are about */
    return o;
}

/* ---- contents of a snapshot as one byte string -------------------------------- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void b_put(bytes *b, const void *p, size_t n)
{
    if (b->n + n + 8 > b->cap) {
        b->cap = (b->n + n + 8) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    uint64_t len = n;
    memcpy(b->p + b->n, &len, 8);
    memcpy(b->p + b->n + 8, p, n);
    b->n += n + 8;
}

struct names {
    char **v;
    size_t n;
};

static int add_name(void *ctx, const char *name)
{
    struct names *nm = ctx;
    nm->v = realloc(nm->v, (nm->n + 1) * sizeof *nm->v);
    nm->v[nm->n++] = strdup(name);
    return 0;
}

/* Every bucket (in name order) and every key and value (in key order). */
static bytes contents(burrow_txn *t)
{
    bytes b = {0};
    struct names nm = {0};
    OK(burrow_bucket_list(t, add_name, &nm));
    for (size_t i = 0; i < nm.n; i++) {
        b_put(&b, nm.v[i], strlen(nm.v[i]));
        burrow_bucket h;
        OK(burrow_bucket_open(t, nm.v[i], 0, &h));
        burrow_cursor *c;
        OK(burrow_cursor_open(t, h, &c));
        burrow_val k, v;
        int rc;
        while ((rc = burrow_cursor_next(c, &k, &v)) == 0) {
            b_put(&b, k.data, k.size);
            b_put(&b, v.data, v.size);
        }
        assert_int_equal(rc, BURROW_ENOTFOUND);
        burrow_cursor_close(c);
        b_put(&b, "", 0);
        free(nm.v[i]);
    }
    free(nm.v);
    return b;
}

static bytes file_contents(const char *path, uint64_t *txnid)
{
    burrow_options o = opts();
    o.flags = BURROW_RDONLY;
    burrow_db *db;
    OK(burrow_open(path, &o, &db));
    burrow_check_stats st;
    int problems = burrow_check_all(db, NULL, &st);
    if (problems != 0) fail_msg("%s: %d problems, first: %s", path, problems, burrow_errmsg());
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    bytes b = contents(t);
    if (txnid) *txnid = burrow_txn_id(t);
    burrow_txn_abort(t);
    OK(burrow_close(db));
    return b;
}

static void assert_same(const bytes *a, const bytes *b)
{
    assert_int_equal(a->n, b->n);
    assert_memory_equal(a->p, b->p, a->n);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len + 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return (uint64_t)st.st_size;
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Number of entries in the scratch directory (temp files left behind show). */
static int dir_entries(void)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

/* ---- filling a database ------------------------------------------------------------ */

static void put_random(burrow_txn *t, burrow_bucket b, tu_rng *r, unsigned nkeys)
{
    char key[32];
    uint8_t val[3000];
    snprintf(key, sizeof key, "k%06u", (unsigned)tu_below(r, nkeys));
    size_t vl = tu_chance(r, 1, 20) ? 1500 + tu_below(r, 1500) : 1 + tu_below(r, 120);
    tu_fill(r, val, vl);
    OK(burrow_put(t, b, key, strlen(key), val, vl, 0));
}

static burrow_db *make_db(const char *path, tu_rng *r, unsigned nkeys)
{
    burrow_options o = opts();
    burrow_db *db;
    OK(burrow_open(path, &o, &db));
    const char *names[] = {"alpha", "beta", "gamma"};
    for (int round = 0; round < 4; round++) {
        burrow_txn *t;
        OK(burrow_txn_begin(db, NULL, 0, &t));
        for (int i = 0; i < 3; i++) {
            burrow_bucket b;
            OK(burrow_bucket_open(t, names[i], BURROW_CREATE, &b));
            for (unsigned k = 0; k < nkeys / 4; k++) put_random(t, b, r, nkeys);
        }
        OK(burrow_txn_commit(t));
    }
    return db;
}

/* ---- backup while a writer commits ------------------------------------------------- */

struct writer {
    burrow_db *db;
    uint64_t seed;
    atomic_bool stop;
    atomic_bool dead; /* stopped on an error */
    atomic_uint_fast64_t commits;
};

static void *writer_run(struct writer *w);

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    writer_run(w);
    if (!atomic_load(&w->stop)) atomic_store(&w->dead, true);
    return NULL;
}

static void *writer_run(struct writer *w)
{
    tu_rng r;
    tu_rng_seed(&r, w->seed);
    const char *names[] = {"alpha", "beta", "gamma"};
    while (!atomic_load(&w->stop)) {
        burrow_txn *t;
        if (burrow_txn_begin(w->db, NULL, 0, &t)) return NULL;
        burrow_bucket b;
        int rc = burrow_bucket_open(t, names[tu_below(&r, 3)], BURROW_CREATE, &b);
        for (int i = 0; i < 40 && !rc; i++) {
            if (tu_chance(&r, 1, 3)) {
                char key[32];
                snprintf(key, sizeof key, "k%06u", (unsigned)tu_below(&r, 4000));
                rc = burrow_del(t, b, key, strlen(key));
                if (rc == BURROW_ENOTFOUND) rc = 0;
            } else {
                char key[32];
                uint8_t val[3000];
                snprintf(key, sizeof key, "k%06u", (unsigned)tu_below(&r, 4000));
                size_t vl = tu_chance(&r, 1, 20) ? 1500 + tu_below(&r, 1500) : 1 + tu_below(&r, 120);
                tu_fill(&r, val, vl);
                rc = burrow_put(t, b, key, strlen(key), val, vl, 0);
            }
        }
        /* now and then a bucket comes and goes, so the catalog changes too */
        burrow_bucket tmp;
        if (!rc && tu_chance(&r, 1, 5)) {
            rc = burrow_bucket_open(t, "temp", BURROW_CREATE, &tmp);
            if (!rc && tu_chance(&r, 1, 2)) rc = burrow_bucket_drop(t, tmp);
        }
        if (rc) {
            burrow_txn_abort(t);
            return NULL;
        }
        if (burrow_txn_commit(t)) return NULL;
        atomic_fetch_add(&w->commits, 1);
    }
    return NULL;
}

struct wait_writer {
    struct writer *w;
    uint64_t until; /* commit count to wait for at the first progress call */
    uint64_t calls, last_done, total;
};

/* Holds the backup at its start until the writer has committed several
 * more times, so the copy is certainly made while commits go on. */
static int wait_for_writer(void *ctx, uint64_t done, uint64_t total)
{
    struct wait_writer *ww = ctx;
    if (ww->calls++ == 0) {
        assert_int_equal(done, 0);
        while (atomic_load(&ww->w->commits) < ww->until && !atomic_load(&ww->w->dead)) sched_yield();
        assert_false(atomic_load(&ww->w->dead));
    }
    assert_true(done >= ww->last_done);
    assert_true(done <= total);
    ww->last_done = done;
    ww->total = total;
    return 0;
}

static int to_bytes(void *ctx, const void *buf, size_t len)
{
    bytes *b = ctx;
    if (b->n + len > b->cap) {
        b->cap = (b->n + len) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) return BURROW_ENOMEM;
    }
    memcpy(b->p + b->n, buf, len);
    b->n += len;
    return 0;
}

static void test_backup_while_writing(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    char *src = path_in("src.db"), *plain = path_in("plain.db"), *compact = path_in("compact.db"),
         *last = path_in("last.db");
    burrow_db *db = make_db(src, &r, 4000);
    struct writer w = {.db = db, .seed = tu_rand(&r)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);

    for (int flags = 0; flags <= 1; flags++) {
        /* the snapshot, and what it holds, recorded before the copy */
        burrow_txn *rt;
        OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &rt));
        bytes want = contents(rt);
        struct wait_writer ww = {&w, atomic_load(&w.commits) + 5, 0, 0, 0};
        burrow_backup_options bo = {flags ? BURROW_BACKUP_COMPACT : 0, rt, wait_for_writer, &ww};
        const char *out = flags ? compact : plain;
        OK(burrow_backup(db, out, &bo));
        assert_true(ww.calls >= 2);
        assert_int_equal(ww.last_done, ww.total);
        assert_int_equal(ww.total, file_size(out));
        /* the stream of the same snapshot: the same bytes */
        bytes stream = {0};
        ww = (struct wait_writer){&w, atomic_load(&w.commits) + 2, 0, 0, 0};
        OK(burrow_backup_stream(db, to_bytes, &stream, &bo));
        size_t fn;
        uint8_t *fb = slurp(out, &fn);
        assert_int_equal(fn, stream.n);
        assert_memory_equal(fb, stream.p, fn);
        free(fb);
        free(stream.p);
        uint64_t snap_id = burrow_txn_id(rt);
        burrow_txn_abort(rt);

        uint64_t got_id;
        bytes got = file_contents(out, &got_id);
        assert_same(&want, &got);
        assert_int_equal(got_id, snap_id);
        free(want.p);
        free(got.p);
    }

    /* the last commit, in the backup's own read txn, also under the writer */
    struct wait_writer ww = {&w, atomic_load(&w.commits) + 3, 0, 0, 0};
    burrow_backup_options bo = {0, NULL, wait_for_writer, &ww};
    OK(burrow_backup(db, last, &bo));
    atomic_store(&w.stop, true);
    pthread_join(th, NULL);
    assert_false(atomic_load(&w.dead));
    assert_true(atomic_load(&w.commits) > 10);
    bytes got = file_contents(last, NULL);
    assert_true(got.n > 0);
    free(got.p);

    /* a backup is a database: it takes writes, and stays sound */
    burrow_options o = opts();
    burrow_db *bdb;
    OK(burrow_open(compact, &o, &bdb));
    burrow_txn *t;
    OK(burrow_txn_begin(bdb, NULL, 0, &t));
    burrow_bucket b;
    OK(burrow_bucket_open(t, "alpha", BURROW_CREATE, &b));
    for (int i = 0; i < 500; i++) put_random(t, b, &r, 4000);
    OK(burrow_txn_commit(t));
    assert_int_equal(burrow_check_all(bdb, NULL, NULL), 0);
    OK(burrow_close(bdb));

    OK(burrow_check(db));
    OK(burrow_close(db));
    free(src);
    free(plain);
    free(compact);
    free(last);
}

/* ---- compaction after heavy deletes -------------------------------------------------- */

static void delete_most(burrow_db *db, tu_rng *r)
{
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    const char *names[] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < 3; i++) {
        burrow_bucket b;
        OK(burrow_bucket_open(t, names[i], 0, &b));
        burrow_cursor *c;
        OK(burrow_cursor_open(t, b, &c));
        burrow_val k, v;
        int rc;
        while ((rc = burrow_cursor_next(c, &k, &v)) == 0) {
            if (tu_chance(r, 9, 10)) {
                char key[64];
                memcpy(key, k.data, k.size);
                OK(burrow_del(t, b, key, k.size));
            }
        }
        burrow_cursor_close(c);
    }
    OK(burrow_txn_commit(t));
}

static void test_compact_smaller(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 1);
    char *src = path_in("big.db"), *plain = path_in("big-plain.db"), *compact = path_in("big-compact.db");
    burrow_db *db = make_db(src, &r, 8000);
    delete_most(db, &r);
    OK(burrow_backup(db, plain, NULL));
    burrow_backup_options bo = {BURROW_BACKUP_COMPACT, NULL, NULL, NULL};
    OK(burrow_backup(db, compact, &bo));
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    bytes want = contents(t);
    burrow_txn_abort(t);
    OK(burrow_close(db));

    bytes a = file_contents(plain, NULL), b = file_contents(compact, NULL);
    assert_same(&want, &a);
    assert_same(&want, &b);
    /* a tenth of the data is left: the compacted copy is far smaller */
    assert_true(file_size(compact) * 2 < file_size(plain));
    assert_true(file_size(plain) <= file_size(src));

    /* only live pages: nothing free, pending or leaked, and they add up */
    burrow_options o = opts();
    o.flags = BURROW_RDONLY;
    OK(burrow_open(compact, &o, &db));
    burrow_check_stats st;
    assert_int_equal(burrow_check_all(db, NULL, &st), 0);
    assert_int_equal(st.free_pages + st.pending_pages + st.freelist_pages + st.leaked_pages, 0);
    assert_int_equal(st.pages, 2 + st.tree_pages + st.overflow_pages);
    assert_int_equal(st.pages * 1024, file_size(compact));
    OK(burrow_close(db));
    OK(burrow_open(plain, &o, &db));
    assert_int_equal(burrow_check_all(db, NULL, &st), 0);
    assert_true(st.free_pages + st.pending_pages > 0);
    assert_int_equal(st.pages, 2 + st.tree_pages + st.overflow_pages + st.freelist_pages + st.free_pages +
                                   st.pending_pages);
    OK(burrow_close(db));
    free(want.p);
    free(a.p);
    free(b.p);
    free(src);
    free(plain);
    free(compact);
}

/* ---- cancel ---------------------------------------------------------------------------- */

struct cancel_at {
    uint64_t calls, at;
};

static int cancel_at(void *ctx, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    struct cancel_at *c = ctx;
    return ++c->calls >= c->at;
}

static void test_cancel(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 2);
    tu_rmtree(dir);
    free(dir);
    dir = tu_tmpdir("burrow-backup");
    char *src = path_in("c.db"), *dst = path_in("c-backup.db");
    burrow_db *db = make_db(src, &r, 4000);
    assert_int_equal(dir_entries(), 1);
    for (int flags = 0; flags <= 1; flags++)
        for (uint64_t at = 1; at <= 3; at++) {
            struct cancel_at c = {0, at};
            burrow_backup_options bo = {flags ? BURROW_BACKUP_COMPACT : 0, NULL, cancel_at, &c};
            ERR(burrow_backup(db, dst, &bo), BURROW_ECANCELED);
            assert_int_equal(c.calls, at);
            assert_false(exists(dst));
            assert_int_equal(dir_entries(), 1); /* no temporary file left */
        }
    /* an existing destination stays as it was */
    OK(burrow_backup(db, dst, NULL));
    size_t n0;
    uint8_t *before = slurp(dst, &n0);
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    burrow_bucket b;
    OK(burrow_bucket_open(t, "alpha", 0, &b));
    for (int i = 0; i < 300; i++) put_random(t, b, &r, 4000);
    OK(burrow_txn_commit(t));
    struct cancel_at c = {0, 2};
    burrow_backup_options bo = {0, NULL, cancel_at, &c};
    ERR(burrow_backup(db, dst, &bo), BURROW_ECANCELED);
    size_t n1;
    uint8_t *after = slurp(dst, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(after);
    assert_int_equal(dir_entries(), 2);
    /* the stream stops too, with what it was given so far */
    bytes s = {0};
    c = (struct cancel_at){0, 2};
    ERR(burrow_backup_stream(db, to_bytes, &s, &bo), BURROW_ECANCELED);
    free(s.p);
    OK(burrow_close(db));

    /* restore and compact, cancelled: the target is untouched */
    size_t m0;
    uint8_t *srcb = slurp(src, &m0);
    for (uint64_t at = 1; at <= 2; at++) {
        c = (struct cancel_at){0, at};
        ERR(burrow_compact(src, NULL, cancel_at, &c), BURROW_ECANCELED);
        c = (struct cancel_at){0, at};
        ERR(burrow_restore(dst, src, NULL, cancel_at, &c), BURROW_ECANCELED);
        size_t m1;
        uint8_t *now = slurp(src, &m1);
        assert_int_equal(m0, m1);
        assert_memory_equal(srcb, now, m0);
        free(now);
        assert_int_equal(dir_entries(), 2);
    }
    free(srcb);
    free(before);
    free(src);
    free(dst);
}

/* A file that is no database. Static storage. */
static const char *src_not_db(void)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/notes.txt", dir);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    for (int i = 0; i < 100; i++) fputs("not a database at all\n", f);
    fclose(f);
    return p;
}

/* A path where there is no file. Static storage. */
static const char *path_in_missing(void)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/missing.db", dir);
    return p;
}

/* ---- restore ------------------------------------------------------------------------------- */

struct count_progress {
    uint64_t calls, last, total;
};

static int count_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct count_progress *c = ctx;
    assert_true(done >= c->last && done <= total);
    c->calls++;
    c->last = done;
    c->total = total;
    return 0;
}

static void test_restore(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 3);
    char *live = path_in("live.db"), *bk = path_in("live-backup.db"), *fresh = path_in("fresh.db");
    burrow_db *db = make_db(live, &r, 3000);
    OK(burrow_backup(db, bk, NULL));
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    bytes want = contents(t);
    burrow_txn_abort(t);
    /* later changes, which the restore must undo */
    OK(burrow_txn_begin(db, NULL, 0, &t));
    burrow_bucket b;
    OK(burrow_bucket_open(t, "beta", 0, &b));
    OK(burrow_bucket_drop(t, b));
    OK(burrow_bucket_open(t, "delta", BURROW_CREATE, &b));
    for (int i = 0; i < 200; i++) put_random(t, b, &r, 3000);
    OK(burrow_txn_commit(t));

    /* refused while the target is open, for writing or for reading */
    ERR(burrow_restore(bk, live, NULL, NULL, NULL), BURROW_ELOCKED);
    OK(burrow_close(db));
    burrow_options ro = opts();
    ro.flags = BURROW_RDONLY;
    OK(burrow_open(live, &ro, &db));
    ERR(burrow_restore(bk, live, NULL, NULL, NULL), BURROW_ELOCKED);
    OK(burrow_close(db));
    bytes changed = file_contents(live, NULL);
    assert_true(changed.n != want.n || memcmp(changed.p, want.p, want.n));

    struct count_progress cp = {0};
    OK(burrow_restore(bk, live, NULL, count_progress, &cp));
    assert_true(cp.calls >= 4); /* check and copy, each from 0 to the end */
    assert_int_equal(cp.last, cp.total);
    bytes got = file_contents(live, NULL);
    assert_same(&want, &got);
    /* the restored file is a working database */
    burrow_options o = opts();
    OK(burrow_open(live, &o, &db));
    OK(burrow_txn_begin(db, NULL, 0, &t));
    OK(burrow_bucket_open(t, "alpha", 0, &b));
    OK(burrow_put(t, b, "after", 5, "restore", 7, 0));
    OK(burrow_txn_commit(t));
    OK(burrow_check(db));
    OK(burrow_close(db));

    /* into a path where nothing was */
    OK(burrow_restore(bk, fresh, NULL, NULL, NULL));
    bytes f = file_contents(fresh, NULL);
    assert_same(&want, &f);

    /* a backup that fails its check is refused, the target untouched */
    size_t n;
    uint8_t *img = slurp(bk, &n);
    /* damage the catalog's root page (open does not read it; the check does) */
    uint64_t croot;
    memcpy(&croot, img + 64, 8);
    assert_true(croot >= 2 && (croot + 1) * 1024 <= n);
    img[croot * 1024 + 1000] ^= 0x40;
    char *bad = path_in("bad-backup.db");
    FILE *fp = fopen(bad, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(img, 1, n, fp), n);
    fclose(fp);
    size_t m0;
    uint8_t *before = slurp(fresh, &m0);
    int rc = burrow_restore(bad, fresh, NULL, NULL, NULL);
    assert_int_equal(rc, BURROW_ECORRUPT);
    assert_non_null(strstr(burrow_errmsg(), "fails the check"));
    size_t m1;
    uint8_t *after = slurp(fresh, &m1);
    assert_int_equal(m0, m1);
    assert_memory_equal(before, after, m0);
    /* and a file that is no database at all */
    ERR(burrow_restore(src_not_db(), fresh, NULL, NULL, NULL), BURROW_ENOTDB);

    free(img);
    free(before);
    free(after);
    free(bad);
    free(want.p);
    free(changed.p);
    free(got.p);
    free(f.p);
    free(live);
    free(bk);
    free(fresh);
}

/* ---- compact in place ------------------------------------------------------------------- */

static void test_compact_in_place(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 4);
    char *p = path_in("inplace.db");
    burrow_db *db = make_db(p, &r, 8000);
    delete_most(db, &r);
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    bytes want = contents(t);
    burrow_txn_abort(t);
    ERR(burrow_compact(p, NULL, NULL, NULL), BURROW_ELOCKED);
    OK(burrow_close(db));
    uint64_t before = file_size(p);
    int entries = dir_entries();
    struct count_progress cp = {0};
    OK(burrow_compact(p, NULL, count_progress, &cp));
    assert_int_equal(cp.last, cp.total);
    assert_int_equal(cp.total, file_size(p));
    assert_true(file_size(p) * 2 < before);
    assert_int_equal(dir_entries(), entries);
    bytes got = file_contents(p, NULL);
    assert_same(&want, &got);
    /* a second compaction changes nothing but keeps working */
    OK(burrow_compact(p, NULL, NULL, NULL));
    bytes again = file_contents(p, NULL);
    assert_same(&want, &again);
    ERR(burrow_compact(path_in_missing(), NULL, NULL, NULL), -ENOENT);
    free(want.p);
    free(got.p);
    free(again.p);
    free(p);
}

/* ---- a backup onto a database in use ------------------------------------------------------- */

static void test_backup_onto_open_file(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 5);
    char *a = path_in("one.db"), *b = path_in("two.db");
    burrow_db *da = make_db(a, &r, 400), *dbb = make_db(b, &r, 400);
    size_t n0;
    uint8_t *before = slurp(b, &n0);
    ERR(burrow_backup(da, b, NULL), BURROW_ELOCKED);
    ERR(burrow_backup(da, a, NULL), BURROW_ELOCKED); /* onto itself */
    size_t n1;
    uint8_t *after = slurp(b, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    OK(burrow_close(dbb));
    OK(burrow_backup(da, b, NULL)); /* closed: replaced */
    bytes x = file_contents(b, NULL);
    burrow_txn *t;
    OK(burrow_txn_begin(da, NULL, BURROW_TXN_RDONLY, &t));
    bytes y = contents(t);
    burrow_txn_abort(t);
    assert_same(&y, &x);
    /* bad arguments */
    ERR(burrow_backup(da, "", NULL), BURROW_EINVAL);
    burrow_backup_options bo = {0x80, NULL, NULL, NULL};
    ERR(burrow_backup(da, b, &bo), BURROW_EINVAL);
    burrow_txn *w;
    OK(burrow_txn_begin(da, NULL, 0, &w));
    bo = (burrow_backup_options){0, w, NULL, NULL};
    ERR(burrow_backup(da, b, &bo), BURROW_EINVAL); /* a write txn is no snapshot */
    burrow_txn_abort(w);
    OK(burrow_close(da));
    free(x.p);
    free(y.p);
    free(before);
    free(after);
    free(a);
    free(b);
}

/* ---- I/O errors while writing the backup ---------------------------------------------------- */

static void test_io_errors(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 6);
    tu_rmtree(dir);
    free(dir);
    dir = tu_tmpdir("burrow-backup");
    fault_os *fo = fault_os_new(NULL, tu_rand(&r));
    assert_non_null(fo);
    char *src = path_in("f.db"), *dst = path_in("f-backup.db");
    burrow_options o = opts();
    o.os = fault_os_table(fo);
    burrow_db *db;
    OK(burrow_open(src, &o, &db));
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    burrow_bucket b;
    OK(burrow_bucket_open(t, "alpha", BURROW_CREATE, &b));
    /* over 2 MiB, so a backup is written in several pieces */
    static uint8_t big[3000];
    for (int i = 0; i < 800; i++) {
        char key[32];
        snprintf(key, sizeof key, "big%05d", i);
        tu_fill(&r, big, sizeof big);
        OK(burrow_put(t, b, key, strlen(key), big, sizeof big, 0));
    }
    OK(burrow_txn_commit(t));
    for (int flags = 0; flags <= 1; flags++) {
        burrow_backup_options bo = {flags ? BURROW_BACKUP_COMPACT : 0, NULL, NULL, NULL};
        /* the first and the second piece fail; then a short write */
        for (uint64_t skip = 0; skip < 2; skip++) {
            fault_os_fail(fo, FAULT_OP_PWRITE, skip, -ENOSPC, 0);
            ERR(burrow_backup(db, dst, &bo), -ENOSPC);
            assert_int_equal(fault_os_fail_fired(fo), 1);
            assert_false(exists(dst));
            assert_int_equal(dir_entries(), 1);
        }
        fault_os_fail(fo, FAULT_OP_PWRITE, 0, 0, FAULT_SHORT);
        ERR(burrow_backup(db, dst, &bo), -EIO);
        assert_false(exists(dst));
        fault_os_fail(fo, FAULT_OP_SYNC, 0, -EIO, 0);
        ERR(burrow_backup(db, dst, &bo), -EIO);
        assert_false(exists(dst));
        assert_int_equal(dir_entries(), 1);
        fault_os_fail_clear(fo);
    }
    assert_int_equal(fault_os_open_files(fo), 1); /* only the database's own */
    OK(burrow_backup(db, dst, NULL));
    bytes got = file_contents(dst, NULL);
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    bytes want = contents(t);
    burrow_txn_abort(t);
    assert_same(&want, &got);
    OK(burrow_close(db));
    fault_os_free(fo);
    free(want.p);
    free(got.p);
    free(src);
    free(dst);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    if (getenv("BURROW_TEST_FILTER")) cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_while_writing), cmocka_unit_test(test_compact_smaller),
        cmocka_unit_test(test_cancel),               cmocka_unit_test(test_restore),
        cmocka_unit_test(test_compact_in_place),     cmocka_unit_test(test_backup_onto_open_file),
        cmocka_unit_test(test_io_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
