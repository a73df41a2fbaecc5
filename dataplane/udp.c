/*
 * The UDP side of the device and the receive path (whitepaper §5.4.6):
 * one IPv4 and one IPv6 (V6ONLY) socket per worker, all bound to the
 * listen port with SO_REUSEPORT so the kernel hashes each remote endpoint to
 * one worker (packets of a flow stay in order).  Datagrams are read with
 * recvmmsg; handshake messages go to peer.c, data messages are decrypted,
 * checked against the replay window and against cryptokey routing (the
 * inner source must belong to the sending peer) and written to the TUN.
 * Authenticated packets update the peer's endpoint (roaming) and timers
 * once per run of packets from one peer.
 *
 * Each family has one more socket in its SO_REUSEPORT group, read by the
 * handshake thread alone (hsqueue.c): a classic BPF program on the group
 * sends every datagram whose first byte is not 4 (a data message) there and
 * spreads data messages over the workers by receiver index (one session
 * stays on one worker, in order).  A flood of handshake messages then fills
 * that socket's buffer and is dropped by the kernel; the workers never see
 * it.  Without the program (old kernels) the workers queue handshake
 * messages for the thread themselves.  With UDP_GRO one receive returns
 * a run of datagrams from one source (e.g. a peer's UDP_SEGMENT send), and
 * the decrypted packets of a batch are written to the TUN together so TCP
 * segments of one flow can be merged (tun.c, offload.c).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <linux/filter.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

/* A small receive buffer on the handshake sockets: a flood is dropped early. */
#define HS_RCVBUF (256 << 10)

static int
open_one(int family, uint16_t port, uint32_t fwmark, int hs)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, bufsz = 4 << 20, hsbuf = HS_RCVBUF;

	if ((fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (hs)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &hsbuf, sizeof(hsbuf));
	else if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof(bufsz));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufsz, sizeof(bufsz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof(bufsz));
	if (fwmark)
		setsockopt(fd, SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark));
	/* many datagrams per receive (Linux 5.0); without it, one each */
	if (!hs)
		setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one));
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		sl = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		sl = sizeof(*in6);
	}
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	return fd;
}

static uint16_t
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void
dp_udp_set_close(struct dp_udp_set *s)
{
	for (unsigned int i = 0; i < DP_MAX_DATA_WORKERS; i++) {
		if (s->fd4[i] >= 0)
			close(s->fd4[i]);
		if (s->fd6[i] >= 0)
			close(s->fd6[i]);
		s->fd4[i] = s->fd6[i] = -1;
	}
	if (s->hs4 >= 0)
		close(s->hs4);
	if (s->hs6 >= 0)
		close(s->hs6);
	s->hs4 = s->hs6 = -1;
}

/*
 * The group's steering program (the payload starts after the UDP header):
 * first byte 4, a data message: receiver index mod n, a worker's socket;
 * anything else: n, the handshake socket (bound after the n workers', so
 * it is the group's socket n).
 */
static int
steer(int fd, unsigned int n)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, MESSAGE_DATA, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 4),
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
		BPF_STMT(BPF_RET | BPF_A, 0),
		BPF_STMT(BPF_RET | BPF_K, n),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]), .filter = code };

	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}

/*
 * The handshake socket of one family after the workers' (fd: worker 0's
 * socket of that family, -1 = none).  Without the program the socket would
 * take its hash share of data, so it is closed again: -1.
 */
static int
bind_hs(int family, int fd, unsigned int n, uint16_t port, uint32_t fwmark)
{
	const char *e = getenv("CLOUDROUTE_HS_SOCKET");    /* "0": none (tests) */
	int hs;

	if (fd < 0 || (e != NULL && strcmp(e, "0") == 0))
		return -1;
	if ((hs = open_one(family, port, fwmark, 1)) < 0)
		return -1;
	if (steer(fd, n) < 0) {
		close(hs);
		return -1;
	}
	return hs;
}

