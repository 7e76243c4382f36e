/*
 * sys.h - the platform layer: the door through which the runtime reaches
 * the OS, and the failure injection every syscall consults.
 *
 * Every allocation and every portable syscall the runtime makes goes
 * through the wrappers here. A wrapper returns what the libc call
 * returns, except that syscall wrappers return -errno instead of -1 with
 * errno set, the convention of the whole runtime. Where Linux has a call
 * or flag the BSDs and macOS lack (accept4, SOCK_NONBLOCK/SOCK_CLOEXEC,
 * MSG_NOSIGNAL, pipe2, the thread-naming call), sys.c uses it
 * under #ifdef and falls back to the portable sequence (accept + fcntl,
 * SO_NOSIGPIPE), so the callers above never name a Linux-only call; the
 * meson option simulate_macos makes a Linux build take macOS's sequence,
 * so that code is compiled and run here too.
 *
 * An I/O backend's own calls (epoll_* and eventfd in io_epoll.c; kevent
 * in io_kqueue.c) are not here: each backend file owns its
 * syscalls and wraps them itself, calling weft__fault_hit with its
 * backend sites first and weft__sys_result after, so failure injection
 * covers every backend the same way.
 *
 * Failure injection: weft__fault_arm(site, nth, err) makes the nth call
 * (1-based) through @site fail with @err; the fast path is one relaxed
 * load of a global counter that is zero unless a test armed a fault.
 */
#ifndef WEFT__SYS_H
#define WEFT__SYS_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Helpers every layer uses. */
#define weft__container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

#define weft__likely(x) __builtin_expect(!!(x), 1)
#define weft__unlikely(x) __builtin_expect(!!(x), 0)

