/*
 * GCP identity and credentials: the metadata server client
 * (http://169.254.169.254/computeMetadata/v1/, header "Metadata-Flavor:
 * Google"; CLOUDROUTE_GCP_METADATA_URL or GCE_METADATA_HOST override it) and
 * OAuth 2.0 access tokens, from one of:
 *
 *   GOOGLE_APPLICATION_CREDENTIALS  a service-account key file: a JWT
 *       (RFC 7519) signed RS256 with its private key is exchanged at its
 *       token_uri for an access token (RFC 7523 jwt-bearer grant);
 *   otherwise                       the instance's default service account:
 *       GET instance/service-accounts/default/token.
 *
 * A token is cached until 2 minutes (at most half its lifetime) before it
 * expires.  Tokens, keys and assertions are wiped after use; none is logged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "gcp.h"
#include "providers/http.h"
#include "providers/metadata.h"
#include "providers/retry.h"
#include "providers/sigv4.h"

#define TOKEN_MARGIN_MS 120000ULL

void
gcp_md_init(struct gcp_md *m, long timeout_ms)
{
	const char *s;

	memset(m, 0, sizeof(*m));
	m->timeout_ms = timeout_ms;
	m->explicit_url = prov_md_base(m->base, sizeof(m->base), "CLOUDROUTE_GCP_METADATA_URL",
	    NULL);
	if (!m->explicit_url && (s = getenv("GCE_METADATA_HOST")) != NULL && *s) {
		/* The client libraries' variable: host[:port], plain http (a
		 * value that already has a scheme is taken as it is). */
		snprintf(m->base, sizeof(m->base), "%s%s",
		    strstr(s, "://") != NULL ? "" : "http://", s);
		prov_md_trim(m->base);
		m->explicit_url = 1;
	}
}

int
gcp_md_get(struct gcp_md *m, const char *path, struct buf *out)
{
	return gcp_md_get_flavor(m, path, out, 0);
}

int
gcp_md_get_flavor(struct gcp_md *m, const char *path, struct buf *out, int need_flavor)
{
	char flavor[32];
	struct http_header h[1] = { { "Metadata-Flavor", "Google" } };
	struct http_request rq;
	struct http_response resp = { 0 };
	char url[1024];
	unsigned int attempt;
	int r;

	snprintf(url, sizeof(url), "%s/computeMetadata/v1/%s", m->base, path);
	prov_md_request(&rq, "GET", url, h, 1, m->timeout_ms, m->explicit_url);
	rq.max_response = 256 << 10;
	rq.provider = "gcp";
	rq.operation = strstr(path, "/token") != NULL ? "metadata.token" : "metadata.get";
	for (attempt = 0;; attempt++) {
		if ((r = http_do(&rq, &resp)) < 0)
			break;
		/* The metadata server answers 503 while it is starting. */
		if ((resp.status == 503 || resp.status == 429) && attempt < 2) {
			http_response_free(&resp);
			if ((r = retry_sleep_ms(200ULL << attempt)) < 0)
				return r;
			continue;
		}
		if (resp.status == 200 && need_flavor &&
		    (http_response_header(&resp, "Metadata-Flavor", flavor, sizeof(flavor)) != 1 ||
		    strcmp(flavor, "Google") != 0)) {
			/* Something answers, but not a GCE metadata server. */
			prov_set_error("metadata %s: no \"Metadata-Flavor: Google\" in the answer", path);
			r = -EPROTO;
		} else if (resp.status == 200) {
			buf_reset(out);
			r = buf_append(out, resp.body.data, resp.body.len);
		} else if (resp.status == 404) {
			r = -ENOENT;
		} else {
			prov_set_error("metadata %s: HTTP %ld", path, resp.status);
			r = -EIO;
		}
		break;
	}
	http_response_free(&resp);
	return r;
}

/* ---- JWT (RFC 7515 compact serialisation, RS256) ---- */

int
gcp_base64url(const void *p, size_t n, struct buf *out)
{
	struct buf b;
	size_t i;
	int r;

	buf_init(&b, 4 * (n / 3 + 2) + 16);
	if ((r = prov_base64(p, n, &b)) == 0) {
		for (i = 0; i < b.len && b.data[i] != '='; i++)
			b.data[i] = b.data[i] == '+' ? '-' : b.data[i] == '/' ? '_' : b.data[i];
		r = buf_append(out, b.data, i);
	}
	buf_free(&b);
	return r;
}

static int
b64_json(struct json_object *o, struct buf *out)
{
	size_t len;
	const char *s = json_object_to_json_string_length(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);

	return s != NULL ? gcp_base64url(s, len, out) : -ENOMEM;
}

int
gcp_jwt_assertion(const struct gcp_sa_key *k, const char *scope, time_t now,
    struct buf *out)
{
	struct json_object *hdr = json_object_new_object(), *cl = json_object_new_object();
	struct buf sig;
	int r;

	buf_init(&sig, 4096);
	buf_reset(out);
	json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
	json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
	if (k->private_key_id[0])
		json_object_object_add(hdr, "kid", json_object_new_string(k->private_key_id));
	json_object_object_add(cl, "iss", json_object_new_string(k->client_email));
	json_object_object_add(cl, "scope", json_object_new_string(scope));
	json_object_object_add(cl, "aud", json_object_new_string(k->token_uri));
	json_object_object_add(cl, "iat", json_object_new_int64((int64_t)now));
	json_object_object_add(cl, "exp", json_object_new_int64((int64_t)now + 3600));
	if ((r = b64_json(hdr, out)) < 0 || (r = buf_puts(out, ".")) < 0 ||
	    (r = b64_json(cl, out)) < 0)
		goto out;
	if ((r = prov_rsa_sha256_sign(k->private_key, k->private_key_len, out->data,
	    out->len, &sig)) < 0) {
		prov_set_error("service-account key: cannot sign with private_key "
		    "(not an RSA PEM key?)");
		goto out;
	}
	if ((r = buf_puts(out, ".")) == 0)
		r = gcp_base64url(sig.data, sig.len, out);
out:
	buf_free(&sig);
	json_object_put(hdr);
	json_object_put(cl);
	return r;
}

