/*
 * fault_os.c — the fault-injecting OS layer for the crash and power-loss
 * tests. See fault_os.h for what it simulates.
 *
 * Invariants:
 *  - files[] holds one record per (device, inode) ever opened through fo;
 *    fd_file[fd] points at the record of each descriptor open through fo.
 *  - A record's muts[] are the mutations (writes, truncates) that went
 *    through since that file's last successful sync, oldest first. Undoing
 *    them newest first (write back each pre-image, truncate back to each
 *    size_before) yields exactly the file as of that sync; this is how
 *    fault_os_power_cut() finds the synced state before replaying the
 *    surviving mutations oldest first.
 *  - Once crashed, no call reaches the file.
 */
#include "fault_os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#define SECTOR 512u

enum { MUT_WRITE, MUT_TRUNCATE };

typedef struct fo_mut {
    int kind;
    uint64_t off;         /* write: offset; truncate: the new size */
    uint64_t len;         /* write: length of data */
    uint64_t size_before; /* file size just before this mutation */
    unsigned char *data;  /* write: the bytes written */
    unsigned char *pre;   /* bytes overwritten ([off, off+pre_len)) or cut off by a
                             shrinking truncate ([new size, size_before)) */
    uint64_t pre_len;
} fo_mut;

typedef struct fo_file {
    dev_t dev;
    ino_t ino;
    char *path;
    fo_mut *muts;
    size_t nmuts, cap;
} fo_file;

typedef struct fo_map {
    void *addr;
    uint64_t len;
} fo_map;

struct fault_os {
    burrow_os table; /* table.ctx == this */
    const burrow_os *base;
    pthread_mutex_t mu;
    tu_rng rng;
    int real_sync;
    int trace;

    uint64_t counts[FAULT_OP_COUNT];
    uint64_t mutations;

    int crash_armed;
    int crash_syncs_only; /* count only syncs towards the crash */
    uint64_t crash_left;
    int crashed;

    int fail_active;
    enum fault_op fail_op;
    uint64_t fail_skip;
    int fail_err;
    unsigned fail_flags;
    uint64_t fail_fired;

    fault_cut_policy policy;
    fault_cut_filter filter;
    void *filter_ctx;

    fo_file **files;
    size_t nfiles, files_cap;
    fo_file **fd_file;
    int fd_cap;
    int open_files;
    fo_map *maps;
    size_t nmaps, maps_cap;
};

static const char *const op_names[FAULT_OP_COUNT] = {
    "open", "close", "pread", "pwrite", "sync", "size", "truncate", "mmap", "munmap", "lock",
};

const char *fault_op_name(enum fault_op op)
{
    return (unsigned)op < FAULT_OP_COUNT ? op_names[op] : "?";
}

static void oom(void)
{
    fprintf(stderr, "fault_os: out of memory\n");
    abort();
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);
    if (q == NULL) oom();
    return q;
}

/* Account one call of op and decide whether it may run: 0 to go on, 1 to
 * perform a short write, or the negated errno to return. Called locked. */
static int gate(fault_os *fo, enum fault_op op, int is_mutation)
{
    fo->counts[op]++;
    if (fo->crashed) return -EIO;
    if (is_mutation && fo->crash_armed && (!fo->crash_syncs_only || op == FAULT_OP_SYNC)) {
        if (fo->crash_left == 0) {
            fo->crashed = 1;
            fo->crash_armed = 0;
            if (fo->trace) fprintf(stderr, "fault_os: CRASH at %s\n", op_names[op]);
            return -EIO;
        }
        fo->crash_left--;
    }
    if (fo->fail_active && fo->fail_op == op) {
        if (fo->fail_skip > 0) {
            fo->fail_skip--;
        } else {
            fo->fail_fired++;
            if (!(fo->fail_flags & FAULT_STICKY)) fo->fail_active = 0;
            if (fo->trace)
                fprintf(stderr, "fault_os: injected failure of %s (%s)\n", op_names[op],
                        (fo->fail_flags & FAULT_SHORT) ? "short" : "error");
            if ((fo->fail_flags & FAULT_SHORT) && op == FAULT_OP_PWRITE) return 1;
            return fo->fail_err < 0 ? fo->fail_err : -EIO;
        }
    }
    return 0;
}

