/*
 * timeout.c - the timeout: an inner future raced against a sleep; the
 * inner one is polled first and dropped exactly once, whoever wins.
 */
#include "time_driver.h"

#include <errno.h>
#include <string.h>

#include <weft/time.h>

static weft_poll weft__timeout_future_poll(weft_future *f, weft_cx *cx)
{
	return weft_timeout_poll((weft_timeout *)f, cx);
}

static void weft__timeout_future_drop(weft_future *f)
{
	weft_timeout_drop((weft_timeout *)f);
}

void weft_timeout_init(weft_timeout *t, weft_future *inner, uint64_t duration_ns)
{
	memset(t, 0, sizeof *t);
	t->fut = WEFT_FUTURE(weft__timeout_future_poll, weft__timeout_future_drop);
	t->priv.inner = inner;
	weft_sleep_init(&t->priv.sleep, duration_ns);
}

void weft_timeout_at_init(weft_timeout *t, weft_future *inner, weft_instant deadline)
{
	memset(t, 0, sizeof *t);
	t->fut = WEFT_FUTURE(weft__timeout_future_poll, weft__timeout_future_drop);
	t->priv.inner = inner;
	weft_sleep_until_init(&t->priv.sleep, deadline);
}

static void weft__timeout_drop_inner(weft_timeout *t)
{
	if (t->priv.inner_dropped)
		return;
	t->priv.inner_dropped = true;
	if (t->priv.inner)
		weft_future_drop(t->priv.inner);
}

static weft_poll weft__timeout_finish(weft_timeout *t, int result)
{
	t->result = result;
	t->priv.done = true;
	weft__timeout_drop_inner(t);
	weft_sleep_drop(&t->priv.sleep);
	return WEFT_READY;
}

weft_poll weft_timeout_poll(weft_timeout *t, weft_cx *cx)
{
	if (t->priv.done)
		return WEFT_READY;
	weft_future *inner = t->priv.inner;
	if (!inner || !inner->poll || !cx->runtime)
		return weft__timeout_finish(t, -EINVAL);

	uint32_t budget_before = cx->budget;
	if (inner->poll(inner, cx) == WEFT_READY)
		return weft__timeout_finish(t, 0);

	/* An inner future that spent the whole budget must not keep the
	 * timer from being seen: give the timer its own unit (Tokio does
	 * the same). */
	weft_cx timer_cx = *cx;
	weft_cx *tcx = cx;
	if (budget_before > 0 && cx->budget == 0) {
		timer_cx.budget = 1;
		tcx = &timer_cx;
	}
	weft_sleep *s = &t->priv.sleep;
	if (weft_sleep_poll(s, tcx) == WEFT_PENDING)
		return WEFT_PENDING;
	return weft__timeout_finish(t, s->result < 0 ? s->result : -ETIMEDOUT);
}

void weft_timeout_drop(weft_timeout *t)
{
	weft__timeout_drop_inner(t);
	weft_sleep_drop(&t->priv.sleep);
}
