/*
 * io_backend.h - the one seam between the reactor and the kernel's event
 * interface. A backend registers an fd once for read and write readiness,
 * edge-triggered, reports events as readiness bits with the token given
 * at registration, has its own way to wake a thread that is waiting, and
 * one "user event": an edge that any thread, or a signal handler, can
 * raise and that the wait reports like an fd's readiness.
 *
 * One file per backend, each owning its syscalls (sys.h, "An I/O
 * backend's own calls"): epoll lives in io_epoll.c, kqueue in io_kqueue.c
 * (EVFILT_READ/WRITE with EV_CLEAR, EVFILT_USER or a pipe for the wake-up
 * and the user event; on Linux built against the kevent test double in
 * tests/kqueue_double). The build compiles one (meson option
 * `io_backend`); io_uring (poll_add multishot, an eventfd or msg_ring
 * wake) would implement the same calls in a file of its own. When a build holds two (io_uring beside epoll), the runtime's
 * choice (weft_runtime_config.backend) picks one at weft_runtime_new;
 * these calls then dispatch on the kind stored in the backend.
 */
#ifndef WEFT__IO_BACKEND_H
#define WEFT__IO_BACKEND_H

#include <weft/runtime.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Readiness bits, shared by every backend and by the readiness slots. */
#define WEFT__READY_READABLE     (1u << 0)
#define WEFT__READY_WRITABLE     (1u << 1)
#define WEFT__READY_READ_CLOSED  (1u << 2)   /* peer shut down its write side */
#define WEFT__READY_WRITE_CLOSED (1u << 3)   /* hang-up: nothing more can be written */
#define WEFT__READY_ERROR        (1u << 4)   /* pending socket error */
/* The backend refused the registration after weft__backend_add returned
 * (a backend that applies registrations in its wait: kqueue); the event
 * carries the error in err. Final: the slot is never cleared of it. */
#define WEFT__READY_FAILED       (1u << 5)
#define WEFT__READY_ALL          0x1fu   /* the readiness bits, FAILED aside */

struct weft__backend {
	weft_backend kind;   /* which backend this is (never AUTO) */
	int fd;        /* epoll/kqueue fd, or the ring fd */
	int wake_fd;   /* eventfd (epoll) or the pipe's write end (kqueue
			* without EVFILT_USER) where the backend needs one, else -1 */
	void *priv;    /* backend-private state (a ring), else NULL */
	/* The call that made the last weft__backend_wait fail (for the
	 * log line), e.g. "epoll_wait". Written and read by the waiting
	 * thread only. */
	const char *failed_call;
	/* The user event (see weft__backend_user_set): the token its
	 * events carry (NULL: off), and, for backends that carry it on
	 * their wake-up channel (epoll), whether one was raised since the
	 * last wait looked. */
	_Atomic(void *) user_token;
	_Atomic bool user_raised;
};

struct weft__backend_event {
	void *token;       /* as given to weft__backend_add or _user_set */
	uint32_t ready;    /* WEFT__READY_* */
	int err;           /* with WEFT__READY_FAILED: the refusal's -errno;
			    * otherwise not set */
};

/* ------------------------------------------------------- which backend */

/* Whether this build compiled backend @kind (not AUTO). */
bool weft__backend_compiled(weft_backend kind);

/*
 * The backend a runtime asked for, made concrete: @requested (a config
 * value) unless the environment variable WEFT_BACKEND is set and not
 * empty, in which case its value. AUTO becomes the build's default.
 * Stores the backend to start in *@out and whether AUTO chose it (so it
 * may fall back) in *@automatic. 0; -EINVAL for a value that names no
 * backend; -ENOTSUP for a backend this build does not compile.
 */
int weft__backend_resolve(uint32_t requested, weft_backend *out, bool *automatic);

/* ------------------------------------------------------------ the calls */

/* Creates backend @kind (compiled, not AUTO) and its wake-up channel.
 * 0 or -errno. */
int weft__backend_init(struct weft__backend *b, weft_backend kind);
void weft__backend_fini(struct weft__backend *b);

