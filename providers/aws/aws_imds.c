/*
 * EC2 instance metadata, IMDSv2 only: a session token from
 * PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds: 21600), sent
 * as X-aws-ec2-metadata-token on every GET.  There is no IMDSv1 fallback: a
 * failed token request is a failed metadata read.  A 401 on a GET means the
 * token expired early; it is fetched again once.
 *
 * Credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,
 * else the instance role (meta-data/iam/security-credentials/<role>), which
 * callers refresh 5 minutes before its Expiration.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "aws.h"
#include "providers/http.h"
#include "providers/metadata.h"
#include "providers/retry.h"

#define IMDS_TTL_S        21600
#define IMDS_MAX_BODY     (64u << 10)
#define CREDS_REFRESH_S   300

void
aws_imds_init(struct aws_imds *m, long timeout_ms)
{
	memset(m, 0, sizeof(*m));
	m->timeout_ms = timeout_ms;
	m->explicit_url = prov_md_base(m->base, sizeof(m->base), "CLOUDROUTE_AWS_METADATA_URL",
	    "AWS_EC2_METADATA_SERVICE_ENDPOINT");
}

void
aws_imds_wipe(struct aws_imds *m)
{
	explicit_bzero(m->token, sizeof(m->token));
	m->token_expiry_ms = 0;
}

static void
imds_request(struct aws_imds *m, struct http_request *rq, const char *method,
    const char *url, const struct http_header *h, size_t nh)
{
	prov_md_request(rq, method, url, h, nh, m->timeout_ms, m->explicit_url);
	rq->max_response = IMDS_MAX_BODY;
	rq->provider = "aws";
	rq->operation = strcmp(method, "PUT") == 0 ? "metadata.token" : "metadata.get";
}

/* Strips trailing whitespace/newlines in place. */
static void
rtrim(struct buf *b)
{
	while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r' ||
	    b->data[b->len - 1] == ' '))
		b->data[--b->len] = '\0';
}

int
aws_imds_token(struct aws_imds *m)
{
	static const struct http_header h[] = {
		{ "X-aws-ec2-metadata-token-ttl-seconds", "21600" },
	};
	struct http_response resp = { 0 };
	struct http_request rq;
	char url[600];
	int r;

	snprintf(url, sizeof(url), "%s/latest/api/token", m->base);
	imds_request(m, &rq, "PUT", url, h, ARRAY_SIZE(h));
	if ((r = http_do(&rq, &resp)) < 0)
		goto out;
	rtrim(&resp.body);
	if (resp.status != 200 || resp.body.len == 0 || resp.body.len >= sizeof(m->token)) {
		prov_set_error("IMDSv2 token request to %s: HTTP %ld (IMDSv1 is never used)",
		    m->base, resp.status);
		r = resp.status == 404 || resp.status == 403 ? -ENOENT : -EIO;
		goto out;
	}
	memcpy(m->token, resp.body.data, resp.body.len + 1);
	m->token_expiry_ms = now_ms() + (IMDS_TTL_S - 60) * 1000ULL;
out:
	http_response_free(&resp);
	return r;
}

static int
imds_get_once(struct aws_imds *m, const char *path, struct buf *out, long *status)
{
	struct http_header h[1] = { { "X-aws-ec2-metadata-token", m->token } };
	struct http_response resp = { 0 };
	struct http_request rq;
	char url[1024];
	int r;

	snprintf(url, sizeof(url), "%s/latest/%s", m->base, path);
	imds_request(m, &rq, "GET", url, h, ARRAY_SIZE(h));
	if ((r = http_do(&rq, &resp)) < 0)
		goto out;
	*status = resp.status;
	if (resp.status == 200) {
		rtrim(&resp.body);
		buf_reset(out);
		r = buf_append(out, resp.body.data ? resp.body.data : "", resp.body.len);
	}
out:
	http_response_free(&resp);
	return r;
}

