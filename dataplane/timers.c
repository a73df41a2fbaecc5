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
 *
 * The timer set (second half) is what the timer thread works from, so that
 * its cost follows the peers with something armed, not the peers: a binary
 * min-heap of timers by key, a time at or before every armed deadline of
 * the timers it orders.  Arming a deadline below the key (armed()) takes
 * the set's lock; everything else on the data path (pushing a deadline out,
 * disarming one) is a comparison.  A key that turns out early costs one
 * visit: the thread runs the timers, finds nothing due and re-keys them at
 * dp_timers_next(), or takes them out when nothing is armed.  The heap has
 * room for every peer of the device (reserved when a peer is created), so
 * arming never allocates.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_internal.h"

static void armed(struct dp_timers *t, uint64_t deadline);

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
	armed(t, t->persistent_keepalive);
}

/* Data sent: expect something back, or handshake again. */
void
dp_timers_data_sent(struct dp_timers *t, uint64_t now, unsigned int jitter)
{
	if (t->new_handshake == 0) {
		t->new_handshake = now + KEEPALIVE_TIMEOUT_MS + REKEY_TIMEOUT_MS + jitter;
		armed(t, t->new_handshake);
	}
}

/* Data received: acknowledge with a keepalive if we have nothing to send. */
void
dp_timers_data_received(struct dp_timers *t, uint64_t now)
{
	if (t->send_keepalive == 0) {
		t->send_keepalive = now + KEEPALIVE_TIMEOUT_MS;
		armed(t, t->send_keepalive);
	} else {
		t->need_another_keepalive = 1;
	}
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
	if (t->persistent_keepalive_interval) {
		t->persistent_keepalive = now + (uint64_t)t->persistent_keepalive_interval * 1000;
		armed(t, t->persistent_keepalive);
	}
}

