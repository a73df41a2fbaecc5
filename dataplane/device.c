/*
 * The tunnel device (dataplane.h): lifecycle, syncconf-style configuration,
 * status, the worker threads and the timer thread.
 *
 * Threads:
 *   workers (one per CPU, at most DP_MAX_DATA_WORKERS): each owns one TUN
 *     queue and one IPv4 and one IPv6 socket of the SO_REUSEPORT group and
 *     preallocated packet buffers; it waits in epoll and handles one batch
 *     per ready descriptor (tun.c: send path, udp.c: receive path), holding
 *     dev->lock for reading only while it processes the batch.
 *   timer thread: runs the timer state machine (timers.c) of the peers
 *     whose next deadline is due (the device's timer set), performs the
 *     actions (handshake (re)transmission, keepalives, key zeroing), frees
 *     retired keypairs after a write-lock round (within DP_TICK_MS of their
 *     retirement), then sleeps until the next deadline, at most a second
 *     (it refreshes the MTU).  It encrypts with worker index DP_CTL_WORKER.
 *   handshake thread (hsqueue.c): handshake messages the workers queued;
 *     mac1, cookies under load, then the DH work, with worker index
 *     DP_HS_WORKER.
 *   crypto helpers (cpool.c, one per other CPU on 3 or more CPUs unless
 *     CLOUDROUTE_CRYPTO_HELPERS says otherwise): share a worker's batch of
 *     seals or opens, with worker indices from DP_HELPER_BASE.
 *   UAPI thread (uapi.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/sock_diag.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

static const char *const drop_names[DP_DROP_MAX] = {
	[DP_DROP_MALFORMED] = "malformed",
	[DP_DROP_UNKNOWN_RECEIVER] = "unknown_receiver",
	[DP_DROP_SESSION_EXPIRED] = "session_expired",
	[DP_DROP_DECRYPT_FAILED] = "decrypt_failed",
	[DP_DROP_REPLAY] = "replay",
	[DP_DROP_INVALID_INNER] = "invalid_inner",
	[DP_DROP_SOURCE_NOT_ALLOWED] = "source_not_allowed",
	[DP_DROP_NO_ROUTE] = "no_route",
	[DP_DROP_NO_ENDPOINT] = "no_endpoint",
	[DP_DROP_NO_SESSION] = "no_session",
	[DP_DROP_QUEUE_FULL] = "queue_full",
	[DP_DROP_HANDSHAKE_MAC1] = "handshake_bad_mac1",
	[DP_DROP_HANDSHAKE_UNDER_LOAD] = "handshake_under_load",
	[DP_DROP_HANDSHAKE_RATELIMITED] = "handshake_ratelimited",
	[DP_DROP_HANDSHAKE_UNKNOWN_PEER] = "handshake_unknown_peer",
	[DP_DROP_HANDSHAKE_INVALID] = "handshake_invalid",
	[DP_DROP_HANDSHAKE_STALE] = "handshake_stale",
	[DP_DROP_SEND_FAILED] = "send_failed",
	[DP_DROP_TUN_WRITE_FAILED] = "tun_write_failed",
	[DP_DROP_SOCKET_OVERFLOW] = "socket_overflow",
};

const char *
dp_drop_reason_name(enum dp_drop_reason r)
{
	return (unsigned int)r < DP_DROP_MAX ? drop_names[r] : NULL;
}

void
dp_drop_n(struct dp_device *dev, enum dp_drop_reason why, uint64_t n, const char *what)
{
	static struct log_ratelimit rl[DP_DROP_MAX] = {
		[0 ... DP_DROP_MAX - 1] = LOG_RATELIMIT_INIT(5000, 5)
	};

	if (n == 0)
		return;
	__atomic_fetch_add(&dev->drops[why], n, __ATOMIC_RELAXED);
	log_debug_rl(&rl[why], "%s: drop (%s): %s", dev->ifname, drop_names[why], what);
}

/* What the kernel dropped on one socket for a full receive buffer. */
static uint64_t
sock_drops(int fd)
{
	uint32_t mi[SK_MEMINFO_VARS];
	socklen_t len = sizeof(mi);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mi, &len) < 0 ||
	    len <= SK_MEMINFO_DROPS * sizeof(mi[0]))
		return 0;
	return mi[SK_MEMINFO_DROPS];
}

