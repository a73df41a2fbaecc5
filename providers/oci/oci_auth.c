/*
 * OCI instance metadata (IMDS v2 only: /opc/v2/ with "Authorization: Bearer
 * Oracle"; v1 is never asked) and credentials.
 *
 * Instance principals, as the SDKs implement them:
 *   1. GET identity/cert.pem, identity/key.pem, identity/intermediate.pem
 *   2. tenancy = the "opc-tenant:" subject attribute of the leaf certificate
 *   3. a fresh 2048-bit RSA session key
 *   4. POST <auth>/v1/x509 {"certificate","publicKey","intermediateCertificates"}
 *      (base64 DER), signed with key.pem, keyId
 *      "<tenancy>/fed-x509/<SHA-1 fingerprint of the leaf>"
 *   5. the answer's token: requests are signed with the session key and
 *      keyId "ST$<token>"
 * The token is renewed 5 minutes before its "exp", on a 401, and when the
 * instance certificate has rotated (checked every 10 minutes).
 *
 * API key: ~/.oci/config (OCI_CONFIG_FILE, profile DEFAULT or
 * OCI_CLI_PROFILE), keyId "<tenancy>/<user>/<fingerprint>"; the key file
 * must not be readable by group or others.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "oci.h"
#include "providers/http.h"
#include "providers/metadata.h"
#include "providers/retry.h"

#define IMDS_MAX          (256u << 10)
#define TOKEN_MARGIN_S    300
#define CERT_CHECK_S      600

void
oci_imds_init(struct oci_imds *m, long timeout_ms)
{
	memset(m, 0, sizeof(*m));
	m->timeout_ms = timeout_ms;
	m->explicit_url = prov_md_base(m->base, sizeof(m->base), "CLOUDROUTE_OCI_METADATA_URL",
	    NULL);
}

static int
imds_once(struct oci_imds *m, const char *url, struct buf *out, long *status)
{
	static const struct http_header h[] = { { "Authorization", "Bearer Oracle" } };
	struct http_response resp = { 0 };
	struct http_request rq;
	int r;

	prov_md_request(&rq, "GET", url, h, ARRAY_SIZE(h), m->timeout_ms, m->explicit_url);
	rq.max_response = IMDS_MAX;
	rq.provider = "oci";
	rq.operation = "metadata.get";
	if ((r = http_do(&rq, &resp)) == 0) {
		*status = resp.status;
		if (resp.status == 200) {
			buf_reset(out);
			r = buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len);
		}
	}
	http_response_free(&resp);
	return r;
}

int
oci_imds_get(struct oci_imds *m, const char *path, struct buf *out)
{
	struct retry_policy pol;
	unsigned int attempt;
	char url[1024];
	long status = 0;
	int r = 0;

	snprintf(url, sizeof(url), "%s/opc/v2/%s", m->base, path);
	retry_policy_init(&pol);
	pol.max_attempts = m->probe ? 1 : 3;
	for (attempt = 0; attempt < pol.max_attempts; attempt++) {
		if (attempt > 0 &&
		    (r = retry_sleep_ms(retry_backoff_ms(&pol, RETRY_SERVER, attempt - 1))) < 0)
			return r;
		status = 0;
		r = imds_once(m, url, out, &status);
		if (r == 0 && status == 200)
			return 0;
		if (r == 0 && status == 404) {
			prov_set_error("OCI instance metadata /opc/v2/%s: not found", path);
			return -ENOENT;
		}
		if (r == 0 && retry_classify(status, NULL) == RETRY_FATAL) {
			prov_set_error("OCI instance metadata /opc/v2/%s: HTTP %ld", path, status);
			return -EIO;
		}
		if (r < 0 && (prov_interrupted() < 0 ||
		    (r != -ETIMEDOUT && r != -ECONNREFUSED && r != -EIO)))
			return r;
	}
	if (r == 0) {
		prov_set_error("OCI instance metadata /opc/v2/%s: HTTP %ld", path, status);
		r = -EIO;
	}
	return r;
}

/* ---- instance principals ---- */

struct identity {
	X509 *leaf, *inter;
	EVP_PKEY *leaf_key;
	char fp[60];
	char tenancy[OCI_OCID_LEN];
};

static void
identity_free(struct identity *id)
{
	X509_free(id->leaf);
	X509_free(id->inter);
	EVP_PKEY_free(id->leaf_key);
	memset(id, 0, sizeof(*id));
}

