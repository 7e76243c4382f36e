/*
 * sched_api.h - what the runtime object offers the layers above the
 * scheduler (sync, signals, files, time futures, sockets): its drivers,
 * its blocking pools, and which runtime the calling thread runs for. The
 * object itself stays private to the scheduler (sched_runtime.h).
 */
#ifndef WEFT__SCHED_API_H
#define WEFT__SCHED_API_H

#include <weft/core.h>
#include <weft/runtime.h>

struct weft__time;
struct weft__reactor;
struct weft__blocking_pool;

/* The runtime's time driver and reactor, for the futures built on them. */
struct weft__time *weft__runtime_time(weft_runtime *rt);
struct weft__reactor *weft__runtime_reactor(weft_runtime *rt);
/* Wakes the thread parked in the runtime's driver (a new earliest timer
 * deadline, say). Any thread. */
void weft__runtime_unpark_driver(weft_runtime *rt);

/* The runtime's general pool and its name-lookup pool (blocking.h). */
struct weft__blocking_pool *weft__runtime_blocking(weft_runtime *rt);
struct weft__blocking_pool *weft__runtime_dns_blocking(weft_runtime *rt);

/* True on a thread that runs tasks (a worker, a current-thread block_on)
 * or is inside any weft_block_on: where waiting for a task would
 * deadlock (weft_block_on and the *_blocking calls refuse). */
bool weft__in_runtime_context(void);

/* The runtime the calling thread runs tasks for (a worker, or the thread
 * inside a current-thread block_on), or NULL. */
extern _Thread_local weft_runtime *weft__current_rt
	__attribute__((tls_model("initial-exec")));

#endif /* WEFT__SCHED_API_H */
