/* test_tcp.c - TCP listener and stream on 127.0.0.1, port 0: echo with
 * 1,000 concurrent clients, 64 MiB through write_all/read_exact,
 * half-close, reset mid-write without SIGPIPE, refused connect, EMFILE
 * on accept and recovery, split halves, the short-read shortcut, name
 * resolution, budget, and zero-filled futures. */
#include "helpers.h"

#include <weft/time.h>

#include "sched_runtime.h"
#include "net_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------- echo server */

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *conn;
	weft_write_all wr;
	char buf[4096];
	ssize_t n;
} echo_conn;

static weft_poll echo_conn_poll(weft_future *f, weft_cx *cx)
{
	echo_conn *t = (echo_conn *)f;
	WEFT_BEGIN(&t->co);
	for (;;) {
		WEFT_AWAIT(&t->co, weft_stream_poll_read(t->conn, cx, t->buf, sizeof t->buf, &t->n));
		if (t->n <= 0)
			break;
		weft_write_all_init(&t->wr, t->conn, t->buf, (size_t)t->n);
		WEFT_AWAIT(&t->co, weft_write_all_poll(&t->wr, cx));
		t->n = t->wr.result;
		if (t->n < 0)
			break;
	}
	WEFT_END(&t->co);
}

static void echo_conn_drop(weft_future *f)
{
	echo_conn *t = (echo_conn *)f;
	weft_write_all_drop(&t->wr);
	weft_stream_close(t->conn);
}

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_listener *lis;
	weft_stream *conn;
	int err;
	int accepted;
} accept_loop;

static weft_poll accept_loop_poll(weft_future *f, weft_cx *cx)
{
	accept_loop *a = (accept_loop *)f;
	WEFT_BEGIN(&a->co);
	for (;;) {
		WEFT_AWAIT(&a->co, weft_listener_poll_accept(a->lis, cx, &a->conn, &a->err));
		if (a->err < 0)
			continue;
		a->accepted++;
		echo_conn t = { .fut = WEFT_FUTURE(echo_conn_poll, echo_conn_drop), .conn = a->conn };
		if (weft_spawn_detached(weft_cx_runtime(cx), &t.fut, sizeof t) < 0)
			weft_stream_close(a->conn);
	}
	WEFT_END(&a->co);
}

static weft_listener *listen_any(weft_addr *addr)
{
	weft_listener *lis;
	assert_int_equal(weft_tcp_listen(&lis, "127.0.0.1:0", 1024), 0);
	assert_int_equal(weft_listener_local_addr(lis, addr), 0);
	assert_true(weft_addr_port(addr) > 0);
	return lis;
}

/* ----------------------------------------------------- echo clients */

#define ECHO_CLIENTS 1000
#define ECHO_MSG 64

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_addr addr;
	int id;
	weft_connect c;
	weft_stream *s;
	weft_write_all wr;
	weft_read_exact rd;
	char out[ECHO_MSG], in[ECHO_MSG];
	ssize_t n;
	int ok;
} echo_client;

static weft_poll echo_client_poll(weft_future *f, weft_cx *cx)
{
	echo_client *t = (echo_client *)f;
	WEFT_BEGIN(&t->co);
	weft_tcp_connect_init_addr(&t->c, &t->addr);
	WEFT_TRY(&t->co, weft_connect_poll(&t->c, cx), t->c.result);
	t->s = t->c.stream;
	t->c.stream = NULL;
	for (int i = 0; i < ECHO_MSG; i++)
		t->out[i] = (char)(t->id * 31 + i);
	weft_write_all_init(&t->wr, t->s, t->out, sizeof t->out);
	WEFT_TRY(&t->co, weft_write_all_poll(&t->wr, cx), t->wr.result);
	t->n = t->wr.result;
	weft_read_exact_init(&t->rd, t->s, t->in, sizeof t->in);
	WEFT_TRY(&t->co, weft_read_exact_poll(&t->rd, cx), t->rd.result);
	t->n = t->rd.result;
	t->ok = memcmp(t->in, t->out, ECHO_MSG) == 0;
	WEFT_END(&t->co);
}

static void echo_client_drop(weft_future *f)
{
	echo_client *t = (echo_client *)f;
	weft_connect_drop(&t->c);
	weft_write_all_drop(&t->wr);
	weft_read_exact_drop(&t->rd);
	weft_stream_close(t->s);
	t->s = NULL;
}

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_addr addr;
	weft_join_handle *h[ECHO_CLIENTS];
	int i, status, ok;
} echo_main;

static weft_poll echo_main_poll(weft_future *f, weft_cx *cx)
{
	echo_main *m = (echo_main *)f;
	WEFT_BEGIN(&m->co);
	for (m->i = 0; m->i < ECHO_CLIENTS; m->i++) {
		echo_client c = { .fut = WEFT_FUTURE(echo_client_poll, echo_client_drop),
				  .addr = m->addr, .id = m->i };
		assert_int_equal(weft_spawn(weft_cx_runtime(cx), &c.fut, sizeof c, &m->h[m->i]), 0);
	}
	for (m->i = 0; m->i < ECHO_CLIENTS; m->i++) {
		WEFT_AWAIT(&m->co, weft_join_handle_poll(m->h[m->i], cx, &m->status));
		assert_int_equal(m->status, 0);
		echo_client *c = weft_join_handle_output(m->h[m->i]);
		assert_int_equal(c->co.result, 0);
		m->ok += c->ok;
		weft_join_handle_close(m->h[m->i]);
	}
	WEFT_END(&m->co);
}

