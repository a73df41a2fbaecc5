/*
 * libFuzzer harness for the OpenStack parsers: arbitrary bytes as a
 * clouds.yaml (libyaml), a Keystone token answer with its catalog, Neutron
 * port / port list / router / error answers and meta_data.json.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/openstack/os.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct os_cloud c = { .verify = 1 };
	struct os_token t = { 0 };
	struct os_endpoint e = { 0 };
	struct os_neutron_error ne;
	struct os_port port, *v;
	struct os_router rt;
	char uuid[64], az[64];
	size_t n;
	int found;

	if (os_clouds_parse(s, size, "fuzz.yaml", NULL, &c, &found) == 0 && found)
		os_cloud_finish(&c);
	os_cloud_free(&c);
	os_keystone_parse(s, size, "network", "public", NULL, &t, &e);
	os_token_wipe(&t);
	os_endpoint_free(&e);
	if (os_json_ports(s, size, &v, &n) == 0)
		os_ports_free(v, n);
	if (os_json_port(s, size, &port) == 0)
		os_port_free(&port);
	if (os_json_router(s, size, &rt) == 0)
		os_router_free(&rt);
	os_json_error(s, size, &ne);
	os_json_meta(s, size, uuid, sizeof(uuid), az, sizeof(az));
	return 0;
}
