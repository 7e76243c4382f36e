/*
 * sync_semaphore.c - the counting semaphore with FIFO waiters, and the
 * semaphore core the mutex and the rwlock are made of.
 *
 * Protocol (on top of sync_waitlist.h): the free permit count, the closed
 * flag and the waiter queue are guarded by the semaphore's lock. Permits
 * go only to the head of the queue, and a new acquirer takes free permits
 * only when the queue is empty, so service is strictly FIFO.
 *  - A queued node's `tag` is the count it asked for and `need` what it
 *    still lacks. The grant loop (run under the lock whenever permits are
 *    added or the head changes) moves free permits to the head as they
 *    come, like Tokio's batch semaphore: a head that cannot be served
 *    whole takes every free permit as a partial assignment (need shrinks,
 *    the free count drops to 0), so the free count reported by
 *    weft_semaphore_available never includes permits promised to a
 *    waiter. Hence, once every call that runs the loop (a release, an
 *    acquire drop) and every close has returned, the queue is empty or
 *    the free count is 0. Not in between: a call that finishes more
 *    waiters than one wake batch holds (WEFT__WAKE_BATCH, 32) drops the
 *    lock to wake each full batch, and in that gap permits can be free
 *    while a head they would serve is still queued. That is transient
 *    and harmless: the queue is not empty, so no try_acquire takes them
 *    and a new acquire queues behind without a share
 *    (weft__sem_take_partial); the loop, or another release's, hands
 *    them to the head once it has the lock, so FIFO order and the
 *    permit count are kept. Only the head ever holds a partial
 *    assignment (tag - need):
 *    it gets one only while it is the head, and it stops being the head
 *    only by being finished or removed.
 *  - When need reaches 0 the node is finished (DONE, result 0); from then
 *    on all tag permits belong to that future. If it is dropped before a
 *    READY poll reported them, its drop puts them back. A queued future
 *    that is dropped unlinks itself and puts back its partial assignment.
 *    Either way the grant loop runs again, so the permits reach the next
 *    waiter (the waiter behind a removed head may now be servable).
 *  - Closing finishes every queued node with -ESHUTDOWN and puts back
 *    the head's partial assignment. Once closed the grant loop grants
 *    nothing, so a release that runs in a gap between close's wake
 *    batches cannot complete a node queued before the close.
 *  - The release limit counts the free permits plus the head's partial
 *    assignment, so the cap holds for every permit not held by a caller.
 */
#include "sync_waitlist.h"

#include <errno.h>
#include <string.h>

int weft__sem_init(struct weft__sem *s, uint64_t permits)
{
	memset(s, 0, sizeof *s);
	s->permits = permits;
	return weft__sync_lock_init(&s->lock);
}

void weft__sem_destroy(struct weft__sem *s)
{
	weft__sync_lock_destroy(&s->lock);
}

/* Permits assigned to the head waiter that it has not yet been
 * finished with (its partial assignment). Lock held. */
static uint64_t weft__sem_assigned(const struct weft__sem *s)
{
	const struct weft__waiter *w = s->waiters.head;
	return w ? w->tag - w->need : 0;
}

/* Before @w (which did not fit whole) is queued: if it is about to become
 * the head, it takes the free permits now as its partial assignment.
 * Behind other waiters it takes nothing: free permits then belong to the
 * head (the count is 0, or the grant loop is between wake batches and
 * will hand them out). Lock held. */
static void weft__sem_take_partial(struct weft__sem *s, struct weft__waiter *w)
{
	if (weft__waitlist_empty(&s->waiters)) {
		w->need -= s->permits;   /* permits < need: it did not fit */
		s->permits = 0;
	}
}

/* Finishes the head waiters while the free permits cover them, then
 * assigns what is left to the head that does not fit yet; unlocks and
 * wakes the finished ones. Lock held on entry, released on return. */
