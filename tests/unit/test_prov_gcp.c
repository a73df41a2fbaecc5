/*
 * GCP provider units: route names (length, charset, uniqueness), the
 * planner as a table, the Compute JSON parsers (routes with warnings and
 * paging, instance, the operation state machine, the error envelope, token,
 * key file), and the RS256 JWT assertion against a vector made with the
 * openssl command line and checked with an independent EVP verification
 * (fixtures in tests/unit/data/gcp/).
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
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/util.h"
#include "providers/gcp/gcp.h"
#include "providers/http.h"
#include "tests/unit/prov_test.h"

/* ---- names ---- */

static void
test_name_valid(void **state)
{
	static const struct { const char *s; int ok; } t[] = {
		{ "a", 1 }, { "cloudroute-x-1", 1 }, { "a--b", 1 }, { "", 0 }, { "1abc", 0 },
		{ "abc-", 0 }, { "Abc", 0 }, { "ab_c", 0 }, { "ab.c", 0 },
		{ "a23456789012345678901234567890123456789012345678901234567890123", 1 },
		{ "a234567890123456789012345678901234567890123456789012345678901234", 0 },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++)
		assert_int_equal(gcp_name_valid(t[i].s), t[i].ok);
}

static void
test_route_names(void **state)
{
	static const char *const groups[] = { "hq", "default", "Branch Office #7",
	    "a-very-long-ha-group-name-that-goes-on-and-on-and-on-forever", "" };
	static const char *const pfx[] = { "100.96.0.0/11", "10.0.0.0/8", "0.0.0.0/0",
	    "2001:db8:1234:5678:9abc:def0:1234:0/112", "fd00::/8", "192.168.0.0/22" };
	static const char *const ids[] = { "1234567890123456789", "987654321" };
	char names[ARRAY_SIZE(groups) * ARRAY_SIZE(pfx) * ARRAY_SIZE(ids)][GCP_NAME_MAX + 1];
	struct prefix p;
	size_t i, j, k, n = 0, a, b;

	for (i = 0; i < ARRAY_SIZE(groups); i++)
		for (j = 0; j < ARRAY_SIZE(pfx); j++)
			for (k = 0; k < ARRAY_SIZE(ids); k++) {
				p = P(pfx[j]);
				assert_int_equal(gcp_route_name(groups[i], &p, ids[k], names[n]), 0);
				assert_true(gcp_name_valid(names[n]));
				assert_true(strlen(names[n]) <= 63);
				assert_memory_equal(names[n], "cloudroute-", 11);
				n++;
			}
	/* "" and "default" are the same group; every other name differs. */
	for (a = 0; a < n; a++)
		for (b = a + 1; b < n; b++)
			if (a / (ARRAY_SIZE(pfx) * ARRAY_SIZE(ids)) != 1 ||
			    b / (ARRAY_SIZE(pfx) * ARRAY_SIZE(ids)) != 4)
				assert_string_not_equal(names[a], names[b]);
	p = P("100.96.0.0/11");
	assert_int_equal(gcp_route_name("hq", &p, "1234567890123456789", names[0]), 0);
	assert_int_equal(strncmp(names[0], "cloudroute-hq-100-96-0-0-11-", 28), 0);
	assert_int_equal(strlen(names[0]), 36);
	assert_int_equal(gcp_route_name("hq", &p, "", names[0]), -EINVAL);
}

static void
test_desc(void **state)
{
	char d[128], g[64];

	assert_int_equal(gcp_route_desc("hq", d, sizeof(d)), 0);
	assert_string_equal(d, "cloudroute ha_group=hq");
	assert_string_equal(gcp_desc_group(d, g, sizeof(g)), "hq");
	assert_null(gcp_desc_group("managed by terraform", g, sizeof(g)));
	assert_null(gcp_desc_group("cloudroute ha_group=", g, sizeof(g)));
}

/* ---- planner ---- */

#define NET "https://www.googleapis.com/compute/v1/projects/cr-proj/global/networks/vpc"
#define ME  "https://www.googleapis.com/compute/v1/projects/cr-proj/zones/z1-a/instances/me"
#define PEER "https://www.googleapis.com/compute/v1/projects/cr-proj/zones/z1-b/instances/peer"

