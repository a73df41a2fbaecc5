/*
 * The TUN side of the device and the send path (whitepaper §5.4.6):
 * packets read from the TUN interface are routed to a peer by destination
 * (cryptokey routing), padded to a multiple of 16 bytes (at most the MTU),
 * encrypted with the peer's current session and sent in sendmmsg batches.
 * Without a usable session they are staged (bounded, oldest dropped) and a
 * handshake is started; dp_send_staged() sends them once one completes.
 *
 * The interface is opened with IFF_MULTI_QUEUE, one queue per worker, so
 * the kernel keeps each flow on one queue (and one worker) in order.  When
 * the kernel takes IFF_VNET_HDR and TUNSETOFFLOAD (CSUM, TSO4/6, USO4/6),
 * one read() returns a super-packet of up to 64 KiB that offload.c cuts into
 * MTU-sized packets; same-size runs of them then leave in one UDP_SEGMENT
 * send.  The write side (decrypted packets, from udp.c) merges TCP segments
 * of a flow into super-packets the same way.  Without the offloads (old
 * kernels, CLOUDROUTE_TUN_OFFLOAD=0) every read and write is one packet.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <netinet/udp.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

/* Payload room in a packet buffer: header before, padding and tag after. */
#define TUN_READ_MAX 65535           /* fits the staged queue's uint16_t lengths */

static void
close_queues(int *fds, unsigned int queues)
{
	for (unsigned int i = 0; i < queues; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

static int
open_queues(const char *ifname, unsigned int queues, int *fds, short extra, int quiet)
{
	struct ifreq ifr;
	unsigned int i;
	int r = 0;

	for (i = 0; i < queues; i++)
		fds[i] = -1;
	for (i = 0; i < queues; i++) {
		if ((fds[i] = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK)) < 0) {
			r = -errno;
			log_warn("open /dev/net/tun");
			goto out;
		}
		memset(&ifr, 0, sizeof(ifr));
		ifr.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | IFF_MULTI_QUEUE | extra);
		cr_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
		if (ioctl(fds[i], TUNSETIFF, &ifr) < 0) {
			r = -errno;
			if (!quiet)
				log_warn("%s: TUNSETIFF", ifname);
			goto out;
		}
	}
out:
	if (r < 0)
		close_queues(fds, queues);
	return r;
}

/*
 * TSO4/TSO6 need CSUM; USO4/USO6 are newer (Linux 6.2) and optional.  The
 * offload state belongs to the device, so one queue is enough.
 */
static int
set_offload(int fd)
{
	unsigned int tcp = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;

	if (ioctl(fd, TUNSETOFFLOAD, tcp | TUN_F_USO4 | TUN_F_USO6) == 0 ||
	    ioctl(fd, TUNSETOFFLOAD, tcp) == 0)
		return 0;
	return -errno;
}

int
dp_tun_open(const char *ifname, unsigned int queues, int *fds, int *vnet)
{
	const char *off = getenv("CLOUDROUTE_TUN_OFFLOAD");   /* "0": plain TUN (tests) */

	*vnet = 0;
	if ((off == NULL || strcmp(off, "0") != 0) &&
	    open_queues(ifname, queues, fds, IFF_VNET_HDR, 1) == 0) {
		if (set_offload(fds[0]) == 0) {
			*vnet = 1;
			return 0;
		}
		log_info("%s: TUN offloads refused, one packet per read", ifname);
		close_queues(fds, queues);
	}
	return open_queues(ifname, queues, fds, 0, 0);
}

