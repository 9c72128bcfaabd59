/*
 * index.c — secondary index keys and their upkeep (key layout in query.h).
 *
 * An index entry is only a key: the encoded field values, then the
 * document id and its length. Entries are computed from a document alone,
 * so a write computes the old document's keys and the new one's and changes
 * only the difference, in the same transaction as the document.
 */
#include <stdlib.h>
#include <string.h>

#include "base/endian.h"
#include "base/err.h"
#include "query/query.h"

void index_def_clear(index_def *ix)
{
    for (int i = 0; i < ix->nfields; i++) {
        doc_path_free(&ix->paths[i]);
        free(ix->fields[i]);
    }
    free(ix->name);
    memset(ix, 0, sizeof *ix);
}

int index_def_parse(const char *spec, index_def *ix)
{
    memset(ix, 0, sizeof *ix);
    if (!spec)
        return diag_set(BURROW_EINVAL, "index: a field list is required");
    /* The name is the list with the blanks around each field removed
     * ("a, b" names "a,b"); blanks inside a field name are kept. */
    size_t n = strlen(spec);
    char *name = malloc(n + 1);
    if (!name)
        return BURROW_ENOMEM;
    size_t k = 0, i = 0;
    while (i <= n) {
        size_t a = i, b;
        while (a < n && (spec[a] == ' ' || spec[a] == '\t'))
            a++;
        b = a;
        while (b < n && spec[b] != ',')
            b++;
        size_t e = b;
        while (e > a && (spec[e - 1] == ' ' || spec[e - 1] == '\t'))
            e--;
        memcpy(name + k, spec + a, e - a);
        k += e - a;
        if (b < n)
            name[k++] = ',';
        i = b + 1;
    }
    name[k] = '\0';
    ix->name = name;
    if (k == 0 || k > INDEX_NAME_MAX) {
        index_def_clear(ix);
        return diag_set(BURROW_EINVAL, "index: field list must be 1 to %d characters",
                        INDEX_NAME_MAX);
    }
    const char *p = name;
    while (1) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (ix->nfields == INDEX_FIELDS_MAX) {
            index_def_clear(ix);
            return diag_set(BURROW_EINVAL, "index: at most %d fields", INDEX_FIELDS_MAX);
        }
        int f = ix->nfields;
        int rc = doc_path_parse(p, len, DOC_PATH_DOTTED, &ix->paths[f]);
        if (rc) {
            index_def_clear(ix);
            return rc;
        }
        ix->fields[f] = strndup(p, len);
        ix->nfields++;
        if (!ix->fields[f]) {
            index_def_clear(ix);
            return BURROW_ENOMEM;
        }
        for (int g = 0; g < f; g++)
            if (strcmp(ix->fields[g], ix->fields[f]) == 0) {
                int e = diag_set(BURROW_EINVAL, "index: field '%s' is listed twice", ix->fields[f]);
                index_def_clear(ix);
                return e;
            }
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

int index_key_id(const uint8_t *key, size_t klen, const char **id, size_t *idlen)
{
    if (klen < 2)
        return diag_set(BURROW_ECORRUPT, "index key of %zu bytes", klen);
    size_t n = key[klen - 1];
    if (n == 0 || n > klen - 1)
        return diag_set(BURROW_ECORRUPT, "index key with a bad id length");
    *id = (const char *)(key + klen - 1 - n);
    *idlen = n;
    return 0;
}

int index_keys(const index_def *ix, doc_val doc, const char *id, size_t idlen, buf *keys,
               size_t *count, bool *multikey)
{
    doc_val vals[INDEX_FIELDS_MAX];
    bool present[INDEX_FIELDS_MAX];
    int array_field = -1;
    keys->size = 0;
    *count = 0;
    for (int f = 0; f < ix->nfields; f++) {
        int rc = doc_path_get(doc, &ix->paths[f], &vals[f]);
        if (rc == BURROW_ENOTFOUND) {
            present[f] = false;
            continue;
        }
        if (rc)
            return rc;
        present[f] = true;
        if (doc_type(vals[f]) == DOC_ARRAY && doc_count(vals[f]) > 0) {
            if (array_field >= 0)
                return diag_set(BURROW_ECONSTRAINT,
                                "index '%s': fields '%s' and '%s' both hold arrays", ix->name,
                                ix->fields[array_field], ix->fields[f]);
            array_field = f;
        }
    }
    int rc = 0;
    /* One key per distinct element of the array field (or one key): the
     * fields' encodings in order, the id, its length, written straight into
     * keys after a length placeholder patched at the end. */
    uint32_t nelem = array_field >= 0 ? doc_count(vals[array_field]) : 1;
    for (uint32_t e = 0; e < nelem && !rc; e++) {
        doc_val elem = {0};
        if (array_field >= 0) {
            if ((rc = doc_array_at(vals[array_field], e, &elem)))
                break;
            /* Distinct elements only: skip one equal to an earlier one. */
            bool dup = false;
            for (uint32_t d = 0; d < e && !dup; d++) {
                doc_val other;
                if (doc_array_at(vals[array_field], d, &other) == 0 && doc_equal(other, elem))
                    dup = true;
            }
            if (dup)
                continue;
        }
        size_t at = keys->size;
        uint8_t zero[4] = {0}, n = (uint8_t)idlen;
        if ((rc = buf_append(keys, zero, 4)))
            break;
        for (int f = 0; f < ix->nfields && !rc; f++) {
            if (!present[f])
                rc = doc_key_encode_missing(keys);
            else
                rc = doc_key_encode(f == array_field ? elem : vals[f], keys);
        }
        if (!rc && !(rc = buf_append(keys, id, idlen)) && !(rc = buf_append(keys, &n, 1))) {
            le32_store(keys->data + at, (uint32_t)(keys->size - at - 4));
            (*count)++;
        }
    }
    if (multikey)
        *multikey = array_field >= 0;
    return rc;
}

/* The i-th key of a key list; *next advances. */
static void key_next(const buf *keys, size_t *off, const uint8_t **k, size_t *klen)
{
    uint32_t n = le32_load(keys->data + *off);
    *k = keys->data + *off + 4;
    *klen = n;
    *off += 4 + n;
}

int index_unique_check(burrow_txn *txn, const index_def *ix, const buf *keys, size_t count,
                       const char *id, size_t idlen)
{
    burrow_cursor *cur = NULL;
    int rc = burrow_cursor_open(txn, ix->bucket, &cur);
    if (rc)
        return rc;
    size_t off = 0;
    for (size_t i = 0; i < count && !rc; i++) {
        const uint8_t *k;
        size_t klen;
        key_next(keys, &off, &k, &klen);
        /* Before seeking with it: a seek with an over-long key fails with
         * BURROW_EKEYSIZE, and the caller's own size check comes later. */
        size_t max = burrow_max_key_size(burrow_txn_db(txn));
        if (klen > max) {
            rc = diag_set(BURROW_ECONSTRAINT,
                          "index '%s': the indexed value is too long (key of %zu bytes, at "
                          "most %zu)",
                          ix->name, klen, max);
            break;
        }
        size_t vlen = klen - 1 - idlen; /* the encoded values */
        /* Uniqueness binds only documents with every field present. */
        bool missing = false;
        const uint8_t *p = k, *end = k + vlen;
        while (p < end) {
            size_t n = doc_key_size(p, end);
            if (n == 0)
                break;
            if (p[0] == DOC_KEY_MISSING)
                missing = true;
            p += n;
        }
        if (missing)
            continue;
        burrow_val fk, fv;
        int s = burrow_cursor_seek(cur, k, vlen, BURROW_SEEK_GE, &fk, &fv);
        while (s == 0 && fk.size > vlen && memcmp(fk.data, k, vlen) == 0) {
            const char *oid;
            size_t olen;
            if ((rc = index_key_id(fk.data, fk.size, &oid, &olen)))
                break;
            /* The value part must be exactly ours: ids follow it. */
            if (fk.size - 1 - olen == vlen && (olen != idlen || memcmp(oid, id, idlen) != 0)) {
                rc = diag_set(BURROW_ECONSTRAINT,
                              "unique index '%s': document '%.*s' already has this value",
                              ix->name, (int)olen, oid);
                break;
            }
            s = burrow_cursor_next(cur, &fk, &fv);
        }
        if (!rc && s && s != BURROW_ENOTFOUND)
            rc = s;
    }
    burrow_cursor_close(cur);
    return rc;
}

int index_apply(burrow_txn *txn, const index_def *ix, const buf *old_keys, size_t nold,
                const buf *new_keys, size_t nnew)
{
    size_t off = 0;
    int rc;
    const uint8_t *k;
    size_t klen;
    for (size_t i = 0; i < nold; i++) {
        key_next(old_keys, &off, &k, &klen);
        rc = burrow_del(txn, ix->bucket, k, klen);
        if (rc && rc != BURROW_ENOTFOUND)
            return rc;
    }
    off = 0;
    for (size_t i = 0; i < nnew; i++) {
        key_next(new_keys, &off, &k, &klen);
        if (klen > burrow_max_key_size(burrow_txn_db(txn)))
            return diag_set(BURROW_ECONSTRAINT,
                            "index '%s': the indexed value is too long (key of %zu bytes, at most %zu)",
                            ix->name, klen, burrow_max_key_size(burrow_txn_db(txn)));
        if ((rc = burrow_put(txn, ix->bucket, k, klen, "", 0, 0)))
            return rc;
    }
    return 0;
}

int index_build(burrow_txn *txn, const coll_meta *m, const index_def *ix, bool *multikey)
{
    burrow_cursor *cur;
    int rc = burrow_cursor_open(txn, m->docs, &cur);
    if (rc)
        return rc;
    buf keys = {0};
    burrow_val k, v;
    *multikey = false;
    int s = burrow_cursor_first(cur, &k, &v);
    while (s == 0) {
        doc_val root;
        size_t count;
        bool mk;
        if ((rc = doc_root(v.data, v.size, &root)))
            break;
        /* Copy the id: the cursor's memory may move when we write. */
        char id[BURROW_MAX_ID_SIZE];
        size_t idlen = k.size;
        if (idlen == 0 || idlen > sizeof id) {
            rc = diag_set(BURROW_ECORRUPT, "document id of %zu bytes", idlen);
            break;
        }
        memcpy(id, k.data, idlen);
        if ((rc = index_keys(ix, root, id, idlen, &keys, &count, &mk)))
            break;
        *multikey |= mk;
        if (ix->unique && (rc = index_unique_check(txn, ix, &keys, count, id, idlen))) {
            /* Name both documents. */
            char first[300];
            snprintf(first, sizeof first, "%s", burrow_errmsg());
            rc = diag_set(BURROW_ECONSTRAINT, "%s (and document '%.*s')", first, (int)idlen, id);
            break;
        }
        if ((rc = index_apply(txn, ix, NULL, 0, &keys, count)))
            break;
        s = burrow_cursor_next(cur, &k, &v);
    }
    if (!rc && s != BURROW_ENOTFOUND)
        rc = s;
    buf_free(&keys);
    burrow_cursor_close(cur);
    return rc;
}
