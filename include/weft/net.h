/*
 * weft/net.h - addresses, name resolution, TCP, UDP and Unix stream
 * sockets.
 *
 * Three socket types: weft_stream (a connected TCP or Unix stream, or
 * one half of a split one), weft_listener (TCP or Unix) and
 * weft_udp_socket. They are opaque heap objects: a constructor
 * (weft_tcp_listen, weft_unix_listen, weft_udp_bind, an accept, a
 * connect) gives the caller ownership, and the type's _close releases it. Every socket is non-blocking and
 * close-on-exec. A socket joins the reactor of the runtime that first
 * polls it (the first poll registers it; creating one registers nothing;
 * a registration the I/O backend refuses is that poll's -errno, or, on
 * kqueue, which applies registrations in its next wait, the -errno of the
 * first operation that would otherwise wait) and must then only be
 * polled by tasks of that runtime; polling it from
 * another runtime gives -EXDEV, and polling it with no runtime in the
 * context (cx->runtime == NULL) gives -EINVAL. A socket keeps its
 * runtime's reactor alive until it is closed, so it may be closed after
 * weft_runtime_close.
 *
 * Operations come in two shapes, following core.h's result convention.
 * Stateless ones are poll functions on the socket
 * (weft_stream_poll_read): READY with the outcome in the last parameter,
 * `res` (bytes >= 0, or -errno), any other output just before it; or
 * PENDING with the task's waker stored in the socket, one reader and one
 * writer at a time. Stateful ones (resolve, listen by name, connect,
 * write_all, read_exact) are small futures the caller embeds in its own
 * struct: init does nothing but fill in fields, the first poll starts
 * the work, a zero-filled one is valid, and drop is idempotent. Their
 * outcome is the `result` field and what they produce sits in named
 * output fields; everything else is in `priv` (private: do not touch).
 * Each has a typed poll function (f, cx) for WEFT_AWAIT and a
 * weft_future first member, so it can be a child of join, select or
 * weft_timeout (its output then stays in its fields, readable after the
 * combinator drops it).
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
 * another writes (or sends). weft_stream_split makes that ownership
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
	socklen_t len;   /**< meaningful bytes of u; 0 = no address */
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

/** The port of an IPv4/IPv6 address in host order, or -EAFNOSUPPORT
 *  (NULL, empty or a Unix address). Any thread. */
WEFT_API int weft_addr_port(const weft_addr *a);

/* ----------------------------------------------------------- resolution */

/** Most addresses a resolution keeps. */
#define WEFT_RESOLVE_MAX 4

struct weft__resolve_job;

/**
 * Resolves "host:port" ("localhost:80", "[::1]:0", "example.org:443")
 * to up to WEFT_RESOLVE_MAX stream addresses. Numeric addresses are
 * parsed in the first poll; names are looked up with getaddrinfo on the
 * runtime's DNS pool (a blocking pool of its own), so the lookup never
 * blocks a worker. Output: result (0 or -errno) and addrs[0..count).
 * Errors: -EINVAL (bad text, or no runtime in the context), -ENOENT
 * (unknown name or no address), -EAGAIN (temporary lookup failure),
 * -ENOMEM, -EIO (other lookup failure), -ECANCELED (the runtime shut
 * down first). Dropping it mid-lookup abandons the lookup (the pool
 * finishes it and frees it).
 */
typedef struct weft_resolve {
	weft_future fut;              /**< type-erased view, for join/select/spawn */
	int result;                       /**< output: 0 or -errno */
	size_t count;                     /**< output: addresses in addrs */
	weft_addr addrs[WEFT_RESOLVE_MAX];/**< output: in getaddrinfo's order */
	struct {
		const char *name;               /* borrowed until ready or dropped */
		struct weft__resolve_job *job;  /* lookup in flight */
		bool done;
	} priv;                           /**< private: do not touch */
} weft_resolve;

/** Initialises a resolution of @name (borrowed; it must outlive the
 *  future). Fills in fields only. Any thread. */
WEFT_API void weft_resolve_init(weft_resolve *r, const char *name);
/** Polls it: READY with r->result and r->addrs set. A task of the
 *  runtime whose pool looks the name up. */
WEFT_API weft_poll weft_resolve_poll(weft_resolve *r, weft_cx *cx);
/** Abandons a lookup in flight; keeps the output fields. Idempotent. */
WEFT_API void weft_resolve_drop(weft_resolve *r);

/* -------------------------------------------------------------- streams */

