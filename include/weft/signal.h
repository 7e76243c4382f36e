/*
 * weft/signal.h - Unix signals as futures: a listener completes when one
 * of the signals it names is delivered to the process.
 *
 * The idea: signals are process-wide, so weft keeps one process-wide
 * record of deliveries and every pending listener in every runtime sees
 * every delivery it asked for (a broadcast, not a queue: each listener
 * that was pending when SIGTERM arrived completes with SIGTERM). How
 * many listeners there are, in how many runtimes, does not matter.
 *
 * How it works, and what it changes in the process:
 *  - While at least one registered listener names a signal, weft's own
 *    handler is installed for it (sigaction with SA_RESTART), replacing
 *    the disposition found (SIG_DFL, SIG_IGN or the application's
 *    handler, which is not called). When the last listener naming it is
 *    dropped, the disposition found is put back; so after the listener of
 *    a server's graceful shutdown is dropped, a second Ctrl-C terminates
 *    the process again, as usual.
 *  - The handler only counts the delivery and raises the I/O backend's
 *    "user event" of each runtime that has listeners (a flag, and a
 *    write to that runtime's wake-up eventfd on epoll, a NOTE_TRIGGER
 *    kevent or a pipe write on kqueue); nothing else runs
 *    in signal context. A runtime's listeners share one registration in
 *    its reactor; the runtime stays alive (and the handler may raise its
 *    event) until its last listener is dropped.
 *  - No signal mask is changed. Runtime threads (named weft-worker-N and
 *    weft-blocking) run with every asynchronous signal blocked, so a
 *    process-directed signal (kill, Ctrl-C) is handled on an application
 *    thread that does not block it,
 *    typically the one inside weft_block_on. If every thread blocks a
 *    signal, it stays pending and no listener sees it. The synchronous
 *    signals (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) are not
 *    blocked on runtime threads, so a crash handler runs there too.
 *  - Standard signals coalesce: several deliveries of one signal while a
 *    listener is not polled count as one.
 *
 * A listener registers at its first poll (installing handlers, joining
 * the runtime's reactor); signals delivered before that are not seen by
 * it. A server should therefore poll its listener early (await it in a
 * select next to its accept loop). Signals that cannot be listened for:
 * SIGKILL, SIGSTOP, the synchronous faults (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGTRAP, SIGSYS), and the ones the C library reserves between
 * 32 and SIGRTMIN; naming one gives -EINVAL.
 *
 * Ownership and threads: a weft_signal lives in the caller's struct like
 * any leaf future (weft/core.h): init does nothing else, it may be moved
 * until first polled, a zero-filled one is valid (it listens for the
 * shutdown set), and drop is idempotent and releases the registration. A
 * registered listener holds a reference on its runtime's reactor, so it
 * may be dropped after weft_runtime_close. One thread at a time polls or
 * drops a given listener; different listeners may be used from any
 * threads at once.
 */
#ifndef WEFT_SIGNAL_H
#define WEFT_SIGNAL_H

#include <weft/core.h>
#include <weft/runtime.h>

#include <signal.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The bit of signal @sig (1..64) in a listener's mask (weft_signal_init). */
#define WEFT_SIGNAL_BIT(sig) (UINT64_C(1) << ((unsigned)(sig) - 1u))

/** The shutdown set: SIGINT, SIGTERM and SIGHUP. A mask of 0 means this. */
#define WEFT_SIGNAL_SHUTDOWN \
	(WEFT_SIGNAL_BIT(SIGINT) | WEFT_SIGNAL_BIT(SIGTERM) | WEFT_SIGNAL_BIT(SIGHUP))

/**
 * A signal listener: a future that completes when one of the signals in
 * its mask is delivered after its first poll.
 *
 * Output: result, 0 while pending, then the number of the signal that
 * completed it (SIGINT...), or a negative errno: -EINVAL (a signal that
 * cannot be listened for, or no runtime in the poll context), -ENOMEM,
 * or the -errno of sigaction. When several of its
 * signals arrived between two polls, the one delivered first is
 * reported.
 */
typedef struct weft_signal {
	/** Type-erased view: weft_signal_poll and weft_signal_drop. */
	weft_future fut;
	/** Output: 0 while pending, then a signal number or a negative errno. */
	int result;
	/** Private: do not touch. */
	struct {
		uint64_t mask;                 /* as given to init; 0: shutdown set */
		struct weft__signal_hub *hub;  /* non-NULL: registered */
		struct weft_signal *prev, *next;
		weft_waker waker;
		uint64_t base;                 /* deliveries up to this are old */
		uint64_t seen;                 /* newest delivery seen at completion */
		bool done;
	} priv;
} weft_signal;

/**
 * Initialises @s to listen for the signals in @mask (WEFT_SIGNAL_BIT
 * values ORed; 0 = WEFT_SIGNAL_SHUTDOWN). Does nothing else: no syscall,
 * no registration. @s must not be registered (drop it first). The
 * thread that owns @s.
 */
WEFT_API void weft_signal_init(weft_signal *s, uint64_t mask);

/**
 * Polls the listener: READY with s->result set (see above), or PENDING.
 * The first poll registers it (installs the handlers, joins @cx's
 * runtime's reactor); PENDING stores @cx's waker, which is woken from
 * the thread that runs the runtime's reactor when a signal arrives.
 * Polling a completed listener returns READY again. Takes one unit of the
 * cooperative budget (given back when it waits). @cx must carry a
 * runtime (else -EINVAL), and the listener stays with the runtime of its
 * first poll. The thread that owns @s.
 */
WEFT_API weft_poll weft_signal_poll(weft_signal *s, weft_cx *cx);

/**
 * Makes a completed listener pending again, for the next delivery after
 * the one it reported, without giving up its registration (so there is
 * no moment at which the signal's default action is back). Deliveries
 * that arrived since it completed do count. No effect on a listener that
 * has not completed or that failed. Typical use: a loop that dumps
 * statistics on every SIGQUIT. The thread that owns @s.
 */
WEFT_API void weft_signal_rearm(weft_signal *s);

/**
 * Drops the listener: leaves the runtime's list and, for each of its
 * signals that no other listener names, puts the disposition found back.
 * Drops the stored waker. Idempotent; safe on a zero-filled or never
 * polled listener. result stays readable. The thread that owns @s (it
 * may run after weft_runtime_close).
 */
WEFT_API void weft_signal_drop(weft_signal *s);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SIGNAL_H */
