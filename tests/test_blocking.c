/* test_blocking.c - the blocking pool: spawn_blocking results, growth on
 * demand up to the cap and shrinking after the keep-alive, handles dropped
 * while their function runs, many jobs from many tasks, the separate
 * name-lookup pool, and runtime_free with jobs queued and running. The
 * pool's keep-alive is wall-clock time (threads sleep in the kernel, not
 * on the runtime's clock), so those waits are real but short and bounded. */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "sched_runtime.h"
#include "blocking.h"

/* Every wait in this file gives up after this long. */
#define WAIT_US (10u * 1000000u)

static weft_runtime *new_rt(uint32_t workers, uint32_t cap, uint32_t keep_alive_ms)
{
	weft_runtime *rt = NULL;
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = workers, .blocking_threads = cap,
				    .blocking_keep_alive_ms = keep_alive_ms };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	return rt;
}

static weft_blocking_metrics metrics(weft_runtime *rt)
{
	weft_blocking_metrics m;
	assert_int_equal(weft_runtime_blocking_metrics(rt, &m, sizeof m), 0);
	return m;
}

/* ------------------------------------------------------------ a barrier */

/* Jobs that count themselves in and wait until the test opens the gate. */
struct gate {
	pthread_mutex_t m;
	pthread_cond_t c;
	bool open;
	int running, max_running, entered;
};

static void gate_init(struct gate *g)
{
	*g = (struct gate){ .open = false };
	pthread_mutex_init(&g->m, NULL);
	pthread_cond_init(&g->c, NULL);
}

static void gate_destroy(struct gate *g)
{
	pthread_cond_destroy(&g->c);
	pthread_mutex_destroy(&g->m);
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->m);
	g->open = true;
	pthread_cond_broadcast(&g->c);
	pthread_mutex_unlock(&g->m);
}

/* Waits (bounded) until @pred holds of the gate's counters. */
static bool gate_until(struct gate *g, int running, int entered)
{
	uint64_t end = test_now_us() + WAIT_US;
	for (;;) {
		pthread_mutex_lock(&g->m);
		bool ok = (running < 0 || g->running == running) &&
			  (entered < 0 || g->entered == entered);
		pthread_mutex_unlock(&g->m);
		if (ok)
			return true;
		if (test_now_us() > end)
			return false;
		usleep(1000);
	}
}

/* The blocking function: enters, waits for the gate (bounded), leaves. */
static void *gate_job(void *arg)
{
	struct gate *g = arg;
	pthread_mutex_lock(&g->m);
	g->entered++;
	g->running++;
	if (g->running > g->max_running)
		g->max_running = g->running;
	pthread_cond_broadcast(&g->c);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_US / 1000000u;
	while (!g->open)
		if (pthread_cond_timedwait(&g->c, &g->m, &until) != 0)
			break;
	g->running--;
	pthread_mutex_unlock(&g->m);
	return (void *)(intptr_t)7;
}

/* ----------------------------------------------------- awaiting handles */

typedef struct await_fut {
	weft_future fut;
	weft_blocking_handle *h;
	int status;
	void *result;
	bool take;
} await_fut;

static weft_poll await_poll(weft_future *f, weft_cx *cx)
{
	await_fut *a = (await_fut *)f;
	return weft_blocking_handle_poll(a->h, cx, a->take ? &a->result : NULL, &a->status);
}

/* Awaits @h with block_on; returns its status, the result in *@result. */
static int await_handle(weft_runtime *rt, weft_blocking_handle *h, void **result)
{
	await_fut a = { .fut = WEFT_FUTURE(await_poll, NULL), .h = h, .status = 12345,
			.take = result != NULL };
	assert_int_equal(weft_block_on(rt, &a.fut), 0);
	if (result)
		*result = a.result;
	return a.status;
}

static bool wait_until_finished(weft_blocking_handle *h)
{
	uint64_t end = test_now_us() + WAIT_US;
	while (!weft_blocking_handle_is_finished(h)) {
		if (test_now_us() > end)
			return false;
		usleep(1000);
	}
	return true;
}

/* ----------------------------------------------------------- the tests */

static void *thread_id_job(void *arg)
{
	pthread_t *out = arg;
	*out = pthread_self();
	return out;
}

