/*
 * test_time.c - sleep, interval and timeout, on the paused clock so every
 * deadline is exact: firing order, rounding up, cancellation, a million
 * timers, timeouts both ways, each missed-tick policy, budget, shutdown
 * with timers pending, and registration from another thread.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sched_runtime.h"

/* A runtime with @workers workers (1: the current-thread flavour, whose
 * paused clock is exact: it auto-advances only when nothing can run). */
static int new_runtime(weft_runtime **rt, uint32_t workers)
{
	weft_runtime_config cfg = { .workers = workers };
	return weft_runtime_new(rt, &cfg);
}

/* A runtime with its clock paused on a millisecond boundary. */
static weft_runtime *paused_runtime(void)
{
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	assert_int_equal(weft_time_pause(rt), 0);
	weft_instant now = weft_now(rt);
	assert_int_equal(weft_time_advance(rt, WEFT_MS(1) - now % WEFT_MS(1)), 0);
	assert_int_equal(weft_now(rt) % WEFT_MS(1), 0);
	return rt;
}

static size_t timers(weft_runtime *rt)
{
	return weft__time_timer_count(weft__runtime_time(rt));
}

/* ------------------------------------------------------------- sleep */

static void sleep_init_does_nothing_and_a_zero_filled_sleep_is_valid(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(5));
	assert_int_equal(timers(rt), 0);
	assert_int_equal(weft__time_next_deadline(weft__runtime_time(rt)), UINT64_MAX);
	weft_sleep_drop(&s);
	weft_sleep_drop(&s);

	weft_sleep z;
	memset(&z, 0, sizeof z);
	weft_sleep_drop(&z);                     /* never polled: fine */
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = rt;
	assert_int_equal(weft_sleep_poll(&z, &cx), WEFT_READY);   /* 0 ns */
	assert_int_equal(z.result, 0);
	assert_true(weft_sleep_is_elapsed(&z));
	assert_int_equal(weft_sleep_poll(&z, &cx), WEFT_READY);   /* again */
	weft_sleep_drop(&z);
	weft_sleep_drop(&z);
	weft_runtime_close(rt);
}

static void a_sleep_without_runtime_completes_with_einval(void **state)
{
	(void)state;
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	weft_sleep s;
	weft_sleep_init(&s, WEFT_SEC(1));
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
	assert_int_equal(s.result, -EINVAL);
	weft_sleep_drop(&s);

	weft_interval iv;
	weft_instant tick = 1;
	weft_interval_init(&iv, WEFT_MS(1), WEFT_MISSED_TICK_BURST);
	assert_int_equal(weft_interval_tick_poll(&iv, &cx, &tick), WEFT_READY);
	assert_int_equal(iv.result, -EINVAL);
	assert_int_equal(tick, 0);
	weft_interval_drop(&iv);
}

static void a_sleep_fires_on_the_next_millisecond_at_or_after_its_deadline(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = rt;
	weft_instant t0 = weft_now(rt);

	weft_sleep s;
	weft_sleep_init(&s, WEFT_US(1500));
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
	assert_int_equal(s.deadline, t0 + WEFT_US(1500));
	assert_int_equal(timers(rt), 1);
	assert_int_equal(weft__time_next_deadline(weft__runtime_time(rt)), t0 + WEFT_MS(2));

	assert_int_equal(weft_time_advance(rt, WEFT_MS(1)), 0);
	assert_int_equal(cw.wakes, 0);
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
	assert_int_equal(weft_time_advance(rt, WEFT_US(499)), 0);    /* 1 us early */
	assert_int_equal(cw.wakes, 0);
	assert_int_equal(weft_time_advance(rt, WEFT_US(1)), 0);      /* deadline: rounds up */
	assert_int_equal(cw.wakes, 0);
	assert_int_equal(weft_time_advance(rt, WEFT_US(500)), 0);    /* t0 + 2 ms */
	assert_int_equal(cw.wakes, 1);
	assert_int_equal(timers(rt), 0);
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
	assert_int_equal(s.result, 0);
	assert_true(weft_now(rt) >= s.deadline);
	weft_sleep_drop(&s);

	/* From an unaligned start: 0.3 ms + 1 ms fires at 2 ms. */
	assert_int_equal(weft_time_advance(rt, WEFT_US(300)), 0);
	t0 = weft_now(rt) - WEFT_US(300);
	weft_sleep_init(&s, WEFT_MS(1));
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
	assert_int_equal(weft_time_advance(rt, WEFT_US(1699)), 0);
	assert_int_equal(cw.wakes, 1);
	assert_int_equal(weft_time_advance(rt, WEFT_US(1)), 0);
	assert_int_equal(cw.wakes, 2);
	assert_int_equal(weft_now(rt), t0 + WEFT_MS(2));
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
	weft_sleep_drop(&s);

	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
	weft_runtime_close(rt);
}

