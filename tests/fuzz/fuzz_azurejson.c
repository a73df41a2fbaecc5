/*
 * libFuzzer harness for the Azure JSON parsers (json-c): arbitrary bytes as
 * the IMDS instance document, a token, a VM, a NIC, a NIC list page, a
 * route table, a subnet, a VNet, an ARM error, an operation status and a
 * resource's provisioningState.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/azure/azure.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char ids[AZ_MAX_IFS][AZ_ID_LEN];
	const char *s = (const char *)data;
	struct az_instance in;
	struct az_nic nic;
	struct az_nic_list nl;
	struct az_route_table t;
	struct az_error e;
	enum az_op_status st;
	char tok[256], rt[AZ_ID_LEN];
	uint64_t exp;
	size_t n;
	int run;

	az_json_instance(s, size, &in);
	az_json_token(s, size, tok, sizeof(tok), &exp);
	az_json_vm_nics(s, size, ids, AZ_MAX_IFS, &n);
	az_json_vm_running(s, size, &run);
	az_json_nic(s, size, &nic);
	memset(&nl, 0, sizeof(nl));
	az_json_nic_list(s, size, &nl);
	az_nic_list_free(&nl);
	if (az_json_route_table(s, size, &t) == 0)
		az_route_table_free(&t);
	az_json_subnet_table(s, size, rt, sizeof(rt));
	az_json_vnet_tables(s, size, ids, AZ_MAX_IFS, &n);
	az_json_error(s, size, 500, &e);
	az_json_op_status(s, size, &st, &e);
	az_json_provisioning_state(s, size, &st);
	az_lro_step(AZ_POLL_RESOURCE, 200, s, size, &e);
	return 0;
}
