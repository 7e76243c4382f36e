/*
 * task.h - the task layer: the task header and its state word, task
 * memory, the owned-task list, and the scheduler interface the task code
 * calls through (a scheduler implements it; the task layer never names
 * one). Names are weft__ (private) throughout.
 *
 * A runtime's task part (struct weft__tasks) is the first member of the
 * runtime object (sched_runtime.h), so the task layer reaches it from a
 * weft_runtime pointer without knowing the rest of the object.
 */
#ifndef WEFT__TASK_H
#define WEFT__TASK_H

#include <weft/core.h>
#include <weft/runtime.h>

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sys.h"
#include "sys_spin.h"

/* ------------------------------------------------------------ the state */

/*
 * The task state word (see task.c for the protocol). Low bits are flags,
 * the rest is the reference count.
 */
#define WEFT__TASK_RUNNING       (1u << 0)  /* a thread is polling or dropping the future */
#define WEFT__TASK_COMPLETE      (1u << 1)  /* future finished and dropped; outcome final */
#define WEFT__TASK_NOTIFIED      (1u << 2)  /* in a run queue, or to be rescheduled */
#define WEFT__TASK_CANCELLED     (1u << 3)  /* abort or shutdown requested */
#define WEFT__TASK_JOIN_INTEREST (1u << 4)  /* a join handle exists */
#define WEFT__TASK_JOIN_WAKER    (1u << 5)  /* join_waker is set and owned by the task side */
#define WEFT__TASK_ABORTED       (1u << 6)  /* completed by cancellation (-ECANCELED) */
#define WEFT__TASK_REF_SHIFT     7
#define WEFT__TASK_REF_ONE       ((uint64_t)1 << WEFT__TASK_REF_SHIFT)
#define WEFT__TASK_REF_MASK      ((((uint64_t)1 << 35) - 1) << WEFT__TASK_REF_SHIFT)
/* Fixed at spawn, in the top 22 bits, which no transition changes:
 * the block's home cache and class (task_alloc.c) and its owned shard. */
#define WEFT__TASK_HOME_SHIFT    42         /* 11 bits */
#define WEFT__TASK_CLS_SHIFT     53         /* 7 bits */
#define WEFT__TASK_SHARD_SHIFT   60         /* 4 bits */

static inline unsigned weft__task_bits_home(uint64_t s)
{
	return (unsigned)(s >> WEFT__TASK_HOME_SHIFT) & 0x7ffu;
}

static inline unsigned weft__task_bits_cls(uint64_t s)
{
	return (unsigned)(s >> WEFT__TASK_CLS_SHIFT) & 0x7fu;
}

static inline unsigned weft__task_bits_shard(uint64_t s)
{
	return (unsigned)(s >> WEFT__TASK_SHARD_SHIFT) & 0xfu;
}

struct weft__task;

/*
 * The scheduler interface: what a scheduler flavour does for the runtime.
 * One instance per flavour, each in its own file (runtime/sched/
 * current_thread.c, multi_thread.c) with its own state, which the runtime
 * object carries after its shared part (sched_runtime.h). The task layer
 * calls only `schedule`; the runtime object (runtime.c) calls the rest,
 * so nothing outside a flavour's file asks which flavour runs.
 */
