/*
 * The timer set (dataplane/timers.c, second half) and the timer thread that
 * works from it (dataplane/device.c):
 *   - the heap alone: timers with something armed are in it, ordered by a
 *     key at or before their earliest deadline; a deadline pushed out keeps
 *     the key, one brought in moves it; the due ones come out in order; re-
 *     keying after a run puts the next deadline in, or takes out timers with
 *     nothing armed; a sleeping thread is woken by an earlier deadline
 *     and by a round asked for (retired keypairs);
 *   - two detached devices: an armed peer joins its device's set and is
 *     served at its deadline (a retransmitted initiation, a keepalive), and
 *     leaves the set once nothing is armed;
 *   - peers with armed timers added and removed while the timer thread runs
 *     and a worker-like thread arms deadlines (what the ThreadSanitizer
 *     build, make SANITIZE=thread unit-dp, checks);
 *   - 10,000 peers in and out leave an empty set and no memory (ASan).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <endian.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "dataplane/dp_internal.h"
#include "tests/lib/dp_peers.h"
#include "tests/unit/dp_test.h"

#define T0 1000000ULL

/* Heap order and slots agree. */
static void
check_heap(struct dp_timerset *s)
{
	for (size_t i = 0; i < s->n; i++) {
		assert_int_equal(s->heap[i]->slot, i + 1);
		assert_true(s->heap[i]->key != 0);
		if (i > 0)
			assert_true(s->heap[(i - 1) / 2]->key <= s->heap[i]->key);
	}
}

static void
test_heap(void **state)
{
	enum { N = 300 };
	struct dp_timerset s;
	const uint64_t due = T0 + KEEPALIVE_TIMEOUT_MS + 4000;
	struct dp_timers *t = calloc(N, sizeof(*t)), *got;
	uint64_t last = 0, k;
	size_t n = 0;

	(void)state;
	assert_non_null(t);
	assert_int_equal(dp_timerset_init(&s), 0);
	assert_int_equal(dp_timerset_reserve(&s, N), 0);
	for (size_t i = 0; i < N; i++) {
		dp_timers_init(&t[i], 0);
		dp_timers_attach(&t[i], &s);
	}
	assert_int_equal(s.n, 0);                 /* nothing armed, nothing in */
	/* a third handshake, a third receive data, a third nothing */
	for (size_t i = 0; i < N; i++) {
		uint64_t at = T0 + (i * 7919) % 4000;
		if (i % 3 == 0)
			dp_timers_handshake_initiated(&t[i], at, 0);
		else if (i % 3 == 1)
			dp_timers_data_received(&t[i], at);
	}
	assert_int_equal(s.n, 2 * N / 3);
	check_heap(&s);
	for (size_t i = 0; i < N; i++)
		assert_int_equal(t[i].key, dp_timers_next(&t[i]));
	/* pushed out: the key stays (one early look); brought in: it moves */
	dp_timers_any_authenticated_sent(&t[1], T0);         /* disarms send_keepalive */
	assert_int_equal(t[1].key, T0 + 7919 % 4000 + KEEPALIVE_TIMEOUT_MS);
	dp_timers_handshake_initiated(&t[2], T0 - 100000, 0);
	assert_int_equal(t[2].key, T0 - 100000 + REKEY_TIMEOUT_MS);
	assert_ptr_equal(s.heap[0], &t[2]);
	check_heap(&s);
	/* taking one out of the middle */
	dp_timers_detach(&t[N / 2]);
	assert_int_equal(t[N / 2].slot, 0);
	check_heap(&s);
	/* the due ones, in key order, each run and re-keyed */
	assert_null(dp_timerset_pop_due(&s, T0 - 100000));
	while ((k = dp_timerset_next(&s)) != 0 && (got = dp_timerset_pop_due(&s, due)) != NULL) {
		assert_true(k >= last);
		last = k;
		assert_true(got->key == 0 && got->slot == 0);
		/* the key was at or before every armed deadline */
		assert_true(dp_timers_next(got) == 0 || dp_timers_next(got) >= k);
		dp_timers_expire(got, due);
		n++;
	}
	assert_int_equal(n, 2 * N / 3);            /* t[2] came in, t[N / 2] went out */
	assert_int_equal(s.n, 0);
	/* re-keying: retransmission armed again stays in; nothing armed leaves */
	dp_timers_handshake_initiated(&t[0], T0, 0);
	dp_timers_handshake_complete(&t[0], T0 + 1);
	assert_int_equal(s.n, 1);                 /* the key is lazy */
	dp_timers_rekey(&t[0]);
	assert_int_equal(s.n, 0);
	assert_int_equal(t[0].key, 0);
	for (size_t i = 0; i < N; i++)
		dp_timers_detach(&t[i]);
	assert_int_equal(dp_timerset_reserve(&s, 0), 0);
	assert_null(s.heap);
	dp_timerset_destroy(&s);
	free(t);
}

