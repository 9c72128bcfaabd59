/*
 * test_page.c — white-box unit tests of the page and freelist encodings:
 * slotted pages, cells, verification of damaged pages, varints, the extent
 * treap (first fit, coalescing, double free), pending groups, and the
 * freelist encoding round trip on random models (seed printed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"
#include "testutil.h"

#define P 512

static void leaf_with(uint8_t *p, int n, int vlen)
{
    page_init(p, P, 7, 3, PAGE_LEAF);
    uint8_t cell[600], val[300];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < n; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "key%03d", i);
        size_t len = leaf_cell_build(cell, k, (size_t)kl, val, (uint64_t)vlen, NULL);
        assert_true(page_insert(p, P, (unsigned)i, cell, len));
    }
}

static void test_varint(void **state)
{
    (void)state;
    uint64_t vals[] = {0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 62, UINT64_MAX};
    uint8_t buf[16];
    for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
        size_t n = varint_put(buf, vals[i]);
        assert_int_equal(n, varint_size(vals[i]));
        uint64_t out = 0;
        assert_int_equal(varint_get(buf, buf + n, &out), n);
        assert_true(out == vals[i]);
        /* truncated input is refused, never read past the end */
        if (n > 1) assert_int_equal(varint_get(buf, buf + n - 1, &out), 0);
    }
    memset(buf, 0xff, sizeof buf); /* 16 continuation bytes: too long */
    uint64_t out;
    assert_int_equal(varint_get(buf, buf + sizeof buf, &out), 0);
}

static void test_cells_roundtrip(void **state)
{
    (void)state;
    uint8_t p[P];
    leaf_with(p, 5, 20);
    assert_int_equal(page_nkeys(p), 5);
    for (unsigned i = 0; i < 5; i++) {
        lcell c;
        leaf_cell_at(p, i, &c);
        char k[16];
        snprintf(k, sizeof k, "key%03u", i);
        assert_int_equal(c.klen, 6);
        assert_memory_equal(c.key, k, 6);
        assert_int_equal(c.vlen, 20);
        assert_false(c.overflow);
        assert_int_equal(c.size, 1 + 6 + 1 + 20); /* klen|flag, key, vlen, value */
    }
    /* branch cells: cell 0 has no key */
    uint8_t b[P], cell[64];
    page_init(b, P, 9, 3, PAGE_BRANCH);
    size_t len = branch_cell_build(cell, NULL, 0, 100, 2);
    assert_true(page_insert(b, P, 0, cell, len));
    len = branch_cell_build(cell, "m", 1, 200, 3);
    assert_true(page_insert(b, P, 1, cell, len));
    bcell bc;
    branch_cell_at(b, 1, &bc);
    assert_int_equal(bc.child, 200);
    assert_int_equal(bc.child_txnid, 3);
    branch_set_child(b, 1, 201, 4);
    branch_cell_at(b, 1, &bc);
    assert_int_equal(bc.child, 201);
    assert_int_equal(bc.child_txnid, 4);
    page_set_checksum(b, P);
    assert_int_equal(page_verify(b, P, 9), 0);
}

static void test_room_and_compaction(void **state)
{
    (void)state;
    uint8_t p[P], scratch[P];
    leaf_with(p, 10, 20);
    size_t room = page_room(p);
    assert_int_equal(page_used(p, P) + room, P - PAGE_HDR);
    /* removing from the middle leaves a fragment that still counts as room */
    size_t sz = cell_size_at(p, 4);
    page_remove(p, 4);
    assert_int_equal(page_room(p), room + sz + 2);
    assert_int_equal(page_frag(p), sz);
    /* fill until full: the last inserts need compaction to fit */
    uint8_t cell[600], val[300] = {0};
    int added = 0;
    for (;;) {
        char k[16];
        int kl = snprintf(k, sizeof k, "zz%03d", added);
        size_t len = leaf_cell_build(cell, k, (size_t)kl, val, 20, NULL);
        if (!page_insert(p, P, page_nkeys(p), cell, len)) break;
        added++;
    }
    assert_true(page_room(p) < 1 + 5 + 1 + 20 + 2);
    page_compact(p, P, scratch);
    assert_int_equal(page_frag(p), 0);
    page_set_checksum(p, P);
    assert_int_equal(page_verify(p, P, 7), 0);
}

