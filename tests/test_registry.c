/* test_registry.c - the task registry lists live tasks with their state
 * and where they were spawned, and the dump prints them, every one, and
 * never while it holds an owned-list lock. */
#include "helpers.h"

#include "sched_runtime.h"

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
	weft_join_handle_close(h);
	weft_runtime_close(rt);
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
	weft_runtime_close(rt);
}

/* A stream that, on every write, checks that no owned-list shard lock is
 * held: the dump must print after it unlocks (a blocked stream would
 * otherwise stall every spawn and completion on the shard). Unbuffered,
 * so each fprintf reaches the check. */
typedef struct lock_spy {
	weft_runtime *rt;
	size_t writes;
	size_t held;      /* writes made while some shard lock was held */
	size_t lines;     /* lines starting with "task " */
	char last;        /* previous byte, to spot line starts */
	size_t cap, len;
	char *text;
} lock_spy;

static ssize_t lock_spy_write(void *cookie, const char *buf, size_t size)
{
	lock_spy *s = cookie;
	s->writes++;
	for (unsigned i = 0; i < WEFT__OWNED_SHARDS; i++)
		if (atomic_load(&s->rt->tasks.owned[i].lock.locked))
			s->held++;
	if (s->len + size + 1 > s->cap) {
		s->cap = (s->len + size + 1) * 2;
		s->text = realloc(s->text, s->cap);
	}
	memcpy(s->text + s->len, buf, size);
	s->len += size;
	s->text[s->len] = '\0';
	return (ssize_t)size;
}

static void spawn_forever(weft_runtime *rt, int n)
{
	forever f = { .fut = WEFT_FUTURE(forever_poll, forever_drop) };
	for (int i = 0; i < n; i++)
		assert_int_equal(weft_spawn_detached(rt, &f.fut, sizeof f), 0);
}

static size_t count_task_lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; (p = strstr(p, "task ")) != NULL; p++)
		if (p == text || p[-1] == '\n')
			n++;
	return n;
}

static void the_dump_prints_no_line_while_holding_a_shard_lock(void **state)
{
	(void)state;
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	spawn_forever(rt, 100);
	lock_spy spy = { .rt = rt };
	cookie_io_functions_t io = { .write = lock_spy_write };
	FILE *f = fopencookie(&spy, "w", io);
	assert_non_null(f);
	assert_int_equal(setvbuf(f, NULL, _IONBF, 0), 0);
	assert_int_equal(weft_runtime_dump_tasks(rt, f), 100);
	fclose(f);
	assert_true(spy.writes >= 100);
	assert_int_equal(spy.held, 0);
	assert_int_equal(count_task_lines(spy.text), 100);
	assert_non_null(strstr(spy.text, "100 live task(s)\n"));
	free(spy.text);
	weft_runtime_close(rt);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every task is listed, each once, whether a shard fits one snapshot or
 * (its snapshot could not be allocated) goes out in batches. */
static void the_dump_lists_every_task_once_even_in_batches(void **state)
{
	(void)state;
	enum { N = 3000 };   /* ~190 per shard: more than one batch */
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	spawn_forever(rt, N);
	weft_task_info *info = calloc(N, sizeof *info);
	assert_non_null(info);
	assert_int_equal(weft_runtime_tasks(rt, info, N), N);
	uint64_t *want = calloc(N, sizeof *want);
	assert_non_null(want);
	for (int i = 0; i < N; i++)
		want[i] = info[i].id;
	qsort(want, N, sizeof *want, cmp_u64);
	for (int round = 0; round < 2; round++) {
		if (round == 1) {
			/* The first shard's snapshot allocation fails: that
			 * shard is printed in batches from the stack. */
			weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
		}
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);
		assert_int_equal(weft_runtime_dump_tasks(rt, mem), N);
		fclose(mem);
		weft__fault_reset();
		assert_int_equal(count_task_lines(buf), N);
		/* The printed ids, sorted, are exactly the registry's. */
		uint64_t *got = calloc(N, sizeof *got);
		assert_non_null(got);
		size_t n = 0;
		for (const char *p = buf; n < N && (p = strstr(p, "task ")) != NULL; p++)
			if (p == buf || p[-1] == '\n')
				got[n++] = strtoull(p + 5, NULL, 10);
		assert_int_equal(n, N);
		qsort(got, N, sizeof *got, cmp_u64);
		for (int i = 0; i < N; i++)
			assert_true(got[i] == want[i]);
		free(got);
		char total[64];
		snprintf(total, sizeof total, "%d live task(s)\n", N);
		assert_non_null(strstr(buf, total));
		free(buf);
	}
	free(want);
	free(info);
	weft_runtime_close(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(the_registry_lists_live_tasks_with_their_spawn_site),
		cmocka_unit_test(a_task_spawned_through_the_function_has_no_location),
		cmocka_unit_test(the_dump_prints_no_line_while_holding_a_shard_lock),
		cmocka_unit_test(the_dump_lists_every_task_once_even_in_batches),
	};
	return cmocka_run_group_tests_name("registry", tests, NULL, NULL);
}
