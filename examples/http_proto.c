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

/* GET and HEAD are served; HTTP_KNOWN is another method of RFC 9110 9
 * (405 here), HTTP_UNKNOWN any other token (501). */
enum http_method { HTTP_GET, HTTP_HEAD, HTTP_KNOWN, HTTP_UNKNOWN };

struct http_req {
	enum http_method method;
	bool hello;          /* target is / or /plaintext */
	bool close;
	bool expect_continue;   /* complete head, body still to come, 100-continue */
	size_t size;         /* header section + Content-Length body */
};

/*
 * Character classes, one table load per character:
 *   C_TCHAR   RFC 9110 5.6.2 tchar (method, field name)
 *   C_TARGET  what a request-target holds besides pct-encoded: RFC 3986
 *             unreserved, sub-delims, ":", "@", "/", "?" (RFC 9112 3.2)
 *   C_REG     RFC 3986 reg-name: unreserved and sub-delims ("%" apart)
 *   C_HEX     HEXDIG
 *   C_SCHEME  what follows the first letter of a URI scheme
 *   C_DIGIT   DIGIT
 */
enum { C_TCHAR = 1, C_TARGET = 2, C_REG = 4, C_HEX = 8, C_SCHEME = 16, C_DIGIT = 32 };
#define URI_ALNUM (C_TCHAR | C_TARGET | C_REG | C_SCHEME)
#define V1(c, v) [(c)] = (v)
#define V2(c, v) V1(c, v), V1((c) + 1, v)
#define V6(c, v) V2(c, v), V2((c) + 2, v), V2((c) + 4, v)
#define V10(c, v) V6(c, v), V2((c) + 6, v), V2((c) + 8, v)
static const unsigned char cclass[256] = {
	V10('0', URI_ALNUM | C_HEX | C_DIGIT),
	V6('A', URI_ALNUM | C_HEX), V10('G', URI_ALNUM), V10('Q', URI_ALNUM),
	V6('a', URI_ALNUM | C_HEX), V10('g', URI_ALNUM), V10('q', URI_ALNUM),
	V1('-', URI_ALNUM), V1('.', URI_ALNUM), V1('+', URI_ALNUM),
	V1('_', C_TCHAR | C_TARGET | C_REG), V1('~', C_TCHAR | C_TARGET | C_REG),
	V1('!', C_TCHAR | C_TARGET | C_REG), V1('$', C_TCHAR | C_TARGET | C_REG),
	V1('&', C_TCHAR | C_TARGET | C_REG), V1('\'', C_TCHAR | C_TARGET | C_REG),
	V1('*', C_TCHAR | C_TARGET | C_REG),
	V1('(', C_TARGET | C_REG), V1(')', C_TARGET | C_REG), V1(',', C_TARGET | C_REG),
	V1(';', C_TARGET | C_REG), V1('=', C_TARGET | C_REG),
	V1(':', C_TARGET), V1('@', C_TARGET), V1('/', C_TARGET), V1('?', C_TARGET),
	V1('%', C_TCHAR),   /* in a URI only as pct-encoded, checked apart */
	V1('#', C_TCHAR), V1('^', C_TCHAR), V1('`', C_TCHAR), V1('|', C_TCHAR),
};

static inline bool is(unsigned char c, unsigned cls)
{
	return cclass[c] & cls;
}

static inline bool is_tchar(unsigned char c)
{
	return is(c, C_TCHAR);
}

/*
 * The end of the run of bytes of class @cls that starts at @p, at most
 * @e: the first byte at or after @p not in it, or @e. While eight bytes
 * remain, they are tested without a bound check each, unrolled: a load,
 * a test and a branch per byte, leaving at the first byte outside the
 * class, exactly where the byte loop below would.
 */
static inline const char *span(const char *p, const char *e, unsigned cls)
{
	for (; e - p >= 8; p += 8) {
		const unsigned char *u = (const unsigned char *)p;
		for (int i = 0; i < 8; i++)
			if (!(cclass[u[i]] & cls))
				return p + i;
	}
	while (p < e && is((unsigned char)*p, cls))
		p++;
	return p;
}

/* Are the 4 bytes at @p, ASCII letters folded to lower case, the lower
 * case letters @w? Folding with | 0x20 maps only 'A' + i and 'a' + i to
 * 'a' + i, so for letters this is case-insensitive equality. One load,
 * one OR, one compare (the constant is folded at compile time). */
static inline bool lower4_is(const char *p, const char *w)
{
	uint32_t x, y;
	memcpy(&x, p, 4);
	memcpy(&y, w, 4);
	return (x | UINT32_C(0x20202020)) == y;
}

