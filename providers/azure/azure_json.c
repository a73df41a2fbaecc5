/*
 * json-c parsers for the ARM and IMDS documents the Azure provider reads
 * (see azure.h).  Shapes follow the REST references: Microsoft.Network
 * networkInterfaces / routeTables / virtualNetworks / subnets,
 * Microsoft.Compute virtualMachines (+ instanceView), the IMDS instance
 * document and the managed-identity token.  A document that is not JSON,
 * is cut short or lacks a required member is rejected whole.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "azure.h"
#include "providers/http.h"

static struct json_object *
parse(const char *s, size_t len, const char *what)
{
	struct json_tokener *tok;
	struct json_object *o = NULL;
	enum json_tokener_error e;
	size_t used;

	if (s == NULL || len == 0) {
		prov_set_error("%s: empty response", what);
		return NULL;
	}
	if ((tok = json_tokener_new()) == NULL)
		return NULL;
	o = json_tokener_parse_ex(tok, s, (int)len);
	e = json_tokener_get_error(tok);
	used = json_tokener_get_parse_end(tok);
	if (o != NULL && e == json_tokener_success) {
		while (used < len && strchr(" \t\r\n", s[used]) != NULL && s[used])
			used++;
		if (used != len)
			e = json_tokener_error_parse_unexpected;
	}
	if (o == NULL || e != json_tokener_success) {
		prov_set_error("%s: not a complete JSON document (%s at byte %zu)%s", what,
		    e == json_tokener_continue ? "truncated" : json_tokener_error_desc(e),
		    used, s[0] == '<' ? ": the body looks like HTML" : "");
		json_object_put(o);
		o = NULL;
	} else if (!json_object_is_type(o, json_type_object)) {
		prov_set_error("%s: expected a JSON object", what);
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* o.k1.k2... (NULL-terminated keys), or NULL. */
static struct json_object *
jpath(struct json_object *o, ...)
{
	const char *k;
	va_list ap;

	va_start(ap, o);
	while (o != NULL && (k = va_arg(ap, const char *)) != NULL) {
		if (!json_object_is_type(o, json_type_object) ||
		    !json_object_object_get_ex(o, k, &o))
			o = NULL;
	}
	va_end(ap);
	return o;
}

/* Copies a string member; 0 when absent/null (out = ""), -EBADMSG when of
 * another type or too long. */
static int
jstr(struct json_object *v, char *out, size_t len, const char *what)
{
	out[0] = '\0';
	if (v == NULL || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string) ||
	    cr_strlcpy(out, json_object_get_string(v), len) >= len) {
		out[0] = '\0';
		prov_set_error("%s: not a string of at most %zu bytes", what, len - 1);
		return -EBADMSG;
	}
	return 0;
}

static int
jreq(struct json_object *v, char *out, size_t len, const char *what)
{
	int r;

	if ((r = jstr(v, out, len, what)) < 0)
		return r;
	if (out[0] == '\0') {
		prov_set_error("%s: missing", what);
		return -EBADMSG;
	}
	return 0;
}

static struct json_object *
jarray(struct json_object *v)
{
	return v != NULL && json_object_is_type(v, json_type_array) ? v : NULL;
}

/* ---- IMDS ---- */

static int
instance_ifs(struct json_object *ifs, struct az_instance *out)
{
	struct json_object *e, *ip;
	char mac[64];
	size_t i;
	int r;

	for (i = 0; i < json_object_array_length(ifs) && out->n_ifs < AZ_MAX_IFS; i++) {
		e = json_object_array_get_idx(ifs, i);
		if ((r = jreq(jpath(e, "macAddress", NULL), mac, sizeof(mac),
		    "IMDS network.interface[].macAddress")) < 0)
			return r;
		if (az_mac_norm(mac, out->ifs[out->n_ifs].mac) < 0) {
			prov_set_error("IMDS: bad MAC address \"%s\"", mac);
			return -EBADMSG;
		}
		ip = jarray(jpath(e, "ipv4", "ipAddress", NULL));
		if (ip != NULL && json_object_array_length(ip) > 0) {
			ip = json_object_array_get_idx(ip, 0);
			if ((r = jstr(jpath(ip, "privateIpAddress", NULL),
			    out->ifs[out->n_ifs].ip, sizeof(out->ifs[0].ip),
			    "IMDS privateIpAddress")) < 0 ||
			    (r = jstr(jpath(ip, "publicIpAddress", NULL),
			    out->ifs[out->n_ifs].public_ip, sizeof(out->ifs[0].public_ip),
			    "IMDS publicIpAddress")) < 0)
				return r;
		}
		out->n_ifs++;
	}
	return 0;
}

