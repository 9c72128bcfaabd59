/*
 * test_api.c — the public API contract of include/burrow.h, one cmocka test
 * per behaviour.
 *
 * Every test runs in a fresh temporary directory under /tmp (created by
 * setup, removed by teardown). Nothing here looks inside the engine: a
 * behaviour is only asserted when burrow.h (or DESIGN.md's store/ section)
 * promises it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "burrow.h"
#include "testutil.h"

/* ---- fixture and helpers ---------------------------------------------- */

static char tmp_dir[256];
static char db_path[512];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup_dir(void **state)
{
    (void)state;
    char *d = tu_tmpdir("burrow-api");
    if (d == NULL) return -1;
    snprintf(tmp_dir, sizeof tmp_dir, "%s", d);
    free(d);
    snprintf(db_path, sizeof db_path, "%s/db", tmp_dir);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* A path inside this test's directory. Static buffer per slot. */
static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int slot;
    char *p = buf[slot++ & 3];
    snprintf(p, 512, "%s/%s", tmp_dir, name);
    return p;
}

#define OK(expr)                                                                                   \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            fail_msg("%s:%d: %s -> %d (%s) [%s]", __FILE__, __LINE__, #expr, rc_,                  \
                     burrow_strerror(rc_), burrow_errmsg());                                       \
    } while (0)

#define EXPECT_RC(expr, want)                                                                      \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        int want_ = (want);                                                                        \
        if (rc_ != want_)                                                                          \
            fail_msg("%s:%d: %s -> %d (%s), want %d (%s) [%s]", __FILE__, __LINE__, #expr, rc_,    \
                     burrow_strerror(rc_), want_, burrow_strerror(want_), burrow_errmsg());        \
    } while (0)

static burrow_db *open_path(const char *path, uint32_t page_size, unsigned flags)
{
    burrow_options opt;
    burrow_options_init(&opt);
    opt.page_size = page_size;
    opt.flags = flags;
    opt.sync_mode = BURROW_SYNC_NONE; /* durability is test_crash/test_powerloss's subject */
    burrow_db *db = NULL;
    OK(burrow_open(path, &opt, &db));
    assert_non_null(db);
    return db;
}

static burrow_db *open_db(uint32_t page_size) { return open_path(db_path, page_size, 0); }

static int try_open(const char *path, uint32_t page_size, unsigned flags, burrow_db **out)
{
    burrow_options opt;
    burrow_options_init(&opt);
    opt.page_size = page_size;
    opt.flags = flags;
    opt.sync_mode = BURROW_SYNC_NONE;
    *out = NULL;
    return burrow_open(path, &opt, out);
}

static burrow_txn *begin_write(burrow_db *db)
{
    burrow_txn *t = NULL;
    OK(burrow_txn_begin(db, NULL, 0, &t));
    return t;
}

static burrow_txn *begin_read(burrow_db *db)
{
    burrow_txn *t = NULL;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    return t;
}

static burrow_txn *begin_child(burrow_db *db, burrow_txn *parent)
{
    burrow_txn *t = NULL;
    OK(burrow_txn_begin(db, parent, 0, &t));
    return t;
}

static burrow_bucket bucket(burrow_txn *txn, const char *name, unsigned flags)
{
    burrow_bucket b = 0;
    OK(burrow_bucket_open(txn, name, flags, &b));
    return b;
}

static void put_str(burrow_txn *t, burrow_bucket b, const char *k, const char *v)
{
    OK(burrow_put(t, b, k, strlen(k), v, strlen(v), 0));
}

/* Asserts key k holds exactly v (or is absent when v is NULL). */
#define EXPECT_STR(t, b, k, v)                                                                     \
    do {                                                                                           \
        burrow_val val_;                                                                           \
        const char *k_ = (k), *v_ = (v);                                                           \
        int rc_ = burrow_get((t), (b), k_, strlen(k_), &val_);                                     \
        if (v_ == NULL) {                                                                          \
            if (rc_ != BURROW_ENOTFOUND)                                                           \
                fail_msg("%s:%d: get(%s) -> %d, want ENOTFOUND", __FILE__, __LINE__, k_, rc_);     \
        } else {                                                                                   \
            if (rc_ != 0)                                                                          \
                fail_msg("%s:%d: get(%s) -> %d (%s) [%s]", __FILE__, __LINE__, k_, rc_,            \
                         burrow_strerror(rc_), burrow_errmsg());                                   \
            if (val_.size != strlen(v_) || memcmp(val_.data, v_, val_.size) != 0)                  \
                fail_msg("%s:%d: get(%s) = '%.*s', want '%s'", __FILE__, __LINE__, k_,             \
                         (int)val_.size, (const char *)val_.data, v_);                             \
        }                                                                                          \
    } while (0)

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Deterministic bytes for (seed, len): the same call always fills the same. */
static void fill_bytes(unsigned char *buf, size_t len, uint64_t seed)
{
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t r = splitmix(&s);
        memcpy(buf + i, &r, 8);
    }
    if (i < len) {
        uint64_t r = splitmix(&s);
        memcpy(buf + i, &r, len - i);
    }
}

/* The 4 decimal digits of i (0..9999) at p, without a terminating NUL. */
static void put_digits(unsigned char *p, int i)
{
    for (int j = 3; j >= 0; j--, i /= 10) p[j] = (unsigned char)('0' + i % 10);
}

static void key_of(char *buf, size_t cap, int i) { snprintf(buf, cap, "k%06d", i); }

static int commit(burrow_txn *t) { return burrow_txn_commit(t); }

static uint64_t file_size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len) assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* ---- opening ----------------------------------------------------------- */

static void test_create_and_reopen(void **state)
{
    (void)state;
    burrow_db *db = NULL;
    /* NOCREATE on a missing file fails with -ENOENT and creates nothing. */
    EXPECT_RC(try_open(db_path, 0, BURROW_NOCREATE, &db), -ENOENT);
    assert_int_not_equal(access(db_path, F_OK), 0);

    db = open_db(0);
    assert_int_equal(access(db_path, F_OK), 0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "things", BURROW_CREATE);
    char k[32], v[64];
    for (int i = 0; i < 500; i++) {
        key_of(k, sizeof k, i);
        snprintf(v, sizeof v, "value-%d", i * 7);
        put_str(t, b, k, v);
    }
    OK(commit(t));
    OK(burrow_close(db));

    for (int round = 0; round < 2; round++) {
        db = open_db(0);
        t = begin_read(db);
        b = bucket(t, "things", 0);
        for (int i = 0; i < 500; i++) {
            key_of(k, sizeof k, i);
            snprintf(v, sizeof v, "value-%d", i * 7);
            EXPECT_STR(t, b, k, v);
        }
        EXPECT_STR(t, b, "nope", NULL);
        burrow_txn_abort(t);
        OK(burrow_check(db));
        OK(burrow_close(db));
    }
    /* NOCREATE on an existing file opens it. */
    OK(try_open(db_path, 0, BURROW_NOCREATE, &db));
    OK(burrow_close(db));
}

static void test_page_sizes_accepted(void **state)
{
    (void)state;
    for (uint32_t ps = 256; ps <= 32768; ps *= 2) {
        char name[32];
        snprintf(name, sizeof name, "db-%u", ps);
        const char *path = tmp_path(name);
        burrow_db *db = open_path(path, ps, 0);
        burrow_db_stats st;
        OK(burrow_db_stat(db, &st));
        assert_int_equal(st.page_size, ps);
        burrow_txn *t = begin_write(db);
        burrow_bucket b = bucket(t, "b", BURROW_CREATE);
        put_str(t, b, "hello", "world");
        OK(commit(t));
        OK(burrow_close(db));

        /* The page size of an existing file wins over the option. */
        db = open_path(path, ps == 4096 ? 512 : 4096, 0);
        OK(burrow_db_stat(db, &st));
        assert_int_equal(st.page_size, ps);
        assert_int_equal(file_size_of(path) % ps, 0);
        t = begin_read(db);
        b = bucket(t, "b", 0);
        EXPECT_STR(t, b, "hello", "world");
        burrow_txn_abort(t);
        OK(burrow_close(db));
    }
    /* 0 means the default, 4096. */
    burrow_db *db = open_path(tmp_path("db-default"), 0, 0);
    burrow_db_stats st;
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.page_size, 4096);
    OK(burrow_close(db));
}

static void test_page_sizes_rejected(void **state)
{
    (void)state;
    static const uint32_t bad[] = {1, 2, 64, 128, 255, 257, 300, 1000, 3000, 4095, 4097, 6144,
                                   32767, 32769, 65536, 131072, 1u << 31};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad-%u", bad[i]);
        burrow_db *db = NULL;
        int rc = try_open(tmp_path(name), bad[i], 0, &db);
        if (rc != BURROW_EINVAL)
            fail_msg("page_size %u: burrow_open -> %d (%s), want BURROW_EINVAL", bad[i], rc,
                     burrow_strerror(rc));
        assert_null(db);
    }
}

