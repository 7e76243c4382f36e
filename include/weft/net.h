/*
 * weft/net.h - addresses, name resolution, TCP, UDP and Unix stream
 * sockets.
 *
 * Sockets are opaque heap objects: a constructor (weft_tcp_listen,
 * weft_udp_bind, an accept, a connect) gives the caller ownership, and a
 * close function releases it. Every socket is non-blocking and
 * close-on-exec. A socket joins the reactor of the runtime that first
 * polls it (the first poll registers it; creating one registers nothing)
 * and must then only be polled by tasks of that runtime; polling it from
 * another runtime gives -EXDEV, and polling it with no runtime in the
 * context (cx->runtime == NULL) gives -EINVAL. A socket keeps its
 * runtime's reactor alive until it is closed, so it may be closed after
 * weft_runtime_free.
 *
 * Operations come in two shapes. Stateless ones are poll functions on
 * the socket (weft_tcp_poll_read): READY with the result in an
 * out-parameter, or PENDING with the task's waker stored in the socket,
 * one reader and one writer at a time. Stateful ones (connect, write_all,
 * read_exact, resolve) are small futures the caller embeds in its own
 * struct: init does nothing but fill in fields, the first poll starts the
 * work, a zero-filled one is valid, and drop is idempotent. Each has a
 * typed poll function for WEFT_AWAIT and also a weft_future first member,
 * so it can be a child of join/select (its output then stays in its
 * fields, readable after drop).
 *
 * Every operation that may complete takes one unit of the cooperative
 * budget (weft_coop_proceed) and gives it back if it must wait.
 *
 * Errors are negative errno values: never a signal (writes use
 * MSG_NOSIGNAL, so a closed peer gives -EPIPE or -ECONNRESET), never an
 * abort on bad input.
 *
 * Threads: a socket may be used from any thread, but each direction by
 * one task at a time: one task reads (or accepts, or receives) while
 * another writes (or sends). weft_tcp_split makes that ownership
 * explicit. Close must not race with any other call on the same socket.
 */
#ifndef WEFT_NET_H
#define WEFT_NET_H

#include <weft/core.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ addresses */

/** A socket address: IPv4, IPv6 or a Unix path. Plain data; copy freely. */
typedef struct weft_addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_un un;
		struct sockaddr_storage storage;
	} u;
	socklen_t len;   /* meaningful bytes of u; 0 = no address */
} weft_addr;

/** Room weft_addr_format needs for any address, terminator included. */
#define WEFT_ADDR_STRLEN 128

/**
 * Parses a numeric address: "127.0.0.1:8080", "[::1]:0",
 * "[fe80::1%2]:80" (numeric zone ids only). The port is required
 * (0..65535). No name lookup
 * (see weft_resolve). Returns 0, or -EINVAL for anything else (NULL,
 * missing port, bad host, trailing garbage). Any thread.
 */
WEFT_API int weft_addr_parse(weft_addr *out, const char *text);

/**
 * Formats @a as weft_addr_parse reads it ("127.0.0.1:8080",
 * "[::1]:443"); a Unix address as its path ("@name" for an abstract one,
 * "" for an unnamed one). Returns the string length, or -ENOSPC if @size
 * is too small (WEFT_ADDR_STRLEN always suffices), -EAFNOSUPPORT for
 * another family, -EINVAL for NULL. Any thread.
 */
WEFT_API int weft_addr_format(const weft_addr *a, char *buf, size_t size);

/** Builds a Unix address from @path. 0, -EINVAL (NULL or empty) or
 *  -ENAMETOOLONG. Any thread. */
WEFT_API int weft_addr_unix(weft_addr *out, const char *path);

/** The port of an IPv4/IPv6 address in host order, or -EAFNOSUPPORT. */
WEFT_API int weft_addr_port(const weft_addr *a);

/* ----------------------------------------------------------- resolution */

/** Most addresses a resolution keeps. */
#define WEFT_RESOLVE_MAX 4

struct weft__resolve_job;

