/*
 * Compute Engine v1 client for the GCP provider: JSON over HTTPS with a
 * bearer token (https://compute.googleapis.com/compute/v1/projects/<p>/...,
 * CLOUDROUTE_GCP_API_URL replaces scheme://host[:port]).
 *
 * Retries: 429, 503 and 403 rateLimitExceeded/userRateLimitExceeded back off
 * (Retry-After honoured), other 5xx and transport errors are retried, 401
 * refreshes the token once; everything else fails at once with the API's
 * error.errors[0].reason and message.  Writes return an Operation, which is
 * waited for with its wait method (zoneOperations/globalOperations.wait,
 * called again while it answers PENDING/RUNNING, bounded in time); an
 * operation DONE with an error is a failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "gcp.h"
#include "providers/http.h"
#include "providers/retry.h"
#include "providers/sigv4.h"

#define API_DEFAULT "https://compute.googleapis.com"
#define MAX_PAGES 100

int
gcp_compute_init(struct gcp_compute *c, const char *project, struct gcp_auth *a)
{
	const char *s = getenv("CLOUDROUTE_GCP_API_URL");
	size_t n;

	memset(c, 0, sizeof(*c));
	c->auth = a;
	c->op_timeout_s = 300;
	if (cr_strlcpy(c->project, project, sizeof(c->project)) >= sizeof(c->project) ||
	    !gcp_name_valid(project) || strlen(project) < 6 || strlen(project) > 30) {
		/* Project ids are 6-30 characters of the same alphabet. */
		prov_set_error("invalid project id \"%s\"", project);
		return -EINVAL;
	}
	cr_strlcpy(c->base, s != NULL && *s ? s : API_DEFAULT, sizeof(c->base));
	n = strlen(c->base);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	return 0;
}

int
gcp_error_throttled(long status, const struct gcp_error *e)
{
	if (status == 429 || status == 503)
		return 1;
	return status == 403 && e != NULL && (strcmp(e->reason, "rateLimitExceeded") == 0 ||
	    strcmp(e->reason, "userRateLimitExceeded") == 0);
}

/*
 * 400s that only say "not now": the network is being changed by another
 * operation (resourceNotReady, "The resource '.../networks/N' is not ready")
 * or a peering operation runs on it.  Terraform's Google provider retries
 * both; so do we, with backoff.
 */
int
gcp_error_transient(long status, const struct gcp_error *e)
{
	return status == 400 && e != NULL && (strcmp(e->reason, "resourceNotReady") == 0 ||
	    strstr(e->message, "peering operation in progress") != NULL);
}

static int
is_quota(const struct gcp_error *e)
{
	return strcmp(e->reason, "quotaExceeded") == 0 ||
	    strcmp(e->reason, "QUOTA_EXCEEDED") == 0 || strcmp(e->reason, "limitExceeded") == 0;
}

static int
map_status(long status, const struct gcp_error *e)
{
	switch (status) {
	case 400: return -EINVAL;
	case 401: return -EACCES;
	case 403: return is_quota(e) ? -EDQUOT : -EACCES;
	case 404: return -ENOENT;
	case 409: return -EEXIST;
	case 412: return -ESTALE;
	default: return -EIO;
	}
}

/* "POST routes", "GET instances", "POST operations/wait": the resource
 * types after /compute/v1/projects/P and the scope (global, zones/Z,
 * regions/R). */
static const char *
op_label(const char *method, const char *path, char *out, size_t len)
{
	static const char *const scopes[] = { "/compute/v1/projects/", "/global/", "/zones/",
	    "/regions/" };
	unsigned int skip = 0;

	if (strncmp(path, scopes[0], strlen(scopes[0])) == 0) {
		path += strlen(scopes[0]);
		path += strcspn(path, "/");     /* past the project */
		if (strncmp(path, scopes[1], strlen(scopes[1])) == 0)
			path += strlen(scopes[1]);
		else if (strncmp(path, scopes[2], strlen(scopes[2])) == 0 ||
		    strncmp(path, scopes[3], strlen(scopes[3])) == 0)
			skip = 2;
	}
	return http_op_name(method, path, skip, out, len);
}

static int
do_send(struct gcp_compute *c, const char *method, const char *url, const char *body,
    struct http_response *resp)
{
	struct http_header h[2];
	struct http_request rq;
	struct buf auth;
	const char *tok;
	char op[128];
	int r;

