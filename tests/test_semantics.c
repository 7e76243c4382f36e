/*
 * test_semantics.c - the rules of Tokio's documentation, one test per
 * rule, for each primitive: Notify, Semaphore, Mutex, RwLock, oneshot,
 * mpsc (bounded and unbounded), watch, interval (each missed-tick
 * behaviour), sleep, timeout, JoinHandle, select, spawn_blocking and the
 * cooperative budget. Each test is named for the rule it checks, and a
 * one-line comment above it states the rule. Where weft deliberately
 * differs from Tokio (documented beside the function in its header), the
 * test checks weft's rule and its name says "unlike_tokio".
 *
 * Futures are polled by hand with counting wakers where that is exact
 * (every wait is then bounded: a missing wakeup shows as PENDING, not as
 * a hang); anything with time runs on a current-thread runtime with the
 * paused clock, never with real sleeps; runtime waits are bounded by a
 * paused-clock timeout.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */


/* A current-thread runtime with its clock paused on a millisecond
 * boundary. */
static weft_runtime *paused_runtime(void)
{
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	assert_int_equal(weft_time_pause(rt), 0);
	weft_instant now = weft_now(rt);
	assert_int_equal(weft_time_advance(rt, WEFT_MS(1) - now % WEFT_MS(1)), 0);
	return rt;
}

/* ------------------------------------------------------------- notify */

/* notify_one with nobody waiting stores a single permit; a second call
 * adds nothing, and the next wait consumes the permit at once. */
static void notify_one_without_waiter_stores_one_permit(void **state)
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
	assert_int_equal(hpoll(&h, &b.fut), WEFT_PENDING);   /* only one permit */
	weft_notified_drop(&a);
	weft_notified_drop(&b);
	weft_notify_close(&n);
	hand_fini(&h);
}

/* notify_one wakes the waiter that has waited longest (FIFO). */
static void notify_one_wakes_the_longest_waiter_first(void **state)
{
	(void)state;
	weft_notify n;
	assert_int_equal(weft_notify_init(&n), 0);
	hand ha, hb;
	hand_init(&ha);
	hand_init(&hb);
	weft_notified a, b;
	weft_notified_init(&a, &n);
	weft_notified_init(&b, &n);
	assert_int_equal(hpoll(&ha, &a.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&hb, &b.fut), WEFT_PENDING);
	weft_notify_one(&n);
	assert_int_equal(hand_wakes(&ha), 1);
	assert_int_equal(hand_wakes(&hb), 0);
	assert_int_equal(hpoll(&ha, &a.fut), WEFT_READY);
	assert_int_equal(hpoll(&hb, &b.fut), WEFT_PENDING);
	weft_notified_drop(&a);
	weft_notified_drop(&b);
	weft_notify_close(&n);
	hand_fini(&ha);
	hand_fini(&hb);
}

/* notify_waiters completes every wait created before the call, even one
 * that was never polled. */
static void notify_waiters_completes_every_wait_created_before_it_even_unpolled(void **state)
{
	(void)state;
	weft_notify n;
	assert_int_equal(weft_notify_init(&n), 0);
	hand h;
	hand_init(&h);
	weft_notified polled, unpolled;
	weft_notified_init(&polled, &n);
	weft_notified_init(&unpolled, &n);
	assert_int_equal(hpoll(&h, &polled.fut), WEFT_PENDING);
	weft_notify_waiters(&n);
	assert_int_equal(hpoll(&h, &polled.fut), WEFT_READY);
	assert_int_equal(hpoll(&h, &unpolled.fut), WEFT_READY);
	weft_notified_drop(&polled);
	weft_notified_drop(&unpolled);
	weft_notify_close(&n);
	hand_fini(&h);
}

/* notify_waiters stores no permit: a wait created after it still waits. */
static void notify_waiters_stores_no_permit(void **state)
{
	(void)state;
	weft_notify n;
	assert_int_equal(weft_notify_init(&n), 0);
	weft_notify_waiters(&n);
	hand h;
	hand_init(&h);
	weft_notified a;
	weft_notified_init(&a, &n);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_PENDING);
	weft_notified_drop(&a);
	weft_notify_close(&n);
	hand_fini(&h);
}

/* ---------------------------------------------------------- semaphore */

/* available_permits does not count permits already handed to a queued
 * acquire that waits for more: released permits go to it as they come. */
static void semaphore_available_permits_excludes_permits_assigned_to_a_waiting_acquire(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 1), 0);
	hand h;
	hand_init(&h);
	weft_semaphore_acquire_future a;
	weft_semaphore_acquire_init(&a, &s, 4);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_PENDING);
	assert_int_equal(weft_semaphore_available(&s), 0);   /* its 1 is assigned */
	assert_int_equal(weft_semaphore_release(&s, 2), 0);
	assert_int_equal(weft_semaphore_available(&s), 0);   /* 3 of 4 assigned */
	assert_int_equal(hand_wakes(&h), 0);
	assert_int_equal(weft_semaphore_release(&s, 2), 0);  /* 4 assigned, 1 free */
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_READY);
	assert_int_equal(a.result, 0);
	assert_int_equal(weft_semaphore_available(&s), 1);
	weft_semaphore_acquire_drop(&a);
	assert_int_equal(weft_semaphore_available(&s), 1);   /* READY: caller owns 4 */
	weft_semaphore_close(&s);
	hand_fini(&h);
}

/* A waiting acquire that is dropped gives back what it had been assigned,
 * and the next waiter gets it if that lets it proceed. */
static void semaphore_dropped_waiting_acquire_returns_its_partial_permits_and_wakes_the_next(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 2), 0);
	hand ha, hb;
	hand_init(&ha);
	hand_init(&hb);
	weft_semaphore_acquire_future big, small;
	weft_semaphore_acquire_init(&big, &s, 5);
	weft_semaphore_acquire_init(&small, &s, 2);
	assert_int_equal(hpoll(&ha, &big.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&hb, &small.fut), WEFT_PENDING);   /* FIFO: behind big */
	assert_int_equal(weft_semaphore_available(&s), 0);
	weft_semaphore_acquire_drop(&big);                        /* gives its 2 back */
	assert_int_equal(hand_wakes(&hb), 1);
	assert_int_equal(hpoll(&hb, &small.fut), WEFT_READY);
	assert_int_equal(small.result, 0);
	assert_int_equal(weft_semaphore_release(&s, 2), 0);
	assert_int_equal(weft_semaphore_available(&s), 2);        /* nothing lost */
	weft_semaphore_acquire_drop(&small);

	/* Alone: dropping the waiting head puts its share back in the count. */
	weft_semaphore_acquire_init(&big, &s, 3);
	assert_int_equal(hpoll(&ha, &big.fut), WEFT_PENDING);
	assert_int_equal(weft_semaphore_available(&s), 0);
	weft_semaphore_acquire_drop(&big);
	assert_int_equal(weft_semaphore_available(&s), 2);
	weft_semaphore_close(&s);
	hand_fini(&ha);
	hand_fini(&hb);
}

/* The semaphore is fair: a new acquire never overtakes a queued one,
 * even when enough permits for it are free. */
