/*
 * endian.h — fixed-width little-endian loads and stores, and LEB128 varints.
 * Everything on disk is little-endian; these compile to plain moves on x86.
 */
#ifndef BURROW_BASE_ENDIAN_H
#define BURROW_BASE_ENDIAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t le16_load(const void *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}
static inline uint32_t le32_load(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t le64_load(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline void le16_store(void *p, uint16_t v) { memcpy(p, &v, 2); }
static inline void le32_store(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void le64_store(void *p, uint64_t v) { memcpy(p, &v, 8); }

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "BurrowDB's on-disk format helpers assume a little-endian host"
#endif

/* Bytes needed to encode v as a varint (1..10). */
static inline size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Encode v at p; returns bytes written. */
static inline size_t varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Decode a varint from [p, end); returns bytes read, or 0 when it is
 * truncated or longer than 10 bytes (input from disk is never trusted). */
static inline size_t varint_get(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 10 && p + i < end; i++) {
        v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
        if (!(p[i] & 0x80)) {
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

#endif
