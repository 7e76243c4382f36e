/*
 * test_clock.c - the runtime's clock: monotonic from zero, paused,
 * advanced by hand, resumed without going back, and auto-advanced to the
 * next deadline only when the runtime is idle.
 */
#include "helpers.h"

#include <errno.h>
#include <time.h>

#include "sched_runtime.h"

/* A runtime with @workers workers (1: the current-thread flavour, whose
 * paused clock is exact: it auto-advances only when nothing can run). */
static int new_runtime(weft_runtime **rt, uint32_t workers)
{
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = workers };
	return weft_runtime_new(rt, &cfg);
}

/* Real time passing, which these tests observe on the unpaused clock (or
 * check a paused one ignores): not synchronisation with another thread. */
static void sleep_real_us(long us)
{
	struct timespec ts = { .tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000 };
	nanosleep(&ts, NULL);
}

static void the_clock_starts_near_zero_and_never_goes_back(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	weft_instant a = weft_now(rt);
	assert_true(a < WEFT_SEC(1));
	sleep_real_us(2000);
	weft_instant b = weft_now(rt);
	assert_true(b >= a + WEFT_MS(2));
	for (int i = 0; i < 1000; i++) {
		weft_instant c = weft_now(rt);
		assert_true(c >= b);
		b = c;
	}
	assert_false(weft__time_is_paused(weft__runtime_time(rt)));
	weft_runtime_close(rt);
}

static void a_paused_clock_stands_still_and_advances_exactly(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	assert_int_equal(weft_time_pause(rt), 0);
	assert_true(weft__time_is_paused(weft__runtime_time(rt)));
	weft_instant a = weft_now(rt);
	sleep_real_us(3000);
	assert_int_equal(weft_now(rt), a);
	assert_int_equal(weft_time_advance(rt, WEFT_MS(5)), 0);
	assert_int_equal(weft_now(rt), a + WEFT_MS(5));
	assert_int_equal(weft_time_advance(rt, 1), 0);
	assert_int_equal(weft_now(rt), a + WEFT_MS(5) + 1);
	assert_int_equal(weft_time_advance(rt, 0), 0);
	assert_int_equal(weft_now(rt), a + WEFT_MS(5) + 1);
	weft_runtime_close(rt);
}

static void resuming_continues_from_the_paused_time(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	assert_int_equal(weft_time_pause(rt), 0);
	weft_instant a = weft_now(rt);
	assert_int_equal(weft_time_advance(rt, WEFT_SEC(3600)), 0);
	assert_int_equal(weft_time_resume(rt), 0);
	weft_instant b = weft_now(rt);
	assert_true(b >= a + WEFT_SEC(3600));
	assert_true(b < a + WEFT_SEC(3601));
	sleep_real_us(2000);
	assert_true(weft_now(rt) >= b + WEFT_MS(2));

	/* Paused again, a real pause in between does not count. */
	assert_int_equal(weft_time_pause(rt), 0);
	weft_instant c = weft_now(rt);
	sleep_real_us(5000);
	assert_int_equal(weft_time_resume(rt), 0);
	assert_true(weft_now(rt) >= c);
	assert_true(weft_now(rt) < c + WEFT_MS(5));
	weft_runtime_close(rt);
}

static void clock_control_reports_misuse(void **state)
{
	(void)state;
	assert_int_equal(weft_time_pause(NULL), -EINVAL);
	assert_int_equal(weft_time_resume(NULL), -EINVAL);
	assert_int_equal(weft_time_advance(NULL, 1), -EINVAL);
	assert_int_equal(weft_now(NULL), 0);
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	assert_int_equal(weft_time_advance(rt, 1), -EINVAL);     /* running */
	assert_int_equal(weft_time_resume(rt), -EALREADY);
	assert_int_equal(weft_time_pause(rt), 0);
	assert_int_equal(weft_time_pause(rt), -EALREADY);
	/* Advancing saturates instead of wrapping. */
	assert_int_equal(weft_time_advance(rt, UINT64_MAX), 0);
	assert_int_equal(weft_now(rt), UINT64_C(1) << 63);
	assert_int_equal(weft_time_advance(rt, UINT64_MAX), 0);
	assert_int_equal(weft_now(rt), UINT64_C(1) << 63);
	assert_int_equal(weft_time_resume(rt), 0);
	assert_true(weft_now(rt) >= UINT64_C(1) << 63);
	assert_true(weft_now(rt) < (UINT64_C(1) << 63) + WEFT_SEC(1));
	weft_runtime_close(rt);
}

/* Sleeps a long time twice and records the clock after each. */
typedef struct long_sleeper {
	weft_future fut;
	weft_coro co;
	weft_sleep s;
	weft_instant woke[2];
} long_sleeper;

