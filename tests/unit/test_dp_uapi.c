/*
 * The UAPI protocol (dataplane/uapi.c) and, through it, the device's
 * protocol logic without sockets or TUN: the set-request parser (good
 * requests and every kind of bad one), get formatting and parsing, and two
 * detached devices configured over UAPI that handshake, exchange data,
 * enforce cryptokey routing and the replay window, and fall back to cookie
 * replies under load; the drop counters, one reason at a time; the get
 * reply streamed to a socket.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "dataplane/dp_internal.h"
#include "tests/unit/dp_test.h"
#include "tests/lib/dp_peers.h"

static const char K1[] = "e84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a";
static const char K2[] = "b85996fecc9c7f1fc6d2572a76eda11d59bcd20be8e543b15ce4bd85a8e75a33";
static const char K3[] = "58402e695ba1772b1cc9309755f043251ea77fdcf10fbe63989ceb7e19321376";

static int
parse(const char *s, struct dp_uapi_set *out)
{
	char err[512];
	return dp_uapi_parse_set(s, strlen(s), out, err, sizeof(err));
}

static void
test_parse_good(void **state)
{
	struct dp_uapi_set s;
	char req[2048], buf[PREFIX_STRLEN];

	(void)state;
	snprintf(req, sizeof(req),
	    "private_key=%s\nlisten_port=51820\nfwmark=0\nreplace_peers=true\n"
	    "public_key=%s\npreshared_key=%s\nendpoint=192.0.2.1:51820\n"
	    "persistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
	    "allowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\nprotocol_version=1\n"
	    "public_key=%s\nendpoint=[2001:db8::1]:1234\nupdate_only=true\n"
	    "public_key=%s\nremove=true\n\n", K1, K2, K3, K3, K1);
	assert_int_equal(parse(req, &s), 0);
	assert_true(s.has_private_key && s.has_listen_port && s.has_fwmark && s.replace_peers);
	assert_int_equal(s.listen_port, 51820);
	assert_int_equal(s.n_peers, 3);
	assert_true(s.peers[0].has_psk && s.peers[0].has_endpoint && s.peers[0].has_keepalive);
	assert_int_equal(s.peers[0].keepalive, 25);
	assert_int_equal(s.peers[0].endpoint.ss_family, AF_INET);
	assert_true(s.peers[0].replace_allowed_ips);
	assert_int_equal(s.peers[0].n_allowed_ips, 2);
	assert_string_equal(prefix_fmt(&s.peers[0].allowed_ips[1], buf, sizeof(buf)), "fd00::/64");
	assert_int_equal(s.peers[1].endpoint.ss_family, AF_INET6);
	assert_true(s.peers[1].update_only);
	assert_true(s.peers[2].remove);
	dp_uapi_set_free(&s);
	/* an empty request is valid */
	assert_int_equal(parse("\n", &s), 0);
	assert_int_equal(s.n_peers, 0);
	dp_uapi_set_free(&s);
}

static void
test_parse_bad(void **state)
{
	char longline[400];
	char req[1024];
	const char *bad[] = {
		"private_key=e84b\n\n",                             /* short hex */
		"private_key=z84b5a6d2717c1003a13b431570353dbaca9146cf150c5f8575680feba52027a\n\n",
		"listen_port=70000\n\n",
		"listen_port=-1\n\n",
		"listen_port=\n\n",
		"frobnicate=1\n\n",                                 /* unknown key */
		"noequals\n\n",
		"=value\n\n",
		"replace_peers=yes\n\n",
		NULL,                                               /* peer cases below */
	};
	const char *peer_bad[] = {
		"allowed_ip=10.0.0.0/33", "allowed_ip=10.0.0", "endpoint=nohost",
		"endpoint=1.2.3.4", "endpoint=1.2.3.4:0", "protocol_version=2",
		"persistent_keepalive_interval=65536", "remove=1", "listen_port=1",
		"private_key=00", "unknown=1", "preshared_key=12",
	};
	struct dp_uapi_set s;

	(void)state;
	for (size_t i = 0; bad[i] != NULL; i++)
		if (parse(bad[i], &s) != -EINVAL)
			fail_msg("accepted: %s", bad[i]);
	for (size_t i = 0; i < ARRAY_SIZE(peer_bad); i++) {
		snprintf(req, sizeof(req), "public_key=%s\n%s\n\n", K1, peer_bad[i]);
		if (parse(req, &s) != -EINVAL)
			fail_msg("accepted: %s", peer_bad[i]);
	}
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "allowed_ip=", 11);
	snprintf(req, sizeof(req), "public_key=%s\n%s\n\n", K1, longline);
	assert_int_equal(parse(req, &s), -EINVAL);
	/* a NUL inside a line */
	assert_int_equal(dp_uapi_parse_set("fwmark=1\0x\n\n", 12, &s, req, sizeof(req)), -EINVAL);
}