/* The kernel's drops on every socket of the device (dev->lock held). */
static uint64_t
kernel_drops(struct dp_device *dev)
{
	uint64_t n = sock_drops(dev->hs_fd4) + sock_drops(dev->hs_fd6);

	for (unsigned int i = 0; i < dev->n_workers; i++)
		n += sock_drops(dev->workers[i].udp4) + sock_drops(dev->workers[i].udp6);
	return n;
}

void
dp_device_drops(struct dp_device *dev, uint64_t out[DP_DROP_MAX])
{
	for (unsigned int i = 0; i < DP_DROP_MAX; i++)
		out[i] = __atomic_load_n(&dev->drops[i], __ATOMIC_RELAXED);
	pthread_rwlock_rdlock(&dev->lock);
	out[DP_DROP_SOCKET_OVERFLOW] = dev->sock_drops_base + kernel_drops(dev);
	pthread_rwlock_unlock(&dev->lock);
}

int
dp_send_datagram(struct dp_device *dev, unsigned int worker,
    const struct sockaddr_storage *to, const void *buf, size_t len)
{
	struct dp_worker *w;
	int fd;

	if (dev->detached) {
		if (dev->tx_hook != NULL)
			dev->tx_hook(dev->hook_ctx, to, buf, len);
		return 0;
	}
	if (dev->n_workers == 0)
		return 0;
	w = &dev->workers[worker < dev->n_workers ? worker : 0];
	fd = to->ss_family == AF_INET ? w->udp4 : w->udp6;
	if (fd < 0) {
		dp_drop(dev, DP_DROP_SEND_FAILED, "no socket for the address family");
		return -EAFNOSUPPORT;
	}
	if (sendto(fd, buf, len, MSG_DONTWAIT, (const struct sockaddr *)to,
	    to->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6)) < 0) {
		int r = -errno;

		dp_drop(dev, DP_DROP_SEND_FAILED, "datagram refused by the kernel");
		return r;
	}
	return 0;
}

/* ---- timers ---------------------------------------------------------------- */

/* dev->lock held for reading */
void
dp_peer_run_timers(struct dp_peer *p, uint64_t now)
{
	unsigned int act;

	pthread_mutex_lock(&p->lock);
	act = dp_timers_expire(&p->timers, now);
	if (act & DP_TA_PURGE_STAGED)
		dp_peer_purge_staged(p);
	if (act & DP_TA_ZERO_KEYS)
		dp_peer_zero_keys(p);
	if (act & DP_TA_RETRY_INITIATION)
		dp_send_initiation(p, DP_CTL_WORKER, 1);
	if (act & DP_TA_SEND_INITIATION)
		dp_send_initiation(p, DP_CTL_WORKER, 0);
	dp_timers_rekey(&p->timers);     /* the next deadline, or out of the set */
	pthread_mutex_unlock(&p->lock);
	if (act & DP_TA_SEND_KEEPALIVE)
		dp_send_staged(p, DP_CTL_WORKER, 1);
}

/*
 * The peers whose key is due, each at most once per call (a peer re-keyed
 * at or before `now`, as with a test's clock ahead of the real one, cannot
 * keep the pass going).  dev->lock held for reading: a peer taken from the
 * set stays until we are done with it.
 */
size_t
dp_device_run_timers(struct dp_device *dev, uint64_t now)
{
	struct dp_timers *t;
	size_t budget = dev->n_peers, ran = 0;

	while (ran < budget && (t = dp_timerset_pop_due(&dev->tset, now)) != NULL) {
		dp_peer_run_timers((struct dp_peer *)(void *)((char *)t -
		    offsetof(struct dp_peer, timers)), now);
		ran++;
	}
	return ran;
}

/*
 * Sleeps until the earliest key in the timer set (a peer armed meanwhile
 * with an earlier deadline wakes it, so does a first retired keypair), but
 * at most a second (the MTU refresh) and, so that many peers with deadlines
 * of their own cost a bounded number of wake-ups, at least DP_TICK_MS after
 * the last pass: a due action waits at most DP_TICK_MS, as it did with a
 * fixed tick.  With nothing armed it wakes once a second and touches no peer.
 */
