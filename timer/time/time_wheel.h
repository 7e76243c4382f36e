/*
 * time_wheel.h - the hierarchical timing wheel: a set of entries keyed by a
 * deadline in ticks (1 tick = 1 ms), with O(1) insert and remove and a
 * cheap "what is due next". A pure data structure: no clock, no lock, no
 * allocation. The time driver (timer.c) owns one and guards it with its
 * mutex; the entries live inside the futures that wait on them.
 *
 * Shape. WEFT__WHEEL_LEVELS levels of 64 slots. A slot of level l spans
 * 64^l ticks, so level 0 holds the next 64 ms tick by tick, level 1 the
 * next 4 s in 64 ms slots, ... level 5 about 795 days in 12.7 day slots.
 * An entry goes to the level of the highest 6-bit digit in which its
 * deadline differs from `elapsed` (the tick up to which everything due
 * has been handed out), in the slot named by that digit. Each level keeps
 * a 64-bit bitmap of its non-empty slots, so finding the next non-empty
 * slot is a rotate and a count of trailing zeros.
 *
 * Processing a slot whose start has come: entries due at that start are
 * moved to a `pending` list and handed out one by one; the others are
 * re-inserted relative to the new `elapsed`, which puts them on a lower
 * level (a "cascade"). Entries further away than the whole wheel are
 * parked on the top level and re-inserted each time their slot comes
 * round, so they are never handed out early. Entries come out in
 * deadline order, even across a jump of the clock over many slots.
 */
#ifndef WEFT__TIME_WHEEL_H
#define WEFT__TIME_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT__WHEEL_LEVELS    6
#define WEFT__WHEEL_SLOT_BITS 6
#define WEFT__WHEEL_SLOTS     (1u << WEFT__WHEEL_SLOT_BITS)
/* Ticks the wheel spans: deadlines further out are parked on the top level. */
#define WEFT__WHEEL_RANGE     ((uint64_t)1 << (WEFT__WHEEL_LEVELS * WEFT__WHEEL_SLOT_BITS))
/* Largest deadline an entry may carry (keeps slot arithmetic far from overflow). */
#define WEFT__WHEEL_MAX_WHEN  ((uint64_t)1 << 60)

/* Where an entry is, in its `level` field. */
#define WEFT__WHEEL_UNLINKED  0xfe   /* in no list */
#define WEFT__WHEEL_PENDING   0xff   /* on the due list, not yet handed out */

/* One timer in the wheel; embedded in its owner and found with container_of. */
struct weft__wheel_entry {
	struct weft__wheel_entry *prev, *next;
	uint64_t when;    /* deadline, in ticks; set by the owner before insert */
	uint8_t level;    /* 0..LEVELS-1, PENDING or UNLINKED */
	uint8_t slot;
};

/* A FIFO of entries. */
struct weft__wheel_list {
	struct weft__wheel_entry *head, *tail;
};

struct weft__wheel_level {
	uint64_t occupied;   /* bit s: slots[s] is non-empty */
	struct weft__wheel_list slots[WEFT__WHEEL_SLOTS];
};

struct weft__wheel {
	uint64_t elapsed;    /* every entry with when <= elapsed has been handed out */
	size_t len;          /* entries in the wheel, pending ones included */
	struct weft__wheel_list pending;
	struct weft__wheel_level levels[WEFT__WHEEL_LEVELS];
};

/* An empty wheel whose time starts at tick @elapsed. */
void weft__wheel_init(struct weft__wheel *w, uint64_t elapsed);

/*
 * Inserts @e, whose `when` the caller has set (at most WEFT__WHEEL_MAX_WHEN).
 * Returns false, inserting nothing, when the deadline is already due
 * (when <= elapsed): the caller fires it itself. O(1).
 */
bool weft__wheel_insert(struct weft__wheel *w, struct weft__wheel_entry *e);

/* Removes @e, which must be in @w (pending or not). O(1). */
void weft__wheel_remove(struct weft__wheel *w, struct weft__wheel_entry *e);

/*
 * The tick at which the wheel next has work: `elapsed` when due entries
 * are pending, else the start of the earliest non-empty slot (never later
 * than the earliest deadline; it may be earlier, when that slot only
 * cascades), or UINT64_MAX when the wheel is empty.
 */
uint64_t weft__wheel_next_expiration(const struct weft__wheel *w);

/*
 * Hands out one entry due at tick @now (when <= now), removed from the
 * wheel, in deadline order; NULL when none is left, in which case
 * `elapsed` has moved up to @now. Handles any jump of @now in O(slots
 * visited + entries moved), not O(ticks).
 */
struct weft__wheel_entry *weft__wheel_poll(struct weft__wheel *w, uint64_t now);

static inline size_t weft__wheel_len(const struct weft__wheel *w)
{
	return w->len;
}

static inline uint64_t weft__wheel_elapsed(const struct weft__wheel *w)
{
	return w->elapsed;
}

#endif /* WEFT__TIME_WHEEL_H */
