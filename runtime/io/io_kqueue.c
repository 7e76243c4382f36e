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
 * "rule N"). Four #ifdefs: how the kqueue descriptor is closed (the
 * double cannot see close(2) of it, and would keep its internal
 * descriptors open until the number is reused); twice, whether the
 * system has EVFILT_USER at all; and udata's type (an intptr_t on NetBSD
 * before 10: WEFT__KQ_UDATA and WEFT__KQ_TOKEN).
 *
 * Changes ride on the wait. weft__backend_add and weft__backend_del make
 * no call: each queues one change (fd, token; token NULL for a removal)
 * under the backend lock, and the waiting thread takes the queue, oldest
 * first, expands each change into its two kevents (EV_ADD | EV_CLEAR with
 * the token as udata, or EV_DELETE) and hands them to the kevent call
 * that waits, which applies them before it collects any event (rule 10).
 * A runtime that registers a hundred sockets between two turns makes one
 * kevent call for all of them. Only the waiting thread ever hands changes
 * to the kernel, in queue order, so a removal and a registration of the
 * same fd number (closed and reused) reach it in the order they were
 * made, whatever the threads: no call of another thread can overtake a
 * change the waiting thread has taken and not yet sent.
 *
 * A thread blocked in the waiting call does not see changes queued after
 * it took the queue. A registration queued while a call that may sleep is
 * in flight wakes it (once per call: `kicked`); a wait whose call
 * returned with the wake-up and finds changes queued sends them at once,
 * in a call that does not sleep, and one whose call other events ended
 * first leaves them to the next wait, which comes at once since it has
 * events to hand over. A removal does not wake (see "Why a queued delete
 * is safe").
 *
 * The calls a wait makes, in a loop (weft__backend_wait):
 *  - a receipt call: changes beyond what one call can take (at most half
 *    the eventlist's room, two kevents each, so that every change's error
 *    fits: rule 8), each marked EV_RECEIPT so the call collects no event
 *    (rule 9); then the loop goes on with the rest;
 *  - the waiting call: the last changes, then a sleep up to the timeout
 *    (a poll if events were gathered already or after a wake-up); if
 *    only errors came back it did not sleep (rule 9), and the loop goes
 *    on; after a wake-up with changes queued, once more as a poll;
 *  - a resend: after EINTR, the same changes again as a receipt call,
 *    and the wait returns (see "Errors").
 * Room: events go to the caller's array, at most @cap; once a wake-up
 * was retrieved one entry stays free for the user event.
 *
 * Errors come back per change without EV_RECEIPT: a change that fails is
 * returned with EV_ERROR and its errno in data, ident and udata kept
 * (rule 8);
 * one that succeeds returns nothing, so the call can still sleep.
 * (EV_RECEIPT would return every change, and a call that returns any
 * such entry does not wait, rule 9: each wait with changes would cost a
 * second call.) A call that returned errors collected no event; the
 * wait calls again.
 *  - A refused registration (udata: its token) is reported as the event
 *    { token, WEFT__READY_FAILED | READABLE | WRITABLE, -errno }
 *    (io_backend.h): the registration returned 0 long before, so the
 *    reactor keeps the error in the slot and the slot's operations return
 *    it (reactor.c, "Refused registrations"). Unless the same fd's
 *    removal follows it, in this call or still queued: then the slot is
 *    dead, maybe freed (the reactor frees it at a turn's start, after the
 *    removal), and the refusal is dropped. A filter the kernel accepted
 *    while it refused the other stays until that removal deletes both.
 *  - A refused delete (udata NULL) of a closed fd (EBADF, or ENOENT once
 *    the number is reused) is harmless: the close dropped the knotes
 *    (rule 13). Another error leaves a knote naming a token the reactor
 *    frees: the wait fails, as a failed wait does, and the error is
 *    sticky (`broken`).
 *
 * Memory. The queue grows while changes come faster than turns (the
 * scheduler turns the reactor at least every event_interval ticks, so it
 * stays short). Each registration reserves room for its removal too
 * (`promised`), so the removal of a registration never allocates and
 * never fails for want of memory: a removal that could not be queued
 * would leave a knote naming a freed slot. (A removal that no
 * registration owes, a misuse, allocates, and breaks the backend if it
 * cannot.) A registration that finds no memory fails
 * with -ENOMEM before anything is queued.
 *
 * Why a queued delete is safe. The reactor frees a removed slot at the
 * start of a later turn, before that turn waits (reactor.c, "Lifetime");
 * that wait sends the queued removal before it collects any event, so no
 * event names a freed slot, unless the fd was closed first, in which case
 * the kernel dropped the knotes at the close (rule 13). A removal need
 * not wake a sleeping wait: until that wait returns, the slot is not
 * freed, and an event it collects for the dead slot is harmless.
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
 * wake-up with no events: the caller waits again). The kernel applied
 * every change before it (rule 12), but an injected EINTR (sys.h's
 * fault sites) applied none, so the wait sends them again, in a receipt
 * call: twice is harmless (an EV_ADD of an existing knote modifies it, a
 * second EV_DELETE is ENOENT, and no later change of the same fd can
 * come between). Anything else is returned as -errno with
 * b->failed_call "kevent", and the reactor makes it the runtime's sticky
 * error. A failed call's changes are lost with it (the backend is
 * unusable after it). A harmful delete error, or a wake-up a registration
 * could not send, makes the backend `broken`: the next wait returns the
 * error, and so does a later registration. weft__backend_wake treats a
 * full pipe (EAGAIN) as success: a wake-up is already pending.
 */
