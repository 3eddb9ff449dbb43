/* sched_item.h - one scheduled item: what scheduler.h and item_heap.h share.
 *
 * A plain value type (no functions, no locks): whoever holds the container
 * an item sits in decides who may touch it. */
#ifndef AAL_SCHED_ITEM_H
#define AAL_SCHED_ITEM_H

#include <stdint.h>

typedef struct aal_item {
    double target;   /* beat */
    uint64_t seq;    /* FIFO among equal targets */
    int64_t lead_us; /* due this long before the beat's time */
    void *ptr;       /* owned by the consumer's side; never dereferenced here */
    /* The item's grid, base + k*step: a timeline edit of this program
     * re-targets the item to the grid's first point at or after the beat
     * the edit names (sched_items.c).  Not read on the hot path. */
    double step, base;
} aal_item;

#endif
