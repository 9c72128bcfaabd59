/*
 * test_crash.c — kill -9 tests of the store.
 *
 * A child process (fork) opens the database with BURROW_SYNC_FULL and
 * commits in a loop. Commit i (numbered from 1 over the life of the file):
 *   - puts keys "c<i>-<j>" (j < nkeys(i), 1..6 of them) into bucket t0 or t1
 *     (by i + j), with values that depend on (i, j) only;
 *   - deletes the odd-numbered keys of commit i-12 and the remaining keys of
 *     commit i-40;
 *   - when i % 10 == 3, replaces the large value "big" in t0 (20..170 KB,
 *     far beyond a page);
 *   - when i % 7 == 0, puts junk in a nested transaction that it aborts;
 *   - stores i under "~last" in t1.
 * After each burrow_txn_commit returns 0 the child writes i to a pipe. The
 * parent SIGKILLs it at a random moment (a few ms after the start, or just
 * after the k-th acknowledgement plus a random delay), reaps it, reopens the
 * database and asserts:
 *   - the open succeeds and burrow_check() returns 0;
 *   - the contents are exactly the state after commit N, computed from the
 *     rules above, where N is A (the last acknowledged commit) or A+1 (the
 *     commit in flight, all or nothing), never anything else.
 * The next round continues on the same file: the child reopens it and goes
 * on from N+1. While the child holds the file, a write open in the parent
 * returns BURROW_ELOCKED (checked in some rounds).
 *
 * Environment: BURROW_TEST_SEED, BURROW_TEST_LONG=1 (thousands of rounds),
 * BURROW_TEST_ROUNDS=N, BURROW_TEST_VERBOSE=1, BURROW_TEST_KEEP=1.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "burrow.h"
#include "lib/testutil.h"

#define WINDOW_ODD 12 /* commit i deletes the odd keys of commit i - 12 */
#define WINDOW_ALL 40 /* ... and the rest of commit i - 40 */
#define BIG_MAX (20000 + 150000)

static int verbose;
static pid_t g_child = -1; /* killed before a failure is reported */

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        if (g_child > 0) {                                                                         \
            kill(g_child, SIGKILL);                                                                \
            waitpid(g_child, NULL, 0);                                                             \
            g_child = -1;                                                                          \
        }                                                                                          \
        fail_msg(__VA_ARGS__);                                                                     \
    } while (0)

/* ---- what commit i does ------------------------------------------------- */

static unsigned nkeys(uint64_t i) { return 1 + (unsigned)(tu_mix(i * 3 + 1) % 6); }

static int key_bucket(uint64_t i, unsigned j) { return (int)((i + j) % 2); }

static size_t key_of(uint64_t i, unsigned j, char *out, size_t cap)
{
    return (size_t)snprintf(out, cap, "c%010llu-%u", (unsigned long long)i, j);
}

static size_t value_len(uint64_t i, unsigned j)
{
    return 8 + (size_t)(tu_mix((i << 4) ^ j ^ 0x77) % 300);
}

static void value_of(uint64_t i, unsigned j, unsigned char *out, size_t len)
{
    tu_rng r;
    tu_rng_seed(&r, (i << 4) ^ j ^ 0xC0FFEE);
    tu_fill(&r, out, len);
}

static int has_big(uint64_t i) { return i % 10 == 3; }

static size_t big_len(uint64_t i) { return 20000 + (size_t)(tu_mix(i ^ 0xB16) % 150000); }

static void big_of(uint64_t i, unsigned char *out, size_t len)
{
    tu_rng r;
    tu_rng_seed(&r, i ^ 0xB16B16);
    tu_fill(&r, out, len);
}

/* Is key (i, j) alive after commit n? */
static int alive(uint64_t i, unsigned j, uint64_t n)
{
    if (i < 1 || i > n || j >= nkeys(i)) return 0;
    if (j % 2 == 1) return i + WINDOW_ODD > n;
    return i + WINDOW_ALL > n;
}

