/*
 * blocking.c - the blocking pools: threads started on demand up to a cap,
 * each running queued jobs and exiting after an idle keep-alive; the jobs
 * futures await. weft_spawn_blocking and the runtime's two pools are in
 * spawn_blocking.c, on top of these.
 *
 * Pool protocol. The pool's mutex guards the queue, every counter and the
 * shutdown flag. `idle` counts threads waiting for work that nobody has
 * yet promised a job to; `wakeups` counts promises made and not yet
 * collected. A submit queues the job and then either promises it to an
 * idle thread (idle--, wakeups++, signal), or starts a thread when none is
 * idle and the cap allows, or leaves it for a busy thread, which looks at
 * the queue before it waits. A waiting thread that finds a promise takes
 * it (wakeups--) whatever woke it; one whose keep-alive ran out with no
 * promise un-counts itself (idle--) and exits. Because a promise is made
 * only to a thread counted idle, and a thread stops counting itself idle
 * only by taking a promise or by leaving, every queued job either has a
 * thread promised to it, a thread started for it, or a busy thread that
 * will see it: no job is stranded, and a burst of submits starts one
 * thread per job up to the cap instead of piling onto one waking thread.
 *
 * Threads are joinable and joined in a chain: a thread leaving its loop
 * records itself as the pool's "zombie" and joins the zombie it replaced;
 * pool_shutdown waits for the thread count to reach zero and joins the
 * last zombie. So every thread is joined, and by the time pool_shutdown
 * returns none is left, unless it was called from one of the pool's own
 * threads (a blocking function closing its runtime: that thread cannot
 * join itself, so it detaches itself when it leaves) or its deadline
 * passed first.
 *
 * Abandoning. A bounded pool_shutdown that reaches its deadline with
 * threads still in their jobs (a hung getaddrinfo, a blocking function
 * that never returns) leaves them running: it marks the pool
 * `abandoned`, under the lock, so each of them detaches itself when it
 * leaves instead of becoming a zombie nobody joins. What such a thread
 * still touches must outlive it: its job is held by the job's own
 * reference (the pool's, dropped by the thread after the job ran), and
 * the pool by the pool's reference count (owner + each thread), so the
 * pool is freed by whichever of the owner's pool_free and the last
 * thread's leaving comes last. The owner's caller may hang more on the
 * pool's survival: pool_shutdown calls its `hold` when it abandons, and
 * the last thread to leave calls `release` (the runtime keeps its object
 * alive that way, so a late blocking function that calls into it finds
 * memory, and a closed runtime, not a freed one).
 *
 * Thread hooks (the runtime's on_thread_start / on_thread_stop) run on
 * each pool thread: start first, before it takes a job; stop last, after
 * it left the pool, dropped its reference and, if it was the last
 * abandoned one, called `release` (the hooks are copied to the thread's
 * stack first).
 *
 * Job protocol: status and the waker are guarded by the job's mutex. The
 * pool thread (or shutdown's cancel) sets the final status and takes the
 * waker under it and wakes outside; the awaiter reads the status and
 * stores its waker under it. One of the two always sees the other's
 * write, so no wakeup is lost. Results are written before the status and
 * read after seeing it, both ordered by that mutex.
 */
#include "sys.h"
#include "blocking.h"

#include <errno.h>
#include <string.h>
#include <time.h>

struct weft__blocking_pool {
	pthread_mutex_t lock;
	pthread_cond_t work;        /* a promise was made, or shutdown */
	pthread_cond_t exited;      /* a thread left its loop (CLOCK_MONOTONIC) */
	struct weft__thread_hooks hooks;   /* set at creation, read-only */
	struct weft__blocking_job *head, *tail;
	uint32_t max_threads;
	uint64_t keep_alive_ns;
	uint32_t threads;           /* started and not yet left their loop */
	uint32_t idle;              /* waiting, not promised a job */
	uint32_t wakeups;           /* promises not yet collected */
	uint32_t running;
	uint32_t refs;              /* owner + threads */
	bool shutdown;
	bool orphaned;              /* shut down from one of its own threads */
	bool abandoned;             /* a bounded shutdown left threads running */
	void (*release)(void *);    /* called by the last abandoned thread */
	void *release_arg;
	bool zombie_set;
	pthread_t zombie;           /* last thread to leave, not yet joined */
	uint64_t queued, started, submitted, completed, cancelled;
};

/* The pool the calling thread works for, to spot pool_free on itself. */
static _Thread_local struct weft__blocking_pool *weft__blocking_self
	__attribute__((tls_model("initial-exec")));

/* ------------------------------------------------------------------ jobs */

int weft__blocking_job_init(struct weft__blocking_job *job,
			    void (*run)(struct weft__blocking_job *),
			    void (*free_fn)(struct weft__blocking_job *))
{
	if (weft__sys_mutex_init(&job->lock, NULL) != 0)
		return -ENOMEM;
	job->run = run;
	job->free = free_fn;
	/* Plain init: the job is not shared yet. */
	atomic_init(&job->refs, 2);
	job->status = WEFT__JOB_PENDING;
	job->waker = (weft_waker){ 0 };
	job->next = NULL;
	return 0;
}

