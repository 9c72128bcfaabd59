/*
 * test_check.c — the full integrity check (burrow_check_all) on planted
 * damage. A database of three buckets with overflow values and free pages
 * (512-byte pages, so hundreds of them) is built once; each test damages a
 * copy of it in one precise way, re-sealing checksums where the damage is
 * meant to be something else than a bad checksum, and asserts that the
 * check reports that problem with the right page number and the right
 * words, without crashing:
 *
 *  - a flipped checksum byte in a leaf (exactly one problem), and in an
 *    overflow run;
 *  - two keys swapped in a leaf (exactly one problem: "keys out of order at
 *    slot 3");
 *  - a page referenced from two trees ("used twice");
 *  - a leaked page (exactly one problem);
 *  - a freelist entry that points at a live page;
 *  - a branch whose child is itself (a cycle: reported, not followed);
 *  - two unrelated faults at once: both reported;
 *  - random bytes in random pages of a copy, checksums re-sealed or not:
 *    the check returns a count (or opening fails cleanly), never crashes,
 *    and burrow_check agrees with it. Prints its seed.
 * Page numbers come from burrow_dump's output of the intact file.
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

#include "base/endian.h"
#include "base/hash.h"
#include "burrow.h"
#include "testutil.h"

#define OK(x)                                                                                      \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_ != 0)                                                                              \
            fail_msg("%s:%d: %s -> %d %s (%s)", __FILE__, __LINE__, #x, rc_, burrow_strerror(rc_), \
                     burrow_errmsg());                                                             \
    } while (0)

#define P 512u

static char *dir, *base_path;
static uint8_t *base_img;
static size_t base_len;

/* ---- building the intact file ------------------------------------------------------- */

static void put(burrow_txn *t, burrow_bucket b, unsigned i, size_t vl)
{
    char key[32];
    uint8_t val[2000];
    snprintf(key, sizeof key, "k%05u", i);
    for (size_t j = 0; j < vl; j++) val[j] = (uint8_t)(i * 7 + j);
    OK(burrow_put(t, b, key, strlen(key), val, vl, 0));
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)len);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return p;
}

static void spill(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    dir = tu_tmpdir("burrow-check");
    if (!dir) return -1;
    base_path = tu_path(dir, "base.db");
    burrow_options o;
    burrow_options_init(&o);
    o.page_size = P;
    o.sync_mode = BURROW_SYNC_NONE;
    burrow_db *db;
    if (burrow_open(base_path, &o, &db)) return -1;
    const char *names[] = {"alpha", "beta", "gamma"};
    for (int round = 0; round < 3; round++) {
        burrow_txn *t;
        if (burrow_txn_begin(db, NULL, 0, &t)) return -1;
        for (int b = 0; b < 3; b++) {
            burrow_bucket h;
            if (burrow_bucket_open(t, names[b], BURROW_CREATE, &h)) return -1;
            for (unsigned i = 0; i < 400; i++)
                if (round < 2) {
                    put(t, h, i, i % 37 == 0 ? 700 + i : 20 + i % 50);
                } else if (i % 3 == 0) { /* deletes leave free pages */
                    char key[32];
                    snprintf(key, sizeof key, "k%05u", i);
                    if (burrow_del(t, h, key, strlen(key))) return -1;
                }
        }
        if (burrow_txn_commit(t)) return -1;
    }
    if (burrow_close(db)) return -1;
    base_img = slurp(base_path, &base_len);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmtree(dir);
    free(dir);
    free(base_path);
    free(base_img);
    return 0;
}

/* ---- finding pages ---------------------------------------------------------------------- */

typedef struct tree {
    uint64_t root;
    uint64_t branch[256], leaf[1024], run[256];
    size_t nbranch, nleaf, nrun;
} tree;

/* The pages of a bucket's tree in the intact file, from burrow_dump. */
static void tree_of(const char *bucket, tree *tr)
{
    memset(tr, 0, sizeof *tr);
    burrow_options o;
    burrow_options_init(&o);
    o.flags = BURROW_RDONLY;
    burrow_db *db;
    OK(burrow_open(base_path, &o, &db));
    burrow_txn *t;
    OK(burrow_txn_begin(db, NULL, BURROW_TXN_RDONLY, &t));
    burrow_bucket b;
    OK(burrow_bucket_open(t, bucket, 0, &b));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    OK(burrow_dump(t, b, f));
    fclose(f);
    burrow_txn_abort(t);
    OK(burrow_close(db));
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        unsigned long long pg, n;
        char kind[16];
        const char *ov = strstr(line, "in overflow pages ");
        if (ov && sscanf(ov, "in overflow pages %llu+%llu", &pg, &n) == 2) {
            tr->run[tr->nrun++] = pg;
        } else if (sscanf(line, " page %llu %15s", &pg, kind) == 2) {
            if (!tr->root) tr->root = pg;
            if (!strcmp(kind, "leaf")) tr->leaf[tr->nleaf++] = pg;
            else tr->branch[tr->nbranch++] = pg;
        }
    }
    free(text);
    assert_true(tr->root >= 2 && tr->nleaf > 0);
}