static struct gcp_route
R(const char *name, const char *dst, const char *hop, const char *desc, int dead)
{
	struct gcp_route r;

	memset(&r, 0, sizeof(r));
	cr_strlcpy(r.name, name, sizeof(r.name));
	cr_strlcpy(r.network, NET, sizeof(r.network));
	r.has_dst = 1;
	r.dst = P(dst);
	r.priority = 1000;
	if (strncmp(hop, "http", 4) == 0)
		cr_strlcpy(r.next_hop_instance, hop, sizeof(r.next_hop_instance));
	else
		cr_strlcpy(r.next_hop_other, hop, sizeof(r.next_hop_other));
	cr_strlcpy(r.description, desc ? desc : "", sizeof(r.description));
	r.dead = dead;
	if (dead)
		cr_strlcpy(r.warning, "NEXT_HOP_INSTANCE_NOT_FOUND", sizeof(r.warning));
	return r;
}

static const struct gcp_change *
find(const struct gcp_changes *c, enum prov_action a, const char *dst)
{
	struct prefix p = P(dst);
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->v[i].action == a && prefix_equal(&c->v[i].dst, &p))
			return &c->v[i];
	return NULL;
}

static void
setup_input(struct gcp_plan_input *in, struct prefix_set *want, const struct gcp_route *rt,
    size_t n)
{
	memset(in, 0, sizeof(*in));
	in->self_link = ME;
	in->instance_id = "111";
	in->network = NET;
	in->can_ip_forward = 1;
	in->enable_forwarding = 1;
	in->routes = rt;
	in->n_routes = n;
	in->desired = want;
	in->ha_group = "hq";
	in->takeover = PROV_TAKEOVER_BLACKHOLE;
}