int
az_json_instance(const char *s, size_t len, struct az_instance *out)
{
	struct json_object *o, *c, *ifs;
	int r = -EBADMSG;

	memset(out, 0, sizeof(*out));
	if ((o = parse(s, len, "IMDS instance metadata")) == NULL)
		return -EBADMSG;
	c = jpath(o, "compute", NULL);
	ifs = jarray(jpath(o, "network", "interface", NULL));
	if (c == NULL || ifs == NULL) {
		prov_set_error("IMDS instance metadata: no compute or network.interface");
		goto out;
	}
	if ((r = jreq(jpath(c, "subscriptionId", NULL), out->subscription,
	    sizeof(out->subscription), "IMDS compute.subscriptionId")) < 0 ||
	    (r = jreq(jpath(c, "resourceGroupName", NULL), out->resource_group,
	    sizeof(out->resource_group), "IMDS compute.resourceGroupName")) < 0 ||
	    (r = jreq(jpath(c, "name", NULL), out->name, sizeof(out->name),
	    "IMDS compute.name")) < 0 ||
	    (r = jstr(jpath(c, "location", NULL), out->location, sizeof(out->location),
	    "IMDS compute.location")) < 0 ||
	    (r = jstr(jpath(c, "zone", NULL), out->zone, sizeof(out->zone),
	    "IMDS compute.zone")) < 0 ||
	    (r = jstr(jpath(c, "resourceId", NULL), out->resource_id,
	    sizeof(out->resource_id), "IMDS compute.resourceId")) < 0 ||
	    (r = instance_ifs(ifs, out)) < 0)
		goto out;
	if (out->n_ifs == 0 || out->ifs[0].ip[0] == '\0') {
		prov_set_error("IMDS instance metadata: no network interface with an IPv4 address");
		r = -EBADMSG;
	}
out:
	json_object_put(o);
	return r;
}

int
az_json_token(const char *s, size_t len, char *token, size_t tlen, uint64_t *expires_on)
{
	struct json_object *o, *v;
	unsigned long exp;
	char num[32];
	int r = -EBADMSG;

	token[0] = '\0';
	/* json-c's copies of the token (tokener buffer, string objects) are
	 * wiped by the secret variants. */
	if ((o = prov_json_parse_secret(s, len)) == NULL ||
	    !json_object_is_type(o, json_type_object)) {
		prov_set_error("managed identity token: not a complete JSON object%s",
		    len > 0 && s[0] == '<' ? " (the body looks like HTML)" : "");
		goto out;
	}
	v = jpath(o, "access_token", NULL);
	if (v == NULL || !json_object_is_type(v, json_type_string) ||
	    json_object_get_string_len(v) == 0) {
		prov_set_error("managed identity token: no access_token");
		goto out;
	}
	if ((size_t)json_object_get_string_len(v) >= tlen) {
		prov_set_error("managed identity token: longer than %zu bytes", tlen - 1);
		r = -E2BIG;
		goto out;
	}
	/* expires_on is a string of epoch seconds (numbers are accepted too). */
	v = jpath(o, "expires_on", NULL);
	if (v != NULL && json_object_is_type(v, json_type_int))
		snprintf(num, sizeof(num), "%lld", (long long)json_object_get_int64(v));
	else if (jstr(v, num, sizeof(num), "expires_on") < 0)
		goto out;
	if (cr_parse_ulong(num, 1, 1UL << 40, &exp) < 0) {
		prov_set_error("managed identity token: bad expires_on \"%s\"", num);
		goto out;
	}
	cr_strlcpy(token, json_object_get_string(jpath(o, "access_token", NULL)), tlen);
	*expires_on = exp;
	r = 0;
out:
	prov_json_put_secret(o);
	return r;
}

/* ---- Compute ---- */