/* Is there a CRLF at @p, before @e? One 2-byte load and compare. */
static inline bool crlf_at(const char *p, const char *e)
{
	uint16_t x, y;
	if (e - p < 2)
		return false;
	memcpy(&x, p, 2);
	memcpy(&y, "\r\n", 2);
	return x == y;
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

/* May a field value hold @c? (The test of value_ok's short loop, which
 * is left written out: gcc compiles the header loop better so.) */
static inline bool value_byte_ok(unsigned char c)
{
	return (c >= ' ' || c == '\t') && c != 0x7f;
}

/* Called from field_line alone, so that it is inlined there (the
 * trailer section, off the hot path, checks byte by byte). */
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

/* The first byte in [c, e) that a field value may not hold, or e: what
 * value_ok tests, as a scan. Words of 8 go by value_word_ok's "has less
 * than" / "has zero" tests without its HTAB step: a word they pass holds
 * only bytes a value may hold, and from the first that they do not (it
 * has a control byte, HTAB or another, or DEL) or the last few bytes, the
 * scan goes byte by byte. */
static const char *value_end(const char *c, const char *e)
{
	const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones << 7;
	for (; e - c >= 8; c += 8) {
		uint64_t x, del;   /* lanes alike: byte order does not matter */
		memcpy(&x, c, 8);
		del = x ^ (ones * 0x7f);
		if (((x - ones * 0x20) & ~x & highs) | ((del - ones) & ~del & highs))
			break;
	}
	while (c < e && value_byte_ok((unsigned char)*c))
		c++;
	return c;
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

/* The next element of the comma-separated list at *@v (before @e), with
 * its surrounding whitespace trimmed: [*@s, returned end); an empty
 * element gives *@s == end. *@v moves past it. */
static const char *list_next(const char **v, const char *e, const char **s)
{
	const char *p = *v;
	while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
		p++;
	*s = p;
	while (p < e && *p != ',')
		p++;
	*v = p;
	const char *t = p;
	while (t > *s && (t[-1] == ' ' || t[-1] == '\t'))
		t--;
	return t;
}

/* Does the comma-separated header value [v, e) list @token? */
static bool has_token(const char *v, const char *e, const char *token)
{
	while (v < e) {
		const char *s, *t = list_next(&v, e, &s);
		if (token_is(s, (size_t)(t - s), token))
			return true;
	}
	return false;
}

/* Is [p, p + 3) a pct-encoded octet, "%" HEXDIG HEXDIG (RFC 3986)? */
static bool pct_at(const char *p, const char *e)
{
	return e - p >= 3 && p[0] == '%' && is((unsigned char)p[1], C_HEX) &&
	       is((unsigned char)p[2], C_HEX);
}

/*
 * Is [p, e) a valid Host field value, or the authority of an http(s)
 * request-target? RFC 9110 7.2 and 4.2: uri-host [ ":" port ], where
 * uri-host is an IP-literal in brackets, or a reg-name (which also
 * covers IPv4 addresses); no userinfo. An IP-literal is checked for its
 * characters (IPv6: HEXDIG, ":" and "."; IPvFuture: "v" HEXDIG "." and
 * unreserved / sub-delims / ":"), not for the shape of the address.
 * May be empty (RFC 9110 7.2: a target URI without authority).
 *
 * host_end() scans [p, e) as far as that grammar takes it and returns
 * where it stopped, or NULL at a malformed IP-literal; the host is valid
 * when it stops at e. It looks at a byte only to accept or reject it,
 * and when that byte is one it accepts nowhere (SP, HTAB, CR: not even
 * as a HEXDIG after "%"), at none past it: given any e beyond such a
 * byte, it answers as it would with e at that byte.
 */
static const char *host_end(const char *p, const char *e)
{
	if (p < e && *p == '[') {
		const char *s = ++p;
		if (p < e && (*p == 'v' || *p == 'V')) {
			for (p++; p < e && is((unsigned char)*p, C_HEX); p++)
				;
			if (p == s + 1 || p >= e || *p++ != '.')
				return NULL;
			const char *f = p;
			while (p < e && (is((unsigned char)*p, C_REG) || *p == ':'))
				p++;
			if (p == f)
				return NULL;
		} else {
			while (p < e && (is((unsigned char)*p, C_HEX) || *p == ':' || *p == '.'))
				p++;
			if (p == s)
				return NULL;
		}
		if (p >= e || *p++ != ']')
			return NULL;
	} else {
		/* Runs of C_REG (span), each ended by a pct-encoded octet or
		 * by the first byte that is neither. */
		for (;;) {
			p = span(p, e, C_REG);
			if (!pct_at(p, e))
				break;
			p += 3;
		}
	}
	if (p < e && *p == ':')
		p = span(p + 1, e, C_DIGIT);
	return p;
}

static bool host_ok(const char *p, const char *e)
{
	return host_end(p, e) == e;
}

/* Are the 10 bytes at @p "/plaintext"? An 8-byte and a 2-byte compare:
 * gcc makes a memcmp call of it in some places. */
static inline bool plaintext_at(const char *p)
{
	static const char w[] = "/plaintext";
	uint64_t a, b;
	uint16_t c, d;
	memcpy(&a, p, 8);
	memcpy(&b, w, 8);
	memcpy(&c, p + 8, 2);
	memcpy(&d, w + 8, 2);
	return a == b && c == d;
}

/* Is the path [p, e) one that says hello (empty counts as "/")? */
static bool hello_path(const char *p, const char *e)
{
	size_t n = (size_t)(e - p);
	return n == 0 || (n == 1 && p[0] == '/') || (n == 10 && plaintext_at(p));
}

/*
 * Checks the form of the request-target [s, t), whose characters are
 * already known to be valid, and finds whether it says hello (RFC 9112
 * 3.2). origin-form: routed on its path. absolute-form: accepted, as a
 * server MUST (3.2.2); for http and https the authority must be a valid
 * host, not empty (RFC 9110 4.2.1: a recipient MUST reject an http URI
 * with an empty host) and without userinfo (RFC 9110 4.2.4: SHOULD be
 * treated as an error); the Host field is then not used for routing,
 * as 3.2.2 requires (this server routes on the path alone anyway). A
 * URI of another scheme names nothing served here: 404. asterisk-form
 * only with OPTIONS (3.2.4). authority-form (CONNECT, 3.2.3) parses as
 * an absolute-URI of an unknown scheme and gets 405 as CONNECT.
 */
static __attribute__((noinline)) int parse_target_slow(const char *s, const char *t, bool options,
							  struct http_req *r)
{
	if (*s == '/') {
		const char *q = memchr(s, '?', (size_t)(t - s));
		r->hello = hello_path(s, q ? q : t);
		return 0;
	}
	if (t - s == 1 && *s == '*')
		return options ? 0 : -400;
	/* absolute-URI = scheme ":" hier-part [ "?" query ] */
	const char *c = s;
	if (!((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z'))
		return -400;
	while (c < t && is((unsigned char)*c, C_SCHEME))
		c++;
	if (c == t || *c != ':')
		return -400;
	if (!token_is(s, (size_t)(c - s), "http") && !token_is(s, (size_t)(c - s), "https"))
		return 0;
	c++;
	if (t - c < 2 || c[0] != '/' || c[1] != '/')
		return -400;
	const char *a = c += 2;
	while (c < t && *c != '/' && *c != '?')
		c++;
	if (a == c || *a == ':' || !host_ok(a, c))
		return -400;
	/* Brackets belong in the authority only. */
	if (memchr(c, '[', (size_t)(t - c)) || memchr(c, ']', (size_t)(t - c)))
		return -400;
	const char *q = memchr(c, '?', (size_t)(t - c));
	r->hello = hello_path(c, q ? q : t);
	return 0;
}

/* "/" and "/plaintext", first: origin-form (they start with "/") and
 * without a '?', so their path is all of them, and it says hello. Any
 * other target: parse_target_slow, out of line. */
static inline int parse_target(const char *s, const char *t, bool options, struct http_req *r)
{
	if (*s == '/' && (t - s == 1 || (t - s == 10 && plaintext_at(s)))) {
		r->hello = true;
		return 0;
	}
	return parse_target_slow(s, t, options, r);
}

/*
 * Parses the method at @p, in [p, e): sets r->method, and *options for
 * OPTIONS. Returns where the SP after it is, or NULL when there is no
 * token then SP (400).
 */
static __attribute__((noinline)) const char *parse_method_slow(const char *p, const char *e,
								 struct http_req *r, bool *options)
{
	const char *s = p;
	p = span(p, e, C_TCHAR);
	if (p == s || p >= e || *p != ' ')
		return NULL;
	size_t mlen = (size_t)(p - s);
	/* RFC 9110 9.1: the method is case-sensitive. */
	if (mlen == 3 && !memcmp(s, "GET", 3))
		r->method = HTTP_GET;
	else if (mlen == 4 && !memcmp(s, "HEAD", 4))
		r->method = HTTP_HEAD;
	else {
		/* RFC 9110 9.1: an unrecognized method SHOULD get 501; the
		 * other methods RFC 9110 defines get 405 (with Allow). */
		*options = mlen == 7 && !memcmp(s, "OPTIONS", 7);
		bool known = *options || (mlen == 4 && !memcmp(s, "POST", 4)) ||
			     (mlen == 3 && !memcmp(s, "PUT", 3)) ||
			     (mlen == 6 && !memcmp(s, "DELETE", 6)) ||
			     (mlen == 7 && !memcmp(s, "CONNECT", 7)) ||
			     (mlen == 5 && !memcmp(s, "TRACE", 5));
		r->method = known ? HTTP_KNOWN : HTTP_UNKNOWN;
	}
	return p;
}

/* "GET " first, one compare, inline: G, E and T are tchars and SP is
 * not, so parse_method_slow would find these 3 bytes, then SP. */
static inline const char *parse_method(const char *p, const char *e, struct http_req *r,
				       bool *options)
{
	if (e - p >= 4 && !memcmp(p, "GET ", 4)) {
		r->method = HTTP_GET;
		return p + 3;
	}
	return parse_method_slow(p, e, r, options);
}

/*
 * Parses the request line [p, e) (no CRLF): method SP request-target SP
 * HTTP-version, one SP each (RFC 9112 3; the MAY to split on any run of
 * whitespace is not taken: lenient splitting is a smuggling risk).
 * Returns 0, -400, -414 (target over HTTP_MAX_TARGET: RFC 9112 3 MUST)
 * or -505 (major version other than 1). -414 is found as soon as the
 * target passes the limit, so a line cut short by the header window
 * still tells it.
 *
 * parse_method_target() parses the line up to the SP after the target
 * and leaves *pp after that SP; it is inlined, for parse_request's path
 * on every request above all. It judges each byte by itself (and the 2
 * after a "%"), so given an e past that SP, it answers as it would with
 * e at the line's end: parse_request relies on that.
 */
static inline __attribute__((always_inline)) int parse_method_target(const char **pp, const char *e,
								      struct http_req *r)
{
	bool options = false;
	const char *p = parse_method(*pp, e, r, &options);
	if (!p)
		return -400;
	const char *s = ++p;
	for (;;) {
		p = span(p, e, C_TARGET);
		if (p < e && *p == ' ')
			break;   /* the usual end: neither '%' nor a bracket */
		if (pct_at(p, e))
			p += 3;
		else if (p < e && (*p == '[' || *p == ']') && *s != '/')
			p++;   /* an IP-literal in an absolute-form authority */
		else
			break;
	}
	if (p - s > HTTP_MAX_TARGET)
		return -414;
	if (p == s || p >= e || *p != ' ')
		return -400;   /* also a bare CR, '#', a control or non-ASCII byte */
	int rc = parse_target(s, p, options, r);
	if (rc < 0)
		return rc;
	*pp = p + 1;
	return 0;
}

static int parse_request_line(const char *p, const char *e, struct http_req *r, int *minor)
{
	int rc = parse_method_target(&p, e, r);
	if (rc < 0)
		return rc;
	/* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (9112 2.3) */
	if (e - p != 8 || memcmp(p, "HTTP/", 5) || p[5] < '0' || p[5] > '9' || p[6] != '.' ||
	    p[7] < '0' || p[7] > '9')
		return -400;
	if (p[5] != '1')
		return -505;   /* RFC 9110 2.5 and 15.6.6 */
	/* RFC 9110 2.5: a higher minor version (1.2) SHOULD be processed as
	 * the highest minor this server conforms to, 1.1. */
	*minor = p[7] == '0' ? 0 : 1;
	return 0;
}

/* Content-Length values at or above this are all "too large" (413);
 * parsing saturates instead of overflowing (RFC 9110 8.6: a recipient
 * MUST anticipate large numerals). Two differing values past it may
 * compare equal: 413 instead of 400, a rejection either way. */
#define CL_HUGE 100000000000000000ull

/*
 * Parses the Content-Length value [v, e) (trimmed) into @cl: 1*DIGIT,
 * or (RFC 9112 6.3 item 5, which allows it) a comma-separated list of
 * identical values, used as one. Empty list elements are skipped (RFC
 * 9110 5.6.1). Anything else is invalid framing: false, for 400.
 */
static bool parse_content_length(const char *v, const char *e, unsigned long long *cl)
{
	bool seen = false;
	for (;;) {
		const char *s = v;
		unsigned long long x = 0;
		for (; v < e && *v >= '0' && *v <= '9'; v++)
			x = x < CL_HUGE ? x * 10 + (unsigned)(*v - '0') : CL_HUGE;
		if (v > s) {
			if (seen && x != *cl)
				return false;
			*cl = x;
			seen = true;
		}
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		if (v == e)
			return seen;
		if (*v++ != ',')
			return false;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
	}
}

/*
 * Counts the transfer codings listed in the Transfer-Encoding value
 * [v, e) into @codings and those that are chunked into @chunked, and
 * tells whether the last one is chunked (RFC 9112 6.1). Empty list
 * elements are skipped (RFC 9110 5.6.1).
 */
static void count_codings(const char *v, const char *e, unsigned *codings, unsigned *chunked,
			  bool *last_chunked)
{
	while (v < e) {
		const char *s, *t = list_next(&v, e, &s);
		if (t == s)
			continue;
		bool c = token_is(s, (size_t)(t - s), "chunked");
		++*codings;
		*chunked += c;
		*last_chunked = c;
	}
}

static inline bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* May a quoted-string hold @c, as qdtext or after a backslash? HTAB, SP,
 * VCHAR, obs-text: not the other controls, nor DEL (RFC 9110 5.6.4): the
 * bytes of a field value. */
static inline bool quoted_ok(unsigned char c)
{
	return value_byte_ok(c);
}

/*
 * Scans the chunk extensions of a chunk-size line (RFC 9112 7.1.1) from
 * in[*pos], up to the CR that ends the line, and leaves *pos there:
 *   chunk-ext     = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 *   chunk-ext-val = token / quoted-string
 * They are checked, not kept: no extension means anything here. Returns
 * 1 at the CR, 0 when in[0..end) ends first, -400 when malformed (a bare
 * LF included: RFC 9112 2.2's MAY is not taken, as for field lines).
 */
static int scan_chunk_ext(const char *in, size_t end, size_t *pos)
{
	size_t p = *pos;
	int rc = 0;
	for (;;) {
		size_t ws = p;
		while (p < end && is_ows(in[p]))
			p++;
		if (p >= end)
			break;
		if (in[p] == '\r' && p == ws) {
			rc = 1;   /* BWS only before ";": "5 \r\n" is malformed */
			break;
		}
		if (in[p] != ';') {
			rc = -400;
			break;
		}
		for (p++; p < end && is_ows(in[p]); p++)
			;
		size_t name = p;
		while (p < end && is_tchar((unsigned char)in[p]))
			p++;
		if (p >= end)
			break;
		if (p == name) {
			rc = -400;
			break;
		}
		size_t after = p;
		while (p < end && is_ows(in[p]))
			p++;
		if (p >= end)
			break;
		if (in[p] != '=') {
			p = after;   /* the next ";" or the CR, back at the loop's head */
			continue;
		}
		for (p++; p < end && is_ows(in[p]); p++)
			;
		if (p >= end)
			break;
		if (in[p] == '"') {
			/* quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE */
			for (p++; p < end && in[p] != '"'; p++) {
				if (in[p] == '\\' && ++p >= end)
					break;
				if (!quoted_ok((unsigned char)in[p])) {
					rc = -400;
					break;
				}
			}
			if (rc || p >= end)
				break;
			p++;
		} else {
			size_t val = p;
			while (p < end && is_tchar((unsigned char)in[p]))
				p++;
			if (p >= end)
				break;
			if (p == val) {
				rc = -400;
				break;
			}
		}
	}
	*pos = p;
	return rc;
}

static inline unsigned hex_value(unsigned char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/*
 * Parses the chunked body (RFC 9112 7.1) of the request at the start of
 * in[0..len), from in[pos] just after its header section. Returns the
 * size of the whole request, 0 when incomplete, or -status:
 *
 *   chunked-body = *chunk last-chunk trailer-section CRLF
 *   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 *   last-chunk   = 1*("0") [ chunk-ext ] CRLF
 *
 * The data are skipped, as a Content-Length body is: the whole request
 * must fit in HTTP_IN_CAP, so 413 as soon as a chunk-size says it will
 * not, or when HTTP_IN_CAP bytes are in and the body is still not
 * ended. A chunk-size of more than CHUNK_SIZE_DIGITS hex digits is 400
 * (7.1: a recipient MUST anticipate large numerals and prevent overflow;
 * 16 digits always fit in 64 bits). Chunk extensions: checked, ignored
 * (7.1.1), HTTP_MAX_CHUNK_EXT bytes in all, above: 400 (7.1.1: a server
 * ought to limit their total length, with a 4xx). Trailer section:
 * checked as field lines, then discarded (7.1.2: a recipient MAY),
 * field lines of HTTP_MAX_TRAILER bytes in all, above: 431 as for the
 * header section. Any other fault in the framing: 400.
 *
 * Each byte is judged by those before it alone, and "incomplete" is
 * only said at the end of the input: the answer does not depend on how
 * the input was split, and a call resumes (by parsing again from the
 * request's start: data are jumped over, so that costs a few steps per
 * chunk) wherever the previous one stopped.
 */
#define CHUNK_SIZE_DIGITS 16

/* Not inlined: parse_request, on every request, stays small. */
static __attribute__((noinline)) long parse_chunked(const char *in, size_t len, size_t pos)
{
	const size_t end = len < HTTP_IN_CAP ? len : HTTP_IN_CAP;
	const long incomplete = len >= HTTP_IN_CAP ? -413 : 0;
	size_t ext = 0;   /* chunk extension bytes so far */
	for (;;) {
		unsigned long long size = 0;
		size_t s = pos;
		while (pos < end && is((unsigned char)in[pos], C_HEX)) {
			if (pos - s == CHUNK_SIZE_DIGITS)
				return -400;
			size = size << 4 | hex_value((unsigned char)in[pos++]);
		}
		if (pos >= end)
			return incomplete;
		if (pos == s)
			return -400;
		size_t e = pos;
		int rc = scan_chunk_ext(in, end, &pos);
		ext += pos - e;
		if (rc < 0 || ext > HTTP_MAX_CHUNK_EXT)
			return -400;
		if (rc == 0 || pos + 1 >= end)
			return incomplete;
		if (in[pos + 1] != '\n')
			return -400;   /* a bare CR */
		pos += 2;
		if (size == 0)
			break;
		/* The data, their CRLF, then at least "0" CRLF CRLF. */
		if (size > HTTP_IN_CAP - pos || HTTP_IN_CAP - pos - size < 7)
			return -413;
		pos += (size_t)size;
		if (pos >= end)
			return incomplete;
		if (in[pos] != '\r')
			return -400;
		if (pos + 1 >= end)
			return incomplete;
		if (in[pos + 1] != '\n')
			return -400;
		pos += 2;
	}
	/* trailer-section = *( field-line CRLF ), then the final CRLF */
	const size_t t0 = pos;
	for (;;) {
		if (pos >= end)
			return incomplete;
		if (in[pos] == '\r') {
			if (pos + 1 >= end)
				return incomplete;
			if (in[pos + 1] != '\n')
				return -400;
			return (long)(pos + 2);
		}
		size_t lim = end - t0 > HTTP_MAX_TRAILER ? t0 + HTTP_MAX_TRAILER : end;
		const char *le = memchr(in + pos, '\n', lim - pos);
		if (!le)
			return lim < end || end - t0 == HTTP_MAX_TRAILER ? -431 : incomplete;
		const char *p = in + pos, *ve = le - 1;
		if (le == p || *ve != '\r')
			return -400;   /* a bare LF */
		const char *n = p;
		while (p < ve && is_tchar((unsigned char)*p))
			p++;
		if (p == n || p >= ve || *p != ':')
			return -400;   /* as for a header field line */
		for (p++; p < ve; p++)
			if (!value_byte_ok((unsigned char)*p))
				return -400;
		pos = (size_t)(le + 1 - in);
	}
}

#define NAME(s) s, sizeof s - 1

/*
 * The framing a Transfer-Encoding gives the request whose field lines,
 * already checked, are [p, e) (each ending in CRLF): 0 for chunked, or
 * -status. All its lines are one list (RFC 9110 5.3). RFC 9112 6.1 and
 * 6.3: the final coding not chunked: 400 (6.3 item 4 MUST); chunked
 * twice: 400 (6.1: a sender MUST NOT); codings before chunked are not
 * understood here: 501 (6.1 SHOULD). Found again here, off the path of
 * requests without it, rather than counted in the header loop.
 */
static __attribute__((noinline)) int te_framing(const char *p, const char *e)
{
	unsigned codings = 0, chunked = 0;
	bool last_chunked = false;
	while (p < e) {
		const char *le = memchr(p, '\n', (size_t)(e - p));
		const char *colon = memchr(p, ':', (size_t)(le - p));
		if (name_is(p, (size_t)(colon - p), NAME("transfer-encoding")))
			count_codings(colon + 1, le - 1, &codings, &chunked, &last_chunked);
		p = le + 1;
	}
	if (!last_chunked || chunked > 1)
		return -400;
	return codings > 1 ? -501 : 0;
}

static inline const char *skip_ows(const char *p, const char *e)
{
	while (p < e && is_ows(*p))
		p++;
	return p;
}

/*
 * Finds the field line at p, in [p, lim): sets *colon to its colon and
 * *le to its LF, and returns 0; 1 when its LF has not come yet; -400 for
 * a line that is not a name then ':' then a field value then CRLF.
 */
static int field_line(const char *p, const char *lim, const char **colon, const char **le)
{
	/*
	 * One pass first: the name and the value are scanned to the
	 * window's end, not the line's. When a CRLF follows where the value
	 * stops, no byte before that CR is an LF (a name holds tchars, a
	 * value no control but HTAB), so the line is the one memchr would
	 * find, and its name and value are what the checks below accept.
	 */
	const char *c = span(p, lim, C_TCHAR);
	if (c > p && c < lim && *c == ':') {
		const char *x = value_end(c + 1, lim);
		if (crlf_at(x, lim)) {
			*colon = c;
			*le = x + 1;
			return 0;
		}
	}
	/* The line's end first, then its parts, each with its answer. */
	const char *l = p < lim ? memchr(p, '\n', (size_t)(lim - p)) : NULL;
	if (!l)
		return 1;
	if (l == p || l[-1] != '\r')
		return -400;
	const char *ve = l - 1;
	for (c = p; c < ve && is_tchar((unsigned char)*c); c++)
		;
	/* Not a name then ":": whitespace before the colon (RFC 9112 5.1
	 * MUST 400), obs-fold (5.2: 400, not the SP replacement), whitespace
	 * after the request line (2.2: rejected rather than skipped), a bare
	 * CR (2.2), no colon. */
	if (c == p || c >= ve || *c != ':')
		return -400;
	/* RFC 9110 5.5: CR, LF, NUL and the other controls but HTAB are
	 * rejected, not replaced or kept. */
	if (!value_ok(c + 1, ve))
		return -400;
	*colon = c;
	*le = l;
	return 0;
}

/*
 * Parses one request at the start of in[0..len): its size (> 0), 0 when
 * incomplete, or -status for an error response. One pass, line by line:
 * each line is checked as soon as its LF has arrived, so a complete but
 * bad line is an error at once, however long the rest takes to come.
 * What depends on the whole header section (a missing Host, framing by
 * Transfer-Encoding) is decided at its end, so the answer does not
 * depend on how the input was split.
 */
static long parse_request(const char *in, size_t len, struct http_req *r)
{
	memset(r, 0, sizeof *r);
	const char *lim = in + (len < HTTP_MAX_HEADER ? len : HTTP_MAX_HEADER);
	const long incomplete = len >= HTTP_MAX_HEADER ? -431 : 0;
	int minor = 1;
	/*
	 * One pass over the request line when it ends in "HTTP/1.1" CRLF:
	 * method and target are parsed up to the window's end instead of
	 * the line's, then that version and CRLF follow. None of the bytes
	 * before that CR can be an LF (a method, a target and "HTTP/1.1" do
	 * not hold one), so the line is the one memchr would have found,
	 * and its parts were judged as parse_request_line judges them (see
	 * parse_method_target). Anything else takes the general path
	 * below, from the start, for its exact answer.
	 */
	const char *p = in, *eol;
	int rc;
	if (parse_method_target(&p, lim, r) == 0 && lim - p >= 10 &&
	    !memcmp(p, "HTTP/1.1\r\n", 10)) {
		eol = p + 9;
	} else {
		memset(r, 0, sizeof *r);
		eol = memchr(in, '\n', (size_t)(lim - in));
		if (!eol) {
			if (!incomplete)
				return 0;
			/* The request line fills the window: 414 if its target is
			 * already over the limit, else the head is too large. */
			return parse_request_line(in, lim, r, &minor) == -414 ? -414 : -431;
		}
		/* RFC 9112 2.2: a line ends with CRLF; the MAY to take a bare
		 * LF is not taken. */
		if (eol == in || eol[-1] != '\r')
			return -400;
		rc = parse_request_line(in, eol - 1, r, &minor);
		if (rc < 0)
			return rc;
	}

	bool keep_alive = false, host = false, have_cl = false, te = false;
	bool expect = false;
	unsigned long long cl = 0;
	p = eol + 1;
	for (;;) {
		/* An empty line ends the header section. */
		if (crlf_at(p, lim))
			break;
		/*
		 * "Host:" (any case) first, in one pass: its letters are
		 * tchars and ':' is not, so the name field_line() would find
		 * is "host". The value is scanned by host_end() to the window's
		 * end, not the line's: when OWS then CRLF follow where it
		 * stops, none of the bytes before that CR is an LF (host_end
		 * accepts VCHARs only), so the line is the one memchr would
		 * find; the trimmed value ends where host_end stopped, at a
		 * byte it accepts nowhere, so host_ok on it holds. value_ok
		 * holds too: OWS and VCHARs are bytes a field value may hold.
		 * Anything else (an invalid Host included) takes the general
		 * path, for its exact answer.
		 */
		if (lim - p >= 5 && lower4_is(p, "host") && p[4] == ':') {
			const char *x = host_end(skip_ows(p + 5, lim), lim);
			const char *y = x ? skip_ows(x, lim) : NULL;
			if (y && crlf_at(y, lim)) {
				/* RFC 9112 3.2: more than one Host: 400. */
				if (host)
					return -400;
				host = true;
				p = y + 2;
				continue;
			}
		}
		const char *colon, *le;
		rc = field_line(p, lim, &colon, &le);
		if (rc)
			return rc > 0 ? incomplete : rc;
		const char *n = p, *v = colon + 1, *ve = le - 1;
		size_t nlen = (size_t)(colon - n);
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		const char *vend = ve;
		while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
			vend--;
		if (name_is(n, nlen, NAME("host"))) {
			/* RFC 9112 3.2: more than one Host, or an invalid one: 400. */
			if (host || !host_ok(v, vend))
				return -400;
			host = true;
		} else if (name_is(n, nlen, NAME("content-length"))) {
			/* RFC 9112 6.3 item 5: invalid, or differing values: 400.
			 * Field lines repeating the same value are one (RFC 9110
			 * 8.6 MAY). */
			unsigned long long x = 0;
			if (!parse_content_length(v, vend, &x) || (have_cl && x != cl))
				return -400;
			have_cl = true;
			cl = x;
		} else if (name_is(n, nlen, NAME("transfer-encoding"))) {
			te = true;   /* its codings: te_framing() */
		} else if (name_is(n, nlen, NAME("connection"))) {
			if (has_token(v, vend, "close"))
				r->close = true;
			if (has_token(v, vend, "keep-alive"))
				keep_alive = true;
		} else if (name_is(n, nlen, NAME("expect"))) {
			/* RFC 9110 10.1.1; other expectations are ignored (417
			 * is a MAY). */
			if (has_token(v, vend, "100-continue"))
				expect = true;
		}
		p = le + 1;
	}
	size_t head = (size_t)(p - in) + 2;
	/* RFC 9112 3.2: an HTTP/1.1 request without Host: 400. */
	if (minor == 1 && !host)
		return -400;
	if (te) {
		/*
		 * RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 is faulty
		 * framing; with Content-Length too, the request MAY be
		 * rejected (it is: a smuggling attempt, 6.3 item 3); then
		 * the codings (te_framing), then the chunked body. Every
		 * error response closes the connection, as 6.1 and 6.3
		 * require.
		 */
		if (minor == 0 || have_cl)
			return -400;
		rc = te_framing(eol + 1, p);
		long size = rc < 0 ? rc : parse_chunked(in, len, head);
		if (size == 0)   /* the 100 as below; HTTP/1.1 here */
			r->expect_continue = expect && len == head;
		return size;
	}
	if (minor == 0 && !keep_alive)
		r->close = true;
	if (cl > HTTP_IN_CAP - head)
		return -413;
	r->size = head + (size_t)cl;
	if (r->size <= len)
		return (long)r->size;
	/* RFC 9110 10.1.1: an HTTP/1.1 (not 1.0: MUST ignore) request that
	 * expects 100-continue gets an immediate 100 once its head is in,
	 * if its body has not come yet (the 100 MAY be left out once some
	 * of it has). */
	r->expect_continue = expect && minor == 1 && len == head;
	return 0;
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
		: status == 414 ? "URI Too Long"
		: status == 501 ? "Not Implemented"
		: status == 505 ? "HTTP Version Not Supported" : "Bad Request";
	int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\nServer: weft\r\nContent-Length: 0\r\n"
			 "Connection: close\r\nDate: %s\r\n\r\n", status, reason, date);
	return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

void http_process(const char *in, size_t len, char *out, size_t cap, http_batch *b)
{
	bool continued = b->continued;
	memset(b, 0, sizeof *b);
	b->continued = continued;
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
	/* Kept in locals, stored at the end: stores through out, a char
	 * pointer, would otherwise make the compiler reload them from *b. */
	size_t consumed = 0, out_len = 0;

	while (consumed < len && cap - out_len >= room) {
		/* Leading empty lines (CRLF) before a request line are
		 * skipped: RFC 9112 2.2 says a server SHOULD ignore at least
		 * one. A bare LF is not an empty line here. */
		while (len - consumed >= 2 && in[consumed] == '\r' && in[consumed + 1] == '\n')
			consumed += 2;
		if (consumed >= len)
			break;
		struct http_req r;
		long rc = parse_request(in + consumed, len - consumed, &r);
		char *o = out + out_len;
		if (rc == 0) {
			if (r.expect_continue && !b->continued) {
				static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
				out_len += put(o, cont, sizeof cont - 1);
				b->continued = true;
			}
			break;
		}
		if (rc < 0) {
			out_len += write_error(o, cap - out_len, (int)-rc, http_date());
			b->close = true;
			b->error = true;
			b->last_status = (int)-rc;
			consumed = len;
			break;
		}
		consumed += (size_t)rc;
		b->continued = false;
		size_t n = 0;
		if (r.method > HTTP_HEAD) {
			/* RFC 9110 9.1 and 15.6.2: a method not recognized
			 * SHOULD get 501; one known but not allowed gets 405,
			 * which MUST carry Allow (15.5.6). The request was
			 * framed either way (9112 6.3 does not depend on the
			 * method): the connection stays open. */
			bool known = r.method == HTTP_KNOWN;
			int k = snprintf(o, cap - out_len, "HTTP/1.1 %s\r\nServer: weft\r\n%s"
					 "Content-Length: 0\r\nDate: %s\r\n%s\r\n",
					 known ? "405 Method Not Allowed" : "501 Not Implemented",
					 known ? "Allow: GET, HEAD\r\n" : "", http_date(),
					 r.close ? "Connection: close\r\n" : "");
			n = (size_t)k;
			b->last_status = known ? 405 : 501;
		} else if (!r.hello) {
			int k = snprintf(o, cap - out_len, "HTTP/1.1 404 Not Found\r\n"
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
		out_len += n;
		if (r.close) {
			b->close = true;
			break;
		}
	}
	b->consumed = consumed;
	b->out_len = out_len;
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
		if (weft_stream_poll_read(t->sc.stream, cx, t->in, sizeof t->in, &t->n) == WEFT_PENDING)
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
			WEFT_AWAIT(&t->co, weft_write_all_poll(&t->wr, cx));
			if (t->wr.result < 0)
				break;
		}
		if (t->b.close) {
			if (t->b.error) {
				weft_stream_shutdown(t->sc.stream, SHUT_WR);
				weft_sleep_init(&t->linger, WEFT_SEC(1));
				WEFT_AWAIT(&t->co, http_linger_poll(t, cx));
			}
			break;
		}
		if (t->b.consumed && t->in_len)
			continue;            /* the write buffer was full: answer the rest */
		WEFT_AWAIT(&t->co, weft_stream_poll_read(t->sc.stream, cx, t->in + t->in_len,
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
	weft_stream_close(t->sc.stream);
}

int http_spawn_conn(weft_runtime *rt, weft_stream *stream)
{
	http_conn t = { .fut = WEFT_FUTURE(http_conn_poll, http_conn_drop),
			.sc = { .stream = stream, .counted = true } };
	int rc = weft_spawn_detached(rt, &t.fut, sizeof t);   /* copied in */
	if (rc < 0)
		weft_stream_close(stream);
	return rc;
}
