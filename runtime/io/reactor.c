/*
 * reactor.c - readiness slots for registered fds, and the turn that fills
 * them from the backend's events and wakes the waiting tasks.
 *
 * Protocol.
 *
 * Readiness word. Each slot (struct weft__io) has one atomic word: the
 * readiness bits in the low 32 bits and a tick in the high 32. A turn
 * ORs an event's bits in and increments the tick in one CAS. A leaf that
 * got EAGAIN clears its direction's bits with a CAS that succeeds only if
 * the tick is still the one it saw before its syscall; if an edge arrived
 * meanwhile the tick moved and the clear is dropped, so an edge that
 * landed between the syscall and the clear is never lost. The word
 * carries no other data, so relaxed RMWs would do for the bits; the
 * turn's update is a release and the pollers' loads acquire, so what the
 * kernel made true before the event (the data to read) is in view of the
 * thread that acts on it by any path, not only through the waker.
 *
 * Wakers. A slot holds one reader and one writer waker, guarded by the
 * slot's spinlock: it is held for a few stores and a waker clone, twice
 * per request in a server, where a mutex cost four times the
 * instructions. A poller that finds no readiness stores its waker under
 * the lock and re-reads the word before it unlocks; the turn updates the
 * word before it takes the lock to take the wakers. Either the turn's
 * lock comes after the poller's unlock and it finds the waker, or it came
 * before and the poller's re-read (after acquiring the same lock) sees
 * the new bits. No wakeup is lost. Wakers are taken out under the lock
 * and woken after it is released: a wake may run scheduler code that
 * polls or closes sockets, so no lock of ours is held across it.
 *
 * Lifetime. Registered slots are on the reactor's live list. Deregister
 * marks the slot dead and takes its wakers under the slot lock, removes
 * the fd from the backend, then moves the slot to the release list. The
 * slot is freed only at the start of a later turn, before that turn waits:
 * a turn that collected an event for the slot before the removal is the
 * only turn that can hold its pointer, and it has finished by then (turns
 * run one at a time, each after the previous one). An event delivered to
 * a dead slot finds no wakers and does nothing. When many slots wait for
 * release, deregister notifies the reactor so an idle runtime frees them
 * too. Fini frees whatever is left.
 *
 * Refused registrations. A backend that applies registrations in its
 * wait (kqueue) reports one it could not make as an event with
 * WEFT__READY_FAILED and the error (io_backend.h). The turn stores the
 * first such error in the slot, then dispatches the event like any
 * other: the bit is in both directions and never cleared, so both
 * wakers run and every later poll is ready; weft__io_op_poll returns the
 * error where it would otherwise wait (EAGAIN, or a connect still in
 * progress). A plain int suffices: it is written once, by the turn,
 * before the release CAS that sets the bit, and read only by pollers
 * that acquired a word with the bit. The slot's lifetime is as for any
 * event: a removed slot's refusal is dropped by the backend's removal
 * or reaches a dead slot before the slot is freed.
 *
 * User event. One slot per reactor may be fed by the backend's user
 * event instead of an fd (weft__io_register_user): the backend reports
 * each raise as a readable edge with the slot as token, and the slot
 * works like any other (the signal hub polls and clears it). Its
 * deregistration turns the user event off instead of removing an fd,
 * and the slot waits on the release list like any other.
 *
 * Errors. A backend error from the turn's wait (epoll_wait, the eventfd
 * read) or from a notify (the eventfd write) is fatal: the backend told
 * us it cannot wait or be woken any more (EINTR and a pending wake-up are
 * not errors; io_epoll.c absorbs them). The first one is stored in
 * `error` with a CAS from 0, so it stays the first; only the thread whose
 * CAS won logs it (one line on stderr) and calls on_error. Every fatal
 * error counts in `errors`. Once `error` is set, a turn returns it at
 * once without calling the backend, so a driver loop cannot spin on a
 * failing epoll_wait. The error word carries no other data: relaxed
 * stores and loads suffice; who must see it promptly is woken by
 * on_error under a lock of the runtime's (multi_thread.c), and a thread that
 * checks before it parks sees it by program order or through that lock.
 */
#include "sys.h"
#include "sys_spin.h"
#include "io_reactor.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* A slot is allocated on a cache line of its own, with what a request
 * touches (the word, the lock, the wakers) in its first 64 bytes: two
 * connections' slots never share a line, and each costs one miss. */
struct weft__io {
	/* tick << 32 | WEFT__READY_* (see the protocol above) */
	_Atomic uint64_t readiness;
	struct weft__spin lock;      /* guards wakers[] and dead */
	bool dead;
	weft_waker wakers[2];        /* by enum weft__io_dir */
	int fd;
	/* 0, or the -errno of a registration the backend refused in a wait
	 * (see "Refused registrations"). Written by the turn before the
	 * release that sets WEFT__READY_FAILED; read only by a poller that
	 * saw that bit (acquire). */
	int error;
	struct weft__reactor *r;
	struct weft__io *prev, *next;   /* live or release list (r->lock) */
};

