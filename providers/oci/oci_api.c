/*
 * The OCI API client: signed HTTPS requests (oci_sign.c) through http_do,
 * with retries (retry.h).  Used for the Core Services API (base
 * https://iaas.<region>.<realm domain>, paths under /20160918) and for the
 * federation endpoint (base https://auth.<region>.<realm domain>, POST
 * /v1/x509, signed with the instance certificate's key).
 *
 * Failures: 429 and 5xx back off (Retry-After honoured) and are retried;
 * 401 makes instance principals fetch a new security token once; 412 is
 * the etag race the caller resolves (-ESTALE); 404 is explained, because
 * OCI answers NotAuthorizedOrNotFound both for a missing resource and a
 * missing IAM policy.  Every error text carries the opc-request-id.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "oci.h"
#include "providers/http.h"
#include "providers/retry.h"

#define CONTENT_TYPE "application/json"

void
oci_result_init(struct oci_result *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->body, HTTP_MAX_RESPONSE);
}

void
oci_result_free(struct oci_result *r)
{
	buf_free(&r->body);
}

int
oci_endpoint(const char *env, const char *service, const char *region,
    const char *realm_domain, char *out, size_t len)
{
	const char *s = env != NULL ? getenv(env) : NULL;
	size_t n;

	if (s != NULL && *s != '\0') {
		if (cr_strlcpy(out, s, len) >= len)
			return -ENAMETOOLONG;
	} else if ((size_t)snprintf(out, len, "https://%s.%s.%s", service, region,
	    realm_domain != NULL && *realm_domain ? realm_domain : "oraclecloud.com") >= len) {
		return -ENAMETOOLONG;
	}
	n = strlen(out);
	while (n > 0 && out[n - 1] == '/')
		out[--n] = '\0';
	return 0;
}

/*
 * Servers may refuse a signature they have seen before (replay
 * protection), and RSA PKCS#1 v1.5 signatures are deterministic: the same
 * request signed twice within one second of Date is byte-identical.  The
 * signing strings of this thread's recent requests are remembered; a
 * repeat waits for the next second and is signed again.
 */
#define RECENT 32
static __thread unsigned char recent[RECENT][32];
static __thread unsigned int recent_next;

static int
seen_recently(const struct buf *ss, int remember)
{
	unsigned char md[32];
	unsigned int i;

	if (EVP_Digest(ss->data, ss->len, md, NULL, EVP_sha256(), NULL) != 1)
		return 0;
	for (i = 0; i < RECENT; i++)
		if (memcmp(recent[i], md, sizeof(md)) == 0)
			return 1;
	if (remember) {
		memcpy(recent[recent_next], md, sizeof(md));
		recent_next = (recent_next + 1) % RECENT;
	}
	return 0;
}

/* The signing identity for this attempt. */
static int
key_for(struct oci_api *api, const char **key_id, EVP_PKEY **key)
{
	int r;

	if (api->creds == NULL) {
		*key_id = api->fixed_key_id;
		*key = api->fixed_key;
		return *key != NULL && *key_id != NULL ? 0 : -EINVAL;
	}
	if ((r = oci_creds_refresh(api->creds, 0)) < 0)
		return r;
	*key_id = api->creds->key_id.data;
	*key = api->creds->key;
	return 0;
}

static int
send_once(struct oci_api *api, const char *method, const char *target, const char *body,
    const char *if_match, struct http_response *resp)
{
	struct oci_sign_input in;
	struct oci_signature sig;
	struct http_header h[8];
	struct http_request rq;
	const char *key_id;
	char date[32], url[2048], op[128];
	EVP_PKEY *key;
	size_t nh = 0;
	int r;

	http_response_free(resp);
	memset(resp, 0, sizeof(*resp));
	memset(&sig, 0, sizeof(sig));
	if ((r = key_for(api, &key_id, &key)) < 0)
		return r;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", api->url, target) >= sizeof(url))
		return -ENAMETOOLONG;
	memset(&in, 0, sizeof(in));
	in.method = method;
	in.target = target;
	in.host = api->host;
	in.date = date;
	in.no_host = api->no_host;
	if (oci_method_has_body(method)) {
		in.content_type = CONTENT_TYPE;
		in.body = body != NULL ? body : "";
		in.body_len = strlen(in.body);
	}
	for (;;) {
		oci_http_date(time(NULL), date);
		if ((r = oci_sign(&in, key_id, key, &sig)) < 0) {
			prov_set_error("OCI request signing failed");
			goto out;
		}
		if (!seen_recently(&sig.signing_string, 1))
			break;
		oci_signature_free(&sig);
		/* The next Date second. */
		if ((r = retry_sleep_ms(1000 - wall_ms() % 1000 + 5)) < 0)
			goto out;
	}
	h[nh++] = (struct http_header){ "Host", api->host };
	h[nh++] = (struct http_header){ "Date", date };
	h[nh++] = (struct http_header){ "Accept", CONTENT_TYPE };
	if (in.content_type != NULL) {
		h[nh++] = (struct http_header){ "Content-Type", CONTENT_TYPE };
		h[nh++] = (struct http_header){ "x-content-sha256", sig.content_sha256 };
	}
	if (if_match != NULL && *if_match)
		h[nh++] = (struct http_header){ "if-match", if_match };
	h[nh++] = (struct http_header){ "Authorization", sig.authorization.data };
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.headers = h;
	rq.n_headers = nh;
	rq.body = in.body;
	rq.body_len = in.body_len;
	rq.provider = "oci";
	rq.operation = http_op_name(method, target, 1, op, sizeof(op));   /* after /20160918 */
	r = http_do(&rq, resp);
out:
	oci_signature_free(&sig);
	return r;
}

