/*
 * tcp.c - TCP listeners and streams: the public face of struct weft__sock
 * for TCP (sock.c does the I/O), split halves, and socket options.
 */
#include "net_sock.h"

#include <errno.h>
#include <netinet/tcp.h>

int weft_tcp_listen_addr(weft_tcp_listener **out, const weft_addr *addr,
			 const weft_tcp_listen_options *opts)
{
	if (!out || !addr || addr->len == 0 ||
	    (addr->u.sa.sa_family != AF_INET && addr->u.sa.sa_family != AF_INET6))
		return -EINVAL;
	weft_tcp_listen_options o = opts ? *opts : (weft_tcp_listen_options){ 0 };
	int fd = weft__sock_bound(addr, SOCK_STREAM, o.backlog > 0 ? o.backlog : 0,
				  true, o.reuseport, o.v6only);
	if (fd < 0)
		return fd;
	int spare = weft__sock_open_spare();
	if (spare < 0) {
		weft__sys_close(fd);
		return spare;
	}
	/* Readable assumed: connections may be waiting already. */
	struct weft__sock *s = weft__sock_new(fd, WEFT__SOCK_TCP_LISTENER,
					      WEFT__READY_READABLE);
	if (!s) {
		weft__sys_close(spare);
		weft__sys_close(fd);
		return -ENOMEM;
	}
	s->spare_fd = spare;
	*out = (weft_tcp_listener *)(void *)s;
	return 0;
}

int weft_tcp_listen(weft_tcp_listener **out, const char *addr, int backlog)
{
	weft_addr a;
	if (!out || weft_addr_parse(&a, addr) < 0)
		return -EINVAL;
	weft_tcp_listen_options o = { .backlog = backlog };
	return weft_tcp_listen_addr(out, &a, &o);
}

weft_poll weft_tcp_poll_accept(weft_tcp_listener *l, weft_cx *cx, weft_tcp_stream **out,
			       int *err)
{
	struct weft__sock *c = NULL;
	weft_poll p = weft__sock_poll_accept(WEFT__SOCK(l), cx, WEFT__SOCK_TCP_STREAM, &c, err);
	if (p == WEFT_READY)
		*out = (weft_tcp_stream *)(void *)c;
	return p;
}

int weft_tcp_listener_local_addr(const weft_tcp_listener *l, weft_addr *out)
{
	if (!l)
		return -EBADF;
	return weft__sock_name(WEFT__SOCK(l)->fd, out, false);
}

void weft_tcp_listener_close(weft_tcp_listener *l)
{
	weft__sock_release(WEFT__SOCK(l));
}

weft_poll weft_tcp_poll_read(weft_tcp_stream *s, weft_cx *cx, void *buf, size_t len,
			     ssize_t *n)
{
	return weft__sock_poll_read(WEFT__SOCK(s), cx, buf, len, n);
}

weft_poll weft_tcp_poll_write(weft_tcp_stream *s, weft_cx *cx, const void *buf,
			      size_t len, ssize_t *n)
{
	return weft__sock_poll_write(WEFT__SOCK(s), cx, buf, len, n);
}

weft_poll weft_tcp_poll_writev(weft_tcp_stream *s, weft_cx *cx, const struct iovec *iov,
			       int iovcnt, ssize_t *n)
{
	return weft__sock_poll_writev(WEFT__SOCK(s), cx, iov, iovcnt, n);
}

int weft_tcp_shutdown(weft_tcp_stream *s, int how)
{
	return weft__sock_shutdown(WEFT__SOCK(s), how);
}

int weft_tcp_set_nodelay(weft_tcp_stream *s, bool on)
{
	if (!s)
		return -EBADF;
	int v = on;
	return weft__sys_setsockopt(WEFT__SOCK(s)->fd, IPPROTO_TCP, TCP_NODELAY, &v, sizeof v);
}

int weft_tcp_set_keepalive(weft_tcp_stream *s, bool on, int idle_s)
{
	if (!s)
		return -EBADF;
	int v = on;
	int rc = weft__sys_setsockopt(WEFT__SOCK(s)->fd, SOL_SOCKET, SO_KEEPALIVE, &v, sizeof v);
	if (rc == 0 && on && idle_s > 0)
		rc = weft__sys_setsockopt(WEFT__SOCK(s)->fd, IPPROTO_TCP, TCP_KEEPIDLE,
					  &idle_s, sizeof idle_s);
	return rc;
}

int weft_tcp_peer_addr(const weft_tcp_stream *s, weft_addr *out)
{
	if (!s)
		return -EBADF;
	return weft__sock_name(WEFT__SOCK(s)->fd, out, true);
}

int weft_tcp_local_addr(const weft_tcp_stream *s, weft_addr *out)
{
	if (!s)
		return -EBADF;
	return weft__sock_name(WEFT__SOCK(s)->fd, out, false);
}

void weft_tcp_close(weft_tcp_stream *s)
{
	weft__sock_release(WEFT__SOCK(s));
}

/* ------------------------------------------------------------- halves */

int weft_tcp_split(weft_tcp_stream *s, weft_tcp_read_half **rd, weft_tcp_write_half **wr)
{
	if (!s || !rd || !wr)
		return -EINVAL;
	/* Relaxed: the caller owns @s outright; whatever hands a half to
	 * another thread (a spawn) orders this with that thread's use. */
	atomic_fetch_add_explicit(&WEFT__SOCK(s)->refs, 1, memory_order_relaxed);
	*rd = (weft_tcp_read_half *)(void *)s;
	*wr = (weft_tcp_write_half *)(void *)s;
	return 0;
}

weft_poll weft_tcp_read_half_poll_read(weft_tcp_read_half *h, weft_cx *cx, void *buf,
				       size_t len, ssize_t *n)
{
	return weft__sock_poll_read(WEFT__SOCK(h), cx, buf, len, n);
}

weft_poll weft_tcp_write_half_poll_write(weft_tcp_write_half *h, weft_cx *cx,
					 const void *buf, size_t len, ssize_t *n)
{
	return weft__sock_poll_write(WEFT__SOCK(h), cx, buf, len, n);
}

weft_poll weft_tcp_write_half_poll_writev(weft_tcp_write_half *h, weft_cx *cx,
					  const struct iovec *iov, int iovcnt, ssize_t *n)
{
	return weft__sock_poll_writev(WEFT__SOCK(h), cx, iov, iovcnt, n);
}

void weft_tcp_read_half_close(weft_tcp_read_half *h)
{
	weft__sock_release(WEFT__SOCK(h));
}

void weft_tcp_write_half_close(weft_tcp_write_half *h)
{
	if (!h)
		return;
	(void)weft__sys_shutdown(WEFT__SOCK(h)->fd, SHUT_WR);
	weft__sock_release(WEFT__SOCK(h));
}
