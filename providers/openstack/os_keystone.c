/*
 * Keystone v3: the POST /v3/auth/tokens body (password or application
 * credential), the token response (X-Subject-Token, expires_at, the service
 * catalog) and the choice of the Neutron endpoint from the catalog
 * (service type "network", interface public unless configured, the
 * configured region).  Keystone API reference, "Authentication and token
 * management": application credentials carry their own project scope, so
 * no "scope" is sent with them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "os.h"
#include "common/jsonutil.h"
#include "providers/http.h"

/* Base of auth_url (".../v3" or a bare root) + "/auth/tokens"; the override
 * replaces scheme://host[:port] only. */
int
os_keystone_tokens_url(const char *auth_url, const char *override, char *out, size_t len)
{
	const char *p, *path;
	size_t n, olen;
	int w;

	if ((p = strstr(auth_url, "://")) == NULL) {
		prov_set_error("auth_url \"%s\": not a URL", auth_url);
		return -EINVAL;
	}
	path = p + 3 + strcspn(p + 3, "/?#");
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	if (override != NULL && *override != '\0') {
		olen = strlen(override);
		while (olen > 0 && override[olen - 1] == '/')
			olen--;
	} else {
		override = auth_url;
		olen = (size_t)(path - auth_url);
	}
	if (n >= 3 && strncmp(path + n - 3, "/v3", 3) == 0)
		w = snprintf(out, len, "%.*s%.*s/auth/tokens", (int)olen, override, (int)n, path);
	else
		w = snprintf(out, len, "%.*s%.*s/v3/auth/tokens", (int)olen, override, (int)n, path);
	if (w < 0 || (size_t)w >= len) {
		prov_set_error("auth_url too long");
		return -ENAMETOOLONG;
	}
	return 0;
}

static struct json_object *
named(const char *id, const char *name)
{
	struct json_object *o = json_object_new_object();

	if (id != NULL)
		json_object_object_add(o, "id", json_object_new_string(id));
	else
		json_object_object_add(o, "name", json_object_new_string(name));
	return o;
}

/* {"id"} or {"name"}, falling back to the cloud's domain, then "default". */
static struct json_object *
domain(const struct os_cloud *c, enum os_field id, enum os_field name)
{
	char *const *f = c->f;

	if (f[id] != NULL || f[name] != NULL)
		return named(f[id], f[name]);
	if (f[OSF_DOMAIN_ID] != NULL || f[OSF_DOMAIN_NAME] != NULL)
		return named(f[OSF_DOMAIN_ID], f[OSF_DOMAIN_NAME]);
	return named("default", NULL);
}

static struct json_object *
user(const struct os_cloud *c)
{
	struct json_object *u;

	if (c->f[OSF_USER_ID] != NULL)
		return named(c->f[OSF_USER_ID], NULL);
	u = named(NULL, c->f[OSF_USERNAME]);
	json_object_object_add(u, "domain", domain(c, OSF_USER_DOMAIN_ID, OSF_USER_DOMAIN_NAME));
	return u;
}

static struct json_object *
identity(const struct os_cloud *c)
{
	struct json_object *id = json_object_new_object(), *m = json_object_new_array(), *x;
	const char *method = c->type == OS_AUTH_APPCRED ? "application_credential" : "password";

	json_object_array_add(m, json_object_new_string(method));
	json_object_object_add(id, "methods", m);
	if (c->type == OS_AUTH_APPCRED) {
		if (c->f[OSF_APPCRED_ID] != NULL) {
			x = named(c->f[OSF_APPCRED_ID], NULL);
		} else {
			x = named(NULL, c->f[OSF_APPCRED_NAME]);
			json_object_object_add(x, "user", user(c));
		}
		json_object_object_add(x, "secret",
		    json_object_new_string(c->f[OSF_APPCRED_SECRET]));
	} else {
		x = json_object_new_object();
		m = user(c);
		json_object_object_add(m, "password", json_object_new_string(c->f[OSF_PASSWORD]));
		json_object_object_add(x, "user", m);
	}
	json_object_object_add(id, method, x);
	return id;
}

static struct json_object *
scope(const struct os_cloud *c)
{
	struct json_object *s, *p;

	if (c->type == OS_AUTH_APPCRED)
		return NULL;
	if (c->f[OSF_PROJECT_ID] != NULL) {
		p = named(c->f[OSF_PROJECT_ID], NULL);
	} else if (c->f[OSF_PROJECT_NAME] != NULL) {
		p = named(NULL, c->f[OSF_PROJECT_NAME]);
		json_object_object_add(p, "domain",
		    domain(c, OSF_PROJECT_DOMAIN_ID, OSF_PROJECT_DOMAIN_NAME));
	} else {
		return NULL;               /* the user's default project */
	}
	s = json_object_new_object();
	json_object_object_add(s, "project", p);
	return s;
}

int
os_keystone_auth_body(const struct os_cloud *c, struct buf *out)
{
	struct json_object *root = json_object_new_object(), *auth = json_object_new_object();
	struct json_object *sc = scope(c);
	const char *s;
	int r;

	json_object_object_add(auth, "identity", identity(c));
	if (sc != NULL)
		json_object_object_add(auth, "scope", sc);
	json_object_object_add(root, "auth", auth);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	buf_reset(out);
	r = buf_puts(out, s);
	/* json-c keeps the printed text in the object: wipe it with the secrets. */
	explicit_bzero((char *)s, strlen(s));
	prov_json_put_secret(root);
	return r;
}