static void spawn_blocking_runs_the_function_on_a_pool_thread_and_gives_its_result(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 0, 0);
	pthread_t ran_on = pthread_self();
	weft_blocking_handle *h;
	assert_int_equal(weft_spawn_blocking(rt, thread_id_job, &ran_on, &h), 0);
	void *result = NULL;
	assert_int_equal(await_handle(rt, h, &result), 0);
	assert_ptr_equal(result, &ran_on);
	assert_false(pthread_equal(ran_on, pthread_self()));
	assert_true(weft_blocking_handle_is_finished(h));
	/* Polling a finished handle again gives the same answer. */
	assert_int_equal(await_handle(rt, h, &result), 0);
	assert_ptr_equal(result, &ran_on);
	weft_blocking_handle_close(h);

	/* Detached from the start: it runs all the same. */
	struct gate g;
	gate_init(&g);
	gate_open(&g);
	assert_int_equal(weft_spawn_blocking(rt, gate_job, &g, NULL), 0);
	assert_true(gate_until(&g, 0, 1));
	weft_blocking_metrics m = metrics(rt);
	assert_int_equal(m.jobs_submitted, 2);
	assert_true(m.threads >= 1 && m.threads_started <= 2);
	weft_runtime_close(rt);
	gate_destroy(&g);
}

static void bad_arguments_are_refused(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 0, 0);
	weft_blocking_handle *h = (weft_blocking_handle *)&h;
	assert_int_equal(weft_spawn_blocking(NULL, thread_id_job, NULL, &h), -EINVAL);
	assert_null(h);
	assert_int_equal(weft_spawn_blocking(rt, NULL, NULL, &h), -EINVAL);
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	int status = 0;
	void *result = &status;
	assert_int_equal(weft_blocking_handle_poll(NULL, &cx, &result, &status), WEFT_READY);
	assert_int_equal(status, -EINVAL);
	assert_null(result);
	weft_blocking_handle_close(NULL);
	assert_int_equal(weft_runtime_blocking_metrics(NULL, NULL, 0), -EINVAL);
	/* Defaults are filled in. */
	assert_int_equal(rt->config.blocking_threads, WEFT_BLOCKING_DEFAULT_THREADS);
	assert_int_equal(rt->config.blocking_keep_alive_ms, WEFT_BLOCKING_DEFAULT_KEEP_ALIVE_MS);
	weft_runtime_close(rt);
}

static void the_pool_grows_on_demand_up_to_its_cap_and_shrinks_after_the_keep_alive(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 4, 50);
	assert_int_equal(metrics(rt).threads, 0);   /* none until needed */

	/* One job: one thread. */
	weft_blocking_handle *h;
	pthread_t tid;
	assert_int_equal(weft_spawn_blocking(rt, thread_id_job, &tid, &h), 0);
	assert_int_equal(await_handle(rt, h, NULL), 0);
	weft_blocking_handle_close(h);
	assert_int_equal(metrics(rt).threads_started, 1);

	/* Eight jobs that wait for each other: exactly four run at once. */
	struct gate g;
	gate_init(&g);
	weft_blocking_handle *hs[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(weft_spawn_blocking(rt, gate_job, &g, &hs[i]), 0);
	assert_true(gate_until(&g, 4, 4));
	/* Not synchronisation: room for a fifth to start, were that
	 * possible. Nothing can be waited for (the fifth must not come);
	 * on a slow machine the check is weaker, never wrong. */
	usleep(30 * 1000);
	weft_blocking_metrics m = metrics(rt);
	assert_int_equal(m.threads, 4);
	assert_int_equal(m.running, 4);
	assert_int_equal(m.queue_depth, 4);
	assert_true(m.threads_started <= 4);
	pthread_mutex_lock(&g.m);
	assert_int_equal(g.entered, 4);
	pthread_mutex_unlock(&g.m);

	gate_open(&g);
	for (int i = 0; i < 8; i++) {
		void *r = NULL;
		assert_int_equal(await_handle(rt, hs[i], &r), 0);
		assert_int_equal((intptr_t)r, 7);
		weft_blocking_handle_close(hs[i]);
	}
	assert_int_equal(g.max_running, 4);
	assert_int_equal(g.entered, 8);
	m = metrics(rt);
	assert_int_equal(m.jobs_completed, 9);
	assert_true(m.threads_started <= 4);

	/* Idle for the keep-alive: every thread exits. */
	uint64_t end = test_now_us() + WAIT_US;
	while (metrics(rt).threads != 0 && test_now_us() < end)
		usleep(5 * 1000);
	m = metrics(rt);
	assert_int_equal(m.threads, 0);
	assert_int_equal(m.idle_threads, 0);

	/* And new work starts threads again. */
	assert_int_equal(weft_spawn_blocking(rt, thread_id_job, &tid, &h), 0);
	assert_int_equal(await_handle(rt, h, NULL), 0);
	weft_blocking_handle_close(h);
	assert_true(metrics(rt).threads_started >= 2);
	weft_runtime_close(rt);
	gate_destroy(&g);
}

