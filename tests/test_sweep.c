/*
 * test_sweep.c - every injected failure walked (issue 12).
 *
 * For each scenario below and each fault site of runtime/sys/sys.h (with
 * the errno that site fails with), the sweep fails call 1 of that site,
 * then call 2, then 3 ... until a run completes without reaching the
 * armed call (the fault was not consumed). Each run must:
 *  - end with 0 or a clean negative errno (> -4096) from the scenario,
 *    and 0 once the fault was not reached; an injected EINTR must be
 *    absorbed (retried): 0;
 *  - not crash, and not hang: a watchdog thread aborts the process,
 *    naming the run, when one takes longer than SWEEP_RUN_LIMIT_S;
 *  - leave the runtime usable where that makes sense: the scenario is
 *    run again, unarmed, on the same runtime and must succeed (unless the
 *    fault was the driver's own wait, whose failure is fatal to the
 *    runtime by design: then block_on must report that error);
 *  - leak nothing: after the runtime is closed, the open fds
 *    (/proc/self/fd) are what they were before the run and the bytes
 *    allocated (mallinfo2, or the sanitizer allocator's count in a
 *    sanitizer build, plus the task slabs mapped: weft__mapped_bytes)
 *    no more than before (a thread of an earlier run
 *    may free its last bytes during this one); LeakSanitizer checks
 *    again at exit.
 *
 * Determinism: the fault countdown is global, so the sweep runs on the
 * current-thread flavour, whose tasks all run on the thread in
 * weft_block_on. What still runs on other threads: the blocking pool
 * (blocking and fs scenarios) and the name-lookup pool (resolver). The
 * scenarios wait for each job before the next step, so the only
 * interleaving left is the thread in block_on turning the driver
 * (BACKEND_WAIT, READ on the wake-up eventfd) while a pool thread runs
 * its job (ALLOC, SOCKET for open, READ, WRITE, CLOCK, LOCK_INIT): for
 * those sites which call is "call n" may vary between runs, which is
 * fine for the sweep (every n is still run; the sweep only needs to end)
 * but means a failure there may not replay exactly. runtime_mt (two
 * workers) is swept only for the sites its creation alone reaches
 * (THREAD, LOCK_INIT), which are deterministic.
 *
 * Length: the whole sweep takes about a tenth of a second (gcc,
 * debugoptimized), so every build runs all of it; there is no subset.
 * The count of runs (scenario, site, n) is printed at the end.
 * WEFT_SWEEP_ONLY=scenario,site,n replays a single run.
 */
#include "helpers.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sys.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SWEEP_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SWEEP_SANITIZER 1
#endif

#ifdef SWEEP_SANITIZER
/* From the sanitizer runtime (its header ships with clang, not gcc). */
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t live_bytes(void)
{
	/* With the mappings of task slabs, which no allocator counts. */
	return __sanitizer_get_current_allocated_bytes() + weft__mapped_bytes();
}
#else
#include <malloc.h>
static size_t live_bytes(void)
{
	struct mallinfo2 m = mallinfo2();
	/* With the mappings of task slabs, which malloc does not count. */
	return m.uordblks + weft__mapped_bytes();
}
#endif

/* Open fds of the process (the directory's own fd counts both times). */
static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ------------------------------------------------------------ watchdog */

#define SWEEP_RUN_LIMIT_S 30
static _Atomic uint64_t watchdog_deadline_us;   /* 0: no run in progress */
static char watchdog_label[160];

static void *watchdog_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		/* Relaxed: a coarse timer; the label is written before the
		 * deadline is set (release) and read after (acquire). */
		uint64_t d = atomic_load_explicit(&watchdog_deadline_us, memory_order_acquire);
		if (d && test_now_us() > d) {
			fprintf(stderr, "sweep: run %s did not end within %d s\n",
				watchdog_label, SWEEP_RUN_LIMIT_S);
			abort();
		}
	}
	return NULL;
}

static void watchdog_start(void)
{
	static bool started;
	if (started)
		return;
	started = true;
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, watchdog_main, NULL), 0);
	pthread_detach(th);
}

static void watchdog_arm(const char *label)
{
	snprintf(watchdog_label, sizeof watchdog_label, "%s", label);
	/* Release: the label before the deadline (see watchdog_main). */
	atomic_store_explicit(&watchdog_deadline_us,
			      test_now_us() + SWEEP_RUN_LIMIT_S * 1000000ull,
			      memory_order_release);
}

static void watchdog_disarm(void)
{
	atomic_store_explicit(&watchdog_deadline_us, 0, memory_order_relaxed);
}

/* -------------------------------------------------------------- helpers */

/* A config of @workers workers, all else default (written so that it
 * builds before and after the config gains its leading size field). */
static weft_runtime_config config_of(uint32_t workers)
{
#ifdef WEFT_RUNTIME_CONFIG_INIT
	weft_runtime_config cfg = WEFT_RUNTIME_CONFIG_INIT;
#else
	weft_runtime_config cfg;
	memset(&cfg, 0, sizeof cfg);
#endif
	cfg.workers = workers;
	return cfg;
}

static weft_runtime *make_rt(bool real_clock)
{
	weft_runtime_config cfg = config_of(1);
	weft_runtime *rt = NULL;
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	if (!real_clock)
		assert_int_equal(weft_time_pause(rt), 0);
	return rt;
}

/* Work left for after the runtime's close: objects a task still alive
 * at the end of a scenario (its runtime failed) may use until the close
 * drops it. */
#define DEFER_MAX 4
static struct {
	void (*fn)(void *);
	void *arg;
} deferred[DEFER_MAX];
static int ndeferred;

static void defer(void (*fn)(void *), void *arg)
{
	assert_true(ndeferred < DEFER_MAX);
	deferred[ndeferred].fn = fn;
	deferred[ndeferred].arg = arg;
	ndeferred++;
}

static void run_deferred(void)
{
	while (ndeferred > 0) {
		ndeferred--;
		deferred[ndeferred].fn(deferred[ndeferred].arg);
	}
}

/* Keeps the first error. */
static void first_err(int *acc, int rc)
{
	if (rc < 0 && *acc == 0)
		*acc = rc;
}

/* A future that is READY at once, counting its drops. */
typedef struct leaf {
	weft_future fut;
	int *drops;
} leaf;

