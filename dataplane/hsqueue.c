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
 * The thread also reads the handshake sockets (udp.c steers every
 * handshake message there when the kernel takes the program), in batches,
 * with the same per-source limit before any crypto; while the socket holds
 * half of its buffer the device is under load.  While under load the thread
 * runs 10 nice levels below the process: a flood gets the CPU the data path
 * leaves, and what the thread cannot read the kernel drops from the
 * socket's small buffer.  The workers stop and start it with themselves (a
 * listen-port change swaps the sockets).
 *
 * Thread: "handshake" (index DP_HS_WORKER for its cipher contexts).  Locks:
 * hs_lock (mutex) guards the ring; the thread takes dev->lock for reading
 * around each message, as the workers do around a batch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

#define HS_NICE 10                            /* below the process's priority */

struct dp_hs_msg {
	uint16_t len;
	uint8_t charged;                      /* its source paid a token when queued */
	struct sockaddr_storage src;
	uint8_t data[sizeof(struct message_handshake_initiation)];
};

static int ratelimit(struct dp_device *dev, const struct sockaddr_storage *src, uint64_t now);

static void
wake(struct dp_device *dev)
{
	uint64_t one = 1;

	if (write(dev->hs_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: eventfd", dev->ifname);
}

static int
load_now(struct dp_device *dev, uint64_t now)
{
	uint64_t last = __atomic_load_n(&dev->last_under_load, __ATOMIC_RELAXED);

	return last != 0 && now - last < DP_UNDER_LOAD_HOLD_MS;
}

/*
 * Copies one handshake message into the ring; drops it when full, and
 * while under load when its source has used its share (so that one
 * flooding address cannot crowd the others out of the ring).
 */
void
dp_hs_enqueue(struct dp_device *dev, const uint8_t *pkt, size_t len,
    const struct sockaddr_storage *src)
{
	uint64_t now = now_ms();
	int load = load_now(dev, now);
	struct dp_hs_msg *m;

	if (len > sizeof(m->data))
		return;
	pthread_mutex_lock(&dev->hs_lock);
	if (dev->hs_ring == NULL || dev->hs_n == DP_HS_QUEUE ||
	    (load && !ratelimit(dev, src, now))) {
		int full = dev->hs_ring == NULL || dev->hs_n == DP_HS_QUEUE;

		pthread_mutex_unlock(&dev->hs_lock);
		/* dropping is load too: it holds while the flood lasts */
		__atomic_store_n(&dev->last_under_load, now, __ATOMIC_RELAXED);
		if (full)
			dp_drop(dev, DP_DROP_QUEUE_FULL, "handshake queue full");
		else
			dp_drop(dev, DP_DROP_HANDSHAKE_RATELIMITED,
			    "under load: the source is over its share");
		return;
	}
	m = &dev->hs_ring[(dev->hs_head + dev->hs_n) % DP_HS_QUEUE];
	m->len = (uint16_t)len;
	m->charged = (uint8_t)load;
	m->src = *src;
	memcpy(m->data, pkt, len);
	if (dev->hs_n++ == 0)
		wake(dev);
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

static void
handle(struct dp_device *dev, struct dp_hs_msg *m)
{
	pthread_rwlock_rdlock(&dev->lock);
	dp_rx_handshake(dev, DP_HS_WORKER, m->data, m->len, &m->src, m->charged);
	pthread_rwlock_unlock(&dev->lock);
}

/* Handles what the ring holds now; 1 if it held anything. */
static int
drain_ring(struct dp_device *dev, struct dp_hs_msg *m)
{
	int any = 0;

	pthread_mutex_lock(&dev->hs_lock);
	while (dev->hs_n > 0 && !dev->hs_stop) {
		*m = dev->hs_ring[dev->hs_head];
		dev->hs_head = (dev->hs_head + 1) % DP_HS_QUEUE;
		dev->hs_n--;
		pthread_mutex_unlock(&dev->hs_lock);
		handle(dev, m);
		any = 1;
		pthread_mutex_lock(&dev->hs_lock);
	}
	pthread_mutex_unlock(&dev->hs_lock);
	return any;
}

/* Receive state of the thread: a batch of datagrams off the socket. */
struct hs_rx {
	struct mmsghdr msg[DP_BATCH];
	struct iovec iov[DP_BATCH];
	struct dp_hs_msg m[DP_BATCH];
};

/*
 * The socket is the queue: under load when it holds half of its buffer
 * (about 128 messages and more; the ring's rule is an eighth of 1,024).
 */
static int
backlogged(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0 ||
	    len < sizeof(uint32_t) * (SK_MEMINFO_RCVBUF + 1))
		return 0;
	return mi[SK_MEMINFO_RMEM_ALLOC] >= mi[SK_MEMINFO_RCVBUF] / 2;
}

/* One batch from a handshake socket; 1 if it was full (more may wait). */
static int
read_socket(struct dp_device *dev, int fd, struct hs_rx *rx)
{
	uint64_t now;
	int n, i;

	if (fd < 0)
		return 0;
	for (i = 0; i < DP_BATCH; i++) {
		rx->iov[i].iov_base = rx->m[i].data;
		rx->iov[i].iov_len = sizeof(rx->m[i].data);
		memset(&rx->msg[i], 0, sizeof(rx->msg[i]));
		rx->msg[i].msg_hdr.msg_iov = &rx->iov[i];
		rx->msg[i].msg_hdr.msg_iovlen = 1;
		rx->msg[i].msg_hdr.msg_name = &rx->m[i].src;
		rx->msg[i].msg_hdr.msg_namelen = sizeof(rx->m[i].src);
	}
	if ((n = recvmmsg(fd, rx->msg, DP_BATCH, MSG_DONTWAIT, NULL)) <= 0)
		return 0;
	now = now_ms();
	if (n == DP_BATCH && backlogged(fd))
		__atomic_store_n(&dev->last_under_load, now, __ATOMIC_RELAXED);
	for (i = 0; i < n; i++) {
		struct dp_hs_msg *m = &rx->m[i];
		int load = load_now(dev, now);

		m->len = (uint16_t)rx->msg[i].msg_len;
		if (rx->msg[i].msg_hdr.msg_flags & MSG_TRUNC) {
			dp_drop(dev, DP_DROP_MALFORMED, "handshake datagram too long");
			continue;
		}
		if (dp_udp_handshake_ok(dev, m->data, m->len) < 0)
			continue;
		if (load && !dp_hs_ratelimit(dev, &m->src, now)) {
			dp_drop(dev, DP_DROP_HANDSHAKE_RATELIMITED, "handshakes from one source too fast");
			continue;
		}
		m->charged = (uint8_t)load;
		handle(dev, m);
	}
	return n == DP_BATCH;
}

/*
 * HS_NICE levels below the process while the device is under load, so a
 * flood gets the CPU the data path leaves; at the process's priority
 * otherwise (a burst of real handshakes, a busy host).  Going back up may
 * be refused without CAP_SYS_NICE: then it stays below.
 */
static void
renice(struct dp_device *dev, int base, int *niced)
{
	int load = load_now(dev, now_ms());

	if (base == INT_MIN || load == *niced)
		return;
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), base + (load ? HS_NICE : 0)) < 0 && !load)
		log_debug("%s: handshake thread stays at lower priority", dev->ifname);
	*niced = load;
}