static void test_verify_rejects_damage(void **state)
{
    (void)state;
    uint8_t good[P], p[P];
    leaf_with(good, 6, 30);
    page_set_checksum(good, P);
    assert_int_equal(page_verify(good, P, 7), 0);

    /* any flipped bit: checksum */
    for (int i = 8; i < P; i += 37) {
        memcpy(p, good, P);
        p[i] ^= 0x10;
        assert_int_equal(page_verify(p, P, 7), BURROW_ECORRUPT);
    }
    /* a page read at the wrong place */
    assert_int_equal(page_verify(good, P, 8), BURROW_ECORRUPT);
    assert_non_null(strstr(burrow_errmsg(), "misplaced"));

    /* structural damage with a recomputed checksum: verify must still refuse */
    memcpy(p, good, P);
    le16_store(p + PAGE_HDR, P - 1); /* slot points at the last byte */
    page_set_checksum(p, P);
    assert_int_equal(page_verify(p, P, 7), BURROW_ECORRUPT);

    memcpy(p, good, P);
    le16_store(p + PH_NKEYS, 250); /* slot array past the cells */
    page_set_checksum(p, P);
    assert_int_equal(page_verify(p, P, 7), BURROW_ECORRUPT);

    memcpy(p, good, P);
    p[PH_KIND] = 9;
    page_set_checksum(p, P);
    assert_int_equal(page_verify(p, P, 7), BURROW_ECORRUPT);

    memcpy(p, good, P); /* keys out of order: swap two slots */
    uint16_t a = le16_load(p + PAGE_HDR), b = le16_load(p + PAGE_HDR + 2);
    le16_store(p + PAGE_HDR, b);
    le16_store(p + PAGE_HDR + 2, a);
    page_set_checksum(p, P);
    assert_int_equal(page_verify(p, P, 7), BURROW_ECORRUPT);

    memcpy(p, good, P); /* two slots at one cell: cells overlap */
    le16_store(p + PAGE_HDR + 2, le16_load(p + PAGE_HDR));
    page_set_checksum(p, P);
    assert_int_equal(page_verify(p, P, 7), BURROW_ECORRUPT);

    memcpy(p, good, P); /* a value length running off the page */
    unsigned off = page_slot(p, 5);
    p[off + 1 + 6] = 0x7f; /* klen|flag, 6 key bytes, then vlen */
    page_set_checksum(p, P);
    assert_int_equal(page_verify(p, P, 7), BURROW_ECORRUPT);

    /* a branch whose first cell has a key */
    uint8_t cell[64];
    page_init(p, P, 7, 3, PAGE_BRANCH);
    size_t len = branch_cell_build(cell, "x", 1, 100, 2);
    page_insert(p, P, 0, cell, len);
    page_set_checksum(p, P);
    assert_int_equal(page_verify(p, P, 7), BURROW_ECORRUPT);
}

static void test_key_cmp(void **state)
{
    (void)state;
    assert_true(key_cmp("a", 1, "b", 1) < 0);
    assert_true(key_cmp("ab", 2, "a", 1) > 0);
    assert_true(key_cmp("", 0, "a", 1) < 0);
    assert_int_equal(key_cmp("", 0, "", 0), 0);
    assert_true(key_cmp("\xff", 1, "\x01", 1) > 0); /* bytes compare unsigned */
}

/* ---- freelist ---------------------------------------------------------- */

