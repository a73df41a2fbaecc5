/*
 * Azure Instance Metadata Service client: the instance document and
 * managed-identity tokens for ARM.
 *
 *   GET /metadata/instance?api-version=2021-02-01               Metadata: true
 *   GET /metadata/identity/oauth2/token?api-version=2018-02-01
 *       &resource=https://management.azure.com/[&client_id=...]  Metadata: true
 *
 * Plain http to 169.254.169.254 without a proxy (or to the configured
 * CLOUDROUTE_AZURE_METADATA_URL).  The token is cached until 5 minutes
 * before its expires_on and refetched on demand (the ARM client forces a
 * refetch after a 401); it lives only in struct az_imds and is wiped by
 * az_imds_wipe.  IMDS answers 429 when called too often and 5xx/410 while
 * it is being updated: those are retried a few times.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azure.h"
#include "providers/http.h"
#include "providers/metadata.h"

#define TOKEN_MARGIN_S 300
#define IMDS_ATTEMPTS  4

void
az_imds_init(struct az_imds *m, long timeout_ms)
{
	const char *cid = getenv("AZURE_CLIENT_ID");

	memset(m, 0, sizeof(*m));
	m->timeout_ms = timeout_ms;
	m->explicit_url = prov_md_base(m->base, sizeof(m->base), "CLOUDROUTE_AZURE_METADATA_URL",
	    NULL);
	/* A client id is a GUID: anything else would need query escaping. */
	if (cid != NULL && *cid != '\0') {
		if (strspn(cid, "0123456789abcdefABCDEF-") == strlen(cid) &&
		    strlen(cid) < sizeof(m->client_id))
			cr_strlcpy(m->client_id, cid, sizeof(m->client_id));
		else
			log_warnx("azure: AZURE_CLIENT_ID \"%s\" is not a GUID: ignored "
			    "(the system-assigned identity is used)", cid);
	}
}

static int
retryable(long status)
{
	return status == 429 || status == 410 || (status >= 500 && status <= 599);
}

int
az_imds_get(struct az_imds *m, const char *path, struct buf *out)
{
	const struct http_header hdr[] = { { "Metadata", "true" } };
	struct http_request rq;
	struct http_response resp = { 0 };
	struct retry_policy pol;
	struct az_error err;
	char url[1536];
	unsigned int attempt;
	uint64_t ms;
	int r = -EIO;

	if (snprintf(url, sizeof(url), "%s%s", m->base, path) >= (int)sizeof(url))
		return -ENAMETOOLONG;
	retry_policy_init(&pol);
	prov_md_request(&rq, "GET", url, hdr, ARRAY_SIZE(hdr), m->timeout_ms, m->explicit_url);
	rq.connect_timeout_ms = m->timeout_ms < 2000 ? m->timeout_ms : 2000;
	rq.max_response = 1 << 20;
	rq.provider = "azure";
	rq.operation = strstr(path, "/identity/") != NULL ? "metadata.token" : "metadata.get";
	for (attempt = 0; attempt < IMDS_ATTEMPTS; attempt++) {
		m->calls++;
		r = http_do(&rq, &resp);
		if (r == 0 && resp.status == 200) {
			buf_reset(out);
			r = buf_append(out, resp.body.data, resp.body.len);
			http_response_free(&resp);
			return r;
		}
		if (r == 0) {
			az_json_error(resp.body.data, resp.body.len, resp.status, &err);
			prov_set_error("IMDS %s: HTTP %ld%s%s: %s", path, resp.status,
			    err.code[0] ? " " : "", err.code, err.message);
			r = resp.status == 404 ? -ENOENT : resp.status == 400 ? -EINVAL : -EIO;
			if (!retryable(resp.status) || attempt + 1 == IMDS_ATTEMPTS ||
			    retry_delay_ms(&pol, RETRY_THROTTLE, attempt, resp.retry_after,
			    time(NULL), &ms) < 0) {
				http_response_free(&resp);
				return r;
			}
		} else if (r == -ECONNREFUSED || r == -EHOSTUNREACH || r == -EPERM ||
		    r == -ETIMEDOUT || r == -ECANCELED || attempt + 1 == IMDS_ATTEMPTS) {
			http_response_free(&resp);
			return r;             /* no metadata service here */
		} else {
			ms = retry_backoff_ms(&pol, RETRY_SERVER, attempt);
		}
		http_response_free(&resp);
		if ((r = retry_sleep_ms(ms)) < 0)
			return r;
	}
	return r;
}

int
az_imds_instance(struct az_imds *m, struct az_instance *out)
{
	struct buf b;
	int r;

	buf_init(&b, 1 << 20);
	if ((r = az_imds_get(m, "/metadata/instance?api-version=" AZ_API_IMDS, &b)) == 0)
		r = az_json_instance(b.data, b.len, out);
	buf_free(&b);
	return r;
}

int
az_imds_token(struct az_imds *m, int force, const char **token)
{
	char path[512];
	uint64_t exp = 0, now;
	struct buf b;
	int r;

	*token = NULL;
	/* Cached until 5 minutes before it expires; a token IMDS handed out
	 * with less left than that is used for a minute before asking again
	 * (IMDS caches tokens too and may answer with the same one). */
	now = (uint64_t)time(NULL);
	if (!force && m->token[0] && (m->token_expires > now + TOKEN_MARGIN_S ||
	    (now < m->token_fetched + 60 && m->token_expires > now + 10))) {
		*token = m->token;
		return 0;
	}
	/* resource percent-encoded: https://management.azure.com/ */
	snprintf(path, sizeof(path), "/metadata/identity/oauth2/token?api-version="
	    AZ_API_TOKEN "&resource=https%%3A%%2F%%2Fmanagement.azure.com%%2F%s%s",
	    m->client_id[0] ? "&client_id=" : "", m->client_id);
	buf_init(&b, 64 << 10);
	explicit_bzero(m->token, sizeof(m->token));
	m->token_expires = 0;
	if ((r = az_imds_get(m, path, &b)) < 0) {
		prov_set_error("managed identity token: %s", prov_last_error());
		goto out;
	}
	if ((r = az_json_token(b.data, b.len, m->token, sizeof(m->token), &exp)) < 0)
		goto out;
	m->token_expires = exp;
	m->token_fetched = (uint64_t)time(NULL);
	*token = m->token;
out:
	buf_free(&b);
	return r;
}

void
az_imds_wipe(struct az_imds *m)
{
	explicit_bzero(m->token, sizeof(m->token));
	m->token_expires = 0;
}