static void *
hs_main(void *arg)
{
	struct dp_device *dev = arg;
	struct pollfd pfd[3] = {
		{ .fd = dev->hs_efd, .events = POLLIN },
		{ .fd = dev->hs_fd4, .events = POLLIN },
		{ .fd = dev->hs_fd6, .events = POLLIN },
	};
	struct hs_rx *rx = calloc(1, sizeof(*rx));
	struct dp_hs_msg m;
	uint64_t v;
	int busy, base, niced = 0;

	errno = 0;
	base = getpriority(PRIO_PROCESS, 0);       /* this thread's, as created */
	if (errno != 0)
		base = INT_MIN;
	for (;;) {
		renice(dev, base, &niced);
		busy = drain_ring(dev, &m);
		if (__atomic_load_n(&dev->hs_stop, __ATOMIC_ACQUIRE))
			break;
		if (rx != NULL)
			busy |= read_socket(dev, dev->hs_fd4, rx) | read_socket(dev, dev->hs_fd6, rx);
		if (busy)
			continue;
		if (poll(pfd, rx != NULL ? 3 : 1, -1) < 0 && errno != EINTR)
			break;
		if ((pfd[0].revents & POLLIN) && read(dev->hs_efd, &v, sizeof(v)) < 0)
			v = 0;
	}
	if (rx != NULL)
		explicit_bzero(rx, sizeof(*rx));
	free(rx);
	explicit_bzero(&m, sizeof(m));
	return NULL;
}

int
dp_hs_start(struct dp_device *dev)
{
	if ((dev->hs_ring = calloc(DP_HS_QUEUE, sizeof(*dev->hs_ring))) == NULL)
		return -ENOMEM;
	if ((dev->hs_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return -errno;
	/* where addresses land in the rate-limit table is not predictable */
	if (getrandom(&dev->hs_seed, sizeof(dev->hs_seed), 0) != sizeof(dev->hs_seed))
		dev->hs_seed = (uint64_t)now_ms();
	return 0;
}

int
dp_hs_thread_start(struct dp_device *dev)
{
	int r;

	if (dev->hs_ring == NULL || dev->hs_running)
		return 0;
	__atomic_store_n(&dev->hs_stop, 0, __ATOMIC_RELEASE);
	if ((r = pthread_create(&dev->hs_thr, NULL, hs_main, dev)) != 0)
		return -r;
	dev->hs_running = 1;
	return 0;
}

void
dp_hs_thread_stop(struct dp_device *dev)
{
	if (!dev->hs_running)
		return;
	pthread_mutex_lock(&dev->hs_lock);
	__atomic_store_n(&dev->hs_stop, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&dev->hs_lock);
	wake(dev);
	pthread_join(dev->hs_thr, NULL);
	dev->hs_running = 0;
}

void
dp_hs_stop(struct dp_device *dev)
{
	dp_hs_thread_stop(dev);
	free(dev->hs_ring);
	dev->hs_ring = NULL;
	dev->hs_n = 0;
	free(dev->hs_buckets);
	dev->hs_buckets = NULL;
	if (dev->hs_efd >= 0)
		close(dev->hs_efd);
	dev->hs_efd = -1;
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