static int
bind_all(struct dp_udp_set *s, unsigned int n, uint16_t port, uint32_t fwmark)
{
	int fd;

	for (unsigned int i = 0; i < n; i++) {
		if ((fd = open_one(AF_INET, port, fwmark, 0)) < 0)
			return fd;
		s->fd4[i] = fd;
		if (port == 0)
			port = bound_port(fd);
		fd = open_one(AF_INET6, port, fwmark, 0);
		if (fd == -EAFNOSUPPORT)
			continue;          /* IPv6 disabled on this host */
		if (fd < 0)
			return fd;
		s->fd6[i] = fd;
	}
	s->hs4 = bind_hs(AF_INET, s->fd4[0], n, port, fwmark);
	s->hs6 = bind_hs(AF_INET6, s->fd6[0], n, port, fwmark);
	s->port = port;
	return 0;
}

/* port 0: a random port free for both families (a few tries). */
int
dp_udp_bind(struct dp_device *dev, uint16_t port, uint32_t fwmark, struct dp_udp_set *s)
{
	int r = -EADDRINUSE;

	for (unsigned int i = 0; i < DP_MAX_DATA_WORKERS; i++)
		s->fd4[i] = s->fd6[i] = -1;
	s->hs4 = s->hs6 = -1;
	s->port = 0;
	for (int tries = 0; tries < (port == 0 ? 10 : 1); tries++) {
		if ((r = bind_all(s, dev->n_workers, port, fwmark)) == 0)
			return 0;
		dp_udp_set_close(s);
		if (r != -EADDRINUSE)
			break;
	}
	errno = -r;
	log_warn("%s: cannot bind UDP port %u", dev->ifname, port);
	return r;
}

void
dp_udp_swap(struct dp_device *dev, struct dp_udp_set *s)
{
	uint16_t port = dev->listen_port;
	int fd4, fd6;

	for (unsigned int i = 0; i < dev->n_workers; i++) {
		struct dp_worker *w = &dev->workers[i];

		fd4 = w->udp4;
		fd6 = w->udp6;
		w->udp4 = s->fd4[i];
		w->udp6 = s->fd6[i];
		s->fd4[i] = fd4;
		s->fd6[i] = fd6;
	}
	fd4 = dev->hs_fd4;
	fd6 = dev->hs_fd6;
	dev->hs_fd4 = s->hs4;
	dev->hs_fd6 = s->hs6;
	s->hs4 = fd4;
	s->hs6 = fd6;
	dev->listen_port = s->port;
	s->port = port;
}

int
dp_udp_set_mark(struct dp_device *dev, uint32_t fwmark)
{
	int r = 0;

	for (unsigned int i = 0; i < dev->n_workers; i++) {
		struct dp_worker *w = &dev->workers[i];
		if ((w->udp4 >= 0 && setsockopt(w->udp4, SOL_SOCKET, SO_MARK, &fwmark,
		    sizeof(fwmark)) < 0) || (w->udp6 >= 0 && setsockopt(w->udp6,
		    SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0))
			r = -errno;
	}
	if ((dev->hs_fd4 >= 0 && setsockopt(dev->hs_fd4, SOL_SOCKET, SO_MARK, &fwmark,
	    sizeof(fwmark)) < 0) || (dev->hs_fd6 >= 0 && setsockopt(dev->hs_fd6,
	    SOL_SOCKET, SO_MARK, &fwmark, sizeof(fwmark)) < 0))
		r = -errno;
	return r;
}

/* Counts msgs[from..to) as packets the kernel did not take (a GSO send
 * carries one packet per iovec). */
static void
unsent(struct dp_device *dev, const struct mmsghdr *msgs, unsigned int from,
    unsigned int to, const char *what)
{
	uint64_t n = 0;

	for (; from < to; from++)
		n += msgs[from].msg_hdr.msg_iovlen;
	dp_drop_n(dev, DP_DROP_SEND_FAILED, n, what);
}

int
dp_udp_send_batch(struct dp_device *dev, int fd, struct mmsghdr *msgs, unsigned int n)
{
	unsigned int done = 0;
	int r, waited = 0;

	if (fd < 0) {
		unsent(dev, msgs, 0, n, "no socket for the address family");
		return -EBADF;
	}
	while (done < n) {
		r = sendmmsg(fd, msgs + done, n - done, MSG_DONTWAIT);
		if (r > 0) {
			done += (unsigned int)r;
			continue;
		}
		if (r < 0 && errno == EAGAIN && !waited) {
			/* socket buffer full: wait a little once, then drop */
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, 5);
			waited = 1;
			continue;
		}
		if (r < 0 && (errno == EIO || errno == EINVAL) &&
		    msgs[done].msg_hdr.msg_controllen != 0) {
			unsent(dev, msgs, done, n, "UDP GSO refused");
			return -EIO;    /* GSO refused (device without checksum offload) */
		}
		if (r < 0 && errno != EAGAIN) {
			/* skip a datagram the kernel refuses (e.g. unreachable) */
			unsent(dev, msgs, done, done + 1, "datagram refused by the kernel");
			done++;
		} else {
			unsent(dev, msgs, done, n, "socket send buffer full");
			break;
		}
	}
	return (int)done;
}

