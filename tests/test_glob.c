/*
 * test_glob.c — Redis's glob patterns (src/server/glob.c):
 *
 *  - a table of patterns and subjects with Redis's answers (KEYS, SCAN
 *    MATCH, PSUBSCRIBE all use them): stars, ?, classes, negation, ranges
 *    both ways, escapes, open classes, [] and [^], nocase, binary bytes,
 *    and Redis's "an empty subject matches only the empty pattern";
 *  - hostile patterns ("a*a*a*...b" against long runs of a's, thousands of
 *    stars) finish, with the right answer;
 *  - a randomised differential test against a plain recursive matcher
 *    written here (exponential, so kept to short inputs) over an alphabet
 *    dense in special characters, both with and without nocase;
 *  - glob_literal and its prefix.
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

#include "server/glob.h"
#include "testutil.h"

struct glob_case {
    const char *pat;
    const char *subj;
    bool nocase;
    bool want;
};

static bool m(const char *pat, const char *subj, bool nocase)
{
    return glob_match(pat, strlen(pat), subj, strlen(subj), nocase);
}

static void test_table(void **state)
{
    (void)state;
    static const struct glob_case cases[] = {
        /* stars */
        {"*", "anything", false, true},
        {"*", "x", false, true},
        {"**", "x", false, true},
        {"*", "", false, false}, /* Redis: an empty subject matches only "" */
        {"", "", false, true},
        {"", "a", false, false},
        {"a*", "a", false, true},
        {"a*", "abc", false, true},
        {"*a", "a", false, true},
        {"*a", "ba", false, true},
        {"*a", "ab", false, false},
        {"a*b", "ab", false, true},
        {"a*b", "axxb", false, true},
        {"a*b", "axxbc", false, false},
        {"a*b*c", "abbbc", false, true},
        {"a*b*c", "acb", false, false},
        {"user:*:name", "user:42:name", false, true},
        {"user:*:name", "user:42:names", false, false},
        {"*.png", "cdn/logo.png", false, true},
        {"a**b", "ab", false, true},
        {"a*", "", false, false},
        /* ? */
        {"h?llo", "hello", false, true},
        {"h?llo", "hallo", false, true},
        {"h?llo", "hllo", false, false},
        {"???", "abc", false, true},
        {"???", "ab", false, false},
        {"?*", "a", false, true},
        /* classes */
        {"h[ae]llo", "hello", false, true},
        {"h[ae]llo", "hallo", false, true},
        {"h[ae]llo", "hillo", false, false},
        {"h[^e]llo", "hallo", false, true},
        {"h[^e]llo", "hello", false, false},
        {"h[a-b]llo", "hbllo", false, true},
        {"h[a-b]llo", "hcllo", false, false},
        {"h[b-a]llo", "hallo", false, true}, /* a range in either order */
        {"[0-9][0-9]", "42", false, true},
        {"[0-9][0-9]", "4x", false, false},
        {"[a-cx-z]", "y", false, true},
        {"[a-cx-z]", "m", false, false},
        {"[^a-c]", "d", false, true},
        {"[^a-c]", "b", false, false},
        {"[\\]]", "]", false, true},
        {"[\\-]", "-", false, true},
        {"[a\\-z]", "b", false, false}, /* the escaped - is not a range */
        {"[a\\-z]", "z", false, true},
        {"[]", "]", false, false},  /* ] closes at once: an empty class */
        {"[]", "a", false, false},
        {"[^]", "a", false, true},
        {"[]a]", "]", false, false}, /* [] then a literal "a]" */
        {"[]a]", "a]", false, false},
        {"[ab", "a", false, true},   /* an open class ends with the pattern */
        {"[ab", "c", false, false},
        {"[", "[", false, false},
        {"[^", "x", false, true},
        {"[a-]", "_", false, true},  /* "a-]" is the range ] to a */
        {"[a-]", "b", false, false},
        {"[-a]", "-", false, true},
        {"[a-", "-", false, true},   /* too short for a range: a and - */
        {"x[*]", "x*", false, true},
        {"x[?]", "xa", false, false},
        /* escapes */
        {"h\\*llo", "h*llo", false, true},
        {"h\\*llo", "hello", false, false},
        {"\\?", "?", false, true},
        {"\\?", "a", false, false},
        {"\\a", "a", false, true},
        {"\\\\", "\\", false, true},
        {"\\", "\\", false, true}, /* a lone \ at the end is itself */
        {"a\\", "a\\", false, true},
        {"\\[a]", "[a]", false, true},
        /* nocase */
        {"HELLO", "hello", true, true},
        {"HELLO", "hello", false, false},
        {"h*O", "HELLO", true, true},
        {"[A-Z]", "q", true, true},
        {"[A-Z]", "q", false, false},
        {"[abc]", "B", true, true},
        {"[^abc]", "B", true, false},
        {"[Z-a]", "_", false, true}, /* 'Z'..'a' holds [ \ ] ^ _ ` */
        {"[Z-a]", "_", true, false}, /* folded ends: 'z'..'a' holds nothing */
        {"[\\A]", "a", true, false}, /* an escaped byte in a class: exact */
        {"[\\A]", "A", true, true},
        {"\\A", "a", true, true},    /* an escaped byte outside: folds */
        {"?", "\xff", false, true},
        {"[\x80-\xff]", "\xe9", false, true}, /* bytes compare unsigned */
        {"[\x80-\xff]", "e", false, false},
        {"caf\xc3\xa9*", "caf\xc3\xa9 au lait", false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = m(cases[i].pat, cases[i].subj, cases[i].nocase);
        if (got != cases[i].want)
            fail_msg("glob_match(\"%s\", \"%s\", nocase=%d) = %d, want %d", cases[i].pat,
                     cases[i].subj, cases[i].nocase, got, cases[i].want);
    }

    /* NUL bytes are ordinary bytes on both sides. */
    assert_true(glob_match("a\0*", 3, "a\0bc", 4, false));
    assert_false(glob_match("a\0*", 3, "a\1bc", 4, false));
    assert_true(glob_match("?", 1, "\0", 1, false));
    assert_true(glob_match("[\0]", 3, "\0", 1, false));
    /* the lengths bound both strings: no reading past them */
    assert_true(glob_match("abXX", 2, "abYY", 2, false));
    assert_false(glob_match("[ab]", 2, "b", 1, false)); /* "[a" is an open class of a */
    assert_true(glob_match("[ab]", 2, "a", 1, false));
}

