/*
 * park.pml - the park's state word (runtime/sys/park.c) and the driver
 * hand-off of the multi-thread workers built on it
 * (runtime/sched/worker.c: weft__worker_park_timeout,
 * weft__driver_handoff).
 *
 * Workers: A and NB sleepers B(0) .. B(NB-1): NB = 1 by default (two
 * workers), -DNB=2 for three.
 *
 * What stands for what:
 *  - st[i]: worker B(i)'s park state word: EMPTY, PARKED (asleep on the
 *    word, a futex), DRIVER (asleep in the driver) or NOTIFIED (the token).
 *  - fwait[i]: B(i) is asleep inside futex_wait on st[i]. The kernel compares the
 *    word and goes to sleep in one step (futex_wait below); futex_wake
 *    ends a sleep if there is one.
 *  - evfd: the driver's pending wake-up (the eventfd is readable). The
 *    driver's wake hook sets it; a turn of the reactor drains it.
 *  - drv_locked: rt->driver_lock (a try-lock and an unlock, one step
 *    each); sleepers: rt->park_sleepers.
 *
 * Processes:
 *  - A: a worker that starts holding the driver (it was parked there and
 *    woke up with tasks): it unlocks the driver, then runs
 *    weft__driver_handoff (fence, load park_sleepers, scan for a worker
 *    whose park is PARKED, unpark it), then runs a task that blocks in
 *    user code for ever (the process ends).
 *  - B(i): a worker with nothing to do: weft__worker_park_timeout in a
 *    loop (take a token; or try the driver lock and weft__park_driver;
 *    or weft__park_prepare, count, re-try the driver lock,
 *    weft__park_wait, which sleeps again after a spurious return while
 *    its word stays PARKED) until it finds work queued for it. B(0) then
 *    ends; with NB = 2 it first notifies the other sleeper: it leaves as
 *    the producer's notify made it, a searcher, and the last searcher's
 *    weft__notify_parked (weft__run_task ->
 *    weft__idle_transition_from_searching) wakes a parked worker (that
 *    chain is idle_park.pml's). B(1) has no work and never ends.
 *  - P: a producer: queues work for B(0), then weft__unpark.
 *  - S: one spurious futex wake-up at any time, of either sleeper; the
 *    driver may also return once without a wake (I/O for someone else).
 *  - check: runs when nothing else can (spin's timeout), at the end.
 * Every park step is one atomic step, as each is one atomic RMW in the C
 * (the SeqCst CAS to publish, the SeqCst exchange to unpark, the acquire
 * RMW to take a token); the unpark's wake (futex_wake or the driver hook)
 * is a separate step after its exchange.
 *
 * Checks (safety run):
 *  - no lost wake-up: B(0) never sleeps for ever (on the word or in the
 *    driver) while work is queued for it (check: B(0) finished);
 *  - the hand-off: at the end no sleeper is asleep on its word while the
 *    driver is free (I/O would stall behind A's blocking task); with
 *    NB = 1 also at each step: B never goes to sleep on the word once A
 *    has left the driver and finished its hand-off, and A never finishes
 *    its hand-off with B asleep on the word with no wake-up pending.
 *    With NB = 2 the per-step form does not hold, and need not: A's
 *    hand-off unpark and the producer's can fold into one token of
 *    B(0), which runs the work and leaves B(1) asleep on its word; the
 *    searcher's notify above wakes B(1), which takes the driver
 *    (MUTATE_NO_SEARCHER_NOTIFY shows the end check failing without it).
 *
 * Mutations (the suite expects spin to reject each):
 *  - MUTATE_PUBLISH_STORE: publish PARKED/DRIVER with a plain store
 *    instead of the CAS from EMPTY, so a token that came first is
 *    overwritten: B sleeps for ever.
 *  - MUTATE_NO_DRIVER_RETRY: the sleeper does not re-try the driver lock
 *    after counting itself: A's hand-off can miss it while it falls
 *    asleep with the driver free.
 *  - MUTATE_NO_SEARCHER_NOTIFY (NB = 2): B(0) leaves without the
 *    searcher's notify: B(1) stays on its word with the driver free.
 *
 * Memory order. Spin explores sequentially consistent runs. The C asks
 * for SeqCst on both sides of the store-load pairs relied on: the CAS to
 * PARKED/DRIVER against the unparker's exchange; B's count (SeqCst RMW)
 * and SeqCst fence before its try-lock against A's unlock, SeqCst fence
 * and SeqCst load of the count; the count is ordered after B's CAS to
 * PARKED, so A's relaxed scan that reads the count sees PARKED (or a
 * later value). handoff_sb.pml checks the hand-off's pair with store
 * buffers; worker.c argues the relaxed scan.
 *
 * State space: see the table in tests/model/README.md.
 * Also rejected when tried by hand (not in the suite): an unpark that
 * does not wake the driver, one that does not wake the futex, and a
 * hand-off that does not unpark the sleeper it finds.
 */

#define EMPTY    0
#define PARKED   1
#define DRIVER   2
#define NOTIFIED 3

#ifndef NB
#define NB 1      /* sleepers besides A: 1 (two workers) or 2 (three) */
#endif
#define MAXB 2