static void thousand_concurrent_echo_clients_get_their_bytes_back(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_addr addr;
	weft_listener *lis = listen_any(&addr);
	accept_loop a = { .fut = WEFT_FUTURE(accept_loop_poll, NULL), .lis = lis };
	assert_int_equal(weft_spawn_detached(rt, &a.fut, sizeof a), 0);
	static echo_main m;
	memset(&m, 0, sizeof m);
	m.fut = WEFT_FUTURE(echo_main_poll, NULL);
	m.addr = addr;
	uint64_t t0 = test_now_us();
	assert_int_equal(weft_block_on(rt, &m.fut), 0);
	assert_int_equal(m.ok, ECHO_CLIENTS);
	assert_true(test_now_us() - t0 < 60u * 1000000u);
	assert_true(atomic_load(&weft__runtime_reactor(rt)->events) > 0);
	weft_runtime_close(rt);   /* drops the accept loop and idle echo tasks */
	weft_listener_close(lis);   /* after the runtime: still safe */
}

/* -------------------------------------------- a pair of connected streams */

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_listener *lis;
	weft_addr addr;
	weft_connect c;
	weft_stream *client, *server;
	int err;
} pair_fut;

static weft_poll pair_poll(weft_future *f, weft_cx *cx)
{
	pair_fut *p = (pair_fut *)f;
	WEFT_BEGIN(&p->co);
	weft_tcp_connect_init_addr(&p->c, &p->addr);
	WEFT_AWAIT(&p->co, weft_connect_poll(&p->c, cx));
	p->client = p->c.stream;
	p->c.stream = NULL;
	assert_int_equal(p->c.result, 0);
	WEFT_AWAIT(&p->co, weft_listener_poll_accept(p->lis, cx, &p->server, &p->err));
	assert_int_equal(p->err, 0);
	WEFT_END(&p->co);
}

/* Connects a client to a fresh listener on @rt; returns both ends. */
static void make_tcp_pair(weft_runtime *rt, weft_stream **client, weft_stream **server)
{
	pair_fut p = { .fut = WEFT_FUTURE(pair_poll, NULL) };
	p.lis = listen_any(&p.addr);
	assert_int_equal(weft_block_on(rt, &p.fut), 0);
	weft_connect_drop(&p.c);
	weft_listener_close(p.lis);
	*client = p.client;
	*server = p.server;
}

/* ----------------------------------------------------------- 64 MiB */

#define BIG (64u << 20)

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *s;
	weft_write_all wr;
	const unsigned char *buf;
	ssize_t n;
} big_writer;

static weft_poll big_writer_poll(weft_future *f, weft_cx *cx)
{
	big_writer *w = (big_writer *)f;
	WEFT_BEGIN(&w->co);
	weft_write_all_init(&w->wr, w->s, w->buf, BIG);
	WEFT_AWAIT(&w->co, weft_write_all_poll(&w->wr, cx));
	w->n = w->wr.result;
	weft_stream_shutdown(w->s, SHUT_WR);
	WEFT_END(&w->co);
}

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *s;
	weft_read_exact rd;
	unsigned char *buf;
	char tail;
	ssize_t n, eof;
} big_reader;

static weft_poll big_reader_poll(weft_future *f, weft_cx *cx)
{
	big_reader *r = (big_reader *)f;
	WEFT_BEGIN(&r->co);
	weft_read_exact_init(&r->rd, r->s, r->buf, BIG);
	WEFT_AWAIT(&r->co, weft_read_exact_poll(&r->rd, cx));
	r->n = r->rd.result;
	WEFT_AWAIT(&r->co, weft_stream_poll_read(r->s, cx, &r->tail, 1, &r->eof));
	WEFT_END(&r->co);
}

static void sixty_four_mib_through_write_all_and_read_exact(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_stream *c, *s;
	make_tcp_pair(rt, &c, &s);
	unsigned char *out = malloc(BIG), *in = malloc(BIG);
	assert_non_null(out);
	assert_non_null(in);
	for (size_t i = 0; i < BIG; i++)
		out[i] = (unsigned char)(i * 7 + (i >> 12));
	big_writer w = { .fut = WEFT_FUTURE(big_writer_poll, NULL), .s = c, .buf = out };
	weft_join_handle *h;
	assert_int_equal(weft_spawn(rt, &w.fut, sizeof w, &h), 0);
	big_reader r = { .fut = WEFT_FUTURE(big_reader_poll, NULL), .s = s, .buf = in };
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.n, (ssize_t)BIG);
	assert_int_equal(r.eof, 0);
	/* EOF arrives before the writer's task has finished completing on
	 * its worker: wait (bounded) for the handle. */
	for (int i = 0; i < 10000 && !weft_join_handle_is_finished(h); i++)
		usleep(1000);
	assert_true(weft_join_handle_is_finished(h));
	big_writer *wo = weft_join_handle_output(h);
	assert_non_null(wo);
	assert_int_equal(wo->n, (ssize_t)BIG);
	weft_join_handle_close(h);
	assert_memory_equal(in, out, BIG);
	free(out);
	free(in);
	weft_stream_close(c);
	weft_stream_close(s);
	weft_runtime_close(rt);
}

/* -------------------------------------------------------- half-close */

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *c, *s;
	weft_write_all wr;
	weft_read_exact rd;
	char buf[16];
	ssize_t n;
} half_close_fut;

