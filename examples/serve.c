/*
 * serve.c - the scaffolding the example servers share (see serve.h): the
 * runtime, the accept loop, the open-connection list, and the stop on
 * SIGINT/SIGTERM. The connection list is guarded by one mutex, taken
 * when a connection opens or closes and when draining starts, never per
 * message.
 *
 * Two things exist for bench/soak only: --stats-file PATH, a plain
 * thread that rewrites PATH every 200 ms with the live task and
 * connection counts, and WEFT_SOAK_PLANT_LEAK=N in the environment,
 * which leaks N bytes per accepted connection on purpose so the soak's
 * self-test can show it catches a leak. Neither is in the library.
 */
#include "serve.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t conns_lock = PTHREAD_MUTEX_INITIALIZER;
static serve_conn *conns;                 /* guarded by conns_lock */
static bool draining;                     /* written under conns_lock */
static _Atomic bool draining_flag;        /* lock-free view of `draining` */
static _Atomic long live;                 /* spawned and not yet dropped */
static size_t plant_leak;                 /* WEFT_SOAK_PLANT_LEAK; 0 = off */
static void *_Atomic leaked;              /* the planted leak's blocks, a list */

/* ------------------------------------------------------- connections */

void serve_conn_enter(serve_conn *c)
{
	pthread_mutex_lock(&conns_lock);
	c->prev = NULL;
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	c->linked = true;
	if (draining)
		weft_stream_shutdown(c->stream, SHUT_RD);
	pthread_mutex_unlock(&conns_lock);
}

void serve_conn_leave(serve_conn *c)
{
	if (c->linked) {
		pthread_mutex_lock(&conns_lock);
		if (c->prev)
			c->prev->next = c->next;
		else
			conns = c->next;
		if (c->next)
			c->next->prev = c->prev;
		c->linked = false;
		pthread_mutex_unlock(&conns_lock);
	}
	if (c->counted) {
		c->counted = false;
		/* Relaxed: a gauge, read for the drain loop only. */
		atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
	}
}

bool serve_draining(void)
{
	/* Relaxed: a hint; the shutdown of the read side is the real stop. */
	return atomic_load_explicit(&draining_flag, memory_order_relaxed);
}

long serve_live_connections(void)
{
	return atomic_load_explicit(&live, memory_order_relaxed);
}

/* Stops reading from every open connection: each finishes what it has
 * read, sees end of stream, and closes. */
static void serve_drain(void)
{
	pthread_mutex_lock(&conns_lock);
	draining = true;
	atomic_store_explicit(&draining_flag, true, memory_order_relaxed);
	for (serve_conn *c = conns; c; c = c->next)
		weft_stream_shutdown(c->stream, SHUT_RD);
	pthread_mutex_unlock(&conns_lock);
}

/* ------------------------------------------------------- accept loop */

/* The soak's self-test: plant_leak bytes per accepted connection, written
 * (so they count in the RSS) and kept on a list nobody frees. */