static void
test_planner_table(void **state)
{
	struct prefix_set want = { 0 };
	struct gcp_route rt[8];
	struct gcp_plan_input in;
	struct gcp_changes out = { 0 };
	const struct gcp_change *c;
	char ours[64];
	struct prefix p;
	size_t i;
	static const char *const w[] = { "100.96.0.0/11", "192.168.0.0/22", "172.16.0.0/16",
	    "10.200.0.0/16", "10.201.0.0/16", "10.202.0.0/16" };

	for (i = 0; i < ARRAY_SIZE(w); i++) {
		p = P(w[i]);
		prefix_set_add(&want, &p);
	}
	p = P("100.96.0.0/11");
	gcp_route_name("hq", &p, "111", ours);
	rt[0] = R(ours, "100.96.0.0/11", ME, "cloudroute ha_group=hq", 0);           /* ours */
	rt[1] = R("terraform-172", "172.16.0.0/16", PEER, "", 0);                    /* foreign */
	rt[2] = R("cloudroute-hq-10-200-0-0-16-deadbeef", "10.200.0.0/16", PEER,
	    "cloudroute ha_group=hq", 1);                                            /* dead */
	rt[3] = R("cloudroute-hq-10-201-0-0-16-0badf00d", "10.201.0.0/16", PEER,
	    "cloudroute ha_group=hq", 0);                                            /* live peer */
	rt[4] = R("cloudroute-hq-10-9-0-0-16-aaaa0000", "10.9.0.0/16", ME,
	    "cloudroute ha_group=hq", 0);                                            /* ours, unwanted */
	rt[5] = R("default-route-x", "0.0.0.0/0", "https://x/global/gateways/default-internet-gateway",
	    "", 0);
	rt[6] = R("cloudroute-other-10-202-0-0-16-12345678", "10.202.0.0/16", PEER,
	    "cloudroute ha_group=other", 0);                                         /* other group */
	rt[7] = R("cloudroute-hq-192-168-0-0-22-elsewhere", "192.168.0.0/22", ME, "", 0);
	cr_strlcpy(rt[7].network, "https://x/projects/cr-proj/global/networks/other",
	    sizeof(rt[7].network));                                                  /* other network */
	setup_input(&in, &want, rt, ARRAY_SIZE(rt));
	assert_int_equal(gcp_plan_compute(&in, &out), 0);

	assert_non_null((c = find(&out, PROV_KEEP, "100.96.0.0/11")));
	assert_string_equal(c->handle, ours);
	assert_non_null((c = find(&out, PROV_CREATE, "192.168.0.0/22")));
	assert_true(gcp_name_valid(c->handle));
	assert_string_equal(c->target, ME);
	assert_non_null((c = find(&out, PROV_CONFLICT, "172.16.0.0/16")));
	assert_string_equal(c->handle, "terraform-172");
	assert_null(find(&out, PROV_CREATE, "172.16.0.0/16"));
	assert_non_null((c = find(&out, PROV_REPLACE, "10.200.0.0/16")));
	assert_string_equal(c->handle, "cloudroute-hq-10-200-0-0-16-deadbeef");
	assert_non_null(find(&out, PROV_CONFLICT, "10.201.0.0/16"));   /* blackhole only */
	assert_non_null(find(&out, PROV_CONFLICT, "10.202.0.0/16"));
	assert_non_null((c = find(&out, PROV_DELETE, "10.9.0.0/16")));
	assert_string_equal(c->handle, "cloudroute-hq-10-9-0-0-16-aaaa0000");
	assert_null(find(&out, PROV_FORWARDING, "0.0.0.0/0"));
	assert_int_equal(out.n, 7);
	gcp_changes_free(&out);

	/* takeover group: the live peer holds it; the dead one is taken. */
	in.takeover = PROV_TAKEOVER_GROUP;
	assert_int_equal(gcp_plan_compute(&in, &out), 0);
	assert_non_null((c = find(&out, PROV_KEEP, "10.201.0.0/16")));
	assert_non_null(strstr(c->note, "held by"));
	assert_non_null(find(&out, PROV_REPLACE, "10.200.0.0/16"));
	gcp_changes_free(&out);

	/* the fleet leader takes its group's live routes, never another group's. */
	in.leader = 1;
	assert_int_equal(gcp_plan_compute(&in, &out), 0);
	assert_non_null(find(&out, PROV_REPLACE, "10.201.0.0/16"));
	assert_non_null(find(&out, PROV_CONFLICT, "10.202.0.0/16"));
	gcp_changes_free(&out);

	/* never: even a dead route stays. */
	in.leader = 0;
	in.takeover = PROV_TAKEOVER_NEVER;
	assert_int_equal(gcp_plan_compute(&in, &out), 0);
	assert_non_null(find(&out, PROV_CONFLICT, "10.200.0.0/16"));
	gcp_changes_free(&out);

	/* canIpForward */
	in.can_ip_forward = 0;
	assert_int_equal(gcp_plan_compute(&in, &out), 0);
	assert_int_equal(out.v[0].action, PROV_FORWARDING);
	gcp_changes_free(&out);
	in.enable_forwarding = 0;
	assert_int_equal(gcp_plan_compute(&in, &out), 0);
	assert_int_not_equal(out.v[0].action, PROV_FORWARDING);
	gcp_changes_free(&out);

	/* teardown: exactly ours in our network */
	assert_int_equal(gcp_plan_teardown(&in, &out), 0);
	assert_int_equal(out.n, 2);
	assert_non_null(find(&out, PROV_DELETE, "100.96.0.0/11"));
	assert_non_null(find(&out, PROV_DELETE, "10.9.0.0/16"));
	gcp_changes_free(&out);
	prefix_set_free(&want);
}

static void
test_planner_after_takeover_crash(void **state)
{
	struct prefix_set want = { 0 };
	struct gcp_route rt[2];
	struct gcp_plan_input in;
	struct gcp_changes out = { 0 };
	char ours[64];
	struct prefix p = P("10.200.0.0/16");

	prefix_set_add(&want, &p);
	gcp_route_name("hq", &p, "111", ours);
	/* ours was inserted, the agent died before deleting the dead one */
	rt[0] = R(ours, "10.200.0.0/16", ME, "cloudroute ha_group=hq", 0);
	rt[1] = R("cloudroute-hq-10-200-0-0-16-deadbeef", "10.200.0.0/16", PEER,
	    "cloudroute ha_group=hq", 1);
	setup_input(&in, &want, rt, 2);
	assert_int_equal(gcp_plan_compute(&in, &out), 0);
	assert_int_equal(out.n, 2);
	assert_non_null(find(&out, PROV_KEEP, "10.200.0.0/16"));
	assert_string_equal(find(&out, PROV_DELETE, "10.200.0.0/16")->handle,
	    "cloudroute-hq-10-200-0-0-16-deadbeef");
	gcp_changes_free(&out);

	/* converged: a plan with nothing but KEEP */
	in.n_routes = 1;
	assert_int_equal(gcp_plan_compute(&in, &out), 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.v[0].action, PROV_KEEP);
	gcp_changes_free(&out);
	prefix_set_free(&want);
}

