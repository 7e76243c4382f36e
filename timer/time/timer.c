/*
 * timer.c - the time driver: a runtime's clock (monotonic or paused) and
 * its timing wheel, shared by the futures that register timers and the
 * thread that parks in the runtime's driver.
 *
 * Protocol.
 *
 * The lock. tm->lock guards the wheel, driver_deadline, and for every
 * registered timer its wheel links, its waker and every change of its
 * state. A timer is owned by the thread polling its future, which alone
 * registers and cancels it; the driver (or weft_time_advance) fires it.
 *
 * Timer states. IDLE -> REGISTERED (owner, under the lock: insert in the
 * wheel, store a waker clone). REGISTERED -> FIRED (firing thread, under
 * the lock: take the entry out of the wheel and the waker out of the
 * timer, then store FIRED with release; after that it never touches the
 * timer again and wakes the waker once the lock is dropped).
 * REGISTERED -> IDLE (owner's cancel, under the lock). The owner reads the
 * state without the lock, with acquire: seeing FIRED means the firing
 * thread's last write to the timer happened before, so the owner may
 * reuse or free the memory; seeing IDLE is its own write. Any other value
 * makes it take the lock and read again, so a fire racing a cancel or a
 * waker refresh is decided under the lock, exactly once.
 *
 * Wakers are cloned, woken and dropped outside the lock: the firing
 * thread collects up to WEFT__TIME_BATCH wakers, unlocks, wakes them, and
 * locks again for the next batch, so a woken task that registers again
 * (from another thread) never waits behind a long firing.
 *
 * Unparking. The parked driver sleeps until driver_deadline, which it
 * records under the lock when it asks for the next deadline and clears
 * (0 = awake) when it fires timers after waking. A registration whose
 * tick is earlier than driver_deadline lowers it and tells its caller to
 * unpark the driver; other registrations do not. No deadline is missed:
 * both happen under the lock, so a registration either precedes the
 * driver's question (and is in its answer) or sees the recorded deadline.
 *
 * The fast path. A server with no timer would pay two lock round trips
 * and a clock read per park for nothing, so `armed` mirrors the wheel's
 * length and the driver looks at it without the lock. To ask, it first
 * stores driver_deadline = UINT64_MAX ("asleep, no deadline"), then loads
 * armed; a registration increments armed under the lock, then loads
 * driver_deadline. All four are SeqCst, a store-load pair on each side:
 * either the driver sees the new timer (and takes the lock to compute the
 * deadline as above), or the registration sees UINT64_MAX and unparks it.
 * After waking, the driver that sees armed == 0 only stores 0 (awake),
 * without the lock: a registration that reads that 0 and does not unpark
 * came after the driver woke, and the driver's next question sees it.
 * In C11 terms: the 0 is sequenced before the next question's SeqCst
 * store of UINT64_MAX, later in driver_deadline's modification order,
 * so a SeqCst load that reads the 0 precedes that store in the SeqCst
 * order S; the registration's SeqCst fetch_add of armed precedes its
 * load, hence the store, hence the driver's SeqCst load of armed, which
 * sees the increment. tests/model/timer_fastpath.pml checks both pairs
 * with a store buffer per thread (removing either side's SeqCst pair
 * must fail there) and this awake path through a driver woken for
 * someone else's I/O.
 *
 * The clock. now = frozen_ns while paused, else CLOCK_MONOTONIC +
 * offset_ns (modulo 2^64; the offset starts as minus the time at init).
 * Writers (pause, resume, advance, auto-advance) hold the lock; readers do
 * not. resume stores offset_ns before it publishes RUNNING with release,
 * and a reader loads frozen_ns with acquire before it reads offset_ns, so
 * it never pairs RUNNING with a stale offset. The clock never goes
 * backwards: resume picks the offset so the running clock continues from
 * the frozen value, and the paused clock is capped at WEFT__TIME_MAX_NS so
 * that it cannot wrap afterwards. The wheel keeps its own `elapsed` and
 * never moves it back either.
 */
