/*
 * The parallel crypto path (cpool.c with tun.c and udp.c) on two detached
 * devices whose batches are shared with three crypto helpers each:
 *   - a pool runs every item exactly once, with helpers and alone, and
 *     jobs posted from several threads at once (TSan build);
 *   - the send path seals a batch in parallel and the datagrams leave in
 *     counter order, each decrypting to the packet read at that position;
 *   - the receive path decrypts in parallel and delivers in arrival order,
 *     with the replay window applied as the serial path does: reordered
 *     datagrams within the window are delivered, duplicates and datagrams
 *     older than the window dropped, a forged one dropped without harming
 *     its neighbours; the output is checked against an independent model.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <endian.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/udp.h>
#include <cmocka.h>

#include "dataplane/dp_internal.h"
#include "tests/unit/dp_test.h"

#define HELPERS 3

/* ---- the pool alone ---------------------------------------------------------- */

struct count_job {
	uint32_t *hits;
	unsigned int workers_seen;         /* atomic: bit per worker index */
};

static void
count_range(void *ctx, unsigned int worker, unsigned int begin, unsigned int end)
{
	struct count_job *j = ctx;

	for (unsigned int i = begin; i < end; i++)
		__atomic_add_fetch(&j->hits[i], 1, __ATOMIC_RELAXED);
	__atomic_or_fetch(&j->workers_seen, 1u << worker, __ATOMIC_RELAXED);
}

struct poster {
	struct dp_device *dev;
	unsigned int worker;
	int rounds;
};

static void *
post_many(void *arg)
{
	struct poster *p = arg;
	uint32_t hits[300];

	for (int r = 0; r < p->rounds; r++) {
		struct count_job j = { .hits = hits };
		unsigned int n = 1 + (unsigned int)(r * 37) % 300;

		memset(hits, 0, sizeof(hits));
		dp_cpool_run(p->dev, p->worker, n, count_range, &j);
		for (unsigned int i = 0; i < n; i++)
			if (hits[i] != 1)
				return (void *)1;
		for (unsigned int i = n; i < 300; i++)
			if (hits[i] != 0)
				return (void *)1;
	}
	return NULL;
}

static void
test_pool_runs_each_item_once(void **state)
{
	struct dp_config empty = { .n_peers = 0 };
	struct dp_device *dev;
	pthread_t thr[3];
	struct poster ps[3];
	uint32_t hits[1000];
	struct count_job j = { .hits = hits };
	void *rv;

	(void)state;
	assert_int_equal(dp_device_create_detached(&empty, &dev), 0);
	/* no helpers: the caller does everything */
	memset(hits, 0, sizeof(hits));
	dp_cpool_run(dev, 2, 1000, count_range, &j);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(hits[i], 1);
	assert_int_equal(j.workers_seen, 1u << 2);

	assert_int_equal(dp_cpool_start(dev, HELPERS), 0);
	assert_int_equal(dev->cpool->n_helpers, HELPERS);
	for (int round = 0; round < 200; round++) {
		memset(hits, 0, sizeof(hits));
		j.workers_seen = 0;
		dp_cpool_run(dev, 0, 1000, count_range, &j);
		for (int i = 0; i < 1000; i++)
			assert_int_equal(hits[i], 1);
		/* the caller and the helpers, nobody else (the caller may find
		 * every range taken by spinning helpers) */
		assert_int_equal(j.workers_seen & ~(1u | (((1u << HELPERS) - 1) << DP_HELPER_BASE)), 0);
	}
	assert_true(dp_cpool_jobs(dev) >= 200);
	/* fewer than DP_CPOOL_MIN items: alone */
	memset(hits, 0, sizeof(hits));
	j.workers_seen = 0;
	dp_cpool_run(dev, 1, DP_CPOOL_MIN - 1, count_range, &j);
	assert_int_equal(j.workers_seen, 1u << 1);
	/* several posters at once: one shares, the others work alone */
	for (unsigned int i = 0; i < 3; i++) {
		ps[i] = (struct poster){ .dev = dev, .worker = i, .rounds = 300 };
		assert_int_equal(pthread_create(&thr[i], NULL, post_many, &ps[i]), 0);
	}
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(pthread_join(thr[i], &rv), 0);
		assert_null(rv);
	}
	dp_device_destroy(dev);               /* stops and joins the helpers */
}

/* ---- two devices through hooks ----------------------------------------------- */

struct dgram {
	struct sockaddr_storage to;
	size_t len;
	uint8_t data[1600];
};

struct side {
	struct dp_device *dev;
	struct dgram *q;                       /* datagrams sent */
	size_t nq, capq;
	uint8_t (*tun)[1600];                  /* packets delivered to the TUN */
	size_t *tun_len, ntun, captun;
};

