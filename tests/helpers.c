/* helpers.c - see helpers.h. */
#include "helpers.h"

#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int test_poll_n(weft_future *f, weft_cx *cx, int max)
{
	for (int i = 1; i <= max; i++)
		if (f->poll(f, cx) == WEFT_READY)
			return i;
	return -1;
}

static weft_poll test_gate_poll(weft_future *f, weft_cx *cx)
{
	test_gate *g = (test_gate *)f;
	g->polls++;
	if (g->open)
		return WEFT_READY;
	weft_waker_store(&g->waker, cx->waker);
	return WEFT_PENDING;
}

static void test_gate_drop(weft_future *f)
{
	test_gate *g = (test_gate *)f;
	g->drops++;
	weft_waker_drop(&g->waker);
}

void test_gate_init(test_gate *g, int result)
{
	*g = (test_gate){ .fut = WEFT_FUTURE(test_gate_poll, test_gate_drop),
			  .result = result };
}

void test_gate_open(test_gate *g)
{
	g->open = true;
	weft_waker_wake(&g->waker);
}

uint64_t test_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void hand_init(hand *h)
{
	test_counting_waker_init(&h->cw);
	h->w = test_counting_waker_get(&h->cw);
	h->cx = weft_cx_from_waker(&h->w);
}

long hand_wakes(hand *h)
{
	return test_counting_waker_load(&h->cw.wakes);
}

void hand_fini(hand *h)
{
	weft_waker_drop(&h->w);
	assert_int_equal(test_counting_waker_load(&h->cw.live), 0);
}

weft_poll hpoll(hand *h, weft_future *f)
{
	h->cx.budget = WEFT_DEFAULT_BUDGET;
	h->cx.budget_used = 0;
	return f->poll(f, &h->cx);
}

bool test_wait_flag(atomic_int *flag, uint64_t until_us)
{
	while (!atomic_load(flag) && test_now_us() < until_us)
		usleep(100);
	return atomic_load(flag) != 0;
}

/* --------------------------------------------- waiting on observable state */

bool test_wait_workers_parked(weft_runtime *rt, uint32_t want, uint64_t until_us)
{
	weft_runtime_metrics m;
	if (weft_runtime_metrics_get(rt, &m, sizeof m) != 0)
		return false;
	for (;;) {
		uint32_t parked = 0;
		for (uint32_t i = 0; i < m.workers; i++) {
			weft_worker_metrics wm;
			if (weft_runtime_worker_metrics(rt, i, &wm, sizeof wm) != 0)
				return false;
			parked += wm.parks > wm.unparks;
		}
		if (parked >= want)
			return true;
		if (test_now_us() >= until_us)
			return false;
		usleep(100);
	}
}

pid_t test_gettid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The system calls a backend sleeps in. */
static bool test__is_backend_wait(long nr)
{
	static const long waits[] = {
#ifdef SYS_epoll_wait
		SYS_epoll_wait,
#endif
#ifdef SYS_epoll_pwait
		SYS_epoll_pwait,
#endif
#ifdef SYS_epoll_pwait2
		SYS_epoll_pwait2,
#endif
#ifdef SYS_io_uring_enter
		SYS_io_uring_enter,
#endif
	};
	for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++)
		if (nr == waits[i])
			return true;
	return false;
}

/* Whether thread @tid sleeps (state S) in system call @nr right now, or
 * with @nr < 0 in a backend wait. */