static weft_poll leaf_poll(weft_future *f, weft_cx *cx)
{
	(void)f;
	(void)cx;
	return WEFT_READY;
}

static void leaf_drop(weft_future *f)
{
	leaf *l = (leaf *)f;
	if (l->drops)
		++*l->drops;
}

/* A future that never completes. */
static weft_poll never_poll(weft_future *f, weft_cx *cx)
{
	(void)f;
	(void)cx;
	return WEFT_PENDING;
}

/* ---------------------------------------------- scenario: spawn and join */

typedef struct child {
	weft_future fut;
	weft_coro co;
	weft_yield_now y;
} child;

static weft_poll child_poll(weft_future *f, weft_cx *cx)
{
	child *c = (child *)f;
	WEFT_BEGIN(&c->co);
	weft_yield_now_init(&c->y);
	WEFT_AWAIT(&c->co, weft_yield_now_poll(&c->y, cx));
	{
		/* A task spawning a task, without a handle. */
		leaf l = { .fut = WEFT_FUTURE(leaf_poll, leaf_drop) };
		int rc = weft_spawn_detached(cx->runtime, &l.fut, sizeof l);
		if (rc < 0)
			WEFT_RETURN(&c->co, rc);
	}
	WEFT_END(&c->co);
}

#define SPAWN_CHILDREN 3
typedef struct spawn_main {
	weft_future fut;
	weft_coro co;
	weft_join_handle *h[SPAWN_CHILDREN + 1];
	weft_join_task jt;
	int i;
} spawn_main;

static weft_poll spawn_main_poll(weft_future *f, weft_cx *cx)
{
	spawn_main *s = (spawn_main *)f;
	WEFT_BEGIN(&s->co);
	for (s->i = 0; s->i < SPAWN_CHILDREN; s->i++) {
		child c = { .fut = WEFT_FUTURE(child_poll, NULL) };
		int rc = weft_spawn(cx->runtime, &c.fut, sizeof c, &s->h[s->i]);
		if (rc < 0)
			WEFT_RETURN(&s->co, rc);
	}
	{
		/* One that never ends, aborted. */
		weft_future nv = WEFT_FUTURE(never_poll, NULL);
		int rc = weft_spawn(cx->runtime, &nv, sizeof nv, &s->h[SPAWN_CHILDREN]);
		if (rc < 0)
			WEFT_RETURN(&s->co, rc);
		weft_join_handle_abort(s->h[SPAWN_CHILDREN]);
	}
	for (s->i = 0; s->i <= SPAWN_CHILDREN; s->i++) {
		weft_join_task_init(&s->jt, s->h[s->i]);
		WEFT_AWAIT(&s->co, weft_join_task_poll(&s->jt, cx));
		weft_join_task_drop(&s->jt);
		if (s->i == SPAWN_CHILDREN) {
			if (s->jt.result != -ECANCELED)
				WEFT_RETURN(&s->co, -EPROTO);
		} else if (s->jt.result < 0) {
			WEFT_RETURN(&s->co, s->jt.result);
		} else {
			child *c = weft_join_handle_output(s->h[s->i]);
			if (c->co.result < 0)
				WEFT_RETURN(&s->co, c->co.result);
		}
	}
	WEFT_END(&s->co);
}

static void spawn_main_drop(weft_future *f)
{
	spawn_main *s = (spawn_main *)f;
	weft_join_task_drop(&s->jt);
	for (int i = 0; i <= SPAWN_CHILDREN; i++) {
		weft_join_handle_close(s->h[i]);
		s->h[i] = NULL;
	}
}

static int run_main(weft_runtime *rt, weft_future *fut, const int *result)
{
	int rc = weft_block_on(rt, fut);
	return rc < 0 ? rc : *result;
}

static int scen_spawn(weft_runtime *rt)
{
	spawn_main s = { .fut = WEFT_FUTURE(spawn_main_poll, spawn_main_drop) };
	return run_main(rt, &s.fut, &s.co.result);
}

/* ------------------------------------------------------ scenario: timers */

typedef struct timers_main {
	weft_future fut;
	weft_coro co;
	weft_sleep sleep;
	weft_interval iv;
	weft_timeout to;
	weft_sleep inner_sleep;
	weft_future never;
	weft_instant tick;
	int i;
} timers_main;

static weft_poll timers_main_poll(weft_future *f, weft_cx *cx)
{
	timers_main *t = (timers_main *)f;
	WEFT_BEGIN(&t->co);
	weft_sleep_init(&t->sleep, WEFT_MS(5));
	WEFT_AWAIT(&t->co, weft_sleep_poll(&t->sleep, cx));
	weft_sleep_drop(&t->sleep);
	weft_interval_init(&t->iv, WEFT_MS(1), WEFT_MISSED_TICK_BURST);
	for (t->i = 0; t->i < 3; t->i++) {
		WEFT_AWAIT(&t->co, weft_interval_tick_poll(&t->iv, cx, &t->tick));
		if (t->iv.result < 0)
			WEFT_RETURN(&t->co, t->iv.result);
	}
	weft_interval_drop(&t->iv);
	/* A timeout that fires... */
	t->never = WEFT_FUTURE(never_poll, NULL);
	weft_timeout_init(&t->to, &t->never, WEFT_MS(2));
	WEFT_AWAIT(&t->co, weft_timeout_poll(&t->to, cx));
	weft_timeout_drop(&t->to);
	if (t->to.result != -ETIMEDOUT)
		WEFT_RETURN(&t->co, t->to.result < 0 ? t->to.result : -EPROTO);
	/* ... and one that does not. */
	weft_sleep_init(&t->inner_sleep, WEFT_MS(1));
	weft_timeout_init(&t->to, &t->inner_sleep.fut, WEFT_MS(10));
	WEFT_AWAIT(&t->co, weft_timeout_poll(&t->to, cx));
	weft_timeout_drop(&t->to);
	WEFT_RETURN(&t->co, t->to.result);
	WEFT_END(&t->co);
}

static void timers_main_drop(weft_future *f)
{
	timers_main *t = (timers_main *)f;
	weft_sleep_drop(&t->sleep);
	weft_interval_drop(&t->iv);
	weft_timeout_drop(&t->to);
}

