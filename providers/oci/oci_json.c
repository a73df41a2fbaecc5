/*
 * JSON models of the OCI responses cloudroute reads, with json-c: IMDS v2
 * /opc/v2/instance/ and /opc/v2/vnics/, Core Services Vnic, Subnet,
 * ListSubnets, ListPrivateIps, the federation token and the error envelope
 * {"code": "...", "message": "..."}.  A field that is required and missing
 * or of the wrong type makes the whole document an error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci.h"
#include "providers/http.h"

static struct json_object *
parse(const char *s, enum json_type want, const char *what)
{
	struct json_object *o = s != NULL ? json_tokener_parse(s) : NULL;

	if (o == NULL || !json_object_is_type(o, want)) {
		prov_set_error("%s: not a JSON %s", what, want == json_type_array ?
		    "array" : "object");
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* Copies a string member; required: missing/empty/too long is an error. */
static int
get_str(struct json_object *o, const char *key, char *dst, size_t len, int required,
    const char *what)
{
	struct json_object *v;
	const char *s;

	dst[0] = '\0';
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null)) {
		if (!required)
			return 0;
		prov_set_error("%s: \"%s\" missing", what, key);
		return -EBADMSG;
	}
	if (!json_object_is_type(v, json_type_string)) {
		prov_set_error("%s: \"%s\" is not a string", what, key);
		return -EBADMSG;
	}
	s = json_object_get_string(v);
	if ((required && *s == '\0') || cr_strlcpy(dst, s, len) >= len) {
		prov_set_error("%s: \"%s\" empty or too long", what, key);
		dst[0] = '\0';
		return -EBADMSG;
	}
	return 0;
}

int
oci_json_instance(const char *s, struct oci_instance_md *out)
{
	struct json_object *o = parse(s, json_type_object, "IMDS instance"), *ri;
	const char *w = "IMDS /opc/v2/instance/";
	int r = -EBADMSG;

	if (o == NULL)
		return -EBADMSG;
	if (get_str(o, "id", out->id, sizeof(out->id), 1, w) < 0 ||
	    get_str(o, "compartmentId", out->compartment, sizeof(out->compartment), 1, w) < 0 ||
	    get_str(o, "canonicalRegionName", out->region, sizeof(out->region), 0, w) < 0 ||
	    get_str(o, "availabilityDomain", out->ad, sizeof(out->ad), 0, w) < 0)
		goto out;
	out->realm_domain[0] = '\0';
	if (json_object_object_get_ex(o, "regionInfo", &ri) &&
	    json_object_is_type(ri, json_type_object) &&
	    (get_str(ri, "realmDomainComponent", out->realm_domain,
	    sizeof(out->realm_domain), 0, w) < 0 ||
	    (out->region[0] == '\0' && get_str(ri, "regionIdentifier", out->region,
	    sizeof(out->region), 0, w) < 0)))
		goto out;
	/* Last, "region" when it is a region identifier ("us-ashburn-1"); the
	 * short key some instances have there ("iad") names no endpoint. */
	if (out->region[0] == '\0' && (get_str(o, "region", out->region, sizeof(out->region),
	    0, w) < 0 || strchr(out->region, '-') == NULL))
		out->region[0] = '\0';
	if (out->region[0] == '\0') {
		prov_set_error("%s: neither canonicalRegionName, regionInfo.regionIdentifier "
		    "nor a region identifier in region", w);
		goto out;
	}
	if (out->realm_domain[0] == '\0')
		cr_strlcpy(out->realm_domain, "oraclecloud.com", sizeof(out->realm_domain));
	r = 0;
out:
	json_object_put(o);
	return r;
}

int
oci_json_md_vnics(const char *s, struct oci_instance_md *out)
{
	struct json_object *a = parse(s, json_type_array, "IMDS vnics"), *v;
	const char *w = "IMDS /opc/v2/vnics/";
	int r = -EBADMSG;

	if (a == NULL)
		return -EBADMSG;
	/* The first entry is the primary VNIC (nicIndex 0). */
	if (json_object_array_length(a) == 0 ||
	    !json_object_is_type(v = json_object_array_get_idx(a, 0), json_type_object)) {
		prov_set_error("%s: no VNIC", w);
		goto out;
	}
	if (get_str(v, "vnicId", out->vnic, sizeof(out->vnic), 1, w) < 0 ||
	    get_str(v, "privateIp", out->private_ip, sizeof(out->private_ip), 1, w) < 0)
		goto out;
	r = 0;
out:
	json_object_put(a);
	return r;
}

int
oci_json_vnic(const char *s, struct oci_vnic *out)
{
	struct json_object *o = parse(s, json_type_object, "GetVnic"), *v;
	const char *w = "GetVnic";
	int r = -EBADMSG;

	if (o == NULL)
		return -EBADMSG;
	if (get_str(o, "id", out->id, sizeof(out->id), 1, w) < 0 ||
	    get_str(o, "subnetId", out->subnet, sizeof(out->subnet), 1, w) < 0 ||
	    get_str(o, "privateIp", out->private_ip, sizeof(out->private_ip), 0, w) < 0 ||
	    get_str(o, "publicIp", out->public_ip, sizeof(out->public_ip), 0, w) < 0 ||
	    get_str(o, "lifecycleState", out->state, sizeof(out->state), 1, w) < 0)
		goto out;
	out->skip_sdc = -1;
	if (json_object_object_get_ex(o, "skipSourceDestCheck", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			prov_set_error("%s: \"skipSourceDestCheck\" is not a boolean", w);
			goto out;
		}
		out->skip_sdc = json_object_get_boolean(v) ? 1 : 0;
	} else {
		out->skip_sdc = 0;            /* omitted: the default, false */
	}
	r = 0;
out:
	json_object_put(o);
	return r;
}