static const char *const tnames[2] = {"t0", "t1"};

/* ---- the child ---------------------------------------------------------- */

static void child_die(int code, const char *what, int rc)
{
    fprintf(stderr, "crash child: %s: %s (%s)\n", what, burrow_strerror(rc), burrow_errmsg());
    _exit(code);
}

/* Commit forever from start; each acknowledged commit number goes to fd. */
static void child_main(const char *path, uint64_t start, int fd)
{
    static unsigned char buf[BIG_MAX];
    burrow_options opt;
    burrow_options_init(&opt);
    opt.sync_mode = BURROW_SYNC_FULL;
    burrow_db *db = NULL;
    int rc = burrow_open(path, &opt, &db);
    if (rc != 0) child_die(10, "open", rc);
    for (uint64_t i = start;; i++) {
        burrow_txn *t = NULL;
        burrow_bucket h[2];
        char key[64];
        if ((rc = burrow_txn_begin(db, NULL, 0, &t)) != 0) child_die(11, "txn_begin", rc);
        for (int b = 0; b < 2; b++)
            if ((rc = burrow_bucket_open(t, tnames[b], BURROW_CREATE, &h[b])) != 0)
                child_die(12, "bucket_open", rc);
        if (i == start) {
            /* The file must hold what the parent verified. */
            burrow_val v;
            uint64_t last = 0;
            rc = burrow_get(t, h[1], "~last", 5, &v);
            if (rc == 0 && v.size == 8)
                memcpy(&last, v.data, 8);
            else if (rc != BURROW_ENOTFOUND)
                child_die(13, "get ~last", rc);
            if (last + 1 != start) {
                fprintf(stderr, "crash child: ~last is %llu, expected %llu\n",
                        (unsigned long long)last, (unsigned long long)(start - 1));
                _exit(14);
            }
        }
        for (unsigned j = 0; j < nkeys(i); j++) {
            size_t kl = key_of(i, j, key, sizeof key);
            size_t vl = value_len(i, j);
            value_of(i, j, buf, vl);
            if ((rc = burrow_put(t, h[key_bucket(i, j)], key, kl, buf, vl, 0)) != 0)
                child_die(15, "put", rc);
        }
        if (i > WINDOW_ODD) {
            uint64_t d = i - WINDOW_ODD;
            for (unsigned j = 1; j < nkeys(d); j += 2) {
                size_t kl = key_of(d, j, key, sizeof key);
                if ((rc = burrow_del(t, h[key_bucket(d, j)], key, kl)) != 0)
                    child_die(16, "del (odd)", rc);
            }
        }
        if (i > WINDOW_ALL) {
            uint64_t d = i - WINDOW_ALL;
            for (unsigned j = 0; j < nkeys(d); j += 2) {
                size_t kl = key_of(d, j, key, sizeof key);
                if ((rc = burrow_del(t, h[key_bucket(d, j)], key, kl)) != 0)
                    child_die(17, "del (even)", rc);
            }
        }
        if (has_big(i)) {
            size_t bl = big_len(i);
            big_of(i, buf, bl);
            if ((rc = burrow_put(t, h[0], "big", 3, buf, bl, 0)) != 0) child_die(18, "put big", rc);
        }
        if (i % 7 == 0) {
            burrow_txn *c = NULL;
            if ((rc = burrow_txn_begin(db, t, 0, &c)) != 0) child_die(19, "nested begin", rc);
            for (unsigned j = 0; j < 4; j++) {
                size_t kl =
                    (size_t)snprintf(key, sizeof key, "junk%llu-%u", (unsigned long long)i, j);
                memset(buf, 'j', 3000);
                if ((rc = burrow_put(c, h[j % 2], key, kl, buf, 100 + 900 * j, 0)) != 0)
                    child_die(20, "nested put", rc);
            }
            burrow_txn_abort(c);
        }
        if ((rc = burrow_put(t, h[1], "~last", 5, &i, 8, 0)) != 0) child_die(21, "put ~last", rc);
        if ((rc = burrow_txn_commit(t)) != 0) child_die(22, "commit", rc);
        ssize_t w = write(fd, &i, sizeof i);
        if (w != (ssize_t)sizeof i) _exit(23);
    }
}