/* ---- JSON ---- */

static void
test_json_routes(void **state)
{
	struct gcp_route_list l = { 0 };
	struct buf b;

	fixture("routes-page1.json", &b);
	assert_int_equal(gcp_json_routes(b.data, b.len, &l), 0);
	buf_free(&b);
	assert_string_equal(l.next_page_token, "CgRwYWdlMg==");
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].route_type, "SUBNET");
	assert_string_equal(l.v[0].next_hop_other,
	    "https://www.googleapis.com/compute/v1/projects/cr-proj/global/networks/vpc");
	assert_string_equal(l.v[1].next_hop_other,
	    "https://www.googleapis.com/compute/v1/projects/cr-proj/global/gateways/default-internet-gateway");
	assert_int_equal(l.v[1].priority, 1000);
	assert_int_equal(l.v[2].dead, 1);
	assert_string_equal(l.v[2].warning, "NEXT_HOP_INSTANCE_NOT_FOUND");
	assert_string_equal(gcp_url_last(l.v[2].next_hop_instance), "dead-connector");
	assert_int_equal(l.v[3].dead, 0);           /* an unrelated warning */
	assert_int_equal(l.v[3].priority, 900);
	fixture("routes-page2.json", &b);
	assert_int_equal(gcp_json_routes(b.data, b.len, &l), 0);
	buf_free(&b);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.next_page_token, "");
	gcp_route_list_free(&l);

	/* garbage, wrong kind, wrong types */
	assert_int_equal(gcp_json_routes("<html>", 6, &l), -EBADMSG);
	assert_int_equal(gcp_json_routes("{\"kind\":\"compute#instance\"}", 27, &l), -EBADMSG);
	assert_int_equal(gcp_json_routes("{\"kind\":\"compute#routeList\",\"items\":{}}", 39, &l),
	    -EBADMSG);
	assert_int_equal(gcp_json_routes("{\"kind\":\"compute#routeList\",\"items\":[{\"name\":1}]}",
	    49, &l), -EBADMSG);
	assert_int_equal(gcp_json_routes("{\"kind\":\"compute#routeList\"} x", 30, &l), -EBADMSG);
	assert_int_equal(gcp_json_routes("[]", 2, &l), -EBADMSG);
	assert_int_equal(gcp_json_routes("{\"kind\":\"compute#routeList\"}\n", 29, &l), 0);
	assert_int_equal(l.n, 0);
	gcp_route_list_free(&l);
}

static void
test_json_instance(void **state)
{
	struct gcp_instance in;
	struct buf b;

	fixture("instance.json", &b);
	assert_int_equal(gcp_json_instance(b.data, b.len, &in), 0);
	buf_free(&b);
	assert_string_equal(in.name, "cr-hq");
	assert_string_equal(in.zone, "europe-west1-b");
	assert_string_equal(in.fingerprint, "FsQ5dxBAHqA=");
	assert_int_equal(in.can_ip_forward, 0);
	assert_string_equal(gcp_url_last(in.network), "vpc");
	assert_string_equal(in.network_ip, "10.0.0.10");
	assert_string_equal(in.nat_ip, "203.0.113.10");
	assert_string_equal(in.status, "RUNNING");
	assert_non_null(in.raw);
	gcp_instance_free(&in);
	assert_int_equal(gcp_json_instance("{\"kind\":\"compute#instance\",\"name\":\"x\"}", 38,
	    &in), -EBADMSG);
	/* uint64 "id" as the API sends it (a string), or as a plain number. */
	assert_string_equal(in.id, "");
	{
		static const char doc[] = "{\"kind\":\"compute#instance\",\"id\":%s,\"name\":\"x\","
		    "\"selfLink\":\"https://www.googleapis.com/compute/v1/projects/p/zones/z/"
		    "instances/x\",\"fingerprint\":\"f\",\"networkInterfaces\":[{\"network\":"
		    "\"https://www.googleapis.com/compute/v1/projects/p/global/networks/n\"}]}";
		char j[512];

		snprintf(j, sizeof(j), doc, "\"12345678901234567890\"");
		assert_int_equal(gcp_json_instance(j, strlen(j), &in), 0);
		assert_string_equal(in.id, "12345678901234567890");
		gcp_instance_free(&in);
		snprintf(j, sizeof(j), doc, "12345678901234567890");
		assert_int_equal(gcp_json_instance(j, strlen(j), &in), 0);
		assert_string_equal(in.id, "12345678901234567890");
		gcp_instance_free(&in);
		snprintf(j, sizeof(j), doc, "true");
		assert_int_equal(gcp_json_instance(j, strlen(j), &in), -EBADMSG);
	}
}

