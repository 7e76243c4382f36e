/* test_reactor.c - the reactor, on the build's backend (epoll, or kqueue
 * through the kevent test double): readiness and wakers, the tick that
 * keeps a stale clear from losing an edge, deregistration while an event
 * is in flight, notify, and thread safety. Internal API. Then the
 * driver's sticky error on both runtime flavours: an injected or real
 * epoll_wait (kevent) failure ends block_on with the errno (bounded by a watchdog,
 * so a runtime that swallows the error fails the test instead of hanging
 * it), shows in the metrics, stops the workers from spinning, and EINTR
 * is not an error. */
#include "helpers.h"

#include "sched_runtime.h"
#include "io_reactor.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifdef WEFT_KQUEUE_DOUBLE
#include <kqueue_double.h>
#endif

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void poke(int fd)
{
	char c = 'x';
	assert_int_equal(write(fd, &c, 1), 1);
}

static void readiness_event_wakes_the_reader_once(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2];
	make_pair(sv);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);

	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	struct weft__io_ready ev;

	/* The initial edge (writable) arrives; reading is still pending. */
	assert_true(weft__reactor_turn(&r, 0) >= 0);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_PENDING);
	assert_int_equal(cw.wakes, 0);
	poke(sv[1]);
	assert_int_equal(weft__reactor_turn(&r, 1000 * 1000000LL), 1);
	assert_int_equal(cw.wakes, 1);
	assert_true(atomic_load(&r.events) >= 1);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_READY);
	assert_true(ev.ready & WEFT__READY_READABLE);
	/* Writable is its own direction. */
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_WRITE, &cx, &ev), WEFT_READY);

	weft__io_deregister(io);
	weft__reactor_fini(&r);
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
	close(sv[0]);
	close(sv[1]);
}

static void a_clear_with_a_stale_tick_keeps_the_new_edge(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2];
	make_pair(sv);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], WEFT__READY_READABLE, &io), 0);
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	struct weft__io_ready stale, fresh;
	uint32_t tick0, tick1;

	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &stale), WEFT_READY);
	weft__io_readiness(io, &tick0);
	/* An edge lands between "the syscall said EAGAIN" and the clear. */
	poke(sv[1]);
	assert_true(weft__reactor_turn(&r, 1000 * 1000000LL) >= 1);
	weft__io_readiness(io, &tick1);
	assert_int_not_equal(tick0, tick1);
	weft__io_clear_ready(io, &stale);
	assert_true(weft__io_readiness(io, NULL) & WEFT__READY_READABLE);

	/* A clear with the current tick does clear. */
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &fresh), WEFT_READY);
	weft__io_clear_ready(io, &fresh);
	assert_false(weft__io_readiness(io, NULL) & WEFT__READY_READABLE);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &fresh), WEFT_PENDING);

	weft__io_deregister(io);
	weft__reactor_fini(&r);
	close(sv[0]);
	close(sv[1]);
}

static void closed_bits_survive_a_clear(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2];
	make_pair(sv);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	close(sv[1]);
	assert_true(weft__reactor_turn(&r, 1000 * 1000000LL) >= 1);
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	struct weft__io_ready ev;
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_READY);
	assert_true(ev.ready & WEFT__READY_READ_CLOSED);
	weft__io_clear_ready(io, &ev);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_READY);
	weft__io_deregister(io);
	weft__reactor_fini(&r);
	close(sv[0]);
}

/*
 * Two slots become readable in the same turn; whichever is woken first
 * deregisters the other (and closes its fd) from inside its wake, so the
 * other's event is already collected and in flight. It must be delivered
 * to a dead slot harmlessly (ASan checks the memory).
 */
struct cross {
	struct weft__io *io[2];
	int fd[2];
	int woken;
	int killed;
};

static struct cross *the_cross;

