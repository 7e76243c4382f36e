/*
 * uv_server.c - the libuv peer: an echo or HTTP/1.1 plaintext server on
 * one libuv loop (one thread), the shape a libuv user would write.
 *
 *   libuv-echo --addr 127.0.0.1:PORT [--workers N]
 *   libuv-http --addr 127.0.0.1:PORT [--workers N]
 *
 * bench/peers/libuv/build compiles this file twice (UV_HTTP=0 and 1)
 * against Debian's libuv1-dev. --workers is accepted for the common
 * command shape and ignored: one loop, one thread.
 *
 * Echo hands each read's bytes to one uv_write. HTTP accumulates input,
 * answers every complete request head found in it with one uv_write
 * (pipelined requests share a write) and keeps the partial rest. A
 * 1-second timer refreshes the cached Date header.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#ifndef UV_HTTP
#define UV_HTTP 0
#endif

#define IN_CAP 16384

typedef struct conn {
	uv_tcp_t tcp;                   /* first: the handle's address is ours */
	size_t in_len;
	char in[IN_CAP];
} conn;

typedef struct write_req {
	uv_write_t req;
	uv_buf_t buf;
	char data[];
} write_req;

static uv_loop_t *loop;

/* ---------------------------------------------------------- HTTP */

static char response[256];
static size_t response_len;

static void response_refresh(uv_timer_t *t)
{
	(void)t;
	time_t now = time(NULL);
	struct tm tm;
	char date[48];
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	response_len = (size_t)snprintf(response, sizeof response,
		"HTTP/1.1 200 OK\r\n"
		"Server: libuv\r\n"
		"Content-Type: text/plain\r\n"
		"Content-Length: 13\r\n"
		"Date: %s\r\n"
		"\r\n"
		"Hello, World!", date);
}

/* ---------------------------------------------------- connections */

static void on_close(uv_handle_t *h)
{
	free(h);                        /* the conn: tcp is its first member */
}

static void on_write(uv_write_t *req, int status)
{
	write_req *w = (write_req *)req;
	if (status < 0 && !uv_is_closing((uv_handle_t *)req->handle))
		uv_close((uv_handle_t *)req->handle, on_close);
	free(w);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	conn *c = (conn *)h;
	(void)suggested;
	*buf = uv_buf_init(c->in + c->in_len, (unsigned)(IN_CAP - c->in_len));
}

static int send_copy(conn *c, const char *p, size_t n, size_t times)
{
	write_req *w = malloc(sizeof *w + n * times);
	if (!w)
		return UV_ENOMEM;
	for (size_t i = 0; i < times; i++)
		memcpy(w->data + i * n, p, n);
	w->buf = uv_buf_init(w->data, (unsigned)(n * times));
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &w->buf, 1, on_write);
	if (rc < 0)
		free(w);
	return rc;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	conn *c = (conn *)s;
	(void)buf;
	if (nread == 0)
		return;                 /* EAGAIN */
	if (nread < 0)
		goto close;
	c->in_len += (size_t)nread;
#if UV_HTTP
	size_t off = 0, count = 0;
	for (;;) {
		char *end = memmem(c->in + off, c->in_len - off, "\r\n\r\n", 4);
		if (!end)
			break;
		count++;
		off = (size_t)(end + 4 - c->in);
	}
	if (count == 0 && c->in_len == IN_CAP)
		goto close;             /* a request head larger than the buffer */
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	if (count && send_copy(c, response, response_len, count) < 0)
		goto close;
#else
	int rc = send_copy(c, c->in, c->in_len, 1);
	c->in_len = 0;
	if (rc < 0)
		goto close;
#endif
	return;
close:
	if (!uv_is_closing((uv_handle_t *)s))
		uv_close((uv_handle_t *)s, on_close);
}

static void on_connection(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	conn *c = calloc(1, sizeof *c);
	if (!c)
		return;
	uv_tcp_init(loop, &c->tcp);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_close);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		uv_close((uv_handle_t *)&c->tcp, on_close);
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1:8080";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--addr") && i + 1 < argc)
			addr = argv[++i];
		else if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			i++;            /* one loop, always */
		else {
			fprintf(stderr, "usage: %s --addr HOST:PORT [--workers N]\n",
				argv[0]);
			return 2;
		}
	}
	char host[64];
	const char *colon = strrchr(addr, ':');
	if (!colon || (size_t)(colon - addr) >= sizeof host) {
		fprintf(stderr, "bad address %s\n", addr);
		return 2;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = 0;

	loop = uv_default_loop();
	response_refresh(NULL);
	uv_timer_t date_timer;
	uv_timer_init(loop, &date_timer);
	uv_timer_start(&date_timer, response_refresh, 1000, 1000);
	uv_unref((uv_handle_t *)&date_timer);

	struct sockaddr_in sa;
	uv_tcp_t server;
	int rc = uv_ip4_addr(host, atoi(colon + 1), &sa);
	if (rc == 0)
		rc = uv_tcp_init(loop, &server);
	if (rc == 0)
		rc = uv_tcp_bind(&server, (const struct sockaddr *)&sa, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&server, 4096, on_connection);
	if (rc < 0) {
		fprintf(stderr, "listen %s: %s\n", addr, uv_strerror(rc));
		return 1;
	}
	return uv_run(loop, UV_RUN_DEFAULT);
}
