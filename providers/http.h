/*
 * Shared provider plumbing: a small HTTP client on libcurl and the
 * per-thread "last error" text behind prov_last_error().
 *
 * Every request has a connect timeout, a total timeout and a cap on the
 * response size.  Only https is allowed, except plain http to the link-local
 * metadata addresses (169.254.169.254, [fd00:ec2::254]) or to a metadata URL
 * the operator configured explicitly (allow_plain_http).  TLS verification
 * is never turned off; CLOUDROUTE_CA_BUNDLE (else AWS_CA_BUNDLE) names an
 * extra CA file that is added to the system store.  Metadata requests never
 * go through a proxy.  Redirects are not followed.
 */
#ifndef PROV_HTTP_H
#define PROV_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#define HTTP_MAX_RESPONSE   (4u << 20)    /* 4 MiB */

struct http_header {
	const char *name;
	const char *value;
};

struct http_request {
	const char *method;               /* "GET", "PUT", "POST", ... */
	const char *url;
	const struct http_header *headers;
	size_t n_headers;
	const char *body;                 /* may be NULL */
	size_t body_len;
	long connect_timeout_ms;          /* 0 = 5000 */
	long timeout_ms;                  /* 0 = 30000 */
	size_t max_response;              /* 0 = HTTP_MAX_RESPONSE */
	int metadata;                     /* metadata service: no proxy */
	int allow_plain_http;             /* explicit metadata override */
	/* TLS files for a private service (etcd): ca_file replaces the trust
	 * store for this request; cert_file/key_file present a client
	 * certificate.  NULL = none. */
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	/* cloudroute_cloud_api_calls_total: the provider ("aws") and operation
	 * ("DescribeRouteTables", "GET routeTables/routes"; never an id) of the
	 * call.  Without provider it is not counted; operation NULL = method. */
	const char *provider;
	const char *operation;
};

struct http_response {
	long status;
	struct buf body;
	char retry_after[64];             /* raw Retry-After header, "" if none */
	char content_type[128];
	struct buf headers;               /* raw header lines of the final response
	                                   * (capped at 16 KiB; wiped when freed) */
};

/*
 * Performs one request.  0 when an HTTP response was received (whatever its
 * status), else -ETIMEDOUT, -ECONNREFUSED, -E2BIG (response over the cap),
 * -EPROTO (TLS), -EPERM (scheme not allowed), -EINVAL, -EIO; the reason is
 * left in prov_last_error().  resp must be freed with http_response_free
 * in every case.
 */
int http_do(const struct http_request *rq, struct http_response *resp);
/* An empty response that http_response_free accepts (for a caller that
 * fails before calling http_do). */
void http_response_init(struct http_response *resp);
void http_response_free(struct http_response *resp);
/*
 * Copies the trimmed value of response header `name` (case-insensitive,
 * the first one) into out.  1 when found, 0 when absent, -ENAMETOOLONG
 * when the value does not fit (out is then "").
 */
int http_response_header(const struct http_response *resp, const char *name,
    char *out, size_t len);

/*
 * An operation label for a REST call: the method and the collection names of
 * path ("GET routeTables/routes" from "/routeTables/rt-1/routes/r-2?x=1"),
 * whose segments alternate collection/id after the first `skip` of them, so
 * that a label never carries an id.  Returns out.
 */
const char *http_op_name(const char *method, const char *path, unsigned int skip,
    char *out, size_t len);
/* The outcome label of an http_do() result: "ok", "throttled" (429),
 * "http_4xx", "http_5xx", "timeout", "cancelled", "error". */
const char *http_outcome(int r, long status);

/* 1 when url is plain http to a link-local metadata address. */
int http_is_metadata_url(const char *url);
/*
 * Splits "scheme://host[:port]/..." into the host[:port] used for the Host
 * header and signing (default ports dropped, IPv6 in brackets).
 */
int http_url_hostport(const char *url, char *out, size_t len);

/*
 * Cancellation and deadlines.  prov_cancel_set(1) (the daemon, on SIGTERM)
 * makes every transfer in flight, in any thread, end within ~100 ms and every
 * later request and retry sleep fail at once with -ECANCELED.  A deadline
 * (CLOCK_MONOTONIC milliseconds, 0 = none) bounds the calling thread's
 * current pass: requests are shortened to it and fail with -ETIMEDOUT past
 * it.  prov_interrupted() says which applies now (0, -ECANCELED, -ETIMEDOUT);
 * long loops of a provider check it.
 */
void prov_cancel_set(int on);
int prov_cancelled(void);
void prov_deadline_set(uint64_t monotonic_ms);
uint64_t prov_deadline(void);
int prov_interrupted(void);

/* Sets this thread's provider error text (prov_last_error()). */
void prov_set_error(const char *fmt, ...) CR_PRINTF(1, 2);
void prov_clear_error(void);

#endif