static void cross_wake_by_ref(const void *data)
{
	int me = (int)(intptr_t)data;
	struct cross *c = the_cross;
	c->woken++;
	int other = 1 - me;
	if (c->io[other]) {
		weft__io_deregister(c->io[other]);
		close(c->fd[other]);
		c->io[other] = NULL;
		c->killed++;
	}
}

static void cross_noop(const void *data)
{
	(void)data;
}

static weft_waker cross_clone(const void *data);
static void cross_wake(const void *data)
{
	cross_wake_by_ref(data);
}

static const weft_waker_vtable cross_vtable = {
	.clone = cross_clone,
	.wake = cross_wake,
	.wake_by_ref = cross_wake_by_ref,
	.drop = cross_noop,
};

static weft_waker cross_clone(const void *data)
{
	return (weft_waker){ .vtable = &cross_vtable, .data = data };
}

static void deregistering_while_an_event_is_in_flight_is_safe(void **state)
{
	(void)state;
	for (int round = 0; round < 50; round++) {
		struct weft__reactor r;
		assert_int_equal(weft__reactor_init(&r), 0);
		struct cross c = { 0 };
		the_cross = &c;
		int a[2], b[2];
		make_pair(a);
		make_pair(b);
		c.fd[0] = a[0];
		c.fd[1] = b[0];
		assert_int_equal(weft__io_register(&r, a[0], 0, &c.io[0]), 0);
		assert_int_equal(weft__io_register(&r, b[0], 0, &c.io[1]), 0);
		assert_true(weft__reactor_turn(&r, 0) >= 0);   /* initial edges */
		for (int i = 0; i < 2; i++) {
			weft_waker w = { .vtable = &cross_vtable, .data = (void *)(intptr_t)i };
			weft_cx cx = weft_cx_from_waker(&w);
			struct weft__io_ready ev;
			assert_int_equal(weft__io_poll_ready(c.io[i], WEFT__IO_READ, &cx, &ev),
					 WEFT_PENDING);
		}
		poke(a[1]);
		poke(b[1]);
		assert_int_equal(weft__reactor_turn(&r, 1000 * 1000000LL), 2);
		assert_int_equal(c.woken, 1);
		assert_int_equal(c.killed, 1);
		/* The next turn releases the dead slot. */
		assert_true(weft__reactor_turn(&r, 0) >= 0);
		for (int i = 0; i < 2; i++) {
			if (c.io[i]) {
				weft__io_deregister(c.io[i]);
				close(c.fd[i]);
			}
		}
		weft__reactor_fini(&r);
		close(a[1]);
		close(b[1]);
	}
}

struct turner {
	struct weft__reactor *r;
	_Atomic pid_t tid;
};

static void *turn_forever(void *arg)
{
	struct turner *t = arg;
	atomic_store(&t->tid, test_gettid());
	int rc = weft__reactor_turn(t->r, -1);
	return (void *)(intptr_t)rc;
}

static void notify_ends_a_turn_blocked_without_timeout(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	struct turner tr = { .r = &r };
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, turn_forever, &tr), 0);
	/* The turn is asleep in the kernel: the notify must wake it there
	 * (a notify before the turn is the other case, below). */
	uint64_t until = test_now_us() + 5000000;
	while (atomic_load(&tr.tid) == 0 && test_now_us() < until)
		usleep(100);
	assert_true(test_wait_thread_in_backend_wait(atomic_load(&tr.tid), until));
	weft__reactor_notify(&r);
	void *ret;
	pthread_join(t, &ret);
	assert_int_equal((int)(intptr_t)ret, 0);   /* the wake-up is not an I/O event */
	/* A notify before the turn makes the turn return at once. */
	weft__reactor_notify(&r);
	assert_int_equal(weft__reactor_turn(&r, -1), 0);
	weft__reactor_fini(&r);
}

/* One thread turns while another registers, polls and deregisters slots
 * whose peers are being written: TSan checks the protocol. */
struct churn {
	struct weft__reactor r;
	_Atomic bool stop;
};

