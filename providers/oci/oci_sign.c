/*
 * OCI request signatures, version 1: draft-cavage-http-signatures-08 with
 * the "Signature" authorization scheme and rsa-sha256, as the OCI "Request
 * Signatures" page profiles it.  The signing string is one "name: value"
 * line per signed header, in this order, joined by "\n":
 *
 *   date, (request-target) = "<lowercase method> <path?query>", host
 *   (the federation endpoint: no host, as the SDKs sign it there)
 *   PUT/POST/PATCH add content-length, content-type, x-content-sha256
 *   (base64 SHA-256 of the body, also for an empty body)
 *
 * Authorization: Signature version="1",headers="...",keyId="...",
 * algorithm="rsa-sha256",signature="<base64 RSASSA-PKCS1-v1_5 SHA-256>".
 *
 * Also here: the helpers instance principals need (JWT "exp", the tenancy
 * in the instance certificate's subject, SHA-1 certificate fingerprints,
 * DER/base64 of certificates and public keys, session key generation).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>

#include "oci.h"
#include "providers/sigv4.h"

int
oci_method_has_body(const char *method)
{
	return strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PATCH") == 0;
}

void
oci_http_date(time_t t, char out[32])
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7],
	    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec);
}

static int
body_hash(const void *body, size_t len, char out[48])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	struct buf b;
	int r;

	if (EVP_Digest(body != NULL ? body : "", len, md, NULL, EVP_sha256(), NULL) != 1)
		return -EIO;
	buf_init(&b, 64);
	if ((r = prov_base64(md, sizeof(md), &b)) == 0)
		cr_strlcpy(out, b.data, 48);
	buf_free(&b);
	return r;
}

static int
rsa_sign(EVP_PKEY *key, const void *msg, size_t n, struct buf *sig)
{
	EVP_MD_CTX *md;
	unsigned char *s = NULL;
	size_t slen = 0;
	int r = -EIO;

	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		return -EINVAL;
	if ((md = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &slen, msg, n) != 1 ||
	    (s = OPENSSL_malloc(slen)) == NULL ||
	    EVP_DigestSign(md, s, &slen, msg, n) != 1)
		goto out;
	buf_reset(sig);
	r = prov_base64(s, slen, sig);
out:
	OPENSSL_free(s);
	EVP_MD_CTX_free(md);
	return r;
}

static int
method_lower(const char *m, char *out, size_t len)
{
	size_t i;

	for (i = 0; m[i] != '\0' && i + 1 < len; i++)
		out[i] = (char)(m[i] >= 'A' && m[i] <= 'Z' ? m[i] + 32 : m[i]);
	out[i] = '\0';
	return m[i] == '\0' ? 0 : -EINVAL;
}

int
oci_sign(const struct oci_sign_input *in, const char *key_id, EVP_PKEY *key,
    struct oci_signature *out)
{
	int body = oci_method_has_body(in->method), r;
	const char *headers;
	char method[16];
	struct buf sig;

	memset(out, 0, sizeof(*out));
	buf_init(&out->signing_string, 64u << 10);
	buf_init(&out->authorization, 64u << 10);
	buf_init(&sig, 4096);
	if ((r = method_lower(in->method, method, sizeof(method))) < 0 ||
	    in->target == NULL || in->target[0] != '/' || in->host == NULL ||
	    in->date == NULL || key_id == NULL) {
		r = -EINVAL;
		goto out;
	}
	if ((r = buf_printf(&out->signing_string, "date: %s\n(request-target): %s %s",
	    in->date, method, in->target)) < 0 ||
	    (!in->no_host && (r = buf_printf(&out->signing_string, "\nhost: %s", in->host)) < 0))
		goto out;
	headers = in->no_host ? "date (request-target)" : "date (request-target) host";
	if (body) {
		if ((r = body_hash(in->body, in->body_len, out->content_sha256)) < 0)
			goto out;
		snprintf(out->content_length, sizeof(out->content_length), "%zu", in->body_len);
		if ((r = buf_printf(&out->signing_string, "\ncontent-length: %s\n"
		    "content-type: %s\nx-content-sha256: %s", out->content_length,
		    in->content_type != NULL ? in->content_type : "application/json",
		    out->content_sha256)) < 0)
			goto out;
		headers = in->no_host ? "date (request-target) content-length content-type "
		    "x-content-sha256" : "date (request-target) host content-length "
		    "content-type x-content-sha256";
	}
	if ((r = rsa_sign(key, out->signing_string.data, out->signing_string.len, &sig)) < 0)
		goto out;
	r = buf_printf(&out->authorization, "Signature version=\"1\",headers=\"%s\","
	    "keyId=\"%s\",algorithm=\"rsa-sha256\",signature=\"%s\"", headers, key_id,
	    sig.data);
out:
	buf_free(&sig);
	return r;
}

void
oci_signature_free(struct oci_signature *out)
{
	buf_free(&out->signing_string);
	buf_free(&out->authorization);   /* carries the security token */
}

