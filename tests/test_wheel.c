/*
 * test_wheel.c - the timing wheel as a data structure: deadline order,
 * levels and cascades, removal, far jumps, deadlines beyond the wheel's
 * range, a million entries, and a randomised check against a plain list.
 */
#include "helpers.h"

#include <stdlib.h>

#include "time_wheel.h"

/* xorshift64: deterministic pseudo-random numbers for the tests. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* Steps the wheel from deadline to deadline (as the driver does) and
 * checks every entry comes out at its deadline, never before. Returns the
 * number handed out; stores them in @out in order. */
static size_t drain_stepwise(struct weft__wheel *w, struct weft__wheel_entry **out, size_t max)
{
	size_t n = 0;
	uint64_t prev_when = 0;
	for (;;) {
		uint64_t next = weft__wheel_next_expiration(w);
		if (next == UINT64_MAX)
			break;
		assert_true(next >= weft__wheel_elapsed(w));
		struct weft__wheel_entry *e;
		while ((e = weft__wheel_poll(w, next))) {
			assert_true(e->when <= next);           /* never early */
			assert_true(e->when >= prev_when);      /* in order */
			assert_int_equal(e->level, WEFT__WHEEL_UNLINKED);
			prev_when = e->when;
			assert_true(n < max);
			out[n++] = e;
		}
		assert_int_equal(weft__wheel_elapsed(w), next);
	}
	return n;
}

static void entries_come_out_in_deadline_order_across_levels(void **state)
{
	(void)state;
	static const uint64_t whens[] = {
		1, 5, 63, 64, 65, 100, 4095, 4096, 4097, 262143, 262144, 300000,
		16777216, 16777217, 1073741824, 1073741825, 68719476735ull, 2, 64, 1,
	};
	enum { N = sizeof whens / sizeof whens[0] };
	struct weft__wheel w;
	struct weft__wheel_entry e[N], *out[N];
	weft__wheel_init(&w, 0);
	for (size_t i = 0; i < N; i++) {
		e[i] = (struct weft__wheel_entry){ .when = whens[i] };
		assert_true(weft__wheel_insert(&w, &e[i]));
	}
	assert_int_equal(weft__wheel_len(&w), N);
	assert_int_equal(weft__wheel_next_expiration(&w), 1);
	assert_int_equal(drain_stepwise(&w, out, N), N);
	assert_int_equal(weft__wheel_len(&w), 0);
	/* Equal deadlines keep insertion order. */
	assert_ptr_equal(out[0], &e[0]);
	assert_ptr_equal(out[1], &e[19]);
}

static void an_entry_already_due_is_refused(void **state)
{
	(void)state;
	struct weft__wheel w;
	weft__wheel_init(&w, 1000);
	struct weft__wheel_entry a = { .when = 1000 }, b = { .when = 10 }, c = { .when = 1001 };
	assert_false(weft__wheel_insert(&w, &a));
	assert_false(weft__wheel_insert(&w, &b));
	assert_true(weft__wheel_insert(&w, &c));
	assert_int_equal(weft__wheel_len(&w), 1);
	assert_null(weft__wheel_poll(&w, 1000));
	assert_ptr_equal(weft__wheel_poll(&w, 1001), &c);
}

static void removal_works_on_every_level_and_on_the_pending_list(void **state)
{
	(void)state;
	struct weft__wheel w;
	weft__wheel_init(&w, 0);
	struct weft__wheel_entry e[6];
	uint64_t when = 10;
	for (int i = 0; i < 6; i++, when *= 64) {
		e[i] = (struct weft__wheel_entry){ .when = when };
		assert_true(weft__wheel_insert(&w, &e[i]));
		assert_int_equal(e[i].level, i);
	}
	for (int i = 5; i >= 0; i--) {
		weft__wheel_remove(&w, &e[i]);
		assert_int_equal(e[i].level, WEFT__WHEEL_UNLINKED);
	}
	assert_int_equal(weft__wheel_len(&w), 0);
	assert_int_equal(weft__wheel_next_expiration(&w), UINT64_MAX);

	/* Three due at tick 5: hand out one, remove one from pending. */
	struct weft__wheel_entry p[3];
	for (int i = 0; i < 3; i++) {
		p[i] = (struct weft__wheel_entry){ .when = 5 };
		assert_true(weft__wheel_insert(&w, &p[i]));
	}
	assert_ptr_equal(weft__wheel_poll(&w, 7), &p[0]);
	assert_int_equal(p[1].level, WEFT__WHEEL_PENDING);
	assert_int_equal(weft__wheel_next_expiration(&w), 5);
	weft__wheel_remove(&w, &p[1]);
	assert_ptr_equal(weft__wheel_poll(&w, 7), &p[2]);
	assert_null(weft__wheel_poll(&w, 7));
	assert_int_equal(weft__wheel_elapsed(&w), 7);
	assert_int_equal(weft__wheel_len(&w), 0);
}

