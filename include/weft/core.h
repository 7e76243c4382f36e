/*
 * weft/core.h - the future model: poll results, wakers, the poll context,
 * futures, stackless coroutine macros and the join/select combinators.
 *
 * A future is an inert state machine. Creating one does nothing: no
 * syscall, no registration, no allocation. Work starts at the first poll.
 * poll() returns WEFT_READY (the future's output is now in its own struct,
 * or in an out-parameter of a leaf poll function) or WEFT_PENDING, in which
 * case the future has arranged for the context's waker to be woken when it
 * can make progress.
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

#if defined(WEFT_BUILDING) && defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/** Result of a poll. */
typedef enum weft_poll {
	WEFT_PENDING = 0,
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
	struct weft_waker (*clone)(const void *data);
	void (*wake)(const void *data);
	void (*wake_by_ref)(const void *data);
	void (*drop)(const void *data);
} weft_waker_vtable;

/**
 * A waker: a vtable and a data pointer, copied by value. A zero-filled
 * waker (vtable == NULL) is "no waker": waking or dropping it does nothing,
 * which is what lets leaf futures be valid when zero-filled.
 */
typedef struct weft_waker {
	const weft_waker_vtable *vtable;
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

/** True when waking @a would wake the same target as @b. */
static inline bool weft_waker_will_wake(const weft_waker *a, const weft_waker *b)
{
	return a->vtable == b->vtable && a->data == b->data;
}

/**
 * Stores a clone of @src into the slot @slot unless the slot already holds
 * a waker that wakes the same target (the common case when a future is
 * polled again by the same task). Drops the waker the slot held before.
 * The caller must own @slot exclusively.
 */
static inline void weft_waker_store(weft_waker *slot, const weft_waker *src)
{
	if (slot->vtable && weft_waker_will_wake(slot, src))
		return;
	weft_waker_drop(slot);
	*slot = weft_waker_clone(src);
}

/** A waker whose operations do nothing; clone returns itself. */
WEFT_API weft_waker weft_noop_waker(void);

/**
 * A waker for tests that counts what is done with it. Initialise with
 * weft_counting_waker_init, then take wakers with weft_counting_waker_get.
 * live = wakers obtained or cloned and not yet consumed by wake or drop:
 * it must be 0 at the end of a test that leaks nothing. The counters are
 * updated atomically (the wakers may be used from any thread); read them
 * with weft_counting_waker_load, or directly once the other threads are
 * joined.
 */
typedef struct weft_counting_waker {
	long clones;
	long wakes;        /* wake + wake_by_ref */
	long wakes_by_ref;
	long drops;
	long live;
} weft_counting_waker;

/** Reads one counter of @cw atomically, e.g. weft_counting_waker_load(&cw.live). */
static inline long weft_counting_waker_load(const long *counter)
{
	return __atomic_load_n(counter, __ATOMIC_ACQUIRE);
}

/** Zeroes the counters. */
WEFT_API void weft_counting_waker_init(weft_counting_waker *cw);
/** Returns a new waker (counted in live) that counts into @cw. */
WEFT_API weft_waker weft_counting_waker_get(weft_counting_waker *cw);

/* ------------------------------------------------------------- context */

struct weft_runtime;

/** Default cooperative budget: leaf operations allowed per task poll. */
#define WEFT_DEFAULT_BUDGET 128u

/**
 * What a poll receives: the waker of the task being polled, the runtime it
 * runs on (NULL outside any runtime), and the cooperative budget. Polled
 * children receive the same context, so they share one budget.
 */
typedef struct weft_cx {
	const weft_waker *waker;
	struct weft_runtime *runtime;
	uint32_t budget;
	uint32_t budget_used;
} weft_cx;

/** Builds a context around @waker with the default budget and no runtime. */
static inline weft_cx weft_cx_from_waker(const weft_waker *waker)
{
	weft_cx cx;
	cx.waker = waker;
	cx.runtime = NULL;
	cx.budget = WEFT_DEFAULT_BUDGET;
	cx.budget_used = 0;
	return cx;
}

/** The runtime driving this poll, or NULL when polled by hand. */
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
 * operation made no progress (it returns PENDING on an I/O wait).
 */
static inline void weft_coop_refund(weft_cx *cx)
{
	if (cx->budget_used) {
		cx->budget_used--;
		cx->budget++;
	}
}

/* -------------------------------------------------------------- futures */

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
	weft_poll_fn poll;
	weft_drop_fn drop;   /* may be NULL: nothing to release */
};