#include "io_backend.h"
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <string.h>
#include <unistd.h>

/* udata is a pointer everywhere but on NetBSD before 10, where it is an
 * intptr_t: these two macros carry a token into and out of it. */
#if defined(__NetBSD__) && defined(__NetBSD_Version__) && __NetBSD_Version__ < 1000000000
#define WEFT__KQ_UDATA(p) ((intptr_t)(p))
#define WEFT__KQ_TOKEN(e) ((void *)(e)->udata)
#else
#define WEFT__KQ_UDATA(p) (p)
#define WEFT__KQ_TOKEN(e) ((e)->udata)
#endif

/* The ident of the wake-up's EVFILT_USER event. */
#define WEFT__KQ_WAKE_IDENT 0
/* kevent entries of one waiting call: its changes, then its events. */
#define WEFT__KQ_BATCH 256
/* Changes the queue has room for at first. */
#define WEFT__KQ_QUEUE_MIN 32

/* A queued change: the registration of fd with token, or (token NULL)
 * its removal. Two kevents each, made by the waiting thread. */
struct weft__kq_change {
	int fd;
	void *token;
};

struct weft__kq {
	/* Guards everything below but the pipe's descriptors. */
	pthread_mutex_t lock;
	/* Changes not yet taken by a wait, oldest first: nqueue of cap.
	 * cap >= nqueue + promised at all times (see "Memory"). */
	struct weft__kq_change *queue;
	size_t nqueue;
	size_t cap;
	/* Removals owed: registrations queued and not removed since. */
	size_t promised;
	/* A wait that may sleep took the queue and has not returned; and
	 * whether a registration woke it since. */
	bool waiting;
	bool kicked;
	/* 0, or the -errno that made the backend unusable (see "Errors"). */
	int broken;
	/* The pipe that replaces EVFILT_USER where it is missing, else -1.
	 * Written once, at init. */
	int pipe_rd;
	int pipe_wr;
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

/* One change now, at init (nothing is queued yet): marked EV_RECEIPT, so
 * it comes back with its error in data, 0 on success, and the call
 * collects no event (rules 8, 9). 0 or -errno. */
static int weft__kq_change_now(enum weft__fault_site site, int kq, struct kevent *ch)
{
	static const struct timespec zero = { 0, 0 };
	ch->flags |= EV_RECEIPT;
	int n = weft__kevent(site, kq, ch, 1, ch, 1, &zero);
	if (n < 0)
		return n;
	return n == 1 && (ch->flags & EV_ERROR) && ch->data ? -(int)ch->data : 0;
}

/* Records the first error that makes the backend unusable. Lock held. */
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
	EV_SET(&ch, WEFT__KQ_WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0,
	       WEFT__KQ_UDATA(NULL));
	return weft__kq_change_now(WEFT__FAULT_BACKEND_WAKE, b->fd, &ch);
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
	EV_SET(&ch, (uintptr_t)p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, WEFT__KQ_UDATA(NULL));
	rc = weft__kq_change_now(WEFT__FAULT_BACKEND, b->fd, &ch);
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
	weft__backend_clear(b, kind);
	if (kind != WEFT_BACKEND_KQUEUE)
		return -ENOTSUP;
	struct weft__kq *kq = weft__calloc(1, sizeof *kq);
	if (!kq)
		return -ENOMEM;
	kq->pipe_rd = kq->pipe_wr = -1;
	int rc = -ENOMEM;
	kq->queue = weft__calloc(WEFT__KQ_QUEUE_MIN, sizeof *kq->queue);
	if (!kq->queue)
		goto err_free;
	kq->cap = WEFT__KQ_QUEUE_MIN;
	rc = weft__sys_mutex_init(&kq->lock, NULL);
	if (rc < 0)
		goto err_free;
	rc = b->fd = weft__kq_create();
	if (rc < 0)
		goto err_mutex;
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
err_mutex:
	pthread_mutex_destroy(&kq->lock);
err_free:
	weft__free(kq->queue);
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
	pthread_mutex_destroy(&kq->lock);
	weft__free(kq->queue);
	weft__free(kq);
	b->priv = NULL;
	b->fd = b->wake_fd = -1;
}

