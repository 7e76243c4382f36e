/*
 * sync_rwlock.c - the reader-writer lock: a semaphore of
 * WEFT_RWLOCK_MAX_READERS permits; a reader acquires one, a writer
 * acquires them all. The semaphore's strict FIFO makes a queued writer
 * hold back the readers behind it, so writers are never starved, and its
 * cancellation rules give back a lock handed to a dropped waiter. No
 * protocol of its own: see sync_semaphore.c.
 */
#include "sync_waitlist.h"

#include <errno.h>
#include <string.h>

struct __attribute__((__may_alias__)) weft__rwlock_lock_priv {
	struct weft__acquire a;
};
WEFT__SYNC_FUTURE_CHECK(weft_rwlock_lock_future, weft__rwlock_lock_priv);
_Static_assert(sizeof(struct weft__sem) <= sizeof(((weft_rwlock *)0)->priv.opaque),
	       "weft_rwlock's opaque storage is too small");

#define WEFT__RW_ALL ((uint64_t)WEFT_RWLOCK_MAX_READERS)

static struct weft__sem *weft__rw_sem(weft_rwlock *l)
{
	return (struct weft__sem *)(void *)l->priv.opaque;
}

static struct weft__acquire *weft__rw_acq(weft_rwlock_lock_future *f)
{
	return (struct weft__acquire *)(void *)f->priv.opaque;
}

int weft_rwlock_init(weft_rwlock *l)
{
	if (!l)
		return -EINVAL;
	return weft__sem_init(weft__rw_sem(l), WEFT__RW_ALL);
}

void weft_rwlock_close(weft_rwlock *l)
{
	if (l)
		weft__sem_destroy(weft__rw_sem(l));
}

int weft_rwlock_try_read(weft_rwlock *l)
{
	return l ? weft__sem_try_acquire(weft__rw_sem(l), 1) : -EINVAL;
}

int weft_rwlock_try_write(weft_rwlock *l)
{
	return l ? weft__sem_try_acquire(weft__rw_sem(l), WEFT__RW_ALL) : -EINVAL;
}

int weft_rwlock_read_unlock(weft_rwlock *l)
{
	return l ? weft__sem_release(weft__rw_sem(l), 1, WEFT__RW_ALL, -EPERM) : -EINVAL;
}

int weft_rwlock_write_unlock(weft_rwlock *l)
{
	return l ? weft__sem_release(weft__rw_sem(l), WEFT__RW_ALL, WEFT__RW_ALL, -EPERM)
		 : -EINVAL;
}

int weft_rwlock_read_blocking(weft_rwlock *l)
{
	return l ? weft__sem_acquire_blocking(weft__rw_sem(l), 1) : -EINVAL;
}

int weft_rwlock_write_blocking(weft_rwlock *l)
{
	return l ? weft__sem_acquire_blocking(weft__rw_sem(l), WEFT__RW_ALL) : -EINVAL;
}

static weft_poll weft__rwlock_erased_poll(weft_future *f, weft_cx *cx)
{
	return weft_rwlock_lock_poll((weft_rwlock_lock_future *)f, cx);
}

static void weft__rwlock_erased_drop(weft_future *f)
{
	weft_rwlock_lock_drop((weft_rwlock_lock_future *)f);
}

static void weft__rwlock_future_init(weft_rwlock_lock_future *f, weft_rwlock *l, uint64_t n)
{
	memset(f, 0, sizeof *f);
	f->fut = WEFT_FUTURE(weft__rwlock_erased_poll, weft__rwlock_erased_drop);
	if (l)
		weft__acquire_init(weft__rw_acq(f), weft__rw_sem(l), n);
}

void weft_rwlock_read_init(weft_rwlock_lock_future *f, weft_rwlock *l)
{
	weft__rwlock_future_init(f, l, 1);
}

void weft_rwlock_write_init(weft_rwlock_lock_future *f, weft_rwlock *l)
{
	weft__rwlock_future_init(f, l, WEFT__RW_ALL);
}

weft_poll weft_rwlock_lock_poll(weft_rwlock_lock_future *f, weft_cx *cx)
{
	return weft__acquire_poll(weft__rw_acq(f), cx, &f->result);
}

void weft_rwlock_lock_drop(weft_rwlock_lock_future *f)
{
	weft__acquire_drop(weft__rw_acq(f));
}