static void test_freelist_first_fit_and_merge(void **state)
{
    (void)state;
    freelist fl;
    fl_init(&fl);
    pgno_t pg;
    assert_int_equal(fl_alloc(&fl, 1, &pg), BURROW_ENOTFOUND);
    assert_int_equal(fl_free(&fl, 10, 2), 0);  /* [10,12) */
    assert_int_equal(fl_free(&fl, 20, 5), 0);  /* [20,25) */
    assert_int_equal(fl_free(&fl, 40, 1), 0);  /* [40,41) */
    assert_int_equal(fl.nextents, 3);
    assert_int_equal(fl.free_pages, 8);
    assert_int_equal(fl_alloc(&fl, 3, &pg), 0); /* lowest run of >= 3 */
    assert_int_equal(pg, 20);
    assert_int_equal(fl_alloc(&fl, 1, &pg), 0); /* lowest of all */
    assert_int_equal(pg, 10);
    assert_int_equal(fl_alloc(&fl, 5, &pg), BURROW_ENOTFOUND);
    /* freeing the gaps merges neighbours on both sides */
    assert_int_equal(fl_free(&fl, 10, 1), 0);   /* [10,12) again */
    assert_int_equal(fl_free(&fl, 12, 8), 0);   /* [10,20): joins [10,12) */
    assert_int_equal(fl.nextents, 3);
    assert_int_equal(fl_free(&fl, 20, 3), 0);   /* joins [10,20) and [23,25) */
    assert_int_equal(fl.nextents, 2);           /* [10,25) and [40,41) */
    assert_int_equal(fl_alloc(&fl, 15, &pg), 0);
    assert_int_equal(pg, 10);
    /* double free is detected, not absorbed */
    assert_int_equal(fl_free(&fl, 40, 1), BURROW_ECORRUPT);
    assert_int_equal(fl_free(&fl, 39, 3), BURROW_ECORRUPT);
    /* the tail extent can be taken to shrink the file */
    extent e;
    assert_false(fl_take_tail(&fl, 50, &e));
    assert_true(fl_take_tail(&fl, 41, &e));
    assert_int_equal(e.start, 40);
    assert_int_equal(fl.free_pages, 0);
    fl_destroy(&fl);
}

static void test_freelist_pending_groups(void **state)
{
    (void)state;
    freelist fl;
    fl_init(&fl);
    assert_int_equal(fl_defer(&fl, 5, 100, 1), 0);
    assert_int_equal(fl_defer(&fl, 5, 101, 1), 0); /* merges into [100,102) */
    assert_int_equal(fl_defer(&fl, 7, 200, 3), 0);
    assert_int_equal(fl.ngroups, 2);
    assert_int_equal(fl.groups[0].n, 1);
    assert_int_equal(fl.pending_pages, 5);
    assert_int_equal(fl_defer(&fl, 6, 300, 1), BURROW_ECORRUPT); /* out of order */
    assert_int_equal(fl_release(&fl, 4), 0);
    assert_int_equal(fl.free_pages, 0);
    assert_int_equal(fl_release(&fl, 6), 0); /* releases txn 5 only */
    assert_int_equal(fl.free_pages, 2);
    assert_int_equal(fl.ngroups, 1);
    assert_int_equal(fl_release(&fl, 100), 0);
    assert_int_equal(fl.free_pages, 5);
    assert_int_equal(fl.pending_pages, 0);
    fl_destroy(&fl);
}

struct collect {
    extent v[4096];
    int pend[4096];
    size_t n;
};

static int collect_fn(void *ctx, pgno_t start, uint64_t n, int pending)
{
    struct collect *c = ctx;
    c->v[c->n] = (extent){start, n};
    c->pend[c->n++] = pending;
    return 0;
}

static void test_freelist_encoding_random(void **state)
{
    (void)state;
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed());
    for (int round = 0; round < 200; round++) {
        freelist fl, back;
        fl_init(&fl);
        uint8_t used[3000] = {0};
        uint64_t npages = 3000;
        int ops = (int)(tu_rand(&rng) % 300);
        uint64_t txn = 1;
        for (int i = 0; i < ops; i++) {
            pgno_t s = 2 + tu_rand(&rng) % (npages - 40);
            uint64_t n = 1 + tu_rand(&rng) % 30;
            bool clash = false;
            for (uint64_t j = s; j < s + n; j++) clash |= used[j];
            if (clash) continue;
            for (uint64_t j = s; j < s + n; j++) used[j] = 1;
            if (tu_rand(&rng) % 3 == 0) {
                txn += tu_rand(&rng) % 2;
                assert_int_equal(fl_defer(&fl, txn, s, n), 0);
            } else {
                assert_int_equal(fl_free(&fl, s, n), 0);
            }
        }
        uint8_t *buf = malloc(fl_encoded_bound(&fl));
        size_t len = fl_encode(&fl, buf);
        assert_true(len <= fl_encoded_bound(&fl));
        assert_int_equal(fl_decode(&back, buf, len, npages), 0);
        static struct collect a, b;
        a.n = b.n = 0;
        fl_walk(&fl, collect_fn, &a);
        fl_walk(&back, collect_fn, &b);
        assert_int_equal(a.n, b.n);
        assert_memory_equal(a.v, b.v, a.n * sizeof *a.v);
        assert_memory_equal(a.pend, b.pend, a.n * sizeof *a.pend);
        assert_int_equal(fl.free_pages, back.free_pages);
        assert_int_equal(fl.pending_pages, back.pending_pages);
        /* a smaller file cannot hold these extents; truncated input fails */
        freelist bad;
        if (len > 2) {
            assert_int_equal(fl_decode(&bad, buf, len - 1, npages), BURROW_ECORRUPT);
            assert_int_equal(fl_decode(&bad, buf, len, 10), fl.nextents || fl.ngroups ? BURROW_ECORRUPT : 0);
            fl_destroy(&bad);
        }
        /* random bytes never crash the decoder */
        for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)tu_rand(&rng);
        if (fl_decode(&bad, buf, len, npages) == 0) fl_destroy(&bad);
        free(buf);
        fl_destroy(&fl);
        fl_destroy(&back);
    }
}

