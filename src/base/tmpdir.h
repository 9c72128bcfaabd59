/*
 * tmpdir.h — a fresh private directory under /tmp (mkdtemp), for the
 * shell's scratch database and the tests' scratch files. Implemented in
 * os.c, the only file that makes filesystem calls.
 */
#ifndef BURROW_BASE_TMPDIR_H
#define BURROW_BASE_TMPDIR_H

/* Create /tmp/<prefix>-<six random characters> (mode 0700) and return its
 * path (malloc'd, the caller frees it), or NULL with errno set. prefix may
 * be NULL ("burrow"). */
char *os_make_temp_dir(const char *prefix);

#endif
