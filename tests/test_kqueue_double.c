/* test_kqueue_double.c - the kevent test double (tests/kqueue_double/)
 * against its semantics table: one test per row or two, named after the
 * rule, on real sockets and pipes. The rule numbers are those of the
 * table in kqueue_double.h. Built in every Linux build, whichever backend
 * the library uses. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "kqueue_double.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const struct timespec zero = { 0, 0 };

/* One change on @kq, no eventlist: 0 or -errno. */
static int change(int kq, uintptr_t ident, short filter, unsigned short flags,
		  unsigned int fflags, void *udata)
{
	struct kevent c;
	EV_SET(&c, ident, filter, flags, fflags, 0, udata);
	return kevent(kq, &c, 1, NULL, 0, NULL) < 0 ? -errno : 0;
}

/* Polls @kq: the number of events stored in @out (at most @cap). */
static int poll_kq(int kq, struct kevent *out, int cap)
{
	int n = kevent(kq, NULL, 0, out, cap, &zero);
	assert_true(n >= 0);
	return n;
}

static void pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static int new_kq(void)
{
	int kq = kqueue();
	assert_true(kq >= 0);
	return kq;
}

/* Rules 1, 2, 14: EV_ADD on a socket that already has data reports it at
 * once, with data = the bytes available and udata passed through. */
static void add_reports_a_preexisting_condition_with_bytes_available(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(write(sv[1], "hello", 5), 5);
	int tag;
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, &tag), 0);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(ev[0].ident, (uintptr_t)sv[0]);
	assert_int_equal(ev[0].filter, EVFILT_READ);
	assert_int_equal(ev[0].data, 5);
	assert_ptr_equal(ev[0].udata, &tag);
	assert_false(ev[0].flags & (EV_EOF | EV_ERROR));
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(kqueue_double_close(kq), 0);
}

/* Rule 5: with EV_CLEAR the event comes once per change of state: not
 * again for the same bytes, again when new bytes arrive. */
static void clear_reports_once_per_new_event(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	assert_int_equal(write(sv[1], "a", 1), 1);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(poll_kq(kq, ev, 4), 0);   /* reset on retrieval */
	assert_int_equal(write(sv[1], "b", 1), 1);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(ev[0].data, 2);   /* both bytes still unread */
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rules 5, 6: without EV_CLEAR the event is returned while the condition
 * holds, and dropped at retrieval once it no longer does. */
static void level_reports_while_true_and_drops_when_drained(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(write(sv[1], "xy", 2), 2);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD, 0, NULL), 0);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	char buf[4];
	assert_int_equal(read(sv[0], buf, sizeof buf), 2);
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rules 1, 2: a second EV_ADD of a key modifies it (new udata) and makes
 * no duplicate; read and write are two keys. */
static void add_of_an_existing_key_modifies_it(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	int a, b;
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, &a), 0);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, &b), 0);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, &a), 0);
	assert_int_equal(write(sv[1], "z", 1), 1);
	struct kevent ev[4];
	int n = poll_kq(kq, ev, 4);
	assert_int_equal(n, 2);
	for (int i = 0; i < n; i++) {
		if (ev[i].filter == EVFILT_READ) {
			assert_ptr_equal(ev[i].udata, &b);
		} else {
			assert_int_equal(ev[i].filter, EVFILT_WRITE);
			assert_ptr_equal(ev[i].udata, &a);
			assert_true(ev[i].data > 0);   /* rule 15: space left */
		}
	}
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rule 3: EV_DELETE of a missing key is ENOENT, of a descriptor that is
 * not open EBADF; a deleted knote reports nothing. */
static void delete_of_a_missing_key_is_enoent_and_of_a_bad_fd_ebadf(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_DELETE, 0, NULL), -ENOENT);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_WRITE, EV_DELETE, 0, NULL), -ENOENT);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_DELETE, 0, NULL), 0);
	assert_int_equal(write(sv[1], "q", 1), 1);
	struct kevent ev[2];
	assert_int_equal(poll_kq(kq, ev, 2), 0);
	assert_int_equal(change(kq, 100000, EVFILT_READ, EV_DELETE, 0, NULL), -EBADF);
	assert_int_equal(change(kq, 100000, EVFILT_READ, EV_ADD, 0, NULL), -EBADF);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ENABLE, 0, NULL), -ENOENT);
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rules 8, 9: EV_RECEIPT returns every change with EV_ERROR, data 0 on
 * success and the errno on failure, and the call returns those entries
 * only: a pending event stays pending for the next call. */
