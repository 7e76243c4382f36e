/*
 * io_reactor.h - the I/O reactor: readiness of registered fds, delivered to
 * wakers. One reactor per runtime, driven by whichever thread parks in
 * weft__reactor_turn; registration and waking are safe from any thread.
 *
 * The backend (epoll or kqueue; io_uring later) sits behind
 * io_backend.h, one file each; the reactor names none of its calls.
 *
 * Using a registration (the leaf-future side): describe the operation
 * and hand it over; the reactor waits for readiness and runs it:
 *
 *	struct weft__io_op op = { .kind = WEFT__IO_OP_RECV, .fd = fd,
 *				  .buf = buf, .len = len, .stream = true };
 *	return weft__io_op_poll(io, cx, &op, &n);
 *
 * That is the one seam between the socket layer (net/) and the I/O
 * model: a readiness backend (epoll, kqueue) waits and retries the
 * syscall inside weft__io_op_poll; a completion backend (io_uring) will
 * submit the same descriptor and report its completion instead, without
 * the socket layer changing. weft__io_poll_ready and weft__io_clear_ready
 * stay for the few users that wait for readiness without an operation
 * (tests, signal listeners).
 */
#ifndef WEFT__IO_REACTOR_H
#define WEFT__IO_REACTOR_H

#include <weft/core.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "io_backend.h"
#include "sys.h"

struct weft__io;

struct weft__reactor {
	struct weft__backend backend;
	/* Guards the two lists, release_len and user. */
	pthread_mutex_t lock;
	bool user;                  /* a slot holds the user event */
	struct weft__io *live;      /* registered slots */
	struct weft__io *release;   /* deregistered, freed by the next turn */
	size_t release_len;
	_Atomic uint64_t events;    /* I/O events dispatched (metrics) */
	/* The sticky error (reactor.c): the first fatal backend error as a
	 * negative errno, 0 while none; and how many fatal errors were
	 * seen in all (metrics). */
	_Atomic int error;
	_Atomic uint64_t errors;
	/* Called once, on the thread that records the first error, after it
	 * is stored (the runtime wakes its block_on threads). May be NULL.
	 * Set before the reactor is shared. */
	void (*on_error)(void *arg);
	void *on_error_arg;
};

/* Sets up backend @kind and its wake-up channel; with @automatic (the
 * runtime asked for WEFT_BACKEND_AUTO), falls back to another compiled
 * backend if @kind does not start. 0 or -errno: with @automatic the
 * first backend's error; without it -ENOTSUP, unless the host ran out
 * of memory or fds (-ENOMEM, -EMFILE, -ENFILE). */
int weft__reactor_init_backend(struct weft__reactor *r, weft_backend kind, bool automatic);
/* weft__reactor_init_backend with the build's default, automatic. */
int weft__reactor_init(struct weft__reactor *r);
/* Releases the backend and any slot still registered (dropping its
 * wakers). */
void weft__reactor_fini(struct weft__reactor *r);

/*
 * Waits up to @timeout_ns (< 0: no limit, 0: just poll) for I/O events,
 * records readiness and wakes the waiting wakers (outside any lock).
 * Returns early when weft__reactor_notify is called. Returns the number
 * of I/O events handled (the notification is not counted) or -errno. A
 * backend error is fatal and sticky: it is recorded (weft__reactor_error),
 * and this and every later turn return it without waiting. One thread at
 * a time.
 */
int weft__reactor_turn(struct weft__reactor *r, int64_t timeout_ns);

/* Makes a current or the next weft__reactor_turn return. A failure of the
 * wake-up channel is recorded like a turn's. Any thread. */
void weft__reactor_notify(struct weft__reactor *r);

/* Raises the user event (weft__backend_user_raise): the slot made by
 * weft__io_register_user becomes readable at the next turn. 0, or -errno
 * if the wake-up channel is broken (not recorded here). Any thread;
 * async-signal-safe. */
int weft__reactor_user_raise(struct weft__reactor *r);

/* The sticky error: 0, or the first fatal backend error (-errno). Any
 * thread; a relaxed load (see reactor.c), so cheap enough to test before
 * every park. */
static inline int weft__reactor_error(struct weft__reactor *r)
{
	/* Relaxed: the value is all it carries; see "Errors" in reactor.c. */
	return atomic_load_explicit(&r->error, memory_order_relaxed);
}

/* ------------------------------------------------- per-fd registrations */

enum weft__io_dir {
	WEFT__IO_READ = 0,    /* readable, read-closed or error */
	WEFT__IO_WRITE = 1,   /* writable, write-closed or error */
};

/* What weft__io_poll_ready saw: the readiness bits and the tick they had,
 * to hand back to weft__io_clear_ready. */
struct weft__io_ready {
	uint32_t ready;
	uint32_t tick;
	enum weft__io_dir dir;
};

