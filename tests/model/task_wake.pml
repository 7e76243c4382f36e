/*
 * task_wake.pml - one task's state word (runtime/task/task.c) with every
 * kind of actor the word serves, and the runtime's lifetime
 * (runtime/sched/runtime.c) around it:
 *  - a worker polling the task (weft__task_run);
 *  - two wakers by value on plain threads (weft__task_waker_wake);
 *  - one waker by reference, which then drops its waker
 *    (weft__task_waker_wake_by_ref, weft__task_waker_drop);
 *  - a join handle on a plain thread that polls with a waker of its own
 *    (weft_join_handle_poll, weft__set_join_waker,
 *    weft__unset_join_waker), may wait for that waker's wake and poll
 *    again, with the same or another waker, may abort
 *    (weft_join_handle_abort), may withdraw its waker as a dropped
 *    weft_join_task does (weft__join_handle_withdraw_waker), and closes
 *    (weft_join_handle_close: detach, or after the outcome);
 *  - the runtime's owner, who frees the runtime at any time
 *    (weft_runtime_close, then its last weft__runtime_ref_dec).
 *
 * The task: flags RUNNING, COMPLETE, NOTIFIED, CANCELLED, JOIN_INTEREST,
 * JOIN_WAKER and a reference count `refs`, changed together in one
 * atomic step where the C code makes one atomic RMW (its CAS loops and
 * fetch_xor/fetch_and). It starts idle after a first poll that returned
 * PENDING: refs = owned list + join handle + 3 wakers = 5. Its future is
 * ready once all three wakers' events happened (each waker records its
 * event, then wakes, as a leaf future's waker does after the progress it
 * reports). The runtime: `rt_refs` = owner + task; `closed`, `shutdown`;
 * the inject queue and the worker's local queue (0 or 1 entry each).
 *
 * The join waker slot (t->join_waker) holds the id (1 or 2) of one of the
 * join handle's two wakers, or 0; `jw_live[id]` counts the clones of that
 * waker alive (clone +1, drop -1). Writes to the slot (weft_waker_store,
 * weft_waker_drop) are two steps, a read-and-clear then the drop, with
 * `slot_busy` set in between; a read (weft_waker_will_wake, the
 * completer's weft_waker_wake_by_ref) asserts no write is under way, a
 * write asserts no read or write is, so two threads touching the slot
 * at once (a data race in the C) is an assertion failure.
 *
 * Checks:
 *  - no access after free: every step on the task or the runtime asserts
 *    it is not freed (TASK_OK, RT_OK);
 *  - the future is dropped exactly once, by the holder of RUNNING;
 *  - at most one queue entry: `qent` counts the run-queue references
 *    (pushed, not yet consumed); a push asserts there is none;
 *  - the join waker is dropped exactly once: no clone dropped twice
 *    (jw_live never below 0), none left (jw_live 0 at the end), no
 *    overlapping access, and the completer finds a waker in the slot
 *    whenever JOIN_WAKER gave it one;
 *  - no lost wake, on both sides: when the worker commits to sleep with
 *    both queues empty, no finished wake or abort is still unseen by a
 *    poll unless the task is complete, the runtime closed, or a submitter
 *    is between its transition and its push; and a join handle that
 *    waits for its waker after a PENDING poll is woken (else the run ends
 *    with it blocked: an invalid end state);
 *  - at the end every reference is gone, the task and the runtime freed.
 *
 * Memory order: Spin explores sequentially consistent interleavings only.
 * The state word's RMWs are on one location, which is totally ordered
 * whatever the order argument; the orderings the C code states (AcqRel
 * reference drops, acquire on RUNNING, release of the join waker slot
 * with JOIN_WAKER) are for the plain data around the word (the future,
 * the output, the slot's contents), which this model treats as the word's
 * steps do. task.c's header comment says why those suffice.
 *
 * Not modelled: the current-thread scheduler's schedule (the same shape:
 * weft__inject_push, then a driver unpark), the LIFO slot and local queue
 * pushes of wakes from other tasks on a worker (they go to a queue the
 * same way: one push per NOTIFIED), the owned list's shards, spawn (the
 * task starts spawned and polled once), the blocking pool.
 *
 * Configurations. All seven actors at once are more than spin explores
 * here (over 51 million states, cut short at 3 GB), so the suite checks
 * two: by default the worker, both wakers by value, the waker by
 * reference and the owner, with a join handle that only closes (a
 * detach) at any time; with -DJOIN -DVALW=1 the join handle's whole
 * repertoire (polls, waits, a second waker, abort, withdraw, close)
 * with one waker by value, the waker by reference, the worker and the
 * owner (6,442,953 states: the long suite; the default suite checks the
 * join handle with one waker, by value or by reference). VALW (0..2)
 * and BYREF (0/1) choose the wakers.
 *
 * Mutations (the suite expects spin to reject each):
 *  - MUTATE_WAKE_TRANSFERS_REF: a wake by value that submits hands its
 *    own reference to the queue (the old code): the waker touches the
 *    runtime after weft_runtime_close freed it.
 *  - MUTATE_BY_REF_NO_QUEUE_REF: a wake by reference that submits takes
 *    no reference for the queue.
 *  - MUTATE_CLOSE_DROPS_TASK_WAKER: weft_join_handle_close drops the
 *    slot even when the completer owns it (COMPLETE with JOIN_WAKER
 *    still set): the join waker dropped twice.
 *  - MUTATE_COMPLETE_KEEPS_JOIN_WAKER: the completer does not drop the
 *    join waker when the handle is gone: never dropped.
 *  - MUTATE_COMPLETE_NO_JOIN_WAKE: completion does not wake the join
 *    waker: a join handle waiting after a PENDING poll sleeps for ever.
 *  - MUTATE_ABORT_NO_SUBMIT: abort of an idle task sets CANCELLED only,
 *    without queueing it: the abort is lost until something else wakes
 *    the task.
 *  - MUTATE_ABORT_LOAD_STORE: abort racing completion: abort reads the
 *    word and writes it back with a plain store instead of a CAS.
 *
 * State space: see the table in tests/model/README.md.
 */

