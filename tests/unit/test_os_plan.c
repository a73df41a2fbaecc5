/*
 * OpenStack provider units: the planner as a table (missing / ours / ours
 * by nexthop but from before cloudroute / foreign nexthop / no longer
 * desired / gone), address-pair planning and merging, Keystone catalog
 * endpoint selection and token times, the tokens URL with the override,
 * and the Neutron JSON parsers on good and bad answers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "providers/http.h"
#include "providers/provider.h"
#include "providers/openstack/os.h"

static struct prefix
P(const char *s)
{
	struct prefix p;

	if (prefix_parse(s, &p, 1) < 0)
		fail_msg("bad prefix %s", s);
	return p;
}

static void
want_add(struct prefix_set *s, const char *p)
{
	struct prefix x = P(p);

	assert_int_equal(prefix_set_add(s, &x), 0);
}

static struct os_route
R(const char *dst, const char *nh)
{
	struct os_route r = { P(dst), P(nh) };

	return r;
}

static const struct os_plan_item *
find(const struct os_plan *p, int pair, const char *router, const char *dst)
{
	struct prefix d = P(dst);
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].pair == pair && prefix_equal(&p->v[i].dst, &d) &&
		    (router == NULL || strcmp(p->v[i].router, router) == 0))
			return &p->v[i];
	return NULL;
}

static void
expect(const struct os_plan *p, int pair, const char *router, const char *dst,
    enum os_act act)
{
	const struct os_plan_item *it = find(p, pair, router, dst);

	if (it == NULL)
		fail_msg("no item for %s %s", router ? router : "pair", dst);
	if (it->act != act)
		fail_msg("%s %s: act %d, expected %d", router ? router : "pair", dst, it->act, act);
}

static void
test_planner_table(void **st)
{
	struct prefix me = P("10.0.0.10");
	struct os_route r1[] = {
		R("10.1.0.0/16", "10.0.0.10"),     /* ours (recorded) */
		R("10.2.0.0/16", "10.0.0.10"),     /* points here, from before cloudroute */
		R("10.3.0.0/16", "10.0.0.99"),     /* foreign nexthop: conflict */
		R("10.5.0.0/16", "10.0.0.10"),     /* ours, no longer desired */
		R("10.7.0.0/16", "10.0.0.77"),     /* someone else's, not our prefix */
	};
	struct os_route r2[] = { R("10.8.0.0/16", "10.0.0.10") };
	struct os_router routers[] = {
		{ "r1", "one", r1, ARRAY_SIZE(r1), 1 },
		{ "r-old", "old", r2, ARRAY_SIZE(r2), 1 },
	};
	struct os_owned_route owned[] = {
		{ "r1", { P("10.1.0.0/16"), P("10.0.0.10") } },
		{ "r1", { P("10.5.0.0/16"), P("10.0.0.10") } },
		{ "r1", { P("10.6.0.0/16"), P("10.0.0.10") } },   /* gone already */
		{ "r-old", { P("10.8.0.0/16"), P("10.0.0.10") } }, /* router no longer a target */
		{ "r-gone", { P("10.9.0.0/16"), P("10.0.0.10") } },
	};
	struct prefix_set want = { 0 };
	struct os_plan_input in;
	struct os_plan out = { 0 };

	(void)st;
	want_add(&want, "10.1.0.0/16");
	want_add(&want, "10.2.0.0/16");
	want_add(&want, "10.3.0.0/16");
	want_add(&want, "10.4.0.0/16");
	want_add(&want, "fd00::/64");
	memset(&in, 0, sizeof(in));
	in.our_ip = &me;
	in.routers = routers;
	in.n_routers = 2;
	in.n_targets = 1;
	in.desired = &want;
	in.owned = owned;
	in.n_owned = ARRAY_SIZE(owned);
	assert_int_equal(os_plan_compute(&in, &out), 0);
	expect(&out, 0, "r1", "10.1.0.0/16", OS_KEEP);
	expect(&out, 0, "r1", "10.2.0.0/16", OS_KEEP_FOREIGN);
	expect(&out, 0, "r1", "10.3.0.0/16", OS_CONFLICT);
	expect(&out, 0, "r1", "10.4.0.0/16", OS_ADD);
	expect(&out, 0, "r1", "10.5.0.0/16", OS_REMOVE);
	expect(&out, 0, "r1", "10.6.0.0/16", OS_DROP);
	expect(&out, 0, "r-old", "10.8.0.0/16", OS_REMOVE);
	expect(&out, 0, "r-gone", "10.9.0.0/16", OS_DROP);
	expect(&out, 0, NULL, "fd00::/64", OS_SKIP);
	assert_null(find(&out, 0, "r1", "10.7.0.0/16"));
	assert_null(find(&out, 0, "r-old", "10.1.0.0/16"));
	/* No ADD beside a conflict: Neutron would make it ECMP. */
	assert_int_equal(find(&out, 0, "r1", "10.3.0.0/16")->act, OS_CONFLICT);
	os_plan_free(&out);

	/* Dual stack: IPv6 prefixes go to the port's IPv6 address. */
	{
		struct prefix me6 = P("fd00::10");

		in.our_ip6 = &me6;
		assert_int_equal(os_plan_compute(&in, &out), 0);
		expect(&out, 0, "r1", "fd00::/64", OS_ADD);
		assert_true(prefix_equal(&find(&out, 0, "r1", "fd00::/64")->nexthop, &me6));
		expect(&out, 0, "r1", "10.4.0.0/16", OS_ADD);
		assert_true(prefix_equal(&find(&out, 0, "r1", "10.4.0.0/16")->nexthop, &me));
		os_plan_free(&out);
		in.our_ip6 = NULL;
	}
	prefix_set_free(&want);
}

