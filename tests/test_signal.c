/*
 * test_signal.c - signal listeners: raise() and kill(getpid()) complete
 * one listener and several listeners in two runtimes at once, the
 * shutdown set is the default, rearm sees the next delivery, dropping a
 * pending listener (also after its runtime is freed) restores the
 * disposition, and bad masks or a missing runtime give -EINVAL. Every
 * wait is bounded by a weft_timeout; the clock is left running because
 * the deliveries come from outside the runtime.
 */
#include "helpers.h"

#include <weft/signal.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "sys.h"

/* Every listener gives up after BOUND; a delivery must arrive well
 * before (PROMPT_US), or the test caught a wake that was lost and only
 * the timeout's final poll of the listener saw the signal. */
#define BOUND WEFT_SEC(10)
#define PROMPT_US 3000000u

static int new_runtime(weft_runtime **rt, uint32_t workers)
{
	weft_runtime_config cfg = { .size = sizeof cfg, .workers = workers };
	return weft_runtime_new(rt, &cfg);
}

static bool handler_installed(int sig)
{
	struct sigaction sa;
	sigaction(sig, NULL, &sa);
	return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

/* --------------------------------------------------- a bounded listener */

/* Listens for @mask with at most BOUND; counts itself in *registered once
 * its first poll has registered it. Output: sig.result (or -ETIMEDOUT). */
typedef struct {
	weft_future fut;
	weft_signal sig;
	weft_timeout to;
	_Atomic int *registered;
	bool counted;
	bool started;
	int result;
} listener;

static weft_poll listener_poll(weft_future *f, weft_cx *cx)
{
	listener *l = (listener *)f;
	if (!l->started) {
		l->started = true;
		weft_timeout_init(&l->to, &l->sig.fut, BOUND);
	}
	weft_poll p = weft_timeout_poll(&l->to, cx);
	if (!l->counted && l->sig.priv.hub) {
		l->counted = true;
		if (l->registered)
			atomic_fetch_add(l->registered, 1);
	}
	if (p == WEFT_READY)
		l->result = l->to.result < 0 ? l->to.result : l->sig.result;
	return p;
}

static void listener_drop(weft_future *f)
{
	listener *l = (listener *)f;
	weft_timeout_drop(&l->to);   /* drops the signal future too */
	weft_signal_drop(&l->sig);   /* idempotent */
}

static listener listener_make(uint64_t mask, _Atomic int *registered)
{
	listener l;
	memset(&l, 0, sizeof l);
	l.fut = WEFT_FUTURE(listener_poll, listener_drop);
	weft_signal_init(&l.sig, mask);
	l.registered = registered;
	return l;
}

/* Raises @sig after yielding once, from inside the runtime. */
typedef struct {
	weft_future fut;
	weft_coro co;
	int sig;
	int pid_kill;   /* use kill(getpid()) instead of raise */
} raiser;

static weft_poll raiser_poll(weft_future *f, weft_cx *cx)
{
	raiser *r = (raiser *)f;
	WEFT_BEGIN(&r->co);
	WEFT_YIELD(&r->co, cx);
	if (r->pid_kill)
		kill(getpid(), r->sig);
	else
		raise(r->sig);
	WEFT_END(&r->co);
}

typedef struct {
	weft_future fut;
	listener l;
	raiser r;
	weft_join j;
	bool started;
} raise_test;

static weft_poll raise_test_poll(weft_future *f, weft_cx *cx)
{
	raise_test *t = (raise_test *)f;
	if (!t->started) {
		t->started = true;
		weft_join2_init(&t->j, &t->l.fut, &t->r.fut);
	}
	return weft_join_poll(&t->j, cx);
}

static void raise_test_drop(weft_future *f)
{
	raise_test *t = (raise_test *)f;
	weft_join_drop(&t->j);
}

static int run_raise(uint32_t workers, uint64_t mask, int sig, bool pid_kill)
{
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, workers), 0);
	raise_test t;
	memset(&t, 0, sizeof t);
	t.fut = WEFT_FUTURE(raise_test_poll, raise_test_drop);
	t.l = listener_make(mask, NULL);
	t.r = (raiser){ .fut = WEFT_FUTURE(raiser_poll, NULL), .sig = sig, .pid_kill = pid_kill };
	uint64_t t0 = test_now_us();
	assert_int_equal(weft_block_on(rt, &t.fut), 0);
	assert_true(test_now_us() - t0 < PROMPT_US);
	weft_runtime_close(rt);
	return t.l.result;
}

