/*
 * idle_sb.pml - the store-load pair between a producer's notify and a
 * parking worker's re-check (runtime/sched/worker.c, runtime/sched/idle.c)
 * under weak ordering. idle_park.pml checks the protocol with 2 and 3
 * workers in sequentially consistent runs; this model keeps one worker
 * (the last one, whose park leaves nobody searching) and one producer and
 * gives each thread a store buffer, so that a load may pass the thread's
 * own earlier store unless a fence (or a SeqCst store-load pair) orders
 * them:
 *  - producer (weft__mt_schedule from outside the runtime):
 *    weft__inject_push (the relaxed store of inject_len under rt->lock),
 *    the SeqCst fence, then weft__notify_parked:
 *    weft__idle_worker_to_notify (weft__idle_should_notify's SeqCst load
 *    of idle->state; under idle->lock the check again, the pop of a
 *    sleeper, the state update) and weft__worker_unpark;
 *  - worker (weft__worker_park): weft__idle_transition_to_parked under
 *    idle->lock (push itself on the sleepers stack, the SeqCst fetch_sub
 *    of idle->state), unlock, then weft__work_pending's SeqCst load of
 *    inject_len; work found: it does not sleep; else it sleeps on its
 *    park until a token.
 * A store goes into the storing thread's FIFO buffer, a `drainer` writes
 * the oldest entry to memory at any time, a load reads the thread's own
 * newest buffered store to that location first, else memory, and a fence
 * waits until the buffer is empty. A lock acquire is an RMW on memory
 * that waits for the lock word to be free there (so the previous
 * holder's critical section, before its unlock in its FIFO, is visible);
 * the unlock is a buffered store.
 *
 * Check: the worker never sleeps for ever while the producer's task is
 * queued: such a run ends with the worker blocked (an invalid end state).
 *
 * Mutations (the suite expects spin to reject each):
 *  - MUTATE_NO_PRODUCER_FENCE: no SeqCst fence between the push and the
 *    idle-state load in weft__mt_schedule;
 *  - MUTATE_NO_PARK_SEQCST: the worker's load of inject_len may pass its
 *    fetch_sub (either access weaker than SeqCst).
 *
 * State space: see the table in tests/model/README.md.
 */

#define STATE     0      /* idle->state: unparked workers (searching 0) */
#define INJ       1      /* rt->inject_len */
#define ILOCK     2      /* idle->lock */
#define SLEEPERS  3      /* idle->nsleepers */

#define BUF       4
#define TP        0
#define TW        1

byte mem[4];
byte bl[8];
byte bv[8];
byte bn[2];
bool tok;                /* the worker's park token */

inline store(t, loc, val) {
	assert(bn[t] < BUF);
	bl[t * BUF + bn[t]] = loc; bv[t * BUF + bn[t]] = val; bn[t]++
}

inline load(t, loc, res) {
	res = mem[loc];
	k = bn[t];
	do
	:: k > 0 ->
		k--;
		if
		:: bl[t * BUF + k] == loc -> res = bv[t * BUF + k]; break
		:: else
		fi
	:: else -> break
	od;
	k = 0
}

#define FENCE(t) (bn[t] == 0)

/* pthread_mutex_lock: an RMW on the lock word in memory */
inline lock(t) { atomic { mem[ILOCK] == 0 -> load(t, ILOCK, x); assert(x == 0); mem[ILOCK] = 1 } }
/* pthread_mutex_unlock: a release store */
inline unlock(t) { atomic { store(t, ILOCK, 0) } }

proctype drainer(byte t)
{
	byte j;
end:	do
	:: atomic {
		bn[t] > 0 ->
		mem[bl[t * BUF]] = bv[t * BUF];
		j = 0;
		do
		:: j + 1 < bn[t] ->
			bl[t * BUF + j] = bl[t * BUF + j + 1];
			bv[t * BUF + j] = bv[t * BUF + j + 1];
			j++
		:: else -> break
		od;
		bn[t]--;
		bl[t * BUF + bn[t]] = 0; bv[t * BUF + bn[t]] = 0;
		j = 0
	   }
	od
}

proctype producer()
{
	byte x, n, k;
	/* weft__inject_push: the relaxed store of inject_len (rt->lock is
	 * not modelled: only the producer pushes) */
	atomic { store(TP, INJ, 1) };
#ifndef MUTATE_NO_PRODUCER_FENCE
	FENCE(TP);               /* atomic_thread_fence(seq_cst) */
#endif
	/* weft__idle_should_notify: the SeqCst load of idle->state; notify
	 * when some worker is parked (unparked < 1 worker) */
	atomic { load(TP, STATE, x) };
	if
	:: x < 1 ->
		/* weft__idle_worker_to_notify under idle->lock */
		lock(TP);
		atomic {
			load(TP, STATE, x); load(TP, SLEEPERS, n);
			if
			:: x < 1 && n > 0 ->
				store(TP, SLEEPERS, n - 1);
				store(TP, STATE, x + 1);   /* the SeqCst fetch_add */
				n = 1
			:: else -> n = 0
			fi
		};
		unlock(TP);
		/* weft__worker_unpark: the SeqCst exchange on the park's
		 * word (an RMW: drains) */
		if
		:: n == 1 -> atomic { FENCE(TP) -> tok = true }
		:: else
		fi
	:: else
	fi
}

proctype worker()
{
	byte x, n, k;
	/* weft__idle_transition_to_parked under idle->lock */
	lock(TW);
	atomic {
		load(TW, SLEEPERS, n); store(TW, SLEEPERS, n + 1);
		load(TW, STATE, x); store(TW, STATE, x - 1)   /* SeqCst fetch_sub */
	};
	unlock(TW);
#ifndef MUTATE_NO_PARK_SEQCST
	/* the SeqCst fetch_sub, then the SeqCst load below: in order */
	FENCE(TW);
#endif
	/* weft__work_pending: the SeqCst load of inject_len */
	atomic { load(TW, INJ, x) };
	if
	:: x > 0 -> skip          /* work: it does not sleep (worker.c) */
	:: else ->
		/* weft__worker_park_timeout: sleeps until a token */
		atomic { tok -> tok = false }
	fi
}

init {
	atomic {
		mem[STATE] = 1;          /* the one worker, unparked */
		run drainer(TP);
		run drainer(TW);
		run producer();
		run worker()
	}
}
