/*
 * spawn_blocking.c - the runtime's two blocking pools (made and shut down
 * with the runtime), weft_spawn_blocking and its handle on top of the
 * general one, and the pools' metrics. The pools themselves are in
 * blocking.c.
 */
#include "sched_runtime.h"
#include "blocking.h"

#include <errno.h>
#include <string.h>

#include <weft/blocking.h>

/* --------------------------------------------------------- the runtime */

int weft__blocking_init(weft_runtime *rt)
{
	weft_runtime_config *c = &rt->config;
	if (c->blocking_threads == 0)
		c->blocking_threads = WEFT_BLOCKING_DEFAULT_THREADS;
	if (c->blocking_keep_alive_ms == 0)
		c->blocking_keep_alive_ms = WEFT_BLOCKING_DEFAULT_KEEP_ALIVE_MS;
	uint64_t keep_alive_ns = (uint64_t)c->blocking_keep_alive_ms * 1000000ull;
	const struct weft__thread_hooks hooks = {
		.start = c->on_thread_start,
		.stop = c->on_thread_stop,
		.arg = c->hook_arg,
	};
	rt->blocking = weft__blocking_pool_new(c->blocking_threads, keep_alive_ns, &hooks);
	if (!rt->blocking)
		return -ENOMEM;
	rt->dns_blocking = weft__blocking_pool_new(WEFT__DNS_THREADS, keep_alive_ns, &hooks);
	if (!rt->dns_blocking) {
		weft__blocking_pool_free(rt->blocking);
		rt->blocking = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* A pool's hold and release when it abandons threads: a runtime
 * reference, so a late blocking function that calls into the runtime
 * finds it closed, not freed (blocking.c, "Abandoning"). */
static void weft__blocking_hold_rt(void *arg)
{
	weft__runtime_ref_inc(arg);
}

static void weft__blocking_release_rt(void *arg)
{
	weft__runtime_ref_dec(arg);
}

void weft__blocking_shutdown(weft_runtime *rt, uint64_t deadline_ns,
			     struct weft__blocking_abandoned *out)
{
	/* The general pool first: its functions may still look names up.
	 * The pointers stay set (a running or abandoned function may spawn
	 * and be told -ESHUTDOWN); the pools are freed with the runtime
	 * object (weft__blocking_release). */
	struct weft__blocking_abandoned g, d;
	weft__blocking_pool_shutdown(rt->blocking, deadline_ns, weft__blocking_hold_rt,
				     weft__blocking_release_rt, rt, &g);
	weft__blocking_pool_shutdown(rt->dns_blocking, deadline_ns, weft__blocking_hold_rt,
				     weft__blocking_release_rt, rt, &d);
	if (out) {
		out->threads = g.threads + d.threads;
		out->jobs = g.jobs + d.jobs;
		out->cancelled = g.cancelled + d.cancelled;
	}
}

void weft__blocking_release(weft_runtime *rt)
{
	weft__blocking_pool_free(rt->blocking);
	weft__blocking_pool_free(rt->dns_blocking);
	rt->blocking = NULL;
	rt->dns_blocking = NULL;
}

struct weft__blocking_pool *weft__runtime_blocking(weft_runtime *rt)
{
	return rt->blocking;
}

struct weft__blocking_pool *weft__runtime_dns_blocking(weft_runtime *rt)
{
	return rt->dns_blocking;
}

/* ------------------------------------------------------ spawn_blocking */

struct weft_blocking_handle {
	struct weft__blocking_job job;   /* first: converted back from it */
	weft_blocking_fn fn;
	void *arg;
	weft_blocking_release_fn release;
	void *result;    /* written by run, before the status (job lock) */
	bool taken;      /* the handle's owner took the result */
};

static void weft__spawned_run(struct weft__blocking_job *job)
{
	struct weft_blocking_handle *h = (struct weft_blocking_handle *)(void *)job;
	h->result = h->fn(h->arg);
}

static void weft__spawned_free(struct weft__blocking_job *job)
{
	struct weft_blocking_handle *h = (struct weft_blocking_handle *)(void *)job;
	if (h->release)
		h->release(h->arg, h->taken ? NULL : h->result);
	weft__free(h);
}

int weft_spawn_blocking_owned(weft_runtime *rt, weft_blocking_fn fn, void *arg,
			      weft_blocking_release_fn release,
			      weft_blocking_handle **out)
{
	if (out)
		*out = NULL;
	if (!rt || !fn)
		return -EINVAL;
	struct weft__blocking_pool *pool = weft__runtime_blocking(rt);
	if (!pool)
		return -ESHUTDOWN;
	struct weft_blocking_handle *h = weft__calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	int rc = weft__blocking_job_init(&h->job, weft__spawned_run, weft__spawned_free);
	if (rc < 0) {
		weft__free(h);
		return rc;
	}
	h->fn = fn;
	h->arg = arg;
	h->release = release;
	rc = weft__blocking_submit(pool, &h->job);
	if (rc < 0) {
		/* The pool never saw it: free it by hand, without calling
		 * @release (@arg is still the caller's). */
		pthread_mutex_destroy(&h->job.lock);
		weft__free(h);
		return rc;
	}
	if (out)
		*out = h;
	else
		weft__blocking_job_put(&h->job);
	return 0;
}

int weft_spawn_blocking(weft_runtime *rt, weft_blocking_fn fn, void *arg,
			weft_blocking_handle **out)
{
	return weft_spawn_blocking_owned(rt, fn, arg, NULL, out);
}

weft_poll weft_blocking_handle_poll(weft_blocking_handle *h, weft_cx *cx,
				    void **value, int *res)
{
	if (!h) {
		if (value)
			*value = NULL;
		if (res)
			*res = -EINVAL;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	int st;
	if (weft__blocking_job_poll(&h->job, cx, &st) == WEFT_PENDING) {
		weft_coop_refund(cx);
		return WEFT_PENDING;
	}
	if (value) {
		*value = st == 0 ? h->result : NULL;
		h->taken = st == 0;
	}
	if (res)
		*res = st;
	return WEFT_READY;
}

bool weft_blocking_handle_is_finished(weft_blocking_handle *h)
{
	return !h || weft__blocking_job_finished(&h->job);
}

void weft_blocking_handle_close(weft_blocking_handle *h)
{
	if (h)
		weft__blocking_job_put(&h->job);
}

int weft_runtime_blocking_metrics(weft_runtime *rt, weft_blocking_metrics *out, size_t size)
{
	if (!rt || !out)
		return -EINVAL;
	struct weft__blocking_stats g, d;
	weft__blocking_pool_stats(weft__runtime_blocking(rt), &g);
	weft__blocking_pool_stats(weft__runtime_dns_blocking(rt), &d);
	weft_blocking_metrics m = {
		.threads = g.threads,
		.idle_threads = g.idle,
		.running = g.running,
		.queue_depth = g.queued,
		.threads_started = g.started,
		.jobs_submitted = g.submitted,
		.jobs_completed = g.completed,
		.dns_threads = d.threads,
		.dns_running = d.running,
		.dns_queue_depth = d.queued,
	};
	memcpy(out, &m, size < sizeof m ? size : sizeof m);
	return 0;
}
