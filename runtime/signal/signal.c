/*
 * signal.c - signal listeners: a process-wide delivery record filled by
 * a minimal handler, and one hub per runtime that turns the handler's
 * raise of that runtime's backend user event into wakes of its pending
 * listeners.
 *
 * Protocol.
 *
 * Delivery record. The handler (signal context, any application thread)
 * takes a sequence number from weft__sig_seq and raises
 * weft__sig_last[sig] to it (a CAS maximum, so two concurrent deliveries
 * of one signal never move it back), then raises the user event of every
 * hub's reactor (weft__reactor_user_raise: an atomic store and, on epoll,
 * an eventfd write). Nothing else happens in signal context: all of it is
 * lock-free atomics and async-signal-safe syscalls, and errno is
 * preserved. A listener, when it registers, snapshots weft__sig_seq as
 * its `base`; a signal is pending for it when weft__sig_last[sig] > base
 * for a signal in its mask. Registration installs the handler before
 * taking the snapshot, so a delivery counted after the snapshot is a
 * delivery the handler saw.
 *
 * Ownership. One global mutex (weft__sig.lock) guards everything that is
 * not the delivery record: the per-signal listener counts and saved
 * dispositions, changes to the list of hubs, each hub's listener list,
 * every listener's stored waker, and the hub's reactor slot, which it
 * alone polls (the reactor allows one poller per direction: the lock
 * makes the hub that one poller). Signals are rare and registration is
 * cold, so one lock is enough.
 *
 * The hub list in signal context. The handler walks the hub list without
 * the lock (it cannot take one). A hub is linked in fully built (release
 * store of the head); to unlink one, its remover stores the new link and
 * then waits until no handler is inside the walk (weft__sig_walkers, a
 * count each handler raises before it loads the head and drops after its
 * last use of a hub). Both the store and the count's load are SeqCst, as
 * are the handler's increment and its loads of the links: either the
 * handler's loads came after the unlink and never reach the hub, or its
 * increment came before the remover's load, which then waits for it.
 * Only after that wait does the remover drop the hub's runtime
 * reference, so a handler never raises the user event of a freed
 * reactor. The wait is bounded by one handler's walk; a handler that
 * interrupted the remover's own thread finishes before the remover
 * resumes.
 *
 * Why no wakeup is lost. A listener's poll, under the lock, checks the
 * record, then stores its waker, then arms the hub: polls the slot with
 * the hub's own waker until the slot is not readable, clearing its
 * readiness each time. A delivery whose record update the check missed
 * raises the user event after it, so either arming sees the slot
 * readable (arming then reports it, and the caller wakes every listener
 * with a pending delivery, itself included) or the edge comes later and
 * the reactor wakes the hub waker stored by arming. The hub's wake runs
 * on the reactor's thread: under the lock it re-arms (its waker was
 * consumed) and takes the wakers of listeners with a pending delivery,
 * then wakes them with the lock released, a batch at a time. Each
 * runtime has its own user event, so no runtime's turn can consume
 * another's edge.
 *
 * Lifetime. A hub holds a runtime reference (its reactor must outlive
 * the slot and the handler's raises) and is freed when its reference
 * count reaches zero: one reference while it has listeners (in the
 * global list) and one per copy of its waker held by the reactor, so a
 * wake racing with the last listener's drop finds a live, dead-marked
 * hub and does nothing.
 */
#include "sys.h"
#include "task.h"
#include "io_reactor.h"
#include "sched_api.h"

#include <weft/signal.h>

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <signal.h>
#include <string.h>

#if ATOMIC_LLONG_LOCK_FREE != 2
#error "signal.c needs lock-free 64-bit atomics (they run in a signal handler)"
#endif

#define WEFT__SIG_MAX 64
#define WEFT__SIG_BATCH 16

/* Delivery record, written in signal context. */
static _Atomic uint64_t weft__sig_seq;
static _Atomic uint64_t weft__sig_last[WEFT__SIG_MAX + 1];
/* Handlers inside their walk of the hub list (see the protocol). */
static _Atomic unsigned weft__sig_walkers;

