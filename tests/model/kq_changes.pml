/*
 * kq_changes.pml - the kqueue backend's change queue
 * (runtime/io/io_kqueue.c): registrations and removals queued under the
 * backend lock, sent to the kernel only by the waiting thread, in queue
 * order, on the kevent call that waits; a registration queued while that
 * call may sleep wakes it once per call (`kicked`), and the wait sends
 * it at once with a call that does not sleep.
 *
 * What stands for what:
 *  - q[0..nq-1]: kq->queue, oldest first, all changes of one fd number
 *    F: A or B (a registration of F with that token) or DEL (a removal,
 *    token NULL). At most three changes are ever made, so the queue never
 *    needs more room (weft__kq_reserve and `promised` are left out).
 *  - waiting, kicked: kq->waiting and kq->kicked. Each critical section
 *    under kq->lock (in weft__backend_add, weft__backend_del,
 *    weft__kq_take, weft__kq_landed) is one atomic step: in a
 *    sequentially consistent run that is what the mutex gives.
 *  - trig: the EVFILT_USER wake-up's trigger, an EV_CLEAR edge (rule 17):
 *    set by weft__backend_wake (NOTE_TRIGGER), reset when a kevent call
 *    retrieves it. The pipe that stands in for EVFILT_USER where it is
 *    missing behaves the same here (readable, drained on retrieval).
 *  - owed: registrants that decided to kick (under the lock) and have
 *    not yet called weft__backend_wake (after unlocking): a trigger that
 *    will come.
 *  - knote: the kernel's knotes for F (rule 1): NONE, or the token they
 *    carry. The two knotes a change makes (EVFILT_READ and EVFILT_WRITE)
 *    are one here: the waiting thread expands a change into both and the
 *    kernel applies them back to back in the same call. file: what the
 *    number F names: the first socket (FILE1), nothing (CLOSED: closing
 *    dropped its knotes, rule 13), the socket that reused the number
 *    (FILE2).
 *  - nev: fd events (or a timed wait's timeout) that may end a sleeping
 *    call, at most NEV in a run; poll: waits with timeout 0 left, at most
 *    NPOLL.
 *
 * Processes:
 *  - W: the waiting thread (the reactor's turns, one at a time): in a
 *    loop, weft__backend_wait with no timeout (or, NPOLL times, a poll):
 *    weft__kq_take under the lock (takes the whole queue; marks `waiting`
 *    if the call may sleep); weft__kevent: the kernel applies the taken
 *    changes one by one in order (rule 10), then, for a call that may
 *    sleep, sleeps until the trigger is pending or an fd event comes;
 *    weft__kq_landed under the lock (resets waiting and kicked, reports
 *    whether changes were queued); after a wake-up with changes queued,
 *    the loop takes again and sends them with a call that does not sleep.
 *  - R1: weft__io_register of the first socket on F
 *    (weft__backend_add(F, A)), its weft__io_deregister
 *    (weft__backend_del(F)), then the close(2) of the socket.
 *  - R2: once F is closed, a new socket gets the number F;
 *    weft__backend_add(F, B).
 *  - U: one weft__backend_user_raise at any time: a trigger that no
 *    registration asked for (its user_raised flag is left out).
 *  - check: runs when nothing else can (spin's timeout), at the end.
 *
 * Checks (safety run):
 *  1. No lost registration: W never goes to sleep in a call with no
 *     timeout, and is never left asleep there, while a registration is
 *     queued, no trigger is pending and none is owed: only an fd event
 *     that may never come would end that sleep. Asserted where W goes to
 *     sleep and where a registration is queued (the only steps that can
 *     make it true; the trigger is consumed only by W, which then is not
 *     asleep), and at the end (W asleep for good): no registration is
     queued. A removal may be (it does not wake the wait, by design).
 *  2. Order: once B's registration and R1's removal have both been
 *     applied, the knote for F carries B (the removal never unregisters
 *     the later registration); once the removal is applied the knote
 *     never carries A (A's slot is freed after that). Asserted at every
 *     change of the knote; and at the end the knote carries B.
 *
 * Left out (the model is about the queue's order and the wake-up, not
 * these; each is argued in io_kqueue.c's header):
 *  - room: a take takes the whole queue, so `more` is always false: no
 *    EV_RECEIPT calls for changes left over, and no break for want of
 *    room in the eventlist (cap - out < 2);
 *  - errors: refused registrations (the FAILED event,
 *    weft__kq_change_error, weft__kq_removed_later) and refused removals
 *    are not reported; the kernel's side is kept only as far as the
 *    knote goes (a change of a closed number changes nothing: EBADF, and
 *    a removal with no knote: ENOENT). The errors_only loop, EINTR and
 *    its resend, a failed wake-up and `broken` are left out;
 *  - the events' contents, the user event's flag
 *    (weft__backend_user_take) and slot lifetimes (reactor.c's release
 *    list) are left out; a timed wait is an fd event here (the call
 *    returns without the trigger);
 *  - a call that returns with an fd event may or may not collect a
 *    pending trigger too (the eventlist's room); either is explored.
 *
 * Mutations (the suite expects spin to reject each):
 *  - MUTATE_NO_KICK: weft__backend_add never wakes the wait: a
 *    registration queued while W sleeps stays queued.
 *  - MUTATE_KICKED_NOT_RESET: weft__kq_landed leaves `kicked` set, so a
 *    registration queued during a later call does not wake it.
 *  - MUTATE_SEND_AT_ONCE: a registration that finds `waiting` set is
 *    applied to the kernel by the registrant directly instead of being
 *    queued: a removal W has taken and not yet applied then unregisters
 *    it.
 *
 * Memory order: spin explores sequentially consistent runs; everything
 * here is under kq->lock or inside the kernel, except the trigger, which
 * the kernel orders.
 *
 * State space: see the table in tests/model/README.md.
 */

