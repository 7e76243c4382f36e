/*
 * fuzz_runtime.c - libFuzzer target that runs the input as a program on
 * a current-thread runtime with the paused clock (weft/time.h), so that
 * a program runs the same every time and a crash replays exactly.
 *
 * The input is a sequence of operations, each an opcode byte and a few
 * argument bytes (a missing byte reads as 0), run by a driver future
 * under weft_block_on: spawn a task (with a join handle or detached),
 * abort, detach, poll or await a join handle, wake or spuriously wake a
 * waiting future, keep a clone of its waker and wake that later (after
 * the task may be gone), yield, sleep, advance the clock, try_send on an
 * mpsc channel, close the driver's sender, send on or drop a oneshot
 * sender. A task is one of: a leaf future (ready at once, yields n
 * times, waits for a wake, never completes, sleeps), a timeout around a
 * leaf, a select or a join of two leaves, an mpsc sender sending n
 * messages, the mpsc receiver, a oneshot receiver, a task that locks
 * the mutex and holds it over yields and sleeps, or a task that aborts
 * itself through its own join handle while it is being polled.
 *
 * Every future here (tasks and the leaves inside them) has an id and
 * counts its drops. Checked (abort() on failure): a future is never
 * polled after it was dropped or after it returned READY, and is
 * dropped at most once; after weft_block_on the runtime's live task
 * count equals the tasks not yet dropped; after weft_runtime_close every
 * future was dropped exactly once; a timeout, select or join gives a
 * result that matches which of its children completed; join handles
 * report 0 exactly for tasks that completed; mpsc messages arrive in
 * order per sender, none invented; a oneshot receiver gets the value
 * sent, or -EPIPE when the sender was dropped; at most one task holds
 * the mutex. Memory: ASan's leak checker runs after each input.
 *
 * Bounds, so no input hangs: at most MAX_OPS operations and MAX_TASKS
 * tasks per program, sleeps under 16 ms of the paused clock (which
 * auto-advances), bounded yields, and a task that never completes is
 * only ever dropped (abort, or the runtime's free).
 */