static void
test_operation_states(void **state)
{
	static const struct { const char *json; int rc; enum gcp_op_status st; const char *zone; } t[] = {
		{ "{\"kind\":\"compute#operation\",\"name\":\"operation-1\",\"status\":\"PENDING\"}",
		  0, GCP_OP_PENDING, "" },
		{ "{\"kind\":\"compute#operation\",\"name\":\"operation-1\",\"status\":\"RUNNING\","
		  "\"zone\":\"https://www.googleapis.com/compute/v1/projects/p/zones/z1-a\"}",
		  0, GCP_OP_PENDING, "z1-a" },
		{ "{\"kind\":\"compute#operation\",\"name\":\"operation-1\",\"status\":\"DONE\"}",
		  0, GCP_OP_DONE, "" },
		/* an error before DONE does not count yet */
		{ "{\"kind\":\"compute#operation\",\"name\":\"operation-1\",\"status\":\"RUNNING\","
		  "\"error\":{\"errors\":[{\"code\":\"X\"}]}}", 0, GCP_OP_PENDING, "" },
		{ "{\"kind\":\"compute#operation\",\"name\":\"operation-1\",\"status\":\"DONE\","
		  "\"httpErrorStatusCode\":403,\"error\":{\"errors\":[{\"code\":\"QUOTA_EXCEEDED\","
		  "\"message\":\"Quota 'ROUTES' exceeded.  Limit: 250.0 globally.\"}]}}",
		  0, GCP_OP_FAILED, "" },
		{ "{\"kind\":\"compute#operation\",\"name\":\"operation-1\",\"status\":\"FINISHED\"}",
		  -EBADMSG, GCP_OP_PENDING, "" },
		{ "{\"kind\":\"compute#operation\",\"status\":\"DONE\"}", -EBADMSG, GCP_OP_PENDING, "" },
		/* Names are the service's: longer than 63, upper case, '_' are fine;
		 * what would not stay one path segment is not. */
		{ "{\"kind\":\"compute#operation\",\"name\":\"operation-1700000000000-60a1b2c3d4e5f-"
		  "1a2b3c4d-5e6f7a8b_Xyz-0123456789abcdef\",\"status\":\"DONE\"}", 0, GCP_OP_DONE, "" },
		{ "{\"kind\":\"compute#operation\",\"name\":\"op/../x\",\"status\":\"DONE\"}",
		  -EBADMSG, GCP_OP_PENDING, "" },
		{ "{\"kind\":\"compute#operation\",\"name\":\"op?x=1\",\"status\":\"DONE\"}",
		  -EBADMSG, GCP_OP_PENDING, "" },
		{ "{\"kind\":\"compute#route\",\"name\":\"operation-1\",\"status\":\"DONE\"}",
		  -EBADMSG, GCP_OP_PENDING, "" },
	};
	struct gcp_operation op;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		assert_int_equal(gcp_json_operation(t[i].json, strlen(t[i].json), &op), t[i].rc);
		if (t[i].rc == 0) {
			assert_int_equal(op.status, t[i].st);
			assert_string_equal(op.zone, t[i].zone);
		}
	}
	assert_string_equal(op.name, "");
	gcp_json_operation(t[4].json, strlen(t[4].json), &op);
	assert_string_equal(op.error_code, "QUOTA_EXCEEDED");
	assert_int_equal(op.http_error_status, 403);
	assert_non_null(strstr(op.error_message, "ROUTES"));
}

