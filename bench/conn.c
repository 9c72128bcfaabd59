/*
 * conn.c — many client connections to one server (see conn.h for why they
 * are spread over source addresses and opened in waves).
 *
 * A wave's connections go through these states, driven by one epoll set:
 *
 *     CONNECTING --writable, SO_ERROR 0--> SENDING --request written-->
 *     READING --reply_len bytes read and equal--> DONE
 *
 * Any error, a wrong reply or EOF fails the whole call: a benchmark that
 * silently measured fewer connections than it says would be worse than none.
 */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_CONNECTING, ST_SENDING, ST_READING, ST_DONE };

typedef struct {
    int fd;
    int state;
    size_t sent;
    size_t got;
} wave_conn;

double conn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int conn_parse_ipv4(const char *text, uint32_t *addr) {
    struct in_addr a;
    if (inet_pton(AF_INET, text, &a) != 1) return -EINVAL;
    *addr = ntohl(a.s_addr);
    return 0;
}

int conn_reserve_fds(size_t need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -errno;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -errno;
    }
    /* stdio, the epoll set, a publisher, a /proc file: 16 is plenty. */
    if (rl.rlim_cur != RLIM_INFINITY && need + 16 > rl.rlim_cur) {
        fprintf(stderr, "%zu connections need %zu descriptors; this process may open %llu\n",
                need, need + 16, (unsigned long long)rl.rlim_cur);
        return -EMFILE;
    }
    return 0;
}

void conn_source_text(size_t i, size_t per_source, char buf[16]) {
    size_t s = 2 + i / per_source;
    /* conn_open_many keeps s below 250 * 256, so this stays in 127.0.0.0/16. */
    snprintf(buf, 16, "127.0.%u.%u", (unsigned)((s / 256) & 255), (unsigned)(s & 255));
}

static int set_nodelay(int fd) {
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 ? 0 : -errno;
}

static void fill_addr(struct sockaddr_in *sa, uint32_t addr, uint16_t port) {
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(addr);
    sa->sin_port = htons(port);
}

/* Starts a non-blocking connect from source address `src`. */
static int start_connect(const conn_target *t, uint32_t src) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int one = 1;
    struct sockaddr_in sa;
    int rc = 0;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0) rc = -errno;
    fill_addr(&sa, src, 0);
    if (rc == 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) rc = -errno;
    if (rc == 0) rc = set_nodelay(fd);
    fill_addr(&sa, t->addr, t->port);
    if (rc == 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
        rc = -errno;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

/* Advances one connection as far as it goes without blocking. 0 while in
 * progress or done, negative on failure. */
static int step(wave_conn *c, const char *request, size_t request_len, const char *reply,
                size_t reply_len) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
        if (err == EINPROGRESS) return 0;
        if (err != 0) return -err;
        c->state = ST_SENDING;
    }
    while (c->state == ST_SENDING) {
        ssize_t w = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == ENOTCONN) return 0;
            if (errno == EINTR) continue;
            return -errno;
        }
        c->sent += (size_t)w;
        if (c->sent == request_len) c->state = reply_len ? ST_READING : ST_DONE;
    }
    while (c->state == ST_READING) {
        char buf[512];
        size_t want = reply_len - c->got;
        ssize_t r = recv(c->fd, buf, want < sizeof buf ? want : sizeof buf, 0);
        if (r < 0) {
            if (errno == EAGAIN) return 0;
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) return -ECONNRESET;
        if (memcmp(buf, reply + c->got, (size_t)r) != 0) {
            fprintf(stderr, "unexpected reply at byte %zu: got \"%.*s\", expected \"%.*s\"\n",
                    c->got, (int)r, buf, (int)r, reply + c->got);
            return -EPROTO;
        }
        c->got += (size_t)r;
        if (c->got == reply_len) c->state = ST_DONE;
    }
    return 0;
}

/* One wave: connections first..first+k. */
static int open_wave(int ep, const conn_target *t, size_t first, size_t k, size_t per_source,
                     const char *request, size_t request_len, const char *reply,
                     size_t reply_len, int timeout_ms, wave_conn *w, int *fds) {
    size_t pending = 0;
    int rc = 0;
    for (size_t j = 0; j < k; j++) {
        size_t i = first + j;
        char src[16];
        uint32_t a = 0;
        conn_source_text(i, per_source, src);
        (void)conn_parse_ipv4(src, &a);
        w[j] = (wave_conn){.fd = -1, .state = ST_CONNECTING};
        int fd = start_connect(t, a);
        if (fd < 0) {
            fprintf(stderr, "connection %zu from %s: %s\n", i, src, strerror(-fd));
            return fd;
        }
        w[j].fd = fd;
        fds[i] = fd;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u64 = j};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) return -errno;
        pending++;
    }
    double deadline = conn_now() + timeout_ms / 1000.0;
    struct epoll_event evs[CONN_WAVE];
    while (pending > 0) {
        int left = (int)((deadline - conn_now()) * 1000);
        if (left <= 0) {
            fprintf(stderr, "connections %zu..%zu: %zu not answered within %d ms\n", first,
                    first + k - 1, pending, timeout_ms);
            rc = -ETIMEDOUT;
            break;
        }
        int ne = epoll_wait(ep, evs, CONN_WAVE, left);
        if (ne < 0) {
            if (errno == EINTR) continue;
            rc = -errno;
            break;
        }
        for (int e = 0; e < ne && rc == 0; e++) {
            wave_conn *c = &w[evs[e].data.u64];
            if (c->state == ST_DONE) continue;
            rc = step(c, request, request_len, reply, reply_len);
            if (rc != 0) {
                fprintf(stderr, "connection %zu: %s\n", first + (size_t)evs[e].data.u64,
                        strerror(-rc));
            } else if (c->state == ST_DONE) {
                pending--;
                (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            } else if (c->state == ST_READING) {
                struct epoll_event ev = {.events = EPOLLIN, .data.u64 = evs[e].data.u64};
                (void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
        }
        if (rc != 0) break;
    }
    for (size_t j = 0; j < k; j++)
        if (w[j].fd >= 0 && w[j].state != ST_DONE) (void)epoll_ctl(ep, EPOLL_CTL_DEL, w[j].fd, NULL);
    return rc;
}

int conn_open_many(const conn_target *t, size_t n, size_t per_source, const char *request,
                   size_t request_len, const char *reply, size_t reply_len, int timeout_ms,
                   int *fds) {
    if (per_source == 0 || (n + per_source - 1) / per_source > 250 * 256) return -EINVAL;
    for (size_t i = 0; i < n; i++) fds[i] = -1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -errno;
    wave_conn *w = calloc(CONN_WAVE, sizeof *w);
    if (!w) {
        close(ep);
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t first = 0; first < n && rc == 0; first += CONN_WAVE) {
        size_t k = n - first < CONN_WAVE ? n - first : CONN_WAVE;
        rc = open_wave(ep, t, first, k, per_source, request, request_len, reply, reply_len,
                       timeout_ms, w, fds);
    }
    free(w);
    close(ep);
    if (rc != 0) conn_close_all(fds, n, 1);
    return rc;
}

int conn_open_one(const conn_target *t) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct sockaddr_in sa;
    fill_addr(&sa, t->addr, t->port);
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) rc = -errno;
    if (rc == 0) rc = set_nodelay(fd);
    if (rc == 0) {
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) rc = -errno;
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

void conn_close_all(int *fds, size_t n, int reset) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    for (size_t i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        if (reset) (void)setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fds[i]);
        fds[i] = -1;
    }
}
