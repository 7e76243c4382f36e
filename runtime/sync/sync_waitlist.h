/*
 * sync_waitlist.h - the machinery every sync primitive shares: an
 * intrusive FIFO of waiter nodes that live inside the waiting futures, a
 * short internal lock, a batch of wakers to wake once the lock is
 * dropped, blocking waits for plain threads, and the semaphore core that
 * the mutex and the rwlock are built on.
 *
 * Protocol (the same for every primitive):
 *  - A primitive's state and its waiter lists are guarded by its lock
 *    (struct weft__sync_lock). A waiter node's links, waker, state and
 *    result are guarded by the lock of the primitive it is queued on; the
 *    future that embeds the node touches them only under that lock.
 *  - A future that must wait, under the lock, re-checks the condition,
 *    stores its task's waker in its node and queues the node. Whoever
 *    makes progress possible, under the same lock, marks the node DONE,
 *    unlinks it and moves its waker out (into a wake batch, woken after
 *    unlocking). Both sides run under one lock, so either the waiter sees
 *    the progress before queueing or the progress-maker sees the queued
 *    node: no wakeup is lost. After DONE the node is no longer linked, so
 *    its future may be dropped at once; the waker was moved out, so the
 *    late wake touches only the (reference-counted) task.
 *  - A blocking waiter (a plain thread) queues a node whose `park` is a
 *    park (sys_park.h) on its stack, drops the primitive's lock and
 *    parks; it reads its node's state only under the lock. The
 *    progress-maker unparks it while still holding the lock, so the
 *    thread cannot return and free its stack before the unpark is done,
 *    and an unpark that comes before the park leaves its token.
 *  - Nothing here is called with a lock held by the caller except where a
 *    function says so, and no user code (waker) runs under the lock.
 */
#ifndef WEFT__SYNC_WAITLIST_H
#define WEFT__SYNC_WAITLIST_H

#include <weft/core.h>
#include <weft/sync.h>

#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sched_api.h"
#include "sys.h"
#include "sys_park.h"

/* ------------------------------------------------------------------ lock */

/* The internal lock: held for a few instructions, never across a poll of
 * user code or a wake. A pthread mutex: it needs no allocation and sleeps
 * instead of spinning when the holder is preempted. */
struct weft__sync_lock {
	pthread_mutex_t m;
};

/* 0 or -errno (pthread_mutex_init's, site LOCK_INIT). */
int weft__sync_lock_init(struct weft__sync_lock *l);
void weft__sync_lock_destroy(struct weft__sync_lock *l);

static inline void weft__sync_lock(struct weft__sync_lock *l)
{
	pthread_mutex_lock(&l->m);
}

static inline void weft__sync_unlock(struct weft__sync_lock *l)
{
	pthread_mutex_unlock(&l->m);
}

/* ---------------------------------------------------------------- waiter */

enum weft__waiter_state {
	WEFT__WAITER_IDLE = 0,   /* not in any list (zero-filled) */
	WEFT__WAITER_QUEUED,     /* linked in a list, waiting */
	WEFT__WAITER_DONE,       /* unlinked by a progress-maker; see result */
};

/* A waiter node, embedded in a future (or on a blocking thread's stack).
 * Every field is guarded by the lock of the primitive it is queued on. */
struct weft__waiter {
	struct weft__waiter *prev, *next;
	weft_waker waker;          /* woken when DONE (async waiter) */
	struct weft__park *park;   /* unparked when DONE (blocking waiter) */
	uint64_t need;             /* what it waits for (permits still lacking, a version) */
	uint64_t tag;              /* primitive-specific (semaphore: permits asked for) */
	int state;                 /* enum weft__waiter_state */
	int result;                /* set with DONE */
};

struct weft__waitlist {
	struct weft__waiter *head, *tail;
};

static inline bool weft__waitlist_empty(const struct weft__waitlist *l)
{
	return l->head == NULL;
}

/* Appends @w (IDLE) at the tail and marks it QUEUED. Lock held. */
void weft__waitlist_push(struct weft__waitlist *l, struct weft__waiter *w);
/* Unlinks @w (QUEUED) and marks it IDLE. Lock held. */
void weft__waitlist_remove(struct weft__waitlist *l, struct weft__waiter *w);

/* A batch of wakers taken out under a lock, woken after it is dropped. */
#define WEFT__WAKE_BATCH 32

struct weft__wake_batch {
	weft_waker w[WEFT__WAKE_BATCH];
	unsigned n;
};

static inline bool weft__wake_batch_full(const struct weft__wake_batch *b)
{
	return b->n == WEFT__WAKE_BATCH;
}

/* Wakes and empties the batch. Call without any primitive lock held. */
void weft__wake_batch_run(struct weft__wake_batch *b);

/*
 * Unlinks @w (QUEUED) from @l, marks it DONE with @result, and either
 * unparks its blocking thread or moves its waker into @b (which must not
 * be full). Lock held.
 */