static void receipt_returns_each_change_and_leaves_events_pending(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(write(sv[1], "r", 1), 1);
	struct kevent ch[3], ev[8];
	EV_SET(&ch[0], (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&ch[1], (uintptr_t)sv[0], EVFILT_WRITE, EV_DELETE | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&ch[2], (uintptr_t)sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, NULL);
	assert_int_equal(kevent(kq, ch, 3, ev, 8, NULL), 3);   /* NULL: yet no wait */
	assert_int_equal(ev[0].flags, EV_ERROR);
	assert_int_equal(ev[0].data, 0);
	assert_int_equal(ev[1].flags, EV_ERROR);
	assert_int_equal(ev[1].data, ENOENT);
	assert_int_equal(ev[1].filter, EVFILT_WRITE);
	assert_int_equal(ev[2].data, 0);
	/* A failed change without EV_RECEIPT also ends the call (rule 9);
	 * its entry is the change, udata kept, flags EV_ERROR (rule 8);
	 * a change that succeeds beside it returns nothing. */
	static int tag;
	EV_SET(&ch[0], (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, &tag);
	EV_SET(&ch[1], (uintptr_t)sv[0], EVFILT_USER, EV_DELETE, 0, 0, &tag);
	assert_int_equal(kevent(kq, ch, 2, ev, 8, NULL), 1);
	assert_int_equal(ev[0].flags, EV_ERROR);
	assert_int_equal(ev[0].data, ENOENT);
	assert_int_equal(ev[0].ident, (uintptr_t)sv[0]);
	assert_int_equal(ev[0].filter, EVFILT_USER);
	assert_ptr_equal(ev[0].udata, &tag);
	/* The read and write events were left pending. */
	assert_int_equal(poll_kq(kq, ev, 8), 2);
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rule 8: an error with no room in the eventlist fails the call with
 * errno, and the changes after it are not applied. */
static void an_error_without_room_fails_the_call_and_stops_there(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	struct kevent ch[2];
	EV_SET(&ch[0], (uintptr_t)sv[0], EVFILT_READ, EV_DELETE, 0, 0, NULL);
	EV_SET(&ch[1], (uintptr_t)sv[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
	assert_int_equal(kevent(kq, ch, 2, NULL, 0, NULL), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_DELETE, 0, NULL), -ENOENT);
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rule 7: EV_ONESHOT is deleted after its event; EV_DISPATCH disabled
 * until EV_ENABLE. */
static void oneshot_deletes_and_dispatch_disables_after_delivery(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(write(sv[1], "o", 1), 1);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, NULL), 0);
	struct kevent ev[2];
	assert_int_equal(poll_kq(kq, ev, 2), 1);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_DELETE, 0, NULL), -ENOENT);

	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ,
				EV_ADD | EV_CLEAR | EV_DISPATCH, 0, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 2), 1);
	assert_int_equal(write(sv[1], "p", 1), 1);
	assert_int_equal(poll_kq(kq, ev, 2), 0);   /* disabled */
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ENABLE, 0, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 2), 1);
	assert_int_equal(ev[0].data, 2);
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rule 14: the peer's shutdown of its writing sets EV_EOF on the read
 * filter, with the data still buffered counted. */