/* ---- devices ---------------------------------------------------------------------- */

struct pkt { int from; struct sockaddr_storage to; size_t len; uint8_t data[256]; };
struct net {
	struct pkt q[64];
	size_t n;
	uint8_t tun[2][256];
	size_t tun_len[2];
	int tun_count[2];
};
struct hook { struct net *net; int id; };

static void
tx_hook(void *ctx, const struct sockaddr_storage *to, const void *buf, size_t len)
{
	struct hook *h = ctx;
	struct pkt *p;

	assert_true(h->net->n < ARRAY_SIZE(h->net->q));
	assert_true(len <= sizeof(p->data));
	p = &h->net->q[h->net->n++];
	p->from = h->id;
	p->to = *to;
	p->len = len;
	memcpy(p->data, buf, len);
}

static void
tun_hook(void *ctx, const void *pkt, size_t len)
{
	struct hook *h = ctx;

	assert_true(len <= sizeof(h->net->tun[0]));
	memcpy(h->net->tun[h->id], pkt, len);
	h->net->tun_len[h->id] = len;
	h->net->tun_count[h->id]++;
}

struct pair {
	struct dp_device *dev[2];
	struct hook hook[2];
	struct net net;
	struct sockaddr_storage ep[2];
	uint8_t pub[2][NOISE_KEY_LEN];
};

static void
uapi_ok(struct dp_device *dev, const char *req)
{
	struct buf reply;

	buf_init(&reply, 1 << 20);
	dp_uapi_handle(dev, req, strlen(req), &reply);
	if (strcmp(reply.data, "errno=0\n\n") != 0)
		fail_msg("request %s -> %s", req, reply.data);
	buf_free(&reply);
}

static int
pair_setup(void **state)
{
	struct pair *pr = calloc(1, sizeof(*pr));
	struct dp_config empty = { .n_peers = 0 };
	uint8_t priv[2][NOISE_KEY_LEN];
	char req[1024], hp[65], hk[65];

	assert_non_null(pr);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(dp_genkey(priv[i]), 0);
		assert_int_equal(dp_pubkey(pr->pub[i], priv[i]), 0);
		assert_int_equal(dp_device_create_detached(&empty, &pr->dev[i]), 0);
		pr->hook[i].net = &pr->net;
		pr->hook[i].id = i;
		pr->dev[i]->tx_hook = tx_hook;
		pr->dev[i]->tun_hook = tun_hook;
		pr->dev[i]->hook_ctx = &pr->hook[i];
	}
	dp_test_addr4(&pr->ep[0], "192.0.2.1", 1111);
	dp_test_addr4(&pr->ep[1], "192.0.2.2", 2222);
	for (int i = 0; i < 2; i++) {
		dp_key_to_hex(hp, priv[i]);
		dp_key_to_hex(hk, pr->pub[!i]);
		snprintf(req, sizeof(req), "set=1\nprivate_key=%s\nlisten_port=%u\n"
		    "public_key=%s\nendpoint=192.0.2.%d:%d\nallowed_ip=10.0.0.%d/32\n"
		    "allowed_ip=fd00::%d/128\n\n", hp, 1111 + 1111 * i, hk, 2 - i,
		    2222 - 1111 * i, 2 - i, 2 - i);
		uapi_ok(pr->dev[i], req);
	}
	explicit_bzero(priv, sizeof(priv));
	*state = pr;
	return 0;
}

static int
pair_teardown(void **state)
{
	struct pair *pr = *state;

	dp_device_destroy(pr->dev[0]);
	dp_device_destroy(pr->dev[1]);
	free(pr);
	return 0;
}

