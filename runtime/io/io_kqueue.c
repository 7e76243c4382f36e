/*
 * io_kqueue.c - the BSD and macOS backend: one kqueue; every fd added
 * once as two knotes, EVFILT_READ and EVFILT_WRITE, each EV_ADD |
 * EV_CLEAR (edge semantics, like the epoll backend's EPOLLET) with the
 * slot as udata; an EVFILT_USER event (udata NULL) to end a wait from
 * another thread and to carry the user event, or a pipe where the system
 * has no EVFILT_USER.
 *
 * This file owns its syscalls: kqueue, kevent and the wake-up pipe's
 * calls are wrapped here, each consulting the backend fault sites first
 * (sys.h). On Linux the simulated build (meson: "kqueue: simulated")
 * compiles this file unchanged against the kevent test double, whose
 * <sys/event.h> the include path puts first (tests/kqueue_double/, its
 * header holds the kevent rules this file relies on, cited below as
 * "rule N"). Three #ifdefs: how the kqueue descriptor is closed (the
 * double cannot see close(2) of it, and would keep its internal
 * descriptors open until the number is reused), and, twice, whether the
 * system has EVFILT_USER at all.
 *
 * Changes. A registration (weft__backend_add) is one kevent call: its two
 * EV_ADDs marked EV_RECEIPT, so each comes back with its own error (data,
 * 0 on success: rule 8), and with exactly as much eventlist as changes,
 * so the call returns without collecting events (rule 9) and never takes
 * an event meant for the waiting thread. A removal (weft__backend_del)
 * makes no call of its own: its two EV_DELETEs are queued and ride on the
 * next kevent call, the next registration's or the wait's. A wait whose
 * queued deletes fail (the fd was closed after the removal, which already
 * dropped its knotes: EBADF, or ENOENT once the number is reused) gets
 * those errors back and no events (rule 9); it calls kevent again, once,
 * with no changes and the same timeout (the first call did not sleep).
 *
 * Registration is one kevent call per fd, not batched into the wait as
 * issue 13 asked: its errors (EBADF, ENOMEM, a file kqueue refuses) must
 * reach weft__io_register's caller before it returns, and the reactor
 * frees the token at once on failure; a change riding on another
 * thread's wait would report its error too late for both. Only removals,
 * whose errors are harmless when the fd was closed, are batched.
 *
 * Why a queued delete is safe. The reactor frees a removed slot at the
 * start of a later turn, before that turn waits (reactor.c, "Lifetime");
 * that wait applies the queued deletes before it collects any event
 * (rule 10), so no event names a freed slot, unless the fd was closed, in
 * which case the kernel dropped the knotes at the close (rule 13). The
 * one hazard is a number closed and reused: a new fd with the number of
 * a removed one is added while that removal's deletes are still queued
 * or in the waiting thread's call, and the deletes land after the new
 * EV_ADDs, unregistering the new fd. Two rules close it, both under the
 * backend lock: a registration sends the queued deletes first in its own
 * call (kevent applies changes in order); and a registration of a number
 * whose deletes the waiting thread has taken ("in flight": its kevent may
 * not have applied them yet) wakes that thread and waits on the condition
 * variable until its kevent returned, which applied them. No test
 * reaches that wait (the double applies a call's changes before it
 * sleeps); the rule is kept rather than libuv's skipping of EV_DELETE
 * for fds about to be closed, because this backend is not told that a
 * close follows a removal (docs/DESIGN.md, kqueue backend).
 *
 * The user event rides on the wake-up exactly as in io_epoll.c: raising
 * sets user_raised, then triggers the wake-up; a wait that retrieves the
 * wake-up (EV_CLEAR resets the trigger, or the pipe is drained) exchanges
 * the flag afterwards. A raise whose flag the exchange missed triggered
 * after the reset, so the next wait reports it. Timers stay in weft's
 * wheel: the wait's timeout is the next deadline, no EVFILT_TIMER.
 * Signals keep weft's handler (signal.c), which raises the user event:
 * EVFILT_SIGNAL would add nothing the handler does not do on Linux too,
 * and would record signals only beside a disposition weft sets anyway.
 *
 * Errors. Only EINTR from the waiting kevent is hidden (reported as a
 * wake-up with no events: the caller waits again); anything else is
 * returned as -errno with b->failed_call "kevent", and the reactor makes
 * it the runtime's sticky error. A failed wait's deletes are not queued
 * again (the backend is unusable after it). A change that may leave a
 * knote whose token the reactor frees counts as such a failure: a delete
 * refused with another error than EBADF or ENOENT (in the wait, in a
 * registration's call or a flush), and a failed undo of a registration
 * one of whose two filters the kernel refused (the one that succeeded
 * is deleted again). A registration or flush that sends nothing
 * (the kevent call itself fails) keeps the queued deletes, this removal
 * included. weft__backend_wake treats a full pipe (EAGAIN) as success: a
 * wake-up is already pending.
 */