static void serve_plant_leak(void)
{
	void **p = malloc(plant_leak < sizeof(void *) ? sizeof(void *) : plant_leak);
	if (!p)
		return;
	memset(p, 0xa5, plant_leak < sizeof(void *) ? sizeof(void *) : plant_leak);
	*p = atomic_load_explicit(&leaked, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&leaked, p, p, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

static weft_poll serve_accept_poll(weft_future *f, weft_cx *cx)
{
	serve_accept *a = (serve_accept *)f;
	WEFT_BEGIN(&a->co);
	for (;;) {
		WEFT_AWAIT(&a->co, weft_listener_poll_accept(a->lis, cx, &a->conn, &a->err));
		if (a->err < 0)
			continue;                /* EMFILE etc.: the listener backs off */
		weft_tcp_set_nodelay(a->conn, true);
		if (plant_leak)
			serve_plant_leak();
		atomic_fetch_add_explicit(&live, 1, memory_order_relaxed);
		if (a->spawn(weft_cx_runtime(cx), a->conn) < 0)
			atomic_fetch_sub_explicit(&live, 1, memory_order_relaxed);
	}
	WEFT_END(&a->co);
}

void serve_accept_init(serve_accept *a, weft_listener *lis, serve_spawn_fn spawn)
{
	memset(a, 0, sizeof *a);
	a->fut = WEFT_FUTURE(serve_accept_poll, NULL);
	a->lis = lis;
	a->spawn = spawn;
}

/* ----------------------------------------------------------- metrics */

static void serve_print_metrics(weft_runtime *rt, FILE *out)
{
	weft_runtime_metrics m;
	if (weft_runtime_metrics_get(rt, &m, sizeof m) < 0)
		return;
	fprintf(out, "runtime: backend=%s workers=%u live_tasks=%llu spawned=%llu inject_depth=%llu "
		"remote_schedules=%llu io_events=%llu timers_fired=%llu connections=%ld\n",
		weft_backend_name((weft_backend)m.backend), m.workers, (unsigned long long)m.live_tasks, (unsigned long long)m.spawned_tasks,
		(unsigned long long)m.inject_depth, (unsigned long long)m.remote_schedules,
		(unsigned long long)m.io_events, (unsigned long long)m.timers_fired,
		serve_live_connections());
	for (uint32_t i = 0; i < m.workers; i++) {
		weft_worker_metrics w;
		if (weft_runtime_worker_metrics(rt, i, &w, sizeof w) < 0)
			continue;
		fprintf(out, "worker %u: polls=%llu steals=%llu steal_ops=%llu parks=%llu "
			"unparks=%llu local=%llu remote=%llu overflows=%llu lifo=%llu depth=%llu\n",
			i, (unsigned long long)w.polls, (unsigned long long)w.steals,
			(unsigned long long)w.steal_operations, (unsigned long long)w.parks,
			(unsigned long long)w.unparks, (unsigned long long)w.local_schedules,
			(unsigned long long)w.remote_schedules, (unsigned long long)w.overflows,
			(unsigned long long)w.lifo_hits, (unsigned long long)w.local_queue_depth);
	}
	fflush(out);
}

/* ------------------------------------------------------ stats file */

/* --stats-file: a plain thread (the metrics getters are for any thread)
 * that rewrites the file every 200 ms, through a rename so a reader never
 * sees half a line: "live_tasks=N connections=N spawned=N". */
typedef struct serve_stats {
	weft_runtime *rt;
	const char *path;
	char tmp[4096];
	pthread_t thread;
	_Atomic bool stop;
} serve_stats;

static void serve_stats_write(serve_stats *s)
{
	weft_runtime_metrics m;
	if (weft_runtime_metrics_get(s->rt, &m, sizeof m) < 0)
		return;
	FILE *f = fopen(s->tmp, "w");
	if (!f)
		return;
	fprintf(f, "live_tasks=%zu connections=%ld spawned=%llu\n",
		weft_runtime_live_tasks(s->rt), serve_live_connections(),
		(unsigned long long)m.spawned_tasks);
	if (fclose(f) == 0)
		rename(s->tmp, s->path);
}

static void *serve_stats_main(void *arg)
{
	serve_stats *s = arg;
	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		serve_stats_write(s);
		nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000000L }, NULL);
	}
	return NULL;
}

/* ------------------------------------------------------------- root */

/* SIGQUIT: print the metrics and the task dump, as often as it comes. Its
 * own task, so that one listener stays registered for the whole run (a
 * select would drop it each time another child wins, letting SIGQUIT's
 * default action, a core dump, back in between). */
typedef struct serve_quit {
	weft_future fut;
	weft_coro co;
	weft_signal quit;
} serve_quit;

static weft_poll serve_quit_poll(weft_future *f, weft_cx *cx)
{
	serve_quit *q = (serve_quit *)f;
	WEFT_BEGIN(&q->co);
	weft_signal_init(&q->quit, WEFT_SIGNAL_BIT(SIGQUIT));
	for (;;) {
		WEFT_AWAIT(&q->co, weft_signal_poll(&q->quit, cx));
		if (q->quit.result < 0)
			WEFT_RETURN(&q->co, q->quit.result);
		serve_print_metrics(weft_cx_runtime(cx), stderr);
		weft_runtime_dump_tasks(weft_cx_runtime(cx), stderr);
		weft_signal_rearm(&q->quit);
	}
	WEFT_END(&q->co);
}

static void serve_quit_drop(weft_future *f)
{
	weft_signal_drop(&((serve_quit *)f)->quit);
}

typedef struct serve_root {
	weft_future fut;
	weft_coro co;
	const char *prog;
	weft_listener *lis;
	serve_spawn_fn spawn;
	weft_join_handle *acceptor, *quitter;
	/* "the accept loop ends or SIGINT/SIGTERM arrives": a select of the
	 * acceptor's handle (as a future) and the stop listener. */
	weft_join_task accept_end;
	weft_signal stop;
	weft_select until;
	weft_join_task acceptor_gone;
	weft_sleep nap;
	weft_instant deadline;
	uint64_t drain_ns;
} serve_root;

