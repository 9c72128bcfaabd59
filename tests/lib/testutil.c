/*
 * testutil.c — seed, long mode, PRNG and scratch directories for the tests.
 * See testutil.h for the contract.
 */
#include "testutil.h"

#include "base/tmpdir.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int tu_long_arg = 0;
static int tu_seed_arg_set = 0;
static uint64_t tu_seed_arg = 0;

void tu_init(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--long") == 0) {
            tu_long_arg = 1;
        } else if (strncmp(argv[i], "--seed=", 7) == 0) {
            tu_seed_arg = strtoull(argv[i] + 7, NULL, 0);
            tu_seed_arg_set = 1;
        }
    }
}

uint64_t tu_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t tu_seed(void)
{
    static int have = 0;
    static uint64_t seed = 0;
    if (!have) {
        const char *env = getenv("BURROW_TEST_SEED");
        if (tu_seed_arg_set) {
            seed = tu_seed_arg;
        } else if (env != NULL && *env != '\0') {
            seed = strtoull(env, NULL, 0);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            seed = tu_mix(((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
                          ((uint64_t)getpid() << 32));
            seed &= 0xFFFFFFFFFFFFull; /* short enough to type */
        }
        have = 1;
        printf("seed=%llu\n", (unsigned long long)seed);
        fflush(stdout);
    }
    return seed;
}

int tu_long(void)
{
    const char *env = getenv("BURROW_TEST_LONG");
    if (tu_long_arg) return 1;
    return env != NULL && *env != '\0' && strcmp(env, "0") != 0;
}

unsigned tu_rounds_override(void)
{
    const char *env = getenv("BURROW_TEST_ROUNDS");
    if (env == NULL || *env == '\0') return 0;
    return (unsigned)strtoul(env, NULL, 0);
}

unsigned tu_rounds(unsigned quick, unsigned long_rounds)
{
    unsigned o = tu_rounds_override();
    if (o != 0) return o;
    return tu_long() ? long_rounds : quick;
}

void tu_rng_seed(tu_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        x = tu_mix(x + (uint64_t)i);
        r->s[i] = x;
    }
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t tu_rand(tu_rng *r)
{
    /* xoshiro256** */
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t tu_below(tu_rng *r, uint64_t n) { return n == 0 ? 0 : tu_rand(r) % n; }

uint64_t tu_range(tu_rng *r, uint64_t lo, uint64_t hi) { return lo + tu_below(r, hi - lo + 1); }

int tu_chance(tu_rng *r, unsigned num, unsigned den) { return tu_below(r, den) < num; }

void tu_fill(tu_rng *r, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len >= 8) {
        uint64_t v = tu_rand(r);
        memcpy(p, &v, 8);
        p += 8;
        len -= 8;
    }
    if (len > 0) {
        uint64_t v = tu_rand(r);
        memcpy(p, &v, len);
    }
}

char *tu_tmpdir(const char *prefix)
{
    return os_make_temp_dir(prefix != NULL ? prefix : "burrow-test");
}

char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p != NULL) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

int tu_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0) return errno == ENOENT ? 0 : -errno;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d == NULL) return -errno;
        struct dirent *e;
        int rc = 0;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char *child = tu_path(path, e->d_name);
            if (child == NULL) {
                rc = -ENOMEM;
                break;
            }
            int r = tu_rmtree(child);
            if (r < 0 && rc == 0) rc = r;
            free(child);
        }
        closedir(d);
        if (rmdir(path) < 0 && rc == 0) rc = -errno;
        return rc;
    }
    return unlink(path) < 0 ? -errno : 0;
}

uint64_t tu_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}
