/*
 * runtime.c - the runtime object: what both scheduler flavours share. The
 * config (its size rule and defaults), the choice of flavour, the inject
 * queue, the drivers and blocking pools, block_on's common checks,
 * shutdown, the runtime-wide figures. Each flavour's scheduling is its
 * own file (current_thread.c, multi_thread.c with worker.c), reached only
 * through its weft__sched_ops: nothing here asks which flavour runs.
 *
 * The inject queue: tasks queued from threads that do not run the
 * runtime's tasks (and batches a multi-thread worker sheds), under the
 * runtime lock, which also guards `closed`.
 *
 * Shutdown (weft_runtime_close) stops the watchdog, closes the runtime
 * under the lock, so no spawn succeeds and no task is queued after it,
 * lets the flavour stop its threads and drop its queues' references, then
 * takes each task out of the owned list and drops its future (unless it
 * completed meanwhile), then releases the references the inject queue
 * holds. The runtime's memory lives until the last task is freed, since
 * wakers held elsewhere may still reach it.
 *
 * Fork. A runtime made before a fork() is unusable in the child (its
 * threads are not there). A pthread_atfork child handler bumps
 * weft__fork_generation; block_on and spawn compare it with the
 * runtime's and return -ECHILD, and weft_runtime_close in the child
 * returns without touching anything (the parent's copy leaks there).
 */
#include "sched_runtime.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

_Thread_local weft_runtime *weft__current_rt __attribute__((tls_model("initial-exec")));
/* True on a thread inside weft_block_on of any runtime, either flavour:
 * the multi-thread flavour polls its root there without setting
 * weft__current_rt (that names a thread that runs tasks). */
static _Thread_local bool weft__in_block_on __attribute__((tls_model("initial-exec")));

bool weft__in_runtime_context(void)
{
	return weft__current_rt || weft__in_block_on;
}

static void weft__atfork_child(void)
{
	/* Relaxed: see weft__runtime_forked (the child's only thread). */
	atomic_fetch_add_explicit(&weft__fork_generation, 1, memory_order_relaxed);
}

static pthread_once_t weft__atfork_once = PTHREAD_ONCE_INIT;

static void weft__atfork_register(void)
{
	/* Fails only with ENOMEM; then forks go undetected, which is the
	 * documented contract anyway (a child must not use the runtime). */
	(void)pthread_atfork(NULL, NULL, weft__atfork_child);
}

/* ------------------------------------------------------ inject queue */

bool weft__inject_push(weft_runtime *rt, struct weft__task *t)
{
	pthread_mutex_lock(&rt->lock);
	if (rt->closed) {
		pthread_mutex_unlock(&rt->lock);
		weft__task_ref_dec(t);   /* shutdown drops the task */
		return false;
	}
	weft__fifo_push(&rt->inject, t);
	/* Relaxed: as in weft__inject_push_batch. */
	atomic_store_explicit(&rt->inject_len, rt->inject.len, memory_order_relaxed);
	pthread_mutex_unlock(&rt->lock);
	return true;
}

bool weft__inject_push_batch(weft_runtime *rt, struct weft__task_fifo *batch)
{
	if (!batch->head)
		return true;
	pthread_mutex_lock(&rt->lock);
	if (rt->closed) {
		pthread_mutex_unlock(&rt->lock);
		struct weft__task *t;
		while ((t = weft__fifo_pop(batch)))
			weft__task_ref_dec(t);   /* shutdown drops the tasks */
		return false;
	}
	if (rt->inject.tail)
		rt->inject.tail->queue_next = batch->head;
	else
		rt->inject.head = batch->head;
	rt->inject.tail = batch->tail;
	rt->inject.len += batch->len;
	/* Relaxed: a hint for lock-free emptiness checks; the lock orders
	 * the queue itself. */
	atomic_store_explicit(&rt->inject_len, rt->inject.len, memory_order_relaxed);
	pthread_mutex_unlock(&rt->lock);
	*batch = (struct weft__task_fifo){ 0 };
	return true;
}

/* ------------------------------------------------------------ block_on */

int weft_block_on(weft_runtime *rt, weft_future *fut)
{
	if (!rt || !fut || !fut->poll)
		return -EINVAL;
	if (weft__runtime_forked(rt))
		return -ECHILD;
	if (weft__in_runtime_context())
		return -EDEADLK;
	weft__in_block_on = true;
	int rc = rt->tasks.ops->block_on(rt, fut);
	weft__in_block_on = false;
	return rc;
}

