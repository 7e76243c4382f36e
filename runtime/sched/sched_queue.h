/*
 * sched_queue.h - a worker's local run queue: a fixed ring of 256 task pointers
 * that its owner pushes to and pops from, and that other workers steal
 * half of at a time.
 *
 * Protocol. `tail` is written only by the owner. `head` packs two u32
 * indices: `real`, the next slot to pop, and `steal`, the first slot a
 * stealer is still copying (equal to `real` when no steal is in flight).
 * Indices grow forever and wrap at 2^32; a slot is index & 255.
 *  - The owner writes a slot, then publishes it by storing tail (release).
 *  - The owner pops by moving `real` (and `steal` with it when they are
 *    equal) forward with a CAS on head; a stealer claims a batch by moving
 *    only `real` forward with a CAS, copies the claimed slots, then moves
 *    `steal` up to `real`. One stealer at a time: a stealer that sees
 *    steal != real gives up.
 *  - The owner only reuses slots below `steal + 256`, so it never
 *    overwrites a slot a stealer is copying: the capacity check reads head
 *    with acquire, which orders the stealer's copy before the reuse.
 * A task is in at most one queue (the NOTIFIED protocol in task.c), so
 * each pointer here carries that task's notified reference.
 */
#ifndef WEFT__SCHED_QUEUE_H
#define WEFT__SCHED_QUEUE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define WEFT__LOCAL_QUEUE_CAP 256u
#define WEFT__LOCAL_QUEUE_MASK (WEFT__LOCAL_QUEUE_CAP - 1)

struct weft__task;
struct weft__task_fifo;

struct weft__local_queue {
	_Atomic uint64_t head;   /* steal << 32 | real */
	_Atomic uint32_t tail;
	struct weft__task *buf[WEFT__LOCAL_QUEUE_CAP];
};

void weft__local_queue_init(struct weft__local_queue *q);

/*
 * Owner: pushes @t at the back. When the ring is full, moves half of it
 * plus @t into @overflow (a FIFO the caller then hands to the inject queue
 * in one batch) and returns true; otherwise returns false.
 */
bool weft__local_queue_push(struct weft__local_queue *q, struct weft__task *t,
			    struct weft__task_fifo *overflow);

/* Owner: pops the front task, or NULL. */
struct weft__task *weft__local_queue_pop(struct weft__local_queue *q);

/*
 * A stealer (the owner of @dst): moves about half of @src's tasks into
 * @dst and returns one of them to run now, or NULL when @src is empty or
 * another steal is in flight. Stores the number taken in *@n.
 */
struct weft__task *weft__local_queue_steal(struct weft__local_queue *src,
					   struct weft__local_queue *dst,
					   uint32_t *n);

/* Any thread: tasks in the queue (a snapshot). */
uint32_t weft__local_queue_len(struct weft__local_queue *q);

/* Any thread: true when the queue has tasks a stealer could take. */
static inline bool weft__local_queue_stealable(struct weft__local_queue *q)
{
	return weft__local_queue_len(q) > 0;
}

#endif
