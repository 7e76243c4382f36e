/* test_shutdown.c - the runtime's threads and their end: the start and
 * stop hooks every thread the runtime starts calls exactly once (workers,
 * blocking pool, name-lookup pool, threads leaving on keep-alive), and
 * the bounded close (weft_runtime_close_timeout): blocking jobs that
 * finish in time are waited for; a blocking function or a name lookup
 * that outlives the deadline is abandoned and reported, finishes later
 * on its own, and nothing it touches afterwards is freed (run under ASan
 * by tests/run --sanitize address,undefined; TSan for the races). The
 * stuck jobs wait on a pipe the test closes after the close returned, so
 * every wait is real time but bounded and short. */
#include "helpers.h"

#include "blocking.h"
#include "sched_api.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WAIT_US (5u * 1000 * 1000)   /* bound for anything that must happen */

/* ---------------------------------------------------------- the hooks */

static atomic_int starts, stops, violations;
static atomic_int worker_starts;   /* starts on threads named weft-worker-* */
static _Thread_local int hook_started, hook_stopped;

static void on_start(void *arg)
{
	if (arg != &starts || hook_started || hook_stopped)
		atomic_fetch_add(&violations, 1);
	char name[16] = "";
	pthread_getname_np(pthread_self(), name, sizeof name);
	if (strncmp(name, "weft-", 5) != 0)   /* only the runtime's threads */
		atomic_fetch_add(&violations, 1);
	hook_started = 1;
	if (strncmp(name, "weft-worker-", 12) == 0)
		atomic_fetch_add(&worker_starts, 1);
	atomic_fetch_add(&starts, 1);
}

static void on_stop(void *arg)
{
	if (arg != &starts || !hook_started || hook_stopped)
		atomic_fetch_add(&violations, 1);
	hook_stopped = 1;
	atomic_fetch_add(&stops, 1);
}

static int hooks_reset(void **state)
{
	(void)state;
	atomic_store(&starts, 0);
	atomic_store(&worker_starts, 0);
	atomic_store(&stops, 0);
	atomic_store(&violations, 0);
	return 0;
}

static weft_runtime *new_rt(uint32_t workers, uint32_t cap, uint32_t keep_alive_ms)
{
	weft_runtime_config cfg = {
		.size = sizeof cfg,
		.workers = workers,
		.blocking_threads = cap,
		.blocking_keep_alive_ms = keep_alive_ms,
		.on_thread_start = on_start,
		.on_thread_stop = on_stop,
		.hook_arg = &starts,
	};
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	return rt;
}

/* Waits (bounded) until the stop hooks caught up with the start hooks. */
static bool stops_catch_up(void)
{
	uint64_t until = test_now_us() + WAIT_US;
	while (atomic_load(&stops) != atomic_load(&starts)) {
		if (test_now_us() > until)
			return false;
		usleep(200);
	}
	return true;
}

/* A blocking function that checks it runs on a hooked thread. */
static void *hooked_job(void *arg)
{
	if (!hook_started || hook_stopped)
		atomic_fetch_add(&violations, 1);
	atomic_fetch_add((atomic_int *)arg, 1);
	return NULL;
}

/* A job queued on a pool directly (the name-lookup pool has no public
 * spawn): runs @fn-like work, counts frees. */
struct raw_job {
	struct weft__blocking_job job;
	int fd;                 /* >= 0: block reading it until EOF */
	atomic_int *ran, *freed;
};

static void raw_run(struct weft__blocking_job *bj)
{
	struct raw_job *j = (struct raw_job *)(void *)bj;
	if (!hook_started || hook_stopped)
		atomic_fetch_add(&violations, 1);
	if (j->fd >= 0) {
		char c;
		while (read(j->fd, &c, 1) > 0)
			;
	}
	atomic_fetch_add(j->ran, 1);
}

static void raw_free(struct weft__blocking_job *bj)
{
	struct raw_job *j = (struct raw_job *)(void *)bj;
	atomic_fetch_add(j->freed, 1);
	free(j);
}

static void submit_raw(struct weft__blocking_pool *pool, int fd, atomic_int *ran,
		       atomic_int *freed)
{
	struct raw_job *j = calloc(1, sizeof *j);
	assert_non_null(j);
	j->fd = fd;
	j->ran = ran;
	j->freed = freed;
	assert_int_equal(weft__blocking_job_init(&j->job, raw_run, raw_free), 0);
	assert_int_equal(weft__blocking_submit(pool, &j->job), 0);
	weft__blocking_job_put(&j->job);   /* fire and forget */
}

