/*
 * queue.c — the intrusive lock-free queue of queue.h.
 *
 * Push swaps the tail (one atomic exchange, so it is also safe with several
 * producers) and then links the previous tail to the new node. Between the
 * two steps the chain is broken for a moment; pop then sees "empty" and
 * returns NULL, which is harmless because the producer sends its wake-up
 * after the push completes.
 */
#include "server/queue.h"

#include <assert.h>

void queue_init(queue *q)
{
    atomic_store_explicit(&q->sentinel.next, NULL, memory_order_relaxed);
    atomic_store_explicit(&q->tail, &q->sentinel, memory_order_relaxed);
    q->head = &q->sentinel;
}

void queue_push(queue *q, queue_node *n)
{
    assert(n);
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    queue_node *prev = atomic_exchange_explicit(&q->tail, n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

queue_node *queue_pop(queue *q)
{
    queue_node *head = q->head;
    queue_node *next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (head == &q->sentinel) {
        if (!next) return NULL;
        q->head = next; /* skip the sentinel */
        head = next;
        next = atomic_load_explicit(&head->next, memory_order_acquire);
    }
    if (next) {
        q->head = next;
        return head;
    }
    /* head is the last real node: put the sentinel back behind it so head can
     * be handed out without leaving the queue empty of nodes */
    if (head != atomic_load_explicit(&q->tail, memory_order_acquire))
        return NULL; /* a push is half done */
    queue_push(q, &q->sentinel);
    next = atomic_load_explicit(&head->next, memory_order_acquire);
    if (next) {
        q->head = next;
        return head;
    }
    return NULL;
}
