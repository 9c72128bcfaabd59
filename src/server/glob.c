/*
 * glob.c — Redis's glob patterns (contract in glob.h).
 *
 * The language is Redis's stringmatchlen, token by token:
 *
 *   *        any run of bytes; a run of stars is one star.
 *   ?        any one byte.
 *   [...]    one byte from a class. A leading ^ negates it. Inside, \x is
 *            the byte x; a-b is a range (either order); ] closes the class,
 *            so [] is an empty class that matches nothing (and [^] matches
 *            any byte); a class still open at the end of the pattern ends
 *            there ("[ab" is the class of a and b).
 *   \x       the byte x; a \ at the very end of the pattern is itself.
 *   x        the byte x.
 * With nocase, ASCII letters fold, also at both ends of a range (each end
 * folds on its own, after the swap: [Z-a] matches nothing, as in Redis);
 * an escaped byte inside a class is compared exactly, as Redis does.
 *
 * Two more of Redis's answers are kept on purpose:
 *  - An empty subject matches only the empty pattern: Redis's loop runs
 *    while both have bytes, so "*" does not match "". Redis's KEYS and SCAN
 *    never ask: they take a bare "*" to mean every key before matching,
 *    and callers here should do the same to list an empty key.
 *  - Bytes compare as unsigned values (Redis compares char, signed on
 *    x86, so its [a-\xff] ranges behave oddly above 0x7f; here a range
 *    means what it says for every byte).
 *
 * How. Each token but * consumes exactly one subject byte, and how far a
 * token reaches into the pattern depends on the pattern alone, never on
 * the subject. So the classic two-cursor wildcard walk is exact: match
 * tokens left to right; at a star remember (pattern after the star,
 * subject position); on a mismatch resume from the last star with the
 * subject one byte further. An earlier star never needs revisiting: the
 * last star can already absorb anything the earlier ones could. The walk
 * costs at most (subject length) x (pattern length) token steps, uses no
 * recursion, and gives the true answer for any number of stars (Redis
 * instead gives up past 1000 nested stars and answers "no match").
 */
#include "server/glob.h"

#include <stdint.h>

static inline uint8_t fold(uint8_t c, bool nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/*
 * The token at pat[*pi] (not '*', *pi < plen) against the byte c; moves *pi
 * past the token. Its extent depends on the pattern only.
 */
static bool token_match(const uint8_t *pat, size_t plen, size_t *pi, uint8_t c, bool nocase)
{
    size_t i = *pi;
    switch (pat[i]) {
    case '?':
        *pi = i + 1;
        return true;
    case '[': {
        i++;
        bool negate = i < plen && pat[i] == '^';
        if (negate)
            i++;
        bool match = false;
        for (;;) {
            if (i >= plen)
                break; /* an open class ends with the pattern */
            if (pat[i] == '\\' && plen - i >= 2) {
                i++;
                if (pat[i] == c)
                    match = true;
            } else if (pat[i] == ']') {
                i++;
                break;
            } else if (plen - i >= 3 && pat[i + 1] == '-') {
                uint8_t lo = pat[i], hi = pat[i + 2];
                if (lo > hi) {
                    uint8_t t = lo;
                    lo = hi;
                    hi = t;
                }
                uint8_t x = fold(c, nocase);
                lo = fold(lo, nocase);
                hi = fold(hi, nocase);
                if (x >= lo && x <= hi)
                    match = true;
                i += 2;
            } else if (fold(pat[i], nocase) == fold(c, nocase)) {
                match = true;
            }
            i++;
        }
        *pi = i;
        return negate ? !match : match;
    }
    case '\\':
        if (plen - i >= 2)
            i++;
        *pi = i + 1;
        return fold(pat[i], nocase) == fold(c, nocase);
    default:
        *pi = i + 1;
        return fold(pat[i], nocase) == fold(c, nocase);
    }
}

bool glob_match(const char *pattern, size_t plen, const char *subject, size_t slen, bool nocase)
{
    const uint8_t *pat = (const uint8_t *)pattern, *s = (const uint8_t *)subject;
    if (slen == 0)
        return plen == 0;
    size_t pi = 0, si = 0;
    size_t star_pi = SIZE_MAX, star_si = 0; /* resume point after the last star */
    while (si < slen) {
        if (pi < plen && pat[pi] == '*') {
            while (pi < plen && pat[pi] == '*')
                pi++;
            if (pi == plen)
                return true;
            star_pi = pi;
            star_si = si;
            continue;
        }
        if (pi < plen) {
            size_t next = pi;
            if (token_match(pat, plen, &next, s[si], nocase)) {
                pi = next;
                si++;
                continue;
            }
        }
        if (star_pi == SIZE_MAX)
            return false;
        pi = star_pi;
        si = ++star_si;
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

bool glob_literal(const char *pat, size_t plen, size_t *prefix_len)
{
    size_t i = 0;
    while (i < plen && pat[i] != '*' && pat[i] != '?' && pat[i] != '[' && pat[i] != '\\')
        i++;
    *prefix_len = i;
    return i == plen;
}