/* Delivers queued datagrams until none are left; returns how many. */
static int
deliver(struct pair *pr)
{
	int count = 0;

	while (pr->net.n > 0) {
		struct pkt p = pr->net.q[0];
		memmove(&pr->net.q[0], &pr->net.q[1], (pr->net.n - 1) * sizeof(p));
		pr->net.n--;
		dp_device_rx_one(pr->dev[!p.from], 0, p.data, p.len, &pr->ep[p.from]);
		count++;
	}
	return count;
}

/* What the TUN path does for a packet routed to p: stage it and flush. */
static void
send_packet(struct dp_device *dev, const uint8_t *pkt, size_t len)
{
	struct dp_peer *p = ai_lookup(&dev->ai, AF_INET, pkt + 16);

	assert_non_null(p);
	pthread_mutex_lock(&p->lock);
	assert_int_equal(dp_peer_stage(p, pkt, len), 0);
	pthread_mutex_unlock(&p->lock);
	dp_send_staged(p, 0, 0);
}

static void
test_handshake_and_data(void **state)
{
	struct pair *pr = *state;
	uint8_t pkt[256];
	size_t len;
	struct pkt saved;
	struct dp_peer_status *st;
	size_t n;
	uint16_t port;
	struct buf get;

	/* A has no session: the packet is staged and an initiation goes out */
	len = dp_test_ip4(pkt, "10.0.0.1", "10.0.0.2", 9);
	send_packet(pr->dev[0], pkt, len);
	assert_int_equal(pr->net.n, 1);
	assert_int_equal(le32toh(*(uint32_t *)(void *)pr->net.q[0].data), MESSAGE_HANDSHAKE_INITIATION);
	/* initiation -> response -> staged data (confirms B's session) */
	assert_int_equal(deliver(pr), 3);
	assert_int_equal(pr->net.tun_count[1], 1);
	assert_int_equal(pr->net.tun_len[1], len);           /* padding trimmed */
	assert_memory_equal(pr->net.tun[1], pkt, len);
	assert_non_null(pr->dev[1]->peers->current);          /* promoted from next */
	assert_null(pr->dev[1]->peers->next_kp);

	/* B answers over its now-current session, without a handshake */
	len = dp_test_ip4(pkt, "10.0.0.2", "10.0.0.1", 100);
	send_packet(pr->dev[1], pkt, len);
	assert_int_equal(pr->net.n, 1);
	assert_int_equal(pr->net.q[0].len, 16 + 128 + 16);    /* 120 padded to 128 */
	saved = pr->net.q[0];
	assert_int_equal(deliver(pr), 1);
	assert_int_equal(pr->net.tun_count[0], 1);
	assert_memory_equal(pr->net.tun[0], pkt, len);

	/* a replayed datagram is dropped */
	dp_device_rx_one(pr->dev[0], 0, saved.data, saved.len, &pr->ep[1]);
	assert_int_equal(pr->net.tun_count[0], 1);
	assert_int_equal(pr->dev[0]->drops[DP_DROP_REPLAY], 1);
	/* so is a tampered one */
	saved.data[40] ^= 1;
	saved.data[8] ^= 0x55;        /* new counter, so the replay check is not what stops it */
	dp_device_rx_one(pr->dev[0], 0, saved.data, saved.len, &pr->ep[1]);
	assert_int_equal(pr->dev[0]->drops[DP_DROP_DECRYPT_FAILED], 1);

	/* B sends with a source A does not allow for B: dropped after decryption */
	len = dp_test_ip4(pkt, "10.9.9.9", "10.0.0.1", 4);
	send_packet(pr->dev[1], pkt, len);
	assert_int_equal(deliver(pr), 1);
	assert_int_equal(pr->net.tun_count[0], 1);
	assert_int_equal(pr->dev[0]->drops[DP_DROP_SOURCE_NOT_ALLOWED], 1);

	/* roaming: A now sees B at a new address */
	dp_test_addr4(&pr->ep[1], "198.51.100.7", 4444);
	len = dp_test_ip4(pkt, "10.0.0.2", "10.0.0.1", 4);
	send_packet(pr->dev[1], pkt, len);
	assert_int_equal(deliver(pr), 1);
	assert_int_equal(dp_device_status(pr->dev[0], &st, &n), 0);
	assert_int_equal(n, 1);
	assert_true(st[0].last_handshake_sec > 1600000000);
	assert_true(st[0].rx_bytes > 0 && st[0].tx_bytes > 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)&st[0].endpoint)->sin_port), 4444);
	assert_int_equal(st[0].n_allowed_ips, 2);
	dp_peer_status_free(st, n);

	/* the get reply parses back to the same */
	buf_init(&get, 1 << 20);
	assert_int_equal(dp_uapi_handle(pr->dev[0], "get=1\n\n", 7, &get), 0);
	assert_non_null(strstr(get.data, "endpoint=198.51.100.7:4444\n"));
	assert_non_null(strstr(get.data, "allowed_ip=fd00::2/128\n"));
	assert_non_null(strstr(get.data, "listen_port=1111\n"));
	assert_non_null(strstr(get.data, "\nerrno=0\n\n"));
	assert_int_equal(dp_uapi_parse_get(get.data, get.len, &st, &n, &port), 0);
	assert_int_equal(port, 1111);
	assert_int_equal(n, 1);
	assert_memory_equal(st[0].public_key, pr->pub[1], NOISE_KEY_LEN);
	assert_int_equal(st[0].n_allowed_ips, 2);
	assert_true(st[0].has_endpoint);
	dp_peer_status_free(st, n);
	buf_free(&get);
}

