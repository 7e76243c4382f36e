/* test_sched.c - the scheduler seen from its config and its figures: the
 * config's size rule, the flavour (auto, current-thread, multi-thread
 * with one worker), busy time, the poll-time histogram and the watchdog.
 * Busy time, poll times and the watchdog measure real time (a task that
 * spins on the CPU), so those tests spin for a few milliseconds and
 * assert lower bounds only, or wait, bounded, for the report. */
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static weft_runtime_metrics rt_metrics(weft_runtime *rt)
{
	weft_runtime_metrics m;
	assert_int_equal(weft_runtime_metrics_get(rt, &m, sizeof m), 0);
	return m;
}

static weft_worker_metrics worker_metrics(weft_runtime *rt, uint32_t i)
{
	weft_worker_metrics m;
	assert_int_equal(weft_runtime_worker_metrics(rt, i, &m, sizeof m), 0);
	return m;
}

static uint64_t histogram_total(const weft_worker_metrics *m)
{
	uint64_t total = 0;
	for (unsigned b = 0; b < WEFT_POLL_TIME_BUCKETS; b++)
		total += m->poll_time_histogram[b];
	return total;
}

/* Worker 0's figures once its batch is over: a multi-thread worker adds
 * a poll's time after the poll (which woke block_on) and its busy time
 * when it next sleeps, so wait (at most 10 s) until @polls polls are in
 * the histogram (@timed) and busy time reaches @busy_ns. */
static weft_worker_metrics settled_metrics(weft_runtime *rt, bool timed, uint64_t polls,
					   uint64_t busy_ns)
{
	uint64_t until = test_now_us() + 10000000;
	weft_worker_metrics m = worker_metrics(rt, 0);
	/* Both: the histogram alone once let a read fall between the last
	 * poll and its batch's busy time (caught by the perturbation mode,
	 * WEFT_PERTURB_SEED=10 on test_sched). */
	while (((timed && histogram_total(&m) < polls) || m.busy_ns < busy_ns) &&
	       test_now_us() < until) {
		usleep(1000);
		m = worker_metrics(rt, 0);
	}
	return m;
}

/* ------------------------------------------------------ config size */

static void a_config_with_size_zero_is_refused(void **state)
{
	(void)state;
	weft_runtime *rt = NULL;
	weft_runtime_config cfg = { .workers = 1 };   /* size left 0 */
	assert_int_equal(weft_runtime_new(&rt, &cfg), -EINVAL);
	assert_null(rt);
}

static void a_config_smaller_than_the_library_knows_is_refused(void **state)
{
	(void)state;
	weft_runtime *rt = NULL;
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	cfg.size = sizeof cfg - 1;
	assert_int_equal(weft_runtime_new(&rt, &cfg), -EINVAL);
	cfg.size = sizeof(uint32_t);
	assert_int_equal(weft_runtime_new(&rt, &cfg), -EINVAL);
	assert_null(rt);
}

/* What a program built against a newer header passes: this library's
 * config followed by fields it does not know. */
typedef struct newer_config {
	weft_runtime_config known;
	uint64_t later_field;
	uint32_t another;
} newer_config;

static void a_larger_config_is_accepted_only_with_a_zero_tail(void **state)
{
	(void)state;
	newer_config big = { .known = { .size = sizeof big, .workers = 1 } };
	weft_runtime *rt = NULL;
	assert_int_equal(weft_runtime_new(&rt, &big.known), 0);
	assert_non_null(rt);
	assert_int_equal(rt_metrics(rt).workers, 1);
	weft_runtime_close(rt);

	rt = NULL;
	big.later_field = 1;   /* a setting this library cannot honour */
	assert_int_equal(weft_runtime_new(&rt, &big.known), -EINVAL);
	big.later_field = 0;
	big.another = 0x100;
	assert_int_equal(weft_runtime_new(&rt, &big.known), -EINVAL);
	assert_null(rt);
}