int
dp_tun_mtu(const char *ifname)
{
	struct ifreq ifr;
	int fd, r;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	cr_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	r = ioctl(fd, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
	close(fd);
	return r;
}

/* The payload length after padding to 16 bytes (at most the MTU). */
static size_t
padded_len(size_t len, unsigned int mtu)
{
	size_t padded = (len + MESSAGE_PADDING_MULTIPLE - 1) & ~(size_t)(MESSAGE_PADDING_MULTIPLE - 1);

	if (mtu != 0 && padded > mtu)
		padded = len > mtu ? len : mtu;
	return padded;
}

/*
 * Builds the data message in place: buf[0..16) header, plaintext at
 * buf + DP_HEADROOM (len bytes), padded and sealed.  Returns the datagram
 * length.
 */
static size_t
seal(struct dp_keypair *kp, unsigned int worker, uint64_t counter, uint8_t *buf,
    size_t len, unsigned int mtu)
{
	struct message_data *m = (struct message_data *)(void *)buf;
	size_t padded = padded_len(len, mtu);

	memset(buf + DP_HEADROOM + len, 0, padded - len);
	m->type = htole32(MESSAGE_DATA);
	m->key_idx = htole32(kp->nk.remote_index);
	m->counter = htole64(counter);
	if (noise_encrypt(&kp->nk, worker, counter, buf + DP_HEADROOM, buf + DP_HEADROOM,
	    padded) < 0)
		return 0;
	return DP_HEADROOM + padded + NOISE_AUTHTAG_LEN;
}

/* A usable sending session of p with a fresh counter, or NULL. */
static struct dp_keypair *
take_counter(struct dp_peer *p, uint64_t now, uint64_t *counter)
{
	struct dp_keypair *kp = __atomic_load_n(&p->current, __ATOMIC_ACQUIRE);

	if (!dp_keypair_live(kp) ||
	    !dp_keypair_can_send(kp->nk.birthdate_ms,
	    __atomic_load_n(&kp->nk.sending_counter, __ATOMIC_RELAXED), now))
		return NULL;
	*counter = __atomic_fetch_add(&kp->nk.sending_counter, 1, __ATOMIC_RELAXED);
	if (*counter >= REJECT_AFTER_MESSAGES)
		return NULL;
	return kp;
}

/* After sending: timers and the send-side rekey (peer->lock NOT held). */
static void
after_send(struct dp_peer *p, unsigned int worker, uint64_t now, uint64_t bytes,
    int data)
{
	struct dp_keypair *kp;

	__atomic_fetch_add(&p->tx_bytes, bytes, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->lock);
	dp_timers_any_authenticated_traversal(&p->timers, now);
	dp_timers_any_authenticated_sent(&p->timers, now);
	if (data)
		dp_timers_data_sent(&p->timers, now, dp_jitter());
	kp = p->current;
	if (dp_keypair_live(kp) && dp_keypair_rekey_on_send(kp->nk.i_am_initiator,
	    kp->nk.birthdate_ms, __atomic_load_n(&kp->nk.sending_counter,
	    __ATOMIC_RELAXED), now))
		dp_send_initiation(p, worker, 0);
	pthread_mutex_unlock(&p->lock);
}

/* Queues a packet until a session exists and starts a handshake. */
static void
stage(struct dp_worker *w, struct dp_peer *p, const uint8_t *pkt, size_t len)
{
	pthread_mutex_lock(&p->lock);
	if (dp_peer_stage(p, pkt, len) == 0)
		dp_send_initiation(p, w->idx, 0);
	else
		dp_drop(w->dev, DP_DROP_QUEUE_FULL, "no memory to stage a packet");
	pthread_mutex_unlock(&p->lock);
}

void
dp_send_staged(struct dp_peer *p, unsigned int worker, int keepalive_if_empty)
{
	uint8_t *pkts[DP_STAGED_MAX], *buf = NULL;
	uint16_t lens[DP_STAGED_MAX];
	struct sockaddr_storage ep;
	unsigned int n = 0, i, mtu = __atomic_load_n(&p->dev->mtu, __ATOMIC_RELAXED);
	uint64_t now = now_ms(), counter, bytes = 0;
	struct dp_keypair *kp;
	int has_ep, data = 0;

	pthread_mutex_lock(&p->lock);
	if ((p->staged == NULL || p->staged->n == 0) && !keepalive_if_empty)
		goto unlock;
	kp = p->current;
	if (!dp_keypair_live(kp) ||
	    !dp_keypair_can_send(kp->nk.birthdate_ms, kp->nk.sending_counter, now)) {
		dp_send_initiation(p, worker, 0);
		goto unlock;
	}
	ep = p->endpoint;
	has_ep = p->has_endpoint;
	n = dp_peer_take_staged(p, pkts, lens);
	pthread_mutex_unlock(&p->lock);

	if (has_ep && (buf = malloc(DP_BUF_SIZE)) != NULL) {
		for (i = 0; i < (n ? n : 1); i++) {
			size_t len = n ? lens[i] : 0, out;

			if ((kp = take_counter(p, now, &counter)) == NULL)
				break;
			if (n)
				memcpy(buf + DP_HEADROOM, pkts[i], len);
			if ((out = seal(kp, worker, counter, buf, len, mtu)) == 0)
				continue;
			if (dp_send_datagram(p->dev, worker, &ep, buf, out) == 0) {
				bytes += out;
				data |= len > 0;
			}
		}
		after_send(p, worker, now, bytes, data);
	} else if (!has_ep) {
		dp_drop(p->dev, DP_DROP_NO_ENDPOINT, "peer has no endpoint");
	}
	for (i = 0; i < n; i++)
		free(pkts[i]);
	free(buf);
	return;
unlock:
	pthread_mutex_unlock(&p->lock);
}

/* Destination address of an IP packet; 0 or -1 when it is not one. */
static int
packet_dst(const uint8_t *pkt, size_t len, int *family, const uint8_t **addr)
{
	if (len >= 20 && (pkt[0] >> 4) == 4) {
		*family = AF_INET;
		*addr = pkt + 16;
		return 0;
	}
	if (len >= 40 && (pkt[0] >> 4) == 6) {
		*family = AF_INET6;
		*addr = pkt + 24;
		return 0;
	}
	return -1;
}

struct tx_run {
	struct dp_peer *peer;
	struct sockaddr_storage ep;
	int has_ep;
	uint64_t bytes;
};

static void
run_end(struct dp_worker *w, struct tx_run *r, uint64_t now)
{
	if (r->peer != NULL && r->bytes > 0)
		after_send(r->peer, w->idx, now, r->bytes, 1);
	r->peer = NULL;
	r->bytes = 0;
}

static void
run_begin(struct tx_run *r, struct dp_peer *p)
{
	r->peer = p;
	pthread_mutex_lock(&p->lock);
	r->ep = p->endpoint;
	r->has_ep = p->has_endpoint;
	pthread_mutex_unlock(&p->lock);
}

/*
 * Routes packet i of the batch and takes its counter; 1 if it is to be
 * sealed and sent (the session and counter are in tx_kp/tx_ctr).
 */
static int
tx_one(struct dp_worker *w, struct tx_run *run, unsigned int i, uint64_t now,
    unsigned int mtu)
{
	struct dp_device *dev = w->dev;
	uint8_t *buf = w->tx_buf[i];
	const uint8_t *dst;
	struct dp_keypair *kp;
	struct dp_peer *p;
	uint64_t counter;
	int family;

	if (packet_dst(buf + DP_HEADROOM, w->tx_len[i], &family, &dst) < 0) {
		dp_drop(dev, DP_DROP_INVALID_INNER, "TUN packet is not IP");
		return 0;
	}
	if ((p = ai_lookup(&dev->ai, family, dst)) == NULL) {
		dp_drop(dev, DP_DROP_NO_ROUTE, "no peer for destination");
		return 0;
	}
	if (p != run->peer) {
		run_end(w, run, now);
		run_begin(run, p);
	}
	if ((kp = take_counter(p, now, &counter)) == NULL) {
		stage(w, p, buf + DP_HEADROOM, w->tx_len[i]);
		return 0;
	}
	if (!run->has_ep) {
		dp_drop(dev, DP_DROP_NO_ENDPOINT, "peer has no endpoint");
		return 0;
	}
	w->tx_kp[i] = kp;
	w->tx_ctr[i] = counter;
	w->tx_addr[i] = run->ep;
	run->bytes += DP_HEADROOM + padded_len(w->tx_len[i], mtu) + NOISE_AUTHTAG_LEN;
	return 1;
}

/* The sealing of one batch, shared with the crypto helpers. */
struct seal_job {
	struct dp_worker *w;
	const unsigned int *idx;
	unsigned int mtu;
};

static void
seal_range(void *ctx, unsigned int worker, unsigned int begin, unsigned int end)
{
	struct seal_job *j = ctx;
	struct dp_worker *w = j->w;

	for (unsigned int k = begin; k < end; k++) {
		unsigned int i = j->idx[k];

		w->tx_len[i] = seal(w->tx_kp[i], worker, w->tx_ctr[i], w->tx_buf[i],
		    w->tx_len[i], j->mtu);
	}
}

static int
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	return a->ss_family == b->ss_family && memcmp(a, b, a->ss_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) == 0;
}