/* ------------------------------------------------------- the runtime */

struct weft__time *weft__runtime_time(weft_runtime *rt)
{
	return &rt->driver.time;
}

struct weft__reactor *weft__runtime_reactor(weft_runtime *rt)
{
	return &rt->driver.io;
}

void weft__runtime_unpark_driver(weft_runtime *rt)
{
	weft__driver_unpark(&rt->driver);
}

static void weft__runtime_destroy(weft_runtime *rt);

/*
 * The smallest config size accepted: the 0.1 struct. Until 0.1 is
 * released every field is 0.1's, so it is the whole struct; from then on
 * it stays that number while fields are appended after it.
 */
#define WEFT__CONFIG_MIN_SIZE sizeof(weft_runtime_config)

/* Reads the caller's config into *@cfg as this library knows it (the
 * `size` rule in weft/runtime.h), then resolves the defaults and the
 * flavour. 0 or -EINVAL. */
static int weft__config_resolve(const weft_runtime_config *config, weft_runtime_config *cfg,
				const struct weft__sched_ops **ops)
{
	*cfg = (weft_runtime_config){ 0 };
	if (config) {
		if (config->size < WEFT__CONFIG_MIN_SIZE)
			return -EINVAL;
		size_t have = config->size < sizeof *cfg ? config->size : sizeof *cfg;
		memcpy(cfg, config, have);
		/* A newer header's fields: only their zero default is
		 * something this library can honour. */
		const unsigned char *tail = (const unsigned char *)config;
		for (size_t i = sizeof *cfg; i < config->size; i++)
			if (tail[i] != 0)
				return -EINVAL;
	}
	cfg->size = sizeof *cfg;
	if (cfg->workers > WEFT_MAX_WORKERS)
		return -EINVAL;
	switch (cfg->flavour) {
	case WEFT_FLAVOUR_AUTO:
	case WEFT_FLAVOUR_MULTI_THREAD:
		break;
	case WEFT_FLAVOUR_CURRENT_THREAD:
		if (cfg->workers > 1)
			return -EINVAL;
		cfg->workers = 1;
		break;
	default:
		return -EINVAL;
	}
	if (cfg->workers == 0) {
		/* The CPUs we may use (affinity, cgroup quota), at most
		 * as many workers as the runtime supports. */
		cfg->workers = weft__available_cpus();
		if (cfg->workers > WEFT_MAX_WORKERS)
			cfg->workers = WEFT_MAX_WORKERS;
	}
	if (cfg->flavour == WEFT_FLAVOUR_AUTO)
		cfg->flavour = cfg->workers == 1 ? WEFT_FLAVOUR_CURRENT_THREAD
						 : WEFT_FLAVOUR_MULTI_THREAD;
	*ops = cfg->flavour == WEFT_FLAVOUR_CURRENT_THREAD ? &weft__current_thread_ops
							   : &weft__multi_thread_ops;
	if (cfg->budget == 0)
		cfg->budget = WEFT_DEFAULT_BUDGET;
	if (cfg->global_queue_interval == 0)
		cfg->global_queue_interval = 61;
	return 0;
}

