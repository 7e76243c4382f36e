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
	return j->children ? j->children : j->pair;
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
	for (uint32_t i = 0; i < j->n; i++) {
		uint64_t bit = (uint64_t)1 << i;
		if (!(j->finished & bit)) {
			j->finished |= bit;
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
	for (uint32_t i = 0; i < j->n; i++) {
		uint64_t bit = (uint64_t)1 << i;
		if (j->finished & bit)
			continue;
		if (kids[i]->poll(kids[i], cx) == WEFT_PENDING)
			continue;
		j->finished |= bit;
		weft_future_drop(kids[i]);
		if (results && *results[i] < 0) {
			j->result = *results[i];
			weft__join_cancel_rest(j);
			return WEFT_READY;
		}
	}
	return j->finished == weft__all_bits(j->n) ? WEFT_READY : WEFT_PENDING;
}

void weft_join_init(weft_join *j, weft_future **children, uint32_t n)
{
	j->fut = WEFT_FUTURE(weft_join_poll, weft_join_drop);
	j->children = children;
	j->pair[0] = j->pair[1] = NULL;
	j->finished = 0;
	j->n = weft__count_ok(n) && children ? n : 0;
	j->result = j->n ? 0 : -EINVAL;
}

void weft_join2_init(weft_join *j, weft_future *a, weft_future *b)
{
	weft_join_init(j, NULL, 0);
	j->pair[0] = a;
	j->pair[1] = b;
	j->n = 2;
	j->result = (a && b) ? 0 : -EINVAL;
	if (j->result)
		j->n = 0;
}

weft_poll weft_join_poll(weft_future *f, weft_cx *cx)
{
	return weft__join_step((weft_join *)f, cx, NULL);
}

void weft_join_drop(weft_future *f)
{
	weft__join_cancel_rest((weft_join *)f);
}

void weft_try_join_init(weft_try_join *tj, weft_future **children,
			int *const *results, uint32_t n)
{
	weft_join_init(&tj->join, children, results ? n : 0);
	tj->join.fut = WEFT_FUTURE(weft_try_join_poll, weft_try_join_drop);
	tj->results = results;
	tj->pair_results[0] = tj->pair_results[1] = NULL;
	tj->result = tj->join.result;
}

void weft_try_join2_init(weft_try_join *tj, weft_future *a, int *ra,
			 weft_future *b, int *rb)
{
	weft_join2_init(&tj->join, a, b);
	tj->join.fut = WEFT_FUTURE(weft_try_join_poll, weft_try_join_drop);
	tj->results = NULL;
	tj->pair_results[0] = ra;
	tj->pair_results[1] = rb;
	if (!ra || !rb) {
		tj->join.n = 0;
		tj->join.result = -EINVAL;
	}
	tj->result = tj->join.result;
}

weft_poll weft_try_join_poll(weft_future *f, weft_cx *cx)
{
	weft_try_join *tj = (weft_try_join *)f;
	int *const *results = tj->results ? tj->results : tj->pair_results;
	weft_poll p = weft__join_step(&tj->join, cx, results);
	if (p == WEFT_READY)
		tj->result = tj->join.result;
	return p;
}

void weft_try_join_drop(weft_future *f)
{
	weft__join_cancel_rest(&((weft_try_join *)f)->join);
}

void weft_select_init(weft_select *s, weft_future **children, uint32_t n)
{
	s->fut = WEFT_FUTURE(weft_select_poll, weft_select_drop);
	s->children = children;
	s->pair[0] = s->pair[1] = NULL;
	s->n = weft__count_ok(n) && children ? n : 0;
	s->winner = -1;
	s->dropped = false;
}

void weft_select2_init(weft_select *s, weft_future *a, weft_future *b)
{
	weft_select_init(s, NULL, 0);
	s->pair[0] = a;
	s->pair[1] = b;
	s->n = (a && b) ? 2 : 0;
}

weft_poll weft_select_poll(weft_future *f, weft_cx *cx)
{
	weft_select *s = (weft_select *)f;
	if (s->dropped || s->n == 0)
		return WEFT_READY;
	weft_future **kids = s->children ? s->children : s->pair;
	for (uint32_t i = 0; i < s->n; i++) {
		if (kids[i]->poll(kids[i], cx) == WEFT_READY) {
			s->winner = (int)i;
			weft_select_drop(f);   /* the winner and the cancelled losers */
			return WEFT_READY;
		}
	}
	return WEFT_PENDING;
}

void weft_select_drop(weft_future *f)
{
	weft_select *s = (weft_select *)f;
	if (s->dropped)
		return;
	s->dropped = true;
	weft_future **kids = s->children ? s->children : s->pair;
	for (uint32_t i = 0; i < s->n; i++)
		weft_future_drop(kids[i]);
}
