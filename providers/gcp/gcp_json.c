/*
 * JSON parsers for the Compute Engine v1 resources the GCP provider reads
 * (RouteList, Instance, Operation, the error envelope), the OAuth 2.0 token
 * response and the service-account key file.  json-c; every parser checks
 * the document is one object of the expected "kind" and that the fields it
 * uses have the documented types, and says what was wrong.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "gcp.h"
#include "providers/http.h"

static struct json_object *
parse(const char *s, size_t len, const char *what)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;

	if (s == NULL || len == 0 || len > HTTP_MAX_RESPONSE) {
		prov_set_error("%s: empty response", what);
		return NULL;
	}
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)len);
	if (o == NULL || json_tokener_get_error(tok) != json_tokener_success ||
	    tok->char_offset != (int)len) {
		/* Trailing whitespace is fine; anything else is not JSON. */
		size_t off = o != NULL ? (size_t)tok->char_offset : len;

		while (o != NULL && off < len && strchr(" \t\r\n", s[off]) != NULL)
			off++;
		if (o == NULL || off != len) {
			prov_set_error("%s: not JSON (%s at offset %d)", what,
			    json_tokener_error_desc(json_tokener_get_error(tok)),
			    tok->char_offset);
			json_object_put(o);
			o = NULL;
		}
	}
	json_tokener_free(tok);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		prov_set_error("%s: not a JSON object", what);
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* The string member key, or NULL if absent; -1 in *bad if it has another type. */
static const char *
str(struct json_object *o, const char *key, int *bad)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return NULL;
	if (!json_object_is_type(v, json_type_string)) {
		*bad = 1;
		return NULL;
	}
	return json_object_get_string(v);
}

/*
 * A uint64 member ("id"): the API's JSON carries 64-bit integers as strings
 * (proto3 JSON), but a plain number means the same and is taken too.
 */
static const char *
uint64_str(struct json_object *o, const char *key, int *bad)
{
	static __thread char num[24];
	struct json_object *v;

	if (json_object_object_get_ex(o, key, &v) && v != NULL &&
	    json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0) {
		snprintf(num, sizeof(num), "%llu", (unsigned long long)json_object_get_uint64(v));
		return num;
	}
	return str(o, key, bad);
}

static int
copy(char *dst, size_t len, const char *src)
{
	if (src == NULL) {
		dst[0] = '\0';
		return 0;
	}
	return cr_strlcpy(dst, src, len) < len ? 0 : -1;
}

static int
check_kind(struct json_object *o, const char *kind, const char *what)
{
	int bad = 0;
	const char *k = str(o, "kind", &bad);

	if (bad || (k != NULL && strcmp(k, kind) != 0)) {
		prov_set_error("%s: kind \"%s\", expected \"%s\"", what, k ? k : "?", kind);
		return -EBADMSG;
	}
	return 0;
}

const char *
gcp_url_tail(const char *url)
{
	const char *p;

	if (url == NULL)
		return "";
	if (strncmp(url, "projects/", 9) == 0)
		return url;
	p = strstr(url, "/projects/");
	return p != NULL ? p + 1 : url;
}

int
gcp_same_resource(const char *a, const char *b)
{
	if (a == NULL || b == NULL || !*a || !*b)
		return 0;
	return strcmp(gcp_url_tail(a), gcp_url_tail(b)) == 0;
}

const char *
gcp_url_last(const char *url)
{
	const char *p = url != NULL ? strrchr(url, '/') : NULL;

	return p != NULL ? p + 1 : (url != NULL ? url : "");
}

const char *
gcp_url_project(const char *url, char *out, size_t len)
{
	const char *t = gcp_url_tail(url);
	size_t n;

	out[0] = '\0';
	if (strncmp(t, "projects/", 9) == 0) {
		n = strcspn(t + 9, "/");
		if (n > 0 && n < len) {
			memcpy(out, t + 9, n);
			out[n] = '\0';
		}
	}
	return out;
}

