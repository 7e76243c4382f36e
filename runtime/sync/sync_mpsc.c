/*
 * sync_mpsc.c - the multi-producer single-consumer channel, bounded (a
 * ring allocated at creation) or unbounded (a list of 32-message blocks,
 * one emptied block kept for reuse).
 *
 * Protocol (on top of sync_waitlist.h): the buffer, its length, the
 * reserved-slot count, the sender count, the closed/gone flags and both
 * waiter lists are guarded by the channel's lock.
 *  - A bounded send takes a free slot only when no earlier send waits
 *    (FIFO); otherwise it queues. Whenever a slot frees (a receive, or a
 *    reservation given back), the head send is finished with a
 *    reservation: the slot is counted in `reserved` and belongs to that
 *    future, which fills it at its next poll. A send dropped before that
 *    gives the reservation back and the next send gets it, so a cancelled
 *    send never sends and never loses a slot.
 *  - Every push finishes the queued receives; a finished receive node
 *    only means "look again": messages leave the buffer only in a poll
 *    that returns READY, so a receive that is woken and then dropped
 *    loses nothing (its drop passes the wake on if messages remain).
 *  - The last sender's drop finishes the receives (they then see -EPIPE
 *    once the buffer is drained). Closing the receiver sets rx_closed
 *    and finishes the queued sends with -EPIPE and the queued receives
 *    ("look again"): from then on every send fails with -EPIPE, and a
 *    receive takes what is buffered, then sees -EPIPE with senders
 *    still alive (Tokio's Receiver::close). rx_closed never goes back,
 *    so a receive that checked it under the lock cannot miss it.
 *  - The channel is freed by the last handle (senders == 0 and the
 *    receiver gone), after dropping the lock.
 * Each change a waiter waits for is made under the lock that the waiter
 * checked its condition and queued under, so no wakeup is lost.
 */
#include "sync_waitlist.h"

#include <errno.h>
#include <string.h>

#define WEFT__MPSC_BLOCK 32u

struct weft__mpsc_block {
	struct weft__mpsc_block *next;
	alignas(max_align_t) unsigned char slots[];
};

struct weft__mpsc {
	struct weft__sync_lock lock;
	size_t elem;
	size_t cap;               /* 0: unbounded */
	size_t len;               /* messages buffered */
	size_t reserved;          /* slots granted to waiting sends (bounded) */
	size_t senders;
	bool rx_closed;
	bool rx_gone;
	struct weft__waitlist send_waiters;
	struct weft__waitlist recv_waiters;
	/* bounded: ring of cap slots, next read at head */
	size_t head;
	/* unbounded: read at (head_blk, head_idx), write at (tail_blk, tail_idx) */
	struct weft__mpsc_block *head_blk, *tail_blk, *spare;
	unsigned head_idx, tail_idx;
	alignas(max_align_t) unsigned char ring[];
};

struct __attribute__((__may_alias__)) weft__mpsc_op {
	struct weft__mpsc *c;
	void *buf;                /* the message to send, or where to receive */
	int phase;
	struct weft__waiter w;
};
WEFT__SYNC_FUTURE_CHECK(weft_mpsc_send_future, weft__mpsc_op);
WEFT__SYNC_FUTURE_CHECK(weft_mpsc_recv_future, weft__mpsc_op);

static struct weft__mpsc *weft__tx(weft_mpsc_sender *tx)
{
	return (struct weft__mpsc *)(void *)tx;
}

static struct weft__mpsc *weft__rx(weft_mpsc_receiver *rx)
{
	return (struct weft__mpsc *)(void *)rx;
}

static struct weft__mpsc_op *weft__op(uint64_t *opaque)
{
	return (struct weft__mpsc_op *)(void *)opaque;
}

