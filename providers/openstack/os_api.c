/*
 * The OpenStack HTTP clients: Keystone (POST /v3/auth/tokens, the token
 * kept until min(300 s, a quarter of its lifetime) before expires_at, and
 * renewed once on a 401), Neutron v2.0 (X-Auth-Token, JSON, If-Match for
 * revision checks, retries on 429/503/5xx with Retry-After, NeutronError
 * mapped to -errno and a message) and the metadata service (plain http to
 * 169.254.169.254 or the configured CLOUDROUTE_OPENSTACK_METADATA_URL).
 * Keystone and Neutron are https only.  Every request goes through
 * http_do and every wait through retry_sleep_ms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "os.h"
#include "providers/http.h"
#include "providers/metadata.h"
#include "providers/retry.h"

#define JSON_TYPE        "application/json"

void
os_meta_base(char *out, size_t len, int *explicit_url)
{
	*explicit_url = prov_md_base(out, len, "CLOUDROUTE_OPENSTACK_METADATA_URL", NULL);
}

int
os_client_init(struct os_client *c)
{
	int r;

	memset(c, 0, sizeof(*c));
	os_meta_base(c->meta, sizeof(c->meta), &c->meta_explicit);
	if ((r = os_clouds_load(&c->cloud)) < 0)
		return r;
	if ((r = os_keystone_tokens_url(c->cloud.f[OSF_AUTH_URL],
	    getenv("CLOUDROUTE_OPENSTACK_AUTH_URL"), c->tokens_url, sizeof(c->tokens_url))) < 0)
		return r;
	if (strncmp(c->tokens_url, "https://", 8) != 0) {
		prov_set_error("Keystone URL %s: only https is used (credentials and tokens "
		    "never travel in clear)", c->tokens_url);
		return -EPERM;
	}
	/* The cloud's own CA (clouds.yaml cacert, OS_CACERT) is what the
	 * OpenStack tools trust for it; CLOUDROUTE_CA_BUNDLE, when set, wins. */
	if (c->cloud.f[OSF_CACERT] != NULL && *c->cloud.f[OSF_CACERT]) {
		const char *env = getenv("CLOUDROUTE_CA_BUNDLE");

		if (env != NULL && *env) {
			log_warnx("openstack: cacert %s of cloud %s is not used: "
			    "CLOUDROUTE_CA_BUNDLE is set", c->cloud.f[OSF_CACERT], c->cloud.name);
		} else if (access(c->cloud.f[OSF_CACERT], R_OK) < 0) {
			r = -errno;
			prov_set_error("cacert %s of cloud %s (%s): %s", c->cloud.f[OSF_CACERT],
			    c->cloud.name, c->cloud.source, strerror(-r));
			return r;
		} else {
			c->ca_file = c->cloud.f[OSF_CACERT];
		}
	}
	return 0;
}

void
os_client_wipe(struct os_client *c)
{
	os_token_wipe(&c->tok);
	os_endpoint_free(&c->ep);
	os_cloud_free(&c->cloud);
}

static void
request(struct http_request *rq, const char *method, const char *url,
    const struct http_header *h, size_t nh, const char *body)
{
	memset(rq, 0, sizeof(*rq));
	rq->method = method;
	rq->url = url;
	rq->headers = h;
	rq->n_headers = nh;
	rq->body = body;
	rq->body_len = body != NULL ? strlen(body) : 0;
	rq->connect_timeout_ms = 5000;
	rq->timeout_ms = 30000;
	rq->provider = "openstack";
}

static int
set_neutron(struct os_client *c)
{
	size_t n;

	if (strncmp(c->ep.url, "https://", 8) != 0) {
		prov_set_error("Neutron endpoint %s from the catalog: only https is used",
		    c->ep.url);
		return -EPERM;
	}
	cr_strlcpy(c->neutron, c->ep.url, sizeof(c->neutron) - 8);
	n = strlen(c->neutron);
	while (n > 0 && c->neutron[n - 1] == '/')
		c->neutron[--n] = '\0';
	if (n < 5 || strcmp(c->neutron + n - 5, "/v2.0") != 0)
		cr_strlcpy(c->neutron + n, "/v2.0", sizeof(c->neutron) - n);
	return 0;
}