static void a_sleep_until_a_past_deadline_is_ready_without_registering(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = rt;
	weft_sleep s;
	weft_sleep_until_init(&s, 0);
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
	assert_int_equal(s.result, 0);
	weft_sleep_until_init(&s, weft_now(rt));
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
	assert_int_equal(cw.clones, 0);
	assert_int_equal(timers(rt), 0);
	weft_sleep_drop(&s);
	weft_waker_drop(&w);
	weft_runtime_close(rt);
}

static void dropping_a_sleep_cancels_its_timer_and_releases_its_waker(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = rt;
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(10));
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);   /* same waker: no clone */
	assert_int_equal(cw.clones, 1);
	assert_int_equal(cw.live, 2);
	weft_sleep_drop(&s);
	assert_int_equal(cw.live, 1);
	assert_int_equal(timers(rt), 0);
	assert_int_equal(weft__time_next_deadline(weft__runtime_time(rt)), UINT64_MAX);
	weft_sleep_drop(&s);
	assert_int_equal(weft_time_advance(rt, WEFT_MS(20)), 0);
	assert_int_equal(cw.wakes, 0);

	/* A new waker replaces the old one, which is released. */
	test_counting_waker cw2;
	test_counting_waker_init(&cw2);
	weft_waker w2 = test_counting_waker_get(&cw2);
	weft_sleep_init(&s, WEFT_MS(10));
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
	cx.waker = &w2;
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
	assert_int_equal(cw.live, 1);
	assert_int_equal(weft_time_advance(rt, WEFT_MS(10)), 0);
	assert_int_equal(cw.wakes, 0);
	assert_int_equal(cw2.wakes, 1);
	weft_sleep_drop(&s);
	weft_waker_drop(&w);
	weft_waker_drop(&w2);
	assert_int_equal(cw.live, 0);
	assert_int_equal(cw2.live, 0);
	weft_runtime_close(rt);
}

static void each_poll_takes_budget_and_waiting_gives_it_back(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = rt;
	cx.budget = 1;
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(1));
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
	assert_int_equal(cx.budget, 1);
	assert_int_equal(cx.budget_used, 0);
	assert_int_equal(weft_time_advance(rt, WEFT_MS(1)), 0);
	cx.budget = 0;                         /* spent: PENDING, task woken */
	long wakes = cw.wakes;
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_PENDING);
	assert_int_equal(cw.wakes_by_ref, 1);
	assert_int_equal(cw.wakes, wakes + 1);
	cx.budget = 1;
	assert_int_equal(weft_sleep_poll(&s, &cx), WEFT_READY);
	assert_int_equal(cx.budget, 0);
	assert_int_equal(cx.budget_used, 1);
	weft_sleep_drop(&s);
	weft_waker_drop(&w);
	weft_runtime_close(rt);
}

/* Tasks that sleep and then log their id and the time they woke. */
enum { LOG_MAX = 64 };
static int order_log[LOG_MAX];
static weft_instant order_now[LOG_MAX];
static size_t order_len;

typedef struct sleeper {
	weft_future fut;
	weft_coro co;
	weft_sleep s;
	uint64_t duration;
	int id;
	bool *fired;     /* optional */
} sleeper;

static weft_poll sleeper_poll(weft_future *f, weft_cx *cx)
{
	sleeper *t = (sleeper *)f;
	WEFT_BEGIN(&t->co);
	weft_sleep_init(&t->s, t->duration);
	WEFT_AWAIT(&t->co, weft_sleep_poll(&t->s, cx));
	if (order_len < LOG_MAX) {
		order_log[order_len] = t->id;
		order_now[order_len++] = weft_now(weft_cx_runtime(cx));
	}
	if (t->fired)
		*t->fired = true;
	WEFT_END(&t->co);
}

static void sleeper_drop(weft_future *f)
{
	weft_sleep_drop(&((sleeper *)f)->s);
}