static void weft__sem_grant_unlock(struct weft__sem *s)
{
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	struct weft__waiter *w;
	/* Closed: no grant. The closing thread finishes every queued node
	 * with -ESHUTDOWN, also across its own wake-batch gaps, where a
	 * release could otherwise still serve a node queued before close. */
	while (!s->closed && (w = s->waiters.head)) {
		if (w->need > s->permits) {
			/* Not enough yet: the head keeps what is free. */
			w->need -= s->permits;
			s->permits = 0;
			break;
		}
		if (weft__wake_batch_full(&b)) {
			/* More can be served: wake these first, outside the
			 * lock, then look again (the head may have changed).
			 * Until then the head stays queued beside free
			 * permits that would serve it (see the top). */
			weft__sync_unlock(&s->lock);
			weft__wake_batch_run(&b);
			weft__sync_lock(&s->lock);
			continue;
		}
		s->permits -= w->need;
		w->need = 0;
		weft__waiter_finish(&s->waiters, w, 0, &b);
	}
	weft__sync_unlock(&s->lock);
	weft__wake_batch_run(&b);
}

int weft__sem_try_acquire(struct weft__sem *s, uint64_t n)
{
	int rc = -EAGAIN;
	weft__sync_lock(&s->lock);
	if (s->closed) {
		rc = -ESHUTDOWN;
	} else if (weft__waitlist_empty(&s->waiters) && s->permits >= n) {
		s->permits -= n;
		rc = 0;
	}
	weft__sync_unlock(&s->lock);
	return rc;
}

int weft__sem_release(struct weft__sem *s, uint64_t n, uint64_t limit, int err)
{
	weft__sync_lock(&s->lock);
	uint64_t outside = s->permits + weft__sem_assigned(s);   /* not held by callers */
	if (n > limit || outside > limit - n) {
		weft__sync_unlock(&s->lock);
		return err;
	}
	s->permits += n;
	weft__sem_grant_unlock(s);
	return 0;
}

void weft__sem_close(struct weft__sem *s)
{
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft__sync_lock(&s->lock);
	s->closed = true;
	while (s->waiters.head) {
		if (weft__wake_batch_full(&b)) {
			/* In this gap waiters are still queued while the
			 * shares put back so far are free: transient, the
			 * queue is empty once close returns. */
			weft__sync_unlock(&s->lock);
			weft__wake_batch_run(&b);
			weft__sync_lock(&s->lock);
			continue;
		}
		/* The head's partial share goes back (a release in a gap
		 * between batches may have assigned some). */
		s->permits += weft__sem_assigned(s);
		s->waiters.head->need = s->waiters.head->tag;
		weft__waiter_finish(&s->waiters, s->waiters.head, -ESHUTDOWN, &b);
	}
	weft__sync_unlock(&s->lock);
	weft__wake_batch_run(&b);
}

int weft__sem_acquire_blocking(struct weft__sem *s, uint64_t n)
{
	if (weft__in_runtime_context())
		return -EDEADLK;
	int rc = 0;
	weft__sync_lock(&s->lock);
	if (s->closed) {
		rc = -ESHUTDOWN;
	} else if (weft__waitlist_empty(&s->waiters) && s->permits >= n) {
		s->permits -= n;
	} else {
		struct weft__waiter w = { .need = n, .tag = n };
		weft__sem_take_partial(s, &w);
		weft__waiter_block(&s->lock, &s->waiters, &w);
		rc = w.result;
	}
	weft__sync_unlock(&s->lock);
	return rc;
}

