/*
 * Handshake load for make bench, against any WireGuard responder (cloudroute
 * or wireguard-go), built on the protocol core (noise.h):
 *
 *   hsflood valid PUBKEY HOST PORT SECONDS NPEERS PEERFILE
 *     NPEERS initiators whose public keys are written to PEERFILE (wg
 *     addconf format) before anything is sent; once "go" is read on stdin,
 *     initiations (precomputed, PER_PEER per peer with strictly increasing
 *     timestamps, each peer at most every 25 ms) are sent for SECONDS with
 *     at most WINDOW unanswered, cookie replies are taken (mac2 on that
 *     peer's next initiations) and responses counted: responses per second
 *     is the responder's handshake rate.
 *   hsflood forged PUBKEY HOST PORT SECONDS
 *     initiations with a valid mac1 and random content, as fast as one
 *     socket sends them (the attack mac1 alone does not stop).
 *
 * Prints "ready" when PEERFILE is complete (valid), then
 * "sent=N responses=N cookies=N seconds=S" (forged: and cpu=S, the CPU
 * seconds it used).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "dataplane/noise.h"
#include "dataplane/noise_crypto.h"

#define PER_PEER 64                  /* initiations precomputed per peer */
#define WINDOW 64                    /* initiations unanswered at a time */
#define BATCH 64

struct initiator {
	struct noise_local local;
	struct noise_handshake hs;
	struct cookie_maker cm;
	struct message_handshake_initiation msg[PER_PEER];
	unsigned int next;
	uint64_t last_sent;
};

/* CPU seconds this process used (user + system, its kernel send path included). */
static double
cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
die(const char *what)
{
	fprintf(stderr, "hsflood: %s\n", what);
	exit(1);
}

static int
open_socket(const char *host, const char *port, struct sockaddr_in *to)
{
	int fd, sz = 4 << 20;

	memset(to, 0, sizeof(*to));
	to->sin_family = AF_INET;
	to->sin_port = htons((uint16_t)strtoul(port, NULL, 10));
	if (inet_pton(AF_INET, host, &to->sin_addr) != 1)
		die("HOST must be an IPv4 address");
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *)to, sizeof(*to)) < 0)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	return fd;
}

