/*
 * connect.c - the connect future shared by TCP and Unix streams: resolve
 * (TCP names only), then for each address a non-blocking connect, waiting
 * for writability when it is in progress and reading SO_ERROR to learn
 * how it ended.
 */
#include "net_sock.h"

#include <errno.h>
#include <string.h>

enum {
	WEFT__CONNECT_START = 0,
	WEFT__CONNECT_RESOLVE,
	WEFT__CONNECT_NEXT,
	WEFT__CONNECT_WAIT,
	WEFT__CONNECT_DONE,
};

enum { WEFT__CONNECT_TCP = 0, WEFT__CONNECT_UNIX = 1 };

static weft_poll weft__connect_finish(weft_connect *c, int result)
{
	c->result = result;
	c->state = WEFT__CONNECT_DONE;
	return WEFT_READY;
}

static weft_poll weft__connect_poll(weft_connect *c, weft_cx *cx)
{
	struct weft__sock *s;
	struct weft__io *io;
	int rc;

	switch (c->state) {
	case WEFT__CONNECT_START:
		if (c->name) {
			weft_resolve_init(&c->resolve, c->name);
			c->state = WEFT__CONNECT_RESOLVE;
		} else if (c->addr.len) {
			c->resolve.addrs[0] = c->addr;
			c->resolve.count = 1;
			c->state = WEFT__CONNECT_NEXT;
			break;
		} else {
			return weft__connect_finish(c, c->result < 0 ? c->result : -EINVAL);
		}
		/* fall through */
	case WEFT__CONNECT_RESOLVE:
		if (weft_resolve_poll(&c->resolve, cx) == WEFT_PENDING)
			return WEFT_PENDING;
		if (c->resolve.result < 0)
			return weft__connect_finish(c, c->resolve.result);
		c->state = WEFT__CONNECT_NEXT;
		break;
	case WEFT__CONNECT_NEXT:
	case WEFT__CONNECT_WAIT:
		break;
	default:
		return WEFT_READY;
	}

	for (;;) {
		if (c->state == WEFT__CONNECT_NEXT) {
			if (c->next >= c->resolve.count || c->next >= WEFT_RESOLVE_MAX)
				return weft__connect_finish(c, c->result < 0 ? c->result
									     : -ECONNREFUSED);
			if (!weft_coop_proceed(cx))
				return WEFT_PENDING;
			const weft_addr *a = &c->resolve.addrs[c->next++];
			int fd = weft__sys_socket(a->u.sa.sa_family, SOCK_STREAM, 0);
			if (fd < 0) {
				c->result = fd;
				continue;
			}
			s = weft__sock_new(fd, c->kind == WEFT__CONNECT_UNIX
						   ? WEFT__SOCK_UNIX_STREAM
						   : WEFT__SOCK_TCP_STREAM, 0);
			if (!s) {
				weft__sys_close(fd);
				return weft__connect_finish(c, -ENOMEM);
			}
			rc = weft__sys_connect(fd, &a->u.sa, a->len);
			if (rc == 0) {
				/* Connected at once (Unix, usually): try I/O first. */
				s->initial_ready = WEFT__READY_READABLE | WEFT__READY_WRITABLE;
				c->stream = s;
				return weft__connect_finish(c, 0);
			}
			if (rc != -EINPROGRESS) {
				weft__sock_release(s);
				c->result = rc;
				continue;
			}
			/* Register now, with no readiness assumed: only the
			 * edge that ends the handshake may wake us. */
			rc = weft__sock_io(s, cx, &io);
			if (rc < 0) {
				weft__sock_release(s);
				return weft__connect_finish(c, rc);
			}
			c->sock = s;
			c->state = WEFT__CONNECT_WAIT;
			weft_coop_refund(cx);
		}

		/* WAIT */
		s = c->sock;
		rc = weft__sock_io(s, cx, &io);
		if (rc < 0) {
			c->sock = NULL;
			weft__sock_release(s);
			return weft__connect_finish(c, rc);
		}
		struct weft__io_ready ev;
		if (weft__io_poll_ready(io, WEFT__IO_WRITE, cx, &ev) == WEFT_PENDING)
			return WEFT_PENDING;
		int soerr = 0;
		socklen_t len = sizeof soerr;
		rc = weft__sys_getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
		if (rc == 0 && soerr == 0) {
			c->sock = NULL;
			c->stream = s;
			return weft__connect_finish(c, 0);
		}
		c->sock = NULL;
		weft__sock_release(s);
		c->result = rc < 0 ? rc : -soerr;
		c->state = WEFT__CONNECT_NEXT;
	}
}

static weft_poll weft__connect_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft__connect_poll((weft_connect *)f, cx);
}

static void weft__connect_drop(weft_connect *c)
{
	if (c->sock) {
		weft__sock_release(c->sock);
		c->sock = NULL;
	}
	weft_resolve_drop(&c->resolve);
}

static void weft__connect_fut_drop(weft_future *f)
{
	weft__connect_drop((weft_connect *)f);
}

void weft__connect_init(weft_connect *c, int kind)
{
	*c = (weft_connect){
		.fut = WEFT_FUTURE(weft__connect_fut_poll, weft__connect_fut_drop),
		.kind = kind,
	};
}

void weft_tcp_connect_init(weft_tcp_connect *c, const char *addr)
{
	weft__connect_init(c, WEFT__CONNECT_TCP);
	c->name = addr;
	if (!addr)
		c->result = -EINVAL;
}

void weft_tcp_connect_init_addr(weft_tcp_connect *c, const weft_addr *addr)
{
	weft__connect_init(c, WEFT__CONNECT_TCP);
	if (addr && addr->len &&
	    (addr->u.sa.sa_family == AF_INET || addr->u.sa.sa_family == AF_INET6))
		c->addr = *addr;
	else
		c->result = -EINVAL;
}

weft_poll weft_tcp_connect_poll(weft_tcp_connect *c, weft_cx *cx, weft_tcp_stream **out)
{
	if (weft__connect_poll(c, cx) == WEFT_PENDING)
		return WEFT_PENDING;
	if (out) {
		*out = c->stream;
		c->stream = NULL;
	}
	return WEFT_READY;
}

void weft_tcp_connect_drop(weft_tcp_connect *c)
{
	weft__connect_drop(c);
}

void weft_unix_connect_init(weft_unix_connect *c, const char *path)
{
	weft__connect_init(c, WEFT__CONNECT_UNIX);
	int rc = weft_addr_unix(&c->addr, path);
	if (rc < 0)
		c->result = rc;
}

weft_poll weft_unix_connect_poll(weft_unix_connect *c, weft_cx *cx, weft_unix_stream **out)
{
	if (weft__connect_poll(c, cx) == WEFT_PENDING)
		return WEFT_PENDING;
	if (out) {
		*out = c->stream;
		c->stream = NULL;
	}
	return WEFT_READY;
}

void weft_unix_connect_drop(weft_unix_connect *c)
{
	weft__connect_drop(c);
}
