/*
 * weft/sync.h - async synchronisation: semaphore, mutex, rwlock, notify,
 * and the oneshot, mpsc and watch channels.
 *
 * None of these ever blocks a worker thread while waiting: a wait is a
 * future that returns WEFT_PENDING and is woken when it can go on. Each
 * primitive guards its state with a short internal lock that is never held
 * across a poll or a user callback.
 *
 * Every future here follows the leaf-future rules of weft/core.h:
 *  - `fut` is the first member (so it can be spawned, joined, selected);
 *    in a coroutine, await the typed poll function (weft_mutex_lock_poll
 *    and friends).
 *  - Its init function does nothing but fill the struct: no syscall, no
 *    allocation, no registration. A zero-filled future is valid: polling
 *    it gives READY with result -EINVAL, dropping it does nothing.
 *  - The waiter node lives inside the future (its `priv` storage):
 *    waiting allocates nothing. The future must not move once polled.
 *  - Drop is idempotent and cancels: a pending future leaves the wait
 *    queue, and whatever had already been handed to it and not yet
 *    reported by a READY poll is handed on (permits go back to the
 *    semaphore, a mutex passes to the next waiter, a reserved channel
 *    slot is freed, a notify_one permit goes to the next waiter).
 *    After READY the caller owns what it got (a held lock, permits, a
 *    received message); dropping the future then changes nothing.
 *  - Each poll takes one unit of cooperative budget, and gives it back
 *    when it returns PENDING to wait.
 *  - Waits are FIFO: the longest waiter is served first, and a newcomer
 *    never overtakes a queued waiter (no barging).
 *  - Results are 0 or a negative errno in the future's `result`.
 *  - In-place objects (semaphore, mutex, rwlock, notify) are released
 *    with *_close once nothing uses them; channel handles are released
 *    with their *_close. A semaphore's or an mpsc receiver's *_shutdown
 *    ends one direction (acquires, sends) and releases nothing.
 *
 * Thread safety: the primitives may be used from any thread, inside tasks
 * of any runtime or from plain threads; a single future is polled and
 * dropped by one thread at a time. The *_blocking functions wait on the
 * calling thread and are for plain threads only: on a runtime thread
 * (a worker, or inside weft_block_on) they return -EDEADLK at once, since
 * blocking there could stall the tasks that would release them.
 *
 * Why watch and not broadcast: the one multi-consumer channel here is
 * watch (the latest value, with change notification). It needs one
 * allocation for its whole life, a receiver can never lag or make the
 * sender keep a backlog, and it covers the common uses of fan-out in a
 * server: configuration updates, shutdown and health signals. A broadcast
 * channel needs a ring whose slots are reference-counted per receiver and
 * a "lagged" error path; it can be built later on the same waiter lists.
 */
#ifndef WEFT_SYNC_H
#define WEFT_SYNC_H

#include <weft/core.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Storage of the primitives and futures: sized opaque types that callers
 * may embed (no allocation). The words sit in each struct's `priv`
 * member: private, do not touch.
 */
#define WEFT__SYNC_OBJECT_WORDS 12
#define WEFT__SYNC_FUTURE_WORDS 12

/* ------------------------------------------------------------ semaphore */

/** The largest permit count a semaphore holds, or one acquire asks for. */
#define WEFT_SEMAPHORE_MAX_PERMITS ((size_t)1 << 48)

/** A counting semaphore with FIFO waiters. Embed it; weft_semaphore_init. */
typedef struct weft_semaphore {
	/** Private: do not touch. */
	struct {
		uint64_t opaque[WEFT__SYNC_OBJECT_WORDS];
	} priv;
} weft_semaphore;

/**
 * Initialises @s with @permits permits. Returns 0, -EINVAL (NULL @s,
 * or more than WEFT_SEMAPHORE_MAX_PERMITS), or the -errno of making its
 * internal lock (pthread_mutex_init: -ENOMEM, -EAGAIN; not seen on
 * Linux); on error @s holds nothing and needs no close. Any thread.
 */
WEFT_API int weft_semaphore_init(weft_semaphore *s, size_t permits);

