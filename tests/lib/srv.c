/*
 * srv.c — starting and stopping burrowd for the black-box tests (srv.h).
 */
#include "srv.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *burrowd_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("BURROWD");
    if (env && *env) return env;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return "build/burrowd";
    self[n] = 0;
    snprintf(path, sizeof path, "%s/../burrowd", dirname(self));
    return path;
}

static void print_log(const srv_proc *p)
{
    FILE *f = fopen(p->log, "r");
    if (!f) return;
    char line[512];
    fprintf(stderr, "---- %s\n", p->log);
    while (fgets(line, sizeof line, f)) fputs(line, stderr);
    fclose(f);
}

/* The port from the "listening on host:port" line, or 0. */
static int read_port(const srv_proc *p)
{
    FILE *f = fopen(p->log, "r");
    if (!f) return 0;
    char line[512];
    int port = 0;
    while (fgets(line, sizeof line, f)) {
        char *at = strstr(line, "listening on ");
        if (!at) continue;
        char *colon = strchr(at + 13, ':');
        if (colon) port = atoi(colon + 1);
        break;
    }
    fclose(f);
    return port;
}

int srv_start(srv_proc *p, const char *dir, const char *const *extra)
{
    if (dir != p->dir) snprintf(p->dir, sizeof p->dir, "%s", dir); /* a restart passes p->dir */
    dir = p->dir;
    snprintf(p->log, sizeof p->log, "%s/burrowd.log", dir);
    char port[16];
    snprintf(port, sizeof port, "%d", p->port);
    const char *argv[64];
    int argc = 0;
    argv[argc++] = burrowd_path();
    argv[argc++] = "--dir";
    argv[argc++] = dir;
    argv[argc++] = "--port";
    argv[argc++] = port;
    for (int i = 0; extra && extra[i] && argc < 62; i++) argv[argc++] = extra[i];
    argv[argc] = NULL;
    mkdir(dir, 0755); /* the log goes there before burrowd creates it */
    unlink(p->log);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    p->pid = pid;
    for (int i = 0; i < 1000; i++) { /* up to 20 s: the sanitizer build starts slowly */
        int port_found = read_port(p);
        if (port_found) {
            p->port = port_found;
            return 0;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            p->pid = 0;
            print_log(p);
            return -1;
        }
        sleep_ms(20);
    }
    print_log(p);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    p->pid = 0;
    return -1;
}

int srv_stop(srv_proc *p)
{
    if (!p->pid) return -1;
    kill(p->pid, SIGTERM);
    int st = 0;
    /* wait up to 60 s, then kill: a hung shutdown fails the test */
    for (int i = 0; i < 3000; i++) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            p->pid = 0;
            if (!WIFEXITED(st) || WEXITSTATUS(st)) print_log(p);
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        sleep_ms(20);
    }
    print_log(p);
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
    return -1;
}

void srv_kill9(srv_proc *p)
{
    if (!p->pid) return;
    kill(p->pid, SIGKILL);
    waitpid(p->pid, NULL, 0);
    p->pid = 0;
}

bool srv_alive(srv_proc *p)
{
    if (!p->pid) return false;
    int st;
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
        p->pid = 0;
        return false;
    }
    return true;
}

int srv_sock(const srv_proc *p, const char *source)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (source) {
        struct sockaddr_in b = {0};
        b.sin_family = AF_INET;
        if (inet_pton(AF_INET, source, &b.sin_addr) != 1 || bind(fd, (struct sockaddr *)&b, sizeof b)) {
            close(fd);
            return -1;
        }
    }
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)p->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
        close(fd);
        return -1;
    }
    return fd;
}

long srv_sock_read(int fd, char *out, size_t outlen, int timeout_ms, const char *until)
{
    size_t got = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    out[0] = 0;
    for (;;) {
        if (until && strstr(out, until)) break;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long el = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (el >= timeout_ms || got + 1 >= outlen) break;
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, (int)(timeout_ms - el)) <= 0) break;
        ssize_t r = recv(fd, out + got, outlen - 1 - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
        out[got] = 0;
    }
    return (long)got;
}

redisContext *srv_connect_from(const srv_proc *p, const char *source)
{
    /* hiredis 0.14 (Debian 12) cannot bind a source address in blocking
     * mode: connect the socket here and hand it over */
    int fd = srv_sock(p, source);
    if (fd < 0) {
        fprintf(stderr, "connect to 127.0.0.1:%d from %s failed\n", p->port, source ? source : "any");
        fail();
    }
    redisContext *c = redisConnectFd(fd);
    if (!c || c->err) {
        fprintf(stderr, "hiredis on 127.0.0.1:%d failed: %s\n", p->port, c ? c->errstr : "out of memory");
        fail();
    }
    struct timeval tv = {10, 0};
    redisSetTimeout(c, tv);
    return c;
}

