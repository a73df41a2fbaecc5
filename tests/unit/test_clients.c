/*
 * Clients: address allocation (exhaustion, reuse after remove, IPv6), the
 * store's format and its validation, pushed routes and their aggregation,
 * profiles against golden files (tests/unit/data/clients/), QR size limits.
 */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/clients.h"
#include "agent/config.h"
#include "dataplane/noise.h"

#define PK1 "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define PK2 "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
#define SK1 "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
#define PK3 "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

static char datadir[1024];

static struct prefix
P(const char *s)
{
	struct prefix p;

	if (prefix_parse(s, &p, 1) != 0)
		fail_msg("bad prefix %s", s);
	return p;
}

static void
set_of(struct prefix_set *s, ...)
{
	va_list ap;
	const char *p;

	memset(s, 0, sizeof(*s));
	va_start(ap, s);
	while ((p = va_arg(ap, const char *)) != NULL) {
		struct prefix x = P(p);
		prefix_set_add(s, &x);
	}
	va_end(ap);
}

static const char *
alloc_str(const struct prefix_set *ov, const struct prefix_set *taken, char *b, size_t n)
{
	struct prefix a;

	if (clients_alloc(ov, taken, &a) < 0)
		return "ENOSPC";
	return prefix_fmt(&a, b, n);
}

static void
test_alloc_basic(void **state)
{
	struct prefix_set ov, taken;
	char b[PREFIX_STRLEN];

	(void)state;
	set_of(&ov, "100.96.0.0/11", NULL);
	set_of(&taken, NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "100.96.0.1/32");
	prefix_set_free(&taken);
	set_of(&taken, "100.96.0.1/32", "100.96.0.2/32", "100.96.0.4/32", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "100.96.0.3/32");
	prefix_set_free(&taken);
	/* a taken range (another connector's block) is skipped whole */
	set_of(&taken, "100.96.0.0/24", "100.96.1.1/32", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "100.96.1.0/32");
	prefix_set_free(&taken);
	/* unordered, chained ranges */
	set_of(&taken, "100.96.0.2/31", "100.96.0.1/32", "100.96.0.4/30", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "100.96.0.8/32");
	prefix_set_free(&taken);
	prefix_set_free(&ov);
}

static void
test_alloc_exhaustion(void **state)
{
	struct prefix_set ov, taken;
	char b[PREFIX_STRLEN];

	(void)state;
	/* a /30 has two hosts: .1 is the connector's, .2 the first client's */
	set_of(&ov, "10.9.0.0/30", NULL);
	set_of(&taken, "10.9.0.1/32", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "10.9.0.2/32");
	prefix_set_free(&taken);
	set_of(&taken, "10.9.0.1/32", "10.9.0.2/32", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "ENOSPC");   /* never .3 */
	prefix_set_free(&taken);
	prefix_set_free(&ov);
	set_of(&ov, "10.9.0.0/31", NULL);
	set_of(&taken, NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "ENOSPC");
	prefix_set_free(&ov);
	/* the next overlay prefix is used when the first is full */
	set_of(&ov, "10.9.0.0/30", "fd00:96::/120", NULL);
	set_of(&taken, "10.9.0.1/32", "10.9.0.2/32", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "fd00:96::1/128");
	prefix_set_free(&taken);
	prefix_set_free(&ov);
}

static void
test_alloc_reuse(void **state)
{
	struct config cfg;
	struct client_store cs = { 0 };
	struct prefix_set taken = { 0 };
	struct client c;
	struct buf err;
	char b[PREFIX_STRLEN];
	int i;
	static const char *text = "{ \"overlay\": [\"100.64.0.0/29\"], \"lan_interface\": \"eth0\","
	    "\"tunnel\": { \"address\": [\"100.64.0.1/29\"], \"peers\": [ { \"public_key\": \"" PK1
	    "\", \"allowed_ips\": [\"100.64.0.0/29\", \"10.1.0.0/16\"] }, { \"public_key\": \"" PK2
	    "\", \"allowed_ips\": [\"100.64.0.2/32\"] } ] } }";

	(void)state;
	buf_init(&err, 4096);
	assert_int_equal(config_parse("t.json", text, strlen(text), &cfg, &err), 0);
	/* .1 is ours, .2 another connector's, .7 broadcast: .3 .4 .5 .6 */
	for (i = 3; i <= 7; i++) {
		memset(&c, 0, sizeof(c));
		snprintf(c.name, sizeof(c.name), "c%d", i);
		c.public_key[0] = (uint8_t)i;
		prefix_set_free(&taken);
		assert_int_equal(clients_taken(&cfg, &cs, &taken), 0);
		if (i == 7) {
			assert_int_equal(clients_alloc(&cfg.overlay, &taken, &c.address), -ENOSPC);
			break;
		}
		assert_int_equal(clients_alloc(&cfg.overlay, &taken, &c.address), 0);
		snprintf(b, sizeof(b), "100.64.0.%d/32", i);
		{
			char got[PREFIX_STRLEN];
			assert_string_equal(prefix_fmt(&c.address, got, sizeof(got)), b);
		}
		assert_int_equal(clients_append(&cs, &c), 0);
	}
	/* remove c4: its address is the next one handed out */
	assert_int_equal(clients_find(&cs, "c4"), 1);
	clients_delete(&cs, 1);
	assert_int_equal(clients_find(&cs, "c4"), -1);
	prefix_set_free(&taken);
	assert_int_equal(clients_taken(&cfg, &cs, &taken), 0);
	assert_string_equal(alloc_str(&cfg.overlay, &taken, b, sizeof(b)), "100.64.0.4/32");
	prefix_set_free(&taken);
	clients_free(&cs);
	config_free(&cfg);
	buf_free(&err);
}

