/*
 * Parsing a UAPI set request (see uapi.c for the protocol): the whole
 * request is validated into a struct dp_uapi_set before anything is
 * applied.  Callable on a string, for tests and fuzzing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataplane/dp_internal.h"

/* ---- parsing a set request ------------------------------------------------- */

static int
parse_bool(const char *v, int *out)
{
	if (strcmp(v, "true") == 0)
		*out = 1;
	else if (strcmp(v, "false") == 0)
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

static int
parse_num(const char *v, unsigned long max, unsigned long *out)
{
	return cr_parse_ulong(v, 0, max, out);
}

static int
add_peer(struct dp_uapi_set *s, const char *v)
{
	struct dp_uapi_peer *np, *p;

	/* doubling: a request may carry tens of thousands of peers */
	if ((s->n_peers & (s->n_peers - 1)) == 0) {
		size_t cap = s->n_peers ? 2 * s->n_peers : 1;
		if ((np = realloc(s->peers, cap * sizeof(*np))) == NULL)
			return -ENOMEM;
		s->peers = np;
	}
	p = &s->peers[s->n_peers];
	memset(p, 0, sizeof(*p));
	s->n_peers++;
	return dp_key_from_hex(p->public_key, v);
}

static int
add_allowed_ip(struct dp_uapi_peer *p, const char *v)
{
	struct prefix pf, *n;
	int r;

	if ((r = prefix_parse(v, &pf, 1)) < 0)
		return r;
	if ((n = realloc(p->allowed_ips, (p->n_allowed_ips + 1) * sizeof(*n))) == NULL)
		return -ENOMEM;
	p->allowed_ips = n;
	p->allowed_ips[p->n_allowed_ips++] = pf;
	return 0;
}

static int
parse_device_key(struct dp_uapi_set *s, const char *k, const char *v)
{
	unsigned long n;
	int r;

	if (strcmp(k, "private_key") == 0) {
		s->has_private_key = 1;
		return dp_key_from_hex(s->private_key, v);
	}
	if (strcmp(k, "listen_port") == 0) {
		if ((r = parse_num(v, 65535, &n)) < 0)
			return r;
		s->has_listen_port = 1;
		s->listen_port = (uint16_t)n;
		return 0;
	}
	if (strcmp(k, "fwmark") == 0) {
		if ((r = parse_num(v, UINT32_MAX, &n)) < 0)
			return r;
		s->has_fwmark = 1;
		s->fwmark = (uint32_t)n;
		return 0;
	}
	if (strcmp(k, "replace_peers") == 0)
		return parse_bool(v, &s->replace_peers);
	return -ENOENT;
}

static int
parse_peer_key(struct dp_uapi_peer *p, const char *k, const char *v)
{
	socklen_t sl;
	unsigned long n;
	int r;

	if (strcmp(k, "remove") == 0)
		return parse_bool(v, &p->remove);
	if (strcmp(k, "update_only") == 0)
		return parse_bool(v, &p->update_only);
	if (strcmp(k, "preshared_key") == 0) {
		p->has_psk = 1;
		return dp_key_from_hex(p->psk, v);
	}
	if (strcmp(k, "endpoint") == 0) {
		p->has_endpoint = 1;
		return endpoint_resolve(v, 1, &p->endpoint, &sl) < 0 ? -EINVAL : 0;
	}
	if (strcmp(k, "persistent_keepalive_interval") == 0) {
		if ((r = parse_num(v, 65535, &n)) < 0)
			return r;
		p->has_keepalive = 1;
		p->keepalive = (uint16_t)n;
		return 0;
	}
	if (strcmp(k, "replace_allowed_ips") == 0)
		return parse_bool(v, &p->replace_allowed_ips);
	if (strcmp(k, "allowed_ip") == 0)
		return add_allowed_ip(p, v);
	if (strcmp(k, "protocol_version") == 0)
		return strcmp(v, "1") == 0 ? 0 : -EINVAL;
	return -ENOENT;
}

static int
parse_line(struct dp_uapi_set *s, char *line)
{
	char *eq = strchr(line, '=');
	const char *k = line, *v;
	int r;

	if (eq == NULL || eq == line)
		return -EINVAL;
	*eq = '\0';
	v = eq + 1;
	if (strcmp(k, "public_key") == 0)
		return add_peer(s, v);
	if (s->n_peers == 0)
		r = parse_device_key(s, k, v);
	else
		r = parse_peer_key(&s->peers[s->n_peers - 1], k, v);
	return r < 0 && r != -ENOMEM ? -EINVAL : r;
}

void
dp_uapi_set_free(struct dp_uapi_set *s)
{
	for (size_t i = 0; i < s->n_peers; i++)
		free(s->peers[i].allowed_ips);
	free(s->peers);
	explicit_bzero(s, sizeof(*s));
}

int
dp_uapi_parse_set(const char *body, size_t len, struct dp_uapi_set *out,
    char *err, size_t errlen)
{
	char line[DP_UAPI_MAX_LINE + 1];
	size_t pos = 0, lineno = 0;
	int r = 0;

	memset(out, 0, sizeof(*out));
	if (len > DP_UAPI_MAX_REQUEST) {
		snprintf(err, errlen, "request too large");
		return -E2BIG;
	}
	while (pos < len) {
		const char *nl = memchr(body + pos, '\n', len - pos);
		size_t ll = nl != NULL ? (size_t)(nl - (body + pos)) : len - pos;

		lineno++;
		if (ll == 0)
			break;                      /* the blank line ends the request */
		if (ll > DP_UAPI_MAX_LINE || memchr(body + pos, '\0', ll) != NULL) {
			snprintf(err, errlen, "line %zu: too long or binary", lineno);
			r = -EINVAL;
			goto out;
		}
		memcpy(line, body + pos, ll);
		line[ll] = '\0';
		if ((r = parse_line(out, line)) < 0) {
			snprintf(err, errlen, "line %zu: invalid %s", lineno, line);
			goto out;
		}
		pos += ll + 1;
	}
out:
	explicit_bzero(line, sizeof(line));
	if (r < 0)
		dp_uapi_set_free(out);
	return r;
}
