/*
 * Sliding replay window for transport data counters (whitepaper §5.4.6),
 * the bitmap-of-words scheme of RFC 6479 as the kernel's counter_validate
 * uses it: REPLAY_WINDOW_BITS bits in a ring of 64-bit words, of which one
 * word is "redundant" so that advancing the window only zeroes whole words.
 * Counters up to REPLAY_WINDOW_BITS - 64 behind the greatest one seen are
 * still accepted once each.
 *
 * Bit positions are for counter + 1, so that greatest == 0 means "nothing
 * yet" (struct replay_window's convention).  Callers hold the keypair's
 * replay lock and call this only after the packet authenticated.
 */
#include <string.h>

#include "dataplane/noise.h"

#define WORDS        (REPLAY_WINDOW_BITS / REPLAY_WORD_BITS)
#define WINDOW_SIZE  ((uint64_t)REPLAY_WINDOW_BITS - REPLAY_WORD_BITS)

_Static_assert((WORDS & (WORDS - 1)) == 0, "replay ring must be a power of two");
_Static_assert(REPLAY_WINDOW_BITS >= 2048, "whitepaper wants >= 2048 bits");

void
replay_init(struct replay_window *w)
{
	memset(w, 0, sizeof(*w));
}

int
replay_check_update(struct replay_window *w, uint64_t counter)
{
	uint64_t c, index, cur, top, i, bit;

	if (counter >= REJECT_AFTER_MESSAGES)
		return 0;
	c = counter + 1;	/* cannot overflow after the check above */
	if (c + WINDOW_SIZE < w->greatest)
		return 0;	/* too old: left of the window */
	index = c / REPLAY_WORD_BITS;
	if (c > w->greatest) {
		/* Slide right: zero the words between the old and new top. */
		cur = w->greatest / REPLAY_WORD_BITS;
		top = index - cur < WORDS ? index - cur : WORDS;
		for (i = 1; i <= top; i++)
			w->bitmap[(cur + i) & (WORDS - 1)] = 0;
		w->greatest = c;
	}
	index &= WORDS - 1;
	bit = 1ULL << (c & (REPLAY_WORD_BITS - 1));
	if (w->bitmap[index] & bit)
		return 0;	/* replayed */
	w->bitmap[index] |= bit;
	return 1;
}
