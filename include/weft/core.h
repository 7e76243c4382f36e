/*
 * weft/core.h - the future model: poll results, the result convention,
 * wakers, the poll context, futures, stackless coroutine macros and the
 * join/select combinators.
 *
 * A future is an inert state machine. Creating one does nothing: no
 * syscall, no registration, no allocation. Work starts at the first poll.
 * poll() returns WEFT_READY (the future's output is now in its own struct,
 * or in an out-parameter of a leaf poll function) or WEFT_PENDING, in which
 * case the future has arranged for the context's waker to be woken when it
 * can make progress.
 *
 * The result convention, for every poll and future of weft:
 *  - The outcome of a READY poll is one signed integer: >= 0 on success
 *    (a byte count, or 0), a negative errno on failure.
 *  - Leaf polls (functions on an object, such as weft_join_handle_poll or
 *    weft_blocking_handle_poll) take (object, weft_cx *cx, inputs...,
 *    outputs...). Outputs come last and the outcome is the LAST parameter,
 *    named res (ssize_t *res for byte counts, int *res otherwise). A value
 *    produced besides the outcome (a blocking job's value, an accepted
 *    stream) is an out-parameter just before res. A poll that cannot fail
 *    (yield_now) has no res; a repeating future that can (an interval's
 *    tick) keeps its error in its own result field.
 *  - Futures (structs with weft_future fut as first member) keep the
 *    outcome in their int (or ssize_t) field `result`, and what they
 *    produce in named output fields. Their typed poll takes only (T *f,
 *    weft_cx *cx) and writes no out-parameter. The combinators of this
 *    header follow the same rule (weft_join_poll(weft_join *, weft_cx *)).
 *  - Everything in a public struct that the caller must not touch sits in
 *    one member named `priv` (private: do not touch); the other members are
 *    the future's `fut`, its `result` and its documented outputs.
 *
 * Verbs: `close` releases a handle or an in-place object (runtime, join
 * and blocking handles, channel ends, mutex and friends; NULL is ignored),
 * `drop` releases a future (idempotent on leaf futures), `shutdown` ends
 * one direction while the object stays usable (a semaphore's acquires, an
 * mpsc channel's sends).
 *
 * Ownership rules every future follows:
 *  - An unpolled future may be moved (memcpy). Once polled it stays put.
 *  - Its owner calls drop exactly once, whether the future completed or
 *    not. Dropping an unfinished future cancels it and releases everything
 *    it holds. Leaf futures additionally accept a zero-filled state and an
 *    idempotent drop, so a parent can drop every child unconditionally.
 *  - After drop, the plain-data output fields of the struct stay readable
 *    until its memory is reused: drop releases resources, not results.
 *
 * Thread safety: a future is polled by one thread at a time. Wakers may be
 * woken, cloned and dropped from any thread.
 */
#ifndef WEFT_CORE_H
#define WEFT_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks a declaration exported from libweft.so (every such name is also
 * listed in weft.map under its version node). */
#if defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/** Result of a poll. */
typedef enum weft_poll {
	/** Not finished; the context's waker will be woken on progress. */
	WEFT_PENDING = 0,
	/** Finished; the outcome is in the future's result (or res). */
	WEFT_READY = 1,
} weft_poll;

/* ---------------------------------------------------------------- wakers */

/**
 * A waker's behaviour, shared by every waker of one kind (Rust's
 * RawWakerVTable). @data is the waker's own pointer.
 *  - clone: return a new waker for the same target (usually a ref-count up).
 *  - wake: wake the target and release this waker (consumes it).
 *  - wake_by_ref: wake the target, keep this waker.
 *  - drop: release this waker without waking.
 * All four may be called from any thread.
 */
typedef struct weft_waker_vtable {
	/** Returns a new waker for the same target. */
	struct weft_waker (*clone)(const void *data);
	/** Wakes the target and releases this waker. */
	void (*wake)(const void *data);
	/** Wakes the target and keeps this waker. */
	void (*wake_by_ref)(const void *data);
	/** Releases this waker without waking. */
	void (*drop)(const void *data);
} weft_waker_vtable;