struct waiter {
	struct dp_timerset *s;
	uint64_t woke;
};

static void *
waiter_main(void *arg)
{
	struct waiter *w = arg;

	dp_timerset_wait(w->s, now_ms(), now_ms() + 60000);
	__atomic_store_n(&w->woke, now_ms(), __ATOMIC_RELEASE);
	return NULL;
}

/* A deadline armed while the thread sleeps for a minute wakes it then (a
 * lost wake-up would make this wait the whole minute), so does a round
 * asked for, and stop. */
static void
test_wakeup(void **state)
{
	struct dp_timerset s;
	struct dp_timers t;
	struct waiter w = { .s = &s };
	pthread_t thr;
	uint64_t t0;

	(void)state;
	assert_int_equal(dp_timerset_init(&s), 0);
	assert_int_equal(dp_timerset_reserve(&s, 1), 0);
	dp_timers_init(&t, 0);
	dp_timers_attach(&t, &s);
	assert_int_equal(pthread_create(&thr, NULL, waiter_main, &w), 0);
	poll(NULL, 0, 100);                      /* most likely asleep by now */
	t0 = now_ms();
	dp_timers_set_persistent_keepalive(&t, 1, t0 + 50);
	pthread_join(thr, NULL);
	assert_true(w.woke < t0 + 30000);
	dp_timers_detach(&t);
	/* a round asked for (retired keypairs) while it sleeps, and before */
	assert_int_equal(pthread_create(&thr, NULL, waiter_main, &w), 0);
	poll(NULL, 0, 100);
	t0 = now_ms();
	dp_timerset_wake_by(&s, t0 + 50);
	pthread_join(thr, NULL);
	assert_true(w.woke < t0 + 30000);
	dp_timerset_wake_by(&s, now_ms());
	t0 = now_ms();
	assert_int_equal(dp_timerset_wait(&s, t0, t0 + 60000), 0);
	assert_true(now_ms() < t0 + 30000);
	/* stop */
	w.woke = 0;
	assert_int_equal(pthread_create(&thr, NULL, waiter_main, &w), 0);
	dp_timerset_stop(&s);
	pthread_join(thr, NULL);
	assert_true(w.woke != 0);
	assert_int_equal(dp_timerset_wait(&s, 0, now_ms() + 60000), 1);
	dp_timerset_reserve(&s, 0);
	dp_timerset_destroy(&s);
}

/* ---- two detached devices ------------------------------------------------------- */

struct dgram { int from; size_t len; uint8_t data[256]; };
struct wire {
	struct dgram q[32];
	size_t n;
	unsigned int sent[2][5];                 /* per device, per message type */
	unsigned int keepalives[2];
};
struct end { struct wire *w; int id; };
struct duo {
	struct dp_device *dev[2];
	struct end end[2];
	struct wire w;
	struct sockaddr_storage ep[2];
	struct prefix ip[2];
	uint8_t priv[2][NOISE_KEY_LEN], pub[2][NOISE_KEY_LEN];
};

static void
wire_tx(void *ctx, const struct sockaddr_storage *to, const void *buf, size_t len)
{
	struct end *e = ctx;
	uint32_t type = le32toh(*(const uint32_t *)buf);
	struct dgram *d;

	(void)to;
	assert_true(e->w->n < ARRAY_SIZE(e->w->q) && len <= sizeof(d->data) && type <= 4);
	e->w->sent[e->id][type]++;
	if (type == MESSAGE_DATA && len == MESSAGE_DATA_HEADER_LEN + 16)
		e->w->keepalives[e->id]++;
	d = &e->w->q[e->w->n++];
	d->from = e->id;
	d->len = len;
	memcpy(d->data, buf, len);
}

