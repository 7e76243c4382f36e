/*
 * task_alloc.c - task memory: blocks carved from slabs that per-thread
 * caches own, so spawning rarely reaches the system, a task freed on
 * another thread goes back to the cache that allocated it, and on the
 * multi-thread flavour no two tasks share a cache line.
 *
 * Grains. Tasks made one after another by one thread sit side by side in
 * memory, and the multi-thread scheduler spreads them over its workers.
 * Had two of them a cache line in common, every state-word update of one
 * would take the line away from the worker polling the other (measured
 * on yield_many, 1,000 tasks on 2 workers: 16.9 M yields/s with 16-byte
 * malloc chunks, 28.5 M/s with blocks of whole lines). So that flavour's
 * blocks come in steps of a line (grain 64 bytes); the current-thread
 * flavour, whose one thread polls every task, keeps 16-byte steps and
 * the memory they save. malloc's own aligned allocation costs 2 to 2.5
 * times the memory for blocks this small, hence slabs.
 *
 * Slabs. A slab is WEFT__SLAB_BYTES at a WEFT__SLAB_BYTES boundary, so
 * a block finds its slab by masking its address; a cache maps
 * WEFT__SLAB_CHUNK of them at once (weft__map_aligned: mappings and
 * unmappings are costly, in a virtual machine most of all). A slab's
 * first line is its header; blocks of one class follow, handed out from
 * the slab's free list, else by bumping a pointer (a new slab touches
 * only the pages it hands out). A cache keeps, per class, the list of
 * its slabs that have a free block. A slab left entirely free stays in
 * its class if no other slab of the class has room at that moment (so
 * one task coming and going does not move it; at most one such slab per
 * class), else it goes to the cache's list of empty slabs, which any
 * class reuses. When its owner runs out of work and is about to sleep,
 * the cache trims: it takes back the blocks other threads freed and
 * returns up to WEFT__SLAB_TRIM empty slabs beyond WEFT__SLAB_KEEP to
 * the system; the shared cache is trimmed by whichever owner sleeps
 * while its lock is free. So memory follows the live tasks, not their
 * peak, without a system call on the spawn and completion path.
 *
 * Owners. A cache has one owner at a time, the only thread that touches
 * its slab headers and lists: a worker's cache, the current-thread
 * core's (while it is inside block_on), or the runtime's shared cache
 * (whoever holds shared_lock: threads without a cache of their own, such
 * as a block_on caller of the multi-thread flavour). Which cache a thread
 * owns is the scheduler's to say: it sets weft__my_task_cache (task.h)
 * where it sets weft__current_rt, and it tells the runtime's task part
 * where the workers' caches are, so this file knows no worker and no
 * scheduler.
 *
 * A block freed by a thread that does not own its home cache (always,
 * for the shared cache) is pushed on that cache's remote stack for its
 * class with a CAS (release); the owner takes the whole stack with an
 * exchange (acquire) when it has no free block of that class, and puts
 * those blocks back in their slabs. Only the owner takes from the stack,
 * and it takes everything, so the push-only stack has no ABA problem.
 * The slabs left are unmapped when the runtime object is freed
 * (weft__task_cache_fini), which happens only after every task released
 * its runtime reference, so after every block came home.
 *
 * Tasks over WEFT__TC_MAX_BYTES (1 KiB) use malloc directly (class 0). Under AddressSanitizer
 * the caches are off, so use-after-free of a task is still caught.
 */
#include "task.h"

#include <assert.h>

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

/* A slab's header, its first line. Owner only. */
struct weft__slab {
	struct weft__tc_block *free;   /* blocks given back */
	char *bump;                    /* the first block never handed out */
	struct weft__slab *prev, *next; /* in a partial list, or the empty list */
	uint32_t nfree;                /* free blocks: listed + not yet bumped */
	uint32_t nblocks;
};

_Static_assert(sizeof(struct weft__slab) <= WEFT__TASK_ALIGN, "a slab header is one line");
_Static_assert((WEFT__SLAB_BYTES & (WEFT__SLAB_BYTES - 1)) == 0, "slabs align to their size");

static inline struct weft__slab *weft__slab_of(struct weft__tc_block *b)
{
	return (struct weft__slab *)((uintptr_t)b & ~(uintptr_t)(WEFT__SLAB_BYTES - 1));
}

static void weft__slab_link(struct weft__task_cache *c, size_t cls, struct weft__slab *s)
{
	s->prev = NULL;
	s->next = c->partial[cls];
	if (s->next)
		s->next->prev = s;
	c->partial[cls] = s;
}

static void weft__slab_unlink(struct weft__task_cache *c, size_t cls, struct weft__slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		c->partial[cls] = s->next;
	if (s->next)
		s->next->prev = s->prev;
}

/* A slab for class @cls (blocks of @bytes): an entirely free one, else a
 * fresh one from the last chunk, else from a new chunk; NULL when the
 * system has none. */
