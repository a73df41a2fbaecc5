/* Prefix parsing, containment, overlap, sets and endpoints. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/prefix.h"

static void
test_parse(void **state)
{
	static const struct { const char *in; int ok; const char *out; } t[] = {
		{ "10.0.0.0/18", 1, "10.0.0.0/18" },
		{ "100.96.0.100/11", 1, "100.96.0.100/11" },
		{ "0.0.0.0/0", 1, "0.0.0.0/0" },
		{ "192.168.0.0/32", 1, "192.168.0.0/32" },
		{ "fd00::/64", 1, "fd00::/64" },
		{ "2001:db8::1/128", 1, "2001:db8::1/128" },
		{ "10.0.0.0/33", 0, NULL },
		{ "10.0.0.0/", 0, NULL },
		{ "10.0.0.0/-1", 0, NULL },
		{ "10.0.0.0/011", 0, NULL },
		{ "10.0.0/8", 0, NULL },
		{ "/8", 0, NULL },
		{ "10.0.0.0", 0, NULL },
		{ "fd00::/129", 0, NULL },
		{ "hello/8", 0, NULL },
		{ "10.0.0.0/8x", 0, NULL },
		{ "", 0, NULL },
	};
	char buf[PREFIX_STRLEN];
	struct prefix p;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = prefix_parse(t[i].in, &p, 0);
		if (t[i].ok) {
			assert_int_equal(r, 0);
			assert_string_equal(prefix_fmt(&p, buf, sizeof(buf)), t[i].out);
		} else {
			assert_int_not_equal(r, 0);
		}
	}
	assert_int_equal(prefix_parse("10.1.2.3", &p, 1), 0);
	assert_int_equal(p.len, 32);
}

static void
test_contains_overlaps(void **state)
{
	static const struct { const char *a, *b; int contains, overlaps; } t[] = {
		{ "100.96.0.0/11", "100.96.0.0/24", 1, 1 },
		{ "100.96.0.0/11", "100.127.255.0/24", 1, 1 },
		{ "100.96.0.0/11", "100.128.0.0/24", 0, 0 },
		{ "100.96.0.0/24", "100.96.0.0/11", 0, 1 },
		{ "10.0.0.0/18", "10.0.0.0/18", 1, 1 },
		{ "0.0.0.0/0", "192.168.0.0/22", 1, 1 },
		{ "10.0.0.0/8", "fd00::/8", 0, 0 },
		{ "fd00::/8", "fd12:3456::/32", 1, 1 },
		{ "10.0.0.0/31", "10.0.0.1/32", 1, 1 },
		{ "10.0.0.2/31", "10.0.0.1/32", 0, 0 },
	};
	struct prefix a, b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(prefix_parse(t[i].a, &a, 0), 0);
		assert_int_equal(prefix_parse(t[i].b, &b, 0), 0);
		assert_int_equal(!!prefix_contains(&a, &b), t[i].contains);
		assert_int_equal(!!prefix_overlaps(&a, &b), t[i].overlaps);
	}
}

static void
test_network(void **state)
{
	char buf[PREFIX_STRLEN];
	struct prefix p, n;

	(void)state;
	assert_int_equal(prefix_parse("100.96.0.100/11", &p, 0), 0);
	assert_false(prefix_is_network(&p));
	prefix_network(&p, &n);
	assert_string_equal(prefix_fmt(&n, buf, sizeof(buf)), "100.96.0.0/11");
	assert_true(prefix_is_network(&n));
	assert_int_equal(prefix_parse("2001:db8::1/48", &p, 0), 0);
	prefix_network(&p, &n);
	assert_string_equal(prefix_fmt(&n, buf, sizeof(buf)), "2001:db8::/48");
}

static void
test_set_merge(void **state)
{
	static const char *in[] = { "192.168.0.0/22", "100.96.0.0/11", "100.96.5.0/24",
		"192.168.1.0/24", "100.96.0.0/11", "10.9.0.0/16" };
	static const char *out[] = { "10.9.0.0/16", "100.96.0.0/11", "192.168.0.0/22" };
	struct prefix_set s = { 0 };
	char buf[PREFIX_STRLEN];
	struct prefix p;
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++) {
		assert_int_equal(prefix_parse(in[i], &p, 0), 0);
		assert_int_equal(prefix_set_add(&s, &p), 0);
	}
	assert_int_equal(s.n, 5);              /* duplicate dropped */
	prefix_set_merge(&s);
	assert_int_equal(s.n, 3);
	for (i = 0; i < 3; i++)
		assert_string_equal(prefix_fmt(&s.v[i], buf, sizeof(buf)), out[i]);
	assert_int_equal(prefix_parse("192.168.2.0/24", &p, 0), 0);
	assert_true(prefix_set_covers(&s, &p));
	prefix_set_free(&s);
}

