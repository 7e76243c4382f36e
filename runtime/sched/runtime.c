/*
 * runtime.c - the runtime object and the current-thread scheduler.
 *
 * Protocol. The current-thread flavour runs every task on the thread that
 * is inside weft_block_on (the "core" holder; at most one, taken with an
 * atomic flag). That thread alone touches the local queue. Other threads,
 * and the core thread when no core is held, queue woken tasks on the
 * inject queue under the runtime lock and unpark the core thread.
 *
 * The core thread parks in the driver (driver.c), whose wake-up token is
 * a park (sys_park.h). No wakeup is lost: the core thread parks only
 * after it found both queues empty and the root future not woken, and
 * every producer makes its work visible (inject push under the lock, or
 * root_woken store) before it unparks; the park keeps one token, so an
 * unpark that lands between the last check and the park makes the park
 * return at once.
 *
 * Shutdown (weft_runtime_close) closes the runtime under the lock, so no
 * spawn succeeds and no task is queued after it, then takes each task out
 * of the owned list and drops its future (unless it completed meanwhile),
 * then releases the references held by the queues. The runtime's memory
 * lives until the last task is freed, since wakers held elsewhere may
 * still reach it.
 *
 * Driver errors. A fatal backend error is sticky in the reactor
 * (reactor.c, "Errors"). The current-thread block_on checks it after every
 * park and returns it, dropping its future; a later block_on returns it at
 * once. A multi-thread block_on lists its root on rt->roots (under
 * roots_lock) while it runs and checks the error before every park; the
 * reactor's on_error hook (weft__runtime_driver_failed), run once by the
 * thread that recorded the error, unparks every listed root under the same
 * lock. Either a root was listed before the hook took the lock and is
 * unparked (the park keeps the token), or it is listed after, and its
 * check after listing sees the error the hook's thread stored before
 * locking. Workers stop parking in the driver (worker.c).
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

_Thread_local weft_runtime *weft__current_rt;

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

/* ------------------------------------------------------ the scheduler */

/* Owner-only counter bump (the core thread); relaxed: statistics. */
#define WEFT__CT_COUNT(rt, field) \
	atomic_store_explicit(&(rt)->ct_m.field, \
			      atomic_load_explicit(&(rt)->ct_m.field, memory_order_relaxed) + 1, \
			      memory_order_relaxed)

static void weft__ct_schedule(weft_runtime *rt, struct weft__task *t, bool yield)
{
	(void)yield;   /* one FIFO: yields and wakes both go to the back */
	if (weft__current_rt == rt) {
		/* The core thread: its own queue, no lock, no unpark. */
		WEFT__CT_COUNT(rt, local_schedules);
		weft__fifo_push(&rt->local, t);
		return;
	}
	atomic_fetch_add_explicit(&rt->remote_schedules, 1, memory_order_relaxed);
	pthread_mutex_lock(&rt->lock);
	if (rt->closed) {
		pthread_mutex_unlock(&rt->lock);
		weft__task_ref_dec(t);   /* shutdown has dropped or will drop it */
		return;
	}
	weft__fifo_push(&rt->inject, t);
	atomic_store_explicit(&rt->inject_len, rt->inject.len, memory_order_relaxed);
	pthread_mutex_unlock(&rt->lock);
	WEFT__PERTURB(WEFT__PERTURB_REMOTE_QUEUED);
	weft__driver_unpark(&rt->driver);
}

static const struct weft__sched_ops weft__ct_ops = {
	.schedule = weft__ct_schedule,
	.destroy = weft__runtime_destroy,
};

/* Moves everything on the inject queue to the local queue in one lock. */
static bool weft__ct_take_inject(weft_runtime *rt)
{
	/* Relaxed: a stale zero only delays the move to a later tick, and
	 * the core re-checks under the lock before it parks. */
	if (atomic_load_explicit(&rt->inject_len, memory_order_relaxed) == 0)
		return false;
	pthread_mutex_lock(&rt->lock);
	struct weft__task_fifo in = rt->inject;
	rt->inject = (struct weft__task_fifo){ 0 };
	atomic_store_explicit(&rt->inject_len, 0, memory_order_relaxed);
	pthread_mutex_unlock(&rt->lock);
	if (!in.head)
		return false;
	if (rt->local.tail)
		rt->local.tail->queue_next = in.head;
	else
		rt->local.head = in.head;
	rt->local.tail = in.tail;
	rt->local.len += in.len;
	return true;
}

