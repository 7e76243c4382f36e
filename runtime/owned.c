/*
 * owned.c - the owned-task list: every live task of a runtime, so shutdown
 * can drop each one and the registry can list them.
 *
 * Protocol. The list is split into WEFT__OWNED_SHARDS shards, each a
 * doubly linked list under its own mutex, so spawns and completions on
 * different workers rarely meet on one lock. A task's shard is fixed at
 * spawn (from its address); `t->owned` says, under that shard's lock,
 * whether the task is still listed, so exactly one of completion and
 * shutdown takes the list's reference. Closing sets `closed` in every
 * shard under its lock: an insert after that fails, so no task is added
 * behind shutdown's back. `live` counts listed-and-unfinished tasks; it
 * is incremented under the lock and decremented by completion before the
 * COMPLETE transition (task.c), so whoever sees a task finished also sees
 * it uncounted.
 */
#include "internal.h"

#include <errno.h>

static inline struct weft__owned_shard *weft__shard_of(weft_runtime *rt, struct weft__task *t)
{
	return &rt->owned[t->shard];
}

int weft__owned_init(weft_runtime *rt)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		struct weft__owned_shard *sh = &rt->owned[i];
		sh->head = NULL;
		sh->closed = false;
		sh->next_id = 0;
		atomic_init(&sh->live, 0);
		atomic_init(&sh->spawned, 0);
		if (pthread_mutex_init(&sh->lock, NULL) != 0) {
			while (i-- > 0)
				pthread_mutex_destroy(&rt->owned[i].lock);
			return -ENOMEM;
		}
	}
	return 0;
}

void weft__owned_fini(weft_runtime *rt)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++)
		pthread_mutex_destroy(&rt->owned[i].lock);
}

int weft__owned_insert(weft_runtime *rt, struct weft__task *t)
{
	/* Spread by address: tasks made by one thread still land on many
	 * shards (allocations are at least 64 bytes apart). */
	t->shard = (uint8_t)(((uintptr_t)t >> 6) & (WEFT__OWNED_SHARDS - 1));
	struct weft__owned_shard *sh = weft__shard_of(rt, t);
	pthread_mutex_lock(&sh->lock);
	if (sh->closed) {
		pthread_mutex_unlock(&sh->lock);
		return -ESHUTDOWN;
	}
	/* Unique per runtime: the shard's own counter with the shard index
	 * in the low bits. */
	t->id = (++sh->next_id << WEFT__OWNED_SHARD_BITS) | t->shard;
	t->owned = true;
	t->owned_prev = NULL;
	t->owned_next = sh->head;
	if (sh->head)
		sh->head->owned_prev = t;
	sh->head = t;
	/* Relaxed: counters written under the lock, read anywhere as
	 * statistics; `live` is also decremented lock-free (task.c), so it
	 * needs a real RMW. */
	atomic_fetch_add_explicit(&sh->live, 1, memory_order_relaxed);
	atomic_store_explicit(&sh->spawned,
			      atomic_load_explicit(&sh->spawned, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	pthread_mutex_unlock(&sh->lock);
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
	t->owned = false;
}

bool weft__owned_remove(weft_runtime *rt, struct weft__task *t)
{
	struct weft__owned_shard *sh = weft__shard_of(rt, t);
	pthread_mutex_lock(&sh->lock);
	bool was = t->owned;
	if (was)
		weft__owned_unlink(sh, t);
	pthread_mutex_unlock(&sh->lock);
	return was;
}

void weft__owned_task_finished(weft_runtime *rt, struct weft__task *t)
{
	/* Relaxed: the caller's release (the COMPLETE transition) orders it. */
	atomic_fetch_sub_explicit(&weft__shard_of(rt, t)->live, 1, memory_order_relaxed);
}

void weft__owned_close(weft_runtime *rt)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		pthread_mutex_lock(&rt->owned[i].lock);
		rt->owned[i].closed = true;
		pthread_mutex_unlock(&rt->owned[i].lock);
	}
}

struct weft__task *weft__owned_pop(weft_runtime *rt)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		struct weft__owned_shard *sh = &rt->owned[i];
		pthread_mutex_lock(&sh->lock);
		struct weft__task *t = sh->head;
		if (t)
			weft__owned_unlink(sh, t);
		pthread_mutex_unlock(&sh->lock);
		if (t)
			return t;
	}
	return NULL;
}

void weft__owned_for_each(weft_runtime *rt, void (*fn)(struct weft__task *t, void *arg),
			  void *arg)
{
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++) {
		struct weft__owned_shard *sh = &rt->owned[i];
		pthread_mutex_lock(&sh->lock);
		for (struct weft__task *t = sh->head; t; t = t->owned_next)
			fn(t, arg);
		pthread_mutex_unlock(&sh->lock);
	}
}

size_t weft__owned_live(weft_runtime *rt)
{
	size_t n = 0;
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++)
		n += atomic_load_explicit(&rt->owned[i].live, memory_order_relaxed);
	return n;
}

uint64_t weft__owned_spawned(weft_runtime *rt)
{
	uint64_t n = 0;
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++)
		n += atomic_load_explicit(&rt->owned[i].spawned, memory_order_relaxed);
	return n;
}