int
az_json_vm_nics(const char *s, size_t len, char ids[][AZ_ID_LEN], size_t max, size_t *n)
{
	struct json_object *o, *a, *e, *p;
	size_t i;
	int r = 0;

	*n = 0;
	if ((o = parse(s, len, "virtual machine")) == NULL)
		return -EBADMSG;
	if ((a = jarray(jpath(o, "properties", "networkProfile", "networkInterfaces",
	    NULL))) == NULL) {
		prov_set_error("virtual machine: no properties.networkProfile.networkInterfaces");
		r = -EBADMSG;
		goto out;
	}
	for (i = 0; i < json_object_array_length(a) && *n < max; i++) {
		e = json_object_array_get_idx(a, i);
		if ((r = jreq(jpath(e, "id", NULL), ids[*n], AZ_ID_LEN,
		    "networkProfile.networkInterfaces[].id")) < 0)
			goto out;
		p = jpath(e, "properties", "primary", NULL);
		if (*n > 0 && p != NULL && json_object_get_boolean(p)) {
			char t[AZ_ID_LEN];       /* the primary NIC goes first */

			memcpy(t, ids[0], AZ_ID_LEN);
			memcpy(ids[0], ids[*n], AZ_ID_LEN);
			memcpy(ids[*n], t, AZ_ID_LEN);
		}
		(*n)++;
	}
out:
	json_object_put(o);
	return r;
}

int
az_json_vm_running(const char *s, size_t len, int *running)
{
	struct json_object *o, *a, *c;
	size_t i;

	*running = 0;
	if ((o = parse(s, len, "virtual machine instance view")) == NULL)
		return -EBADMSG;
	a = jarray(jpath(o, "statuses", NULL));
	if (a == NULL)
		a = jarray(jpath(o, "properties", "instanceView", "statuses", NULL));
	for (i = 0; a != NULL && i < json_object_array_length(a); i++) {
		c = jpath(json_object_array_get_idx(a, i), "code", NULL);
		if (c != NULL && json_object_is_type(c, json_type_string) &&
		    strcasecmp(json_object_get_string(c), "PowerState/running") == 0)
			*running = 1;
	}
	json_object_put(o);
	return 0;
}

/* ---- Network ---- */

static int
nic_fill(struct json_object *o, struct az_nic *out)
{
	struct json_object *p = jpath(o, "properties", NULL), *cfgs, *c, *f;
	char mac[64];
	size_t i;
	int r;

	memset(out, 0, sizeof(*out));
	out->ip_forwarding = -1;
	if ((r = jreq(jpath(o, "id", NULL), out->id, sizeof(out->id),
	    "network interface id")) < 0 ||
	    (r = jstr(jpath(o, "name", NULL), out->name, sizeof(out->name),
	    "network interface name")) < 0 ||
	    (r = jstr(jpath(o, "etag", NULL), out->etag, sizeof(out->etag),
	    "network interface etag")) < 0 ||
	    (r = jstr(jpath(p, "macAddress", NULL), mac, sizeof(mac),
	    "network interface macAddress")) < 0 ||
	    (r = jstr(jpath(p, "virtualMachine", "id", NULL), out->vm, sizeof(out->vm),
	    "network interface virtualMachine.id")) < 0)
		return r;
	if (mac[0] && az_mac_norm(mac, out->mac) < 0) {
		prov_set_error("network interface %s: bad macAddress \"%s\"", out->id, mac);
		return -EBADMSG;
	}
	f = jpath(p, "enableIPForwarding", NULL);
	if (f != NULL && json_object_is_type(f, json_type_boolean))
		out->ip_forwarding = json_object_get_boolean(f);
	else if (f == NULL)
		out->ip_forwarding = 0;      /* omitted = false */
	if ((cfgs = jarray(jpath(p, "ipConfigurations", NULL))) == NULL) {
		prov_set_error("network interface %s: no properties.ipConfigurations", out->id);
		return -EBADMSG;
	}
	for (i = 0; i < json_object_array_length(cfgs); i++) {
		char ip[64], subnet[AZ_ID_LEN];
		int primary;

		c = jpath(json_object_array_get_idx(cfgs, i), "properties", NULL);
		if ((r = jstr(jpath(c, "privateIPAddress", NULL), ip, sizeof(ip),
		    "ipConfigurations[].privateIPAddress")) < 0 ||
		    (r = jstr(jpath(c, "subnet", "id", NULL), subnet, sizeof(subnet),
		    "ipConfigurations[].subnet.id")) < 0)
			return r;
		f = jpath(c, "primary", NULL);
		primary = f != NULL && json_object_get_boolean(f);
		if (ip[0] == '\0' || out->n_ips == AZ_MAX_IPS)
			continue;
		if (primary && out->n_ips > 0) {
			memcpy(out->ips[out->n_ips], out->ips[0], sizeof(out->ips[0]));
			cr_strlcpy(out->ips[0], ip, sizeof(out->ips[0]));
		} else {
			cr_strlcpy(out->ips[out->n_ips], ip, sizeof(out->ips[0]));
		}
		if (primary || out->subnet[0] == '\0')
			cr_strlcpy(out->subnet, subnet, sizeof(out->subnet));
		out->n_ips++;
	}
	return 0;
}

