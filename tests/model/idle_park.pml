/*
 * idle_park.pml - the idle/park protocol of the multi-thread scheduler
 * (runtime/sched/idle.c, runtime/sched/worker.c) with NW workers (2 by default,
 * -DNW=3 for three) and one producer outside the runtime.
 *
 * What stands for what:
 *  - `searching`, `unparked`: the two halves of idle->state.
 *  - stk[], nsl: the sleepers stack (idle->sleepers, idle->nsleepers),
 *    pushed at the top, popped from the top by a notifier, and removed by
 *    swap-with-top as weft__idle_transition_from_parked does.
 *  - idle_lock: idle->lock. Every section under it is one atomic step,
 *    except weft__idle_worker_to_notify, which is two (its re-check, then
 *    the pop and the fetch_add): lock-free readers and RMWs of the state
 *    word (should_notify's first load, to_searching, from_searching) can
 *    run between those. Taking the lock, and the stack, are not visible
 *    to lock-free code, so folding them into the neighbouring step loses
 *    no behaviour.
 *  - ps[i]: the state word of worker i's park (runtime/sys/park.c):
 *    EMPTY, SLEEP (PARKED or DRIVER: the model does not tell them apart)
 *    or TOK (NOTIFIED, the park token). The word itself and the driver
 *    hand-off are modelled in park.pml.
 *  - inject: the length of the inject queue (its pushes and pops are
 *    under rt->lock: one atomic step each).
 *
 * Processes and steps:
 *  - producer: weft__mt_schedule from a thread outside the runtime, NT
 *    times: weft__inject_push_batch, the SeqCst fence, then
 *    weft__notify_parked (weft__idle_worker_to_notify, then
 *    weft__worker_unpark).
 *  - worker(i): weft__worker_main. `top` is weft__next_task (local queue,
 *    then the inject queue); then weft__steal_work
 *    (weft__idle_transition_to_searching: a relaxed load, then the
 *    fetch_add; the inject queue); then weft__worker_park. `run` is
 *    weft__run_task (weft__idle_transition_from_searching and its notify,
 *    then the task). Every worker but the last (NW-1) starts inside a
 *    long task and any task it runs may be long (it may never end);
 *    tasks on the last worker end.
 *  - park_timeout: weft__worker_park_timeout: consume a token, or commit
 *    to sleep (the SeqCst CAS EMPTY -> PARKED/DRIVER), then return on a
 *    token, or at any time without one: the driver returns for I/O or a
 *    timer, the off-driver sleeper's driver re-try, a hand-off unpark from
 *    weft__driver_handoff (a token that no notifier counted) all look like
 *    this to the idle protocol. A return may bring local work (the driver
 *    woke tasks into this worker's queue).
 *  - the loop after park_timeout in weft__worker_park: by default the new
 *    protocol (a worker woken without a notification stays counted as
 *    parked: weft__idle_is_parked, re-park without any count change);
 *    with -DMUTATE_SPURIOUS_REPARK the old one
 *    (weft__idle_transition_from_parked counts it unparked, then
 *    weft__idle_transition_to_parked(searching=false) without re-check).
 *    -DMUTATE_NO_LAST_SEARCHER_RECHECK drops the parking worker's
 *    re-check (weft__work_pending) in weft__worker_park.
 *    -DMUTATE_RECHECK_ONLY_LAST_SEARCHER puts back the rule the C had
 *    before this model found the window described below.
 *
 * Not modelled: shutdown, stealing between local queues (local work is
 * run by the worker that holds it, which always happens before it parks),
 * batches taken from the inject queue (a take is one task), the driver
 * lock and park_sleepers hand-off protocol (park.pml),
 * global_queue_interval.
 *
 * Memory order. Spin explores sequentially consistent interleavings only.
 * That is sound for the C code only where the C code asks for SeqCst on
 * both sides of each store-load pair the protocol relies on:
 *  - the producer pushes (under rt->lock), issues a SeqCst fence, then
 *    loads idle->state SeqCst in weft__idle_should_notify;
 *  - the last searcher's SeqCst fetch_sub in
 *    weft__idle_transition_to_parked comes before its SeqCst load of
 *    inject_len in weft__work_pending;
 *  - the SeqCst exchange in weft__unpark and the SeqCst CAS to a
 *    sleeping state in weft__park_publish (runtime/sys/sys_park.h);
 *  - to_searching / from_searching are SeqCst RMWs.
 * Relaxed loads of inject_len elsewhere (weft__inject_take's fast path)
 * may see a stale value on real hardware; the model reads the true value
 * there, which is fine because only the re-check above is relied on.
 *
 * Checks:
 *  - safety, as the issue states it (an assertion when a worker commits
 *    to sleep): when every worker sleeps, the inject queue is empty or
 *    the producer's notify (its token) is still to come;
 *  - safety, the stronger form (the same place): the inject
 *    queue is empty, or the producer is still between its push and the
 *    end of its notify, or a notifier popped a worker that has not yet
 *    started searching, or another worker will still look at the inject
 *    queue (looks[]: running a short task, searching, or a last searcher
 *    before its re-check). A worker inside a long task does not count.
 *  - liveness (ltl `live`, checked with -a -f, weak fairness): a
 *    non-empty inject queue is eventually emptied, even while workers
 *    0..NW-2 run tasks that never end.
 *
 * Found by this model (the rule before, now
 * -DMUTATE_RECHECK_ONLY_LAST_SEARCHER): a worker that could not become a
 * searcher (2 * searching >= NW, read while another worker searched)
 * parked with searching=false and so did not re-check. Shortest trail
 * (NW=2): W1 reads searching=1 (W0 searches) and heads for park; W0 takes
 * task 1, leaves searching as the last searcher, and its notify sees
 * unparked=2 (W1 not parked yet): nobody; W0 runs task 1 for a long time;
 * the producer pushes task 2 and also sees unparked=2: nobody; W1 parks,
 * no re-check, sleeps. Task 2 waits for W0. The C now has any worker
 * whose park leaves no searcher (searching == 0 after its SeqCst
 * fetch_sub) re-check the queues, not only the last searcher. A producer
 * that saw the worker unparked read the state before that fetch_sub, so
 * its push is visible to the re-check; a producer that reads after it
 * sees unparked < NW and searching == 0, and notifies. The mt test
 * a_worker_refused_as_searcher_rechecks_the_queues_before_it_sleeps
 * replays that trail on the real code through the perturb hooks.
 *
 * State space: see the table in tests/model/README.md. Not in any
 * suite: NW=3 with NT=2 (the producer's two tasks), no error in safety
 * (24,330,356 states) and liveness (38,488,990), 5 minutes and 4 GB with
 * MODEL_MEMLIM=4000 MODEL_W=24 (measured before the long task became
 * "ends or blocks"; that change took NW=2 from 216,238 to 213,614).
 */