static void semaphore_is_fair_a_small_acquire_never_overtakes_a_queued_big_one(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 1), 0);
	hand h;
	hand_init(&h);
	weft_semaphore_acquire_future big, small;
	weft_semaphore_acquire_init(&big, &s, 2);
	assert_int_equal(hpoll(&h, &big.fut), WEFT_PENDING);
	assert_int_equal(weft_semaphore_try_acquire(&s, 1), -EAGAIN);
	weft_semaphore_acquire_init(&small, &s, 1);
	assert_int_equal(hpoll(&h, &small.fut), WEFT_PENDING);
	weft_semaphore_acquire_drop(&small);
	weft_semaphore_acquire_drop(&big);
	assert_int_equal(weft_semaphore_available(&s), 1);
	weft_semaphore_close(&s);
	hand_fini(&h);
}

/* close makes waiting and later acquires fail; permits already held stay
 * held and can still be given back. */
static void semaphore_close_fails_waiting_and_later_acquires(void **state)
{
	(void)state;
	weft_semaphore s;
	assert_int_equal(weft_semaphore_init(&s, 1), 0);
	assert_int_equal(weft_semaphore_try_acquire(&s, 1), 0);
	hand h;
	hand_init(&h);
	weft_semaphore_acquire_future a;
	weft_semaphore_acquire_init(&a, &s, 1);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_PENDING);
	weft_semaphore_shutdown(&s);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &a.fut), WEFT_READY);
	assert_int_equal(a.result, -ESHUTDOWN);
	weft_semaphore_acquire_drop(&a);
	assert_int_equal(weft_semaphore_try_acquire(&s, 0), -ESHUTDOWN);
	assert_int_equal(weft_semaphore_release(&s, 1), 0);
	assert_int_equal(weft_semaphore_try_acquire(&s, 1), -ESHUTDOWN);
	weft_semaphore_close(&s);
	hand_fini(&h);
}

/* -------------------------------------------------------------- mutex */

/* The mutex is fair: on unlock the longest waiter gets it, in FIFO
 * order, and try_lock does not jump the queue. */
static void mutex_unlock_hands_the_lock_to_the_longest_waiter(void **state)
{
	(void)state;
	weft_mutex m;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	hand ha, hb;
	hand_init(&ha);
	hand_init(&hb);
	weft_mutex_lock_future a, b;
	weft_mutex_lock_init(&a, &m);
	weft_mutex_lock_init(&b, &m);
	assert_int_equal(hpoll(&ha, &a.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&hb, &b.fut), WEFT_PENDING);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), -EAGAIN);   /* handed to a */
	assert_int_equal(hand_wakes(&ha), 1);
	assert_int_equal(hand_wakes(&hb), 0);
	assert_int_equal(hpoll(&ha, &a.fut), WEFT_READY);
	assert_int_equal(hpoll(&hb, &b.fut), WEFT_PENDING);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(hpoll(&hb, &b.fut), WEFT_READY);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	weft_mutex_lock_drop(&a);
	weft_mutex_lock_drop(&b);
	weft_mutex_close(&m);
	hand_fini(&ha);
	hand_fini(&hb);
}

/* A lock future cancelled after the lock was handed to it but before it
 * reported it passes the lock on: cancelling never leaks the lock. */
static void mutex_cancelled_lock_that_was_handed_the_lock_passes_it_on(void **state)
{
	(void)state;
	weft_mutex m;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	hand ha, hb;
	hand_init(&ha);
	hand_init(&hb);
	weft_mutex_lock_future a, b;
	weft_mutex_lock_init(&a, &m);
	weft_mutex_lock_init(&b, &m);
	assert_int_equal(hpoll(&ha, &a.fut), WEFT_PENDING);
	assert_int_equal(hpoll(&hb, &b.fut), WEFT_PENDING);
	assert_int_equal(weft_mutex_unlock(&m), 0);   /* to a */
	weft_mutex_lock_drop(&a);                     /* a never saw it */
	assert_int_equal(hand_wakes(&hb), 1);
	assert_int_equal(hpoll(&hb, &b.fut), WEFT_READY);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	weft_mutex_lock_drop(&b);
	weft_mutex_close(&m);
	hand_fini(&ha);
	hand_fini(&hb);
}

/* try_lock fails while the mutex is held and succeeds once it is free. */
static void mutex_try_lock_fails_while_held(void **state)
{
	(void)state;
	weft_mutex m;
	assert_int_equal(weft_mutex_init(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), -EAGAIN);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(weft_mutex_try_lock(&m), 0);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	weft_mutex_close(&m);
}

/* ------------------------------------------------------------- rwlock */

/* Any number of readers hold the lock at once; a writer excludes them. */
static void rwlock_many_readers_share_it_and_a_writer_excludes_them(void **state)
{
	(void)state;
	weft_rwlock l;
	assert_int_equal(weft_rwlock_init(&l), 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(weft_rwlock_try_read(&l), 0);
	assert_int_equal(weft_rwlock_try_write(&l), -EAGAIN);
	for (int i = 0; i < 5; i++)
		assert_int_equal(weft_rwlock_read_unlock(&l), 0);
	assert_int_equal(weft_rwlock_try_write(&l), 0);
	assert_int_equal(weft_rwlock_try_read(&l), -EAGAIN);
	assert_int_equal(weft_rwlock_write_unlock(&l), 0);
	weft_rwlock_close(&l);
}

/* The lock is fair: a queued writer holds back readers that come after
 * it, so a stream of readers cannot starve it. */
static void rwlock_queued_writer_holds_back_later_readers(void **state)
{
	(void)state;
	weft_rwlock l;
	assert_int_equal(weft_rwlock_init(&l), 0);
	assert_int_equal(weft_rwlock_try_read(&l), 0);
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
	assert_int_equal(hpoll(&hw, &w.fut), WEFT_READY);
	assert_int_equal(hpoll(&hr, &r.fut), WEFT_PENDING);
	assert_int_equal(weft_rwlock_write_unlock(&l), 0);
	assert_int_equal(hand_wakes(&hr), 1);
	assert_int_equal(hpoll(&hr, &r.fut), WEFT_READY);
	assert_int_equal(weft_rwlock_read_unlock(&l), 0);
	weft_rwlock_lock_drop(&w);
	weft_rwlock_lock_drop(&r);
	weft_rwlock_close(&l);
	hand_fini(&hw);
	hand_fini(&hr);
}

/* When a writer unlocks, every reader queued behind it proceeds together. */
static void rwlock_write_unlock_lets_all_queued_readers_in(void **state)
{
	(void)state;
	weft_rwlock l;
	assert_int_equal(weft_rwlock_init(&l), 0);
	assert_int_equal(weft_rwlock_try_write(&l), 0);
	hand h;
	hand_init(&h);
	weft_rwlock_lock_future r[3];
	for (int i = 0; i < 3; i++) {
		weft_rwlock_read_init(&r[i], &l);
		assert_int_equal(hpoll(&h, &r[i].fut), WEFT_PENDING);
	}
	assert_int_equal(weft_rwlock_write_unlock(&l), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(hpoll(&h, &r[i].fut), WEFT_READY);
		assert_int_equal(r[i].result, 0);
	}
	for (int i = 0; i < 3; i++) {
		assert_int_equal(weft_rwlock_read_unlock(&l), 0);
		weft_rwlock_lock_drop(&r[i]);
	}
	weft_rwlock_close(&l);
	hand_fini(&h);
}

/* ------------------------------------------------------------ oneshot */

/* The value sent is what the receiver gets, and sending wakes a waiting
 * receiver. */
static void oneshot_send_wakes_the_receiver_with_the_value(void **state)
{
	(void)state;
	weft_oneshot_sender *tx;
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(sizeof(int), &tx, &rx), 0);
	hand h;
	hand_init(&h);
	int out = 0, v = 77;
	weft_oneshot_recv_future r;
	weft_oneshot_recv_init(&r, rx, &out);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_PENDING);
	assert_int_equal(weft_oneshot_send(tx, &v), 0);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_READY);
	assert_int_equal(r.result, 0);
	assert_int_equal(out, 77);
	weft_oneshot_recv_drop(&r);
	weft_oneshot_receiver_close(rx);
	hand_fini(&h);
}

