/*
 * sys.c - allocation and syscall wrappers, and the failure injection they
 * all consult (see sys.h).
 */
#include "sys.h"

#include <errno.h>
#include <stdlib.h>

_Atomic unsigned weft__faults_armed;

/* Per site: calls left before the injected failure (0 = disarmed) and the
 * errno to fail with. Relaxed is enough: arming happens-before the tested
 * code runs (thread creation or the same thread), and the countdown only
 * needs to be atomic, not ordered with anything else. */
static struct {
	_Atomic unsigned countdown;
	_Atomic int err;
} weft__faults[WEFT__FAULT_SITES];

int weft__fault_hit_slow(enum weft__fault_site site)
{
	unsigned left = atomic_load_explicit(&weft__faults[site].countdown,
					     memory_order_relaxed);
	while (left != 0) {
		if (atomic_compare_exchange_weak_explicit(
			    &weft__faults[site].countdown, &left, left - 1,
			    memory_order_relaxed, memory_order_relaxed)) {
			if (left != 1)
				return 0;
			atomic_fetch_sub_explicit(&weft__faults_armed, 1,
						  memory_order_relaxed);
			return -atomic_load_explicit(&weft__faults[site].err,
						     memory_order_relaxed);
		}
	}
	return 0;
}

void weft__fault_arm(enum weft__fault_site site, unsigned nth, int err)
{
	unsigned prev = atomic_exchange_explicit(&weft__faults[site].countdown,
						 nth, memory_order_relaxed);
	atomic_store_explicit(&weft__faults[site].err, err, memory_order_relaxed);
	if (prev == 0 && nth != 0)
		atomic_fetch_add_explicit(&weft__faults_armed, 1, memory_order_relaxed);
	else if (prev != 0 && nth == 0)
		atomic_fetch_sub_explicit(&weft__faults_armed, 1, memory_order_relaxed);
}

void weft__fault_reset(void)
{
	for (int i = 0; i < WEFT__FAULT_SITES; i++)
		weft__fault_arm((enum weft__fault_site)i, 0, 0);
}

void *weft__alloc(size_t size)
{
	if (weft__fault_hit(WEFT__FAULT_ALLOC))
		return NULL;
	return malloc(size);
}

void *weft__calloc(size_t n, size_t size)
{
	if (weft__fault_hit(WEFT__FAULT_ALLOC))
		return NULL;
	return calloc(n, size);
}

void weft__free(void *p)
{
	free(p);
}
