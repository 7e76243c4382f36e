/* test_backend.c - choosing the I/O backend: what the config field and
 * the WEFT_BACKEND environment variable ask for, what a build without the
 * backend answers (-ENOTSUP, never a silent epoll), what only AUTO may
 * fall back from, and the metrics naming the backend that runs. A build
 * compiles one backend (meson option io_backend: epoll, or kqueue, which
 * on Linux runs on the kevent test double; io_uring not implemented):
 * WEFT_TEST_BACKEND names it. In the simulated kqueue build, the
 * kqueue backend's own paths follow: the pipe that replaces a missing
 * EVFILT_USER, EV_EOF with a socket error, and a removed fd's number
 * registered again while its deletes are still queued. */
#include "helpers.h"

#include "sys.h"
#include "io_reactor.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#ifdef WEFT_KQUEUE_DOUBLE
#include <kqueue_double.h>
#endif

/* The backend this build compiles, and one it does not (besides io_uring). */
#define BUILT WEFT_TEST_BACKEND
#define NOT_BUILT (BUILT == WEFT_BACKEND_EPOLL ? WEFT_BACKEND_KQUEUE : WEFT_BACKEND_EPOLL)

/* Each test starts and ends with WEFT_BACKEND unset, whatever the suite
 * was run with (tests/run may set it to run every suite on a backend). */
static int env_clear(void **state)
{
	(void)state;
	unsetenv("WEFT_BACKEND");
	return 0;
}

/* weft_runtime_new with @backend in the config; the runtime, if made, is
 * closed after reading which backend its metrics report into *@ran. */
static int make(uint32_t workers, uint32_t backend, uint32_t *ran)
{
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = workers, .backend = backend };
	weft_runtime *rt = NULL;
	int rc = weft_runtime_new(&rt, &cfg);
	if (rc == 0) {
		weft_runtime_metrics m;
		assert_int_equal(weft_runtime_metrics_get(rt, &m, sizeof m), 0);
		if (ran)
			*ran = m.backend;
		weft_runtime_close(rt);
	} else {
		assert_null(rt);
	}
	return rc;
}

static void names_are_the_spellings_weft_backend_accepts(void **state)
{
	(void)state;
	assert_string_equal(weft_backend_name(WEFT_BACKEND_AUTO), "auto");
	assert_string_equal(weft_backend_name(WEFT_BACKEND_EPOLL), "epoll");
	assert_string_equal(weft_backend_name(WEFT_BACKEND_IO_URING), "io_uring");
	assert_string_equal(weft_backend_name(WEFT_BACKEND_KQUEUE), "kqueue");
	assert_null(weft_backend_name((weft_backend)4));
	assert_null(weft_backend_name((weft_backend)-1));
}

static void auto_runs_the_builds_backend_and_the_metrics_say_so(void **state)
{
	(void)state;
	uint32_t ran = 99;
	assert_int_equal(make(1, WEFT_BACKEND_AUTO, &ran), 0);
	assert_int_equal(ran, BUILT);
	ran = 99;
	assert_int_equal(make(2, WEFT_BACKEND_AUTO, &ran), 0);
	assert_int_equal(ran, BUILT);
	/* A NULL config is AUTO too. */
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_runtime_metrics m = { .backend = 99, .flavour = 99 };
	assert_int_equal(weft_runtime_metrics_get(rt, &m, sizeof m), 0);
	assert_int_equal(m.backend, BUILT);
	assert_int_not_equal(m.flavour, 99);   /* filled to the end */
	/* By name, as a user reads it. */
#ifdef WEFT_KQUEUE_DOUBLE
	assert_string_equal(weft_backend_name(m.backend), "kqueue");
#else
	assert_string_equal(weft_backend_name(m.backend), "epoll");
#endif
	weft_runtime_close(rt);
}