/**
 * A waker: a vtable and a data pointer, copied by value. A zero-filled
 * waker (vtable == NULL) is "no waker": waking or dropping it does nothing,
 * which is what lets leaf futures be valid when zero-filled.
 */
typedef struct weft_waker {
	/** The waker's behaviour; NULL for "no waker". */
	const weft_waker_vtable *vtable;
	/** The waker's own pointer, passed to every vtable function. */
	const void *data;
} weft_waker;

/** Returns a clone of @w (an empty waker for an empty one). Any thread. */
static inline weft_waker weft_waker_clone(const weft_waker *w)
{
	if (!w->vtable) {
		weft_waker none;
		none.vtable = NULL;
		none.data = NULL;
		return none;
	}
	return w->vtable->clone(w->data);
}

/** Wakes and releases @w, leaving it empty. Any thread. */
static inline void weft_waker_wake(weft_waker *w)
{
	const weft_waker_vtable *vt = w->vtable;
	const void *data = w->data;
	w->vtable = NULL;
	w->data = NULL;
	if (vt)
		vt->wake(data);
}

/** Wakes @w's target and keeps @w. Any thread. */
static inline void weft_waker_wake_by_ref(const weft_waker *w)
{
	if (w->vtable)
		w->vtable->wake_by_ref(w->data);
}

/** Releases @w without waking, leaving it empty. Idempotent. Any thread. */
static inline void weft_waker_drop(weft_waker *w)
{
	const weft_waker_vtable *vt = w->vtable;
	const void *data = w->data;
	w->vtable = NULL;
	w->data = NULL;
	if (vt)
		vt->drop(data);
}

/** True when waking @a would wake the same target as @b (same vtable and
 *  data). Reads only the two structs; any thread. */
static inline bool weft_waker_will_wake(const weft_waker *a, const weft_waker *b)
{
	return a->vtable == b->vtable && a->data == b->data;
}

/**
 * Stores a clone of @src into the slot @slot unless the slot already holds
 * a waker that wakes the same target (the common case when a future is
 * polled again by the same task). Drops the waker the slot held before.
 * The caller must own @slot exclusively; any thread.
 */
static inline void weft_waker_store(weft_waker *slot, const weft_waker *src)
{
	if (slot->vtable && weft_waker_will_wake(slot, src))
		return;
	weft_waker_drop(slot);
	*slot = weft_waker_clone(src);
}

/** A waker whose operations do nothing; clone returns itself. It owns
 *  nothing, so dropping it or not is the same. Any thread. */
WEFT_API weft_waker weft_noop_waker(void);

/* ------------------------------------------------------------- context */

/** The runtime, as poll contexts name it (weft/runtime.h). */
struct weft_runtime;

/** Default cooperative budget: leaf operations allowed per task poll. */
#define WEFT_DEFAULT_BUDGET 128u

/**
 * What a poll receives: the waker of the task being polled, the runtime it
 * runs on (NULL outside any runtime), and the cooperative budget. Polled
 * children receive the same context, so they share one budget.
 */
typedef struct weft_cx {
	/** The task's waker, borrowed for the poll: clone it to keep it. */
	const weft_waker *waker;
	/** The runtime driving the poll, NULL when polled by hand. */
	struct weft_runtime *runtime;
	/** Budget units left (weft_coop_proceed takes them). */
	uint32_t budget;
	/** Budget units taken so far in this poll. */
	uint32_t budget_used;
} weft_cx;

/** Builds a context around @waker (borrowed: it must outlive the polls
 *  made with the context) with the default budget and no runtime. */
static inline weft_cx weft_cx_from_waker(const weft_waker *waker)
{
	weft_cx cx;
	cx.waker = waker;
	cx.runtime = NULL;
	cx.budget = WEFT_DEFAULT_BUDGET;
	cx.budget_used = 0;
	return cx;
}

/** The runtime driving this poll, or NULL when polled by hand. The
 *  pointer is borrowed: valid while the poll runs. */
static inline struct weft_runtime *weft_cx_runtime(const weft_cx *cx)
{
	return cx->runtime;
}

/**
 * Cooperative scheduling, for leaf futures. Call before an operation that
 * could complete immediately. Returns true and takes one unit of budget
 * when some remain. When the budget is spent it wakes the task by ref and
 * returns false: the leaf must then return WEFT_PENDING without doing the
 * operation, so a busy task hands the thread to others.
 */
