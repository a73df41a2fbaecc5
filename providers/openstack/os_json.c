/*
 * JSON parsers for the Neutron v2.0 answers the provider reads (ports,
 * routers, NeutronError) and the metadata service's meta_data.json.  Each
 * checks the shape and types of what it uses; anything else is -EBADMSG
 * with the reason in prov_last_error(), and nothing half-parsed is kept.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "os.h"
#include "common/jsonutil.h"
#include "providers/http.h"

static struct json_object *
parse(const char *body, size_t len, const char *what)
{
	struct json_tokener *jt = json_tokener_new();
	struct json_object *o = NULL;

	if (jt == NULL)
		return NULL;
	if (len > 0 && len < INT32_MAX)
		o = json_tokener_parse_ex(jt, body, (int)len);
	if (o != NULL && (json_tokener_get_error(jt) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	if (o == NULL)
		prov_set_error("%s: the answer is not a JSON object", what);
	json_tokener_free(jt);
	return o;
}

static int
bad(const char *what, const char *field)
{
	prov_set_error("%s: missing or invalid \"%s\"", what, field);
	return -EBADMSG;
}

/* Copies string field k (required unless opt) into dst. */
static int
str(struct json_object *o, const char *k, char *dst, size_t len, int opt, const char *what)
{
	struct json_object *v;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
		return opt ? 0 : bad(what, k);
	if (!json_object_is_type(v, json_type_string) ||
	    cr_strlcpy(dst, json_object_get_string(v), len) >= len)
		return bad(what, k);
	return 0;
}

/* 1 when k is absent or null (an extension that is off). */
static int
absent(struct json_object *o, const char *k)
{
	struct json_object *v;

	return !json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null);
}

static struct json_object *
array(struct json_object *o, const char *k)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

static int
fixed_ips(struct json_object *o, struct os_port *p)
{
	struct json_object *a = array(o, "fixed_ips"), *e;
	char ip[64];
	size_t i;
	int r;

	if (a == NULL)
		return bad("Neutron port", "fixed_ips");
	if ((p->ips = calloc(json_object_array_length(a) + 1, sizeof(*p->ips))) == NULL)
		return -ENOMEM;
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if ((r = str(e, "subnet_id", p->ips[i].subnet, sizeof(p->ips[i].subnet), 0,
		    "Neutron port fixed_ips")) < 0 ||
		    (r = str(e, "ip_address", ip, sizeof(ip), 0, "Neutron port fixed_ips")) < 0)
			return r;
		if (prefix_parse_addr(ip, &p->ips[i].ip) < 0)
			return bad("Neutron port fixed_ips", "ip_address");
		p->n_ips++;
	}
	return 0;
}

static int
pairs(struct json_object *o, struct os_port *p)
{
	struct json_object *a = array(o, "allowed_address_pairs"), *e;
	char ip[64];
	size_t i;
	int r;

	if (a == NULL)
		return absent(o, "allowed_address_pairs") ? 0 :
		    bad("Neutron port", "allowed_address_pairs");
	if ((p->pairs = calloc(json_object_array_length(a) + 1, sizeof(*p->pairs))) == NULL)
		return -ENOMEM;
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if ((r = str(e, "ip_address", ip, sizeof(ip), 0, "allowed_address_pairs")) < 0 ||
		    (r = str(e, "mac_address", p->pairs[i].mac, sizeof(p->pairs[i].mac), 1,
		    "allowed_address_pairs")) < 0)
			return r;
		if (prefix_parse(ip, &p->pairs[i].ip, 1) < 0)
			return bad("allowed_address_pairs", "ip_address");
		cr_strlcpy(p->pairs[i].text, ip, sizeof(p->pairs[i].text));
		p->n_pairs++;
	}
	return 0;
}