/* A task that records whether it ran on a hooked thread. */
typedef struct probe_task {
	weft_future fut;
	atomic_int *ran;
} probe_task;

static weft_poll probe_poll(weft_future *f, weft_cx *cx)
{
	(void)cx;
	if (!hook_started || hook_stopped)
		atomic_fetch_add(&violations, 1);
	atomic_fetch_add(((probe_task *)f)->ran, 1);
	return WEFT_READY;
}

static void every_runtime_thread_calls_start_and_stop_exactly_once(void **state)
{
	(void)state;
	/* 3 workers; a blocking pool whose threads leave 5 ms after their
	 * last job, so some stop during the runtime's life. */
	weft_runtime *rt = new_rt(3, 4, 5);
	atomic_int ran = 0, freed = 0;
	/* The workers call start before any task runs on them. */
	for (int i = 0; i < 16; i++) {
		probe_task t = { .fut = WEFT_FUTURE(probe_poll, NULL), .ran = &ran };
		assert_int_equal(weft_spawn_detached(rt, &t.fut, sizeof t), 0);
	}
	/* Blocking jobs at once: several pool threads. */
	weft_blocking_handle *h[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(weft_spawn_blocking(rt, hooked_job, &ran, &h[i]), 0);
	submit_raw(weft__runtime_dns_blocking(rt), -1, &ran, &freed);
	uint64_t until = test_now_us() + WAIT_US;
	while (atomic_load(&ran) < 16 + 8 + 1 && test_now_us() < until)
		usleep(200);
	assert_int_equal(atomic_load(&ran), 16 + 8 + 1);
	for (int i = 0; i < 8; i++)
		weft_blocking_handle_close(h[i]);

	/* Keep-alive: the pool threads leave while the runtime lives, and
	 * each calls stop on its way out. */
	weft_blocking_metrics m;
	until = test_now_us() + WAIT_US;
	do {
		usleep(1000);
		assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	} while ((m.threads || m.dns_threads) && test_now_us() < until);
	assert_int_equal(m.threads, 0);
	assert_int_equal(m.dns_threads, 0);
	assert_true(m.threads_started >= 1);
	/* Every worker has started (a worker that ran no task may start
	 * late on a loaded machine), and a pool thread is uncounted before
	 * its stop hook runs: wait for both. */
	until = test_now_us() + WAIT_US;
	while (atomic_load(&worker_starts) != 3 && test_now_us() < until)
		usleep(200);
	assert_int_equal(atomic_load(&worker_starts), 3);
	int started = atomic_load(&starts);
	until = test_now_us() + WAIT_US;
	while (atomic_load(&stops) != started - 3 && test_now_us() < until)
		usleep(200);
	assert_int_equal(atomic_load(&stops), started - 3);   /* all but the workers */
	assert_true(started >= 3 + (int)m.threads_started + 1);

	weft_runtime_close(rt);
	assert_int_equal(atomic_load(&stops), atomic_load(&starts));
	assert_int_equal(atomic_load(&starts), started);
	assert_int_equal(atomic_load(&violations), 0);
	assert_int_equal(atomic_load(&freed), 1);
}

/* The current-thread flavour starts no worker: only pool threads hook. */
static void a_current_thread_runtime_hooks_only_its_pool_threads(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 2, 0);
	atomic_int ran = 0;
	weft_blocking_handle *h;
	assert_int_equal(weft_spawn_blocking(rt, hooked_job, &ran, &h), 0);
	uint64_t until = test_now_us() + WAIT_US;
	while (!weft_blocking_handle_is_finished(h) && test_now_us() < until)
		usleep(200);
	assert_true(weft_blocking_handle_is_finished(h));
	weft_blocking_handle_close(h);
	assert_int_equal(atomic_load(&starts), 1);
	weft_runtime_close(rt);
	assert_int_equal(atomic_load(&stops), 1);
	assert_int_equal(atomic_load(&violations), 0);
}

/* ---------------------------------------------------- bounded close */

/* A job still running when the close begins: it waits (bounded) for
 * `closing`, then gives a close that does not wait for it time to return
 * first (not synchronisation: a correct close passes however long this
 * takes), then says it is done. */
struct closing_job {
	atomic_int closing, done;
};

static void *until_closing_job(void *arg)
{
	struct closing_job *c = arg;
	uint64_t until = test_now_us() + WAIT_US;
	while (!atomic_load(&c->closing) && test_now_us() < until)
		usleep(100);
	struct timespec ts = { 0, 20 * 1000 * 1000 };   /* 20 ms */
	nanosleep(&ts, NULL);
	atomic_store(&c->done, 1);
	return arg;
}