#include "io_backend.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

/* The ident of the wake-up's EVFILT_USER event. */
#define WEFT__KQ_WAKE_IDENT 0
/* Queued EV_DELETEs (two per removed fd) before a removal sends them at
 * once. Below the wait's batch, so a wait always has eventlist room for
 * every queued change's error and at least one event (rule 8). */
#define WEFT__KQ_PENDING_MAX 128
/* The most a queue holds: PENDING_MAX, plus the removals kept while
 * flushes of a full queue fail (weft__backend_del). */
#define WEFT__KQ_QUEUE_MAX (2 * WEFT__KQ_PENDING_MAX)
/* The arrays' room: the queue plus a registration's two changes. */
#define WEFT__KQ_ROOM (WEFT__KQ_QUEUE_MAX + 2)
#define WEFT__KQ_BATCH 256

struct weft__kq {
	/* Guards everything below but the pipe's descriptors. */
	pthread_mutex_t lock;
	/* Signalled when the waiting thread's kevent call returned and its
	 * changes are no longer in flight. */
	pthread_cond_t flushed;
	struct kevent *pending;   /* queued EV_DELETEs, oldest first */
	int npending;
	struct kevent *flight;    /* those the waiting thread's call carries */
	int nflight;
	/* 0, or the -errno of a change that failed and may have left a
	 * knote whose token the reactor frees (a delete refused for another
	 * reason than a closed fd, a registration's undo refused): the next
	 * wait returns it, as a failed wait, and the backend is unusable. */
	int broken;
	/* The pipe that replaces EVFILT_USER where it is missing, else -1.
	 * Written once, at init. */
	int pipe_rd;
	int pipe_wr;
	struct kevent room[2][WEFT__KQ_ROOM];
};

/* ------------------------------------------------------ own syscalls */

static int weft__kq_create(void)
{
	int f = weft__fault_hit(WEFT__FAULT_BACKEND);
	if (f)
		return f;
	int kq = kqueue();
	if (kq < 0)
		return -errno;
	/* The queue is not inherited across fork (kqueue(2)); across exec
	 * it would be, without this. */
	if (fcntl(kq, F_SETFD, FD_CLOEXEC) < 0) {
		int err = -errno;
		close(kq);
		return err;
	}
	return kq;
}

static void weft__kq_close(int kq)
{
#ifdef WEFT_KQUEUE_DOUBLE
	/* The double cannot see close(2) of its queue (kqueue_double.h). */
	(void)kqueue_double_close(kq);
#else
	weft__sys_close(kq);
#endif
}

/* kevent(2) with @site's fault first; the count or -errno. */
static int weft__kevent(enum weft__fault_site site, int kq, const struct kevent *ch, int nch,
			struct kevent *evs, int nevs, const struct timespec *ts)
{
	int f = weft__fault_hit(site);
	if (f)
		return f;
	return (int)weft__sys_result(kevent(kq, ch, nch, evs, nevs, ts));
}

