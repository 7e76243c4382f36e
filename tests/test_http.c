/*
 * test_http.c - the weft-http example's protocol and connection task,
 * served in-process on 127.0.0.1:0 by a multi-thread runtime while this
 * thread plays a blocking client: pipelined requests are answered in
 * order, keep-alive serves several requests, a malformed request gets
 * 400 and an oversized header section 431, each followed by a close.
 * Plus http_process on its own for the protocol's corners. Every client
 * read has a 5 s timeout.
 */
#include "helpers.h"

/* The example's sources, compiled into this test (see tests/meson.build
 * for why not a library): the protocol, the task, the accept loop. */
#include "http_proto.h"
#include "serve.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/time.h>

typedef struct {
	weft_runtime *rt;
	weft_listener *lis;
	weft_join_handle *acceptor;
	int port;
} server;

static int server_setup(void **state)
{
	server *s = calloc(1, sizeof *s);
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = 2 };
	assert_int_equal(weft_runtime_new(&s->rt, &cfg), 0);
	assert_int_equal(weft_tcp_listen(&s->lis, "127.0.0.1:0", 64), 0);
	weft_addr a;
	assert_int_equal(weft_listener_local_addr(s->lis, &a), 0);
	s->port = weft_addr_port(&a);
	serve_accept acc;
	serve_accept_init(&acc, s->lis, http_spawn_conn);
	assert_int_equal(weft_spawn(s->rt, &acc.fut, sizeof acc, &s->acceptor), 0);
	*state = s;
	return 0;
}

static int server_teardown(void **state)
{
	server *s = *state;
	weft_join_handle_abort(s->acceptor);
	weft_join_handle_close(s->acceptor);
	weft_runtime_close(s->rt);        /* drops open connections */
	weft_listener_close(s->lis);
	free(s);
	return 0;
}

static int client(const server *s)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct timeval tv = { .tv_sec = 5 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)s->port) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		assert_true(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

/* Reads until EOF (returns true) or until @want bytes arrived, or
 * times out (fails). NUL-terminates. */
static bool read_until(int fd, char *buf, size_t cap, size_t want, size_t *got)
{
	*got = 0;
	while (*got < cap - 1 && (want == 0 || *got < want)) {
		ssize_t r = recv(fd, buf + *got, cap - 1 - *got, 0);
		if (r == 0) {
			buf[*got] = 0;
			return true;
		}
		assert_true(r > 0);   /* < 0: timeout or reset */
		*got += (size_t)r;
	}
	buf[*got] = 0;
	return false;
}

/* The server's end of the client connection @fd: the socket of this
 * process whose local address is @fd's peer and whose peer is @fd's
 * local address (the server runs in-process). Waits (bounded) for the
 * accept; -1 if none. The server's fds are looked at through syscall(2),
 * not the libc wrappers: ThreadSanitizer models fds and would report
 * these reads of a socket a worker accepted, which nothing orders for it
 * (the kernel does). */
static int server_end(int fd)
{
	struct sockaddr_in me, peer;
	socklen_t len = sizeof me;
	assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &len), 0);
	len = sizeof peer;
	assert_int_equal(getpeername(fd, (struct sockaddr *)&peer, &len), 0);
	uint64_t until = test_now_us() + 5000000;
	do {
		DIR *d = opendir("/proc/self/fd");
		assert_non_null(d);
		int found = -1;
		struct dirent *e;
		while (found < 0 && (e = readdir(d))) {
			int cand = atoi(e->d_name);
			if (e->d_name[0] == '.' || cand == fd || cand == dirfd(d))
				continue;
			struct sockaddr_in a, b;
			socklen_t la = sizeof a, lb = sizeof b;
			/* Not a socket: ENOTSOCK. */
			if (syscall(SYS_getsockname, cand, (struct sockaddr *)&a, &la) == 0 &&
			    syscall(SYS_getpeername, cand, (struct sockaddr *)&b, &lb) == 0 &&
			    la == sizeof a && lb == sizeof b && a.sin_family == AF_INET &&
			    a.sin_port == peer.sin_port && a.sin_addr.s_addr == peer.sin_addr.s_addr &&
			    b.sin_port == me.sin_port && b.sin_addr.s_addr == me.sin_addr.s_addr)
				found = cand;
		}
		closedir(d);
		if (found >= 0)
			return found;
		usleep(100);
	} while (test_now_us() < until);
	return -1;
}

/* Until the server has read everything the client sent on @fd (bounded):
 * nothing unacknowledged on the client (SIOCOUTQ: the bytes are in the
 * server's receive queue), then nothing unread there (FIONREAD on the
 * server's end @sfd). */