static void *
timer_main(void *arg)
{
	struct dp_device *dev = arg;
	uint64_t now, last_mtu = 0;
	int mtu, have_retired;

	do {
		now = now_ms();
		pthread_rwlock_rdlock(&dev->lock);
		dp_device_run_timers(dev, now);
		pthread_rwlock_unlock(&dev->lock);
		if (now - last_mtu >= 1000) {
			last_mtu = now;
			if (!dev->detached && (mtu = dp_tun_mtu(dev->ifname)) > 0)
				__atomic_store_n(&dev->mtu, (unsigned int)mtu, __ATOMIC_RELAXED);
		}
		pthread_mutex_lock(&dev->retire_lock);
		have_retired = dev->retired != NULL;
		pthread_mutex_unlock(&dev->retire_lock);
		if (have_retired) {
			/* a write-lock round: no worker still holds a retired pointer */
			pthread_rwlock_wrlock(&dev->lock);
			dp_device_free_retired(dev);
			pthread_rwlock_unlock(&dev->lock);
		}
	} while (!dp_timerset_wait(&dev->tset, now + DP_TICK_MS, last_mtu + 1000));
	return NULL;
}

int
dp_timer_thread_start(struct dp_device *dev)
{
	int r;

	if ((r = pthread_create(&dev->timer_thr, NULL, timer_main, dev)) != 0)
		return -r;
	dev->timer_running = 1;
	return 0;
}

void
dp_timer_thread_stop(struct dp_device *dev)
{
	if (!dev->timer_running)
		return;
	dp_timerset_stop(&dev->tset);
	pthread_join(dev->timer_thr, NULL);
	dev->timer_running = 0;
}

/* ---- workers ----------------------------------------------------------------- */

enum { EV_TUN, EV_UDP4, EV_UDP6, EV_STOP };

static void *
worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct epoll_event ev[4];
	int n, i;

	for (;;) {
		n = epoll_wait(w->epfd, ev, 4, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (i = 0; i < n; i++) {
			switch (ev[i].data.u32) {
			case EV_STOP:
				return NULL;
			case EV_TUN:
				if (dp_tun_rx_batch(w) < 0) {
					/* the interface was deleted under us: stop polling it */
					log_warn("%s: TUN read", w->dev->ifname);
					epoll_ctl(w->epfd, EPOLL_CTL_DEL, w->tun_fd, NULL);
				}
				break;
			case EV_UDP4:
				dp_udp_rx_batch(w, w->udp4);
				break;
			case EV_UDP6:
				dp_udp_rx_batch(w, w->udp6);
				break;
			}
		}
	}
	log_warn("%s: worker %u: epoll_wait", w->dev->ifname, w->idx);
	return NULL;
}