/* The extent treap against a bitmap: after every free and alloc the pool
 * holds exactly the maximal runs of free pages, and an allocation of n
 * pages gets the lowest run that is long enough (first fit). */
static void test_freelist_against_bitmap(void **state)
{
    (void)state;
    enum { NP = 1500 };
    tu_rng rng;
    tu_rng_seed(&rng, tu_seed() ^ 0xf1);
    for (int round = 0; round < 20; round++) {
        freelist fl;
        fl_init(&fl);
        static uint8_t isfree[NP];
        memset(isfree, 0, sizeof isfree);
        uint64_t nfree = 0;
        for (int op = 0; op < 3000; op++) {
            if (tu_rand(&rng) % 2) {
                pgno_t s = 2 + tu_below(&rng, NP - 40);
                uint64_t n = 1 + tu_below(&rng, 1 + tu_below(&rng, 30));
                bool clash = false;
                for (uint64_t j = s; j < s + n; j++) clash |= isfree[j];
                if (clash) {
                    assert_int_equal(fl_free(&fl, s, n), BURROW_ECORRUPT); /* double free */
                    continue;
                }
                assert_int_equal(fl_free(&fl, s, n), 0);
                for (uint64_t j = s; j < s + n; j++) isfree[j] = 1;
                nfree += n;
            } else {
                uint64_t n = 1 + tu_below(&rng, 1 + tu_below(&rng, 12));
                pgno_t want = 0;
                for (pgno_t j = 0; j < NP && !want;) {
                    if (!isfree[j]) { j++; continue; }
                    pgno_t e = j;
                    while (e < NP && isfree[e]) e++;
                    if (e - j >= n) want = j;
                    j = e;
                }
                pgno_t got;
                int rc = fl_alloc(&fl, n, &got);
                if (!want) {
                    assert_int_equal(rc, BURROW_ENOTFOUND);
                    continue;
                }
                assert_int_equal(rc, 0);
                assert_int_equal(got, want);
                for (uint64_t j = got; j < got + n; j++) isfree[j] = 0;
                nfree -= n;
            }
            assert_int_equal(fl.free_pages, nfree);
            static struct collect c;
            c.n = 0;
            fl_walk(&fl, collect_fn, &c);
            size_t k = 0;
            for (pgno_t j = 0; j < NP;) {
                if (!isfree[j]) { j++; continue; }
                pgno_t e = j;
                while (e < NP && isfree[e]) e++;
                assert_true(k < c.n);
                assert_int_equal(c.v[k].start, j);
                assert_int_equal(c.v[k].len, e - j);
                k++;
                j = e;
            }
            assert_int_equal(k, c.n);
            assert_int_equal(fl.nextents, c.n);
        }
        fl_destroy(&fl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_cells_roundtrip),
        cmocka_unit_test(test_room_and_compaction),
        cmocka_unit_test(test_verify_rejects_damage),
        cmocka_unit_test(test_key_cmp),
        cmocka_unit_test(test_freelist_first_fit_and_merge),
        cmocka_unit_test(test_freelist_pending_groups),
        cmocka_unit_test(test_freelist_encoding_random),
        cmocka_unit_test(test_freelist_against_bitmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
