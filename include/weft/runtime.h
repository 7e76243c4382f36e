/*
 * weft/runtime.h - runtimes, tasks, join handles, block_on, yield_now.
 *
 * A runtime runs tasks. A task is a spawned future: the runtime copies the
 * caller's future struct into one allocation next to the task header and
 * polls it whenever its waker is woken. The future's drop runs exactly
 * once: when it completes, when its task is aborted, or when the runtime
 * closed with the task still live.
 *
 * Unless a function says otherwise it may be called from any thread,
 * inside a task of the runtime or outside it.
 *
 * Driver errors. If the kernel's event interface fails in a way weft
 * cannot recover from (with epoll: epoll_wait or the wake-up eventfd
 * reporting an error other than EINTR, e.g. EBADF after a stray close()
 * of the epoll fd; with kqueue: the waiting kevent or the wake-up), the runtime records the first such error as a
 * negative errno and
 * keeps it: one line naming weft, the failing call and the errno is
 * written to stderr, weft_runtime_metrics shows it (driver_error,
 * driver_errors), every weft_block_on in progress returns it promptly and
 * every later one returns it at once. I/O and timers stop; tasks that do
 * not need them may still run on the multi-thread flavour, whose workers
 * sleep rather than spin. weft_runtime_close still releases everything.
 * There is no way to clear the error: close the runtime and make a new one.
 *
 * Fork. A runtime does not survive fork(): the child has none of its
 * worker or blocking-pool threads, and its locks may be held by threads
 * that do not exist there. After fork() the child may exec or _exit, or
 * create and use a new runtime; it must not use a runtime inherited from
 * the parent. weft detects this (a pthread_atfork child handler, set up
 * by the first weft_runtime_new): in the child, weft_block_on and
 * weft_spawn on an inherited runtime return -ECHILD, and
 * weft_runtime_close on it returns without releasing anything (the
 * child's copy of the parent's runtime is leaked, by design: closing it
 * would join threads and take locks that do not exist in the child).
 * Other calls on an inherited runtime are undefined.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <weft/core.h>

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A runtime: opaque, made by weft_runtime_new, released by
 *  weft_runtime_close. */
typedef struct weft_runtime weft_runtime;

/**
 * The I/O backends: the kernel event interface a runtime's reactor
 * waits on. Which ones a build has is fixed at build time (meson option
 * `io_backend`: epoll on Linux, kqueue on the BSDs and macOS; the
 * `io_uring` feature would add io_uring beside epoll); a runtime picks
 * one of them when it is made (weft_runtime_config.backend, overridden by
 * the WEFT_BACKEND environment variable). This version implements epoll
 * and kqueue (kqueue tested on Linux through a kevent test double only);
 * a backend the build does not compile is refused with -ENOTSUP.
 */
typedef enum weft_backend {
	/** The build's default, falling back to another compiled backend if
	 *  it cannot start. */
	WEFT_BACKEND_AUTO = 0,
	/** Linux epoll. */
	WEFT_BACKEND_EPOLL = 1,
	/** Linux io_uring (not implemented yet: -ENOTSUP). */
	WEFT_BACKEND_IO_URING = 2,
	/** BSD and macOS kqueue (on Linux only in a build against the
	 *  kevent test double, -Dio_backend=kqueue). */
	WEFT_BACKEND_KQUEUE = 3,
} weft_backend;

/**
 * The name of @b: "auto", "epoll", "io_uring" or "kqueue", the spellings
 * WEFT_BACKEND and the examples' --backend accept; NULL for a value that
 * is not a weft_backend. The string is static. Any thread.
 */
WEFT_API const char *weft_backend_name(weft_backend b);

/**
 * A runtime thread hook (weft_runtime_config.on_thread_start and
 * on_thread_stop): called on a thread the runtime started (a worker, a
 * blocking-pool or name-lookup thread) with the config's hook_arg.
 */
typedef void (*weft_thread_hook)(void *arg);

/** The largest worker count a runtime accepts. */
#define WEFT_MAX_WORKERS 1024u