weft_poll weft__acquire_poll(struct weft__acquire *a, weft_cx *cx, int *result)
{
	struct weft__sem *s = a->sem;
	int rc;

	if (a->phase == WEFT__PHASE_FINISHED) {
		*result = a->w.result;
		return WEFT_READY;
	}
	if (!s || a->phase == WEFT__PHASE_DROPPED) {
		*result = -EINVAL;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;

	weft__sync_lock(&s->lock);
	if (a->phase == WEFT__PHASE_INIT) {
		if (s->closed) {
			rc = -ESHUTDOWN;
		} else if (weft__waitlist_empty(&s->waiters) && s->permits >= a->n) {
			s->permits -= a->n;
			rc = 0;
		} else {
			a->w = (struct weft__waiter){ .need = a->n, .tag = a->n };
			weft__sem_take_partial(s, &a->w);
			weft__waiter_set_waker(&a->w, cx);
			weft__waitlist_push(&s->waiters, &a->w);
			a->phase = WEFT__PHASE_WAITING;
			goto pending;
		}
	} else if (a->w.state == WEFT__WAITER_QUEUED) {
		weft__waiter_set_waker(&a->w, cx);
		goto pending;
	} else {
		rc = a->w.result;   /* DONE: granted, or closed */
	}
	weft__sync_unlock(&s->lock);
	a->phase = WEFT__PHASE_FINISHED;
	a->w.result = rc;
	*result = rc;
	return WEFT_READY;

pending:
	weft__sync_unlock(&s->lock);
	weft_coop_refund(cx);
	return WEFT_PENDING;
}

void weft__acquire_drop(struct weft__acquire *a)
{
	struct weft__sem *s = a->sem;
	if (!weft__phase_drop(&a->phase, s != NULL))
		return;
	weft_waker waker;
	weft__sync_lock(&s->lock);
	if (weft__waiter_detach(&s->waiters, &a->w, &waker))
		s->permits += a->w.tag - a->w.need;   /* partial assignment: give back */
	else if (a->w.result == 0)
		s->permits += a->n;   /* granted, never reported: give back */
	weft__sem_grant_unlock(s);
	weft_waker_drop(&waker);
}

/* ------------------------------------------------------------ public */

static struct weft__sem *weft__sem_of(weft_semaphore *s)
{
	return (struct weft__sem *)(void *)s->priv.opaque;
}

struct __attribute__((__may_alias__)) weft__semaphore_acquire_priv {
	struct weft__acquire a;
};
WEFT__SYNC_FUTURE_CHECK(weft_semaphore_acquire_future, weft__semaphore_acquire_priv);

static struct weft__acquire *weft__acq_of(weft_semaphore_acquire_future *f)
{
	return (struct weft__acquire *)(void *)f->priv.opaque;
}

int weft_semaphore_init(weft_semaphore *s, size_t permits)
{
	if (!s || permits > WEFT_SEMAPHORE_MAX_PERMITS)
		return -EINVAL;
	return weft__sem_init(weft__sem_of(s), permits);
}

void weft_semaphore_close(weft_semaphore *s)
{
	if (s)
		weft__sem_destroy(weft__sem_of(s));
}

int weft_semaphore_try_acquire(weft_semaphore *s, size_t n)
{
	if (!s || n > WEFT_SEMAPHORE_MAX_PERMITS)
		return -EINVAL;
	return weft__sem_try_acquire(weft__sem_of(s), n);
}

int weft_semaphore_release(weft_semaphore *s, size_t n)
{
	if (!s)
		return -EINVAL;
	return weft__sem_release(weft__sem_of(s), n, WEFT_SEMAPHORE_MAX_PERMITS, -EOVERFLOW);
}

void weft_semaphore_shutdown(weft_semaphore *s)
{
	if (s)
		weft__sem_close(weft__sem_of(s));
}

size_t weft_semaphore_available(weft_semaphore *s)
{
	if (!s)
		return 0;
	struct weft__sem *sem = weft__sem_of(s);
	weft__sync_lock(&sem->lock);
	size_t n = sem->permits;
	weft__sync_unlock(&sem->lock);
	return n;
}

int weft_semaphore_acquire_blocking(weft_semaphore *s, size_t n)
{
	if (!s || n > WEFT_SEMAPHORE_MAX_PERMITS)
		return -EINVAL;
	return weft__sem_acquire_blocking(weft__sem_of(s), n);
}

static weft_poll weft__semaphore_acquire_erased_poll(weft_future *f, weft_cx *cx)
{
	return weft_semaphore_acquire_poll((weft_semaphore_acquire_future *)f, cx);
}

static void weft__semaphore_acquire_erased_drop(weft_future *f)
{
	weft_semaphore_acquire_drop((weft_semaphore_acquire_future *)f);
}

void weft_semaphore_acquire_init(weft_semaphore_acquire_future *a, weft_semaphore *s, size_t n)
{
	memset(a, 0, sizeof *a);
	a->fut = WEFT_FUTURE(weft__semaphore_acquire_erased_poll,
			     weft__semaphore_acquire_erased_drop);
	if (s && n <= WEFT_SEMAPHORE_MAX_PERMITS)
		weft__acquire_init(weft__acq_of(a), weft__sem_of(s), n);
}

weft_poll weft_semaphore_acquire_poll(weft_semaphore_acquire_future *a, weft_cx *cx)
{
	return weft__acquire_poll(weft__acq_of(a), cx, &a->result);
}

void weft_semaphore_acquire_drop(weft_semaphore_acquire_future *a)
{
	weft__acquire_drop(weft__acq_of(a));
}
