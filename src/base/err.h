/*
 * err.h — error values and the per-thread diagnostics record.
 *
 * Functions return 0 or a negative code (BURROW_E* or -errno). The code says
 * what kind of failure; the diagnostics record says where and why in words
 * ("page 812: checksum mismatch"). diag_set() records the detail and returns
 * the code so a failure reads as `return diag_set(BURROW_ECORRUPT, ...)`.
 */
#ifndef BURROW_BASE_ERR_H
#define BURROW_BASE_ERR_H

#include "burrow.h"

#if defined(__GNUC__)
#define BURROW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define BURROW_PRINTF(a, b)
#endif

/* Record a formatted detail for the calling thread; returns err. */
int diag_set(int err, const char *fmt, ...) BURROW_PRINTF(2, 3);

/* Clear the calling thread's detail. */
void diag_clear(void);

#endif
