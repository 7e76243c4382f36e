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
 * is closed before a thread takes it (then it never runs and its handle
 * reports -ECANCELED). Its handle is awaitable with a typed poll function
 * that gives fn's `void *` result. Closing the handle does not stop the
 * function: nothing can interrupt a thread in arbitrary code. The job then finishes on its own and its result is released by
 * the job's release function (weft_spawn_blocking_owned), or dropped on
 * the floor if it has none.
 *
 * Shutdown: weft_runtime_close cancels the jobs still queued and then
 * WAITS for every running blocking function to return (as Tokio's runtime
 * drop does), joining every pool thread, so nothing the runtime started
 * outlives it. A blocking function that waits for something only the
 * runtime's tasks would provide therefore hangs weft_runtime_close: give
 * such functions a way out (a timeout, a flag), or close the runtime with
 * weft_runtime_close_timeout (weft/runtime.h), which waits only until a
 * deadline and then abandons the threads still running (Tokio's
 * shutdown_timeout): they finish on their own, detached, and the
 * runtime's memory lives until the last of them is done.
 * weft_runtime_close called from a blocking function of the same runtime
 * waits for the others, and the calling pool thread detaches its own
 * thread when its function returns.
 *
 * The argument must stay valid until fn returns, which may be after the
 * handle was closed or the awaiting task was dropped: do not point it
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

/** Default cap on the general blocking pool's threads
 *  (weft_runtime_config.blocking_threads 0). */
#define WEFT_BLOCKING_DEFAULT_THREADS 512u
/** Default time, in ms, an idle blocking thread waits for work before it
 *  exits (weft_runtime_config.blocking_keep_alive_ms 0). */
#define WEFT_BLOCKING_DEFAULT_KEEP_ALIVE_MS 10000u

/** A blocking function: runs once on a pool thread with the job's @arg and
 *  returns its result (owned by whoever takes it, see
 *  weft_blocking_release_fn). It may block; it must not call
 *  weft_block_on. */
typedef void *(*weft_blocking_fn)(void *arg);

/**
 * A job's release function: called exactly once per job, when the job is
 * over and both its handle and the pool have let go of it, with the job's
 * @arg and with @result = fn's result if nobody took it through
 * weft_blocking_handle_poll, else NULL (NULL too if fn never ran). Runs
 * on the pool thread, on the thread closing the handle, or on the
 * thread inside weft_runtime_close; it must not block or call back into
 * the job's handle.
 */
typedef void (*weft_blocking_release_fn)(void *arg, void *result);

/** The spawner's reference to a blocking job, opaque; released with
 *  weft_blocking_handle_close. */
typedef struct weft_blocking_handle weft_blocking_handle;

/**
 * Runs `fn(arg)` on @rt's blocking pool, starting a thread if none is idle
 * and the cap allows. Returns 0 and, if @out is non-NULL, a handle the
 * caller must eventually close (with @out NULL nobody holds a handle: the
 * job runs on its own from the start). Errors: -EINVAL (NULL @rt or @fn), -ENOMEM, -EAGAIN (no pool
 * thread exists and none could be started), -ESHUTDOWN (runtime being
 * freed). On error fn does not run. Any thread, inside a task or outside.
 */
WEFT_API int weft_spawn_blocking(weft_runtime *rt, weft_blocking_fn fn, void *arg,
				 weft_blocking_handle **out);

/**
 * weft_spawn_blocking, with the job owning @arg and its result: @release
 * (may be NULL) is called once when the job is over, as
 * weft_blocking_release_fn says, so a job whose handle was closed, or one
 * dropped at shutdown, leaks neither. Any thread. On error neither fn nor @release is called
 * (@arg is still the caller's).
 */
WEFT_API int weft_spawn_blocking_owned(weft_runtime *rt, weft_blocking_fn fn, void *arg,
				       weft_blocking_release_fn release,
				       weft_blocking_handle **out);

/**
 * Awaits the job (a leaf poll). READY once it is over, with *@res 0 and
 * *@value = fn's return value, or *@res -ECANCELED when fn never ran (the
 * runtime was closed first; *@value is then NULL). Giving a non-NULL
 * @value takes the value: the caller owns it from then on and the release
 * function gets NULL; with @value NULL it stays with the job. Polling a
 * finished handle again gives the same answer. PENDING stores @cx's
 * waker, woken when the job finishes. Takes one unit of the cooperative
 * budget per poll (returned when pending). One thread at a time may poll
 * a handle; @res may be NULL. A NULL @h is READY at once with *@res
 * -EINVAL.
 */
WEFT_API weft_poll weft_blocking_handle_poll(weft_blocking_handle *h, weft_cx *cx,
					     void **value, int *res);

/** True once the job ran or was cancelled (true for NULL). Never waits.
 *  Any thread. */
WEFT_API bool weft_blocking_handle_is_finished(weft_blocking_handle *h);

/**
 * Releases the handle. The function goes on running if it has started
 * (and runs later if it is queued); its result is released when it
 * finishes. A waker stored by the poll is dropped. @h is invalid
 * afterwards; NULL is ignored. Any thread, including after
 * weft_runtime_close.
 */
WEFT_API void weft_blocking_handle_close(weft_blocking_handle *h);

/**
 * Blocking-pool figures: a stable API like the runtime's metrics (fields
 * only ever appended; the getter fills the caller's @size bytes). Taken
 * under each pool's lock, so each pool's figures are consistent.
 */
typedef struct weft_blocking_metrics {
	/** General pool: threads alive now. */
	uint64_t threads;
	/** Of which waiting for work. */
	uint64_t idle_threads;
	/** Jobs running now. */
	uint64_t running;
	/** Jobs waiting for a thread. */
	uint64_t queue_depth;
	/** Threads started in all. */
	uint64_t threads_started;
	/** Jobs accepted in all. */
	uint64_t jobs_submitted;
	/** Jobs that ran in all. */
	uint64_t jobs_completed;
	/** Name-lookup pool: threads alive now. */
	uint64_t dns_threads;
	/** Lookups running now. */
	uint64_t dns_running;
	/** Lookups waiting for a thread. */
	uint64_t dns_queue_depth;
} weft_blocking_metrics;

/** Fills the first @size bytes of *@out (the caller's struct; a smaller
 *  one from an older header gets its prefix). 0, or -EINVAL for a NULL
 *  argument. Any thread before weft_runtime_close. */
WEFT_API int weft_runtime_blocking_metrics(weft_runtime *rt, weft_blocking_metrics *out,
					   size_t size);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_BLOCKING_H */
