/*
 * test_park.c - the park every sleeping thread of the runtime uses
 * (runtime/sys/sys_park.h): the token, the timeout, the two halves, the
 * driver-backed variant, and a wake from another thread; and the two
 * calls it sleeps and wakes with, weft__sys_futex_wait and _wake (sys.h),
 * against their contract: futex(2) on Linux, the portable bucket table
 * (runtime/sys/futex_portable.c) in the simulated macOS build (the
 * kqueue run of tests/run) and on the BSDs and macOS.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sys_park.h"

static void an_unpark_before_the_park_leaves_one_token(void **state)
{
	(void)state;
	struct weft__park p;
	weft__park_init(&p, NULL, NULL);
	assert_false(weft__park(&p, 0));   /* nothing there */
	weft__unpark(&p);
	weft__unpark(&p);
	weft__unpark(&p);
	assert_true(weft__park(&p, -1));   /* returns at once */
	assert_false(weft__park(&p, 0));   /* three unparks, one token */
}

static void a_park_with_a_timeout_and_no_unpark_returns_false_after_it(void **state)
{
	(void)state;
	struct weft__park p;
	weft__park_init(&p, NULL, NULL);
	uint64_t t0 = test_now_us();
	assert_false(weft__park(&p, 2 * 1000 * 1000));   /* 2 ms */
	assert_true(test_now_us() - t0 >= 2000);
	assert_false(weft__park_sleeping(&p));
}

static void the_two_halves_withdraw_or_take_a_token(void **state)
{
	(void)state;
	struct weft__park p;
	weft__park_init(&p, NULL, NULL);
	/* Prepared, then withdrawn without sleeping: no token. */
	assert_true(weft__park_prepare(&p));
	assert_true(weft__park_sleeping(&p));
	assert_false(weft__park_wait(&p, 0));
	assert_false(weft__park_sleeping(&p));
	/* An unpark after prepare is the token wait returns with. */
	assert_true(weft__park_prepare(&p));
	weft__unpark(&p);
	assert_false(weft__park_sleeping(&p));
	assert_true(weft__park_wait(&p, -1));
	/* An unpark before prepare: prepare takes it and says so. */
	weft__unpark(&p);
	assert_false(weft__park_prepare(&p));
	assert_false(weft__park(&p, 0));
}

struct cross {
	struct weft__park park;
	int payload;          /* plain: ordered by the unpark and the park */
	atomic_int parking;   /* the parker is about to park */
	atomic_int returned;
	bool took;
	int seen;             /* payload as the parker saw it on return */
};

static void *park_thread(void *arg)
{
	struct cross *c = arg;
	atomic_store(&c->parking, 1);
	c->took = weft__park(&c->park, -1);
	c->seen = c->payload;   /* the unparker's write, ordered by the token */
	atomic_store(&c->returned, 1);
	return NULL;
}

static void an_unpark_from_another_thread_ends_a_sleep_and_publishes_its_work(void **state)
{
	(void)state;
	for (int round = 0; round < 200; round++) {
		struct cross c = { .payload = 0 };
		weft__park_init(&c.park, NULL, NULL);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, park_thread, &c), 0);
		assert_true(test_wait_flag(&c.parking, test_now_us() + 5000000));
		if (round % 2)   /* half the rounds: let it fall asleep first */
			test_wait_flag(&c.returned, test_now_us() + 200);
		c.payload = 42;
		weft__unpark(&c.park);
		assert_int_equal(pthread_join(th, NULL), 0);
		assert_int_equal(atomic_load(&c.returned), 1);
		assert_true(c.took);
		assert_int_equal(c.seen, 42);
	}
}

/* The owner reuses its park's memory as soon as it has the token; the
 * unparker must not touch it after its exchange (park.c, "Lifetime"):
 * the owner's scribble survives the end of the unpark. Under TSan a
 * write after the exchange would also be reported as a race. */
struct reuse {
	union {
		struct weft__park park;
		unsigned char bytes[sizeof(struct weft__park)];
	} mem;
	atomic_int parking;
	atomic_int scribbled;
};

static void *reuse_owner(void *arg)
{
	struct reuse *r = arg;
	atomic_store(&r->parking, 1);
	while (!weft__park(&r->mem.park, -1))
		;
	memset(r->mem.bytes, 0xab, sizeof r->mem.bytes);   /* gone: reused */
	atomic_store(&r->scribbled, 1);
	return NULL;
}

static void a_park_may_be_reused_once_its_owner_took_the_token(void **state)
{
	(void)state;
	for (int round = 0; round < 500; round++) {
		struct reuse r = { .parking = 0 };
		weft__park_init(&r.mem.park, NULL, NULL);
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, reuse_owner, &r), 0);
		assert_true(test_wait_flag(&r.parking, test_now_us() + 5000000));
		weft__unpark(&r.mem.park);
		assert_true(test_wait_flag(&r.scribbled, test_now_us() + 5000000));
		assert_int_equal(pthread_join(th, NULL), 0);
		for (size_t i = 0; i < sizeof r.mem.bytes; i++)
			assert_int_equal(r.mem.bytes[i], 0xab);
	}
}