static void peer_shutdown_sets_eof_while_data_is_pending(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(write(sv[1], "last", 4), 4);
	assert_int_equal(shutdown(sv[1], SHUT_WR), 0);
	struct kevent ev[2];
	assert_int_equal(poll_kq(kq, ev, 2), 1);
	assert_true(ev[0].flags & EV_EOF);
	assert_int_equal(ev[0].data, 4);
	assert_int_equal(ev[0].fflags, 0);   /* no socket error */
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rules 14, 15: a pipe: data is the bytes to read, the write side's data
 * the space left, and the write filter says EV_EOF once the reader is
 * gone; the read filter EV_EOF once the writer is. */
static void pipes_count_bytes_and_space_and_report_eof(void **state)
{
	(void)state;
	int kq = new_kq(), p[2];
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(change(kq, (uintptr_t)p[1], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), 0);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(ev[0].ident, (uintptr_t)p[1]);
	int64_t space = ev[0].data;
	assert_true(space > 0);
	assert_int_equal(write(p[1], "abc", 3), 3);
	int n = poll_kq(kq, ev, 4);
	assert_true(n >= 1);
	for (int i = 0; i < n; i++) {
		if (ev[i].filter == EVFILT_READ)
			assert_int_equal(ev[i].data, 3);
		else
			assert_int_equal(ev[i].data, space - 3);
	}
	/* The reader goes: the writer's filter says EV_EOF. */
	int r2 = dup(p[0]);
	assert_true(r2 >= 0);
	assert_int_equal(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_DELETE, 0, NULL), 0);
	close(p[0]);
	close(r2);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(ev[0].filter, EVFILT_WRITE);
	assert_true(ev[0].flags & EV_EOF);
	close(p[1]);

	/* The writer goes: the reader's filter says EV_EOF. */
	assert_int_equal(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	assert_int_equal(change(kq, (uintptr_t)p[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	close(p[1]);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_true(ev[0].flags & EV_EOF);
	assert_int_equal(ev[0].data, 0);
	close(p[0]);
	kqueue_double_close(kq);
}

/* Rule 13: closing a descriptor removes its knotes: nothing is reported
 * for it, even when its number is reused by a socket with data; an
 * EV_DELETE then finds nothing (ENOENT, or EBADF while it is closed). */
static void close_removes_the_knotes_of_a_descriptor(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), 0);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 1);   /* writable */
	int num = sv[0];
	assert_int_equal(write(sv[1], "before", 6), 6);   /* pending when closed */
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	assert_int_equal(change(kq, (uintptr_t)num, EVFILT_READ, EV_DELETE, 0, NULL), -EBADF);

	/* The number again, another socket, never registered. */
	assert_int_equal(change(kq, (uintptr_t)num, EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), -EBADF);
	int again[2];
	pair(again);
	assert_int_equal(again[0], num);
	assert_int_equal(write(again[1], "after", 5), 5);
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	assert_int_equal(change(kq, (uintptr_t)num, EVFILT_WRITE, EV_DELETE, 0, NULL), -ENOENT);
	close(again[0]);
	close(again[1]);

	/* A level knote still pending when its descriptor is closed, and the
	 * number reused by a socket with data: the old knote is gone. */
	pair(sv);
	assert_int_equal(write(sv[1], "lvl", 3), 3);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD, 0, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	num = sv[0];
	close(sv[0]);
	close(sv[1]);
	pair(again);
	assert_int_equal(again[0], num);
	assert_int_equal(write(again[1], "new", 3), 3);
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	close(again[0]);
	close(again[1]);
	kqueue_double_close(kq);
}

/* Rule 13 with a registration in between: a knote left by a closed
 * descriptor does not survive into the new file's EV_ADD. */
static void a_reused_number_registers_afresh(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	int old, fresh;
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, &old), 0);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, &old), 0);
	int num = sv[0];
	close(sv[0]);
	close(sv[1]);
	pair(sv);
	assert_int_equal(sv[0], num);
	assert_int_equal(change(kq, (uintptr_t)num, EVFILT_READ, EV_ADD | EV_CLEAR, 0, &fresh), 0);
	assert_int_equal(write(sv[1], "n", 1), 1);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 1);   /* no stale write knote */
	assert_int_equal(ev[0].filter, EVFILT_READ);
	assert_ptr_equal(ev[0].udata, &fresh);
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rule 14: a listening socket reports a pending connection. */
static void a_listening_socket_reports_a_waiting_connection(void **state)
{
	(void)state;
	int kq = new_kq();
	int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(l, 8), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(change(kq, (uintptr_t)l, EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	struct kevent ev[2];
	assert_int_equal(poll_kq(kq, ev, 2), 0);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof a), 0);
	struct timespec second = { 5, 0 };
	assert_int_equal(kevent(kq, NULL, 0, ev, 2, &second), 1);
	assert_int_equal(ev[0].ident, (uintptr_t)l);
	assert_true(ev[0].data >= 1);
	close(c);
	close(l);
	kqueue_double_close(kq);
}

/* Rule 17: a user event is triggered by NOTE_TRIGGER, carries the fflags
 * made with NOTE_FFOR/FFAND/FFCOPY, is reset by EV_CLEAR and stays
 * triggered without it; a missing ident is ENOENT. */
