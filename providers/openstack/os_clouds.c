/*
 * OpenStack credentials as the OpenStack tools read them: clouds.yaml
 * (openstacksdk / os-client-config format, parsed with libyaml's document
 * loader), secure.yaml merged over it, OS_CLOUD choosing the cloud, and the
 * OS_* environment (the "envvars" cloud, or overriding the file's values as
 * the openstack command's options do).
 *
 *   clouds:
 *     NAME:
 *       auth_type: v3applicationcredential | password | v3password
 *       auth: { auth_url, application_credential_id | _name, _secret,
 *               username | user_id, password, project_name | project_id,
 *               user_domain_name | _id, project_domain_name | _id,
 *               domain_name | domain_id (default for both) }
 *       region_name: RegionOne          (or regions: [first, ...])
 *       interface: public | internal | admin
 *       identity_api_version: 3
 *
 * Other cloud-level keys (compute_api_version, ...) are for other clients
 * and ignored; an unknown key inside auth is an error (a typo there would
 * otherwise fail late as a 401).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include <yaml.h>

#include "os.h"
#include "providers/http.h"

#define CLOUDS_MAX (1u << 20)

static const struct {
	const char *yaml;                 /* key in auth: / cloud level */
	const char *env;
	const char *env2;                 /* older name */
	int secret;
} fields[OSF_COUNT] = {
	[OSF_AUTH_URL] = { "auth_url", "OS_AUTH_URL", NULL, 0 },
	[OSF_USERNAME] = { "username", "OS_USERNAME", NULL, 0 },
	[OSF_USER_ID] = { "user_id", "OS_USER_ID", NULL, 0 },
	[OSF_PASSWORD] = { "password", "OS_PASSWORD", NULL, 1 },
	[OSF_USER_DOMAIN_NAME] = { "user_domain_name", "OS_USER_DOMAIN_NAME", NULL, 0 },
	[OSF_USER_DOMAIN_ID] = { "user_domain_id", "OS_USER_DOMAIN_ID", NULL, 0 },
	[OSF_PROJECT_NAME] = { "project_name", "OS_PROJECT_NAME", "OS_TENANT_NAME", 0 },
	[OSF_PROJECT_ID] = { "project_id", "OS_PROJECT_ID", "OS_TENANT_ID", 0 },
	[OSF_PROJECT_DOMAIN_NAME] = { "project_domain_name", "OS_PROJECT_DOMAIN_NAME", NULL, 0 },
	[OSF_PROJECT_DOMAIN_ID] = { "project_domain_id", "OS_PROJECT_DOMAIN_ID", NULL, 0 },
	[OSF_DOMAIN_NAME] = { "domain_name", "OS_DOMAIN_NAME", NULL, 0 },
	[OSF_DOMAIN_ID] = { "domain_id", "OS_DOMAIN_ID", NULL, 0 },
	[OSF_APPCRED_ID] = { "application_credential_id", "OS_APPLICATION_CREDENTIAL_ID", NULL, 0 },
	[OSF_APPCRED_NAME] = { "application_credential_name", "OS_APPLICATION_CREDENTIAL_NAME",
	    NULL, 0 },
	[OSF_APPCRED_SECRET] = { "application_credential_secret",
	    "OS_APPLICATION_CREDENTIAL_SECRET", NULL, 1 },
	[OSF_AUTH_TYPE] = { "auth_type", "OS_AUTH_TYPE", NULL, 0 },
	[OSF_REGION] = { "region_name", "OS_REGION_NAME", NULL, 0 },
	[OSF_INTERFACE] = { "interface", "OS_INTERFACE", "OS_ENDPOINT_TYPE", 0 },
	[OSF_CACERT] = { "cacert", "OS_CACERT", NULL, 0 },
};

/* auth: aliases the tools accept. */
static const struct {
	const char *key;
	enum os_field f;
} auth_aliases[] = {
	{ "tenant_name", OSF_PROJECT_NAME },
	{ "tenant_id", OSF_PROJECT_ID },
	{ "default_domain_name", OSF_DOMAIN_NAME },
	{ "default_domain_id", OSF_DOMAIN_ID },
};

int
os_field_secret(enum os_field f)
{
	return f < OSF_COUNT && fields[f].secret;
}

const char *
os_field_name(enum os_field f)
{
	return f < OSF_COUNT ? fields[f].yaml : "?";
}

