/*
 * fuzz_json.c — libFuzzer target for the JSON parser and writer.
 *
 * Any input: json_parse either fails with BURROW_EJSON/ENOMEM and a
 * "line:column: reason" message, or yields a document that passes
 * doc_validate, writes back as JSON (compact and pretty), and that JSON
 * parses to the very same bytes. Any broken promise aborts the run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doc/doc.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_json: %s failed (%s)\n", #c, burrow_errmsg());                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    doc_builder b, b2;
    doc_builder_init(&b);
    doc_builder_init(&b2);
    buf text = {0}, pretty = {0};
    int rc = json_parse((const char *)data, size, NULL, &b);
    if (rc) {
        CHECK(rc == BURROW_EJSON || rc == BURROW_ENOMEM);
        const char *m = burrow_errmsg();
        unsigned line, col;
        CHECK(rc != BURROW_EJSON || sscanf(m, "%u:%u:", &line, &col) == 2);
        goto out;
    }
    const uint8_t *d, *d2;
    size_t n, n2;
    CHECK(doc_builder_finish(&b, &d, &n) == 0);
    CHECK(doc_validate(d, n) == 0);
    doc_val root;
    CHECK(doc_root(d, n, &root) == 0);
    CHECK(json_write(root, 0, NULL, &text) == 0);
    CHECK(json_parse((const char *)text.data, text.size, NULL, &b2) == 0);
    CHECK(doc_builder_finish(&b2, &d2, &n2) == 0);
    CHECK(n2 == n && memcmp(d, d2, n) == 0);
    CHECK(json_write(root, JSON_PRETTY, NULL, &pretty) == 0);
    CHECK(json_parse((const char *)pretty.data, pretty.size, NULL, &b2) == 0);
    CHECK(doc_builder_finish(&b2, &d2, &n2) == 0);
    CHECK(n2 == n && memcmp(d, d2, n) == 0);
out:
    buf_free(&text);
    buf_free(&pretty);
    doc_builder_free(&b);
    doc_builder_free(&b2);
    return 0;
}
