/*
 * libFuzzer harness for the UAPI protocol: arbitrary bytes as a whole
 * request to dp_uapi_handle (set requests are parsed, validated and applied
 * to a device without sockets, then the device is reset), and as a get reply
 * to dp_uapi_parse_get (the client side of `cloudroute status`).
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "dataplane/dp_internal.h"

static struct dp_device *dev;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char reset[] = "set=1\nreplace_peers=true\n\n";
	struct dp_peer_status *st;
	struct buf reply;
	size_t n;
	uint16_t port;
	char *copy;

	if (dev == NULL) {
		struct dp_config cfg;
		log_init(1, 0, "fuzz");
		memset(&cfg, 0, sizeof(cfg));
		if (dp_device_create_detached(&cfg, &dev) < 0)
			abort();
	}
	if ((copy = malloc(size + 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	buf_init(&reply, 1 << 20);
	dp_uapi_handle(dev, copy, size, &reply);
	if (reply.len < 9 || memcmp(reply.data + reply.len - 2, "\n\n", 2) != 0)
		abort();                         /* every reply ends with errno=N\n\n */
	buf_reset(&reply);
	dp_uapi_handle(dev, reset, sizeof(reset) - 1, &reply);
	buf_free(&reply);
	if (dp_uapi_parse_get(copy, size, &st, &n, &port) == 0)
		dp_peer_status_free(st, n);
	free(copy);
	return 0;
}
