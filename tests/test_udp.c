/* test_udp.c - UDP sockets on 127.0.0.1: send_to/recv_from, connected
 * send/recv, a receive that waits for its datagram. */
#include "helpers.h"

#include <errno.h>
#include <string.h>

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_udp_socket *a, *b;
	weft_addr a_addr, b_addr, from;
	char buf[64];
	ssize_t n;
} udp_fut;

static weft_poll udp_poll(weft_future *f, weft_cx *cx)
{
	udp_fut *t = (udp_fut *)f;
	WEFT_BEGIN(&t->co);
	/* Nothing sent yet: the receive waits, then the send wakes it. */
	assert_int_equal(weft_udp_poll_recv_from(t->b, cx, t->buf, sizeof t->buf, &t->from, &t->n),
			 WEFT_PENDING);
	WEFT_AWAIT(&t->co, weft_udp_poll_send_to(t->a, cx, "ping", 4, &t->b_addr, &t->n));
	assert_int_equal(t->n, 4);
	WEFT_AWAIT(&t->co, weft_udp_poll_recv_from(t->b, cx, t->buf, sizeof t->buf, &t->from, &t->n));
	assert_int_equal(t->n, 4);
	assert_memory_equal(t->buf, "ping", 4);
	assert_int_equal(weft_addr_port(&t->from), weft_addr_port(&t->a_addr));
	/* Reply on a connected socket. */
	assert_int_equal(weft_udp_connect(t->b, &t->from), 0);
	WEFT_AWAIT(&t->co, weft_udp_poll_send(t->b, cx, "pong!", 5, &t->n));
	assert_int_equal(t->n, 5);
	WEFT_AWAIT(&t->co, weft_udp_poll_recv(t->a, cx, t->buf, sizeof t->buf, &t->n));
	assert_int_equal(t->n, 5);
	assert_memory_equal(t->buf, "pong!", 5);
	/* A datagram larger than the buffer is truncated to it. */
	WEFT_AWAIT(&t->co, weft_udp_poll_send_to(t->a, cx, "0123456789", 10, &t->b_addr, &t->n));
	WEFT_AWAIT(&t->co, weft_udp_poll_recv(t->b, cx, t->buf, 3, &t->n));
	assert_int_equal(t->n, 3);
	WEFT_END(&t->co);
}

static void udp_round_trip_with_and_without_connect(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	udp_fut t = { .fut = WEFT_FUTURE(udp_poll, NULL) };
	assert_int_equal(weft_udp_bind(&t.a, "127.0.0.1:0"), 0);
	assert_int_equal(weft_udp_bind(&t.b, "127.0.0.1:0"), 0);
	assert_int_equal(weft_udp_local_addr(t.a, &t.a_addr), 0);
	assert_int_equal(weft_udp_local_addr(t.b, &t.b_addr), 0);
	assert_true(weft_addr_port(&t.b_addr) > 0);
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	weft_udp_close(t.a);
	weft_runtime_close(rt);
	weft_udp_close(t.b);   /* after the runtime: still safe */
}

static void udp_bad_arguments(void **state)
{
	(void)state;
	weft_udp_socket *u;
	assert_int_equal(weft_udp_bind(&u, "127.0.0.1"), -EINVAL);
	assert_int_equal(weft_udp_bind(NULL, "127.0.0.1:0"), -EINVAL);
	assert_int_equal(weft_udp_bind(&u, "127.0.0.1:0"), 0);
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	ssize_t n;
	assert_int_equal(weft_udp_poll_send_to(u, &cx, "x", 1, NULL, &n), WEFT_READY);
	assert_int_equal(n, -EINVAL);
	assert_int_equal(weft_udp_poll_recv(u, &cx, &n, sizeof n, &n), WEFT_READY);
	assert_int_equal(n, -EINVAL);   /* no runtime in the context */
	assert_int_equal(weft_udp_connect(u, NULL), -EINVAL);
	weft_udp_close(u);
	weft_udp_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(udp_round_trip_with_and_without_connect),
		cmocka_unit_test(udp_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
