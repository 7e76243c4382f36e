/*
 * owned.c - the owned-task list: every live task of a runtime, so shutdown
 * can drop each one and the registry can list them.
 *
 * Protocol. The list is split into WEFT__OWNED_SHARDS shards, each a
 * doubly linked list under its own spinlock, so spawns and completions on
 * different workers rarely meet on one lock. A task's shard is fixed at
 * spawn (from its address, kept in its state word); owned_prev ==
 * WEFT__NOT_OWNED says, under that shard's lock, that it is not listed, so exactly one of completion and
 * shutdown takes the list's reference. Closing sets `closed` in every
 * shard under its lock: an insert after that fails, so no task is added
 * behind shutdown's back. `live` counts listed tasks and changes only
 * under the lock; completion unlists a task before its COMPLETE
 * transition (task.c), so whoever sees a task finished also sees it
 * uncounted.
 */
#include "task.h"

#include <errno.h>

static inline struct weft__owned_shard *weft__shard_of(weft_runtime *rt, struct weft__task *t)
{
	/* Relaxed: the shard bits are fixed at spawn. */
	return &weft__tasks_of(rt)->owned[weft__task_bits_shard(atomic_load_explicit(&t->state,
								     memory_order_relaxed))];
}

int weft__owned_init(weft_runtime *rt)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		struct weft__owned_shard *sh = &weft__tasks_of(rt)->owned[i];
		sh->head = NULL;
		sh->closed = false;
		atomic_init(&sh->live, 0);
		atomic_init(&sh->spawned, 0);
		atomic_init(&sh->lock.locked, 0);
	}
	return 0;
}

void weft__owned_fini(weft_runtime *rt)
{
	(void)rt;
}

int weft__owned_insert(weft_runtime *rt, struct weft__task *t)
{
	struct weft__owned_shard *sh = weft__shard_of(rt, t);
	weft__spin_lock(&sh->lock);
	if (sh->closed) {
		weft__spin_unlock(&sh->lock);
		return -ESHUTDOWN;
	}
	t->owned_prev = NULL;
	t->owned_next = sh->head;
	if (sh->head)
		sh->head->owned_prev = t;
	sh->head = t;
	/* Relaxed: counters written under the lock (load + store, no RMW),
	 * read anywhere as statistics. */
	atomic_store_explicit(&sh->live,
			      atomic_load_explicit(&sh->live, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&sh->spawned,
			      atomic_load_explicit(&sh->spawned, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	weft__spin_unlock(&sh->lock);
	return 0;
}

static void weft__owned_unlink(struct weft__owned_shard *sh, struct weft__task *t)
{
	if (t->owned_prev)
		t->owned_prev->owned_next = t->owned_next;
	else
		sh->head = t->owned_next;
	if (t->owned_next)
		t->owned_next->owned_prev = t->owned_prev;
	t->owned_prev = WEFT__NOT_OWNED;
	/* Relaxed: under the lock, see weft__owned_insert. */
	atomic_store_explicit(&sh->live, atomic_load_explicit(&sh->live, memory_order_relaxed) - 1,
			      memory_order_relaxed);
}

bool weft__owned_remove(weft_runtime *rt, struct weft__task *t)
{
	struct weft__owned_shard *sh = weft__shard_of(rt, t);
	weft__spin_lock(&sh->lock);
	bool was = t->owned_prev != WEFT__NOT_OWNED;
	if (was)
		weft__owned_unlink(sh, t);
	weft__spin_unlock(&sh->lock);
	return was;
}

void weft__owned_close(weft_runtime *rt)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		weft__spin_lock(&weft__tasks_of(rt)->owned[i].lock);
		weft__tasks_of(rt)->owned[i].closed = true;
		weft__spin_unlock(&weft__tasks_of(rt)->owned[i].lock);
	}
}

struct weft__task *weft__owned_pop(weft_runtime *rt)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		struct weft__owned_shard *sh = &weft__tasks_of(rt)->owned[i];
		weft__spin_lock(&sh->lock);
		struct weft__task *t = sh->head;
		if (t)
			weft__owned_unlink(sh, t);
		weft__spin_unlock(&sh->lock);
		if (t)
			return t;
	}
	return NULL;
}

void weft__owned_for_each(weft_runtime *rt, void (*fn)(struct weft__task *t, void *arg),
			  void *arg)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		struct weft__owned_shard *sh = &weft__tasks_of(rt)->owned[i];
		weft__spin_lock(&sh->lock);
		for (struct weft__task *t = sh->head; t; t = t->owned_next)
			fn(t, arg);
		weft__spin_unlock(&sh->lock);
	}
}

size_t weft__owned_shard_visit(weft_runtime *rt, unsigned i, size_t skip, size_t max,
			       void (*fn)(struct weft__task *t, void *arg), void *arg)
{
	struct weft__owned_shard *sh = &weft__tasks_of(rt)->owned[i];
	size_t pos = 0;
	weft__spin_lock(&sh->lock);
	for (struct weft__task *t = sh->head; t; t = t->owned_next, pos++)
		if (pos >= skip && pos - skip < max)
			fn(t, arg);
	weft__spin_unlock(&sh->lock);
	return pos;
}

size_t weft__owned_shard_live(weft_runtime *rt, unsigned i)
{
	/* Relaxed: a size hint (see weft__owned_live). */
	return atomic_load_explicit(&weft__tasks_of(rt)->owned[i].live, memory_order_relaxed);
}

size_t weft__owned_live(weft_runtime *rt)
{
	size_t n = 0;
	/* Relaxed: a statistic, summed without the shard locks. */
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++)
		n += atomic_load_explicit(&weft__tasks_of(rt)->owned[i].live, memory_order_relaxed);
	return n;
}

uint64_t weft__owned_spawned(weft_runtime *rt)
{
	uint64_t n = 0;
	/* Relaxed: a statistic. */
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++)
		n += atomic_load_explicit(&weft__tasks_of(rt)->owned[i].spawned, memory_order_relaxed);
	return n;
}
