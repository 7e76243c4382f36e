/*
 * timer_fastpath.pml - the time driver's fast path (timer/time/timer.c,
 * "The fast path"): the parked driver and a timer registration from
 * another thread decide without the lock whether the driver must be
 * woken, through two store-load pairs:
 *  - the driver (weft__time_next_deadline, called by weft__driver_park in
 *    runtime/io/driver.c): store driver_deadline = MAX ("asleep, no
 *    deadline"), SeqCst; then load armed, SeqCst; armed == 0 means sleep
 *    without a deadline;
 *  - the registration (weft__timer_poll, under tm->lock): fetch_add armed,
 *    SeqCst; then load driver_deadline, SeqCst; a deadline later than the
 *    timer's tick means lower it and unpark the driver.
 * Each side's store must be visible before its load reads: the SeqCst on
 * both accesses is the fence between them. Spin explores sequentially
 * consistent runs only, where that holds for any ordering, so this model
 * gives each thread an explicit store buffer, as a weakly ordered machine
 * (or the C11 model, for orderings weaker than SeqCst) has: a store goes
 * into the storing thread's FIFO buffer, a `drainer` process writes the
 * oldest entry to memory at any time, a load reads the thread's own
 * newest buffered store to that location first, else memory, and a
 * fence (here: the SeqCst pair) waits until the thread's buffer is
 * empty. A lock acquire or release, and the park's RMWs, also drain
 * (they are SeqCst RMWs or release operations after which the critical
 * section's stores are visible to the next holder).
 *
 * What stands for what:
 *  - mem[DD]: tm->driver_deadline: AWAKE (0), TICK (the timer's tick) or
 *    NODL (UINT64_MAX, "asleep, no deadline"); TICK < NODL.
 *  - mem[ARMED]: tm->armed.
 *  - wheel: the timer is in tm->wheel (plain data under tm->lock).
 *  - lk: tm->lock.
 *  - tok: the driver's park token (runtime/sys/park.c; the park's word
 *    and its wake are modelled in park.pml): set by
 *    weft__runtime_unpark_driver -> weft__driver_unpark -> weft__unpark.
 *
 * Processes:
 *  - driver: weft__driver_park in a loop until the timer fired:
 *    weft__time_next_deadline (the pair; on armed != 0 the slow path
 *    under the lock: weft__wheel_next_expiration, store driver_deadline);
 *    weft__park_driver (sleeps until the token; with a deadline, also
 *    until the deadline passes; once, a wake for someone else's I/O);
 *    weft__time_process -> weft__time_fire(driver = true): relaxed load
 *    of armed; 0: store AWAKE without the lock; else under the lock store
 *    AWAKE and fire what is due (armed--, FIRED).
 *  - registrar: weft__timer_poll on an IDLE timer from another thread:
 *    the lock, weft__wheel_insert, the pair, the store of the lower
 *    deadline, unlock, then (sleep.c) weft__runtime_unpark_driver.
 *
 * Check: no missed deadline. The driver ends only once the timer has
 * fired; a run where it sleeps without a deadline and without a token to
 * come, while the timer waits in the wheel, ends with it blocked: an
 * invalid end state.
 *
 * Mutations (the suite expects spin to reject each):
 *  - MUTATE_NO_DRIVER_FENCE: the driver's load of armed may pass its
 *    store of NODL (the pair not SeqCst on the driver's side);
 *  - MUTATE_NO_REGISTER_FENCE: the registration's load of
 *    driver_deadline may pass its increment of armed.
 * Either lets both sides read the other's old value: the driver sleeps
 * without a deadline, the registration does not unpark it.
 *
 * State space: see the table in tests/model/README.md.
 */

#define DD     0
#define ARMED  1

#define AWAKE  0
#define TICK   1
#define NODL   2

#define BUF    3      /* entries per store buffer */
#define D      0      /* thread ids: the driver */
#define R      1      /* the registrar */