static int spawn_sleeper(weft_runtime *rt, int id, uint64_t duration, bool *fired,
			 weft_join_handle **h)
{
	sleeper t = { .fut = WEFT_FUTURE(sleeper_poll, sleeper_drop), .duration = duration,
		      .id = id, .fired = fired };
	return weft_spawn(rt, &t.fut, sizeof t, h);
}

static void sleeps_fire_in_deadline_order_exactly_on_time(void **state)
{
	(void)state;
	static const uint64_t ms[] = { 30, 5, 17, 1, 64, 65, 4096, 2, 1000, 63, 4097, 300000, 7 };
	enum { N = sizeof ms / sizeof ms[0] };
	weft_runtime *rt = paused_runtime();
	weft_instant t0 = weft_now(rt);
	order_len = 0;
	for (int i = 0; i < N; i++)
		assert_int_equal(spawn_sleeper(rt, i, WEFT_MS(ms[i]), NULL, NULL), 0);
	weft_sleep root;
	weft_sleep_init(&root, WEFT_SEC(3600));
	uint64_t real0 = test_now_us();
	assert_int_equal(weft_block_on(rt, &root.fut), 0);
	assert_true(test_now_us() - real0 < 10u * 1000u * 1000u);   /* no real waiting */
	assert_int_equal(weft_now(rt), t0 + WEFT_SEC(3600));
	assert_int_equal(order_len, N);
	for (size_t k = 0; k < order_len; k++) {
		assert_int_equal(order_now[k], t0 + WEFT_MS(ms[order_log[k]]));
		if (k > 0)
			assert_true(ms[order_log[k - 1]] < ms[order_log[k]]);
	}
	assert_int_equal(weft_runtime_live_tasks(rt), 0);
	weft_runtime_close(rt);
}

/* A future that just sleeps, then aborts a task, then sleeps again. */
typedef struct abort_root {
	weft_future fut;
	weft_coro co;
	weft_sleep s;
	weft_join_handle *victim;
	size_t timers_after_abort;
} abort_root;

static weft_poll abort_root_poll(weft_future *f, weft_cx *cx)
{
	abort_root *r = (abort_root *)f;
	WEFT_BEGIN(&r->co);
	weft_sleep_init(&r->s, WEFT_MS(5));
	WEFT_AWAIT(&r->co, weft_sleep_poll(&r->s, cx));
	weft_sleep_drop(&r->s);
	weft_join_handle_abort(r->victim);
	weft_sleep_init(&r->s, WEFT_MS(20));
	WEFT_AWAIT(&r->co, weft_sleep_poll(&r->s, cx));
	r->timers_after_abort = timers(weft_cx_runtime(cx));
	WEFT_END(&r->co);
}

static void abort_root_drop(weft_future *f)
{
	weft_sleep_drop(&((abort_root *)f)->s);
}

static void aborting_a_sleeping_task_cancels_its_timer(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	bool fired = false;
	order_len = 0;
	abort_root r = { .fut = WEFT_FUTURE(abort_root_poll, abort_root_drop) };
	assert_int_equal(spawn_sleeper(rt, 1, WEFT_MS(10), &fired, &r.victim), 0);
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_false(fired);
	assert_int_equal(r.timers_after_abort, 0);
	int status = 1;
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	assert_int_equal(weft_join_handle_poll(r.victim, &cx, &status), WEFT_READY);
	assert_int_equal(status, -ECANCELED);
	weft_join_handle_close(r.victim);
	weft_runtime_close(rt);
}

static void a_sleep_is_a_type_erased_future_for_select(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_instant t0 = weft_now(rt);
	weft_sleep a, b;
	weft_sleep_init(&a, WEFT_MS(10));
	weft_sleep_init(&b, WEFT_MS(5));
	weft_select sel;
	weft_select2_init(&sel, &a.fut, &b.fut);
	assert_int_equal(weft_block_on(rt, &sel.fut), 0);
	assert_int_equal(sel.winner, 1);
	assert_int_equal(weft_now(rt), t0 + WEFT_MS(5));
	assert_int_equal(timers(rt), 0);      /* the loser was dropped */
	weft_runtime_close(rt);
}