static weft_poll half_close_poll(weft_future *f, weft_cx *cx)
{
	half_close_fut *h = (half_close_fut *)f;
	WEFT_BEGIN(&h->co);
	weft_write_all_init(&h->wr, h->c, "hello", 5);
	WEFT_AWAIT(&h->co, weft_write_all_poll(&h->wr, cx));
	h->n = h->wr.result;
	assert_int_equal(h->n, 5);
	assert_int_equal(weft_stream_shutdown(h->c, SHUT_WR), 0);
	weft_read_exact_init(&h->rd, h->s, h->buf, 5);
	WEFT_AWAIT(&h->co, weft_read_exact_poll(&h->rd, cx));
	h->n = h->rd.result;
	assert_int_equal(h->n, 5);
	assert_memory_equal(h->buf, "hello", 5);
	WEFT_AWAIT(&h->co, weft_stream_poll_read(h->s, cx, h->buf, sizeof h->buf, &h->n));
	assert_int_equal(h->n, 0);                        /* the client's FIN */
	/* The other direction still works. */
	weft_write_all_init(&h->wr, h->s, "bye", 3);
	WEFT_AWAIT(&h->co, weft_write_all_poll(&h->wr, cx));
	h->n = h->wr.result;
	assert_int_equal(h->n, 3);
	assert_int_equal(weft_stream_shutdown(h->s, SHUT_WR), 0);
	weft_read_exact_init(&h->rd, h->c, h->buf, 3);
	WEFT_AWAIT(&h->co, weft_read_exact_poll(&h->rd, cx));
	h->n = h->rd.result;
	assert_int_equal(h->n, 3);
	assert_memory_equal(h->buf, "bye", 3);
	/* read_exact past the end: -EPIPE, with what did arrive counted. */
	weft_read_exact_init(&h->rd, h->c, h->buf, 3);
	WEFT_AWAIT(&h->co, weft_read_exact_poll(&h->rd, cx));
	h->n = h->rd.result;
	assert_int_equal(h->n, -EPIPE);
	assert_int_equal(h->rd.done, 0);
	WEFT_END(&h->co);
}

static void half_close_delivers_eof_and_keeps_the_other_direction(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	half_close_fut h = { .fut = WEFT_FUTURE(half_close_poll, NULL) };
	make_tcp_pair(rt, &h.c, &h.s);
	assert_int_equal(weft_block_on(rt, &h.fut), 0);
	weft_stream_close(h.c);
	weft_stream_close(h.s);
	weft_runtime_close(rt);
}

/* --------------------------------------------------- reset mid-write */

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *c, *s;
	weft_write_all wr;
	unsigned char *buf;
	ssize_t n;
} reset_fut;

static weft_poll reset_poll(weft_future *f, weft_cx *cx)
{
	reset_fut *r = (reset_fut *)f;
	WEFT_BEGIN(&r->co);
	weft_write_all_init(&r->wr, r->c, r->buf, 16u << 20);
	WEFT_AWAIT(&r->co, weft_write_all_poll(&r->wr, cx));
	r->n = r->wr.result;
	WEFT_END(&r->co);
}

static void peer_reset_mid_write_gives_an_error_and_no_signal(void **state)
{
	(void)state;
	struct sigaction sa = { .sa_handler = on_sigpipe }, old;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGPIPE, &sa, &old), 0);
	sigpipes = 0;

	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	reset_fut r = { .fut = WEFT_FUTURE(reset_poll, NULL) };
	make_tcp_pair(rt, &r.c, &r.s);
	/* The server end goes away with a RST (linger 0) before reading. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	weft_addr peer;
	assert_int_equal(weft_stream_peer_addr(r.s, &peer), 0);
	int fd = WEFT__SOCK(r.s)->fd;
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	weft_stream_close(r.s);
	r.buf = calloc(1, 16u << 20);
	assert_non_null(r.buf);
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_true(r.n == -ECONNRESET || r.n == -EPIPE);
	assert_int_equal(sigpipes, 0);
	free(r.buf);
	weft_stream_close(r.c);
	weft_runtime_close(rt);
	sigaction(SIGPIPE, &old, NULL);
}

/* ---------------------------------------------------- refused connect */

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_connect c;
	weft_stream *s;
	const char *name;
	weft_addr addr;
} connect_fut;

static weft_poll connect_fut_poll(weft_future *f, weft_cx *cx)
{
	connect_fut *t = (connect_fut *)f;
	WEFT_BEGIN(&t->co);
	if (t->name)
		weft_tcp_connect_init(&t->c, t->name);
	else
		weft_tcp_connect_init_addr(&t->c, &t->addr);
	WEFT_AWAIT(&t->co, weft_connect_poll(&t->c, cx));
	t->s = t->c.stream;
	t->c.stream = NULL;
	WEFT_END(&t->co);
}

static void connect_fut_drop(weft_future *f)
{
	weft_connect_drop(&((connect_fut *)f)->c);
}

static void connect_to_a_closed_port_is_refused(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_addr addr;
	weft_listener *lis = listen_any(&addr);
	weft_listener_close(lis);   /* the port is now closed */
	connect_fut t = { .fut = WEFT_FUTURE(connect_fut_poll, connect_fut_drop), .addr = addr };
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	assert_int_equal(t.c.result, -ECONNREFUSED);
	assert_null(t.s);
	weft_runtime_close(rt);
}

static void connect_by_name_resolves_on_the_blocking_pool(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_addr addr;
	weft_listener *lis = listen_any(&addr);
	char name[32];
	snprintf(name, sizeof name, "localhost:%d", weft_addr_port(&addr));
	connect_fut t = { .fut = WEFT_FUTURE(connect_fut_poll, connect_fut_drop), .name = name };
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	/* localhost may name ::1 first: the connect tries each address. */
	assert_int_equal(t.c.result, 0);
	assert_non_null(t.s);
	weft_addr peer;
	assert_int_equal(weft_stream_peer_addr(t.s, &peer), 0);
	assert_int_equal(weft_addr_port(&peer), weft_addr_port(&addr));
	weft_stream_close(t.s);

	/* Bad text fails without a lookup. */
	connect_fut v = { .fut = WEFT_FUTURE(connect_fut_poll, connect_fut_drop),
			  .name = "localhost" };
	assert_int_equal(weft_block_on(rt, &v.fut), 0);
	assert_int_equal(v.c.result, -EINVAL);
	weft_listener_close(lis);
	weft_runtime_close(rt);
}