	buf_init(&auth, 16384);
	if ((r = gcp_auth_token(c->auth, &tok)) < 0 ||
	    (r = buf_printf(&auth, "Bearer %s", tok)) < 0) {
		buf_free(&auth);
		http_response_init(resp);
		return r;
	}
	h[0].name = "Authorization";
	h[0].value = auth.data;
	h[1].name = "Content-Type";
	h[1].value = "application/json";
	memset(&rq, 0, sizeof(rq));
	rq.method = method;
	rq.url = url;
	rq.headers = h;
	/* Writes and waits always say JSON (curl would call an empty POST a form). */
	rq.n_headers = strcmp(method, "GET") != 0 ? 2 : 1;
	rq.body = body;
	rq.body_len = body != NULL ? strlen(body) : 0;
	/* operations.wait may hold the request up to 2 minutes. */
	rq.timeout_ms = strstr(url, "/wait") != NULL ? 150000 : 30000;
	rq.provider = "gcp";
	rq.operation = op_label(method, url + strlen(c->base), op, sizeof(op));
	c->calls++;
	if (strcmp(method, "GET") != 0 && strstr(url, "/operations/") == NULL)
		c->mutating_calls++;
	r = http_do(&rq, resp);
	buf_free(&auth);                /* wipes the header copy of the token */
	return r;
}

/* One attempt's outcome: 0 done, 1 retry (with *cls), else -errno. */
static int
judge(const char *method, const char *path, int r, struct http_response *resp,
    struct gcp_error *err, int *refreshed, struct gcp_compute *c, enum retry_class *cls)
{
	if (r < 0) {
		/* Transport failures are retried; a refused URL or token is not. */
		*cls = RETRY_SERVER;
		return r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EHOSTUNREACH ||
		    r == -EIO ? 1 : r;
	}
	if (resp->status >= 200 && resp->status <= 299)
		return 0;
	if (gcp_json_error(resp->body.data, resp->body.len, err) < 0) {
		err->code = resp->status;
		prov_set_error("Compute %s %s: HTTP %ld, and the body is not a Compute error "
		    "(%.60s)", method, path, resp->status,
		    resp->content_type[0] ? resp->content_type : "no content type");
		if (resp->status >= 500 || resp->status == 429) {
			*cls = resp->status == 503 || resp->status == 429 ? RETRY_THROTTLE :
			    RETRY_SERVER;
			return 1;
		}
		return -EBADMSG;
	}
	if (resp->status == 401 && !*refreshed) {
		*refreshed = 1;
		gcp_auth_invalidate(c->auth);
		*cls = RETRY_SERVER;
		return 1;
	}
	prov_set_error("Compute %s %s: HTTP %ld %s: %s", method, path, resp->status,
	    err->reason[0] ? err->reason : err->status, err->message);
	if (gcp_error_throttled(resp->status, err)) {
		*cls = RETRY_THROTTLE;
		return 1;
	}
	if (gcp_error_transient(resp->status, err)) {
		*cls = RETRY_SERVER;
		return 1;
	}
	*cls = retry_classify(resp->status, NULL);
	return *cls == RETRY_FATAL ? map_status(resp->status, err) : 1;
}

int
gcp_call(struct gcp_compute *c, const char *method, const char *path, const char *body,
    struct buf *out, struct gcp_error *err)
{
	struct retry_policy pol;
	struct http_response resp = { 0 };
	struct gcp_error e0;
	enum retry_class cls = RETRY_FATAL;
	char url[2048];
	unsigned int attempt;
	uint64_t ms;
	int r = -EIO, v, refreshed = 0;

