/*
 * signal.c - signal listeners: a process-wide delivery record filled by
 * a minimal handler, and one hub per runtime that turns the handler's
 * eventfd edge into wakes of that runtime's pending listeners.
 *
 * Protocol.
 *
 * Delivery record. The handler (signal context, any application thread)
 * takes a sequence number from weft__sig_seq and raises
 * weft__sig_last[sig] to it (a CAS maximum, so two concurrent deliveries
 * of one signal never move it back), then writes 1 to the process-wide
 * eventfd. Nothing else happens in signal context: both are lock-free
 * atomics or an async-signal-safe syscall, and errno is preserved.
 * A listener, when it registers, snapshots weft__sig_seq as its `base`;
 * a signal is pending for it when weft__sig_last[sig] > base for a
 * signal in its mask. Registration installs the handler before taking
 * the snapshot, so a delivery counted after the snapshot is a delivery
 * the handler saw.
 *
 * Ownership. One global mutex (weft__sig.lock) guards everything that is
 * not the delivery record: the per-signal listener counts and saved
 * dispositions, the list of hubs, each hub's listener list, every
 * listener's stored waker, and the hub's reactor slot, which it alone
 * polls (the reactor allows one poller per direction: the lock makes the
 * hub that one poller). Signals are rare and registration is cold, so
 * one lock is enough.
 *
 * Why no wakeup is lost. A listener's poll, under the lock, checks the
 * record, then stores its waker, then arms the hub: polls the slot with
 * the hub's own waker until the slot is not readable, clearing its
 * readiness each time. A delivery whose record update the check missed
 * writes the eventfd after it, so either arming sees the slot readable
 * (arming then reports it, and the caller wakes every listener with a
 * pending delivery, itself included) or the edge comes later and the
 * reactor wakes the hub waker stored by arming. The hub's wake runs on
 * the reactor's thread: under the lock it re-arms (its waker was
 * consumed) and takes the wakers of listeners with a pending delivery,
 * then wakes them with the lock released, a batch at a time.
 *
 * The eventfd is never read. Every hub registers the same eventfd in its
 * own epoll set, edge-triggered, and every eventfd write wakes every
 * epoll set watching it, readable or not; but epoll reports an item only
 * if the fd is still readable when epoll_wait collects it, so one hub
 * draining the counter could hide the edge from another. Left undrained
 * it stays readable (the counter cannot reach its 2^64 - 2 limit one
 * signal at a time), each delivery is one edge in every epoll set, and
 * the readiness bit is what arming clears (with the reactor's tick check,
 * so an edge that lands during arming is not lost).
 *
 * Lifetime. A hub holds a runtime reference (its reactor must outlive
 * the slot) and is freed when its reference count reaches zero: one
 * reference while it has listeners (in the global list) and one per
 * copy of its waker held by the reactor, so a wake racing with the last
 * listener's drop finds a live, dead-marked hub and does nothing.
 */
#include "sys.h"
#include "task.h"
#include "io_reactor.h"
#include "sched_api.h"

#include <weft/signal.h>

#include <errno.h>
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
/* The eventfd, set once under the lock before any handler is installed
 * and never closed. */
static _Atomic int weft__sig_efd = -1;

struct weft__signal_hub {
	weft_runtime *rt;
	struct weft__io *io;
	struct weft__signal_hub *next;     /* global list */
	weft_signal *listeners;
	_Atomic size_t refs;
	bool dead;
};

static struct {
	pthread_mutex_t lock;
	struct weft__signal_hub *hubs;
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
		/* Release: the record is in place before the eventfd write
		 * that makes a hub look at it (the syscall orders it in
		 * practice; the release states the intent). */
		while (cur < seq &&
		       !atomic_compare_exchange_weak_explicit(&weft__sig_last[sig], &cur, seq,
							      memory_order_release,
							      memory_order_relaxed))
			;
		/* Acquire: pairs with the release that published the fd
		 * before the handler was installed. */
		int efd = atomic_load_explicit(&weft__sig_efd, memory_order_acquire);
		if (efd >= 0)
			(void)weft__sys_eventfd_write(efd, 1);
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
	if (sig >= 32 && sig < SIGRTMIN)
		return false;
	return sig > 0 && sig <= WEFT__SIG_MAX && sig <= SIGRTMAX;
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
	for (h = weft__sig.hubs; h; h = h->next) {
		if (h->rt == rt) {
			*out = h;
			return 0;
		}
	}
	h = weft__calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	int efd = atomic_load_explicit(&weft__sig_efd, memory_order_relaxed);
	int rc = weft__io_register(weft__runtime_reactor(rt), efd, 0, &h->io);
	if (rc < 0) {
		weft__free(h);
		return rc;
	}
	weft__runtime_ref_inc(rt);
	h->rt = rt;
	atomic_init(&h->refs, 1);
	h->next = weft__sig.hubs;
	weft__sig.hubs = h;
	*out = h;
	return 0;
}

/* ------------------------------------------------------- dispositions */

/* Undoes the handler installation for the signals of @mask. Lock held. */
static void weft__sig_release(uint64_t mask)
{
	for (int sig = 1; sig <= WEFT__SIG_MAX; sig++) {
		if (!(mask & WEFT_SIGNAL_BIT(sig)))
			continue;
		if (--weft__sig.listeners[sig] == 0)
			(void)weft__sys_sigaction(sig, &weft__sig.saved[sig], NULL);
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
	if (atomic_load_explicit(&weft__sig_efd, memory_order_relaxed) < 0) {
		int fd = weft__sys_eventfd();
		if (fd < 0)
			return fd;
		/* Release: the fd is published before any handler that
		 * reads it is installed (the handler's acquire). */
		atomic_store_explicit(&weft__sig_efd, fd, memory_order_release);
	}
	struct weft__signal_hub *h;
	int rc = weft__hub_get(rt, &h);
	if (rc < 0)
		return rc;
	rc = weft__sig_acquire(mask);
	if (rc < 0) {
		if (!h->listeners) {
			/* A hub made for us alone: undo it (the caller's path
			 * in weft__signal_unregister does the same). */
			weft__sig.hubs = h->next;
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
		struct weft__signal_hub **pp = &weft__sig.hubs;
		while (*pp != h)
			pp = &(*pp)->next;
		*pp = h->next;
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