static void test_hostile(void **state)
{
    (void)state;
    size_t n = 100000;
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, 'a', n);
    s[n] = '\0';
    /* Redis's own worst case: each star would retry every position. */
    assert_false(m("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", s, false));
    assert_true(m("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*", s, false));
    assert_false(m("*a*a*a*a*a*a*a*a*a*a*a*a*?b", s, false));
    assert_false(glob_match("*[^a]*", 6, s, n, false));
    s[n - 1] = 'b';
    assert_true(m("a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", s, false));
    assert_true(glob_match("*[^a]", 5, s, n, false));

    /* Thousands of stars (Redis gives up past 1000 nested stars and says
     * no; here the answer is the true one) and no deep recursion. */
    size_t stars = 5000;
    char *pat = malloc(2 * stars + 2);
    assert_non_null(pat);
    for (size_t i = 0; i < stars; i++) {
        pat[2 * i] = '*';
        pat[2 * i + 1] = 'a';
    }
    pat[2 * stars] = '*';
    s[n - 1] = 'a';
    assert_true(glob_match(pat, 2 * stars + 1, s, n, false));
    assert_false(glob_match(pat, 2 * stars + 1, s, stars - 1, false));
    assert_true(glob_match(pat, 2 * stars + 1, s, stars, false));
    free(pat);
    free(s);
}

/* ---- the reference matcher -------------------------------------------------------------- */

/* The set of bytes the token at pat[i] (not '*') stands for; returns the
 * index after the token. Written from the rules in glob.h and glob.c's
 * header, as a class-to-set compiler rather than a byte test. */
static size_t ref_token(const char *pat, size_t plen, size_t i, bool nocase, bool set[256])
{
    memset(set, 0, 256 * sizeof set[0]);
    unsigned char c = (unsigned char)pat[i];
    if (c == '?') {
        for (int b = 0; b < 256; b++)
            set[b] = true;
        return i + 1;
    }
    if (c == '\\' || c != '[') {
        if (c == '\\' && i + 1 < plen)
            c = (unsigned char)pat[++i];
        set[c] = true;
        if (nocase && c >= 'a' && c <= 'z')
            set[c - 32] = true;
        if (nocase && c >= 'A' && c <= 'Z')
            set[c + 32] = true;
        return i + 1;
    }
    i++;
    bool neg = i < plen && pat[i] == '^';
    if (neg)
        i++;
    while (i < plen && pat[i] != ']') {
        unsigned char a = (unsigned char)pat[i];
        if (a == '\\' && i + 1 < plen) {
            set[(unsigned char)pat[i + 1]] = true; /* exact, even with nocase */
            i += 2;
        } else if (i + 2 < plen && pat[i + 1] == '-') {
            unsigned lo = a, hi = (unsigned char)pat[i + 2];
            if (lo > hi) {
                unsigned t = lo;
                lo = hi;
                hi = t;
            }
            if (nocase) {
                if (lo >= 'A' && lo <= 'Z')
                    lo += 32;
                if (hi >= 'A' && hi <= 'Z')
                    hi += 32;
            }
            for (unsigned b = 0; b < 256; b++) {
                unsigned f = nocase && b >= 'A' && b <= 'Z' ? b + 32 : b;
                if (f >= lo && f <= hi)
                    set[b] = true;
            }
            i += 3;
        } else {
            set[a] = true;
            if (nocase && a >= 'a' && a <= 'z')
                set[a - 32] = true;
            if (nocase && a >= 'A' && a <= 'Z')
                set[a + 32] = true;
            i++;
        }
    }
    if (i < plen)
        i++; /* the ] */
    if (neg)
        for (int b = 0; b < 256; b++)
            set[b] = !set[b];
    return i;
}