/* A sender dropped without sending makes the receive end with the closed
 * error (RecvError). */
static void oneshot_sender_dropped_without_sending_gives_closed_error(void **state)
{
	(void)state;
	weft_oneshot_sender *tx;
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(sizeof(int), &tx, &rx), 0);
	hand h;
	hand_init(&h);
	int out = 0;
	weft_oneshot_recv_future r;
	weft_oneshot_recv_init(&r, rx, &out);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_PENDING);
	weft_oneshot_sender_close(tx);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_READY);
	assert_int_equal(r.result, -EPIPE);
	weft_oneshot_recv_drop(&r);
	weft_oneshot_receiver_close(rx);
	hand_fini(&h);
}

/* Sending after the receiver is gone fails, and is_closed says so first. */
static void oneshot_send_after_receiver_dropped_fails_and_is_closed_reports_it(void **state)
{
	(void)state;
	weft_oneshot_sender *tx;
	weft_oneshot_receiver *rx;
	assert_int_equal(weft_oneshot_new(sizeof(int), &tx, &rx), 0);
	assert_false(weft_oneshot_is_closed(tx));
	weft_oneshot_receiver_close(rx);
	assert_true(weft_oneshot_is_closed(tx));
	int v = 1;
	assert_int_equal(weft_oneshot_send(tx, &v), -EPIPE);   /* releases tx */
}

/* --------------------------------------------------------------- mpsc */

static void make_chan(size_t cap, weft_mpsc_sender **tx, weft_mpsc_receiver **rx)
{
	assert_int_equal(weft_mpsc_new(cap, sizeof(int), tx, rx), 0);
}

/* After the receiver closes the channel it still receives what was
 * buffered, then every receive reports closed, though a sender is alive. */
static void mpsc_recv_after_close_drains_buffer_then_reports_closed(void **state)
{
	(void)state;
	for (size_t cap = 0; cap <= 4; cap += 4) {   /* unbounded, bounded */
		weft_mpsc_sender *tx;
		weft_mpsc_receiver *rx;
		make_chan(cap, &tx, &rx);
		for (int i = 1; i <= 3; i++)
			assert_int_equal(weft_mpsc_try_send(tx, &i), 0);
		weft_mpsc_receiver_shutdown(rx);
		hand h;
		hand_init(&h);
		int out = 0;
		for (int i = 1; i <= 3; i++) {
			weft_mpsc_recv_future r;
			weft_mpsc_recv_init(&r, rx, &out);
			assert_int_equal(hpoll(&h, &r.fut), WEFT_READY);
			assert_int_equal(r.result, 0);
			assert_int_equal(out, i);
			weft_mpsc_recv_drop(&r);
		}
		weft_mpsc_recv_future r;
		weft_mpsc_recv_init(&r, rx, &out);
		assert_int_equal(hpoll(&h, &r.fut), WEFT_READY);   /* not PENDING */
		assert_int_equal(r.result, -EPIPE);
		weft_mpsc_recv_drop(&r);
		weft_mpsc_sender_close(tx);
		weft_mpsc_receiver_close(rx);
		hand_fini(&h);
	}
}

/* After close and drain, try_recv reports closed (disconnected), not
 * empty, while a sender is alive. */
static void mpsc_try_recv_after_close_and_drain_reports_closed_not_empty(void **state)
{
	(void)state;
	for (size_t cap = 0; cap <= 2; cap += 2) {
		weft_mpsc_sender *tx;
		weft_mpsc_receiver *rx;
		make_chan(cap, &tx, &rx);
		int out = 0, v = 9;
		assert_int_equal(weft_mpsc_try_recv(rx, &out), -EAGAIN);   /* open: empty */
		assert_int_equal(weft_mpsc_try_send(tx, &v), 0);
		weft_mpsc_receiver_shutdown(rx);
		assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
		assert_int_equal(out, 9);
		assert_int_equal(weft_mpsc_try_recv(rx, &out), -EPIPE);
		weft_mpsc_sender_close(tx);
		weft_mpsc_receiver_close(rx);
	}
}

/* Closing wakes a receive that is waiting on an empty channel, and it
 * completes with the closed result. */
static void mpsc_close_wakes_a_waiting_recv_which_reports_closed(void **state)
{
	(void)state;
	for (size_t cap = 0; cap <= 1; cap++) {
		weft_mpsc_sender *tx;
		weft_mpsc_receiver *rx;
		make_chan(cap, &tx, &rx);
		hand h;
		hand_init(&h);
		int out = 0;
		weft_mpsc_recv_future r;
		weft_mpsc_recv_init(&r, rx, &out);
		assert_int_equal(hpoll(&h, &r.fut), WEFT_PENDING);
		weft_mpsc_receiver_shutdown(rx);
		assert_int_equal(hand_wakes(&h), 1);
		assert_int_equal(hpoll(&h, &r.fut), WEFT_READY);
		assert_int_equal(r.result, -EPIPE);
		weft_mpsc_recv_drop(&r);
		weft_mpsc_sender_close(tx);
		weft_mpsc_receiver_close(rx);
		hand_fini(&h);
	}
}

/* After close every send fails, and a bounded send waiting for capacity
 * is woken and fails. */
static void mpsc_close_fails_sends_and_wakes_a_sender_waiting_for_capacity(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	make_chan(1, &tx, &rx);
	int v = 1;
	assert_int_equal(weft_mpsc_try_send(tx, &v), 0);   /* full */
	hand h;
	hand_init(&h);
	weft_mpsc_send_future s;
	weft_mpsc_send_init(&s, tx, &v);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_PENDING);
	weft_mpsc_receiver_shutdown(rx);
	assert_true(weft_mpsc_is_closed(tx));
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_READY);
	assert_int_equal(s.result, -EPIPE);
	weft_mpsc_send_drop(&s);
	assert_int_equal(weft_mpsc_try_send(tx, &v), -EPIPE);
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);

	make_chan(0, &tx, &rx);                            /* unbounded */
	weft_mpsc_receiver_shutdown(rx);
	assert_int_equal(weft_mpsc_try_send(tx, &v), -EPIPE);
	weft_mpsc_send_init(&s, tx, &v);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_READY);
	assert_int_equal(s.result, -EPIPE);
	weft_mpsc_send_drop(&s);
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);
	hand_fini(&h);
}

/* When every sender is gone the receiver gets what is buffered, in the
 * order it was sent, then the closed result. */
