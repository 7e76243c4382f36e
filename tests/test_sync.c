/* test_sync.c - the sync primitives: semaphore, mutex, rwlock, notify,
 * oneshot, mpsc and watch. Semantics and cancellation are checked by
 * polling futures by hand with counting wakers (exact, no runtime); then
 * tasks on the multi-thread runtime stress them across workers, and
 * plain threads use the blocking calls. Every runtime wait is bounded by
 * a timeout: a lost wakeup fails the test instead of hanging it. */
#include "helpers.h"

#include "sys.h"
#include "sync_waitlist.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>


/* ---------------------------------------------------------- semaphore */

static void semaphore_try_acquire_takes_free_permits_and_refuses_when_short(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 3), 0);
	assert_int_equal(weft_semaphore_try_acquire(&s, 2), 0);
	assert_int_equal(weft_semaphore_available(&s), 1);
	assert_int_equal(weft_semaphore_try_acquire(&s, 2), -EAGAIN);
	assert_int_equal(weft_semaphore_try_acquire(&s, 0), 0);
	assert_int_equal(weft_semaphore_release(&s, 2), 0);
	assert_int_equal(weft_semaphore_available(&s), 3);
	assert_int_equal(weft_semaphore_try_acquire(&s, WEFT_SEMAPHORE_MAX_PERMITS + 1), -EINVAL);
	assert_int_equal(weft_semaphore_release(&s, WEFT_SEMAPHORE_MAX_PERMITS), -EOVERFLOW);
	assert_int_equal(weft_semaphore_available(&s), 3);
	assert_int_equal(weft_semaphore_init(NULL, 1), -EINVAL);
	assert_int_equal(weft_semaphore_try_acquire(NULL, 1), -EINVAL);
	weft_semaphore_close(&s);
}

static void semaphore_waiters_are_served_in_fifo_order_and_a_big_head_is_not_overtaken(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 0), 0);
	hand h[3];
	weft_semaphore_acquire_future a[3];
	size_t need[3] = { 2, 1, 1 };
	for (int i = 0; i < 3; i++) {
		hand_init(&h[i]);
		weft_semaphore_acquire_init(&a[i], &s, need[i]);
		assert_int_equal(hpoll(&h[i], &a[i].fut), WEFT_PENDING);
	}
	/* One permit: the head wants two, so nobody is served, and a try
	 * does not overtake the queue either. */
	assert_int_equal(weft_semaphore_release(&s, 1), 0);
	assert_int_equal(hand_wakes(&h[0]) + hand_wakes(&h[1]) + hand_wakes(&h[2]), 0);
	assert_int_equal(weft_semaphore_try_acquire(&s, 1), -EAGAIN);
	assert_int_equal(weft_semaphore_release(&s, 2), 0);
	assert_int_equal(hand_wakes(&h[0]), 1);
	assert_int_equal(hand_wakes(&h[1]), 1);
	assert_int_equal(hand_wakes(&h[2]), 0);
	assert_int_equal(hpoll(&h[0], &a[0].fut), WEFT_READY);
	assert_int_equal(a[0].result, 0);
	assert_int_equal(hpoll(&h[1], &a[1].fut), WEFT_READY);
	assert_int_equal(hpoll(&h[2], &a[2].fut), WEFT_PENDING);
	assert_int_equal(weft_semaphore_release(&s, 1), 0);
	assert_int_equal(hpoll(&h[2], &a[2].fut), WEFT_READY);
	assert_int_equal(weft_semaphore_available(&s), 0);
	for (int i = 0; i < 3; i++) {
		weft_semaphore_acquire_drop(&a[i]);
		weft_semaphore_acquire_drop(&a[i]);   /* idempotent */
		hand_fini(&h[i]);
	}
	assert_int_equal(weft_semaphore_available(&s), 0);   /* READY: caller owns them */
	weft_semaphore_close(&s);
}

static void semaphore_dropped_head_waiter_leaves_the_queue_and_the_next_is_served(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 1), 0);
	hand h0, h1;
	hand_init(&h0);
	hand_init(&h1);
	weft_semaphore_acquire_future big, small;
	weft_semaphore_acquire_init(&big, &s, 5);
	weft_semaphore_acquire_init(&small, &s, 1);
	assert_int_equal(hpoll(&h0, &big.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&h1, &small.fut), WEFT_PENDING);  /* behind big */
	weft_semaphore_acquire_drop(&big);
	assert_int_equal(hand_wakes(&h1), 1);
	assert_int_equal(hpoll(&h1, &small.fut), WEFT_READY);
	assert_int_equal(small.result, 0);
	weft_semaphore_acquire_drop(&small);
	hand_fini(&h0);
	hand_fini(&h1);
	weft_semaphore_close(&s);
}

static void semaphore_permits_granted_to_a_dropped_acquire_go_back(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 0), 0);
	hand h0, h1;
	hand_init(&h0);
	hand_init(&h1);
	weft_semaphore_acquire_future a, b;
	weft_semaphore_acquire_init(&a, &s, 2);
	weft_semaphore_acquire_init(&b, &s, 3);
	assert_int_equal(hpoll(&h0, &a.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&h1, &b.fut), WEFT_PENDING);
	assert_int_equal(weft_semaphore_release(&s, 3), 0);   /* a granted 2, 1 left */
	assert_int_equal(hand_wakes(&h0), 1);
	assert_int_equal(hand_wakes(&h1), 0);
	weft_semaphore_acquire_drop(&a);       /* never saw READY: gives 2 back */
	assert_int_equal(hand_wakes(&h1), 1);  /* ... and b now fits */
	assert_int_equal(hpoll(&h1, &b.fut), WEFT_READY);
	assert_int_equal(weft_semaphore_available(&s), 0);
	weft_semaphore_acquire_drop(&b);
	assert_int_equal(weft_semaphore_release(&s, 3), 0);
	assert_int_equal(weft_semaphore_available(&s), 3);
	hand_fini(&h0);
	hand_fini(&h1);
	weft_semaphore_close(&s);
}

static void semaphore_close_fails_waiters_and_later_acquires(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 0), 0);
	hand h;
	hand_init(&h);
	weft_semaphore_acquire_future a, late;
	weft_semaphore_acquire_init(&a, &s, 1);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_PENDING);
	weft_semaphore_shutdown(&s);
	weft_semaphore_shutdown(&s);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_READY);
	assert_int_equal(a.result, -ESHUTDOWN);
	weft_semaphore_acquire_init(&late, &s, 1);
	assert_int_equal(hpoll(&h, &late.fut), WEFT_READY);
	assert_int_equal(late.result, -ESHUTDOWN);
	assert_int_equal(weft_semaphore_try_acquire(&s, 1), -ESHUTDOWN);
	assert_int_equal(weft_semaphore_acquire_blocking(&s, 1), -ESHUTDOWN);
	weft_semaphore_acquire_drop(&a);
	weft_semaphore_acquire_drop(&late);
	hand_fini(&h);
	weft_semaphore_close(&s);
}

/* A waker whose first wake releases one permit of `s`: a release from a
 * woken task, landing in a gap between close's wake batches. */
typedef struct releasing_waker {
	weft_semaphore *s;
	int wakes;
	int release_rc;
} releasing_waker;

static weft_waker releasing_clone(const void *data);
static void releasing_wake_by_ref(const void *data)
{
	releasing_waker *r = (releasing_waker *)data;
	if (r->wakes++ == 0)
		r->release_rc = weft_semaphore_release(r->s, 1);
}
static void releasing_noop(const void *data)
{
	(void)data;
}
static void releasing_wake(const void *data)
{
	releasing_wake_by_ref(data);
}
static const weft_waker_vtable releasing_vtable = {
	.clone = releasing_clone,
	.wake = releasing_wake,
	.wake_by_ref = releasing_wake_by_ref,
	.drop = releasing_noop,
};
static weft_waker releasing_clone(const void *data)
{
	return (weft_waker){ .vtable = &releasing_vtable, .data = data };
}

/* Close fails every acquire queued before it, even when a release runs
 * while close is still waking them (more waiters than one wake batch):
 * none of them may be granted the released permit. */
static void semaphore_close_fails_every_queued_acquire_despite_a_release_during_close(void **state)
{
	(void)state;
	enum { N = 80 };
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 0), 0);
	releasing_waker r = { .s = &s };
	weft_waker w = { .vtable = &releasing_vtable, .data = &r };
	weft_cx cx = weft_cx_from_waker(&w);
	static weft_semaphore_acquire_future a[N];
	for (int i = 0; i < N; i++) {
		weft_semaphore_acquire_init(&a[i], &s, 1);
		assert_int_equal(weft_semaphore_acquire_poll(&a[i], &cx), WEFT_PENDING);
	}
	weft_semaphore_shutdown(&s);
	assert_int_equal(r.release_rc, 0);
	assert_int_equal(r.wakes, N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(weft_semaphore_acquire_poll(&a[i], &cx), WEFT_READY);
		assert_int_equal(a[i].result, -ESHUTDOWN);
		weft_semaphore_acquire_drop(&a[i]);
	}
	assert_int_equal(weft_semaphore_available(&s), 1);
	weft_semaphore_close(&s);
}

/* Closing gives the head's partial assignment back to the free count:
 * 2 permits, an acquire of 5 takes both and waits; close fails it with
 * -ESHUTDOWN and available() is 2 again (before and after its drop). */
static void semaphore_close_returns_the_waiting_heads_partial_permits_to_the_free_count(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 2), 0);
	hand h;
	hand_init(&h);
	weft_semaphore_acquire_future a;
	weft_semaphore_acquire_init(&a, &s, 5);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_PENDING);
	assert_int_equal(weft_semaphore_available(&s), 0);   /* its 2 are assigned */
	weft_semaphore_shutdown(&s);
	assert_int_equal(weft_semaphore_available(&s), 2);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_READY);
	assert_int_equal(a.result, -ESHUTDOWN);
	weft_semaphore_acquire_drop(&a);
	assert_int_equal(weft_semaphore_available(&s), 2);   /* not given back twice */
	hand_fini(&h);
	weft_semaphore_close(&s);
}

/* The release limit counts the head's partial assignment: with MAX - 1
 * permits assigned to a waiting acquire of MAX, a release of 2 would
 * leave MAX + 1 permits not held by callers and fails with -EOVERFLOW,
 * adding nothing; a release of 1 completes the acquire. */
