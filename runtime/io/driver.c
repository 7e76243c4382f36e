/*
 * driver.c - parking in the reactor with the timer wheel's next deadline
 * as the timeout (see io_driver.h).
 *
 * Protocol. `state` holds one wake-up token. unpark stores NOTIFIED and
 * wakes the backend (its eventfd, for epoll) only if the previous state
 * was PARKED. park consumes
 * a token if there is one (and then only polls, without sleeping);
 * otherwise it publishes PARKED before it sleeps, so an unpark either sees
 * PARKED and wakes the backend, which ends the sleep, or came earlier
 * and left the token that makes the CAS to PARKED fail. The caller checks
 * its queues before parking and after; every producer queues its work
 * before it unparks, so no wakeup is lost.
 *
 * Errors. A fatal backend error (reactor.c, "Errors") is sticky: once the
 * reactor holds one, park returns at once without waiting and without
 * firing timers, and the caller must stop parking here: the current-thread
 * block_on returns the error (weft__driver_error), and multi-thread
 * workers sleep on their condition variables instead (worker.c). The
 * runtime's on_error hook wakes the threads in a multi-thread block_on.
 */
#include "sys.h"
#include "io_driver.h"

enum { WEFT__DRV_EMPTY, WEFT__DRV_PARKED, WEFT__DRV_NOTIFIED };

int weft__driver_init(struct weft__driver *d, weft_backend kind, bool automatic)
{
	int rc = weft__reactor_init_backend(&d->io, kind, automatic);
	if (rc < 0)
		return rc;
	atomic_init(&d->state, WEFT__DRV_EMPTY);
	atomic_init(&d->timers_fired, 0);
	rc = weft__time_init(&d->time);
	if (rc < 0) {
		weft__reactor_fini(&d->io);
		return rc;
	}
	return 0;
}

void weft__driver_fini(struct weft__driver *d)
{
	weft__time_fini(&d->time);
	weft__reactor_fini(&d->io);
}

void weft__driver_park(struct weft__driver *d, int64_t max_ns, bool runtime_idle)
{
	if (weft__unlikely(weft__driver_error(d)))
		return;   /* sticky: see "Errors" */
	int64_t timeout = max_ns;
	uint64_t deadline = weft__time_next_deadline(&d->time);
	if (deadline != UINT64_MAX && timeout != 0) {
		uint64_t now = weft__time_now(&d->time);
		int64_t until = deadline > now ? (int64_t)(deadline - now) : 0;
		if (weft__time_is_paused(&d->time) && runtime_idle)
			until = 0;   /* the paused clock only moves when idle, below */
		if (timeout < 0 || until < timeout)
			timeout = until;
	}
	bool woken = false;
	int expected = WEFT__DRV_NOTIFIED;
	/* A plain load first: a token is rare in a busy runtime, and a
	 * failed CAS is still a locked instruction. Relaxed: only a filter;
	 * a token it misses makes the CAS to PARKED below fail. Acquire on
	 * the CAS: a consumed token carries the unparker's queued work. */
	if (atomic_load_explicit(&d->state, memory_order_relaxed) == WEFT__DRV_NOTIFIED &&
	    atomic_compare_exchange_strong_explicit(&d->state, &expected, WEFT__DRV_EMPTY,
						    memory_order_acquire,
						    memory_order_relaxed)) {
		timeout = 0;
		woken = true;
	} else if (timeout != 0) {
		expected = WEFT__DRV_EMPTY;
		/* SeqCst: PARKED must be visible before we sleep, so the
		 * unparker's exchange (also SeqCst) sees it or we see its
		 * token. */
		if (!atomic_compare_exchange_strong_explicit(&d->state, &expected,
							     WEFT__DRV_PARKED,
							     memory_order_seq_cst,
							     memory_order_acquire)) {
			timeout = 0;   /* a token arrived: don't sleep */
			woken = true;
		}
	}
	int events = weft__reactor_turn(&d->io, timeout);
	/* Acquire: see the work of an unpark that came while we slept. */
	int prev = atomic_exchange_explicit(&d->state, WEFT__DRV_EMPTY, memory_order_acq_rel);
	woken |= prev == WEFT__DRV_NOTIFIED;
	if (events < 0)
		return;   /* recorded by the reactor; the caller sees it */
	if (events == 0 && !woken && timeout == 0 && max_ns != 0 && runtime_idle &&
	    weft__time_is_paused(&d->time))
		weft__time_auto_advance(&d->time);
	size_t fired = weft__time_process(&d->time);
	if (fired)   /* Relaxed: statistics. */
		atomic_fetch_add_explicit(&d->timers_fired, fired, memory_order_relaxed);
}

void weft__driver_unpark(struct weft__driver *d)
{
	/* SeqCst: pairs with park's store of PARKED (see above); also a
	 * release of the caller's queued work. */
	if (atomic_exchange_explicit(&d->state, WEFT__DRV_NOTIFIED,
				     memory_order_seq_cst) == WEFT__DRV_PARKED)
		weft__reactor_notify(&d->io);
}
