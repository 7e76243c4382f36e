/*
 * weft/time.h - time: the runtime's clock, sleep, interval, timeout, and
 * a clock that tests can pause and advance.
 *
 * Each runtime has a monotonic clock counting nanoseconds since the
 * runtime was created (weft_instant), and a hierarchical timing wheel with
 * 1 ms resolution. Deadlines are kept in nanoseconds and rounded UP to the
 * wheel's next millisecond: a timer never fires before its deadline, and
 * normally within 1 ms after it (plus scheduling delay).
 *
 * The time futures follow the leaf-future rules of weft/core.h: they live
 * in the caller's struct (no allocation per timer: the wheel entry is
 * inside the future), initialising one does nothing (no clock read, no
 * registration), the first poll starts the work, a zero-filled one is
 * valid, drop is idempotent and cancels, and every poll takes one unit of
 * cooperative budget (given back when it returns PENDING to wait).
 *
 * They need the runtime from the poll context (weft_cx_runtime). Polled
 * with no runtime (cx->runtime == NULL, e.g. by hand with
 * weft_cx_from_waker) they complete at once with the error -EINVAL in
 * their `result`; they do not crash (Tokio panics here). A future that
 * registered a timer with a runtime must be dropped before that runtime
 * is freed; weft_runtime_close and weft_block_on drop the futures they own.
 *
 * Thread safety: a time future is polled and dropped by one thread at a
 * time (the usual future rule); the clock functions may be called from
 * any thread.
 */
#ifndef WEFT_TIME_H
#define WEFT_TIME_H

#include <weft/core.h>
#include <weft/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A point on a runtime's clock: nanoseconds since the runtime was
 *  created. Instants of different runtimes do not compare. */
typedef uint64_t weft_instant;

/** @x nanoseconds, as a duration in ns (weft_sleep_init(&s, WEFT_NS(500))). */
#define WEFT_NS(x)  ((uint64_t)(x))
/** @x microseconds, as a duration in ns. */
#define WEFT_US(x)  ((uint64_t)(x) * UINT64_C(1000))
/** @x milliseconds, as a duration in ns (weft_sleep_init(&s, WEFT_MS(250))). */
#define WEFT_MS(x)  ((uint64_t)(x) * UINT64_C(1000000))
/** @x seconds, as a duration in ns. */
#define WEFT_SEC(x) ((uint64_t)(x) * UINT64_C(1000000000))

/**
 * The current time on @rt's clock, in ns since the runtime was created.
 * Monotonic; frozen while the clock is paused. Returns 0 for a NULL
 * runtime. Any thread.
 */
WEFT_API weft_instant weft_now(weft_runtime *rt);

/* ----------------------------------------------------------------- sleep */

/**
 * A sleep: a future that completes once its deadline has passed.
 *
 * Output fields (readable after completion, and after drop):
 *  - result: 0 once the deadline passed, or -EINVAL when polled without a
 *    runtime.
 *  - deadline: the deadline on the runtime's clock; set by
 *    weft_sleep_until_init, or at the first poll for weft_sleep_init
 *    (first-poll time + duration, saturating).
 *
 * The remaining storage, `priv`, is private: it holds the timer's wheel
 * entry and must not be touched. `fut` is the type-erased view (set by
 * the initialisers), so a sleep can be spawned, joined or selected; in a
 * coroutine, await the typed form weft_sleep_poll.
 */
typedef struct weft_sleep {
	/** Type-erased view: weft_sleep_poll and weft_sleep_drop. */
	weft_future fut;
	/** Output: 0 once elapsed, -EINVAL without a runtime. */
	int result;
	/** Output: the deadline on the runtime's clock (see above). */
	weft_instant deadline;
	/** Private: do not touch (the timer's wheel entry). */
	struct {
		uint64_t opaque[10];
	} priv;
} weft_sleep;

/**
 * Initialises @s as a sleep of @duration_ns, counted from its first poll.
 * Does nothing else: no clock read, no registration, no allocation. @s
 * must not hold a registered timer (drop it first); it may be moved until
 * first polled. A zero-filled weft_sleep is a sleep of 0 ns. Thread: the
 * one that owns @s.
 *
 * Differs from Tokio: Tokio's sleep(d) reads the clock when it is called,
 * so its deadline is creation time + d; here initialising reads no clock
 * and the deadline is first-poll time + d. For a deadline fixed at
 * creation, read weft_now and use weft_sleep_until_init.
 */
