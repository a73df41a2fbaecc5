/*
 * Peers of a device: creation and removal, the public-key table, the
 * receiver-index table (random 32-bit indices naming in-flight handshakes and
 * sessions, looked up by the receiver index of incoming messages), keypair
 * rotation (current/previous/next, whitepaper §5.4.8 and the kernel's
 * noise.c), the bounded queue of packets staged while there is no session,
 * and the deferred freeing of retired keypairs.  Locking: see dp_internal.h.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

static unsigned int
peer_bucket(const uint8_t pub[NOISE_KEY_LEN])
{
	/* public keys are uniformly random */
	return (unsigned int)(pub[0] | (pub[1] << 8)) % DP_PEER_BUCKETS;
}

struct dp_peer *
dp_peer_lookup(struct dp_device *dev, const uint8_t pub[NOISE_KEY_LEN])
{
	struct dp_peer *p;

	for (p = dev->peer_hash[peer_bucket(pub)]; p != NULL; p = p->hnext)
		if (memcmp(p->public_key, pub, NOISE_KEY_LEN) == 0)
			return p;
	return NULL;
}

/* dev->lock held for writing */
struct dp_peer *
dp_peer_create(struct dp_device *dev, const uint8_t pub[NOISE_KEY_LEN])
{
	struct dp_peer *p;
	unsigned int b = peer_bucket(pub);

	/* room in the timer set first: arming a timer never allocates */
	if (dp_timerset_reserve(&dev->tset, dev->n_peers + 1) < 0 ||
	    (p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->dev = dev;
	memcpy(p->public_key, pub, NOISE_KEY_LEN);
	pthread_mutex_init(&p->lock, NULL);
	dp_timers_init(&p->timers, 0);
	dp_timers_attach(&p->timers, &dev->tset);
	cookie_maker_init(&p->cm, pub);
	p->hs_ie.peer = p;
	/* the static DH waits for the first handshake (dp_peer_precompute) */
	if (noise_handshake_init_lazy(&p->hs, pub, NULL) < 0)
		log_warnx("%s: a peer with an all-zero key cannot handshake", dev->ifname);
	/* appended, so that status lists peers in configuration order */
	if (dev->peers_tail == NULL)
		dev->peers_tail = &dev->peers;
	p->pprev = dev->peers_tail;
	*dev->peers_tail = p;
	dev->peers_tail = &p->next;
	p->hnext = dev->peer_hash[b];
	dev->peer_hash[b] = p;
	dev->n_peers++;
	return p;
}

/* dev->lock held for writing: no worker holds a pointer to p. */
void
dp_peer_destroy(struct dp_peer *p)
{
	struct dp_device *dev = p->dev;
	struct dp_peer **pp;

	*p->pprev = p->next;
	if (p->next != NULL)
		p->next->pprev = p->pprev;
	else
		dev->peers_tail = p->pprev;
	for (pp = &dev->peer_hash[peer_bucket(p->public_key)]; *pp != NULL;
	    pp = &(*pp)->hnext)
		if (*pp == p) {
			*pp = p->hnext;
			break;
		}
	dev->n_peers--;
	ai_remove_peer(&dev->ai, p);
	pthread_mutex_lock(&p->lock);
	dp_timers_detach(&p->timers);
	dp_peer_zero_keys(p);
	dp_peer_purge_staged(p);
	pthread_mutex_unlock(&p->lock);
	(void)dp_timerset_reserve(&dev->tset, dev->n_peers);   /* a shrink: cannot fail */
	dp_device_free_retired(dev);
	explicit_bzero(&p->hs, sizeof(p->hs));
	explicit_bzero(p->psk, sizeof(p->psk));
	explicit_bzero(&p->cm, sizeof(p->cm));
	pthread_mutex_destroy(&p->lock);
	free(p);
}

/* A changed PSK invalidates the sessions built with the old one. */
int
dp_peer_set_psk(struct dp_peer *p, const uint8_t *psk)
{
	static const uint8_t zero[NOISE_KEY_LEN];
	const uint8_t *k = psk != NULL ? psk : zero;
	int r = 0;

	pthread_mutex_lock(&p->lock);
	if (p->has_psk == (psk != NULL) && dp_key_equal(p->psk, k))
		goto out;
	memcpy(p->psk, k, NOISE_KEY_LEN);
	p->has_psk = psk != NULL;
	dp_peer_zero_keys(p);
	r = noise_handshake_init_lazy(&p->hs, p->public_key, psk);
out:
	pthread_mutex_unlock(&p->lock);
	return r;
}

void
dp_peer_set_endpoint(struct dp_peer *p, const struct sockaddr_storage *ss)
{
	pthread_mutex_lock(&p->lock);
	p->endpoint = *ss;
	p->has_endpoint = 1;
	pthread_mutex_unlock(&p->lock);
}

void
dp_peer_set_keepalive(struct dp_peer *p, uint16_t secs)
{
	pthread_mutex_lock(&p->lock);
	if (p->timers.persistent_keepalive_interval != secs)
		dp_timers_set_persistent_keepalive(&p->timers, secs, now_ms());
	pthread_mutex_unlock(&p->lock);
}

static int
sockaddr_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return 0;
}

/* Roaming (whitepaper §2.1): peer->lock held. */
void
dp_peer_update_endpoint(struct dp_peer *p, const struct sockaddr_storage *src)
{
	if (src == NULL || (src->ss_family != AF_INET && src->ss_family != AF_INET6))
		return;
	if (p->has_endpoint && sockaddr_same(&p->endpoint, src))
		return;
	memset(&p->endpoint, 0, sizeof(p->endpoint));
	memcpy(&p->endpoint, src, src->ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	p->has_endpoint = 1;
}

/* ---- receiver index table ----------------------------------------------- */

static unsigned int
index_bucket(uint32_t index)
{
	return (index * 2654435761u) >> 20 & (DP_INDEX_BUCKETS - 1);
}

static int
index_taken(struct dp_device *dev, uint32_t index)
{
	struct dp_index_entry *e;

	for (e = dev->index_hash[index_bucket(index)]; e != NULL; e = e->next)
		if (e->index == index)
			return 1;
	return 0;
}

static void
index_unlink(struct dp_device *dev, struct dp_index_entry *e)
{
	struct dp_index_entry **pp;

	for (pp = &dev->index_hash[index_bucket(e->index)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	e->live = 0;
	e->next = NULL;
}

/* Adds e under a fresh random index (e->index set on return). */
int
dp_index_add(struct dp_device *dev, struct dp_index_entry *e)
{
	uint32_t idx;
	unsigned int b;

	pthread_rwlock_wrlock(&dev->index_lock);
	if (e->live)
		index_unlink(dev, e);
	do {
		if (getrandom(&idx, sizeof(idx), 0) != sizeof(idx)) {
			pthread_rwlock_unlock(&dev->index_lock);
			return -EIO;
		}
	} while (index_taken(dev, idx));
	e->index = idx;
	b = index_bucket(idx);
	e->next = dev->index_hash[b];
	dev->index_hash[b] = e;
	e->live = 1;
	pthread_rwlock_unlock(&dev->index_lock);
	return 0;
}

/* Moves the index of a handshake entry to a keypair entry (same index). */
static void
index_replace(struct dp_device *dev, struct dp_index_entry *old, struct dp_index_entry *nw)
{
	unsigned int b;

	pthread_rwlock_wrlock(&dev->index_lock);
	if (old->live)
		index_unlink(dev, old);
	b = index_bucket(nw->index);
	nw->next = dev->index_hash[b];
	dev->index_hash[b] = nw;
	nw->live = 1;
	pthread_rwlock_unlock(&dev->index_lock);
}

void
dp_index_remove(struct dp_device *dev, struct dp_index_entry *e)
{
	pthread_rwlock_wrlock(&dev->index_lock);
	if (e->live)
		index_unlink(dev, e);
	pthread_rwlock_unlock(&dev->index_lock);
}

struct dp_peer *
dp_index_lookup(struct dp_device *dev, uint32_t index, int want_keypair,
    struct dp_keypair **kp)
{
	struct dp_index_entry *e;
	struct dp_peer *p = NULL;

	*kp = NULL;
	pthread_rwlock_rdlock(&dev->index_lock);
	for (e = dev->index_hash[index_bucket(index)]; e != NULL; e = e->next) {
		if (e->index != index)
			continue;
		if (want_keypair == (e->kp != NULL) || want_keypair < 0) {
			p = e->peer;
			*kp = e->kp;
		}
		break;
	}
	pthread_rwlock_unlock(&dev->index_lock);
	return p;
}

/* ---- keypairs ------------------------------------------------------------ */

/* Takes kp out of use; it is freed after the next write-lock round. */
void
dp_keypair_retire(struct dp_device *dev, struct dp_keypair *kp)
{
	int first;

	if (kp == NULL)
		return;
	__atomic_store_n(&kp->retired, 1, __ATOMIC_RELEASE);
	dp_index_remove(dev, &kp->ie);
	pthread_mutex_lock(&dev->retire_lock);
	first = dev->retired == NULL;
	kp->retire_next = dev->retired;
	dev->retired = kp;
	pthread_mutex_unlock(&dev->retire_lock);
	/* the timer thread frees them after its next write-lock round */
	if (first)
		dp_timerset_wake_by(&dev->tset, now_ms() + DP_TICK_MS);
}

static void
free_list(struct dp_keypair *kp)
{
	struct dp_keypair *n;

	for (; kp != NULL; kp = n) {
		n = kp->retire_next;
		noise_keypair_destroy(&kp->nk);
		explicit_bzero(kp, sizeof(*kp));
		free(kp);
	}
}

void
dp_device_trim(size_t removed)
{
	if (removed >= 64)
		malloc_trim(0);
}

/* Caller holds dev->lock for writing: no worker is inside a batch. */
void
dp_device_free_retired(struct dp_device *dev)
{
	struct dp_keypair *list;

	pthread_mutex_lock(&dev->retire_lock);
	list = dev->retired;
	dev->retired = NULL;
	pthread_mutex_unlock(&dev->retire_lock);
	free_list(list);
}

static void
set_slot(struct dp_keypair **slot, struct dp_keypair *kp)
{
	__atomic_store_n(slot, kp, __ATOMIC_RELEASE);
}

/*
 * A new session (kernel noise.c add_new_keypair): the initiator uses it at
 * once (current), keeping the old current as previous; the responder keeps
 * it as next until the initiator's first data message confirms it.
 * peer->lock held.
 */
void
dp_peer_install_keypair(struct dp_peer *p, struct dp_keypair *kp)
{
	struct dp_device *dev = p->dev;
	struct dp_keypair *prev = p->previous, *cur = p->current, *nxt = p->next_kp;

	kp->peer = p;
	kp->ie.peer = p;
	kp->ie.kp = kp;
	kp->ie.index = kp->nk.local_index;
	index_replace(dev, &p->hs_ie, &kp->ie);
	if (kp->nk.i_am_initiator) {
		if (nxt != NULL) {
			set_slot(&p->next_kp, NULL);
			set_slot(&p->previous, nxt);
			dp_keypair_retire(dev, cur);
		} else {
			set_slot(&p->previous, cur);
		}
		dp_keypair_retire(dev, prev);
		set_slot(&p->current, kp);
	} else {
		set_slot(&p->next_kp, kp);
		dp_keypair_retire(dev, nxt);
		set_slot(&p->previous, NULL);
		dp_keypair_retire(dev, prev);
	}
}

int
dp_peer_promote_next(struct dp_peer *p, struct dp_keypair *kp)
{
	struct dp_keypair *old_prev;

	if (p->next_kp != kp)
		return 0;
	old_prev = p->previous;
	set_slot(&p->previous, p->current);
	set_slot(&p->current, kp);
	set_slot(&p->next_kp, NULL);
	dp_keypair_retire(p->dev, old_prev);
	return 1;
}

/* peer->lock held */
void
dp_peer_zero_keys(struct dp_peer *p)
{
	struct dp_device *dev = p->dev;
	struct dp_keypair *a = p->current, *b = p->previous, *c = p->next_kp;

	set_slot(&p->current, NULL);
	set_slot(&p->previous, NULL);
	set_slot(&p->next_kp, NULL);
	dp_keypair_retire(dev, a);
	dp_keypair_retire(dev, b);
	dp_keypair_retire(dev, c);
	dp_index_remove(dev, &p->hs_ie);
	noise_handshake_clear(&p->hs);
}

/* peer->lock held */
void
dp_peer_purge_staged(struct dp_peer *p)
{
	struct dp_staged *q = p->staged;

	if (q == NULL)
		return;
	dp_drop_n(p->dev, DP_DROP_NO_SESSION, q->n, "staged packets without a session");
	while (q->n > 0) {
		unsigned int i = q->head;
		explicit_bzero(q->pkt[i], q->len[i]);
		free(q->pkt[i]);
		q->head = (q->head + 1) % DP_STAGED_MAX;
		q->n--;
	}
	free(q);
	p->staged = NULL;
}

int
dp_peer_stage(struct dp_peer *p, const uint8_t *pkt, size_t len)
{
	struct dp_staged *q = p->staged;
	uint8_t *copy;

	if (q == NULL && (q = p->staged = calloc(1, sizeof(*q))) == NULL)
		return -ENOMEM;
	if ((copy = malloc(len ? len : 1)) == NULL)
		return -ENOMEM;
	memcpy(copy, pkt, len);
	if (q->n == DP_STAGED_MAX) {
		free(q->pkt[q->head]);
		q->head = (q->head + 1) % DP_STAGED_MAX;
		q->n--;
		dp_drop(p->dev, DP_DROP_QUEUE_FULL, "staged queue full");
	}
	q->pkt[(q->head + q->n) % DP_STAGED_MAX] = copy;
	q->len[(q->head + q->n) % DP_STAGED_MAX] = (uint16_t)len;
	q->n++;
	return 0;
}

unsigned int
dp_peer_take_staged(struct dp_peer *p, uint8_t **pkts, uint16_t *lens)
{
	struct dp_staged *q = p->staged;
	unsigned int n = 0;

	if (q == NULL)
		return 0;
	for (; q->n > 0; q->n--, n++) {
		pkts[n] = q->pkt[q->head];
		lens[n] = q->len[q->head];
		q->head = (q->head + 1) % DP_STAGED_MAX;
	}
	free(q);
	p->staged = NULL;
	return n;
}

/* dev->lock held for writing: a new private key changes every static DH. */
void
dp_device_rekey_identity(struct dp_device *dev)
{
	struct dp_peer *p;

	for (p = dev->peers; p != NULL; p = p->next) {
		pthread_mutex_lock(&p->lock);
		dp_peer_zero_keys(p);
		noise_handshake_init_lazy(&p->hs, p->public_key, p->has_psk ? p->psk : NULL);
		cookie_maker_init(&p->cm, p->public_key);
		pthread_mutex_unlock(&p->lock);
	}
}

/* ---- handshake messages (whitepaper §5.4) ---------------------------------- */

static uint32_t
rand32(void)
{
	static __thread uint32_t s;

	if (s == 0 && (getrandom(&s, sizeof(s), 0) != sizeof(s) || s == 0))
		s = 0x9e3779b9u;
	s ^= s << 13;
	s ^= s >> 17;
	s ^= s << 5;
	return s;
}

unsigned int
dp_jitter(void)
{
	return rand32() % (unsigned int)(REKEY_TIMEOUT_JITTER_MS + 1);
}

/* The peer's static DH, computed on its first handshake (peer->lock held). */
int
dp_peer_precompute(struct dp_peer *p)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(60000, 5);
	int r = noise_handshake_precompute(&p->hs, &p->dev->local);

	if (r == -EINVAL)
		log_debug_rl(&rl, "%s: peer %s has a low-order key; it cannot handshake",
		    p->dev->ifname, p->name);
	return r;
}

/* Initiator, message 1.  peer->lock held. */
void
dp_send_initiation(struct dp_peer *p, unsigned int worker, int is_retry)
{
	struct dp_device *dev = p->dev;
	struct message_handshake_initiation msg;
	uint64_t now = now_ms();

	if (!dev->local.has_identity || !dp_timers_may_initiate(&p->timers, now, is_retry))
		return;
	if (dp_peer_precompute(p) < 0)
		return;
	if (dp_index_add(dev, &p->hs_ie) < 0)
		return;
	if (noise_create_initiation(&p->hs, &dev->local, p->hs_ie.index, NULL, &msg) < 0) {
		dp_index_remove(dev, &p->hs_ie);
		return;
	}
	cookie_add_macs(&p->cm, &msg, sizeof(msg), now);
	if (p->has_endpoint)
		dp_send_datagram(dev, worker, &p->endpoint, &msg, sizeof(msg));
	dp_timers_any_authenticated_traversal(&p->timers, now);
	dp_timers_any_authenticated_sent(&p->timers, now);
	dp_timers_handshake_initiated(&p->timers, now, dp_jitter());
	explicit_bzero(&msg, sizeof(msg));
}

/*
 * Under load when the handshake queue is an eighth full (the kernel's rule:
 * more arrives than the handshake thread handles), and for
 * DP_UNDER_LOAD_HOLD_MS after.  A detached device has no queue: there more
 * than DP_UNDER_LOAD_RATE handshake messages a second stand in for it.
 */
static int
under_load(struct dp_device *dev, uint64_t now)
{
	int busy = dev->hs_ring != NULL ? dp_hs_queued(dev) >= DP_HS_QUEUE / 8 : 0;
	uint64_t start = __atomic_load_n(&dev->hs_window_start, __ATOMIC_RELAXED);
	uint64_t count, last;

	if (now - start >= 1000) {
		__atomic_store_n(&dev->hs_window_start, now, __ATOMIC_RELAXED);
		__atomic_store_n(&dev->hs_window_count, 0, __ATOMIC_RELAXED);
	}
	count = __atomic_add_fetch(&dev->hs_window_count, 1, __ATOMIC_RELAXED);
	if (dev->hs_ring == NULL)
		busy = count > DP_UNDER_LOAD_RATE;
	if (busy)
		__atomic_store_n(&dev->last_under_load, now, __ATOMIC_RELAXED);
	last = __atomic_load_n(&dev->last_under_load, __ATOMIC_RELAXED);
	return last != 0 && now - last < DP_UNDER_LOAD_HOLD_MS;
}

static struct dp_keypair *
begin_session(struct dp_peer *p, uint64_t now)
{
	struct dp_keypair *kp = calloc(1, sizeof(*kp));

	if (kp == NULL)
		return NULL;
	if (noise_begin_session(&p->hs, &kp->nk, now) < 0) {
		free(kp);
		return NULL;
	}
	dp_peer_install_keypair(p, kp);
	dp_timers_session_derived(&p->timers, now);
	return kp;
}

struct ss_lookup {
	struct dp_device *dev;
	struct dp_peer *peer;
};

/*
 * The responder's static-static DH is the peer's precomputed one (dev->lock
 * held for reading: it changes only under the write lock).  An unknown key
 * ends the initiation here, before a second DH.
 */
static int
ss_lookup(void *ctx, const uint8_t remote_static[NOISE_KEY_LEN], uint8_t ss[NOISE_KEY_LEN])
{
	struct ss_lookup *l = ctx;
	int r;

	if ((l->peer = dp_peer_lookup(l->dev, remote_static)) == NULL)
		return -ENOENT;
	pthread_mutex_lock(&l->peer->lock);
	if ((r = dp_peer_precompute(l->peer)) == 0)
		memcpy(ss, l->peer->hs.precomputed_static_static, NOISE_KEY_LEN);
	pthread_mutex_unlock(&l->peer->lock);
	return r < 0 ? -EBADMSG : 0;
}

static void
rx_initiation(struct dp_device *dev, unsigned int worker,
    const struct message_handshake_initiation *msg,
    const struct sockaddr_storage *src, uint64_t now)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(5000, 5);
	struct noise_handshake scratch;
	struct message_handshake_response resp;
	uint8_t ts[NOISE_TIMESTAMP_LEN];
	struct ss_lookup look = { .dev = dev };
	struct dp_peer *p;
	int r;

	memset(&scratch, 0, sizeof(scratch));
	r = noise_consume_initiation_lookup(&dev->local, msg, &scratch, ts, ss_lookup, &look);
	if (r == -ENOENT) {
		dp_drop(dev, DP_DROP_HANDSHAKE_UNKNOWN_PEER, "initiation from an unknown peer");
		goto out;
	}
	if (r < 0) {
		dp_drop(dev, DP_DROP_HANDSHAKE_INVALID, "initiation failed to authenticate");
		goto out;
	}
	p = look.peer;
	pthread_mutex_lock(&p->lock);
	if (noise_timestamp_cmp(ts, p->hs.latest_timestamp) <= 0) {
		dp_drop(dev, DP_DROP_HANDSHAKE_STALE, "initiation with a stale timestamp");
		goto unlock;
	}
	if (p->last_initiation_rx_ms != 0 &&
	    now - p->last_initiation_rx_ms < INITIATIONS_MIN_INTERVAL_MS) {
		dp_drop(dev, DP_DROP_HANDSHAKE_RATELIMITED, "initiations too fast");
		goto unlock;
	}
	p->last_initiation_rx_ms = now;
	noise_handshake_adopt(&p->hs, &scratch, ts);
	dp_peer_update_endpoint(p, src);
	dp_timers_any_authenticated_received(&p->timers, now);
	dp_timers_any_authenticated_traversal(&p->timers, now);
	/* Responder, message 2, and the (unconfirmed) session */
	if (dp_index_add(dev, &p->hs_ie) < 0 ||
	    noise_create_response(&p->hs, p->hs_ie.index, &resp) < 0) {
		dp_index_remove(dev, &p->hs_ie);
		goto unlock;
	}
	cookie_add_macs(&p->cm, &resp, sizeof(resp), now);
	if (begin_session(p, now) == NULL) {
		dp_index_remove(dev, &p->hs_ie);
		goto unlock;
	}
	dp_send_datagram(dev, worker, &p->endpoint, &resp, sizeof(resp));
	dp_timers_any_authenticated_traversal(&p->timers, now);
	dp_timers_any_authenticated_sent(&p->timers, now);
	log_debug_rl(&rl, "%s: handshake response sent to %s", dev->ifname, p->name);
unlock:
	pthread_mutex_unlock(&p->lock);
out:
	explicit_bzero(&scratch, sizeof(scratch));
	explicit_bzero(&resp, sizeof(resp));
}

static void
rx_response(struct dp_device *dev, unsigned int worker,
    const struct message_handshake_response *msg,
    const struct sockaddr_storage *src, uint64_t now)
{
	uint32_t idx = le32toh(msg->receiver_index);
	struct dp_keypair *kp;
	struct dp_peer *p;
	int ok = 0;

	if ((p = dp_index_lookup(dev, idx, 0, &kp)) == NULL) {
		dp_drop(dev, DP_DROP_UNKNOWN_RECEIVER, "response to an unknown index");
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (!p->hs_ie.live || p->hs_ie.index != idx ||
	    noise_consume_response(&p->hs, &dev->local, msg) < 0) {
		dp_drop(dev, DP_DROP_HANDSHAKE_INVALID, "response failed to authenticate");
		goto unlock;
	}
	if (begin_session(p, now) == NULL)
		goto unlock;
	dp_peer_update_endpoint(p, src);
	dp_timers_any_authenticated_received(&p->timers, now);
	dp_timers_any_authenticated_traversal(&p->timers, now);
	dp_timers_handshake_complete(&p->timers, now);
	p->last_handshake_wall_ns = wall_ms() * 1000000ULL;
	ok = 1;
unlock:
	pthread_mutex_unlock(&p->lock);
	/* confirm the session at once: staged data, or a keepalive */
	if (ok)
		dp_send_staged(p, worker, 1);
}

static void
rx_cookie(struct dp_device *dev, const struct message_handshake_cookie *msg, uint64_t now)
{
	struct dp_keypair *kp;
	struct dp_peer *p;

	if ((p = dp_index_lookup(dev, le32toh(msg->receiver_index), -1, &kp)) == NULL) {
		dp_drop(dev, DP_DROP_UNKNOWN_RECEIVER, "cookie reply to an unknown index");
		return;
	}
	pthread_mutex_lock(&p->lock);
	if (cookie_consume_reply(&p->cm, msg, now) < 0)
		dp_drop(dev, DP_DROP_HANDSHAKE_INVALID, "cookie reply failed to authenticate");
	pthread_mutex_unlock(&p->lock);
}

/*
 * One handshake message (types 1-3) of exactly the right size.  dev->lock
 * held for reading.  Under load, initiations and responses must carry a
 * valid mac2 or get a cookie reply instead (whitepaper §5.3).
 */
void
dp_rx_handshake(struct dp_device *dev, unsigned int worker, const uint8_t *pkt,
    size_t len, const struct sockaddr_storage *src, int charged)
{
	uint32_t type = le32toh(*(const uint32_t *)(const void *)pkt);
	uint64_t now = now_ms();
	enum cookie_mac_state st;
	int load;

	if (!dev->local.has_identity)
		return;
	if (type == MESSAGE_HANDSHAKE_COOKIE) {
		rx_cookie(dev, (const void *)pkt, now);
		return;
	}
	load = under_load(dev, now);
	st = cookie_validate(&dev->cc, pkt, len, (const struct sockaddr *)src, load, now);
	if (st == COOKIE_INVALID_MAC) {
		dp_drop(dev, DP_DROP_HANDSHAKE_MAC1, "handshake with a bad mac1");
		return;
	}
	/* under load every source gets a bounded share, cookie replies included
	 * (paid when queued, if the device was under load then: hsqueue.c) */
	if (load && !charged && !dp_hs_ratelimit(dev, src, now)) {
		dp_drop(dev, DP_DROP_HANDSHAKE_RATELIMITED, "handshakes from one source too fast");
		return;
	}
	if (load && st != COOKIE_VALID_MAC_WITH_COOKIE) {
		struct message_handshake_cookie reply;
		uint32_t sender = le32toh(((const struct message_handshake_initiation *)
		    (const void *)pkt)->sender_index);

		if (cookie_create_reply(&dev->cc, pkt, len, sender,
		    (const struct sockaddr *)src, &reply, now) == 0)
			dp_send_datagram(dev, worker, src, &reply, sizeof(reply));
		dp_drop(dev, DP_DROP_HANDSHAKE_UNDER_LOAD, "under load: cookie reply sent");
		return;
	}
	if (type == MESSAGE_HANDSHAKE_INITIATION)
		rx_initiation(dev, worker, (const void *)pkt, src, now);
	else
		rx_response(dev, worker, (const void *)pkt, src, now);
}
