/*
 * reactor.c - placeholder reactor: only the wake-up channel, so the
 * runtime can sleep in the kernel until notified. The epoll reactor with
 * readiness slots replaces it.
 */
#include "internal.h"
#include "reactor.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int weft__reactor_init(struct weft__reactor *r)
{
	atomic_init(&r->events, 0);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0)
		return -errno;
	r->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->evfd < 0) {
		int err = -errno;
		close(r->epfd);
		return err;
	}
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->evfd, &ev) < 0) {
		int err = -errno;
		close(r->evfd);
		close(r->epfd);
		return err;
	}
	return 0;
}

void weft__reactor_fini(struct weft__reactor *r)
{
	close(r->evfd);
	close(r->epfd);
}

int weft__reactor_turn(struct weft__reactor *r, int64_t timeout_ns)
{
	struct epoll_event evs[16];
	int ms = timeout_ns < 0 ? -1 : (int)((timeout_ns + 999999) / 1000000);
	int n = epoll_wait(r->epfd, evs, 16, ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		if (evs[i].data.ptr == NULL) {
			uint64_t v;
			ssize_t rc = read(r->evfd, &v, sizeof v);
			(void)rc;
		}
	}
	return 0;
}

void weft__reactor_notify(struct weft__reactor *r)
{
	uint64_t one = 1;
	ssize_t rc = write(r->evfd, &one, sizeof one);
	(void)rc;
}