#define NOTHING 0
#define SUBMIT  1
#define DEALLOC 2

#define SKIP    0
#define POLL    1
#define CANCEL  2

/* Actors: VALW wakers by value (0..2), BYREF (0/1) wakers by
 * reference, and the join handle's full repertoire with JOIN (else it
 * only closes, at any time: a detach). */
#ifndef VALW
#define VALW    2
#endif
#ifndef BYREF
#define BYREF   1
#endif
#define NWAKE   (VALW + BYREF)

/* the task's state word */
bool running, complete, notified, cancelled, jinterest = true, jwaker;
byte refs = 2 + NWAKE;     /* owned list + join handle + the wakers */
bool owned = true;         /* on the owned list */
bool task_freed;
byte fut_drops;
byte ev;                   /* events the wakers reported (the future is ready at NWAKE) */

/* the join waker slot and the join handle's two wakers */
byte slot;                 /* t->join_waker: 0, or the id of the waker in it */
bool slot_busy;            /* a write of the slot is under way */
byte jw_live[3];           /* live clones of waker 1 and 2 */
bool jw_woken[3];          /* waker id was woken */

/* the runtime */
byte rt_refs = 2;          /* owner + the task */
bool rt_freed;
bool closed;               /* rt->closed, under rt->lock */
bool shutdown;             /* the flavour's shutdown flag */
byte inject_q;             /* tasks in rt->inject */
byte local_q;              /* tasks in the worker's local queue */
bool worker_done;

/* ghosts for the checks */
byte qent;                 /* run-queue references outstanding */
byte submitting;           /* between a SUBMIT transition and its push */
bool unseen[3];          /* waker i's event not yet seen by a poll */
bool wdone[3];           /* waker i's wake has returned */
bool ab_done;              /* an abort that set CANCELLED has returned */

#define TASK_OK assert(!task_freed)
#define RT_OK   assert(!rt_freed)
#define LOST_WAKE ((wdone[0] && unseen[0]) || (wdone[1] && unseen[1]) || \
		   (wdone[2] && unseen[2]) || ab_done)

