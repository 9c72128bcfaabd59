/*
 * bucket.c — buckets: named trees listed in the catalog tree.
 *
 * The catalog maps a bucket's name to its 32-byte record (root, root txnid,
 * key count, height). Creating or dropping a bucket edits the catalog at
 * once (so savepoints undo it with everything else); the record's root and
 * counts are written back at commit for every bucket the txn changed.
 *
 * A handle (burrow_bucket) is an index into the database's table of names;
 * each txn keeps the state of the buckets it has used in t->bk[handle].
 */
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

void bucket_rec_load(bucket_rec *r, const uint8_t *p)
{
    r->root = le64_load(p);
    r->root_txnid = le64_load(p + 8);
    r->keys = le64_load(p + 16);
    r->height = le32_load(p + 24);
    r->flags = le32_load(p + 28);
}

void bucket_rec_store(const bucket_rec *r, uint8_t *p)
{
    le64_store(p, r->root);
    le64_store(p + 8, r->root_txnid);
    le64_store(p + 16, r->keys);
    le32_store(p + 24, r->height);
    le32_store(p + 28, r->flags);
}

static int name_intern(burrow_db *db, const char *name, burrow_bucket *out)
{
    int rc = 0;
    pthread_mutex_lock(&db->lock);
    for (uint32_t i = 0; i < db->nnames; i++)
        if (!strcmp(db->names[i], name)) {
            *out = i + 1;
            goto done;
        }
    if (db->nnames == db->names_cap) {
        uint32_t cap = db->names_cap ? db->names_cap * 2 : 16;
        char **v = realloc(db->names, cap * sizeof *v);
        if (!v) {
            rc = diag_set(BURROW_ENOMEM, "out of memory");
            goto done;
        }
        db->names = v;
        db->names_cap = cap;
    }
    if (!(db->names[db->nnames] = strdup(name))) {
        rc = diag_set(BURROW_ENOMEM, "out of memory");
        goto done;
    }
    *out = ++db->nnames;
done:
    pthread_mutex_unlock(&db->lock);
    return rc;
}

static const char *name_of(burrow_db *db, burrow_bucket b)
{
    pthread_mutex_lock(&db->lock);
    const char *n = b >= 1 && b <= db->nnames ? db->names[b - 1] : NULL;
    pthread_mutex_unlock(&db->lock);
    return n;
}

int txn_bucket(burrow_txn *t, burrow_bucket b, bstate **out)
{
    if (t->child) return diag_set(BURROW_EBUSY, "txn has a live child txn");
    if (b < t->nbk && t->bk[b].loaded && b > 0) { /* the common case: no lock */
        *out = &t->bk[b];
        return 0;
    }
    const char *name = name_of(t->db, b);
    if (!name) return diag_set(BURROW_EINVAL, "no bucket handle %u", b);
    if (b >= t->nbk) {
        uint32_t cap = t->nbk;
        while (cap <= b) cap *= 2;
        bstate *v = realloc(t->bk, cap * sizeof *v);
        if (!v) return diag_set(BURROW_ENOMEM, "out of memory");
        memset(v + t->nbk, 0, (cap - t->nbk) * sizeof *v);
        t->bk = v;
        t->nbk = cap;
    }
    bstate *bs = &t->bk[b];
    if (!bs->loaded) {
        burrow_val v;
        int rc = bt_get(t, &t->bk[0].rec, name, strlen(name), &v);
        if (rc == 0) {
            if (v.size != BUCKET_REC_SIZE)
                return diag_set(BURROW_ECORRUPT, "catalog: record of bucket '%s' has %zu bytes", name, v.size);
            bucket_rec_load(&bs->rec, v.data);
            bs->exists = bs->existed = true;
        } else if (rc != BURROW_ENOTFOUND) {
            return rc;
        }
        bs->loaded = true;
    }
    *out = bs;
    return 0;
}

int burrow_bucket_open(burrow_txn *t, const char *name, unsigned flags, burrow_bucket *out)
{
    diag_clear();
    if (!t || !name || !out) return diag_set(BURROW_EINVAL, "bucket_open: txn, name and out are required");
    size_t len = strlen(name);
    if (len == 0 || len > 255) return diag_set(BURROW_EINVAL, "bucket name must be 1..255 bytes, not %zu", len);
    burrow_bucket b = 0;
    int rc = name_intern(t->db, name, &b);
    bstate *bs;
    if (rc || (rc = txn_bucket(t, b, &bs))) return rc;
    if (!bs->exists) {
        if (!(flags & BURROW_CREATE)) return diag_set(BURROW_ENOTFOUND, "no bucket '%s'", name);
        if ((rc = txn_writable(t))) return rc;
        uint8_t rec[BUCKET_REC_SIZE] = {0};
        rc = bt_put(t, &t->bk[0], name, len, rec, sizeof rec, BURROW_NOOVERWRITE);
        if (rc) return rc;
        bs->exists = bs->dirty = true;
        bs->rec = (bucket_rec){0};
        bs->modcount++;
    }
    *out = b;
    return 0;
}