static void
test_json_error(void **state)
{
	const char *s = "{\"error\":{\"code\":412,\"message\":\"Supplied fingerprint does not "
	    "match current metadata fingerprint.\",\"errors\":[{\"message\":\"...\",\"domain\":"
	    "\"global\",\"reason\":\"conditionNotMet\",\"location\":\"If-Match\"}],"
	    "\"status\":\"FAILED_PRECONDITION\"}}";
	struct gcp_error e;

	assert_int_equal(gcp_json_error(s, strlen(s), &e), 0);
	assert_int_equal(e.code, 412);
	assert_string_equal(e.reason, "conditionNotMet");
	assert_string_equal(e.status, "FAILED_PRECONDITION");
	assert_int_equal(gcp_json_error("<html></html>", 13, &e), -EBADMSG);
	assert_int_equal(gcp_json_error("{\"x\":1}", 7, &e), -EBADMSG);
	s = "{\"error\":{\"code\":403,\"message\":\"Rate Limit Exceeded\",\"errors\":[{"
	    "\"reason\":\"rateLimitExceeded\"}]}}";
	assert_int_equal(gcp_json_error(s, strlen(s), &e), 0);
	assert_true(gcp_error_throttled(403, &e));
	assert_true(gcp_error_throttled(429, NULL));
	assert_true(gcp_error_throttled(503, NULL));
	cr_strlcpy(e.reason, "forbidden", sizeof(e.reason));
	assert_false(gcp_error_throttled(403, &e));
	/* The network busy with another operation: 400s to retry. */
	s = "{\"error\":{\"code\":400,\"message\":\"The resource 'projects/p/global/networks/vpc' "
	    "is not ready\",\"errors\":[{\"reason\":\"resourceNotReady\"}]}}";
	assert_int_equal(gcp_json_error(s, strlen(s), &e), 0);
	assert_true(gcp_error_transient(400, &e));
	assert_false(gcp_error_throttled(400, &e));
	s = "{\"error\":{\"code\":400,\"message\":\"There is a peering operation in progress on "
	    "the local or peer network. Try again later.\",\"errors\":[{\"reason\":\"badRequest\"}]}}";
	assert_int_equal(gcp_json_error(s, strlen(s), &e), 0);
	assert_true(gcp_error_transient(400, &e));
	s = "{\"error\":{\"code\":400,\"message\":\"Invalid value for field 'resource.destRange'\","
	    "\"errors\":[{\"reason\":\"invalid\"}]}}";
	assert_int_equal(gcp_json_error(s, strlen(s), &e), 0);
	assert_false(gcp_error_transient(400, &e));
	assert_false(gcp_error_transient(400, NULL));
}

static void
test_json_token(void **state)
{
	struct buf t;
	long exp = 0;
	const char *ok = "{\"access_token\":\"ya29.c.abc\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";

	buf_init(&t, 16384);
	assert_int_equal(gcp_json_token(ok, strlen(ok), &t, &exp), 0);
	assert_string_equal(t.data, "ya29.c.abc");
	assert_int_equal(exp, 3599);
	assert_int_equal(gcp_json_token("{\"access_token\":\"a b\",\"expires_in\":1}", 37, &t,
	    &exp), -EBADMSG);
	assert_int_equal(gcp_json_token("{\"access_token\":\"ab\"}", 21, &t, &exp), -EBADMSG);
	buf_free(&t);
}

/* ---- JWT ---- */

static int
verify_rs256(const char *pub_pem, const char *jwt)
{
	const char *dot = strrchr(jwt, '.');
	unsigned char sig[1024];
	char b64[2048];
	size_t i, n;
	int len, ok = 0;
	BIO *bio = BIO_new_mem_buf(pub_pem, -1);
	EVP_PKEY *k = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	/* base64url -> base64 with padding, decoded by OpenSSL */
	n = cr_strlcpy(b64, dot + 1, sizeof(b64));
	for (i = 0; i < n; i++)
		b64[i] = b64[i] == '-' ? '+' : b64[i] == '_' ? '/' : b64[i];
	while (n % 4)
		b64[n++] = '=';
	b64[n] = '\0';
	len = EVP_DecodeBlock(sig, (unsigned char *)b64, (int)n);
	while (n > 0 && b64[--n] == '=')
		len--;
	if (k != NULL && md != NULL && len > 0 &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
	    EVP_DigestVerify(md, sig, (size_t)len, (const unsigned char *)jwt,
	    (size_t)(dot - jwt)) == 1)
		ok = 1;
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	BIO_free(bio);
	return ok;
}

