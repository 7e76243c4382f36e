/*
 * worker.c - the multi-thread flavour's worker threads: run loop, work
 * stealing, parking, scheduling (the flavour's interface, block_on and
 * start/stop are in multi_thread.c).
 *
 * Protocol. N worker threads each own a local ring queue (sched_queue.h), a LIFO
 * slot and a tick counter. A task woken by the task a worker is running
 * goes to that worker's LIFO slot (message passing stays in cache); the
 * slot's previous occupant moves to the back of the local queue, and at
 * most WEFT__LIFO_CAP tasks run from the slot in a row, so it cannot
 * starve the queue. Any other wake or spawn on a worker thread goes to the
 * back of its local queue; a full queue moves half of itself to the
 * shared inject queue in one batch. Wakes and spawns from threads outside
 * the runtime go to the inject queue, followed by a notification.
 *
 * A worker takes from the inject queue first every global_queue_interval
 * ticks (fairness), and whenever its own queue is empty. Out of work, it
 * searches: steals half of another worker's queue, from a random first
 * victim, then takes from the inject queue; at most half the workers
 * search at once (idle.c). A worker that still finds nothing parks. A
 * worker whose park leaves nobody searching re-checks every queue first
 * (the last searcher, or one the cap kept from searching), and any push
 * from a thread that may find no searcher notifies a parked worker, so no task
 * is stranded in a queue while every worker sleeps (idle.c explains the
 * store-load pair this relies on). Pushes a worker makes to its own queue
 * need no such care: that worker runs them itself before it parks.
 *
 * Parking. Each worker sleeps through its own park (sys_park.h, one
 * token; park.c). The first worker to park takes the driver (a try-lock)
 * and its park sleeps in epoll_wait until I/O, the next timer deadline or
 * an unpark; the others sleep on their parks' own futex word. A worker
 * that wakes with no work and no notification stays counted as parked
 * (idle.c) and sleeps again. The park's state word says where its owner
 * sleeps, so an unpark writes the eventfd only for the worker in the
 * driver. A worker leaves the driver before it runs tasks; if a worker
 * sleeps off the driver at that moment, it is woken to take the driver
 * over (a sleeper publishes that it sleeps, counts itself, then tries the
 * driver once more, so one that was just falling asleep is not missed:
 * weft__driver_handoff, modelled in tests/model/park.pml, and its two
 * fences under weak ordering in tests/model/handoff_sb.pml), so a task that
 * blocks in user code on one worker never stalls I/O for the rest. Busy
 * workers also poll the driver without sleeping every event_interval
 * ticks.
 *
 * Driver errors. Once the driver holds a fatal backend error (driver.c),
 * no worker takes the driver any more: parking goes straight to the
 * park's own futex sleep, so workers sleep until work or shutdown
 * instead of spinning on a driver that returns at once. Tasks still run.
 *
 * Shutdown (multi_thread.c) sets `shutdown`, unparks every worker and
 * joins them; each drops the queue references it holds. weft_runtime_close
 * then drops every task still in the owned list (runtime.c).
 *
 * Figures. Each worker counts into its own weft__worker_counters;
 * busy time is measured per batch of polls (two clock reads a batch, see
 * weft__worker_main), poll times only when the config asks for them.
 */
#include "sched_multi_thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WEFT__LIFO_CAP 3
#define WEFT__EVENT_INTERVAL 61

_Thread_local struct weft__worker *weft__current_worker __attribute__((tls_model("initial-exec")));

/* Owner-only counter bump, readable from any thread. Relaxed: metrics
 * order nothing. */
#define WEFT__COUNT(w, field) weft__counter_add(&(w)->m.field, 1)

static inline bool weft__mt_is_shutdown(struct weft__multi_thread *mt)
{
	/* Acquire: pairs with the release store in weft__mt_shutdown
	 * (multi_thread.c). */
	return atomic_load_explicit(&mt->shutdown, memory_order_acquire);
}

/* ------------------------------------------------------------ parking */

void weft__worker_unpark(struct weft__worker *w)
{
	weft__unpark(&w->park);
}

static bool weft__work_pending(weft_runtime *rt, struct weft__multi_thread *mt);

/* A worker's park sleeps in the runtime's driver when the worker holds
 * the driver lock (weft__worker_park_timeout). */