static void the_config_init_macro_and_a_null_config_give_the_defaults(void **state)
{
	(void)state;
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	assert_int_equal(cfg.size, sizeof cfg);
	assert_int_equal(cfg.workers, 0);
	assert_int_equal(cfg.flavour, WEFT_FLAVOUR_AUTO);
	assert_int_equal(cfg.watchdog_ns, 0);
	weft_runtime *a = NULL, *b = NULL;
	assert_int_equal(weft_runtime_new(&a, &cfg), 0);
	assert_int_equal(weft_runtime_new(&b, NULL), 0);
	weft_runtime_metrics ma = rt_metrics(a), mb = rt_metrics(b);
	assert_int_equal(ma.workers, mb.workers);
	assert_int_equal(ma.flavour, mb.flavour);
	assert_int_equal(ma.flavour, ma.workers == 1 ? WEFT_FLAVOUR_CURRENT_THREAD
						     : WEFT_FLAVOUR_MULTI_THREAD);
	weft_runtime_close(a);
	weft_runtime_close(b);
}

/* ---------------------------------------------------------- flavour */

static void flavour_values_and_worker_counts_are_checked(void **state)
{
	(void)state;
	weft_runtime *rt = NULL;
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	cfg.flavour = 3;
	assert_int_equal(weft_runtime_new(&rt, &cfg), -EINVAL);
	cfg.flavour = WEFT_FLAVOUR_CURRENT_THREAD;
	cfg.workers = 2;   /* a current-thread runtime has one */
	assert_int_equal(weft_runtime_new(&rt, &cfg), -EINVAL);
	cfg.flavour = WEFT_FLAVOUR_MULTI_THREAD;
	cfg.workers = WEFT_MAX_WORKERS + 1;
	assert_int_equal(weft_runtime_new(&rt, &cfg), -EINVAL);
	assert_null(rt);
}

static void auto_picks_current_thread_for_one_worker_and_multi_thread_for_more(void **state)
{
	(void)state;
	static const struct {
		uint32_t flavour, workers, want_flavour, want_workers;
	} cases[] = {
		{ WEFT_FLAVOUR_AUTO, 1, WEFT_FLAVOUR_CURRENT_THREAD, 1 },
		{ WEFT_FLAVOUR_AUTO, 2, WEFT_FLAVOUR_MULTI_THREAD, 2 },
		{ WEFT_FLAVOUR_CURRENT_THREAD, 0, WEFT_FLAVOUR_CURRENT_THREAD, 1 },
		{ WEFT_FLAVOUR_CURRENT_THREAD, 1, WEFT_FLAVOUR_CURRENT_THREAD, 1 },
		{ WEFT_FLAVOUR_MULTI_THREAD, 1, WEFT_FLAVOUR_MULTI_THREAD, 1 },
		{ WEFT_FLAVOUR_MULTI_THREAD, 3, WEFT_FLAVOUR_MULTI_THREAD, 3 },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
		cfg.flavour = cases[i].flavour;
		cfg.workers = cases[i].workers;
		weft_runtime *rt = NULL;
		assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
		weft_runtime_metrics m = rt_metrics(rt);
		assert_int_equal(m.flavour, cases[i].want_flavour);
		assert_int_equal(m.workers, cases[i].want_workers);
		weft_worker_metrics wm;
		assert_int_equal(weft_runtime_worker_metrics(rt, m.workers, &wm, sizeof wm),
				 -EINVAL);
		weft_runtime_close(rt);
	}
}

/* Records the thread that polls it; ready at once. */
typedef struct where_task {
	weft_future fut;
	pthread_t thread;
	atomic_int *done;
} where_task;

static weft_poll where_poll(weft_future *f, weft_cx *cx)
{
	(void)cx;
	where_task *t = (where_task *)f;
	t->thread = pthread_self();
	atomic_store(t->done, 1);
	return WEFT_READY;
}

/* Awaits a join handle. */
typedef struct join_root {
	weft_future fut;
	weft_join_handle *h;
	int status;
} join_root;

static weft_poll join_root_poll(weft_future *f, weft_cx *cx)
{
	join_root *r = (join_root *)f;
	return weft_join_handle_poll(r->h, cx, &r->status);
}

static pthread_t task_thread(weft_runtime *rt)
{
	atomic_int done = 0;
	where_task t = { .fut = WEFT_FUTURE(where_poll, NULL), .done = &done };
	join_root r = { .fut = WEFT_FUTURE(join_root_poll, NULL) };
	assert_int_equal(weft_spawn(rt, &t.fut, sizeof t, &r.h), 0);
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.status, 0);
	pthread_t th = ((where_task *)weft_join_handle_output(r.h))->thread;
	weft_join_handle_close(r.h);
	return th;
}