/* base64url without padding -> bytes (NUL-terminated in out). */
static int
b64url_decode(const char *s, size_t n, struct buf *out)
{
	unsigned char *tmp = NULL;
	struct buf std;
	int len, r;
	size_t i;

	buf_init(&std, 64u << 10);
	for (i = 0; i < n; i++) {
		char ch = s[i] == '-' ? '+' : s[i] == '_' ? '/' : s[i];

		if ((r = buf_append(&std, &ch, 1)) < 0)
			goto out;
	}
	while (std.len % 4 != 0)
		if ((r = buf_append(&std, "=", 1)) < 0)
			goto out;
	r = -ENOMEM;
	if ((tmp = malloc(std.len + 1)) == NULL)
		goto out;
	len = EVP_DecodeBlock(tmp, (const unsigned char *)std.data, (int)std.len);
	r = -EINVAL;
	if (len < 0)
		goto out;
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	for (i = std.len; i > 0 && std.data[i - 1] == '='; i--)
		len--;
	r = buf_append(out, tmp, (size_t)len);
out:
	free(tmp);
	buf_free(&std);
	return r;
}

int
oci_jwt_exp(const char *jwt, time_t *exp)
{
	const char *a, *b;
	struct json_object *o = NULL, *v;
	struct buf payload;
	int r = -EINVAL;

	if (jwt == NULL || (a = strchr(jwt, '.')) == NULL || (b = strchr(a + 1, '.')) == NULL ||
	    strchr(b + 1, '.') != NULL)
		return -EINVAL;
	buf_init(&payload, 64u << 10);
	if (b64url_decode(a + 1, (size_t)(b - a - 1), &payload) < 0 || payload.len == 0)
		goto out;
	if ((o = json_tokener_parse(payload.data)) == NULL ||
	    !json_object_object_get_ex(o, "exp", &v) ||
	    (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)))
		goto out;
	*exp = (time_t)json_object_get_int64(v);
	r = *exp > 0 ? 0 : -EINVAL;
out:
	json_object_put(o);
	buf_free(&payload);
	return r;
}

int
oci_cert_tenancy(X509 *cert, char *out, size_t len)
{
	static const char pfx[] = "opc-tenant:";
	X509_NAME *name = X509_get_subject_name(cert);
	int i, n = name != NULL ? X509_NAME_entry_count(name) : 0;

	for (i = 0; i < n; i++) {
		ASN1_STRING *d = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
		const unsigned char *s = ASN1_STRING_get0_data(d);
		int l = ASN1_STRING_length(d);

		if (l > (int)sizeof(pfx) - 1 && memcmp(s, pfx, sizeof(pfx) - 1) == 0 &&
		    (size_t)l - (sizeof(pfx) - 1) < len &&
		    memchr(s, '\0', (size_t)l) == NULL) {
			memcpy(out, s + sizeof(pfx) - 1, (size_t)l - (sizeof(pfx) - 1));
			out[(size_t)l - (sizeof(pfx) - 1)] = '\0';
			return 0;
		}
	}
	return -ENOENT;
}

int
oci_cert_fingerprint(X509 *cert, char out[60])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (X509_digest(cert, EVP_sha1(), md, &n) != 1 || n != 20)
		return -EIO;
	for (i = 0; i < n; i++)
		snprintf(out + 3 * i, 4, "%02x%s", md[i], i + 1 < n ? ":" : "");
	return 0;
}

X509 *
oci_pem_cert(const char *pem, size_t len)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	X509 *x;

	if (bio == NULL)
		return NULL;
	x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	return x;
}

static int
der_b64(unsigned char *der, int n, struct buf *out)
{
	int r;

	if (n <= 0)
		return -EIO;
	r = prov_base64(der, (size_t)n, out);
	OPENSSL_free(der);
	return r;
}

int
oci_cert_b64(X509 *cert, struct buf *out)
{
	unsigned char *der = NULL;

	return der_b64(der, i2d_X509(cert, &der), out);
}

int
oci_pubkey_b64(EVP_PKEY *key, struct buf *out)
{
	unsigned char *der = NULL;

	return der_b64(der, i2d_PUBKEY(key, &der), out);
}

EVP_PKEY *
oci_rsa_generate(void)
{
	return EVP_RSA_gen(2048);
}

/* Never the terminal prompt OpenSSL falls back to without a callback. */
static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	size_t n;

	(void)rwflag;
	if (u == NULL || size <= 0 || (n = strlen(u)) >= (size_t)size)
		return 0;
	memcpy(buf, u, n);
	return (int)n;
}

EVP_PKEY *
oci_pem_key(const char *pem, size_t len, const char *passphrase)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *k;

	if (bio == NULL)
		return NULL;
	k = PEM_read_bio_PrivateKey(bio, NULL, pass_cb, (void *)passphrase);
	BIO_free(bio);
	if (k != NULL && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
		EVP_PKEY_free(k);
		k = NULL;
	}
	return k;
}
