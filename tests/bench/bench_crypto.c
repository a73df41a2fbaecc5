/*
 * The data path's AEAD alone, one thread: seal and open N packets of LEN
 * bytes with one session's contexts (noise_encrypt/noise_decrypt, as the
 * workers call them), in thread CPU time, against ChaCha20-Poly1305's cost
 * for the same bytes; the difference is the per-packet overhead of the
 * EVP calls.  For instruction counts run it under
 * `valgrind --tool=callgrind` with a small N.
 *
 * Then the crypto pool (cpool.c): batches of 44 packets (one 64 KiB TCP
 * super-packet cut to the MTU) sealed by one thread alone and shared with
 * 1..nproc-1 helpers, in wall-clock GB/s: what one flow's batches gain
 * from more cores when the cores are free.
 *
 *   bench_crypto [N [LEN [OFFSET]]]   OFFSET: payload start within a 64-byte line
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dataplane/dp_internal.h"

static double
cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

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
	fprintf(stderr, "bench_crypto: %s failed\n", what);
	exit(1);
}

/* One session between two identities (the handshake of bench_handshake). */
static void
session(struct noise_keypair *ka, struct noise_keypair *kb)
{
	struct noise_local a = { .sk = NULL }, b = { .sk = NULL };
	struct noise_handshake ha, hb, scratch;
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	uint8_t pa[NOISE_KEY_LEN], pb[NOISE_KEY_LEN], ts[NOISE_TIMESTAMP_LEN];

	memset(&ha, 0, sizeof(ha));
	memset(&hb, 0, sizeof(hb));
	if (noise_global_init() < 0 || dp_genkey(pa) < 0 || dp_genkey(pb) < 0 ||
	    noise_local_set(&a, pa) < 0 || noise_local_set(&b, pb) < 0 ||
	    noise_handshake_init(&ha, &a, b.public_key, NULL) < 0 ||
	    noise_handshake_init(&hb, &b, a.public_key, NULL) < 0 ||
	    noise_create_initiation(&ha, &a, 1, NULL, &init) < 0 ||
	    noise_consume_initiation(&b, &init, &scratch, ts) < 0)
		die("handshake");
	noise_handshake_adopt(&hb, &scratch, ts);
	if (noise_create_response(&hb, 2, &resp) < 0 || noise_begin_session(&hb, kb, 1) < 0 ||
	    noise_consume_response(&ha, &a, &resp) < 0 || noise_begin_session(&ha, ka, 1) < 0)
		die("session");
	noise_local_clear(&a);
	noise_local_clear(&b);
}

#define BATCH 44

struct batch {
	struct noise_keypair *kp;
	uint8_t *pkt[BATCH];
	size_t len;
	uint64_t counter;
	int failed;
};

static void
seal_range(void *ctx, unsigned int worker, unsigned int begin, unsigned int end)
{
	struct batch *b = ctx;

	for (unsigned int i = begin; i < end; i++)
		if (noise_encrypt(b->kp, worker, b->counter + i, b->pkt[i], b->pkt[i], b->len) < 0)
			b->failed = 1;
}

/* Seals n batches through the pool of dev; wall-clock GB/s. */
static double
pool_rate(struct dp_device *dev, struct batch *b, long n)
{
	double t0 = wall_s();

	for (long i = 0; i < n; i++) {
		dp_cpool_run(dev, 0, BATCH, seal_range, b);
		b->counter += BATCH;
	}
	if (b->failed)
		die("pool encrypt");
	return (double)n * BATCH * (double)b->len / (wall_s() - t0) / 1e9;
}

static void
pool_rows(struct noise_keypair *kp, long n, size_t len)
{
	struct dp_config empty = { .n_peers = 0 };
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	struct batch b = { .kp = kp, .len = len, .counter = 1 << 20 };
	struct dp_device *dev;
	double alone;

	for (int i = 0; i < BATCH; i++)
		if ((b.pkt[i] = aligned_alloc(64, len + 128)) == NULL)
			die("memory");
		else
			memset(b.pkt[i], 0, len + 128);
	if (dp_device_create_detached(&empty, &dev) < 0)
		die("device");
	n /= BATCH;
	alone = pool_rate(dev, &b, n);
	printf("batches of %d x %zu bytes, wall clock: alone %.2f GB/s", BATCH, len, alone);
	for (long h = 1; h < cpus && h <= DP_MAX_HELPERS; h++) {
		double r;

		dp_cpool_stop(dev);
		if (dp_cpool_start(dev, (unsigned int)h) < 0)
			die("helpers");
		r = pool_rate(dev, &b, n);
		printf("; %ld helper%s %.2f GB/s (%.2fx)", h, h > 1 ? "s" : "", r, r / alone);
	}
	printf("\n");
	dp_device_destroy(dev);
	for (int i = 0; i < BATCH; i++)
		free(b.pkt[i]);
}

int
main(int argc, char **argv)
{
	struct noise_keypair ka, kb;
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	long len = argc > 2 ? strtol(argv[2], NULL, 10) : 1424;
	long off = argc > 3 ? strtol(argv[3], NULL, 10) % 64 : 16;
	uint8_t *buf, *out, *mem, *mem2;
	double t0, ts, to;

	if (n <= 0 || len <= 0 || len > 65536 || (mem = aligned_alloc(64, (size_t)len + 128)) == NULL ||
	    (mem2 = aligned_alloc(64, (size_t)len + 128)) == NULL)
		die("arguments");
	/* the data path's payload sits DP_HEADROOM (16) bytes into its buffer */
	buf = mem + off;
	out = mem2 + off;
	memset(mem, 0, (size_t)len + 128);
	memset(&ka, 0, sizeof(ka));
	memset(&kb, 0, sizeof(kb));
	session(&ka, &kb);
	t0 = cpu_s();
	for (long i = 0; i < n; i++)
		if (noise_encrypt(&ka, 0, (uint64_t)i, buf, buf, (size_t)len) < 0)
			die("encrypt");
	ts = cpu_s() - t0;
	/* open one sealed packet n times into another buffer (each is a full check) */
	if (noise_encrypt(&ka, 0, 7, buf, buf, (size_t)len) < 0)
		die("encrypt");
	t0 = cpu_s();
	for (long i = 0; i < n; i++)
		if (noise_decrypt(&kb, 0, 7, out, buf, (size_t)len + 16) < 0)
			die("decrypt");
	to = cpu_s() - t0;
	printf("packets: %ld x %ld bytes at offset %ld\n", n, len, off);
	printf("seal: %.3f us per packet, %.2f GB/s\n", ts / (double)n * 1e6,
	    (double)n * (double)len / ts / 1e9);
	printf("open: %.3f us per packet, %.2f GB/s\n", to / (double)n * 1e6,
	    (double)n * (double)len / to / 1e9);
	pool_rows(&ka, n, (size_t)len);
	noise_keypair_destroy(&ka);
	noise_keypair_destroy(&kb);
	free(mem);
	free(mem2);
	return 0;
}
