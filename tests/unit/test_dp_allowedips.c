/*
 * Cryptokey routing table (dataplane/allowedips.c): longest-prefix match for
 * IPv4 and IPv6, overlapping prefixes, /0, host bits, moving a prefix to
 * another peer, removal of one prefix and of a whole peer, listing, and a
 * randomized comparison against a linear-scan reference.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dataplane/dp_internal.h"

/* the table keeps each peer's list of nodes in the peer */
static struct dp_peer peer_storage[8];
#define PEER(i) (&peer_storage[i])

static void
add(struct allowedips *t, const char *s, int peer)
{
	struct prefix p;

	assert_int_equal(prefix_parse(s, &p, 1), 0);
	assert_int_equal(ai_insert(t, &p, PEER(peer)), 0);
}

static struct dp_peer *
look(const struct allowedips *t, const char *addr)
{
	struct prefix p;

	assert_int_equal(prefix_parse_addr(addr, &p), 0);
	return ai_lookup(t, p.family, p.addr);
}

struct want { const char *addr; int peer; };  /* peer -1 = none */

static void
check(const struct allowedips *t, const struct want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct dp_peer *got = look(t, w[i].addr);
		if (w[i].peer < 0 ? got != NULL : got != PEER(w[i].peer))
			fail_msg("%s: got peer %d, want %d", w[i].addr,
			    got ? (int)(got - peer_storage) : -1, w[i].peer);
	}
}

static void
test_v4_overlap(void **state)
{
	struct allowedips t;
	struct prefix p;
	static const struct want w1[] = {
		{ "10.1.2.3", 2 }, { "10.1.2.4", 1 }, { "10.2.0.0", 0 },
		{ "11.0.0.1", 3 }, { "10.255.255.255", 0 }, { "10.1.255.255", 1 },
		{ "192.168.1.1", 4 }, { "192.168.0.255", 3 },
	};
	static const struct want w2[] = {   /* peer 1 removed */
		{ "10.1.2.3", 2 }, { "10.1.2.4", 0 }, { "11.0.0.1", 3 },
	};
	static const struct want w3[] = {   /* /0 removed too */
		{ "11.0.0.1", -1 }, { "10.1.2.3", 2 }, { "1.1.1.1", -1 },
	};
	(void)state;
	ai_init(&t);
	assert_null(look(&t, "10.0.0.1"));
	add(&t, "10.0.0.0/8", 0);
	add(&t, "10.1.0.0/16", 1);
	add(&t, "10.1.2.3/32", 2);
	add(&t, "0.0.0.0/0", 3);
	add(&t, "192.168.1.0/24", 4);
	check(&t, w1, ARRAY_SIZE(w1));
	assert_int_equal(ai_list(&t, PEER(1), NULL, 0), 1);
	ai_remove_peer(&t, PEER(1));
	check(&t, w2, ARRAY_SIZE(w2));
	assert_int_equal(ai_list(&t, PEER(1), NULL, 0), 0);
	assert_int_equal(prefix_parse("0.0.0.0/0", &p, 0), 0);
	ai_remove(&t, &p, PEER(2));       /* not peer 2's: no change */
	assert_ptr_equal(look(&t, "11.0.0.1"), PEER(3));
	ai_remove(&t, &p, PEER(3));
	check(&t, w3, ARRAY_SIZE(w3));
	ai_free(&t);
}

static void
test_v6(void **state)
{
	struct allowedips t;
	static const struct want w[] = {
		{ "fd00:1::1", 2 }, { "fd00:1::2", 1 }, { "fd00:2::1", 0 },
		{ "2001:db8::1", 3 }, { "::1", 3 }, { "fe80::1", 3 },
	};
	(void)state;
	ai_init(&t);
	add(&t, "fd00::/8", 0);
	add(&t, "fd00:1::/32", 1);
	add(&t, "fd00:1::1/128", 2);
	add(&t, "::/0", 3);
	add(&t, "10.0.0.0/8", 4);         /* families do not mix */
	check(&t, w, ARRAY_SIZE(w));
	assert_null(look(&t, "11.0.0.1"));
	ai_remove_peer(&t, PEER(3));
	assert_null(look(&t, "2001:db8::1"));
	assert_ptr_equal(look(&t, "fd00:1::1"), PEER(2));
	ai_free(&t);
}