static fo_file *file_of_fd(fault_os *fo, int fd)
{
    if (fd < 0 || fd >= fo->fd_cap) return NULL;
    return fo->fd_file[fd];
}

static fo_mut *push_mut(fo_file *f)
{
    if (f->nmuts == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 16;
        f->muts = xrealloc(f->muts, f->cap * sizeof *f->muts);
    }
    fo_mut *m = &f->muts[f->nmuts++];
    memset(m, 0, sizeof *m);
    return m;
}

static void clear_muts(fo_file *f)
{
    for (size_t i = 0; i < f->nmuts; i++) {
        free(f->muts[i].data);
        free(f->muts[i].pre);
    }
    f->nmuts = 0;
}

/* Read [off, off+len) of the file as it is now, clipped to its size. */
static unsigned char *read_pre(fault_os *fo, int fd, uint64_t off, uint64_t len,
                               uint64_t size_before, uint64_t *pre_len)
{
    *pre_len = 0;
    if (off >= size_before || len == 0) return NULL;
    uint64_t n = size_before - off;
    if (n > len) n = len;
    unsigned char *buf = xrealloc(NULL, (size_t)n);
    ssize_t got = fo->base->pread(fo->base->ctx, fd, buf, (size_t)n, off);
    if (got < 0) {
        fprintf(stderr, "fault_os: cannot read the pre-image (fd %d): %s\n", fd,
                strerror((int)-got));
        abort(); /* the test itself is broken: it must be able to undo */
    }
    if ((uint64_t)got < n) memset(buf + got, 0, (size_t)(n - (uint64_t)got));
    *pre_len = n;
    return buf;
}

static uint64_t real_size(fault_os *fo, int fd)
{
    uint64_t sz = 0;
    int rc = fo->base->size(fo->base->ctx, fd, &sz);
    if (rc < 0) {
        fprintf(stderr, "fault_os: cannot stat fd %d: %s\n", fd, strerror(-rc));
        abort();
    }
    return sz;
}

/* ---- the table --------------------------------------------------------- */

static int fo_open(void *ctx, const char *path, int flags, int mode)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int rc = gate(fo, FAULT_OP_OPEN, 0);
    if (rc != 0) goto out;
    rc = fo->base->open(fo->base->ctx, path, flags, mode);
    if (rc < 0) goto out;
    int fd = rc;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        fo->base->close(fo->base->ctx, fd);
        goto out;
    }
    fo_file *f = NULL;
    for (size_t i = 0; i < fo->nfiles; i++) {
        if (fo->files[i]->dev == st.st_dev && fo->files[i]->ino == st.st_ino) {
            f = fo->files[i];
            break;
        }
    }
    if (f == NULL) {
        f = xrealloc(NULL, sizeof *f);
        memset(f, 0, sizeof *f);
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        f->path = strdup(path);
        if (f->path == NULL) oom();
        if (fo->nfiles == fo->files_cap) {
            fo->files_cap = fo->files_cap ? fo->files_cap * 2 : 4;
            fo->files = xrealloc(fo->files, fo->files_cap * sizeof *fo->files);
        }
        fo->files[fo->nfiles++] = f;
    }
    if (fd >= fo->fd_cap) {
        int ncap = fo->fd_cap ? fo->fd_cap : 64;
        while (ncap <= fd) ncap *= 2;
        fo->fd_file = xrealloc(fo->fd_file, (size_t)ncap * sizeof *fo->fd_file);
        memset(fo->fd_file + fo->fd_cap, 0, (size_t)(ncap - fo->fd_cap) * sizeof *fo->fd_file);
        fo->fd_cap = ncap;
    }
    fo->fd_file[fd] = f;
    fo->open_files++;
