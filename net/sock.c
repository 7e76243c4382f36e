/*
 * sock.c - what every socket shares: lazy registration with the polling
 * runtime's reactor, reads and writes under the readiness protocol
 * (io_reactor.h) with the cooperative budget, accept with the spare-fd
 * answer to EMFILE, and release.
 *
 * Registration happens once, under the socket's reg_lock, by whichever
 * direction polls first; the slot pointer is then published with a
 * release store, so the other direction's acquire load finds it ready to
 * use without taking the lock. Registering takes a reference on the
 * runtime, so the reactor outlives the slot however late the socket is
 * closed.
 */
#include "net_sock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/uio.h>

struct weft__sock *weft__sock_new(int fd, enum weft__sock_kind kind, uint32_t initial_ready)
{
	struct weft__sock *s = weft__calloc(1, sizeof *s);
	if (!s)
		return NULL;
	if (weft__sys_mutex_init(&s->reg_lock, NULL) != 0) {
		weft__free(s);
		return NULL;
	}
	s->fd = fd;
	s->spare_fd = -1;
	s->kind = kind;
	s->initial_ready = initial_ready;
	atomic_init(&s->io, NULL);
	atomic_init(&s->refs, 1);
	return s;
}

void weft__sock_release(struct weft__sock *s)
{
	if (!s)
		return;
	/* AcqRel: the last holder sees the other half's last uses. */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	struct weft__io *io = atomic_load_explicit(&s->io, memory_order_acquire);
	if (io)
		weft__io_deregister(io);
	if (s->fd >= 0)
		weft__sys_close(s->fd);
	if (s->spare_fd >= 0)
		weft__sys_close(s->spare_fd);
	if (io)
		weft__runtime_ref_dec(s->rt);   /* may free the reactor: last */
	pthread_mutex_destroy(&s->reg_lock);
	weft__free(s);
}

int weft__sock_io(struct weft__sock *s, weft_cx *cx, struct weft__io **out)
{
	/* Acquire: pairs with the release below; `rt` and the slot are set. */
	struct weft__io *io = atomic_load_explicit(&s->io, memory_order_acquire);
	if (weft__likely(io != NULL)) {
		if (weft__unlikely(s->rt != cx->runtime))
			return cx->runtime ? -EXDEV : -EINVAL;
		*out = io;
		return 0;
	}
	if (!cx->runtime)
		return -EINVAL;
	int rc = 0;
	pthread_mutex_lock(&s->reg_lock);
	io = atomic_load_explicit(&s->io, memory_order_relaxed);   /* under the lock */
	if (!io) {
		rc = weft__io_register(weft__runtime_reactor(cx->runtime), s->fd,
				       s->initial_ready, &io);
		if (rc == 0) {
			weft__runtime_ref_inc(cx->runtime);
			s->rt = cx->runtime;
			/* Release: publish rt and the slot to lock-free readers. */
			atomic_store_explicit(&s->io, io, memory_order_release);
		}
	} else if (s->rt != cx->runtime) {
		rc = -EXDEV;
	}
	pthread_mutex_unlock(&s->reg_lock);
	if (rc == 0)
		*out = io;
	return rc;
}

/* -------------------------------------------------------- stream I/O */

/*
 * The loop every readiness-driven operation runs: take budget, wait for
 * readiness, try the syscall, clear readiness on EAGAIN (or on a short
 * transfer on a stream) and try again.
 */
enum weft__op { WEFT__OP_READ, WEFT__OP_WRITE, WEFT__OP_WRITEV };

static ssize_t weft__sock_do(struct weft__sock *s, enum weft__op op, void *buf, size_t len,
			     const struct iovec *iov, int iovcnt)
{
	switch (op) {
	case WEFT__OP_READ:
		/* recv, not read: the socket call skips the VFS layer
		 * (vfs_read, fdget_pos), about 4 % of a server's kernel time
		 * per request in a profile under wrk. */
		return weft__sys_recvfrom(s->fd, buf, len, 0, NULL, NULL);
	case WEFT__OP_WRITE:
		return weft__sys_send(s->fd, buf, len, 0);
	case WEFT__OP_WRITEV: {
		struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt };
		return weft__sys_sendmsg(s->fd, &msg, 0);
	}
	}
	return -EINVAL;
}

static weft_poll weft__sock_op(struct weft__sock *s, weft_cx *cx, enum weft__op op,
			       void *buf, size_t len, const struct iovec *iov, int iovcnt,
			       ssize_t *n)
{
	if (!s) {
		*n = -EBADF;
		return WEFT_READY;
	}
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	if (len == 0) {   /* nothing to move: no syscall, no budget */
		*n = 0;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	struct weft__io *io = NULL;
	int rc = weft__sock_io(s, cx, &io);
	if (rc < 0) {
		*n = rc;
		return WEFT_READY;
	}
	enum weft__io_dir dir = op == WEFT__OP_READ ? WEFT__IO_READ : WEFT__IO_WRITE;
	struct weft__io_ready ev;
	for (;;) {
		if (weft__io_poll_ready(io, dir, cx, &ev) == WEFT_PENDING) {
			weft_coop_refund(cx);
			return WEFT_PENDING;
		}
		ssize_t r = weft__sock_do(s, op, buf, len, iov, iovcnt);
		if (r == -EAGAIN || r == -EWOULDBLOCK) {
			weft__io_clear_ready(io, &ev);
			continue;
		}
		if (r == -EINTR)
			continue;
		/* A stream that moved less than asked is drained (or full):
		 * an edge-triggered fd reports the next change, so clear now
		 * instead of paying a syscall to hear EAGAIN. */
		if (r > 0 && (size_t)r < len)
			weft__io_clear_ready(io, &ev);
		*n = r;
		return WEFT_READY;
	}
}

weft_poll weft__sock_poll_read(struct weft__sock *s, weft_cx *cx, void *buf, size_t len,
			       ssize_t *n)
{
	return weft__sock_op(s, cx, WEFT__OP_READ, buf, len, NULL, 0, n);
}

weft_poll weft__sock_poll_write(struct weft__sock *s, weft_cx *cx, const void *buf,
				size_t len, ssize_t *n)
{
	return weft__sock_op(s, cx, WEFT__OP_WRITE, (void *)buf, len, NULL, 0, n);
}

weft_poll weft__sock_poll_writev(struct weft__sock *s, weft_cx *cx,
				 const struct iovec *iov, int iovcnt, ssize_t *n)
{
	if (iovcnt < 0 || iovcnt > IOV_MAX || (iovcnt > 0 && !iov)) {
		*n = -EINVAL;
		return WEFT_READY;
	}
	size_t total = 0;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total) {
			*n = -EINVAL;
			return WEFT_READY;
		}
		total += iov[i].iov_len;
	}
	return weft__sock_op(s, cx, WEFT__OP_WRITEV, NULL, total, iov, iovcnt, n);
}

