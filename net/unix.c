/*
 * unix.c - Unix-domain stream listeners and streams: the public face of
 * struct weft__sock for AF_UNIX (sock.c does the I/O, connect.c the
 * connect).
 */
#include "net_sock.h"

#include <errno.h>

int weft_unix_listen(weft_unix_listener **out, const char *path, int backlog)
{
	if (!out)
		return -EINVAL;
	weft_addr a;
	int rc = weft_addr_unix(&a, path);
	if (rc < 0)
		return rc;
	int fd = weft__sock_bound(&a, SOCK_STREAM, backlog > 0 ? backlog : 0,
				  false, false, false);
	if (fd < 0)
		return fd;
	int spare = weft__sock_open_spare();
	if (spare < 0) {
		weft__sys_close(fd);
		return spare;
	}
	struct weft__sock *s = weft__sock_new(fd, WEFT__SOCK_UNIX_LISTENER,
					      WEFT__READY_READABLE);
	if (!s) {
		weft__sys_close(spare);
		weft__sys_close(fd);
		return -ENOMEM;
	}
	s->spare_fd = spare;
	*out = (weft_unix_listener *)(void *)s;
	return 0;
}

weft_poll weft_unix_poll_accept(weft_unix_listener *l, weft_cx *cx, weft_unix_stream **out,
				int *err)
{
	struct weft__sock *c = NULL;
	weft_poll p = weft__sock_poll_accept(WEFT__SOCK(l), cx, WEFT__SOCK_UNIX_STREAM, &c, err);
	if (p == WEFT_READY)
		*out = (weft_unix_stream *)(void *)c;
	return p;
}

void weft_unix_listener_close(weft_unix_listener *l)
{
	weft__sock_release(WEFT__SOCK(l));
}

weft_poll weft_unix_poll_read(weft_unix_stream *s, weft_cx *cx, void *buf, size_t len,
			      ssize_t *n)
{
	return weft__sock_poll_read(WEFT__SOCK(s), cx, buf, len, n);
}

weft_poll weft_unix_poll_write(weft_unix_stream *s, weft_cx *cx, const void *buf,
			       size_t len, ssize_t *n)
{
	return weft__sock_poll_write(WEFT__SOCK(s), cx, buf, len, n);
}

weft_poll weft_unix_poll_writev(weft_unix_stream *s, weft_cx *cx, const struct iovec *iov,
				int iovcnt, ssize_t *n)
{
	return weft__sock_poll_writev(WEFT__SOCK(s), cx, iov, iovcnt, n);
}

int weft_unix_shutdown(weft_unix_stream *s, int how)
{
	return weft__sock_shutdown(WEFT__SOCK(s), how);
}

void weft_unix_close(weft_unix_stream *s)
{
	weft__sock_release(WEFT__SOCK(s));
}
