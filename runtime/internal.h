/*
 * internal.h - what the runtime's files share and nothing public: the task
 * header and its state word, the scheduler interface, the runtime object
 * and the thread parker. Names are weft__ (private) throughout.
 */
#ifndef WEFT__INTERNAL_H
#define WEFT__INTERNAL_H

#include <weft/core.h>
#include <weft/runtime.h>

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>

#include "sys.h"
#include "driver.h"
#include "idle.h"
#include "queue.h"

#define weft__container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define weft__likely(x) __builtin_expect(!!(x), 1)
#define weft__unlikely(x) __builtin_expect(!!(x), 0)

/* ------------------------------------------------------------------ task */

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

/* What a scheduler does with tasks; one instance per flavour. */
struct weft__sched_ops {
	/* @t carries one reference (the "notified" ref) that the run queue
	 * now owns; push it where a worker will poll it, or, if the runtime
	 * is closed, drop that reference. @yield: the task woke itself while
	 * running (back of the queue, not the LIFO slot). Any thread. */
	void (*schedule)(weft_runtime *rt, struct weft__task *t, bool yield);
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

/* Task memory (task_alloc.c): per-worker caches by 16-byte class. */
#define WEFT__TC_STEP 16u
#define WEFT__TC_CLASSES 65u      /* blocks up to 1 KiB */
#define WEFT__TC_MAX 1024u        /* cached blocks per class and worker */
struct weft__tc_block;
struct weft__task_cache {
	struct weft__tc_block *local[WEFT__TC_CLASSES];   /* owner only */
	uint32_t nlocal[WEFT__TC_CLASSES];
	struct weft__tc_block *_Atomic remote[WEFT__TC_CLASSES];
};
#define WEFT__HOME_CORE 0x7ffu    /* home of a block from rt->core_cache */
/* Allocates @size bytes for a task; *@bits gets the home and class bits
 * to put in its state word. */
struct weft__task *weft__task_mem_alloc(weft_runtime *rt, size_t size, uint64_t *bits);
void weft__task_mem_free(weft_runtime *rt, struct weft__task *t);
void weft__task_cache_fini(struct weft__task_cache *c);

static inline weft_future *weft__task_future(struct weft__task *t)
{
	return (weft_future *)(void *)t->future;
}

/* Polls @t once on the calling worker (consuming the notified reference),
 * then completes, cancels or re-queues it as the state word says.
 * @resched is how a notified-during-poll task is queued again. */
void weft__task_run(struct weft__task *t, uint32_t budget);
/* Called on shutdown with the owned-list reference the caller took over:
 * drops the future if no thread is running it, then releases the ref. */
void weft__task_shutdown(struct weft__task *t);
/* Drops one reference; frees the task when it was the last. */
void weft__task_ref_dec(struct weft__task *t);

/* ---------------------------------------------------------------- parker */

/* Puts one thread to sleep until another unparks it; an unpark that comes
 * first makes the next park return at once (one stored token). */
struct weft__parker {
	_Atomic int state;   /* EMPTY, PARKED, NOTIFIED (parker.c) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

int weft__parker_init(struct weft__parker *p);
void weft__parker_destroy(struct weft__parker *p);
void weft__parker_park(struct weft__parker *p);
void weft__parker_unpark(struct weft__parker *p);

/* ---------------------------------------------------------------- runtime */

/* A FIFO of tasks linked through queue_next. */
struct weft__task_fifo {
	struct weft__task *head, *tail;
	size_t len;
};

static inline void weft__fifo_push(struct weft__task_fifo *q, struct weft__task *t)
{
	t->queue_next = NULL;
	if (q->tail)
		q->tail->queue_next = t;
	else
		q->head = t;
	q->tail = t;
	q->len++;
}

static inline struct weft__task *weft__fifo_pop(struct weft__task_fifo *q)
{
	struct weft__task *t = q->head;
	if (t) {
		q->head = t->queue_next;
		if (!q->head)
			q->tail = NULL;
		q->len--;
	}
	return t;
}

/* Per-worker counters: written by the owning worker only, read by any
 * thread through the metrics API (relaxed loads). */
struct weft__worker_counters {
	_Atomic uint64_t polls, steals, steal_operations, parks, unparks;
	_Atomic uint64_t local_schedules, remote_schedules, overflows, lifo_hits;
};

/* A multi-thread worker (worker.c). */
struct weft__worker {
	weft_runtime *rt;
	uint32_t index;
	pthread_t thread;
	struct weft__task *lifo;   /* owner only */
	uint32_t tick;
	uint32_t rng;
	bool searching;
	bool running;              /* inside weft__run_task: wakes go to LIFO */
	_Atomic int park_state;
	pthread_mutex_t park_lock;
	pthread_cond_t park_cond;
	struct weft__worker_counters m;
	alignas(64) struct weft__task_cache cache;
	alignas(64) struct weft__local_queue queue;
};

/*
 * A small spinlock for critical sections of a few instructions that are
 * rarely contended (the owned-list shards): lock is one exchange, unlock
 * one release store. Spins with a pause, then yields the CPU, so a
 * preempted holder costs time, never progress.
 */
struct weft__spin {
	_Atomic int locked;
};

static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

void weft__spin_lock_slow(struct weft__spin *l);

static inline void weft__spin_lock(struct weft__spin *l)
{
	/* Acquire: the critical section sees the previous holder's writes. */
	if (weft__likely(!atomic_exchange_explicit(&l->locked, 1, memory_order_acquire)))
		return;
	weft__spin_lock_slow(l);
}

static inline void weft__spin_unlock(struct weft__spin *l)
{
	/* Release: our writes happen-before the next holder's acquire. */
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

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

struct weft_runtime {
	const struct weft__sched_ops *ops;
	weft_runtime_config config;

	/* References: 1 for the owner (dropped by weft_runtime_free) and one
	 * per allocated task, so a waker that outlives the owner's free can
	 * still reach the scheduler it queues on. */
	_Atomic size_t refs;

	struct weft__owned_shard owned[WEFT__OWNED_SHARDS];

	/* Guards the inject queue and `closed`. */
	pthread_mutex_t lock;
	struct weft__task_fifo inject;
	/* Mirrors inject.len for lock-free emptiness checks. Relaxed: a
	 * stale read only delays a check until the next tick. */
	_Atomic size_t inject_len;
	bool closed;

	/* Current-thread flavour: the queue only the block_on thread touches. */
	struct weft__task_fifo local;
	_Atomic bool core_taken;   /* a thread is inside block_on */
	_Atomic bool root_woken;   /* block_on's future must be polled */

	struct weft__driver driver;
	/* The blocking pools: general and name lookups (blocking.c). */
	struct weft__blocking_pool *blocking, *dns_blocking;
	/* Current-thread flavour's counters (worker 0 in the metrics). */
	struct weft__worker_counters ct_m;
	/* Current-thread flavour's task-memory cache (task_alloc.c). */
	struct weft__task_cache core_cache;

	/* Multi-thread flavour (worker.c). */
	struct weft__worker *workers;
	uint32_t nworkers;          /* 0 for the current-thread flavour */
	struct weft__idle idle;
	pthread_mutex_t driver_lock;   /* held by the worker parked in the driver */
	_Atomic bool shutdown;
	_Atomic uint32_t condvar_parked;
	_Atomic uint64_t remote_schedules;

	/* Multi-thread block_on calls in progress (runtime.c), so a fatal
	 * driver error can wake them; guarded by roots_lock, a lock of its
	 * own, taken by whichever thread records the error. */
	pthread_mutex_t roots_lock;
	struct weft__root *roots;

	/* weft__fork_generation when the runtime was made (runtime.c). */
	unsigned fork_gen;
};

/*
 * Fork detection: a pthread_atfork child handler (registered by the first
 * weft_runtime_new) bumps the generation, so a runtime inherited from the
 * parent has a stale fork_gen in the child. Relaxed: the child handler
 * runs on the child's only thread, before any call that checks it, and
 * threads the child starts later see it through pthread_create.
 */
extern _Atomic unsigned weft__fork_generation;

static inline bool weft__runtime_forked(const weft_runtime *rt)
{
	return rt->fork_gen != atomic_load_explicit(&weft__fork_generation,
						    memory_order_relaxed);
}

extern const struct weft__sched_ops weft__mt_ops;
extern _Thread_local struct weft__worker *weft__current_worker
	__attribute__((tls_model("initial-exec")));
int weft__mt_start(weft_runtime *rt, uint32_t n);
void weft__mt_stop_threads(weft_runtime *rt, uint32_t started);
void weft__mt_fini(weft_runtime *rt);
/* Queues @batch on the inject queue; false (and the queue references
 * dropped) once the runtime is closed. */
bool weft__inject_push_batch(weft_runtime *rt, struct weft__task_fifo *batch);

/* The runtime's time driver and reactor, for the futures built on them. */
struct weft__time *weft__runtime_time(weft_runtime *rt);
struct weft__reactor *weft__runtime_reactor(weft_runtime *rt);
/* Wakes the thread parked in the runtime's driver (a new earliest timer
 * deadline, say). Any thread. */
void weft__runtime_unpark_driver(weft_runtime *rt);

/* The worker the calling thread runs for, or NULL. */
extern _Thread_local weft_runtime *weft__current_rt
	__attribute__((tls_model("initial-exec")));

void weft__runtime_ref_dec(weft_runtime *rt);

/* Takes a reference on @rt for an object that may outlive its owner's
 * weft_runtime_free (a task, a waker, a registered socket). The caller
 * already holds a reference or is the owner. */
static inline void weft__runtime_ref_inc(weft_runtime *rt)
{
	/* Relaxed: like any reference count increment, it publishes nothing
	 * and the caller's own reference keeps rt alive meanwhile. */
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
}
/* Removes @t from the owned list if it is still there; returns whether it
 * was (its owned reference then passes to the caller). */
bool weft__owned_remove(weft_runtime *rt, struct weft__task *t);

#endif /* WEFT__INTERNAL_H */
