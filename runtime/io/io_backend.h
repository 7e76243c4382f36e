/*
 * io_backend.h - the one seam between the reactor and the kernel's event
 * interface. A backend registers an fd once for read and write readiness,
 * edge-triggered, reports events as readiness bits with the token given
 * at registration, and has its own way to wake a thread that is waiting.
 * epoll lives in io_epoll.c; kqueue (EVFILT_READ/WRITE with EV_CLEAR,
 * EVFILT_USER) and io_uring (poll_add multishot, a msg_ring or eventfd
 * wake) fit the same five calls, one file each, chosen at build time.
 */
#ifndef WEFT__IO_BACKEND_H
#define WEFT__IO_BACKEND_H

#include <stdint.h>

/* Readiness bits, shared by every backend and by the readiness slots. */
#define WEFT__READY_READABLE     (1u << 0)
#define WEFT__READY_WRITABLE     (1u << 1)
#define WEFT__READY_READ_CLOSED  (1u << 2)   /* peer shut down its write side */
#define WEFT__READY_WRITE_CLOSED (1u << 3)   /* hang-up: nothing more can be written */
#define WEFT__READY_ERROR        (1u << 4)   /* pending socket error */
#define WEFT__READY_ALL          0x1fu

struct weft__backend {
	int fd;        /* epoll/kqueue fd, or the ring fd */
	int wake_fd;   /* eventfd where the backend needs one, else -1 */
	void *priv;    /* backend-private state (a ring), else NULL */
	/* The call that made the last weft__backend_wait fail (for the
	 * log line), e.g. "epoll_wait". Written and read by the waiting
	 * thread only. */
	const char *failed_call;
};

struct weft__backend_event {
	void *token;       /* as given to weft__backend_add */
	uint32_t ready;    /* WEFT__READY_* */
};

/* Creates the backend and its wake-up channel. 0 or -errno. */
int weft__backend_init(struct weft__backend *b);
void weft__backend_fini(struct weft__backend *b);

/* Registers @fd for read and write readiness, edge-triggered; events
 * carry @token. Any thread. 0 or -errno. */
int weft__backend_add(struct weft__backend *b, int fd, void *token);
/* Removes @fd. After it returns, no later wait reports @fd's token (an
 * event already collected by a concurrent wait may still be in flight).
 * Any thread. 0 or -errno. */
int weft__backend_del(struct weft__backend *b, int fd);

/*
 * Waits up to @timeout_ns (< 0: no limit, 0: poll) for at most @cap
 * events. Wake-ups through weft__backend_wake end the wait but are
 * consumed here and not reported. Returns the number of events stored
 * (0 on timeout, wake-up or EINTR) or -errno, with b->failed_call naming
 * the call that failed; such an error means the backend is unusable.
 * One thread at a time.
 */
int weft__backend_wait(struct weft__backend *b, struct weft__backend_event *evs,
		       int cap, int64_t timeout_ns);

/* Ends a current or the next wait. 0 (also when a wake-up was already
 * pending) or -errno if the wake-up channel is broken. Any thread,
 * async-signal-safe. */
int weft__backend_wake(struct weft__backend *b);

#endif /* WEFT__IO_BACKEND_H */