/* ---- routes ---- */

static const char *const dead_warnings[] = {
	"NEXT_HOP_INSTANCE_NOT_FOUND", "NEXT_HOP_NOT_RUNNING",
	"NEXT_HOP_INSTANCE_NOT_ON_NETWORK", "NEXT_HOP_CANNOT_IP_FORWARD",
};

static int
route_warnings(struct json_object *o, struct gcp_route *r)
{
	struct json_object *w, *e;
	const char *code;
	size_t i, j;
	int bad = 0;

	if (!json_object_object_get_ex(o, "warnings", &w) || w == NULL)
		return 0;
	if (!json_object_is_type(w, json_type_array))
		return -1;
	for (i = 0; i < json_object_array_length(w); i++) {
		e = json_object_array_get_idx(w, i);
		if (!json_object_is_type(e, json_type_object))
			return -1;
		if ((code = str(e, "code", &bad)) == NULL || bad)
			continue;
		for (j = 0; j < ARRAY_SIZE(dead_warnings); j++) {
			if (strcmp(code, dead_warnings[j]) == 0 && !r->dead) {
				r->dead = 1;
				cr_strlcpy(r->warning, code, sizeof(r->warning));
			}
		}
	}
	return 0;
}

static const char *const other_hops[] = {
	"nextHopIp", "nextHopGateway", "nextHopNetwork", "nextHopPeering",
	"nextHopIlb", "nextHopVpnTunnel", "nextHopHub", "nextHopInterconnectAttachment",
};

static int
one_route(struct json_object *o, struct gcp_route *r)
{
	struct json_object *v;
	const char *name, *dst, *s;
	int bad = 0;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (!json_object_is_type(o, json_type_object))
		return -1;
	name = str(o, "name", &bad);
	dst = str(o, "destRange", &bad);
	if (bad || name == NULL || copy(r->name, sizeof(r->name), name) < 0 ||
	    copy(r->network, sizeof(r->network), str(o, "network", &bad)) < 0 ||
	    copy(r->next_hop_instance, sizeof(r->next_hop_instance),
	    str(o, "nextHopInstance", &bad)) < 0 ||
	    copy(r->route_type, sizeof(r->route_type), str(o, "routeType", &bad)) < 0 || bad)
		return -1;
	/* Descriptions may be long: only the start is used. */
	cr_strlcpy(r->description, (s = str(o, "description", &bad)) ? s : "",
	    sizeof(r->description));
	for (i = 0; i < ARRAY_SIZE(other_hops) && !r->next_hop_other[0]; i++)
		if ((s = str(o, other_hops[i], &bad)) != NULL)
			cr_strlcpy(r->next_hop_other, s, sizeof(r->next_hop_other));
	if (bad)
		return -1;
	r->priority = GCP_PRIORITY;
	if (json_object_object_get_ex(o, "priority", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_int))
			return -1;
		r->priority = (long)json_object_get_int64(v);
	}
	/* A destination we cannot parse is some route that is not ours. */
	r->has_dst = dst != NULL && prefix_parse(dst, &r->dst, 0) == 0;
	return route_warnings(o, r);
}