/* ------------------------------------------------------------- accept */

int weft__sock_open_spare(void)
{
	/* Not a socket, but an fd like any other: what matters is that
	 * closing it frees one slot of the fd table. */
	return weft__sys_open("/dev/null", O_RDONLY);
}

/*
 * libuv's answer to EMFILE: with the spare closed there is room for one
 * accept at a time; accept and close everything waiting, so the backlog
 * stops reporting readiness we cannot act on, then take the spare back.
 */
static void weft__sock_emfile_drain(struct weft__sock *s)
{
	if (s->spare_fd < 0)
		return;
	weft__sys_close(s->spare_fd);
	s->spare_fd = -1;
	for (;;) {
		int fd = weft__sys_accept(s->fd, NULL, NULL);
		if (fd < 0) {
			if (fd == -EINTR)
				continue;
			break;
		}
		weft__sys_close(fd);
	}
	int spare = weft__sock_open_spare();
	s->spare_fd = spare >= 0 ? spare : -1;
}

weft_poll weft__sock_poll_accept(struct weft__sock *s, weft_cx *cx,
				 enum weft__sock_kind kind, struct weft__sock **out, int *err)
{
	*out = NULL;
	if (!s) {
		*err = -EBADF;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	struct weft__io *io;
	int rc = weft__sock_io(s, cx, &io);
	if (rc < 0) {
		*err = rc;
		return WEFT_READY;
	}
	struct weft__io_ready ev;
	for (;;) {
		if (weft__io_poll_ready(io, WEFT__IO_READ, cx, &ev) == WEFT_PENDING) {
			weft_coop_refund(cx);
			return WEFT_PENDING;
		}
		if (s->spare_fd < 0) {   /* lost at the last EMFILE: retry */
			int spare = weft__sock_open_spare();
			if (spare >= 0)
				s->spare_fd = spare;
		}
		int fd = weft__sys_accept(s->fd, NULL, NULL);
		if (fd == -EAGAIN || fd == -EWOULDBLOCK) {
			weft__io_clear_ready(io, &ev);
			continue;
		}
		if (fd == -EINTR)
			continue;
		if (fd == -EMFILE || fd == -ENFILE) {
			weft__sock_emfile_drain(s);
			/* Whatever is left needs a new edge: with the spare
			 * gone too, waiting beats spinning on EMFILE. */
			weft__io_clear_ready(io, &ev);
			*err = fd;
			return WEFT_READY;
		}
		if (fd < 0) {
			*err = fd;   /* ECONNABORTED and the like: transient */
			return WEFT_READY;
		}
		struct weft__sock *c = weft__sock_new(fd, kind,
						      WEFT__READY_READABLE | WEFT__READY_WRITABLE);
		if (!c) {
			weft__sys_close(fd);
			*err = -ENOMEM;
			return WEFT_READY;
		}
		*out = c;
		*err = 0;
		return WEFT_READY;
	}
}

/* -------------------------------------------------------- bind, names */

int weft__sock_bound(const weft_addr *addr, int type, int backlog, bool reuseaddr,
		     bool reuseport, bool v6only)
{
	if (!addr || addr->len == 0)
		return -EINVAL;
	int family = addr->u.sa.sa_family;
	int fd = weft__sys_socket(family, type, 0);
	if (fd < 0)
		return fd;
	int one = 1, rc = 0;
	if (reuseaddr)
		rc = weft__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (rc == 0 && reuseport)
		rc = weft__sys_setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (rc == 0 && v6only && family == AF_INET6)
		rc = weft__sys_setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (rc == 0)
		rc = weft__sys_bind(fd, &addr->u.sa, addr->len);
	if (rc == 0 && backlog >= 0)
		rc = weft__sys_listen(fd, backlog == 0 ? SOMAXCONN : backlog);
	if (rc < 0) {
		weft__sys_close(fd);
		return rc;
	}
	return fd;
}

int weft__sock_name(int fd, weft_addr *out, bool peer)
{
	if (!out)
		return -EINVAL;
	*out = (weft_addr){ 0 };
	socklen_t len = sizeof out->u;
	int rc = peer ? weft__sys_getpeername(fd, &out->u.sa, &len)
		      : weft__sys_getsockname(fd, &out->u.sa, &len);
	if (rc < 0)
		return rc;
	out->len = len;
	return 0;
}

int weft__sock_shutdown(struct weft__sock *s, int how)
{
	if (!s)
		return -EBADF;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	return weft__sys_shutdown(s->fd, how);
}