static void mpsc_recv_after_last_sender_dropped_drains_in_order_then_reports_closed(void **state)
{
	(void)state;
	for (size_t cap = 0; cap <= 8; cap += 8) {
		weft_mpsc_sender *tx;
		weft_mpsc_receiver *rx;
		make_chan(cap, &tx, &rx);
		weft_mpsc_sender *tx2 = weft_mpsc_sender_clone(tx);
		for (int i = 0; i < 6; i++)
			assert_int_equal(weft_mpsc_try_send(i % 2 ? tx2 : tx, &i), 0);
		weft_mpsc_sender_close(tx);
		weft_mpsc_sender_close(tx2);
		int out;
		for (int i = 0; i < 6; i++) {
			assert_int_equal(weft_mpsc_try_recv(rx, &out), 0);
			assert_int_equal(out, i);
		}
		assert_int_equal(weft_mpsc_try_recv(rx, &out), -EPIPE);
		weft_mpsc_receiver_close(rx);
	}
}

/* The shutdown idiom ends: close, then receive until closed, on a
 * runtime, while a sender clone is still alive (bounded by a timeout on
 * the paused clock, so a receive that never ends fails the test). */
typedef struct drain_task {
	weft_future fut;
	weft_coro co;
	weft_mpsc_receiver *rx;
	weft_mpsc_recv_future r;
	int out, got, sum, last;
} drain_task;

static weft_poll drain_task_poll(weft_future *f, weft_cx *cx)
{
	drain_task *d = (drain_task *)f;
	WEFT_BEGIN(&d->co);
	weft_mpsc_receiver_shutdown(d->rx);
	for (;;) {
		weft_mpsc_recv_init(&d->r, d->rx, &d->out);
		WEFT_AWAIT(&d->co, weft_mpsc_recv_poll(&d->r, cx));
		weft_mpsc_recv_drop(&d->r);
		d->last = d->r.result;
		if (d->last < 0)
			break;
		d->got++;
		d->sum += d->out;
	}
	WEFT_END(&d->co);
}

static void drain_task_drop(weft_future *f)
{
	weft_mpsc_recv_drop(&((drain_task *)f)->r);
}

static void mpsc_close_then_drain_idiom_ends_while_a_sender_is_alive(void **state)
{
	(void)state;
	for (size_t cap = 0; cap <= 4; cap += 4) {
		weft_runtime *rt = paused_runtime();
		weft_mpsc_sender *tx;
		weft_mpsc_receiver *rx;
		make_chan(cap, &tx, &rx);
		weft_mpsc_sender *keep = weft_mpsc_sender_clone(tx);
		for (int i = 1; i <= 3; i++)
			assert_int_equal(weft_mpsc_try_send(tx, &i), 0);
		drain_task d = { .fut = WEFT_FUTURE(drain_task_poll, drain_task_drop), .rx = rx };
		weft_timeout t;
		weft_timeout_init(&t, &d.fut, WEFT_SEC(5));
		assert_int_equal(weft_block_on(rt, &t.fut), 0);
		assert_int_equal(t.result, 0);          /* not -ETIMEDOUT: it ended */
		assert_int_equal(d.got, 3);
		assert_int_equal(d.sum, 6);
		assert_int_equal(d.last, -EPIPE);
		weft_mpsc_sender_close(keep);
		weft_mpsc_sender_close(tx);
		weft_mpsc_receiver_close(rx);
		weft_runtime_close(rt);
	}
}

/* -------------------------------------------------------------- watch */

/* A receiver sees the latest value; values sent in between are skipped. */
static void watch_receiver_sees_only_the_latest_value(void **state)
{
	(void)state;
	weft_watch_sender *tx;
	weft_watch_receiver *rx;
	int v = 0, out = -1;
	assert_int_equal(weft_watch_new(sizeof(int), &v, &tx, &rx), 0);
	for (v = 1; v <= 3; v++)
		assert_int_equal(weft_watch_send(tx, &v), 0);
	hand h;
	hand_init(&h);
	weft_watch_changed_future c;
	weft_watch_changed_init(&c, rx);
	assert_int_equal(hpoll(&h, &c.fut), WEFT_READY);
	assert_int_equal(c.result, 0);
	assert_int_equal(weft_watch_borrow(rx, &out), 0);
	assert_int_equal(out, 3);
	weft_watch_changed_drop(&c);
	weft_watch_changed_init(&c, rx);
	assert_int_equal(hpoll(&h, &c.fut), WEFT_PENDING);   /* 1 and 2 are gone */
	weft_watch_changed_drop(&c);
	weft_watch_sender_close(tx);
	weft_watch_receiver_close(rx);
	hand_fini(&h);
}

/* The initial value counts as seen: changed waits for a send. */
static void watch_initial_value_counts_as_seen(void **state)
{
	(void)state;
	weft_watch_sender *tx;
	weft_watch_receiver *rx;
	int v = 5;
	assert_int_equal(weft_watch_new(sizeof(int), &v, &tx, &rx), 0);
	assert_int_equal(weft_watch_has_changed(rx), 0);
	hand h;
	hand_init(&h);
	weft_watch_changed_future c;
	weft_watch_changed_init(&c, rx);
	assert_int_equal(hpoll(&h, &c.fut), WEFT_PENDING);
	v = 6;
	assert_int_equal(weft_watch_send(tx, &v), 0);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &c.fut), WEFT_READY);
	assert_int_equal(c.result, 0);
	weft_watch_changed_drop(&c);
	weft_watch_sender_close(tx);
	weft_watch_receiver_close(rx);
	hand_fini(&h);
}

/* borrow does not mark the value seen; borrow_and_update does. */
static void watch_borrow_does_not_mark_seen_but_borrow_and_update_does(void **state)
{
	(void)state;
	weft_watch_sender *tx;
	weft_watch_receiver *rx;
	int v = 0, out;
	assert_int_equal(weft_watch_new(sizeof(int), &v, &tx, &rx), 0);
	v = 1;
	assert_int_equal(weft_watch_send(tx, &v), 0);
	assert_int_equal(weft_watch_borrow(rx, &out), 0);
	assert_int_equal(weft_watch_has_changed(rx), 1);
	assert_int_equal(weft_watch_borrow_and_update(rx, &out), 0);
	assert_int_equal(out, 1);
	assert_int_equal(weft_watch_has_changed(rx), 0);
	weft_watch_sender_close(tx);
	weft_watch_receiver_close(rx);
}

/* Once the sender is gone, changed reports closed if nothing new is
 * there, and a waiting changed is woken. */
static void watch_changed_reports_closed_after_sender_dropped(void **state)
{
	(void)state;
	weft_watch_sender *tx;
	weft_watch_receiver *rx;
	int v = 0;
	assert_int_equal(weft_watch_new(sizeof(int), &v, &tx, &rx), 0);
	hand h;
	hand_init(&h);
	weft_watch_changed_future c;
	weft_watch_changed_init(&c, rx);
	assert_int_equal(hpoll(&h, &c.fut), WEFT_PENDING);
	weft_watch_sender_close(tx);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(hpoll(&h, &c.fut), WEFT_READY);
	assert_int_equal(c.result, -EPIPE);
	assert_int_equal(weft_watch_has_changed(rx), -EPIPE);
	weft_watch_changed_drop(&c);
	weft_watch_receiver_close(rx);
	hand_fini(&h);
}

/* ----------------------------------------------------------- interval */

/* A by-hand context on a paused runtime: time moves only by advance. */
typedef struct clocked {
	weft_runtime *rt;
	hand h;
	weft_instant t0;
} clocked;

static void clocked_init(clocked *c)
{
	c->rt = paused_runtime();
	hand_init(&c->h);
	c->h.cx.runtime = c->rt;
	c->t0 = weft_now(c->rt);
}