struct weft__sched_ops {
	const char *name;   /* "current_thread", "multi_thread" */
	/* Bytes of the flavour's state, allocated with the runtime object. */
	size_t size;
	/* Sets up the flavour's state (zeroed) for rt->config and starts
	 * its threads, if any; on failure undoes what it did and returns a
	 * negative errno. Called once, by weft_runtime_new, after the shared
	 * parts (queues, driver, blocking pools) exist. */
	int (*init)(weft_runtime *rt);
	/* @t carries one reference (the "notified" ref) that the run queue
	 * now owns; push it where a worker will poll it, or, if the runtime
	 * is closed, drop that reference. @yield: the task woke itself while
	 * running (back of the queue, not the LIFO slot). Any thread. */
	void (*schedule)(weft_runtime *rt, struct weft__task *t, bool yield);
	/* weft_block_on once the arguments, fork and nesting are checked
	 * (the public contract in weft/runtime.h). */
	int (*block_on)(weft_runtime *rt, weft_future *fut);
	/* The runtime is closed (no task is queued any more): stop the
	 * flavour's threads and drop the references its own queues hold.
	 * Called once, by weft_runtime_close, before the live tasks' futures
	 * are dropped. */
	void (*shutdown)(weft_runtime *rt);
	/* The last runtime reference is gone: release what init made.
	 * Called once, from the runtime object's destructor. */
	void (*fini)(weft_runtime *rt);
	/* Fills *@out for worker @index (every field the flavour keeps);
	 * -EINVAL for an index past the flavour's workers. Any thread. */
	int (*metrics)(weft_runtime *rt, uint32_t index, weft_worker_metrics *out);
};

/*
 * The task header, 64 bytes; the future follows it in the same
 * allocation. Only `state` is shared without a lock (it also carries the
 * fields fixed at spawn, see above); `queue_next` belongs to whichever
 * run queue holds the notified reference; the owned-list links are
 * guarded by the task's owned shard lock (owned_prev is WEFT__NOT_OWNED
 * while the task is not listed); `join_waker` is owned as the JOIN_WAKER
 * bit says (task.c).
 */
struct weft__task {
	_Atomic uint64_t state;
	weft_runtime *rt;
	struct weft__task *queue_next;
	struct weft__task *owned_prev, *owned_next;
	weft_waker join_waker;
	const weft_location *loc;   /* where it was spawned, or NULL */
	alignas(max_align_t) unsigned char future[];
};

#define WEFT__NOT_OWNED ((struct weft__task *)(uintptr_t)1)

static inline weft_future *weft__task_future(struct weft__task *t)
{
	return (weft_future *)(void *)t->future;
}

/* Polls @t once on the calling worker (consuming the notified reference),
 * then completes, cancels or re-queues it as the state word says. The
 * poll gets @budget units of cooperative budget; a task woken during its
 * own poll is queued again through its runtime's schedule hook, as a
 * yield (behind the tasks already queued). */
void weft__task_run(struct weft__task *t, uint32_t budget);
/* Called on shutdown with the owned-list reference the caller took over:
 * drops the future if no thread is running it, then releases the ref. */
void weft__task_shutdown(struct weft__task *t);
/* Drops one reference; frees the task when it was the last. */
void weft__task_ref_dec(struct weft__task *t);
/* Handle side (the thread that owns @h): takes back and drops the waker a
 * weft_join_handle_poll left with the task, if the task side no longer
 * needs it. Used by weft_join_task_drop. */
void weft__join_handle_withdraw_waker(weft_join_handle *h);

/* ----------------------------------------------------------- task memory */

/*
 * Task memory (task_alloc.c): blocks carved from 64 KiB slabs that
 * per-thread caches own. A runtime's blocks come in steps of its grain:
 * whole cache lines (64 bytes) on the multi-thread flavour, so no two
 * tasks share a line (a task polled on one worker never slows its
 * neighbour on another), 16 bytes on the current-thread flavour, whose
 * one thread polls every task. Class c holds blocks of c grains; class 0
 * marks a block from plain malloc (larger than the classes, or caches
 * off).
 */
#define WEFT__TASK_ALIGN 64u      /* a cache line; slab headers take one */
#define WEFT__TC_GRAIN_LINE 6u    /* grain shifts: 64 bytes */
#define WEFT__TC_GRAIN_SMALL 4u   /* 16 bytes */
#define WEFT__TC_CLASSES 65u      /* classes 1 .. 64 at 16 bytes, 1 .. 16 at 64: up to 1 KiB */
#define WEFT__TC_MAX_BYTES 1024u  /* larger tasks: malloc */
#define WEFT__SLAB_BYTES 65536u
#define WEFT__SLAB_CHUNK 16u      /* slabs mapped at once (1 MiB) */
#define WEFT__SLAB_KEEP 16u       /* empty slabs a cache keeps when it trims */
#define WEFT__SLAB_TRIM 8u        /* slabs one trim returns at most */
/* Home numbers in a task's state: 0 the runtime's shared cache (threads
 * without one of their own), h >= 1 the cache of worker h - 1 (or of the
 * current-thread core, home 1). */
