/* State round trip, plan counting/printing, cloud prefix derivation. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "agent/cloud.h"
#include "agent/config.h"
#include "agent/desired.h"
#include "agent/plan.h"
#include "agent/state.h"
#include "dataplane/noise.h"

static void
test_state_roundtrip(void **state)
{
	char dir[] = "/tmp/cr-state-XXXXXX", path[300];
	struct state st, st2;
	struct json_object *sys, *o, *got;
	struct stat sb;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(state_load(dir, &st), 0);       /* absent = empty */
	sys = state_obj(&st, "sysctl", 1);
	o = json_object_new_object();
	state_set_str(o, "original", "1");
	state_set_str(o, "set", "0");
	json_object_object_add(sys, "net.ipv4.conf.eth0.rp_filter", o);
	state_set_str(st.root, "sysctl_file", "/tmp/x.conf");
	state_set_last(&st, 0, "first error\nsecond error\n");
	assert_int_equal(state_save(&st), 0);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(state_load(dir, &st2), 0);
	assert_string_equal(state_str(st2.root, "sysctl_file"), "/tmp/x.conf");
	assert_true(json_object_object_get_ex(state_obj(&st2, "sysctl", 0),
	    "net.ipv4.conf.eth0.rp_filter", &got));
	assert_string_equal(state_str(got, "original"), "1");
	assert_int_equal(json_object_array_length(json_object_object_get(
	    state_obj(&st2, "last", 0), "errors")), 2);
	assert_true(json_object_equal(st.root, st2.root));
	/* A foreign file is refused, not overwritten. */
	state_free(&st2);
	FILE *f = fopen(path, "w");
	fputs("{\"something\": 1}", f);
	fclose(f);
	assert_int_equal(state_load(dir, &st2), -EINVAL);
	assert_int_equal(state_remove(&st), 0);
	assert_int_not_equal(access(path, F_OK), 0);
	state_free(&st);
	rmdir(dir);
}

static void
test_plan_count(void **state)
{
	struct prov_change c;
	struct plan p;
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	memset(&p, 0, sizeof(p));
	plan_add(&p, SEC_HOST, ACT_NOTE, '.', "a note");
	assert_int_equal(plan_changes(&p), 0);
	plan_add(&p, SEC_HOST, ACT_SYSCTL, '~', "sysctl net.ipv4.ip_forward 0 -> 1");
	plan_add(&p, SEC_HOST, ACT_CONFLICT, '!', "route 10.0.0.0/8 (not ours, left alone)");
	memset(&c, 0, sizeof(c));
	c.action = PROV_CREATE;
	c.table = (char *)"rtb-0abc";
	prefix_parse("100.96.0.0/11", &c.dst, 0);
	c.target = (char *)"eni-0123";
	c.note = (char *)"(this connector)";
	prov_plan_add(&p.cloud, &c);
	c.action = PROV_CONFLICT;
	prov_plan_add(&p.cloud, &c);
	assert_int_equal(plan_changes(&p), 2);
	assert_int_equal(plan_conflicts(&p), 2);
	f = open_memstream(&out, &len);
	plan_print(&p, f, 0);
	fclose(f);
	assert_non_null(strstr(out, "host:\n  ~ sysctl net.ipv4.ip_forward 0 -> 1\n"));
	assert_null(strstr(out, "a note"));
	assert_non_null(strstr(out, "cloud:\n  + cloud route rtb-0abc 100.96.0.0/11 -> eni-0123 (this connector)\n"));
	assert_non_null(strstr(out, "2 changes pending"));
	free(out);
	plan_free(&p);
}

/* The strings of many actions in the arena, a long line cut at
 * PLAN_TEXT_MAX - 1, long keys whole, reserve at the exact count. */