/* The same on the running clock (a few ms of real time): its reads
 * (site CLOCK) are walked too. */
static int scen_timers_real(weft_runtime *rt)
{
	timers_main t = { .fut = WEFT_FUTURE(timers_main_poll, timers_main_drop) };
	return run_main(rt, &t.fut, &t.co.result);
}

static int scen_timers(weft_runtime *rt)
{
	timers_main t = { .fut = WEFT_FUTURE(timers_main_poll, timers_main_drop) };
	return run_main(rt, &t.fut, &t.co.result);
}

/* -------------------------------------------------------- scenario: sync */

typedef struct sync_objs {
	weft_semaphore sem;
	weft_mutex mu;
	weft_rwlock rw;
	weft_notify nt;
	weft_mpsc_sender *mtx;
	weft_mpsc_receiver *mrx;
	weft_oneshot_sender *otx;
	weft_oneshot_receiver *orx;
	weft_watch_sender *wtx;
	weft_watch_receiver *wrx;
	bool sem_ok, mu_ok, rw_ok, nt_ok;
} sync_objs;

/* The producer task: under the mutex, sends 3 messages, the oneshot, a
 * watch value, and a notify. */
typedef struct producer {
	weft_future fut;
	weft_coro co;
	sync_objs *o;
	weft_mutex_lock_future lk;
	weft_mpsc_send_future send;
	int i, msg;
	bool held;
} producer;

static weft_poll producer_poll(weft_future *f, weft_cx *cx)
{
	producer *p = (producer *)f;
	WEFT_BEGIN(&p->co);
	weft_mutex_lock_init(&p->lk, &p->o->mu);
	WEFT_TRY(&p->co, weft_mutex_lock_poll(&p->lk, cx), p->lk.result);
	weft_mutex_lock_drop(&p->lk);
	p->held = true;
	for (p->i = 0; p->i < 3; p->i++) {
		p->msg = 100 + p->i;
		weft_mpsc_send_init(&p->send, p->o->mtx, &p->msg);
		WEFT_TRY(&p->co, weft_mpsc_send_poll(&p->send, cx), p->send.result);
		weft_mpsc_send_drop(&p->send);
	}
	p->msg = 7;
	{
		int rc = weft_oneshot_send(p->o->otx, &p->msg);
		p->o->otx = NULL;   /* send consumes the sender */
		if (rc < 0)
			WEFT_RETURN(&p->co, rc);
		rc = weft_watch_send(p->o->wtx, &p->msg);
		if (rc < 0)
			WEFT_RETURN(&p->co, rc);
	}
	weft_notify_one(&p->o->nt);
	WEFT_END(&p->co);
}

static void producer_drop(weft_future *f)
{
	producer *p = (producer *)f;
	weft_mutex_lock_drop(&p->lk);
	weft_mpsc_send_drop(&p->send);
	if (p->held)
		weft_mutex_unlock(&p->o->mu);
	p->held = false;
}

typedef struct sync_main {
	weft_future fut;
	weft_coro co;
	sync_objs o;
	weft_semaphore_acquire_future acq;
	weft_rwlock_lock_future rl;
	weft_mpsc_recv_future recv;
	weft_oneshot_recv_future orecv;
	weft_watch_changed_future wch;
	weft_notified ntf;
	weft_join_handle *h;
	weft_join_task jt;
	int i, got;
} sync_main;

static weft_poll sync_main_poll(weft_future *f, weft_cx *cx)
{
	sync_main *s = (sync_main *)f;
	sync_objs *o = &s->o;
	WEFT_BEGIN(&s->co);
	{
		int rc, zero = 0;
		if ((rc = weft_semaphore_init(&o->sem, 2)) < 0)
			WEFT_RETURN(&s->co, rc);
		o->sem_ok = true;
		if ((rc = weft_mutex_init(&o->mu)) < 0)
			WEFT_RETURN(&s->co, rc);
		o->mu_ok = true;
		if ((rc = weft_rwlock_init(&o->rw)) < 0)
			WEFT_RETURN(&s->co, rc);
		o->rw_ok = true;
		if ((rc = weft_notify_init(&o->nt)) < 0)
			WEFT_RETURN(&s->co, rc);
		o->nt_ok = true;
		if ((rc = weft_mpsc_new(2, sizeof(int), &o->mtx, &o->mrx)) < 0)
			WEFT_RETURN(&s->co, rc);
		if ((rc = weft_oneshot_new(sizeof(int), &o->otx, &o->orx)) < 0)
			WEFT_RETURN(&s->co, rc);
		if ((rc = weft_watch_new(sizeof(int), &zero, &o->wtx, &o->wrx)) < 0)
			WEFT_RETURN(&s->co, rc);
	}
	weft_semaphore_acquire_init(&s->acq, &o->sem, 2);
	WEFT_TRY(&s->co, weft_semaphore_acquire_poll(&s->acq, cx), s->acq.result);
	weft_semaphore_acquire_drop(&s->acq);
	weft_semaphore_release(&o->sem, 2);
	weft_rwlock_write_init(&s->rl, &o->rw);
	WEFT_TRY(&s->co, weft_rwlock_lock_poll(&s->rl, cx), s->rl.result);
	weft_rwlock_lock_drop(&s->rl);
	weft_rwlock_write_unlock(&o->rw);
	weft_notified_init(&s->ntf, &o->nt);
	{
		producer p = { .fut = WEFT_FUTURE(producer_poll, producer_drop), .o = o };
		int rc = weft_spawn(cx->runtime, &p.fut, sizeof p, &s->h);
		if (rc < 0)
			WEFT_RETURN(&s->co, rc);
	}
	for (s->i = 0; s->i < 3; s->i++) {
		weft_mpsc_recv_init(&s->recv, o->mrx, &s->got);
		WEFT_AWAIT(&s->co, weft_mpsc_recv_poll(&s->recv, cx));
		weft_mpsc_recv_drop(&s->recv);
		if (s->recv.result < 0)
			break;   /* the producer failed: its error below */
		if (s->got != 100 + s->i)
			WEFT_RETURN(&s->co, -EPROTO);
	}
	weft_join_task_init(&s->jt, s->h);
	WEFT_AWAIT(&s->co, weft_join_task_poll(&s->jt, cx));
	weft_join_task_drop(&s->jt);
	{
		producer *p = weft_join_handle_output(s->h);
		if (!p)
			WEFT_RETURN(&s->co, s->jt.result < 0 ? s->jt.result : -EPROTO);
		if (p->co.result < 0)
			WEFT_RETURN(&s->co, p->co.result);
		if (s->recv.result < 0)
			WEFT_RETURN(&s->co, s->recv.result);
	}
	weft_oneshot_recv_init(&s->orecv, o->orx, &s->got);
	WEFT_TRY(&s->co, weft_oneshot_recv_poll(&s->orecv, cx), s->orecv.result);
	weft_oneshot_recv_drop(&s->orecv);
	weft_watch_changed_init(&s->wch, o->wrx);
	WEFT_TRY(&s->co, weft_watch_changed_poll(&s->wch, cx), s->wch.result);
	weft_watch_changed_drop(&s->wch);
	WEFT_TRY(&s->co, weft_notified_poll(&s->ntf, cx), s->ntf.result);
	weft_notified_drop(&s->ntf);
	WEFT_END(&s->co);
}