/* Sends @n changes now, each marked EV_RECEIPT, with the same array as
 * the eventlist and exactly @n entries of it: each change comes back with
 * its error in data (0: done), and the call collects no event (rules 8,
 * 9, 10). Returns n or -errno (then nothing is known to be applied). */
static int weft__kq_send(int kq, struct kevent *ch, int n)
{
	static const struct timespec zero = { 0, 0 };
	for (int i = 0; i < n; i++)
		ch[i].flags |= EV_RECEIPT;
	return weft__kevent(WEFT__FAULT_BACKEND, kq, ch, n, ch, n, &zero);
}

/* The error a sent EV_DELETE came back with that means harm: 0 when it
 * was applied or its knote was gone already (the fd was closed, which
 * removed it: EBADF, or ENOENT once the number is reused), else -errno. */
static int weft__kq_delete_error(const struct kevent *e)
{
	if (!(e->flags & EV_ERROR) || e->data == 0 || e->data == EBADF || e->data == ENOENT)
		return 0;
	return -(int)e->data;
}

/* Records the first harmful error (see struct weft__kq's broken). Lock
 * held. */
static void weft__kq_break(struct weft__kq *kq, int rc)
{
	if (rc < 0 && kq->broken == 0)
		kq->broken = rc;
}

/* ------------------------------------------------------------ backend */

/* The wake-up: an EVFILT_USER event where the system has it (0), else
 * -EINVAL (rule 18: an unknown filter) and the caller makes the pipe, or
 * another -errno. */
static int weft__kq_wake_user(struct weft__backend *b)
{
#ifdef EVFILT_USER
	struct kevent ch;
	/* The zero timeout, as in weft__kq_send: with EV_RECEIPT the call
	 * returns after the change anyway (rule 9). */
	static const struct timespec zero = { 0, 0 };
	EV_SET(&ch, WEFT__KQ_WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, NULL);
	int n = weft__kevent(WEFT__FAULT_BACKEND_WAKE, b->fd, &ch, 1, &ch, 1, &zero);
	if (n < 0)
		return n;
	return n == 1 && (ch.flags & EV_ERROR) && ch.data ? -(int)ch.data : 0;
#else
	(void)b;
	return -EINVAL;
#endif
}

/* The pipe that stands for EVFILT_USER: both ends non-blocking and
 * close-on-exec, the read end added with EVFILT_READ | EV_CLEAR, udata
 * NULL. 0 or -errno. */