/* weft__runtime_ref_dec */
inline rt_ref_dec() {
	atomic {
		RT_OK;
		rt_refs--;
		if
		:: rt_refs == 0 -> rt_freed = true   /* ts->destroy(rt): mt_fini, free */
		:: else
		fi
	}
}

/* weft__task_dealloc: weft_waker_drop(&t->join_waker) (a no-op: the
 * slot was settled at completion), weft__task_mem_free(rt, t),
 * weft__runtime_ref_dec(rt) */
inline dealloc() {
	atomic {
		TASK_OK; RT_OK;
		assert(slot == 0);
		task_freed = true
	}
	rt_ref_dec()
}

/* weft__task_ref_dec: the AcqRel fetch_sub of one reference */
inline ref_dec() {
	atomic { TASK_OK; refs--; last = (refs == 0) }
	if
	:: last -> last = false; dealloc()
	:: else
	fi
}

/* weft_future_drop by the holder of RUNNING (weft__task_cancel, or
 * weft__task_run after READY) */
inline drop_future() {
	atomic { TASK_OK; assert(running); fut_drops++; assert(fut_drops == 1) }
}

/* Slot reads. weft_waker_wake_by_ref(&t->join_waker) in
 * weft__task_complete: the task side owns a waker there. */
inline slot_wake_by_ref() {
	atomic {
		TASK_OK; assert(!slot_busy); assert(slot != 0);
		assert(jw_live[slot] > 0);
		jw_woken[slot] = true
	}
}

/* weft_waker_drop(&t->join_waker): read and clear, then the vtable's
 * drop of what was read. */
inline slot_drop() {
	atomic { TASK_OK; assert(!slot_busy); slot_busy = true; v = slot; slot = 0 }
	atomic {
		if
		:: v != 0 -> assert(jw_live[v] > 0); jw_live[v]--
		:: else
		fi;
		slot_busy = false; v = 0
	}
}

/* weft__inject_push from a thread outside the runtime
 * (weft__mt_schedule): the lock, the `closed` check, the push or the
 * drop of the queue's reference (weft__task_ref_dec after unlock). */
inline inject_push() {
	atomic {
		TASK_OK; RT_OK;
		submitting--;
		if
		:: closed -> c = true
		:: else -> assert(qent == 0); qent++; inject_q++
		fi
	}
	if
	:: c -> c = false; ref_dec()
	:: else ->
		/* rt->remote_schedules, the SeqCst fence and
		 * weft__notify_parked (reads rt->idle, unparks) */
		atomic { RT_OK }
	fi
}

inline qent_drop() {
	atomic { assert(qent > 0); qent-- }
}

/* weft__task_complete(t, aborted, held) */
inline task_complete() {
	/* weft__owned_remove (under the shard lock), then the relaxed load
	 * of JOIN_INTEREST. One step: nobody else looks at the owned list
	 * while a task completes (shutdown pops it only after the workers
	 * are joined, and a task completes on one thread at a time). */
	atomic {
		TASK_OK; RT_OK;
		if :: owned -> owned = false; held++ :: else fi;
		ji = jinterest
	}
	if
	:: !ji ->
		/* detached: one CAS publishes COMPLETE and drops `held` */
		atomic {
			TASK_OK;
			running = false; complete = true;
			refs = refs - held;
			last = (refs == 0)
		}
		held = 0;
		if
		:: last -> last = false; dealloc()
		:: else
		fi
	:: else ->
		/* the AcqRel fetch_xor of RUNNING|COMPLETE */
		atomic {
			TASK_OK;
			ji = jinterest; jw = jwaker;
			running = false; complete = true
		}
		if
		:: ji && jw ->
#ifndef MUTATE_COMPLETE_NO_JOIN_WAKE
			slot_wake_by_ref();
#endif
			/* the AcqRel fetch_and clearing JOIN_WAKER */
			atomic { TASK_OK; jwaker = false; ji = jinterest };
#ifndef MUTATE_COMPLETE_KEEPS_JOIN_WAKER
			if
			:: !ji -> slot_drop()
			:: else
			fi
#endif
		:: else
		fi;
		ji = false; jw = false;
		/* weft__task_ref_dec2 or weft__task_ref_dec */
		atomic { TASK_OK; refs = refs - held; last = (refs == 0) };
		held = 0;
		if
		:: last -> last = false; dealloc()
		:: else
		fi
	fi
}

