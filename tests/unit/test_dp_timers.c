/*
 * The per-peer timer state machine (dataplane/timers.c), driven with an
 * injected clock: keepalive after received data, new handshake when sent
 * data gets no answer, retransmission with give-up after REKEY_ATTEMPT_TIME,
 * key zeroing, persistent keepalive, the initiation rate limit, and the
 * session age/counter rules (rekey, reject, receive-path nudge).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "dataplane/dp_internal.h"

#define T0 1000000ULL      /* an arbitrary monotonic start */

static void
test_keepalive_after_receive(void **state)
{
	struct dp_timers t;

	(void)state;
	dp_timers_init(&t, 0);
	dp_timers_data_received(&t, T0);
	assert_int_equal(dp_timers_expire(&t, T0 + KEEPALIVE_TIMEOUT_MS - 1), 0);
	assert_int_equal(dp_timers_expire(&t, T0 + KEEPALIVE_TIMEOUT_MS), DP_TA_SEND_KEEPALIVE);
	assert_int_equal(dp_timers_expire(&t, T0 + 3 * KEEPALIVE_TIMEOUT_MS), 0);

	/* something sent in the meantime: no keepalive needed */
	dp_timers_data_received(&t, T0);
	dp_timers_any_authenticated_sent(&t, T0 + 5000);
	assert_int_equal(dp_timers_expire(&t, T0 + KEEPALIVE_TIMEOUT_MS + 1), 0);

	/* more data while armed: a second keepalive follows the first */
	dp_timers_data_received(&t, T0);
	dp_timers_data_received(&t, T0 + 100);
	assert_int_equal(dp_timers_expire(&t, T0 + KEEPALIVE_TIMEOUT_MS), DP_TA_SEND_KEEPALIVE);
	assert_int_equal(dp_timers_expire(&t, T0 + 2 * KEEPALIVE_TIMEOUT_MS - 1), 0);
	assert_int_equal(dp_timers_expire(&t, T0 + 2 * KEEPALIVE_TIMEOUT_MS), DP_TA_SEND_KEEPALIVE);
}

static void
test_new_handshake_when_unanswered(void **state)
{
	struct dp_timers t;
	const uint64_t due = T0 + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + 200;

	(void)state;
	dp_timers_init(&t, 0);
	dp_timers_data_sent(&t, T0, 200);
	dp_timers_data_sent(&t, T0 + 3000, 10);   /* does not push it out */
	assert_int_equal(dp_timers_expire(&t, due - 1), 0);
	assert_int_equal(dp_timers_expire(&t, due), DP_TA_SEND_INITIATION);

	/* an answer disarms it */
	dp_timers_data_sent(&t, T0, 0);
	dp_timers_any_authenticated_received(&t, T0 + 100);
	assert_int_equal(dp_timers_expire(&t, due + 100000), 0);
}

static void
test_retransmit_and_give_up(void **state)
{
	struct dp_timers t;
	uint64_t now = T0, next;
	unsigned int act, sent = 1, rounds = 0;

	(void)state;
	dp_timers_init(&t, 0);
	assert_true(dp_timers_may_initiate(&t, now, 0));
	dp_timers_handshake_initiated(&t, now, 333);
	for (;;) {
		next = dp_timers_next(&t);
		assert_true(next > now);
		now = next;
		act = dp_timers_expire(&t, now);
		if (act & DP_TA_PURGE_STAGED)
			break;
		assert_int_equal(act, DP_TA_RETRY_INITIATION);
		assert_true(dp_timers_may_initiate(&t, now, 1));
		dp_timers_handshake_initiated(&t, now, (unsigned int)(rounds * 37 % 334));
		sent++;
		rounds++;
		assert_true(rounds < 100);
	}
	/* 1 + MAX_TIMER_HANDSHAKES + 1 transmissions over ~REKEY_ATTEMPT_TIME */
	assert_int_equal(sent, MAX_TIMER_HANDSHAKES + 2);
	assert_true(now - T0 >= REKEY_ATTEMPT_TIME_MS);
	assert_true(now - T0 <= REKEY_ATTEMPT_TIME_MS + 2 * (REKEY_TIMEOUT_MS + 333) + 20 * 333);
	/* giving up schedules zeroing of every key */
	assert_int_equal(t.zero_key_material, now + 3 * REJECT_AFTER_TIME_MS);
	assert_int_equal(dp_timers_expire(&t, now + 3 * REJECT_AFTER_TIME_MS), DP_TA_ZERO_KEYS);
	assert_int_equal(dp_timers_next(&t), 0);
}

static void
test_handshake_complete_stops_retransmit(void **state)
{
	struct dp_timers t;

	(void)state;
	dp_timers_init(&t, 0);
	dp_timers_handshake_initiated(&t, T0, 0);
	dp_timers_handshake_complete(&t, T0 + 50);
	dp_timers_session_derived(&t, T0 + 50);
	assert_int_equal(dp_timers_expire(&t, T0 + REKEY_TIMEOUT_MS + 1000), 0);
	assert_int_equal(dp_timers_expire(&t, T0 + 50 + 3 * REJECT_AFTER_TIME_MS - 1), 0);
	assert_int_equal(dp_timers_expire(&t, T0 + 50 + 3 * REJECT_AFTER_TIME_MS), DP_TA_ZERO_KEYS);
	/* a newer session pushes zeroing out */
	dp_timers_session_derived(&t, T0);
	dp_timers_session_derived(&t, T0 + REJECT_AFTER_TIME_MS);
	assert_int_equal(dp_timers_expire(&t, T0 + 3 * REJECT_AFTER_TIME_MS), 0);
}