/* A root future pending until *gate is set; polls it every millisecond
 * through a helper thread's wake, so two block_ons can overlap. */
typedef struct gate_root {
	weft_future fut;
	atomic_int *gate;
	atomic_int *entered;
} gate_root;

static weft_poll gate_root_poll(weft_future *f, weft_cx *cx)
{
	gate_root *g = (gate_root *)f;
	atomic_store(g->entered, 1);
	if (atomic_load(g->gate))
		return WEFT_READY;
	weft_waker_wake_by_ref(cx->waker);   /* poll again soon */
	usleep(200);   /* a throttle on that loop, not synchronisation */
	return WEFT_PENDING;
}

typedef struct blocker_arg {
	weft_runtime *rt;
	atomic_int gate, entered;
	int rc;
} blocker_arg;

static void *blocker_main(void *arg)
{
	blocker_arg *b = arg;
	gate_root g = { .fut = WEFT_FUTURE(gate_root_poll, NULL), .gate = &b->gate,
			.entered = &b->entered };
	b->rc = weft_block_on(b->rt, &g.fut);
	return NULL;
}

/* Runs a block_on on another thread and, while it is inside, one here:
 * returns what the second one returned. */
static int second_block_on(weft_runtime *rt)
{
	blocker_arg b = { .rt = rt };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, blocker_main, &b), 0);
	assert_true(test_wait_flag(&b.entered, test_now_us() + 10000000));
	atomic_int open = 1, entered = 0;
	gate_root g = { .fut = WEFT_FUTURE(gate_root_poll, NULL), .gate = &open,
			.entered = &entered };
	int rc = weft_block_on(rt, &g.fut);
	atomic_store(&b.gate, 1);
	pthread_join(th, NULL);
	assert_int_equal(b.rc, 0);
	return rc;
}

static void a_one_worker_multi_thread_runtime_runs_tasks_on_its_worker(void **state)
{
	(void)state;
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	cfg.flavour = WEFT_FLAVOUR_MULTI_THREAD;
	cfg.workers = 1;
	weft_runtime *rt = NULL;
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	/* Tasks run on the worker thread, not the block_on thread. */
	pthread_t a = task_thread(rt), b = task_thread(rt);
	assert_false(pthread_equal(a, pthread_self()));
	assert_true(pthread_equal(a, b));   /* one worker: the same thread */
	/* Two threads may be inside block_on at once. */
	assert_int_equal(second_block_on(rt), 0);
	assert_true(worker_metrics(rt, 0).polls >= 2);
	weft_runtime_close(rt);

	/* The current-thread flavour with the same count: the opposite. */
	cfg.flavour = WEFT_FLAVOUR_CURRENT_THREAD;
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	assert_true(pthread_equal(task_thread(rt), pthread_self()));
	assert_int_equal(second_block_on(rt), -EBUSY);
	weft_runtime_close(rt);
}

/* ------------------------------------------ fairness on one worker */

/*
 * The mechanisms that keep one busy worker fair, each shown by the task
 * it must let through: the LIFO slot's cap (a task in the local queue
 * runs while two tasks wake each other), the inject-queue check every
 * global_queue_interval ticks (a task queued from outside runs while the
 * local queue never empties), and the driver poll every event_interval
 * ticks (I/O is seen while the worker never sleeps). One worker of the
 * multi-thread flavour, so nothing else can run the task that must get
 * its turn: without the mechanism it runs only after the busy tasks give
 * up (a bound of polls or seconds), which the test reports as a failure.
 */

/* Two tasks that wake each other on every poll. On one worker each wake
 * comes from the task that is running, so the woken task goes to the
 * LIFO slot. The slots and counters are touched on the worker only. */
typedef struct ping_pong {
	weft_waker waker[2];
	atomic_long polls;      /* polls of either task */
	atomic_int stop;        /* the task that must get its turn has run */
	atomic_int gave_up;     /* the pair reached its bound first */
	long max_polls;         /* bound by polls (0: none) */
	atomic_ullong until_us; /* bound by time (0: none), set by the test */
} ping_pong;

typedef struct ping_pong_task {
	weft_future fut;
	ping_pong *pp;
	int side;
} ping_pong_task;

