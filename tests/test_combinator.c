/* test_combinator.c - join, select and try_join: completion, order, and
 * cancellation (drop exactly once) of the losers. */
#include "helpers.h"

#include <errno.h>

static weft_cx noop_cx(weft_waker *w)
{
	*w = weft_noop_waker();
	return weft_cx_from_waker(w);
}

static void join_completes_when_every_child_is_ready(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	test_gate a, b, c;
	test_gate_init(&a, 1);
	test_gate_init(&b, 2);
	test_gate_init(&c, 3);
	weft_future *kids[] = { &a.fut, &b.fut, &c.fut };
	weft_join j;
	weft_join_init(&j, kids, 3);
	assert_int_equal(weft_join_poll(&j, &cx), WEFT_PENDING);
	test_gate_open(&b);
	assert_int_equal(weft_join_poll(&j, &cx), WEFT_PENDING);
	assert_int_equal(b.drops, 1);      /* dropped as soon as it finished */
	test_gate_open(&a);
	test_gate_open(&c);
	assert_int_equal(weft_join_poll(&j, &cx), WEFT_READY);
	assert_int_equal(b.polls, 2);      /* never polled after finishing */
	weft_join_drop(&j);
	assert_int_equal(a.drops, 1);
	assert_int_equal(b.drops, 1);
	assert_int_equal(c.drops, 1);
}

static void dropping_a_pending_join_cancels_every_unfinished_child_once(void **state)
{
	(void)state;
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	test_gate a, b;
	test_gate_init(&a, 0);
	test_gate_init(&b, 0);
	weft_join j;
	weft_join2_init(&j, &a.fut, &b.fut);
	assert_int_equal(weft_future_poll(&j.fut, &cx), WEFT_PENDING);
	assert_int_equal(cw.live, 3);       /* ours + one clone per gate */
	weft_future_drop(&j.fut);
	weft_future_drop(&j.fut);           /* idempotent */
	assert_int_equal(a.drops, 1);
	assert_int_equal(b.drops, 1);
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
}

static void select_takes_the_first_ready_and_cancels_the_others(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	test_gate g[4];
	weft_future *kids[4];
	for (int i = 0; i < 4; i++) {
		test_gate_init(&g[i], i);
		kids[i] = &g[i].fut;
	}
	weft_select s;
	weft_select_init(&s, kids, 4);
	assert_int_equal(weft_select_poll(&s, &cx), WEFT_PENDING);
	assert_int_equal(s.winner, -1);
	test_gate_open(&g[2]);
	assert_int_equal(weft_select_poll(&s, &cx), WEFT_READY);
	assert_int_equal(s.winner, 2);
	for (int i = 0; i < 4; i++)
		assert_int_equal(g[i].drops, 1);   /* losers cancelled at once */
	assert_int_equal(g[3].polls, 1);           /* not polled after the winner */
	weft_select_drop(&s);
	for (int i = 0; i < 4; i++)
		assert_int_equal(g[i].drops, 1);
}

static void select_prefers_the_earlier_child_on_a_tie(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	test_gate a, b;
	test_gate_init(&a, 0);
	test_gate_init(&b, 0);
	a.open = b.open = true;
	weft_select s;
	weft_select2_init(&s, &a.fut, &b.fut);
	assert_int_equal(weft_future_poll(&s.fut, &cx), WEFT_READY);
	assert_int_equal(s.winner, 0);
	assert_int_equal(b.polls, 0);
	assert_int_equal(b.drops, 1);
}

static void dropping_a_pending_select_cancels_all(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	test_gate a, b;
	test_gate_init(&a, 0);
	test_gate_init(&b, 0);
	weft_select s;
	weft_select2_init(&s, &a.fut, &b.fut);
	assert_int_equal(weft_future_poll(&s.fut, &cx), WEFT_PENDING);
	weft_future_drop(&s.fut);
	assert_int_equal(a.drops, 1);
	assert_int_equal(b.drops, 1);
}

