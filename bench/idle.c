/*
 * idle.c — server memory per idle connection, against any server that
 * speaks RESP2 (burrowd, redis-server).
 *
 *   idle --port P --pid SERVER_PID [--host 127.0.0.1] [--connections 10000]
 *        [--per-source 5000] [--settle 5]
 *
 * 1. Reads the server's resident set (VmRSS of /proc/PID/status).
 * 2. Opens N connections (conn.c: spread over 127.0.0.2, 127.0.0.3, ...),
 *    each sends one PING and must read back "+PONG": the server has then
 *    accepted it, read from it, and answered on it, as a real client's first
 *    request would make it do.
 * 3. Reads VmRSS at once, and again after --settle seconds of idleness
 *    (servers may shrink per-client buffers of idle clients on a timer, as
 *    Redis's clientsCron does for query buffers), then checks that the server
 *    has closed none of the connections.
 * 4. Closes them all (by RST, so no TIME_WAIT is left for the next run) and
 *    reads VmRSS once more after --settle seconds: memory the server gives
 *    back.
 *
 * bytes per connection = (VmRSS after settling - VmRSS before) / N. The
 * kernel's socket buffers are not in the server's RSS and are not counted
 * (they are the same for any server on this kernel).
 *
 * Output: human-readable lines, then one line for scripts:
 *   RESULT bytes_per_conn=<after settling> bytes_per_conn_at_once=<...>
 *          rss_before_kb=.. rss_open_kb=.. rss_settled_kb=.. rss_closed_kb=..
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"

static struct {
    const char *host;
    int port;
    long pid;
    size_t connections;
    size_t per_source;
    double settle;
} opt = {"127.0.0.1", 0, 0, 10000, 5000, 5};

/* VmRSS of the server in KiB, or a negative errno. */
static long long rss_kb(void) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", opt.pid);
    FILE *f = fopen(path, "r");
    if (!f) return -errno;
    char line[256];
    long long kb = -ENOENT;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

static void pause_s(double s) {
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* How many of fds the server has closed (EOF or error waiting). */
static size_t count_closed(const int *fds, size_t n) {
    size_t closed = 0;
    for (size_t i = 0; i < n; i++) {
        char c;
        ssize_t r = recv(fds[i], &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN)) closed++;
    }
    return closed;
}

static void usage(void) {
    fprintf(stderr, "usage: idle --port P --pid SERVER_PID [--host 127.0.0.1]\n"
                    "            [--connections N] [--per-source K] [--settle SECONDS]\n");
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
        if (!strcmp(a, "--host")) {
            opt.host = v;
            continue;
        }
        if (!strcmp(a, "--settle")) {
            opt.settle = strtod(v, &end);
        } else {
            unsigned long long x = strtoull(v, &end, 10);
            if (!strcmp(a, "--port")) opt.port = (int)x;
            else if (!strcmp(a, "--pid")) opt.pid = (long)x;
            else if (!strcmp(a, "--connections")) opt.connections = x;
            else if (!strcmp(a, "--per-source")) opt.per_source = x;
            else {
                fprintf(stderr, "idle: unknown option %s\n", a);
                usage();
                return -1;
            }
        }
        if (!end || *end || !*v) {
            fprintf(stderr, "idle: %s wants a number, not '%s'\n", a, v);
            return -1;
        }
    }
    if (opt.port <= 0 || opt.port > 65535 || opt.pid <= 0 || opt.connections == 0 ||
        opt.per_source == 0 || opt.settle < 0 || opt.settle > 600) {
        fprintf(stderr, "idle: bad options (--port and --pid are required)\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (parse_args(argc, argv) != 0) return 2;
    conn_target t = {.port = (uint16_t)opt.port};
    if (conn_parse_ipv4(opt.host, &t.addr) != 0) {
        fprintf(stderr, "idle: --host must be an IPv4 address, not '%s'\n", opt.host);
        return 2;
    }
    if (conn_reserve_fds(opt.connections) != 0) return 2;
    int *fds = malloc(opt.connections * sizeof *fds);
    if (!fds) return 2;

    long long before = rss_kb();
    if (before < 0) {
        fprintf(stderr, "idle: cannot read VmRSS of pid %ld: %s\n", opt.pid,
                strerror((int)-before));
        free(fds);
        return 2;
    }
    double t0 = conn_now();
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    int rc = conn_open_many(&t, opt.connections, opt.per_source, ping, sizeof ping - 1,
                            "+PONG\r\n", 7, 30000, fds);
    if (rc != 0) {
        fprintf(stderr, "idle: could not open %zu connections: %s\n", opt.connections,
                strerror(-rc));
        free(fds);
        return 1;
    }
    double t1 = conn_now();
    long long open_kb = rss_kb();
    pause_s(opt.settle);
    long long settled = rss_kb();
    size_t closed = count_closed(fds, opt.connections);
    conn_close_all(fds, opt.connections, 1);
    pause_s(opt.settle);
    long long after_close = rss_kb();
    free(fds);
    if (open_kb < 0 || settled < 0 || after_close < 0) {
        fprintf(stderr, "idle: the server (pid %ld) is gone\n", opt.pid);
        return 1;
    }

    char last_src[16];
    conn_source_text(opt.connections - 1, opt.per_source, last_src);
    double n = (double)opt.connections;
    double per = (double)(settled - before) * 1024 / n;
    double per_now = (double)(open_kb - before) * 1024 / n;
    printf("idle: %s:%d pid %ld, %zu connections (from 127.0.0.2 .. %s), each answered one "
           "PING, opened in %.2f s\n",
           opt.host, opt.port, opt.pid, opt.connections, last_src, t1 - t0);
    printf("VmRSS: before %lld KiB; all open %lld KiB; after %.1f s idle %lld KiB; "
           "%.1f s after closing them %lld KiB\n",
           before, open_kb, opt.settle, settled, opt.settle, after_close);
    printf("server memory per idle connection: %.0f bytes after %.1f s idle (%.0f at once)\n",
           per, opt.settle, per_now);
    if (closed) {
        fprintf(stderr, "idle: the server closed %zu of the %zu idle connections\n", closed,
                opt.connections);
        return 1;
    }
    printf("RESULT bytes_per_conn=%.0f bytes_per_conn_at_once=%.0f rss_before_kb=%lld "
           "rss_open_kb=%lld rss_settled_kb=%lld rss_closed_kb=%lld\n",
           per, per_now, before, open_kb, settled, after_close);
    return 0;
}
