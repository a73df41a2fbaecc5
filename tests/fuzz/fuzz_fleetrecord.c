/*
 * libFuzzer harness for fleet records and keys: the input is split into a
 * key and a value (at the first NUL), applied to a view as a PUT, validated
 * against the records already there, and the peers computed.  Every
 * accepted record must have a host-prefix address and network subnets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fleet.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char ok[] = "{\"public_key\":\"xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\","
	    "\"endpoint\":\"192.0.2.1:51820\",\"address\":\"100.96.0.9/32\",\"subnets\":[\"10.9.0.0/16\"]}";
	const uint8_t *nul = memchr(data, 0, size);
	size_t klen = nul ? (size_t)(nul - data) : size;
	struct fleet_view v;
	struct fleet_peers p;
	size_t i;

	log_init(1, 0, "fuzz");
	fleet_view_init(&v, "hq", "hq-1", NULL);
	fleet_view_put(&v, "/cr/", "/cr/sites/b/b-1", 15, ok, strlen(ok), 2, 2, 0);
	fleet_view_put(&v, "/cr/", (const char *)data, klen,
	    nul ? (const char *)nul + 1 : "", nul ? size - klen - 1 : 0, 3, 3, 0);
	fleet_view_validate(&v, NULL, NULL);
	if (fleet_view_peers(&v, &p) == 0) {
		for (i = 0; i < p.n; i++)
			if (p.v[i].allowed_ips.n == 0)
				abort();
		fleet_peers_free(&p);
	}
	for (i = 0; i < v.n; i++)
		if (v.e[i].valid && (v.e[i].rec.address.len != 32 && v.e[i].rec.address.len != 128))
			abort();
	fleet_view_free(&v);
	return 0;
}
