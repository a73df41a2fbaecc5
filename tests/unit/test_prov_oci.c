/*
 * OCI provider units: the route-rule merge as a table (foreign rules kept
 * byte for byte and in order, ours added, dead ours replaced, conflicts,
 * removals, ha-group takeover), and the JSON models (IMDS v2, Vnic,
 * Subnet, ListPrivateIps, route tables, the error envelope).
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
#include "providers/oci/oci.h"

#define ME   "ocid1.privateip.oc1.iad.me"
#define PEER "ocid1.privateip.oc1.iad.peer"
#define GONE "ocid1.privateip.oc1.iad.gone"
#define DOWN "ocid1.privateip.oc1.iad.down"
#define IGW  "ocid1.internetgateway.oc1.iad.igw"

static enum oci_target_state
states(void *arg, const char *ocid)
{
	(void)arg;
	if (strcmp(ocid, GONE) == 0)
		return OCI_TARGET_GONE;
	if (strcmp(ocid, DOWN) == 0)
		return OCI_TARGET_DEAD;
	return OCI_TARGET_ALIVE;
}

/* A RouteTable document from rule objects. */
static void
table(struct oci_table *t, const char *rules)
{
	char doc[8192];

	snprintf(doc, sizeof(doc), "{\"id\":\"ocid1.routetable.oc1.iad.rt\",\"vcnId\":\"v\","
	    "\"lifecycleState\":\"AVAILABLE\",\"routeRules\":[%s]}", rules);
	assert_int_equal(oci_table_parse(doc, "\"etag-1\"", t), 0);
}

#define FOREIGN_IGW "{\"cidrBlock\":\"0.0.0.0/0\",\"destination\":\"0.0.0.0/0\"," \
    "\"destinationType\":\"CIDR_BLOCK\",\"networkEntityId\":\"" IGW "\"," \
    "\"description\":\"internet \\/ egress\",\"routeType\":\"STATIC\"}"
/* The same rule as json-c writes it back (no escaped slash; same values). */
#define FOREIGN_IGW_PLAIN "{\"cidrBlock\":\"0.0.0.0/0\",\"destination\":\"0.0.0.0/0\"," \
    "\"destinationType\":\"CIDR_BLOCK\",\"networkEntityId\":\"" IGW "\"," \
    "\"description\":\"internet / egress\",\"routeType\":\"STATIC\"}"
#define FOREIGN_SVC "{\"destination\":\"all-iad-services-in-oracle-services-network\"," \
    "\"destinationType\":\"SERVICE_CIDR_BLOCK\",\"networkEntityId\":\"ocid1.servicegateway.x\"}"

static void
want_set(struct prefix_set *s, const char *a, const char *b)
{
	struct prefix p;

	memset(s, 0, sizeof(*s));
	if (a != NULL) {
		assert_int_equal(prefix_parse(a, &p, 0), 0);
		prefix_set_add(s, &p);
	}
	if (b != NULL) {
		assert_int_equal(prefix_parse(b, &p, 0), 0);
		prefix_set_add(s, &p);
	}
}

static void
input(struct oci_plan_input *in, const struct prefix_set *d, enum prov_takeover tk)
{
	memset(in, 0, sizeof(*in));
	in->me = ME;
	in->desired = d;
	in->ha_group = "hq";
	in->takeover = tk;
	in->target_state = states;
}

