/*
 * sync_notify.c - notify: wake one waiter (or store one permit for the
 * next), or wake every current waiter.
 *
 * Protocol (on top of sync_waitlist.h): the stored permit, the FIFO of
 * waiters and the notify_waiters call count are guarded by the lock; the
 * count is also read without the lock by weft_notified_init.
 *  - notify_one, under the lock, finishes the head waiter (tag ONE) or,
 *    with nobody waiting, sets the permit (at most one is stored).
 *  - A wait's first poll, under the lock, completes at once if the count
 *    moved since its init or a permit is stored (consuming it), else it
 *    queues with the count it saw at init. So a notification that comes
 *    before the first poll is never lost, and one that comes after finds
 *    the node queued.
 *  - notify_waiters, under the lock, bumps the count and finishes (tag
 *    ALL) every waiter whose init count is below the new value; waiters
 *    queued later carry the new value and are left alone, even when the
 *    lock is dropped between wake batches.
 *  - A wait dropped after notify_one finished it but before a READY poll
 *    passes the notification on: to the next waiter, or back to the
 *    permit. A notify_waiters wake is not passed on (it woke everybody).
 */
#include "sync_waitlist.h"

#include <errno.h>
#include <string.h>

enum { WEFT__NOTIFY_ONE = 1, WEFT__NOTIFY_ALL = 2 };

struct __attribute__((__may_alias__)) weft__notify {
	struct weft__sync_lock lock;
	bool permit;
	/* notify_waiters calls; written under the lock, read by init
	 * without it. */
	_Atomic uint64_t calls;
	struct weft__waitlist waiters;
};
_Static_assert(sizeof(struct weft__notify) <= sizeof(((weft_notify *)0)->priv.opaque),
	       "weft_notify's opaque storage is too small");

struct __attribute__((__may_alias__)) weft__notified {
	struct weft__notify *n;
	uint64_t calls;     /* notify_waiters calls seen at init */
	int phase;
	struct weft__waiter w;
};
WEFT__SYNC_FUTURE_CHECK(weft_notified, weft__notified);

static struct weft__notify *weft__notify_of(weft_notify *n)
{
	return (struct weft__notify *)(void *)n->priv.opaque;
}

static struct weft__notified *weft__notified_of(weft_notified *f)
{
	return (struct weft__notified *)(void *)f->priv.opaque;
}

int weft_notify_init(weft_notify *n)
{
	if (!n)
		return -EINVAL;
	struct weft__notify *s = weft__notify_of(n);
	memset(s, 0, sizeof *s);
	atomic_init(&s->calls, 0);
	return weft__sync_lock_init(&s->lock);
}

void weft_notify_close(weft_notify *n)
{
	if (n)
		weft__sync_lock_destroy(&weft__notify_of(n)->lock);
}

/* Gives one notification to the head waiter or to the permit. Lock held. */
static void weft__notify_one_locked(struct weft__notify *s, struct weft__wake_batch *b)
{
	struct weft__waiter *w = s->waiters.head;
	if (w) {
		w->tag = WEFT__NOTIFY_ONE;
		weft__waiter_finish(&s->waiters, w, 0, b);
	} else {
		s->permit = true;
	}
}

void weft_notify_one(weft_notify *n)
{
	if (!n)
		return;
	struct weft__notify *s = weft__notify_of(n);
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft__sync_lock(&s->lock);
	weft__notify_one_locked(s, &b);
	weft__sync_unlock(&s->lock);
	weft__wake_batch_run(&b);
}