static void
test_planner_pairs(void **st)
{
	struct prefix me = P("10.0.0.10");
	struct os_pair have[] = {
		{ P("10.0.0.200"), "10.0.0.200", "" },
		{ P("100.96.0.0/11"), "100.96.0.0/11", "fa:16:3e:00:00:0a" },
		{ P("192.168.0.0/22"), "192.168.0.0/22", "" },
		{ P("10.5.0.0/16"), "10.5.0.0/16", "fa:16:3e:00:00:0a" },
	};
	struct os_port port = { .id = "p1", .mac = "fa:16:3e:00:00:0a", .pairs = have,
	    .n_pairs = ARRAY_SIZE(have), .port_security = 1, .revision = 3 };
	struct os_pair owned[] = {
		{ P("100.96.0.0/11"), "", "" },
		{ P("10.5.0.0/16"), "", "" },
		{ P("10.6.0.0/16"), "", "" },
	};
	struct prefix_set want = { 0 };
	struct os_plan_input in;
	struct os_plan out = { 0 };

	(void)st;
	want_add(&want, "100.96.0.0/11");
	want_add(&want, "192.168.0.0/22");
	want_add(&want, "172.16.0.0/16");
	memset(&in, 0, sizeof(in));
	in.our_ip = &me;
	in.desired = &want;
	in.port = &port;
	in.want_pairs = 1;
	in.owned_pairs = owned;
	in.n_owned_pairs = ARRAY_SIZE(owned);
	assert_int_equal(os_plan_compute(&in, &out), 0);
	expect(&out, 1, NULL, "100.96.0.0/11", OS_KEEP);
	expect(&out, 1, NULL, "192.168.0.0/22", OS_KEEP_FOREIGN);
	expect(&out, 1, NULL, "172.16.0.0/16", OS_ADD);
	expect(&out, 1, NULL, "10.5.0.0/16", OS_REMOVE);
	expect(&out, 1, NULL, "10.6.0.0/16", OS_DROP);
	assert_null(find(&out, 1, NULL, "10.0.0.200"));
	os_plan_free(&out);

	/* port_security "disable": turned off, our pairs removed, none added. */
	in.want_portsec_off = 1;
	assert_int_equal(os_plan_compute(&in, &out), 0);
	assert_true(out.n > 0 && out.v[0].portsec && out.v[0].act == OS_ADD);
	assert_null(find(&out, 1, NULL, "172.16.0.0/16"));
	expect(&out, 1, NULL, "100.96.0.0/11", OS_REMOVE);
	os_plan_free(&out);
	in.want_portsec_off = 0;
	in.portsec_recorded = 1;
	port.port_security = 0;
	assert_int_equal(os_plan_compute(&in, &out), 0);
	assert_true(out.v[0].portsec && out.v[0].act == OS_REMOVE);    /* restored */
	os_plan_free(&out);
	in.portsec_recorded = 0;

	/* Port security off: no pair wanted; recorded ones are gone. */
	port.port_security = 0;
	assert_int_equal(os_plan_compute(&in, &out), 0);
	assert_null(find(&out, 1, NULL, "172.16.0.0/16"));
	expect(&out, 1, NULL, "100.96.0.0/11", OS_REMOVE);
	os_plan_free(&out);
	prefix_set_free(&want);
}

