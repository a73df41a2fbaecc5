/*
 * Per-peer timer state machine, after the kernel's timers.c (whitepaper §6):
 *
 *   retransmit_handshake  armed when an initiation is sent, REKEY_TIMEOUT +
 *                         jitter; on expiry resend (attempts+1) until
 *                         MAX_TIMER_HANDSHAKES (REKEY_ATTEMPT_TIME), then give
 *                         up: purge staged packets, schedule key zeroing.
 *                         Disarmed when a handshake completes.
 *   send_keepalive        armed when data is received and nothing is sent
 *                         back within KEEPALIVE_TIMEOUT (disarmed by any
 *                         authenticated send).
 *   new_handshake         armed when data is sent; if nothing authenticated
 *                         comes back within KEEPALIVE_TIMEOUT + REKEY_TIMEOUT,
 *                         start a new handshake.
 *   zero_key_material     3 * REJECT_AFTER_TIME after the last session was
 *                         derived: wipe every key and the handshake.
 *   persistent_keepalive  re-armed by every authenticated packet in either
 *                         direction; on expiry send a keepalive.
 *
 * Deadlines are absolute monotonic milliseconds and 0 means "not armed", so
 * the machine is a pure function of (state, now) that tests can drive with
 * an injected clock.  The device calls dp_timers_expire() from its timer
 * thread and performs the returned actions.  Callers hold peer->lock.
 */
#define _GNU_SOURCE
#include <string.h>

#include "dataplane/dp_internal.h"

void
dp_timers_init(struct dp_timers *t, uint16_t persistent_keepalive)
{
	memset(t, 0, sizeof(*t));
	t->persistent_keepalive_interval = persistent_keepalive;
}

void
dp_timers_set_persistent_keepalive(struct dp_timers *t, uint16_t secs, uint64_t now)
{
	t->persistent_keepalive_interval = secs;
	/* like the kernel, a newly set interval sends one keepalive right away */
	t->persistent_keepalive = secs ? now : 0;
}

/* Data sent: expect something back, or handshake again. */
void
dp_timers_data_sent(struct dp_timers *t, uint64_t now, unsigned int jitter)
{
	if (t->new_handshake == 0)
		t->new_handshake = now + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + jitter;
}

/* Data received: acknowledge with a keepalive if we have nothing to send. */
void
dp_timers_data_received(struct dp_timers *t, uint64_t now)
{
	if (t->send_keepalive == 0)
		t->send_keepalive = now + KEEPALIVE_TIMEOUT_MS;
	else
		t->need_another_keepalive = 1;
}

/* Any authenticated packet (data, keepalive, handshake) sent. */
void
dp_timers_any_authenticated_sent(struct dp_timers *t, uint64_t now)
{
	(void)now;
	t->send_keepalive = 0;
}

/* Any authenticated packet received. */
void
dp_timers_any_authenticated_received(struct dp_timers *t, uint64_t now)
{
	(void)now;
	t->new_handshake = 0;
}

/* Any authenticated packet, either direction: push the persistent keepalive out. */
void
dp_timers_any_authenticated_traversal(struct dp_timers *t, uint64_t now)
{
	if (t->persistent_keepalive_interval)
		t->persistent_keepalive = now + (uint64_t)t->persistent_keepalive_interval * 1000;
}

void
dp_timers_handshake_initiated(struct dp_timers *t, uint64_t now, unsigned int jitter)
{
	t->retransmit_handshake = now + REKEY_TIMEOUT_MS + jitter;
}

void
dp_timers_handshake_complete(struct dp_timers *t, uint64_t now)
{
	(void)now;
	t->retransmit_handshake = 0;
	t->handshake_attempts = 0;
	t->sent_lastminute_handshake = 0;
}

void
dp_timers_session_derived(struct dp_timers *t, uint64_t now)
{
	t->zero_key_material = now + 3 * REJECT_AFTER_TIME_MS;
}

/*
 * Whitepaper §6.1: at most one initiation per REKEY_TIMEOUT.  A fresh
 * (non-retry) attempt restarts the attempt count.
 */
int
dp_timers_may_initiate(struct dp_timers *t, uint64_t now, int is_retry)
{
	if (!is_retry)
		t->handshake_attempts = 0;
	if (t->last_sent_handshake != 0 && now < t->last_sent_handshake + REKEY_TIMEOUT_MS)
		return 0;
	t->last_sent_handshake = now ? now : 1;
	return 1;
}

static int
expired(uint64_t *deadline, uint64_t now)
{
	if (*deadline == 0 || now < *deadline)
		return 0;
	*deadline = 0;
	return 1;
}

unsigned int
dp_timers_expire(struct dp_timers *t, uint64_t now)
{
	unsigned int act = 0;

	if (expired(&t->retransmit_handshake, now)) {
		if (t->handshake_attempts > MAX_TIMER_HANDSHAKES) {
			/* gave up after REKEY_ATTEMPT_TIME */
			t->send_keepalive = 0;
			act |= DP_TA_PURGE_STAGED;
			if (t->zero_key_material == 0)
				t->zero_key_material = now + 3 * REJECT_AFTER_TIME_MS;
		} else {
			t->handshake_attempts++;
			act |= DP_TA_RETRY_INITIATION;
		}
	}
	if (expired(&t->send_keepalive, now)) {
		act |= DP_TA_SEND_KEEPALIVE;
		if (t->need_another_keepalive) {
			t->need_another_keepalive = 0;
			t->send_keepalive = now + KEEPALIVE_TIMEOUT_MS;
		}
	}
	if (expired(&t->new_handshake, now))
		act |= DP_TA_SEND_INITIATION;
	if (expired(&t->zero_key_material, now))
		act |= DP_TA_ZERO_KEYS;
	if (expired(&t->persistent_keepalive, now) && t->persistent_keepalive_interval)
		act |= DP_TA_SEND_KEEPALIVE;
	return act;
}

uint64_t
dp_timers_next(const struct dp_timers *t)
{
	const uint64_t d[] = { t->retransmit_handshake, t->send_keepalive,
	    t->new_handshake, t->zero_key_material, t->persistent_keepalive };
	uint64_t best = 0;

	for (size_t i = 0; i < ARRAY_SIZE(d); i++)
		if (d[i] != 0 && (best == 0 || d[i] < best))
			best = d[i];
	return best;
}

/* §6.2: a session may send until REJECT_AFTER_TIME / REJECT_AFTER_MESSAGES. */
int
dp_keypair_can_send(uint64_t birth, uint64_t counter, uint64_t now)
{
	return now < birth + REJECT_AFTER_TIME_MS && counter < REJECT_AFTER_MESSAGES;
}

int
dp_keypair_can_receive(uint64_t birth, uint64_t now)
{
	return now < birth + REJECT_AFTER_TIME_MS;
}

/* §6.2: the initiator rekeys after REKEY_AFTER_TIME; anyone after REKEY_AFTER_MESSAGES. */
int
dp_keypair_rekey_on_send(int initiator, uint64_t birth, uint64_t counter, uint64_t now)
{
	return counter > REKEY_AFTER_MESSAGES ||
	    (initiator && now >= birth + REKEY_AFTER_TIME_MS);
}

/*
 * The "receive path nudge": an initiator whose session is about to expire
 * and that only receives (so its send path never triggers a rekey)
 * handshakes at REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT.
 */
int
dp_keypair_rekey_on_receive(int initiator, uint64_t birth, uint64_t now)
{
	return initiator &&
	    now >= birth + REJECT_AFTER_TIME_MS - KEEPALIVE_TIMEOUT_MS - REKEY_TIMEOUT_MS;
}