static void sync_main_drop(weft_future *f)
{
	sync_main *s = (sync_main *)f;
	sync_objs *o = &s->o;
	weft_semaphore_acquire_drop(&s->acq);
	weft_rwlock_lock_drop(&s->rl);
	weft_mpsc_recv_drop(&s->recv);
	weft_oneshot_recv_drop(&s->orecv);
	weft_watch_changed_drop(&s->wch);
	weft_notified_drop(&s->ntf);
	weft_join_task_drop(&s->jt);
	weft_join_handle_close(s->h);
	s->h = NULL;
	weft_mpsc_sender_close(o->mtx);
	weft_mpsc_receiver_close(o->mrx);
	weft_oneshot_sender_close(o->otx);
	weft_oneshot_receiver_close(o->orx);
	weft_watch_sender_close(o->wtx);
	weft_watch_receiver_close(o->wrx);
	o->mtx = NULL, o->mrx = NULL, o->otx = NULL, o->orx = NULL, o->wtx = NULL,
	o->wrx = NULL;
}

static void sync_close(void *arg)
{
	sync_main *s = arg;
	if (s->o.sem_ok)
		weft_semaphore_close(&s->o.sem);
	if (s->o.mu_ok)
		weft_mutex_close(&s->o.mu);
	if (s->o.rw_ok)
		weft_rwlock_close(&s->o.rw);
	if (s->o.nt_ok)
		weft_notify_close(&s->o.nt);
	free(s);
}

static int scen_sync(weft_runtime *rt)
{
	sync_main *s = calloc(1, sizeof *s);
	assert_non_null(s);
	s->fut = WEFT_FUTURE(sync_main_poll, sync_main_drop);
	int rc = run_main(rt, &s->fut, &s->co.result);
	/* The in-place objects outlive every future on them: the producer
	 * task was awaited, unless block_on gave up on a driver error; then
	 * it lives until the runtime's close drops it. */
	if (weft_runtime_live_tasks(rt) == 0)
		sync_close(s);
	else
		defer(sync_close, s);
	return rc;
}

/* ---------------------------------------------- scenario: blocking and fs */

static void *blk_fn(void *arg)
{
	return (char *)arg + 1;
}

static int blk_released;
static void blk_release(void *arg, void *result)
{
	(void)result;
	free(arg);
	__atomic_fetch_add(&blk_released, 1, __ATOMIC_RELAXED);
}

typedef struct blk_main {
	weft_future fut;
	weft_coro co;
	weft_blocking_handle *h;
	void *value;
	int res;
	weft_fs_write_file w;
	weft_fs_read_file r;
	char path[64];
} blk_main;

static weft_poll blk_main_poll(weft_future *f, weft_cx *cx)
{
	blk_main *b = (blk_main *)f;
	WEFT_BEGIN(&b->co);
	{
		int rc = weft_spawn_blocking(cx->runtime, blk_fn, (void *)b->path, &b->h);
		if (rc < 0)
			WEFT_RETURN(&b->co, rc);
	}
	WEFT_TRY(&b->co, weft_blocking_handle_poll(b->h, cx, &b->value, &b->res), b->res);
	weft_blocking_handle_close(b->h);
	b->h = NULL;
	if (b->value != b->path + 1)
		WEFT_RETURN(&b->co, -EPROTO);
	{
		void *arg = malloc(16);
		assert_non_null(arg);
		int rc = weft_spawn_blocking_owned(cx->runtime, blk_fn, arg, blk_release, &b->h);
		if (rc < 0) {
			free(arg);
			WEFT_RETURN(&b->co, rc);
		}
	}
	WEFT_TRY(&b->co, weft_blocking_handle_poll(b->h, cx, NULL, &b->res), b->res);
	weft_blocking_handle_close(b->h);
	b->h = NULL;
	weft_fs_write_file_init(&b->w, b->path, "sweep", 5);
	WEFT_AWAIT(&b->co, weft_fs_write_file_poll(&b->w, cx));
	weft_fs_write_file_drop(&b->w);
	if (b->w.result < 0)
		WEFT_RETURN(&b->co, b->w.result);
	weft_fs_read_file_init(&b->r, b->path);
	WEFT_AWAIT(&b->co, weft_fs_read_file_poll(&b->r, cx));
	weft_fs_read_file_drop(&b->r);
	if (b->r.result < 0)
		WEFT_RETURN(&b->co, b->r.result);
	{
		bool same = b->r.len == 5 && memcmp(b->r.data, "sweep", 5) == 0;
		free(b->r.data);
		b->r.data = NULL;
		if (!same)
			WEFT_RETURN(&b->co, -EPROTO);
	}
	WEFT_END(&b->co);
}

static void blk_main_drop(weft_future *f)
{
	blk_main *b = (blk_main *)f;
	weft_blocking_handle_close(b->h);
	b->h = NULL;
	weft_fs_write_file_drop(&b->w);
	weft_fs_read_file_drop(&b->r);
	free(b->r.data);
	b->r.data = NULL;
}

static int scen_blocking(weft_runtime *rt)
{
	blk_main b = { .fut = WEFT_FUTURE(blk_main_poll, blk_main_drop) };
	snprintf(b.path, sizeof b.path, "/tmp/weft-sweep-%d", (int)getpid());
	int rc = run_main(rt, &b.fut, &b.co.result);
	unlink(b.path);
	return rc;
}