redisContext *srv_connect(const srv_proc *p) { return srv_connect_from(p, NULL); }

redisReply *srv_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "command '%s' failed: %s\n", fmt, c->errstr);
        fail();
    }
    return r;
}

redisReply *srv_cmdv(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    redisReply *r = redisCommandArgv(c, argc, argv, lens);
    if (!r) {
        fprintf(stderr, "command '%s' failed: %s\n", argv[0], c->errstr);
        fail();
    }
    return r;
}

static void show(const redisReply *r)
{
    fprintf(stderr, "reply type %d: '%.*s' int %lld\n", r->type, r->str ? (int)r->len : 0, r->str ? r->str : "",
            r->integer);
}

void srv_expect_status(redisReply *r, const char *status)
{
    if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, status) != 0) {
        show(r);
        fprintf(stderr, "expected status '%s'\n", status);
        fail();
    }
    freeReplyObject(r);
}

void srv_expect_str(redisReply *r, const char *s)
{
    if (r->type != REDIS_REPLY_STRING || r->len != strlen(s) ||
        memcmp(r->str, s, r->len) != 0) {
        show(r);
        fprintf(stderr, "expected string '%s'\n", s);
        fail();
    }
    freeReplyObject(r);
}

void srv_expect_int(redisReply *r, long long v)
{
    if (r->type != REDIS_REPLY_INTEGER || r->integer != v) {
        show(r);
        fprintf(stderr, "expected integer %lld\n", v);
        fail();
    }
    freeReplyObject(r);
}

void srv_expect_nil(redisReply *r)
{
    if (r->type != REDIS_REPLY_NIL) {
        show(r);
        fprintf(stderr, "expected nil\n");
        fail();
    }
    freeReplyObject(r);
}

void srv_expect_error(redisReply *r, const char *prefix)
{
    if (r->type != REDIS_REPLY_ERROR || strncmp(r->str, prefix, strlen(prefix)) != 0) {
        show(r);
        fprintf(stderr, "expected an error starting with '%s'\n", prefix);
        fail();
    }
    freeReplyObject(r);
}

int srv_cli(const srv_proc *p, const char *input, char *out, size_t outlen, const char *const *args)
{
    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) || pipe(out_pipe)) return -1;
    char port[16];
    snprintf(port, sizeof port, "%d", p->port);
    const char *argv[64];
    int argc = 0;
    argv[argc++] = "redis-cli";
    argv[argc++] = "-p";
    argv[argc++] = port;
    for (int i = 0; args && args[i] && argc < 63; i++) argv[argc++] = args[i];
    argv[argc] = NULL;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        dup2(out_pipe[1], 2);
        close(in_pipe[1]);
        close(out_pipe[0]);
        execvp("redis-cli", (char *const *)argv);
        _exit(127);
    }
    close(in_pipe[0]);
    close(out_pipe[1]);
    if (input) {
        size_t n = strlen(input), off = 0;
        while (off < n) {
            ssize_t w = write(in_pipe[1], input + off, n - off);
            if (w <= 0) break;
            off += (size_t)w;
        }
    }
    close(in_pipe[1]);
    size_t got = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(out_pipe[0], tmp, sizeof tmp);
        if (r <= 0) break;
        size_t take = (size_t)r;
        if (got + take >= outlen) take = outlen - 1 - got;
        memcpy(out + got, tmp, take);
        got += take;
    }
    out[got] = 0;
    close(out_pipe[0]);
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

size_t srv_rss(const srv_proc *p)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long size, rss = 0;
    if (fscanf(f, "%lu %lu", &size, &rss) != 2) rss = 0;
    fclose(f);
    return (size_t)rss * (size_t)sysconf(_SC_PAGESIZE);
}

long srv_raw(const srv_proc *p, const void *data, size_t len, char *out, size_t outlen, int timeout_ms)
{
    int fd = srv_sock(p, NULL);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, (const char *)data + off, len - off, MSG_NOSIGNAL);
        if (w <= 0) break; /* the server may close early: read what it said */
        off += (size_t)w;
    }
    long got = srv_sock_read(fd, out, outlen, timeout_ms, NULL);
    close(fd);
    return got;
}
