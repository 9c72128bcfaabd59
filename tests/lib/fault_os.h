/*
 * fault_os.h — a fault-injecting burrow_os for crash, power-loss and I/O
 * error tests (in the manner of SQLite's test_vfs.c).
 *
 * A fault_os delegates the real work to a base table (burrow_os_default()
 * unless told otherwise) and adds:
 *
 *  - Counting: every call is counted per operation. pwrite, sync and
 *    truncate are "mutations"; the crash point is measured in them.
 *
 *  - Crash: fault_os_crash_after(fo, n) lets n more mutations through; the
 *    next one, and from then on EVERY call (reads, size, mmap, lock, ...),
 *    returns -EIO without touching the file: the machine has stopped. close
 *    and munmap still release the real descriptor and mapping (so a test
 *    can run thousands of rounds without leaking) but report -EIO.
 *
 *  - Power loss: for each file (by device and inode, so reopening or
 *    closing does not matter) the fault_os keeps the list of mutations since
 *    the last successful sync of that file, each with the pre-image of the
 *    bytes it overwrote and the file size before it. fault_os_power_cut()
 *    rewinds every file to its last synced state and replays the unsynced
 *    mutations that "made it to the disk": each is kept or dropped at random
 *    (independently), and the last write of a file, when kept, may be torn
 *    (only a prefix of it kept, cut at a 512-byte sector boundary or at any
 *    byte). Call it once the engine has closed its files (any descriptor
 *    still open keeps working but sees the rewound file).
 *    By default a sync does NOT reach the real fdatasync: durability is what
 *    the fault_os models, and skipping the disk flush keeps rounds fast.
 *
 *  - Injected failures: fault_os_fail() makes the k-th next call of one
 *    operation fail with a chosen negated errno (-EIO, -ENOSPC, ...), or, for
 *    pwrite, write only a prefix and return the short count; once or for
 *    every later call.
 *
 *  - Mappings: mmap delegates to the base (reads through the map see the
 *    real file, as with the real page cache).
 *
 * Thread-safe (one mutex around every call). Not async-signal-safe.
 */
#ifndef BURROW_TEST_FAULT_OS_H
#define BURROW_TEST_FAULT_OS_H

#include <stdint.h>

#include "burrow.h"

typedef struct fault_os fault_os;

enum fault_op {
    FAULT_OP_OPEN,
    FAULT_OP_CLOSE,
    FAULT_OP_PREAD,
    FAULT_OP_PWRITE,
    FAULT_OP_SYNC,
    FAULT_OP_SIZE,
    FAULT_OP_TRUNCATE,
    FAULT_OP_MMAP,
    FAULT_OP_MUNMAP,
    FAULT_OP_LOCK,
    FAULT_OP_COUNT
};

/* Name of an operation ("pwrite"), static. */
const char *fault_op_name(enum fault_op op);

/* New fault_os over base (NULL = burrow_os_default()); seed drives every
 * random choice (power cuts, short-write lengths). Returns NULL when out of
 * memory. Free with fault_os_free() after the engine closed its files. */
fault_os *fault_os_new(const burrow_os *base, uint64_t seed);
void fault_os_free(fault_os *fo);

/* The table to put in burrow_options.os. Owned by fo; valid until
 * fault_os_free. */
const burrow_os *fault_os_table(fault_os *fo);

/* Re-seed the random choices. */
void fault_os_seed(fault_os *fo, uint64_t seed);

/* Pass sync through to the base (a real fdatasync) too; default off. */
void fault_os_set_real_sync(fault_os *fo, int on);

/* Print every call to stderr (also enabled by env FAULT_OS_TRACE=1). */
void fault_os_set_trace(fault_os *fo, int on);

/* ---- counting ---------------------------------------------------------- */

uint64_t fault_os_count(const fault_os *fo, enum fault_op op);
/* pwrite + sync + truncate calls that went through (not failed). */
uint64_t fault_os_mutations(const fault_os *fo);
void fault_os_reset_counts(fault_os *fo);

/* Descriptors opened through fo and not closed yet; live mappings. */
int fault_os_open_files(const fault_os *fo);
int fault_os_live_maps(const fault_os *fo);