struct weft__signal_hub {
	weft_runtime *rt;
	struct weft__reactor *reactor;     /* rt's, raised by the handler */
	struct weft__io *io;               /* the reactor's user-event slot */
	_Atomic(struct weft__signal_hub *) next;   /* global list */
	weft_signal *listeners;
	_Atomic size_t refs;
	bool dead;
};

static struct {
	pthread_mutex_t lock;
	/* Changed under the lock, walked by the handler without it. */
	_Atomic(struct weft__signal_hub *) hubs;
	unsigned listeners[WEFT__SIG_MAX + 1];   /* registered listeners naming sig */
	struct sigaction saved[WEFT__SIG_MAX + 1];
} weft__sig = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ------------------------------------------------------------ handler */

static void weft__sig_handler(int sig)
{
	int saved_errno = errno;
	if (sig > 0 && sig <= WEFT__SIG_MAX) {
		/* Relaxed: the sequence only orders deliveries; what must be
		 * seen is weft__sig_last, published below. */
		uint64_t seq = atomic_fetch_add_explicit(&weft__sig_seq, 1,
							 memory_order_relaxed) + 1;
		uint64_t cur = atomic_load_explicit(&weft__sig_last[sig], memory_order_relaxed);
		/* Release: the record is in place before the user-event
		 * raise that makes a hub look at it (the raise's own release
		 * store orders it too; this one states the intent). */
		while (cur < seq &&
		       !atomic_compare_exchange_weak_explicit(&weft__sig_last[sig], &cur, seq,
							      memory_order_release,
							      memory_order_relaxed))
			;
		/* SeqCst, the count and the links: see "The hub list in
		 * signal context". */
		atomic_fetch_add_explicit(&weft__sig_walkers, 1, memory_order_seq_cst);
		for (struct weft__signal_hub *h = atomic_load_explicit(&weft__sig.hubs,
								       memory_order_seq_cst);
		     h; h = atomic_load_explicit(&h->next, memory_order_seq_cst))
			(void)weft__reactor_user_raise(h->reactor);
		/* Release: the walk's uses of the hubs come before a
		 * remover's load that sees the count drop. */
		atomic_fetch_sub_explicit(&weft__sig_walkers, 1, memory_order_release);
	}
	errno = saved_errno;
}

/* ----------------------------------------------------------- helpers */

/* The signals that cannot be listened for: uncatchable, synchronous
 * faults, and the C library's reserved range. */
static bool weft__sig_allowed(int sig)
{
	switch (sig) {
	case SIGKILL: case SIGSTOP:
	case SIGSEGV: case SIGBUS: case SIGFPE: case SIGILL: case SIGTRAP: case SIGSYS:
		return false;
	default:
		break;
	}
#ifdef SIGRTMIN
	if (sig >= 32 && sig < SIGRTMIN)
		return false;
	return sig > 0 && sig <= WEFT__SIG_MAX && sig <= SIGRTMAX;
#else   /* no real-time signals (macOS, OpenBSD): the standard ones only */
	return sig > 0 && sig <= WEFT__SIG_MAX && sig < NSIG;
#endif
}

static uint64_t weft__sig_mask(const weft_signal *s)
{
	return s->priv.mask ? s->priv.mask : WEFT_SIGNAL_SHUTDOWN;
}

/* The signal of @mask first delivered after @base, or 0; *@newest gets
 * the newest delivery seen among them. */
static int weft__sig_pending(uint64_t mask, uint64_t base, uint64_t *newest)
{
	int best = 0;
	uint64_t best_seq = UINT64_MAX, max = base;
	for (int sig = 1; sig <= WEFT__SIG_MAX; sig++) {
		if (!(mask & WEFT_SIGNAL_BIT(sig)))
			continue;
		/* Acquire: pairs with the handler's release. */
		uint64_t l = atomic_load_explicit(&weft__sig_last[sig], memory_order_acquire);
		if (l <= base)
			continue;
		if (l < best_seq) {
			best_seq = l;
			best = sig;
		}
		if (l > max)
			max = l;
	}
	if (newest)
		*newest = max;
	return best;
}

/* ---------------------------------------------------------------- hub */

static void weft__hub_unref(struct weft__signal_hub *h)
{
	/* AcqRel: the last holder frees the hub and must see the others'
	 * last uses of it. */
	if (atomic_fetch_sub_explicit(&h->refs, 1, memory_order_acq_rel) == 1)
		weft__free(h);
}