/* ------------------------------------------------------ scenario: signals */

/* Polls the listener; once it is registered (pending), raises the signal
 * once. */
typedef struct sig_step {
	weft_future fut;
	weft_signal sig;
	bool raised;
} sig_step;

static weft_poll sig_step_poll(weft_future *f, weft_cx *cx)
{
	sig_step *s = (sig_step *)f;
	weft_poll p = weft_signal_poll(&s->sig, cx);
	if (p == WEFT_PENDING && !s->raised) {
		s->raised = true;
		raise(SIGUSR1);
	}
	return p;
}

static void sig_step_drop(weft_future *f)
{
	weft_signal_drop(&((sig_step *)f)->sig);
}

typedef struct sig_main {
	weft_future fut;
	weft_coro co;
	sig_step st;
	weft_timeout to;
} sig_main;

static weft_poll sig_main_poll(weft_future *f, weft_cx *cx)
{
	sig_main *s = (sig_main *)f;
	WEFT_BEGIN(&s->co);
	s->st.fut = WEFT_FUTURE(sig_step_poll, sig_step_drop);
	weft_signal_init(&s->st.sig, WEFT_SIGNAL_BIT(SIGUSR1));
	/* A delivery lost would show as -ETIMEDOUT (paused clock: at once). */
	weft_timeout_init(&s->to, &s->st.fut, WEFT_SEC(5));
	WEFT_AWAIT(&s->co, weft_timeout_poll(&s->to, cx));
	weft_timeout_drop(&s->to);
	if (s->to.result < 0)
		WEFT_RETURN(&s->co, s->to.result);
	if (s->st.sig.result < 0)
		WEFT_RETURN(&s->co, s->st.sig.result);
	if (s->st.sig.result != SIGUSR1)
		WEFT_RETURN(&s->co, -EPROTO);
	WEFT_END(&s->co);
}

static void sig_main_drop(weft_future *f)
{
	weft_timeout_drop(&((sig_main *)f)->to);
}

static int scen_signal(weft_runtime *rt)
{
	sig_main s = { .fut = WEFT_FUTURE(sig_main_poll, sig_main_drop) };
	int rc = run_main(rt, &s.fut, &s.co.result);
	/* The disposition found is back once the listener is dropped. */
	struct sigaction old;
	assert_int_equal(sigaction(SIGUSR1, NULL, &old), 0);
	if (old.sa_handler != SIG_DFL)
		fail_msg("%s: SIGUSR1's disposition was not put back", watchdog_label);
	return rc;
}

/* ----------------------------------------------------- scenario: resolver */

typedef struct res_main {
	weft_future fut;
	weft_coro co;
	weft_resolve r;
} res_main;

static weft_poll res_main_poll(weft_future *f, weft_cx *cx)
{
	res_main *m = (res_main *)f;
	WEFT_BEGIN(&m->co);
	weft_resolve_init(&m->r, "localhost:80");
	WEFT_TRY(&m->co, weft_resolve_poll(&m->r, cx), m->r.result);
	weft_resolve_drop(&m->r);
	if (m->r.count == 0)
		WEFT_RETURN(&m->co, -EPROTO);
	WEFT_END(&m->co);
}

static void res_main_drop(weft_future *f)
{
	weft_resolve_drop(&((res_main *)f)->r);
}

static int scen_resolve(weft_runtime *rt)
{
	res_main m = { .fut = WEFT_FUTURE(res_main_poll, res_main_drop) };
	return run_main(rt, &m.fut, &m.co.result);
}

/* ------------------------------------------------- scenarios: TCP, Unix */

/* The server task: accepts one connection, echoes 4 bytes, closes. */
typedef struct srv {
	weft_future fut;
	weft_coro co;
	weft_listener *listener;   /* borrowed from the scenario */
	weft_stream *stream;
	weft_read_exact rd;
	weft_write_all wr;
	char buf[4];
	int res;
} srv;

static weft_poll srv_poll(weft_future *f, weft_cx *cx)
{
	srv *s = (srv *)f;
	WEFT_BEGIN(&s->co);
	WEFT_TRY(&s->co, weft_listener_poll_accept(s->listener, cx, &s->stream, &s->res), s->res);
	weft_read_exact_init(&s->rd, s->stream, s->buf, 4);
	WEFT_TRY(&s->co, weft_read_exact_poll(&s->rd, cx), s->rd.result);
	weft_read_exact_drop(&s->rd);
	weft_write_all_init(&s->wr, s->stream, s->buf, 4);
	WEFT_TRY(&s->co, weft_write_all_poll(&s->wr, cx), s->wr.result);
	weft_write_all_drop(&s->wr);
	WEFT_END(&s->co);
}

static void srv_drop(weft_future *f)
{
	srv *s = (srv *)f;
	weft_read_exact_drop(&s->rd);
	weft_write_all_drop(&s->wr);
	weft_stream_close(s->stream);
	s->stream = NULL;
}

typedef struct stream_main {
	weft_future fut;
	weft_coro co;
	bool unix_kind;
	bool names;                /* TCP by host name: listen and connect resolve */
	const char *path;
	weft_listener *listener;
	weft_listen lf;
	char name[64];
	weft_connect conn;
	weft_stream *stream;
	weft_join_handle *h;
	weft_join_task jt;
	weft_write_all wr;
	weft_read_exact rd;
	char buf[4];
} stream_main;

