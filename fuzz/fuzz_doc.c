/*
 * fuzz_doc.c — libFuzzer target for binary documents read from outside
 * (a damaged file, a caller's buffer): doc_validate decides, and every
 * reader must stay inside the buffer whatever it says. A document that
 * validates must also write as JSON that parses back to an equal value.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/doc.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_doc: %s failed (%s)\n", #c, burrow_errmsg());                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(doc_val v, int depth, buf *scratch)
{
    if (depth > DOC_MAX_DEPTH + 2)
        return;
    doc_iter it;
    const char *k;
    size_t kl;
    doc_val e;
    doc_iter_init(&it, v);
    while (doc_iter_next(&it, &k, &kl, &e) == 1)
        walk(e, depth + 1, scratch);
    doc_object_get(v, "a", 1, &e);
    doc_array_at(v, 0, &e);
    (void)doc_compare(v, v);
    (void)doc_hash(v, 1);
    scratch->size = 0;
    (void)doc_key_encode(v, scratch);
    scratch->size = 0;
    (void)json_write(v, 0, NULL, scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    buf scratch = {0};
    doc_val root;
    if (doc_root(data, size, &root) == 0)
        walk(root, 0, &scratch);
    if (doc_validate(data, size) == 0) {
        doc_builder b;
        doc_builder_init(&b);
        scratch.size = 0;
        CHECK(json_write(root, 0, NULL, &scratch) == 0);
        CHECK(json_parse((const char *)scratch.data, scratch.size, NULL, &b) == 0);
        const uint8_t *d;
        size_t n;
        doc_val again;
        CHECK(doc_builder_finish(&b, &d, &n) == 0 && doc_root(d, n, &again) == 0);
        CHECK(doc_equal(root, again));
        doc_builder_free(&b);
    }
    buf_free(&scratch);
    return 0;
}