#ifndef NW
#define NW 2
#endif
#ifndef NT
#define NT 2        /* tasks the producer injects */
#endif
#define MAXW 3
#define LONG(i) ((i) < NW - 1)   /* may run a task that never ends */

#define EMPTY 0
#define SLEEP 1
#define TOK   2
#define NONE  255

byte searching;          /* idle->state >> 16 */
byte unparked = NW;      /* idle->state & 0xffff; all start unparked */
byte stk[MAXW];          /* idle->sleepers */
byte nsl;                /* idle->nsleepers */
bool idle_lock;
byte ps[MAXW];           /* the parks' state words */
byte inject;             /* rt->inject.len */
byte pushed;

/* Ghosts for the safety check. */
bool notifying;          /* producer between its push and its notify's end */
bool woken[MAXW];        /* popped by a notifier, not yet searching */
bool looks[MAXW];        /* will read the inject queue before sleeping */

#define LOOKS_BUT(i) ((looks[0] && (i) != 0) || (looks[1] && (i) != 1) || \
		      (looks[2] && (i) != 2))
#define ANY_WOKEN (woken[0] || woken[1] || woken[2])
#define ALL_ASLEEP (ps[0] == SLEEP && ps[1] == SLEEP && (NW < 3 || ps[2] == SLEEP))
#define NOT_STRANDED(i) (inject == 0 || notifying || ANY_WOKEN || LOOKS_BUT(i))

