/*
 * Real devices (TUN, UDP sockets, worker, timer and UAPI threads) in a
 * network namespace of this process's own (unshare(CLONE_NEWNET); skipped
 * when that is not allowed):
 *   - a configuration whose listen port is busy is rejected whole: peers,
 *     keys, allowed IPs and the port stay as they were (through
 *     dp_device_configure and through the UAPI);
 *   - two devices pass traffic while one of them changes its listen port
 *     again and again and the UAPI is read, and while the other's port is
 *     flooded with initiations that pass mac1: the threads, the port change
 *     and the handshake queue under load are what the ThreadSanitizer build
 *     (make SANITIZE=thread) checks;
 *   - a liveness probe (dp_device_probe) is answered by an idle peer;
 *   - drops on the real paths are counted by reason (no route from the
 *     TUN, garbage and unknown receiver indices at the UDP port).
 * Every device runs two crypto helpers (CLOUDROUTE_CRYPTO_HELPERS).
 *
 *   [ socket ] -> 10.77.0.2 -> dpA (10.77.0.1/24) ==UDP 127.0.0.1== dpB (down)
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <endian.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

static int in_own_netns;

struct node {
	uint8_t priv[NOISE_KEY_LEN], pub[NOISE_KEY_LEN];
	char ifname[IFNAMSIZ];
	struct dp_device *dev;
};

static void
node_init(struct node *n, char tag)
{
	assert_int_equal(dp_genkey(n->priv), 0);
	assert_int_equal(dp_pubkey(n->pub, n->priv), 0);
	snprintf(n->ifname, sizeof(n->ifname), "dpt%u%c", (unsigned int)getpid() % 100000, tag);
	n->dev = NULL;
}

static void
loopback(struct sockaddr_storage *ss, uint16_t port)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(port);
	in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* A UDP socket holding a port on every address (no SO_REUSEPORT). */
static int
hold_port(uint16_t *port)
{
	struct sockaddr_in in = { .sin_family = AF_INET };
	socklen_t sl = sizeof(in);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&in, &sl), 0);
	*port = ntohs(in.sin_port);
	return fd;
}

/* A port free right now (for both families, as far as a probe can tell). */
static uint16_t
free_port(void)
{
	uint16_t port;

	close(hold_port(&port));
	return port;
}

static void
ifreq_set(const char *ifname, unsigned long req, const char *ip)
{
	struct ifreq ifr;
	struct sockaddr_in *in = (struct sockaddr_in *)&ifr.ifr_addr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&ifr, 0, sizeof(ifr));
	cr_strlcpy(ifr.ifr_name, ifname, sizeof(ifr.ifr_name));
	if (req == SIOCSIFFLAGS) {
		assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
		ifr.ifr_flags |= IFF_UP;
	} else {
		in->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &in->sin_addr), 1);
	}
	assert_int_equal(ioctl(fd, req, &ifr), 0);
	close(fd);
}

static int
skip_without_netns(void)
{
	if (!in_own_netns) {
		print_message("skipped: no network namespace of our own (not root?)\n");
		skip();
	}
	return 0;
}

/* A dp_config with one peer whose allowed IP is `ip` and endpoint port. */
struct onecfg {
	struct dp_config cfg;
	struct dp_peer_config pc;
	struct prefix ai;
};

static void
onecfg_init(struct onecfg *c, const struct node *self, const struct node *peer,
    uint16_t listen, const char *ip, uint16_t peer_port)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(prefix_parse(ip, &c->ai, 0), 0);
	memcpy(c->cfg.private_key, self->priv, NOISE_KEY_LEN);
	c->cfg.listen_port = listen;
	c->cfg.peers = &c->pc;
	c->cfg.n_peers = 1;
	cr_strlcpy(c->pc.name, "peer", sizeof(c->pc.name));
	memcpy(c->pc.public_key, peer->pub, NOISE_KEY_LEN);
	c->pc.allowed_ips = &c->ai;
	c->pc.n_allowed_ips = 1;
	if (peer_port != 0) {
		c->pc.has_endpoint = 1;
		loopback(&c->pc.endpoint, peer_port);
	}
}

/* Devices a (10.77.0.1, knows b's endpoint) and b (waits for a) on
 * 127.0.0.1, free ports. */
