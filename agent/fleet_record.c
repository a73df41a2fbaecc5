/*
 * Fleet records and keys (DESIGN.md "Fleet"):
 *   <prefix>sites/<site>/<name>  {"public_key": "<base64>", "endpoint":
 *                                 "host:port", "address": "100.96.0.100/32",
 *                                 "subnets": ["10.0.0.0/18"]}
 *   <prefix>leaders/<site>       the bare name of the site's leader
 * Decoding checks every field; anything else in the object is ignored
 * (newer versions may add fields).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/fleet.h"
#include "common/jsonutil.h"
#include "dataplane/noise.h"

int
fleet_name_valid(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len >= FLEET_NAME_MAX || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.'))
			return 0;
	}
	return 1;
}

static int
take_name(const char *s, size_t len, char out[FLEET_NAME_MAX])
{
	if (!fleet_name_valid(s, len))
		return -EINVAL;
	memcpy(out, s, len);
	out[len] = '\0';
	return 0;
}

int
fleet_key_parse(const char *prefix, const char *key, size_t len, int *kind,
    char site[FLEET_NAME_MAX], char name[FLEET_NAME_MAX])
{
	size_t pl = strlen(prefix);
	const char *p, *slash;
	size_t n;

	site[0] = name[0] = '\0';
	if (len < pl || memcmp(key, prefix, pl) != 0)
		return -EINVAL;
	p = key + pl;
	n = len - pl;
	if (n > 6 && memcmp(p, "sites/", 6) == 0) {
		p += 6;
		n -= 6;
		if ((slash = memchr(p, '/', n)) == NULL)
			return -EINVAL;
		*kind = 'S';
		if (take_name(p, (size_t)(slash - p), site) < 0)
			return -EINVAL;
		return take_name(slash + 1, n - (size_t)(slash - p) - 1, name);
	}
	if (n > 8 && memcmp(p, "leaders/", 8) == 0) {
		*kind = 'L';
		return take_name(p + 8, n - 8, site);
	}
	return -EINVAL;
}

int
fleet_key_site(const char *prefix, const char *site, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%ssites/%s/%s", prefix, site, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
fleet_key_leader(const char *prefix, const char *site, char *out, size_t len)
{
	int n = snprintf(out, len, "%sleaders/%s", prefix, site);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int
fleet_record_encode(const struct fleet_record *r, struct buf *out)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	char b[PREFIX_STRLEN], pk[45];
	size_t i;
	int rc = -ENOMEM;

	if (o == NULL || a == NULL) {
		json_object_put(a);
		goto out;
	}
	dp_key_to_base64(pk, r->public_key);
	json_object_object_add(o, "public_key", json_object_new_string(pk));
	json_object_object_add(o, "endpoint", json_object_new_string(r->endpoint ? r->endpoint : ""));
	json_object_object_add(o, "address",
	    json_object_new_string(prefix_fmt(&r->address, b, sizeof(b))));
	for (i = 0; i < r->subnets.n; i++)
		json_object_array_add(a, json_object_new_string(
		    prefix_fmt(&r->subnets.v[i], b, sizeof(b))));
	json_object_object_add(o, "subnets", a);
	rc = buf_puts(out, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(o);
	return rc;
}

static int
subnets_decode(struct json_object *o, struct fleet_record *r, char *why, size_t whylen)
{
	struct json_object *a, *e;
	struct prefix p;
	size_t i, n;

	if (!json_object_object_get_ex(o, "subnets", &a) || !json_object_is_type(a, json_type_array)) {
		snprintf(why, whylen, "\"subnets\" is not a list of prefixes");
		return -EINVAL;
	}
	n = json_object_array_length(a);
	if (n > 256) {
		snprintf(why, whylen, "more than 256 subnets");
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(a, i);
		if (!json_object_is_type(e, json_type_string) ||
		    prefix_parse(json_object_get_string(e), &p, 0) < 0 || !prefix_is_network(&p)) {
			snprintf(why, whylen, "subnets[%zu] is not a network prefix", i);
			return -EINVAL;
		}
		if (prefix_set_add(&r->subnets, &p) < 0)
			return -ENOMEM;
	}
	return 0;
}

int
fleet_record_decode(const char *value, size_t len, struct fleet_record *r,
    char *why, size_t whylen)
{
	struct json_tokener *tok = json_tokener_new_ex(16);
	struct json_object *o = NULL;
	const char *s;
	char host[256];
	uint16_t port;
	int rc = -EINVAL;

	prefix_set_free(&r->subnets);
	free(r->endpoint);
	r->endpoint = NULL;
	why[0] = '\0';
	if (tok == NULL)
		return -ENOMEM;
	if (len > 65536 || (o = json_tokener_parse_ex(tok, value, (int)len)) == NULL ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "not a JSON object");
		goto out;
	}
	if ((s = cr_json_str(o, "public_key")) == NULL || strlen(s) != 44 ||
	    dp_key_from_base64(r->public_key, s) < 0) {
		snprintf(why, whylen, "\"public_key\" is not a 32-byte base64 key");
		goto out;
	}
	if ((s = cr_json_str(o, "endpoint")) == NULL || strlen(s) >= FLEET_ENDPOINT_MAX ||
	    endpoint_split(s, host, sizeof(host), &port) < 0 || port == 0) {
		snprintf(why, whylen, "\"endpoint\" is not host:port");
		goto out;
	}
	if ((r->endpoint = strdup(s)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((s = cr_json_str(o, "address")) == NULL || prefix_parse(s, &r->address, 0) < 0 ||
	    r->address.len != (r->address.family == AF_INET ? 32 : 128)) {
		snprintf(why, whylen, "\"address\" is not a host prefix (/32 or /128)");
		goto out;
	}
	rc = subnets_decode(o, r, why, whylen);
out:
	if (rc < 0)
		prefix_set_free(&r->subnets);
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

void
fleet_record_free(struct fleet_record *r)
{
	prefix_set_free(&r->subnets);
	free(r->endpoint);
	r->endpoint = NULL;
}
