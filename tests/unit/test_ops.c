/* Operating it: the "firewall" and "metrics" config keys, and the accepts
 * rendered for other firewalls' chains (netcfg/firewall.c, no kernel). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "agent/config.h"
#include "netcfg/netcfg.h"

static int
parse(const char *text, struct config *cfg, struct buf *err)
{
	buf_init(err, 64 * 1024);
	return config_parse("t.json", text, strlen(text), cfg, err);
}

static void
test_config_keys(void **state)
{
	struct config cfg;
	struct buf err;

	(void)state;
	assert_int_equal(parse("{}", &cfg, &err), 0);
	assert_int_equal(cfg.firewall, FIREWALL_INTEGRATE);
	assert_string_equal(cfg.metrics_listen, "");
	config_free(&cfg);
	buf_free(&err);
	assert_int_equal(parse("{ \"firewall\": \"leave\", \"metrics\": { \"listen\": "
	    "\"[::1]:9586\" } }", &cfg, &err), 0);
	assert_int_equal(cfg.firewall, FIREWALL_LEAVE);
	assert_string_equal(cfg.metrics_listen, "[::1]:9586");
	config_free(&cfg);
	buf_free(&err);
}

static void
test_config_bad(void **state)
{
	static const struct { const char *text, *msg; } bad[] = {
		{ "{ \"firewall\": \"off\" }", "t.json:1:15: firewall: \"off\" is not valid (expected \"integrate\" or \"leave\")" },
		{ "{ \"metrics\": { \"listen\": \"localhost:9586\" } }", "t.json:1:26: metrics.listen: \"localhost:9586\" is not address:port" },
		{ "{ \"metrics\": { \"listen\": \"127.0.0.1\" } }", "metrics.listen: \"127.0.0.1\" is not address:port" },
		{ "{ \"metrics\": { \"listen\": \"127.0.0.1:0\" } }", "is not address:port" },
		{ "{ \"metrics\": { \"port\": 1 } }", "unknown key \"port\"" },
		{ "{ \"metrics\": true }", "metrics: expected an object" },
	};
	struct config cfg;
	struct buf err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(bad[i].text, &cfg, &err), -EINVAL);
		if (strstr(err.data, bad[i].msg) == NULL) {
			print_error("%s: got %s\n", bad[i].text, err.data);
			buf_free(&err);
			fail();
		}
		buf_free(&err);
	}
}

static void
spec_init(struct nc_fw_spec *s, struct prefix_set *side, struct prefix_set *local, int egress)
{
	struct prefix p;

	memset(side, 0, sizeof(*side));
	memset(local, 0, sizeof(*local));
	prefix_parse("100.96.0.0/11", &p, 0);
	prefix_set_add(side, &p);
	prefix_parse("fd00:96::/64", &p, 0);
	prefix_set_add(side, &p);
	prefix_parse("10.0.0.0/18", &p, 0);
	prefix_set_add(local, &p);
	memset(s, 0, sizeof(*s));
	s->lan_if = "eth0";
	s->tun_if = "cr0";
	s->tunnel_side = side;
	s->local_subnets = local;
	s->egress = egress;
}

static void
test_render(void **state)
{
	struct nc_fw_chain c;
	struct nc_fw_spec s;
	struct prefix_set side, local;
	struct buf b, sc;
	char mark[32];
	const char *m;

	(void)state;
	spec_init(&s, &side, &local, 0);
	memset(&c, 0, sizeof(c));
	snprintf(c.family, sizeof(c.family), "ip");
	snprintf(c.table, sizeof(c.table), "filter");
	snprintf(c.target, sizeof(c.target), "DOCKER-USER");
	c.xt = 1;
	buf_init(&b, 65536);
	assert_int_equal(nc_fw_render(&s, &c, &b), 0);
	/* IPv4 only in an ip table: one pair, both directions. */
	assert_non_null(strstr(b.data, "iifname \"cr0\" oifname \"eth0\" ip saddr 100.96.0.0/11 "
	    "ip daddr 10.0.0.0/18 counter accept comment \"cloudroute:"));
	assert_non_null(strstr(b.data, "iifname \"eth0\" oifname \"cr0\" ip saddr 10.0.0.0/18 "
	    "ip daddr 100.96.0.0/11 counter accept"));
	assert_null(strstr(b.data, "ip6"));
	m = strstr(b.data, "cloudroute:");
	snprintf(mark, sizeof(mark), "%.19s", m);
	/* In sync only with the same mark, count and position. */
	assert_false(nc_fw_in_sync(&c, b.data));
	c.n_ours = 2;
	c.ours_first = 1;
	snprintf(c.mark, sizeof(c.mark), "%s", mark);
	assert_true(nc_fw_in_sync(&c, b.data));
	c.ours_first = 0;
	assert_false(nc_fw_in_sync(&c, b.data));
	c.ours_first = 1;
	c.mark[12] ^= 1;
	assert_false(nc_fw_in_sync(&c, b.data));
	/* The script deletes ours by handle, then inserts: last rule first. */
	c.handles[0] = 7;
	c.handles[1] = 9;
	buf_init(&sc, 65536);
	assert_int_equal(nc_fw_script(&c, b.data, &sc), 0);
	assert_true(strncmp(sc.data, "delete rule ip filter DOCKER-USER handle 7\n"
	    "delete rule ip filter DOCKER-USER handle 9\n"
	    "insert rule ip filter DOCKER-USER iifname \"eth0\"", 130) == 0);
	buf_free(&sc);
	buf_free(&b);

	/* inet with egress: both families, replies by conntrack. */
	snprintf(c.family, sizeof(c.family), "inet");
	c.xt = 0;
	s.egress = 1;
	buf_init(&b, 65536);
	assert_int_equal(nc_fw_render(&s, &c, &b), 0);
	assert_non_null(strstr(b.data, "iifname \"cr0\" oifname \"eth0\" ip6 saddr fd00:96::/64 counter"));
	assert_non_null(strstr(b.data, "ip daddr 100.96.0.0/11 ct state established,related counter accept"));
	/* ... but never a ct match in an iptables-nft table. */
	c.xt = 1;
	buf_reset(&b);
	assert_int_equal(nc_fw_render(&s, &c, &b), 0);
	assert_null(strstr(b.data, "ct state"));
	buf_free(&b);
	prefix_set_free(&side);
	prefix_set_free(&local);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_config_bad),
		cmocka_unit_test(test_render),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
