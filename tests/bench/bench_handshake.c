/*
 * Handshake cost of the protocol core, one thread: N full Noise_IKpsk2
 * handshakes between two identities (initiation, consume, response,
 * consume, both sessions), timed per role in thread CPU time, and the
 * responder's rate as "handshakes per second per core".  Also the cost of
 * preparing a peer (noise_handshake_init: the precomputed static DH), which
 * bounds how fast 10,000 peers load.  For instruction counts run it under
 * `valgrind --tool=callgrind` with a small N.
 *
 *   bench_handshake [N]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dataplane/noise.h"

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The device's lookup: the peer's precomputed static-static DH. */
static int
lookup(void *ctx, const uint8_t remote_static[NOISE_KEY_LEN], uint8_t ss[NOISE_KEY_LEN])
{
	const struct noise_handshake *peer_hs = ctx;

	if (memcmp(remote_static, peer_hs->remote_static, NOISE_KEY_LEN) != 0)
		return -1;
	memcpy(ss, peer_hs->precomputed_static_static, NOISE_KEY_LEN);
	return 0;
}

static void
die(const char *what)
{
	fprintf(stderr, "bench_handshake: %s failed\n", what);
	exit(1);
}

int
main(int argc, char **argv)
{
	struct noise_local a = { .sk = NULL }, b = { .sk = NULL };
	struct noise_handshake ha, hb, scratch;
	struct noise_keypair ka, kb;
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	uint8_t ka_priv[NOISE_KEY_LEN], kb_priv[NOISE_KEY_LEN], ts[NOISE_TIMESTAMP_LEN];
	double t0, t_init = 0, t_resp = 0, t_peer;
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;

	if (n <= 0 || noise_global_init() < 0 || dp_genkey(ka_priv) < 0 || dp_genkey(kb_priv) < 0 ||
	    noise_local_set(&a, ka_priv) < 0 || noise_local_set(&b, kb_priv) < 0)
		die("setup");
	memset(&ha, 0, sizeof(ha));
	memset(&hb, 0, sizeof(hb));
	memset(&ka, 0, sizeof(ka));
	memset(&kb, 0, sizeof(kb));
	t0 = cpu_s();
	for (long i = 0; i < n; i++)
		if (noise_handshake_init(&ha, &a, b.public_key, NULL) < 0)
			die("noise_handshake_init");
	t_peer = cpu_s() - t0;
	if (noise_handshake_init(&hb, &b, a.public_key, NULL) < 0)
		die("noise_handshake_init");
	for (long i = 0; i < n; i++) {
		t0 = cpu_s();
		if (noise_create_initiation(&ha, &a, (uint32_t)i + 1, NULL, &init) < 0)
			die("create_initiation");
		t_init += cpu_s() - t0;
		t0 = cpu_s();
		if (noise_consume_initiation_lookup(&b, &init, &scratch, ts, lookup, &hb) < 0)
			die("consume_initiation");
		/* a replayed timestamp check would refuse the same second twice */
		memset(hb.latest_timestamp, 0, sizeof(hb.latest_timestamp));
		noise_handshake_adopt(&hb, &scratch, ts);
		if (noise_create_response(&hb, (uint32_t)i + 7, &resp) < 0 ||
		    noise_begin_session(&hb, &kb, 1) < 0)
			die("responder");
		t_resp += cpu_s() - t0;
		t0 = cpu_s();
		if (noise_consume_response(&ha, &a, &resp) < 0 ||
		    noise_begin_session(&ha, &ka, 1) < 0)
			die("initiator");
		t_init += cpu_s() - t0;
	}
	printf("handshakes: %ld\n", n);
	printf("responder: %.1f us per handshake, %.0f handshakes/s per core\n",
	    t_resp / (double)n * 1e6, (double)n / t_resp);
	printf("initiator: %.1f us per handshake\n", t_init / (double)n * 1e6);
	printf("peer setup (precomputed static DH): %.1f us per peer\n", t_peer / (double)n * 1e6);
	noise_keypair_destroy(&ka);
	noise_keypair_destroy(&kb);
	noise_local_clear(&a);
	noise_local_clear(&b);
	return 0;
}