static void a_million_sleeps_fire_exactly_when_due(void **state)
{
	(void)state;
	enum { N = 1000000 };
	weft_runtime *rt = paused_runtime();
	weft_sleep *s = calloc(N, sizeof *s);
	assert_non_null(s);
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = rt;
	uint64_t real0 = test_now_us();
	/* Deadlines spread over ~70 minutes, ms-aligned, so every level of
	 * the wheel holds some. */
	for (uint32_t i = 0; i < N; i++) {
		uint64_t ms = 1 + (uint64_t)((i * 2654435761u) % (1u << 22));
		weft_sleep_init(&s[i], WEFT_MS(ms));
		assert_true(weft_sleep_poll(&s[i], &cx) == WEFT_PENDING);
	}
	assert_int_equal(timers(rt), N);
	/* Cancel every fourth. */
	for (uint32_t i = 0; i < N; i += 4)
		weft_sleep_drop(&s[i]);
	static const uint64_t steps_ms[] = { 1, 63, 4000, 300000, 1u << 22 };
	uint64_t at = 0;
	for (size_t k = 0; k < sizeof steps_ms / sizeof steps_ms[0]; k++) {
		assert_int_equal(weft_time_advance(rt, WEFT_MS(steps_ms[k] - at)), 0);
		at = steps_ms[k];
		long due = 0;
		for (uint32_t i = 0; i < N; i++)
			if (i % 4 != 0 && 1 + (uint64_t)((i * 2654435761u) % (1u << 22)) <= at)
				due++;
		assert_int_equal(cw.wakes, due);
	}
	assert_int_equal(timers(rt), 0);
	for (uint32_t i = 0; i < N; i++) {
		cx.budget = WEFT_DEFAULT_BUDGET;   /* each READY spends one unit */
		if (i % 4 != 0)
			assert_true(weft_sleep_poll(&s[i], &cx) == WEFT_READY);
		weft_sleep_drop(&s[i]);
	}
	print_message("1M sleeps: register, cancel 1/4, fire: %llu us\n",
		      (unsigned long long)(test_now_us() - real0));
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
	free(s);
	weft_runtime_close(rt);
}

static void sleeps_left_pending_at_runtime_free_are_released(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	for (int i = 0; i < 1000; i++)
		assert_int_equal(spawn_sleeper(rt, i, WEFT_SEC(3600 + i), NULL, NULL), 0);
	weft_sleep direct;                       /* a sleep spawned as the task itself */
	weft_sleep_init(&direct, WEFT_SEC(7200));
	assert_int_equal(weft_spawn_detached(rt, &direct.fut, sizeof direct), 0);
	weft_sleep root;
	weft_sleep_init(&root, WEFT_MS(1));
	assert_int_equal(weft_block_on(rt, &root.fut), 0);
	assert_int_equal(timers(rt), 1001);
	weft_runtime_close(rt);                  /* ASan: nothing leaked or touched after free */
}

static void a_sleep_on_the_running_clock_waits_at_least_its_duration(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(20));
	uint64_t real0 = test_now_us();
	weft_instant t0 = weft_now(rt);
	assert_int_equal(weft_block_on(rt, &s.fut), 0);
	assert_true(test_now_us() - real0 >= 20000);
	assert_true(weft_now(rt) - t0 >= WEFT_MS(20));
	assert_true(weft_now(rt) >= s.deadline);
	weft_runtime_close(rt);
}

/* ------------------------------------------------------------ timeout */

typedef struct timeout_root {
	weft_future fut;
	weft_coro co;
	weft_timeout to;
	test_gate gate;
	uint64_t duration;
} timeout_root;

static weft_poll timeout_root_poll(weft_future *f, weft_cx *cx)
{
	timeout_root *r = (timeout_root *)f;
	WEFT_BEGIN(&r->co);
	weft_timeout_init(&r->to, &r->gate.fut, r->duration);
	WEFT_AWAIT(&r->co, weft_timeout_poll(&r->to, cx));
	WEFT_END(&r->co);
}

static void timeout_root_drop(weft_future *f)
{
	weft_timeout_drop(&((timeout_root *)f)->to);
}

/* A task that sleeps, then opens a gate. */
typedef struct opener {
	weft_future fut;
	weft_coro co;
	weft_sleep s;
	uint64_t duration;
	test_gate *gate;
} opener;

static weft_poll opener_poll(weft_future *f, weft_cx *cx)
{
	opener *o = (opener *)f;
	WEFT_BEGIN(&o->co);
	weft_sleep_init(&o->s, o->duration);
	WEFT_AWAIT(&o->co, weft_sleep_poll(&o->s, cx));
	test_gate_open(o->gate);
	WEFT_END(&o->co);
}

static void opener_drop(weft_future *f)
{
	weft_sleep_drop(&((opener *)f)->s);
}

