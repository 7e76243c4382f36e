/*
 * park.c - one thread sleeps until another wakes it (sys_park.h).
 *
 * The fast paths (taking a token, the driver-backed park, unpark) are
 * inline in sys_park.h; the sleep on the word is here.
 *
 * Protocol. One 32-bit atomic word, `state`:
 *  EMPTY     no token, the owner is awake;
 *  PARKED    the owner sleeps, or is about to, on the word (futex);
 *  DRIVER    the owner sleeps, or is about to, in the driver;
 *  NOTIFIED  a token: an unpark came and the owner has not taken it.
 * The owner alone moves the word to PARKED, DRIVER or EMPTY; unparkers
 * only ever store NOTIFIED, with one SeqCst exchange, and then wake the
 * owner where the previous value says it sleeps: a futex wake for
 * PARKED, the driver's wake hook for DRIVER, nothing otherwise.
 *
 * No wake-up is lost. The owner publishes where it sleeps with a SeqCst
 * CAS from EMPTY, so either an unpark's exchange comes after it, sees
 * PARKED or DRIVER and wakes that place, or it came before, left
 * NOTIFIED, and the CAS fails: the owner does not sleep and takes the
 * token. The futex wait itself sleeps only while the word still reads
 * PARKED (the kernel compares and sleeps in one step), so a wake between
 * the CAS and the wait is not lost either; the driver's wake hook keeps
 * its own pending wake-up (the eventfd stays readable). The owner takes a
 * token with an RMW (CAS or exchange, acquire), never with a plain store,
 * so it reads the newest NOTIFIED and sees the work of every unpark
 * folded into that one token. The protocol is modelled in
 * tests/model/park.pml, with the driver hand-off of worker.c.
 *
 * Memory order. The exchange in weft__unpark is SeqCst: it is a release
 * of the unparker's work, and the load half of a store-load pair with the
 * owner's SeqCst CAS to PARKED or DRIVER (each side stores, then reads
 * the other's word). Taking a token is an acquire. The other loads are
 * relaxed filters ahead of an RMW that decides.
 *
 * Lifetime. An unpark touches the park's memory only until its exchange
 * (it reads drv_wake and drv_arg before that); after it, the futex wake only
 * hashes the address. So a park on a stack may go away as soon as its
 * owner has taken the token of the last unpark it waits for (a oneshot's
 * blocking receive relies on this). A park with a driver lives as long as
 * its owner, so the hook call after the exchange is safe there.
 */
#include "sys_park.h"

#include <errno.h>
#include <time.h>

void weft__park_init(struct weft__park *p, void (*drv_wake)(void *arg), void *drv_arg)
{
	atomic_init(&p->state, WEFT__PARK_EMPTY);
	p->drv_wake = drv_wake;
	p->drv_arg = drv_arg;
}

bool weft__park_prepare(struct weft__park *p)
{
	if (weft__park_publish(p, WEFT__PARK_PARKED))
		return true;
	weft__park_clear(p);   /* the token that made the CAS fail */
	return false;
}

bool weft__park_wait(struct weft__park *p, int64_t timeout_ns)
{
	if (timeout_ns != 0) {
		struct timespec until, *deadline = NULL;
		if (timeout_ns > 0) {
			/* Without a clock reading there is no deadline to
			 * sleep to: return at once, as a timeout (callers
			 * take any return as possibly spurious). */
			if (weft__sys_clock_gettime(CLOCK_MONOTONIC, &until) < 0)
				return weft__park_clear(p);
			int64_t ns = until.tv_nsec + timeout_ns % 1000000000;
			until.tv_sec += (time_t)(timeout_ns / 1000000000 + ns / 1000000000);
			until.tv_nsec = (long)(ns % 1000000000);
			deadline = &until;
		}
		/* Relaxed: the clear below decides and orders; this only
		 * tells a real wake from a spurious futex return. */
		while (atomic_load_explicit(&p->state, memory_order_relaxed) == WEFT__PARK_PARKED) {
			if (weft__sys_futex_wait(&p->state, WEFT__PARK_PARKED, deadline) ==
			    -ETIMEDOUT)
				break;
		}
	}
	return weft__park_clear(p);
}

void weft__park_wake_slow(struct weft__park *p)
{
	/* After the exchange: @p may be gone; the wake only hashes the
	 * address (see "Lifetime"). */
	weft__sys_futex_wake(&p->state, 1);
}
