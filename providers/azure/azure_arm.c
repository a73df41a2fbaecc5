/*
 * Azure Resource Manager client: bearer-token requests with retries and
 * long-running operations.
 *
 * Request: base + resource path + "?api-version=V", "Authorization: Bearer"
 * with the managed-identity token (refetched once after a 401),
 * "Content-Type: application/json" for bodies, "If-Match" when given.
 *
 * Retries (providers/retry.c): 429 and 5xx, and the 409s ARM asks to
 * repeat (RetryableErrorDueToAnotherOperation, AnotherOperationInProgress),
 * waiting at least the answer's Retry-After.  412 is not retried here: the
 * caller re-reads the resource and decides again.
 *
 * Long-running operations (ARM async-operations contract): a write answered
 * with an Azure-AsyncOperation header is polled there until its status is
 * Succeeded (done), Failed or Canceled (error.code/message; a Failed one
 * whose code says RetryableError is sent again); otherwise a
 * 202 with a Location header is polled until that URL stops answering 202.
 * Each poll waits the Retry-After (or retry-after-ms) of the previous
 * answer.  Poll URLs must
 * be on the ARM endpoint itself: the token is never sent anywhere else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "azure.h"
#include "providers/http.h"

#define POLL_WAIT_CAP_MS 60000
#define POLL_DEFAULT_MS  1000

void
az_arm_init(struct az_arm *a, struct az_imds *m)
{
	const char *s = getenv("CLOUDROUTE_AZURE_API_URL");
	size_t n;

	memset(a, 0, sizeof(*a));
	a->imds = m;
	retry_policy_init(&a->policy);
	a->max_polls = 120;
	cr_strlcpy(a->base, s != NULL && *s ? s : "https://management.azure.com",
	    sizeof(a->base));
	n = strlen(a->base);
	while (n > 0 && a->base[n - 1] == '/')
		a->base[--n] = '\0';
}

/* One request with the token; a 401 fetches a new token and tries once more. */
static int
send_auth(struct az_arm *a, const char *method, const char *url, const char *body,
    const char *if_match, struct http_response *resp)
{
	struct http_header h[5];
	struct http_request rq;
	struct buf auth;
	const char *tok, *p, *rel;
	char op[128];
	int r, tries;

	/* The label: resource types after the provider namespace
	 * ("GET routeTables/routes"), else of the whole path. */
	rel = strncmp(url, a->base, strlen(a->base)) == 0 ? url + strlen(a->base) : "";
	p = strstr(rel, "/providers/");
	http_op_name(method, p != NULL ? p + 11 : rel, p != NULL, op, sizeof(op));
	http_response_init(resp);
	buf_init(&auth, AZ_TOKEN_LEN + 16);
	for (tries = 0; tries < 2; tries++) {
		size_t nh = 0;

		if ((r = az_imds_token(a->imds, tries > 0, &tok)) < 0)
			break;
		buf_reset(&auth);
		if ((r = buf_printf(&auth, "Bearer %s", tok)) < 0)
			break;
		h[nh++] = (struct http_header){ "Authorization", auth.data };
		h[nh++] = (struct http_header){ "Accept", "application/json" };
		if (body != NULL)
			h[nh++] = (struct http_header){ "Content-Type", "application/json" };
		if (if_match != NULL && *if_match)
			h[nh++] = (struct http_header){ "If-Match", if_match };
		memset(&rq, 0, sizeof(rq));
		rq.method = method;
		rq.url = url;
		rq.headers = h;
		rq.n_headers = nh;
		rq.body = body;
		rq.body_len = body != NULL ? strlen(body) : 0;
		rq.provider = "azure";
		rq.operation = op;
		if (tries > 0)
			http_response_free(resp);
		a->calls++;
		if (strcmp(method, "GET") != 0)
			a->mutating_calls++;
		r = http_do(&rq, resp);
		if (r < 0 || resp->status != 401)
			break;
		log_debug("azure: ARM answered 401, fetching a new token");
	}
	buf_free(&auth);
	return r;
}

/* Which RBAC action a request needs, for AuthorizationFailed messages. */
static void
rbac_action(const char *method, const char *path, char *out, size_t len)
{
	const char *p = strstr(path, "/providers/");
	size_t n = 0, seg = 0;
	const char *q;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("/providers/");
	/* Namespace, then every other segment (types, not names). */
	for (q = p; *q && *q != '?' && n + 1 < len; q++) {
		if (*q == '/')
			seg++;
		if (seg == 0 || seg % 2 == 1)
			out[n++] = *q;
	}
	out[n] = '\0';
	snprintf(out + n, len - n, "/%s", strcmp(method, "GET") == 0 ? "read" :
	    strcmp(method, "DELETE") == 0 ? "delete" : "write");
}