/**
 * Releases @s's resources (an in-place object: nothing is freed but what
 * it holds). No future may be waiting on it (drop them first) and no
 * thread may be using it; @s may be initialised again afterwards. NULL is
 * ignored. The last user's thread.
 */
WEFT_API void weft_semaphore_close(weft_semaphore *s);

/**
 * Takes @n permits now if they are free and no waiter is queued before
 * (a try never overtakes a waiter). Returns 0, -EAGAIN (not enough free,
 * or waiters queued), -ESHUTDOWN (shut down), -EINVAL (NULL @s, or @n
 * above WEFT_SEMAPHORE_MAX_PERMITS). @n == 0 succeeds unless shut down.
 * Any thread.
 */
WEFT_API int weft_semaphore_try_acquire(weft_semaphore *s, size_t n);

/**
 * Adds @n permits (gives back acquired ones, or creates new ones) and
 * hands them to queued waiters in FIFO order: each waiter at the head
 * that they cover completes, and what is left goes to the head that needs
 * more, as a partial assignment it keeps while it waits (like Tokio).
 * Returns 0, -EINVAL (NULL), or -EOVERFLOW if the permits not held by
 * callers (free plus assigned to the waiting head) would pass
 * WEFT_SEMAPHORE_MAX_PERMITS (then nothing is added). Works on a shut
 * down semaphore too. Any thread.
 */
WEFT_API int weft_semaphore_release(weft_semaphore *s, size_t n);

/**
 * Shuts @s down (no more acquires; Tokio's Semaphore::close): every
 * queued acquire completes with -ESHUTDOWN (a partial
 * assignment the head had goes back to the free count), and every later
 * acquire or try_acquire fails with -ESHUTDOWN. Permits already held stay
 * held and may still be released; @s must still be closed with
 * weft_semaphore_close. Idempotent; NULL is ignored. Any thread.
 */
WEFT_API void weft_semaphore_shutdown(weft_semaphore *s);

/**
 * Permits free right now (a snapshot; Tokio's available_permits). 0 for
 * NULL. Any thread. Permits already assigned to a queued acquire that
 * waits for more are not free and are not counted: while a waiter is
 * queued this is 0 once the release, shutdown or acquire drop that put
 * permits back has returned. Not during such a call: one that completes
 * more than 32 waiters wakes them in batches, and a snapshot between two
 * batches may count permits while a waiter is still queued (permits the
 * call is about to hand to the head, or in a shutdown the shares already
 * given back). No acquire takes them ahead of the queue; none is lost.
 */
WEFT_API size_t weft_semaphore_available(weft_semaphore *s);

/**
 * An acquire of n permits. Output: result, 0 (the permits are now the
 * caller's, to give back with weft_semaphore_release), -ESHUTDOWN
 * (shut down), -EINVAL (zero-filled, or n too large).
 */
typedef struct weft_semaphore_acquire_future {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0 or a negative errno, as above. */
	int result;
	/** Private: do not touch (the waiter node lives here). */
	struct {
		uint64_t opaque[WEFT__SYNC_FUTURE_WORDS];
	} priv;
} weft_semaphore_acquire_future;

/** Initialises @a to acquire @n permits of @s. Does nothing else. */
WEFT_API void weft_semaphore_acquire_init(weft_semaphore_acquire_future *a,
					  weft_semaphore *s, size_t n);
/** Polls the acquire: READY when result is set; PENDING queues it (at
 *  the head, it takes the free permits at once as a partial assignment
 *  and then each released permit until it has n). The thread that owns
 *  the future. */
WEFT_API weft_poll weft_semaphore_acquire_poll(weft_semaphore_acquire_future *a, weft_cx *cx);
/** Drops the acquire: leaves the queue and gives back every permit it
 *  was handed but did not report with READY (all n once granted, or the
 *  partial assignment it held while waiting at the head); those go on to
 *  the next waiters at once if that lets them proceed. Idempotent;
 *  zero-filled is fine. The thread that polls it. */
WEFT_API void weft_semaphore_acquire_drop(weft_semaphore_acquire_future *a);

/**
 * Acquires @n permits, waiting on the calling plain thread (not a
 * runtime thread). Returns 0, -ESHUTDOWN, -EINVAL, or -EDEADLK on a
 * runtime thread.
 */
