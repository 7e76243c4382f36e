/*
 * futex_portable.c - weft__sys_futex_wait and weft__sys_futex_wake
 * (sys.h) where there is no futex(2): the BSDs and macOS, and the
 * simulated macOS build on Linux (-Dsimulate_macos=true), so that this
 * code runs under every suite here. sys.h picks the version
 * (WEFT__FUTEX_PORTABLE); sys.c has Linux's.
 *
 * Design. A fixed table of buckets, each a mutex, a condition variable
 * and a count of the threads asleep on it, each on its own cache lines.
 * An address picks its bucket by a hash of the address's value: the word
 * is never read through it on the wake side, so a wake on memory that was
 * freed since touches only the table (the contract's "only hashes the
 * address"). Several words share a bucket, so a wake broadcasts to every
 * sleeper of the bucket: sleepers on other words, or more than @n on this
 * one, return 0, which the contract allows (callers re-check the word).
 *
 * No lost wake-up. The contract's waker changes the word, then calls
 * wake. The waiter locks the bucket, reads the word under that lock, and
 * pthread_cond_*wait releases the lock and starts the sleep in one step.
 * The waker's wake locks the same bucket, so one of two orders holds:
 *  - the waker's lock comes after the waiter's: the waiter held the lock
 *    from its read until it was asleep on the condition variable, and
 *    counted itself in `sleepers` under it, so the wake reads a non-zero
 *    count and its broadcast finds the waiter asleep and wakes it;
 *  - the waker's lock (and unlock) came before the waiter's lock: the
 *    word's change is sequenced before that unlock, which synchronizes
 *    with the waiter's lock, so the waiter's read happens after the
 *    change and, by coherence, sees it (or a newer value): it returns
 *    -EAGAIN instead of sleeping.
 * The mutex gives the order; the read of the word needs no more than
 * relaxed.
 *
 * The deadline is absolute, on CLOCK_MONOTONIC: the condition variables
 * are made for that clock and waited on with sys.c's
 * weft__sys_condattr_monotonic and weft__sys_cond_wait_until (which on
 * macOS, lacking pthread_condattr_setclock, waits relative to a
 * CLOCK_MONOTONIC reading and turns an early timeout into a spurious 0:
 * the caller retries with the same deadline). pthread_cond_*wait never ends with EINTR, so this
 * version never returns -EINTR; a signal leaves the sleeper asleep.
 *
 * No fault site, as for futex(2): the table is made once with the raw
 * pthread calls (not weft__sys_mutex_init, whose LOCK_INIT site a test
 * may have armed). Should that fail (it cannot on Linux or macOS; FreeBSD
 * allocates), a wait sleeps at most a millisecond at a time, returning 0
 * (spurious) or -ETIMEDOUT, and a wake does nothing: slower, never hung.
 *
 * Fork. A bucket's lock may be held by another thread at fork(), and
 * its condition variable may count sleepers that do not exist in the
 * child; a pthread_atfork child handler makes the table afresh there, so a
 * runtime the child makes can park.
 */
#include "sys.h"

#if WEFT__FUTEX_PORTABLE

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define WEFT__FUTEX_BUCKETS 256   /* a power of two */

struct weft__futex_bucket {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int sleepers;   /* threads inside a wait on this bucket; under lock */
} __attribute__((aligned(64)));

static struct weft__futex_bucket weft__futex_table[WEFT__FUTEX_BUCKETS];
static pthread_once_t weft__futex_once = PTHREAD_ONCE_INIT;
/* Written by the once routine (and the fork child handler, the child's
 * only thread), read after pthread_once returned, which orders it. */
static bool weft__futex_broken;

static struct weft__futex_bucket *weft__futex_bucket_of(const void *addr)
{
	/* Fibonacci hashing of the address's value (never dereferenced):
	 * the top bits of the product spread neighbouring words apart. */
	uint64_t h = (uint64_t)(uintptr_t)addr * UINT64_C(0x9E3779B97F4A7C15);
	return &weft__futex_table[h >> (64 - 8)];
}
_Static_assert(WEFT__FUTEX_BUCKETS == 1 << 8, "the hash keeps 8 bits");