static void clocked_fini(clocked *c)
{
	hand_fini(&c->h);
	weft_runtime_close(c->rt);
}

/* Moves the paused clock to t0 + @ms. */
static void clock_to(clocked *c, uint64_t ms)
{
	weft_instant at = c->t0 + WEFT_MS(ms);
	assert_true(weft_now(c->rt) <= at);
	assert_int_equal(weft_time_advance(c->rt, at - weft_now(c->rt)), 0);
}

/* Polls the interval: READY with the tick, in ms from t0, or -1. */
static int64_t tick_ms(clocked *c, weft_interval *iv)
{
	weft_instant tick;
	c->h.cx.budget = WEFT_DEFAULT_BUDGET;
	c->h.cx.budget_used = 0;
	if (weft_interval_tick_poll(iv, &c->h.cx, &tick) == WEFT_PENDING)
		return -1;
	assert_int_equal(iv->result, 0);
	return (int64_t)((tick - c->t0) / WEFT_MS(1));
}

static const weft_missed_tick policies[] = {
	WEFT_MISSED_TICK_BURST, WEFT_MISSED_TICK_DELAY, WEFT_MISSED_TICK_SKIP,
};

/* The first tick completes immediately. */
static void interval_first_tick_completes_immediately(void **state)
{
	(void)state;
	for (int p = 0; p < 3; p++) {
		clocked c;
		clocked_init(&c);
		weft_interval iv;
		weft_interval_init(&iv, WEFT_MS(10), policies[p]);
		assert_int_equal(tick_ms(&c, &iv), 0);
		assert_int_equal(tick_ms(&c, &iv), -1);
		clock_to(&c, 10);
		assert_int_equal(tick_ms(&c, &iv), 10);
		weft_interval_drop(&iv);
		clocked_fini(&c);
	}
}

/* A tick taken at most 5 ms late is not missed: under every behaviour
 * the next tick stays on the schedule (deadline + period). */
static void interval_tick_at_most_5ms_late_keeps_the_schedule_under_every_behaviour(void **state)
{
	(void)state;
	for (int p = 0; p < 3; p++) {
		clocked c;
		clocked_init(&c);
		weft_interval iv;
		weft_interval_init(&iv, WEFT_MS(10), policies[p]);
		assert_int_equal(tick_ms(&c, &iv), 0);
		clock_to(&c, 15);                        /* tick 10, 5 ms late */
		assert_int_equal(tick_ms(&c, &iv), 10);
		assert_int_equal(tick_ms(&c, &iv), -1);
		clock_to(&c, 19);
		assert_int_equal(tick_ms(&c, &iv), -1);
		clock_to(&c, 20);
		assert_int_equal(tick_ms(&c, &iv), 20);
		weft_interval_drop(&iv);
		clocked_fini(&c);
	}
}

/* Burst: the missed ticks fire at once, back to back, then the original
 * schedule goes on. */
static void interval_burst_fires_missed_ticks_at_once_then_keeps_the_schedule(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	weft_interval iv;
	weft_interval_init(&iv, WEFT_MS(10), WEFT_MISSED_TICK_BURST);
	assert_int_equal(tick_ms(&c, &iv), 0);
	clock_to(&c, 37);
	assert_int_equal(tick_ms(&c, &iv), 10);
	assert_int_equal(tick_ms(&c, &iv), 20);
	assert_int_equal(tick_ms(&c, &iv), 30);
	assert_int_equal(tick_ms(&c, &iv), -1);
	clock_to(&c, 40);
	assert_int_equal(tick_ms(&c, &iv), 40);
	weft_interval_drop(&iv);
	clocked_fini(&c);
}

/* Delay: a tick taken more than 5 ms late schedules the next one a full
 * period after now, so no two ticks come closer than the period. */
static void interval_delay_late_tick_schedules_next_a_full_period_after_now(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	weft_interval iv;
	weft_interval_init(&iv, WEFT_MS(10), WEFT_MISSED_TICK_DELAY);
	assert_int_equal(tick_ms(&c, &iv), 0);
	clock_to(&c, 17);                        /* tick 10 taken 7 ms late */
	assert_int_equal(tick_ms(&c, &iv), 10);
	clock_to(&c, 20);
	assert_int_equal(tick_ms(&c, &iv), -1);  /* not the old schedule's 20 */
	clock_to(&c, 26);
	assert_int_equal(tick_ms(&c, &iv), -1);
	clock_to(&c, 27);
	assert_int_equal(tick_ms(&c, &iv), 27);
	clock_to(&c, 37);
	assert_int_equal(tick_ms(&c, &iv), 37);
	weft_interval_drop(&iv);
	clocked_fini(&c);
}

/* Skip: the next tick is the first point of the original schedule
 * strictly after now, even when the late tick is taken exactly on one. */
static void interval_skip_next_tick_is_strictly_after_now_even_on_a_schedule_point(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	weft_interval iv;
	weft_interval_init(&iv, WEFT_MS(10), WEFT_MISSED_TICK_SKIP);
	assert_int_equal(tick_ms(&c, &iv), 0);
	clock_to(&c, 20);                        /* tick 10 taken at 20 exactly */
	assert_int_equal(tick_ms(&c, &iv), 10);
	assert_int_equal(tick_ms(&c, &iv), -1);  /* 20 is not after now */
	clock_to(&c, 29);
	assert_int_equal(tick_ms(&c, &iv), -1);
	clock_to(&c, 30);
	assert_int_equal(tick_ms(&c, &iv), 30);
	weft_interval_drop(&iv);
	clocked_fini(&c);
}

/* Skip: after a late tick the schedule keeps its grid (start + k *
 * period); the missed points are dropped. */
static void interval_skip_late_tick_drops_missed_points_and_keeps_the_grid(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	weft_interval iv;
	weft_interval_init(&iv, WEFT_MS(10), WEFT_MISSED_TICK_SKIP);
	assert_int_equal(tick_ms(&c, &iv), 0);
	clock_to(&c, 43);                        /* tick 10, 33 ms late */
	assert_int_equal(tick_ms(&c, &iv), 10);
	assert_int_equal(tick_ms(&c, &iv), -1);  /* 20, 30 and 40 are skipped */
	clock_to(&c, 50);
	assert_int_equal(tick_ms(&c, &iv), 50);
	weft_interval_drop(&iv);
	clocked_fini(&c);
}

/* ------------------------------------------------------------- sleep */

/* A sleep never completes before its deadline. */
static void sleep_never_completes_before_its_deadline(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(10));
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 9);
	assert_int_equal(hand_wakes(&c.h), 0);
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 10);
	assert_int_equal(hand_wakes(&c.h), 1);
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_READY);
	assert_int_equal(s.result, 0);
	weft_sleep_drop(&s);
	clocked_fini(&c);
}

/* weft: a sleep's deadline counts from its first poll, not from its
 * creation (Tokio's sleep(d) counts from the call; see weft_sleep_init). */
static void sleep_deadline_counts_from_first_poll_unlike_tokio(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(10));
	clock_to(&c, 8);                         /* created at 0, polled at 8 */
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_PENDING);
	assert_int_equal(s.deadline, c.t0 + WEFT_MS(18));
	clock_to(&c, 10);
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 18);
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_READY);
	weft_sleep_drop(&s);
	clocked_fini(&c);
}