enum weft__fault_site {
	WEFT__FAULT_ALLOC = 0,
	WEFT__FAULT_THREAD,       /* pthread_create */
	/* The I/O backend's own calls (io_backend.h), one set for every
	 * backend: */
	WEFT__FAULT_BACKEND_WAKE, /* making its wake-up channel (eventfd; kqueue: EVFILT_USER or the pipe) */
	WEFT__FAULT_BACKEND,      /* making it and (de)registering fds (epoll_create1, epoll_ctl; kqueue, kevent) */
	WEFT__FAULT_SOCKET,       /* socket, accept */
	WEFT__FAULT_CONNECT,
	WEFT__FAULT_READ,         /* read, recv, recvfrom, readv */
	WEFT__FAULT_WRITE,        /* write, send, sendto, writev */
	WEFT__FAULT_BACKEND_WAIT, /* its wait (epoll_wait, the waiting kevent: the reactor's turn) */
	WEFT__FAULT_LOCK_INIT,    /* pthread_mutex_init, pthread_cond_init */
	WEFT__FAULT_SIGACTION,    /* sigaction */
	WEFT__FAULT_CLOCK,        /* clock_gettime */
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

/* A raw syscall's return value @r in the runtime's convention: @r, or
 * -errno when @r < 0. For the backends' own wrappers (see the top). */
static inline long weft__sys_result(long r)
{
	return r < 0 ? -errno : r;
}

/* Arms a fault: the @nth next call through @site fails with -@err (err > 0).
 * nth == 0 disarms @site. For tests only. */
void weft__fault_arm(enum weft__fault_site site, unsigned nth, int err);
/* Disarms every site. */
void weft__fault_reset(void);

/*
 * Perturbation points, for tests only. Built with `-Dperturb=true`, each
 * WEFT__PERTURB(site) in a concurrency protocol calls the hook a test
 * installed (if any), which may stall or yield the calling thread to hold
 * a race window open on purpose; without the option the macro is empty,
 * so a release build carries no trace of it. The same option builds the
 * seeded perturbation mode (sys_perturb.h), whose hook every atomic in
 * the library calls, these sites' own load included.
 */
enum weft__perturb_site {
	/* A thread outside the runtime has queued a task (inject queue)
	 * and is about to notify the runtime (schedule, both flavours). */
	WEFT__PERTURB_REMOTE_QUEUED,
	/* A multi-thread worker woke from park with no work and no
	 * notification, and is about to sleep again (worker.c). */
	WEFT__PERTURB_PARK_SPURIOUS,
	/* A multi-thread worker is about to park: as a searcher, or not
	 * searching (the cap refused it), still counted unparked (worker.c). */
	WEFT__PERTURB_PARK_SEARCHING,
	WEFT__PERTURB_PARK_NOT_SEARCHING,
	/* A oneshot receive has stored its waker in the slot and is about to
	 * publish WAKER (sync_oneshot.c): a send that finishes here finds no
	 * waker, and the receive must drop the one it stored. */
	WEFT__PERTURB_ONESHOT_REGISTER,
	WEFT__PERTURB_SITES
};

#ifdef WEFT_PERTURB
typedef void (*weft__perturb_fn)(enum weft__perturb_site site);
/* Set by a test before the race it opens; NULL: no hook. */
extern _Atomic(weft__perturb_fn) weft__perturb_hook;

static inline void weft__perturb(enum weft__perturb_site site)
{
	/* Acquire: a hook installed by a test is seen with what it uses. */
	weft__perturb_fn fn = atomic_load_explicit(&weft__perturb_hook,
						   memory_order_acquire);
	if (fn)
		fn(site);
}
#define WEFT__PERTURB(site) weft__perturb(site)
#else
#define WEFT__PERTURB(site) ((void)0)
#endif

/* Allocation. weft__alloc returns NULL on failure (real or injected). */
void *weft__alloc(size_t size);
void *weft__calloc(size_t n, size_t size);
/* Zeroed @size bytes at an @align boundary (a power of two, at least
 * sizeof(void *)), freed with weft__free. */
void *weft__calloc_aligned(size_t align, size_t size);
void weft__free(void *p);
/* @size bytes (a multiple of the page size) of fresh zeroed memory at an
 * @align boundary (a power of two, at least the page size), straight
 * from the kernel (mmap), or NULL; an allocation fault site like
 * weft__alloc. Returned with weft__unmap, whole or in page-aligned
 * pieces. */
void *weft__map_aligned(size_t size, size_t align);
/* 0, or -errno when the kernel refused (ENOMEM: unmapping the middle of
 * a mapping splits it, which can pass vm.max_map_count); the memory is
 * then still mapped and still counted. */
int weft__unmap(void *p, size_t size);
/* Bytes mapped by weft__map_aligned and not yet returned, process-wide
 * (a leak check for tests: malloc's statistics do not see them). */
size_t weft__mapped_bytes(void);

/*
 * Syscall wrappers: each returns what the call returns on success and
 * -errno on failure (real or injected through the site named beside it).
 */
struct iovec;
struct msghdr;
struct sockaddr;

int weft__sys_close(int fd);                                   /* none */
int weft__sys_open(const char *path, int flags);               /* SOCKET (an fd), + cloexec */
int weft__sys_socket(int domain, int type, int proto);         /* SOCKET, + nonblocking, cloexec */
int weft__sys_accept(int fd, struct sockaddr *sa, socklen_t *len); /* SOCKET, + nonblocking, cloexec (accept4 on Linux) */
int weft__sys_connect(int fd, const struct sockaddr *sa, socklen_t len); /* CONNECT */
int weft__sys_bind(int fd, const struct sockaddr *sa, socklen_t len);    /* SOCKET */
int weft__sys_listen(int fd, int backlog);                     /* SOCKET */
int weft__sys_shutdown(int fd, int how);                       /* none */
int weft__sys_pipe(int fds[2]);                                /* none; both ends nonblocking, cloexec */
int weft__sys_getsockname(int fd, struct sockaddr *sa, socklen_t *len);
int weft__sys_getpeername(int fd, struct sockaddr *sa, socklen_t *len);
int weft__sys_setsockopt(int fd, int level, int opt, const void *val, socklen_t len);
int weft__sys_getsockopt(int fd, int level, int opt, void *val, socklen_t *len);
ssize_t weft__sys_read(int fd, void *buf, size_t len);         /* READ */
ssize_t weft__sys_readv(int fd, const struct iovec *iov, int n); /* READ */
ssize_t weft__sys_recvfrom(int fd, void *buf, size_t len, int flags,
			   struct sockaddr *sa, socklen_t *salen);  /* READ */
ssize_t weft__sys_write(int fd, const void *buf, size_t len);  /* WRITE */
ssize_t weft__sys_send(int fd, const void *buf, size_t len, int flags); /* WRITE, no SIGPIPE */
ssize_t weft__sys_sendto(int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *sa, socklen_t salen); /* WRITE, no SIGPIPE */
ssize_t weft__sys_sendmsg(int fd, const struct msghdr *msg, int flags); /* WRITE, no SIGPIPE */

/*
 * futex(2) on a 32-bit word, private to the process (park.c): wait
 * sleeps while *@addr == @val, until a wake, a signal, or the absolute
 * CLOCK_MONOTONIC time @until (NULL: no limit): 0, -EAGAIN (the value
 * differed), -EINTR or -ETIMEDOUT; it may also return 0 for no reason,
 * so callers re-check the word. wake wakes at most @n waiters on @addr
 * and returns how many; it only hashes the address, so @addr may be
 * memory that was freed since (a stale wake is a spurious one for
 * whoever waits there now). No fault site: a sleep cannot fail.
 *
 * Linux: futex(2) itself (sys.c). Elsewhere, and in the simulated macOS
 * build (WEFT_SIMULATE_MACOS), a table of mutex and condition variable
 * buckets chosen by a hash of the address (futex_portable.c); it never
 * returns -EINTR, and its wake returns a count that may exceed the
 * waiters of @addr (they share the bucket).
 */
#if !defined(__linux__) || defined(WEFT_SIMULATE_MACOS)
#define WEFT__FUTEX_PORTABLE 1
#else
#define WEFT__FUTEX_PORTABLE 0
#endif
struct timespec;
int weft__sys_futex_wait(_Atomic uint32_t *addr, uint32_t val, const struct timespec *until);
int weft__sys_futex_wake(_Atomic uint32_t *addr, int n);

/*
 * Calls of the read family (read, readv, recvfrom) made by this thread,
 * so a test can see a syscall that was saved. Thread-local: counting
 * costs no shared cache line.
 */
extern _Thread_local unsigned long weft__sys_read_calls
	__attribute__((tls_model("initial-exec")));

/* Starts a thread named @name (NULL: unnamed; cut to 15 bytes; the
 * thread names itself before it calls @fn) with
 * asynchronous signals blocked (they belong to the application's own
 * threads); the synchronous ones (SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGTRAP, SIGSYS) stay deliverable, so a crash handler runs on it.
 * 0 or -errno. */
#include <pthread.h>
int weft__thread_create(pthread_t *th, void *(*fn)(void *), void *arg, const char *name);

/* sigaction(2) (signal.c): installs or restores a disposition. 0 or
 * -errno; site SIGACTION. */
struct sigaction;
int weft__sys_sigaction(int sig, const struct sigaction *act, struct sigaction *old);

/* pthread_mutex_init and pthread_cond_init for every lock and condition
 * variable of the library: 0 or -errno (the error number those return,
 * negated); site LOCK_INIT. */
int weft__sys_mutex_init(pthread_mutex_t *m, const pthread_mutexattr_t *attr);
int weft__sys_cond_init(pthread_cond_t *c, const pthread_condattr_t *attr);

/*
 * Timed waits on CLOCK_MONOTONIC, the one clock the library's deadlines
 * use. weft__sys_condattr_monotonic makes @attr's condition variables
 * take CLOCK_MONOTONIC deadlines (pthread_condattr_setclock; a no-op on
 * macOS, which lacks it): 0 or an error number. weft__sys_cond_wait_until
 * waits on such a condition variable (held @m) until @until, absolute on
 * CLOCK_MONOTONIC: 0 (woken, or spuriously) or ETIMEDOUT once @until has
 * passed; on macOS through a relative wait computed from a
 * CLOCK_MONOTONIC reading (pthread_cond_timedwait_relative_np). No fault
 * site: a sleep cannot fail.
 */
int weft__sys_condattr_monotonic(pthread_condattr_t *attr);
int weft__sys_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m,
			      const struct timespec *until);

