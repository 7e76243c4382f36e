/*
 * multi_thread.c - the multi-thread scheduler flavour's interface: start
 * and stop the workers (whose loop is worker.c), block_on, figures.
 *
 * block_on. The calling thread is not a worker: it only polls the root
 * future and sleeps on a park of its own (sys_park.h) until the root's
 * waker unparks it. The root waker is a small reference-counted object, so a
 * clone that outlives the call stays valid. Several threads may block_on
 * at once, with any number of workers, one included.
 *
 * Driver errors. A fatal backend error is sticky in the reactor
 * (reactor.c, "Errors"). A block_on lists its root on mt->roots (under
 * roots_lock) while it runs and checks the error before every park; the
 * reactor's on_error hook (weft__mt_driver_failed), run once by the
 * thread that recorded the error, unparks every listed root under the
 * same lock. Either a root was listed before the hook took the lock and
 * is unparked (the park keeps the token), or it is listed after, and
 * its check after listing sees the error the hook's thread stored before
 * locking. Workers stop parking in the driver (worker.c).
 *
 * Shutdown sets `shutdown` (release), unparks every worker and joins
 * them; each worker drops the references its queues hold as it exits.
 */
#include "sched_multi_thread.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

/* ------------------------------------------------------------ block_on */

struct weft__root {
	_Atomic size_t refs;
	_Atomic bool woken;
	struct weft__park park;
	/* On mt->roots while its block_on runs (roots_lock). */
	struct weft__root *prev, *next;
};

static void weft__mt_root_drop(const void *data)
{
	struct weft__root *r = (struct weft__root *)data;
	/* AcqRel: the last holder frees and must see the others' uses. */
	if (atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1)
		weft__free(r);
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
	struct weft__multi_thread *mt = weft__mt_of(rt);
	struct weft__root *r = weft__alloc(sizeof *r);
	if (!r)
		return -ENOMEM;
	atomic_init(&r->refs, 1);
	atomic_init(&r->woken, true);
	weft__park_init(&r->park, NULL, NULL);
	/* Listed before the first check of the driver error: see "Driver
	 * errors" at the top. */
	r->prev = NULL;
	pthread_mutex_lock(&mt->roots_lock);
	r->next = mt->roots;
	if (mt->roots)
		mt->roots->prev = r;
	mt->roots = r;
	pthread_mutex_unlock(&mt->roots_lock);

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

	pthread_mutex_lock(&mt->roots_lock);
	if (r->prev)
		r->prev->next = r->next;
	else
		mt->roots = r->next;
	if (r->next)
		r->next->prev = r->prev;
	pthread_mutex_unlock(&mt->roots_lock);

	/* A sticky error before the first poll: @fut is the caller's still. */
	if (polled || rc == 0)
		weft_future_drop(fut);
	weft__mt_root_drop(r);
	return rc;
}

/* The reactor's on_error hook: wakes every block_on so it sees the error
 * (see "Driver errors" at the top). */
static void weft__mt_driver_failed(void *arg)
{
	struct weft__multi_thread *mt = weft__mt_of(arg);
	pthread_mutex_lock(&mt->roots_lock);
	for (struct weft__root *r = mt->roots; r; r = r->next)
		weft__unpark(&r->park);
	pthread_mutex_unlock(&mt->roots_lock);
}

/* ------------------------------------------------------- start and stop */

/* Sets `shutdown`, wakes and joins the first @started workers. */
static void weft__mt_stop_threads(struct weft__multi_thread *mt, uint32_t started)
{
	/* Release: workers that see the flag see everything before it. */
	atomic_store_explicit(&mt->shutdown, true, memory_order_release);
	for (uint32_t i = 0; i < started; i++)
		weft__worker_unpark(&mt->workers[i]);
	for (uint32_t i = 0; i < started; i++)
		pthread_join(mt->workers[i].thread, NULL);
}

static void weft__mt_destroy_workers(struct weft__multi_thread *mt)
{
	for (uint32_t i = 0; i < mt->nworkers; i++)
		weft__task_cache_fini(&mt->workers[i].cache);
}

