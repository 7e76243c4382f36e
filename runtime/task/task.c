/*
 * task.c - the task state machine, the task waker, spawn and join handles.
 *
 * Protocol. A task's `state` word holds flags and a reference count, and
 * every transition is one atomic read-modify-write, so any thread may
 * wake, abort, join or drop a reference at any time.
 *
 * References. One for the owned list (the runtime's record of live tasks,
 * dropped at completion or shutdown), one for the join handle while it
 * exists, one per waker, and one "notified" reference that travels with
 * the task through a run queue. The thread that drops the count to zero
 * frees the task.
 *
 * NOTIFIED is set exactly while the task sits in a run queue or must be
 * put back in one. A wake of an idle task sets it and adds the notified
 * reference, and the waker then queues the task: only that one waker
 * queues it, so a task is in at most one queue. A wake by value, too,
 * adds a new notified reference and drops its own only after the
 * scheduler returned: while a thread outside the runtime is inside
 * schedule (taking the runtime's lock, notifying a worker), the task it
 * holds keeps the runtime alive, even if weft_runtime_close cancels the
 * task and drops every other reference meanwhile. A wake of a RUNNING task
 * only sets NOTIFIED, and the poller, on its way out, keeps its own
 * reference as the notified one and requeues the task. A wake of a
 * NOTIFIED or COMPLETE task does nothing. No wake is lost: every wake
 * either sets NOTIFIED or finds it set, and the poller clears NOTIFIED in
 * the same atomic step that sets RUNNING, before it polls, so a wake that
 * lands during the poll is seen when the poll ends.
 *
 * RUNNING grants exclusive access to the future: only the thread that set
 * it polls or drops the future. Completion (READY, or cancellation) drops
 * the future, then sets COMPLETE (and ABORTED when it was cancelled) and
 * clears RUNNING in one step with release ordering; the join side reads
 * the outcome and the output after an
 * acquire load that sees COMPLETE.
 *
 * Cancellation. Abort sets CANCELLED; an idle task is also notified so a
 * worker picks it up, sees CANCELLED as it takes RUNNING, and drops the
 * future instead of polling it. A running task sees CANCELLED when its
 * poll returns PENDING. So the future is always dropped on a runtime
 * thread, by the thread that holds RUNNING, exactly once. Shutdown, with
 * every worker stopped, takes RUNNING directly on idle tasks.
 *
 * The join waker. While JOIN_WAKER is clear the join handle owns the
 * join_waker slot and may write it; setting the bit (release) hands it to
 * the task side, which wakes it at completion. To replace it, the handle
 * clears the bit while the task is not COMPLETE. At completion the task
 * side wakes it, then clears JOIN_WAKER; if by then the handle is gone
 * (JOIN_INTEREST clear) the task side drops the waker, otherwise the
 * handle drops it when it is closed, or earlier when a weft_join_task
 * that polled it is dropped (weft__join_handle_withdraw_waker: the same
 * take-back as a poll replacing its waker). Closing the handle clears
 * JOIN_INTEREST, and also JOIN_WAKER if the task is not complete, taking
 * the slot back. Exactly one side drops the waker.
 *
 * Model: tests/model/task_wake.pml (the worker, wakers by value and by
 * reference, the join handle's poll, abort, withdraw and close, and
 * weft_runtime_close) checks the word's transitions in sequentially
 * consistent runs. They are RMWs on one location, totally ordered
 * whatever their order arguments; the arguments above are for the data
 * around the word (the future, the output, the join waker slot), each
 * one a release by the side giving a thing up paired with an acquire by
 * the side taking it, as the comment at each RMW says.
 */
#include "task.h"

#include <errno.h>
#include <string.h>

_Static_assert(offsetof(struct weft__task, future) == 64,
	       "the task header is one cache line");
_Static_assert(WEFT_MAX_WORKERS < 0x7ffu, "worker homes (1 .. workers) fit in 11 bits");
_Static_assert(WEFT__TC_CLASSES <= 128, "size classes fit in 7 bits");
_Static_assert(WEFT__OWNED_SHARDS <= 16, "shards fit in 4 bits");

static inline uint64_t weft__refs(uint64_t state)
{
	return (state & WEFT__TASK_REF_MASK) >> WEFT__TASK_REF_SHIFT;
}

_Atomic unsigned weft__fork_generation;