/* The device's counters through the public call. */
static uint64_t
dropped(struct dp_device *dev, enum dp_drop_reason why)
{
	uint64_t v[DP_DROP_MAX];

	dp_device_drops(dev, v);
	return v[why];
}

static void
test_drop_reason_names(void **state)
{
	(void)state;
	for (int i = 0; i < DP_DROP_MAX; i++) {
		const char *n = dp_drop_reason_name(i);

		assert_non_null(n);
		assert_true(n[0] != '\0' && strspn(n, "abcdefghijklmnopqrstuvwxyz_1") == strlen(n));
		for (int k = 0; k < i; k++)
			assert_string_not_equal(n, dp_drop_reason_name(k));
	}
	assert_null(dp_drop_reason_name(DP_DROP_MAX));
	assert_string_equal(dp_drop_reason_name(DP_DROP_NO_ROUTE), "no_route");
}

/* A sends pkt; its first datagram is kept, then `delivered` are delivered. */
static struct pkt
send_kept(struct pair *pr, const uint8_t *pkt, size_t len, int delivered)
{
	struct pkt kept;

	send_packet(pr->dev[0], pkt, len);
	assert_int_equal(pr->net.n, 1);
	kept = pr->net.q[0];
	assert_int_equal(deliver(pr), delivered);
	return kept;
}

/* A third device (its own key, B as its peer) whose initiation B drops. */
static void
stranger_initiates(struct pair *pr)
{
	struct dp_config empty = { .n_peers = 0 };
	struct dp_device *c;
	struct hook h = { .net = &pr->net, .id = 0 };   /* it sends from A's address */
	uint8_t priv[NOISE_KEY_LEN];
	char req[512], hp[65], hk[65];

	assert_int_equal(dp_genkey(priv), 0);
	assert_int_equal(dp_device_create_detached(&empty, &c), 0);
	c->tx_hook = tx_hook;
	c->hook_ctx = &h;
	dp_key_to_hex(hp, priv);
	dp_key_to_hex(hk, pr->pub[1]);
	snprintf(req, sizeof(req), "set=1\nprivate_key=%s\npublic_key=%s\n"
	    "endpoint=192.0.2.2:2222\nallowed_ip=10.0.0.2/32\n\n", hp, hk);
	explicit_bzero(priv, sizeof(priv));
	uapi_ok(c, req);
	pthread_mutex_lock(&c->peers->lock);
	dp_send_initiation(c->peers, 0, 0);
	pthread_mutex_unlock(&c->peers->lock);
	dp_device_destroy(c);
	assert_int_equal(deliver(pr), 1);
}

