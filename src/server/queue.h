/*
 * queue.h — the hand-off between threads: an intrusive, unbounded,
 * lock-free queue of messages (Vyukov's intrusive MPSC queue, used here with
 * one producer and one consumer per queue).
 *
 * Every network thread has one queue to the data thread and the data thread
 * one queue to each network thread (DESIGN.md, server/ and net/). A message
 * embeds a queue_node; pushing it hands its ownership to the consumer. The
 * producer wakes the consumer once per batch of pushes (uv_async_send, which
 * coalesces), never per message.
 *
 * Why a linked queue rather than a fixed ring: a ring that fills up forces
 * the producer either to block (the data thread must never block on a slow
 * network thread) or to keep its own overflow list; a linked queue needs
 * neither. Memory stays bounded because each connection bounds what it has
 * in flight (requests waiting for replies, bytes waiting to be written).
 *
 * Invariants: head (consumer's) and tail (producer's) are never NULL; the
 * sentinel node is in the queue exactly when the queue would otherwise be
 * empty of real nodes at its head.
 */
#ifndef BURROW_SERVER_QUEUE_H
#define BURROW_SERVER_QUEUE_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct queue_node {
    _Atomic(struct queue_node *) next;
} queue_node;

typedef struct queue {
    _Alignas(64) _Atomic(queue_node *) tail; /* producer side */
    _Alignas(64) queue_node *head;           /* consumer side */
    queue_node sentinel;
} queue;

void queue_init(queue *q);

/* Producer: append n (owned by the queue until popped). */
void queue_push(queue *q, queue_node *n);

/* Consumer: the oldest node, or NULL when the queue is empty (or a push is
 * half done; the pusher then wakes the consumer again). */
queue_node *queue_pop(queue *q);

#endif
