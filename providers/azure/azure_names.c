/*
 * Azure names: our route names (the only mark Azure lets us put on a UDR,
 * since routes take no tags), MAC address forms (ARM "00-0D-3A-11-22-33"
 * vs IMDS "000D3A112233") and resource-id helpers.
 *
 * Route name rules (Microsoft.Network naming rules for routeTables/routes):
 * 1-80 characters, letters, digits, underscores, periods and hyphens;
 * starts with a letter or digit, ends with a letter, digit or underscore.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "azure.h"

#define GROUP_MAX 24

int
az_mac_norm(const char *in, char out[13])
{
	size_t n = 0;
	const char *p;

	for (p = in; *p; p++) {
		if (isxdigit((unsigned char)*p)) {
			if (n == 12)
				return -EINVAL;
			out[n++] = (char)toupper((unsigned char)*p);
		} else if (*p != '-' && *p != ':') {
			return -EINVAL;
		}
	}
	out[n] = '\0';
	return n == 12 ? 0 : -EINVAL;
}

static int
name_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == '-';
}

int
az_name_valid(const char *name)
{
	size_t n = strlen(name), i;
	unsigned char last;

	if (n == 0 || n > AZ_ROUTE_NAME_MAX || !isalnum((unsigned char)name[0]))
		return 0;
	for (i = 0; i < n; i++)
		if (!name_char((unsigned char)name[i]))
			return 0;
	last = (unsigned char)name[n - 1];
	return isalnum(last) || last == '_';
}

/* The group as it appears in names: itself, or "g" + 16 hex of SHA-256. */
static int
group_enc(const char *group, char *out, size_t len)
{
	char hex[65];
	size_t i, n = strlen(group);
	int plain = n > 0 && n <= GROUP_MAX;

	for (i = 0; plain && i < n; i++)
		if (!name_char((unsigned char)group[i]))
			plain = 0;
	if (plain)
		return cr_strlcpy(out, group, len) < len ? 0 : -ENAMETOOLONG;
	if (cr_sha256_hex(group, n, hex) < 0)
		return -EIO;
	return snprintf(out, len, "g%.16s", hex) < (int)len ? 0 : -ENAMETOOLONG;
}

int
az_route_name(const char *group, const struct prefix *dst, char *out, size_t len)
{
	char g[GROUP_MAX + 1], a[PREFIX_STRLEN], *p;
	struct prefix back;
	int n, r;

	if ((r = group_enc(group != NULL ? group : "", g, sizeof(g))) < 0)
		return r;
	prefix_addr_fmt(dst, a, sizeof(a));
	for (p = a; *p; p++)
		if (*p == ':')
			*p = '.';
	n = snprintf(out, len, AZ_ROUTE_PREFIX "%s-%s_%u", g, a, dst->len);
	if (n < 0 || (size_t)n >= len || n > AZ_ROUTE_NAME_MAX)
		return -ENAMETOOLONG;
	/* Only names that read back as the same prefix (mixed IPv4-in-IPv6
	 * notation would not). */
	if (!az_name_valid(out) || az_route_name_parse(out, g, sizeof(g), &back) < 0 ||
	    !prefix_equal(&back, dst))
		return -EINVAL;
	return 0;
}

int
az_route_is_marked(const char *name)
{
	return strncasecmp(name, AZ_ROUTE_PREFIX, strlen(AZ_ROUTE_PREFIX)) == 0;
}

int
az_route_name_parse(const char *name, char *group, size_t glen, struct prefix *dst)
{
	const char *body, *dash, *us;
	char a[PREFIX_STRLEN + 8], *p;
	size_t gl;

	if (!az_route_is_marked(name) || !az_name_valid(name))
		return -EINVAL;
	body = name + strlen(AZ_ROUTE_PREFIX);
	/* The prefix part has no '-': the group ends at the last one. */
	if ((dash = strrchr(body, '-')) == NULL || (us = strrchr(dash, '_')) == NULL)
		return -EINVAL;
	gl = (size_t)(dash - body);
	if (gl >= glen || (size_t)(us - dash - 1) + 1 >= sizeof(a) - 5)
		return -EINVAL;
	memcpy(group, body, gl);
	group[gl] = '\0';
	snprintf(a, sizeof(a), "%.*s/%s", (int)(us - dash - 1), dash + 1, us + 1);
	if (strchr(a, '.') != NULL && strchr(a, '/') != NULL) {
		/* IPv6 was written with '.' for ':'; IPv4 has exactly three dots
		 * and no empty part, IPv6 never does (8 groups, or "::"). */
		int dots = 0, empty = strstr(a, "..") != NULL || a[0] == '.';

		for (p = a; *p != '/'; p++)
			dots += *p == '.';
		if (dots != 3 || empty)
			for (p = a; *p != '/'; p++)
				if (*p == '.')
					*p = ':';
	}
	if (prefix_parse(a, dst, 0) < 0)
		return -EINVAL;
	return 0;
}

int
az_route_is_ours(const struct az_route *r, const char *our_ip)
{
	return az_route_is_marked(r->name) &&
	    strcasecmp(r->next_hop_type, "VirtualAppliance") == 0 &&
	    strcmp(r->next_hop_ip, our_ip) == 0;
}

const char *
az_id_name(const char *id)
{
	const char *s = strrchr(id, '/');

	return s != NULL ? s + 1 : id;
}

int
az_id_part(const char *id, const char *key, char *out, size_t len)
{
	size_t kl = strlen(key), n;
	const char *p = id, *e;

	while ((p = strchr(p, '/')) != NULL) {
		p++;
		if (strncasecmp(p, key, kl) == 0 && p[kl] == '/') {
			p += kl + 1;
			e = strchr(p, '/');
			n = e != NULL ? (size_t)(e - p) : strlen(p);
			if (n == 0 || n >= len)
				return -ENOENT;
			memcpy(out, p, n);
			out[n] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

int
az_id_equal(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

const char *
az_table_label(const char *id, const char *sub, const char *rg, char *out, size_t len)
{
	char s[128], g[128];

	if (az_id_part(id, "subscriptions", s, sizeof(s)) < 0 ||
	    az_id_part(id, "resourceGroups", g, sizeof(g)) < 0 ||
	    strcasecmp(s, sub) != 0)
		cr_strlcpy(out, id, len);
	else if (strcasecmp(g, rg) == 0)
		cr_strlcpy(out, az_id_name(id), len);
	else
		snprintf(out, len, "%s/%s", g, az_id_name(id));
	return out;
}

int
az_table_ref(const char *label, const char *sub, const char *rg, char *out, size_t len)
{
	const char *slash = strchr(label, '/');
	int n;

	if (label[0] == '/')
		n = snprintf(out, len, "%s", label);
	else if (slash != NULL)
		n = snprintf(out, len, "/subscriptions/%s/resourceGroups/%.*s/providers/"
		    "Microsoft.Network/routeTables/%s", sub, (int)(slash - label), label,
		    slash + 1);
	else
		n = snprintf(out, len, "/subscriptions/%s/resourceGroups/%s/providers/"
		    "Microsoft.Network/routeTables/%s", sub, rg, label);
	if (n < 0 || (size_t)n >= len ||
	    (label[0] != '/' && slash != NULL && strchr(slash + 1, '/') != NULL))
		return -EINVAL;
	return 0;
}
