/* Config validation: good configs, and bad ones with exact error positions. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/config.h"
#include "agent/jsonpos.h"
#include "dataplane/noise.h"

#define PK "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="

static int
parse(const char *text, struct config *cfg, struct buf *err)
{
	buf_init(err, 64 * 1024);
	return config_parse("t.json", text, strlen(text), cfg, err);
}

static void
test_defaults(void **state)
{
	struct config cfg;
	struct buf err;
	char b[PREFIX_STRLEN];

	(void)state;
	assert_int_equal(parse("{ // comment\n \"lan_interface\": \"eth0\" /* c */ }", &cfg, &err), 0);
	assert_int_equal(cfg.overlay.n, 1);
	assert_string_equal(prefix_fmt(&cfg.overlay.v[0], b, sizeof(b)), "100.96.0.0/11");
	assert_true(cfg.nat_masquerade);
	assert_true(cfg.nat_mss_clamp);
	assert_false(cfg.egress);
	assert_int_equal(cfg.rp_filter, RP_OFF);
	assert_int_equal(cfg.tunnel.mode, TUNNEL_USERSPACE);
	assert_string_equal(cfg.tunnel.interface, "cr0");
	assert_int_equal(cfg.tunnel.listen_port, 51820);
	assert_int_equal(cfg.tunnel.mtu, 1420);
	assert_string_equal(cfg.cloud.provider, "auto");
	assert_int_equal(cfg.cloud.takeover, TAKEOVER_BLACKHOLE);
	assert_string_equal(cfg.state_dir, "/var/lib/cloudroute");
	assert_int_equal(cfg.reconcile_interval, 60);
	assert_true(cfg.local_subnets_derived);
	config_free(&cfg);
	buf_free(&err);
}

static void
test_full(void **state)
{
	static const char *text =
	    "{\n"
	    "  \"overlay\": [\"100.96.0.0/11\"],\n"
	    "  \"lan_interface\": \"eth0\",\n"
	    "  \"local_subnets\": [\"10.0.0.0/18\"],\n"
	    "  \"nat\": { \"masquerade\": true, \"exclude\": [\"10.0.0.0/18\"], \"mss_clamp\": true },\n"
	    "  \"egress\": false,\n"
	    "  \"rp_filter\": \"loose\",\n"
	    "  \"port_forwards\": [ { \"protocol\": \"tcp\", \"port\": 33000, \"to\": \"192.168.100.30:8080\" } ],\n"
	    "  \"tunnel\": { \"mode\": \"userspace\", \"interface\": \"cr0\", \"routes\": [],\n"
	    "    \"private_key_file\": \"/etc/cloudroute/private.key\", \"listen_port\": 51820,\n"
	    "    \"address\": [\"100.96.0.100/11\"], \"mtu\": 1420,\n"
	    "    \"peers\": [ { \"name\": \"hub\", \"public_key\": \"" PK "\",\n"
	    "      \"endpoint\": \"hub.example.net:51820\", \"allowed_ips\": [\"100.96.0.0/11\", \"192.168.0.0/22\"],\n"
	    "      \"persistent_keepalive\": 25 } ] },\n"
	    "  \"cloud\": { \"provider\": \"aws\", \"source_dest_check\": \"disable\", \"route_tables\": [\"rtb-1\"],\n"
	    "    \"routes\": \"auto\", \"ha_group\": \"hq\", \"takeover\": \"group\" },\n"
	    "  \"state_dir\": \"/tmp/x\", \"sysctl_file\": \"/tmp/x.conf\", \"reconcile_interval\": 30\n"
	    "}\n";
	struct config cfg;
	struct buf err;
	struct prefix_set t = { 0 };

	(void)state;
	assert_int_equal(parse(text, &cfg, &err), 0);
	assert_int_equal(cfg.rp_filter, RP_LOOSE);
	assert_int_equal(cfg.n_fwds, 1);
	assert_int_equal(cfg.fwds[0].port, 33000);
	assert_int_equal(cfg.fwds[0].to_port, 8080);
	assert_int_equal(cfg.tunnel.n_peers, 1);
	assert_string_equal(cfg.tunnel.peers[0].name, "hub");
	assert_int_equal(cfg.tunnel.peers[0].keepalive, 25);
	assert_int_equal(cfg.tunnel.peers[0].allowed_ips.n, 2);
	assert_int_equal(cfg.cloud.n_route_tables, 1);
	assert_string_equal(cfg.cloud.route_tables[0], "rtb-1");
	assert_int_equal(cfg.cloud.takeover, TAKEOVER_GROUP);
	assert_int_equal(cfg.reconcile_interval, 30);
	config_tunnel_prefixes(&cfg, &t);
	assert_int_equal(t.n, 2);
	prefix_set_free(&t);
	config_free(&cfg);
	buf_free(&err);
}

