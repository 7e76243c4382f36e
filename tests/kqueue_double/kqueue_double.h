/*
 * kqueue_double.h - a test double of the BSD kqueue(2)/kevent(2) calls,
 * built on Linux's epoll, so that weft's kqueue backend (runtime/io/
 * io_kqueue.c) compiles and runs, with the whole test suite, on a machine
 * with no BSD kernel. It is test support: meson links it into libweft only
 * in the simulated build (-Dio_backend=kqueue on Linux; meson's summary
 * says "kqueue: simulated"), and its own suite (tests/test_kqueue_double.c)
 * checks it against the table below in every Linux build.
 *
 * The backend includes <sys/event.h>; in the simulated build that name
 * resolves to tests/kqueue_double/sys/event.h, which includes this file,
 * so io_kqueue.c's only #ifdef for the double is the close of the kqueue
 * descriptor (see kqueue_double_close; its other two test EVFILT_USER,
 * which a real system may lack).
 *
 * Only the subset weft uses is declared: struct kevent, EV_SET, the EV_*
 * flags, EVFILT_READ, EVFILT_WRITE, EVFILT_USER and its NOTE_* flags,
 * kqueue() and kevent(). The constants have FreeBSD's values.
 *
 * ----------------------------------------------------------------------
 * Semantics: what the double does, row by row. "man" is FreeBSD's
 * kqueue(2) (Debian's freebsd-manpages, 12.2: /usr/share/man/man2/
 * kqueue.2freebsd.gz), by section; "source" marks a rule the manual does
 * not state, taken from FreeBSD's sys/kern/kern_event.c (read for the
 * fact, nothing copied).
 *
 *  #  rule                                                   where
 *  1  A knote's key is (ident, filter); one knote per key    man DESCRIPTION
 *     per kqueue. For EVFILT_READ/WRITE the ident is a
 *     descriptor; for EVFILT_USER any number.
 *  2  EV_ADD on a new key attaches it and runs the filter    man DESCRIPTION;
 *     at once: a condition already true (data waiting,       flags, EV_ADD
 *     space to write) makes it pending. EV_ADD on an
 *     existing key modifies it (udata, flags, fflags,
 *     data), makes no duplicate, and runs the filter again
 *     (the re-run on modify: source). EV_ADD enables the
 *     knote unless EV_DISABLE is given with it.
 *  3  EV_DELETE removes the knote; a key that does not       man flags, EV_DELETE;
 *     exist fails with ENOENT; a descriptor that is not      ERRORS (ENOENT,
 *     open fails with EBADF (also for EV_ADD).               EBADF)
 *  4  EV_ENABLE / EV_DISABLE: a disabled knote is not        man flags
 *     returned; its filter still runs. On a missing key:
 *     ENOENT.
 *  5  EV_CLEAR: after the knote is retrieved its state is    man flags, EV_CLEAR
 *     reset; it is returned again only after a new event
 *     (new data, new space, a new trigger). Without
 *     EV_CLEAR the knote stays pending and is returned by
 *     every kevent() while its condition holds.
 *  6  The filter runs again when a knote is retrieved; if    man DESCRIPTION
 *     its condition no longer holds (the data was read
 *     meanwhile) the knote is dropped and not returned.
 *     Several events before a retrieval make one kevent.
 *  7  EV_ONESHOT: returned once, then deleted.               man flags, EV_ONESHOT
 *     EV_DISPATCH: returned once, then disabled (EV_ENABLE   man flags, EV_DISPATCH
 *     re-arms it).
 *  8  EV_RECEIPT: every change so marked is returned in      man flags, EV_RECEIPT;
 *     the eventlist with flags == EV_ERROR and data the      RETURN VALUES
 *     error, 0 on success. A change that fails, with or
 *     without EV_RECEIPT, is returned the same way (data =
 *     the errno) when the eventlist has room; with no room
 *     left kevent() returns -1 with errno set and the
 *     changes after it are not processed. The entry is the
 *     change itself ("the event will be placed"): ident,
 *     filter, fflags and udata as given, flags replaced by
 *     EV_ERROR (source: kqueue_kevent copies the change out
 *     after setting flags and data). A change that succeeds
 *     without EV_RECEIPT returns nothing.
 *  9  A call whose changes produced any EV_ERROR entry       source (kern_kevent:
 *     (receipts included) returns the count of those         the scan is skipped
 *     entries at once: it neither waits nor collects         when errors were
 *     events. (This is why EV_RECEIPT makes "bulk changes    copied out)
 *     without draining pending events".)
 * 10  All changes are applied before any event is read.      man DESCRIPTION
 *     The same array may serve as changelist and eventlist.
 * 11  nevents == 0: returns after the changes, even with a   man DESCRIPTION
 *     timeout. timeout NULL: waits without limit; a zero
 *     timespec: polls. The return value is the number of
 *     events stored, at most nevents; 0 when the time ran    man RETURN VALUES
 *     out. A timeout with tv_nsec outside [0, 1e9) or a      man ERRORS (EINVAL)
 *     negative tv_sec: EINVAL.
 * 12  A signal before any event: -1 with EINTR, and every    man ERRORS (EINTR)
 *     change was applied.
 * 13  Closing a descriptor removes every knote that names    man DESCRIPTION;
 *     it.                                                    flags, EV_DELETE
 * 14  EVFILT_READ on a socket or pipe: pending while bytes   man EVFILT_READ
 *     are available, data = their count. On a listening      (Sockets; Fifos,
 *     socket: pending while a connection waits (data: the    Pipes)
 *     backlog on BSD; see "Cannot" below). When the read
 *     direction shut down (the peer closed or shut down its
 *     writing; a pipe's last writer closed) it is pending
 *     with EV_EOF, even with data still buffered; fflags
 *     carries the socket error if any.
 * 15  EVFILT_WRITE on a socket or pipe: pending while it     man EVFILT_WRITE
 *     can be written, data = the space left in the send
 *     buffer. EV_EOF when the reader went away (a pipe's
 *     last reader closed; a socket that can send no more),
 *     fflags the socket error as for EVFILT_READ.
 * 16  A socket error makes both filters pending.             man EVFILT_READ
 *                                                            (socket error
 *                                                            handling);
 *                                                            EVFILT_WRITE
 * 17  EVFILT_USER: EV_ADD makes the event; a change with     man EVFILT_USER
 *     NOTE_TRIGGER in fflags triggers it; NOTE_FFNOP,
 *     NOTE_FFAND, NOTE_FFOR, NOTE_FFCOPY (NOTE_FFCTRLMASK)
 *     combine the low 24 bits (NOTE_FFLAGSMASK) into the
 *     event's fflags, returned with it. With EV_CLEAR the
 *     trigger is reset on retrieval; without, it stays
 *     triggered. Triggering a missing ident: ENOENT.
 * 18  A filter the kernel lacks: EINVAL ("filter is          man ERRORS (EINVAL)
 *     invalid"); how weft sees a system without EVFILT_USER
 *     (kqueue_double_set_user_filter turns it off here).
 * 19  An unknown kqueue descriptor: EBADF.                   man ERRORS (EBADF)
 *
 * How the double does it. Each kqueue is an epoll instance (the kqueue
 * descriptor IS that epoll descriptor) holding two inner epoll sets, one
 * per direction, and an internal eventfd; beside them a table, under a
 * mutex, of knotes per descriptor and of user events. A descriptor with
 * an EVFILT_READ knote is in the read set, edge-triggered for EPOLLIN |
 * EPOLLRDHUP; with an EVFILT_WRITE knote in the write set for EPOLLOUT.
 * Two sets, because epoll reports a descriptor's whole readiness mask
 * with any edge but wakes an entry only for the events it asked for: one
 * set would report "writable" again with every byte that arrives, where
 * a BSD kernel reports EVFILT_WRITE only when send space changes. An edge
 * marks the knote pending; retrieval runs the filter (rule 6) with poll()
 * and computes data with ioctl(FIONREAD) and SIOCOUTQ / F_GETPIPE_SZ. The
 * eventfd wakes a thread blocked in kevent() when another thread makes a
 * knote pending or triggers a user event. A kevent() call whose changes
 * are only NOTE_TRIGGERs with nevents == 0 (what a wake-up sends) takes
 * no lock: it is async-signal-safe, like the system call it stands for.
 *
 * Close (rule 13). The double cannot see close(2). It records each
 * descriptor's (st_dev, st_ino) when its first knote is added, and
 * checks them with fstat() when a knote of it is retrieved, changed or
 * deleted: a closed descriptor (EBADF) or one reused for another file
 * (other inode) has its knotes dropped there, as if the close had done
 * it; epoll itself forgets a closed file. The kqueue descriptor itself
 * must be closed with kqueue_double_close (io_kqueue.c's one #ifdef for
 * the double), which frees the table, the internal epoll sets and
 * eventfd; one closed with close(2) leaves them open until kqueue()
 * gets its number again and reclaims them.
 *
 * Cannot (what a run on a real BSD or macOS would add):
 *  - kernel timing: when an edge becomes visible, how a wait and a
 *    concurrent change interleave inside the kernel, how long a wait
 *    sleeps past its timeout (epoll's milliseconds, rounded up, here);
 *  - fflags: Linux has no way to read a socket's pending error without
 *    clearing it (SO_ERROR clears it, and weft's connect reads it after
 *    the event), so EV_EOF comes with fflags 0 here; the error path of
 *    the backend is exercised through kqueue_double_inject instead;
 *  - EV_EOF timing: it follows Linux's POLLRDHUP/POLLHUP/POLLERR, which
 *    differ from the BSD socket buffer flags in corner cases (a half
 *    close: BSD sets EV_EOF on EVFILT_WRITE only once it can send no
 *    more; a reset while data is buffered; a pipe's EV_EOF being
 *    cleared when a new writer opens a fifo);
 *  - spurious EVFILT_WRITE events: Linux wakes every waiter of a socket
 *    on a change of state (the peer's FIN, a shutdown, a reset), so the
 *    double reports EVFILT_WRITE there too, where a BSD kernel wakes the
 *    write filter only when send space changes;
 *  - BSD-specific socket errors and their errno values (ECONNRESET vs
 *    EPIPE on a write to a reset peer, ENOBUFS, macOS's EV_EOF on a
 *    connect in progress), and SO_NOSIGPIPE;
 *  - data on a listening socket: 1 here (Linux has no FIONREAD there),
 *    the backlog length on BSD; on a UDP socket Linux's FIONREAD is the
 *    size of the next datagram, BSD's data the whole buffer;
 *  - close detection for descriptors that share one inode (eventfds,
 *    every anon-inode file) and for a file that stays open through a
 *    dup() elsewhere: kqueue(2) says close() removes the knotes of the
 *    descriptor closed, while the double keeps them as long as its
 *    number names the same file (epoll keeps the file while any
 *    descriptor of it is open);
 *  - NOTE_LOWAT, EVFILT_TIMER, EVFILT_SIGNAL, EVFILT_VNODE, EVFILT_PROC
 *    and the rest: not implemented (EINVAL), weft does not use them;
 *  - kqueue's fork rule (a child does not inherit the queue);
 *  - the kernel's own locking: the double probes the program's
 *    descriptors from user space, through syscall(2) so that
 *    ThreadSanitizer does not take a probe of a descriptor another thread
 *    is closing for a race of the program (kqueue_double.c says why); a
 *    race the kernel would order for weft is ordered here by the
 *    double's mutex, which ThreadSanitizer does see.
 */
