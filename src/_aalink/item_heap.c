/* item_heap.c - a binary min-heap of scheduler items by (target, seq); no
 * locks of its own (see item_heap.h). */
#include "item_heap.h"

#include <stdlib.h>

static int before(const aal_item *a, const aal_item *b)
{
    return a->target < b->target || (a->target == b->target && a->seq < b->seq);
}

static void sift_up(aal_item *v, size_t i)
{
    aal_item x = v[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&x, &v[parent]))
            break;
        v[i] = v[parent];
        i = parent;
    }
    v[i] = x;
}

static void sift_down(aal_item *v, size_t n, size_t i)
{
    aal_item x = v[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && before(&v[child + 1], &v[child]))
            child++;
        if (!before(&v[child], &x))
            break;
        v[i] = v[child];
        i = child;
    }
    v[i] = x;
}

int aal_heap_append(aal_heap *h, aal_item item)
{
    if (h->len == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        aal_item *grown = realloc(h->items, cap * sizeof *grown);
        if (!grown)
            return -1;
        h->items = grown;
        h->cap = cap;
    }
    h->items[h->len++] = item;
    return 0;
}

int aal_heap_push(aal_heap *h, aal_item item)
{
    if (aal_heap_append(h, item) != 0)
        return -1;
    sift_up(h->items, h->len - 1);
    return 0;
}

void aal_heap_pop(aal_heap *h)
{
    if (h->len == 0)
        return;
    h->items[0] = h->items[--h->len];
    if (h->len > 1)
        sift_down(h->items, h->len, 0);
    if (h->cap > 1024 && h->len * 4 < h->cap)
        aal_heap_shrink(h);
}

void aal_heap_heapify(aal_heap *h)
{
    for (size_t i = h->len / 2; i-- > 0;)
        sift_down(h->items, h->len, i);
}

void aal_heap_shrink(aal_heap *h)
{
    if (h->len == 0) {
        free(h->items);
        h->items = NULL;
        h->cap = 0;
    }
    else if (h->len * 4 < h->cap && h->cap > 64) {
        size_t cap = h->len * 2 < 64 ? 64 : h->len * 2;
        aal_item *smaller = realloc(h->items, cap * sizeof *smaller);
        if (smaller) {
            h->items = smaller;
            h->cap = cap;
        }
    }
}

void aal_heap_free(aal_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