#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                 \
	do {                                                                        \
		if (!(cond)) {                                                      \
			fprintf(stderr, "fuzz_runtime: check failed: %s (line %d)\n", \
				#cond, __LINE__);                                   \
			abort();                                                    \
		}                                                                   \
	} while (0)

#define MAX_OPS 256
#define MAX_TASKS 64
#define MAX_IDS (1 + 3 * MAX_TASKS)   /* id 0: the driver as a sender */
#define MAX_HANDLES 32
#define MAX_STASH 16
#define MAX_ONESHOTS 8

/* ------------------------------------------------------------ bookkeeping */

struct id_state {
	int drops;
	bool ready;          /* its poll returned READY */
	bool is_task;
	bool aborted;        /* a task whose handle was aborted */
	weft_waker waker;    /* an event leaf's stored waker */
	bool event_set;      /* an event leaf: wake op happened */
	uint32_t sent;       /* mpsc messages sent by this id */
	uint32_t received;   /* mpsc messages from this id received */
};

static struct {
	struct id_state ids[MAX_IDS];
	int next_id;
	int tasks;
	weft_mutex mutex;
	int holders;
	weft_mpsc_sender *tx;      /* the driver's sender */
	weft_mpsc_receiver *rx;    /* until a receiver task takes it */
	struct {
		weft_oneshot_sender *tx;
		weft_oneshot_receiver *rx;   /* until a task takes it */
		bool sent, dropped;
	} os[MAX_ONESHOTS];
	int oneshots;
	weft_waker stash[MAX_STASH];
	weft_join_handle *handle_of[MAX_IDS];   /* a task's handle until detached */
} g;

static int new_id(bool is_task)
{
	CHECK(g.next_id < MAX_IDS);
	int id = g.next_id++;
	g.ids[id].is_task = is_task;
	return id;
}

static void count_drop(int id)
{
	CHECK(id > 0 && id < g.next_id);
	g.ids[id].drops++;
	CHECK(g.ids[id].drops == 1);
}

static void check_poll(int id)
{
	CHECK(id > 0 && id < g.next_id);
	CHECK(g.ids[id].drops == 0);   /* polled after drop */
	CHECK(!g.ids[id].ready);       /* polled after READY */
}

/* ------------------------------------------------------------------ leaves */

enum { L_READY, L_YIELD, L_EVENT, L_FOREVER, L_SLEEP, L_KINDS };

typedef struct leaf {
	weft_future fut;
	int id;           /* 0: unused */
	uint8_t kind;
	uint8_t arg;
	uint8_t count;
	weft_sleep sleep;
} leaf;

static weft_poll leaf_poll(weft_future *f, weft_cx *cx)
{
	leaf *l = (leaf *)f;
	check_poll(l->id);
	struct id_state *s = &g.ids[l->id];
	switch (l->kind) {
	case L_YIELD:
		if (l->count < l->arg) {
			l->count++;
			weft_waker_wake_by_ref(cx->waker);
			return WEFT_PENDING;
		}
		break;
	case L_EVENT:
		if (!s->event_set) {
			weft_waker_store(&s->waker, cx->waker);
			return WEFT_PENDING;
		}
		break;
	case L_FOREVER:
		return WEFT_PENDING;
	case L_SLEEP:
		if (weft_sleep_poll(&l->sleep, cx) == WEFT_PENDING)
			return WEFT_PENDING;
		CHECK(l->sleep.result == 0);
		break;
	default:
		break;
	}
	s->ready = true;
	return WEFT_READY;
}

static void leaf_drop(weft_future *f)
{
	leaf *l = (leaf *)f;
	if (!l->id)
		return;
	count_drop(l->id);
	weft_sleep_drop(&l->sleep);
	weft_waker_drop(&g.ids[l->id].waker);
}

static void leaf_init(leaf *l, uint8_t kind, uint8_t arg)
{
	memset(l, 0, sizeof *l);
	l->fut = WEFT_FUTURE(leaf_poll, leaf_drop);
	l->id = new_id(false);
	l->kind = kind % L_KINDS;
	l->arg = arg % 8;
	if (l->kind == L_SLEEP)
		weft_sleep_init(&l->sleep, WEFT_MS(arg % 16));
}

/* ------------------------------------------------------------------- tasks */

enum { T_LEAF, T_TIMEOUT, T_SELECT, T_JOIN, T_SEND, T_RECV, T_ONESHOT, T_MUTEX, T_SELF_ABORT,
       T_KINDS };

typedef struct task {
	weft_future fut;
	weft_coro co;
	int id;
	uint8_t kind;
	uint8_t arg;
	bool started;      /* combinator initialised (first poll) */
	bool self_aborted; /* T_SELF_ABORT: aborted itself, not to be polled */
	leaf a, b;
	weft_timeout to;
	weft_select sel;
	weft_join join;
	uint64_t ms;
	/* mpsc */
	weft_mpsc_sender *tx;
	weft_mpsc_send_future sf;
	weft_mpsc_receiver *rx;
	weft_mpsc_recv_future rf;
	uint32_t msg, seq;
	/* oneshot */
	int slot;
	weft_oneshot_receiver *orx;
	weft_oneshot_recv_future orf;
	uint32_t oval;
	/* mutex */
	weft_mutex_lock_future lf;
	bool held;
	weft_yield_now y;
	weft_sleep sleep;
} task;

static uint32_t oneshot_value(int slot)
{
	return 0x5eed0000u + (uint32_t)slot;
}

static weft_poll task_poll(weft_future *f, weft_cx *cx)
{
	task *t = (task *)f;
	check_poll(t->id);
	CHECK(!t->self_aborted);
	WEFT_BEGIN(&t->co);
	switch (t->kind) {
	case T_LEAF:
		WEFT_AWAIT(&t->co, leaf_poll(&t->a.fut, cx));
		break;
	case T_TIMEOUT:
		weft_timeout_init(&t->to, &t->a.fut, t->ms);
		t->started = true;
		WEFT_AWAIT(&t->co, weft_timeout_poll(&t->to, cx));
		CHECK(t->to.result == 0 || t->to.result == -ETIMEDOUT);
		CHECK(g.ids[t->a.id].ready == (t->to.result == 0));
		CHECK(g.ids[t->a.id].drops == 1);   /* dropped by the timeout */
		break;
	case T_SELECT:
		weft_select2_init(&t->sel, &t->a.fut, &t->b.fut);
		t->started = true;
		WEFT_AWAIT(&t->co, weft_select_poll(&t->sel, cx));
		CHECK(t->sel.winner == 0 || t->sel.winner == 1);
		CHECK(g.ids[(t->sel.winner ? t->b : t->a).id].ready);
		/* The first ready child wins: a ready a beats b. */
		if (t->sel.winner == 1)
			CHECK(!g.ids[t->a.id].ready);
		CHECK(g.ids[t->a.id].drops == 1 && g.ids[t->b.id].drops == 1);
		break;
	case T_JOIN:
		weft_join2_init(&t->join, &t->a.fut, &t->b.fut);
		t->started = true;
		WEFT_AWAIT(&t->co, weft_join_poll(&t->join, cx));
		CHECK(t->join.result == 0);
		CHECK(g.ids[t->a.id].ready && g.ids[t->b.id].ready);
		CHECK(g.ids[t->a.id].drops == 1 && g.ids[t->b.id].drops == 1);
		break;
	case T_SEND:
		for (t->seq = 0; t->seq < t->arg; t->seq++) {
			t->msg = (uint32_t)t->id << 16 | t->seq;
			weft_mpsc_send_init(&t->sf, t->tx, &t->msg);
			WEFT_AWAIT(&t->co, weft_mpsc_send_poll(&t->sf, cx));
			weft_mpsc_send_drop(&t->sf);
			if (t->sf.result < 0) {
				CHECK(t->sf.result == -EPIPE);
				break;
			}
			CHECK(g.ids[t->id].sent == t->seq);
			g.ids[t->id].sent++;
		}
		break;
	case T_RECV:
		for (;;) {
			weft_mpsc_recv_init(&t->rf, t->rx, &t->msg);
			WEFT_AWAIT(&t->co, weft_mpsc_recv_poll(&t->rf, cx));
			weft_mpsc_recv_drop(&t->rf);
			if (t->rf.result < 0) {
				CHECK(t->rf.result == -EPIPE);
				break;
			}
			int from = (int)(t->msg >> 16);
			CHECK(from >= 0 && from < g.next_id);
			struct id_state *s = &g.ids[from];
			/* In order per sender, and only what was sent. */
			CHECK((t->msg & 0xffff) == s->received);
			CHECK(s->received < s->sent);
			s->received++;
		}
		break;
	case T_ONESHOT:
		weft_oneshot_recv_init(&t->orf, t->orx, &t->oval);
		WEFT_AWAIT(&t->co, weft_oneshot_recv_poll(&t->orf, cx));
		weft_oneshot_recv_drop(&t->orf);
		if (t->orf.result == 0) {
			CHECK(g.os[t->slot].sent);
			CHECK(t->oval == oneshot_value(t->slot));
		} else {
			CHECK(t->orf.result == -EPIPE);
			CHECK(g.os[t->slot].dropped);
		}
		break;
	case T_SELF_ABORT:
		/* Aborts itself through its handle while being polled, after
		 * arg % 4 yields; without a handle it just yields. */
		for (t->seq = 0; t->seq < t->arg % 4; t->seq++) {
			weft_yield_now_init(&t->y);
			WEFT_AWAIT(&t->co, weft_yield_now_poll(&t->y, cx));
		}
		if (g.handle_of[t->id]) {
			g.ids[t->id].aborted = true;
			t->self_aborted = true;
			weft_join_handle_abort(g.handle_of[t->id]);
			if (t->arg & 4)
				weft_waker_wake_by_ref(cx->waker);
			return WEFT_PENDING;   /* never polled again */
		}
		break;
	case T_MUTEX:
		weft_mutex_lock_init(&t->lf, &g.mutex);
		WEFT_AWAIT(&t->co, weft_mutex_lock_poll(&t->lf, cx));
		CHECK(t->lf.result == 0);
		weft_mutex_lock_drop(&t->lf);
		t->held = true;
		CHECK(++g.holders == 1);
		for (t->seq = 0; t->seq < t->arg % 4; t->seq++) {
			if (t->arg & 4) {
				weft_sleep_init(&t->sleep, WEFT_MS(t->seq + 1));
				WEFT_AWAIT(&t->co, weft_sleep_poll(&t->sleep, cx));
				weft_sleep_drop(&t->sleep);
			} else {
				weft_yield_now_init(&t->y);
				WEFT_AWAIT(&t->co, weft_yield_now_poll(&t->y, cx));
			}
		}
		g.holders--;
		t->held = false;
		CHECK(weft_mutex_unlock(&g.mutex) == 0);
		break;
	default:
		break;
	}
	g.ids[t->id].ready = true;
	WEFT_END(&t->co);
}

static void task_drop(weft_future *f)
{
	task *t = (task *)f;
	count_drop(t->id);
	switch (t->kind) {
	case T_LEAF:
		leaf_drop(&t->a.fut);
		break;
	case T_TIMEOUT:
		if (t->started)
			weft_timeout_drop(&t->to);
		else
			leaf_drop(&t->a.fut);
		break;
	case T_SELECT:
		if (t->started) {
			weft_select_drop(&t->sel);
		} else {
			leaf_drop(&t->a.fut);
			leaf_drop(&t->b.fut);
		}
		break;
	case T_JOIN:
		if (t->started) {
			weft_join_drop(&t->join);
		} else {
			leaf_drop(&t->a.fut);
			leaf_drop(&t->b.fut);
		}
		break;
	case T_SEND:
		weft_mpsc_send_drop(&t->sf);
		weft_mpsc_sender_close(t->tx);
		break;
	case T_RECV:
		weft_mpsc_recv_drop(&t->rf);
		weft_mpsc_receiver_close(t->rx);
		break;
	case T_ONESHOT:
		weft_oneshot_recv_drop(&t->orf);
		weft_oneshot_receiver_close(t->orx);
		break;
	case T_MUTEX:
		weft_mutex_lock_drop(&t->lf);
		weft_sleep_drop(&t->sleep);
		if (t->held) {
			g.holders--;
			CHECK(weft_mutex_unlock(&g.mutex) == 0);
		}
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------------ driver */

typedef struct driver {
	weft_future fut;
	weft_coro co;
	const uint8_t *p, *end;
	int ops;
	struct {
		weft_join_handle *h;
		int id;
	} handles[MAX_HANDLES];
	int nhandles;
	int i, tries;
	uint32_t seq;   /* the driver's own mpsc messages (sender id 0) */
	weft_yield_now y;
	weft_sleep sleep;
} driver;

static uint8_t next_byte(driver *d)
{
	return d->p < d->end ? *d->p++ : 0;
}

/* A live handle slot chosen by the next byte, or -1. */
static int pick_handle(driver *d)
{
	uint8_t b = next_byte(d);
	return d->nhandles ? b % d->nhandles : -1;
}

static void remove_handle(driver *d, int i)
{
	g.handle_of[d->handles[i].id] = NULL;
	d->handles[i] = d->handles[--d->nhandles];
}

static void spawn_task(driver *d, weft_cx *cx)
{
	uint8_t kind = next_byte(d) % T_KINDS, arg = next_byte(d);
	uint8_t a = next_byte(d), b = next_byte(d);
	bool with_handle = arg & 0x80 && d->nhandles < MAX_HANDLES;
	if (g.tasks >= MAX_TASKS)
		return;
	/* Kinds whose channel is not available become plain leaves. */
	if ((kind == T_SEND && !g.tx) || (kind == T_RECV && !g.rx) ||
	    (kind == T_ONESHOT && g.oneshots == MAX_ONESHOTS))
		kind = T_LEAF;
	task t;
	memset(&t, 0, sizeof t);
	t.fut = WEFT_FUTURE(task_poll, task_drop);
	t.id = new_id(true);
	t.kind = kind;
	t.arg = arg & 0x7f;
	switch (kind) {
	case T_LEAF:
	case T_TIMEOUT:
		leaf_init(&t.a, a, b);
		t.ms = WEFT_MS(arg % 16);
		break;
	case T_SELECT:
	case T_JOIN:
		leaf_init(&t.a, a, a >> 3);
		leaf_init(&t.b, b, b >> 3);
		break;
	case T_SEND:
		t.tx = weft_mpsc_sender_clone(g.tx);
		t.arg %= 8;
		break;
	case T_RECV:
		t.rx = g.rx;
		g.rx = NULL;
		break;
	case T_ONESHOT:
		t.slot = g.oneshots++;
		CHECK(weft_oneshot_new(sizeof(uint32_t), &g.os[t.slot].tx, &t.orx) == 0);
		break;
	default:
		break;
	}
	weft_join_handle *h = NULL;
	int rc = weft_spawn(cx->runtime, &t.fut, sizeof t, with_handle ? &h : NULL);
	CHECK(rc == 0);
	g.tasks++;
	if (with_handle) {
		d->handles[d->nhandles].h = h;
		d->handles[d->nhandles].id = t.id;
		d->nhandles++;
		g.handle_of[t.id] = h;
	}
}

/* Checks what a join handle said against what the task did. */
static void check_joined(driver *d, int i, int status)
{
	struct id_state *s = &g.ids[d->handles[i].id];
	if (status == 0) {
		CHECK(s->ready);
		task *out = weft_join_handle_output(d->handles[i].h);
		CHECK(out && out->id == d->handles[i].id);
	} else {
		CHECK(status == -ECANCELED);
		CHECK(s->aborted && !s->ready);
		CHECK(weft_join_handle_output(d->handles[i].h) == NULL);
	}
	CHECK(s->drops == 1);
	CHECK(weft_join_handle_is_finished(d->handles[i].h));
}

/* An event leaf's id chosen by the next byte (any id: waking one that is
 * not an event leaf, or gone, must be harmless). */
static int pick_id(driver *d)
{
	uint8_t b = next_byte(d);
	return g.next_id > 1 ? 1 + b % (g.next_id - 1) : 0;
}

enum {
	OP_SPAWN, OP_ABORT, OP_DETACH, OP_WAKE, OP_WAKE_SPURIOUS, OP_YIELD, OP_SLEEP,
	OP_JOIN_POLL, OP_JOIN_AWAIT, OP_TRY_SEND, OP_CLOSE_TX, OP_ONESHOT_SEND,
	OP_ONESHOT_DROP, OP_ADVANCE, OP_STASH, OP_WAKE_STASH, OP_COUNT
};

static weft_poll driver_poll(weft_future *f, weft_cx *cx)
{
	driver *d = (driver *)f;
	int i, id, rc, status;
	WEFT_BEGIN(&d->co);
	for (; d->p < d->end && d->ops < MAX_OPS; d->ops++) {
		switch (next_byte(d) % OP_COUNT) {
		case OP_SPAWN:
			spawn_task(d, cx);
			break;
		case OP_ABORT:
			if ((i = pick_handle(d)) >= 0) {
				g.ids[d->handles[i].id].aborted |= !g.ids[d->handles[i].id].ready;
				weft_join_handle_abort(d->handles[i].h);
			}
			break;
		case OP_DETACH:
			if ((i = pick_handle(d)) >= 0) {
				weft_join_handle_close(d->handles[i].h);
				remove_handle(d, i);
			}
			break;
		case OP_WAKE:
			if ((id = pick_id(d))) {
				g.ids[id].event_set = true;
				weft_waker_wake(&g.ids[id].waker);
			}
			break;
		case OP_WAKE_SPURIOUS:
			if ((id = pick_id(d)))
				weft_waker_wake_by_ref(&g.ids[id].waker);
			break;
		case OP_YIELD:
			weft_yield_now_init(&d->y);
			WEFT_AWAIT(&d->co, weft_yield_now_poll(&d->y, cx));
			break;
		case OP_SLEEP:
			weft_sleep_init(&d->sleep, WEFT_MS(next_byte(d) % 16));
			WEFT_AWAIT(&d->co, weft_sleep_poll(&d->sleep, cx));
			weft_sleep_drop(&d->sleep);
			break;
		case OP_JOIN_POLL:
			if ((i = pick_handle(d)) >= 0 &&
			    weft_join_handle_poll(d->handles[i].h, cx, &status) == WEFT_READY)
				check_joined(d, i, status);
			break;
		case OP_JOIN_AWAIT:
			/* Up to 4 polls 1 ms apart: a task that never
			 * completes must not hang the program. */
			if ((d->i = pick_handle(d)) < 0)
				break;
			for (d->tries = 0; d->tries < 4; d->tries++) {
				if (weft_join_handle_poll(d->handles[d->i].h, cx, &status) == WEFT_READY) {
					check_joined(d, d->i, status);
					break;
				}
				weft_sleep_init(&d->sleep, WEFT_MS(1));
				WEFT_AWAIT(&d->co, weft_sleep_poll(&d->sleep, cx));
				weft_sleep_drop(&d->sleep);
			}
			break;
		case OP_TRY_SEND:
			if (g.tx) {
				uint32_t msg = d->seq;
				rc = weft_mpsc_try_send(g.tx, &msg);
				CHECK(rc == 0 || rc == -EAGAIN || rc == -EPIPE);
				if (rc == 0) {
					g.ids[0].sent++;
					d->seq++;
				}
			}
			break;
		case OP_CLOSE_TX:
			weft_mpsc_sender_close(g.tx);
			g.tx = NULL;
			break;
		case OP_ONESHOT_SEND:
			i = next_byte(d) % MAX_ONESHOTS;
			if (g.os[i].tx) {
				uint32_t v = oneshot_value(i);
				rc = weft_oneshot_send(g.os[i].tx, &v);
				CHECK(rc == 0 || rc == -EPIPE);
				g.os[i].tx = NULL;
				g.os[i].sent = true;
			}
			break;
		case OP_ONESHOT_DROP:
			i = next_byte(d) % MAX_ONESHOTS;
			if (g.os[i].tx) {
				weft_oneshot_sender_close(g.os[i].tx);
				g.os[i].tx = NULL;
				g.os[i].dropped = true;
			}
			break;
		case OP_ADVANCE:
			CHECK(weft_time_advance(cx->runtime, WEFT_MS(next_byte(d) % 16)) == 0);
			break;
		case OP_STASH:
			id = pick_id(d);
			i = next_byte(d) % MAX_STASH;
			if (id && g.ids[id].waker.vtable && !g.stash[i].vtable)
				g.stash[i] = weft_waker_clone(&g.ids[id].waker);
			break;
		case OP_WAKE_STASH:
			weft_waker_wake(&g.stash[next_byte(d) % MAX_STASH]);
			break;
		}
	}
	/* The handles left: abort some (by the parity of their id), detach all. */
	while (d->nhandles) {
		i = d->nhandles - 1;
		if (d->handles[i].id & 1) {
			g.ids[d->handles[i].id].aborted |= !g.ids[d->handles[i].id].ready;
			weft_join_handle_abort(d->handles[i].h);
		}
		weft_join_handle_close(d->handles[i].h);
		remove_handle(d, i);
	}
	WEFT_END(&d->co);
}

static void driver_drop(weft_future *f)
{
	driver *d = (driver *)f;
	weft_sleep_drop(&d->sleep);
	while (d->nhandles) {
		weft_join_handle_close(d->handles[d->nhandles - 1].h);
		remove_handle(d, d->nhandles - 1);
	}
}

/* -------------------------------------------------------------- the target */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	memset(&g, 0, sizeof g);
	g.next_id = 1;   /* id 0: the driver's own messages */
	/* Byte 0: the mpsc channel's capacity (0: unbounded). */
	size_t capacity = data[0] % 5;
	CHECK(weft_mpsc_new(capacity, sizeof(uint32_t), &g.tx, &g.rx) == 0);
	CHECK(weft_mutex_init(&g.mutex) == 0);

	weft_runtime *rt;
	weft_runtime_config cfg = { .workers = 1 };
	CHECK(weft_runtime_new(&rt, &cfg) == 0);
	CHECK(weft_time_pause(rt) == 0);

	driver *d = calloc(1, sizeof *d);
	CHECK(d);
	d->fut = WEFT_FUTURE(driver_poll, driver_drop);
	d->p = data + 1;
	d->end = data + size;
	CHECK(weft_block_on(rt, &d->fut) == 0);
	free(d);

	/* Live tasks: those spawned and not dropped yet (a task's drop and
	 * its end are one step on this flavour). */
	size_t undropped = 0;
	for (int id = 1; id < g.next_id; id++)
		if (g.ids[id].is_task && g.ids[id].drops == 0)
			undropped++;
	CHECK(weft_runtime_live_tasks(rt) == undropped);

	weft_runtime_close(rt);
	for (int id = 1; id < g.next_id; id++)
		CHECK(g.ids[id].drops == 1);
	CHECK(g.holders == 0);

	/* Wakers that outlived their tasks and the runtime. */
	for (int i = 0; i < MAX_STASH; i++)
		weft_waker_wake(&g.stash[i]);
	for (int id = 0; id < g.next_id; id++)
		CHECK(!g.ids[id].waker.vtable);

	weft_mpsc_sender_close(g.tx);
	weft_mpsc_receiver_close(g.rx);
	for (int i = 0; i < MAX_ONESHOTS; i++)
		weft_oneshot_sender_close(g.os[i].tx);
	weft_mutex_close(&g.mutex);
	return 0;
}