static void *churn_turner(void *arg)
{
	struct churn *c = arg;
	while (!atomic_load(&c->stop))
		weft__reactor_turn(&c->r, 1000000);
	return NULL;
}

static void registration_churn_against_a_turning_thread(void **state)
{
	(void)state;
	struct churn c;
	assert_int_equal(weft__reactor_init(&c.r), 0);
	atomic_init(&c.stop, false);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, churn_turner, &c), 0);
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	for (int i = 0; i < 500; i++) {
		int sv[2];
		make_pair(sv);
		struct weft__io *io;
		assert_int_equal(weft__io_register(&c.r, sv[0], 0, &io), 0);
		struct weft__io_ready ev;
		weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev);
		poke(sv[1]);
		/* Not synchronisation: every other round gives the turner
		 * time to see the edge before the deregistration, so both
		 * orders occur; no check depends on which. */
		if (i % 2)
			usleep(50);
		weft__io_deregister(io);
		close(sv[0]);
		close(sv[1]);
	}
	atomic_store(&c.stop, true);
	weft__reactor_notify(&c.r);
	pthread_join(t, NULL);
	weft__reactor_fini(&c.r);
	weft_waker_drop(&w);
	assert_int_equal(test_counting_waker_load(&cw.live), 0);
}

/* A poll with another task's waker replaces the stored one and drops it:
 * the replaced waker's reference (for a task waker, one on its task) is
 * released at once, not kept until the slot is woken or deregistered.
 * The same waker again is kept as it is (no clone, no drop). */
static void a_replaced_waker_is_dropped_at_once(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2];
	make_pair(sv);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	test_counting_waker first, second;
	test_counting_waker_init(&first);
	test_counting_waker_init(&second);
	weft_waker w1 = test_counting_waker_get(&first);
	weft_waker w2 = test_counting_waker_get(&second);
	weft_cx cx1 = weft_cx_from_waker(&w1), cx2 = weft_cx_from_waker(&w2);
	struct weft__io_ready ev;

	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx1, &ev), WEFT_PENDING);
	assert_int_equal(first.live, 2);   /* ours and the slot's clone */
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx1, &ev), WEFT_PENDING);
	assert_int_equal(first.clones, 1);   /* the same waker: kept */
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx2, &ev), WEFT_PENDING);
	assert_int_equal(second.live, 2);
	assert_int_equal(first.live, 1);     /* the replaced clone is gone */
	assert_int_equal(first.drops, 1);

	/* The edge wakes only the waker stored last. One event on epoll;
	 * kqueue reports the registration's pending writable edge as an
	 * event of its own (EVFILT_WRITE), so two there. */
	poke(sv[1]);
	assert_int_equal(weft__reactor_turn(&r, 1000 * 1000000LL),
			 r.backend.kind == WEFT_BACKEND_KQUEUE ? 2 : 1);
	assert_int_equal(first.wakes, 0);
	assert_int_equal(second.wakes, 1);
	weft__io_deregister(io);
	weft__reactor_fini(&r);
	weft_waker_drop(&w1);
	weft_waker_drop(&w2);
	assert_int_equal(first.live, 0);
	assert_int_equal(second.live, 0);
	close(sv[0]);
	close(sv[1]);
}

/* A wake from another thread: the woken side sees the readiness. The
 * writer waits until the turning thread sleeps in the kernel, so the
 * edge wakes it there (a plain thread: it records `late`, the test
 * asserts). */
struct writer {
	int fd;
	pid_t turner;
	atomic_int late;
};

static void *write_later(void *arg)
{
	struct writer *w = arg;
	atomic_store(&w->late, !test_wait_thread_in_backend_wait(w->turner,
								   test_now_us() + 5000000));
	poke(w->fd);
	return NULL;
}

