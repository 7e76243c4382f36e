/*
 * http_proto.c - HTTP/1.1 request parsing and answering for weft-http,
 * and its connection task: read, answer every complete request in the
 * buffer with one write, repeat (keep-alive and pipelining). After an
 * error response the server shuts its write side and reads (discarding)
 * for a moment before closing, so the client sees the response instead
 * of a reset.
 */
#include "http_proto.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* ------------------------------------------------------------- date */

const char *http_date(void)
{
	static _Thread_local time_t sec = -1;
	static _Thread_local char buf[HTTP_DATE_LEN + 1];
	time_t now = time(NULL);   /* a vDSO read of one word */
	if (now != sec) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		sec = now;
	}
	return buf;
}

/* ---------------------------------------------------------- parsing */

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_OTHER };

struct http_req {
	enum http_method method;
	bool hello;          /* target is / or /plaintext */
	bool close;
	size_t size;         /* header section + body */
};

/* RFC 9110 tchar: one table load per character. */
#define T1(c) [(c)] = 1
#define T5(c) T1(c), T1((c) + 1), T1((c) + 2), T1((c) + 3), T1((c) + 4)
#define T10(c) T5(c), T5((c) + 5)
#define T26(c) T10(c), T10((c) + 10), T5((c) + 20), T1((c) + 25)
static const unsigned char tchar[256] = {
	T10('0'), T26('A'), T26('a'),
	T1('!'), T1('#'), T1('$'), T1('%'), T1('&'), T1('\''), T1('*'), T1('+'),
	T1('-'), T1('.'), T1('^'), T1('_'), T1('`'), T1('|'), T1('~'),
};

static inline bool is_tchar(unsigned char c)
{
	return tchar[c];
}

/* May a field value hold these 8 bytes? Not if one is a control character
 * other than HTAB, or DEL (RFC 9110 5.5; obs-text, 0x80-0xff, is fine).
 * Eight at a time: a byte under 0x20 or equal to 0x7f sets the high bit
 * of its lane in the classic "has less than" / "has zero" expressions, and
 * only then are the lanes looked at one by one for HTAB. */
static bool value_word_ok(uint64_t x)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones << 7;
	uint64_t low = (x - ones * 0x20) & ~x & highs;
	uint64_t del = x ^ (ones * 0x7f);
	del = (del - ones) & ~del & highs;
	if (!(low | del))
		return true;
	for (int i = 0; i < 8; i++) {
		unsigned char c = (unsigned char)(x >> (8 * i));
		if ((c < ' ' && c != '\t') || c == 0x7f)
			return false;
	}
	return true;
}

static bool value_ok(const char *c, const char *e)
{
	if (e - c < 8) {
		for (; c < e; c++)
			if (((unsigned char)*c < ' ' && *c != '\t') || *c == 0x7f)
				return false;
		return true;
	}
	uint64_t x;   /* lanes are checked alike: byte order does not matter */
	for (; e - c > 8; c += 8) {
		memcpy(&x, c, 8);
		if (!value_word_ok(x))
			return false;
	}
	memcpy(&x, e - 8, 8);   /* the last 8, overlapping bytes already seen */
	return value_word_ok(x);
}

/* Is the header name [p, p + n) @name (lower case, letters and '-')?
 * Folding with | 0x20 is exact here: among tchars only 'X' and 'x' fold
 * to 'x', and only '-' folds to '-'. */
static bool name_is(const char *p, size_t n, const char *name, size_t name_len)
{
	if (n != name_len)
		return false;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)p[i] | 0x20) != (unsigned char)name[i])
			return false;
	return true;
}

/* Case-insensitive equality of [s, s + n) and the lower-case @token. */
static bool token_is(const char *s, size_t n, const char *token)
{
	size_t i = 0;
	for (; i < n && token[i]; i++)
		if (((unsigned char)s[i] | 0x20) != (unsigned char)token[i])
			return false;
	return i == n && !token[i];
}