WEFT_API int weft_semaphore_acquire_blocking(weft_semaphore *s, size_t n);

/* ---------------------------------------------------------------- mutex */

/**
 * An async mutex: a semaphore of one permit. Locking is FIFO-fair: the
 * lock passes straight from the unlocker to the longest waiter. Holding it
 * across awaits is allowed (that is its point); it does not belong to a
 * thread, so the task that locked it may unlock it from any worker.
 */
typedef struct weft_mutex {
	/** Private: do not touch. */
	struct {
		uint64_t opaque[WEFT__SYNC_OBJECT_WORDS];
	} priv;
} weft_mutex;

/** Initialises @m unlocked (in place, no allocation). 0, -EINVAL for
 *  NULL, or the -errno of making its internal lock (as
 *  weft_semaphore_init; nothing to close then). Release it with
 *  weft_mutex_close. Any thread. */
WEFT_API int weft_mutex_init(weft_mutex *m);
/** Releases @m's resources (in place): no waiters, not in use, not
 *  locked. NULL is ignored. The last user's thread. */
WEFT_API void weft_mutex_close(weft_mutex *m);

/** Locks @m now if it is free and nobody waits: 0 (the caller holds it,
 *  unlock once), -EAGAIN, or -EINVAL for NULL. Never waits. Any thread. */
WEFT_API int weft_mutex_try_lock(weft_mutex *m);

/**
 * Unlocks @m, which the caller holds (from a READY lock future, a
 * try_lock or a lock_blocking): the longest waiter gets it. Unlocking a
 * mutex that is not locked returns -EPERM and changes nothing; 0 else.
 * The mutex has no owner, so an unlock by someone who does not hold it
 * (while another does) is not detected: it releases the holder's lock.
 * Any thread.
 */
WEFT_API int weft_mutex_unlock(weft_mutex *m);

/**
 * A lock future. The guard is the READY result: result 0 means the
 * caller holds @m and must call weft_mutex_unlock once. -EINVAL:
 * zero-filled.
 */
typedef struct weft_mutex_lock_future {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0 or a negative errno, as above. */
	int result;
	/** Private: do not touch (the waiter node lives here). */
	struct {
		uint64_t opaque[WEFT__SYNC_FUTURE_WORDS];
	} priv;
} weft_mutex_lock_future;

/** Initialises @l to lock @m (borrowed: it must outlive @l). Does
 *  nothing else. Any thread. */
WEFT_API void weft_mutex_lock_init(weft_mutex_lock_future *l, weft_mutex *m);
/** Polls the lock: READY with result 0 once held (or -EINVAL,
 *  zero-filled); PENDING queues it FIFO. The thread that owns @l. */
WEFT_API weft_poll weft_mutex_lock_poll(weft_mutex_lock_future *l, weft_cx *cx);
/** Drops the lock future; if the mutex was handed to it but the READY was
 *  not seen, it passes to the next waiter. Idempotent. The thread that
 *  owns @l. */
WEFT_API void weft_mutex_lock_drop(weft_mutex_lock_future *l);

/** Locks @m, waiting on the calling plain thread: 0, or -EDEADLK on a
 *  runtime thread, -EINVAL for NULL. */
WEFT_API int weft_mutex_lock_blocking(weft_mutex *m);

/* --------------------------------------------------------------- rwlock */

/** Readers that may hold a rwlock at once. */
#define WEFT_RWLOCK_MAX_READERS ((size_t)1 << 30)

/**
 * A reader-writer lock: a semaphore of WEFT_RWLOCK_MAX_READERS permits,
 * a reader takes one and a writer takes all. FIFO: a queued writer holds
 * back readers that come after it, so writers never starve.
 */
typedef struct weft_rwlock {
	/** Private: do not touch. */
	struct {
		uint64_t opaque[WEFT__SYNC_OBJECT_WORDS];
	} priv;
} weft_rwlock;

/** Initialises @l unlocked (in place). 0, -EINVAL for NULL, or the
 *  -errno of making its internal lock (as weft_semaphore_init; nothing
 *  to close then). Release it with weft_rwlock_close. Any thread. */