static inline bool weft_coop_proceed(weft_cx *cx)
{
	if (cx->budget == 0) {
		weft_waker_wake_by_ref(cx->waker);
		return false;
	}
	cx->budget--;
	cx->budget_used++;
	return true;
}

/**
 * Gives back the unit of budget a weft_coop_proceed took, for a leaf whose
 * operation made no progress (it returns PENDING on an I/O wait). The
 * thread polling with @cx.
 */
static inline void weft_coop_refund(weft_cx *cx)
{
	if (cx->budget_used) {
		cx->budget_used--;
		cx->budget++;
	}
}

/* -------------------------------------------------------------- futures */

/** The type-erased future (defined below). */
typedef struct weft_future weft_future;

/** Polls the future; see the file comment for the contract. */
typedef weft_poll (*weft_poll_fn)(weft_future *f, weft_cx *cx);
/** Releases everything the future holds; called once by its owner. */
typedef void (*weft_drop_fn)(weft_future *f);

/**
 * The type-erased future: the first member of a user's future struct,
 * which holds the state machine, its child futures and its output.
 */
struct weft_future {
	/** Advances the state machine (one thread at a time). */
	weft_poll_fn poll;
	/** Releases what it holds; may be NULL: nothing to release. */
	weft_drop_fn drop;
};

/** Initialiser for the weft_future member: WEFT_FUTURE(my_poll, my_drop). */
#define WEFT_FUTURE(poll_fn, drop_fn) \
	((weft_future){ .poll = (poll_fn), .drop = (drop_fn) })

/** Polls a type-erased future through its vtable; the thread that owns it. */
static inline weft_poll weft_future_poll(weft_future *f, weft_cx *cx)
{
	return f->poll(f, cx);
}

/** Drops a type-erased future (NULL drop function: nothing to do). Its
 *  owner calls this once, from the thread that polls it. */
static inline void weft_future_drop(weft_future *f)
{
	if (f->drop)
		f->drop(f);
}

/* ----------------------------------------------------------- coroutines */

/**
 * Stackless coroutines (async functions).
 *
 * An async function is a struct (first member weft_future, one member
 * weft_coro) and a poll function of this shape:
 *
 *     static weft_poll my_poll(weft_future *f, weft_cx *cx)
 *     {
 *         my_fn *s = (my_fn *)f;
 *         WEFT_BEGIN(&s->co);
 *         WEFT_AWAIT(&s->co, weft_sleep_poll(&s->sleep, cx));
 *         WEFT_TRY(&s->co, child_poll(&s->child, cx), s->child_rc);
 *         WEFT_RETURN(&s->co, 42);
 *         WEFT_END(&s->co);
 *     }
 *
 * Rules:
 *  - Locals that live across an await go in the struct: C locals are lost
 *    every time the function returns PENDING.
 *  - One await (WEFT_AWAIT, WEFT_TRY, WEFT_YIELD) per line: the resume
 *    label is made from __LINE__.
 *  - Awaits may sit inside loops, ifs and the user's own switch: resuming
 *    jumps straight to the label (GCC/Clang labels-as-values), so no
 *    enclosing switch is needed or disturbed. Do not await inside a scope
 *    that declares a variable-length array.
 *  - A child future is initialised right before it is awaited (initialising
 *    does nothing; its first poll starts the work) and the struct's drop
 *    function drops every child (idempotent for leaf futures).
 *  - The coroutine's result is an int in co->result: 0 by default, the
 *    value given to WEFT_RETURN, or the negative errno that WEFT_TRY
 *    propagated. Richer outputs go in struct fields.
 *  - Cleanup is the drop function: the owner calls it once, after
 *    completion (including an early WEFT_RETURN or WEFT_TRY error) or on
 *    cancellation. Polling a finished coroutine returns WEFT_READY again.
 *
 * Every macro expands inside the poll function only: each needs the
 * weft__finish label that WEFT_END places.
 */
typedef struct weft_coro {
	/** Output: 0, the WEFT_RETURN value, or the error WEFT_TRY propagated. */
	int result;
	/** Private: do not touch. resume is NULL before the first poll, 1
	 *  once finished, else the label to continue at. */
	struct {
		void *resume;
	} priv;
} weft_coro;