/* ---- the parent's check ------------------------------------------------- */

/* Read ~last (0 when absent), then verify the whole database against the
 * state after commit n. Fails the test with a description otherwise. */
static uint64_t verify(const char *path, const char *ctx, uint64_t acked)
{
    static unsigned char buf[BIG_MAX];
    burrow_db *db = NULL;
    int rc = burrow_open(path, NULL, &db);
    if (rc != 0)
        fail_msg("%s: reopen after kill: %s (%s)", ctx, burrow_strerror(rc), burrow_errmsg());
    rc = burrow_check(db);
    if (rc != 0)
        fail_msg("%s: burrow_check after kill: %s (%s)", ctx, burrow_strerror(rc), burrow_errmsg());
    burrow_txn *t = NULL;
    rc = burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t);
    if (rc != 0) fail_msg("%s: read txn: %s", ctx, burrow_strerror(rc));
    burrow_bucket h[2];
    int have[2];
    for (int b = 0; b < 2; b++) {
        rc = burrow_bucket_open(t, tnames[b], 0, &h[b]);
        if (rc != 0 && rc != BURROW_ENOTFOUND)
            fail_msg("%s: bucket_open(%s): %s", ctx, tnames[b], burrow_strerror(rc));
        have[b] = rc == 0;
    }
    uint64_t n = 0;
    if (have[1]) {
        burrow_val v;
        rc = burrow_get(t, h[1], "~last", 5, &v);
        if (rc == 0) {
            if (v.size != 8) fail_msg("%s: ~last has %zu bytes", ctx, v.size);
            memcpy(&n, v.data, 8);
        } else if (rc != BURROW_ENOTFOUND) {
            fail_msg("%s: get ~last: %s", ctx, burrow_strerror(rc));
        }
    }
    if (n < acked)
        fail_msg("%s: the database holds commit %llu but commit %llu was acknowledged", ctx,
                 (unsigned long long)n, (unsigned long long)acked);
    if (n > acked + 1)
        fail_msg("%s: the database holds commit %llu, beyond the one in flight (%llu)", ctx,
                 (unsigned long long)n, (unsigned long long)(acked + 1));
    if (n > 0 && (!have[0] || !have[1]))
        fail_msg("%s: commit %llu is there but bucket %s is missing", ctx, (unsigned long long)n,
                 have[0] ? "t1" : "t0");

    /* Every key there must be expected, with its value; count them. */
    uint64_t seen = 0;
    for (int b = 0; b < 2; b++) {
        if (!have[b]) continue;
        burrow_cursor *c = NULL;
        rc = burrow_cursor_open(t, h[b], &c);
        if (rc != 0) fail_msg("%s: cursor_open: %s", ctx, burrow_strerror(rc));
        burrow_val k, v;
        for (rc = burrow_cursor_first(c, &k, &v); rc == 0; rc = burrow_cursor_next(c, &k, &v)) {
            char ks[64];
            size_t kn = k.size < sizeof ks - 1 ? k.size : sizeof ks - 1;
            memcpy(ks, k.data, kn);
            ks[kn] = 0;
            unsigned long long i;
            unsigned j;
            char tail;
            if (sscanf(ks, "c%llu-%u%c", &i, &j, &tail) == 2 && k.size == kn) {
                char canon[64];
                key_of(i, j, canon, sizeof canon);
                if (strcmp(canon, ks) != 0 || !alive(i, j, n) || key_bucket(i, j) != b)
                    fail_msg("%s: key %s in %s should not be there after commit %llu", ctx, ks,
                             tnames[b], (unsigned long long)n);
                size_t vl = value_len(i, j);
                value_of(i, j, buf, vl);
                if (v.size != vl || memcmp(v.data, buf, vl) != 0)
                    fail_msg("%s: key %s has a wrong value (%zu bytes, expected %zu)", ctx, ks,
                             v.size, vl);
                seen++;
            } else if (b == 0 && k.size == 3 && memcmp(k.data, "big", 3) == 0) {
                uint64_t bi = n < 3 ? 0 : n - (n + 7) % 10; /* latest i <= n with i % 10 == 3 */
                if (bi == 0) fail_msg("%s: \"big\" there before commit 3", ctx);
                size_t bl = big_len(bi);
                big_of(bi, buf, bl);
                if (v.size != bl || memcmp(v.data, buf, bl) != 0)
                    fail_msg("%s: \"big\" is not commit %llu's (%zu bytes, expected %zu)", ctx,
                             (unsigned long long)bi, v.size, bl);
            } else if (b == 1 && k.size == 5 && memcmp(k.data, "~last", 5) == 0) {
                /* checked above */
            } else {
                fail_msg("%s: unexpected key \"%s\" (%zu bytes) in %s after commit %llu", ctx, ks,
                         k.size, tnames[b], (unsigned long long)n);
            }
        }
        if (rc != BURROW_ENOTFOUND) fail_msg("%s: cursor walk: %s", ctx, burrow_strerror(rc));
        burrow_cursor_close(c);
    }
    uint64_t want = 0;
    uint64_t lo = n >= WINDOW_ALL ? n - WINDOW_ALL + 1 : 1;
    for (uint64_t i = lo; i <= n; i++)
        for (unsigned j = 0; j < nkeys(i); j++) want += (uint64_t)alive(i, j, n);
    if (seen != want)
        fail_msg("%s: %llu keys of commits found, %llu expected after commit %llu", ctx,
                 (unsigned long long)seen, (unsigned long long)want, (unsigned long long)n);
    if (n >= 3 && have[0]) {
        burrow_val v;
        if (burrow_get(t, h[0], "big", 3, &v) != 0) fail_msg("%s: \"big\" missing", ctx);
    }
    burrow_txn_abort(t);
    rc = burrow_close(db);
    if (rc != 0) fail_msg("%s: close: %s", ctx, burrow_strerror(rc));
    return n;
}