static const char *
rules_str(const struct oci_table_plan *p)
{
	return json_object_to_json_string_ext(p->rules, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
}

static int
count(const struct oci_table_plan *p, enum prov_action a)
{
	size_t i;
	int n = 0;

	for (i = 0; i < p->n; i++)
		n += p->v[i].action == a;
	return n;
}

#define OURS(dst, tgt, grp) "{\"destination\":\"" dst "\",\"destinationType\":\"CIDR_BLOCK\"," \
    "\"networkEntityId\":\"" tgt "\",\"description\":\"cloudroute ha_group=" grp "\"}"

/* Foreign rules kept in order and unchanged; ours appended. */
static void
test_merge_create(void **st)
{
	struct oci_table t;
	struct oci_table_plan p;
	struct oci_plan_input in;
	struct prefix_set d;

	(void)st;
	want_set(&d, "100.96.0.0/11", "192.168.0.0/22");
	input(&in, &d, PROV_TAKEOVER_BLACKHOLE);
	table(&t, FOREIGN_IGW "," FOREIGN_SVC);
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_true(p.changed);
	assert_int_equal(count(&p, PROV_CREATE), 2);
	assert_string_equal(rules_str(&p), "[" FOREIGN_IGW_PLAIN "," FOREIGN_SVC ","
	    OURS("100.96.0.0/11", ME, "hq") "," OURS("192.168.0.0/22", ME, "hq") "]");
	oci_table_plan_free(&p);
	oci_table_free(&t);
	prefix_set_free(&d);
}

/* Converged: nothing changes, a second pass writes nothing. */
static void
test_merge_converged(void **st)
{
	struct oci_table t;
	struct oci_table_plan p;
	struct oci_plan_input in;
	struct prefix_set d;

	(void)st;
	want_set(&d, "100.96.0.0/11", NULL);
	input(&in, &d, PROV_TAKEOVER_BLACKHOLE);
	table(&t, FOREIGN_IGW "," OURS("100.96.0.0/11", ME, "hq"));
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_false(p.changed);
	assert_int_equal(p.n, 1);
	assert_int_equal(p.v[0].action, PROV_KEEP);
	oci_table_plan_free(&p);
	oci_table_free(&t);
	prefix_set_free(&d);
}

/* Ours under an old ha_group name: rewritten in place with the new one. */
static void
test_merge_regroup(void **st)
{
	struct oci_table t;
	struct oci_table_plan p;
	struct oci_plan_input in;
	struct prefix_set d;

	(void)st;
	want_set(&d, "100.96.0.0/11", NULL);
	input(&in, &d, PROV_TAKEOVER_BLACKHOLE);
	table(&t, FOREIGN_SVC "," OURS("100.96.0.0/11", ME, "old"));
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_true(p.changed);
	assert_int_equal(count(&p, PROV_REPLACE), 1);
	assert_string_equal(rules_str(&p), "[" FOREIGN_SVC "," OURS("100.96.0.0/11", ME, "hq") "]");
	oci_table_plan_free(&p);
	oci_table_free(&t);
	prefix_set_free(&d);
}

/* A rule whose private IP is gone is replaced in place (blackhole). */
static void
test_merge_blackhole(void **st)
{
	struct oci_table t;
	struct oci_table_plan p;
	struct oci_plan_input in;
	struct prefix_set d;

	(void)st;
	want_set(&d, "100.96.0.0/11", NULL);
	input(&in, &d, PROV_TAKEOVER_BLACKHOLE);
	table(&t, OURS("100.96.0.0/11", GONE, "other") "," FOREIGN_SVC);
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_true(p.changed);
	assert_int_equal(count(&p, PROV_REPLACE), 1);
	assert_string_equal(rules_str(&p), "[" OURS("100.96.0.0/11", ME, "hq") ","
	    FOREIGN_SVC "]");
	oci_table_plan_free(&p);
	oci_table_free(&t);
	/* Someone else's rule to a vanished private IP: never taken. */
	table(&t, "{\"destination\":\"100.96.0.0/11\",\"destinationType\":\"CIDR_BLOCK\","
	    "\"networkEntityId\":\"" GONE "\"}");
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_false(p.changed);
	assert_int_equal(count(&p, PROV_CONFLICT), 1);
	oci_table_plan_free(&p);
	oci_table_free(&t);
	table(&t, OURS("100.96.0.0/11", GONE, "other") "," FOREIGN_SVC);
	/* takeover never: a conflict, untouched. */
	in.takeover = PROV_TAKEOVER_NEVER;
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_false(p.changed);
	assert_int_equal(count(&p, PROV_CONFLICT), 1);
	oci_table_plan_free(&p);
	oci_table_free(&t);
	prefix_set_free(&d);
}

/* Someone else's rule for our prefix: a conflict; we add nothing for it. */
static void
test_merge_conflict(void **st)
{
	struct oci_table t;
	struct oci_table_plan p;
	struct oci_plan_input in;
	struct prefix_set d;
	const char *f = "{\"destination\":\"192.168.0.0/22\",\"destinationType\":\"CIDR_BLOCK\","
	    "\"networkEntityId\":\"" PEER "\"}";
	char rules[1024];

	(void)st;
	want_set(&d, "100.96.0.0/11", "192.168.0.0/22");
	input(&in, &d, PROV_TAKEOVER_GROUP);
	table(&t, f);
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_int_equal(count(&p, PROV_CONFLICT), 1);
	assert_int_equal(count(&p, PROV_CREATE), 1);
	snprintf(rules, sizeof(rules), "[%s,%s]", f, OURS("100.96.0.0/11", ME, "hq"));
	assert_string_equal(rules_str(&p), rules);
	oci_table_plan_free(&p);
	oci_table_free(&t);
	prefix_set_free(&d);
}

/* Ours no longer desired: removed; a peer's and a foreign one stay. */
static void
test_merge_remove(void **st)
{
	struct oci_table t;
	struct oci_table_plan p;
	struct oci_plan_input in;

	(void)st;
	input(&in, NULL, PROV_TAKEOVER_BLACKHOLE);
	table(&t, OURS("10.9.0.0/16", ME, "hq") "," FOREIGN_SVC ","
	    OURS("10.8.0.0/16", PEER, "hq") "," OURS("10.7.0.0/16", ME, "hq"));
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_true(p.changed);
	assert_int_equal(count(&p, PROV_DELETE), 2);
	assert_string_equal(rules_str(&p), "[" FOREIGN_SVC "," OURS("10.8.0.0/16", PEER, "hq")
	    "]");
	oci_table_plan_free(&p);
	oci_table_free(&t);
}

/* ha-group: an alive peer holds its rule; a dead one is taken over. */
static void
test_merge_group(void **st)
{
	struct oci_table t;
	struct oci_table_plan p;
	struct oci_plan_input in;
	struct prefix_set d;

	(void)st;
	want_set(&d, "100.96.0.0/11", "192.168.0.0/22");
	input(&in, &d, PROV_TAKEOVER_GROUP);
	table(&t, OURS("100.96.0.0/11", PEER, "hq") "," OURS("192.168.0.0/22", DOWN, "hq"));
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_int_equal(count(&p, PROV_KEEP), 1);
	assert_int_equal(count(&p, PROV_REPLACE), 1);
	assert_string_equal(rules_str(&p), "[" OURS("100.96.0.0/11", PEER, "hq") ","
	    OURS("192.168.0.0/22", ME, "hq") "]");
	oci_table_plan_free(&p);
	/* The fleet leader takes the alive peer's rule too. */
	in.leader = 1;
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_int_equal(count(&p, PROV_REPLACE), 2);
	oci_table_plan_free(&p);
	/* takeover blackhole: group rules of alive or dead peers are conflicts. */
	in.leader = 0;
	in.takeover = PROV_TAKEOVER_BLACKHOLE;
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_int_equal(count(&p, PROV_CONFLICT), 2);
	assert_false(p.changed);
	oci_table_plan_free(&p);
	/* ... but the fleet leader takes them whatever takeover says. */
	in.leader = 1;
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_int_equal(count(&p, PROV_REPLACE), 2);
	assert_string_equal(rules_str(&p), "[" OURS("100.96.0.0/11", ME, "hq") ","
	    OURS("192.168.0.0/22", ME, "hq") "]");
	oci_table_plan_free(&p);
	in.takeover = PROV_TAKEOVER_NEVER;
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_int_equal(count(&p, PROV_REPLACE), 2);
	oci_table_plan_free(&p);
	in.leader = 0;
	/* Another group's rule is never taken (unless its target is gone). */
	oci_table_free(&t);
	in.takeover = PROV_TAKEOVER_GROUP;
	table(&t, OURS("100.96.0.0/11", DOWN, "branch"));
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_int_equal(count(&p, PROV_CONFLICT), 1);
	oci_table_plan_free(&p);
	oci_table_free(&t);
	prefix_set_free(&d);
}

/* A rule pointing at us that is not marked ours: kept, never removed. */
static void
test_merge_unmarked(void **st)
{
	struct oci_table t;
	struct oci_table_plan p;
	struct oci_plan_input in;
	struct prefix_set d;
	const char *f = "{\"destination\":\"100.96.0.0/11\",\"destinationType\":\"CIDR_BLOCK\","
	    "\"networkEntityId\":\"" ME "\",\"description\":\"terraform\"}";

	(void)st;
	want_set(&d, "100.96.0.0/11", NULL);
	input(&in, &d, PROV_TAKEOVER_BLACKHOLE);
	table(&t, f);
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_false(p.changed);
	assert_int_equal(count(&p, PROV_KEEP), 1);
	oci_table_plan_free(&p);
	in.desired = NULL;                 /* teardown: not ours, stays */
	assert_int_equal(oci_plan_table(&in, &t, &p), 0);
	assert_false(p.changed);
	assert_int_equal(json_object_array_length(p.rules), 1);
	oci_table_plan_free(&p);
	oci_table_free(&t);
	prefix_set_free(&d);
}

static void
test_update_body(void **st)
{
	struct oci_table t;
	char *s;

	(void)st;
	table(&t, FOREIGN_IGW);
	s = oci_update_body(json_object_object_get(t.root, "routeRules"));
	assert_non_null(s);
	assert_string_equal(s, "{\"routeRules\":[" FOREIGN_IGW_PLAIN "]}");
	free(s);
	oci_table_free(&t);
	/* Members RouteRule does not define (newer or read-only ones) are not
	 * written back: UpdateRouteTable refuses unknown members. */
	table(&t, "{\"timeCreated\":\"2026-01-01T00:00:00Z\",\"cidrBlock\":\"0.0.0.0/0\","
	    "\"destination\":\"0.0.0.0/0\",\"x\":{\"y\":[1]},\"destinationType\":"
	    "\"CIDR_BLOCK\",\"networkEntityId\":\"" IGW "\",\"description\":"
	    "\"internet \\/ egress\",\"lifecycleState\":\"AVAILABLE\",\"routeType\":\"STATIC\"}");
	s = oci_update_body(json_object_object_get(t.root, "routeRules"));
	assert_non_null(s);
	assert_string_equal(s, "{\"routeRules\":[" FOREIGN_IGW_PLAIN "]}");
	free(s);
	oci_table_free(&t);
	assert_int_equal(oci_table_parse("{\"id\":\"x\"}", "", &t), -EBADMSG);
	assert_int_equal(oci_table_parse("{\"id\":\"x\",\"routeRules\":[1]}", "", &t), -EBADMSG);
	assert_int_equal(oci_table_parse("[]", "", &t), -EBADMSG);
}

static void
test_json_models(void **st)
{
	struct oci_instance_md md;
	struct oci_vnic v;
	struct oci_subnet sn;
	struct oci_private_ip pip;
	char **tables = NULL, code[64], msg[128];
	size_t n = 0, i;

	(void)st;
	memset(&md, 0, sizeof(md));
	assert_int_equal(oci_json_instance("{\"id\":\"ocid1.instance.x\",\"compartmentId\":\"c\","
	    "\"region\":\"iad\",\"canonicalRegionName\":\"us-ashburn-1\",\"regionInfo\":"
	    "{\"realmKey\":\"oc1\",\"realmDomainComponent\":\"oraclecloud.com\","
	    "\"regionKey\":\"IAD\",\"regionIdentifier\":\"us-ashburn-1\"}}", &md), 0);
	assert_string_equal(md.region, "us-ashburn-1");
	assert_string_equal(md.realm_domain, "oraclecloud.com");
	assert_int_equal(oci_json_instance("{\"id\":\"x\"}", &md), -EBADMSG);
	assert_int_equal(oci_json_instance("{\"id\":\"x\",\"compartmentId\":\"c\","
	    "\"regionInfo\":{\"regionIdentifier\":\"eu-frankfurt-1\","
	    "\"realmDomainComponent\":\"oraclecloud.eu\"}}", &md), 0);
	assert_string_equal(md.region, "eu-frankfurt-1");
	assert_string_equal(md.realm_domain, "oraclecloud.eu");
	assert_int_equal(oci_json_instance("{\"id\":\"x\",\"compartmentId\":\"c\"}", &md),
	    -EBADMSG);
	/* Only "region": an identifier serves, a short key does not. */
	assert_int_equal(oci_json_instance("{\"id\":\"x\",\"compartmentId\":\"c\","
	    "\"region\":\"us-sanjose-1\"}", &md), 0);
	assert_string_equal(md.region, "us-sanjose-1");
	assert_string_equal(md.realm_domain, "oraclecloud.com");
	assert_int_equal(oci_json_instance("{\"id\":\"x\",\"compartmentId\":\"c\","
	    "\"region\":\"iad\"}", &md), -EBADMSG);
	assert_int_equal(oci_json_md_vnics("[{\"vnicId\":\"ocid1.vnic.x\",\"privateIp\":"
	    "\"10.0.0.5\",\"vlanTag\":0,\"macAddr\":\"02:00:17:00:00:01\"}]", &md), 0);
	assert_string_equal(md.vnic, "ocid1.vnic.x");
	assert_int_equal(oci_json_md_vnics("[]", &md), -EBADMSG);
	assert_int_equal(oci_json_vnic("{\"id\":\"ocid1.vnic.x\",\"subnetId\":\"s\","
	    "\"lifecycleState\":\"AVAILABLE\",\"skipSourceDestCheck\":false,"
	    "\"privateIp\":\"10.0.0.5\"}", &v), 0);
	assert_int_equal(v.skip_sdc, 0);
	assert_int_equal(oci_json_vnic("{\"id\":\"x\",\"subnetId\":\"s\",\"lifecycleState\":"
	    "\"AVAILABLE\",\"skipSourceDestCheck\":\"no\"}", &v), -EBADMSG);
	assert_int_equal(oci_json_subnet("{\"id\":\"s\",\"vcnId\":\"v\",\"compartmentId\":\"c\","
	    "\"routeTableId\":\"rt1\"}", &sn), 0);
	assert_string_equal(sn.route_table, "rt1");
	assert_int_equal(oci_json_subnet("{\"id\":\"s\",\"vcnId\":7}", &sn), -EBADMSG);
	assert_int_equal(oci_json_subnet_tables("[{\"id\":\"s1\",\"vcnId\":\"v\",\"compartmentId\":"
	    "\"c\",\"routeTableId\":\"rt1\"},{\"id\":\"s2\",\"vcnId\":\"v\",\"compartmentId\":\"c\","
	    "\"routeTableId\":\"rt2\"},{\"id\":\"s3\",\"vcnId\":\"v\",\"compartmentId\":\"c\","
	    "\"routeTableId\":\"rt1\"}]", &tables, &n), 0);
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++)
		free(tables[i]);
	free(tables);
	assert_int_equal(oci_json_private_ip("[{\"id\":\"p2\",\"ipAddress\":\"10.0.0.9\","
	    "\"isPrimary\":false},{\"id\":\"p1\",\"ipAddress\":\"10.0.0.5\",\"isPrimary\":true}]",
	    "10.0.0.9", &pip), 0);
	assert_string_equal(pip.id, "p2");
	assert_int_equal(oci_json_private_ip("[{\"id\":\"p1\",\"ipAddress\":\"10.0.0.5\","
	    "\"isPrimary\":true}]", "10.0.0.1", &pip), 0);
	assert_string_equal(pip.id, "p1");
	assert_int_equal(oci_json_private_ip("[]", "10.0.0.1", &pip), -ENOENT);
	oci_json_error("{\"code\":\"NotAuthorizedOrNotFound\",\"message\":\"Authorization "
	    "failed or requested resource not found.\"}", code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "NotAuthorizedOrNotFound");
	oci_json_error("<html>", code, sizeof(code), msg, sizeof(msg));
	assert_string_equal(code, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_create),
		cmocka_unit_test(test_merge_converged),
		cmocka_unit_test(test_merge_regroup),
		cmocka_unit_test(test_merge_blackhole),
		cmocka_unit_test(test_merge_conflict),
		cmocka_unit_test(test_merge_remove),
		cmocka_unit_test(test_merge_group),
		cmocka_unit_test(test_merge_unmarked),
		cmocka_unit_test(test_update_body),
		cmocka_unit_test(test_json_models),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
