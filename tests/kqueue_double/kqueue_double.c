/*
 * kqueue_double.c - the kqueue(2) test double, on epoll: a table of
 * knotes per kqueue, filled by edges from an epoll instance and read with
 * poll(), FIONREAD and SIOCOUTQ when a knote is retrieved. The rules it
 * follows, their manual sections, and what it cannot reproduce are in
 * kqueue_double.h; the rule numbers below refer to that table.
 *
 * Locking. Each kqueue has one mutex over its tables; a thread that
 * waits drops it around epoll_wait. The one exception is a call that
 * only triggers user events (what a wake-up, even from a signal handler,
 * sends): it reads the user slots through atomics and writes the
 * internal eventfd, taking no lock (see kqd_user_slot).
 */
#include "kqueue_double.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Kqueue descriptors index a fixed table (its pages stay untouched until
 * used); a descriptor beyond it makes kqueue() fail with EMFILE. */
#define KQD_MAX_FD 65536
/* User events per kqueue (weft uses one). */
#define KQD_USER_SLOTS 8
/* The epoll data of the internal eventfd in the outer epoll set. */
#define KQD_WAKE_MARK UINT64_MAX

struct kqd_note {
	bool used;
	bool enabled;
	bool pending;            /* an edge or a change since the last retrieval */
	unsigned short flags;    /* EV_CLEAR | EV_ONESHOT | EV_DISPATCH | EV_RECEIPT */
	void *udata;
	unsigned short inj_flags;   /* kqueue_double_inject, for the next retrieval */
	unsigned int inj_fflags;
};

struct kqd_fd {
	struct kqd_note note[2];   /* [0] EVFILT_READ, [1] EVFILT_WRITE */
	dev_t dev;                 /* the file the knotes belong to (rule 13) */
	ino_t ino;
	bool socket;
	bool in_epoll[2];          /* in the read or write epoll set */
	bool queued;               /* on the kqueue's queue of pending descriptors */
};

/* A user event. exists, ident, triggered and fflags are atomics because
 * the lock-free trigger reads and writes them; the rest is under the
 * lock. An adder stores ident (relaxed) and then exists (release); a
 * trigger loads exists (acquire) and then ident, so it never matches a
 * half-made slot. A trigger that races with a delete may set triggered
 * on the slot just freed: the next add of the slot clears it first. */
struct kqd_user {
	_Atomic bool exists;
	_Atomic uintptr_t ident;
	_Atomic bool triggered;
	_Atomic unsigned int fflags;
	bool enabled;
	unsigned short flags;
	void *udata;
};

struct kqd {
	int epfd;                /* the kqueue descriptor itself: the outer epoll */
	int ep[2];               /* inner epolls: read interest, write interest */
	int wakefd;              /* eventfd that ends a wait in epoll_wait */
	bool user_filter;        /* EVFILT_USER exists (rule 18); set at creation */
	pthread_mutex_t lock;
	struct kqd_fd *fds;      /* indexed by descriptor */
	size_t nfds;
	int *queue;              /* descriptors with a pending knote, each once */
	size_t qlen;             /* (capacity: nfds) */
	struct kqd_user user[KQD_USER_SLOTS];
	int sleepers;            /* threads in epoll_wait on this kqueue */
	/* kqueue_double_fail_changes: the next fail_count changes of
	 * fail_filter (0: any) with every flag of fail_flags fail with
	 * fail_err (0: none armed). */
	short fail_filter;
	unsigned short fail_flags;
	int fail_err;
	int fail_count;
	/* kqueue_double_before_call: run once at the top of the next call
	 * that has an eventlist (fn NULL: none armed). */
	void (*before_fn)(void *arg);
	void *before_arg;
	/* kevent() calls with an eventlist made on this kqueue. */
	uint64_t calls;
};

/* Acquire loads pair with kqueue()'s release exchange: the kqueue is
 * initialised before any thread finds it. */