int weft_mpsc_new(size_t capacity, size_t elem_size, weft_mpsc_sender **tx,
		  weft_mpsc_receiver **rx)
{
	if (!tx || !rx || elem_size == 0 || elem_size > WEFT_CHANNEL_MAX_ELEM ||
	    capacity > WEFT_MPSC_MAX_CAPACITY)
		return -EINVAL;
	struct weft__mpsc *c = weft__calloc(1, sizeof *c + capacity * elem_size);
	if (!c)
		return -ENOMEM;
	int rc = weft__sync_lock_init(&c->lock);
	if (rc < 0) {
		weft__free(c);
		return rc;
	}
	c->elem = elem_size;
	c->cap = capacity;
	c->senders = 1;
	*tx = (weft_mpsc_sender *)(void *)c;
	*rx = (weft_mpsc_receiver *)(void *)c;
	return 0;
}

static void weft__mpsc_free(struct weft__mpsc *c)
{
	struct weft__mpsc_block *b = c->head_blk;
	while (b) {
		struct weft__mpsc_block *next = b->next;
		weft__free(b);
		b = next;
	}
	weft__free(c->spare);
	weft__sync_lock_destroy(&c->lock);
	weft__free(c);
}

/* ------------------------------------------------------- buffer (locked) */

/* Appends *@msg. 0, or -ENOMEM (unbounded: no block). Lock held; a
 * bounded caller has checked for room. */
static int weft__mpsc_push(struct weft__mpsc *c, const void *msg)
{
	if (c->cap) {
		size_t at = (c->head + c->len) % c->cap;
		memcpy(c->ring + at * c->elem, msg, c->elem);
		c->len++;
		return 0;
	}
	if (!c->tail_blk || c->tail_idx == WEFT__MPSC_BLOCK) {
		struct weft__mpsc_block *b = c->spare;
		if (b)
			c->spare = NULL;
		else if (!(b = weft__alloc(sizeof *b + WEFT__MPSC_BLOCK * c->elem)))
			return -ENOMEM;
		b->next = NULL;
		if (c->tail_blk) {
			c->tail_blk->next = b;
		} else {
			c->head_blk = b;
			c->head_idx = 0;
		}
		c->tail_blk = b;
		c->tail_idx = 0;
	}
	memcpy(c->tail_blk->slots + c->tail_idx * c->elem, msg, c->elem);
	c->tail_idx++;
	c->len++;
	return 0;
}

/* Keeps @b as the spare block, or frees it if there is one. */
static void weft__mpsc_recycle(struct weft__mpsc *c, struct weft__mpsc_block *b)
{
	if (c->spare)
		weft__free(b);
	else
		c->spare = b;
}

/* Takes the oldest message into *@out (NULL: discard). Lock held, len > 0. */
static void weft__mpsc_pop(struct weft__mpsc *c, void *out)
{
	if (c->cap) {
		if (out)
			memcpy(out, c->ring + c->head * c->elem, c->elem);
		c->head = (c->head + 1) % c->cap;
		c->len--;
		return;
	}
	struct weft__mpsc_block *b = c->head_blk;
	if (out)
		memcpy(out, b->slots + c->head_idx * c->elem, c->elem);
	c->head_idx++;
	c->len--;
	if (c->len == 0 && b == c->tail_blk) {
		/* Empty: rewind the block in place instead of moving on. */
		c->head_idx = c->tail_idx = 0;
	} else if (c->head_idx == WEFT__MPSC_BLOCK) {
		c->head_blk = b->next;
		c->head_idx = 0;
		weft__mpsc_recycle(c, b);
	}
}

/* Finishes the queued receives ("look again"). Lock held. */
static void weft__mpsc_wake_receivers(struct weft__mpsc *c, struct weft__wake_batch *b)
{
	while (c->recv_waiters.head && !weft__wake_batch_full(b))
		weft__waiter_finish(&c->recv_waiters, c->recv_waiters.head, 0, b);
}

/* Grants free slots to queued sends as reservations. Lock held. A slot
 * frees one at a time, so the batch never limits this in practice; a
 * send that does not fit this time is served by the next slot freed. */
static void weft__mpsc_grant_senders(struct weft__mpsc *c, struct weft__wake_batch *b)
{
	while (c->cap && !c->rx_closed && c->send_waiters.head &&
	       c->len + c->reserved < c->cap && !weft__wake_batch_full(b)) {
		c->reserved++;
		weft__waiter_finish(&c->send_waiters, c->send_waiters.head, 0, b);
	}
}