void weft__runtime_ref_dec(weft_runtime *rt)
{
	struct weft__tasks *ts = weft__tasks_of(rt);
	/* AcqRel: the last reference's holder frees the runtime and must
	 * see every other holder's use of it. */
	if (atomic_fetch_sub_explicit(&ts->refs, 1, memory_order_acq_rel) != 1)
		return;
	ts->destroy(rt);
}

static void weft__task_dealloc(struct weft__task *t)
{
	weft_runtime *rt = t->rt;
	/* Every path to here went through completion, which settled the
	 * join waker; this drop is a no-op kept for a slot never handed
	 * over (idempotent). */
	weft_waker_drop(&t->join_waker);
	weft__task_mem_free(rt, t);
	weft__runtime_ref_dec(rt);
}

static inline void weft__task_ref_inc(struct weft__task *t)
{
	/* Relaxed, as for any reference count increment: the caller already
	 * holds a reference, so the task cannot be freed concurrently, and
	 * no data is published by taking a reference. */
	atomic_fetch_add_explicit(&t->state, WEFT__TASK_REF_ONE, memory_order_relaxed);
}

void weft__task_ref_dec(struct weft__task *t)
{
	/* AcqRel: release makes this thread's use of the task happen-before
	 * the free; acquire, for the thread that frees, sees every other
	 * thread's released uses. */
	uint64_t prev = atomic_fetch_sub_explicit(&t->state, WEFT__TASK_REF_ONE,
						  memory_order_acq_rel);
	if (weft__refs(prev) == 1)
		weft__task_dealloc(t);
}

static inline void weft__task_ref_dec2(struct weft__task *t)
{
	/* Two references at once (completion: the poller's and the owned
	 * list's); ordering as in weft__task_ref_dec. */
	uint64_t prev = atomic_fetch_sub_explicit(&t->state, 2 * WEFT__TASK_REF_ONE,
						  memory_order_acq_rel);
	if (weft__refs(prev) == 2)
		weft__task_dealloc(t);
}

static inline void weft__task_schedule(struct weft__task *t, bool yield)
{
	weft__tasks_of(t->rt)->ops->schedule(t->rt, t, yield);
}

/* ------------------------------------------------------------- waking */

enum weft__wake_action { WEFT__WAKE_NOTHING, WEFT__WAKE_SUBMIT, WEFT__WAKE_DEALLOC };

/* wake_by_ref: the caller's reference stays; a submit adds a new one. */
static enum weft__wake_action weft__transition_notified_by_ref(struct weft__task *t)
{
	/* Relaxed: only a first guess for the CAS below, which states the
	 * ordering it needs. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
	for (;;) {
		uint64_t next;
		enum weft__wake_action act;
		if (cur & (WEFT__TASK_COMPLETE | WEFT__TASK_NOTIFIED))
			return WEFT__WAKE_NOTHING;
		if (cur & WEFT__TASK_RUNNING) {
			next = cur | WEFT__TASK_NOTIFIED;
			act = WEFT__WAKE_NOTHING;
		} else {
			next = (cur | WEFT__TASK_NOTIFIED) + WEFT__TASK_REF_ONE;
			act = WEFT__WAKE_SUBMIT;
		}
		/* Release: whatever the waker did to make progress possible
		 * (the data it wrote) happens-before the poll, whose
		 * transition to RUNNING acquires. Acquire on success too, so
		 * a submitting waker sees the task as the last poller left
		 * it before it touches queue links. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			return act;
	}
}

/*
 * wake: consumes the caller's reference. When the task must be submitted,
 * a new reference is added for the run queue and the caller keeps its own
 * until the submission is over (it drops it after schedule returns): the
 * task, and through it the runtime, then stays alive for as long as the
 * waking thread is inside the scheduler, even when shutdown cancels the
 * task and drops every other reference meanwhile.
 */
static enum weft__wake_action weft__transition_notified_by_val(struct weft__task *t)
{
	/* Relaxed: only a first guess for the CAS below, which states the
	 * ordering it needs. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
	for (;;) {
		uint64_t next;
		enum weft__wake_action act;
		if (cur & WEFT__TASK_RUNNING) {
			/* The poller holds a reference, so ours is not the last. */
			next = (cur | WEFT__TASK_NOTIFIED) - WEFT__TASK_REF_ONE;
			act = WEFT__WAKE_NOTHING;
		} else if (cur & (WEFT__TASK_COMPLETE | WEFT__TASK_NOTIFIED)) {
			next = cur - WEFT__TASK_REF_ONE;
			act = weft__refs(next) == 0 ? WEFT__WAKE_DEALLOC : WEFT__WAKE_NOTHING;
		} else {
			/* The queue's reference; ours is dropped after
			 * the submission (see above). */
			next = (cur | WEFT__TASK_NOTIFIED) + WEFT__TASK_REF_ONE;
			act = WEFT__WAKE_SUBMIT;
		}
		/* AcqRel: release as in by_ref (and for the reference drop);
		 * acquire for a dealloc, which must see all other uses. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			return act;
	}
}

static const weft_waker_vtable weft__task_waker_vtable;

static weft_waker weft__task_waker_clone(const void *data)
{
	struct weft__task *t = (struct weft__task *)data;
	weft__task_ref_inc(t);
	return (weft_waker){ .vtable = &weft__task_waker_vtable, .data = t };
}

static void weft__task_waker_wake(const void *data)
{
	struct weft__task *t = (struct weft__task *)data;
	switch (weft__transition_notified_by_val(t)) {
	case WEFT__WAKE_SUBMIT:
		weft__task_schedule(t, false);
		/* Only now: until schedule returned, this reference kept the
		 * task and its runtime alive (a concurrent weft_runtime_close
		 * may have released every other one). */
		weft__task_ref_dec(t);
		break;
	case WEFT__WAKE_DEALLOC:
		weft__task_dealloc(t);
		break;
	case WEFT__WAKE_NOTHING:
		break;
	}
}

