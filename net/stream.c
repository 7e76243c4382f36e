/*
 * stream.c - weft_stream, for TCP and Unix alike: reads and writes as
 * operations handed to the I/O layer (weft__sock_submit), split halves,
 * shutdown, addresses, close, the TCP-only options, and write_all and
 * read_exact.
 *
 * write_all and read_exact are loops of partial writes or reads, as
 * small futures the caller embeds. They hold no resource of their own
 * (the waiting waker lives in the stream's readiness slot), so drop only
 * forgets the stream. They live in this file so the compiler may inline
 * the stream call into their loop (a server's every response goes
 * through write_all).
 */
#include "net_sock.h"

#include <errno.h>
#include <limits.h>
#include <netinet/tcp.h>

/* macOS names the keep-alive idle time (seconds) TCP_KEEPALIVE; Linux and
 * the BSDs name it TCP_KEEPIDLE. */
#if !defined(TCP_KEEPIDLE) && defined(TCP_KEEPALIVE)
#define TCP_KEEPIDLE TCP_KEEPALIVE
#endif

/* READY with -EBADF unless @h may use direction @dir. */
static inline bool weft__stream_bad(const weft_stream *h, unsigned dir)
{
	return weft__unlikely(!h || !(h->dirs & dir));
}

/* The read and the write, inline here so write_all and read_exact
 * below get them without a call through the PLT (the public names are
 * interposable, so the compiler may not inline those). */
static inline weft_poll weft__stream_read(weft_stream *s, weft_cx *cx, void *buf,
					  size_t len, ssize_t *res)
{
	if (weft__stream_bad(s, WEFT__DIR_READ)) {
		*res = -EBADF;
		return WEFT_READY;
	}
	if (len == 0) {   /* nothing to move: no syscall, no budget */
		*res = 0;
		return WEFT_READY;
	}
	struct weft__io_op op = {
		.kind = WEFT__IO_OP_RECV,
		.buf = buf,
		.len = len > SSIZE_MAX ? SSIZE_MAX : len,
		.stream = true,
	};
	return weft__sock_submit(weft__stream_sock(s), cx, &op, res);
}

static inline weft_poll weft__stream_write(weft_stream *s, weft_cx *cx, const void *buf,
					   size_t len, ssize_t *res)
{
	if (weft__stream_bad(s, WEFT__DIR_WRITE)) {
		*res = -EBADF;
		return WEFT_READY;
	}
	if (len == 0) {
		*res = 0;
		return WEFT_READY;
	}
	struct weft__io_op op = {
		.kind = WEFT__IO_OP_SEND,
		.buf = (void *)(uintptr_t)buf,
		.len = len > SSIZE_MAX ? SSIZE_MAX : len,
		.stream = true,
	};
	return weft__sock_submit(weft__stream_sock(s), cx, &op, res);
}

weft_poll weft_stream_poll_read(weft_stream *s, weft_cx *cx, void *buf, size_t len,
				ssize_t *res)
{
	return weft__stream_read(s, cx, buf, len, res);
}

weft_poll weft_stream_poll_write(weft_stream *s, weft_cx *cx, const void *buf, size_t len,
				 ssize_t *res)
{
	return weft__stream_write(s, cx, buf, len, res);
}

weft_poll weft_stream_poll_writev(weft_stream *s, weft_cx *cx, const struct iovec *iov,
				  int iovcnt, ssize_t *res)
{
	if (weft__stream_bad(s, WEFT__DIR_WRITE)) {
		*res = -EBADF;
		return WEFT_READY;
	}
	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt > 0 && !iov)) {
		*res = -EINVAL;
		return WEFT_READY;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total) {
			*res = -EINVAL;
			return WEFT_READY;
		}
		total += iov[i].iov_len;
	}
	if (total == 0) {
		*res = 0;
		return WEFT_READY;
	}
	struct weft__io_op op = {
		.kind = WEFT__IO_OP_SENDMSG,
		.iov = iov,
		.iovcnt = iovcnt,
		.len = total,
		.stream = true,
	};
	return weft__sock_submit(weft__stream_sock(s), cx, &op, res);
}

int weft_stream_shutdown(weft_stream *s, int how)
{
	if (!s)
		return -EBADF;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	unsigned need = how == SHUT_RD ? WEFT__DIR_READ
		      : how == SHUT_WR ? WEFT__DIR_WRITE : WEFT__DIR_READ | WEFT__DIR_WRITE;
	if ((s->dirs & need) != need)
		return -EBADF;   /* a half shuts only its own direction */
	return weft__sys_shutdown(weft__stream_sock(s)->fd, how);
}

int weft_stream_split(weft_stream *s, weft_stream **rd, weft_stream **wr)
{
	if (!s || !rd || !wr || s->dirs != (WEFT__DIR_READ | WEFT__DIR_WRITE))
		return -EINVAL;
	struct weft__sock *sock = weft__stream_sock(s);
	/* Relaxed: the caller owns @s outright; whatever hands a half to
	 * another thread (a spawn) orders this with that thread's use. */
	atomic_fetch_add_explicit(&sock->refs, 1, memory_order_relaxed);
	*rd = &sock->half[0];
	*wr = &sock->half[1];
	return 0;
}

int weft_stream_peer_addr(const weft_stream *s, weft_addr *out)
{
	if (!s)
		return -EBADF;
	return weft__sock_name(weft__stream_sock(s)->fd, out, true);
}

int weft_stream_local_addr(const weft_stream *s, weft_addr *out)
{
	if (!s)
		return -EBADF;
	return weft__sock_name(weft__stream_sock(s)->fd, out, false);
}

void weft_stream_close(weft_stream *s)
{
	if (!s)
		return;
	struct weft__sock *sock = weft__stream_sock(s);
	if (s->dirs == WEFT__DIR_WRITE)   /* the write half: the peer reads EOF */
		(void)weft__sys_shutdown(sock->fd, SHUT_WR);
	weft__sock_release(sock);
}

/* ------------------------------------------------------- TCP options */

/* The fd of a TCP stream, or -EBADF / -EOPNOTSUPP. */
static int weft__tcp_fd(weft_stream *s)
{
	if (!s)
		return -EBADF;
	struct weft__sock *sock = weft__stream_sock(s);
	return sock->kind == WEFT__SOCK_TCP ? sock->fd : -EOPNOTSUPP;
}

int weft_tcp_set_nodelay(weft_stream *s, bool on)
{
	int fd = weft__tcp_fd(s);
	if (fd < 0)
		return fd;
	int v = on;
	return weft__sys_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}

int weft_tcp_set_keepalive(weft_stream *s, bool on, int idle_s)
{
	int fd = weft__tcp_fd(s);
	if (fd < 0)
		return fd;
	int v = on;
	int rc = weft__sys_setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v);
	if (rc == 0 && on && idle_s > 0)
		rc = weft__sys_setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle_s, sizeof idle_s);
	return rc;
}

/* ------------------------------------------------- write_all, read_exact */

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
		if (weft__stream_write(w->priv.stream, cx, w->priv.buf + w->done,
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
		if (weft__stream_read(r->priv.stream, cx, r->priv.buf + r->done,
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