/**
 * A connected stream socket, TCP or Unix, or one half of a split one.
 * Owned by the caller; release it with weft_stream_close. Made by
 * weft_listener_poll_accept, by a connect (weft_connect) and by
 * weft_stream_split.
 */
typedef struct weft_stream weft_stream;

/**
 * Reads up to @len bytes: READY with *@res = bytes read (> 0), 0 at end
 * of stream (or for @len == 0), or -errno (-ECONNRESET; -EBADF for NULL
 * or a write half; -EINVAL/-EXDEV for a bad context). A read that
 * returns fewer bytes than asked marks the stream not readable without
 * a second syscall; the next read waits for the next edge. One reading
 * task at a time; any thread.
 */
WEFT_API weft_poll weft_stream_poll_read(weft_stream *s, weft_cx *cx, void *buf,
					 size_t len, ssize_t *res);

/**
 * Writes up to @len bytes: READY with *@res = bytes written (> 0, 0 for
 * @len == 0) or -errno (-EPIPE, -ECONNRESET; -EBADF for NULL or a read
 * half). Never raises SIGPIPE. One writing task at a time; any thread.
 */
WEFT_API weft_poll weft_stream_poll_write(weft_stream *s, weft_cx *cx, const void *buf,
					  size_t len, ssize_t *res);

/**
 * Gathering write of @iovcnt buffers (0..IOV_MAX; -EINVAL otherwise, or
 * when their total overflows ssize_t), as weft_stream_poll_write: READY
 * with *@res = bytes written or -errno. The iovec array is read during
 * the call only. One writing task at a time; any thread.
 */
WEFT_API weft_poll weft_stream_poll_writev(weft_stream *s, weft_cx *cx,
					   const struct iovec *iov, int iovcnt, ssize_t *res);

/**
 * shutdown(2): SHUT_WR sends FIN (the peer reads EOF, this side may
 * still read), SHUT_RD, SHUT_RDWR. On a half only its own direction may
 * be shut (SHUT_RD on a read half, SHUT_WR on a write half; else
 * -EBADF). 0 or -errno (-EINVAL for a bad @how, -ENOTCONN, -EBADF for
 * NULL). Any thread; not racing close.
 */
WEFT_API int weft_stream_shutdown(weft_stream *s, int how);

/**
 * Splits @s into a read half and a write half that two tasks may use at
 * once, possibly on different threads. Each half is a weft_stream
 * limited to one direction: writing to the read half or reading from
 * the write half is READY with -EBADF (as write(2) on a read-only fd).
 * No syscall, no allocation. @s is consumed: use and close the halves
 * instead; closing the write half shuts the write direction down (the
 * peer reads EOF), and the socket is closed when both are. 0, or
 * -EINVAL (NULL argument, or @s is itself a half). Not racing other
 * calls on @s.
 */
WEFT_API int weft_stream_split(weft_stream *s, weft_stream **rd, weft_stream **wr);

/** The peer's address (a TCP peer's IP and port; a Unix peer's path,
 *  often unnamed). 0 or -errno (-ENOTCONN, -EBADF for NULL, -EINVAL for
 *  a NULL @out). Any thread. */
WEFT_API int weft_stream_peer_addr(const weft_stream *s, weft_addr *out);

/** The local address of the stream. 0 or -errno (-EBADF for NULL,
 *  -EINVAL for a NULL @out). Any thread. */
WEFT_API int weft_stream_local_addr(const weft_stream *s, weft_addr *out);

/**
 * Closes a stream or a half: a whole stream leaves the reactor (dropping
 * stored wakers), closes the fd and is freed; a write half first shuts
 * the write direction down; the socket of a split stream is closed with
 * its last half. Unsent data is still sent by the kernel. NULL is
 * ignored. Must not race with another call on @s.
 */
WEFT_API void weft_stream_close(weft_stream *s);

/** TCP_NODELAY on or off. 0 or -errno; -EOPNOTSUPP on a Unix stream,
 *  -EBADF for NULL. Any thread. */
WEFT_API int weft_tcp_set_nodelay(weft_stream *s, bool on);

/** SO_KEEPALIVE on or off; with @idle_s > 0 also TCP_KEEPIDLE (seconds
 *  idle before the first probe). 0 or -errno; -EOPNOTSUPP on a Unix
 *  stream, -EBADF for NULL. Any thread. */
WEFT_API int weft_tcp_set_keepalive(weft_stream *s, bool on, int idle_s);

/* ------------------------------------------------------------ listeners */