static bool server_has_read(int fd, int sfd)
{
	uint64_t until = test_now_us() + 5000000;
	for (;;) {
		int unacked = -1, unread = -1;
		if (ioctl(fd, SIOCOUTQ, &unacked) == 0 && unacked == 0 &&
		    syscall(SYS_ioctl, sfd, FIONREAD, &unread) == 0 && unread == 0)
			return true;
		if (test_now_us() >= until)
			return false;
		usleep(100);
	}
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

#define REQ(target, extra) "GET " target " HTTP/1.1\r\nHost: t\r\n" extra "\r\n"

/* ------------------------------------------------------------ served */

static void three_pipelined_requests_in_one_write_get_three_responses_in_order(void **state)
{
	server *s = *state;
	int fd = client(s);
	const char req[] = REQ("/plaintext", "")
			   REQ("/missing", "")
			   "HEAD /plaintext HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	send_all(fd, req, sizeof req - 1);
	char buf[4096];
	size_t got;
	assert_true(read_until(fd, buf, sizeof buf, 0, &got));   /* closed after the third */
	const char *a = strstr(buf, "HTTP/1.1 200 OK\r\n");
	const char *b = strstr(buf, "HTTP/1.1 404 Not Found\r\n");
	const char *c = a ? strstr(a + 1, "HTTP/1.1 200 OK\r\n") : NULL;
	assert_true(a == buf && b && c && a < b && b < c);
	assert_int_equal(count(buf, "HTTP/1.1 "), 3);
	assert_int_equal(count(buf, "Hello, World!"), 1);        /* HEAD has no body */
	assert_non_null(strstr(c, "Connection: close\r\n"));
	assert_non_null(strstr(buf, "Content-Type: text/plain\r\n"));
	assert_non_null(strstr(buf, "Content-Length: 13\r\n"));
	close(fd);
}

static void keep_alive_serves_several_requests_on_one_connection(void **state)
{
	server *s = *state;
	int fd = client(s);
	char buf[4096];
	size_t got, first = 0;
	for (int i = 0; i < 5; i++) {
		const char req[] = REQ("/plaintext", "");
		send_all(fd, req, sizeof req - 1);
		/* Every 200 response has the same length (the Date is fixed-width). */
		assert_false(read_until(fd, buf, sizeof buf, first ? first : 1, &got));
		if (!first) {
			/* Complete the first response: header + 13-byte body. */
			while (!strstr(buf, "Hello, World!")) {
				size_t more;
				assert_false(read_until(fd, buf + got, sizeof buf - got, 1, &more));
				got += more;
			}
			first = got;
		}
		assert_int_equal(got, first);
		assert_true(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
		assert_non_null(strstr(buf, "\r\n\r\nHello, World!"));
		const char *d = strstr(buf, "\r\nDate: ");
		assert_non_null(d);
		assert_true(strncmp(d + 8 + HTTP_DATE_LEN, "\r\n", 2) == 0);
		assert_non_null(strstr(d, " GMT\r\n"));
	}
	close(fd);
}

static void malformed_request_gets_400_and_the_connection_closes(void **state)
{
	server *s = *state;
	const char *bad[] = {
		"NOT A REQUEST\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\nNo colon here\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: t\r\n folded: header\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",                               /* no Host */
		"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: t\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int fd = client(s);
		/* A good request first: it is answered before the bad one. */
		const char good[] = REQ("/", "");
		send_all(fd, good, sizeof good - 1);
		send_all(fd, bad[i], strlen(bad[i]));
		char buf[4096];
		size_t got;
		assert_true(read_until(fd, buf, sizeof buf, 0, &got));
		assert_true(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
		const char *e = strstr(buf, "HTTP/1.1 400 Bad Request\r\n");
		assert_non_null(e);
		assert_non_null(strstr(e, "Connection: close\r\n"));
		close(fd);
	}
}

static void expect_100_continue_gets_100_then_the_answer_once_the_body_came(void **state)
{
	server *s = *state;
	int fd = client(s);
	const char head[] = "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n"
			    "Content-Length: 5\r\nConnection: close\r\n\r\n";
	send_all(fd, head, sizeof head - 1);
	char buf[4096];
	size_t got;
	const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	assert_false(read_until(fd, buf, sizeof buf, sizeof cont - 1, &got));
	assert_string_equal(buf, cont);   /* nothing else before the body */
	send_all(fd, "hello", 5);
	assert_true(read_until(fd, buf, sizeof buf, 0, &got));
	assert_true(strncmp(buf, "HTTP/1.1 405 ", 13) == 0);
	assert_int_equal(count(buf, "HTTP/1.1 "), 1);
	close(fd);
}

static void chunked_body_sent_in_pieces_is_skipped_and_the_next_request_served(void **state)
{
	server *s = *state;
	int fd = client(s);
	const char *pieces[] = {
		"POST /plaintext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
		"5;ext=\"a b\"\r\nhel", "lo\r\n1", "0\r\n0123456789abcdef\r\n", "0\r\nX-T: v\r\n",
		"\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
	};
	/* One read each: the next piece goes once the server has read the
	 * last (no Nagle delay meanwhile). */
	int one = 1;
	assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
	int sfd = server_end(fd);
	assert_true(sfd >= 0);
	for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
		send_all(fd, pieces[i], strlen(pieces[i]));
		if (i + 1 < sizeof pieces / sizeof pieces[0])
			assert_true(server_has_read(fd, sfd));
	}
	char buf[4096];
	size_t got;
	assert_true(read_until(fd, buf, sizeof buf, 0, &got));
	const char not_allowed[] = "HTTP/1.1 405 Method Not Allowed\r\n";
	assert_true(strncmp(buf, not_allowed, sizeof not_allowed - 1) == 0);
	assert_non_null(strstr(buf, "\r\nAllow: GET, HEAD\r\n"));
	assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
	assert_int_equal(count(buf, "HTTP/1.1 "), 2);
	close(fd);
}

static void oversized_header_section_gets_431_and_the_connection_closes(void **state)
{
	server *s = *state;
	for (int terminated = 0; terminated < 2; terminated++) {
		int fd = client(s);
		static char req[12000];
		int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ");
		memset(req + n, 'a', 9000);
		n += 9000;
		if (terminated)
			n += snprintf(req + n, sizeof req - (size_t)n, "\r\n\r\n");
		send_all(fd, req, (size_t)n);
		char buf[4096];
		size_t got;
		assert_true(read_until(fd, buf, sizeof buf, 0, &got));
		assert_true(strncmp(buf, "HTTP/1.1 431 ", 13) == 0);
		assert_non_null(strstr(buf, "Connection: close\r\n"));
		close(fd);
	}
	/* Just under the limit is fine. */
	int fd = client(s);
	static char req[HTTP_MAX_HEADER];
	int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Big: ");
	memset(req + n, 'a', HTTP_MAX_HEADER - (size_t)n - 4);
	memcpy(req + HTTP_MAX_HEADER - 4, "\r\n\r\n", 4);
	send_all(fd, req, sizeof req);
	char buf[4096];
	size_t got;
	assert_true(read_until(fd, buf, sizeof buf, 0, &got));
	assert_true(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0);
	close(fd);
}

/* ------------------------------------------------- the RFC rules */

/*
 * One row per request-side rule of RFC 9112 (sections 2 to 7) and of
 * RFC 9110 where it bears on requests: the request bytes, and the
 * statuses of the responses the connection gives, in order ("": none
 * yet, the request is not complete). A row that tests a leniency names
 * the RFC text that permits it; one that tests a MAY not taken says so.
 * A row may append @pad bytes 'a' after @req, then @tail, for the size
 * limits.
 */
struct rule_row {
	const char *rule;
	const char *req;
	const char *want;
	size_t pad;
	const char *tail;
	size_t len;   /* the length of req, when it holds a NUL */
};

#define OK_NEXT "GET / HTTP/1.1\r\nHost: t\r\n\r\n"
#define HOST(v) "GET / HTTP/1.1\r\nHost: " v "\r\n\r\n"
#define FIELD(f) "GET / HTTP/1.1\r\nHost: t\r\n" f "\r\n\r\n"
#define LINE(l) l "\r\nHost: t\r\n\r\n"
#define WITH_NUL "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n"
#define BODY(f, body) "POST / HTTP/1.1\r\nHost: t\r\n" f "\r\n\r\n" body OK_NEXT
#define CHUNKED_HEAD "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
#define CHUNKED(body) CHUNKED_HEAD body OK_NEXT

/* Most rows give rule, request and statuses only: the rest is zero. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct rule_row rule_rows[] = {
	/* RFC 9112 §2: message format and parsing */
	{ "9112 §2.1: request line, field lines, empty line: one request",
	  "GET / HTTP/1.1\r\nHost: t\r\n\r\n", "200" },
	{ "9112 §2.2 (a server SHOULD ignore at least one empty line before the request line): "
	  "leading CRLFs are skipped",
	  "\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", "200" },
	{ "9112 §2.2: empty lines between pipelined requests are skipped too",
	  OK_NEXT "\r\n" OK_NEXT, "200 200" },
	{ "9112 §2.2 (bare LF as terminator is a MAY, not taken): bare LF ends the request line: 400",
	  "GET / HTTP/1.1\nHost: t\n\n", "400" },
	{ "9112 §2.2 (MAY not taken): bare LF ends a field line: 400",
	  "GET / HTTP/1.1\r\nHost: t\n\r\n", "400" },
	{ "9112 §2.2 (MAY not taken): bare LF ends an unfinished header section: 400 at once",
	  "GET / HTTP/1.1\r\nHost: t\n", "400" },
	{ "9112 §2.2: bare LF before the request line is not an empty line: 400",
	  "\nGET / HTTP/1.1\r\nHost: t\r\n\r\n", "400" },
	{ "9112 §2.2: bare CR in the request line is invalid: 400",
	  LINE("GET /\r HTTP/1.1"), "400" },
	{ "9112 §2.2: bare CR in a field name is invalid: 400",
	  "GET / HTTP/1.1\r\nHos\r: t\r\n\r\n", "400" },
	{ "9112 §2.2: bare CR in a field value is invalid: 400",
	  FIELD("X-A: a\rb"), "400" },
	{ "9112 §2.2: bare CR before CRLF at a value's end is invalid: 400",
	  FIELD("X-A: a\r"), "400" },
	{ "9112 §2.2: bare CR on a line of its own is invalid: 400",
	  "GET / HTTP/1.1\r\nHost: t\r\n\r\r\n", "400" },
	{ "9112 §2.2: whitespace between the request line and the first field line: rejected, 400",
	  "GET / HTTP/1.1\r\n Host: t\r\n\r\n", "400" },
	{ "9112 §2.2: octets that are not a request: 400",
	  "NOT A REQUEST\r\n\r\n", "400" },

	{ "9110 §5.3 (a server MUST NOT apply a request before its whole header section is in): "
	  "no answer to a header section not ended",
	  "GET / HTTP/1.1\r\nHost: t\r\n", "" },
	{ "9110 §5.3 (MUST NOT apply before the whole header section): a later field can still "
	  "make it a 400, so nothing is answered yet",
	  "GET / HTTP/1.1\r\nHost: t\r\nX-A: a", "" },

	/* RFC 9112 §2.3, RFC 9110 §2.5: HTTP version */
	{ "9112 §2.3: HTTP-name is case-sensitive: http/1.1 is 400",
	  LINE("GET / http/1.1"), "400" },
	{ "9112 §2.3: one digit after the dot: HTTP/1.10 is 400",
	  LINE("GET / HTTP/1.10"), "400" },
	{ "9112 §2.3: one digit before the dot: HTTP/11.1 is 400",
	  LINE("GET / HTTP/11.1"), "400" },
	{ "9112 §2.3: a version needs a minor digit: HTTP/1 is 400",
	  LINE("GET / HTTP/1"), "400" },
	{ "9112 §2.3: no version (HTTP/0.9 style): 400",
	  "GET /\r\n\r\n", "400" },
	{ "9110 §2.5 (a higher minor SHOULD be processed as the highest one known): HTTP/1.2 is "
	  "served as HTTP/1.1",
	  LINE("GET / HTTP/1.2"), "200" },
	{ "9110 §2.5: HTTP/1.2 is HTTP/1.1, so it needs a Host: 400",
	  "GET / HTTP/1.2\r\n\r\n", "400" },
	{ "9110 §2.5, §15.6.6: major version 2: 505",
	  LINE("GET / HTTP/2.0"), "505" },
	{ "9110 §2.5, §15.6.6: major version 0: 505",
	  LINE("GET / HTTP/0.9"), "505" },
	{ "9112 §3.2: an HTTP/1.0 request needs no Host",
	  "GET / HTTP/1.0\r\n\r\n", "200" },

	/* RFC 9112 §3: request line */
	{ "9112 §3 (the MAY to split on any whitespace is not taken): two SPs after the method: 400",
	  LINE("GET  / HTTP/1.1"), "400" },
	{ "9112 §3: two SPs before the version: 400",
	  LINE("GET /  HTTP/1.1"), "400" },
	{ "9112 §3: HTAB as a separator: 400",
	  LINE("GET\t/ HTTP/1.1"), "400" },
	{ "9112 §3: VT as a separator: 400",
	  LINE("GET /\x0bHTTP/1.1"), "400" },
	{ "9112 §3: whitespace before the method: 400",
	  LINE(" GET / HTTP/1.1"), "400" },
	{ "9112 §3: whitespace after the version: 400",
	  LINE("GET / HTTP/1.1 "), "400" },
	{ "9112 §3: the method is a token: G@T is 400",
	  LINE("G@T / HTTP/1.1"), "400" },
	{ "9112 §3, 9110 §9.1: the method is case-sensitive: get is not GET, unrecognized (501)",
	  LINE("get / HTTP/1.1"), "501" },
	{ "9112 §3: a request line with no target: 400",
	  LINE("GET HTTP/1.1"), "400" },
	{ "9112 §3: a method that starts with GET is another token: GETS is 501",
	  LINE("GETS / HTTP/1.1"), "501" },
	{ "9112 §2.2: a bare CR after the version: 400",
	  LINE("GET / HTTP/1.1\r"), "400" },
	{ "9112 §2.2: a bare CR after the version, then bytes that would make a request: 400",
	  "GET / HTTP/1.1\rXHost: t\r\n\r\n", "400" },
	{ "9112 §3 (SHOULD 400): '#' in the second 8 bytes of a target",
	  LINE("GET /abcdefghijklm#op HTTP/1.1"), "400" },
	{ "9112 §3 (SHOULD 400): DEL as the 8th byte of a target",
	  LINE("GET /abcdef\x7fgh HTTP/1.1"), "400" },
	{ "9112 §3 (SHOULD 400): a non-ASCII byte after 16 valid ones",
	  LINE("GET /abcdefghijklmnop\xff HTTP/1.1"), "400" },
	{ "9112 §3.2: a long target of every class, pct-encoded octets between (not served: 404)",
	  LINE("GET /azAZ09-._~!$&'()*+,;=:@/?%2f/azAZ09-._~!$&'()*+,;=:@/? HTTP/1.1"), "404" },
	{ "9112 §3.2.1: /plaintext/ is another path (not served: 404)",
	  LINE("GET /plaintext/ HTTP/1.1"), "404" },
	{ "9112 §3.2.1: /plaintex is another path (not served: 404)",
	  LINE("GET /plaintex HTTP/1.1"), "404" },
	{ "9112 §3 (an invalid request line SHOULD get 400): '#' is not in a request-target",
	  LINE("GET /plaintext#top HTTP/1.1"), "400" },
	{ "9112 §3 (SHOULD 400): a non-ASCII byte in the target",
	  LINE("GET /caf\xc3\xa9 HTTP/1.1"), "400" },
	{ "9112 §3 (SHOULD 400): '%' without two hex digits in the target",
	  LINE("GET /%zz HTTP/1.1"), "400" },
	{ "9112 §3.2: a percent-encoded octet is part of a path (not served: 404)",
	  LINE("GET /%41 HTTP/1.1"), "404" },
	{ "9112 §3 (MUST 414 a target longer than the server wishes to parse): one over "
	  "HTTP_MAX_TARGET",
	  "GET /", "414", HTTP_MAX_TARGET, " HTTP/1.1\r\nHost: t\r\n\r\n" },
	{ "9112 §3: a target of exactly HTTP_MAX_TARGET is parsed (not served: 404)",
	  "GET /", "404", HTTP_MAX_TARGET - 1, " HTTP/1.1\r\nHost: t\r\n\r\n" },
	{ "9112 §3 (MUST 414): a target too long for the header window is 414, not 431",
	  "GET /", "414", HTTP_MAX_HEADER + 100, "" },
	{ "9112 §3.2.1: origin-form is routed on its path, without the query",
	  LINE("GET /plaintext?x=1&y=%20 HTTP/1.1"), "200" },
	{ "9112 §3.2: a target neither origin-form nor absolute-form: 400",
	  LINE("GET plaintext HTTP/1.1"), "400" },
	{ "9112 §3.2.2 (a server MUST accept absolute-form): http://t/plaintext",
	  LINE("GET http://t/plaintext HTTP/1.1"), "200" },
	{ "9112 §3.2.2: absolute-form routes on the target, ignoring the Host field's value",
	  "GET http://t/plaintext HTTP/1.1\r\nHost: elsewhere:8080\r\n\r\n", "200" },
	{ "9112 §3.2.2: absolute-form of a path not served: 404",
	  LINE("GET http://t/missing HTTP/1.1"), "404" },
	{ "9112 §3.2.2: absolute-form with an empty path is /",
	  LINE("GET http://t HTTP/1.1"), "200" },
	{ "9112 §3.2.2: absolute-form with a query and no path is /",
	  LINE("GET http://t?x=1 HTTP/1.1"), "200" },
	{ "9112 §3.2.2: absolute-form of https with a port",
	  LINE("HEAD https://t:443/plaintext HTTP/1.1"), "200" },
	{ "9110 §4.2.3: scheme and host are case-insensitive",
	  LINE("GET HTTP://T/plaintext HTTP/1.1"), "200" },
	{ "9112 §3.2.2: absolute-form with an IPv6 literal host",
	  LINE("GET http://[::1]:80/ HTTP/1.1"), "200" },
	{ "9110 §4.2.1 (a recipient MUST reject an http URI with an empty host): http:///: 400",
	  LINE("GET http:///plaintext HTTP/1.1"), "400" },
	{ "9110 §4.2.1 (MUST): an empty host before a port: http://:80/: 400",
	  LINE("GET http://:80/ HTTP/1.1"), "400" },
	{ "9110 §4.2.4 (userinfo SHOULD be treated as an error): http://u@t/: 400",
	  LINE("GET http://u@t/ HTTP/1.1"), "400" },
	{ "9112 §3.2.2: brackets outside the authority: 400",
	  LINE("GET http://t/[x] HTTP/1.1"), "400" },
	{ "9112 §3 (SHOULD 400): brackets in an origin-form path: 400",
	  LINE("GET /[x] HTTP/1.1"), "400" },
	{ "9112 §3.2.2: an authority with a non-numeric port: 400",
	  LINE("GET http://t:x/ HTTP/1.1"), "400" },
	{ "9112 §3.2.2: http: without // is not an http URI: 400",
	  LINE("GET http:/plaintext HTTP/1.1"), "400" },
	{ "9112 §3.2.2: an absolute-URI of another scheme names nothing here: 404",
	  LINE("GET urn:example:x HTTP/1.1"), "404" },
	{ "9112 §3.2.4: asterisk-form only with OPTIONS: GET * is 400",
	  LINE("GET * HTTP/1.1"), "400" },
	{ "9112 §3.2.4: OPTIONS * is a request (not allowed here: 405)",
	  LINE("OPTIONS * HTTP/1.1"), "405" },
	{ "9112 §3.2.3: authority-form with CONNECT is a request (not allowed here: 405)",
	  LINE("CONNECT t:443 HTTP/1.1"), "405" },

	/* RFC 9110 §9.1, §15.5.6, §15.6.2: methods */
	{ "9110 §9.1 (an unrecognized method SHOULD get 501): FOO",
	  LINE("FOO /plaintext HTTP/1.1"), "501" },
	{ "9110 §9.1 (SHOULD 501): a method outside RFC 9110, PATCH, is not recognized here",
	  LINE("PATCH /plaintext HTTP/1.1"), "501" },
	{ "9110 §9.1: after a 501 the request was framed: the connection serves the next one",
	  LINE("FOO / HTTP/1.1") OK_NEXT, "501 200" },
	{ "9110 §9.1: an unrecognized method with a body: skipped, then the next request",
	  "FOO / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab" OK_NEXT, "501 200" },
	{ "9110 §15.5.6 (405: known, not allowed for the target; MUST send Allow): POST",
	  LINE("POST /plaintext HTTP/1.1"), "405" },
	{ "9110 §15.5.6: PUT is 405", LINE("PUT /plaintext HTTP/1.1"), "405" },
	{ "9110 §15.5.6: DELETE is 405", LINE("DELETE /plaintext HTTP/1.1"), "405" },
	{ "9110 §15.5.6: TRACE is 405", LINE("TRACE / HTTP/1.1"), "405" },
	{ "9110 §15.5.6: 405 keeps the connection", LINE("PUT / HTTP/1.1") OK_NEXT, "405 200" },

	/* RFC 9112 §3.2, RFC 9110 §7.2: Host */
	{ "9112 §3.2: an HTTP/1.1 request without Host: 400",
	  "GET / HTTP/1.1\r\n\r\n", "400" },
	{ "9112 §3.2: a field named Hosts is not Host: 400",
	  "GET / HTTP/1.1\r\nHosts: t\r\n\r\n", "400" },
	{ "9112 §3.2: absolute-form does not waive the Host field: 400",
	  "GET http://t/ HTTP/1.1\r\n\r\n", "400" },
	{ "9112 §3.2: two Host fields: 400",
	  "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", "400" },
	{ "9112 §3.2: two Host fields with the same value: 400",
	  "GET / HTTP/1.1\r\nHost: t\r\nHost: t\r\n\r\n", "400" },
	{ "9112 §3.2: two Host fields in HTTP/1.0 too: 400",
	  "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "400" },
	{ "9112 §3.2: an invalid Host in HTTP/1.0 too: 400",
	  "GET / HTTP/1.0\r\nHost: a b\r\n\r\n", "400" },
	{ "9112 §3.2: Host with a space inside: 400", HOST("a b"), "400" },
	{ "9112 §3.2: Host with two values: 400", HOST("a, b"), "400" },
	{ "9112 §3.2: Host with a path: 400", HOST("t/plaintext"), "400" },
	{ "9112 §3.2: Host with userinfo: 400", HOST("u@t"), "400" },
	{ "9112 §3.2: Host with a non-numeric port: 400", HOST("t:80x"), "400" },
	{ "9112 §3.2: Host with two ports: 400", HOST("t:80:81"), "400" },
	{ "9112 §3.2: Host with a bad percent-encoding: 400", HOST("t%zz"), "400" },
	{ "9112 §3.2: Host with a non-ASCII byte: 400", HOST("caf\xc3\xa9"), "400" },
	{ "9112 §3.2: Host with an unclosed IP literal: 400", HOST("[::1"), "400" },
	{ "9112 §3.2: Host with an empty IP literal: 400", HOST("[]"), "400" },
	{ "9112 §3.2: Host with a name in brackets: 400", HOST("[example]"), "400" },
	{ "9112 §3.2: Host with text after the IP literal: 400", HOST("[::1]x"), "400" },
	{ "9110 §7.2: an empty Host is valid (a target without authority)", HOST(""), "200" },
	{ "9110 §7.2: Host with a port", HOST("t:8080"), "200" },
	{ "9110 §7.2: Host as an IPv4 address", HOST("127.0.0.1"), "200" },
	{ "9110 §7.2: Host as an IPv6 literal with a port", HOST("[::1]:8080"), "200" },
	{ "9110 §7.2: Host as an IPvFuture literal", HOST("[v7.a:b]"), "200" },
	{ "9110 §7.2: Host with percent-encoding and sub-delims", HOST("a%41-b_c~d!e"), "200" },
	{ "9110 §5.5: OWS around a value is not part of it", HOST(" \t t \t "), "200" },
	{ "9110 §5.1: field names are case-insensitive",
	  "GET / HTTP/1.1\r\nhOsT: t\r\n\r\n", "200" },
	{ "9110 §7.2: the common request: an IPv4 Host with a port, upper case name",
	  "GET /plaintext HTTP/1.1\r\nHOST: 127.0.0.1:34567\r\n\r\n", "200" },
	{ "9110 §7.2: an empty Host with no OWS", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "200" },
	{ "9110 §7.2: a long reg-name with percent-encoding, and a long port",
	  HOST("abcdefghijklmnop%41qrstuvwxyz.example:0123456789"), "200" },
	{ "9112 §3.2: Host with '@' among 16 valid bytes: 400", HOST("abcdefgh@jklmnop"), "400" },
	{ "9112 §3.2: Host with a letter after 8 port digits: 400", HOST("t:12345678x"), "400" },
	{ "9110 §5.5: DEL in a Host value: 400", HOST("abcdefgh\x7fijk"), "400" },
	{ "9110 §5.5: a control after OWS at a Host value's end: 400", HOST("t \x01"), "400" },
	{ "9110 §5.5: NUL at a Host value's start: 400",
	  "GET / HTTP/1.1\r\nHost:\0t\r\n\r\n", "400",
	  .len = sizeof "GET / HTTP/1.1\r\nHost:\0t\r\n\r\n" - 1 },
	{ "9112 §5.1 (MUST 400): SP between Host and colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", "400" },

	/* RFC 9112 §5, RFC 9110 §5: field lines */
	{ "9112 §5.1 (MUST 400): SP between field name and colon",
	  FIELD("X-A : a"), "400" },
	{ "9112 §5.1 (MUST 400): HTAB between field name and colon",
	  FIELD("X-A\t: a"), "400" },
	{ "9112 §5.1: a field line without a colon: 400",
	  FIELD("No colon here"), "400" },
	{ "9112 §5.1: a field line without a colon, header section unfinished: 400 at once",
	  "GET / HTTP/1.1\r\nHost t\r\n", "400" },
	{ "9112 §5.1: an empty field name: 400",
	  FIELD(": a"), "400" },
	{ "9110 §5.1: a field name is a token: X(A) is 400",
	  FIELD("X(A): a"), "400" },
	{ "9112 §5.2 (obs-fold: MUST 400 or replace; rejected): a line starting with SP",
	  FIELD("X-A: a\r\n b"), "400" },
	{ "9112 §5.2 (MUST 400 or replace; rejected): a line starting with HTAB",
	  FIELD("X-A: a\r\n\tb"), "400" },
	{ "9110 §5.5 (NUL MUST be rejected or replaced; rejected): NUL in a value",
	  WITH_NUL, "400", .len = sizeof WITH_NUL - 1 },
	{ "9110 §5.5 (other controls MAY be kept; rejected): VT in a value",
	  FIELD("X-A: a\x0b"), "400" },
	{ "9110 §5.5 (MAY be kept; rejected): DEL in a value",
	  FIELD("X-A: 0123456789\x7f"), "400" },
	{ "9110 §5.5 (MAY be kept; rejected): DEL among the first 8 of 24 value bytes",
	  FIELD("X-A:abcd\x7f" "efghijklmnopqrstuvw"), "400" },
	{ "9110 §5.5 (MAY be kept; rejected): VT among the middle 8 of 24 value bytes",
	  FIELD("X-A:abcdefghijk\x0b" "lmnopqrstuvw"), "400" },
	{ "9110 §5.5: a long value with HTAB, obs-text and every VCHAR class",
	  FIELD("X-A: \t!\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~\x80\xff\t"), "200" },
	{ "9110 §5.5: HTAB, VCHAR and obs-text make a value",
	  FIELD("X-A: a\tb caf\xc3\xa9 ~!"), "200" },
	{ "9110 §5.5: an empty value",
	  FIELD("X-A:"), "200" },
	{ "9110 §5.4 (a header section larger than the server will process MUST get a 4xx): 431",
	  "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", "431", HTTP_MAX_HEADER, "\r\n\r\n" },
	{ "9110 §5.4 (MUST 4xx): a header section over the limit, never ended: 431",
	  "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", "431", HTTP_MAX_HEADER, "" },
	{ "9110 §5.4: a header section just under the limit is served",
	  "GET / HTTP/1.1\r\nHost: t\r\nX-Big: ", "200", HTTP_MAX_HEADER - 36, "\r\n\r\n" },

	/* RFC 9112 §9: connection management, as it bears on the next request */
	{ "9110 §5.3: Connection on two field lines is one list; 9112 §9.6: after close, "
	  "no further request is served",
	  "GET / HTTP/1.1\r\nHost: t\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
	  OK_NEXT, "200" },
	{ "9112 §9.3: HTTP/1.0 without keep-alive closes after the response",
	  "GET / HTTP/1.0\r\n\r\n" OK_NEXT, "200" },
	{ "9112 §9.3: HTTP/1.0 with keep-alive stays open",
	  "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n" OK_NEXT, "200 200" },

	/* RFC 9112 §6, RFC 9110 §8.6: message body and framing */
	{ "9112 §6.3 item 7: no Content-Length nor Transfer-Encoding: no body, the next bytes are "
	  "the next request",
	  OK_NEXT OK_NEXT, "200 200" },
	{ "9112 §6.3 item 6: Content-Length 3 frames 3 bytes of body, skipped",
	  BODY("Content-Length: 3", "abc"), "405 200" },
	{ "9112 §6.3 item 6: a request is complete only with all of its body: no answer yet",
	  "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nab", "" },
	{ "9110 §10.1.1 (MUST answer at once, with 100 or a final status): Expect: "
	  "100-continue, body not sent yet: 100",
	  "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
	  "100" },
	{ "9110 §10.1.1: after a pipelined request, one 100 for the one that expects it",
	  OK_NEXT "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n",
	  "200 100" },
	{ "9110 §10.1.1: the expectation is case-insensitive",
	  "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n",
	  "100" },
	{ "9110 §10.1.1 (the 100 MAY be left out once content has come): Expect with its body",
	  BODY("Expect: 100-continue\r\nContent-Length: 3", "abc"), "405 200" },
	{ "9110 §10.1.1: Expect: 100-continue with no body to come: the final answer",
	  BODY("Expect: 100-continue\r\nContent-Length: 0", ""), "405 200" },
	{ "9110 §10.1.1 (MUST ignore 100-continue in an HTTP/1.0 request): no 100",
	  "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", "" },
	{ "9110 §10.1.1 (another expectation MAY get 417; it is ignored): Expect: x-other",
	  FIELD("Expect: x-other"), "200" },
	{ "9110 §10.1.1: a body too large is answered at once, without a 100",
	  BODY("Expect: 100-continue\r\nContent-Length: 100000", ""), "413" },
	{ "9112 §6.3: a GET with a body is framed the same way",
	  "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nab" OK_NEXT, "200 200" },
	{ "9112 §6.3: Content-Length 0",
	  BODY("Content-Length: 0", ""), "405 200" },
	{ "9110 §8.6: leading zeros are the same decimal value",
	  BODY("Content-Length: 003", "abc"), "405 200" },
	{ "9112 §6.3 item 5 (a list of identical values is used as one): 3, 3",
	  BODY("Content-Length: 3, 3", "abc"), "405 200" },
	{ "9112 §6.3 item 5, 9110 §5.6.1 (empty list elements are skipped): 3,,3",
	  BODY("Content-Length: 3,,3", "abc"), "405 200" },
	{ "9110 §8.6 (duplicate lines of one value MAY be replaced by one): two lines of 3",
	  BODY("Content-Length: 3\r\ncontent-length: 3", "abc"), "405 200" },
	{ "9112 §6.3 item 5 (MUST 400): differing values in one line: 3, 4",
	  BODY("Content-Length: 3, 4", "abcd"), "400" },
	{ "9112 §6.3 item 5 (MUST 400): differing values on two lines",
	  BODY("Content-Length: 1\r\ncontent-length: 2", "ab"), "400" },
	{ "9112 §6.3 item 5 (MUST 400): Content-Length not a number",
	  BODY("Content-Length: x", ""), "400" },
	{ "9112 §6.3 item 5 (MUST 400): empty Content-Length",
	  BODY("Content-Length:", ""), "400" },
	{ "9112 §6.3 item 5 (MUST 400): a list of nothing: ,",
	  BODY("Content-Length: ,", ""), "400" },
	{ "9112 §6.3 item 5 (MUST 400): negative Content-Length",
	  BODY("Content-Length: -1", ""), "400" },
	{ "9112 §6.3 item 5 (MUST 400): signed Content-Length",
	  BODY("Content-Length: +1", "a"), "400" },
	{ "9112 §6.3 item 5 (MUST 400): hexadecimal Content-Length",
	  BODY("Content-Length: 0x1", "a"), "400" },
	{ "9112 §6.3 item 5 (MUST 400): two numbers without a comma",
	  BODY("Content-Length: 1 1", "a"), "400" },
	{ "9112 §6.3 item 5 (MUST 400): a number with a fraction",
	  BODY("Content-Length: 1.0", "a"), "400" },
	{ "9110 §8.6 (a recipient MUST anticipate large numerals): a value past 2^64 is too "
	  "large (413), not an overflow",
	  BODY("Content-Length: 18446744073709551617", ""), "413" },
	{ "9110 §15.5.14: a body larger than the server takes: 413",
	  BODY("Content-Length: 100000", ""), "413" },
	{ "9112 §6.1 (MAY reject, MUST close), §6.3 item 3: Transfer-Encoding with "
	  "Content-Length: 400",
	  BODY("Content-Length: 3\r\nTransfer-Encoding: chunked", "0\r\n\r\n"), "400" },
	{ "9112 §6.1 (MAY reject, MUST close): Content-Length after Transfer-Encoding: 400",
	  BODY("Transfer-Encoding: chunked\r\nContent-Length: 3", "0\r\n\r\n"), "400" },
	{ "9112 §6.3 item 4 (MUST 400): the final coding is not chunked",
	  BODY("Transfer-Encoding: gzip", ""), "400" },
	{ "9112 §6.3 item 4 (MUST 400): chunked then gzip",
	  BODY("Transfer-Encoding: chunked, gzip", ""), "400" },
	{ "9112 §6.3 item 4 (MUST 400): chunked, then gzip on a second line",
	  BODY("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip", ""), "400" },
	{ "9112 §6.3 item 4 (MUST 400): an empty Transfer-Encoding",
	  BODY("Transfer-Encoding:", ""), "400" },
	{ "9112 §6.1 (MUST treat as faulty framing): Transfer-Encoding in HTTP/1.0: 400",
	  "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400" },
	{ "9112 §6.1 (a coding not understood SHOULD get 501): gzip, chunked",
	  BODY("Transfer-Encoding: gzip, chunked", "0\r\n\r\n"), "501" },
	{ "9112 §6.1 (SHOULD 501), 9110 §5.3: gzip, then chunked on a second line",
	  BODY("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked", "0\r\n\r\n"), "501" },
	{ "9112 §6.1 (a sender MUST NOT apply chunked twice): chunked, chunked: 400",
	  BODY("Transfer-Encoding: chunked, chunked", "0\r\n\r\n0\r\n\r\n"), "400" },

	/* RFC 9112 §7.1: chunked transfer coding (a recipient MUST be able to parse it) */
	{ "9112 §7.1: a chunked body, skipped; the next request follows it",
	  CHUNKED("5\r\nhello\r\n0\r\n\r\n"), "405 200" },
	{ "9112 §7.1: a chunked body of the last chunk only",
	  CHUNKED("0\r\n\r\n"), "405 200" },
	{ "9112 §7: coding names are case-insensitive: Chunked, with OWS",
	  BODY("Transfer-Encoding: Chunked ", "0\r\n\r\n"), "405 200" },
	{ "9112 §7.1: several chunks",
	  CHUNKED("5\r\nhello\r\n1\r\n \r\n6\r\nworld!\r\n0\r\n\r\n"), "405 200" },
	{ "9112 §7.1: chunk data are skipped by size, not scanned: CRLF and 0 inside",
	  CHUNKED("7\r\n0\r\n\r\nab\r\n0\r\n\r\n"), "405 200" },
	{ "9112 §7.1: chunk-size is HEXDIG: upper case",
	  CHUNKED("A\r\n0123456789\r\n1F\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n"),
	  "405 200" },
	{ "9112 §7.1: chunk-size is HEXDIG: lower case",
	  CHUNKED("a\r\n0123456789\r\n0\r\n\r\n"), "405 200" },
	{ "9112 §7.1: leading zeros, and last-chunk is 1*(\"0\")",
	  CHUNKED("0005\r\nhello\r\n000\r\n\r\n"), "405 200" },
	{ "9112 §7.1: a chunk-size that is not hex: 400",
	  CHUNKED("g\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1: a chunk-size with a 0x prefix: 400",
	  CHUNKED("0x5\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1: a negative chunk-size: 400",
	  CHUNKED("-5\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1: an empty chunk-size: 400",
	  CHUNKED("\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1: hex digits, then garbage: 400",
	  CHUNKED("5x\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1 (MUST anticipate large numerals, prevent overflow): 17 hex digits: 400",
	  CHUNKED("10000000000000005\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1 (MUST prevent overflow): 17 digits with leading zeros: 400 all the same",
	  CHUNKED("00000000000000005\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1, 9110 §15.5.14: 16 hex digits fit 64 bits, and are too large: 413",
	  CHUNKED("FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n"), "413" },
	{ "9110 §15.5.14: a chunk-size larger than the server takes: 413 at once",
	  CHUNKED_HEAD "4000\r\n", "413" },
	{ "9110 §15.5.14: a chunked request of exactly HTTP_IN_CAP bytes is taken",
	  CHUNKED_HEAD "3fbb\r\n", "405", 0x3fbb, "\r\n0\r\n\r\n" },
	{ "9110 §15.5.14: one data byte more than HTTP_IN_CAP takes: 413",
	  CHUNKED_HEAD "3fbc\r\n", "413", 0x3fbc, "\r\n0\r\n\r\n" },
	{ "9110 §15.5.14: chunk data past HTTP_IN_CAP over several chunks: 413",
	  CHUNKED_HEAD "3000\r\n", "413", 0x3000, "\r\n1000\r\n" },
	{ "9112 §7.1: chunk data without their CRLF: 400",
	  CHUNKED("5\r\nhelloX\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1: chunk data followed by two bytes other than CRLF, then a valid last "
	  "chunk: 400",
	  CHUNKED("5\r\nhelloXY0\r\n\r\n"), "400" },
	{ "9112 §7.1: chunk data shorter than the size: 400",
	  CHUNKED("5\r\nhell\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1: no CRLF after the last chunk's line: 400",
	  CHUNKED("0\r\nX\r\n\r\n"), "400" },
	{ "9112 §7.1: a chunked body not ended: no answer yet",
	  CHUNKED_HEAD "5\r\nhel", "" },
	{ "9112 §7.1: a chunked body without its final CRLF: no answer yet",
	  CHUNKED_HEAD "5\r\nhello\r\n0\r\n", "" },
	{ "9112 §2.2 (bare LF is a MAY, not taken): bare LF after chunk-size: 400",
	  CHUNKED("5\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §2.2 (MAY not taken): bare LF after chunk data: 400",
	  CHUNKED("5\r\nhello\n0\r\n\r\n"), "400" },
	{ "9112 §2.2 (MAY not taken): bare LF after the last chunk: 400",
	  CHUNKED("0\n\r\n"), "400" },
	{ "9112 §2.2 (MAY not taken): bare LF as the final line: 400",
	  CHUNKED("0\r\n\n"), "400" },
	{ "9112 §2.2: bare CR after chunk-size: 400",
	  CHUNKED("5\rhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1.1: chunk extensions are parsed and ignored",
	  CHUNKED("5;name=value\r\nhello\r\n0;last\r\n\r\n"), "405 200" },
	{ "9112 §7.1.1: several extensions, BWS around ';' and '='",
	  CHUNKED("5 ; a = b;c\t;d=e\r\nhello\r\n0\r\n\r\n"), "405 200" },
	{ "9112 §7.1.1: a quoted-string value, with a quoted-pair",
	  CHUNKED("5;a=\"b \\\" ;c=d\"\r\nhello\r\n0\r\n\r\n"), "405 200" },
	{ "9112 §7.1.1: an extension without a name: 400",
	  CHUNKED("5;\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1.1: '=' without a value: 400",
	  CHUNKED("5;a=\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1.1: BWS only before ';': whitespace before CRLF is 400",
	  CHUNKED("5 \r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1.1: a name that is not a token: 400",
	  CHUNKED("5;a@b\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1.1: a quoted-string not closed: 400",
	  CHUNKED("5;a=\"b\r\nhello\r\n0\r\n\r\n"), "400" },
	{ "9112 §7.1.1 (a server ought to limit extensions, with a 4xx): over "
	  "HTTP_MAX_CHUNK_EXT: 400",
	  CHUNKED_HEAD "5;a=", "400", HTTP_MAX_CHUNK_EXT - 3, "a\r\nhello\r\n0\r\n\r\n" OK_NEXT },
	{ "9112 §7.1.1: extensions of HTTP_MAX_CHUNK_EXT bytes are taken",
	  CHUNKED_HEAD "5;a=", "405 200", HTTP_MAX_CHUNK_EXT - 3, "\r\nhello\r\n0\r\n\r\n" OK_NEXT },
	{ "9112 §7.1.1: the limit is on the extensions of all chunks together: 400",
	  CHUNKED_HEAD "1;a=", "400", HTTP_MAX_CHUNK_EXT - 3,
	  "\r\nx\r\n0;b\r\n\r\n" OK_NEXT },
	{ "9112 §7.1.2 (trailer fields MAY be discarded): a trailer section, discarded",
	  CHUNKED("5\r\nhello\r\n0\r\nX-T: a\r\nY: b\r\n\r\n"), "405 200" },
	{ "9112 §7.1.2, 9112 §5.1: a trailer field line without a colon: 400",
	  CHUNKED("0\r\nX-T a\r\n\r\n"), "400" },
	{ "9112 §7.1.2, 9112 §5.2: obs-fold in the trailer section: 400",
	  CHUNKED("0\r\nX-T: a\r\n b\r\n\r\n"), "400" },
	{ "9112 §7.1.2, 9110 §5.5: a control in a trailer value: 400",
	  CHUNKED("0\r\nX-T: a\x01\r\n\r\n"), "400" },
	{ "9112 §7.1.2, 9112 §2.2 (MAY not taken): bare LF ends a trailer line: 400",
	  CHUNKED("0\r\nX-T: a\n\r\n"), "400" },
	{ "9112 §7.1.2, 9110 §5.4 (MUST 4xx): a trailer section over HTTP_MAX_TRAILER: 431",
	  CHUNKED_HEAD "0\r\nX-Big: ", "431", HTTP_MAX_TRAILER, "\r\n\r\n" OK_NEXT },
	{ "9112 §7.1.2: a trailer section of HTTP_MAX_TRAILER bytes is taken",
	  CHUNKED_HEAD "0\r\nX-Big: ", "405 200", HTTP_MAX_TRAILER - 9, "\r\n\r\n" OK_NEXT },
	{ "9112 §7.1, §9.3: pipelined: a chunked request after a chunked request, then a GET",
	  CHUNKED_HEAD "3\r\nabc\r\n0\r\n\r\n" CHUNKED("1;x=y\r\nz\r\n0\r\nT: v\r\n\r\n"),
	  "405 405 200" },
	{ "9112 §7.1: a GET with a chunked body, then the next request",
	  "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
	  OK_NEXT, "200 200" },
	{ "9110 §9.1: an unrecognized method with a chunked body: 501, then the next request",
	  "FOO / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"
	  OK_NEXT, "501 200" },
	{ "9110 §10.1.1 (MUST answer at once): Expect: 100-continue, chunked body not sent: 100",
	  "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n",
	  "100" },
};
#pragma GCC diagnostic pop

/* What a connection makes of a byte stream: the statuses of its
 * responses in order, those of its final responses (without 1xx), how
 * many 1xx, whether it closed, and the bytes left unanswered when it
 * did not. */
struct outcome {
	char statuses[64];
	char finals[64];
	int interim;
	bool close;
	size_t left;
};

static void add_status(char *list, size_t cap, const char *status)
{
	size_t l = strlen(list);
	snprintf(list + l, cap - l, "%s%.3s", l ? " " : "", status);
}

/* Feeds @in[0..n) to http_process as the connection task does: @first
 * bytes, then @step bytes per read; after each read, answer what is
 * complete and keep the rest, until closed or out of input. */
static void feed(const char *in, size_t n, size_t first, size_t step, struct outcome *o)
{
	static char buf[HTTP_IN_CAP];
	static char out[HTTP_OUT_CAP + 1];
	size_t have = 0, off = 0;
	http_batch b = { 0 };   /* a new connection */
	memset(o, 0, sizeof *o);
	while (off < n && !o->close) {
		size_t k = off ? step : first;
		if (k > n - off)
			k = n - off;
		if (k > sizeof buf - have)
			k = sizeof buf - have;
		assert_true(k > 0);
		memcpy(buf + have, in + off, k);
		have += k;
		off += k;
		do {
			http_process(buf, have, out, HTTP_OUT_CAP, &b);
			out[b.out_len] = 0;
			for (const char *r = strstr(out, "HTTP/1.1 "); r; r = strstr(r + 1, "HTTP/1.1 ")) {
				add_status(o->statuses, sizeof o->statuses, r + 9);
				if (r[9] == '1')
					o->interim++;
				else
					add_status(o->finals, sizeof o->finals, r + 9);
			}
			memmove(buf, buf + b.consumed, have - b.consumed);
			have -= b.consumed;
			o->close = b.close;
		} while (!b.close && b.consumed && have);
	}
	o->left = o->close ? 0 : have + (n - off);
}

/* The bytes of @row into @buf; returns their length. */
static size_t row_bytes(const struct rule_row *row, char *buf, size_t cap)
{
	size_t n = row->len ? row->len : strlen(row->req);
	size_t t = row->tail ? strlen(row->tail) : 0;
	assert_true(n + row->pad + t <= cap);
	memcpy(buf, row->req, n);
	memset(buf + n, 'a', row->pad);
	memcpy(buf + n + row->pad, row->tail ? row->tail : "", t);
	return n + row->pad + t;
}

static void request_rules_of_rfc_9110_and_9112_get_their_statuses(void **state)
{
	(void)state;
	static char req[2 * HTTP_IN_CAP];   /* rows may be longer than a read buffer */
	for (size_t i = 0; i < sizeof rule_rows / sizeof rule_rows[0]; i++) {
		const struct rule_row *row = &rule_rows[i];
		size_t n = row_bytes(row, req, sizeof req);
		struct outcome o;
		feed(req, n, n, n, &o);
		if (strcmp(o.statuses, row->want))
			fail_msg("%s: got \"%s\", want \"%s\"", row->rule, o.statuses, row->want);
		/* Every error but 404, 405 and 501 closes the connection (a
		 * 501 that does: a row with a request after it). */
		int last = *o.finals ? atoi(o.finals + strlen(o.finals) - 3) : 0;
		if (last >= 400 && last != 404 && last != 405 && last != 501 && !o.close)
			fail_msg("%s: %d without closing", row->rule, last);
		/* A row is complete requests, perhaps followed by one that is
		 * not (answered by nothing or a 100 so far): bytes are left
		 * exactly then. */
		const char *tail = o.statuses + (*o.statuses ? strlen(o.statuses) - 3 : 0);
		bool pending = !*o.statuses || *tail == '1';
		if (pending ? o.left == 0 || (!*o.statuses && o.left != n) : o.left != 0)
			fail_msg("%s: %zu of %zu bytes left unanswered", row->rule, o.left, n);
	}
}

static void every_rule_row_split_anywhere_gets_the_same_answer_as_whole(void **state)
{
	(void)state;
	static char req[2 * HTTP_IN_CAP];   /* rows may be longer than a read buffer */
	for (size_t i = 0; i < sizeof rule_rows / sizeof rule_rows[0]; i++) {
		const struct rule_row *row = &rule_rows[i];
		size_t n = row_bytes(row, req, sizeof req);
		struct outcome whole, o;
		feed(req, n, n, n, &whole);
		/* In two pieces, cut after every byte; then a byte per read.
		 * The final answers are those of the whole; a 100 (Continue)
		 * depends on whether the body came with the head, but goes
		 * out once at most. */
		for (size_t cut = 1; cut <= n; cut++) {
			if (cut < n)
				feed(req, n, cut, n, &o);
			else
				feed(req, n, 1, 1, &o);
			if (strcmp(o.finals, whole.finals) || o.close != whole.close ||
			    o.left != whole.left || o.interim > 1)
				fail_msg("%s: cut at %zu%s: \"%s\" close %d left %zu, whole: \"%s\" "
					 "close %d left %zu", row->rule, cut, cut < n ? "" : " (bytewise)",
					 o.statuses, o.close, o.left, whole.statuses, whole.close,
					 whole.left);
		}
	}
}

/* Every prefix of every row, in a heap buffer of exactly its size: the
 * parser reads no byte past its input, which the address sanitizer
 * checks (its fast paths scan to the end of the input, not of a line).
 * Rows longer than 512 bytes: every 61st prefix and the last 16. */
static void every_rule_row_prefix_is_parsed_within_its_bytes(void **state)
{
	(void)state;
	static char req[2 * HTTP_IN_CAP];
	static char out[HTTP_OUT_CAP];
	for (size_t i = 0; i < sizeof rule_rows / sizeof rule_rows[0]; i++) {
		size_t n = row_bytes(&rule_rows[i], req, sizeof req);
		if (n > HTTP_IN_CAP)
			n = HTTP_IN_CAP;   /* no read holds more */
		for (size_t cut = 1; cut <= n; cut++) {
			if (n > 512 && cut % 61 && n - cut >= 16)
				continue;
			char *buf = malloc(cut);
			assert_non_null(buf);
			memcpy(buf, req, cut);
			http_batch b = { 0 };
			http_process(buf, cut, out, sizeof out, &b);
			assert_true(b.consumed <= cut);
			free(buf);
		}
	}
}

/* ------------------------------------------------------ http_process */

static void process_waits_for_a_complete_request_and_answers_the_corners(void **state)
{
	(void)state;
	char out[HTTP_OUT_CAP + 1];
	http_batch b = { 0 };
	const char partial[] = "GET /plaintext HTTP/1.1\r\nHost: t\r\n";
	http_process(partial, sizeof partial - 1, out, sizeof out, &b);
	assert_int_equal(b.consumed, 0);
	assert_int_equal(b.out_len, 0);
	assert_false(b.close);

	const char v10[] = "GET / HTTP/1.0\r\n\r\n";
	http_process(v10, sizeof v10 - 1, out, sizeof out, &b);
	assert_int_equal(b.consumed, sizeof v10 - 1);
	assert_true(b.close);
	assert_int_equal(b.last_status, 200);

	const char v10ka[] = "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n";
	http_process(v10ka, sizeof v10ka - 1, out, sizeof out, &b);
	assert_false(b.close);

	/* A chunked body: nothing until it ends, then the request is
	 * answered and its bytes consumed. */
	const char te[] = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
			  "3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n";
	for (size_t cut = 0; cut < sizeof te - 1; cut++) {
		http_process(te, cut, out, sizeof out, &b);
		assert_int_equal(b.consumed, 0);
		assert_int_equal(b.out_len, 0);
	}
	http_process(te, sizeof te - 1, out, sizeof out, &b);
	assert_int_equal(b.consumed, sizeof te - 1);
	assert_int_equal(b.last_status, 405);
	assert_false(b.close);

	const char post[] = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
			    "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	http_process(post, sizeof post - 1, out, sizeof out, &b);
	assert_int_equal(b.consumed, sizeof post - 1);   /* body skipped, both answered */
	assert_int_equal(b.last_status, 200);
	assert_int_equal(count(out, "HTTP/1.1 405"), 1);

	/* 405 names what is allowed (RFC 9110 15.5.6 MUST); 501 for a method
	 * not recognized, both keep the connection. */
	const char put_req[] = "PUT /plaintext HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
	http_process(put_req, sizeof put_req - 1, out, sizeof out, &b);
	out[b.out_len] = 0;
	assert_int_equal(b.last_status, 405);
	assert_false(b.close);
	assert_non_null(strstr(out, "\r\nAllow: GET, HEAD\r\n"));
	const char foo_req[] = "FOO /plaintext HTTP/1.1\r\nHost: t\r\n\r\n";
	http_process(foo_req, sizeof foo_req - 1, out, sizeof out, &b);
	out[b.out_len] = 0;
	assert_int_equal(b.last_status, 501);
	assert_false(b.close);
	assert_false(b.error);
	assert_true(strncmp(out, "HTTP/1.1 501 Not Implemented\r\n", 30) == 0);

	/* Header names in any case; a name that only folds close is not one. */
	const char upper[] = "GET / HTTP/1.1\r\nHOST: t\r\ncOnNeCtIoN: keep-alive, CLOSE\r\n\r\n";
	http_process(upper, sizeof upper - 1, out, sizeof out, &b);
	assert_int_equal(b.last_status, 200);
	assert_true(b.close);
	/* Field values: HTAB and obs-text are fine, other controls and DEL
	 * are not, wherever they sit in the value (word-at-a-time check). */
	static const struct { const char *value; int status; } values[] = {
		{ "a\tb", 200 }, { "caf\xc3\xa9 au lait, s'il vous pla\xc3\xaet", 200 },
		{ "\x01", 400 }, { "0123456789abcde\x7f", 400 }, { "0123456\x1f", 400 },
		{ "01234567\x0b", 400 }, { "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f", 400 },
		{ "x\t\t\t\t\t\t\t\ty", 200 }, { "0123456789abcdef\x80", 200 },
	};
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
		char req[256];
		int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: t\r\nX-V: %s\r\n\r\n",
				 values[i].value);
		http_process(req, (size_t)n, out, sizeof out, &b);
		assert_int_equal(b.last_status, values[i].status);
	}

	/* Many pipelined requests: answered while they fit, the rest later. */
	static char many[HTTP_IN_CAP];
	const char one[] = REQ("/plaintext", "");
	size_t len = 0;
	while (len + sizeof one - 1 <= sizeof many) {
		memcpy(many + len, one, sizeof one - 1);
		len += sizeof one - 1;
	}
	size_t done = 0, answered = 0;
	while (done < len) {
		http_process(many + done, len - done, out, sizeof out, &b);
		assert_true(b.consumed > 0);
		assert_true(b.out_len <= sizeof out);
		done += b.consumed;
		answered += b.consumed / (sizeof one - 1);
	}
	assert_int_equal(answered, len / (sizeof one - 1));

	const char *d1 = http_date();
	assert_int_equal(strlen(d1), HTTP_DATE_LEN);
	assert_true(d1 == http_date());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			three_pipelined_requests_in_one_write_get_three_responses_in_order,
			server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(keep_alive_serves_several_requests_on_one_connection,
						server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(malformed_request_gets_400_and_the_connection_closes,
						server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(
			expect_100_continue_gets_100_then_the_answer_once_the_body_came,
			server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(
			chunked_body_sent_in_pieces_is_skipped_and_the_next_request_served,
			server_setup, server_teardown),
		cmocka_unit_test_setup_teardown(
			oversized_header_section_gets_431_and_the_connection_closes,
			server_setup, server_teardown),
		cmocka_unit_test(process_waits_for_a_complete_request_and_answers_the_corners),
		cmocka_unit_test(request_rules_of_rfc_9110_and_9112_get_their_statuses),
		cmocka_unit_test(every_rule_row_split_anywhere_gets_the_same_answer_as_whole),
		cmocka_unit_test(every_rule_row_prefix_is_parsed_within_its_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