/*
 * Registers @fd for read and write readiness, edge-triggered; events
 * carry @token. 0 or -errno; on an error nothing is registered. A
 * backend may apply the registration later, in its next wait (kqueue
 * batches its changes into the waiting call; epoll applies it here):
 * the wait then reports a refusal as one event { @token,
 * WEFT__READY_FAILED | READABLE | WRITABLE, err }, and @token must stay
 * valid until weft__backend_del (the reactor's slots do: a slot is freed
 * only after its removal and a later turn's start). Any thread.
 */
int weft__backend_add(struct weft__backend *b, int fd, void *token);
/* Removes @fd. After it returns, no later wait reports @fd's token (an
 * event already collected by a concurrent wait may still be in flight);
 * that includes the refusal of a registration the backend had not
 * applied yet. Any thread. 0 or -errno. */
int weft__backend_del(struct weft__backend *b, int fd);

/*
 * Waits up to @timeout_ns (< 0: no limit, 0: poll) for at most @cap
 * events (@cap >= 2; kqueue refuses less with -EINVAL). Wake-ups through weft__backend_wake end the wait but are
 * consumed here and not reported; a raised user event is reported as
 * one event { user token, WEFT__READY_READABLE } (several raises before
 * a wait looks make one). Returns the number of events stored (0 on
 * timeout, wake-up or EINTR) or -errno, with b->failed_call naming the
 * call that failed; such an error means the backend is unusable. One
 * thread at a time.
 */
int weft__backend_wait(struct weft__backend *b, struct weft__backend_event *evs,
		       int cap, int64_t timeout_ns);

/* Ends a current or the next wait. 0 (also when a wake-up was already
 * pending) or -errno if the wake-up channel is broken. Any thread,
 * async-signal-safe. */
int weft__backend_wake(struct weft__backend *b);

/*
 * The user event (backend.c: one definition for every backend, over the
 * user_token and user_raised fields and weft__backend_wake). _set makes
 * later raises report @token (NULL turns the
 * event off: after it returns no later wait reports the old token; one a
 * concurrent wait already collected may still be in flight, as with
 * weft__backend_del). Any thread. _raise makes the current or the next
 * wait report the event once: 0, or -errno if the wake-up channel is
 * broken. Any thread; async-signal-safe (a signal handler raises it).
 */
void weft__backend_user_set(struct weft__backend *b, void *token);
int weft__backend_user_raise(struct weft__backend *b);

/* For the backends' inits: every field as for a backend not made yet
 * (no descriptors, no user event), of kind @kind. */
static inline void weft__backend_clear(struct weft__backend *b, weft_backend kind)
{
	b->kind = kind;
	b->priv = NULL;
	b->failed_call = NULL;
	atomic_init(&b->user_token, NULL);
	atomic_init(&b->user_raised, false);
	b->fd = b->wake_fd = -1;
}

/*
 * For the backends' waits, once the wait retrieved its wake-up (a raise
 * sets user_raised before it wakes, so one seen is not missed): if a
 * raise is pending, stores the user event at evs[@out] (the wake-up's
 * own entry left room for it in the caller's @cap) and returns @out + 1,
 * else @out.
 */
static inline int weft__backend_user_take(struct weft__backend *b,
					  struct weft__backend_event *evs, int out)
{
	/* Relaxed load first: it spares the locked exchange on every
	 * ordinary wake-up. Acquire exchange: pairs with the raise's
	 * release, so what the raiser wrote before is in view of whoever
	 * the reactor wakes for it. */
	if (!atomic_load_explicit(&b->user_raised, memory_order_relaxed) ||
	    !atomic_exchange_explicit(&b->user_raised, false, memory_order_acquire))
		return out;
	/* Acquire: pairs with _set's release of the token. */
	void *token = atomic_load_explicit(&b->user_token, memory_order_acquire);
	if (!token)
		return out;
	evs[out].token = token;
	evs[out].ready = WEFT__READY_READABLE;
	return out + 1;
}

#endif /* WEFT__IO_BACKEND_H */
