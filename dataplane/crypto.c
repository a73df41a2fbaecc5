/*
 * The primitives of Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s (whitepaper §5.4),
 * all from OpenSSL 3: HASH = BLAKE2s-256, MAC = keyed BLAKE2s with a 16-byte
 * output (BLAKE2SMAC, not a truncated digest), HMAC-BLAKE2s and the KDF1..3
 * built on it, X25519, ChaCha20-Poly1305 with keys set once per context, and
 * XChaCha20-Poly1305 (cookie replies) whose HChaCha20 step is recovered from
 * one block of OpenSSL's ChaCha20 keystream.
 *
 * The algorithm handles are fetched once (noise_global_init / crypto_ready)
 * and shared read-only; contexts are per call, or per keypair and worker on
 * the data path, so nothing here needs a lock.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "dataplane/noise.h"
#include "dataplane/noise_crypto.h"

static EVP_MD *g_blake2s;
static EVP_MAC *g_hmac;
static EVP_MAC *g_b2smac;
static EVP_MAC_CTX *g_hmac_tmpl;	/* digest set; dup'd per use */
static EVP_MAC_CTX *g_b2smac_tmpl;	/* 16-byte output set */
static EVP_CIPHER *g_chachapoly;
static EVP_CIPHER *g_chacha;
static int g_ready_err = -ENOTSUP;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_vzeroupper;	/* the CPU has AVX: clean its upper state after OpenSSL */

/*
 * OpenSSL's AVX-512 ChaCha20 and Poly1305 return with the upper halves of
 * the vector registers dirty; until a VZEROUPPER every legacy-SSE
 * instruction after them (OpenSSL's own EVP glue, ours, the kernel entry)
 * runs with a false dependency on that state.  Clearing it after each call
 * of the data path made a 1,424-byte seal about a quarter faster here.
 * Nothing we compile uses the upper halves (no -mavx), so nothing is lost.
 */
static inline void
vector_clean(void)
{
#if defined(__x86_64__)
	if (g_vzeroupper)
		__asm__ volatile("vzeroupper" ::: "memory");
#endif
}

