/*
 * driver.c - parking in the reactor with the timer wheel's next deadline
 * as the timeout (see io_driver.h).
 *
 * Protocol. The driver's wake-up token is a park (sys_park.h, park.c)
 * whose driver is the reactor: weft__driver_park parks there with
 * weft__park_driver, which sleeps in the reactor's turn, and
 * weft__driver_unpark unparks it, which wakes the backend (writes its
 * eventfd on epoll, triggers its EVFILT_USER event on kqueue) only when the thread sleeps there (or is about to).
 * A token found on the way in makes the turn a poll, without sleeping. The caller checks its queues before
 * parking and after; every producer queues its work before it unparks, so
 * no wakeup is lost (park.c says why).
 *
 * Errors. A fatal backend error (reactor.c, "Errors") is sticky: once the
 * reactor holds one, park returns at once without waiting and without
 * firing timers, and the caller must stop parking here: the current-thread
 * block_on returns the error (weft__driver_error), and multi-thread
 * workers sleep on their own parks instead (worker.c). The
 * runtime's on_error hook wakes the threads in a multi-thread block_on.
 */
#include "sys.h"
#include "io_driver.h"

/* The park's driver: a turn of the reactor, woken through the backend's
 * wake-up (the eventfd on epoll, EVFILT_USER or a pipe on kqueue). */
static int weft__driver_turn(void *arg, int64_t timeout_ns)
{
	return weft__reactor_turn(&((struct weft__driver *)arg)->io, timeout_ns);
}

static void weft__driver_wake(void *arg)
{
	weft__reactor_notify(&((struct weft__driver *)arg)->io);
}

int weft__driver_init(struct weft__driver *d, weft_backend kind, bool automatic)
{
	int rc = weft__reactor_init_backend(&d->io, kind, automatic);
	if (rc < 0)
		return rc;
	weft__park_init(&d->park, weft__driver_wake, d);
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
	/* A park that would sleep but may not (the paused clock, idle):
	 * if nothing else happens, the clock moves instead. */
	bool may_advance = timeout == 0 && max_ns != 0 && runtime_idle;
	int events;
	bool woken = weft__park_driver(&d->park, timeout, weft__driver_turn, d, &events);
	if (events < 0)
		return;   /* recorded by the reactor; the caller sees it */
	if (may_advance && events == 0 && !woken && weft__time_is_paused(&d->time))
		weft__time_auto_advance(&d->time);
	size_t fired = weft__time_process(&d->time);
	if (fired)   /* Relaxed: statistics. */
		atomic_fetch_add_explicit(&d->timers_fired, fired, memory_order_relaxed);
}

void weft__driver_unpark(struct weft__driver *d)
{
	weft__unpark(&d->park);
}