static void a_waker_stored_before_the_edge_is_woken(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	int sv[2];
	make_pair(sv);
	struct weft__io *io;
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	struct weft__io_ready ev;
	assert_true(weft__reactor_turn(&r, 0) >= 0);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_PENDING);
	pthread_t t;
	struct writer wr = { .fd = sv[1], .turner = test_gettid() };
	assert_int_equal(pthread_create(&t, NULL, write_later, &wr), 0);
	uint64_t deadline = test_now_us() + 10000000;
	while (test_counting_waker_load(&cw.wakes) == 0 && test_now_us() < deadline)
		weft__reactor_turn(&r, 1000 * 1000000LL);
	pthread_join(t, NULL);
	assert_false(atomic_load(&wr.late));
	assert_int_equal(cw.wakes, 1);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_READY);
	weft__io_deregister(io);
	weft__reactor_fini(&r);
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
	close(sv[0]);
	close(sv[1]);
}

/* The backend's user event (what signal listeners are woken through):
 * a raise makes its slot readable at the next turn, raises before a turn
 * make one edge, a second user slot is refused, and once the slot is
 * deregistered a raise reports nothing. */
static void a_user_event_raise_is_one_readable_edge_of_its_slot(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	struct weft__io *io = NULL, *other = NULL;
	assert_int_equal(weft__io_register_user(&r, &io), 0);
	assert_int_equal(weft__io_register_user(&r, &other), -EBUSY);

	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	struct weft__io_ready ev;
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_PENDING);
	assert_int_equal(weft__reactor_turn(&r, 0), 0);   /* nothing raised */
	assert_int_equal(cw.wakes, 0);

	assert_int_equal(weft__reactor_user_raise(&r), 0);
	assert_int_equal(weft__reactor_user_raise(&r), 0);
	assert_int_equal(weft__reactor_turn(&r, 1000 * 1000000LL), 1);
	assert_int_equal(cw.wakes, 1);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_READY);
	assert_true(ev.ready & WEFT__READY_READABLE);
	weft__io_clear_ready(io, &ev);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_PENDING);
	assert_int_equal(weft__reactor_turn(&r, 0), 0);   /* the two raises were one edge */

	/* Off: a raise still ends a wait but reports no event. */
	weft__io_deregister(io);
	assert_int_equal(weft__reactor_user_raise(&r), 0);
	assert_int_equal(weft__reactor_turn(&r, 1000 * 1000000LL), 0);
	/* And the slot can be taken again. */
	assert_int_equal(weft__io_register_user(&r, &other), 0);
	weft__io_deregister(other);
	weft__reactor_fini(&r);
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
}

/* A registration the backend refuses reaches its caller as the errno,
 * and nothing is left behind. epoll refuses at once (epoll_ctl, here
 * an injected fault); kqueue applies registrations in its next wait
 * (io_kqueue.c), so register returns 0 and the refusal comes with that
 * turn: both directions wake, and an operation that would wait returns
 * the errno instead of waiting for an edge that cannot come. */
static void registration_failure_reaches_the_caller(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	struct weft__io *io = NULL;
	assert_int_equal(weft__io_register(&r, -1, 0, &io), -EBADF);
	int sv[2];
	make_pair(sv);
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), -ENOMEM);
	weft__fault_reset();
