/*
 * parker.c - puts one thread to sleep until another unparks it; one stored
 * token, so an unpark that comes first makes the next park return at once.
 * Used by threads that sleep outside the driver.
 */
#include "sched_parker.h"

#include <errno.h>

enum { WEFT__PARK_EMPTY, WEFT__PARK_PARKED, WEFT__PARK_NOTIFIED };

int weft__parker_init(struct weft__parker *p)
{
	atomic_init(&p->state, WEFT__PARK_EMPTY);
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		return -ENOMEM;
	if (pthread_cond_init(&p->cond, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		return -ENOMEM;
	}
	return 0;
}

void weft__parker_destroy(struct weft__parker *p)
{
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
}

void weft__parker_park(struct weft__parker *p)
{
	int expected = WEFT__PARK_NOTIFIED;
	/* Acquire: consuming a token must see what the unparker published
	 * before it released the token. */
	if (atomic_compare_exchange_strong_explicit(&p->state, &expected, WEFT__PARK_EMPTY,
						    memory_order_acquire,
						    memory_order_relaxed))
		return;
	pthread_mutex_lock(&p->lock);
	expected = WEFT__PARK_EMPTY;
	/* Relaxed inside the lock: the unparker takes the same lock before
	 * signalling, which orders the PARKED store before its check. */
	if (!atomic_compare_exchange_strong_explicit(&p->state, &expected, WEFT__PARK_PARKED,
						     memory_order_relaxed,
						     memory_order_relaxed)) {
		/* A token arrived meanwhile: consume it (acquire, as above). */
		atomic_exchange_explicit(&p->state, WEFT__PARK_EMPTY, memory_order_acquire);
		pthread_mutex_unlock(&p->lock);
		return;
	}
	for (;;) {
		pthread_cond_wait(&p->cond, &p->lock);
		expected = WEFT__PARK_NOTIFIED;
		/* Acquire: consuming the token sees the unparker's work. */
		if (atomic_compare_exchange_strong_explicit(&p->state, &expected,
							    WEFT__PARK_EMPTY,
							    memory_order_acquire,
							    memory_order_relaxed))
			break;   /* else a spurious wakeup: wait again */
	}
	pthread_mutex_unlock(&p->lock);
}

void weft__parker_unpark(struct weft__parker *p)
{
	/* Release: what the caller did before unparking (queued a task,
	 * set a flag) happens-before the parked thread's acquire. */
	int prev = atomic_exchange_explicit(&p->state, WEFT__PARK_NOTIFIED,
					    memory_order_release);
	if (prev != WEFT__PARK_PARKED)
		return;
	/* The parker holds the lock from its PARKED store until it waits;
	 * taking the lock here means it is waiting when we signal. */
	pthread_mutex_lock(&p->lock);
	pthread_mutex_unlock(&p->lock);
	pthread_cond_signal(&p->cond);
}

