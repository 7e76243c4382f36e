/* test_sys.c - failure injection through the syscall and allocation layer:
 * each injected failure surfaces as a clear -errno and leaks nothing. */
#include "helpers.h"

#include <errno.h>

#include "sys.h"

static void an_armed_fault_fails_exactly_the_nth_call(void **state)
{
	(void)state;
	weft__fault_arm(WEFT__FAULT_ALLOC, 3, ENOMEM);
	void *a = weft__alloc(8), *b = weft__alloc(8), *c = weft__alloc(8), *d = weft__alloc(8);
	assert_non_null(a);
	assert_non_null(b);
	assert_null(c);
	assert_non_null(d);
	weft__free(a);
	weft__free(b);
	weft__free(d);
	weft__fault_reset();
}

static void runtime_new_reports_enomem_and_leaks_nothing(void **state)
{
	(void)state;
	weft_runtime *rt = (weft_runtime *)0x1;
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_runtime_new(&rt, NULL), -ENOMEM);
	assert_ptr_equal(rt, (weft_runtime *)0x1);   /* untouched on error */
	weft__fault_reset();
	assert_int_equal(weft_runtime_new(NULL, NULL), -EINVAL);
}

typedef struct one {
	weft_future fut;
	int *drops;
} one;

static weft_poll one_poll(weft_future *f, weft_cx *cx)
{
	(void)f;
	(void)cx;
	return WEFT_READY;
}

static void one_drop(weft_future *f)
{
	++*((one *)f)->drops;
}

static void spawn_reports_enomem_and_the_future_stays_the_callers(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	int drops = 0;
	one o = { .fut = WEFT_FUTURE(one_poll, one_drop), .drops = &drops };
	weft_join_handle *h = NULL;
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_spawn(rt, &o.fut, sizeof o, &h), -ENOMEM);
	assert_null(h);
	assert_int_equal(drops, 0);
	assert_int_equal(weft_runtime_live_tasks(rt), 0);
	/* The next spawn works. */
	assert_int_equal(weft_spawn(rt, &o.fut, sizeof o, &h), 0);
	weft_join_handle_detach(h);
	weft_runtime_free(rt);
	assert_int_equal(drops, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_armed_fault_fails_exactly_the_nth_call),
		cmocka_unit_test(runtime_new_reports_enomem_and_leaks_nothing),
		cmocka_unit_test(spawn_reports_enomem_and_the_future_stays_the_callers),
	};
	return cmocka_run_group_tests_name("sys", tests, NULL, NULL);
}