static void
set_field(struct os_cloud *c, enum os_field f, const char *v)
{
	if (c->f[f] != NULL) {
		explicit_bzero(c->f[f], strlen(c->f[f]));
		free(c->f[f]);
	}
	c->f[f] = v != NULL ? strdup(v) : NULL;
}

void
os_cloud_free(struct os_cloud *c)
{
	size_t i;

	for (i = 0; i < OSF_COUNT; i++)
		set_field(c, (enum os_field)i, NULL);
	free(c->name);
	free(c->source);
	memset(c, 0, sizeof(*c));
}

/* ---- the YAML document ---- */

struct doc {
	yaml_document_t d;
	const char *file;
};

static int perr(const struct doc *d, const yaml_node_t *n, const char *fmt, ...)
    CR_PRINTF(3, 4);

static int
perr(const struct doc *d, const yaml_node_t *n, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	prov_set_error("%s:%zu:%zu: %s", d->file, n->start_mark.line + 1,
	    n->start_mark.column + 1, what);
	return -EINVAL;
}

static const char *
scalar(const yaml_node_t *n)
{
	return n != NULL && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* The value of key k in mapping m, or NULL. */
static yaml_node_t *
map_get(struct doc *d, yaml_node_t *m, const char *k)
{
	yaml_node_pair_t *p;
	const char *s;

	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		s = scalar(yaml_document_get_node(&d->d, p->key));
		if (s != NULL && strcmp(s, k) == 0)
			return yaml_document_get_node(&d->d, p->value);
	}
	return NULL;
}

static int
value_str(struct doc *d, yaml_node_t *v, const char *key, struct os_cloud *c, enum os_field f)
{
	const char *s = scalar(v);

	if (s == NULL)
		return perr(d, v, "%s: expected a string", key);
	if (strlen(s) > 4096)
		return perr(d, v, "%s: value too long", key);
	set_field(c, f, s);
	return 0;
}

static int
auth_field(const char *key, enum os_field *f)
{
	size_t i;

	for (i = 0; i < OSF_COUNT; i++)
		if (i != OSF_AUTH_TYPE && i != OSF_REGION && i != OSF_INTERFACE &&
		    i != OSF_CACERT && strcmp(fields[i].yaml, key) == 0) {
			*f = (enum os_field)i;
			return 1;
		}
	for (i = 0; i < ARRAY_SIZE(auth_aliases); i++)
		if (strcmp(auth_aliases[i].key, key) == 0) {
			*f = auth_aliases[i].f;
			return 1;
		}
	return 0;
}

static int
parse_auth(struct doc *d, yaml_node_t *m, struct os_cloud *c)
{
	yaml_node_pair_t *p;
	yaml_node_t *k;
	enum os_field f;
	const char *ks;
	int r;

	if (m->type != YAML_MAPPING_NODE)
		return perr(d, m, "%s: expected a mapping", "auth");
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(&d->d, p->key);
		if ((ks = scalar(k)) == NULL)
			return perr(d, k, "%s: keys must be strings", "auth");
		if (!auth_field(ks, &f))
			return perr(d, k, "auth: unknown or unsupported key \"%s\" "
			    "(cloudroute supports password and application credentials)", ks);
		if ((r = value_str(d, yaml_document_get_node(&d->d, p->value), ks, c, f)) < 0)
			return r;
	}
	return 0;
}

/* regions: [ "RegionOne" | {name: RegionOne}, ... ]: the first one. */
static int
parse_regions(struct doc *d, yaml_node_t *v, struct os_cloud *c)
{
	yaml_node_t *e;

	if (v->type != YAML_SEQUENCE_NODE)
		return perr(d, v, "%s: expected a list", "regions");
	if (v->data.sequence.items.start == v->data.sequence.items.top || c->f[OSF_REGION])
		return 0;
	e = yaml_document_get_node(&d->d, *v->data.sequence.items.start);
	if (e->type == YAML_MAPPING_NODE)
		e = map_get(d, e, "name");
	if (e == NULL || scalar(e) == NULL)
		return perr(d, v, "%s: expected region names", "regions");
	set_field(c, OSF_REGION, scalar(e));
	return 0;
}

static int
parse_cloud_key(struct doc *d, const char *ks, yaml_node_t *k, yaml_node_t *v,
    struct os_cloud *c)
{
	const char *s;

