/*
 * current_thread.c - the current-thread scheduler flavour: every task runs
 * on the thread inside weft_block_on.
 *
 * Protocol. The thread inside block_on holds the "core" (at most one,
 * taken with an atomic flag) and alone touches the local queue. Other
 * threads, and the core thread when no core is held, queue woken tasks on
 * the runtime's inject queue under the runtime lock and unpark the core
 * thread through the driver.
 *
 * No wakeup is lost: the core thread parks only after it found both queues
 * empty and the root future not woken, and every producer makes its work
 * visible (inject push under the lock, or root_woken store) before it
 * unparks; the core thread parks in the driver (driver.c), whose wake-up
 * token is a park (sys_park.h) keeping one token, so an unpark that lands
 * between the last check and the park makes the park return at once.
 *
 * Driver errors. A fatal backend error is sticky in the reactor
 * (reactor.c, "Errors"); block_on checks it after every park and returns
 * it, dropping its future; a later block_on returns it at once. Nothing
 * else of this flavour sleeps, so it needs no error hook.
 *
 * Shutdown: weft_runtime_close closes the runtime, so no task is queued
 * any more, then asks this flavour to drop the local queue's references
 * (no block_on runs then, by contract), then drops the live tasks.
 */
#include "sched_runtime.h"

#include <errno.h>

struct weft__current_thread {
	/* The core thread's queue (the holder of core_taken only). */
	struct weft__task_fifo local;
	_Atomic bool core_taken;   /* a thread is inside block_on */
	_Atomic bool root_woken;   /* block_on's future must be polled */
	/* Worker 0's figures: the core thread's. */
	struct weft__worker_counters m;
	/* Task memory of the core thread: home 1 (task_alloc.c). */
	alignas(64) struct weft__task_cache cache;
};

static inline struct weft__current_thread *weft__ct(weft_runtime *rt)
{
	return (struct weft__current_thread *)(void *)rt->flavour;
}

/* ------------------------------------------------------ scheduling */

static void weft__ct_schedule(weft_runtime *rt, struct weft__task *t, bool yield)
{
	(void)yield;   /* one FIFO: yields and wakes both go to the back */
	struct weft__current_thread *ct = weft__ct(rt);
	if (weft__current_rt == rt) {
		/* The core thread: its own queue, no lock, no unpark. */
		weft__counter_add(&ct->m.local_schedules, 1);
		weft__fifo_push(&ct->local, t);
		return;
	}
	/* Relaxed: statistics. */
	atomic_fetch_add_explicit(&rt->remote_schedules, 1, memory_order_relaxed);
	if (!weft__inject_push(rt, t))
		return;   /* closed: shutdown has dropped or will drop it */
	WEFT__PERTURB(WEFT__PERTURB_REMOTE_QUEUED);
	weft__driver_unpark(&rt->driver);
}

/* Moves everything on the inject queue to the local queue in one lock. */
static bool weft__ct_take_inject(weft_runtime *rt, struct weft__current_thread *ct)
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
	if (ct->local.tail)
		ct->local.tail->queue_next = in.head;
	else
		ct->local.head = in.head;
	ct->local.tail = in.tail;
	ct->local.len += in.len;
	return true;
}

/* ------------------------------------------------------ the root waker */

/*
 * block_on's future is not a task: its waker sets root_woken and unparks
 * the core thread. Each waker holds a runtime reference, so a waker that
 * outlives block_on (or the runtime's owner) stays safe to use.
 */
static weft_waker weft__ct_root_clone(const void *data);

static void weft__ct_root_wake_by_ref(const void *data)
{
	weft_runtime *rt = (weft_runtime *)data;
	/* Release: the waker's writes happen-before the root poll, which
	 * reads the flag with acquire (exchange). */
	atomic_store_explicit(&weft__ct(rt)->root_woken, true, memory_order_release);
	weft__driver_unpark(&rt->driver);
}