/* The action ARM says is missing: "...does not have authorization to
 * perform action 'X'..." or (linked) "...does not have permission to
 * perform action(s) 'X' on the linked scope(s)...".  0 or -ENOENT. */
static int
missing_action(const char *msg, char *out, size_t len)
{
	static const char *const keys[] = {
		"not have permission to perform action(s) '",
		"not have permission to perform action '",
		"not have authorization to perform action '",
	};
	const char *p = NULL, *e;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(keys) && p == NULL; i++)
		if ((p = strstr(msg, keys[i])) != NULL)
			p += strlen(keys[i]);
	if (p == NULL || (e = strchr(p, '\'')) == NULL || (size_t)(e - p) >= len)
		return -ENOENT;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

static int
map_error(const char *method, const char *path, struct az_error *e)
{
	char act[256];

	if (strcmp(e->code, "AuthorizationFailed") == 0 ||
	    strcmp(e->code, "LinkedAuthorizationFailed") == 0 || e->status == 403) {
		/* The action first: ARM's message is long (ids, scopes). */
		if (missing_action(e->message, act, sizeof(act)) < 0)
			rbac_action(method, path, act, sizeof(act));
		prov_set_error("ARM %s %s: %s: the managed identity lacks %s (%s)", method,
		    az_id_name(path), e->code[0] ? e->code : "HTTP 403", act, e->message);
		return -EACCES;
	}
	prov_set_error("ARM %s %s: HTTP %ld%s%s: %s%s%s%s", method, path, e->status,
	    e->code[0] ? " " : "", e->code, e->message,
	    e->request_id[0] ? " (x-ms-request-id " : "", e->request_id,
	    e->request_id[0] ? ")" : "");
	switch (e->status) {
	case 404:
		return -ENOENT;
	case 412:
		return -ESTALE;
	case 409:
		return -EEXIST;
	case 429:
		return -EAGAIN;
	case 400:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/*
 * Codes that say "the same request later": another operation holds the
 * resource, or one it references is still Updating
 * (ReferencedResourceNotProvisioned, often wrapped as RetryableError, both
 * as an answer and as the error of a Failed operation).
 */
int
az_error_retryable(const char *code)
{
	static const char *const codes[] = { "RetryableErrorDueToAnotherOperation",
	    "AnotherOperationInProgress", "TooManyRequests", "RetryableError",
	    "ReferencedResourceNotProvisioned" };
	size_t i;

	for (i = 0; i < ARRAY_SIZE(codes); i++)
		if (strcmp(code, codes[i]) == 0)
			return 1;
	return 0;
}

static enum retry_class
classify(const struct az_error *e)
{
	if (az_error_retryable(e->code))
		return RETRY_THROTTLE;
	return retry_classify(e->status, NULL);
}

#define ARM_DEFAULT "https://management.azure.com"

/*
 * See azure.h.  */
int
az_arm_link(const struct az_arm *a, const char *url, char *out, size_t len)
{
	size_t n = strlen(a->base), d = strlen(ARM_DEFAULT);

	if (strncasecmp(url, a->base, n) == 0 && url[n] == '/')
		return cr_strlcpy(out, url, len) < len ? 0 : -ENAMETOOLONG;
	if (strncasecmp(url, ARM_DEFAULT, d) == 0 && (url[d] == '/' ||
	    strncmp(url + d, ":443/", 5) == 0)) {
		url += d + (url[d] == ':' ? 4 : 0);
		return snprintf(out, len, "%s%s", a->base, url) < (int)len ? 0 : -ENAMETOOLONG;
	}
	return -EBADMSG;
}

/*
 * The answer's wait hint as a Retry-After value: Azure services may give it
 * in milliseconds, "retry-after-ms" or "x-ms-retry-after-ms" (the Azure SDKs
 * honour those first), rounded up to seconds here; else Retry-After.
 */
const char *
az_retry_after(const struct http_response *resp, char *buf, size_t len)
{
	static const char *const names[] = { "retry-after-ms", "x-ms-retry-after-ms" };
	unsigned long ms;
	char v[32];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (http_response_header(resp, names[i], v, sizeof(v)) == 1 &&
		    cr_parse_ulong(v, 0, 86400000UL, &ms) == 0) {
			snprintf(buf, len, "%lu", (ms + 999) / 1000);
			return buf;
		}
	return resp->retry_after;
}

static uint64_t
poll_wait(const struct az_arm *a, const struct http_response *resp, unsigned int i)
{
	const char *ra;
	char hint[32];
	uint64_t ms;

	ra = az_retry_after(resp, hint, sizeof(hint));
	if (ra[0] && retry_after_parse(ra, time(NULL), &ms) == 0)
		return ms < POLL_WAIT_CAP_MS ? ms : POLL_WAIT_CAP_MS;
	ms = (uint64_t)a->policy.base_ms << (i < 4 ? i : 4);
	return ms < POLL_DEFAULT_MS ? ms : POLL_DEFAULT_MS;
}

/*
 * Follows one operation.  async: poll the Azure-AsyncOperation URL (status
 * document); else poll Location (202 = not yet).  first: the answer that
 * started it (for its Retry-After).
 */
enum az_lro_step
az_lro_step(enum az_poll_kind kind, long status, const char *body, size_t len,
    struct az_error *err)
{
	enum az_op_status st;
	int r;

	memset(err, 0, sizeof(*err));
	if (status == 429 || status >= 500 || status == 202)
		return AZ_LRO_WAIT;             /* throttled or not done: ask again */
	if (kind == AZ_POLL_LOCATION && status >= 200 && status < 300)
		return AZ_LRO_DONE;
	if (status != 200) {
		az_json_error(body, len, status, err);
		return AZ_LRO_ERROR;
	}
	if (kind == AZ_POLL_RESOURCE)
		r = az_json_provisioning_state(body, len, &st);
	else
		r = az_json_op_status(body, len, &st, err);
	if (r < 0) {
		err->status = status;
		cr_strlcpy(err->message, prov_last_error(), sizeof(err->message));
		return AZ_LRO_ERROR;
	}
	switch (st) {
	case AZ_OP_SUCCEEDED:
		return AZ_LRO_DONE;
	case AZ_OP_FAILED:
		return AZ_LRO_FAILED;
	case AZ_OP_CANCELED:
		return AZ_LRO_CANCELED;
	default:
		return AZ_LRO_WAIT;
	}
}

static int
poll_op(struct az_arm *a, const char *method, const char *path, const char *link,
    enum az_poll_kind kind, const struct http_response *first, struct buf *out,
    struct az_error *err)
{
	struct http_response resp = { 0 };
	enum az_lro_step step;
	uint64_t wait = poll_wait(a, first, 0);
	char url[2048];
	unsigned int i;
	int r;

	if ((r = az_arm_link(a, link, url, sizeof(url))) < 0) {
		prov_set_error("ARM %s %s: operation URL %s is not on %s: not followed",
		    method, path, link, a->base);
		return r;
	}
	for (i = 0; i < a->max_polls; i++) {
		if ((r = retry_sleep_ms(wait)) < 0)
			return r;
		if ((r = send_auth(a, "GET", url, NULL, NULL, &resp)) < 0) {
			http_response_free(&resp);
			if ((r = prov_interrupted()) < 0)
				return r;
			wait = retry_backoff_ms(&a->policy, RETRY_SERVER, i);
			continue;               /* a lost poll is asked again */
		}
		wait = poll_wait(a, &resp, i + 1);
		step = az_lro_step(kind, resp.status, resp.body.data, resp.body.len, err);
		if (step == AZ_LRO_DONE && kind != AZ_POLL_ASYNC) {
			buf_reset(out);        /* the final answer is the result */
			r = buf_append(out, resp.body.data, resp.body.len);
			http_response_free(&resp);
			return r;
		}
		http_response_free(&resp);
		switch (step) {
		case AZ_LRO_WAIT:
			continue;
		case AZ_LRO_DONE:
			return 0;
		case AZ_LRO_ERROR:
			return map_error(method, path, err);
		default:
			prov_set_error("ARM %s %s: operation %s%s%s%s%s", method, path,
			    step == AZ_LRO_FAILED ? "Failed" : "Canceled", err->code[0] ? ": " : "",
			    err->code, err->message[0] ? ": " : "", err->message);
			/* A Failed operation that asks to be repeated: the caller
			 * sends the request again. */
			return step == AZ_LRO_FAILED && az_error_retryable(err->code) ? -EAGAIN :
			    -EIO;
		}
	}
	prov_set_error("ARM %s %s: operation still running after %u polls", method, path,
	    a->max_polls);
	return -ETIMEDOUT;
}

/*
 * A 2xx answer: done, or an operation to follow: Azure-AsyncOperation, else
 * Location on a 202, else (a PUT) the resource itself while its
 * provisioningState is not terminal.
 */
static int
finish(struct az_arm *a, const char *method, const char *req_url, const char *path,
    struct http_response *resp, struct buf *out, struct az_error *err)
{
	enum az_op_status st;
	char url[2048];
	int r;

	buf_reset(out);
	if ((r = buf_append(out, resp->body.data, resp->body.len)) < 0)
		return r;
	if (strcmp(method, "GET") == 0)
		return 0;
	if (http_response_header(resp, "Azure-AsyncOperation", url, sizeof(url)) == 1)
		return poll_op(a, method, path, url, AZ_POLL_ASYNC, resp, out, err);
	if (resp->status == 202 &&
	    http_response_header(resp, "Location", url, sizeof(url)) == 1)
		return poll_op(a, method, path, url, AZ_POLL_LOCATION, resp, out, err);
	if (strcmp(method, "PUT") == 0 && resp->body.len > 0 &&
	    az_json_provisioning_state(resp->body.data, resp->body.len, &st) == 0 &&
	    st == AZ_OP_IN_PROGRESS)
		return poll_op(a, method, path, req_url, AZ_POLL_RESOURCE, resp, out, err);
	return 0;
}

static int
call_url(struct az_arm *a, const char *method, const char *url, const char *path,
    const char *body, const char *if_match, struct buf *resp_out, struct az_error *err)
{
	struct http_response resp = { 0 };
	enum retry_class cls;
	unsigned int attempt;
	uint64_t ms;
	char hint[32];
	int r = -EIO;

	for (attempt = 0; attempt < a->policy.max_attempts; attempt++) {
		if ((r = send_auth(a, method, url, body, if_match, &resp)) < 0) {
			http_response_free(&resp);
			if (r == -EPERM || r == -EPROTO || attempt + 1 == a->policy.max_attempts ||
			    a->imds->token[0] == '\0' || prov_interrupted() < 0)
				return r;
			if ((r = retry_sleep_ms(retry_backoff_ms(&a->policy, RETRY_SERVER,
			    attempt))) < 0)
				return r;
			continue;
		}
		if (resp.status >= 200 && resp.status < 300) {
			r = finish(a, method, url, path, &resp, resp_out, err);
			http_response_free(&resp);
			if (r != -EAGAIN || attempt + 1 == a->policy.max_attempts ||
			    prov_interrupted() < 0)
				return r;
			log_debug("azure: %s %s: %s; sending it again", method, path,
			    prov_last_error());
			if ((r = retry_sleep_ms(retry_backoff_ms(&a->policy, RETRY_THROTTLE,
			    attempt))) < 0)
				return r;
			r = -EAGAIN;
			continue;
		}
		az_json_error(resp.body.data, resp.body.len, resp.status, err);
		/* The id Azure support asks for (never a secret). */
		if (http_response_header(&resp, "x-ms-request-id", err->request_id,
		    sizeof(err->request_id)) != 1)
			err->request_id[0] = '\0';
		cls = classify(err);
		if (cls == RETRY_FATAL || attempt + 1 == a->policy.max_attempts ||
		    retry_delay_ms(&a->policy, cls, attempt, az_retry_after(&resp, hint,
		    sizeof(hint)), time(NULL), &ms) < 0) {
			http_response_free(&resp);
			return map_error(method, path, err);
		}
		log_debug("azure: %s %s: HTTP %ld %s, retrying in %llu ms", method, path,
		    resp.status, err->code, (unsigned long long)ms);
		http_response_free(&resp);
		if ((r = retry_sleep_ms(ms)) < 0)
			return r;
		r = -EAGAIN;
	}
	return r;
}

int
az_arm_call(struct az_arm *a, const char *method, const char *path,
    const char *api_version, const char *body, const char *if_match,
    struct buf *resp_out, struct az_error *err_out)
{
	struct az_error e, *err = err_out != NULL ? err_out : &e;
	char url[2048];

	memset(err, 0, sizeof(*err));
	if (snprintf(url, sizeof(url), "%s%s%sapi-version=%s", a->base, path,
	    strchr(path, '?') != NULL ? "&" : "?", api_version) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	return call_url(a, method, url, path, body, if_match, resp_out, err);
}

int
az_arm_get_link(struct az_arm *a, const char *link, struct buf *resp_out,
    struct az_error *err_out)
{
	struct az_error e, *err = err_out != NULL ? err_out : &e;
	char url[2048];
	int r;

	memset(err, 0, sizeof(*err));
	if ((r = az_arm_link(a, link, url, sizeof(url))) < 0) {
		prov_set_error("ARM nextLink %s is not on %s: not followed", link, a->base);
		return r;
	}
	return call_url(a, "GET", url, url + strlen(a->base), NULL, NULL, resp_out, err);
}