/**
 * Which scheduler a runtime runs (weft_runtime_config.flavour).
 *
 * WEFT_FLAVOUR_CURRENT_THREAD: every task runs on the thread inside
 * weft_block_on, one block_on at a time (Tokio's new_current_thread);
 * no worker thread is started. WEFT_FLAVOUR_MULTI_THREAD: `workers`
 * worker threads (one or more) run the tasks and steal work from each
 * other; block_on only polls its own future, and several threads may
 * block_on at once (Tokio's new_multi_thread). WEFT_FLAVOUR_AUTO (0, the
 * default) picks from the worker count, as weft did before the field
 * existed: current-thread when the count (after 0 is resolved to the CPU
 * count) is 1, multi-thread otherwise.
 */
typedef enum weft_flavour {
	/** Current-thread for one worker, multi-thread for more. */
	WEFT_FLAVOUR_AUTO = 0,
	/** Tasks run on the thread inside weft_block_on (one worker). */
	WEFT_FLAVOUR_CURRENT_THREAD = 1,
	/** Worker threads (one or more) run the tasks and steal work. */
	WEFT_FLAVOUR_MULTI_THREAD = 2,
} weft_flavour;

/**
 * Runtime configuration, read once by weft_runtime_new. Zero in any field
 * other than `size` means "the default"; a NULL config means all
 * defaults. Fields are only ever appended: `size` tells the library how
 * much of the struct the caller's header knew. Start from
 * WEFT_RUNTIME_CONFIG_INIT (or set size = sizeof(weft_runtime_config)).
 */
typedef struct weft_runtime_config {
	/** sizeof(weft_runtime_config) as the caller compiled it. 0 or less
	 *  than the 0.1 struct: -EINVAL. More than this library's struct (a
	 *  newer header): accepted only if the bytes this library does not
	 *  know are all zero, else -EINVAL. */
	uint32_t size;
	/** Worker threads. 0 = one per CPU this process may use: the calling
	 *  thread's CPU affinity mask, lowered to the cgroup CPU quota
	 *  rounded up (a container limited to 2 CPUs gets 2), and at most
	 *  WEFT_MAX_WORKERS. The current-thread
	 *  flavour has exactly one (0 or 1 here; more is -EINVAL). Which
	 *  flavour a count gives by default: see `flavour`. */
	uint32_t workers;
	/** Cooperative budget per task poll (default WEFT_DEFAULT_BUDGET). */
	uint32_t budget;
	/** Polls between checks of the shared queue for fairness (61). */
	uint32_t global_queue_interval;
	/** Most threads of the blocking pool (weft/blocking.h), started on
	 *  demand: 0 = WEFT_BLOCKING_DEFAULT_THREADS (512). Name lookups use
	 *  a separate pool of 4 threads that this does not count. */
	uint32_t blocking_threads;
	/** Milliseconds an idle blocking-pool thread waits for work before it
	 *  exits: 0 = WEFT_BLOCKING_DEFAULT_KEEP_ALIVE_MS (10 s). */
	uint32_t blocking_keep_alive_ms;
	/** A weft_flavour: 0 (WEFT_FLAVOUR_AUTO) = current-thread for one
	 *  worker, multi-thread for more. Any other value: -EINVAL. */
	uint32_t flavour;
	/** Nonzero: time every task poll on CLOCK_MONOTONIC and count it in
	 *  the worker's poll_time_histogram (weft_worker_metrics). Off by
	 *  default: it costs one clock read per poll (about 30 ns on a
	 *  virtual machine's kvm-clock, more than a short task's poll). */
	uint32_t poll_time_histogram;
	/** Watchdog threshold in nanoseconds; 0 = off. When set, a thread of
	 *  the runtime checks the workers every threshold / 4 (at least every
	 *  millisecond) and reports each task poll that has held a worker
	 *  for the threshold or longer, once per poll: one line on stderr
	 *  naming the task's spawn site (weft_location) and the worker, and
	 *  watchdog_reports in weft_runtime_metrics. Such a task blocks every
	 *  task queued behind it (use weft_spawn_blocking for blocking work). */
	uint64_t watchdog_ns;
	/** The I/O backend, a weft_backend: 0 = WEFT_BACKEND_AUTO, the
	 *  build's default (epoll on Linux, kqueue on the BSDs and macOS and
	 *  in a Linux build with -Dio_backend=kqueue), which alone may fall back to
	 *  another compiled backend if it cannot start. A backend named
	 *  explicitly that this build lacks, or that cannot start, makes
	 *  weft_runtime_new fail with -ENOTSUP. The environment variable
	 *  WEFT_BACKEND (auto, epoll, io_uring or kqueue), when set and not
	 *  empty, overrides this field (for running a test suite on each
	 *  backend); any other value of it gives -EINVAL. The backend in use
	 *  is in weft_runtime_metrics.backend. */
	uint32_t backend;
	/** Called on every thread the runtime starts (multi-thread workers,
	 *  blocking-pool threads, name-lookup threads, the watchdog) once, on that thread,
	 *  before it runs anything else of the runtime; NULL: none. It must
	 *  not block for long nor close the runtime. The current-thread
	 *  flavour starts no worker: its tasks run on the thread in
	 *  weft_block_on, which is the caller's and gets no hook. */
	weft_thread_hook on_thread_start;
	/** Called once on each such thread after it ran its last piece of
	 *  runtime work, just before it exits; NULL: none. A thread that a
	 *  bounded close abandoned (weft_runtime_close_timeout) calls
	 *  it when its blocking function finally returns, so @hook_arg must
	 *  stay valid until then. */
	weft_thread_hook on_thread_stop;
	/** Passed to both hooks. */
	void *hook_arg;
} weft_runtime_config;