static void
test_alloc_ipv6(void **state)
{
	struct prefix_set ov, taken;
	char b[PREFIX_STRLEN];

	(void)state;
	set_of(&ov, "fd00:96::/64", NULL);
	set_of(&taken, "fd00:96::1/128", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "fd00:96::2/128");
	prefix_set_free(&taken);
	/* v4 addresses never block v6 */
	set_of(&taken, "0.0.0.1/32", "fd00:96::/127", "fd00:96::2/128", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "fd00:96::3/128");
	prefix_set_free(&taken);
	prefix_set_free(&ov);
	/* a whole /0 and a crossing of a byte boundary */
	set_of(&ov, "::/0", NULL);
	set_of(&taken, "::/120", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "::100/128");
	prefix_set_free(&taken);
	prefix_set_free(&ov);
	set_of(&ov, "fd00::/126", NULL);
	set_of(&taken, "fd00::1/128", "fd00::2/128", NULL);
	assert_string_equal(alloc_str(&ov, &taken, b, sizeof(b)), "ENOSPC");
	prefix_set_free(&taken);
	prefix_set_free(&ov);
}

static void
test_store_roundtrip(void **state)
{
	static const char *text = "{\"clients\": [{\"name\": \"alice\", \"public_key\": \"" PK1
	    "\", \"address\": \"100.96.0.7/32\", \"created\": \"2026-12-01T20:00:00Z\"},"
	    "{\"name\": \"bob.phone\", \"public_key\": \"" PK2 "\", \"address\": \"fd00::7/128\"}]}";
	struct client_store cs, cs2;
	struct buf err;
	char *s;

	(void)state;
	buf_init(&err, 4096);
	assert_int_equal(clients_parse("c.json", text, strlen(text), &cs, &err), 0);
	assert_int_equal(cs.n, 2);
	assert_string_equal(cs.v[0].name, "alice");
	assert_string_equal(cs.v[0].created, "2026-12-01T20:00:00Z");
	s = clients_format(&cs);
	assert_non_null(s);
	assert_non_null(strstr(s, "\"address\": \"fd00::7/128\""));
	assert_int_equal(clients_parse("c.json", s, strlen(s), &cs2, &err), 0);
	assert_int_equal(cs2.n, 2);
	assert_memory_equal(cs2.v[1].public_key, cs.v[1].public_key, 32);
	free(s);
	clients_free(&cs);
	clients_free(&cs2);
	buf_free(&err);
}

static void
test_store_bad(void **state)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ "[]", "not a clients file" },
		{ "{\"clients\": []} x", "not a clients file" },
		{ "{\"clients\": {}}", "\"clients\" must be an array" },
		{ "{\"clients\": [], \"x\": 1}", "unknown key \"x\"" },
		{ "{\"clients\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\"}]}",
		  "clients[0]: \"name\", \"public_key\" and \"address\" are required" },
		{ "{\"clients\": [{\"name\": \"a b\", \"public_key\": \"" PK1 "\", "
		  "\"address\": \"10.0.0.1/32\"}]}", "clients[0]: \"name\" must be" },
		{ "{\"clients\": [{\"name\": \"a\", \"public_key\": \"xx\", "
		  "\"address\": \"10.0.0.1/32\"}]}", "not a WireGuard key" },
		{ "{\"clients\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\", "
		  "\"address\": \"10.0.0.0/24\"}]}", "host prefix" },
		{ "{\"clients\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\", "
		  "\"address\": \"10.0.0.1/32\", \"private_key\": \"" SK1 "\"}]}",
		  "unknown key \"private_key\"" },
		{ "{\"clients\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\", "
		  "\"address\": \"10.0.0.1/32\"}, {\"name\": \"a\", \"public_key\": \"" PK2 "\", "
		  "\"address\": \"10.0.0.2/32\"}]}", "clients[1]: duplicate name" },
		{ "{\"clients\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\", "
		  "\"address\": \"10.0.0.1/32\"}, {\"name\": \"b\", \"public_key\": \"" PK2 "\", "
		  "\"address\": \"10.0.0.1/32\"}]}", "clients[1]: duplicate address" },
	};
	struct client_store cs;
	struct buf err;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		buf_init(&err, 4096);
		assert_int_equal(clients_parse("c.json", cases[i].text, strlen(cases[i].text),
		    &cs, &err), -EINVAL);
		if (strstr(err.data, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].msg, err.data);
		assert_int_equal(cs.n, 0);
		buf_free(&err);
	}
}