static void weft__task_waker_wake_by_ref(const void *data)
{
	struct weft__task *t = (struct weft__task *)data;
	if (weft__transition_notified_by_ref(t) == WEFT__WAKE_SUBMIT)
		weft__task_schedule(t, false);
}

static void weft__task_waker_drop(const void *data)
{
	weft__task_ref_dec((struct weft__task *)data);
}

static const weft_waker_vtable weft__task_waker_vtable = {
	.clone = weft__task_waker_clone,
	.wake = weft__task_waker_wake,
	.wake_by_ref = weft__task_waker_wake_by_ref,
	.drop = weft__task_waker_drop,
};

/* ------------------------------------------------------------ running */

enum weft__run_action { WEFT__RUN_POLL, WEFT__RUN_CANCEL, WEFT__RUN_SKIP };

static enum weft__run_action weft__transition_to_running(struct weft__task *t)
{
	/* Relaxed: only a first guess for the CAS below, which states the
	 * ordering it needs. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
	for (;;) {
		/* Completed while queued (shutdown or a cancel that ran from
		 * elsewhere): just drop the notified reference. */
		if (cur & (WEFT__TASK_COMPLETE | WEFT__TASK_RUNNING))
			return WEFT__RUN_SKIP;
		uint64_t next = (cur & ~(uint64_t)WEFT__TASK_NOTIFIED) | WEFT__TASK_RUNNING;
		/* Acquire: see the future as the previous poller released it
		 * and the data every waker released. Release is not needed:
		 * nothing is published by starting a poll. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next,
							  memory_order_acquire,
							  memory_order_relaxed))
			return (cur & WEFT__TASK_CANCELLED) ? WEFT__RUN_CANCEL : WEFT__RUN_POLL;
	}
}

enum weft__idle_action { WEFT__IDLE_OK, WEFT__IDLE_RESCHEDULE, WEFT__IDLE_CANCEL };

static enum weft__idle_action weft__transition_to_idle(struct weft__task *t)
{
	/* Relaxed: only a first guess for the CAS below, which states the
	 * ordering it needs. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
	for (;;) {
		if (cur & WEFT__TASK_CANCELLED)
			return WEFT__IDLE_CANCEL;   /* keep RUNNING: we drop it now */
		uint64_t next = cur & ~(uint64_t)WEFT__TASK_RUNNING;
		enum weft__idle_action act = WEFT__IDLE_RESCHEDULE;
		if (!(cur & WEFT__TASK_NOTIFIED)) {
			/* Not woken meanwhile: the poller's reference goes.
			 * The owned-list reference keeps the count above 0. */
			next -= WEFT__TASK_REF_ONE;
			act = WEFT__IDLE_OK;
		}
		/* Release: the next poller (any thread) acquires the future's
		 * state as this poll left it. Acquire: see the releases of
		 * wakers that set NOTIFIED while we ran. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			return act;
	}
}

/*
 * Finishes a task whose future has been dropped by the caller, who holds
 * RUNNING and @held references (1: the poller's notified ref, or the
 * owned-list ref at shutdown).
 */
static void weft__task_complete(struct weft__task *t, bool aborted, unsigned held)
{
	weft_runtime *rt = t->rt;
	const uint64_t done = WEFT__TASK_RUNNING | WEFT__TASK_COMPLETE |
			      (aborted ? WEFT__TASK_ABORTED : 0);
	/* Unlisted before COMPLETE: whoever sees the task finished also sees
	 * it no longer counted live, and the owned reference is in hand and
	 * goes with ours in the same RMW. Shutdown never runs alongside a
	 * poll (workers are joined first), so nobody looks for the task in
	 * the list meanwhile. */
	if (weft__owned_remove(rt, t))
		held++;
	/* Relaxed: JOIN_INTEREST only ever goes away, and the CAS below
	 * orders what it must. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
	if (!(cur & WEFT__TASK_JOIN_INTEREST)) {
		/* Detached: JOIN_INTEREST never comes back, so one RMW both
		 * publishes COMPLETE and drops our references. AcqRel, as
		 * in weft__task_ref_dec (we may be the one that frees). */
		uint64_t next;
		do {
			next = (cur ^ done) - held * WEFT__TASK_REF_ONE;
		} while (!atomic_compare_exchange_weak_explicit(&t->state, &cur, next,
								memory_order_acq_rel,
								memory_order_relaxed));
		if (weft__refs(next) == 0)
			weft__task_dealloc(t);
		return;
	}
	/* AcqRel: release publishes the future's output to the join side;
	 * acquire sees the join waker the handle released when it set
	 * JOIN_WAKER. */
	uint64_t prev = atomic_fetch_xor_explicit(&t->state, done, memory_order_acq_rel);
	if ((prev & WEFT__TASK_JOIN_INTEREST) && (prev & WEFT__TASK_JOIN_WAKER)) {
		weft_waker_wake_by_ref(&t->join_waker);
		/* AcqRel: release our reads of the slot before the handle may
		 * take it; acquire the handle's JOIN_INTEREST release. */
		uint64_t after = atomic_fetch_and_explicit(&t->state,
							   ~(uint64_t)WEFT__TASK_JOIN_WAKER,
							   memory_order_acq_rel);
		if (!(after & WEFT__TASK_JOIN_INTEREST))
			weft_waker_drop(&t->join_waker);
	}
	if (held == 2)
		weft__task_ref_dec2(t);
	else
		weft__task_ref_dec(t);
}