static void the_builds_backend_asked_for_by_name_runs_it(void **state)
{
	(void)state;
	uint32_t ran = 99;
	assert_int_equal(make(1, BUILT, &ran), 0);
	assert_int_equal(ran, BUILT);
	ran = 99;
	assert_int_equal(make(2, BUILT, &ran), 0);
	assert_int_equal(ran, BUILT);
}

static void io_uring_and_the_other_backend_are_not_in_this_build(void **state)
{
	(void)state;
	assert_int_equal(make(1, WEFT_BACKEND_IO_URING, NULL), -ENOTSUP);
	assert_int_equal(make(2, WEFT_BACKEND_IO_URING, NULL), -ENOTSUP);
	assert_int_equal(make(1, NOT_BUILT, NULL), -ENOTSUP);
	assert_int_equal(make(2, NOT_BUILT, NULL), -ENOTSUP);
}

static void a_value_that_is_no_backend_is_einval(void **state)
{
	(void)state;
	assert_int_equal(make(1, 4, NULL), -EINVAL);
	assert_int_equal(make(1, UINT32_MAX, NULL), -EINVAL);
}

static void the_environment_overrides_the_config(void **state)
{
	(void)state;
	uint32_t ran = 99;
	/* It overrides in both directions: an unsupported name in the
	 * environment beats a good config, a good one beats a bad config. */
	setenv("WEFT_BACKEND", "io_uring", 1);
	assert_int_equal(make(1, BUILT, NULL), -ENOTSUP);
	assert_int_equal(make(1, WEFT_BACKEND_AUTO, NULL), -ENOTSUP);
	setenv("WEFT_BACKEND", weft_backend_name(NOT_BUILT), 1);
	assert_int_equal(make(2, WEFT_BACKEND_AUTO, NULL), -ENOTSUP);
	setenv("WEFT_BACKEND", weft_backend_name(BUILT), 1);
	assert_int_equal(make(1, NOT_BUILT, &ran), 0);
	assert_int_equal(ran, BUILT);
	setenv("WEFT_BACKEND", "auto", 1);
	ran = 99;
	assert_int_equal(make(1, WEFT_BACKEND_IO_URING, &ran), 0);
	assert_int_equal(ran, BUILT);
	/* Empty: as if unset. */
	setenv("WEFT_BACKEND", "", 1);
	assert_int_equal(make(1, WEFT_BACKEND_IO_URING, NULL), -ENOTSUP);
	assert_int_equal(make(1, BUILT, NULL), 0);
	unsetenv("WEFT_BACKEND");
}

static void a_bad_weft_backend_value_is_einval(void **state)
{
	(void)state;
	const char *bad[] = { "bogus", "EPOLL", "epoll ", "uring", "1" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		setenv("WEFT_BACKEND", bad[i], 1);
		assert_int_equal(make(1, BUILT, NULL), -EINVAL);
		assert_int_equal(make(2, WEFT_BACKEND_AUTO, NULL), -EINVAL);
	}
	unsetenv("WEFT_BACKEND");
}

/* A backend asked for by name that fails to start is refused with
 * -ENOTSUP (unless the host ran out of memory or fds: that error is
 * told as it is); AUTO reports the error of the backend it tried, since
 * there is no other backend to fall back to in this build. Nothing
 * leaks either way (ASan). */
static void a_named_backend_that_cannot_start_is_enotsup(void **state)
{
	(void)state;
	weft__fault_arm(WEFT__FAULT_BACKEND, 1, EINVAL);
	assert_int_equal(make(1, BUILT, NULL), -ENOTSUP);
	weft__fault_arm(WEFT__FAULT_BACKEND_WAKE, 1, ENOSYS);
	assert_int_equal(make(2, BUILT, NULL), -ENOTSUP);
	weft__fault_arm(WEFT__FAULT_BACKEND, 1, EMFILE);
	assert_int_equal(make(1, BUILT, NULL), -EMFILE);
	weft__fault_arm(WEFT__FAULT_BACKEND, 1, EINVAL);
	assert_int_equal(make(1, WEFT_BACKEND_AUTO, NULL), -EINVAL);
	weft__fault_reset();
	assert_int_equal(make(1, BUILT, NULL), 0);
}

