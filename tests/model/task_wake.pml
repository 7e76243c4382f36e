/*
 * task_wake.pml - one task's state word (runtime/task/task.c) and the
 * runtime's lifetime (runtime/sched/runtime.c), with a thread outside the
 * runtime that holds the task's last waker and wakes it by value while
 * the runtime shuts down.
 *
 * The task: flags RUNNING, COMPLETE, NOTIFIED, CANCELLED and a reference
 * count `refs`, changed together in one atomic step as the C code's CAS
 * loops do. No join handle (a detached task: JOIN_INTEREST clear). It
 * starts idle after a first poll: refs = 1 (owned list) + 1 (the waker
 * the other thread holds). The runtime: `rt_refs` = 1 (the owner) + 1
 * (the task); `closed`, `shutdown`; the inject queue and the worker's
 * local queue (0 or 1 entry each: there is one task).
 *
 * Processes and steps:
 *  - waker: weft__task_waker_wake (wake by value):
 *    weft__transition_notified_by_val, then on SUBMIT
 *    weft__task_schedule -> weft__mt_schedule from a non-worker thread:
 *    weft__inject_push_batch (rt->lock, the `closed` check, the push or
 *    the drop of the queue's reference), the remote_schedules counter,
 *    the fence and weft__notify_parked (reads rt->idle); on DEALLOC
 *    weft__task_dealloc. By default the fixed protocol: a SUBMIT takes a
 *    new reference for the run queue and the waker drops its own after
 *    schedule returns. -DMUTATE_WAKE_TRANSFERS_REF: the old code, where
 *    the waker's reference becomes the queue's.
 *  - worker: weft__worker_main for one worker: weft__next_task (local
 *    queue, then the inject queue), weft__task_run
 *    (weft__transition_to_running, the poll, which returns READY or
 *    PENDING, weft__transition_to_idle, weft__task_complete,
 *    weft__task_cancel, the reschedule to its local queue), parking until
 *    a task is queued or shutdown; on shutdown it drops the references of
 *    its local queue.
 *  - owner: weft_runtime_close: close under rt->lock, weft__mt_stop_threads
 *    (shutdown flag, join), weft__owned_pop + weft__task_shutdown, drain
 *    the inject queue (weft__task_ref_dec each), weft__runtime_ref_dec.
 *  - weft__task_ref_dec / weft__task_dealloc (frees the task, touches rt
 *    through weft__task_mem_free, then weft__runtime_ref_dec, which frees
 *    the runtime at zero).
 *
 * Checks: every access to the task or the runtime asserts it is not
 * freed; the future is dropped once, by the thread that holds RUNNING;
 * at the end every reference is gone and both are freed.
 *
 * Memory order: Spin explores sequentially consistent interleavings only.
 * The C code's state-word RMWs are AcqRel CASes on one location (a single
 * location is totally ordered whatever the order argument), and the
 * reference drops are AcqRel, so the freeing thread sees every other use;
 * the model checks the interleavings of those RMWs, not weaker orderings
 * of the plain accesses around them.
 *
 * Not modelled: join handles and join wakers, wake_by_ref, abort, the
 * current-thread scheduler's schedule (the same shape: lock, closed,
 * push, then driver unpark), the owned list's shards, blocking pool.
 *
 * State space (spin 6.5.2, pan -DSAFETY, states stored): default 826, no
 * error (about 1 s); -DMUTATE_WAKE_TRANSFERS_REF: "assertion violated
 * !(rt_freed)" after 54 states. Its shortest trail: the owner closes the
 * runtime; the waker's wake by value finds the task idle and, as
 * SUBMIT, keeps its reference as the queue's; weft__inject_push_batch
 * sees `closed` and drops that reference (refs 2 -> 1); the owner pops
 * the task from the owned list, cancels it (future dropped), completes
 * it (refs 1 -> 0: the task is freed, rt_refs 2 -> 1), and drops its own
 * runtime reference (rt_refs 1 -> 0: the runtime is freed); the waker,
 * still in weft__mt_schedule, then bumps rt->remote_schedules. The same
 * happens when the push succeeds and the owner's drain of the inject
 * queue drops the reference.
 */

#define NOTHING 0
#define SUBMIT  1
#define DEALLOC 2

#define SKIP    0
#define POLL    1
#define CANCEL  2

/* the task */
bool running, complete, notified, cancelled;
byte refs = 2;             /* owned list + the waker */
bool owned = true;         /* on the owned list */
bool task_freed;
byte fut_drops;

/* the runtime */
byte rt_refs = 2;          /* owner + the task */
bool rt_freed;
bool closed;               /* rt->closed, under rt->lock */
bool shutdown;             /* rt->shutdown */
byte inject_q;             /* tasks in rt->inject */
byte local_q;              /* tasks in the worker's local queue */
bool worker_done;