static void weft__hub_wake_by_ref(const void *data);

static weft_waker weft__hub_clone(const void *data);

static void weft__hub_drop(const void *data)
{
	weft__hub_unref((struct weft__signal_hub *)data);
}

static void weft__hub_wake(const void *data)
{
	weft__hub_wake_by_ref(data);
	weft__hub_drop(data);
}

static const weft_waker_vtable weft__hub_vtable = {
	.clone = weft__hub_clone,
	.wake = weft__hub_wake,
	.wake_by_ref = weft__hub_wake_by_ref,
	.drop = weft__hub_drop,
};

static weft_waker weft__hub_clone(const void *data)
{
	struct weft__signal_hub *h = (struct weft__signal_hub *)data;
	/* Relaxed: the caller's copy holds a reference meanwhile. */
	atomic_fetch_add_explicit(&h->refs, 1, memory_order_relaxed);
	return (weft_waker){ .vtable = &weft__hub_vtable, .data = h };
}

/* Polls the hub's slot with the hub waker until it waits, clearing the
 * readiness it finds; returns whether readiness was consumed on the way (an edge whose listeners the caller
 * must check). Lock held. */
static bool weft__hub_arm(struct weft__signal_hub *h)
{
	weft_waker w = { .vtable = &weft__hub_vtable, .data = h };
	weft_cx cx = weft_cx_from_waker(&w);
	struct weft__io_ready ev;
	bool consumed = false;
	/* Not drained (see the protocol): clearing the bit is the consuming. */
	while (weft__io_poll_ready(h->io, WEFT__IO_READ, &cx, &ev) == WEFT_READY) {
		weft__io_clear_ready(h->io, &ev);
		consumed = true;
	}
	return consumed;
}

/* Wakes every listener of @h with a pending delivery and a stored waker.
 * Called and returns with the lock held; drops it around the wakes. */
static void weft__hub_notify_locked(struct weft__signal_hub *h)
{
	for (;;) {
		weft_waker batch[WEFT__SIG_BATCH];
		int n = 0;
		for (weft_signal *s = h->listeners; s && n < WEFT__SIG_BATCH;
		     s = s->priv.next) {
			if (!s->priv.waker.vtable || s->priv.done)
				continue;
			if (!weft__sig_pending(weft__sig_mask(s), s->priv.base, NULL))
				continue;
			batch[n] = s->priv.waker;
			s->priv.waker = (weft_waker){ 0 };
			n++;
		}
		if (n == 0)
			return;
		pthread_mutex_unlock(&weft__sig.lock);
		for (int i = 0; i < n; i++)
			weft_waker_wake(&batch[i]);
		pthread_mutex_lock(&weft__sig.lock);
		if (n < WEFT__SIG_BATCH || h->dead)
			return;
	}
}

static void weft__hub_wake_by_ref(const void *data)
{
	struct weft__signal_hub *h = (struct weft__signal_hub *)data;
	pthread_mutex_lock(&weft__sig.lock);
	if (!h->dead) {
		weft__hub_arm(h);
		weft__hub_notify_locked(h);
	}
	pthread_mutex_unlock(&weft__sig.lock);
}

/* The hub of @rt, created (and registered with its reactor) if needed.
 * Lock held. */
static int weft__hub_get(weft_runtime *rt, struct weft__signal_hub **out)
{
	struct weft__signal_hub *h;
	/* Relaxed: the list only changes under the lock we hold. */
	for (h = atomic_load_explicit(&weft__sig.hubs, memory_order_relaxed); h;
	     h = atomic_load_explicit(&h->next, memory_order_relaxed)) {
		if (h->rt == rt) {
			*out = h;
			return 0;
		}
	}
	h = weft__calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	h->reactor = weft__runtime_reactor(rt);
	int rc = weft__io_register_user(h->reactor, &h->io);
	if (rc < 0) {
		weft__free(h);
		return rc;
	}
	weft__runtime_ref_inc(rt);
	h->rt = rt;
	atomic_init(&h->refs, 1);
	atomic_init(&h->next, atomic_load_explicit(&weft__sig.hubs, memory_order_relaxed));
	/* Release: a handler that finds the hub sees it built. (SeqCst for
	 * the handler's sake is needed only on unlinking.) */
	atomic_store_explicit(&weft__sig.hubs, h, memory_order_release);
	*out = h;
	return 0;
}