static void raise_completes_a_listener_on_the_current_thread_runtime(void **state)
{
	(void)state;
	assert_int_equal(run_raise(1, WEFT_SIGNAL_BIT(SIGUSR1), SIGUSR1, false), SIGUSR1);
	assert_false(handler_installed(SIGUSR1));
}

static void kill_completes_a_listener_on_the_multi_thread_runtime(void **state)
{
	(void)state;
	assert_int_equal(run_raise(2, WEFT_SIGNAL_BIT(SIGUSR2), SIGUSR2, true), SIGUSR2);
	assert_false(handler_installed(SIGUSR2));
}

static void the_default_mask_is_sigint_sigterm_and_sighup(void **state)
{
	(void)state;
	assert_int_equal(run_raise(1, 0, SIGTERM, true), SIGTERM);
	assert_int_equal(run_raise(1, 0, SIGINT, false), SIGINT);
	assert_int_equal(run_raise(2, WEFT_SIGNAL_SHUTDOWN, SIGHUP, true), SIGHUP);
	assert_false(handler_installed(SIGINT));
	assert_false(handler_installed(SIGTERM));
	assert_false(handler_installed(SIGHUP));
}

/* ---------------------------------------- several listeners, two runtimes */

#define MT_LISTENERS 3

typedef struct {
	weft_future fut;
	weft_coro co;
	_Atomic int *registered;
	int expected;
	weft_join_handle *h[MT_LISTENERS];
	int results[MT_LISTENERS];
	weft_sleep nap;
	int i;
	int status;
	uint64_t deadline_us;
} many_main;

static weft_poll many_main_poll(weft_future *f, weft_cx *cx)
{
	many_main *m = (many_main *)f;
	WEFT_BEGIN(&m->co);
	for (m->i = 0; m->i < MT_LISTENERS; m->i++) {
		listener l = listener_make(WEFT_SIGNAL_BIT(SIGTERM), m->registered);
		if (weft_spawn(weft_cx_runtime(cx), &l.fut, sizeof l, &m->h[m->i]) < 0)
			WEFT_RETURN(&m->co, -ENOMEM);
	}
	m->deadline_us = test_now_us() + 10000000u;
	while (atomic_load(m->registered) < m->expected) {
		if (test_now_us() > m->deadline_us)
			WEFT_RETURN(&m->co, -ETIMEDOUT);
		weft_sleep_init(&m->nap, WEFT_MS(1));
		WEFT_AWAIT(&m->co, weft_sleep_poll(&m->nap, cx));
		weft_sleep_drop(&m->nap);
	}
	kill(getpid(), SIGTERM);   /* once, for every listener */
	for (m->i = 0; m->i < MT_LISTENERS; m->i++) {
		WEFT_AWAIT(&m->co, weft_join_handle_poll(m->h[m->i], cx, &m->status));
		m->results[m->i] = m->status < 0 ? m->status
			: ((listener *)weft_join_handle_output(m->h[m->i]))->result;
		weft_join_handle_close(m->h[m->i]);
		m->h[m->i] = NULL;
	}
	WEFT_END(&m->co);
}

static void many_main_drop(weft_future *f)
{
	many_main *m = (many_main *)f;
	weft_sleep_drop(&m->nap);
	for (int i = 0; i < MT_LISTENERS; i++)
		weft_join_handle_close(m->h[i]);
}

