/*
 * libFuzzer harness for the GCP response parsers (json-c): arbitrary bytes
 * as routes.list, routes.get, instances.get, an operation, the error
 * envelope, a token response and a service-account key file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/gcp/gcp.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct gcp_route_list rl;
	struct gcp_route r;
	struct gcp_instance in;
	struct gcp_operation op;
	struct gcp_error e;
	struct gcp_sa_key k;
	struct buf tok;
	long exp;

	memset(&rl, 0, sizeof(rl));
	gcp_json_routes(s, size, &rl);          /* pages accumulate: freed on any result */
	gcp_route_list_free(&rl);
	gcp_json_route(s, size, &r);
	if (gcp_json_instance(s, size, &in) == 0)
		gcp_instance_free(&in);
	gcp_json_operation(s, size, &op);
	gcp_json_error(s, size, &e);
	buf_init(&tok, 16384);
	gcp_json_token(s, size, &tok, &exp);
	buf_free(&tok);
	if (gcp_json_sa_key(s, size, &k) == 0)
		gcp_sa_key_wipe(&k);
	return 0;
}