/* Inside an atomic step: is worker i on the sleepers stack? */
inline on_stack(i, res) {
	res = false;
	k = 0;
	do
	:: k < nsl && stk[k] == i -> res = true; break
	:: k < nsl && stk[k] != i -> k++
	:: k >= nsl -> break
	od;
	k = 0
}

/* Inside an atomic step: remove worker i from the stack (swap with top). */
inline unlist(i) {
	k = 0;
	do
	:: k < nsl && stk[k] == i -> nsl--; stk[k] = stk[nsl]; stk[nsl] = 0; break
	:: k < nsl && stk[k] != i -> k++
	:: k >= nsl -> break
	od;
	k = 0
}

/* weft__notify_parked: weft__idle_worker_to_notify + weft__worker_unpark.
 * prod: the caller is the producer (clears its `notifying` ghost in the
 * step that ends its notify). */
inline notify_parked(prod) {
	/* weft__idle_should_notify, without the lock: SeqCst load. */
	atomic {
		if
		:: searching == 0 && unparked < NW -> go = true
		:: else -> go = false; if :: prod -> notifying = false :: else fi
		fi
	}
	if
	:: go ->
		/* lock, should_notify again, nsleepers > 0 */
		atomic {
			!idle_lock -> idle_lock = true;
			if
			:: searching == 0 && unparked < NW && nsl > 0 ->
				nsl--; who = stk[nsl]; stk[nsl] = 0
			:: else ->
				idle_lock = false;
				if :: prod -> notifying = false :: else fi
			fi
		}
		if
		:: who != NONE ->
			/* the SeqCst fetch_add, then unlock */
			atomic {
				searching++; unparked++; woken[who] = true;
				idle_lock = false
			}
			/* weft__worker_unpark: SeqCst exchange to NOTIFIED */
			atomic { ps[who] = TOK; who = NONE; go = false;
				 if :: prod -> notifying = false :: else fi }
		:: else -> go = false
		fi
	:: else
	fi
}

/* weft__worker_park_timeout(w, -1). Sets loc when the driver brought
 * local work. */
inline park_timeout(i) {
	if
	:: atomic { ps[i] == TOK -> ps[i] = EMPTY }     /* a token: return */
	:: atomic {
		ps[i] == EMPTY -> ps[i] = SLEEP;        /* commit to sleep */
		assert(NOT_STRANDED(i));
		/* all parked implies empty queues or a pending token */
		assert(!ALL_ASLEEP || inject == 0 || notifying)
	   }
		if
		:: ps[i] == TOK            /* unparked */
		:: true                    /* driver, timer, I/O, hand-off */
		fi;
		ps[i] = EMPTY              /* consume whatever is there */
	fi;
	if
	:: true
	:: loc = true                      /* the driver filled our queue */
	fi
}

