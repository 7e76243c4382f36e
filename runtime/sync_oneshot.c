/*
 * sync_oneshot.c - the oneshot channel: one message, by value, from one
 * sender to one receiver, in one allocation shared by the two handles.
 *
 * Protocol (on top of sync_waitlist.h): the message slot, the "sender
 * gone" and "receiver gone" flags and the receive waiters are guarded by
 * the channel's lock. The sender stores the message (or gives up) and
 * marks itself gone in one locked step that also finishes every queued
 * receive; a receive checks the slot and the flag and queues itself
 * under the same lock, so it either sees the outcome or is woken by it.
 * A finished (DONE) receive node only means "look again": the message
 * stays in the slot until a poll takes it, so dropping a woken receive
 * loses nothing. The channel is freed by whichever handle goes last,
 * after it has dropped the lock.
 */
#include "internal.h"
#include "sync_waitlist.h"

#include <errno.h>
#include <string.h>

struct weft__oneshot {
	struct weft__sync_lock lock;
	size_t elem;
	bool has_value;      /* a message waits in value[] */
	bool tx_gone;        /* sent or dropped */
	bool rx_gone;
	struct weft__waitlist waiters;
	alignas(max_align_t) unsigned char value[];
};

struct __attribute__((__may_alias__)) weft__oneshot_recv {
	struct weft__oneshot *c;
	void *out;
	int phase;
	struct weft__waiter w;
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
	struct weft__oneshot *c = weft__calloc(1, sizeof *c + elem_size);
	if (!c)
		return -ENOMEM;
	weft__sync_lock_init(&c->lock);
	c->elem = elem_size;
	*tx = (weft_oneshot_sender *)(void *)c;
	*rx = (weft_oneshot_receiver *)(void *)c;
	return 0;
}

/* Finishes every queued receive, unlocks, frees the channel if both
 * handles are gone, and wakes. Lock held on entry. */
static void weft__oneshot_wake_unlock(struct weft__oneshot *c)
{
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	while (c->waiters.head) {
		if (weft__wake_batch_full(&b)) {
			weft__sync_unlock(&c->lock);
			weft__wake_batch_run(&b);
			weft__sync_lock(&c->lock);
			continue;
		}
		weft__waiter_finish(&c->waiters, c->waiters.head, 0, &b);
	}
	bool free_it = c->tx_gone && c->rx_gone;
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	if (free_it) {
		weft__sync_lock_destroy(&c->lock);
		weft__free(c);
	}
}

int weft_oneshot_send(weft_oneshot_sender *tx, const void *msg)
{
	if (!tx || !msg)
		return -EINVAL;
	struct weft__oneshot *c = weft__tx(tx);
	int rc = 0;
	weft__sync_lock(&c->lock);
	if (c->rx_gone) {
		rc = -EPIPE;
	} else {
		memcpy(c->value, msg, c->elem);
		c->has_value = true;
	}
	c->tx_gone = true;
	weft__oneshot_wake_unlock(c);
	return rc;
}

bool weft_oneshot_is_closed(weft_oneshot_sender *tx)
{
	if (!tx)
		return true;
	struct weft__oneshot *c = weft__tx(tx);
	weft__sync_lock(&c->lock);
	bool closed = c->rx_gone;
	weft__sync_unlock(&c->lock);
	return closed;
}

void weft_oneshot_sender_drop(weft_oneshot_sender *tx)
{
	if (!tx)
		return;
	struct weft__oneshot *c = weft__tx(tx);
	weft__sync_lock(&c->lock);
	c->tx_gone = true;
	weft__oneshot_wake_unlock(c);
}

void weft_oneshot_receiver_drop(weft_oneshot_receiver *rx)
{
	if (!rx)
		return;
	struct weft__oneshot *c = weft__rx(rx);
	weft__sync_lock(&c->lock);
	c->rx_gone = true;
	c->has_value = false;
	weft__oneshot_wake_unlock(c);
}