static EVP_MAC_CTX *
mac_template(EVP_MAC *alg, int hmac)
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(alg);
	OSSL_PARAM params[2];
	size_t size = 16;

	if (hmac)
		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		    (char *)"BLAKE2S-256", 0);
	else
		params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx && EVP_MAC_CTX_set_params(ctx, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

static void
fetch_all(void)
{
	g_blake2s = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	g_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	g_b2smac = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	g_chachapoly = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	g_chacha = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
	if (!g_blake2s || !g_hmac || !g_b2smac || !g_chachapoly || !g_chacha)
		return;
	/* Parameters set once: looking the digest up by name per HMAC is
	 * most of an HMAC's cost.  The templates are only ever read (dup). */
	g_hmac_tmpl = mac_template(g_hmac, 1);
	g_b2smac_tmpl = mac_template(g_b2smac, 0);
#if defined(__x86_64__)
	g_vzeroupper = __builtin_cpu_supports("avx");
#endif
	if (g_hmac_tmpl && g_b2smac_tmpl)
		g_ready_err = 0;
}

int
crypto_ready(void)
{
	pthread_once(&g_once, fetch_all);
	return g_ready_err;
}

int
noise_global_init(void)
{
	return crypto_ready();
}

int
crypto_random(void *p, size_t n, int priv)
{
	int ok;

	if (n > INT_MAX)
		return -EINVAL;
	ok = priv ? RAND_priv_bytes(p, (int)n) : RAND_bytes(p, (int)n);
	return ok == 1 ? 0 : -EIO;
}

/* ---- BLAKE2s, HMAC, MAC, KDF -------------------------------------------- */

int
dp_blake2s(uint8_t out[32], const uint8_t *in, size_t len)
{
	unsigned int outl = 0;

	if (crypto_ready() < 0)
		return -ENOTSUP;
	if (EVP_Digest(in, len, out, &outl, g_blake2s, NULL) != 1 || outl != 32)
		return -EIO;
	return 0;
}

int
crypto_hash2(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen)
{
	EVP_MD_CTX *ctx;
	unsigned int outl = 0;
	int ret = -EIO;

	if (crypto_ready() < 0)
		return -ENOTSUP;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex2(ctx, g_blake2s, NULL) == 1 &&
	    (alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
	    (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
	    EVP_DigestFinal_ex(ctx, out, &outl) == 1 && outl == 32)
		ret = 0;
	EVP_MD_CTX_free(ctx);
	return ret;
}

/* One MAC computation from a template context (HMAC or BLAKE2SMAC). */
static int
mac_run(EVP_MAC_CTX *tmpl, uint8_t *out, size_t outlen,
    const uint8_t *key, size_t keylen, const uint8_t *in, size_t len)
{
	static const uint8_t empty_key[1];
	EVP_MAC_CTX *ctx = NULL;
	size_t got = 0;
	int ret = -EIO;

	if (crypto_ready() < 0)
		return -ENOTSUP;
	if ((ctx = EVP_MAC_CTX_dup(tmpl)) == NULL)
		goto out;
	/* A NULL key would mean "keep the previous key" to OpenSSL. */
	if (EVP_MAC_init(ctx, keylen ? key : empty_key, keylen, NULL) != 1)
		goto out;
	if (len && EVP_MAC_update(ctx, in, len) != 1)
		goto out;
	if (EVP_MAC_final(ctx, out, &got, outlen) != 1 || got != outlen)
		goto out;
	ret = 0;
out:
	EVP_MAC_CTX_free(ctx);	/* OpenSSL cleanses the key schedule */
	return ret;
}

int
dp_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen,
    const uint8_t *in, size_t len)
{
	return mac_run(g_hmac_tmpl, out, 32, key, keylen, in, len);
}

int
dp_mac_blake2s16(uint8_t out[16], const uint8_t *key, size_t keylen,
    const uint8_t *in, size_t len)
{
	if (keylen == 0 || keylen > 32)
		return -EINVAL;
	return mac_run(g_b2smac_tmpl, out, 16, key, keylen, in, len);
}

/*
 * Whitepaper §5.4: tau0 = HMAC(ck, in); tau1 = HMAC(tau0, 0x1);
 * tau_i = HMAC(tau0, tau_{i-1} || i).
 */
int
dp_kdf(uint8_t out1[32], uint8_t out2[32], uint8_t out3[32],
    const uint8_t ck[32], const uint8_t *in, size_t len)
{
	uint8_t prk[32], t[33];
	int ret;

	if ((ret = dp_hmac_blake2s(prk, ck, 32, in, len)) < 0)
		goto out;
	t[0] = 1;
	if ((ret = dp_hmac_blake2s(t, prk, 32, t, 1)) < 0)
		goto out;
	memcpy(out1, t, 32);
	if (out2 == NULL)
		goto out;
	t[32] = 2;
	if ((ret = dp_hmac_blake2s(t, prk, 32, t, 33)) < 0)
		goto out;
	memcpy(out2, t, 32);
	if (out3 == NULL)
		goto out;
	t[32] = 3;
	if ((ret = dp_hmac_blake2s(t, prk, 32, t, 33)) < 0)
		goto out;
	memcpy(out3, t, 32);
out:
	OPENSSL_cleanse(prk, sizeof(prk));
	OPENSSL_cleanse(t, sizeof(t));
	return ret;
}

/* ---- X25519 -------------------------------------------------------------- */

/*
 * A private key loaded once (EVP_PKEY): importing a raw X25519 private key
 * computes its public key, a scalar multiplication as costly as the DH, so
 * the static key stays loaded and ephemerals are loaded once per handshake.
 */
void *
crypto_x25519_load(const uint8_t priv[32])
{
	if (crypto_ready() < 0)
		return NULL;
	return EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
}

void
crypto_x25519_free(void *sk)
{
	EVP_PKEY_free(sk);	/* frees the private key cleansed */
}

int
crypto_x25519_public(void *sk, uint8_t pub[32])
{
	size_t len = 32;

	if (sk == NULL || EVP_PKEY_get_raw_public_key(sk, pub, &len) != 1 || len != 32)
		return -EINVAL;
	return 0;
}

int
crypto_x25519_derive(uint8_t out[32], void *sk, const uint8_t pub[32])
{
	EVP_PKEY *pk = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	uint8_t zero[32] = { 0 };
	size_t outlen = 32;
	int ret = -EINVAL;

	if (sk == NULL)
		goto out;
	if ((pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32)) == NULL)
		goto out;
	if ((ctx = EVP_PKEY_CTX_new(sk, NULL)) == NULL ||
	    EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer_ex(ctx, pk, 0) != 1)
		goto out;
	/* OpenSSL itself refuses an all-zero result; we check it again. */
	if (EVP_PKEY_derive(ctx, out, &outlen) != 1 || outlen != 32)
		goto out;
	if (CRYPTO_memcmp(out, zero, 32) == 0)
		goto out;
	ret = 0;
out:
	if (ret < 0) {
		OPENSSL_cleanse(out, 32);
		/* A hostile key must not leave errors for other OpenSSL users. */
		ERR_clear_error();
	}
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return ret;
}