/* Each reason a detached pair can provoke, counted once per packet. */
static void
test_drop_reasons(void **state)
{
	struct pair *pr = *state;
	struct dp_device *a = pr->dev[0], *b = pr->dev[1];
	struct dp_peer *pa = a->peers;
	struct message_data *m;
	uint8_t pkt[256], junk[64];
	struct pkt init, data;
	size_t len;

	for (int i = 0; i < DP_DROP_MAX; i++)
		assert_int_equal(dropped(a, i), 0);
	/* malformed: too short, an unknown type, a handshake type of the wrong size */
	memset(junk, 0, sizeof(junk));
	dp_device_rx_one(b, 0, junk, 3, &pr->ep[0]);
	junk[0] = 9;
	dp_device_rx_one(b, 0, junk, sizeof(junk), &pr->ep[0]);
	junk[0] = MESSAGE_HANDSHAKE_INITIATION;
	dp_device_rx_one(b, 0, junk, sizeof(junk), &pr->ep[0]);
	junk[0] = MESSAGE_DATA;
	dp_device_rx_one(b, 0, junk, 20, &pr->ep[0]);
	assert_int_equal(dropped(b, DP_DROP_MALFORMED), 4);
	/* unknown_receiver: data for an index nobody holds */
	m = (struct message_data *)(void *)junk;
	m->key_idx = htole32(0x12345678);
	dp_device_rx_one(b, 0, junk, sizeof(junk), &pr->ep[0]);
	assert_int_equal(dropped(b, DP_DROP_UNKNOWN_RECEIVER), 1);

	/* queue_full: more packets than the staged queue holds, no session */
	len = dp_test_ip4(pkt, "10.0.0.1", "10.0.0.2", 9);
	pthread_mutex_lock(&pa->lock);
	for (int i = 0; i < DP_STAGED_MAX + 3; i++)
		assert_int_equal(dp_peer_stage(pa, pkt, len), 0);
	pthread_mutex_unlock(&pa->lock);
	assert_int_equal(dropped(a, DP_DROP_QUEUE_FULL), 3);
	/* no_session: what waited is purged (the handshake gave up) */
	pthread_mutex_lock(&pa->lock);
	dp_peer_purge_staged(pa);
	pthread_mutex_unlock(&pa->lock);
	assert_int_equal(dropped(a, DP_DROP_NO_SESSION), DP_STAGED_MAX);

	/* a session; the initiation kept for a replay */
	init = send_kept(pr, pkt, len, 3);
	assert_int_equal(pr->net.tun_count[1], 1);
	/* handshake_stale: the same initiation again (its timestamp is not newer) */
	dp_device_rx_one(b, 0, init.data, init.len, &pr->ep[0]);
	assert_int_equal(dropped(b, DP_DROP_HANDSHAKE_STALE), 1);
	/* handshake_bad_mac1: a tampered one */
	init.data[init.len - 20] ^= 1;
	dp_device_rx_one(b, 0, init.data, init.len, &pr->ep[0]);
	assert_int_equal(dropped(b, DP_DROP_HANDSHAKE_MAC1), 1);
	/* handshake_unknown_peer: a valid initiation from a key B does not know */
	stranger_initiates(pr);
	assert_int_equal(dropped(b, DP_DROP_HANDSHAKE_UNKNOWN_PEER), 1);

	/* replay, decrypt_failed, session_expired on data from A */
	data = send_kept(pr, pkt, len, 1);
	assert_int_equal(pr->net.tun_count[1], 2);
	dp_device_rx_one(b, 0, data.data, data.len, &pr->ep[0]);
	assert_int_equal(dropped(b, DP_DROP_REPLAY), 1);
	data.data[8] ^= 0x40;                   /* a new counter: only the tag is wrong */
	dp_device_rx_one(b, 0, data.data, data.len, &pr->ep[0]);
	assert_int_equal(dropped(b, DP_DROP_DECRYPT_FAILED), 1);
	send_packet(a, pkt, len);
	b->peers->current->nk.birthdate_ms -= REJECT_AFTER_TIME_MS;
	assert_int_equal(deliver(pr), 1);
	assert_int_equal(dropped(b, DP_DROP_SESSION_EXPIRED), 1);
	assert_int_equal(pr->net.tun_count[1], 2);

	/* invalid_inner: A seals something that is not IP */
	memset(pkt, 0x11, 40);
	pthread_mutex_lock(&pa->lock);
	assert_int_equal(dp_peer_stage(pa, pkt, 40), 0);
	pthread_mutex_unlock(&pa->lock);
	b->peers->current->nk.birthdate_ms += REJECT_AFTER_TIME_MS;
	dp_send_staged(pa, 0, 0);
	assert_int_equal(deliver(pr), 1);
	assert_int_equal(dropped(b, DP_DROP_INVALID_INNER), 1);

	/* nothing counted twice: B's total is the sum of the above */
	{
		uint64_t v[DP_DROP_MAX], sum = 0;

		dp_device_drops(b, v);
		for (int i = 0; i < DP_DROP_MAX; i++)
			sum += v[i];
		assert_int_equal(sum, 4 + 1 + 1 + 1 + 1 + 1 + 1 + 1 + 1);
		assert_int_equal(v[DP_DROP_SOCKET_OVERFLOW], 0);   /* detached: no sockets */
	}
}

