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
#include <netinet/in.h>
#include <sys/time.h>

typedef struct {
	weft_runtime *rt;
	weft_tcp_listener *lis;
	weft_join_handle *acceptor;
	int port;
} server;

static int server_setup(void **state)
{
	server *s = calloc(1, sizeof *s);
	weft_runtime_config cfg = { .workers = 2 };
	assert_int_equal(weft_runtime_new(&s->rt, &cfg), 0);
	assert_int_equal(weft_tcp_listen(&s->lis, "127.0.0.1:0", 64), 0);
	weft_addr a;
	assert_int_equal(weft_tcp_listener_local_addr(s->lis, &a), 0);
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
	weft_join_handle_detach(s->acceptor);
	weft_runtime_free(s->rt);        /* drops open connections */
	weft_tcp_listener_close(s->lis);
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

/* ------------------------------------------------------ http_process */

static void process_waits_for_a_complete_request_and_answers_the_corners(void **state)
{
	(void)state;
	char out[HTTP_OUT_CAP];
	http_batch b;
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

	const char te[] = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n";
	http_process(te, sizeof te - 1, out, sizeof out, &b);
	assert_int_equal(b.last_status, 501);
	assert_true(b.close);

	const char post[] = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
			    "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	http_process(post, sizeof post - 1, out, sizeof out, &b);
	assert_int_equal(b.consumed, sizeof post - 1);   /* body skipped, both answered */
	assert_int_equal(b.last_status, 200);
	assert_int_equal(count(out, "HTTP/1.1 405"), 1);

	/* Header names in any case; a name that only folds close is not one. */
	const char upper[] = "GET / HTTP/1.1\r\nHOST: t\r\ncOnNeCtIoN: keep-alive, CLOSE\r\n\r\n";
	http_process(upper, sizeof upper - 1, out, sizeof out, &b);
	assert_int_equal(b.last_status, 200);
	assert_true(b.close);
	static const char *const bad[] = {
		"GET / HTTP/1.1\r\nHos\r: t\r\n\r\n",              /* a control in a name */
		"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",   /* two Hosts */
		"GET / HTTP/1.1\r\nHosts: t\r\n\r\n",               /* no Host */
		"GET / HTTP/1.1\r\nHost t\r\n",                       /* bad line, head unfinished */
		"GET / HTTP/1.1\r\nHost: t\n",                         /* bare LF, head unfinished */
		"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\nab",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		http_process(bad[i], strlen(bad[i]), out, sizeof out, &b);
		assert_int_equal(b.last_status, 400);
	}

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
			oversized_header_section_gets_431_and_the_connection_closes,
			server_setup, server_teardown),
		cmocka_unit_test(process_waits_for_a_complete_request_and_answers_the_corners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