int
dp_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32])
{
	void *sk;
	int ret;

	if (crypto_ready() < 0)
		return -ENOTSUP;
	if ((sk = crypto_x25519_load(priv)) == NULL) {
		OPENSSL_cleanse(out, 32);
		return -EINVAL;
	}
	ret = crypto_x25519_derive(out, sk, pub);
	crypto_x25519_free(sk);
	return ret;
}

static int
x25519_public(uint8_t pub[32], const uint8_t priv[32])
{
	void *sk;
	int ret;

	if (crypto_ready() < 0)
		return -ENOTSUP;
	sk = crypto_x25519_load(priv);
	ret = crypto_x25519_public(sk, pub);
	crypto_x25519_free(sk);
	return ret;
}

int
dp_pubkey(uint8_t pub[NOISE_KEY_LEN], const uint8_t priv[NOISE_KEY_LEN])
{
	return x25519_public(pub, priv);
}

static void
clamp(uint8_t k[32])
{
	k[0] &= 248;
	k[31] = (uint8_t)((k[31] & 127) | 64);
}

int
dp_genkey(uint8_t priv[NOISE_KEY_LEN])
{
	int ret;

	if ((ret = crypto_random(priv, NOISE_KEY_LEN, 1)) < 0)
		return ret;
	clamp(priv);
	return 0;
}

int
crypto_keypair(uint8_t priv[32], uint8_t pub[32], void **sk)
{
	void *k = NULL;
	int ret;

	if ((ret = dp_genkey(priv)) == 0) {
		k = crypto_x25519_load(priv);
		ret = crypto_x25519_public(k, pub);
	}
	if (ret < 0 || sk == NULL) {
		crypto_x25519_free(k);
		k = NULL;
	}
	if (ret < 0)
		OPENSSL_cleanse(priv, 32);
	if (sk != NULL)
		*sk = k;
	return ret;
}

/* ---- ChaCha20-Poly1305 ---------------------------------------------------- */

EVP_CIPHER_CTX *
crypto_aead_new(const uint8_t key[32], int enc)
{
	EVP_CIPHER_CTX *ctx;

	if (crypto_ready() < 0 || (ctx = EVP_CIPHER_CTX_new()) == NULL)
		return NULL;
	if (EVP_CipherInit_ex2(ctx, g_chachapoly, key, NULL, enc, NULL) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

void
crypto_aead_free(EVP_CIPHER_CTX *ctx)
{
	EVP_CIPHER_CTX_free(ctx);	/* cleanses the key */
}

void
crypto_counter_nonce(uint8_t nonce[CHACHA_NONCE_LEN], uint64_t counter)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

int
crypto_aead_seal(EVP_CIPHER_CTX *ctx, const uint8_t nonce[CHACHA_NONCE_LEN],
    const uint8_t *aad, size_t aadlen, uint8_t *dst, const uint8_t *src, size_t len)
{
	OSSL_PARAM tag[2];
	int outl, fin, ok;

	if (len > INT_MAX - NOISE_AUTHTAG_LEN || aadlen > INT_MAX)
		return -EINVAL;
	/* Cipher and key NULL: only the nonce changes, the key stays. */
	ok = EVP_EncryptInit_ex2(ctx, NULL, NULL, nonce, NULL) == 1 &&
	    (!aadlen || EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aadlen) == 1);
	vector_clean();
	ok = ok && (!len || EVP_EncryptUpdate(ctx, dst, &outl, src, (int)len) == 1);
	vector_clean();
	ok = ok && EVP_EncryptFinal_ex(ctx, dst + len, &fin) == 1;
	vector_clean();
	if (!ok)
		return -EIO;
	/* the tag as a parameter: EVP_CIPHER_CTX_ctrl would build this per call */
	tag[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, dst + len,
	    NOISE_AUTHTAG_LEN);
	tag[1] = OSSL_PARAM_construct_end();
	if (EVP_CIPHER_CTX_get_params(ctx, tag) != 1)
		return -EIO;
	return 0;
}

int
crypto_aead_open(EVP_CIPHER_CTX *ctx, const uint8_t nonce[CHACHA_NONCE_LEN],
    const uint8_t *aad, size_t aadlen, uint8_t *dst, const uint8_t *src, size_t len)
{
	uint8_t tag[NOISE_AUTHTAG_LEN];
	OSSL_PARAM params[2];
	size_t plen;
	int outl, fin, ok;

	if (len < NOISE_AUTHTAG_LEN || len > INT_MAX || aadlen > INT_MAX)
		return -EBADMSG;
	plen = len - NOISE_AUTHTAG_LEN;
	/* Copy the tag first: dst may equal src. */
	memcpy(tag, src + plen, sizeof(tag));
	/* the expected tag goes in with the nonce: one call instead of two */
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag,
	    sizeof(tag));
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_DecryptInit_ex2(ctx, NULL, NULL, nonce, params) != 1)
		return -EIO;
	ok = !aadlen || EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aadlen) == 1;
	vector_clean();
	ok = ok && (!plen || EVP_DecryptUpdate(ctx, dst, &outl, src, (int)plen) == 1);
	vector_clean();
	if (!ok)
		return -EBADMSG;
	ok = EVP_DecryptFinal_ex(ctx, dst + plen, &fin) == 1;
	vector_clean();
	if (!ok) {
		/* Never hand out unauthenticated plaintext. */
		OPENSSL_cleanse(dst, plen);
		ERR_clear_error();
		return -EBADMSG;
	}
	return 0;
}