static void
test_cookie_under_load(void **state)
{
	struct pair *pr = *state;
	struct message_handshake_initiation junk;
	struct dp_peer *a = pr->dev[0]->peers;
	uint32_t type;

	/* a flood of initiations with bad mac1 puts B under load */
	memset(&junk, 0x5a, sizeof(junk));
	junk.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
	for (int i = 0; i < DP_UNDER_LOAD_RATE + 10; i++)
		dp_device_rx_one(pr->dev[1], 0, (uint8_t *)&junk, sizeof(junk), &pr->ep[0]);
	assert_true(pr->dev[1]->drops[DP_DROP_HANDSHAKE_MAC1] >= DP_UNDER_LOAD_RATE);

	pthread_mutex_lock(&a->lock);
	dp_send_initiation(a, 0, 0);
	pthread_mutex_unlock(&a->lock);
	assert_int_equal(pr->net.n, 1);
	assert_int_equal(deliver(pr), 2);       /* initiation, cookie reply */
	assert_int_equal(pr->dev[1]->drops[DP_DROP_HANDSHAKE_UNDER_LOAD], 1);
	assert_null(a->current);

	/* with the cookie, A's next initiation carries mac2 and is answered */
	a->timers.last_sent_handshake = 0;      /* skip the REKEY_TIMEOUT wait */
	pthread_mutex_lock(&a->lock);
	dp_send_initiation(a, 0, 0);
	pthread_mutex_unlock(&a->lock);
	assert_int_equal(pr->net.n, 1);
	{
		struct pkt init = pr->net.q[0];
		pr->net.n = 0;
		dp_device_rx_one(pr->dev[1], 0, init.data, init.len, &pr->ep[0]);
	}
	assert_int_equal(pr->net.n, 1);
	memcpy(&type, pr->net.q[0].data, 4);
	assert_int_equal(le32toh(type), MESSAGE_HANDSHAKE_RESPONSE);
	assert_int_equal(pr->dev[1]->drops[DP_DROP_HANDSHAKE_UNDER_LOAD], 1);
	assert_non_null(pr->dev[1]->peers->next_kp);    /* responder session made */

	/* one source flooding valid-mac1 initiations: a few cookie replies
	 * (the burst), then drops that cost nothing more than the mac1 check */
	a->timers.last_sent_handshake = 0;
	pr->net.n = 0;
	memset(&a->cm, 0, sizeof(a->cm));
	cookie_maker_init(&a->cm, pr->pub[1]);          /* no cookie: no mac2 */
	pthread_mutex_lock(&a->lock);
	dp_send_initiation(a, 0, 0);
	pthread_mutex_unlock(&a->lock);
	assert_int_equal(pr->net.n, 1);
	{
		struct pkt init = pr->net.q[0];
		uint64_t flood = pr->dev[1]->drops[DP_DROP_HANDSHAKE_RATELIMITED];

		for (int i = 0; i < 50; i++) {
			uint8_t m[256];
			pr->net.n = 0;
			memcpy(m, init.data, init.len);
			dp_device_rx_one(pr->dev[1], 0, m, init.len, &pr->ep[0]);
		}
		assert_true(pr->dev[1]->drops[DP_DROP_HANDSHAKE_UNDER_LOAD] <= 1 + DP_HS_BURST);
		assert_true(pr->dev[1]->drops[DP_DROP_HANDSHAKE_RATELIMITED] - flood >= 50 - DP_HS_BURST - 1);
	}
}

