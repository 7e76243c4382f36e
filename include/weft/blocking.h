/*
 * weft/blocking.h - running blocking functions on the runtime's blocking
 * pool, and awaiting their results from a task (Tokio's spawn_blocking).
 *
 * A worker thread must never block: while it does, the tasks queued on it
 * wait. Code that blocks (a CPU-heavy computation, a library without an
 * async API, file I/O) goes to the blocking pool instead: a set of threads
 * the runtime starts on demand, up to weft_runtime_config.blocking_threads
 * (default WEFT_BLOCKING_DEFAULT_THREADS), each exiting after
 * blocking_keep_alive_ms without work (default
 * WEFT_BLOCKING_DEFAULT_KEEP_ALIVE_MS). Jobs beyond the cap wait in a FIFO
 * queue. Name lookups (weft_resolve) run on a separate small pool, so slow
 * DNS never holds up this one, and the file API (weft/fs.h) runs here.
 *
 * A job runs `fn(arg)` exactly once on a pool thread, unless the runtime
 * is freed before a thread takes it (then it never runs and its handle
 * reports -ECANCELED). Its handle is awaitable with a typed poll function
 * that gives fn's `void *` result. Dropping (detaching) the handle does
 * not stop the function: nothing can interrupt a thread in arbitrary
 * code. The job then finishes on its own and its result is released by
 * the job's release function (weft_spawn_blocking_owned), or dropped on
 * the floor if it has none.
 *
 * Shutdown: weft_runtime_free cancels the jobs still queued and then
 * WAITS for every running blocking function to return (as Tokio's runtime
 * drop does), joining every pool thread, so nothing the runtime started
 * outlives it. A blocking function that waits for something only the
 * runtime's tasks would provide therefore hangs weft_runtime_free: give
 * such functions a way out (a timeout, a flag), or close the runtime with
 * weft_runtime_close_timeout (weft/runtime.h), which waits only until a
 * deadline and then abandons the threads still running (Tokio's
 * shutdown_timeout): they finish on their own, detached, and the
 * runtime's memory lives until the last of them is done.
 * weft_runtime_free called from a blocking function of the same runtime
 * waits for the others, and the calling pool thread detaches itself when
 * its function returns.
 *
 * The argument must stay valid until fn returns, which may be after the
 * handle was detached or the awaiting task was dropped: do not point it
 * into a task's struct unless the task awaits the result. Give heap
 * arguments to the job with weft_spawn_blocking_owned instead.
 */
#ifndef WEFT_BLOCKING_H
#define WEFT_BLOCKING_H

#include <weft/core.h>
#include <weft/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Default cap on the general blocking pool's threads. */
#define WEFT_BLOCKING_DEFAULT_THREADS 512u
/** Default time an idle blocking thread waits for work before it exits. */
#define WEFT_BLOCKING_DEFAULT_KEEP_ALIVE_MS 10000u

/** A blocking function: runs on a pool thread, returns its result. */
typedef void *(*weft_blocking_fn)(void *arg);

/**
 * A job's release function: called exactly once per job, when the job is
 * over and both its handle and the pool have let go of it, with the job's
 * @arg and with @result = fn's result if nobody took it through
 * weft_blocking_handle_poll, else NULL (NULL too if fn never ran). Runs
 * on the pool thread, on the thread detaching the handle, or on the
 * thread inside weft_runtime_free; it must not block or call back into
 * the job's handle.
 */
typedef void (*weft_blocking_release_fn)(void *arg, void *result);

/** The spawner's reference to a blocking job. */
typedef struct weft_blocking_handle weft_blocking_handle;

/**
 * Runs `fn(arg)` on @rt's blocking pool, starting a thread if none is idle
 * and the cap allows. Returns 0 and, if @out is non-NULL, a handle the
 * caller must eventually detach (with @out NULL the job is detached from
 * the start). Errors: -EINVAL (NULL @rt or @fn), -ENOMEM, -EAGAIN (no pool
 * thread exists and none could be started), -ESHUTDOWN (runtime being
 * freed). On error fn does not run. Any thread, inside a task or outside.
 */
WEFT_API int weft_spawn_blocking(weft_runtime *rt, weft_blocking_fn fn, void *arg,
				 weft_blocking_handle **out);

/**
 * weft_spawn_blocking, with the job owning @arg and its result: @release
 * (may be NULL) is called once when the job is over, as
 * weft_blocking_release_fn says, so a detached job or one dropped at
 * shutdown leaks neither. On error neither fn nor @release is called
 * (@arg is still the caller's).
 */
WEFT_API int weft_spawn_blocking_owned(weft_runtime *rt, weft_blocking_fn fn, void *arg,
				       weft_blocking_release_fn release,
				       weft_blocking_handle **out);

/**
 * Awaits the job. READY once it is over, with *@status 0 and *@result =
 * fn's return value, or *@status -ECANCELED when fn never ran (the runtime
 * was freed first; *@result is then NULL). Giving a non-NULL @result
 * takes the result: the caller owns it from then on and the release
 * function gets NULL; with @result NULL it stays with the job. Polling a
 * finished handle again gives the same answer. PENDING stores @cx's
 * waker, woken when the job finishes. Takes one unit of the cooperative
 * budget per poll (returned when pending). One thread at a time may poll
 * a handle; @status may be NULL. A NULL @h is READY at once with
 * *@status -EINVAL.
 */
WEFT_API weft_poll weft_blocking_handle_poll(weft_blocking_handle *h, weft_cx *cx,
					     int *status, void **result);

/** True once the job ran or was cancelled (true for NULL). Any thread. */
WEFT_API bool weft_blocking_handle_is_finished(weft_blocking_handle *h);

/**
 * Releases the handle. The function goes on running if it has started
 * (and runs later if it is queued); its result is released when it
 * finishes. A waker stored by the poll is dropped. @h is invalid
 * afterwards; NULL is ignored. Any thread, including after
 * weft_runtime_free.
 */
WEFT_API void weft_blocking_handle_detach(weft_blocking_handle *h);

/*
 * Blocking-pool figures: a stable API like the runtime's metrics (fields
 * only ever appended; the getter fills the caller's @size bytes). Taken
 * under each pool's lock, so each pool's figures are consistent.
 */
typedef struct weft_blocking_metrics {
	uint64_t threads;           /* general pool: threads alive now */
	uint64_t idle_threads;      /* of which waiting for work */
	uint64_t running;           /* jobs running now */
	uint64_t queue_depth;       /* jobs waiting for a thread */
	uint64_t threads_started;   /* threads started in all */
	uint64_t jobs_submitted;    /* jobs accepted in all */
	uint64_t jobs_completed;    /* jobs that ran in all */
	uint64_t dns_threads;       /* name-lookup pool: threads alive now */
	uint64_t dns_running;       /* lookups running now */
	uint64_t dns_queue_depth;   /* lookups waiting for a thread */
} weft_blocking_metrics;

/** Fills the first @size bytes of *@out. 0, or -EINVAL. Any thread
 *  before weft_runtime_free. */
WEFT_API int weft_runtime_blocking_metrics(weft_runtime *rt, weft_blocking_metrics *out,
					   size_t size);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BLOCKING_H */