static uint8_t *page_at(uint8_t *img, uint64_t pg) { return img + pg * P; }

static void reseal(uint8_t *img, uint64_t pg)
{
    uint8_t *p = page_at(img, pg);
    le64_store(p, hash64(p + 8, P - 8, 0));
}

/* The meta slot holding the newest commit. */
static int newest_meta(const uint8_t *img)
{
    return le64_load(img + P + 48) > le64_load(img + 48) ? 1 : 0;
}

static void reseal_meta(uint8_t *img, int slot)
{
    uint8_t *p = img + (size_t)slot * P;
    le64_store(p, hash64(p + 8, 256 - 8, 0));
}

/* ---- running the check -------------------------------------------------------------------- */

typedef struct found {
    uint64_t pg[512];
    char msg[512][200];
    size_t n;
} found;

static void collect(void *ctx, uint64_t pg, const char *problem)
{
    found *f = ctx;
    char head[40];
    snprintf(head, sizeof head, "page %llu", (unsigned long long)pg);
    /* every sentence starts with its page */
    assert_int_equal(strncmp(problem, head, strlen(head)), 0);
    if (f->n < 512) {
        f->pg[f->n] = pg;
        snprintf(f->msg[f->n], sizeof f->msg[f->n], "%s", problem);
        f->n++;
    }
}

/* Write img to a copy, open it and check it; returns the problem count. */
static int check_image(const uint8_t *img, size_t len, found *f, burrow_check_stats *st)
{
    char *p = tu_path(dir, "copy.db");
    spill(p, img, len);
    burrow_options o;
    burrow_options_init(&o);
    o.flags = BURROW_RDONLY;
    burrow_db *db;
    OK(burrow_open(p, &o, &db));
    memset(f, 0, sizeof *f);
    burrow_check_options co = {collect, NULL, f};
    int n = burrow_check_all(db, &co, st);
    assert_true(n >= 0);
    assert_int_equal((size_t)n, f->n);
    /* the old entry point agrees, and names the first problem */
    int rc = burrow_check(db);
    if (n == 0) {
        assert_int_equal(rc, 0);
    } else {
        assert_int_equal(rc, BURROW_ECORRUPT);
        assert_int_equal(strncmp(burrow_errmsg(), f->msg[0], strlen(f->msg[0])), 0);
    }
    OK(burrow_close(db));
    free(p);
    return n;
}

static void print_found(const found *f)
{
    for (size_t i = 0; i < f->n; i++) print_message("  [%llu] %s\n", (unsigned long long)f->pg[i], f->msg[i]);
}

/* Some problem names page pg and says what. */
static void assert_found(const found *f, uint64_t pg, const char *what)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->pg[i] == pg && strstr(f->msg[i], what)) return;
    print_found(f);
    fail_msg("no problem at page %llu saying '%s'", (unsigned long long)pg, what);
}

static uint8_t *copy_base(void)
{
    uint8_t *img = malloc(base_len + P);
    assert_non_null(img);
    memcpy(img, base_img, base_len);
    return img;
}

/* ---- the tests ----------------------------------------------------------------------------- */

static void test_clean(void **state)
{
    (void)state;
    found f;
    burrow_check_stats st;
    assert_int_equal(check_image(base_img, base_len, &f, &st), 0);
    assert_int_equal(st.pages * P, base_len);
    assert_int_equal(st.buckets, 3);
    assert_true(st.overflow_pages > 0 && st.free_pages + st.pending_pages > 0 && st.freelist_pages > 0);
    assert_int_equal(st.pages, st.meta_pages + st.tree_pages + st.overflow_pages + st.freelist_pages +
                                   st.free_pages + st.pending_pages);
    assert_int_equal(st.leaked_pages, 0);
    /* 400 keys per bucket, a third deleted */
    assert_int_equal(st.keys, 3 * (400 - 134));
}