#ifndef KQUEUE_DOUBLE_H
#define KQUEUE_DOUBLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct kevent {
	uintptr_t ident;   /* the key's first half: a descriptor, or a user number */
	short filter;      /* the key's second half: EVFILT_* */
	unsigned short flags;   /* EV_* */
	unsigned int fflags;    /* filter flags (NOTE_*, the socket error) */
	int64_t data;      /* filter data (bytes available, space, errno) */
	void *udata;       /* passed through unchanged */
	uint64_t ext[4];   /* FreeBSD 12's extension words; unused, copied */
};

#define EV_SET(kevp, a, b, c, d, e, f)                         \
	do {                                                   \
		struct kevent *kq__ev = (kevp);                \
		kq__ev->ident = (a);                           \
		kq__ev->filter = (b);                          \
		kq__ev->flags = (c);                           \
		kq__ev->fflags = (d);                          \
		kq__ev->data = (e);                            \
		kq__ev->udata = (f);                           \
		kq__ev->ext[0] = kq__ev->ext[1] = 0;           \
		kq__ev->ext[2] = kq__ev->ext[3] = 0;           \
	} while (0)

#define EVFILT_READ   (-1)
#define EVFILT_WRITE  (-2)
#define EVFILT_USER   (-11)

#define EV_ADD        0x0001
#define EV_DELETE     0x0002
#define EV_ENABLE     0x0004
#define EV_DISABLE    0x0008
#define EV_ONESHOT    0x0010
#define EV_CLEAR      0x0020
#define EV_RECEIPT    0x0040
#define EV_DISPATCH   0x0080
#define EV_ERROR      0x4000
#define EV_EOF        0x8000