static bool test__in_syscall(const char *tid, long want)
{
	char path[300], buf[512];
	snprintf(path, sizeof path, "/proc/self/task/%s/stat", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *paren = strrchr(buf, ')');   /* comm may hold spaces */
	if (!paren || paren[1] != ' ' || paren[2] != 'S')
		return false;
	snprintf(path, sizeof path, "/proc/self/task/%s/syscall", tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	long nr = -1;
	bool got = fscanf(f, "%ld", &nr) == 1;   /* "running" while it runs */
	fclose(f);
	return got && (want < 0 ? test__is_backend_wait(nr) : nr == want);
}

static bool test__named(const char *tid, const char *prefix)
{
	char path[300], name[64] = "";
	snprintf(path, sizeof path, "/proc/self/task/%s/comm", tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool ok = fgets(name, sizeof name, f) != NULL;
	fclose(f);
	return ok && strncmp(name, prefix, strlen(prefix)) == 0;
}

static bool test__wait_thread_in(pid_t tid, long nr, uint64_t until_us)
{
	char id[32];
	snprintf(id, sizeof id, "%ld", (long)tid);
	for (;;) {
		if (test__in_syscall(id, nr))
			return true;
		if (test_now_us() >= until_us)
			return false;
		usleep(100);
	}
}

bool test_wait_thread_in_backend_wait(pid_t tid, uint64_t until_us)
{
	return test__wait_thread_in(tid, -1, until_us);
}

bool test_wait_thread_in_futex(pid_t tid, uint64_t until_us)
{
	return test__wait_thread_in(tid, SYS_futex, until_us);
}

bool test_wait_named_thread_in_backend_wait(const char *prefix, uint64_t until_us)
{
	for (;;) {
		DIR *d = opendir("/proc/self/task");
		if (!d)
			return false;
		bool found = false;
		struct dirent *e;
		while (!found && (e = readdir(d)))
			found = e->d_name[0] != '.' && test__named(e->d_name, prefix) &&
				test__in_syscall(e->d_name, -1);
		closedir(d);
		if (found)
			return true;
		if (test_now_us() >= until_us)
			return false;
		usleep(100);
	}
}

int test_thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

bool test_wait_thread_count_at_most(int n, uint64_t until_us)
{
	for (;;) {
		int now = test_thread_count();
		if (now >= 0 && now <= n)
			return true;
		if (test_now_us() >= until_us)
			return false;
		usleep(100);
	}
}

/* ------------------------------------------------------ counting waker */

/* The counters are statistics read by tests after the fact or through
 * test_counting_waker_load (acquire); the updates are AcqRel so that a
 * reader that sees a count also sees what the waker's user did before. */
static void test__count(long *counter, long delta)
{
	__atomic_fetch_add(counter, delta, __ATOMIC_ACQ_REL);
}

static weft_waker test__counting_clone(const void *data);

static void test__counting_wake_by_ref(const void *data)
{
	test_counting_waker *cw = (test_counting_waker *)data;
	test__count(&cw->wakes_by_ref, 1);
	test__count(&cw->wakes, 1);
}

static void test__counting_wake(const void *data)
{
	test_counting_waker *cw = (test_counting_waker *)data;
	test__count(&cw->wakes, 1);
	test__count(&cw->live, -1);
}

static void test__counting_drop(const void *data)
{
	test_counting_waker *cw = (test_counting_waker *)data;
	test__count(&cw->drops, 1);
	test__count(&cw->live, -1);
}

static const weft_waker_vtable test__counting_vtable = {
	.clone = test__counting_clone,
	.wake = test__counting_wake,
	.wake_by_ref = test__counting_wake_by_ref,
	.drop = test__counting_drop,
};

static weft_waker test__counting_clone(const void *data)
{
	test_counting_waker *cw = (test_counting_waker *)data;
	test__count(&cw->clones, 1);
	test__count(&cw->live, 1);
	return (weft_waker){ .vtable = &test__counting_vtable, .data = cw };
}

void test_counting_waker_init(test_counting_waker *cw)
{
	__atomic_store_n(&cw->clones, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->wakes, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->wakes_by_ref, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->drops, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&cw->live, 0, __ATOMIC_RELAXED);
}

weft_waker test_counting_waker_get(test_counting_waker *cw)
{
	test__count(&cw->live, 1);
	return (weft_waker){ .vtable = &test__counting_vtable, .data = cw };
}

/* -------------------------------------------------------- stall waker */

/* Relaxed throughout: see helpers.h (no happens-before of its own). */
static const weft_waker_vtable test__stall_vtable;

static weft_waker test__stall_clone(const void *data)
{
	test_stall_waker *sw = (test_stall_waker *)data;
	atomic_fetch_add_explicit(&sw->live, 1, memory_order_relaxed);
	return (weft_waker){ .vtable = &test__stall_vtable, .data = sw };
}

static void test__stall_wake_by_ref(const void *data)
{
	test_stall_waker *sw = (test_stall_waker *)data;
	uint64_t until = test_now_us() + 5000000;
	while (!atomic_load_explicit(&sw->released, memory_order_relaxed) &&
	       test_now_us() < until)
		sched_yield();
	atomic_fetch_add_explicit(&sw->wakes, 1, memory_order_relaxed);
}

static void test__stall_wake(const void *data)
{
	test__stall_wake_by_ref(data);
	atomic_fetch_sub_explicit(&((test_stall_waker *)data)->live, 1, memory_order_relaxed);
}

static void test__stall_drop(const void *data)
{
	test_stall_waker *sw = (test_stall_waker *)data;
	atomic_fetch_sub_explicit(&sw->live, 1, memory_order_relaxed);
}

static const weft_waker_vtable test__stall_vtable = {
	.clone = test__stall_clone,
	.wake = test__stall_wake,
	.wake_by_ref = test__stall_wake_by_ref,
	.drop = test__stall_drop,
};

weft_waker test_stall_waker_init(test_stall_waker *sw)
{
	atomic_init(&sw->released, 0);
	atomic_init(&sw->wakes, 0);
	atomic_init(&sw->live, 1);
	return (weft_waker){ .vtable = &test__stall_vtable, .data = sw };
}

void test_stall_waker_release(test_stall_waker *sw)
{
	atomic_store_explicit(&sw->released, 1, memory_order_relaxed);
}