/* sleep_until a deadline already past completes at the first poll. */
static void sleep_until_a_past_deadline_completes_at_first_poll(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	clock_to(&c, 5);
	weft_sleep s;
	weft_sleep_until_init(&s, c.t0 + WEFT_MS(2));
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_READY);
	assert_int_equal(s.result, 0);
	weft_sleep_drop(&s);
	clocked_fini(&c);
}

/* reset moves the deadline and makes even a completed sleep pending. */
static void sleep_reset_moves_the_deadline_and_makes_it_pending_again(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(1));
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 1);
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_READY);
	weft_sleep_reset(&s, c.t0 + WEFT_MS(6));
	assert_false(weft_sleep_is_elapsed(&s));
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 6);
	assert_int_equal(weft_sleep_poll(&s, &c.h.cx), WEFT_READY);
	weft_sleep_drop(&s);
	clocked_fini(&c);
}

/* ----------------------------------------------------------- timeout */

/* If the future finishes before the time is up, the timeout gives its
 * output (result 0; the inner's own fields hold the output). */
static void timeout_gives_the_inner_output_when_it_finishes_in_time(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	test_gate g;
	test_gate_init(&g, 0);
	weft_timeout t;
	weft_timeout_init(&t, &g.fut, WEFT_MS(10));
	assert_int_equal(weft_timeout_poll(&t, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 9);
	test_gate_open(&g);
	assert_int_equal(weft_timeout_poll(&t, &c.h.cx), WEFT_READY);
	assert_int_equal(t.result, 0);
	assert_int_equal(g.drops, 1);
	weft_timeout_drop(&t);
	assert_int_equal(g.drops, 1);
	clocked_fini(&c);
}

/* When the time is up the timeout completes with the elapsed error and
 * the inner future is cancelled (dropped unfinished). */
static void timeout_elapsed_cancels_the_inner_future(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	test_gate g;
	test_gate_init(&g, 0);
	weft_timeout t;
	weft_timeout_init(&t, &g.fut, WEFT_MS(10));
	assert_int_equal(weft_timeout_poll(&t, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 10);
	assert_int_equal(weft_timeout_poll(&t, &c.h.cx), WEFT_READY);
	assert_int_equal(t.result, -ETIMEDOUT);
	assert_int_equal(g.drops, 1);
	weft_timeout_drop(&t);
	assert_int_equal(g.drops, 1);
	clocked_fini(&c);
}

/* The inner future is polled first: one that is ready wins even with a
 * zero duration. */
static void timeout_polls_the_inner_first_so_a_ready_one_wins_at_zero_duration(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	test_gate g;
	test_gate_init(&g, 0);
	g.open = true;
	weft_timeout t;
	weft_timeout_init(&t, &g.fut, 0);
	assert_int_equal(weft_timeout_poll(&t, &c.h.cx), WEFT_READY);
	assert_int_equal(t.result, 0);
	weft_timeout_drop(&t);
	clocked_fini(&c);
}

/* weft: a timeout's duration counts from its first poll (Tokio's
 * timeout(d, f) counts from the call; see weft_timeout_init). */
static void timeout_duration_counts_from_first_poll_unlike_tokio(void **state)
{
	(void)state;
	clocked c;
	clocked_init(&c);
	test_gate g;
	test_gate_init(&g, 0);
	weft_timeout t;
	weft_timeout_init(&t, &g.fut, WEFT_MS(10));
	clock_to(&c, 5);
	assert_int_equal(weft_timeout_poll(&t, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 14);
	assert_int_equal(weft_timeout_poll(&t, &c.h.cx), WEFT_PENDING);
	clock_to(&c, 15);
	assert_int_equal(weft_timeout_poll(&t, &c.h.cx), WEFT_READY);
	assert_int_equal(t.result, -ETIMEDOUT);
	weft_timeout_drop(&t);
	clocked_fini(&c);
}

/* ------------------------------------------------------- join handles */

/* A task that finishes after @need polls (waking itself in between),
 * with an output field, counting its drops. */
typedef struct worker {
	weft_future fut;
	int need, polls, output;
	atomic_int *drops;   /* read with plain atomic_load (seq_cst) by the test */
} worker;

static weft_poll worker_poll(weft_future *f, weft_cx *cx)
{
	worker *w = (worker *)f;
	if (++w->polls >= w->need) {
		w->output = w->need * 10;
		return WEFT_READY;
	}
	weft_waker_wake_by_ref(cx->waker);
	return WEFT_PENDING;
}

static void worker_drop(weft_future *f)
{
	/* Relaxed: only a count; the test reads it after block_on or
	 * weft_runtime_close returned, which order the drop before the read. */
	atomic_fetch_add_explicit(((worker *)f)->drops, 1, memory_order_relaxed);
}

static worker worker_make(int need, atomic_int *drops)
{
	return (worker){ .fut = WEFT_FUTURE(worker_poll, worker_drop), .need = need,
			 .drops = drops };
}

/* Awaits a join handle from block_on, bounded by a paused-clock timeout. */
typedef struct join_wait {
	weft_future fut;
	weft_join_handle *h;
	int status;
} join_wait;

static weft_poll join_wait_poll(weft_future *f, weft_cx *cx)
{
	join_wait *j = (join_wait *)f;
	return weft_join_handle_poll(j->h, cx, &j->status);
}

static int join_bounded(weft_runtime *rt, weft_join_handle *h)
{
	join_wait j = { .fut = WEFT_FUTURE(join_wait_poll, NULL), .h = h, .status = 12345 };
	weft_timeout t;
	weft_timeout_init(&t, &j.fut, WEFT_SEC(10));
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	assert_int_equal(t.result, 0);
	return j.status;
}

/* Awaiting a join handle gives the task's output once it completes. */
static void join_handle_gives_the_task_output(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	atomic_int drops = 0;
	worker w = worker_make(3, &drops);
	weft_join_handle *h;
	assert_int_equal(weft_spawn(rt, &w.fut, sizeof w, &h), 0);
	assert_int_equal(join_bounded(rt, h), 0);
	assert_true(weft_join_handle_is_finished(h));
	worker *out = weft_join_handle_output(h);
	assert_non_null(out);
	assert_int_equal(out->output, 30);
	assert_int_equal(atomic_load(&drops), 1);
	weft_join_handle_close(h);
	weft_runtime_close(rt);
}

/* abort cancels a task that has not finished: its future is dropped
 * without being polled again, and the awaiter sees "cancelled". */
static void join_handle_abort_cancels_an_unfinished_task_and_the_awaiter_sees_cancelled(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	atomic_int drops = 0;
	worker w = worker_make(1000000, &drops);
	weft_join_handle *h;
	assert_int_equal(weft_spawn(rt, &w.fut, sizeof w, &h), 0);
	weft_join_handle_abort(h);
	assert_int_equal(join_bounded(rt, h), -ECANCELED);
	assert_null(weft_join_handle_output(h));
	assert_int_equal(atomic_load(&drops), 1);
	weft_join_handle_close(h);
	weft_runtime_close(rt);
	assert_int_equal(atomic_load(&drops), 1);
}

/* abort after the task completed changes nothing: the output stays. */
static void join_handle_abort_after_completion_changes_nothing(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	atomic_int drops = 0;
	worker w = worker_make(1, &drops);
	weft_join_handle *h;
	assert_int_equal(weft_spawn(rt, &w.fut, sizeof w, &h), 0);
	assert_int_equal(join_bounded(rt, h), 0);
	weft_join_handle_abort(h);
	assert_int_equal(join_bounded(rt, h), 0);
	assert_int_equal(((worker *)weft_join_handle_output(h))->output, 10);
	weft_join_handle_close(h);
	weft_runtime_close(rt);
}

/* Closing a join handle (Tokio: dropping it) does not cancel the task: it runs
 * to completion. */
static void closing_a_join_handle_lets_the_task_run_to_completion(void **state)
{
	(void)state;
	weft_runtime *rt = paused_runtime();
	atomic_int drops = 0;
	worker w = worker_make(5, &drops);
	weft_join_handle *h;
	assert_int_equal(weft_spawn(rt, &w.fut, sizeof w, &h), 0);
	weft_join_handle_close(h);
	/* A later task that needs more polls: when it is done, so is w. */
	atomic_int mdrops = 0;
	worker m = worker_make(20, &mdrops);
	weft_join_handle *hm;
	assert_int_equal(weft_spawn(rt, &m.fut, sizeof m, &hm), 0);
	assert_int_equal(join_bounded(rt, hm), 0);
	assert_int_equal(atomic_load(&drops), 1);   /* completed and dropped */
	weft_join_handle_close(hm);
	weft_runtime_close(rt);
	assert_int_equal(atomic_load(&drops), 1);
}

/* ------------------------------------------------------------- select */

/* select completes with the first branch to finish and cancels (drops)
 * every other branch at once. */
static void select_completes_with_the_first_ready_branch_and_drops_the_others(void **state)
{
	(void)state;
	hand h;
	hand_init(&h);
	test_gate a, b;
	test_gate_init(&a, 0);
	test_gate_init(&b, 0);
	weft_select s;
	weft_select2_init(&s, &a.fut, &b.fut);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_PENDING);
	test_gate_open(&b);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_READY);
	assert_int_equal(s.winner, 1);
	assert_int_equal(a.drops, 1);   /* the loser, cancelled */
	assert_int_equal(b.drops, 1);   /* the winner, dropped once done */
	weft_select_drop(&s);
	assert_int_equal(a.drops, 1);
	assert_int_equal(b.drops, 1);
	hand_fini(&h);
}

/* weft: branches are polled in order, so when several are ready the
 * earliest wins (Tokio's select! picks at random unless `biased;`; weft
 * is always biased, see weft_select_init). */
static void select_polls_branches_in_order_so_the_first_ready_wins_unlike_tokio(void **state)
{
	(void)state;
	hand h;
	hand_init(&h);
	test_gate a, b;
	test_gate_init(&a, 0);
	test_gate_init(&b, 0);
	a.open = b.open = true;
	weft_select s;
	weft_select2_init(&s, &a.fut, &b.fut);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_READY);
	assert_int_equal(s.winner, 0);
	assert_int_equal(b.polls, 0);   /* never polled */
	assert_int_equal(b.drops, 1);
	weft_select_drop(&s);
	hand_fini(&h);
}