/** A listening socket, TCP or Unix. Owned by the caller; release it with
 *  weft_listener_close. */
typedef struct weft_listener weft_listener;

/** TCP listener options; zero-filled means the defaults. */
typedef struct weft_tcp_listen_options {
	int backlog;       /**< listen backlog; <= 0: SOMAXCONN */
	bool reuseport;    /**< SO_REUSEPORT: several listeners share the port */
	bool v6only;       /**< IPV6_V6ONLY on an IPv6 listener */
} weft_tcp_listen_options;

/**
 * Creates a TCP listener bound to the numeric address @addr
 * ("127.0.0.1:0" for an ephemeral port, "[::1]:8080") with SO_REUSEADDR,
 * listening with @backlog (<= 0: SOMAXCONN). Synchronous: no name
 * lookup (a host name such as "localhost:80" is -EINVAL here; listen on
 * one with the weft_listen future). Keeps one spare fd to survive EMFILE
 * on accept (see weft_listener_poll_accept). Stores it in *@out.
 * Errors: -EINVAL (bad address, NULL), -ENOMEM, or the -errno of
 * socket/bind/listen (-EADDRINUSE...). Any thread; no runtime needed.
 */
WEFT_API int weft_tcp_listen(weft_listener **out, const char *addr, int backlog);

/** weft_tcp_listen with a parsed IPv4/IPv6 address (-EINVAL for another
 *  family) and options (NULL: defaults). Any thread; no runtime needed. */
WEFT_API int weft_tcp_listen_addr(weft_listener **out, const weft_addr *addr,
				  const weft_tcp_listen_options *opts);

/**
 * Creates a Unix stream listener at @path (which must not exist; the
 * listener does not unlink it on close), listening with @backlog (<= 0:
 * SOMAXCONN), with the same spare fd as a TCP listener. Errors:
 * -EINVAL, -ENAMETOOLONG, -ENOMEM or the -errno of socket/bind/listen
 * (-EADDRINUSE). Any thread; no runtime needed.
 */
WEFT_API int weft_unix_listen(weft_listener **out, const char *path, int backlog);

/**
 * Accepts a connection: READY with *@out set to a new stream of the
 * listener's kind (TCP or Unix) that the caller owns and *@res = 0, or
 * *@out = NULL and *@res a negative errno (-ENOMEM, -ECONNABORTED,
 * -EMFILE, -ENFILE, -EBADF for NULL, -EINVAL/-EXDEV for a bad context).
 * On EMFILE/ENFILE the listener closes its spare fd, accepts and closes
 * the connections waiting in the backlog (their clients see the
 * connection closed), reopens the spare and reports the error once; the
 * next poll waits for a new connection instead of spinning, and
 * accepting works again as soon as fds are free. One accepting task at
 * a time; any thread.
 */
WEFT_API weft_poll weft_listener_poll_accept(weft_listener *l, weft_cx *cx,
					     weft_stream **out, int *res);

/** The address the listener is bound to (the real port after port 0; the
 *  path of a Unix listener). 0 or -errno (-EBADF for NULL). Any thread. */
WEFT_API int weft_listener_local_addr(const weft_listener *l, weft_addr *out);

/** Closes the listener: leaves the reactor, closes its fds, frees it, and
 *  drops the accepting task's stored waker. NULL is ignored. Must not
 *  race with another call on @l. */
WEFT_API void weft_listener_close(weft_listener *l);

/**
 * Listening on a host name: resolves @addr ("localhost:6390", or a
 * numeric one, which needs no lookup) on the DNS pool, then binds a TCP
 * listener to the first resolved address that accepts it. Output:
 * result (0 or -errno: the resolution's errors, or the last bind's) and,
 * on success, `listener`, which the caller owns from READY on (no drop
 * closes it). A numeric address that needs no future is
 * weft_tcp_listen's synchronous fast path.
 */
typedef struct weft_listen {
	weft_future fut;              /**< type-erased view, for join/select/spawn */
	int result;                   /**< output: 0 or -errno */
	weft_listener *listener;      /**< output once result == 0 */
	struct {
		weft_resolve resolve;
		weft_tcp_listen_options opts;
		bool started;
		bool done;
	} priv;                       /**< private: do not touch */
} weft_listen;

/** Initialises a listen on @addr (borrowed until ready or dropped) with
 *  @opts (copied; NULL: defaults). Fills in fields only. Any thread. */
WEFT_API void weft_tcp_listen_init(weft_listen *l, const char *addr,
				   const weft_tcp_listen_options *opts);