int
crypto_aead_seal_once(const uint8_t key[32], uint64_t counter,
    const uint8_t *aad, size_t aadlen, uint8_t *dst, const uint8_t *src, size_t len)
{
	uint8_t nonce[CHACHA_NONCE_LEN];
	EVP_CIPHER_CTX *ctx;
	int ret;

	if ((ctx = crypto_aead_new(key, 1)) == NULL)
		return -ENOMEM;
	crypto_counter_nonce(nonce, counter);
	ret = crypto_aead_seal(ctx, nonce, aad, aadlen, dst, src, len);
	crypto_aead_free(ctx);
	return ret;
}

int
crypto_aead_open_once(const uint8_t key[32], uint64_t counter,
    const uint8_t *aad, size_t aadlen, uint8_t *dst, const uint8_t *src, size_t len)
{
	uint8_t nonce[CHACHA_NONCE_LEN];
	EVP_CIPHER_CTX *ctx;
	int ret;

	if ((ctx = crypto_aead_new(key, 0)) == NULL)
		return -ENOMEM;
	crypto_counter_nonce(nonce, counter);
	ret = crypto_aead_open(ctx, nonce, aad, aadlen, dst, src, len);
	crypto_aead_free(ctx);
	return ret;
}

/* ---- HChaCha20 and XChaCha20-Poly1305 ------------------------------------- */

static uint32_t
le32_get(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static void
le32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * OpenSSL's ChaCha20 takes a 16-byte IV = le32 block counter || 96-bit
 * nonce, which fills state words 12..15 exactly like HChaCha20's 128-bit
 * nonce.  One keystream block is rounds(state) + state; HChaCha20 wants
 * rounds(state) in words 0..3 and 12..15, whose initial values (the
 * "expand 32-byte k" constants and the nonce) are known, so subtract them.
 */
int
dp_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce16[16])
{
	static const uint8_t sigma[16] = "expand 32-byte k";
	uint8_t block[64] = { 0 };
	EVP_CIPHER_CTX *ctx = NULL;
	int i, outl, ret = -EIO;

	if (crypto_ready() < 0)
		return -ENOTSUP;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		goto out;
	if (EVP_EncryptInit_ex2(ctx, g_chacha, key, nonce16, NULL) != 1 ||
	    EVP_EncryptUpdate(ctx, block, &outl, block, 64) != 1 || outl != 64)
		goto out;
	for (i = 0; i < 4; i++) {
		le32_put(out + 4 * i, le32_get(block + 4 * i) - le32_get(sigma + 4 * i));
		le32_put(out + 16 + 4 * i,
		    le32_get(block + 48 + 4 * i) - le32_get(nonce16 + 4 * i));
	}
	ret = 0;
out:
	OPENSSL_cleanse(block, sizeof(block));
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

static int
xchacha_run(int enc, uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[24], const uint8_t key[32])
{
	uint8_t subkey[32], n12[CHACHA_NONCE_LEN];
	EVP_CIPHER_CTX *ctx = NULL;
	int ret;

	if ((ret = dp_hchacha20(subkey, key, nonce)) < 0)
		goto out;
	memset(n12, 0, 4);
	memcpy(n12 + 4, nonce + 16, 8);
	if ((ctx = crypto_aead_new(subkey, enc)) == NULL) {
		ret = -ENOMEM;
		goto out;
	}
	if (enc)
		ret = crypto_aead_seal(ctx, n12, aad, aadlen, dst, src, len);
	else
		ret = crypto_aead_open(ctx, n12, aad, aadlen, dst, src, len);
out:
	crypto_aead_free(ctx);
	OPENSSL_cleanse(subkey, sizeof(subkey));
	return ret;
}

int
dp_xchacha20poly1305_encrypt(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[24], const uint8_t key[32])
{
	return xchacha_run(1, dst, src, len, aad, aadlen, nonce, key);
}

int
dp_xchacha20poly1305_decrypt(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[24], const uint8_t key[32])
{
	return xchacha_run(0, dst, src, len, aad, aadlen, nonce, key);
}
