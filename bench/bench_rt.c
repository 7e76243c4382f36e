/*
 * bench_rt.c - weft-bench-rt: scheduler micro-benchmarks.
 *
 *   weft-bench-rt [--workers N] [--runs R] BENCH...
 *
 * BENCH: spawn_many (1,000,000 tasks spawned from inside a task),
 * yield_many (1,000 tasks x 1,000 yields), chained_spawn (each task spawns
 * the next, 1,000,000 deep), or all. Each run prints one line:
 *   bench=<name> impl=weft metric=ops_per_s value=<number>
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weft.h>

/* ------------------------------------------------ completion latch */

/* Counts down; the future waiting on it is woken when it reaches zero.
 * Usable from any worker thread. */
typedef struct latch {
	_Atomic long remaining;
	pthread_mutex_t lock;
	weft_waker waker;
} latch;

static void latch_init(latch *l, long n)
{
	atomic_init(&l->remaining, n);
	pthread_mutex_init(&l->lock, NULL);
	l->waker = (weft_waker){ 0 };
}

static void latch_count_down(latch *l)
{
	/* AcqRel: the finisher that reaches zero must see every other
	 * finisher's work, and the waiter's waker store (under the lock). */
	if (atomic_fetch_sub_explicit(&l->remaining, 1, memory_order_acq_rel) != 1)
		return;
	pthread_mutex_lock(&l->lock);
	weft_waker w = l->waker;
	l->waker = (weft_waker){ 0 };
	pthread_mutex_unlock(&l->lock);
	weft_waker_wake(&w);
}

typedef struct latch_wait {
	weft_future fut;
	latch *l;
} latch_wait;

static weft_poll latch_wait_poll(weft_future *f, weft_cx *cx)
{
	latch *l = ((latch_wait *)f)->l;
	pthread_mutex_lock(&l->lock);
	/* Acquire: see the finishers' work once the count is zero. */
	bool done = atomic_load_explicit(&l->remaining, memory_order_acquire) == 0;
	if (!done)
		weft_waker_store(&l->waker, cx->waker);
	pthread_mutex_unlock(&l->lock);
	return done ? WEFT_READY : WEFT_PENDING;
}

static void latch_fini(latch *l)
{
	weft_waker_drop(&l->waker);
	pthread_mutex_destroy(&l->lock);
}

/* -------------------------------------------------------- helpers */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "weft-bench-rt: %s: %s\n", what, strerror(-rc));
	exit(1);
}

/* Runs @root to completion on a fresh runtime; returns seconds taken. */
static double run_root(uint32_t workers, weft_future *root)
{
	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = workers };
	int rc = weft_runtime_new(&rt, &cfg);
	if (rc < 0)
		die("runtime_new", rc);
	double t0 = now_s();
	rc = weft_block_on(rt, root);
	double t1 = now_s();
	if (rc < 0)
		die("block_on", rc);
	weft_runtime_free(rt);
	return t1 - t0;
}

static void report(const char *name, double ops, double secs)
{
	printf("bench=%s impl=weft metric=ops_per_s value=%.0f\n", name, ops / secs);
	fflush(stdout);
}

/* ------------------------------------------------------ spawn_many */

#define SPAWN_MANY 1000000L

typedef struct leaf_task {
	weft_future fut;
	latch *l;
} leaf_task;

static weft_poll leaf_poll(weft_future *f, weft_cx *cx)
{
	(void)cx;
	latch_count_down(((leaf_task *)f)->l);
	return WEFT_READY;
}

typedef struct spawn_many_root {
	weft_future fut;
	weft_coro co;
	latch l;
	latch_wait wait;
} spawn_many_root;

static weft_poll spawn_many_poll(weft_future *f, weft_cx *cx)
{
	spawn_many_root *r = (spawn_many_root *)f;
	WEFT_BEGIN(&r->co);
	{
		leaf_task t = { .fut = WEFT_FUTURE(leaf_poll, NULL), .l = &r->l };
		for (long i = 0; i < SPAWN_MANY; i++) {
			int rc = weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t);
			if (rc < 0)
				die("spawn", rc);
		}
	}
	r->wait = (latch_wait){ .fut = WEFT_FUTURE(latch_wait_poll, NULL), .l = &r->l };
	WEFT_AWAIT(&r->co, latch_wait_poll(&r->wait.fut, cx));
	WEFT_END(&r->co);
}

static void bench_spawn_many(uint32_t workers)
{
	spawn_many_root r = { .fut = WEFT_FUTURE(spawn_many_poll, NULL) };
	latch_init(&r.l, SPAWN_MANY);
	double secs = run_root(workers, &r.fut);
	latch_fini(&r.l);
	report("spawn_many", SPAWN_MANY, secs);
}

/* ------------------------------------------------------ yield_many */

#define YIELD_TASKS 1000L
#define YIELDS 1000L

typedef struct yield_task {
	weft_future fut;
	weft_coro co;
	long i;
	weft_yield_now y;
	latch *l;
} yield_task;