WEFT_API int weft_rwlock_init(weft_rwlock *l);
/** Releases @l's resources (in place): no waiters, not in use, not
 *  locked. NULL is ignored. The last user's thread. */
WEFT_API void weft_rwlock_close(weft_rwlock *l);
/** Takes a read lock now if no writer holds or waits for it: 0 (held,
 *  read_unlock once), -EAGAIN, -EINVAL. Never waits. Any thread. */
WEFT_API int weft_rwlock_try_read(weft_rwlock *l);
/** Takes the write lock now if nobody holds or waits for it: 0 (held,
 *  write_unlock once), -EAGAIN, -EINVAL. Never waits. Any thread. */
WEFT_API int weft_rwlock_try_write(weft_rwlock *l);
/** Gives back one read lock the caller holds. 0, or -EPERM when the lock
 *  is not held at all (a best-effort check: the lock does not know who
 *  holds it, so releasing a lock held by someone else is not caught).
 *  Any thread. */
WEFT_API int weft_rwlock_read_unlock(weft_rwlock *l);
/** Gives back the write lock the caller holds. 0, or -EPERM when no lock
 *  at all is free to give back (same best-effort check). Any thread. */
WEFT_API int weft_rwlock_write_unlock(weft_rwlock *l);

/** A read-lock or write-lock future; result 0 means the lock is held
 *  (release it with the matching unlock), -EINVAL zero-filled. */
typedef struct weft_rwlock_lock_future {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0 or a negative errno, as above. */
	int result;
	/** Private: do not touch (the waiter node lives here). */
	struct {
		uint64_t opaque[WEFT__SYNC_FUTURE_WORDS];
	} priv;
} weft_rwlock_lock_future;

/** Initialises @f to take a read lock of @l (borrowed). Does nothing
 *  else. Any thread. */
WEFT_API void weft_rwlock_read_init(weft_rwlock_lock_future *f, weft_rwlock *l);
/** Initialises @f to take the write lock of @l (borrowed). Does nothing
 *  else. Any thread. */
WEFT_API void weft_rwlock_write_init(weft_rwlock_lock_future *f, weft_rwlock *l);
/** Polls either kind: READY with result 0 once held; PENDING queues it
 *  FIFO. The thread that owns @f. */
WEFT_API weft_poll weft_rwlock_lock_poll(weft_rwlock_lock_future *f, weft_cx *cx);
/** Drops either kind; a lock handed over but not reported is given back
 *  (to the next waiters). Idempotent. The thread that owns @f. */
WEFT_API void weft_rwlock_lock_drop(weft_rwlock_lock_future *f);
/** Read-locks @l, waiting on the calling plain thread: 0 (held),
 *  -EDEADLK on a runtime thread, -EINVAL. */
WEFT_API int weft_rwlock_read_blocking(weft_rwlock *l);
/** Write-locks @l, waiting on the calling plain thread: 0 (held),
 *  -EDEADLK on a runtime thread, -EINVAL. */
WEFT_API int weft_rwlock_write_blocking(weft_rwlock *l);

/* --------------------------------------------------------------- notify */

/**
 * Notify: wakes tasks, Tokio's Notify. notify_one wakes the longest
 * waiter; with nobody waiting it stores one permit (at most one), which
 * the next wait consumes at once. notify_waiters wakes every wait
 * created (initialised) before the call, and stores no permit.
 */
typedef struct weft_notify {
	/** Private: do not touch. */
	struct {
		uint64_t opaque[WEFT__SYNC_OBJECT_WORDS];
	} priv;
} weft_notify;

/** Initialises @n with no permit (in place). 0, -EINVAL for NULL, or
 *  the -errno of making its internal lock (as weft_semaphore_init;
 *  nothing to close then). Release it with weft_notify_close. Any
 *  thread. */
WEFT_API int weft_notify_init(weft_notify *n);
/** Releases @n's resources (in place): no waiters, not in use. NULL is
 *  ignored. The last user's thread. */
WEFT_API void weft_notify_close(weft_notify *n);
/** Wakes the longest waiter, or stores a permit. Any thread. */
WEFT_API void weft_notify_one(weft_notify *n);
/** Wakes every waiter initialised before this call. Any thread. */
WEFT_API void weft_notify_waiters(weft_notify *n);