/* A fake driver: sleep waits (bounded) for its wake flag, and counts. */
struct fake_driver {
	atomic_int woken;      /* set by wake, cleared by sleep */
	atomic_int sleeps, wakes;
	int64_t last_timeout;
	atomic_int in_sleep;
};

static int fake_sleep(void *arg, int64_t timeout_ns)
{
	struct fake_driver *d = arg;
	atomic_fetch_add(&d->sleeps, 1);
	d->last_timeout = timeout_ns;
	if (timeout_ns != 0) {
		atomic_store(&d->in_sleep, 1);
		test_wait_flag(&d->woken, test_now_us() + 5000000);
		atomic_store(&d->in_sleep, 0);
	}
	atomic_store(&d->woken, 0);
	return 7;
}

static void fake_wake(void *arg)
{
	struct fake_driver *d = arg;
	atomic_fetch_add(&d->wakes, 1);
	atomic_store(&d->woken, 1);
}


struct driver_cross {
	struct weft__park park;
	struct fake_driver drv;
	bool took;
	int result;
};

static void *driver_park_thread(void *arg)
{
	struct driver_cross *c = arg;
	c->took = weft__park_driver(&c->park, -1, fake_sleep, &c->drv, &c->result);
	return NULL;
}

static void a_driver_park_sleeps_in_the_driver_and_an_unpark_wakes_it_there(void **state)
{
	(void)state;
	struct driver_cross c = { 0 };
	weft__park_init(&c.park, fake_wake, &c.drv);

	/* A token on the way in: the driver is only polled. */
	weft__unpark(&c.park);
	assert_int_equal(atomic_load(&c.drv.wakes), 0);   /* nobody was asleep */
	int r = 0;
	assert_true(weft__park_driver(&c.park, -1, fake_sleep, &c.drv, &r));
	assert_int_equal(r, 7);
	assert_int_equal(c.drv.last_timeout, 0);
	assert_int_equal(atomic_load(&c.drv.sleeps), 1);

	/* A poll (timeout 0) publishes no sleep: an unpark after it
	 * leaves a token without calling the driver's wake. */
	assert_false(weft__park_driver(&c.park, 0, fake_sleep, &c.drv, NULL));
	weft__unpark(&c.park);
	assert_int_equal(atomic_load(&c.drv.wakes), 0);
	assert_true(weft__park(&c.park, 0));

	/* Asleep in the driver: the unpark goes through the driver. */
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, driver_park_thread, &c), 0);
	assert_true(test_wait_flag(&c.drv.in_sleep, test_now_us() + 5000000));
	assert_false(weft__park_sleeping(&c.park));   /* in the driver, not on the word */
	weft__unpark(&c.park);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_true(c.took);
	assert_int_equal(c.result, 7);
	assert_int_equal(atomic_load(&c.drv.wakes), 1);
	assert_true(c.drv.last_timeout < 0);
	assert_false(weft__park(&c.park, 0));   /* the token was taken */
}

/* ------------------------------------------- the futex calls (sys.h) */

/* @ms milliseconds from now on CLOCK_MONOTONIC. */
static struct timespec deadline_in_ms(long ms)
{
	struct timespec t;
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t), 0);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

static void a_futex_wait_on_a_differing_value_returns_eagain(void **state)
{
	(void)state;
	_Atomic uint32_t word = 1;
	struct timespec until = deadline_in_ms(5000);
	uint64_t t0 = test_now_us();
	assert_int_equal(weft__sys_futex_wait(&word, 0, NULL), -EAGAIN);
	assert_int_equal(weft__sys_futex_wait(&word, 0, &until), -EAGAIN);
	assert_true(test_now_us() - t0 < 1000000);   /* it did not sleep */
}

static void a_futex_wait_times_out_at_its_absolute_deadline(void **state)
{
	(void)state;
	_Atomic uint32_t word = 0;
	uint64_t t0 = test_now_us();
	struct timespec until = deadline_in_ms(20);
	int r;
	/* 0 may come for no reason: retry with the same deadline, as park.c. */
	while ((r = weft__sys_futex_wait(&word, 0, &until)) == 0)
		;
	assert_int_equal(r, -ETIMEDOUT);
	uint64_t took = test_now_us() - t0;
	assert_true(took >= 20000);
	assert_true(took < 2000000);   /* roughly: sanitizers and busy CI */
	/* A deadline already past: at once. */
	t0 = test_now_us();
	while ((r = weft__sys_futex_wait(&word, 0, &until)) == 0)
		;
	assert_int_equal(r, -ETIMEDOUT);
	assert_true(test_now_us() - t0 < 1000000);
}

struct futex_sleeper {
	_Atomic uint32_t word;
	_Atomic pid_t tid;
	atomic_int done;
	int last;   /* the last wait's result; read after the join */
};

