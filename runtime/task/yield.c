/*
 * yield.c - yield_now: give the thread to every other runnable task once.
 */
#include "task.h"

static weft_poll weft__yield_now_poll_erased(weft_future *f, weft_cx *cx)
{
	return weft_yield_now_poll((weft_yield_now *)f, cx);
}

void weft_yield_now_init(weft_yield_now *y)
{
	y->fut = WEFT_FUTURE(weft__yield_now_poll_erased, NULL);
	y->priv.yielded = false;
}

weft_poll weft_yield_now_poll(weft_yield_now *y, weft_cx *cx)
{
	if (y->priv.yielded)
		return WEFT_READY;
	y->priv.yielded = true;
	/* The task is running, so this only sets NOTIFIED; the scheduler
	 * requeues it at the back when this poll returns. */
	weft_waker_wake_by_ref(cx->waker);
	return WEFT_PENDING;
}