/** A wait on a notify. Output: result, 0 once notified, -EINVAL
 *  zero-filled. */
typedef struct weft_notified {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0 or a negative errno, as above. */
	int result;
	/** Private: do not touch (the waiter node lives here). */
	struct {
		uint64_t opaque[WEFT__SYNC_FUTURE_WORDS];
	} priv;
} weft_notified;

/**
 * Initialises @f to wait on @n. Records (one atomic read, nothing else)
 * how many notify_waiters calls happened so far, so a notify_waiters that
 * comes after this call completes @f even before its first poll: the
 * pattern "init, check the condition, await" loses no wakeup. @n is
 * borrowed. Any thread.
 */
WEFT_API void weft_notified_init(weft_notified *f, weft_notify *n);
/** Polls the wait: READY once notified (consuming a stored permit if
 *  that is what completed it). The thread that owns @f. */
WEFT_API weft_poll weft_notified_poll(weft_notified *f, weft_cx *cx);
/** Drops the wait; a notify_one it received but did not report passes to
 *  the next waiter (or back to the stored permit). Idempotent. The thread
 *  that owns @f. */
WEFT_API void weft_notified_drop(weft_notified *f);

/** Waits for a notification (or takes the stored permit) on the calling
 *  plain thread: 0, -EDEADLK on a runtime thread, -EINVAL. */
WEFT_API int weft_notify_wait_blocking(weft_notify *n);

/* -------------------------------------------------------------- oneshot */

/*
 * A oneshot channel carries one message of elem_size bytes (copied by
 * value) from one sender to one receiver. The channel is one allocation,
 * freed when both handles are gone. Each handle is owned by one user at a
 * time and released exactly once: the sender by weft_oneshot_send or
 * weft_oneshot_sender_close, the receiver by weft_oneshot_receiver_close.
 */
/** The sending handle of a oneshot channel (opaque; see above). */
typedef struct weft_oneshot_sender weft_oneshot_sender;
/** The receiving handle of a oneshot channel (opaque; see above). */
typedef struct weft_oneshot_receiver weft_oneshot_receiver;

/** The largest message size of any channel here. */
#define WEFT_CHANNEL_MAX_ELEM ((size_t)1 << 20)

/**
 * Creates a oneshot channel for messages of @elem_size bytes (1 ..
 * WEFT_CHANNEL_MAX_ELEM). Returns 0 with both handles, or -EINVAL,
 * -ENOMEM. Any thread.
 */
WEFT_API int weft_oneshot_new(size_t elem_size, weft_oneshot_sender **tx,
			      weft_oneshot_receiver **rx);

/**
 * Sends *@msg (elem_size bytes copied) and releases the sender. Returns 0,
 * or -EPIPE when the receiver is already gone (the message is discarded);
 * -EINVAL for NULL arguments (the sender is then not released). Any
 * thread; never waits.
 */
WEFT_API int weft_oneshot_send(weft_oneshot_sender *tx, const void *msg);

/** True once the receiver is gone (a send would fail). Any thread. */
WEFT_API bool weft_oneshot_is_closed(weft_oneshot_sender *tx);

/** Releases the sender without sending: the receiver sees -EPIPE. NULL
 *  is ignored. Any thread (the sender's owner). */
WEFT_API void weft_oneshot_sender_close(weft_oneshot_sender *tx);

/**
 * Takes the message if it is there: 0 (copied to *@out), -EAGAIN (not
 * yet), -EPIPE (the sender is gone without sending, or the message was
 * already taken), -EINVAL. Never waits. The receiver's owner.
 */
WEFT_API int weft_oneshot_try_recv(weft_oneshot_receiver *rx, void *out);

/** Releases the receiver; an unreceived message is discarded. A pending
 *  recv future on it must be dropped first. NULL is ignored. The
 *  receiver's owner. */
WEFT_API void weft_oneshot_receiver_close(weft_oneshot_receiver *rx);

/** A receive. Output: result, 0 (message in *out), -EPIPE (sender gone
 *  without sending), -EINVAL (zero-filled). */
