/*
 * compare.c — the total order of values (doc_compare), a hash consistent
 * with it (doc_hash), and the key-order view of objects (keyorder.h).
 *
 * The order, from doc.h: by class first (null < false < true < numbers <
 * strings < arrays < objects); numbers by exact value whether stored as
 * int64 or double (so 1 == 1.0 and -0.0 == 0, and 2^53 + 1 > 2^53 as a
 * double); strings bytewise, shorter first on a common prefix; arrays
 * element by element, shorter first; objects as the arrays of their (key,
 * value) pairs in key order, so the order keys were written in does not
 * matter. The index key encoding (keyenc.c) must order exactly like this.
 *
 * Damaged values: nothing here trusts the bytes. A value with an invalid tag
 * or a truncated scalar orders (and hashes) as null, a container whose
 * header is damaged as an empty one, an unreadable array element as null and
 * an unreadable object entry as ("", null). Containers nested deeper than
 * DOC_MAX_DEPTH (only a damaged document has them) count as null, which
 * bounds the recursion.
 *
 * Hot path: comparing two scalars decodes each once and allocates nothing;
 * containers are opened once each (doc_container_open) and their elements
 * read through value.c's checked cursor.
 */
#include <math.h>
#include <string.h>

#include "base/endian.h"
#include "base/hash.h"
#include "doc/doc.h"
#include "doc/keyorder.h"

/* Class ranks: the doc_type order with the two number forms merged. */
enum { RANK_NULL = 0, RANK_FALSE, RANK_TRUE, RANK_NUMBER, RANK_STRING, RANK_ARRAY, RANK_OBJECT };

/* A value decoded just enough to order it. */
typedef struct item {
    int rank;
    bool is_int; /* numbers: i holds the value, else d does */
    int64_t i;
    double d;
    const char *s; /* strings */
    size_t n;
} item;

static const uint8_t null_byte = DOC_TAG_NULL;
static const doc_val null_val = {&null_byte, 1};

/* Scalars are read here rather than through doc_get_*: this is the hot
 * path of every filter comparison, and one switch on the tag does it. The
 * length checks are value.c's. */
static inline item decode(doc_val v, int depth)
{
    item it = {.rank = RANK_NULL};
    if (v.len == 0)
        return it;
    const uint8_t *p = v.p;
    switch (p[0]) {
    case DOC_TAG_FALSE: it.rank = RANK_FALSE; break;
    case DOC_TAG_TRUE: it.rank = RANK_TRUE; break;
    case DOC_TAG_INT8:
        if (v.len >= 2) {
            it.rank = RANK_NUMBER;
            it.is_int = true;
            it.i = (int8_t)p[1];
        }
        break;
    case DOC_TAG_INT16:
        if (v.len >= 3) {
            it.rank = RANK_NUMBER;
            it.is_int = true;
            it.i = (int16_t)le16_load(p + 1);
        }
        break;
    case DOC_TAG_INT32:
        if (v.len >= 5) {
            it.rank = RANK_NUMBER;
            it.is_int = true;
            it.i = (int32_t)le32_load(p + 1);
        }
        break;
    case DOC_TAG_INT64:
        if (v.len >= 9) {
            it.rank = RANK_NUMBER;
            it.is_int = true;
            it.i = (int64_t)le64_load(p + 1);
        }
        break;
    case DOC_TAG_DOUBLE:
        if (v.len >= 9) {
            uint64_t bits = le64_load(p + 1);
            it.rank = RANK_NUMBER;
            memcpy(&it.d, &bits, sizeof it.d);
        }
        break;
    case DOC_TAG_STRING: {
        uint64_t n;
        size_t k = varint_get(p + 1, p + v.len, &n);
        if (k && n == v.len - 1 - k) {
            it.rank = RANK_STRING;
            it.s = (const char *)(p + 1 + k);
            it.n = (size_t)n;
        }
        break;
    }
    case DOC_TAG_ARRAY: it.rank = depth < DOC_MAX_DEPTH ? RANK_ARRAY : RANK_NULL; break;
    case DOC_TAG_OBJECT: it.rank = depth < DOC_MAX_DEPTH ? RANK_OBJECT : RANK_NULL; break;
    default: break;
    }
    return it;
}

static inline int sign_i64(int64_t a, int64_t b) { return (a > b) - (a < b); }

/* Doubles of a valid document are finite; a NaN can only come from damage
 * and orders below every number so the order stays total. */
