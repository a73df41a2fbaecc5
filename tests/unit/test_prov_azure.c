/*
 * Azure provider units: MAC forms, route names (round trip, charset and
 * length limits), resource-id helpers, the ARM/IMDS JSON parsers (good
 * documents, ARM error bodies, HTML pages, truncated JSON), the
 * long-running-operation poll steps and the route planner as a table.
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
#include "providers/azure/azure.h"
#include "providers/http.h"
#include "tests/unit/prov_test.h"

#define SUB "00000000-1111-2222-3333-444444444444"
#define RG_ID "/subscriptions/" SUB "/resourceGroups/rg-hq"
#define NET RG_ID "/providers/Microsoft.Network"
#define J(s) s, strlen(s)

/* ---- names ---- */

static void
test_mac(void **state)
{
	char m[13];

	assert_int_equal(az_mac_norm("00-0D-3A-11-22-33", m), 0);
	assert_string_equal(m, "000D3A112233");
	assert_int_equal(az_mac_norm("000d3a112233", m), 0);
	assert_string_equal(m, "000D3A112233");
	assert_int_equal(az_mac_norm("00:0d:3a:11:22:33", m), 0);
	assert_string_equal(m, "000D3A112233");
	assert_int_equal(az_mac_norm("00-0D-3A-11-22", m), -EINVAL);
	assert_int_equal(az_mac_norm("00-0D-3A-11-22-33-44", m), -EINVAL);
	assert_int_equal(az_mac_norm("00-0D-3A-11-22-3G", m), -EINVAL);
	assert_int_equal(az_mac_norm("", m), -EINVAL);
}

static void
roundtrip(const char *group, const char *pfx, const char *want_name)
{
	struct prefix p = P(pfx), back;
	char name[AZ_NAME_LEN], g[AZ_NAME_LEN];

	assert_int_equal(az_route_name(group, &p, name, sizeof(name)), 0);
	if (want_name != NULL)
		assert_string_equal(name, want_name);
	assert_true(strlen(name) <= AZ_ROUTE_NAME_MAX);
	assert_true(az_name_valid(name));
	assert_true(az_route_is_marked(name));
	assert_int_equal(az_route_name_parse(name, g, sizeof(g), &back), 0);
	assert_true(prefix_equal(&p, &back));
}