proctype worker(byte i)
{
	bool srch;        /* w->searching */
	bool loc;         /* local work (w->lifo or w->queue) */
	bool last, go, res, pend;
	byte s, k;
	byte who = NONE;

	if
	:: LONG(i) -> goto task     /* starts inside a task */
	:: else
	fi;
top:
	/* weft__next_task */
	if
	:: loc -> loc = false; goto take
	:: else
	fi;
	if
	:: atomic { inject > 0 -> inject-- }; goto take
	:: else
	fi;
	/* weft__steal_work */
	if
	:: !srch ->
		s = searching;                  /* relaxed load */
		if
		:: 2 * s < NW -> atomic { searching++; srch = true; s = 0 }  /* SeqCst fetch_add */
		:: else -> s = 0
		fi
	:: else
	fi;
	if
	:: srch ->
		if
		:: atomic { inject > 0 -> inject-- }; goto take
		:: else
		fi
	:: else
	fi;

	/* weft__worker_park: weft__idle_transition_to_parked(searching = srch) */
	atomic {
		!idle_lock ->
		unparked--;
		if :: srch -> searching-- :: else fi;
#ifdef MUTATE_RECHECK_ONLY_LAST_SEARCHER
		/* the old rule: only the last searcher re-checks */
		last = srch && searching == 0;
#else
		/* weft__idle_transition_to_parked's answer: re-check
		 * whenever no worker is left searching */
		last = (searching == 0);
#endif
		stk[nsl] = i; nsl++;
		looks[i] = last
	}
	srch = false;
	if
	:: last ->
#ifdef MUTATE_NO_LAST_SEARCHER_RECHECK
		looks[i] = false
#else
		/* weft__work_pending: SeqCst load of inject_len */
		atomic {
			if
			:: inject > 0 -> pend = true
			:: else -> pend = false; looks[i] = false
			fi
		}
		if
		:: pend -> notify_parked(false); atomic { looks[i] = false; pend = false }
		:: else
		fi
#endif
	:: else
	fi;
	last = false;

park_loop:
	park_timeout(i);
#ifdef MUTATE_SPURIOUS_REPARK
	/* old: weft__idle_transition_from_parked */
	atomic {
		!idle_lock ->
		on_stack(i, res);
		if
		:: res -> unlist(i); unparked++
		:: else
		fi;
		if
		:: !res -> srch = true; woken[i] = false; looks[i] = true
		:: res && loc -> looks[i] = true
		:: else
		fi
	}
	if
	:: res && !loc ->
		/* weft__idle_transition_to_parked(searching = false), no
		 * re-check */
		atomic { !idle_lock -> unparked--; stk[nsl] = i; nsl++; res = false };
		goto park_loop
	:: else -> res = false; goto top
	fi
#else
	/* new: a worker woken without a notification stays counted parked */
	atomic {
		!idle_lock ->
		on_stack(i, res);
		if
		:: loc && res -> unlist(i); unparked++; looks[i] = true
		:: !res -> srch = true; woken[i] = false; looks[i] = true
		:: else    /* still listed, nothing to do: park again */
		fi
	}
	if
	:: res && !loc -> res = false; goto park_loop
	:: else -> res = false; goto top
	fi
#endif

take:
	/* weft__run_task */
	if
	:: srch ->
		srch = false;
		atomic { last = (searching == 1); searching-- };
		if
		:: last -> last = false; notify_parked(false)
		:: else
		fi
	:: else
	fi;
task:
	if
	:: LONG(i) ->
		/* a task that may never end: it ends (after any delay:
		 * the interleavings hold the next step back as long as they
		 * like), or it blocks for ever */
		looks[i] = false;
		if
		:: true
		:: true ->
end_long:		false
		fi;
		looks[i] = true
	:: else
	fi;
	goto top
}

active proctype producer()
{
	bool go;
	byte who = NONE;
	do
	:: pushed < NT ->
		/* weft__inject_push_batch, then the SeqCst fence */
		atomic { inject++; pushed++; notifying = true };
		notify_parked(true)
	:: else -> break
	od
}

init {
	byte j;
	atomic {
		j = 0;
		do
		:: j < NW -> looks[j] = !LONG(j); run worker(j); j++
		:: else -> break
		od
	}
}

/* Every task in the inject queue is eventually taken, under weak
 * fairness, though workers 0..NW-2 may stay in one task for ever. */
ltl live { [] ((inject > 0) -> <> (inject == 0)) }
