/*
 * waker.c - the wakers that belong to no scheduler: the no-op waker and
 * the counting waker that tests use to check clone/wake/drop balance.
 */
#include "task.h"

static weft_waker weft__noop_clone(const void *data);
static void weft__noop(const void *data)
{
	(void)data;
}

static const weft_waker_vtable weft__noop_vtable = {
	.clone = weft__noop_clone,
	.wake = weft__noop,
	.wake_by_ref = weft__noop,
	.drop = weft__noop,
};

static weft_waker weft__noop_clone(const void *data)
{
	return (weft_waker){ .vtable = &weft__noop_vtable, .data = data };
}

weft_waker weft_noop_waker(void)
{
	return (weft_waker){ .vtable = &weft__noop_vtable, .data = NULL };
}

/* The counters are statistics read by tests after the fact or through
 * weft_counting_waker_load (acquire); the updates are AcqRel so that a
 * reader that sees a count also sees what the waker's user did before. */
static void weft__count(long *counter, long delta)
{
	__atomic_fetch_add(counter, delta, __ATOMIC_ACQ_REL);
}

static weft_waker weft__counting_clone(const void *data);

static void weft__counting_wake_by_ref(const void *data)
{
	weft_counting_waker *cw = (weft_counting_waker *)data;
	weft__count(&cw->wakes_by_ref, 1);
	weft__count(&cw->wakes, 1);
}

static void weft__counting_wake(const void *data)
{
	weft_counting_waker *cw = (weft_counting_waker *)data;
	weft__count(&cw->wakes, 1);
	weft__count(&cw->live, -1);
}

static void weft__counting_drop(const void *data)
{
	weft_counting_waker *cw = (weft_counting_waker *)data;
	weft__count(&cw->drops, 1);
	weft__count(&cw->live, -1);
}

static const weft_waker_vtable weft__counting_vtable = {
	.clone = weft__counting_clone,
	.wake = weft__counting_wake,
	.wake_by_ref = weft__counting_wake_by_ref,
	.drop = weft__counting_drop,
};

static weft_waker weft__counting_clone(const void *data)
{
	weft_counting_waker *cw = (weft_counting_waker *)data;
	weft__count(&cw->clones, 1);
	weft__count(&cw->live, 1);
	return (weft_waker){ .vtable = &weft__counting_vtable, .data = cw };
}

void weft_counting_waker_init(weft_counting_waker *cw)
{
	__atomic_store_n(&cw->clones, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->wakes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->wakes_by_ref, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->drops, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->live, 0, __ATOMIC_RELAXED);
}

weft_waker weft_counting_waker_get(weft_counting_waker *cw)
{
	weft__count(&cw->live, 1);
	return (weft_waker){ .vtable = &weft__counting_vtable, .data = cw };
}