static void test_not_a_database(void **state)
{
    (void)state;
    /* A text file. */
    char text[10000];
    for (size_t i = 0; i < sizeof text; i++) text[i] = "the quick brown fox jumps\n"[i % 26];
    write_file(tmp_path("text"), text, sizeof text);
    burrow_db *db = NULL;
    EXPECT_RC(try_open(tmp_path("text"), 0, 0, &db), BURROW_ENOTDB);
    assert_null(db);
    EXPECT_RC(try_open(tmp_path("text"), 0, BURROW_RDONLY, &db), BURROW_ENOTDB);

    /* Random bytes, two pages' worth. */
    unsigned char rnd[8192];
    fill_bytes(rnd, sizeof rnd, 42);
    write_file(tmp_path("random"), rnd, sizeof rnd);
    EXPECT_RC(try_open(tmp_path("random"), 0, 0, &db), BURROW_ENOTDB);

    /* A short text file, smaller than any page. */
    write_file(tmp_path("short"), "hello\n", 6);
    EXPECT_RC(try_open(tmp_path("short"), 0, 0, &db), BURROW_ENOTDB);

    /* The files were not modified by the failed opens. */
    assert_int_equal(file_size_of(tmp_path("text")), sizeof text);
    assert_int_equal(file_size_of(tmp_path("short")), 6);
}

static void test_empty_file_is_initialised(void **state)
{
    (void)state;
    write_file(db_path, "", 0);
    burrow_db *db = open_db(1024);
    burrow_db_stats st;
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.page_size, 1024);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    put_str(t, b, "a", "1");
    OK(commit(t));
    OK(burrow_close(db));
    assert_true(file_size_of(db_path) >= 2 * 1024);

    db = open_db(0);
    t = begin_read(db);
    b = bucket(t, "b", 0);
    EXPECT_STR(t, b, "a", "1");
    burrow_txn_abort(t);
    OK(burrow_check(db));
    OK(burrow_close(db));
}

static void test_lock_same_process(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_db *db2 = NULL;
    EXPECT_RC(try_open(db_path, 0, 0, &db2), BURROW_ELOCKED);
    assert_null(db2);
    /* The failed open did not disturb the first handle. */
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    put_str(t, b, "x", "y");
    OK(commit(t));
    OK(burrow_close(db));

    /* After close, the file can be opened again. */
    db = open_db(0);
    t = begin_read(db);
    b = bucket(t, "b", 0);
    EXPECT_STR(t, b, "x", "y");
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

/* In a forked child: try to open db_path for writing, exit with a code
 * describing the result (0 = opened, 1 = ELOCKED, 2 = other error). */
static pid_t fork_open_attempt(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        burrow_db *db = NULL;
        int rc = try_open(db_path, 0, 0, &db);
        if (rc == 0) {
            burrow_close(db);
            _exit(0);
        }
        _exit(rc == BURROW_ELOCKED ? 1 : 2);
    }
    return pid;
}

