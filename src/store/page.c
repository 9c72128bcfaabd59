/*
 * page.c — the slotted page: cells, slots, verification (format in format.h).
 *
 * A page is verified once when it is first read from the file
 * (page_verify); after that the accessors here trust its structure. Pages
 * built in memory by the writer are correct by construction.
 */
#include <string.h>

#include "base/hash.h"
#include "store/store.h"

void page_init(uint8_t *p, uint32_t psize, pgno_t pgno, uint64_t txnid, unsigned kind)
{
    memset(p, 0, PAGE_HDR);
    le64_store(p + PH_PGNO, pgno);
    le64_store(p + PH_TXNID, txnid);
    p[PH_KIND] = (uint8_t)kind;
    le16_store(p + PH_NKEYS, 0);
    /* upper is stored modulo 2^16: a 32 KiB page stores 32768, which fits. */
    le16_store(p + PH_UPPER, (uint16_t)psize);
    le16_store(p + 30, 0);
}

void leaf_cell_decode(const uint8_t *q, lcell *c)
{
    const uint8_t *s = q;
    uint64_t kx, vlen;
    q = page_vget(q, &kx);
    size_t klen = (size_t)(kx >> 1);
    c->key = q;
    c->klen = klen;
    q = page_vget(q + klen, &vlen);
    c->vlen = vlen;
    c->val = q;
    c->overflow = kx & CELL_OVERFLOW;
    c->size = (size_t)(q - s) + (c->overflow ? OVERFLOW_REF_SIZE : (size_t)vlen);
}

void branch_cell_decode(const uint8_t *q, bcell *c)
{
    const uint8_t *s = q;
    uint64_t klen;
    q = page_vget(q, &klen);
    c->key = q;
    c->klen = (size_t)klen;
    c->child = le64_load(q + klen);
    c->child_txnid = le64_load(q + klen + 8);
    c->size = (size_t)(q - s) + (size_t)klen + BRANCH_PTR_SIZE;
}

void leaf_cell_at(const uint8_t *p, unsigned i, lcell *c) { leaf_cell_decode(p + page_slot(p, i), c); }

void branch_cell_at(const uint8_t *p, unsigned i, bcell *c) { branch_cell_decode(p + page_slot(p, i), c); }

size_t cell_size_at(const uint8_t *p, unsigned i)
{
    if (page_kind(p) == PAGE_LEAF) {
        lcell c;
        leaf_cell_at(p, i, &c);
        return c.size;
    }
    bcell c;
    branch_cell_at(p, i, &c);
    return c.size;
}

void branch_set_child(uint8_t *p, unsigned i, pgno_t child, uint64_t txnid)
{
    bcell c;
    branch_cell_at(p, i, &c);
    uint8_t *q = (uint8_t *)c.key + c.klen;
    le64_store(q, child);
    le64_store(q + 8, txnid);
}

size_t page_room(const uint8_t *p)
{
    return page_upper(p) - (PAGE_HDR + 2 * page_nkeys(p)) + page_frag(p);
}

size_t page_used(const uint8_t *p, uint32_t psize)
{
    return psize - PAGE_HDR - page_room(p);
}

void page_compact(uint8_t *p, uint32_t psize, uint8_t *scratch)
{
    unsigned n = page_nkeys(p);
    size_t upper = psize;
    memcpy(scratch, p, psize);
    for (unsigned i = 0; i < n; i++) {
        size_t sz = cell_size_at(scratch, i);
        upper -= sz;
        memcpy(p + upper, scratch + page_slot(scratch, i), sz);
        le16_store(p + PAGE_HDR + 2 * i, (uint16_t)upper);
    }
    le16_store(p + PH_UPPER, (uint16_t)upper);
    le16_store(p + 30, 0);
}