WEFT_API void weft_sleep_init(weft_sleep *s, uint64_t duration_ns);

/** Initialises @s as a sleep until @deadline on the runtime's clock (a
 *  deadline in the past completes at the first poll). Does nothing else.
 *  The thread that owns @s. */
WEFT_API void weft_sleep_until_init(weft_sleep *s, weft_instant deadline);

/**
 * Polls the sleep: READY once the deadline has passed (result 0), or at
 * once with result -EINVAL when @cx has no runtime. PENDING registers the
 * timer (first time) or refreshes its waker, which is woken, from the
 * thread that fires timers, when the deadline passes. Polling a completed
 * sleep returns READY again. Takes one unit of budget; when none is left
 * it returns PENDING after waking the task. The thread that owns @s.
 */
WEFT_API weft_poll weft_sleep_poll(weft_sleep *s, weft_cx *cx);

/**
 * Moves the sleep's deadline to @deadline and makes it pending again
 * (Tokio's Sleep::reset), whether it completed or not: the old timer is
 * cancelled now, the new one is registered at the next poll. For a sleep
 * that keeps its place in memory (already polled or not). The thread that
 * owns @s.
 */
WEFT_API void weft_sleep_reset(weft_sleep *s, weft_instant deadline);

/** True once the sleep has completed (READY was returned). Never waits.
 *  The thread that owns @s. */
WEFT_API bool weft_sleep_is_elapsed(const weft_sleep *s);

/**
 * Drops the sleep: cancels its timer and releases the waker it holds.
 * Idempotent; safe on a zero-filled or never-polled sleep. The output
 * fields stay readable. Same thread rules as poll.
 */
WEFT_API void weft_sleep_drop(weft_sleep *s);

/* -------------------------------------------------------------- interval */

/**
 * What an interval does when ticks were missed (the task was busy or the
 * clock jumped), like Tokio's MissedTickBehavior. A tick counts as
 * missed when it is taken more than 5 ms after its deadline (Tokio's
 * threshold): then the policy below picks the next deadline. A tick
 * taken on time, or late by 5 ms or less, keeps the schedule under every
 * policy: the next deadline is its deadline + period.
 */
typedef enum weft_missed_tick {
	/** Fire the missed ticks at once, back to back, until caught up;
	 *  then keep the original schedule (start + k * period). Default. */
	WEFT_MISSED_TICK_BURST = 0,
	/** Start the schedule again from now: the next tick is one full
	 *  period after the late tick was taken, so no two ticks come closer
	 *  together than the period. */
	WEFT_MISSED_TICK_DELAY = 1,
	/** Drop the missed ticks: the next tick is the first one of the
	 *  original schedule strictly after the late tick was taken (a tick
	 *  taken exactly on a later schedule point waits for the one after
	 *  it). */
	WEFT_MISSED_TICK_SKIP = 2,
} weft_missed_tick;

/**
 * An interval: yields ticks at start, start + period, start + 2*period,
 * ... The first tick completes at once (at the first poll, or at the
 * given start). Output: result, 0, or -EINVAL (zero period, bad policy,
 * or polled without a runtime; the error is sticky). Not a type-erased
 * future: it yields many ticks, so it has no `fut` and no drop of that
 * kind (weft_interval_drop takes the interval).
 */
typedef struct weft_interval {
	/** Output: 0, or -EINVAL (sticky). */
	int result;
	/** Private: do not touch. */
	struct {
		weft_sleep sleep;
		uint64_t period;
		weft_instant start;
		int policy;
		bool has_start;
		bool started;
	} priv;
} weft_interval;

/**
 * Initialises @iv to tick every @period_ns, the first tick at its first
 * poll, with @policy for missed ticks. Does nothing else. A zero-filled
 * interval (period 0) completes every poll with -EINVAL. The thread that
 * owns @iv.
 */
WEFT_API void weft_interval_init(weft_interval *iv, uint64_t period_ns,
				 weft_missed_tick policy);

/** Like weft_interval_init, with the first tick at @start on the
 *  runtime's clock (Tokio's interval_at). Does nothing else. */
WEFT_API void weft_interval_at_init(weft_interval *iv, weft_instant start, uint64_t period_ns,
				    weft_missed_tick policy);

/**
 * Waits for the next tick: READY with *@tick = the tick's scheduled
 * instant (not the time it was observed, which may be later), and the
 * interval armed for the following tick; or READY with iv->result < 0 and
 * *@tick = 0 on error. PENDING: the task is woken at the tick's deadline.
 * Takes one unit of budget per poll. @tick may be NULL. A leaf poll whose
 * error is the interval's own sticky result rather than a res parameter.
 * The thread that owns @iv.
 */