static int wait_exit_code(pid_t pid)
{
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_lock_other_process(void **state)
{
    (void)state;
    /* The parent holds the file; a child's open is refused. */
    burrow_db *db = open_db(0);
    assert_int_equal(wait_exit_code(fork_open_attempt()), 1);
    OK(burrow_close(db));
    /* Once the parent closed it, a child can open it. */
    assert_int_equal(wait_exit_code(fork_open_attempt()), 0);

    /* A child holds the file; the parent's open is refused until it exits. */
    int to_parent[2], to_child[2];
    assert_int_equal(pipe(to_parent), 0);
    assert_int_equal(pipe(to_child), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        burrow_db *cdb = NULL;
        char c = try_open(db_path, 0, 0, &cdb) == 0 ? 'o' : 'e';
        if (write(to_parent[1], &c, 1) != 1) _exit(3);
        if (read(to_child[0], &c, 1) != 1) _exit(4);
        if (cdb) burrow_close(cdb);
        _exit(0);
    }
    char c = 0;
    assert_int_equal(read(to_parent[0], &c, 1), 1);
    assert_int_equal(c, 'o');
    burrow_db *db2 = NULL;
    EXPECT_RC(try_open(db_path, 0, 0, &db2), BURROW_ELOCKED);
    assert_int_equal(write(to_child[1], "x", 1), 1);
    assert_int_equal(wait_exit_code(pid), 0);
    close(to_parent[0]);
    close(to_parent[1]);
    close(to_child[0]);
    close(to_child[1]);
    db = open_db(0);
    OK(burrow_close(db));
}

static void test_rdonly_open(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    put_str(t, b, "k", "v");
    OK(commit(t));
    OK(burrow_close(db));
    uint64_t size_before = file_size_of(db_path);

    db = open_path(db_path, 0, BURROW_RDONLY);
    burrow_txn *w = NULL;
    EXPECT_RC(burrow_txn_begin(db, NULL, 0, &w), BURROW_EREADONLY);
    t = begin_read(db);
    b = bucket(t, "b", 0);
    EXPECT_STR(t, b, "k", "v");
    EXPECT_RC(burrow_put(t, b, "k", 1, "w", 1, 0), BURROW_EREADONLY);
    EXPECT_RC(burrow_del(t, b, "k", 1), BURROW_EREADONLY);
    burrow_bucket b2;
    EXPECT_RC(burrow_bucket_open(t, "new", BURROW_CREATE, &b2), BURROW_EREADONLY);
    EXPECT_RC(burrow_bucket_drop(t, b), BURROW_EREADONLY);
    EXPECT_STR(t, b, "k", "v");
    burrow_txn_abort(t);
    OK(burrow_check(db));
    OK(burrow_close(db));
    assert_int_equal(file_size_of(db_path), size_before);
}

static void test_write_in_read_txn(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    put_str(t, b, "k", "v");
    OK(commit(t));
    t = begin_read(db);
    EXPECT_RC(burrow_put(t, b, "k", 1, "w", 1, 0), BURROW_EREADONLY);
    EXPECT_RC(burrow_del(t, b, "k", 1), BURROW_EREADONLY);
    burrow_bucket b2;
    EXPECT_RC(burrow_bucket_open(t, "new", BURROW_CREATE, &b2), BURROW_EREADONLY);
    EXPECT_RC(burrow_bucket_drop(t, b), BURROW_EREADONLY);
    /* A read txn cannot parent a nested write txn. */
    burrow_txn *child = NULL;
    assert_int_not_equal(burrow_txn_begin(db, t, 0, &child), 0);
    EXPECT_STR(t, b, "k", "v");
    OK(commit(t)); /* commit of a read txn = abort */
    OK(burrow_close(db));
}

static void test_close_with_live_txn(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_read(db);
    EXPECT_RC(burrow_close(db), BURROW_EBUSY);
    burrow_txn_abort(t); /* the handle is still usable */
    t = begin_write(db);
    EXPECT_RC(burrow_close(db), BURROW_EBUSY);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    put_str(t, b, "k", "v");
    OK(commit(t));
    OK(burrow_close(db));
}

/* ---- keys and values --------------------------------------------------- */

static void test_file_mode(void **state)
{
    (void)state;
    burrow_options opt;
    burrow_options_init(&opt);
    opt.file_mode = 0600;
    burrow_db *db = NULL;
    OK(burrow_open(db_path, &opt, &db));
    OK(burrow_close(db));
    struct stat st;
    assert_int_equal(stat(db_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* The default is 0644, less the umask. */
    mode_t mask = umask(022);
    umask(mask);
    const char *p2 = tmp_path("default-mode");
    db = open_path(p2, 0, 0);
    OK(burrow_close(db));
    assert_int_equal(stat(p2, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644 & ~mask);
}

/* A value over BURROW_MAX_VALUE_SIZE is refused before any byte is read:
 * the "value" is an inaccessible reservation, so touching it would crash. */
static void test_value_too_large(void **state)
{
    (void)state;
    if (sizeof(size_t) < 8) skip();
    size_t len = BURROW_MAX_VALUE_SIZE + (size_t)1;
    void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) skip();
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    EXPECT_RC(burrow_put(t, b, "k", 1, p, len, 0), BURROW_EVALSIZE);
    /* The txn is still usable. */
    put_str(t, b, "k", "v");
    OK(commit(t));
    munmap(p, len);
    t = begin_read(db);
    EXPECT_STR(t, b, "k", "v");
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_put_get_del(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    EXPECT_STR(t, b, "apple", NULL);
    put_str(t, b, "apple", "red");
    put_str(t, b, "banana", "yellow");
    EXPECT_STR(t, b, "apple", "red");
    put_str(t, b, "apple", "green"); /* overwrite */
    EXPECT_STR(t, b, "apple", "green");
    EXPECT_RC(burrow_put(t, b, "apple", 5, "blue", 4, BURROW_NOOVERWRITE), BURROW_EEXIST);
    EXPECT_STR(t, b, "apple", "green"); /* unchanged by the refused put */
    OK(burrow_put(t, b, "cherry", 6, "dark", 4, BURROW_NOOVERWRITE));
    EXPECT_STR(t, b, "cherry", "dark");
    OK(burrow_del(t, b, "banana", 6));
    EXPECT_STR(t, b, "banana", NULL);
    EXPECT_RC(burrow_del(t, b, "banana", 6), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_del(t, b, "durian", 6), BURROW_ENOTFOUND);
    /* A prefix of an existing key, and an extension of it, are other keys. */
    EXPECT_STR(t, b, "appl", NULL);
    EXPECT_STR(t, b, "apples", NULL);
    OK(commit(t));

    t = begin_read(db);
    EXPECT_STR(t, b, "apple", "green");
    EXPECT_STR(t, b, "banana", NULL);
    EXPECT_STR(t, b, "cherry", "dark");
    EXPECT_RC(burrow_put(t, b, "x", 1, "y", 1, BURROW_NOOVERWRITE), BURROW_EREADONLY);
    burrow_txn_abort(t);

    /* Aborted writes leave nothing. */
    t = begin_write(db);
    put_str(t, b, "apple", "rotten");
    OK(burrow_del(t, b, "cherry", 6));
    put_str(t, b, "zzz", "new");
    burrow_txn_abort(t);
    t = begin_read(db);
    EXPECT_STR(t, b, "apple", "green");
    EXPECT_STR(t, b, "cherry", "dark");
    EXPECT_STR(t, b, "zzz", NULL);
    burrow_txn_abort(t);

    /* Binary keys with embedded zero bytes are distinct from their prefixes. */
    t = begin_write(db);
    OK(burrow_put(t, b, "a\0b", 3, "1", 1, 0));
    OK(burrow_put(t, b, "a\0", 2, "2", 1, 0));
    burrow_val v;
    OK(burrow_get(t, b, "a\0b", 3, &v));
    assert_int_equal(v.size, 1);
    assert_memory_equal(v.data, "1", 1);
    OK(burrow_get(t, b, "a\0", 2, &v));
    assert_memory_equal(v.data, "2", 1);
    EXPECT_RC(burrow_get(t, b, "a\0c", 3, &v), BURROW_ENOTFOUND);
    OK(commit(t));
    OK(burrow_check(db));
    OK(burrow_close(db));
}

static void test_empty_key_and_value(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    OK(burrow_put(t, b, "", 0, "empty-key", 9, 0));
    OK(burrow_put(t, b, "k", 1, "", 0, 0));
    OK(burrow_put(t, b, "\x01", 1, "x", 1, 0));
    burrow_val v;
    OK(burrow_get(t, b, "", 0, &v));
    assert_int_equal(v.size, 9);
    assert_memory_equal(v.data, "empty-key", 9);
    OK(burrow_get(t, b, "k", 1, &v));
    assert_int_equal(v.size, 0);
    OK(commit(t));
    OK(burrow_close(db));

    db = open_db(0);
    t = begin_read(db);
    b = bucket(t, "b", 0);
    OK(burrow_get(t, b, "", 0, &v));
    assert_int_equal(v.size, 9);
    assert_memory_equal(v.data, "empty-key", 9);
    OK(burrow_get(t, b, "k", 1, &v));
    assert_int_equal(v.size, 0);
    /* The empty key sorts first. */
    burrow_cursor *c;
    burrow_val k;
    OK(burrow_cursor_open(t, b, &c));
    OK(burrow_cursor_first(c, &k, &v));
    assert_int_equal(k.size, 0);
    OK(burrow_cursor_seek(c, "", 0, BURROW_SEEK_EXACT, &k, &v));
    assert_int_equal(k.size, 0);
    assert_int_equal(v.size, 9);
    burrow_cursor_close(c);
    burrow_txn_abort(t);

    t = begin_write(db);
    OK(burrow_del(t, b, "", 0));
    EXPECT_RC(burrow_get(t, b, "", 0, &v), BURROW_ENOTFOUND);
    OK(commit(t));
    OK(burrow_check(db));
    OK(burrow_close(db));
}

static void test_max_key_size(void **state)
{
    (void)state;
    static const uint32_t sizes[] = {256, 1024, 4096, 32768};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        char name[32];
        snprintf(name, sizeof name, "db-%u", sizes[s]);
        const char *path = tmp_path(name);
        burrow_db *db = open_path(path, sizes[s], 0);
        size_t max = burrow_max_key_size(db);
        if (max < 16 || max >= sizes[s])
            fail_msg("page %u: burrow_max_key_size = %zu is implausible", sizes[s], max);
        unsigned char *key = malloc(max + 1);
        unsigned char val[300];
        assert_non_null(key);
        burrow_txn *t = begin_write(db);
        burrow_bucket b = bucket(t, "b", BURROW_CREATE);
        /* Many maximal keys, so that leaves and branches split full of them. */
        const int n = 120;
        for (int i = 0; i < n; i++) {
            memset(key, 'a' + i % 26, max);
            put_digits(key + max - 4, i);
            fill_bytes(val, sizeof val, (uint64_t)i);
            OK(burrow_put(t, b, key, max, val, (size_t)(i % 2 ? sizeof val : 1), 0));
        }
        memset(key, 'z', max + 1);
        EXPECT_RC(burrow_put(t, b, key, max + 1, "v", 1, 0), BURROW_EKEYSIZE);
        burrow_val v;
        int rc = burrow_get(t, b, key, max + 1, &v);
        if (rc != BURROW_EKEYSIZE && rc != BURROW_ENOTFOUND)
            fail_msg("get with a too-long key -> %d (%s)", rc, burrow_strerror(rc));
        rc = burrow_del(t, b, key, max + 1);
        if (rc != BURROW_EKEYSIZE && rc != BURROW_ENOTFOUND)
            fail_msg("del with a too-long key -> %d (%s)", rc, burrow_strerror(rc));
        OK(commit(t));
        OK(burrow_close(db));

        db = open_path(path, 0, 0);
        assert_int_equal(burrow_max_key_size(db), max);
        t = begin_read(db);
        b = bucket(t, "b", 0);
        burrow_bucket_stats bs;
        OK(burrow_bucket_stat(t, b, &bs));
        assert_int_equal(bs.keys, n);
        for (int i = 0; i < n; i++) {
            memset(key, 'a' + i % 26, max);
            put_digits(key + max - 4, i);
            fill_bytes(val, sizeof val, (uint64_t)i);
            OK(burrow_get(t, b, key, max, &v));
            size_t want = i % 2 ? sizeof val : 1;
            assert_int_equal(v.size, want);
            assert_memory_equal(v.data, val, want);
        }
        burrow_txn_abort(t);
        OK(burrow_check(db));
        OK(burrow_close(db));
        free(key);
    }
}

static void check_value(burrow_txn *t, burrow_bucket b, const char *k, size_t len,
                        uint64_t seed, unsigned char *scratch)
{
    burrow_val v;
    int rc = burrow_get(t, b, k, strlen(k), &v);
    if (rc != 0) fail_msg("get(%s) of a %zu-byte value -> %d (%s)", k, len, rc, burrow_strerror(rc));
    if (v.size != len) fail_msg("get(%s): size %zu, want %zu", k, v.size, len);
    fill_bytes(scratch, len, seed);
    if (len && memcmp(v.data, scratch, len) != 0) {
        size_t i = 0;
        while (((const unsigned char *)v.data)[i] == scratch[i]) i++;
        fail_msg("get(%s): %zu-byte value differs at byte %zu", k, len, i);
    }
}

/* Values of many sizes, around the page size and far beyond it. */
static void value_sizes_round(const char *path, uint32_t ps, size_t max_len)
{
    size_t sizes[64];
    size_t n = 0;
    static const size_t fixed[] = {0, 1, 2, 7, 8, 100, 255, 1000, 100000, 1u << 20, 3u << 20,
                                   64u << 20};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (fixed[i] <= max_len) sizes[n++] = fixed[i];
    const size_t around[] = {ps / 4, ps / 2 - 1, ps / 2, ps - 64, ps - 1, ps, ps + 1,
                             2 * ps - 1, 2 * ps, 2 * ps + 1, 5 * ps + 3, 17 * ps};
    for (size_t i = 0; i < sizeof around / sizeof around[0]; i++) sizes[n++] = around[i];

    unsigned char *buf = malloc(max_len + 1);
    unsigned char *scratch = malloc(max_len + 1);
    assert_non_null(buf);
    assert_non_null(scratch);
    burrow_db *db = open_path(path, ps, 0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "vals", BURROW_CREATE);
    char k[32];
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%02zu", i);
        fill_bytes(buf, sizes[i], 1000 + i);
        OK(burrow_put(t, b, k, strlen(k), buf, sizes[i], 0));
        check_value(t, b, k, sizes[i], 1000 + i, scratch);
    }
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%02zu", i);
        check_value(t, b, k, sizes[i], 1000 + i, scratch);
    }
    OK(commit(t));

    t = begin_read(db);
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%02zu", i);
        check_value(t, b, k, sizes[i], 1000 + i, scratch);
    }
    burrow_txn_abort(t);
    OK(burrow_close(db));

    db = open_path(path, 0, 0);
    t = begin_read(db);
    b = bucket(t, "vals", 0);
    burrow_bucket_stats bs;
    OK(burrow_bucket_stat(t, b, &bs));
    assert_int_equal(bs.keys, n);
    assert_true(bs.overflow_pages > 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%02zu", i);
        check_value(t, b, k, sizes[i], 1000 + i, scratch);
    }
    burrow_txn_abort(t);
    OK(burrow_check(db));

    /* Shrink the big ones, grow the small ones, delete some; check again. */
    t = begin_write(db);
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%02zu", i);
        size_t len = sizes[n - 1 - i] / 3;
        if (i % 5 == 4) {
            OK(burrow_del(t, b, k, strlen(k)));
            continue;
        }
        fill_bytes(buf, len, 5000 + i);
        OK(burrow_put(t, b, k, strlen(k), buf, len, 0));
    }
    OK(commit(t));
    OK(burrow_close(db));
    db = open_path(path, 0, 0);
    t = begin_read(db);
    b = bucket(t, "vals", 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(k, sizeof k, "v%02zu", i);
        if (i % 5 == 4) {
            EXPECT_STR(t, b, k, NULL);
            continue;
        }
        check_value(t, b, k, sizes[n - 1 - i] / 3, 5000 + i, scratch);
    }
    burrow_txn_abort(t);
    OK(burrow_check(db));
    OK(burrow_close(db));
    free(buf);
    free(scratch);
}