static _Atomic(struct kqd *) kqd_table[KQD_MAX_FD];

/* -1: not read yet (the environment decides); 0 or 1. Relaxed: a
 * setting, ordered by the test that sets it before it makes kqueues. */
static _Atomic int kqd_user_default = -1;

void kqueue_double_set_user_filter(bool available)
{
	atomic_store_explicit(&kqd_user_default, available ? 1 : 0, memory_order_relaxed);
}

static bool kqd_user_filter_default(void)
{
	int v = atomic_load_explicit(&kqd_user_default, memory_order_relaxed);
	if (v < 0) {
		const char *e = getenv("KQUEUE_DOUBLE_NO_EVFILT_USER");
		v = e && *e ? 0 : 1;
		int expected = -1;
		atomic_compare_exchange_strong_explicit(&kqd_user_default, &expected, v,
							memory_order_relaxed,
							memory_order_relaxed);
		v = atomic_load_explicit(&kqd_user_default, memory_order_relaxed);
	}
	return v == 1;
}

static struct kqd *kqd_get(int kq)
{
	if (kq < 0 || kq >= KQD_MAX_FD)
		return NULL;
	return atomic_load_explicit(&kqd_table[kq], memory_order_acquire);
}

/* Async-signal-safe: one write; errno kept. */
static void kqd_wake(struct kqd *k)
{
	int saved = errno;
	uint64_t one = 1;
	ssize_t r = write(k->wakefd, &one, sizeof one);
	(void)r;   /* EAGAIN: a wake-up is already pending */
	errno = saved;
}

static void kqd_free(struct kqd *k)
{
	close(k->wakefd);
	close(k->ep[0]);
	close(k->ep[1]);
	pthread_mutex_destroy(&k->lock);
	free(k->fds);
	free(k->queue);
	free(k);
}

int kqueue(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return -1;
	int err = EMFILE;
	if (ep >= KQD_MAX_FD)
		goto err_epoll;
	err = ENOMEM;
	struct kqd *k = calloc(1, sizeof *k);
	if (!k)
		goto err_epoll;
	k->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (k->wakefd < 0) {
		err = errno;
		goto err_kqd;
	}
	k->ep[0] = epoll_create1(EPOLL_CLOEXEC);
	k->ep[1] = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = KQD_WAKE_MARK };
	struct epoll_event r = { .events = EPOLLIN, .data.u64 = 0 };
	struct epoll_event w = { .events = EPOLLIN, .data.u64 = 1 };
	if (k->ep[0] < 0 || k->ep[1] < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, k->wakefd, &ev) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, k->ep[0], &r) < 0 ||
	    epoll_ctl(ep, EPOLL_CTL_ADD, k->ep[1], &w) < 0 ||
	    (errno = pthread_mutex_init(&k->lock, NULL)) != 0) {
		err = errno;
		close(k->wakefd);
		if (k->ep[0] >= 0)
			close(k->ep[0]);
		if (k->ep[1] >= 0)
			close(k->ep[1]);
		goto err_kqd;
	}
	k->epfd = ep;
	k->user_filter = kqd_user_filter_default();
	/* A kqueue closed with close(2) instead of kqueue_double_close left
	 * its table behind: its descriptor number is ours now, so it is
	 * surely dead. Release: see kqd_table. */
	struct kqd *old = atomic_exchange_explicit(&kqd_table[ep], k, memory_order_acq_rel);
	if (old)
		kqd_free(old);
	return ep;

err_kqd:
	free(k);
err_epoll:
	close(ep);
	errno = err;
	return -1;
}

int kqueue_double_close(int kq)
{
	if (kq < 0 || kq >= KQD_MAX_FD) {
		errno = EBADF;
		return -1;
	}
	/* Acquire: the kqueue's tables are read below. */
	struct kqd *k = atomic_exchange_explicit(&kqd_table[kq], NULL, memory_order_acq_rel);
	if (!k) {
		errno = EBADF;
		return -1;
	}
	kqd_free(k);
	return close(kq);
}