#ifdef WEFT_KQUEUE_DOUBLE
/* ------------------------------------------ the kqueue backend's own paths */

static void socket_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static int64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

struct notifier {
	struct weft__reactor *r;
	bool raise;
};

static void *notify_main(void *p)
{
	struct notifier *n = p;
	if (n->raise)
		weft__reactor_user_raise(n->r);
	else
		weft__reactor_notify(n->r);
	return NULL;
}

/* Where the system has no EVFILT_USER, the wake-up is a pipe: it ends a
 * wait without reporting an event, and carries the user event, from
 * another thread; with EVFILT_USER there is no pipe. */
static void without_evfilt_user_a_pipe_wakes_the_wait_and_carries_the_user_event(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	assert_int_equal(r.backend.kind, WEFT_BACKEND_KQUEUE);
	assert_int_equal(r.backend.wake_fd, -1);   /* EVFILT_USER */
	weft__reactor_fini(&r);

	kqueue_double_set_user_filter(false);
	assert_int_equal(weft__reactor_init(&r), 0);
	kqueue_double_set_user_filter(true);
	assert_true(r.backend.wake_fd >= 0);       /* the pipe */
	for (int raise = 0; raise < 2; raise++) {
		struct weft__io *user = NULL;
		if (raise)
			assert_int_equal(weft__io_register_user(&r, &user), 0);
		struct notifier n = { .r = &r, .raise = raise };
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, notify_main, &n), 0);
		/* No limit: only the other thread's wake-up ends it (before
		 * or during the wait). */
		int got = weft__reactor_turn(&r, -1);
		pthread_join(th, NULL);
		assert_int_equal(got, raise ? 1 : 0);
		if (raise) {
			assert_true(weft__io_readiness(user, NULL) & WEFT__READY_READABLE);
			weft__io_deregister(user);
		}
	}
	/* A wake-up already pending makes the next turn a poll: it drained
	 * the pipe, so the one after that waits its time. */
	weft__reactor_notify(&r);
	weft__reactor_notify(&r);
	assert_int_equal(weft__reactor_turn(&r, -1), 0);
	int64_t t0 = now_ns();
	assert_int_equal(weft__reactor_turn(&r, 20 * 1000000LL), 0);
	assert_true(now_ns() - t0 >= 20 * 1000000LL);
	weft__reactor_fini(&r);
}

/* EV_EOF maps to the closed bits of its filter's direction, and with a
 * socket error in fflags to an error too: from a real peer's shutdown,
 * and injected for what the double cannot read from Linux (fflags). */
static void ev_eof_is_read_or_write_closed_and_fflags_an_error(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2];
	socket_pair(sv);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	assert_true(weft__reactor_turn(&r, 0) >= 0);   /* writable */
	uint32_t ready = weft__io_readiness(io, NULL);
	assert_int_equal(ready, WEFT__READY_WRITABLE);

	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	/* 1 on a BSD; the double may add an EVFILT_WRITE event (Linux wakes
	 * both directions on a state change: kqueue_double.h, "Cannot"). */
	assert_true(weft__reactor_turn(&r, 1000 * 1000000LL) >= 1);
	ready = weft__io_readiness(io, NULL);
	assert_true(ready & WEFT__READY_READ_CLOSED);
	assert_false(ready & (WEFT__READY_ERROR | WEFT__READY_WRITE_CLOSED));

	assert_int_equal(kqueue_double_inject(r.backend.fd, (uintptr_t)sv[0], EVFILT_WRITE,
					      EV_EOF, ECONNRESET), 0);
	assert_int_equal(weft__reactor_turn(&r, 1000 * 1000000LL), 1);
	ready = weft__io_readiness(io, NULL);
	assert_true(ready & WEFT__READY_WRITE_CLOSED);
	assert_true(ready & WEFT__READY_ERROR);
	weft__io_deregister(io);
	weft__reactor_fini(&r);
	close(sv[0]);
	close(sv[1]);
}