/* A job owning its argument and a heap result, with a release that
 * records what it was given. */
struct owned {
	_Atomic int releases;
	_Atomic(void *) released_result;
	struct gate *g;
};

static void *alloc_job(void *arg)
{
	struct owned *o = arg;
	if (o->g)
		gate_job(o->g);
	int *p = malloc(sizeof *p);
	*p = 99;
	return p;
}

static void owned_release(void *arg, void *result)
{
	struct owned *o = arg;
	/* SeqCst stores: the test thread polls these. */
	atomic_store(&o->released_result, result);
	free(result);
	atomic_fetch_add(&o->releases, 1);
}

static bool wait_released(struct owned *o, int n)
{
	uint64_t end = test_now_us() + WAIT_US;
	while (atomic_load(&o->releases) != n) {
		if (test_now_us() > end)
			return false;
		usleep(1000);
	}
	return true;
}

static void closing_a_handle_while_its_function_runs_releases_the_result_when_it_finishes(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 0, 0);
	struct gate g;
	gate_init(&g);
	struct owned o = { .g = &g };
	weft_blocking_handle *h;
	assert_int_equal(weft_spawn_blocking_owned(rt, alloc_job, &o, owned_release, &h), 0);
	assert_true(gate_until(&g, 1, 1));
	weft_blocking_handle_close(h);          /* while it runs */
	assert_int_equal(atomic_load(&o.releases), 0);
	gate_open(&g);
	assert_true(wait_released(&o, 1));      /* on the pool thread */
	assert_non_null(atomic_load(&o.released_result));   /* nobody took it */

	/* Finished but never taken: released at close. */
	struct owned o2 = { 0 };
	assert_int_equal(weft_spawn_blocking_owned(rt, alloc_job, &o2, owned_release, &h), 0);
	assert_true(wait_until_finished(h));
	assert_int_equal(await_handle(rt, h, NULL), 0);   /* looked, did not take */
	weft_blocking_handle_close(h);
	assert_true(wait_released(&o2, 1));
	assert_non_null(atomic_load(&o2.released_result));

	/* Taken: the caller owns it, release gets NULL. */
	struct owned o3 = { 0 };
	assert_int_equal(weft_spawn_blocking_owned(rt, alloc_job, &o3, owned_release, &h), 0);
	void *r = NULL;
	assert_int_equal(await_handle(rt, h, &r), 0);
	assert_int_equal(*(int *)r, 99);
	free(r);
	weft_blocking_handle_close(h);
	assert_true(wait_released(&o3, 1));
	assert_null(atomic_load(&o3.released_result));
	weft_runtime_close(rt);
	gate_destroy(&g);
}

/* A task whose future is dropped while it awaits a blocking job. */
typedef struct waiting_task {
	weft_future fut;
	struct owned *o;
	weft_blocking_handle *h;
	int status;
	_Atomic int *dropped;   /* counts drops when set */
} waiting_task;

static weft_poll waiting_task_poll(weft_future *f, weft_cx *cx)
{
	waiting_task *t = (waiting_task *)f;
	if (!t->h) {
		int rc = weft_spawn_blocking_owned(weft_cx_runtime(cx), alloc_job, t->o,
						   owned_release, &t->h);
		if (rc < 0) {
			t->status = rc;
			return WEFT_READY;
		}
	}
	void *r;
	return weft_blocking_handle_poll(t->h, cx, &r, &t->status);
}

static void waiting_task_drop(weft_future *f)
{
	waiting_task *t = (waiting_task *)f;
	weft_blocking_handle_close(t->h);
	t->h = NULL;
	if (t->dropped)
		atomic_fetch_add(t->dropped, 1);
}