struct ct_thread {
	weft_runtime *rt;
	listener l;
};

static void *ct_thread_main(void *arg)
{
	struct ct_thread *c = arg;
	weft_block_on(c->rt, &c->l.fut);
	return NULL;
}

static void one_kill_completes_every_listener_in_two_runtimes(void **state)
{
	(void)state;
	_Atomic int registered = 0;
	weft_runtime *mt, *ct;
	assert_int_equal(new_runtime(&mt, 2), 0);
	assert_int_equal(new_runtime(&ct, 1), 0);

	struct ct_thread c = { .rt = ct };
	c.l = listener_make(WEFT_SIGNAL_BIT(SIGTERM), &registered);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, ct_thread_main, &c), 0);

	many_main m;
	memset(&m, 0, sizeof m);
	m.fut = WEFT_FUTURE(many_main_poll, many_main_drop);
	m.registered = &registered;
	m.expected = MT_LISTENERS + 1;
	uint64_t t0 = test_now_us();
	assert_int_equal(weft_block_on(mt, &m.fut), 0);
	assert_int_equal(m.co.result, 0);
	for (int i = 0; i < MT_LISTENERS; i++)
		assert_int_equal(m.results[i], SIGTERM);

	pthread_join(th, NULL);
	assert_true(test_now_us() - t0 < PROMPT_US);
	assert_int_equal(c.l.result, SIGTERM);
	weft_runtime_close(mt);
	weft_runtime_close(ct);
	assert_false(handler_installed(SIGTERM));
}

/* ------------------------------------------------------------- rearm */

typedef struct {
	weft_future fut;
	weft_coro co;
	weft_signal sig;
	raiser r;
	int got[2];
} rearm_main;

static weft_poll rearm_main_poll(weft_future *f, weft_cx *cx)
{
	rearm_main *m = (rearm_main *)f;
	WEFT_BEGIN(&m->co);
	weft_signal_init(&m->sig, WEFT_SIGNAL_BIT(SIGUSR1) | WEFT_SIGNAL_BIT(SIGUSR2));
	if (weft_signal_poll(&m->sig, cx) == WEFT_READY)   /* registers */
		WEFT_RETURN(&m->co, -EPROTO);
	raise(SIGUSR2);
	WEFT_AWAIT(&m->co, weft_signal_poll(&m->sig, cx));
	m->got[0] = m->sig.result;
	weft_signal_rearm(&m->sig);
	if (weft_signal_poll(&m->sig, cx) == WEFT_READY)   /* nothing new yet */
		WEFT_RETURN(&m->co, -EPROTO);
	raise(SIGUSR1);
	WEFT_AWAIT(&m->co, weft_signal_poll(&m->sig, cx));
	m->got[1] = m->sig.result;
	WEFT_END(&m->co);
}

static void rearm_drop(weft_future *f)
{
	weft_signal_drop(&((rearm_main *)f)->sig);
}

static void rearm_waits_for_the_next_delivery_keeping_the_handler(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	rearm_main m;
	memset(&m, 0, sizeof m);
	m.fut = WEFT_FUTURE(rearm_main_poll, rearm_drop);
	assert_int_equal(weft_block_on(rt, &m.fut), 0);
	assert_int_equal(m.co.result, 0);
	assert_int_equal(m.got[0], SIGUSR2);
	assert_int_equal(m.got[1], SIGUSR1);
	weft_runtime_close(rt);
	assert_false(handler_installed(SIGUSR1));
}

/* ------------------------------------------------------- dropping */

/* Polls an outside listener until it is pending (registered), then ends. */
typedef struct {
	weft_future fut;
	weft_signal *sig;
	weft_poll first;
} poll_once;

static weft_poll poll_once_poll(weft_future *f, weft_cx *cx)
{
	poll_once *p = (poll_once *)f;
	p->first = weft_signal_poll(p->sig, cx);
	return WEFT_READY;
}