static void
pair_new(struct node *a, struct node *b, struct onecfg *ca, struct onecfg *cb)
{
	uint16_t pa = free_port(), pb = free_port();

	node_init(a, 'a');
	node_init(b, 'b');
	onecfg_init(ca, a, b, pa, "10.77.0.2/32", pb);
	onecfg_init(cb, b, a, pb, "10.77.0.1/32", 0);
	assert_int_equal(dp_device_create(a->ifname, &ca->cfg, &a->dev), 0);
	assert_int_equal(dp_device_create(b->ifname, &cb->cfg, &b->dev), 0);
}

/* pair_new, a's TUN up as 10.77.0.1/24; a UDP socket to send into it. */
static int
pair_up(struct node *a, struct node *b, struct onecfg *ca, struct onecfg *cb)
{
	int fd;

	pair_new(a, b, ca, cb);
	ifreq_set(a->ifname, SIOCSIFADDR, "10.77.0.1");
	ifreq_set(a->ifname, SIOCSIFNETMASK, "255.255.255.0");
	ifreq_set(a->ifname, SIOCSIFFLAGS, NULL);
	assert_true((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0);
	return fd;
}

static void
get_text(struct dp_device *dev, struct buf *b)
{
	buf_init(b, 1 << 20);
	assert_int_equal(dp_uapi_format_get(dev, b), 0);
	assert_non_null(b->data);
}

static void
test_busy_port_changes_nothing(void **state)
{
	struct node a, p1, p2;
	struct onecfg c1;
	struct dp_config c2;
	struct dp_peer_config pcs[2];
	struct prefix ai2[2];
	struct buf before, after, reply;
	uint16_t busy;
	char req[512], hex[65];
	int blocker;

	(void)state;
	skip_without_netns();
	node_init(&a, 'a');
	node_init(&p1, 'x');
	node_init(&p2, 'y');
	onecfg_init(&c1, &a, &p1, 0, "10.1.0.0/24", 4000);
	assert_int_equal(dp_device_create(a.ifname, &c1.cfg, &a.dev), 0);
	get_text(a.dev, &before);

	/* new private key, p1 changed, p2 added, and a port someone else holds */
	blocker = hold_port(&busy);
	memset(&c2, 0, sizeof(c2));
	assert_int_equal(dp_genkey(c2.private_key), 0);
	c2.listen_port = busy;
	memset(pcs, 0, sizeof(pcs));
	assert_int_equal(prefix_parse("10.9.0.0/16", &ai2[0], 0), 0);
	assert_int_equal(prefix_parse("10.2.0.0/24", &ai2[1], 0), 0);
	memcpy(pcs[0].public_key, p1.pub, NOISE_KEY_LEN);
	pcs[0].allowed_ips = &ai2[0];
	pcs[0].n_allowed_ips = 1;
	pcs[0].persistent_keepalive = 25;
	memcpy(pcs[1].public_key, p2.pub, NOISE_KEY_LEN);
	pcs[1].allowed_ips = &ai2[1];
	pcs[1].n_allowed_ips = 1;
	c2.peers = pcs;
	c2.n_peers = 2;
	assert_int_equal(dp_device_configure(a.dev, &c2), -EADDRINUSE);
	get_text(a.dev, &after);
	assert_string_equal(before.data, after.data);
	buf_free(&after);

	/* the same through the UAPI */
	dp_key_to_hex(hex, p2.pub);
	snprintf(req, sizeof(req), "set=1\nlisten_port=%u\nreplace_peers=true\n"
	    "public_key=%s\nallowed_ip=10.3.0.0/24\n\n", busy, hex);
	buf_init(&reply, 4096);
	assert_int_equal(dp_uapi_handle(a.dev, req, strlen(req), &reply), -EADDRINUSE);
	assert_non_null(strstr(reply.data, "errno=-98"));
	buf_free(&reply);
	get_text(a.dev, &after);
	assert_string_equal(before.data, after.data);
	buf_free(&after);

	/* once the port is free the same configuration applies */
	close(blocker);
	assert_int_equal(dp_device_configure(a.dev, &c2), 0);
	get_text(a.dev, &after);
	assert_string_not_equal(before.data, after.data);
	snprintf(req, sizeof(req), "listen_port=%u\n", busy);
	assert_non_null(strstr(after.data, req));
	assert_non_null(strstr(after.data, "allowed_ip=10.2.0.0/24"));
	buf_free(&after);
	buf_free(&before);
	dp_device_destroy(a.dev);
	explicit_bzero(&c2, sizeof(c2));
}

/* Sends datagrams toward dst through the first device: its TUN takes them. */
static void
send_burst_to(int fd, int n, const char *dst)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	char payload[1200];

	memset(payload, 'x', sizeof(payload));
	inet_pton(AF_INET, dst, &to.sin_addr);
	for (int i = 0; i < n; i++)
		sendto(fd, payload, sizeof(payload), MSG_DONTWAIT, (struct sockaddr *)&to,
		    sizeof(to));
}

