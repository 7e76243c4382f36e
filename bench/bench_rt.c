/*
 * bench_rt.c - weft-bench-rt: scheduler micro-benchmarks.
 *
 *   weft-bench-rt [--workers N] [--flavour current|multi] [--runs R] BENCH...
 *
 * --flavour picks the scheduler (weft_runtime_config.flavour): current
 * (the current-thread flavour; --workers must be 1) or multi (N worker
 * threads, one included). Without it the runtime's default applies:
 * current-thread for --workers 1, multi-thread for more.
 *
 * BENCH: spawn_many (1,000,000 tasks spawned from inside a task),
 * yield_many (1,000 tasks x 1,000 yields), chained_spawn (each task spawns
 * the next, 1,000,000 deep), ping_pong (1,000 task pairs x 100 round
 * trips), spawn_many_remote (1,000,000 tasks spawned from a plain thread),
 * timers (1,000,000 tasks sleeping 1..1000 ms; its figure is the wall
 * time, metric wall_s, lower is better: a throughput would count the
 * second of sleeping),
 * idle_memory (bytes per pending task, metric bytes_per_task), mpsc (4
 * producers x 1,000,000 u64 through capacity 1024), mutex (1,000 tasks
 * contending for one lock on 2 workers), or all.
 * Each run prints one line per metric:
 *   bench=<name> impl=weft metric=<metric> value=<number>
 * Each benchmark checks its result (every task finished, no timer early
 * and none missing, every message and round trip arrived): a failure
 * prints "weft-bench-rt: <bench>: ..." on stderr and exits 1, as does
 * any error of the runtime.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static void die(const char *what, int rc);

/* After the run: every count arrived, exactly (else exits 1). */
static void latch_check(latch *l, const char *what)
{
	/* Acquire: read after block_on returned; pairs with the AcqRel
	 * count-downs. */
	if (atomic_load_explicit(&l->remaining, memory_order_acquire) != 0)
		die(what, -EPROTO);
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

/* --flavour: a weft_flavour (WEFT_FLAVOUR_AUTO when not given). */
static uint32_t bench_flavour = WEFT_FLAVOUR_AUTO;

/* Runs @root to completion on a fresh runtime of @flavour; returns
 * seconds taken. */
static double run_root_flavour(uint32_t workers, uint32_t flavour, weft_future *root)
{
	weft_runtime *rt;
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	cfg.workers = workers;
	cfg.flavour = flavour;
	int rc = weft_runtime_new(&rt, &cfg);
	if (rc < 0)
		die("runtime_new", rc);
	double t0 = now_s();
	rc = weft_block_on(rt, root);
	double t1 = now_s();
	if (rc < 0)
		die("block_on", rc);
	weft_runtime_close(rt);
	return t1 - t0;
}

/* run_root_flavour with the flavour --flavour asked for. */
static double run_root(uint32_t workers, weft_future *root)
{
	return run_root_flavour(workers, bench_flavour, root);
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

/* The spawner is a task, so spawns are local to a worker (spawned from
 * inside a task, as the benchmark asks; spawn_many_remote covers spawning
 * from outside). */
typedef struct spawner_task {
	weft_future fut;
	latch *l;
} spawner_task;

static weft_poll spawner_poll(weft_future *f, weft_cx *cx)
{
	spawner_task *s = (spawner_task *)f;
	leaf_task t = { .fut = WEFT_FUTURE(leaf_poll, NULL), .l = s->l };
	for (long i = 0; i < SPAWN_MANY; i++) {
		int rc = weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t);
		if (rc < 0)
			die("spawn", rc);
	}
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
		spawner_task s = { .fut = WEFT_FUTURE(spawner_poll, NULL), .l = &r->l };
		int rc = weft_spawn_detached(weft_cx_runtime(cx), &s.fut, sizeof s);
		if (rc < 0)
			die("spawn", rc);
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
	latch_check(&r.l, "spawn_many: not every task ran");
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
	latch_check(&r.l, "yield_many: not every task finished");
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
	latch_check(&r.l, "chained_spawn: the chain did not end");
	latch_fini(&r.l);
	report("chained_spawn", CHAIN, secs);
}

/* ------------------------------------------ reports with a metric */

static void report_metric(const char *name, const char *metric, double value)
{
	printf("bench=%s impl=weft metric=%s value=%.*f\n", name, metric,
	       strcmp(metric, "wall_s") == 0 ? 3 : 0, value);
	fflush(stdout);
}

/* ------------------------------------------------------- ping_pong */

/*
 * 1,000 pairs of tasks; in each of 100 rounds the pinger sends i on a
 * fresh oneshot channel and the ponger answers i + 1 on another: one
 * exchange is one round trip. As in the Tokio peer, every channel is
 * made by the root inside the timed region, before the pairs start.
 */
#define PING_PAIRS 1000L
#define PING_ROUNDS 100L

typedef struct ping_pair {
	weft_oneshot_sender *ping_tx[PING_ROUNDS], *pong_tx[PING_ROUNDS];
	weft_oneshot_receiver *ping_rx[PING_ROUNDS], *pong_rx[PING_ROUNDS];
	long trips;   /* round trips the pinger saw answered right */
} ping_pair;

typedef struct ping_task {
	weft_future fut;
	weft_coro co;
	ping_pair *p;
	bool pinger;
	long i;
	uint64_t v;
	latch *l;
	weft_oneshot_recv_future recv;
} ping_task;

static weft_poll ping_task_poll(weft_future *f, weft_cx *cx)
{
	ping_task *t = (ping_task *)f;
	int rc;
	WEFT_BEGIN(&t->co);
	for (t->i = 0; t->i < PING_ROUNDS; t->i++) {
		if (t->pinger) {
			t->v = (uint64_t)t->i;
			rc = weft_oneshot_send(t->p->ping_tx[t->i], &t->v);
			if (rc < 0)
				die("ping_pong: send", rc);
			weft_oneshot_recv_init(&t->recv, t->p->pong_rx[t->i], &t->v);
			WEFT_AWAIT(&t->co, weft_oneshot_recv_poll(&t->recv, cx));
			weft_oneshot_recv_drop(&t->recv);
			weft_oneshot_receiver_close(t->p->pong_rx[t->i]);
			if (t->recv.result < 0 || t->v != (uint64_t)t->i + 1)
				die("ping_pong: wrong answer", t->recv.result < 0 ? t->recv.result : -EPROTO);
			t->p->trips++;   /* the pinger's alone; read after the latch */
		} else {
			weft_oneshot_recv_init(&t->recv, t->p->ping_rx[t->i], &t->v);
			WEFT_AWAIT(&t->co, weft_oneshot_recv_poll(&t->recv, cx));
			weft_oneshot_recv_drop(&t->recv);
			weft_oneshot_receiver_close(t->p->ping_rx[t->i]);
			if (t->recv.result < 0)
				die("ping_pong: recv", t->recv.result);
			t->v++;
			rc = weft_oneshot_send(t->p->pong_tx[t->i], &t->v);
			if (rc < 0)
				die("ping_pong: send", rc);
		}
	}
	latch_count_down(t->l);
	WEFT_END(&t->co);
}

static void ping_task_drop(weft_future *f)
{
	weft_oneshot_recv_drop(&((ping_task *)f)->recv);
}

typedef struct ping_root {
	weft_future fut;
	weft_coro co;
	ping_pair *pairs;
	latch l;
	latch_wait wait;
} ping_root;

static weft_poll ping_root_poll(weft_future *f, weft_cx *cx)
{
	ping_root *r = (ping_root *)f;
	WEFT_BEGIN(&r->co);
	r->pairs = calloc(PING_PAIRS, sizeof *r->pairs);
	if (!r->pairs)
		die("calloc", -ENOMEM);
	for (long i = 0; i < PING_PAIRS; i++) {
		ping_pair *p = &r->pairs[i];
		for (long k = 0; k < PING_ROUNDS; k++) {
			int rc = weft_oneshot_new(sizeof(uint64_t), &p->ping_tx[k], &p->ping_rx[k]);
			if (rc == 0)
				rc = weft_oneshot_new(sizeof(uint64_t), &p->pong_tx[k], &p->pong_rx[k]);
			if (rc < 0)
				die("oneshot_new", rc);
		}
		for (int side = 0; side < 2; side++) {
			ping_task t = { .fut = WEFT_FUTURE(ping_task_poll, ping_task_drop), .p = p,
					.pinger = side == 0, .l = &r->l };
			int rc = weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t);
			if (rc < 0)
				die("spawn", rc);
		}
	}
	r->wait = (latch_wait){ .fut = WEFT_FUTURE(latch_wait_poll, NULL), .l = &r->l };
	WEFT_AWAIT(&r->co, latch_wait_poll(&r->wait.fut, cx));
	WEFT_END(&r->co);
}