static weft_poll ping_pong_poll(weft_future *f, weft_cx *cx)
{
	ping_pong_task *t = (ping_pong_task *)f;
	ping_pong *pp = t->pp;
	long n = atomic_fetch_add(&pp->polls, 1) + 1;
	weft_waker *other = &pp->waker[1 - t->side];
	uint64_t until = atomic_load(&pp->until_us);
	bool bound = (pp->max_polls && n >= pp->max_polls) ||
		     (until && n % 1024 == 0 && test_now_us() > until);
	if (bound)
		atomic_store(&pp->gave_up, 1);
	if (atomic_load(&pp->stop) || atomic_load(&pp->gave_up)) {
		if (other->vtable)
			weft_waker_wake_by_ref(other);   /* so it ends too */
		return WEFT_READY;
	}
	weft_waker_store(&pp->waker[t->side], cx->waker);
	if (other->vtable)
		weft_waker_wake_by_ref(other);
	return WEFT_PENDING;
}

/* The task that must get its turn: records how many polls the pair had
 * made when it ran, and stops the pair. With yield_first it first goes
 * to the back of the local queue (a wake while it runs). */
typedef struct turn_task {
	weft_future fut;
	ping_pong *pp;
	bool yield_first;
	atomic_long *ran_at;    /* -1 until it runs */
} turn_task;

static weft_poll turn_task_poll(weft_future *f, weft_cx *cx)
{
	turn_task *t = (turn_task *)f;
	if (t->yield_first) {
		t->yield_first = false;
		weft_waker_wake_by_ref(cx->waker);
		return WEFT_PENDING;
	}
	atomic_store(t->ran_at, atomic_load(&t->pp->polls));
	atomic_store(&t->pp->stop, 1);
	return WEFT_READY;
}

/* Runs on the worker and spawns from there: the pair, and (if set) the
 * task that must get its turn. Spawns from a running task go to the LIFO
 * slot, pushing its previous occupant to the back of the local queue. */
typedef struct pair_starter {
	weft_future fut;
	ping_pong *pp;
	turn_task *turn;        /* NULL: spawn only the pair */
	atomic_int *failed;
} pair_starter;

static weft_poll pair_starter_poll(weft_future *f, weft_cx *cx)
{
	pair_starter *s = (pair_starter *)f;
	weft_runtime *rt = weft_cx_runtime(cx);
	for (int side = 0; side < 2; side++) {
		ping_pong_task t = { .fut = WEFT_FUTURE(ping_pong_poll, NULL), .pp = s->pp,
				     .side = side };
		if (weft_spawn_detached(rt, &t.fut, sizeof t) != 0)
			atomic_store(s->failed, 1);
	}
	if (s->turn && weft_spawn_detached(rt, &s->turn->fut, sizeof *s->turn) != 0)
		atomic_store(s->failed, 1);
	return WEFT_READY;
}

static weft_runtime *one_worker_mt(void)
{
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	cfg.flavour = WEFT_FLAVOUR_MULTI_THREAD;
	cfg.workers = 1;
	weft_runtime *rt = NULL;
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	return rt;
}

static long wait_ran_at(atomic_long *ran_at)
{
	uint64_t until = test_now_us() + 20000000;
	while (atomic_load(ran_at) < 0 && test_now_us() < until)
		usleep(100);
	return atomic_load(ran_at);
}

/* The LIFO slot's cap: two tasks waking each other run from the slot at
 * most a few times in a row, then the next goes to the back of the local
 * queue, so a task queued there runs long before the pair is done. The
 * starter spawns the pair and then the turn task, which lands in the
 * slot, runs first and yields to the back of the queue, behind the pair:
 * the pair's ping-pong starts with it queued. */
static void the_lifo_slot_cannot_starve_the_local_queue(void **state)
{
	(void)state;
	weft_runtime *rt = one_worker_mt();
	ping_pong pp = { .max_polls = 100000 };
	atomic_long ran_at = -1;
	atomic_int failed = 0;
	turn_task turn = { .fut = WEFT_FUTURE(turn_task_poll, NULL), .pp = &pp,
			   .yield_first = true, .ran_at = &ran_at };
	pair_starter st = { .fut = WEFT_FUTURE(pair_starter_poll, NULL), .pp = &pp,
			    .turn = &turn, .failed = &failed };
	assert_int_equal(weft_spawn_detached(rt, &st.fut, sizeof st), 0);
	long at = wait_ran_at(&ran_at);
	uint64_t lifo_hits = worker_metrics(rt, 0).lifo_hits;
	weft_runtime_close(rt);   /* joins the worker: the slots are ours */
	weft_waker_drop(&pp.waker[0]);
	weft_waker_drop(&pp.waker[1]);
	assert_int_equal(atomic_load(&failed), 0);
	assert_true(at >= 0);
	/* The pair ran from the slot (the mechanism under test) ... */
	assert_true(lifo_hits >= 2);
	/* ... and the queued task ran within a few polls of the pair, not
	 * after its 100,000. */
	assert_false(atomic_load(&pp.gave_up));
	assert_true(at < 100);
}