byte st[MAXB];            /* each sleeper's park word, EMPTY at first */
bool fwait[MAXB];
bool evfd;
bool drv_locked = true;   /* A holds it at the start */
byte sleepers;
bool work[MAXB];
bool a_done;              /* A finished its hand-off */
bool b_done[MAXB];
bool io_spurious;         /* the driver's one spurious return is used */

/* B(i) asleep on its own word with no wake-up pending */
#define ON_WORD(i) (fwait[i] && st[i] == PARKED)
/* B(i) neither finished nor asleep on its word: it will try the driver */

/* weft__unpark(&B(i)->park): the exchange, then the wake where B sleeps. */
inline unpark(i)
{
	byte prev;
	atomic { prev = st[i]; st[i] = NOTIFIED }
	if
	:: prev == PARKED -> atomic { if :: fwait[i] -> fwait[i] = false :: else -> skip fi }
	:: prev == DRIVER -> evfd = true
	:: else -> skip
	fi
}

/* Publishes @where; sets ok. */
inline publish(where, ok)
{
#ifdef MUTATE_PUBLISH_STORE
	atomic { st[i] = where; ok = true }
#else
	atomic {
		if
		:: st[i] == EMPTY -> st[i] = where; ok = true
		:: else -> ok = false
		fi
	}
#endif
}

/* weft__park_clear: exchange EMPTY; took = a token was there. */
inline clear(took)
{
	atomic { took = (st[i] == NOTIFIED); st[i] = EMPTY }
}

active proctype A()
{
	byte j;
	drv_locked = false;   /* pthread_mutex_unlock(&rt->driver_lock) */
	/* weft__driver_handoff: fence; load park_sleepers */
	if
	:: sleepers > 0 ->
		/* the scan: the first other worker whose park is PARKED */
		j = 0;
		do
		:: j < NB && st[j] == PARKED -> unpark(j); break
		:: j < NB && st[j] != PARKED -> j++
		:: j >= NB -> break
		od
	:: else -> skip
	fi;
	atomic {
		a_done = true;
#if NB == 1
		/* not the driver left free with B asleep on its word */
		assert(b_done[0] || !ON_WORD(0))
#endif
	}
	/* runs a task that blocks in user code for ever */
}

active proctype P()
{
	work[0] = true;
	unpark(0)
}

active proctype S()
{
	byte j;
	/* one spurious futex return, at any time, for any sleeper */
	if
	:: atomic { fwait[0] -> fwait[0] = false }
	:: atomic { NB > 1 && fwait[1] -> fwait[1] = false }
	:: skip
	fi
}

/* The end: B(0), which has work, is not left asleep. The others may
 * sleep for ever: there is nothing for them. */
active proctype check()
{
	timeout ->
	assert(b_done[0]);
	/* nobody left asleep on its word with the driver free */
	assert(drv_locked || !((!b_done[0] && ON_WORD(0)) || (NB > 1 && !b_done[1] && ON_WORD(1))))
}

active [NB] proctype B()
{
	byte i = _pid - 4;    /* A, P, S, check come first */
	bool ok, took, tok;
	do
	:: atomic { work[i] -> work[i] = false; b_done[i] = true; break }
	:: else ->
		/* weft__worker_park_timeout: weft__park(p, 0) takes a token */
		atomic { tok = (st[i] == NOTIFIED); if :: tok -> st[i] = EMPTY :: else -> skip fi }
		if
		:: tok -> skip
		:: else ->
			atomic {
				if
				:: !drv_locked -> drv_locked = true; ok = true
				:: else -> ok = false
				fi
			}
			if
			:: ok ->
				/* weft__park_driver(p, -1) */
				publish(DRIVER, ok);
				if
				:: ok ->
					/* weft__driver_park: the reactor turn sleeps
					 * until the eventfd or one spurious I/O */
end_driver:				atomic {
						if
						:: evfd -> evfd = false
						:: !io_spurious -> io_spurious = true
						fi
					}
				:: else ->
					evfd = false   /* a poll drains it */
				fi;
				clear(took);
				drv_locked = false
			:: else ->
				/* weft__park_prepare */
				publish(PARKED, ok);
				if
				:: ok ->
					sleepers++;
					/* fence; re-try the driver lock */
#ifdef MUTATE_NO_DRIVER_RETRY
					ok = false;
#else
					atomic {
						if
						:: !drv_locked -> ok = true   /* then unlock at once */
						:: else -> ok = false
						fi
					}
#endif
					if
					:: ok -> skip   /* weft__park_wait(p, 0) */
					:: else ->
						/* weft__park_wait(p, -1): futex_wait while PARKED */
end_word:					do
						:: atomic {
							st[i] == PARKED && !fwait[i] ->
#if NB == 1
							assert(!a_done);
#endif
							fwait[i] = true
						   }
						:: atomic { st[i] != PARKED -> fwait[i] = false; break }
						od
					fi;
					clear(took);
					sleepers--
				:: else ->
					clear(took)   /* the token that made the CAS fail */
				fi
			fi
		fi
	od;
	/* B(0) leaves with the producer's work as a searcher (the
	 * producer's notify counted it so): weft__run_task ->
	 * weft__idle_transition_from_searching, the last searcher's
	 * weft__notify_parked, wakes the other parked worker, which then
	 * takes the driver (idle_park.pml checks that chain) */
#ifndef MUTATE_NO_SEARCHER_NOTIFY
	if
	:: NB > 1 && i == 0 -> unpark(1)
	:: else
	fi
#endif
}