static weft_poll stream_main_poll(weft_future *f, weft_cx *cx)
{
	stream_main *m = (stream_main *)f;
	WEFT_BEGIN(&m->co);
	if (m->names) {
		weft_tcp_listen_init(&m->lf, "localhost:0", NULL);
		WEFT_TRY(&m->co, weft_listen_poll(&m->lf, cx), m->lf.result);
		m->listener = m->lf.listener;
		m->lf.listener = NULL;
		weft_listen_drop(&m->lf);
	}
	{
		int rc = 0;
		if (m->unix_kind)
			rc = weft_unix_listen(&m->listener, m->path, 8);
		else if (!m->names)
			rc = weft_tcp_listen(&m->listener, "127.0.0.1:0", 8);
		if (rc < 0)
			WEFT_RETURN(&m->co, rc);
		if (m->unix_kind) {
			weft_unix_connect_init(&m->conn, m->path);
		} else {
			weft_addr a;
			rc = weft_listener_local_addr(m->listener, &a);
			if (rc < 0)
				WEFT_RETURN(&m->co, rc);
			if (m->names) {
				snprintf(m->name, sizeof m->name, "localhost:%d",
					 weft_addr_port(&a));
				weft_tcp_connect_init(&m->conn, m->name);
			} else {
				weft_tcp_connect_init_addr(&m->conn, &a);
			}
		}
		srv s = { .fut = WEFT_FUTURE(srv_poll, srv_drop), .listener = m->listener };
		rc = weft_spawn(cx->runtime, &s.fut, sizeof s, &m->h);
		if (rc < 0)
			WEFT_RETURN(&m->co, rc);
	}
	WEFT_TRY(&m->co, weft_connect_poll(&m->conn, cx), m->conn.result);
	m->stream = m->conn.stream;
	m->conn.stream = NULL;
	weft_write_all_init(&m->wr, m->stream, "ping", 4);
	WEFT_TRY(&m->co, weft_write_all_poll(&m->wr, cx), m->wr.result);
	weft_write_all_drop(&m->wr);
	/* The server has the bytes once it is done; its error comes first. */
	weft_join_task_init(&m->jt, m->h);
	WEFT_AWAIT(&m->co, weft_join_task_poll(&m->jt, cx));
	weft_join_task_drop(&m->jt);
	{
		srv *s = weft_join_handle_output(m->h);
		if (!s)
			WEFT_RETURN(&m->co, m->jt.result < 0 ? m->jt.result : -EPROTO);
		if (s->co.result < 0)
			WEFT_RETURN(&m->co, s->co.result);
	}
	weft_read_exact_init(&m->rd, m->stream, m->buf, 4);
	WEFT_TRY(&m->co, weft_read_exact_poll(&m->rd, cx), m->rd.result);
	weft_read_exact_drop(&m->rd);
	if (memcmp(m->buf, "ping", 4) != 0)
		WEFT_RETURN(&m->co, -EPROTO);
	WEFT_END(&m->co);
}

static void stream_main_drop(weft_future *f)
{
	stream_main *m = (stream_main *)f;
	weft_write_all_drop(&m->wr);
	weft_read_exact_drop(&m->rd);
	weft_join_task_drop(&m->jt);
	if (m->h) {
		/* On an early error the server may still wait in accept. */
		weft_join_handle_abort(m->h);
		weft_join_handle_close(m->h);
		m->h = NULL;
	}
	weft_connect_drop(&m->conn);
	weft_listen_drop(&m->lf);
	weft_stream_close(m->stream);
	m->stream = NULL;
}

static int scen_stream(weft_runtime *rt, bool unix_kind, bool names)
{
	char path[64];
	snprintf(path, sizeof path, "/tmp/weft-sweep-%d.sock", (int)getpid());
	stream_main m = { .fut = WEFT_FUTURE(stream_main_poll, stream_main_drop),
			  .unix_kind = unix_kind, .names = names, .path = path };
	int rc = run_main(rt, &m.fut, &m.co.result);
	/* An aborted server is dropped on the next turn of the runtime:
	 * run one so the listener it borrows is free to close. */
	weft_yield_now y;
	weft_yield_now_init(&y);
	int rc2 = weft_block_on(rt, &y.fut);
	first_err(&rc, rc2);
	weft_listener_close(m.listener);
	if (unix_kind)
		unlink(path);
	return rc;
}

static int scen_tcp(weft_runtime *rt)
{
	return scen_stream(rt, false, false);
}

static int scen_tcp_names(weft_runtime *rt)
{
	return scen_stream(rt, false, true);
}

static int scen_unix(weft_runtime *rt)
{
	return scen_stream(rt, true, false);
}

/* --------------------------------------------------------- scenario: UDP */

typedef struct udp_main {
	weft_future fut;
	weft_coro co;
	weft_udp_socket *a, *b;
	weft_addr aa, ba, from;
	char buf[8];
	ssize_t n;
} udp_main;

static weft_poll udp_main_poll(weft_future *f, weft_cx *cx)
{
	udp_main *u = (udp_main *)f;
	WEFT_BEGIN(&u->co);
	{
		int rc = weft_udp_bind(&u->a, "127.0.0.1:0");
		if (rc == 0)
			rc = weft_udp_bind(&u->b, "127.0.0.1:0");
		if (rc == 0)
			rc = weft_udp_local_addr(u->a, &u->aa);
		if (rc == 0)
			rc = weft_udp_local_addr(u->b, &u->ba);
		if (rc < 0)
			WEFT_RETURN(&u->co, rc);
	}
	WEFT_TRY(&u->co, weft_udp_poll_send_to(u->a, cx, "ping", 4, &u->ba, &u->n), u->n);
	WEFT_TRY(&u->co, weft_udp_poll_recv_from(u->b, cx, u->buf, sizeof u->buf, &u->from, &u->n),
		 u->n);
	if (u->n != 4 || memcmp(u->buf, "ping", 4) != 0)
		WEFT_RETURN(&u->co, -EPROTO);
	WEFT_TRY(&u->co, weft_udp_poll_send_to(u->b, cx, "pong", 4, &u->from, &u->n), u->n);
	WEFT_TRY(&u->co, weft_udp_poll_recv_from(u->a, cx, u->buf, sizeof u->buf, &u->from, &u->n),
		 u->n);
	if (u->n != 4 || memcmp(u->buf, "pong", 4) != 0)
		WEFT_RETURN(&u->co, -EPROTO);
	WEFT_END(&u->co);
}

static void udp_main_drop(weft_future *f)
{
	udp_main *u = (udp_main *)f;
	weft_udp_close(u->a);
	weft_udp_close(u->b);
	u->a = u->b = NULL;
}

static int scen_udp(weft_runtime *rt)
{
	udp_main u = { .fut = WEFT_FUTURE(udp_main_poll, udp_main_drop) };
	return run_main(rt, &u.fut, &u.co.result);
}

/* ------------------------------------------- scenario: runtime new, close */