static void test_value_sizes(void **state)
{
    (void)state;
    value_sizes_round(tmp_path("db-4096"), 4096, 64u << 20);
    value_sizes_round(tmp_path("db-256"), 256, 3u << 20);
    value_sizes_round(tmp_path("db-32768"), 32768, 3u << 20);
}

/* ---- buckets ----------------------------------------------------------- */

struct name_list {
    int n;
    char names[32][256];
    int stop_after; /* return 1 from the callback after this many (0 = never) */
};

static int collect_name(void *ctx, const char *name)
{
    struct name_list *l = ctx;
    if (l->n < 32) snprintf(l->names[l->n], 256, "%s", name);
    l->n++;
    return l->stop_after && l->n >= l->stop_after ? 77 : 0;
}

static void expect_buckets(burrow_txn *t, const char *const *want, int n)
{
    struct name_list l = {0};
    OK(burrow_bucket_list(t, collect_name, &l));
    if (l.n != n) fail_msg("bucket_list gave %d names, want %d", l.n, n);
    for (int i = 0; i < n; i++)
        if (strcmp(l.names[i], want[i]) != 0)
            fail_msg("bucket_list[%d] = '%s', want '%s'", i, l.names[i], want[i]);
}

static void test_buckets(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    expect_buckets(t, NULL, 0);
    burrow_bucket bz = bucket(t, "zeta", BURROW_CREATE);
    burrow_bucket ba = bucket(t, "alpha", BURROW_CREATE);
    burrow_bucket bm = bucket(t, "mid", BURROW_CREATE);
    burrow_bucket bx;
    EXPECT_RC(burrow_bucket_open(t, "missing", 0, &bx), BURROW_ENOTFOUND);
    put_str(t, bz, "k", "z");
    put_str(t, ba, "k", "a");
    put_str(t, bm, "k", "m");
    /* Same key, different buckets, different values. */
    EXPECT_STR(t, bz, "k", "z");
    EXPECT_STR(t, ba, "k", "a");
    static const char *const three[] = {"alpha", "mid", "zeta"};
    expect_buckets(t, three, 3);
    OK(commit(t));

    t = begin_read(db);
    expect_buckets(t, three, 3);
    /* A non-zero callback return stops the walk and is returned. */
    struct name_list l = {.stop_after = 2};
    EXPECT_RC(burrow_bucket_list(t, collect_name, &l), 77);
    assert_int_equal(l.n, 2);
    EXPECT_STR(t, bm, "k", "m");
    burrow_txn_abort(t);

    /* Opening with CREATE an existing bucket opens it, data intact. */
    t = begin_write(db);
    burrow_bucket bm2 = bucket(t, "mid", BURROW_CREATE);
    EXPECT_STR(t, bm2, "k", "m");
    OK(burrow_bucket_drop(t, bm2));
    EXPECT_RC(burrow_get(t, bm2, "k", 1, &(burrow_val){0}), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_put(t, bm2, "k", 1, "v", 1, 0), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_bucket_open(t, "mid", 0, &bx), BURROW_ENOTFOUND);
    static const char *const two[] = {"alpha", "zeta"};
    expect_buckets(t, two, 2);
    OK(commit(t));
    OK(burrow_close(db));

    db = open_db(0);
    t = begin_write(db);
    expect_buckets(t, two, 2);
    EXPECT_RC(burrow_bucket_open(t, "mid", 0, &bx), BURROW_ENOTFOUND);
    /* Re-created, it is empty. */
    bm = bucket(t, "mid", BURROW_CREATE);
    EXPECT_STR(t, bm, "k", NULL);
    burrow_bucket_stats bs;
    OK(burrow_bucket_stat(t, bm, &bs));
    assert_int_equal(bs.keys, 0);
    assert_int_equal(bs.height, 0);
    ba = bucket(t, "alpha", 0);
    EXPECT_STR(t, ba, "k", "a");
    OK(commit(t));
    OK(burrow_check(db));
    OK(burrow_close(db));
}