static void weft__task_cancel(struct weft__task *t, unsigned held)
{
	weft_future_drop(weft__task_future(t));
	weft__task_complete(t, true, held);
}

void weft__task_run(struct weft__task *t, uint32_t budget)
{
	switch (weft__transition_to_running(t)) {
	case WEFT__RUN_SKIP:
		weft__task_ref_dec(t);
		return;
	case WEFT__RUN_CANCEL:
		weft__task_cancel(t, 1);
		return;
	case WEFT__RUN_POLL:
		break;
	}
	/* A borrowed waker: the poller's reference keeps the task alive for
	 * the poll, and clone takes a reference of its own. */
	weft_waker waker = { .vtable = &weft__task_waker_vtable, .data = t };
	weft_cx cx = { .waker = &waker, .runtime = t->rt, .budget = budget };
	weft_future *fut = weft__task_future(t);
	if (fut->poll(fut, &cx) == WEFT_READY) {
		weft_future_drop(fut);
		weft__task_complete(t, false, 1);
		return;
	}
	switch (weft__transition_to_idle(t)) {
	case WEFT__IDLE_OK:
		return;
	case WEFT__IDLE_RESCHEDULE:
		weft__task_schedule(t, true);
		return;
	case WEFT__IDLE_CANCEL:
		weft__task_cancel(t, 1);
		return;
	}
}