/* Listening on a host name goes through the weft_listen future. */
typedef struct {
	weft_future fut;
	weft_coro co;
	const char *name;
	weft_listen l;
	weft_connect c;
	weft_stream *client, *server;
	int err;
	char text[32];
} listen_name_fut;

static weft_poll listen_name_poll(weft_future *f, weft_cx *cx)
{
	listen_name_fut *t = (listen_name_fut *)f;
	WEFT_BEGIN(&t->co);
	weft_tcp_listen_init(&t->l, t->name, NULL);
	WEFT_AWAIT(&t->co, weft_listen_poll(&t->l, cx));
	if (t->l.result < 0)
		WEFT_RETURN(&t->co, t->l.result);
	weft_addr bound;
	assert_int_equal(weft_listener_local_addr(t->l.listener, &bound), 0);
	assert_true(weft_addr_port(&bound) > 0);
	snprintf(t->text, sizeof t->text, "localhost:%d", weft_addr_port(&bound));
	weft_tcp_connect_init(&t->c, t->text);
	WEFT_AWAIT(&t->co, weft_connect_poll(&t->c, cx));
	assert_int_equal(t->c.result, 0);
	WEFT_AWAIT(&t->co, weft_listener_poll_accept(t->l.listener, cx, &t->server, &t->err));
	assert_int_equal(t->err, 0);
	WEFT_END(&t->co);
}

static void listen_name_drop(weft_future *f)
{
	listen_name_fut *t = (listen_name_fut *)f;
	weft_connect_drop(&t->c);   /* cancels only: the outputs are the caller's */
	weft_listen_drop(&t->l);
}

static void listen_on_a_host_name_resolves_then_binds(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	/* The synchronous constructor takes numeric addresses only. */
	weft_listener *lis = (void *)1;
	assert_int_equal(weft_tcp_listen(&lis, "localhost:0", 0), -EINVAL);

	listen_name_fut t = { .fut = WEFT_FUTURE(listen_name_poll, NULL),
			      .name = "localhost:0" };
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	assert_int_equal(t.co.result, 0);
	assert_int_equal(t.l.result, 0);
	assert_non_null(t.l.listener);   /* block_on's drop kept the outputs */
	assert_non_null(t.c.stream);
	assert_non_null(t.server);
	/* Both ends of one connection: the server's peer is the client. */
	weft_addr cl, sp;
	assert_int_equal(weft_stream_local_addr(t.c.stream, &cl), 0);
	assert_int_equal(weft_stream_peer_addr(t.server, &sp), 0);
	assert_int_equal(weft_addr_port(&cl), weft_addr_port(&sp));
	weft_stream_close(t.server);
	/* A drop after READY leaves the outputs alone: they are the caller's. */
	weft_stream *client = t.c.stream;
	weft_listener *listener = t.l.listener;
	listen_name_drop(&t.fut);
	assert_ptr_equal(t.c.stream, client);
	assert_ptr_equal(t.l.listener, listener);
	weft_stream_close(client);
	weft_listener_close(listener);

	/* A numeric name takes the same future without a lookup; a name
	 * that does not resolve reports the resolution's error. */
	listen_name_fut n = { .fut = WEFT_FUTURE(listen_name_poll, NULL),
			      .name = "127.0.0.1:0" };
	assert_int_equal(weft_block_on(rt, &n.fut), 0);
	assert_int_equal(n.co.result, 0);
	weft_stream_close(n.server);
	listen_name_drop(&n.fut);
	weft_stream_close(n.c.stream);
	weft_listener_close(n.l.listener);
	listen_name_fut bad = { .fut = WEFT_FUTURE(listen_name_poll, NULL),
				.name = "no-such-host.invalid:0" };
	assert_int_equal(weft_block_on(rt, &bad.fut), 0);
	assert_true(bad.l.result == -ENOENT || bad.l.result == -EAGAIN);
	assert_null(bad.l.listener);
	listen_name_drop(&bad.fut);
	weft_runtime_close(rt);
}

/*
 * Connect timeouts compose: weft_timeout around the connect future. A
 * listener whose accept queue is full drops SYNs, so a loopback connect
 * hangs until the timeout cancels it.
 */
typedef struct {
	weft_future fut;
	weft_coro co;
	weft_addr addr;
	weft_connect c;
	weft_timeout to;
	uint64_t ns;
} connect_timeout_fut;

static weft_poll connect_timeout_poll(weft_future *f, weft_cx *cx)
{
	connect_timeout_fut *t = (connect_timeout_fut *)f;
	WEFT_BEGIN(&t->co);
	weft_tcp_connect_init_addr(&t->c, &t->addr);
	weft_timeout_init(&t->to, &t->c.fut, t->ns);
	WEFT_AWAIT(&t->co, weft_timeout_poll(&t->to, cx));
	WEFT_END(&t->co);
}

static void connect_timeout_fut_drop(weft_future *f)
{
	weft_timeout_drop(&((connect_timeout_fut *)f)->to);
}

