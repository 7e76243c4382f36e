/*
 * sync_mutex.c - the async mutex: a semaphore of one permit. The permit
 * is the lock; the semaphore's FIFO grant hands it from the unlocker
 * straight to the longest waiter, and its cancellation rules pass a lock
 * handed to a dropped waiter on to the next one. No protocol of its own:
 * see sync_semaphore.c.
 */
#include "sync_waitlist.h"

#include <errno.h>
#include <string.h>

struct __attribute__((__may_alias__)) weft__mutex_lock_priv {
	struct weft__acquire a;
};
WEFT__SYNC_FUTURE_CHECK(weft_mutex_lock_future, weft__mutex_lock_priv);
_Static_assert(sizeof(struct weft__sem) <= sizeof(((weft_mutex *)0)->priv.opaque),
	       "weft_mutex's opaque storage is too small");

static struct weft__sem *weft__mutex_sem(weft_mutex *m)
{
	return (struct weft__sem *)(void *)m->priv.opaque;
}

static struct weft__acquire *weft__mutex_acq(weft_mutex_lock_future *l)
{
	return (struct weft__acquire *)(void *)l->priv.opaque;
}

int weft_mutex_init(weft_mutex *m)
{
	if (!m)
		return -EINVAL;
	return weft__sem_init(weft__mutex_sem(m), 1);
}

void weft_mutex_close(weft_mutex *m)
{
	if (m)
		weft__sem_destroy(weft__mutex_sem(m));
}

int weft_mutex_try_lock(weft_mutex *m)
{
	if (!m)
		return -EINVAL;
	return weft__sem_try_acquire(weft__mutex_sem(m), 1);
}

int weft_mutex_unlock(weft_mutex *m)
{
	if (!m)
		return -EINVAL;
	/* Limit 1: a second unlock of a free mutex is refused, not counted. */
	return weft__sem_release(weft__mutex_sem(m), 1, 1, -EPERM);
}

int weft_mutex_lock_blocking(weft_mutex *m)
{
	if (!m)
		return -EINVAL;
	return weft__sem_acquire_blocking(weft__mutex_sem(m), 1);
}

static weft_poll weft__mutex_lock_erased_poll(weft_future *f, weft_cx *cx)
{
	return weft_mutex_lock_poll((weft_mutex_lock_future *)f, cx);
}

static void weft__mutex_lock_erased_drop(weft_future *f)
{
	weft_mutex_lock_drop((weft_mutex_lock_future *)f);
}

void weft_mutex_lock_init(weft_mutex_lock_future *l, weft_mutex *m)
{
	memset(l, 0, sizeof *l);
	l->fut = WEFT_FUTURE(weft__mutex_lock_erased_poll, weft__mutex_lock_erased_drop);
	if (m)
		weft__acquire_init(weft__mutex_acq(l), weft__mutex_sem(m), 1);
}

weft_poll weft_mutex_lock_poll(weft_mutex_lock_future *l, weft_cx *cx)
{
	return weft__acquire_poll(weft__mutex_acq(l), cx, &l->result);
}

void weft_mutex_lock_drop(weft_mutex_lock_future *l)
{
	weft__acquire_drop(weft__mutex_acq(l));
}