int burrow_bucket_drop(burrow_txn *t, burrow_bucket b)
{
    diag_clear();
    if (!t) return diag_set(BURROW_EINVAL, "txn is NULL");
    int rc = txn_writable(t);
    bstate *bs;
    if (rc || (rc = txn_bucket(t, b, &bs))) return rc;
    if (!bs->exists) return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    const char *name = name_of(t->db, b);
    t->failed = true;
    if ((rc = bt_free_tree(t, &bs->rec))) return rc;
    if ((rc = bt_del(t, &t->bk[0], name, strlen(name)))) return rc;
    bs->rec = (bucket_rec){0};
    bs->exists = false;
    bs->dirty = true;
    bs->modcount++;
    t->failed = false;
    return 0;
}

int burrow_bucket_list(burrow_txn *t, int (*fn)(void *ctx, const char *name), void *ctx)
{
    diag_clear();
    if (!t || !fn) return diag_set(BURROW_EINVAL, "bucket_list: txn and fn are required");
    if (t->child) return diag_set(BURROW_EBUSY, "txn has a live child txn");
    bt_path path;
    int rc = bt_first(t, &t->bk[0].rec, &path, false);
    char name[256];
    while (rc == 0) {
        lcell c;
        leaf_cell_at(path.page[path.depth - 1], path.idx[path.depth - 1], &c);
        if (c.klen == 0 || c.klen > 255 || memchr(c.key, 0, c.klen))
            return diag_set(BURROW_ECORRUPT, "catalog: malformed bucket name");
        memcpy(name, c.key, c.klen);
        name[c.klen] = '\0';
        if ((rc = fn(ctx, name))) return rc;
        rc = bt_step(t, &path, 1);
    }
    return rc == BURROW_ENOTFOUND ? 0 : rc;
}

/* ---- keys and values ------------------------------------------------------ */

static int check_key(burrow_txn *t, const void *key, size_t klen)
{
    if (!key && klen) return diag_set(BURROW_EINVAL, "key is NULL");
    if (klen > t->db->max_key)
        return diag_set(BURROW_EKEYSIZE, "key of %zu bytes exceeds the limit of %zu", klen, t->db->max_key);
    return 0;
}

int burrow_get(burrow_txn *t, burrow_bucket b, const void *key, size_t klen, burrow_val *val)
{
    diag_clear();
    if (!t || !val) return diag_set(BURROW_EINVAL, "get: txn and val are required");
    bstate *bs;
    int rc = check_key(t, key, klen);
    if (rc || (rc = txn_bucket(t, b, &bs))) return rc;
    if (!bs->exists) return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    return bt_get(t, &bs->rec, key, klen, val);
}

int burrow_put(burrow_txn *t, burrow_bucket b, const void *key, size_t klen, const void *val,
               size_t vlen, unsigned flags)
{
    diag_clear();
    if (!t) return diag_set(BURROW_EINVAL, "put: txn is NULL");
    if (!val && vlen) return diag_set(BURROW_EINVAL, "put: value is NULL");
    if (vlen > BURROW_MAX_VALUE_SIZE)
        return diag_set(BURROW_EVALSIZE, "value of %zu bytes exceeds the limit of %zu", vlen,
                        (size_t)BURROW_MAX_VALUE_SIZE);
    if (flags & ~BURROW_NOOVERWRITE) return diag_set(BURROW_EINVAL, "put: unknown flags 0x%x", flags);
    bstate *bs;
    int rc = txn_writable(t);
    if (rc || (rc = check_key(t, key, klen)) || (rc = txn_bucket(t, b, &bs))) return rc;
    if (!bs->exists) return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    return bt_put(t, bs, key, klen, val, vlen, flags);
}

int burrow_del(burrow_txn *t, burrow_bucket b, const void *key, size_t klen)
{
    diag_clear();
    if (!t) return diag_set(BURROW_EINVAL, "del: txn is NULL");
    bstate *bs;
    int rc = txn_writable(t);
    if (rc || (rc = check_key(t, key, klen)) || (rc = txn_bucket(t, b, &bs))) return rc;
    if (!bs->exists) return diag_set(BURROW_ENOTFOUND, "bucket does not exist in this txn");
    return bt_del(t, bs, key, klen);
}