/**
 * Resolves "host:port" ("localhost:80", "[::1]:0", "example.org:443")
 * to up to WEFT_RESOLVE_MAX stream addresses. Numeric addresses are
 * parsed in the first poll; names are looked up with getaddrinfo on the
 * runtime's blocking pool, so the lookup never blocks a worker.
 * Output: result (0 or -errno) and addrs[0..count). Errors: -EINVAL
 * (bad text, or no runtime in the context), -ENOENT (unknown name or no
 * address), -EAGAIN (temporary lookup failure), -ENOMEM, -EIO (other
 * lookup failure). Dropping it mid-lookup abandons the lookup (the pool
 * finishes it and frees it).
 */
typedef struct weft_resolve {
	weft_future fut;
	const char *name;                /* borrowed until ready or dropped */
	struct weft__resolve_job *job;   /* lookup in flight */
	weft_addr addrs[WEFT_RESOLVE_MAX];
	size_t count;
	int result;
	bool done;
} weft_resolve;

/** Initialises a resolution of @name (borrowed; must outlive the future). */
WEFT_API void weft_resolve_init(weft_resolve *r, const char *name);
/** Polls it: READY with r->result and r->addrs set. */
WEFT_API weft_poll weft_resolve_poll(weft_resolve *r, weft_cx *cx);
/** Abandons a lookup in flight; idempotent. */
WEFT_API void weft_resolve_drop(weft_resolve *r);

/* ------------------------------------------------------------------ TCP */

/** A listening TCP socket. Owned by the caller; close with
 *  weft_tcp_listener_close. */
typedef struct weft_tcp_listener weft_tcp_listener;
/** A connected TCP stream. Owned by the caller; close with weft_tcp_close
 *  (or split it and close both halves). */
typedef struct weft_tcp_stream weft_tcp_stream;
/** The read side of a split stream (weft_tcp_split). */
typedef struct weft_tcp_read_half weft_tcp_read_half;
/** The write side of a split stream (weft_tcp_split). */
typedef struct weft_tcp_write_half weft_tcp_write_half;

/** Listener options; zero-filled means the defaults. */
typedef struct weft_tcp_listen_options {
	int backlog;       /* listen backlog; <= 0: SOMAXCONN */
	bool reuseport;    /* SO_REUSEPORT: several listeners share the port */
	bool v6only;       /* IPV6_V6ONLY on an IPv6 listener */
} weft_tcp_listen_options;

/**
 * Creates a listener bound to the numeric address @addr ("127.0.0.1:0"
 * for an ephemeral port) with SO_REUSEADDR, listening with @backlog
 * (<= 0: SOMAXCONN). Keeps one spare fd to survive EMFILE on accept (see
 * weft_tcp_poll_accept). Stores it in *@out. Errors: -EINVAL (bad
 * address, NULL), -ENOMEM, or the -errno of socket/bind/listen
 * (-EADDRINUSE...). Any thread; no runtime needed.
 */
WEFT_API int weft_tcp_listen(weft_tcp_listener **out, const char *addr, int backlog);

/** weft_tcp_listen with a parsed address and options (NULL: defaults). */
WEFT_API int weft_tcp_listen_addr(weft_tcp_listener **out, const weft_addr *addr,
				  const weft_tcp_listen_options *opts);

/**
 * Accepts a connection: READY with *@out set to a new stream the caller
 * owns and *@err = 0, or *@out = NULL and *@err a negative errno
 * (-ENOMEM, -ECONNABORTED, -EMFILE, -ENFILE, -EINVAL/-EXDEV for a bad
 * context). On EMFILE/ENFILE the listener closes its spare fd, accepts
 * and closes the connections waiting in the backlog (their clients see
 * the connection closed), reopens the spare and reports the error once;
 * the next poll waits for a new connection instead of spinning, and
 * accepting works again as soon as fds are free. One accepting task at a
 * time; any thread.
 */
WEFT_API weft_poll weft_tcp_poll_accept(weft_tcp_listener *l, weft_cx *cx,
					weft_tcp_stream **out, int *err);

/** The address the listener is bound to (the real port after port 0).
 *  0 or -errno. */
WEFT_API int weft_tcp_listener_local_addr(const weft_tcp_listener *l, weft_addr *out);

/** Closes the listener: leaves the reactor, closes its fds, frees it, and
 *  drops the accepting task's stored waker. NULL is ignored. */
WEFT_API void weft_tcp_listener_close(weft_tcp_listener *l);