/* ---- receive path --------------------------------------------------------- */

struct rx_run {
	struct dp_peer *peer;
	const struct sockaddr_storage *src;
	uint64_t bytes;
	int data;
	/* the last receiver index looked up, valid for one batch */
	uint32_t cache_idx;
	struct dp_keypair *cache_kp;
};

static void
run_end(struct dp_device *dev, unsigned int worker, struct rx_run *r, uint64_t now)
{
	struct dp_peer *p = r->peer;
	struct dp_keypair *kp;

	(void)dev;
	if (p == NULL)
		return;
	__atomic_fetch_add(&p->rx_bytes, r->bytes, __ATOMIC_RELAXED);
	pthread_mutex_lock(&p->lock);
	dp_peer_update_endpoint(p, r->src);
	dp_timers_any_authenticated_received(&p->timers, now);
	dp_timers_any_authenticated_traversal(&p->timers, now);
	if (r->data)
		dp_timers_data_received(&p->timers, now);
	kp = p->current;
	if (dp_keypair_live(kp) && !p->timers.sent_lastminute_handshake &&
	    dp_keypair_rekey_on_receive(kp->nk.i_am_initiator, kp->nk.birthdate_ms, now)) {
		p->timers.sent_lastminute_handshake = 1;
		dp_send_initiation(p, worker, 0);
	}
	pthread_mutex_unlock(&p->lock);
	r->peer = NULL;
	r->bytes = 0;
	r->data = 0;
}

/* Length of the IP packet in a decrypted payload and its source; 0 if bad. */
static size_t
inner_packet(const uint8_t *pkt, size_t len, int *family, const uint8_t **src)
{
	size_t tot;

	if (len >= 20 && (pkt[0] >> 4) == 4) {
		tot = (size_t)pkt[2] << 8 | pkt[3];
		if (tot < 20 || tot > len || (size_t)(pkt[0] & 15) * 4 < 20)
			return 0;
		*family = AF_INET;
		*src = pkt + 12;
		return tot;
	}
	if (len >= 40 && (pkt[0] >> 4) == 6) {
		tot = 40 + ((size_t)pkt[4] << 8 | pkt[5]);
		if (tot > len)
			return 0;
		*family = AF_INET6;
		*src = pkt + 8;
		return tot;
	}
	return 0;
}

static struct dp_keypair *
lookup_keypair(struct dp_device *dev, struct rx_run *r, uint32_t idx)
{
	struct dp_keypair *kp;

	if (r->cache_kp != NULL && r->cache_idx == idx)
		return r->cache_kp;
	if (dp_index_lookup(dev, idx, 1, &kp) == NULL)
		return NULL;
	r->cache_idx = idx;
	r->cache_kp = kp;
	return kp;
}