/* A final failure: -errno with an explanation. */
static int
fail(const char *method, const char *target, const struct oci_result *res,
    const char *code, const char *msg)
{
	const char *rid = res->request_id[0] ? res->request_id : "none";
	const char *hint = "";
	int r = -EIO;

	switch (res->status) {
	case 401:
		hint = "; the request was not authenticated (clock skew over 5 minutes, "
		    "a revoked key, or an instance outside every dynamic group)";
		r = -EACCES;
		break;
	case 403:
		r = -EACCES;
		break;
	case 404:
		hint = "; OCI says this both when the resource does not exist and when no "
		    "IAM policy allows the call: check the dynamic group and its policy "
		    "(contrib/oci/policy.txt)";
		r = -ENOENT;
		break;
	case 409:
		r = -EBUSY;
		break;
	default:
		break;
	}
	prov_set_error("OCI %s %s: HTTP %ld %s: %.300s%s (opc-request-id %s)", method, target,
	    res->status, code[0] ? code : "(no error code)", msg, hint, rid);
	return r;
}

static void
take_result(struct http_response *resp, struct oci_result *res)
{
	res->status = resp->status;
	http_response_header(resp, "ETag", res->etag, sizeof(res->etag));
	http_response_header(resp, "opc-request-id", res->request_id, sizeof(res->request_id));
	http_response_header(resp, "opc-next-page", res->next_page, sizeof(res->next_page));
	buf_reset(&res->body);
}

/* 2 retry now, 1 retry after a delay, 0 success, <0 final error. */
static int
judge(struct oci_api *api, const char *method, const char *target,
    struct http_response *resp, struct oci_result *res, enum retry_class *cls,
    int *refreshed)
{
	char code[128], msg[512];
	int r;

	take_result(resp, res);
	if (resp->status >= 200 && resp->status < 300)
		return buf_append(&res->body, resp->body.data ? resp->body.data : "",
		    resp->body.len);
	oci_json_error(resp->body.data, code, sizeof(code), msg, sizeof(msg));
	if (resp->status == 401 && !*refreshed && api->creds != NULL &&
	    api->creds->kind == OCI_CREDS_INSTANCE) {
		*refreshed = 1;
		*cls = RETRY_SERVER;
		if ((r = oci_creds_refresh(api->creds, 1)) < 0)
			return r;
		return 2;              /* at once, with the new token */
	}
	if (resp->status == 412) {
		prov_set_error("OCI %s %s: etag changed (412 %s, opc-request-id %s)", method,
		    target, code, res->request_id);
		return -ESTALE;
	}
	/* 409 IncorrectState/Conflict: the resource is busy with another update. */
	*cls = resp->status == 409 ? RETRY_SERVER : retry_classify(resp->status, NULL);
	if (*cls != RETRY_FATAL) {
		prov_set_error("OCI %s %s: HTTP %ld %s %.200s (opc-request-id %s)", method,
		    target, resp->status, code, msg, res->request_id);
		return 1;
	}
	return fail(method, target, res, code, msg);
}

int
oci_call(struct oci_api *api, const char *method, const char *path, const char *body,
    const char *if_match, struct oci_result *res)
{
	struct http_response resp = { 0 };
	enum retry_class cls = RETRY_SERVER;
	struct retry_policy pol;
	char target[1600];
	unsigned int attempt;
	uint64_t delay;
	int r = -EIO, refreshed = 0, now = 0;

	if ((size_t)snprintf(target, sizeof(target), "%s%s", api->prefix, path) >=
	    sizeof(target))
		return -ENAMETOOLONG;
	retry_policy_init(&pol);
	for (attempt = 0; attempt < pol.max_attempts; attempt++) {
		if (attempt > 0 && !now) {
			if (retry_delay_ms(&pol, cls, attempt - 1, resp.retry_after, time(NULL),
			    &delay) < 0) {
				prov_set_error("OCI %s %s: server asked to retry after %s; "
				    "giving up", method, target, resp.retry_after);
				r = -EAGAIN;
				goto out;
			}
			log_debug("oci: %s %s retry %u in %llu ms", method, target, attempt,
			    (unsigned long long)delay);
			if ((r = retry_sleep_ms(delay)) < 0)
				goto out;
		}
		r = send_once(api, method, target, body, if_match, &resp);
		api->calls++;
		if (strcmp(method, "GET") != 0)
			api->mutating_calls++;
		if (r < 0 && prov_interrupted() < 0) {
			r = prov_interrupted();    /* cancelled, or past the pass deadline */
			goto out;
		}
		if (r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EIO) {
			cls = RETRY_SERVER;
			continue;
		}
		if (r < 0)
			goto out;
		if ((r = judge(api, method, target, &resp, res, &cls, &refreshed)) <= 0)
			goto out;
		now = r == 2;
	}
	r = cls == RETRY_THROTTLE ? -EAGAIN : -EIO;
	log_warnx("oci: %s %s failed after %u attempts: %s", method, target, pol.max_attempts,
	    prov_last_error());
out:
	http_response_free(&resp);
	return r;
}