#define WEFT__TC_HOME_SHARED 0u
struct weft__tc_block;
struct weft__slab;
struct weft__task_cache {
	/* Owner only: per class, the slabs with a free block (a list
	 * through the slab headers); slabs entirely free, of no class;
	 * slabs of the last mapped chunk not used yet. */
	struct weft__slab *partial[WEFT__TC_CLASSES];
	struct weft__slab *empty;
	uint32_t nempty;
	uint32_t nslabs;   /* slabs taken from chunks and not returned */
	char *fresh, *fresh_end;
	/* Blocks freed by other threads, per class: a push-only stack the
	 * owner takes whole (task_alloc.c). */
	struct weft__tc_block *_Atomic remote[WEFT__TC_CLASSES];
};
/* Allocates @size bytes for a task; *@bits gets the home and class bits
 * to put in its state word. */
struct weft__task *weft__task_mem_alloc(weft_runtime *rt, size_t size, uint64_t *bits);
void weft__task_mem_free(weft_runtime *rt, struct weft__task *t);
/* Owner, about to sleep: takes back the blocks other threads freed and
 * returns up to WEFT__SLAB_TRIM empty slabs beyond WEFT__SLAB_KEEP to
 * the system; then does the same for the runtime's shared cache, if its
 * lock is free. */
void weft__task_cache_trim(weft_runtime *rt, struct weft__task_cache *c);
/* Returns every slab of @c to the system; every block must be free
 * (after the last task of its runtime was). */
void weft__task_cache_fini(struct weft__task_cache *c);
/* The runtime's shared cache: set up by weft_runtime_new before any
 * spawn, released with the runtime object (after its last task). */
void weft__task_mem_init(weft_runtime *rt);
void weft__task_mem_fini(weft_runtime *rt);

/*
 * The cache the calling thread owns, and its home number: set by the
 * scheduler while the thread runs tasks of @rt (a multi-thread worker: its
 * own cache, home = index + 1; the current-thread core inside block_on:
 * the core's cache, home 1), cleared when it stops. Thread-local.
 */
struct weft__task_cache_owner {
	weft_runtime *rt;
	struct weft__task_cache *cache;
	uint16_t home;
};
extern _Thread_local struct weft__task_cache_owner weft__my_task_cache
	__attribute__((tls_model("initial-exec")));

static inline void weft__task_cache_enter(weft_runtime *rt, struct weft__task_cache *c,
					  uint16_t home)
{
	weft__my_task_cache = (struct weft__task_cache_owner){ rt, c, home };
}

static inline void weft__task_cache_leave(void)
{
	weft__my_task_cache = (struct weft__task_cache_owner){ 0 };
}

/* ---------------------------------------------------- the owned-task list */

/* One shard of the owned-task list (owned.c). */
#define WEFT__OWNED_SHARD_BITS 4
#define WEFT__OWNED_SHARDS (1u << WEFT__OWNED_SHARD_BITS)
struct weft__owned_shard {
	struct weft__spin lock;
	struct weft__task *head;
	bool closed;
	_Atomic size_t live;
	_Atomic uint64_t spawned;
} __attribute__((aligned(64)));

int weft__owned_init(weft_runtime *rt);
void weft__owned_fini(weft_runtime *rt);
/* Lists @t in the shard its state names; -ESHUTDOWN once closed. */
int weft__owned_insert(weft_runtime *rt, struct weft__task *t);
/* Removes @t from the owned list if it is still there; returns whether it
 * was (its owned reference then passes to the caller). */
bool weft__owned_remove(weft_runtime *rt, struct weft__task *t);
void weft__owned_close(weft_runtime *rt);
/* Unlists and returns some task (its list reference passes to the caller). */
struct weft__task *weft__owned_pop(weft_runtime *rt);
/* Calls @fn on every listed task, holding each shard's lock in turn. */
void weft__owned_for_each(weft_runtime *rt, void (*fn)(struct weft__task *t, void *arg),
			  void *arg);
