/*
 * Unit tests of agent/tunnel.c: the device configuration built from the
 * composed peers, and its endpoint cache (an endpoint is handed to the
 * device when a peer is new or its endpoint changed, not at every build).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/desired.h"
#include "agent/tunnel.h"
#include "dataplane/noise.h"

static char dir[] = "/tmp/cr-tun-XXXXXX";
static char keyfile[600];

/* A config of n peers p0..p<n-1>, each with endpoint 192.0.2.<i % 250>:<port0
 * + i>, without peer `skip` (n: none skipped). */
static void
make_config(struct config *cfg, size_t n, size_t skip, unsigned int port0)
{
	struct buf text, err;
	uint8_t key[32];
	char k64[45];
	size_t i;

	buf_init(&text, 1 << 22);
	buf_init(&err, 4096);
	buf_printf(&text, "{ \"lan_interface\": \"eth0\", \"local_subnets\": [\"10.0.0.0/18\"],\n"
	    "  \"state_dir\": \"%s/state\", \"tunnel\": { \"private_key_file\": \"%s\", "
	    "\"peers\": [\n", dir, keyfile);
	for (i = 0; i < n; i++) {
		if (i == skip)
			continue;
		memset(key, 0, sizeof(key));
		key[0] = (uint8_t)(i & 255);
		key[1] = (uint8_t)(i >> 8);
		key[2] = 9;
		dp_key_to_base64(k64, key);
		buf_printf(&text, "%s{ \"name\": \"p%zu\", \"public_key\": \"%s\", "
		    "\"endpoint\": \"192.0.2.%zu:%zu\", \"allowed_ips\": [\"10.%zu.%zu.0/24\"] }",
		    text.data[text.len - 1] == '\n' ? "" : ",\n", i, k64, i % 250, port0 + i,
		    100 + i / 256, i % 256);
	}
	buf_puts(&text, "] } }");
	if (config_parse("t", text.data, text.len, cfg, &err) != 0)
		fail_msg("%s", err.data);
	buf_free(&text);
	buf_free(&err);
}

/* Builds the device configuration of cfg through cache; the number of peers
 * whose endpoint is handed to the device. */
static size_t
build(const struct config *cfg, struct tunnel_endpoints *cache, size_t *n_peers)
{
	struct dp_config dc;
	struct desired d;
	struct buf err;
	size_t i, with = 0;

	buf_init(&err, 4096);
	assert_int_equal(desired_compose(cfg, NULL, &d, &err), 0);
	assert_int_equal(tunnel_config_build(cfg, &d, cache, &dc, &err), 0);
	for (i = 0; i < dc.n_peers; i++)
		with += dc.peers[i].has_endpoint != 0;
	*n_peers = dc.n_peers;
	tunnel_config_free(&dc);
	desired_free(&d);
	buf_free(&err);
	return with;
}

static void
test_endpoint_cache(void **state)
{
	enum { N = 2000 };
	struct tunnel_endpoints *c = tunnel_endpoints_new();
	struct config cfg;
	size_t n;

	(void)state;
	assert_non_null(c);
	make_config(&cfg, N, N, 20000);
	assert_int_equal(build(&cfg, c, &n), N);         /* all new */
	assert_int_equal(n, N);
	assert_int_equal(build(&cfg, c, &n), 0);         /* known, not re-sent */
	assert_int_equal(build(&cfg, NULL, &n), N);      /* no cache: always */
	config_free(&cfg);
	/* peer 5 leaves (its entry is swept), every port moves by one */
	make_config(&cfg, N, 5, 20001);
	assert_int_equal(build(&cfg, c, &n), N - 1);
	assert_int_equal(n, N - 1);
	assert_int_equal(build(&cfg, c, &n), 0);
	config_free(&cfg);
	/* peer 5 is back with the address it had: new to the cache again */
	make_config(&cfg, N, N, 20001);
	assert_int_equal(build(&cfg, c, &n), 1);
	assert_int_equal(build(&cfg, c, &n), 0);
	config_free(&cfg);
	/* nearly everyone leaves, then comes back */
	make_config(&cfg, 3, N, 20001);
	assert_int_equal(build(&cfg, c, &n), 0);
	config_free(&cfg);
	make_config(&cfg, N, N, 20001);
	assert_int_equal(build(&cfg, c, &n), N - 3);
	config_free(&cfg);
	tunnel_endpoints_free(c);
}

static int
setup(void **state)
{
	uint8_t key[32] = { 1, 2, 3 };
	char k64[45];
	FILE *f;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(keyfile, sizeof(keyfile), "%s/key", dir);
	dp_key_to_base64(k64, key);
	if ((f = fopen(keyfile, "w")) == NULL)
		return -1;
	fprintf(f, "%s\n", k64);
	fclose(f);
	return chmod(keyfile, 0600);
}

static int
teardown(void **state)
{
	(void)state;
	unlink(keyfile);
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_cache),
	};
	noise_global_init();
	return cmocka_run_group_tests(tests, setup, teardown);
}