static void a_far_jump_fires_everything_due_in_order_and_nothing_more(void **state)
{
	(void)state;
	enum { N = 5000 };
	struct weft__wheel w;
	struct weft__wheel_entry *e = calloc(N, sizeof *e);
	assert_non_null(e);
	weft__wheel_init(&w, 12345);
	uint64_t seed = 88172645463325252ull;
	for (size_t i = 0; i < N; i++) {
		e[i].when = 12346 + rng_next(&seed) % (3600u * 1000u * 10u);
		assert_true(weft__wheel_insert(&w, &e[i]));
	}
	const uint64_t now = 12345 + 3600u * 1000u * 5u;   /* jump 5 hours */
	size_t expect = 0;
	for (size_t i = 0; i < N; i++)
		expect += e[i].when <= now;
	size_t got = 0;
	uint64_t prev = 0;
	struct weft__wheel_entry *x;
	while ((x = weft__wheel_poll(&w, now))) {
		assert_true(x->when <= now);
		assert_true(x->when >= prev);
		prev = x->when;
		got++;
	}
	assert_int_equal(got, expect);
	assert_int_equal(weft__wheel_elapsed(&w), now);
	assert_int_equal(weft__wheel_len(&w), N - expect);
	for (size_t i = 0; i < N; i++)
		if (e[i].level != WEFT__WHEEL_UNLINKED) {
			assert_true(e[i].when > now);
			weft__wheel_remove(&w, &e[i]);
		}
	assert_int_equal(weft__wheel_len(&w), 0);
	free(e);
}

static void a_jump_over_an_empty_wheel_is_immediate(void **state)
{
	(void)state;
	struct weft__wheel w;
	weft__wheel_init(&w, 0);
	assert_null(weft__wheel_poll(&w, UINT64_C(1) << 50));
	assert_int_equal(weft__wheel_elapsed(&w), UINT64_C(1) << 50);
	struct weft__wheel_entry e = { .when = (UINT64_C(1) << 50) + 3 };
	assert_true(weft__wheel_insert(&w, &e));
	assert_int_equal(e.level, 0);
	assert_ptr_equal(weft__wheel_poll(&w, (UINT64_C(1) << 50) + 3), &e);
}

static void deadlines_beyond_the_range_wait_on_the_top_level_and_never_fire_early(void **state)
{
	(void)state;
	struct weft__wheel w;
	weft__wheel_init(&w, 0);
	struct weft__wheel_entry e[4] = {
		{ .when = UINT64_C(1) << 40 },
		{ .when = WEFT__WHEEL_RANGE + 5 },
		{ .when = WEFT__WHEEL_RANGE + (WEFT__WHEEL_RANGE >> 1) },
		{ .when = (UINT64_C(1) << 42) + 7 },
	}, *out[4];
	for (int i = 0; i < 4; i++) {
		assert_true(weft__wheel_insert(&w, &e[i]));
		assert_int_equal(e[i].level, WEFT__WHEEL_LEVELS - 1);
	}
	assert_int_equal(drain_stepwise(&w, out, 4), 4);
	assert_ptr_equal(out[0], &e[1]);
	assert_ptr_equal(out[1], &e[2]);
	assert_ptr_equal(out[2], &e[0]);
	assert_ptr_equal(out[3], &e[3]);
}

