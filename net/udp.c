/*
 * udp.c - UDP sockets: one datagram per send or receive, each an
 * operation handed to the I/O layer like a stream's (weft__sock_submit),
 * without the short-transfer shortcut, which means nothing for
 * datagrams (`stream` stays false).
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

weft_poll weft_udp_poll_send_to(weft_udp_socket *u, weft_cx *cx, const void *buf,
				size_t len, const weft_addr *to, ssize_t *res)
{
	if (!u) {
		*res = -EBADF;
		return WEFT_READY;
	}
	if (!to || to->len == 0) {
		*res = -EINVAL;
		return WEFT_READY;
	}
	struct weft__io_op op = {
		.kind = WEFT__IO_OP_SENDTO,
		.buf = (void *)(uintptr_t)buf,
		.len = len,
		.addr = (struct sockaddr *)(uintptr_t)&to->u.sa,
		.addrlen = to->len,
	};
	return weft__sock_submit(WEFT__SOCK(u), cx, &op, res);
}

weft_poll weft_udp_poll_recv_from(weft_udp_socket *u, weft_cx *cx, void *buf, size_t len,
				  weft_addr *from, ssize_t *res)
{
	if (!u) {
		*res = -EBADF;
		return WEFT_READY;
	}
	weft_addr ignored;
	weft_addr *a = from ? from : &ignored;
	*a = (weft_addr){ 0 };
	struct weft__io_op op = {
		.kind = WEFT__IO_OP_RECVFROM,
		.buf = buf,
		.len = len,
		.addr = &a->u.sa,
		.addrlen = sizeof a->u,
	};
	weft_poll p = weft__sock_submit(WEFT__SOCK(u), cx, &op, res);
	if (p == WEFT_READY && *res >= 0)
		a->len = op.addrlen;
	return p;
}

weft_poll weft_udp_poll_send(weft_udp_socket *u, weft_cx *cx, const void *buf, size_t len,
			     ssize_t *res)
{
	if (!u) {
		*res = -EBADF;
		return WEFT_READY;
	}
	struct weft__io_op op = {
		.kind = WEFT__IO_OP_SEND,
		.buf = (void *)(uintptr_t)buf,
		.len = len,
	};
	return weft__sock_submit(WEFT__SOCK(u), cx, &op, res);
}

weft_poll weft_udp_poll_recv(weft_udp_socket *u, weft_cx *cx, void *buf, size_t len,
			     ssize_t *res)
{
	if (!u) {
		*res = -EBADF;
		return WEFT_READY;
	}
	struct weft__io_op op = { .kind = WEFT__IO_OP_RECV, .buf = buf, .len = len };
	return weft__sock_submit(WEFT__SOCK(u), cx, &op, res);
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