static void test_bucket_names(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    char name[300];
    memset(name, 'n', 255);
    name[255] = 0;
    burrow_bucket b;
    OK(burrow_bucket_open(t, name, BURROW_CREATE, &b));
    memset(name, 'n', 256);
    name[256] = 0;
    EXPECT_RC(burrow_bucket_open(t, name, BURROW_CREATE, &b), BURROW_EINVAL);
    EXPECT_RC(burrow_bucket_open(t, "", BURROW_CREATE, &b), BURROW_EINVAL);
    OK(burrow_bucket_open(t, "with space/and\x01odd", BURROW_CREATE, &b));
    OK(commit(t));
    t = begin_read(db);
    name[255] = 0;
    OK(burrow_bucket_open(t, name, 0, &b));
    OK(burrow_bucket_open(t, "with space/and\x01odd", 0, &b));
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_bucket_create_aborted(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket keep = bucket(t, "keep", BURROW_CREATE);
    put_str(t, keep, "k", "v");
    OK(commit(t));

    t = begin_write(db);
    burrow_bucket ghost = bucket(t, "ghost", BURROW_CREATE);
    put_str(t, ghost, "k", "v");
    burrow_txn_abort(t);

    t = begin_read(db);
    burrow_bucket b;
    EXPECT_RC(burrow_bucket_open(t, "ghost", 0, &b), BURROW_ENOTFOUND);
    /* The handle stays usable; the bucket simply does not exist here. */
    EXPECT_RC(burrow_get(t, ghost, "k", 1, &(burrow_val){0}), BURROW_ENOTFOUND);
    static const char *const one[] = {"keep"};
    expect_buckets(t, one, 1);
    burrow_txn_abort(t);

    /* Created in a child that aborts: gone from the parent too. */
    t = begin_write(db);
    burrow_txn *c = begin_child(db, t);
    burrow_bucket ghost2 = bucket(c, "ghost2", BURROW_CREATE);
    put_str(c, ghost2, "k", "v");
    burrow_txn_abort(c);
    EXPECT_RC(burrow_bucket_open(t, "ghost2", 0, &b), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_put(t, ghost2, "k", 1, "v", 1, 0), BURROW_ENOTFOUND);
    /* Dropped in a child that aborts: still there. */
    c = begin_child(db, t);
    OK(burrow_bucket_drop(c, keep));
    burrow_txn_abort(c);
    EXPECT_STR(t, keep, "k", "v");
    OK(commit(t));

    t = begin_read(db);
    expect_buckets(t, one, 1);
    burrow_txn_abort(t);
    OK(burrow_check(db));
    OK(burrow_close(db));
}

static void test_bucket_drop_reuses_space(void **state)
{
    (void)state;
    burrow_db *db = open_db(512);
    unsigned char val[100];
    char k[32];
    burrow_txn *t = begin_write(db);
    burrow_bucket small = bucket(t, "small", BURROW_CREATE);
    put_str(t, small, "k", "v");
    burrow_bucket big = bucket(t, "big", BURROW_CREATE);
    for (int i = 0; i < 3000; i++) {
        key_of(k, sizeof k, i);
        fill_bytes(val, sizeof val, (uint64_t)i);
        OK(burrow_put(t, big, k, strlen(k), val, sizeof val, 0));
    }
    OK(commit(t));
    burrow_db_stats before;
    OK(burrow_db_stat(db, &before));

    t = begin_write(db);
    OK(burrow_bucket_drop(t, big));
    OK(commit(t));
    /* A couple of small commits, so nothing is held back for a fallback. */
    for (int i = 0; i < 3; i++) {
        t = begin_write(db);
        put_str(t, small, "k", i % 2 ? "v1" : "v2");
        OK(commit(t));
    }
    burrow_db_stats dropped;
    OK(burrow_db_stat(db, &dropped));
    if (dropped.free_pages + dropped.pending_pages < 100)
        fail_msg("after dropping a bucket of ~%" PRIu64 " pages: free %" PRIu64
                 " pending %" PRIu64,
                 before.page_count, dropped.free_pages, dropped.pending_pages);

    t = begin_read(db);
    burrow_bucket b;
    EXPECT_RC(burrow_bucket_open(t, "big", 0, &b), BURROW_ENOTFOUND);
    burrow_txn_abort(t);

    /* The same data again, in another bucket: it fits in the freed pages. */
    t = begin_write(db);
    burrow_bucket big2 = bucket(t, "big2", BURROW_CREATE);
    for (int i = 0; i < 3000; i++) {
        key_of(k, sizeof k, i);
        fill_bytes(val, sizeof val, (uint64_t)i);
        OK(burrow_put(t, big2, k, strlen(k), val, sizeof val, 0));
    }
    OK(commit(t));
    burrow_db_stats after;
    OK(burrow_db_stat(db, &after));
    if (after.page_count > before.page_count + before.page_count / 10 + 16)
        fail_msg("space not reused: %" PRIu64 " pages before the drop, %" PRIu64 " after refill",
                 before.page_count, after.page_count);
    OK(burrow_check(db));
    OK(burrow_close(db));
}

/* ---- cursors ----------------------------------------------------------- */

/* k and v by pointer: they are read after rc, whose call fills them. */
static void expect_kv(int rc, const burrow_val *kp, const burrow_val *vp, const char *wk,
                      const char *wv, int line)
{
    burrow_val k = *kp, v = *vp;
    if (rc != 0) fail_msg("line %d: cursor -> %d (%s), want key '%s'", line, rc, burrow_strerror(rc), wk);
    if (k.size != strlen(wk) || memcmp(k.data, wk, k.size) != 0)
        fail_msg("line %d: cursor key '%.*s', want '%s'", line, (int)k.size, (const char *)k.data, wk);
    if (wv && (v.size != strlen(wv) || memcmp(v.data, wv, v.size) != 0))
        fail_msg("line %d: cursor value '%.*s', want '%s'", line, (int)v.size,
                 (const char *)v.data, wv);
}
#define EXPECT_KV(rc, k, v, wk, wv) expect_kv((rc), &(k), &(v), (wk), (wv), __LINE__)

static void val_of(char *buf, size_t cap, int i) { snprintf(buf, cap, "val-%d-%0*d", i, i % 40, 0); }

/* 400 even-numbered keys k000000, k000002, ... in bucket "nums". */
static void fill_even(burrow_txn *t, burrow_bucket b)
{
    char k[32], v[64];
    for (int i = 0; i < 800; i += 2) {
        key_of(k, sizeof k, i);
        val_of(v, sizeof v, i);
        put_str(t, b, k, v);
    }
}

static void cursor_walks(burrow_txn *t, burrow_bucket b)
{
    burrow_cursor *c;
    burrow_val k, v;
    char wk[32], wv[64];
    OK(burrow_cursor_open(t, b, &c));
    /* Unpositioned: next acts as first. */
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000000", NULL);
    OK(burrow_cursor_first(c, &k, &v));
    for (int i = 0; i < 800; i += 2) {
        key_of(wk, sizeof wk, i);
        val_of(wv, sizeof wv, i);
        EXPECT_KV(i == 0 ? 0 : burrow_cursor_next(c, &k, &v), k, v, wk, wv);
    }
    EXPECT_RC(burrow_cursor_next(c, &k, &v), BURROW_ENOTFOUND);
    EXPECT_KV(burrow_cursor_last(c, &k, &v), k, v, "k000798", NULL);
    for (int i = 796; i >= 0; i -= 2) {
        key_of(wk, sizeof wk, i);
        val_of(wv, sizeof wv, i);
        EXPECT_KV(burrow_cursor_prev(c, &k, &v), k, v, wk, wv);
    }
    EXPECT_RC(burrow_cursor_prev(c, &k, &v), BURROW_ENOTFOUND);

    /* Seeks. */
    EXPECT_KV(burrow_cursor_seek(c, "k000100", 7, BURROW_SEEK_EXACT, &k, &v), k, v, "k000100",
              NULL);
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000102", NULL);
    EXPECT_KV(burrow_cursor_prev(c, &k, &v), k, v, "k000100", NULL);
    EXPECT_KV(burrow_cursor_prev(c, &k, &v), k, v, "k000098", NULL);
    EXPECT_RC(burrow_cursor_seek(c, "k000101", 7, BURROW_SEEK_EXACT, &k, &v), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_cursor_seek(c, "k00010", 6, BURROW_SEEK_EXACT, &k, &v), BURROW_ENOTFOUND);
    EXPECT_KV(burrow_cursor_seek(c, "k000101", 7, BURROW_SEEK_GE, &k, &v), k, v, "k000102", NULL);
    EXPECT_KV(burrow_cursor_prev(c, &k, &v), k, v, "k000100", NULL);
    EXPECT_KV(burrow_cursor_seek(c, "k000100", 7, BURROW_SEEK_GE, &k, &v), k, v, "k000100", NULL);
    EXPECT_KV(burrow_cursor_seek(c, "k00010", 6, BURROW_SEEK_GE, &k, &v), k, v, "k000100", NULL);
    EXPECT_KV(burrow_cursor_seek(c, "", 0, BURROW_SEEK_GE, &k, &v), k, v, "k000000", NULL);
    EXPECT_KV(burrow_cursor_seek(c, "a", 1, BURROW_SEEK_GE, &k, &v), k, v, "k000000", NULL);
    EXPECT_RC(burrow_cursor_seek(c, "k000799", 7, BURROW_SEEK_GE, &k, &v), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_cursor_seek(c, "l", 1, BURROW_SEEK_GE, &k, &v), BURROW_ENOTFOUND);
    EXPECT_KV(burrow_cursor_seek(c, "k000797", 7, BURROW_SEEK_GE, &k, &v), k, v, "k000798", NULL);
    EXPECT_RC(burrow_cursor_next(c, &k, &v), BURROW_ENOTFOUND);
    /* Every key reached by seek, at every leaf boundary. */
    for (int i = 0; i < 800; i++) {
        key_of(wk, sizeof wk, i);
        int rc = burrow_cursor_seek(c, wk, strlen(wk), BURROW_SEEK_EXACT, &k, &v);
        if (i % 2) {
            EXPECT_RC(rc, BURROW_ENOTFOUND);
            rc = burrow_cursor_seek(c, wk, strlen(wk), BURROW_SEEK_GE, &k, &v);
            if (i == 799) {
                EXPECT_RC(rc, BURROW_ENOTFOUND);
                continue;
            }
            key_of(wk, sizeof wk, i + 1);
        }
        EXPECT_KV(rc, k, v, wk, NULL);
    }
    burrow_cursor_close(c);

    /* Unpositioned: prev acts as last. */
    OK(burrow_cursor_open(t, b, &c));
    EXPECT_KV(burrow_cursor_prev(c, &k, &v), k, v, "k000798", NULL);
    burrow_cursor_close(c);

    /* A range scan [k000200, k000300). */
    OK(burrow_cursor_open(t, b, &c));
    int n = 0, rc = burrow_cursor_seek(c, "k000200", 7, BURROW_SEEK_GE, &k, &v);
    while (rc == 0 && memcmp(k.data, "k000300", 7) < 0) {
        key_of(wk, sizeof wk, 200 + 2 * n);
        EXPECT_KV(0, k, v, wk, NULL);
        n++;
        rc = burrow_cursor_next(c, &k, &v);
    }
    assert_int_equal(n, 50);
    burrow_cursor_close(c);
}

static void test_cursor_navigation(void **state)
{
    (void)state;
    burrow_db *db = open_db(256); /* small pages: many leaves, a deep tree */
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "nums", BURROW_CREATE);
    burrow_bucket e = bucket(t, "empty", BURROW_CREATE);
    fill_even(t, b);
    cursor_walks(t, b); /* in the write txn */
    OK(commit(t));
    t = begin_read(db);
    cursor_walks(t, b); /* in a read txn */
    burrow_cursor *c;
    burrow_val k, v;
    OK(burrow_cursor_open(t, e, &c));
    EXPECT_RC(burrow_cursor_first(c, &k, &v), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_cursor_last(c, &k, &v), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_cursor_next(c, &k, &v), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_cursor_prev(c, &k, &v), BURROW_ENOTFOUND);
    EXPECT_RC(burrow_cursor_seek(c, "", 0, BURROW_SEEK_GE, &k, &v), BURROW_ENOTFOUND);
    burrow_cursor_close(c);
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_cursor_prefix(void **state)
{
    (void)state;
    static const char *const words[] = {"ap",         "apple",     "apple/1",   "apple/2",
                                        "apple/20",   "apple0",    "apricot/a", "apricot/b",
                                        "b",          "banana/1",  "banana/2",  "bananas"};
    const int nw = (int)(sizeof words / sizeof words[0]);
    burrow_db *db = open_db(256);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "w", BURROW_CREATE);
    /* Padding keys between the words, so prefixes straddle leaves. */
    for (int i = 0; i < nw; i++) {
        put_str(t, b, words[i], words[i]);
        for (int j = 0; j < 20; j++) {
            char k[64];
            snprintf(k, sizeof k, "%s%c%02d", words[i], 0x7f, j);
            put_str(t, b, k, "pad");
        }
    }
    OK(commit(t));
    t = begin_read(db);
    burrow_cursor *c;
    burrow_val k, v;
    OK(burrow_cursor_open(t, b, &c));
    static const struct {
        const char *prefix;
        const char *want[6];
    } cases[] = {
        {"apple/", {"apple/1", "apple/2", "apple/20"}},
        {"apple/2", {"apple/2", "apple/20"}},
        {"apr", {"apricot/a", "apricot/b"}},
        {"banana/", {"banana/1", "banana/2"}},
        {"c", {NULL}},
        {"apple/3", {NULL}},
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const char *p = cases[ci].prefix;
        size_t pl = strlen(p);
        int n = 0;
        int rc = burrow_cursor_seek(c, p, pl, BURROW_SEEK_GE, &k, &v);
        while (rc == 0 && k.size >= pl && memcmp(k.data, p, pl) == 0) {
            if (memchr(k.data, 0x7f, k.size) == NULL) {
                const char *w = cases[ci].want[n];
                if (w == NULL) fail_msg("prefix '%s': extra key '%.*s'", p, (int)k.size, (const char *)k.data);
                EXPECT_KV(0, k, v, w, w);
                n++;
            }
            rc = burrow_cursor_next(c, &k, &v);
        }
        if (rc != 0 && rc != BURROW_ENOTFOUND) fail_msg("prefix scan -> %d", rc);
        if (cases[ci].want[n] != NULL) fail_msg("prefix '%s': missing '%s'", p, cases[ci].want[n]);
    }
    burrow_cursor_close(c);
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_cursor_across_writes(void **state)
{
    (void)state;
    burrow_db *db = open_db(256);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "nums", BURROW_CREATE);
    fill_even(t, b);
    OK(commit(t));

    t = begin_write(db);
    burrow_cursor *c;
    burrow_val k, v;
    char wk[32];
    OK(burrow_cursor_open(t, b, &c));
    EXPECT_KV(burrow_cursor_seek(c, "k000010", 7, BURROW_SEEK_EXACT, &k, &v), k, v, "k000010",
              NULL);
    put_str(t, b, "k000011", "new"); /* just after the cursor */
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000011", "new");
    OK(burrow_del(t, b, "k000014", 7)); /* ahead of the cursor */
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000012", NULL);
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000016", NULL);
    put_str(t, b, "k000016", "changed"); /* the cursor's own key */
    EXPECT_KV(burrow_cursor_prev(c, &k, &v), k, v, "k000012", NULL);
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000016", "changed");
    /* Enough inserts before and after the cursor to split leaves around it. */
    for (int i = 1; i < 800; i += 2) {
        key_of(wk, sizeof wk, i);
        put_str(t, b, wk, "odd");
    }
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000017", "odd");
    EXPECT_KV(burrow_cursor_prev(c, &k, &v), k, v, "k000016", "changed");
    /* Delete most keys around it: leaves merge. */
    for (int i = 100; i < 700; i++) {
        key_of(wk, sizeof wk, i);
        OK(burrow_del(t, b, wk, strlen(wk)));
    }
    for (int i = 0; i < 16; i++) {
        if (i == 14) continue; /* deleted above */
        key_of(wk, sizeof wk, i);
        OK(burrow_del(t, b, wk, strlen(wk)));
    }
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000017", "odd");
    for (int i = 18; i < 100; i++) {
        key_of(wk, sizeof wk, i);
        EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, wk, NULL);
    }
    EXPECT_KV(burrow_cursor_next(c, &k, &v), k, v, "k000700", NULL);
    burrow_cursor_close(c);
    OK(commit(t));
    OK(burrow_check(db));
    OK(burrow_close(db));
}

