/*
 * stream_io.c - write_all and read_exact: loops of partial writes or
 * reads on a stream (whole or half, TCP or Unix), as small futures the
 * caller embeds. They hold no resource of their own (the waiting waker
 * lives in the stream's readiness slot), so drop only forgets the
 * stream.
 */
#include "net_sock.h"

#include <errno.h>

static weft_poll weft__write_all_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_write_all_poll((weft_write_all *)f, cx);
}

static void weft__write_all_fut_drop(weft_future *f)
{
	weft_write_all_drop((weft_write_all *)f);
}

void weft_write_all_init(weft_write_all *w, weft_stream *s, const void *buf, size_t len)
{
	*w = (weft_write_all){
		.fut = WEFT_FUTURE(weft__write_all_fut_poll, weft__write_all_fut_drop),
	};
	w->priv.stream = s;
	w->priv.buf = buf;
	w->priv.len = len;
}

weft_poll weft_write_all_poll(weft_write_all *w, weft_cx *cx)
{
	while (w->done < w->priv.len && w->result >= 0) {
		if (!w->priv.stream || !w->priv.buf) {
			w->result = -EINVAL;
			break;
		}
		ssize_t r;
		if (weft_stream_poll_write(w->priv.stream, cx, w->priv.buf + w->done,
					   w->priv.len - w->done, &r) == WEFT_PENDING)
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
	return WEFT_READY;
}

void weft_write_all_drop(weft_write_all *w)
{
	w->priv.stream = NULL;   /* nothing held; a later poll reports -EINVAL */
}

static weft_poll weft__read_exact_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_read_exact_poll((weft_read_exact *)f, cx);
}

static void weft__read_exact_fut_drop(weft_future *f)
{
	weft_read_exact_drop((weft_read_exact *)f);
}

void weft_read_exact_init(weft_read_exact *r, weft_stream *s, void *buf, size_t len)
{
	*r = (weft_read_exact){
		.fut = WEFT_FUTURE(weft__read_exact_fut_poll, weft__read_exact_fut_drop),
	};
	r->priv.stream = s;
	r->priv.buf = buf;
	r->priv.len = len;
}

weft_poll weft_read_exact_poll(weft_read_exact *r, weft_cx *cx)
{
	while (r->done < r->priv.len && r->result >= 0) {
		if (!r->priv.stream || !r->priv.buf) {
			r->result = -EINVAL;
			break;
		}
		ssize_t got;
		if (weft_stream_poll_read(r->priv.stream, cx, r->priv.buf + r->done,
					  r->priv.len - r->done, &got) == WEFT_PENDING)
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
	return WEFT_READY;
}

void weft_read_exact_drop(weft_read_exact *r)
{
	r->priv.stream = NULL;
}