/* Dropping a select that has not finished cancels every branch once. */
static void select_dropped_before_completion_drops_every_branch_once(void **state)
{
	(void)state;
	hand h;
	hand_init(&h);
	test_gate a, b;
	test_gate_init(&a, 0);
	test_gate_init(&b, 0);
	weft_select s;
	weft_select2_init(&s, &a.fut, &b.fut);
	assert_int_equal(hpoll(&h, &s.fut), WEFT_PENDING);
	weft_select_drop(&s);
	weft_select_drop(&s);
	assert_int_equal(a.drops, 1);
	assert_int_equal(b.drops, 1);
	hand_fini(&h);
}

/* ----------------------------------------------------- spawn_blocking */

typedef struct blocking_job {
	pthread_t ran_on;
	int value;
} blocking_job;

static void *blocking_fn(void *arg)
{
	blocking_job *j = arg;
	j->ran_on = pthread_self();
	return &j->value;
}

typedef struct blocking_wait {
	weft_future fut;
	weft_blocking_handle *h;
	int status;
	void *result;
} blocking_wait;

static weft_poll blocking_wait_poll(weft_future *f, weft_cx *cx)
{
	blocking_wait *b = (blocking_wait *)f;
	return weft_blocking_handle_poll(b->h, cx, &b->result, &b->status);
}

/* Awaits @h from block_on; the runtime's clock is not paused here (the
 * pool runs on real threads), so the wait is bounded by the job itself,
 * which returns at once. */
static void blocking_await(weft_runtime *rt, blocking_wait *b)
{
	*b = (blocking_wait){ .fut = WEFT_FUTURE(blocking_wait_poll, NULL), .h = b->h,
			      .status = 12345 };
	assert_int_equal(weft_block_on(rt, &b->fut), 0);
}

/* spawn_blocking runs the function on a pool thread, not on the thread
 * that runs the tasks, and the awaiter gets its return value. */
static void spawn_blocking_runs_off_the_runtime_thread_and_returns_the_result(void **state)
{
	(void)state;
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	blocking_job job = { .value = 7 };
	blocking_wait b = { 0 };
	assert_int_equal(weft_spawn_blocking(rt, blocking_fn, &job, &b.h), 0);
	blocking_await(rt, &b);
	assert_int_equal(b.status, 0);
	assert_ptr_equal(b.result, &job.value);
	assert_false(pthread_equal(job.ran_on, pthread_self()));   /* block_on's thread */
	assert_true(weft_blocking_handle_is_finished(b.h));
	weft_blocking_handle_close(b.h);
	weft_runtime_close(rt);
}

static void count_release(void *arg, void *result)
{
	(void)result;
	/* Relaxed: a count read after weft_runtime_close joined the pool
	 * threads (the join orders it). */
	atomic_fetch_add_explicit((atomic_int *)arg, 1, memory_order_relaxed);
}

static void *count_fn(void *arg)
{
	return arg;
}

/* A blocking job whose handle is dropped still runs to the end. */
static void spawn_blocking_detached_job_still_runs(void **state)
{
	(void)state;
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	atomic_int released = 0;
	weft_blocking_handle *h;
	assert_int_equal(weft_spawn_blocking_owned(rt, count_fn, &released, count_release, &h),
			 0);
	weft_blocking_handle_close(h);
	weft_runtime_close(rt);                     /* waits for the pool */
	assert_int_equal(atomic_load(&released), 1);
}

/* ------------------------------------------------------- coop budget */

/* A task gets a budget of 128 operations per poll: once spent, a leaf
 * that could complete returns PENDING and wakes the task instead, so a
 * busy task yields. */
static void coop_budget_makes_a_ready_leaf_yield_after_128_operations(void **state)
{
	(void)state;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	make_chan(0, &tx, &rx);
	for (int i = 0; i < 200; i++)
		assert_int_equal(weft_mpsc_try_send(tx, &i), 0);
	hand h;
	hand_init(&h);
	h.cx.budget = WEFT_DEFAULT_BUDGET;
	h.cx.budget_used = 0;
	int out, ready = 0;
	weft_mpsc_recv_future r;
	for (;;) {
		weft_mpsc_recv_init(&r, rx, &out);
		weft_poll p = weft_mpsc_recv_poll(&r, &h.cx);
		weft_mpsc_recv_drop(&r);
		if (p == WEFT_PENDING)
			break;
		assert_int_equal(out, ready);
		ready++;
		assert_true(ready <= 200);
	}
	assert_int_equal(ready, 128);
	assert_int_equal(hand_wakes(&h), 1);   /* woken to run again */
	/* A fresh poll of the task gets a fresh budget. */
	weft_mpsc_recv_init(&r, rx, &out);
	assert_int_equal(hpoll(&h, &r.fut), WEFT_READY);
	assert_int_equal(out, 128);
	weft_mpsc_recv_drop(&r);
	weft_mpsc_sender_close(tx);
	weft_mpsc_receiver_close(rx);
	hand_fini(&h);
}