static void semaphore_release_past_the_max_counting_the_heads_partial_permits_fails_with_eoverflow(void **state)
{
	(void)state;
	const size_t max = WEFT_SEMAPHORE_MAX_PERMITS;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, max - 1), 0);
	hand h;
	hand_init(&h);
	weft_semaphore_acquire_future a;
	weft_semaphore_acquire_init(&a, &s, max);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_PENDING);
	assert_int_equal(weft_semaphore_available(&s), 0);   /* max - 1 assigned */
	assert_int_equal(weft_semaphore_release(&s, 2), -EOVERFLOW);
	assert_int_equal(weft_semaphore_available(&s), 0);
	assert_int_equal(hand_wakes(&h), 0);
	assert_int_equal(weft_semaphore_release(&s, 1), 0);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_READY);
	assert_int_equal(a.result, 0);
	assert_int_equal(weft_semaphore_available(&s), 0);
	weft_semaphore_acquire_drop(&a);
	/* The caller gives all max back: the count is at the cap. */
	assert_int_equal(weft_semaphore_release(&s, max), 0);
	assert_int_equal(weft_semaphore_available(&s), max);
	assert_int_equal(weft_semaphore_release(&s, 1), -EOVERFLOW);
	hand_fini(&h);
	weft_semaphore_close(&s);
}

static void zero_filled_futures_are_ready_with_einval_and_drop_twice_safely(void **state)
{
	(void)state;
	hand h;
	hand_init(&h);
	weft_semaphore_acquire_future a;
	weft_mutex_lock_future l;
	weft_rwlock_lock_future r;
	weft_notified n;
	weft_oneshot_recv_future o;
	weft_mpsc_send_future ms;
	weft_mpsc_recv_future mr;
	weft_watch_changed_future wc;
	memset(&a, 0, sizeof a);
	memset(&l, 0, sizeof l);
	memset(&r, 0, sizeof r);
	memset(&n, 0, sizeof n);
	memset(&o, 0, sizeof o);
	memset(&ms, 0, sizeof ms);
	memset(&mr, 0, sizeof mr);
	memset(&wc, 0, sizeof wc);
	assert_int_equal(weft_semaphore_acquire_poll(&a, &h.cx), WEFT_READY);
	assert_int_equal(a.result, -EINVAL);
	assert_int_equal(weft_mutex_lock_poll(&l, &h.cx), WEFT_READY);
	assert_int_equal(l.result, -EINVAL);
	assert_int_equal(weft_rwlock_lock_poll(&r, &h.cx), WEFT_READY);
	assert_int_equal(r.result, -EINVAL);
	assert_int_equal(weft_notified_poll(&n, &h.cx), WEFT_READY);
	assert_int_equal(n.result, -EINVAL);
	assert_int_equal(weft_oneshot_recv_poll(&o, &h.cx), WEFT_READY);
	assert_int_equal(o.result, -EINVAL);
	assert_int_equal(weft_mpsc_send_poll(&ms, &h.cx), WEFT_READY);
	assert_int_equal(ms.result, -EINVAL);
	assert_int_equal(weft_mpsc_recv_poll(&mr, &h.cx), WEFT_READY);
	assert_int_equal(mr.result, -EINVAL);
	assert_int_equal(weft_watch_changed_poll(&wc, &h.cx), WEFT_READY);
	assert_int_equal(wc.result, -EINVAL);
	for (int i = 0; i < 2; i++) {
		weft_semaphore_acquire_drop(&a);
		weft_mutex_lock_drop(&l);
		weft_rwlock_lock_drop(&r);
		weft_notified_drop(&n);
		weft_oneshot_recv_drop(&o);
		weft_mpsc_send_drop(&ms);
		weft_mpsc_recv_drop(&mr);
		weft_watch_changed_drop(&wc);
	}
	/* Initialised and dropped unpolled: nothing happens either. */
	weft_mutex m;
	assert_int_equal(weft_mutex_init(&m), 0);
	weft_mutex_lock_init(&l, &m);
	weft_mutex_lock_drop(&l);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	weft_mutex_close(&m);
	hand_fini(&h);
}

static void every_poll_takes_budget_and_a_spent_budget_yields(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 1), 0);
	hand h;
	hand_init(&h);
	weft_semaphore_acquire_future a;
	weft_semaphore_acquire_init(&a, &s, 1);
	h.cx.budget = 0;
	assert_int_equal(weft_semaphore_acquire_poll(&a, &h.cx), WEFT_PENDING);
	assert_int_equal(hand_wakes(&h), 1);          /* woke itself to yield */
	assert_int_equal(weft_semaphore_available(&s), 1);
	h.cx.budget = 5;
	h.cx.budget_used = 0;
	assert_int_equal(weft_semaphore_acquire_poll(&a, &h.cx), WEFT_READY);
	assert_int_equal(h.cx.budget, 4);
	/* A pending poll gives its unit back. */
	weft_semaphore_acquire_future b;
	weft_semaphore_acquire_init(&b, &s, 1);
	assert_int_equal(weft_semaphore_acquire_poll(&b, &h.cx), WEFT_PENDING);
	assert_int_equal(h.cx.budget, 4);
	weft_semaphore_acquire_drop(&b);
	weft_semaphore_acquire_drop(&a);
	hand_fini(&h);
	weft_semaphore_close(&s);
}

/* --------------------------------------------------------------- mutex */

/* Polls @f, waiting, with hand @a and then with hand @b: the waiter keeps
 * only @b's waker (a's clone is dropped at once); then drops it mid-wait,
 * which drops b's clone. */
static void replace_then_drop_mid_wait(weft_future *f, hand *a, hand *b)
{
	assert_int_equal(hpoll(a, f), WEFT_PENDING);
	assert_int_equal(test_counting_waker_load(&a->cw.live), 2);   /* ours, the node's */
	assert_int_equal(hpoll(b, f), WEFT_PENDING);
	assert_int_equal(test_counting_waker_load(&a->cw.live), 1);
	assert_int_equal(test_counting_waker_load(&b->cw.live), 2);
	weft_future_drop(f);
	assert_int_equal(test_counting_waker_load(&b->cw.live), 1);
	assert_int_equal(hand_wakes(a) + hand_wakes(b), 0);
}

/* Each waiting lock future (mutex, rwlock read and write) and semaphore
 * acquire, polled again by another task, drops the waker it replaces,
 * and dropped while it waits drops the one it holds: through each
 * primitive's own drop function. */
static void waiting_locks_drop_the_wakers_they_replace_and_hold(void **state)
{
	(void)state;
	hand a, b;
	hand_init(&a);
	hand_init(&b);

	weft_mutex m;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	weft_mutex_lock_future ml;
	weft_mutex_lock_init(&ml, &m);
	replace_then_drop_mid_wait(&ml.fut, &a, &b);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);   /* nobody took it */
	assert_int_equal(weft_mutex_unlock(&m), 0);
	weft_mutex_close(&m);

	weft_rwlock rw;
	assert_int_equal(weft_rwlock_init(&rw), 0);
	assert_int_equal(weft_rwlock_try_write(&rw), 0);
	weft_rwlock_lock_future rl;
	weft_rwlock_read_init(&rl, &rw);
	replace_then_drop_mid_wait(&rl.fut, &a, &b);
	assert_int_equal(weft_rwlock_write_unlock(&rw), 0);
	assert_int_equal(weft_rwlock_try_read(&rw), 0);
	weft_rwlock_lock_future wl;
	weft_rwlock_write_init(&wl, &rw);
	replace_then_drop_mid_wait(&wl.fut, &a, &b);
	assert_int_equal(weft_rwlock_read_unlock(&rw), 0);
	assert_int_equal(weft_rwlock_try_write(&rw), 0);   /* nobody took it */
	assert_int_equal(weft_rwlock_write_unlock(&rw), 0);
	weft_rwlock_close(&rw);

	weft_semaphore sem;
	assert_int_equal(weft_semaphore_init(&sem, 0), 0);
	weft_semaphore_acquire_future sa;
	weft_semaphore_acquire_init(&sa, &sem, 1);
	replace_then_drop_mid_wait(&sa.fut, &a, &b);
	assert_int_equal(weft_semaphore_release(&sem, 1), 0);
	assert_int_equal(weft_semaphore_available(&sem), 1);   /* nobody took it */
	weft_semaphore_close(&sem);

	hand_fini(&a);
	hand_fini(&b);
}

static void mutex_lock_is_handed_to_waiters_in_fifo_order(void **state)
{
	(void)state;
	enum { N = 6 };
	weft_mutex m;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	hand h[N];
	weft_mutex_lock_future l[N];
	for (int i = 0; i < N; i++) {
		hand_init(&h[i]);
		weft_mutex_lock_init(&l[i], &m);
		assert_int_equal(hpoll(&h[i], &l[i].fut), WEFT_PENDING);
	}
	assert_int_equal(weft_mutex_try_lock(&m), -EAGAIN);
	for (int i = 0; i < N; i++) {
		assert_int_equal(weft_mutex_unlock(&m), 0);
		/* Exactly waiter i got it; the later ones still wait even if
		 * polled (no barging). */
		assert_int_equal(hand_wakes(&h[i]), 1);
		for (int j = i + 1; j < N; j++) {
			assert_int_equal(hand_wakes(&h[j]), 0);
			assert_int_equal(hpoll(&h[j], &l[j].fut), WEFT_PENDING);
		}
		assert_int_equal(hpoll(&h[i], &l[i].fut), WEFT_READY);
		assert_int_equal(l[i].result, 0);
	}
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), -EPERM);   /* not locked */
	for (int i = 0; i < N; i++) {
		weft_mutex_lock_drop(&l[i]);
		hand_fini(&h[i]);
	}
	weft_mutex_close(&m);
}

static void mutex_handed_to_a_dropped_waiter_passes_to_the_next(void **state)
{
	(void)state;
	weft_mutex m;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	hand h0, h1, h2;
	hand_init(&h0);
	hand_init(&h1);
	hand_init(&h2);
	weft_mutex_lock_future a, b, c;
	weft_mutex_lock_init(&a, &m);
	weft_mutex_lock_init(&b, &m);
	weft_mutex_lock_init(&c, &m);
	assert_int_equal(hpoll(&h0, &a.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&h1, &b.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&h2, &c.fut), WEFT_PENDING);
	weft_mutex_lock_drop(&b);                 /* queued, dropped: gone */
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(hand_wakes(&h0), 1);     /* a holds it, unreported */
	weft_mutex_lock_drop(&a);                 /* ... so it passes on */
	assert_int_equal(hand_wakes(&h1), 0);
	assert_int_equal(hand_wakes(&h2), 1);
	assert_int_equal(hpoll(&h2, &c.fut), WEFT_READY);
	assert_int_equal(c.result, 0);
	weft_mutex_lock_drop(&c);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	hand_fini(&h0);
	hand_fini(&h1);
	hand_fini(&h2);
	weft_mutex_close(&m);
}