#ifdef WEFT_KQUEUE_DOUBLE
	assert_int_equal(kqueue_double_fail_change(r.backend.fd, EVFILT_WRITE, EV_ADD, ENOMEM), 0);
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	char buf[8];
	struct weft__io_op rd = { .kind = WEFT__IO_OP_RECV, .fd = sv[0], .buf = buf,
				  .len = sizeof buf, .stream = true };
	struct weft__io_op cn = { .kind = WEFT__IO_OP_CONNECT, .fd = sv[0] };
	ssize_t res = 0;
	/* Nothing to read and no edge yet: it waits. */
	assert_int_equal(weft__io_op_poll(io, &cx, &rd, &res), WEFT_PENDING);
	assert_true(weft__reactor_turn(&r, 0) >= 1);
	assert_int_equal(cw.wakes, 1);
	assert_true(weft__io_readiness(io, NULL) & WEFT__READY_FAILED);
	assert_int_equal(weft__io_op_poll(io, &cx, &rd, &res), WEFT_READY);
	assert_int_equal(res, -ENOMEM);
	/* A connect cannot tell the refusal from one in progress: at once. */
	assert_int_equal(weft__io_op_poll(io, &cx, &cn, &res), WEFT_READY);
	assert_int_equal(res, -ENOMEM);
	/* Data that is there is still read: the error is for a wait. */
	poke(sv[1]);
	assert_int_equal(weft__io_op_poll(io, &cx, &rd, &res), WEFT_READY);
	assert_int_equal(res, 1);
	assert_int_equal(weft__io_op_poll(io, &cx, &rd, &res), WEFT_READY);
	assert_int_equal(res, -ENOMEM);
	/* The read filter the kernel took goes with the removal. */
	weft__io_deregister(io);
	assert_true(weft__reactor_turn(&r, 0) >= 0);
	errno = 0;
	assert_int_equal(kqueue_double_inject(r.backend.fd, (uintptr_t)sv[0], EVFILT_READ, 0, 0), -1);
	assert_int_equal(errno, ENOENT);
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
#else
	weft__fault_arm(WEFT__FAULT_BACKEND, 1, ENOMEM);
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), -ENOMEM);
	weft__fault_reset();
#endif
	/* The backend stays usable: the fd registers and reports. */
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), 0);
	assert_true(weft__reactor_turn(&r, 0) >= 1);
	assert_int_equal(weft__io_readiness(io, NULL) & (WEFT__READY_WRITABLE | WEFT__READY_FAILED),
			 WEFT__READY_WRITABLE);
	weft__io_deregister(io);
	assert_int_equal(weft__reactor_error(&r), 0);
	weft__reactor_fini(&r);
	close(sv[0]);
	close(sv[1]);
}

/* ------------------------------------------------------ driver errors */

/* Bound for block_on to notice a driver error; the watchdog fires later. */
#define ERROR_LIMIT_US (2u * 1000000u)
#define WATCHDOG_US (5u * 1000000u)

/*
 * A future that stays pending until its watchdog thread gives up on it
 * (WATCHDOG_US) and wakes it: a runtime that swallows a driver error then
 * returns 0 from block_on, and the test fails on the return value
 * instead of hanging.
 */
typedef struct watched {
	weft_future fut;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	weft_waker waker;
	bool timed_out;
	bool cancel;
	int polls;
	int drops;
	pthread_t th;
} watched;

static weft_poll watched_poll(weft_future *f, weft_cx *cx)
{
	watched *w = (watched *)f;
	pthread_mutex_lock(&w->lock);
	w->polls++;
	bool out = w->timed_out;
	if (!out)
		weft_waker_store(&w->waker, cx->waker);
	pthread_mutex_unlock(&w->lock);
	return out ? WEFT_READY : WEFT_PENDING;
}

static void watched_drop(weft_future *f)
{
	watched *w = (watched *)f;
	pthread_mutex_lock(&w->lock);
	w->drops++;
	weft_waker_drop(&w->waker);
	pthread_mutex_unlock(&w->lock);
}