/**
 * A connect in progress: TCP (weft_tcp_connect_init*) or Unix
 * (weft_unix_connect_init). Output: result (0 or -errno) and, on success,
 * `stream`, which the caller then owns (a weft_tcp_stream or a
 * weft_unix_stream; the typed poll functions hand it over and clear the
 * field). Errors: -ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH,
 * -EHOSTUNREACH, resolution errors (weft_resolve), -EINVAL, -ENOMEM.
 * With several resolved addresses each is tried in order and the last
 * error is reported.
 *
 * Timeouts compose: await it inside a weft_select with a sleep future;
 * if the sleep wins, select drops the connect, which closes the
 * half-open socket. (weft_tcp_connect_timeout_init is left for when the
 * timer futures land.)
 */
typedef struct weft_connect {
	weft_future fut;
	const char *name;       /* borrowed; NULL when addr is given */
	weft_addr addr;
	weft_resolve resolve;
	void *sock;             /* in progress; closed by drop */
	void *stream;           /* output once result == 0 */
	unsigned state;
	unsigned next;          /* next resolved address to try */
	int result;
	int kind;
} weft_connect;
typedef weft_connect weft_tcp_connect;

/** Initialises a connect to @addr ("127.0.0.1:80" or "localhost:80";
 *  borrowed until the future is ready or dropped). Nothing else. */
WEFT_API void weft_tcp_connect_init(weft_tcp_connect *c, const char *addr);
/** Initialises a connect to a parsed address (copied). */
WEFT_API void weft_tcp_connect_init_addr(weft_tcp_connect *c, const weft_addr *addr);
/** Polls it: READY with c->result set and, on success, *@out the new
 *  stream (owned by the caller; @out may be NULL to leave it in
 *  c->stream). */
WEFT_API weft_poll weft_tcp_connect_poll(weft_tcp_connect *c, weft_cx *cx,
					 weft_tcp_stream **out);
/** Cancels a connect in progress (closes its socket). Does not touch a
 *  finished connect's output. Idempotent. */
WEFT_API void weft_tcp_connect_drop(weft_tcp_connect *c);

/**
 * Reads up to @len bytes: READY with *@n = bytes read (> 0), 0 at end of
 * stream (or for @len == 0), or -errno (-ECONNRESET...). A read that
 * returns fewer bytes than asked marks the stream not readable without
 * a second syscall; the next read waits for the next edge. One reading
 * task at a time; any thread.
 */
WEFT_API weft_poll weft_tcp_poll_read(weft_tcp_stream *s, weft_cx *cx, void *buf,
				      size_t len, ssize_t *n);
/** Writes up to @len bytes: READY with *@n = bytes written (> 0, 0 for
 *  @len == 0) or -errno (-EPIPE, -ECONNRESET). One writing task at a
 *  time; any thread. */
WEFT_API weft_poll weft_tcp_poll_write(weft_tcp_stream *s, weft_cx *cx,
				       const void *buf, size_t len, ssize_t *n);
/** Gathering write of @iovcnt buffers (at most IOV_MAX); as poll_write. */
WEFT_API weft_poll weft_tcp_poll_writev(weft_tcp_stream *s, weft_cx *cx,
					const struct iovec *iov, int iovcnt, ssize_t *n);
/** shutdown(2): SHUT_WR sends FIN (the peer reads EOF, this side may
 *  still read), SHUT_RD, SHUT_RDWR. 0 or -errno (-ENOTCONN). */
WEFT_API int weft_tcp_shutdown(weft_tcp_stream *s, int how);
/** TCP_NODELAY on or off. 0 or -errno. */
WEFT_API int weft_tcp_set_nodelay(weft_tcp_stream *s, bool on);
/** SO_KEEPALIVE on or off; with @idle_s > 0 also TCP_KEEPIDLE. 0 or -errno. */
WEFT_API int weft_tcp_set_keepalive(weft_tcp_stream *s, bool on, int idle_s);
/** The peer's address. 0 or -errno (-ENOTCONN). */
WEFT_API int weft_tcp_peer_addr(const weft_tcp_stream *s, weft_addr *out);
/** The local address. 0 or -errno. */
WEFT_API int weft_tcp_local_addr(const weft_tcp_stream *s, weft_addr *out);
/** Closes the stream: leaves the reactor (dropping stored wakers), closes
 *  the fd and frees it. Unsent data is still sent by the kernel. NULL is
 *  ignored. Must not race with another call on @s. */