static void a_timeout_that_expires_drops_the_inner_future_and_gives_etimedout(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_instant t0 = weft_now(rt);
	timeout_root r = { .fut = WEFT_FUTURE(timeout_root_poll, timeout_root_drop),
			   .duration = WEFT_MS(10) };
	test_gate_init(&r.gate, 0);
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.to.result, -ETIMEDOUT);
	assert_int_equal(r.gate.drops, 1);           /* dropped once, unfinished */
	assert_null(r.gate.waker.vtable);
	assert_int_equal(weft_now(rt), t0 + WEFT_MS(10));
	assert_int_equal(timers(rt), 0);
	weft_runtime_close(rt);
}

static void a_timeout_whose_inner_future_finishes_first_gives_0(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_instant t0 = weft_now(rt);
	timeout_root r = { .fut = WEFT_FUTURE(timeout_root_poll, timeout_root_drop),
			   .duration = WEFT_MS(10) };
	test_gate_init(&r.gate, 0);
	opener o = { .fut = WEFT_FUTURE(opener_poll, opener_drop), .duration = WEFT_MS(5),
		     .gate = &r.gate };
	assert_int_equal(weft_spawn_detached(rt, &o.fut, sizeof o), 0);
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.to.result, 0);
	assert_int_equal(r.gate.drops, 1);
	assert_int_equal(weft_now(rt), t0 + WEFT_MS(5));
	assert_int_equal(timers(rt), 0);            /* the timeout's timer is gone */
	weft_runtime_close(rt);
}

static void a_timeout_whose_inner_future_is_ready_at_once_wins_even_at_zero(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	timeout_root r = { .fut = WEFT_FUTURE(timeout_root_poll, timeout_root_drop),
			   .duration = 0 };
	test_gate_init(&r.gate, 0);
	r.gate.open = true;
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.to.result, 0);
	assert_int_equal(r.gate.drops, 1);
	weft_runtime_close(rt);
}

/* An inner future that spends the whole budget on every poll. */
typedef struct hog {
	weft_future fut;
	int drops;
} hog;

static weft_poll hog_poll(weft_future *f, weft_cx *cx)
{
	(void)f;
	while (weft_coop_proceed(cx))
		;
	return WEFT_PENDING;
}

static void hog_drop(weft_future *f)
{
	((hog *)f)->drops++;
}

static void a_timeout_fires_even_when_the_inner_future_spends_the_budget(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = rt;
	hog h = { .fut = WEFT_FUTURE(hog_poll, hog_drop) };
	weft_timeout t;
	weft_timeout_init(&t, &h.fut, WEFT_MS(3));
	assert_int_equal(weft_timeout_poll(&t, &cx), WEFT_PENDING);
	assert_int_equal(weft_time_advance(rt, WEFT_MS(3)), 0);
	cx.budget = WEFT_DEFAULT_BUDGET;
	cx.budget_used = 0;
	assert_int_equal(weft_timeout_poll(&t, &cx), WEFT_READY);
	assert_int_equal(t.result, -ETIMEDOUT);
	assert_int_equal(h.drops, 1);
	weft_timeout_drop(&t);
	weft_timeout_drop(&t);
	assert_int_equal(h.drops, 1);

	/* Zero-filled and NULL-inner timeouts are valid and say -EINVAL. */
	weft_timeout z;
	memset(&z, 0, sizeof z);
	weft_timeout_drop(&z);
	assert_int_equal(weft_timeout_poll(&z, &cx), WEFT_READY);
	assert_int_equal(z.result, -EINVAL);
	weft_timeout_drop(&z);
	weft_runtime_close(rt);
}

/* ----------------------------------------------------------- interval */

enum { TICKS = 7 };

typedef struct interval_root {
	weft_future fut;
	weft_coro co;
	weft_interval iv;
	weft_missed_tick policy;
	uint64_t stall;
	int n;
	weft_instant tick;
	weft_instant ticks[TICKS], nows[TICKS];
} interval_root;

static weft_poll interval_root_poll(weft_future *f, weft_cx *cx)
{
	interval_root *r = (interval_root *)f;
	weft_runtime *rt = weft_cx_runtime(cx);
	WEFT_BEGIN(&r->co);
	weft_interval_init(&r->iv, WEFT_MS(10), r->policy);
	for (r->n = 0; r->n < TICKS; r->n++) {
		if (r->n == 2)
			assert_int_equal(weft_time_advance(rt, r->stall), 0);   /* a stall */
		WEFT_AWAIT(&r->co, weft_interval_tick_poll(&r->iv, cx, &r->tick));
		assert_int_equal(r->iv.result, 0);
		r->ticks[r->n] = r->tick;
		r->nows[r->n] = weft_now(rt);
	}
	WEFT_END(&r->co);
}