/* ------------------------------------------------------ descriptors */

/*
 * The calls the double makes on the program's descriptors (not its own
 * epoll sets and eventfd) go through syscall(2), not libc. The double
 * stands for the kernel: it looks at a descriptor that another thread
 * may be closing, or has just reused, at that very moment (that is how
 * it notices a close, rule 13), which the kernel does under its own
 * locks. ThreadSanitizer models every descriptor as shared memory that
 * libc's calls read and write, so through libc those probes read as
 * races between the program's threads; through syscall(2) it does not
 * see them. The results are the same.
 */
static int kqd_fstat(int fd, struct stat *st)
{
	return (int)syscall(SYS_fstat, fd, st);
}

static int kqd_ioctl_int(int fd, unsigned long req, int *v)
{
	return (int)syscall(SYS_ioctl, fd, req, v);
}

static int kqd_poll1(struct pollfd *p)
{
	static const struct timespec zero = { 0, 0 };
	return (int)syscall(SYS_ppoll, p, 1, &zero, NULL, 0);
}

static int kqd_sndbuf(int fd, int *size)
{
	socklen_t len = sizeof *size;
	return (int)syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_SNDBUF, size, &len);
}

static int kqd_pipe_size(int fd)
{
	return (int)syscall(SYS_fcntl, fd, F_GETPIPE_SZ);
}

static int kqd_epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
	return (int)syscall(SYS_epoll_ctl, ep, op, fd, ev);
}

/* Room for descriptor @fd in the tables. 0 or ENOMEM. */
static int kqd_reserve(struct kqd *k, int fd)
{
	if ((size_t)fd < k->nfds)
		return 0;
	size_t n = k->nfds ? k->nfds : 64;
	while (n <= (size_t)fd)
		n *= 2;
	struct kqd_fd *fds = realloc(k->fds, n * sizeof *fds);
	if (!fds)
		return ENOMEM;
	memset(fds + k->nfds, 0, (n - k->nfds) * sizeof *fds);
	k->fds = fds;
	int *q = realloc(k->queue, n * sizeof *q);
	if (!q)
		return ENOMEM;   /* fds grew; nfds did not: harmless */
	k->queue = q;
	k->nfds = n;
	return 0;
}

static void kqd_enqueue(struct kqd *k, int fd)
{
	struct kqd_fd *f = &k->fds[fd];
	if (!f->queued) {
		f->queued = true;
		k->queue[k->qlen++] = fd;
	}
	if (k->sleepers)
		kqd_wake(k);
}

/* Drops knote @d of @fd, and the descriptor from that direction's epoll. */
static void kqd_note_drop(struct kqd *k, int fd, int d)
{
	struct kqd_fd *f = &k->fds[fd];
	memset(&f->note[d], 0, sizeof f->note[d]);
	if (f->in_epoll[d]) {
		struct epoll_event none = { 0 };
		/* ENOENT or EBADF: the file was closed, epoll forgot it. */
		(void)kqd_epoll_ctl(k->ep[d], EPOLL_CTL_DEL, fd, &none);
		f->in_epoll[d] = false;
	}
}

/* What close(2) would have done to @fd's knotes (rule 13). */
static void kqd_forget(struct kqd *k, int fd)
{
	kqd_note_drop(k, fd, 0);
	kqd_note_drop(k, fd, 1);
}

/* Whether @fd's knotes belong to a file that is gone: @fd closed, or
 * reused for another file (see "Close" in kqueue_double.h). */
static bool kqd_stale(struct kqd *k, int fd)
{
	struct kqd_fd *f = &k->fds[fd];
	struct stat st;
	if (kqd_fstat(fd, &st) < 0)
		return true;
	return st.st_dev != f->dev || st.st_ino != f->ino;
}