static void bench_ping_pong(uint32_t workers)
{
	ping_root r = { .fut = WEFT_FUTURE(ping_root_poll, NULL) };
	latch_init(&r.l, 2 * PING_PAIRS);
	double secs = run_root(workers, &r.fut);
	long trips = 0;
	for (long i = 0; i < PING_PAIRS; i++)
		trips += r.pairs[i].trips;
	if (trips != PING_PAIRS * PING_ROUNDS)
		die("ping_pong: round trips missing", -EPROTO);
	free(r.pairs);   /* every channel was released by its two tasks */
	latch_check(&r.l, "ping_pong: not every task finished");
	latch_fini(&r.l);
	/* one exchange = one round trip (ping and pong) */
	report("ping_pong", (double)PING_PAIRS * PING_ROUNDS, secs);
}

/* ----------------------------------------------- spawn_many_remote */

typedef struct remote_spawner {
	weft_runtime *rt;
	latch *l;
} remote_spawner;

static void *remote_spawner_main(void *arg)
{
	remote_spawner *s = arg;
	leaf_task t = { .fut = WEFT_FUTURE(leaf_poll, NULL), .l = s->l };
	for (long i = 0; i < SPAWN_MANY; i++) {
		int rc = weft_spawn_detached(s->rt, &t.fut, sizeof t);
		if (rc < 0)
			die("spawn", rc);
	}
	return NULL;
}