/* Each bad input and the exact message prefix (file:line:col: ...). */
static const struct {
	const char *name, *text, *want;
} bad[] = {
	{ "truncated", "{\n  \"overlay\": [\"100.96.0.0/11\"",
	  "t.json:2:30: unexpected end of file" },
	{ "syntax", "{\n  \"egress\": tru\n}", "t.json:2:" },
	{ "unknown key", "{\n  \"egres\": true\n}", "t.json:2:3: unknown key \"egres\"" },
	{ "unknown nested key", "{ \"nat\": {\n    \"masq\": true } }",
	  "t.json:2:5: unknown key \"masq\" in nat" },
	{ "wrong type bool", "{\n  \"egress\": \"yes\"\n}",
	  "t.json:2:13: egress: expected true or false, got a string" },
	{ "wrong type array", "{ \"overlay\": \"100.96.0.0/11\" }",
	  "t.json:1:14: overlay: expected an array of prefixes, got a string" },
	{ "bad cidr", "{\n  \"overlay\": [\"100.96.0.0/11\",\n    \"100.300.0.0/11\"]\n}",
	  "t.json:3:5: overlay[1]: \"100.300.0.0/11\" is not a valid prefix" },
	{ "host bits", "{ \"local_subnets\": [\"10.0.0.5/18\"] }",
	  "t.json:1:21: local_subnets[0]: \"10.0.0.5/18\" has host bits set (did you mean \"10.0.0.0/18\"?)" },
	{ "duplicate key", "{\n  \"egress\": true,\n  \"egress\": false\n}",
	  "t.json:3:3: duplicate key \"egress\"" },
	{ "duplicate peer", "{ \"tunnel\": { \"peers\": [\n"
	  "  { \"name\": \"a\", \"public_key\": \"" PK "\", \"allowed_ips\": [] },\n"
	  "  { \"name\": \"a\", \"public_key\": \"" PK "\", \"allowed_ips\": [] } ] } }",
	  "t.json:3:13: tunnel.peers[1].name: duplicate peer name \"a\"" },
	{ "bad key", "{ \"tunnel\": { \"peers\": [ { \"public_key\": \"abc\", \"allowed_ips\": [] } ] } }",
	  "t.json:1:42: tunnel.peers[0].public_key: not a WireGuard key" },
	{ "bad port", "{ \"tunnel\": { \"listen_port\": 70000 } }",
	  "t.json:1:30: tunnel.listen_port: 70000 is out of range (0..65535)" },
	{ "bad endpoint", "{ \"tunnel\": { \"peers\": [ { \"public_key\": \"" PK "\",\n"
	  "  \"endpoint\": \"hub.example.net\", \"allowed_ips\": [] } ] } }",
	  "t.json:2:15: tunnel.peers[0].endpoint: \"hub.example.net\" is not host:port" },
	{ "bad ifname", "{ \"lan_interface\": \"eth0/1\" }",
	  "t.json:1:20: lan_interface: \"eth0/1\" is not a valid interface name" },
	{ "relative path", "{ \"state_dir\": \"var/lib\" }",
	  "t.json:1:16: state_dir: \"var/lib\" must be an absolute path" },
	{ "bad enum", "{ \"rp_filter\": \"strict\" }",
	  "t.json:1:16: rp_filter: \"strict\" is not valid (expected \"off\" or \"loose\" or \"leave\")" },
	{ "bad fwd target", "{ \"tunnel\": { \"address\": [\"100.96.0.1/11\"] },\n"
	  "  \"port_forwards\": [ { \"protocol\": \"tcp\", \"port\": 1, \"to\": \"nope\" } ] }",
	  "t.json:2:60: port_forwards[0].to: \"nope\" is not an address:port" },
	{ "not an object", "[1, 2]", "t.json:1:1: the configuration must be a JSON object" },
	{ "trailing garbage", "{ } }", "t.json:1:5: unexpected data after the configuration object" },
	{ "fwd without address", "{ \"port_forwards\": [ { \"protocol\": \"tcp\", \"port\": 1, \"to\": \"10.0.0.1:2\" } ] }",
	  "t.json:1:3: port_forwards need tunnel.address" },
	{ "routes in userspace", "{ \"tunnel\": { \"routes\": [\"10.0.0.0/8\"] } }",
	  "t.json:1:15: tunnel.routes is for external mode only" },
	{ "unknown provider", "{ \"cloud\": { \"provider\": \"vax\" } }",
	  "t.json:1:26: cloud.provider: \"vax\" is not valid" },
	{ "gcp table ids", "{ \"cloud\": { \"provider\": \"gcp\", \"route_tables\": [\"x\"] } }",
	  "t.json:1:49: cloud.route_tables: GCP routes are network-wide" },
	{ "interval", "{ \"reconcile_interval\": 1.5 }",
	  "t.json:1:25: reconcile_interval: expected an integer, got a number" },
};