static int
ep_add(int epfd, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	if (fd < 0)
		return 0;
	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int
dp_workers_start(struct dp_device *dev)
{
	int r;

	for (unsigned int i = 0; i < dev->n_workers; i++) {
		struct dp_worker *w = &dev->workers[i];

		if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
			return -errno;
		if ((r = ep_add(w->epfd, w->tun_fd, EV_TUN)) < 0 ||
		    (r = ep_add(w->epfd, w->udp4, EV_UDP4)) < 0 ||
		    (r = ep_add(w->epfd, w->udp6, EV_UDP6)) < 0 ||
		    (r = ep_add(w->epfd, dev->stop_fd, EV_STOP)) < 0)
			return r;
		if ((r = pthread_create(&w->thr, NULL, worker_main, w)) != 0)
			return -r;
		w->running = 1;
	}
	return dp_hs_thread_start(dev);
}

void
dp_workers_stop(struct dp_device *dev)
{
	uint64_t one = 1;

	dp_hs_thread_stop(dev);          /* it reads the handshake sockets */
	if (write(dev->stop_fd, &one, sizeof(one)) < 0)
		log_warn("%s: eventfd", dev->ifname);
	for (unsigned int i = 0; i < dev->n_workers; i++) {
		struct dp_worker *w = &dev->workers[i];
		if (w->running)
			pthread_join(w->thr, NULL);
		w->running = 0;
		if (w->epfd >= 0)
			close(w->epfd);
		w->epfd = -1;
	}
	if (read(dev->stop_fd, &one, sizeof(one)) < 0)
		log_warn("%s: eventfd", dev->ifname);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static struct dp_device *
device_alloc(const char *ifname, unsigned int n_workers)
{
	static const uint8_t zero[NOISE_KEY_LEN];
	pthread_rwlockattr_t attr;
	struct dp_device *dev;

	/* aligned: the drop counters have cache lines of their own */
	if ((dev = aligned_alloc(64, sizeof(*dev))) == NULL)
		return NULL;
	memset(dev, 0, sizeof(*dev));
	cr_strlcpy(dev->ifname, ifname, sizeof(dev->ifname));
	pthread_rwlockattr_init(&attr);
	/* configuration must not starve behind a stream of worker batches */
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&dev->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_rwlock_init(&dev->index_lock, NULL);
	pthread_mutex_init(&dev->cfg_lock, NULL);
	pthread_mutex_init(&dev->retire_lock, NULL);
	pthread_mutex_init(&dev->hs_lock, NULL);
	if (dp_timerset_init(&dev->tset) < 0) {
		free(dev);
		return NULL;
	}
	dev->hs_efd = dev->hs_fd4 = dev->hs_fd6 = -1;
	ai_init(&dev->ai);
	cookie_checker_init(&dev->cc, zero);
	dev->stop_fd = -1;
	dev->uapi_fd = dev->uapi_stop_fd = -1;
	dev->n_workers = n_workers;
	for (unsigned int i = 0; i < DP_MAX_DATA_WORKERS; i++) {
		struct dp_worker *w = &dev->workers[i];
		w->dev = dev;
		w->idx = i;
		w->tun_fd = w->udp4 = w->udp6 = w->epfd = -1;
	}
	return dev;
}

static int
worker_buffers(struct dp_worker *w)
{
	for (unsigned int i = 0; i < DP_RX_BATCH; i++)
		if ((w->rx_buf[i] = aligned_alloc(64, DP_BUF_SIZE)) == NULL)
			return -ENOMEM;
	if ((w->rd_buf = aligned_alloc(64, DP_BUF_SIZE)) == NULL ||
	    (w->tx_arena = aligned_alloc(64, DP_TX_ARENA)) == NULL ||
	    (w->rx_items = calloc(DP_RX_ITEMS, sizeof(*w->rx_items))) == NULL)
		return -ENOMEM;
	return dp_gro_init(&w->gro);
}

static void
worker_buffers_free(struct dp_worker *w)
{
	for (unsigned int j = 0; j < DP_RX_BATCH; j++)
		free(w->rx_buf[j]);
	free(w->rd_buf);
	free(w->tx_arena);
	free(w->rx_items);
	dp_gro_free(&w->gro);
	memset(w->rx_buf, 0, sizeof(w->rx_buf));
	w->rd_buf = w->tx_arena = NULL;
	w->rx_items = NULL;
}

struct dp_worker *
dp_detached_worker(struct dp_device *dev)
{
	struct dp_worker *w = &dev->workers[0];

	if (!dev->detached)
		return NULL;
	if (w->rx_items == NULL && worker_buffers(w) < 0) {
		worker_buffers_free(w);
		return NULL;
	}
	return w;
}

int
dp_device_set_private_key(struct dp_device *dev, const uint8_t key[NOISE_KEY_LEN])
{
	struct dp_peer *self;
	int r;

	if (dev->local.has_identity &&
	    dp_key_equal(dev->local.private_key, key))
		return 0;
	if (dp_key_is_zero(key)) {
		noise_local_clear(&dev->local);
	} else if ((r = noise_local_set(&dev->local, key)) < 0) {
		return r;
	}
	cookie_checker_destroy(&dev->cc);
	cookie_checker_init(&dev->cc, dev->local.public_key);
	/* a peer with our own public key is meaningless (the kernel drops it) */
	if (dev->local.has_identity &&
	    (self = dp_peer_lookup(dev, dev->local.public_key)) != NULL)
		dp_peer_destroy(self);
	dp_device_rekey_identity(dev);
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b, NOISE_KEY_LEN);
}

/* Two peers with one public key: sorted, so 10,000 peers cost n log n. */
static int
duplicate_keys(const struct dp_config *cfg)
{
	const uint8_t **keys;
	int dup = 0;

	if (cfg->n_peers < 2)
		return 0;
	if ((keys = calloc(cfg->n_peers, sizeof(*keys))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_peers; i++)
		keys[i] = cfg->peers[i].public_key;
	qsort(keys, cfg->n_peers, sizeof(*keys), key_cmp);
	for (size_t i = 1; i < cfg->n_peers && !dup; i++)
		dup = memcmp(keys[i - 1], keys[i], NOISE_KEY_LEN) == 0;
	free(keys);
	return dup ? -EINVAL : 0;
}

static int
config_valid(const struct dp_config *cfg)
{
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct dp_peer_config *pc = &cfg->peers[i];
		for (size_t j = 0; j < pc->n_allowed_ips; j++) {
			const struct prefix *a = &pc->allowed_ips[j];
			if (!((a->family == AF_INET && a->len <= 32) ||
			    (a->family == AF_INET6 && a->len <= 128)))
				return -EINVAL;
		}
		if (pc->has_endpoint && pc->endpoint.ss_family != AF_INET &&
		    pc->endpoint.ss_family != AF_INET6)
			return -EINVAL;
	}
	return duplicate_keys(cfg);
}

/* dev->lock held for writing */
static int
apply_peer(struct dp_device *dev, const struct dp_peer_config *pc)
{
	struct dp_peer *p;
	int r;

	if (dev->local.has_identity && dp_key_equal(pc->public_key, dev->local.public_key))
		return 0;
	if ((p = dp_peer_lookup(dev, pc->public_key)) == NULL &&
	    (p = dp_peer_create(dev, pc->public_key)) == NULL)
		return -ENOMEM;
	cr_strlcpy(p->name, pc->name, sizeof(p->name));
	if ((r = dp_peer_set_psk(p, pc->has_psk ? pc->preshared_key : NULL)) < 0)
		log_warnx("%s: peer %s: handshake setup failed", dev->ifname, p->name);
	if (pc->has_endpoint)
		dp_peer_set_endpoint(p, &pc->endpoint);
	dp_peer_set_keepalive(p, pc->persistent_keepalive);
	ai_remove_peer(&dev->ai, p);
	for (size_t j = 0; j < pc->n_allowed_ips; j++)
		if ((r = ai_insert(&dev->ai, &pc->allowed_ips[j], p)) < 0)
			return r;
	return 0;
}

/* dev->lock held for writing; the configuration has been validated. */
static int
apply_config(struct dp_device *dev, const struct dp_config *cfg)
{
	struct dp_peer *p, *next;

	size_t removed = 0;
	int r;

	/* the only step that can fail on valid input comes first */
	if ((r = dp_device_set_private_key(dev, cfg->private_key)) < 0)
		return r;
	/* mark the peers that stay, remove the others */
	for (p = dev->peers; p != NULL; p = p->next)
		p->keep = 0;
	for (size_t i = 0; i < cfg->n_peers; i++)
		if ((p = dp_peer_lookup(dev, cfg->peers[i].public_key)) != NULL)
			p->keep = 1;
	for (p = dev->peers; p != NULL; p = next) {
		next = p->next;
		if (!p->keep) {
			dp_peer_destroy(p);
			removed++;
		}
	}
	for (size_t i = 0; i < cfg->n_peers; i++)
		if ((r = apply_peer(dev, &cfg->peers[i])) < 0)
			break;
	dp_device_trim(removed);
	return r;
}

int
dp_port_stage(struct dp_device *dev, uint16_t port, uint32_t fwmark,
    struct dp_port_change *pc)
{
	int r;

	memset(pc, 0, sizeof(*pc));
	if (port == dev->listen_port && port != 0)
		return 0;
	/* a detached device has no sockets: it only takes the number */
	if ((r = dp_udp_bind(dev, port, fwmark, &pc->set)) < 0)
		return r;
	if (!dev->detached)
		dp_workers_stop(dev);  /* they wait on the old sockets in epoll */
	pc->staged = 1;
	return 1;
}

void
dp_port_commit(struct dp_device *dev, struct dp_port_change *pc)
{
	if (!pc->staged)
		return;
	/* the counters die with the old sockets: keep their total */
	dev->sock_drops_base += kernel_drops(dev);
	dp_udp_swap(dev, &pc->set);
}

void
dp_port_end(struct dp_device *dev, struct dp_port_change *pc)
{
	if (!pc->staged)
		return;
	dp_udp_set_close(&pc->set);
	if (!dev->detached && dp_workers_start(dev) < 0)
		log_warnx("%s: cannot restart workers", dev->ifname);
	pc->staged = 0;
}

/*
 * Nothing changes unless everything can: the configuration is checked and
 * a new port bound before the device is touched.
 */
int
dp_device_configure(struct dp_device *dev, const struct dp_config *cfg)
{
	struct dp_port_change pc;
	int r;

	if ((r = config_valid(cfg)) < 0)
		return r;
	memset(&pc, 0, sizeof(pc));
	pthread_mutex_lock(&dev->cfg_lock);
	if (cfg->listen_port != 0 &&
	    (r = dp_port_stage(dev, cfg->listen_port, dev->fwmark, &pc)) < 0)
		goto out;
	pthread_rwlock_wrlock(&dev->lock);
	if ((r = apply_config(dev, cfg)) == 0)
		dp_port_commit(dev, &pc);
	pthread_rwlock_unlock(&dev->lock);
	dp_port_end(dev, &pc);
out:
	pthread_mutex_unlock(&dev->cfg_lock);
	return r;
}

/* A device no other thread sees yet. */
static int
configure_new(struct dp_device *dev, const struct dp_config *cfg)
{
	int r;

	if ((r = config_valid(cfg)) < 0)
		return r;
	pthread_rwlock_wrlock(&dev->lock);
	r = apply_config(dev, cfg);
	pthread_rwlock_unlock(&dev->lock);
	return r;
}

static unsigned int
worker_count(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		n = 1;
	return n > DP_MAX_DATA_WORKERS ? DP_MAX_DATA_WORKERS : (unsigned int)n;
}

int
dp_device_create(const char *ifname, const struct dp_config *cfg, struct dp_device **out)
{
	struct dp_udp_set set;
	struct dp_device *dev;
	unsigned int helpers;
	int r, mtu, vnet;

	*out = NULL;
	if (strlen(ifname) >= IFNAMSIZ || ifname[0] == '\0' || strchr(ifname, '/') != NULL)
		return -EINVAL;
	if ((r = noise_global_init()) < 0)
		return r;
	if ((dev = device_alloc(ifname, worker_count())) == NULL)
		return -ENOMEM;
	if ((dev->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		r = -errno;
		goto fail;
	}
	for (unsigned int i = 0; i < dev->n_workers; i++)
		if ((r = worker_buffers(&dev->workers[i])) < 0)
			goto fail;
	if ((r = dp_tun_open(ifname, dev->n_workers, dev->tun_fds, &vnet)) < 0)
		goto fail;
	for (unsigned int i = 0; i < dev->n_workers; i++) {
		dev->workers[i].tun_fd = dev->tun_fds[i];
		dev->workers[i].vnet = vnet;
	}
	if ((mtu = dp_tun_mtu(ifname)) > 0)
		dev->mtu = (unsigned int)mtu;
	if ((r = configure_new(dev, cfg)) < 0) {
		log_warnx("%s: invalid tunnel configuration", ifname);
		goto fail;
	}
	if ((r = dp_udp_bind(dev, cfg->listen_port, 0, &set)) < 0)
		goto fail;
	dp_udp_swap(dev, &set);          /* no threads yet */
	if ((r = dp_cpool_start(dev, dp_cpool_default_helpers())) < 0 ||
	    (r = dp_hs_start(dev)) < 0 || (r = dp_workers_start(dev)) < 0)
		goto fail;
	if ((r = dp_timer_thread_start(dev)) < 0 || (r = dp_uapi_start(dev)) < 0)
		goto fail;
	helpers = dev->cpool ? dev->cpool->n_helpers : 0;
	log_info("%s: tunnel up, UDP port %u, %u worker%s, %u crypto helper%s%s", ifname,
	    dev->listen_port, dev->n_workers, dev->n_workers == 1 ? "" : "s", helpers,
	    helpers == 1 ? "" : "s", vnet ? ", TUN offloads" : "");
	*out = dev;
	return 0;
fail:
	dp_device_destroy(dev);
	return r;
}

int
dp_device_create_detached(const struct dp_config *cfg, struct dp_device **out)
{
	struct dp_device *dev;
	int r;

	*out = NULL;
	if ((r = noise_global_init()) < 0)
		return r;
	if ((dev = device_alloc("detached", 0)) == NULL)
		return -ENOMEM;
	dev->detached = 1;
	dev->listen_port = cfg->listen_port;
	if ((r = configure_new(dev, cfg)) < 0) {
		dp_device_destroy(dev);
		return r;
	}
	*out = dev;
	return 0;
}

void
dp_device_destroy(struct dp_device *dev)
{
	if (dev == NULL)
		return;
	dp_uapi_stop(dev);
	if (dev->stop_fd >= 0)
		dp_workers_stop(dev);
	dp_timer_thread_stop(dev);
	dp_hs_stop(dev);                 /* after the workers: nothing enqueues */
	dp_cpool_stop(dev);              /* after the workers: nothing posts a job */
	if (dev->detached)
		worker_buffers_free(&dev->workers[0]);
	for (unsigned int i = 0; i < dev->n_workers; i++) {
		struct dp_worker *w = &dev->workers[i];
		if (w->udp4 >= 0)
			close(w->udp4);
		if (w->udp6 >= 0)
			close(w->udp6);
		if (w->tun_fd >= 0)
			close(w->tun_fd);
		worker_buffers_free(w);
	}
	if (dev->hs_fd4 >= 0)
		close(dev->hs_fd4);
	if (dev->hs_fd6 >= 0)
		close(dev->hs_fd6);
	pthread_rwlock_wrlock(&dev->lock);
	while (dev->peers != NULL)
		dp_peer_destroy(dev->peers);
	dp_device_free_retired(dev);
	pthread_rwlock_unlock(&dev->lock);
	ai_free(&dev->ai);
	noise_local_clear(&dev->local);
	cookie_checker_destroy(&dev->cc);
	if (dev->stop_fd >= 0)
		close(dev->stop_fd);
	pthread_rwlock_destroy(&dev->lock);
	pthread_rwlock_destroy(&dev->index_lock);
	pthread_mutex_destroy(&dev->retire_lock);
	pthread_mutex_destroy(&dev->cfg_lock);
	free(dev->hs_buckets);           /* a detached device's (dp_hs_stop frees ours) */
	pthread_mutex_destroy(&dev->hs_lock);
	dp_timerset_destroy(&dev->tset);
	explicit_bzero(dev, sizeof(*dev));
	free(dev);
}

const char *
dp_device_ifname(const struct dp_device *dev)
{
	return dev->ifname;
}

/* ---- liveness probe ----------------------------------------------------------- */

int
dp_device_probe(struct dp_device *dev, const uint8_t key[NOISE_KEY_LEN])
{
	struct dp_peer *p;
	int r = -ENOENT;

	pthread_rwlock_rdlock(&dev->lock);
	for (p = dev->peers; p != NULL; p = p->next) {
		if (memcmp(p->public_key, key, NOISE_KEY_LEN) != 0)
			continue;
		pthread_mutex_lock(&p->lock);
		/* past the REKEY_TIMEOUT rate limit: the caller paces probes */
		p->timers.last_sent_handshake = 0;
		dp_send_initiation(p, DP_CTL_WORKER, 0);
		pthread_mutex_unlock(&p->lock);
		r = 0;
		break;
	}
	pthread_rwlock_unlock(&dev->lock);
	return r;
}

/* ---- status ------------------------------------------------------------------- */

void
dp_peer_status_free(struct dp_peer_status *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i].allowed_ips);
	free(v);
}

