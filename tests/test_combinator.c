/* test_combinator.c - join, select and try_join: completion, order, and
 * cancellation (drop exactly once) of the losers; join handles as their
 * children (weft_join_task). */
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
	assert_int_equal(s.result, 0);
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
	assert_int_equal(s.result, -EINVAL);
	weft_select2_init(&s, kids[0], kids[0]);
	assert_int_equal(weft_select_poll(&s, &cx), WEFT_READY);
	assert_int_equal(s.result, -EINVAL);
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

/* ------------------------------------------------ join handles as children */

/* A current-thread runtime with its clock paused: the sleeps below end in
 * the order of their deadlines, at once. */
static weft_runtime *paused_runtime(void)
{
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	assert_int_equal(weft_time_pause(rt), 0);
	return rt;
}

/* A task that sleeps @ms, then records when it woke. */
typedef struct napper {
	weft_future fut;
	weft_coro co;
	weft_sleep sleep;
	uint64_t ms;
	weft_instant woke;    /* output: weft_now after the sleep */
	bool done;            /* output */
} napper;

static weft_poll napper_poll(weft_future *f, weft_cx *cx)
{
	napper *n = (napper *)f;
	WEFT_BEGIN(&n->co);
	weft_sleep_init(&n->sleep, WEFT_MS(n->ms));
	WEFT_AWAIT(&n->co, weft_sleep_poll(&n->sleep, cx));
	n->woke = weft_now(weft_cx_runtime(cx));
	n->done = true;
	WEFT_END(&n->co);
}

static void napper_drop(weft_future *f)
{
	weft_sleep_drop(&((napper *)f)->sleep);
}

static weft_join_handle *spawn_napper(weft_runtime *rt, uint64_t ms)
{
	napper n = { .fut = WEFT_FUTURE(napper_poll, napper_drop), .ms = ms };
	weft_join_handle *h;
	assert_int_equal(weft_spawn(rt, &n.fut, sizeof n, &h), 0);
	return h;
}

static const napper *napper_of(weft_join_handle *h)
{
	return (const napper *)weft_join_handle_output(h);
}

static void join_of_two_task_handles_waits_for_both(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_instant start = weft_now(rt);
	weft_join_handle *slow = spawn_napper(rt, 20);
	weft_join_handle *fast = spawn_napper(rt, 10);
	weft_join_task a, b;
	weft_join_task_init(&a, slow);
	weft_join_task_init(&b, fast);
	weft_join j;
	weft_join2_init(&j, &a.fut, &b.fut);
	assert_int_equal(weft_block_on(rt, &j.fut), 0);
	assert_int_equal(j.result, 0);
	assert_int_equal(a.result, 0);
	assert_int_equal(b.result, 0);
	/* The join waited for the slower task; both outputs are readable
	 * through the handles, which the wrappers only borrowed. */
	assert_true(weft_now(rt) - start >= WEFT_MS(20));
	assert_true(napper_of(slow)->done && napper_of(fast)->done);
	assert_true(napper_of(slow)->woke - start >= WEFT_MS(20));
	assert_true(napper_of(fast)->woke - start < WEFT_MS(20));
	weft_join_handle_close(slow);
	weft_join_handle_close(fast);
	weft_runtime_close(rt);
}

