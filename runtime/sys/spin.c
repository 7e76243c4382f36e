/*
 * spin.c - the spinlock's contended path (see sys_spin.h).
 */
#include "sys_spin.h"

#include <sched.h>

void weft__spin_lock_slow(struct weft__spin *l)
{
	for (unsigned spins = 0;; spins++) {
		/* Relaxed: wait for the lock to look free before the
		 * exchange, so waiters don't bounce its cache line. */
		if (!atomic_load_explicit(&l->locked, memory_order_relaxed) &&
		    !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire))
			return;
		if (spins < 100)
			weft__cpu_relax();
		else
			sched_yield();
	}
}
