/*
 * net_sock.h - the one object behind every public socket handle: an fd, its
 * reactor registration (made at the first poll) and a reference count
 * for split halves. The public handle types (weft_tcp_stream,
 * weft_udp_socket, ...) are incomplete types; a handle pointer is a
 * struct weft__sock pointer converted, never dereferenced as anything
 * else.
 */
#ifndef WEFT__NET_SOCK_H
#define WEFT__NET_SOCK_H

#include <weft/net.h>

#include "sys.h"
#include "task.h"
#include "io_reactor.h"
#include "sched_api.h"

enum weft__sock_kind {
	WEFT__SOCK_TCP_LISTENER,
	WEFT__SOCK_TCP_STREAM,
	WEFT__SOCK_UDP,
	WEFT__SOCK_UNIX_LISTENER,
	WEFT__SOCK_UNIX_STREAM,
};

struct weft__sock {
	int fd;
	int spare_fd;                  /* listeners: the EMFILE reserve, else -1 */
	enum weft__sock_kind kind;
	uint32_t initial_ready;        /* readiness assumed at registration */
	/* Published once with release by the registering thread; acquire
	 * loads see `rt` and the slot fully set up. */
	_Atomic(struct weft__io *) io;
	weft_runtime *rt;              /* holds a runtime reference while registered */
	pthread_mutex_t reg_lock;      /* serialises the first registration */
	_Atomic unsigned refs;         /* 1, or 2 while split into halves */
};

#define WEFT__SOCK(p) ((struct weft__sock *)(void *)(p))

/* Allocates a socket object around @fd (which it then owns). NULL on
 * -ENOMEM (and @fd is left to the caller). */
struct weft__sock *weft__sock_new(int fd, enum weft__sock_kind kind, uint32_t initial_ready);
/* Drops a reference; the last leaves the reactor, closes the fds and frees. */
void weft__sock_release(struct weft__sock *s);

/* The socket's registration with @cx's runtime, made on first use.
 * 0, -EINVAL (no runtime), -EXDEV (another runtime's socket) or the
 * registration's -errno. */
int weft__sock_io(struct weft__sock *s, weft_cx *cx, struct weft__io **out);

/* Stream I/O with the readiness protocol and the coop budget. */
weft_poll weft__sock_poll_read(struct weft__sock *s, weft_cx *cx, void *buf, size_t len,
			       ssize_t *n);
weft_poll weft__sock_poll_write(struct weft__sock *s, weft_cx *cx, const void *buf,
				size_t len, ssize_t *n);
weft_poll weft__sock_poll_writev(struct weft__sock *s, weft_cx *cx,
				 const struct iovec *iov, int iovcnt, ssize_t *n);
/* Listener accept with the spare-fd EMFILE answer. */
weft_poll weft__sock_poll_accept(struct weft__sock *s, weft_cx *cx,
				 enum weft__sock_kind kind, struct weft__sock **out, int *err);

/* socket + options + bind (+ listen when @backlog >= 0). Returns the fd
 * or -errno. */
int weft__sock_bound(const weft_addr *addr, int type, int backlog, bool reuseaddr,
		     bool reuseport, bool v6only);
int weft__sock_open_spare(void);

int weft__sock_name(int fd, weft_addr *out, bool peer);
/* shutdown(2) of a stream socket: 0, -EBADF (NULL), -EINVAL (bad @how)
 * or the syscall's -errno. */
int weft__sock_shutdown(struct weft__sock *s, int how);

/* The connect future, shared by TCP and Unix (connect.c). */
void weft__connect_init(weft_connect *c, int kind);

#endif