/* A plain thread outside the runtime spawns every task while block_on
 * waits for them all to finish. */
static void bench_spawn_many_remote(uint32_t workers)
{
	weft_runtime *rt;
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	cfg.workers = workers;
	cfg.flavour = bench_flavour;
	int rc = weft_runtime_new(&rt, &cfg);
	if (rc < 0)
		die("runtime_new", rc);
	latch l;
	latch_init(&l, SPAWN_MANY);
	latch_wait w = { .fut = WEFT_FUTURE(latch_wait_poll, NULL), .l = &l };
	remote_spawner s = { .rt = rt, .l = &l };
	pthread_t th;
	double t0 = now_s();
	rc = -pthread_create(&th, NULL, remote_spawner_main, &s);
	if (rc < 0)
		die("pthread_create", rc);
	rc = weft_block_on(rt, &w.fut);
	double t1 = now_s();
	if (rc < 0)
		die("block_on", rc);
	pthread_join(th, NULL);
	weft_runtime_close(rt);
	latch_check(&l, "spawn_many_remote: not every task ran");
	latch_fini(&l);
	report("spawn_many_remote", SPAWN_MANY, t1 - t0);
}

/* ---------------------------------------------------------- timers */

#define TIMERS 1000000L

/* The sleep in ms (1..1000) of timer @i: the same sequence as the Tokio
 * peer's (a splitmix64-style mix of i + 1). */
