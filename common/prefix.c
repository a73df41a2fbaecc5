/*
 * Prefix and endpoint parsing, containment, and small sorted sets of prefixes.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prefix.h"
#include "util.h"

size_t
prefix_addrlen(const struct prefix *p)
{
	return p->family == AF_INET ? 4 : 16;
}

static int
parse_len(const char *s, unsigned int max, uint8_t *out)
{
	unsigned int v = 0;

	if (*s == '\0' || strlen(s) > 3)
		return -EINVAL;
	if (s[0] == '0' && s[1] != '\0')
		return -EINVAL;          /* no leading zeros: "/011" is a typo */
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		v = v * 10 + (unsigned int)(*s - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = (uint8_t)v;
	return 0;
}

int
prefix_parse_addr(const char *s, struct prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (inet_pton(AF_INET, s, p->addr) == 1) {
		p->family = AF_INET;
		p->len = 32;
		return 0;
	}
	if (inet_pton(AF_INET6, s, p->addr) == 1) {
		p->family = AF_INET6;
		p->len = 128;
		return 0;
	}
	return -EINVAL;
}

int
prefix_parse(const char *s, struct prefix *p, int allow_host)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash;
	size_t alen;
	int r;

	slash = strchr(s, '/');
	if (slash == NULL)
		return allow_host ? prefix_parse_addr(s, p) : -EINVAL;
	alen = (size_t)(slash - s);
	if (alen == 0 || alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if ((r = prefix_parse_addr(addr, p)) < 0)
		return r;
	return parse_len(slash + 1, p->family == AF_INET ? 32 : 128, &p->len);
}

const char *
prefix_addr_fmt(const struct prefix *p, char *buf, size_t len)
{
	if (inet_ntop(p->family, p->addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

const char *
prefix_fmt(const struct prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, len, "%s/%u", prefix_addr_fmt(p, a, sizeof(a)), p->len);
	return buf;
}

static int
bits_equal(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int bytes = bits / 8, rem = bits % 8;

	if (memcmp(a, b, bytes) != 0)
		return 0;
	if (rem) {
		uint8_t mask = (uint8_t)(0xff << (8 - rem));
		if ((a[bytes] & mask) != (b[bytes] & mask))
			return 0;
	}
	return 1;
}

int
prefix_equal(const struct prefix *a, const struct prefix *b)
{
	return a->family == b->family && a->len == b->len &&
	    memcmp(a->addr, b->addr, prefix_addrlen(a)) == 0;
}

int
prefix_contains(const struct prefix *a, const struct prefix *b)
{
	if (a->family != b->family || a->len > b->len)
		return 0;
	return bits_equal(a->addr, b->addr, a->len);
}

int
prefix_overlaps(const struct prefix *a, const struct prefix *b)
{
	return prefix_contains(a, b) || prefix_contains(b, a);
}

void
prefix_network(const struct prefix *in, struct prefix *out)
{
	size_t i, alen = prefix_addrlen(in);

	*out = *in;
	for (i = 0; i < alen; i++) {
		unsigned int bit = (unsigned int)i * 8;
		if (bit >= in->len)
			out->addr[i] = 0;
		else if (bit + 8 > in->len)
			out->addr[i] &= (uint8_t)(0xff << (8 - (in->len - bit)));
	}
}

int
prefix_is_network(const struct prefix *p)
{
	struct prefix n;

	prefix_network(p, &n);
	return memcmp(n.addr, p->addr, sizeof(n.addr)) == 0;
}

int
prefix_cmp(const struct prefix *a, const struct prefix *b)
{
	int r;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	if ((r = memcmp(a->addr, b->addr, prefix_addrlen(a))) != 0)
		return r;
	if (a->len != b->len)
		return a->len < b->len ? -1 : 1;
	return 0;
}

int
prefix_set_add(struct prefix_set *s, const struct prefix *p)
{
	return prefix_set_has(s, p) ? 0 : prefix_set_push(s, p);
}

int
prefix_set_push(struct prefix_set *s, const struct prefix *p)
{
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 8;
		struct prefix *nv = reallocarray(s->v, ncap, sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = *p;
	return 0;
}

int
prefix_set_equal(const struct prefix_set *a, const struct prefix_set *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (!prefix_equal(&a->v[i], &b->v[i]))
			return 0;
	return 1;
}

int
prefix_set_has(const struct prefix_set *s, const struct prefix *p)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (prefix_equal(&s->v[i], p))
			return 1;
	return 0;
}

int
prefix_set_covers(const struct prefix_set *s, const struct prefix *p)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (prefix_contains(&s->v[i], p))
			return 1;
	return 0;
}

static int
cmp_qsort(const void *a, const void *b)
{
	return prefix_cmp(a, b);
}

void
prefix_set_sort(struct prefix_set *s)
{
	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_qsort);
}

/* (family, network address, length): a prefix sorts before every prefix it
 * contains, and the ones it contains follow it without a gap. */
static int
cmp_masked(const void *pa, const void *pb)
{
	const struct prefix *a = pa, *b = pb;
	struct prefix ma, mb;
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	prefix_network(a, &ma);
	prefix_network(b, &mb);
	if ((c = memcmp(ma.addr, mb.addr, prefix_addrlen(a))) != 0)
		return c;
	return a->len < b->len ? -1 : a->len > b->len;
}

/* Prefixes nest or are disjoint, so in cmp_masked order a prefix is covered
 * exactly when the last one kept contains it: O(n log n). */
void
prefix_set_merge(struct prefix_set *s)
{
	size_t i, out = 0;

	if (s->n > 1)
		qsort(s->v, s->n, sizeof(*s->v), cmp_masked);
	for (i = 0; i < s->n; i++)
		if (out == 0 || !prefix_contains(&s->v[out - 1], &s->v[i]))
			s->v[out++] = s->v[i];
	s->n = out;
	prefix_set_sort(s);
}

void
prefix_set_free(struct prefix_set *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

int
endpoint_split(const char *s, char *host, size_t hostlen, uint16_t *port)
{
	const char *colon, *h = s;
	size_t hl;
	unsigned long v;
	char *end;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');
		if (rb == NULL || rb[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
			return -EINVAL;   /* bare IPv6 needs brackets */
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)host[i];
		if (!(isalnum(c) || c == '-' || c == '.' || c == ':' || c == '_' || c == '%'))
			return -EINVAL;
	}
	if (colon[1] == '\0' || !isdigit((unsigned char)colon[1]))
		return -EINVAL;
	errno = 0;
	v = strtoul(colon + 1, &end, 10);
	if (errno || *end != '\0' || v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

int
endpoint_resolve(const char *s, int numeric, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	char host[256], portstr[8];
	struct addrinfo hints, *res = NULL;
	uint16_t port;
	int r;

	if ((r = endpoint_split(s, host, sizeof(host), &port)) < 0)
		return r;
	snprintf(portstr, sizeof(portstr), "%u", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV | (numeric ? AI_NUMERICHOST : 0);
	if ((r = getaddrinfo(host, portstr, &hints, &res)) != 0)
		return r == EAI_NONAME ? -ENOENT : -EAGAIN;
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

const char *
sockaddr_fmt(const struct sockaddr *sa, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		snprintf(buf, len, "%s:%u", a, ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(buf, len, "[%s]:%u", a, ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "(none)");
	}
	return buf;
}
