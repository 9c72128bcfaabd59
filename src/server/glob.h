/*
 * glob.h — Redis's glob patterns, for KEYS, SCAN MATCH, PSUBSCRIBE and
 * PUBSUB CHANNELS.
 *
 *   *      any run of bytes (also empty)
 *   ?      any one byte
 *   [abc]  one of the bytes listed; [^abc] none of them; [a-z] a range
 *          (either order); \x inside brackets is x
 *   \x     the byte x itself
 * Everything else matches itself. Patterns and subjects are byte strings
 * (not NUL-terminated; may hold any byte). Matching never recurses more
 * than the pattern's length and stops early on hopeless backtracking, so a
 * hostile pattern cannot take exponential time.
 */
#ifndef BURROW_SERVER_GLOB_H
#define BURROW_SERVER_GLOB_H

#include <stdbool.h>
#include <stddef.h>

/* true when s matches pat; nocase folds ASCII letters. */
bool glob_match(const char *pat, size_t plen, const char *s, size_t slen, bool nocase);

/* true when pat has no special character, so it matches only itself (KEYS
 * and SCAN then do one lookup or one prefix range instead of a full walk).
 * *prefix_len = the length of the literal prefix before the first special
 * character in any case. */
bool glob_literal(const char *pat, size_t plen, size_t *prefix_len);

#endif
