/*
 * AWS provider units: EC2 XML parsing (fixtures in tests/unit/data/ec2/),
 * Query API form encoding, the route planner as a table, plan formatting,
 * and the ISO 8601 / credential-expiry helpers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "providers/aws/aws.h"
#include "providers/http.h"
#include "tests/unit/prov_test.h"

/* ---- XML ---- */

static void
test_xml_route_tables(void **state)
{
	struct aws_rt_list l = { 0 };
	struct aws_route *r;
	struct prefix want;
	struct buf b;

	fixture("describe-route-tables-page1.xml", &b);
	assert_int_equal(aws_xml_route_tables(b.data, b.len, &l), 0);
	buf_free(&b);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].id, "rtb-0a1b2c3d4e5f60001");
	assert_string_equal(l.v[0].vpc, "vpc-0123456789abcdef0");
	assert_int_equal(l.v[0].main, 0);
	assert_string_equal(l.next_token, "eyJ2IjoxLCJjIjoiQUFBQSsvPT0ifQ==");
	assert_int_equal(l.v[0].n, 9);
	r = l.v[0].routes;
	want = P("10.0.0.0/16");
	assert_true(r[0].has_dst && prefix_equal(&r[0].dst, &want));
	assert_string_equal(r[0].gateway, "local");
	assert_int_equal(r[0].origin, AWS_ORIGIN_TABLE);
	assert_int_equal(r[1].dst.family, AF_INET6);
	assert_int_equal(r[1].dst.len, 56);
	assert_string_equal(r[2].gateway, "igw-0feedfacecafe0001");
	assert_int_equal(r[2].origin, AWS_ORIGIN_CREATE_ROUTE);
	assert_string_equal(r[3].eni, "eni-0ours000000000001");
	assert_string_equal(r[3].instance, "i-0aaaabbbbccccdddd");
	assert_int_equal(r[3].blackhole, 0);
	assert_int_equal(r[4].blackhole, 1);
	assert_string_equal(r[4].eni, "eni-0dead000000000001");
	assert_int_equal(r[5].origin, AWS_ORIGIN_PROPAGATED);
	assert_string_equal(r[6].eni, "eni-0other0000000001");
	want = P("fd00:100::/64");
	assert_true(prefix_equal(&r[6].dst, &want));
	assert_int_equal(r[7].has_dst, 0);                  /* prefix list */
	assert_string_equal(r[8].other, "tgw-0123456789abcdef0");

	/* The second page accumulates and clears the token. */
	fixture("describe-route-tables-page2.xml", &b);
	assert_int_equal(aws_xml_route_tables(b.data, b.len, &l), 0);
	buf_free(&b);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].id, "rtb-0main000000000001");
	assert_int_equal(l.v[1].main, 1);
	assert_int_equal(l.v[1].n, 1);
	assert_string_equal(l.next_token, "");
	aws_rt_list_free(&l);
}

static void
test_xml_enis(void **state)
{
	struct aws_eni_list l = { 0 };
	struct buf b;

	fixture("describe-network-interfaces.xml", &b);
	assert_int_equal(aws_xml_enis(b.data, b.len, &l), 0);
	buf_free(&b);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].id, "eni-0ours000000000001");
	assert_int_equal(l.v[0].source_dest_check, 1);
	assert_int_equal(l.v[0].has_ha_tag, 0);
	assert_string_equal(l.v[0].instance, "i-0aaaabbbbccccdddd");
	assert_string_equal(l.v[0].status, "in-use");
	assert_string_equal(l.v[0].subnet, "subnet-0123456789abcdef0");
	assert_int_equal(l.v[1].source_dest_check, 0);
	assert_int_equal(l.v[1].has_ha_tag, 1);               /* value before key */
	assert_string_equal(l.v[1].ha_group, "prod-edge");
	aws_eni_list_free(&l);
}

static void
test_xml_errors(void **state)
{
	static const struct {
		const char *file, *code, *msg_part;
	} t[] = {
		{ "error-unauthorized.xml", "UnauthorizedOperation", "not authorized" },
		{ "error-throttle.xml", "RequestLimitExceeded", "limit exceeded" },
		{ "error-route-exists.xml", "RouteAlreadyExists", "already exists" },
	};
	struct aws_error e;
	struct buf b;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		fixture(t[i].file, &b);
		assert_int_equal(aws_xml_error(b.data, b.len, &e), 0);
		assert_string_equal(e.code, t[i].code);
		assert_non_null(strstr(e.message, t[i].msg_part));
		assert_true(e.request_id[0] != '\0');
		buf_free(&b);
	}
}