/* A short job (20 ms) for the queue and for the closed runtime. */
static void *sleep_job(void *arg)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };   /* 20 ms */
	nanosleep(&ts, NULL);
	atomic_store((atomic_int *)arg, 1);
	return arg;
}

static void jobs_that_finish_before_the_deadline_are_waited_for(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2, 4, 0);
	struct closing_job c = { 0 };
	assert_int_equal(weft_spawn_blocking(rt, until_closing_job, &c, NULL), 0);
	/* Running, not queued (a queued one would be cancelled). */
	weft_blocking_metrics m;
	uint64_t until = test_now_us() + WAIT_US;
	do {
		assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	} while (m.running + m.jobs_completed == 0 && test_now_us() < until);
	assert_int_equal(m.running + m.jobs_completed, 1);
	weft_runtime_close_report r = { .size = sizeof r, .abandoned_threads = 7,
					.abandoned_jobs = 7, .cancelled_jobs = 7 };
	uint64_t t0 = test_now_us();
	atomic_store(&c.closing, 1);
	assert_int_equal(weft_runtime_close_timeout(rt, 5ull * 1000 * 1000 * 1000, &r), 0);
	assert_true(test_now_us() - t0 < WAIT_US);
	assert_int_equal(atomic_load(&c.done), 1);
	assert_int_equal(r.size, sizeof r);
	assert_int_equal(r.abandoned_threads, 0);
	assert_int_equal(r.abandoned_jobs, 0);
	assert_int_equal(r.cancelled_jobs, 0);
	/* Every thread was joined: its stop hook has run. */
	assert_int_equal(atomic_load(&stops), atomic_load(&starts));
	assert_int_equal(atomic_load(&violations), 0);
	assert_int_equal(weft_runtime_close_timeout(NULL, 0, &r), 0);
}

/* A blocking function stuck on a pipe until the test closes it; then it
 * tries the (closed) runtime, which must still be memory, not freed. */
struct late {
	int fd;
	weft_runtime *rt;
	atomic_int spawn_rc, finished, released;
};

static void *late_job(void *arg)
{
	struct late *l = arg;
	char c;
	while (read(l->fd, &c, 1) > 0)
		;
	atomic_store(&l->spawn_rc, weft_spawn_blocking(l->rt, sleep_job, NULL, NULL));
	atomic_store(&l->finished, 1);
	return l;
}

static void late_release(void *arg, void *result)
{
	struct late *l = arg;
	if (result != l)   /* nobody took the result: it comes back here */
		atomic_fetch_add(&violations, 1);
	atomic_store(&l->released, 1);
}