/*
 * The checks of a data message before its decryption: a known, live
 * session that may still receive.  1 when it is to be decrypted (item
 * filled), 0 when it was dropped.  dev->lock held for reading.
 */
static int
rx_data_check(struct dp_device *dev, uint8_t *pkt, size_t len,
    const struct sockaddr_storage *src, struct rx_run *run, uint64_t now,
    struct dp_rx_item *it)
{
	const struct message_data *m = (const void *)pkt;
	uint64_t counter = le64toh(m->counter);
	struct dp_keypair *kp;

	if ((kp = lookup_keypair(dev, run, le32toh(m->key_idx))) == NULL) {
		dp_drop(dev, DP_DROP_UNKNOWN_RECEIVER, "data for an unknown index");
		return 0;
	}
	if (!dp_keypair_live(kp) ||
	    !dp_keypair_can_receive(kp->nk.birthdate_ms, now) ||
	    counter >= REJECT_AFTER_MESSAGES) {
		dp_drop(dev, DP_DROP_SESSION_EXPIRED, "data for an expired session");
		return 0;
	}
	it->pkt = pkt;
	it->len = (uint32_t)len;
	it->kp = kp;
	it->counter = counter;
	it->src = src;
	it->ok = 0;
	return 1;
}

/* Decrypts items [begin, end) in place (shared with the crypto helpers). */
static void
open_range(void *ctx, unsigned int worker, unsigned int begin, unsigned int end)
{
	struct dp_rx_item *items = ctx;

	for (unsigned int k = begin; k < end; k++) {
		struct dp_rx_item *it = &items[k];

		it->ok = noise_decrypt(&it->kp->nk, worker, it->counter, it->pkt + DP_HEADROOM,
		    it->pkt + DP_HEADROOM, it->len - DP_HEADROOM) == 0;
	}
}

/*
 * A decrypted data message, in arrival order: the replay window, the
 * session's confirmation, roaming and timers (per run), the inner packet
 * and cryptokey routing.  Returns the length of the inner packet to write
 * to the TUN (at pkt + DP_HEADROOM), 0 for none.  dev->lock held for reading.
 */
static size_t
rx_data_finish(struct dp_device *dev, unsigned int worker, const struct dp_rx_item *it,
    struct rx_run *run, uint64_t now)
{
	struct dp_keypair *kp = it->kp;
	struct dp_peer *p;
	const uint8_t *isrc;
	size_t plen, ilen;
	int fresh, family;

	if (!it->ok) {
		dp_drop(dev, DP_DROP_DECRYPT_FAILED, "data failed to authenticate");
		return 0;
	}
	pthread_mutex_lock(&kp->nk.replay_lock);
	fresh = replay_check_update(&kp->nk.replay, it->counter);
	pthread_mutex_unlock(&kp->nk.replay_lock);
	if (!fresh) {
		dp_drop(dev, DP_DROP_REPLAY, "replayed data");
		return 0;
	}
	p = kp->peer;
	if (__atomic_load_n(&p->next_kp, __ATOMIC_ACQUIRE) == kp) {
		int promoted;

		/* the initiator's first data confirms our responder session */
		pthread_mutex_lock(&p->lock);
		if ((promoted = dp_peer_promote_next(p, kp)) != 0) {
			dp_timers_handshake_complete(&p->timers, now);
			p->last_handshake_wall_ns = wall_ms() * 1000000ULL;
		}
		pthread_mutex_unlock(&p->lock);
		if (promoted)
			dp_send_staged(p, worker, 0);
	}
	if (p != run->peer) {
		run_end(dev, worker, run, now);
		run->peer = p;
	}
	run->src = it->src;
	run->bytes += it->len;
	plen = it->len - MESSAGE_MINIMUM_LENGTH;
	if (plen == 0)
		return 0;                      /* keepalive */
	run->data = 1;
	if ((ilen = inner_packet(it->pkt + DP_HEADROOM, plen, &family, &isrc)) == 0) {
		dp_drop(dev, DP_DROP_INVALID_INNER, "decrypted packet is not IP");
		return 0;
	}
	if (ai_lookup(&dev->ai, family, isrc) != p) {
		dp_drop(dev, DP_DROP_SOURCE_NOT_ALLOWED, "inner source not allowed for peer");
		return 0;
	}
	return ilen;
}