#define TASK_OK assert(!task_freed)
#define RT_OK   assert(!rt_freed)

/* weft__runtime_ref_dec */
inline rt_ref_dec() {
	atomic {
		RT_OK;
		rt_refs--;
		if
		:: rt_refs == 0 -> rt_freed = true   /* mt_fini, free */
		:: else
		fi
	}
}

/* weft__task_dealloc */
inline dealloc() {
	atomic {
		TASK_OK; RT_OK;   /* join_waker, t->rt, task_mem_free(rt, t) */
		task_freed = true
	}
	rt_ref_dec()
}

/* weft__task_ref_dec */
inline ref_dec() {
	atomic { TASK_OK; refs--; last = (refs == 0) }
	if
	:: last -> last = false; dealloc()
	:: else
	fi
}

/* weft_future_drop by the holder of RUNNING */
inline drop_future() {
	atomic { TASK_OK; assert(running); fut_drops++; assert(fut_drops == 1) }
}

/* weft__task_complete(t, aborted, held) for a detached task */
inline task_complete(held) {
	/* weft__owned_remove: under the shard lock */
	atomic { TASK_OK; RT_OK; if :: owned -> owned = false; held++ :: else fi }
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
}

/* weft__task_run, for the worker */
inline task_run() {
	atomic {
		TASK_OK;
		if
		:: complete || running -> act = SKIP
		:: else ->
			notified = false; running = true;
			act = (cancelled -> CANCEL : POLL)
		fi
	}
	if
	:: act == SKIP -> ref_dec()
	:: act == CANCEL -> drop_future(); held = 1; task_complete(held)
	:: act == POLL ->
		if
		:: true ->      /* READY */
			drop_future(); held = 1; task_complete(held)
		:: true ->      /* PENDING: weft__transition_to_idle */
			atomic {
				TASK_OK;
				if
				:: cancelled -> act = CANCEL
				:: else ->
					running = false;
					if
					:: notified -> act = SUBMIT
					:: else -> refs--; act = NOTHING
					fi
				fi
			}
			if
			:: act == CANCEL -> drop_future(); held = 1; task_complete(held)
			:: act == SUBMIT ->
				/* weft__task_schedule(t, yield) on a worker:
				 * push_back to the local queue, then
				 * weft__notify_parked (reads rt->idle) */
				atomic { TASK_OK; RT_OK; local_q++ };
				atomic { RT_OK }
			:: else
			fi
		fi
	fi;
	act = SKIP
}

proctype worker()
{
	byte act, held;
	bool last;
	do
	:: shutdown -> break
	:: else ->
		if
		:: local_q > 0 -> local_q--; task_run()
		:: atomic { local_q == 0 && inject_q > 0 -> RT_OK; inject_q-- };
			task_run()
		:: local_q == 0 && inject_q == 0 ->
			/* park until a notify or the shutdown unpark */
			(inject_q > 0 || shutdown)
		fi
	od;
	/* weft__worker_main after the loop: drop the queue references */
	do
	:: local_q > 0 -> local_q--; ref_dec()
	:: else -> break
	od;
	worker_done = true
}

proctype waker()
{
	byte act;
	bool last, c;
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
			act = SUBMIT
		fi
	}
	if
	:: act == SUBMIT ->
		/* weft__task_schedule: t->rt->ops->schedule */
		atomic { TASK_OK; RT_OK };
		/* weft__inject_push_batch: lock, closed?, push, unlock */
		atomic {
			RT_OK;
			if
			:: closed -> c = true
			:: else -> inject_q++
			fi
		}
		if
		:: c -> c = false; ref_dec()    /* the queue's reference */
		:: else
		fi;
		atomic { RT_OK };   /* rt->remote_schedules */
		atomic { RT_OK };   /* SeqCst fence, weft__notify_parked */
#ifndef MUTATE_WAKE_TRANSFERS_REF
		ref_dec()           /* the waker's own reference */
#endif
	:: act == DEALLOC -> dealloc()
	:: else
	fi
}

proctype owner()
{
	byte act, held, n;
	bool last, own;
	/* weft_runtime_close */
	atomic { RT_OK; closed = true };          /* under rt->lock */
	/* weft__mt_stop_threads: set shutdown, unpark, join */
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
		:: act == CANCEL -> drop_future(); held = 1; task_complete(held)
		:: else -> ref_dec()
		fi
	:: else
	fi;
	/* drain the inject queue under rt->lock, then drop each */
	atomic { RT_OK; n = inject_q; inject_q = 0 };
	do
	:: n > 0 -> n--; ref_dec()
	:: else -> break
	od;
	rt_ref_dec()
}

init {
	atomic {
		run worker();
		run waker();
		run owner()
	}
	(_nr_pr == 1);
	assert(refs == 0 && rt_refs == 0 && task_freed && rt_freed && fut_drops == 1)
}