static int weft__kq_wake_pipe(struct weft__backend *b, struct weft__kq *kq)
{
	int f = weft__fault_hit(WEFT__FAULT_BACKEND_WAKE);
	if (f)
		return f;
	int p[2];
	int rc = weft__sys_pipe(p);
	if (rc < 0)
		return rc;
	struct kevent ch;
	EV_SET(&ch, (uintptr_t)p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	rc = weft__kq_send(b->fd, &ch, 1);
	if (rc >= 0)
		rc = -(int)ch.data;
	if (rc < 0) {
		weft__sys_close(p[0]);
		weft__sys_close(p[1]);
		return rc;
	}
	kq->pipe_rd = p[0];
	kq->pipe_wr = p[1];
	return 0;
}

int weft__backend_init(struct weft__backend *b, weft_backend kind)
{
	b->kind = kind;
	b->priv = NULL;
	b->failed_call = NULL;
	atomic_init(&b->user_token, NULL);
	atomic_init(&b->user_raised, false);
	b->fd = b->wake_fd = -1;
	if (kind != WEFT_BACKEND_KQUEUE)
		return -ENOTSUP;
	struct weft__kq *kq = weft__calloc(1, sizeof *kq);
	if (!kq)
		return -ENOMEM;
	kq->pending = kq->room[0];
	kq->flight = kq->room[1];
	kq->pipe_rd = kq->pipe_wr = -1;
	int rc = weft__sys_mutex_init(&kq->lock, NULL);
	if (rc < 0)
		goto err_free;
	rc = weft__sys_cond_init(&kq->flushed, NULL);
	if (rc < 0)
		goto err_mutex;
	rc = b->fd = weft__kq_create();
	if (rc < 0)
		goto err_cond;
	rc = weft__kq_wake_user(b);
	if (rc == -EINVAL)   /* no EVFILT_USER here */
		rc = weft__kq_wake_pipe(b, kq);
	if (rc < 0)
		goto err_kq;
	b->wake_fd = kq->pipe_wr;
	b->priv = kq;
	return 0;

err_kq:
	weft__kq_close(b->fd);
	b->fd = -1;
err_cond:
	pthread_cond_destroy(&kq->flushed);
err_mutex:
	pthread_mutex_destroy(&kq->lock);
err_free:
	weft__free(kq);
	return rc;
}

void weft__backend_fini(struct weft__backend *b)
{
	struct weft__kq *kq = b->priv;
	if (!kq)
		return;
	if (kq->pipe_rd >= 0) {
		weft__sys_close(kq->pipe_rd);
		weft__sys_close(kq->pipe_wr);
	}
	weft__kq_close(b->fd);
	pthread_cond_destroy(&kq->flushed);
	pthread_mutex_destroy(&kq->lock);
	weft__free(kq);
	b->priv = NULL;
	b->fd = b->wake_fd = -1;
}

/* Whether the waiting thread's call carries a delete of @fd. Lock held. */
static bool weft__kq_in_flight(const struct weft__kq *kq, int fd)
{
	for (int i = 0; i < kq->nflight; i++)
		if (kq->flight[i].ident == (uintptr_t)fd)
			return true;
	return false;
}

int weft__backend_add(struct weft__backend *b, int fd, void *token)
{
	struct weft__kq *kq = b->priv;
	pthread_mutex_lock(&kq->lock);
	/* See "Why a queued delete is safe" at the top. The wake-up error,
	 * if any, is the next wait's to report. */
	while (weft__kq_in_flight(kq, fd)) {
		(void)weft__backend_wake(b);
		pthread_cond_wait(&kq->flushed, &kq->lock);
	}
	/* The queued deletes first, then the two filters. */
	int n = kq->npending;
	struct kevent *ch = kq->pending;
	EV_SET(&ch[n], (uintptr_t)fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, token);
	EV_SET(&ch[n + 1], (uintptr_t)fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0, token);
	int rc = weft__kq_send(b->fd, ch, n + 2);
	if (rc < 0) {
		/* Nothing known applied: the deletes stay queued. */
		for (int i = 0; i < n; i++)
			ch[i].flags &= (unsigned short)~EV_RECEIPT;
		pthread_mutex_unlock(&kq->lock);
		return rc;
	}
	/* A delete's EBADF or ENOENT means its knote was gone already;
	 * another error leaves a knote whose token is freed: broken. */
	kq->npending = 0;
	for (int i = 0; i < n; i++)
		weft__kq_break(kq, weft__kq_delete_error(&ch[i]));
	int rd = -(int)ch[n].data;
	int wr = -(int)ch[n + 1].data;
	rc = rd ? rd : wr;
	if ((rd == 0) != (wr == 0)) {
		/* One filter registered: undo it, so a failed add leaves
		 * nothing behind (as epoll_ctl's does). If the undo fails
		 * too, that knote names a token the reactor frees now:
		 * broken. */
		EV_SET(&ch[0], (uintptr_t)fd, rd == 0 ? EVFILT_READ : EVFILT_WRITE, EV_DELETE, 0, 0,
		       NULL);
		int u = weft__kq_send(b->fd, ch, 1);
		weft__kq_break(kq, u < 0 ? u : ch[0].data ? -(int)ch[0].data : 0);
	}
	pthread_mutex_unlock(&kq->lock);
	return rc;
}

int weft__backend_del(struct weft__backend *b, int fd)
{
	struct weft__kq *kq = b->priv;
	int rc = 0;
	pthread_mutex_lock(&kq->lock);
	int n = kq->npending;
	if (n + 2 > WEFT__KQ_QUEUE_MAX) {
		/* Full, after flushes that failed: this removal cannot be
		 * kept, and its token will be freed: broken. */
		rc = kq->broken ? kq->broken : -ENOBUFS;
		weft__kq_break(kq, rc);
		pthread_mutex_unlock(&kq->lock);
		return rc;
	}
	EV_SET(&kq->pending[n], (uintptr_t)fd, EVFILT_READ, EV_DELETE, 0, 0, NULL);
	EV_SET(&kq->pending[n + 1], (uintptr_t)fd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	kq->npending = n + 2;
	if (kq->npending >= WEFT__KQ_PENDING_MAX) {
		/* A full queue goes now, this removal with it. */
		int s = weft__kq_send(b->fd, kq->pending, kq->npending);
		if (s >= 0) {
			for (int i = 0; i < kq->npending; i++)
				weft__kq_break(kq, weft__kq_delete_error(&kq->pending[i]));
			kq->npending = 0;
		} else {
			/* Nothing known applied: all stay queued, this
			 * removal too, for the next call to carry (the
			 * reactor frees the slot only after a later wait,
			 * reactor.c's "Lifetime"). */
			for (int i = 0; i < kq->npending; i++)
				kq->pending[i].flags &= (unsigned short)~EV_RECEIPT;
		}
	}
	pthread_mutex_unlock(&kq->lock);
	return rc;
}

static uint32_t weft__kq_ready(const struct kevent *e)
{
	uint32_t r;
	if (e->filter == EVFILT_READ) {
		r = WEFT__READY_READABLE;
		if (e->flags & EV_EOF)   /* the peer shut down its writing */
			r |= WEFT__READY_READ_CLOSED;
	} else {
		r = WEFT__READY_WRITABLE;
		if (e->flags & EV_EOF)   /* nothing more can be written */
			r |= WEFT__READY_WRITE_CLOSED;
	}
	/* With EV_EOF, fflags is the socket's pending error (rules 14, 15). */
	if ((e->flags & EV_EOF) && e->fflags)
		r |= WEFT__READY_ERROR;
	return r;
}

/* Drains the wake-up pipe. 0, or -errno if it is broken. */
static int weft__kq_pipe_drain(int fd)
{
	char buf[64];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r > 0)
			continue;
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		return 0;
	}
}