static void
test_plan_strings(void **state)
{
	char big[1000], want[64];
	struct action *a;
	struct plan p;
	size_t i;

	(void)state;
	memset(&p, 0, sizeof(p));
	plan_reserve(&p, 10000);
	assert_int_equal(p.cap, 10000);
	for (i = 0; i < 10000; i++) {
		a = plan_add(&p, SEC_HOST, ACT_ROUTE_ADD, '+', "route 10.%zu.%zu.0/24 dev wg0",
		    i >> 8, i & 255);
		assert_string_equal(a->key, "");
		assert_string_equal(a->val, "");
		assert_string_equal(a->from, "");
	}
	assert_int_equal(p.cap, 10000);
	for (i = 0; i < 10000; i += 997) {
		snprintf(want, sizeof(want), "route 10.%zu.%zu.0/24 dev wg0", i >> 8, i & 255);
		assert_string_equal(p.v[i].text, want);
	}
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	a = plan_add(&p, SEC_HOST, ACT_SYSCTL, '~', "%s", big);
	assert_int_equal(strlen(a->text), PLAN_TEXT_MAX - 1);
	a->key = plan_str(&p, big);
	a->val = plan_strf(&p, "%d-%s", 7, "x");
	assert_string_equal(a->key, big);
	assert_string_equal(a->val, "7-x");
	assert_string_equal(p.v[0].text, "route 10.0.0.0/24 dev wg0");
	assert_int_equal(plan_changes(&p), 10001);
	plan_free(&p);
	assert_null(p.v);
	assert_null(p.strs);
	plan_free(&p);
}

static void
test_cloud_desired(void **state)
{
	static const char *text =
	    "{ \"lan_interface\": \"eth0\", \"local_subnets\": [\"10.0.0.0/18\"],\n"
	    "  \"tunnel\": { \"peers\": [\n"
	    "   { \"public_key\": \"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\",\n"
	    "     \"allowed_ips\": [\"100.96.0.0/11\", \"192.168.0.0/22\", \"192.168.1.0/24\",\n"
	    "                     \"10.0.1.0/24\", \"0.0.0.0/0\", \"10.0.0.0/8\"] } ] } }";
	struct desired d;
	char b[PREFIX_STRLEN];
	struct config cfg;
	struct buf err;

	(void)state;
	buf_init(&err, 4096);
	assert_int_equal(config_parse("t", text, strlen(text), &cfg, &err), 0);
	cr_strlcpy(cfg.state_dir, "/nonexistent/cloudroute-test", sizeof(cfg.state_dir));
	assert_int_equal(desired_compose(&cfg, NULL, &d, &err), 0);
	/* local subnet overlaps and the default route are never pushed to the VPC */
	assert_int_equal(d.cloud.n, 2);
	assert_string_equal(prefix_fmt(&d.cloud.v[0], b, sizeof(b)), "100.96.0.0/11");
	assert_string_equal(prefix_fmt(&d.cloud.v[1], b, sizeof(b)), "192.168.0.0/22");
	desired_free(&d);
	config_free(&cfg);
	buf_free(&err);
}

static struct ds_source *
fleet_source(const char *key_b64, const char *allowed, int leader)
{
	struct ds_source *s = calloc(1, sizeof(*s));
	struct prefix a;

	assert_non_null(s);
	cr_strlcpy(s->name, "fleet", sizeof(s->name));
	s->cloud_leader = leader;
	s->peers = calloc(1, sizeof(*s->peers));
	s->n_peers = 1;
	assert_int_equal(ds_str_set(&s->peers[0].source, "fleet:branch/br-1", DS_SOURCE_LEN, 0), 0);
	assert_int_equal(ds_str_set(&s->peers[0].name, "br-1", DS_NAME_LEN, 0), 0);
	assert_int_equal(dp_key_from_base64(s->peers[0].public_key, key_b64), 0);
	assert_int_equal(ds_str_set(&s->peers[0].endpoint, "198.51.100.7:51820", DS_ENDPOINT_LEN,
	    1), 0);
	assert_int_equal(prefix_parse(allowed, &a, 0), 0);
	prefix_set_add(&s->peers[0].allowed_ips, &a);
	return s;
}

/* Config + clients.json + a fleet source: peers merged by key, every prefix
 * knows its source, a prefix held by one peer is not given to another, and a
 * replaced snapshot replaces the peers it brought. */
