/* sched_items.c - the consumer's side of the scheduler's pending items:
 * re-targeting them at a timeline edit of this program, giving back items
 * that are not due, and showing the garbage collector the references they
 * hold (see scheduler.h; the lock rules are in sched_internal.h). */
#include "beatmath.h"
#include "sched_internal.h"
#include "scheduler.h"

/* The first point of the item's grid at or after `beat`; the item keeps its
 * target when that point cannot be represented. */
static void retarget_item(aal_item *it, double beat)
{
    double target;
    if (it->step > 0.0 && aal_grid_point_at_or_after(beat, it->step, it->base, &target) == 0)
        it->target = target;
}

void aal_sched_edit_begin(aal_sched *s)
{
    aal_mutex_lock(&s->mu);
    s->editing++;
    s->edit_gen++;
    aal_mutex_unlock(&s->mu);
}

void aal_sched_edit_end(aal_sched *s, bool retarget, double beat)
{
    aal_mutex_lock(&s->mu);
    s->edit_gen++;
    if (retarget) {
        s->retarget_gen = s->edit_gen;
        s->retarget_beat = beat;
        for (int g = 0; g < s->n_groups; g++) {
            aal_heap *h = &s->groups[g].heap;
            for (size_t i = 0; i < h->len; i++)
                retarget_item(&h->items[i], beat);
            aal_heap_heapify(h);
        }
        /* Items handed over but not taken yet were due by the old timeline:
         * back into their groups, on the new one. */
        size_t kept = 0;
        for (size_t i = 0; i < s->ready.len; i++) {
            aal_item it = s->ready.items[i];
            retarget_item(&it, beat);
            if (aal_sched_insert_locked(s, it) != 0)
                s->ready.items[kept++] = it; /* no memory: leave it ready */
        }
        s->ready.len = kept;
    }
    s->editing--;
    s->dirty = true;
    aal_cond_signal(&s->cond);
    aal_mutex_unlock(&s->mu);
}

bool aal_sched_edited_since(aal_sched *s, const aal_batch *batch)
{
    aal_mutex_lock(&s->mu);
    bool edited = s->editing > 0 || s->edit_gen != batch->edit_gen;
    aal_mutex_unlock(&s->mu);
    return edited;
}

int aal_sched_give_back(aal_sched *s, const aal_batch *batch, const aal_item *item)
{
    aal_mutex_lock(&s->mu);
    aal_item it = *item;
    /* An edit under way re-targets it at its end; one that ended since the
     * batch was taken did not see it: apply it now (only the last edit
     * matters: a re-target depends on the edit's beat alone). */
    if (s->editing == 0 && s->retarget_gen > batch->edit_gen)
        retarget_item(&it, s->retarget_beat);
    int rc = aal_sched_insert_locked(s, it);
    aal_mutex_unlock(&s->mu);
    return rc;
}

int aal_sched_visit(aal_sched *s, int (*visit)(void *ptr, void *ctx), void *ctx)
{
    int rc = 0;
    aal_mutex_lock(&s->mu);
    for (int g = 0; g < s->n_groups && rc == 0; g++)
        for (size_t i = 0; i < s->groups[g].heap.len && rc == 0; i++)
            rc = visit(s->groups[g].heap.items[i].ptr, ctx);
    for (size_t i = 0; i < s->ready.len && rc == 0; i++)
        rc = visit(s->ready.items[i].ptr, ctx);
    aal_mutex_unlock(&s->mu);
    return rc;
}
