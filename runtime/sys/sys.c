/*
 * sys.c - allocation and syscall wrappers, and the failure injection they
 * all consult (see sys.h). Linux-only calls and flags are used under
 * #ifdef, each with the portable sequence beside it for the BSDs and
 * macOS (see "Platform" below).
 */
#include "sys.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#if !WEFT__FUTEX_PORTABLE
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#include <sys/uio.h>
#include <unistd.h>

_Atomic unsigned weft__faults_armed;

#ifdef WEFT_PERTURB
_Atomic(weft__perturb_fn) weft__perturb_hook;
#endif

/* Per site: calls left before the injected failure (0 = disarmed) and the
 * errno to fail with. Relaxed is enough: arming happens-before the tested
 * code runs (thread creation or the same thread), and the countdown only
 * needs to be atomic, not ordered with anything else. */
static struct {
	_Atomic unsigned countdown;
	_Atomic int err;
} weft__faults[WEFT__FAULT_SITES];

int weft__fault_hit_slow(enum weft__fault_site site)
{
	unsigned left = atomic_load_explicit(&weft__faults[site].countdown,
					     memory_order_relaxed);
	while (left != 0) {
		if (atomic_compare_exchange_weak_explicit(
			    &weft__faults[site].countdown, &left, left - 1,
			    memory_order_relaxed, memory_order_relaxed)) {
			if (left != 1)
				return 0;
			atomic_fetch_sub_explicit(&weft__faults_armed, 1,
						  memory_order_relaxed);
			return -atomic_load_explicit(&weft__faults[site].err,
						     memory_order_relaxed);
		}
	}
	return 0;
}

void weft__fault_arm(enum weft__fault_site site, unsigned nth, int err)
{
	unsigned prev = atomic_exchange_explicit(&weft__faults[site].countdown,
						 nth, memory_order_relaxed);
	atomic_store_explicit(&weft__faults[site].err, err, memory_order_relaxed);
	if (prev == 0 && nth != 0)
		atomic_fetch_add_explicit(&weft__faults_armed, 1, memory_order_relaxed);
	else if (prev != 0 && nth == 0)
		atomic_fetch_sub_explicit(&weft__faults_armed, 1, memory_order_relaxed);
}

void weft__fault_reset(void)
{
	for (int i = 0; i < WEFT__FAULT_SITES; i++)
		weft__fault_arm((enum weft__fault_site)i, 0, 0);
}

void *weft__alloc(size_t size)
{
	if (weft__fault_hit(WEFT__FAULT_ALLOC))
		return NULL;
	/* No object is larger than PTRDIFF_MAX (malloc would fail too;
	 * the sanitizers' allocators abort instead). */
	if (size > PTRDIFF_MAX)
		return NULL;
	return malloc(size);
}

void *weft__calloc(size_t n, size_t size)
{
	if (weft__fault_hit(WEFT__FAULT_ALLOC))
		return NULL;
	return calloc(n, size);
}

void *weft__calloc_aligned(size_t align, size_t size)
{
	if (weft__fault_hit(WEFT__FAULT_ALLOC))
		return NULL;
	void *p = NULL;
	if (posix_memalign(&p, align, size) != 0)
		return NULL;
	return memset(p, 0, size);
}

void weft__free(void *p)
{
	free(p);
}

/* Relaxed: a statistic, read by tests after the threads that changed it
 * were joined. */
static _Atomic size_t weft__mapped;

void *weft__map_aligned(size_t size, size_t align)
{
	if (weft__fault_hit(WEFT__FAULT_ALLOC))
		return NULL;
	/* @align more, then the unaligned head and tail go back: the
	 * kernel aligns mappings only to pages. */
	size_t len = size + align;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	char *a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + size < p + len)
		munmap(a + size, (size_t)(p + len - (a + size)));
	atomic_fetch_add_explicit(&weft__mapped, size, memory_order_relaxed);
	return a;
}

int weft__unmap(void *p, size_t size)
{
	if (munmap(p, size) != 0)
		return -errno;
	atomic_fetch_sub_explicit(&weft__mapped, size, memory_order_relaxed);
	return 0;
}

size_t weft__mapped_bytes(void)
{
	return atomic_load_explicit(&weft__mapped, memory_order_relaxed);
}

/* ------------------------------------------------------------ syscalls */

/* Initial-exec: one %fs-relative access instead of a __tls_get_addr call
 * per read from the shared library. */
_Thread_local unsigned long weft__sys_read_calls __attribute__((tls_model("initial-exec")));