/* The common pattern: walk a bucket and delete each key the cursor is on. */
static void test_cursor_delete_while_iterating(void **state)
{
    (void)state;
    burrow_db *db = open_db(256);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "nums", BURROW_CREATE);
    fill_even(t, b);
    OK(commit(t));

    t = begin_write(db);
    burrow_cursor *c;
    burrow_val k, v;
    char wk[32];
    OK(burrow_cursor_open(t, b, &c));
    int seen = 0;
    int rc = burrow_cursor_first(c, &k, &v);
    while (rc == 0) {
        key_of(wk, sizeof wk, 2 * seen);
        EXPECT_KV(0, k, v, wk, NULL);
        /* Delete every key except each fifth: k.data dies with the write. */
        if (seen % 5 != 0) OK(burrow_del(t, b, wk, strlen(wk)));
        seen++;
        rc = burrow_cursor_next(c, &k, &v);
    }
    EXPECT_RC(rc, BURROW_ENOTFOUND);
    assert_int_equal(seen, 400);
    /* Backward, deleting the rest. */
    int back = 0;
    rc = burrow_cursor_last(c, &k, &v);
    while (rc == 0) {
        key_of(wk, sizeof wk, 2 * 5 * (79 - back));
        EXPECT_KV(0, k, v, wk, NULL);
        OK(burrow_del(t, b, wk, strlen(wk)));
        back++;
        rc = burrow_cursor_prev(c, &k, &v);
    }
    EXPECT_RC(rc, BURROW_ENOTFOUND);
    assert_int_equal(back, 80);
    EXPECT_RC(burrow_cursor_first(c, &k, &v), BURROW_ENOTFOUND);
    burrow_cursor_close(c);
    burrow_bucket_stats bs;
    OK(burrow_bucket_stat(t, b, &bs));
    assert_int_equal(bs.keys, 0);
    OK(commit(t));
    OK(burrow_check(db));
    OK(burrow_close(db));
}

/* ---- nested transactions ---------------------------------------------- */

static void test_nested_commit_and_abort(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    put_str(t, b, "a", "parent");
    put_str(t, b, "x", "parent");

    burrow_txn *c = begin_child(db, t);
    EXPECT_STR(c, b, "a", "parent"); /* the child sees the parent's writes */
    put_str(c, b, "b", "child");
    OK(burrow_del(c, b, "a", 1));
    put_str(c, b, "x", "child");
    OK(commit(c)); /* folds into the parent */
    EXPECT_STR(t, b, "a", NULL);
    EXPECT_STR(t, b, "b", "child");
    EXPECT_STR(t, b, "x", "child");

    c = begin_child(db, t);
    put_str(c, b, "c", "aborted");
    OK(burrow_del(c, b, "b", 1));
    put_str(c, b, "x", "aborted");
    burrow_bucket cb = bucket(c, "child-bucket", BURROW_CREATE);
    put_str(c, cb, "q", "q");
    burrow_txn_abort(c); /* undoes only the child */
    EXPECT_STR(t, b, "c", NULL);
    EXPECT_STR(t, b, "b", "child");
    EXPECT_STR(t, b, "x", "child");
    burrow_bucket tmp;
    EXPECT_RC(burrow_bucket_open(t, "child-bucket", 0, &tmp), BURROW_ENOTFOUND);
    put_str(t, b, "after", "abort");
    OK(commit(t));

    t = begin_read(db);
    EXPECT_STR(t, b, "a", NULL);
    EXPECT_STR(t, b, "b", "child");
    EXPECT_STR(t, b, "c", NULL);
    EXPECT_STR(t, b, "x", "child");
    EXPECT_STR(t, b, "after", "abort");
    burrow_txn_abort(t);

    /* A committed child inside an aborted parent leaves nothing. */
    t = begin_write(db);
    c = begin_child(db, t);
    put_str(c, b, "lost", "1");
    OK(commit(c));
    burrow_txn_abort(t);
    t = begin_read(db);
    EXPECT_STR(t, b, "lost", NULL);
    burrow_txn_abort(t);

    OK(burrow_close(db));
}

static void test_nested_parent_busy(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    put_str(t, b, "k", "v");
    burrow_txn *c = begin_child(db, t);
    burrow_val v;
    burrow_cursor *cur;
    burrow_txn *c2;
    burrow_bucket b2;
    EXPECT_RC(burrow_get(t, b, "k", 1, &v), BURROW_EBUSY);
    EXPECT_RC(burrow_put(t, b, "k", 1, "w", 1, 0), BURROW_EBUSY);
    EXPECT_RC(burrow_del(t, b, "k", 1), BURROW_EBUSY);
    EXPECT_RC(burrow_cursor_open(t, b, &cur), BURROW_EBUSY);
    EXPECT_RC(burrow_txn_begin(db, t, 0, &c2), BURROW_EBUSY);
    EXPECT_RC(burrow_bucket_open(t, "b2", BURROW_CREATE, &b2), BURROW_EBUSY);
    EXPECT_RC(burrow_bucket_drop(t, b), BURROW_EBUSY);
    /* The child is unaffected by those refusals. */
    EXPECT_STR(c, b, "k", "v");
    put_str(c, b, "k", "child");
    OK(commit(c));
    /* The parent is usable again. */
    EXPECT_STR(t, b, "k", "child");
    OK(commit(t));
    OK(burrow_close(db));
}