static void weft__ct_root_drop(const void *data)
{
	weft__runtime_ref_dec((weft_runtime *)data);
}

static void weft__ct_root_wake(const void *data)
{
	weft__ct_root_wake_by_ref(data);
	weft__ct_root_drop(data);
}

static const weft_waker_vtable weft__ct_root_vtable = {
	.clone = weft__ct_root_clone,
	.wake = weft__ct_root_wake,
	.wake_by_ref = weft__ct_root_wake_by_ref,
	.drop = weft__ct_root_drop,
};

static weft_waker weft__ct_root_clone(const void *data)
{
	weft__runtime_ref_inc((weft_runtime *)data);
	return (weft_waker){ .vtable = &weft__ct_root_vtable, .data = data };
}

/* ------------------------------------------------------------ block_on */

/*
 * Busy time. A batch runs from the first task polled after a sleep or a
 * driver poll to the next sleep or driver poll (or the end of block_on):
 * two clock reads a batch, however many ticks it spans. The polls of
 * block_on's own future between its ticks count as busy too.
 */
struct weft__ct_batch {
	uint64_t start;   /* 0: no batch open */
	uint64_t clock;   /* poll times (weft__poll_task_timed) */
	bool timed;
};

static void weft__ct_batch_end(struct weft__current_thread *ct, struct weft__ct_batch *b)
{
	if (b->start == 0)
		return;
	weft__busy_add(&ct->m.busy_ns, b->start, weft__mono_ns());
	b->start = 0;
}

/* Runs one tick: up to @interval tasks from the local queue. Returns how
 * many ran. */
static uint32_t weft__ct_tick(weft_runtime *rt, struct weft__current_thread *ct,
			      uint32_t interval, struct weft__ct_batch *b)
{
	struct weft__task *t = weft__fifo_pop(&ct->local);
	if (!t)
		return 0;
	if (b->start == 0)
		b->start = b->clock = weft__mono_ns();
	else if (b->timed)
		b->clock = weft__mono_ns();   /* not the root poll before */
	const uint32_t budget = rt->config.budget;
	uint32_t ran = 0;
	if (weft__likely(!b->timed)) {
		do {
			weft__poll_task(&ct->m, t, budget);
			ran++;
		} while (ran < interval && (t = weft__fifo_pop(&ct->local)));
	} else {
		do {
			weft__poll_task_timed(&ct->m, t, budget, &b->clock);
			ran++;
		} while (ran < interval && (t = weft__fifo_pop(&ct->local)));
	}
	return ran;
}

