/*
 * oneshot.pml - the oneshot channel's state word
 * (runtime/sync/sync_oneshot.c): one sender, one receiver, the channel
 * freed by whichever side lets go second.
 *
 * What stands for what:
 *  - SENT, TX_DONE, TX_FREE, RX_GONE, WAKER: the bits of c->state; each
 *    RMW of the C (fetch_or, the CAS loops) is one atomic step.
 *  - slot: c->rx_waker: 0, or the id of the waker written there: 1 and
 *    2 are two task wakers (the receive future polled by one task, then
 *    by another), 3 the waker of a blocking receive (a park on the
 *    receiver's stack). live[id] counts the clones of waker id alive
 *    (clone +1, drop or wake by value -1). A write of the slot
 *    (weft_waker_store, weft_waker_drop) is two steps with `slot_busy`
 *    set between them; a read (weft_waker_will_wake, the sender's copy)
 *    asserts no write is under way, a write asserts none is.
 *  - value: the message in c->value (written before SENT), taken: the
 *    receiver copied it out (c->taken).
 *  - freed: weft__free(c); every access to the channel asserts !freed.
 *  - tok, stack_gone: the park of a blocking receive (its token) and the
 *    end of weft_oneshot_recv_blocking's frame.
 *
 * Processes:
 *  - sender: weft_oneshot_send (the acquire load of RX_GONE, the value
 *    write, weft__oneshot_finish_tx: fetch_or SENT|TX_DONE, the copy of
 *    the slot and its wake by value when WAKER was set, fetch_or TX_FREE,
 *    free if RX_GONE), or weft_oneshot_sender_close (finish_tx(0)).
 *  - receiver, one of:
 *    - a task: weft_oneshot_recv_poll up to twice (the second time
 *      maybe from another task, another waker: will_wake fails and
 *      weft__oneshot_reclaim_waker takes the old one back), with
 *      weft__oneshot_register (weft_waker_store, then the CAS that sets
 *      WAKER unless TX_DONE); after PENDING it either waits for its
 *      waker's wake and polls again, or gives up:
 *      weft_oneshot_recv_drop (weft__oneshot_reclaim_waker);
 *    - a plain thread: weft_oneshot_recv_blocking (register the park's
 *      waker, weft__park until the token, the load, the take), then
 *      its frame ends;
 *    then weft_oneshot_receiver_close (reclaim, fetch_or RX_GONE, free
 *    if TX_FREE). Or it closes without receiving at all.
 *
 * Checks:
 *  - no use after free: of the channel (every step asserts !freed) and of
 *    the blocking receiver's park (the sender's unpark asserts the frame
 *    is still there);
 *  - the value is delivered or dropped exactly once: taken at most once,
 *    and a value sent is, at the end, either taken or freed with the
 *    channel, never both (a send that found RX_GONE wrote no value);
 *  - the waker: no clone dropped twice (live[id] never below 0), none
 *    left alive at the end, no overlapping access to the slot;
 *  - no lost wake: a receiver that waits after PENDING is woken (else the
 *    run ends with it blocked: an invalid end state);
 *  - the channel is freed exactly once, at the end.
 *
 * Memory order: Spin explores sequentially consistent runs. The word's
 * RMWs are on one location (totally ordered whatever the order
 * argument); the value and the slot are published by release/acquire on
 * the word as sync_oneshot.c states beside each access (the value by
 * finish_tx's AcqRel fetch_or and the receiver's acquire loads, the slot
 * by register's release CAS and finish_tx's acquire). Reclaim's CAS is
 * relaxed: clearing WAKER before TX_DONE means the sender never reads
 * the slot, and single-location coherence decides which came first.
 *
 * Mutations (the suite expects spin to reject each):
 *  - MUTATE_REGISTER_BLIND: register sets WAKER with a fetch_or that does
 *    not look at TX_DONE: a waker registered after the sender finished
 *    is never woken (and never dropped).
 *  - MUTATE_RECLAIM_AFTER_TX_DONE: reclaim takes the waker back even when
 *    TX_DONE is set: the sender has consumed it, so it is dropped twice.
 *  - MUTATE_BLOCKING_WAITS_TX_DONE: a blocking receive returns once it
 *    sees TX_DONE instead of waiting for its park's token: the sender's
 *    unpark writes a park whose frame is gone.
 *
 * State space: see the table in tests/model/README.md.
 */

