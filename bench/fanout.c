/*
 * fanout.c — pub/sub fan-out: deliveries per second from one publisher to
 * N subscribers of one channel, against any server that speaks RESP2
 * (burrowd, redis-server).
 *
 *   fanout --port P [--host 127.0.0.1] [--subscribers 1000] [--messages M]
 *          [--size 32] [--runs 3] [--per-source 5000] [--channel NAME]
 *          [--timeout 300]
 *
 * What happens:
 *
 * 1. N subscriber connections are opened (conn.c: spread over 127.0.0.2,
 *    127.0.0.3, ..., per-source each), each sends SUBSCRIBE NAME and must
 *    read back exactly the RESP2 confirmation `*3 subscribe NAME :1`.
 * 2. A run: one publisher connection (from 127.0.0.1) writes M PUBLISH
 *    commands back to back (pipelined: it never waits for a reply before
 *    sending the next), as fast as the socket takes them, and reads the
 *    replies as they come. The clock starts before its first write and stops
 *    when the last subscriber has read the last byte of the last message.
 *    deliveries/s = M * N / that time.
 * 3. Every subscriber must receive exactly the byte stream it is owed: M
 *    RESP2 frames `*3 $7 message $len NAME $size PAYLOAD`, in order, where
 *    PAYLOAD is the message's sequence number (16 decimal digits, unique
 *    across runs) padded with 'p' to --size bytes. Each read is compared
 *    with the expected bytes at that subscriber's offset, so a lost,
 *    duplicated, reordered or corrupted message fails the run (exit 1)
 *    instead of inflating the rate. Each PUBLISH reply must be `:N`; a
 *    different count is reported (a server may count receivers otherwise)
 *    but does not fail the run.
 * 4. Runs repeat on the same subscribers (--runs); the median is printed.
 *
 * The client is one thread with one epoll set; its CPU share is printed per
 * run, so a reader can see whether the client, not the server, was the
 * limit (a share near 100% of one core means it may have been).
 *
 * Output: human-readable lines, then one line for scripts:
 *   RESULT median=<deliveries/s> runs=<a,b,c> publish_replies=<ok|text>
 *          client_cpu=<max share over the runs, %>
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

#define RECV_BUF (256 * 1024)
#define SEQ_DIGITS 16

static struct {
    const char *host;
    int port;
    size_t subscribers;
    size_t messages;
    size_t size;
    int runs;
    size_t per_source;
    const char *channel;
    int timeout_s;
} opt = {"127.0.0.1", 0, 1000, 0, 32, 3, 5000, "bench-fanout", 300};

/* A growable byte string. */
typedef struct {
    char *p;
    size_t len, cap;
} bytes;

static void bytes_add(bytes *b, const void *data, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "fanout: out of memory\n");
            exit(2);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void bytes_printf(bytes *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bytes_printf(bytes *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        fprintf(stderr, "fanout: internal formatting overflow\n");
        exit(2);
    }
    bytes_add(b, tmp, (size_t)n);
}

static void payload(char *out, uint64_t seq) {
    char digits[SEQ_DIGITS + 1];
    snprintf(digits, sizeof digits, "%0*" PRIu64, SEQ_DIGITS, seq);
    memcpy(out, digits, SEQ_DIGITS);
    memset(out + SEQ_DIGITS, 'p', opt.size - SEQ_DIGITS);
}

/* The publisher's command stream and every subscriber's expected stream for
 * messages first..first+M. */