WEFT_API void weft_tcp_close(weft_tcp_stream *s);

/**
 * Splits @s into a read half and a write half that two tasks may use at
 * once, possibly on different threads. No syscall, no allocation. @s is
 * consumed: use and close the halves instead; the socket is closed when
 * both are. 0 or -EINVAL.
 */
WEFT_API int weft_tcp_split(weft_tcp_stream *s, weft_tcp_read_half **rd,
			    weft_tcp_write_half **wr);
/** weft_tcp_poll_read on the read half. */
WEFT_API weft_poll weft_tcp_read_half_poll_read(weft_tcp_read_half *h, weft_cx *cx,
						void *buf, size_t len, ssize_t *n);
/** weft_tcp_poll_write on the write half. */
WEFT_API weft_poll weft_tcp_write_half_poll_write(weft_tcp_write_half *h, weft_cx *cx,
						  const void *buf, size_t len, ssize_t *n);
/** weft_tcp_poll_writev on the write half. */
WEFT_API weft_poll weft_tcp_write_half_poll_writev(weft_tcp_write_half *h, weft_cx *cx,
						   const struct iovec *iov, int iovcnt,
						   ssize_t *n);
/** Releases the read half. NULL is ignored. */
WEFT_API void weft_tcp_read_half_close(weft_tcp_read_half *h);
/** Shuts the write direction down (the peer reads EOF), then releases the
 *  write half. NULL is ignored. */
WEFT_API void weft_tcp_write_half_close(weft_tcp_write_half *h);

/* ------------------------------------------------- write_all, read_exact */

/**
 * write_all: writes all @len bytes, as many writes as it takes. Output:
 * result = @len, or -errno from the first failed write (`done` says how
 * much went out before). @buf is borrowed until ready or dropped. Drop
 * holds nothing (idempotent); dropping mid-way leaves a prefix written.
 * A zero-filled one is ready at once with result 0.
 */
typedef struct weft_write_all {
	weft_future fut;
	void *sock;
	const unsigned char *buf;
	size_t len;
	size_t done;
	ssize_t result;
} weft_write_all;

WEFT_API void weft_write_all_init(weft_write_all *w, weft_tcp_stream *s,
				  const void *buf, size_t len);
WEFT_API void weft_write_all_init_half(weft_write_all *w, weft_tcp_write_half *h,
				       const void *buf, size_t len);
/** Polls it: READY with *@n (may be NULL) = w->result. */
WEFT_API weft_poll weft_write_all_poll(weft_write_all *w, weft_cx *cx, ssize_t *n);
WEFT_API void weft_write_all_drop(weft_write_all *w);

/**
 * read_exact: reads exactly @len bytes into @buf. Output: result = @len,
 * -EPIPE if the stream ended first (`done` bytes did arrive), or the
 * read's -errno. @buf is borrowed until ready or dropped. Drop holds
 * nothing (idempotent). A zero-filled one is ready at once with 0.
 */
typedef struct weft_read_exact {
	weft_future fut;
	void *sock;
	unsigned char *buf;
	size_t len;
	size_t done;
	ssize_t result;
} weft_read_exact;

WEFT_API void weft_read_exact_init(weft_read_exact *r, weft_tcp_stream *s,
				   void *buf, size_t len);
WEFT_API void weft_read_exact_init_half(weft_read_exact *r, weft_tcp_read_half *h,
					void *buf, size_t len);
/** Polls it: READY with *@n (may be NULL) = r->result. */
WEFT_API weft_poll weft_read_exact_poll(weft_read_exact *r, weft_cx *cx, ssize_t *n);
WEFT_API void weft_read_exact_drop(weft_read_exact *r);

/* ------------------------------------------------------------------ UDP */

/** A UDP socket. Owned by the caller; close with weft_udp_close. */
typedef struct weft_udp_socket weft_udp_socket;

/** Creates a UDP socket bound to the numeric @addr ("127.0.0.1:0").
 *  0, -EINVAL, -ENOMEM or the -errno of socket/bind. Any thread. */
WEFT_API int weft_udp_bind(weft_udp_socket **out, const char *addr);
/** weft_udp_bind with a parsed address. */
WEFT_API int weft_udp_bind_addr(weft_udp_socket **out, const weft_addr *addr);
/** Sets the default peer (connect(2) on a datagram socket: no I/O, and
 *  datagrams from other addresses are then filtered out). 0 or -errno. */
