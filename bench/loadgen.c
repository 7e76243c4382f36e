/*
 * loadgen.c - weft-loadgen: a closed-loop load generator for the echo
 * and HTTP example servers, in plain C on one epoll thread (it does not
 * use weft, so it measures any server the same way).
 *
 * Each of N connections sends one message (echo: B bytes; http: D
 * pipelined GET requests), waits for the whole answer, records the
 * round-trip time in a log-linear histogram, and sends the next. Only
 * loopback addresses are accepted, and connections and time are bounded.
 *
 * --churn K closes each connection after K messages (echo) or K batches
 * of D requests (http) and opens a new one in its place, so the server
 * accepts, serves and drops connections all the time (bench/soak).
 *
 *	weft-loadgen --mode echo --addr 127.0.0.1:7000 --conns 50 --seconds 10 --size 64
 *	weft-loadgen --mode http --addr 127.0.0.1:8080 --conns 100 --seconds 10 --pipeline 16
 *	weft-loadgen --mode echo --addr 127.0.0.1:7000 --conns 8 --seconds 60 --churn 20
 *
 * Output, one figure per line:
 *	bench=echo impl=weft metric=msgs_per_s value=123456
 *	bench=echo impl=weft metric=p50_us value=41.2   (and p99_us, p999_us)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 20000
#define MAX_SECONDS 600
#define MAX_SIZE (1 << 20)
#define MAX_PIPELINE 1024
#define HTTP_BUF 65536
#define MAX_CHURN 1000000

/* --------------------------------------------------------- histogram */

/* Log-linear: 2^SUB buckets per power of two of nanoseconds, so every
 * bucket is within 1/64 (1.6%) of its values. */
#define SUB 6
#define NBUCKETS (64 << SUB)

static uint64_t hist[NBUCKETS];
static uint64_t hist_count;

static unsigned bucket_of(uint64_t ns)
{
	if (ns < (1u << SUB))
		return (unsigned)ns;
	unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
	unsigned shift = msb - SUB;
	return ((shift + 1) << SUB) + (unsigned)((ns >> shift) & ((1u << SUB) - 1));
}

static uint64_t bucket_low(unsigned b)
{
	if (b < (1u << SUB))
		return b;
	unsigned shift = (b >> SUB) - 1;
	return ((uint64_t)((1u << SUB) | (b & ((1u << SUB) - 1)))) << shift;
}

static void hist_add(uint64_t ns)
{
	hist[bucket_of(ns)]++;
	hist_count++;
}

static double hist_quantile_us(double q)
{
	if (!hist_count)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)hist_count);
	if (rank >= hist_count)
		rank = hist_count - 1;
	uint64_t seen = 0;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		seen += hist[b];
		if (seen > rank) {
			/* The bucket's middle. */
			uint64_t lo = bucket_low(b), hi = bucket_low(b + 1);
			return (double)(lo + (hi - lo) / 2) / 1000.0;
		}
	}
	return 0;
}

/* ------------------------------------------------------------- state */

enum mode { MODE_ECHO, MODE_HTTP };

struct conn {
	int fd;
	bool connected;
	size_t sent;          /* bytes of the current message sent */
	size_t got;           /* echo: bytes of the answer received */
	unsigned answered;    /* http: responses of the current batch */
	size_t buf_len;       /* http: unparsed bytes in buf */
	uint64_t started;     /* ns: when the current message started */
	unsigned long msgs;   /* messages finished on this connection */
	bool reopen;          /* --churn: K messages done, close and reopen */
	char *buf;            /* http: receive buffer */
};

