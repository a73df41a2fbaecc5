/* Operating it: the "firewall" and "metrics" config keys, and the accepts
 * rendered for other firewalls' chains (netcfg/firewall.c, no kernel). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <libgen.h>
#include <sched.h>
#include <unistd.h>
#include <json-c/json.h>

#include "agent/config.h"
#include "netcfg/nc_internal.h"
#include "netcfg/netcfg.h"

static char datadir[1024];

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

/* The chains of a canned `nft -j list ruleset` (made in a namespace with
 * iptables-nft as Docker does, plus firewalld's layout). */
static size_t
scan_file(const char *name, struct nc_fw_chain **v)
{
	char path[1200];
	struct json_object *root, *arr;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	assert_non_null(root = json_object_from_file(path));
	assert_true(json_object_object_get_ex(root, "nftables", &arr));
	assert_int_equal(nc_fw_scan_array(arr, v, &n), 0);
	json_object_put(root);
	return n;
}

static const struct nc_fw_chain *
chain_of(const struct nc_fw_chain *v, size_t n, const char *table, const char *chain)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i].table, table) == 0 && strcmp(v[i].chain, chain) == 0)
			return &v[i];
	fail_msg("no chain %s %s", table, chain);
	return NULL;
}

static void
test_scan(void **state)
{
	struct nc_fw_chain *v = NULL;
	const struct nc_fw_chain *c;
	size_t n;

	(void)state;
	n = scan_file("docker-firewalld.json", &v);
	/* Docker's FORWARD, firewalld's filter_FORWARD, the chain holding a
	 * rule of ours in ip6 x; never our own table. */
	assert_int_equal(n, 3);
	c = chain_of(v, n, "filter", "FORWARD");
	assert_string_equal(c->family, "ip");
	assert_string_equal(c->tool, "Docker");
	assert_string_equal(c->target, "DOCKER-USER");
	assert_true(c->drops && c->policy_drop && c->xt);
	assert_int_equal(c->n_ours, 1);
	assert_true(c->ours_first);
	assert_string_equal(c->mark, "cloudroute:0123abcd");
	assert_int_equal(c->handles[0], 7);
	c = chain_of(v, n, "firewalld", "filter_FORWARD");
	assert_string_equal(c->tool, "firewalld");
	assert_true(c->drops && !c->policy_drop && !c->xt);
	assert_int_equal(c->n_ours, 0);
	c = chain_of(v, n, "x", "keep");
	assert_false(c->drops);
	assert_int_equal(c->n_ours, 1);
	free(v);
	/* The same with Docker's RETURN above ours: no longer first. */
	n = scan_file("docker-ours-below.json", &v);
	c = chain_of(v, n, "filter", "FORWARD");
	assert_int_equal(c->n_ours, 1);
	assert_false(c->ours_first);
	free(v);
}

/* The nftables monitor, in a network namespace of this process's own
 * (unshare: the machine's ruleset is never touched). */
static void
test_nft_monitor(void **state)
{
	int fd;

	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) < 0) {
		print_message("needs root (a network namespace of its own): skipped\n");
		skip();
	}
	assert_true((fd = nc_nft_monitor_open()) >= 0);
	assert_int_equal(nc_nft_monitor_drain(fd), 0);
	/* Our own commit is not news... */
	assert_int_equal(nc_nft_script("add table inet crmon1", 0, NULL, "t"), 0);
	assert_int_equal(nc_nft_monitor_drain(fd), 0);
	/* ...another process's is (as when Docker rewrites its chains). */
	assert_int_equal(system("nft add table inet crmon2"), 0);
	assert_int_equal(nc_nft_monitor_drain(fd), 1);
	assert_int_equal(nc_nft_monitor_drain(fd), 0);
	nc_monitor_close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_config_bad),
		cmocka_unit_test(test_render),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_nft_monitor),    /* last: it leaves the namespace */
	};
	char src[1024];

	cr_strlcpy(src, __FILE__, sizeof(src));
	snprintf(datadir, sizeof(datadir), "%s/data/nft", dirname(src));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
