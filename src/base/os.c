/*
 * os.c — the default OS layer: POSIX calls behind the burrow_os table.
 *
 * This is the only file in the library that calls open, pread, pwrite,
 * fdatasync, mmap, ftruncate, flock, rename or unlink. Everything above goes through a
 * burrow_os table so tests can swap in a fault-injecting implementation.
 */
#include "burrow.h"
#include "base/tmpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int os_open(void *ctx, const char *path, int flags, int mode)
{
    (void)ctx;
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

static int os_close(void *ctx, int fd)
{
    (void)ctx;
    return close(fd) < 0 ? -errno : 0;
}

static ssize_t os_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (n == 0) break; /* end of file: the caller sees a short count */
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static ssize_t os_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    (void)ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int os_sync(void *ctx, int fd)
{
    (void)ctx;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int os_size(void *ctx, int fd, uint64_t *out)
{
    (void)ctx;
    struct stat st;
    if (fstat(fd, &st) < 0) return -errno;
    *out = (uint64_t)st.st_size;
    return 0;
}

static int os_truncate(void *ctx, int fd, uint64_t size)
{
    (void)ctx;
    return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
}

static int os_mmap(void *ctx, int fd, uint64_t len, void **out)
{
    (void)ctx;
    void *p = mmap(NULL, (size_t)len, PROT_READ, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) return -errno;
    /* B+tree lookups jump around the file: the kernel's default readahead
     * turns a cold 4 KiB read into a 128 KiB one. */
    (void)madvise(p, (size_t)len, MADV_RANDOM);
    *out = p;
    return 0;
}

static int os_munmap(void *ctx, void *addr, uint64_t len)
{
    (void)ctx;
    return munmap(addr, (size_t)len) < 0 ? -errno : 0;
}

static int os_lock(void *ctx, int fd, int exclusive)
{
    (void)ctx;
    if (flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) return -errno;
    return 0;
}

static int os_rename(void *ctx, const char *from, const char *to)
{
    (void)ctx;
    return rename(from, to) < 0 ? -errno : 0;
}

static int os_unlink(void *ctx, const char *path)
{
    (void)ctx;
    return unlink(path) < 0 ? -errno : 0;
}

static int os_sync_dir(void *ctx, const char *path)
{
    (void)ctx;
    /* the directory part of path, or "." when it has none */
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) >= sizeof dir)
        return -ENAMETOOLONG;
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    /* some file systems cannot sync a directory; the rename is still atomic */
    return rc == -EINVAL ? 0 : rc;
}

static const burrow_os os_default = {
    .ctx = NULL,
    .open = os_open,
    .close = os_close,
    .pread = os_pread,
    .pwrite = os_pwrite,
    .sync = os_sync,
    .size = os_size,
    .truncate = os_truncate,
    .mmap = os_mmap,
    .munmap = os_munmap,
    .lock = os_lock,
    .rename = os_rename,
    .unlink = os_unlink,
    .sync_dir = os_sync_dir,
};

const burrow_os *burrow_os_default(void) { return &os_default; }

/* ---- scratch directories (tmpdir.h) ---------------------------------------- */

char *os_make_temp_dir(const char *prefix)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "/tmp/%s-", prefix ? prefix : "burrow");
    if (n < 0 || (size_t)n + 7 > sizeof path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    /* mkdtemp replaces the last six characters, which must be 'X' */
    memset(path + n, 'X', 6);
    path[n + 6] = 0;
    if (!mkdtemp(path)) return NULL;
    char *out = strdup(path);
    if (!out) errno = ENOMEM;
    return out;
}
