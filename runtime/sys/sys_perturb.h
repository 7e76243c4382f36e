/*
 * sys_perturb.h - the perturbation mode: every atomic operation and every
 * lock of the library first passes through one seeded hook that
 * may yield the CPU or spin for a while, so the stress suites explore
 * interleavings a quiet machine never shows (the idea of AWS's shuttle and
 * Tokio's loom, on the real code and the real scheduler of the OS, with no
 * control over it: a seed makes a run likelier to repeat, not certain).
 *
 * How it is wired. With `-Dperturb=true` the build force-includes this
 * header (gcc/clang `-include`, meson.build) ahead of every source of
 * every layer of the library (the tests, examples and benches are not
 * compiled with it), so not one call site is rewritten. It includes <stdatomic.h> and
 * <pthread.h> first and then redefines, for the rest of the file:
 *   the C11 atomic_*_explicit operations (load, store, exchange, both
 *   compare-exchanges, fetch add/sub/or/and/xor) and atomic_thread_fence,
 *   and their non-explicit SeqCst forms;
 *   pthread_mutex_lock, _trylock, _unlock and pthread_cond_wait,
 *   _timedwait, _signal, _broadcast;
 * each as "weft__perturb_point(), then the real operation" with the same
 * arguments, the same memory order and the same result. The spinlock
 * (sys_spin.h) and the park (sys_park.h) are made of those atomics, so
 * they are covered through their inline functions. atomic_init is not an
 * operation anyone races and is left alone. Without the option this header
 * is never included and defines nothing: a release build is the same
 * code, instruction for instruction.
 *
 * The redefinitions call the compiler's own atomic builtins, the ones its
 * <stdatomic.h> expands to (clang: __c11_atomic_*, which take _Atomic
 * objects; gcc: the generic __atomic_* builtins, which accept them), since
 * a macro cannot call the definition it replaces.
 *
 * The hook (perturb.c). weft__perturb_point costs one load of a global and
 * one predictable branch while no seed is set. WEFT_PERTURB_SEED=<n> (or
 * "random": a seed drawn from the clock) switches it on for the process;
 * each thread then draws from its own generator, seeded from the seed and
 * the thread's index (the order in which threads first reach a point), and
 * at each point does nothing, calls sched_yield(), or spins a random count
 * of CPU pauses. WEFT_PERTURB_RATE (per mille of points that act, default
 * 30), WEFT_PERTURB_YIELD (per cent of those that yield rather than spin,
 * default 50) and WEFT_PERTURB_SPIN (the most pauses of a spin, default
 * 200) tune it. The process prints the settings to stderr before main
 * ("weft: perturb seed=... rate=... yield=... spin=...") so a failing run
 * names the seed that replays it, as nearly as the OS's own timing allows.
 */
#ifndef WEFT__SYS_PERTURB_H
#define WEFT__SYS_PERTURB_H

#ifdef WEFT_PERTURB

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Set once, before main, by perturb.c's constructor from
 * WEFT_PERTURB_SEED; never written afterwards, so a plain read is
 * race-free. */
extern bool weft__perturb_seeded;

/* The seeded perturbation (perturb.c): nothing, a yield or a spin. */
void weft__perturb_slow(void);

static inline void weft__perturb_point(void)
{
	if (__builtin_expect(weft__perturb_seeded, 0))
		weft__perturb_slow();
}

/* The real operations, as the compiler's <stdatomic.h> defines them. */
#if defined(__clang__)
#define weft__real_load(p, o) __c11_atomic_load(p, o)
#define weft__real_store(p, v, o) __c11_atomic_store(p, v, o)
#define weft__real_exchange(p, v, o) __c11_atomic_exchange(p, v, o)
#define weft__real_cas_strong(p, e, d, s, f) \
	__c11_atomic_compare_exchange_strong(p, e, d, s, f)
#define weft__real_cas_weak(p, e, d, s, f) \
	__c11_atomic_compare_exchange_weak(p, e, d, s, f)
#define weft__real_fetch_add(p, v, o) __c11_atomic_fetch_add(p, v, o)
#define weft__real_fetch_sub(p, v, o) __c11_atomic_fetch_sub(p, v, o)
#define weft__real_fetch_or(p, v, o) __c11_atomic_fetch_or(p, v, o)
#define weft__real_fetch_and(p, v, o) __c11_atomic_fetch_and(p, v, o)
#define weft__real_fetch_xor(p, v, o) __c11_atomic_fetch_xor(p, v, o)
#define weft__real_fence(o) __c11_atomic_thread_fence(o)
#elif defined(__GNUC__)
#define weft__real_load(p, o) __atomic_load_n(p, o)
#define weft__real_store(p, v, o) __atomic_store_n(p, v, o)
#define weft__real_exchange(p, v, o) __atomic_exchange_n(p, v, o)
#define weft__real_cas_strong(p, e, d, s, f) \
	__atomic_compare_exchange_n(p, e, d, 0, s, f)
#define weft__real_cas_weak(p, e, d, s, f) \
	__atomic_compare_exchange_n(p, e, d, 1, s, f)