static inline int cmp_double(double a, double b)
{
    if (a < b)
        return -1;
    if (a > b)
        return 1;
    if (a == b)
        return 0;
    return isnan(a) ? (isnan(b) ? 0 : -1) : 1;
}

/* An int64 against a double, exactly: converting the int to a double would
 * round above 2^53, so the double's integer part is compared as an int64
 * instead, then its fraction. */
static int cmp_int_double(int64_t i, double d)
{
    if (isnan(d))
        return 1;
    if (d >= 0x1p63)
        return -1;
    if (d < -0x1p63)
        return 1;
    /* d is in [-2^63, 2^63): its integer part fits, and converts back to a
     * double exactly (it has no more significant bits than d). */
    int64_t t = (int64_t)d;
    if (i != t)
        return i < t ? -1 : 1;
    double td = (double)t;
    return d > td ? -1 : d < td ? 1 : 0;
}

static int cmp_numbers(const item *a, const item *b)
{
    if (a->is_int && b->is_int)
        return sign_i64(a->i, b->i);
    if (!a->is_int && !b->is_int)
        return cmp_double(a->d, b->d);
    if (a->is_int)
        return cmp_int_double(a->i, b->d);
    return -cmp_int_double(b->i, a->d);
}

int doc_key_order(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int r = n ? memcmp(a, b, n) : 0;
    if (r)
        return r < 0 ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

/* ---- objects in key order ------------------------------------------------ */

/* doc_key_order, with the first bytes compared inline: keys of one object
 * mostly differ there, which spares a call to memcmp. */
static inline int key_order_fast(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen && blen && a[0] != b[0])
        return (uint8_t)a[0] < (uint8_t)b[0] ? -1 : 1;
    return doc_key_order(a, alen, b, blen);
}

void doc_keyorder_init(doc_keyorder *ko, doc_val obj)
{
    doc_container c;
    doc_container_open(obj, &c); /* a damaged header: empty, seen as empty */
    doc_keyorder_init_open(ko, &c);
}

void doc_keyorder_init_open(doc_keyorder *ko, const doc_container *c)
{
    ko->c = *c;
    ko->count = 0;
    if (ko->c.count == 0)
        return;
    uint32_t count = ko->c.count;
    if (ko->c.sorted || count >= DOC_SORTED_MIN) {
        /* Without a table (damaged: the builder writes one from
         * DOC_SORTED_MIN keys on) walk in stored order rather than
         * allocate to sort. */
        ko->count = count;
        return;
    }
    /* Read each entry once; insertion sort of at most 15 entries by key. */
    const uint8_t *base = ko->c.body;
    for (uint32_t i = 0; i < count; i++) {
        const char *k;
        size_t kl;
        doc_val v;
        if (doc_container_elem(&ko->c, i, &k, &kl, &v))
            return; /* seen as empty */
        doc_keyed e = {(uint32_t)((const uint8_t *)k - base), (uint32_t)kl,
                       (uint32_t)(v.p - base), (uint32_t)v.len};
        uint32_t j = i;
        while (j > 0 && key_order_fast((const char *)base + ko->small[j - 1].key_off,
                                       ko->small[j - 1].klen, k, kl) > 0) {
            ko->small[j] = ko->small[j - 1];
            j--;
        }
        ko->small[j] = e;
    }
    ko->count = count;
}

static inline bool keyorder_small(const doc_keyorder *ko)
{
    return !ko->c.sorted && ko->count < DOC_SORTED_MIN;
}

static inline void small_at(const doc_keyorder *ko, uint32_t j, const char **key, size_t *klen,
                            doc_val *val)
{
    const doc_keyed *e = &ko->small[j];
    *key = (const char *)ko->c.body + e->key_off;
    *klen = e->klen;
    val->p = ko->c.body + e->val_off;
    val->len = e->val_len;
}

int doc_keyorder_at(const doc_keyorder *ko, uint32_t j, const char **key, size_t *klen,
                    doc_val *val)
{
    if (keyorder_small(ko)) {
        small_at(ko, j, key, klen, val);
        return 0;
    }
    uint32_t idx = j;
    if (ko->c.sorted && doc_container_sorted_at(&ko->c, j, &idx))
        return BURROW_ECORRUPT;
    return doc_container_elem(&ko->c, idx, key, klen, val) ? BURROW_ECORRUPT : 0;
}