static void select_of_a_task_handle_and_a_sleep_takes_whichever_ends_first(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	/* The task ends first (5 ms against 10 ms): the handle wins. */
	weft_join_handle *h = spawn_napper(rt, 5);
	weft_join_task jt;
	weft_join_task_init(&jt, h);
	weft_sleep timer;
	weft_sleep_init(&timer, WEFT_MS(10));
	weft_select s;
	weft_select2_init(&s, &jt.fut, &timer.fut);
	assert_int_equal(weft_block_on(rt, &s.fut), 0);
	assert_int_equal(s.result, 0);
	assert_int_equal(s.winner, 0);
	assert_int_equal(jt.result, 0);
	assert_true(napper_of(h)->done);
	assert_false(weft_sleep_is_elapsed(&timer));
	weft_join_handle_close(h);

	/* The sleep ends first (10 ms against 50 ms): the select drops the
	 * wrapper, and the task is NOT aborted: it runs on, and completes. */
	weft_instant start = weft_now(rt);
	h = spawn_napper(rt, 50);
	weft_join_task_init(&jt, h);
	weft_sleep_init(&timer, WEFT_MS(10));
	weft_select2_init(&s, &jt.fut, &timer.fut);
	assert_int_equal(weft_block_on(rt, &s.fut), 0);
	assert_int_equal(s.winner, 1);
	assert_int_equal(weft_now(rt) - start, WEFT_MS(10));
	assert_false(weft_join_handle_is_finished(h));
	weft_join_task again;
	weft_join_task_init(&again, h);
	assert_int_equal(weft_block_on(rt, &again.fut), 0);
	assert_int_equal(again.result, 0);          /* completed, not cancelled */
	assert_true(napper_of(h)->done);
	assert_true(napper_of(h)->woke - start >= WEFT_MS(50));
	weft_join_handle_close(h);
	weft_runtime_close(rt);
}

static void join_task_of_an_aborted_task_reports_ecanceled(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_join_handle *h = spawn_napper(rt, 1000);
	weft_join_handle_abort(h);
	weft_join_task jt;
	weft_join_task_init(&jt, h);
	assert_int_equal(weft_block_on(rt, &jt.fut), 0);
	assert_int_equal(jt.result, -ECANCELED);
	assert_null(weft_join_handle_output(h));
	weft_join_handle_close(h);
	weft_runtime_close(rt);
}

static void dropping_a_join_task_takes_back_its_waker_and_leaves_the_task(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	weft_join_handle *h = spawn_napper(rt, 10);
	/* Polled by hand: the task has not run (a current-thread runtime runs
	 * tasks only inside block_on), so the wrapper waits and leaves a
	 * clone of our waker with the task. */
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	weft_join_task jt;
	weft_join_task_init(&jt, h);
	assert_int_equal(weft_join_task_poll(&jt, &cx), WEFT_PENDING);
	assert_int_equal(cw.live, 2);
	weft_join_task_drop(&jt);
	assert_int_equal(cw.live, 1);        /* the clone was taken back */
	weft_join_task_drop(&jt);            /* idempotent */
	assert_int_equal(cw.live, 1);
	assert_false(weft_join_handle_is_finished(h));
	/* The task was not aborted: awaited again, it completes. */
	weft_join_task again;
	weft_join_task_init(&again, h);
	assert_int_equal(weft_block_on(rt, &again.fut), 0);
	assert_int_equal(again.result, 0);
	assert_true(napper_of(h)->done);
	assert_int_equal(cw.wakes, 0);       /* nobody woke the withdrawn waker */
	weft_join_handle_close(h);
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
	weft_runtime_close(rt);
}

static void zero_filled_join_task_is_ready_with_einval(void **state)
{
	(void)state;
	weft_waker w;
	weft_cx cx = noop_cx(&w);
	weft_join_task jt;
	memset(&jt, 0, sizeof jt);
	assert_int_equal(weft_join_task_poll(&jt, &cx), WEFT_READY);
	assert_int_equal(jt.result, -EINVAL);
	weft_join_task_drop(&jt);
	weft_join_task_init(&jt, NULL);
	assert_int_equal(weft_future_poll(&jt.fut, &cx), WEFT_READY);
	assert_int_equal(jt.result, -EINVAL);
	weft_future_drop(&jt.fut);
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
		cmocka_unit_test(join_of_two_task_handles_waits_for_both),
		cmocka_unit_test(select_of_a_task_handle_and_a_sleep_takes_whichever_ends_first),
		cmocka_unit_test(join_task_of_an_aborted_task_reports_ecanceled),
		cmocka_unit_test(dropping_a_join_task_takes_back_its_waker_and_leaves_the_task),
		cmocka_unit_test(zero_filled_join_task_is_ready_with_einval),
	};
	return cmocka_run_group_tests_name("combinator", tests, NULL, NULL);
}