static uint64_t timer_ms(long i)
{
	uint64_t x = ((uint64_t)i + 1) * UINT64_C(0x9e3779b97f4a7c15);
	x ^= x >> 31;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 29;
	return 1 + x % 1000;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* Sleeps its random duration, then checks on CLOCK_MONOTONIC (not the
 * runtime's clock) that at least that much time passed. */
typedef struct timer_task {
	weft_future fut;
	weft_coro co;
	long i;
	uint64_t start;
	latch *l;
	_Atomic long *early;
	weft_sleep sleep;
} timer_task;

static weft_poll timer_task_poll(weft_future *f, weft_cx *cx)
{
	timer_task *t = (timer_task *)f;
	WEFT_BEGIN(&t->co);
	t->start = mono_ns();
	weft_sleep_init(&t->sleep, WEFT_MS(timer_ms(t->i)));
	WEFT_AWAIT(&t->co, weft_sleep_poll(&t->sleep, cx));
	if (t->sleep.result < 0)
		die("sleep", t->sleep.result);
	if (mono_ns() - t->start < WEFT_MS(timer_ms(t->i)))
		/* Relaxed: a counter read after every task has finished. */
		atomic_fetch_add_explicit(t->early, 1, memory_order_relaxed);
	latch_count_down(t->l);
	WEFT_END(&t->co);
}

static void timer_task_drop(weft_future *f)
{
	weft_sleep_drop(&((timer_task *)f)->sleep);
}

typedef struct timers_root {
	weft_future fut;
	weft_coro co;
	latch l;
	_Atomic long early;
	latch_wait wait;
} timers_root;

static weft_poll timers_root_poll(weft_future *f, weft_cx *cx)
{
	timers_root *r = (timers_root *)f;
	WEFT_BEGIN(&r->co);
	for (long i = 0; i < TIMERS; i++) {
		timer_task t = { .fut = WEFT_FUTURE(timer_task_poll, timer_task_drop), .i = i,
				 .l = &r->l, .early = &r->early };
		int rc = weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t);
		if (rc < 0)
			die("spawn", rc);
	}
	r->wait = (latch_wait){ .fut = WEFT_FUTURE(latch_wait_poll, NULL), .l = &r->l };
	WEFT_AWAIT(&r->co, latch_wait_poll(&r->wait.fut, cx));
	WEFT_END(&r->co);
}

static void bench_timers(uint32_t workers)
{
	timers_root r = { .fut = WEFT_FUTURE(timers_root_poll, NULL) };
	latch_init(&r.l, TIMERS);
	atomic_init(&r.early, 0);
	double secs = run_root(workers, &r.fut);
	latch_check(&r.l, "timers: not every timer fired");
	latch_fini(&r.l);
	long early = atomic_load_explicit(&r.early, memory_order_relaxed);
	if (early != 0) {
		fprintf(stderr, "weft-bench-rt: timers: %ld fired early\n", early);
		exit(1);
	}
	report_metric("timers", "wall_s", secs);
}

/* ----------------------------------------------------- idle_memory */

#define IDLE_TASKS 1000000L

/* Resident set size in bytes, from /proc/self/statm. */
static double rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long size = 0, resident = 0;
	int n = f ? fscanf(f, "%lu %lu", &size, &resident) : 0;
	if (f)
		fclose(f);
	if (n != 2)
		die("/proc/self/statm", -EIO);
	return (double)resident * (double)sysconf(_SC_PAGESIZE);
}

/* Counts itself polled once, then stays pending forever without keeping
 * a waker (like std::future::pending). */
typedef struct idle_task {
	weft_future fut;
	latch *l;
	bool counted;
} idle_task;

static weft_poll idle_task_poll(weft_future *f, weft_cx *cx)
{
	idle_task *t = (idle_task *)f;
	(void)cx;
	if (!t->counted) {
		t->counted = true;
		latch_count_down(t->l);
	}
	return WEFT_PENDING;
}

typedef struct idle_root {
	weft_future fut;
	weft_coro co;
	latch l;
	double before, per_task;
	latch_wait wait;
} idle_root;

static weft_poll idle_root_poll(weft_future *f, weft_cx *cx)
{
	idle_root *r = (idle_root *)f;
	WEFT_BEGIN(&r->co);
	r->before = rss_bytes();
	for (long i = 0; i < IDLE_TASKS; i++) {
		idle_task t = { .fut = WEFT_FUTURE(idle_task_poll, NULL), .l = &r->l };
		int rc = weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t);
		if (rc < 0)
			die("spawn", rc);
	}
	r->wait = (latch_wait){ .fut = WEFT_FUTURE(latch_wait_poll, NULL), .l = &r->l };
	WEFT_AWAIT(&r->co, latch_wait_poll(&r->wait.fut, cx));
	r->per_task = (rss_bytes() - r->before) / IDLE_TASKS;
	WEFT_END(&r->co);
}