#define WEFT__IO_ALIGN 64
_Static_assert(offsetof(struct weft__io, wakers) + sizeof(weft_waker[2]) <= WEFT__IO_ALIGN,
	       "the hot part of a slot fits one cache line");

/* The fd of the user event's slot. */
#define WEFT__IO_USER (-2)

/* Release this many dead slots without waiting for I/O to make a turn. */
#define WEFT__RELEASE_NOTIFY 64

static const uint32_t weft__dir_bits[2] = {
	[WEFT__IO_READ] = WEFT__READY_READABLE | WEFT__READY_READ_CLOSED | WEFT__READY_ERROR |
			  WEFT__READY_FAILED,
	[WEFT__IO_WRITE] = WEFT__READY_WRITABLE | WEFT__READY_WRITE_CLOSED | WEFT__READY_ERROR |
			   WEFT__READY_FAILED,
};

static const uint32_t weft__dir_clearable[2] = {
	[WEFT__IO_READ] = WEFT__READY_READABLE | WEFT__READY_ERROR,
	[WEFT__IO_WRITE] = WEFT__READY_WRITABLE | WEFT__READY_ERROR,
};

static inline uint32_t weft__word_ready(uint64_t w)
{
	return (uint32_t)w;
}

static inline uint32_t weft__word_tick(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

static void weft__io_free(struct weft__io *io)
{
	weft_waker_drop(&io->wakers[0]);
	weft_waker_drop(&io->wakers[1]);
	weft__free(io);
}

int weft__reactor_init(struct weft__reactor *r)
{
	return weft__reactor_init_backend(r, WEFT_DEFAULT_BACKEND, true);
}

/* The other compiled backends AUTO may fall back to, in this order. */
static const weft_backend weft__fallbacks[] = {
	WEFT_BACKEND_EPOLL, WEFT_BACKEND_KQUEUE, WEFT_BACKEND_IO_URING,
};

/* Starts @kind, or with @automatic the first compiled backend that
 * starts; returns the first error if none does. */
static int weft__reactor_start_backend(struct weft__reactor *r, weft_backend kind,
				       bool automatic)
{
	int first = weft__backend_init(&r->backend, kind);
	if (first == 0 || !automatic)
		return first;
	for (size_t i = 0; i < sizeof weft__fallbacks / sizeof weft__fallbacks[0]; i++) {
		weft_backend k = weft__fallbacks[i];
		if (k == kind || !weft__backend_compiled(k))
			continue;
		if (weft__backend_init(&r->backend, k) == 0)
			return 0;
	}
	return first;
}

int weft__reactor_init_backend(struct weft__reactor *r, weft_backend kind, bool automatic)
{
	atomic_init(&r->events, 0);
	atomic_init(&r->error, 0);
	atomic_init(&r->errors, 0);
	r->on_error = NULL;
	r->on_error_arg = NULL;
	r->live = NULL;
	r->release = NULL;
	r->release_len = 0;
	r->user = false;
	if (weft__sys_mutex_init(&r->lock, NULL) != 0)
		return -ENOMEM;
	int rc = weft__reactor_start_backend(r, kind, automatic);
	if (rc < 0) {
		pthread_mutex_destroy(&r->lock);
		/* Asked for by name and it did not start: unsupported here,
		 * unless the host ran out of something (then say what). */
		if (!automatic && rc != -ENOMEM && rc != -EMFILE && rc != -ENFILE)
			rc = -ENOTSUP;
		return rc;
	}
	return 0;
}

void weft__reactor_fini(struct weft__reactor *r)
{
	weft__backend_fini(&r->backend);
	struct weft__io *io, *next;
	for (io = r->release; io; io = next) {
		next = io->next;
		weft__io_free(io);
	}
	for (io = r->live; io; io = next) {
		next = io->next;
		weft__io_free(io);
	}
	r->live = r->release = NULL;
	pthread_mutex_destroy(&r->lock);
}

static void weft__reactor_release_pending(struct weft__reactor *r)
{
	pthread_mutex_lock(&r->lock);
	struct weft__io *io = r->release;
	r->release = NULL;
	r->release_len = 0;
	pthread_mutex_unlock(&r->lock);
	while (io) {
		struct weft__io *next = io->next;
		weft__io_free(io);
		io = next;
	}
}

static void weft__io_dispatch(struct weft__io *io, uint32_t ready)
{
	uint64_t cur = atomic_load_explicit(&io->readiness, memory_order_relaxed);
	uint64_t next;
	do {
		uint64_t tick = (uint64_t)(weft__word_tick(cur) + 1u);
		next = tick << 32 | (weft__word_ready(cur) | ready);
		/* Release: see the protocol (pollers acquire). */
	} while (!atomic_compare_exchange_weak_explicit(&io->readiness, &cur, next,
							memory_order_release,
							memory_order_relaxed));

	weft_waker wake[2] = { { 0 }, { 0 } };
	weft__spin_lock(&io->lock);
	for (int d = 0; d < 2; d++) {
		if (ready & weft__dir_bits[d]) {
			wake[d] = io->wakers[d];
			io->wakers[d] = (weft_waker){ 0 };
		}
	}
	weft__spin_unlock(&io->lock);
	weft_waker_wake(&wake[0]);
	weft_waker_wake(&wake[1]);
}

/* Records a fatal backend error @err (< 0) from @call (see "Errors"). */
static void weft__reactor_fail(struct weft__reactor *r, int err, const char *call)
{
	/* Relaxed: a statistic. */
	atomic_fetch_add_explicit(&r->errors, 1, memory_order_relaxed);
	int expected = 0;
	/* Relaxed: the word carries only its value (see "Errors"); the CAS
	 * makes exactly one thread the first, which logs and notifies. */
	if (!atomic_compare_exchange_strong_explicit(&r->error, &expected, err,
						     memory_order_relaxed,
						     memory_order_relaxed))
		return;
	fprintf(stderr, "weft: %s failed: %s (errno %d); the runtime's I/O driver has stopped\n",
		call ? call : "I/O backend", strerror(-err), -err);
	if (r->on_error)
		r->on_error(r->on_error_arg);
}

#define WEFT__TURN_BATCH 256

int weft__reactor_turn(struct weft__reactor *r, int64_t timeout_ns)
{
	struct weft__backend_event evs[WEFT__TURN_BATCH];

	/* Sticky: a backend that failed is not waited on again. */
	int err = weft__reactor_error(r);
	if (err)
		return err;

	/* Slots deregistered before this point are out of the backend, and
	 * the previous turn is over: nothing can reach them any more. */
	weft__reactor_release_pending(r);

	int n = weft__backend_wait(&r->backend, evs, WEFT__TURN_BATCH, timeout_ns);
	if (n < 0) {
		weft__reactor_fail(r, n, r->backend.failed_call);
		return weft__reactor_error(r);
	}
	if (n == 0)
		return 0;
	for (int i = 0; i < n; i++) {
		struct weft__io *io = evs[i].token;
		/* See "Refused registrations": the error before the bit. */
		if (weft__unlikely(evs[i].ready & WEFT__READY_FAILED) && io->error == 0)
			io->error = evs[i].err < 0 ? evs[i].err : -EIO;
		weft__io_dispatch(io, evs[i].ready);
	}
	/* Relaxed: a statistic, ordered with nothing. */
	atomic_fetch_add_explicit(&r->events, (uint64_t)n, memory_order_relaxed);
	return n;
}

void weft__reactor_notify(struct weft__reactor *r)
{
	int rc = weft__backend_wake(&r->backend);
	if (weft__unlikely(rc < 0))
		weft__reactor_fail(r, rc, "wake-up write");
}

int weft__reactor_user_raise(struct weft__reactor *r)
{
	/* Not weft__reactor_fail: this runs in signal context, where a
	 * log line and the on_error hook are not safe. A broken channel
	 * is recorded by the next notify or turn. */
	return weft__backend_user_raise(&r->backend);
}

/* Makes a slot for @fd (WEFT__IO_USER: the user event) and puts it in
 * the backend. */
static int weft__io_add(struct weft__reactor *r, int fd, uint32_t initial,
			struct weft__io **out)
{
	struct weft__io *io = weft__calloc_aligned(WEFT__IO_ALIGN, sizeof *io);
	if (!io)
		return -ENOMEM;
	atomic_init(&io->readiness, (uint64_t)(initial & WEFT__READY_ALL));
	io->fd = fd;
	io->r = r;

	if (fd == WEFT__IO_USER) {
		pthread_mutex_lock(&r->lock);
		bool taken = r->user;
		r->user = true;
		pthread_mutex_unlock(&r->lock);
		if (taken) {
			weft__io_free(io);
			return -EBUSY;
		}
		weft__backend_user_set(&r->backend, io);
	} else {
		int rc = weft__backend_add(&r->backend, fd, io);
		if (rc < 0) {
			/* Never in the backend: no event can name it, free it now. */
			weft__io_free(io);
			return rc;
		}
	}
	/* Listed only once it is in the backend: the list is what fini
	 * frees, and nothing else looks at it before deregister. */
	pthread_mutex_lock(&r->lock);
	io->next = r->live;
	if (r->live)
		r->live->prev = io;
	r->live = io;
	pthread_mutex_unlock(&r->lock);
	*out = io;
	return 0;
}

int weft__io_register(struct weft__reactor *r, int fd, uint32_t initial,
		      struct weft__io **out)
{
	if (fd < 0)
		return -EBADF;
	return weft__io_add(r, fd, initial, out);
}

int weft__io_register_user(struct weft__reactor *r, struct weft__io **out)
{
	return weft__io_add(r, WEFT__IO_USER, 0, out);
}

void weft__io_deregister(struct weft__io *io)
{
	if (!io)
		return;
	struct weft__reactor *r = io->r;
	weft_waker drop[2];
	weft__spin_lock(&io->lock);
	io->dead = true;
	drop[0] = io->wakers[0];
	drop[1] = io->wakers[1];
	io->wakers[0] = io->wakers[1] = (weft_waker){ 0 };
	weft__spin_unlock(&io->lock);
	weft_waker_drop(&drop[0]);
	weft_waker_drop(&drop[1]);

	bool user = io->fd == WEFT__IO_USER;
	if (user)   /* no later wait reports it; see "User event" */
		weft__backend_user_set(&r->backend, NULL);
	else   /* epoll: fails only if the fd was already closed, which removed
		* it; kqueue queues the removal (its room reserved at the
		* registration) and reports a failure in its wait */
		(void)weft__backend_del(&r->backend, io->fd);

	pthread_mutex_lock(&r->lock);
	if (user)
		r->user = false;
	if (io->prev)
		io->prev->next = io->next;
	else
		r->live = io->next;
	if (io->next)
		io->next->prev = io->prev;
	io->prev = NULL;
	io->next = r->release;
	r->release = io;
	bool notify = ++r->release_len == WEFT__RELEASE_NOTIFY;
	pthread_mutex_unlock(&r->lock);
	if (notify)
		weft__reactor_notify(r);
}

/* poll_ready's slow path: no readiness seen, so store the waker and look
 * again under the lock. Out of line, so the ready path saves no
 * registers. */
static __attribute__((noinline)) uint64_t weft__io_wait(struct weft__io *io,
							enum weft__io_dir dir, weft_cx *cx)
{
	weft_waker old = { 0 };
	weft__spin_lock(&io->lock);
	weft_waker *slot = &io->wakers[dir];
	if (!io->dead && !(slot->vtable && weft_waker_will_wake(slot, cx->waker))) {
		/* The clone runs under the lock (for a task waker, one
		 * increment); the drop of the waker replaced, which may free
		 * its task, runs after. */
		old = *slot;
		*slot = weft_waker_clone(cx->waker);
	}
	/* Re-read under the lock: the turn updates the word before it takes
	 * this lock, so this sees any event whose dispatch missed the waker
	 * just stored. Acquire, as in weft__io_poll_ready. */
	uint64_t w = atomic_load_explicit(&io->readiness, memory_order_acquire);
	weft__spin_unlock(&io->lock);
	weft_waker_drop(&old);
	return w;
}

weft_poll weft__io_poll_ready(struct weft__io *io, enum weft__io_dir dir,
			      weft_cx *cx, struct weft__io_ready *ev)
{
	const uint32_t want = weft__dir_bits[dir];
	/* Acquire: pairs with the turn's release (see the protocol). */
	uint64_t w = atomic_load_explicit(&io->readiness, memory_order_acquire);
	if (weft__unlikely(!(weft__word_ready(w) & want))) {
		w = weft__io_wait(io, dir, cx);
		if (!(weft__word_ready(w) & want))
			return WEFT_PENDING;
	}
	ev->ready = weft__word_ready(w) & want;
	ev->tick = weft__word_tick(w);
	ev->dir = dir;
	return WEFT_READY;
}

void weft__io_clear_ready(struct weft__io *io, const struct weft__io_ready *ev)
{
	const uint32_t mask = weft__dir_clearable[ev->dir] & ev->ready;
	uint64_t cur = atomic_load_explicit(&io->readiness, memory_order_relaxed);
	for (;;) {
		if (weft__word_tick(cur) != ev->tick)
			return;   /* a newer edge: its readiness stays */
		uint64_t next = cur & ~(uint64_t)mask;
		if (next == cur)
			return;
		/* Relaxed: the word publishes no data of ours, and a
		 * concurrent dispatch's CAS fails against this one or
		 * makes this one fail (the tick is in the same word). */
		if (atomic_compare_exchange_weak_explicit(&io->readiness, &cur, next,
							  memory_order_relaxed,
							  memory_order_relaxed))
			return;
	}
}

int weft__io_failure(const struct weft__io *io)
{
	return io->error;
}

uint32_t weft__io_readiness(struct weft__io *io, uint32_t *tick)
{
	uint64_t w = atomic_load_explicit(&io->readiness, memory_order_acquire);
	if (tick)
		*tick = weft__word_tick(w);
	return weft__word_ready(w);
}
