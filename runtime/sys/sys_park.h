/*
 * sys_park.h - the one way a weft thread sleeps until another wakes it:
 * a park with one stored wake-up token. Every sleeper of the runtime uses
 * it: multi-thread workers, both block_on flavours (the current-thread
 * core through the driver), and every *_blocking call of the sync
 * primitives. Protocol in park.c.
 *
 * A park belongs to one thread, its owner, which alone calls the park
 * functions; any thread may call weft__unpark. An unpark that comes before
 * the park makes the next park return at once (the token); several
 * unparks before one park leave one token.
 *
 * Two places to sleep:
 *  - weft__park sleeps on the park's own state word (a futex);
 *  - weft__park_driver sleeps in a driver: the caller passes the
 *    driver's sleep (the reactor's turn: epoll_wait), and the park keeps
 *    the driver's wake, given at init (the eventfd write), for unparkers.
 *    Exactly one thread at a time may sleep in a given driver; the caller
 *    arranges that (the workers' driver lock).
 * An unpark finds out from the state word where the owner sleeps and
 * wakes it there.
 */
#ifndef WEFT__SYS_PARK_H
#define WEFT__SYS_PARK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "sys.h"

/* A park. Fields are the module's (park.c); embed it, or put it on the
 * stack of the thread that parks on it. */
struct weft__park {
	_Atomic uint32_t state;   /* EMPTY, PARKED, DRIVER or NOTIFIED (park.c) */
	void (*drv_wake)(void *arg);   /* NULL: the owner never sleeps in a driver */
	void *drv_arg;
};

/* The values of `state` (park.c, "Protocol"). */
enum {
	WEFT__PARK_EMPTY = 0,
	WEFT__PARK_PARKED,
	WEFT__PARK_DRIVER,
	WEFT__PARK_NOTIFIED,
};

/*
 * Makes @p empty (no token). @drv_wake (may be NULL) ends a sleep in the
 * driver that weft__park_driver sleeps in, or makes the driver's next
 * sleep return at once; any thread calls it, with @drv_arg; both must
 * outlive @p. Cannot fail; a park needs no teardown.
 */
void weft__park_init(struct weft__park *p, void (*drv_wake)(void *arg), void *drv_arg);

/*
 * Sleeps until an unpark, or at most @timeout_ns (< 0: no limit; 0: do
 * not sleep, only take a token that is there). Returns true when it took
 * a token, false on the timeout; it never returns false when @timeout_ns
 * < 0. What the unparker did before its unpark happens-before the return.
 * The owner only.
 */
static inline bool weft__park(struct weft__park *p, int64_t timeout_ns);

/*
 * weft__park in two halves, for a caller that must be seen parked before
 * it looks at something one last time (the worker's driver hand-off):
 * weft__park_prepare publishes "parked here" (SeqCst) and returns true,
 * or takes a token that was there and returns false (then do not call
 * weft__park_wait). weft__park_wait then sleeps as weft__park does (a
 * @timeout_ns of 0 withdraws without sleeping) and leaves @p empty,
 * returning true when it took a token. The owner only.
 */
bool weft__park_prepare(struct weft__park *p);
bool weft__park_wait(struct weft__park *p, int64_t timeout_ns);

/*
 * The driver-backed park: sleeps in a driver instead of on the park's
 * word, for at most @timeout_ns (< 0: no limit; 0: poll) or until an
 * unpark, which wakes it through the @drv_wake given at init. @sleep is
 * the driver's sleep (the reactor's turn, say): it is called exactly once
 * with @sleep_arg, with a timeout of 0 when a token is found on the way
 * in (the driver still gets its poll); its return value goes to *@result
 * (if not NULL). Returns true when a token was taken, before or during
 * the sleep. The owner only, and one thread at a time per driver.
 */
static inline bool weft__park_driver(struct weft__park *p, int64_t timeout_ns,
				     int (*sleep)(void *sleep_arg, int64_t timeout_ns),
				     void *sleep_arg, int *result);

/* Wakes @p's owner where it sleeps, or makes its next park return at
 * once. Releases what the caller did before. Any thread. */
static inline void weft__unpark(struct weft__park *p);