int
az_json_nic(const char *s, size_t len, struct az_nic *out)
{
	struct json_object *o;
	int r;

	if ((o = parse(s, len, "network interface")) == NULL)
		return -EBADMSG;
	r = nic_fill(o, out);
	json_object_put(o);
	return r;
}

int
az_json_nic_list(const char *s, size_t len, struct az_nic_list *out)
{
	struct json_object *o, *a;
	size_t i;
	int r = 0;

	out->next_link[0] = '\0';
	if ((o = parse(s, len, "network interface list")) == NULL)
		return -EBADMSG;
	if ((a = jarray(jpath(o, "value", NULL))) == NULL) {
		prov_set_error("network interface list: no value[]");
		r = -EBADMSG;
		goto out;
	}
	for (i = 0; i < json_object_array_length(a); i++) {
		if (out->n == out->cap) {
			size_t nc = out->cap ? 2 * out->cap : 16;
			struct az_nic *nv = realloc(out->v, nc * sizeof(*nv));

			if (nv == NULL) {
				r = -ENOMEM;
				goto out;
			}
			out->v = nv;
			out->cap = nc;
		}
		if ((r = nic_fill(json_object_array_get_idx(a, i), &out->v[out->n])) < 0)
			goto out;
		out->n++;
	}
	r = jstr(jpath(o, "nextLink", NULL), out->next_link, sizeof(out->next_link),
	    "nextLink");
out:
	json_object_put(o);
	return r;
}

static int
route_fill(struct json_object *e, struct az_route *rt, const char *table)
{
	struct json_object *p = jpath(e, "properties", NULL);
	char dst[PREFIX_STRLEN];
	int r;

	memset(rt, 0, sizeof(*rt));
	if ((r = jreq(jpath(e, "name", NULL), rt->name, sizeof(rt->name),
	    "route name")) < 0 ||
	    (r = jstr(jpath(e, "etag", NULL), rt->etag, sizeof(rt->etag), "route etag")) < 0 ||
	    (r = jstr(jpath(p, "addressPrefix", NULL), dst, sizeof(dst),
	    "route addressPrefix")) < 0 ||
	    (r = jreq(jpath(p, "nextHopType", NULL), rt->next_hop_type,
	    sizeof(rt->next_hop_type), "route nextHopType")) < 0 ||
	    (r = jstr(jpath(p, "nextHopIpAddress", NULL), rt->next_hop_ip,
	    sizeof(rt->next_hop_ip), "route nextHopIpAddress")) < 0) {
		prov_set_error("route table %s: %s", table, prov_last_error());
		return r;
	}
	/* Service tags ("AzureCloud") are destinations too, but never ours. */
	rt->has_dst = dst[0] && prefix_parse(dst, &rt->dst, 0) == 0;
	return 0;
}