/* Does the comma-separated header value [v, e) list @token? */
static bool has_token(const char *v, const char *e, const char *token)
{
	while (v < e) {
		while (v < e && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		const char *s = v;
		while (v < e && *v != ',')
			v++;
		const char *t = v;
		while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
			t--;
		if (token_is(s, (size_t)(t - s), token))
			return true;
	}
	return false;
}

/* Parses the request line [p, e) (no CRLF). */
static int parse_request_line(const char *p, const char *e, struct http_req *r, int *minor)
{
	const char *s = p;
	while (p < e && is_tchar((unsigned char)*p))
		p++;
	if (p == s || p >= e || *p != ' ')
		return -400;
	size_t mlen = (size_t)(p - s);
	if (mlen == 3 && !memcmp(s, "GET", 3))
		r->method = HTTP_GET;
	else if (mlen == 4 && !memcmp(s, "HEAD", 4))
		r->method = HTTP_HEAD;
	else
		r->method = HTTP_OTHER;
	s = ++p;
	while (p < e && (unsigned char)*p > ' ' && *p != 0x7f)
		p++;
	if (p == s || p >= e || *p != ' ')
		return -400;
	size_t tlen = (size_t)(p - s);
	const char *q = memchr(s, '?', tlen);
	size_t plen = q ? (size_t)(q - s) : tlen;
	r->hello = (plen == 1 && s[0] == '/') || (plen == 10 && !memcmp(s, "/plaintext", 10));
	p++;
	if (e - p != 8 || memcmp(p, "HTTP/1.", 7) || (p[7] != '0' && p[7] != '1'))
		return -400;
	*minor = p[7] - '0';
	return 0;
}

#define NAME(s) s, sizeof s - 1

/*
 * Parses one request at the start of in[0..len): its size (> 0), 0 when
 * incomplete, or -status for an error response. One pass, line by line:
 * each line is checked as soon as its LF has arrived, so a complete but
 * bad line is an error at once, however long the rest takes to come.
 */
static long parse_request(const char *in, size_t len, struct http_req *r)
{
	memset(r, 0, sizeof *r);
	const char *lim = in + (len < HTTP_MAX_HEADER ? len : HTTP_MAX_HEADER);
	const long incomplete = len >= HTTP_MAX_HEADER ? -431 : 0;
	const char *eol = memchr(in, '\n', (size_t)(lim - in));
	if (!eol)
		return incomplete;
	if (eol == in || eol[-1] != '\r')
		return -400;
	int minor = 1;
	int rc = parse_request_line(in, eol - 1, r, &minor);
	if (rc < 0)
		return rc;

	bool keep_alive = false, host = false, have_cl = false;
	unsigned long long cl = 0;
	const char *p = eol + 1;
	for (;;) {
		/* An empty line ends the header section. */
		if (lim - p >= 2 && p[0] == '\r' && p[1] == '\n')
			break;
		const char *le = p < lim ? memchr(p, '\n', (size_t)(lim - p)) : NULL;
		if (!le)
			return incomplete;
		if (le == p || le[-1] != '\r')
			return -400;
		const char *ve = le - 1;
		const char *n = p;
		while (p < ve && is_tchar((unsigned char)*p))
			p++;
		if (p == n || p >= ve || *p != ':')
			return -400;   /* also obs-fold: a line starting with a space */
		size_t nlen = (size_t)(p - n);
		const char *v = p + 1;
		if (!value_ok(v, ve))
			return -400;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		const char *vend = ve;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		if (name_is(n, nlen, NAME("host"))) {
			if (host)
				return -400;
			host = true;
		} else if (name_is(n, nlen, NAME("content-length"))) {
			unsigned long long x = 0;
			if (v == vend)
				return -400;
			for (const char *c = v; c < vend; c++) {
				if (*c < '0' || *c > '9' || x > 1000000000ull)
					return -400;
				x = x * 10 + (unsigned)(*c - '0');
			}
			if (have_cl && x != cl)
				return -400;
			have_cl = true;
			cl = x;
		} else if (name_is(n, nlen, NAME("transfer-encoding"))) {
			return -501;
		} else if (name_is(n, nlen, NAME("connection"))) {
			if (has_token(v, vend, "close"))
				r->close = true;
			if (has_token(v, vend, "keep-alive"))
				keep_alive = true;
		}
		p = le + 1;
	}
	size_t head = (size_t)(p - in) + 2;
	if (minor == 1 && !host)
		return -400;
	if (minor == 0 && !keep_alive)
		r->close = true;
	if (cl > HTTP_IN_CAP - head)
		return -413;
	r->size = head + (size_t)cl;
	return r->size <= len ? (long)r->size : 0;
}

/* ---------------------------------------------------------- answers */

static const char hello_body[] = "Hello, World!";

static size_t put(char *out, const char *s, size_t n)
{
	memcpy(out, s, n);
	return n;
}

static size_t write_error(char *out, size_t cap, int status, const char *date)
{
	const char *reason = status == 431 ? "Request Header Fields Too Large"
		: status == 413 ? "Content Too Large"
		: status == 501 ? "Not Implemented" : "Bad Request";
	int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nServer: weft\r\nContent-Length: 0\r\n"
			 "Connection: close\r\nDate: %s\r\n\r\n", status, reason, date);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void http_process(const char *in, size_t len, char *out, size_t cap, http_batch *b)
{
	memset(b, 0, sizeof *b);
	/* The 200 response head, rebuilt only when the second changes (the
	 * Date's grain), copied per request: formatting it per batch was the
	 * largest user-space cost in a profile under wrk. */
	static _Thread_local char ok[256];
	static _Thread_local size_t ok_head;
	static _Thread_local time_t ok_sec = -1;
	time_t now = time(NULL);
	if (now != ok_sec) {
		int okn = snprintf(ok, sizeof ok, "HTTP/1.1 200 OK\r\nServer: weft\r\n"
				   "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
				   "Date: %s\r\n\r\n", sizeof hello_body - 1, http_date());
		ok_head = okn > 0 ? (size_t)okn : 0;
		ok_sec = now;
	}
	const size_t room = 512;   /* the largest response, with headers */

	while (b->consumed < len && cap - b->out_len >= room) {
		/* Leading empty lines before a request are ignored (RFC 9112). */
		while (len - b->consumed >= 2 && in[b->consumed] == '\r' && in[b->consumed + 1] == '\n')
			b->consumed += 2;
		if (b->consumed >= len)
			break;
		struct http_req r;
		long rc = parse_request(in + b->consumed, len - b->consumed, &r);
		if (rc == 0)
			break;
		char *o = out + b->out_len;
		if (rc < 0) {
			b->out_len += write_error(o, cap - b->out_len, (int)-rc, http_date());
			b->close = true;
			b->last_status = (int)-rc;
			b->consumed = len;
			return;
		}
		b->consumed += (size_t)rc;
		size_t n = 0;
		if (r.method == HTTP_OTHER) {
			int k = snprintf(o, cap - b->out_len, "HTTP/1.1 405 Method Not Allowed\r\n"
					 "Server: weft\r\nAllow: GET, HEAD\r\nContent-Length: 0\r\n"
					 "Date: %s\r\n%s\r\n", http_date(),
					 r.close ? "Connection: close\r\n" : "");
			n = (size_t)k;
			b->last_status = 405;
		} else if (!r.hello) {
			int k = snprintf(o, cap - b->out_len, "HTTP/1.1 404 Not Found\r\n"
					 "Server: weft\r\nContent-Length: 0\r\nDate: %s\r\n%s\r\n",
					 http_date(), r.close ? "Connection: close\r\n" : "");
			n = (size_t)k;
			b->last_status = 404;
		} else {
			if (r.close) {
				/* Connection: close goes before the blank line. */
				n += put(o, ok, ok_head - 2);
				n += put(o + n, "Connection: close\r\n\r\n", 21);
			} else {
				n += put(o, ok, ok_head);
			}
			if (r.method == HTTP_GET)
				n += put(o + n, hello_body, sizeof hello_body - 1);
			b->last_status = 200;
		}
		b->out_len += n;
		if (r.close) {
			b->close = true;
			return;
		}
	}
}

/* --------------------------------------------------- connection task */

/* What every request touches comes first, in two cache lines after the
 * task header; the linger timer, used once per bad request, goes last. */
typedef struct {
	weft_future fut;
	weft_coro co;
	serve_conn sc;
	weft_write_all wr;
	http_batch b;
	size_t in_len;
	ssize_t n;
	char in[HTTP_IN_CAP];
	char out[HTTP_OUT_CAP];
	size_t discarded;
	weft_sleep linger;
} http_conn;

/* After an error response: read and discard until the peer closes, for at
 * most 1 s and 1 MiB, so closing does not reset the connection before
 * the client has read the response. */
static weft_poll http_linger_poll(http_conn *t, weft_cx *cx)
{
	for (;;) {
		if (weft_sleep_poll(&t->linger, cx) == WEFT_READY)
			return WEFT_READY;
		if (weft_tcp_poll_read(t->sc.stream, cx, t->in, sizeof t->in, &t->n) == WEFT_PENDING)
			return WEFT_PENDING;
		if (t->n <= 0 || (t->discarded += (size_t)t->n) > (1u << 20))
			return WEFT_READY;
	}
}

static weft_poll http_conn_poll(weft_future *f, weft_cx *cx)
{
	http_conn *t = (http_conn *)f;
	WEFT_BEGIN(&t->co);
	serve_conn_enter(&t->sc);
	for (;;) {
		http_process(t->in, t->in_len, t->out, sizeof t->out, &t->b);
		if (t->b.consumed) {
			memmove(t->in, t->in + t->b.consumed, t->in_len - t->b.consumed);
			t->in_len -= t->b.consumed;
		}
		if (t->b.out_len) {
			weft_write_all_init(&t->wr, t->sc.stream, t->out, t->b.out_len);
			WEFT_AWAIT(&t->co, weft_write_all_poll(&t->wr, cx, &t->n));
			if (t->n < 0)
				break;
		}
		if (t->b.close) {
			if (t->b.last_status >= 400 && t->b.last_status != 404 && t->b.last_status != 405) {
				weft_tcp_shutdown(t->sc.stream, SHUT_WR);
				weft_sleep_init(&t->linger, WEFT_SEC(1));
				WEFT_AWAIT(&t->co, http_linger_poll(t, cx));
			}
			break;
		}
		if (t->b.consumed && t->in_len)
			continue;            /* the write buffer was full: answer the rest */
		WEFT_AWAIT(&t->co, weft_tcp_poll_read(t->sc.stream, cx, t->in + t->in_len,
						      sizeof t->in - t->in_len, &t->n));
		if (t->n <= 0)
			break;               /* 0 = EOF, < 0 = -errno */
		t->in_len += (size_t)t->n;
	}
	WEFT_END(&t->co);
}

static void http_conn_drop(weft_future *f)
{
	http_conn *t = (http_conn *)f;
	weft_write_all_drop(&t->wr);
	weft_sleep_drop(&t->linger);
	serve_conn_leave(&t->sc);
	weft_tcp_close(t->sc.stream);
}

int http_spawn_conn(weft_runtime *rt, weft_tcp_stream *stream)
{
	http_conn t = { .fut = WEFT_FUTURE(http_conn_poll, http_conn_drop),
			.sc = { .stream = stream, .counted = true } };
	int rc = weft_spawn_detached(rt, &t.fut, sizeof t);   /* copied in */
	if (rc < 0)
		weft_tcp_close(stream);
	return rc;
}