static int
port_obj(struct json_object *o, struct os_port *p)
{
	const char *what = "Neutron port";
	struct json_object *v;
	int r;

	memset(p, 0, sizeof(*p));
	p->port_security = -1;
	p->revision = -1;
	if (!json_object_is_type(o, json_type_object))
		return bad(what, "port");
	if ((r = str(o, "id", p->id, sizeof(p->id), 0, what)) < 0 ||
	    (r = str(o, "mac_address", p->mac, sizeof(p->mac), 0, what)) < 0 ||
	    (r = str(o, "network_id", p->network, sizeof(p->network), 0, what)) < 0 ||
	    (r = str(o, "device_owner", p->device_owner, sizeof(p->device_owner), 1, what)) < 0 ||
	    (r = str(o, "device_id", p->device_id, sizeof(p->device_id), 1, what)) < 0 ||
	    (r = fixed_ips(o, p)) < 0 || (r = pairs(o, p)) < 0)
		return r;
	if (json_object_object_get_ex(o, "port_security_enabled", &v) &&
	    json_object_is_type(v, json_type_boolean))
		p->port_security = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "revision_number", &v) &&
	    json_object_is_type(v, json_type_int))
		p->revision = (long)json_object_get_int64(v);
	if ((v = array(o, "security_groups")) != NULL)
		p->n_security_groups = (int)json_object_array_length(v);
	return 0;
}

void
os_port_free(struct os_port *p)
{
	free(p->ips);
	free(p->pairs);
	p->ips = NULL;
	p->pairs = NULL;
	p->n_ips = p->n_pairs = 0;
}

void
os_ports_free(struct os_port *v, size_t n)
{
	size_t i;

	for (i = 0; i < n && v != NULL; i++)
		os_port_free(&v[i]);
	free(v);
}

/* The query of the "next" link in ports_links (Neutron pagination), or "". */
static int
next_link(struct json_object *root, char *next, size_t len)
{
	struct json_object *links = array(root, "ports_links"), *l;
	const char *rel, *href, *q;
	size_t i;

	next[0] = '\0';
	for (i = 0; links != NULL && i < json_object_array_length(links); i++) {
		l = json_object_array_get_idx(links, i);
		rel = cr_json_str(l, "rel");
		href = cr_json_str(l, "href");
		if (rel == NULL || strcmp(rel, "next") != 0 || href == NULL)
			continue;
		/* Only the query is used: the host stays the catalog's. */
		if ((q = strchr(href, '?')) == NULL || cr_strlcpy(next, q + 1, len) >= len) {
			next[0] = '\0';
			return bad("Neutron port list", "ports_links");
		}
	}
	return 0;
}