/* ------------------------------------------------------ the root waker */

/*
 * block_on's future is not a task: its waker sets root_woken and unparks
 * the core thread. Each waker holds a runtime reference, so a waker that
 * outlives block_on (or the runtime's owner) stays safe to use.
 */
static weft_waker weft__root_clone(const void *data);

static void weft__root_wake_by_ref(const void *data)
{
	weft_runtime *rt = (weft_runtime *)data;
	/* Release: the waker's writes happen-before the root poll, which
	 * reads the flag with acquire (exchange). */
	atomic_store_explicit(&rt->root_woken, true, memory_order_release);
	weft__driver_unpark(&rt->driver);
}

static void weft__root_drop(const void *data)
{
	weft__runtime_ref_dec((weft_runtime *)data);
}

static void weft__root_wake(const void *data)
{
	weft__root_wake_by_ref(data);
	weft__root_drop(data);
}

static const weft_waker_vtable weft__root_vtable = {
	.clone = weft__root_clone,
	.wake = weft__root_wake,
	.wake_by_ref = weft__root_wake_by_ref,
	.drop = weft__root_drop,
};

static weft_waker weft__root_clone(const void *data)
{
	weft_runtime *rt = (weft_runtime *)data;
	/* Relaxed: the caller's waker already holds a reference. */
	atomic_fetch_add_explicit(&rt->tasks.refs, 1, memory_order_relaxed);
	return (weft_waker){ .vtable = &weft__root_vtable, .data = rt };
}

/* ------------------------------------------------------------ block_on */

static int weft__mt_block_on(weft_runtime *rt, weft_future *fut);

int weft_block_on(weft_runtime *rt, weft_future *fut)
{
	if (!rt || !fut || !fut->poll)
		return -EINVAL;
	if (weft__runtime_forked(rt))
		return -ECHILD;
	if (weft__current_rt)
		return -EDEADLK;
	if (rt->nworkers > 0)
		return weft__mt_block_on(rt, fut);
	bool expected = false;
	/* Acquire: see the queues as the previous core holder left them;
	 * its release store pairs with this. */
	if (!atomic_compare_exchange_strong_explicit(&rt->core_taken, &expected, true,
						     memory_order_acquire,
						     memory_order_relaxed))
		return -EBUSY;
	int rc = weft__driver_error(&rt->driver);
	if (rc) {
		/* Sticky: refuse to start; @fut is neither polled nor dropped.
		 * Release: as at the end. */
		atomic_store_explicit(&rt->core_taken, false, memory_order_release);
		return rc;
	}
	weft__current_rt = rt;
	weft__task_cache_enter(rt, &rt->tasks.core_cache, WEFT__HOME_CORE);

	/* A borrowed waker: the runtime owner's reference covers it, and
	 * clones take their own. */
	weft_waker root = { .vtable = &weft__root_vtable, .data = rt };
	const uint32_t budget = rt->config.budget;
	const uint32_t interval = rt->config.global_queue_interval;
	atomic_store_explicit(&rt->root_woken, true, memory_order_relaxed);

	for (;;) {
		/* A plain load first: the root is rarely woken in a busy
		 * server, and the exchange is a locked instruction. Relaxed:
		 * only a filter; the exchange (acquire, pairing with the
		 * waker's release) decides. */
		if (atomic_load_explicit(&rt->root_woken, memory_order_relaxed) &&
		    atomic_exchange_explicit(&rt->root_woken, false, memory_order_acquire)) {
			weft_cx cx = { .waker = &root, .runtime = rt, .budget = budget };
			if (fut->poll(fut, &cx) == WEFT_READY)
				break;
		}
		/* One tick: up to `interval` tasks, taking remote work first
		 * so it cannot starve behind a busy local queue. */
		weft__ct_take_inject(rt);
		uint32_t ran = 0;
		struct weft__task *t;
		while (ran < interval && (t = weft__fifo_pop(&rt->local))) {
			WEFT__CT_COUNT(rt, polls);
			weft__task_run(t, budget);
			ran++;
		}
		if (ran == interval) {
			/* Busy: still look at I/O and timers every tick. */
			weft__driver_park(&rt->driver, 0, false);
			if (weft__unlikely((rc = weft__driver_error(&rt->driver)) != 0))
				break;
			continue;
		}
		if (ran > 0 || rt->local.head)
			continue;
		if (atomic_load_explicit(&rt->root_woken, memory_order_relaxed))
			continue;
		if (weft__ct_take_inject(rt))
			continue;
		WEFT__CT_COUNT(rt, parks);
		weft__driver_park(&rt->driver, -1, true);
		WEFT__CT_COUNT(rt, unparks);
		/* Same thread as the park: program order shows the error. */
		if (weft__unlikely((rc = weft__driver_error(&rt->driver)) != 0))
			break;
	}

	weft_future_drop(fut);
	weft__task_cache_leave();
	weft__current_rt = NULL;
	/* Release: hand the queues to the next core holder. */
	atomic_store_explicit(&rt->core_taken, false, memory_order_release);
	return rc;
}

