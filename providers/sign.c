/*
 * Signing primitives shared by the providers, on OpenSSL: SHA-256 hex,
 * HMAC-SHA256, RSA-SHA256 (OCI request signatures), base64.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "sigv4.h"

int
prov_hmac_sha256(const void *key, size_t klen, const void *msg, size_t n,
    unsigned char out[32])
{
	unsigned int outlen = 0;

	if (HMAC(EVP_sha256(), key, (int)klen, msg, n, out, &outlen) == NULL ||
	    outlen != 32)
		return -EIO;
	return 0;
}

int
prov_rsa_sha256_sign(const char *pem, size_t pem_len, const void *msg,
    size_t n, struct buf *sig)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *s = NULL;
	size_t slen = 0;
	BIO *bio;
	int r = -EINVAL;

	if ((bio = BIO_new_mem_buf(pem, (int)pem_len)) == NULL)
		return -ENOMEM;
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (key == NULL || EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA)
		goto out;
	r = -EIO;
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &slen, msg, n) != 1 ||
	    (s = OPENSSL_malloc(slen)) == NULL ||
	    EVP_DigestSign(md, s, &slen, msg, n) != 1)
		goto out;
	r = buf_append(sig, s, slen);
out:
	OPENSSL_free(s);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);      /* frees and cleanses the key material */
	return r;
}

int
prov_base64(const void *p, size_t n, struct buf *out)
{
	unsigned char *tmp;
	int len, r;

	if (n > (1u << 28))
		return -E2BIG;
	if ((tmp = malloc(4 * ((n + 2) / 3) + 1)) == NULL)
		return -ENOMEM;
	len = EVP_EncodeBlock(tmp, p, (int)n);
	r = len < 0 ? -EIO : buf_append(out, tmp, (size_t)len);
	free(tmp);
	return r;
}