#ifndef NEV
#define NEV 2     /* fd events (or timeouts) that may end a sleeping call */
#endif
#ifndef NPOLL
#define NPOLL 1   /* waits with timeout 0 */
#endif

#define NONE 0
#define A    1
#define B    2
#define DEL  3

#define FILE1  0
#define CLOSED 1
#define FILE2  2

#define QMAX 3

byte q[QMAX];
byte nq;
bool waiting;
bool kicked;
bool trig;
byte owed;
byte knote = NONE;
byte file = FILE1;
byte nev = NEV;
byte npoll = NPOLL;
bool asleep;        /* W is in a sleeping call that has not returned */
bool b_applied;     /* B's registration reached the kernel */
bool del_applied;   /* R1's removal reached the kernel */
bool r1_done, r2_done;

/* A registration is queued. */
#define REG_QUEUED ((nq > 0 && q[0] != DEL) || (nq > 1 && q[1] != DEL) || (nq > 2 && q[2] != DEL))
/* W asleep with no way out but an fd event. */
#define STUCK (asleep && REG_QUEUED && !trig && owed == 0)

/* Check 2, at each change of the knote. */
#define ORDER_OK ((!(b_applied && del_applied) || knote == B) && (!(del_applied || b_applied) || knote != A))

/* The kernel applies one change of F (EV_ADD | EV_CLEAR or EV_DELETE
 * of both filters). */
inline apply(c)
{
	if
	:: file == CLOSED -> skip   /* EBADF */
	:: file != CLOSED && c == DEL -> knote = NONE; del_applied = true   /* or ENOENT */
	:: file != CLOSED && c != DEL ->
		knote = c;   /* attaches, or modifies an existing knote (rule 2) */
		if
		:: c == B -> b_applied = true
		:: else -> skip
		fi
	fi;
	assert(ORDER_OK)
}

