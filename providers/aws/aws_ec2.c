/*
 * The EC2 Query API client: POST application/x-www-form-urlencoded to the
 * regional endpoint with Action=...&Version=2016-11-15 (RFC 3986 encoded),
 * signed with SigV4 (service "ec2"; host, content-type, x-amz-date and the
 * session token are signed).  Throttling and 5xx are retried with backoff
 * (retry.h); AuthFailure/ExpiredToken with role credentials triggers one
 * credential refresh.  Error envelopes are mapped to -errno plus a message
 * naming the IAM action where permissions are missing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "providers/http.h"
#include "providers/retry.h"
#include "providers/sigv4.h"

#define EC2_VERSION    "2016-11-15"
#define EC2_MAX_FORM   (256u << 10)
#define CONTENT_TYPE   "application/x-www-form-urlencoded; charset=utf-8"

void
aws_params_init(struct aws_params *p)
{
	buf_init(&p->body, EC2_MAX_FORM);
}

void
aws_params_free(struct aws_params *p)
{
	buf_free(&p->body);
}

int
aws_params_add(struct aws_params *p, const char *key, const char *value)
{
	int r;

	if ((p->body.len > 0 && (r = buf_append(&p->body, "&", 1)) < 0) ||
	    (r = sigv4_uri_encode(&p->body, key, strlen(key), 0)) < 0 ||
	    (r = buf_append(&p->body, "=", 1)) < 0 ||
	    (r = sigv4_uri_encode(&p->body, value, strlen(value), 0)) < 0)
		return r;
	return 0;
}

int
aws_params_addf(struct aws_params *p, const char *value, const char *keyfmt, ...)
{
	char key[256];
	va_list ap;
	int n;

	va_start(ap, keyfmt);
	n = vsnprintf(key, sizeof(key), keyfmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(key))
		return -ENAMETOOLONG;
	return aws_params_add(p, key, value);
}

static int
is_mutating(const char *action)
{
	return strncmp(action, "Describe", 8) != 0;
}

/* One signed POST.  Returns http_do()'s result. */
static int
send_once(struct aws_ec2 *ec2, const char *action, const char *body, size_t len,
    struct http_response *resp)
{
	struct http_header sh[2] = { { "host", ec2->host }, { "content-type", CONTENT_TYPE } };
	struct http_header h[5];
	struct sigv4_creds c = { ec2->creds.access_key, ec2->creds.secret_key,
	    ec2->creds.token[0] ? ec2->creds.token : NULL };
	struct sigv4_input in;
	struct sigv4_output out;
	struct http_request rq;
	char url[600];
	size_t nh = 0;
	int r;

	memset(&in, 0, sizeof(in));
	in.method = "POST";
	in.path = "/";
	in.headers = sh;
	in.n_headers = ARRAY_SIZE(sh);
	in.body = body;
	in.body_len = len;
	in.region = ec2->region;
	in.service = "ec2";
	in.when = time(NULL);
	in.normalize_path = 1;
	http_response_free(resp);
	http_response_init(resp);
	if ((r = sigv4_sign(&in, &c, &out)) < 0) {
		prov_set_error("SigV4 signing failed");
		goto out;
	}
	h[nh++] = (struct http_header){ "Host", ec2->host };
	h[nh++] = (struct http_header){ "Content-Type", CONTENT_TYPE };
	h[nh++] = (struct http_header){ "X-Amz-Date", out.amz_date };
	if (c.token != NULL)
		h[nh++] = (struct http_header){ "X-Amz-Security-Token", c.token };
	h[nh++] = (struct http_header){ "Authorization", out.authorization.data };
	snprintf(url, sizeof(url), "%s/", ec2->url);
	memset(&rq, 0, sizeof(rq));
	rq.method = "POST";
	rq.url = url;
	rq.headers = h;
	rq.n_headers = nh;
	rq.body = body;
	rq.body_len = len;
	rq.connect_timeout_ms = 5000;
	rq.timeout_ms = 30000;
	rq.provider = "aws";
	rq.operation = action;
	r = http_do(&rq, resp);
out:
	sigv4_output_free(&out);
	return r;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Maps a final (not retried) EC2 error to -errno and a message. */
static int
map_error(const char *action, const struct aws_error *e)
{
	if (strcmp(e->code, "UnauthorizedOperation") == 0) {
		prov_set_error("ec2:%s not allowed for this instance's role "
		    "(UnauthorizedOperation: %.200s)", action, e->message);
		return -EACCES;
	}
	if (strcmp(e->code, "AuthFailure") == 0 || strcmp(e->code, "ExpiredToken") == 0 ||
	    strcmp(e->code, "RequestExpired") == 0 ||
	    strcmp(e->code, "SignatureDoesNotMatch") == 0) {
		prov_set_error("EC2 %s: credentials or signature rejected (%s: %.200s); "
		    "check the clock and the instance role", action, e->code, e->message);
		return -EACCES;
	}
	prov_set_error("EC2 %s failed: %s: %.300s", action, e->code, e->message);
	if (ends_with(e->code, ".NotFound"))
		return -ENOENT;
	if (ends_with(e->code, "AlreadyExists"))
		return -EEXIST;
	return -EIO;
}

static int
is_auth_expiry(const char *code)
{
	return strcmp(code, "AuthFailure") == 0 || strcmp(code, "ExpiredToken") == 0 ||
	    strcmp(code, "RequestExpired") == 0;
}

/* Refreshes role credentials when near expiry.  0 or -errno. */
static int
fresh_creds(struct aws_ec2 *ec2, int force)
{
	if (ec2->creds.expiration == 0 || ec2->imds == NULL)
		return 0;               /* environment credentials: nothing to do */
	if (!force && !aws_creds_stale(&ec2->creds, time(NULL)))
		return 0;
	return aws_creds_load(ec2->imds, &ec2->creds);
}

/*
 * Decides what to do with a non-200 response: 1 retry, 0 done (err filled),
 * <0 fatal.
 */
static int
classify_failure(struct aws_ec2 *ec2, const char *action, struct http_response *resp,
    struct aws_error *err, enum retry_class *cls, int *refreshed)
{
	char why[300];