static void aborting_a_task_that_awaits_a_blocking_job_leaks_nothing(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2, 0, 0);
	struct gate g;
	gate_init(&g);
	struct owned o = { .g = &g };
	waiting_task t = { .fut = WEFT_FUTURE(waiting_task_poll, waiting_task_drop), .o = &o };
	weft_join_handle *jh;
	assert_int_equal(weft_spawn(rt, &t.fut, sizeof t, &jh), 0);
	assert_true(gate_until(&g, 1, 1));
	weft_join_handle_abort(jh);
	uint64_t end = test_now_us() + WAIT_US;
	while (!weft_join_handle_is_finished(jh) && test_now_us() < end)
		usleep(1000);
	assert_true(weft_join_handle_is_finished(jh));
	weft_join_handle_close(jh);
	assert_int_equal(atomic_load(&o.releases), 0);   /* still running */
	gate_open(&g);
	assert_true(wait_released(&o, 1));
	weft_runtime_close(rt);
	gate_destroy(&g);
}

/* ---------------------------------------------- many tasks, two workers */

static void *double_job(void *arg)
{
	return (void *)((intptr_t)arg * 2);
}

typedef struct sum_task {
	weft_future fut;
	weft_coro co;
	int base, i;
	weft_blocking_handle *h;
	int status;
	void *res;
	long sum;
} sum_task;

#define SUM_TASKS 64
#define SUM_JOBS 8

static weft_poll sum_poll(weft_future *f, weft_cx *cx)
{
	sum_task *t = (sum_task *)f;
	WEFT_BEGIN(&t->co);
	for (t->i = 0; t->i < SUM_JOBS; t->i++) {
		{
			int rc = weft_spawn_blocking(weft_cx_runtime(cx), double_job,
						     (void *)(intptr_t)(t->base + t->i), &t->h);
			if (rc < 0)
				WEFT_RETURN(&t->co, rc);
		}
		WEFT_AWAIT(&t->co, weft_blocking_handle_poll(t->h, cx, &t->res, &t->status));
		weft_blocking_handle_close(t->h);
		t->h = NULL;
		if (t->status < 0)
			WEFT_RETURN(&t->co, t->status);
		t->sum += (long)(intptr_t)t->res;
	}
	WEFT_END(&t->co);
}

static void sum_drop(weft_future *f)
{
	sum_task *t = (sum_task *)f;
	weft_blocking_handle_close(t->h);
	t->h = NULL;
}

typedef struct sum_root {
	weft_future fut;
	weft_coro co;
	weft_join_handle *hs[SUM_TASKS];
	int i, status;
	long total;
} sum_root;

static weft_poll sum_root_poll(weft_future *f, weft_cx *cx)
{
	sum_root *r = (sum_root *)f;
	WEFT_BEGIN(&r->co);
	for (r->i = 0; r->i < SUM_TASKS; r->i++) {
		sum_task t = { .fut = WEFT_FUTURE(sum_poll, sum_drop), .base = r->i * 1000 };
		if (weft_spawn(weft_cx_runtime(cx), &t.fut, sizeof t, &r->hs[r->i]) < 0)
			WEFT_RETURN(&r->co, -1);
	}
	for (r->i = 0; r->i < SUM_TASKS; r->i++) {
		WEFT_AWAIT(&r->co, weft_join_handle_poll(r->hs[r->i], cx, &r->status));
		sum_task *t = weft_join_handle_output(r->hs[r->i]);
		if (r->status < 0 || !t || t->co.result < 0)
			WEFT_RETURN(&r->co, -2);
		r->total += t->sum;
		weft_join_handle_close(r->hs[r->i]);
	}
	WEFT_END(&r->co);
}

static void many_jobs_from_many_tasks_on_two_workers_all_come_back(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2, 8, 0);
	sum_root r = { .fut = WEFT_FUTURE(sum_root_poll, NULL) };
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.co.result, 0);
	long want = 0;
	for (int i = 0; i < SUM_TASKS; i++)
		for (int j = 0; j < SUM_JOBS; j++)
			want += 2L * (i * 1000 + j);
	assert_int_equal(r.total, want);
	weft_blocking_metrics m = metrics(rt);
	assert_int_equal(m.jobs_completed, SUM_TASKS * SUM_JOBS);
	assert_true(m.threads_started <= 8);
	weft_runtime_close(rt);
}

/* ------------------------------------------------- the name-lookup pool */

struct stuck_job {
	struct weft__blocking_job job;
	struct gate *g;
	_Atomic int *freed;
};

static void stuck_run(struct weft__blocking_job *bj)
{
	gate_job(((struct stuck_job *)(void *)bj)->g);
}