static weft_poll long_sleeper_poll(weft_future *f, weft_cx *cx)
{
	long_sleeper *t = (long_sleeper *)f;
	WEFT_BEGIN(&t->co);
	weft_sleep_init(&t->s, WEFT_SEC(3600));
	WEFT_AWAIT(&t->co, weft_sleep_poll(&t->s, cx));
	t->woke[0] = weft_now(weft_cx_runtime(cx));
	weft_sleep_init(&t->s, WEFT_SEC(86400) + WEFT_US(1));
	WEFT_AWAIT(&t->co, weft_sleep_poll(&t->s, cx));
	t->woke[1] = weft_now(weft_cx_runtime(cx));
	WEFT_END(&t->co);
}

static void long_sleeper_drop(weft_future *f)
{
	weft_sleep_drop(&((long_sleeper *)f)->s);
}

static void an_idle_runtime_auto_advances_to_the_next_deadline(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	assert_int_equal(weft_time_pause(rt), 0);
	weft_instant t0 = weft_now(rt);
	long_sleeper t = { .fut = WEFT_FUTURE(long_sleeper_poll, long_sleeper_drop) };
	uint64_t real0 = test_now_us();
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	assert_true(test_now_us() - real0 < 5u * 1000u * 1000u);
	/* Each wake is the deadline rounded up to the millisecond. */
	weft_instant d0 = t0 + WEFT_SEC(3600);
	weft_instant r0 = (d0 + WEFT_MS(1) - 1) / WEFT_MS(1) * WEFT_MS(1);
	assert_int_equal(t.woke[0], r0);
	weft_instant d1 = r0 + WEFT_SEC(86400) + WEFT_US(1);
	assert_int_equal(t.woke[1], (d1 + WEFT_MS(1) - 1) / WEFT_MS(1) * WEFT_MS(1));
	weft_runtime_close(rt);
}

/* Yields many times while a sleep is pending in another task: the clock
 * must not move while there is work to run. */
typedef struct busy_root {
	weft_future fut;
	weft_coro co;
	int i;
	weft_instant start;
	bool moved;
	bool *fired;
	weft_sleep s;
} busy_root;

typedef struct short_sleeper {
	weft_future fut;
	weft_coro co;
	weft_sleep s;
	bool *fired;
} short_sleeper;

static weft_poll short_sleeper_poll(weft_future *f, weft_cx *cx)
{
	short_sleeper *t = (short_sleeper *)f;
	WEFT_BEGIN(&t->co);
	weft_sleep_init(&t->s, WEFT_MS(1));
	WEFT_AWAIT(&t->co, weft_sleep_poll(&t->s, cx));
	*t->fired = true;
	WEFT_END(&t->co);
}

static void short_sleeper_drop(weft_future *f)
{
	weft_sleep_drop(&((short_sleeper *)f)->s);
}

static weft_poll busy_root_poll(weft_future *f, weft_cx *cx)
{
	busy_root *r = (busy_root *)f;
	weft_runtime *rt = weft_cx_runtime(cx);
	WEFT_BEGIN(&r->co);
	r->start = weft_now(rt);
	for (r->i = 0; r->i < 1000; r->i++) {
		WEFT_YIELD(&r->co, cx);
		if (weft_now(rt) != r->start || *r->fired)
			r->moved = true;
	}
	weft_sleep_init(&r->s, WEFT_MS(2));
	WEFT_AWAIT(&r->co, weft_sleep_poll(&r->s, cx));
	WEFT_END(&r->co);
}

static void busy_root_drop(weft_future *f)
{
	weft_sleep_drop(&((busy_root *)f)->s);
}

static void the_paused_clock_does_not_move_while_tasks_are_runnable(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	assert_int_equal(weft_time_pause(rt), 0);
	bool fired = false;
	short_sleeper ss = { .fut = WEFT_FUTURE(short_sleeper_poll, short_sleeper_drop),
			     .fired = &fired };
	assert_int_equal(weft_spawn_detached(rt, &ss.fut, sizeof ss), 0);
	busy_root r = { .fut = WEFT_FUTURE(busy_root_poll, busy_root_drop), .fired = &fired };
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_false(r.moved);
	assert_true(fired);
	assert_true(weft_now(rt) >= r.start + WEFT_MS(2));
	weft_runtime_close(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_clock_starts_near_zero_and_never_goes_back),
		cmocka_unit_test(a_paused_clock_stands_still_and_advances_exactly),
		cmocka_unit_test(resuming_continues_from_the_paused_time),
		cmocka_unit_test(clock_control_reports_misuse),
		cmocka_unit_test(an_idle_runtime_auto_advances_to_the_next_deadline),
		cmocka_unit_test(the_paused_clock_does_not_move_while_tasks_are_runnable),
	};
	return cmocka_run_group_tests_name("clock", tests, NULL, NULL);
}