static void
wire_tun(void *ctx, const void *pkt, size_t len)
{
	(void)ctx;
	(void)pkt;
	(void)len;
}

static void
duo_deliver(struct duo *d)
{
	while (d->w.n > 0) {
		struct dgram g = d->w.q[0];
		memmove(&d->w.q[0], &d->w.q[1], --d->w.n * sizeof(g));
		dp_device_rx_one(d->dev[!g.from], 0, g.data, g.len, &d->ep[g.from]);
	}
}

static int
duo_setup(void **state)
{
	struct duo *d = calloc(1, sizeof(*d));
	struct dp_config empty = { .n_peers = 0 };

	assert_non_null(d);
	dp_test_addr4(&d->ep[0], "192.0.2.1", 1111);
	dp_test_addr4(&d->ep[1], "192.0.2.2", 2222);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(dp_genkey(d->priv[i]), 0);
		assert_int_equal(dp_pubkey(d->pub[i], d->priv[i]), 0);
		assert_int_equal(prefix_parse(i ? "10.0.0.1/32" : "10.0.0.2/32", &d->ip[i], 0), 0);
	}
	for (int i = 0; i < 2; i++) {
		struct dp_peer_config pc = { .has_endpoint = 1, .endpoint = d->ep[!i],
		    .allowed_ips = &d->ip[i], .n_allowed_ips = 1 };
		struct dp_config cfg = { .peers = &pc, .n_peers = 1 };

		memcpy(pc.public_key, d->pub[!i], NOISE_KEY_LEN);
		memcpy(cfg.private_key, d->priv[i], NOISE_KEY_LEN);
		assert_int_equal(dp_device_create_detached(&empty, &d->dev[i]), 0);
		d->end[i].w = &d->w;
		d->end[i].id = i;
		d->dev[i]->tx_hook = wire_tx;
		d->dev[i]->tun_hook = wire_tun;
		d->dev[i]->hook_ctx = &d->end[i];
		assert_int_equal(dp_device_configure(d->dev[i], &cfg), 0);
	}
	*state = d;
	return 0;
}

static int
duo_teardown(void **state)
{
	struct duo *d = *state;

	dp_device_destroy(d->dev[0]);
	dp_device_destroy(d->dev[1]);
	explicit_bzero(d->priv, sizeof(d->priv));
	free(d);
	return 0;
}

static size_t
run_due(struct dp_device *dev, uint64_t now)
{
	size_t n;

	pthread_rwlock_rdlock(&dev->lock);
	n = dp_device_run_timers(dev, now);
	pthread_rwlock_unlock(&dev->lock);
	return n;
}