typedef struct weft_oneshot_recv_future {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0 or a negative errno, as above. */
	int result;
	/** Private: do not touch (the waiter node lives here). */
	struct {
		uint64_t opaque[WEFT__SYNC_FUTURE_WORDS];
	} priv;
} weft_oneshot_recv_future;

/** Initialises @f to receive from @rx into @out (elem_size bytes, which
 *  must stay valid while @f is pending). Does nothing else. */
WEFT_API void weft_oneshot_recv_init(weft_oneshot_recv_future *f, weft_oneshot_receiver *rx,
				     void *out);
/** Polls the receive: READY once the message is copied out or the sender
 *  is gone (result set); PENDING stores @cx's waker. The owner's thread. */
WEFT_API weft_poll weft_oneshot_recv_poll(weft_oneshot_recv_future *f, weft_cx *cx);
/** Drops the receive; an untaken message stays in the channel.
 *  Idempotent. The owner's thread. */
WEFT_API void weft_oneshot_recv_drop(weft_oneshot_recv_future *f);

/** Receives on the calling plain thread, waiting for the message: 0,
 *  -EPIPE, -EINVAL, -EDEADLK on a runtime thread. */
WEFT_API int weft_oneshot_recv_blocking(weft_oneshot_receiver *rx, void *out);

/* ----------------------------------------------------------------- mpsc */

/*
 * A multi-producer single-consumer channel of elem_size-byte messages,
 * copied by value, delivered in order. Bounded (capacity > 0: the buffer
 * is allocated at creation, a send waits for room) or unbounded (capacity
 * 0: sends never wait; the buffer grows by blocks of 32 messages, and one
 * emptied block is kept for reuse).
 *
 * Handles: senders are counted (weft_mpsc_sender_clone adds one,
 * weft_mpsc_sender_close removes one); the receiver is unique. When every
 * sender is gone the receiver drains what is buffered, then sees -EPIPE.
 * When the receiver is shut down or closed, sends fail with -EPIPE and
 * queued sends complete with -EPIPE. After weft_mpsc_receiver_shutdown the
 * receiver also drains what is buffered and then sees -EPIPE, even while
 * senders are alive (Tokio's close-then-drain shutdown). The channel is
 * freed with its last handle.
 */
/** A sending handle of an mpsc channel (opaque; see above); cloned with
 *  weft_mpsc_sender_clone, each clone closed on its own. */
typedef struct weft_mpsc_sender weft_mpsc_sender;
/** The receiving handle of an mpsc channel (opaque; see above). */
typedef struct weft_mpsc_receiver weft_mpsc_receiver;

/** The largest bounded capacity. */
#define WEFT_MPSC_MAX_CAPACITY ((size_t)1 << 24)

/**
 * Creates a channel of @capacity messages (0 = unbounded) of @elem_size
 * bytes (1 .. WEFT_CHANNEL_MAX_ELEM). Returns 0 with one sender and the
 * receiver, or -EINVAL, -ENOMEM, or the -errno of making its internal
 * lock (as weft_semaphore_init). Any thread.
 */
WEFT_API int weft_mpsc_new(size_t capacity, size_t elem_size, weft_mpsc_sender **tx,
			   weft_mpsc_receiver **rx);

/** Returns another sender handle for @tx's channel (counted; close each
 *  one). NULL for NULL. Never fails, never allocates. Any thread. */
WEFT_API weft_mpsc_sender *weft_mpsc_sender_clone(weft_mpsc_sender *tx);
/** Releases one sender handle; the last one ends the stream. NULL is
 *  ignored. Pending send futures made from it must be dropped first.
 *  Any thread (the handle's owner). */
WEFT_API void weft_mpsc_sender_close(weft_mpsc_sender *tx);
/** True once the receiver is shut down or closed (a send would fail).
 *  Any thread. */
WEFT_API bool weft_mpsc_is_closed(weft_mpsc_sender *tx);

/**
 * Sends *@msg now if there is room (and no earlier send waits for room):
 * 0, -EAGAIN (full), -EPIPE (receiver closed or gone), -ENOMEM
 * (unbounded, block allocation failed), -EINVAL. Never waits. Any
 * thread.
 */