/* The inject-queue check: a task spawned from outside while the worker's
 * local queue never empties (the pair, capped out of the LIFO slot into
 * the queue and back) runs when the worker looks at the inject queue
 * every global_queue_interval ticks, not when the pair gives up. */
static void a_remote_task_runs_while_the_local_queue_never_empties(void **state)
{
	(void)state;
	weft_runtime *rt = one_worker_mt();
	/* The bound only ends the test when the check is missing: 60 s
	 * until the remote task is queued, then 5 s. */
	ping_pong pp = { .until_us = test_now_us() + 60000000 };
	atomic_long ran_at = -1;
	atomic_int failed = 0;
	pair_starter st = { .fut = WEFT_FUTURE(pair_starter_poll, NULL), .pp = &pp,
			    .failed = &failed };
	assert_int_equal(weft_spawn_detached(rt, &st.fut, sizeof st), 0);
	uint64_t until = test_now_us() + 30000000;
	while (atomic_load(&pp.polls) < 1000 && test_now_us() < until)
		usleep(100);
	bool pair_running = atomic_load(&pp.polls) >= 1000;
	uint64_t remote_before = worker_metrics(rt, 0).remote_schedules;
	turn_task turn = { .fut = WEFT_FUTURE(turn_task_poll, NULL), .pp = &pp,
			   .ran_at = &ran_at };
	assert_int_equal(weft_spawn_detached(rt, &turn.fut, sizeof turn), 0);
	atomic_store(&pp.until_us, test_now_us() + 5000000);
	long at = wait_ran_at(&ran_at);
	uint64_t remote_after = worker_metrics(rt, 0).remote_schedules;
	weft_runtime_close(rt);
	weft_waker_drop(&pp.waker[0]);
	weft_waker_drop(&pp.waker[1]);
	assert_int_equal(atomic_load(&failed), 0);
	assert_true(pair_running);
	assert_true(at >= 0);
	assert_false(atomic_load(&pp.gave_up));   /* it ran while the pair ran */
	assert_true(remote_after > remote_before);   /* taken from the inject queue */
}

/* Yields until the acceptor has its connection, or gives up at until_us
 * (60 s, then 5 s once the client has connected). */
typedef struct busy_yielder {
	weft_future fut;
	atomic_int *accepted, *gave_up, *started;
	atomic_ullong *until_us;
} busy_yielder;

static weft_poll busy_yielder_poll(weft_future *f, weft_cx *cx)
{
	busy_yielder *y = (busy_yielder *)f;
	atomic_store(y->started, 1);
	if (atomic_load(y->accepted))
		return WEFT_READY;
	if (test_now_us() > atomic_load(y->until_us)) {
		atomic_store(y->gave_up, 1);
		return WEFT_READY;
	}
	weft_waker_wake_by_ref(cx->waker);   /* to the back of the queue */
	return WEFT_PENDING;
}

typedef struct acceptor {
	weft_future fut;
	weft_listener *lis;
	atomic_int *waiting, *accepted, *yielder_gave_up;
} acceptor;

static weft_poll acceptor_poll(weft_future *f, weft_cx *cx)
{
	acceptor *a = (acceptor *)f;
	weft_stream *s = NULL;
	int res;
	if (weft_listener_poll_accept(a->lis, cx, &s, &res) == WEFT_PENDING) {
		atomic_store(a->waiting, 1);
		return WEFT_PENDING;
	}
	if (res == 0) {
		weft_stream_close(s);
		/* Seen while the yielder still held the worker? */
		atomic_store(a->accepted, atomic_load(a->yielder_gave_up) ? 2 : 1);
	} else {
		atomic_store(a->accepted, 3);
	}
	return WEFT_READY;
}