#define NOTE_FFNOP      0x00000000u
#define NOTE_FFAND      0x40000000u
#define NOTE_FFOR       0x80000000u
#define NOTE_FFCOPY     0xc0000000u
#define NOTE_FFCTRLMASK 0xc0000000u
#define NOTE_FFLAGSMASK 0x00ffffffu
#define NOTE_TRIGGER    0x01000000u

/* A new kqueue: a descriptor (close-on-exec), or -1 with errno (EMFILE,
 * ENFILE, ENOMEM; EMFILE also when the descriptor is beyond the double's
 * table). Any thread. */
int kqueue(void);

/* Applies @nchanges changes, then returns up to @nevents pending events
 * (the table above). Any thread; several threads may call it on one
 * kqueue at once. A call that only triggers user events (NOTE_TRIGGER,
 * no EV_ADD/EV_DELETE/EV_ENABLE/EV_DISABLE) with @nevents == 0 is
 * async-signal-safe. */
int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents, const struct timespec *timeout);

/* ------------------------------------------------ the double's own calls */

/* close(2) of a kqueue descriptor: frees the double's table and closes
 * the descriptor. 0, or -1 with errno EBADF for a descriptor that is no
 * kqueue of the double. Not concurrently with other calls on @kq. */
int kqueue_double_close(int kq);

