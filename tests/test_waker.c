/* test_waker.c - wakers: the no-op waker, counting, clone/wake/drop balance. */
#include "helpers.h"

static void noop_waker_operations_do_nothing(void **state)
{
	(void)state;
	weft_waker w = weft_noop_waker();
	weft_waker c = weft_waker_clone(&w);
	assert_true(weft_waker_will_wake(&w, &c));
	weft_waker_wake_by_ref(&c);
	weft_waker_wake(&c);
	assert_null(c.vtable);
	weft_waker_drop(&w);
	assert_null(w.vtable);
}

static void empty_waker_is_inert_and_drop_is_idempotent(void **state)
{
	(void)state;
	weft_waker w = { 0 };
	weft_waker c = weft_waker_clone(&w);
	assert_null(c.vtable);
	weft_waker_wake_by_ref(&w);
	weft_waker_wake(&w);
	weft_waker_drop(&w);
	weft_waker_drop(&w);
}

static void counting_waker_balances_clone_wake_and_drop(void **state)
{
	(void)state;
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker a = test_counting_waker_get(&cw);
	weft_waker b = weft_waker_clone(&a);
	weft_waker c = weft_waker_clone(&b);
	assert_int_equal(cw.clones, 2);
	assert_int_equal(cw.live, 3);
	weft_waker_wake_by_ref(&a);
	assert_int_equal(cw.wakes, 1);
	assert_int_equal(cw.wakes_by_ref, 1);
	assert_int_equal(cw.live, 3);
	weft_waker_wake(&b);             /* consumes b */
	assert_null(b.vtable);
	assert_int_equal(cw.wakes, 2);
	assert_int_equal(cw.live, 2);
	weft_waker_drop(&c);
	weft_waker_drop(&c);             /* second drop: no double count */
	assert_int_equal(cw.drops, 1);
	weft_waker_drop(&a);
	assert_int_equal(cw.live, 0);
}

static void waker_store_keeps_a_waker_for_the_same_target(void **state)
{
	(void)state;
	test_counting_waker cw1, cw2;
	test_counting_waker_init(&cw1);
	test_counting_waker_init(&cw2);
	weft_waker w1 = test_counting_waker_get(&cw1);
	weft_waker w2 = test_counting_waker_get(&cw2);
	weft_waker slot = { 0 };
	weft_waker_store(&slot, &w1);
	weft_waker_store(&slot, &w1);
	assert_int_equal(cw1.clones, 1);   /* the second store cloned nothing */
	weft_waker_store(&slot, &w2);      /* replaced: the old one is dropped */
	assert_int_equal(cw1.drops, 1);
	assert_int_equal(cw2.clones, 1);
	weft_waker_drop(&slot);
	weft_waker_drop(&w1);
	weft_waker_drop(&w2);
	assert_int_equal(cw1.live, 0);
	assert_int_equal(cw2.live, 0);
}

static void coop_budget_runs_out_and_wakes_by_ref(void **state)
{
	(void)state;
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	cx.budget = 3;
	assert_true(weft_coop_proceed(&cx));
	assert_true(weft_coop_proceed(&cx));
	weft_coop_refund(&cx);
	assert_true(weft_coop_proceed(&cx));
	assert_true(weft_coop_proceed(&cx));
	assert_int_equal(cw.wakes, 0);
	assert_false(weft_coop_proceed(&cx));
	assert_int_equal(cw.wakes_by_ref, 1);
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(noop_waker_operations_do_nothing),
		cmocka_unit_test(empty_waker_is_inert_and_drop_is_idempotent),
		cmocka_unit_test(counting_waker_balances_clone_wake_and_drop),
		cmocka_unit_test(waker_store_keeps_a_waker_for_the_same_target),
		cmocka_unit_test(coop_budget_runs_out_and_wakes_by_ref),
	};
	return cmocka_run_group_tests_name("waker", tests, NULL, NULL);
}