static void
test_xml_return(void **state)
{
	struct buf b;

	fixture("create-route.xml", &b);
	assert_int_equal(aws_xml_return(b.data, b.len, "CreateRoute"), 0);
	assert_int_equal(aws_xml_return(b.data, b.len, "ReplaceRoute"), -EBADMSG);
	buf_free(&b);
	fixture("return-false.xml", &b);
	assert_int_equal(aws_xml_return(b.data, b.len, "DeleteRoute"), -EIO);
	buf_free(&b);
}

/* Bad input of every kind: a clear -EBADMSG naming the problem. */
static void
test_xml_bad(void **state)
{
	static const struct {
		const char *file, *why;
	} t[] = {
		{ "malformed.xml", "mismatched tag" },
		{ "html-error.html", "DOCTYPE" },
		{ "html-nodoctype.html", "unexpected root element <html>" },
		{ "bad-cidr.xml", "bad value \"100.96.0.0/99\"" },
		{ "error-throttle.xml", "unexpected root element <Response>" },
	};
	static const char ent[] = "<!DOCTYPE x [<!ENTITY a \"aa\">]>"
	    "<DescribeRouteTablesResponse>&a;</DescribeRouteTablesResponse>";
	struct aws_rt_list l = { 0 };
	struct aws_eni_list e = { 0 };
	struct aws_error err;
	struct buf b;

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		fixture(t[i].file, &b);
		prov_clear_error();
		assert_int_equal(aws_xml_route_tables(b.data, b.len, &l), -EBADMSG);
		if (strstr(prov_last_error(), t[i].why) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", t[i].file, prov_last_error(), t[i].why);
		buf_free(&b);
		aws_rt_list_free(&l);
	}
	fixture("html-error.html", &b);
	assert_int_equal(aws_xml_enis(b.data, b.len, &e), -EBADMSG);
	assert_int_equal(aws_xml_error(b.data, b.len, &err), -EBADMSG);
	assert_int_equal(aws_xml_route_tables("", 0, &l), -EBADMSG);
	/* Entity expansion is refused outright. */
	assert_int_equal(aws_xml_route_tables(ent, strlen(ent), &l), -EBADMSG);
	assert_non_null(strstr(prov_last_error(), "DOCTYPE"));
	buf_free(&b);
	aws_eni_list_free(&e);
	aws_rt_list_free(&l);
}

/* ---- form encoding ---- */

static void
test_params(void **state)
{
	struct aws_params p;

	aws_params_init(&p);
	assert_int_equal(aws_params_add(&p, "RouteTableId", "rtb-1"), 0);
	assert_int_equal(aws_params_add(&p, "DestinationCidrBlock", "100.96.0.0/11"), 0);
	assert_int_equal(aws_params_addf(&p, "association.subnet-id", "Filter.%d.Name", 1), 0);
	assert_int_equal(aws_params_addf(&p, "a b&c=d+e~", "Filter.%d.Value.%d", 1, 2), 0);
	assert_int_equal(aws_params_add(&p, "Tag.1.Key", AWS_HA_TAG_KEY), 0);
	assert_int_equal(aws_params_add(&p, "DestinationIpv6CidrBlock", "fd00::/64"), 0);
	assert_string_equal(p.body.data,
	    "RouteTableId=rtb-1&DestinationCidrBlock=100.96.0.0%2F11"
	    "&Filter.1.Name=association.subnet-id&Filter.1.Value.2=a%20b%26c%3Dd%2Be~"
	    "&Tag.1.Key=cloudroute%3Aha-group&DestinationIpv6CidrBlock=fd00%3A%3A%2F64");
	aws_params_free(&p);
}

/* ---- planner ---- */

#define ME "eni-me"

static struct aws_route
R(const char *dst, const char *eni, const char *gw, enum aws_origin o, int blackhole)
{
	struct aws_route r;

	memset(&r, 0, sizeof(r));
	r.has_dst = 1;
	r.dst = P(dst);
	cr_strlcpy(r.eni, eni ? eni : "", sizeof(r.eni));
	cr_strlcpy(r.gateway, gw ? gw : "", sizeof(r.gateway));
	r.origin = o;
	r.blackhole = blackhole;
	return r;
}