static void
tx_hook(void *ctx, const struct sockaddr_storage *to, const void *buf, size_t len)
{
	struct side *s = ctx;

	assert_true(len <= sizeof(s->q[0].data));
	if (s->nq == s->capq) {
		s->capq = s->capq ? s->capq * 2 : 256;
		assert_non_null(s->q = realloc(s->q, s->capq * sizeof(*s->q)));
	}
	s->q[s->nq].to = *to;
	s->q[s->nq].len = len;
	memcpy(s->q[s->nq++].data, buf, len);
}

static void
tun_hook(void *ctx, const void *pkt, size_t len)
{
	struct side *s = ctx;

	assert_true(len <= sizeof(s->tun[0]));
	if (s->ntun == s->captun) {
		s->captun = s->captun ? s->captun * 2 : 256;
		assert_non_null(s->tun = realloc(s->tun, s->captun * sizeof(*s->tun)));
		assert_non_null(s->tun_len = realloc(s->tun_len, s->captun * sizeof(size_t)));
	}
	memcpy(s->tun[s->ntun], pkt, len);
	s->tun_len[s->ntun++] = len;
}

struct pair {
	struct side s[2];
	struct dp_peer_config pc[2];
	struct prefix ai[2];
	struct sockaddr_storage addr[2];
};

/* An IPv4 packet 10.0.0.<from> -> 10.0.0.<to> of len bytes carrying seq. */
static size_t
ip4(uint8_t *b, int from, int to, size_t len, uint32_t seq)
{
	char src[16], dst[16];

	snprintf(src, sizeof(src), "10.0.0.%d", from);
	snprintf(dst, sizeof(dst), "10.0.0.%d", to);
	dp_test_ip4(b, src, dst, len - 20);
	memcpy(b + 20, &seq, sizeof(seq));
	for (size_t i = 24; i < len; i++)
		b[i] = (uint8_t)(seq * 7 + i);
	return len;
}

static void
deliver_one(struct pair *pr, int to, struct dgram *d)
{
	dp_device_rx_one(pr->s[to].dev, 0, d->data, d->len, &pr->addr[!to]);
}

/* Moves datagrams one at a time until both queues are empty. */
static void
settle(struct pair *pr)
{
	for (int guard = 0; guard < 100 && (pr->s[0].nq || pr->s[1].nq); guard++)
		for (int i = 0; i < 2; i++) {
			size_t n = pr->s[i].nq;

			pr->s[i].nq = 0;
			for (size_t k = 0; k < n; k++)
				deliver_one(pr, !i, &pr->s[i].q[k]);
		}
}