#include "time_driver.h"

#include <errno.h>
#include <time.h>

#include "sys.h"


/* CLOCK_MONOTONIC in ns into *@ns: 0, or -errno from a failed read
 * (then *@ns is untouched). */
static inline int weft__mono_ns(uint64_t *ns)
{
	struct timespec ts;
	int rc = weft__sys_clock_gettime(CLOCK_MONOTONIC, &ts);
	if (weft__unlikely(rc < 0))
		return rc;
	*ns = (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
	return 0;
}

/* Tick of a deadline, rounded up: a timer never fires before its deadline. */
static uint64_t weft__ns_to_tick_ceil(uint64_t ns)
{
	uint64_t tick = ns / WEFT__NS_PER_TICK + (ns % WEFT__NS_PER_TICK != 0);
	return tick < WEFT__WHEEL_MAX_WHEN ? tick : WEFT__WHEEL_MAX_WHEN;
}

static uint64_t weft__tick_to_ns(uint64_t tick)
{
	if (tick > (UINT64_MAX - 1) / WEFT__NS_PER_TICK)
		return UINT64_MAX - 1;
	return tick * WEFT__NS_PER_TICK;
}

/* ---------------------------------------------------------------- clock */

int weft__time_init(struct weft__time *tm)
{
	/* The clock must read once here: the offset is made from it. */
	uint64_t mono;
	int rc = weft__mono_ns(&mono);
	if (rc < 0)
		return rc;
	rc = weft__sys_mutex_init(&tm->lock, NULL);
	if (rc < 0)
		return rc;
	weft__wheel_init(&tm->wheel, 0);
	atomic_init(&tm->driver_deadline, 0);
	atomic_init(&tm->armed, 0);
	atomic_init(&tm->offset_ns, (uint64_t)0 - mono);
	atomic_init(&tm->seen_ns, 0);
	atomic_init(&tm->frozen_ns, WEFT__TIME_RUNNING);
	return 0;
}

void weft__time_fini(struct weft__time *tm)
{
	/* Timers still in the wheel belong to futures never dropped; their
	 * memory may be gone, so they are not walked. */
	pthread_mutex_destroy(&tm->lock);
}

uint64_t weft__time_now(struct weft__time *tm)
{
	/* Acquire: pairs with resume's release, so RUNNING comes with the
	 * offset_ns resume stored before it. */
	uint64_t frozen = atomic_load_explicit(&tm->frozen_ns, memory_order_acquire);
	if (frozen != WEFT__TIME_RUNNING)
		return frozen;
	uint64_t mono;
	/* A failed read (never seen outside fault injection) gives the time
	 * of the driver's last turn with timers: time stands still for that
	 * read, without costing the common path a store. Relaxed: a value,
	 * nothing published with it. */
	if (weft__unlikely(weft__mono_ns(&mono) < 0))
		return atomic_load_explicit(&tm->seen_ns, memory_order_relaxed);
	/* Relaxed: ordered by the acquire above. */
	return mono + atomic_load_explicit(&tm->offset_ns, memory_order_relaxed);
}

bool weft__time_is_paused(struct weft__time *tm)
{
	/* Relaxed: a hint for the driver's choice of timeout; the clock
	 * itself is read with weft__time_now. */
	return atomic_load_explicit(&tm->frozen_ns, memory_order_relaxed) != WEFT__TIME_RUNNING;
}

uint64_t weft__time_next_deadline(struct weft__time *tm)
{
	/* SeqCst, both: the driver's half of the fast path's store-load
	 * pairs (see the protocol). */
	atomic_store_explicit(&tm->driver_deadline, UINT64_MAX, memory_order_seq_cst);
	if (atomic_load_explicit(&tm->armed, memory_order_seq_cst) == 0)
		return UINT64_MAX;
	pthread_mutex_lock(&tm->lock);
	uint64_t tick = weft__wheel_next_expiration(&tm->wheel);
	/* Relaxed: under the lock, like every registration's access. */
	atomic_store_explicit(&tm->driver_deadline, tick, memory_order_relaxed);
	pthread_mutex_unlock(&tm->lock);
	return tick == UINT64_MAX ? UINT64_MAX : weft__tick_to_ns(tick);
}

bool weft__time_auto_advance(struct weft__time *tm)
{
	bool moved = false;
	pthread_mutex_lock(&tm->lock);
	/* Relaxed: writers hold the lock. */
	uint64_t frozen = atomic_load_explicit(&tm->frozen_ns, memory_order_relaxed);
	uint64_t tick = weft__wheel_next_expiration(&tm->wheel);
	if (frozen != WEFT__TIME_RUNNING && tick != UINT64_MAX) {
		uint64_t ns = weft__tick_to_ns(tick);
		if (ns > frozen)
			/* Release: readers that see the new time see the
			 * wheel state that made it due (they lock anyway). */
			atomic_store_explicit(&tm->frozen_ns, ns, memory_order_release);
		moved = true;
	}
	pthread_mutex_unlock(&tm->lock);
	return moved;
}

size_t weft__time_timer_count(struct weft__time *tm)
{
	pthread_mutex_lock(&tm->lock);
	size_t n = weft__wheel_len(&tm->wheel);
	/* Relaxed: under the lock, like every change of it. */
	if (atomic_load_explicit(&tm->armed, memory_order_relaxed) != n)
		n = SIZE_MAX;   /* the fast path's count is wrong: make tests see it */
	pthread_mutex_unlock(&tm->lock);
	return n;
}

/* ---------------------------------------------------------------- firing */

_Static_assert(offsetof(struct weft__timer, entry) == 0,
	       "the wheel entry starts its timer");

/* The timer holding wheel entry @e (container_of, for the first member). */
static struct weft__timer *weft__timer_of(struct weft__wheel_entry *e)
{
	return (struct weft__timer *)(void *)e;
}

/* Fires what is due at the current time, WEFT__TIME_BATCH per lock hold.
 * @driver: called by the parked driver after waking, which is then awake. */
static size_t weft__time_fire(struct weft__time *tm, bool driver)
{
	weft_waker batch[WEFT__TIME_BATCH];
	size_t fired = 0;
	/* Relaxed: a timer registered after this load is not due yet (its
	 * registration checks the clock), and the driver's next question
	 * sees it (protocol); one seen late fires at the next turn. */
	if (atomic_load_explicit(&tm->armed, memory_order_relaxed) == 0) {
		if (driver)   /* Relaxed: see the protocol's fast path. */
			atomic_store_explicit(&tm->driver_deadline, 0, memory_order_relaxed);
		return 0;
	}
	uint64_t now = weft__time_now(tm);
	uint64_t now_tick = now / WEFT__NS_PER_TICK;

	pthread_mutex_lock(&tm->lock);
	if (driver) {   /* Relaxed: under the lock. */
		atomic_store_explicit(&tm->driver_deadline, 0, memory_order_relaxed);
		/* Relaxed: only a failed clock read uses it (weft__time_now);
		 * one driver at a time, so it never goes back. */
		atomic_store_explicit(&tm->seen_ns, now, memory_order_relaxed);
	}
	for (;;) {
		size_t n = 0;
		struct weft__wheel_entry *e;
		while (n < WEFT__TIME_BATCH && (e = weft__wheel_poll(&tm->wheel, now_tick))) {
			/* Relaxed: changed under the lock; see the fast path. */
			atomic_fetch_sub_explicit(&tm->armed, 1, memory_order_relaxed);
			struct weft__timer *t = weft__timer_of(e);
			batch[n++] = t->waker;
			t->waker = (weft_waker){ 0 };
			/* Release: our last writes to the timer come before the
			 * owner's acquire load that sees FIRED (protocol). */
			atomic_store_explicit(&t->state, WEFT__TIMER_FIRED, memory_order_release);
		}
		pthread_mutex_unlock(&tm->lock);
		for (size_t i = 0; i < n; i++)
			weft_waker_wake(&batch[i]);
		fired += n;
		if (n < WEFT__TIME_BATCH)
			return fired;
		pthread_mutex_lock(&tm->lock);
	}
}

size_t weft__time_process(struct weft__time *tm)
{
	return weft__time_fire(tm, true);
}

/* --------------------------------------------------------------- timers */

weft_poll weft__timer_poll(struct weft__timer *t, struct weft__time *tm, uint64_t deadline_ns,
			   const weft_waker *waker, bool *unpark)
{
	*unpark = false;
	/* Acquire: see the protocol (FIRED hands the timer back). */
	uint8_t state = atomic_load_explicit(&t->state, memory_order_acquire);
	if (state == WEFT__TIMER_FIRED)
		return WEFT_READY;

	if (state == WEFT__TIMER_IDLE) {
		if (deadline_ns <= weft__time_now(tm)) {
			/* Relaxed: the timer is in no wheel; only we read it. */
			atomic_store_explicit(&t->state, WEFT__TIMER_FIRED, memory_order_relaxed);
			return WEFT_READY;
		}
		weft_waker clone = weft_waker_clone(waker);
		t->entry.when = weft__ns_to_tick_ceil(deadline_ns);
		pthread_mutex_lock(&tm->lock);
		if (!weft__wheel_insert(&tm->wheel, &t->entry)) {
			/* Its tick has already been processed: due now. */
			pthread_mutex_unlock(&tm->lock);
			/* Relaxed: never in a wheel; only we read it. */
			atomic_store_explicit(&t->state, WEFT__TIMER_FIRED, memory_order_relaxed);
			weft_waker_drop(&clone);
			return WEFT_READY;
		}
		t->tm = tm;
		t->waker = clone;
		/* Relaxed: published to the firing thread by the lock. */
		atomic_store_explicit(&t->state, WEFT__TIMER_REGISTERED, memory_order_relaxed);
		/* SeqCst, both: the registration's half of the fast path's
		 * store-load pairs (see the protocol). */
		atomic_fetch_add_explicit(&tm->armed, 1, memory_order_seq_cst);
		if (t->entry.when < atomic_load_explicit(&tm->driver_deadline,
							 memory_order_seq_cst)) {
			/* Relaxed: under the lock. */
			atomic_store_explicit(&tm->driver_deadline, t->entry.when,
					      memory_order_relaxed);
			*unpark = true;
		}
		pthread_mutex_unlock(&tm->lock);
		return WEFT_PENDING;
	}

	/* Registered: keep the waker current. The lock decides against a
	 * concurrent fire; the clone happens outside it. */
	tm = t->tm;
	weft_waker clone = { 0 };
	for (;;) {
		weft_waker old = { 0 };
		weft_poll res = WEFT_PENDING;
		pthread_mutex_lock(&tm->lock);
		/* Relaxed: every change of state happens under the lock. */
		if (atomic_load_explicit(&t->state, memory_order_relaxed) != WEFT__TIMER_REGISTERED) {
			res = WEFT_READY;
		} else if (!weft_waker_will_wake(&t->waker, waker)) {
			if (!clone.vtable && waker->vtable) {
				pthread_mutex_unlock(&tm->lock);
				clone = weft_waker_clone(waker);
				continue;   /* look again: it may have fired meanwhile */
			}
			old = t->waker;
			t->waker = clone;
			clone = (weft_waker){ 0 };
		}
		pthread_mutex_unlock(&tm->lock);
		weft_waker_drop(&old);
		weft_waker_drop(&clone);
		return res;
	}
}

void weft__timer_cancel(struct weft__timer *t)
{
	/* Acquire: FIRED means the firing thread is done with the timer. */
	if (atomic_load_explicit(&t->state, memory_order_acquire) != WEFT__TIMER_REGISTERED)
		return;
	struct weft__time *tm = t->tm;
	weft_waker old = { 0 };
	pthread_mutex_lock(&tm->lock);
	/* Relaxed: under the lock, which orders every change of state. */
	if (atomic_load_explicit(&t->state, memory_order_relaxed) == WEFT__TIMER_REGISTERED) {
		weft__wheel_remove(&tm->wheel, &t->entry);
		/* Relaxed: changed under the lock; see the fast path. */
		atomic_fetch_sub_explicit(&tm->armed, 1, memory_order_relaxed);
		old = t->waker;
		t->waker = (weft_waker){ 0 };
		/* Relaxed: under the lock, and only the owner reads it after. */
		atomic_store_explicit(&t->state, WEFT__TIMER_IDLE, memory_order_relaxed);
	}
	pthread_mutex_unlock(&tm->lock);
	weft_waker_drop(&old);
}

void weft__timer_reset(struct weft__timer *t)
{
	weft__timer_cancel(t);
	/* Relaxed: the timer is in no wheel now (cancelled, or fired and
	 * handed back with the acquire in cancel); only the owner reads it. */
	atomic_store_explicit(&t->state, WEFT__TIMER_IDLE, memory_order_relaxed);
}

/* ------------------------------------------------------ pause and advance */

int weft__time_pause(struct weft__time *tm)
{
	int rc = 0;
	pthread_mutex_lock(&tm->lock);
	/* Relaxed: every writer of frozen_ns holds the lock. */
	if (atomic_load_explicit(&tm->frozen_ns, memory_order_relaxed) != WEFT__TIME_RUNNING) {
		rc = -EALREADY;
	} else {
		uint64_t now = weft__time_now(tm);
		if (now > WEFT__TIME_MAX_NS)
			now = WEFT__TIME_MAX_NS;
		/* Release: pairs with readers' acquire (only the value
		 * matters; nothing else is published). */
		atomic_store_explicit(&tm->frozen_ns, now, memory_order_release);
	}
	pthread_mutex_unlock(&tm->lock);
	return rc;
}

int weft__time_resume(struct weft__time *tm)
{
	int rc = 0;
	pthread_mutex_lock(&tm->lock);
	/* Relaxed: every writer of frozen_ns holds the lock. */
	uint64_t frozen = atomic_load_explicit(&tm->frozen_ns, memory_order_relaxed);
	if (frozen == WEFT__TIME_RUNNING) {
		rc = -EALREADY;
	} else {
		uint64_t mono;
		rc = weft__mono_ns(&mono);   /* a failed read: stay paused */
		if (rc == 0) {
			/* Relaxed: published by the release store below. */
			atomic_store_explicit(&tm->offset_ns, frozen - mono,
					      memory_order_relaxed);
			/* Release: readers that see RUNNING see the new offset. */
			atomic_store_explicit(&tm->frozen_ns, WEFT__TIME_RUNNING,
					      memory_order_release);
		}
	}
	pthread_mutex_unlock(&tm->lock);
	return rc;
}

int weft__time_advance(struct weft__time *tm, uint64_t ns)
{
	int rc = 0;
	pthread_mutex_lock(&tm->lock);
	/* Relaxed: every writer of frozen_ns holds the lock. */
	uint64_t frozen = atomic_load_explicit(&tm->frozen_ns, memory_order_relaxed);
	if (frozen == WEFT__TIME_RUNNING) {
		rc = -EINVAL;
	} else {
		uint64_t to = weft__time_add(frozen, ns);
		if (to > WEFT__TIME_MAX_NS)
			to = WEFT__TIME_MAX_NS;
		/* Release: pairs with readers' acquire. */
		atomic_store_explicit(&tm->frozen_ns, to, memory_order_release);
	}
	pthread_mutex_unlock(&tm->lock);
	if (rc < 0)
		return rc;
	/* Fire what is due here (safe from any thread: it is all under the
	 * lock). */
	weft__time_fire(tm, false);
	return 0;
}
