/*
 * The handshake queue: handshake messages (initiations, responses, cookie
 * replies) received by the data workers are copied into a bounded ring and
 * handled by one handshake thread, so a flood of initiations costs a worker
 * one copy per datagram (or nothing once the ring is full: the datagram is
 * dropped) and transport data keeps flowing (whitepaper §5.3; the kernel's
 * handshake queue in receive.c).  The thread checks mac1 before anything
 * else, demands cookies while under load (the ring an eighth full, or more
 * than DP_UNDER_LOAD_RATE messages a second: peer.c) and does the DH work
 * for the rest, so the DH work per second is bounded by one core.  While
 * under load each source address (an IPv4 address, an IPv6 /64) may queue
 * at most DP_HS_RATE messages a second (burst DP_HS_BURST), cookie replies
 * included: a flood from a few addresses costs a table lookup a datagram
 * and leaves room in the queue for the others, and one from many addresses
 * fills the queue and is dropped before any crypto.
 *
 * Thread: "handshake" (index DP_HS_WORKER for its cipher contexts).  Locks:
 * hs_lock (mutex) guards the ring; the thread takes dev->lock for reading
 * around each message, as the workers do around a batch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

struct dp_hs_msg {
	uint16_t len;
	uint8_t charged;                      /* its source paid a token when queued */
	struct sockaddr_storage src;
	uint8_t data[sizeof(struct message_handshake_initiation)];
};

static int ratelimit(struct dp_device *dev, const struct sockaddr_storage *src, uint64_t now);

/*
 * Copies one handshake message into the ring; drops it when full, and
 * while under load when its source has used its share (so that one
 * flooding address cannot crowd the others out of the ring).
 */
void
dp_hs_enqueue(struct dp_device *dev, const uint8_t *pkt, size_t len,
    const struct sockaddr_storage *src)
{
	uint64_t now = now_ms(), last = __atomic_load_n(&dev->last_under_load, __ATOMIC_RELAXED);
	int load = last != 0 && now - last < DP_UNDER_LOAD_HOLD_MS;
	struct dp_hs_msg *m;

	if (len > sizeof(m->data))
		return;
	pthread_mutex_lock(&dev->hs_lock);
	if (dev->hs_ring == NULL || dev->hs_n == DP_HS_QUEUE ||
	    (load && !ratelimit(dev, src, now))) {
		pthread_mutex_unlock(&dev->hs_lock);
		/* dropping is load too: it holds while the flood lasts */
		__atomic_store_n(&dev->last_under_load, now, __ATOMIC_RELAXED);
		dp_drop(dev, DP_DROP_FLOOD, "handshake queue full, or its source over its share");
		return;
	}
	m = &dev->hs_ring[(dev->hs_head + dev->hs_n) % DP_HS_QUEUE];
	m->len = (uint16_t)len;
	m->charged = (uint8_t)load;
	m->src = *src;
	memcpy(m->data, pkt, len);
	if (dev->hs_n++ == 0)
		pthread_cond_signal(&dev->hs_cond);
	pthread_mutex_unlock(&dev->hs_lock);
}

/* Ring length now (the thread's under-load signal). */
unsigned int
dp_hs_queued(struct dp_device *dev)
{
	unsigned int n;

	pthread_mutex_lock(&dev->hs_lock);
	n = dev->hs_n;
	pthread_mutex_unlock(&dev->hs_lock);
	return n;
}

static void *
hs_main(void *arg)
{
	struct dp_device *dev = arg;
	struct dp_hs_msg m;

	pthread_mutex_lock(&dev->hs_lock);
	for (;;) {
		while (dev->hs_n == 0 && !dev->hs_stop)
			pthread_cond_wait(&dev->hs_cond, &dev->hs_lock);
		if (dev->hs_stop)
			break;
		m = dev->hs_ring[dev->hs_head];
		dev->hs_head = (dev->hs_head + 1) % DP_HS_QUEUE;
		dev->hs_n--;
		pthread_mutex_unlock(&dev->hs_lock);
		pthread_rwlock_rdlock(&dev->lock);
		dp_rx_handshake(dev, DP_HS_WORKER, m.data, m.len, &m.src, m.charged);
		pthread_rwlock_unlock(&dev->lock);
		pthread_mutex_lock(&dev->hs_lock);
	}
	pthread_mutex_unlock(&dev->hs_lock);
	explicit_bzero(&m, sizeof(m));
	return NULL;
}