static void test_nested_many_levels(void **state)
{
    (void)state;
    burrow_db *db = open_db(256);
    burrow_txn *lv[6];
    lv[0] = begin_write(db);
    burrow_bucket b = bucket(lv[0], "b", BURROW_CREATE);
    char k[32], v[32];
    /* Each level writes its own keys and overwrites a shared one. */
    for (int d = 0; d < 6; d++) {
        if (d > 0) lv[d] = begin_child(db, lv[d - 1]);
        for (int i = 0; i < 60; i++) {
            snprintf(k, sizeof k, "L%d-%03d", d, i);
            snprintf(v, sizeof v, "level%d", d);
            put_str(lv[d], b, k, v);
        }
        snprintf(v, sizeof v, "level%d", d);
        put_str(lv[d], b, "shared", v);
        if (d > 0) {
            snprintf(k, sizeof k, "L%d-%03d", d - 1, 7);
            OK(burrow_del(lv[d], b, k, strlen(k)));
        }
    }
    /* Abort 5, commit 4 into 3, abort 3 (takes 4's changes with it),
     * commit 2 into 1, commit 1 into 0. */
    burrow_txn_abort(lv[5]);
    EXPECT_STR(lv[4], b, "shared", "level4");
    EXPECT_STR(lv[4], b, "L5-000", NULL);
    EXPECT_STR(lv[4], b, "L3-007", NULL);
    OK(commit(lv[4]));
    EXPECT_STR(lv[3], b, "L4-000", "level4");
    EXPECT_STR(lv[3], b, "shared", "level4");
    burrow_txn_abort(lv[3]);
    EXPECT_STR(lv[2], b, "L4-000", NULL);
    EXPECT_STR(lv[2], b, "L3-000", NULL);
    EXPECT_STR(lv[2], b, "shared", "level2");
    EXPECT_STR(lv[2], b, "L2-007", "level2");
    OK(commit(lv[2]));
    OK(commit(lv[1]));
    OK(commit(lv[0]));

    burrow_txn *t = begin_read(db);
    burrow_bucket_stats bs;
    OK(burrow_bucket_stat(t, b, &bs));
    assert_int_equal(bs.keys, 3 * 60 - 2 + 1);
    EXPECT_STR(t, b, "shared", "level2");
    EXPECT_STR(t, b, "L0-007", NULL);
    EXPECT_STR(t, b, "L1-007", NULL);
    EXPECT_STR(t, b, "L2-007", "level2");
    EXPECT_STR(t, b, "L0-008", "level0");
    EXPECT_STR(t, b, "L3-001", NULL);
    burrow_txn_abort(t);

    /* Aborting a parent aborts its live children too. */
    lv[0] = begin_write(db);
    lv[1] = begin_child(db, lv[0]);
    lv[2] = begin_child(db, lv[1]);
    put_str(lv[2], b, "gone", "1");
    burrow_txn_abort(lv[0]);
    t = begin_read(db);
    EXPECT_STR(t, b, "gone", NULL);
    burrow_txn_abort(t);
    OK(burrow_check(db));
    OK(burrow_close(db));
}

/* ---- snapshots ---------------------------------------------------------- */

static void test_snapshot_isolation(void **state)
{
    (void)state;
    burrow_db *db = open_db(0);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    put_str(t, b, "k", "v1");
    put_str(t, b, "gone", "soon");
    OK(commit(t));

    burrow_txn *r1 = begin_read(db);
    uint64_t id1 = burrow_txn_id(r1);
    t = begin_write(db);
    assert_true(burrow_txn_id(t) > id1);
    put_str(t, b, "k", "v2");
    OK(burrow_del(t, b, "gone", 4));
    put_str(t, b, "new", "x");
    burrow_bucket b2 = bucket(t, "b2", BURROW_CREATE);
    put_str(t, b2, "q", "q");
    /* A reader begun during the write txn sees the last commit. */
    burrow_txn *r2 = begin_read(db);
    EXPECT_STR(r2, b, "k", "v1");
    EXPECT_STR(r2, b, "new", NULL);
    OK(commit(t));

    EXPECT_STR(r1, b, "k", "v1");
    EXPECT_STR(r1, b, "gone", "soon");
    EXPECT_STR(r1, b, "new", NULL);
    burrow_bucket tmp;
    EXPECT_RC(burrow_bucket_open(r1, "b2", 0, &tmp), BURROW_ENOTFOUND);
    EXPECT_STR(r2, b, "k", "v1");
    assert_int_equal(burrow_txn_id(r2), id1);

    burrow_txn *r3 = begin_read(db);
    assert_true(burrow_txn_id(r3) > id1);
    EXPECT_STR(r3, b, "k", "v2");
    EXPECT_STR(r3, b, "gone", NULL);
    EXPECT_STR(r3, b, "new", "x");
    EXPECT_STR(r3, b2, "q", "q");
    burrow_db_stats st;
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.last_txn, burrow_txn_id(r3));
    assert_int_equal(st.readers, 3);

    /* Further commits do not move older snapshots. */
    for (int i = 0; i < 5; i++) {
        t = begin_write(db);
        put_str(t, b, "k", i % 2 ? "odd" : "even");
        OK(commit(t));
    }
    EXPECT_STR(r1, b, "k", "v1");
    EXPECT_STR(r3, b, "k", "v2");
    burrow_txn_abort(r1);
    burrow_txn_abort(r2);
    burrow_txn_abort(r3);
    OK(burrow_close(db));
}

/* ---- errors ------------------------------------------------------------- */

static void test_strerror(void **state)
{
    (void)state;
    static const int codes[] = {
        BURROW_ENOTFOUND, BURROW_EEXIST,    BURROW_ECORRUPT, BURROW_EVERSION, BURROW_ENOTDB,
        BURROW_EINVAL,    BURROW_ELOCKED,   BURROW_EREADONLY, BURROW_EBUSY,   BURROW_EKEYSIZE,
        BURROW_EVALSIZE,  BURROW_ETXNDONE,  BURROW_ENOMEM,   BURROW_EFULL,    BURROW_EIO,
    };
    const int n = (int)(sizeof codes / sizeof codes[0]);
    for (int i = 0; i < n; i++) {
        const char *s = burrow_strerror(codes[i]);
        if (s == NULL || s[0] == 0) fail_msg("burrow_strerror(%d) is empty", codes[i]);
        for (int j = 0; j < i; j++)
            if (strcmp(s, burrow_strerror(codes[j])) == 0)
                fail_msg("codes %d and %d share the text '%s'", codes[i], codes[j], s);
        const char *ok = burrow_strerror(0);
        assert_non_null(ok);
        assert_string_not_equal(s, ok);
    }
    const char *e = burrow_strerror(-ENOENT);
    assert_non_null(e);
    assert_true(e[0] != 0);
    assert_non_null(burrow_strerror(-29999));
    assert_non_null(burrow_strerror(12345));
    assert_non_null(burrow_errmsg());
}

/* ---- statistics ---------------------------------------------------------- */

static void test_db_and_bucket_stat(void **state)
{
    (void)state;
    burrow_db *db = open_db(256);
    burrow_db_stats st;
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.page_size, 256);
    assert_int_equal(st.meta_pages, 2);
    assert_int_equal(st.buckets, 0);
    assert_int_equal(st.readers, 0);
    assert_int_equal(st.file_size, file_size_of(db_path));
    uint64_t txn0 = st.last_txn;

    burrow_txn *t = begin_write(db);
    uint64_t txn1 = burrow_txn_id(t);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    burrow_bucket e = bucket(t, "e", BURROW_CREATE);
    burrow_bucket_stats bs;
    OK(burrow_bucket_stat(t, e, &bs));
    assert_int_equal(bs.keys, 0);
    assert_int_equal(bs.height, 0);
    assert_int_equal(bs.leaf_pages + bs.branch_pages + bs.overflow_pages, 0);
    OK(commit(t));
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.buckets, 2);
    /* ids increase, not necessarily by one (see format.h) */
    assert_true(txn1 > txn0);
    assert_int_equal(st.last_txn, txn1);

    /* Heights grow as keys are added, one commit per batch. */
    uint32_t last_height = 0;
    char k[32], v[64];
    int n = 0;
    for (int batch = 0; batch < 12; batch++) {
        t = begin_write(db);
        for (int i = 0; i < 100; i++, n++) {
            key_of(k, sizeof k, n * 7919 % 100003);
            snprintf(v, sizeof v, "value %d", n);
            put_str(t, b, k, v);
        }
        OK(burrow_bucket_stat(t, b, &bs));
        assert_int_equal(bs.keys, n);
        OK(commit(t));
        burrow_txn *r = begin_read(db);
        OK(burrow_bucket_stat(r, b, &bs));
        burrow_txn_abort(r);
        assert_int_equal(bs.keys, n);
        assert_true(bs.height >= last_height);
        assert_true(bs.leaf_pages >= 1);
        if (bs.height > 1) assert_true(bs.branch_pages >= 1);
        else assert_int_equal(bs.branch_pages, 0);
        assert_true(bs.leaf_pages * 2 >= (uint64_t)n * 8 / 256); /* at least the raw bytes */
        last_height = bs.height;
    }
    if (last_height < 3) fail_msg("1200 keys in 256-byte pages: height %u, want >= 3", last_height);

    /* A big value: overflow pages. */
    t = begin_write(db);
    unsigned char big[10000];
    fill_bytes(big, sizeof big, 9);
    OK(burrow_put(t, e, "big", 3, big, sizeof big, 0));
    OK(commit(t));
    t = begin_read(db);
    OK(burrow_bucket_stat(t, e, &bs));
    assert_int_equal(bs.keys, 1);
    assert_int_equal(bs.height, 1);
    assert_int_equal(bs.leaf_pages, 1);
    if (bs.overflow_pages < sizeof big / 256)
        fail_msg("a 10000-byte value in 256-byte pages: %" PRIu64 " overflow pages",
                 bs.overflow_pages);
    burrow_txn_abort(t);

    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.file_size, file_size_of(db_path));
    assert_true(st.page_count * 256 <= st.file_size);
    assert_true(st.page_count >= 2 + bs.overflow_pages + last_height);
    assert_int_equal(st.meta_pages, 2);
    assert_true(st.catalog_pages >= 1);
    assert_int_equal(st.readers, 0);
    assert_int_equal(st.oldest_reader_lag_txns, 0);

    /* Deleting everything brings height back to 0. */
    t = begin_write(db);
    for (int i = 0; i < n; i++) {
        key_of(k, sizeof k, i * 7919 % 100003);
        OK(burrow_del(t, b, k, strlen(k)));
    }
    OK(burrow_bucket_stat(t, b, &bs));
    assert_int_equal(bs.keys, 0);
    assert_int_equal(bs.height, 0);
    OK(commit(t));
    OK(burrow_check(db));
    OK(burrow_close(db));
}