/* Applies one change for EVFILT_READ or EVFILT_WRITE. 0 or an errno. */
static int kqd_apply_fd(struct kqd *k, const struct kevent *c)
{
	if (c->ident > INT_MAX)
		return EBADF;
	int fd = (int)c->ident;
	int d = c->filter == EVFILT_READ ? 0 : 1;
	struct stat st;
	if (kqd_fstat(fd, &st) < 0) {
		if ((size_t)fd < k->nfds)
			kqd_forget(k, fd);   /* closed: rule 13 */
		return EBADF;            /* rule 3 */
	}
	int err = kqd_reserve(k, fd);
	if (err)
		return err;
	struct kqd_fd *f = &k->fds[fd];
	if ((f->note[0].used || f->note[1].used) &&
	    (st.st_dev != f->dev || st.st_ino != f->ino))
		kqd_forget(k, fd);   /* reused for another file: rule 13 */
	struct kqd_note *n = &f->note[d];

	if (c->flags & EV_DELETE) {
		if (!n->used)
			return ENOENT;   /* rule 3 */
		kqd_note_drop(k, fd, d);
		return 0;
	}
	if (c->flags & EV_ADD) {
		if (!n->used) {
			/* Each direction in its own epoll set, so that an edge
			 * of one (data arriving) is not taken for an edge of
			 * the other (epoll reports the whole readiness mask
			 * with any edge, but wakes an entry only for the
			 * events it asked for). */
			struct epoll_event ev = {
				.events = (d == 0 ? EPOLLIN | EPOLLRDHUP : EPOLLOUT) | EPOLLET,
				.data.u64 = (uint64_t)fd,
			};
			if (!f->in_epoll[d] && kqd_epoll_ctl(k->ep[d], EPOLL_CTL_ADD, fd, &ev) < 0)
				return errno;   /* EPERM: a regular file (see "Cannot") */
			f->in_epoll[d] = true;
			f->dev = st.st_dev;
			f->ino = st.st_ino;
			f->socket = S_ISSOCK(st.st_mode);
			memset(n, 0, sizeof *n);
			n->used = true;
		}
		/* Rule 2: new or modified, enabled unless EV_DISABLE, and the
		 * filter runs (at the retrieval, which runs it anyway:
		 * rule 6). */
		n->flags = c->flags & (EV_CLEAR | EV_ONESHOT | EV_DISPATCH | EV_RECEIPT);
		n->udata = c->udata;
		n->enabled = !(c->flags & EV_DISABLE);
		n->pending = true;
		if (n->enabled)
			kqd_enqueue(k, fd);
		return 0;
	}
	if (!n->used)
		return ENOENT;   /* rule 4 */
	if (c->flags & EV_DISABLE)
		n->enabled = false;
	if (c->flags & EV_ENABLE) {
		/* The double runs the filter again on enable too. */
		n->enabled = true;
		n->pending = true;
		kqd_enqueue(k, fd);
	}
	return 0;
}

/* Runs the filter of knote @d of @fd (rules 14-16): whether it is true
 * now, with the event to return in *@ev. */