/* weft__next_task's pop, then weft__task_run, for the worker, which
 * holds the queue's reference. The pop and weft__transition_to_running
 * are one step (the caller's guard opens it): between them the task is
 * NOTIFIED, as it is in the queue, and only the worker knows it is out
 * of the queue (the owner drains the queue after the worker is joined). */
inline transition_to_running() {
	TASK_OK;
	qent--;
	if
	:: complete || running -> act = SKIP
	:: else ->
		notified = false; running = true;
		unseen[0] = false; unseen[1] = false; unseen[2] = false;
		act = (cancelled -> CANCEL : POLL)
	fi
}

inline task_run() {
	if
	:: act == SKIP -> ref_dec()
	:: act == CANCEL -> drop_future(); held = 1; task_complete()
	:: act == POLL ->
		/* fut->poll: READY once every event happened */
		atomic { TASK_OK; assert(running); rdy = (ev == NWAKE) }
		if
		:: rdy -> rdy = false; drop_future(); held = 1; task_complete()
		:: else ->
			/* weft__transition_to_idle; on RESCHEDULE,
			 * weft__task_schedule(t, true) on the worker:
			 * weft__push_back to its own local queue, in the same
			 * step (only this worker reads that queue), then
			 * weft__notify_parked (not modelled: the runtime
			 * outlives the worker) */
			atomic {
				TASK_OK;
				if
				:: cancelled -> act = CANCEL
				:: else ->
					running = false;
					if
					:: notified ->
						act = SUBMIT;
						assert(qent == 0); qent++; local_q++
					:: else -> refs--; act = NOTHING
					fi
				fi
			}
			if
			:: act == CANCEL -> drop_future(); held = 1; task_complete()
			:: else
			fi
		fi
	fi;
	act = SKIP
}

proctype worker()
{
	byte act, held, v;
	bool last, rdy, ji, jw;
	do
	:: shutdown -> break
	:: else ->
		if
		:: atomic { local_q > 0 -> local_q--; transition_to_running() };
			task_run()
		:: atomic {
			local_q == 0 && inject_q > 0 -> RT_OK; inject_q--;
			transition_to_running()
		   };
			task_run()
		:: atomic {
			local_q == 0 && inject_q == 0 ->
			/* weft__worker_park: commits to sleep */
			assert(complete || closed || submitting > 0 || !LOST_WAKE)
		   };
			/* until a notify (after a push) or the shutdown unpark */
			(inject_q > 0 || shutdown)
		fi
	od;
	/* weft__worker_main after its loop: drop the queue references */
	do
	:: local_q > 0 -> local_q--; qent_drop(); ref_dec()
	:: else -> break
	od;
	worker_done = true
}

/* A waker by value on a plain thread: the event, then
 * weft__task_waker_wake. */
proctype waker_by_val(byte i)
{
	byte act;
	bool last, c;
	atomic { ev++; unseen[i] = true }
	/* weft__transition_notified_by_val */
	atomic {
		TASK_OK;
		if
		:: running ->
			notified = true; refs--; act = NOTHING
		:: !running && (complete || notified) ->
			refs--; act = (refs == 0 -> DEALLOC : NOTHING)
		:: else ->
			notified = true;
#ifndef MUTATE_WAKE_TRANSFERS_REF
			refs++;         /* a new reference for the run queue */
#endif
			act = SUBMIT; submitting++
		fi;
		if :: act != SUBMIT -> wdone[i] = true :: else fi
	}
	if
	:: act == SUBMIT ->
		/* weft__task_schedule: t->rt->ops->schedule, weft__mt_schedule */
		inject_push();
		wdone[i] = true;
#ifndef MUTATE_WAKE_TRANSFERS_REF
		ref_dec()           /* the waker's own reference, after schedule */
#endif
	:: act == DEALLOC -> dealloc()
	:: else
	fi
}

