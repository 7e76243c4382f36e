/*
 * sys.h - the one door through which the runtime reaches the OS.
 *
 * Every allocation and every syscall the runtime makes goes through the
 * wrappers here, so failure injection (and later, accounting) needs to
 * touch only this file and sys.c. A wrapper returns what the libc call
 * returns, except that syscall wrappers return -errno instead of -1 with
 * errno set, the convention of the whole runtime.
 *
 * Failure injection: weft__fault_arm(site, nth, err) makes the nth call
 * (1-based) through @site fail with @err; the fast path is one relaxed
 * load of a global counter that is zero unless a test armed a fault.
 */
#ifndef WEFT__SYS_H
#define WEFT__SYS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum weft__fault_site {
	WEFT__FAULT_ALLOC = 0,
	WEFT__FAULT_THREAD,     /* pthread_create */
	WEFT__FAULT_EVENTFD,
	WEFT__FAULT_EPOLL,      /* epoll_create1 and epoll_ctl */
	WEFT__FAULT_SOCKET,     /* socket, accept4 */
	WEFT__FAULT_CONNECT,
	WEFT__FAULT_READ,       /* read, recv, recvfrom, readv */
	WEFT__FAULT_WRITE,      /* write, send, sendto, writev */
	WEFT__FAULT_SITES
};

/* Non-zero while any fault is armed; read relaxed on every wrapper call:
 * a test arms faults before it starts the runtime it tests, so no ordering
 * is needed beyond that of thread creation. */
extern _Atomic unsigned weft__faults_armed;

/* Returns 0, or the -errno the armed fault for @site says to fail with. */
int weft__fault_hit_slow(enum weft__fault_site site);

static inline int weft__fault_hit(enum weft__fault_site site)
{
	if (__builtin_expect(atomic_load_explicit(&weft__faults_armed,
						  memory_order_relaxed) == 0, 1))
		return 0;
	return weft__fault_hit_slow(site);
}

/* Arms a fault: the @nth next call through @site fails with -@err (err > 0).
 * nth == 0 disarms @site. For tests only. */
void weft__fault_arm(enum weft__fault_site site, unsigned nth, int err);
/* Disarms every site. */
void weft__fault_reset(void);

/* Allocation. weft__alloc returns NULL on failure (real or injected). */
void *weft__alloc(size_t size);
void *weft__calloc(size_t n, size_t size);
void weft__free(void *p);

#endif /* WEFT__SYS_H */