int
dp_hs_start(struct dp_device *dev)
{
	int r;

	if ((dev->hs_ring = calloc(DP_HS_QUEUE, sizeof(*dev->hs_ring))) == NULL)
		return -ENOMEM;
	/* where addresses land in the rate-limit table is not predictable */
	if (getrandom(&dev->hs_seed, sizeof(dev->hs_seed), 0) != sizeof(dev->hs_seed))
		dev->hs_seed = (uint64_t)now_ms();
	if ((r = pthread_create(&dev->hs_thr, NULL, hs_main, dev)) != 0)
		return -r;
	dev->hs_running = 1;
	return 0;
}

void
dp_hs_stop(struct dp_device *dev)
{
	if (dev->hs_running) {
		pthread_mutex_lock(&dev->hs_lock);
		dev->hs_stop = 1;
		pthread_cond_signal(&dev->hs_cond);
		pthread_mutex_unlock(&dev->hs_lock);
		pthread_join(dev->hs_thr, NULL);
		dev->hs_running = 0;
	}
	free(dev->hs_ring);
	dev->hs_ring = NULL;
	dev->hs_n = 0;
	free(dev->hs_buckets);
	dev->hs_buckets = NULL;
}

/* ---- per-source rate limit under load (the kernel's ratelimiter.c) ---------- */

struct dp_hs_bucket {
	uint8_t key[8];
	uint64_t last_ms;
	uint32_t tokens_milli;                 /* tokens x 1000 */
	int used;
};

static void
source_key(const struct sockaddr_storage *src, uint8_t key[8])
{
	memset(key, 0, 8);
	if (src->ss_family == AF_INET)
		memcpy(key, &((const struct sockaddr_in *)(const void *)src)->sin_addr, 4);
	else if (src->ss_family == AF_INET6)
		memcpy(key, &((const struct sockaddr_in6 *)(const void *)src)->sin6_addr, 8);
}

/*
 * 1 when src may have one more handshake message handled now (hs_lock
 * held).  A direct-mapped table: addresses that collide share (or take
 * over) one bucket, which only ever errs toward dropping.
 */
static int
ratelimit(struct dp_device *dev, const struct sockaddr_storage *src, uint64_t now)
{
	struct dp_hs_bucket *b;
	uint8_t key[8];
	uint64_t h = 1469598103934665603ULL;

	if (dev->hs_buckets == NULL &&
	    (dev->hs_buckets = calloc(DP_HS_BUCKETS, sizeof(*dev->hs_buckets))) == NULL)
		return 0;
	source_key(src, key);
	for (int i = 0; i < 8; i++)
		h = (h ^ key[i]) * 1099511628211ULL;
	b = &dev->hs_buckets[(h ^ dev->hs_seed) % DP_HS_BUCKETS];
	if (!b->used || memcmp(b->key, key, 8) != 0) {
		memcpy(b->key, key, 8);
		b->used = 1;
		b->last_ms = now;
		b->tokens_milli = DP_HS_BURST * 1000;
	} else {
		uint64_t add = (now - b->last_ms) * DP_HS_RATE;
		b->last_ms = now;
		b->tokens_milli = add + b->tokens_milli > DP_HS_BURST * 1000 ?
		    DP_HS_BURST * 1000 : (uint32_t)(add + b->tokens_milli);
	}
	if (b->tokens_milli < 1000)
		return 0;
	b->tokens_milli -= 1000;
	return 1;
}

int
dp_hs_ratelimit(struct dp_device *dev, const struct sockaddr_storage *src, uint64_t now)
{
	int ok;

	pthread_mutex_lock(&dev->hs_lock);
	ok = ratelimit(dev, src, now);
	pthread_mutex_unlock(&dev->hs_lock);
	return ok;
}