static void interval_root_drop(weft_future *f)
{
	weft_interval_drop(&((interval_root *)f)->iv);
}

/* Runs an interval of 10 ms that stalls 35 ms after its second tick and
 * checks its ticks and when they were observed, in ms from the start. */
static void check_interval(weft_missed_tick policy, const uint64_t *ticks, const uint64_t *nows)
{
	weft_runtime *rt = paused_runtime();
	weft_instant t0 = weft_now(rt);
	interval_root r = { .fut = WEFT_FUTURE(interval_root_poll, interval_root_drop),
			    .policy = policy, .stall = WEFT_MS(35) };
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	for (int i = 0; i < TICKS; i++) {
		assert_int_equal(r.ticks[i], t0 + WEFT_MS(ticks[i]));
		assert_int_equal(r.nows[i], t0 + WEFT_MS(nows[i]));
	}
	assert_int_equal(timers(rt), 0);
	weft_runtime_close(rt);
}

static void an_interval_with_burst_fires_missed_ticks_at_once(void **state)
{
	(void)state;
	static const uint64_t ticks[TICKS] = { 0, 10, 20, 30, 40, 50, 60 };
	static const uint64_t nows[TICKS]  = { 0, 10, 45, 45, 45, 50, 60 };
	check_interval(WEFT_MISSED_TICK_BURST, ticks, nows);
}

static void an_interval_with_delay_restarts_its_schedule_from_the_late_tick(void **state)
{
	(void)state;
	static const uint64_t ticks[TICKS] = { 0, 10, 20, 55, 65, 75, 85 };
	static const uint64_t nows[TICKS]  = { 0, 10, 45, 55, 65, 75, 85 };
	check_interval(WEFT_MISSED_TICK_DELAY, ticks, nows);
}

static void an_interval_with_skip_drops_missed_ticks_and_keeps_its_schedule(void **state)
{
	(void)state;
	static const uint64_t ticks[TICKS] = { 0, 10, 20, 50, 60, 70, 80 };
	static const uint64_t nows[TICKS]  = { 0, 10, 45, 50, 60, 70, 80 };
	check_interval(WEFT_MISSED_TICK_SKIP, ticks, nows);
}

static void an_interval_rejects_a_zero_period_and_a_bad_policy(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = rt;
	weft_interval iv;
	memset(&iv, 0, sizeof iv);                 /* zero-filled: period 0 */
	weft_instant tick;
	assert_int_equal(weft_interval_tick_poll(&iv, &cx, &tick), WEFT_READY);
	assert_int_equal(iv.result, -EINVAL);
	weft_interval_drop(&iv);
	weft_interval_drop(&iv);
	weft_interval_init(&iv, WEFT_MS(1), (weft_missed_tick)7);
	assert_int_equal(weft_interval_tick_poll(&iv, &cx, &tick), WEFT_READY);
	assert_int_equal(iv.result, -EINVAL);
	weft_interval_drop(&iv);

	/* interval_at: the first tick waits for its start. */
	weft_instant t0 = weft_now(rt);
	weft_interval_at_init(&iv, t0 + WEFT_MS(3), WEFT_MS(2), WEFT_MISSED_TICK_BURST);
	assert_int_equal(weft_interval_tick_poll(&iv, &cx, &tick), WEFT_PENDING);
	assert_int_equal(weft_time_advance(rt, WEFT_MS(3)), 0);
	assert_int_equal(weft_interval_tick_poll(&iv, &cx, &tick), WEFT_READY);
	assert_int_equal(tick, t0 + WEFT_MS(3));
	assert_int_equal(weft_interval_tick_poll(&iv, &cx, &tick), WEFT_PENDING);
	weft_interval_drop(&iv);
	assert_int_equal(timers(rt), 0);
	weft_runtime_close(rt);
}

/* ------------------------------------------------------- other threads */

/* A future woken by another thread: a flag and a waker under a mutex. */
typedef struct remote_flag {
	weft_future fut;
	pthread_mutex_t lock;
	weft_waker waker;
	bool set;
} remote_flag;