static void stuck_free(struct weft__blocking_job *bj)
{
	struct stuck_job *j = (struct stuck_job *)(void *)bj;
	atomic_fetch_add(j->freed, 1);
	free(j);
}

/* Queues @n jobs on @pool that block on @g; the awaiting side's
 * reference is dropped at once (fire and forget). */
static void submit_stuck(struct weft__blocking_pool *pool, struct gate *g, int n,
			 _Atomic int *freed)
{
	for (int i = 0; i < n; i++) {
		struct stuck_job *j = calloc(1, sizeof *j);
		j->g = g;
		j->freed = freed;
		assert_int_equal(weft__blocking_job_init(&j->job, stuck_run, stuck_free), 0);
		assert_int_equal(weft__blocking_submit(pool, &j->job), 0);
		weft__blocking_job_put(&j->job);
	}
}

typedef struct resolve_fut {
	weft_future fut;
	weft_resolve r;
} resolve_fut;

static weft_poll resolve_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_resolve_poll(&((resolve_fut *)f)->r, cx);
}

static void resolve_fut_drop(weft_future *f)
{
	weft_resolve_drop(&((resolve_fut *)f)->r);
}

static void stuck_dns_lookups_do_not_hold_up_spawn_blocking_nor_the_other_way(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 1, 0);
	struct gate dns, gen;
	gate_init(&dns);
	gate_init(&gen);
	_Atomic int freed = 0;

	/* Every name-lookup thread stuck, and one more lookup queued. */
	submit_stuck(weft__runtime_dns_blocking(rt), &dns, WEFT__DNS_THREADS + 1, &freed);
	assert_true(gate_until(&dns, WEFT__DNS_THREADS, WEFT__DNS_THREADS));
	assert_int_equal(metrics(rt).dns_threads, WEFT__DNS_THREADS);
	assert_int_equal(metrics(rt).dns_queue_depth, 1);

	/* spawn_blocking still runs. */
	uint64_t t0 = test_now_us();
	pthread_t tid;
	weft_blocking_handle *h;
	assert_int_equal(weft_spawn_blocking(rt, thread_id_job, &tid, &h), 0);
	assert_int_equal(await_handle(rt, h, NULL), 0);
	weft_blocking_handle_close(h);
	assert_true(test_now_us() - t0 < WAIT_US);
	gate_open(&dns);

	/* The general pool (cap 1) stuck: a numeric lookup is parsed in
	 * place and a name lookup runs on its own pool. */
	submit_stuck(weft__runtime_blocking(rt), &gen, 2, &freed);
	assert_true(gate_until(&gen, 1, 1));
	resolve_fut r = { .fut = WEFT_FUTURE(resolve_fut_poll, resolve_fut_drop) };
	weft_resolve_init(&r.r, "localhost:80");
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.r.result, 0);
	assert_true(r.r.count >= 1);
	assert_int_equal(weft_addr_port(&r.r.addrs[0]), 80);
	gate_open(&gen);

	weft_runtime_close(rt);
	assert_int_equal(atomic_load(&freed), WEFT__DNS_THREADS + 1 + 2);
	gate_destroy(&dns);
	gate_destroy(&gen);
}

/* ------------------------------------------------------------ shutdown */

/* Opens @g once *@count reaches @want: the close under test has got that
 * far (a plain thread: it records `late` for the test to assert). */
struct opener {
	struct gate *g;
	_Atomic int *count;
	int want;
	atomic_int late;
};

static void *open_later(void *arg)
{
	struct opener *o = arg;
	uint64_t end = test_now_us() + WAIT_US;
	while (atomic_load(o->count) < o->want && test_now_us() < end)
		usleep(100);
	atomic_store(&o->late, atomic_load(o->count) < o->want);
	/* Not synchronisation: time for a close that does not wait for the
	 * running job to return meanwhile; the test then finds the gate
	 * still shut. A correct close passes however long this takes. */
	usleep(20 * 1000);
	gate_open(o->g);
	return NULL;
}

/* A job still running when its runtime's free begins (it waits for
 * `closing`, bounded), which the free must wait for. */
struct slow {
	_Atomic int closing, done;
};

static void *slow_job(void *arg)
{
	struct slow *s = arg;
	uint64_t end = test_now_us() + WAIT_US;
	while (!atomic_load(&s->closing) && test_now_us() < end)
		usleep(100);
	/* Not synchronisation: time for a free that does not wait for this
	 * job to return meanwhile; the test then finds `done` unset. */
	usleep(20 * 1000);
	atomic_store(&s->done, 1);
	return NULL;
}

