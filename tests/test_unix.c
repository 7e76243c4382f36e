/* test_unix.c - Unix stream sockets: listen, connect, a round trip with
 * write_all/read_exact, EOF, and connect errors. */
#include "helpers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_listener *lis;
	const char *path;
	weft_connect c;
	weft_stream *client, *server;
	weft_write_all wr;
	weft_read_exact rd;
	char buf[32];
	ssize_t n;
	int err;
} unix_fut;

static weft_poll unix_poll(weft_future *f, weft_cx *cx)
{
	unix_fut *t = (unix_fut *)f;
	WEFT_BEGIN(&t->co);
	weft_unix_connect_init(&t->c, t->path);
	WEFT_AWAIT(&t->co, weft_connect_poll(&t->c, cx));
	t->client = t->c.stream;
	t->c.stream = NULL;
	assert_int_equal(t->c.result, 0);
	WEFT_AWAIT(&t->co, weft_listener_poll_accept(t->lis, cx, &t->server, &t->err));
	assert_int_equal(t->err, 0);
	weft_write_all_init(&t->wr, t->client, "over unix", 9);
	WEFT_AWAIT(&t->co, weft_write_all_poll(&t->wr, cx));
	t->n = t->wr.result;
	assert_int_equal(t->n, 9);
	weft_read_exact_init(&t->rd, t->server, t->buf, 9);
	WEFT_AWAIT(&t->co, weft_read_exact_poll(&t->rd, cx));
	t->n = t->rd.result;
	assert_int_equal(t->n, 9);
	assert_memory_equal(t->buf, "over unix", 9);
	WEFT_AWAIT(&t->co, weft_stream_poll_write(t->server, cx, "back", 4, &t->n));
	assert_int_equal(t->n, 4);
	assert_int_equal(weft_stream_shutdown(t->server, SHUT_WR), 0);
	WEFT_AWAIT(&t->co, weft_stream_poll_read(t->client, cx, t->buf, sizeof t->buf, &t->n));
	assert_int_equal(t->n, 4);
	WEFT_AWAIT(&t->co, weft_stream_poll_read(t->client, cx, t->buf, sizeof t->buf, &t->n));
	assert_int_equal(t->n, 0);
	WEFT_END(&t->co);
}

static void unix_stream_round_trip(void **state)
{
	(void)state;
	char dir[] = "/tmp/weft-unix-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[64];
	snprintf(path, sizeof path, "%s/s", dir);
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	unix_fut t = { .fut = WEFT_FUTURE(unix_poll, NULL), .path = path };
	assert_int_equal(weft_unix_listen(&t.lis, path, 16), 0);
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	/* One stream type: the TCP-only options refuse a Unix stream, and
	 * the listener reports its path. */
	assert_int_equal(weft_tcp_set_nodelay(t.client, true), -EOPNOTSUPP);
	assert_int_equal(weft_tcp_set_keepalive(t.server, true, 10), -EOPNOTSUPP);
	weft_addr la;
	char text[WEFT_ADDR_STRLEN];
	assert_int_equal(weft_listener_local_addr(t.lis, &la), 0);
	assert_true(weft_addr_format(&la, text, sizeof text) > 0);
	assert_string_equal(text, path);
	weft_connect_drop(&t.c);
	weft_stream_close(t.client);
	weft_stream_close(t.server);
	weft_listener_close(t.lis);
	weft_runtime_close(rt);
	unlink(path);
	rmdir(dir);
}

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_connect c;
	const char *path;
	weft_stream *s;
} unix_connect_fut;

static weft_poll unix_connect_fut_poll(weft_future *f, weft_cx *cx)
{
	unix_connect_fut *t = (unix_connect_fut *)f;
	WEFT_BEGIN(&t->co);
	weft_unix_connect_init(&t->c, t->path);
	WEFT_AWAIT(&t->co, weft_connect_poll(&t->c, cx));
	t->s = t->c.stream;
	t->c.stream = NULL;
	WEFT_END(&t->co);
}

static void unix_connect_errors(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(weft_runtime_new(&rt, NULL), 0);
	unix_connect_fut t = { .fut = WEFT_FUTURE(unix_connect_fut_poll, NULL),
			       .path = "/tmp/weft-no-such-socket-here" };
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	assert_int_equal(t.c.result, -ENOENT);
	assert_null(t.s);
	char longer[200];
	memset(longer, 'a', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	unix_connect_fut u = { .fut = WEFT_FUTURE(unix_connect_fut_poll, NULL), .path = longer };
	assert_int_equal(weft_block_on(rt, &u.fut), 0);
	assert_int_equal(u.c.result, -ENAMETOOLONG);
	weft_runtime_close(rt);
	weft_listener *l;
	assert_int_equal(weft_unix_listen(&l, longer, 1), -ENAMETOOLONG);
	assert_int_equal(weft_unix_listen(&l, "", 1), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unix_stream_round_trip),
		cmocka_unit_test(unix_connect_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
