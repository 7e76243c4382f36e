/*
 * backend.c - which I/O backends this build has, and how a runtime's
 * request (config field, WEFT_BACKEND) becomes the one it starts.
 *
 * The build compiles the backends meson's `io_backend` option chose (not
 * `backend`: meson reserves that name for its own option) and
 * says so with WEFT_HAVE_BACKEND_<NAME> (meson.build); the default one,
 * the one WEFT_BACKEND_AUTO starts, is WEFT_DEFAULT_BACKEND. Only AUTO
 * may fall back (driver.c, weft__driver_init): a backend asked for by
 * name is started or refused.
 */
#include "io_backend.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef WEFT_DEFAULT_BACKEND
#error "meson.build defines WEFT_DEFAULT_BACKEND (the `io_backend` option)"
#endif

static const char *const weft__backend_names[] = {
	[WEFT_BACKEND_AUTO] = "auto",
	[WEFT_BACKEND_EPOLL] = "epoll",
	[WEFT_BACKEND_IO_URING] = "io_uring",
	[WEFT_BACKEND_KQUEUE] = "kqueue",
};

#define WEFT__BACKEND_KINDS (sizeof weft__backend_names / sizeof weft__backend_names[0])

const char *weft_backend_name(weft_backend b)
{
	if ((unsigned)b >= WEFT__BACKEND_KINDS)
		return NULL;
	return weft__backend_names[b];
}

bool weft__backend_compiled(weft_backend kind)
{
	switch (kind) {
#ifdef WEFT_HAVE_BACKEND_EPOLL
	case WEFT_BACKEND_EPOLL:
		return true;
#endif
#ifdef WEFT_HAVE_BACKEND_KQUEUE
	case WEFT_BACKEND_KQUEUE:
		return true;
#endif
#ifdef WEFT_HAVE_BACKEND_IO_URING
	case WEFT_BACKEND_IO_URING:
		return true;
#endif
	default:
		return false;
	}
}

int weft__backend_resolve(uint32_t requested, weft_backend *out, bool *automatic)
{
	/* The environment is read at each runtime_new: tests set it
	 * between runtimes. getenv is not thread-safe against setenv; a
	 * program that changes its environment while making runtimes on
	 * other threads has that race with every libc caller. */
	const char *env = getenv("WEFT_BACKEND");
	if (env && *env) {
		requested = WEFT__BACKEND_KINDS;
		for (unsigned i = 0; i < WEFT__BACKEND_KINDS; i++)
			if (strcmp(env, weft__backend_names[i]) == 0)
				requested = i;
	}
	if (requested >= WEFT__BACKEND_KINDS)
		return -EINVAL;
	*automatic = requested == WEFT_BACKEND_AUTO;
	weft_backend kind = *automatic ? WEFT_DEFAULT_BACKEND : (weft_backend)requested;
	if (!weft__backend_compiled(kind))
		return -ENOTSUP;
	*out = kind;
	return 0;
}

/* ------------------------------------------------------ the user event */

void weft__backend_user_set(struct weft__backend *b, void *token)
{
	/* Release: the token's slot is initialised before a wait can
	 * report it (weft__backend_user_take's acquire load). */
	atomic_store_explicit(&b->user_token, token, memory_order_release);
}

int weft__backend_user_raise(struct weft__backend *b)
{
	/* Release: the raiser's writes (a signal's delivery record) happen
	 * before the wait that exchanges the flag. Set before the wake-up,
	 * so a wait that retrieved the wake-up sees it (the backends' waits
	 * exchange it only after they consumed their wake-up: the eventfd
	 * read, the EVFILT_USER trigger reset by EV_CLEAR, the pipe drain). */
	atomic_store_explicit(&b->user_raised, true, memory_order_release);
	return weft__backend_wake(b);
}