	if (aws_xml_error(resp->body.data ? resp->body.data : "", resp->body.len, err) < 0) {
		*cls = retry_classify(resp->status, NULL);
		cr_strlcpy(why, prov_last_error(), sizeof(why));
		prov_set_error("EC2 %s: HTTP %ld with a body that is not an EC2 error "
		    "response (%s): %s", action, resp->status,
		    resp->content_type[0] ? resp->content_type : "no content type", why);
		return *cls != RETRY_FATAL ? 1 : -EBADMSG;
	}
	if (is_auth_expiry(err->code) && !*refreshed && ec2->creds.expiration != 0) {
		*refreshed = 1;
		*cls = RETRY_SERVER;
		return fresh_creds(ec2, 1) < 0 ? map_error(action, err) : 1;
	}
	*cls = retry_classify(resp->status, err->code);
	if (*cls != RETRY_FATAL) {
		prov_set_error("EC2 %s: %s: %.200s", action, err->code, err->message);
		return 1;
	}
	return map_error(action, err);
}

int
aws_ec2_call(struct aws_ec2 *ec2, const char *action, struct aws_params *p,
    struct buf *out, struct aws_error *err)
{
	struct http_response resp = { 0 };
	enum retry_class cls = RETRY_SERVER;
	struct retry_policy pol;
	struct aws_error scratch;
	struct buf form;
	unsigned int attempt;
	uint64_t delay;
	int r, refreshed = 0;

	if (err == NULL)
		err = &scratch;
	memset(err, 0, sizeof(*err));
	retry_policy_init(&pol);
	buf_init(&form, EC2_MAX_FORM);
	if ((r = buf_printf(&form, "Action=%s&Version=%s%s%s", action, EC2_VERSION,
	    p != NULL && p->body.len ? "&" : "", p != NULL && p->body.len ? p->body.data : "")) < 0)
		goto out;
	for (attempt = 0; attempt < pol.max_attempts; attempt++) {
		if (attempt > 0) {
			if (retry_delay_ms(&pol, cls, attempt - 1, resp.retry_after,
			    time(NULL), &delay) < 0) {
				prov_set_error("EC2 %s: server asked to retry after %s; giving up",
				    action, resp.retry_after);
				r = -EAGAIN;
				goto out;
			}
			log_debug("aws: %s retry %u in %llu ms", action, attempt,
			    (unsigned long long)delay);
			if ((r = retry_sleep_ms(delay)) < 0)
				goto out;
		}
		if ((r = fresh_creds(ec2, 0)) < 0)
			goto out;
		memset(err, 0, sizeof(*err));
		r = send_once(ec2, action, form.data, form.len, &resp);
		ec2->calls++;
		if (is_mutating(action))
			ec2->mutating_calls++;
		if (r == -ETIMEDOUT || r == -ECONNREFUSED || r == -EIO) {
			cls = RETRY_SERVER;
			continue;
		}
		if (r < 0)
			goto out;
		if (resp.status == 200) {
			buf_reset(out);
			r = buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len);
			goto out;
		}
		if ((r = classify_failure(ec2, action, &resp, err, &cls, &refreshed)) <= 0)
			goto out;
	}
	/* Every attempt used. */
	if (r >= 0)
		r = cls == RETRY_THROTTLE ? -EAGAIN : -EIO;
	log_warnx("aws: %s failed after %u attempts: %s", action, pol.max_attempts,
	    prov_last_error());
out:
	http_response_free(&resp);
	buf_free(&form);
	return r;
}