/* The driver poll of a busy worker: a worker that always has a task to
 * run never sleeps in the driver, so it polls the driver (without
 * sleeping) every event_interval ticks; a connection that arrives while
 * a task keeps yielding is accepted then, not when the worker is idle. */
static void a_busy_worker_still_polls_the_driver_for_io(void **state)
{
	(void)state;
	weft_runtime *rt = one_worker_mt();
	weft_listener *lis = NULL;
	assert_int_equal(weft_tcp_listen(&lis, "127.0.0.1:0", 16), 0);
	weft_addr addr;
	assert_int_equal(weft_listener_local_addr(lis, &addr), 0);
	atomic_int waiting = 0, accepted = 0, gave_up = 0, started = 0;
	acceptor a = { .fut = WEFT_FUTURE(acceptor_poll, NULL), .lis = lis,
		       .waiting = &waiting, .accepted = &accepted,
		       .yielder_gave_up = &gave_up };
	assert_int_equal(weft_spawn_detached(rt, &a.fut, sizeof a), 0);
	uint64_t until = test_now_us() + 30000000;
	assert_true(test_wait_flag(&waiting, until));
	atomic_ullong yield_until = test_now_us() + 60000000;
	busy_yielder y = { .fut = WEFT_FUTURE(busy_yielder_poll, NULL), .accepted = &accepted,
			   .gave_up = &gave_up, .started = &started, .until_us = &yield_until };
	assert_int_equal(weft_spawn_detached(rt, &y.fut, sizeof y), 0);
	assert_true(test_wait_flag(&started, until));
	/* The kernel completes the handshake from the backlog: the listener
	 * is readable now, and only a driver poll can tell the acceptor. */
	int fd = socket(addr.u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, &addr.u.sa, addr.len), 0);
	atomic_store(&yield_until, test_now_us() + 5000000);
	bool done = test_wait_flag(&accepted, test_now_us() + 20000000);
	weft_runtime_close(rt);
	close(fd);
	weft_listener_close(lis);
	assert_true(done);
	assert_int_equal(atomic_load(&accepted), 1);   /* while the yielder ran */
	assert_false(atomic_load(&gave_up));
}

/* ---------------------------------------------------- busy and polls */

/* Spins on the CPU for spin_ns on its first poll, then is ready after
 * `quick` more polls that return at once. */
typedef struct spinner {
	weft_future fut;
	uint64_t spin_ns;
	int quick;
} spinner;

static weft_poll spinner_poll(weft_future *f, weft_cx *cx)
{
	spinner *s = (spinner *)f;
	if (s->spin_ns) {
		uint64_t until = mono_ns() + s->spin_ns;
		while (mono_ns() < until)
			;
		s->spin_ns = 0;
	}
	if (s->quick-- > 0) {
		weft_waker_wake_by_ref(cx->waker);
		return WEFT_PENDING;
	}
	return WEFT_READY;
}

static weft_runtime *new_flavour_rt(uint32_t flavour, bool histogram, uint64_t watchdog_ns)
{
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	cfg.flavour = flavour;
	cfg.workers = 1;
	cfg.poll_time_histogram = histogram;
	cfg.watchdog_ns = watchdog_ns;
	weft_runtime *rt = NULL;
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	return rt;
}

static void run_spinner(weft_runtime *rt, uint64_t spin_ns, int quick)
{
	spinner s = { .fut = WEFT_FUTURE(spinner_poll, NULL), .spin_ns = spin_ns,
		      .quick = quick };
	join_root r = { .fut = WEFT_FUTURE(join_root_poll, NULL) };
	assert_int_equal(weft_spawn(rt, &s.fut, sizeof s, &r.h), 0);
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.status, 0);
	weft_join_handle_close(r.h);
}

static void busy_time_counts_the_time_tasks_spend_polling(void **state)
{
	(void)state;
	const uint32_t flavours[] = { WEFT_FLAVOUR_CURRENT_THREAD, WEFT_FLAVOUR_MULTI_THREAD };
	for (size_t i = 0; i < 2; i++) {
		weft_runtime *rt = new_flavour_rt(flavours[i], false, 0);
		assert_int_equal(worker_metrics(rt, 0).busy_ns, 0);
		run_spinner(rt, 5000000, 3);
		weft_worker_metrics m = settled_metrics(rt, false, 4, 5000000);
		assert_true(m.busy_ns >= 5000000);
		assert_int_equal(m.polls, 4);
		for (unsigned b = 0; b < WEFT_POLL_TIME_BUCKETS; b++)
			assert_int_equal(m.poll_time_histogram[b], 0);   /* not asked for */
		weft_runtime_close(rt);
	}
}

