/*
 * sched_parker.h - puts one thread to sleep until another unparks it; an
 * unpark that comes first makes the next park return at once (one stored
 * token). Protocol in parker.c.
 */
#ifndef WEFT__SCHED_PARKER_H
#define WEFT__SCHED_PARKER_H

#include <pthread.h>
#include <stdatomic.h>

struct weft__parker {
	_Atomic int state;   /* EMPTY, PARKED, NOTIFIED (parker.c) */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

int weft__parker_init(struct weft__parker *p);
void weft__parker_destroy(struct weft__parker *p);
void weft__parker_park(struct weft__parker *p);
void weft__parker_unpark(struct weft__parker *p);

#endif /* WEFT__SCHED_PARKER_H */