static void
test_pairs_merge(void **st)
{
	struct os_pair have[] = {
		{ P("10.0.0.200"), "10.0.0.200", "fa:16:3e:00:00:0a" },
		{ P("10.5.0.0/16"), "10.5.0.0/16", "fa:16:3e:00:00:0a" },
		{ P("10.6.0.0/16"), "10.6.0.0/16", "fa:16:3e:99:99:99" },
	};
	struct os_port port = { .id = "p1", .mac = "fa:16:3e:00:00:0a", .pairs = have,
	    .n_pairs = ARRAY_SIZE(have) };
	struct os_pair add[] = { { P("100.96.0.0/11"), "", "" }, { P("10.0.0.200"), "", "" } };
	struct os_pair del[] = { { P("10.5.0.0/16"), "", "" }, { P("10.6.0.0/16"), "", "" } };
	struct json_object *a;

	(void)st;
	a = os_pairs_merge(&port, add, 2, del, 2);
	/* Theirs kept as spelled (with another MAC: not the same pair), ours
	 * added without a MAC (Neutron uses the port's), ours removed. */
	assert_string_equal(json_object_to_json_string_ext(a, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE),
	    "[{\"ip_address\":\"10.0.0.200\",\"mac_address\":\"fa:16:3e:00:00:0a\"},"
	    "{\"ip_address\":\"10.6.0.0/16\",\"mac_address\":\"fa:16:3e:99:99:99\"},"
	    "{\"ip_address\":\"100.96.0.0/11\"}]");
	json_object_put(a);
	assert_true(os_pair_present(&port, &(struct os_pair){ P("10.5.0.0/16"), "", "" }));
	assert_false(os_pair_present(&port, &(struct os_pair){ P("10.6.0.0/16"), "", "" }));
}

static const char token_body[] =
    "{\"token\": {\"expires_at\": \"2026-12-01T21:00:00.000000Z\","
    " \"issued_at\": \"2026-12-01T20:00:00.000000Z\","
    " \"project\": {\"id\": \"p1\"}, \"user\": {\"id\": \"u1\"},"
    " \"catalog\": ["
    "  {\"type\": \"identity\", \"endpoints\": [{\"interface\": \"public\", \"url\": \"https://k\"}]},"
    "  {\"type\": \"network\", \"name\": \"neutron\", \"endpoints\": ["
    "   {\"interface\": \"admin\", \"region_id\": \"R1\", \"url\": \"https://admin:9696\"},"
    "   {\"interface\": \"public\", \"region_id\": \"R2\", \"region\": \"R2\", \"url\": \"https://r2:9696\"},"
    "   {\"interface\": \"public\", \"region_id\": \"R1\", \"region\": \"R1\", \"url\": \"https://r1:9696/\"},"
    "   {\"interface\": \"internal\", \"region_id\": \"R1\", \"url\": \"https://int:9696\"}]}]}}";