static void
test_sources(void **state)
{
	static const char *text =
	    "{ \"lan_interface\": \"eth0\", \"local_subnets\": [\"10.0.0.0/18\"],\n"
	    "  \"tunnel\": { \"peers\": [\n"
	    "   { \"name\": \"hub\", \"public_key\": \"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\",\n"
	    "     \"allowed_ips\": [\"192.168.0.0/22\"] } ] } }";
	static const char *clients =
	    "{\"clients\": [{\"name\": \"alice\", \"public_key\": "
	    "\"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\", \"address\": \"100.96.0.7/32\"}]}";
	static const char *bad_clients =
	    "{\"clients\": [{\"name\": \"alice\", \"public_key\": "
	    "\"HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=\", \"address\": \"100.96.0.7/32\"},\n"
	    "  {\"name\": \"bad\", \"public_key\": \"nope\", \"address\": \"100.96.0.8/32\"}]}";
	char dir[] = "/tmp/cr-src-XXXXXX", path[600], b[160];
	struct ds_registry *reg;
	struct desired d;
	struct config cfg;
	struct buf err;
	struct prefix p;
	FILE *f;

	(void)state;
	buf_init(&err, 4096);
	assert_non_null(mkdtemp(dir));
	assert_int_equal(config_parse("t", text, strlen(text), &cfg, &err), 0);
	cr_strlcpy(cfg.state_dir, dir, sizeof(cfg.state_dir));
	snprintf(path, sizeof(path), "%s/clients.json", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs(clients, f);
	fclose(f);
	assert_int_equal(ds_registry_new(&reg), 0);
	/* The fleet peer also claims the hub's prefix: refused for it. */
	assert_int_equal(ds_registry_put(reg, fleet_source(
	    "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=", "192.168.0.0/22", 1)), 0);
	assert_int_equal(desired_compose(&cfg, reg, &d, &err), 0);
	assert_int_equal(d.n_peers, 3);
	assert_string_equal(d.peers[0].source, "config");
	assert_string_equal(d.peers[1].source, "client:alice");
	assert_string_equal(d.peers[2].source, "fleet:branch/br-1");
	assert_int_equal(d.peers[2].allowed_ips.n, 0);
	assert_non_null(strstr(err.data, "already routed to peer hub"));
	assert_int_equal(d.cloud_leader, 1);
	assert_int_equal(prefix_parse("100.96.0.7/32", &p, 0), 0);
	assert_string_equal(desired_origin_fmt(&d, &p, b, sizeof(b)),
	    " [from peer client:alice, client:alice]");
	assert_int_equal(prefix_parse("192.168.0.0/22", &p, 0), 0);
	assert_string_equal(desired_origin_fmt(&d, &p, b, sizeof(b)), " [from peer hub, config]");
	assert_true(prefix_set_has(&d.tunnel, &p));
	desired_free(&d);
	/* A new snapshot: the fleet peer now brings its own subnet. */
	assert_int_equal(ds_registry_put(reg, fleet_source(
	    "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=", "172.16.0.0/16", 0)), 0);
	buf_reset(&err);
	assert_int_equal(desired_compose(&cfg, reg, &d, &err), 0);
	assert_int_equal(d.n_peers, 3);
	assert_int_equal(d.peers[2].allowed_ips.n, 1);
	assert_int_equal(d.cloud_leader, 0);
	assert_int_equal(prefix_parse("172.16.0.0/16", &p, 0), 0);
	assert_true(prefix_set_has(&d.cloud, &p));
	desired_free(&d);
	ds_registry_drop(reg, "fleet");
	assert_int_equal(desired_compose(&cfg, reg, &d, &err), 0);
	assert_int_equal(d.n_peers, 2);
	desired_free(&d);
	/* A clients.json that does not parse changes nothing: alice stays, the
	 * file and the bad entry are named once. */
	assert_non_null(f = fopen(path, "w"));
	fputs(bad_clients, f);
	fclose(f);
	buf_reset(&err);
	assert_int_equal(desired_compose(&cfg, reg, &d, &err), 0);
	assert_int_equal(d.n_peers, 2);
	assert_string_equal(d.peers[1].source, "client:alice");
	assert_non_null(strstr(err.data, "clients.json: clients[1]: \"public_key\" is not a WireGuard key"));
	assert_non_null(strstr(err.data, "keeping the clients read before"));
	desired_free(&d);
	buf_reset(&err);
	assert_int_equal(desired_compose(&cfg, reg, &d, &err), 0);
	assert_int_equal(d.n_peers, 2);
	assert_null(err.data == NULL ? NULL : strstr(err.data, "clients"));
	desired_free(&d);
	ds_registry_free(reg);
	unlink(path);
	rmdir(dir);
	config_free(&cfg);
	buf_free(&err);
}

/* Thousands of config peers (the keymap paths): all composed, each prefix
 * knows its peer, a PSK path survives the merge, a duplicate key or name far
 * down the list is still found by config_parse. */
static void
test_many_peers(void **state)
{
	enum { N = 3000 };
	struct buf text, err;
	struct desired d;
	struct config cfg;
	char b[160], want[64];
	uint8_t key[32];
	char k64[45];
	struct prefix p;
	size_t i;

	(void)state;
	buf_init(&text, 1 << 22);
	buf_init(&err, 1 << 16);
	buf_puts(&text, "{ \"lan_interface\": \"eth0\", \"local_subnets\": [\"10.0.0.0/18\"],\n"
	    "  \"tunnel\": { \"peers\": [\n");
	for (i = 0; i < N; i++) {
		memset(key, 0, sizeof(key));
		key[0] = (uint8_t)(i & 255);
		key[1] = (uint8_t)(i >> 8);
		key[2] = 1;
		dp_key_to_base64(k64, key);
		buf_printf(&text, "%s{ \"name\": \"p%zu\", \"public_key\": \"%s\", %s"
		    "\"allowed_ips\": [\"10.%zu.%zu.0/24\"] }", i ? ",\n" : "", i, k64,
		    i == 7 ? "\"preshared_key_file\": \"/etc/psk7\", " : "", 100 + i / 256, i % 256);
	}
	buf_puts(&text, "] } }");
	assert_int_equal(config_parse("t", text.data, text.len, &cfg, &err), 0);
	cr_strlcpy(cfg.state_dir, "/nonexistent/cloudroute-test", sizeof(cfg.state_dir));
	assert_int_equal(desired_compose(&cfg, NULL, &d, &err), 0);
	assert_int_equal(d.n_peers, N);
	assert_int_equal(d.tunnel.n, N);
	assert_string_equal(d.peers[7].psk_file, "/etc/psk7");
	assert_null(d.peers[8].psk_file);
	for (i = 0; i < N; i += 499) {
		snprintf(want, sizeof(want), "10.%zu.%zu.0/24", 100 + i / 256, i % 256);
		assert_int_equal(prefix_parse(want, &p, 0), 0);
		snprintf(want, sizeof(want), " [from peer p%zu, config]", i);
		assert_string_equal(desired_origin_fmt(&d, &p, b, sizeof(b)), want);
	}
	desired_free(&d);
	config_free(&cfg);
	/* the last peer repeats the first one's key, then a name */
	memset(key, 0, sizeof(key));
	key[2] = 1;
	dp_key_to_base64(k64, key);
	text.len -= strlen("] } }");
	buf_printf(&text, ",\n{ \"name\": \"last\", \"public_key\": \"%s\", "
	    "\"allowed_ips\": [\"10.250.0.0/24\"] }] } }", k64);
	buf_reset(&err);
	assert_int_not_equal(config_parse("t", text.data, text.len, &cfg, &err), 0);
	assert_non_null(strstr(err.data, "the same public key as peers[0]"));
	buf_free(&text);
	buf_free(&err);
}

/* The peers' heap strings: cut at the old fields' limits, copied deep, one
 * key from two sources joins their names (up to DS_SOURCE_LEN - 1 chars). */
static void
test_peer_strings(void **state)
{
	static const char *text =
	    "{ \"lan_interface\": \"eth0\", \"local_subnets\": [\"10.0.0.0/18\"],\n"
	    "  \"tunnel\": { \"peers\": [\n"
	    "   { \"name\": \"hub\", \"public_key\": \"TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=\",\n"
	    "     \"allowed_ips\": [\"192.168.0.0/22\"] } ] } }";
	char longs[300], b[160];
	struct ds_peer a, c;
	struct ds_registry *reg;
	struct ds_source *src;
	struct desired d;
	struct config cfg;
	struct buf err;
	struct prefix p;

	(void)state;
	memset(longs, 'x', sizeof(longs) - 1);
	longs[sizeof(longs) - 1] = '\0';
	memset(&a, 0, sizeof(a));
	assert_int_equal(ds_str_set(&a.endpoint, longs, DS_ENDPOINT_LEN, 1), 0);
	assert_int_equal(strlen(a.endpoint), DS_ENDPOINT_LEN - 1);
	assert_int_equal(ds_str_set(&a.endpoint, "", DS_ENDPOINT_LEN, 1), 0);
	assert_null(a.endpoint);
	assert_int_equal(ds_str_fmt(&a.name, DS_NAME_LEN, "%s/%s", longs, "x"), 0);
	assert_int_equal(strlen(a.name), DS_NAME_LEN - 1);
	assert_int_equal(ds_str_set(&a.source, "fleet:a/b", DS_SOURCE_LEN, 0), 0);
	assert_int_equal(ds_str_set(&a.psk_file, "/etc/psk", PATH_MAX, 1), 0);
	assert_int_equal(prefix_parse("10.1.0.0/16", &p, 0), 0);
	assert_int_equal(prefix_set_add(&a.allowed_ips, &p), 0);
	assert_int_equal(ds_peer_copy(&c, &a), 0);
	assert_ptr_not_equal(c.name, a.name);
	assert_string_equal(c.name, a.name);
	assert_string_equal(c.psk_file, "/etc/psk");
	assert_null(c.endpoint);
	assert_true(prefix_set_equal(&c.allowed_ips, &a.allowed_ips));
	ds_peer_free(&a);
	ds_peer_free(&c);
	assert_null(c.name);

	buf_init(&err, 4096);
	assert_int_equal(config_parse("t", text, strlen(text), &cfg, &err), 0);
	cr_strlcpy(cfg.state_dir, "/nonexistent/cloudroute-test", sizeof(cfg.state_dir));
	assert_int_equal(ds_registry_new(&reg), 0);
	src = fleet_source("TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=", "172.16.0.0/16", -1);
	assert_int_equal(ds_registry_put(reg, src), 0);
	assert_int_equal(desired_compose(&cfg, reg, &d, &err), 0);
	assert_int_equal(d.n_peers, 1);
	assert_string_equal(d.peers[0].source, "config,fleet:branch/br-1");
	assert_string_equal(d.peers[0].name, "hub");
	assert_null(d.peers[0].endpoint);               /* config's, the first source */
	assert_int_equal(d.peers[0].allowed_ips.n, 2);
	assert_int_equal(prefix_parse("192.168.0.0/22", &p, 0), 0);
	assert_string_equal(desired_origin_fmt(&d, &p, b, sizeof(b)), " [from peer hub, config]");
	assert_int_equal(prefix_parse("172.16.0.0/16", &p, 0), 0);
	assert_string_equal(desired_origin_fmt(&d, &p, b, sizeof(b)),
	    " [from peer br-1, fleet:branch/br-1]");
	desired_free(&d);
	/* a joined label past DS_SOURCE_LEN - 1 characters: the first one only */
	src = fleet_source("TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=", "172.16.0.0/16", -1);
	assert_int_equal(ds_str_fmt(&src->peers[0].source, DS_SOURCE_LEN, "fleet:%.*s",
	    DS_SOURCE_LEN - 12, longs), 0);
	assert_int_equal(ds_registry_put(reg, src), 0);
	assert_int_equal(desired_compose(&cfg, reg, &d, &err), 0);
	assert_string_equal(d.peers[0].source, "config");
	desired_free(&d);
	ds_registry_free(reg);
	config_free(&cfg);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_roundtrip),
		cmocka_unit_test(test_plan_count),
		cmocka_unit_test(test_plan_strings),
		cmocka_unit_test(test_cloud_desired),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_many_peers),
		cmocka_unit_test(test_peer_strings),
	};
	noise_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