void weft__waiter_finish(struct weft__waitlist *l, struct weft__waiter *w, int result,
			 struct weft__wake_batch *b);

/* Stores @cx's waker in @w unless it already wakes the same task. Lock
 * held. */
static inline void weft__waiter_set_waker(struct weft__waiter *w, const weft_cx *cx)
{
	weft_waker_store(&w->waker, cx->waker);
}

/*
 * Blocking wait: queues @w (IDLE; its need/tag already set) on @l and
 * parks, without @lock, until a progress-maker finishes it; returns with
 * the lock held and @w DONE. Lock held on entry.
 */
void weft__waiter_block(struct weft__sync_lock *lock, struct weft__waitlist *l,
			struct weft__waiter *w);


/* ----------------------------------------------------------- future poll */

/* Phases of a waiting future, kept in its private part (owned by the
 * future's poller, no lock). */
enum weft__wait_phase {
	WEFT__PHASE_INIT = 0,    /* not polled yet (zero-filled) */
	WEFT__PHASE_WAITING,     /* its node was queued (maybe DONE by now) */
	WEFT__PHASE_FINISHED,    /* READY returned; the caller owns the outcome */
	WEFT__PHASE_DROPPED,     /* dropped before finishing */
};

/*
 * The start of every waiting future's drop: true when the future may have
 * a node on a list (WAITING on a live primitive), which the caller must
 * then detach under the primitive's lock. Marks the future DROPPED (a
 * FINISHED one stays FINISHED, so its outcome stays readable).
 */
static inline bool weft__phase_drop(int *phase, bool bound)
{
	if (!bound || *phase != WEFT__PHASE_WAITING) {
		if (*phase == WEFT__PHASE_INIT)
			*phase = WEFT__PHASE_DROPPED;
		return false;
	}
	*phase = WEFT__PHASE_DROPPED;
	return true;
}

/*
 * Under the list's lock: takes the node's waker into *@waker (drop it
 * after unlocking) and unlinks the node if it is still queued. Returns
 * false when it was already finished: then it was handed something (a
 * permit, a slot, a notification, a wake) that the caller passes on.
 */
static inline bool weft__waiter_detach(struct weft__waitlist *l, struct weft__waiter *w,
				       weft_waker *waker)
{
	*waker = w->waker;
	w->waker = (weft_waker){ 0 };
	if (w->state != WEFT__WAITER_QUEUED)
		return false;
	weft__waitlist_remove(l, w);
	return true;
}

/* Makes a private struct that lives in a future's priv.opaque words. */
#define WEFT__SYNC_FUTURE_CHECK(pub, inner)                                         \
	_Static_assert(sizeof(struct inner) <= sizeof(((pub *)0)->priv.opaque),    \
		       #pub "'s opaque storage is too small");                       \
	_Static_assert(alignof(struct inner) <= alignof(uint64_t),                  \
		       #pub "'s opaque storage is not aligned enough")

/* ------------------------------------------------------- semaphore core */

/* The semaphore: free permits, closed flag and FIFO waiters under one
 * lock. A waiter's tag is the permit count it asks for and its need what
 * it still lacks (the head may hold a partial assignment, tag - need);
 * permits go only to the head of the queue, so a big request is never
 * overtaken by small ones (and a writer is never starved by readers).
 * See sync_semaphore.c. */
struct __attribute__((__may_alias__)) weft__sem {
	struct weft__sync_lock lock;
	uint64_t permits;
	bool closed;
	struct weft__waitlist waiters;
};

_Static_assert(sizeof(struct weft__sem) <= sizeof(((weft_semaphore *)0)->priv.opaque),
	       "weft_semaphore's opaque storage is too small");

/* The private part of every semaphore-based future (acquire, mutex lock,
 * rwlock read/write). */
struct __attribute__((__may_alias__)) weft__acquire {
	struct weft__sem *sem;
	uint64_t n;
	int phase;
	struct weft__waiter w;
};

/* 0 or -errno (its lock's init). */
int weft__sem_init(struct weft__sem *s, uint64_t permits);
void weft__sem_destroy(struct weft__sem *s);
int weft__sem_try_acquire(struct weft__sem *s, uint64_t n);
/* Adds @n permits unless the permits no caller holds (the free count
 * plus the waiting head's partial share) would pass @limit (then @err:
 * -EPERM, or -EOVERFLOW for the plain semaphore). */
int weft__sem_release(struct weft__sem *s, uint64_t n, uint64_t limit, int err);
void weft__sem_close(struct weft__sem *s);
int weft__sem_acquire_blocking(struct weft__sem *s, uint64_t n);

static inline void weft__acquire_init(struct weft__acquire *a, struct weft__sem *s, uint64_t n)
{
	*a = (struct weft__acquire){ .sem = s, .n = n };
}
/* Polls an acquire; on READY stores the result in *@result. */
weft_poll weft__acquire_poll(struct weft__acquire *a, weft_cx *cx, int *result);
void weft__acquire_drop(struct weft__acquire *a);

#endif /* WEFT__SYNC_WAITLIST_H */
