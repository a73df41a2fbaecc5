/*
 * libFuzzer harness for the receive path: arbitrary datagrams go to a
 * device without sockets or TUN (dp_device_rx_one) that has a peer with an
 * established session, so data messages can name a live receiver index and
 * responses/cookie replies can name the in-flight handshake.  The first
 * input byte picks the message type (1-4) and whether to patch in a live
 * index; the rest is the message.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

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
	}
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