static void
catalog(const char *itf, const char *region, int rc, const char *url)
{
	struct os_token t = { 0 };
	struct os_endpoint e = { 0 };

	assert_int_equal(os_keystone_parse(token_body, strlen(token_body), "network", itf,
	    region, &t, &e), rc);
	if (url != NULL)
		assert_string_equal(e.url, url);
	os_endpoint_free(&e);
	os_token_wipe(&t);
}

static void
test_catalog(void **st)
{
	struct os_token t = { 0 };
	struct os_endpoint e = { 0 };
	time_t x;

	(void)st;
	catalog("public", "R1", 0, "https://r1:9696/");
	catalog("public", "R2", 0, "https://r2:9696");
	catalog("public", NULL, 0, "https://r2:9696");
	catalog("internal", "R1", 0, "https://int:9696");
	catalog("internal", "R2", -ENOENT, NULL);
	assert_non_null(strstr(prov_last_error(), "region"));
	assert_int_equal(os_keystone_parse(token_body, strlen(token_body), "volumev3",
	    "public", NULL, &t, &e), -ENOENT);
	os_token_wipe(&t);
	assert_int_equal(os_keystone_parse("{\"token\": {}}", 13, "network", "public", NULL,
	    &t, &e), -EBADMSG);
	os_token_wipe(&t);
	assert_int_equal(os_keystone_parse("<html>", 6, "network", "public", NULL, &t, &e),
	    -EBADMSG);
	os_token_wipe(&t);

	assert_int_equal(os_parse_time("2026-12-01T21:00:00.123456Z", &x), 0);
	assert_int_equal(os_parse_time("2026-12-01T21:00:00Z", &t.expires_at), 0);
	assert_true(x == t.expires_at);
	assert_int_equal(os_parse_time("yesterday", &x), -EINVAL);
	t.value = strdup("tok");
	t.issued_at = t.expires_at - 3600;
	assert_false(os_token_stale(&t, t.expires_at - 600));
	assert_true(os_token_stale(&t, t.expires_at - 200));
	t.issued_at = t.expires_at - 60;          /* short-lived: a quarter of it */
	assert_false(os_token_stale(&t, t.expires_at - 20));
	assert_true(os_token_stale(&t, t.expires_at - 10));
	os_token_wipe(&t);
	assert_true(os_token_stale(&t, 0));
}

static void
test_tokens_url(void **st)
{
	char u[256];

	(void)st;
	assert_int_equal(os_keystone_tokens_url("https://k.example:5000/v3", NULL, u,
	    sizeof(u)), 0);
	assert_string_equal(u, "https://k.example:5000/v3/auth/tokens");
	assert_int_equal(os_keystone_tokens_url("https://k.example/identity/", NULL, u,
	    sizeof(u)), 0);
	assert_string_equal(u, "https://k.example/identity/v3/auth/tokens");
	assert_int_equal(os_keystone_tokens_url("https://k.example/identity/v3",
	    "https://127.0.0.1:8443/", u, sizeof(u)), 0);
	assert_string_equal(u, "https://127.0.0.1:8443/identity/v3/auth/tokens");
	assert_int_equal(os_keystone_tokens_url("https://k.example:5000", "https://10.1.1.1",
	    u, sizeof(u)), 0);
	assert_string_equal(u, "https://10.1.1.1/v3/auth/tokens");
	assert_int_equal(os_keystone_tokens_url("k.example", NULL, u, sizeof(u)), -EINVAL);
}

