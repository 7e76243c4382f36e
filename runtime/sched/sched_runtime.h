/*
 * sched_runtime.h - the runtime object and what its two scheduler
 * flavours share: the task FIFO, the multi-thread worker, the runtime's
 * fields. Private to the scheduler layer; the layers above see the
 * runtime through sched_api.h.
 */
#ifndef WEFT__SCHED_RUNTIME_H
#define WEFT__SCHED_RUNTIME_H

#include <weft/core.h>
#include <weft/runtime.h>

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>

#include "sys.h"
#include "task.h"
#include "io_driver.h"
#include "sched_idle.h"
#include "sched_queue.h"
#include "sys_park.h"
#include "sched_api.h"
#include "blocking.h"

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
	/* Where it sleeps: its own park, or the driver through it. */
	struct weft__park park;
	struct weft__worker_counters m;
	alignas(64) struct weft__task_cache cache;
	alignas(64) struct weft__local_queue queue;
};

struct weft_runtime {
	/* The task layer's part: scheduler interface, references, owned
	 * list, task-memory caches. First, so the task layer finds it from
	 * a runtime pointer (weft__tasks_of). */
	struct weft__tasks tasks;

	weft_runtime_config config;

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
	/* The blocking pools: general and name lookups (spawn_blocking.c). */
	struct weft__blocking_pool *blocking, *dns_blocking;
	/* Current-thread flavour's counters (worker 0 in the metrics). */
	struct weft__worker_counters ct_m;

	/* Multi-thread flavour (worker.c). */
	struct weft__worker *workers;
	uint32_t nworkers;          /* 0 for the current-thread flavour */
	struct weft__idle idle;
	pthread_mutex_t driver_lock;   /* held by the worker parked in the driver */
	_Atomic bool shutdown;
	_Atomic uint32_t park_sleepers;   /* workers asleep off the driver (worker.c) */
	_Atomic uint64_t remote_schedules;

	/* Multi-thread block_on calls in progress (runtime.c), so a fatal
	 * driver error can wake them; guarded by roots_lock, a lock of its
	 * own, taken by whichever thread records the error. */
	pthread_mutex_t roots_lock;
	struct weft__root *roots;
};

_Static_assert(offsetof(struct weft_runtime, tasks) == 0,
	       "the task part starts the runtime (weft__tasks_of)");

/* Frees the runtime once its last reference is gone (both flavours'
 * weft__sched_ops.destroy). */
void weft__runtime_destroy(weft_runtime *rt);

extern const struct weft__sched_ops weft__mt_ops;
extern _Thread_local struct weft__worker *weft__current_worker
	__attribute__((tls_model("initial-exec")));
int weft__mt_start(weft_runtime *rt, uint32_t n);
void weft__mt_stop_threads(weft_runtime *rt, uint32_t started);
void weft__mt_fini(weft_runtime *rt);
/* Queues @batch on the inject queue; false (and the queue references
 * dropped) once the runtime is closed. */
bool weft__inject_push_batch(weft_runtime *rt, struct weft__task_fifo *batch);

/* The runtime's blocking pools (spawn_blocking.c). Init (from
 * weft_runtime_new) fills in the blocking defaults of rt->config and
 * creates both pools (no thread yet), with the config's thread hooks: 0
 * or -ENOMEM. Shutdown (from closing the runtime) shuts both down as
 * weft__blocking_pool_shutdown says, with @deadline_ns (CLOCK_MONOTONIC;
 * UINT64_MAX: no limit), each abandoning pool holding a runtime
 * reference until its last thread leaves; *@out (may be NULL) sums both.
 * Release (from the runtime's destroy, and after a failed init) frees
 * both pools; safe after a failed init. */
int weft__blocking_init(weft_runtime *rt);
void weft__blocking_shutdown(weft_runtime *rt, uint64_t deadline_ns,
			     struct weft__blocking_abandoned *out);
void weft__blocking_release(weft_runtime *rt);

#endif /* WEFT__SCHED_RUNTIME_H */