static void dropping_a_pending_listener_restores_the_disposition(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	weft_signal a, b;
	weft_signal_init(&a, WEFT_SIGNAL_BIT(SIGUSR1));
	weft_signal_init(&b, WEFT_SIGNAL_BIT(SIGUSR1) | WEFT_SIGNAL_BIT(SIGUSR2));
	assert_false(handler_installed(SIGUSR1));

	poll_once p = { .fut = WEFT_FUTURE(poll_once_poll, NULL), .sig = &a };
	assert_int_equal(weft_block_on(rt, &p.fut), 0);
	assert_int_equal(p.first, WEFT_PENDING);
	p = (poll_once){ .fut = WEFT_FUTURE(poll_once_poll, NULL), .sig = &b };
	assert_int_equal(weft_block_on(rt, &p.fut), 0);
	assert_int_equal(p.first, WEFT_PENDING);
	assert_true(handler_installed(SIGUSR1));
	assert_true(handler_installed(SIGUSR2));

	weft_signal_drop(&a);              /* b still names SIGUSR1 */
	weft_signal_drop(&a);              /* idempotent */
	assert_true(handler_installed(SIGUSR1));
	assert_int_equal(a.result, 0);

	weft_runtime_close(rt);             /* b outlives its runtime */
	assert_true(handler_installed(SIGUSR2));
	weft_signal_drop(&b);
	assert_false(handler_installed(SIGUSR1));
	assert_false(handler_installed(SIGUSR2));

	/* Dropped listeners leave nothing behind: a new one works. */
	assert_int_equal(run_raise(1, WEFT_SIGNAL_BIT(SIGUSR1), SIGUSR1, false), SIGUSR1);
}

/* Dropping a waiting listener drops the waker it stored (for a task
 * waker, a reference on the task): both while other listeners keep the
 * hub and when it is the last one. Polled by hand with counting wakers,
 * so a waker kept past the drop shows as a live count. */
static void dropping_a_waiting_listener_drops_its_waker(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	test_counting_waker ca, cb;
	test_counting_waker_init(&ca);
	test_counting_waker_init(&cb);
	weft_waker wa = test_counting_waker_get(&ca), wb = test_counting_waker_get(&cb);
	weft_cx cxa = weft_cx_from_waker(&wa), cxb = weft_cx_from_waker(&wb);
	cxa.runtime = cxb.runtime = rt;
	weft_signal a, b;
	weft_signal_init(&a, WEFT_SIGNAL_BIT(SIGUSR1));
	weft_signal_init(&b, WEFT_SIGNAL_BIT(SIGUSR1));
	assert_int_equal(weft_signal_poll(&a, &cxa), WEFT_PENDING);
	assert_int_equal(weft_signal_poll(&b, &cxb), WEFT_PENDING);
	assert_int_equal(test_counting_waker_load(&ca.live), 2);   /* ours, a's */
	assert_int_equal(test_counting_waker_load(&cb.live), 2);

	weft_signal_drop(&a);   /* b keeps the hub */
	assert_int_equal(test_counting_waker_load(&ca.live), 1);
	weft_signal_drop(&b);   /* the last listener: the hub goes too */
	assert_int_equal(test_counting_waker_load(&cb.live), 1);
	weft_runtime_close(rt);
	weft_waker_drop(&wa);
	weft_waker_drop(&wb);
	assert_int_equal(test_counting_waker_load(&ca.live), 0);
	assert_int_equal(test_counting_waker_load(&cb.live), 0);
	assert_false(handler_installed(SIGUSR1));
}