static void
test_bad(void **state)
{
	struct config cfg;
	struct buf err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = parse(bad[i].text, &cfg, &err);
		if (r == 0 || err.data == NULL ||
		    strncmp(err.data, bad[i].want, strlen(bad[i].want)) != 0) {
			print_error("case \"%s\": got r=%d \"%s\", want \"%s...\"\n", bad[i].name, r,
			    err.data ? err.data : "(nothing)", bad[i].want);
			fail();
		}
		buf_free(&err);
	}
}

#define PK2 "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

/* tunnel.peers[0] with name and endpoint of those lengths, peer 1 without
 * either (backup of peer 0); 0 or what parse() says. */
static int
parse_lengths(size_t name_len, size_t host_len, struct config *cfg, struct buf *err)
{
	char name[300], host[300], text[1200];

	memset(name, 'n', name_len);
	name[name_len] = '\0';
	memset(host, 'h', host_len);
	host[host_len] = '\0';
	snprintf(text, sizeof(text), "{ \"tunnel\": { \"peers\": [ { \"name\": \"%s\", "
	    "\"public_key\": \"" PK "\", \"endpoint\": \"%s:51820\", "
	    "\"allowed_ips\": [\"10.1.0.0/16\", \"10.2.0.0/16\"] },\n"
	    "  { \"public_key\": \"" PK2 "\", \"allowed_ips\": [\"10.3.0.0/16\"], "
	    "\"backup_for\": \"%s\" } ] } }", name, host, name);
	return parse(text, cfg, err);
}

/* Peer names and endpoints: the same limits as ever (63 and 255
 * characters), held as exactly what was given; the default name; absent
 * endpoint and backup_for are NULL; prefix lists without slack. */
static void
test_peer_strings(void **state)
{
	struct config cfg;
	struct buf err;
	char *dump = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(parse_lengths(63, 249, &cfg, &err), 0);
	assert_int_equal(strlen(cfg.tunnel.peers[0].name), 63);
	assert_true(cfg.tunnel.peers[0].has_endpoint);
	assert_int_equal(strlen(cfg.tunnel.peers[0].endpoint), 255);
	assert_null(cfg.tunnel.peers[0].backup_for);
	assert_int_equal(cfg.tunnel.peers[0].allowed_ips.cap, 2);
	assert_string_equal(cfg.tunnel.peers[1].name, "peer1");
	assert_false(cfg.tunnel.peers[1].has_endpoint);
	assert_null(cfg.tunnel.peers[1].endpoint);
	assert_string_equal(cfg.tunnel.peers[1].backup_for, cfg.tunnel.peers[0].name);
	assert_int_equal(cfg.tunnel.peers[1].backup_of, 1);
	assert_int_equal(cfg.tunnel.peers[1].allowed_ips.cap, 1);
	assert_non_null(f = open_memstream(&dump, &len));
	config_dump(&cfg, f);
	fclose(f);
	assert_non_null(strstr(dump, "\"backup_for\": \"nnnn"));
	assert_int_equal(strstr(strstr(dump, "\"peer1\""), "\"endpoint\""), NULL);
	free(dump);
	config_free(&cfg);
	buf_free(&err);

	assert_int_equal(parse_lengths(64, 10, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.data, "t.json:1:36: tunnel.peers[0].name: must be 1-63 characters"));
	assert_non_null(strstr(err.data, "tunnel.peers[1].backup_for: must name a peer (1-63 characters)"));
	buf_free(&err);
	assert_int_equal(parse_lengths(8, 250, &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.data, "tunnel.peers[0].endpoint: \"hhhhh"));
	assert_non_null(strstr(err.data, "hhh:51820\" is not host:port"));
	buf_free(&err);
}

static void
test_jpos(void **state)
{
	static const char *text = "{\n  \"a\": { \"b\": [1, \"x\"] },\n  // c\n  \"d\": null\n}";
	struct jpos jp;
	unsigned int l, c;

	(void)state;
	assert_int_equal(jpos_scan(text, strlen(text), &jp), 0);
	assert_int_equal(jpos_find(&jp, "/a/b/1", 0, &l, &c), 0);
	assert_int_equal(l, 2);
	assert_int_equal(c, 19);
	assert_int_equal(jpos_find(&jp, "/d", 1, &l, &c), 0);
	assert_int_equal(l, 4);
	assert_int_equal(c, 3);
	assert_int_equal(jpos_find(&jp, "/zz", 0, &l, &c), -ENOENT);
	assert_false(jp.has_dup);
	jpos_free(&jp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_peer_strings),
		cmocka_unit_test(test_jpos),
	};
	noise_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
