/*
 * registry.c - the task registry: lists a runtime's live tasks (id, state,
 * where each was spawned) for debugging, from the owned-task list.
 *
 * Protocol. The owned list's shards are guarded by spinlocks that every
 * spawn and completion takes, so nothing here blocks or does I/O while
 * holding one: a shard's tasks are copied (weft_task_info, a few words
 * each) under its lock into a snapshot, and printed after the unlock.
 */
#include "task.h"

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

static void weft__print_one(FILE *f, const weft_task_info *i)
{
	const char *what = (i->state & WEFT_TASK_CANCELLED) ? "cancelling"
			 : (i->state & WEFT_TASK_RUNNING)   ? "running"
			 : (i->state & WEFT_TASK_NOTIFIED)  ? "queued"
							    : "idle";
	fprintf(f, "task %" PRIu64 " %-10s refs=%" PRIu32 "%s spawned at %s:%d (%s)\n",
		i->id, what, i->refs, (i->state & WEFT_TASK_JOINABLE) ? " joinable" : "",
		i->spawned_at ? i->spawned_at->file : "?",
		i->spawned_at ? i->spawned_at->line : 0,
		i->spawned_at && i->spawned_at->func ? i->spawned_at->func : "?");
}

/* Entries copied per lock hold when no snapshot of a whole shard could
 * be allocated. */
#define WEFT__DUMP_BATCH 64
/* Room for tasks spawned between sizing a shard's snapshot and copying. */
#define WEFT__DUMP_SLACK 16

int weft_runtime_dump_tasks(weft_runtime *rt, FILE *out)
{
	if (!rt || !out)
		return -EINVAL;
	weft_task_info batch[WEFT__DUMP_BATCH];
	size_t printed = 0;
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		/* Copy under the shard's spinlock, print after it is
		 * released: a slow or blocked stream must never stall the
		 * spawns and completions that need the lock. Normally one
		 * snapshot per shard; in batches of WEFT__DUMP_BATCH if it
		 * cannot be allocated or the shard grew past it (a task
		 * spawned or finished between two batches may then be
		 * listed twice or missed: a debugging aid, not an audit). */
		size_t cap = weft__owned_shard_live(rt, i) + WEFT__DUMP_SLACK;
		weft_task_info *buf = cap > WEFT__DUMP_BATCH ? weft__alloc(cap * sizeof *buf) : NULL;
		if (!buf) {
			buf = batch;
			cap = WEFT__DUMP_BATCH;
		}
		for (size_t skip = 0;;) {
			struct weft__collect c = { .out = buf, .max = cap };
			size_t total = weft__owned_shard_visit(rt, i, skip, cap, weft__collect_one, &c);
			for (size_t k = 0; k < c.n; k++)
				weft__print_one(out, &buf[k]);
			printed += c.n;
			skip += c.n;
			if (c.n == 0 || skip >= total)
				break;
		}
		if (buf != batch)
			weft__free(buf);
	}
	fprintf(out, "%zu live task(s)\n", printed);
	fflush(out);
	return (int)printed;
}
