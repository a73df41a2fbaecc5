/*
 * AWS Signature Version 4 (header signing), RFC 3986 encoding, and the
 * OpenSSL signing primitives the providers share (SHA-256, HMAC-SHA256,
 * RSA-SHA256 for OCI, base64).
 *
 * SigV4 steps as the AWS documentation labels them:
 *   1. canonical request: method, canonical URI, canonical query string,
 *      canonical headers, signed headers, hex(SHA-256(payload))
 *   2. string to sign: "AWS4-HMAC-SHA256", amz-date, scope, hex(SHA-256(1))
 *   3. signing key: HMAC chain "AWS4"+secret -> date -> region -> service
 *      -> "aws4_request"
 *   4. signature: hex(HMAC(signing key, 2)), sent in the Authorization header
 */
#ifndef PROV_SIGV4_H
#define PROV_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "common/util.h"
#include "http.h"

struct sigv4_creds {
	const char *access_key;
	const char *secret_key;
	const char *token;                /* session token or NULL */
};

struct sigv4_input {
	const char *method;
	const char *path;                 /* unencoded path; NULL or "" = "/" */
	const char *query;                /* raw query without '?', may be NULL */
	/* Headers to sign (must include host).  x-amz-date, the session
	 * token and x-amz-content-sha256 are added by the signer. */
	const struct http_header *headers;
	size_t n_headers;
	const void *body;
	size_t body_len;
	const char *region;
	const char *service;
	time_t when;
	int normalize_path;               /* drop "." "..", duplicate slashes */
	int sign_body;                    /* add and sign x-amz-content-sha256 */
	int omit_session_token;           /* token sent but not signed */
};

struct sigv4_output {
	char amz_date[17];                /* "20150830T123600Z" */
	char payload_hash[65];
	char signature[65];
	struct buf canonical;             /* canonical request */
	struct buf string_to_sign;
	struct buf authorization;         /* value of the Authorization header */
};

/*
 * Signs the request.  The caller sends X-Amz-Date: amz_date,
 * X-Amz-Security-Token (when creds->token), x-amz-content-sha256 (when
 * sign_body) and Authorization.  0 or -errno.  out must be freed with
 * sigv4_output_free in every case.
 */
int sigv4_sign(const struct sigv4_input *in, const struct sigv4_creds *creds,
    struct sigv4_output *out);
void sigv4_output_free(struct sigv4_output *out);

/* RFC 3986: A-Z a-z 0-9 - _ . ~ kept, every other byte %XX (uppercase);
 * '/' kept too when keep_slash. */
int sigv4_uri_encode(struct buf *b, const char *s, size_t len, int keep_slash);

/* Primitives on OpenSSL EVP (SHA-256 hex is cr_sha256_hex in common/util.h). */
int prov_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n,
    unsigned char out[32]);
/* Signs msg with a PEM private key (RSA PKCS#1 v1.5, SHA-256); the raw
 * signature is appended to sig. */
int prov_rsa_sha256_sign(const char *pem, size_t pem_len, const void *msg,
    size_t n, struct buf *sig);
/* Standard base64 with padding, appended to out. */
int prov_base64(const void *p, size_t n, struct buf *out);

#endif
