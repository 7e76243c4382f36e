/*
 * perturb.c - the seeded hook of the perturbation mode (sys_perturb.h):
 * at each point it reaches, a thread does nothing, yields the CPU, or
 * spins a random count of pauses, drawing from its own generator.
 *
 * Compiled only with -Dperturb=true. This file is force-included with
 * sys_perturb.h like every other of the library, so its own few atomics call
 * the compiler builtins directly: through the wrapped C11 names the hook
 * would call itself.
 *
 * Replay. A thread's generator is seeded from the process seed and the
 * thread's index, the order in which threads first reach a point; the
 * index and the sequence of points a thread reaches both depend on how
 * the OS schedules the threads, so the same seed makes the same
 * perturbations likely, not certain (loom and shuttle own the scheduler
 * and replay exactly; this mode runs the real one).
 */
#include "sys_perturb.h"
#include "sys_spin.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef WEFT_PERTURB

bool weft__perturb_seeded;

static struct {
	uint64_t seed;
	unsigned rate;    /* per mille of points that act */
	unsigned yield;   /* per cent of those that yield (the rest spin) */
	unsigned spin;    /* the most pauses of one spin */
	unsigned threads; /* the next thread index (__atomic, relaxed) */
	/* Points reached, in batches of WEFT__PERTURB_BATCH per thread: a
	 * relaxed load and store, no RMW, so counting adds no locked
	 * instruction (on x86 a fence) to the run it measures; racing
	 * batches may be lost, the count is a lower bound. */
	uint64_t points;
} weft__perturb_cfg;

#define WEFT__PERTURB_BATCH 1024

struct weft__perturb_thread {
	uint64_t state;   /* splitmix64; 0 until the thread's first point */
	uint64_t points;  /* points this thread reached */
};

static _Thread_local __attribute__((tls_model("initial-exec")))
struct weft__perturb_thread weft__perturb_self;

/* splitmix64 (Steele, Lea and Flood, 2014): one add and a mix per draw,
 * and any seed, 0 included, gives a full-period sequence. */
static uint64_t weft__perturb_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static unsigned weft__perturb_env(const char *name, unsigned dflt, unsigned max)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v > max) {
		fprintf(stderr, "weft: %s=%s is not a number from 0 to %u; using %u\n",
			name, s, max, dflt);
		return dflt;
	}
	return (unsigned)v;
}

/* Reads the settings before main, while the process has one thread; they
 * never change afterwards. */
__attribute__((constructor)) static void weft__perturb_setup(void)
{
	const char *s = getenv("WEFT_PERTURB_SEED");
	char *end;

	if (!s || !*s)
		return;
	if (strcmp(s, "random") == 0) {
		struct timespec ts;
		uint64_t mix;

		clock_gettime(CLOCK_REALTIME, &ts);
		mix = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		weft__perturb_cfg.seed = weft__perturb_next(&mix) % 1000000000u;
	} else {
		errno = 0;
		weft__perturb_cfg.seed = strtoull(s, &end, 0);
		if (errno || *end) {
			fprintf(stderr, "weft: WEFT_PERTURB_SEED=%s is not a number "
				"or \"random\"; perturbation stays off\n", s);
			return;
		}
	}
	weft__perturb_cfg.rate = weft__perturb_env("WEFT_PERTURB_RATE", 30, 1000);
	weft__perturb_cfg.yield = weft__perturb_env("WEFT_PERTURB_YIELD", 50, 100);
	weft__perturb_cfg.spin = weft__perturb_env("WEFT_PERTURB_SPIN", 200, 1000000);
	/* Printed here, before main, not at a point: a point may run in a
	 * signal handler, where stdio is not allowed. */
	fprintf(stderr, "weft: perturb seed=%" PRIu64 " rate=%u yield=%u spin=%u "
		"(replay: WEFT_PERTURB_SEED=%" PRIu64 ")\n", weft__perturb_cfg.seed,
		weft__perturb_cfg.rate, weft__perturb_cfg.yield, weft__perturb_cfg.spin,
		weft__perturb_cfg.seed);
	weft__perturb_seeded = true;
}

/* At exit, the count of points reached (about: see `points`), so a run
 * shows that the hook was wired in and reached, not only switched on
 * (tests/perturb/run.sh requires it to be non-zero). */
__attribute__((destructor)) static void weft__perturb_report(void)
{
	uint64_t n;

	if (!weft__perturb_seeded)
		return;
	n = __atomic_load_n(&weft__perturb_cfg.points, __ATOMIC_RELAXED) +
	    weft__perturb_self.points % WEFT__PERTURB_BATCH;
	fprintf(stderr, "weft: perturb seed=%" PRIu64 ": %" PRIu64 " points reached\n",
		weft__perturb_cfg.seed, n);
}

/* May run in a signal handler (signal.c's handler is made of atomics
 * too): it touches only its thread's own state and the settings, calls
 * only sched_yield, and keeps errno. */
void weft__perturb_slow(void)
{
	struct weft__perturb_thread *t = &weft__perturb_self;
	int saved_errno = errno;   /* a point may sit between a call and its errno */
	uint64_t r;

	if (weft__unlikely(t->state == 0)) {
		/* Relaxed: the index only has to be unique. */
		uint64_t index = __atomic_fetch_add(&weft__perturb_cfg.threads, 1,
						    __ATOMIC_RELAXED);
		uint64_t mix = weft__perturb_cfg.seed ^ (index * 0xd1b54a32d192ed03u);

		t->state = weft__perturb_next(&mix) | 1;
	}
	if (++t->points % WEFT__PERTURB_BATCH == 0)
		__atomic_store_n(&weft__perturb_cfg.points,
				 __atomic_load_n(&weft__perturb_cfg.points, __ATOMIC_RELAXED) +
				 WEFT__PERTURB_BATCH, __ATOMIC_RELAXED);
	r = weft__perturb_next(&t->state);
	if ((unsigned)(r % 1000) >= weft__perturb_cfg.rate)
		goto out;
	r >>= 10;
	if ((unsigned)(r % 100) < weft__perturb_cfg.yield) {
		sched_yield();
	} else if (weft__perturb_cfg.spin) {
		r >>= 7;
		for (uint64_t n = r % weft__perturb_cfg.spin + 1; n; n--)
			weft__cpu_relax();
	}
out:
	errno = saved_errno;
}

#endif /* WEFT_PERTURB */