	if (err == NULL)
		err = &e0;
	memset(err, 0, sizeof(*err));
	retry_policy_init(&pol);
	if ((strncmp(path, "projects/", 9) == 0 ?
	    snprintf(url, sizeof(url), "%s/compute/v1/%s", c->base, path) :
	    snprintf(url, sizeof(url), "%s/compute/v1/projects/%s/%s", c->base, c->project,
	    path)) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	for (attempt = 0; attempt < pol.max_attempts; attempt++) {
		r = do_send(c, method, url, body, &resp);
		/* Cancelled or past the pass's deadline: no retry. */
		if (r < 0 && (v = prov_interrupted()) < 0) {
			http_response_free(&resp);
			return v;
		}
		v = judge(method, path, r, &resp, err, &refreshed, c, &cls);
		if (v == 0) {
			buf_reset(out);
			r = buf_append(out, resp.body.data, resp.body.len);
		}
		if (v <= 0) {
			http_response_free(&resp);
			return v == 0 ? r : v;
		}
		if (retry_delay_ms(&pol, cls, attempt, resp.retry_after, time(NULL), &ms) < 0) {
			http_response_free(&resp);
			prov_set_error("Compute %s %s: throttled, Retry-After beyond %u s",
			    method, path, pol.max_retry_after_ms / 1000);
			return -EAGAIN;
		}
		http_response_free(&resp);
		log_debug("gcp: %s %s: retry %u in %llu ms", method, path, attempt + 1,
		    (unsigned long long)ms);
		if ((r = retry_sleep_ms(ms)) < 0)
			return r;
	}
	return cls == RETRY_THROTTLE ? -EAGAIN : (r < 0 ? r : -EIO);
}

/* ---- operations ---- */

static int
op_failed(const struct gcp_operation *op)
{
	const char *c = op->error_code;

	prov_set_error("operation %s failed: %s: %s%s", op->name, c, op->error_message,
	    strcmp(c, "QUOTA_EXCEEDED") == 0 ? " (the project's quota for routes or "
	    "operations is exhausted: raise it or remove unused routes)" : "");
	if (strcmp(c, "QUOTA_EXCEEDED") == 0)
		return -EDQUOT;
	if (strcmp(c, "RESOURCE_ALREADY_EXISTS") == 0 || strcmp(c, "ALREADY_EXISTS") == 0)
		return -EEXIST;
	if (strcmp(c, "RESOURCE_NOT_FOUND") == 0 || strcmp(c, "NOT_FOUND") == 0)
		return -ENOENT;
	if (strcmp(c, "CONDITION_NOT_MET") == 0)
		return -ESTALE;
	return -EIO;
}

int
gcp_op_wait(struct gcp_compute *c, struct gcp_operation *op)
{
	uint64_t deadline = now_ms() + (uint64_t)c->op_timeout_s * 1000;
	struct gcp_operation next;
	char path[768], name[GCP_ID_LEN], proj[GCP_ID_LEN];
	struct buf b;
	unsigned int polls = 0;
	int r = 0;

	buf_init(&b, HTTP_MAX_RESPONSE);
	cr_strlcpy(name, op->name, sizeof(name));
	cr_strlcpy(proj, op->project[0] ? op->project : c->project, sizeof(proj));
	while (op->status == GCP_OP_PENDING) {
		if (now_ms() > deadline) {
			prov_set_error("operation %s not DONE after %u s", name, c->op_timeout_s);
			r = -ETIMEDOUT;
			goto out;
		}
		/* In the operation's own project (a Shared VPC's host project). */
		if (op->zone[0])
			snprintf(path, sizeof(path), "projects/%s/zones/%s/operations/%s/wait",
			    proj, op->zone, name);
		else if (op->region[0])
			snprintf(path, sizeof(path), "projects/%s/regions/%s/operations/%s/wait",
			    proj, op->region, name);
		else
			snprintf(path, sizeof(path), "projects/%s/global/operations/%s/wait", proj,
			    name);
		if ((r = gcp_call(c, "POST", path, NULL, &b, NULL)) < 0 ||
		    (r = gcp_json_operation(b.data, b.len, &next)) < 0)
			goto out;
		if (strcmp(next.name, name) != 0) {
			prov_set_error("operation wait for %s answered operation %s", name, next.name);
			r = -EBADMSG;
			goto out;
		}
		*op = next;
		/* wait may return early (best effort): do not spin. */
		if (op->status == GCP_OP_PENDING &&
		    (r = retry_sleep_ms(polls < 4 ? 100ULL << polls++ : 2000)) < 0)
			goto out;
	}
	if (op->status == GCP_OP_FAILED)
		r = op_failed(op);
out:
	buf_free(&b);
	return r;
}

/* A random (version 4) UUID: the requestId that makes a retried write
 * idempotent (the service answers a repeat with the first operation). */
static int
request_id(char out[37])
{
	unsigned char u[16];

	if (RAND_bytes(u, sizeof(u)) != 1)
		return -EIO;
	u[6] = (unsigned char)((u[6] & 0x0f) | 0x40);
	u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
	    u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	return 0;
}

int
gcp_mutate(struct gcp_compute *c, const char *method, const char *path, const char *body,
    struct gcp_error *err)
{
	struct gcp_operation op;
	char id[37], full[1024];
	struct buf b;
	int r;