/* Makes every bucket; false when a call failed. */
static bool weft__futex_make_table(void)
{
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) != 0)
		return false;
	bool ok = true;
	if (weft__sys_condattr_monotonic(&attr) != 0)
		ok = false;
	for (int i = 0; ok && i < WEFT__FUTEX_BUCKETS; i++) {
		struct weft__futex_bucket *b = &weft__futex_table[i];
		memset(b, 0, sizeof *b);
		if (pthread_mutex_init(&b->lock, NULL) != 0 ||
		    pthread_cond_init(&b->cond, &attr) != 0)
			ok = false;
	}
	pthread_condattr_destroy(&attr);
	return ok;
}

/* The child of a fork: the only thread; whatever the parent's other
 * threads held or slept on is gone, so the buckets are made again
 * (without destroying the old ones: a destroy may wait for sleepers that
 * no longer exist; on FreeBSD this leaks the old objects, once per fork). */
static void weft__futex_atfork_child(void)
{
	weft__futex_broken = !weft__futex_make_table();
}

static void weft__futex_init(void)
{
	weft__futex_broken = !weft__futex_make_table();
	/* Fails only with ENOMEM: then a child that inherits a held
	 * bucket lock can hang in its first park on that bucket. */
	(void)pthread_atfork(NULL, NULL, weft__futex_atfork_child);
}

/* The table could not be made: compare, then sleep a little. */
static int weft__futex_wait_broken(_Atomic uint32_t *addr, uint32_t val,
				   const struct timespec *until)
{
	/* Relaxed: without a lock to order it this only saves a sleep;
	 * the caller re-checks the word with its own ordering. */
	if (atomic_load_explicit(addr, memory_order_relaxed) != val)
		return -EAGAIN;
	struct timespec nap = {0, 1000000}, now;
	if (until) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > until->tv_sec ||
		    (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec))
			return -ETIMEDOUT;
		if (now.tv_sec == until->tv_sec && until->tv_nsec - now.tv_nsec < nap.tv_nsec)
			nap.tv_nsec = until->tv_nsec - now.tv_nsec;
	}
	nanosleep(&nap, NULL);
	return 0;
}

int weft__sys_futex_wait(_Atomic uint32_t *addr, uint32_t val, const struct timespec *until)
{
	pthread_once(&weft__futex_once, weft__futex_init);
	if (weft__unlikely(weft__futex_broken))
		return weft__futex_wait_broken(addr, val, until);
	struct weft__futex_bucket *b = weft__futex_bucket_of(addr);
	int r = 0;
	pthread_mutex_lock(&b->lock);
	/* Relaxed: the bucket lock orders this read after the change of any
	 * waker whose wake already went by (see "No lost wake-up"). */
	if (atomic_load_explicit(addr, memory_order_relaxed) != val) {
		r = -EAGAIN;
	} else {
		b->sleepers++;
		int e = until ? weft__sys_cond_wait_until(&b->cond, &b->lock, until)
			      : pthread_cond_wait(&b->cond, &b->lock);
		b->sleepers--;
		r = -e;   /* 0, -ETIMEDOUT, or -EINVAL for a malformed @until */
	}
	pthread_mutex_unlock(&b->lock);
	return r;
}

int weft__sys_futex_wake(_Atomic uint32_t *addr, int n)
{
	if (n <= 0)
		return 0;
	pthread_once(&weft__futex_once, weft__futex_init);
	if (weft__unlikely(weft__futex_broken))
		return 0;   /* the sleepers wake by themselves within 1 ms */
	/* @addr is only hashed: it may be freed memory by now. */
	struct weft__futex_bucket *b = weft__futex_bucket_of(addr);
	pthread_mutex_lock(&b->lock);
	int woken = b->sleepers;
	if (woken > 0)
		pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
	/* A count: the bucket's sleepers, at most @n (some may sleep on
	 * other words; a broadcast may wake more than @n). */
	return woken < n ? woken : n;
}

#endif /* WEFT__FUTEX_PORTABLE */
