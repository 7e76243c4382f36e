/*
 * wheel.c - the hierarchical timing wheel (see time_wheel.h for the shape).
 *
 * Invariant, which every operation keeps: an entry on level l < top sits
 * in a slot strictly after the slot `elapsed` is in on that level, and
 * agrees with `elapsed` on every digit above l. So on those levels the
 * next non-empty slot is found without wrapping, and its start is later
 * than `elapsed`. Only the top level wraps: an entry further away than
 * the wheel's range is placed by its own digit there and may sit at or
 * before the current slot; such a slot is taken to start one full turn
 * later, and processing it only re-inserts the entry (it is handed out
 * only when `when` <= the slot start that is being processed).
 */
#include "time_wheel.h"

#include <assert.h>

#define WEFT__SLOT_MASK ((uint64_t)WEFT__WHEEL_SLOTS - 1)

/* ---------------------------------------------------------------- lists */

static void weft__list_push(struct weft__wheel_list *l, struct weft__wheel_entry *e)
{
	e->next = NULL;
	e->prev = l->tail;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
}

static void weft__list_unlink(struct weft__wheel_list *l, struct weft__wheel_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	e->prev = e->next = NULL;
}

/* ---------------------------------------------------------------- wheel */

void weft__wheel_init(struct weft__wheel *w, uint64_t elapsed)
{
	*w = (struct weft__wheel){ .elapsed = elapsed };
}

/* The level whose digit is the highest one in which @when and @elapsed
 * differ; deadlines beyond the wheel's range go to the top level. */
static unsigned weft__level_for(uint64_t elapsed, uint64_t when)
{
	uint64_t masked = (elapsed ^ when) | WEFT__SLOT_MASK;
	if (masked >= WEFT__WHEEL_RANGE)
		masked = WEFT__WHEEL_RANGE - 1;
	unsigned significant = 63u - (unsigned)__builtin_clzll(masked);
	return significant / WEFT__WHEEL_SLOT_BITS;
}

static void weft__wheel_link(struct weft__wheel *w, struct weft__wheel_entry *e)
{
	unsigned level = weft__level_for(w->elapsed, e->when);
	unsigned slot = (unsigned)((e->when >> (level * WEFT__WHEEL_SLOT_BITS)) & WEFT__SLOT_MASK);
	struct weft__wheel_level *lv = &w->levels[level];
	e->level = (uint8_t)level;
	e->slot = (uint8_t)slot;
	weft__list_push(&lv->slots[slot], e);
	lv->occupied |= (uint64_t)1 << slot;
}

bool weft__wheel_insert(struct weft__wheel *w, struct weft__wheel_entry *e)
{
	assert(e->when <= WEFT__WHEEL_MAX_WHEN);
	if (e->when <= w->elapsed) {
		e->level = WEFT__WHEEL_UNLINKED;
		return false;
	}
	weft__wheel_link(w, e);
	w->len++;
	return true;
}

void weft__wheel_remove(struct weft__wheel *w, struct weft__wheel_entry *e)
{
	if (e->level == WEFT__WHEEL_PENDING) {
		weft__list_unlink(&w->pending, e);
	} else {
		assert(e->level < WEFT__WHEEL_LEVELS);
		struct weft__wheel_level *lv = &w->levels[e->level];
		struct weft__wheel_list *l = &lv->slots[e->slot];
		weft__list_unlink(l, e);
		if (!l->head)
			lv->occupied &= ~((uint64_t)1 << e->slot);
	}
	e->level = WEFT__WHEEL_UNLINKED;
	w->len--;
}

/* The next non-empty slot of @level and the tick it starts at. */
static bool weft__level_next(const struct weft__wheel *w, unsigned level,
			     unsigned *slot_out, uint64_t *deadline_out)
{
	uint64_t occupied = w->levels[level].occupied;
	if (!occupied)
		return false;
	unsigned shift = level * WEFT__WHEEL_SLOT_BITS;
	uint64_t slot_range = (uint64_t)1 << shift;
	uint64_t level_range = slot_range << WEFT__WHEEL_SLOT_BITS;
	/* Rotate so bit 0 is the slot after the current one; the first set
	 * bit from there (wrapping) is the next slot to come round. The
	 * current slot itself comes last: on the top level an entry there
	 * is a whole turn away. */
	unsigned first = (unsigned)(((w->elapsed >> shift) + 1) & WEFT__SLOT_MASK);
	uint64_t rotated = first ? (occupied >> first) | (occupied << (64 - first)) : occupied;
	unsigned slot = (first + (unsigned)__builtin_ctzll(rotated)) & (unsigned)WEFT__SLOT_MASK;
	uint64_t deadline = (w->elapsed & ~(level_range - 1)) + (uint64_t)slot * slot_range;
	if (deadline <= w->elapsed) {
		/* Only far-future entries on the top level wrap (file comment). */
		assert(level == WEFT__WHEEL_LEVELS - 1);
		deadline += level_range;
	}
	*slot_out = slot;
	*deadline_out = deadline;
	return true;
}

/* The earliest slot start over all levels; ties go to the lowest level. */
static bool weft__wheel_next_slot(const struct weft__wheel *w, unsigned *level_out,
				  unsigned *slot_out, uint64_t *deadline_out)
{
	bool found = false;
	for (unsigned level = 0; level < WEFT__WHEEL_LEVELS; level++) {
		unsigned slot;
		uint64_t deadline;
		if (!weft__level_next(w, level, &slot, &deadline))
			continue;
		if (!found || deadline < *deadline_out) {
			*level_out = level;
			*slot_out = slot;
			*deadline_out = deadline;
			found = true;
		}
	}
	return found;
}

uint64_t weft__wheel_next_expiration(const struct weft__wheel *w)
{
	if (w->pending.head)
		return w->elapsed;
	unsigned level, slot;
	uint64_t deadline;
	if (!weft__wheel_next_slot(w, &level, &slot, &deadline))
		return UINT64_MAX;
	return deadline;
}

/* Empties one slot whose start (@deadline) has come: due entries go to
 * pending, the rest cascade to lower levels. */
static void weft__wheel_process_slot(struct weft__wheel *w, unsigned level, unsigned slot,
				     uint64_t deadline)
{
	struct weft__wheel_level *lv = &w->levels[level];
	struct weft__wheel_entry *e = lv->slots[slot].head;
	lv->slots[slot] = (struct weft__wheel_list){ 0 };
	lv->occupied &= ~((uint64_t)1 << slot);
	w->elapsed = deadline;
	while (e) {
		struct weft__wheel_entry *next = e->next;
		if (e->when <= deadline) {
			e->level = WEFT__WHEEL_PENDING;
			weft__list_push(&w->pending, e);
		} else {
			weft__wheel_link(w, e);
		}
		e = next;
	}
}

struct weft__wheel_entry *weft__wheel_poll(struct weft__wheel *w, uint64_t now)
{
	for (;;) {
		struct weft__wheel_entry *e = w->pending.head;
		if (e) {
			weft__list_unlink(&w->pending, e);
			e->level = WEFT__WHEEL_UNLINKED;
			w->len--;
			return e;
		}
		unsigned level, slot;
		uint64_t deadline;
		if (!weft__wheel_next_slot(w, &level, &slot, &deadline) || deadline > now) {
			/* Nothing starts at or before @now, so moving `elapsed`
			 * up to it keeps the invariant. */
			if (now > w->elapsed)
				w->elapsed = now;
			return NULL;
		}
		weft__wheel_process_slot(w, level, slot, deadline);
	}
}
