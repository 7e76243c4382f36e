/*
 * registry.c - the task registry: lists a runtime's live tasks (id, state,
 * where each was spawned) for debugging, from the owned-task list.
 */
#include "internal.h"

#include <errno.h>
#include <inttypes.h>

struct weft__collect {
	weft_task_info *out;
	size_t max, n;
};

static weft_task_info weft__task_info(struct weft__task *t)
{
	/* Relaxed: a snapshot for humans; nothing is read through it. */
	uint64_t s = atomic_load_explicit(&t->state, memory_order_relaxed);
	return (weft_task_info){
		.id = (uint64_t)(uintptr_t)t,
		.spawned_at = t->loc,
		.state = (uint32_t)(s & (WEFT__TASK_RUNNING | WEFT__TASK_NOTIFIED |
					 WEFT__TASK_CANCELLED | WEFT__TASK_JOIN_INTEREST)),
		.refs = (uint32_t)((s & WEFT__TASK_REF_MASK) >> WEFT__TASK_REF_SHIFT),
	};
}

static void weft__collect_one(struct weft__task *t, void *arg)
{
	struct weft__collect *c = arg;
	if (c->n < c->max)
		c->out[c->n] = weft__task_info(t);
	c->n++;
}

size_t weft_runtime_tasks(weft_runtime *rt, weft_task_info *out, size_t max)
{
	if (!rt)
		return 0;
	struct weft__collect c = { .out = out, .max = out ? max : 0 };
	weft__owned_for_each(rt, weft__collect_one, &c);
	return c.n;
}

static void weft__print_one(struct weft__task *t, void *arg)
{
	struct weft__collect *c = arg;
	FILE *f = (FILE *)c->out;
	weft_task_info i = weft__task_info(t);
	const char *what = (i.state & WEFT_TASK_CANCELLED) ? "cancelling"
			 : (i.state & WEFT_TASK_RUNNING)   ? "running"
			 : (i.state & WEFT_TASK_NOTIFIED)  ? "queued"
							   : "idle";
	fprintf(f, "task %" PRIu64 " %-10s refs=%" PRIu32 "%s spawned at %s:%d (%s)\n",
		i.id, what, i.refs, (i.state & WEFT_TASK_JOINABLE) ? " joinable" : "",
		i.spawned_at ? i.spawned_at->file : "?",
		i.spawned_at ? i.spawned_at->line : 0,
		i.spawned_at && i.spawned_at->func ? i.spawned_at->func : "?");
	c->n++;
}

int weft_runtime_dump_tasks(weft_runtime *rt, FILE *out)
{
	if (!rt || !out)
		return -EINVAL;
	struct weft__collect c = { .out = (weft_task_info *)(void *)out };
	weft__owned_for_each(rt, weft__print_one, &c);
	fprintf(out, "%zu live task(s)\n", c.n);
	fflush(out);
	return (int)c.n;
}
