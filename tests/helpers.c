/* helpers.c - see helpers.h. */
#include "helpers.h"

#include <time.h>
#include <unistd.h>

int test_poll_n(weft_future *f, weft_cx *cx, int max)
{
	for (int i = 1; i <= max; i++)
		if (f->poll(f, cx) == WEFT_READY)
			return i;
	return -1;
}

static weft_poll test_gate_poll(weft_future *f, weft_cx *cx)
{
	test_gate *g = (test_gate *)f;
	g->polls++;
	if (g->open)
		return WEFT_READY;
	weft_waker_store(&g->waker, cx->waker);
	return WEFT_PENDING;
}

static void test_gate_drop(weft_future *f)
{
	test_gate *g = (test_gate *)f;
	g->drops++;
	weft_waker_drop(&g->waker);
}

void test_gate_init(test_gate *g, int result)
{
	*g = (test_gate){ .fut = WEFT_FUTURE(test_gate_poll, test_gate_drop),
			  .result = result };
}

void test_gate_open(test_gate *g)
{
	g->open = true;
	weft_waker_wake(&g->waker);
}

uint64_t test_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void hand_init(hand *h)
{
	weft_counting_waker_init(&h->cw);
	h->w = weft_counting_waker_get(&h->cw);
	h->cx = weft_cx_from_waker(&h->w);
}

long hand_wakes(hand *h)
{
	return weft_counting_waker_load(&h->cw.wakes);
}

void hand_fini(hand *h)
{
	weft_waker_drop(&h->w);
	assert_int_equal(weft_counting_waker_load(&h->cw.live), 0);
}

weft_poll hpoll(hand *h, weft_future *f)
{
	h->cx.budget = WEFT_DEFAULT_BUDGET;
	h->cx.budget_used = 0;
	return f->poll(f, &h->cx);
}

bool test_wait_flag(atomic_int *flag, uint64_t until_us)
{
	while (!atomic_load(flag) && test_now_us() < until_us)
		usleep(100);
	return atomic_load(flag) != 0;
}