static void connect_with_a_timeout_composes_with_weft_timeout(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_addr addr;
	weft_listener *lis;
	weft_tcp_listen_options o = { .backlog = 1 };
	assert_int_equal(weft_addr_parse(&addr, "127.0.0.1:0"), 0);
	assert_int_equal(weft_tcp_listen_addr(&lis, &addr, &o), 0);
	assert_int_equal(weft_listener_local_addr(lis, &addr), 0);

	/* In time: connected, and the stream is the caller's. */
	connect_timeout_fut ok = { .fut = WEFT_FUTURE(connect_timeout_poll, connect_timeout_fut_drop),
				   .addr = addr, .ns = 5000000000ull };
	assert_int_equal(weft_block_on(rt, &ok.fut), 0);
	assert_int_equal(ok.to.result, 0);
	assert_int_equal(ok.c.result, 0);
	assert_non_null(ok.c.stream);
	weft_stream_close(ok.c.stream);

	/* Fill the accept queue with connections nobody accepts. */
	int fill[4];
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fill[i] >= 0);
		int rc = connect(fill[i], &addr.u.sa, addr.len);
		assert_true(rc == 0 || errno == EINPROGRESS);
	}
	/* Until the kernel has queued what the backlog holds: for a
	 * listening socket TCP_INFO gives the accept queue's length
	 * (tcpi_unacked) and its limit (tcpi_sacked); it is full past it. */
	int lfd = WEFT__SOCK(lis)->fd;
	struct tcp_info ti;
	uint64_t until = test_now_us() + 5000000;
	for (;;) {
		socklen_t len = sizeof ti;
		assert_int_equal(getsockopt(lfd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
		if (ti.tcpi_unacked > ti.tcpi_sacked || test_now_us() >= until)
			break;
		usleep(100);
	}
	assert_true(ti.tcpi_unacked > ti.tcpi_sacked);
	connect_timeout_fut late = { .fut = WEFT_FUTURE(connect_timeout_poll, connect_timeout_fut_drop),
				     .addr = addr, .ns = 200000000ull };
	uint64_t t0 = test_now_us();
	assert_int_equal(weft_block_on(rt, &late.fut), 0);
	assert_int_equal(late.to.result, -ETIMEDOUT);
	assert_null(late.c.stream);
	assert_null(late.c.priv.sock);   /* the half-open socket was closed */
	assert_true(test_now_us() - t0 >= 190000);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	weft_listener_close(lis);
	weft_runtime_close(rt);
}

/* ---------------------------------------------------- EMFILE on accept */

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_listener *lis;
	weft_addr addr;
	weft_stream *conn;
	int err;
	int *fillers;
	int nfill;
	int client, client2;
	struct rlimit old;
	int step;
	bool dropped, next_waits;
} emfile_fut;

static int blocking_client(const weft_addr *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, &a->u.sa, a->len) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

/* The fds that fill the table, in statics so that the teardown closes
 * them when an assertion ends the test early (the later tests need fds). */
static int emfile_fillers[64];
static int emfile_nfill;

static weft_poll emfile_poll(weft_future *f, weft_cx *cx)
{
	emfile_fut *e = (emfile_fut *)f;
	WEFT_BEGIN(&e->co);
	/* Fill the fd table, then free exactly one slot for a client. */
	{
		struct rlimit lim = e->old;
		int probe = dup(0);
		assert_true(probe >= 0);
		close(probe);
		lim.rlim_cur = (rlim_t)probe + 32;
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
		e->fillers = emfile_fillers;
		for (;;) {
			int fd = dup(0);
			if (fd < 0) {
				assert_int_equal(errno, EMFILE);
				break;
			}
			assert_true(e->nfill < 64);
			e->fillers[e->nfill++] = fd;
			emfile_nfill = e->nfill;
		}
		close(e->fillers[--e->nfill]);
		emfile_nfill = e->nfill;
		e->client = blocking_client(&e->addr);
		assert_true(e->client >= 0);
	}
	/* accept hits EMFILE: reported once, the pending connection closed. */
	WEFT_AWAIT(&e->co, weft_listener_poll_accept(e->lis, cx, &e->conn, &e->err));
	assert_true(e->err == -EMFILE || e->err == -ENFILE);
	assert_null(e->conn);
	{
		/* The listener dropped it (bounded, so a listener that kept
		 * it does not hang the test). Recorded, and asserted after
		 * block_on, so that a failure leaves no runtime mid-poll
		 * behind for the later cases. */
		struct pollfd pfd = { .fd = e->client, .events = POLLIN };
		char c;
		ssize_t r = poll(&pfd, 1, 5000) == 1 ? read(e->client, &c, 1) : 1;
		e->dropped = r == 0 || (r < 0 && errno == ECONNRESET);
		/* No spinning: the next accept waits. */
		e->next_waits = weft_listener_poll_accept(e->lis, cx, &e->conn, &e->err) ==
				WEFT_PENDING;
	}
	/* Free the fds: the listener serves again. */
	for (int i = 0; i < e->nfill; i++)
		close(e->fillers[i]);
	emfile_nfill = 0;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &e->old), 0);
	if (!e->dropped || !e->next_waits)
		WEFT_RETURN(&e->co, -1);   /* the test reports it */
	e->client2 = blocking_client(&e->addr);
	assert_true(e->client2 >= 0);
	WEFT_AWAIT(&e->co, weft_listener_poll_accept(e->lis, cx, &e->conn, &e->err));
	assert_int_equal(e->err, 0);
	assert_non_null(e->conn);
	WEFT_END(&e->co);
}

static struct rlimit saved_nofile;

static int save_nofile(void **state)
{
	(void)state;
	return getrlimit(RLIMIT_NOFILE, &saved_nofile);
}