static void
test_jwt(void **state)
{
	struct gcp_sa_key k;
	struct buf b, want, pub, jwt;

	fixture("sa-key.json", &b);
	assert_int_equal(gcp_json_sa_key(b.data, b.len, &k), 0);
	buf_free(&b);
	assert_string_equal(k.client_email, "cloudroute@cr-test-project.iam.gserviceaccount.com");
	assert_string_equal(k.token_uri, "https://oauth2.googleapis.com/token");
	buf_init(&jwt, 16384);
	assert_int_equal(gcp_jwt_assertion(&k, GCP_SCOPE, 1700000000, &jwt), 0);
	fixture("jwt-1700000000.txt", &want);
	want.data[strcspn(want.data, "\n")] = '\0';
	/* RSASSA-PKCS1-v1_5 is deterministic: byte-for-byte the openssl(1) result */
	assert_string_equal(jwt.data, want.data);
	fixture("sa-pub.pem", &pub);
	assert_true(verify_rs256(pub.data, jwt.data));
	jwt.data[10] ^= 1;
	assert_false(verify_rs256(pub.data, jwt.data));
	buf_free(&want);
	buf_free(&pub);
	buf_free(&jwt);
	gcp_sa_key_wipe(&k);
	assert_int_equal(gcp_json_sa_key("{\"type\":\"authorized_user\"}", 26, &k), -EBADMSG);
}

static void
test_base64url(void **state)
{
	struct buf b;

	buf_init(&b, 64);
	assert_int_equal(gcp_base64url("\xfb\xff\xfe", 3, &b), 0);
	assert_string_equal(b.data, "-__-");
	buf_reset(&b);
	assert_int_equal(gcp_base64url("ab", 2, &b), 0);
	assert_string_equal(b.data, "YWI");
	buf_free(&b);
}

static void
test_url_helpers(void **state)
{
	struct gcp_operation op;
	const char *s;
	char p[64];

	assert_true(gcp_same_resource(
	    "https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/i",
	    "https://compute.googleapis.com/compute/beta/projects/p/zones/z/instances/i"));
	assert_true(gcp_same_resource("projects/p/zones/z/instances/i",
	    "https://www.googleapis.com/compute/v1/projects/p/zones/z/instances/i"));
	assert_false(gcp_same_resource("projects/p/zones/z/instances/i",
	    "projects/p/zones/z/instances/j"));
	assert_false(gcp_same_resource("", ""));
	assert_string_equal(gcp_url_last("a/b/c"), "c");
	/* Shared VPC: routes and their operations live in the network's project */
	assert_string_equal(gcp_url_project(
	    "https://www.googleapis.com/compute/v1/projects/host-proj/global/networks/shared",
	    p, sizeof(p)), "host-proj");
	assert_string_equal(gcp_url_project("no project here", p, sizeof(p)), "");
	s = "{\"kind\":\"compute#operation\",\"name\":\"operation-2\",\"status\":\"RUNNING\","
	    "\"selfLink\":\"https://www.googleapis.com/compute/v1/projects/host-proj/global/"
	    "operations/operation-2\"}";
	assert_int_equal(gcp_json_operation(s, strlen(s), &op), 0);
	assert_string_equal(op.project, "host-proj");
}

int
main(void)
{
	static const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_route_names),
		cmocka_unit_test(test_desc),
		cmocka_unit_test(test_planner_table),
		cmocka_unit_test(test_planner_after_takeover_crash),
		cmocka_unit_test(test_json_routes),
		cmocka_unit_test(test_json_instance),
		cmocka_unit_test(test_operation_states),
		cmocka_unit_test(test_json_error),
		cmocka_unit_test(test_json_token),
		cmocka_unit_test(test_jwt),
		cmocka_unit_test(test_base64url),
		cmocka_unit_test(test_url_helpers),
	};

	prov_set_datadir(__FILE__, "gcp");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