static void user_events_trigger_and_combine_fflags(void **state)
{
	(void)state;
	kqueue_double_set_user_filter(true);
	int kq = new_kq(), tag;
	assert_int_equal(change(kq, 7, EVFILT_USER, EV_ADD | EV_CLEAR, 0, &tag), 0);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	assert_int_equal(change(kq, 7, EVFILT_USER, 0, NOTE_FFOR | 0x5, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 4), 0);   /* not triggered yet */
	assert_int_equal(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFAND | 0x4, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(ev[0].ident, 7);
	assert_int_equal(ev[0].filter, EVFILT_USER);
	assert_int_equal(ev[0].fflags, 0x4);
	assert_ptr_equal(ev[0].udata, &tag);
	assert_int_equal(poll_kq(kq, ev, 4), 0);   /* EV_CLEAR */
	assert_int_equal(change(kq, 7, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x9, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(ev[0].fflags, 0x9);

	assert_int_equal(change(kq, 8, EVFILT_USER, EV_ADD, 0, NULL), 0);
	assert_int_equal(change(kq, 8, EVFILT_USER, 0, NOTE_TRIGGER, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(poll_kq(kq, ev, 4), 1);   /* no EV_CLEAR: still triggered */
	assert_int_equal(change(kq, 8, EVFILT_USER, EV_DELETE, 0, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	assert_int_equal(change(kq, 8, EVFILT_USER, 0, NOTE_TRIGGER, NULL), -ENOENT);
	kqueue_double_close(kq);
}

/* Rule 18: without EVFILT_USER (the switch), adding one is EINVAL, as on
 * a system that lacks the filter; kqueues made before keep theirs. */
static void without_the_user_filter_adding_one_is_einval(void **state)
{
	(void)state;
	int before = new_kq();
	kqueue_double_set_user_filter(false);
	int kq = new_kq();
	assert_int_equal(change(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, NULL), -EINVAL);
	assert_int_equal(change(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, NULL), -EINVAL);
	kqueue_double_set_user_filter(true);
	assert_int_equal(change(before, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(change(kq, 1, -99, EV_ADD, 0, NULL), -EINVAL);   /* unknown filter */
	kqueue_double_close(kq);
	kqueue_double_close(before);
}

struct trigger_arg {
	int kq;
	uintptr_t ident;
};

static void *trigger_main(void *p)
{
	struct trigger_arg *t = p;
	struct kevent c;
	EV_SET(&c, t->ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	if (kevent(t->kq, &c, 1, NULL, 0, NULL) != 0)
		return (void *)1;
	return NULL;
}

/* Rule 11: nevents 0 returns at once even with a timeout; a zero timeout
 * polls; a timeout runs out with 0 (not before its time); a NULL timeout
 * waits until an event (a trigger from another thread); a bad timeout or
 * kqueue is refused (rules 11, 19). */
static void timeouts_poll_wait_and_run_out(void **state)
{
	(void)state;
	kqueue_double_set_user_filter(true);
	int kq = new_kq();
	struct kevent ev[2];
	struct timespec hour = { 3600, 0 }, t0, t1;
	assert_int_equal(change(kq, 3, EVFILT_USER, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(kevent(kq, NULL, 0, NULL, 0, &hour), 0);
	assert_int_equal(kevent(kq, NULL, 0, ev, 2, &zero), 0);
	struct timespec ms20 = { 0, 20000000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kevent(kq, NULL, 0, ev, 2, &ms20), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	int64_t waited = (int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec);
	assert_true(waited >= 20000000);

	struct trigger_arg t = { .kq = kq, .ident = 3 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, trigger_main, &t), 0);
	assert_int_equal(kevent(kq, NULL, 0, ev, 2, NULL), 1);
	void *res;
	pthread_join(th, &res);
	assert_null(res);
	assert_int_equal(ev[0].ident, 3);

	struct timespec bad = { 0, 1000000000 };
	assert_int_equal(kevent(kq, NULL, 0, ev, 2, &bad), -1);
	assert_int_equal(errno, EINVAL);
	kqueue_double_close(kq);
	assert_int_equal(kevent(kq, NULL, 0, ev, 2, &zero), -1);
	assert_int_equal(errno, EBADF);
	assert_int_equal(kqueue_double_close(kq), -1);
}

static void on_usr1(int sig)
{
	(void)sig;
}

struct kicker {
	pthread_t target;
	atomic_bool done;
};

static void *kick_main(void *p)
{
	struct kicker *k = p;
	/* Acquire: the flag is all it carries; relaxed would do. */
	while (!atomic_load_explicit(&k->done, memory_order_acquire)) {
		pthread_kill(k->target, SIGUSR1);
		usleep(1000);
	}
	return NULL;
}

/* Rule 12: a signal ends a wait with EINTR, and the changes of that call
 * were applied. */
static void a_signal_ends_a_wait_with_eintr_after_the_changes(void **state)
{
	(void)state;
	kqueue_double_set_user_filter(true);
	struct sigaction sa = { .sa_handler = on_usr1 }, old;   /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	int kq = new_kq();
	struct kicker k = { .target = pthread_self() };
	atomic_init(&k.done, false);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, kick_main, &k), 0);
	struct kevent c, ev[1];
	EV_SET(&c, 5, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	int n = kevent(kq, &c, 1, ev, 1, NULL);
	int err = errno;
	/* Release: see kick_main. */
	atomic_store_explicit(&k.done, true, memory_order_release);
	pthread_join(th, NULL);
	sigaction(SIGUSR1, &old, NULL);
	assert_int_equal(n, -1);
	assert_int_equal(err, EINTR);
	assert_int_equal(change(kq, 5, EVFILT_USER, 0, NOTE_TRIGGER, NULL), 0);   /* it exists */
	kqueue_double_close(kq);
}

/* The double's hook: an injected EV_EOF and socket error come with the
 * next retrieval of the knote, once. */
static void inject_adds_flags_to_the_next_retrieval_once(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(kqueue_double_inject(kq, (uintptr_t)sv[0], EVFILT_READ, EV_EOF,
					      ECONNRESET), 0);
	struct kevent ev[2];
	assert_int_equal(poll_kq(kq, ev, 2), 1);
	assert_true(ev[0].flags & EV_EOF);
	assert_int_equal(ev[0].fflags, ECONNRESET);
	assert_int_equal(poll_kq(kq, ev, 2), 0);
	assert_int_equal(kqueue_double_inject(kq, (uintptr_t)sv[0], EVFILT_WRITE, EV_EOF, 0), -1);
	assert_int_equal(errno, ENOENT);
	close(sv[0]);
	close(sv[1]);
	kqueue_double_close(kq);
}

/* Rule 4: a disabled knote is not returned, though its condition holds;
 * enabled again, it is; EV_DISABLE or EV_ENABLE of a missing key is
 * ENOENT. */
static void disable_hides_a_knote_and_enable_returns_it(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_DISABLE, 0, NULL), 0);
	assert_int_equal(write(sv[1], "abc", 3), 3);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 0);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_READ, EV_ENABLE, 0, NULL), 0);
	assert_int_equal(poll_kq(kq, ev, 4), 1);
	assert_int_equal(ev[0].filter, EVFILT_READ);
	assert_int_equal(ev[0].data, 3);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_WRITE, EV_DISABLE, 0, NULL), -ENOENT);
	assert_int_equal(change(kq, (uintptr_t)sv[0], EVFILT_WRITE, EV_ENABLE, 0, NULL), -ENOENT);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(kqueue_double_close(kq), 0);
}

/* Rule 10: one array as both changelist and eventlist (what
 * io_kqueue.c's weft__kq_send does): every change is read before the
 * first entry is written, so receipts and events land over the changes
 * intact. */
static void one_array_serves_as_changelist_and_eventlist(void **state)
{
	(void)state;
	int kq = new_kq(), sv[2];
	pair(sv);
	assert_int_equal(write(sv[1], "hello", 5), 5);
	int tag;
	struct kevent a[2];
	/* Receipts: each entry comes back as its own change, data 0. */
	EV_SET(&a[0], (uintptr_t)sv[0], EVFILT_READ, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, &tag);
	EV_SET(&a[1], (uintptr_t)sv[0], EVFILT_WRITE, EV_ADD | EV_CLEAR | EV_RECEIPT, 0, 0, &tag);
	assert_int_equal(kevent(kq, a, 2, a, 2, &zero), 2);
	assert_int_equal(a[0].filter, EVFILT_READ);
	assert_int_equal(a[1].filter, EVFILT_WRITE);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(a[i].ident, (uintptr_t)sv[0]);
		assert_int_equal(a[i].flags, EV_ERROR);
		assert_int_equal(a[i].data, 0);
	}
	/* Events over the changes: the delete of the write knote is
	 * applied, then the read event stored in its place. */
	EV_SET(&a[0], (uintptr_t)sv[0], EVFILT_WRITE, EV_DELETE, 0, 0, NULL);
	assert_int_equal(kevent(kq, a, 1, a, 2, &zero), 1);
	assert_int_equal(a[0].filter, EVFILT_READ);
	assert_int_equal(a[0].data, 5);
	assert_ptr_equal(a[0].udata, &tag);
	assert_int_equal(poll_kq(kq, a, 2), 0);   /* no write knote left */
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(kqueue_double_close(kq), 0);
}

/* Rule 16: a socket error (a reset from the peer) makes both filters
 * pending, after both had been retrieved and cleared. */
static void a_socket_error_makes_both_filters_pending(void **state)
{
	(void)state;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(ls >= 0);
	struct sockaddr_in sa = { .sin_family = AF_INET };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	assert_int_equal(bind(ls, (struct sockaddr *)&sa, len), 0);
	assert_int_equal(listen(ls, 1), 0);
	assert_int_equal(getsockname(ls, (struct sockaddr *)&sa, &len), 0);
	int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sa, len), 0);
	int s = accept(ls, NULL, NULL);
	assert_true(s >= 0);

	int kq = new_kq();
	assert_int_equal(change(kq, (uintptr_t)c, EVFILT_READ, EV_ADD | EV_CLEAR, 0, NULL), 0);
	assert_int_equal(change(kq, (uintptr_t)c, EVFILT_WRITE, EV_ADD | EV_CLEAR, 0, NULL), 0);
	struct kevent ev[4];
	assert_int_equal(poll_kq(kq, ev, 4), 1);   /* writable, once */
	assert_int_equal(ev[0].filter, EVFILT_WRITE);
	assert_int_equal(poll_kq(kq, ev, 4), 0);

	/* An abortive close: the peer sends a reset. */
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	assert_int_equal(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
	close(s);
	bool seen[2] = { false, false };
	for (int round = 0; round < 100 && !(seen[0] && seen[1]); round++) {
		struct timespec ts = { 0, 10 * 1000000L };
		int n = kevent(kq, NULL, 0, ev, 4, &ts);
		assert_true(n >= 0);
		for (int i = 0; i < n; i++)
			seen[ev[i].filter == EVFILT_READ ? 0 : 1] = true;
	}
	assert_true(seen[0]);
	assert_true(seen[1]);
	int err = 0;
	len = sizeof err;
	assert_int_equal(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &len), 0);
	assert_int_equal(err, ECONNRESET);
	close(c);
	close(ls);
	assert_int_equal(kqueue_double_close(kq), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(add_reports_a_preexisting_condition_with_bytes_available),
		cmocka_unit_test(clear_reports_once_per_new_event),
		cmocka_unit_test(level_reports_while_true_and_drops_when_drained),
		cmocka_unit_test(add_of_an_existing_key_modifies_it),
		cmocka_unit_test(delete_of_a_missing_key_is_enoent_and_of_a_bad_fd_ebadf),
		cmocka_unit_test(receipt_returns_each_change_and_leaves_events_pending),
		cmocka_unit_test(an_error_without_room_fails_the_call_and_stops_there),
		cmocka_unit_test(oneshot_deletes_and_dispatch_disables_after_delivery),
		cmocka_unit_test(peer_shutdown_sets_eof_while_data_is_pending),
		cmocka_unit_test(pipes_count_bytes_and_space_and_report_eof),
		cmocka_unit_test(close_removes_the_knotes_of_a_descriptor),
		cmocka_unit_test(a_reused_number_registers_afresh),
		cmocka_unit_test(a_listening_socket_reports_a_waiting_connection),
		cmocka_unit_test(user_events_trigger_and_combine_fflags),
		cmocka_unit_test(without_the_user_filter_adding_one_is_einval),
		cmocka_unit_test(timeouts_poll_wait_and_run_out),
		cmocka_unit_test(a_signal_ends_a_wait_with_eintr_after_the_changes),
		cmocka_unit_test(inject_adds_flags_to_the_next_retrieval_once),
		cmocka_unit_test(disable_hides_a_knote_and_enable_returns_it),
		cmocka_unit_test(one_array_serves_as_changelist_and_eventlist),
		cmocka_unit_test(a_socket_error_makes_both_filters_pending),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
