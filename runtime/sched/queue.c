/*
 * queue.c - the local run queue (protocol in sched_queue.h).
 */
#include "sched_runtime.h"
#include "sched_queue.h"

static inline uint32_t weft__q_real(uint64_t head)
{
	return (uint32_t)head;
}

static inline uint32_t weft__q_steal(uint64_t head)
{
	return (uint32_t)(head >> 32);
}

static inline uint64_t weft__q_pack(uint32_t steal, uint32_t real)
{
	return ((uint64_t)steal << 32) | real;
}

void weft__local_queue_init(struct weft__local_queue *q)
{
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
}

/* Moves the front half of a full queue, and @t, to @overflow. Fails if a
 * stealer or a pop moved head since the caller read it. */
static bool weft__local_queue_overflow(struct weft__local_queue *q, uint32_t real,
				       uint32_t tail, struct weft__task *t,
				       struct weft__task_fifo *overflow)
{
	const uint32_t half = WEFT__LOCAL_QUEUE_CAP / 2;
	(void)tail;
	uint64_t expected = weft__q_pack(real, real);
	/* Claim the front half as a stealer would, in one step with steal.
	 * Acquire: see the slots as stealers left them; release: not needed
	 * for the slots (we only read them) but the CAS orders the claim. */
	if (!atomic_compare_exchange_strong_explicit(&q->head, &expected,
						     weft__q_pack(real + half, real + half),
						     memory_order_acq_rel,
						     memory_order_relaxed))
		return false;
	for (uint32_t i = 0; i < half; i++)
		weft__fifo_push(overflow, q->buf[(real + i) & WEFT__LOCAL_QUEUE_MASK]);
	weft__fifo_push(overflow, t);
	return true;
}

bool weft__local_queue_push(struct weft__local_queue *q, struct weft__task *t,
			    struct weft__task_fifo *overflow)
{
	/* Relaxed: only the owner writes tail. */
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
	for (;;) {
		/* Acquire: a stealer's finished copy (its release of steal)
		 * happens-before we reuse those slots. */
		uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
		uint32_t steal = weft__q_steal(head), real = weft__q_real(head);
		if (tail - steal < WEFT__LOCAL_QUEUE_CAP) {
			q->buf[tail & WEFT__LOCAL_QUEUE_MASK] = t;
			/* Release: publish the slot to poppers and stealers. */
			atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
			return false;
		}
		if (steal != real) {
			/* Full and a steal is in flight: it is about to make
			 * room, but don't wait: send just this task out. */
			weft__fifo_push(overflow, t);
			return true;
		}
		if (weft__local_queue_overflow(q, real, tail, t, overflow))
			return true;
		/* head moved (a pop or steal): there may be room now. */
	}
}

struct weft__task *weft__local_queue_pop(struct weft__local_queue *q)
{
	uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	for (;;) {
		uint32_t steal = weft__q_steal(head), real = weft__q_real(head);
		/* Relaxed: the owner wrote tail itself. */
		uint32_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
		if (real == tail)
			return NULL;
		uint64_t next = steal == real ? weft__q_pack(real + 1, real + 1)
					      : weft__q_pack(steal, real + 1);
		/* AcqRel: the slot is ours once the CAS wins against
		 * stealers; acquire their updates of head. */
		if (atomic_compare_exchange_weak_explicit(&q->head, &head, next,
							  memory_order_acq_rel,
							  memory_order_acquire))
			return q->buf[real & WEFT__LOCAL_QUEUE_MASK];
	}
}

struct weft__task *weft__local_queue_steal(struct weft__local_queue *src,
					   struct weft__local_queue *dst,
					   uint32_t *n_out)
{
	*n_out = 0;
	/* Relaxed: dst is ours. Don't steal into a queue more than half full. */
	uint32_t dst_tail = atomic_load_explicit(&dst->tail, memory_order_relaxed);
	uint64_t dst_head = atomic_load_explicit(&dst->head, memory_order_acquire);
	if (dst_tail - weft__q_steal(dst_head) > WEFT__LOCAL_QUEUE_CAP / 2)
		return NULL;

	uint64_t head = atomic_load_explicit(&src->head, memory_order_acquire);
	uint32_t first, n;
	for (;;) {
		uint32_t steal = weft__q_steal(head), real = weft__q_real(head);
		if (steal != real)
			return NULL;   /* another stealer is copying */
		/* Acquire: the slots up to tail were published by the owner's
		 * release store. */
		uint32_t tail = atomic_load_explicit(&src->tail, memory_order_acquire);
		n = tail - real;
		n -= n / 2;
		if (n == 0)
			return NULL;
		if (n > WEFT__LOCAL_QUEUE_CAP / 2)
			n = WEFT__LOCAL_QUEUE_CAP / 2;
		/* Claim [real, real + n): move real, leave steal. AcqRel: the
		 * claim orders against the owner's pops and pushes. */
		if (atomic_compare_exchange_weak_explicit(&src->head, &head,
							  weft__q_pack(steal, real + n),
							  memory_order_acq_rel,
							  memory_order_acquire)) {
			first = real;
			break;
		}
	}
	for (uint32_t i = 0; i < n; i++)
		dst->buf[(dst_tail + i) & WEFT__LOCAL_QUEUE_MASK] =
			src->buf[(first + i) & WEFT__LOCAL_QUEUE_MASK];
	/* Done copying: move steal up to real (which the owner may have
	 * moved meanwhile). Release: our reads of the slots happen-before
	 * the owner reuses them (its acquire of head). */
	head = atomic_load_explicit(&src->head, memory_order_acquire);
	for (;;) {
		uint32_t real = weft__q_real(head);
		if (atomic_compare_exchange_weak_explicit(&src->head, &head,
							  weft__q_pack(real, real),
							  memory_order_acq_rel,
							  memory_order_acquire))
			break;
	}
	*n_out = n;
	/* Run the last one now; publish the rest in our own queue. */
	n--;
	struct weft__task *ret = dst->buf[(dst_tail + n) & WEFT__LOCAL_QUEUE_MASK];
	if (n > 0)
		atomic_store_explicit(&dst->tail, dst_tail + n, memory_order_release);
	return ret;
}

uint32_t weft__local_queue_len(struct weft__local_queue *q)
{
	/* Acquire both: a snapshot; exact only for the owner. head first:
	 * real and tail only grow, so an older real never exceeds tail. */
	uint64_t head = atomic_load_explicit(&q->head, memory_order_acquire);
	uint32_t tail = atomic_load_explicit(&q->tail, memory_order_acquire);
	return tail - weft__q_real(head);
}