/** Initialiser for the weft_future member: WEFT_FUTURE(my_poll, my_drop). */
#define WEFT_FUTURE(poll_fn, drop_fn) \
	((weft_future){ .poll = (poll_fn), .drop = (drop_fn) })

/** Polls a type-erased future. */
static inline weft_poll weft_future_poll(weft_future *f, weft_cx *cx)
{
	return f->poll(f, cx);
}

/** Drops a type-erased future (NULL drop function: nothing to do). */
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
	void *resume;   /* NULL: not started; 1: finished; else the label to continue at */
	int result;
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
		if ((co)->resume) {                                       \
			if ((co)->resume == WEFT__CORO_DONE)              \
				return WEFT_READY;                        \
			goto *(co)->resume;                               \
		}                                                         \
	} while (0)

/**
 * Awaits @poll_expr (an expression giving weft_poll): returns PENDING from
 * the coroutine until it gives READY, re-evaluating it on every resume.
 */
#define WEFT_AWAIT(co, poll_expr)                                         \
	do {                                                              \
		(co)->resume = &&WEFT__LABEL;                             \
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
		(co)->resume = &&WEFT__LABEL;                             \
		weft_waker_wake_by_ref((cx)->waker);                      \
		return WEFT_PENDING;                                      \
	WEFT__LABEL:;                                                     \
	} while (0)

/** Ends the body: the coroutine is finished and returns READY from now on. */
#define WEFT_END(co)                                                      \
	do {                                                              \
	weft__finish: __attribute__((unused));                            \
		(co)->resume = WEFT__CORO_DONE;                           \
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
#define WEFT_COMBINATOR_MAX 64

/**
 * Join: ready when every child is ready (Rust's join!). Output: none; read
 * each child's output from the child.
 */
typedef struct weft_join {
	weft_future fut;
	weft_future **children;  /* NULL: the two in pair[] */
	weft_future *pair[2];
	uint64_t finished;       /* bit i: child i finished and dropped */
	uint32_t n;
	int result;              /* 0, or -EINVAL for a bad child count */
} weft_join;

/** Join of @n children (1..WEFT_COMBINATOR_MAX); the array @children stays
 *  owned by the caller and must outlive the join. */
WEFT_API void weft_join_init(weft_join *j, weft_future **children, uint32_t n);
/** Join of two children; needs no array. */
WEFT_API void weft_join2_init(weft_join *j, weft_future *a, weft_future *b);
WEFT_API weft_poll weft_join_poll(weft_future *f, weft_cx *cx);
WEFT_API void weft_join_drop(weft_future *f);

/**
 * Try-join: like join, but each child also names an int it sets to its
 * result when it completes (for a coroutine, &child.co.result). The first
 * negative result cancels (drops) every unfinished child, and the
 * try-join completes with that result; otherwise it completes with 0 when
 * all are done.
 */
typedef struct weft_try_join {
	weft_join join;
	int *const *results;   /* NULL: the two in pair_results[] */
	int *pair_results[2];
	int result;
} weft_try_join;

WEFT_API void weft_try_join_init(weft_try_join *tj, weft_future **children,
				 int *const *results, uint32_t n);
/** Try-join of two children, with their result ints @ra and @rb. */
WEFT_API void weft_try_join2_init(weft_try_join *tj, weft_future *a, int *ra,
				  weft_future *b, int *rb);
WEFT_API weft_poll weft_try_join_poll(weft_future *f, weft_cx *cx);
WEFT_API void weft_try_join_drop(weft_future *f);

/**
 * Select: ready when the first child is ready (Rust's select!). Children
 * are polled in order, so earlier ones win ties. Differs from Tokio's
 * select!, which polls its branches in a random order unless it is given
 * `biased;`: this select is always biased (deterministic; put a branch
 * that must not be starved first, or rotate the order yourself). When one finishes, every
 * other child is dropped (cancelled) at once. Output: winner, the index of
 * the child that finished (-1 before completion).
 */
typedef struct weft_select {
	weft_future fut;
	weft_future **children;  /* NULL: the two in pair[] */
	weft_future *pair[2];
	uint32_t n;
	int winner;
	bool dropped;
} weft_select;

/** Select among @n children (1..WEFT_COMBINATOR_MAX); the array stays the
 *  caller's and must outlive the select. With a bad count, the select is
 *  ready at once with winner -1. */
WEFT_API void weft_select_init(weft_select *s, weft_future **children, uint32_t n);
/** Select between two children; needs no array. */
WEFT_API void weft_select2_init(weft_select *s, weft_future *a, weft_future *b);
WEFT_API weft_poll weft_select_poll(weft_future *f, weft_cx *cx);
WEFT_API void weft_select_drop(weft_future *f);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CORE_H */
