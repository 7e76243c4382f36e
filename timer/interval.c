/*
 * interval.c - the interval: a sleep re-armed after every tick, with the
 * next deadline chosen by the missed-tick policy.
 *
 * Rule (Tokio's Interval::poll_tick): when a tick is taken at `now` for
 * the deadline `d`, the next deadline is d + period unless now > d + 5 ms;
 * only then is the tick missed and the policy picks the next deadline
 * (Burst: d + period; Delay: now + period; Skip: the first d + k * period
 * strictly after now). Single-threaded: an interval is polled by one
 * thread at a time, so it has no protocol of its own.
 */
#include "time_driver.h"

#include <errno.h>
#include <string.h>

#include <weft/time.h>

void weft_interval_init(weft_interval *iv, uint64_t period_ns, weft_missed_tick policy)
{
	memset(iv, 0, sizeof *iv);
	iv->priv.period = period_ns;
	iv->priv.policy = (int)policy;
}

void weft_interval_at_init(weft_interval *iv, weft_instant start, uint64_t period_ns,
			   weft_missed_tick policy)
{
	weft_interval_init(iv, period_ns, policy);
	iv->priv.start = start;
	iv->priv.has_start = true;
}

/* A tick taken more than this after its deadline counts as missed
 * (Tokio's threshold): lateness under it is scheduling noise, and the
 * next tick stays on the schedule whatever the policy. */
#define WEFT__INTERVAL_LATE_NS WEFT_MS(5)

/* The deadline after the tick due at @deadline, taken at @now. */
static weft_instant weft__interval_next(uint64_t period, int policy, weft_instant deadline,
					weft_instant now)
{
	weft_instant next = weft__time_add(deadline, period);
	if (now <= weft__time_add(deadline, WEFT__INTERVAL_LATE_NS))
		return next;   /* on time, or late by less than the threshold */
	switch (policy) {
	case WEFT_MISSED_TICK_DELAY:
		/* A new schedule, one full period from now. */
		return weft__time_add(now, period);
	case WEFT_MISSED_TICK_SKIP: {
		/* The first point of the old schedule strictly after now:
		 * now + (period - lateness % period), in (now, now + period]. */
		uint64_t late = now - deadline;
		return weft__time_add(now, period - late % period);
	}
	case WEFT_MISSED_TICK_BURST:
	default:
		return next;   /* keep the schedule: the missed ones fire at once */
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
	uint64_t period = iv->priv.period;
	int policy = iv->priv.policy;
	if (!cx->runtime || period == 0 || policy < WEFT_MISSED_TICK_BURST ||
	    policy > WEFT_MISSED_TICK_SKIP) {
		iv->result = -EINVAL;
		return WEFT_READY;
	}
	weft_sleep *s = &iv->priv.sleep;
	if (!iv->priv.started) {
		weft_instant start = iv->priv.has_start ? iv->priv.start
							      : weft_now(cx->runtime);
		weft_sleep_until_init(s, start);
		iv->priv.started = true;
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
	weft_sleep_drop(&iv->priv.sleep);
}