/* Reads whatever came back: responses counted, cookies given to their peer. */
static void
drain(int fd, struct initiator *ini, size_t n, uint64_t *responses, uint64_t *cookies)
{
	uint8_t buf[256];
	ssize_t r;

	while ((r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		uint32_t type = le32toh(*(uint32_t *)(void *)buf), idx;

		if (type == MESSAGE_HANDSHAKE_RESPONSE && r == sizeof(struct message_handshake_response)) {
			(*responses)++;
		} else if (type == MESSAGE_HANDSHAKE_COOKIE &&
		    r == sizeof(struct message_handshake_cookie)) {
			(*cookies)++;
			idx = le32toh(((struct message_handshake_cookie *)(void *)buf)->receiver_index);
			if (ini != NULL && idx >= 1 && idx <= n)
				cookie_consume_reply(&ini[idx - 1].cm, (void *)buf, now_ms());
		}
	}
}

static void
tai64n_plus(uint8_t ts[NOISE_TIMESTAMP_LEN], uint32_t k)
{
	uint32_t ns;

	memcpy(&ns, ts + 8, 4);
	ns = htobe32(be32toh(ns) + k);
	memcpy(ts + 8, &ns, 4);
}

static struct initiator *
make_initiators(const uint8_t server[NOISE_KEY_LEN], size_t n, const char *path)
{
	struct initiator *ini = calloc(n, sizeof(*ini));
	uint8_t priv[NOISE_KEY_LEN], ts[NOISE_TIMESTAMP_LEN], t[NOISE_TIMESTAMP_LEN];
	char b64[45];
	FILE *f;

	if (ini == NULL || (f = fopen(path, "w")) == NULL)
		die("initiators");
	noise_tai64n_now(ts);
	for (size_t i = 0; i < n; i++) {
		if (dp_genkey(priv) < 0 || noise_local_set(&ini[i].local, priv) < 0 ||
		    noise_handshake_init(&ini[i].hs, &ini[i].local, server, NULL) < 0)
			die("key");
		cookie_maker_init(&ini[i].cm, server);
		dp_key_to_base64(b64, ini[i].local.public_key);
		fprintf(f, "[Peer]\nPublicKey = %s\nAllowedIPs = 10.%zu.%zu.%zu/32\n", b64,
		    200 + (i >> 16), (i >> 8) & 255, i & 255);
		for (unsigned int k = 0; k < PER_PEER; k++) {
			memcpy(t, ts, sizeof(t));
			tai64n_plus(t, k + 1);
			if (noise_create_initiation(&ini[i].hs, &ini[i].local, (uint32_t)i + 1, t,
			    &ini[i].msg[k]) < 0)
				die("initiation");
		}
	}
	explicit_bzero(priv, sizeof(priv));
	if (fclose(f) != 0)
		die("peer file");
	return ini;
}

static void
run_valid(int fd, const uint8_t server[NOISE_KEY_LEN], double secs, size_t n, const char *path)
{
	struct initiator *ini = make_initiators(server, n, path);
	uint64_t start, now, sent = 0, responses = 0, cookies = 0, written_off = 0;
	uint64_t last_answer, answered = 0, end = 0;
	char line[16];
	size_t i = 0, idle;

	/* the caller loads PEERFILE into the responder, then says go */
	printf("ready\n");
	if (fgets(line, sizeof(line), stdin) == NULL)
		die("no go");
	start = now = last_answer = now_ms();
	while (now - start < (uint64_t)(secs * 1000) && sent < (uint64_t)n * PER_PEER) {
		if (responses + cookies != answered) {
			answered = responses + cookies;
			last_answer = now;
		}
		/* a full window that nothing answers for 100 ms was dropped */
		if (sent - answered - written_off >= WINDOW && now - last_answer >= 100) {
			written_off = sent - answered;
			last_answer = now;
		}
		if (sent - answered - written_off >= WINDOW) {
			poll(NULL, 0, 0);
			drain(fd, ini, n, &responses, &cookies);
			now = now_ms();
			continue;
		}
		for (idle = 0; idle < n; idle++, i = (i + 1) % n) {
			struct initiator *p = &ini[i];
			if (p->next < PER_PEER && now - p->last_sent >= 25)
				break;
		}
		if (idle == n) {
			poll(NULL, 0, 1);       /* every peer waits for its 25 ms */
		} else {
			struct initiator *p = &ini[i];
			cookie_add_macs(&p->cm, &p->msg[p->next], sizeof(p->msg[0]), now);
			if (send(fd, &p->msg[p->next], sizeof(p->msg[0]), MSG_DONTWAIT) > 0)
				sent++;
			p->next++;
			p->last_sent = now;
			i = (i + 1) % n;
		}
		drain(fd, ini, n, &responses, &cookies);
		now = now_ms();
	}
	end = now;
	poll(NULL, 0, 200);
	drain(fd, ini, n, &responses, &cookies);
	printf("sent=%llu responses=%llu cookies=%llu seconds=%.2f\n", (unsigned long long)sent,
	    (unsigned long long)responses, (unsigned long long)cookies, (double)(end - start) / 1000);
	for (i = 0; i < n; i++)
		noise_local_clear(&ini[i].local);
	free(ini);
}

static void
run_forged(int fd, const uint8_t server[NOISE_KEY_LEN], double secs)
{
	enum { POOL = 4096 };
	struct message_handshake_initiation *pool = calloc(POOL, sizeof(*pool));
	struct mmsghdr mm[BATCH];
	struct iovec iov[BATCH];
	struct cookie_maker cm;
	uint64_t start, now, sent = 0, responses = 0, cookies = 0;
	unsigned int at = 0;
	int r;

	if (pool == NULL)
		die("memory");
	cookie_maker_init(&cm, server);
	for (unsigned int i = 0; i < POOL; i++) {
		if (crypto_random(&pool[i], sizeof(pool[i]), 0) < 0)
			die("random");
		pool[i].type = htole32(MESSAGE_HANDSHAKE_INITIATION);
		cookie_add_macs(&cm, &pool[i], sizeof(pool[i]), 0);    /* mac1 only */
	}
	memset(mm, 0, sizeof(mm));
	start = now = now_ms();
	while (now - start < (uint64_t)(secs * 1000)) {
		for (unsigned int i = 0; i < BATCH; i++, at = (at + 1) % POOL) {
			iov[i].iov_base = &pool[at];
			iov[i].iov_len = sizeof(pool[at]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		if ((r = sendmmsg(fd, mm, BATCH, 0)) > 0)
			sent += (uint64_t)r;
		drain(fd, NULL, 0, &responses, &cookies);
		now = now_ms();
	}
	printf("sent=%llu responses=%llu cookies=%llu seconds=%.2f cpu=%.2f\n",
	    (unsigned long long)sent, (unsigned long long)responses, (unsigned long long)cookies,
	    (double)(now - start) / 1000, cpu_seconds());
	free(pool);
}

int
main(int argc, char **argv)
{
	uint8_t server[NOISE_KEY_LEN];
	struct sockaddr_in to;
	int fd;

	if (argc < 6 || noise_global_init() < 0)
		die("usage: hsflood valid|forged PUBKEY HOST PORT SECONDS [NPEERS PEERFILE]");
	if (dp_key_from_base64(server, argv[2]) < 0)
		die("PUBKEY is not a base64 key");
	fd = open_socket(argv[3], argv[4], &to);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(argv[1], "valid") == 0 && argc == 8)
		run_valid(fd, server, strtod(argv[5], NULL), strtoul(argv[6], NULL, 10), argv[7]);
	else if (strcmp(argv[1], "forged") == 0)
		run_forged(fd, server, strtod(argv[5], NULL));
	else
		die("usage: hsflood valid|forged PUBKEY HOST PORT SECONDS [NPEERS PEERFILE]");
	close(fd);
	return 0;
}