/* -------------------------------------------------------------- rwlock */

static void rwlock_readers_share_and_a_queued_writer_holds_back_later_readers(void **state)
{
	(void)state;
	weft_rwlock l;
	assert_int_equal(weft_rwlock_init(&l), 0);
	assert_int_equal(weft_rwlock_try_read(&l), 0);
	assert_int_equal(weft_rwlock_try_read(&l), 0);
	assert_int_equal(weft_rwlock_try_write(&l), -EAGAIN);
	hand hw, hr;
	hand_init(&hw);
	hand_init(&hr);
	weft_rwlock_lock_future w, r;
	weft_rwlock_write_init(&w, &l);
	weft_rwlock_read_init(&r, &l);
	assert_int_equal(hpoll(&hw, &w.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&hr, &r.fut), WEFT_PENDING);   /* behind the writer */
	assert_int_equal(weft_rwlock_try_read(&l), -EAGAIN);
	assert_int_equal(weft_rwlock_read_unlock(&l), 0);
	assert_int_equal(hand_wakes(&hw), 0);
	assert_int_equal(weft_rwlock_read_unlock(&l), 0);
	assert_int_equal(hand_wakes(&hw), 1);
	assert_int_equal(hpoll(&hw, &w.fut), WEFT_READY);
	assert_int_equal(hpoll(&hr, &r.fut), WEFT_PENDING);
	assert_int_equal(weft_rwlock_write_unlock(&l), 0);
	assert_int_equal(hand_wakes(&hr), 1);
	assert_int_equal(hpoll(&hr, &r.fut), WEFT_READY);
	assert_int_equal(weft_rwlock_read_unlock(&l), 0);
	assert_int_equal(weft_rwlock_read_unlock(&l), -EPERM);
	assert_int_equal(weft_rwlock_write_unlock(&l), -EPERM);
	weft_rwlock_lock_drop(&w);
	weft_rwlock_lock_drop(&r);
	hand_fini(&hw);
	hand_fini(&hr);
	weft_rwlock_close(&l);
}

static void rwlock_write_lock_handed_to_a_dropped_writer_lets_readers_in(void **state)
{
	(void)state;
	weft_rwlock l;
	assert_int_equal(weft_rwlock_init(&l), 0);
	assert_int_equal(weft_rwlock_try_read(&l), 0);
	hand hw, hr1, hr2;
	hand_init(&hw);
	hand_init(&hr1);
	hand_init(&hr2);
	weft_rwlock_lock_future w, r1, r2;
	weft_rwlock_write_init(&w, &l);
	weft_rwlock_read_init(&r1, &l);
	weft_rwlock_read_init(&r2, &l);
	assert_int_equal(hpoll(&hw, &w.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&hr1, &r1.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&hr2, &r2.fut), WEFT_PENDING);
	assert_int_equal(weft_rwlock_read_unlock(&l), 0);   /* writer granted */
	assert_int_equal(hand_wakes(&hw), 1);
	weft_rwlock_lock_drop(&w);                          /* ... and dropped */
	assert_int_equal(hand_wakes(&hr1), 1);
	assert_int_equal(hand_wakes(&hr2), 1);
	assert_int_equal(hpoll(&hr1, &r1.fut), WEFT_READY);
	assert_int_equal(hpoll(&hr2, &r2.fut), WEFT_READY);
	assert_int_equal(weft_rwlock_read_unlock(&l), 0);
	assert_int_equal(weft_rwlock_read_unlock(&l), 0);
	assert_int_equal(weft_rwlock_try_write(&l), 0);
	assert_int_equal(weft_rwlock_write_unlock(&l), 0);
	weft_rwlock_lock_drop(&r1);
	weft_rwlock_lock_drop(&r2);
	hand_fini(&hw);
	hand_fini(&hr1);
	hand_fini(&hr2);
	weft_rwlock_close(&l);
}

/* -------------------------------------------------------------- notify */

static void notify_one_without_waiters_stores_exactly_one_permit(void **state)
{
	(void)state;
	weft_notify n;
	assert_int_equal(weft_notify_init(&n), 0);
	weft_notify_one(&n);
	weft_notify_one(&n);
	hand h;
	hand_init(&h);
	weft_notified a, b;
	weft_notified_init(&a, &n);
	weft_notified_init(&b, &n);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_READY);
	assert_int_equal(a.result, 0);
	assert_int_equal(hpoll(&h, &b.fut), WEFT_PENDING);   /* only one stored */
	weft_notify_one(&n);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &b.fut), WEFT_READY);
	weft_notified_drop(&a);
	weft_notified_drop(&b);
	hand_fini(&h);
	weft_notify_close(&n);
}

static void notify_waiters_wakes_every_earlier_wait_and_stores_no_permit(void **state)
{
	(void)state;
	enum { N = 40 };   /* more than one wake batch */
	weft_notify n;
	assert_int_equal(weft_notify_init(&n), 0);
	hand h[N];
	weft_notified f[N];
	for (int i = 0; i < N; i++) {
		hand_init(&h[i]);
		weft_notified_init(&f[i], &n);
		assert_int_equal(hpoll(&h[i], &f[i].fut), WEFT_PENDING);
	}
	/* Initialised before the call but not polled yet: completes too. */
	weft_notified early;
	weft_notified_init(&early, &n);
	weft_notify_waiters(&n);
	for (int i = 0; i < N; i++) {
		assert_int_equal(hand_wakes(&h[i]), 1);
		assert_int_equal(hpoll(&h[i], &f[i].fut), WEFT_READY);
		weft_notified_drop(&f[i]);
	}
	assert_int_equal(hpoll(&h[0], &early.fut), WEFT_READY);
	weft_notified_drop(&early);
	weft_notified late;
	weft_notified_init(&late, &n);
	assert_int_equal(hpoll(&h[0], &late.fut), WEFT_PENDING);   /* no permit */
	weft_notified_drop(&late);
	for (int i = 0; i < N; i++)
		hand_fini(&h[i]);
	weft_notify_close(&n);
}

static void notify_one_received_by_a_dropped_wait_passes_to_the_next(void **state)
{
	(void)state;
	weft_notify n;
	assert_int_equal(weft_notify_init(&n), 0);
	hand h0, h1;
	hand_init(&h0);
	hand_init(&h1);
	weft_notified a, b;
	weft_notified_init(&a, &n);
	weft_notified_init(&b, &n);
	assert_int_equal(hpoll(&h0, &a.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&h1, &b.fut), WEFT_PENDING);
	weft_notify_one(&n);
	assert_int_equal(hand_wakes(&h0), 1);
	weft_notified_drop(&a);
	assert_int_equal(hand_wakes(&h1), 1);
	assert_int_equal(hpoll(&h1, &b.fut), WEFT_READY);
	weft_notified_drop(&b);
	/* With nobody left to pass it to, it becomes the stored permit. */
	weft_notified_init(&a, &n);
	assert_int_equal(hpoll(&h0, &a.fut), WEFT_PENDING);
	weft_notify_one(&n);
	weft_notified_drop(&a);
	weft_notified_init(&b, &n);
	assert_int_equal(hpoll(&h1, &b.fut), WEFT_READY);
	weft_notified_drop(&b);
	hand_fini(&h0);
	hand_fini(&h1);
	weft_notify_close(&n);
}

/* ------------------------------------------------------------- oneshot */

static void oneshot_delivers_its_message_to_a_waiting_receive(void **state)
{
	(void)state;
	weft_oneshot_sender *tx;
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(sizeof(long), &tx, &rx), 0);
	hand h;
	hand_init(&h);
	long out = 0, msg = 77;
	assert_int_equal(weft_oneshot_try_recv(rx, &out), -EAGAIN);
	weft_oneshot_recv_future f;
	weft_oneshot_recv_init(&f, rx, &out);
	assert_int_equal(hpoll(&h, &f.fut), WEFT_PENDING);
	assert_false(weft_oneshot_is_closed(tx));
	assert_int_equal(weft_oneshot_send(tx, &msg), 0);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &f.fut), WEFT_READY);
	assert_int_equal(f.result, 0);
	assert_int_equal(out, 77);
	assert_int_equal(weft_oneshot_try_recv(rx, &out), -EPIPE);   /* taken */
	weft_oneshot_recv_drop(&f);
	weft_oneshot_receiver_close(rx);
	hand_fini(&h);
}

/*
 * The oneshot's state word is all that orders a send on one thread before
 * the receive on another: the receiver's waker, written before WAKER is
 * set (release), read by the sender after its TX_DONE (acquire); the
 * message, written before SENT (release), copied by the receive after it
 * sees SENT (acquire). Here nothing else orders the two threads: the
 * sender starts on a relaxed flag and its wake stalls (test_stall_waker)
 * until the receive, spinning, has taken the message, so the receive
 * runs between the sender's publication and anything the sender does
 * after it. Under TSan a weakened ordering on either side is a data race
 * (on the waker slot or the message); elsewhere the test checks the
 * message and the one wake.
 */
struct oneshot_race {
	weft_oneshot_sender *tx;
	long msg[8];
	atomic_int go;          /* relaxed: no happens-before of its own */
	int send_rc;
};

static void *oneshot_race_sender(void *arg)
{
	struct oneshot_race *r = arg;
	uint64_t until = test_now_us() + 5000000;
	while (!atomic_load_explicit(&r->go, memory_order_relaxed) && test_now_us() < until)
		sched_yield();
	r->send_rc = weft_oneshot_send(r->tx, r->msg);
	return NULL;
}