static int weft__mt_init(weft_runtime *rt)
{
	struct weft__multi_thread *mt = weft__mt_of(rt);
	uint32_t n = rt->config.workers;
	atomic_init(&mt->shutdown, false);
	atomic_init(&mt->park_sleepers, 0);
	mt->roots = NULL;
	mt->workers = weft__calloc(n, sizeof *mt->workers);
	if (!mt->workers)
		return -ENOMEM;
	mt->nworkers = n;
	/* Where task memory finds a worker's cache (task_alloc.c). */
	rt->tasks.worker_caches = (char *)&mt->workers[0].cache;
	rt->tasks.worker_cache_stride = sizeof *mt->workers;
	/* Task blocks of whole cache lines: the workers poll neighbouring
	 * tasks at once (task_alloc.c). */
	rt->tasks.grain_shift = WEFT__TC_GRAIN_LINE;
	int rc = weft__idle_init(&mt->idle, n);
	if (rc < 0)
		goto err_workers;
	rc = weft__sys_mutex_init(&mt->driver_lock, NULL);
	if (rc < 0)
		goto err_idle;
	rc = weft__sys_mutex_init(&mt->roots_lock, NULL);
	if (rc < 0)
		goto err_driver_lock;
	uint32_t seed = (uint32_t)getpid() * 2654435761u;
	for (uint32_t i = 0; i < n; i++) {
		struct weft__worker *w = &mt->workers[i];
		w->rt = rt;
		w->mt = mt;
		w->index = i;
		w->rng = (seed ^ (i * 0x9e3779b9u)) | 1;
		weft__local_queue_init(&w->queue);
		w->m.watched = rt->config.watchdog_ns != 0;
		weft__park_init(&w->park, weft__worker_driver_wake, rt);
	}
	/* Before any thread can turn the reactor. */
	rt->driver.io.on_error = weft__mt_driver_failed;
	rt->driver.io.on_error_arg = rt;
	if (rt->config.watchdog_ns) {
		rc = weft__watchdog_start(&rt->watchdog, &rt->config, (char *)&mt->workers[0].m,
					  sizeof *mt->workers, n);
		if (rc < 0)
			goto err_sync;
	}
	uint32_t started = 0;
	for (; started < n; started++) {
		char name[32];   /* cut to 15 bytes past worker 999 */
		snprintf(name, sizeof name, "weft-worker-%u", started);
		rc = weft__thread_create(&mt->workers[started].thread, weft__worker_main,
					 &mt->workers[started], name);
		if (rc < 0)
			break;
	}
	if (started < n) {
		weft__mt_stop_threads(mt, started);
		weft__watchdog_stop(&rt->watchdog);
		goto err_sync;
	}
	return 0;

err_sync:
	rt->driver.io.on_error = NULL;
	pthread_mutex_destroy(&mt->roots_lock);
err_driver_lock:
	pthread_mutex_destroy(&mt->driver_lock);
err_idle:
	weft__idle_fini(&mt->idle);
err_workers:
	weft__free(mt->workers);
	mt->workers = NULL;
	mt->nworkers = 0;
	rt->tasks.worker_caches = NULL;
	return rc;
}

static void weft__mt_shutdown(weft_runtime *rt)
{
	struct weft__multi_thread *mt = weft__mt_of(rt);
	weft__mt_stop_threads(mt, mt->nworkers);
}

static void weft__mt_fini(weft_runtime *rt)
{
	struct weft__multi_thread *mt = weft__mt_of(rt);
	weft__mt_destroy_workers(mt);
	pthread_mutex_destroy(&mt->roots_lock);
	pthread_mutex_destroy(&mt->driver_lock);
	weft__idle_fini(&mt->idle);
	weft__free(mt->workers);
}

static int weft__mt_metrics(weft_runtime *rt, uint32_t index, weft_worker_metrics *out)
{
	struct weft__multi_thread *mt = weft__mt_of(rt);
	if (index >= mt->nworkers)
		return -EINVAL;
	weft__worker_counters_read(&mt->workers[index].m, out);
	out->local_queue_depth = weft__local_queue_len(&mt->workers[index].queue);
	return 0;
}

const struct weft__sched_ops weft__multi_thread_ops = {
	.name = "multi_thread",
	.size = sizeof(struct weft__multi_thread),
	.init = weft__mt_init,
	.schedule = weft__mt_schedule,
	.block_on = weft__mt_block_on,
	.shutdown = weft__mt_shutdown,
	.fini = weft__mt_fini,
	.metrics = weft__mt_metrics,
};