/* Runs even when the test fails, so later tests get their fds back. */
static int restore_nofile(void **state)
{
	(void)state;
	for (int i = 0; i < emfile_nfill; i++)
		close(emfile_fillers[i]);
	emfile_nfill = 0;
	return setrlimit(RLIMIT_NOFILE, &saved_nofile);
}

static void accept_survives_emfile_and_serves_again(void **state)
{
	(void)state;
	weft_runtime *rt;
	/* Current-thread: no worker or pool thread may take the one free fd
	 * slot the test hands to its client. */
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	emfile_fut e = { .fut = WEFT_FUTURE(emfile_poll, NULL), .client = -1, .client2 = -1 };
	e.lis = listen_any(&e.addr);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &e.old), 0);
	assert_int_equal(weft_block_on(rt, &e.fut), 0);
	weft_stream_close(e.conn);
	if (e.client >= 0)
		close(e.client);
	if (e.client2 >= 0)
		close(e.client2);
	weft_listener_close(e.lis);
	weft_runtime_close(rt);
	assert_true(e.dropped);      /* the waiting connection was closed */
	assert_true(e.next_waits);   /* and the listener does not spin */
	assert_int_equal(e.co.result, 0);
}

/* ------------------------------------------------------- split halves */

#define SPLIT_BYTES (4u << 20)

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *wr;
	weft_write_all wa;
	unsigned char *buf;
	ssize_t n;
} split_writer;

static weft_poll split_writer_poll(weft_future *f, weft_cx *cx)
{
	split_writer *w = (split_writer *)f;
	WEFT_BEGIN(&w->co);
	weft_write_all_init(&w->wa, w->wr, w->buf, SPLIT_BYTES);
	WEFT_AWAIT(&w->co, weft_write_all_poll(&w->wa, cx));
	w->n = w->wa.result;
	WEFT_END(&w->co);
}

static void split_writer_drop(weft_future *f)
{
	split_writer *w = (split_writer *)f;
	weft_stream_close(w->wr);   /* sends FIN */
	w->wr = NULL;
}

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *rd;
	unsigned char buf[65536];
	size_t total;
	ssize_t n;
	unsigned sum;
} split_reader;

static weft_poll split_reader_poll(weft_future *f, weft_cx *cx)
{
	split_reader *r = (split_reader *)f;
	WEFT_BEGIN(&r->co);
	for (;;) {
		WEFT_AWAIT(&r->co, weft_stream_poll_read(r->rd, cx, r->buf, sizeof r->buf,
								&r->n));
		if (r->n <= 0)
			break;
		for (ssize_t i = 0; i < r->n; i++)
			r->sum = r->sum * 31 + r->buf[i];
		r->total += (size_t)r->n;
	}
	WEFT_END(&r->co);
}

static void split_halves_read_and_write_from_two_tasks(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_stream *c, *s;
	make_tcp_pair(rt, &c, &s);
	/* The server echoes. */
	echo_conn ec = { .fut = WEFT_FUTURE(echo_conn_poll, echo_conn_drop), .conn = s };
	assert_int_equal(weft_spawn_detached(rt, &ec.fut, sizeof ec), 0);
	weft_stream *rd;
	weft_stream *wr;
	assert_int_equal(weft_stream_split(c, &rd, &wr), 0);
	unsigned char *buf = malloc(SPLIT_BYTES);
	unsigned expect = 0;
	for (size_t i = 0; i < SPLIT_BYTES; i++) {
		buf[i] = (unsigned char)(i ^ (i >> 9));
		expect = expect * 31 + buf[i];
	}
	split_writer w = { .fut = WEFT_FUTURE(split_writer_poll, split_writer_drop), .wr = wr,
			   .buf = buf };
	assert_int_equal(weft_spawn_detached(rt, &w.fut, sizeof w), 0);
	static split_reader r;
	memset(&r, 0, sizeof r);
	r.fut = WEFT_FUTURE(split_reader_poll, NULL);
	r.rd = rd;
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.total, SPLIT_BYTES);
	assert_int_equal(r.sum, expect);
	weft_stream_close(rd);
	weft_runtime_close(rt);
	free(buf);
}

/* One read of whatever arrives. */
typedef struct {
	weft_future fut;
	weft_stream *s;
	ssize_t n;
	char buf[8];
} read_once_fut;

static weft_poll read_once_poll(weft_future *f, weft_cx *cx)
{
	read_once_fut *t = (read_once_fut *)f;
	return weft_stream_poll_read(t->s, cx, t->buf, sizeof t->buf, &t->n);
}