static bool kqd_filter(struct kqd *k, int fd, int d, struct kevent *ev)
{
	struct kqd_fd *f = &k->fds[fd];
	struct kqd_note *n = &f->note[d];
	struct pollfd p = { .fd = fd, .events = d == 0 ? POLLIN | POLLRDHUP : POLLOUT };
	int r;
	while ((r = kqd_poll1(&p)) < 0 && errno == EINTR)
		;
	short rev = r < 0 || (p.revents & POLLNVAL) ? 0 : p.revents;
	bool ready, eof;
	int64_t data = 0;
	int v = 0;
	if (d == 0) {
		eof = rev & (POLLRDHUP | POLLHUP);
		ready = eof || (rev & (POLLIN | POLLERR));
		if (ready) {
			if (kqd_ioctl_int(fd, FIONREAD, &v) == 0)
				data = v;
			else   /* a listening socket: see "Cannot" */
				data = (rev & POLLIN) ? 1 : 0;
		}
	} else {
		/* A socket with an error but not shut down is writable
		 * (rule 16) without EV_EOF; a pipe whose reader left says
		 * POLLERR, which is its EV_EOF (rule 15). */
		eof = (rev & POLLHUP) || ((rev & POLLERR) && !f->socket);
		ready = rev & (POLLOUT | POLLHUP | POLLERR);
		if (ready) {
			int size = 0;
			if (f->socket) {
				if (kqd_sndbuf(fd, &size) == 0 && kqd_ioctl_int(fd, SIOCOUTQ, &v) == 0)
					data = (int64_t)size - v;
			} else if ((size = kqd_pipe_size(fd)) > 0 &&
				   kqd_ioctl_int(fd, FIONREAD, &v) == 0) {
				data = (int64_t)size - v;
			}
			if (data < 0)
				data = 0;
		}
	}
	unsigned short flags = n->flags | (eof ? EV_EOF : 0);
	unsigned int fflags = 0;   /* the socket error: see "Cannot" */
	if (n->inj_flags || n->inj_fflags) {
		ready = true;
		flags |= n->inj_flags;
		fflags |= n->inj_fflags;
		n->inj_flags = 0;
		n->inj_fflags = 0;
	}
	if (!ready)
		return false;
	EV_SET(ev, (uintptr_t)fd, d == 0 ? EVFILT_READ : EVFILT_WRITE, flags, fflags, data,
	       n->udata);
	return true;
}

/* ------------------------------------------------------- user events */

/* The slot of user event @ident, or NULL. Lock-free (see kqd_user). */
static struct kqd_user *kqd_user_slot(struct kqd *k, uintptr_t ident)
{
	for (int i = 0; i < KQD_USER_SLOTS; i++) {
		struct kqd_user *s = &k->user[i];
		/* Acquire: pairs with the adder's release of exists. */
		if (atomic_load_explicit(&s->exists, memory_order_acquire) &&
		    atomic_load_explicit(&s->ident, memory_order_relaxed) == ident)
			return s;
	}
	return NULL;
}

/* The fflags operation and NOTE_TRIGGER of a change (rule 17), lock-free:
 * relaxed RMWs on fflags (a value, published with the trigger), and the
 * trigger a release store, read by the retrieval's exchange. */
static void kqd_user_touch(struct kqd *k, struct kqd_user *s, unsigned int fflags)
{
	unsigned int v = fflags & NOTE_FFLAGSMASK;
	switch (fflags & NOTE_FFCTRLMASK) {
	case NOTE_FFAND:
		atomic_fetch_and_explicit(&s->fflags, v, memory_order_relaxed);
		break;
	case NOTE_FFOR:
		atomic_fetch_or_explicit(&s->fflags, v, memory_order_relaxed);
		break;
	case NOTE_FFCOPY:
		atomic_store_explicit(&s->fflags, v, memory_order_relaxed);
		break;
	default:   /* NOTE_FFNOP */
		break;
	}
	if (fflags & NOTE_TRIGGER) {
		atomic_store_explicit(&s->triggered, true, memory_order_release);
		kqd_wake(k);
	}
}

