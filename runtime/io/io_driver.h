/*
 * io_driver.h - what a parked thread drives: the reactor and the timers.
 *
 * Exactly one thread at a time parks in the driver (the current-thread
 * core, or the multi-thread worker that holds the driver). It sleeps in
 * the reactor until I/O, the next timer deadline, or weft__driver_unpark.
 */
#ifndef WEFT__IO_DRIVER_H
#define WEFT__IO_DRIVER_H

#include "io_reactor.h"
#include "time_driver.h"
#include "sys_park.h"

struct weft__driver {
	struct weft__reactor io;
	struct weft__time time;
	/* The wake-up token of the thread parked here (driver.c): lets
	 * unpark skip the backend wake-up unless that thread is, or is about
	 * to be, asleep. */
	struct weft__park park;
	_Atomic uint64_t timers_fired;   /* metrics */
};

/* Starts the reactor on backend @kind (falling back with @automatic: see
 * weft__reactor_init_backend) and the time driver. 0 or -errno. */
int weft__driver_init(struct weft__driver *d, weft_backend kind, bool automatic);
void weft__driver_fini(struct weft__driver *d);

/*
 * Sleeps until I/O, a due timer or an unpark, at most @max_ns (< 0: no
 * limit; 0: do not sleep, just poll), then fires due timers. With the
 * clock paused and @runtime_idle (no thread of the runtime has work), a
 * park that finds nothing to do moves the clock to the next deadline
 * instead of sleeping. One thread at a time. Once the backend failed
 * (weft__driver_error), returns at once: the caller must check the error
 * and stop relying on the driver.
 */
void weft__driver_park(struct weft__driver *d, int64_t max_ns, bool runtime_idle);

/* The driver's sticky error: 0, or the first fatal backend error as a
 * negative errno (reactor.c, "Errors"). Any thread; one relaxed load. */
static inline int weft__driver_error(struct weft__driver *d)
{
	return weft__reactor_error(&d->io);
}

/* Wakes the thread parked in the driver, now or at its next park. Any thread. */
void weft__driver_unpark(struct weft__driver *d);

#endif