static void
test_host_bits_move_list(void **state)
{
	struct allowedips t;
	struct prefix out[4];
	char buf[PREFIX_STRLEN];
	size_t n;

	(void)state;
	ai_init(&t);
	add(&t, "10.1.2.3/8", 0);         /* stored as 10.0.0.0/8 */
	assert_ptr_equal(look(&t, "10.200.0.1"), PEER(0));
	n = ai_list(&t, PEER(0), out, 4);
	assert_int_equal(n, 1);
	assert_string_equal(prefix_fmt(&out[0], buf, sizeof(buf)), "10.0.0.0/8");
	add(&t, "10.0.0.0/8", 1);         /* same prefix moves to peer 1 */
	assert_ptr_equal(look(&t, "10.200.0.1"), PEER(1));
	assert_int_equal(ai_list(&t, PEER(0), NULL, 0), 0);
	add(&t, "fd00::1/64", 1);
	add(&t, "172.16.0.0/12", 1);
	n = ai_list(&t, PEER(1), out, 2);  /* truncated listing still counts */
	assert_int_equal(n, 3);
	ai_free(&t);
}

/* Linear reference: the longest matching prefix wins, later inserts replace. */
struct ref { struct prefix p; int peer; };

static int
ref_lookup(const struct ref *r, size_t n, int family, const uint8_t *addr)
{
	int best = -1, bestlen = -1;

	for (size_t i = 0; i < n; i++) {
		struct prefix a = { .family = family, .len = family == AF_INET ? 32 : 128 };
		memcpy(a.addr, addr, family == AF_INET ? 4 : 16);
		if (r[i].peer >= 0 && prefix_contains(&r[i].p, &a) && r[i].p.len > bestlen) {
			best = r[i].peer;
			bestlen = r[i].p.len;
		}
	}
	return best;
}

static void
random_addr(int family, uint8_t *a)
{
	/* a small address space so that prefixes overlap a lot */
	size_t n = family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < n; i++)
		a[i] = (uint8_t)(i < 2 ? rand() % 3 : rand());
}

static void
test_random_vs_reference(void **state)
{
	enum { N = 300 };
	struct ref r[N];
	struct allowedips t;
	size_t n = 0;

	(void)state;
	srand(12345);
	ai_init(&t);
	for (n = 0; n < N; n++) {
		int fam = rand() % 2 ? AF_INET : AF_INET6;
		struct prefix p = { .family = fam };
		random_addr(fam, p.addr);
		p.len = (uint8_t)(rand() % ((fam == AF_INET ? 32 : 128) + 1));
		prefix_network(&p, &p);
		r[n].p = p;
		r[n].peer = rand() % 6;
		/* an identical earlier prefix is replaced */
		for (size_t j = 0; j < n; j++)
			if (r[j].peer >= 0 && prefix_equal(&r[j].p, &p))
				r[j].peer = -1;
		assert_int_equal(ai_insert(&t, &p, PEER(r[n].peer)), 0);
	}
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 20000; i++) {
			int fam = rand() % 2 ? AF_INET : AF_INET6;
			uint8_t a[16];
			struct dp_peer *got;
			int want;

			random_addr(fam, a);
			got = ai_lookup(&t, fam, a);
			want = ref_lookup(r, n, fam, a);
			assert_ptr_equal(got, want < 0 ? NULL : PEER(want));
		}
		/* each peer lists exactly its own prefixes */
		for (int q = 0; q < 6; q++) {
			struct prefix got[N];
			size_t want = 0, k = ai_list(&t, PEER(q), got, N);

			for (size_t j = 0; j < n; j++)
				want += r[j].peer == q;
			assert_int_equal(k, want);
			for (size_t g = 0; g < k; g++) {
				size_t j;
				for (j = 0; j < n; j++)
					if (r[j].peer == q && prefix_equal(&r[j].p, &got[g]))
						break;
				assert_true(j < n);
			}
		}
		/* remove one peer and compare again */
		ai_remove_peer(&t, PEER(round));
		assert_int_equal(ai_list(&t, PEER(round), NULL, 0), 0);
		for (size_t j = 0; j < n; j++)
			if (r[j].peer == round)
				r[j].peer = -1;
	}
	ai_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_v4_overlap),
		cmocka_unit_test(test_v6),
		cmocka_unit_test(test_host_bits_move_list),
		cmocka_unit_test(test_random_vs_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