static weft_poll serve_root_poll(weft_future *f, weft_cx *cx)
{
	serve_root *r = (serve_root *)f;
	WEFT_BEGIN(&r->co);
	{
		serve_accept a;
		serve_accept_init(&a, r->lis, r->spawn);
		int rc = weft_spawn(weft_cx_runtime(cx), &a.fut, sizeof a, &r->acceptor);
		if (rc < 0)
			WEFT_RETURN(&r->co, rc);
		serve_quit q = { .fut = WEFT_FUTURE(serve_quit_poll, serve_quit_drop) };
		rc = weft_spawn(weft_cx_runtime(cx), &q.fut, sizeof q, &r->quitter);
		if (rc < 0)
			WEFT_RETURN(&r->co, rc);
	}
	weft_join_task_init(&r->accept_end, r->acceptor);
	weft_signal_init(&r->stop, WEFT_SIGNAL_BIT(SIGINT) | WEFT_SIGNAL_BIT(SIGTERM));
	weft_select2_init(&r->until, &r->accept_end.fut, &r->stop.fut);
	WEFT_AWAIT(&r->co, weft_select_poll(&r->until, cx));
	if (r->until.winner == 0) {
		fprintf(stderr, "%s: the accept loop ended (%s), draining %ld connections\n",
			r->prog, r->accept_end.result ? strerror(-r->accept_end.result) : "done",
			serve_live_connections());
	} else if (r->stop.result < 0) {
		fprintf(stderr, "%s: cannot listen for signals: %s\n", r->prog,
			strerror(-r->stop.result));
		WEFT_RETURN(&r->co, r->stop.result);
	} else {
		fprintf(stderr, "%s: %s: stop accepting, draining %ld connections\n", r->prog,
			strsignal(r->stop.result), serve_live_connections());
	}
	/* The select dropped the wrapper, which leaves the task running:
	 * abort it and wait until it is gone before closing its listener. */
	weft_join_handle_abort(r->acceptor);
	weft_join_task_init(&r->acceptor_gone, r->acceptor);
	WEFT_AWAIT(&r->co, weft_join_task_poll(&r->acceptor_gone, cx));
	weft_join_task_drop(&r->acceptor_gone);
	weft_join_handle_close(r->acceptor);
	r->acceptor = NULL;
	weft_listener_close(r->lis);
	r->lis = NULL;
	serve_drain();
	r->deadline = weft_now(weft_cx_runtime(cx)) + r->drain_ns;
	while (serve_live_connections() > 0 && weft_now(weft_cx_runtime(cx)) < r->deadline) {
		weft_sleep_init(&r->nap, WEFT_MS(10));
		WEFT_AWAIT(&r->co, weft_sleep_poll(&r->nap, cx));
		weft_sleep_drop(&r->nap);
	}
	WEFT_END(&r->co);
}

static void serve_root_drop(weft_future *f)
{
	serve_root *r = (serve_root *)f;
	weft_select_drop(&r->until);       /* drops accept_end and stop, once */
	weft_join_task_drop(&r->acceptor_gone);
	weft_sleep_drop(&r->nap);
	if (r->acceptor) {
		weft_join_handle_abort(r->acceptor);
		weft_join_handle_close(r->acceptor);
		r->acceptor = NULL;
	}
	if (r->quitter) {
		weft_join_handle_abort(r->quitter);
		weft_join_handle_close(r->quitter);
		r->quitter = NULL;
	}
}

/* -------------------------------------------------------------- main */

/* Listens on @addr: a numeric address at once, a host name
 * ("localhost:7000") through the weft_listen future, which resolves it on
 * the runtime's DNS pool. 0 or -errno. */
static int serve_listen(weft_runtime *rt, const char *addr, weft_listener **out)
{
	int rc = weft_tcp_listen(out, addr, 4096);
	if (rc != -EINVAL)
		return rc;
	weft_listen l;
	weft_tcp_listen_options o = { .backlog = 4096 };
	weft_tcp_listen_init(&l, addr, &o);
	rc = weft_block_on(rt, &l.fut);
	if (rc == 0)
		rc = l.result;
	*out = l.listener;      /* ours now; NULL unless rc == 0 */
	l.listener = NULL;
	weft_listen_drop(&l);
	return rc;
}

static void serve_usage(const char *prog, const char *default_addr)
{
	fprintf(stderr, "usage: %s [--addr HOST:PORT] [--workers N] [--backend NAME] [--metrics]\n"
		"       [--drain-ms MS] [--stats-file PATH]\n"
		"  --addr     address to listen on: numeric or a host name (default %s)\n"
		"  --workers  worker threads (default: one per CPU)\n"
		"  --backend  I/O backend: auto (default), epoll, io_uring or kqueue;\n"
		"             one this build lacks is refused (WEFT_BACKEND overrides)\n"
		"  --metrics  print the runtime metrics to stderr at shutdown\n"
		"  --drain-ms how long open connections may take to finish (default 5000)\n"
		"  --stats-file rewrite PATH every 200 ms with the live task and connection\n"
		"             counts (bench/soak reads it)\n"
		"SIGINT/SIGTERM: stop cleanly; SIGQUIT: print the metrics.\n",
		prog, default_addr);
}