/* ---- crash ------------------------------------------------------------- */

/* Let n more mutations succeed; the one after them crashes the "machine". */
void fault_os_crash_after(fault_os *fo, uint64_t n);
/* Let n more syncs succeed; the next sync crashes (so everything written
 * since the previous sync is unsynced: the most interesting moment for a
 * power cut). Other mutations do not count. */
void fault_os_crash_at_sync(fault_os *fo, uint64_t n);
/* Crash now: every call from now on fails with -EIO. */
void fault_os_crash_now(fault_os *fo);
/* Forget the armed crash point and the crashed state (the machine is back;
 * unsynced data is still tracked until fault_os_power_cut or a sync). */
void fault_os_crash_clear(fault_os *fo);
int fault_os_crashed(const fault_os *fo);

/* ---- injected failures ------------------------------------------------- */

#define FAULT_STICKY 0x1u /* fail every matching call from then on */
#define FAULT_SHORT                                                                                \
    0x2u /* pwrite only: write a random strict prefix (possibly                                    \
            empty) and return its length instead of failing */

/* After skip more calls of op go through, the next one fails with err (a
 * negated errno, e.g. -EIO or -ENOSPC; ignored with FAULT_SHORT). One
 * pending injection at a time; a new call replaces it. */
void fault_os_fail(fault_os *fo, enum fault_op op, uint64_t skip, int err, unsigned flags);
void fault_os_fail_clear(fault_os *fo);
/* How many calls failed by injection since fault_os_fail (not the crash). */
uint64_t fault_os_fail_fired(const fault_os *fo);

/* ---- power loss -------------------------------------------------------- */

enum fault_tear {
    FAULT_TEAR_NONE,   /* the last write is kept whole or dropped */
    FAULT_TEAR_SECTOR, /* a kept last write may end at any 512-byte boundary */
    FAULT_TEAR_BYTE,   /* ... or at any byte */
    FAULT_TEAR_RANDOM, /* sector or byte, chosen at each cut */
};

typedef struct fault_cut_policy {
    int keep_percent; /* chance each unsynced mutation survives, 0..100;
                         -1 = pick 0, 25, 50, 75 or 100 at random per cut */
    enum fault_tear tear;
    int tear_percent; /* chance the kept last write is torn, 0..100 */
    /* Harsher than the brief's model: every unsynced write is kept or
     * dropped per 512-byte sector (as a kernel writing back dirty pages in
     * any order, or a disk reordering sectors, would leave it). */
    int per_sector;
} fault_cut_policy;

/* Default: keep_percent -1, FAULT_TEAR_RANDOM, tear_percent 50, per_sector 0. */
void fault_os_set_cut_policy(fault_os *fo, const fault_cut_policy *p);

/* Decide a power cut yourself: called for each unsynced mutation of each
 * file, oldest first (off/len of a write; off = new size and len 0 for a
 * truncate); return 1 to keep it whole, 0 to drop it. While a filter is set
 * the policy above is not used. NULL removes it. */
typedef int (*fault_cut_filter)(void *ctx, uint64_t off, uint64_t len, int is_truncate);
void fault_os_set_cut_filter(fault_os *fo, fault_cut_filter fn, void *ctx);

typedef struct fault_cut_stats {
    unsigned files;
    unsigned unsynced; /* mutations that were not synced */
    unsigned kept;     /* ... of which survived whole */
    unsigned dropped;  /* ... were lost */
    unsigned torn;     /* ... survived partly */
} fault_cut_stats;

/* Simulate the power failing now: rewind every tracked file to its synced
 * state and replay the surviving unsynced mutations (see above). Clears the
 * crash and the unsynced lists. Returns 0, or -errno if a file could not be
 * rewritten (the test should fail). st may be NULL. */
int fault_os_power_cut(fault_os *fo, fault_cut_stats *st);

/* Forget every unsynced mutation as if it had been synced (the process
 * died, the machine did not: the page cache survives). */
void fault_os_forget_unsynced(fault_os *fo);

/* Number of unsynced mutations currently tracked, over all files. */
uint64_t fault_os_unsynced(const fault_os *fo);

#endif