/*
 * Sends the encrypted packets idx[0..n).  Consecutive packets to one
 * endpoint with the same length (the last may be shorter) go out as one
 * UDP_SEGMENT (GSO) send: the kernel then walks its stack once for the lot.
 */
static void
flush(struct dp_worker *w, unsigned int *idx, unsigned int n)
{
	unsigned int i = 0, m = 0, j, start = 0;
	int gso = !__atomic_load_n(&w->dev->no_gso, __ATOMIC_RELAXED);

	if (w->dev->detached) {
		for (i = 0; i < n; i++)
			dp_send_datagram(w->dev, w->idx, &w->tx_addr[idx[i]], w->tx_buf[idx[i]],
			    w->tx_len[idx[i]]);
		return;
	}
	while (i < n) {
		struct mmsghdr *mh = &w->tx_msg[m];
		const struct sockaddr_storage *to = &w->tx_addr[idx[i]];
		size_t seg = w->tx_len[idx[i]], bytes = 0;

		for (j = i; j < n; j++) {
			w->tx_iov[j].iov_base = w->tx_buf[idx[j]];
			w->tx_iov[j].iov_len = w->tx_len[idx[j]];
			bytes += w->tx_len[idx[j]];
			if (j == i)
				continue;
			if (!gso || !same_addr(to, &w->tx_addr[idx[j]]) ||
			    w->tx_len[idx[j]] > seg || w->tx_len[idx[j - 1]] != seg ||
			    j - i >= DP_GSO_MAX_SEGS || bytes > DP_GSO_MAX_BYTES)
				break;
		}
		memset(mh, 0, sizeof(*mh));
		mh->msg_hdr.msg_iov = &w->tx_iov[i];
		mh->msg_hdr.msg_iovlen = j - i;
		mh->msg_hdr.msg_name = (void *)to;
		mh->msg_hdr.msg_namelen = to->ss_family == AF_INET ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		if (j - i > 1) {
			struct cmsghdr *c;
			mh->msg_hdr.msg_control = w->tx_cmsg[m].buf;
			mh->msg_hdr.msg_controllen = sizeof(w->tx_cmsg[m].buf);
			c = CMSG_FIRSTHDR(&mh->msg_hdr);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			*(uint16_t *)(void *)CMSG_DATA(c) = (uint16_t)seg;
		}
		m++;
		i = j;
	}
	/* contiguous runs of one address family go through one socket */
	for (i = 1; i <= m; i++) {
		const struct sockaddr_storage *a = w->tx_msg[start].msg_hdr.msg_name;
		if (i < m && ((const struct sockaddr_storage *)
		    w->tx_msg[i].msg_hdr.msg_name)->ss_family == a->ss_family)
			continue;
		if (dp_udp_send_batch(w->dev, a->ss_family == AF_INET ? w->udp4 : w->udp6,
		    &w->tx_msg[start], i - start) == -EIO && gso) {
			/* no GSO here: from now on one datagram per packet */
			__atomic_store_n(&w->dev->no_gso, 1, __ATOMIC_RELAXED);
			log_info("%s: UDP GSO unavailable", w->dev->ifname);
		}
		start = i;
	}
}