static void
test_armed_peer_served(void **state)
{
	struct duo *d = *state;
	struct dp_peer *a = d->dev[0]->peers, *b = d->dev[1]->peers;
	uint8_t pkt[40] = { 0x45, 0, 0, 40, [8] = 64, [9] = 17, [12] = 10, 0, 0, 1, 10, 0, 0, 2 };
	uint64_t key, later;

	/* configured, idle: nothing armed, nobody in the sets, nothing to run */
	assert_int_equal(d->dev[0]->tset.n, 0);
	assert_int_equal(d->dev[1]->tset.n, 0);
	assert_int_equal(run_due(d->dev[0], now_ms() + 3 * REJECT_AFTER_TIME_MS), 0);

	/* data without a session: an initiation goes out and arms the retransmission */
	pthread_mutex_lock(&a->lock);
	assert_int_equal(dp_peer_stage(a, pkt, sizeof(pkt)), 0);
	pthread_mutex_unlock(&a->lock);
	dp_send_staged(a, 0, 0);
	assert_int_equal(d->w.sent[0][MESSAGE_HANDSHAKE_INITIATION], 1);
	assert_int_equal(d->dev[0]->tset.n, 1);
	key = a->timers.key;
	assert_int_equal(key, a->timers.retransmit_handshake);
	assert_int_equal(run_due(d->dev[0], key - 1), 0);
	/* lost: at its deadline the initiation is sent again */
	d->w.n = 0;
	a->timers.last_sent_handshake = 0;         /* past the REKEY_TIMEOUT wait */
	assert_int_equal(run_due(d->dev[0], key), 1);
	assert_int_equal(d->w.sent[0][MESSAGE_HANDSHAKE_INITIATION], 2);
	assert_int_equal(a->timers.handshake_attempts, 1);
	assert_int_equal(d->dev[0]->tset.n, 1);    /* retransmission armed again */
	assert_int_equal(a->timers.key, a->timers.retransmit_handshake);

	/* it arrives: response, staged data; B got data, so B owes a keepalive */
	duo_deliver(d);
	assert_non_null(a->current);
	assert_non_null(b->current);
	assert_int_equal(d->dev[1]->tset.n, 1);
	key = b->timers.key;
	assert_int_equal(key, b->timers.send_keepalive);
	assert_int_equal(run_due(d->dev[1], key - 1), 0);
	assert_int_equal(d->w.keepalives[1], 0);
	assert_int_equal(run_due(d->dev[1], key), 1);
	assert_int_equal(d->w.keepalives[1], 1);
	duo_deliver(d);                            /* A's new-handshake timer is off */

	/* after 3 x REJECT_AFTER_TIME the keys go, nothing is armed, both leave */
	later = now_ms() + 3 * REJECT_AFTER_TIME_MS + 1000;
	for (int i = 0; i < 2; i++) {
		assert_int_equal(d->dev[i]->tset.n, 1);
		assert_int_equal(run_due(d->dev[i], later), 1);
		assert_int_equal(d->dev[i]->tset.n, 0);
		assert_int_equal(d->dev[i]->peers->timers.key, 0);
		assert_int_equal(dp_timers_next(&d->dev[i]->peers->timers), 0);
		assert_null(d->dev[i]->peers->current);
	}
	assert_int_equal(d->w.n, 0);
}

/* ---- churn under the timer thread ---------------------------------------------------- */

enum { CHURN = 256 };
static unsigned int churn_sent;

static void
count_tx(void *ctx, const struct sockaddr_storage *to, const void *buf, size_t len)
{
	(void)ctx;
	(void)to;
	(void)buf;
	(void)len;
	__atomic_fetch_add(&churn_sent, 1, __ATOMIC_RELAXED);
}

struct arming {
	struct dp_device *dev;
	int stop;
};

/* Like a worker: under dev->lock for reading, arms and disarms deadlines. */
static void *
arming_main(void *arg)
{
	struct arming *a = arg;
	unsigned int round = 0;

	while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
		pthread_rwlock_rdlock(&a->dev->lock);
		for (struct dp_peer *p = a->dev->peers; p != NULL; p = p->next) {
			uint64_t now = now_ms();
			pthread_mutex_lock(&p->lock);
			if (round % 2)
				dp_timers_data_sent(&p->timers, now - 20000, 0);   /* due */
			else
				dp_timers_data_received(&p->timers, now);
			dp_timers_any_authenticated_traversal(&p->timers, now);
			pthread_mutex_unlock(&p->lock);
		}
		pthread_rwlock_unlock(&a->dev->lock);
		round++;
		poll(NULL, 0, 1);
	}
	return NULL;
}