#define SENT    1
#define TX_DONE 2
#define TX_FREE 4
#define RX_GONE 8
#define WAKER   16

#define HAS(b)  ((st & (b)) != 0)

byte st;                 /* c->state */
bool freed;
byte frees;
bool value;              /* c->value holds the message */
bool taken;              /* c->taken */
byte deliveries;         /* takes of the message */
bool dropped_with_chan;  /* freed with the message untaken */
byte slot;               /* c->rx_waker */
bool slot_busy;
byte live[4];            /* live clones of waker 1, 2 (task), 3 (park) */
bool woken[4];
bool tok;                /* the blocking receiver's park token */
bool stack_gone;         /* weft_oneshot_recv_blocking has returned */

#define CH_OK assert(!freed)

/* weft__free(c) */
inline chan_free() {
	atomic {
		CH_OK;
		freed = true; frees++;
		dropped_with_chan = value && !taken
	}
}

/* weft_waker_drop(&c->rx_waker): read and clear, then the drop */
inline slot_drop() {
	atomic { CH_OK; assert(!slot_busy); slot_busy = true; v = slot; slot = 0 }
	atomic {
		if
		:: v != 0 -> assert(live[v] > 0); live[v]--
		:: else
		fi;
		slot_busy = false; v = 0
	}
}

/* weft_waker_store(&c->rx_waker, w) with w = waker `id` */
inline slot_store() {
	atomic { CH_OK; assert(!slot_busy); same = (slot == id) }
	if
	:: same -> same = false
	:: else ->
		slot_drop();
		atomic { CH_OK; assert(!slot_busy); slot = id; live[id]++ }
	fi
}

/* weft__oneshot_reclaim_waker: sets ours */
inline reclaim() {
	atomic {
		CH_OK;
		if
		:: !HAS(WAKER) -> ours = true; dr = false
#ifndef MUTATE_RECLAIM_AFTER_TX_DONE
		:: HAS(WAKER) && HAS(TX_DONE) -> ours = false; dr = false
		:: HAS(WAKER) && !HAS(TX_DONE) -> st = st & ~WAKER; ours = true; dr = true
#else
		:: HAS(WAKER) -> st = st & ~WAKER; ours = true; dr = true
#endif
		fi
	}
	if
	:: dr -> dr = false; slot_drop()
	:: else
	fi
}

/* weft__oneshot_register(c, waker id): sets reg */
inline register() {
	slot_store();
	atomic {
		CH_OK;
#ifndef MUTATE_REGISTER_BLIND
		if
		:: HAS(TX_DONE) -> reg = false
		:: else -> st = st | WAKER; reg = true
		fi
#else
		st = st | WAKER; reg = true
#endif
	}
	if
	:: !reg -> slot_drop()
	:: else
	fi
}

/* weft__oneshot_take(c, s, out): the receiver's own `taken` */
inline take() {
	atomic {
		CH_OK;
		if
		:: s & SENT ->
			if
			:: !taken -> assert(value); taken = true; deliveries++
			:: else
			fi
		:: else
		fi
	}
}