static void oneshot_send_and_receive_are_ordered_by_the_state_word_alone(void **state)
{
	(void)state;
	struct oneshot_race r = { .send_rc = 1 };
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(sizeof r.msg, &r.tx, &rx), 0);
	for (int i = 0; i < 8; i++)
		r.msg[i] = 1000 + i;
	atomic_init(&r.go, 0);
	test_stall_waker sw;
	weft_waker w = test_stall_waker_init(&sw);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, oneshot_race_sender, &r), 0);
	/* After the thread started: it must not inherit our writes below. */
	long out[8] = { 0 };
	weft_oneshot_recv_future f;
	weft_oneshot_recv_init(&f, rx, out);
	weft_cx cx = weft_cx_from_waker(&w);
	weft_poll p = weft_oneshot_recv_poll(&f, &cx);   /* registers the waker */
	atomic_store_explicit(&r.go, 1, memory_order_relaxed);
	uint64_t until = test_now_us() + 5000000;
	while (p == WEFT_PENDING && test_now_us() < until) {
		cx = weft_cx_from_waker(&w);
		p = weft_oneshot_recv_poll(&f, &cx);
	}
	test_stall_waker_release(&sw);
	pthread_join(th, NULL);
	assert_int_equal(r.send_rc, 0);
	assert_int_equal(p, WEFT_READY);
	assert_int_equal(f.result, 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(out[i], 1000 + i);
	assert_int_equal(atomic_load(&sw.wakes), 1);
	weft_oneshot_recv_drop(&f);
	weft_oneshot_receiver_close(rx);
	weft_waker_drop(&w);
	assert_int_equal(atomic_load(&sw.live), 0);
}

#ifdef WEFT_PERTURB
/* The perturbation hook of the next test: sends at the receive's
 * registration, once. */
static weft_oneshot_sender *register_race_tx;
static long register_race_msg = 55;

static void send_at_oneshot_register(enum weft__perturb_site site)
{
	if (site != WEFT__PERTURB_ONESHOT_REGISTER || !register_race_tx)
		return;
	weft_oneshot_sender *tx = register_race_tx;
	register_race_tx = NULL;
	assert_int_equal(weft_oneshot_send(tx, &register_race_msg), 0);
}
#endif

/* A send that finishes between the receive's store of its waker and its
 * publication of WAKER finds no waker to wake: the receive sees TX_DONE,
 * drops the waker it stored (nobody else will) and takes the message in
 * the same poll. The perturbation hook sends at that point. */
static void __attribute__((unused)) a_send_finishing_while_the_receive_registers_leaves_no_waker_behind(void **state)
{
	(void)state;
#ifndef WEFT_PERTURB
	skip();
#else
	weft_oneshot_sender *tx;
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(sizeof(long), &tx, &rx), 0);
	hand h;
	hand_init(&h);
	long out = 0;
	weft_oneshot_recv_future f;
	weft_oneshot_recv_init(&f, rx, &out);
	register_race_tx = tx;
	atomic_store(&weft__perturb_hook, send_at_oneshot_register);
	weft_poll p = hpoll(&h, &f.fut);
	atomic_store(&weft__perturb_hook, NULL);
	assert_null(register_race_tx);   /* the hook sent */
	assert_int_equal(p, WEFT_READY);
	assert_int_equal(f.result, 0);
	assert_int_equal(out, 55);
	assert_int_equal(hand_wakes(&h), 0);
	assert_int_equal(test_counting_waker_load(&h.cw.live), 1);   /* the hand's own */
	weft_oneshot_recv_drop(&f);
	weft_oneshot_receiver_close(rx);
	hand_fini(&h);
#endif
}

/* The receiver's waker comes back to it, and is dropped, on both paths
 * that take it back while the sender has not finished: a poll with
 * another waker (the first is replaced) and the receive's drop. */
static void oneshot_receive_takes_back_and_drops_its_waker(void **state)
{
	(void)state;
	weft_oneshot_sender *tx;
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(sizeof(long), &tx, &rx), 0);
	hand a, b;
	hand_init(&a);
	hand_init(&b);
	long out = 0, msg = 5;
	weft_oneshot_recv_future f;
	weft_oneshot_recv_init(&f, rx, &out);
	assert_int_equal(hpoll(&a, &f.fut), WEFT_PENDING);
	assert_int_equal(test_counting_waker_load(&a.cw.live), 2);   /* ours, the slot's */
	assert_int_equal(hpoll(&b, &f.fut), WEFT_PENDING);           /* moved to b */
	assert_int_equal(test_counting_waker_load(&a.cw.live), 1);
	assert_int_equal(test_counting_waker_load(&b.cw.live), 2);
	weft_oneshot_recv_drop(&f);                                    /* mid-wait */
	assert_int_equal(test_counting_waker_load(&b.cw.live), 1);
	assert_int_equal(weft_oneshot_send(tx, &msg), 0);
	assert_int_equal(hand_wakes(&a) + hand_wakes(&b), 0);         /* nobody waits */
	assert_int_equal(weft_oneshot_try_recv(rx, &out), 0);         /* the message stays */
	assert_int_equal(out, 5);
	weft_oneshot_receiver_close(rx);
	hand_fini(&a);
	hand_fini(&b);
}

static void oneshot_dropped_sender_gives_epipe_and_dropped_receiver_fails_send(void **state)
{
	(void)state;
	weft_oneshot_sender *tx;
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(4, &tx, &rx), 0);
	hand h;
	hand_init(&h);
	int out;
	weft_oneshot_recv_future f;
	weft_oneshot_recv_init(&f, rx, &out);
	assert_int_equal(hpoll(&h, &f.fut), WEFT_PENDING);
	weft_oneshot_sender_close(tx);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &f.fut), WEFT_READY);
	assert_int_equal(f.result, -EPIPE);
	weft_oneshot_recv_drop(&f);
	weft_oneshot_receiver_close(rx);

	assert_int_equal(weft_oneshot_new(4, &tx, &rx), 0);
	weft_oneshot_receiver_close(rx);
	assert_true(weft_oneshot_is_closed(tx));
	int msg = 1;
	assert_int_equal(weft_oneshot_send(tx, &msg), -EPIPE);   /* and frees */
	assert_int_equal(weft_oneshot_new(0, &tx, &rx), -EINVAL);
	hand_fini(&h);
}

static void oneshot_message_survives_a_woken_receive_that_is_dropped(void **state)
{
	(void)state;
	weft_oneshot_sender *tx;
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(sizeof(int), &tx, &rx), 0);
	hand h;
	hand_init(&h);
	int out = 0, msg = 5;
	weft_oneshot_recv_future f;
	weft_oneshot_recv_init(&f, rx, &out);
	assert_int_equal(hpoll(&h, &f.fut), WEFT_PENDING);
	assert_int_equal(weft_oneshot_send(tx, &msg), 0);
	weft_oneshot_recv_drop(&f);                /* woken, never took it */
	assert_int_equal(out, 0);
	assert_int_equal(weft_oneshot_try_recv(rx, &out), 0);
	assert_int_equal(out, 5);
	weft_oneshot_receiver_close(rx);
	hand_fini(&h);
}

/* ---------------------------------------------------------------- mpsc */

static void mpsc_bounded_keeps_order_and_refuses_when_full(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(3, sizeof(int), &tx, &rx), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(weft_mpsc_try_send(tx, &i), 0);
	int x = 9;
	assert_int_equal(weft_mpsc_try_send(tx, &x), -EAGAIN);
	for (int round = 0; round < 5; round++) {   /* wrap the ring */
		int out;
		assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
		assert_int_equal(out, round);
		int next = round + 3;
		assert_int_equal(weft_mpsc_try_send(tx, &next), 0);
	}
	weft_mpsc_sender_close(tx);
	for (int i = 5; i < 8; i++) {
		int out;
		assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
		assert_int_equal(out, i);
	}
	int out;
	assert_int_equal(weft_mpsc_try_recv(rx, &out), -EPIPE);   /* drained, no senders */
	weft_mpsc_receiver_close(rx);
	assert_int_equal(weft_mpsc_new(1, 0, &tx, &rx), -EINVAL);
	assert_int_equal(weft_mpsc_new(WEFT_MPSC_MAX_CAPACITY + 1, 1, &tx, &rx), -EINVAL);
}

static void mpsc_send_waits_for_room_and_a_dropped_reserved_send_passes_its_slot_on(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(1, sizeof(int), &tx, &rx), 0);
	int m0 = 0, m1 = 1, m2 = 2, out = -1;
	assert_int_equal(weft_mpsc_try_send(tx, &m0), 0);
	hand h1, h2, hr;
	hand_init(&h1);
	hand_init(&h2);
	hand_init(&hr);
	weft_mpsc_send_future s1, s2;
	weft_mpsc_send_init(&s1, tx, &m1);
	weft_mpsc_send_init(&s2, tx, &m2);
	assert_int_equal(hpoll(&h1, &s1.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&h2, &s2.fut), WEFT_PENDING);
	weft_mpsc_recv_future r;
	weft_mpsc_recv_init(&r, rx, &out);
	assert_int_equal(hpoll(&hr, &r.fut), WEFT_READY);
	assert_int_equal(out, 0);
	weft_mpsc_recv_drop(&r);
	assert_int_equal(hand_wakes(&h1), 1);    /* slot reserved for s1 */
	assert_int_equal(hand_wakes(&h2), 0);
	weft_mpsc_send_drop(&s1);                /* cancelled: m1 never sent */
	assert_int_equal(hand_wakes(&h2), 1);
	assert_int_equal(hpoll(&h2, &s2.fut), WEFT_READY);
	assert_int_equal(s2.result, 0);
	weft_mpsc_send_drop(&s2);
	assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
	assert_int_equal(out, 2);
	assert_int_equal(weft_mpsc_try_recv(rx, &out), -EAGAIN);
	/* A waiting receive is woken by a send. */
	weft_mpsc_recv_init(&r, rx, &out);
	assert_int_equal(hpoll(&hr, &r.fut), WEFT_PENDING);
	assert_int_equal(weft_mpsc_try_send(tx, &m1), 0);
	assert_int_equal(hand_wakes(&hr), 1);
	assert_int_equal(hpoll(&hr, &r.fut), WEFT_READY);
	assert_int_equal(out, 1);
	weft_mpsc_recv_drop(&r);
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);
	hand_fini(&h1);
	hand_fini(&h2);
	hand_fini(&hr);
}