/* Whether kqueues created from now on know EVFILT_USER (default: yes,
 * unless the environment has KQUEUE_DOUBLE_NO_EVFILT_USER set and not
 * empty, read at the first kqueue()). Off, EV_ADD of an EVFILT_USER
 * fails with EINVAL, as on a system without the filter. Any thread. */
void kqueue_double_set_user_filter(bool available);

/* Makes the knote (@ident, @filter) of @kq pending with @flags (e.g.
 * EV_EOF) and @fflags (e.g. a socket error) added to its next retrieval,
 * once: how tests reach the backend's paths for states the double cannot
 * produce from a Linux socket (see "Cannot"). 0, or -1 with errno EBADF
 * (no such kqueue) or ENOENT (no such knote). */
int kqueue_double_inject(int kq, uintptr_t ident, short filter,
			 unsigned short flags, unsigned int fflags);

/* Arms a failure: the next change on @kq of @filter whose flags include
 * every flag of @flags (EV_ADD, EV_DELETE) is not applied and comes back
 * with @err as its error, once (a later call re-arms, replacing it); @err
 * 0 disarms. How tests reach the backend's paths for a change the kernel
 * refuses for reasons the double never has (ENOMEM for a knote). 0, or -1
 * with errno EBADF (no such kqueue). Any thread. */
int kqueue_double_fail_change(int kq, short filter, unsigned short flags, int err);

/* The same for the next @count such changes (@count <= 0 disarms), and
 * @filter 0 matches any filter: how a test refuses both filters of one
 * registration. 0, or -1 with errno EBADF. Any thread. */
int kqueue_double_fail_changes(int kq, short filter, unsigned short flags, int err, int count);

/* Arms a hook: the next kevent() call on @kq that has an eventlist runs
 * @fn(@arg) first, before it applies its changes and before it waits,
 * outside the double's lock, once (a later call re-arms, replacing it;
 * @fn NULL disarms). How tests hold a call at the point where a thread
 * preempted inside the system call would be: its changes taken by the
 * caller, not yet applied (io_kqueue.c's ordering of a removal and a
 * reused number). 0, or -1 with errno EBADF (no such kqueue). Any
 * thread. */
int kqueue_double_before_call(int kq, void (*fn)(void *arg), void *arg);

/* How many kevent() calls with an eventlist @kq has had (the wake-ups'
 * lock-free triggers aside): how tests see that changes were batched.
 * The count, or -1 with errno EBADF. Any thread. */
int64_t kqueue_double_calls(int kq);

#endif /* KQUEUE_DOUBLE_H */