static void
test_persistent_keepalive(void **state)
{
	struct dp_timers t;

	(void)state;
	dp_timers_init(&t, 0);
	dp_timers_any_authenticated_traversal(&t, T0);
	assert_int_equal(dp_timers_next(&t), 0);          /* off */
	dp_timers_set_persistent_keepalive(&t, 25, T0);
	assert_int_equal(dp_timers_expire(&t, T0), DP_TA_SEND_KEEPALIVE);   /* at once */
	dp_timers_any_authenticated_traversal(&t, T0 + 1);
	assert_int_equal(dp_timers_expire(&t, T0 + 25000), 0);
	assert_int_equal(dp_timers_expire(&t, T0 + 25001), DP_TA_SEND_KEEPALIVE);
	/* traffic keeps pushing it out */
	dp_timers_any_authenticated_traversal(&t, T0 + 30000);
	dp_timers_any_authenticated_traversal(&t, T0 + 50000);
	assert_int_equal(dp_timers_expire(&t, T0 + 55000), 0);
	assert_int_equal(dp_timers_expire(&t, T0 + 75000), DP_TA_SEND_KEEPALIVE);
	dp_timers_set_persistent_keepalive(&t, 0, T0 + 76000);
	dp_timers_any_authenticated_traversal(&t, T0 + 76000);
	assert_int_equal(dp_timers_next(&t), 0);
}

static void
test_initiation_rate_limit(void **state)
{
	struct dp_timers t;

	(void)state;
	dp_timers_init(&t, 0);
	assert_true(dp_timers_may_initiate(&t, T0, 0));
	assert_false(dp_timers_may_initiate(&t, T0 + 1, 0));
	assert_false(dp_timers_may_initiate(&t, T0 + REKEY_TIMEOUT_MS - 1, 1));
	assert_true(dp_timers_may_initiate(&t, T0 + REKEY_TIMEOUT_MS, 1));
	t.handshake_attempts = 7;
	assert_false(dp_timers_may_initiate(&t, T0 + REKEY_TIMEOUT_MS + 1, 0));
	assert_int_equal(t.handshake_attempts, 0);          /* a fresh attempt resets */
}

struct age_case {
	int initiator;
	uint64_t age, counter;
	int can_send, can_recv, rekey_send, rekey_recv;
};

static void
test_keypair_rules(void **state)
{
	static const struct age_case c[] = {
		{ 1, 0, 0, 1, 1, 0, 0 },
		{ 1, REKEY_AFTER_TIME_MS - 1, 0, 1, 1, 0, 0 },
		{ 1, REKEY_AFTER_TIME_MS, 0, 1, 1, 1, 0 },
		{ 0, REKEY_AFTER_TIME_MS, 0, 1, 1, 0, 0 },      /* responders do not rekey on time */
		{ 1, REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS - 1, 0, 1, 1, 1, 0 },
		{ 1, REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS, 0, 1, 1, 1, 1 },
		{ 0, REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS, 0, 1, 1, 0, 0 },
		{ 1, REJECT_AFTER_TIME_MS - 1, 0, 1, 1, 1, 1 },
		{ 1, REJECT_AFTER_TIME_MS, 0, 0, 0, 1, 1 },
		{ 0, REJECT_AFTER_TIME_MS, 0, 0, 0, 0, 0 },
		{ 0, 0, REKEY_AFTER_MESSAGES, 1, 1, 0, 0 },
		{ 0, 0, REKEY_AFTER_MESSAGES + 1, 1, 1, 1, 0 },
		{ 0, 0, REJECT_AFTER_MESSAGES - 1, 1, 1, 1, 0 },
		{ 0, 0, REJECT_AFTER_MESSAGES, 0, 1, 1, 0 },
	};
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		uint64_t now = T0 + c[i].age;
		if (dp_keypair_can_send(T0, c[i].counter, now) != c[i].can_send ||
		    dp_keypair_can_receive(T0, now) != c[i].can_recv ||
		    dp_keypair_rekey_on_send(c[i].initiator, T0, c[i].counter, now) != c[i].rekey_send ||
		    dp_keypair_rekey_on_receive(c[i].initiator, T0, now) != c[i].rekey_recv)
			fail_msg("case %zu", i);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keepalive_after_receive),
		cmocka_unit_test(test_new_handshake_when_unanswered),
		cmocka_unit_test(test_retransmit_and_give_up),
		cmocka_unit_test(test_handshake_complete_stops_retransmit),
		cmocka_unit_test(test_persistent_keepalive),
		cmocka_unit_test(test_initiation_rate_limit),
		cmocka_unit_test(test_keypair_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