static void bench_idle_memory(uint32_t workers)
{
	idle_root r = { .fut = WEFT_FUTURE(idle_root_poll, NULL) };
	latch_init(&r.l, IDLE_TASKS);
	run_root(workers, &r.fut);   /* frees the runtime: drops every idle task */
	latch_check(&r.l, "idle_memory: not every task was polled");
	latch_fini(&r.l);
	report_metric("idle_memory", "bytes_per_task", r.per_task);
}

/* ------------------------------------------------------------ mpsc */

#define MPSC_PRODUCERS 4
#define MPSC_PER_PRODUCER 1000000L
#define MPSC_CAPACITY 1024

typedef struct mpsc_producer {
	weft_future fut;
	weft_coro co;
	weft_mpsc_sender *tx;
	long i;
	uint64_t msg;
	weft_mpsc_send_future send;
} mpsc_producer;

static weft_poll mpsc_producer_poll(weft_future *f, weft_cx *cx)
{
	mpsc_producer *p = (mpsc_producer *)f;
	WEFT_BEGIN(&p->co);
	for (p->i = 0; p->i < MPSC_PER_PRODUCER; p->i++) {
		p->msg = (uint64_t)p->i;
		weft_mpsc_send_init(&p->send, p->tx, &p->msg);
		WEFT_TRY(&p->co, weft_mpsc_send_poll(&p->send, cx), p->send.result);
	}
	WEFT_END(&p->co);
}

static void mpsc_producer_drop(weft_future *f)
{
	mpsc_producer *p = (mpsc_producer *)f;
	weft_mpsc_send_drop(&p->send);
	weft_mpsc_sender_close(p->tx);
}

/* Spawns the producers, then is the consumer: receives until every
 * producer has dropped its sender. */
typedef struct mpsc_root {
	weft_future fut;
	weft_coro co;
	weft_mpsc_sender *tx;
	weft_mpsc_receiver *rx;
	weft_mpsc_recv_future recv;
	uint64_t msg;
	long received;
} mpsc_root;

static weft_poll mpsc_root_poll(weft_future *f, weft_cx *cx)
{
	mpsc_root *r = (mpsc_root *)f;
	WEFT_BEGIN(&r->co);
	for (int i = 0; i < MPSC_PRODUCERS; i++) {
		mpsc_producer p = { .fut = WEFT_FUTURE(mpsc_producer_poll, mpsc_producer_drop),
				    .tx = weft_mpsc_sender_clone(r->tx) };
		int rc = weft_spawn_detached(weft_cx_runtime(cx), &p.fut, sizeof p);
		if (rc < 0)
			die("spawn", rc);
	}
	weft_mpsc_sender_close(r->tx);
	r->tx = NULL;
	for (;;) {
		weft_mpsc_recv_init(&r->recv, r->rx, &r->msg);
		WEFT_AWAIT(&r->co, weft_mpsc_recv_poll(&r->recv, cx));
		if (r->recv.result < 0)
			break;
		r->received++;
	}
	WEFT_END(&r->co);
}

static void mpsc_root_drop(weft_future *f)
{
	weft_mpsc_recv_drop(&((mpsc_root *)f)->recv);
}

static void bench_mpsc(uint32_t workers)
{
	mpsc_root r = { .fut = WEFT_FUTURE(mpsc_root_poll, mpsc_root_drop) };
	int rc = weft_mpsc_new(MPSC_CAPACITY, sizeof(uint64_t), &r.tx, &r.rx);
	if (rc < 0)
		die("mpsc_new", rc);
	double secs = run_root(workers, &r.fut);
	weft_mpsc_receiver_close(r.rx);
	if (r.received != MPSC_PRODUCERS * MPSC_PER_PRODUCER)
		die("mpsc: messages lost", -EPROTO);
	report("mpsc", (double)r.received, secs);
}

