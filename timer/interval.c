/*
 * interval.c - the interval: a sleep re-armed after every tick, with the
 * next deadline chosen by the missed-tick policy.
 */
#include "internal.h"
#include "timer.h"

#include <errno.h>
#include <string.h>

#include <weft/time.h>

void weft_interval_init(weft_interval *iv, uint64_t period_ns, weft_missed_tick policy)
{
	memset(iv, 0, sizeof *iv);
	iv->weft__priv.period = period_ns;
	iv->weft__priv.policy = (int)policy;
}

void weft_interval_at_init(weft_interval *iv, weft_instant start, uint64_t period_ns,
			   weft_missed_tick policy)
{
	weft_interval_init(iv, period_ns, policy);
	iv->weft__priv.start = start;
	iv->weft__priv.has_start = true;
}

/* The deadline after the tick due at @deadline, taken at @now. */
static weft_instant weft__interval_next(uint64_t period, int policy, weft_instant deadline,
					weft_instant now)
{
	weft_instant next = weft__time_add(deadline, period);
	if (now <= next)
		return next;   /* on time: the following tick is still ahead */
	switch (policy) {
	case WEFT_MISSED_TICK_DELAY:
		return weft__time_add(now, period);
	case WEFT_MISSED_TICK_SKIP: {
		/* First deadline + k * period at or after now. */
		uint64_t late = now - deadline;
		uint64_t k = late / period + (late % period != 0);
		if (k > (UINT64_MAX - deadline) / period)
			return UINT64_MAX;
		return deadline + k * period;
	}
	case WEFT_MISSED_TICK_BURST:
	default:
		return next;
	}
}

weft_poll weft_interval_tick_poll(weft_interval *iv, weft_cx *cx, weft_instant *tick)
{
	weft_instant ignored;
	if (!tick)
		tick = &ignored;
	*tick = 0;
	if (iv->result < 0)
		return WEFT_READY;
	uint64_t period = iv->weft__priv.period;
	int policy = iv->weft__priv.policy;
	if (!cx->runtime || period == 0 || policy < WEFT_MISSED_TICK_BURST ||
	    policy > WEFT_MISSED_TICK_SKIP) {
		iv->result = -EINVAL;
		return WEFT_READY;
	}
	weft_sleep *s = &iv->weft__priv.sleep;
	if (!iv->weft__priv.started) {
		weft_instant start = iv->weft__priv.has_start ? iv->weft__priv.start
							      : weft_now(cx->runtime);
		weft_sleep_until_init(s, start);
		iv->weft__priv.started = true;
	}
	if (weft_sleep_poll(s, cx) == WEFT_PENDING)
		return WEFT_PENDING;
	if (s->result < 0) {
		iv->result = s->result;
		return WEFT_READY;
	}
	weft_instant deadline = s->deadline;
	weft_sleep_reset(s, weft__interval_next(period, policy, deadline, weft_now(cx->runtime)));
	*tick = deadline;
	return WEFT_READY;
}

void weft_interval_drop(weft_interval *iv)
{
	weft_sleep_drop(&iv->weft__priv.sleep);
}