/*
 * Registers @fd (non-blocking) with the reactor, edge-triggered for both
 * directions. @initial is the readiness to assume before the first event
 * (WEFT__READY_READABLE | WEFT__READY_WRITABLE for a socket worth trying
 * at once, 0 for one that must wait for an edge, e.g. a connect in
 * progress). Stores the slot in *@out. 0, -ENOMEM or the backend's -errno.
 * A backend that applies the registration in its next wait (kqueue)
 * reports a refusal there; the slot's operations then return it (see
 * weft__io_op_poll). Any thread.
 */
int weft__io_register(struct weft__reactor *r, int fd, uint32_t initial,
		      struct weft__io **out);

/*
 * Registers a slot fed by the backend's user event instead of an fd:
 * each weft__reactor_user_raise makes it readable (an edge, as for an
 * fd), and it is used and deregistered like any other slot. One per
 * reactor at a time: -EBUSY while another exists; -ENOMEM. Any thread.
 */
int weft__io_register_user(struct weft__reactor *r, struct weft__io **out);

/*
 * Removes the registration and drops its wakers; the caller may close the
 * fd afterwards. The slot's memory lives until the reactor's next turn
 * begins, so an event for it that a concurrent turn already collected is
 * dispatched to a dead slot, harmlessly. @io must not be used after.
 * Any thread; not concurrently with other calls on @io.
 */
void weft__io_deregister(struct weft__io *io);

/*
 * READY when @io is ready in direction @dir (ev filled in). Otherwise
 * stores @cx's waker as the @dir waker (one per direction: one reader and
 * one writer task at a time) and returns PENDING; the waker is woken on
 * the next event for that direction. Any thread; one poller per
 * direction at a time.
 */
weft_poll weft__io_poll_ready(struct weft__io *io, enum weft__io_dir dir,
			      weft_cx *cx, struct weft__io_ready *ev);

/*
 * Clears @ev's direction's readiness (READABLE or WRITABLE, and ERROR;
 * the closed bits are final) if no event arrived since @ev was taken: a
 * newer tick means a new edge whose readiness must not be lost. Call it
 * after the syscall said EAGAIN, or after a short read or write on a
 * stream (which says the same thing without the extra syscall).
 */
void weft__io_clear_ready(struct weft__io *io, const struct weft__io_ready *ev);

/* The error of a registration the backend refused after weft__io_register
 * returned (a slot whose readiness has WEFT__READY_FAILED; reactor.c,
 * "Refused registrations"): its -errno. Call it only after a poll saw
 * that bit. */
int weft__io_failure(const struct weft__io *io);

/* ----------------------------------------------------------- operations */

/* What an operation does once its fd is ready. */
enum weft__io_op_kind {
	WEFT__IO_OP_RECV,      /* recv(fd, buf, len): read direction */
	WEFT__IO_OP_RECVFROM,  /* recvfrom(fd, buf, len, addr, &addrlen): read */
	WEFT__IO_OP_SEND,      /* send(fd, buf, len, MSG_NOSIGNAL): write */
	WEFT__IO_OP_SENDTO,    /* sendto(fd, buf, len, addr, addrlen): write */
	WEFT__IO_OP_SENDMSG,   /* sendmsg of iov[0..iovcnt) (len = their total): write */
	WEFT__IO_OP_ACCEPT,    /* accept4(fd), non-blocking and close-on-exec: read */
	WEFT__IO_OP_CONNECT,   /* completion of a connect in progress (SO_ERROR): write */
};

/*
 * One operation on a registered fd, filled in by the caller (net/) and
 * read by weft__io_op_poll. Plain data on the caller's stack; a
 * completion backend copies what it needs before it returns PENDING.
 */
struct weft__io_op {
	enum weft__io_op_kind kind;
	int fd;
	void *buf;                   /* RECV*, SEND, SENDTO */
	size_t len;                  /* bytes asked (> 0), SENDMSG: the iov total */
	const struct iovec *iov;     /* SENDMSG */
	int iovcnt;                  /* SENDMSG */
	struct sockaddr *addr;       /* RECVFROM: the sender (NULL: not wanted);
				      * SENDTO: the destination */
	socklen_t addrlen;           /* RECVFROM: room in, sender's length out;
				      * SENDTO: the destination's length */
	/* A stream: a transfer shorter than len means the socket is drained
	 * (or its send buffer full), so readiness is cleared at once instead
	 * of paying a second syscall to hear EAGAIN. */
	bool stream;
};

/*
 * Runs @op on @io's fd: takes one unit of @cx's cooperative budget
 * (PENDING, the task rescheduled, when it is spent), waits for the
 * operation's direction to be ready (PENDING with the waker stored;
 * the budget unit given back), runs the syscall and on EAGAIN clears the
 * readiness it saw and waits again; EINTR retries. READY with *@res:
 *   RECV, RECVFROM, SEND, SENDTO, SENDMSG: bytes moved or -errno;
 *   ACCEPT: the new fd (the caller owns it) or -errno; on -EMFILE and
 *           -ENFILE readiness is cleared too, so the next poll waits for
 *           a new connection instead of spinning on the full fd table;
 *   CONNECT: 0 once connected, or the connect's -errno.
 * If the backend refused the registration after it was made (kqueue:
 * reactor.c, "Refused registrations"), an operation that would wait
 * returns that -errno instead (a connect, at once).
 * One operation per direction at a time (as weft__io_poll_ready).
 */