void weft__blocking_job_put(struct weft__blocking_job *job)
{
	pthread_mutex_lock(&job->lock);
	weft_waker w = job->waker;
	job->waker = (weft_waker){ 0 };
	pthread_mutex_unlock(&job->lock);
	weft_waker_drop(&w);
	/* AcqRel: the releasing side publishes its writes (results, the
	 * handle's `taken`), the freeing side sees every holder's. */
	if (atomic_fetch_sub_explicit(&job->refs, 1, memory_order_acq_rel) == 1) {
		pthread_mutex_destroy(&job->lock);
		job->free(job);
	}
}

weft_poll weft__blocking_job_poll(struct weft__blocking_job *job, weft_cx *cx, int *status)
{
	pthread_mutex_lock(&job->lock);
	int st = job->status;
	if (st == WEFT__JOB_PENDING)
		weft_waker_store(&job->waker, cx->waker);
	pthread_mutex_unlock(&job->lock);
	if (st == WEFT__JOB_PENDING)
		return WEFT_PENDING;
	*status = st;
	return WEFT_READY;
}

bool weft__blocking_job_finished(struct weft__blocking_job *job)
{
	pthread_mutex_lock(&job->lock);
	bool done = job->status != WEFT__JOB_PENDING;
	pthread_mutex_unlock(&job->lock);
	return done;
}

/* Sets the final status, wakes the awaiter and drops the pool's reference. */
static void weft__blocking_settle(struct weft__blocking_job *job, int status)
{
	pthread_mutex_lock(&job->lock);
	job->status = status;
	weft_waker w = job->waker;
	job->waker = (weft_waker){ 0 };
	pthread_mutex_unlock(&job->lock);
	weft_waker_wake(&w);
	weft__blocking_job_put(job);
}

/* ------------------------------------------------------------------ pool */

/* Drops a pool reference; the caller holds the lock, which is released.
 * Returns true when the pool is gone. */
static bool weft__pool_unref_unlock(struct weft__blocking_pool *p)
{
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (last) {
		pthread_cond_destroy(&p->work);
		pthread_cond_destroy(&p->exited);
		pthread_mutex_destroy(&p->lock);
		weft__free(p);
	}
	return last;
}

/* Waits for a promised job with the lock held. False when the keep-alive
 * ran out without one, or on shutdown: the thread is to leave. */
static bool weft__blocking_wait(struct weft__blocking_pool *p)
{
	struct timespec until;
	/* Without a clock reading the keep-alive cannot be measured: the
	 * thread leaves at once, as if it had run out (it was not counted
	 * idle yet, so no submitter is waiting on it). */
	if (weft__sys_clock_gettime(CLOCK_MONOTONIC, &until) < 0)
		return false;
	uint64_t ns = (uint64_t)until.tv_nsec + p->keep_alive_ns % 1000000000ull;
	until.tv_sec += (time_t)(p->keep_alive_ns / 1000000000ull + ns / 1000000000ull);
	until.tv_nsec = (long)(ns % 1000000000ull);
	p->idle++;
	for (;;) {
		int rc = weft__sys_cond_wait_until(&p->work, &p->lock, &until);
		if (p->wakeups > 0) {
			p->wakeups--;   /* the submitter un-counted us from idle */
			return true;
		}
		if (p->shutdown || rc == ETIMEDOUT) {
			p->idle--;
			return false;
		}
	}
}

static void *weft__blocking_main(void *arg)
{
	struct weft__blocking_pool *p = arg;
	/* A copy: the pool may be gone when the stop hook runs. */
	const struct weft__thread_hooks hooks = p->hooks;
	if (hooks.start)
		hooks.start(hooks.arg);
	weft__blocking_self = p;
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct weft__blocking_job *job = p->head;
		if (job) {
			p->head = job->next;
			if (!p->head)
				p->tail = NULL;
			p->queued--;
			p->running++;
			pthread_mutex_unlock(&p->lock);
			job->run(job);
			/* Counted before the awaiter can see the job done, so
			 * the figures never lag behind what a task observed. */
			pthread_mutex_lock(&p->lock);
			p->running--;
			p->completed++;
			pthread_mutex_unlock(&p->lock);
			weft__blocking_settle(job, 0);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (p->shutdown || !weft__blocking_wait(p))
			break;
	}

	/* Leave: join the previous leaver, become the one the next joins
	 * (or, abandoned, or orphaned and last, detach: nobody will join
	 * us). */
	p->threads--;
	bool had_prev = p->zombie_set;
	pthread_t prev = p->zombie;
	bool detach = p->abandoned || (p->orphaned && p->threads == 0);
	p->zombie_set = !detach;
	if (!detach)
		p->zombie = pthread_self();
	void (*release)(void *) = NULL;
	void *release_arg = NULL;
	if (p->abandoned && p->threads == 0) {
		release = p->release;
		release_arg = p->release_arg;
	}
	pthread_cond_broadcast(&p->exited);
	weft__blocking_self = NULL;
	weft__pool_unref_unlock(p);
	/* The pool may be freed now: only locals from here on. */
	if (had_prev)
		pthread_join(prev, NULL);
	if (detach)
		pthread_detach(pthread_self());
	if (release)
		release(release_arg);
	if (hooks.stop)
		hooks.stop(hooks.arg);
	return NULL;
}

