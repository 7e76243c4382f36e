/*
 * weft/runtime.h - runtimes, tasks, join handles, block_on, yield_now.
 *
 * A runtime runs tasks. A task is a spawned future: the runtime copies the
 * caller's future struct into one allocation next to the task header and
 * polls it whenever its waker is woken. The future's drop runs exactly
 * once: when it completes, when its task is aborted, or when the runtime
 * is freed with the task still live.
 *
 * Unless a function says otherwise it may be called from any thread,
 * inside a task of the runtime or outside it.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <weft/core.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_runtime weft_runtime;

/**
 * Runtime configuration. Zero in any field means "the default"; a NULL
 * config means all defaults.
 */
typedef struct weft_runtime_config {
	/** Worker threads. 1 = the current-thread flavour: tasks run on the
	 *  thread inside weft_block_on. 0 = one per CPU. */
	uint32_t workers;
	/** Cooperative budget per task poll (default WEFT_DEFAULT_BUDGET). */
	uint32_t budget;
	/** Polls between checks of the shared queue for fairness (61). */
	uint32_t global_queue_interval;
} weft_runtime_config;

/**
 * Creates a runtime. Returns 0 and stores it in *@out, or -ENOMEM, or
 * -EINVAL for a NULL @out or an unsupported worker count (values above 1
 * need the multi-thread scheduler). The caller owns the runtime and frees
 * it with weft_runtime_free.
 */
WEFT_API int weft_runtime_new(weft_runtime **out, const weft_runtime_config *config);

/**
 * Shuts the runtime down and frees it: every live task's future is
 * dropped exactly once (on the calling thread), awaiters of aborted tasks
 * see -ECANCELED, and every allocation the runtime made is released. Join
 * handles still held stay valid until detached. Must not be called from a
 * task of this runtime or while a weft_block_on on it is running.
 */
WEFT_API void weft_runtime_free(weft_runtime *rt);

/**
 * Runs @fut on the calling thread until it is ready, running the
 * runtime's tasks meanwhile (current-thread flavour). Then drops @fut (its
 * output fields stay readable) and returns 0. The future stays owned by the
 * caller's memory and must not move while block_on runs. Errors:
 * -EINVAL (NULL argument), -EDEADLK (called from inside a task or a
 * block_on of any runtime: it would block a thread that must run tasks),
 * -EBUSY (another thread is inside weft_block_on on this current-thread
 * runtime). On error @fut is neither polled nor dropped.
 */
WEFT_API int weft_block_on(weft_runtime *rt, weft_future *fut);

/** A join handle: the spawner's reference to a task. */
typedef struct weft_join_handle weft_join_handle;

/**
 * Spawns a task running a copy of the @size-byte future struct that @fut
 * starts (weft_future first). The copy is made now and the caller's struct
 * is no longer needed; it must not have been polled. Nothing runs before
 * a worker polls the task. On success returns 0 and, if @out is non-NULL,
 * stores a join handle the caller must eventually detach (with @out NULL
 * the task is detached from the start). Errors: -EINVAL (NULL runtime or
 * future, @size smaller than weft_future), -ENOMEM, -ESHUTDOWN (runtime
 * being freed). On error nothing was copied and @fut is still the
 * caller's, undropped.
 */
WEFT_API int weft_spawn(weft_runtime *rt, const weft_future *fut, size_t size,
			weft_join_handle **out);

/** weft_spawn without a join handle. */
static inline int weft_spawn_detached(weft_runtime *rt, const weft_future *fut,
				      size_t size)
{
	return weft_spawn(rt, fut, size, NULL);
}

/**
 * Awaits the task: READY once it finished, with *@status 0 (completed;
 * read its output with weft_join_handle_output) or -ECANCELED (aborted or
 * dropped at shutdown before it completed). PENDING registers @cx's waker,
 * which is woken when the task finishes. One thread at a time may poll a
 * handle.
 */
WEFT_API weft_poll weft_join_handle_poll(weft_join_handle *h, weft_cx *cx, int *status);

/**
 * Once weft_join_handle_poll has given READY with status 0: a pointer to
 * the task's copy of the future struct, whose output fields are readable
 * (its drop has already run). Valid until the handle is detached. NULL
 * when the task has not completed.
 */
WEFT_API void *weft_join_handle_output(weft_join_handle *h);

/** True once the task has finished (completed or cancelled). */
WEFT_API bool weft_join_handle_is_finished(const weft_join_handle *h);

/**
 * Requests cancellation: the task is not polled again; its future is
 * dropped exactly once on a thread of the runtime, and awaiters see
 * -ECANCELED. No effect on a task that already finished. Does not release
 * the handle.
 */
WEFT_API void weft_join_handle_abort(weft_join_handle *h);

/**
 * Releases the handle. The task goes on running (Tokio's JoinHandle drop);
 * a waker registered by weft_join_handle_poll is dropped. @h is invalid
 * afterwards. NULL is ignored.
 */
WEFT_API void weft_join_handle_detach(weft_join_handle *h);

/** Number of tasks spawned on @rt and not yet finished. */
WEFT_API size_t weft_runtime_live_tasks(const weft_runtime *rt);

/**
 * yield_now: ready on its second poll. Its first poll wakes the task and
 * returns PENDING, so the task goes to the back of the run queue and
 * every other runnable task runs first.
 */
typedef struct weft_yield_now {
	weft_future fut;
	bool yielded;
} weft_yield_now;

/** Initialises a yield_now future (does nothing else). */
WEFT_API void weft_yield_now_init(weft_yield_now *y);
/** Polls it; typed form, for WEFT_AWAIT. */
WEFT_API weft_poll weft_yield_now_poll(weft_yield_now *y, weft_cx *cx);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_RUNTIME_H */
