/*
 * http_proto.h - the HTTP/1.1 part of weft-http: parse every complete
 * request in a read buffer and answer them all into one write buffer
 * (pipelining), in the TechEmpower "plaintext" shape; and the connection
 * task that drives it. No allocation; plain functions a test can call.
 */
#ifndef WEFT_EXAMPLE_HTTP_PROTO_H
#define WEFT_EXAMPLE_HTTP_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#include "serve.h"

#define HTTP_MAX_HEADER 8192      /* header section limit: above, 431 */
#define HTTP_MAX_TARGET 4096      /* request-target limit: above, 414 */
#define HTTP_IN_CAP 16384         /* read buffer: one request with its body must fit */
#define HTTP_MAX_CHUNK_EXT 1024   /* chunk extensions of one request: above, 400 */
#define HTTP_MAX_TRAILER 4096     /* trailer field lines of one request: above, 431 */
#define HTTP_OUT_CAP 8192         /* write buffer: responses of one batch */
#define HTTP_DATE_LEN 29          /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* What one call of http_process did. */
typedef struct http_batch {
	size_t consumed;   /* input bytes of the requests answered */
	size_t out_len;    /* response bytes written to out */
	bool close;        /* close the connection after writing out */
	int last_status;   /* status of the last final response (0: none) */
	bool error;        /* that response is an error of the parser, after
			      which the connection closes (linger first) */
	bool continued;    /* kept across calls: a 100 (Continue) went out for
			      the request at the start of the unconsumed input */
} http_batch;

/*
 * Answers the complete requests at the start of in[0..len), in order,
 * while their responses fit in out[0..cap) (cap >= 512). Stops at an
 * incomplete request (consumed tells where it starts), or after an error
 * response, which sets close, as does "Connection: close" or HTTP/1.0
 * without keep-alive. The errors follow RFC 9110 and 9112: 400 malformed
 * (request line, field line, Host, Content-Length, Transfer-Encoding,
 * chunked framing, chunk extensions over HTTP_MAX_CHUNK_EXT), 414
 * request-target over HTTP_MAX_TARGET, 431 header section over
 * HTTP_MAX_HEADER or trailer section over HTTP_MAX_TRAILER, 413 request
 * with its body larger than HTTP_IN_CAP, 501 a transfer coding other
 * than chunked, 505 HTTP major version other than 1.
 * Request bodies, framed by Content-Length or chunked (RFC 9112 7.1,
 * trailer fields discarded), are read and skipped; when one is awaited
 * with "Expect: 100-continue", a 100 (Continue) goes out once.
 * @b carries that fact from call to call: zero it for a new connection.
 * GET and HEAD of / and /plaintext (origin-form, or absolute-form of an
 * http or https URI) give "Hello, World!"; other targets 404; the other
 * methods of RFC 9110 (POST, PUT, DELETE, CONNECT, OPTIONS, TRACE) 405
 * with "Allow: GET, HEAD", any other method 501 (RFC 9110 9.1). These
 * three keep the connection open.
 */
void http_process(const char *in, size_t len, char *out, size_t cap, http_batch *b);

/* The IMF-fixdate of now, cached per thread and refreshed when the
 * second changes (one vDSO clock read per call). */
const char *http_date(void);

/* Spawns the connection task for @stream (serve_spawn_fn). */
int http_spawn_conn(weft_runtime *rt, weft_stream *stream);

#endif