/** Polls it: READY with l->result and, on success, l->listener set. A
 *  task of a runtime (the lookup runs on its DNS pool). */
WEFT_API weft_poll weft_listen_poll(weft_listen *l, weft_cx *cx);
/** Cancels a lookup in flight. Like every drop (core.h), it releases
 *  what the future holds, not its outputs: a listener in l->listener
 *  belongs to the caller from READY on, and the caller closes it.
 *  Idempotent; zero-filled is fine. Any thread. */
WEFT_API void weft_listen_drop(weft_listen *l);

/* -------------------------------------------------------------- connect */

/**
 * A connect in progress: TCP (weft_tcp_connect_init*) or Unix
 * (weft_unix_connect_init). Output: result (0 or -errno) and, on
 * success, `stream`, which the caller owns from READY on and closes (no
 * drop closes it). Errors: -ECONNREFUSED, -ETIMEDOUT, -ENETUNREACH,
 * -EHOSTUNREACH, resolution errors (weft_resolve), -EINVAL, -ENOMEM;
 * for Unix also -ENOENT and -EAGAIN (the listener's backlog is full).
 * With several resolved addresses each is tried in order and the last
 * error is reported.
 *
 * A timeout is a weft_timeout around it (time.h): initialise
 * weft_timeout_init(&t, &c.fut, WEFT_SEC(2)) and await
 * weft_timeout_poll(&t, cx); result -ETIMEDOUT means the time ran out
 * and the connect was dropped (its half-open socket closed), and 0
 * means the connect finished: read c.result and take c.stream.
 */
typedef struct weft_connect {
	weft_future fut;              /**< type-erased view, for join/select/spawn */
	int result;              /**< output: 0 or -errno */
	weft_stream *stream;     /**< output once result == 0 */
	struct {
		const char *name;        /* borrowed; NULL when addr is given */
		weft_addr addr;
		weft_resolve resolve;
		void *sock;              /* in progress; closed by drop */
		unsigned state;
		unsigned next;           /* next resolved address to try */
		int kind;                /* TCP or Unix */
	} priv;                  /**< private: do not touch */
} weft_connect;

/** Initialises a TCP connect to @addr ("127.0.0.1:80" or "localhost:80",
 *  names resolved on the DNS pool; borrowed until the future is ready or
 *  dropped). Fills in fields only. Any thread. */
WEFT_API void weft_tcp_connect_init(weft_connect *c, const char *addr);
/** Initialises a TCP connect to a parsed IPv4/IPv6 address (copied; another
 *  family makes the first poll report -EINVAL). Any thread. */
WEFT_API void weft_tcp_connect_init_addr(weft_connect *c, const weft_addr *addr);
/** Initialises a connect to the Unix stream socket at @path (the path is
 *  copied; an overlong one fails with -ENAMETOOLONG at the first poll).
 *  Any thread. */
WEFT_API void weft_unix_connect_init(weft_connect *c, const char *path);
/** Polls it: READY with c->result set and, on success, c->stream. A task
 *  of a runtime (the socket joins its reactor). */
WEFT_API weft_poll weft_connect_poll(weft_connect *c, weft_cx *cx);
/** Cancels a connect in progress (closes its half-open socket). Like
 *  every drop (core.h), it releases what the future holds, not its
 *  outputs: a stream in c->stream belongs to the caller from READY on,
 *  and the caller closes it. Idempotent; zero-filled is fine. Any
 *  thread. */
WEFT_API void weft_connect_drop(weft_connect *c);

/* ------------------------------------------------- write_all, read_exact */

/**
 * write_all: writes all @len bytes to a stream (or write half), as many
 * writes as it takes. Output: result = @len, or -errno from the first
 * failed write; `done` says how much went out. The buffer is borrowed
 * until ready or dropped. Drop holds nothing (idempotent); dropping
 * mid-way leaves a prefix written. A zero-filled one is ready at once
 * with result 0.
 */
typedef struct weft_write_all {
	weft_future fut;              /**< type-erased view, for join/select/spawn */
	ssize_t result;          /**< output: @len or -errno */
	size_t done;             /**< output: bytes written so far */
	struct {
		weft_stream *stream;
		const unsigned char *buf;
		size_t len;
	} priv;                  /**< private: do not touch */
} weft_write_all;

/** Initialises a write_all of @buf[0..@len) to @s (borrowed, as @buf).
 *  Fills in fields only. Any thread. */
WEFT_API void weft_write_all_init(weft_write_all *w, weft_stream *s, const void *buf,
				  size_t len);