static int whole_runtime(uint32_t workers, bool bounded_close)
{
	weft_runtime_config cfg = config_of(workers);
	weft_runtime *rt = NULL;
	int rc = weft_runtime_new(&rt, &cfg);
	if (rc < 0)
		return rc;
	int drops = 0;
	leaf l = { .fut = WEFT_FUTURE(leaf_poll, leaf_drop), .drops = &drops };
	weft_join_handle *h = NULL;
	rc = weft_spawn(rt, &l.fut, sizeof l, &h);
	if (rc == 0) {
		weft_join_task jt;
		weft_join_task_init(&jt, h);
		rc = weft_block_on(rt, &jt.fut);
		if (rc == 0)
			rc = jt.result;
		weft_join_handle_close(h);
	}
	if (bounded_close) {
		/* Nothing to abandon: 0, whether or not the clock could be
		 * read for the deadline. */
		weft_runtime_close_report rep = { .size = sizeof rep };
		first_err(&rc, weft_runtime_close_timeout(rt, WEFT_SEC(5), &rep));
	} else {
		weft_runtime_close(rt);
	}
	return rc;
}

static int scen_runtime(weft_runtime *rt)
{
	(void)rt;
	return whole_runtime(1, false);
}

static int scen_runtime_close_timeout(weft_runtime *rt)
{
	(void)rt;
	return whole_runtime(1, true);
}

static int scen_runtime_mt(weft_runtime *rt)
{
	(void)rt;
	return whole_runtime(2, false);
}

/* --------------------------------------------------------------- sweep */

typedef struct site {
	enum weft__fault_site site;
	int err;
	const char *name;
} site;

static const site sites[] = {
	{ WEFT__FAULT_ALLOC, ENOMEM, "alloc" },
	{ WEFT__FAULT_THREAD, EAGAIN, "thread" },
	{ WEFT__FAULT_BACKEND_WAKE, EMFILE, "backend_wake" },
	{ WEFT__FAULT_BACKEND, ENOMEM, "backend" },
	{ WEFT__FAULT_SOCKET, EMFILE, "socket" },
	{ WEFT__FAULT_CONNECT, ECONNREFUSED, "connect" },
	{ WEFT__FAULT_READ, ECONNRESET, "read" },
	{ WEFT__FAULT_READ, EINTR, "read-eintr" },
	{ WEFT__FAULT_WRITE, EPIPE, "write" },
	{ WEFT__FAULT_WRITE, EINTR, "write-eintr" },
	{ WEFT__FAULT_BACKEND_WAIT, EBADF, "backend_wait" },
	{ WEFT__FAULT_BACKEND_WAIT, EINTR, "backend_wait-eintr" },
	{ WEFT__FAULT_LOCK_INIT, EAGAIN, "lock_init" },
	{ WEFT__FAULT_SIGACTION, EINVAL, "sigaction" },
	{ WEFT__FAULT_CLOCK, EINVAL, "clock" },
};
#define NSITES (sizeof sites / sizeof sites[0])

typedef struct scenario {
	const char *name;
	int (*run)(weft_runtime *rt);
	bool whole;        /* makes its own runtime: no outer one */
	bool real_clock;   /* the outer runtime's clock is not paused */
	uint32_t only;     /* nonzero: bit (1 << site) of the sites swept */
} scenario;

static const scenario scenarios[] = {
	{ "runtime", scen_runtime, true, false, 0 },
	{ "runtime_mt", scen_runtime_mt, true, false,
	  (1u << WEFT__FAULT_THREAD) | (1u << WEFT__FAULT_LOCK_INIT) },
	{ "spawn", scen_spawn, false, false, 0 },
	{ "timers", scen_timers, false, false, 0 },
	{ "sync", scen_sync, false, false, 0 },
	{ "blocking", scen_blocking, false, false, 0 },
	{ "signal", scen_signal, false, false, 0 },
	{ "resolve", scen_resolve, false, false, 0 },
	{ "tcp", scen_tcp, false, false, 0 },
	{ "udp", scen_udp, false, false, 0 },
	{ "unix", scen_unix, false, false, 0 },
	{ "tcp_names", scen_tcp_names, false, false, 0 },
	{ "runtime_close_timeout", scen_runtime_close_timeout, true, false, 0 },
	{ "timers_real", scen_timers_real, false, true, 0 },
};

/* Safety net: a scenario that always reaches call n is a sweep bug. */
#define SWEEP_HARD_MAX 5000

static unsigned long sweep_runs;

/* Whether the fault armed last is still waiting (not consumed). */
static bool fault_pending(void)
{
	return atomic_load_explicit(&weft__faults_armed, memory_order_relaxed) != 0;
}

/* One run: arm, run, check. Returns whether the fault was reached. */
static bool sweep_one(const scenario *sc, const site *st, unsigned n)
{
	char label[160];
	snprintf(label, sizeof label, "(%s, %s, %u)", sc->name, st->name, n);
	int fds0 = open_fds();
	size_t bytes0 = live_bytes();
	watchdog_arm(label);

	weft_runtime *rt = sc->whole ? NULL : make_rt(sc->real_clock);
	weft__fault_arm(st->site, n, st->err);
	int rc = sc->run(rt);
	bool reached = !fault_pending();
	weft__fault_reset();

	if (rc > 0 || rc < -4095)
		fail_msg("%s: result %d is not 0 or a negative errno", label, rc);
	/* EINTR is retried wherever it can come from, by design. */
	if (st->err == EINTR && rc != 0)
		fail_msg("%s: an EINTR was not absorbed: %d", label, rc);
	if (!reached && rc != 0)
		fail_msg("%s: the fault was not reached, yet the scenario failed with %d",
			 label, rc);
	if (rt) {
		/* Still usable: the scenario again, unarmed, on the same
		 * runtime; after a driver error, block_on reports it. */
		weft_runtime_metrics m;
		assert_int_equal(weft_runtime_metrics_get(rt, &m, sizeof m), 0);
		int again = sc->run(rt);
		if (m.driver_error == 0 && again != 0)
			fail_msg("%s: the runtime is unusable afterwards: %d", label, again);
		if (m.driver_error != 0 && again != m.driver_error)
			fail_msg("%s: after driver error %d, a new run gave %d", label,
				 m.driver_error, again);
		weft_runtime_close(rt);
	}
	run_deferred();
	watchdog_disarm();
	int fds1 = open_fds();
	size_t bytes1 = live_bytes();
	/* A pool thread that has finished its last job may still be on its
	 * way out (freeing its own bits in glibc) for a moment after the
	 * close: give it up to 200 ms before calling a difference a leak.
	 * Only growth is a leak: a thread of an earlier run that exits
	 * during this one frees what it held (its TLS block, 32 bytes under
	 * ASan) after bytes0 was taken, so this run may end below it. */
	for (int i = 0; i < 200 && (fds1 != fds0 || bytes1 > bytes0); i++) {
		struct timespec ts = { 0, 1000 * 1000 };
		nanosleep(&ts, NULL);
		fds1 = open_fds();
		bytes1 = live_bytes();
	}
	if (fds1 != fds0)
		fail_msg("%s: %d fds open before, %d after", label, fds0, fds1);
	if (bytes1 > bytes0)
		fail_msg("%s: %zu bytes allocated before, %zu after", label, bytes0, bytes1);
	sweep_runs++;
	return reached;
}