int serve_main(int argc, char **argv, const char *prog, const char *default_addr,
	       serve_spawn_fn spawn)
{
	const char *addr = default_addr, *stats_file = NULL;
	long workers = 0, drain_ms = 5000;
	uint32_t backend = WEFT_BACKEND_AUTO;
	bool metrics = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;
		if (!strcmp(a, "--addr") && v) {
			addr = v;
			i++;
		} else if (!strcmp(a, "--workers") && v) {
			workers = strtol(v, &end, 10);
			if (*end || workers < 0 || workers > (long)WEFT_MAX_WORKERS)
				goto usage;
			i++;
		} else if (!strcmp(a, "--backend") && v) {
			backend = UINT32_MAX;
			for (uint32_t b = 0; weft_backend_name((weft_backend)b); b++)
				if (!strcmp(v, weft_backend_name((weft_backend)b)))
					backend = b;
			if (backend == UINT32_MAX)
				goto usage;
			i++;
		} else if (!strcmp(a, "--drain-ms") && v) {
			drain_ms = strtol(v, &end, 10);
			if (*end || drain_ms < 0 || drain_ms > 3600000)
				goto usage;
			i++;
		} else if (!strcmp(a, "--stats-file") && v) {
			stats_file = v;
			i++;
		} else if (!strcmp(a, "--metrics")) {
			metrics = true;
		} else {
			goto usage;
		}
	}

	const char *leak = getenv("WEFT_SOAK_PLANT_LEAK");
	if (leak && *leak) {
		plant_leak = strtoul(leak, NULL, 10);
		fprintf(stderr, "%s: WEFT_SOAK_PLANT_LEAK: leaking %zu bytes per connection\n",
			prog, plant_leak);
	}

	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = (uint32_t)workers, .backend = backend };
	int rc = weft_runtime_new(&rt, &cfg);
	if (rc < 0) {
		fprintf(stderr, "%s: runtime (backend %s): %s\n", prog,
			weft_backend_name((weft_backend)backend), strerror(-rc));
		return 1;
	}
	weft_listener *lis;
	rc = serve_listen(rt, addr, &lis);
	if (rc < 0) {
		fprintf(stderr, "%s: listen on %s: %s\n", prog, addr, strerror(-rc));
		weft_runtime_close(rt);
		return 1;
	}
	weft_addr bound;
	char text[WEFT_ADDR_STRLEN] = "?";
	if (weft_listener_local_addr(lis, &bound) == 0)
		weft_addr_format(&bound, text, sizeof text);
	weft_runtime_metrics m;
	weft_runtime_metrics_get(rt, &m, sizeof m);
	fprintf(stderr, "%s: listening on %s, %u worker%s, %s, pid %ld\n", prog, text,
		m.workers, m.workers == 1 ? "" : "s", weft_backend_name((weft_backend)m.backend),
		(long)getpid());

	serve_stats *stats = NULL;
	if (stats_file) {
		stats = calloc(1, sizeof *stats);
		if (!stats || (size_t)snprintf(stats->tmp, sizeof stats->tmp, "%s.tmp",
					       stats_file) >= sizeof stats->tmp) {
			fprintf(stderr, "%s: --stats-file: path too long or out of memory\n", prog);
			free(stats);
			weft_listener_close(lis);
			weft_runtime_close(rt);
			return 1;
		}
		stats->rt = rt;
		stats->path = stats_file;
		serve_stats_write(stats);        /* the file exists once we listen */
		if (pthread_create(&stats->thread, NULL, serve_stats_main, stats) != 0) {
			fprintf(stderr, "%s: --stats-file: cannot start its thread\n", prog);
			free(stats);
			stats = NULL;
		}
	}

	serve_root r;
	memset(&r, 0, sizeof r);
	r.fut = WEFT_FUTURE(serve_root_poll, serve_root_drop);
	r.prog = prog;
	r.lis = lis;
	r.spawn = spawn;
	r.drain_ns = WEFT_MS(drain_ms);
	rc = weft_block_on(rt, &r.fut);
	if (rc == 0)
		rc = r.co.result;
	long left = serve_live_connections();
	if (left > 0)
		fprintf(stderr, "%s: aborting %ld connections\n", prog, left);
	if (metrics)
		serve_print_metrics(rt, stderr);
	if (stats) {
		atomic_store_explicit(&stats->stop, true, memory_order_relaxed);
		pthread_join(stats->thread, NULL);
		free(stats);
	}
	weft_runtime_close(rt);           /* drops every connection left */
	weft_listener_close(r.lis);  /* NULL once the root closed it */
	if (rc < 0)
		return 1;
	fprintf(stderr, "%s: stopped\n", prog);
	return 0;
usage:
	serve_usage(prog, default_addr);
	return 2;
}