/* clock_gettime(2), for every clock read of the library: 0 or -errno;
 * site CLOCK. On failure *@ts is left as it was: each caller says what
 * it does without a reading (none of them can hang or fail for it).
 * Inline: the timer clock reads it on every registration. */
#include <time.h>
static inline int weft__sys_clock_gettime(clockid_t clk, struct timespec *ts)
{
	int f = weft__fault_hit(WEFT__FAULT_CLOCK);
	if (weft__unlikely(f))
		return f;
	return clock_gettime(clk, ts) < 0 ? -errno : 0;
}

/* open(2) with a mode, for O_CREAT (fs.c); + cloexec. Site SOCKET (an fd),
 * like weft__sys_open. fstat(2): no fault site. */
struct stat;
int weft__sys_open_mode(const char *path, int flags, unsigned mode);
int weft__sys_fstat(int fd, struct stat *st);

/* CPUs this process may use (cpus.c): the calling thread's affinity
 * mask, lowered to the cgroup CPU quota rounded up; at least 1. */
uint32_t weft__available_cpus(void);
/* The cgroup CPU limit for a process whose /proc/self/cgroup reads
 * @proc_cgroup, with the cgroup file system mounted at @root: the lowest
 * rounded-up quota from its cgroup up to the root (v2 cpu.max, v1 cfs
 * quota and period); 0 when there is none. */
uint32_t weft__cgroup_cpu_limit(const char *root, const char *proc_cgroup);

#endif /* WEFT__SYS_H */
