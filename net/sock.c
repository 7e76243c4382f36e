/*
 * sock.c - what every socket shares: lazy registration with the polling
 * runtime's reactor, the listener (accept with the spare-fd answer to
 * EMFILE), binding, names and release. The I/O itself is one operation
 * handed to the I/O layer (weft__sock_submit, io_reactor.h).
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
#include <netinet/in.h>

_Static_assert(offsetof(struct weft__sock, half[1]) < 256, "handle offsets fit a byte");

struct weft__sock *weft__sock_new(int fd, enum weft__sock_kind kind, uint32_t initial_ready)
{
	struct weft__sock *s = weft__calloc(1, sizeof *s);
	if (!s)
		return NULL;
	if (weft__sys_mutex_init(&s->reg_lock, NULL) != 0) {
		weft__free(s);
		return NULL;
	}
	s->whole = (struct weft_stream){ .dirs = WEFT__DIR_READ | WEFT__DIR_WRITE,
					 .off = (uint8_t)offsetof(struct weft__sock, whole) };
	s->half[0] = (struct weft_stream){ .dirs = WEFT__DIR_READ,
					   .off = (uint8_t)offsetof(struct weft__sock, half[0]) };
	s->half[1] = (struct weft_stream){ .dirs = WEFT__DIR_WRITE,
					   .off = (uint8_t)offsetof(struct weft__sock, half[1]) };
	s->fd = fd;
	s->spare_fd = -1;
	s->kind = (uint8_t)kind;
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

/* ------------------------------------------------------------- accept */

static int weft__sock_open_spare(void)
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

int weft__listener_new(int fd, enum weft__sock_kind kind, weft_listener **out)
{
	int spare = weft__sock_open_spare();
	if (spare < 0) {
		weft__sys_close(fd);
		return spare;
	}
	/* Readable assumed: connections may be waiting already. */
	struct weft__sock *s = weft__sock_new(fd, kind, WEFT__READY_READABLE);
	if (!s) {
		weft__sys_close(spare);
		weft__sys_close(fd);
		return -ENOMEM;
	}
	s->spare_fd = spare;
	*out = (weft_listener *)(void *)s;
	return 0;
}

weft_poll weft_listener_poll_accept(weft_listener *l, weft_cx *cx, weft_stream **out,
				    int *res)
{
	struct weft__sock *s = WEFT__SOCK(l);
	*out = NULL;
	if (!s) {
		*res = -EBADF;
		return WEFT_READY;
	}
	if (weft__unlikely(s->spare_fd < 0)) {   /* lost at the last EMFILE: retry */
		int spare = weft__sock_open_spare();
		if (spare >= 0)
			s->spare_fd = spare;
	}
	struct weft__io_op op = { .kind = WEFT__IO_OP_ACCEPT };
	ssize_t fd;
	if (weft__sock_submit(s, cx, &op, &fd) == WEFT_PENDING)
		return WEFT_PENDING;
	if (fd == -EMFILE || fd == -ENFILE) {
		/* The I/O layer cleared readiness: the next poll waits for a
		 * new connection once the backlog is drained here. */
		weft__sock_emfile_drain(s);
		*res = (int)fd;
		return WEFT_READY;
	}
	if (fd < 0) {
		*res = (int)fd;   /* ECONNABORTED and the like: transient */
		return WEFT_READY;
	}
	struct weft__sock *c = weft__sock_new((int)fd,
					      s->kind == WEFT__SOCK_UNIX_LISTENER ? WEFT__SOCK_UNIX
										  : WEFT__SOCK_TCP,
					      WEFT__READY_READABLE | WEFT__READY_WRITABLE);
	if (!c) {
		weft__sys_close((int)fd);
		*res = -ENOMEM;
		return WEFT_READY;
	}
	*out = &c->whole;
	*res = 0;
	return WEFT_READY;
}

int weft_listener_local_addr(const weft_listener *l, weft_addr *out)
{
	if (!l)
		return -EBADF;
	return weft__sock_name(WEFT__SOCK(l)->fd, out, false);
}

void weft_listener_close(weft_listener *l)
{
	weft__sock_release(WEFT__SOCK(l));
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