/* weft__backend_add(b, F, tok) */
inline add(tok)
{
	bool kick = false;
	atomic {
		/* lock; (weft__kq_reserve) */
#ifdef MUTATE_SEND_AT_ONCE
		if
		:: waiting -> apply(tok)   /* sent by the registrant: not queued */
		:: else ->
#endif
		q[nq] = tok; nq++;
#ifndef MUTATE_NO_KICK
		kick = waiting && !kicked;
		kicked = kicked || kick;
#endif
		if
		:: kick -> owed++
		:: else -> skip
		fi;
		assert(!STUCK);
#ifdef MUTATE_SEND_AT_ONCE
		fi
#endif
		/* unlock */
	}
	if
	:: kick ->
		/* weft__backend_wake: NOTE_TRIGGER */
		atomic { trig = true; owed-- }
	:: else -> skip
	fi
}

/* weft__backend_del(b, F): queued, no kick. */
inline del()
{
	atomic { q[nq] = DEL; nq++ }
}

active proctype R1()
{
	add(A);
	/* weft__io_deregister */
	del();
	/* close(2): the kernel drops F's knotes (rule 13) */
	atomic { file = CLOSED; knote = NONE; assert(ORDER_OK); r1_done = true }
}

active proctype R2()
{
	/* socket(2)/accept(2) gets the number F again */
	atomic { file == CLOSED -> file = FILE2 }
	add(B);
	r2_done = true
}

active proctype U()
{
	/* weft__backend_user_raise, once, at any time */
	trig = true
}

active proctype check()
{
	timeout ->
	assert(r1_done && r2_done);
	assert(!REG_QUEUED);      /* W asleep with no registration queued */
	assert(knote == B)
}

active proctype W()
{
	byte taken[QMAX];
	byte ntaken, i;
	bool poll, may_sleep, woken, got_ev, queued;
	do
	:: /* weft__backend_wait: no timeout, or (npoll times) timeout 0 */
		woken = false; got_ev = false; queued = false;
		if
		:: npoll > 0 -> npoll--; poll = true
		:: poll = false
		fi;
		do
		:: /* may_sleep = out == 0 && !woken && timeout_ns != 0 */
			may_sleep = !got_ev && !woken && !poll;
			/* weft__kq_take: under the lock, oldest first; `more`
			 * is false (all fit); waiting = may_sleep */
			d_step {
				ntaken = nq;
				i = 0;
				do
				:: i < nq -> taken[i] = q[i]; q[i] = NONE; i++
				:: else -> break
				od;
				nq = 0;
				waiting = may_sleep
			}
			/* weft__kevent: the changes first, in order (rule 10) */
			i = 0;
			do
			:: i < ntaken -> atomic { apply(taken[i]); i++ }
			:: else -> break
			od;
			if
			:: may_sleep ->
				/* then the wait: a pending trigger (or event)
				 * returns at once, else it sleeps */
				atomic { asleep = true; assert(!STUCK) }
end_sleep:			if
				:: atomic { trig -> trig = false; woken = true; asleep = false }
				:: atomic {
					nev > 0 -> nev--; got_ev = true; asleep = false;
					if
					:: trig -> trig = false; woken = true
					:: skip
					fi
				   }
				fi
			:: else ->
				/* a call that does not sleep: collects the
				 * trigger if pending (or, with no room, not) */
				atomic {
					if
					:: trig -> trig = false; woken = true
					:: skip
					fi
				}
			fi;
			/* weft__kq_landed, after a call that may have slept */
			if
			:: may_sleep ->
				atomic {
					waiting = false;
#ifndef MUTATE_KICKED_NOT_RESET
					kicked = false;
#endif
					queued = nq > 0
				}
			:: else -> skip
			fi;
			/* loop only after a wake-up with changes queued */
			if
			:: woken && queued -> queued = false
			:: else -> break
			fi
		od;
		/* the turn handles the events; then the next turn's wait */
		ntaken = 0
	od
}
