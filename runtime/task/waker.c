/*
 * waker.c - the waker that belongs to no scheduler: the no-op waker.
 * (The counting waker the tests use lives in tests/helpers.c.)
 */
#include "task.h"

static weft_waker weft__noop_clone(const void *data);
static void weft__noop(const void *data)
{
	(void)data;
}

static const weft_waker_vtable weft__noop_vtable = {
	.clone = weft__noop_clone,
	.wake = weft__noop,
	.wake_by_ref = weft__noop,
	.drop = weft__noop,
};

static weft_waker weft__noop_clone(const void *data)
{
	return (weft_waker){ .vtable = &weft__noop_vtable, .data = data };
}

weft_waker weft_noop_waker(void)
{
	return (weft_waker){ .vtable = &weft__noop_vtable, .data = NULL };
}
