/*
 * sync_waitlist.c - the intrusive FIFO of waiters, wake batches and
 * blocking waits that every sync primitive shares; the protocol is in
 * sync_waitlist.h.
 */
#include "sync_waitlist.h"
#include "sched_api.h"

int weft__sync_lock_init(struct weft__sync_lock *l)
{
	/* Adaptive: the critical sections here are a few dozen instructions,
	 * so a contended lock spins briefly before it sleeps in the kernel
	 * (glibc's PTHREAD_MUTEX_ADAPTIVE_NP); a sleep costs two context
	 * switches, far more than the wait. No allocation on Linux; its
	 * failure (site LOCK_INIT) is reported all the same. */
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	int rc = weft__sys_mutex_init(&l->m, &attr);
	pthread_mutexattr_destroy(&attr);
	return rc;
}

void weft__sync_lock_destroy(struct weft__sync_lock *l)
{
	pthread_mutex_destroy(&l->m);
}

void weft__waitlist_push(struct weft__waitlist *l, struct weft__waiter *w)
{
	w->next = NULL;
	w->prev = l->tail;
	if (l->tail)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
	w->state = WEFT__WAITER_QUEUED;
}

void weft__waitlist_remove(struct weft__waitlist *l, struct weft__waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		l->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		l->tail = w->prev;
	w->prev = w->next = NULL;
	w->state = WEFT__WAITER_IDLE;
}

void weft__waiter_finish(struct weft__waitlist *l, struct weft__waiter *w, int result,
			 struct weft__wake_batch *b)
{
	weft__waitlist_remove(l, w);
	w->state = WEFT__WAITER_DONE;
	w->result = result;
	if (w->park) {
		/* Under the lock: the blocking thread re-checks its state
		 * only with the lock, so its stack (and the park on it)
		 * outlives this call. */
		weft__unpark(w->park);
		return;
	}
	/* Move the waker out: the future may be dropped as soon as the
	 * lock is released, and the batch then owns this reference. */
	b->w[b->n++] = w->waker;
	w->waker = (weft_waker){ 0 };
}

void weft__wake_batch_run(struct weft__wake_batch *b)
{
	for (unsigned i = 0; i < b->n; i++)
		weft_waker_wake(&b->w[i]);
	b->n = 0;
}

void weft__waiter_block(struct weft__sync_lock *lock, struct weft__waitlist *l,
			struct weft__waiter *w)
{
	struct weft__park park;
	weft__park_init(&park, NULL, NULL);
	w->park = &park;
	weft__waitlist_push(l, w);
	/* The state is read under the lock only; a finish between our
	 * unlock and the park leaves the token that ends it. */
	while (w->state == WEFT__WAITER_QUEUED) {
		weft__sync_unlock(lock);
		weft__park(&park, -1);
		weft__sync_lock(lock);
	}
	w->park = NULL;
}