/** Polls it: READY with w->result set. The stream's writing task. */
WEFT_API weft_poll weft_write_all_poll(weft_write_all *w, weft_cx *cx);
/** Forgets the stream (holds nothing else); a later poll is -EINVAL.
 *  Idempotent. */
WEFT_API void weft_write_all_drop(weft_write_all *w);

/**
 * read_exact: reads exactly @len bytes from a stream (or read half).
 * Output: result = @len, -EPIPE if the stream ended first (`done` bytes
 * did arrive), or the read's -errno. The buffer is borrowed until ready
 * or dropped. Drop holds nothing (idempotent). A zero-filled one is
 * ready at once with result 0.
 */
typedef struct weft_read_exact {
	weft_future fut;              /**< type-erased view, for join/select/spawn */
	ssize_t result;          /**< output: @len or -errno */
	size_t done;             /**< output: bytes read so far */
	struct {
		weft_stream *stream;
		unsigned char *buf;
		size_t len;
	} priv;                  /**< private: do not touch */
} weft_read_exact;

/** Initialises a read_exact of @len bytes from @s into @buf (both
 *  borrowed). Fills in fields only. Any thread. */
WEFT_API void weft_read_exact_init(weft_read_exact *r, weft_stream *s, void *buf,
				   size_t len);
/** Polls it: READY with r->result set. The stream's reading task. */
WEFT_API weft_poll weft_read_exact_poll(weft_read_exact *r, weft_cx *cx);
/** Forgets the stream (holds nothing else); a later poll is -EINVAL.
 *  Idempotent. */
WEFT_API void weft_read_exact_drop(weft_read_exact *r);

/* ------------------------------------------------------------------ UDP */

/** A UDP socket. Owned by the caller; release it with weft_udp_close. */
typedef struct weft_udp_socket weft_udp_socket;

/** Creates a UDP socket bound to the numeric @addr ("127.0.0.1:0") in
 *  *@out. 0, -EINVAL, -ENOMEM or the -errno of socket/bind. Any thread;
 *  no runtime needed. */
WEFT_API int weft_udp_bind(weft_udp_socket **out, const char *addr);

/** weft_udp_bind with a parsed IPv4/IPv6 address. Any thread. */
WEFT_API int weft_udp_bind_addr(weft_udp_socket **out, const weft_addr *addr);

/** Sets the default peer (connect(2) on a datagram socket: no I/O, and
 *  datagrams from other addresses are then filtered out). 0 or -errno
 *  (-EBADF for NULL, -EINVAL for no address). Any thread. */
WEFT_API int weft_udp_connect(weft_udp_socket *u, const weft_addr *peer);

/** Sends one datagram to @to: READY with *@res = bytes sent or -errno
 *  (-EMSGSIZE, -EINVAL for no address, -EBADF for NULL). One sending
 *  task at a time; any thread. */
WEFT_API weft_poll weft_udp_poll_send_to(weft_udp_socket *u, weft_cx *cx,
					 const void *buf, size_t len,
					 const weft_addr *to, ssize_t *res);

/** Receives one datagram: READY with its sender in *@from (may be NULL)
 *  and *@res = its length (truncated to @len) or -errno. One receiving
 *  task at a time; any thread. */
WEFT_API weft_poll weft_udp_poll_recv_from(weft_udp_socket *u, weft_cx *cx, void *buf,
					   size_t len, weft_addr *from, ssize_t *res);

/** Sends one datagram to the connected peer: READY with *@res = bytes
 *  sent or -errno (-EDESTADDRREQ without a peer). One sending task at a
 *  time; any thread. */
WEFT_API weft_poll weft_udp_poll_send(weft_udp_socket *u, weft_cx *cx,
				      const void *buf, size_t len, ssize_t *res);

/** Receives one datagram from the connected peer (or anyone, when not
 *  connected): READY with *@res = its length or -errno. One receiving
 *  task at a time; any thread. */
WEFT_API weft_poll weft_udp_poll_recv(weft_udp_socket *u, weft_cx *cx, void *buf,
				      size_t len, ssize_t *res);

/** The bound address. 0 or -errno (-EBADF for NULL). Any thread. */
WEFT_API int weft_udp_local_addr(const weft_udp_socket *u, weft_addr *out);

/** Closes the socket: leaves the reactor, closes the fd, frees it. NULL
 *  is ignored. Must not race with another call on @u. */
WEFT_API void weft_udp_close(weft_udp_socket *u);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_NET_H */