/*
 * One send attempt. @reserved: the caller holds a reservation (which this
 * consumes). Returns 0 (sent), -EPIPE, -ENOMEM, or 1 when the caller must
 * queue. Lock held.
 */
static int weft__mpsc_send_locked(struct weft__mpsc *c, const void *msg, bool reserved,
				  struct weft__wake_batch *b)
{
	int rc;
	if (reserved)
		c->reserved--;
	if (c->rx_closed)
		return -EPIPE;
	if (c->cap && !reserved &&
	    (!weft__waitlist_empty(&c->send_waiters) || c->len + c->reserved >= c->cap))
		return 1;
	rc = weft__mpsc_push(c, msg);
	if (rc == 0)
		weft__mpsc_wake_receivers(c, b);
	else if (reserved)
		weft__mpsc_grant_senders(c, b);
	return rc;
}

/* One receive attempt: 0, -EPIPE, or 1 (wait). Lock held. The buffer is
 * drained first; then the channel is over once the last sender is gone
 * or the receiver closed it (no send can succeed after that). */
static inline __attribute__((always_inline)) int
weft__mpsc_recv_locked(struct weft__mpsc *c, void *out, struct weft__wake_batch *b)
{
	if (c->len) {
		weft__mpsc_pop(c, out);
		weft__mpsc_grant_senders(c, b);
		return 0;
	}
	return c->senders && !c->rx_closed ? 1 : -EPIPE;
}

/* --------------------------------------------------------------- handles */

weft_mpsc_sender *weft_mpsc_sender_clone(weft_mpsc_sender *tx)
{
	if (!tx)
		return NULL;
	struct weft__mpsc *c = weft__tx(tx);
	weft__sync_lock(&c->lock);
	c->senders++;
	weft__sync_unlock(&c->lock);
	return tx;
}

void weft_mpsc_sender_close(weft_mpsc_sender *tx)
{
	if (!tx)
		return;
	struct weft__mpsc *c = weft__tx(tx);
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft__sync_lock(&c->lock);
	bool last = --c->senders == 0;
	if (last) {
		while (c->recv_waiters.head) {
			weft__mpsc_wake_receivers(c, &b);
			if (weft__wake_batch_full(&b)) {
				weft__sync_unlock(&c->lock);
				weft__wake_batch_run(&b);
				weft__sync_lock(&c->lock);
			}
		}
	}
	bool free_it = last && c->rx_gone;
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	if (free_it)
		weft__mpsc_free(c);
}

bool weft_mpsc_is_closed(weft_mpsc_sender *tx)
{
	if (!tx)
		return true;
	struct weft__mpsc *c = weft__tx(tx);
	weft__sync_lock(&c->lock);
	bool closed = c->rx_closed;
	weft__sync_unlock(&c->lock);
	return closed;
}

/* Closes the receiving side: finishes queued sends with -EPIPE and
 * queued receives with "look again" (they then drain the buffer and see
 * -EPIPE). Lock held on entry and on return (dropped between wake
 * batches; rx_closed is set first, so nothing queued meanwhile is
 * missed: a send fails at once and a receive no longer waits). */
static void weft__mpsc_close_locked(struct weft__mpsc *c)
{
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	c->rx_closed = true;
	while (c->send_waiters.head || c->recv_waiters.head) {
		if (weft__wake_batch_full(&b)) {
			weft__sync_unlock(&c->lock);
			weft__wake_batch_run(&b);
			weft__sync_lock(&c->lock);
			continue;
		}
		if (c->send_waiters.head)
			weft__waiter_finish(&c->send_waiters, c->send_waiters.head, -EPIPE, &b);
		else
			weft__waiter_finish(&c->recv_waiters, c->recv_waiters.head, 0, &b);
	}
	if (b.n) {
		weft__sync_unlock(&c->lock);
		weft__wake_batch_run(&b);
		weft__sync_lock(&c->lock);
	}
}

void weft_mpsc_receiver_shutdown(weft_mpsc_receiver *rx)
{
	if (!rx)
		return;
	struct weft__mpsc *c = weft__rx(rx);
	weft__sync_lock(&c->lock);
	weft__mpsc_close_locked(c);
	weft__sync_unlock(&c->lock);
}