/* A removal sends nothing; its deletes ride on the next call. A new fd
 * that gets the number of a removed, closed one is registered after those
 * deletes (the queue keeps their order), so they cannot unregister it;
 * and a wait whose queued deletes fail (the fd was closed) still waits
 * its time instead of returning at once. */
static void a_reused_number_is_not_unregistered_by_queued_deletes(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2];
	socket_pair(sv);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	int num = sv[0];
	weft__io_deregister(io);
	close(sv[0]);
	close(sv[1]);

	/* Only the deletes of a closed fd are queued: the wait gets their
	 * errors, and waits again for its whole time. */
	int64_t t0 = now_ns();
	assert_int_equal(weft__reactor_turn(&r, 20 * 1000000LL), 0);
	assert_true(now_ns() - t0 >= 20 * 1000000LL);

	socket_pair(sv);
	assert_int_equal(sv[0], num);
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	int keep = sv[0];
	weft__io_deregister(io);   /* queued ... */
	close(sv[0]);              /* ... closed ... */
	close(sv[1]);
	socket_pair(sv);           /* ... and the number taken again */
	assert_int_equal(sv[0], keep);
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	assert_true(weft__reactor_turn(&r, 0) >= 0);   /* writable */
	assert_int_equal(write(sv[1], "x", 1), 1);
	assert_int_equal(weft__reactor_turn(&r, 1000 * 1000000LL), 1);
	assert_true(weft__io_readiness(io, NULL) & WEFT__READY_READABLE);
	weft__io_deregister(io);
	weft__reactor_fini(&r);
	close(sv[0]);
	close(sv[1]);
}

/* The backend's own wait: at most @cap events, the tokens' readiness ORed
 * into @ready[token index] (tokens are &tok[i]). The count. */
static char tok[512];

static int wait_into(struct weft__backend *b, int64_t timeout_ns, uint32_t *ready, int *failed_err)
{
	struct weft__backend_event evs[256];
	int n = weft__backend_wait(b, evs, 256, timeout_ns);
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		char *t = evs[i].token;
		assert_true(t >= tok && t < tok + sizeof tok);
		ready[t - tok] |= evs[i].ready;
		if ((evs[i].ready & WEFT__READY_FAILED) && failed_err)
			failed_err[t - tok] = evs[i].err;
	}
	return n;
}

/* Registrations and removals make no kevent call of their own: they ride
 * on the wait's, all of them in one call when they fit. */
