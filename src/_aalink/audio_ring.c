/* audio_ring.c - the ring of received audio buffers (see audio.h): Link's
 * thread pushes without the GIL, the loop's thread pops.  When full, the
 * oldest buffer is dropped and counted. */
#include "audio.h"

#include <stdlib.h>
#include <string.h>

int aal_ring_init(aal_ring *r, size_t n_slots)
{
    memset(r, 0, sizeof *r);
    r->wake_fd = -1;
    r->slots = calloc(n_slots, sizeof *r->slots);
    if (!r->slots)
        return -1;
    r->n = n_slots;
    if (aal_mutex_init(&r->mu) != 0) {
        free(r->slots);
        r->slots = NULL;
        return -1;
    }
    return 0;
}

void aal_ring_destroy(aal_ring *r)
{
    if (!r->slots)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->slots[i].buf);
    free(r->slots);
    r->slots = NULL;
    aal_mutex_destroy(&r->mu);
}

void aal_ring_push(aal_ring *r, const aal_audio_block *block)
{
    size_t samples = block->frames * block->channels;
    aal_mutex_lock(&r->mu);
    r->received++;
    if (!block->in_session)
        r->out_of_session++;
    if (r->len == r->n) { /* full: drop the oldest */
        r->head = (r->head + 1) % r->n;
        r->len--;
        r->dropped++;
    }
    aal_ring_slot *slot = &r->slots[(r->head + r->len) % r->n];
    if (slot->cap < samples) {
        int16_t *grown = realloc(slot->buf, samples * sizeof(int16_t));
        if (!grown) { /* no memory: this buffer is lost, and counted */
            r->dropped++;
            aal_mutex_unlock(&r->mu);
            return;
        }
        slot->buf = grown;
        slot->cap = samples;
    }
    if (samples)
        memcpy(slot->buf, block->samples, samples * sizeof(int16_t));
    slot->meta = *block;
    slot->meta.samples = NULL;
    r->len++;
    if (!r->signalled && r->wake_fd >= 0) {
        r->signalled = true;
        aal_wakefd_signal(r->wake_fd);
    }
    aal_mutex_unlock(&r->mu);
}

bool aal_ring_pop(aal_ring *r, aal_audio_block *meta, int16_t **samples)
{
    aal_mutex_lock(&r->mu);
    if (r->len == 0) {
        aal_mutex_unlock(&r->mu);
        return false;
    }
    aal_ring_slot *slot = &r->slots[r->head];
    *meta = slot->meta;
    *samples = slot->buf; /* handed over: the next push there allocates */
    slot->buf = NULL;
    slot->cap = 0;
    r->head = (r->head + 1) % r->n;
    r->len--;
    aal_mutex_unlock(&r->mu);
    return true;
}

void aal_ring_rearm(aal_ring *r)
{
    aal_mutex_lock(&r->mu);
    r->signalled = false;
    aal_mutex_unlock(&r->mu);
}

void aal_ring_set_wake_fd(aal_ring *r, int fd)
{
    aal_mutex_lock(&r->mu);
    r->wake_fd = fd;
    r->signalled = false;
    aal_mutex_unlock(&r->mu);
}

void aal_ring_wake(aal_ring *r)
{
    aal_mutex_lock(&r->mu);
    if (r->len && !r->signalled && r->wake_fd >= 0) {
        r->signalled = true;
        aal_wakefd_signal(r->wake_fd);
    }
    aal_mutex_unlock(&r->mu);
}
