/*
 * bare.c - the floor of the server benchmarks: a single-thread,
 * level-triggered epoll loop with no runtime at all, serving either echo
 * or HTTP/1.1 plaintext.
 *
 *   bare-echo --addr 127.0.0.1:PORT [--workers N]
 *   bare-http --addr 127.0.0.1:PORT [--workers N]
 *
 * bench/peers/bare/build compiles this file twice (BARE_HTTP=0 and 1).
 * --workers is accepted so every peer has the same command shape, and is
 * ignored: this server is one thread by design.
 *
 * Each connection owns an input buffer and an output buffer. A readable
 * socket is read once; echo copies the bytes to the output, HTTP appends
 * one response per complete request head (so pipelined requests are
 * answered in one write). The output is written at once; what the socket
 * does not take waits for EPOLLOUT, and reading stops until it is drained
 * (back-pressure instead of unbounded buffering).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef BARE_HTTP
#define BARE_HTTP 0
#endif

#define IN_CAP 16384
#define MAX_EVENTS 256

typedef struct conn {
	int fd;
	size_t in_len;
	char *out;
	size_t out_off, out_len, out_cap;
	bool writing;                   /* EPOLLOUT armed, EPOLLIN off */
	char in[IN_CAP];
} conn;

static int epfd;

/* ---------------------------------------------------------- HTTP */

static char response[256];              /* the whole answer, Date included */
static size_t response_len;
static time_t response_at;

/* Rebuilds the response when the second changes (Date has 1 s grain). */
static void response_refresh(void)
{
	time_t now = time(NULL);
	if (now == response_at)
		return;
	response_at = now;
	struct tm tm;
	char date[48];
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	response_len = (size_t)snprintf(response, sizeof response,
		"HTTP/1.1 200 OK\r\n"
		"Server: bare\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 13\r\n"
		"Date: %s\r\n"
		"\r\n"
		"Hello, World!", date);
}

static int out_reserve(conn *c, size_t more)
{
	if (c->out_len + more <= c->out_cap)
		return 0;
	size_t cap = c->out_cap ? c->out_cap : 4096;
	while (cap < c->out_len + more)
		cap *= 2;
	char *p = realloc(c->out, cap);
	if (!p)
		return -ENOMEM;
	c->out = p;
	c->out_cap = cap;
	return 0;
}

static int out_append(conn *c, const void *p, size_t n)
{
	int rc = out_reserve(c, n);
	if (rc < 0)
		return rc;
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	return 0;
}

/* Answers every complete request head in the input; keeps the rest. */
__attribute__((unused)) static int http_process(conn *c)
{
	size_t off = 0;
	for (;;) {
		char *start = c->in + off;
		char *end = memmem(start, c->in_len - off, "\r\n\r\n", 4);
		if (!end)
			break;
		int rc = out_append(c, response, response_len);
		if (rc < 0)
			return rc;
		off = (size_t)(end + 4 - c->in);
	}
	if (off == 0 && c->in_len == IN_CAP)
		return -E2BIG;          /* a request head larger than the buffer */
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	return 0;
}

/* ---------------------------------------------------- connections */

static void conn_close(conn *c)
{
	close(c->fd);                   /* also removes it from the epoll set */
	free(c->out);
	free(c);
}

static int conn_arm(conn *c, bool writing)
{
	if (c->writing == writing)
		return 0;
	struct epoll_event ev = {
		.events = writing ? EPOLLOUT : EPOLLIN,
		.data.ptr = c,
	};
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -errno;
	c->writing = writing;
	return 0;
}

/* Writes what is pending; arms EPOLLOUT if the socket is full. */
static int conn_flush(conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return conn_arm(c, true);
			return -errno;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return conn_arm(c, false);
}

static int conn_readable(conn *c)
{
	ssize_t n = read(c->fd, c->in + c->in_len, IN_CAP - c->in_len);
	if (n == 0)
		return -ECONNRESET;
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	c->in_len += (size_t)n;
#if BARE_HTTP
	int rc = http_process(c);
#else
	int rc = out_append(c, c->in, c->in_len);
	c->in_len = 0;
#endif
	if (rc < 0)
		return rc;
	return conn_flush(c);
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;         /* EAGAIN, or EMFILE: the next event retries */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
			conn_close(c);
	}
}

/* ------------------------------------------------------------ main */

static int listen_on(const char *addr)
{
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof host)
		return -EINVAL;
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)atoi(colon + 1)) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return -EINVAL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(fd, 4096) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:8080";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--addr") && i + 1 < argc)
			addr = argv[++i];
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			i++;            /* one thread, always */
		else {
			fprintf(stderr, "usage: %s --addr HOST:PORT [--workers N]\n",
				argv[0]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	int lfd = listen_on(addr);
	if (lfd < 0) {
		fprintf(stderr, "listen %s: %s\n", addr, strerror(-lfd));
		return 1;
	}
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) {
		perror("epoll");
		return 1;
	}
	response_refresh();
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, 1000);
		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			return 1;
		}
		response_refresh();
		for (int i = 0; i < n; i++) {
			conn *c = evs[i].data.ptr;
			if (!c) {
				accept_all(lfd);
				continue;
			}
			/* EPOLLERR/EPOLLHUP: the read or send sees the error. */
			int rc = c->writing ? conn_flush(c) : conn_readable(c);
			if (rc < 0)
				conn_close(c);
		}
	}
}