static void *watchdog_main(void *arg)
{
	watched *w = arg;
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WATCHDOG_US / 1000000u;
	pthread_mutex_lock(&w->lock);
	int rc = 0;
	while (!w->cancel && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&w->cond, &w->lock, &until);
	if (!w->cancel) {
		w->timed_out = true;
		weft_waker_wake_by_ref(&w->waker);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void watched_start(watched *w)
{
	memset(w, 0, sizeof *w);
	w->fut = WEFT_FUTURE(watched_poll, watched_drop);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	assert_int_equal(pthread_create(&w->th, NULL, watchdog_main, w), 0);
}

static void watched_stop(watched *w)
{
	pthread_mutex_lock(&w->lock);
	w->cancel = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->th, NULL);
	weft_waker_drop(&w->waker);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

static weft_runtime *new_rt(uint32_t workers)
{
	weft_runtime *rt = NULL;
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = workers };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	return rt;
}

/* What one block_on(watched) did. */
typedef struct outcome {
	int rc;
	uint64_t took_us;
	bool timed_out;
	int polls, drops;
} outcome;

static outcome run_watched(weft_runtime *rt)
{
	watched w;
	watched_start(&w);
	uint64_t t0 = test_now_us();
	outcome o = { .rc = weft_block_on(rt, &w.fut) };
	o.took_us = test_now_us() - t0;
	watched_stop(&w);
	o.timed_out = w.timed_out;
	o.polls = w.polls;
	o.drops = w.drops;
	return o;
}

/* It must have ended with @want well before the watchdog. */
static void check_outcome(outcome o, int want)
{
	assert_false(o.timed_out);
	assert_int_equal(o.rc, want);
	assert_true(o.took_us < ERROR_LIMIT_US);
	/* Dropped once if it was polled, never if block_on refused. */
	assert_int_equal(o.drops, o.polls > 0 ? 1 : 0);
}

static void block_on_ends_with(weft_runtime *rt, int want)
{
	check_outcome(run_watched(rt), want);
}

static void metrics_say(weft_runtime *rt, int err)
{
	weft_runtime_metrics m;
	memset(&m, 0xff, sizeof m);
	assert_int_equal(weft_runtime_metrics_get(rt, &m, sizeof m), 0);
	assert_int_equal(m.driver_error, err);
	if (err)
		assert_true(m.driver_errors >= 1);
	else
		assert_int_equal(m.driver_errors, 0);
}

/* CPU time the whole process uses over @us of wall time. Not
 * synchronisation: the sleep is the window in which a spinning worker
 * would show; a slow machine only makes spinning easier to see. */
static uint64_t cpu_us_over(uint64_t us)
{
	struct timespec a, b;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
	usleep((useconds_t)us);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
	return (uint64_t)(b.tv_sec - a.tv_sec) * 1000000u +
	       (uint64_t)(b.tv_nsec / 1000) - (uint64_t)(a.tv_nsec / 1000);
}

/* Idle workers after an error must sleep: a spinning one burns ~300 ms of
 * the 300 ms window (a whole CPU); sleepers use next to nothing. */
static void workers_do_not_spin(void)
{
	uint64_t used = cpu_us_over(300000);
	assert_true(used < 100000);
}

static void ct_block_on_returns_an_injected_epoll_wait_ebadf(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1);
	/* Capture stderr to check the one log line. */
	char path[] = "/tmp/weft-test-stderr-XXXXXX";
	int logfd = mkstemp(path);
	assert_true(logfd >= 0);
	unlink(path);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_int_equal(dup2(logfd, 2), 2);

	weft__fault_arm(WEFT__FAULT_BACKEND_WAIT, 1, EBADF);
	outcome first = run_watched(rt);
	weft__fault_reset();
	/* Sticky: a later block_on refuses at once, the future untouched. */
	outcome again = run_watched(rt);

	/* stderr back before any assertion can fail. */
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	check_outcome(first, -EBADF);
	check_outcome(again, -EBADF);
	assert_int_equal(again.polls, 0);
	char buf[512] = { 0 };
	ssize_t n = pread(logfd, buf, sizeof buf - 1, 0);
	close(logfd);
	assert_true(n > 0);
	/* The backend names its waiting call (io_epoll.c, io_kqueue.c). */
	assert_non_null(strstr(buf, WEFT_TEST_BACKEND == WEFT_BACKEND_KQUEUE
				    ? "weft: kevent failed" : "weft: epoll_wait failed"));
	assert_non_null(strstr(buf, "errno 9"));
	int lines = 0;
	for (ssize_t i = 0; i < n; i++)
		lines += buf[i] == '\n';
	assert_int_equal(lines, 1);   /* logged once, not again when sticky */

	metrics_say(rt, -EBADF);
	weft_runtime_close(rt);
}