int weft_runtime_new(weft_runtime **out, const weft_runtime_config *config)
{
	if (!out)
		return -EINVAL;
	weft_runtime_config cfg;
	const struct weft__sched_ops *ops;
	int rc = weft__config_resolve(config, &cfg, &ops);
	if (rc < 0)
		return rc;
	/* The backend first: a bad or unsupported choice fails before
	 * anything is made. */
	weft_backend backend;
	bool backend_auto;
	rc = weft__backend_resolve(cfg.backend, &backend, &backend_auto);
	if (rc < 0)
		return rc;

	pthread_once(&weft__atfork_once, weft__atfork_register);
	weft_runtime *rt = weft__calloc(1, sizeof *rt + ops->size);
	if (!rt)
		return -ENOMEM;
	/* Relaxed: see weft__runtime_forked. */
	rt->tasks.fork_gen = atomic_load_explicit(&weft__fork_generation, memory_order_relaxed);
	rt->tasks.ops = ops;
	rt->tasks.destroy = weft__runtime_destroy;
	rt->config = cfg;
	atomic_init(&rt->tasks.refs, 1);
	atomic_init(&rt->inject_len, 0);
	atomic_init(&rt->remote_schedules, 0);
	atomic_init(&rt->watchdog.reports, 0);
	weft__task_mem_init(rt);
	rc = weft__owned_init(rt);
	if (rc < 0)
		goto err_free;
	rc = weft__sys_mutex_init(&rt->lock, NULL);
	if (rc < 0)
		goto err_owned;
	rc = weft__driver_init(&rt->driver, backend, backend_auto);
	if (rc < 0)
		goto err_lock;
	rc = weft__blocking_init(rt);
	if (rc < 0)
		goto err_driver;
	rc = ops->init(rt);
	if (rc < 0)
		goto err_blocking;
	*out = rt;
	return 0;

err_blocking:
	weft__blocking_release(rt);
err_driver:
	weft__driver_fini(&rt->driver);
err_lock:
	pthread_mutex_destroy(&rt->lock);
err_owned:
	weft__owned_fini(rt);
err_free:
	weft__task_mem_fini(rt);
	weft__free(rt);
	return rc;
}

/* The runtime object's destructor (tasks.destroy): the last reference is
 * gone. */
static void weft__runtime_destroy(weft_runtime *rt)
{
	rt->tasks.ops->fini(rt);
	/* The pools' threads are all gone: joined by the close, or, if it
	 * abandoned some, the last of them dropped the reference that
	 * brought us here (weft__blocking_shutdown). */
	weft__blocking_release(rt);
	weft__driver_fini(&rt->driver);
	pthread_mutex_destroy(&rt->lock);
	weft__owned_fini(rt);
	weft__task_mem_fini(rt);
	weft__free(rt);
}

/* Closes @rt: everything weft_runtime_close does, with the wait for
 * blocking jobs bounded by @deadline_ns (CLOCK_MONOTONIC; UINT64_MAX: no
 * limit); *@ab says what the pools abandoned. */
static void weft__runtime_close(weft_runtime *rt, uint64_t deadline_ns,
				struct weft__blocking_abandoned *ab)
{
	/* First, while every worker still exists: it samples their figures. */
	weft__watchdog_stop(&rt->watchdog);
	pthread_mutex_lock(&rt->lock);
	rt->closed = true;
	pthread_mutex_unlock(&rt->lock);
	weft__owned_close(rt);
	rt->tasks.ops->shutdown(rt);

	/* Futures' drops may wake or detach other tasks; those paths see
	 * `closed` and release what they hold. */
	struct weft__task *t;
	while ((t = weft__owned_pop(rt)))
		weft__task_shutdown(t);

	/* Queued tasks are all complete now: drop the inject queue's
	 * references. */
	pthread_mutex_lock(&rt->lock);
	struct weft__task_fifo in = rt->inject;
	rt->inject = (struct weft__task_fifo){ 0 };
	pthread_mutex_unlock(&rt->lock);
	while ((t = weft__fifo_pop(&in)))
		weft__task_ref_dec(t);

	/* Every future is dropped, so no task holds a blocking handle: cancel
	 * queued blocking jobs, wait for running ones (until the deadline),
	 * join the pool threads (those that finished in time). */
	weft__blocking_shutdown(rt, deadline_ns, ab);

	weft__runtime_ref_dec(rt);
}

void weft_runtime_close(weft_runtime *rt)
{
	if (!rt)
		return;
	/* In a forked child the workers do not exist and locks may be held
	 * by threads that are gone: touch nothing (the child's copy of the
	 * runtime leaks, as documented). */
	if (weft__runtime_forked(rt))
		return;
	weft__runtime_close(rt, UINT64_MAX, NULL);
}