/** A configuration with every field at its default and `size` set:
 *  `weft_runtime_config c = WEFT_RUNTIME_CONFIG_INIT; c.workers = 2;` */
#define WEFT_RUNTIME_CONFIG_INIT { .size = sizeof(weft_runtime_config) }

/**
 * Creates a runtime (and, for the multi-thread flavour, starts its
 * worker threads; with watchdog_ns set, its watchdog thread). Returns 0
 * and stores it in *@out, or -ENOMEM, -EAGAIN (threads could not be
 * started), -EINVAL for a NULL @out, a config whose `size` is wrong (see
 * weft_runtime_config.size), more than WEFT_MAX_WORKERS workers, an
 * unknown flavour, a current-thread flavour with more than one worker, a
 * backend value that is not a weft_backend or a WEFT_BACKEND environment
 * value that names none, or -ENOTSUP when the backend asked for
 * explicitly (config or WEFT_BACKEND) is not compiled into this build or
 * cannot start; the I/O backend's own -errno (e.g. -EMFILE) when the
 * default one cannot start. The caller owns the runtime and releases it
 * with weft_runtime_close (or weft_runtime_close_timeout). Any thread.
 */
WEFT_API int weft_runtime_new(weft_runtime **out, const weft_runtime_config *config);

/**
 * Shuts the runtime down and releases it: stops and joins the worker threads,
 * drops every live task's future exactly once (on the calling thread;
 * awaiters see -ECANCELED), then cancels blocking jobs still queued and
 * waits for running blocking functions to return (weft/blocking.h), and
 * releases everything the runtime allocated. Join handles, wakers and
 * sockets still held stay valid (the runtime object itself is freed when
 * the last of them goes). Must not be called from a task of this runtime
 * or while a weft_block_on on it is running. Works the same after a
 * driver error. In a child process after fork(), on a runtime inherited
 * from the parent, it returns without doing anything (see "Fork" above).
 * NULL is ignored. Any thread other than the runtime's own. The wait
 * for blocking functions has no limit: weft_runtime_close_timeout
 * bounds it.
 */
WEFT_API void weft_runtime_close(weft_runtime *rt);

/**
 * What weft_runtime_close_timeout had to leave behind. The caller sets
 * @size to sizeof(weft_runtime_close_report) (or less, for an older
 * layout); the call fills the fields that fit in @size bytes after it and
 * leaves @size as it was. Fields are only ever appended.
 */
typedef struct weft_runtime_close_report {
	uint32_t size;                /* in: the caller's sizeof */
	/* Blocking-pool and name-lookup threads still running at the
	 * deadline, left to finish on their own (detached). */
	uint32_t abandoned_threads;
	/* Blocking jobs (weft_spawn_blocking functions, file operations,
	 * name lookups) those threads were running. */
	uint64_t abandoned_jobs;
	/* Blocking jobs still queued, cancelled without running (their
	 * handles report -ECANCELED). */
	uint64_t cancelled_jobs;
} weft_runtime_close_report;