static void
test_route_names(void **state)
{
	struct prefix p;
	char g[64], name[AZ_NAME_LEN], name2[AZ_NAME_LEN];

	roundtrip("default", "100.96.0.0/11", "cloudroute-default-100.96.0.0_11");
	roundtrip("hq-site.1", "192.168.0.0/22", "cloudroute-hq-site.1-192.168.0.0_22");
	roundtrip("hq", "0.0.0.0/0", "cloudroute-hq-0.0.0.0_0");
	roundtrip("hq", "fd00::/64", "cloudroute-hq-fd00.._64");
	roundtrip("hq", "2001:db8:1:2:3:4:5:0/112", NULL);
	roundtrip("hq", "::/0", NULL);
	/* A long or odd group is hashed; still valid, still under 80. */
	roundtrip("a group with spaces/and slashes", "10.0.0.0/8", NULL);
	roundtrip("averyveryveryverylonggroupname-more-than-24", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120", NULL);
	p = P("10.0.0.0/8");
	assert_int_equal(az_route_name("x y", &p, name, sizeof(name)), 0);
	assert_int_equal(az_route_name("x y", &p, name2, sizeof(name2)), 0);
	assert_string_equal(name, name2);                   /* stable */
	assert_int_equal(strncmp(name, "cloudroute-g", 12), 0);
	/* Parsing foreign names. */
	assert_int_equal(az_route_name_parse("myroute", g, sizeof(g), &p), -EINVAL);
	assert_int_equal(az_route_name_parse("cloudroute-hq-notaprefix", g, sizeof(g), &p), -EINVAL);
	assert_int_equal(az_route_name_parse("cloudroute-hq-10.0.0.0_99", g, sizeof(g), &p), -EINVAL);
	assert_int_equal(az_route_name_parse("CloudRoute-HQ-10.0.0.0_8", g, sizeof(g), &p), 0);
	assert_string_equal(g, "HQ");
	/* Azure's charset and shape rules. */
	assert_false(az_name_valid(""));
	assert_false(az_name_valid("-abc"));
	assert_false(az_name_valid("abc-"));
	assert_false(az_name_valid("abc."));
	assert_true(az_name_valid("abc_"));
	assert_false(az_name_valid("a/b"));
	memset(name, 'a', 81);
	name[81] = '\0';
	assert_false(az_name_valid(name));
	name[80] = '\0';
	assert_true(az_name_valid(name));
}

static void
test_ids(void **state)
{
	char out[AZ_ID_LEN];
	const char *id = NET "/routeTables/rt-hq";

	assert_string_equal(az_id_name(id), "rt-hq");
	assert_int_equal(az_id_part(id, "resourcegroups", out, sizeof(out)), 0);
	assert_string_equal(out, "rg-hq");
	assert_int_equal(az_id_part(id, "virtualNetworks", out, sizeof(out)), -ENOENT);
	assert_true(az_id_equal(id, "/SUBSCRIPTIONS/" SUB "/resourcegroups/RG-HQ/providers/"
	    "microsoft.network/routetables/RT-HQ"));
	assert_string_equal(az_table_label(id, SUB, "rg-hq", out, sizeof(out)), "rt-hq");
	assert_string_equal(az_table_label(id, SUB, "other", out, sizeof(out)), "rg-hq/rt-hq");
	assert_string_equal(az_table_label(id, "ffff", "rg-hq", out, sizeof(out)), id);
	assert_int_equal(az_table_ref("rt-hq", SUB, "rg-hq", out, sizeof(out)), 0);
	assert_string_equal(out, id);
	assert_int_equal(az_table_ref("rg-hq/rt-hq", SUB, "zz", out, sizeof(out)), 0);
	assert_string_equal(out, id);
	assert_int_equal(az_table_ref(id, "x", "y", out, sizeof(out)), 0);
	assert_string_equal(out, id);
	assert_int_equal(az_table_ref("a/b/c", SUB, "rg", out, sizeof(out)), -EINVAL);
}

/* ---- JSON ---- */

static const char imds_doc[] =
	"{\"compute\":{\"azEnvironment\":\"AzurePublicCloud\",\"location\":\"westeurope\","
	"\"name\":\"vm-hq\",\"resourceGroupName\":\"rg-hq\",\"subscriptionId\":\"" SUB "\","
	"\"resourceId\":\"" RG_ID "/providers/Microsoft.Compute/virtualMachines/vm-hq\","
	"\"vmId\":\"02aab8a4-74ef-476e-8182-f6d2ba4166a6\",\"zone\":\"1\",\"tags\":\"\"},"
	"\"network\":{\"interface\":[{\"ipv4\":{\"ipAddress\":[{\"privateIpAddress\":"
	"\"10.0.0.4\",\"publicIpAddress\":\"20.1.2.3\"}],\"subnet\":[{\"address\":"
	"\"10.0.0.0\",\"prefix\":\"24\"}]},\"ipv6\":{\"ipAddress\":[]},\"macAddress\":"
	"\"000D3A112233\"}]}}";

static void
test_json_instance(void **state)
{
	struct az_instance in;
	char cut[64];

	assert_int_equal(az_json_instance(imds_doc, strlen(imds_doc), &in), 0);
	assert_string_equal(in.subscription, SUB);
	assert_string_equal(in.resource_group, "rg-hq");
	assert_string_equal(in.name, "vm-hq");
	assert_string_equal(in.location, "westeurope");
	assert_int_equal(in.n_ifs, 1);
	assert_string_equal(in.ifs[0].mac, "000D3A112233");
	assert_string_equal(in.ifs[0].ip, "10.0.0.4");
	assert_string_equal(in.ifs[0].public_ip, "20.1.2.3");
	memcpy(cut, imds_doc, sizeof(cut) - 1);
	cut[sizeof(cut) - 1] = '\0';
	assert_int_equal(az_json_instance(cut, strlen(cut), &in), -EBADMSG);
	assert_non_null(strstr(prov_last_error(), "truncated"));
	assert_int_equal(az_json_instance(J("{\"compute\":{}}"), &in), -EBADMSG);
	assert_int_equal(az_json_instance(J("<html></html>"), &in), -EBADMSG);
	assert_non_null(strstr(prov_last_error(), "HTML"));
}

static void
test_json_token(void **state)
{
	static const char ok[] = "{\"access_token\":\"eyJ0eXAi.abc.def\",\"refresh_token\":\"\","
	    "\"expires_in\":\"86399\",\"expires_on\":\"1767225600\",\"not_before\":\"1767139200\","
	    "\"resource\":\"https://management.azure.com/\",\"token_type\":\"Bearer\"}";
	char tok[64], small[8];
	uint64_t exp = 0;

	assert_int_equal(az_json_token(ok, strlen(ok), tok, sizeof(tok), &exp), 0);
	assert_string_equal(tok, "eyJ0eXAi.abc.def");
	assert_int_equal(exp, 1767225600);
	assert_int_equal(az_json_token(ok, strlen(ok), small, sizeof(small), &exp), -E2BIG);
	assert_string_equal(small, "");
	assert_int_equal(az_json_token(J("{\"access_token\":\"x\",\"expires_on\":\"soon\"}"),
	    tok, sizeof(tok), &exp), -EBADMSG);
	assert_string_equal(tok, "");
	assert_int_equal(az_json_token(J("{\"error\":\"invalid_request\"}"), tok, sizeof(tok),
	    &exp), -EBADMSG);
}

static const char nic_doc[] =
	"{\"name\":\"nic-hq\",\"id\":\"" NET "/networkInterfaces/nic-hq\","
	"\"etag\":\"W/\\\"a1\\\"\",\"location\":\"westeurope\",\"properties\":{"
	"\"provisioningState\":\"Succeeded\",\"ipConfigurations\":[{\"name\":\"ip2\",\"properties\":{"
	"\"privateIPAddress\":\"10.0.0.5\",\"primary\":false,\"subnet\":{\"id\":\"" NET
	"/virtualNetworks/vnet-hq/subnets/other\"}}},{\"name\":\"ipconfig1\",\"properties\":{"
	"\"privateIPAddress\":\"10.0.0.4\",\"privateIPAllocationMethod\":\"Dynamic\",\"primary\":true,"
	"\"subnet\":{\"id\":\"" NET "/virtualNetworks/vnet-hq/subnets/default\"}}}],"
	"\"macAddress\":\"00-0D-3A-11-22-33\",\"enableIPForwarding\":false,\"primary\":true,"
	"\"virtualMachine\":{\"id\":\"" RG_ID "/providers/Microsoft.Compute/virtualMachines/vm-hq\"}}}";

static void
test_json_nic(void **state)
{
	struct az_nic n;
	struct az_nic_list l = { 0 };
	struct buf b;

	assert_int_equal(az_json_nic(nic_doc, strlen(nic_doc), &n), 0);
	assert_string_equal(n.name, "nic-hq");
	assert_string_equal(n.mac, "000D3A112233");
	assert_int_equal(n.ip_forwarding, 0);
	assert_int_equal(n.n_ips, 2);
	assert_string_equal(n.ips[0], "10.0.0.4");          /* primary first */
	assert_string_equal(n.ips[1], "10.0.0.5");
	assert_string_equal(az_id_name(n.subnet), "default");
	assert_string_equal(n.etag, "W/\"a1\"");
	assert_string_equal(az_id_name(n.vm), "vm-hq");
	buf_init(&b, 1 << 16);
	buf_printf(&b, "{\"value\":[%s,%s],\"nextLink\":\"https://x/next\"}", nic_doc, nic_doc);
	assert_int_equal(az_json_nic_list(b.data, b.len, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.next_link, "https://x/next");
	az_nic_list_free(&l);
	buf_free(&b);
	assert_int_equal(az_json_nic(J("{\"id\":\"x\",\"properties\":{}}"), &n), -EBADMSG);
}

static const char rt_doc[] =
	"{\"name\":\"rt-hq\",\"id\":\"" NET "/routeTables/rt-hq\",\"etag\":\"W/\\\"e\\\"\","
	"\"properties\":{\"disableBgpRoutePropagation\":false,\"routes\":["
	"{\"name\":\"cloudroute-hq-100.96.0.0_11\",\"id\":\"x\",\"properties\":{\"addressPrefix\":"
	"\"100.96.0.0/11\",\"nextHopType\":\"VirtualAppliance\",\"nextHopIpAddress\":\"10.0.0.4\"}},"
	"{\"name\":\"internet\",\"properties\":{\"addressPrefix\":\"0.0.0.0/0\",\"nextHopType\":\"Internet\"}},"
	"{\"name\":\"tag\",\"properties\":{\"addressPrefix\":\"AzureCloud\",\"nextHopType\":\"Internet\"}}],"
	"\"subnets\":[{\"id\":\"" NET "/virtualNetworks/vnet-hq/subnets/default\"}]}}";

static void
test_json_route_table(void **state)
{
	struct az_route_table t;
	struct prefix p = P("100.96.0.0/11");

	assert_int_equal(az_json_route_table(rt_doc, strlen(rt_doc), &t), 0);
	assert_string_equal(t.name, "rt-hq");
	assert_int_equal(t.n, 3);
	assert_true(t.routes[0].has_dst);
	assert_true(prefix_equal(&t.routes[0].dst, &p));
	assert_string_equal(t.routes[0].next_hop_type, "VirtualAppliance");
	assert_string_equal(t.routes[0].next_hop_ip, "10.0.0.4");
	assert_true(az_route_is_ours(&t.routes[0], "10.0.0.4"));
	assert_false(az_route_is_ours(&t.routes[0], "10.0.0.5"));
	assert_string_equal(t.routes[1].next_hop_ip, "");
	assert_false(t.routes[2].has_dst);                 /* service tag */
	az_route_table_free(&t);
	/* Wrong shapes. */
	assert_int_equal(az_json_route_table(J("{\"id\":\"x\",\"properties\":{\"routes\":{}}}"), &t), -EBADMSG);
	assert_int_equal(az_json_route_table(J("{\"id\":\"x\",\"properties\":{\"routes\":"
	    "[{\"name\":\"a\",\"properties\":{}}]}}"), &t), -EBADMSG);
	assert_int_equal(az_json_route_table(J("[1,2]"), &t), -EBADMSG);
	assert_int_equal(az_json_route_table(rt_doc, strlen(rt_doc) - 3, &t), -EBADMSG);
}

static void
test_json_vm_subnet_vnet(void **state)
{
	static const char vm[] = "{\"id\":\"vm\",\"properties\":{\"networkProfile\":{"
	    "\"networkInterfaces\":[{\"id\":\"/n/a\"},{\"id\":\"/n/b\",\"properties\":"
	    "{\"primary\":true}}]}}}";
	static const char iv[] = "{\"statuses\":[{\"code\":\"ProvisioningState/succeeded\"},"
	    "{\"code\":\"PowerState/running\"}]}";
	static const char sn[] = "{\"id\":\"s\",\"properties\":{\"addressPrefix\":\"10.0.0.0/24\","
	    "\"routeTable\":{\"id\":\"/rt/a\"}}}";
	static const char vn[] = "{\"id\":\"v\",\"properties\":{\"subnets\":["
	    "{\"properties\":{\"routeTable\":{\"id\":\"/rt/a\"}}},{\"properties\":{}},"
	    "{\"properties\":{\"routeTable\":{\"id\":\"/RT/A\"}}},"
	    "{\"properties\":{\"routeTable\":{\"id\":\"/rt/b\"}}}]}}";
	char ids[4][AZ_ID_LEN], t[64];
	size_t n;
	int run;

	assert_int_equal(az_json_vm_nics(vm, strlen(vm), ids, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], "/n/b");
	assert_int_equal(az_json_vm_running(iv, strlen(iv), &run), 0);
	assert_int_equal(run, 1);
	assert_int_equal(az_json_vm_running(J("{\"statuses\":[{\"code\":\"PowerState/deallocated\"}]}"), &run), 0);
	assert_int_equal(run, 0);
	assert_int_equal(az_json_subnet_table(sn, strlen(sn), t, sizeof(t)), 0);
	assert_string_equal(t, "/rt/a");
	assert_int_equal(az_json_subnet_table(J("{\"properties\":{}}"), t, sizeof(t)), 0);
	assert_string_equal(t, "");
	assert_int_equal(az_json_vnet_tables(vn, strlen(vn), ids, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[1], "/rt/b");
	{
		static const char sp[] = "{\"properties\":{\"addressSpace\":{\"addressPrefixes\":"
		    "[\"10.0.0.0/16\",\"fd00::/48\"]},\"subnets\":[]}}";
		struct prefix_set s = { 0 };
		struct prefix in = P("10.0.3.7/32"), out = P("10.50.0.9/32");

		assert_int_equal(az_json_vnet_space(sp, strlen(sp), &s), 0);
		assert_int_equal(s.n, 2);
		assert_true(prefix_set_covers(&s, &in));
		assert_false(prefix_set_covers(&s, &out));
		prefix_set_free(&s);
		assert_int_equal(az_json_vnet_space(J("{\"properties\":{\"addressSpace\":"
		    "{\"addressPrefixes\":[\"x\"]}}}"), &s), -EBADMSG);
		prefix_set_free(&s);
	}
}

static void
test_json_errors(void **state)
{
	static const char arm[] = "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":"
	    "\"The client 'x' does not have authorization to perform action "
	    "'Microsoft.Network/routeTables/routes/write'.\"}}";
	static const char imds[] = "{\"error\":\"invalid_request\",\"error_description\":"
	    "\"Identity not found\"}";
	struct az_error e;
	enum az_op_status st;

	az_json_error(arm, strlen(arm), 403, &e);
	assert_string_equal(e.code, "AuthorizationFailed");
	assert_non_null(strstr(e.message, "routes/write"));
	az_json_error(imds, strlen(imds), 400, &e);
	assert_string_equal(e.code, "invalid_request");
	assert_string_equal(e.message, "Identity not found");
	az_json_error(J("<html><body>Bad Gateway</body></html>"), 502, &e);
	assert_string_equal(e.code, "");
	assert_non_null(strstr(e.message, "HTML"));
	az_json_error(J("{\"error\":{\"code\":\"X\""), 500, &e);
	assert_string_equal(e.code, "");
	az_json_error(NULL, 0, 503, &e);
	assert_non_null(strstr(e.message, "503"));
	/* Codes that ask for the same request again, also as an operation's. */
	assert_true(az_error_retryable("RetryableError"));
	assert_true(az_error_retryable("ReferencedResourceNotProvisioned"));
	assert_true(az_error_retryable("AnotherOperationInProgress"));
	assert_false(az_error_retryable("InternalServerError"));
	assert_false(az_error_retryable(""));
	assert_int_equal(az_json_op_status(J("{\"status\":\"Failed\",\"error\":{\"code\":"
	    "\"RetryableError\",\"message\":\"A retryable error occurred.\",\"details\":[{"
	    "\"code\":\"ReferencedResourceNotProvisioned\"}]}}"), &st, &e), 0);
	assert_int_equal(st, AZ_OP_FAILED);
	assert_true(az_error_retryable(e.code));
	/* Without the envelope: {"code","message"} or {"Message"} at the top. */
	az_json_error(J("{\"code\":\"AnotherOperationInProgress\",\"message\":\"busy\"}"),
	    409, &e);
	assert_string_equal(e.code, "AnotherOperationInProgress");
	assert_string_equal(e.message, "busy");
	az_json_error(J("{\"Message\":\"No HTTP resource was found\"}"), 404, &e);
	assert_string_equal(e.code, "");
	assert_string_equal(e.message, "No HTTP resource was found");

	assert_int_equal(az_json_op_status(J("{\"status\":\"InProgress\"}"), &st, &e), 0);
	assert_int_equal(st, AZ_OP_IN_PROGRESS);
	assert_int_equal(az_json_op_status(J("{\"status\":\"Succeeded\"}"), &st, &e), 0);
	assert_int_equal(st, AZ_OP_SUCCEEDED);
	/* Both spellings end the operation (else it would be polled to the cap). */
	assert_int_equal(az_json_op_status(J("{\"status\":\"Cancelled\"}"), &st, &e), 0);
	assert_int_equal(st, AZ_OP_CANCELED);
	assert_int_equal(az_json_provisioning_state(J("{\"properties\":{\"provisioningState\":"
	    "\"Cancelled\"}}"), &st), 0);
	assert_int_equal(st, AZ_OP_CANCELED);
	assert_int_equal(az_json_op_status(J("{\"status\":\"Failed\",\"error\":{\"code\":\"RouteConflict\","
	    "\"message\":\"m\"}}"), &st, &e), 0);
	assert_int_equal(st, AZ_OP_FAILED);
	assert_string_equal(e.code, "RouteConflict");
	assert_int_equal(az_json_op_status(J("{\"status\":\"Canceled\"}"), &st, &e), 0);
	assert_int_equal(st, AZ_OP_CANCELED);
	assert_int_equal(az_json_op_status(J("{\"status\":\"Updating\"}"), &st, &e), 0);
	assert_int_equal(st, AZ_OP_IN_PROGRESS);
	assert_int_equal(az_json_op_status(J("{}"), &st, &e), -EBADMSG);
	assert_int_equal(az_json_op_status(J("{\"status\":"), &st, &e), -EBADMSG);
}

static void
test_lro_steps(void **state)
{
	static const struct {
		enum az_poll_kind kind;
		long status;
		const char *body;
		enum az_lro_step want;
		const char *code;
	} t[] = {
		{ 1, 200, "{\"status\":\"InProgress\"}", AZ_LRO_WAIT, "" },
		{ 1, 200, "{\"status\":\"Succeeded\"}", AZ_LRO_DONE, "" },
		{ 1, 200, "{\"status\":\"Failed\",\"error\":{\"code\":\"RouteConflict\"}}",
		  AZ_LRO_FAILED, "RouteConflict" },
		{ 1, 200, "{\"status\":\"Canceled\"}", AZ_LRO_CANCELED, "" },
		{ 1, 200, "{\"status\":\"Updating\"}", AZ_LRO_WAIT, "" },
		{ 1, 200, "{\"stat", AZ_LRO_ERROR, "" },
		{ 1, 200, "<html>", AZ_LRO_ERROR, "" },
		{ 1, 429, "", AZ_LRO_WAIT, "" },
		{ 1, 503, "<html>", AZ_LRO_WAIT, "" },
		{ 1, 404, "{\"error\":{\"code\":\"OperationNotFound\"}}", AZ_LRO_ERROR,
		  "OperationNotFound" },
		{ 1, 202, "", AZ_LRO_WAIT, "" },
		{ 0, 202, "", AZ_LRO_WAIT, "" },
		{ 0, 204, "", AZ_LRO_DONE, "" },
		{ 0, 200, "{}", AZ_LRO_DONE, "" },
		{ 0, 500, "", AZ_LRO_WAIT, "" },
		{ 0, 403, "{\"error\":{\"code\":\"AuthorizationFailed\",\"message\":\"m\"}}",
		  AZ_LRO_ERROR, "AuthorizationFailed" },
		{ 2, 200, "{\"properties\":{\"provisioningState\":\"Updating\"}}", AZ_LRO_WAIT, "" },
		{ 2, 200, "{\"properties\":{\"provisioningState\":\"Succeeded\"}}", AZ_LRO_DONE, "" },
		{ 2, 200, "{\"properties\":{}}", AZ_LRO_DONE, "" },
		{ 2, 200, "{\"properties\":{\"provisioningState\":\"Failed\"}}", AZ_LRO_FAILED, "" },
		{ 2, 404, "{\"error\":{\"code\":\"NotFound\"}}", AZ_LRO_ERROR, "NotFound" },
	};
	struct az_error e;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		enum az_lro_step s = az_lro_step(t[i].kind, t[i].status, t[i].body,
		    strlen(t[i].body), &e);

		if (s != t[i].want || strcmp(e.code, t[i].code) != 0)
			fail_msg("case %zu (%ld %s): step %d code \"%s\"", i, t[i].status,
			    t[i].body, s, e.code);
	}
}

/* A response as http_do leaves it: raw header lines and Retry-After. */
static void
resp_with(struct http_response *r, const char *lines, const char *retry_after)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->headers, 16384);
	assert_int_equal(buf_puts(&r->headers, lines), 0);
	cr_strlcpy(r->retry_after, retry_after, sizeof(r->retry_after));
}