int
os_parse_time(const char *s, time_t *out)
{
	struct tm tm;
	const char *e;

	memset(&tm, 0, sizeof(tm));
	if ((e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -EINVAL;
	if (*e == '.') {
		e++;
		while (*e >= '0' && *e <= '9')
			e++;
	}
	if (strcmp(e, "Z") != 0 && strcmp(e, "+00:00") != 0 && *e != '\0')
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

int
os_token_stale(const struct os_token *t, time_t now)
{
	time_t margin = 300;

	if (t->value == NULL)
		return 1;
	if (t->issued_at > 0 && t->expires_at > t->issued_at &&
	    (t->expires_at - t->issued_at) / 4 < margin)
		margin = (t->expires_at - t->issued_at) / 4;
	return now + margin >= t->expires_at;
}

void
os_token_wipe(struct os_token *t)
{
	if (t->value != NULL) {
		explicit_bzero(t->value, strlen(t->value));
		free(t->value);
	}
	free(t->project_id);
	free(t->user_id);
	memset(t, 0, sizeof(*t));
}

void
os_endpoint_free(struct os_endpoint *e)
{
	free(e->url);
	free(e->interface);
	free(e->region);
	memset(e, 0, sizeof(*e));
}

static int
endpoint_matches(struct json_object *e, const char *interface, const char *region)
{
	const char *i = cr_json_str(e, "interface"), *rid = cr_json_str(e, "region_id"), *rn = cr_json_str(e, "region");

	if (i == NULL || strcmp(i, interface) != 0 || cr_json_str(e, "url") == NULL)
		return 0;
	return region == NULL || (rid != NULL && strcmp(rid, region) == 0) ||
	    (rn != NULL && strcmp(rn, region) == 0);
}

/* The first matching endpoint of a service of type `type`. */
static int
pick_endpoint(struct json_object *catalog, const char *type, const char *interface,
    const char *region, struct os_endpoint *ep)
{
	struct json_object *svc, *eps, *e;
	size_t i, j, n_svc = 0;
	const char *t;

	for (i = 0; i < json_object_array_length(catalog); i++) {
		svc = json_object_array_get_idx(catalog, i);
		if ((t = cr_json_str(svc, "type")) == NULL || strcmp(t, type) != 0 ||
		    !json_object_object_get_ex(svc, "endpoints", &eps) ||
		    !json_object_is_type(eps, json_type_array))
			continue;
		n_svc++;
		for (j = 0; j < json_object_array_length(eps); j++) {
			e = json_object_array_get_idx(eps, j);
			if (!endpoint_matches(e, interface, region))
				continue;
			ep->url = strdup(cr_json_str(e, "url"));
			ep->interface = strdup(interface);
			t = cr_json_str(e, "region_id") ? cr_json_str(e, "region_id") : cr_json_str(e, "region");
			ep->region = t != NULL ? strdup(t) : NULL;
			return ep->url != NULL ? 0 : -ENOMEM;
		}
	}
	if (n_svc == 0)
		prov_set_error("Keystone catalog has no \"%s\" service (is Neutron deployed, "
		    "and is the token scoped to a project?)", type);
	else
		prov_set_error("Keystone catalog: no %s endpoint of the \"%s\" service%s%s "
		    "(set interface / region_name in clouds.yaml)", interface, type,
		    region ? " in region " : "", region ? region : "");
	return -ENOENT;
}

int
os_keystone_parse(const char *body, size_t len, const char *type, const char *interface,
    const char *region, struct os_token *tok, struct os_endpoint *ep)
{
	struct json_tokener *jt = json_tokener_new();
	struct json_object *root = NULL, *t, *cat, *o;
	const char *s;
	int r = -EBADMSG;

	if (jt == NULL)
		return -ENOMEM;
	root = json_tokener_parse_ex(jt, body, (int)len);
	if (root == NULL || json_tokener_get_error(jt) != json_tokener_success ||
	    !json_object_object_get_ex(root, "token", &t) ||
	    !json_object_is_type(t, json_type_object)) {
		prov_set_error("Keystone token response is not a {\"token\": ...} JSON object");
		goto out;
	}
	if ((s = cr_json_str(t, "expires_at")) == NULL || os_parse_time(s, &tok->expires_at) < 0) {
		prov_set_error("Keystone token response: no valid expires_at");
		goto out;
	}
	if ((s = cr_json_str(t, "issued_at")) == NULL || os_parse_time(s, &tok->issued_at) < 0)
		tok->issued_at = 0;
	if (json_object_object_get_ex(t, "project", &o) && (s = cr_json_str(o, "id")) != NULL)
		tok->project_id = strdup(s);
	if (json_object_object_get_ex(t, "user", &o) && (s = cr_json_str(o, "id")) != NULL)
		tok->user_id = strdup(s);
	if (!json_object_object_get_ex(t, "catalog", &cat) ||
	    !json_object_is_type(cat, json_type_array)) {
		prov_set_error("Keystone token has no service catalog (unscoped token: give "
		    "project_name or project_id)");
		r = -ENOENT;
		goto out;
	}
	r = pick_endpoint(cat, type, interface, region, ep);
out:
	json_object_put(root);
	json_tokener_free(jt);
	return r;
}
