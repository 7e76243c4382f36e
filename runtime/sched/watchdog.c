/*
 * watchdog.c - reports a task poll that holds a worker too long.
 *
 * A thread of its own samples every worker's figures (sched_runtime.h,
 * struct weft__worker_counters) every threshold / 4, at least every
 * millisecond and at most every second. It costs the workers nothing
 * beyond what weft__poll_task does anyway: the poll count and the spawn
 * site of the task being polled.
 *
 * Protocol. Per poll the worker stores `polls` (+1) and, when a watchdog
 * runs (counters.watched), then `polling` (the task's site, NULL if it
 * has none), both release, and `polling` =
 * WEFT__NOT_POLLING after the poll (before the first poll `polling` is
 * NULL, but `polls` is 0 then, which the watchdog skips).
 * The watchdog reads `polls` (acquire), `polling` (relaxed), an acquire
 * fence, and `polls` again. Equal counts and a site mean the site is this
 * poll's: a later poll's site is stored after its `polls` increment with
 * release, so reading it would, through the fence, make the second read
 * see the new count; an earlier poll's site was overwritten by NULL
 * before this poll's count was published, which the first (acquire) read
 * saw. The watchdog remembers, per worker, the poll it last saw and when
 * it first saw it; once the same poll is still running a threshold after
 * that, the poll has held the worker at least that long (the first sight
 * comes after the poll's start, so a report is never early), and it is
 * reported once: a line on stderr and watchdog.reports + 1.
 */
#include "sched_runtime.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

/* What the report names for a task spawned without a location. */
static const weft_location weft__unknown_site = { "(unknown)", 0, "(spawned without a location)" };

struct weft__wd_seen {
	uint64_t polls;       /* the poll last seen running */
	uint64_t since;       /* when it was first seen; 0: none */
	bool reported;
};

struct weft__watchdog_run {
	struct weft__watchdog *wd;
	struct weft__wd_seen *watch;
};

static const struct weft__worker_counters *weft__wd_counters(struct weft__watchdog *wd,
							      uint32_t i)
{
	return (const struct weft__worker_counters *)(const void *)(wd->counters +
								    (size_t)i * wd->stride);
}

static void weft__watchdog_sample(struct weft__watchdog *wd, struct weft__wd_seen *watch)
{
	uint64_t now = weft__mono_ns();
	if (now == 0)
		return;   /* no clock reading: judge at the next sample */
	for (uint32_t i = 0; i < wd->nworkers; i++) {
		const struct weft__worker_counters *c = weft__wd_counters(wd, i);
		struct weft__wd_seen *w = &watch[i];
		/* Orderings: see "Protocol" at the top. */
		uint64_t p1 = atomic_load_explicit(&c->polls, memory_order_acquire);
		const weft_location *site = atomic_load_explicit(&c->polling, memory_order_relaxed);
		atomic_thread_fence(memory_order_acquire);
		uint64_t p2 = atomic_load_explicit(&c->polls, memory_order_relaxed);
		if (p1 != p2 || p1 == 0 || site == WEFT__NOT_POLLING) {
			w->since = 0;   /* between polls, or one just began */
			continue;
		}
		if (w->since == 0 || w->polls != p1) {
			*w = (struct weft__wd_seen){ .polls = p1, .since = now };
			continue;
		}
		if (w->reported || now - w->since < wd->threshold_ns)
			continue;
		w->reported = true;
		if (!site)
			site = &weft__unknown_site;
		fprintf(stderr,
			"weft: watchdog: a task spawned at %s:%d (%s) has held worker %" PRIu32
			" for more than %" PRIu64 " ms (threshold %" PRIu64
			" ms); the tasks queued behind it wait\n",
			site->file ? site->file : "?", site->line, site->func ? site->func : "?",
			i, (now - w->since) / 1000000, wd->threshold_ns / 1000000);
		/* Release: a reader that sees the count finds the line written. */
		atomic_fetch_add_explicit(&wd->reports, 1, memory_order_release);
	}
}

static void *weft__watchdog_main(void *arg)
{
	struct weft__watchdog_run *run = arg;
	struct weft__watchdog *wd = run->wd;
	/* The config's thread hooks, as on every thread the runtime starts. */
	if (wd->on_start)
		wd->on_start(wd->hook_arg);
	uint64_t period = wd->threshold_ns / 4;
	if (period < 1000000)
		period = 1000000;
	if (period > 1000000000)
		period = 1000000000;
	/* Acquire: pairs with stop's release (the unpark orders it too). A
	 * park cut short (an unpark, a failed clock read) only samples early;
	 * a sample without a clock reading does nothing. */
	while (!atomic_load_explicit(&wd->stop, memory_order_acquire)) {
		weft__park(&wd->park, (int64_t)period);
		if (atomic_load_explicit(&wd->stop, memory_order_acquire))
			break;
		weft__watchdog_sample(wd, run->watch);
	}
	weft__free(run->watch);
	weft__free(run);
	if (wd->on_stop)
		wd->on_stop(wd->hook_arg);
	return NULL;
}

int weft__watchdog_start(struct weft__watchdog *wd, const weft_runtime_config *config,
			 char *counters, size_t stride, uint32_t nworkers)
{
	wd->threshold_ns = config->watchdog_ns;
	wd->on_start = config->on_thread_start;
	wd->on_stop = config->on_thread_stop;
	wd->hook_arg = config->hook_arg;
	wd->counters = counters;
	wd->stride = stride;
	wd->nworkers = nworkers;
	atomic_init(&wd->stop, false);
	weft__park_init(&wd->park, NULL, NULL);
	struct weft__watchdog_run *run = weft__alloc(sizeof *run);
	struct weft__wd_seen *watch = weft__calloc(nworkers, sizeof *watch);
	if (!run || !watch)
		goto err_mem;
	*run = (struct weft__watchdog_run){ .wd = wd, .watch = watch };
	int rc = weft__thread_create(&wd->thread, weft__watchdog_main, run, "weft-watchdog");
	if (rc < 0) {
		weft__free(watch);
		weft__free(run);
		return rc;
	}
	wd->started = true;
	return 0;

err_mem:
	weft__free(watch);
	weft__free(run);
	return -ENOMEM;
}

void weft__watchdog_stop(struct weft__watchdog *wd)
{
	if (!wd->started)
		return;
	/* Release: pairs with the thread's acquire load. */
	atomic_store_explicit(&wd->stop, true, memory_order_release);
	weft__unpark(&wd->park);
	pthread_join(wd->thread, NULL);
	wd->started = false;
}
