/*
 * time_driver.h - a runtime's time driver: its clock and its timing wheel.
 * The runtime's driver asks it for the next deadline before parking and
 * has it fire what is due after waking; the time futures (sleep.c,
 * interval.c, timeout.c) register timers in it.
 */
#ifndef WEFT__TIME_DRIVER_H
#define WEFT__TIME_DRIVER_H

#include <weft/core.h>

#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "time_wheel.h"

#define WEFT__NS_PER_TICK UINT64_C(1000000)   /* the wheel's resolution: 1 ms */
/* Timers woken per release of the lock in weft__time_process. */
#define WEFT__TIME_BATCH 32

struct weft__time {
	/* Guards the wheel, driver_deadline, clock writers (pause, resume,
	 * advance) and every registered timer's links, waker and state. */
	pthread_mutex_t lock;
	struct weft__wheel wheel;
	/* The tick the parked driver sleeps until, as it last asked
	 * (weft__time_next_deadline); 0 while it is awake and will ask
	 * again before it sleeps. A registration unparks it only when its
	 * deadline is earlier. Written under the lock, except by the
	 * driver's fast paths when no timer is registered (timer.c). */
	_Atomic uint64_t driver_deadline;
	/* Timers in the wheel (weft__wheel_len), changed under the lock and
	 * read without it by the driver's fast paths. */
	_Atomic size_t armed;
	/* The clock: now = frozen while paused, else CLOCK_MONOTONIC +
	 * offset. Written under the lock, read without it (timer.c). */
	_Atomic uint64_t offset_ns;
	_Atomic uint64_t frozen_ns;   /* WEFT__TIME_RUNNING while running */
	/* The clock as the driver's last turn with timers read it: what a
	 * failed clock read returns instead (weft__time_now). */
	_Atomic uint64_t seen_ns;
};

#define WEFT__TIME_RUNNING UINT64_MAX
/* The paused clock goes no further (about 292 years), so it never wraps. */
#define WEFT__TIME_MAX_NS (UINT64_C(1) << 63)

/* 0 or -errno. */
int weft__time_init(struct weft__time *tm);
/* Releases the driver. Does not touch timers: every one registered must
 * have been cancelled (its future dropped) before; a leaked one is left
 * alone, never written. */
void weft__time_fini(struct weft__time *tm);
/* The runtime's clock, in ns since init (frozen while paused). Any thread. */
uint64_t weft__time_now(struct weft__time *tm);
/* Earliest deadline of a registered timer (ns, same scale as now; at most
 * 1 ms early when a far slot only cascades), or UINT64_MAX when there is
 * none. Records it as what the parked driver sleeps until. Any thread;
 * meant for the thread about to park. */
uint64_t weft__time_next_deadline(struct weft__time *tm);
/* Fires every timer due at the current time: wakes their wakers outside
 * the wheel's lock, WEFT__TIME_BATCH at a time. Returns how many fired.
 * Called by the driver after parking (it then counts as awake). */
size_t weft__time_process(struct weft__time *tm);
/* True while the clock is paused. Any thread. */
bool weft__time_is_paused(struct weft__time *tm);
/* With the clock paused and the runtime idle: moves the clock to the next
 * deadline. Returns false if there is none (or the clock runs). */
bool weft__time_auto_advance(struct weft__time *tm);
/* The clock's controls behind weft_time_pause, weft_time_resume and
 * weft_time_advance (clock.c, which then unparks the runtime's driver).
 * Pause: 0, or -EALREADY if paused. Resume: 0, -EALREADY if running, or
 * a failed clock read's -errno (the clock stays paused).
 * Advance: moves the paused clock @ns forward (capped at
 * WEFT__TIME_MAX_NS) and fires what is due on the calling thread; 0, or
 * -EINVAL if the clock runs. Any thread. */
int weft__time_pause(struct weft__time *tm);
int weft__time_resume(struct weft__time *tm);
int weft__time_advance(struct weft__time *tm, uint64_t ns);
/* Timers registered and not yet fired or cancelled (tests, metrics);
 * SIZE_MAX if `armed` disagrees with the wheel, which is a bug. */
size_t weft__time_timer_count(struct weft__time *tm);

/* -------------------------------------------------------------- timers */

/*
 * One timer: the unit a time future registers. Embedded in the future; a
 * zero-filled one is IDLE. The owner (the thread polling the future)
 * calls poll and cancel; the driver fires it. See timer.c's protocol.
 */
enum {
	WEFT__TIMER_IDLE = 0,     /* not in a wheel */
	WEFT__TIMER_REGISTERED,   /* in tm's wheel, with a waker */
	WEFT__TIMER_FIRED,        /* deadline reached; the driver is done with it */
};

struct weft__timer {
	struct weft__wheel_entry entry;   /* guarded by tm->lock */
	struct weft__time *tm;            /* the driver it was registered with */
	weft_waker waker;                 /* guarded by tm->lock while REGISTERED */
	_Atomic uint8_t state;
};

/*
 * Registers @t for @deadline_ns on @tm with @waker, or refreshes its
 * waker if registered, or reports that it fired. READY once the deadline
 * has passed (never earlier). Sets *@unpark when the caller must wake
 * the parked driver (its owner's job: the time driver never calls up)
 * because this deadline is earlier than the one it sleeps until. Owner only.
 */
weft_poll weft__timer_poll(struct weft__timer *t, struct weft__time *tm, uint64_t deadline_ns,
			   const weft_waker *waker, bool *unpark);
/* Removes @t from its wheel if registered and releases its waker; leaves
 * it IDLE (or FIRED if it had fired). Idempotent. Owner only. */
void weft__timer_cancel(struct weft__timer *t);
/* Cancels @t and makes it IDLE, so the next poll registers it afresh. */
void weft__timer_reset(struct weft__timer *t);

/* Saturating ns arithmetic shared by the futures. */
static inline uint64_t weft__time_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

#endif