WEFT_API int weft_mpsc_try_send(weft_mpsc_sender *tx, const void *msg);

/** A send. Output: result, 0 (sent), -EPIPE, -ENOMEM, -EINVAL. If
 *  dropped before READY, the message was not sent. */
typedef struct weft_mpsc_send_future {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0 or a negative errno, as above. */
	int result;
	/** Private: do not touch (the waiter node lives here). */
	struct {
		uint64_t opaque[WEFT__SYNC_FUTURE_WORDS];
	} priv;
} weft_mpsc_send_future;

/** Initialises @f to send *@msg through @tx. *@msg is copied when the send
 *  completes, so it must stay valid while @f is pending. Does nothing
 *  else. Any thread. */
WEFT_API void weft_mpsc_send_init(weft_mpsc_send_future *f, weft_mpsc_sender *tx,
				  const void *msg);
/** Polls the send: READY once sent or failed (result set); PENDING waits
 *  FIFO for room (bounded). The owner's thread. */
WEFT_API weft_poll weft_mpsc_send_poll(weft_mpsc_send_future *f, weft_cx *cx);
/** Drops the send; a slot reserved for it goes to the next waiting send.
 *  Idempotent. The owner's thread. */
WEFT_API void weft_mpsc_send_drop(weft_mpsc_send_future *f);

/** Sends on the calling plain thread, waiting for room: 0, -EPIPE,
 *  -ENOMEM, -EINVAL, -EDEADLK on a runtime thread. */
WEFT_API int weft_mpsc_send_blocking(weft_mpsc_sender *tx, const void *msg);

/**
 * Takes the oldest message: 0 (copied to *@out), -EAGAIN (empty, senders
 * remain and the receiver is not shut down), -EPIPE (empty, and every
 * sender is gone or the receiver was shut down), -EINVAL. Never waits. The thread
 * that owns the receiver (the receiver is used by one thread at a time).
 */
WEFT_API int weft_mpsc_try_recv(weft_mpsc_receiver *rx, void *out);

/** Shuts the receiving side down without releasing it (Tokio's
 *  Receiver::close): sends fail from now on with -EPIPE, queued sends
 *  (a bounded send waiting for room) complete with -EPIPE, and a pending
 *  receive is woken. Messages already buffered can still be received;
 *  once they are drained every receive ends with -EPIPE, whether or not
 *  senders are alive. Idempotent; NULL is ignored. The thread that owns
 *  the receiver. */
WEFT_API void weft_mpsc_receiver_shutdown(weft_mpsc_receiver *rx);
/** Releases the receiver (shutting the channel down for senders);
 *  buffered messages are discarded. A pending recv future on it must be
 *  dropped first. NULL is ignored. The receiver's owner. */
WEFT_API void weft_mpsc_receiver_close(weft_mpsc_receiver *rx);

/** A receive. Output: result, 0 (message in *out), -EPIPE (drained, and
 *  no sender left or the receiver shut down), -EINVAL. */
typedef struct weft_mpsc_recv_future {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0 or a negative errno, as above. */
	int result;
	/** Private: do not touch (the waiter node lives here). */
	struct {
		uint64_t opaque[WEFT__SYNC_FUTURE_WORDS];
	} priv;
} weft_mpsc_recv_future;

/** Initialises @f to receive from @rx into @out (elem_size bytes, valid
 *  while pending). Does nothing else. The receiver's owner. */
WEFT_API void weft_mpsc_recv_init(weft_mpsc_recv_future *f, weft_mpsc_receiver *rx, void *out);
/** Polls the receive: READY once a message is copied out or the channel
 *  is drained and ended (result set). The owner's thread. */
WEFT_API weft_poll weft_mpsc_recv_poll(weft_mpsc_recv_future *f, weft_cx *cx);
/** Drops the receive; no message is lost (messages are only taken by a
 *  READY poll). Idempotent. The owner's thread. */
WEFT_API void weft_mpsc_recv_drop(weft_mpsc_recv_future *f);

/** Receives on the calling plain thread, waiting for a message: 0,
 *  -EPIPE (drained, and no sender left or the receiver shut down), -EINVAL,
 *  -EDEADLK (called on a runtime thread). */