static int weft__ct_block_on(weft_runtime *rt, weft_future *fut)
{
	struct weft__current_thread *ct = weft__ct(rt);
	bool expected = false;
	/* Acquire: see the queues as the previous core holder left them;
	 * its release store pairs with this. */
	if (!atomic_compare_exchange_strong_explicit(&ct->core_taken, &expected, true,
						     memory_order_acquire,
						     memory_order_relaxed))
		return -EBUSY;
	int rc = weft__driver_error(&rt->driver);
	if (rc) {
		/* Sticky: refuse to start; @fut is neither polled nor dropped.
		 * Release: as at the end. */
		atomic_store_explicit(&ct->core_taken, false, memory_order_release);
		return rc;
	}
	weft__current_rt = rt;
	weft__task_cache_enter(rt, &ct->cache, 1);

	/* A borrowed waker: the runtime owner's reference covers it, and
	 * clones take their own. */
	weft_waker root = { .vtable = &weft__ct_root_vtable, .data = rt };
	const uint32_t interval = rt->config.global_queue_interval;
	struct weft__ct_batch batch = { .timed = rt->config.poll_time_histogram != 0 };
	atomic_store_explicit(&ct->root_woken, true, memory_order_relaxed);

	for (;;) {
		/* A plain load first: the root is rarely woken in a busy
		 * server, and the exchange is a locked instruction. Relaxed:
		 * only a filter; the exchange (acquire, pairing with the
		 * waker's release) decides. */
		if (atomic_load_explicit(&ct->root_woken, memory_order_relaxed) &&
		    atomic_exchange_explicit(&ct->root_woken, false, memory_order_acquire)) {
			weft_cx cx = { .waker = &root, .runtime = rt, .budget = rt->config.budget };
			if (fut->poll(fut, &cx) == WEFT_READY)
				break;
		}
		/* One tick, taking remote work first so it cannot starve
		 * behind a busy local queue. */
		weft__ct_take_inject(rt, ct);
		uint32_t ran = weft__ct_tick(rt, ct, interval, &batch);
		if (ran == interval) {
			/* Busy: still look at I/O and timers every tick. */
			weft__ct_batch_end(ct, &batch);
			weft__driver_park(&rt->driver, 0, false);
			if (weft__unlikely((rc = weft__driver_error(&rt->driver)) != 0))
				break;
			continue;
		}
		if (ran > 0 || ct->local.head)
			continue;
		/* Relaxed: a hint that spares a park; the exchange at the top
		 * of the loop takes the flag with acquire. A wake missed here
		 * is not lost: the root waker unparks the driver after its
		 * store, and the park's token makes that park return at once. */
		if (atomic_load_explicit(&ct->root_woken, memory_order_relaxed))
			continue;
		if (weft__ct_take_inject(rt, ct))
			continue;
		weft__ct_batch_end(ct, &batch);
		/* Out of work: a moment to give task memory back. */
		weft__task_cache_trim(rt, &ct->cache);
		weft__counter_add(&ct->m.parks, 1);
		weft__driver_park(&rt->driver, -1, true);
		weft__counter_add(&ct->m.unparks, 1);
		/* Same thread as the park: program order shows the error. */
		if (weft__unlikely((rc = weft__driver_error(&rt->driver)) != 0))
			break;
	}

	weft__ct_batch_end(ct, &batch);
	weft_future_drop(fut);
	weft__task_cache_leave();
	weft__current_rt = NULL;
	/* Release: hand the queues to the next core holder. */
	atomic_store_explicit(&ct->core_taken, false, memory_order_release);
	return rc;
}

/* ------------------------------------------------ start, stop, figures */

static int weft__ct_init(weft_runtime *rt)
{
	struct weft__current_thread *ct = weft__ct(rt);
	atomic_init(&ct->core_taken, false);
	atomic_init(&ct->root_woken, false);
	/* Where task memory finds the core's cache: home 1. */
	rt->tasks.worker_caches = (char *)&ct->cache;
	rt->tasks.worker_cache_stride = 0;
	ct->m.watched = rt->config.watchdog_ns != 0;
	if (rt->config.watchdog_ns)
		return weft__watchdog_start(&rt->watchdog, &rt->config, (char *)&ct->m, 0, 1);
	return 0;
}

static void weft__ct_shutdown(weft_runtime *rt)
{
	/* Every queued task is the owned list's too, which drops it. */
	struct weft__task *t;
	while ((t = weft__fifo_pop(&weft__ct(rt)->local)))
		weft__task_ref_dec(t);
}

static void weft__ct_fini(weft_runtime *rt)
{
	weft__task_cache_fini(&weft__ct(rt)->cache);
}

static int weft__ct_metrics(weft_runtime *rt, uint32_t index, weft_worker_metrics *out)
{
	if (index != 0)
		return -EINVAL;
	weft__worker_counters_read(&weft__ct(rt)->m, out);
	return 0;
}

const struct weft__sched_ops weft__current_thread_ops = {
	.name = "current_thread",
	.size = sizeof(struct weft__current_thread),
	.init = weft__ct_init,
	.schedule = weft__ct_schedule,
	.block_on = weft__ct_block_on,
	.shutdown = weft__ct_shutdown,
	.fini = weft__ct_fini,
	.metrics = weft__ct_metrics,
};