static int
auth_failed(struct os_client *c, const struct http_response *resp)
{
	struct os_neutron_error e;

	if (os_json_error(resp->body.data ? resp->body.data : "", resp->body.len, &e) < 0)
		e.message[0] = '\0';
	prov_set_error("Keystone %s: HTTP %ld%s%.300s (cloud \"%s\" from %s, %s)",
	    c->tokens_url, resp->status, e.message[0] ? ": " : "", e.message, c->cloud.name,
	    c->cloud.source, c->cloud.type == OS_AUTH_APPCRED ? "application credential" :
	    "password");
	return resp->status == 401 || resp->status == 403 ? -EACCES : -EIO;
}

int
os_client_auth(struct os_client *c)
{
	struct http_header h[2] = { { "Content-Type", JSON_TYPE }, { "Accept", JSON_TYPE } };
	struct http_response resp;
	struct http_request rq;
	struct retry_policy pol;
	unsigned int attempt;
	char tok[8192];
	struct buf body;
	uint64_t delay;
	int r;

	http_response_init(&resp);
	retry_policy_init(&pol);
	pol.max_attempts = 4;
	buf_init(&body, 1 << 16);
	if ((r = os_keystone_auth_body(&c->cloud, &body)) < 0)
		goto out;
	for (attempt = 0; attempt < pol.max_attempts; attempt++) {
		if (attempt > 0) {
			if (retry_delay_ms(&pol, RETRY_THROTTLE, attempt - 1, resp.retry_after,
			    time(NULL), &delay) < 0)
				break;
			if ((r = retry_sleep_ms(delay)) < 0)
				goto out;
		}
		http_response_free(&resp);
		request(&rq, "POST", c->tokens_url, h, ARRAY_SIZE(h), body.data);
		rq.ca_file = c->ca_file;
		rq.operation = "POST auth/tokens";
		c->auths++;
		if ((r = http_do(&rq, &resp)) < 0) {
			if ((r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EIO) &&
			    prov_interrupted() == 0)
				continue;
			goto out;
		}
		if (retry_classify(resp.status, NULL) != RETRY_FATAL) {
			r = auth_failed(c, &resp);
			continue;
		}
		break;
	}
	if (r < 0)
		goto out;
	if (resp.status != 201 && resp.status != 200) {
		r = auth_failed(c, &resp);
		goto out;
	}
	if (http_response_header(&resp, "X-Subject-Token", tok, sizeof(tok)) != 1 ||
	    tok[0] == '\0') {
		prov_set_error("Keystone %s: no (or an oversized) X-Subject-Token in the answer",
		    c->tokens_url);
		r = -EBADMSG;
		goto out;
	}
	os_token_wipe(&c->tok);
	os_endpoint_free(&c->ep);
	if ((r = os_keystone_parse(resp.body.data, resp.body.len, "network",
	    c->cloud.f[OSF_INTERFACE], c->cloud.f[OSF_REGION], &c->tok, &c->ep)) < 0)
		goto out;
	if ((c->tok.value = strdup(tok)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = set_neutron(c);
	log_debug("openstack: token for cloud %s until %lld, Neutron %s", c->cloud.name,
	    (long long)c->tok.expires_at, c->neutron);
out:
	if (r < 0)
		os_token_wipe(&c->tok);
	explicit_bzero(tok, sizeof(tok));
	http_response_free(&resp);
	buf_free(&body);
	return r;
}

static int
map_status(long status)
{
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EBUSY;
	case 412:
		return -ESTALE;
	default:
		return -EIO;
	}
}

static int
neutron_error(const char *method, const char *path, const struct http_response *resp,
    struct os_neutron_error *err)
{
	err->status = resp->status;
	if (os_json_error(resp->body.data ? resp->body.data : "", resp->body.len, err) < 0) {
		err->type[0] = err->message[0] = '\0';
		prov_set_error("Neutron %s %s: HTTP %ld (%s, not a Neutron error body)", method,
		    path, resp->status, resp->content_type[0] ? resp->content_type : "no type");
	} else {
		prov_set_error("Neutron %s %s: HTTP %ld %s%s%.400s", method, path, resp->status,
		    err->type, err->type[0] ? ": " : "", err->message);
	}
	return map_status(resp->status);
}

/* 409s that a retry can cure (not the port-security refusals). */
static int
transient_conflict(const struct os_neutron_error *e)
{
	static const char *const fixed[] = { "PortSecurityPortHasSecurityGroup",
	    "AddressPairAndPortSecurityRequired", "PortSecurityAndIPRequiredForSecurityGroups",
	    "RouterInterfaceInUseByRoute", "IpAddressInUse", "MacAddressInUse" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		if (strcmp(e->type, fixed[i]) == 0)
			return 0;
	return 1;
}

static int
send_once(struct os_client *c, const char *method, const char *url, const char *body,
    long if_match, struct http_response *resp)
{
	struct http_header h[4];
	struct http_request rq;
	char im[64], op[128];
	size_t nh = 0;

	h[nh++] = (struct http_header){ "X-Auth-Token", c->tok.value };
	h[nh++] = (struct http_header){ "Accept", JSON_TYPE };
	if (body != NULL)
		h[nh++] = (struct http_header){ "Content-Type", JSON_TYPE };
	if (if_match >= 0) {
		snprintf(im, sizeof(im), "revision_number=%ld", if_match);
		h[nh++] = (struct http_header){ "If-Match", im };
	}
	request(&rq, method, url, h, nh, body);
	rq.ca_file = c->ca_file;
	/* "GET ports", "PUT routers/add_extraroutes" (the base ends in /v2.0). */
	rq.operation = http_op_name(method, url + strlen(c->neutron), 0, op, sizeof(op));
	http_response_free(resp);
	c->calls++;
	if (strcmp(method, "GET") != 0)
		c->mutating_calls++;
	return http_do(&rq, resp);
}

int
os_neutron(struct os_client *c, const char *method, const char *path, const char *body,
    long if_match, struct buf *out, struct os_neutron_error *err)
{
	struct http_response resp;
	enum retry_class cls = RETRY_SERVER;
	struct os_neutron_error scratch;
	struct retry_policy pol;
	unsigned int attempt;
	int r = 0, reauth = 0, conflicts = 0;
	uint64_t delay;
	char url[2048];

	if (err == NULL)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	http_response_init(&resp);
	retry_policy_init(&pol);
	for (attempt = 0; attempt < pol.max_attempts; attempt++) {
		if (attempt > 0) {
			if (retry_delay_ms(&pol, cls, attempt - 1, resp.retry_after, time(NULL),
			    &delay) < 0) {
				prov_set_error("Neutron %s %s: asked to retry after %s s; giving up",
				    method, path, resp.retry_after);
				r = -EAGAIN;
				goto out;
			}
			if ((r = retry_sleep_ms(delay)) < 0)
				goto out;
		}
		if (os_token_stale(&c->tok, time(NULL)) && (r = os_client_auth(c)) < 0)
			goto out;
		snprintf(url, sizeof(url), "%s%s", c->neutron, path);
		r = send_once(c, method, url, body, if_match, &resp);
		if ((r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EIO) && prov_interrupted() == 0) {
			cls = RETRY_SERVER;
			continue;
		}
		if (r < 0)
			goto out;
		if (resp.status >= 200 && resp.status <= 299) {
			buf_reset(out);
			r = buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len);
			goto out;
		}
		if (resp.status == 401 && !reauth) {
			/* Revoked or expired early: one fresh token, then the same call. */
			reauth = 1;
			os_token_wipe(&c->tok);
			attempt--;
			resp.retry_after[0] = '\0';
			continue;
		}
		r = neutron_error(method, path, &resp, err);
		cls = retry_classify(resp.status, NULL);
		if (resp.status == 409 && transient_conflict(err) && ++conflicts < 3)
			cls = RETRY_SERVER;      /* a concurrent writer won this round */
		if (cls == RETRY_FATAL)
			goto out;
	}
	if (r >= 0)
		r = -EIO;
	if (cls == RETRY_THROTTLE)
		r = -EAGAIN;
	log_warnx("openstack: %s %s failed after %u attempts: %s", method, path,
	    pol.max_attempts, prov_last_error());
out:
	http_response_free(&resp);
	return r;
}

int
os_meta_get(struct os_client *c, const char *path, long timeout_ms, struct buf *out)
{
	struct http_response resp;
	struct http_request rq;
	char url[1024];
	int r;

	http_response_init(&resp);
	snprintf(url, sizeof(url), "%s%s", c->meta, path);
	request(&rq, "GET", url, NULL, 0, NULL);
	rq.operation = "metadata.get";
	rq.metadata = 1;
	rq.allow_plain_http = c->meta_explicit;
	rq.connect_timeout_ms = timeout_ms < 5000 ? timeout_ms : 5000;
	rq.timeout_ms = timeout_ms;
	rq.max_response = 1 << 20;
	if ((r = http_do(&rq, &resp)) < 0)
		goto out;
	if (resp.status != 200) {
		prov_set_error("OpenStack metadata %s: HTTP %ld", url, resp.status);
		r = resp.status == 404 ? -ENOENT : -EIO;
		goto out;
	}
	buf_reset(out);
	r = buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len);
out:
	http_response_free(&resp);
	return r;
}