/* ---- tokens ---- */

int
gcp_auth_init(struct gcp_auth *a, struct gcp_md *m)
{
	const char *path = getenv("GOOGLE_APPLICATION_CREDENTIALS");
	struct buf b;
	int r = 0;

	memset(a, 0, sizeof(*a));
	a->md = m;
	buf_init(&a->token, 16384);
	if (path == NULL || !*path)
		return 0;
	buf_init(&b, 64 << 10);
	if ((r = file_read_secret(path, 64 << 10, &b)) < 0) {
		prov_set_error("GOOGLE_APPLICATION_CREDENTIALS %s: %s", path,
		    r == -EPERM ? "refused (see the log: mode or file type)" : strerror(-r));
		goto out;
	}
	if ((r = gcp_json_sa_key(b.data, b.len, &a->key)) < 0)
		goto out;
	a->use_key = 1;
out:
	buf_free(&b);
	return r;
}

/* The token endpoint's error: {"error":"invalid_grant","error_description":...} */
static void
token_error(const char *where, const struct http_response *resp)
{
	struct json_object *o = json_tokener_parse(resp->body.data), *e = NULL, *d = NULL;
	const char *desc = "";

	if (o != NULL && json_object_is_type(o, json_type_object) &&
	    json_object_object_get_ex(o, "error", &e) &&
	    json_object_is_type(e, json_type_string)) {
		if (json_object_object_get_ex(o, "error_description", &d) &&
		    json_object_is_type(d, json_type_string))
			desc = json_object_get_string(d);
		prov_set_error("%s: HTTP %ld %s%s%s", where, resp->status, json_object_get_string(e),
		    *desc ? ": " : "", desc);
	} else {
		prov_set_error("%s: HTTP %ld", where, resp->status);
	}
	json_object_put(o);
}

static int
token_from_key(struct gcp_auth *a, long *expires_in)
{
	struct http_header h[1] = {
		{ "Content-Type", "application/x-www-form-urlencoded" } };
	struct http_request rq;
	struct http_response resp = { 0 };
	struct buf jwt, body;
	int r;

	buf_init(&jwt, 16384);
	buf_init(&body, 20000);
	memset(&resp, 0, sizeof(resp));
	buf_init(&resp.body, 1);
	if ((r = gcp_jwt_assertion(&a->key, GCP_SCOPE, (time_t)(wall_ms() / 1000), &jwt)) < 0 ||
	    (r = buf_printf(&body, "grant_type=%s&assertion=%s",
	    "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer", jwt.data)) < 0)
		goto out;
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = a->key.token_uri;
	rq.headers = h;
	rq.n_headers = 1;
	rq.body = body.data;
	rq.body_len = body.len;
	rq.max_response = 64 << 10;
	rq.provider = "gcp";
	rq.operation = "oauth2.token";
	http_response_free(&resp);
	if ((r = http_do(&rq, &resp)) < 0)
		goto out;
	if (resp.status != 200) {
		token_error(a->key.token_uri, &resp);
		r = resp.status == 429 || resp.status >= 500 ? -EAGAIN : -EACCES;
		goto out;
	}
	r = gcp_json_token(resp.body.data, resp.body.len, &a->token, expires_in);
out:
	http_response_free(&resp);     /* wipes the token in the body */
	buf_free(&jwt);
	buf_free(&body);
	return r;
}

static int
token_from_metadata(struct gcp_auth *a, long *expires_in)
{
	struct buf b;
	int r;

	buf_init(&b, 64 << 10);
	r = gcp_md_get(a->md, "instance/service-accounts/default/token", &b);
	if (r == -ENOENT)
		prov_set_error("the instance has no service account (metadata "
		    "instance/service-accounts/default/token: 404); attach one or set "
		    "GOOGLE_APPLICATION_CREDENTIALS");
	if (r == 0)
		r = gcp_json_token(b.data, b.len, &a->token, expires_in);
	buf_free(&b);
	return r;
}

int
gcp_auth_token(struct gcp_auth *a, const char **token)
{
	uint64_t now = now_ms(), margin;
	long expires_in = 0;
	int r;

	if (a->expiry_ms != 0 && a->token.len > 0 && now + TOKEN_MARGIN_MS < a->expiry_ms) {
		*token = a->token.data;
		return 0;
	}
	gcp_auth_invalidate(a);
	r = a->use_key ? token_from_key(a, &expires_in) : token_from_metadata(a, &expires_in);
	if (r < 0) {
		buf_reset(&a->token);
		return r;
	}
	/* Short-lived tokens: refresh at half their life instead. */
	margin = (uint64_t)expires_in * 500;
	if (margin > TOKEN_MARGIN_MS)
		margin = TOKEN_MARGIN_MS;
	a->expiry_ms = now + (uint64_t)expires_in * 1000 - margin + TOKEN_MARGIN_MS;
	a->fetches++;
	*token = a->token.data;
	return 0;
}

void
gcp_auth_invalidate(struct gcp_auth *a)
{
	if (a->token.data != NULL)
		OPENSSL_cleanse(a->token.data, a->token.len);
	buf_reset(&a->token);
	a->expiry_ms = 0;
}

void
gcp_auth_wipe(struct gcp_auth *a)
{
	gcp_auth_invalidate(a);
	buf_free(&a->token);
	gcp_sa_key_wipe(&a->key);
}
