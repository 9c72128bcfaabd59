/*
 * id.c — generated document ids: 128 bits, time ordered, printed as text.
 *
 * Layout (the ULID layout): 48 bits of Unix time in milliseconds, then 80
 * random bits, written as 26 characters of Crockford's base32 (0-9, A-Z
 * without I, L, O, U), most significant first, so the text sorts like the
 * number and ids sort by creation time. Within one millisecond the random
 * part of this process's ids increases by one each time, so ids made here
 * never repeat and keep their order even when the clock has not moved; if
 * the clock goes back, the last time is kept.
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "query/query.h"

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t last_ms;
static uint64_t rand_hi; /* top 16 of the 80 random bits */
static uint64_t rand_lo; /* low 64 */

static void fresh_random(void)
{
    uint8_t r[10];
    size_t got = 0;
    while (got < sizeof r) {
        ssize_t n = getrandom(r + got, sizeof r - got, 0);
        if (n <= 0) { /* no entropy source: fall back on the clock */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t x = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec;
            memcpy(r + got, &x, sizeof r - got > 8 ? 8 : sizeof r - got);
            got += sizeof r - got > 8 ? 8 : sizeof r - got;
            continue;
        }
        got += (size_t)n;
    }
    rand_hi = (uint64_t)r[0] << 8 | r[1];
    memcpy(&rand_lo, r + 2, 8);
    /* Leave room to count up within the millisecond without wrapping. */
    rand_hi &= 0x7FFF;
}

void doc_id_generate(char out[DOC_ID_TEXT_LEN + 1])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    pthread_mutex_lock(&id_lock);
    if (ms > last_ms) {
        last_ms = ms;
        fresh_random();
    } else if (++rand_lo == 0) {
        rand_hi = (rand_hi + 1) & 0xFFFF;
    }
    uint64_t t = last_ms & 0xFFFFFFFFFFFFull, hi = rand_hi, lo = rand_lo;
    pthread_mutex_unlock(&id_lock);
    /* 128 bits = t(48) hi(16) lo(64); 26 digits of 5 bits = 130 bits, the
     * first digit holding the top 3 bits. */
    unsigned __int128 v = ((unsigned __int128)t << 80) | ((unsigned __int128)hi << 64) | lo;
    for (int i = DOC_ID_TEXT_LEN - 1; i >= 0; i--) {
        out[i] = alphabet[(unsigned)(v & 31)];
        v >>= 5;
    }
    out[DOC_ID_TEXT_LEN] = '\0';
}