static void test_flipped_checksum(void **state)
{
    (void)state;
    tree a;
    tree_of("alpha", &a);
    uint64_t leaf = a.leaf[a.nleaf / 2];
    uint8_t *img = copy_base();
    page_at(img, leaf)[3] ^= 0x10; /* a byte of the checksum itself */
    found f;
    assert_int_equal(check_image(img, base_len, &f, NULL), 1);
    assert_found(&f, leaf, "checksum mismatch");

    /* a byte of an overflow run */
    memcpy(img, base_img, base_len);
    assert_true(a.nrun > 0);
    page_at(img, a.run[0])[100] ^= 0x01;
    assert_int_equal(check_image(img, base_len, &f, NULL), 1);
    assert_found(&f, a.run[0], "overflow run");
    free(img);
}

/* Swap slots i and j of a page (its cells stay where they are). */
static void swap_slots(uint8_t *p, unsigned i, unsigned j)
{
    uint16_t a = le16_load(p + 32 + 2 * i), b = le16_load(p + 32 + 2 * j);
    le16_store(p + 32 + 2 * i, b);
    le16_store(p + 32 + 2 * j, a);
}

static void test_swapped_keys(void **state)
{
    (void)state;
    tree b;
    tree_of("beta", &b);
    uint64_t leaf = b.leaf[b.nleaf - 1];
    uint8_t *img = copy_base();
    assert_true(le16_load(page_at(img, leaf) + 26) >= 4);
    swap_slots(page_at(img, leaf), 2, 3);
    reseal(img, leaf); /* only the order is wrong */
    found f;
    assert_int_equal(check_image(img, base_len, &f, NULL), 1);
    assert_found(&f, leaf, "keys out of order at slot 3");
    free(img);
}

/* The catalog's only page (three buckets fit one leaf) and the offset of
 * the bucket record named name in it. */
static size_t record_of(uint8_t *img, const char *name, uint64_t *catalog_page)
{
    int m = newest_meta(img);
    uint8_t *meta = img + (size_t)m * P;
    uint64_t root = le64_load(meta + 64);
    assert_int_equal(le32_load(meta + 64 + 24), 1); /* height 1: the root is the leaf */
    uint8_t *p = page_at(img, root);
    unsigned n = le16_load(p + 26);
    for (unsigned i = 0; i < n; i++) {
        uint8_t *c = p + le16_load(p + 32 + 2 * i);
        size_t klen = c[0] >> 1; /* short names: one-byte varints */
        if (klen == strlen(name) && !memcmp(c + 1, name, klen)) {
            assert_int_equal(c[1 + klen], 32);
            *catalog_page = root;
            return (size_t)(c + 2 + klen - img);
        }
    }
    fail_msg("bucket %s not in the catalog", name);
    return 0;
}

static void test_page_in_two_trees(void **state)
{
    (void)state;
    tree a;
    tree_of("alpha", &a);
    uint8_t *img = copy_base();
    uint64_t cat;
    size_t ra = record_of(img, "alpha", &cat), rb = record_of(img, "beta", &cat);
    memcpy(img + rb, img + ra, 32); /* beta's root is now alpha's */
    reseal(img, cat);
    found f;
    assert_true(check_image(img, base_len, &f, NULL) >= 2);
    assert_found(&f, a.root, "used twice");
    /* beta's own pages are used by nobody now */
    tree b;
    tree_of("beta", &b);
    bool leak = false;
    for (size_t i = 0; i < f.n; i++) leak |= strstr(f.msg[i], "leaked") != NULL;
    assert_true(leak);
    free(img);
}

static void test_leaked_page(void **state)
{
    (void)state;
    uint8_t *img = copy_base();
    int m = newest_meta(img);
    uint64_t npages = le64_load(img + (size_t)m * P + 56);
    assert_int_equal(npages * P, base_len);
    le64_store(img + (size_t)m * P + 56, npages + 1); /* one more page, used by nobody */
    reseal_meta(img, m);
    memset(img + base_len, 0, P);
    found f;
    burrow_check_stats st;
    assert_int_equal(check_image(img, base_len + P, &f, &st), 1);
    assert_found(&f, npages, "leaked");
    assert_int_equal(st.leaked_pages, 1);
    free(img);
}

static void test_freelist_points_at_live_page(void **state)
{
    (void)state;
    tree g;
    tree_of("gamma", &g);
    uint64_t live = g.leaf[0];
    uint8_t *img = copy_base();
    int m = newest_meta(img);
    uint8_t *meta = img + (size_t)m * P;
    uint64_t fl = le64_load(meta + 96);
    assert_true(fl >= 2);
    /* a freelist of one free extent: the live leaf */
    uint8_t *q = page_at(img, fl), *s = q;
    q += varint_put(q, 1);
    q += varint_put(q, live);
    q += varint_put(q, 1);
    q += varint_put(q, 0);
    le64_store(meta + 104, (uint64_t)(q - s));
    le64_store(meta + 112, hash64(s, (size_t)(q - s), 0));
    reseal_meta(img, m);
    found f;
    assert_true(check_image(img, base_len, &f, NULL) >= 1);
    assert_found(&f, live, "freelist");
    free(img);
}

