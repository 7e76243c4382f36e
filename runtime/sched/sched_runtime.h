/*
 * sched_runtime.h - the runtime object and what its two scheduler
 * flavours share: the task FIFO, the inject queue, per-worker figures and
 * the poll that counts them, the watchdog. Each flavour keeps its own
 * state in its own file (current_thread.c; multi_thread.c with worker.c,
 * sched_multi_thread.h). Private to the scheduler layer; the layers
 * above see the runtime through sched_api.h.
 */
#ifndef WEFT__SCHED_RUNTIME_H
#define WEFT__SCHED_RUNTIME_H

#include <weft/core.h>
#include <weft/runtime.h>

#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "sys.h"
#include "task.h"
#include "io_driver.h"
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

/*
 * One worker's figures (a multi-thread worker, or the current-thread
 * core as worker 0): written by the owning thread only, read by any
 * thread through the metrics API and by the watchdog (relaxed loads).
 */
struct weft__worker_counters {
	_Atomic uint64_t polls, steals, steal_operations, parks, unparks;
	/* A watchdog samples these counters (config.watchdog_ns): only then
	 * is `polling` kept. Set before the thread runs, then read-only. */
	bool watched;
	_Atomic uint64_t local_schedules, remote_schedules, overflows, lifo_hits;
	_Atomic uint64_t busy_ns;
	_Atomic uint64_t poll_time[WEFT_POLL_TIME_BUCKETS];
	/* The spawn site of the task being polled now (watchdog.c): its
	 * weft_location, NULL for a task spawned without one, and
	 * WEFT__NOT_POLLING between polls (also NULL before the first poll,
	 * when `polls` is still 0). */
	_Atomic(const weft_location *) polling;
};

/* `polling` between polls: a value no weft_location has, never read
 * through. */
#define WEFT__NOT_POLLING ((const weft_location *)(uintptr_t)1)

/* Owner-only counter bump, readable from any thread. Relaxed: metrics
 * order nothing, and only the owner writes, so load + store is enough. */
static inline void weft__counter_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/* CLOCK_MONOTONIC in ns, for busy time, poll times and the watchdog (not
 * the runtime's clock, which a test may pause: these measure the CPU's
 * real time); 0 when the clock cannot be read, which every caller takes
 * as "no reading" (a figure not counted, a sample skipped). */
