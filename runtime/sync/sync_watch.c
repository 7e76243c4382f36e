/*
 * sync_watch.c - the watch channel: one value that one sender replaces
 * and many receivers read, each receiver waiting for a version newer
 * than the one it last marked seen.
 *
 * Protocol (on top of sync_waitlist.h): the value, its version, the
 * receiver count, the "sender gone" flag, the waiter list, and every
 * receiver's seen version are guarded by the channel's lock. A send
 * stores the value, bumps the version and finishes every queued wait in
 * one locked step (dropping the lock only between wake batches: a wait
 * that queues meanwhile has already seen the new version, so it never
 * queues). A wait compares its receiver's seen version with the current
 * one and queues under the same lock, so it either sees the new version
 * or is woken by the send. A finished wait node means "look again". The
 * channel is freed by the last of the sender and the receivers; the
 * first receiver lives inside the channel allocation, clones are
 * allocated one each.
 */
#include "sync_waitlist.h"

#include <errno.h>
#include <string.h>

struct weft__watch;

struct weft_watch_receiver {
	struct weft__watch *c;
	uint64_t seen;            /* guarded by c->lock */
	bool embedded;            /* lives in the channel allocation */
};

struct weft__watch {
	struct weft__sync_lock lock;
	size_t elem;
	uint64_t version;
	size_t receivers;
	bool tx_gone;
	struct weft__waitlist waiters;
	struct weft_watch_receiver first;
	alignas(max_align_t) unsigned char value[];
};

struct __attribute__((__may_alias__)) weft__watch_changed {
	struct weft_watch_receiver *rx;
	int phase;
	struct weft__waiter w;
};
WEFT__SYNC_FUTURE_CHECK(weft_watch_changed_future, weft__watch_changed);

static struct weft__watch *weft__tx(weft_watch_sender *tx)
{
	return (struct weft__watch *)(void *)tx;
}

int weft_watch_new(size_t elem_size, const void *initial, weft_watch_sender **tx,
		   weft_watch_receiver **rx)
{
	if (!tx || !rx || !initial || elem_size == 0 || elem_size > WEFT_CHANNEL_MAX_ELEM)
		return -EINVAL;
	struct weft__watch *c = weft__calloc(1, sizeof *c + elem_size);
	if (!c)
		return -ENOMEM;
	int rc = weft__sync_lock_init(&c->lock);
	if (rc < 0) {
		weft__free(c);
		return rc;
	}
	c->elem = elem_size;
	memcpy(c->value, initial, elem_size);
	c->receivers = 1;
	c->first = (struct weft_watch_receiver){ .c = c, .embedded = true };
	*tx = (weft_watch_sender *)(void *)c;
	*rx = &c->first;
	return 0;
}

static void weft__watch_free(struct weft__watch *c)
{
	weft__sync_lock_destroy(&c->lock);
	weft__free(c);
}

/* Finishes every queued wait; lock held on entry and return (dropped
 * between wake batches). */
static void weft__watch_wake_all_locked(struct weft__watch *c)
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
	if (b.n) {
		weft__sync_unlock(&c->lock);
		weft__wake_batch_run(&b);
		weft__sync_lock(&c->lock);
	}
}

int weft_watch_send(weft_watch_sender *tx, const void *value)
{
	if (!tx || !value)
		return -EINVAL;
	struct weft__watch *c = weft__tx(tx);
	int rc = 0;
	weft__sync_lock(&c->lock);
	if (c->receivers == 0) {
		rc = -EPIPE;
	} else {
		memcpy(c->value, value, c->elem);
		c->version++;
		weft__watch_wake_all_locked(c);
	}
	weft__sync_unlock(&c->lock);
	return rc;
}

void weft_watch_sender_close(weft_watch_sender *tx)
{
	if (!tx)
		return;
	struct weft__watch *c = weft__tx(tx);
	weft__sync_lock(&c->lock);
	c->tx_gone = true;
	weft__watch_wake_all_locked(c);
	bool free_it = c->receivers == 0;
	weft__sync_unlock(&c->lock);
	if (free_it)
		weft__watch_free(c);
}

static int weft__watch_copy(weft_watch_receiver *rx, void *out, bool update)
{
	if (!rx || !out)
		return -EINVAL;
	struct weft__watch *c = rx->c;
	weft__sync_lock(&c->lock);
	memcpy(out, c->value, c->elem);
	if (update)
		rx->seen = c->version;
	weft__sync_unlock(&c->lock);
	return 0;
}

int weft_watch_borrow(weft_watch_receiver *rx, void *out)
{
	return weft__watch_copy(rx, out, false);
}

int weft_watch_borrow_and_update(weft_watch_receiver *rx, void *out)
{
	return weft__watch_copy(rx, out, true);
}