WEFT_API weft_poll weft_interval_tick_poll(weft_interval *iv, weft_cx *cx, weft_instant *tick);

/** Cancels the interval's timer (it must be dropped before the runtime is
 *  closed). Idempotent; zero-filled is fine. The thread that owns @iv. */
WEFT_API void weft_interval_drop(weft_interval *iv);

/* --------------------------------------------------------------- timeout */

/**
 * A timeout: runs the future @inner until it completes or a duration
 * passes, whichever is first (Tokio's timeout).
 *
 * The inner future stays in the caller's memory (named by pointer; it
 * must not move while the timeout runs), but the timeout owns its drop:
 * it drops the inner future exactly once, as soon as it completes, when
 * the time is up (cancelling it), or when the timeout itself is dropped;
 * the inner's output fields stay readable after that.
 *
 * Output: result, 0 when the inner future completed (read its own
 * output), -ETIMEDOUT when the time ran out first (the inner future was
 * dropped unfinished), -EINVAL for a NULL inner future or no runtime.
 * The inner future is polled first, so when both are ready in the same
 * poll the inner one wins. If the inner future spends the whole budget,
 * the timer is still checked, so a busy inner future cannot outlive its
 * timeout.
 */
typedef struct weft_timeout {
	/** Type-erased view: weft_timeout_poll and weft_timeout_drop. */
	weft_future fut;
	/** Output: 0, -ETIMEDOUT or -EINVAL, as above. */
	int result;
	/** Private: do not touch. */
	struct {
		weft_future *inner;
		weft_sleep sleep;
		bool inner_dropped;
		bool done;
	} priv;
} weft_timeout;

/** Initialises @t: @inner, with at most @duration_ns from the first poll.
 *  Does nothing else (the inner future is not touched). Differs from
 *  Tokio, whose timeout(d, f) counts d from the call: here it counts from
 *  the first poll, like weft_sleep_init (use weft_timeout_at_init for a
 *  deadline fixed at creation). The thread that owns @t. */
WEFT_API void weft_timeout_init(weft_timeout *t, weft_future *inner, uint64_t duration_ns);

/** Like weft_timeout_init with an absolute @deadline on the runtime's
 *  clock. Does nothing else. */
WEFT_API void weft_timeout_at_init(weft_timeout *t, weft_future *inner, weft_instant deadline);

/** Polls the timeout (typed form, for WEFT_AWAIT): polls the inner
 *  future, then the timer; READY when result is set. The thread that owns
 *  @t. */
WEFT_API weft_poll weft_timeout_poll(weft_timeout *t, weft_cx *cx);

/** Drops the timeout: drops the inner future if not yet dropped and cancels
 *  the timer. Idempotent; zero-filled is fine. The thread that owns @t. */
WEFT_API void weft_timeout_drop(weft_timeout *t);

/* ------------------------------------------------------------ test clock */

/**
 * Pauses @rt's clock: weft_now stops moving, and from then on the clock
 * moves only by weft_time_advance or by auto-advance: whenever the
 * runtime has nothing to run and a timer is registered, the thread
 * parked in the driver moves the clock straight to the next deadline
 * instead of sleeping. Timer tests are then exact and take microseconds.
 * Returns 0, -EINVAL (NULL @rt) or -EALREADY (already paused). Any
 * thread; meant for tests, best before tasks start.
 */
WEFT_API int weft_time_pause(weft_runtime *rt);

/**
 * Lets @rt's clock run again from the paused value (it never goes back).
 * Returns 0, -EINVAL (NULL @rt), -EALREADY (not paused), or the -errno
 * of a failed clock read (clock_gettime), the clock then staying paused.
 * Any thread.
 */
WEFT_API int weft_time_resume(weft_runtime *rt);

/**
 * Moves the paused clock forward by @ns (saturating at 2^63 ns, about
 * 292 years), then fires every
 * timer now due on the calling thread (their wakers are woken from it)
 * and wakes the thread parked in the runtime's driver so it recomputes
 * its timeout. Returns 0, -EINVAL (NULL @rt, or the clock is not
 * paused). Any thread, inside a task of @rt or outside it.
 */
WEFT_API int weft_time_advance(weft_runtime *rt, uint64_t ns);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_TIME_H */
