/*
 * libFuzzer harness for the clients store (state_dir/clients.json):
 * arbitrary bytes must give either clients or an error naming the file; what
 * parses must survive a format/parse round trip unchanged.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/clients.h"
#include "dataplane/noise.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct client_store cs, again;
	struct buf err;
	char *text;
	size_t i;
	int r;

	if (!init) {
		log_init(1, 0, "fuzz");
		noise_global_init();
		init = 1;
	}
	buf_init(&err, 64 * 1024);
	r = clients_parse("c.json", (const char *)data, size, &cs, &err);
	if (r == -EINVAL && (err.data == NULL || strncmp(err.data, "c.json: ", 8) != 0))
		abort();
	if (r == 0) {
		if ((text = clients_format(&cs)) == NULL)
			abort();
		if (clients_parse("c.json", text, strlen(text), &again, &err) != 0 ||
		    again.n != cs.n)
			abort();
		for (i = 0; i < cs.n; i++)
			if (strcmp(cs.v[i].name, again.v[i].name) != 0 ||
			    memcmp(cs.v[i].public_key, again.v[i].public_key, 32) != 0 ||
			    !prefix_equal(&cs.v[i].address, &again.v[i].address) ||
			    strcmp(cs.v[i].created, again.v[i].created) != 0)
				abort();
		free(text);
		clients_free(&again);
		clients_free(&cs);
	}
	buf_free(&err);
	return 0;
}