#define WEFT__CAT2(a, b) a##b
#define WEFT__CAT(a, b) WEFT__CAT2(a, b)
#define WEFT__LABEL WEFT__CAT(weft__resume_, __LINE__)

/* resume value of a finished coroutine */
#define WEFT__CORO_DONE ((void *)1)

/** Starts the coroutine body; resumes at the last await on later polls. */
#define WEFT_BEGIN(co)                                                    \
	do {                                                              \
		(void)&&weft__finish; /* a body with no await still jumps */ \
		if ((co)->priv.resume) {                                  \
			if ((co)->priv.resume == WEFT__CORO_DONE)         \
				return WEFT_READY;                        \
			goto *(co)->priv.resume;                          \
		}                                                         \
	} while (0)

/**
 * Awaits @poll_expr (an expression giving weft_poll): returns PENDING from
 * the coroutine until it gives READY, re-evaluating it on every resume.
 */
#define WEFT_AWAIT(co, poll_expr)                                         \
	do {                                                              \
		(co)->priv.resume = &&WEFT__LABEL;                        \
	WEFT__LABEL:                                                      \
		if ((poll_expr) == WEFT_PENDING)                          \
			return WEFT_PENDING;                              \
	} while (0)

/**
 * Rust's `expr.await?`: awaits @poll_expr, then, if the integer lvalue
 * @res (which the poll filled in) is negative, finishes the coroutine with
 * that error as its result. Code after it runs only on success.
 */
#define WEFT_TRY(co, poll_expr, res)                                      \
	do {                                                              \
		WEFT_AWAIT(co, poll_expr);                                \
		if ((res) < 0) {                                          \
			(co)->result = (int)(res);                        \
			goto weft__finish;                                \
		}                                                         \
	} while (0)

/** Finishes the coroutine now with result @value (an int). */
#define WEFT_RETURN(co, value)                                            \
	do {                                                              \
		(co)->result = (value);                                   \
		goto weft__finish;                                        \
	} while (0)

/**
 * Gives the thread back once: wakes the task by ref, returns PENDING, and
 * continues after this point on the next poll (like yield_now inline).
 */
#define WEFT_YIELD(co, cx)                                                \
	do {                                                              \
		(co)->priv.resume = &&WEFT__LABEL;                        \
		weft_waker_wake_by_ref((cx)->waker);                      \
		return WEFT_PENDING;                                      \
	WEFT__LABEL:;                                                     \
	} while (0)

/** Ends the body: the coroutine is finished and returns READY from now on. */
#define WEFT_END(co)                                                      \
	do {                                                              \
	weft__finish: __attribute__((unused));                            \
		(co)->priv.resume = WEFT__CORO_DONE;                      \
		return WEFT_READY;                                        \
	} while (0)

/* ---------------------------------------------------------- combinators */

/*
 * The combinators own nothing but flags: their children live in the
 * caller's struct and are named by pointer. Each child is polled only
 * while unfinished, and dropped by the combinator as soon as it finishes
 * (its output fields stay readable) or is cancelled, or when the
 * combinator itself is dropped; so every child's drop runs exactly once.
 * Initialisers do nothing else; the structs may be moved until polled.
 * N-ary forms take at most WEFT_COMBINATOR_MAX children.
 */
/** The most children an n-ary join, try-join or select takes (one bit
 *  each in a 64-bit word). */
#define WEFT_COMBINATOR_MAX 64

/**
 * Join: ready when every child is ready (Rust's join!). Output: result, 0
 * once every child finished, or -EINVAL for a bad child count or a NULL
 * child (then ready at the first poll, no child polled). Read each child's
 * output from the child.
 */
typedef struct weft_join {
	/** Type-erased view: weft_join_poll and weft_join_drop. */
	weft_future fut;
	/** Output: 0, or -EINVAL (bad count, NULL child). */
	int result;
	/** Private: do not touch. */
	struct {
		weft_future **children;  /* NULL: the two in pair[] */
		weft_future *pair[2];
		uint64_t finished;       /* bit i: child i finished and dropped */
		uint32_t n;
	} priv;
} weft_join;