static void
test_churn_under_thread(void **state)
{
	struct dp_peer_config *pcs = calloc(CHURN, sizeof(*pcs));
	struct prefix *ips = calloc(CHURN, sizeof(*ips));
	struct dp_config cfg = { .n_peers = 0 };
	struct arming arm = { 0 };
	struct dp_device *dev;
	pthread_t thr;
	uint64_t end;

	(void)state;
	__atomic_store_n(&churn_sent, 0, __ATOMIC_RELAXED);
	assert_non_null(pcs);
	assert_non_null(ips);
	dp_test_peers(pcs, ips, CHURN);
	for (size_t i = 0; i < CHURN; i++) {
		pcs[i].persistent_keepalive = 1;         /* due at once, then every second */
		pcs[i].has_endpoint = 1;
		dp_test_addr4(&pcs[i].endpoint, "192.0.2.9", 9);
	}
	assert_int_equal(dp_genkey(cfg.private_key), 0);
	assert_int_equal(dp_device_create_detached(&cfg, &dev), 0);
	dev->tx_hook = count_tx;
	assert_int_equal(dp_timer_thread_start(dev), 0);
	arm.dev = dev;
	assert_int_equal(pthread_create(&thr, NULL, arming_main, &arm), 0);
	end = now_ms() + 1500;
	for (unsigned int round = 0; now_ms() < end ||
	    (__atomic_load_n(&churn_sent, __ATOMIC_RELAXED) == 0 && now_ms() < end + 20000);
	    round++) {
		/* a window of the peers: some stay, some go, some come */
		size_t from = (round * 37) % (CHURN / 2);
		cfg.peers = &pcs[from];
		cfg.n_peers = CHURN / 2;
		assert_int_equal(dp_device_configure(dev, &cfg), 0);
		poll(NULL, 0, 5);
	}
	__atomic_store_n(&arm.stop, 1, __ATOMIC_RELEASE);
	pthread_join(thr, NULL);
	assert_true(__atomic_load_n(&churn_sent, __ATOMIC_RELAXED) > 0);   /* it served some */
	cfg.n_peers = 0;
	assert_int_equal(dp_device_configure(dev, &cfg), 0);
	pthread_mutex_lock(&dev->tset.lock);
	assert_int_equal(dev->tset.n, 0);
	assert_null(dev->tset.heap);
	pthread_mutex_unlock(&dev->tset.lock);
	dp_device_destroy(dev);                    /* stops the thread */
	explicit_bzero(cfg.private_key, sizeof(cfg.private_key));
	free(pcs);
	free(ips);
}

/* 10,000 peers with a persistent keepalive are all in the set; removed,
 * they leave nothing (ASan checks the rest at exit). */
static void
test_many_peers(void **state)
{
	enum { N = 10000 };
	struct dp_peer_config *pcs = calloc(N, sizeof(*pcs));
	struct prefix *ips = calloc(N, sizeof(*ips));
	struct dp_config cfg = { .peers = pcs, .n_peers = N };
	struct dp_device *dev;
	uint64_t t;

	(void)state;
	assert_non_null(pcs);
	assert_non_null(ips);
	dp_test_peers(pcs, ips, N);
	assert_int_equal(dp_genkey(cfg.private_key), 0);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < N; i++)
			pcs[i].persistent_keepalive = round ? 0 : 25;
		assert_int_equal(dp_device_create_detached(&cfg, &dev), 0);
		assert_int_equal(dev->n_peers, N);
		assert_int_equal(dev->tset.n, round ? 0 : N);
		assert_true(dev->tset.cap >= N);
		check_heap(&dev->tset);
		/* all due at once: each is run once (a keepalive without a
		 * session: an initiation) and keyed at its retransmission */
		if (round == 0) {
			t = now_ms();
			assert_int_equal(run_due(dev, t), N);
			assert_int_equal(dev->tset.n, N);
			assert_true(dev->tset.heap[0]->key >= t + REKEY_TIMEOUT_MS);
			check_heap(&dev->tset);
		}
		cfg.n_peers = 0;
		assert_int_equal(dp_device_configure(dev, &cfg), 0);
		assert_int_equal(dev->n_peers, 0);
		assert_int_equal(dev->tset.n, 0);
		assert_int_equal(dev->tset.cap, 0);
		assert_null(dev->tset.heap);
		dp_device_destroy(dev);
		cfg.n_peers = N;
	}
	explicit_bzero(cfg.private_key, sizeof(cfg.private_key));
	free(pcs);
	free(ips);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap),
		cmocka_unit_test(test_wakeup),
		cmocka_unit_test_setup_teardown(test_armed_peer_served, duo_setup, duo_teardown),
		cmocka_unit_test(test_churn_under_thread),
		cmocka_unit_test(test_many_peers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