static void
test_names(void **state)
{
	(void)state;
	assert_true(clients_valid_name("alice"));
	assert_true(clients_valid_name("bob.phone-2_x"));
	assert_false(clients_valid_name(""));
	assert_false(clients_valid_name("-x"));
	assert_false(clients_valid_name(".x"));
	assert_false(clients_valid_name("../x"));
	assert_false(clients_valid_name("a b"));
	assert_true(clients_valid_name("01234567890123456789012345678901234567890123456"));
	assert_false(clients_valid_name("012345678901234567890123456789012345678901234567"));
}

static void
test_check(void **state)
{
	static const char *cfgtext = "{ \"overlay\": [\"100.64.0.0/24\"], \"lan_interface\": "
	    "\"eth0\", \"tunnel\": { \"address\": [\"100.64.0.1/24\"], \"peers\": [ "
	    "{ \"name\": \"hub\", \"public_key\": \"" PK1 "\", \"allowed_ips\": [\"100.64.0.0/24\", "
	    "\"10.0.0.0/8\"] }, { \"name\": \"site\", \"public_key\": \"" PK2 "\", "
	    "\"allowed_ips\": [\"100.64.0.8/29\"] } ] } }";
	static const char *clients = "{\"clients\": ["
	    "{\"name\": \"ok\", \"public_key\": \"" PK1 "\", \"address\": \"100.64.0.2/32\"},"
	    "{\"name\": \"out\", \"public_key\": \"" PK2 "\", \"address\": \"100.65.0.2/32\"},"
	    "{\"name\": \"me\", \"public_key\": \"" SK1 "\", \"address\": \"100.64.0.1/32\"},"
	    "{\"name\": \"in\", \"public_key\": \"" PK3 "\", \"address\": \"100.64.0.9/32\"}]}";
	struct client_store cs;
	struct config cfg;
	struct buf err, out;

	(void)state;
	buf_init(&err, 4096);
	buf_init(&out, 4096);
	assert_int_equal(config_parse("t.json", cfgtext, strlen(cfgtext), &cfg, &err), 0);
	assert_int_equal(clients_parse("c.json", clients, strlen(clients), &cs, &err), 0);
	assert_int_equal(clients_check(&cfg, &cs, &out), 3);
	assert_non_null(strstr(out.data, "client out: address 100.65.0.2/32 is outside the overlay"));
	assert_non_null(strstr(out.data, "client me: address 100.64.0.1/32 is this connector's"));
	assert_non_null(strstr(out.data, "client in: address 100.64.0.9/32 is inside peer site's "
	    "allowed IP 100.64.0.8/29"));
	assert_null(strstr(out.data, "client ok"));
	clients_free(&cs);
	config_free(&cfg);
	buf_free(&err);
	buf_free(&out);
}

static void
test_aggregate(void **state)
{
	struct prefix_set s;
	char b[PREFIX_STRLEN];

	(void)state;
	set_of(&s, "10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/23", "10.0.3.7/32", "192.168.1.0/24",
	    "192.168.3.0/24", "fd00::/65", "fd00:0:0:0:8000::/65", NULL);
	clients_aggregate(&s);
	assert_int_equal(s.n, 4);
	assert_string_equal(prefix_fmt(&s.v[0], b, sizeof(b)), "10.0.0.0/22");
	assert_string_equal(prefix_fmt(&s.v[1], b, sizeof(b)), "192.168.1.0/24");
	assert_string_equal(prefix_fmt(&s.v[2], b, sizeof(b)), "192.168.3.0/24");
	assert_string_equal(prefix_fmt(&s.v[3], b, sizeof(b)), "fd00::/64");
	prefix_set_free(&s);
}

static void
golden(const char *name, const char *got)
{
	char path[1200];
	struct buf want;

	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	buf_init(&want, 1 << 16);
	if (getenv("UPDATE_GOLDEN") != NULL)
		file_write_atomic(path, got, strlen(got), 0644);
	if (file_read(path, 1 << 16, &want) != 0)
		fail_msg("cannot read %s", path);
	assert_string_equal(got, want.data);
	buf_free(&want);
}