/* Applies one EVFILT_USER change; the lock is held. 0 or an errno. */
static int kqd_apply_user(struct kqd *k, const struct kevent *c)
{
	if (!k->user_filter)
		return EINVAL;   /* rule 18 */
	struct kqd_user *s = kqd_user_slot(k, c->ident);
	if (c->flags & EV_DELETE) {
		if (!s)
			return ENOENT;
		/* Release: a trigger that still finds it sees a whole slot. */
		atomic_store_explicit(&s->exists, false, memory_order_release);
		return 0;
	}
	if (c->flags & EV_ADD) {
		if (!s) {
			/* Relaxed: exists is only written under the lock,
			 * which this thread holds. */
			for (int i = 0; i < KQD_USER_SLOTS && !s; i++)
				if (!atomic_load_explicit(&k->user[i].exists, memory_order_relaxed))
					s = &k->user[i];
			if (!s)
				return ENOMEM;
			/* Relaxed: published by the release of exists below. */
			atomic_store_explicit(&s->ident, c->ident, memory_order_relaxed);
			atomic_store_explicit(&s->triggered, false, memory_order_relaxed);
			atomic_store_explicit(&s->fflags, 0, memory_order_relaxed);
			/* Release: see kqd_user. */
			atomic_store_explicit(&s->exists, true, memory_order_release);
		}
		s->flags = c->flags & (EV_CLEAR | EV_ONESHOT | EV_DISPATCH | EV_RECEIPT);
		s->udata = c->udata;
		s->enabled = !(c->flags & EV_DISABLE);
	} else if (!s) {
		return ENOENT;   /* rule 17 */
	}
	if (c->flags & EV_DISABLE)
		s->enabled = false;
	if (c->flags & EV_ENABLE)
		s->enabled = true;
	kqd_user_touch(k, s, c->fflags);
	return 0;
}

/* A change list that only triggers (or edits the fflags of) user events:
 * what the lock-free path may apply. */
static bool kqd_only_touches(const struct kevent *c, int n)
{
	if (n == 0)
		return false;
	for (int i = 0; i < n; i++)
		if (c[i].filter != EVFILT_USER ||
		    (c[i].flags & (EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_RECEIPT)))
			return false;
	return true;
}

/* --------------------------------------------------------- retrieval */

/* Marks knote @d of the descriptors in @evs (from direction @d's epoll)
 * pending. */
static void kqd_edges(struct kqd *k, int d, const struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		int fd = (int)evs[i].data.u64;
		if ((size_t)fd >= k->nfds || !k->fds[fd].note[d].used)
			continue;
		struct kqd_fd *f = &k->fds[fd];
		f->note[d].pending = true;
		if (!f->queued) {
			f->queued = true;
			k->queue[k->qlen++] = fd;
		}
	}
}

/* Takes every edge the two inner epolls have ready, and a wake-up,
 * without waiting. */
static void kqd_poll_edges(struct kqd *k)
{
	uint64_t v;
	ssize_t r = read(k->wakefd, &v, sizeof v);
	(void)r;   /* EAGAIN: nothing to drain */
	struct epoll_event evs[64];
	for (int d = 0; d < 2; d++) {
		int n;
		do {
			n = epoll_wait(k->ep[d], evs, 64, 0);
			if (n > 0)
				kqd_edges(k, d, evs, n);
		} while (n == 64);
	}
}

