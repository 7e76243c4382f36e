/*
 * task_alloc.c - task memory: per-worker caches of freed task blocks, so
 * spawning on a worker rarely reaches malloc and a task freed on another
 * thread goes back to the worker that allocated it.
 *
 * Protocol. A block allocated by worker W (its size rounded up to a
 * WEFT__TC_STEP class) remembers W and its class. When freed by W itself,
 * it goes on W's local list for that class (owner only, plain pointers),
 * up to about WEFT__TC_MAX blocks. The current-thread flavour's core
 * (the thread inside block_on) has one such cache, home 1, as worker 0
 * would. When freed by any other thread, it is pushed
 * on W's remote stack for the class with a CAS (release); W takes the
 * whole stack at once with an exchange (acquire) when its local list is
 * empty. Only W takes from the stack, and it takes everything, so the
 * push-only stack has no ABA problem. Blocks left in the caches are freed
 * when the runtime object is (weft__task_cache_fini), which happens only
 * after every task released its runtime reference, so after every block
 * came home. Outside threads and larger tasks use malloc directly. Under
 * AddressSanitizer the caches are off, so use-after-free of a task is
 * still caught.
 *
 * Which cache a thread owns is the scheduler's to say: it sets
 * weft__my_task_cache (task.h) where it sets weft__current_rt, and it
 * tells the runtime's task part where the workers' caches are, so this
 * file knows no worker and no runtime object.
 */
#include "task.h"

#if defined(__SANITIZE_ADDRESS__)
#define WEFT__TC_ENABLED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEFT__TC_ENABLED 0
#endif
#endif
#ifndef WEFT__TC_ENABLED
#define WEFT__TC_ENABLED 1
#endif

struct weft__tc_block {
	struct weft__tc_block *next;
};

/*
 * Classes follow malloc's chunks: a chunk is the request plus an 8-byte
 * header, in 16-byte steps. Class c holds blocks of c * 16 - 8 bytes, so
 * a task costs exactly the chunk malloc would give it (a 104-byte task
 * takes a 112-byte chunk, not 128).
 */
static inline size_t weft__tc_class(size_t size)
{
	return (size + 8 + WEFT__TC_STEP - 1) / WEFT__TC_STEP;   /* 1 .. */
}

static inline size_t weft__tc_bytes(size_t cls)
{
	return cls * WEFT__TC_STEP - 8;
}

/* The cache the calling thread owns for @rt, and its home number: a
 * worker's, or the current-thread core's while it is inside block_on. */
_Thread_local struct weft__task_cache_owner weft__my_task_cache __attribute__((tls_model("initial-exec")));

static struct weft__task_cache *weft__my_cache(weft_runtime *rt, uint16_t *home)
{
	if (weft__my_task_cache.rt == rt) {
		*home = weft__my_task_cache.home;
		return weft__my_task_cache.cache;
	}
	return NULL;
}

static struct weft__task_cache *weft__home_cache(weft_runtime *rt, uint16_t home)
{
	struct weft__tasks *ts = weft__tasks_of(rt);
	return (struct weft__task_cache *)(void *)(ts->worker_caches +
						   (size_t)(home - 1) * ts->worker_cache_stride);
}

struct weft__task *weft__task_mem_alloc(weft_runtime *rt, size_t size, uint64_t *bits)
{
	size_t cls = weft__tc_class(size);
	uint16_t home = 0;
	struct weft__task_cache *c = WEFT__TC_ENABLED && cls < WEFT__TC_CLASSES
					     ? weft__my_cache(rt, &home)
					     : NULL;
	if (!c) {
		*bits = 0;   /* home 0: malloc */
		return weft__alloc(size);
	}
	struct weft__tc_block *b = c->local[cls];
	if (b) {
		c->local[cls] = b->next;
		c->nlocal[cls]--;
	} else {
		/* Acquire: the freeing threads' release pushes. */
		b = atomic_exchange_explicit(&c->remote[cls], NULL, memory_order_acquire);
		if (b) {
			/* Not counted: nlocal bounds only what local frees
			 * add, which keeps the cap soft and this O(1). */
			c->local[cls] = b->next;
		} else {
			b = weft__alloc(weft__tc_bytes(cls));
			if (!b)
				return NULL;
		}
	}
	*bits = ((uint64_t)home << WEFT__TASK_HOME_SHIFT) |
		((uint64_t)cls << WEFT__TASK_CLS_SHIFT);
	return (struct weft__task *)(void *)b;
}

void weft__task_mem_free(weft_runtime *rt, struct weft__task *t)
{
	/* Relaxed: the fixed bits never change, and the task is ours. */
	uint64_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	uint16_t home = (uint16_t)weft__task_bits_home(st);
	if (home == 0) {
		weft__free(t);
		return;
	}
	struct weft__task_cache *c = weft__home_cache(rt, home);
	size_t cls = weft__task_bits_cls(st);
	struct weft__tc_block *b = (struct weft__tc_block *)(void *)t;
	uint16_t mine;
	if (weft__my_cache(rt, &mine) == c) {
		if (c->nlocal[cls] >= WEFT__TC_MAX) {
			weft__free(b);
			return;
		}
		b->next = c->local[cls];
		c->local[cls] = b;
		c->nlocal[cls]++;
		return;
	}
	/* Relaxed: a first guess for the CAS below. */
	b->next = atomic_load_explicit(&c->remote[cls], memory_order_relaxed);
	/* Release: our last use of the block happens-before the owner
	 * reuses it (its acquire exchange). */
	while (!atomic_compare_exchange_weak_explicit(&c->remote[cls], &b->next, b,
						      memory_order_release,
						      memory_order_relaxed))
		;
}

static void weft__tc_free_list(struct weft__tc_block *b)
{
	while (b) {
		struct weft__tc_block *next = b->next;
		weft__free(b);
		b = next;
	}
}

void weft__task_cache_fini(struct weft__task_cache *c)
{
	for (size_t i = 0; i < WEFT__TC_CLASSES; i++) {
		weft__tc_free_list(c->local[i]);
		c->local[i] = NULL;
		c->nlocal[i] = 0;
		/* Acquire: the blocks' last users released them. */
		weft__tc_free_list(atomic_exchange_explicit(&c->remote[i], NULL,
							    memory_order_acquire));
	}
}
