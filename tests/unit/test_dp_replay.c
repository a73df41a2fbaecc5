/*
 * Unit tests for the replay window (dataplane/replay.c): table-driven
 * sequences of (counter, expected verdict) for the cases of RFC 6479 and the
 * kernel's counter_validate (in order, out of order, duplicates, the exact
 * left edge, large jumps, REJECT_AFTER_MESSAGES), then a long pseudo-random
 * sequence checked against a naive model that remembers every counter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dataplane/noise.h"

/* Counters up to this far behind the greatest one are still accepted. */
#define WIN ((uint64_t)REPLAY_WINDOW_BITS - REPLAY_WORD_BITS)
#define REJ REJECT_AFTER_MESSAGES
#define END UINT64_MAX, -1

struct step {
	uint64_t counter;
	int want;
};

struct replay_case {
	const char *name;
	struct step steps[16];
};

static const struct replay_case cases[] = {
	{ "in order", { { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 }, { 64, 1 }, { 65, 1 },
	    { END } } },
	{ "out of order within window", { { 10, 1 }, { 5, 1 }, { 7, 1 }, { 9, 1 },
	    { 0, 1 }, { 8, 1 }, { 11, 1 }, { 6, 1 }, { END } } },
	{ "duplicates", { { 0, 1 }, { 0, 0 }, { 5, 1 }, { 5, 0 }, { 3, 1 }, { 3, 0 },
	    { 0, 0 }, { END } } },
	{ "first packet late", { { 100, 1 }, { 0, 1 }, { 99, 1 }, { 100, 0 },
	    { END } } },
	{ "left edge", { { WIN, 1 }, { 0, 1 }, { 0, 0 }, { WIN + 1, 1 }, { 1, 1 },
	    { WIN + 2, 1 }, { 1, 0 }, { 2, 1 }, { 3, 1 }, { END } } },
	{ "just beyond the edge", { { WIN + 1, 1 }, { 0, 0 }, { 1, 1 },
	    { 2 * WIN, 1 }, { WIN - 1, 0 }, { WIN, 1 }, { WIN + 1, 0 }, { END } } },
	{ "too old", { { 9000, 1 }, { 9000 - WIN, 1 }, { 9000 - WIN - 1, 0 },
	    { 0, 0 }, { 8999, 1 }, { END } } },
	{ "large jump", { { 1, 1 }, { 1ULL << 40, 1 }, { (1ULL << 40) - 1, 1 },
	    { 2, 0 }, { 1ULL << 40, 0 }, { (1ULL << 40) - WIN, 1 },
	    { (1ULL << 40) - WIN - 1, 0 }, { (1ULL << 40) + 1, 1 }, { END } } },
	/* A jump by exactly the ring size must not leave the old bit set. */
	{ "ring aliasing", { { 5, 1 }, { 5 + REPLAY_WINDOW_BITS, 1 },
	    { 5 + 2 * REPLAY_WINDOW_BITS, 1 }, { 5 + 3 * REPLAY_WINDOW_BITS - 64, 1 },
	    { 5 + 2 * REPLAY_WINDOW_BITS, 0 }, { END } } },
	{ "reject after messages", { { REJ - 2, 1 }, { REJ - 1, 1 }, { REJ, 0 },
	    { REJ + 1, 0 }, { UINT64_MAX - 1, 0 }, { REJ - 3, 1 }, { REJ - 1, 0 },
	    { REJ - 1 - WIN, 1 }, { REJ - 2 - WIN, 0 }, { END } } },
	{ "reject from scratch", { { REJ, 0 }, { UINT64_MAX - 1, 0 }, { 0, 1 },
	    { END } } },
};

static void
test_replay_cases(void **state)
{
	struct replay_window w;
	size_t i, j;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		replay_init(&w);
		for (j = 0; cases[i].steps[j].want >= 0; j++) {
			int got = replay_check_update(&w, cases[i].steps[j].counter);

			if (got != cases[i].steps[j].want)
				fail_msg("%s: step %zu (counter %llu): got %d want %d",
				    cases[i].name, j,
				    (unsigned long long)cases[i].steps[j].counter, got,
				    cases[i].steps[j].want);
		}
	}
}

/* The whitepaper asks for a window of at least 2048: every counter in
 * [top - 2048, top] arrives once, newest first, and is accepted once. */
static void
test_window_at_least_2048(void **state)
{
	struct replay_window w;
	uint64_t top = 5000, c;

	assert_true(WIN >= 2048);
	replay_init(&w);
	assert_int_equal(replay_check_update(&w, top), 1);
	for (c = top - 1; c >= top - WIN; c--)
		assert_int_equal(replay_check_update(&w, c), 1);
	for (c = top; c >= top - WIN; c--)
		assert_int_equal(replay_check_update(&w, c), 0);
	assert_int_equal(replay_check_update(&w, top - WIN - 1), 0);
}

/* Naive model: a counter is fresh iff never accepted, below the limit and
 * no more than WIN behind the greatest accepted one. */
#define MODEL_MAX 400000

static void
test_replay_random_vs_model(void **state)
{
	static uint8_t seen[MODEL_MAX];
	struct replay_window w;
	uint64_t top = 0, c;
	int have = 0, i, want;
	unsigned int seed = 12345;

	memset(seen, 0, sizeof(seen));
	replay_init(&w);
	for (i = 0; i < 200000; i++) {
		int r = rand_r(&seed);

		/* Mostly forward, often a little back, sometimes far back. */
		if (r % 3 == 0)
			c = top + (uint64_t)(r >> 4) % 70;
		else if (top > 0)
			c = top - (uint64_t)(r >> 4) % (r % 7 == 0 ? 12000 : 300) % (top + 1);
		else
			c = 0;
		if (c >= MODEL_MAX)
			break;
		want = !seen[c] && (!have || c + WIN >= top);
		assert_int_equal(replay_check_update(&w, c), want);
		if (want) {
			seen[c] = 1;
			if (!have || c > top)
				top = c;
			have = 1;
		}
	}
	assert_true(top > 100000);	/* the walk went through many windows */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replay_cases),
		cmocka_unit_test(test_window_at_least_2048),
		cmocka_unit_test(test_replay_random_vs_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
