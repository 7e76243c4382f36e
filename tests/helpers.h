/*
 * helpers.h - what the test suites share: cmocka includes, a manual
 * poll loop for futures driven without a runtime, and small futures with
 * observable behaviour.
 */
#ifndef WEFT_TEST_HELPERS_H
#define WEFT_TEST_HELPERS_H

#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <weft.h>

/* Polls @f with @cx up to @max times; returns the number of polls it took
 * to be READY, or -1 if it was still pending. */
int test_poll_n(weft_future *f, weft_cx *cx, int max);

/*
 * A future that is pending until `open` is set and it is woken: it stores
 * the waker it was last polled with, counts polls and drops.
 */
typedef struct test_gate {
	weft_future fut;
	weft_waker waker;
	int polls;
	int drops;
	int result;      /* reported on completion */
	bool open;
} test_gate;

void test_gate_init(test_gate *g, int result);
/* Opens the gate and wakes whoever waits on it. */
void test_gate_open(test_gate *g);

/*
 * A waker that counts what is done with it (test-only: not part of the
 * library). Initialise with test_counting_waker_init, then take wakers
 * with test_counting_waker_get. live = wakers obtained or cloned and not
 * yet consumed by wake or drop: it must be 0 at the end of a test that
 * leaks nothing. The counters are updated atomically (the wakers may be
 * used from any thread); read them with test_counting_waker_load, or
 * directly once the other threads are joined.
 */
typedef struct test_counting_waker {
	long clones;
	long wakes;        /* wake + wake_by_ref */
	long wakes_by_ref;
	long drops;
	long live;
} test_counting_waker;

/* Reads one counter atomically, e.g. test_counting_waker_load(&cw.live). */
static inline long test_counting_waker_load(const long *counter)
{
	return __atomic_load_n(counter, __ATOMIC_ACQUIRE);
}

/* Zeroes the counters. */
void test_counting_waker_init(test_counting_waker *cw);
/* Returns a new waker (counted in live) that counts into @cw. */
weft_waker test_counting_waker_get(test_counting_waker *cw);

/* A waiter's own counting waker and context, to poll a future by hand
 * and see whether (and how often) it was woken. */
typedef struct hand {
	test_counting_waker cw;
	weft_waker w;
	weft_cx cx;
} hand;

void hand_init(hand *h);
/* Wakes the hand's waker has seen. */
long hand_wakes(hand *h);
/* Releases the hand's own waker; every clone the futures took must have
 * been dropped or consumed by then (asserted). */
void hand_fini(hand *h);
/* Polls the type-erased @f once with a fresh budget. */
weft_poll hpoll(hand *h, weft_future *f);

/* Microseconds of CLOCK_MONOTONIC, for bounding stress tests. */
uint64_t test_now_us(void);

/*
 * A waker for checking the orderings of a state word under TSan: its
 * wake (or wake_by_ref) holds the waking thread until the other side
 * calls test_stall_waker_release (or a 5 s bound passes), so the other
 * thread reads the word, and the data behind it, while the waking
 * thread stands between its store to the word and whatever it does next.
 * Every flag and counter here is relaxed on purpose: the waker adds no
 * happens-before edge of its own, so the word's ordering is the only one
 * between the two threads, and a missing release or acquire shows as a
 * data race. Clone and drop only count; it needs no release.
 */
typedef struct test_stall_waker {
	atomic_int released;   /* set by the observing thread */
	atomic_long wakes;     /* wake + wake_by_ref */
	atomic_long live;      /* obtained or cloned, not yet consumed */
} test_stall_waker;

/* Zeroes it and returns the first waker (counted in live). */
weft_waker test_stall_waker_init(test_stall_waker *sw);
/* Lets a stalled wake (and any later one) return. Any thread. */
void test_stall_waker_release(test_stall_waker *sw);

/* Sleeps in 100 us steps until *@flag is non-zero or test_now_us()
 * reaches @until_us; returns whether the flag was set. */
#include <stdatomic.h>
bool test_wait_flag(atomic_int *flag, uint64_t until_us);

/*
 * Synchronisation on observable states, for tests that need "the other
 * thread has got there" (never a bare sleep). Each waits, polling every
 * 100 us, until the state holds or test_now_us() reaches @until_us, and
 * returns whether it held: the caller asserts, so a slow thread fails
 * the test late instead of letting it pass without testing its point.
 */

/* Until at least @want workers of @rt are counted parked: their
 * weft_worker_metrics parks exceed their unparks, which a worker counts
 * after it entered the idle set and before it sleeps, so a wake that
 * comes from then on finds it (its park token). The current-thread
 * flavour counts its block_on thread, which parks in the driver. A
 * worker already woken but not yet running still reads as parked until
 * it counts its unpark: use this where nothing wakes the workers
 * meanwhile, or add test_wait_named_thread_in_backend_wait. */
bool test_wait_workers_parked(weft_runtime *rt, uint32_t want, uint64_t until_us);

/* Until thread @tid of this process is asleep in the kernel in one of
 * the backend's wait system calls (epoll_wait, epoll_pwait, epoll_pwait2,
 * io_uring_enter), read from /proc/self/task/@tid/syscall. */
#include <sys/types.h>
bool test_wait_thread_in_backend_wait(pid_t tid, uint64_t until_us);

/* Until thread @tid is asleep in futex(2): a park, a condition variable
 * or a contended lock; the caller checks that it got past whatever else
 * it may block on. */
bool test_wait_thread_in_futex(pid_t tid, uint64_t until_us);

/* The same as test_wait_thread_in_backend_wait for any thread whose name (comm) begins with @prefix, e.g.
 * "weft-worker-": a multi-thread worker asleep in the driver. */
bool test_wait_named_thread_in_backend_wait(const char *prefix, uint64_t until_us);

/* The calling thread's kernel id (gettid). */
pid_t test_gettid(void);

/* Threads in this process now (entries of /proc/self/task). */
int test_thread_count(void);

/* Until the process has at most @n threads (a detached thread gone). */
bool test_wait_thread_count_at_most(int n, uint64_t until_us);

#endif