WEFT_API int weft_udp_connect(weft_udp_socket *u, const weft_addr *peer);
/** Sends one datagram to @to: READY with *@n = bytes sent or -errno
 *  (-EMSGSIZE...). One sending task at a time. */
WEFT_API weft_poll weft_udp_poll_send_to(weft_udp_socket *u, weft_cx *cx,
					 const void *buf, size_t len,
					 const weft_addr *to, ssize_t *n);
/** Receives one datagram: READY with *@n = its length (truncated to
 *  @len) or -errno, and its sender in *@from (may be NULL). One
 *  receiving task at a time. */
WEFT_API weft_poll weft_udp_poll_recv_from(weft_udp_socket *u, weft_cx *cx, void *buf,
					   size_t len, weft_addr *from, ssize_t *n);
/** Sends to the connected peer (-EDESTADDRREQ without one). */
WEFT_API weft_poll weft_udp_poll_send(weft_udp_socket *u, weft_cx *cx,
				      const void *buf, size_t len, ssize_t *n);
/** Receives from the connected peer (or anyone, when not connected). */
WEFT_API weft_poll weft_udp_poll_recv(weft_udp_socket *u, weft_cx *cx, void *buf,
				      size_t len, ssize_t *n);
/** The bound address. 0 or -errno. */
WEFT_API int weft_udp_local_addr(const weft_udp_socket *u, weft_addr *out);
/** Closes and frees the socket. NULL is ignored. */
WEFT_API void weft_udp_close(weft_udp_socket *u);

/* ---------------------------------------------------------- Unix streams */

/** A listening Unix stream socket. Close with weft_unix_listener_close. */
typedef struct weft_unix_listener weft_unix_listener;
/** A connected Unix stream socket. Close with weft_unix_close. */
typedef struct weft_unix_stream weft_unix_stream;
typedef weft_connect weft_unix_connect;

/** Creates a Unix stream listener at @path (which must not exist; the
 *  listener does not unlink it on close). 0, -EINVAL, -ENAMETOOLONG,
 *  -ENOMEM or the -errno of socket/bind/listen (-EADDRINUSE). */
WEFT_API int weft_unix_listen(weft_unix_listener **out, const char *path, int backlog);
/** As weft_tcp_poll_accept, for Unix streams (including the EMFILE
 *  handling). */
WEFT_API weft_poll weft_unix_poll_accept(weft_unix_listener *l, weft_cx *cx,
					 weft_unix_stream **out, int *err);
/** Closes and frees the listener. NULL is ignored. */
WEFT_API void weft_unix_listener_close(weft_unix_listener *l);

/** Initialises a connect to the socket at @path (the path is copied; an
 *  overlong one fails with -ENAMETOOLONG at the first poll). */
WEFT_API void weft_unix_connect_init(weft_unix_connect *c, const char *path);
/** As weft_tcp_connect_poll; errors -ENOENT, -ECONNREFUSED, -EAGAIN
 *  (the listener's backlog is full). */
WEFT_API weft_poll weft_unix_connect_poll(weft_unix_connect *c, weft_cx *cx,
					  weft_unix_stream **out);
WEFT_API void weft_unix_connect_drop(weft_unix_connect *c);

/** As the weft_tcp_ functions of the same name. */
WEFT_API weft_poll weft_unix_poll_read(weft_unix_stream *s, weft_cx *cx, void *buf,
				       size_t len, ssize_t *n);
WEFT_API weft_poll weft_unix_poll_write(weft_unix_stream *s, weft_cx *cx,
					const void *buf, size_t len, ssize_t *n);
WEFT_API weft_poll weft_unix_poll_writev(weft_unix_stream *s, weft_cx *cx,
					 const struct iovec *iov, int iovcnt, ssize_t *n);
WEFT_API int weft_unix_shutdown(weft_unix_stream *s, int how);
WEFT_API void weft_unix_close(weft_unix_stream *s);
/** write_all and read_exact on a Unix stream. */
WEFT_API void weft_write_all_init_unix(weft_write_all *w, weft_unix_stream *s,
				       const void *buf, size_t len);
WEFT_API void weft_read_exact_init_unix(weft_read_exact *r, weft_unix_stream *s,
					void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_NET_H */
