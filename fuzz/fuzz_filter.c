/*
 * fuzz_filter.c — libFuzzer target for filter compilation and evaluation.
 * Any input either fails to compile with a clear error code, or compiles
 * into a filter that evaluates on sample documents without a sanitizer
 * report, and whose canonical form (doc_filter_format) compiles again to a
 * filter that gives the same answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/doc.h"
#include "doc/filter.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_filter: %s failed (%s)\n", #c, burrow_errmsg());                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *samples[] = {
    "{}",
    "{\"a\":1,\"b\":\"x\",\"c\":[1,2,{\"d\":null}],\"e\":{\"f\":true,\"g\":[]}}",
    "{\"a\":[1.5,\"1\",[2]],\"b\":null,\"tags\":[\"x\",\"y\"],\"n\":{\"m\":{\"o\":-3}}}",
    "{\"_id\":\"k\",\"a\":{\"b\":[{\"c\":1},{\"c\":\"s\"}]},\"s\":\"hello world\"}",
};
#define NSAMPLES (sizeof samples / sizeof *samples)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static doc_builder docs[NSAMPLES];
    static doc_val roots[NSAMPLES];
    static int ready;
    if (!ready) {
        for (size_t i = 0; i < NSAMPLES; i++) {
            const uint8_t *d;
            size_t n;
            doc_builder_init(&docs[i]);
            CHECK(json_parse(samples[i], strlen(samples[i]), NULL, &docs[i]) == 0);
            CHECK(doc_builder_finish(&docs[i], &d, &n) == 0 && doc_root(d, n, &roots[i]) == 0);
        }
        ready = 1;
    }
    doc_filter *f = NULL, *g = NULL;
    int rc = doc_filter_compile((const char *)data, size, &f);
    if (rc) {
        CHECK(rc == BURROW_EINVAL || rc == BURROW_EJSON || rc == BURROW_ENOMEM);
        return 0;
    }
    buf text = {0};
    CHECK(doc_filter_format(f, &text) == 0);
    CHECK(doc_filter_compile((const char *)text.data, text.size, &g) == 0);
    for (size_t i = 0; i < NSAMPLES; i++) {
        int a = doc_filter_match(f, roots[i]), b = doc_filter_match(g, roots[i]);
        CHECK(a == 0 || a == 1);
        CHECK(a == b);
    }
    buf_free(&text);
    doc_filter_free(f);
    doc_filter_free(g);
    return 0;
}