/* Takes the message or reports why not: 0, -EPIPE, or 1 (wait). Lock held. */
static int weft__oneshot_take_locked(struct weft__oneshot *c, void *out)
{
	if (c->has_value) {
		memcpy(out, c->value, c->elem);
		c->has_value = false;
		return 0;
	}
	return c->tx_gone ? -EPIPE : 1;
}

int weft_oneshot_try_recv(weft_oneshot_receiver *rx, void *out)
{
	if (!rx || !out)
		return -EINVAL;
	struct weft__oneshot *c = weft__rx(rx);
	weft__sync_lock(&c->lock);
	int rc = weft__oneshot_take_locked(c, out);
	weft__sync_unlock(&c->lock);
	return rc == 1 ? -EAGAIN : rc;
}

int weft_oneshot_recv_blocking(weft_oneshot_receiver *rx, void *out)
{
	if (!rx || !out)
		return -EINVAL;
	if (weft__sync_on_runtime_thread())
		return -EDEADLK;
	struct weft__oneshot *c = weft__rx(rx);
	int rc;
	weft__sync_lock(&c->lock);
	while ((rc = weft__oneshot_take_locked(c, out)) == 1) {
		struct weft__waiter w = { 0 };
		weft__waiter_block(&c->lock, &c->waiters, &w);
	}
	weft__sync_unlock(&c->lock);
	return rc;
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
	memset(f, 0, sizeof *f);
	f->fut = WEFT_FUTURE(weft__oneshot_recv_erased_poll, weft__oneshot_recv_erased_drop);
	if (!rx || !out)
		return;
	struct weft__oneshot_recv *p = (struct weft__oneshot_recv *)(void *)f->weft__opaque;
	p->c = weft__rx(rx);
	p->out = out;
}

weft_poll weft_oneshot_recv_poll(weft_oneshot_recv_future *f, weft_cx *cx)
{
	struct weft__oneshot_recv *p = (struct weft__oneshot_recv *)(void *)f->weft__opaque;
	struct weft__oneshot *c = p->c;

	if (p->phase == WEFT__PHASE_FINISHED)
		return WEFT_READY;
	if (!c || p->phase == WEFT__PHASE_DROPPED) {
		f->result = -EINVAL;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	weft__sync_lock(&c->lock);
	if (p->phase == WEFT__PHASE_WAITING && p->w.state == WEFT__WAITER_QUEUED) {
		weft__waiter_set_waker(&p->w, cx);
		goto pending;
	}
	int rc = weft__oneshot_take_locked(c, p->out);
	if (rc == 1) {
		p->w.state = WEFT__WAITER_IDLE;
		weft__waiter_set_waker(&p->w, cx);
		weft__waitlist_push(&c->waiters, &p->w);
		p->phase = WEFT__PHASE_WAITING;
		goto pending;
	}
	weft__sync_unlock(&c->lock);
	weft_waker_drop(&p->w.waker);
	p->phase = WEFT__PHASE_FINISHED;
	f->result = rc;
	return WEFT_READY;

pending:
	weft__sync_unlock(&c->lock);
	weft_coop_refund(cx);
	return WEFT_PENDING;
}

void weft_oneshot_recv_drop(weft_oneshot_recv_future *f)
{
	struct weft__oneshot_recv *p = (struct weft__oneshot_recv *)(void *)f->weft__opaque;
	struct weft__oneshot *c = p->c;
	if (!c || p->phase != WEFT__PHASE_WAITING) {
		if (p->phase == WEFT__PHASE_INIT)
			p->phase = WEFT__PHASE_DROPPED;
		return;
	}
	p->phase = WEFT__PHASE_DROPPED;
	weft__sync_lock(&c->lock);
	weft_waker waker = p->w.waker;
	p->w.waker = (weft_waker){ 0 };
	if (p->w.state == WEFT__WAITER_QUEUED)
		weft__waitlist_remove(&c->waiters, &p->w);
	weft__sync_unlock(&c->lock);
	weft_waker_drop(&waker);
}