static inline weft_poll weft__io_op_poll(struct weft__io *io, weft_cx *cx,
					 struct weft__io_op *op, ssize_t *res);


/* The syscall of @op, once: bytes, an fd, 0 or -errno. */
static inline ssize_t weft__io_op_run(struct weft__io_op *op)
{
	switch (op->kind) {
	case WEFT__IO_OP_RECV:
		/* recv, not read: the socket call skips the VFS layer
		 * (vfs_read, fdget_pos), about 4 % of a server's kernel time
		 * per request in a profile under wrk. */
		return weft__sys_recvfrom(op->fd, op->buf, op->len, 0, NULL, NULL);
	case WEFT__IO_OP_SEND:
		return weft__sys_send(op->fd, op->buf, op->len, 0);
	case WEFT__IO_OP_SENDMSG: {
		struct msghdr msg = { .msg_iov = (struct iovec *)op->iov,
				      .msg_iovlen = (size_t)op->iovcnt };
		return weft__sys_sendmsg(op->fd, &msg, 0);
	}
	case WEFT__IO_OP_RECVFROM: {
		socklen_t alen = op->addrlen;
		ssize_t r = weft__sys_recvfrom(op->fd, op->buf, op->len, 0, op->addr,
					       op->addr ? &alen : NULL);
		if (r >= 0 && op->addr)
			op->addrlen = alen;
		return r;
	}
	case WEFT__IO_OP_SENDTO:
		return weft__sys_sendto(op->fd, op->buf, op->len, 0, op->addr, op->addrlen);
	case WEFT__IO_OP_ACCEPT:
		return weft__sys_accept(op->fd, NULL, NULL);
	case WEFT__IO_OP_CONNECT: {
		int soerr = 0;
		socklen_t len = sizeof soerr;
		int rc = weft__sys_getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		return rc < 0 ? rc : -soerr;
	}
	}
	return -EINVAL;
}

/*
 * The readiness loop, written once for every operation: budget, wait for
 * the direction, the syscall, and on EAGAIN clear what was seen (unless
 * a newer edge came) and wait again. A completion backend replaces the
 * wait-and-retry with a submission of @op; the callers do not change.
 * Inline, so each caller's constant kind folds the switches away: out of
 * line, the dispatch cost about 60 user-space instructions per HTTP
 * request (bench/instructions).
 */
static inline weft_poll weft__io_op_poll(struct weft__io *io, weft_cx *cx,
					 struct weft__io_op *op, ssize_t *res)
{
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	const enum weft__io_dir dir =
		op->kind <= WEFT__IO_OP_RECVFROM || op->kind == WEFT__IO_OP_ACCEPT
			? WEFT__IO_READ : WEFT__IO_WRITE;
	struct weft__io_ready ev;
	for (;;) {
		if (weft__io_poll_ready(io, dir, cx, &ev) == WEFT_PENDING) {
			weft_coop_refund(cx);
			return WEFT_PENDING;
		}
		/* A refused registration (reactor.c): a connect's SO_ERROR
		 * cannot tell it from a connect in progress. */
		if (op->kind == WEFT__IO_OP_CONNECT && weft__unlikely(ev.ready & WEFT__READY_FAILED)) {
			*res = weft__io_failure(io);
			return WEFT_READY;
		}
		ssize_t r = weft__io_op_run(op);
		if (r == -EAGAIN || r == -EWOULDBLOCK) {
			/* No edge will come for a refused registration:
			 * its error, instead of a wait that never ends. */
			if (weft__unlikely(ev.ready & WEFT__READY_FAILED)) {
				*res = weft__io_failure(io);
				return WEFT_READY;
			}
			weft__io_clear_ready(io, &ev);
			continue;
		}
		if (r == -EINTR)
			continue;
		/* A stream that moved less than asked is drained (or full):
		 * an edge-triggered fd reports the next change, so clear now
		 * instead of paying a syscall to hear EAGAIN. An accept that
		 * found the fd table full clears too: the connections left
		 * waiting need a new edge, and waiting beats spinning. */
		if ((op->stream && r > 0 && (size_t)r < op->len) ||
		    (op->kind == WEFT__IO_OP_ACCEPT && (r == -EMFILE || r == -ENFILE)))
			weft__io_clear_ready(io, &ev);
		*res = r;
		return WEFT_READY;
	}
}

/* The current readiness bits (for tests and diagnostics). */
uint32_t weft__io_readiness(struct weft__io *io, uint32_t *tick);

#endif