/* An entry as callers see it: a damaged one is ("", null). */
static inline void entry_at(const doc_keyorder *ko, uint32_t j, const char **key, size_t *klen,
                            doc_val *val)
{
    if (keyorder_small(ko)) {
        small_at(ko, j, key, klen, val);
    } else if (doc_keyorder_at(ko, j, key, klen, val)) {
        *key = "";
        *klen = 0;
        *val = null_val;
    }
}

/* ---- comparing ------------------------------------------------------------ */

static int compare(doc_val a, doc_val b, int depth);

static int compare_arrays(doc_val a, doc_val b, int depth)
{
    doc_container ca, cb; /* a damaged header: empty */
    doc_container_open(a, &ca);
    doc_container_open(b, &cb);
    uint32_t n = ca.count < cb.count ? ca.count : cb.count;
    for (uint32_t i = 0; i < n; i++) {
        doc_val ea, eb;
        if (doc_container_elem(&ca, i, NULL, NULL, &ea))
            ea = null_val;
        if (doc_container_elem(&cb, i, NULL, NULL, &eb))
            eb = null_val;
        int r = compare(ea, eb, depth + 1);
        if (r)
            return r;
    }
    return (ca.count > cb.count) - (ca.count < cb.count);
}

/* ca, cb: the objects, opened (empty when damaged). */
static int compare_objects(const doc_container *ca, const doc_container *cb, int depth)
{
    doc_keyorder ka, kb;
    doc_keyorder_init_open(&ka, ca);
    doc_keyorder_init_open(&kb, cb);
    uint32_t n = ka.count < kb.count ? ka.count : kb.count;
    for (uint32_t j = 0; j < n; j++) {
        const char *keya, *keyb;
        size_t la, lb;
        doc_val va, vb;
        entry_at(&ka, j, &keya, &la, &va);
        entry_at(&kb, j, &keyb, &lb, &vb);
        int r = key_order_fast(keya, la, keyb, lb);
        if (r)
            return r;
        r = compare(va, vb, depth + 1);
        if (r)
            return r;
    }
    return (ka.count > kb.count) - (ka.count < kb.count);
}

/*
 * Objects of one shape (the same keys at the same positions, as documents
 * written by one program mostly are) need not be put in key order: as
 * arrays of (key, value) pairs in key order they first differ at the
 * smallest key whose values differ (the first such position among equal
 * keys, which a damaged object may repeat: the stable order
 * doc_keyorder_init gives them). Small objects only, so that this is
 * exactly compare_objects' answer; SHAPE_DIFFERS when the shapes differ or
 * an entry cannot be read, for compare_objects. Not inlined, so that only
 * one of the two frames is on the stack while values recurse.
 */
#define SHAPE_DIFFERS 2

static __attribute__((noinline)) int compare_same_shape(const doc_container *pa,
                                                      const doc_container *pb, int depth)
{
    doc_container ca = *pa, cb = *pb;
    if (ca.count != cb.count || ca.sorted || cb.sorted || ca.count >= DOC_SORTED_MIN)
        return SHAPE_DIFFERS;
    /* Offsets from each body, as in doc_keyed: 24 bytes an entry. */
    struct {
        uint32_t key_off, klen, va_off, va_len, vb_off, vb_len;
    } e[DOC_SORTED_MIN - 1];
    for (uint32_t i = 0; i < ca.count; i++) {
        const char *ka, *kb;
        size_t la, lb;
        doc_val va, vb;
        if (doc_container_elem(&ca, i, &ka, &la, &va) ||
            doc_container_elem(&cb, i, &kb, &lb, &vb) || la != lb ||
            (la && ka != kb && (ka[0] != kb[0] || memcmp(ka, kb, la) != 0)))
            return SHAPE_DIFFERS;
        e[i].key_off = (uint32_t)((const uint8_t *)ka - ca.body);
        e[i].klen = (uint32_t)la;
        e[i].va_off = (uint32_t)(va.p - ca.body);
        e[i].va_len = (uint32_t)va.len;
        e[i].vb_off = (uint32_t)(vb.p - cb.body);
        e[i].vb_len = (uint32_t)vb.len;
    }
    const char *mk = NULL;
    size_t ml = 0;
    int mr = 0;
    for (uint32_t i = 0; i < ca.count; i++) {
        const char *k = (const char *)ca.body + e[i].key_off;
        if (mk && key_order_fast(k, e[i].klen, mk, ml) >= 0)
            continue; /* a smaller key already differs */
        doc_val va = {ca.body + e[i].va_off, e[i].va_len};
        doc_val vb = {cb.body + e[i].vb_off, e[i].vb_len};
        int r = compare(va, vb, depth + 1);
        if (r) {
            mk = k;
            ml = e[i].klen;
            mr = r;
        }
    }
    return mr;
}