static void build_streams(uint64_t first, bytes *pub, bytes *sub) {
    size_t cl = strlen(opt.channel);
    char *pl = malloc(opt.size);
    if (!pl) exit(2);
    pub->len = sub->len = 0;
    for (size_t k = 0; k < opt.messages; k++) {
        payload(pl, first + k);
        bytes_printf(pub, "*3\r\n$7\r\nPUBLISH\r\n$%zu\r\n%s\r\n$%zu\r\n", cl, opt.channel,
                     opt.size);
        bytes_add(pub, pl, opt.size);
        bytes_add(pub, "\r\n", 2);
        bytes_printf(sub, "*3\r\n$7\r\nmessage\r\n$%zu\r\n%s\r\n$%zu\r\n", cl, opt.channel,
                     opt.size);
        bytes_add(sub, pl, opt.size);
        bytes_add(sub, "\r\n", 2);
    }
    free(pl);
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* The publisher's side of a run: unsent commands and unparsed replies. */
typedef struct {
    int fd;
    const bytes *stream;
    size_t sent;
    size_t replies;
    char line[64]; /* the reply being read, up to its \r\n */
    size_t line_len;
    size_t mismatches;
    char first_mismatch[64];
    int want_out; /* EPOLLOUT registered */
} publisher;

/* Reads the publisher's replies: each must be ":<subscribers>\r\n". */
static int publisher_read(publisher *p, char *buf) {
    for (;;) {
        ssize_t r = recv(p->fd, buf, RECV_BUF, 0);
        if (r < 0) {
            if (errno == EAGAIN) return 0;
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) return -ECONNRESET;
        for (ssize_t i = 0; i < r; i++) {
            if (p->line_len < sizeof p->line - 1) p->line[p->line_len++] = buf[i];
            if (buf[i] != '\n') continue;
            p->line[p->line_len] = 0;
            char want[40];
            snprintf(want, sizeof want, ":%zu\r\n", opt.subscribers);
            if (strcmp(p->line, want) != 0) {
                if (p->mismatches++ == 0) {
                    p->line[strcspn(p->line, "\r\n")] = 0;
                    snprintf(p->first_mismatch, sizeof p->first_mismatch, "%s", p->line);
                }
            }
            p->replies++;
            p->line_len = 0;
        }
    }
}

static int publisher_write(publisher *p) {
    while (p->sent < p->stream->len) {
        ssize_t w = send(p->fd, p->stream->p + p->sent, p->stream->len - p->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) return 0;
            if (errno == EINTR) continue;
            return -errno;
        }
        p->sent += (size_t)w;
    }
    return 0;
}

typedef struct {
    double rate;      /* deliveries per second */
    double wall;      /* seconds until every subscriber had everything */
    double pub_done;  /* seconds until every PUBLISH reply was read */
    double cpu_share; /* client CPU seconds / wall */
} run_result;