void weft_mpsc_receiver_close(weft_mpsc_receiver *rx)
{
	if (!rx)
		return;
	struct weft__mpsc *c = weft__rx(rx);
	weft__sync_lock(&c->lock);
	weft__mpsc_close_locked(c);
	c->rx_gone = true;
	while (c->len)
		weft__mpsc_pop(c, NULL);
	bool free_it = c->senders == 0;
	weft__sync_unlock(&c->lock);
	if (free_it)
		weft__mpsc_free(c);
}

/* ------------------------------------------------------------ try/blocking */

int weft_mpsc_try_send(weft_mpsc_sender *tx, const void *msg)
{
	if (!tx || !msg)
		return -EINVAL;
	struct weft__mpsc *c = weft__tx(tx);
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft__sync_lock(&c->lock);
	int rc = weft__mpsc_send_locked(c, msg, false, &b);
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	return rc == 1 ? -EAGAIN : rc;
}

int weft_mpsc_send_blocking(weft_mpsc_sender *tx, const void *msg)
{
	if (!tx || !msg)
		return -EINVAL;
	if (weft__in_runtime_context())
		return -EDEADLK;
	struct weft__mpsc *c = weft__tx(tx);
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	bool reserved = false;
	int rc;
	weft__sync_lock(&c->lock);
	while ((rc = weft__mpsc_send_locked(c, msg, reserved, &b)) == 1) {
		struct weft__waiter w = { 0 };
		weft__waiter_block(&c->lock, &c->send_waiters, &w);
		if (w.result < 0) {
			rc = w.result;
			break;
		}
		reserved = true;
	}
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	return rc;
}

int weft_mpsc_try_recv(weft_mpsc_receiver *rx, void *out)
{
	if (!rx || !out)
		return -EINVAL;
	struct weft__mpsc *c = weft__rx(rx);
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft__sync_lock(&c->lock);
	int rc = weft__mpsc_recv_locked(c, out, &b);
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	return rc == 1 ? -EAGAIN : rc;
}

int weft_mpsc_recv_blocking(weft_mpsc_receiver *rx, void *out)
{
	if (!rx || !out)
		return -EINVAL;
	if (weft__in_runtime_context())
		return -EDEADLK;
	struct weft__mpsc *c = weft__rx(rx);
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	int rc;
	weft__sync_lock(&c->lock);
	while ((rc = weft__mpsc_recv_locked(c, out, &b)) == 1) {
		struct weft__waiter w = { 0 };
		weft__waiter_block(&c->lock, &c->recv_waiters, &w);
	}
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	return rc;
}

/* ------------------------------------------------------------------ send */

static weft_poll weft__mpsc_send_erased_poll(weft_future *f, weft_cx *cx)
{
	return weft_mpsc_send_poll((weft_mpsc_send_future *)f, cx);
}

static void weft__mpsc_send_erased_drop(weft_future *f)
{
	weft_mpsc_send_drop((weft_mpsc_send_future *)f);
}

void weft_mpsc_send_init(weft_mpsc_send_future *f, weft_mpsc_sender *tx, const void *msg)
{
	memset(f, 0, sizeof *f);
	f->fut = WEFT_FUTURE(weft__mpsc_send_erased_poll, weft__mpsc_send_erased_drop);
	if (!tx || !msg)
		return;
	struct weft__mpsc_op *p = weft__op(f->priv.opaque);
	p->c = weft__tx(tx);
	p->buf = (void *)(uintptr_t)msg;
}

