/*
 * handoff_sb.pml - the driver hand-off's store-load pair under weak
 * ordering (runtime/sched/worker.c): weft__driver_handoff ("unlock the
 * driver, SeqCst fence, load park_sleepers") against a sleeper in
 * weft__worker_park_timeout ("publish PARKED, count itself with a SeqCst
 * fetch_add, SeqCst fence, try the driver lock once more"). The try-lock
 * is an acquire operation and the unlock a release one: without the two
 * fences C11 lets each thread's load pass its own store, and both sides
 * may miss each other. park.pml checks the same hand-off in sequentially
 * consistent runs with the park's whole state word and a producer; this
 * model keeps only the pair and gives each thread a store buffer:
 * a store goes into the storing thread's FIFO buffer, a `drainer` writes
 * the oldest entry to memory at any time, a load reads the thread's own
 * newest buffered store to that location first, else memory, and a
 * fence waits until the thread's buffer is empty.
 *
 * What stands for what:
 *  - mem[LOCK]: mt->driver_lock (1 held); mem[SLEEPERS]: mt->park_sleepers.
 *  - st: the sleeper's park word (EMPTY, PARKED, NOTIFIED). Its RMWs (the
 *    sleeper's SeqCst CAS to PARKED, the unparker's SeqCst exchange) act
 *    on memory directly: they are RMWs on one word, totally ordered,
 *    and the sleeper's buffer is empty when it publishes.
 *  - fwait: the sleeper inside futex_wait on st.
 *
 * Processes:
 *  - A (weft__worker_park_timeout's driver branch, then
 *    weft__driver_handoff): holds the driver; pthread_mutex_unlock (a
 *    release store: buffered), the SeqCst fence, the SeqCst load of
 *    park_sleepers; if non-zero, the relaxed scan of the sleeper's park
 *    (weft__park_sleeping) and weft__unpark. Then it runs a task that
 *    blocks in user code for ever.
 *  - B (weft__worker_park_timeout after its first try-lock failed):
 *    weft__park_prepare (CAS EMPTY -> PARKED), the SeqCst fetch_add of
 *    park_sleepers (its store buffered: a later acquire operation may
 *    pass it), the SeqCst fence, pthread_mutex_trylock (reads the lock
 *    word; on success unlock and weft__park_wait(p, 0)), else
 *    weft__park_wait(p, -1): futex_wait while PARKED.
 *
 * Check: B never sleeps for ever with the driver free. A run where B
 * stays in futex_wait (A gone, nobody else to wake it) ends with B
 * blocked: an invalid end state.
 *
 * Mutations (the suite expects spin to reject each):
 *  - MUTATE_NO_HANDOFF_FENCE: no fence in weft__driver_handoff: A's load
 *    of park_sleepers passes its unlock.
 *  - MUTATE_NO_SLEEPER_FENCE: no fence in weft__worker_park_timeout: B's
 *    try-lock passes its count.
 *
 * State space: see the table in tests/model/README.md.
 */

#define LOCK      0
#define SLEEPERS  1

#define EMPTY     0
#define PARKED    1
#define NOTIFIED  3

#define BUF       2
#define TA        0
#define TB        1

byte mem[2];
byte bl[4];
byte bv[4];
byte bn[2];
byte st = EMPTY;
bool fwait;

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

proctype A()
{
	byte n, k;
	/* weft__worker_park_timeout: pthread_mutex_unlock(&mt->driver_lock) */
	atomic { store(TA, LOCK, 0) };
	/* weft__driver_handoff */
#ifndef MUTATE_NO_HANDOFF_FENCE
	FENCE(TA);                 /* atomic_thread_fence(seq_cst) */
#endif
	atomic { load(TA, SLEEPERS, n) };
	if
	:: n > 0 ->
		/* weft__park_sleeping(&w->park): relaxed load of the word */
		if
		:: st == PARKED ->
			/* weft__worker_unpark -> weft__unpark: the SeqCst
			 * exchange, then futex_wake */
			st = NOTIFIED;
			atomic { if :: fwait -> fwait = false :: else fi }
		:: else
		fi
	:: else
	fi
	/* then a task that blocks in user code */
}

proctype B()
{
	byte n, k;
	bool ok;
	/* weft__park_prepare: the SeqCst CAS EMPTY -> PARKED (the first
	 * try-lock failed: A held the driver) */
	atomic { st == EMPTY -> st = PARKED };
	/* the SeqCst fetch_add of park_sleepers */
	atomic { load(TB, SLEEPERS, n); store(TB, SLEEPERS, n + 1) };
#ifndef MUTATE_NO_SLEEPER_FENCE
	FENCE(TB);                 /* atomic_thread_fence(seq_cst) */
#endif
	/* pthread_mutex_trylock: an acquire RMW on the lock word */
	atomic {
		load(TB, LOCK, n);
		if
		:: n == 0 -> mem[LOCK] = 1; ok = true
		:: else -> ok = false
		fi
	}
	if
	:: ok ->
		/* unlock, weft__park_wait(p, 0): leave without sleeping */
		atomic { store(TB, LOCK, 0) };
		st = EMPTY
	:: else ->
		/* weft__park_wait(p, -1): futex_wait while PARKED */
		do
		:: atomic { st == PARKED && !fwait -> fwait = true }
		:: atomic { st != PARKED -> fwait = false; break }
		od;
		st = EMPTY
	fi;
	/* the relaxed fetch_sub of park_sleepers */
	atomic { load(TB, SLEEPERS, n); store(TB, SLEEPERS, n - 1) }
}

init {
	atomic {
		mem[LOCK] = 1;             /* A holds the driver */
		run drainer(TA);
		run drainer(TB);
		run A();
		run B()
	}
}
