/*
 * combinator.c - join, try_join and select over type-erased children.
 *
 * The children live in the caller's struct; a combinator keeps only which
 * of them it has finished with. A child is dropped as soon as it is ready
 * (its output stays readable) or cancelled, and never polled after that,
 * so each child's drop runs exactly once however the combinator ends.
 */
#include "task.h"

#include <errno.h>

static inline weft_future **weft__join_children(weft_join *j)
{
	return j->priv.children ? j->priv.children : j->priv.pair;
}

static inline uint64_t weft__all_bits(uint32_t n)
{
	return n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1);
}

static inline bool weft__count_ok(uint32_t n)
{
	return n >= 1 && n <= WEFT_COMBINATOR_MAX;
}

/* Drops every child not yet finished. */
static void weft__join_cancel_rest(weft_join *j)
{
	weft_future **kids = weft__join_children(j);
	for (uint32_t i = 0; i < j->priv.n; i++) {
		uint64_t bit = (uint64_t)1 << i;
		if (!(j->priv.finished & bit)) {
			j->priv.finished |= bit;
			weft_future_drop(kids[i]);
		}
	}
}

/*
 * Polls every unfinished child once. With @results, a child finishing
 * with a negative result cancels the rest and ends the join with it.
 */
static weft_poll weft__join_step(weft_join *j, weft_cx *cx, int *const *results)
{
	if (j->result < 0)
		return WEFT_READY;
	weft_future **kids = weft__join_children(j);
	for (uint32_t i = 0; i < j->priv.n; i++) {
		uint64_t bit = (uint64_t)1 << i;
		if (j->priv.finished & bit)
			continue;
		if (kids[i]->poll(kids[i], cx) == WEFT_PENDING)
			continue;
		j->priv.finished |= bit;
		weft_future_drop(kids[i]);
		if (results && *results[i] < 0) {
			j->result = *results[i];
			weft__join_cancel_rest(j);
			return WEFT_READY;
		}
	}
	return j->priv.finished == weft__all_bits(j->priv.n) ? WEFT_READY : WEFT_PENDING;
}

/* The type-erased entries of the vtables: each forwards to the typed form. */
static weft_poll weft__join_poll_erased(weft_future *f, weft_cx *cx)
{
	return weft_join_poll((weft_join *)f, cx);
}

static void weft__join_drop_erased(weft_future *f)
{
	weft_join_drop((weft_join *)f);
}

static weft_poll weft__try_join_poll_erased(weft_future *f, weft_cx *cx)
{
	return weft_try_join_poll((weft_try_join *)f, cx);
}

static void weft__try_join_drop_erased(weft_future *f)
{
	weft_try_join_drop((weft_try_join *)f);
}

static weft_poll weft__select_poll_erased(weft_future *f, weft_cx *cx)
{
	return weft_select_poll((weft_select *)f, cx);
}

static void weft__select_drop_erased(weft_future *f)
{
	weft_select_drop((weft_select *)f);
}

void weft_join_init(weft_join *j, weft_future **children, uint32_t n)
{
	j->fut = WEFT_FUTURE(weft__join_poll_erased, weft__join_drop_erased);
	j->priv.children = children;
	j->priv.pair[0] = j->priv.pair[1] = NULL;
	j->priv.finished = 0;
	j->priv.n = weft__count_ok(n) && children ? n : 0;
	j->result = j->priv.n ? 0 : -EINVAL;
}

void weft_join2_init(weft_join *j, weft_future *a, weft_future *b)
{
	weft_join_init(j, NULL, 0);
	j->priv.pair[0] = a;
	j->priv.pair[1] = b;
	j->priv.n = 2;
	j->result = (a && b) ? 0 : -EINVAL;
	if (j->result)
		j->priv.n = 0;
}

weft_poll weft_join_poll(weft_join *j, weft_cx *cx)
{
	return weft__join_step(j, cx, NULL);
}

void weft_join_drop(weft_join *j)
{
	weft__join_cancel_rest(j);
}

void weft_try_join_init(weft_try_join *tj, weft_future **children,
			int *const *results, uint32_t n)
{
	weft_join_init(&tj->priv.join, children, results ? n : 0);
	tj->fut = WEFT_FUTURE(weft__try_join_poll_erased, weft__try_join_drop_erased);
	tj->priv.results = results;
	tj->priv.pair_results[0] = tj->priv.pair_results[1] = NULL;
	tj->result = tj->priv.join.result;
}

void weft_try_join2_init(weft_try_join *tj, weft_future *a, int *ra,
			 weft_future *b, int *rb)
{
	weft_join2_init(&tj->priv.join, a, b);
	tj->fut = WEFT_FUTURE(weft__try_join_poll_erased, weft__try_join_drop_erased);
	tj->priv.results = NULL;
	tj->priv.pair_results[0] = ra;
	tj->priv.pair_results[1] = rb;
	if (!ra || !rb) {
		tj->priv.join.priv.n = 0;
		tj->priv.join.result = -EINVAL;
	}
	tj->result = tj->priv.join.result;
}

weft_poll weft_try_join_poll(weft_try_join *tj, weft_cx *cx)
{
	int *const *results = tj->priv.results ? tj->priv.results : tj->priv.pair_results;
	weft_poll p = weft__join_step(&tj->priv.join, cx, results);
	if (p == WEFT_READY)
		tj->result = tj->priv.join.result;
	return p;
}

void weft_try_join_drop(weft_try_join *tj)
{
	weft__join_cancel_rest(&tj->priv.join);
}

void weft_select_init(weft_select *s, weft_future **children, uint32_t n)
{
	s->fut = WEFT_FUTURE(weft__select_poll_erased, weft__select_drop_erased);
	s->priv.children = children;
	s->priv.pair[0] = s->priv.pair[1] = NULL;
	s->priv.n = weft__count_ok(n) && children ? n : 0;
	s->result = s->priv.n ? 0 : -EINVAL;
	s->winner = -1;
	s->priv.dropped = false;
}

void weft_select2_init(weft_select *s, weft_future *a, weft_future *b)
{
	weft_select_init(s, NULL, 0);
	s->priv.pair[0] = a;
	s->priv.pair[1] = b;
	s->priv.n = (a && b) ? 2 : 0;
	s->result = s->priv.n ? 0 : -EINVAL;
}

weft_poll weft_select_poll(weft_select *s, weft_cx *cx)
{
	if (s->priv.dropped || s->priv.n == 0)
		return WEFT_READY;
	weft_future **kids = s->priv.children ? s->priv.children : s->priv.pair;
	for (uint32_t i = 0; i < s->priv.n; i++) {
		if (kids[i]->poll(kids[i], cx) == WEFT_READY) {
			s->winner = (int)i;
			weft_select_drop(s);   /* the winner and the cancelled losers */
			return WEFT_READY;
		}
	}
	return WEFT_PENDING;
}

void weft_select_drop(weft_select *s)
{
	if (s->priv.dropped)
		return;
	s->priv.dropped = true;
	weft_future **kids = s->priv.children ? s->priv.children : s->priv.pair;
	for (uint32_t i = 0; i < s->priv.n; i++)
		weft_future_drop(kids[i]);
}
