/*
 * sys_spin.h - a small spinlock for critical sections of a few
 * instructions that are rarely contended (the owned-list shards, a
 * reactor slot's wakers, the shared task cache, whose rare refill may
 * map memory): lock is one exchange, unlock one release store.
 * Spins with a pause, then yields the CPU, so a preempted holder costs
 * time, never progress.
 */
#ifndef WEFT__SYS_SPIN_H
#define WEFT__SYS_SPIN_H

#include <stdatomic.h>
#include <stdbool.h>

#include "sys.h"

struct weft__spin {
	_Atomic int locked;
};

static inline void weft__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/* The contended path (spin.c). */
void weft__spin_lock_slow(struct weft__spin *l);

static inline void weft__spin_lock(struct weft__spin *l)
{
	/* Acquire: the critical section sees the previous holder's writes. */
	if (weft__likely(!atomic_exchange_explicit(&l->locked, 1, memory_order_acquire)))
		return;
	weft__spin_lock_slow(l);
}

/* True when it took the lock, without waiting. */
static inline bool weft__spin_trylock(struct weft__spin *l)
{
	/* Relaxed load: a look that spares the exchange when held. Acquire
	 * exchange: as in weft__spin_lock. */
	return !atomic_load_explicit(&l->locked, memory_order_relaxed) &&
	       !atomic_exchange_explicit(&l->locked, 1, memory_order_acquire);
}

static inline void weft__spin_unlock(struct weft__spin *l)
{
	/* Release: our writes happen-before the next holder's acquire. */
	atomic_store_explicit(&l->locked, 0, memory_order_release);
}

#endif /* WEFT__SYS_SPIN_H */