static int weft__worker_driver_sleep(void *arg, int64_t timeout_ns)
{
	weft_runtime *rt = arg;
	struct weft__multi_thread *mt = weft__mt_of(rt);
	if (timeout_ns == 0)
		return 0;   /* a token on the way in: leave the driver for work */
	/* Paused clock: jump only when every worker sleeps and no queue
	 * holds a task: a worker that just left the driver with tasks in
	 * its queue is still counted parked until it has run the checks of
	 * weft__worker_park. */
	bool idle = weft__time_is_paused(&rt->driver.time) &&
		    weft__idle_all_parked(&mt->idle) && !weft__work_pending(rt, mt);
	weft__driver_park(&rt->driver, timeout_ns, idle);
	return 0;
}

void weft__worker_driver_wake(void *arg)
{
	weft__driver_unpark(&((weft_runtime *)arg)->driver);
}

/* Wakes a worker sleeping on its own park, if any, so that it takes the
 * driver we are leaving. */
static void weft__driver_handoff(struct weft__worker *self)
{
	struct weft__multi_thread *mt = self->mt;
	/* SeqCst fence and load: we released the driver lock just before.
	 * A sleeper publishes PARKED and counts itself (both SeqCst) and
	 * then tries the driver lock once more, so either we see it counted
	 * and sleeping here and wake it, or its try-lock finds the driver
	 * free and it parks there instead. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&mt->park_sleepers, memory_order_seq_cst) == 0)
		return;
	/* One unpark for one sleeper. If a notify reaches the same worker
	 * meanwhile the two fold into one token: that worker runs the
	 * notified work and another sleeper stays on its word with the
	 * driver free. It is a searcher (the notify counted it so), and the
	 * last searcher's notify in weft__run_task wakes a parked worker,
	 * which then takes the driver (park.pml -DNB=2 models that step,
	 * idle_park.pml the chain). */
	/* The scan's loads are relaxed (weft__park_sleeping), and no model
	 * reaches this ordering (handoff_sb.pml writes PARKED to memory
	 * directly): a sleeper's SeqCst CAS to PARKED is sequenced before
	 * its SeqCst fetch_add of park_sleepers, a release; our SeqCst load
	 * above is an acquire, so reading its count (or a later value of
	 * the RMW chain) makes the CAS happen-before the scan, which then
	 * reads PARKED or a later state of that word (coherence), never the
	 * EMPTY before it. A later state is NOTIFIED (someone else woke it)
	 * or EMPTY after it left: then it is not asleep on its word. */
	for (uint32_t i = 0; i < mt->nworkers; i++) {
		struct weft__worker *w = &mt->workers[i];
		if (w != self && weft__park_sleeping(&w->park)) {
			weft__worker_unpark(w);
			return;
		}
	}
}

static void weft__worker_park_timeout(struct weft__worker *w, int64_t timeout_ns)
{
	weft_runtime *rt = w->rt;
	struct weft__multi_thread *mt = w->mt;
	/* A token: the unparker's work is to be looked at; keep away from
	 * the driver. */
	if (weft__park(&w->park, 0))
		return;

	/* A failed driver returns at once: sleep on the park instead. */
	bool driver_ok = !weft__driver_error(&rt->driver);
	if (driver_ok && pthread_mutex_trylock(&mt->driver_lock) == 0) {
		weft__park_driver(&w->park, timeout_ns, weft__worker_driver_sleep, rt, NULL);
		pthread_mutex_unlock(&mt->driver_lock);
		return;
	}

	if (!weft__park_prepare(&w->park))
		return;   /* a token came */
	/* SeqCst: the sleeper's half of the pair in weft__driver_handoff
	 * (published PARKED, count, then re-check the driver). */
	atomic_fetch_add_explicit(&mt->park_sleepers, 1, memory_order_seq_cst);
	/* SeqCst fence: the try-lock below is only an acquire operation,
	 * which C11 lets a weakly ordered machine move before the count
	 * above; the fence keeps "count, then look at the driver lock" in
	 * that order, pairing with the fence in weft__driver_handoff
	 * ("unlock, then look at the count"), so one of the two sides
	 * always sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	if (driver_ok && pthread_mutex_trylock(&mt->driver_lock) == 0) {
		/* The holder left the driver between our first try and our
		 * count: withdraw without sleeping, and the caller's next
		 * park takes the driver. */
		pthread_mutex_unlock(&mt->driver_lock);
		weft__park_wait(&w->park, 0);
	} else {
		weft__park_wait(&w->park, timeout_ns);
	}
	/* Relaxed: leaving; nothing is ordered by the decrement. */
	atomic_fetch_sub_explicit(&mt->park_sleepers, 1, memory_order_relaxed);
}