WEFT_API int weft_mpsc_recv_blocking(weft_mpsc_receiver *rx, void *out);

/* ---------------------------------------------------------------- watch */

/*
 * A watch channel holds one value (elem_size bytes) that one sender
 * replaces and any number of receivers read; each receiver remembers the
 * version it last marked seen and can wait for a newer one. Intermediate
 * values may be skipped: a receiver sees the latest. One allocation for
 * the channel, one small one per extra receiver handle.
 */
/** The sending handle of a watch channel (opaque; see above). */
typedef struct weft_watch_sender weft_watch_sender;
/** A receiving handle of a watch channel (opaque; see above). */
typedef struct weft_watch_receiver weft_watch_receiver;

/**
 * Creates a watch channel holding a copy of *@initial (@elem_size bytes,
 * 1 .. WEFT_CHANNEL_MAX_ELEM) with one receiver, which has seen it.
 * 0, -EINVAL, -ENOMEM, or the -errno of making its internal lock (as
 * weft_semaphore_init). Release each handle with its *_close. Any
 * thread.
 */
WEFT_API int weft_watch_new(size_t elem_size, const void *initial, weft_watch_sender **tx,
			    weft_watch_receiver **rx);

/**
 * Replaces the value with *@value and wakes every receiver waiting for a
 * change. -EPIPE (and the value is not stored) when no receiver is left;
 * -EINVAL. Any thread; never waits.
 */
WEFT_API int weft_watch_send(weft_watch_sender *tx, const void *value);
/** Releases the sender: waiting receivers complete with -EPIPE. NULL is
 *  ignored. The sender's owner. */
WEFT_API void weft_watch_sender_close(weft_watch_sender *tx);

/** Copies the current value to *@out; does not mark it seen. 0, -EINVAL.
 *  Never waits. The receiver's owner. */
WEFT_API int weft_watch_borrow(weft_watch_receiver *rx, void *out);
/** Copies the current value to *@out and marks it seen. 0, -EINVAL.
 *  Never waits. The receiver's owner. */
WEFT_API int weft_watch_borrow_and_update(weft_watch_receiver *rx, void *out);
/** 1 if a value newer than the last seen is there, 0 if not, -EPIPE if
 *  not and the sender is gone, -EINVAL. The receiver's owner. */
WEFT_API int weft_watch_has_changed(weft_watch_receiver *rx);
/** A new receiver that has seen what @rx has seen: NULL for NULL or on
 *  allocation failure. Close it like any receiver. Any thread. */
WEFT_API weft_watch_receiver *weft_watch_receiver_clone(weft_watch_receiver *rx);
/** Releases a receiver. Pending changed futures on it must be dropped
 *  first. NULL is ignored. The receiver's owner. */
WEFT_API void weft_watch_receiver_close(weft_watch_receiver *rx);

/** A wait for a change. Output: result, 0 (a newer value is there and is now
 *  marked seen; read it with weft_watch_borrow), -EPIPE (no newer value
 *  and the sender is gone), -EINVAL. */
typedef struct weft_watch_changed_future {
	/** Type-erased view: the typed poll and drop below. */
	weft_future fut;
	/** Output: 0 or a negative errno, as above. */
	int result;
	/** Private: do not touch (the waiter node lives here). */
	struct {
		uint64_t opaque[WEFT__SYNC_FUTURE_WORDS];
	} priv;
} weft_watch_changed_future;

/** Initialises @f to wait for a change seen by @rx. Does nothing else. */
WEFT_API void weft_watch_changed_init(weft_watch_changed_future *f, weft_watch_receiver *rx);
/** Polls the wait: READY once a newer value is there or the sender is
 *  gone (result set). The owner's thread. */
WEFT_API weft_poll weft_watch_changed_poll(weft_watch_changed_future *f, weft_cx *cx);
/** Drops the wait. Idempotent. The owner's thread. */
WEFT_API void weft_watch_changed_drop(weft_watch_changed_future *f);

/** Waits for a change on the calling plain thread: 0, -EPIPE, -EINVAL,
 *  -EDEADLK on a runtime thread. */
WEFT_API int weft_watch_changed_blocking(weft_watch_receiver *rx);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SYNC_H */