static void split_halves_are_limited_to_their_direction(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_stream *c, *s;
	make_tcp_pair(rt, &c, &s);
	weft_stream *rd, *wr;
	assert_int_equal(weft_stream_split(c, &rd, &wr), 0);
	assert_ptr_not_equal(rd, wr);
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	char b[4] = "abc";
	struct iovec iov = { .iov_base = b, .iov_len = 3 };
	ssize_t n = 0;
	/* The wrong direction is -EBADF at once, like write(2) on an fd
	 * opened read-only: no syscall, no budget, no runtime needed. */
	assert_int_equal(weft_stream_poll_write(rd, &cx, b, 3, &n), WEFT_READY);
	assert_int_equal(n, -EBADF);
	n = 0;
	assert_int_equal(weft_stream_poll_writev(rd, &cx, &iov, 1, &n), WEFT_READY);
	assert_int_equal(n, -EBADF);
	n = 0;
	assert_int_equal(weft_stream_poll_read(wr, &cx, b, 3, &n), WEFT_READY);
	assert_int_equal(n, -EBADF);
	assert_int_equal(weft_stream_shutdown(rd, SHUT_WR), -EBADF);
	assert_int_equal(weft_stream_shutdown(rd, SHUT_RDWR), -EBADF);
	assert_int_equal(weft_stream_shutdown(wr, SHUT_RD), -EBADF);
	weft_stream *x, *y;
	assert_int_equal(weft_stream_split(rd, &x, &y), -EINVAL);   /* once only */
	weft_addr a;
	assert_int_equal(weft_stream_peer_addr(rd, &a), 0);
	assert_int_equal(weft_stream_local_addr(wr, &a), 0);
	assert_int_equal(weft_tcp_set_nodelay(wr, true), 0);
	/* Closing the write half shuts the write direction: the peer reads
	 * EOF while the read half stays open. */
	weft_stream_close(wr);
	read_once_fut r = { .fut = WEFT_FUTURE(read_once_poll, NULL), .s = s, .n = 99 };
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_int_equal(r.n, 0);
	/* ...and the read half still reads what the server sends. */
	weft_write_all wa;
	weft_write_all_init(&wa, s, "ok", 2);
	assert_int_equal(weft_block_on(rt, &wa.fut), 0);
	assert_int_equal(wa.result, 2);
	read_once_fut r2 = { .fut = WEFT_FUTURE(read_once_poll, NULL), .s = rd };
	assert_int_equal(weft_block_on(rt, &r2.fut), 0);
	assert_int_equal(r2.n, 2);
	assert_memory_equal(r2.buf, "ok", 2);
	weft_stream_close(rd);
	weft_stream_close(s);
	weft_runtime_close(rt);
}

/* ---------------------------------------------- short reads, budget */

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *c, *s;
	char buf[4096];
	ssize_t n;
	unsigned long before;
} short_read_fut;

static weft_poll short_read_poll(weft_future *f, weft_cx *cx)
{
	short_read_fut *t = (short_read_fut *)f;
	WEFT_BEGIN(&t->co);
	WEFT_AWAIT(&t->co, weft_stream_poll_write(t->c, cx, "0123456789", 10, &t->n));
	assert_int_equal(t->n, 10);
	/* Loopback delivers at once; wait (bounded) until the bytes are
	 * there, then read them: one syscall. */
	for (int i = 0; i < 100000; i++) {
		char peek;
		if (recv(WEFT__SOCK(t->s)->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1)
			break;
	}
	t->before = weft__sys_read_calls;
	WEFT_AWAIT(&t->co, weft_stream_poll_read(t->s, cx, t->buf, sizeof t->buf, &t->n));
	assert_int_equal(t->n, 10);
	assert_int_equal(weft__sys_read_calls - t->before, 1);
	/* The short read cleared readiness: the next read waits without
	 * trying the syscall to hear EAGAIN. */
	t->before = weft__sys_read_calls;
	assert_int_equal(weft_stream_poll_read(t->s, cx, t->buf, sizeof t->buf, &t->n),
			 WEFT_PENDING);
	assert_int_equal(weft__sys_read_calls - t->before, 0);
	/* A new edge wakes it. */
	WEFT_AWAIT(&t->co, weft_stream_poll_write(t->c, cx, "ab", 2, &t->n));
	WEFT_AWAIT(&t->co, weft_stream_poll_read(t->s, cx, t->buf, sizeof t->buf, &t->n));
	assert_int_equal(t->n, 2);
	WEFT_END(&t->co);
}

static void a_short_read_clears_readiness_without_another_syscall(void **state)
{
	(void)state;
	weft_runtime *rt;
	/* Current-thread: on workers, the edge for these bytes may be
	 * dispatched after the read cleared readiness (a stale edge, which
	 * only costs one EAGAIN), and the count would race with it. */
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = 1 };
	assert_int_equal(weft_runtime_new(&rt, &cfg), 0);
	short_read_fut t = { .fut = WEFT_FUTURE(short_read_poll, NULL) };
	make_tcp_pair(rt, &t.c, &t.s);
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	weft_stream_close(t.c);
	weft_stream_close(t.s);
	weft_runtime_close(rt);
}

typedef struct {
	weft_future fut;
	weft_stream *c;
	int pending, woken;
} budget_fut;

static weft_poll budget_poll(weft_future *f, weft_cx *cx)
{
	budget_fut *b = (budget_fut *)f;
	test_counting_waker cw;
	test_counting_waker_init(&cw);
	weft_waker w = test_counting_waker_get(&cw);
	weft_cx spent = { .waker = &w, .runtime = cx->runtime, .budget = 0 };
	ssize_t n;
	b->pending = weft_stream_poll_write(b->c, &spent, "x", 1, &n) == WEFT_PENDING;
	b->woken = (int)cw.wakes_by_ref;
	weft_waker_drop(&w);
	/* With budget, one unit is used per operation. */
	uint32_t before = cx->budget;
	assert_int_equal(weft_stream_poll_write(b->c, cx, "x", 1, &n), WEFT_READY);
	assert_int_equal(n, 1);
	assert_int_equal(cx->budget, before - 1);
	return WEFT_READY;
}

static void operations_consume_the_cooperative_budget(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	weft_stream *c, *s;
	make_tcp_pair(rt, &c, &s);
	budget_fut b = { .fut = WEFT_FUTURE(budget_poll, NULL), .c = c };
	assert_int_equal(weft_block_on(rt, &b.fut), 0);
	assert_true(b.pending);
	assert_int_equal(b.woken, 1);
	weft_stream_close(c);
	weft_stream_close(s);
	weft_runtime_close(rt);
}