static inline uint64_t weft__mono_ns(void)
{
	struct timespec ts;
	if (weft__unlikely(weft__sys_clock_gettime(CLOCK_MONOTONIC, &ts) < 0))
		return 0;
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* Adds the time from @start to @end (two weft__mono_ns readings) to the
 * owner-only counter @c, unless either reading failed. */
static inline void weft__busy_add(_Atomic uint64_t *c, uint64_t start, uint64_t end)
{
	if (start != 0 && end > start)
		weft__counter_add(c, end - start);
}

/* The poll_time bucket of a poll that took @ns (weft/runtime.h). */
static inline unsigned weft__poll_time_bucket(uint64_t ns)
{
	uint64_t v = ns >> 10;
	if (v == 0)
		return 0;
	unsigned b = 64u - (unsigned)__builtin_clzll(v);
	return b < WEFT_POLL_TIME_BUCKETS ? b : WEFT_POLL_TIME_BUCKETS - 1;
}

/*
 * Polls task @t once on the calling scheduler thread, whose figures are
 * @c: counts the poll and shows the task's spawn site to the watchdog for
 * the length of the poll. Both flavours' run loops call this (or the
 * timed form below), so they measure alike. The watchdog pairing:
 * `polling` is stored after `polls` (both release), so a watchdog that
 * sees the same `polls` before and after reading `polling` read this
 * poll's site (watchdog.c).
 */
static inline void weft__poll_task(struct weft__worker_counters *c, struct weft__task *t,
				   uint32_t budget)
{
	/* Release: see above (plain stores on x86). */
	atomic_store_explicit(&c->polls, atomic_load_explicit(&c->polls, memory_order_relaxed) + 1,
			      memory_order_release);
	if (!c->watched) {
		/* No watchdog reads `polling`: two stores a poll saved (about
		 * 4% of 2-worker spawn_many). */
		weft__task_run(t, budget);
		return;
	}
	atomic_store_explicit(&c->polling, t->loc, memory_order_release);
	weft__task_run(t, budget);
	/* Release, like the stores above (free on x86): "no poll now". */
	atomic_store_explicit(&c->polling, WEFT__NOT_POLLING, memory_order_release);
}

/* weft__poll_task, and the poll's duration counted in the histogram:
 * *@clock is the time the poll started (weft__mono_ns), updated to the
 * time it ended. For config.poll_time_histogram only. */
static inline void weft__poll_task_timed(struct weft__worker_counters *c, struct weft__task *t,
					 uint32_t budget, uint64_t *clock)
{
	weft__poll_task(c, t, budget);
	uint64_t now = weft__mono_ns();
	if (now != 0 && *clock != 0 && now >= *clock)
		weft__counter_add(&c->poll_time[weft__poll_time_bucket(now - *clock)], 1);
	*clock = now;
}

/* Copies @c into the counter fields of *@m (relaxed loads: statistics). */
void weft__worker_counters_read(const struct weft__worker_counters *c, weft_worker_metrics *m);

/*
 * The watchdog (watchdog.c): a thread that samples every worker's
 * counters and reports a task poll that has lasted the threshold. Started
 * by the flavour's init when config->watchdog_ns is set, with where its
 * workers' counters are (worker i's at @counters + i * @stride); stopped by weft_runtime_close
 * before the flavour shuts down.
 */
struct weft__watchdog {
	uint64_t threshold_ns;
	/* Worker i's counters are at counters + i * stride. */
	char *counters;
	size_t stride;
	uint32_t nworkers;
	/* The config's thread hooks, run on the watchdog's thread. */
	weft_thread_hook on_start, on_stop;
	void *hook_arg;
	bool started;
	_Atomic bool stop;         /* set once, by weft__watchdog_stop */
	pthread_t thread;
	struct weft__park park;    /* the thread sleeps here between samples */
	_Atomic uint64_t reports;
};

int weft__watchdog_start(struct weft__watchdog *wd, const weft_runtime_config *config,
			 char *counters, size_t stride, uint32_t nworkers);
void weft__watchdog_stop(struct weft__watchdog *wd);

/*
 * The runtime object: what both flavours share. The flavour's own state
 * (its struct, in its own file) follows it in the same allocation, at
 * `flavour`, ops->size bytes.
 */
struct weft_runtime {
	/* The task layer's part: scheduler interface, references, owned
	 * list, task-memory caches. First, so the task layer finds it from
	 * a runtime pointer (weft__tasks_of). */
	struct weft__tasks tasks;

	/* Resolved: size, workers, budget, interval, flavour filled in. */
	weft_runtime_config config;

	/* Guards the inject queue and `closed`. */
	pthread_mutex_t lock;
	struct weft__task_fifo inject;
	/* Mirrors inject.len for lock-free emptiness checks. Relaxed: a
	 * stale read only delays a check until the next tick. */
	_Atomic size_t inject_len;
	bool closed;

	struct weft__driver driver;
	/* The blocking pools: general and name lookups (spawn_blocking.c). */
	struct weft__blocking_pool *blocking, *dns_blocking;
	/* Tasks queued from threads outside the runtime (statistics). */
	_Atomic uint64_t remote_schedules;

	struct weft__watchdog watchdog;

	/* The flavour's state (current_thread.c, multi_thread.c). */
	alignas(64) unsigned char flavour[];
};

_Static_assert(offsetof(struct weft_runtime, tasks) == 0,
	       "the task part starts the runtime (weft__tasks_of)");

/* The two flavours (current_thread.c, multi_thread.c). */
extern const struct weft__sched_ops weft__current_thread_ops;
extern const struct weft__sched_ops weft__multi_thread_ops;

/* Queues @batch on the inject queue; false (and the queue references
 * dropped) once the runtime is closed. Any thread. */
bool weft__inject_push_batch(weft_runtime *rt, struct weft__task_fifo *batch);
/* weft__inject_push_batch for one task: the remote-schedule path of both
 * flavours, without building a batch. */
bool weft__inject_push(weft_runtime *rt, struct weft__task *t);

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
