/*
 * timer.c - placeholder time driver: a clock and no timers. The timing
 * wheel replaces it.
 */
#include "internal.h"
#include "timer.h"

#include <time.h>

static uint64_t weft__mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int weft__time_init(struct weft__time *tm)
{
	tm->start_ns = weft__mono_ns();
	return 0;
}

void weft__time_fini(struct weft__time *tm)
{
	(void)tm;
}

uint64_t weft__time_now(struct weft__time *tm)
{
	return weft__mono_ns() - tm->start_ns;
}

uint64_t weft__time_next_deadline(struct weft__time *tm)
{
	(void)tm;
	return UINT64_MAX;
}

size_t weft__time_process(struct weft__time *tm)
{
	(void)tm;
	return 0;
}

bool weft__time_is_paused(struct weft__time *tm)
{
	(void)tm;
	return false;
}

bool weft__time_auto_advance(struct weft__time *tm)
{
	(void)tm;
	return false;
}
