/*
 * reactor.h - the I/O reactor: readiness of registered fds, delivered to
 * wakers. One reactor per runtime, driven by whichever thread parks in
 * weft__reactor_turn; registration and waking are safe from any thread.
 *
 * The backend (epoll now; kqueue and io_uring later) sits behind
 * io_backend.h, one file each.
 */
#ifndef WEFT__REACTOR_H
#define WEFT__REACTOR_H

#include <stdint.h>

#include <stdatomic.h>
#include <stddef.h>

struct weft__reactor {
	int epfd;
	int evfd;
	_Atomic uint64_t events;   /* I/O events dispatched (metrics) */
};

/* Sets up the backend and its wake-up channel. 0 or -errno. */
int weft__reactor_init(struct weft__reactor *r);
/* Releases the backend. Every registration must be gone. */
void weft__reactor_fini(struct weft__reactor *r);

/*
 * Waits up to @timeout_ns (< 0: no limit, 0: just poll) for I/O events,
 * records readiness and wakes the waiting wakers (outside any lock).
 * Returns early when weft__reactor_notify is called. Returns the number
 * of I/O events handled (the notification is not counted) or -errno.
 * One thread at a time.
 */
int weft__reactor_turn(struct weft__reactor *r, int64_t timeout_ns);

/* Makes a current or the next weft__reactor_turn return. Any thread. */
void weft__reactor_notify(struct weft__reactor *r);

#endif
