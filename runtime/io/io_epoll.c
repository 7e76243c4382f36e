/*
 * io_epoll.c - the Linux backend: one epoll instance, every fd added once
 * with EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, and an eventfd (token
 * NULL) to end a wait from another thread and to carry the user event.
 *
 * This file owns its syscalls: epoll_create1, epoll_ctl, epoll_wait and
 * the eventfd calls are wrapped here (the shared door, sys.h, has no
 * backend call), each consulting the backend fault sites first.
 *
 * The user event rides on the wake-up eventfd: raising it sets
 * user_raised, then writes the eventfd. A wait that sees the eventfd
 * readable drains it, then exchanges user_raised for false and, if it was
 * set and a token is on, reports one event. A raise whose flag the
 * exchange missed wrote the eventfd after the drain (it sets the flag
 * before it writes), so the eventfd is readable again and the next wait
 * reports it: no raise is lost, and the signal handler that raises does
 * nothing but an atomic store and an eventfd write.
 *
 * Errors. weft__backend_wait retries nothing itself and hides only what
 * is not an error: EINTR from epoll_wait (a signal arrived; reported as
 * a wake-up with no events, and the caller waits again) and EAGAIN from
 * the eventfd read (the counter was already drained: nothing to consume).
 * Anything else (EBADF after a stray close of our fd, EINVAL, EFAULT) is
 * returned as -errno, with the failing call named in b->failed_call, and
 * the reactor makes it the runtime's sticky error (reactor.c).
 * weft__backend_wake treats EAGAIN (counter saturated) as success: a
 * wake-up is already pending.
 */
#include "io_backend.h"
#include "sys.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

/* ------------------------------------------------------ own syscalls */

static int weft__epoll_create(void)
{
	int f = weft__fault_hit(WEFT__FAULT_BACKEND);
	if (f)
		return f;
	return (int)weft__sys_result(epoll_create1(EPOLL_CLOEXEC));
}

static int weft__epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int f = weft__fault_hit(WEFT__FAULT_BACKEND);
	if (f)
		return f;
	return (int)weft__sys_result(epoll_ctl(epfd, op, fd, ev));
}

static int weft__epoll_wait(int epfd, struct epoll_event *evs, int n, int ms)
{
	int f = weft__fault_hit(WEFT__FAULT_BACKEND_WAIT);
	if (f)
		return f;
	return (int)weft__sys_result(epoll_wait(epfd, evs, n, ms));
}

static int weft__eventfd(void)
{
	int f = weft__fault_hit(WEFT__FAULT_BACKEND_WAKE);
	if (f)
		return f;
	return (int)weft__sys_result(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

/* Nonblocking; one read resets the counter. Retries EINTR. */
static int weft__eventfd_drain(int fd)
{
	eventfd_t v;
	int rc;
	while ((rc = eventfd_read(fd, &v)) < 0 && errno == EINTR)
		;
	return rc < 0 ? -errno : 0;
}

/* Async-signal-safe: one write(2), errno saved by the caller if needed. */
static int weft__eventfd_post(int fd)
{
	return (int)weft__sys_result(eventfd_write(fd, 1));
}

/* ------------------------------------------------------------ backend */

int weft__backend_init(struct weft__backend *b, weft_backend kind)
{
	weft__backend_clear(b, kind);
	if (kind != WEFT_BACKEND_EPOLL)
		return -ENOTSUP;
	b->fd = weft__epoll_create();
	if (b->fd < 0)
		return b->fd;
	b->wake_fd = weft__eventfd();
	int rc = b->wake_fd;
	if (rc < 0)
		goto err_epoll;
	/* Edge-triggered: the wait drains the counter anyway, and a level
	 * trigger would only cost a re-report while it is being drained. */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };
	rc = weft__epoll_ctl(b->fd, EPOLL_CTL_ADD, b->wake_fd, &ev);
	if (rc < 0)
		goto err_eventfd;
	return 0;

err_eventfd:
	weft__sys_close(b->wake_fd);
err_epoll:
	weft__sys_close(b->fd);
	b->fd = b->wake_fd = -1;
	return rc;
}

void weft__backend_fini(struct weft__backend *b)
{
	if (b->wake_fd >= 0)
		weft__sys_close(b->wake_fd);
	if (b->fd >= 0)
		weft__sys_close(b->fd);
	b->fd = b->wake_fd = -1;
}

int weft__backend_add(struct weft__backend *b, int fd, void *token)
{
	struct epoll_event ev = {
		.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
		.data.ptr = token,
	};
	return weft__epoll_ctl(b->fd, EPOLL_CTL_ADD, fd, &ev);
}

int weft__backend_del(struct weft__backend *b, int fd)
{
	struct epoll_event ev = { 0 };   /* pre-2.6.9 kernels want non-NULL */
	return weft__epoll_ctl(b->fd, EPOLL_CTL_DEL, fd, &ev);
}

static uint32_t weft__epoll_ready(uint32_t e)
{
	uint32_t r = 0;
	if (e & (EPOLLIN | EPOLLPRI))
		r |= WEFT__READY_READABLE;
	if (e & EPOLLOUT)
		r |= WEFT__READY_WRITABLE;
	if (e & EPOLLRDHUP)
		r |= WEFT__READY_READ_CLOSED;
	if (e & EPOLLHUP)
		r |= WEFT__READY_READ_CLOSED | WEFT__READY_WRITE_CLOSED;
	if (e & EPOLLERR)
		r |= WEFT__READY_ERROR;
	return r;
}

#define WEFT__EPOLL_BATCH 256

int weft__backend_wait(struct weft__backend *b, struct weft__backend_event *evs,
		       int cap, int64_t timeout_ns)
{
	struct epoll_event raw[WEFT__EPOLL_BATCH];
	int ms;
	if (timeout_ns < 0)
		ms = -1;
	else if (timeout_ns > (int64_t)INT32_MAX * 1000000)
		ms = INT32_MAX;
	else   /* round up: a timer must never fire early */
		ms = (int)((timeout_ns + 999999) / 1000000);
	if (cap > WEFT__EPOLL_BATCH)
		cap = WEFT__EPOLL_BATCH;
	int n = weft__epoll_wait(b->fd, raw, cap, ms);
	if (n < 0) {
		/* EINTR: a signal (the current-thread flavour runs on the
		 * application's thread, which may take signals) ended the
		 * wait early. Not an error: report a wake-up with no events;
		 * the caller re-checks its queues and waits again. */
		if (n == -EINTR)
			return 0;
		b->failed_call = "epoll_wait";
		return n;
	}
	int out = 0;
	bool woken = false;
	for (int i = 0; i < n; i++) {
		if (raw[i].data.ptr == NULL) {
			/* EAGAIN means the counter is already zero (nothing
			 * to consume). Anything else means the wake-up
			 * channel is broken. */
			int rc = weft__eventfd_drain(b->wake_fd);
			if (rc < 0 && rc != -EAGAIN) {
				b->failed_call = "eventfd read";
				return rc;
			}
			woken = true;
			continue;
		}
		evs[out].token = raw[i].data.ptr;
		evs[out].ready = weft__epoll_ready(raw[i].events);
		out++;
	}
	/* After the wake-up was retrieved (see the top). */
	if (woken)
		out = weft__backend_user_take(b, evs, out);
	return out;
}

int weft__backend_wake(struct weft__backend *b)
{
	int rc = weft__eventfd_post(b->wake_fd);
	/* EAGAIN: the counter is saturated, which already means a wake-up
	 * is pending: success. Anything else (EBADF) goes to the caller. */
	return rc == -EAGAIN ? 0 : rc;
}
