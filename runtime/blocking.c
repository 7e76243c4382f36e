/*
 * blocking.c - a minimal blocking pool: threads created on demand (up to
 * a cap), each running queued jobs and exiting after a spell of idleness.
 *
 * Protocol. The pool's mutex guards the queue, the thread counts and the
 * shutdown flag. A submit queues the job and signals an idle thread, or
 * starts one when none is idle. Threads are detached; each holds a
 * reference on the pool, as does the owner, and the last to let go frees
 * it, so a pool thread whose job's wake drops the runtime's last
 * reference (and so frees the pool from inside its own loop) finds the
 * pool still there when it returns to the loop.
 *
 * Jobs: `done` and the waker are guarded by the job's mutex. The runner
 * sets done and takes the waker under it and wakes outside; the awaiter
 * checks done and stores its waker under it. One of the two always sees
 * the other's write: no wakeup is lost. Results are written before done
 * and read after seeing done, both ordered by that mutex.
 */
#include "internal.h"
#include "blocking.h"

#include <errno.h>
#include <time.h>

#define WEFT__BLOCKING_MAX_THREADS 64
#define WEFT__BLOCKING_IDLE_NS     (5ull * 1000000000ull)

struct weft__blocking_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;        /* a job was queued, or shutdown */
	pthread_cond_t exited;      /* a thread left its loop */
	struct weft__blocking_job *head, *tail;
	unsigned threads;           /* threads inside their loop */
	unsigned idle;              /* of which waiting for work */
	unsigned refs;              /* owner + threads (lock) */
	bool shutdown;
};

static _Thread_local struct weft__blocking_pool *weft__blocking_self;

int weft__blocking_job_init(struct weft__blocking_job *job,
			    void (*run)(struct weft__blocking_job *),
			    void (*free_fn)(struct weft__blocking_job *))
{
	if (pthread_mutex_init(&job->lock, NULL) != 0)
		return -ENOMEM;
	job->run = run;
	job->free = free_fn;
	atomic_init(&job->refs, 2);
	job->done = false;
	job->waker = (weft_waker){ 0 };
	job->next = NULL;
	return 0;
}

void weft__blocking_job_put(struct weft__blocking_job *job)
{
	weft_waker w = { 0 };
	pthread_mutex_lock(&job->lock);
	w = job->waker;
	job->waker = (weft_waker){ 0 };
	pthread_mutex_unlock(&job->lock);
	weft_waker_drop(&w);
	/* AcqRel: the freeing thread sees every other holder's writes. */
	if (atomic_fetch_sub_explicit(&job->refs, 1, memory_order_acq_rel) == 1) {
		pthread_mutex_destroy(&job->lock);
		job->free(job);
	}
}

weft_poll weft__blocking_job_poll(struct weft__blocking_job *job, weft_cx *cx)
{
	pthread_mutex_lock(&job->lock);
	bool done = job->done;
	if (!done)
		weft_waker_store(&job->waker, cx->waker);
	pthread_mutex_unlock(&job->lock);
	return done ? WEFT_READY : WEFT_PENDING;
}

static void weft__blocking_complete(struct weft__blocking_job *job)
{
	pthread_mutex_lock(&job->lock);
	job->done = true;
	weft_waker w = job->waker;
	job->waker = (weft_waker){ 0 };
	pthread_mutex_unlock(&job->lock);
	weft_waker_wake(&w);
	weft__blocking_job_put(job);
}

/* Drops a pool reference; the caller holds the lock, which is released. */
static void weft__pool_unref_unlock(struct weft__blocking_pool *p)
{
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (last) {
		pthread_cond_destroy(&p->work);
		pthread_cond_destroy(&p->exited);
		pthread_mutex_destroy(&p->lock);
		weft__free(p);
	}
}

static void *weft__blocking_main(void *arg)
{
	struct weft__blocking_pool *p = arg;
	weft__blocking_self = p;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct weft__blocking_job *job = p->head;
		if (job) {
			p->head = job->next;
			if (!p->head)
				p->tail = NULL;
			pthread_mutex_unlock(&p->lock);
			job->run(job);
			weft__blocking_complete(job);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (p->shutdown)
			break;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += (time_t)(WEFT__BLOCKING_IDLE_NS / 1000000000ull);
		p->idle++;
		int rc = pthread_cond_timedwait(&p->work, &p->lock, &until);
		p->idle--;
		if (rc == ETIMEDOUT && !p->head)
			break;
	}
	p->threads--;
	pthread_cond_broadcast(&p->exited);
	weft__blocking_self = NULL;
	weft__pool_unref_unlock(p);
	return NULL;
}

struct weft__blocking_pool *weft__blocking_pool_new(void)
{
	struct weft__blocking_pool *p = weft__calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) != 0)
		goto err_free;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		goto err_attr;
	if (pthread_cond_init(&p->work, &attr) != 0)
		goto err_lock;
	if (pthread_cond_init(&p->exited, NULL) != 0)
		goto err_work;
	pthread_condattr_destroy(&attr);
	p->refs = 1;
	return p;

err_work:
	pthread_cond_destroy(&p->work);
err_lock:
	pthread_mutex_destroy(&p->lock);
err_attr:
	pthread_condattr_destroy(&attr);
err_free:
	weft__free(p);
	return NULL;
}

int weft__blocking_submit(struct weft__blocking_pool *p, struct weft__blocking_job *job)
{
	pthread_mutex_lock(&p->lock);
	if (p->shutdown) {
		pthread_mutex_unlock(&p->lock);
		return -ESHUTDOWN;
	}
	if (p->idle == 0 && p->threads < WEFT__BLOCKING_MAX_THREADS) {
		int rc = -EAGAIN;
		pthread_t tid;
		pthread_attr_t attr;
		if (weft__fault_hit(WEFT__FAULT_THREAD) == 0 &&
		    pthread_attr_init(&attr) == 0) {
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&tid, &attr, weft__blocking_main, p) == 0)
				rc = 0;
			pthread_attr_destroy(&attr);
		}
		if (rc == 0) {
			p->threads++;
			p->refs++;
		} else if (p->threads == 0) {
			pthread_mutex_unlock(&p->lock);
			return rc;   /* nobody would ever run the job */
		}
	}
	job->next = NULL;
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void weft__blocking_pool_free(struct weft__blocking_pool *p)
{
	pthread_mutex_lock(&p->lock);
	p->shutdown = true;
	struct weft__blocking_job *job = p->head;
	p->head = p->tail = NULL;
	pthread_cond_broadcast(&p->work);
	unsigned self = weft__blocking_self == p ? 1 : 0;
	while (p->threads > self)
		pthread_cond_wait(&p->exited, &p->lock);
	pthread_mutex_unlock(&p->lock);
	/* Never run: their awaiters are gone (an awaiter's waker would
	 * have kept the runtime, and so this pool, alive). */
	while (job) {
		struct weft__blocking_job *next = job->next;
		weft__blocking_job_put(job);
		job = next;
	}
	pthread_mutex_lock(&p->lock);
	weft__pool_unref_unlock(p);
}