/* Makes the queue's room at least nqueue + promised + @extra. 0 or
 * -ENOMEM (then nothing changed). Lock held. */
static int weft__kq_reserve(struct weft__kq *kq, size_t extra)
{
	size_t need = kq->nqueue + kq->promised + extra;
	if (need <= kq->cap)
		return 0;
	size_t cap = kq->cap;
	while (cap < need)
		cap *= 2;
	struct weft__kq_change *q = weft__calloc(cap, sizeof *q);
	if (!q)
		return -ENOMEM;
	if (kq->nqueue)
		memcpy(q, kq->queue, kq->nqueue * sizeof *q);
	weft__free(kq->queue);
	kq->queue = q;
	kq->cap = cap;
	return 0;
}

int weft__backend_add(struct weft__backend *b, int fd, void *token)
{
	struct weft__kq *kq = b->priv;
	pthread_mutex_lock(&kq->lock);
	/* Room for this registration and its removal ("Memory"). */
	int rc = kq->broken ? kq->broken : weft__kq_reserve(kq, 2);
	bool kick = false;
	if (rc == 0) {
		kq->queue[kq->nqueue++] = (struct weft__kq_change){ fd, token };
		kq->promised++;
		/* A wait asleep would not see it until something else
		 * woke it: wake it, once per call. */
		kick = kq->waiting && !kq->kicked;
		kq->kicked = kq->kicked || kick;
	}
	pthread_mutex_unlock(&kq->lock);
	if (kick) {
		int w = weft__backend_wake(b);
		if (w < 0) {
			/* Queued, so not an error of this registration: the
			 * wait that cannot be woken is broken. */
			pthread_mutex_lock(&kq->lock);
			weft__kq_break(kq, w);
			pthread_mutex_unlock(&kq->lock);
		}
	}
	return rc;
}

