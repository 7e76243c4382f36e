/* test_reactor.c - the epoll reactor: readiness and wakers, the tick that
 * keeps a stale clear from losing an edge, deregistration while an event
 * is in flight, notify, and thread safety. Internal API. */
#include "helpers.h"

#include "internal.h"
#include "reactor.h"

#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

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

	weft_counting_waker cw;
	weft_counting_waker_init(&cw);
	weft_waker w = weft_counting_waker_get(&cw);
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

static void *turn_forever(void *arg)
{
	struct weft__reactor *r = arg;
	int rc = weft__reactor_turn(r, -1);
	return (void *)(intptr_t)rc;
}

static void notify_ends_a_turn_blocked_without_timeout(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, turn_forever, &r), 0);
	usleep(20000);
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
	weft_counting_waker cw;
	weft_counting_waker_init(&cw);
	weft_waker w = weft_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	for (int i = 0; i < 500; i++) {
		int sv[2];
		make_pair(sv);
		struct weft__io *io;
		assert_int_equal(weft__io_register(&c.r, sv[0], 0, &io), 0);
		struct weft__io_ready ev;
		weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev);
		poke(sv[1]);
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
	assert_int_equal(weft_counting_waker_load(&cw.live), 0);
}

/* A wake from another thread: the woken side sees the readiness. */
static void *write_later(void *arg)
{
	usleep(10000);
	poke((int)(intptr_t)arg);
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
	weft_counting_waker cw;
	weft_counting_waker_init(&cw);
	weft_waker w = weft_counting_waker_get(&cw);
	weft_cx cx = weft_cx_from_waker(&w);
	struct weft__io_ready ev;
	assert_true(weft__reactor_turn(&r, 0) >= 0);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_PENDING);
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, write_later, (void *)(intptr_t)sv[1]), 0);
	uint64_t deadline = test_now_us() + 2000000;
	while (weft_counting_waker_load(&cw.wakes) == 0 && test_now_us() < deadline)
		weft__reactor_turn(&r, 100 * 1000000LL);
	pthread_join(t, NULL);
	assert_int_equal(cw.wakes, 1);
	assert_int_equal(weft__io_poll_ready(io, WEFT__IO_READ, &cx, &ev), WEFT_READY);
	weft__io_deregister(io);
	weft__reactor_fini(&r);
	weft_waker_drop(&w);
	assert_int_equal(cw.live, 0);
	close(sv[0]);
	close(sv[1]);
}

static void registration_failure_leaves_nothing_behind(void **state)
{
	(void)state;
	struct weft__reactor r;
	assert_int_equal(weft__reactor_init(&r), 0);
	struct weft__io *io = NULL;
	assert_int_equal(weft__io_register(&r, -1, 0, &io), -EBADF);
	weft__fault_arm(WEFT__FAULT_EPOLL, 1, ENOMEM);
	int sv[2];
	make_pair(sv);
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), -ENOMEM);
	weft__fault_arm(WEFT__FAULT_ALLOC, 1, ENOMEM);
	assert_int_equal(weft__io_register(&r, sv[0], 0, &io), -ENOMEM);
	weft__fault_reset();
	weft__reactor_fini(&r);
	close(sv[0]);
	close(sv[1]);
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
		cmocka_unit_test(registration_failure_leaves_nothing_behind),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