static int
routes_push(struct gcp_route_list *l, const struct gcp_route *r)
{
	struct gcp_route *nv;
	size_t ncap;

	if (l->n == l->cap) {
		ncap = l->cap ? 2 * l->cap : 32;
		if ((nv = realloc(l->v, ncap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = *r;
	return 0;
}

int
gcp_json_routes(const char *s, size_t len, struct gcp_route_list *out)
{
	struct json_object *o, *items;
	struct gcp_route r;
	const char *tok;
	size_t i;
	int bad = 0, rc = -EBADMSG;

	out->next_page_token[0] = '\0';
	if ((o = parse(s, len, "routes.list")) == NULL)
		return -EBADMSG;
	if (check_kind(o, "compute#routeList", "routes.list") < 0)
		goto out;
	tok = str(o, "nextPageToken", &bad);
	if (bad || copy(out->next_page_token, sizeof(out->next_page_token), tok) < 0) {
		prov_set_error("routes.list: bad nextPageToken");
		goto out;
	}
	if (json_object_object_get_ex(o, "items", &items) && items != NULL) {
		if (!json_object_is_type(items, json_type_array)) {
			prov_set_error("routes.list: \"items\" is not an array");
			goto out;
		}
		for (i = 0; i < json_object_array_length(items); i++) {
			if (one_route(json_object_array_get_idx(items, i), &r) < 0) {
				prov_set_error("routes.list: item %zu is not a valid Route", i);
				goto out;
			}
			if ((rc = routes_push(out, &r)) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

int
gcp_json_route(const char *s, size_t len, struct gcp_route *out)
{
	struct json_object *o;
	int rc = -EBADMSG;

	if ((o = parse(s, len, "routes.get")) == NULL)
		return -EBADMSG;
	if (check_kind(o, "compute#route", "routes.get") == 0) {
		if (one_route(o, out) == 0)
			rc = 0;
		else
			prov_set_error("routes.get: not a valid Route");
	}
	json_object_put(o);
	return rc;
}

void
gcp_route_list_free(struct gcp_route_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- instance ---- */

static int
primary_nic(struct json_object *o, struct gcp_instance *in)
{
	struct json_object *a, *nic, *ac;
	int bad = 0;

	if (!json_object_object_get_ex(o, "networkInterfaces", &a) ||
	    !json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0)
		return -1;
	nic = json_object_array_get_idx(a, 0);
	if (!json_object_is_type(nic, json_type_object) ||
	    copy(in->network, sizeof(in->network), str(nic, "network", &bad)) < 0 ||
	    copy(in->subnetwork, sizeof(in->subnetwork), str(nic, "subnetwork", &bad)) < 0 ||
	    copy(in->network_ip, sizeof(in->network_ip), str(nic, "networkIP", &bad)) < 0 ||
	    bad || !in->network[0])
		return -1;
	if (json_object_object_get_ex(nic, "accessConfigs", &a) &&
	    json_object_is_type(a, json_type_array) && json_object_array_length(a) > 0) {
		ac = json_object_array_get_idx(a, 0);
		if (json_object_is_type(ac, json_type_object) &&
		    copy(in->nat_ip, sizeof(in->nat_ip), str(ac, "natIP", &bad)) < 0)
			return -1;
	}
	return bad ? -1 : 0;
}

int
gcp_json_instance(const char *s, size_t len, struct gcp_instance *out)
{
	struct json_object *o, *v;
	int bad = 0, rc = -EBADMSG;

	memset(out, 0, sizeof(*out));
	if ((o = parse(s, len, "instances.get")) == NULL)
		return -EBADMSG;
	if (check_kind(o, "compute#instance", "instances.get") < 0)
		goto out;
	if (copy(out->self_link, sizeof(out->self_link), str(o, "selfLink", &bad)) < 0 ||
	    copy(out->name, sizeof(out->name), str(o, "name", &bad)) < 0 ||
	    copy(out->id, sizeof(out->id), uint64_str(o, "id", &bad)) < 0 ||
	    copy(out->status, sizeof(out->status), str(o, "status", &bad)) < 0 ||
	    copy(out->fingerprint, sizeof(out->fingerprint), str(o, "fingerprint", &bad)) < 0 ||
	    copy(out->zone, sizeof(out->zone), gcp_url_last(str(o, "zone", &bad))) < 0 ||
	    bad || !out->self_link[0] || !out->name[0] || !out->fingerprint[0]) {
		prov_set_error("instances.get: selfLink, name, fingerprint missing or invalid");
		goto out;
	}
	if (json_object_object_get_ex(o, "canIpForward", &v) && v != NULL) {
		if (!json_object_is_type(v, json_type_boolean)) {
			prov_set_error("instances.get: canIpForward is not a boolean");
			goto out;
		}
		out->can_ip_forward = json_object_get_boolean(v);
	}
	if (primary_nic(o, out) < 0) {
		prov_set_error("instances.get: no valid networkInterfaces[0]");
		goto out;
	}
	out->raw = json_object_get(o);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

void
gcp_instance_free(struct gcp_instance *i)
{
	json_object_put(i->raw);
	i->raw = NULL;
}

/* ---- operation and error ---- */

static void
op_error(struct json_object *o, struct gcp_operation *op)
{
	struct json_object *e, *a, *first;
	int bad = 0;

	if (json_object_object_get_ex(o, "httpErrorStatusCode", &e) &&
	    json_object_is_type(e, json_type_int))
		op->http_error_status = (long)json_object_get_int64(e);
	if (!json_object_object_get_ex(o, "error", &e) || e == NULL)
		return;
	op->status = GCP_OP_FAILED;
	cr_strlcpy(op->error_code, "UNKNOWN", sizeof(op->error_code));
	if (json_object_is_type(e, json_type_object) &&
	    json_object_object_get_ex(e, "errors", &a) &&
	    json_object_is_type(a, json_type_array) && json_object_array_length(a) > 0 &&
	    json_object_is_type((first = json_object_array_get_idx(a, 0)), json_type_object)) {
		const char *c = str(first, "code", &bad), *m = str(first, "message", &bad);

		if (c != NULL)
			cr_strlcpy(op->error_code, c, sizeof(op->error_code));
		if (m != NULL)
			cr_strlcpy(op->error_message, m, sizeof(op->error_message));
	}
}

/*
 * Operation names are the service's, not RFC 1035 resource names (the
 * reference says only "name of the operation"): anything that stays one
 * URL path segment as it is ([A-Za-z0-9._~-]) is taken for the wait call.
 */
static int
op_name_valid(const char *s)
{
	return s[0] != '\0' && s[0] != '.' && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-") == strlen(s);
}

int
gcp_json_operation(const char *s, size_t len, struct gcp_operation *out)
{
	struct json_object *o;
	const char *st;
	int bad = 0, rc = -EBADMSG;

	memset(out, 0, sizeof(*out));
	if ((o = parse(s, len, "operation")) == NULL)
		return -EBADMSG;
	if (check_kind(o, "compute#operation", "operation") < 0)
		goto out;
	st = str(o, "status", &bad);
	if (copy(out->name, sizeof(out->name), str(o, "name", &bad)) < 0 ||
	    copy(out->zone, sizeof(out->zone), gcp_url_last(str(o, "zone", &bad))) < 0 ||
	    copy(out->region, sizeof(out->region), gcp_url_last(str(o, "region", &bad))) < 0 ||
	    bad || !out->name[0] || !op_name_valid(out->name) || st == NULL) {
		prov_set_error("operation: name or status missing or invalid");
		goto out;
	}
	gcp_url_project(str(o, "selfLink", &bad), out->project, sizeof(out->project));
	if (strcmp(st, "DONE") == 0)
		out->status = GCP_OP_DONE;
	else if (strcmp(st, "PENDING") == 0 || strcmp(st, "RUNNING") == 0)
		out->status = GCP_OP_PENDING;
	else {
		prov_set_error("operation %s: unknown status \"%s\"", out->name, st);
		goto out;
	}
	/* An error only counts once the operation is done. */
	if (out->status == GCP_OP_DONE)
		op_error(o, out);
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

int
gcp_json_error(const char *s, size_t len, struct gcp_error *out)
{
	struct json_object *o, *e, *v, *a, *first;
	int bad = 0, rc = -EBADMSG;
	const char *m;

	memset(out, 0, sizeof(*out));
	if ((o = parse(s, len, "error")) == NULL)
		return -EBADMSG;
	if (!json_object_object_get_ex(o, "error", &e) ||
	    !json_object_is_type(e, json_type_object))
		goto out;
	if (json_object_object_get_ex(e, "code", &v) && json_object_is_type(v, json_type_int))
		out->code = (long)json_object_get_int64(v);
	if ((m = str(e, "message", &bad)) != NULL)
		cr_strlcpy(out->message, m, sizeof(out->message));
	if ((m = str(e, "status", &bad)) != NULL)
		cr_strlcpy(out->status, m, sizeof(out->status));
	if (json_object_object_get_ex(e, "errors", &a) &&
	    json_object_is_type(a, json_type_array) && json_object_array_length(a) > 0 &&
	    json_object_is_type((first = json_object_array_get_idx(a, 0)), json_type_object) &&
	    (m = str(first, "reason", &bad)) != NULL)
		cr_strlcpy(out->reason, m, sizeof(out->reason));
	rc = 0;
out:
	json_object_put(o);
	return rc;
}

/* ---- OAuth token and key file ---- */

/* Secret-carrying documents: json-c's buffers and strings are wiped. */
static struct json_object *
parse_secret(const char *s, size_t len, const char *what)
{
	struct json_object *o = prov_json_parse_secret(s, len);

	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		prov_json_put_secret(o);
		o = NULL;
	}
	if (o == NULL)
		prov_set_error("%s: not a JSON object", what);
	return o;
}

int
gcp_json_token(const char *s, size_t len, struct buf *token, long *expires_in)
{
	struct json_object *o, *v;
	const char *t, *type;
	int bad = 0, rc = -EBADMSG;

	if ((o = parse_secret(s, len, "token response")) == NULL)
		return -EBADMSG;
	t = str(o, "access_token", &bad);
	type = str(o, "token_type", &bad);
	if (bad || t == NULL || !*t || strlen(t) > 8192 || strpbrk(t, "\r\n ") != NULL ||
	    (type != NULL && strcasecmp(type, "Bearer") != 0) ||
	    !json_object_object_get_ex(o, "expires_in", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0 ||
	    json_object_get_int64(v) > 86400) {
		prov_set_error("token response: access_token, token_type Bearer and "
		    "expires_in (1..86400 s) expected");
		goto out;
	}
	*expires_in = (long)json_object_get_int64(v);
	buf_reset(token);
	rc = buf_puts(token, t);
out:
	prov_json_put_secret(o);
	return rc;
}

int
gcp_json_sa_key(const char *s, size_t len, struct gcp_sa_key *k)
{
	struct json_object *o;
	const char *type, *pk;
	int bad = 0, rc = -EBADMSG;

	memset(k, 0, sizeof(*k));
	if ((o = parse_secret(s, len, "service-account key file")) == NULL)
		return -EBADMSG;
	type = str(o, "type", &bad);
	pk = str(o, "private_key", &bad);
	if (bad || type == NULL || strcmp(type, "service_account") != 0 || pk == NULL ||
	    copy(k->client_email, sizeof(k->client_email), str(o, "client_email", &bad)) < 0 ||
	    copy(k->private_key_id, sizeof(k->private_key_id),
	    str(o, "private_key_id", &bad)) < 0 ||
	    copy(k->token_uri, sizeof(k->token_uri), str(o, "token_uri", &bad)) < 0 ||
	    bad || !k->client_email[0]) {
		prov_set_error("service-account key file: \"type\": \"service_account\", "
		    "client_email, private_key expected");
		goto out;
	}
	if (!k->token_uri[0])
		cr_strlcpy(k->token_uri, "https://oauth2.googleapis.com/token",
		    sizeof(k->token_uri));
	k->private_key_len = strlen(pk);
	if ((k->private_key = malloc(k->private_key_len + 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(k->private_key, pk, k->private_key_len + 1);
	rc = 0;
out:
	prov_json_put_secret(o);
	return rc;
}

void
gcp_sa_key_wipe(struct gcp_sa_key *k)
{
	if (k->private_key != NULL) {
		OPENSSL_cleanse(k->private_key, k->private_key_len);
		free(k->private_key);
	}
	memset(k, 0, sizeof(*k));
}
