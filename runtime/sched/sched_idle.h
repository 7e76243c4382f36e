/*
 * sched_idle.h - searching and parked workers of the multi-thread scheduler
 * (protocol in idle.c).
 */
#ifndef WEFT__SCHED_IDLE_H
#define WEFT__SCHED_IDLE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct weft__idle {
	_Atomic uint32_t state;   /* searching << 16 | unparked */
	uint32_t nworkers;
	pthread_mutex_t lock;
	uint32_t *sleepers;       /* parked worker indices (a stack) */
	uint32_t nsleepers;
};

int weft__idle_init(struct weft__idle *idle, uint32_t nworkers);
void weft__idle_fini(struct weft__idle *idle);

/* Returns the index of a parked worker to wake for new work (now counted
 * as searching and unparked), or -1 when waking one would not help. */
int weft__idle_worker_to_notify(struct weft__idle *idle);

/* The worker @index parks. Returns true when its update left no worker
 * searching (it was the last searcher, or not a searcher at all while
 * none was): it must then re-check every queue for work. */
bool weft__idle_transition_to_parked(struct weft__idle *idle, uint32_t index,
				     bool searching);

/* The worker @index woke with work in hand and leaves the sleepers.
 * Returns true if a notifier had already taken it off (it is then counted
 * searching), false if it takes itself off (counted unparked). */
bool weft__idle_transition_from_parked(struct weft__idle *idle, uint32_t index);

/* Whether @index is still on the sleepers stack (no notifier took it
 * off): a worker that woke and finds this true was woken for nothing and
 * parks again with the counts untouched. */
bool weft__idle_is_parked(struct weft__idle *idle, uint32_t index);

/* Starts searching unless half the workers already are. */
bool weft__idle_transition_to_searching(struct weft__idle *idle);

/* Stops searching; returns true if it was the last searcher. */
bool weft__idle_transition_from_searching(struct weft__idle *idle);

uint32_t weft__idle_num_searching(struct weft__idle *idle);

/* True when every worker is parked (none has work in hand). */
bool weft__idle_all_parked(struct weft__idle *idle);

#endif