static void mpsc_closed_receiver_fails_queued_and_later_sends_but_keeps_its_buffer(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(1, sizeof(int), &tx, &rx), 0);
	weft_mpsc_sender *tx2 = weft_mpsc_sender_clone(tx);
	assert_ptr_equal(tx2, tx);
	int m = 4, out;
	assert_int_equal(weft_mpsc_try_send(tx, &m), 0);
	hand h;
	hand_init(&h);
	weft_mpsc_send_future s;
	weft_mpsc_send_init(&s, tx2, &m);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_PENDING);
	weft_mpsc_receiver_shutdown(rx);
	assert_true(weft_mpsc_is_closed(tx));
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_READY);
	assert_int_equal(s.result, -EPIPE);
	weft_mpsc_send_drop(&s);
	assert_int_equal(weft_mpsc_try_send(tx, &m), -EPIPE);
	assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
	assert_int_equal(out, 4);
	/* Closed and drained: over, though senders remain (Tokio's close). */
	assert_int_equal(weft_mpsc_try_recv(rx, &out), -EPIPE);
	weft_mpsc_sender_close(tx);
	weft_mpsc_sender_close(tx2);
	assert_int_equal(weft_mpsc_try_recv(rx, &out), -EPIPE);
	weft_mpsc_receiver_close(rx);
	hand_fini(&h);
}

static void mpsc_last_sender_drop_wakes_a_waiting_receive_with_epipe(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(0, sizeof(int), &tx, &rx), 0);
	hand h;
	hand_init(&h);
	int out;
	weft_mpsc_recv_future r;
	weft_mpsc_recv_init(&r, rx, &out);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_PENDING);
	weft_mpsc_sender_close(tx);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_READY);
	assert_int_equal(r.result, -EPIPE);
	weft_mpsc_recv_drop(&r);
	weft_mpsc_receiver_close(rx);
	hand_fini(&h);
}

static void mpsc_unbounded_grows_by_blocks_and_frees_leftovers(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(0, sizeof(uint64_t), &tx, &rx), 0);
	uint64_t next_in = 0, next_out = 0;
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 100; i++, next_in++) {
			weft_mpsc_send_future s;
			hand h;
			hand_init(&h);
			weft_mpsc_send_init(&s, tx, &next_in);
			assert_int_equal(hpoll(&h, &s.fut), WEFT_READY);
			assert_int_equal(s.result, 0);
			weft_mpsc_send_drop(&s);
			hand_fini(&h);
		}
		for (int i = 0; i < 70; i++, next_out++) {
			uint64_t out;
			assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
			assert_int_equal(out, next_out);
		}
	}
	/* 600 messages left in the buffer: the receiver's drop frees them. */
	weft_mpsc_receiver_close(rx);
	assert_int_equal(weft_mpsc_try_send(tx, &next_in), -EPIPE);
	weft_mpsc_sender_close(tx);
}

/* A receive dropped while it waits (never woken) takes its node off the
 * list and drops the waker it stored: the hand's own waker is then the
 * only one left, before the channel closes. A later receive still gets
 * the next message. */
/* A send dropped while it waits for room (never granted a slot) takes
 * its node off the list and drops the waker it stored; its message is
 * not sent, and the slot freed later goes to nobody's waker. */
static void mpsc_send_dropped_while_waiting_for_room_drops_its_waker(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(1, sizeof(int), &tx, &rx), 0);
	int first = 1, second = 2, out = -1;
	assert_int_equal(weft_mpsc_try_send(tx, &first), 0);   /* full */
	hand h;
	hand_init(&h);
	weft_mpsc_send_future s;
	weft_mpsc_send_init(&s, tx, &second);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_PENDING);
	assert_int_equal(test_counting_waker_load(&h.cw.live), 2);   /* ours, the node's */
	weft_mpsc_send_drop(&s);
	assert_int_equal(test_counting_waker_load(&h.cw.live), 1);
	assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
	assert_int_equal(out, 1);
	assert_int_equal(hand_wakes(&h), 0);
	assert_int_equal(weft_mpsc_try_recv(rx, &out), -EAGAIN);   /* never sent */
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);
	hand_fini(&h);
}

static void mpsc_receive_dropped_while_waiting_drops_its_waker(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(4, sizeof(int), &tx, &rx), 0);
	hand h;
	hand_init(&h);
	int out = -1, m = 9;
	weft_mpsc_recv_future r;
	weft_mpsc_recv_init(&r, rx, &out);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_PENDING);
	assert_int_equal(test_counting_waker_load(&h.cw.live), 2);   /* ours, the node's */
	weft_mpsc_recv_drop(&r);
	assert_int_equal(test_counting_waker_load(&h.cw.live), 1);
	assert_int_equal(weft_mpsc_try_send(tx, &m), 0);
	assert_int_equal(hand_wakes(&h), 0);   /* nobody waits any more */
	assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
	assert_int_equal(out, 9);
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);
	hand_fini(&h);
}

static void mpsc_woken_receive_that_is_dropped_loses_no_message(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(4, sizeof(int), &tx, &rx), 0);
	hand h;
	hand_init(&h);
	int out = -1, m = 8;
	weft_mpsc_recv_future r;
	weft_mpsc_recv_init(&r, rx, &out);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_PENDING);
	assert_int_equal(weft_mpsc_try_send(tx, &m), 0);
	assert_int_equal(hand_wakes(&h), 1);
	weft_mpsc_recv_drop(&r);                  /* woken, never took it */
	assert_int_equal(out, -1);
	assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
	assert_int_equal(out, 8);
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);
	hand_fini(&h);
}

static void allocation_failures_give_enomem_and_lose_nothing(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	weft_oneshot_sender *otx;
	weft_oneshot_receiver *orx;
	weft_watch_sender *wtx;
	weft_watch_receiver *wrx;
	int v = 1;
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_mpsc_new(0, sizeof v, &tx, &rx), -ENOMEM);
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_oneshot_new(sizeof v, &otx, &orx), -ENOMEM);
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_watch_new(sizeof v, &v, &wtx, &wrx), -ENOMEM);
	weft__fault_reset();

	/* Unbounded: the block allocation of the 33rd message fails. */
	assert_int_equal(weft_mpsc_new(0, sizeof v, &tx, &rx), 0);
	for (v = 0; v < 32; v++)
		assert_int_equal(weft_mpsc_try_send(tx, &v), 0);
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_mpsc_try_send(tx, &v), -ENOMEM);
	weft__fault_reset();
	assert_int_equal(weft_mpsc_try_send(tx, &v), 0);
	for (int i = 0; i <= 32; i++) {
		int out;
		assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
		assert_int_equal(out, i);
	}
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);

	assert_int_equal(weft_watch_new(sizeof v, &v, &wtx, &wrx), 0);
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_null(weft_watch_receiver_clone(wrx));
	weft__fault_reset();
	weft_watch_receiver_close(wrx);
	weft_watch_sender_close(wtx);
}

/* --------------------------------------------------------------- watch */

static void watch_receivers_see_the_latest_value_once(void **state)
{
	(void)state;
	weft_watch_sender *tx;
	weft_watch_receiver *rx;
	int v = 1, out = 0;
	assert_int_equal(weft_watch_new(sizeof v, &v, &tx, &rx), 0);
	weft_watch_receiver *rx2 = weft_watch_receiver_clone(rx);
	assert_non_null(rx2);
	assert_int_equal(weft_watch_has_changed(rx), 0);
	hand h1, h2;
	hand_init(&h1);
	hand_init(&h2);
	weft_watch_changed_future c1, c2;
	weft_watch_changed_init(&c1, rx);
	weft_watch_changed_init(&c2, rx2);
	assert_int_equal(hpoll(&h1, &c1.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&h2, &c2.fut), WEFT_PENDING);
	v = 2;
	assert_int_equal(weft_watch_send(tx, &v), 0);
	v = 3;
	assert_int_equal(weft_watch_send(tx, &v), 0);
	assert_int_equal(hand_wakes(&h1), 1);
	assert_int_equal(hand_wakes(&h2), 1);
	assert_int_equal(hpoll(&h1, &c1.fut), WEFT_READY);
	assert_int_equal(c1.result, 0);
	assert_int_equal(weft_watch_borrow(rx, &out), 0);
	assert_int_equal(out, 3);                     /* 2 was skipped */
	assert_int_equal(weft_watch_has_changed(rx), 0);
	assert_int_equal(weft_watch_has_changed(rx2), 1);
	weft_watch_changed_drop(&c1);
	weft_watch_changed_drop(&c2);                 /* woken, dropped: fine */
	assert_int_equal(weft_watch_borrow_and_update(rx2, &out), 0);
	assert_int_equal(weft_watch_has_changed(rx2), 0);
	weft_watch_changed_init(&c1, rx);
	assert_int_equal(hpoll(&h1, &c1.fut), WEFT_PENDING);
	weft_watch_sender_close(tx);
	assert_int_equal(hpoll(&h1, &c1.fut), WEFT_READY);
	assert_int_equal(c1.result, -EPIPE);
	weft_watch_changed_drop(&c1);
	weft_watch_receiver_close(rx);
	weft_watch_receiver_close(rx2);
	hand_fini(&h1);
	hand_fini(&h2);
}

/* A changed future dropped while it waits (never woken) takes its node
 * off the list and drops the waker it stored; a later send wakes nobody. */
static void watch_changed_dropped_while_waiting_drops_its_waker(void **state)
{
	(void)state;
	weft_watch_sender *tx;
	weft_watch_receiver *rx;
	int v = 1;
	assert_int_equal(weft_watch_new(sizeof v, &v, &tx, &rx), 0);
	hand h;
	hand_init(&h);
	weft_watch_changed_future c;
	weft_watch_changed_init(&c, rx);
	assert_int_equal(hpoll(&h, &c.fut), WEFT_PENDING);
	assert_int_equal(test_counting_waker_load(&h.cw.live), 2);   /* ours, the node's */
	weft_watch_changed_drop(&c);
	assert_int_equal(test_counting_waker_load(&h.cw.live), 1);
	v = 2;
	assert_int_equal(weft_watch_send(tx, &v), 0);
	assert_int_equal(hand_wakes(&h), 0);
	assert_int_equal(weft_watch_has_changed(rx), 1);   /* the change waits */
	weft_watch_sender_close(tx);
	weft_watch_receiver_close(rx);
	hand_fini(&h);
}

static void watch_send_without_receivers_fails_with_epipe(void **state)
{
	(void)state;
	weft_watch_sender *tx;
	weft_watch_receiver *rx;
	int v = 1;
	assert_int_equal(weft_watch_new(sizeof v, &v, &tx, &rx), 0);
	weft_watch_receiver_close(rx);
	assert_int_equal(weft_watch_send(tx, &v), -EPIPE);
	weft_watch_sender_close(tx);
	assert_int_equal(weft_watch_new(sizeof v, NULL, &tx, &rx), -EINVAL);
}

