/*
 * conn.h — many client connections to one server, for fanout.c and idle.c.
 *
 * One process may hold at most RLIMIT_NOFILE descriptors (20,000 on the
 * machine these benchmarks were written for), and one (source address,
 * destination) pair can use at most the ephemeral port range (32768-60999
 * here, 28,232 ports, fewer while old connections sit in TIME_WAIT). So the
 * connections are spread over the source addresses 127.0.0.2, 127.0.0.3, ...
 * (Linux answers for all of 127.0.0.0/8 on the loopback device), at most
 * `per_source` on each, and binding uses IP_BIND_ADDRESS_NO_PORT so the
 * kernel picks the port at connect time by the whole 4-tuple.
 *
 * Connections are opened in waves (CONN_WAVE at a time): a burst of
 * thousands of SYNs at once would overflow the server's listen backlog
 * (511 for both servers measured) and cost seconds of SYN retransmission.
 * Each connection sends `request` once connected and must read back exactly
 * `reply` before the next wave starts, so when conn_open_many returns, the
 * server has accepted every connection and answered on each.
 */
#ifndef BENCH_CONN_H
#define BENCH_CONN_H

#include <stddef.h>
#include <stdint.h>

#define CONN_WAVE 256

/* A target: an IPv4 address and port (host byte order). */
typedef struct {
    uint32_t addr;
    uint16_t port;
} conn_target;

/* Parses "a.b.c.d" into t->addr; 0 or -EINVAL. */
int conn_parse_ipv4(const char *text, uint32_t *addr);

/* Raises the soft RLIMIT_NOFILE to the hard limit and checks that `need`
 * descriptors (plus a few for stdio and epoll) fit. 0, or -EMFILE with a
 * message on stderr. */
int conn_reserve_fds(size_t need);

/* Opens n connections to t, spread over source addresses 127.0.0.2, ...,
 * per_source each; on each writes `request` (request_len bytes) and reads
 * exactly `reply_len` bytes, which must equal `reply`. The descriptors are
 * left non-blocking, with TCP_NODELAY, in fds[0..n) (the caller owns them
 * and closes them; on failure none is left open). timeout_ms bounds the
 * wait for any one wave. 0, or a negative errno with a message on stderr
 * (a wrong reply is -EPROTO). */
int conn_open_many(const conn_target *t, size_t n, size_t per_source, const char *request,
                   size_t request_len, const char *reply, size_t reply_len, int timeout_ms,
                   int *fds);

/* One connection from 127.0.0.1 (blocking until connected), non-blocking
 * afterwards, TCP_NODELAY. A descriptor, or a negative errno. */
int conn_open_one(const conn_target *t);

/* Closes fds[0..n); with `reset`, by RST (SO_LINGER 0) so the client side
 * leaves no TIME_WAIT behind to block the next run's ports. */
void conn_close_all(int *fds, size_t n, int reset);

/* CLOCK_MONOTONIC in seconds. */
double conn_now(void);

/* The source address used for connection i: 127.0.0.(2 + i / per_source),
 * written as text into buf (16 bytes). */
void conn_source_text(size_t i, size_t per_source, char buf[16]);

#endif
