/*
 * sched_multi_thread.h - the multi-thread flavour's state, shared by its
 * two files: worker.c (the worker threads: run loop, work stealing,
 * parking, scheduling) and multi_thread.c (the flavour's interface:
 * start, stop, block_on, figures). Private to them.
 */
#ifndef WEFT__SCHED_MULTI_THREAD_H
#define WEFT__SCHED_MULTI_THREAD_H

#include "sched_runtime.h"
#include "sched_idle.h"
#include "sched_queue.h"
#include "sys_park.h"

struct weft__multi_thread;

/* A multi-thread worker (worker.c). */
struct weft__worker {
	weft_runtime *rt;
	struct weft__multi_thread *mt;
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

struct weft__root;

/* The flavour's state, after the runtime object (weft__mt_of). */
struct weft__multi_thread {
	struct weft__worker *workers;
	uint32_t nworkers;
	struct weft__idle idle;
	pthread_mutex_t driver_lock;   /* held by the worker parked in the driver */
	_Atomic bool shutdown;
	_Atomic uint32_t park_sleepers;   /* workers asleep off the driver (worker.c) */

	/* block_on calls in progress (multi_thread.c), so a fatal driver
	 * error can wake them; guarded by roots_lock, a lock of its own,
	 * taken by whichever thread records the error. */
	pthread_mutex_t roots_lock;
	struct weft__root *roots;
};

static inline struct weft__multi_thread *weft__mt_of(weft_runtime *rt)
{
	return (struct weft__multi_thread *)(void *)rt->flavour;
}

/* worker.c */
extern _Thread_local struct weft__worker *weft__current_worker
	__attribute__((tls_model("initial-exec")));
/* A worker thread's body; @arg is its struct weft__worker. */
void *weft__worker_main(void *arg);
/* Wakes worker @w wherever it sleeps (or makes its next park return). */
void weft__worker_unpark(struct weft__worker *w);
/* A worker park's wake when its owner sleeps in the driver; @arg is the
 * runtime (weft__park_init). */
void weft__worker_driver_wake(void *arg);
/* weft__sched_ops.schedule of this flavour. */
void weft__mt_schedule(weft_runtime *rt, struct weft__task *t, bool yield);

#endif /* WEFT__SCHED_MULTI_THREAD_H */
