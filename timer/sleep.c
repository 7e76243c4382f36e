/*
 * sleep.c - the sleep future: one timer embedded in the caller's struct,
 * registered with the runtime's time driver at the first poll that has to
 * wait, cancelled by drop.
 */
#include "time_driver.h"
#include "sched_api.h"

#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include <weft/time.h>

enum {
	WEFT__SLEEP_ABSOLUTE = 1u << 0,   /* public deadline is set; duration unused */
	WEFT__SLEEP_STARTED  = 1u << 1,   /* deadline resolved */
	WEFT__SLEEP_DONE     = 1u << 2,   /* READY returned */
};

/*
 * The private part of weft_sleep, kept in its opaque storage. may_alias:
 * the storage is declared as an array of uint64_t and only ever accessed
 * through this type (and zero-filled or copied as a whole by its owner).
 */
struct __attribute__((__may_alias__)) weft__sleep_state {
	struct weft__timer timer;
	uint64_t duration;
	uint8_t flags;
};

_Static_assert(sizeof(struct weft__sleep_state) <= sizeof(((weft_sleep *)0)->priv.opaque),
	       "weft_sleep's opaque storage is too small for its timer");
_Static_assert(alignof(struct weft__sleep_state) <= alignof(uint64_t),
	       "weft_sleep's opaque storage is not aligned enough for its timer");

static struct weft__sleep_state *weft__sleep_state(weft_sleep *s)
{
	return (struct weft__sleep_state *)(void *)s->priv.opaque;
}

static weft_poll weft__sleep_future_poll(weft_future *f, weft_cx *cx)
{
	return weft_sleep_poll((weft_sleep *)f, cx);
}

static void weft__sleep_future_drop(weft_future *f)
{
	weft_sleep_drop((weft_sleep *)f);
}

void weft_sleep_init(weft_sleep *s, uint64_t duration_ns)
{
	memset(s, 0, sizeof *s);
	s->fut = WEFT_FUTURE(weft__sleep_future_poll, weft__sleep_future_drop);
	weft__sleep_state(s)->duration = duration_ns;
}

void weft_sleep_until_init(weft_sleep *s, weft_instant deadline)
{
	memset(s, 0, sizeof *s);
	s->fut = WEFT_FUTURE(weft__sleep_future_poll, weft__sleep_future_drop);
	s->deadline = deadline;
	weft__sleep_state(s)->flags = WEFT__SLEEP_ABSOLUTE;
}

void weft_sleep_reset(weft_sleep *s, weft_instant deadline)
{
	struct weft__sleep_state *st = weft__sleep_state(s);
	weft__timer_reset(&st->timer);
	s->deadline = deadline;
	s->result = 0;
	st->flags = WEFT__SLEEP_ABSOLUTE;
}

bool weft_sleep_is_elapsed(const weft_sleep *s)
{
	return weft__sleep_state((weft_sleep *)s)->flags & WEFT__SLEEP_DONE;
}

weft_poll weft_sleep_poll(weft_sleep *s, weft_cx *cx)
{
	struct weft__sleep_state *st = weft__sleep_state(s);
	if (st->flags & WEFT__SLEEP_DONE)
		return WEFT_READY;
	if (!cx->runtime) {
		s->result = -EINVAL;
		st->flags |= WEFT__SLEEP_DONE;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;

	struct weft__time *tm = weft__runtime_time(cx->runtime);
	if (!(st->flags & WEFT__SLEEP_STARTED)) {
		if (!(st->flags & WEFT__SLEEP_ABSOLUTE))
			s->deadline = weft__time_add(weft__time_now(tm), st->duration);
		st->flags |= WEFT__SLEEP_STARTED;
	}
	bool unpark;
	weft_poll res = weft__timer_poll(&st->timer, tm, s->deadline, cx->waker, &unpark);
	if (unpark)
		weft__runtime_unpark_driver(cx->runtime);
	if (res == WEFT_PENDING) {
		weft_coop_refund(cx);   /* waiting is not progress */
		return WEFT_PENDING;
	}
	s->result = 0;
	st->flags |= WEFT__SLEEP_DONE;
	return WEFT_READY;
}

void weft_sleep_drop(weft_sleep *s)
{
	weft__timer_cancel(&weft__sleep_state(s)->timer);
}
