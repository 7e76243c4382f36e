/*
 * sync_oneshot.c - the oneshot channel: one message, by value, from one
 * sender to one receiver, in one allocation, without a lock.
 *
 * Protocol. One atomic word `state` holds:
 *  SENT      the message is in value[] (written before SENT, release);
 *  TX_DONE   the sender sent or gave up: nothing more will come;
 *  TX_FREE   the sender will not touch the channel again;
 *  RX_GONE   the receiver handle is dropped;
 *  WAKER     rx_waker holds the receiver's waker and the sender side owns
 *            the slot.
 * The receiver writes rx_waker only while WAKER is clear, then sets WAKER
 * with a CAS that fails if TX_DONE is set (then it drops its own waker).
 * To replace or reclaim the waker it clears WAKER with a CAS that fails
 * if TX_DONE is set. The sender sets SENT|TX_DONE in one RMW; if WAKER
 * was set, the waker in the slot is the sender's to consume: it wakes a
 * copy (the slot is only read, so the receiver may still compare it) and
 * the slot is dead from then on. Then it sets TX_FREE. So no wake is
 * lost: a receive either registered before TX_DONE (the sender wakes it)
 * or its CAS saw TX_DONE (it looks at the message itself). With WAKER
 * clear the slot is empty, so freeing never drops a waker. The channel is
 * freed by the side that sets the second of TX_FREE and RX_GONE. A
 * blocking receive whose waker is registered waits for that waker's one
 * wake, the token of a park on its stack (sys_park.h), not just for
 * TX_DONE: the sender writes the park's word after TX_DONE, so the stack
 * must outlive the unpark, and the token says it is done (the futex wake
 * that may follow only hashes the address: park.c, "Lifetime").
 * `taken` is the receiver's own: one receive at a time. The word is
 * modelled in tests/model/oneshot.pml (send, close, a task's receive with
 * a change of waker, a blocking receive, both drops).
 */
#include "sync_waitlist.h"
#include "sys_park.h"

#include <errno.h>
#include <string.h>

enum {
	WEFT__OS_SENT = 1u << 0,
	WEFT__OS_TX_DONE = 1u << 1,
	WEFT__OS_TX_FREE = 1u << 2,
	WEFT__OS_RX_GONE = 1u << 3,
	WEFT__OS_WAKER = 1u << 4,
};

struct weft__oneshot {
	_Atomic unsigned state;
	bool taken;            /* receiver only */
	size_t elem;
	weft_waker rx_waker;   /* owned as WAKER says */
	alignas(max_align_t) unsigned char value[];
};

struct __attribute__((__may_alias__)) weft__oneshot_recv {
	struct weft__oneshot *c;
	void *out;
	int phase;
};
WEFT__SYNC_FUTURE_CHECK(weft_oneshot_recv_future, weft__oneshot_recv);

static struct weft__oneshot *weft__tx(weft_oneshot_sender *tx)
{
	return (struct weft__oneshot *)(void *)tx;
}

static struct weft__oneshot *weft__rx(weft_oneshot_receiver *rx)
{
	return (struct weft__oneshot *)(void *)rx;
}

int weft_oneshot_new(size_t elem_size, weft_oneshot_sender **tx, weft_oneshot_receiver **rx)
{
	if (!tx || !rx || elem_size == 0 || elem_size > WEFT_CHANNEL_MAX_ELEM)
		return -EINVAL;
	struct weft__oneshot *c = weft__alloc(sizeof *c + elem_size);
	if (!c)
		return -ENOMEM;
	atomic_init(&c->state, 0);
	c->taken = false;
	c->elem = elem_size;
	c->rx_waker = (weft_waker){ 0 };
	*tx = (weft_oneshot_sender *)(void *)c;
	*rx = (weft_oneshot_receiver *)(void *)c;
	return 0;
}

/* The sender's last steps: publish @bits, wake a registered receiver,
 * let go of the channel. */
static void weft__oneshot_finish_tx(struct weft__oneshot *c, unsigned bits)
{
	/* AcqRel: release publishes value[] (when SENT); acquire sees the
	 * receiver's waker write that its WAKER release covered. */
	unsigned prev = atomic_fetch_or_explicit(&c->state, bits | WEFT__OS_TX_DONE,
						 memory_order_acq_rel);
	if (prev & WEFT__OS_WAKER) {
		weft_waker w = c->rx_waker;   /* ours now: TX_DONE blocks the receiver */
		weft_waker_wake(&w);
	}
	/* AcqRel: release our last touches before the receiver may free;
	 * acquire the receiver's, if we free. */
	prev = atomic_fetch_or_explicit(&c->state, WEFT__OS_TX_FREE, memory_order_acq_rel);
	if (prev & WEFT__OS_RX_GONE)
		weft__free(c);
}