static void
send_burst(int fd, int n)
{
	send_burst_to(fd, n, "10.77.0.2");
}

/* The status of dev's one peer (its allowed IPs left out). */
static struct dp_peer_status
one_status(struct dp_device *dev)
{
	struct dp_peer_status *ps, st;
	size_t n;

	assert_int_equal(dp_device_status(dev, &ps, &n), 0);
	assert_int_equal(n, 1);
	st = ps[0];
	st.allowed_ips = NULL;
	st.n_allowed_ips = 0;
	dp_peer_status_free(ps, n);
	return st;
}

static uint64_t
rx_bytes(struct dp_device *dev)
{
	return one_status(dev).rx_bytes;
}

/* Traffic until b has received more than `above`; 0 on success. */
static int
flow_until_to(int fd, struct dp_device *b, uint64_t above, const char *dst)
{
	for (int i = 0; i < 300; i++) {
		send_burst_to(fd, 8, dst);
		poll(NULL, 0, 10);
		if (rx_bytes(b) > above)
			return 0;
	}
	return -1;
}

static int
flow_until(int fd, struct dp_device *b, uint64_t above)
{
	return flow_until_to(fd, b, above, "10.77.0.2");
}

static void
test_traffic_across_port_changes(void **state)
{
	struct node a, b;
	struct onecfg ca, cb;
	struct buf text;
	uint16_t port;
	struct dp_peer_status *ps;
	uint64_t seen;
	size_t n;
	int fd;

	(void)state;
	skip_without_netns();
	fd = pair_up(&a, &b, &ca, &cb);

	/* per-packet debug logging (rate-limited) runs on every thread */
	log_setverbose(1);
	assert_int_equal(flow_until(fd, b.dev, 0), 0);
	for (int round = 0; round < 6; round++) {
		/* a moves; b learns the new endpoint from a's authenticated packets */
		ca.cfg.listen_port = free_port();
		send_burst(fd, 16);
		assert_int_equal(dp_device_configure(a.dev, &ca.cfg), 0);
		get_text(a.dev, &text);
		buf_free(&text);
		/* and over the socket, served by the UAPI thread */
		assert_int_equal(dp_uapi_status(a.ifname, &ps, &n, &port), 0);
		assert_int_equal(port, ca.cfg.listen_port);
		dp_peer_status_free(ps, n);
		seen = rx_bytes(b.dev);
		assert_int_equal(flow_until(fd, b.dev, seen), 0);
	}
	close(fd);
	dp_device_destroy(a.dev);
	dp_device_destroy(b.dev);
	log_setverbose(0);
}

static uint64_t
drops(struct dp_device *dev, enum dp_drop_reason why)
{
	return __atomic_load_n(&dev->drops[why], __ATOMIC_RELAXED);
}

/* Forged initiations with a valid mac1 for `pub`, from 127.0.0.2, until stopped. */
struct flood {
	uint8_t pub[NOISE_KEY_LEN];
	uint16_t port;
	int stop;                       /* atomic */
	uint64_t sent;
};

static void *
flood_main(void *arg)
{
	struct flood *f = arg;
	struct message_handshake_initiation m[64];
	struct sockaddr_in from = { .sin_family = AF_INET }, to = { .sin_family = AF_INET };
	struct mmsghdr mm[64];
	struct iovec iov[64];
	struct cookie_maker cm;
	int fd, r;

	cookie_maker_init(&cm, f->pub);
	for (unsigned int i = 0; i < 64; i++) {
		memset(&m[i], (int)i, sizeof(m[i]));
		m[i].type = htole32(MESSAGE_HANDSHAKE_INITIATION);
		cookie_add_macs(&cm, &m[i], sizeof(m[i]), 0);
		iov[i].iov_base = &m[i];
		iov[i].iov_len = sizeof(m[i]);
		memset(&mm[i], 0, sizeof(mm[i]));
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	to.sin_port = htons(f->port);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *)&from, sizeof(from)) < 0 ||
	    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
		return NULL;
	while (!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE))
		if ((r = sendmmsg(fd, mm, 64, 0)) > 0)
			f->sent += (uint64_t)r;
	close(fd);
	return NULL;
}