/**
 * weft_runtime_close with a deadline: the same shutdown (workers stopped
 * and joined, every live task's future dropped, queued blocking jobs
 * cancelled), but it waits for running blocking jobs (a blocking
 * function, a hung getaddrinfo) only until @timeout_ns nanoseconds after
 * the call began (CLOCK_MONOTONIC; 0: not at all; UINT64_MAX: no limit,
 * as weft_runtime_close). Threads still in a job then are abandoned: each
 * finishes its job on its own, calls on_thread_stop, and exits detached;
 * the jobs' results are released as if their handles were closed. The
 * runtime is released either way: @rt is invalid afterwards, but its
 * memory stays allocated until the last abandoned thread is done, so a
 * late blocking function that calls into it (weft_spawn,
 * weft_spawn_blocking...) is told -ESHUTDOWN rather than touching freed
 * memory; its fds (the backend's) are closed then too.
 *
 * Returns 0 when nothing was abandoned, -ETIMEDOUT when a thread was,
 * -ECHILD (nothing done) on a runtime inherited across fork(); a NULL
 * @rt is ignored (0). *@report (may be NULL) says what was cancelled and
 * abandoned. The deadline bounds only the blocking pools: task polls are
 * expected to return, and worker threads are joined as by
 * weft_runtime_close. Same threads rule as weft_runtime_close; called from
 * a blocking function of @rt it neither waits for nor counts its own
 * thread.
 */
WEFT_API int weft_runtime_close_timeout(weft_runtime *rt, uint64_t timeout_ns,
					weft_runtime_close_report *report);

/**
 * Polls @fut on the calling thread until it is ready, then drops @fut (its
 * output fields stay readable) and returns 0. On the current-thread
 * flavour the calling thread also runs the runtime's tasks meanwhile; on
 * the multi-thread flavour (even with one worker) the workers run them
 * and several threads may block_on at once. The future stays owned by the
 * caller's memory and must not move while block_on runs. Errors:
 * -EINVAL (NULL argument), -EDEADLK (called from inside a task or a
 * block_on of any runtime: it would block a thread that must run tasks),
 * -EBUSY (another thread is inside weft_block_on on this current-thread
 * runtime), -ENOMEM, -ECHILD (@rt was created before a fork() and this is
 * the child; see "Fork" above). On those errors @fut is neither polled
 * nor dropped.
 *
 * A driver error (see "Driver errors" above) makes block_on return that
 * negative errno (e.g. -EBADF) instead of waiting for I/O or timers that
 * can no longer come, on both flavours, without the future being ready:
 * if block_on had polled @fut it drops it (its output fields are not
 * valid); if the runtime had already failed when block_on was called,
 * @fut is neither polled nor dropped. Tell it from the future's own
 * result with weft_runtime_metrics_get (driver_error).
 */
WEFT_API int weft_block_on(weft_runtime *rt, weft_future *fut);

/** A join handle: the spawner's reference to a task, opaque. It owns one
 *  reference on the task; weft_join_handle_close releases it. */
typedef struct weft_join_handle weft_join_handle;

/** Where a task was spawned, for the task registry. */
typedef struct weft_location {
	/** Source file (static storage). */
	const char *file;
	/** Line in @file. */
	int line;
	/** Function name (static storage). */
	const char *func;
} weft_location;

/**
 * Spawns a task running a copy of the @size-byte future struct that @fut
 * starts (weft_future first). The copy is made now and the caller's struct
 * is no longer needed; it must not have been polled. Nothing runs before
 * a worker polls the task. On success returns 0 and, if @out is non-NULL,
 * stores a join handle the caller must eventually close with
 * weft_join_handle_close (with @out NULL nobody holds a handle: the task
 * runs on its own from the start). @loc (may be NULL) is recorded
 * for the task registry and must outlive the task; the weft_spawn and
 * weft_spawn_detached macros pass the caller's file and line. Errors:
 * -EINVAL (NULL runtime or future, @size smaller than weft_future),
 * -ENOMEM, -ESHUTDOWN (runtime being freed), -ECHILD (a runtime inherited
 * across fork(), in the child). On error nothing was copied
 * and @fut is still the caller's, undropped. Any thread.
 */