static void changes_ride_on_the_waiting_call(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int kq = r.backend.fd;
	int sv[3][2];
	struct weft__io *io[3];
	int64_t calls = kqueue_double_calls(kq);
	for (int i = 0; i < 3; i++) {
		socket_pair(sv[i]);
		assert_int_equal(write(sv[i][1], "x", 1), 1);
		assert_int_equal(weft__io_register(&r, sv[i][0], 0, &io[i]), 0);
	}
	assert_int_equal(kqueue_double_calls(kq), calls);
	/* One call: six EV_ADDs, then each fd readable and writable. */
	assert_int_equal(weft__reactor_turn(&r, 0), 6);
	assert_int_equal(kqueue_double_calls(kq), calls + 1);
	for (int i = 0; i < 3; i++) {
		assert_true(weft__io_readiness(io[i], NULL) & WEFT__READY_READABLE);
		weft__io_deregister(io[i]);
	}
	assert_int_equal(kqueue_double_calls(kq), calls + 1);
	assert_int_equal(weft__reactor_turn(&r, 0), 0);
	assert_int_equal(kqueue_double_calls(kq), calls + 2);
	weft__reactor_fini(&r);
	for (int i = 0; i < 3; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

/* A registration the kernel refuses in the wait comes back as one
 * FAILED event for its token with the errno, whichever filter it was,
 * or both (the other filter's knote stays, for the removal to delete):
 * with the read filter refused, the write filter's event comes too. */
static void a_refused_registration_is_one_failed_event(void **state)
{
	(void)state;
	static const short filters[3] = { EVFILT_READ, EVFILT_WRITE, 0 /* both */ };
	static const int events[3] = { 2, 1, 1 };
	for (int f = 0; f < 3; f++) {
		struct weft__backend b;
		assert_int_equal(weft__backend_init(&b, WEFT_BACKEND_KQUEUE), 0);
		int sv[2];
		socket_pair(sv);
		assert_int_equal(kqueue_double_fail_changes(b.fd, filters[f], EV_ADD, ENOMEM,
							   filters[f] ? 1 : 2), 0);
		assert_int_equal(weft__backend_add(&b, sv[0], &tok[0]), 0);
		uint32_t ready[1] = { 0 };
		int err[1] = { 0 };
		assert_int_equal(wait_into(&b, 0, ready, err), events[f]);
		assert_true(ready[0] & WEFT__READY_FAILED);
		assert_int_equal(err[0], -ENOMEM);
		assert_int_equal(weft__backend_del(&b, sv[0]), 0);
		assert_int_equal(wait_into(&b, 0, ready, err), 0);
		for (int j = 0; j < 2; j++) {
			errno = 0;
			assert_int_equal(kqueue_double_inject(b.fd, (uintptr_t)sv[0], filters[j], 0, 0), -1);
			assert_int_equal(errno, ENOENT);
		}
		weft__backend_fini(&b);
		close(sv[0]);
		close(sv[1]);
	}
}

/* More changes than one call takes (half the eventlist: each may come back
 * as an error) go first in calls that collect no event (a removal still
 * queued may name a slot freed at the turn's start), the rest with the
 * call that collects. A refused registration whose removal is still
 * queued behind it is dropped: its slot is dead, maybe freed. */
static void a_long_queue_is_sent_in_calls_that_collect_nothing_first(void **state)
{
	(void)state;
	enum { N = 150 };   /* more than 128, the changes a 256-event wait takes */
	struct weft__backend b;
	assert_int_equal(weft__backend_init(&b, WEFT_BACKEND_KQUEUE), 0);
	int sv[N][2];
	assert_int_equal(kqueue_double_fail_change(b.fd, EVFILT_READ, EV_ADD, ENOMEM), 0);
	for (int i = 0; i < N; i++) {
		socket_pair(sv[i]);
		assert_int_equal(weft__backend_add(&b, sv[i][0], &tok[i]), 0);
	}
	assert_int_equal(weft__backend_del(&b, sv[0][0]), 0);   /* the 151st change */
	int64_t calls = kqueue_double_calls(b.fd);
	uint32_t ready[N] = { 0 };
	int err[N] = { 0 };
	/* 128 changes with receipts: nothing collected; then the other 23,
	 * whose removal of the refused read filter comes back ENOENT and so
	 * ends that call too (rule 9); a third call collects the N - 1 live
	 * fds' write events. */
	assert_int_equal(wait_into(&b, 0, ready, err), N - 1);
	assert_int_equal(kqueue_double_calls(b.fd), calls + 3);
	assert_int_equal(ready[0], 0);
	for (int i = 1; i < N; i++)
		assert_int_equal(ready[i], WEFT__READY_WRITABLE);
	for (int i = 1; i < N; i++)
		assert_int_equal(weft__backend_del(&b, sv[i][0]), 0);
	assert_int_equal(wait_into(&b, 0, ready, err), 0);
	weft__backend_fini(&b);
	for (int i = 0; i < N; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

/* What the hooks below do inside the waiting thread's kevent call, before
 * the call applies its changes: register fd with token. */
struct in_call {
	struct weft__backend *b;
	int fd;
	void *token;
	int rc;
};

static void register_in_call(void *p)
{
	struct in_call *c = p;
	c->rc = weft__backend_add(c->b, c->fd, c->token);
}

/* The waiting thread took a removal of a number and its call has not
 * applied it yet, as when the thread is preempted inside the system
 * call; another thread registers a new fd that got the number. The
 * registration is queued behind the removal and sent after it, so the
 * removal cannot unregister it: the new fd's data is reported. (A
 * registration sent at once from the other thread would be applied first
 * and then deleted, and the wait would sleep its time out.) */
static void a_removal_in_flight_cannot_unregister_a_reused_number(void **state)
{
	(void)state;
	struct weft__backend b;
	assert_int_equal(weft__backend_init(&b, WEFT_BACKEND_KQUEUE), 0);
	int sv[2];
	socket_pair(sv);
	uint32_t ready[2] = { 0 };
	assert_int_equal(weft__backend_add(&b, sv[0], &tok[0]), 0);
	assert_int_equal(wait_into(&b, 0, ready, NULL), 1);
	int num = sv[0];
	assert_int_equal(weft__backend_del(&b, sv[0]), 0);
	close(sv[0]);
	close(sv[1]);
	socket_pair(sv);
	assert_int_equal(sv[0], num);
	assert_int_equal(write(sv[1], "x", 1), 1);
	struct in_call c = { &b, sv[0], &tok[1], -1 };
	assert_int_equal(kqueue_double_before_call(b.fd, register_in_call, &c), 0);
	memset(ready, 0, sizeof ready);
	/* Bounded: a lost registration sleeps 2 s and fails below. */
	assert_true(wait_into(&b, 2000 * 1000000LL, ready, NULL) >= 1);
	assert_int_equal(c.rc, 0);
	assert_true(ready[1] & WEFT__READY_READABLE);
	assert_int_equal(ready[0], 0);
	weft__backend_fini(&b);
	close(sv[0]);
	close(sv[1]);
}

/* A registration made while the wait sleeps wakes it, and the wait sends
 * the change at once and reports its fd, instead of sleeping its time
 * out with the change queued. */
static void a_registration_wakes_a_sleeping_wait_and_is_sent_at_once(void **state)
{
	(void)state;
	struct weft__backend b;
	assert_int_equal(weft__backend_init(&b, WEFT_BACKEND_KQUEUE), 0);
	int sv[2];
	socket_pair(sv);
	assert_int_equal(write(sv[1], "x", 1), 1);
	struct in_call c = { &b, sv[0], &tok[0], -1 };
	assert_int_equal(kqueue_double_before_call(b.fd, register_in_call, &c), 0);
	uint32_t ready[1] = { 0 };
	int64_t t0 = now_ns();
	/* Bounded: without the wake-up it sleeps 2 s and fails below. */
	assert_true(wait_into(&b, 2000 * 1000000LL, ready, NULL) >= 1);
	assert_true(now_ns() - t0 < 1000 * 1000000LL);
	assert_int_equal(c.rc, 0);
	assert_true(ready[0] & WEFT__READY_READABLE);
	assert_int_equal(weft__backend_del(&b, sv[0]), 0);
	weft__backend_fini(&b);
	close(sv[0]);
	close(sv[1]);
}

/* Two sleeping waits in turn, each woken by a registration made while it
 * sleeps: the "woken once per call" mark is reset when a call returns,
 * or only the first wait would ever be woken. */
static void every_sleeping_wait_is_woken_by_a_registration(void **state)
{
	(void)state;
	struct weft__backend b;
	assert_int_equal(weft__backend_init(&b, WEFT_BACKEND_KQUEUE), 0);
	int sv[2][2];
	for (int k = 0; k < 2; k++) {
		socket_pair(sv[k]);
		assert_int_equal(write(sv[k][1], "x", 1), 1);
		struct in_call c = { &b, sv[k][0], &tok[k], -1 };
		assert_int_equal(kqueue_double_before_call(b.fd, register_in_call, &c), 0);
		uint32_t ready[2] = { 0 };
		int64_t t0 = now_ns();
		/* Bounded: a wait not woken sleeps 2 s and fails below. */
		assert_true(wait_into(&b, 2000 * 1000000LL, ready, NULL) >= 1);
		assert_true(now_ns() - t0 < 1000 * 1000000LL);
		assert_int_equal(c.rc, 0);
		assert_true(ready[k] & WEFT__READY_READABLE);
	}
	weft__backend_fini(&b);
	for (int k = 0; k < 2; k++) {
		close(sv[k][0]);
		close(sv[k][1]);
	}
}

/* A removal queued behind more changes than one call takes: the calls
 * that send the first ones collect nothing (EV_RECEIPT), so the removed
 * fd's pending edge is not reported (its slot may be freed by then). */
static void a_long_queue_collects_nothing_before_its_removals_are_sent(void **state)
{
	(void)state;
	enum { N = 150 };
	struct weft__backend b;
	assert_int_equal(weft__backend_init(&b, WEFT_BACKEND_KQUEUE), 0);
	int x[2], sv[N][2];
	socket_pair(x);
	uint32_t ready[N + 1] = { 0 };
	assert_int_equal(weft__backend_add(&b, x[0], &tok[N]), 0);
	assert_int_equal(wait_into(&b, 0, ready, NULL), 1);   /* applied; writable taken */
	for (int i = 0; i < N; i++) {
		socket_pair(sv[i]);
		assert_int_equal(weft__backend_add(&b, sv[i][0], &tok[i]), 0);
	}
	assert_int_equal(write(x[1], "x", 1), 1);   /* a pending edge for x */
	assert_int_equal(weft__backend_del(&b, x[0]), 0);   /* the 151st change */
	memset(ready, 0, sizeof ready);
	assert_int_equal(wait_into(&b, 0, ready, NULL), N);
	assert_int_equal(ready[N], 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(ready[i], WEFT__READY_WRITABLE);
	weft__backend_fini(&b);
	close(x[0]);
	close(x[1]);
	for (int i = 0; i < N; i++) {
		close(sv[i][0]);
		close(sv[i][1]);
	}
}

/* A wait woken by a registration goes on to send it in a second call;
 * that call's events and the user event raised with the wake-up must
 * still fit the caller's array (a review found the user event written
 * one past it). */
enum { FILL = 150 };
static int fill_sv[FILL][2];

static void register_many_and_raise(void *p)
{
	struct weft__backend *b = p;
	for (int i = 0; i < FILL; i++)
		assert_int_equal(weft__backend_add(b, fill_sv[i][0], &tok[i]), 0);
	assert_int_equal(weft__backend_user_raise(b), 0);
}

static void a_woken_wait_keeps_room_for_the_user_event(void **state)
{
	(void)state;
	struct weft__backend b;
	assert_int_equal(weft__backend_init(&b, WEFT_BACKEND_KQUEUE), 0);
	weft__backend_user_set(&b, &tok[FILL]);
	for (int i = 0; i < FILL; i++) {
		socket_pair(fill_sv[i]);
		assert_int_equal(write(fill_sv[i][1], "x", 1), 1);   /* two events each */
	}
	struct weft__backend_event evs[257];
	memset(evs, 0, sizeof evs);
	static char canary;
	evs[256].token = &canary;
	assert_int_equal(kqueue_double_before_call(b.fd, register_many_and_raise, &b), 0);
	int n = weft__backend_wait(&b, evs, 256, 2000 * 1000000LL);
	assert_true(n > 0 && n <= 256);
	assert_ptr_equal(evs[256].token, &canary);
	bool user = false;
	for (int i = 0; i < n; i++)
		user = user || evs[i].token == &tok[FILL];
	assert_true(user);
	weft__backend_fini(&b);
	for (int i = 0; i < FILL; i++) {
		close(fill_sv[i][0]);
		close(fill_sv[i][1]);
	}
}

/* A queued delete refused for another reason than a closed fd (EBADF,
 * ENOENT) left a knote naming a token the reactor frees: the wait that
 * carried it fails, as a failed wait does, and the error is sticky. */
static void a_delete_refused_in_the_wait_fails_the_backend(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2];
	socket_pair(sv);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	assert_true(weft__reactor_turn(&r, 0) >= 0);
	weft__io_deregister(io);   /* queued, sv[0] still open */
	assert_int_equal(kqueue_double_fail_change(r.backend.fd, EVFILT_READ, EV_DELETE, ENOMEM),
			 0);
	assert_int_equal(weft__reactor_turn(&r, 0), -ENOMEM);
	assert_int_equal(weft__reactor_turn(&r, 0), -ENOMEM);
	weft__reactor_fini(&r);
	close(sv[0]);
	close(sv[1]);
}

/* The same with a registration queued behind the refused delete: the
 * registration itself succeeds (it sends nothing), and the wait that
 * carries both reports the failure. */
static void a_delete_refused_with_a_registration_behind_it_fails_the_wait(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2], sw[2];
	socket_pair(sv);
	socket_pair(sw);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	weft__io_deregister(io);   /* queued, sv[0] still open */
	assert_int_equal(kqueue_double_fail_change(r.backend.fd, EVFILT_WRITE, EV_DELETE, ENOMEM),
			 0);
	assert_int_equal(weft__io_register(&r, sw[0], 0, &io), 0);
	assert_int_equal(weft__reactor_turn(&r, 0), -ENOMEM);
	weft__reactor_fini(&r);
	close(sv[0]);
	close(sv[1]);
	close(sw[0]);
	close(sw[1]);
}
#endif /* WEFT_KQUEUE_DOUBLE */

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(names_are_the_spellings_weft_backend_accepts,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(auto_runs_the_builds_backend_and_the_metrics_say_so,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(the_builds_backend_asked_for_by_name_runs_it,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(io_uring_and_the_other_backend_are_not_in_this_build,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(a_value_that_is_no_backend_is_einval,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(the_environment_overrides_the_config,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(a_bad_weft_backend_value_is_einval,
						env_clear, env_clear),
		cmocka_unit_test_setup_teardown(a_named_backend_that_cannot_start_is_enotsup,
						env_clear, env_clear),
#ifdef WEFT_KQUEUE_DOUBLE
		cmocka_unit_test(without_evfilt_user_a_pipe_wakes_the_wait_and_carries_the_user_event),
		cmocka_unit_test(ev_eof_is_read_or_write_closed_and_fflags_an_error),
		cmocka_unit_test(a_reused_number_is_not_unregistered_by_queued_deletes),
		cmocka_unit_test(changes_ride_on_the_waiting_call),
		cmocka_unit_test(a_refused_registration_is_one_failed_event),
		cmocka_unit_test(a_long_queue_is_sent_in_calls_that_collect_nothing_first),
		cmocka_unit_test(a_removal_in_flight_cannot_unregister_a_reused_number),
		cmocka_unit_test(a_registration_wakes_a_sleeping_wait_and_is_sent_at_once),
		cmocka_unit_test(every_sleeping_wait_is_woken_by_a_registration),
		cmocka_unit_test(a_long_queue_collects_nothing_before_its_removals_are_sent),
		cmocka_unit_test(a_woken_wait_keeps_room_for_the_user_event),
		cmocka_unit_test(a_delete_refused_in_the_wait_fails_the_backend),
		cmocka_unit_test(a_delete_refused_with_a_registration_behind_it_fails_the_wait),
#endif
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