/* ------------------------------------------------- runtime: mpsc stress */

#define WORKERS 2
#define LIMIT WEFT_SEC(60)   /* a lost wakeup fails at this timeout */

static weft_runtime *new_mt(void)
{
	weft_runtime *rt = NULL;
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = WORKERS };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	return rt;
}

/* Runs @root on @rt under a timeout; returns the timeout's result. */
static int run_bounded(weft_runtime *rt, weft_future *root)
{
	weft_timeout t;
	weft_timeout_init(&t, root, LIMIT);
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	return t.result;
}

#define PRODUCERS 4
#define PER_PRODUCER 100000u

typedef struct producer {
	weft_future fut;
	weft_coro co;
	weft_mpsc_sender *tx;
	uint64_t id, i, msg;
	weft_mpsc_send_future send;
} producer;

static weft_poll producer_poll(weft_future *f, weft_cx *cx)
{
	producer *p = (producer *)f;
	WEFT_BEGIN(&p->co);
	for (p->i = 0; p->i < PER_PRODUCER; p->i++) {
		p->msg = p->id << 32 | p->i;
		weft_mpsc_send_init(&p->send, p->tx, &p->msg);
		WEFT_TRY(&p->co, weft_mpsc_send_poll(&p->send, cx), p->send.result);
	}
	WEFT_END(&p->co);
}

static void producer_drop(weft_future *f)
{
	producer *p = (producer *)f;
	weft_mpsc_send_drop(&p->send);
	weft_mpsc_sender_close(p->tx);
}

typedef struct consumer {
	weft_future fut;
	weft_coro co;
	weft_mpsc_receiver *rx;
	weft_mpsc_recv_future recv;
	uint64_t msg;
	uint64_t next[PRODUCERS];
	uint64_t total;
	bool out_of_order;
} consumer;

static weft_poll consumer_poll(weft_future *f, weft_cx *cx)
{
	consumer *c = (consumer *)f;
	WEFT_BEGIN(&c->co);
	for (;;) {
		weft_mpsc_recv_init(&c->recv, c->rx, &c->msg);
		WEFT_AWAIT(&c->co, weft_mpsc_recv_poll(&c->recv, cx));
		if (c->recv.result < 0)
			break;
		uint64_t id = c->msg >> 32, seq = c->msg & 0xffffffffu;
		if (id >= PRODUCERS || seq != c->next[id])
			c->out_of_order = true;
		else
			c->next[id]++;
		c->total++;
	}
	WEFT_END(&c->co);
}

static void consumer_drop(weft_future *f)
{
	weft_mpsc_recv_drop(&((consumer *)f)->recv);
}

static void mpsc_stress(size_t capacity)
{
	weft_runtime *rt = new_mt();
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(capacity, sizeof(uint64_t), &tx, &rx), 0);
	for (uint64_t id = 0; id < PRODUCERS; id++) {
		producer p = { .fut = WEFT_FUTURE(producer_poll, producer_drop),
			       .tx = weft_mpsc_sender_clone(tx), .id = id };
		assert_int_equal(weft_spawn_detached(rt, &p.fut, sizeof p), 0);
	}
	weft_mpsc_sender_close(tx);
	consumer c = { .fut = WEFT_FUTURE(consumer_poll, consumer_drop), .rx = rx };
	assert_int_equal(run_bounded(rt, &c.fut), 0);
	assert_false(c.out_of_order);
	assert_int_equal(c.total, (uint64_t)PRODUCERS * PER_PRODUCER);
	weft_mpsc_receiver_close(rx);
	weft_runtime_close(rt);
}

static void mpsc_bounded_four_producers_deliver_every_message_in_order_across_workers(void **state)
{
	(void)state;
	mpsc_stress(64);
}

static void mpsc_unbounded_four_producers_deliver_every_message_in_order_across_workers(void **state)
{
	(void)state;
	mpsc_stress(0);
}

/* ------------------------------------------------ runtime: mutex stress */

#define MUTEX_TASKS 1000
#define MUTEX_ROUNDS 20

typedef struct contender {
	weft_future fut;
	weft_coro co;
	weft_mutex *m;
	weft_semaphore *done;
	long *counter;      /* plain: only touched under the mutex */
	int i;
	long seen;
	weft_mutex_lock_future lock;
	weft_yield_now y;
} contender;

static weft_poll contender_poll(weft_future *f, weft_cx *cx)
{
	contender *t = (contender *)f;
	WEFT_BEGIN(&t->co);
	for (t->i = 0; t->i < MUTEX_ROUNDS; t->i++) {
		weft_mutex_lock_init(&t->lock, t->m);
		WEFT_TRY(&t->co, weft_mutex_lock_poll(&t->lock, cx), t->lock.result);
		t->seen = *t->counter;
		if (t->i % 4 == 0) {
			/* hold the lock across an await now and then */
			weft_yield_now_init(&t->y);
			WEFT_AWAIT(&t->co, weft_yield_now_poll(&t->y, cx));
		}
		*t->counter = t->seen + 1;
		if (weft_mutex_unlock(t->m) != 0)
			abort();   /* no cmocka assert off the test thread */
	}
	weft_semaphore_release(t->done, 1);
	WEFT_END(&t->co);
}

static void contender_drop(weft_future *f)
{
	weft_mutex_lock_drop(&((contender *)f)->lock);
}

typedef struct acquire_root {
	weft_future fut;
	weft_semaphore_acquire_future a;
} acquire_root;

static weft_poll acquire_root_poll(weft_future *f, weft_cx *cx)
{
	return weft_semaphore_acquire_poll(&((acquire_root *)f)->a, cx);
}

static void acquire_root_drop(weft_future *f)
{
	weft_semaphore_acquire_drop(&((acquire_root *)f)->a);
}

static void a_thousand_tasks_contending_a_mutex_lose_no_update(void **state)
{
	(void)state;
	weft_runtime *rt = new_mt();
	weft_mutex m;
	weft_semaphore done;
	long counter = 0;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_semaphore_init(&done, 0), 0);
	for (int i = 0; i < MUTEX_TASKS; i++) {
		contender t = { .fut = WEFT_FUTURE(contender_poll, contender_drop), .m = &m,
				.done = &done, .counter = &counter };
		assert_int_equal(weft_spawn_detached(rt, &t.fut, sizeof t), 0);
	}
	acquire_root r = { .fut = WEFT_FUTURE(acquire_root_poll, acquire_root_drop) };
	weft_semaphore_acquire_init(&r.a, &done, MUTEX_TASKS);
	assert_int_equal(run_bounded(rt, &r.fut), 0);
	assert_int_equal(r.a.result, 0);
	weft_runtime_close(rt);
	assert_int_equal(counter, (long)MUTEX_TASKS * MUTEX_ROUNDS);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	weft_mutex_close(&m);
	weft_semaphore_close(&done);
}

/* --------------------------------- runtime: cancellation under contention */

/* Tasks that select a mutex lock against a short yield chain: many lock
 * futures are dropped while queued or right after being handed the lock.
 * Every lock either reaches a task or passes on: the last lock_blocking
 * from the test thread must succeed. */
typedef struct canceller {
	weft_future fut;
	weft_coro co;
	weft_mutex *m;
	weft_semaphore *done;
	int i;
	weft_mutex_lock_future lock;
	weft_yield_now y;
	weft_select sel;
} canceller;

static weft_poll canceller_poll(weft_future *f, weft_cx *cx)
{
	canceller *t = (canceller *)f;
	WEFT_BEGIN(&t->co);
	for (t->i = 0; t->i < 50; t->i++) {
		weft_mutex_lock_init(&t->lock, t->m);
		weft_yield_now_init(&t->y);
		weft_select2_init(&t->sel, &t->lock.fut, &t->y.fut);
		WEFT_AWAIT(&t->co, weft_select_poll(&t->sel, cx));
		if (t->sel.winner == 0 && t->lock.result == 0)
			weft_mutex_unlock(t->m);
	}
	weft_semaphore_release(t->done, 1);
	WEFT_END(&t->co);
}

static void canceller_drop(weft_future *f)
{
	weft_select_drop(&((canceller *)f)->sel);
}