static void mt_block_on_returns_an_injected_epoll_wait_ebadf(void **state)
{
	(void)state;
	/* Armed before the workers start: the first park in the driver
	 * fails, possibly before block_on has even begun. */
	weft__fault_arm(WEFT__FAULT_BACKEND_WAIT, 1, EBADF);
	weft_runtime *rt = new_rt(2);
	block_on_ends_with(rt, -EBADF);
	weft__fault_reset();
	metrics_say(rt, -EBADF);
	workers_do_not_spin();
	block_on_ends_with(rt, -EBADF);
	weft_runtime_close(rt);
}

/* A thread that spawns work onto a runtime once block_on's thread (@root)
 * sleeps in its park, so a worker asleep in the driver wakes up and turns
 * the reactor again while the root waits. A plain thread: it records
 * `late` for the test to assert. */
typedef struct later {
	weft_runtime *rt;
	pid_t root;
	atomic_int late;
} later;

static weft_poll nothing_poll(weft_future *f, weft_cx *cx)
{
	(void)f;
	(void)cx;
	return WEFT_READY;
}

static void *spawn_later_main(void *arg)
{
	later *l = arg;
	/* The root's park is a futex wait; before it, block_on only takes
	 * locks nobody holds long. */
	atomic_store(&l->late, !test_wait_thread_in_futex(l->root, test_now_us() + 5000000));
	weft_future f = WEFT_FUTURE(nothing_poll, NULL);
	(void)weft_spawn_detached(l->rt, &f, sizeof f);
	return NULL;
}

static void mt_block_on_is_woken_by_an_error_that_comes_while_it_sleeps(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2);
	/* The root is parked before the driver fails: the error must wake it. */
	/* A worker asleep in epoll_wait: it takes the fault only on its
	 * next wait, after the spawn below. */
	assert_true(test_wait_named_thread_in_backend_wait("weft-worker-",
							   test_now_us() + 5000000));
	weft__fault_arm(WEFT__FAULT_BACKEND_WAIT, 1, EBADF);
	later l = { .rt = rt, .root = test_gettid() };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, spawn_later_main, &l), 0);
	block_on_ends_with(rt, -EBADF);
	pthread_join(th, NULL);
	assert_false(atomic_load(&l.late));
	weft__fault_reset();
	metrics_say(rt, -EBADF);
	workers_do_not_spin();
	weft_runtime_close(rt);
}

/* A future woken from another thread after 30 ms: block_on parks in
 * epoll_wait meanwhile. */
typedef struct woken_later {
	weft_future fut;
	pthread_mutex_t lock;
	weft_waker waker;
	bool ready;
	pthread_t th;
} woken_later;

static weft_poll woken_later_poll(weft_future *f, weft_cx *cx)
{
	woken_later *w = (woken_later *)f;
	pthread_mutex_lock(&w->lock);
	bool r = w->ready;
	if (!r)
		weft_waker_store(&w->waker, cx->waker);
	pthread_mutex_unlock(&w->lock);
	return r ? WEFT_READY : WEFT_PENDING;
}