#define WEFT__SYSCALL(site, expr)                         \
	do {                                              \
		int weft__f = weft__fault_hit(site);      \
		if (weft__f)                              \
			return weft__f;                   \
		__typeof__(expr) weft__r = (expr);        \
		return weft__r < 0 ? -errno : weft__r;    \
	} while (0)

#define WEFT__SYSCALL_NOFAULT(expr)                       \
	do {                                              \
		__typeof__(expr) weft__r = (expr);        \
		return weft__r < 0 ? -errno : weft__r;    \
	} while (0)

int weft__sys_close(int fd)
{
	/* Linux releases the fd even when close reports EINTR: never retry. */
	WEFT__SYSCALL_NOFAULT(close(fd));
}

int weft__sys_open(const char *path, int flags)
{
	WEFT__SYSCALL(WEFT__FAULT_SOCKET, open(path, flags | O_CLOEXEC));
}

/* ------------------------------------------------------------ Platform
 *
 * Linux (and FreeBSD, NetBSD, OpenBSD, DragonFly for the first two) set
 * non-blocking and close-on-exec atomically with SOCK_NONBLOCK |
 * SOCK_CLOEXEC on socket() and accept4(), and O_NONBLOCK | O_CLOEXEC on
 * pipe2(); where those are missing (macOS), the fd gets both flags with
 * fcntl() right after, which leaves a window in which a fork+exec on
 * another thread inherits it (the documented limit of that platform).
 * MSG_NOSIGNAL keeps a write to a closed peer from raising SIGPIPE; where
 * it is missing, the socket is given SO_NOSIGPIPE when it is made instead.
 *
 * WEFT_SIMULATE_MACOS (meson option simulate_macos, Linux only) takes
 * macOS's path here: accept then fcntl, socket then fcntl, pipe then
 * fcntl, and the SO_NOSIGPIPE step, which is a no-op on Linux (it has no
 * such option); MSG_NOSIGNAL stays on the sends, so a closed peer still
 * cannot raise SIGPIPE on this kernel. */

#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC) && !defined(WEFT_SIMULATE_MACOS)
#define WEFT__SOCK_ATOMIC_FLAGS 1
#else
#define WEFT__SOCK_ATOMIC_FLAGS 0
#endif

#if !defined(__APPLE__) && !defined(WEFT_SIMULATE_MACOS)
#define WEFT__HAVE_PIPE2 1
#else
#define WEFT__HAVE_PIPE2 0
#endif

#if (!defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)) || defined(WEFT_SIMULATE_MACOS)
#define WEFT__SET_NOSIGPIPE 1
#else
#define WEFT__SET_NOSIGPIPE 0
#endif

#ifdef MSG_NOSIGNAL
#define WEFT__MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define WEFT__MSG_NOSIGNAL 0
#endif

#if !WEFT__SOCK_ATOMIC_FLAGS || !WEFT__HAVE_PIPE2
/* O_NONBLOCK and FD_CLOEXEC on @fd. 0 or -1 with errno. */
static int weft__fd_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -1;
	return 0;
}
#endif

#if WEFT__SET_NOSIGPIPE
/* SO_NOSIGPIPE on @fd: 0 or -1 with errno. */
static int weft__set_nosigpipe(int fd)
{
#ifdef SO_NOSIGPIPE
	int one = 1;
	return setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
	(void)fd;   /* simulated on Linux: MSG_NOSIGNAL does the work */
	return 0;
#endif
}
#endif

/* The flags a new fd needs where they could not be set atomically, and
 * SO_NOSIGPIPE where MSG_NOSIGNAL is missing. Closes @fd on failure.
 * @fd, or -errno. */
static int weft__sock_setup(int fd)
{
	if (fd < 0)
		return fd;
#if !WEFT__SOCK_ATOMIC_FLAGS
	if (weft__fd_flags(fd) < 0)
		goto err;
#endif
#if WEFT__SET_NOSIGPIPE
	if (weft__set_nosigpipe(fd) < 0)
		goto err;
#endif
	return fd;
#if !WEFT__SOCK_ATOMIC_FLAGS || WEFT__SET_NOSIGPIPE
err:;
	int err = -errno;
	close(fd);
	return err;
#endif
}

int weft__sys_pipe(int fds[2])
{
#if WEFT__HAVE_PIPE2
	WEFT__SYSCALL_NOFAULT(pipe2(fds, O_NONBLOCK | O_CLOEXEC));
#else
	if (pipe(fds) < 0)
		return -errno;
	if (weft__fd_flags(fds[0]) < 0 || weft__fd_flags(fds[1]) < 0) {
		int err = -errno;
		close(fds[0]);
		close(fds[1]);
		return err;
	}
	return 0;
#endif
}

