/*
 * net_sock.h - the one object behind every public socket handle: an fd,
 * its reactor registration (made at the first poll), a reference count
 * for split halves, and the stream handles themselves.
 *
 * weft_listener and weft_udp_socket are incomplete public types: their
 * pointers are struct weft__sock pointers converted, never dereferenced
 * as anything else. weft_stream is defined here: a two-byte handle
 * embedded in the socket (`whole` for the unsplit stream, `half[]` for
 * the halves of a split one) that says which directions it may use and
 * how far it sits from the start of its socket, so every stream call
 * finds the socket with one subtraction and no branch.
 */
#ifndef WEFT__NET_SOCK_H
#define WEFT__NET_SOCK_H

#include <weft/net.h>

#include "sys.h"
#include "task.h"
#include "io_reactor.h"
#include "sched_api.h"

/* What a socket is; read by accept (the kind of stream a listener
 * makes) and by the TCP-only options. */
enum weft__sock_kind {
	WEFT__SOCK_TCP,             /* TCP stream */
	WEFT__SOCK_UNIX,            /* Unix stream */
	WEFT__SOCK_TCP_LISTENER,
	WEFT__SOCK_UNIX_LISTENER,
	WEFT__SOCK_UDP,
};

/* Directions a stream handle may use. */
#define WEFT__DIR_READ  1u
#define WEFT__DIR_WRITE 2u

struct weft_stream {
	uint8_t dirs;   /* WEFT__DIR_* */
	uint8_t off;    /* offset of this handle in its struct weft__sock */
};

struct weft__sock {
	struct weft_stream whole;      /* both directions (first: offset 0) */
	struct weft_stream half[2];    /* read half, write half (split) */
	uint8_t kind;                  /* enum weft__sock_kind */
	int fd;
	int spare_fd;                  /* listeners: the EMFILE reserve, else -1 */
	uint32_t initial_ready;        /* readiness assumed at registration */
	/* Published once with release by the registering thread; acquire
	 * loads see `rt` and the slot fully set up. */
	_Atomic(struct weft__io *) io;
	weft_runtime *rt;              /* holds a runtime reference while registered */
	pthread_mutex_t reg_lock;      /* serialises the first registration */
	_Atomic unsigned refs;         /* 1, or 2 while split into halves */
};

#define WEFT__SOCK(p) ((struct weft__sock *)(void *)(p))

/* The socket of a stream handle (whole or half). @h must not be NULL. */
static inline struct weft__sock *weft__stream_sock(const weft_stream *h)
{
	return (struct weft__sock *)(void *)((char *)(uintptr_t)h - h->off);
}

/* Allocates a socket object around @fd (which it then owns). NULL on
 * -ENOMEM (and @fd is left to the caller). */
struct weft__sock *weft__sock_new(int fd, enum weft__sock_kind kind, uint32_t initial_ready);
/* Drops a reference; the last leaves the reactor, closes the fds and frees. */
void weft__sock_release(struct weft__sock *s);

/* The socket's registration with @cx's runtime, made on first use.
 * 0, -EINVAL (no runtime), -EXDEV (another runtime's socket) or the
 * registration's -errno. */
int weft__sock_io(struct weft__sock *s, weft_cx *cx, struct weft__io **out);

/*
 * Every socket operation goes through here: the registration, then the
 * I/O layer's one operation loop (weft__io_op_poll: budget, readiness,
 * syscall, EAGAIN). READY with *@res as weft__io_op_poll says, or with
 * the registration's -errno.
 */
static inline weft_poll weft__sock_submit(struct weft__sock *s, weft_cx *cx,
					  struct weft__io_op *op, ssize_t *res)
{
	/* Acquire: pairs with weft__sock_io's release; `rt` is set. The
	 * common case, inline: registered with this runtime. */
	struct weft__io *io = atomic_load_explicit(&s->io, memory_order_acquire);
	if (weft__unlikely(io == NULL || s->rt != cx->runtime)) {
		int rc = weft__sock_io(s, cx, &io);
		if (rc < 0) {
			*res = rc;
			return WEFT_READY;
		}
	}
	op->fd = s->fd;
	return weft__io_op_poll(io, cx, op, res);
}

/* socket + options + bind (+ listen when @backlog >= 0). Returns the fd
 * or -errno. */
int weft__sock_bound(const weft_addr *addr, int type, int backlog, bool reuseaddr,
		     bool reuseport, bool v6only);
/* A listener around a bound, listening @fd (owned: closed on failure),
 * with its spare fd. 0 or -errno. */
int weft__listener_new(int fd, enum weft__sock_kind kind, weft_listener **out);

int weft__sock_name(int fd, weft_addr *out, bool peer);

#endif