/* Plain backtracking: a star takes nothing, or one byte and stays. */
static bool ref_rest(const char *pat, size_t plen, size_t pi, const char *s, size_t slen,
                     size_t si, bool nocase)
{
    if (pi == plen)
        return si == slen;
    if (pat[pi] == '*')
        return ref_rest(pat, plen, pi + 1, s, slen, si, nocase) ||
               (si < slen && ref_rest(pat, plen, pi, s, slen, si + 1, nocase));
    if (si == slen)
        return false;
    bool set[256];
    size_t next = ref_token(pat, plen, pi, nocase, set);
    return set[(unsigned char)s[si]] && ref_rest(pat, plen, next, s, slen, si + 1, nocase);
}

static bool ref_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase)
{
    if (slen == 0)
        return plen == 0; /* Redis's loop never starts on an empty subject */
    return ref_rest(pat, plen, 0, s, slen, 0, nocase);
}

static void test_differential(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    tu_rng rng;
    tu_rng_seed(&rng, seed ^ 0x676c6f62ull);
    static const char pat_alpha[] = "abAB*?[]^-\\z\0";
    static const char subj_alpha[] = "abAB]-^\\*z\0";
    unsigned rounds = tu_rounds_override() ? tu_rounds_override() : tu_rounds(200000, 5000000);
    unsigned matched = 0;
    for (unsigned r = 0; r < rounds; r++) {
        char pat[10], s[10];
        size_t plen = (size_t)tu_below(&rng, 10), slen = (size_t)tu_below(&rng, 9);
        for (size_t i = 0; i < plen; i++)
            pat[i] = pat_alpha[tu_below(&rng, sizeof pat_alpha - 1)];
        for (size_t i = 0; i < slen; i++)
            s[i] = subj_alpha[tu_below(&rng, sizeof subj_alpha - 1)];
        bool nocase = tu_chance(&rng, 1, 2);
        bool want = ref_match(pat, plen, s, slen, nocase);
        bool got = glob_match(pat, plen, s, slen, nocase);
        if (got != want)
            fail_msg("round %u: glob_match(\"%.*s\", \"%.*s\", nocase=%d) = %d, reference %d", r,
                     (int)plen, pat, (int)slen, s, nocase, got, want);
        matched += want;
    }
    /* the inputs exercised both answers */
    assert_true(matched > rounds / 50);
    assert_true(matched < rounds - rounds / 50);
}

static void test_literal(void **state)
{
    (void)state;
    size_t pre = 99;
    assert_true(glob_literal("user:42", 7, &pre));
    assert_int_equal(pre, 7);
    assert_true(glob_literal("", 0, &pre));
    assert_int_equal(pre, 0);
    assert_true(glob_literal("a]b^c-", 6, &pre)); /* not special outside a class */
    assert_int_equal(pre, 6);
    assert_false(glob_literal("user:*", 6, &pre));
    assert_int_equal(pre, 5);
    assert_false(glob_literal("ab?", 3, &pre));
    assert_int_equal(pre, 2);
    assert_false(glob_literal("[ab]", 4, &pre));
    assert_int_equal(pre, 0);
    assert_false(glob_literal("a\\*", 3, &pre));
    assert_int_equal(pre, 1);
    assert_true(glob_literal("a\0*", 2, &pre)); /* the length bounds it */
    assert_int_equal(pre, 2);

    /* What glob_literal promises: a literal pattern matches itself and
     * nothing else; any subject it matches starts with the prefix. */
    static const char *pats[] = {"user:42", "a]b", "k*", "ab?c", "x[yz]", "q\\*"};
    static const char *subjs[] = {"user:42", "user:4", "a]b", "k", "kkk", "abxc", "xz", "q*", "zz"};
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++) {
        bool lit = glob_literal(pats[i], strlen(pats[i]), &pre);
        for (size_t j = 0; j < sizeof subjs / sizeof subjs[0]; j++) {
            if (!m(pats[i], subjs[j], false))
                continue;
            assert_true(strncmp(subjs[j], pats[i], pre) == 0);
            if (lit)
                assert_string_equal(subjs[j], pats[i]);
        }
    }
}

int main(int argc, char **argv)
{
    tu_init(argc, argv);
    if (getenv("BURROW_TEST_FILTER"))
        cmocka_set_test_filter(getenv("BURROW_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_literal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