static void the_poll_time_histogram_puts_each_poll_in_its_power_of_two_bucket(void **state)
{
	(void)state;
	const uint32_t flavours[] = { WEFT_FLAVOUR_CURRENT_THREAD, WEFT_FLAVOUR_MULTI_THREAD };
	for (size_t i = 0; i < 2; i++) {
		weft_runtime *rt = new_flavour_rt(flavours[i], true, 0);
		run_spinner(rt, 3000000, 20);   /* one poll of 3 ms, 20 quick ones */
		weft_worker_metrics m = settled_metrics(rt, true, 21, 3000000);
		assert_int_equal(m.polls, 21);
		assert_int_equal(histogram_total(&m), 21);
		/* 3 ms is in [2^21, 2^22) ns: bucket 12, or later if the
		 * spinning thread was preempted. A quick poll lands there
		 * only if the thread lost its CPU for 2 ms during it (a
		 * loaded machine), which cannot happen to all twenty. */
		uint64_t long_ones = 0;
		for (unsigned b = 12; b < WEFT_POLL_TIME_BUCKETS; b++)
			long_ones += m.poll_time_histogram[b];
		assert_true(long_ones >= 1);
		assert_true(long_ones < 21);
		assert_true(m.busy_ns >= 3000000);
		assert_true(WEFT_POLL_TIME_BUCKET_MIN_NS(12) <= 3000000);
		assert_true(WEFT_POLL_TIME_BUCKET_MIN_NS(13) > 3000000);
		weft_runtime_close(rt);
	}
}

/* --------------------------------------------------------- watchdog */

/* Holds its worker until the watchdog has reported it (or 10 s). */
typedef struct hog {
	weft_future fut;
	weft_runtime *rt;
	bool seen;
} hog;

static weft_poll hog_poll(weft_future *f, weft_cx *cx)
{
	(void)cx;
	hog *h = (hog *)f;
	uint64_t until = mono_ns() + 10000000000u;
	while (mono_ns() < until && !h->seen)
		h->seen = rt_metrics(h->rt).watchdog_reports > 0;
	return WEFT_READY;
}

/* Runs @fn with stderr going to a file; returns what was written. */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
	char path[] = "/tmp/weft-test-sched-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fd, 2) == 2);
	fn(arg);
	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	static char buf[4096];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	buf[n > 0 ? n : 0] = 0;
	return buf;
}

typedef struct hog_run {
	uint32_t flavour;
	bool no_site;  /* spawned through the function: no weft_location */
	int line;      /* where the hog was spawned */
	bool seen;
	uint64_t reports;
} hog_run;

static void hog_run_main(void *arg)
{
	hog_run *hr = arg;
	weft_runtime *rt = new_flavour_rt(hr->flavour, false, 20000000);   /* 20 ms */
	hog h = { .fut = WEFT_FUTURE(hog_poll, NULL), .rt = rt };
	join_root r = { .fut = WEFT_FUTURE(join_root_poll, NULL) };
	if (hr->no_site) {
		/* The parentheses call the function, not the macro that
		 * records the line. */
		assert_int_equal((weft_spawn)(rt, &h.fut, sizeof h, &r.h), 0);
	} else {
		hr->line = __LINE__ + 1;
		assert_int_equal(weft_spawn(rt, &h.fut, sizeof h, &r.h), 0);
	}
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	hr->seen = ((hog *)weft_join_handle_output(r.h))->seen;
	weft_join_handle_close(r.h);
	hr->reports = rt_metrics(rt).watchdog_reports;
	weft_runtime_close(rt);
}