void weft_notify_waiters(weft_notify *n)
{
	if (!n)
		return;
	struct weft__notify *s = weft__notify_of(n);
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft__sync_lock(&s->lock);
	/* Relaxed: the lock orders it for every reader under the lock, and
	 * init's lock-free read needs no ordering (a stale value only sends
	 * the wait to the locked check at its first poll). */
	uint64_t now = atomic_load_explicit(&s->calls, memory_order_relaxed) + 1;
	atomic_store_explicit(&s->calls, now, memory_order_relaxed);
	struct weft__waiter *w;
	while ((w = s->waiters.head) && w->need < now) {
		if (weft__wake_batch_full(&b)) {
			weft__sync_unlock(&s->lock);
			weft__wake_batch_run(&b);
			weft__sync_lock(&s->lock);
			continue;
		}
		w->tag = WEFT__NOTIFY_ALL;
		weft__waiter_finish(&s->waiters, w, 0, &b);
	}
	weft__sync_unlock(&s->lock);
	weft__wake_batch_run(&b);
}

int weft_notify_wait_blocking(weft_notify *n)
{
	if (!n)
		return -EINVAL;
	if (weft__in_runtime_context())
		return -EDEADLK;
	struct weft__notify *s = weft__notify_of(n);
	weft__sync_lock(&s->lock);
	if (s->permit) {
		s->permit = false;
	} else {
		/* Relaxed: read under the lock that guards its writes. */
		struct weft__waiter w = {
			.need = atomic_load_explicit(&s->calls, memory_order_relaxed),
		};
		weft__waiter_block(&s->lock, &s->waiters, &w);
	}
	weft__sync_unlock(&s->lock);
	return 0;
}

static weft_poll weft__notified_erased_poll(weft_future *f, weft_cx *cx)
{
	return weft_notified_poll((weft_notified *)f, cx);
}

static void weft__notified_erased_drop(weft_future *f)
{
	weft_notified_drop((weft_notified *)f);
}

void weft_notified_init(weft_notified *f, weft_notify *n)
{
	memset(f, 0, sizeof *f);
	f->fut = WEFT_FUTURE(weft__notified_erased_poll, weft__notified_erased_drop);
	if (!n)
		return;
	struct weft__notified *p = weft__notified_of(f);
	p->n = weft__notify_of(n);
	/* Relaxed: see weft_notify_waiters. An older value is harmless: the
	 * first poll compares under the lock and completes at once. */
	p->calls = atomic_load_explicit(&p->n->calls, memory_order_relaxed);
}

weft_poll weft_notified_poll(weft_notified *f, weft_cx *cx)
{
	struct weft__notified *p = weft__notified_of(f);
	struct weft__notify *s = p->n;

	if (p->phase == WEFT__PHASE_FINISHED)
		return WEFT_READY;
	if (!s || p->phase == WEFT__PHASE_DROPPED) {
		f->result = -EINVAL;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;

	weft__sync_lock(&s->lock);
	if (p->phase == WEFT__PHASE_INIT) {
		if (atomic_load_explicit(&s->calls, memory_order_relaxed) != p->calls) {
			/* a notify_waiters came after init */
		} else if (s->permit) {
			s->permit = false;
		} else {
			p->w = (struct weft__waiter){ .need = p->calls };
			weft__waiter_set_waker(&p->w, cx);
			weft__waitlist_push(&s->waiters, &p->w);
			p->phase = WEFT__PHASE_WAITING;
			goto pending;
		}
	} else if (p->w.state == WEFT__WAITER_QUEUED) {
		weft__waiter_set_waker(&p->w, cx);
		goto pending;
	}
	weft__sync_unlock(&s->lock);
	p->phase = WEFT__PHASE_FINISHED;
	f->result = 0;
	return WEFT_READY;

pending:
	weft__sync_unlock(&s->lock);
	weft_coop_refund(cx);
	return WEFT_PENDING;
}

void weft_notified_drop(weft_notified *f)
{
	struct weft__notified *p = weft__notified_of(f);
	struct weft__notify *s = p->n;
	if (!weft__phase_drop(&p->phase, s != NULL))
		return;
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft_waker waker;
	weft__sync_lock(&s->lock);
	if (!weft__waiter_detach(&s->waiters, &p->w, &waker) && p->w.tag == WEFT__NOTIFY_ONE)
		weft__notify_one_locked(s, &b);   /* pass it on */
	weft__sync_unlock(&s->lock);
	weft__wake_batch_run(&b);
	weft_waker_drop(&waker);
}
