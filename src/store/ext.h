/*
 * ext.h — what store/ offers the layers above it beyond burrow.h: a slot on
 * the database handle for their own state (query/'s collection cache,
 * tier/'s hot documents), so that state lives and dies with the handle.
 * store/ never looks inside.
 */
#ifndef BURROW_STORE_EXT_H
#define BURROW_STORE_EXT_H

#include "burrow.h"

enum db_ext_slot { DB_EXT_QUERY = 0, DB_EXT_TIER = 1, DB_EXT_COUNT = 2 };

/* The state in slot, created with make() on first use (under the handle's
 * lock, so exactly once) and destroyed with destroy() by burrow_close.
 * Returns NULL when make is NULL or fails. The state must do its own
 * locking: any thread with a txn on the handle may call this. */
void *db_ext_get(burrow_db *db, int slot, void *(*make)(burrow_db *db),
                 void (*destroy)(void *));

/* options.hot_memory of the open call. */
size_t db_hot_memory(const burrow_db *db);
/* The options of the open call (defaults filled in); valid while the handle
 * is open. For the hot tier's policy and thresholds. */
const burrow_options *db_open_options(const burrow_db *db);
/* The last published commit id. Only for a make() of db_ext_get, which
 * runs with the handle's lock held: a commit is published under that lock,
 * so what make() builds sees every commit up to this one and none after. */
uint64_t db_last_commit_locked(const burrow_db *db);

/* Per-transaction state of an upper layer, on a top-level write txn: what
 * it wrote, to act on when the commit becomes visible. */
typedef struct txn_ext_ops {
    /* The commit txnid is durable (as the sync mode promises) and about to
     * become visible: no reader can see it yet. Cannot fail. Runs on the
     * committing thread with the writer lock held. */
    void (*before_publish)(void *state, uint64_t txnid);
    /* The txn ended (committed or not): release state. */
    void (*end)(void *state);
} txn_ext_ops;

/* The slot of the top-level txn above t (t itself when it is top-level),
 * for a write txn; NULL for a read-only txn. *slot is NULL until the layer
 * stores its state there; set *ops at the same time. */
void **txn_ext_slot(burrow_txn *t, int slot, const txn_ext_ops ***ops);

#endif