static void runtime_free_waits_for_running_jobs_and_cancels_queued_ones(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 1, 0);
	struct gate g;
	gate_init(&g);
	struct owned queued = { 0 }, detached = { 0 };
	weft_blocking_handle *running, *waiting;
	assert_int_equal(weft_spawn_blocking(rt, gate_job, &g, &running), 0);
	assert_int_equal(weft_spawn_blocking_owned(rt, alloc_job, &queued, owned_release,
						   &waiting), 0);
	assert_int_equal(weft_spawn_blocking_owned(rt, alloc_job, &detached, owned_release,
						   NULL), 0);
	assert_true(gate_until(&g, 1, 1));   /* the one thread is busy */

	/* Opened once the close has cancelled the queued jobs, so while it
	 * must be waiting for the running one. */
	pthread_t opener;
	struct opener op = { .g = &g, .count = &detached.releases, .want = 1 };
	assert_int_equal(pthread_create(&opener, NULL, open_later, &op), 0);
	weft_runtime_close(rt);
	pthread_mutex_lock(&g.m);
	assert_true(g.open);                 /* it waited for the running job */
	assert_int_equal(g.running, 0);
	pthread_mutex_unlock(&g.m);
	pthread_join(opener, NULL);
	assert_false(atomic_load(&op.late));

	/* The queued ones never ran: cancelled, released with NULL. */
	assert_int_equal(atomic_load(&detached.releases), 1);
	assert_null(atomic_load(&detached.released_result));
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	int status = 1;
	void *r = &r;
	assert_int_equal(weft_blocking_handle_poll(waiting, &cx, &r, &status), WEFT_READY);
	assert_int_equal(status, -ECANCELED);
	assert_null(r);
	assert_int_equal(weft_blocking_handle_poll(running, &cx, &r, &status), WEFT_READY);
	assert_int_equal(status, 0);
	assert_int_equal((intptr_t)r, 7);
	/* Handles stay valid after the runtime is gone. */
	assert_int_equal(atomic_load(&queued.releases), 0);
	weft_blocking_handle_close(waiting);
	assert_int_equal(atomic_load(&queued.releases), 1);
	weft_blocking_handle_close(running);
	gate_destroy(&g);
}

static void runtime_free_with_tasks_awaiting_running_jobs_is_clean(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2, 0, 0);
	struct gate g;
	gate_init(&g);
	struct owned os[4];
	_Atomic int dropped = 0;
	for (int i = 0; i < 4; i++) {
		os[i] = (struct owned){ .g = &g };
		waiting_task t = { .fut = WEFT_FUTURE(waiting_task_poll, waiting_task_drop),
				   .o = &os[i], .dropped = &dropped };
		assert_int_equal(weft_spawn_detached(rt, &t.fut, sizeof t), 0);
	}
	assert_true(gate_until(&g, 4, 4));
	/* Opened once the close has dropped every task: their jobs still
	 * run, their handles are closed. */
	pthread_t opener;
	struct opener op = { .g = &g, .count = &dropped, .want = 4 };
	assert_int_equal(pthread_create(&opener, NULL, open_later, &op), 0);
	weft_runtime_close(rt);   /* drops the tasks, then waits for the jobs */
	for (int i = 0; i < 4; i++)
		assert_int_equal(atomic_load(&os[i].releases), 1);
	pthread_join(opener, NULL);
	assert_false(atomic_load(&op.late));
	gate_destroy(&g);
}

static _Atomic int self_free_done;
static weft_runtime *self_free_rt;

static void *free_own_runtime(void *arg)
{
	struct slow *s = arg;
	atomic_store(&s->closing, 1);
	weft_runtime_close(self_free_rt);
	atomic_store(&self_free_done, 1);
	return NULL;
}

