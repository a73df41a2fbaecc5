/*
 * libFuzzer harness for the receive path: arbitrary datagrams go to a
 * device without sockets or TUN (dp_device_rx_one) that has a peer with an
 * established session, so data messages can name a live receiver index and
 * responses/cookie replies can name the in-flight handshake.  The first
 * input byte picks the message type (1-4) and whether to patch in a live
 * index; the rest is the message.
 *
 * With bit 6 of the first byte set the rest is plaintext instead: a virtio
 * header and super-packet for the send-side segmentation (dp_gso_*), then
 * inner packets, each sealed with dev[0]'s live session (the counter may
 * step back, for the replay window) and received by dev[1], so decryption
 * succeeds and inner-packet checks, cryptokey routing and the receive-side
 * coalescing (dp_gro_write) see the fuzzer's bytes.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <endian.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

static struct dp_device *dev[2];
static struct sockaddr_storage src;
static uint8_t queue[8][256];
static size_t queue_len[8], nq;

static void
tx_hook(void *ctx, const struct sockaddr_storage *to, const void *buf, size_t len)
{
	(void)ctx;
	(void)to;
	if (nq < 8 && len <= sizeof(queue[0])) {
		memcpy(queue[nq], buf, len);
		queue_len[nq++] = len;
	}
}

static struct dp_gro gro;
static uint8_t tun_out[64][DP_VNET_HDR_LEN + 2048];
static struct dp_gro_pkt tun_pkts[64];
static unsigned int ntun;

static void
tun_hook(void *ctx, const void *pkt, size_t len)
{
	(void)ctx;
	if (ntun < 64 && len <= sizeof(tun_out[0]) - DP_VNET_HDR_LEN) {
		memcpy(tun_out[ntun] + DP_VNET_HDR_LEN, pkt, len);
		tun_pkts[ntun].data = tun_out[ntun] + DP_VNET_HDR_LEN;
		tun_pkts[ntun++].len = len;
	}
}

static void
emit(void *ctx, const struct iovec *iov, int iovcnt)
{
	size_t total = 0;

	(void)ctx;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > DP_VNET_HDR_LEN + DP_GRO_MAX_LEN)
		abort();
}

static void
setup(void)
{
	uint8_t priv[2][NOISE_KEY_LEN], pub[2][NOISE_KEY_LEN];
	struct dp_peer_config pc[2];
	struct prefix ip[2];
	struct dp_config cfg;
	struct sockaddr_in *in = (struct sockaddr_in *)&src;

	log_init(1, 0, "fuzz");
	in->sin_family = AF_INET;
	in->sin_port = htons(51820);
	in->sin_addr.s_addr = htonl(0xc0000201);
	for (int i = 0; i < 2; i++) {
		memset(priv[i], 0x11 * (i + 1), NOISE_KEY_LEN);
		priv[i][0] &= 248;
		priv[i][31] = (priv[i][31] & 127) | 64;
		if (dp_pubkey(pub[i], priv[i]) < 0)
			abort();
	}
	prefix_parse("10.0.0.0/8", &ip[0], 0);
	prefix_parse("fd00::/8", &ip[1], 0);
	for (int i = 0; i < 2; i++) {
		memset(&pc[i], 0, sizeof(pc[i]));
		memcpy(pc[i].public_key, pub[!i], NOISE_KEY_LEN);
		pc[i].has_endpoint = 1;
		pc[i].endpoint = src;
		pc[i].allowed_ips = ip;
		pc[i].n_allowed_ips = 2;
		memset(&cfg, 0, sizeof(cfg));
		memcpy(cfg.private_key, priv[i], NOISE_KEY_LEN);
		cfg.peers = &pc[i];
		cfg.n_peers = 1;
		if (dp_device_create_detached(&cfg, &dev[i]) < 0)
			abort();
		dev[i]->tx_hook = tx_hook;
		dev[i]->tun_hook = tun_hook;
	}
	if (dp_gro_init(&gro) < 0)
		abort();
	/* a real handshake: dev[0] initiates, dev[1] answers, 0 confirms */
	pthread_mutex_lock(&dev[0]->peers->lock);
	dp_send_initiation(dev[0]->peers, 0, 0);
	pthread_mutex_unlock(&dev[0]->peers->lock);
	for (int turn = 1; nq > 0 && turn < 6; turn++) {
		uint8_t m[256];
		size_t l = queue_len[0];
		memcpy(m, queue[0], l);
		nq = 0;
		dp_device_rx_one(dev[turn % 2], 0, m, l, &src);
	}
	nq = 0;
	/* and a fresh initiation in flight, so responses have a target */
	dev[0]->peers->timers.last_sent_handshake = 0;
	pthread_mutex_lock(&dev[0]->peers->lock);
	dp_send_initiation(dev[0]->peers, 0, 0);
	pthread_mutex_unlock(&dev[0]->peers->lock);
	nq = 0;
}

