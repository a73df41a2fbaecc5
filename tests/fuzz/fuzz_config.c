/*
 * libFuzzer harness for the configuration parser: arbitrary bytes as a
 * config file (json-c parse, the position index, the schema walk and its
 * error messages).  Any input must give either a config or an error text.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "dataplane/noise.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	struct config cfg;
	struct buf err;
	int r;

	if (!init) {
		log_init(1, 0, "fuzz");
		noise_global_init();
		init = 1;
	}
	buf_init(&err, 64 * 1024);
	r = config_parse("fuzz.json", (const char *)data, size, &cfg, &err);
	if (r == 0) {
		struct prefix_set t = { 0 };
		config_tunnel_prefixes(&cfg, &t);
		prefix_set_free(&t);
		config_free(&cfg);
	} else if (r == -EINVAL && (err.data == NULL || strncmp(err.data, "fuzz.json:", 10) != 0)) {
		abort();              /* every config error names file:line:col */
	}
	buf_free(&err);
	return 0;
}