bool page_insert(uint8_t *p, uint32_t psize, unsigned idx, const uint8_t *cell, size_t len)
{
    unsigned n = page_nkeys(p);
    if (page_room(p) < len + 2) return false;
    size_t lower = PAGE_HDR + 2 * n;
    if (page_upper(p) - lower < len + 2) {
        uint8_t tmp[PAGE_MAX_SIZE];
        page_compact(p, psize, tmp);
    }
    size_t upper = page_upper(p) - len;
    memcpy(p + upper, cell, len);
    uint8_t *slots = p + PAGE_HDR;
    memmove(slots + 2 * (idx + 1), slots + 2 * idx, 2 * (n - idx));
    le16_store(slots + 2 * idx, (uint16_t)upper);
    le16_store(p + PH_UPPER, (uint16_t)upper);
    le16_store(p + PH_NKEYS, (uint16_t)(n + 1));
    return true;
}

void page_remove(uint8_t *p, unsigned idx)
{
    unsigned n = page_nkeys(p);
    size_t sz = cell_size_at(p, idx);
    unsigned off = page_slot(p, idx);
    if (off == page_upper(p))
        le16_store(p + PH_UPPER, (uint16_t)(off + sz));
    else
        le16_store(p + 30, (uint16_t)(page_frag(p) + sz));
    uint8_t *slots = p + PAGE_HDR;
    memmove(slots + 2 * idx, slots + 2 * (idx + 1), 2 * (n - idx - 1));
    le16_store(p + PH_NKEYS, (uint16_t)(n - 1));
}

void page_set_checksum(uint8_t *p, uint32_t psize)
{
    le64_store(p + PH_CHECKSUM, hash64(p + 8, psize - 8, 0));
}

size_t leaf_cell_build(uint8_t *out, const void *key, size_t klen, const void *val, uint64_t vlen,
                       const uint8_t *ovref)
{
    uint8_t *q = out;
    q += varint_put(q, (uint64_t)klen << 1 | (ovref ? CELL_OVERFLOW : 0));
    if (klen) memcpy(q, key, klen);
    q += klen;
    q += varint_put(q, vlen);
    if (ovref) {
        memcpy(q, ovref, OVERFLOW_REF_SIZE);
        q += OVERFLOW_REF_SIZE;
    } else {
        if (vlen) memcpy(q, val, (size_t)vlen);
        q += vlen;
    }
    return (size_t)(q - out);
}

size_t branch_cell_build(uint8_t *out, const void *key, size_t klen, pgno_t child, uint64_t txnid)
{
    uint8_t *q = out;
    q += varint_put(q, klen);
    if (klen) memcpy(q, key, klen);
    q += klen;
    le64_store(q, child);
    le64_store(q + 8, txnid);
    return (size_t)(q + 16 - out);
}

/*
 * The structure of a branch or leaf page, without its checksum or page
 * number: kind, header, that every slot and cell lies inside the page,
 * cells do not overlap the slot array or each other, and keys are in
 * strictly ascending order. On failure *why is a static phrase and *slot
 * the slot at fault (PAGE_NO_SLOT when the header is). The check (check.c)
 * uses it to name the problem; page_verify to refuse the page.
 *
 * Returns 0, BURROW_ECORRUPT when the page cannot be read safely, or
 * PAGE_MISORDERED when its only fault is key order (every cell is inside
 * the page, so the check can still walk it and report what lies below).
 */