static void test_cycle(void **state)
{
    (void)state;
    tree a;
    tree_of("alpha", &a);
    assert_true(a.nbranch > 0);
    uint64_t br = a.branch[0];
    uint8_t *img = copy_base();
    uint8_t *p = page_at(img, br);
    assert_true(le16_load(p + 26) >= 2);
    /* the child pointer of slot 1 goes back to the branch itself */
    uint8_t *c = p + le16_load(p + 32 + 2);
    size_t klen = c[0];
    assert_true(klen < 128);
    le64_store(c + 1 + klen, br);
    le64_store(c + 1 + klen + 8, le64_load(p + 16));
    reseal(img, br);
    found f;
    assert_true(check_image(img, base_len, &f, NULL) >= 1);
    assert_found(&f, br, "used twice");
    free(img);
}

static void test_two_faults(void **state)
{
    (void)state;
    tree a, g;
    tree_of("alpha", &a);
    tree_of("gamma", &g);
    uint8_t *img = copy_base();
    page_at(img, a.leaf[0])[5] ^= 0xff; /* a byte of the checksum */
    swap_slots(page_at(img, g.leaf[1]), 0, 1);
    reseal(img, g.leaf[1]);
    found f;
    assert_int_equal(check_image(img, base_len, &f, NULL), 2);
    assert_found(&f, a.leaf[0], "checksum mismatch");
    assert_found(&f, g.leaf[1], "keys out of order at slot 1");
    free(img);
}

static void test_random_corruption(void **state)
{
    (void)state;
    tu_rng r;
    tu_rng_seed(&r, tu_seed());
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(300, 5000);
    uint64_t npages = base_len / P;
    uint8_t *img = copy_base();
    char *p = tu_path(dir, "random.db");
    unsigned opened = 0, dirty = 0;
    for (unsigned round = 0; round < rounds; round++) {
        memcpy(img, base_img, base_len);
        unsigned hits = 1 + (unsigned)tu_below(&r, 4);
        for (unsigned h = 0; h < hits; h++) {
            /* metas now and then; mostly the rest */
            uint64_t pg = tu_chance(&r, 1, 20) ? tu_below(&r, 2) : 2 + tu_below(&r, npages - 2);
            size_t off = (size_t)tu_below(&r, P), len = 1 + (size_t)tu_below(&r, 16);
            if (off + len > P) len = P - off;
            tu_fill(&r, page_at(img, pg) + off, len);
            /* re-sealed half the time, so the damage gets past the checksum */
            if (pg >= 2 && tu_chance(&r, 1, 2)) reseal(img, pg);
            if (pg < 2 && tu_chance(&r, 1, 2)) reseal_meta(img, (int)pg);
        }
        spill(p, img, base_len);
        burrow_options o;
        burrow_options_init(&o);
        o.flags = BURROW_RDONLY;
        burrow_db *db;
        int rc = burrow_open(p, &o, &db);
        if (rc) {
            if (rc != BURROW_ECORRUPT && rc != BURROW_ENOTDB && rc != BURROW_EVERSION)
                fail_msg("round %u: open -> %d %s (%s)", round, rc, burrow_strerror(rc), burrow_errmsg());
            continue;
        }
        opened++;
        found f = {0};
        burrow_check_options co = {collect, NULL, &f};
        int n = burrow_check_all(db, &co, NULL);
        if (n < 0) fail_msg("round %u: check -> %d %s (%s)", round, n, burrow_strerror(n), burrow_errmsg());
        rc = burrow_check(db);
        assert_int_equal(rc == 0, n == 0);
        dirty += n > 0;
        OK(burrow_close(db));
    }
    print_message("%u rounds: %u opened, %u with problems found\n", rounds, opened, dirty);
    assert_true(dirty > 0);
    free(p);
    free(img);
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    if (getenv("BURROW_TEST_FILTER")) cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean),
        cmocka_unit_test(test_flipped_checksum),
        cmocka_unit_test(test_swapped_keys),
        cmocka_unit_test(test_page_in_two_trees),
        cmocka_unit_test(test_leaked_page),
        cmocka_unit_test(test_freelist_points_at_live_page),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_two_faults),
        cmocka_unit_test(test_random_corruption),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