static void
test_handle_errors(void **state)
{
	struct pair *pr = *state;
	struct buf reply;
	const char *reqs[] = {
		"set=1\nfrobnicate=1\n\n",
		"set=1\nlisten_port=abc\n\n",
		"bogus=1\n\n",
	};

	buf_init(&reply, 1 << 16);
	for (size_t i = 0; i < ARRAY_SIZE(reqs); i++) {
		buf_reset(&reply);
		dp_uapi_handle(pr->dev[0], reqs[i], strlen(reqs[i]), &reply);
		assert_string_equal(reply.data, "errno=-22\n\n");
	}
	/* a failed request changed nothing */
	assert_int_equal(pr->dev[0]->listen_port, 1111);
	/* remove the peer over UAPI */
	{
		char req[256], hk[65];
		dp_key_to_hex(hk, pr->pub[1]);
		snprintf(req, sizeof(req), "set=1\npublic_key=%s\nremove=true\n\n", hk);
		uapi_ok(pr->dev[0], req);
		assert_int_equal(pr->dev[0]->n_peers, 0);
		snprintf(req, sizeof(req), "set=1\npublic_key=%s\nupdate_only=true\n\n", hk);
		uapi_ok(pr->dev[0], req);
		assert_int_equal(pr->dev[0]->n_peers, 0);
	}
	buf_free(&reply);
}

/*
 * An idle peer keeps no session state: 3 x REJECT_AFTER_TIME after its last
 * session the timers zero the keys, the retired keypairs (and their cipher
 * contexts) are freed after the next write-lock round, nothing is staged;
 * traffic brings a session back.
 */
static void
test_idle_peer_releases(void **state)
{
	struct pair *pr = *state;
	struct dp_peer *a = pr->dev[0]->peers, *b = pr->dev[1]->peers;
	uint8_t pkt[256];
	size_t len = dp_test_ip4(pkt, "10.0.0.1", "10.0.0.2", 32);

	send_packet(pr->dev[0], pkt, len);
	deliver(pr);
	assert_non_null(a->current);
	assert_non_null(b->current);
	assert_null(a->staged);
	assert_non_null(a->current->nk.send_ctx[0]);   /* made by worker 0's packet */
	assert_null(a->current->nk.send_ctx[1]);       /* no other worker used it */
	/* long idle: both sides run their timers far in the future */
	for (int i = 0; i < 2; i++) {
		struct dp_peer *p = pr->dev[i]->peers;
		uint64_t later = now_ms() + 3 * REJECT_AFTER_TIME_MS + 60000;
		pthread_rwlock_rdlock(&pr->dev[i]->lock);
		dp_peer_run_timers(p, later);
		dp_peer_run_timers(p, later + 1000);
		pthread_rwlock_unlock(&pr->dev[i]->lock);
		pthread_rwlock_wrlock(&pr->dev[i]->lock);
		dp_device_free_retired(pr->dev[i]);
		pthread_rwlock_unlock(&pr->dev[i]->lock);
		assert_null(p->current);
		assert_null(p->previous);
		assert_null(p->next_kp);
		assert_null(p->staged);
		assert_null(pr->dev[i]->retired);
	}
	pr->net.n = 0;
	/* traffic again: staged, handshake, delivered (after the 20 ms flood
	 * interval and a new TAI64N tick, as B checks both) */
	poll(NULL, 0, 50);
	a->timers.last_sent_handshake = 0;
	send_packet(pr->dev[0], pkt, len);
	assert_non_null(a->staged);
	pr->net.tun_count[1] = 0;
	deliver(pr);
	assert_null(a->staged);
	assert_non_null(a->current);
	assert_int_equal(pr->net.tun_count[1], 1);
}

/* A detached device with n test peers (tests/lib/dp_peers.h); cfg->peers
 * and *ips are the caller's to free. */
static struct dp_device *
many_peers(size_t n, struct dp_config *cfg, struct prefix **ips)
{
	struct dp_peer_config *pcs = calloc(n, sizeof(*pcs));
	struct dp_device *dev;

	*ips = calloc(n, sizeof(**ips));
	assert_non_null(pcs);
	assert_non_null(*ips);
	memset(cfg, 0, sizeof(*cfg));
	assert_int_equal(dp_genkey(cfg->private_key), 0);
	dp_test_peers(pcs, *ips, n);
	cfg->peers = pcs;
	cfg->n_peers = n;
	assert_int_equal(dp_device_create_detached(cfg, &dev), 0);
	return dev;
}

/*
 * 10,000 peers in and out, through a reload and through the UAPI: counts
 * and allowed IPs are right, and ASan sees no leak once they are gone.
 */