WEFT_API int weft_spawn_at(weft_runtime *rt, const weft_future *fut, size_t size,
			   weft_join_handle **out, const weft_location *loc);

/** weft_spawn_at without a location: same ownership, errors and threads.
 *  The name is also a macro (below) that adds the caller's line; this
 *  function is what a call through a function pointer reaches. */
WEFT_API int weft_spawn(weft_runtime *rt, const weft_future *fut, size_t size,
			weft_join_handle **out);

/** A pointer to a static weft_location for the current line (GNU C
 *  statement expression; the location lives as long as the program). */
#define WEFT_HERE                                                         \
	(__extension__({                                                  \
		static const weft_location weft__here = { __FILE__, __LINE__, \
							  __func__ };     \
		&weft__here;                                              \
	}))

/** weft_spawn(rt, fut, size, out): weft_spawn_at recording the caller's
 *  line. */
#define weft_spawn(rt, fut, size, out) weft_spawn_at((rt), (fut), (size), (out), WEFT_HERE)

/** weft_spawn_detached(rt, fut, size): weft_spawn_at with no join handle
 *  (the task runs on its own), recording the caller's line. */
#define weft_spawn_detached(rt, fut, size) \
	weft_spawn_at((rt), (fut), (size), NULL, WEFT_HERE)

/**
 * Awaits the task (a leaf poll): READY once it finished, with *@res 0
 * (completed; read its output with weft_join_handle_output) or -ECANCELED
 * (aborted or dropped at shutdown before it completed). PENDING registers
 * @cx's waker (replacing the one a previous poll stored), which is woken
 * when the task finishes. Takes one unit of the cooperative budget
 * (given back when pending). @res may be NULL. One thread at a time may
 * poll a handle. To use a handle as a child of join or select, wrap it in
 * a weft_join_task.
 */
WEFT_API weft_poll weft_join_handle_poll(weft_join_handle *h, weft_cx *cx, int *res);

/**
 * Once weft_join_handle_poll has given READY with res 0: a pointer to
 * the task's copy of the future struct, whose output fields are readable
 * (its drop has already run). Valid until the handle is closed. NULL
 * when the task has not completed or was cancelled. Any thread.
 */
WEFT_API void *weft_join_handle_output(weft_join_handle *h);

/** True once the task has finished (completed or cancelled); after it,
 *  the output is readable. Never waits. Any thread. */
WEFT_API bool weft_join_handle_is_finished(const weft_join_handle *h);

/**
 * Requests cancellation: the task is not polled again; its future is
 * dropped exactly once on a thread of the runtime, and awaiters see
 * -ECANCELED. No effect on a task that already finished. Does not release
 * the handle: close it (or await it first, to know the task has ended).
 * Any thread.
 */
WEFT_API void weft_join_handle_abort(weft_join_handle *h);

/**
 * Releases the handle. The task goes on running (Tokio's JoinHandle drop
 * detaches it) and its output is dropped with it; a waker registered by
 * weft_join_handle_poll is dropped. @h is invalid afterwards. NULL is
 * ignored. Any thread, also after weft_runtime_close.
 */
WEFT_API void weft_join_handle_close(weft_join_handle *h);

/**
 * A join handle as a future, so a task can be a child of weft_join or
 * weft_select (for instance "the accept loop ends or a signal arrives" is
 * a select (weft_select2_init) of a weft_join_task and a weft_signal).
 *
 * The wrapper borrows the handle: the caller keeps owning it and closes
 * it with weft_join_handle_close after the wrapper is dropped, and reads
 * the task's output with weft_join_handle_output. Dropping the wrapper
 * does NOT abort the task, even while it runs (a select that another
 * child wins leaves the task running, like a dropped Tokio JoinHandle);
 * it only withdraws the waker that its polls registered with the task.
 * Abort the task explicitly with weft_join_handle_abort when it must end.
 *
 * It follows the leaf-future rules of weft/core.h: init does nothing
 * else, a zero-filled one is valid (ready with -EINVAL), drop is
 * idempotent, and each poll takes one unit of the cooperative budget
 * (given back when pending).
 */