int
aws_imds_get(struct aws_imds *m, const char *path, struct buf *out)
{
	struct retry_policy pol;
	unsigned int attempt;
	int r = 0, refreshed = 0;
	long status = 0;

	retry_policy_init(&pol);
	pol.max_attempts = 3;
	for (attempt = 0; attempt < pol.max_attempts; attempt++) {
		if (m->token[0] == '\0' || now_ms() >= m->token_expiry_ms) {
			if ((r = aws_imds_token(m)) < 0)
				return r;
		}
		status = 0;
		r = imds_get_once(m, path, out, &status);
		if (r == 0 && status == 200)
			return 0;
		if (r == 0 && status == 401 && !refreshed) {
			refreshed = 1;       /* token expired early: one new token */
			m->token[0] = '\0';
			attempt--;
			continue;
		}
		if (r == 0 && status == 404) {
			prov_set_error("instance metadata %s: not found", path);
			return -ENOENT;
		}
		if (r == 0 && retry_classify(status, NULL) == RETRY_FATAL) {
			prov_set_error("instance metadata %s: HTTP %ld", path, status);
			return -EIO;
		}
		if (r < 0 && r != -ETIMEDOUT && r != -ECONNREFUSED && r != -EIO)
			return r;
		if (attempt + 1 < pol.max_attempts &&
		    (r = retry_sleep_ms(retry_backoff_ms(&pol, RETRY_SERVER, attempt))) < 0)
			return r;
	}
	if (r == 0) {
		prov_set_error("instance metadata %s: HTTP %ld", path, status);
		r = -EIO;
	}
	return r;
}

int
aws_parse_iso8601(const char *s, time_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL)
		return -EINVAL;
	if (*end == '.') {                       /* fractional seconds */
		end++;
		while (*end >= '0' && *end <= '9')
			end++;
	}
	if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
		return -EINVAL;
	*out = timegm(&tm);
	return 0;
}

static int
json_copy(struct json_object *o, const char *key, char *dst, size_t len)
{
	struct json_object *v;
	const char *s;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return -EBADMSG;
	s = json_object_get_string(v);
	if (*s == '\0' || cr_strlcpy(dst, s, len) >= len)
		return -EBADMSG;
	return 0;
}

static int
role_creds(struct aws_imds *m, struct aws_creds *c)
{
	struct json_object *o = NULL;
	char path[512], exp[64];
	struct buf b;
	int r;

	buf_init(&b, IMDS_MAX_BODY);
	if ((r = aws_imds_get(m, "meta-data/iam/security-credentials/", &b)) < 0) {
		if (r == -ENOENT)
			prov_set_error("no AWS credentials: AWS_ACCESS_KEY_ID is not set and "
			    "the instance has no IAM role (instance profile)");
		goto out;
	}
	b.data[strcspn(b.data, "\r\n")] = '\0';
	if (b.data[0] == '\0' || cr_strlcpy(c->role, b.data, sizeof(c->role)) >= sizeof(c->role)) {
		prov_set_error("instance metadata: no IAM role name");
		r = -ENOENT;
		goto out;
	}
	snprintf(path, sizeof(path), "meta-data/iam/security-credentials/%s", c->role);
	if ((r = aws_imds_get(m, path, &b)) < 0)
		goto out;
	if ((o = prov_json_parse_secret(b.data, b.len)) == NULL ||
	    json_copy(o, "AccessKeyId", c->access_key, sizeof(c->access_key)) < 0 ||
	    json_copy(o, "SecretAccessKey", c->secret_key, sizeof(c->secret_key)) < 0 ||
	    json_copy(o, "Token", c->token, sizeof(c->token)) < 0 ||
	    json_copy(o, "Expiration", exp, sizeof(exp)) < 0 ||
	    aws_parse_iso8601(exp, &c->expiration) < 0) {
		prov_set_error("instance metadata: malformed credentials for role %s", c->role);
		r = -EBADMSG;
		goto out;
	}
out:
	prov_json_put_secret(o);
	buf_free(&b);
	return r;
}

int
aws_creds_load(struct aws_imds *m, struct aws_creds *c)
{
	const char *ak = getenv("AWS_ACCESS_KEY_ID");
	const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *tk = getenv("AWS_SESSION_TOKEN");

	aws_creds_wipe(c);
	if (ak != NULL && *ak && sk != NULL && *sk) {
		if (cr_strlcpy(c->access_key, ak, sizeof(c->access_key)) >= sizeof(c->access_key) ||
		    cr_strlcpy(c->secret_key, sk, sizeof(c->secret_key)) >= sizeof(c->secret_key) ||
		    (tk != NULL && cr_strlcpy(c->token, tk, sizeof(c->token)) >= sizeof(c->token))) {
			aws_creds_wipe(c);
			prov_set_error("AWS credentials in the environment are too long");
			return -EINVAL;
		}
		return 0;
	}
	return role_creds(m, c);
}

int
aws_creds_stale(const struct aws_creds *c, time_t now)
{
	return c->expiration != 0 && now + CREDS_REFRESH_S >= c->expiration;
}

void
aws_creds_wipe(struct aws_creds *c)
{
	explicit_bzero(c, sizeof(*c));
}