static void a_million_entries_insert_cancel_and_fire(void **state)
{
	(void)state;
	enum { N = 1000000 };
	struct weft__wheel w;
	struct weft__wheel_entry *e = calloc(N, sizeof *e);
	assert_non_null(e);
	weft__wheel_init(&w, 0);
	uint64_t seed = 0x9E3779B97F4A7C15ull;
	uint64_t t0 = test_now_us();
	for (size_t i = 0; i < N; i++) {
		/* Spread over ~12 days: every level gets entries. */
		e[i].when = 1 + rng_next(&seed) % (UINT64_C(1) << 30);
		assert_true(weft__wheel_insert(&w, &e[i]));
	}
	for (size_t i = 0; i < N; i += 3)
		weft__wheel_remove(&w, &e[i]);
	size_t left = N - (N + 2) / 3;
	assert_int_equal(weft__wheel_len(&w), left);
	size_t got = 0;
	uint64_t prev = 0;
	struct weft__wheel_entry *x;
	while ((x = weft__wheel_poll(&w, UINT64_C(1) << 30))) {
		assert_true(x->when >= prev);
		assert_true((size_t)(x - e) % 3 != 0);   /* no cancelled one */
		prev = x->when;
		got++;
	}
	assert_int_equal(got, left);
	assert_int_equal(weft__wheel_len(&w), 0);
	print_message("1M entries: insert, cancel 1/3, fire: %llu us\n",
		      (unsigned long long)(test_now_us() - t0));
	free(e);
}

/* Random inserts, removes and clock steps, checked after every step
 * against the plain truth: fired exactly the live entries due by now. */
static void random_operations_match_a_plain_list(void **state)
{
	(void)state;
	enum { N = 2000, ROUNDS = 4000 };
	struct weft__wheel w;
	struct weft__wheel_entry e[N];
	bool live[N] = { 0 };
	uint64_t seed = 0x1234567ull;
	uint64_t now = 0;
	weft__wheel_init(&w, now);
	for (int r = 0; r < ROUNDS; r++) {
		size_t i = rng_next(&seed) % N;
		uint64_t op = rng_next(&seed) % 10;
		if (op < 5 && !live[i]) {
			/* Mostly near, sometimes far, rarely beyond the range. */
			uint64_t span = op == 0 ? WEFT__WHEEL_RANGE * 4 : op < 3 ? 5000 : 100;
			e[i] = (struct weft__wheel_entry){ .when = now + 1 + rng_next(&seed) % span };
			assert_true(weft__wheel_insert(&w, &e[i]));
			live[i] = true;
		} else if (op < 7 && live[i]) {
			weft__wheel_remove(&w, &e[i]);
			live[i] = false;
		} else {
			uint64_t step = rng_next(&seed) % 4 == 0 ? rng_next(&seed) % 100000
								 : rng_next(&seed) % 70;
			now += step;
			struct weft__wheel_entry *x;
			while ((x = weft__wheel_poll(&w, now))) {
				size_t k = (size_t)(x - e);
				assert_true(live[k]);
				assert_true(x->when <= now);
				live[k] = false;
			}
			size_t n = 0;
			for (size_t k = 0; k < N; k++) {
				if (live[k]) {
					assert_true(e[k].when > now);
					n++;
				}
			}
			assert_int_equal(weft__wheel_len(&w), n);
			uint64_t next = weft__wheel_next_expiration(&w);
			for (size_t k = 0; k < N; k++)
				if (live[k])
					assert_true(next <= e[k].when);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(entries_come_out_in_deadline_order_across_levels),
		cmocka_unit_test(an_entry_already_due_is_refused),
		cmocka_unit_test(removal_works_on_every_level_and_on_the_pending_list),
		cmocka_unit_test(a_far_jump_fires_everything_due_in_order_and_nothing_more),
		cmocka_unit_test(a_jump_over_an_empty_wheel_is_immediate),
		cmocka_unit_test(deadlines_beyond_the_range_wait_on_the_top_level_and_never_fire_early),
		cmocka_unit_test(a_million_entries_insert_cancel_and_fire),
		cmocka_unit_test(random_operations_match_a_plain_list),
	};
	return cmocka_run_group_tests_name("wheel", tests, NULL, NULL);
}