static weft_poll remote_flag_poll(weft_future *f, weft_cx *cx)
{
	remote_flag *r = (remote_flag *)f;
	pthread_mutex_lock(&r->lock);
	bool set = r->set;
	if (!set)
		weft_waker_store(&r->waker, cx->waker);
	pthread_mutex_unlock(&r->lock);
	return set ? WEFT_READY : WEFT_PENDING;
}

static void remote_flag_drop(weft_future *f)
{
	remote_flag *r = (remote_flag *)f;
	pthread_mutex_lock(&r->lock);
	weft_waker_drop(&r->waker);
	pthread_mutex_unlock(&r->lock);
}

static void remote_flag_set(remote_flag *r)
{
	pthread_mutex_lock(&r->lock);
	r->set = true;
	weft_waker w = r->waker;
	r->waker = (weft_waker){ 0 };
	pthread_mutex_unlock(&r->lock);
	weft_waker_wake(&w);
}

typedef struct helper_arg {
	weft_runtime *rt;
	remote_flag *flag;
	bool fired_in_time;
	uint64_t waited_us;
	long churn_live;
	int lost;
} helper_arg;

static void *helper_main(void *p)
{
	helper_arg *a = p;
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	cx.runtime = a->rt;

	/* Give the runtime thread time to park with no deadline at all:
	 * only an unpark from this registration can make it fire. */
	usleep(20000);
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(20));
	uint64_t t0 = test_now_us();
	if (weft_sleep_poll(&s, &cx) == WEFT_PENDING) {
		while (test_counting_waker_load(&cw.wakes) == 0 && test_now_us() - t0 < 5000000)
			usleep(500);
	}
	a->waited_us = test_now_us() - t0;
	a->fired_in_time = weft_sleep_poll(&s, &cx) == WEFT_READY;
	weft_sleep_drop(&s);

	/* Churn: register and cancel short timers while the driver fires. */
	for (int i = 0; i < 20000; i++) {
		weft_sleep_init(&s, WEFT_US((uint64_t)(i % 3) * 300));
		weft_sleep_poll(&s, &cx);
		cx.budget = WEFT_DEFAULT_BUDGET;
		if (i % 7 == 0)
			usleep(50);
		weft_sleep_drop(&s);
	}

	/* The lock-free path of an idle driver (no timer at all): each
	 * registration alone, at varied moments of the driver's park, must
	 * wake it. */
	for (int i = 0; i < 200; i++) {
		long before = test_counting_waker_load(&cw.wakes);
		usleep((useconds_t)(i % 5) * 150);
		weft_sleep_init(&s, WEFT_US(500));
		cx.budget = WEFT_DEFAULT_BUDGET;
		if (weft_sleep_poll(&s, &cx) == WEFT_PENDING) {
			t0 = test_now_us();
			while (test_counting_waker_load(&cw.wakes) == before &&
			       test_now_us() - t0 < 2000000)
				usleep(100);
			if (test_counting_waker_load(&cw.wakes) == before)
				a->lost++;
		}
		weft_sleep_drop(&s);
	}
	weft_waker_drop(&w);
	a->churn_live = test_counting_waker_load(&cw.live);
	remote_flag_set(a->flag);
	return NULL;
}

static void timers_registered_from_another_thread_wake_the_parked_driver(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	remote_flag flag = { .fut = WEFT_FUTURE(remote_flag_poll, remote_flag_drop) };
	pthread_mutex_init(&flag.lock, NULL);
	helper_arg a = { .rt = rt, .flag = &flag };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, helper_main, &a), 0);
	assert_int_equal(weft_block_on(rt, &flag.fut), 0);
	pthread_join(th, NULL);
	assert_true(a.fired_in_time);
	assert_true(a.waited_us >= 19000);
	assert_int_equal(a.churn_live, 0);
	assert_int_equal(a.lost, 0);
	assert_int_equal(timers(rt), 0);
	pthread_mutex_destroy(&flag.lock);
	weft_runtime_close(rt);
}

/* Multi-thread flavour: tasks on worker threads sleep; the last to wake
 * sets a flag that block_on waits for. */
typedef struct mt_shared {
	remote_flag flag;
	_Atomic int done;
	_Atomic int early;
	int n;
} mt_shared;

typedef struct mt_sleeper {
	weft_future fut;
	weft_coro co;
	weft_sleep s;
	uint64_t duration;
	mt_shared *sh;
} mt_sleeper;

