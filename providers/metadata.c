/*
 * The instance metadata endpoint and request set-up every cloud's metadata
 * client uses (see metadata.h).
 */
#include <stdlib.h>
#include <string.h>

#include "providers/metadata.h"

void
prov_md_trim(char *base)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		base[--n] = '\0';
}

int
prov_md_base(char *base, size_t len, const char *env, const char *env2)
{
	const char *s = getenv(env);

	if ((s == NULL || *s == '\0') && env2 != NULL)
		s = getenv(env2);
	if (s == NULL || *s == '\0') {
		cr_strlcpy(base, PROV_MD_DEFAULT, len);
		return 0;
	}
	cr_strlcpy(base, s, len);
	prov_md_trim(base);
	return 1;
}

void
prov_md_request(struct http_request *rq, const char *method, const char *url,
    const struct http_header *h, size_t nh, long timeout_ms, int explicit_url)
{
	memset(rq, 0, sizeof(*rq));
	rq->method = method;
	rq->url = url;
	rq->headers = h;
	rq->n_headers = nh;
	rq->connect_timeout_ms = timeout_ms;
	rq->timeout_ms = timeout_ms;
	rq->metadata = 1;
	rq->allow_plain_http = explicit_url;
}
