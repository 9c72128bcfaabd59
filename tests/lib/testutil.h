/*
 * testutil.h — small helpers shared by the test binaries: the seed of the
 * randomised tests, long mode, a fast PRNG and scratch directories.
 *
 * Conventions (see CONVENTIONS.md, tests in three tiers):
 *  - A randomised test calls tu_seed() once; it prints "seed=%llu" so a
 *    failure can be replayed with BURROW_TEST_SEED=<seed>.
 *  - BURROW_TEST_LONG=1 in the environment (or --long on the command line,
 *    after tu_init(argc, argv)) asks for many more rounds; tu_rounds() scales.
 *  - Scratch files go in a fresh directory from tu_tmpdir(), removed with
 *    tu_rmtree() at the end.
 */
#ifndef BURROW_TESTUTIL_H
#define BURROW_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Record argv options: "--long" sets long mode, "--seed=N" sets the seed.
 * Unknown arguments are left alone (cmocka ignores them too). Optional. */
void tu_init(int argc, char **argv);

/* The seed of this run: --seed=N, else env BURROW_TEST_SEED, else from time
 * and pid. The first call prints "seed=%llu" to stdout; later calls return
 * the same value. */
uint64_t tu_seed(void);

/* 1 in long mode (BURROW_TEST_LONG set to anything but "" or "0", or
 * --long), else 0. */
int tu_long(void);

/* quick rounds normally, long rounds in long mode. */
unsigned tu_rounds(unsigned quick, unsigned long_rounds);

/* Env var BURROW_TEST_ROUNDS=N overrides tu_rounds() when set (handy to
 * replay one failing round quickly). Returns 0 when unset. */
unsigned tu_rounds_override(void);

/* xoshiro-style PRNG state; seed it with tu_rng_seed. Not thread-safe: one
 * state per thread. */
typedef struct tu_rng {
    uint64_t s[4];
} tu_rng;

void tu_rng_seed(tu_rng *r, uint64_t seed);
uint64_t tu_rand(tu_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t tu_below(tu_rng *r, uint64_t n);
/* Uniform in [lo, hi]; lo <= hi. */
uint64_t tu_range(tu_rng *r, uint64_t lo, uint64_t hi);
/* 1 with probability num/den. */
int tu_chance(tu_rng *r, unsigned num, unsigned den);
/* Fill buf with bytes from r. */
void tu_fill(tu_rng *r, void *buf, size_t len);
/* A 64-bit mix of x (splitmix64 finaliser); handy to derive sub-seeds. */
uint64_t tu_mix(uint64_t x);

/* Create a fresh directory /tmp/<prefix>-<six random characters> (prefix
 * may be NULL).
 * Returns a malloc'd path the caller frees, or NULL (errno set). */
char *tu_tmpdir(const char *prefix);

/* Join dir and name into a malloc'd path the caller frees. */
char *tu_path(const char *dir, const char *name);

/* Remove path and everything below it (like rm -rf). Returns 0 or -errno. */
int tu_rmtree(const char *path);

/* Monotonic clock in microseconds. */
uint64_t tu_now_us(void);

#endif
