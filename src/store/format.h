/*
 * format.h — the on-disk format of a BurrowDB file, byte by byte.
 *
 * All integers are little-endian. A file is an array of pages of one size P
 * (a power of two, 256..32768, chosen at creation). Page n lives at byte
 * offset n * P. Pages 0 and 1 are the meta pages; every other page is a
 * branch page, a leaf page, a page of an overflow run or of the freelist run,
 * or free.
 *
 * Page header (branch, leaf and meta pages), 32 bytes:
 *   0  u64 checksum  XXH3-64 of bytes [8, P) (meta pages: of [8, 256))
 *   8  u64 pgno      this page's own number (catches misplaced writes)
 *  16  u64 txnid     the transaction that wrote this page
 *  24  u8  kind      PAGE_META 1, PAGE_BRANCH 2, PAGE_LEAF 3
 *  25  u8  flags     0
 *  26  u16 nkeys     number of cells
 *  28  u16 upper     offset of the lowest cell byte (cells grow down from P)
 *  30  u16 frag      bytes of dead cells inside the cell area
 *  32  u16 slot[nkeys]  offsets of the cells, in key order
 *  ... free space ... cells (any order) up to P
 *
 * Leaf cell:
 *   varint (klen << 1 | overflow), key bytes, varint vlen, then either the
 *   value bytes (vlen of them) or, when the overflow bit is set, a reference
 *   of 24 bytes (a search decodes only the key's length): u64 first pgno, u64 txnid that wrote the run,
 *   u64 XXH3-64 of the run's ceil(vlen / P) * P bytes (the value, zero
 *   padded). Overflow pages carry no header at all, so a 4 KiB value takes
 *   exactly one 4 KiB page; their checksum and writer live in the reference.
 *
 * Branch cell (cell 0's key is always empty: child 0 covers everything below
 * key 1; child i covers [key i, key i+1)):
 *   varint klen, key bytes, u64 child pgno, u64 txnid of the child page.
 *   The child's txnid lets open verify the newest commit by walking only the
 *   pages it wrote (see db.c), so a commit needs a single fdatasync.
 *
 * Transaction ids increase but are not consecutive: a process that opens
 * the file for writing starts past a random gap (db.c, txnid_gap), so pages
 * left by a commit whose meta never reached the disk can never pass for the
 * pages of a later commit.
 *
 * Meta page (pages 0 and 1; a commit writes the slot holding the older one):
 *   0..32  page header, kind PAGE_META, nkeys 0
 *  32  u8[8] magic "BURROWDB"
 *  40  u32 format version (FORMAT_VERSION)
 *  44  u32 page size P
 *  48  u64 txnid of this commit
 *  56  u64 npages: pages in use up to the high-water mark
 *  64  bucket record of the catalog (32 bytes, below)
 *  96  freelist run: u64 pgno (0 = none), u64 byte length, u64 XXH3-64 of
 *      the run's bytes, u64 txnid that wrote it
 * 128  u64 previous txnid (the commit this one was based on)
 * 136  u64 pages of the freelist run (it may be longer than its bytes need)
 * 144  u32 flags: META_F_VERIFY (1) when this commit's pages were written
 *      with the meta under a single fdatasync, so open must walk them
 *      before trusting it; clear when they were synced before the meta
 * 148..P  zero
 *
 * Bucket record (32 bytes; the catalog's in the meta page, each bucket's as
 * the value of its name in the catalog tree):
 *   u64 root pgno (0 = empty tree), u64 txnid of the root page,
 *   u64 number of keys, u32 height (0 for an empty tree), u32 flags (0)
 *
 * Freelist run (header-less pages, contents checked by the meta's checksum):
 *   varint n_free, then n_free extents as (varint start delta from the end
 *   of the previous extent, varint length); varint n_groups, then per group
 *   (varint txnid that freed them, varint n, n extents encoded as above).
 *   Free extents are reusable now; a group's pages were freed by that txnid
 *   and are reusable once no reader's snapshot is older than it.
 */
#ifndef BURROW_STORE_FORMAT_H
#define BURROW_STORE_FORMAT_H

#include <stdint.h>

#define FORMAT_MAGIC "BURROWDB"
#define FORMAT_VERSION 1u

#define PAGE_MIN_SIZE 256u
#define PAGE_MAX_SIZE 32768u
#define PAGE_DEFAULT_SIZE 4096u

#define PAGE_META 1
#define PAGE_BRANCH 2
#define PAGE_LEAF 3

#define PH_CHECKSUM 0
#define PH_PGNO 8
#define PH_TXNID 16
#define PH_KIND 24
#define PH_FLAGS 25
#define PH_NKEYS 26
#define PH_UPPER 28
#define PAGE_HDR 32

#define META_MAGIC 32
#define META_VERSION 40
#define META_PSIZE 44
#define META_TXNID 48
#define META_NPAGES 56
#define META_CATALOG 64
#define META_FL_PGNO 96
#define META_FL_LEN 104
#define META_FL_SUM 112
#define META_FL_TXNID 120
#define META_PREV_TXNID 128
#define META_FL_PAGES 136
#define META_FLAGS 144
#define META_F_VERIFY 0x1u

/* A FULL-sync commit writing at most this many pages uses one fdatasync and
 * is verified at open; a larger one syncs its pages before its meta, so open
 * never reads more than this many pages to choose a commit. */
#define ONE_SYNC_MAX_PAGES 16
#define META_CHECKED_LEN 256u /* the meta checksum covers [8, 256) */

#define BUCKET_REC_SIZE 32

#define CELL_OVERFLOW 0x1
#define OVERFLOW_REF_SIZE 24
#define BRANCH_PTR_SIZE 16

/* Largest page count a file may reach (2^34 pages: 64 TiB at 4 KiB). */
#define MAX_PAGES ((uint64_t)1 << 34)

#endif