	if ((r = request_id(id)) < 0)
		return r;
	if (snprintf(full, sizeof(full), "%s%crequestId=%s", path,
	    strchr(path, '?') ? '&' : '?', id) >= (int)sizeof(full))
		return -ENAMETOOLONG;
	buf_init(&b, HTTP_MAX_RESPONSE);
	if ((r = gcp_call(c, method, full, body, &b, err)) == 0 &&
	    (r = gcp_json_operation(b.data, b.len, &op)) == 0)
		r = gcp_op_wait(c, &op);
	buf_free(&b);
	return r;
}

/* ---- resources ---- */

int
gcp_list_routes(struct gcp_compute *c, const char *network, struct gcp_route_list *out)
{
	struct buf filter, path, b;
	char token[1024] = "", proj[GCP_ID_LEN];
	int r = 0, page;

	/* Routes live in the network's project (a Shared VPC's host project). */
	if (!*gcp_url_project(network, proj, sizeof(proj)))
		cr_strlcpy(proj, c->project, sizeof(proj));
	buf_init(&filter, 4096);
	buf_init(&path, 8192);
	buf_init(&b, HTTP_MAX_RESPONSE);
	/* AIP-160: network = "<URL>" (the network's own selfLink). */
	buf_printf(&path, "network = \"%s\"", network);
	if ((r = sigv4_uri_encode(&filter, path.data, path.len, 0)) < 0)
		goto out;
	for (page = 0; page < MAX_PAGES; page++) {
		buf_reset(&path);
		buf_printf(&path, "projects/%s/global/routes?%s%s%smaxResults=500", proj,
		    filter.len ? "filter=" : "", filter.data ? filter.data : "",
		    filter.len ? "&" : "");
		if (token[0]) {
			buf_puts(&path, "&pageToken=");
			sigv4_uri_encode(&path, token, strlen(token), 0);
		}
		r = gcp_call(c, "GET", path.data, NULL, &b, NULL);
		if (r == -EINVAL && page == 0 && filter.len) {
			/* A server that takes no such filter: list everything, the
			 * planner keeps the routes of our network. */
			log_info("gcp: routes.list refused the network filter (%s); listing "
			    "all routes", prov_last_error());
			buf_reset(&filter);
			page--;
			continue;
		}
		if (r < 0 || (r = gcp_json_routes(b.data, b.len, out)) < 0 ||
		    !out->next_page_token[0])
			goto out;
		cr_strlcpy(token, out->next_page_token, sizeof(token));
	}
	prov_set_error("routes.list: more than %d pages", MAX_PAGES);
	r = -E2BIG;
out:
	buf_free(&filter);
	buf_free(&path);
	buf_free(&b);
	return r;
}

int
gcp_call_get_instance(struct gcp_compute *c, const char *path, struct gcp_instance *out)
{
	struct buf b;
	int r;

	buf_init(&b, HTTP_MAX_RESPONSE);
	if ((r = gcp_call(c, "GET", path, NULL, &b, NULL)) == 0)
		r = gcp_json_instance(b.data, b.len, out);
	buf_free(&b);
	return r;
}

int
gcp_get_instance(struct gcp_compute *c, const char *zone, const char *name,
    struct gcp_instance *out)
{
	char path[512];

	snprintf(path, sizeof(path), "zones/%s/instances/%s", zone, name);
	return gcp_call_get_instance(c, path, out);
}

/* 412 is also how an organisation policy constraint says no. */
static int
org_policy(const struct gcp_error *e)
{
	return strstr(e->message, "constraints/") != NULL ||
	    strstr(prov_last_error(), "constraints/") != NULL;
}

int
gcp_set_ip_forward(struct gcp_compute *c, const char *zone, const char *name, int on,
    struct json_object *cached)
{
	struct gcp_instance in;
	struct gcp_error err;
	char path[512];
	const char *body;
	int r = -ESTALE, tries;

	/* REFRESH at most: never restart the connector from under itself. */
	snprintf(path, sizeof(path), "zones/%s/instances/%s?mostDisruptiveAllowedAction=REFRESH",
	    zone, name);
	for (tries = 0; tries < 4 && r == -ESTALE; tries++) {
		memset(&in, 0, sizeof(in));
		if (tries == 0 && cached != NULL && json_object_deep_copy(cached, &in.raw,
		    NULL) == 0) {
			struct json_object *v;

			in.can_ip_forward = json_object_object_get_ex(in.raw, "canIpForward", &v) &&
			    json_object_get_boolean(v);
		} else if ((r = gcp_get_instance(c, zone, name, &in)) < 0) {
			return r;
		}
		if (in.can_ip_forward == on) {
			gcp_instance_free(&in);
			return 0;
		}
		json_object_object_add(in.raw, "canIpForward", json_object_new_boolean(on));
		body = json_object_to_json_string_ext(in.raw, JSON_C_TO_STRING_PLAIN |
		    JSON_C_TO_STRING_NOSLASHESCAPE);
		r = gcp_mutate(c, "PUT", path, body, &err);
		gcp_instance_free(&in);
		if (r == -ESTALE && org_policy(&err)) {
			char why[512];

			cr_strlcpy(why, err.message[0] ? err.message : prov_last_error(),
			    sizeof(why));
			prov_set_error("an organisation policy forbids IP forwarding on %s "
			    "(constraints/compute.vmCanIpForward); ask for an exception for this "
			    "instance: %s", name, why);
			return -EPERM;
		}
		if (r == -ESTALE)
			log_info("gcp: instance %s changed meanwhile (fingerprint), re-reading",
			    name);
	}
	return r;
}