/* True while @p's owner sleeps, or is about to sleep, on the park's word
 * (not in a driver): between weft__park_prepare and the end of
 * weft__park_wait. A relaxed hint for picking a sleeper to wake. */
static inline bool weft__park_sleeping(const struct weft__park *p)
{
	/* Relaxed: a hint. */
	return atomic_load_explicit(&p->state, memory_order_relaxed) == WEFT__PARK_PARKED;
}

/* ------------------------------------------------- inline fast paths */
/* Inline because the driver parks and unparks on the I/O hot path; the
 * orderings are explained in park.c, "Memory order". */

/* The futex wake of an unpark that found PARKED (park.c). */
void weft__park_wake_slow(struct weft__park *p);

/* Takes a token if there is one. */
static inline bool weft__park_take(struct weft__park *p)
{
	uint32_t expected = WEFT__PARK_NOTIFIED;
	/* A plain load first: in a busy runtime a token is rare here, and
	 * a failed CAS is still a locked instruction. Relaxed: only a
	 * filter; a token it misses makes the caller's CAS from EMPTY fail.
	 * Acquire on the CAS: the token carries the unparker's work. */
	return atomic_load_explicit(&p->state, memory_order_relaxed) == WEFT__PARK_NOTIFIED &&
	       atomic_compare_exchange_strong_explicit(&p->state, &expected, WEFT__PARK_EMPTY,
						       memory_order_acquire, memory_order_relaxed);
}

/* Publishes @where (PARKED or DRIVER); false if a token came first. */
static inline bool weft__park_publish(struct weft__park *p, uint32_t where)
{
	uint32_t expected = WEFT__PARK_EMPTY;
	/* SeqCst: the owner's half of the store-load pair with the
	 * unparker's exchange. On failure the word holds NOTIFIED, the only
	 * value another thread writes. */
	return atomic_compare_exchange_strong_explicit(&p->state, &expected, where,
						       memory_order_seq_cst, memory_order_relaxed);
}

/* Leaves the word EMPTY; true if that took a token. */
static inline bool weft__park_clear(struct weft__park *p)
{
	/* Acquire: a token taken here carries the unparker's work. An RMW,
	 * not a store: it reads the newest NOTIFIED (park.c, "Protocol"). */
	return atomic_exchange_explicit(&p->state, WEFT__PARK_EMPTY, memory_order_acquire) ==
	       WEFT__PARK_NOTIFIED;
}

static inline bool weft__park(struct weft__park *p, int64_t timeout_ns)
{
	if (weft__park_take(p))
		return true;
	if (timeout_ns == 0)
		return false;
	if (!weft__park_prepare(p))
		return true;
	return weft__park_wait(p, timeout_ns);
}

static inline bool weft__park_driver(struct weft__park *p, int64_t timeout_ns,
				     int (*sleep)(void *sleep_arg, int64_t timeout_ns),
				     void *sleep_arg, int *result)
{
	bool woken = false;
	if (weft__park_take(p)) {
		timeout_ns = 0;   /* woken already: only poll */
		woken = true;
	} else if (timeout_ns != 0 && !weft__park_publish(p, WEFT__PARK_DRIVER)) {
		timeout_ns = 0;   /* a token came: poll, and the clear takes it */
	}
	int r = sleep(sleep_arg, timeout_ns);
	woken |= weft__park_clear(p);
	if (result)
		*result = r;
	return woken;
}

static inline void weft__unpark(struct weft__park *p)
{
	/* Read before the exchange: after it the owner may return and its
	 * park go away (park.c, "Lifetime"). */
	void (*wake)(void *) = p->drv_wake;
	void *arg = p->drv_arg;
	/* SeqCst: a release of the caller's work, and the load half of the
	 * store-load pair with weft__park_publish. */
	uint32_t prev = atomic_exchange_explicit(&p->state, WEFT__PARK_NOTIFIED,
						 memory_order_seq_cst);
	if (weft__unlikely(prev == WEFT__PARK_PARKED))
		weft__park_wake_slow(p);
	else if (prev == WEFT__PARK_DRIVER)
		wake(arg);
}

#endif /* WEFT__SYS_PARK_H */