/* Unlinks @h from the hub list and waits until no handler can still be
 * using it (see "The hub list in signal context"). Lock held. */
static void weft__hub_unlink(struct weft__signal_hub *h)
{
	_Atomic(struct weft__signal_hub *) *pp = &weft__sig.hubs;
	/* Relaxed loads: the list only changes under the lock. */
	while (atomic_load_explicit(pp, memory_order_relaxed) != h)
		pp = &atomic_load_explicit(pp, memory_order_relaxed)->next;
	/* SeqCst store, then SeqCst load of the walker count: the pair with
	 * the handler's SeqCst increment of the count before its load of the
	 * list. Either the handler's increment comes first in the single
	 * order (this load sees it and waits) or our unlink does (the
	 * handler's walk cannot reach @h). Acquire/release cannot order a
	 * store before a later load, so both sides need SeqCst. */
	atomic_store_explicit(pp, atomic_load_explicit(&h->next, memory_order_relaxed),
			      memory_order_seq_cst);
	while (atomic_load_explicit(&weft__sig_walkers, memory_order_seq_cst) != 0)
		sched_yield();
}

/* ------------------------------------------------------- dispositions */

/* Undoes the handler installation for the signals of @mask. Lock held. */
static void weft__sig_release(uint64_t mask)
{
	for (int sig = 1; sig <= WEFT__SIG_MAX; sig++) {
		if (!(mask & WEFT_SIGNAL_BIT(sig)))
			continue;
		if (--weft__sig.listeners[sig] != 0)
			continue;
		/* Putting back what the kernel gave us cannot fail for a
		 * reason that lasts; a failure (seen only injected, by the
		 * sweep) is retried once, then said on stderr: weft's
		 * handler would stay and swallow the signal. */
		if (weft__sys_sigaction(sig, &weft__sig.saved[sig], NULL) < 0) {
			int rc = weft__sys_sigaction(sig, &weft__sig.saved[sig], NULL);
			if (rc < 0)
				fprintf(stderr, "weft: restoring the disposition of signal %d "
						"failed: %s (errno %d)\n", sig, strerror(-rc), -rc);
		}
	}
}

/* Installs the handler for the signals of @mask (counted). Lock held. */
static int weft__sig_acquire(uint64_t mask)
{
	struct sigaction act;
	memset(&act, 0, sizeof act);
	act.sa_handler = weft__sig_handler;
	act.sa_flags = SA_RESTART;
	sigemptyset(&act.sa_mask);
	uint64_t done = 0;
	for (int sig = 1; sig <= WEFT__SIG_MAX; sig++) {
		if (!(mask & WEFT_SIGNAL_BIT(sig)))
			continue;
		if (weft__sig.listeners[sig] == 0) {
			int rc = weft__sys_sigaction(sig, &act, &weft__sig.saved[sig]);
			if (rc < 0) {
				weft__sig_release(done);
				return rc;
			}
		}
		weft__sig.listeners[sig]++;
		done |= WEFT_SIGNAL_BIT(sig);
	}
	return 0;
}

/* ------------------------------------------------------------ listener */

/* Registers @s with @rt: handlers, hub, snapshot, list. Lock held. */
static int weft__signal_register(weft_signal *s, weft_runtime *rt)
{
	uint64_t mask = weft__sig_mask(s);
	for (int sig = 1; sig <= WEFT__SIG_MAX; sig++)
		if ((mask & WEFT_SIGNAL_BIT(sig)) && !weft__sig_allowed(sig))
			return -EINVAL;
	struct weft__signal_hub *h;
	int rc = weft__hub_get(rt, &h);
	if (rc < 0)
		return rc;
	rc = weft__sig_acquire(mask);
	if (rc < 0) {
		if (!h->listeners) {
			/* A hub made for us alone: undo it (the last drop in
			 * weft_signal_drop does the same). */
			weft__hub_unlink(h);
			h->dead = true;
			weft__io_deregister(h->io);
			weft__runtime_ref_dec(rt);
			weft__hub_unref(h);
		}
		return rc;
	}
	/* Acquire: deliveries numbered after this are new for @s; the
	 * handler is installed, so every such delivery is counted. */
	s->priv.base = atomic_load_explicit(&weft__sig_seq, memory_order_acquire);
	s->priv.seen = s->priv.base;
	s->priv.hub = h;
	s->priv.prev = NULL;
	s->priv.next = h->listeners;
	if (h->listeners)
		h->listeners->priv.prev = s;
	h->listeners = s;
	return 0;
}