void
dp_timers_handshake_initiated(struct dp_timers *t, uint64_t now, unsigned int jitter)
{
	t->retransmit_handshake = now + REKEY_TIMEOUT_MS + jitter;
	armed(t, t->retransmit_handshake);
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
	armed(t, t->zero_key_material);
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
			if (t->zero_key_material == 0) {
				t->zero_key_material = now + 3 * REJECT_AFTER_TIME_MS;
				armed(t, t->zero_key_material);
			}
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
			armed(t, t->send_keepalive);
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

/* ---- the timer set -------------------------------------------------------- */

static uint64_t
key_of(const struct dp_timers *t)
{
	return __atomic_load_n(&t->key, __ATOMIC_RELAXED);
}

static void
place(struct dp_timerset *s, size_t i, struct dp_timers *t)
{
	s->heap[i] = t;
	t->slot = (uint32_t)i + 1;
}

static void
sift_up(struct dp_timerset *s, size_t i)
{
	struct dp_timers *t = s->heap[i];
	uint64_t k = key_of(t);

	while (i > 0 && key_of(s->heap[(i - 1) / 2]) > k) {
		place(s, i, s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	place(s, i, t);
}

static void
sift_down(struct dp_timerset *s, size_t i)
{
	struct dp_timers *t = s->heap[i];
	uint64_t k = key_of(t);
	size_t c;

	while ((c = 2 * i + 1) < s->n) {
		if (c + 1 < s->n && key_of(s->heap[c + 1]) < key_of(s->heap[c]))
			c++;
		if (key_of(s->heap[c]) >= k)
			break;
		place(s, i, s->heap[c]);
		i = c;
	}
	place(s, i, t);
}

/* Room for cap entries (at least s->n); s->lock held. */
static int
resize(struct dp_timerset *s, size_t cap)
{
	struct dp_timers **h;

	if (cap < s->n)
		cap = s->n;
	if (cap == s->cap)
		return 0;
	if (cap == 0) {
		free(s->heap);
		s->heap = NULL;
		s->cap = 0;
		return 0;
	}
	if ((h = realloc(s->heap, cap * sizeof(*h))) == NULL)
		return -ENOMEM;
	s->heap = h;
	s->cap = cap;
	return 0;
}

static void
heap_remove(struct dp_timerset *s, struct dp_timers *t)
{
	size_t i = t->slot - 1;
	struct dp_timers *last;

	t->slot = 0;
	__atomic_store_n(&t->key, 0, __ATOMIC_RELAXED);
	if (--s->n == i)
		return;
	last = s->heap[s->n];
	place(s, i, last);
	sift_up(s, i);
	sift_down(s, last->slot - 1);
}

/* Puts t in the set under `key`, moves it, or (key 0) takes it out; s->lock held. */
static void
set_key(struct dp_timerset *s, struct dp_timers *t, uint64_t key)
{
	uint64_t old = key_of(t);

	if (key == 0) {
		if (t->slot != 0)
			heap_remove(s, t);
		return;
	}
	if (t->slot == 0) {
		/* never short of room (dp_timerset_reserve): this is a safety net */
		if (s->n == s->cap && resize(s, s->cap ? 2 * s->cap : 16) < 0)
			return;
		__atomic_store_n(&t->key, key, __ATOMIC_RELAXED);
		place(s, s->n++, t);
		sift_up(s, s->n - 1);
		return;
	}
	__atomic_store_n(&t->key, key, __ATOMIC_RELAXED);
	if (key < old)
		sift_up(s, t->slot - 1);
	else
		sift_down(s, t->slot - 1);
}

/* A deadline earlier than the thread's planned wake wakes it (s->lock held). */
static void
kick(struct dp_timerset *s, uint64_t key)
{
	uint64_t at = key > s->floor ? key : s->floor;

	if (s->wake_at != 0 && at < s->wake_at) {
		s->wake_at = at;
		pthread_cond_signal(&s->kick);
	}
}

/* A deadline was armed (peer->lock held): the set's lock only when it comes
 * before the key. */
static void
armed(struct dp_timers *t, uint64_t deadline)
{
	struct dp_timerset *s = t->set;
	uint64_t k;

	if (s == NULL || deadline == 0 || ((k = key_of(t)) != 0 && k <= deadline))
		return;
	pthread_mutex_lock(&s->lock);
	if ((k = key_of(t)) == 0 || deadline < k) {
		set_key(s, t, deadline);
		kick(s, deadline);
	}
	pthread_mutex_unlock(&s->lock);
}

int
dp_timerset_init(struct dp_timerset *s)
{
	pthread_condattr_t ca;
	int r;

	memset(s, 0, sizeof(*s));
	if ((r = pthread_condattr_init(&ca)) != 0)
		return -r;
	if ((r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC)) == 0 &&
	    (r = pthread_cond_init(&s->kick, &ca)) == 0 &&
	    (r = pthread_mutex_init(&s->lock, NULL)) != 0)
		pthread_cond_destroy(&s->kick);
	pthread_condattr_destroy(&ca);
	return -r;
}

void
dp_timerset_destroy(struct dp_timerset *s)
{
	free(s->heap);
	pthread_cond_destroy(&s->kick);
	pthread_mutex_destroy(&s->lock);
	memset(s, 0, sizeof(*s));
}

int
dp_timerset_reserve(struct dp_timerset *s, size_t peers)
{
	size_t cap = s->cap;
	int r;

	if (peers > cap)
		cap = peers > 2 * cap ? peers : 2 * cap;
	else if (peers == 0)
		cap = 0;
	else if (peers < cap / 4)
		cap /= 2;
	if (cap > 0 && cap < 16)
		cap = 16;
	pthread_mutex_lock(&s->lock);
	if ((r = resize(s, cap)) < 0 && peers <= s->cap)
		r = 0;                   /* only a shrink failed */
	pthread_mutex_unlock(&s->lock);
	return r;
}

void
dp_timers_attach(struct dp_timers *t, struct dp_timerset *s)
{
	t->set = s;
	armed(t, dp_timers_next(t));
}

void
dp_timers_detach(struct dp_timers *t)
{
	struct dp_timerset *s = t->set;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	set_key(s, t, 0);
	pthread_mutex_unlock(&s->lock);
	t->set = NULL;
}

void
dp_timers_rekey(struct dp_timers *t)
{
	struct dp_timerset *s = t->set;
	uint64_t next = dp_timers_next(t);

	if (s == NULL || next == key_of(t))
		return;
	pthread_mutex_lock(&s->lock);
	set_key(s, t, next);
	if (next != 0)
		kick(s, next);
	pthread_mutex_unlock(&s->lock);
}

struct dp_timers *
dp_timerset_pop_due(struct dp_timerset *s, uint64_t now)
{
	struct dp_timers *t = NULL;

	pthread_mutex_lock(&s->lock);
	if (s->n > 0 && key_of(s->heap[0]) <= now) {
		t = s->heap[0];
		heap_remove(s, t);
	}
	pthread_mutex_unlock(&s->lock);
	return t;
}

uint64_t
dp_timerset_next(struct dp_timerset *s)
{
	uint64_t k;

	pthread_mutex_lock(&s->lock);
	k = s->n > 0 ? key_of(s->heap[0]) : 0;
	pthread_mutex_unlock(&s->lock);
	return k;
}

int
dp_timerset_wait(struct dp_timerset *s, uint64_t floor, uint64_t until)
{
	struct timespec ts;
	uint64_t k;
	int stop;

	pthread_mutex_lock(&s->lock);
	s->floor = floor;
	s->wake_at = until;
	if (s->n > 0 && (k = key_of(s->heap[0])) < until)
		s->wake_at = k > floor ? k : floor;
	if (s->due_by != 0 && s->due_by < s->wake_at)
		s->wake_at = s->due_by > floor ? s->due_by : floor;
	while (!s->stop && now_ms() < s->wake_at) {
		ts.tv_sec = (time_t)(s->wake_at / 1000);
		ts.tv_nsec = (long)(s->wake_at % 1000) * 1000000;
		pthread_cond_timedwait(&s->kick, &s->lock, &ts);
	}
	s->wake_at = 0;
	s->due_by = 0;
	stop = s->stop;
	pthread_mutex_unlock(&s->lock);
	return stop;
}

void
dp_timerset_wake_by(struct dp_timerset *s, uint64_t when)
{
	pthread_mutex_lock(&s->lock);
	if (s->due_by == 0 || when < s->due_by)
		s->due_by = when;
	kick(s, when);
	pthread_mutex_unlock(&s->lock);
}

void
dp_timerset_stop(struct dp_timerset *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_cond_signal(&s->kick);
	pthread_mutex_unlock(&s->lock);
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
