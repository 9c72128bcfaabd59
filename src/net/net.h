/*
 * net.h — burrowd's network threads (DESIGN.md, server/ and net/).
 *
 * N threads, each with its own libuv loop, its own listening socket on the
 * same port (SO_REUSEPORT: the kernel spreads new connections over them)
 * and its own connections. A network thread reads, parses RESP, hands the
 * complete requests to the data thread and writes back what it is given.
 * It never touches the database.
 */
#ifndef BURROW_NET_NET_H
#define BURROW_NET_NET_H

#include <stddef.h>

#include "server/server.h"

typedef struct net net;

/* Bind the listening sockets (so a busy port is reported at once) and
 * start the threads. cfg->port 0 binds a free port (net_port tells which). */
int net_start(server *s, const server_config *cfg, net **out, char *err, size_t errlen);
/* The port the listeners are bound to. */
int net_port(const net *n);
/* Wait until every network thread has stopped (after the data thread's
 * MSG_STOP), then free everything. */
void net_join(net *n);

#endif
