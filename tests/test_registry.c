/* test_registry.c - the task registry lists live tasks with their state
 * and where they were spawned, and the dump prints them. */
#include "helpers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct forever {
	weft_future fut;
	weft_waker w;
} forever;

static weft_poll forever_poll(weft_future *f, weft_cx *cx)
{
	weft_waker_store(&((forever *)f)->w, cx->waker);
	return WEFT_PENDING;
}

static void forever_drop(weft_future *f)
{
	weft_waker_drop(&((forever *)f)->w);
}

static void the_registry_lists_live_tasks_with_their_spawn_site(void **state)
{
	(void)state;
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	forever f = { .fut = WEFT_FUTURE(forever_poll, forever_drop) };
	weft_join_handle *h;
	int line = __LINE__ + 1;
	assert_int_equal(weft_spawn(rt, &f.fut, sizeof f, &h), 0);
	assert_int_equal(weft_spawn_detached(rt, &f.fut, sizeof f), 0);
	weft_yield_now y;
	weft_yield_now_init(&y);
	assert_int_equal(weft_block_on(rt, &y.fut), 0);   /* runs both once */

	weft_task_info info[4];
	assert_int_equal(weft_runtime_tasks(rt, info, 4), 2);
	assert_int_equal(weft_runtime_tasks(rt, NULL, 0), 2);
	bool seen_joinable = false;
	for (int i = 0; i < 2; i++) {
		assert_non_null(info[i].spawned_at);
		assert_non_null(strstr(info[i].spawned_at->file, "test_registry.c"));
		assert_false(info[i].state & WEFT_TASK_RUNNING);
		if (info[i].state & WEFT_TASK_JOINABLE) {
			seen_joinable = true;
			assert_int_equal(info[i].spawned_at->line, line);
			assert_string_equal(info[i].spawned_at->func,
					    "the_registry_lists_live_tasks_with_their_spawn_site");
		}
	}
	assert_true(seen_joinable);
	assert_int_not_equal(info[0].id, info[1].id);

	char *buf = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&buf, &len);
	assert_int_equal(weft_runtime_dump_tasks(rt, mem), 2);
	fclose(mem);
	assert_non_null(strstr(buf, "idle"));
	assert_non_null(strstr(buf, "test_registry.c"));
	assert_non_null(strstr(buf, "2 live task(s)"));
	free(buf);
	assert_int_equal(weft_runtime_dump_tasks(rt, NULL), -EINVAL);

	weft_join_handle_abort(h);
	weft_join_handle_detach(h);
	weft_runtime_free(rt);
}

static void a_task_spawned_through_the_function_has_no_location(void **state)
{
	(void)state;
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	forever f = { .fut = WEFT_FUTURE(forever_poll, forever_drop) };
	assert_int_equal((weft_spawn)(rt, &f.fut, sizeof f, NULL), 0);
	weft_task_info info;
	assert_int_equal(weft_runtime_tasks(rt, &info, 1), 1);
	assert_null(info.spawned_at);
	assert_true(info.state & WEFT_TASK_NOTIFIED);   /* not run yet */
	weft_runtime_free(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_registry_lists_live_tasks_with_their_spawn_site),
		cmocka_unit_test(a_task_spawned_through_the_function_has_no_location),
	};
	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
