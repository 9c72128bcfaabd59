/*
 * buf.h — a growable byte buffer.
 *
 * The layout is the public burrow_buf (include/burrow.h), so a buffer filled
 * inside the library can be handed to the caller without a copy. A buffer
 * starts zeroed ({0} or buf_init) and owns its memory until buf_free.
 * Appends never leave the buffer in a half state: on ENOMEM nothing changed.
 */
#ifndef BURROW_BASE_BUF_H
#define BURROW_BASE_BUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "burrow.h"

typedef burrow_buf buf;

static inline void buf_init(buf *b)
{
    b->data = NULL;
    b->size = 0;
    b->cap = 0;
}

static inline void buf_free(buf *b)
{
    free(b->data);
    buf_init(b);
}

/* Make room for n more bytes. 0 or BURROW_ENOMEM. */
int buf_grow(buf *b, size_t n);

static inline int buf_reserve(buf *b, size_t n)
{
    if (b->cap - b->size >= n)
        return 0;
    return buf_grow(b, n);
}

static inline int buf_append(buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->size, p, n);
    b->size += n;
    return 0;
}

static inline int buf_putc(buf *b, uint8_t c)
{
    int rc = buf_reserve(b, 1);
    if (rc)
        return rc;
    b->data[b->size++] = c;
    return 0;
}

#endif