static struct weft__slab *weft__slab_get(struct weft__task_cache *c, size_t cls, size_t bytes)
{
	struct weft__slab *s = c->empty;
	if (s) {
		c->empty = s->next;
		c->nempty--;
	} else {
		if (c->fresh == c->fresh_end) {
			size_t len = (size_t)WEFT__SLAB_CHUNK * WEFT__SLAB_BYTES;
			char *chunk = weft__map_aligned(len, WEFT__SLAB_BYTES);
			if (!chunk)
				return NULL;
			c->fresh = chunk;
			c->fresh_end = chunk + len;
		}
		s = (struct weft__slab *)(void *)c->fresh;
		c->fresh += WEFT__SLAB_BYTES;
		c->nslabs++;
	}
	s->free = NULL;
	s->bump = (char *)s + WEFT__TASK_ALIGN;
	s->nblocks = (uint32_t)((WEFT__SLAB_BYTES - WEFT__TASK_ALIGN) / bytes);
	s->nfree = s->nblocks;
	weft__slab_link(c, cls, s);
	return s;
}

/* Owner: gives block @b back to its slab. A slab left entirely free
 * leaves its class for the empty list, unless it is the class's only
 * slab with room (so one task coming and going does not move it). */
static void weft__tc_put(struct weft__task_cache *c, size_t cls, struct weft__tc_block *b)
{
	struct weft__slab *s = weft__slab_of(b);
	b->next = s->free;
	s->free = b;
	if (s->nfree++ == 0)
		weft__slab_link(c, cls, s);
	if (s->nfree == s->nblocks && (s->prev || s->next)) {
		weft__slab_unlink(c, cls, s);
		s->next = c->empty;
		c->empty = s;
		c->nempty++;
	}
}

/* Owner: takes back the blocks other threads freed. */
static void weft__tc_drain(struct weft__task_cache *c, size_t cls)
{
	/* Acquire: the freeing threads' release pushes. */
	struct weft__tc_block *b = atomic_exchange_explicit(&c->remote[cls], NULL,
							     memory_order_acquire);
	while (b) {
		struct weft__tc_block *next = b->next;
		weft__tc_put(c, cls, b);
		b = next;
	}
}

/* Owner, out of free blocks of class @cls: takes back those other
 * threads freed, else takes a slab; false when the system has none. */
static __attribute__((noinline)) bool weft__tc_refill(struct weft__task_cache *c, size_t cls,
						      size_t bytes)
{
	weft__tc_drain(c, cls);
	return c->partial[cls] || weft__slab_get(c, cls, bytes);
}

/* Owner: a free block of class @cls (blocks of @bytes), or NULL when the
 * system has none. Inlined: the spawn path. */
static inline __attribute__((always_inline)) struct weft__tc_block *
weft__tc_take(struct weft__task_cache *c, size_t cls, size_t bytes)
{
	struct weft__slab *s = c->partial[cls];
	if (weft__unlikely(!s)) {
		if (!weft__tc_refill(c, cls, bytes))
			return NULL;
		s = c->partial[cls];
	}
	struct weft__tc_block *b = s->free;
	if (weft__likely(b != NULL)) {
		s->free = b->next;
	} else {
		b = (struct weft__tc_block *)(void *)s->bump;
		s->bump += bytes;
	}
	if (weft__unlikely(--s->nfree == 0))
		weft__slab_unlink(c, cls, s);
	return b;
}

/* Owner: returns a slab to the system; false if the kernel refused. */
static bool weft__slab_unmap(struct weft__task_cache *c, struct weft__slab *s)
{
	if (weft__unmap(s, WEFT__SLAB_BYTES) < 0)
		return false;
	c->nslabs--;
	return true;
}

static void weft__tc_trim(struct weft__task_cache *c)
{
	for (size_t cls = 1; cls < WEFT__TC_CLASSES; cls++)
		/* Relaxed: a hint; the exchange in the drain acquires. */
		if (atomic_load_explicit(&c->remote[cls], memory_order_relaxed))
			weft__tc_drain(c, cls);
	/* A few at a time: each unmapping is a system call (with a TLB
	 * shootdown), and the sleep it delays may be short. */
	for (unsigned n = 0; n < WEFT__SLAB_TRIM && c->nempty > WEFT__SLAB_KEEP; n++) {
		struct weft__slab *s = c->empty, *next = s->next;
		if (!weft__slab_unmap(c, s))
			break;   /* still mapped: it stays on the list */
		c->empty = next;
		c->nempty--;
	}
}

void weft__task_cache_trim(weft_runtime *rt, struct weft__task_cache *c)
{
	weft__tc_trim(c);
	/* The shared cache has no owner who sleeps: the sleepers trim it,
	 * unless a spawner holds it right now. */
	struct weft__tasks *ts = weft__tasks_of(rt);
	if (weft__spin_trylock(&ts->shared_lock)) {
		weft__tc_trim(&ts->shared_cache);
		weft__spin_unlock(&ts->shared_lock);
	}
}