/* Takes the queued deletes for the waiting call into kq->flight (or, if
 * the eventlist could not hold all their errors, sends them now).
 * Returns how many the wait carries, or -errno: the backend is broken,
 * or the immediate send failed (its deletes stay queued). */
static int weft__kq_take_pending(struct weft__backend *b, struct weft__kq *kq, int cap)
{
	int n = 0;
	pthread_mutex_lock(&kq->lock);
	if (kq->broken) {
		n = kq->broken;
	} else if (kq->npending > 0 && kq->npending < cap) {
		struct kevent *t = kq->flight;
		kq->flight = kq->pending;
		kq->pending = t;
		n = kq->nflight = kq->npending;
		kq->npending = 0;
	} else if (kq->npending > 0) {
		int s = weft__kq_send(b->fd, kq->pending, kq->npending);
		if (s >= 0) {
			for (int i = 0; i < kq->npending; i++)
				weft__kq_break(kq, weft__kq_delete_error(&kq->pending[i]));
			kq->npending = 0;
			n = kq->broken;
		} else {
			for (int i = 0; i < kq->npending; i++)
				kq->pending[i].flags &= (unsigned short)~EV_RECEIPT;
			n = s;
		}
	}
	pthread_mutex_unlock(&kq->lock);
	return n;
}

/* The waiting call returned: its changes are out of flight. A failed
 * call (not EINTR, after which all were applied: rule 12) may not have
 * applied them; they are not queued again, since a failed wait makes
 * the backend unusable (io_backend.h). */