static void *woken_later_main(void *arg)
{
	woken_later *w = arg;
	/* The injected EINTR has been taken (a wait was interrupted and
	 * retried) before the wake; the test checks the count after. */
	uint64_t until = test_now_us() + 5000000;
	while (atomic_load(&weft__faults_armed) != 0 && test_now_us() < until)
		usleep(100);
	pthread_mutex_lock(&w->lock);
	w->ready = true;
	weft_waker_wake_by_ref(&w->waker);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void eintr_from_epoll_wait_is_retried_not_reported(void **state)
{
	(void)state;
	for (uint32_t workers = 1; workers <= 2; workers++) {
		weft__fault_arm(WEFT__FAULT_BACKEND_WAIT, 1, EINTR);
		weft_runtime *rt = new_rt(workers);
		woken_later w = { .fut = WEFT_FUTURE(woken_later_poll, NULL) };
		pthread_mutex_init(&w.lock, NULL);
		assert_int_equal(pthread_create(&w.th, NULL, woken_later_main, &w), 0);
		assert_int_equal(weft_block_on(rt, &w.fut), 0);
		pthread_join(w.th, NULL);
		weft_waker_drop(&w.waker);
		pthread_mutex_destroy(&w.lock);
		/* The injected EINTR was consumed, and not as an error. */
		assert_int_equal(atomic_load(&weft__faults_armed), 0);
		metrics_say(rt, 0);
		weft__fault_reset();
		weft_runtime_close(rt);
	}
}

/* A real close(2) of @fd, as a bug elsewhere in the program would make.
 * Through syscall(2), not close(): ThreadSanitizer models fds and would
 * (rightly) report the race with a worker's epoll_wait on it, which is
 * the very bug this simulates. */
static void stray_close(int fd)
{
	assert_int_equal(syscall(SYS_close, fd), 0);
}

static void ct_stray_close_of_the_epoll_fd_ends_block_on_with_ebadf(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(1);
	/* A bug elsewhere in the program closes our epoll fd. */
	int epfd = weft__runtime_reactor(rt)->backend.fd;
	assert_true(epfd >= 0);
	stray_close(epfd);
	block_on_ends_with(rt, -EBADF);
	metrics_say(rt, -EBADF);
	/* Free closes the (now unused) number again, harmlessly: nothing
	 * in this test opened an fd since. */
	weft_runtime_close(rt);
}

static void mt_stray_close_of_the_epoll_fd_ends_block_on_with_ebadf(void **state)
{
	(void)state;
	weft_runtime *rt = new_rt(2);
	/* A worker asleep in epoll_wait on the fd. */
	assert_true(test_wait_named_thread_in_backend_wait("weft-worker-",
							   test_now_us() + 5000000));
	int epfd = weft__runtime_reactor(rt)->backend.fd;
	assert_true(epfd >= 0);
	stray_close(epfd);
	/* The sleeping worker keeps waiting on the open file; work makes it
	 * return and wait again, on the closed fd. */
	later l = { .rt = rt, .root = test_gettid() };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, spawn_later_main, &l), 0);
	block_on_ends_with(rt, -EBADF);
	pthread_join(th, NULL);
	assert_false(atomic_load(&l.late));
	metrics_say(rt, -EBADF);
	workers_do_not_spin();
	weft_runtime_close(rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(readiness_event_wakes_the_reader_once),
		cmocka_unit_test(a_clear_with_a_stale_tick_keeps_the_new_edge),
		cmocka_unit_test(closed_bits_survive_a_clear),
		cmocka_unit_test(deregistering_while_an_event_is_in_flight_is_safe),
		cmocka_unit_test(notify_ends_a_turn_blocked_without_timeout),
		cmocka_unit_test(registration_churn_against_a_turning_thread),
		cmocka_unit_test(a_waker_stored_before_the_edge_is_woken),
		cmocka_unit_test(a_replaced_waker_is_dropped_at_once),
		cmocka_unit_test(a_user_event_raise_is_one_readable_edge_of_its_slot),
		cmocka_unit_test(registration_failure_reaches_the_caller),
		cmocka_unit_test(ct_block_on_returns_an_injected_epoll_wait_ebadf),
		cmocka_unit_test(mt_block_on_returns_an_injected_epoll_wait_ebadf),
		cmocka_unit_test(mt_block_on_is_woken_by_an_error_that_comes_while_it_sleeps),
		cmocka_unit_test(eintr_from_epoll_wait_is_retried_not_reported),
		cmocka_unit_test(ct_stray_close_of_the_epoll_fd_ends_block_on_with_ebadf),
		cmocka_unit_test(mt_stray_close_of_the_epoll_fd_ends_block_on_with_ebadf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