/* weft__oneshot_finish_tx(c, bits) */
inline finish_tx(bits) {
	/* the AcqRel fetch_or of bits|TX_DONE */
	atomic { CH_OK; prev = st; st = st | bits | TX_DONE }
	if
	:: prev & WAKER ->
		/* w = c->rx_waker: a read of the slot, now the sender's */
		atomic { CH_OK; assert(!slot_busy); w = slot; assert(w != 0 && live[w] > 0) }
		/* weft_waker_wake(&w): wake by value (consumes the clone) */
		if
		:: w == 3 ->
			/* weft__os_park_wake: weft__unpark, the SeqCst
			 * exchange on the park's word on the receiver's stack */
			atomic { assert(!stack_gone); tok = true; live[3]-- }
			/* the futex wake only hashes the address (park.c) */
		:: else -> atomic { woken[w] = true; live[w]-- }
		fi;
		w = 0
	:: else
	fi;
	/* the AcqRel fetch_or of TX_FREE */
	atomic { CH_OK; prev = st; st = st | TX_FREE }
	if
	:: prev & RX_GONE -> chan_free()
	:: else
	fi;
	prev = 0
}

proctype sender()
{
	byte prev, w;
	if
	:: /* weft_oneshot_send: the acquire load of RX_GONE */
		atomic { CH_OK; prev = st }
		if
		:: prev & RX_GONE -> prev = 0; finish_tx(0)   /* -EPIPE */
		:: else ->
			atomic { CH_OK; value = true };       /* memcpy(c->value) */
			finish_tx(SENT)
		fi
	:: /* weft_oneshot_sender_close */
		finish_tx(0)
	fi
}

/* weft_oneshot_recv_poll with cx->waker = waker `id`; sets rdy */
inline recv_poll() {
	/* the acquire load */
	atomic { CH_OK; s = st }
	if
	:: !(s & TX_DONE) ->
		ours = true;
		if
		:: s & WAKER ->
			/* weft_waker_will_wake(&c->rx_waker, cx->waker) */
			atomic { CH_OK; assert(!slot_busy); same = (slot == id) }
			if
			:: same -> same = false; rdy = false; goto polled
			:: else -> reclaim()
			fi
		:: else
		fi;
		if
		:: ours ->
			register();
			if
			:: reg -> reg = false; rdy = false; goto polled
			:: else
			fi
		:: else
		fi;
		/* the sender finished meanwhile: load again */
		atomic { CH_OK; s = st }
	:: else
	fi;
	take();
	rdy = true;
polled:
	s = 0; ours = false
}

proctype receiver()
{
	byte s, v, id, polls, prev;
	bool same, ours, dr, reg, rdy, wait, done;
	if
	:: /* a task's receive future */
		do
		:: polls < 2 ->
			polls++;
			if
			:: id = 1
			:: polls == 2 -> id = 2
			fi;
			recv_poll();
			if
			:: rdy -> done = true; break
			:: else ->
				if
				:: wait = true
				:: wait = false
				fi;
				if
				:: wait -> woken[id]; woken[id] = false; wait = false
				:: else
				fi
			fi
		:: break
		od;
		/* weft_oneshot_recv_drop: reclaim unless finished */
		if
		:: !done -> reclaim(); ours = false
		:: else
		fi
	:: /* weft_oneshot_recv_blocking on a plain thread */
		id = 3;
		atomic { CH_OK; s = st }
		if
		:: !(s & TX_DONE) ->
			register();
			if
			:: reg ->
				reg = false;
#ifndef MUTATE_BLOCKING_WAITS_TX_DONE
				/* weft__park until the token */
				atomic { tok -> tok = false }
#else
				(HAS(TX_DONE))
#endif
			:: else
			fi
		:: else
		fi;
		atomic { CH_OK; s = st };
		take();
		stack_gone = true      /* the frame and its park end */
	:: /* no receive at all */
		skip
	fi;
	/* weft_oneshot_receiver_close */
	reclaim();
	atomic { CH_OK; prev = st; st = st | RX_GONE }
	if
	:: prev & TX_FREE -> chan_free()
	:: else
	fi
}

/* The end: freed once; the value delivered or dropped exactly once; no
 * waker left alive. */
init
{
	atomic { run sender(); run receiver() }
	(_nr_pr == 1);
	assert(freed && frees == 1);
	assert(deliveries <= 1);
	assert(!value || (deliveries + dropped_with_chan == 1));
	assert(live[1] == 0 && live[2] == 0 && live[3] == 0)
}