/* Stores up to @cap pending events into @out (rules 5-7, 17). */
static int kqd_collect(struct kqd *k, struct kevent *out, int cap)
{
	int n = 0;
	for (int i = 0; i < KQD_USER_SLOTS && n < cap; i++) {
		struct kqd_user *s = &k->user[i];
		/* Relaxed: exists is only written under the lock, held here. */
		if (!atomic_load_explicit(&s->exists, memory_order_relaxed) || !s->enabled)
			continue;
		/* Acquire: pairs with the trigger's release. */
		bool trig = s->flags & EV_CLEAR
				    ? atomic_exchange_explicit(&s->triggered, false, memory_order_acquire)
				    : atomic_load_explicit(&s->triggered, memory_order_acquire);
		if (!trig)
			continue;
		/* Relaxed: fflags are a value, made visible by the trigger's
		 * release that the exchange above acquired; the ident was
		 * written under the lock. */
		unsigned int ff = atomic_load_explicit(&s->fflags, memory_order_relaxed);
		if (s->flags & EV_CLEAR)
			atomic_store_explicit(&s->fflags, 0, memory_order_relaxed);
		EV_SET(&out[n], atomic_load_explicit(&s->ident, memory_order_relaxed), EVFILT_USER,
		       s->flags, ff & NOTE_FFLAGSMASK, 0, s->udata);
		n++;
		if (s->flags & EV_ONESHOT)   /* Release: as in a delete. */
			atomic_store_explicit(&s->exists, false, memory_order_release);
		else if (s->flags & EV_DISPATCH)
			s->enabled = false;
	}
	size_t keep = 0;
	for (size_t i = 0; i < k->qlen; i++) {
		int fd = k->queue[i];
		struct kqd_fd *f = &k->fds[fd];
		bool again = false, checked = false;
		for (int d = 0; d < 2; d++) {
			struct kqd_note *no = &f->note[d];
			if (!no->used || !no->pending || !no->enabled)
				continue;   /* a disabled one waits for EV_ENABLE */
			if (n == cap) {
				again = true;
				break;
			}
			if (!checked) {
				checked = true;
				if (kqd_stale(k, fd)) {
					kqd_forget(k, fd);
					break;
				}
			}
			if (!kqd_filter(k, fd, d, &out[n])) {
				no->pending = false;   /* rule 6 */
				continue;
			}
			n++;
			if (no->flags & EV_ONESHOT) {
				kqd_note_drop(k, fd, d);
				continue;
			}
			if (no->flags & EV_DISPATCH)
				no->enabled = false;
			if (no->flags & EV_CLEAR)
				no->pending = false;   /* rule 5 */
			else
				again = true;          /* level: while it holds */
		}
		if (again)
			k->queue[keep++] = fd;
		else
			f->queued = false;
	}
	k->qlen = keep;
	return n;
}

/* Milliseconds from now to @deadline, rounded up; 0 once it passed. */
static int kqd_ms_left(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ns = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000000000 +
		     (deadline->tv_nsec - now.tv_nsec);
	if (ns <= 0)
		return 0;
	int64_t ms = (ns + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents, const struct timespec *timeout)
{
	struct kqd *k = kqd_get(kq);
	if (!k) {
		errno = EBADF;   /* rule 19 */
		return -1;
	}
	if (nchanges < 0 || nevents < 0 || (nchanges && !changelist) || (nevents && !eventlist)) {
		errno = EINVAL;
		return -1;
	}
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
			timeout->tv_nsec >= 1000000000)) {
		errno = EINVAL;   /* rule 11 */
		return -1;
	}
	/* The lock-free path (see the top): with no eventlist, an error has
	 * no room and fails the call (rule 8). */
	if (nevents == 0 && kqd_only_touches(changelist, nchanges)) {
		for (int i = 0; i < nchanges; i++) {
			struct kqd_user *s = k->user_filter ? kqd_user_slot(k, changelist[i].ident) : NULL;
			if (!s) {
				errno = k->user_filter ? ENOENT : EINVAL;
				return -1;
			}
			kqd_user_touch(k, s, changelist[i].fflags);
		}
		return 0;
	}

	pthread_mutex_lock(&k->lock);
	void (*before)(void *) = NULL;
	void *before_arg = NULL;
	if (nevents > 0) {
		k->calls++;
		before = k->before_fn;
		before_arg = k->before_arg;
		k->before_fn = NULL;
	}
	if (before) {
		/* Outside the lock: the hook may call kevent() itself. The
		 * changes are not applied yet (what a thread preempted here,
		 * inside the system call, would see). */
		pthread_mutex_unlock(&k->lock);
		before(before_arg);
		pthread_mutex_lock(&k->lock);
	}
	int nout = 0;
	for (int i = 0; i < nchanges; i++) {
		struct kevent c = changelist[i];   /* the eventlist may alias it: rule 10 */
		int err;
		if (k->fail_err && (k->fail_filter == 0 || c.filter == k->fail_filter) &&
		    (c.flags & k->fail_flags) == k->fail_flags) {
			err = k->fail_err;   /* armed by the test: not applied */
			if (--k->fail_count == 0)
				k->fail_err = 0;
		} else if (c.filter == EVFILT_READ || c.filter == EVFILT_WRITE)
			err = kqd_apply_fd(k, &c);
		else if (c.filter == EVFILT_USER)
			err = kqd_apply_user(k, &c);
		else
			err = EINVAL;   /* rule 18 */
		if (!err && !(c.flags & EV_RECEIPT))
			continue;
		if (nout == nevents) {   /* no room: rule 8 */
			pthread_mutex_unlock(&k->lock);
			if (err) {
				errno = err;
				return -1;
			}
			return nout;
		}
		c.flags = EV_ERROR;
		c.data = err;
		eventlist[nout++] = c;
	}
	/* Rule 9: error entries end the call; rule 11: so does nevents 0. */
	if (nout > 0 || nevents == 0) {
		pthread_mutex_unlock(&k->lock);
		return nout;
	}

	struct timespec deadline = { 0, 0 };
	if (timeout) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout->tv_sec;
		deadline.tv_nsec += timeout->tv_nsec;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	int n;
	for (;;) {
		kqd_poll_edges(k);
		n = kqd_collect(k, eventlist, nevents);
		if (n > 0)
			break;
		int ms = timeout ? kqd_ms_left(&deadline) : -1;
		if (ms == 0)
			break;
		struct epoll_event evs[64];
		k->sleepers++;
		pthread_mutex_unlock(&k->lock);
		/* The outer set: the wake-up eventfd and the two inner
		 * epolls (level: the loop's top drains them). */
		int got = epoll_wait(k->epfd, evs, 64, ms);
		int err = errno;
		pthread_mutex_lock(&k->lock);
		k->sleepers--;
		if (got < 0) {
			pthread_mutex_unlock(&k->lock);
			errno = err;   /* EINTR: rule 12 (the changes were applied) */
			return -1;
		}
	}
	pthread_mutex_unlock(&k->lock);
	return n;
}

