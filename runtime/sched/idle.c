/*
 * idle.c - which workers are searching for work and which are parked, so
 * that new work wakes a worker only when nobody is already looking.
 *
 * Protocol. `state` packs the number of searching workers (high 16 bits)
 * and of unparked workers (low 16 bits); the sleepers stack lists parked
 * workers. Both change together under `lock`; `state` is also read
 * without the lock to skip notification when it cannot help.
 *  - notify: when no worker is searching and some are parked, pop one
 *    sleeper, count it as unparked and searching, and wake it. A woken
 *    worker is searching, so a burst of new work wakes workers one at a
 *    time: each one that finds work wakes the next if more is pending.
 *  - park: a worker pushes itself on the stack and leaves the counts.
 *    Every worker whose update leaves nobody searching re-checks every
 *    queue (worker.c) after it updated the counts: the last searcher, and
 *    also a worker that never became a searcher (the cap below refused
 *    it), which was counted unparked until this update. Work pushed by a
 *    producer that saw "someone is searching" or "every worker unparked"
 *    is never stranded: either the producer's SeqCst check sees the
 *    worker parked and notifies, or the worker's SeqCst update comes
 *    first and its re-check sees the producer's work. (Re-checking only
 *    as the last searcher left a window that tests/model/idle_park.pml
 *    found: a worker refused as a searcher heads for park, the searcher
 *    takes a long task, a producer sees both unparked, and the refused
 *    worker then sleeps without looking.) The argument for that pair
 *    in C11 terms is beside the fence in weft__mt_schedule (worker.c);
 *    tests/model/idle_sb.pml checks it with a store buffer per thread.
 *  - A parked worker that wakes stays on the stack, and counted parked,
 *    until it has work: a wake without a notification (a driver hand-off,
 *    a timer or I/O event for something elsewhere, a stale token) sends
 *    it back to sleep with the counts untouched. Were it to count itself
 *    unparked meanwhile, a producer could see every worker unparked, skip
 *    the notification, and leave its work queued behind busy workers
 *    while this one went back to sleep (worker.c, weft__worker_park).
 *  - At most half the workers search at once.
 */
#include "sys.h"
#include "sched_idle.h"

#include <errno.h>

#define WEFT__IDLE_SEARCH_ONE ((uint32_t)1 << 16)
#define WEFT__IDLE_UNPARK_ONE ((uint32_t)1)

static inline uint32_t weft__idle_searching(uint32_t s)
{
	return s >> 16;
}

static inline uint32_t weft__idle_unparked(uint32_t s)
{
	return s & 0xffff;
}

int weft__idle_init(struct weft__idle *idle, uint32_t nworkers)
{
	idle->nworkers = nworkers;
	idle->nsleepers = 0;
	/* Every worker starts unparked and not searching. */
	atomic_init(&idle->state, nworkers * WEFT__IDLE_UNPARK_ONE);
	idle->sleepers = weft__calloc(nworkers, sizeof *idle->sleepers);
	if (!idle->sleepers)
		return -ENOMEM;
	if (weft__sys_mutex_init(&idle->lock, NULL) != 0) {
		weft__free(idle->sleepers);
		return -ENOMEM;
	}
	return 0;
}

void weft__idle_fini(struct weft__idle *idle)
{
	pthread_mutex_destroy(&idle->lock);
	weft__free(idle->sleepers);
}

static bool weft__idle_should_notify(struct weft__idle *idle)
{
	/* SeqCst: the producer's side of the store-load pair described in
	 * the file comment (its queue push comes before this load). */
	uint32_t s = atomic_load_explicit(&idle->state, memory_order_seq_cst);
	return weft__idle_searching(s) == 0 && weft__idle_unparked(s) < idle->nworkers;
}

int weft__idle_worker_to_notify(struct weft__idle *idle)
{
	if (!weft__idle_should_notify(idle))
		return -1;
	pthread_mutex_lock(&idle->lock);
	int who = -1;
	if (weft__idle_should_notify(idle) && idle->nsleepers > 0) {
		who = (int)idle->sleepers[--idle->nsleepers];
		/* SeqCst: see the file comment. */
		atomic_fetch_add_explicit(&idle->state,
					  WEFT__IDLE_SEARCH_ONE + WEFT__IDLE_UNPARK_ONE,
					  memory_order_seq_cst);
	}
	pthread_mutex_unlock(&idle->lock);
	return who;
}

bool weft__idle_transition_to_parked(struct weft__idle *idle, uint32_t index,
				     bool searching)
{
	pthread_mutex_lock(&idle->lock);
	uint32_t dec = WEFT__IDLE_UNPARK_ONE + (searching ? WEFT__IDLE_SEARCH_ONE : 0);
	/* SeqCst: the consumer's side of the store-load pair; the caller's
	 * re-check of the queues comes after this update. */
	uint32_t prev = atomic_fetch_sub_explicit(&idle->state, dec, memory_order_seq_cst);
	idle->sleepers[idle->nsleepers++] = index;
	pthread_mutex_unlock(&idle->lock);
	/* Nobody is left searching once this update is in. */
	return weft__idle_searching(prev) == (searching ? 1u : 0u);
}

bool weft__idle_transition_from_parked(struct weft__idle *idle, uint32_t index)
{
	pthread_mutex_lock(&idle->lock);
	bool was_sleeping = false;
	for (uint32_t i = 0; i < idle->nsleepers; i++) {
		if (idle->sleepers[i] == index) {
			idle->sleepers[i] = idle->sleepers[--idle->nsleepers];
			was_sleeping = true;
			break;
		}
	}
	if (was_sleeping)   /* woke with local work the driver queued, unnotified */
		atomic_fetch_add_explicit(&idle->state, WEFT__IDLE_UNPARK_ONE,
					  memory_order_seq_cst);
	pthread_mutex_unlock(&idle->lock);
	/* Notified workers were counted as searching by the notifier. */
	return !was_sleeping;
}

bool weft__idle_is_parked(struct weft__idle *idle, uint32_t index)
{
	pthread_mutex_lock(&idle->lock);
	bool parked = false;
	for (uint32_t i = 0; i < idle->nsleepers && !parked; i++)
		parked = idle->sleepers[i] == index;
	pthread_mutex_unlock(&idle->lock);
	return parked;
}

bool weft__idle_transition_to_searching(struct weft__idle *idle)
{
	/* Relaxed: a heuristic cap; a few extra searchers are harmless. */
	uint32_t s = atomic_load_explicit(&idle->state, memory_order_relaxed);
	if (2 * weft__idle_searching(s) >= idle->nworkers)
		return false;
	/* SeqCst: producers must see this worker searching, or it must see
	 * their work (the same store-load pair). */
	atomic_fetch_add_explicit(&idle->state, WEFT__IDLE_SEARCH_ONE, memory_order_seq_cst);
	return true;
}

bool weft__idle_transition_from_searching(struct weft__idle *idle)
{
	/* SeqCst: as above. */
	uint32_t prev = atomic_fetch_sub_explicit(&idle->state, WEFT__IDLE_SEARCH_ONE,
						  memory_order_seq_cst);
	return weft__idle_searching(prev) == 1;
}

uint32_t weft__idle_num_searching(struct weft__idle *idle)
{
	/* Relaxed: a statistic. */
	return weft__idle_searching(atomic_load_explicit(&idle->state, memory_order_relaxed));
}

bool weft__idle_all_parked(struct weft__idle *idle)
{
	/* SeqCst: read after this worker's own SeqCst transition to parked,
	 * like the last searcher's re-check. */
	return weft__idle_unparked(atomic_load_explicit(&idle->state, memory_order_seq_cst)) == 0;
}