weft_poll weft_mpsc_send_poll(weft_mpsc_send_future *f, weft_cx *cx)
{
	struct weft__mpsc_op *p = weft__op(f->priv.opaque);
	struct weft__mpsc *c = p->c;
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	bool reserved = false;
	int rc;

	if (p->phase == WEFT__PHASE_FINISHED)
		return WEFT_READY;
	if (!c || p->phase == WEFT__PHASE_DROPPED) {
		f->result = -EINVAL;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	weft__sync_lock(&c->lock);
	if (p->phase == WEFT__PHASE_WAITING) {
		if (p->w.state == WEFT__WAITER_QUEUED) {
			weft__waiter_set_waker(&p->w, cx);
			goto pending;
		}
		if (p->w.result < 0) {   /* closed while queued */
			rc = p->w.result;
			goto done;
		}
		reserved = true;         /* a slot was granted */
	}
	rc = weft__mpsc_send_locked(c, p->buf, reserved, &b);
	if (rc == 1) {
		p->w = (struct weft__waiter){ 0 };
		weft__waiter_set_waker(&p->w, cx);
		weft__waitlist_push(&c->send_waiters, &p->w);
		p->phase = WEFT__PHASE_WAITING;
		goto pending;
	}
done:
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	p->phase = WEFT__PHASE_FINISHED;
	f->result = rc;
	return WEFT_READY;

pending:
	weft__sync_unlock(&c->lock);
	weft_coop_refund(cx);
	return WEFT_PENDING;
}

void weft_mpsc_send_drop(weft_mpsc_send_future *f)
{
	struct weft__mpsc_op *p = weft__op(f->priv.opaque);
	struct weft__mpsc *c = p->c;
	if (!weft__phase_drop(&p->phase, c != NULL))
		return;
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft_waker waker;
	weft__sync_lock(&c->lock);
	if (!weft__waiter_detach(&c->send_waiters, &p->w, &waker) && p->w.result == 0) {
		/* Granted a slot it never used: hand it to the next send. */
		c->reserved--;
		weft__mpsc_grant_senders(c, &b);
	}
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	weft_waker_drop(&waker);
}

/* ------------------------------------------------------------------ recv */

static weft_poll weft__mpsc_recv_erased_poll(weft_future *f, weft_cx *cx)
{
	return weft_mpsc_recv_poll((weft_mpsc_recv_future *)f, cx);
}

static void weft__mpsc_recv_erased_drop(weft_future *f)
{
	weft_mpsc_recv_drop((weft_mpsc_recv_future *)f);
}

void weft_mpsc_recv_init(weft_mpsc_recv_future *f, weft_mpsc_receiver *rx, void *out)
{
	memset(f, 0, sizeof *f);
	f->fut = WEFT_FUTURE(weft__mpsc_recv_erased_poll, weft__mpsc_recv_erased_drop);
	if (!rx || !out)
		return;
	struct weft__mpsc_op *p = weft__op(f->priv.opaque);
	p->c = weft__rx(rx);
	p->buf = out;
}

weft_poll weft_mpsc_recv_poll(weft_mpsc_recv_future *f, weft_cx *cx)
{
	struct weft__mpsc_op *p = weft__op(f->priv.opaque);
	struct weft__mpsc *c = p->c;
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */

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
	int rc = weft__mpsc_recv_locked(c, p->buf, &b);
	if (rc == 1) {
		p->w.state = WEFT__WAITER_IDLE;
		weft__waiter_set_waker(&p->w, cx);
		weft__waitlist_push(&c->recv_waiters, &p->w);
		p->phase = WEFT__PHASE_WAITING;
		goto pending;
	}
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	weft_waker_drop(&p->w.waker);
	p->phase = WEFT__PHASE_FINISHED;
	f->result = rc;
	return WEFT_READY;

pending:
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	weft_coop_refund(cx);
	return WEFT_PENDING;
}

void weft_mpsc_recv_drop(weft_mpsc_recv_future *f)
{
	struct weft__mpsc_op *p = weft__op(f->priv.opaque);
	struct weft__mpsc *c = p->c;
	if (!weft__phase_drop(&p->phase, c != NULL))
		return;
	struct weft__wake_batch b;
	b.n = 0;   /* only n: zeroing the array costs more than the work */
	weft_waker waker;
	weft__sync_lock(&c->lock);
	if (!weft__waiter_detach(&c->recv_waiters, &p->w, &waker) &&
	    (c->len || !c->senders || c->rx_closed))
		weft__mpsc_wake_receivers(c, &b);   /* pass the wake on */
	weft__sync_unlock(&c->lock);
	weft__wake_batch_run(&b);
	weft_waker_drop(&waker);
}