static enum mode mode = MODE_ECHO;
static size_t msg_size = 64;
static unsigned pipeline = 1;
static char *msg;             /* what each connection sends */
static size_t msg_len;
static char *sink;            /* echo: where answers go */
static uint64_t done_msgs, errors;
static unsigned long churn;   /* 0: keep connections; else messages per connection */
static uint64_t reopened;     /* connections closed and replaced (--churn) */
static struct sockaddr_storage peer;
static socklen_t peer_len;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
	fprintf(stderr, "weft-loadgen: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* Accepts only 127.0.0.0/8 and ::1. */
static int parse_loopback(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[128];
	const char *colon = strrchr(text, ':');
	if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -1;
	memset(ss, 0, sizeof *ss);
	if (host[0] == '[') {
		size_t n = strlen(host);
		if (n < 3 || host[n - 1] != ']')
			return -1;
		host[n - 1] = 0;
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1 ||
		    !IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
			return -1;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof *s6;
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	if (inet_pton(AF_INET, host, &s4->sin_addr) != 1 ||
	    (ntohl(s4->sin_addr.s_addr) >> 24) != 127)
		return -1;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof *s4;
	return 0;
}

/* ------------------------------------------------------------ traffic */

static void conn_fail(struct conn *c, int ep)
{
	errors++;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

/* Sends the rest of the current message. false on error. */
static bool conn_send(struct conn *c)
{
	while (c->sent < msg_len) {
		ssize_t n = send(c->fd, msg + c->sent, msg_len - c->sent, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		c->sent += (size_t)n;
	}
	return true;
}

static void conn_start(struct conn *c, uint64_t t)
{
	c->sent = 0;
	c->got = 0;
	c->answered = 0;
	c->started = t;
}

static void message_done(struct conn *c, bool record)
{
	uint64_t t = now_ns();
	if (record) {
		hist_add(t - c->started);
		done_msgs++;
	}
	conn_start(c, t);
	if (churn && ++c->msgs >= churn)
		c->reopen = true;
}

/* HTTP: consumes the complete responses in c->buf; returns how many, or
 * -1 for a response it cannot parse. */
static int http_consume(struct conn *c)
{
	int n = 0;
	size_t off = 0;
	for (;;) {
		char *b = c->buf + off;
		size_t len = c->buf_len - off;
		char *end = memmem(b, len, "\r\n\r\n", 4);
		if (!end)
			break;
		size_t head = (size_t)(end - b) + 4;
		size_t body = 0;
		for (char *p = b; p < end; ) {
			char *le = memchr(p, '\n', (size_t)(end - p) + 2);
			if (!le)
				break;
			if ((size_t)(le - p) > 15 && !strncasecmp(p, "Content-Length:", 15))
				body = strtoul(p + 15, NULL, 10);
			p = le + 1;
		}
		if (strncmp(b, "HTTP/1.1 200", 12) != 0)
			return -1;
		if (head + body > len)
			break;
		off += head + body;
		n++;
	}
	memmove(c->buf, c->buf + off, c->buf_len - off);
	c->buf_len -= off;
	if (c->buf_len == HTTP_BUF)
		return -1;
	return n;
}

/* Reads what is there and finishes messages. false on error or EOF. */
static bool conn_recv(struct conn *c, bool record)
{
	for (;;) {
		ssize_t n;
		if (mode == MODE_ECHO)
			n = recv(c->fd, sink, MAX_SIZE, 0);
		else
			n = recv(c->fd, c->buf + c->buf_len, HTTP_BUF - c->buf_len, 0);
		if (n == 0)
			return false;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
		if (mode == MODE_ECHO) {
			c->got += (size_t)n;
			if (c->got > msg_size)
				return false;   /* more than was sent: not an echo */
			if (c->got == msg_size) {
				message_done(c, record);
				if (c->reopen)
					return true;
				if (!conn_send(c))
					return false;
			}
		} else {
			c->buf_len += (size_t)n;
			int k = http_consume(c);
			if (k < 0)
				return false;
			c->answered += (unsigned)k;
			if (c->answered > pipeline)
				return false;
			if (c->answered == pipeline) {
				message_done(c, record);
				if (c->reopen)
					return true;
				if (!conn_send(c))
					return false;
			}
		}
	}
}

/* Opens c's connection (non-blocking; finished on the first epoll
 * event). false on error, with errno set. */
static bool conn_open(struct conn *c, int ep)
{
	c->connected = false;
	c->reopen = false;
	c->msgs = 0;
	c->buf_len = 0;
	c->fd = socket(peer.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return false;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
	if ((connect(c->fd, (struct sockaddr *)&peer, peer_len) < 0 && errno != EINPROGRESS) ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		errno = e;
		return false;
	}
	return true;
}

/* --churn: a clean close (FIN, nothing in flight) and a new connection
 * in its place. false if the new one cannot be opened (an error). */
static bool conn_reopen(struct conn *c, int ep)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	reopened++;
	if (!conn_open(c, ep)) {
		fprintf(stderr, "weft-loadgen: reconnect: %s\n", strerror(errno));
		errors++;
		return false;
	}
	return true;
}

/* -------------------------------------------------------------- main */

static void usage(void)
{
	fprintf(stderr,
		"usage: weft-loadgen --mode echo|http --addr HOST:PORT [--conns N] [--seconds S]\n"
		"                    [--size B] [--pipeline D] [--warmup S] [--impl NAME] [--path P]\n"
		"                    [--churn K]\n"
		"  HOST must be loopback (127.0.0.0/8 or [::1]); N <= %d, S <= %d.\n"
		"  --churn K: close each connection after K messages (http: K batches of D\n"
		"  requests) and open a new one; the summary counts them as reopened=.\n",
		MAX_CONNS, MAX_SECONDS);
	exit(2);
}

static long num(const char *v, long lo, long hi)
{
	char *end;
	long x = strtol(v, &end, 10);
	if (!*v || *end || x < lo || x > hi)
		usage();
	return x;
}

int main(int argc, char **argv)
{
	const char *addr = NULL, *impl = "weft", *path = "/plaintext";
	long conns = 50, seconds = 10, warmup = 1;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--mode")) {
			if (!strcmp(v, "echo"))
				mode = MODE_ECHO;
			else if (!strcmp(v, "http"))
				mode = MODE_HTTP;
			else
				usage();
		} else if (!strcmp(a, "--addr")) {
			addr = v;
		} else if (!strcmp(a, "--conns")) {
			conns = num(v, 1, MAX_CONNS);
		} else if (!strcmp(a, "--seconds")) {
			seconds = num(v, 1, MAX_SECONDS);
		} else if (!strcmp(a, "--warmup")) {
			warmup = num(v, 0, 60);
		} else if (!strcmp(a, "--size")) {
			msg_size = (size_t)num(v, 1, MAX_SIZE);
		} else if (!strcmp(a, "--pipeline")) {
			pipeline = (unsigned)num(v, 1, MAX_PIPELINE);
		} else if (!strcmp(a, "--churn")) {
			churn = (unsigned long)num(v, 1, MAX_CHURN);
		} else if (!strcmp(a, "--impl")) {
			impl = v;
		} else if (!strcmp(a, "--path")) {
			if (v[0] != '/' || strpbrk(v, " \r\n") || strlen(v) > 200)
				usage();
			path = v;
		} else {
			usage();
		}
	}
	if (!addr || parse_loopback(addr, &peer, &peer_len) < 0) {
		fprintf(stderr, "weft-loadgen: --addr must be a numeric loopback address "
			"(127.0.0.0/8 or [::1]) with a port\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)conns + 64 ? rl.rlim_max : (rlim_t)conns + 64;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* The message. */
	if (mode == MODE_ECHO) {
		msg_len = msg_size;
		msg = malloc(msg_len);
		sink = malloc(MAX_SIZE);
		if (!msg || !sink)
			die("malloc");
		for (size_t i = 0; i < msg_len; i++)
			msg[i] = (char)('a' + i % 26);
	} else {
		char one[512];
		int n = snprintf(one, sizeof one, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr);
		msg_len = (size_t)n * pipeline;
		msg = malloc(msg_len);
		if (!msg)
			die("malloc");
		for (unsigned i = 0; i < pipeline; i++)
			memcpy(msg + (size_t)n * i, one, (size_t)n);
	}

	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct conn *cs = calloc((size_t)conns, sizeof *cs);
	if (!cs)
		die("calloc");
	for (long i = 0; i < conns; i++) {
		struct conn *c = &cs[i];
		if (mode == MODE_HTTP && !(c->buf = malloc(HTTP_BUF)))
			die("malloc");
		if (!conn_open(c, ep))
			die("connect");
	}

	uint64_t t0 = now_ns();
	uint64_t measure_from = t0 + (uint64_t)warmup * 1000000000u;
	uint64_t stop_at = measure_from + (uint64_t)seconds * 1000000000u;
	bool measuring = warmup == 0;
	long live = conns;
	struct epoll_event evs[256];
	while (live > 0) {
		uint64_t t = now_ns();
		if (t >= stop_at)
			break;
		if (!measuring && t >= measure_from) {
			measuring = true;
			memset(hist, 0, sizeof hist);
			hist_count = 0;
			done_msgs = 0;
		}
		int n = epoll_wait(ep, evs, 256, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd < 0)
				continue;
			if (!c->connected) {
				int err = 0;
				socklen_t el = sizeof err;
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || (evs[i].events & (EPOLLERR | EPOLLHUP))) {
					conn_fail(c, ep);
					live--;
					continue;
				}
				c->connected = true;
				conn_start(c, now_ns());
			}
			bool ok = true;
			if (evs[i].events & EPOLLOUT)
				ok = conn_send(c);
			if (ok && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				ok = conn_recv(c, measuring);
			if (!ok) {
				conn_fail(c, ep);
				live--;
			} else if (c->reopen && !conn_reopen(c, ep)) {
				live--;
			}
		}
	}
	uint64_t elapsed = now_ns() - (measuring ? measure_from : t0);
	double secs = (double)elapsed / 1e9;
	const char *bench = mode == MODE_ECHO ? "echo" : "http";
	const char *unit = mode == MODE_ECHO ? "msgs_per_s" : "reqs_per_s";
	double rate = (double)done_msgs * (mode == MODE_HTTP ? pipeline : 1) / secs;
	printf("bench=%s impl=%s metric=%s value=%.0f\n", bench, impl, unit, rate);
	printf("bench=%s impl=%s metric=p50_us value=%.1f\n", bench, impl, hist_quantile_us(0.50));
	printf("bench=%s impl=%s metric=p99_us value=%.1f\n", bench, impl, hist_quantile_us(0.99));
	printf("bench=%s impl=%s metric=p999_us value=%.1f\n", bench, impl, hist_quantile_us(0.999));
	fprintf(stderr, "weft-loadgen: %s conns=%ld seconds=%.2f %s=%llu errors=%llu live=%ld "
		"reopened=%llu\n",
		bench, conns, secs, mode == MODE_ECHO ? "messages" : "batches",
		(unsigned long long)done_msgs, (unsigned long long)errors, live,
		(unsigned long long)reopened);
	for (long i = 0; i < conns; i++) {
		if (cs[i].fd >= 0)
			close(cs[i].fd);
		free(cs[i].buf);
	}
	free(cs);
	free(msg);
	free(sink);
	close(ep);
	return errors && !done_msgs ? 1 : 0;
}