/*
 * block_on on the multi-thread flavour: the calling thread only polls the
 * root future and sleeps on its own park (sys_park.h); workers run the
 * tasks. The root waker is a small ref-counted object, so a clone that
 * outlives the call stays valid.
 */
struct weft__root {
	_Atomic size_t refs;
	_Atomic bool woken;
	struct weft__park park;
	/* On rt->roots while its block_on runs (roots_lock). */
	struct weft__root *prev, *next;
};

static void weft__mt_root_drop(const void *data)
{
	struct weft__root *r = (struct weft__root *)data;
	/* AcqRel: the last holder frees and must see the others' uses. */
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
		weft__free(r);
	}
}

static void weft__mt_root_wake_by_ref(const void *data)
{
	struct weft__root *r = (struct weft__root *)data;
	/* Release: the waker's writes happen-before the root poll. */
	atomic_store_explicit(&r->woken, true, memory_order_release);
	weft__unpark(&r->park);
}

static void weft__mt_root_wake(const void *data)
{
	weft__mt_root_wake_by_ref(data);
	weft__mt_root_drop(data);
}

static weft_waker weft__mt_root_clone(const void *data);

static const weft_waker_vtable weft__mt_root_vtable = {
	.clone = weft__mt_root_clone,
	.wake = weft__mt_root_wake,
	.wake_by_ref = weft__mt_root_wake_by_ref,
	.drop = weft__mt_root_drop,
};

static weft_waker weft__mt_root_clone(const void *data)
{
	struct weft__root *r = (struct weft__root *)data;
	/* Relaxed: the caller holds a reference already. */
	atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed);
	return (weft_waker){ .vtable = &weft__mt_root_vtable, .data = r };
}

static int weft__mt_block_on(weft_runtime *rt, weft_future *fut)
{
	struct weft__root *r = weft__alloc(sizeof *r);
	if (!r)
		return -ENOMEM;
	atomic_init(&r->refs, 1);
	atomic_init(&r->woken, true);
	weft__park_init(&r->park, NULL, NULL);
	/* Listed before the first check of the driver error: see "Driver
	 * errors" at the top. */
	r->prev = NULL;
	pthread_mutex_lock(&rt->roots_lock);
	r->next = rt->roots;
	if (rt->roots)
		rt->roots->prev = r;
	rt->roots = r;
	pthread_mutex_unlock(&rt->roots_lock);

	weft_waker root = { .vtable = &weft__mt_root_vtable, .data = r };
	int rc = weft__driver_error(&rt->driver);
	bool polled = false;
	while (rc == 0) {
		/* Acquire: pairs with the waker's release. */
		if (atomic_exchange_explicit(&r->woken, false, memory_order_acquire)) {
			weft_cx cx = { .waker = &root, .runtime = rt, .budget = rt->config.budget };
			polled = true;
			if (fut->poll(fut, &cx) == WEFT_READY)
				break;
			continue;
		}
		rc = weft__driver_error(&rt->driver);
		if (rc)
			break;
		weft__park(&r->park, -1);
	}

	pthread_mutex_lock(&rt->roots_lock);
	if (r->prev)
		r->prev->next = r->next;
	else
		rt->roots = r->next;
	if (r->next)
		r->next->prev = r->prev;
	pthread_mutex_unlock(&rt->roots_lock);

	/* A sticky error before the first poll: @fut is the caller's still. */
	if (polled || rc == 0)
		weft_future_drop(fut);
	weft__mt_root_drop(r);
	return rc;
}

