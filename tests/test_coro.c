/* test_coro.c - the coroutine macros: await, try (`?`), return, yield, end. */
#include "helpers.h"

#include <errno.h>

/* A leaf that is ready on its @ready_at-th poll with a result. */
typedef struct countdown {
	weft_future fut;
	int left;
	int result;
	int polls;
} countdown;

static weft_poll countdown_poll(weft_future *f, weft_cx *cx)
{
	countdown *c = (countdown *)f;
	c->polls++;
	if (--c->left <= 0)
		return WEFT_READY;
	weft_waker_wake_by_ref(cx->waker);
	return WEFT_PENDING;
}

static countdown countdown_make(int polls, int result)
{
	return (countdown){ .fut = WEFT_FUTURE(countdown_poll, NULL), .left = polls,
			    .result = result };
}

typedef struct seq_fn {
	weft_future fut;
	weft_coro co;
	countdown a, b, c;
	int steps;
	int drops;
} seq_fn;

static weft_poll seq_poll(weft_future *f, weft_cx *cx)
{
	seq_fn *s = (seq_fn *)f;
	WEFT_BEGIN(&s->co);
	s->a = countdown_make(2, 5);
	WEFT_TRY(&s->co, countdown_poll(&s->a.fut, cx), s->a.result);
	s->steps++;
	s->b = countdown_make(3, -ECONNRESET);
	WEFT_TRY(&s->co, countdown_poll(&s->b.fut, cx), s->b.result);
	s->steps++;   /* not reached: b failed */
	s->c = countdown_make(1, 0);
	WEFT_AWAIT(&s->co, countdown_poll(&s->c.fut, cx));
	WEFT_RETURN(&s->co, 99);
	WEFT_END(&s->co);
}

static void seq_drop(weft_future *f)
{
	((seq_fn *)f)->drops++;
}

static void try_propagates_the_first_error_and_skips_the_rest(void **state)
{
	(void)state;
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	seq_fn s = { .fut = WEFT_FUTURE(seq_poll, seq_drop) };
	int polls = test_poll_n(&s.fut, &cx, 100);
	assert_int_equal(polls, 4);   /* a: 2 polls, b: 3; b starts in a's last */
	assert_int_equal(s.co.result, -ECONNRESET);
	assert_int_equal(s.steps, 1);
	assert_int_equal(s.c.polls, 0);
	/* A finished coroutine stays finished. */
	assert_int_equal(s.fut.poll(&s.fut, &cx), WEFT_READY);
	assert_int_equal(s.a.polls, 2);
	weft_future_drop(&s.fut);
	assert_int_equal(s.drops, 1);
}

typedef struct ret_fn {
	weft_future fut;
	weft_coro co;
	countdown a;
	int i;
	int seen[8];
} ret_fn;

/* Awaits inside a loop and inside the user's own switch. */
static weft_poll loop_switch_poll(weft_future *f, weft_cx *cx)
{
	ret_fn *s = (ret_fn *)f;
	WEFT_BEGIN(&s->co);
	for (s->i = 0; s->i < 6; s->i++) {
		switch (s->i % 3) {
		case 0:
			s->a = countdown_make(2, 0);
			WEFT_AWAIT(&s->co, countdown_poll(&s->a.fut, cx));
			s->seen[s->i] = 10;
			break;
		case 1:
			WEFT_YIELD(&s->co, cx);
			s->seen[s->i] = 20;
			break;
		default:
			s->seen[s->i] = 30;
			if (s->i == 5)
				WEFT_RETURN(&s->co, 7);
			break;
		}
	}
	WEFT_RETURN(&s->co, -1);   /* not reached */
	WEFT_END(&s->co);
}

static void awaits_inside_loops_and_a_user_switch_resume_in_place(void **state)
{
	(void)state;
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	ret_fn s = { .fut = WEFT_FUTURE(loop_switch_poll, NULL) };
	int polls = test_poll_n(&s.fut, &cx, 100);
	/* i=0: 2 polls, i=1: yield (1 extra), i=3: 2 polls (1 extra),
	 * i=4: yield (1 extra), i=5 returns. */
	assert_int_equal(polls, 5);
	assert_int_equal(s.co.result, 7);
	int want[6] = { 10, 20, 30, 10, 20, 30 };
	for (int i = 0; i < 6; i++)
		assert_int_equal(s.seen[i], want[i]);
	assert_int_equal(cw.wakes_by_ref, 4);  /* two yields + two countdown waits */
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
}

typedef struct plain_fn {
	weft_future fut;
	weft_coro co;
	int ran;
} plain_fn;

static weft_poll plain_poll(weft_future *f, weft_cx *cx)
{
	plain_fn *s = (plain_fn *)f;
	(void)cx;
	WEFT_BEGIN(&s->co);
	s->ran++;
	WEFT_END(&s->co);
}

static void a_coroutine_without_awaits_finishes_with_result_zero(void **state)
{
	(void)state;
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	plain_fn s = { .fut = WEFT_FUTURE(plain_poll, NULL), .co.result = 0 };
	assert_int_equal(test_poll_n(&s.fut, &cx, 3), 1);
	assert_int_equal(test_poll_n(&s.fut, &cx, 3), 1);
	assert_int_equal(s.ran, 1);
	assert_int_equal(s.co.result, 0);
}

static void an_unpolled_coroutine_can_be_moved(void **state)
{
	(void)state;
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	seq_fn a = { .fut = WEFT_FUTURE(seq_poll, seq_drop) };
	seq_fn b;
	memcpy(&b, &a, sizeof a);
	memset(&a, 0xa5, sizeof a);
	assert_int_equal(test_poll_n(&b.fut, &cx, 100), 4);
	assert_int_equal(b.co.result, -ECONNRESET);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(try_propagates_the_first_error_and_skips_the_rest),
		cmocka_unit_test(awaits_inside_loops_and_a_user_switch_resume_in_place),
		cmocka_unit_test(a_coroutine_without_awaits_finishes_with_result_zero),
		cmocka_unit_test(an_unpolled_coroutine_can_be_moved),
	};
	return cmocka_run_group_tests_name("coro", tests, NULL, NULL);
}