/* ----------------------------------------------------------- mutex */

#define MUTEX_TASKS 1000L
#define MUTEX_ROUNDS 200L
#define MUTEX_WORKERS 2u

typedef struct mutex_task {
	weft_future fut;
	weft_coro co;
	weft_mutex *m;
	long *counter;     /* guarded by m */
	long i;
	weft_mutex_lock_future lock;
	latch *l;
} mutex_task;

static weft_poll mutex_task_poll(weft_future *f, weft_cx *cx)
{
	mutex_task *t = (mutex_task *)f;
	WEFT_BEGIN(&t->co);
	for (t->i = 0; t->i < MUTEX_ROUNDS; t->i++) {
		weft_mutex_lock_init(&t->lock, t->m);
		WEFT_TRY(&t->co, weft_mutex_lock_poll(&t->lock, cx), t->lock.result);
		++*t->counter;
		weft_mutex_unlock(t->m);
	}
	latch_count_down(t->l);
	WEFT_END(&t->co);
}

static void mutex_task_drop(weft_future *f)
{
	weft_mutex_lock_drop(&((mutex_task *)f)->lock);
}

typedef struct mutex_root {
	weft_future fut;
	weft_coro co;
	weft_mutex m;
	long counter;
	latch l;
	latch_wait wait;
} mutex_root;

static weft_poll mutex_root_poll(weft_future *f, weft_cx *cx)
{
	mutex_root *r = (mutex_root *)f;
	WEFT_BEGIN(&r->co);
	for (long i = 0; i < MUTEX_TASKS; i++) {
		mutex_task t = { .fut = WEFT_FUTURE(mutex_task_poll, mutex_task_drop),
				 .m = &r->m, .counter = &r->counter, .l = &r->l };
		int rc = weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t);
		if (rc < 0)
			die("spawn", rc);
	}
	r->wait = (latch_wait){ .fut = WEFT_FUTURE(latch_wait_poll, NULL), .l = &r->l };
	WEFT_AWAIT(&r->co, latch_wait_poll(&r->wait.fut, cx));
	WEFT_END(&r->co);
}

/* Contended lock/unlock: 1,000 tasks on 2 workers of the multi-thread
 * flavour (whatever --workers and --flavour say, so the lock is always
 * contended across threads). */
static void bench_mutex(uint32_t workers)
{
	(void)workers;
	mutex_root r = { .fut = WEFT_FUTURE(mutex_root_poll, NULL) };
	weft_mutex_init(&r.m);
	latch_init(&r.l, MUTEX_TASKS);
	double secs = run_root_flavour(MUTEX_WORKERS, WEFT_FLAVOUR_MULTI_THREAD, &r.fut);
	latch_check(&r.l, "mutex: not every task finished");
	latch_fini(&r.l);
	weft_mutex_close(&r.m);
	if (r.counter != MUTEX_TASKS * MUTEX_ROUNDS)
		die("mutex: updates lost", -EPROTO);
	report("mutex", (double)r.counter, secs);
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
	{ "ping_pong", bench_ping_pong },
	{ "spawn_many_remote", bench_spawn_many_remote },
	{ "timers", bench_timers },
	{ "idle_memory", bench_idle_memory },
	{ "mpsc", bench_mpsc },
	{ "mutex", bench_mutex },
};

#define NBENCH (sizeof benches / sizeof benches[0])

static void usage(void)
{
	fprintf(stderr, "usage: weft-bench-rt [--workers N] [--flavour current|multi] [--runs R] "
			"BENCH...\n"
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
		else if (strcmp(argv[first], "--flavour") == 0 && first + 1 < argc &&
			 strcmp(argv[first + 1], "current") == 0)
			bench_flavour = WEFT_FLAVOUR_CURRENT_THREAD, first++;
		else if (strcmp(argv[first], "--flavour") == 0 && first + 1 < argc &&
			 strcmp(argv[first + 1], "multi") == 0)
			bench_flavour = WEFT_FLAVOUR_MULTI_THREAD, first++;
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