/* 1 changed, 0 not, -EPIPE not and never will. Lock held. */
static int weft__watch_check_locked(weft_watch_receiver *rx)
{
	if (rx->c->version != rx->seen)
		return 1;
	return rx->c->tx_gone ? -EPIPE : 0;
}

int weft_watch_has_changed(weft_watch_receiver *rx)
{
	if (!rx)
		return -EINVAL;
	weft__sync_lock(&rx->c->lock);
	int rc = weft__watch_check_locked(rx);
	weft__sync_unlock(&rx->c->lock);
	return rc;
}

weft_watch_receiver *weft_watch_receiver_clone(weft_watch_receiver *rx)
{
	if (!rx)
		return NULL;
	weft_watch_receiver *n = weft__alloc(sizeof *n);
	if (!n)
		return NULL;
	struct weft__watch *c = rx->c;
	weft__sync_lock(&c->lock);
	*n = (struct weft_watch_receiver){ .c = c, .seen = rx->seen };
	c->receivers++;
	weft__sync_unlock(&c->lock);
	return n;
}

void weft_watch_receiver_close(weft_watch_receiver *rx)
{
	if (!rx)
		return;
	struct weft__watch *c = rx->c;
	weft__sync_lock(&c->lock);
	bool free_it = --c->receivers == 0 && c->tx_gone;
	bool embedded = rx->embedded;
	weft__sync_unlock(&c->lock);
	if (!embedded)
		weft__free(rx);
	if (free_it)
		weft__watch_free(c);
}

int weft_watch_changed_blocking(weft_watch_receiver *rx)
{
	if (!rx)
		return -EINVAL;
	if (weft__in_runtime_context())
		return -EDEADLK;
	struct weft__watch *c = rx->c;
	int rc;
	weft__sync_lock(&c->lock);
	while ((rc = weft__watch_check_locked(rx)) == 0) {
		struct weft__waiter w = { 0 };
		weft__waiter_block(&c->lock, &c->waiters, &w);
	}
	if (rc == 1) {
		rx->seen = c->version;
		rc = 0;
	}
	weft__sync_unlock(&c->lock);
	return rc;
}

static weft_poll weft__watch_changed_erased_poll(weft_future *f, weft_cx *cx)
{
	return weft_watch_changed_poll((weft_watch_changed_future *)f, cx);
}

static void weft__watch_changed_erased_drop(weft_future *f)
{
	weft_watch_changed_drop((weft_watch_changed_future *)f);
}

void weft_watch_changed_init(weft_watch_changed_future *f, weft_watch_receiver *rx)
{
	memset(f, 0, sizeof *f);
	f->fut = WEFT_FUTURE(weft__watch_changed_erased_poll, weft__watch_changed_erased_drop);
	((struct weft__watch_changed *)(void *)f->priv.opaque)->rx = rx;
}

weft_poll weft_watch_changed_poll(weft_watch_changed_future *f, weft_cx *cx)
{
	struct weft__watch_changed *p = (struct weft__watch_changed *)(void *)f->priv.opaque;
	weft_watch_receiver *rx = p->rx;

	if (p->phase == WEFT__PHASE_FINISHED)
		return WEFT_READY;
	if (!rx || p->phase == WEFT__PHASE_DROPPED) {
		f->result = -EINVAL;
		return WEFT_READY;
	}
	if (!weft_coop_proceed(cx))
		return WEFT_PENDING;
	struct weft__watch *c = rx->c;
	weft__sync_lock(&c->lock);
	if (p->phase == WEFT__PHASE_WAITING && p->w.state == WEFT__WAITER_QUEUED) {
		weft__waiter_set_waker(&p->w, cx);
		goto pending;
	}
	int rc = weft__watch_check_locked(rx);
	if (rc == 0) {
		p->w.state = WEFT__WAITER_IDLE;
		weft__waiter_set_waker(&p->w, cx);
		weft__waitlist_push(&c->waiters, &p->w);
		p->phase = WEFT__PHASE_WAITING;
		goto pending;
	}
	if (rc == 1) {
		rx->seen = c->version;
		rc = 0;
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

void weft_watch_changed_drop(weft_watch_changed_future *f)
{
	struct weft__watch_changed *p = (struct weft__watch_changed *)(void *)f->priv.opaque;
	if (!weft__phase_drop(&p->phase, p->rx != NULL))
		return;
	struct weft__watch *c = p->rx->c;
	weft_waker waker;
	weft__sync_lock(&c->lock);
	weft__waiter_detach(&c->waiters, &p->w, &waker);
	weft__sync_unlock(&c->lock);
	weft_waker_drop(&waker);
}