static weft_poll yield_task_poll(weft_future *f, weft_cx *cx)
{
	yield_task *t = (yield_task *)f;
	WEFT_BEGIN(&t->co);
	for (t->i = 0; t->i < YIELDS; t->i++) {
		weft_yield_now_init(&t->y);
		WEFT_AWAIT(&t->co, weft_yield_now_poll(&t->y, cx));
	}
	latch_count_down(t->l);
	WEFT_END(&t->co);
}

typedef struct yield_root {
	weft_future fut;
	weft_coro co;
	latch l;
	latch_wait wait;
} yield_root;

static weft_poll yield_root_poll(weft_future *f, weft_cx *cx)
{
	yield_root *r = (yield_root *)f;
	WEFT_BEGIN(&r->co);
	{
		yield_task t = { .fut = WEFT_FUTURE(yield_task_poll, NULL), .l = &r->l };
		for (long i = 0; i < YIELD_TASKS; i++) {
			int rc = weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t);
			if (rc < 0)
				die("spawn", rc);
		}
	}
	r->wait = (latch_wait){ .fut = WEFT_FUTURE(latch_wait_poll, NULL), .l = &r->l };
	WEFT_AWAIT(&r->co, latch_wait_poll(&r->wait.fut, cx));
	WEFT_END(&r->co);
}

static void bench_yield_many(uint32_t workers)
{
	yield_root r = { .fut = WEFT_FUTURE(yield_root_poll, NULL) };
	latch_init(&r.l, YIELD_TASKS);
	double secs = run_root(workers, &r.fut);
	latch_fini(&r.l);
	report("yield_many", (double)YIELD_TASKS * YIELDS, secs);
}

/* --------------------------------------------------- chained_spawn */

#define CHAIN 1000000L

typedef struct chain_task {
	weft_future fut;
	long left;
	latch *l;
} chain_task;

static weft_poll chain_poll(weft_future *f, weft_cx *cx)
{
	chain_task *t = (chain_task *)f;
	if (t->left == 0) {
		latch_count_down(t->l);
		return WEFT_READY;
	}
	chain_task next = { .fut = WEFT_FUTURE(chain_poll, NULL), .left = t->left - 1, .l = t->l };
	int rc = weft_spawn_detached(weft_cx_runtime(cx), &next.fut, sizeof next);
	if (rc < 0)
		die("spawn", rc);
	return WEFT_READY;
}

typedef struct chain_root {
	weft_future fut;
	weft_coro co;
	latch l;
	latch_wait wait;
} chain_root;

static weft_poll chain_root_poll(weft_future *f, weft_cx *cx)
{
	chain_root *r = (chain_root *)f;
	WEFT_BEGIN(&r->co);
	{
		chain_task t = { .fut = WEFT_FUTURE(chain_poll, NULL), .left = CHAIN - 1, .l = &r->l };
		int rc = weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t);
		if (rc < 0)
			die("spawn", rc);
	}
	r->wait = (latch_wait){ .fut = WEFT_FUTURE(latch_wait_poll, NULL), .l = &r->l };
	WEFT_AWAIT(&r->co, latch_wait_poll(&r->wait.fut, cx));
	WEFT_END(&r->co);
}

static void bench_chained_spawn(uint32_t workers)
{
	chain_root r = { .fut = WEFT_FUTURE(chain_root_poll, NULL) };
	latch_init(&r.l, 1);
	double secs = run_root(workers, &r.fut);
	latch_fini(&r.l);
	report("chained_spawn", CHAIN, secs);
}

/* ------------------------------------------------------------ main */

struct bench {
	const char *name;
	void (*run)(uint32_t workers);
};

static const struct bench benches[] = {
	{ "spawn_many", bench_spawn_many },
	{ "yield_many", bench_yield_many },
	{ "chained_spawn", bench_chained_spawn },
};

#define NBENCH (sizeof benches / sizeof benches[0])

static void usage(void)
{
	fprintf(stderr, "usage: weft-bench-rt [--workers N] [--runs R] BENCH...\n"
			"BENCH: all");
	for (size_t i = 0; i < NBENCH; i++)
		fprintf(stderr, " %s", benches[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint32_t workers = 1;
	int runs = 1;
	int first = 1;
	for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
		if (strcmp(argv[first], "--workers") == 0 && first + 1 < argc)
			workers = (uint32_t)strtoul(argv[++first], NULL, 10);
		else if (strcmp(argv[first], "--runs") == 0 && first + 1 < argc)
			runs = atoi(argv[++first]);
		else
			usage();
	}
	if (first == argc || runs < 1)
		usage();
	for (int a = first; a < argc; a++) {
		bool found = false;
		for (size_t i = 0; i < NBENCH; i++) {
			if (strcmp(argv[a], "all") != 0 && strcmp(argv[a], benches[i].name) != 0)
				continue;
			found = true;
			for (int r = 0; r < runs; r++)
				benches[i].run(workers);
		}
		if (!found)
			usage();
	}
	return 0;
}