/* The reactor's on_error hook: wakes every multi-thread block_on so it
 * sees the error (see "Driver errors" at the top). */
static void weft__runtime_driver_failed(void *arg)
{
	weft_runtime *rt = arg;
	if (rt->nworkers == 0)
		return;   /* the current-thread core checks after each park */
	pthread_mutex_lock(&rt->roots_lock);
	for (struct weft__root *r = rt->roots; r; r = r->next)
		weft__unpark(&r->park);
	pthread_mutex_unlock(&rt->roots_lock);
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

int weft_runtime_new(weft_runtime **out, const weft_runtime_config *config)
{
	if (!out)
		return -EINVAL;
	weft_runtime_config cfg = config ? *config : (weft_runtime_config){ 0 };
	if (cfg.workers == 0) {
		/* The CPUs we may use (affinity, cgroup quota), at most
		 * as many workers as the runtime supports. */
		cfg.workers = weft__available_cpus();
		if (cfg.workers > WEFT_MAX_WORKERS)
			cfg.workers = WEFT_MAX_WORKERS;
	}
	if (cfg.workers > WEFT_MAX_WORKERS)
		return -EINVAL;
	if (cfg.budget == 0)
		cfg.budget = WEFT_DEFAULT_BUDGET;
	if (cfg.global_queue_interval == 0)
		cfg.global_queue_interval = 61;
	/* The backend first: a bad or unsupported choice fails before
	 * anything is made. */
	weft_backend backend;
	bool backend_auto;
	int rc = weft__backend_resolve(cfg.backend, &backend, &backend_auto);
	if (rc < 0)
		return rc;

	pthread_once(&weft__atfork_once, weft__atfork_register);
	weft_runtime *rt = weft__calloc(1, sizeof *rt);
	if (!rt)
		return -ENOMEM;
	/* Relaxed: see weft__runtime_forked. */
	rt->tasks.fork_gen = atomic_load_explicit(&weft__fork_generation, memory_order_relaxed);
	rc = -ENOMEM;
	rt->tasks.ops = cfg.workers == 1 ? &weft__ct_ops : &weft__mt_ops;
	rt->config = cfg;
	atomic_init(&rt->tasks.refs, 1);
	atomic_init(&rt->inject_len, 0);
	atomic_init(&rt->core_taken, false);
	atomic_init(&rt->root_woken, false);
	rc = weft__owned_init(rt);
	if (rc < 0)
		goto err_free;
	rc = -ENOMEM;
	if (weft__sys_mutex_init(&rt->lock, NULL) != 0)
		goto err_owned;
	if (weft__sys_mutex_init(&rt->roots_lock, NULL) != 0)
		goto err_lock;
	rt->roots = NULL;
	rc = weft__driver_init(&rt->driver, backend, backend_auto);
	if (rc < 0)
		goto err_roots;
	/* Before any thread can turn the reactor. */
	rt->driver.io.on_error = weft__runtime_driver_failed;
	rt->driver.io.on_error_arg = rt;
	rc = weft__blocking_init(rt);
	if (rc < 0)
		goto err_driver;
	if (cfg.workers > 1) {
		rc = weft__mt_start(rt, cfg.workers);
		if (rc < 0)
			goto err_blocking;
	}
	*out = rt;
	return 0;

err_blocking:
	weft__blocking_release(rt);
err_driver:
	weft__driver_fini(&rt->driver);
err_roots:
	pthread_mutex_destroy(&rt->roots_lock);
err_lock:
	pthread_mutex_destroy(&rt->lock);
err_owned:
	weft__owned_fini(rt);
err_free:
	weft__free(rt);
	return rc;
}

void weft__runtime_destroy(weft_runtime *rt)
{
	if (rt->nworkers > 0)
		weft__mt_fini(rt);
	weft__task_cache_fini(&rt->tasks.core_cache);
	/* The pools' threads are all gone: joined by the close, or, if it
	 * abandoned some, the last of them dropped the reference that
	 * brought us here (weft__blocking_shutdown). */
	weft__blocking_release(rt);
	weft__driver_fini(&rt->driver);
	pthread_mutex_destroy(&rt->roots_lock);
	pthread_mutex_destroy(&rt->lock);
	weft__owned_fini(rt);
	weft__free(rt);
}

/* Closes @rt: everything weft_runtime_close does, with the wait for
 * blocking jobs bounded by @deadline_ns (CLOCK_MONOTONIC; UINT64_MAX: no
 * limit); *@ab says what the pools abandoned. */
static void weft__runtime_close(weft_runtime *rt, uint64_t deadline_ns,
				struct weft__blocking_abandoned *ab)
{
	pthread_mutex_lock(&rt->lock);
	rt->closed = true;
	pthread_mutex_unlock(&rt->lock);
	weft__owned_close(rt);
	if (rt->nworkers > 0)
		weft__mt_stop_threads(rt, rt->nworkers);

	/* Futures' drops may wake or detach other tasks; those paths see
	 * `closed` and release what they hold. */
	struct weft__task *t;
	while ((t = weft__owned_pop(rt)))
		weft__task_shutdown(t);

	/* Queued tasks are all complete now: drop the queues' references. */
	while ((t = weft__fifo_pop(&rt->local)))
		weft__task_ref_dec(t);
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
		.workers = rt->nworkers ? rt->nworkers : 1,
		.live_tasks = weft__owned_live(rt),
		.spawned_tasks = weft__owned_spawned(rt),
		.inject_depth = atomic_load_explicit(&rt->inject_len, memory_order_relaxed),
		.remote_schedules = atomic_load_explicit(&rt->remote_schedules,
							 memory_order_relaxed),
		/* Relaxed, like every load here: statistics. */
		.io_events = atomic_load_explicit(&rt->driver.io.events, memory_order_relaxed),
		.timers_fired = atomic_load_explicit(&rt->driver.timers_fired,
						     memory_order_relaxed),
		.driver_errors = atomic_load_explicit(&rt->driver.io.errors,
						      memory_order_relaxed),
		.driver_error = weft__driver_error(&rt->driver),
		.backend = (uint32_t)rt->driver.io.backend.kind,
	};
	weft__copy_out(out, &m, size, sizeof m);
	return 0;
}

#define WEFT__LOAD(c, f) atomic_load_explicit(&(c)->f, memory_order_relaxed)

int weft_runtime_worker_metrics(weft_runtime *rt, uint32_t index,
				weft_worker_metrics *out, size_t size)
{
	if (!rt || !out || index >= (rt->nworkers ? rt->nworkers : 1))
		return -EINVAL;
	struct weft__worker_counters *c = rt->nworkers ? &rt->workers[index].m : &rt->ct_m;
	weft_worker_metrics m = {
		.polls = WEFT__LOAD(c, polls),
		.steals = WEFT__LOAD(c, steals),
		.steal_operations = WEFT__LOAD(c, steal_operations),
		.parks = WEFT__LOAD(c, parks),
		.unparks = WEFT__LOAD(c, unparks),
		.local_schedules = WEFT__LOAD(c, local_schedules),
		.remote_schedules = WEFT__LOAD(c, remote_schedules),
		.overflows = WEFT__LOAD(c, overflows),
		.lifo_hits = WEFT__LOAD(c, lifo_hits),
		.local_queue_depth = rt->nworkers
			? weft__local_queue_len(&rt->workers[index].queue)
			: 0,
	};
	weft__copy_out(out, &m, size, sizeof m);
	return 0;
}