void weft__task_shutdown(struct weft__task *t)
{
	/* Relaxed: only a first guess for the CAS below, which states the
	 * ordering it needs. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
	for (;;) {
		uint64_t next = cur | WEFT__TASK_CANCELLED;
		bool own = !(cur & (WEFT__TASK_RUNNING | WEFT__TASK_COMPLETE));
		if (own)
			next |= WEFT__TASK_RUNNING;
		/* Acquire when we take RUNNING: see the future as its last
		 * poller released it. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next,
							  memory_order_acq_rel,
							  memory_order_relaxed)) {
			if (own)
				weft__task_cancel(t, 1);
			else
				weft__task_ref_dec(t);
			return;
		}
	}
}

/* --------------------------------------------------------------- spawn */

int (weft_spawn)(weft_runtime *rt, const weft_future *fut, size_t size,
		 weft_join_handle **out)
{
	return weft_spawn_at(rt, fut, size, out, NULL);
}

int weft_spawn_at(weft_runtime *rt, const weft_future *fut, size_t size,
		  weft_join_handle **out, const weft_location *loc)
{
	if (!rt || !fut || !fut->poll || size < sizeof(weft_future))
		return -EINVAL;
	if (weft__runtime_forked(rt))
		return -ECHILD;   /* see "Fork" in weft/runtime.h */
	if (size > SIZE_MAX - sizeof(struct weft__task))
		return -EINVAL;
	uint64_t fixed;
	struct weft__task *t = weft__task_mem_alloc(rt, sizeof(struct weft__task) + size, &fixed);
	if (!t)
		return -ENOMEM;
	memcpy(t->future, fut, size);
	t->rt = rt;
	t->queue_next = NULL;
	t->join_waker = (weft_waker){ 0 };
	t->owned_prev = WEFT__NOT_OWNED;
	t->loc = loc;
	/* Shards spread by a hash of the address: tasks made by one thread
	 * still land on many (blocks are a fixed number of grains apart:
	 * the low address bits alone would leave shards unused). */
	fixed |= (uint64_t)((uint32_t)((uintptr_t)t >> 6) * 0x9e3779b1u >>
			    (32 - WEFT__OWNED_SHARD_BITS))
		 << WEFT__TASK_SHARD_SHIFT;
	/* References: owned list + the notified one for the first run,
	 * + the join handle. Plain init: nobody else sees the task yet. */
	uint64_t init = fixed | WEFT__TASK_NOTIFIED | 2 * WEFT__TASK_REF_ONE;
	if (out)
		init += WEFT__TASK_JOIN_INTEREST + WEFT__TASK_REF_ONE;
	atomic_init(&t->state, init);

	/* The task's reference to rt, taken before it is listed: from then
	 * on shutdown may drop and free it. The caller's use of rt (the
	 * owner's reference) keeps rt alive meanwhile. */
	weft__runtime_ref_inc(rt);
	int rc = weft__owned_insert(rt, t);
	if (rc < 0) {
		weft__task_mem_free(rt, t);
		weft__runtime_ref_dec(rt);
		return rc;
	}

	if (out)
		*out = (weft_join_handle *)t;
	weft__task_schedule(t, false);
	return 0;
}

/* --------------------------------------------------------- join handle */

static inline struct weft__task *weft__handle_task(const weft_join_handle *h)
{
	return (struct weft__task *)h;
}

/* Hands the slot (just written) to the task side. Fails, leaving the slot
 * ours, if the task completed first. */
static bool weft__set_join_waker(struct weft__task *t)
{
	/* Acquire: a COMPLETE seen here sends the caller to the outcome. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
	for (;;) {
		if (cur & WEFT__TASK_COMPLETE)
			return false;
		/* Release: the slot write happens-before the completer's
		 * acquire of JOIN_WAKER. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur,
							  cur | WEFT__TASK_JOIN_WAKER,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return true;
	}
}

/* Takes the slot back; fails if the task completed (it then owns it). */
static bool weft__unset_join_waker(struct weft__task *t)
{
	/* Acquire: a COMPLETE seen here sends the caller to the outcome. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_acquire);
	for (;;) {
		if (cur & WEFT__TASK_COMPLETE)
			return false;
		/* Acquire: the completer is not reading the slot any more
		 * once we see the bit cleared by us before COMPLETE. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur,
							  cur & ~(uint64_t)WEFT__TASK_JOIN_WAKER,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return true;
	}
}

weft_poll weft_join_handle_poll(weft_join_handle *h, weft_cx *cx, int *res)
{
	struct weft__task *t = weft__handle_task(h);
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	/* Acquire: pairs with completion's release, for the outcome. */
	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
	if (s & WEFT__TASK_COMPLETE)
		goto ready;
	if (s & WEFT__TASK_JOIN_WAKER) {
		if (weft_waker_will_wake(&t->join_waker, cx->waker))
			goto pending;
		if (!weft__unset_join_waker(t))
			goto ready;
	}
	weft_waker_store(&t->join_waker, cx->waker);
	if (weft__set_join_waker(t))
		goto pending;
	weft_waker_drop(&t->join_waker);
ready:
	/* Acquire: pairs with completion's release (the outcome and the
	 * future's output). */
	if (res)
		*res = (atomic_load_explicit(&t->state, memory_order_acquire) &
			   WEFT__TASK_ABORTED) ? -ECANCELED : 0;
	return WEFT_READY;
pending:
	weft_coop_refund(cx);
	return WEFT_PENDING;
}

void weft__join_handle_withdraw_waker(weft_join_handle *h)
{
	struct weft__task *t = weft__handle_task(h);
	/* Acquire: a COMPLETE without JOIN_WAKER seen here means the
	 * completer is done with the slot (its clearing RMW released). */
	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
	if (!(s & WEFT__TASK_COMPLETE)) {
		if (!(s & WEFT__TASK_JOIN_WAKER))
			return;   /* the slot is ours, and poll left it empty */
		if (weft__unset_join_waker(t)) {
			weft_waker_drop(&t->join_waker);
			return;
		}
		/* It completed meanwhile: decide again below. Acquire, as above. */
		s = atomic_load_explicit(&t->state, memory_order_acquire);
	}
	/* Completed: once the completer has cleared JOIN_WAKER the waker it
	 * woke is the handle's to drop; while the bit is still set the
	 * completer is reading the slot, and weft_join_handle_close drops it. */
	if (!(s & WEFT__TASK_JOIN_WAKER))
		weft_waker_drop(&t->join_waker);
}

void *weft_join_handle_output(weft_join_handle *h)
{
	struct weft__task *t = weft__handle_task(h);
	/* Acquire: pairs with completion's release of the output. */
	uint64_t s = atomic_load_explicit(&t->state, memory_order_acquire);
	if (!(s & WEFT__TASK_COMPLETE) || (s & WEFT__TASK_ABORTED))
		return NULL;
	return t->future;
}

bool weft_join_handle_is_finished(const weft_join_handle *h)
{
	struct weft__task *t = weft__handle_task(h);
	/* Acquire: a caller that sees the task finished may read its output. */
	return atomic_load_explicit(&t->state, memory_order_acquire) & WEFT__TASK_COMPLETE;
}

void weft_join_handle_abort(weft_join_handle *h)
{
	struct weft__task *t = weft__handle_task(h);
	/* Relaxed: only a first guess for the CAS below, which states the
	 * ordering it needs. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
	for (;;) {
		uint64_t next;
		bool submit = false;
		if (cur & (WEFT__TASK_COMPLETE | WEFT__TASK_CANCELLED))
			return;
		if (cur & (WEFT__TASK_RUNNING | WEFT__TASK_NOTIFIED)) {
			/* The poller sees it when its poll ends, or a worker
			 * sees it when it takes the task from its queue. */
			next = cur | WEFT__TASK_CANCELLED;
			if (cur & WEFT__TASK_RUNNING)
				next |= WEFT__TASK_NOTIFIED;
		} else {
			next = (cur | WEFT__TASK_CANCELLED | WEFT__TASK_NOTIFIED) +
			       WEFT__TASK_REF_ONE;
			submit = true;
		}
		/* AcqRel, as a wake: the worker that acts on CANCELLED
		 * acquires it in its transition to RUNNING. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next,
							  memory_order_acq_rel,
							  memory_order_relaxed)) {
			if (submit)
				weft__task_schedule(t, false);
			return;
		}
	}
}

void weft_join_handle_close(weft_join_handle *h)
{
	if (!h)
		return;
	struct weft__task *t = weft__handle_task(h);
	/* Relaxed: only a first guess for the CAS below, which states the
	 * ordering it needs. */
	uint64_t cur = atomic_load_explicit(&t->state, memory_order_relaxed);
	for (;;) {
		uint64_t next = cur & ~(uint64_t)WEFT__TASK_JOIN_INTEREST;
		if (!(cur & WEFT__TASK_COMPLETE))
			next &= ~(uint64_t)WEFT__TASK_JOIN_WAKER;
		/* AcqRel: release our last reads of output/slot before the
		 * task side may free or drop; acquire its completion. */
		if (atomic_compare_exchange_weak_explicit(&t->state, &cur, next,
							  memory_order_acq_rel,
							  memory_order_relaxed))
			break;
	}
	/* Unless the completer still holds the slot (COMPLETE with
	 * JOIN_WAKER still set: it drops the waker when it sees
	 * JOIN_INTEREST gone), the slot is ours to drop. */
	if (!((cur & WEFT__TASK_COMPLETE) && (cur & WEFT__TASK_JOIN_WAKER)))
		weft_waker_drop(&t->join_waker);
	weft__task_ref_dec(t);
}
