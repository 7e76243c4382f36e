/* hello.c - the README's complete program: spawn a task, await its join
 * handle, read its output. */
#include <stdio.h>
#include <weft.h>

/* An async function: its locals live in its struct. */
typedef struct sum_task {
	weft_future fut;            /* first member */
	int n;
	long sum;                   /* output */
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
	weft_coro co;               /* resume point and result */
	weft_join_handle *h;
	weft_yield_now y;           /* a child future, embedded */
	int res;                    /* the join's outcome: 0 or -errno */
} main_fn;

static weft_poll main_poll(weft_future *f, weft_cx *cx)
{
	main_fn *m = (main_fn *)f;
	WEFT_BEGIN(&m->co);
	{
		sum_task t = { .fut = WEFT_FUTURE(sum_poll, NULL), .n = 100 };
		int rc = weft_spawn(weft_cx_runtime(cx), &t.fut, sizeof t, &m->h);
		if (rc < 0)
			WEFT_RETURN(&m->co, rc);      /* copied in; t may go now */
	}
	weft_yield_now_init(&m->y);
	WEFT_AWAIT(&m->co, weft_yield_now_poll(&m->y, cx));
	WEFT_AWAIT(&m->co, weft_join_handle_poll(m->h, cx, &m->res));
	printf("sum = %ld\n", ((sum_task *)weft_join_handle_output(m->h))->sum);
	weft_join_handle_close(m->h);
	WEFT_END(&m->co);
}

int main(void)
{
	weft_runtime *rt;
	if (weft_runtime_new(&rt, NULL) < 0)
		return 1;
	main_fn m = { .fut = WEFT_FUTURE(main_poll, NULL) };
	int rc = weft_block_on(rt, &m.fut);
	weft_runtime_close(rt);      /* drops and frees every live task */
	return rc < 0 || m.co.result < 0;
}