int kqueue_double_inject(int kq, uintptr_t ident, short filter,
			 unsigned short flags, unsigned int fflags)
{
	struct kqd *k = kqd_get(kq);
	if (!k) {
		errno = EBADF;
		return -1;
	}
	int d = filter == EVFILT_READ ? 0 : filter == EVFILT_WRITE ? 1 : -1;
	pthread_mutex_lock(&k->lock);
	struct kqd_note *n = d >= 0 && ident < k->nfds ? &k->fds[ident].note[d] : NULL;
	if (!n || !n->used) {
		pthread_mutex_unlock(&k->lock);
		errno = ENOENT;
		return -1;
	}
	n->inj_flags |= flags;
	n->inj_fflags |= fflags;
	n->pending = true;
	kqd_enqueue(k, (int)ident);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

int kqueue_double_fail_change(int kq, short filter, unsigned short flags, int err)
{
	return kqueue_double_fail_changes(kq, filter, flags, err, 1);
}

int kqueue_double_fail_changes(int kq, short filter, unsigned short flags, int err, int count)
{
	struct kqd *k = kqd_get(kq);
	if (!k) {
		errno = EBADF;
		return -1;
	}
	pthread_mutex_lock(&k->lock);
	k->fail_filter = filter;
	k->fail_flags = flags;
	k->fail_err = count > 0 ? err : 0;
	k->fail_count = count;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

int kqueue_double_before_call(int kq, void (*fn)(void *arg), void *arg)
{
	struct kqd *k = kqd_get(kq);
	if (!k) {
		errno = EBADF;
		return -1;
	}
	pthread_mutex_lock(&k->lock);
	k->before_fn = fn;
	k->before_arg = arg;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

int64_t kqueue_double_calls(int kq)
{
	struct kqd *k = kqd_get(kq);
	if (!k) {
		errno = EBADF;
		return -1;
	}
	pthread_mutex_lock(&k->lock);
	int64_t n = (int64_t)k->calls;
	pthread_mutex_unlock(&k->lock);
	return n;
}