struct world {
	struct aws_route routes[16];
	struct aws_route_table tables[2];
	struct aws_route extra_routes[2];
	struct aws_eni me, peers[3];
	struct prefix_set desired;
	struct aws_owned owned[4];
};

static void
world_init(struct world *w)
{
	static const char *const want[] = {
		"100.96.0.0/11", "192.168.0.0/22", "192.168.4.0/22", "192.168.8.0/22",
		"0.0.0.0/0", "172.16.0.0/12", "10.0.0.0/16", "192.168.12.0/22",
		"192.168.16.0/22", "fd00:1::/64", "192.168.20.0/22",
	};
	size_t n = 0, i;
	struct prefix p;

	memset(w, 0, sizeof(*w));
	w->routes[n++] = R("10.0.0.0/16", NULL, "local", AWS_ORIGIN_TABLE, 0);
	w->routes[n++] = R("100.96.0.0/11", ME, NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	w->routes[n++] = R("192.168.0.0/22", "eni-dead", NULL, AWS_ORIGIN_CREATE_ROUTE, 1);
	w->routes[n++] = R("192.168.4.0/22", "eni-peer", NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	w->routes[n++] = R("192.168.8.0/22", "eni-foreign", NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	w->routes[n++] = R("0.0.0.0/0", NULL, "igw-1", AWS_ORIGIN_CREATE_ROUTE, 0);
	w->routes[n++] = R("172.16.0.0/12", NULL, "vgw-1", AWS_ORIGIN_PROPAGATED, 0);
	w->routes[n++] = R("10.50.0.0/16", ME, NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	w->routes[n++] = R("10.60.0.0/16", "eni-foreign", NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	w->routes[n] = R("192.168.12.0/22", NULL, NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	cr_strlcpy(w->routes[n++].other, "pcx-1", sizeof(w->routes[0].other));
	w->routes[n++] = R("fd00:1::/64", ME, NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	w->routes[n++] = R("192.168.20.0/22", "eni-live", NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	cr_strlcpy(w->tables[0].id, "rtb-1", sizeof(w->tables[0].id));
	w->tables[0].routes = w->routes;
	w->tables[0].n = n;
	/* A table we no longer serve, with a route of ours in it. */
	w->extra_routes[0] = R("100.96.0.0/11", ME, NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	cr_strlcpy(w->tables[1].id, "rtb-old", sizeof(w->tables[1].id));
	w->tables[1].routes = w->extra_routes;
	w->tables[1].n = 1;

	cr_strlcpy(w->me.id, ME, sizeof(w->me.id));
	w->me.source_dest_check = 1;
	cr_strlcpy(w->peers[0].id, "eni-peer", sizeof(w->peers[0].id));
	w->peers[0].has_ha_tag = 1;
	cr_strlcpy(w->peers[0].ha_group, "g1", sizeof(w->peers[0].ha_group));
	cr_strlcpy(w->peers[1].id, "eni-foreign", sizeof(w->peers[1].id));
	w->peers[1].has_ha_tag = 1;
	cr_strlcpy(w->peers[1].ha_group, "other-group", sizeof(w->peers[1].ha_group));
	/* A same-group peer that is alive: attached to an instance, in use. */
	cr_strlcpy(w->peers[2].id, "eni-live", sizeof(w->peers[2].id));
	w->peers[2].has_ha_tag = 1;
	cr_strlcpy(w->peers[2].ha_group, "g1", sizeof(w->peers[2].ha_group));
	cr_strlcpy(w->peers[2].status, "in-use", sizeof(w->peers[2].status));
	cr_strlcpy(w->peers[2].instance, "i-live", sizeof(w->peers[2].instance));
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		p = P(want[i]);
		prefix_set_add(&w->desired, &p);
	}
	cr_strlcpy(w->owned[0].table, "rtb-1", sizeof(w->owned[0].table));
	w->owned[0].dst = P("10.50.0.0/16");      /* ours, not desired: delete */
	cr_strlcpy(w->owned[1].table, "rtb-1", sizeof(w->owned[1].table));
	w->owned[1].dst = P("10.60.0.0/16");      /* taken by someone: forget */
	cr_strlcpy(w->owned[2].table, "rtb-1", sizeof(w->owned[2].table));
	w->owned[2].dst = P("100.96.0.0/11");     /* ours and desired: keep */
	cr_strlcpy(w->owned[3].table, "rtb-old", sizeof(w->owned[3].table));
	w->owned[3].dst = P("100.96.0.0/11");     /* table no longer served: delete */
}

static void
world_input(struct world *w, struct aws_plan_input *in, enum prov_takeover tk)
{
	memset(in, 0, sizeof(*in));
	in->eni = ME;
	in->our_eni = &w->me;
	in->tables = w->tables;
	in->n_tables = 2;
	in->n_targets = 1;
	in->desired = &w->desired;
	in->others = w->peers;
	in->n_others = ARRAY_SIZE(w->peers);
	in->owned = w->owned;
	in->n_owned = 4;
	in->ha_group = "g1";
	in->takeover = tk;
	in->disable_source_dest_check = 1;
}

static const struct prov_change *
find_change(const struct prov_plan *p, enum prov_action a, const char *table,
    const char *dst)
{
	struct prefix want;

	if (dst)
		want = P(dst);
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].action != a)
			continue;
		if (dst == NULL && p->v[i].dst.family == 0)
			return &p->v[i];
		if (dst != NULL && strcmp(p->v[i].table, table) == 0 &&
		    prefix_equal(&p->v[i].dst, &want))
			return &p->v[i];
	}
	return NULL;
}

/* What happens to each desired prefix under each takeover mode. */
static void
test_planner_table(void **state)
{
	static const struct {
		const char *dst;
		enum prov_action never, blackhole, group;
		const char *target;
	} t[] = {
		{ "192.168.16.0/22", PROV_CREATE, PROV_CREATE, PROV_CREATE, NULL },    /* missing */
		{ "100.96.0.0/11", PROV_KEEP, PROV_KEEP, PROV_KEEP, NULL },            /* ours */
		{ "fd00:1::/64", PROV_KEEP, PROV_KEEP, PROV_KEEP, NULL },              /* ours, v6 */
		{ "192.168.0.0/22", PROV_CONFLICT, PROV_REPLACE, PROV_REPLACE, NULL }, /* blackhole */
		{ "192.168.4.0/22", PROV_CONFLICT, PROV_CONFLICT, PROV_REPLACE, NULL },/* same group, detached */
		/* same group, alive: never taken (two live connectors would flap) */
		{ "192.168.20.0/22", PROV_CONFLICT, PROV_CONFLICT, PROV_KEEP, "eni-live" },
		{ "192.168.8.0/22", PROV_CONFLICT, PROV_CONFLICT, PROV_CONFLICT, "eni-foreign" },
		{ "0.0.0.0/0", PROV_CONFLICT, PROV_CONFLICT, PROV_CONFLICT, "igw-1" }, /* gateway */
		{ "172.16.0.0/12", PROV_CONFLICT, PROV_CONFLICT, PROV_CONFLICT, "vgw-1" },
		{ "10.0.0.0/16", PROV_CONFLICT, PROV_CONFLICT, PROV_CONFLICT, "local" },
		{ "192.168.12.0/22", PROV_CONFLICT, PROV_CONFLICT, PROV_CONFLICT, "pcx-1" },
	};
	static const enum prov_takeover modes[] = {
		PROV_TAKEOVER_NEVER, PROV_TAKEOVER_BLACKHOLE, PROV_TAKEOVER_GROUP,
	};
	const struct prov_change *c;
	struct aws_plan_input in;
	struct prov_plan plan;
	struct world w;
	enum prov_action want;

	world_init(&w);
	for (size_t m = 0; m < ARRAY_SIZE(modes); m++) {
		memset(&plan, 0, sizeof(plan));
		world_input(&w, &in, modes[m]);
		assert_int_equal(aws_plan_compute(&in, &plan), 0);
		for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
			want = m == 0 ? t[i].never : m == 1 ? t[i].blackhole : t[i].group;
			c = find_change(&plan, want, "rtb-1", t[i].dst);
			if (c == NULL)
				fail_msg("mode %zu %s: expected action %d", m, t[i].dst, want);
			if ((want == PROV_CREATE || want == PROV_REPLACE || want == PROV_KEEP) &&
			    t[i].target == NULL)
				assert_string_equal(c->target, ME);
			else if (t[i].target)
				assert_string_equal(c->target, t[i].target);
		}
		/* Ten prefixes in rtb-1, two deletions, forwarding and tag: nothing else. */
		assert_non_null(find_change(&plan, PROV_DELETE, "rtb-1", "10.50.0.0/16"));
		assert_non_null(find_change(&plan, PROV_DELETE, "rtb-old", "100.96.0.0/11"));
		assert_null(find_change(&plan, PROV_DELETE, "rtb-1", "10.60.0.0/16"));
		assert_null(find_change(&plan, PROV_DELETE, "rtb-1", "100.96.0.0/11"));
		assert_non_null(find_change(&plan, PROV_FORWARDING, NULL, NULL));
		assert_non_null(find_change(&plan, PROV_TAG, NULL, NULL));
		assert_int_equal(plan.n, ARRAY_SIZE(t) + 4);
		prov_plan_free(&plan);
	}
	prefix_set_free(&w.desired);
}

static void
test_planner_nic(void **state)
{
	static const struct {
		int sdc, disable, tagged;
		const char *group;
		size_t forwarding, tag;
	} t[] = {
		{ 1, 1, 0, NULL, 1, 1 },           /* check on, untagged */
		{ 0, 1, 0, NULL, 0, 1 },           /* already off */
		{ 1, 0, 0, NULL, 0, 1 },           /* "leave" */
		{ 0, 1, 1, "g1", 0, 0 },           /* tagged with our group */
		{ 0, 1, 1, "g2", 0, 1 },           /* tagged with another group */
	};
	struct aws_plan_input in;
	struct prov_plan plan;
	struct world w;

	world_init(&w);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		memset(&plan, 0, sizeof(plan));
		world_input(&w, &in, PROV_TAKEOVER_BLACKHOLE);
		in.n_tables = in.n_targets = in.n_owned = 0;
		w.me.source_dest_check = t[i].sdc;
		w.me.has_ha_tag = t[i].tagged;
		cr_strlcpy(w.me.ha_group, t[i].group ? t[i].group : "", sizeof(w.me.ha_group));
		in.disable_source_dest_check = t[i].disable;
		assert_int_equal(aws_plan_compute(&in, &plan), 0);
		assert_int_equal(find_change(&plan, PROV_FORWARDING, NULL, NULL) != NULL,
		    t[i].forwarding);
		assert_int_equal(find_change(&plan, PROV_TAG, NULL, NULL) != NULL, t[i].tag);
		assert_int_equal(plan.n, t[i].forwarding + t[i].tag);
		prov_plan_free(&plan);
	}
	prefix_set_free(&w.desired);
}

/* Everything already as desired: no mutation at all. */
static void
test_planner_converged(void **state)
{
	struct aws_route rs[2];
	struct aws_route_table tb;
	struct aws_eni me;
	struct prefix_set want = { 0 };
	struct prefix p;
	struct aws_plan_input in;
	struct prov_plan plan = { 0 };

	rs[0] = R("100.96.0.0/11", ME, NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	rs[1] = R("192.168.0.0/22", ME, NULL, AWS_ORIGIN_CREATE_ROUTE, 0);
	memset(&tb, 0, sizeof(tb));
	cr_strlcpy(tb.id, "rtb-1", sizeof(tb.id));
	tb.routes = rs;
	tb.n = 2;
	memset(&me, 0, sizeof(me));
	cr_strlcpy(me.id, ME, sizeof(me.id));
	me.has_ha_tag = 1;
	cr_strlcpy(me.ha_group, "default", sizeof(me.ha_group));
	p = P("100.96.0.0/11");
	prefix_set_add(&want, &p);
	p = P("192.168.0.0/22");
	prefix_set_add(&want, &p);
	memset(&in, 0, sizeof(in));
	in.eni = ME;
	in.our_eni = &me;
	in.tables = &tb;
	in.n_tables = in.n_targets = 1;
	in.desired = &want;
	in.ha_group = "default";
	in.takeover = PROV_TAKEOVER_GROUP;
	in.disable_source_dest_check = 1;
	assert_int_equal(aws_plan_compute(&in, &plan), 0);
	assert_int_equal(plan.n, 2);
	assert_int_equal(prov_plan_mutations(&plan), 0);
	prov_plan_free(&plan);
	prefix_set_free(&want);
}

static void
test_change_fmt(void **state)
{
	struct prov_change c;
	char buf[256];

	memset(&c, 0, sizeof(c));
	c.action = PROV_CREATE;
	c.table = (char *)"rtb-0abc";
	c.dst = P("100.96.0.0/11");
	c.target = (char *)"eni-0123";
	c.note = (char *)"(this connector)";
	assert_string_equal(prov_change_fmt(&c, buf, sizeof(buf)),
	    "+ cloud route rtb-0abc 100.96.0.0/11 -> eni-0123 (this connector)");
	c.action = PROV_CONFLICT;
	c.dst = P("192.168.0.0/22");
	c.target = (char *)"eni-0999";
	c.note = (char *)"(not ours, left alone)";
	assert_string_equal(prov_change_fmt(&c, buf, sizeof(buf)),
	    "! cloud conflict rtb-0abc 192.168.0.0/22 -> eni-0999 (not ours, left alone)");
	c.action = PROV_DELETE;
	assert_string_equal(prov_change_fmt(&c, buf, sizeof(buf)),
	    "- cloud route rtb-0abc 192.168.0.0/22 -> eni-0999 (not ours, left alone)");
	memset(&c, 0, sizeof(c));
	c.action = PROV_FORWARDING;
	c.target = (char *)"eni-0123";
	c.note = (char *)"(source/dest check on -> off)";
	assert_string_equal(prov_change_fmt(&c, buf, sizeof(buf)),
	    "~ cloud forwarding eni-0123 (source/dest check on -> off)");
	c.action = PROV_DELETE;
	c.note = (char *)"(cloudroute:ha-group=g1)";
	assert_string_equal(prov_change_fmt(&c, buf, sizeof(buf)),
	    "- cloud tag eni-0123 (cloudroute:ha-group=g1)");
}

static void
test_plan_container(void **state)
{
	struct prov_plan p = { 0 };
	struct prov_change c;

	memset(&c, 0, sizeof(c));
	for (int i = 0; i < 40; i++) {
		c.action = (enum prov_action)(i % 8);
		assert_int_equal(prov_plan_add(&p, &c), 0);
	}
	assert_int_equal(p.n, 40);
	assert_int_equal(prov_plan_mutations(&p), 30);     /* KEEP and CONFLICT excluded */
	prov_plan_free(&p);
	assert_null(p.v);
}

static void
test_time_helpers(void **state)
{
	struct aws_creds c;
	time_t t;

	assert_int_equal(aws_parse_iso8601("2024-01-02T03:04:05Z", &t), 0);
	assert_int_equal(t, 1704164645);
	assert_int_equal(aws_parse_iso8601("2024-01-02T03:04:05.123Z", &t), 0);
	assert_int_equal(t, 1704164645);
	assert_int_equal(aws_parse_iso8601("2024-01-02 03:04:05", &t), -EINVAL);
	assert_int_equal(aws_parse_iso8601("2024-01-02T03:04:05+02:00", &t), -EINVAL);
	memset(&c, 0, sizeof(c));
	assert_int_equal(aws_creds_stale(&c, 1704164645), 0);        /* static */
	c.expiration = 1704164645;
	assert_int_equal(aws_creds_stale(&c, c.expiration - 301), 0);
	assert_int_equal(aws_creds_stale(&c, c.expiration - 299), 1);
}

/* HA: a same-group peer whose instance is stopped (its ENI stays attached)
 * loses the route; a running one keeps it unless we are the elected leader. */
static void
test_planner_instance_state(void **state)
{
	static const struct {
		const char *inst_state;     /* NULL: instance missing from the answer */
		int leader;
		enum prov_action want;
	} t[] = {
		{ "running", 0, PROV_KEEP },
		{ "stopped", 0, PROV_REPLACE },
		{ "stopping", 0, PROV_REPLACE },
		{ "shutting-down", 0, PROV_REPLACE },
		{ NULL, 0, PROV_REPLACE },
		{ "running", 1, PROV_REPLACE },
	};
	struct aws_instance inst;
	const struct prov_change *c;
	struct aws_plan_input in;
	struct prov_plan plan;
	struct world w;

	world_init(&w);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		memset(&plan, 0, sizeof(plan));
		world_input(&w, &in, PROV_TAKEOVER_GROUP);
		memset(&inst, 0, sizeof(inst));
		cr_strlcpy(inst.id, w.peers[2].instance, sizeof(inst.id));
		cr_strlcpy(inst.state, t[i].inst_state ? t[i].inst_state : "", sizeof(inst.state));
		in.instances = &inst;
		in.n_instances = t[i].inst_state ? 1 : 0;
		in.leader = t[i].leader;
		assert_int_equal(aws_plan_compute(&in, &plan), 0);
		c = find_change(&plan, t[i].want, "rtb-1", "192.168.20.0/22");
		if (c == NULL)
			fail_msg("case %zu: expected action %d", i, t[i].want);
		if (t[i].want == PROV_REPLACE) {
			assert_string_equal(c->target, ME);
			assert_string_equal(c->handle, "eni-live");  /* re-checked by apply */
		}
		prov_plan_free(&plan);
	}
	prefix_set_free(&w.desired);
}

static void
test_dmi(void **state)
{
	static const struct {
		const char *vendor, *product, *asset, *bios, *want;
	} t[] = {
		{ "Amazon EC2", "m5.large", "Amazon EC2", "Amazon EC2", "aws" },
		{ "Xen", "HVM domU", "", "Xen", NULL },
		{ "Microsoft Corporation", "Virtual Machine",
		  "7783-7084-3265-9085-8269-3286-77", "Microsoft Corporation", "azure" },
		{ "Microsoft Corporation", "Virtual Machine", "1234", "Microsoft", NULL },
		{ "Google", "Google Compute Engine", "", "Google", "gcp" },
		{ "QEMU", "Standard PC (i440FX + PIIX, 1996)", "OracleCloud.com", "SeaBIOS", "oci" },
		{ "OpenStack Foundation", "OpenStack Nova", "", "SeaBIOS", "openstack" },
		{ "QEMU", "Standard PC (Q35 + ICH9, 2009)", "", "SeaBIOS", NULL },
	};
	char dir[] = "/tmp/cr-dmi-XXXXXX", path[600];
	const char *got;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	setenv("CLOUDROUTE_DMI_DIR", dir, 1);
	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		const char *leaf[4] = { "sys_vendor", "product_name", "chassis_asset_tag",
		    "bios_vendor" };
		const char *val[4] = { t[i].vendor, t[i].product, t[i].asset, t[i].bios };

		for (int k = 0; k < 4; k++) {
			snprintf(path, sizeof(path), "%s/%s", dir, leaf[k]);
			assert_non_null(f = fopen(path, "w"));
			fprintf(f, "%s\n", val[k]);      /* sysfs values end in a newline */
			fclose(f);
		}
		got = prov_detect_dmi();
		if ((got == NULL) != (t[i].want == NULL) ||
		    (got != NULL && strcmp(got, t[i].want) != 0))
			fail_msg("case %zu: got %s, want %s", i, got ? got : "none",
			    t[i].want ? t[i].want : "none");
	}
	/* No DMI at all (containers): nothing, not a guess. */
	for (int k = 0; k < 4; k++) {
		const char *leaf[4] = { "sys_vendor", "product_name", "chassis_asset_tag",
		    "bios_vendor" };
		snprintf(path, sizeof(path), "%s/%s", dir, leaf[k]);
		unlink(path);
	}
	assert_null(prov_detect_dmi());
	rmdir(dir);
	unsetenv("CLOUDROUTE_DMI_DIR");
}

static void
test_select(void **state)
{
	const struct prov_ops *ops;

	assert_int_equal(prov_select("aws", &ops), 0);
	assert_string_equal(ops->name, "aws");
	assert_int_equal(prov_select("vax", &ops), -ENOENT);
	assert_null(ops);
	assert_non_null(strstr(prov_last_error(), "vax"));
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xml_route_tables),
		cmocka_unit_test(test_xml_enis),
		cmocka_unit_test(test_xml_errors),
		cmocka_unit_test(test_xml_return),
		cmocka_unit_test(test_xml_bad),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_planner_table),
		cmocka_unit_test(test_planner_nic),
		cmocka_unit_test(test_planner_converged),
		cmocka_unit_test(test_change_fmt),
		cmocka_unit_test(test_plan_container),
		cmocka_unit_test(test_time_helpers),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_planner_instance_state),
		cmocka_unit_test(test_dmi),
	};

	prov_set_datadir(__FILE__, "ec2");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
