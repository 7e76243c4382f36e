/*
 * echo.c - weft-echo: a TCP echo server, one task per connection, in the
 * shape of the echo example in docs/DESIGN.md. serve.c adds what a real
 * server needs around it: options, a clean stop on SIGINT/SIGTERM and
 * metrics on SIGQUIT.
 *
 *	weft-echo --addr 127.0.0.1:7000 --workers 2
 */
#include "serve.h"

typedef struct {
	weft_future fut;                 /* first member */
	weft_coro co;                    /* resume point */
	serve_conn sc;                   /* the stream, and its place in the open list */
	weft_write_all wr;               /* child future, lives in the struct */
	char buf[4096];
	ssize_t n;
} conn_task;

static weft_poll conn_poll(weft_future *f, weft_cx *cx)
{
	conn_task *t = (conn_task *)f;
	WEFT_BEGIN(&t->co);
	serve_conn_enter(&t->sc);
	for (;;) {
		WEFT_AWAIT(&t->co, weft_stream_poll_read(t->sc.stream, cx, t->buf, sizeof t->buf, &t->n));
		if (t->n <= 0)
			break;                   /* 0 = EOF, < 0 = -errno */
		weft_write_all_init(&t->wr, t->sc.stream, t->buf, (size_t)t->n);
		WEFT_AWAIT(&t->co, weft_write_all_poll(&t->wr, cx));
		if (t->wr.result < 0)
			break;
	}
	WEFT_END(&t->co);
}

static void conn_drop(weft_future *f)    /* runs on completion or cancel */
{
	conn_task *t = (conn_task *)f;
	weft_write_all_drop(&t->wr);     /* idempotent, safe if never started */
	serve_conn_leave(&t->sc);
	weft_stream_close(t->sc.stream);
}

static int spawn_conn(weft_runtime *rt, weft_stream *stream)
{
	conn_task t = { .fut = WEFT_FUTURE(conn_poll, conn_drop),
			.sc = { .stream = stream, .counted = true } };
	int rc = weft_spawn_detached(rt, &t.fut, sizeof t);   /* copied in */
	if (rc < 0)
		weft_stream_close(stream);
	return rc;
}

int main(int argc, char **argv)
{
	return serve_main(argc, argv, "weft-echo", "127.0.0.1:7000", spawn_conn);
}