/* Read every acknowledgement available now (block up to timeout_ms for the
 * first when want > 0). Returns the number read; updates *acked. -1 on EOF. */
static int read_acks(int fd, uint64_t *acked, int timeout_ms)
{
    int got = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, got == 0 ? timeout_ms : 0);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return got;
        uint64_t v;
        ssize_t n = read(fd, &v, sizeof v);
        if (n < 0 && errno == EINTR) continue;
        if (n == 0) return got > 0 ? got : -1;
        if (n != (ssize_t)sizeof v) FAIL("short read from the child's pipe (%zd)", n);
        if (v != *acked + 1)
            FAIL("the child acknowledged commit %llu after %llu", (unsigned long long)v,
                 (unsigned long long)*acked);
        *acked = v;
        got++;
    }
}

static void sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void test_kill9(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed() ^ 0x9999);
    char *dir = tu_tmpdir("burrow-crash");
    assert_non_null(dir);
    char *path = tu_path(dir, "db.burrow");
    unsigned rounds = tu_rounds(300, 5000);
    uint64_t t0 = tu_now_us();

    /* Create the file first: a kill during creation is another question. */
    burrow_db *db = NULL;
    int rc = burrow_open(path, NULL, &db);
    if (rc != 0) fail_msg("create: %s (%s)", burrow_strerror(rc), burrow_errmsg());
    assert_int_equal(burrow_close(db), 0);

    uint64_t state_n = 0; /* the verified state: after commit state_n */
    unsigned inflight_seen = 0, lock_checks = 0;
    for (unsigned round = 0; round < rounds; round++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        fflush(stdout);
        fflush(stderr);
        pid_t parent = getpid();
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* Never outlive the parent (a timeout may kill it mid-round). */
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(98);
            /* cmocka's handlers would run the test runner on in the child */
            signal(SIGSEGV, SIG_DFL);
            signal(SIGBUS, SIG_DFL);
            signal(SIGILL, SIG_DFL);
            signal(SIGFPE, SIG_DFL);
            signal(SIGABRT, SIG_DFL);
            close(pfd[0]);
            child_main(path, state_n + 1, pfd[1]);
            _exit(99);
        }
        g_child = pid;
        close(pfd[1]);
        uint64_t acked = state_n;
        int by_time = tu_chance(&r, 1, 2);
        unsigned want_acks = 0;
        uint64_t delay_us;
        if (by_time) {
            delay_us = tu_below(&r, 8000);
        } else {
            want_acks = tu_chance(&r, 1, 10) ? (unsigned)tu_range(&r, 20, 60)
                                             : (unsigned)tu_range(&r, 1, 8);
            delay_us = tu_below(&r, 1500);
        }
        int check_lock = !by_time && (round % 10 == 0);
        unsigned got_acks = 0;
        while (got_acks < want_acks) {
            int n = read_acks(pfd[0], &acked, 20000);
            if (n <= 0) break; /* child died or hung: see below */
            got_acks += (unsigned)n;
        }
        if (!by_time && got_acks < want_acks) {
            int status = 0;
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            g_child = -1;
            fail_msg("round %u: the child stopped acknowledging (%u of %u; %s %d)", round, got_acks,
                     want_acks, WIFEXITED(status) ? "it exited with status" : "killed by signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
        if (check_lock) {
            burrow_db *other = NULL;
            rc = burrow_open(path, NULL, &other);
            if (rc == 0) {
                burrow_close(other);
                FAIL("round %u: a second open for writing succeeded while the child holds "
                     "the database",
                     round);
            }
            if (rc != BURROW_ELOCKED) {
                FAIL("round %u: a second open for writing returned %s (%d), expected "
                     "BURROW_ELOCKED",
                     round, burrow_strerror(rc), rc);
            }
            lock_checks++;
        }
        sleep_us(delay_us);
        kill(pid, SIGKILL);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        g_child = -1;
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            fail_msg("round %u: the child ended on its own (exit status %d): see its message above",
                     round, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        while (read_acks(pfd[0], &acked, 0) > 0) {
        }
        close(pfd[0]);

        char ctx[200];
        snprintf(
            ctx, sizeof ctx, "round %u (started after commit %llu, %llu acknowledged, %s %llu us)",
            round, (unsigned long long)state_n, (unsigned long long)acked,
            by_time ? "killed after" : "killed after the acks and", (unsigned long long)delay_us);
        uint64_t n = verify(path, ctx, acked);
        if (n == acked + 1) inflight_seen++;
        if (verbose) printf("%s: holds commit %llu\n", ctx, (unsigned long long)n);
        state_n = n;
    }
    printf("%u rounds, %llu commits, in-flight commit found durable %u times, %u lock checks, "
           "%llu ms\n",
           rounds, (unsigned long long)state_n, inflight_seen, lock_checks,
           (unsigned long long)((tu_now_us() - t0) / 1000));
    const char *keep = getenv("BURROW_TEST_KEEP");
    if (keep != NULL && *keep != '\0' && strcmp(keep, "0") != 0)
        printf("kept %s\n", dir);
    else
        tu_rmtree(dir);
    free(path);
    free(dir);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    tu_seed();
    const char *v = getenv("BURROW_TEST_VERBOSE");
    verbose = v != NULL && *v != '\0' && strcmp(v, "0") != 0;
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kill9),
    };
    return cmocka_run_group_tests_name("crash", tests, NULL, NULL);
}