/* Calls @fn, under shard @i's lock, on the tasks at positions @skip to
 * @skip + @max - 1 of that shard's list; returns how many tasks the shard
 * lists. @fn runs under a spinlock: it may only copy (no I/O, no locks,
 * no allocation). */
size_t weft__owned_shard_visit(weft_runtime *rt, unsigned i, size_t skip, size_t max,
			       void (*fn)(struct weft__task *t, void *arg), void *arg);
/* Tasks listed in shard @i now (a hint for sizing a snapshot). */
size_t weft__owned_shard_live(weft_runtime *rt, unsigned i);
size_t weft__owned_live(weft_runtime *rt);
uint64_t weft__owned_spawned(weft_runtime *rt);

/* ------------------------------------------------- a runtime's task part */

struct weft__tasks {
	/* The scheduler flavour's implementation of the interface above. */
	const struct weft__sched_ops *ops;
	/* Frees the runtime object once its last reference is gone
	 * (weft__runtime_ref_dec); set by the runtime object (runtime.c). */
	void (*destroy)(weft_runtime *rt);

	/* References: 1 for the owner (dropped by weft_runtime_close) and one
	 * per allocated task, so a waker that outlives the owner's free can
	 * still reach the scheduler it queues on. */
	_Atomic size_t refs;

	/* weft__fork_generation when the runtime was made (runtime.c). */
	unsigned fork_gen;

	/* The task-memory caches of the threads that run tasks: the one
	 * with home h (1 ..) is at worker_caches + (h - 1) *
	 * worker_cache_stride. Set by the scheduler flavour's init before
	 * any of its threads runs a task (a multi-thread worker's cache, or
	 * the current-thread core's, home 1). */
	char *worker_caches;
	size_t worker_cache_stride;
	/* log2 of the block grain (WEFT__TC_GRAIN_*): set with the caches,
	 * before any spawn. */
	unsigned grain_shift;

	/* The cache of every other thread (home WEFT__TC_HOME_SHARED): a
	 * block_on caller of the multi-thread flavour, a plain thread
	 * spawning; its owner is whoever holds shared_lock. Trimmed by the
	 * workers (or the core) when they sleep. */
	struct weft__spin shared_lock;
	struct weft__task_cache shared_cache;

	struct weft__owned_shard owned[WEFT__OWNED_SHARDS];
};

/* The task part of @rt: the runtime object's first member. */
static inline struct weft__tasks *weft__tasks_of(weft_runtime *rt)
{
	return (struct weft__tasks *)(void *)rt;
}

/*
 * Fork detection: a pthread_atfork child handler (registered by the first
 * weft_runtime_new) bumps the generation, so a runtime inherited from the
 * parent has a stale fork_gen in the child. Relaxed: the child handler
 * runs on the child's only thread, before any call that checks it, and
 * threads the child starts later see it through pthread_create.
 */
extern _Atomic unsigned weft__fork_generation;

static inline bool weft__runtime_forked(weft_runtime *rt)
{
	return weft__tasks_of(rt)->fork_gen !=
	       atomic_load_explicit(&weft__fork_generation, memory_order_relaxed);
}

/* Takes a reference on @rt for an object that may outlive its owner's
 * weft_runtime_close (a task, a waker, a registered socket). The caller
 * already holds a reference or is the owner. */
static inline void weft__runtime_ref_inc(weft_runtime *rt)
{
	/* Relaxed: like any reference count increment, it publishes nothing
	 * and the caller's own reference keeps rt alive meanwhile. */
	atomic_fetch_add_explicit(&weft__tasks_of(rt)->refs, 1, memory_order_relaxed);
}

/* Drops a reference on @rt; the last one frees it (tasks.destroy). */
void weft__runtime_ref_dec(weft_runtime *rt);

#endif /* WEFT__TASK_H */