static void try_join_succeeds_when_all_succeed(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	test_gate a, b;
	test_gate_init(&a, 0);
	test_gate_init(&b, 4);
	weft_try_join tj;
	weft_try_join2_init(&tj, &a.fut, &a.result, &b.fut, &b.result);
	assert_int_equal(weft_future_poll(&tj.fut, &cx), WEFT_PENDING);
	test_gate_open(&a);
	test_gate_open(&b);
	assert_int_equal(weft_future_poll(&tj.fut, &cx), WEFT_READY);
	assert_int_equal(tj.result, 0);
	weft_future_drop(&tj.fut);
	assert_int_equal(a.drops + b.drops, 2);
}

static void try_join_first_error_cancels_the_rest(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	test_gate g[3];
	weft_future *kids[3];
	int *results[3];
	for (int i = 0; i < 3; i++) {
		test_gate_init(&g[i], 0);
		kids[i] = &g[i].fut;
		results[i] = &g[i].result;
	}
	g[1].result = -EIO;
	weft_try_join tj;
	weft_try_join_init(&tj, kids, results, 3);
	assert_int_equal(weft_try_join_poll(&tj, &cx), WEFT_PENDING);
	test_gate_open(&g[1]);
	assert_int_equal(weft_try_join_poll(&tj, &cx), WEFT_READY);
	assert_int_equal(tj.result, -EIO);
	for (int i = 0; i < 3; i++)
		assert_int_equal(g[i].drops, 1);
	assert_int_equal(g[2].polls, 1);    /* not polled after the error */
	weft_try_join_drop(&tj);
	for (int i = 0; i < 3; i++)
		assert_int_equal(g[i].drops, 1);
}

static void bad_child_counts_are_refused_without_polling(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	weft_join j;
	weft_join_init(&j, NULL, 3);
	assert_int_equal(weft_join_poll(&j, &cx), WEFT_READY);
	assert_int_equal(j.result, -EINVAL);
	weft_future *kids[1] = { NULL };
	weft_join_init(&j, kids, WEFT_COMBINATOR_MAX + 1);
	assert_int_equal(j.result, -EINVAL);
	weft_select s;
	weft_select_init(&s, kids, 0);
	assert_int_equal(weft_select_poll(&s, &cx), WEFT_READY);
	assert_int_equal(s.winner, -1);
	weft_try_join tj;
	weft_try_join2_init(&tj, NULL, NULL, NULL, NULL);
	assert_int_equal(weft_try_join_poll(&tj, &cx), WEFT_READY);
	assert_int_equal(tj.result, -EINVAL);
}

static void join_of_sixty_four_children_tracks_every_one(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	test_gate g[64];
	weft_future *kids[64];
	for (int i = 0; i < 64; i++) {
		test_gate_init(&g[i], 0);
		kids[i] = &g[i].fut;
	}
	weft_join j;
	weft_join_init(&j, kids, 64);
	for (int i = 63; i >= 0; i--) {
		assert_int_equal(weft_join_poll(&j, &cx), WEFT_PENDING);
		test_gate_open(&g[i]);
	}
	assert_int_equal(weft_join_poll(&j, &cx), WEFT_READY);
	for (int i = 0; i < 64; i++)
		assert_int_equal(g[i].drops, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(join_completes_when_every_child_is_ready),
		cmocka_unit_test(dropping_a_pending_join_cancels_every_unfinished_child_once),
		cmocka_unit_test(select_takes_the_first_ready_and_cancels_the_others),
		cmocka_unit_test(select_prefers_the_earlier_child_on_a_tie),
		cmocka_unit_test(dropping_a_pending_select_cancels_all),
		cmocka_unit_test(try_join_succeeds_when_all_succeed),
		cmocka_unit_test(try_join_first_error_cancels_the_rest),
		cmocka_unit_test(bad_child_counts_are_refused_without_polling),
		cmocka_unit_test(join_of_sixty_four_children_tracks_every_one),
	};
	return cmocka_run_group_tests_name("combinator", tests, NULL, NULL);
}
