/* item_heap.h - a binary min-heap of scheduler items by (target, seq).
 *
 * Contracts, the same for every function: Thread: the heap's owner; not
 * thread-safe: the caller serialises access (the scheduler calls these with
 * s->mu held, or on a heap it has taken out of the scheduler).  GIL: may be
 * held.  Locks: none.  They allocate (realloc), so not realtime-safe. */
#ifndef AAL_ITEM_HEAP_H
#define AAL_ITEM_HEAP_H

#include <stddef.h>

#include "sched_item.h"

typedef struct aal_heap {
    aal_item *items;
    size_t len, cap;
} aal_heap;

int aal_heap_push(aal_heap *h, aal_item item); /* 0, or -1 out of memory */
void aal_heap_pop(aal_heap *h);                /* removes items[0] */
int aal_heap_append(aal_heap *h, aal_item item); /* unordered; heapify after */
void aal_heap_heapify(aal_heap *h);
void aal_heap_shrink(aal_heap *h); /* give memory back after removals */
void aal_heap_free(aal_heap *h);

#endif
