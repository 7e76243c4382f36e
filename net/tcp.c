/*
 * tcp.c - TCP listeners: the synchronous numeric constructors and the
 * weft_listen future, which resolves a host name on the DNS pool first.
 * Streams are weft_stream (stream.c); accept is the listener's
 * (sock.c).
 */
#include "net_sock.h"

#include <errno.h>

int weft_tcp_listen_addr(weft_listener **out, const weft_addr *addr,
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
	return weft__listener_new(fd, WEFT__SOCK_TCP_LISTENER, out);
}

int weft_tcp_listen(weft_listener **out, const char *addr, int backlog)
{
	weft_addr a;
	if (!out || weft_addr_parse(&a, addr) < 0)
		return -EINVAL;
	weft_tcp_listen_options o = { .backlog = backlog };
	return weft_tcp_listen_addr(out, &a, &o);
}

/* ------------------------------------------------------ listen by name */

static weft_poll weft__listen_fut_poll(weft_future *f, weft_cx *cx)
{
	return weft_listen_poll((weft_listen *)f, cx);
}

/* The combinators' drop: cancels the lookup, keeps the output. */
static void weft__listen_cancel(weft_listen *l)
{
	weft_resolve_drop(&l->priv.resolve);
}

static void weft__listen_fut_drop(weft_future *f)
{
	weft__listen_cancel((weft_listen *)f);
}

void weft_tcp_listen_init(weft_listen *l, const char *addr,
			  const weft_tcp_listen_options *opts)
{
	*l = (weft_listen){ .fut = WEFT_FUTURE(weft__listen_fut_poll, weft__listen_fut_drop) };
	weft_resolve_init(&l->priv.resolve, addr);
	if (opts)
		l->priv.opts = *opts;
	l->priv.started = true;
}

weft_poll weft_listen_poll(weft_listen *l, weft_cx *cx)
{
	if (l->priv.done)
		return WEFT_READY;
	if (!l->priv.started) {   /* zero-filled */
		l->result = -EINVAL;
		l->priv.done = true;
		return WEFT_READY;
	}
	weft_resolve *r = &l->priv.resolve;
	if (weft_resolve_poll(r, cx) == WEFT_PENDING)
		return WEFT_PENDING;
	int rc = r->result < 0 ? r->result : -EADDRNOTAVAIL;
	for (size_t i = 0; r->result == 0 && i < r->count; i++) {
		rc = weft_tcp_listen_addr(&l->listener, &r->addrs[i], &l->priv.opts);
		if (rc == 0)
			break;
	}
	l->result = rc;
	l->priv.done = true;
	return WEFT_READY;
}

void weft_listen_drop(weft_listen *l)
{
	weft__listen_cancel(l);
}