static int
subnet_obj(struct json_object *o, struct oci_subnet *out, const char *w)
{
	if (get_str(o, "id", out->id, sizeof(out->id), 1, w) < 0 ||
	    get_str(o, "vcnId", out->vcn, sizeof(out->vcn), 1, w) < 0 ||
	    get_str(o, "compartmentId", out->compartment, sizeof(out->compartment), 1, w) < 0 ||
	    get_str(o, "routeTableId", out->route_table, sizeof(out->route_table), 1, w) < 0)
		return -EBADMSG;
	return 0;
}

int
oci_json_subnet(const char *s, struct oci_subnet *out)
{
	struct json_object *o = parse(s, json_type_object, "GetSubnet");
	int r;

	if (o == NULL)
		return -EBADMSG;
	r = subnet_obj(o, out, "GetSubnet");
	json_object_put(o);
	return r;
}

int
oci_ids_add(char ***v, size_t *n, const char *id)
{
	char **nv;
	size_t i;

	for (i = 0; i < *n; i++)
		if (strcmp((*v)[i], id) == 0)
			return 0;
	if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL)
		return -ENOMEM;
	*v = nv;
	if ((nv[*n] = strdup(id)) == NULL)
		return -ENOMEM;
	(*n)++;
	return 0;
}

int
oci_json_subnet_tables(const char *s, char ***v, size_t *n)
{
	struct json_object *a = parse(s, json_type_array, "ListSubnets");
	struct oci_subnet sn;
	size_t i;
	int r = 0;

	if (a == NULL)
		return -EBADMSG;
	for (i = 0; i < json_object_array_length(a) && r == 0; i++) {
		struct json_object *o = json_object_array_get_idx(a, i);
		char state[32];

		if (!json_object_is_type(o, json_type_object) ||
		    subnet_obj(o, &sn, "ListSubnets") < 0 ||
		    get_str(o, "lifecycleState", state, sizeof(state), 0, "ListSubnets") < 0) {
			r = -EBADMSG;
			break;
		}
		if (strcmp(state, "TERMINATED") != 0 && strcmp(state, "TERMINATING") != 0)
			r = oci_ids_add(v, n, sn.route_table);
	}
	json_object_put(a);
	return r;
}

static int
private_ip_obj(struct json_object *o, struct oci_private_ip *p, const char *w)
{
	struct json_object *v;

	memset(p, 0, sizeof(*p));
	if (!json_object_is_type(o, json_type_object) ||
	    get_str(o, "id", p->id, sizeof(p->id), 1, w) < 0 ||
	    get_str(o, "ipAddress", p->ip, sizeof(p->ip), 1, w) < 0 ||
	    get_str(o, "vnicId", p->vnic, sizeof(p->vnic), 0, w) < 0)
		return -EBADMSG;
	p->primary = json_object_object_get_ex(o, "isPrimary", &v) &&
	    json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
	return 0;
}

int
oci_json_private_ip_one(const char *s, struct oci_private_ip *out)
{
	struct json_object *o = parse(s, json_type_object, "GetPrivateIp");
	int r;

	if (o == NULL)
		return -EBADMSG;
	r = private_ip_obj(o, out, "GetPrivateIp");
	json_object_put(o);
	return r;
}

int
oci_json_private_ip(const char *s, const char *ip, struct oci_private_ip *out)
{
	struct json_object *a = parse(s, json_type_array, "ListPrivateIps");
	struct oci_private_ip p;
	int r = -ENOENT, found = 0;
	size_t i;

	if (a == NULL)
		return -EBADMSG;
	for (i = 0; i < json_object_array_length(a); i++) {
		if (private_ip_obj(json_object_array_get_idx(a, i), &p, "ListPrivateIps") < 0) {
			r = -EBADMSG;
			goto out;
		}
		if (ip != NULL && strcmp(p.ip, ip) == 0) {
			*out = p;
			r = 0;
			goto out;
		}
		if (p.primary && !found) {
			*out = p;
			found = 1;
			r = 0;
		}
	}
	if (r == -ENOENT)
		prov_set_error("ListPrivateIps: no private IP %s on our VNIC", ip != NULL ? ip : "");
out:
	json_object_put(a);
	return r;
}

int
oci_json_token(const char *s, struct buf *out)
{
	/* The token is a credential: json-c's copies of it are wiped too. */
	struct json_object *o = s != NULL ? prov_json_parse_secret(s, strlen(s)) : NULL, *v;
	int r = -EBADMSG;

	if (o == NULL || !json_object_is_type(o, json_type_object)) {
		prov_set_error("federation: the answer is not a JSON object");
	} else if (json_object_object_get_ex(o, "token", &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0) {
		buf_reset(out);
		r = buf_append(out, json_object_get_string(v), (size_t)json_object_get_string_len(v));
	} else {
		prov_set_error("federation: no \"token\" in the answer");
	}
	prov_json_put_secret(o);
	return r;
}

void
oci_json_error(const char *s, char *code, size_t clen, char *msg, size_t mlen)
{
	struct json_object *o = s != NULL ? json_tokener_parse(s) : NULL;

	code[0] = msg[0] = '\0';
	if (o != NULL && json_object_is_type(o, json_type_object)) {
		(void)get_str(o, "code", code, clen, 0, "error");
		(void)get_str(o, "message", msg, mlen, 0, "error");
	}
	json_object_put(o);
}
