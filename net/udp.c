/*
 * udp.c - UDP sockets: one datagram per send or receive, under the same
 * readiness protocol as streams (io_reactor.h) but without the short-read
 * shortcut, which means nothing for datagrams.
 */
#include "net_sock.h"

#include <errno.h>

int weft_udp_bind_addr(weft_udp_socket **out, const weft_addr *addr)
{
	if (!out || !addr || addr->len == 0 ||
	    (addr->u.sa.sa_family != AF_INET && addr->u.sa.sa_family != AF_INET6))
		return -EINVAL;
	int fd = weft__sock_bound(addr, SOCK_DGRAM, -1, false, false, false);
	if (fd < 0)
		return fd;
	struct weft__sock *s = weft__sock_new(fd, WEFT__SOCK_UDP,
					      WEFT__READY_READABLE | WEFT__READY_WRITABLE);
	if (!s) {
		weft__sys_close(fd);
		return -ENOMEM;
	}
	*out = (weft_udp_socket *)(void *)s;
	return 0;
}

int weft_udp_bind(weft_udp_socket **out, const char *addr)
{
	weft_addr a;
	if (!out || weft_addr_parse(&a, addr) < 0)
		return -EINVAL;
	return weft_udp_bind_addr(out, &a);
}

int weft_udp_connect(weft_udp_socket *u, const weft_addr *peer)
{
	if (!u)
		return -EBADF;
	if (!peer || peer->len == 0)
		return -EINVAL;
	return weft__sys_connect(WEFT__SOCK(u)->fd, &peer->u.sa, peer->len);
}

/* One datagram operation: @to/@from NULL for the connected forms. */
static weft_poll weft__udp_op(struct weft__sock *s, weft_cx *cx, bool send, void *buf,
			      size_t len, const weft_addr *to, weft_addr *from, ssize_t *n)
{
	if (!s) {
		*n = -EBADF;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	struct weft__io *io;
	int rc = weft__sock_io(s, cx, &io);
	if (rc < 0) {
		*n = rc;
		return WEFT_READY;
	}
	struct weft__io_ready ev;
	for (;;) {
		if (weft__io_poll_ready(io, send ? WEFT__IO_WRITE : WEFT__IO_READ, cx, &ev) ==
		    WEFT_PENDING) {
			weft_coop_refund(cx);
			return WEFT_PENDING;
		}
		ssize_t r;
		if (send) {
			r = to ? weft__sys_sendto(s->fd, buf, len, 0, &to->u.sa, to->len)
			       : weft__sys_send(s->fd, buf, len, 0);
		} else if (from) {
			*from = (weft_addr){ 0 };
			socklen_t alen = sizeof from->u;
			r = weft__sys_recvfrom(s->fd, buf, len, 0, &from->u.sa, &alen);
			if (r >= 0)
				from->len = alen;
		} else {
			r = weft__sys_recvfrom(s->fd, buf, len, 0, NULL, NULL);
		}
		if (r == -EAGAIN || r == -EWOULDBLOCK) {
			weft__io_clear_ready(io, &ev);
			continue;
		}
		if (r == -EINTR)
			continue;
		*n = r;
		return WEFT_READY;
	}
}

weft_poll weft_udp_poll_send_to(weft_udp_socket *u, weft_cx *cx, const void *buf,
				size_t len, const weft_addr *to, ssize_t *n)
{
	if (!to || to->len == 0) {
		*n = -EINVAL;
		return WEFT_READY;
	}
	return weft__udp_op(WEFT__SOCK(u), cx, true, (void *)buf, len, to, NULL, n);
}

weft_poll weft_udp_poll_recv_from(weft_udp_socket *u, weft_cx *cx, void *buf, size_t len,
				  weft_addr *from, ssize_t *n)
{
	weft_addr ignored;
	return weft__udp_op(WEFT__SOCK(u), cx, false, buf, len, NULL,
			    from ? from : &ignored, n);
}

weft_poll weft_udp_poll_send(weft_udp_socket *u, weft_cx *cx, const void *buf, size_t len,
			     ssize_t *n)
{
	return weft__udp_op(WEFT__SOCK(u), cx, true, (void *)buf, len, NULL, NULL, n);
}

weft_poll weft_udp_poll_recv(weft_udp_socket *u, weft_cx *cx, void *buf, size_t len,
			     ssize_t *n)
{
	return weft__udp_op(WEFT__SOCK(u), cx, false, buf, len, NULL, NULL, n);
}

int weft_udp_local_addr(const weft_udp_socket *u, weft_addr *out)
{
	if (!u)
		return -EBADF;
	return weft__sock_name(WEFT__SOCK(u)->fd, out, false);
}

void weft_udp_close(weft_udp_socket *u)
{
	weft__sock_release(WEFT__SOCK(u));
}