static void
profile_for(const char *cfgtext, int full, int keep, struct buf *out, struct buf *err)
{
	struct client_profile pr;
	struct prefix_set routes = { 0 };
	struct config cfg;
	int r;

	assert_int_equal(config_parse("t.json", cfgtext, strlen(cfgtext), &cfg, err), 0);
	memset(&pr, 0, sizeof(pr));
	r = clients_routes(&cfg, full, &routes, err);
	if (r < 0) {
		config_free(&cfg);
		buf_printf(out, "error %d", r);
		return;
	}
	pr.has_private_key = keep;
	assert_int_equal(dp_key_from_base64(pr.private_key, SK1), 0);
	assert_int_equal(dp_key_from_base64(pr.server_public_key, PK1), 0);
	pr.address = P("100.96.0.7/32");
	cr_strlcpy(pr.endpoint, "vpn.example.net:51820", sizeof(pr.endpoint));
	pr.allowed_ips = &routes;
	pr.keepalive = 25;
	assert_int_equal(clients_render(&pr, out), 0);
	prefix_set_free(&routes);
	config_free(&cfg);
}

#define CFG_SITE "{ \"overlay\": [\"100.96.0.0/11\"], \"lan_interface\": \"eth0\", " \
	"\"local_subnets\": [\"10.0.0.0/18\", \"10.0.64.0/18\"], %s " \
	"\"tunnel\": { \"address\": [\"100.96.0.100/11\"], \"peers\": [ { \"name\": \"hq\", " \
	"\"public_key\": \"" PK2 "\", \"allowed_ips\": [\"100.96.0.0/11\", \"192.168.0.0/24\", " \
	"\"192.168.1.0/24\", \"fd10::/48\"] } ] } }"

static void
test_profile_golden(void **state)
{
	char cfgtext[2048];
	struct buf out, err;

	(void)state;
	buf_init(&out, 1 << 16);
	buf_init(&err, 4096);
	snprintf(cfgtext, sizeof(cfgtext), CFG_SITE, "");
	profile_for(cfgtext, 0, 1, &out, &err);
	golden("profile_site.conf", out.data);
	buf_reset(&out);
	profile_for(cfgtext, 0, 0, &out, &err);
	golden("profile_nokey.conf", out.data);
	buf_reset(&out);
	profile_for(cfgtext, 1, 1, &out, &err);
	assert_string_equal(out.data, "error -1");
	assert_non_null(strstr(err.data, "egress"));
	buf_reset(&out);
	snprintf(cfgtext, sizeof(cfgtext), CFG_SITE, "\"egress\": true,");
	profile_for(cfgtext, 1, 1, &out, &err);
	golden("profile_full.conf", out.data);
	buf_free(&out);
	buf_free(&err);
}

static void
test_qr(void **state)
{
	struct buf out, err;
	char *big;

	(void)state;
	buf_init(&out, 1 << 20);
	buf_init(&err, 4096);
	assert_int_equal(clients_qr("[Interface]\nAddress = 100.96.0.7/32\n", &out, &err), 0);
	assert_non_null(strstr(out.data, "\xe2\x96\x88"));
	/* version 2 (25 modules) + 2x2 quiet zone = 29 columns, 15 lines */
	{
		size_t lines = 0;
		for (const char *p = out.data; *p; p++)
			lines += *p == '\n';
		assert_in_range(lines, 11, 20);
	}
	big = malloc(CLIENTS_QR_MAX + 2);
	memset(big, 'A', CLIENTS_QR_MAX + 1);
	big[CLIENTS_QR_MAX + 1] = '\0';
	buf_reset(&out);
	assert_int_equal(clients_qr(big, &out, &err), -E2BIG);
	assert_non_null(strstr(err.data, "too big for a QR code"));
	big[CLIENTS_QR_MAX] = '\0';
	buf_reset(&err);
	assert_int_equal(clients_qr(big, &out, &err), 0);      /* version 40 holds it */
	free(big);
	buf_free(&out);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_basic),
		cmocka_unit_test(test_alloc_exhaustion),
		cmocka_unit_test(test_alloc_reuse),
		cmocka_unit_test(test_alloc_ipv6),
		cmocka_unit_test(test_store_roundtrip),
		cmocka_unit_test(test_store_bad),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_aggregate),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_profile_golden),
		cmocka_unit_test(test_qr),
	};
	char src[1024];

	cr_strlcpy(src, __FILE__, sizeof(src));
	snprintf(datadir, sizeof(datadir), "%s/data/clients", dirname(src));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