int weft_runtime_close_timeout(weft_runtime *rt, uint64_t timeout_ns,
			       weft_runtime_close_report *report)
{
	weft_runtime_close_report r = { .size = report ? report->size : 0 };
	int rc = 0;
	if (rt && weft__runtime_forked(rt)) {
		rc = -ECHILD;   /* as weft_runtime_close: touch nothing */
	} else if (rt) {
		uint64_t deadline = UINT64_MAX;
		if (timeout_ns != UINT64_MAX) {
			struct timespec ts;
			/* Without a clock reading the deadline cannot be
			 * placed: it is taken as passed (a timeout of 0),
			 * which keeps the bound the caller asked for. */
			if (weft__sys_clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
				deadline = 0;
			} else {
				uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull +
					       (uint64_t)ts.tv_nsec;
				deadline = timeout_ns > UINT64_MAX - 1 - now
						   ? UINT64_MAX - 1
						   : now + timeout_ns;
			}
		}
		struct weft__blocking_abandoned ab;
		weft__runtime_close(rt, deadline, &ab);
		r.abandoned_threads = ab.threads;
		r.abandoned_jobs = ab.jobs;
		r.cancelled_jobs = ab.cancelled;
		if (ab.threads)
			rc = -ETIMEDOUT;
	}
	/* The caller's size says how much of the report it has room for;
	 * its size field is left as it was. */
	if (report && r.size > sizeof r.size) {
		size_t n = r.size < sizeof r ? r.size : sizeof r;
		memcpy((char *)report + sizeof r.size, (char *)&r + sizeof r.size,
		       n - sizeof r.size);
	}
	return rc;
}

size_t weft_runtime_live_tasks(const weft_runtime *rt)
{
	return weft__owned_live((weft_runtime *)rt);
}

/* ------------------------------------------------------------ metrics */

static void weft__copy_out(void *out, const void *src, size_t size, size_t have)
{
	memcpy(out, src, size < have ? size : have);
}

int weft_runtime_metrics_get(weft_runtime *rt, weft_runtime_metrics *out, size_t size)
{
	if (!rt || !out)
		return -EINVAL;
	/* Relaxed loads throughout: statistics, no ordering implied. */
	weft_runtime_metrics m = {
		.workers = rt->config.workers,
		.live_tasks = weft__owned_live(rt),
		.spawned_tasks = weft__owned_spawned(rt),
		.inject_depth = atomic_load_explicit(&rt->inject_len, memory_order_relaxed),
		.remote_schedules = atomic_load_explicit(&rt->remote_schedules,
							 memory_order_relaxed),
		.io_events = atomic_load_explicit(&rt->driver.io.events, memory_order_relaxed),
		.timers_fired = atomic_load_explicit(&rt->driver.timers_fired,
						     memory_order_relaxed),
		.driver_errors = atomic_load_explicit(&rt->driver.io.errors,
						      memory_order_relaxed),
		.driver_error = weft__driver_error(&rt->driver),
		.watchdog_reports = atomic_load_explicit(&rt->watchdog.reports,
							 memory_order_relaxed),
		.flavour = rt->config.flavour,
		.backend = (uint32_t)rt->driver.io.backend.kind,
	};
	weft__copy_out(out, &m, size, sizeof m);
	return 0;
}

#define WEFT__LOAD(c, f) atomic_load_explicit(&(c)->f, memory_order_relaxed)

void weft__worker_counters_read(const struct weft__worker_counters *c, weft_worker_metrics *m)
{
	/* Relaxed loads: statistics (the owner writes them relaxed). */
	*m = (weft_worker_metrics){
		.polls = WEFT__LOAD(c, polls),
		.steals = WEFT__LOAD(c, steals),
		.steal_operations = WEFT__LOAD(c, steal_operations),
		.parks = WEFT__LOAD(c, parks),
		.unparks = WEFT__LOAD(c, unparks),
		.local_schedules = WEFT__LOAD(c, local_schedules),
		.remote_schedules = WEFT__LOAD(c, remote_schedules),
		.overflows = WEFT__LOAD(c, overflows),
		.lifo_hits = WEFT__LOAD(c, lifo_hits),
		.busy_ns = WEFT__LOAD(c, busy_ns),
	};
	for (unsigned i = 0; i < WEFT_POLL_TIME_BUCKETS; i++)
		m->poll_time_histogram[i] = WEFT__LOAD(c, poll_time[i]);
}

int weft_runtime_worker_metrics(weft_runtime *rt, uint32_t index,
				weft_worker_metrics *out, size_t size)
{
	if (!rt || !out)
		return -EINVAL;
	weft_worker_metrics m;
	int rc = rt->tasks.ops->metrics(rt, index, &m);
	if (rc < 0)
		return rc;
	weft__copy_out(out, &m, size, sizeof m);
	return 0;
}
