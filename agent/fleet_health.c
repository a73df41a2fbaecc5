/*
 * The fleet's own health probe (fleet.health_ping): an ICMP echo to a LAN
 * address every 500 ms from the fleet thread, without blocking it (a
 * non-blocking raw socket, read on every round).  Three answers missed in a
 * row make the connector unhealthy (it gives its lease up, so a standby of
 * its site takes over); three answered in a row make it healthy again.
 * Until the first verdict it counts as healthy.
 *
 * Raw ICMP needs CAP_NET_RAW (the daemon has it); without it an ICMP
 * datagram socket is tried (net.ipv4.ping_group_range).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <sys/socket.h>

#include "agent/fleet_health.h"

#define INTERVAL_MS 500
#define MISSES      3
#define OKS         3

static uint16_t
csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (n & 1)
		s += (uint32_t)(b[n - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

int
fleet_health_open(struct fleet_health *h, const struct prefix *target)
{
	int v6 = target->family == AF_INET6;
	int proto = v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;

	memset(h, 0, sizeof(h[0]));
	h->fd = -1;
	h->healthy = 1;
	h->target = *target;
	h->id = (uint16_t)(getpid() ^ 0x4352);
	h->fd = socket(target->family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (h->fd < 0) {
		h->fd = socket(target->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
		h->dgram = 1;
	}
	if (h->fd < 0)
		return -errno;
	h->enabled = 1;
	return 0;
}

void
fleet_health_close(struct fleet_health *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	h->enabled = 0;
}

static void
send_echo(struct fleet_health *h)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	uint8_t pkt[16];

	memset(pkt, 0, sizeof(pkt));
	memset(&ss, 0, sizeof(ss));
	h->seq++;
	pkt[0] = h->target.family == AF_INET6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
	pkt[4] = (uint8_t)(h->id >> 8);
	pkt[5] = (uint8_t)h->id;
	pkt[6] = (uint8_t)(h->seq >> 8);
	pkt[7] = (uint8_t)h->seq;
	memcpy(pkt + 8, "cloudrte", 8);
	if (h->target.family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, h->target.addr, 16);
		sl = sizeof(*a);               /* the kernel fills the ICMPv6 checksum */
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uint16_t c = csum(pkt, sizeof(pkt));

		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, h->target.addr, 4);
		memcpy(pkt + 2, &c, 2);
		sl = sizeof(*a);
	}
	if (sendto(h->fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&ss, sl) < 0)
		h->send_errors++;
	h->outstanding = 1;
}

/* 1 when buf (from the socket) is the answer to our last echo. */
static int
is_reply(const struct fleet_health *h, const uint8_t *b, ssize_t n,
    const struct sockaddr_storage *from)
{
	size_t off = 0;
	uint16_t id, seq;

	if (h->target.family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)from;

		if (memcmp(&a->sin_addr, h->target.addr, 4) != 0)
			return 0;
		if (!h->dgram && n > 0)
			off = (size_t)(b[0] & 0x0f) * 4;          /* raw: the IP header first */
		if (n < (ssize_t)(off + 8) || b[off] != ICMP_ECHOREPLY)
			return 0;
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)from;

		if (memcmp(&a->sin6_addr, h->target.addr, 16) != 0 || n < 8 ||
		    b[0] != ICMP6_ECHO_REPLY)
			return 0;
	}
	id = (uint16_t)(b[off + 4] << 8 | b[off + 5]);
	seq = (uint16_t)(b[off + 6] << 8 | b[off + 7]);
	/* Datagram sockets rewrite the id (the socket's port) and filter for us. */
	return (h->dgram || id == h->id) && seq == h->seq;
}

static void
verdict(struct fleet_health *h, int answered)
{
	if (answered) {
		h->misses = 0;
		if (++h->oks >= OKS)
			h->healthy = 1;
	} else {
		h->oks = 0;
		if (++h->misses >= MISSES)
			h->healthy = 0;
	}
}

void
fleet_health_tick(struct fleet_health *h, uint64_t now)
{
	struct sockaddr_storage from;
	socklen_t fl;
	uint8_t b[1500];
	ssize_t n;

	if (!h->enabled)
		return;
	for (;;) {
		fl = sizeof(from);
		n = recvfrom(h->fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
		if (n < 0)
			break;
		if (h->outstanding && is_reply(h, b, n, &from)) {
			h->outstanding = 0;
			verdict(h, 1);
		}
	}
	if (now < h->next_ms)
		return;
	if (h->outstanding)
		verdict(h, 0);                 /* no answer within the interval */
	send_echo(h);
	h->next_ms = now + INTERVAL_MS;
}

int
fleet_health_ok(const struct fleet_health *h)
{
	return !h->enabled || h->healthy;
}