typedef struct weft_join_task {
	/** Type-erased view: weft_join_task_poll and weft_join_task_drop. */
	weft_future fut;
	/** Output: 0 (the task completed), -ECANCELED (aborted, or dropped
	 *  at shutdown before it completed), -EINVAL (no handle). */
	int result;
	/** Private: do not touch. */
	struct {
		weft_join_handle *handle;
		bool done;
	} priv;
} weft_join_task;

/** Initialises @t to await the task of @h (borrowed; it must stay open
 *  until @t is dropped). Does nothing else. */
WEFT_API void weft_join_task_init(weft_join_task *t, weft_join_handle *h);
/** Polls it (typed form, for WEFT_AWAIT): READY once the task finished,
 *  with t->result set; polling it again gives READY again. The thread
 *  that owns @t. */
WEFT_API weft_poll weft_join_task_poll(weft_join_task *t, weft_cx *cx);
/** Drops it: withdraws the waker its polls registered with the task;
 *  the task and the handle are left alone. Idempotent; zero-filled is
 *  fine. The thread that owns @t. */
WEFT_API void weft_join_task_drop(weft_join_task *t);

/* ------------------------------------------------------ task registry */

/** A live task, as the registry sees it. */
typedef struct weft_task_info {
	/** Unique among live tasks (its address). */
	uint64_t id;
	/** Where it was spawned; NULL if unknown. */
	const weft_location *spawned_at;
	/** WEFT_TASK_* bits. */
	uint32_t state;
	/** References held (handle, wakers, queues). */
	uint32_t refs;
} weft_task_info;

/** weft_task_info.state: the task is being polled now. */
#define WEFT_TASK_RUNNING   (1u << 0)
/** weft_task_info.state: the task is queued to run. */
#define WEFT_TASK_NOTIFIED  (1u << 2)
/** weft_task_info.state: aborted, its future not yet dropped. */
#define WEFT_TASK_CANCELLED (1u << 3)
/** weft_task_info.state: a join handle exists. */
#define WEFT_TASK_JOINABLE  (1u << 4)

/**
 * Fills up to @max entries of @out with the runtime's live tasks and
 * returns how many live tasks there are (which may exceed @max). Each
 * entry is a snapshot; tasks keep running meanwhile. Briefly takes the
 * registry's locks: for debugging, not for hot paths. Any thread.
 */
WEFT_API size_t weft_runtime_tasks(weft_runtime *rt, weft_task_info *out, size_t max);

/**
 * Prints one line per live task to @out: id, state, references, and where
 * it was spawned, then a count. Returns the number of tasks printed, or
 * -EINVAL. Any thread (e.g. from a SIGQUIT-watching task).
 */
WEFT_API int weft_runtime_dump_tasks(weft_runtime *rt, FILE *out);

/** Number of tasks spawned on @rt and not yet finished (a snapshot; 0 for
 *  NULL). Any thread. */
WEFT_API size_t weft_runtime_live_tasks(const weft_runtime *rt);

/* ------------------------------------------------------------- metrics */

/*
 * Metrics are a stable API: fields are only ever appended, and every
 * getter takes the size of the caller's struct, filling that many bytes,
 * so a program built against an older header keeps working. Counters are
 * totals since the runtime started; they are read without stopping the
 * workers, so a snapshot of several counters is not atomic as a whole.
 */

/** Runtime-wide figures. */
typedef struct weft_runtime_metrics {
	uint32_t workers;           /* worker threads (1: current-thread) */
	uint32_t reserved;
	uint64_t live_tasks;        /* spawned and not finished */
	uint64_t spawned_tasks;     /* spawned in all */
	uint64_t inject_depth;      /* tasks in the shared inject queue now */
	uint64_t remote_schedules;  /* tasks queued from outside the workers */
	uint64_t io_events;         /* readiness events the reactor handled */
	uint64_t timers_fired;      /* timers the timing wheel fired */
	/* Fatal errors the I/O driver's backend reported (with epoll:
	 * epoll_wait, the wake-up eventfd; with kqueue: kevent, the wake-up
	 * pipe), counting repeats; 0 in a
	 * healthy runtime. */
	uint64_t driver_errors;
	/* The first of them as a negative errno (e.g. -EBADF), 0 if none.
	 * Sticky: once set, block_on returns it (see "Driver errors"). */
	int32_t driver_error;
	uint32_t reserved2;          /* always 0 */
	/* Task polls the watchdog reported (weft_runtime_config.watchdog_ns):
	 * each poll that held a worker for the threshold counts once. */
	uint64_t watchdog_reports;
	/* The flavour that runs: WEFT_FLAVOUR_CURRENT_THREAD or
	 * WEFT_FLAVOUR_MULTI_THREAD (never AUTO). */
	uint32_t flavour;
	/* The I/O backend this runtime runs on (a weft_backend, never
	 * WEFT_BACKEND_AUTO; weft_backend_name gives its name). */
	uint32_t backend;
} weft_runtime_metrics;