	if (strcmp(ks, "auth") == 0)
		return parse_auth(d, v, c);
	if (strcmp(ks, "auth_type") == 0)
		return value_str(d, v, ks, c, OSF_AUTH_TYPE);
	if (strcmp(ks, "region_name") == 0)
		return value_str(d, v, ks, c, OSF_REGION);
	if (strcmp(ks, "interface") == 0 || strcmp(ks, "endpoint_type") == 0)
		return value_str(d, v, ks, c, OSF_INTERFACE);
	if (strcmp(ks, "cacert") == 0)
		return value_str(d, v, ks, c, OSF_CACERT);
	if (strcmp(ks, "regions") == 0)
		return parse_regions(d, v, c);
	if (strcmp(ks, "profile") == 0 || strcmp(ks, "cloud") == 0)
		return perr(d, k, "%s: vendor profiles are not supported; give auth.auth_url", ks);
	if (strcmp(ks, "verify") == 0 || strcmp(ks, "insecure") == 0) {
		if ((s = scalar(v)) == NULL)
			return perr(d, v, "%s: expected true or false", ks);
		c->verify = strcmp(ks, "verify") == 0 ?
		    !(strcasecmp(s, "false") == 0 || strcasecmp(s, "no") == 0) :
		    !(strcasecmp(s, "true") == 0 || strcasecmp(s, "yes") == 0);
		return 0;
	}
	if (strcmp(ks, "identity_api_version") == 0) {
		if ((s = scalar(v)) == NULL || (strcmp(s, "3") != 0 && strcmp(s, "3.0") != 0))
			return perr(d, v, "%s: only Keystone v3 is supported", ks);
		return 0;
	}
	return 0;                          /* settings of other clients */
}

static int
parse_cloud(struct doc *d, yaml_node_t *m, struct os_cloud *c)
{
	yaml_node_pair_t *p;
	yaml_node_t *k;
	const char *ks;
	int r;

	if (m->type != YAML_MAPPING_NODE)
		return perr(d, m, "%s: expected a mapping", c->name);
	for (p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
		k = yaml_document_get_node(&d->d, p->key);
		if ((ks = scalar(k)) == NULL)
			return perr(d, k, "%s: keys must be strings", c->name);
		if ((r = parse_cloud_key(d, ks, k, yaml_document_get_node(&d->d, p->value), c)) < 0)
			return r;
	}
	return 0;
}

/* Finds the cloud's mapping: by name, or the only one when name is NULL. */
static int
find_cloud(struct doc *d, yaml_node_t *clouds, const char *name, yaml_node_t **out,
    const char **outname)
{
	yaml_node_pair_t *p;
	size_t n = 0;
	const char *s;

	*out = NULL;
	for (p = clouds->data.mapping.pairs.start; p < clouds->data.mapping.pairs.top; p++) {
		if ((s = scalar(yaml_document_get_node(&d->d, p->key))) == NULL)
			continue;
		n++;
		if (name == NULL || strcmp(s, name) == 0) {
			*out = yaml_document_get_node(&d->d, p->value);
			*outname = s;
		}
	}
	if (name == NULL && n > 1)
		return perr(d, clouds, "clouds: %s clouds here; set OS_CLOUD to choose one",
		    "several");
	return 0;
}

static int
load_doc(struct doc *d, const char *text, size_t len)
{
	yaml_parser_t ps;
	int r = 0;

	if (!yaml_parser_initialize(&ps))
		return -ENOMEM;
	yaml_parser_set_input_string(&ps, (const unsigned char *)text, len);
	if (!yaml_parser_load(&ps, &d->d)) {
		prov_set_error("%s:%zu:%zu: %s%s%s", d->file, ps.problem_mark.line + 1,
		    ps.problem_mark.column + 1, ps.problem ? ps.problem : "invalid YAML",
		    ps.context ? " " : "", ps.context ? ps.context : "");
		r = -EINVAL;
	}
	yaml_parser_delete(&ps);
	return r;
}

int
os_clouds_parse(const char *text, size_t len, const char *file, const char *cloud,
    struct os_cloud *out, int *found)
{
	struct doc d = { .file = file };
	yaml_node_t *root, *clouds, *m;
	const char *name = NULL;
	int r;