static void a_blocking_job_past_the_deadline_is_abandoned_and_finishes_later(void **state)
{
	(void)state;
	/* One pool thread: the second job waits in the queue. */
	weft_runtime *rt = new_rt(2, 1, 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct late l = { .fd = p[0], .rt = rt, .spawn_rc = 1 };
	assert_int_equal(weft_spawn_blocking_owned(rt, late_job, &l, late_release, NULL), 0);
	weft_blocking_handle *queued;
	atomic_int never = 0;
	assert_int_equal(weft_spawn_blocking(rt, sleep_job, &never, &queued), 0);
	/* Wait until the first job holds the thread. */
	weft_blocking_metrics m;
	uint64_t until = test_now_us() + WAIT_US;
	do {
		usleep(200);
		assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	} while (m.running != 1 && test_now_us() < until);
	assert_int_equal(m.running, 1);
	assert_int_equal(m.queue_depth, 1);

	weft_runtime_close_report r = { .size = sizeof r };
	uint64_t t0 = test_now_us();
	assert_int_equal(weft_runtime_close_timeout(rt, 30ull * 1000 * 1000, &r), -ETIMEDOUT);
	uint64_t took = test_now_us() - t0;
	assert_true(took >= 25 * 1000);      /* it did wait (CLOCK_MONOTONIC) */
	assert_true(took < 2 * 1000 * 1000); /* and not for the job */
	assert_int_equal(r.abandoned_threads, 1);
	assert_int_equal(r.abandoned_jobs, 1);
	assert_int_equal(r.cancelled_jobs, 1);
	assert_int_equal(atomic_load(&l.finished), 0);
	/* The queued job never runs; its handle says so. */
	assert_true(weft_blocking_handle_is_finished(queued));
	weft_blocking_handle_close(queued);
	assert_int_equal(atomic_load(&never), 0);
	/* The abandoned thread has not stopped yet. */
	assert_int_equal(atomic_load(&stops), atomic_load(&starts) - 1);

	/* Let it go: it finds the runtime closed (not freed: ASan), its
	 * result is released, its thread stops. */
	close(p[1]);
	assert_true(stops_catch_up());
	assert_int_equal(atomic_load(&l.finished), 1);
	assert_int_equal(atomic_load(&l.spawn_rc), -ESHUTDOWN);
	assert_int_equal(atomic_load(&l.released), 1);
	assert_int_equal(atomic_load(&violations), 0);
	close(p[0]);
}

static void a_stuck_name_lookup_is_abandoned_and_freed_when_it_returns(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 4, 0);
	int p[2];
	assert_int_equal(pipe(p), 0);
	atomic_int ran = 0, freed = 0;
	/* A lookup that hangs like a getaddrinfo with no answer. */
	submit_raw(weft__runtime_dns_blocking(rt), p[0], &ran, &freed);
	weft_blocking_metrics m;
	uint64_t until = test_now_us() + WAIT_US;
	do {
		usleep(200);
		assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	} while (m.dns_running != 1 && test_now_us() < until);
	assert_int_equal(m.dns_running, 1);

	/* An old caller's report: room for abandoned_threads only. */
	struct { uint32_t size, abandoned_threads; uint64_t canary[2]; } old = {
		.size = 8, .canary = { 0xabababab, 0xcdcdcdcd },
	};
	uint64_t t0 = test_now_us();
	assert_int_equal(weft_runtime_close_timeout(rt, 0, (weft_runtime_close_report *)&old),
			 -ETIMEDOUT);
	assert_true(test_now_us() - t0 < 2 * 1000 * 1000);
	assert_int_equal(old.size, 8);
	assert_int_equal(old.abandoned_threads, 1);
	assert_int_equal(old.canary[0], 0xabababab);
	assert_int_equal(old.canary[1], 0xcdcdcdcd);
	assert_int_equal(atomic_load(&freed), 0);

	close(p[1]);
	assert_true(stops_catch_up());
	assert_int_equal(atomic_load(&ran), 1);
	assert_int_equal(atomic_load(&freed), 1);
	assert_int_equal(atomic_load(&violations), 0);
	close(p[0]);
}

/* Both pools stuck at once, on the multi-thread flavour: each pool
 * abandons its thread, the runtime object lives until the last one. */
static void both_pools_abandoned_free_everything_when_the_last_returns(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2, 4, 0);
	int a[2], b[2];
	assert_int_equal(pipe(a), 0);
	assert_int_equal(pipe(b), 0);
	atomic_int ran = 0, freed = 0;
	submit_raw(weft__runtime_dns_blocking(rt), a[0], &ran, &freed);
	submit_raw(weft__runtime_blocking(rt), b[0], &ran, &freed);
	weft_blocking_metrics m;
	uint64_t until = test_now_us() + WAIT_US;
	do {
		usleep(200);
		assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	} while ((m.dns_running != 1 || m.running != 1) && test_now_us() < until);
	assert_int_equal(m.dns_running, 1);
	assert_int_equal(m.running, 1);
	weft_runtime_close_report r = { .size = sizeof r };
	assert_int_equal(weft_runtime_close_timeout(rt, 10ull * 1000 * 1000, &r), -ETIMEDOUT);
	assert_int_equal(r.abandoned_threads, 2);
	assert_int_equal(r.abandoned_jobs, 2);
	close(a[1]);
	uint64_t t = test_now_us() + WAIT_US;
	while (atomic_load(&freed) < 1 && test_now_us() < t)
		usleep(200);
	assert_int_equal(atomic_load(&freed), 1);
	close(b[1]);
	assert_true(stops_catch_up());
	assert_int_equal(atomic_load(&freed), 2);
	assert_int_equal(atomic_load(&violations), 0);
	close(a[0]);
	close(b[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(every_runtime_thread_calls_start_and_stop_exactly_once,
				       hooks_reset),
		cmocka_unit_test_setup(a_current_thread_runtime_hooks_only_its_pool_threads,
				       hooks_reset),
		cmocka_unit_test_setup(jobs_that_finish_before_the_deadline_are_waited_for,
				       hooks_reset),
		cmocka_unit_test_setup(a_blocking_job_past_the_deadline_is_abandoned_and_finishes_later,
				       hooks_reset),
		cmocka_unit_test_setup(a_stuck_name_lookup_is_abandoned_and_freed_when_it_returns,
				       hooks_reset),
		cmocka_unit_test_setup(both_pools_abandoned_free_everything_when_the_last_returns,
				       hooks_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
