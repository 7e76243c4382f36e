/* install_prog.c - a user program built against an installed weft through
 * pkg-config by test_install: spawns tasks, joins one, prints a line. */
#include <stdio.h>
#include <weft.h>

typedef struct sum_task {
	weft_future fut;
	int n;
	long sum;
} sum_task;

static weft_poll sum_poll(weft_future *f, weft_cx *cx)
{
	sum_task *t = (sum_task *)f;
	(void)cx;
	for (int i = 1; i <= t->n; i++)
		t->sum += i;
	return WEFT_READY;
}

typedef struct main_fn {
	weft_future fut;
	weft_coro co;
	weft_join_handle *h;
	int status;
	long result;
} main_fn;

static weft_poll main_poll(weft_future *f, weft_cx *cx)
{
	main_fn *m = (main_fn *)f;
	WEFT_BEGIN(&m->co);
	{
		sum_task t = { .fut = WEFT_FUTURE(sum_poll, NULL), .n = 100 };
		if (weft_spawn(weft_cx_runtime(cx), &t.fut, sizeof t, &m->h) < 0)
			WEFT_RETURN(&m->co, -1);
	}
	WEFT_AWAIT(&m->co, weft_join_handle_poll(m->h, cx, &m->status));
	m->result = ((sum_task *)weft_join_handle_output(m->h))->sum;
	weft_join_handle_detach(m->h);
	WEFT_END(&m->co);
}

int main(void)
{
	weft_runtime *rt;
	if (weft_runtime_new(&rt, NULL) < 0)
		return 1;
	main_fn m = { .fut = WEFT_FUTURE(main_poll, NULL) };
	int rc = weft_block_on(rt, &m.fut);
	weft_runtime_free(rt);
	printf("weft installed: sum=%ld rc=%d\n", m.result, rc);
	return rc == 0 && m.result == 5050 ? 0 : 1;
}