/* Off the data path (the handshake thread), or inline on a detached device. */
static void
rx_handshake(struct dp_device *dev, unsigned int worker, const uint8_t *pkt, size_t len,
    const struct sockaddr_storage *src)
{
	if (dev->hs_ring != NULL)
		dp_hs_enqueue(dev, pkt, len, src);
	else
		dp_rx_handshake(dev, worker, pkt, len, src, 0);
}

int
dp_udp_handshake_ok(struct dp_device *dev, const uint8_t *msg, size_t len)
{
	static const size_t want[] = {
		[MESSAGE_HANDSHAKE_INITIATION] = sizeof(struct message_handshake_initiation),
		[MESSAGE_HANDSHAKE_RESPONSE] = sizeof(struct message_handshake_response),
		[MESSAGE_HANDSHAKE_COOKIE] = sizeof(struct message_handshake_cookie),
	};
	uint32_t type;

	if (len < 4) {
		dp_drop(dev, DP_DROP_MALFORMED, "datagram too short");
		return -1;
	}
	memcpy(&type, msg, sizeof(type));
	type = le32toh(type);
	if (type < MESSAGE_HANDSHAKE_INITIATION || type > MESSAGE_HANDSHAKE_COOKIE) {
		dp_drop(dev, DP_DROP_MALFORMED, "unknown message type");
		return -1;
	}
	if (len != want[type]) {
		dp_drop(dev, DP_DROP_MALFORMED, "message with a wrong length");
		return -1;
	}
	return 0;
}

/* One datagram: 1 when it is a data message to decrypt (it filled). */
static int
rx_dispatch(struct dp_device *dev, unsigned int worker, uint8_t *pkt, size_t len,
    const struct sockaddr_storage *src, struct rx_run *run, uint64_t now,
    struct dp_rx_item *it)
{
	uint32_t type;

	if (len >= 4) {
		memcpy(&type, pkt, sizeof(type));
		if (le32toh(type) == MESSAGE_DATA) {
			if (len >= MESSAGE_MINIMUM_LENGTH)
				return rx_data_check(dev, pkt, len, src, run, now, it);
			dp_drop(dev, DP_DROP_MALFORMED, "message with a wrong length");
			return 0;
		}
	}
	if (dp_udp_handshake_ok(dev, pkt, len) == 0)
		rx_handshake(dev, worker, pkt, len, src);
	return 0;
}

/* The UDP_GRO segment size of a received buffer; 0 = one datagram. */
static size_t
gro_size(const struct msghdr *mh)
{
	struct cmsghdr *c;
	int v;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR((struct msghdr *)mh, c))
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(&v, CMSG_DATA(c), sizeof(v));
			return v > 0 ? (size_t)v : 0;
		}
	return 0;
}

static int
recv_batch(struct dp_worker *w, int fd)
{
	for (int i = 0; i < DP_RX_BATCH; i++) {
		w->rx_iov[i].iov_base = w->rx_buf[i];
		w->rx_iov[i].iov_len = DP_BUF_SIZE;
		memset(&w->rx_msg[i], 0, sizeof(w->rx_msg[i]));
		w->rx_msg[i].msg_hdr.msg_iov = &w->rx_iov[i];
		w->rx_msg[i].msg_hdr.msg_iovlen = 1;
		w->rx_msg[i].msg_hdr.msg_name = &w->rx_addr[i];
		w->rx_msg[i].msg_hdr.msg_namelen = sizeof(w->rx_addr[i]);
		w->rx_msg[i].msg_hdr.msg_control = w->rx_cmsg[i].buf;
		w->rx_msg[i].msg_hdr.msg_controllen = sizeof(w->rx_cmsg[i].buf);
	}
	return recvmmsg(fd, w->rx_msg, DP_RX_BATCH, MSG_DONTWAIT, NULL);
}