int weft_oneshot_send(weft_oneshot_sender *tx, const void *msg)
{
	if (!tx || !msg)
		return -EINVAL;
	struct weft__oneshot *c = weft__tx(tx);
	/* Acquire: a receiver gone for good; its value[] is not read again. */
	if (atomic_load_explicit(&c->state, memory_order_acquire) & WEFT__OS_RX_GONE) {
		weft__oneshot_finish_tx(c, 0);
		return -EPIPE;
	}
	memcpy(c->value, msg, c->elem);
	/* A receiver dropped between the check and the send simply never
	 * reads the value; the send still counts as delivered to a channel
	 * that was open when it began. */
	weft__oneshot_finish_tx(c, WEFT__OS_SENT);
	return 0;
}

bool weft_oneshot_is_closed(weft_oneshot_sender *tx)
{
	if (!tx)
		return true;
	/* Relaxed: a hint; send gives the definite answer. */
	return atomic_load_explicit(&weft__tx(tx)->state, memory_order_relaxed) & WEFT__OS_RX_GONE;
}

void weft_oneshot_sender_close(weft_oneshot_sender *tx)
{
	if (tx)
		weft__oneshot_finish_tx(weft__tx(tx), 0);
}

/* Takes the receiver's waker back (dropping it) unless the sender has
 * finished and so owns it. Returns false in that case. */
