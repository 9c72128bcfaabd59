/*
 * dtoa.h — numbers to decimal text (dtoa.c): the shortest round-trip
 * decimal of a double, and integers two digits at a time. Internal to doc/;
 * json_format_double (doc.h) is the public face for doubles.
 */
#ifndef BURROW_DOC_DTOA_H
#define BURROW_DOC_DTOA_H

#include <stddef.h>
#include <stdint.h>

/*
 * The shortest decimal digits * 10^exp10 that reads back (round to nearest,
 * ties to even) as v; among the shortest, the one closest to v, ties to the
 * even digits. v must be finite and > 0. *digits has 1 to 17 decimal digits
 * and no trailing zero.
 */
void dtoa_shortest(double v, uint64_t *digits, int *exp10);

/* Write v in decimal at dst (at most 20 bytes, no NUL); returns the length. */
size_t dtoa_u64(char *dst, uint64_t v);

#endif