static void *futex_sleeper_thread(void *arg)
{
	struct futex_sleeper *s = arg;
	atomic_store(&s->tid, test_gettid());
	/* A long deadline: only a wake ends this wait in time. */
	struct timespec until = deadline_in_ms(30000);
	do
		s->last = weft__sys_futex_wait(&s->word, 0, &until);
	while (atomic_load(&s->word) == 0 && s->last != -ETIMEDOUT);
	atomic_store(&s->done, 1);
	return NULL;
}

/* Starts futex_sleeper_thread on @s and returns once it sleeps in the
 * futex wait. */
static void start_futex_sleeper(struct futex_sleeper *s, pthread_t *th)
{
	assert_int_equal(pthread_create(th, NULL, futex_sleeper_thread, s), 0);
	uint64_t until = test_now_us() + 10000000;
	while (atomic_load(&s->tid) == 0 && test_now_us() < until)
		;
	assert_true(test_wait_thread_in_futex(atomic_load(&s->tid), until));
}

static void a_futex_wake_from_another_thread_ends_a_wait(void **state)
{
	(void)state;
	struct futex_sleeper s = {0};
	pthread_t th;
	start_futex_sleeper(&s, &th);
	/* The waker's side of the contract: change the word, then wake. */
	atomic_store(&s.word, 1);
	assert_int_equal(weft__sys_futex_wake(&s.word, 1), 1);
	assert_true(test_wait_flag(&s.done, test_now_us() + 10000000));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_not_equal(s.last, -ETIMEDOUT);
}

static void a_futex_wake_on_freed_memory_is_harmless(void **state)
{
	(void)state;
	_Atomic uint32_t *word_mem = malloc(sizeof *word_mem);
	assert_non_null(word_mem);
	atomic_init(word_mem, 0);
	/* The address outlives the memory (as a stale unpark's does); kept
	 * as an integer, through a volatile, so the compiler's
	 * use-after-free check lets the test make that call on purpose. */
	volatile uintptr_t stale = (uintptr_t)word_mem;
	free(word_mem);
	_Atomic uint32_t *gone = (_Atomic uint32_t *)stale;
	/* Only hashed, never read (the address sanitizer builds would see
	 * a read): nobody waits there, so nobody is woken. */
	assert_int_equal(weft__sys_futex_wake(gone, 1), 0);
	assert_int_equal(weft__sys_futex_wake(gone, 1 << 30), 0);
	/* A waiter on a live word is not disturbed by it beyond a spurious
	 * return: its wait still ends only at its deadline. */
	_Atomic uint32_t word = 0;
	struct timespec until = deadline_in_ms(5);
	int r;
	while ((r = weft__sys_futex_wait(&word, 0, &until)) == 0)
		(void)weft__sys_futex_wake(gone, 1);
	assert_int_equal(r, -ETIMEDOUT);
}

/* The child of a fork has none of the parent's sleepers: a wake there
 * finds nobody (the portable table is made afresh, so it neither hangs on
 * a lock nor counts a sleeper that is not there), and a wait still ends
 * at its deadline. */
static int futex_fork_child_checks(_Atomic uint32_t *word)
{
	if (weft__sys_futex_wake(word, 1) != 0)
		return 1;
	struct timespec until = deadline_in_ms(5);
	int r;
	while ((r = weft__sys_futex_wait(word, 0, &until)) == 0)
		;
	if (r != -ETIMEDOUT)
		return 2;
	return weft__sys_futex_wake(word, 1) == 0 ? 0 : 3;
}

static void a_forked_child_does_not_see_the_parents_futex_sleepers(void **state)
{
	(void)state;
	struct futex_sleeper s = {0};
	pthread_t th;
	start_futex_sleeper(&s, &th);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(futex_fork_child_checks(&s.word));
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	atomic_store(&s.word, 1);
	assert_int_equal(weft__sys_futex_wake(&s.word, 1), 1);
	assert_true(test_wait_flag(&s.done, test_now_us() + 10000000));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_not_equal(s.last, -ETIMEDOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(an_unpark_before_the_park_leaves_one_token),
		cmocka_unit_test(a_park_with_a_timeout_and_no_unpark_returns_false_after_it),
		cmocka_unit_test(the_two_halves_withdraw_or_take_a_token),
		cmocka_unit_test(an_unpark_from_another_thread_ends_a_sleep_and_publishes_its_work),
		cmocka_unit_test(a_park_may_be_reused_once_its_owner_took_the_token),
		cmocka_unit_test(a_driver_park_sleeps_in_the_driver_and_an_unpark_wakes_it_there),
		cmocka_unit_test(a_futex_wait_on_a_differing_value_returns_eagain),
		cmocka_unit_test(a_futex_wait_times_out_at_its_absolute_deadline),
		cmocka_unit_test(a_futex_wake_from_another_thread_ends_a_wait),
		cmocka_unit_test(a_futex_wake_on_freed_memory_is_harmless),
		cmocka_unit_test(a_forked_child_does_not_see_the_parents_futex_sleepers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
