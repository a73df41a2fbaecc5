/*
 * Internal to the WireGuard protocol core (crypto.c, noise.c, cookie.c,
 * key.c, and their unit tests): the OpenSSL handles fetched once by
 * noise_global_init() and the ChaCha20-Poly1305 helpers every AEAD in the
 * protocol goes through.  The device layer uses noise.h only.
 */
#ifndef DP_NOISE_CRYPTO_H
#define DP_NOISE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define CHACHA_NONCE_LEN 12

/* Fetches once (thread-safe); 0 or -ENOTSUP.  Every primitive calls it. */
int crypto_ready(void);

/*
 * A ChaCha20-Poly1305 context with its key set once; each seal/open only
 * sets the 96-bit nonce, so the per-packet path allocates nothing.
 * enc: 1 for a sealing context, 0 for an opening one.
 */
EVP_CIPHER_CTX *crypto_aead_new(const uint8_t key[32], int enc);
void crypto_aead_free(EVP_CIPHER_CTX *ctx);
/* dst: len + 16 bytes (may equal src).  0 or -EIO. */
int crypto_aead_seal(EVP_CIPHER_CTX *ctx, const uint8_t nonce[CHACHA_NONCE_LEN],
    const uint8_t *aad, size_t aadlen, uint8_t *dst, const uint8_t *src, size_t len);
/* src: len bytes including the tag; dst: len - 16 bytes.  0 or -EBADMSG. */
int crypto_aead_open(EVP_CIPHER_CTX *ctx, const uint8_t nonce[CHACHA_NONCE_LEN],
    const uint8_t *aad, size_t aadlen, uint8_t *dst, const uint8_t *src, size_t len);

/* WireGuard's nonce: 32 zero bits || le64 counter. */
void crypto_counter_nonce(uint8_t nonce[CHACHA_NONCE_LEN], uint64_t counter);

/* One-shot AEAD with a throw-away context (handshake messages). */
int crypto_aead_seal_once(const uint8_t key[32], uint64_t counter,
    const uint8_t *aad, size_t aadlen, uint8_t *dst, const uint8_t *src, size_t len);
int crypto_aead_open_once(const uint8_t key[32], uint64_t counter,
    const uint8_t *aad, size_t aadlen, uint8_t *dst, const uint8_t *src, size_t len);

/* out = BLAKE2s-256(a || b). */
int crypto_hash2(uint8_t out[32], const void *a, size_t alen, const void *b, size_t blen);

/* Random bytes: priv selects RAND_priv_bytes (key material).  0 or -EIO. */
int crypto_random(void *p, size_t n, int priv);
/* Random clamped X25519 private key and its public key; with sk, the key
 * stays loaded there for crypto_x25519_derive (caller frees). */
int crypto_keypair(uint8_t priv[32], uint8_t pub[32], void **sk);

/* X25519 with a loaded private key (an EVP_PKEY): load once, derive often. */
void *crypto_x25519_load(const uint8_t priv[32]);   /* NULL on failure */
void crypto_x25519_free(void *sk);                  /* NULL is fine */
int crypto_x25519_public(void *sk, uint8_t pub[32]);
/* -EINVAL for an all-zero result (low-order point) or a NULL sk. */
int crypto_x25519_derive(uint8_t out[32], void *sk, const uint8_t pub[32]);

#endif
