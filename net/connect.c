/*
 * connect.c - the connect future shared by TCP and Unix streams: resolve
 * (TCP names only), then for each address a non-blocking connect and,
 * when it is in progress, the I/O layer's CONNECT operation, which waits
 * for the handshake to end and reports how (SO_ERROR).
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

static weft_poll weft__connect_finish(weft_connect *c, int result)
{
	c->result = result;
	c->priv.state = WEFT__CONNECT_DONE;
	return WEFT_READY;
}

weft_poll weft_connect_poll(weft_connect *c, weft_cx *cx)
{
	struct weft__sock *s;
	int rc;

	switch (c->priv.state) {
	case WEFT__CONNECT_START:
		if (c->priv.name) {
			weft_resolve_init(&c->priv.resolve, c->priv.name);
			c->priv.state = WEFT__CONNECT_RESOLVE;
		} else if (c->priv.addr.len) {
			c->priv.resolve.addrs[0] = c->priv.addr;
			c->priv.resolve.count = 1;
			c->priv.state = WEFT__CONNECT_NEXT;
			break;
		} else {
			return weft__connect_finish(c, c->result < 0 ? c->result : -EINVAL);
		}
		/* fall through */
	case WEFT__CONNECT_RESOLVE:
		if (weft_resolve_poll(&c->priv.resolve, cx) == WEFT_PENDING)
			return WEFT_PENDING;
		if (c->priv.resolve.result < 0)
			return weft__connect_finish(c, c->priv.resolve.result);
		c->priv.state = WEFT__CONNECT_NEXT;
		break;
	case WEFT__CONNECT_NEXT:
	case WEFT__CONNECT_WAIT:
		break;
	default:
		return WEFT_READY;
	}

	for (;;) {
		if (c->priv.state == WEFT__CONNECT_NEXT) {
			if (c->priv.next >= c->priv.resolve.count || c->priv.next >= WEFT_RESOLVE_MAX)
				return weft__connect_finish(c, c->result < 0 ? c->result
									     : -ECONNREFUSED);
			if (!weft_coop_proceed(cx))
				return WEFT_PENDING;
			const weft_addr *a = &c->priv.resolve.addrs[c->priv.next++];
			int fd = weft__sys_socket(a->u.sa.sa_family, SOCK_STREAM, 0);
			if (fd < 0) {
				c->result = fd;
				continue;
			}
			s = weft__sock_new(fd, (enum weft__sock_kind)c->priv.kind, 0);
			if (!s) {
				weft__sys_close(fd);
				return weft__connect_finish(c, -ENOMEM);
			}
			rc = weft__sys_connect(fd, &a->u.sa, a->len);
			if (rc == 0) {
				/* Connected at once (Unix, usually): try I/O first. */
				s->initial_ready = WEFT__READY_READABLE | WEFT__READY_WRITABLE;
				c->stream = &s->whole;
				return weft__connect_finish(c, 0);
			}
			if (rc != -EINPROGRESS) {
				weft__sock_release(s);
				c->result = rc;
				continue;
			}
			/* Waited for below with no readiness assumed (registered
			 * with initial 0): only the edge that ends the handshake
			 * may complete it. The operation takes its own unit. */
			weft_coop_refund(cx);
			c->priv.sock = s;
			c->priv.state = WEFT__CONNECT_WAIT;
		}

		/* WAIT: the handshake's end, as an operation of the I/O layer. */
		s = c->priv.sock;
		struct weft__io_op op = { .kind = WEFT__IO_OP_CONNECT };
		ssize_t r;
		if (weft__sock_submit(s, cx, &op, &r) == WEFT_PENDING)
			return WEFT_PENDING;
		c->priv.sock = NULL;
		if (r == 0) {
			c->stream = &s->whole;
			return weft__connect_finish(c, 0);
		}
		weft__sock_release(s);
		c->result = (int)r;
		/* A registration failure (-EINVAL: no runtime; -EXDEV) is no
		 * fault of the address: stop there. */
		if (r == -EINVAL || r == -EXDEV)
			return weft__connect_finish(c, (int)r);
		c->priv.state = WEFT__CONNECT_NEXT;
	}
}

static weft_poll weft__connect_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_connect_poll((weft_connect *)f, cx);
}

/* The combinators' drop: cancels the work in progress, keeps the output. */
static void weft__connect_cancel(weft_connect *c)
{
	if (c->priv.sock) {
		weft__sock_release(c->priv.sock);
		c->priv.sock = NULL;
	}
	weft_resolve_drop(&c->priv.resolve);
}

static void weft__connect_fut_drop(weft_future *f)
{
	weft__connect_cancel((weft_connect *)f);
}

void weft_connect_drop(weft_connect *c)
{
	weft__connect_cancel(c);
}

static void weft__connect_init(weft_connect *c, enum weft__sock_kind kind)
{
	*c = (weft_connect){
		.fut = WEFT_FUTURE(weft__connect_fut_poll, weft__connect_fut_drop),
	};
	c->priv.kind = kind;
}

void weft_tcp_connect_init(weft_connect *c, const char *addr)
{
	weft__connect_init(c, WEFT__SOCK_TCP);
	c->priv.name = addr;
	if (!addr)
		c->result = -EINVAL;
}

void weft_tcp_connect_init_addr(weft_connect *c, const weft_addr *addr)
{
	weft__connect_init(c, WEFT__SOCK_TCP);
	if (addr && addr->len &&
	    (addr->u.sa.sa_family == AF_INET || addr->u.sa.sa_family == AF_INET6))
		c->priv.addr = *addr;
	else
		c->result = -EINVAL;
}

void weft_unix_connect_init(weft_connect *c, const char *path)
{
	weft__connect_init(c, WEFT__SOCK_UNIX);
	int rc = weft_addr_unix(&c->priv.addr, path);
	if (rc < 0)
		c->result = rc;
}
