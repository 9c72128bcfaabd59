/*
 * cmd_tier.h — what the data thread owes the TIER.* commands (cmd_tier.c).
 *
 * Promoting or pinning a document reads it in a read txn (burrow.h: a write
 * txn may hold uncommitted writes, which must never reach the hot tier).
 * A batch that writes runs its commands in a write txn, so TIER.PROMOTE and
 * TIER.PIN in such a batch check the documents in that txn (so they see the
 * batch's own writes and reply at once) and leave the promotion itself to
 * be done once the batch's txn has ended: the data thread calls
 * cmd_tier_batch_end then, after the commit (or the rollback), before it
 * takes the next batch.
 */
#ifndef BURROW_SERVER_CMD_TIER_H
#define BURROW_SERVER_CMD_TIER_H

#include "burrow.h"

/* Run the promotions and pins that commands of the batch just ended left
 * for after it, in a read txn of db's last commit, in the order they were
 * asked; then forget them. Call it on the data thread after every batch
 * whose txn was a write txn (it costs nothing when none is waiting). A
 * failure of one (the document is gone, no room) is skipped: the hot tier
 * is a cache, and the command's reply has been sent. Returns how many were
 * done. */
int cmd_tier_batch_end(burrow_db *db);

#endif