/* Send-side segmentation of one super-packet: vh (10 bytes) || packet. */
static void
fuzz_gso(const uint8_t *data, size_t size)
{
	static uint8_t out[DP_BUF_SIZE];
	struct virtio_net_hdr vh;
	struct dp_gso g;
	size_t len, n = 0;

	if (size < sizeof(vh))
		return;
	memcpy(&vh, data, sizeof(vh));
	if (dp_gso_init(&g, &vh, data + sizeof(vh), size - sizeof(vh)) < 0)
		return;
	while ((len = dp_gso_next_len(&g)) != 0) {
		if (len > sizeof(out) || dp_gso_next(&g, out) != len || ++n > 65536)
			abort();
	}
}

/*
 * Transport data through a live session: [u16 gso_len][gso bytes] then
 * records [u8 counter_back][u16 len][len bytes] sealed by dev[0] and
 * received by dev[1]; what reaches its TUN goes through dp_gro_write.
 */
static void
fuzz_transport(const uint8_t *data, size_t size)
{
	static uint8_t buf[DP_BUF_SIZE];
	static uint64_t counter;
	struct dp_keypair *kp0 = dev[0]->peers->current, *kp1 = dev[1]->peers->current;
	size_t off = 2, len;

	if (kp0 == NULL || kp1 == NULL || size < 2)
		return;
	len = (size_t)data[0] << 8 | data[1];
	if (len > size - 2)
		len = size - 2;
	fuzz_gso(data + 2, len);
	off += len;
	/* sessions age in wall time; a long fuzzing run keeps them usable */
	kp0->nk.birthdate_ms = kp1->nk.birthdate_ms = now_ms();
	ntun = 0;
	while (off + 3 <= size) {
		struct message_data *m = (struct message_data *)(void *)buf;
		size_t plen, padded;
		uint64_t c;

		c = counter > data[off] ? counter - data[off] : 0;
		plen = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (plen > size - off)
			plen = size - off;
		if (plen > 2048)
			plen = 2048;
		padded = (plen + MESSAGE_PADDING_MULTIPLE - 1) & ~(size_t)(MESSAGE_PADDING_MULTIPLE - 1);
		memset(buf + DP_HEADROOM, 0, padded);
		memcpy(buf + DP_HEADROOM, data + off, plen);
		off += plen;
		m->type = htole32(MESSAGE_DATA);
		m->key_idx = htole32(kp0->nk.remote_index);
		m->counter = htole64(c);
		if (noise_encrypt(&kp0->nk, 0, c, buf + DP_HEADROOM, buf + DP_HEADROOM, padded) < 0)
			abort();
		if (c == counter)
			counter++;
		dp_device_rx_one(dev[1], 0, buf, DP_HEADROOM + padded + NOISE_AUTHTAG_LEN, &src);
	}
	dp_gro_write(&gro, tun_pkts, ntun, emit, NULL);
	nq = 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf[DP_BUF_SIZE];
	struct dp_device *d;
	struct dp_keypair *kp;
	uint32_t v;

	if (dev[0] == NULL)
		setup();
	if (size < 1 || size - 1 > sizeof(buf))
		return 0;
	if (data[0] & 64) {
		fuzz_transport(data + 1, size - 1);
		return 0;
	}
	memcpy(buf, data + 1, size - 1);
	size--;
	d = dev[data[0] >> 7];
	if (size >= 4 && (data[0] & 8)) {
		v = htole32((uint32_t)(data[0] & 3) + 1);
		memcpy(buf, &v, 4);
	}
	if (size >= 8 && (data[0] & 16)) {
		/* name a live receiver index of d */
		kp = d->peers != NULL ? d->peers->current : NULL;
		v = htole32(d->peers == NULL ? 0 : (data[0] & 32) || kp == NULL ?
		    d->peers->hs_ie.index : kp->nk.local_index);
		memcpy(buf + ((data[0] & 3) == 2 ? 8 : 4), &v, 4);
	}
	dp_device_rx_one(d, 0, buf, size, &src);
	nq = 0;
	return 0;
}
