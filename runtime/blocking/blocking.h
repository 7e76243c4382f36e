/*
 * blocking.h - pools of threads for work that blocks (user functions given
 * to weft_spawn_blocking, file I/O, getaddrinfo), and the job object a
 * future awaits.
 *
 * A runtime has two pools: the general one (weft_spawn_blocking and the
 * file API; up to config.blocking_threads threads) and a small one for
 * name lookups, so slow DNS can never starve other blocking work.
 *
 * A job is a heap object with two references: the awaiting side's and the
 * pool's. The awaiting side may let go while the job runs; whoever drops
 * the last reference frees the job (and whatever result it holds) with
 * the job's own free function, on whichever thread that is.
 */
#ifndef WEFT__BLOCKING_H
#define WEFT__BLOCKING_H

#include <weft/core.h>
#include <weft/runtime.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct weft__blocking_pool;

/* A job's status while it is queued or running. */
#define WEFT__JOB_PENDING 1

struct weft__blocking_job {
	/* Runs on a pool thread, at most once. */
	void (*run)(struct weft__blocking_job *job);
	/* Frees the job's containing object; runs on whichever thread drops
	 * the last reference. job->status says whether run ran (0) or never
	 * will (-ECANCELED). */
	void (*free)(struct weft__blocking_job *job);
	_Atomic unsigned refs;
	pthread_mutex_t lock;        /* guards status and waker */
	int status;                  /* WEFT__JOB_PENDING, 0 (ran), -ECANCELED */
	weft_waker waker;
	struct weft__blocking_job *next;   /* pool queue (pool lock) */
};

/* Initialises @job with its two references. 0 or -ENOMEM. */
int weft__blocking_job_init(struct weft__blocking_job *job,
			    void (*run)(struct weft__blocking_job *),
			    void (*free_fn)(struct weft__blocking_job *));

/* Queues @job; a pool thread runs it, sets status 0 and wakes the waker
 * (or the pool's shutdown sets -ECANCELED and wakes it). On error
 * (-EAGAIN: no thread could be started, -ESHUTDOWN) the pool did not take
 * its reference: the caller drops both. Any thread. */
int weft__blocking_submit(struct weft__blocking_pool *pool, struct weft__blocking_job *job);

/* READY once the job ran (*status 0; its results may be read now) or was
 * cancelled (*status -ECANCELED); otherwise stores @cx's waker. Takes no
 * budget: the caller does. One awaiting thread at a time. */
weft_poll weft__blocking_job_poll(struct weft__blocking_job *job, weft_cx *cx, int *status);

/* Whether the job ran or was cancelled (no waker stored). Any thread. */
bool weft__blocking_job_finished(struct weft__blocking_job *job);

/* Drops one reference (and the stored waker, for the awaiting side's). */
void weft__blocking_job_put(struct weft__blocking_job *job);

/* Hooks every thread of a pool calls: start on the new thread before it
 * takes a job, stop just before it exits (blocking.c, "Thread hooks").
 * NULL members: none. */
struct weft__thread_hooks {
	weft_thread_hook start, stop;
	void *arg;
};

/* Creates an empty pool: no thread until the first submit, then up to
 * @max_threads, each exiting after @keep_alive_ns without work, each
 * calling @hooks (copied; may be NULL). NULL on -ENOMEM. */
struct weft__blocking_pool *weft__blocking_pool_new(uint32_t max_threads,
						    uint64_t keep_alive_ns,
						    const struct weft__thread_hooks *hooks);

/* What a pool's shutdown left behind. */
struct weft__blocking_abandoned {
	uint32_t threads;     /* left running past the deadline (detached) */
	uint32_t jobs;        /* jobs those threads were running */
	uint64_t cancelled;   /* queued jobs cancelled (never ran) */
};

/*
 * Stops the pool: queued jobs that never ran are cancelled (-ECANCELED,
 * awaiters woken), then the call waits until every running job finished
 * and every pool thread is joined, or until @deadline_ns (CLOCK_MONOTONIC
 * nanoseconds; UINT64_MAX: no limit) passes. Threads still running then
 * are abandoned (blocking.c, "Abandoning"): they finish their job and
 * exit on their own, detached; @hold(@arg) is called once, now, and
 * @release(@arg) by the last of them when it leaves (both may be NULL).
 * *@out (may be NULL) says what was cancelled and abandoned. Called from
 * one of the pool's own threads, it does not wait for that thread (nor
 * count it), which detaches itself when its job returns. The pool takes
 * no more jobs (-ESHUTDOWN) and stays allocated until
 * weft__blocking_pool_free. The pool's owner, once.
 */
void weft__blocking_pool_shutdown(struct weft__blocking_pool *pool, uint64_t deadline_ns,
				  void (*hold)(void *), void (*release)(void *), void *arg,
				  struct weft__blocking_abandoned *out);

/* Drops the owner's reference (shutting the pool down without limit
 * first if that was not done); the pool is freed now, or by its last
 * orphaned or abandoned thread when that leaves. NULL is ignored. */
void weft__blocking_pool_free(struct weft__blocking_pool *pool);

/* A snapshot of a pool's figures (taken under its lock). */
struct weft__blocking_stats {
	uint32_t threads;        /* started and not yet exited */
	uint32_t idle;           /* waiting for work */
	uint32_t running;        /* jobs running now */
	uint64_t queued;         /* jobs waiting for a thread */
	uint64_t started;        /* threads started in all */
	uint64_t submitted;      /* jobs accepted in all */
	uint64_t completed;      /* jobs run in all */
	uint64_t cancelled;      /* jobs cancelled at shutdown */
};

void weft__blocking_pool_stats(struct weft__blocking_pool *pool,
			       struct weft__blocking_stats *out);

/* A runtime's two pools are made with it (spawn_blocking.c); layers above
 * the scheduler reach them through sched_api.h. */

/* Threads of the name-lookup pool. */
#define WEFT__DNS_THREADS 4u

#endif