static void weft__notify_parked(struct weft__multi_thread *mt)
{
	int who = weft__idle_worker_to_notify(&mt->idle);
	if (who >= 0)
		weft__worker_unpark(&mt->workers[who]);
}

/* ------------------------------------------------------------- inject */

/* Takes up to @max tasks from the inject queue into @w's local queue and
 * returns one more to run now, or NULL. */
static struct weft__task *weft__inject_take(struct weft__worker *w, uint32_t max)
{
	weft_runtime *rt = w->rt;
	if (atomic_load_explicit(&rt->inject_len, memory_order_relaxed) == 0)
		return NULL;
	pthread_mutex_lock(&rt->lock);
	struct weft__task *first = weft__fifo_pop(&rt->inject);
	uint32_t n = 0;
	struct weft__task_fifo batch = { 0 };
	while (n < max && rt->inject.head) {
		weft__fifo_push(&batch, weft__fifo_pop(&rt->inject));
		n++;
	}
	/* Relaxed: the hint, as in weft__inject_push_batch. */
	atomic_store_explicit(&rt->inject_len, rt->inject.len, memory_order_relaxed);
	pthread_mutex_unlock(&rt->lock);
	if (first)
		WEFT__COUNT(w, remote_schedules);
	struct weft__task *t;
	struct weft__task_fifo overflow = { 0 };
	while ((t = weft__fifo_pop(&batch)))
		weft__local_queue_push(&w->queue, t, &overflow);
	weft__inject_push_batch(rt, &overflow);
	return first;
}

/* ---------------------------------------------------------- scheduling */

static void weft__push_back(struct weft__worker *w, struct weft__task *t)
{
	struct weft__task_fifo overflow = { 0 };
	if (weft__local_queue_push(&w->queue, t, &overflow)) {
		WEFT__COUNT(w, overflows);
		weft__inject_push_batch(w->rt, &overflow);
	}
}