static void
test_json(void **st)
{
	static const char ports[] = "{\"ports\": [{\"id\": \"p1\", \"mac_address\": "
	    "\"fa:16:3e:00:00:0a\", \"network_id\": \"n1\", \"device_owner\": \"compute:nova\","
	    " \"device_id\": \"vm\", \"fixed_ips\": [{\"subnet_id\": \"s1\", \"ip_address\": "
	    "\"10.0.0.10\"}], \"allowed_address_pairs\": [{\"ip_address\": \"10.9.0.0/16\", "
	    "\"mac_address\": \"fa:16:3e:00:00:0a\"}], \"port_security_enabled\": true, "
	    "\"security_groups\": [\"sg\"], \"revision_number\": 7}]}";
	static const char router[] = "{\"router\": {\"id\": \"r1\", \"name\": \"r\", "
	    "\"routes\": [{\"destination\": \"10.1.0.0/16\", \"nexthop\": \"10.0.0.10\"}], "
	    "\"revision_number\": 4}}";
	static const char err[] = "{\"NeutronError\": {\"type\": \"RoutesExhausted\", "
	    "\"message\": \"Unable to complete operation\", \"detail\": \"\"}}";
	struct os_neutron_error e;
	struct os_router rt;
	struct os_port *v;
	char uuid[64], az[64];
	size_t n;

	(void)st;
	assert_int_equal(os_json_ports(ports, strlen(ports), &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, "p1");
	assert_string_equal(v[0].ips[0].subnet, "s1");
	assert_int_equal(v[0].n_pairs, 1);
	assert_int_equal(v[0].revision, 7);
	assert_int_equal(v[0].port_security, 1);
	assert_int_equal(v[0].n_security_groups, 1);
	os_ports_free(v, n);
	assert_int_equal(os_json_router(router, strlen(router), &rt), 0);
	assert_int_equal(rt.n_routes, 1);
	assert_int_equal(rt.revision, 4);
	os_router_free(&rt);
	assert_int_equal(os_json_error(err, strlen(err), &e), 0);
	assert_string_equal(e.type, "RoutesExhausted");

	/* Pages accumulate; the next link's query is handed back. */
	{
		static const char pg[] = "{\"ports\": [], \"ports_links\": [{\"rel\": "
		    "\"previous\", \"href\": \"https://n/v2.0/ports?marker=a&page_reverse=1\"}, "
		    "{\"rel\": \"next\", \"href\": \"https://n/v2.0/ports?limit=2&marker=p1\"}]}";
		char next[128];

		v = NULL;
		n = 0;
		assert_int_equal(os_json_ports_page(ports, strlen(ports), &v, &n, next,
		    sizeof(next)), 0);
		assert_string_equal(next, "");
		assert_int_equal(os_json_ports_page(pg, strlen(pg), &v, &n, next, sizeof(next)), 0);
		assert_int_equal(n, 1);
		assert_string_equal(next, "limit=2&marker=p1");
		os_ports_free(v, n);
	}

	/* Bad answers are refused whole. */
	assert_int_equal(os_json_ports("{\"ports\": {}}", 13, &v, &n), -EBADMSG);
	assert_int_equal(os_json_ports("[]", 2, &v, &n), -EBADMSG);
	assert_int_equal(os_json_ports("{\"ports\": [{\"id\": 5}]}", 20, &v, &n), -EBADMSG);
	assert_int_equal(os_json_router("{\"router\": {\"id\": \"r\", \"routes\": "
	    "[{\"destination\": \"banana\", \"nexthop\": \"10.0.0.1\"}]}}", 75, &rt), -EBADMSG);
	assert_int_equal(os_json_router("{\"router\": {\"id\": \"r\", \"routes\": "
	    "[{\"destination\": \"10.0.0.0/8\"}]}}", 63, &rt), -EBADMSG);
	assert_int_equal(os_json_router("not json", 8, &rt), -EBADMSG);
	assert_int_equal(os_json_meta("{\"uuid\": \"u-1\", \"availability_zone\": \"nova\"}",
	    45, uuid, sizeof(uuid), az, sizeof(az)), 0);
	assert_string_equal(uuid, "u-1");
	assert_string_equal(az, "nova");
	assert_int_equal(os_json_meta("{\"uuid\": \"\"}", 12, uuid, sizeof(uuid), NULL, 0),
	    -EBADMSG);
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_planner_table),
		cmocka_unit_test(test_planner_pairs),
		cmocka_unit_test(test_pairs_merge),
		cmocka_unit_test(test_catalog),
		cmocka_unit_test(test_tokens_url),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
