/* buf.c — growth of the byte buffer (buf.h) and its public face. */
#include "base/buf.h"

int buf_grow(buf *b, size_t n)
{
    size_t need = b->size + n;
    if (need < b->size)
        return BURROW_ENOMEM;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return BURROW_ENOMEM;
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return BURROW_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

void burrow_buf_init(burrow_buf *b) { buf_init(b); }

void burrow_buf_free(burrow_buf *b) { buf_free(b); }