/* The cache the calling thread owns for @rt, and its home number: a
 * worker's, or the current-thread core's while it is inside block_on. */
_Thread_local struct weft__task_cache_owner weft__my_task_cache __attribute__((tls_model("initial-exec")));

static struct weft__task_cache *weft__home_cache(weft_runtime *rt, unsigned home)
{
	struct weft__tasks *ts = weft__tasks_of(rt);
	if (home == WEFT__TC_HOME_SHARED)
		return &ts->shared_cache;
	return (struct weft__task_cache *)(void *)(ts->worker_caches +
						   (size_t)(home - 1) * ts->worker_cache_stride);
}

/* A block of class @cls from the runtime's shared cache (threads without
 * a cache of their own), under its lock. Out of line: the spawn path of
 * a worker stays short. */
static __attribute__((noinline)) struct weft__task *
weft__task_mem_alloc_shared(weft_runtime *rt, size_t cls, unsigned shift, uint64_t *bits)
{
	struct weft__tasks *ts = weft__tasks_of(rt);
	weft__spin_lock(&ts->shared_lock);
	struct weft__tc_block *b = weft__tc_take(&ts->shared_cache, cls, cls << shift);
	weft__spin_unlock(&ts->shared_lock);
	*bits = ((uint64_t)WEFT__TC_HOME_SHARED << WEFT__TASK_HOME_SHIFT) |
		((uint64_t)cls << WEFT__TASK_CLS_SHIFT);
	return (struct weft__task *)(void *)b;
}

struct weft__task *weft__task_mem_alloc(weft_runtime *rt, size_t size, uint64_t *bits)
{
	if (!WEFT__TC_ENABLED || size > WEFT__TC_MAX_BYTES) {
		*bits = 0;   /* class 0: malloc */
		return weft__alloc(size);
	}
	unsigned shift = weft__tasks_of(rt)->grain_shift;
	size_t cls = (size + ((size_t)1 << shift) - 1) >> shift;   /* 1 .. 64 */
	if (weft__unlikely(weft__my_task_cache.rt != rt))
		return weft__task_mem_alloc_shared(rt, cls, shift, bits);
	*bits = ((uint64_t)weft__my_task_cache.home << WEFT__TASK_HOME_SHIFT) |
		((uint64_t)cls << WEFT__TASK_CLS_SHIFT);
	return (struct weft__task *)(void *)weft__tc_take(weft__my_task_cache.cache, cls,
							  cls << shift);
}

void weft__task_mem_free(weft_runtime *rt, struct weft__task *t)
{
	/* Relaxed: the fixed bits never change, and the task is ours. */
	uint64_t st = atomic_load_explicit(&t->state, memory_order_relaxed);
	size_t cls = weft__task_bits_cls(st);
	if (cls == 0) {
		weft__free(t);
		return;
	}
	struct weft__task_cache *c = weft__home_cache(rt, weft__task_bits_home(st));
	struct weft__tc_block *b = (struct weft__tc_block *)(void *)t;
	if (weft__my_task_cache.rt == rt && weft__my_task_cache.cache == c) {
		weft__tc_put(c, cls, b);
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

void weft__task_cache_fini(struct weft__task_cache *c)
{
	for (size_t cls = 1; cls < WEFT__TC_CLASSES; cls++) {
		weft__tc_drain(c, cls);
		struct weft__slab *s;
		while ((s = c->partial[cls]) != NULL) {
			weft__slab_unlink(c, cls, s);
			weft__slab_unmap(c, s);
		}
	}
	while (c->empty) {
		struct weft__slab *s = c->empty;
		c->empty = s->next;   /* before the unmapping */
		weft__slab_unmap(c, s);
	}
	c->nempty = 0;
	/* Every block came home, so every slab was on a list: one left
	 * over held a task still alive after its runtime (or the kernel
	 * refused an unmapping). */
	assert(c->nslabs == 0);
	if (c->fresh != c->fresh_end)
		weft__unmap(c->fresh, (size_t)(c->fresh_end - c->fresh));
	c->fresh = c->fresh_end = NULL;
}

void weft__task_mem_init(weft_runtime *rt)
{
	struct weft__tasks *ts = weft__tasks_of(rt);
	atomic_init(&ts->shared_lock.locked, 0);
	ts->grain_shift = WEFT__TC_GRAIN_SMALL;
	struct weft__task_cache *c = &ts->shared_cache;
	for (size_t cls = 0; cls < WEFT__TC_CLASSES; cls++) {
		c->partial[cls] = NULL;
		atomic_init(&c->remote[cls], NULL);
	}
	c->empty = NULL;
	c->nempty = 0;
	c->nslabs = 0;
	c->fresh = c->fresh_end = NULL;
}

void weft__task_mem_fini(weft_runtime *rt)
{
	weft__task_cache_fini(&weft__tasks_of(rt)->shared_cache);
}