static weft_poll weft__signal_poll_erased(weft_future *f, weft_cx *cx)
{
	return weft_signal_poll((weft_signal *)f, cx);
}

static void weft__signal_drop_erased(weft_future *f)
{
	weft_signal_drop((weft_signal *)f);
}

void weft_signal_init(weft_signal *s, uint64_t mask)
{
	memset(s, 0, sizeof *s);
	s->fut = WEFT_FUTURE(weft__signal_poll_erased, weft__signal_drop_erased);
	s->priv.mask = mask;
}

static void weft__signal_finish(weft_signal *s, int result)
{
	s->result = result;
	s->priv.done = true;
}

weft_poll weft_signal_poll(weft_signal *s, weft_cx *cx)
{
	if (s->priv.done)
		return WEFT_READY;
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	weft_runtime *rt = weft_cx_runtime(cx);
	if (!rt) {
		weft__signal_finish(s, -EINVAL);
		return WEFT_READY;
	}
	pthread_mutex_lock(&weft__sig.lock);
	struct weft__signal_hub *h = s->priv.hub;
	if (!h) {
		int rc = weft__signal_register(s, rt);
		if (rc < 0) {
			pthread_mutex_unlock(&weft__sig.lock);
			weft__signal_finish(s, rc);
			return WEFT_READY;
		}
		h = s->priv.hub;
	} else if (h->rt != rt) {
		pthread_mutex_unlock(&weft__sig.lock);
		weft__signal_finish(s, -EXDEV);
		return WEFT_READY;
	}
	uint64_t newest;
	int sig = weft__sig_pending(weft__sig_mask(s), s->priv.base, &newest);
	if (sig) {
		weft_waker_drop(&s->priv.waker);
		s->priv.seen = newest;
		pthread_mutex_unlock(&weft__sig.lock);
		weft__signal_finish(s, sig);
		return WEFT_READY;
	}
	weft_waker_store(&s->priv.waker, cx->waker);
	if (weft__hub_arm(h))
		weft__hub_notify_locked(h);   /* may wake this listener too */
	pthread_mutex_unlock(&weft__sig.lock);
	weft_coop_refund(cx);
	return WEFT_PENDING;
}

void weft_signal_rearm(weft_signal *s)
{
	if (!s->priv.done || !s->priv.hub || s->result <= 0)
		return;
	s->priv.base = s->priv.seen;
	s->priv.done = false;
	s->result = 0;
}

void weft_signal_drop(weft_signal *s)
{
	struct weft__signal_hub *h = s->priv.hub;
	if (!h) {
		weft_waker_drop(&s->priv.waker);
		return;
	}
	weft_runtime *rt = NULL;
	pthread_mutex_lock(&weft__sig.lock);
	if (s->priv.prev)
		s->priv.prev->priv.next = s->priv.next;
	else
		h->listeners = s->priv.next;
	if (s->priv.next)
		s->priv.next->priv.prev = s->priv.prev;
	weft_waker waker = s->priv.waker;
	s->priv.waker = (weft_waker){ 0 };
	weft__sig_release(weft__sig_mask(s));
	if (!h->listeners) {
		weft__hub_unlink(h);
		h->dead = true;
		weft__io_deregister(h->io);   /* drops the hub waker it held */
		rt = h->rt;
	}
	pthread_mutex_unlock(&weft__sig.lock);
	s->priv.hub = NULL;
	s->priv.prev = s->priv.next = NULL;
	weft_waker_drop(&waker);
	if (rt) {
		weft__runtime_ref_dec(rt);   /* may free the reactor: after deregister */
		weft__hub_unref(h);
	}
}
