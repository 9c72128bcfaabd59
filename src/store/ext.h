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
void *db_ext_get(burrow_db *db, int slot, void *(*make)(void), void (*destroy)(void *));

#endif