static void lock_futures_cancelled_under_contention_never_lose_the_lock(void **state)
{
	(void)state;
	enum { TASKS = 200 };
	weft_runtime *rt = new_mt();
	weft_mutex m;
	weft_semaphore done;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_semaphore_init(&done, 0), 0);
	for (int i = 0; i < TASKS; i++) {
		canceller t = { .fut = WEFT_FUTURE(canceller_poll, canceller_drop), .m = &m,
				.done = &done };
		assert_int_equal(weft_spawn_detached(rt, &t.fut, sizeof t), 0);
	}
	acquire_root r = { .fut = WEFT_FUTURE(acquire_root_poll, acquire_root_drop) };
	weft_semaphore_acquire_init(&r.a, &done, TASKS);
	assert_int_equal(run_bounded(rt, &r.fut), 0);
	assert_int_equal(r.a.result, 0);
	assert_int_equal(weft_mutex_lock_blocking(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	weft_runtime_close(rt);
	weft_mutex_close(&m);
	weft_semaphore_close(&done);
}

/* A plain thread blocked in recv_blocking on an empty channel, with a
 * sender alive, is woken by receiver_close and gets -EPIPE; one test per
 * kind (bounded, unbounded). The close comes only once the receive is
 * queued on the channel (a close before it blocks would pass without the
 * wake), and the join is bounded: a receive the close does not wake
 * fails the test instead of hanging the suite. A recv_blocking after the
 * close returns at once. */
typedef struct closed_recv {
	weft_mpsc_receiver *rx;
	int rc;
} closed_recv;

static void *closed_recv_thread(void *p)
{
	closed_recv *c = p;
	int out;
	c->rc = weft_mpsc_recv_blocking(c->rx, &out);
	return NULL;
}

/* The start of struct weft__mpsc, which is private to runtime/sync/sync_mpsc.c
 * (a runtime file cannot gain a test accessor on this branch): mirrored
 * here only to see, under the channel's lock, whether a receive is
 * queued. mpsc_recv_queued checks the mirror against the fields it knows
 * (element size, capacity, one sender, nothing buffered or queued to
 * send), so a change of layout fails the test loudly instead of making
 * it wait on the wrong word. Keep it in step with the real struct. */
struct __attribute__((__may_alias__)) mpsc_mirror {
	struct weft__sync_lock lock;
	size_t elem;
	size_t cap;
	size_t len;
	size_t reserved;
	size_t senders;
	bool rx_closed;
	bool rx_gone;
	struct weft__waitlist send_waiters;
	struct weft__waitlist recv_waiters;
};

/* True once a blocking receive is queued on @rx (a channel of ints with
 * capacity @cap, one sender, nothing sent): its node is the head of the
 * receive list, QUEUED, with its thread's park. The lock
 * is the first field, so the mirror takes the channel's own lock. */
static bool mpsc_recv_queued(weft_mpsc_receiver *rx, size_t cap)
{
	struct mpsc_mirror *m = (struct mpsc_mirror *)(void *)rx;
	weft__sync_lock(&m->lock);
	bool layout = m->elem == sizeof(int) && m->cap == cap && m->senders == 1 &&
		      m->len == 0 && m->reserved == 0 && !m->rx_closed && !m->rx_gone &&
		      m->send_waiters.head == NULL && m->send_waiters.tail == NULL;
	const struct weft__waiter *w = m->recv_waiters.head;
	bool queued = w && w == m->recv_waiters.tail && w->prev == NULL &&
		      w->state == WEFT__WAITER_QUEUED && w->park != NULL;
	weft__sync_unlock(&m->lock);
	if (!layout)
		fail_msg("struct mpsc_mirror no longer matches struct weft__mpsc");
	return queued;
}

/* Joins @th within 5 s; fails with @what if it is still running. */
static void join_within_5s(pthread_t th, const char *what)
{
	struct timespec limit;
	assert_int_equal(clock_gettime(CLOCK_REALTIME, &limit), 0);
	limit.tv_sec += 5;
	int rc = pthread_timedjoin_np(th, NULL, &limit);
	if (rc == ETIMEDOUT)   /* the thread stays blocked; the channel is not freed */
		fail_msg("%s", what);
	assert_int_equal(rc, 0);
}

static void receiver_close_ends_a_blocking_recv(size_t cap)
{
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	assert_int_equal(weft_mpsc_new(cap, sizeof(int), &tx, &rx), 0);
	closed_recv c = { .rx = rx, .rc = 1 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, closed_recv_thread, &c), 0);
	/* Wait (at most 5 s) until the receive is queued and asleep: its
	 * thread lets go of the lock only in pthread_cond_wait. */
	bool queued = false;
	for (int i = 0; i < 5000 && !(queued = mpsc_recv_queued(rx, cap)); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	assert_true(queued);
	weft_mpsc_receiver_shutdown(rx);
	join_within_5s(th, "receiver_close did not wake the queued recv_blocking in 5 s");
	assert_int_equal(c.rc, -EPIPE);

	/* Closed first: a blocking receive does not wait at all. */
	c.rc = 1;
	assert_int_equal(pthread_create(&th, NULL, closed_recv_thread, &c), 0);
	join_within_5s(th, "recv_blocking after receiver_close waited");
	assert_int_equal(c.rc, -EPIPE);
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);
}

static void mpsc_receiver_close_ends_a_blocking_recv_while_senders_live_bounded(void **state)
{
	(void)state;
	receiver_close_ends_a_blocking_recv(2);
}

static void mpsc_receiver_close_ends_a_blocking_recv_while_senders_live_unbounded(void **state)
{
	(void)state;
	receiver_close_ends_a_blocking_recv(0);
}

/* Tasks that select acquires of 1..PERMITS permits against a short yield
 * chain, across workers: many acquires are dropped while they wait at the
 * head holding a partial assignment, or right after being granted. Every
 * permit either reaches a task (which gives it back) or returns to the
 * semaphore: at the end all PERMITS are free again and a blocking acquire
 * of all of them succeeds. */
enum { SEM_PERMITS = 5 };

typedef struct partial_canceller {
	weft_future fut;
	weft_coro co;
	weft_semaphore *s;
	weft_semaphore *done;
	int i;
	size_t n;
	weft_semaphore_acquire_future acq;
	weft_yield_now y;
	weft_select sel;
} partial_canceller;

static weft_poll partial_canceller_poll(weft_future *f, weft_cx *cx)
{
	partial_canceller *t = (partial_canceller *)f;
	WEFT_BEGIN(&t->co);
	for (t->i = 0; t->i < 50; t->i++) {
		t->n = 1 + (size_t)(t->i + (int)t->n) % SEM_PERMITS;
		weft_semaphore_acquire_init(&t->acq, t->s, t->n);
		weft_yield_now_init(&t->y);
		weft_select2_init(&t->sel, &t->acq.fut, &t->y.fut);
		WEFT_AWAIT(&t->co, weft_select_poll(&t->sel, cx));
		if (t->sel.winner == 0 && t->acq.result == 0) {
			/* Hold the permits across a yield, so others queue. */
			weft_yield_now_init(&t->y);
			WEFT_AWAIT(&t->co, weft_yield_now_poll(&t->y, cx));
			assert_int_equal(weft_semaphore_release(t->s, t->n), 0);
		}
	}
	weft_semaphore_release(t->done, 1);
	WEFT_END(&t->co);
}

static void partial_canceller_drop(weft_future *f)
{
	weft_select_drop(&((partial_canceller *)f)->sel);
}

static void semaphore_acquires_cancelled_with_partial_permits_lose_none(void **state)
{
	(void)state;
	enum { TASKS = 200 };
	weft_runtime *rt = new_mt();
	weft_semaphore s, done;
	assert_int_equal(weft_semaphore_init(&s, SEM_PERMITS), 0);
	assert_int_equal(weft_semaphore_init(&done, 0), 0);
	for (int i = 0; i < TASKS; i++) {
		partial_canceller t = { .fut = WEFT_FUTURE(partial_canceller_poll,
							   partial_canceller_drop),
					.s = &s, .done = &done, .n = (size_t)i };
		assert_int_equal(weft_spawn_detached(rt, &t.fut, sizeof t), 0);
	}
	acquire_root r = { .fut = WEFT_FUTURE(acquire_root_poll, acquire_root_drop) };
	weft_semaphore_acquire_init(&r.a, &done, TASKS);
	assert_int_equal(run_bounded(rt, &r.fut), 0);
	assert_int_equal(r.a.result, 0);
	assert_int_equal(weft_semaphore_available(&s), SEM_PERMITS);
	assert_int_equal(weft_semaphore_acquire_blocking(&s, SEM_PERMITS), 0);
	weft_runtime_close(rt);
	weft_semaphore_close(&s);
	weft_semaphore_close(&done);
}

/* ------------------------------------------ blocking calls, plain threads */

typedef struct blocking_refusal {
	weft_future fut;
	int rc[6];
} blocking_refusal;

static weft_poll blocking_refusal_poll(weft_future *f, weft_cx *cx)
{
	blocking_refusal *b = (blocking_refusal *)f;
	(void)cx;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	weft_oneshot_sender *otx;
	weft_oneshot_receiver *orx;
	weft_mutex m;
	int out;
	if (weft_mpsc_new(1, sizeof out, &tx, &rx) < 0 || weft_oneshot_new(4, &otx, &orx) < 0)
		return WEFT_READY;
	weft_mutex_init(&m);
	b->rc[0] = weft_mpsc_recv_blocking(rx, &out);
	b->rc[1] = weft_mpsc_send_blocking(tx, &out);
	b->rc[2] = weft_oneshot_recv_blocking(orx, &out);
	b->rc[3] = weft_mutex_lock_blocking(&m);
	weft_notify n;
	weft_notify_init(&n);
	b->rc[4] = weft_notify_wait_blocking(&n);
	weft_notify_close(&n);
	weft_semaphore s;
	weft_semaphore_init(&s, 1);
	b->rc[5] = weft_semaphore_acquire_blocking(&s, 1);
	weft_semaphore_close(&s);
	weft_mutex_close(&m);
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);
	weft_oneshot_sender_close(otx);
	weft_oneshot_receiver_close(orx);
	return WEFT_READY;
}

static void blocking_calls_on_a_runtime_thread_return_edeadlk(void **state)
{
	(void)state;
	weft_runtime *rt = NULL;
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	blocking_refusal b = { .fut = WEFT_FUTURE(blocking_refusal_poll, NULL) };
	assert_int_equal(weft_block_on(rt, &b.fut), 0);
	for (int i = 0; i < 6; i++)
		assert_int_equal(b.rc[i], -EDEADLK);
	weft_runtime_close(rt);
}

#define PLAIN_THREADS 2
#define PLAIN_MSGS 20000u

struct plain_arg {
	weft_mpsc_sender *tx;
	weft_oneshot_receiver *orx;
	weft_mutex *m;
	long *counter;
	uint64_t id;
	int rc;
	long reply;
};

static void *plain_sender(void *p)
{
	struct plain_arg *a = p;
	for (uint64_t i = 0; i < PLAIN_MSGS; i++) {
		uint64_t msg = a->id << 32 | i;
		if ((a->rc = weft_mpsc_send_blocking(a->tx, &msg)) < 0)
			return NULL;
		if (i % 100 == 0) {
			if ((a->rc = weft_mutex_lock_blocking(a->m)) < 0)
				return NULL;
			++*a->counter;
			weft_mutex_unlock(a->m);
		}
	}
	weft_mpsc_sender_close(a->tx);
	a->rc = weft_oneshot_recv_blocking(a->orx, &a->reply);
	weft_oneshot_receiver_close(a->orx);
	return NULL;
}

/* The task side: receives everything, taking the same mutex now and then,
 * then answers each thread through its oneshot. */
typedef struct plain_consumer {
	consumer c;
	weft_mutex *m;
	long *counter;
	weft_mutex_lock_future lock;
	weft_oneshot_sender *otx[PLAIN_THREADS];
} plain_consumer;