/* A leaf that has to wait gives its unit of budget back: waiting costs
 * nothing. */
static void coop_budget_is_not_spent_by_a_leaf_that_waits(void **state)
{
	(void)state;
	weft_notify n;
	assert_int_equal(weft_notify_init(&n), 0);
	hand h;
	hand_init(&h);
	weft_notified a;
	weft_notified_init(&a, &n);
	h.cx.budget = 5;
	h.cx.budget_used = 0;
	assert_int_equal(weft_notified_poll(&a, &h.cx), WEFT_PENDING);
	assert_int_equal(h.cx.budget, 5);
	assert_int_equal(h.cx.budget_used, 0);
	weft_notified_drop(&a);
	weft_notify_close(&n);
	hand_fini(&h);
}

/* With the budget spent, even a primitive whose operation would succeed
 * (a free mutex) yields instead, and the next poll succeeds. */
static void coop_budget_spent_makes_even_a_free_lock_yield(void **state)
{
	(void)state;
	weft_mutex m;
	assert_int_equal(weft_mutex_init(&m), 0);
	hand h;
	hand_init(&h);
	weft_mutex_lock_future l;
	weft_mutex_lock_init(&l, &m);
	h.cx.budget = 0;
	h.cx.budget_used = WEFT_DEFAULT_BUDGET;
	assert_int_equal(weft_mutex_lock_poll(&l, &h.cx), WEFT_PENDING);
	assert_int_equal(hand_wakes(&h), 1);
	assert_int_equal(weft_mutex_try_lock(&m), 0);   /* it did not take the lock */
	assert_int_equal(weft_mutex_unlock(&m), 0);
	assert_int_equal(hpoll(&h, &l.fut), WEFT_READY);
	assert_int_equal(weft_mutex_unlock(&m), 0);
	weft_mutex_lock_drop(&l);
	weft_mutex_close(&m);
	hand_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(notify_one_without_waiter_stores_one_permit),
		cmocka_unit_test(notify_one_wakes_the_longest_waiter_first),
		cmocka_unit_test(notify_waiters_completes_every_wait_created_before_it_even_unpolled),
		cmocka_unit_test(notify_waiters_stores_no_permit),
		cmocka_unit_test(semaphore_available_permits_excludes_permits_assigned_to_a_waiting_acquire),
		cmocka_unit_test(semaphore_dropped_waiting_acquire_returns_its_partial_permits_and_wakes_the_next),
		cmocka_unit_test(semaphore_is_fair_a_small_acquire_never_overtakes_a_queued_big_one),
		cmocka_unit_test(semaphore_close_fails_waiting_and_later_acquires),
		cmocka_unit_test(mutex_unlock_hands_the_lock_to_the_longest_waiter),
		cmocka_unit_test(mutex_cancelled_lock_that_was_handed_the_lock_passes_it_on),
		cmocka_unit_test(mutex_try_lock_fails_while_held),
		cmocka_unit_test(rwlock_many_readers_share_it_and_a_writer_excludes_them),
		cmocka_unit_test(rwlock_queued_writer_holds_back_later_readers),
		cmocka_unit_test(rwlock_write_unlock_lets_all_queued_readers_in),
		cmocka_unit_test(oneshot_send_wakes_the_receiver_with_the_value),
		cmocka_unit_test(oneshot_sender_dropped_without_sending_gives_closed_error),
		cmocka_unit_test(oneshot_send_after_receiver_dropped_fails_and_is_closed_reports_it),
		cmocka_unit_test(mpsc_recv_after_close_drains_buffer_then_reports_closed),
		cmocka_unit_test(mpsc_try_recv_after_close_and_drain_reports_closed_not_empty),
		cmocka_unit_test(mpsc_close_wakes_a_waiting_recv_which_reports_closed),
		cmocka_unit_test(mpsc_close_fails_sends_and_wakes_a_sender_waiting_for_capacity),
		cmocka_unit_test(mpsc_recv_after_last_sender_dropped_drains_in_order_then_reports_closed),
		cmocka_unit_test(mpsc_close_then_drain_idiom_ends_while_a_sender_is_alive),
		cmocka_unit_test(watch_receiver_sees_only_the_latest_value),
		cmocka_unit_test(watch_initial_value_counts_as_seen),
		cmocka_unit_test(watch_borrow_does_not_mark_seen_but_borrow_and_update_does),
		cmocka_unit_test(watch_changed_reports_closed_after_sender_dropped),
		cmocka_unit_test(interval_first_tick_completes_immediately),
		cmocka_unit_test(interval_tick_at_most_5ms_late_keeps_the_schedule_under_every_behaviour),
		cmocka_unit_test(interval_burst_fires_missed_ticks_at_once_then_keeps_the_schedule),
		cmocka_unit_test(interval_delay_late_tick_schedules_next_a_full_period_after_now),
		cmocka_unit_test(interval_skip_next_tick_is_strictly_after_now_even_on_a_schedule_point),
		cmocka_unit_test(interval_skip_late_tick_drops_missed_points_and_keeps_the_grid),
		cmocka_unit_test(sleep_never_completes_before_its_deadline),
		cmocka_unit_test(sleep_deadline_counts_from_first_poll_unlike_tokio),
		cmocka_unit_test(sleep_until_a_past_deadline_completes_at_first_poll),
		cmocka_unit_test(sleep_reset_moves_the_deadline_and_makes_it_pending_again),
		cmocka_unit_test(timeout_gives_the_inner_output_when_it_finishes_in_time),
		cmocka_unit_test(timeout_elapsed_cancels_the_inner_future),
		cmocka_unit_test(timeout_polls_the_inner_first_so_a_ready_one_wins_at_zero_duration),
		cmocka_unit_test(timeout_duration_counts_from_first_poll_unlike_tokio),
		cmocka_unit_test(join_handle_gives_the_task_output),
		cmocka_unit_test(join_handle_abort_cancels_an_unfinished_task_and_the_awaiter_sees_cancelled),
		cmocka_unit_test(join_handle_abort_after_completion_changes_nothing),
		cmocka_unit_test(closing_a_join_handle_lets_the_task_run_to_completion),
		cmocka_unit_test(select_completes_with_the_first_ready_branch_and_drops_the_others),
		cmocka_unit_test(select_polls_branches_in_order_so_the_first_ready_wins_unlike_tokio),
		cmocka_unit_test(select_dropped_before_completion_drops_every_branch_once),
		cmocka_unit_test(spawn_blocking_runs_off_the_runtime_thread_and_returns_the_result),
		cmocka_unit_test(spawn_blocking_detached_job_still_runs),
		cmocka_unit_test(coop_budget_makes_a_ready_leaf_yield_after_128_operations),
		cmocka_unit_test(coop_budget_is_not_spent_by_a_leaf_that_waits),
		cmocka_unit_test(coop_budget_spent_makes_even_a_free_lock_yield),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