int page_check_cells(const uint8_t *p, uint32_t psize, unsigned *slot, const char **why)
{
    *slot = PAGE_NO_SLOT;
    unsigned kind = page_kind(p);
    if (kind != PAGE_LEAF && kind != PAGE_BRANCH) {
        *why = "unexpected page kind";
        return BURROW_ECORRUPT;
    }
    unsigned n = page_nkeys(p);
    size_t upper = page_upper(p) ? page_upper(p) : 65536u;
    size_t lower = PAGE_HDR + 2 * (size_t)n;
    if (lower > upper || upper > psize || page_frag(p) > psize - upper) {
        *why = "bad header (slot array, cell area and dead bytes do not fit)";
        return BURROW_ECORRUPT;
    }
    if (kind == PAGE_BRANCH && n == 0) {
        *why = "branch page without children";
        return BURROW_ECORRUPT;
    }
    const uint8_t *end = p + psize;
    const uint8_t *pkey = NULL;
    size_t pklen = 0, cells = 0;
    unsigned misordered = PAGE_NO_SLOT;
    for (unsigned i = 0; i < n; i++) {
        *slot = i;
        unsigned off = page_slot(p, i);
        if (off < upper || off >= psize) {
            *why = "slot points outside the cell area";
            return BURROW_ECORRUPT;
        }
        const uint8_t *q = p + off;
        uint64_t klen, vlen = 0;
        size_t k;
        *why = "cell runs past the end of the page";
        if (kind == PAGE_LEAF) {
            uint64_t kx;
            if (!(k = varint_get(q, end, &kx))) return BURROW_ECORRUPT;
            bool ovf = kx & CELL_OVERFLOW;
            klen = kx >> 1;
            q += k;
            if (klen > (uint64_t)(end - q)) return BURROW_ECORRUPT;
            if (!(k = varint_get(q + klen, end, &vlen))) return BURROW_ECORRUPT;
            uint64_t body = ovf ? OVERFLOW_REF_SIZE : vlen;
            if (body > (uint64_t)(end - (q + klen + k))) return BURROW_ECORRUPT;
            if (ovf && (vlen == 0 || vlen > BURROW_MAX_VALUE_SIZE)) {
                *why = "overflow value of impossible length";
                return BURROW_ECORRUPT;
            }
            cells += (size_t)(q - (p + off)) + (size_t)klen + k + (size_t)body;
        } else {
            if (!(k = varint_get(q, end, &klen))) return BURROW_ECORRUPT;
            q += k;
            if (klen > (uint64_t)(end - q) || (uint64_t)(end - q) - klen < BRANCH_PTR_SIZE)
                return BURROW_ECORRUPT;
            if (i == 0 && klen != 0) {
                *why = "first branch cell has a key";
                return BURROW_ECORRUPT;
            }
            cells += (size_t)(q - (p + off)) + (size_t)klen + BRANCH_PTR_SIZE;
        }
        if (i > 0 && !(kind == PAGE_BRANCH && i == 1) && key_cmp(pkey, pklen, q, (size_t)klen) >= 0 &&
            misordered == PAGE_NO_SLOT)
            misordered = i;
        pkey = q;
        pklen = (size_t)klen;
    }
    /* Cells must exactly fill the cell area (less dead fragments): no
     * overlaps that would make a rewrite of the page overrun it. */
    *slot = PAGE_NO_SLOT;
    if (cells + page_frag(p) != psize - upper) {
        *why = "cells overlap or leave unaccounted bytes";
        return BURROW_ECORRUPT;
    }
    if (misordered != PAGE_NO_SLOT) {
        *slot = misordered;
        *why = "keys out of order";
        return PAGE_MISORDERED;
    }
    return 0;
}

/* Verify a branch or leaf page read from disk: checksum, own page number,
 * then its structure (page_check_cells). */
int page_verify(const uint8_t *p, uint32_t psize, pgno_t pgno)
{
    if (le64_load(p + PH_CHECKSUM) != hash64(p + 8, psize - 8, 0))
        return diag_set(BURROW_ECORRUPT, "page %llu: checksum mismatch", (unsigned long long)pgno);
    if (page_pgno(p) != pgno)
        return diag_set(BURROW_ECORRUPT, "page %llu: header says page %llu (misplaced write)",
                        (unsigned long long)pgno, (unsigned long long)page_pgno(p));
    unsigned slot;
    const char *why;
    if (page_check_cells(p, psize, &slot, &why)) {
        if (slot == PAGE_NO_SLOT)
            return diag_set(BURROW_ECORRUPT, "page %llu: %s", (unsigned long long)pgno, why);
        return diag_set(BURROW_ECORRUPT, "page %llu: %s at slot %u", (unsigned long long)pgno, why, slot);
    }
    return 0;
}