static void the_watchdog_reports_a_task_that_holds_its_worker_naming_its_spawn_site(void **state)
{
	(void)state;
	const uint32_t flavours[] = { WEFT_FLAVOUR_CURRENT_THREAD, WEFT_FLAVOUR_MULTI_THREAD };
	for (size_t i = 0; i < 2; i++) {
		hog_run hr = { .flavour = flavours[i] };
		const char *err = capture_stderr(hog_run_main, &hr);
		assert_true(hr.seen);              /* reported while it still held */
		assert_int_equal(hr.reports, 1);   /* once per poll */
		char site[64];
		snprintf(site, sizeof site, "test_sched.c:%d", hr.line);
		assert_non_null(strstr(err, "weft: watchdog:"));
		assert_non_null(strstr(err, site));
		assert_non_null(strstr(err, "hog_run_main"));
		assert_non_null(strstr(err, "worker 0"));
	}
	/* A task spawned without a location is reported all the same. */
	hog_run hr = { .flavour = WEFT_FLAVOUR_CURRENT_THREAD, .no_site = true };
	const char *err = capture_stderr(hog_run_main, &hr);
	assert_true(hr.seen);
	assert_int_equal(hr.reports, 1);
	assert_non_null(strstr(err, "spawned at (unknown)"));
}

/* Pending (not polling) for longer than the threshold: a sleep of real
 * time, 100 ms against a 20 ms threshold. */
static void the_watchdog_ignores_a_task_that_waits_without_holding_its_worker(void **state)
{
	(void)state;
	weft_runtime *rt = new_flavour_rt(WEFT_FLAVOUR_MULTI_THREAD, false, 20000000);
	weft_sleep s;
	weft_sleep_init(&s, WEFT_MS(100));
	assert_int_equal(weft_block_on(rt, &s.fut), 0);
	assert_int_equal(rt_metrics(rt).watchdog_reports, 0);
	weft_runtime_close(rt);

	/* Off (0): a long poll is not reported. */
	rt = new_flavour_rt(WEFT_FLAVOUR_CURRENT_THREAD, false, 0);
	run_spinner(rt, 30000000, 0);
	assert_int_equal(rt_metrics(rt).watchdog_reports, 0);
	weft_runtime_close(rt);
}

static atomic_int hook_starts, hook_stops;

static void count_start(void *arg)
{
	assert_ptr_equal(arg, &hook_starts);
	atomic_fetch_add(&hook_starts, 1);
}

static void count_stop(void *arg)
{
	assert_ptr_equal(arg, &hook_starts);
	atomic_fetch_add(&hook_stops, 1);
}

/* The watchdog's thread is one of the runtime's threads: the config's
 * thread hooks run on it (a current-thread runtime starts no other). */
static void the_watchdog_thread_runs_the_thread_hooks(void **state)
{
	(void)state;
	atomic_store(&hook_starts, 0);
	atomic_store(&hook_stops, 0);
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
	cfg.flavour = WEFT_FLAVOUR_CURRENT_THREAD;
	cfg.watchdog_ns = 1000000000;
	cfg.on_thread_start = count_start;
	cfg.on_thread_stop = count_stop;
	cfg.hook_arg = &hook_starts;
	weft_runtime *rt = NULL;
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	weft_runtime_close(rt);   /* joins the watchdog */
	assert_int_equal(atomic_load(&hook_starts), 1);
	assert_int_equal(atomic_load(&hook_stops), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_config_with_size_zero_is_refused),
		cmocka_unit_test(a_config_smaller_than_the_library_knows_is_refused),
		cmocka_unit_test(a_larger_config_is_accepted_only_with_a_zero_tail),
		cmocka_unit_test(the_config_init_macro_and_a_null_config_give_the_defaults),
		cmocka_unit_test(flavour_values_and_worker_counts_are_checked),
		cmocka_unit_test(auto_picks_current_thread_for_one_worker_and_multi_thread_for_more),
		cmocka_unit_test(a_one_worker_multi_thread_runtime_runs_tasks_on_its_worker),
		cmocka_unit_test(the_lifo_slot_cannot_starve_the_local_queue),
		cmocka_unit_test(a_remote_task_runs_while_the_local_queue_never_empties),
		cmocka_unit_test(a_busy_worker_still_polls_the_driver_for_io),
		cmocka_unit_test(busy_time_counts_the_time_tasks_spend_polling),
		cmocka_unit_test(the_poll_time_histogram_puts_each_poll_in_its_power_of_two_bucket),
		cmocka_unit_test(the_watchdog_reports_a_task_that_holds_its_worker_naming_its_spawn_site),
		cmocka_unit_test(the_watchdog_ignores_a_task_that_waits_without_holding_its_worker),
		cmocka_unit_test(the_watchdog_thread_runs_the_thread_hooks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
