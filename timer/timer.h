/*
 * timer.h - a runtime's time driver: its clock and its timing wheel.
 * The runtime's driver asks it for the next deadline before parking and
 * has it fire what is due after waking.
 */
#ifndef WEFT__TIMER_H
#define WEFT__TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include <stdatomic.h>
#include <stddef.h>

struct weft__time {
	uint64_t start_ns;   /* CLOCK_MONOTONIC at init */
};

/* 0 or -errno. */
int weft__time_init(struct weft__time *tm);
/* Every entry must be gone (their futures dropped). */
void weft__time_fini(struct weft__time *tm);
/* The runtime's clock, in ns since init (frozen while paused). Any thread. */
uint64_t weft__time_now(struct weft__time *tm);
/* Earliest deadline of a registered timer (ns, same scale as now), or
 * UINT64_MAX when there is none. Any thread. */
uint64_t weft__time_next_deadline(struct weft__time *tm);
/* Fires every timer due at the current time: wakes their wakers outside
 * the wheel's lock. Returns how many fired. The parked thread only. */
size_t weft__time_process(struct weft__time *tm);
/* True while the clock is paused. */
bool weft__time_is_paused(struct weft__time *tm);
/* With the clock paused and the runtime idle: moves the clock to the next
 * deadline. Returns false if there is none (or the clock runs). */
bool weft__time_auto_advance(struct weft__time *tm);

#endif
