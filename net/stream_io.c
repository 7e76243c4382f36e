/*
 * stream_io.c - write_all and read_exact: loops of partial writes or
 * reads on any stream (TCP, TCP half, Unix), as small futures the caller
 * embeds. They hold no resource of their own (the waiting waker lives in
 * the stream's readiness slot), so drop only marks them finished.
 */
#include "net_sock.h"

#include <errno.h>

static weft_poll weft__write_all_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_write_all_poll((weft_write_all *)f, cx, NULL);
}

static void weft__write_all_fut_drop(weft_future *f)
{
	weft_write_all_drop((weft_write_all *)f);
}

static void weft__write_all_init(weft_write_all *w, void *sock, const void *buf, size_t len)
{
	*w = (weft_write_all){
		.fut = WEFT_FUTURE(weft__write_all_fut_poll, weft__write_all_fut_drop),
		.sock = sock,
		.buf = buf,
		.len = len,
	};
}

void weft_write_all_init(weft_write_all *w, weft_tcp_stream *s, const void *buf, size_t len)
{
	weft__write_all_init(w, s, buf, len);
}

void weft_write_all_init_half(weft_write_all *w, weft_tcp_write_half *h, const void *buf,
			      size_t len)
{
	weft__write_all_init(w, h, buf, len);
}

void weft_write_all_init_unix(weft_write_all *w, weft_unix_stream *s, const void *buf,
			      size_t len)
{
	weft__write_all_init(w, s, buf, len);
}

weft_poll weft_write_all_poll(weft_write_all *w, weft_cx *cx, ssize_t *n)
{
	while (w->done < w->len && w->result >= 0) {
		if (!w->sock || !w->buf) {
			w->result = -EINVAL;
			break;
		}
		ssize_t r;
		if (weft__sock_poll_write(w->sock, cx, w->buf + w->done, w->len - w->done, &r) ==
		    WEFT_PENDING)
			return WEFT_PENDING;
		if (r < 0)
			w->result = r;
		else if (r == 0)
			w->result = -EIO;   /* a stream write of > 0 bytes never gives 0 */
		else
			w->done += (size_t)r;
	}
	if (w->result >= 0)
		w->result = (ssize_t)w->done;
	if (n)
		*n = w->result;
	return WEFT_READY;
}

void weft_write_all_drop(weft_write_all *w)
{
	w->sock = NULL;   /* nothing held; a later poll reports -EINVAL */
}

static weft_poll weft__read_exact_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_read_exact_poll((weft_read_exact *)f, cx, NULL);
}

static void weft__read_exact_fut_drop(weft_future *f)
{
	weft_read_exact_drop((weft_read_exact *)f);
}

static void weft__read_exact_init(weft_read_exact *r, void *sock, void *buf, size_t len)
{
	*r = (weft_read_exact){
		.fut = WEFT_FUTURE(weft__read_exact_fut_poll, weft__read_exact_fut_drop),
		.sock = sock,
		.buf = buf,
		.len = len,
	};
}

void weft_read_exact_init(weft_read_exact *r, weft_tcp_stream *s, void *buf, size_t len)
{
	weft__read_exact_init(r, s, buf, len);
}

void weft_read_exact_init_half(weft_read_exact *r, weft_tcp_read_half *h, void *buf,
			       size_t len)
{
	weft__read_exact_init(r, h, buf, len);
}

void weft_read_exact_init_unix(weft_read_exact *r, weft_unix_stream *s, void *buf,
			       size_t len)
{
	weft__read_exact_init(r, s, buf, len);
}

weft_poll weft_read_exact_poll(weft_read_exact *r, weft_cx *cx, ssize_t *n)
{
	while (r->done < r->len && r->result >= 0) {
		if (!r->sock || !r->buf) {
			r->result = -EINVAL;
			break;
		}
		ssize_t got;
		if (weft__sock_poll_read(r->sock, cx, r->buf + r->done, r->len - r->done, &got) ==
		    WEFT_PENDING)
			return WEFT_PENDING;
		if (got < 0)
			r->result = got;
		else if (got == 0)
			r->result = -EPIPE;   /* end of stream before len bytes */
		else
			r->done += (size_t)got;
	}
	if (r->result >= 0)
		r->result = (ssize_t)r->done;
	if (n)
		*n = r->result;
	return WEFT_READY;
}

void weft_read_exact_drop(weft_read_exact *r)
{
	r->sock = NULL;
}