struct weft__blocking_pool *weft__blocking_pool_new(uint32_t max_threads,
						    uint64_t keep_alive_ns,
						    const struct weft__thread_hooks *hooks)
{
	struct weft__blocking_pool *p = weft__calloc(1, sizeof *p);
	if (!p)
		return NULL;
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) != 0)
		goto err_free;
	if (weft__sys_condattr_monotonic(&attr) != 0)
		goto err_attr;
	if (weft__sys_mutex_init(&p->lock, NULL) != 0)
		goto err_attr;
	if (weft__sys_cond_init(&p->work, &attr) != 0)
		goto err_lock;
	if (weft__sys_cond_init(&p->exited, &attr) != 0)
		goto err_work;
	pthread_condattr_destroy(&attr);
	if (hooks)
		p->hooks = *hooks;
	p->max_threads = max_threads ? max_threads : 1;
	p->keep_alive_ns = keep_alive_ns;
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
	if (p->idle > 0) {
		p->idle--;
		p->wakeups++;
		pthread_cond_signal(&p->work);
	} else if (p->threads < p->max_threads) {
		pthread_t tid;
		/* The new thread blocks on our lock until the job is queued. */
		int rc = weft__thread_create(&tid, weft__blocking_main, p, "weft-blocking");
		if (rc == 0) {
			p->threads++;
			p->refs++;
			p->started++;
		} else if (p->threads == 0) {
			pthread_mutex_unlock(&p->lock);
			return rc == -ENOMEM ? -ENOMEM : -EAGAIN;   /* nobody would run it */
		}
		/* Else a busy thread takes it when it finishes. */
	}
	job->next = NULL;
	if (p->tail)
		p->tail->next = job;
	else
		p->head = job;
	p->tail = job;
	p->queued++;
	p->submitted++;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void weft__blocking_pool_shutdown(struct weft__blocking_pool *p, uint64_t deadline_ns,
				  void (*hold)(void *), void (*release)(void *), void *arg,
				  struct weft__blocking_abandoned *out)
{
	if (out)
		*out = (struct weft__blocking_abandoned){ 0 };
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->shutdown = true;
	struct weft__blocking_job *job = p->head;
	p->head = p->tail = NULL;
	uint64_t cancelled = p->queued;
	p->cancelled += p->queued;
	p->queued = 0;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->lock);

	/* Never run: their awaiters see -ECANCELED. */
	while (job) {
		struct weft__blocking_job *next = job->next;
		weft__blocking_settle(job, -ECANCELED);
		job = next;
	}

	struct timespec until = {
		.tv_sec = (time_t)(deadline_ns / 1000000000ull),
		.tv_nsec = (long)(deadline_ns % 1000000000ull),
	};
	pthread_mutex_lock(&p->lock);
	uint32_t self = weft__blocking_self == p ? 1 : 0;
	while (p->threads > self) {
		if (deadline_ns == UINT64_MAX)
			pthread_cond_wait(&p->exited, &p->lock);
		else if (weft__sys_cond_wait_until(&p->exited, &p->lock, &until) == ETIMEDOUT)
			break;
	}
	uint32_t left = p->threads - self;
	if (left > 0) {
		/* Under the lock: every thread still in the pool sees the
		 * mark when it leaves (see "Abandoning"). */
		p->abandoned = true;
		if (hold)
			hold(arg);
		p->release = release;
		p->release_arg = arg;
	}
	if (out) {
		out->threads = left;
		out->jobs = p->running - self;
		out->cancelled = cancelled;
	}
	bool had_zombie = p->zombie_set;
	pthread_t zombie = p->zombie;
	p->zombie_set = false;
	p->orphaned = self != 0;
	pthread_mutex_unlock(&p->lock);
	/* A thread that already left its loop: joining it is bounded. */
	if (had_zombie)
		pthread_join(zombie, NULL);
}

void weft__blocking_pool_free(struct weft__blocking_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	bool stopped = p->shutdown;
	pthread_mutex_unlock(&p->lock);
	if (!stopped)
		weft__blocking_pool_shutdown(p, UINT64_MAX, NULL, NULL, NULL, NULL);
	pthread_mutex_lock(&p->lock);
	/* Not the last reference while a thread is still in the pool (an
	 * orphaned or abandoned one): the last thread frees it. */
	weft__pool_unref_unlock(p);
}

void weft__blocking_pool_stats(struct weft__blocking_pool *p, struct weft__blocking_stats *out)
{
	*out = (struct weft__blocking_stats){ 0 };
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	out->threads = p->threads;
	out->idle = p->idle;
	out->running = p->running;
	out->queued = p->queued;
	out->started = p->started;
	out->submitted = p->submitted;
	out->completed = p->completed;
	out->cancelled = p->cancelled;
	pthread_mutex_unlock(&p->lock);
}
