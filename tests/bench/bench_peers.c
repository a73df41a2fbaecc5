/*
 * The data plane's side of a reload (SIGHUP -> dp_device_configure) with
 * many peers, in wall time on a device without sockets: N peers in, a
 * reload keeping every other one, a reload that changes every peer's
 * allowed IP, and all out.  (The agent's own parsing of a config file that
 * big is not part of this.)
 *
 *   bench_peers [N]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/dp_internal.h"
#include "tests/lib/dp_peers.h"

static double
wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_peers: %s failed\n", what);
	exit(1);
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	struct dp_peer_config *pcs = calloc(n, sizeof(*pcs));
	struct prefix *ips = calloc(n, sizeof(*ips));
	struct dp_config cfg = { .n_peers = n }, empty;
	struct dp_device *dev;
	double t0, t_add, t_half, t_ips, t_rm;

	if (n == 0 || pcs == NULL || ips == NULL || noise_global_init() < 0 ||
	    dp_genkey(cfg.private_key) < 0)
		die("setup");
	dp_test_peers(pcs, ips, n);
	cfg.peers = pcs;
	memset(&empty, 0, sizeof(empty));
	memcpy(empty.private_key, cfg.private_key, NOISE_KEY_LEN);
	if (dp_device_create_detached(&empty, &dev) < 0)
		die("device");
	t0 = wall_s();
	if (dp_device_configure(dev, &cfg) < 0)
		die("configure");
	t_add = wall_s() - t0;
	for (size_t i = 0; i < n / 2; i++)
		pcs[i] = pcs[2 * i];
	cfg.n_peers = n / 2;
	t0 = wall_s();
	if (dp_device_configure(dev, &cfg) < 0)
		die("configure half");
	t_half = wall_s() - t0;
	for (size_t i = 0; i < n / 2; i++)
		ips[2 * i].addr[0] = 11;
	t0 = wall_s();
	if (dp_device_configure(dev, &cfg) < 0)
		die("configure ips");
	t_ips = wall_s() - t0;
	t0 = wall_s();
	if (dp_device_configure(dev, &empty) < 0)
		die("configure empty");
	t_rm = wall_s() - t0;
	printf("reload with %zu peers: add all %.3f s, keep half %.3f s, "
	    "change every allowed IP %.3f s, remove all %.3f s\n", n, t_add, t_half, t_ips, t_rm);
	dp_device_destroy(dev);
	explicit_bzero(&cfg, sizeof(cfg));
	free(pcs);
	free(ips);
	return 0;
}