static void test_reader_lag(void **state)
{
    (void)state;
    burrow_db *db = open_db(512);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    char k[32], v[64];
    for (int i = 0; i < 500; i++) {
        key_of(k, sizeof k, i);
        put_str(t, b, k, "original");
    }
    OK(commit(t));

    burrow_txn *r = begin_read(db);
    const int commits = 5;
    for (int c = 0; c < commits; c++) {
        t = begin_write(db);
        for (int i = 0; i < 500; i += 3) {
            key_of(k, sizeof k, i);
            snprintf(v, sizeof v, "round %d", c);
            put_str(t, b, k, v);
        }
        OK(commit(t));
    }
    burrow_db_stats st;
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.readers, 1);
    if (st.oldest_reader_lag_txns != (uint64_t)commits)
        fail_msg("oldest_reader_lag_txns = %" PRIu64 ", want %d", st.oldest_reader_lag_txns,
                 commits);
    if (st.reader_pinned_pages == 0) fail_msg("reader_pinned_pages = 0 with a lagging reader");
    EXPECT_STR(r, b, "k000000", "original");
    burrow_txn_abort(r);

    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.readers, 0);
    assert_int_equal(st.oldest_reader_lag_txns, 0);
    if (st.reader_pinned_pages != 0)
        fail_msg("reader_pinned_pages = %" PRIu64 " after the reader ended", st.reader_pinned_pages);
    OK(burrow_close(db));
}

static void test_file_grows_past_map(void **state)
{
    (void)state;
    burrow_options opt;
    burrow_options_init(&opt);
    opt.page_size = 4096;
    opt.sync_mode = BURROW_SYNC_NONE;
    opt.map_reserve = 1u << 20;
    burrow_db *db = NULL;
    OK(burrow_open(db_path, &opt, &db));
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    char k[32];
    unsigned char val[3000], scratch[70000];
    for (int i = 0; i < 100; i++) {
        key_of(k, sizeof k, i);
        fill_bytes(val, sizeof val, (uint64_t)i);
        OK(burrow_put(t, b, k, strlen(k), val, sizeof val, 0));
    }
    OK(commit(t));

    burrow_txn *r = begin_read(db);
    burrow_val old_v;
    OK(burrow_get(r, b, "k000000", 7, &old_v)); /* a pointer into the old map */

    /* 20 MiB in 20 commits of 16 x 64 KiB values, overwriting the old keys too. */
    unsigned char *big = malloc(65536);
    assert_non_null(big);
    for (int c = 0; c < 20; c++) {
        t = begin_write(db);
        for (int j = 0; j < 16; j++) {
            int i = c * 16 + j;
            key_of(k, sizeof k, i);
            fill_bytes(big, 65536, 100000 + (uint64_t)i);
            OK(burrow_put(t, b, k, strlen(k), big, 65536, 0));
        }
        OK(commit(t));
    }
    free(big);
    assert_true(file_size_of(db_path) >= 20u << 20);

    /* The old snapshot, read after the growth, is intact. */
    fill_bytes(val, sizeof val, 0);
    assert_int_equal(old_v.size, sizeof val);
    assert_memory_equal(old_v.data, val, sizeof val);
    for (int i = 0; i < 100; i++) {
        key_of(k, sizeof k, i);
        check_value(r, b, k, sizeof val, (uint64_t)i, scratch);
    }
    burrow_bucket_stats bs;
    OK(burrow_bucket_stat(r, b, &bs));
    assert_int_equal(bs.keys, 100);
    burrow_txn_abort(r);

    r = begin_read(db);
    for (int i = 0; i < 320; i++) {
        key_of(k, sizeof k, i);
        check_value(r, b, k, 65536, 100000 + (uint64_t)i, scratch);
    }
    burrow_txn_abort(r);
    burrow_db_stats st;
    OK(burrow_db_stat(db, &st));
    assert_int_equal(st.file_size, file_size_of(db_path));
    OK(burrow_check(db));
    OK(burrow_close(db));

    OK(burrow_open(db_path, &opt, &db));
    r = begin_read(db);
    b = bucket(r, "b", 0);
    check_value(r, b, "k000319", 65536, 100000 + 319, scratch);
    burrow_txn_abort(r);
    OK(burrow_close(db));
}

/* ---- dump and check ----------------------------------------------------- */

static void test_dump(void **state)
{
    (void)state;
    burrow_db *db = open_db(256);
    burrow_txn *t = begin_write(db);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    burrow_bucket e = bucket(t, "empty", BURROW_CREATE);
    fill_even(t, b);
    OK(commit(t));
    t = begin_read(db);
    FILE *f = tmpfile();
    assert_non_null(f);
    OK(burrow_dump(t, b, f));
    fflush(f);
    long big = ftell(f);
    if (big <= 0) fail_msg("burrow_dump of a 400-key bucket wrote %ld bytes", big);
    rewind(f);
    OK(burrow_dump(t, e, f));
    fclose(f);
    burrow_txn_abort(t);
    OK(burrow_close(db));
}

static void test_check_healthy(void **state)
{
    (void)state;
    burrow_db *db = open_db(256);
    OK(burrow_check(db)); /* fresh */
    burrow_txn *t = begin_write(db);
    burrow_bucket a = bucket(t, "a", BURROW_CREATE);
    burrow_bucket b = bucket(t, "b", BURROW_CREATE);
    fill_even(t, a);
    unsigned char big[5000];
    fill_bytes(big, sizeof big, 3);
    OK(burrow_put(t, b, "big", 3, big, sizeof big, 0));
    OK(commit(t));
    OK(burrow_check(db));
    /* With a reader holding old pages, and pages pending. */
    burrow_txn *r = begin_read(db);
    t = begin_write(db);
    char k[32];
    for (int i = 0; i < 800; i += 4) {
        key_of(k, sizeof k, i);
        OK(burrow_del(t, a, k, strlen(k)));
    }
    OK(burrow_put(t, b, "big", 3, "small", 5, 0));
    OK(commit(t));
    OK(burrow_check(db));
    burrow_txn_abort(r);
    t = begin_write(db);
    OK(burrow_bucket_drop(t, a));
    OK(commit(t));
    OK(burrow_check(db));
    OK(burrow_close(db));
    db = open_db(0);
    OK(burrow_check(db));
    OK(burrow_close(db));
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_create_and_reopen),
        T(test_page_sizes_accepted),
        T(test_page_sizes_rejected),
        T(test_not_a_database),
        T(test_empty_file_is_initialised),
        T(test_lock_same_process),
        T(test_lock_other_process),
        T(test_rdonly_open),
        T(test_write_in_read_txn),
        T(test_close_with_live_txn),
        T(test_put_get_del),
        T(test_empty_key_and_value),
        T(test_max_key_size),
        T(test_value_sizes),
        T(test_value_too_large),
        T(test_file_mode),
        T(test_buckets),
        T(test_bucket_names),
        T(test_bucket_create_aborted),
        T(test_bucket_drop_reuses_space),
        T(test_cursor_navigation),
        T(test_cursor_prefix),
        T(test_cursor_across_writes),
        T(test_cursor_delete_while_iterating),
        T(test_nested_commit_and_abort),
        T(test_nested_parent_busy),
        T(test_nested_many_levels),
        T(test_snapshot_isolation),
        T(test_strerror),
        T(test_db_and_bucket_stat),
        T(test_reader_lag),
        T(test_file_grows_past_map),
        T(test_dump),
        T(test_check_healthy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