static void sweep_scenario(const scenario *sc)
{
	/* Warm-up: libc's one-time allocations (stdio, name service
	 * modules, thread caches) happen before the first measurement. */
	for (int i = 0; i < 2; i++) {
		weft_runtime *rt = sc->whole ? NULL : make_rt(sc->real_clock);
		assert_int_equal(sc->run(rt), 0);
		weft_runtime_close(rt);
		run_deferred();
	}
	unsigned long before = sweep_runs;
	/* Per site, how many calls the scenario makes through it. */
	char per_site[512] = "";
	/* WEFT_SWEEP_ONLY=scenario,site,n replays one run (for a debugger). */
	const char *only = getenv("WEFT_SWEEP_ONLY");
	char only_sc[64] = "", only_site[64] = "";
	unsigned only_n = 0;
	if (only && sscanf(only, "%63[^,],%63[^,],%u", only_sc, only_site, &only_n) != 3)
		fail_msg("WEFT_SWEEP_ONLY: scenario,site,n");
	if (only && strcmp(only_sc, sc->name) != 0)
		return;
	for (size_t i = 0; i < NSITES; i++) {
		const site *st = &sites[i];
		if (sc->only && !(sc->only & (1u << st->site)))
			continue;
		if (only) {
			if (strcmp(only_site, st->name) == 0)
				sweep_one(sc, st, only_n);
			continue;
		}
		bool reached_any = false;
		unsigned n = 1;
		for (;; n++) {
			if (!sweep_one(sc, st, n))
				break;
			reached_any = true;
			if (n >= SWEEP_HARD_MAX)
				fail_msg("(%s, %s): still reaching the fault at call %u", sc->name,
					 st->name, n);
		}
		if (reached_any) {
			size_t len = strlen(per_site);
			snprintf(per_site + len, sizeof per_site - len, "%s%s %u",
				 len ? ", " : "", st->name, n - 1);
		}
	}
	printf("sweep %s: %lu runs (%s)\n", sc->name, sweep_runs - before, per_site);
}

#define SWEEP_TEST(idx, fname)                        \
	static void fname(void **state)               \
	{                                             \
		(void)state;                          \
		watchdog_start();                     \
		sweep_scenario(&scenarios[idx]);      \
	}

SWEEP_TEST(0, sweep_runtime_new_and_close)
SWEEP_TEST(1, sweep_runtime_mt_new_and_close)
SWEEP_TEST(2, sweep_spawn_and_join)
SWEEP_TEST(3, sweep_timers)
SWEEP_TEST(4, sweep_sync_primitives)
SWEEP_TEST(5, sweep_blocking_pool_and_fs)
SWEEP_TEST(6, sweep_signals)
SWEEP_TEST(7, sweep_resolver)
SWEEP_TEST(8, sweep_tcp)
SWEEP_TEST(9, sweep_udp)
SWEEP_TEST(10, sweep_unix)
SWEEP_TEST(11, sweep_tcp_by_host_name)
SWEEP_TEST(12, sweep_runtime_close_timeout)
SWEEP_TEST(13, sweep_timers_on_the_running_clock)

static void sweep_total(void **state)
{
	(void)state;
	printf("sweep: %lu (scenario, site, n) runs in all\n", sweep_runs);
	assert_true(sweep_runs > 0);
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	/* glibc's per-thread cache holds freed chunks that mallinfo2 still
	 * counts as allocated; a pool thread's first allocation may make it
	 * an arena of its own; and the stacks of finished threads are kept
	 * with their TLS vector (a calloc) in a cache whose filling depends
	 * on how pool threads' lives overlapped. Without the caches and with
	 * one arena the count is exact (the sanitizers' allocators need
	 * only the last). */
	const char *tun = getenv("GLIBC_TUNABLES");
	if (!tun || !strstr(tun, "glibc.pthread.stack_cache_size=0")) {
		static const char ours[] = "glibc.malloc.tcache_count=0:glibc.malloc.arena_max=1:"
					   "glibc.pthread.stack_cache_size=0";
		char *all = malloc((tun ? strlen(tun) + 1 : 0) + sizeof ours);
		if (!all)
			return 1;
		sprintf(all, "%s%s%s", tun ? tun : "", tun ? ":" : "", ours);
		setenv("GLIBC_TUNABLES", all, 1);
		free(all);
		execv("/proc/self/exe", argv);
		perror("sweep: execv");
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sweep_runtime_new_and_close),
		cmocka_unit_test(sweep_runtime_mt_new_and_close),
		cmocka_unit_test(sweep_spawn_and_join),
		cmocka_unit_test(sweep_timers),
		cmocka_unit_test(sweep_sync_primitives),
		cmocka_unit_test(sweep_blocking_pool_and_fs),
		cmocka_unit_test(sweep_signals),
		cmocka_unit_test(sweep_resolver),
		cmocka_unit_test(sweep_tcp),
		cmocka_unit_test(sweep_udp),
		cmocka_unit_test(sweep_unix),
		cmocka_unit_test(sweep_tcp_by_host_name),
		cmocka_unit_test(sweep_runtime_close_timeout),
		cmocka_unit_test(sweep_timers_on_the_running_clock),
		cmocka_unit_test(sweep_total),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
