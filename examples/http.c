/*
 * http.c - weft-http: an HTTP/1.1 server in the TechEmpower plaintext
 * shape (keep-alive, pipelining, "Hello, World!"). The protocol is in
 * http_proto.c, the server scaffolding in serve.c.
 *
 *	weft-http --addr 127.0.0.1:8080 --workers 2
 *	wrk -t1 -c100 -d10s http://127.0.0.1:8080/plaintext
 */
#include "http_proto.h"

int main(int argc, char **argv)
{
	return serve_main(argc, argv, "weft-http", "127.0.0.1:8080", http_spawn_conn);
}