int weft__sys_socket(int domain, int type, int proto)
{
	int f = weft__fault_hit(WEFT__FAULT_SOCKET);
	if (f)
		return f;
#if WEFT__SOCK_ATOMIC_FLAGS
	type |= SOCK_NONBLOCK | SOCK_CLOEXEC;
#endif
	int fd = socket(domain, type, proto);
	return weft__sock_setup(fd < 0 ? -errno : fd);
}

int weft__sys_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
	int f = weft__fault_hit(WEFT__FAULT_SOCKET);
	if (f)
		return f;
#if WEFT__SOCK_ATOMIC_FLAGS
	int c = accept4(fd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
	int c = accept(fd, sa, len);
#endif
	return weft__sock_setup(c < 0 ? -errno : c);
}

int weft__sys_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	WEFT__SYSCALL(WEFT__FAULT_CONNECT, connect(fd, sa, len));
}

int weft__sys_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	WEFT__SYSCALL(WEFT__FAULT_SOCKET, bind(fd, sa, len));
}

int weft__sys_listen(int fd, int backlog)
{
	WEFT__SYSCALL(WEFT__FAULT_SOCKET, listen(fd, backlog));
}

int weft__sys_shutdown(int fd, int how)
{
	WEFT__SYSCALL_NOFAULT(shutdown(fd, how));
}

int weft__sys_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	WEFT__SYSCALL_NOFAULT(getsockname(fd, sa, len));
}

int weft__sys_getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	WEFT__SYSCALL_NOFAULT(getpeername(fd, sa, len));
}

int weft__sys_setsockopt(int fd, int level, int opt, const void *val, socklen_t len)
{
	WEFT__SYSCALL_NOFAULT(setsockopt(fd, level, opt, val, len));
}

int weft__sys_getsockopt(int fd, int level, int opt, void *val, socklen_t *len)
{
	WEFT__SYSCALL_NOFAULT(getsockopt(fd, level, opt, val, len));
}

ssize_t weft__sys_read(int fd, void *buf, size_t len)
{
	weft__sys_read_calls++;
	WEFT__SYSCALL(WEFT__FAULT_READ, read(fd, buf, len));
}

ssize_t weft__sys_readv(int fd, const struct iovec *iov, int n)
{
	weft__sys_read_calls++;
	WEFT__SYSCALL(WEFT__FAULT_READ, readv(fd, iov, n));
}

ssize_t weft__sys_recvfrom(int fd, void *buf, size_t len, int flags,
			   struct sockaddr *sa, socklen_t *salen)
{
	weft__sys_read_calls++;
	WEFT__SYSCALL(WEFT__FAULT_READ, recvfrom(fd, buf, len, flags, sa, salen));
}

ssize_t weft__sys_write(int fd, const void *buf, size_t len)
{
	WEFT__SYSCALL(WEFT__FAULT_WRITE, write(fd, buf, len));
}

ssize_t weft__sys_send(int fd, const void *buf, size_t len, int flags)
{
	WEFT__SYSCALL(WEFT__FAULT_WRITE, send(fd, buf, len, flags | WEFT__MSG_NOSIGNAL));
}

ssize_t weft__sys_sendto(int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *sa, socklen_t salen)
{
	WEFT__SYSCALL(WEFT__FAULT_WRITE,
		      sendto(fd, buf, len, flags | WEFT__MSG_NOSIGNAL, sa, salen));
}

ssize_t weft__sys_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	WEFT__SYSCALL(WEFT__FAULT_WRITE, sendmsg(fd, msg, flags | WEFT__MSG_NOSIGNAL));
}

/* What a new thread needs before it runs its function: its name, set by
 * the thread itself, so it holds from the thread's first instruction
 * (a start hook or a debugger sees it) and on every platform (macOS can
 * name only the calling thread). */
struct weft__thread_start {
	void *(*fn)(void *);
	void *arg;
	char name[16];   /* at most 15 bytes are shown; longer names are cut */
};

static void *weft__thread_trampoline(void *p)
{
	struct weft__thread_start st = *(struct weft__thread_start *)p;
	free(p);
	/* Failing to name is harmless. */
	if (st.name[0]) {
#if defined(__APPLE__)
		pthread_setname_np(st.name);
#elif defined(__NetBSD__)
		pthread_setname_np(pthread_self(), "%s", st.name);
#elif defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__DragonFly__)
		pthread_set_name_np(pthread_self(), st.name);
#else
		pthread_setname_np(pthread_self(), st.name);
#endif
	}
	return st.fn(st.arg);
}