/* One run. Subscribers' fds in subs[0..N); pub is the publisher's fd. */
static int run_once(int ep, const int *subs, int pubfd, const bytes *pstream,
                    const bytes *expected, size_t *pos, publisher *pubst, run_result *res) {
    size_t n = opt.subscribers;
    size_t total = expected->len;
    static char buf[RECV_BUF];
    for (size_t i = 0; i < n; i++) pos[i] = 0;
    *pubst = (publisher){.fd = pubfd, .stream = pstream};
    size_t done = 0;
    double t_last = 0, t_pub = 0;
    struct epoll_event evs[1024];

    double cpu0 = cpu_seconds();
    double t0 = conn_now();
    int rc = publisher_write(pubst);
    if (rc != 0) return rc;
    if (pubst->sent < pstream->len) {
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = n};
        epoll_ctl(ep, EPOLL_CTL_MOD, pubfd, &ev);
        pubst->want_out = 1;
    }
    double deadline = t0 + opt.timeout_s;
    while (done < n || pubst->replies < opt.messages) {
        int left = (int)((deadline - conn_now()) * 1000);
        if (left <= 0) {
            size_t short_by = 0;
            for (size_t i = 0; i < n; i++) short_by += total - pos[i];
            fprintf(stderr,
                    "fanout: timed out after %d s: %zu of %zu subscribers have every message "
                    "(%zu bytes missing in all); %zu of %zu PUBLISH replies read\n",
                    opt.timeout_s, done, n, short_by, pubst->replies, opt.messages);
            return -ETIMEDOUT;
        }
        int ne = epoll_wait(ep, evs, 1024, left);
        if (ne < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        for (int e = 0; e < ne; e++) {
            size_t i = (size_t)evs[e].data.u64;
            if (i == n) {
                if (evs[e].events & EPOLLOUT) {
                    rc = publisher_write(pubst);
                    if (rc == 0 && pubst->sent == pstream->len && pubst->want_out) {
                        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = n};
                        epoll_ctl(ep, EPOLL_CTL_MOD, pubfd, &ev);
                        pubst->want_out = 0;
                    }
                }
                if (rc == 0 && (evs[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                    rc = publisher_read(pubst, buf);
                if (rc != 0) {
                    fprintf(stderr, "fanout: publisher: %s\n", strerror(-rc));
                    return rc;
                }
                if (pubst->replies == opt.messages && t_pub == 0) t_pub = conn_now();
                continue;
            }
            for (;;) {
                ssize_t r = recv(subs[i], buf, RECV_BUF, 0);
                if (r < 0) {
                    if (errno == EAGAIN) break;
                    if (errno == EINTR) continue;
                    fprintf(stderr, "fanout: subscriber %zu: %s\n", i, strerror(errno));
                    return -errno;
                }
                if (r == 0) {
                    fprintf(stderr,
                            "fanout: subscriber %zu: the server closed the connection after "
                            "%zu of %zu bytes\n",
                            i, pos[i], total);
                    return -ECONNRESET;
                }
                if ((size_t)r > total - pos[i] || memcmp(buf, expected->p + pos[i], (size_t)r)) {
                    size_t at = pos[i];
                    size_t k = 0;
                    while (k < (size_t)r && at + k < total && buf[k] == expected->p[at + k]) k++;
                    fprintf(stderr,
                            "fanout: subscriber %zu: wrong bytes at offset %zu of this run's "
                            "stream (message %zu): got \"%.*s\"\n",
                            i, at + k, (at + k) / (total / opt.messages),
                            (int)((size_t)r - k < 60 ? (size_t)r - k : 60), buf + k);
                    return -EPROTO;
                }
                pos[i] += (size_t)r;
                if (pos[i] == total) {
                    done++;
                    t_last = conn_now();
                }
            }
        }
    }
    double cpu1 = cpu_seconds();
    res->wall = t_last - t0;
    res->pub_done = t_pub - t0;
    res->rate = (double)opt.messages * (double)n / res->wall;
    double all = (t_last > t_pub ? t_last : t_pub) - t0;
    res->cpu_share = (cpu1 - cpu0) / all;
    return 0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(void) {
    fprintf(stderr,
            "usage: fanout --port P [--host 127.0.0.1] [--subscribers N] [--messages M]\n"
            "              [--size BYTES] [--runs R] [--per-source K] [--channel NAME]\n"
            "              [--timeout SECONDS]\n"
            "  --messages defaults to 10,000,000 deliveries per run: max(10, 10^7 / N).\n");
}

static int parse_args(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help")) {
            usage();
            exit(0);
        }
        if (i + 1 >= argc) {
            usage();
            return -1;
        }
        const char *v = argv[++i];
        char *end = NULL;
        unsigned long long x = strtoull(v, &end, 10);
        int num_ok = end && *end == 0 && *v;
        if (!strcmp(a, "--host")) opt.host = v;
        else if (!strcmp(a, "--channel")) opt.channel = v;
        else if (!num_ok) {
            fprintf(stderr, "fanout: %s wants a number, not '%s'\n", a, v);
            return -1;
        } else if (!strcmp(a, "--port")) opt.port = (int)x;
        else if (!strcmp(a, "--subscribers")) opt.subscribers = x;
        else if (!strcmp(a, "--messages")) opt.messages = x;
        else if (!strcmp(a, "--size")) opt.size = x;
        else if (!strcmp(a, "--runs")) opt.runs = (int)x;
        else if (!strcmp(a, "--per-source")) opt.per_source = x;
        else if (!strcmp(a, "--timeout")) opt.timeout_s = (int)x;
        else {
            fprintf(stderr, "fanout: unknown option %s\n", a);
            usage();
            return -1;
        }
    }
    if (opt.port <= 0 || opt.port > 65535 || opt.subscribers == 0 || opt.runs < 1 ||
        opt.runs > 99 || opt.per_source == 0 || opt.size < SEQ_DIGITS || opt.size > 1 << 20 ||
        opt.timeout_s < 1 || strlen(opt.channel) == 0 || strlen(opt.channel) > 200) {
        fprintf(stderr, "fanout: bad options (--port is required; --size >= %d; --runs 1..99)\n",
                SEQ_DIGITS);
        return -1;
    }
    if (opt.messages == 0) {
        opt.messages = 10000000 / opt.subscribers;
        if (opt.messages < 10) opt.messages = 10;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) != 0) return 2;
    conn_target t = {.port = (uint16_t)opt.port};
    if (conn_parse_ipv4(opt.host, &t.addr) != 0) {
        fprintf(stderr, "fanout: --host must be an IPv4 address, not '%s'\n", opt.host);
        return 2;
    }
    if (conn_reserve_fds(opt.subscribers + 1) != 0) return 2;

    /* Everything below is released at `out`, on success and failure alike. */
    int status = 1;
    int *subs = NULL;
    size_t *pos = NULL;
    int pubfd = -1, ep = -1;
    bytes req = {0}, rep = {0}, pstream = {0}, expected = {0};
    double rates[99];
    size_t cl = strlen(opt.channel);
    bytes_printf(&req, "*2\r\n$9\r\nSUBSCRIBE\r\n$%zu\r\n%s\r\n", cl, opt.channel);
    bytes_printf(&rep, "*3\r\n$9\r\nsubscribe\r\n$%zu\r\n%s\r\n:1\r\n", cl, opt.channel);

    subs = malloc(opt.subscribers * sizeof *subs);
    pos = calloc(opt.subscribers, sizeof *pos);
    if (!subs || !pos) {
        status = 2;
        goto out;
    }
    for (size_t i = 0; i < opt.subscribers; i++) subs[i] = -1;
    double c0 = conn_now();
    int rc = conn_open_many(&t, opt.subscribers, opt.per_source, req.p, req.len, rep.p, rep.len,
                            30000, subs);
    if (rc != 0) {
        fprintf(stderr, "fanout: could not open and subscribe %zu connections: %s\n",
                opt.subscribers, strerror(-rc));
        goto out;
    }
    char last_src[16];
    conn_source_text(opt.subscribers - 1, opt.per_source, last_src);
    printf("fanout: %s:%d, %zu subscribers of channel '%s' (from 127.0.0.2 .. %s, %zu per "
           "address; subscribed in %.2f s)\n",
           opt.host, opt.port, opt.subscribers, opt.channel, last_src, opt.per_source,
           conn_now() - c0);

    pubfd = conn_open_one(&t);
    if (pubfd < 0) {
        fprintf(stderr, "fanout: publisher: %s\n", strerror(-pubfd));
        goto out;
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    status = 2;
    if (ep < 0) goto out;
    for (size_t i = 0; i < opt.subscribers; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, subs[i], &ev) != 0) goto out;
    }
    struct epoll_event pev = {.events = EPOLLIN, .data.u64 = opt.subscribers};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, pubfd, &pev) != 0) goto out;
    status = 1;

    double cpu_max = 0;
    size_t mismatches = 0;
    char first_mismatch[64] = "";
    publisher pubst;
    for (int r = 0; r < opt.runs; r++) {
        build_streams((uint64_t)r * opt.messages, &pstream, &expected);
        if (r == 0)
            printf("fanout: %zu messages of %zu bytes per run (%zu bytes per delivered frame), "
                   "%zu deliveries per run\n",
                   opt.messages, opt.size, expected.len / opt.messages,
                   opt.messages * opt.subscribers);
        run_result res = {0};
        rc = run_once(ep, subs, pubfd, &pstream, &expected, pos, &pubst, &res);
        if (rc != 0) {
            fprintf(stderr, "fanout: run %d failed: %s\n", r + 1, strerror(-rc));
            goto out;
        }
        if (pubst.mismatches && !mismatches)
            snprintf(first_mismatch, sizeof first_mismatch, "%s", pubst.first_mismatch);
        mismatches += pubst.mismatches;
        rates[r] = res.rate;
        if (res.cpu_share > cpu_max) cpu_max = res.cpu_share;
        printf("run %d: %.0f deliveries/s (every subscriber had every message after %.3f s; "
               "the publisher had every reply after %.3f s; client CPU %.0f%% of one core)\n",
               r + 1, res.rate, res.wall, res.pub_done, 100 * res.cpu_share);
        fflush(stdout);
    }
    double sorted[99];
    memcpy(sorted, rates, sizeof(double) * (size_t)opt.runs);
    qsort(sorted, (size_t)opt.runs, sizeof(double), cmp_double);
    printf("RESULT median=%.0f runs=", sorted[opt.runs / 2]);
    for (int r = 0; r < opt.runs; r++) printf("%s%.0f", r ? "," : "", rates[r]);
    if (mismatches)
        printf(" publish_replies=%zu_of_%zu_not_:%zu_(first:_%s)", mismatches,
               opt.messages * (size_t)opt.runs, opt.subscribers, first_mismatch);
    else
        printf(" publish_replies=ok");
    printf(" client_cpu=%.0f\n", 100 * cpu_max);

    status = 0;
out:
    if (subs) conn_close_all(subs, opt.subscribers, 1);
    conn_close_all(&pubfd, 1, 1);
    if (ep >= 0) close(ep);
    free(subs);
    free(pos);
    free(pstream.p);
    free(expected.p);
    free(req.p);
    free(rep.p);
    return status;
}