/* The waker by reference on a plain thread: the event,
 * weft__task_waker_wake_by_ref, then weft__task_waker_drop. */
proctype waker_by_ref()
{
	byte act;
	bool last, c;
	atomic { ev++; unseen[2] = true }
	/* weft__transition_notified_by_ref */
	atomic {
		TASK_OK;
		if
		:: complete || notified -> act = NOTHING
		:: running -> notified = true; act = NOTHING
		:: else ->
			notified = true;
#ifndef MUTATE_BY_REF_NO_QUEUE_REF
			refs++;         /* the queue's reference */
#endif
			act = SUBMIT; submitting++
		fi;
		if :: act != SUBMIT -> wdone[2] = true :: else fi
	}
	if
	:: act == SUBMIT ->
		inject_push();   /* weft__task_schedule */
		wdone[2] = true
	:: else
	fi;
	/* weft_waker_drop of the waker: weft__task_waker_drop */
	ref_dec()
}

/* weft_join_handle_abort */
inline join_abort() {
#ifdef MUTATE_ABORT_LOAD_STORE
	/* a load, then a store of what it computed */
	atomic {
		TASK_OK;
		s_run = running; s_comp = complete; s_not = notified;
		s_can = cancelled; s_ji = jinterest; s_jw = jwaker; s_refs = refs
	}
	if
	:: s_comp || s_can -> act = NOTHING
	:: else ->
		atomic {
			TASK_OK;
			running = s_run; complete = s_comp; jinterest = s_ji;
			jwaker = s_jw; cancelled = true;
			if
			:: s_run || s_not -> notified = s_not || s_run; refs = s_refs; act = NOTHING
			:: else -> notified = true; refs = s_refs + 1; act = SUBMIT; submitting++
			fi;
			if :: act != SUBMIT -> ab_done = true :: else fi
		}
	fi;
#else
	atomic {
		TASK_OK;
		if
		:: complete || cancelled -> act = NOTHING
		:: running || notified ->
			cancelled = true;
			notified = notified || running;
			act = NOTHING; ab_done = true
		:: else ->
			cancelled = true;
#ifdef MUTATE_ABORT_NO_SUBMIT
			act = NOTHING; ab_done = true
#else
			notified = true; refs++;
			act = SUBMIT; submitting++
#endif
		fi
	}
#endif
	if
	:: act == SUBMIT ->
		inject_push();   /* weft__task_schedule */
		ab_done = true
	:: else
	fi;
	act = NOTHING
}

/* weft_join_handle_poll(h, cx) with cx->waker = waker `id`; sets rdy */
inline join_poll() {
	/* the acquire load */
	atomic { TASK_OK; c = complete; jw = jwaker }
	if
	:: c -> rdy = true
	:: else ->
		if
		:: jw ->
			/* weft_waker_will_wake(&t->join_waker, cx->waker): a
			 * read of the slot the task side owns */
			atomic { TASK_OK; assert(!slot_busy); same = (slot == id) }
			if
			:: same -> rdy = false; goto polled
			:: else ->
				/* weft__unset_join_waker */
				atomic {
					TASK_OK;
					if
					:: complete -> ok = false
					:: else -> jwaker = false; ok = true
					fi
				}
				if
				:: !ok -> rdy = true; goto polled
				:: else
				fi
			fi
		:: else
		fi;
		/* weft_waker_store(&t->join_waker, cx->waker): the handle
		 * owns the slot here */
		atomic { TASK_OK; assert(!slot_busy); same = (slot == id) }
		if
		:: same -> same = false
		:: else ->
			slot_drop();
			atomic { TASK_OK; assert(!slot_busy); slot = id; jw_live[id]++ }
		fi;
		/* weft__set_join_waker */
		atomic {
			TASK_OK;
			if
			:: complete -> ok = false
			:: else -> jwaker = true; ok = true
			fi
		}
		if
		:: ok -> rdy = false
		:: else -> slot_drop(); rdy = true
		fi
	fi;
polled:
	c = false; jw = false; same = false; ok = false
}