static int
pair_setup(void **state)
{
	struct pair *pr = calloc(1, sizeof(*pr));
	uint8_t priv[2][NOISE_KEY_LEN], pub[2][NOISE_KEY_LEN];
	struct dp_config cfg[2];
	uint8_t pkt[100];
	const uint8_t *pp = pkt;
	size_t len;

	assert_non_null(pr);
	dp_test_addr4(&pr->addr[0], "192.0.2.1", 1111);
	dp_test_addr4(&pr->addr[1], "192.0.2.2", 2222);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(dp_genkey(priv[i]), 0);
		assert_int_equal(dp_pubkey(pub[i], priv[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.0.0.%d/32", 2 - i);
		assert_int_equal(prefix_parse(ip, &pr->ai[i], 0), 0);
		memset(&cfg[i], 0, sizeof(cfg[i]));
		memcpy(cfg[i].private_key, priv[i], NOISE_KEY_LEN);
		cfg[i].listen_port = (uint16_t)(1111 * (i + 1));
		cfg[i].peers = &pr->pc[i];
		cfg[i].n_peers = 1;
		cr_strlcpy(pr->pc[i].name, "peer", sizeof(pr->pc[i].name));
		memcpy(pr->pc[i].public_key, pub[!i], NOISE_KEY_LEN);
		pr->pc[i].allowed_ips = &pr->ai[i];
		pr->pc[i].n_allowed_ips = 1;
		pr->pc[i].has_endpoint = 1;
		pr->pc[i].endpoint = pr->addr[!i];
		assert_int_equal(dp_device_create_detached(&cfg[i], &pr->s[i].dev), 0);
		pr->s[i].dev->tx_hook = tx_hook;
		pr->s[i].dev->tun_hook = tun_hook;
		pr->s[i].dev->hook_ctx = &pr->s[i];
		assert_int_equal(dp_cpool_start(pr->s[i].dev, HELPERS), 0);
		assert_non_null(dp_detached_worker(pr->s[i].dev));
	}
	explicit_bzero(priv, sizeof(priv));
	explicit_bzero(cfg, sizeof(cfg));
	/* a first packet from 0 to 1 starts the handshake; settle completes it
	 * (the staged packet and the responder's confirmation included) */
	len = ip4(pkt, 1, 2, sizeof(pkt), 0xffffffffu);
	dp_tun_send_packets(dp_detached_worker(pr->s[0].dev), &pp, &len, 1);
	settle(pr);
	assert_int_equal(pr->s[1].ntun, 1);
	assert_memory_equal(pr->s[1].tun[0], pkt, sizeof(pkt));
	pr->s[1].ntun = 0;
	*state = pr;
	return 0;
}

static int
pair_teardown(void **state)
{
	struct pair *pr = *state;

	for (int i = 0; i < 2; i++) {
		dp_device_destroy(pr->s[i].dev);
		free(pr->s[i].q);
		free(pr->s[i].tun);
		free(pr->s[i].tun_len);
	}
	free(pr);
	return 0;
}

static uint64_t
counter_of(const struct dgram *d)
{
	const struct message_data *m = (const void *)d->data;

	assert_true(d->len >= MESSAGE_MINIMUM_LENGTH);
	assert_int_equal(le32toh(m->type), MESSAGE_DATA);
	return le64toh(m->counter);
}

/* Sends n packets 0 -> 1 in batches of `batch`, sizes from sizes(). */
static void
send_packets(struct pair *pr, unsigned int n, unsigned int batch, size_t fixed,
    uint8_t (*pkts)[1600], size_t *lens)
{
	struct dp_worker *w = dp_detached_worker(pr->s[0].dev);
	const uint8_t *ptr[256];

	assert_true(batch <= 256);
	for (unsigned int i = 0; i < n; i++)
		lens[i] = ip4(pkts[i], 1, 2, fixed ? fixed : 40 + (i * 97) % 1360, i);
	for (unsigned int i = 0; i < n; i += batch) {
		unsigned int m = n - i < batch ? n - i : batch;

		for (unsigned int k = 0; k < m; k++)
			ptr[k] = pkts[i + k];
		dp_tun_send_packets(w, ptr, lens + i, m);
	}
}

/* Hands datagrams to side 1's receive path: equal sizes share a buffer
 * (as UDP_GRO does), up to `per_buf` of them, DP_RX_BATCH buffers a call. */
static void
receive(struct pair *pr, struct dgram *const *ds, size_t n, unsigned int per_buf)
{
	struct dp_worker *w = dp_detached_worker(pr->s[1].dev);
	size_t k = 0;

	while (k < n) {
		unsigned int nb = 0;

		while (nb < DP_RX_BATCH && k < n) {
			struct msghdr *mh = &w->rx_msg[nb].msg_hdr;
			size_t seg = ds[k]->len, off = 0;
			unsigned int c = 0;

			while (k < n && c < per_buf && ds[k]->len == seg && off + seg <= DP_BUF_SIZE) {
				memcpy(w->rx_buf[nb] + off, ds[k]->data, seg);
				off += seg;
				c++;
				k++;
			}
			memset(&w->rx_msg[nb], 0, sizeof(w->rx_msg[nb]));
			w->rx_addr[nb] = pr->addr[0];
			mh->msg_name = &w->rx_addr[nb];
			mh->msg_namelen = sizeof(struct sockaddr_in);
			if (c > 1) {
				struct cmsghdr *cm;
				int gso = (int)seg;

				mh->msg_control = w->rx_cmsg[nb].buf;
				mh->msg_controllen = sizeof(w->rx_cmsg[nb].buf);
				cm = CMSG_FIRSTHDR(mh);
				cm->cmsg_level = SOL_UDP;
				cm->cmsg_type = UDP_GRO;
				cm->cmsg_len = CMSG_LEN(sizeof(int));
				memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
			}
			w->rx_msg[nb].msg_len = (unsigned int)off;
			nb++;
		}
		dp_udp_rx_buffers(w, nb);
	}
}

static uint64_t
drops(struct dp_device *dev, enum dp_drop_reason r)
{
	return __atomic_load_n(&dev->drops[r], __ATOMIC_RELAXED);
}

static void
test_send_order(void **state)
{
	struct pair *pr = *state;
	enum { N = 700 };
	uint8_t (*pkts)[1600] = calloc(N, 1600);
	size_t lens[N];
	struct dgram **ds = calloc(N, sizeof(*ds));
	uint64_t first, jobs0 = dp_cpool_jobs(pr->s[0].dev);

	assert_non_null(pkts);
	assert_non_null(ds);
	pr->s[0].nq = 0;
	send_packets(pr, N, 100, 0, pkts, lens);
	assert_int_equal(pr->s[0].nq, N);
	assert_true(dp_cpool_jobs(pr->s[0].dev) > jobs0);   /* the helpers took part */
	first = counter_of(&pr->s[0].q[0]);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(counter_of(&pr->s[0].q[i]), first + i);
		ds[i] = &pr->s[0].q[i];
	}
	/* in order, one datagram per buffer (varied sizes): each is what was read */
	receive(pr, ds, N, 1);
	assert_int_equal(pr->s[1].ntun, N);
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(pr->s[1].tun_len[i], lens[i]);
		assert_memory_equal(pr->s[1].tun[i], pkts[i], lens[i]);
	}
	assert_int_equal(drops(pr->s[1].dev, DP_DROP_DECRYPT_FAILED), 0);
	assert_int_equal(drops(pr->s[1].dev, DP_DROP_REPLAY), 0);
	free(ds);
	free(pkts);
}