#define weft__real_fetch_add(p, v, o) __atomic_fetch_add(p, v, o)
#define weft__real_fetch_sub(p, v, o) __atomic_fetch_sub(p, v, o)
#define weft__real_fetch_or(p, v, o) __atomic_fetch_or(p, v, o)
#define weft__real_fetch_and(p, v, o) __atomic_fetch_and(p, v, o)
#define weft__real_fetch_xor(p, v, o) __atomic_fetch_xor(p, v, o)
#define weft__real_fence(o) __atomic_thread_fence(o)
#else
#error "-Dperturb=true needs gcc or clang (their atomic builtins)"
#endif

#undef atomic_load_explicit
#undef atomic_store_explicit
#undef atomic_exchange_explicit
#undef atomic_compare_exchange_strong_explicit
#undef atomic_compare_exchange_weak_explicit
#undef atomic_fetch_add_explicit
#undef atomic_fetch_sub_explicit
#undef atomic_fetch_or_explicit
#undef atomic_fetch_and_explicit
#undef atomic_fetch_xor_explicit
#undef atomic_thread_fence
#define atomic_load_explicit(p, o) \
	(weft__perturb_point(), weft__real_load(p, o))
#define atomic_store_explicit(p, v, o) \
	(weft__perturb_point(), weft__real_store(p, v, o))
#define atomic_exchange_explicit(p, v, o) \
	(weft__perturb_point(), weft__real_exchange(p, v, o))
#define atomic_compare_exchange_strong_explicit(p, e, d, s, f) \
	(weft__perturb_point(), weft__real_cas_strong(p, e, d, s, f))
#define atomic_compare_exchange_weak_explicit(p, e, d, s, f) \
	(weft__perturb_point(), weft__real_cas_weak(p, e, d, s, f))
#define atomic_fetch_add_explicit(p, v, o) \
	(weft__perturb_point(), weft__real_fetch_add(p, v, o))
#define atomic_fetch_sub_explicit(p, v, o) \
	(weft__perturb_point(), weft__real_fetch_sub(p, v, o))
#define atomic_fetch_or_explicit(p, v, o) \
	(weft__perturb_point(), weft__real_fetch_or(p, v, o))
#define atomic_fetch_and_explicit(p, v, o) \
	(weft__perturb_point(), weft__real_fetch_and(p, v, o))
#define atomic_fetch_xor_explicit(p, v, o) \
	(weft__perturb_point(), weft__real_fetch_xor(p, v, o))
#define atomic_thread_fence(o) \
	(weft__perturb_point(), weft__real_fence(o))

/* The SeqCst forms, so a later call without _explicit is covered too. */
#undef atomic_load
#undef atomic_store
#undef atomic_exchange
#undef atomic_compare_exchange_strong
#undef atomic_compare_exchange_weak
#undef atomic_fetch_add
#undef atomic_fetch_sub
#undef atomic_fetch_or
#undef atomic_fetch_and
#undef atomic_fetch_xor
#define atomic_load(p) atomic_load_explicit(p, memory_order_seq_cst)
#define atomic_store(p, v) atomic_store_explicit(p, v, memory_order_seq_cst)
#define atomic_exchange(p, v) \
	atomic_exchange_explicit(p, v, memory_order_seq_cst)
#define atomic_compare_exchange_strong(p, e, d) \
	atomic_compare_exchange_strong_explicit(p, e, d, memory_order_seq_cst, \
						memory_order_seq_cst)
#define atomic_compare_exchange_weak(p, e, d) \
	atomic_compare_exchange_weak_explicit(p, e, d, memory_order_seq_cst, \
					      memory_order_seq_cst)
#define atomic_fetch_add(p, v) \
	atomic_fetch_add_explicit(p, v, memory_order_seq_cst)
#define atomic_fetch_sub(p, v) \
	atomic_fetch_sub_explicit(p, v, memory_order_seq_cst)
#define atomic_fetch_or(p, v) atomic_fetch_or_explicit(p, v, memory_order_seq_cst)
#define atomic_fetch_and(p, v) \
	atomic_fetch_and_explicit(p, v, memory_order_seq_cst)
#define atomic_fetch_xor(p, v) \
	atomic_fetch_xor_explicit(p, v, memory_order_seq_cst)

/* Locks and condition variables: <pthread.h> is in, so these names are
 * declared already and the macros only touch the calls that follow (a
 * function-like macro does not expand inside its own definition). */
#define pthread_mutex_lock(m) (weft__perturb_point(), pthread_mutex_lock(m))
#define pthread_mutex_trylock(m) \
	(weft__perturb_point(), pthread_mutex_trylock(m))
#define pthread_mutex_unlock(m) \
	(weft__perturb_point(), pthread_mutex_unlock(m))
#define pthread_cond_wait(c, m) (weft__perturb_point(), pthread_cond_wait(c, m))
#define pthread_cond_timedwait(c, m, t) \
	(weft__perturb_point(), pthread_cond_timedwait(c, m, t))
#define pthread_cond_signal(c) (weft__perturb_point(), pthread_cond_signal(c))
#define pthread_cond_broadcast(c) \
	(weft__perturb_point(), pthread_cond_broadcast(c))

#endif /* WEFT_PERTURB */

#endif /* WEFT__SYS_PERTURB_H */