/** Join of @n children (1..WEFT_COMBINATOR_MAX). The array @children and
 *  the children stay owned by the caller and must outlive the join (the
 *  join drops each child once, but frees nothing). Does nothing else. */
WEFT_API void weft_join_init(weft_join *j, weft_future **children, uint32_t n);
/** Join of two children; needs no array. A NULL child gives -EINVAL. */
WEFT_API void weft_join2_init(weft_join *j, weft_future *a, weft_future *b);
/** Polls every unfinished child once, in order, dropping each as it
 *  finishes: READY once all have (j->result set). The thread that owns
 *  the join. */
WEFT_API weft_poll weft_join_poll(weft_join *j, weft_cx *cx);
/** Drops (cancels) every child that has not finished. Idempotent. The
 *  thread that owns the join. */
WEFT_API void weft_join_drop(weft_join *j);

/**
 * Try-join: like join, but each child also names an int it sets to its
 * result when it completes (for a coroutine, &child.co.result). The first
 * negative result cancels (drops) every unfinished child, and the
 * try-join completes with that result; otherwise it completes with 0 when
 * all are done.
 */
typedef struct weft_try_join {
	/** Type-erased view: weft_try_join_poll and weft_try_join_drop. */
	weft_future fut;
	/** Output: 0, the first negative child result, or -EINVAL (bad
	 *  count, NULL child or result pointer). */
	int result;
	/** Private: do not touch. */
	struct {
		weft_join join;
		int *const *results;   /* NULL: the two in pair_results[] */
		int *pair_results[2];
	} priv;
} weft_try_join;

/** Try-join of @n children (1..WEFT_COMBINATOR_MAX) whose results are
 *  *@results[i]; both arrays stay the caller's and must outlive the
 *  try-join. Does nothing else. */
WEFT_API void weft_try_join_init(weft_try_join *tj, weft_future **children,
				 int *const *results, uint32_t n);
/** Try-join of two children, with their result ints @ra and @rb. */
WEFT_API void weft_try_join2_init(weft_try_join *tj, weft_future *a, int *ra,
				  weft_future *b, int *rb);
/** Polls every unfinished child once; READY when all succeeded or one
 *  failed (the others are then dropped at once). The owner's thread. */
WEFT_API weft_poll weft_try_join_poll(weft_try_join *tj, weft_cx *cx);
/** Drops (cancels) every child that has not finished. Idempotent. */
WEFT_API void weft_try_join_drop(weft_try_join *tj);

/**
 * Select: ready when the first child is ready (Rust's select!). Children
 * are polled in order, so earlier ones win ties. Differs from Tokio's
 * select!, which polls its branches in a random order unless it is given
 * `biased;`: this select is always biased (deterministic; put a branch
 * that must not be starved first, or rotate the order yourself). When one
 * finishes, every other child is dropped (cancelled) at once. A join
 * handle becomes a child through weft_join_task (weft/runtime.h).
 */
typedef struct weft_select {
	/** Type-erased view: weft_select_poll and weft_select_drop. */
	weft_future fut;
	/** Output: 0 once a child finished, or -EINVAL (bad child count or
	 *  NULL child: ready at the first poll with winner -1). */
	int result;
	/** Output: the index of the child that finished, -1 before. */
	int winner;
	/** Private: do not touch. */
	struct {
		weft_future **children;  /* NULL: the two in pair[] */
		weft_future *pair[2];
		uint32_t n;
		bool dropped;
	} priv;
} weft_select;

/** Select among @n children (1..WEFT_COMBINATOR_MAX); the array and the
 *  children stay the caller's and must outlive the select. Does nothing
 *  else. */
WEFT_API void weft_select_init(weft_select *s, weft_future **children, uint32_t n);
/** Select between two children; needs no array. */
WEFT_API void weft_select2_init(weft_select *s, weft_future *a, weft_future *b);
/** Polls the children in order until one is READY: then sets winner,
 *  drops every child (the winner's outputs stay readable) and returns
 *  READY. The thread that owns the select. */
WEFT_API weft_poll weft_select_poll(weft_select *s, weft_cx *cx);
/** Drops every child (cancelling the unfinished ones). Idempotent. */
WEFT_API void weft_select_drop(weft_select *s);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CORE_H */
