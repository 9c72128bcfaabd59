/*
 * api.c — the public face of doc/: JSON text, binary documents, filters
 * and updates (include/burrow.h). The public handles are the internal
 * objects under another name: a burrow_filter is a doc_filter.
 */
#include <string.h>

#include "base/err.h"
#include "doc/doc.h"
#include "doc/filter.h"
#include "doc/update.h"

int burrow_json_parse(const char *json, size_t len, burrow_buf *doc)
{
    diag_clear();
    if (!json || !doc)
        return diag_set(BURROW_EINVAL, "json_parse: json and doc are required");
    doc_builder b;
    doc_builder_init(&b);
    int rc = json_parse(json, len, NULL, &b);
    if (!rc) {
        buf_free(doc);
        rc = doc_builder_take(&b, doc);
    }
    doc_builder_free(&b);
    return rc;
}

static int terminate(burrow_buf *json)
{
    int rc = buf_putc(json, 0);
    if (!rc)
        json->size--;
    return rc;
}

int burrow_json_write(const void *doc, size_t len, unsigned flags, burrow_buf *json)
{
    diag_clear();
    if (!doc || !json)
        return diag_set(BURROW_EINVAL, "json_write: doc and json are required");
    if (flags & ~BURROW_JSON_PRETTY)
        return diag_set(BURROW_EINVAL, "json_write: unknown flags 0x%x", flags);
    int rc = doc_validate(doc, len);
    doc_val root;
    if (rc || (rc = doc_root(doc, len, &root)))
        return rc;
    json->size = 0;
    rc = json_write(root, (flags & BURROW_JSON_PRETTY) ? JSON_PRETTY : 0, NULL, json);
    return rc ? rc : terminate(json);
}

int burrow_doc_validate(const void *doc, size_t len)
{
    diag_clear();
    if (!doc)
        return diag_set(BURROW_EINVAL, "doc_validate: doc is required");
    return doc_validate(doc, len);
}

int burrow_doc_path_json(const void *doc, size_t len, const char *path, unsigned flags,
                         burrow_buf *json)
{
    diag_clear();
    if (!doc || !path || !json)
        return diag_set(BURROW_EINVAL, "doc_path_json: doc, path and json are required");
    int rc = doc_validate(doc, len);
    doc_val root, v;
    if (rc || (rc = doc_root(doc, len, &root)))
        return rc;
    if (!path[0]) /* the empty path is the root, in either syntax */
        path = "$";
    /* A path with '$', '[' or a leading '.' is JSONPath; else dotted. */
    int syntax = (path[0] == '$' || path[0] == '.' || strchr(path, '[')) ? DOC_PATH_JSONPATH
                                                                           : DOC_PATH_DOTTED;
    doc_path p;
    if ((rc = doc_path_parse(path, strlen(path), syntax, &p)))
        return rc;
    rc = doc_path_get(root, &p, &v);
    doc_path_free(&p);
    if (rc == BURROW_ENOTFOUND)
        return diag_set(BURROW_ENOTFOUND, "path '%s' leads nowhere", path);
    if (rc)
        return rc;
    json->size = 0;
    rc = json_write(v, (flags & BURROW_JSON_PRETTY) ? JSON_PRETTY : 0, NULL, json);
    return rc ? rc : terminate(json);
}

int burrow_filter_compile(const char *json, size_t len, burrow_filter **out)
{
    diag_clear();
    if (!json || !out)
        return diag_set(BURROW_EINVAL, "filter_compile: json and out are required");
    return doc_filter_compile(json, len, (doc_filter **)out);
}

void burrow_filter_free(burrow_filter *f) { doc_filter_free((doc_filter *)f); }

int burrow_filter_match(const burrow_filter *f, const void *doc, size_t len)
{
    diag_clear();
    if (!f || !doc)
        return diag_set(BURROW_EINVAL, "filter_match: filter and doc are required");
    int rc = doc_validate(doc, len);
    doc_val root;
    if (rc || (rc = doc_root(doc, len, &root)))
        return rc;
    return doc_filter_match((const doc_filter *)f, root);
}

int burrow_update_compile(const char *json, size_t len, burrow_update **out)
{
    diag_clear();
    if (!json || !out)
        return diag_set(BURROW_EINVAL, "update_compile: json and out are required");
    return doc_update_compile(json, len, (doc_update **)out);
}

void burrow_update_free(burrow_update *u) { doc_update_free((doc_update *)u); }