void weft__mt_schedule(weft_runtime *rt, struct weft__task *t, bool yield)
{
	struct weft__multi_thread *mt = weft__mt_of(rt);
	struct weft__worker *w = weft__current_worker;
	if (w && w->rt == rt) {
		WEFT__COUNT(w, local_schedules);
		if (!yield && w->running) {
			struct weft__task *prev = w->lifo;
			w->lifo = t;
			if (!prev)
				return;   /* runs next, right here */
			t = prev;
		}
		weft__push_back(w, t);
		/* Others may help with our queue; a stale "someone is
		 * searching" only costs parallelism, never the task. */
		if (w->running)
			weft__notify_parked(mt);
		return;
	}
	if (!weft__inject_push(rt, t))
		return;   /* closed: shutdown drops the task; nobody to notify */
	WEFT__PERTURB(WEFT__PERTURB_REMOTE_QUEUED);
	/* Relaxed: statistics. */
	atomic_fetch_add_explicit(&rt->remote_schedules, 1, memory_order_relaxed);
	/* SeqCst fence: our push (above, under the lock) must be ordered
	 * before the idle-state load in notify; see idle.c. The C11 argument
	 * (idle_park.pml is sequentially consistent and idle_sb.pml gives
	 * the pair store buffers): the parking worker's SeqCst fetch_sub of
	 * idle->state is followed by its SeqCst load of inject_len. If that
	 * load comes after this fence in the single SeqCst order S, it sees
	 * our inject_len store, which is sequenced before the fence. If it
	 * comes before, so does its fetch_sub, and our SeqCst load of
	 * idle->state, after the fence, sees that fetch_sub or a later
	 * value: the worker counted parked. One side sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	weft__notify_parked(mt);
}

/* ------------------------------------------------------------ the loop */

static uint32_t weft__rand(struct weft__worker *w)
{
	/* xorshift32: victim selection only. */
	uint32_t x = w->rng;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	w->rng = x;
	return x;
}

static struct weft__task *weft__next_task(struct weft__worker *w)
{
	weft_runtime *rt = w->rt;
	struct weft__multi_thread *mt = w->mt;
	struct weft__task *t;
	if (w->tick % rt->config.global_queue_interval == 0) {
		t = weft__inject_take(w, 0);
		if (t)
			return t;
	}
	t = weft__local_queue_pop(&w->queue);
	if (t)
		return t;
	/* Our share of the inject queue, at most half a local queue. */
	uint32_t len = (uint32_t)atomic_load_explicit(&rt->inject_len, memory_order_relaxed);
	uint32_t share = len / mt->nworkers + 1;
	if (share > WEFT__LOCAL_QUEUE_CAP / 2)
		share = WEFT__LOCAL_QUEUE_CAP / 2;
	return weft__inject_take(w, share - 1);
}

static struct weft__task *weft__steal_work(struct weft__worker *w)
{
	struct weft__multi_thread *mt = w->mt;
	if (!w->searching)
		w->searching = weft__idle_transition_to_searching(&mt->idle);
	if (!w->searching)
		return NULL;
	uint32_t n = mt->nworkers;
	uint32_t start = weft__rand(w) % n;
	for (uint32_t i = 0; i < n; i++) {
		struct weft__worker *victim = &mt->workers[(start + i) % n];
		if (victim == w)
			continue;
		uint32_t got;
		struct weft__task *t = weft__local_queue_steal(&victim->queue, &w->queue, &got);
		if (t) {
			WEFT__COUNT(w, steal_operations);
			weft__counter_add(&w->m.steals, got);
			return t;
		}
	}
	return weft__inject_take(w, WEFT__LOCAL_QUEUE_CAP / 4);
}

/* Polls @t, timed (@clock: see weft__poll_task_timed) or not. */
static inline void weft__worker_poll(struct weft__worker *w, struct weft__task *t,
				     uint32_t budget, bool timed, uint64_t *clock)
{
	if (weft__likely(!timed))
		weft__poll_task(&w->m, t, budget);
	else
		weft__poll_task_timed(&w->m, t, budget, clock);
}

/* Runs @t and then the LIFO slot's chain. */
static void weft__run_task(struct weft__worker *w, struct weft__task *t, bool timed,
			   uint64_t *clock)
{
	weft_runtime *rt = w->rt;
	struct weft__multi_thread *mt = w->mt;
	if (w->searching) {
		w->searching = false;
		/* The last searcher found work: another may be needed. */
		if (weft__idle_transition_from_searching(&mt->idle))
			weft__notify_parked(mt);
	}
	const uint32_t budget = rt->config.budget;
	w->running = true;
	weft__worker_poll(w, t, budget, timed, clock);
	for (int n = 0; (t = w->lifo) != NULL; n++) {
		w->lifo = NULL;
		if (n == WEFT__LIFO_CAP) {
			/* Capped: back of the queue, so it can't starve it. */
			weft__push_back(w, t);
			break;
		}
		WEFT__COUNT(w, lifo_hits);
		weft__worker_poll(w, t, budget, timed, clock);
	}
	w->running = false;
	w->tick++;
}

static bool weft__work_pending(weft_runtime *rt, struct weft__multi_thread *mt)
{
	/* SeqCst: the parking worker's re-check, after its SeqCst update of
	 * the idle state; a producer pushes, fences (SeqCst) and then reads
	 * the idle state, so one of the two sees the other (idle.c). */
	if (atomic_load_explicit(&rt->inject_len, memory_order_seq_cst) > 0)
		return true;
	for (uint32_t i = 0; i < mt->nworkers; i++)
		if (weft__local_queue_stealable(&mt->workers[i].queue))
			return true;
	return false;
}

static bool weft__has_local_work(struct weft__worker *w)
{
	return w->lifo || weft__local_queue_len(&w->queue) > 0;
}

/* Polls the driver without sleeping, if no other worker holds it. */
static void weft__maintenance(struct weft__worker *w)
{
	weft_runtime *rt = w->rt;
	struct weft__multi_thread *mt = w->mt;
	if (pthread_mutex_trylock(&mt->driver_lock) != 0)
		return;
	weft__driver_park(&rt->driver, 0, false);
	pthread_mutex_unlock(&mt->driver_lock);
	if (weft__local_queue_len(&w->queue) > 1)
		weft__notify_parked(mt);
	/* We go back to running tasks: a sleeper should hold the driver. */
	weft__driver_handoff(w);
}

static void weft__worker_park(struct weft__worker *w)
{
	weft_runtime *rt = w->rt;
	struct weft__multi_thread *mt = w->mt;
	/* Out of work: a moment to give task memory back (task_alloc.c). */
	weft__task_cache_trim(rt, &w->cache);
	WEFT__PERTURB(w->searching ? WEFT__PERTURB_PARK_SEARCHING
				   : WEFT__PERTURB_PARK_NOT_SEARCHING);
	bool recheck = weft__idle_transition_to_parked(&mt->idle, w->index, w->searching);
	w->searching = false;
	if (recheck && weft__work_pending(rt, mt))
		weft__notify_parked(mt);   /* may pick this very worker */
	/* Paused clock: the worker in the driver judged "every worker
	 * sleeps" when it went in; now that we are the last to park, make
	 * it judge again, so the clock can move to the next deadline. */
	if (weft__time_is_paused(&rt->driver.time) && weft__idle_all_parked(&mt->idle))
		weft__driver_unpark(&rt->driver);
	for (;;) {
		if (weft__mt_is_shutdown(mt))
			return;
		WEFT__COUNT(w, parks);
		weft__worker_park_timeout(w, -1);
		WEFT__COUNT(w, unparks);
		if (weft__has_local_work(w)) {
			/* The driver queued tasks here: run them. Searching
			 * only if a notifier also picked us (it counted us). */
			w->searching = weft__idle_transition_from_parked(&mt->idle, w->index);
			break;
		}
		if (!weft__idle_is_parked(&mt->idle, w->index)) {
			/* A notifier took us off the sleepers and counted us
			 * unparked and searching. */
			w->searching = true;
			break;
		}
		/* Woken for nothing we can see (a driver hand-off, a timer
		 * or I/O that woke something outside this worker, a stale
		 * token): we stay counted parked, as Tokio's workers do, so
		 * a producer that queues work meanwhile still finds a parked
		 * worker to notify (maybe us: the token then ends our next
		 * park at once). Counting ourselves unparked here, even
		 * briefly, let such a producer skip the notification while
		 * we went back to sleep without the last searcher's
		 * re-check, and the work waited for a busy worker. */
		WEFT__PERTURB(WEFT__PERTURB_PARK_SPURIOUS);
	}
	if (weft__local_queue_len(&w->queue) > 1) {
		/* The driver filled our queue: share it, and let a sleeper
		 * take the driver while we run. */
		weft__notify_parked(mt);
	}
	if (weft__has_local_work(w))
		weft__driver_handoff(w);
}

void *weft__worker_main(void *arg)
{
	struct weft__worker *w = arg;
	weft_runtime *rt = w->rt;
	struct weft__multi_thread *mt = w->mt;
	/* The thread hooks: start before anything of the runtime runs
	 * here, stop after the last of it (the runtime outlives its
	 * workers: shutdown joins them). */
	if (rt->config.on_thread_start)
		rt->config.on_thread_start(rt->config.hook_arg);
	weft__current_rt = rt;
	weft__current_worker = w;
	weft__task_cache_enter(rt, &w->cache, (uint16_t)(w->index + 1));
	const bool timed = rt->config.poll_time_histogram != 0;
	uint32_t since_maintenance = 0;
	/* Busy time: a batch runs from the first task found after a sleep
	 * or a driver poll to the next of either; 0 between batches. Two
	 * clock reads per batch (the last poll's end when polls are timed). */
	uint64_t batch_start = 0, clock = 0;
	while (!weft__mt_is_shutdown(mt)) {
		struct weft__task *t = weft__next_task(w);
		if (!t)
			t = weft__steal_work(w);
		if (t) {
			if (batch_start == 0)
				batch_start = clock = weft__mono_ns();
			weft__run_task(w, t, timed, &clock);
			if (++since_maintenance >= WEFT__EVENT_INTERVAL) {
				since_maintenance = 0;
				weft__busy_add(&w->m.busy_ns, batch_start,
					       timed ? clock : weft__mono_ns());
				batch_start = 0;
				weft__maintenance(w);
			}
			continue;
		}
		since_maintenance = 0;
		if (batch_start != 0) {
			weft__busy_add(&w->m.busy_ns, batch_start,
				       timed ? clock : weft__mono_ns());
			batch_start = 0;
		}
		weft__worker_park(w);
	}
	/* Drop the queue references; runtime_free drops the tasks. */
	struct weft__task *t;
	if (w->lifo) {
		weft__task_ref_dec(w->lifo);
		w->lifo = NULL;
	}
	while ((t = weft__local_queue_pop(&w->queue)))
		weft__task_ref_dec(t);
	weft__task_cache_leave();
	weft__current_worker = NULL;
	weft__current_rt = NULL;
	if (rt->config.on_thread_stop)
		rt->config.on_thread_stop(rt->config.hook_arg);
	return NULL;
}
