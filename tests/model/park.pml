/*
 * park.pml - the park's state word (runtime/sys/park.c) and the driver
 * hand-off of the multi-thread workers built on it
 * (runtime/sched/worker.c: weft__worker_park_timeout,
 * weft__driver_handoff).
 *
 * What stands for what:
 *  - st: worker B's park state word: EMPTY, PARKED (asleep on the word,
 *    a futex), DRIVER (asleep in the driver) or NOTIFIED (the token).
 *  - fwait: B is asleep inside futex_wait on st. The kernel compares the
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
 *  - B: a worker with nothing to do: weft__worker_park_timeout in a loop
 *    (take a token; or try the driver lock and weft__park_driver; or
 *    weft__park_prepare, count, re-try the driver lock, weft__park_wait)
 *    until it finds the producer's work, then ends.
 *  - P: a producer: queues work for B (work = 1), then weft__unpark.
 *  - S: one spurious futex wake-up at any time; the driver may also return
 *    once without a wake (I/O for someone else).
 * Every park step is one atomic step, as each is one atomic RMW in the C
 * (the SeqCst CAS to publish, the SeqCst exchange to unpark, the acquire
 * RMW to take a token); the unpark's wake (futex_wake or the driver hook)
 * is a separate step after its exchange.
 *
 * Checks (safety run):
 *  - no lost wake-up: B never sleeps for ever (on the word or in the
 *    driver) while work is queued for it: a final state with B blocked
 *    is an invalid end state;
 *  - the hand-off: B never goes to sleep on the word once A has left the
 *    driver and finished its hand-off, and A never finishes its hand-off
 *    with B asleep on the word with no wake-up pending (either would
 *    leave the driver free while B sleeps, and I/O stalls behind A's
 *    blocking task).
 *
 * Mutations (the suite expects spin to reject each):
 *  - MUTATE_PUBLISH_STORE: publish PARKED/DRIVER with a plain store
 *    instead of the CAS from EMPTY, so a token that came first is
 *    overwritten: B sleeps for ever.
 *  - MUTATE_NO_DRIVER_RETRY: the sleeper does not re-try the driver lock
 *    after counting itself: A's hand-off can miss it while it falls
 *    asleep with the driver free.
 *
 * Memory order. Spin explores sequentially consistent runs. The C asks
 * for SeqCst on both sides of the store-load pairs relied on: the CAS to
 * PARKED/DRIVER against the unparker's exchange; B's count (SeqCst RMW)
 * and SeqCst fence before its try-lock against A's unlock, SeqCst fence
 * and SeqCst load of the count; the count is ordered after B's CAS to
 * PARKED, so A's relaxed scan that reads the count sees PARKED (or a
 * later value).
 *
 * State space (spin 6.5.2, pan -DCOLLAPSE -m200000; states stored):
 *  the protocol as in the C:   no error, 4,417 states
 *  MUTATE_PUBLISH_STORE:       invalid end state (B asleep for ever)
 *                              after 270 states
 *  MUTATE_NO_DRIVER_RETRY:     assertion (B asleep on the word, the
 *                              driver free) after 1,461 states
 * Also rejected when tried by hand (not in the suite): an unpark that
 * does not wake the driver, one that does not wake the futex, and a
 * hand-off that does not unpark the sleeper it finds.
 */

#define EMPTY    0
#define PARKED   1
#define DRIVER   2
#define NOTIFIED 3

byte st = EMPTY;
bool fwait;
bool evfd;
bool drv_locked = true;   /* A holds it at the start */
byte sleepers;
bool work;
bool a_done;              /* A finished its hand-off */
bool b_done;
bool io_spurious;         /* the driver's one spurious return is used */

/* weft__unpark(&B->park): the exchange, then the wake where B sleeps. */
inline unpark()
{
	byte prev;
	atomic { prev = st; st = NOTIFIED }
	if
	:: prev == PARKED -> atomic { if :: fwait -> fwait = false :: else -> skip fi }
	:: prev == DRIVER -> evfd = true
	:: else -> skip
	fi
}

/* Publishes @where; sets ok. */
inline publish(where, ok)
{
#ifdef MUTATE_PUBLISH_STORE
	atomic { st = where; ok = true }
#else
	atomic {
		if
		:: st == EMPTY -> st = where; ok = true
		:: else -> ok = false
		fi
	}
#endif
}

/* weft__park_clear: exchange EMPTY; took = a token was there. */
inline clear(took)
{
	atomic { took = (st == NOTIFIED); st = EMPTY }
}

active proctype A()
{
	drv_locked = false;   /* pthread_mutex_unlock(&rt->driver_lock) */
	/* fence; load park_sleepers */
	if
	:: sleepers > 0 ->
		/* the scan: B is the only other worker */
		if
		:: st == PARKED -> unpark()
		:: else -> skip
		fi
	:: else -> skip
	fi;
	atomic {
		a_done = true;
		assert(b_done || !(fwait && st == PARKED))
	}
	/* runs a task that blocks in user code for ever */
}

active proctype P()
{
	work = true;
	unpark()
}

active proctype S()
{
	/* one spurious futex return, at any time */
	atomic { if :: fwait -> fwait = false :: else -> skip fi }
}

active proctype B()
{
	bool ok, took, tok;
	do
	:: atomic { work -> work = false; b_done = true; break }
	:: else ->
		/* weft__worker_park_timeout: weft__park(p, 0) takes a token */
		atomic { tok = (st == NOTIFIED); if :: tok -> st = EMPTY :: else -> skip fi }
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
					atomic {
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
						do
						:: atomic {
							st == PARKED ->
							assert(!a_done);
							fwait = true
						   };
						   !fwait
						:: st != PARKED -> break
						od
					fi;
					clear(took);
					sleepers--
				:: else ->
					clear(took)   /* the token that made the CAS fail */
				fi
			fi
		fi
	od
}