/* ------------------------------------------ options, addresses, writev */

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_stream *c, *s;
	struct iovec iov[3];
	weft_read_exact rd;
	char buf[16];
	ssize_t n;
} writev_fut;

static weft_poll writev_poll(weft_future *f, weft_cx *cx)
{
	writev_fut *t = (writev_fut *)f;
	WEFT_BEGIN(&t->co);
	static char ab[] = "ab", none[] = "", cde[] = "cde";
	t->iov[0] = (struct iovec){ .iov_base = ab, .iov_len = 2 };
	t->iov[1] = (struct iovec){ .iov_base = none, .iov_len = 0 };
	t->iov[2] = (struct iovec){ .iov_base = cde, .iov_len = 3 };
	WEFT_AWAIT(&t->co, weft_stream_poll_writev(t->c, cx, t->iov, 3, &t->n));
	assert_int_equal(t->n, 5);
	weft_read_exact_init(&t->rd, t->s, t->buf, 5);
	WEFT_AWAIT(&t->co, weft_read_exact_poll(&t->rd, cx));
	t->n = t->rd.result;
	assert_memory_equal(t->buf, "abcde", 5);
	WEFT_END(&t->co);
}

static void options_addresses_and_writev(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	writev_fut t = { .fut = WEFT_FUTURE(writev_poll, NULL) };
	make_tcp_pair(rt, &t.c, &t.s);
	assert_int_equal(weft_tcp_set_nodelay(t.c, true), 0);
	assert_int_equal(weft_tcp_set_keepalive(t.c, true, 30), 0);
	weft_addr cl, sp, sl, cp;
	assert_int_equal(weft_stream_local_addr(t.c, &cl), 0);
	assert_int_equal(weft_stream_peer_addr(t.s, &sp), 0);
	assert_int_equal(weft_stream_local_addr(t.s, &sl), 0);
	assert_int_equal(weft_stream_peer_addr(t.c, &cp), 0);
	assert_int_equal(weft_addr_port(&cl), weft_addr_port(&sp));
	assert_int_equal(weft_addr_port(&sl), weft_addr_port(&cp));
	assert_int_equal(weft_stream_shutdown(t.c, 42), -EINVAL);
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	weft_stream_close(t.c);
	weft_stream_close(t.s);
	weft_runtime_close(rt);
}

static void zero_filled_futures_are_valid_and_drop_is_idempotent(void **state)
{
	(void)state;
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	weft_write_all wa = { 0 };
	wa.result = 99;
	assert_int_equal(weft_write_all_poll(&wa, &cx), WEFT_READY);
	assert_int_equal(wa.result, 0);
	weft_write_all_drop(&wa);
	weft_write_all_drop(&wa);
	weft_read_exact re = { 0 };
	re.result = 99;
	assert_int_equal(weft_read_exact_poll(&re, &cx), WEFT_READY);
	assert_int_equal(re.result, 0);
	weft_read_exact_drop(&re);
	weft_read_exact_drop(&re);
	weft_connect c = { 0 };
	assert_int_equal(weft_connect_poll(&c, &cx), WEFT_READY);
	assert_int_equal(c.result, -EINVAL);
	assert_null(c.stream);
	weft_connect_drop(&c);
	weft_connect_drop(&c);
	weft_listen l = { 0 };
	assert_int_equal(weft_listen_poll(&l, &cx), WEFT_READY);
	assert_int_equal(l.result, -EINVAL);
	assert_null(l.listener);
	weft_listen_drop(&l);
	weft_listen_drop(&l);
	weft_resolve r = { 0 };
	weft_resolve_drop(&r);
	assert_int_equal(weft_resolve_poll(&r, &cx), WEFT_READY);
	assert_int_equal(r.result, -EINVAL);
	weft_resolve_drop(&r);
	/* A socket polled outside a runtime is refused, not crashed. */
	weft_listener *lis;
	weft_stream *conn;
	int err;
	assert_int_equal(weft_tcp_listen(&lis, "127.0.0.1:0", 0), 0);
	assert_int_equal(weft_listener_poll_accept(lis, &cx, &conn, &err), WEFT_READY);
	assert_int_equal(err, -EINVAL);
	weft_listener_close(lis);
	weft_listener_close(NULL);
	weft_stream_close(NULL);
	assert_int_equal(weft_tcp_listen(&lis, "127.0.0.1", 0), -EINVAL);
	assert_int_equal(weft_tcp_listen(&lis, "nonsense:1", 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(thousand_concurrent_echo_clients_get_their_bytes_back),
		cmocka_unit_test(sixty_four_mib_through_write_all_and_read_exact),
		cmocka_unit_test(half_close_delivers_eof_and_keeps_the_other_direction),
		cmocka_unit_test(peer_reset_mid_write_gives_an_error_and_no_signal),
		cmocka_unit_test(connect_to_a_closed_port_is_refused),
		cmocka_unit_test(connect_by_name_resolves_on_the_blocking_pool),
		cmocka_unit_test(listen_on_a_host_name_resolves_then_binds),
		cmocka_unit_test(connect_with_a_timeout_composes_with_weft_timeout),
		cmocka_unit_test_setup_teardown(accept_survives_emfile_and_serves_again,
						save_nofile, restore_nofile),
		cmocka_unit_test(split_halves_read_and_write_from_two_tasks),
		cmocka_unit_test(split_halves_are_limited_to_their_direction),
		cmocka_unit_test(a_short_read_clears_readiness_without_another_syscall),
		cmocka_unit_test(operations_consume_the_cooperative_budget),
		cmocka_unit_test(options_addresses_and_writev),
		cmocka_unit_test(zero_filled_futures_are_valid_and_drop_is_idempotent),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