static int
fetch_identity(struct oci_imds *m, struct identity *id, int with_key)
{
	struct buf b;
	int r;

	memset(id, 0, sizeof(*id));
	buf_init(&b, IMDS_MAX);
	if ((r = oci_imds_get(m, "identity/cert.pem", &b)) < 0)
		goto out;
	r = -EBADMSG;
	if ((id->leaf = oci_pem_cert(b.data, b.len)) == NULL) {
		prov_set_error("OCI instance metadata identity/cert.pem: not a certificate");
		goto out;
	}
	if (oci_cert_fingerprint(id->leaf, id->fp) < 0 ||
	    oci_cert_tenancy(id->leaf, id->tenancy, sizeof(id->tenancy)) < 0) {
		prov_set_error("OCI instance certificate: no opc-tenant in its subject");
		goto out;
	}
	if (!with_key) {
		r = 0;
		goto out;
	}
	if ((r = oci_imds_get(m, "identity/intermediate.pem", &b)) < 0)
		goto out;
	r = -EBADMSG;
	if ((id->inter = oci_pem_cert(b.data, b.len)) == NULL) {
		prov_set_error("OCI instance metadata identity/intermediate.pem: not a certificate");
		goto out;
	}
	if ((r = oci_imds_get(m, "identity/key.pem", &b)) < 0)
		goto out;
	r = -EBADMSG;
	if ((id->leaf_key = oci_pem_key(b.data, b.len, NULL)) == NULL) {
		prov_set_error("OCI instance metadata identity/key.pem: not an RSA key");
		goto out;
	}
	r = 0;
out:
	buf_free(&b);              /* wipes key.pem */
	if (r < 0)
		identity_free(id);
	return r;
}

static int
federation_body(struct identity *id, EVP_PKEY *session, struct buf *body)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	struct buf c, k, i;
	int r = -ENOMEM;

	buf_init(&c, 1u << 16);
	buf_init(&k, 1u << 16);
	buf_init(&i, 1u << 16);
	if (o == NULL || a == NULL)
		goto out;
	if ((r = oci_cert_b64(id->leaf, &c)) < 0 || (r = oci_pubkey_b64(session, &k)) < 0 ||
	    (r = oci_cert_b64(id->inter, &i)) < 0)
		goto out;
	json_object_object_add(o, "certificate", json_object_new_string(c.data));
	json_object_object_add(o, "publicKey", json_object_new_string(k.data));
	json_object_array_add(a, json_object_new_string(i.data));
	json_object_object_add(o, "intermediateCertificates", a);
	a = NULL;
	r = buf_puts(body, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
out:
	json_object_put(a);
	json_object_put(o);
	buf_free(&c);
	buf_free(&k);
	buf_free(&i);
	return r;
}

static int
federate(struct oci_creds *c)
{
	struct identity id;
	struct oci_api auth;
	struct oci_result res;
	struct buf body, key_id, token;
	EVP_PKEY *session = NULL;
	time_t exp = 0;
	int r;

	memset(&auth, 0, sizeof(auth));
	oci_result_init(&res);
	buf_init(&body, 1u << 18);
	buf_init(&key_id, 1024);
	buf_init(&token, 64u << 10);
	if ((r = fetch_identity(c->imds, &id, 1)) < 0)
		goto out;
	if (c->tenancy[0] && strcmp(c->tenancy, id.tenancy) != 0) {
		prov_set_error("OCI instance certificate names tenancy %s, was %s", id.tenancy,
		    c->tenancy);
		r = -EPERM;
		goto out;
	}
	r = -ENOMEM;
	if ((session = oci_rsa_generate()) == NULL)
		goto out;
	if ((r = federation_body(&id, session, &body)) < 0 ||
	    (r = buf_printf(&key_id, "%s/fed-x509/%s", id.tenancy, id.fp)) < 0)
		goto out;
	cr_strlcpy(auth.url, c->auth_url, sizeof(auth.url));
	if ((r = http_url_hostport(auth.url, auth.host, sizeof(auth.host))) < 0) {
		prov_set_error("invalid OCI auth endpoint \"%s\"", auth.url);
		goto out;
	}
	auth.prefix = "";
	auth.no_host = 1;
	auth.fixed_key_id = key_id.data;
	auth.fixed_key = id.leaf_key;
	c->federations++;
	if ((r = oci_call(&auth, "POST", "/v1/x509", body.data, NULL, &res)) < 0)
		goto out;
	if ((r = oci_json_token(res.body.data, &token)) < 0)
		goto out;
	if (oci_jwt_exp(token.data, &exp) < 0) {
		prov_set_error("OCI federation: the security token has no expiry");
		r = -EBADMSG;
		goto out;
	}
	buf_reset(&c->key_id);
	if ((r = buf_printf(&c->key_id, "ST$%s", token.data)) < 0)
		goto out;
	EVP_PKEY_free(c->key);
	c->key = session;
	session = NULL;
	c->expiry = exp;
	cr_strlcpy(c->tenancy, id.tenancy, sizeof(c->tenancy));
	cr_strlcpy(c->cert_fp, id.fp, sizeof(c->cert_fp));
	c->cert_checked = time(NULL);
	log_debug("oci: security token for tenancy %s, certificate %s, expires in %lld s",
	    c->tenancy, c->cert_fp, (long long)(exp - time(NULL)));
out:
	EVP_PKEY_free(session);
	identity_free(&id);
	oci_result_free(&res);         /* wipes the token in the answer */
	buf_free(&body);
	buf_free(&key_id);
	buf_free(&token);
	return r;
}

/* ---- API key ---- */