proctype join_handle()
{
#ifdef JOIN
	byte act, v, id, polls;
	bool last, c, jw, same, ok, rdy, aborted, wait;
#ifdef MUTATE_ABORT_LOAD_STORE
	bool s_run, s_comp, s_not, s_can, s_ji, s_jw;
	byte s_refs;
#endif
	do
	:: polls < 2 ->
		polls++;
		if
		:: id = 1
		:: polls == 2 -> id = 2    /* the handle moved to another task */
		fi;
		join_poll();
		if
		:: rdy -> break
		:: else ->
			if
			:: wait = true
			:: wait = false
			fi;
			if
			:: wait ->
				/* the joiner sleeps until its waker is woken */
				jw_woken[id];
				jw_woken[id] = false; wait = false
			:: else
			fi
		fi
	:: !aborted -> aborted = true; join_abort()
	:: break
	od;
	if
	:: true ->
		/* weft__join_handle_withdraw_waker (a weft_join_task dropped) */
		atomic { TASK_OK; c = complete; jw = jwaker }
		if
		:: !c && !jw -> goto withdrawn
		:: !c && jw ->
			/* weft__unset_join_waker */
			atomic {
				TASK_OK;
				if
				:: complete -> ok = false
				:: else -> jwaker = false; ok = true
				fi
			}
			if
			:: ok -> slot_drop(); goto withdrawn
			:: else -> atomic { TASK_OK; c = complete; jw = jwaker }
			fi
		:: else
		fi;
		if
		:: !jw -> slot_drop()
		:: else
		fi
withdrawn:
		c = false; jw = false; ok = false
	:: true
	fi;
#else
	byte v;
	bool last, c, jw;
#endif
	/* weft_join_handle_close: the CAS clearing JOIN_INTEREST (and
	 * JOIN_WAKER unless COMPLETE) */
	atomic {
		TASK_OK;
		c = complete; jw = jwaker;
		jinterest = false;
		if :: !complete -> jwaker = false :: else fi
	}
#ifndef MUTATE_CLOSE_DROPS_TASK_WAKER
	if
	:: !(c && jw) -> slot_drop()
	:: else
	fi;
#else
	slot_drop();
#endif
	ref_dec()
}

proctype owner()
{
	byte act, held, n, v;
	bool last, own, ji, jw;
	/* weft_runtime_close: rt->closed under rt->lock */
	atomic { RT_OK; closed = true };
	/* rt->tasks.ops->shutdown (weft__mt_stop_threads: set shutdown,
	 * unpark, join) */
	shutdown = true;
	worker_done;
	/* weft__owned_pop, then weft__task_shutdown */
	atomic { RT_OK; if :: owned -> owned = false; own = true :: else fi }
	if
	:: own ->
		atomic {
			TASK_OK;
			cancelled = true;
			if
			:: !(running || complete) -> running = true; act = CANCEL
			:: else -> act = SKIP
			fi
		}
		if
		:: act == CANCEL -> drop_future(); held = 1; task_complete()
		:: else -> ref_dec()
		fi
	:: else
	fi;
	/* drain the inject queue under rt->lock, then drop each */
	atomic { RT_OK; n = inject_q; inject_q = 0 };
	do
	:: n > 0 -> n--; qent_drop(); ref_dec()
	:: else -> break
	od;
	rt_ref_dec()
}

init {
	atomic {
		run worker();
		if :: VALW >= 1 -> run waker_by_val(0) :: else fi;
		if :: VALW >= 2 -> run waker_by_val(1) :: else fi;
		if :: BYREF -> run waker_by_ref() :: else fi;
		run join_handle();
		run owner()
	}
	(_nr_pr == 1);
	assert(refs == 0 && rt_refs == 0 && task_freed && rt_freed && fut_drops == 1);
	assert(jw_live[1] == 0 && jw_live[2] == 0 && slot == 0)
}