static void a_signal_raised_before_the_first_poll_is_not_seen(void **state)
{
	(void)state;
	/* With another listener holding the handler, a delivery before b's
	 * registration is counted but is old news for b. */
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	weft_signal a, b;
	weft_signal_init(&a, WEFT_SIGNAL_BIT(SIGUSR1));
	weft_signal_init(&b, WEFT_SIGNAL_BIT(SIGUSR1));
	poll_once p = { .fut = WEFT_FUTURE(poll_once_poll, NULL), .sig = &a };
	assert_int_equal(weft_block_on(rt, &p.fut), 0);
	raise(SIGUSR1);
	p = (poll_once){ .fut = WEFT_FUTURE(poll_once_poll, NULL), .sig = &b };
	assert_int_equal(weft_block_on(rt, &p.fut), 0);
	assert_int_equal(p.first, WEFT_PENDING);
	p = (poll_once){ .fut = WEFT_FUTURE(poll_once_poll, NULL), .sig = &a };
	assert_int_equal(weft_block_on(rt, &p.fut), 0);
	assert_int_equal(p.first, WEFT_READY);
	assert_int_equal(a.result, SIGUSR1);
	weft_signal_drop(&a);
	weft_signal_drop(&b);
	weft_runtime_close(rt);
}

/* ------------------------------------------------------------ errors */

/* A sigaction that fails while installing the second signal of a mask
 * puts the first one back and reports the error; one that fails while
 * putting a disposition back (found by the fault sweep: weft's handler
 * stayed installed) is retried, so the default action is back. */
static void a_failed_sigaction_leaves_no_handler_behind(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	weft_signal a;
	weft_signal_init(&a, WEFT_SIGNAL_BIT(SIGUSR1) | WEFT_SIGNAL_BIT(SIGUSR2));
	weft__fault_arm(WEFT__FAULT_SIGACTION, 2, EINVAL);
	poll_once p = { .fut = WEFT_FUTURE(poll_once_poll, NULL), .sig = &a };
	assert_int_equal(weft_block_on(rt, &p.fut), 0);
	weft__fault_reset();
	assert_int_equal(p.first, WEFT_READY);
	assert_int_equal(a.result, -EINVAL);
	assert_false(handler_installed(SIGUSR1));
	assert_false(handler_installed(SIGUSR2));
	weft_signal_drop(&a);

	weft_signal_init(&a, WEFT_SIGNAL_BIT(SIGUSR1));
	p = (poll_once){ .fut = WEFT_FUTURE(poll_once_poll, NULL), .sig = &a };
	assert_int_equal(weft_block_on(rt, &p.fut), 0);
	assert_int_equal(p.first, WEFT_PENDING);
	assert_true(handler_installed(SIGUSR1));
	weft__fault_arm(WEFT__FAULT_SIGACTION, 1, EINVAL);   /* the restore */
	weft_signal_drop(&a);
	weft__fault_reset();
	assert_false(handler_installed(SIGUSR1));
	weft_runtime_close(rt);
}

static void bad_masks_and_no_runtime_give_einval(void **state)
{
	(void)state;
	weft_runtime *rt;
	assert_int_equal(new_runtime(&rt, 1), 0);
	const uint64_t bad[] = {
		WEFT_SIGNAL_BIT(SIGKILL), WEFT_SIGNAL_BIT(SIGSTOP),
		WEFT_SIGNAL_BIT(SIGSEGV) | WEFT_SIGNAL_BIT(SIGUSR1),
		WEFT_SIGNAL_BIT(33),
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		weft_signal s;
		weft_signal_init(&s, bad[i]);
		poll_once p = { .fut = WEFT_FUTURE(poll_once_poll, NULL), .sig = &s };
		assert_int_equal(weft_block_on(rt, &p.fut), 0);
		assert_int_equal(p.first, WEFT_READY);
		assert_int_equal(s.result, -EINVAL);
		weft_signal_drop(&s);
		assert_false(handler_installed(SIGUSR1));
	}
	weft_runtime_close(rt);

	weft_signal s;
	weft_signal_init(&s, 0);
	weft_waker w = weft_noop_waker();
	weft_cx cx = weft_cx_from_waker(&w);
	assert_int_equal(weft_signal_poll(&s, &cx), WEFT_READY);
	assert_int_equal(s.result, -EINVAL);
	weft_signal_drop(&s);

	weft_signal z;
	memset(&z, 0, sizeof z);
	weft_signal_drop(&z);
	weft_signal_drop(&z);
	weft_signal_rearm(&z);
}

