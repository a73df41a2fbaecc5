/*
 * What the clouds' instance metadata clients share: the endpoint (an
 * override from the environment, else the link-local default) and the
 * request set-up (no proxy, plain http only to a configured endpoint or the
 * link-local address, the caller's timeouts).  The override variables are
 * those of DESIGN.md (CLOUDROUTE_<CLOUD>_METADATA_URL and the clouds' own).
 */
#ifndef PROV_METADATA_H
#define PROV_METADATA_H

#include <stddef.h>

#include "providers/http.h"

#define PROV_MD_DEFAULT "http://169.254.169.254"

/*
 * base = the first of the variables env, env2 (may be NULL) that is set and
 * not empty, else PROV_MD_DEFAULT; trailing slashes cut.  -> 1 when it came
 * from the environment (plain http allowed to it), 0 for the default.
 */
int prov_md_base(char *base, size_t len, const char *env, const char *env2);

/* Cuts the trailing slashes of a base URL. */
void prov_md_trim(char *base);

/*
 * A metadata request: rq zeroed, then method, url and headers, both timeouts
 * timeout_ms, metadata (no proxy) and allow_plain_http = explicit_url.  The
 * caller sets max_response, provider and operation.
 */
void prov_md_request(struct http_request *rq, const char *method, const char *url,
    const struct http_header *h, size_t nh, long timeout_ms, int explicit_url);

#endif
