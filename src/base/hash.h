/* hash.h — the checksum used for pages and page runs (XXH3, 64-bit). */
#ifndef BURROW_BASE_HASH_H
#define BURROW_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static inline uint64_t hash64(const void *data, size_t len, uint64_t seed)
{
    return XXH3_64bits_withSeed(data, len, seed);
}

#endif
