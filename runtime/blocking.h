/*
 * blocking.h - a minimal pool of threads for work that blocks (getaddrinfo
 * now; file I/O later), with a job object that a future awaits.
 *
 * A job is a heap object with two references: the awaiting future's and
 * the pool's. The future may be dropped while the job runs; whoever drops
 * the last reference frees the job (and whatever result it holds) with
 * the job's own free function.
 */
#ifndef WEFT__BLOCKING_H
#define WEFT__BLOCKING_H

#include <weft/core.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

struct weft__blocking_pool;

struct weft__blocking_job {
	/* Runs on a pool thread. */
	void (*run)(struct weft__blocking_job *job);
	/* Frees the job's containing object; runs on whichever thread drops
	 * the last reference. */
	void (*free)(struct weft__blocking_job *job);
	_Atomic unsigned refs;
	pthread_mutex_t lock;        /* guards done and waker */
	bool done;
	weft_waker waker;
	struct weft__blocking_job *next;   /* pool queue (pool lock) */
};

/* Initialises @job with its two references. 0 or -ENOMEM. */
int weft__blocking_job_init(struct weft__blocking_job *job,
			    void (*run)(struct weft__blocking_job *),
			    void (*free_fn)(struct weft__blocking_job *));

/* Queues @job; a pool thread runs it, marks it done and wakes the waker.
 * On error (-ENOMEM, -EAGAIN: no thread could be started, -ESHUTDOWN) the
 * pool did not take its reference: the caller drops both. Any thread. */
int weft__blocking_submit(struct weft__blocking_pool *pool, struct weft__blocking_job *job);

/* READY once the job has run; otherwise stores @cx's waker. The job's
 * results may be read after READY. */
weft_poll weft__blocking_job_poll(struct weft__blocking_job *job, weft_cx *cx);

/* Drops one reference (and the stored waker, for the awaiting side's). */
void weft__blocking_job_put(struct weft__blocking_job *job);

/* Creates an empty pool (no thread until the first submit); NULL on -ENOMEM. */
struct weft__blocking_pool *weft__blocking_pool_new(void);

/* Stops the pool: queued jobs that never ran are released undone, idle
 * threads exit, and the call waits until every pool thread has left its
 * loop (except the calling thread, if it is one, which exits after its
 * job). Any thread. */
void weft__blocking_pool_free(struct weft__blocking_pool *pool);

#endif