/** Fills the first @size bytes of *@out (the caller's struct, of any
 *  size up to and beyond this header's). 0, or -EINVAL for a NULL
 *  argument. Any thread. */
WEFT_API int weft_runtime_metrics_get(weft_runtime *rt, weft_runtime_metrics *out,
				      size_t size);

/**
 * Buckets of weft_worker_metrics.poll_time_histogram, fixed powers of
 * two: bucket 0 counts polls shorter than 1,024 ns; bucket i (1 .. 14)
 * polls of at least WEFT_POLL_TIME_BUCKET_MIN_NS(i) = 512 << i ns and
 * less than twice that; bucket 15 polls of 2^24 ns (about 16.8 ms) or
 * more.
 */
#define WEFT_POLL_TIME_BUCKETS 16u
/** The shortest poll, in ns, that bucket @i (1 .. 15) counts. */
#define WEFT_POLL_TIME_BUCKET_MIN_NS(i) ((uint64_t)512 << (i))

/** One worker's figures. */
typedef struct weft_worker_metrics {
	uint64_t polls;             /* task polls */
	uint64_t steals;            /* tasks stolen from other workers */
	uint64_t steal_operations;  /* steals that took at least one task */
	uint64_t parks;             /* times it went to sleep */
	uint64_t unparks;           /* times it woke from sleep */
	uint64_t local_schedules;   /* wakes and spawns it queued locally */
	uint64_t remote_schedules;  /* tasks it took from the inject queue */
	uint64_t overflows;         /* local queue overflows to the inject queue */
	uint64_t lifo_hits;         /* tasks run from the LIFO slot */
	uint64_t local_queue_depth; /* tasks in its local queue now */
	/* Nanoseconds (CLOCK_MONOTONIC) it spent running tasks: measured
	 * around each batch of polls, from the first task polled after a
	 * sleep or a poll of the I/O and time drivers to the next of either,
	 * so it includes the queue handling between the polls of a batch
	 * (and, on the current-thread flavour, the polls of block_on's own
	 * future between them), and excludes sleeping and the drivers. */
	uint64_t busy_ns;
	/* Task polls by duration (buckets: WEFT_POLL_TIME_BUCKETS); all zero
	 * unless weft_runtime_config.poll_time_histogram is set. */
	uint64_t poll_time_histogram[WEFT_POLL_TIME_BUCKETS];
} weft_worker_metrics;

/**
 * Fills the first @size bytes of *@out for worker @index (0 .. workers-1;
 * the current-thread flavour has worker 0, the thread in block_on).
 * 0, or -EINVAL for a bad runtime, index or pointer. Any thread.
 */
WEFT_API int weft_runtime_worker_metrics(weft_runtime *rt, uint32_t index,
					 weft_worker_metrics *out, size_t size);

/**
 * yield_now: ready on its second poll. Its first poll wakes the task and
 * returns PENDING, so the task goes to the back of the run queue and
 * every other runnable task runs first.
 */
typedef struct weft_yield_now {
	/** Type-erased view (no drop function: it holds nothing). */
	weft_future fut;
	/** Private: do not touch. */
	struct {
		bool yielded;
	} priv;
} weft_yield_now;

/** Initialises a yield_now future (does nothing else). It has no result:
 *  it cannot fail. */
WEFT_API void weft_yield_now_init(weft_yield_now *y);
/** Polls it (typed form, for WEFT_AWAIT): PENDING once, after waking the
 *  task, then READY. The thread that owns @y. */
WEFT_API weft_poll weft_yield_now_poll(weft_yield_now *y, weft_cx *cx);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_RUNTIME_H */