static int compare(doc_val a, doc_val b, int depth)
{
    item x = decode(a, depth), y = decode(b, depth);
    if (x.rank != y.rank)
        return x.rank < y.rank ? -1 : 1;
    switch (x.rank) {
    case RANK_NUMBER: return cmp_numbers(&x, &y);
    case RANK_STRING: return doc_key_order(x.s, x.n, y.s, y.n);
    case RANK_ARRAY: return compare_arrays(a, b, depth);
    case RANK_OBJECT: {
        doc_container ca, cb; /* a damaged header: empty */
        doc_container_open(a, &ca);
        doc_container_open(b, &cb);
        int r = compare_same_shape(&ca, &cb, depth);
        return r != SHAPE_DIFFERS ? r : compare_objects(&ca, &cb, depth);
    }
    default: return 0; /* null, false, true */
    }
}

int doc_compare(doc_val a, doc_val b) { return compare(a, b, 0); }

/* ---- hashing ---------------------------------------------------------------
 *
 * Equal values must hash alike, so numbers hash by value: every int64 a
 * double holds exactly hashes as that double (1 and 1.0 alike, -0.0 as 0.0);
 * the others (beyond 2^53, not a multiple of their spacing) equal no double
 * and hash as themselves. Objects combine their entries' hashes by addition,
 * which does not depend on the order they are stored in (keys are unique, so
 * nothing cancels), then mix in the count.
 */

/* Distinct starting points per class, so [] and {} and "" differ. */
enum {
    H_NULL = 0x6e756c6c,
    H_FALSE = 0x66616c73,
    H_TRUE = 0x74727565,
    H_DOUBLE = 0x646f7562,
    H_INT = 0x696e7436,
    H_STRING = 0x73747269,
    H_ARRAY = 0x61727261,
    H_OBJECT = 0x6f626a65,
};

static inline uint64_t mix(uint64_t a, uint64_t b, uint64_t seed)
{
    uint64_t x[2] = {a, b};
    return hash64(x, sizeof x, seed);
}

static uint64_t hash_number(const item *it, uint64_t seed)
{
    double d = it->d;
    if (it->is_int) {
        d = (double)it->i;
        /* (int64_t)d is only defined below 2^63; INT64_MAX rounds to 2^63. */
        if (!(d < 0x1p63 && (int64_t)d == it->i))
            return mix(H_INT, (uint64_t)it->i, seed);
    }
    if (d == 0)
        d = 0.0; /* -0.0 == 0.0 */
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    return mix(H_DOUBLE, bits, seed);
}

static uint64_t hash_value(doc_val v, uint64_t seed, int depth)
{
    item it = decode(v, depth);
    switch (it.rank) {
    case RANK_FALSE: return mix(H_FALSE, 0, seed);
    case RANK_TRUE: return mix(H_TRUE, 0, seed);
    case RANK_NUMBER: return hash_number(&it, seed);
    case RANK_STRING: return mix(H_STRING, hash64(it.s, it.n, seed), seed);
    case RANK_ARRAY: {
        doc_container c; /* a damaged header: empty */
        doc_container_open(v, &c);
        uint64_t h = mix(H_ARRAY, c.count, seed);
        for (uint32_t i = 0; i < c.count; i++) {
            doc_val e;
            if (doc_container_elem(&c, i, NULL, NULL, &e))
                e = null_val;
            h = mix(h, hash_value(e, seed, depth + 1), seed);
        }
        return h;
    }
    case RANK_OBJECT: {
        /* Stored order: the sum does not depend on it, and no sorting. */
        doc_container c;
        doc_container_open(v, &c);
        uint32_t n = c.count;
        uint64_t sum = 0;
        for (uint32_t i = 0; i < n; i++) {
            const char *k;
            size_t kl;
            doc_val e;
            if (doc_container_elem(&c, i, &k, &kl, &e)) {
                k = "";
                kl = 0;
                e = null_val;
            }
            sum += mix(hash64(k, kl, seed), hash_value(e, seed, depth + 1), seed);
        }
        return mix(mix(H_OBJECT, n, seed), sum, seed);
    }
    default: return mix(H_NULL, 0, seed);
    }
}

uint64_t doc_hash(doc_val v, uint64_t seed) { return hash_value(v, seed, 0); }