/*
 * The data messages w->rx_items[0..n) of a batch: decrypted (shared with
 * the crypto helpers), then finished in arrival order and written to the
 * TUN together.  Called with dev->lock held for reading; returns without.
 */
static void
rx_round(struct dp_worker *w, unsigned int n, struct rx_run *run, uint64_t now)
{
	struct dp_device *dev = w->dev;
	unsigned int nout = 0;
	size_t out;

	dp_cpool_run(dev, w->idx, n, open_range, w->rx_items);
	for (unsigned int k = 0; k < n; k++) {
		if ((out = rx_data_finish(dev, w->idx, &w->rx_items[k], run, now)) == 0)
			continue;
		w->rx_out[nout].data = w->rx_items[k].pkt + DP_HEADROOM;
		w->rx_out[nout++].len = out;
	}
	run_end(dev, w->idx, run, now);
	pthread_rwlock_unlock(&dev->lock);
	dp_tun_write_batch(w, w->rx_out, nout);
}

/*
 * Handles the received buffers w->rx_msg[0..n).  Each holds one datagram,
 * or with UDP_GRO a run of datagrams of one size (the last may be shorter)
 * from one source; each is checked on its own, and the data messages go
 * through rx_round together.
 */
void
dp_udp_rx_buffers(struct dp_worker *w, unsigned int n)
{
	struct dp_device *dev = w->dev;
	unsigned int nitems = 0;
	struct rx_run run;
	uint64_t now = now_ms();

	memset(&run, 0, sizeof(run));
	pthread_rwlock_rdlock(&dev->lock);
	for (unsigned int i = 0; i < n; i++) {
		struct msghdr *mh = &w->rx_msg[i].msg_hdr;
		size_t total = w->rx_msg[i].msg_len, seg = gro_size(mh), off, len;

		if (mh->msg_flags & MSG_TRUNC) {
			dp_drop(dev, DP_DROP_MALFORMED, "datagram larger than a buffer");
			continue;
		}
		if (seg == 0)
			seg = total;
		for (off = 0; off < total; off += seg) {
			len = total - off < seg ? total - off : seg;
			if (nitems == DP_RX_ITEMS) {
				rx_round(w, nitems, &run, now);
				nitems = 0;
				memset(&run, 0, sizeof(run));
				pthread_rwlock_rdlock(&dev->lock);
			}
			nitems += (unsigned int)rx_dispatch(dev, w->idx, w->rx_buf[i] + off, len,
			    &w->rx_addr[i], &run, now, &w->rx_items[nitems]);
		}
	}
	rx_round(w, nitems, &run, now);
}

int
dp_udp_rx_batch(struct dp_worker *w, int fd)
{
	int n;

	if ((n = recv_batch(w, fd)) <= 0)
		return 0;
	dp_udp_rx_buffers(w, (unsigned int)n);
	return n == DP_RX_BATCH;
}

void
dp_device_rx_one(struct dp_device *dev, unsigned int worker, uint8_t *pkt,
    size_t len, const struct sockaddr_storage *src)
{
	struct dp_rx_item it;
	struct rx_run run;
	uint64_t now = now_ms();
	size_t out = 0;

	memset(&run, 0, sizeof(run));
	pthread_rwlock_rdlock(&dev->lock);
	if (rx_dispatch(dev, worker, pkt, len, src, &run, now, &it)) {
		open_range(&it, worker, 0, 1);
		out = rx_data_finish(dev, worker, &it, &run, now);
	}
	run_end(dev, worker, &run, now);
	pthread_rwlock_unlock(&dev->lock);
	if (out > 0 && dev->detached)
		dp_tun_write(&dev->workers[0], pkt + DP_HEADROOM, out);
	else if (out > 0 && worker < dev->n_workers)
		dp_tun_write(&dev->workers[worker], pkt + DP_HEADROOM, out);
}
