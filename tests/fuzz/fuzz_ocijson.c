/*
 * libFuzzer harness for the OCI response parsers (json-c) and the rule
 * merge: arbitrary bytes as a RouteTable (then merged with a fixed desired
 * set and written back), IMDS instance/vnics documents, Vnic, Subnet,
 * ListSubnets, ListPrivateIps, GetPrivateIp, the federation answer, the
 * error envelope, a JWT and ~/.oci/config text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/oci/oci.h"

static enum oci_target_state
gone(void *arg, const char *ocid)
{
	(void)arg;
	return strlen(ocid) % 2 ? OCI_TARGET_GONE : OCI_TARGET_ALIVE;
}

static void
merge(const char *s)
{
	struct prefix_set d = { 0 };
	struct oci_plan_input in;
	struct oci_table_plan tp;
	struct oci_table t;
	struct prefix p;
	char *body;

	if (oci_table_parse(s, "\"e\"", &t) < 0)
		return;
	prefix_parse("100.96.0.0/11", &p, 0);
	prefix_set_add(&d, &p);
	memset(&in, 0, sizeof(in));
	in.me = "ocid1.privateip.oc1.x.me";
	in.desired = &d;
	in.ha_group = "g";
	in.takeover = PROV_TAKEOVER_GROUP;
	in.target_state = gone;
	if (oci_plan_table(&in, &t, &tp) == 0) {
		body = oci_update_body(tp.rules);
		free(body);
		oci_table_plan_free(&tp);
	}
	oci_table_free(&t);
	prefix_set_free(&d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_instance_md md;
	struct oci_config_profile prof;
	struct oci_private_ip pip;
	struct oci_subnet sn;
	struct oci_vnic v;
	struct buf tok;
	char **ids = NULL, code[64], msg[128], *s;
	size_t n = 0, i;
	time_t exp;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	merge(s);
	memset(&md, 0, sizeof(md));
	oci_json_instance(s, &md);
	oci_json_md_vnics(s, &md);
	oci_json_vnic(s, &v);
	oci_json_subnet(s, &sn);
	oci_json_subnet_tables(s, &ids, &n);
	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	oci_json_private_ip(s, "10.0.0.1", &pip);
	oci_json_private_ip_one(s, &pip);
	buf_init(&tok, 1 << 16);
	oci_json_token(s, &tok);
	buf_free(&tok);
	oci_json_error(s, code, sizeof(code), msg, sizeof(msg));
	oci_jwt_exp(s, &exp);
	oci_config_parse(s, "fuzz", "DEFAULT", &prof);
	free(s);
	return 0;
}