int
az_json_route_table(const char *s, size_t len, struct az_route_table *out)
{
	struct json_object *o, *a;
	size_t i, n;
	int r;

	memset(out, 0, sizeof(*out));
	if ((o = parse(s, len, "route table")) == NULL)
		return -EBADMSG;
	if ((r = jreq(jpath(o, "id", NULL), out->id, sizeof(out->id), "route table id")) < 0 ||
	    (r = jstr(jpath(o, "name", NULL), out->name, sizeof(out->name),
	    "route table name")) < 0 ||
	    (r = jstr(jpath(o, "etag", NULL), out->etag, sizeof(out->etag),
	    "route table etag")) < 0)
		goto out;
	if (out->name[0] == '\0')
		cr_strlcpy(out->name, az_id_name(out->id), sizeof(out->name));
	a = jpath(o, "properties", "routes", NULL);
	if (a != NULL && jarray(a) == NULL) {
		prov_set_error("route table %s: properties.routes is not a list", out->id);
		r = -EBADMSG;
		goto out;
	}
	n = a != NULL ? json_object_array_length(a) : 0;
	if (n > 0 && (out->routes = calloc(n, sizeof(*out->routes))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	out->cap = n;
	for (i = 0; i < n; i++) {
		if ((r = route_fill(json_object_array_get_idx(a, i), &out->routes[i],
		    out->id)) < 0)
			goto out;
		out->n++;
	}
out:
	if (r < 0)
		az_route_table_free(out);
	json_object_put(o);
	return r;
}

int
az_json_subnet_table(const char *s, size_t len, char *table, size_t tlen)
{
	struct json_object *o;
	int r;

	if ((o = parse(s, len, "subnet")) == NULL)
		return -EBADMSG;
	if (jpath(o, "properties", NULL) == NULL) {
		prov_set_error("subnet: no properties");
		r = -EBADMSG;
	} else {
		r = jstr(jpath(o, "properties", "routeTable", "id", NULL), table, tlen,
		    "subnet routeTable.id");
	}
	json_object_put(o);
	return r;
}

int
az_json_vnet_tables(const char *s, size_t len, char ids[][AZ_ID_LEN], size_t max,
    size_t *n)
{
	struct json_object *o, *a;
	char id[AZ_ID_LEN];
	size_t i, j;
	int r = 0;

	*n = 0;
	if ((o = parse(s, len, "virtual network")) == NULL)
		return -EBADMSG;
	if ((a = jarray(jpath(o, "properties", "subnets", NULL))) == NULL) {
		prov_set_error("virtual network: no properties.subnets");
		r = -EBADMSG;
		goto out;
	}
	for (i = 0; i < json_object_array_length(a); i++) {
		if ((r = jstr(jpath(json_object_array_get_idx(a, i), "properties",
		    "routeTable", "id", NULL), id, sizeof(id), "subnet routeTable.id")) < 0)
			goto out;
		for (j = 0; j < *n && !az_id_equal(ids[j], id); j++)
			;
		if (id[0] == '\0' || j < *n)
			continue;
		if (*n == max) {
			prov_set_error("virtual network: more than %zu route tables", max);
			r = -E2BIG;
			goto out;
		}
		cr_strlcpy(ids[(*n)++], id, AZ_ID_LEN);
	}
out:
	json_object_put(o);
	return r;
}

int
az_json_vnet_space(const char *s, size_t len, struct prefix_set *out)
{
	struct json_object *o, *a, *v;
	struct prefix p;
	size_t i;
	int r = 0;

	if ((o = parse(s, len, "virtual network")) == NULL)
		return -EBADMSG;
	if ((a = jarray(jpath(o, "properties", "addressSpace", "addressPrefixes",
	    NULL))) == NULL) {
		prov_set_error("virtual network: no properties.addressSpace.addressPrefixes");
		r = -EBADMSG;
		goto out;
	}
	for (i = 0; i < json_object_array_length(a) && r == 0; i++) {
		v = json_object_array_get_idx(a, i);
		if (!json_object_is_type(v, json_type_string) ||
		    prefix_parse(json_object_get_string(v), &p, 0) < 0) {
			prov_set_error("virtual network: bad address prefix");
			r = -EBADMSG;
		} else {
			r = prefix_set_add(out, &p);
		}
	}
out:
	json_object_put(o);
	return r;
}

void
az_json_error(const char *s, size_t len, long status, struct az_error *out)
{
	struct json_object *o = NULL, *e;
	struct json_tokener *tok;

	memset(out, 0, sizeof(*out));
	out->status = status;
	if (s != NULL && len > 0 && (tok = json_tokener_new()) != NULL) {
		o = json_tokener_parse_ex(tok, s, (int)len);
		if (json_tokener_get_error(tok) != json_tokener_success ||
		    !json_object_is_type(o, json_type_object)) {
			json_object_put(o);
			o = NULL;
		}
		json_tokener_free(tok);
	}
	if (o == NULL) {
		snprintf(out->message, sizeof(out->message), "HTTP %ld%s", status,
		    s == NULL || len == 0 ? " with an empty body" :
		    s[0] == '<' ? " with an HTML page (not ARM JSON)" :
		    " with a body that is not JSON");
		return;
	}
	e = jpath(o, "error", NULL);
	if (e != NULL && json_object_is_type(e, json_type_object)) {
		jstr(jpath(e, "code", NULL), out->code, sizeof(out->code), "error.code");
		jstr(jpath(e, "message", NULL), out->message, sizeof(out->message),
		    "error.message");
	} else if (e != NULL && json_object_is_type(e, json_type_string)) {
		/* IMDS / OAuth shape */
		jstr(e, out->code, sizeof(out->code), "error");
		jstr(jpath(o, "error_description", NULL), out->message,
		    sizeof(out->message), "error_description");
	} else if (e == NULL) {
		/* Not every answer has the envelope: some resource providers and
		 * ARM's own front door send {"code","message"} (or {"Message"}) at
		 * the top level. */
		jstr(jpath(o, "code", NULL), out->code, sizeof(out->code), "code");
		jstr(jpath(o, "message", NULL), out->message, sizeof(out->message), "message");
		if (out->message[0] == '\0')
			jstr(jpath(o, "Message", NULL), out->message, sizeof(out->message),
			    "Message");
	}
	if (out->message[0] == '\0')
		snprintf(out->message, sizeof(out->message), "HTTP %ld", status);
	json_object_put(o);
}

int
az_json_op_status(const char *s, size_t len, enum az_op_status *st, struct az_error *err)
{
	static const struct { const char *name; enum az_op_status st; } map[] = {
		{ "InProgress", AZ_OP_IN_PROGRESS }, { "Succeeded", AZ_OP_SUCCEEDED },
		{ "Failed", AZ_OP_FAILED }, { "Canceled", AZ_OP_CANCELED },
		{ "Cancelled", AZ_OP_CANCELED },      /* some services spell it so */
	};
	struct json_object *o;
	char v[64];
	size_t i;
	int r = -EBADMSG;

	if ((o = parse(s, len, "asynchronous operation status")) == NULL)
		return -EBADMSG;
	if (jreq(jpath(o, "status", NULL), v, sizeof(v), "operation status") < 0)
		goto out;
	for (i = 0; i < ARRAY_SIZE(map); i++) {
		if (strcasecmp(v, map[i].name) == 0) {
			*st = map[i].st;
			r = 0;
		}
	}
	/* Unknown non-terminal states (e.g. "Accepted", "Updating") mean "wait". */
	if (r < 0) {
		*st = AZ_OP_IN_PROGRESS;
		r = 0;
	}
	if (*st == AZ_OP_FAILED || *st == AZ_OP_CANCELED) {
		memset(err, 0, sizeof(*err));
		jstr(jpath(o, "error", "code", NULL), err->code, sizeof(err->code),
		    "error.code");
		jstr(jpath(o, "error", "message", NULL), err->message,
		    sizeof(err->message), "error.message");
	}
out:
	json_object_put(o);
	return r;
}

int
az_json_provisioning_state(const char *s, size_t len, enum az_op_status *st)
{
	struct json_object *o;
	char v[64];
	int r;

	if ((o = parse(s, len, "resource")) == NULL)
		return -EBADMSG;
	r = jstr(jpath(o, "properties", "provisioningState", NULL), v, sizeof(v),
	    "provisioningState");
	json_object_put(o);
	if (r < 0)
		return r;
	if (v[0] == '\0' || strcasecmp(v, "Succeeded") == 0)
		*st = AZ_OP_SUCCEEDED;
	else if (strcasecmp(v, "Failed") == 0)
		*st = AZ_OP_FAILED;
	else if (strcasecmp(v, "Canceled") == 0 || strcasecmp(v, "Cancelled") == 0)
		*st = AZ_OP_CANCELED;
	else
		*st = AZ_OP_IN_PROGRESS;
	return 0;
}

void
az_route_table_free(struct az_route_table *t)
{
	free(t->routes);
	t->routes = NULL;
	t->n = t->cap = 0;
}

void
az_nic_list_free(struct az_nic_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}