/*
 * Encrypts and sends the packets in the worker's send slots: routing and
 * counters in slot order here, the sealing shared with the crypto helpers,
 * then the datagrams leave in slot (so counter) order.
 */
static void
send_slots(struct dp_worker *w, unsigned int n)
{
	struct dp_device *dev = w->dev;
	unsigned int i, k, nsend = 0, idx[DP_TX_SLOTS];
	unsigned int mtu = __atomic_load_n(&dev->mtu, __ATOMIC_RELAXED);
	struct tx_run run = { .peer = NULL };
	struct seal_job job = { .w = w, .idx = idx, .mtu = mtu };
	uint64_t now = now_ms();

	pthread_rwlock_rdlock(&dev->lock);
	for (i = 0; i < n; i++)
		if (tx_one(w, &run, i, now, mtu))
			idx[nsend++] = i;
	run_end(w, &run, now);
	dp_cpool_run(dev, w->idx, nsend, seal_range, &job);
	pthread_rwlock_unlock(&dev->lock);
	for (i = k = 0; i < nsend; i++) {
		if (w->tx_len[idx[i]] != 0)
			idx[k++] = idx[i];
		else
			dp_drop(dev, DP_DROP_SEND_FAILED, "no memory for a cipher context");
	}
	if (k > 0)
		flush(w, idx, k);
}