/* The sorted sweep against the definition (quadratic, by hand): pushed
 * duplicates, host bits, both families, nested chains, a default route. */
static void
test_set_merge_sweep(void **state)
{
	static const struct { const char *in[8]; const char *out[6]; } t[] = {
		{ { "10.1.0.0/16", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "fd00::/8",
		    "fd00:1::/32", "10.2.0.0/16", NULL },
		  { "10.1.0.0/16", "10.2.0.0/16", "fd00::/8", NULL } },
		{ { "10.0.0.7/24", "10.0.0.0/25", "10.0.1.0/24", NULL },
		  { "10.0.0.7/24", "10.0.1.0/24", NULL } },
		{ { "10.3.0.0/24", "0.0.0.0/0", "2001:db8::/32", "::/0", NULL },
		  { "0.0.0.0/0", "::/0", NULL } },
		{ { "10.0.0.0/8", "11.0.0.0/8", "10.255.255.255/32", "12.0.0.0/7", "12.1.0.0/16",
		    NULL },
		  { "10.0.0.0/8", "11.0.0.0/8", "12.0.0.0/7", NULL } },
	};
	char buf[PREFIX_STRLEN];
	struct prefix p;
	size_t i, j, n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct prefix_set s = { 0 };

		for (j = 0; t[i].in[j] != NULL; j++) {
			assert_int_equal(prefix_parse(t[i].in[j], &p, 0), 0);
			assert_int_equal(prefix_set_push(&s, &p), 0);
		}
		prefix_set_merge(&s);
		for (n = 0; t[i].out[n] != NULL; n++)
			;
		assert_int_equal(s.n, n);
		for (j = 0; j < n; j++)
			assert_string_equal(prefix_fmt(&s.v[j], buf, sizeof(buf)), t[i].out[j]);
		prefix_set_free(&s);
	}
}

static void
test_endpoint(void **state)
{
	static const struct { const char *in; int ok; const char *host; uint16_t port; } t[] = {
		{ "hub.example.net:51820", 1, "hub.example.net", 51820 },
		{ "192.0.2.1:1", 1, "192.0.2.1", 1 },
		{ "[2001:db8::1]:51820", 1, "2001:db8::1", 51820 },
		{ "2001:db8::1:51820", 0, NULL, 0 },
		{ "hub:0", 0, NULL, 0 },
		{ "hub:65536", 0, NULL, 0 },
		{ "hub", 0, NULL, 0 },
		{ ":51820", 0, NULL, 0 },
		{ "hub:51820x", 0, NULL, 0 },
		{ "bad host:1", 0, NULL, 0 },
		{ "[::1:5", 0, NULL, 0 },
	};
	char host[256];
	uint16_t port;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = endpoint_split(t[i].in, host, sizeof(host), &port);
		if (t[i].ok) {
			assert_int_equal(r, 0);
			assert_string_equal(host, t[i].host);
			assert_int_equal(port, t[i].port);
		} else {
			assert_int_not_equal(r, 0);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_contains_overlaps),
		cmocka_unit_test(test_network),
		cmocka_unit_test(test_set_merge),
		cmocka_unit_test(test_set_merge_sweep),
		cmocka_unit_test(test_endpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
