/*
 * serve.h - what the example servers share: command-line parsing, the
 * runtime, the accept loop, the list of open connections, and a clean
 * stop on SIGINT/SIGTERM (stop accepting, let connections finish for a
 * few seconds, abort the rest, free everything) with metrics on SIGQUIT.
 *
 * A server provides one function that spawns the task for a new
 * connection; that task embeds a serve_conn, calls serve_conn_enter at
 * its first poll and serve_conn_leave in its drop, before closing the
 * stream.
 */
#ifndef WEFT_EXAMPLE_SERVE_H
#define WEFT_EXAMPLE_SERVE_H

#include <weft.h>

/* A connection's place in the list of open connections. */
typedef struct serve_conn {
	weft_stream *stream;        /* owned by the connection task */
	struct serve_conn *prev, *next;
	bool linked;
	bool counted;                   /* set by the accept loop */
} serve_conn;

/* Spawns the task for @stream (taking ownership of it even on error:
 * close it then). 0 or -errno. */
typedef int (*serve_spawn_fn)(weft_runtime *rt, weft_stream *stream);

/* Joins the list (first poll of the connection task). If the server is
 * already draining, the stream's read side is shut at once. */
void serve_conn_enter(serve_conn *c);
/* Leaves the list (the connection task's drop; safe if never entered). */
void serve_conn_leave(serve_conn *c);
/* True once the server stopped accepting: finish the current request,
 * then close. */
bool serve_draining(void);

/* The accept loop, usable on its own (tests): spawns @spawn for every
 * connection on @lis. Runs until dropped; does not own @lis. */
typedef struct serve_accept {
	weft_future fut;
	weft_coro co;
	weft_listener *lis;
	weft_stream *conn;
	serve_spawn_fn spawn;
	int err;
} serve_accept;

void serve_accept_init(serve_accept *a, weft_listener *lis, serve_spawn_fn spawn);

/* Connections spawned and not yet dropped. */
long serve_live_connections(void);

/* The whole program: parses --addr HOST:PORT --workers N --metrics
 * --drain-ms MS, serves until SIGINT/SIGTERM, returns the exit status. */
int serve_main(int argc, char **argv, const char *prog, const char *default_addr,
	       serve_spawn_fn spawn);

#endif