static void a_blocking_function_may_free_its_own_runtime(void **state)
{
	(void)state;
	int threads_before = test_thread_count();
	assert_true(threads_before > 0);
	weft_runtime *rt = self_free_rt = new_rt(1, 2, 0);
	/* Another thread busy too, which the free must wait for: its job
	 * runs until after the free has begun. */
	struct slow s = { 0 };
	assert_int_equal(weft_spawn_blocking(rt, slow_job, &s, NULL), 0);
	assert_int_equal(weft_spawn_blocking(rt, free_own_runtime, &s, NULL), 0);
	uint64_t end = test_now_us() + WAIT_US;
	while (!atomic_load(&self_free_done) && test_now_us() < end)
		usleep(1000);
	assert_int_equal(atomic_load(&self_free_done), 1);
	assert_int_equal(atomic_load(&s.done), 1);
	/* The detached pool thread that freed the runtime has left (the
	 * process is back to its threads before the test). */
	assert_true(test_wait_thread_count_at_most(threads_before, test_now_us() + WAIT_US));
}

static void a_thread_that_cannot_start_fails_the_spawn_cleanly(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 0, 0);
	struct owned o = { 0 };
	weft_blocking_handle *h;
	weft__fault_arm(WEFT__FAULT_THREAD, 1, EAGAIN);
	assert_int_equal(weft_spawn_blocking_owned(rt, alloc_job, &o, owned_release, &h), -EAGAIN);
	weft__fault_reset();
	assert_null(h);
	assert_int_equal(atomic_load(&o.releases), 0);   /* @arg is still ours */
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft_spawn_blocking(rt, alloc_job, &o, &h), -ENOMEM);
	weft__fault_reset();
	/* And the pool works afterwards. */
	assert_int_equal(weft_spawn_blocking_owned(rt, alloc_job, &o, owned_release, &h), 0);
	void *r = NULL;
	assert_int_equal(await_handle(rt, h, &r), 0);
	free(r);
	weft_blocking_handle_close(h);
	weft_runtime_close(rt);
	assert_int_equal(atomic_load(&o.releases), 1);
}

static void polling_a_handle_takes_budget_and_gives_it_back_while_waiting(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1, 0, 0);
	struct gate g;
	gate_init(&g);
	weft_blocking_handle *h;
	assert_int_equal(weft_spawn_blocking(rt, gate_job, &g, &h), 0);
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	cx.budget = 0;
	int status = 1;
	/* Spent budget: PENDING, woken by ref to yield. */
	assert_int_equal(weft_blocking_handle_poll(h, &cx, NULL, &status), WEFT_PENDING);
	assert_int_equal(test_counting_waker_load(&cw.wakes_by_ref), 1);
	cx.budget = 4;
	assert_int_equal(weft_blocking_handle_poll(h, &cx, NULL, &status), WEFT_PENDING);
	assert_int_equal(cx.budget, 4);   /* waiting: refunded */
	gate_open(&g);
	assert_true(wait_until_finished(h));
	uint64_t end = test_now_us() + WAIT_US;   /* the wake follows the status */
	while (test_counting_waker_load(&cw.wakes) != 2 && test_now_us() < end)
		usleep(1000);
	assert_int_equal(test_counting_waker_load(&cw.wakes), 2);   /* the job woke us */
	assert_int_equal(weft_blocking_handle_poll(h, &cx, NULL, &status), WEFT_READY);
	assert_int_equal(cx.budget, 3);
	assert_int_equal(status, 0);
	weft_blocking_handle_close(h);
	weft_waker_drop(&w);
	assert_int_equal(test_counting_waker_load(&cw.live), 0);
	weft_runtime_close(rt);
	gate_destroy(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(spawn_blocking_runs_the_function_on_a_pool_thread_and_gives_its_result),
		cmocka_unit_test(bad_arguments_are_refused),
		cmocka_unit_test(the_pool_grows_on_demand_up_to_its_cap_and_shrinks_after_the_keep_alive),
		cmocka_unit_test(closing_a_handle_while_its_function_runs_releases_the_result_when_it_finishes),
		cmocka_unit_test(aborting_a_task_that_awaits_a_blocking_job_leaks_nothing),
		cmocka_unit_test(many_jobs_from_many_tasks_on_two_workers_all_come_back),
		cmocka_unit_test(stuck_dns_lookups_do_not_hold_up_spawn_blocking_nor_the_other_way),
		cmocka_unit_test(runtime_free_waits_for_running_jobs_and_cancels_queued_ones),
		cmocka_unit_test(runtime_free_with_tasks_awaiting_running_jobs_is_clean),
		cmocka_unit_test(a_blocking_function_may_free_its_own_runtime),
		cmocka_unit_test(a_thread_that_cannot_start_fails_the_spawn_cleanly),
		cmocka_unit_test(polling_a_handle_takes_budget_and_gives_it_back_while_waiting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