/*
 * Transport keeps flowing while b's port is flooded with initiations that
 * pass mac1: the workers hand them to the handshake thread (or drop them
 * when its queue is full), which answers with cookies under load, a few a
 * second for the flooding address.
 */
/*
 * steered: handshake messages reach the handshake thread through its own
 * socket (the reuseport program); else (CLOUDROUTE_HS_SOCKET=0) the
 * workers receive them and queue them.
 */
static void
flood_case(int steered, char na, char nb)
{
	struct node a, b;
	struct onecfg ca, cb;
	struct flood f;
	pthread_t thr;
	uint16_t pa = free_port(), pb = free_port();
	uint64_t seen;
	int fd;

	skip_without_netns();
	node_init(&a, na);
	node_init(&b, nb);
	onecfg_init(&ca, &a, &b, pa, "10.78.0.2/32", pb);
	onecfg_init(&cb, &b, &a, pb, "10.78.0.1/32", 0);
	if (!steered)
		setenv("CLOUDROUTE_HS_SOCKET", "0", 1);
	assert_int_equal(dp_device_create(a.ifname, &ca.cfg, &a.dev), 0);
	assert_int_equal(dp_device_create(b.ifname, &cb.cfg, &b.dev), 0);
	unsetenv("CLOUDROUTE_HS_SOCKET");
	assert_int_equal(b.dev->hs_fd4 >= 0, steered);
	ifreq_set(a.ifname, SIOCSIFADDR, "10.78.0.1");
	ifreq_set(a.ifname, SIOCSIFNETMASK, "255.255.255.0");
	ifreq_set(a.ifname, SIOCSIFFLAGS, NULL);
	assert_true((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0);
	assert_int_equal(flow_until_to(fd, b.dev, 0, "10.78.0.2"), 0);

	memset(&f, 0, sizeof(f));
	memcpy(f.pub, b.pub, NOISE_KEY_LEN);
	f.port = pb;
	assert_int_equal(pthread_create(&thr, NULL, flood_main, &f), 0);
	for (int round = 0; round < 10; round++) {
		poll(NULL, 0, 100);
		seen = rx_bytes(b.dev);
		assert_int_equal(flow_until_to(fd, b.dev, seen, "10.78.0.2"), 0);
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
	pthread_join(thr, NULL);
	print_message("flood: %llu initiations; b: %llu cookie replies, %llu rate-limited, "
	    "%llu queue full, %llu bad mac1\n", (unsigned long long)f.sent,
	    (unsigned long long)drops(b.dev, DP_DROP_HANDSHAKE_UNDER_LOAD),
	    (unsigned long long)drops(b.dev, DP_DROP_HANDSHAKE_RATELIMITED),
	    (unsigned long long)drops(b.dev, DP_DROP_QUEUE_FULL),
	    (unsigned long long)drops(b.dev, DP_DROP_HANDSHAKE_MAC1));
	assert_true(f.sent > 0);
	assert_int_equal(drops(b.dev, DP_DROP_HANDSHAKE_MAC1), 0);      /* they all pass mac1 */
	close(fd);
	dp_device_destroy(a.dev);
	dp_device_destroy(b.dev);
}

static void
test_traffic_under_flood(void **state)
{
	(void)state;
	flood_case(1, 'c', 'd');
}

static void
test_traffic_under_flood_queued(void **state)
{
	(void)state;
	flood_case(0, 'e', 'f');
}

/* The last handshake time of dev's one peer (unix s, 0 never). */
static uint64_t
last_hs(struct dp_device *dev)
{
	return one_status(dev).last_handshake_sec;
}

/* Waits up to 2 s for the last handshake to pass `after`; 0 on success. */
static int
hs_after(struct dp_device *dev, uint64_t after)
{
	for (int i = 0; i < 200; i++) {
		if (last_hs(dev) > after)
			return 0;
		poll(NULL, 0, 10);
	}
	return -1;
}

/*
 * A liveness probe (peer groups): an initiation to an idle peer that has no
 * keepalive of its own is answered, again 1.1 s later (inside
 * REKEY_TIMEOUT, which limits the device's own initiations).
 */
static void
test_probe(void **state)
{
	struct node a, b;
	struct onecfg ca, cb;
	uint8_t nobody[NOISE_KEY_LEN] = { 1 };
	uint64_t t;

	(void)state;
	skip_without_netns();
	pair_new(&a, &b, &ca, &cb);
	assert_int_equal(last_hs(a.dev), 0);
	assert_int_equal(dp_device_probe(a.dev, nobody), -ENOENT);
	assert_int_equal(dp_device_probe(a.dev, b.pub), 0);
	assert_int_equal(hs_after(a.dev, 0), 0);
	t = last_hs(a.dev);
	poll(NULL, 0, 1100);
	assert_int_equal(dp_device_probe(a.dev, b.pub), 0);
	assert_int_equal(hs_after(a.dev, t), 0);
	dp_device_destroy(a.dev);
	dp_device_destroy(b.dev);
}

/* Waits (bounded) until dev has counted a drop for why; its count. */
static uint64_t
drops_after(struct dp_device *dev, enum dp_drop_reason why, uint64_t above)
{
	uint64_t v[DP_DROP_MAX];

	for (int i = 0; i < 300; i++) {
		dp_device_drops(dev, v);
		if (v[why] > above)
			break;
		poll(NULL, 0, 10);
	}
	return v[why];
}

/* Drops on real sockets and the TUN: a packet no peer's allowed IPs cover,
 * garbage at the listen port, data for an unknown receiver index. */
static void
test_drops_counted(void **state)
{
	struct node a, b;
	struct onecfg ca, cb;
	struct sockaddr_storage to;
	uint8_t junk[64];
	int fd;

	(void)state;
	skip_without_netns();
	fd = pair_up(&a, &b, &ca, &cb);
	/* 10.77.0.9 is on the TUN's subnet, but in no peer's allowed IPs */
	send_burst_to(fd, 1, "10.77.0.9");
	assert_true(drops_after(a.dev, DP_DROP_NO_ROUTE, 0) >= 1);
	/* a datagram of no message type, to a's port (the handshake socket's) */
	loopback(&to, ca.cfg.listen_port);
	memset(junk, 0x7f, sizeof(junk));
	assert_int_equal(sendto(fd, junk, 5, 0, (struct sockaddr *)&to, sizeof(struct sockaddr_in)), 5);
	assert_int_equal(drops_after(a.dev, DP_DROP_MALFORMED, 0), 1);
	/* data for a receiver index a never gave out (a worker's socket) */
	memset(junk, 0, sizeof(junk));
	junk[0] = MESSAGE_DATA;
	junk[4] = 0x5a;
	assert_int_equal(sendto(fd, junk, sizeof(junk), 0, (struct sockaddr *)&to,
	    sizeof(struct sockaddr_in)), (ssize_t)sizeof(junk));
	assert_int_equal(drops_after(a.dev, DP_DROP_UNKNOWN_RECEIVER, 0), 1);
	/* a port change keeps the kernel's count (it only grows) */
	ca.cfg.listen_port = free_port();
	assert_int_equal(dp_device_configure(a.dev, &ca.cfg), 0);
	assert_int_equal(drops_after(a.dev, DP_DROP_MALFORMED, 0), 1);
	close(fd);
	dp_device_destroy(a.dev);
	dp_device_destroy(b.dev);
}

/* Our own network namespace, or none: never the host's. */
static int
enter_netns(void)
{
	struct stat before, self, init;
	int fd;

	if (stat("/proc/self/ns/net", &before) < 0 || unshare(CLONE_NEWNET) < 0)
		return -1;
	/* a new namespace, and not init's (when we may look at init's) */
	if (stat("/proc/self/ns/net", &self) < 0 || self.st_ino == before.st_ino ||
	    (stat("/proc/1/ns/net", &init) == 0 && self.st_ino == init.st_ino))
		return -1;
	/* lo up: the devices talk over 127.0.0.1 */
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) >= 0) {
		struct ifreq ifr;
		memset(&ifr, 0, sizeof(ifr));
		cr_strlcpy(ifr.ifr_name, "lo", sizeof(ifr.ifr_name));
		if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
			ifr.ifr_flags |= IFF_UP;
			ioctl(fd, SIOCSIFFLAGS, &ifr);
		}
		close(fd);
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_busy_port_changes_nothing),
		cmocka_unit_test(test_traffic_across_port_changes),
		cmocka_unit_test(test_traffic_under_flood),
		cmocka_unit_test(test_traffic_under_flood_queued),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_drops_counted),
	};

	in_own_netns = enter_netns() == 0;
	/* the real devices share their batches with crypto helpers whatever
	 * the CPU count (the TSan build checks those threads too) */
	setenv("CLOUDROUTE_CRYPTO_HELPERS", "2", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