static int
config_path(char *out, size_t len)
{
	const char *s = getenv("OCI_CONFIG_FILE"), *home = getenv("HOME");

	if (s != NULL && *s != '\0')
		return cr_strlcpy(out, s, len) < len ? 0 : -ENAMETOOLONG;
	if (home == NULL || *home == '\0')
		return -ENOENT;
	return (size_t)snprintf(out, len, "%s/.oci/config", home) < len ? 0 : -ENAMETOOLONG;
}

static int
expand_home(const char *in, char *out, size_t len)
{
	const char *home = getenv("HOME");

	if (strncmp(in, "~/", 2) == 0 && home != NULL)
		return (size_t)snprintf(out, len, "%s/%s", home, in + 2) < len ? 0 : -ENAMETOOLONG;
	return cr_strlcpy(out, in, len) < len ? 0 : -ENAMETOOLONG;
}

static int
api_key(struct oci_creds *c)
{
	const char *profile = getenv("OCI_CLI_PROFILE");
	struct oci_config_profile p;
	char path[1024] = "~/.oci/config", kf[1100];
	struct buf text, pem;
	int r;

	buf_init(&text, 1u << 20);
	buf_init(&pem, 1u << 16);
	if (profile == NULL || *profile == '\0')
		profile = "DEFAULT";
	if ((r = config_path(path, sizeof(path))) < 0 || (r = file_read(path, 1u << 20, &text)) < 0) {
		prov_set_error("OCI config file %s: %s", path, strerror(-r));
		goto out;
	}
	if ((r = oci_config_parse(text.data, path, profile, &p)) < 0)
		goto out;
	r = -EINVAL;
	if (!p.user[0] || !p.tenancy[0] || !p.fingerprint[0] || !p.key_file[0]) {
		prov_set_error("%s [%s]: user, tenancy, fingerprint and key_file are required",
		    path, profile);
		goto out;
	}
	if ((r = expand_home(p.key_file, kf, sizeof(kf))) < 0 ||
	    (r = file_read_secret(kf, 1u << 16, &pem)) < 0) {
		prov_set_error("OCI API key %s: %s", kf, r == -EPERM ?
		    "readable by group or others (chmod 600 it)" : strerror(-r));
		goto out;
	}
	if ((c->key = oci_pem_key(pem.data, pem.len, p.pass_phrase[0] ? p.pass_phrase : NULL))
	    == NULL) {
		prov_set_error("OCI API key %s: not an RSA private key (or wrong pass_phrase)", kf);
		r = -EINVAL;
		goto out;
	}
	c->kind = OCI_CREDS_API_KEY;
	cr_strlcpy(c->tenancy, p.tenancy, sizeof(c->tenancy));
	cr_strlcpy(c->region, p.region, sizeof(c->region));
	r = buf_printf(&c->key_id, "%s/%s/%s", p.tenancy, p.user, p.fingerprint);
out:
	explicit_bzero(&p, sizeof(p));
	buf_free(&text);
	buf_free(&pem);
	return r;
}

int
oci_creds_load(struct oci_creds *c, struct oci_imds *imds, const char *auth_url)
{
	const char *cfg = getenv("OCI_CONFIG_FILE"), *prof = getenv("OCI_CLI_PROFILE");
	char path[1024];
	int r;

	memset(c, 0, sizeof(*c));
	buf_init(&c->key_id, 64u << 10);
	c->imds = imds;
	cr_strlcpy(c->auth_url, auth_url, sizeof(c->auth_url));
	if ((cfg != NULL && *cfg) || (prof != NULL && *prof))
		return api_key(c);
	c->kind = OCI_CREDS_INSTANCE;
	r = federate(c);
	if (r == -ENOENT && config_path(path, sizeof(path)) == 0 && access(path, R_OK) == 0) {
		log_info("oci: no instance identity certificate; using the API key in %s", path);
		return api_key(c);
	}
	return r;
}

/* The instance certificate rotated since the token was issued. */
static int
cert_rotated(struct oci_creds *c)
{
	struct identity id;
	int rotated;

	if (time(NULL) - c->cert_checked < CERT_CHECK_S)
		return 0;
	c->cert_checked = time(NULL);
	if (fetch_identity(c->imds, &id, 0) < 0)
		return 0;                 /* keep the token; federation will tell */
	rotated = strcmp(id.fp, c->cert_fp) != 0;
	identity_free(&id);
	if (rotated)
		log_info("oci: instance certificate rotated; new security token");
	return rotated;
}

int
oci_creds_refresh(struct oci_creds *c, int force)
{
	if (c->kind != OCI_CREDS_INSTANCE)
		return 0;
	if (!force && c->key != NULL && time(NULL) + TOKEN_MARGIN_S < c->expiry &&
	    !cert_rotated(c))
		return 0;
	return federate(c);
}

void
oci_creds_free(struct oci_creds *c)
{
	EVP_PKEY_free(c->key);       /* OpenSSL cleanses key material */
	c->key = NULL;
	buf_free(&c->key_id);        /* wipes the token */
	explicit_bzero(c->cert_fp, sizeof(c->cert_fp));
}
