/* helpers.c - see helpers.h. */
#include "helpers.h"

#include <sched.h>
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
	test_counting_waker_init(&h->cw);
	h->w = test_counting_waker_get(&h->cw);
	h->cx = weft_cx_from_waker(&h->w);
}

long hand_wakes(hand *h)
{
	return test_counting_waker_load(&h->cw.wakes);
}

void hand_fini(hand *h)
{
	weft_waker_drop(&h->w);
	assert_int_equal(test_counting_waker_load(&h->cw.live), 0);
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

/* ------------------------------------------------------ counting waker */

/* The counters are statistics read by tests after the fact or through
 * test_counting_waker_load (acquire); the updates are AcqRel so that a
 * reader that sees a count also sees what the waker's user did before. */
static void test__count(long *counter, long delta)
{
	__atomic_fetch_add(counter, delta, __ATOMIC_ACQ_REL);
}

static weft_waker test__counting_clone(const void *data);

static void test__counting_wake_by_ref(const void *data)
{
	test_counting_waker *cw = (test_counting_waker *)data;
	test__count(&cw->wakes_by_ref, 1);
	test__count(&cw->wakes, 1);
}

static void test__counting_wake(const void *data)
{
	test_counting_waker *cw = (test_counting_waker *)data;
	test__count(&cw->wakes, 1);
	test__count(&cw->live, -1);
}

static void test__counting_drop(const void *data)
{
	test_counting_waker *cw = (test_counting_waker *)data;
	test__count(&cw->drops, 1);
	test__count(&cw->live, -1);
}

static const weft_waker_vtable test__counting_vtable = {
	.clone = test__counting_clone,
	.wake = test__counting_wake,
	.wake_by_ref = test__counting_wake_by_ref,
	.drop = test__counting_drop,
};

static weft_waker test__counting_clone(const void *data)
{
	test_counting_waker *cw = (test_counting_waker *)data;
	test__count(&cw->clones, 1);
	test__count(&cw->live, 1);
	return (weft_waker){ .vtable = &test__counting_vtable, .data = cw };
}

void test_counting_waker_init(test_counting_waker *cw)
{
	__atomic_store_n(&cw->clones, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->wakes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->wakes_by_ref, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->drops, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->live, 0, __ATOMIC_RELAXED);
}

weft_waker test_counting_waker_get(test_counting_waker *cw)
{
	test__count(&cw->live, 1);
	return (weft_waker){ .vtable = &test__counting_vtable, .data = cw };
}

/* -------------------------------------------------------- stall waker */

/* Relaxed throughout: see helpers.h (no happens-before of its own). */
static const weft_waker_vtable test__stall_vtable;

static weft_waker test__stall_clone(const void *data)
{
	test_stall_waker *sw = (test_stall_waker *)data;
	atomic_fetch_add_explicit(&sw->live, 1, memory_order_relaxed);
	return (weft_waker){ .vtable = &test__stall_vtable, .data = sw };
}

static void test__stall_wake_by_ref(const void *data)
{
	test_stall_waker *sw = (test_stall_waker *)data;
	uint64_t until = test_now_us() + 5000000;
	while (!atomic_load_explicit(&sw->released, memory_order_relaxed) &&
	       test_now_us() < until)
		sched_yield();
	atomic_fetch_add_explicit(&sw->wakes, 1, memory_order_relaxed);
}

static void test__stall_wake(const void *data)
{
	test__stall_wake_by_ref(data);
	atomic_fetch_sub_explicit(&((test_stall_waker *)data)->live, 1, memory_order_relaxed);
}

static void test__stall_drop(const void *data)
{
	test_stall_waker *sw = (test_stall_waker *)data;
	atomic_fetch_sub_explicit(&sw->live, 1, memory_order_relaxed);
}

static const weft_waker_vtable test__stall_vtable = {
	.clone = test__stall_clone,
	.wake = test__stall_wake,
	.wake_by_ref = test__stall_wake_by_ref,
	.drop = test__stall_drop,
};

weft_waker test_stall_waker_init(test_stall_waker *sw)
{
	atomic_init(&sw->released, 0);
	atomic_init(&sw->wakes, 0);
	atomic_init(&sw->live, 1);
	return (weft_waker){ .vtable = &test__stall_vtable, .data = sw };
}

void test_stall_waker_release(test_stall_waker *sw)
{
	atomic_store_explicit(&sw->released, 1, memory_order_relaxed);
}