/* Arena bytes for a packet of len: header before, padding and tag after. */
static size_t
slot_size(size_t len)
{
	return (DP_HEADROOM + len + MESSAGE_PADDING_MULTIPLE + NOISE_AUTHTAG_LEN + 63) &
	    ~(size_t)63;
}

/*
 * Cuts one packet read from the TUN (with its virtio header when w->vnet)
 * into the send slots, sending whenever they fill up.
 */
static void
cut(struct dp_worker *w, size_t r, unsigned int *n, size_t *used)
{
	struct virtio_net_hdr vh;
	struct dp_gso g;
	size_t len, hl = w->vnet ? DP_VNET_HDR_LEN : 0;

	if (r <= hl)
		return;
	if (hl)
		memcpy(&vh, w->rd_buf, sizeof(vh));
	if (dp_gso_init(&g, hl ? &vh : NULL, w->rd_buf + hl, r - hl) < 0) {
		dp_drop(w->dev, DP_DROP_INVALID_INNER, "TUN packet with a bad virtio header");
		return;
	}
	while ((len = dp_gso_next_len(&g)) != 0) {
		if (*n == DP_TX_SLOTS || *used + slot_size(len) > DP_TX_ARENA) {
			send_slots(w, *n);
			*n = 0;
			*used = 0;
		}
		w->tx_buf[*n] = w->tx_arena + *used;
		w->tx_len[*n] = dp_gso_next(&g, w->tx_buf[*n] + DP_HEADROOM);
		*used += slot_size(len);
		(*n)++;
	}
}

int
dp_tun_rx_batch(struct dp_worker *w)
{
	unsigned int reads, n = 0;
	size_t used = 0;
	ssize_t r = 0;

	for (reads = 0; reads < DP_BATCH; reads++) {
		r = read(w->tun_fd, w->rd_buf, DP_VNET_HDR_LEN + TUN_READ_MAX);
		if (r <= 0)
			break;
		cut(w, (size_t)r, &n, &used);
	}
	if (reads == 0)
		return r < 0 && errno != EAGAIN && errno != EINTR ? -errno : 0;
	if (n > 0)
		send_slots(w, n);
	return reads == DP_BATCH;
}

void
dp_tun_send_packets(struct dp_worker *w, const uint8_t *const *pkts, const size_t *lens,
    unsigned int n)
{
	unsigned int slots = 0;
	size_t used = 0;

	for (unsigned int i = 0; i < n; i++) {
		size_t len = lens[i] < TUN_READ_MAX ? lens[i] : TUN_READ_MAX;

		memcpy(w->rd_buf, pkts[i], len);
		cut(w, len, &slots, &used);
	}
	if (slots > 0)
		send_slots(w, slots);
}

/* ---- the TUN write side (decrypted packets to the kernel) ----------------- */

static void
write_failed(struct dp_worker *w)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INIT(5000, 3);

	if (errno != EAGAIN)
		log_debug_rl(&rl, "TUN write: %s", strerror(errno));
	dp_drop(w->dev, DP_DROP_TUN_WRITE_FAILED, "TUN write refused");
}

void
dp_tun_write(struct dp_worker *w, uint8_t *pkt, size_t len)
{
	struct dp_device *dev = w->dev;

	if (dev->detached) {                   /* no TUN: the test's hook */
		if (dev->tun_hook != NULL)
			dev->tun_hook(dev->hook_ctx, pkt, len);
		return;
	}
	if (w->tun_fd < 0)
		return;
	if (w->vnet) {
		pkt -= DP_VNET_HDR_LEN;
		memset(pkt, 0, DP_VNET_HDR_LEN);      /* flags 0, GSO_NONE */
		len += DP_VNET_HDR_LEN;
	}
	if (write(w->tun_fd, pkt, len) < 0)
		write_failed(w);
}

static void
emit_tun(void *ctx, const struct iovec *iov, int iovcnt)
{
	struct dp_worker *w = ctx;

	if (writev(w->tun_fd, iov, iovcnt) < 0)
		write_failed(w);
}

void
dp_tun_write_batch(struct dp_worker *w, struct dp_gro_pkt *pkts, unsigned int n)
{
	if ((w->tun_fd < 0 && !w->dev->detached) || n == 0)
		return;
	if (!w->vnet) {                        /* also a detached device's */
		for (unsigned int i = 0; i < n; i++)
			dp_tun_write(w, pkts[i].data, pkts[i].len);
		return;
	}
	dp_gro_write(&w->gro, pkts, n, emit_tun, w);
}