static void weft__kq_landed(struct weft__kq *kq)
{
	pthread_mutex_lock(&kq->lock);
	kq->nflight = 0;
	pthread_cond_broadcast(&kq->flushed);
	pthread_mutex_unlock(&kq->lock);
}

int weft__backend_wait(struct weft__backend *b, struct weft__backend_event *evs,
		       int cap, int64_t timeout_ns)
{
	struct weft__kq *kq = b->priv;
	struct kevent raw[WEFT__KQ_BATCH];
	struct timespec ts, *tsp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tsp = &ts;
	}
	if (cap > WEFT__KQ_BATCH)
		cap = WEFT__KQ_BATCH;
	int nch = weft__kq_take_pending(b, kq, cap);
	if (nch < 0) {
		b->failed_call = "kevent";
		return nch;
	}
	int out = 0;
	bool woken = false;
	for (;;) {
		int n = weft__kevent(WEFT__FAULT_BACKEND_WAIT, b->fd, kq->flight, nch, raw, cap, tsp);
		if (nch)
			weft__kq_landed(kq);
		if (n < 0) {
			/* EINTR: a signal (the current-thread flavour runs on
			 * the application's thread) ended the wait early: a
			 * wake-up with no events, as in io_epoll.c. */
			if (n == -EINTR)
				return 0;
			b->failed_call = "kevent";
			return n;
		}
		bool errors_only = n > 0;
		for (int i = 0; i < n; i++) {
			const struct kevent *e = &raw[i];
			if (e->flags & EV_ERROR) {
				/* A queued delete of a closed fd (EBADF,
				 * ENOENT) is harmless; another error left a
				 * knote whose token the reactor frees. */
				int rc = weft__kq_delete_error(e);
				if (rc < 0) {
					b->failed_call = "kevent";
					return rc;
				}
				continue;
			}
			errors_only = false;
			if (e->udata == NULL) {
				if (kq->pipe_rd >= 0) {
					int rc = weft__kq_pipe_drain(kq->pipe_rd);
					if (rc < 0) {
						b->failed_call = "wake-up pipe read";
						return rc;
					}
				}
				woken = true;
				continue;
			}
			evs[out].token = e->udata;
			evs[out].ready = weft__kq_ready(e);
			out++;
		}
		/* Errors only: they ended the call before it waited (rule
		 * 9); once more with no changes, which cannot end so. */
		if (!errors_only || nch == 0)
			break;
		nch = 0;
	}
	/* After the wake-up was retrieved (see the top). */
	if (woken)
		out = weft__backend_user_take(b, evs, out);
	return out;
}

int weft__backend_wake(struct weft__backend *b)
{
	struct weft__kq *kq = b->priv;
	if (kq->pipe_wr < 0) {
#ifdef EVFILT_USER
		/* One kevent call, no eventlist: async-signal-safe. */
		struct kevent ch;
		EV_SET(&ch, WEFT__KQ_WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
		return kevent(b->fd, &ch, 1, NULL, 0, NULL) < 0 ? -errno : 0;
#endif
	}
	/* EAGAIN: the pipe is full, which already means a wake-up is
	 * pending: success. */
	ssize_t r = write(kq->pipe_wr, "", 1);
	return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK ? -errno : 0;
}

void weft__backend_user_set(struct weft__backend *b, void *token)
{
	/* Release: the token's slot is initialised before a wait can
	 * report it (the wait's acquire load). */
	atomic_store_explicit(&b->user_token, token, memory_order_release);
}

int weft__backend_user_raise(struct weft__backend *b)
{
	/* Release: the raiser's writes (a signal's delivery record) happen
	 * before the wait that exchanges the flag; set before the trigger,
	 * so a wait that retrieved the trigger sees it (see the top). */
	atomic_store_explicit(&b->user_raised, true, memory_order_release);
	return weft__backend_wake(b);
}
