/*
 * libFuzzer harness for the etcd watch stream parser and the unary response
 * validation: arbitrary bytes as a gateway stream, fed in chunks whose sizes
 * come from the input itself (chunks are not messages), and as a response
 * body.  Any input must end in messages or an error, never a crash or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "providers/etcd/etcd.h"
#include "providers/etcd/etcd_int.h"

static int
count(void *arg, const struct etcd_watch_msg *m)
{
	size_t i, *n = arg;

	for (i = 0; i < m->n_events; i++)
		if (m->events[i].kv.key == NULL || m->events[i].kv.value == NULL)
			abort();          /* decoded events always carry both */
	(*n)++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct etcd_stream st;
	struct json_object *o = NULL;
	size_t off = 1, n = 0, step;
	int64_t rev;

	if (size < 1)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	if (etcd_stream_init(&st, 4096, count, &n) < 0)
		return 0;
	while (off < size) {
		size_t k = size - off < step ? size - off : step;

		if (etcd_stream_feed(&st, (const char *)data + off, k) != 0)
			break;
		off += k;
	}
	etcd_stream_free(&st);
	if (etcd_response_decode(200, (const char *)data + 1, size - 1, &o, &rev) == 0 &&
	    (o == NULL || rev <= 0))
		abort();
	json_object_put(o);
	return 0;
}