static bool weft__oneshot_reclaim_waker(struct weft__oneshot *c)
{
	unsigned cur = atomic_load_explicit(&c->state, memory_order_relaxed);
	for (;;) {
		if (!(cur & WEFT__OS_WAKER))
			return true;
		if (cur & WEFT__OS_TX_DONE)
			return false;
		/* Relaxed: the slot was ours before we set WAKER; clearing it
		 * before TX_DONE means the sender never read it. */
		if (atomic_compare_exchange_weak_explicit(&c->state, &cur, cur & ~WEFT__OS_WAKER,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			weft_waker_drop(&c->rx_waker);
			return true;
		}
	}
}

void weft_oneshot_receiver_close(weft_oneshot_receiver *rx)
{
	if (!rx)
		return;
	struct weft__oneshot *c = weft__rx(rx);
	weft__oneshot_reclaim_waker(c);
	/* AcqRel: as in finish_tx, for whoever frees. */
	unsigned prev = atomic_fetch_or_explicit(&c->state, WEFT__OS_RX_GONE, memory_order_acq_rel);
	if (prev & WEFT__OS_TX_FREE)
		weft__free(c);
}

/* Takes the message or says why not: 0, -EPIPE, or 1 (wait). Receiver. */
static int weft__oneshot_take(struct weft__oneshot *c, unsigned state, void *out)
{
	if (state & WEFT__OS_SENT) {
		if (c->taken)
			return -EPIPE;
		memcpy(out, c->value, c->elem);
		c->taken = true;
		return 0;
	}
	return (state & WEFT__OS_TX_DONE) ? -EPIPE : 1;
}

int weft_oneshot_try_recv(weft_oneshot_receiver *rx, void *out)
{
	if (!rx || !out)
		return -EINVAL;
	struct weft__oneshot *c = weft__rx(rx);
	/* Acquire: pairs with the sender's release of value[]. */
	int rc = weft__oneshot_take(c, atomic_load_explicit(&c->state, memory_order_acquire), out);
	return rc == 1 ? -EAGAIN : rc;
}

/*
 * Registers @w as the receiver's waker. Returns true if registered (wait),
 * false if the sender finished first (look at the state again). The
 * slot must be the receiver's (WAKER clear).
 */
static bool weft__oneshot_register(struct weft__oneshot *c, const weft_waker *w)
{
	weft_waker_store(&c->rx_waker, w);
	WEFT__PERTURB(WEFT__PERTURB_ONESHOT_REGISTER);
	unsigned cur = atomic_load_explicit(&c->state, memory_order_relaxed);
	for (;;) {
		if (cur & WEFT__OS_TX_DONE) {
			weft_waker_drop(&c->rx_waker);
			return false;
		}
		/* Release: the slot write happens-before the sender's take. */
		if (atomic_compare_exchange_weak_explicit(&c->state, &cur, cur | WEFT__OS_WAKER,
							  memory_order_release,
							  memory_order_relaxed))
			return true;
	}
}

/* A waker for a blocking receive: a park on the caller's stack. */
static void weft__os_park_wake(const void *data)
{
	weft__unpark((struct weft__park *)data);
}

static void weft__os_park_drop(const void *data)
{
	(void)data;
}

static weft_waker weft__os_park_clone(const void *data);

static const weft_waker_vtable weft__os_park_vtable = {
	.clone = weft__os_park_clone,
	.wake = weft__os_park_wake,
	.wake_by_ref = weft__os_park_wake,
	.drop = weft__os_park_drop,
};

static weft_waker weft__os_park_clone(const void *data)
{
	return (weft_waker){ .vtable = &weft__os_park_vtable, .data = data };
}

int weft_oneshot_recv_blocking(weft_oneshot_receiver *rx, void *out)
{
	if (!rx || !out)
		return -EINVAL;
	if (weft__in_runtime_context())
		return -EDEADLK;
	struct weft__oneshot *c = weft__rx(rx);
	struct weft__park park;
	weft__park_init(&park, NULL, NULL);
	weft_waker w = { .vtable = &weft__os_park_vtable, .data = &park };
	/* Acquire: pairs with the sender's release of value[]. */
	unsigned s = atomic_load_explicit(&c->state, memory_order_acquire);
	if (!(s & WEFT__OS_TX_DONE) && weft__oneshot_register(c, &w)) {
		/* Registered: the sender wakes the waker exactly once, after
		 * TX_DONE, and nothing else unparks this park; its token
		 * says the sender is done with our stack (see the top). The
		 * park's acquire sees TX_DONE and value[]. */
		while (!weft__park(&park, -1))
			;
	}
	/* Acquire: pairs with the sender's release of value[] (when the
	 * waker was not registered). */
	s = atomic_load_explicit(&c->state, memory_order_acquire);
	return weft__oneshot_take(c, s, out);
}

static weft_poll weft__oneshot_recv_erased_poll(weft_future *f, weft_cx *cx)
{
	return weft_oneshot_recv_poll((weft_oneshot_recv_future *)f, cx);
}

static void weft__oneshot_recv_erased_drop(weft_future *f)
{
	weft_oneshot_recv_drop((weft_oneshot_recv_future *)f);
}

void weft_oneshot_recv_init(weft_oneshot_recv_future *f, weft_oneshot_receiver *rx, void *out)
{
	f->fut = WEFT_FUTURE(weft__oneshot_recv_erased_poll, weft__oneshot_recv_erased_drop);
	f->result = 0;
	struct weft__oneshot_recv *p = (struct weft__oneshot_recv *)(void *)f->priv.opaque;
	p->c = (rx && out) ? weft__rx(rx) : NULL;
	p->out = out;
	p->phase = WEFT__PHASE_INIT;
}

weft_poll weft_oneshot_recv_poll(weft_oneshot_recv_future *f, weft_cx *cx)
{
	struct weft__oneshot_recv *p = (struct weft__oneshot_recv *)(void *)f->priv.opaque;
	struct weft__oneshot *c = p->c;

	if (p->phase == WEFT__PHASE_FINISHED)
		return WEFT_READY;
	if (!c || p->phase == WEFT__PHASE_DROPPED) {
		f->result = -EINVAL;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	/* Acquire: pairs with the sender's release of value[]. */
	unsigned s = atomic_load_explicit(&c->state, memory_order_acquire);
	if (!(s & WEFT__OS_TX_DONE)) {
		bool ours = true;
		if (s & WEFT__OS_WAKER) {
			if (weft_waker_will_wake(&c->rx_waker, cx->waker))
				goto pending;
			ours = weft__oneshot_reclaim_waker(c);
		}
		if (ours && weft__oneshot_register(c, cx->waker))
			goto pending;
		/* The sender finished meanwhile. */
		s = atomic_load_explicit(&c->state, memory_order_acquire);
	}
	p->phase = WEFT__PHASE_FINISHED;
	f->result = weft__oneshot_take(c, s, p->out);
	return WEFT_READY;

pending:
	p->phase = WEFT__PHASE_WAITING;
	weft_coop_refund(cx);
	return WEFT_PENDING;
}

void weft_oneshot_recv_drop(weft_oneshot_recv_future *f)
{
	struct weft__oneshot_recv *p = (struct weft__oneshot_recv *)(void *)f->priv.opaque;
	if (weft__phase_drop(&p->phase, p->c != NULL))
		weft__oneshot_reclaim_waker(p->c);   /* an untaken message stays */
}