#if !WEFT__FUTEX_PORTABLE
/* Elsewhere: futex_portable.c. */
int weft__sys_futex_wait(_Atomic uint32_t *addr, uint32_t val, const struct timespec *until)
{
	/* WAIT_BITSET: its timeout is absolute, on CLOCK_MONOTONIC (no
	 * FUTEX_CLOCK_REALTIME), so a retry after a spurious return keeps
	 * the same deadline. */
	WEFT__SYSCALL_NOFAULT((int)syscall(SYS_futex, (uint32_t *)addr,
					   FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, until,
					   NULL, FUTEX_BITSET_MATCH_ANY));
}

int weft__sys_futex_wake(_Atomic uint32_t *addr, int n)
{
	WEFT__SYSCALL_NOFAULT((int)syscall(SYS_futex, (uint32_t *)addr,
					   FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0));
}
#endif

int weft__thread_create(pthread_t *th, void *(*fn)(void *), void *arg, const char *name)
{
	int rc = weft__fault_hit(WEFT__FAULT_THREAD);
	if (rc < 0)
		return rc;
	/* Plain malloc, not weft__alloc: the thread site above is the one
	 * a test arms for thread creation; this must not spend an
	 * allocation fault meant for something else. */
	struct weft__thread_start *st = malloc(sizeof *st);
	if (!st)
		return -ENOMEM;
	st->fn = fn;
	st->arg = arg;
	snprintf(st->name, sizeof st->name, "%s", name ? name : "");
	/* The new thread inherits this mask: every signal blocked but the
	 * synchronous ones. Those are raised by the faulting thread itself;
	 * blocked, the kernel would kill the process without running a
	 * crash handler (or, later, a fiber's guard-page handler). */
	sigset_t mask, old;
	sigfillset(&mask);
	sigdelset(&mask, SIGSEGV);
	sigdelset(&mask, SIGBUS);
	sigdelset(&mask, SIGFPE);
	sigdelset(&mask, SIGILL);
	sigdelset(&mask, SIGTRAP);
	sigdelset(&mask, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &mask, &old);
	rc = pthread_create(th, NULL, weft__thread_trampoline, st);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		free(st);
	return -rc;
}

int weft__sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	WEFT__SYSCALL(WEFT__FAULT_SIGACTION, sigaction(sig, act, old));
}

int weft__sys_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr)
{
	int f = weft__fault_hit(WEFT__FAULT_LOCK_INIT);
	if (f)
		return f;
	return -pthread_mutex_init(m, attr);
}

int weft__sys_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr)
{
	int f = weft__fault_hit(WEFT__FAULT_LOCK_INIT);
	if (f)
		return f;
	return -pthread_cond_init(c, attr);
}

int weft__sys_condattr_monotonic(pthread_condattr_t *attr)
{
#if defined(__APPLE__)
	(void)attr;   /* no pthread_condattr_setclock: see the wait below */
	return 0;
#else
	return pthread_condattr_setclock(attr, CLOCK_MONOTONIC);
#endif
}

int weft__sys_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
			      const struct timespec *until)
{
#if defined(__APPLE__)
	/* The wait takes a relative time on a clock of its own: measure
	 * it from ours, and call a timeout before our deadline spurious
	 * (the caller waits again with the same deadline). */
	struct timespec now, rel;
	clock_gettime(CLOCK_MONOTONIC, &now);
	rel.tv_sec = until->tv_sec - now.tv_sec;
	rel.tv_nsec = until->tv_nsec - now.tv_nsec;
	if (rel.tv_nsec < 0) {
		rel.tv_sec--;
		rel.tv_nsec += 1000000000;
	}
	if (rel.tv_sec < 0)
		return ETIMEDOUT;
	int e = pthread_cond_timedwait_relative_np(c, m, &rel);
	if (e == ETIMEDOUT) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec < until->tv_sec ||
		    (now.tv_sec == until->tv_sec && now.tv_nsec < until->tv_nsec))
			e = 0;
	}
	return e;
#else
	return pthread_cond_timedwait(c, m, until);
#endif
}

int weft__sys_open_mode(const char *path, int flags, unsigned mode)
{
	WEFT__SYSCALL(WEFT__FAULT_SOCKET, open(path, flags | O_CLOEXEC, (mode_t)mode));
}

int weft__sys_fstat(int fd, struct stat *st)
{
	WEFT__SYSCALL_NOFAULT(fstat(fd, st));
}