static void
test_many_peers(void **state)
{
	enum { N = 10000 };
	struct dp_peer_config *pcs;
	struct prefix *ips;
	struct dp_config cfg;
	struct dp_peer_status *st;
	struct dp_device *dev = many_peers(N, &cfg, &ips);
	struct buf req, reply;
	char hex[65];
	size_t n;

	(void)state;
	pcs = (struct dp_peer_config *)cfg.peers;
	assert_int_equal(dp_device_status(dev, &st, &n), 0);
	assert_int_equal(n, N);
	assert_int_equal(st[N - 1].n_allowed_ips, 1);
	assert_memory_equal(st[N - 1].allowed_ips[0].addr, ips[N - 1].addr, 4);
	dp_peer_status_free(st, n);
	/* a reload that keeps every other peer */
	for (size_t i = 0; i < N / 2; i++)
		pcs[i] = pcs[2 * i];
	cfg.n_peers = N / 2;
	assert_int_equal(dp_device_configure(dev, &cfg), 0);
	assert_int_equal(dev->n_peers, N / 2);
	assert_ptr_equal(ai_lookup(&dev->ai, AF_INET, ips[2].addr), dp_peer_lookup(dev, pcs[1].public_key));
	assert_null(ai_lookup(&dev->ai, AF_INET, ips[1].addr));
	/* and removal of each through the UAPI */
	buf_init(&req, DP_UAPI_MAX_REQUEST);
	assert_int_equal(buf_puts(&req, "set=1\n"), 0);
	for (size_t i = 0; i < N / 2; i++) {
		dp_key_to_hex(hex, pcs[i].public_key);
		assert_int_equal(buf_printf(&req, "public_key=%s\nremove=true\n", hex), 0);
	}
	assert_int_equal(buf_puts(&req, "\n"), 0);
	buf_init(&reply, 4096);
	assert_int_equal(dp_uapi_handle(dev, req.data, req.len, &reply), 0);
	assert_int_equal(dev->n_peers, 0);
	assert_null(dev->ai.root4);
	buf_free(&reply);
	buf_free(&req);
	dp_device_destroy(dev);
	free(pcs);
	free(ips);
}

struct served { struct dp_device *dev; int fd, r; };

static void *
serve_thread(void *arg)
{
	struct served *sv = arg;

	sv->r = dp_uapi_serve_get(sv->dev, sv->fd);
	close(sv->fd);
	return NULL;
}

/*
 * The get reply streamed to a socket in chunks is, byte for byte, the reply
 * built whole plus its errno line (5,000 peers: dozens of chunks, more than
 * a socket buffer holds); a client that hung up is an error, not SIGPIPE.
 */
static void
test_serve_get_streams(void **state)
{
	struct dp_config cfg;
	struct prefix *ips;
	struct dp_device *dev = many_peers(5000, &cfg, &ips);
	struct served sv;
	struct buf want, got;
	char chunk[4096];
	pthread_t t;
	ssize_t n;
	int sp[2];

	(void)state;
	buf_init(&want, 16 << 20);
	assert_int_equal(dp_uapi_format_get(dev, &want), 0);
	assert_int_equal(buf_puts(&want, "errno=0\n\n"), 0);
	assert_true(want.len > 10 * 65536);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	sv.dev = dev;
	sv.fd = sp[0];
	assert_int_equal(pthread_create(&t, NULL, serve_thread, &sv), 0);
	buf_init(&got, 16 << 20);
	while ((n = read(sp[1], chunk, sizeof(chunk))) > 0)
		assert_int_equal(buf_append(&got, chunk, (size_t)n), 0);
	pthread_join(t, NULL);
	close(sp[1]);
	assert_int_equal(sv.r, 0);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	close(sp[1]);
	assert_int_equal(dp_uapi_serve_get(dev, sp[0]), -EPIPE);
	close(sp[0]);
	buf_free(&got);
	buf_free(&want);
	dp_device_destroy(dev);
	free((void *)cfg.peers);
	free(ips);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test_setup_teardown(test_handshake_and_data, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_cookie_under_load, pair_setup, pair_teardown),
		cmocka_unit_test(test_drop_reason_names),
		cmocka_unit_test_setup_teardown(test_drop_reasons, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_handle_errors, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_idle_peer_releases, pair_setup, pair_teardown),
		cmocka_unit_test(test_many_peers),
		cmocka_unit_test(test_serve_get_streams),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