/* ------------------------------------- hubs come and go under a flood */

/* Registers *sig (one poll) and is done; block_on's drop leaves *sig
 * registered, for the test to drop by hand. */
typedef struct {
	weft_future fut;
	weft_signal *sig;
} register_once;

static weft_poll register_once_poll(weft_future *f, weft_cx *cx)
{
	register_once *r = (register_once *)f;
	(void)weft_signal_poll(r->sig, cx);
	return WEFT_READY;
}

static void register_in(weft_runtime *rt, weft_signal *sig)
{
	register_once r = { .fut = WEFT_FUTURE(register_once_poll, NULL), .sig = sig };
	assert_int_equal(weft_block_on(rt, &r.fut), 0);
	assert_non_null(sig->priv.hub);
}

static atomic_int flood_stop;

static void *flood_main(void *arg)
{
	(void)arg;
	while (!atomic_load(&flood_stop))
		kill(getpid(), SIGUSR2);
	return NULL;
}

/* The handler walks the list of runtimes with listeners without a lock
 * and raises each one's backend user event: a runtime whose last
 * listener goes must be out of every walk before it can be freed. Here
 * runtimes come and go two thousand times while another thread floods
 * the process with the signal; ASan (tests/run --sanitize) catches a
 * handler that reaches a freed hub or reactor, and the long-lived
 * listener must still see the signal. */
static void runtimes_come_and_go_while_the_signal_floods(void **state)
{
	(void)state;
	weft_runtime *keep;
	assert_int_equal(new_runtime(&keep, 1), 0);
	weft_signal stay;
	weft_signal_init(&stay, WEFT_SIGNAL_BIT(SIGUSR2));
	register_in(keep, &stay);   /* keeps the handler installed throughout */

	atomic_store(&flood_stop, 0);
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, flood_main, NULL), 0);
	for (int i = 0; i < 2000; i++) {
		weft_runtime *rt;
		assert_int_equal(new_runtime(&rt, i % 3 == 0 ? 2 : 1), 0);
		weft_signal s;
		weft_signal_init(&s, WEFT_SIGNAL_BIT(SIGUSR2));
		register_in(rt, &s);
		if (i % 2)
			weft_runtime_close(rt);   /* the listener outlives its runtime */
		weft_signal_drop(&s);
		if (!(i % 2))
			weft_runtime_close(rt);
	}
	atomic_store(&flood_stop, 1);
	pthread_join(th, NULL);

	/* The long-lived listener saw the flood. */
	register_once r = { .fut = WEFT_FUTURE(register_once_poll, NULL), .sig = &stay };
	assert_int_equal(weft_block_on(keep, &r.fut), 0);
	assert_int_equal(stay.result, SIGUSR2);
	weft_signal_drop(&stay);
	weft_runtime_close(keep);
	assert_false(handler_installed(SIGUSR2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(raise_completes_a_listener_on_the_current_thread_runtime),
		cmocka_unit_test(kill_completes_a_listener_on_the_multi_thread_runtime),
		cmocka_unit_test(the_default_mask_is_sigint_sigterm_and_sighup),
		cmocka_unit_test(one_kill_completes_every_listener_in_two_runtimes),
		cmocka_unit_test(rearm_waits_for_the_next_delivery_keeping_the_handler),
		cmocka_unit_test(dropping_a_pending_listener_restores_the_disposition),
		cmocka_unit_test(dropping_a_waiting_listener_drops_its_waker),
		cmocka_unit_test(a_signal_raised_before_the_first_poll_is_not_seen),
		cmocka_unit_test(a_failed_sigaction_leaves_no_handler_behind),
		cmocka_unit_test(bad_masks_and_no_runtime_give_einval),
		cmocka_unit_test(runtimes_come_and_go_while_the_signal_floods),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
