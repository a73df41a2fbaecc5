/*
 * IPv4/IPv6 prefixes ("10.0.0.0/18", "fd00::/64", "100.96.0.100/11") and
 * socket endpoints ("host:port", "[v6]:port").  A prefix keeps the bits it
 * was written with; prefix_is_network() tells whether host bits are zero,
 * prefix_network() clears them.
 */
#ifndef CR_PREFIX_H
#define CR_PREFIX_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

struct prefix {
	int family;              /* AF_INET or AF_INET6 */
	uint8_t len;             /* 0..32 or 0..128 */
	uint8_t addr[16];        /* network byte order; v4 in the first 4 bytes */
};

#define PREFIX_STRLEN 64     /* enough for any "addr/len" */

/* 0 or -EINVAL.  Without "/len" the prefix is a host route (32 or 128)
 * only when allow_host is set. */
int prefix_parse(const char *s, struct prefix *p, int allow_host);
/* Parses a bare address into a host prefix. */
int prefix_parse_addr(const char *s, struct prefix *p);
/* "addr/len", always NUL-terminated. */
const char *prefix_fmt(const struct prefix *p, char *buf, size_t len);
/* The address alone. */
const char *prefix_addr_fmt(const struct prefix *p, char *buf, size_t len);

int prefix_equal(const struct prefix *a, const struct prefix *b);
/* a contains b: same family, a->len <= b->len, b's leading a->len bits equal. */
int prefix_contains(const struct prefix *a, const struct prefix *b);
int prefix_overlaps(const struct prefix *a, const struct prefix *b);
int prefix_is_network(const struct prefix *p);
void prefix_network(const struct prefix *in, struct prefix *out);
/* Total order (family, addr, len) for sorting and dedup. */
int prefix_cmp(const struct prefix *a, const struct prefix *b);
size_t prefix_addrlen(const struct prefix *p);

/*
 * A set of prefixes: sorted, deduplicated; prefix_set_merge() removes every
 * prefix contained in another one of the set.
 */
struct prefix_set {
	struct prefix *v;
	size_t n, cap;
};
int prefix_set_add(struct prefix_set *s, const struct prefix *p);
/* Appends without the duplicate check (the caller knows p is new). */
int prefix_set_push(struct prefix_set *s, const struct prefix *p);
int prefix_set_has(const struct prefix_set *s, const struct prefix *p);
/* The same members in the same order. */
int prefix_set_equal(const struct prefix_set *a, const struct prefix_set *b);
/* Some member contains p. */
int prefix_set_covers(const struct prefix_set *s, const struct prefix *p);
void prefix_set_sort(struct prefix_set *s);
void prefix_set_merge(struct prefix_set *s);
void prefix_set_free(struct prefix_set *s);

/*
 * Endpoint "host:port" / "[v6]:port".  endpoint_split() only splits and
 * validates syntax (host is a hostname or literal); endpoint_resolve()
 * resolves with getaddrinfo (numeric-only when numeric is set).
 */
int endpoint_split(const char *s, char *host, size_t hostlen, uint16_t *port);
int endpoint_resolve(const char *s, int numeric, struct sockaddr_storage *ss,
    socklen_t *sslen);
const char *sockaddr_fmt(const struct sockaddr *sa, char *buf, size_t len);

#endif