	*found = 0;
	if (memchr(text, '\0', len) != NULL) {
		prov_set_error("%s: NUL byte in the file", file);
		return -EINVAL;
	}
	if ((r = load_doc(&d, text, len)) < 0)
		return r;
	root = yaml_document_get_root_node(&d.d);
	if (root == NULL)
		goto out;                  /* empty file: no clouds */
	if (root->type != YAML_MAPPING_NODE) {
		r = perr(&d, root, "%s: expected a mapping with \"clouds\"", "top level");
		goto out;
	}
	if ((clouds = map_get(&d, root, "clouds")) == NULL)
		goto out;
	if (clouds->type != YAML_MAPPING_NODE) {
		r = perr(&d, clouds, "%s: expected a mapping of cloud names", "clouds");
		goto out;
	}
	if ((r = find_cloud(&d, clouds, cloud, &m, &name)) < 0 || m == NULL)
		goto out;
	*found = 1;
	if (out->name == NULL && (out->name = strdup(name)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (out->source == NULL)
		out->source = strdup(file);
	r = parse_cloud(&d, m, out);
out:
	yaml_document_delete(&d.d);
	return r;
}

/* ---- files and environment ---- */

/* A file that gave us a password or secret must not be readable by others. */
static int
secret_from(const char *path, const struct os_cloud *c, char *const before[OSF_COUNT])
{
	struct stat st;
	size_t i;

	for (i = 0; i < OSF_COUNT; i++) {
		if (!fields[i].secret || c->f[i] == NULL || c->f[i] == before[i])
			continue;
		if (stat(path, &st) == 0 && (st.st_mode & 0077) != 0) {
			prov_set_error("%s holds %s and is readable or writable by group or "
			    "others (mode %03o): chmod 600 it", path, fields[i].yaml,
			    (unsigned int)(st.st_mode & 0777));
			return -EPERM;
		}
	}
	return 0;
}

static int
read_parse(const char *path, const char *cloud, struct os_cloud *c, int *found)
{
	char *before[OSF_COUNT];
	struct buf b;
	int r;

	memcpy(before, c->f, sizeof(before));
	buf_init(&b, CLOUDS_MAX);
	if ((r = file_read(path, CLOUDS_MAX, &b)) < 0) {
		prov_set_error("%s: cannot read: %s", path, strerror(-r));
		goto out;
	}
	if ((r = os_clouds_parse(b.data, b.len, path, cloud, c, found)) == 0)
		r = secret_from(path, c, before);
out:
	buf_free(&b);                      /* may hold secrets */
	return r;
}

/* The first existing file among the search path; NULL if none. */
static const char *
search(const char *override, const char *base, char *out, size_t len)
{
	static const char *const exts[] = { "yaml", "yml" };
	const char *home = getenv("HOME");
	const char *dirs[3] = { ".", NULL, "/etc/openstack" };
	char homedir[512];
	size_t i, j;

	if (override != NULL && *override != '\0') {
		if (access(override, R_OK) == 0) {
			cr_strlcpy(out, override, len);
			return out;
		}
	}
	if (home != NULL && *home != '\0') {
		snprintf(homedir, sizeof(homedir), "%s/.config/openstack", home);
		dirs[1] = homedir;
	}
	for (i = 0; i < ARRAY_SIZE(dirs); i++) {
		for (j = 0; dirs[i] != NULL && j < ARRAY_SIZE(exts); j++) {
			snprintf(out, len, "%s/%s.%s", dirs[i], base, exts[j]);
			if (access(out, R_OK) == 0)
				return out;
		}
	}
	return NULL;
}

static int
env_any(void)
{
	const char *s = getenv("OS_AUTH_URL");

	return s != NULL && *s != '\0';
}

static void
env_overlay(struct os_cloud *c)
{
	const char *s;
	size_t i;

	for (i = 0; i < OSF_COUNT; i++) {
		s = getenv(fields[i].env);
		if ((s == NULL || *s == '\0') && fields[i].env2 != NULL)
			s = getenv(fields[i].env2);
		if (s != NULL && *s != '\0')
			set_field(c, (enum os_field)i, s);
	}
}

int
os_clouds_load(struct os_cloud *c)
{
	const char *cloud = getenv("OS_CLOUD"), *cf = getenv("OS_CLIENT_CONFIG_FILE");
	char path[600], spath[600];
	const char *file, *sfile;
	int r, found = 0, sfound = 0;

	memset(c, 0, sizeof(*c));
	c->verify = 1;
	if (cloud != NULL && *cloud == '\0')
		cloud = NULL;
	if (cf != NULL && *cf != '\0' && access(cf, R_OK) != 0) {
		prov_set_error("OS_CLIENT_CONFIG_FILE=%s: %s", cf, strerror(errno));
		return -ENOENT;
	}
	file = search(cf, "clouds", path, sizeof(path));
	/* OS_* alone, no cloud named: the "envvars" cloud, no file read. */
	if (cloud == NULL && env_any() && (cf == NULL || *cf == '\0'))
		file = NULL;
	if (file != NULL && (r = read_parse(file, cloud, c, &found)) < 0)
		goto out;
	sfile = search(getenv("OS_CLIENT_SECURE_FILE"), "secure", spath, sizeof(spath));
	if (sfile != NULL && (found || cloud != NULL) &&
	    (r = read_parse(sfile, cloud != NULL ? cloud : c->name, c, &sfound)) < 0)
		goto out;
	if (!found && !sfound) {
		if (cloud != NULL && strcmp(cloud, "envvars") != 0) {
			prov_set_error("OS_CLOUD=%s: no such cloud in %s", cloud,
			    file != NULL ? file : "clouds.yaml (none found: ./, "
			    "~/.config/openstack/, /etc/openstack/)");
			r = -ENOENT;
			goto out;
		}
		if (!env_any()) {
			prov_set_error("no OpenStack credentials: no clouds.yaml (OS_CLIENT_CONFIG_FILE, "
			    "./, ~/.config/openstack/, /etc/openstack/) and no OS_AUTH_URL");
			r = -ENOENT;
			goto out;
		}
		free(c->name);
		c->name = strdup("envvars");
		free(c->source);
		c->source = strdup("environment");
	}
	env_overlay(c);
	r = os_cloud_finish(c);
out:
	if (r < 0)
		os_cloud_free(c);
	return r;
}

static const char *
norm_interface(const char *s)
{
	if (s == NULL)
		return "public";
	if (strcmp(s, "public") == 0 || strcmp(s, "publicURL") == 0)
		return "public";
	if (strcmp(s, "internal") == 0 || strcmp(s, "internalURL") == 0)
		return "internal";
	if (strcmp(s, "admin") == 0 || strcmp(s, "adminURL") == 0)
		return "admin";
	return NULL;
}

static int
need(const struct os_cloud *c, int ok, const char *what)
{
	if (ok)
		return 0;
	prov_set_error("OpenStack cloud \"%s\" (%s): %s", c->name ? c->name : "?",
	    c->source ? c->source : "?", what);
	return -EINVAL;
}

int
os_cloud_finish(struct os_cloud *c)
{
	const char *t = c->f[OSF_AUTH_TYPE], *itf;
	char **f = c->f;
	int r;

	if (t == NULL)
		c->type = f[OSF_APPCRED_SECRET] != NULL ? OS_AUTH_APPCRED : OS_AUTH_PASSWORD;
	else if (strcmp(t, "password") == 0 || strcmp(t, "v3password") == 0)
		c->type = OS_AUTH_PASSWORD;
	else if (strcmp(t, "v3applicationcredential") == 0 ||
	    strcmp(t, "applicationcredential") == 0 || strcmp(t, "application_credential") == 0)
		c->type = OS_AUTH_APPCRED;
	else
		return need(c, 0, "auth_type: only password and v3applicationcredential "
		    "are supported");
	if ((r = need(c, c->verify, "verify: false is refused (TLS verification is never "
	    "turned off; add the CA with CLOUDROUTE_CA_BUNDLE)")) < 0 ||
	    (r = need(c, f[OSF_AUTH_URL] != NULL, "auth.auth_url is missing")) < 0)
		return r;
	if ((itf = norm_interface(f[OSF_INTERFACE])) == NULL)
		return need(c, 0, "interface: expected public, internal or admin");
	set_field(c, OSF_INTERFACE, itf);
	if (c->type == OS_AUTH_APPCRED) {
		if ((r = need(c, f[OSF_APPCRED_SECRET] != NULL,
		    "auth.application_credential_secret is missing")) < 0)
			return r;
		return need(c, f[OSF_APPCRED_ID] != NULL || (f[OSF_APPCRED_NAME] != NULL &&
		    (f[OSF_USER_ID] != NULL || f[OSF_USERNAME] != NULL)),
		    "auth.application_credential_id (or _name with username or user_id) "
		    "is missing");
	}
	if ((r = need(c, f[OSF_PASSWORD] != NULL, "auth.password is missing")) < 0)
		return r;
	return need(c, f[OSF_USER_ID] != NULL || f[OSF_USERNAME] != NULL,
	    "auth.username or auth.user_id is missing");
}
