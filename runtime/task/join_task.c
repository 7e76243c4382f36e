/*
 * join_task.c - a join handle as a future (weft_join_task), so a task can
 * be a child of join and select.
 *
 * The wrapper borrows the handle and never releases it: the handle's
 * owner closes it. Dropping the wrapper leaves the task running (a
 * dropped Tokio JoinHandle detaches the task too); it only takes back the
 * waker its polls left with the task, so a select that another child won
 * does not keep the parent task referenced until the child task ends.
 */
#include "task.h"

#include <errno.h>

static weft_poll weft__join_task_poll_erased(weft_future *f, weft_cx *cx)
{
	return weft_join_task_poll((weft_join_task *)f, cx);
}

static void weft__join_task_drop_erased(weft_future *f)
{
	weft_join_task_drop((weft_join_task *)f);
}

void weft_join_task_init(weft_join_task *t, weft_join_handle *h)
{
	t->fut = WEFT_FUTURE(weft__join_task_poll_erased, weft__join_task_drop_erased);
	t->result = 0;
	t->priv.handle = h;
	t->priv.done = false;
}

weft_poll weft_join_task_poll(weft_join_task *t, weft_cx *cx)
{
	if (t->priv.done)
		return WEFT_READY;
	if (!t->priv.handle) {
		t->result = -EINVAL;
		t->priv.done = true;
		return WEFT_READY;
	}
	int res;
	if (weft_join_handle_poll(t->priv.handle, cx, &res) == WEFT_PENDING)
		return WEFT_PENDING;
	t->result = res;
	t->priv.done = true;
	return WEFT_READY;
}

void weft_join_task_drop(weft_join_task *t)
{
	if (!t->priv.handle)
		return;
	weft__join_handle_withdraw_waker(t->priv.handle);
	t->priv.handle = NULL;
}