/* An independent model of the window: a counter is accepted once, unless it
 * is more than `window` below the greatest accepted. */
static int
model_accept(uint8_t *seen, uint64_t *greatest, int *any, uint64_t c, uint64_t window)
{
	if (seen[c] || (*any && c + window <= *greatest))
		return 0;
	seen[c] = 1;
	if (!*any || c > *greatest)
		*greatest = c;
	*any = 1;
	return 1;
}

static void
test_receive_reordered(void **state)
{
	struct pair *pr = *state;
	enum { N = 9000, LEN = 60 };
	uint8_t (*pkts)[1600] = calloc(N, 1600);
	size_t *lens = calloc(N, sizeof(size_t)), n_in = 0, n_exp = 0;
	struct dgram **in = calloc(2 * N, sizeof(*in)), forged;
	uint32_t *exp = calloc(2 * N, sizeof(*exp));
	uint8_t *seen = calloc(N + 1, 1);
	uint64_t base, greatest = 0, jobs0 = dp_cpool_jobs(pr->s[1].dev);
	uint64_t replay0 = drops(pr->s[1].dev, DP_DROP_REPLAY), n_replay = 0;
	int any = 0;

	assert_true(pkts && lens && in && exp && seen);
	pr->s[0].nq = 0;
	send_packets(pr, N, 200, LEN, pkts, lens);
	assert_int_equal(pr->s[0].nq, N);
	base = counter_of(&pr->s[0].q[0]);
	/* blocks of 48 in a scrambled order; every 5th block repeats two of its
	 * datagrams; datagram 0 is held back to the end (9000 behind: too old);
	 * one forged datagram in the middle */
	for (size_t b = 0; b < N; b += 48) {
		size_t m = N - b < 48 ? N - b : 48;

		for (size_t k = 0; k < m; k++) {
			size_t i = b + (k * 29 + 11) % m;
			if (i != 0)
				in[n_in++] = &pr->s[0].q[i];
		}
		if ((b / 48) % 5 == 0 && m > 3) {
			in[n_in++] = &pr->s[0].q[b + 3];
			in[n_in++] = &pr->s[0].q[b + 1];
		}
		if (b == 4800) {
			forged = pr->s[0].q[b + 2];
			forged.data[MESSAGE_MINIMUM_LENGTH / 2] ^= 0x40;
			in[n_in++] = &forged;
		}
	}
	in[n_in++] = &pr->s[0].q[0];
	for (size_t k = 0; k < n_in; k++) {
		uint64_t c = counter_of(in[k]) - base;

		if (in[k] == &forged)
			continue;
		assert_true(c < N);
		if (model_accept(seen, &greatest, &any, c, 2048))
			exp[n_exp++] = (uint32_t)c;
		else
			n_replay++;
	}
	pr->s[1].ntun = 0;
	receive(pr, in, n_in, 64);
	assert_true(dp_cpool_jobs(pr->s[1].dev) > jobs0);
	assert_int_equal(pr->s[1].ntun, n_exp);
	for (size_t k = 0; k < n_exp; k++) {
		assert_int_equal(pr->s[1].tun_len[k], LEN);
		assert_memory_equal(pr->s[1].tun[k], pkts[exp[k]], LEN);
	}
	assert_int_equal(drops(pr->s[1].dev, DP_DROP_DECRYPT_FAILED), 1);
	assert_int_equal(drops(pr->s[1].dev, DP_DROP_REPLAY) - replay0, n_replay);
	assert_true(n_replay > 2 * (N / 48 / 5));          /* duplicates and the old one */
	free(seen);
	free(exp);
	free(in);
	free(lens);
	free(pkts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_runs_each_item_once),
		cmocka_unit_test_setup_teardown(test_send_order, pair_setup, pair_teardown),
		cmocka_unit_test_setup_teardown(test_receive_reordered, pair_setup, pair_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