static weft_poll plain_consumer_poll(weft_future *f, weft_cx *cx)
{
	plain_consumer *p = (plain_consumer *)f;
	consumer *c = &p->c;
	WEFT_BEGIN(&c->co);
	for (;;) {
		weft_mpsc_recv_init(&c->recv, c->rx, &c->msg);
		WEFT_AWAIT(&c->co, weft_mpsc_recv_poll(&c->recv, cx));
		if (c->recv.result < 0)
			break;
		uint64_t id = c->msg >> 32, seq = c->msg & 0xffffffffu;
		if (id >= PLAIN_THREADS || seq != c->next[id])
			c->out_of_order = true;
		else
			c->next[id]++;
		if (++c->total % 50 == 0) {
			weft_mutex_lock_init(&p->lock, p->m);
			WEFT_AWAIT(&c->co, weft_mutex_lock_poll(&p->lock, cx));
			++*p->counter;
			weft_mutex_unlock(p->m);
		}
	}
	for (int i = 0; i < PLAIN_THREADS; i++) {
		long reply = 1000 + i;
		weft_oneshot_send(p->otx[i], &reply);
		p->otx[i] = NULL;
	}
	WEFT_END(&c->co);
}

static void plain_consumer_drop(weft_future *f)
{
	plain_consumer *p = (plain_consumer *)f;
	weft_mpsc_recv_drop(&p->c.recv);
	weft_mutex_lock_drop(&p->lock);
	for (int i = 0; i < PLAIN_THREADS; i++)
		weft_oneshot_sender_close(p->otx[i]);
}

static void plain_threads_and_tasks_share_channels_and_a_mutex_through_blocking_calls(void **state)
{
	(void)state;
	weft_runtime *rt = new_mt();
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	weft_mutex m;
	long counter = 0;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_mpsc_new(8, sizeof(uint64_t), &tx, &rx), 0);
	plain_consumer pc = { .c = { .fut = WEFT_FUTURE(plain_consumer_poll, plain_consumer_drop),
				     .rx = rx },
			      .m = &m, .counter = &counter };
	struct plain_arg args[PLAIN_THREADS];
	pthread_t th[PLAIN_THREADS];
	for (int i = 0; i < PLAIN_THREADS; i++) {
		args[i] = (struct plain_arg){ .tx = weft_mpsc_sender_clone(tx), .m = &m,
					      .counter = &counter, .id = (uint64_t)i };
		assert_int_equal(weft_oneshot_new(sizeof(long), &pc.otx[i], &args[i].orx), 0);
	}
	weft_mpsc_sender_close(tx);
	for (int i = 0; i < PLAIN_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, plain_sender, &args[i]), 0);
	assert_int_equal(run_bounded(rt, &pc.c.fut), 0);
	for (int i = 0; i < PLAIN_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].rc, 0);
		assert_int_equal(args[i].reply, 1000 + i);
	}
	assert_false(pc.c.out_of_order);
	assert_int_equal(pc.c.total, (uint64_t)PLAIN_THREADS * PLAIN_MSGS);
	assert_int_equal(counter, (long)(PLAIN_THREADS * PLAIN_MSGS / 100 +
					 PLAIN_THREADS * PLAIN_MSGS / 50));
	weft_mpsc_receiver_close(rx);
	weft_runtime_close(rt);
	weft_mutex_close(&m);
}

/* Watch and notify across threads: a plain thread publishes versions; a
 * task follows them with changed() and, at the end, a notify_one. */
struct watch_pub {
	weft_watch_sender *tx;
	weft_notify *n;
	int rc;
};

static void *watch_publisher(void *p)
{
	struct watch_pub *a = p;
	for (int v = 1; v <= 5000; v++)
		if ((a->rc = weft_watch_send(a->tx, &v)) < 0)
			return NULL;
	weft_watch_sender_close(a->tx);
	weft_notify_one(a->n);
	return NULL;
}

typedef struct watch_follower {
	weft_future fut;
	weft_coro co;
	weft_watch_receiver *rx;
	weft_notify *n;
	weft_watch_changed_future changed;
	weft_notified notified;
	int last;
	bool went_back;
} watch_follower;

static weft_poll watch_follower_poll(weft_future *f, weft_cx *cx)
{
	watch_follower *w = (watch_follower *)f;
	WEFT_BEGIN(&w->co);
	for (;;) {
		weft_watch_changed_init(&w->changed, w->rx);
		WEFT_AWAIT(&w->co, weft_watch_changed_poll(&w->changed, cx));
		if (w->changed.result < 0)
			break;
		int v;
		weft_watch_borrow(w->rx, &v);
		if (v < w->last)
			w->went_back = true;
		w->last = v;
	}
	weft_notified_init(&w->notified, w->n);
	WEFT_AWAIT(&w->co, weft_notified_poll(&w->notified, cx));
	WEFT_END(&w->co);
}

static void watch_follower_drop(weft_future *f)
{
	watch_follower *w = (watch_follower *)f;
	weft_watch_changed_drop(&w->changed);
	weft_notified_drop(&w->notified);
}

static void a_watch_follower_reaches_the_last_value_a_plain_thread_publishes(void **state)
{
	(void)state;
	weft_runtime *rt = new_mt();
	weft_watch_sender *tx;
	weft_watch_receiver *rx;
	weft_notify n;
	int v0 = 0;
	assert_int_equal(weft_notify_init(&n), 0);
	assert_int_equal(weft_watch_new(sizeof v0, &v0, &tx, &rx), 0);
	struct watch_pub pub = { .tx = tx, .n = &n };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, watch_publisher, &pub), 0);
	watch_follower w = { .fut = WEFT_FUTURE(watch_follower_poll, watch_follower_drop),
			     .rx = rx, .n = &n };
	assert_int_equal(run_bounded(rt, &w.fut), 0);
	pthread_join(th, NULL);
	assert_int_equal(pub.rc, 0);
	assert_int_equal(w.last, 5000);
	assert_false(w.went_back);
	weft_watch_receiver_close(rx);
	weft_runtime_close(rt);
	weft_notify_close(&n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(semaphore_try_acquire_takes_free_permits_and_refuses_when_short),
		cmocka_unit_test(semaphore_waiters_are_served_in_fifo_order_and_a_big_head_is_not_overtaken),
		cmocka_unit_test(semaphore_dropped_head_waiter_leaves_the_queue_and_the_next_is_served),
		cmocka_unit_test(semaphore_permits_granted_to_a_dropped_acquire_go_back),
		cmocka_unit_test(semaphore_close_fails_waiters_and_later_acquires),
		cmocka_unit_test(semaphore_close_returns_the_waiting_heads_partial_permits_to_the_free_count),
		cmocka_unit_test(semaphore_close_fails_every_queued_acquire_despite_a_release_during_close),
		cmocka_unit_test(semaphore_release_past_the_max_counting_the_heads_partial_permits_fails_with_eoverflow),
		cmocka_unit_test(zero_filled_futures_are_ready_with_einval_and_drop_twice_safely),
		cmocka_unit_test(every_poll_takes_budget_and_a_spent_budget_yields),
		cmocka_unit_test(waiting_locks_drop_the_wakers_they_replace_and_hold),
		cmocka_unit_test(mutex_lock_is_handed_to_waiters_in_fifo_order),
		cmocka_unit_test(mutex_handed_to_a_dropped_waiter_passes_to_the_next),
		cmocka_unit_test(rwlock_readers_share_and_a_queued_writer_holds_back_later_readers),
		cmocka_unit_test(rwlock_write_lock_handed_to_a_dropped_writer_lets_readers_in),
		cmocka_unit_test(notify_one_without_waiters_stores_exactly_one_permit),
		cmocka_unit_test(notify_waiters_wakes_every_earlier_wait_and_stores_no_permit),
		cmocka_unit_test(notify_one_received_by_a_dropped_wait_passes_to_the_next),
		cmocka_unit_test(oneshot_delivers_its_message_to_a_waiting_receive),
		cmocka_unit_test(oneshot_send_and_receive_are_ordered_by_the_state_word_alone),
#ifdef WEFT_PERTURB   /* needs the test hooks: not in a build without them */
		cmocka_unit_test(a_send_finishing_while_the_receive_registers_leaves_no_waker_behind),
#endif
		cmocka_unit_test(oneshot_receive_takes_back_and_drops_its_waker),
		cmocka_unit_test(oneshot_dropped_sender_gives_epipe_and_dropped_receiver_fails_send),
		cmocka_unit_test(oneshot_message_survives_a_woken_receive_that_is_dropped),
		cmocka_unit_test(mpsc_bounded_keeps_order_and_refuses_when_full),
		cmocka_unit_test(mpsc_send_waits_for_room_and_a_dropped_reserved_send_passes_its_slot_on),
		cmocka_unit_test(mpsc_closed_receiver_fails_queued_and_later_sends_but_keeps_its_buffer),
		cmocka_unit_test(mpsc_last_sender_drop_wakes_a_waiting_receive_with_epipe),
		cmocka_unit_test(mpsc_unbounded_grows_by_blocks_and_frees_leftovers),
		cmocka_unit_test(mpsc_send_dropped_while_waiting_for_room_drops_its_waker),
		cmocka_unit_test(mpsc_receive_dropped_while_waiting_drops_its_waker),
		cmocka_unit_test(mpsc_woken_receive_that_is_dropped_loses_no_message),
		cmocka_unit_test(allocation_failures_give_enomem_and_lose_nothing),
		cmocka_unit_test(watch_receivers_see_the_latest_value_once),
		cmocka_unit_test(watch_changed_dropped_while_waiting_drops_its_waker),
		cmocka_unit_test(watch_send_without_receivers_fails_with_epipe),
		cmocka_unit_test(mpsc_bounded_four_producers_deliver_every_message_in_order_across_workers),
		cmocka_unit_test(mpsc_unbounded_four_producers_deliver_every_message_in_order_across_workers),
		cmocka_unit_test(a_thousand_tasks_contending_a_mutex_lose_no_update),
		cmocka_unit_test(lock_futures_cancelled_under_contention_never_lose_the_lock),
		cmocka_unit_test(semaphore_acquires_cancelled_with_partial_permits_lose_none),
		cmocka_unit_test(mpsc_receiver_close_ends_a_blocking_recv_while_senders_live_bounded),
		cmocka_unit_test(mpsc_receiver_close_ends_a_blocking_recv_while_senders_live_unbounded),
		cmocka_unit_test(blocking_calls_on_a_runtime_thread_return_edeadlk),
		cmocka_unit_test(plain_threads_and_tasks_share_channels_and_a_mutex_through_blocking_calls),
		cmocka_unit_test(a_watch_follower_reaches_the_last_value_a_plain_thread_publishes),
	};
	return cmocka_run_group_tests_name("sync", tests, NULL, NULL);
}