static void
test_retry_after(void **state)
{
	struct http_response r;
	char b[32];

	(void)state;
	resp_with(&r, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 7\r\n\r\n", "7");
	assert_string_equal(az_retry_after(&r, b, sizeof(b)), "7");
	buf_free(&r.headers);
	resp_with(&r, "HTTP/1.1 429 Too Many Requests\r\nx-ms-retry-after-ms: 2500\r\n"
	    "Retry-After: 9\r\n\r\n", "9");
	assert_string_equal(az_retry_after(&r, b, sizeof(b)), "3");
	buf_free(&r.headers);
	resp_with(&r, "HTTP/1.1 202 Accepted\r\nretry-after-ms: 1000\r\n\r\n", "");
	assert_string_equal(az_retry_after(&r, b, sizeof(b)), "1");
	buf_free(&r.headers);
	resp_with(&r, "HTTP/1.1 202 Accepted\r\nretry-after-ms: soon\r\n\r\n", "");
	assert_string_equal(az_retry_after(&r, b, sizeof(b)), "");
	buf_free(&r.headers);
}

static void
test_arm_links(void **state)
{
	struct az_arm a;
	char out[256];

	memset(&a, 0, sizeof(a));
	cr_strlcpy(a.base, "https://127.0.0.1:8443", sizeof(a.base));
	assert_int_equal(az_arm_link(&a, "https://127.0.0.1:8443/subscriptions/x?a=1", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "https://127.0.0.1:8443/subscriptions/x?a=1");
	/* The public endpoint's links are followed on the override. */
	assert_int_equal(az_arm_link(&a, "https://management.azure.com/subscriptions/x", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "https://127.0.0.1:8443/subscriptions/x");
	assert_int_equal(az_arm_link(&a, "https://management.azure.com:443/s", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "https://127.0.0.1:8443/s");
	/* Anything else never gets the token. */
	assert_int_equal(az_arm_link(&a, "https://management.azure.com.evil.example/s", out,
	    sizeof(out)), -EBADMSG);
	assert_int_equal(az_arm_link(&a, "https://127.0.0.1:8444/s", out, sizeof(out)),
	    -EBADMSG);
	assert_int_equal(az_arm_link(&a, "http://management.azure.com/s", out, sizeof(out)),
	    -EBADMSG);
	assert_int_equal(az_arm_link(&a, "https://127.0.0.1:84430/s", out, sizeof(out)),
	    -EBADMSG);
}

/* ---- planner ---- */

#define OUR_IP "10.0.0.4"

static struct az_route
R(const char *name, const char *dst, const char *type, const char *ip)
{
	struct az_route r;

	memset(&r, 0, sizeof(r));
	cr_strlcpy(r.name, name, sizeof(r.name));
	r.has_dst = prefix_parse(dst, &r.dst, 0) == 0;
	cr_strlcpy(r.next_hop_type, type, sizeof(r.next_hop_type));
	cr_strlcpy(r.next_hop_ip, ip, sizeof(r.next_hop_ip));
	return r;
}

struct pcase {
	const char *what;
	struct az_route route;            /* name "" = none */
	enum az_peer_state peer;          /* for route.next_hop_ip */
	enum prov_takeover takeover;
	int leader;
	enum prov_action want;
	const char *handle;               /* expected handle, NULL = not checked */
	const char *note;                 /* substring of the note */
};

static void
run_case(const struct pcase *pc)
{
	struct az_route_table t;
	struct prefix_set want = { 0 };
	struct prefix p = P("100.96.0.0/11");
	struct az_peer peer;
	struct az_plan_input in;
	struct prov_plan out = { 0 };

	memset(&t, 0, sizeof(t));
	cr_strlcpy(t.id, NET "/routeTables/rt-hq", sizeof(t.id));
	cr_strlcpy(t.label, "rt-hq", sizeof(t.label));
	t.routes = (struct az_route *)&pc->route;
	t.n = pc->route.name[0] ? 1 : 0;
	prefix_set_add(&want, &p);
	memset(&peer, 0, sizeof(peer));
	cr_strlcpy(peer.ip, pc->route.next_hop_ip, sizeof(peer.ip));
	peer.state = pc->peer;
	memset(&in, 0, sizeof(in));
	in.our_ip = OUR_IP;
	in.nic = NET "/networkInterfaces/nic-hq";
	in.ip_forwarding = 1;
	in.tables = &t;
	in.n_tables = in.n_targets = 1;
	in.desired = &want;
	in.peers = &peer;
	in.n_peers = 1;
	in.ha_group = "hq";
	in.takeover = pc->takeover;
	in.leader = pc->leader;
	assert_int_equal(az_plan_compute(&in, &out), 0);
	if (out.n != 1)
		fail_msg("%s: %zu changes", pc->what, out.n);
	if (out.v[0].action != pc->want)
		fail_msg("%s: action %d, want %d (%s)", pc->what, out.v[0].action, pc->want,
		    out.v[0].note);
	assert_string_equal(out.v[0].table, "rt-hq");
	if (pc->handle != NULL)
		assert_string_equal(out.v[0].handle, pc->handle);
	if (pc->note != NULL && strstr(out.v[0].note, pc->note) == NULL)
		fail_msg("%s: note \"%s\" lacks \"%s\"", pc->what, out.v[0].note, pc->note);
	prov_plan_free(&out);
	prefix_set_free(&want);
}

static void
test_plan_table(void **state)
{
	const char *ours = "cloudroute-hq-100.96.0.0_11";
	const struct pcase cases[] = {
		{ "missing", R("", "", "", ""), 0, PROV_TAKEOVER_BLACKHOLE, 0, PROV_CREATE,
		  ours, "this connector" },
		{ "ours", R(ours, "100.96.0.0/11", "VirtualAppliance", OUR_IP), 0,
		  PROV_TAKEOVER_NEVER, 0, PROV_KEEP, ours, NULL },
		{ "ours under another group name", R("cloudroute-old-100.96.0.0_11",
		  "100.96.0.0/11", "VirtualAppliance", OUR_IP), 0, PROV_TAKEOVER_NEVER, 0,
		  PROV_REPLACE, "cloudroute-old-100.96.0.0_11", "renamed" },
		{ "foreign appliance", R("terraform-vpn", "100.96.0.0/11", "VirtualAppliance",
		  "10.0.0.9"), AZ_PEER_GONE, PROV_TAKEOVER_GROUP, 1, PROV_CONFLICT,
		  "terraform-vpn", "not ours" },
		{ "foreign pointing at us", R("manual", "100.96.0.0/11", "VirtualAppliance",
		  OUR_IP), AZ_PEER_ALIVE, PROV_TAKEOVER_GROUP, 0, PROV_CONFLICT, "manual", "not ours" },
		{ "foreign gateway", R("vpngw", "100.96.0.0/11", "VirtualNetworkGateway", ""),
		  AZ_PEER_GONE, PROV_TAKEOVER_BLACKHOLE, 0, PROV_CONFLICT, NULL, "not ours" },
		{ "marked, gone, blackhole", R(ours, "100.96.0.0/11", "VirtualAppliance",
		  "10.0.0.7"), AZ_PEER_GONE, PROV_TAKEOVER_BLACKHOLE, 0, PROV_REPLACE, ours,
		  "on no NIC" },
		{ "marked, other group, gone", R("cloudroute-dc-100.96.0.0_11", "100.96.0.0/11",
		  "VirtualAppliance", "10.0.0.7"), AZ_PEER_GONE, PROV_TAKEOVER_BLACKHOLE, 0,
		  PROV_REPLACE, "cloudroute-dc-100.96.0.0_11", NULL },
		{ "marked, gone, never", R(ours, "100.96.0.0/11", "VirtualAppliance", "10.0.0.7"),
		  AZ_PEER_GONE, PROV_TAKEOVER_NEVER, 0, PROV_CONFLICT, NULL, "never" },
		{ "group peer alive, group", R(ours, "100.96.0.0/11", "VirtualAppliance",
		  "10.0.0.5"), AZ_PEER_ALIVE, PROV_TAKEOVER_GROUP, 0, PROV_KEEP, ours, "held by" },
		{ "group peer alive, blackhole", R(ours, "100.96.0.0/11", "VirtualAppliance",
		  "10.0.0.5"), AZ_PEER_ALIVE, PROV_TAKEOVER_BLACKHOLE, 0, PROV_CONFLICT, NULL,
		  "not \"group\"" },
		{ "group peer alive, leader", R(ours, "100.96.0.0/11", "VirtualAppliance",
		  "10.0.0.5"), AZ_PEER_ALIVE, PROV_TAKEOVER_NEVER, 1, PROV_REPLACE, ours, "leader" },
		{ "group peer stopped, group", R(ours, "100.96.0.0/11", "VirtualAppliance",
		  "10.0.0.5"), AZ_PEER_STOPPED, PROV_TAKEOVER_GROUP, 0, PROV_REPLACE, ours,
		  "stopped" },
		{ "group peer stopped, blackhole", R(ours, "100.96.0.0/11", "VirtualAppliance",
		  "10.0.0.5"), AZ_PEER_STOPPED, PROV_TAKEOVER_BLACKHOLE, 0, PROV_CONFLICT, NULL, NULL },
		{ "other group alive", R("cloudroute-dc-100.96.0.0_11", "100.96.0.0/11",
		  "VirtualAppliance", "10.0.0.5"), AZ_PEER_ALIVE, PROV_TAKEOVER_GROUP, 1,
		  PROV_CONFLICT, NULL, "another ha-group" },
		{ "marked but not an appliance", R(ours, "100.96.0.0/11", "None", ""), AZ_PEER_GONE,
		  PROV_TAKEOVER_GROUP, 0, PROV_CONFLICT, NULL, "not an appliance" },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cases); i++)
		run_case(&cases[i]);
}

static void
test_plan_deletes_limit_nic(void **state)
{
	struct az_route full[3], other[1];
	struct az_route_table t[2];
	struct prefix_set want = { 0 };
	struct prefix p = P("100.96.0.0/11"), q = P("192.168.0.0/22"), v6;
	struct az_plan_input in;
	struct prov_plan out = { 0 };

	full[0] = R("cloudroute-hq-172.16.0.0_12", "172.16.0.0/12", "VirtualAppliance", OUR_IP);
	full[1] = R("a", "10.1.0.0/16", "Internet", "");
	full[2] = R("b", "10.2.0.0/16", "Internet", "");
	other[0] = R("cloudroute-hq-100.96.0.0_11", "100.96.0.0/11", "VirtualAppliance", OUR_IP);
	memset(t, 0, sizeof(t));
	cr_strlcpy(t[0].id, NET "/routeTables/rt-full", sizeof(t[0].id));
	t[0].routes = full;
	t[0].n = 3;
	cr_strlcpy(t[1].id, NET "/routeTables/rt-old", sizeof(t[1].id));
	cr_strlcpy(t[1].label, "rt-old", sizeof(t[1].label));
	t[1].routes = other;
	t[1].n = 1;
	prefix_set_add(&want, &p);
	prefix_set_add(&want, &q);
	v6 = P("fd00:1::/64");
	prefix_set_add(&want, &v6);
	memset(&in, 0, sizeof(in));
	in.our_ip = OUR_IP;
	in.nic = NET "/networkInterfaces/nic-hq";
	in.ip_forwarding = 0;
	in.disable_source_dest_check = 1;
	in.tables = t;
	in.n_tables = 2;
	in.n_targets = 1;                  /* rt-old was read for cleanup only */
	in.desired = &want;
	in.ha_group = "hq";
	in.takeover = PROV_TAKEOVER_BLACKHOLE;
	in.max_routes = 4;
	assert_int_equal(az_plan_compute(&in, &out), 0);
	assert_int_equal(out.n, 6);
	assert_int_equal(out.v[0].action, PROV_FORWARDING);
	assert_string_equal(out.v[0].target, "nic-hq");
	assert_int_equal(out.v[1].action, PROV_DELETE);      /* 172.16/12 no longer wanted */
	assert_string_equal(out.v[1].handle, "cloudroute-hq-172.16.0.0_12");
	assert_string_equal(out.v[1].table, NET "/routeTables/rt-full");   /* no label: id */
	/* 3 routes - 1 deleted + 2 created = 4: both fit exactly. */
	assert_int_equal(out.v[2].action, PROV_CREATE);
	assert_int_equal(out.v[3].action, PROV_CREATE);
	assert_int_equal(out.v[4].action, PROV_CONFLICT);    /* IPv6, IPv4-only NIC */
	assert_non_null(strstr(out.v[4].note, "no address of that family"));
	assert_int_equal(out.v[5].action, PROV_DELETE);      /* ours in a table we left */
	assert_string_equal(out.v[5].table, "rt-old");
	assert_int_equal(prov_plan_mutations(&out), 5);
	prov_plan_free(&out);
	/* One fewer slot: the second create is refused in plan. */
	in.max_routes = 3;
	in.ip_forwarding = 1;
	assert_int_equal(az_plan_compute(&in, &out), 0);
	assert_int_equal(out.n, 5);
	assert_int_equal(out.v[2].action, PROV_CONFLICT);
	assert_non_null(strstr(out.v[2].note, "route table full"));
	prov_plan_free(&out);
	prefix_set_free(&want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mac),
		cmocka_unit_test(test_route_names),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_json_instance),
		cmocka_unit_test(test_json_token),
		cmocka_unit_test(test_json_nic),
		cmocka_unit_test(test_json_route_table),
		cmocka_unit_test(test_json_vm_subnet_vnet),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_lro_steps),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_arm_links),
		cmocka_unit_test(test_plan_table),
		cmocka_unit_test(test_plan_deletes_limit_nic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