static weft_poll mt_sleeper_poll(weft_future *f, weft_cx *cx)
{
	mt_sleeper *t = (mt_sleeper *)f;
	WEFT_BEGIN(&t->co);
	weft_sleep_init(&t->s, t->duration);
	WEFT_AWAIT(&t->co, weft_sleep_poll(&t->s, cx));
	if (weft_now(weft_cx_runtime(cx)) < t->s.deadline || t->s.result != 0)
		atomic_fetch_add(&t->sh->early, 1);
	if (atomic_fetch_add(&t->sh->done, 1) + 1 == t->sh->n)
		remote_flag_set(&t->sh->flag);
	WEFT_END(&t->co);
}

static void mt_sleeper_drop(weft_future *f)
{
	weft_sleep_drop(&((mt_sleeper *)f)->s);
}

static void run_mt_sleepers(bool paused, uint64_t max_ns)
{
	enum { N = 200 };
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 2), 0);
	if (paused)
		assert_int_equal(weft_time_pause(rt), 0);
	mt_shared sh = { .flag = { .fut = WEFT_FUTURE(remote_flag_poll, remote_flag_drop) },
			 .n = N };
	pthread_mutex_init(&sh.flag.lock, NULL);
	uint64_t seed = 12345;
	for (int i = 0; i < N; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		mt_sleeper t = { .fut = WEFT_FUTURE(mt_sleeper_poll, mt_sleeper_drop),
				 .duration = (seed >> 33) % max_ns, .sh = &sh };
		assert_int_equal(weft_spawn_detached(rt, &t.fut, sizeof t), 0);
	}
	assert_int_equal(weft_block_on(rt, &sh.flag.fut), 0);
	assert_int_equal(atomic_load(&sh.done), N);
	assert_int_equal(atomic_load(&sh.early), 0);
	weft_runtime_close(rt);
	pthread_mutex_destroy(&sh.flag.lock);
}

static void sleeps_on_a_multi_thread_runtime_fire_and_never_early(void **state)
{
	(void)state;
	run_mt_sleepers(false, WEFT_MS(30));
}

static void a_paused_multi_thread_runtime_auto_advances_and_never_fires_early(void **state)
{
	(void)state;
	uint64_t real0 = test_now_us();
	run_mt_sleepers(true, WEFT_SEC(86400));
	assert_true(test_now_us() - real0 < 20u * 1000u * 1000u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sleep_init_does_nothing_and_a_zero_filled_sleep_is_valid),
		cmocka_unit_test(a_sleep_without_runtime_completes_with_einval),
		cmocka_unit_test(a_sleep_fires_on_the_next_millisecond_at_or_after_its_deadline),
		cmocka_unit_test(a_sleep_until_a_past_deadline_is_ready_without_registering),
		cmocka_unit_test(dropping_a_sleep_cancels_its_timer_and_releases_its_waker),
		cmocka_unit_test(each_poll_takes_budget_and_waiting_gives_it_back),
		cmocka_unit_test(sleeps_fire_in_deadline_order_exactly_on_time),
		cmocka_unit_test(aborting_a_sleeping_task_cancels_its_timer),
		cmocka_unit_test(a_sleep_is_a_type_erased_future_for_select),
		cmocka_unit_test(a_million_sleeps_fire_exactly_when_due),
		cmocka_unit_test(sleeps_left_pending_at_runtime_free_are_released),
		cmocka_unit_test(a_sleep_on_the_running_clock_waits_at_least_its_duration),
		cmocka_unit_test(a_timeout_that_expires_drops_the_inner_future_and_gives_etimedout),
		cmocka_unit_test(a_timeout_whose_inner_future_finishes_first_gives_0),
		cmocka_unit_test(a_timeout_whose_inner_future_is_ready_at_once_wins_even_at_zero),
		cmocka_unit_test(a_timeout_fires_even_when_the_inner_future_spends_the_budget),
		cmocka_unit_test(an_interval_with_burst_fires_missed_ticks_at_once),
		cmocka_unit_test(an_interval_with_delay_restarts_its_schedule_from_the_late_tick),
		cmocka_unit_test(an_interval_with_skip_drops_missed_ticks_and_keeps_its_schedule),
		cmocka_unit_test(an_interval_rejects_a_zero_period_and_a_bad_policy),
		cmocka_unit_test(timers_registered_from_another_thread_wake_the_parked_driver),
		cmocka_unit_test(sleeps_on_a_multi_thread_runtime_fire_and_never_early),
		cmocka_unit_test(a_paused_multi_thread_runtime_auto_advances_and_never_fires_early),
	};
	return cmocka_run_group_tests_name("time", tests, NULL, NULL);
}