byte mem[2];          /* driver_deadline starts AWAKE, armed 0 */
byte bl[6];           /* buffered stores: location */
byte bv[6];           /* buffered stores: value */
byte bn[2];           /* entries in each thread's buffer */
bool lk;
bool wheel;
bool tok;
bool fired;
bool due;             /* the timer's deadline has passed */
bool io_spurious;     /* the driver's one wake for someone else's I/O */

/* A store by thread t: into its buffer. */
inline store(t, loc, val) {
	assert(bn[t] < BUF);
	bl[t * BUF + bn[t]] = loc; bv[t * BUF + bn[t]] = val; bn[t]++
}

/* A load by thread t into res: its newest buffered store to loc, else
 * memory. */
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

/* A fence by thread t: wait until its buffer has drained. */
#define FENCE(t) (bn[t] == 0)

/* pthread_mutex_lock / unlock (drain, as the lock's release makes the
 * critical section's stores visible to the next holder) */
inline lock(t) { atomic { FENCE(t) && !lk -> lk = true } }
inline unlock(t) { atomic { FENCE(t) -> lk = false } }

/* Writes thread t's oldest buffered store to memory, at any time. */
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

proctype driver()
{
	byte a, dl, k;
	do
	:: fired -> break
	:: else ->
		/* weft__time_next_deadline: the SeqCst store of NODL ... */
		atomic { store(D, DD, NODL) };
#ifndef MUTATE_NO_DRIVER_FENCE
		/* ... ordered before the SeqCst load of armed */
		FENCE(D);
#endif
		atomic { load(D, ARMED, a) };
		if
		:: a == 0 -> dl = NODL
		:: else ->
			lock(D);
			/* weft__wheel_next_expiration; the relaxed store of
			 * driver_deadline under the lock */
			atomic { dl = (wheel -> TICK : NODL); store(D, DD, dl) };
			unlock(D)
		fi;
		/* weft__park_driver: the SeqCst CAS that publishes DRIVER
		 * drains, then the reactor turn sleeps */
		FENCE(D);
		if
		:: dl == NODL ->
			if
			:: atomic { tok -> tok = false }
			:: atomic { !io_spurious -> io_spurious = true }
			fi
		:: else ->
			if
			:: atomic { tok -> tok = false }
			:: due = true          /* the timeout: the deadline passed */
			fi
		fi;
		/* weft__time_process -> weft__time_fire(tm, true): the
		 * relaxed load of armed */
		atomic { load(D, ARMED, a) };
		if
		:: a == 0 ->
			/* the relaxed store of AWAKE, without the lock */
			atomic { store(D, DD, AWAKE) }
		:: else ->
			lock(D);
			atomic {
				store(D, DD, AWAKE);
				if
				:: wheel && due ->
					/* weft__wheel_poll; armed-- (relaxed,
					 * under the lock); FIRED */
					wheel = false;
					load(D, ARMED, a);
					store(D, ARMED, a - 1);
					fired = true
				:: else
				fi
			};
			unlock(D)
		fi;
		a = 0; dl = 0
	od
}

proctype registrar()
{
	byte x, k;
	bool unpark;
	/* weft__timer_poll, IDLE: the lock, weft__wheel_insert */
	lock(R);
	wheel = true;
	/* the SeqCst fetch_add of armed ... */
	atomic { load(R, ARMED, x); store(R, ARMED, x + 1) };
#ifndef MUTATE_NO_REGISTER_FENCE
	/* ... ordered before the SeqCst load of driver_deadline */
	FENCE(R);
#endif
	atomic { load(R, DD, x) };
	if
	:: TICK < x ->
		/* the relaxed store of the lower deadline, under the lock */
		atomic { store(R, DD, TICK) };
		unpark = true
	:: else
	fi;
	unlock(R);
	/* sleep.c: weft__runtime_unpark_driver, the park's SeqCst
	 * exchange (drains) */
	if
	:: unpark -> atomic { FENCE(R) -> tok = true }
	:: else
	fi
}

init {
	atomic {
		mem[DD] = AWAKE;
		run drainer(D);
		run drainer(R);
		run driver();
		run registrar()
	}
}