int weft__backend_del(struct weft__backend *b, int fd)
{
	struct weft__kq *kq = b->priv;
	int rc = 0;
	pthread_mutex_lock(&kq->lock);
	if (kq->promised > 0)
		kq->promised--;   /* its room was reserved: rc stays 0 */
	else
		rc = weft__kq_reserve(kq, 1);   /* no registration owed it */
	if (rc == 0)
		kq->queue[kq->nqueue++] = (struct weft__kq_change){ fd, NULL };
	else
		weft__kq_break(kq, rc);   /* a knote would outlive its token */
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

/* Takes at most @max changes, oldest first, into @taken and marks a
 * call in flight if it may sleep (@may_sleep, and nothing left queued).
 * Returns how many, and in *@more whether changes are left; or -errno
 * if the backend is broken. */
static int weft__kq_take(struct weft__kq *kq, struct weft__kq_change *taken, int max,
			 bool may_sleep, bool *more)
{
	pthread_mutex_lock(&kq->lock);
	int n = kq->broken;
	if (n == 0) {
		n = kq->nqueue < (size_t)max ? (int)kq->nqueue : max;
		memcpy(taken, kq->queue, (size_t)n * sizeof *taken);
		kq->nqueue -= (size_t)n;
		memmove(kq->queue, kq->queue + n, kq->nqueue * sizeof *kq->queue);
		*more = kq->nqueue > 0;
		kq->waiting = may_sleep && !*more;
	}
	pthread_mutex_unlock(&kq->lock);
	return n;
}

/* The call that may have slept returned: a registration queued from now
 * on is seen by the next call, without a wake-up. Returns whether changes
 * were queued meanwhile. */
static bool weft__kq_landed(struct weft__kq *kq)
{
	pthread_mutex_lock(&kq->lock);
	kq->waiting = false;
	kq->kicked = false;
	bool queued = kq->nqueue > 0;
	pthread_mutex_unlock(&kq->lock);
	return queued;
}

/* Whether the registration @taken[@i] is followed by its fd's removal,
 * later in @taken or still queued: then its slot is dead (see the top,
 * "Errors come back per change"). */
static bool weft__kq_removed_later(struct weft__kq *kq, const struct weft__kq_change *taken,
				   int i, int ntaken)
{
	int fd = taken[i].fd;
	for (int j = i + 1; j < ntaken; j++)
		if (taken[j].fd == fd && !taken[j].token)
			return true;
	bool found = false;
	pthread_mutex_lock(&kq->lock);
	for (size_t j = 0; j < kq->nqueue && !found; j++)
		found = kq->queue[j].fd == fd && !kq->queue[j].token;
	pthread_mutex_unlock(&kq->lock);
	return found;
}

/* An EV_ERROR entry of a change the call carried: stores a refused
 * registration's event at evs[@out] and returns @out + 1, or returns
 * @out (a refusal to drop, a harmless delete error), or -errno (a
 * delete refused so that its knote outlives its token). */
static int weft__kq_change_error(struct weft__kq *kq, const struct kevent *e,
				 const struct weft__kq_change *taken, int ntaken,
				 struct weft__backend_event *evs, int out)
{
	int err = (int)e->data;
	if (err == 0)
		return out;
	void *token = WEFT__KQ_TOKEN(e);
	if (!token) {
		/* A delete: its fd was closed, which dropped the knotes
		 * (EBADF; ENOENT once the number is reused). */
		return err == EBADF || err == ENOENT ? out : -err;
	}
	int i = 0;
	while (i < ntaken && !(taken[i].token == token && taken[i].fd == (int)e->ident))
		i++;
	if (i == ntaken || weft__kq_removed_later(kq, taken, i, ntaken))
		return out;
	/* Both filters refused: one event. */
	if (out > 0 && evs[out - 1].token == token && (evs[out - 1].ready & WEFT__READY_FAILED))
		return out;
	evs[out].token = token;
	evs[out].ready = WEFT__READY_FAILED | WEFT__READY_READABLE | WEFT__READY_WRITABLE;
	evs[out].err = -err;
	return out + 1;
}

int weft__backend_wait(struct weft__backend *b, struct weft__backend_event *evs,
		       int cap, int64_t timeout_ns)
{
	static const struct timespec zero = { 0, 0 };
	struct weft__kq *kq = b->priv;
	struct kevent raw[WEFT__KQ_BATCH];
	struct weft__kq_change taken[WEFT__KQ_BATCH / 2];
	struct timespec ts, *tsp = NULL;
	if (timeout_ns >= 0) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000);
		ts.tv_nsec = (long)(timeout_ns % 1000000000);
		tsp = &ts;
	}
	if (cap > WEFT__KQ_BATCH)
		cap = WEFT__KQ_BATCH;
	if (cap < 2) {
		/* One change is two kevents: with less room none could be
		 * sent, and a poll would collect events while removals are
		 * queued (io_backend.h asks for 2). */
		b->failed_call = "kevent";
		return -EINVAL;
	}
	int out = 0;
	bool woken = false;
	bool queued = false;   /* changes came while the call slept */
	bool resend = false;   /* the taken changes go again (EINTR) */
	int ntaken = 0;
	for (;;) {
		/* The eventlist's room: what evs can still hold, less the
		 * user event's entry once a wake-up was retrieved (within
		 * one call the wake-up's own entry leaves that room, not
		 * across calls). At most half of it in changes: each is two
		 * kevents, and each may come back as an error (rule 8). */
		int room = cap - out - (woken ? 1 : 0);
		bool more = resend;   /* a resend collects nothing, as below */
		bool may_sleep = out == 0 && !woken && !resend && timeout_ns != 0;
		if (!resend)
			ntaken = weft__kq_take(kq, taken, room / 2, may_sleep, &more);
		if (ntaken < 0) {
			b->failed_call = "kevent";
			return ntaken;
		}
		for (int i = 0; i < ntaken; i++) {
			uintptr_t fd = (uintptr_t)taken[i].fd;
			if (taken[i].token) {
				EV_SET(&raw[2 * i], fd, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0,
				       WEFT__KQ_UDATA(taken[i].token));
				EV_SET(&raw[2 * i + 1], fd, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, 0,
				       WEFT__KQ_UDATA(taken[i].token));
			} else {
				EV_SET(&raw[2 * i], fd, EVFILT_READ, EV_DELETE, 0, 0, WEFT__KQ_UDATA(NULL));
				EV_SET(&raw[2 * i + 1], fd, EVFILT_WRITE, EV_DELETE, 0, 0,
				       WEFT__KQ_UDATA(NULL));
			}
		}
		/* Changes left over: this call must collect no event, since
		 * a removal still queued may name a slot freed at this
		 * turn's start ("Why a queued delete is safe"). EV_RECEIPT
		 * makes every change return an entry, and a call that
		 * returns any does not scan for events (rule 9). */
		if (more)
			for (int i = 0; i < 2 * ntaken; i++)
				raw[i].flags |= EV_RECEIPT;
		/* Events gathered already: poll, do not sleep. */
		const struct timespec *t = more || !may_sleep ? &zero : tsp;
		int n = weft__kevent(WEFT__FAULT_BACKEND_WAIT, b->fd, raw, 2 * ntaken, raw, room, t);
		if (may_sleep && !more)
			queued = weft__kq_landed(kq);
		if (n < 0) {
			/* EINTR: a signal (the current-thread flavour runs on
			 * the application's thread) ended the wait early: a
			 * wake-up with no events, as in io_epoll.c. The
			 * kernel applied the changes first (rule 12), but an
			 * injected EINTR (sys.h's fault sites) did not: they
			 * are sent again, in a call that collects nothing.
			 * Twice is harmless: an EV_ADD of an existing knote
			 * modifies it, a second EV_DELETE is ENOENT, and no
			 * later change of the same fd can come between. */
			if (n == -EINTR && ntaken > 0) {
				resend = true;
				continue;
			}
			if (n == -EINTR)
				break;
			b->failed_call = "kevent";
			return n;
		}
		bool errors_only = n > 0 && !resend;
		for (int i = 0; i < n; i++) {
			const struct kevent *e = &raw[i];
			if (e->flags & EV_ERROR) {
				int rc = weft__kq_change_error(kq, e, taken, ntaken, evs, out);
				if (rc < 0) {
					pthread_mutex_lock(&kq->lock);
					weft__kq_break(kq, rc);
					pthread_mutex_unlock(&kq->lock);
					b->failed_call = "kevent";
					return rc;
				}
				out = rc;
				continue;
			}
			errors_only = false;
			if (WEFT__KQ_TOKEN(e) == NULL) {
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
			evs[out].token = WEFT__KQ_TOKEN(e);
			evs[out].ready = weft__kq_ready(e);
			out++;
		}
		/* Errors end a call before it waits (rule 9), and changes
		 * left over were sent with no wait: call again. So too after
		 * a wake-up that came with changes (a registration's kick):
		 * they are sent now, with a poll, not a turn later. */
		if (resend)
			break;   /* what the EINTR ended: a wake-up with no events */
		if (!errors_only && !more && !(woken && queued))
			break;
		queued = false;
		if (cap - out - (woken ? 1 : 0) < 2)
			break;   /* no room: the rest ride on the next wait */
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
		EV_SET(&ch, WEFT__KQ_WAKE_IDENT, EVFILT_USER, 0, NOTE_TRIGGER, 0,
		       WEFT__KQ_UDATA(NULL));
		return kevent(b->fd, &ch, 1, NULL, 0, NULL) < 0 ? -errno : 0;
#endif
	}
	/* EAGAIN: the pipe is full, which already means a wake-up is
	 * pending: success. */
	ssize_t r = write(kq->pipe_wr, "", 1);
	return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK ? -errno : 0;
}