static int
fill_status(struct dp_device *dev, struct dp_peer *p, struct dp_peer_status *s)
{
	size_t n = ai_list(&dev->ai, p, NULL, 0);

	memcpy(s->public_key, p->public_key, NOISE_KEY_LEN);
	if (n > 0 && (s->allowed_ips = calloc(n, sizeof(*s->allowed_ips))) == NULL)
		return -ENOMEM;
	s->n_allowed_ips = ai_list(&dev->ai, p, s->allowed_ips, n);
	pthread_mutex_lock(&p->lock);
	s->has_endpoint = p->has_endpoint;
	s->endpoint = p->endpoint;
	s->last_handshake_sec = p->last_handshake_wall_ns / 1000000000ULL;
	s->persistent_keepalive = p->timers.persistent_keepalive_interval;
	pthread_mutex_unlock(&p->lock);
	s->rx_bytes = __atomic_load_n(&p->rx_bytes, __ATOMIC_RELAXED);
	s->tx_bytes = __atomic_load_n(&p->tx_bytes, __ATOMIC_RELAXED);
	return 0;
}

int
dp_device_status(struct dp_device *dev, struct dp_peer_status **out, size_t *n)
{
	struct dp_peer_status *v = NULL;
	struct dp_peer *p;
	size_t i = 0;
	int r = 0;

	pthread_rwlock_rdlock(&dev->lock);
	if (dev->n_peers > 0 && (v = calloc(dev->n_peers, sizeof(*v))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (p = dev->peers; p != NULL; p = p->next)
		if ((r = fill_status(dev, p, &v[i++])) < 0)
			goto out;
out:
	pthread_rwlock_unlock(&dev->lock);
	if (r < 0) {
		dp_peer_status_free(v, i);
		v = NULL;
		i = 0;
	}
	*out = v;
	*n = i;
	return r;
}