out:
    if (fo->trace) fprintf(stderr, "fault_os: open %s -> %d\n", path, rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static int fo_close(void *ctx, int fd)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int rc = gate(fo, FAULT_OP_CLOSE, 0);
    /* Even a crashed machine's descriptors go away; release the real one so
     * thousands of rounds do not leak, but report the failure. */
    int real = fo->base->close(fo->base->ctx, fd);
    if (real == 0 && fd >= 0 && fd < fo->fd_cap && fo->fd_file[fd] != NULL) {
        fo->fd_file[fd] = NULL;
        fo->open_files--;
    }
    if (rc == 0) rc = real;
    if (fo->trace) fprintf(stderr, "fault_os: close %d -> %d\n", fd, rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static ssize_t fo_pread(void *ctx, int fd, void *buf, size_t len, uint64_t off)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    ssize_t rc = gate(fo, FAULT_OP_PREAD, 0);
    if (rc == 0) rc = fo->base->pread(fo->base->ctx, fd, buf, len, off);
    if (fo->trace)
        fprintf(stderr, "fault_os: pread fd=%d off=%llu len=%zu -> %zd\n", fd,
                (unsigned long long)off, len, rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static ssize_t fo_pwrite(void *ctx, int fd, const void *buf, size_t len, uint64_t off)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int g = gate(fo, FAULT_OP_PWRITE, 1);
    ssize_t rc;
    if (g < 0) {
        rc = g;
        goto out;
    }
    size_t n = len;
    if (g == 1) { /* injected short write: a strict prefix */
        int sticky = (fo->fail_flags & FAULT_STICKY) != 0;
        if (len <= 1)
            n = 0;
        else
            n = (size_t)tu_range(&fo->rng, sticky ? 1 : 0, len - 1);
    }
    fo_file *f = file_of_fd(fo, fd);
    if (f != NULL && n > 0) {
        fo_mut *m = push_mut(f);
        m->kind = MUT_WRITE;
        m->off = off;
        m->len = n;
        m->size_before = real_size(fo, fd);
        m->pre = read_pre(fo, fd, off, n, m->size_before, &m->pre_len);
        m->data = xrealloc(NULL, n);
        memcpy(m->data, buf, n);
    }
    rc = n > 0 ? fo->base->pwrite(fo->base->ctx, fd, buf, n, off) : 0;
    if (rc >= 0) fo->mutations++;
out:
    if (fo->trace)
        fprintf(stderr, "fault_os: pwrite fd=%d off=%llu len=%zu -> %zd\n", fd,
                (unsigned long long)off, len, rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static int fo_sync(void *ctx, int fd)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int rc = gate(fo, FAULT_OP_SYNC, 1);
    if (rc == 0 && fo->real_sync) rc = fo->base->sync(fo->base->ctx, fd);
    if (rc == 0) {
        fo_file *f = file_of_fd(fo, fd);
        if (f != NULL) clear_muts(f);
        fo->mutations++;
    }
    if (fo->trace) fprintf(stderr, "fault_os: sync fd=%d -> %d\n", fd, rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static int fo_size(void *ctx, int fd, uint64_t *out)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int rc = gate(fo, FAULT_OP_SIZE, 0);
    if (rc == 0) rc = fo->base->size(fo->base->ctx, fd, out);
    if (fo->trace)
        fprintf(stderr, "fault_os: size fd=%d -> %d (%llu)\n", fd, rc,
                rc == 0 ? (unsigned long long)*out : 0ull);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static int fo_truncate(void *ctx, int fd, uint64_t size)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int rc = gate(fo, FAULT_OP_TRUNCATE, 1);
    if (rc != 0) goto out;
    fo_file *f = file_of_fd(fo, fd);
    if (f != NULL) {
        fo_mut *m = push_mut(f);
        m->kind = MUT_TRUNCATE;
        m->off = size;
        m->size_before = real_size(fo, fd);
        if (size < m->size_before)
            m->pre = read_pre(fo, fd, size, m->size_before - size, m->size_before, &m->pre_len);
    }
    rc = fo->base->truncate(fo->base->ctx, fd, size);
    if (rc == 0) fo->mutations++;
out:
    if (fo->trace)
        fprintf(stderr, "fault_os: truncate fd=%d size=%llu -> %d\n", fd, (unsigned long long)size,
                rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static int fo_mmap(void *ctx, int fd, uint64_t len, void **out)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int rc = gate(fo, FAULT_OP_MMAP, 0);
    if (rc == 0) rc = fo->base->mmap(fo->base->ctx, fd, len, out);
    if (rc == 0) {
        if (fo->nmaps == fo->maps_cap) {
            fo->maps_cap = fo->maps_cap ? fo->maps_cap * 2 : 4;
            fo->maps = xrealloc(fo->maps, fo->maps_cap * sizeof *fo->maps);
        }
        fo->maps[fo->nmaps].addr = *out;
        fo->maps[fo->nmaps].len = len;
        fo->nmaps++;
    }
    if (fo->trace)
        fprintf(stderr, "fault_os: mmap fd=%d len=%llu -> %d\n", fd, (unsigned long long)len, rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static int fo_munmap(void *ctx, void *addr, uint64_t len)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int rc = gate(fo, FAULT_OP_MUNMAP, 0);
    /* As with close: release the real mapping even after a crash. */
    int real = fo->base->munmap(fo->base->ctx, addr, len);
    if (real == 0) {
        for (size_t i = 0; i < fo->nmaps; i++) {
            if (fo->maps[i].addr == addr) {
                fo->maps[i] = fo->maps[--fo->nmaps];
                break;
            }
        }
    }
    if (rc == 0) rc = real;
    if (fo->trace)
        fprintf(stderr, "fault_os: munmap len=%llu -> %d\n", (unsigned long long)len, rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

static int fo_lock(void *ctx, int fd, int exclusive)
{
    fault_os *fo = ctx;
    pthread_mutex_lock(&fo->mu);
    int rc = gate(fo, FAULT_OP_LOCK, 0);
    if (rc == 0) rc = fo->base->lock(fo->base->ctx, fd, exclusive);
    if (fo->trace) fprintf(stderr, "fault_os: lock fd=%d excl=%d -> %d\n", fd, exclusive, rc);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}

/* ---- set-up ------------------------------------------------------------ */

fault_os *fault_os_new(const burrow_os *base, uint64_t seed)
{
    fault_os *fo = calloc(1, sizeof *fo);
    if (fo == NULL) return NULL;
    fo->base = base != NULL ? base : burrow_os_default();
    pthread_mutex_init(&fo->mu, NULL);
    tu_rng_seed(&fo->rng, seed);
    fo->policy.keep_percent = -1;
    fo->policy.tear = FAULT_TEAR_RANDOM;
    fo->policy.tear_percent = 50;
    fo->policy.per_sector = 0;
    const char *tr = getenv("FAULT_OS_TRACE");
    fo->trace = tr != NULL && *tr != '\0' && strcmp(tr, "0") != 0;
    fo->table = (burrow_os){
        .ctx = fo,
        .open = fo_open,
        .close = fo_close,
        .pread = fo_pread,
        .pwrite = fo_pwrite,
        .sync = fo_sync,
        .size = fo_size,
        .truncate = fo_truncate,
        .mmap = fo_mmap,
        .munmap = fo_munmap,
        .lock = fo_lock,
    };
    return fo;
}

void fault_os_free(fault_os *fo)
{
    if (fo == NULL) return;
    for (size_t i = 0; i < fo->nfiles; i++) {
        clear_muts(fo->files[i]);
        free(fo->files[i]->muts);
        free(fo->files[i]->path);
        free(fo->files[i]);
    }
    free(fo->files);
    free(fo->fd_file);
    free(fo->maps);
    pthread_mutex_destroy(&fo->mu);
    free(fo);
}

const burrow_os *fault_os_table(fault_os *fo) { return &fo->table; }

void fault_os_seed(fault_os *fo, uint64_t seed)
{
    pthread_mutex_lock(&fo->mu);
    tu_rng_seed(&fo->rng, seed);
    pthread_mutex_unlock(&fo->mu);
}

void fault_os_set_real_sync(fault_os *fo, int on) { fo->real_sync = on; }
void fault_os_set_trace(fault_os *fo, int on) { fo->trace = on; }

uint64_t fault_os_count(const fault_os *fo, enum fault_op op)
{
    return (unsigned)op < FAULT_OP_COUNT ? fo->counts[op] : 0;
}

uint64_t fault_os_mutations(const fault_os *fo) { return fo->mutations; }

void fault_os_reset_counts(fault_os *fo)
{
    pthread_mutex_lock(&fo->mu);
    memset(fo->counts, 0, sizeof fo->counts);
    fo->mutations = 0;
    pthread_mutex_unlock(&fo->mu);
}

int fault_os_open_files(const fault_os *fo) { return fo->open_files; }
int fault_os_live_maps(const fault_os *fo) { return (int)fo->nmaps; }

void fault_os_crash_after(fault_os *fo, uint64_t n)
{
    pthread_mutex_lock(&fo->mu);
    fo->crash_armed = 1;
    fo->crash_syncs_only = 0;
    fo->crash_left = n;
    pthread_mutex_unlock(&fo->mu);
}

void fault_os_crash_at_sync(fault_os *fo, uint64_t n)
{
    pthread_mutex_lock(&fo->mu);
    fo->crash_armed = 1;
    fo->crash_syncs_only = 1;
    fo->crash_left = n;
    pthread_mutex_unlock(&fo->mu);
}

void fault_os_crash_now(fault_os *fo)
{
    pthread_mutex_lock(&fo->mu);
    fo->crashed = 1;
    fo->crash_armed = 0;
    pthread_mutex_unlock(&fo->mu);
}

void fault_os_crash_clear(fault_os *fo)
{
    pthread_mutex_lock(&fo->mu);
    fo->crashed = 0;
    fo->crash_armed = 0;
    pthread_mutex_unlock(&fo->mu);
}

int fault_os_crashed(const fault_os *fo) { return fo->crashed; }

void fault_os_fail(fault_os *fo, enum fault_op op, uint64_t skip, int err, unsigned flags)
{
    pthread_mutex_lock(&fo->mu);
    fo->fail_active = 1;
    fo->fail_op = op;
    fo->fail_skip = skip;
    fo->fail_err = err;
    fo->fail_flags = flags;
    fo->fail_fired = 0;
    pthread_mutex_unlock(&fo->mu);
}

void fault_os_fail_clear(fault_os *fo)
{
    pthread_mutex_lock(&fo->mu);
    fo->fail_active = 0;
    pthread_mutex_unlock(&fo->mu);
}

uint64_t fault_os_fail_fired(const fault_os *fo) { return fo->fail_fired; }

void fault_os_set_cut_policy(fault_os *fo, const fault_cut_policy *p)
{
    pthread_mutex_lock(&fo->mu);
    fo->policy = *p;
    pthread_mutex_unlock(&fo->mu);
}

void fault_os_set_cut_filter(fault_os *fo, fault_cut_filter fn, void *ctx)
{
    pthread_mutex_lock(&fo->mu);
    fo->filter = fn;
    fo->filter_ctx = ctx;
    pthread_mutex_unlock(&fo->mu);
}

uint64_t fault_os_unsynced(const fault_os *fo)
{
    uint64_t n = 0;
    for (size_t i = 0; i < fo->nfiles; i++) n += fo->files[i]->nmuts;
    return n;
}

void fault_os_forget_unsynced(fault_os *fo)
{
    pthread_mutex_lock(&fo->mu);
    for (size_t i = 0; i < fo->nfiles; i++) clear_muts(fo->files[i]);
    pthread_mutex_unlock(&fo->mu);
}

/* ---- power loss -------------------------------------------------------- */

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Rewind f to its synced state, then replay what survives. */
static int cut_file(fault_os *fo, fo_file *f, int keep_percent, enum fault_tear tear,
                    fault_cut_stats *st)
{
    int fd = open(f->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct stat sb;
    if (fstat(fd, &sb) < 0 || sb.st_dev != f->dev || sb.st_ino != f->ino) {
        /* The file was replaced or removed: nothing of ours to rewind. */
        close(fd);
        return 0;
    }
    int rc = 0;
    for (size_t k = f->nmuts; k-- > 0 && rc == 0;) {
        fo_mut *m = &f->muts[k];
        if (m->kind == MUT_WRITE) {
            if (m->pre_len > 0) rc = full_pwrite(fd, m->pre, (size_t)m->pre_len, m->off);
            if (rc == 0 && ftruncate(fd, (off_t)m->size_before) < 0) rc = -errno;
        } else {
            if (ftruncate(fd, (off_t)m->size_before) < 0) rc = -errno;
            if (rc == 0 && m->pre_len > 0) rc = full_pwrite(fd, m->pre, (size_t)m->pre_len, m->off);
        }
    }
    size_t last_write = (size_t)-1;
    for (size_t k = 0; k < f->nmuts; k++)
        if (f->muts[k].kind == MUT_WRITE) last_write = k;
    for (size_t k = 0; k < f->nmuts && rc == 0; k++) {
        fo_mut *m = &f->muts[k];
        st->unsynced++;
        if (fo->filter != NULL) {
            int keep = fo->filter(fo->filter_ctx, m->off, m->kind == MUT_WRITE ? m->len : 0,
                                  m->kind == MUT_TRUNCATE);
            if (!keep) {
                st->dropped++;
                continue;
            }
            st->kept++;
            if (m->kind == MUT_TRUNCATE) {
                if (ftruncate(fd, (off_t)m->off) < 0) rc = -errno;
            } else {
                rc = full_pwrite(fd, m->data, (size_t)m->len, m->off);
            }
            continue;
        }
        if (m->kind == MUT_TRUNCATE) {
            if (tu_chance(&fo->rng, (unsigned)keep_percent, 100)) {
                st->kept++;
                if (ftruncate(fd, (off_t)m->off) < 0) rc = -errno;
            } else {
                st->dropped++;
            }
            continue;
        }
        if (fo->policy.per_sector) {
            /* Each 512-byte sector (aligned in the file) survives on its own. */
            uint64_t pos = m->off, end = m->off + m->len;
            unsigned kept = 0, pieces = 0;
            while (pos < end && rc == 0) {
                uint64_t next = (pos / SECTOR + 1) * SECTOR;
                if (next > end) next = end;
                pieces++;
                if (tu_chance(&fo->rng, (unsigned)keep_percent, 100)) {
                    kept++;
                    rc = full_pwrite(fd, m->data + (pos - m->off), (size_t)(next - pos), pos);
                }
                pos = next;
            }
            if (kept == pieces)
                st->kept++;
            else if (kept == 0)
                st->dropped++;
            else
                st->torn++;
            continue;
        }
        if (!tu_chance(&fo->rng, (unsigned)keep_percent, 100)) {
            st->dropped++;
            continue;
        }
        uint64_t n = m->len;
        if (k == last_write && tear != FAULT_TEAR_NONE &&
            tu_chance(&fo->rng, (unsigned)fo->policy.tear_percent, 100)) {
            enum fault_tear t = tear;
            if (t == FAULT_TEAR_RANDOM)
                t = tu_chance(&fo->rng, 1, 2) ? FAULT_TEAR_SECTOR : FAULT_TEAR_BYTE;
            if (t == FAULT_TEAR_BYTE) {
                n = tu_below(&fo->rng, m->len);
            } else {
                /* End at a sector boundary strictly inside the write, or at its start. */
                uint64_t first = (m->off / SECTOR + 1) * SECTOR;
                uint64_t end = m->off + m->len;
                if (first >= end) {
                    n = 0;
                } else {
                    uint64_t choices = (end - 1 - first) / SECTOR + 1; /* boundaries < end */
                    uint64_t pick = tu_below(&fo->rng, choices + 1);
                    n = pick == 0 ? 0 : first + (pick - 1) * SECTOR - m->off;
                }
            }
        }
        if (n < m->len)
            st->torn++;
        else
            st->kept++;
        if (n > 0) rc = full_pwrite(fd, m->data, (size_t)n, m->off);
    }
    if (close(fd) < 0 && rc == 0) rc = -errno;
    return rc;
}

int fault_os_power_cut(fault_os *fo, fault_cut_stats *st)
{
    fault_cut_stats local;
    if (st == NULL) st = &local;
    memset(st, 0, sizeof *st);
    pthread_mutex_lock(&fo->mu);
    int keep = fo->policy.keep_percent;
    if (keep < 0) keep = (int)tu_below(&fo->rng, 5) * 25;
    if (keep > 100) keep = 100;
    enum fault_tear tear = fo->policy.tear;
    int rc = 0;
    for (size_t i = 0; i < fo->nfiles; i++) {
        fo_file *f = fo->files[i];
        if (f->nmuts == 0) continue;
        st->files++;
        int r = cut_file(fo, f, keep, tear, st);
        if (r < 0 && rc == 0) rc = r;
        clear_muts(f);
    }
    fo->crashed = 0;
    fo->crash_armed = 0;
    if (fo->trace)
        fprintf(stderr,
                "fault_os: power cut keep=%d%%: %u unsynced, %u kept, %u dropped, %u torn\n", keep,
                st->unsynced, st->kept, st->dropped, st->torn);
    pthread_mutex_unlock(&fo->mu);
    return rc;
}
