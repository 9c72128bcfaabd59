/* err.c — burrow_strerror() and the per-thread diagnostics record. */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char diag_text[512];

int diag_set(int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(diag_text, sizeof diag_text, fmt, ap);
    va_end(ap);
    return err;
}

void diag_clear(void) { diag_text[0] = '\0'; }

const char *burrow_errmsg(void) { return diag_text; }

const char *burrow_strerror(int err)
{
    switch (err) {
    case BURROW_OK: return "success";
    case BURROW_ENOTFOUND: return "not found";
    case BURROW_EEXIST: return "already exists";
    case BURROW_ECORRUPT: return "database file is corrupt";
    case BURROW_EVERSION: return "unsupported database format version";
    case BURROW_ENOTDB: return "not a BurrowDB database file";
    case BURROW_EINVAL: return "invalid argument";
    case BURROW_ELOCKED: return "database is locked by another process";
    case BURROW_EREADONLY: return "write in a read-only transaction or database";
    case BURROW_EBUSY: return "busy: transaction has a live child, or database has live transactions";
    case BURROW_EKEYSIZE: return "key too long";
    case BURROW_EVALSIZE: return "value too large";
    case BURROW_ETXNDONE: return "transaction has failed and can only be aborted";
    case BURROW_ENOMEM: return "out of memory";
    case BURROW_EFULL: return "full: the file reached its maximum size, or the hot tier has no room";
    case BURROW_EIO: return "I/O error; the database must be reopened";
    case BURROW_EJSON: return "invalid JSON";
    case BURROW_ECONSTRAINT: return "constraint violated";
    case BURROW_ETYPE: return "wrong type";
    case BURROW_ERANGE: return "number out of range";
    case BURROW_ECANCELED: return "cancelled by a progress callback";
    default: break;
    }
    if (err < 0 && err > -4096) return strerror(-err);
    return "unknown error";
}
