/*
 * srv.h — black-box tests of burrowd: start the real server as a process
 * in a scratch directory on a free port, talk to it with real clients
 * (hiredis, and redis-cli from Debian's redis-tools), stop it with SIGTERM
 * or SIGKILL.
 *
 * The server binary is $(BUILD)/burrowd, found next to the test binary's
 * directory ($(BUILD)/tests/..), or in the environment variable BURROWD.
 * Its output goes to <dir>/burrowd.log (printed when a start fails).
 */
#ifndef BURROW_TEST_SRV_H
#define BURROW_TEST_SRV_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct srv_proc {
    pid_t pid;
    int port;
    char dir[512];
    char log[600];
} srv_proc;

/* Start burrowd with --dir dir --port 0 (or the port given in *p->port if
 * non-zero, to restart on the same port) and the extra flags (NULL-ended
 * list, may be NULL); wait until it is ready. 0 or -1 (the log is printed). */
int srv_start(srv_proc *p, const char *dir, const char *const *extra);
/* SIGTERM and wait: the exit status (0 on a clean stop), or -1. */
int srv_stop(srv_proc *p);
/* SIGKILL and wait. */
void srv_kill9(srv_proc *p);
/* true while the process runs. */
bool srv_alive(srv_proc *p);

/* A hiredis connection (10 s timeouts; hiredis 0.14 speaks RESP2 only);
 * source may be NULL or a loopback
 * address to connect from (127.0.0.2, ...). Fails the test on error. */
redisContext *srv_connect(const srv_proc *p);
redisContext *srv_connect_from(const srv_proc *p, const char *source);

/* Run a command; the reply must not be NULL (else the test fails). */
redisReply *srv_cmd(redisContext *c, const char *fmt, ...);
/* Run a command given as argv. */
redisReply *srv_cmdv(redisContext *c, int argc, const char **argv, const size_t *lens);

/* Assertions on a reply (they free it). */
void srv_expect_status(redisReply *r, const char *status);
void srv_expect_str(redisReply *r, const char *s);
void srv_expect_int(redisReply *r, long long v);
void srv_expect_nil(redisReply *r);
void srv_expect_error(redisReply *r, const char *prefix);

/* Run redis-cli -p port args... with input on stdin (may be NULL); its
 * stdout (and stderr) into out (NUL-terminated, truncated to outlen).
 * Returns its exit status. */
int srv_cli(const srv_proc *p, const char *input, char *out, size_t outlen, const char *const *args);

/* Resident memory of the server process in bytes (from /proc). */
size_t srv_rss(const srv_proc *p);

/* A plain TCP socket connected to the server (from source if not NULL),
 * for raw protocol tests and RESP3 (Debian 12's hiredis 0.14 does not
 * parse RESP3); -1 on failure. */
int srv_sock(const srv_proc *p, const char *source);
/* Read from fd until `until` appears in what was read (NULL: until the
 * peer closes), timeout_ms passes or out is full. out is NUL-terminated;
 * returns the bytes read. */
long srv_sock_read(int fd, char *out, size_t outlen, int timeout_ms, const char *until);

/* Send raw bytes on a fresh TCP connection, then read until the server
 * closes or timeout_ms passes; the bytes read go to out. Returns the
 * number read, or -1. */
long srv_raw(const srv_proc *p, const void *data, size_t len, char *out, size_t outlen, int timeout_ms);

#endif