int
os_json_ports_page(const char *body, size_t len, struct os_port **v, size_t *n,
    char *next, size_t nextlen)
{
	struct json_object *root = parse(body, len, "Neutron port list"), *a;
	struct os_port *nv;
	size_t i, m;
	int r = -EBADMSG;

	if (root == NULL)
		return -EBADMSG;
	if ((a = array(root, "ports")) == NULL) {
		r = bad("Neutron port list", "ports");
		goto out;
	}
	m = json_object_array_length(a);
	if ((nv = realloc(*v, (*n + m + 1) * sizeof(*nv))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	*v = nv;
	for (i = 0; i < m; i++) {
		r = port_obj(json_object_array_get_idx(a, i), &nv[*n]);
		(*n)++;                    /* a half-parsed one is freed with the rest */
		if (r < 0)
			goto out;
	}
	r = next != NULL ? next_link(root, next, nextlen) : 0;
out:
	json_object_put(root);
	return r;
}

int
os_json_ports(const char *body, size_t len, struct os_port **out, size_t *n)
{
	int r;

	*out = NULL;
	*n = 0;
	if ((r = os_json_ports_page(body, len, out, n, NULL, 0)) < 0) {
		os_ports_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return r;
}

int
os_json_port(const char *body, size_t len, struct os_port *out)
{
	struct json_object *root = parse(body, len, "Neutron port"), *o;
	int r;

	memset(out, 0, sizeof(*out));
	if (root == NULL)
		return -EBADMSG;
	if (!json_object_object_get_ex(root, "port", &o))
		r = bad("Neutron port", "port");
	else
		r = port_obj(o, out);
	if (r < 0)
		os_port_free(out);
	json_object_put(root);
	return r;
}

static int
routes(struct json_object *o, struct os_router *rt)
{
	const char *what = "Neutron router routes";
	struct json_object *a = array(o, "routes"), *e;
	char d[64], nh[64];
	size_t i;
	int r;

	if (a == NULL)
		return absent(o, "routes") ? 0 : bad(what, "routes");
	if ((rt->routes = calloc(json_object_array_length(a) + 1, sizeof(*rt->routes))) == NULL)
		return -ENOMEM;
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if ((r = str(e, "destination", d, sizeof(d), 0, what)) < 0 ||
		    (r = str(e, "nexthop", nh, sizeof(nh), 0, what)) < 0)
			return r;
		if (prefix_parse(d, &rt->routes[i].dst, 0) < 0)
			return bad(what, "destination");
		if (prefix_parse_addr(nh, &rt->routes[i].nexthop) < 0)
			return bad(what, "nexthop");
		rt->n_routes++;
	}
	return 0;
}

int
os_json_router(const char *body, size_t len, struct os_router *out)
{
	struct json_object *root = parse(body, len, "Neutron router"), *o, *v;
	int r;

	memset(out, 0, sizeof(*out));
	out->revision = -1;
	if (root == NULL)
		return -EBADMSG;
	if (!json_object_object_get_ex(root, "router", &o) ||
	    !json_object_is_type(o, json_type_object)) {
		r = bad("Neutron router", "router");
		goto out;
	}
	if ((r = str(o, "id", out->id, sizeof(out->id), 0, "Neutron router")) < 0 ||
	    (r = str(o, "name", out->name, sizeof(out->name), 1, "Neutron router")) < 0 ||
	    (r = routes(o, out)) < 0)
		goto out;
	if (json_object_object_get_ex(o, "revision_number", &v) &&
	    json_object_is_type(v, json_type_int))
		out->revision = (long)json_object_get_int64(v);
out:
	if (r < 0)
		os_router_free(out);
	json_object_put(root);
	return r;
}

void
os_router_free(struct os_router *r)
{
	free(r->routes);
	r->routes = NULL;
	r->n_routes = 0;
}

int
os_json_error(const char *body, size_t len, struct os_neutron_error *out)
{
	struct json_object *root, *e;
	int r = -EBADMSG;

	out->type[0] = out->message[0] = '\0';
	if ((root = parse(body, len, "Neutron error")) == NULL)
		return -EBADMSG;
	if (json_object_object_get_ex(root, "NeutronError", &e) &&
	    json_object_is_type(e, json_type_object)) {
		str(e, "type", out->type, sizeof(out->type), 1, "NeutronError");
		str(e, "message", out->message, sizeof(out->message), 1, "NeutronError");
		r = 0;
	} else if (str(root, "message", out->message, sizeof(out->message), 0, "error") == 0) {
		r = 0;                 /* webob faults: {"message": ..., "code": ...} */
	} else if (json_object_object_get_ex(root, "error", &e) &&
	    json_object_is_type(e, json_type_object)) {
		str(e, "message", out->message, sizeof(out->message), 1, "error");
		r = 0;                 /* Keystone: {"error": {"code", "message", "title"}} */
	}
	json_object_put(root);
	return r;
}

int
os_json_meta(const char *body, size_t len, char *uuid, size_t ulen, char *az, size_t azlen)
{
	struct json_object *root = parse(body, len, "metadata meta_data.json");
	int r;

	if (root == NULL)
		return -EBADMSG;
	if ((r = str(root, "uuid", uuid, ulen, 0, "meta_data.json")) == 0 && uuid[0] == '\0')
		r = bad("meta_data.json", "uuid");
	if (r == 0 && az != NULL)
		r = str(root, "availability_zone", az, azlen, 1, "meta_data.json");
	json_object_put(root);
	return r;
}
