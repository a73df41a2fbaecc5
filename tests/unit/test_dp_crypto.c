/*
 * Unit tests for the WireGuard primitives (dataplane/crypto.c, key.c)
 * against published vectors: X25519 (RFC 7748 §5.2, §6.1) and low-order
 * rejection, ChaCha20-Poly1305 (RFC 8439 §2.8.2) through the same keyed-once
 * context path the data plane uses, HChaCha20 and XChaCha20-Poly1305
 * (draft-irtf-cfrg-xchacha-03 §2.2.1, A.3.1), BLAKE2s-256 (RFC 7693
 * Appendix B), keyed BLAKE2s-128 (values from Python's hashlib, an
 * independent implementation), HMAC-BLAKE2s and KDF1..3 (wireguard-go
 * device/kdf_test.go), and key encoding against a `wg genkey` key pair.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/err.h>

#include "dataplane/noise.h"
#include "dataplane/noise_crypto.h"

/* Decodes a hex string (test data, trusted) into out; returns its length. */
static size_t
unhex(uint8_t *out, size_t max, const char *hex)
{
	size_t n = strlen(hex) / 2, i;
	unsigned int v;

	assert_true(n <= max);
	for (i = 0; i < n; i++) {
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	return n;
}

static void
assert_hex(const uint8_t *got, size_t len, const char *want)
{
	uint8_t w[512];

	assert_int_equal(unhex(w, sizeof(w), want), len);
	assert_memory_equal(got, w, len);
}

static const char SUNSCREEN[] = "Ladies and Gentlemen of the class of '99: If I "
    "could offer you only one tip for the future, sunscreen would be it.";
static const char SUNSCREEN_AAD[] = "50515253c0c1c2c3c4c5c6c7";

/* ---- X25519 ------------------------------------------------------------- */

struct x25519_vec {
	const char *scalar, *u, *out;
};

static const struct x25519_vec x25519_vecs[] = {
	/* RFC 7748 §5.2, first vector */
	{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
	  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
	  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
	/* RFC 7748 §6.1: Alice's key with Bob's public key, and vice versa */
	{ "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	  "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
	  "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" },
	{ "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
	  "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" },
};

static void
test_x25519_vectors(void **state)
{
	uint8_t k[32], u[32], out[32];
	size_t i;

	for (i = 0; i < sizeof(x25519_vecs) / sizeof(x25519_vecs[0]); i++) {
		unhex(k, 32, x25519_vecs[i].scalar);
		unhex(u, 32, x25519_vecs[i].u);
		assert_int_equal(dp_x25519(out, k, u), 0);
		assert_hex(out, 32, x25519_vecs[i].out);
	}
	/* RFC 7748 §6.1 public keys from the private ones. */
	unhex(k, 32, x25519_vecs[1].scalar);
	assert_int_equal(dp_pubkey(out, k), 0);
	assert_hex(out, 32, x25519_vecs[2].u);
	unhex(k, 32, x25519_vecs[2].scalar);
	assert_int_equal(dp_pubkey(out, k), 0);
	assert_hex(out, 32, x25519_vecs[1].u);
}

/* Points of small order give an all-zero shared secret: refused. */
static void
test_x25519_low_order(void **state)
{
	static const char *const pts[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	};
	uint8_t priv[32], pub[32], out[32];
	size_t i;

	assert_int_equal(dp_genkey(priv), 0);
	for (i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
		unhex(pub, 32, pts[i]);
		memset(out, 0xaa, sizeof(out));
		assert_int_equal(dp_x25519(out, priv, pub), -EINVAL);
		assert_true(dp_key_is_zero(out));	/* wiped, not garbage */
		assert_int_equal(ERR_peek_error(), 0);	/* no stale OpenSSL errors */
	}
}

/* ---- ChaCha20-Poly1305 --------------------------------------------------- */

static const char RFC8439_CT[] =
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
    "3ff4def08e4b7a9de576d26586cec64b6116"
    "1ae10b594f09e26a7e902ecbd0600691";

static void
test_chachapoly_rfc8439(void **state)
{
	uint8_t key[32], nonce[12], aad[12], buf[256], pt[256];
	size_t len = strlen(SUNSCREEN), aadlen;
	EVP_CIPHER_CTX *enc, *dec;
	int round;

	unhex(key, 32, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
	aadlen = unhex(aad, sizeof(aad), SUNSCREEN_AAD);
	enc = crypto_aead_new(key, 1);
	dec = crypto_aead_new(key, 0);
	assert_non_null(enc);
	assert_non_null(dec);
	/* The key is set once; only the nonce changes between messages. */
	for (round = 0; round < 3; round++) {
		unhex(nonce, 12, round == 1 ? "000000000000000000000001" :
		    "070000004041424344454647");
		memcpy(buf, SUNSCREEN, len);
		assert_int_equal(crypto_aead_seal(enc, nonce, aad, aadlen, buf, buf,
		    len), 0);	/* in place */
		if (round != 1)
			assert_hex(buf, len + 16, RFC8439_CT);
		else
			assert_memory_not_equal(buf, SUNSCREEN, 16);
		assert_int_equal(crypto_aead_open(dec, nonce, aad, aadlen, pt, buf,
		    len + 16), 0);
		assert_memory_equal(pt, SUNSCREEN, len);
	}
	/* Tampered ciphertext, tag, aad, nonce: all refused, output wiped. */
	buf[3] ^= 1;
	assert_int_equal(crypto_aead_open(dec, nonce, aad, aadlen, pt, buf, len + 16),
	    -EBADMSG);
	assert_true(dp_key_is_zero(pt));
	buf[3] ^= 1;
	buf[len + 15] ^= 0x80;
	assert_int_equal(crypto_aead_open(dec, nonce, aad, aadlen, pt, buf, len + 16),
	    -EBADMSG);
	buf[len + 15] ^= 0x80;
	aad[0] ^= 1;
	assert_int_equal(crypto_aead_open(dec, nonce, aad, aadlen, pt, buf, len + 16),
	    -EBADMSG);
	aad[0] ^= 1;
	nonce[0] ^= 1;
	assert_int_equal(crypto_aead_open(dec, nonce, aad, aadlen, pt, buf, len + 16),
	    -EBADMSG);
	nonce[0] ^= 1;
	assert_int_equal(crypto_aead_open(dec, nonce, aad, aadlen, pt, buf, len + 16), 0);
	assert_int_equal(crypto_aead_open(dec, nonce, aad, aadlen, pt, buf, 15),
	    -EBADMSG);
	assert_int_equal(ERR_peek_error(), 0);
	crypto_aead_free(enc);
	crypto_aead_free(dec);
}

static void
test_counter_nonce(void **state)
{
	uint8_t n[12];

	crypto_counter_nonce(n, 0x0102030405060708ULL);
	assert_hex(n, 12, "000000000807060504030201");
}

/* ---- HChaCha20 / XChaCha20-Poly1305 --------------------------------------- */

static void
test_hchacha20(void **state)
{
	uint8_t key[32], nonce[16], out[32];

	unhex(key, 32, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	unhex(nonce, 16, "000000090000004a0000000031415927");
	assert_int_equal(dp_hchacha20(out, key, nonce), 0);
	assert_hex(out, 32, "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
}

static void
test_xchachapoly_draft(void **state)
{
	uint8_t key[32], nonce[24], aad[12], ct[256], pt[256];
	size_t len = strlen(SUNSCREEN), aadlen;

	unhex(key, 32, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
	unhex(nonce, 24, "404142434445464748494a4b4c4d4e4f5051525354555657");
	aadlen = unhex(aad, sizeof(aad), SUNSCREEN_AAD);
	assert_int_equal(dp_xchacha20poly1305_encrypt(ct, (const uint8_t *)SUNSCREEN,
	    len, aad, aadlen, nonce, key), 0);
	assert_hex(ct, len + 16,
	    "bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb"
	    "731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b452"
	    "2f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff9"
	    "21f9664c97637da9768812f615c68b13b52e"
	    "c0875924c1c7987947deafd8780acf49");
	assert_int_equal(dp_xchacha20poly1305_decrypt(pt, ct, len + 16, aad, aadlen,
	    nonce, key), 0);
	assert_memory_equal(pt, SUNSCREEN, len);
	/* The high nonce bytes go to ChaCha20, the low ones to HChaCha20. */
	nonce[23] ^= 1;
	assert_int_equal(dp_xchacha20poly1305_decrypt(pt, ct, len + 16, aad, aadlen,
	    nonce, key), -EBADMSG);
	nonce[23] ^= 1;
	nonce[0] ^= 1;
	assert_int_equal(dp_xchacha20poly1305_decrypt(pt, ct, len + 16, aad, aadlen,
	    nonce, key), -EBADMSG);
	nonce[0] ^= 1;
	assert_int_equal(dp_xchacha20poly1305_decrypt(pt, ct, len + 16, NULL, 0,
	    nonce, key), -EBADMSG);
}

/* ---- BLAKE2s, MAC, HMAC, KDF ---------------------------------------------- */

static void
test_blake2s(void **state)
{
	uint8_t out[32];

	/* RFC 7693 Appendix B ("abc"); "" is the well-known empty digest. */
	assert_int_equal(dp_blake2s(out, (const uint8_t *)"abc", 3), 0);
	assert_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
	assert_int_equal(dp_blake2s(out, (const uint8_t *)"", 0), 0);
	assert_hex(out, 32, "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9");
	/* The two-piece hash used by the handshake is the same function. */
	assert_int_equal(crypto_hash2(out, "a", 1, "bc", 2), 0);
	assert_hex(out, 32, "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982");
}

static void
test_mac_blake2s16(void **state)
{
	uint8_t key[32], out[16];
	size_t i;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	/* hashlib.blake2s(msg, digest_size=16, key=...): a 16-byte-output
	 * BLAKE2s, not the first half of a 32-byte one. */
	assert_int_equal(dp_mac_blake2s16(out, key, 32, (const uint8_t *)"hello world",
	    11), 0);
	assert_hex(out, 16, "9dc39de6198d670172a4bf1a20c88f06");
	assert_int_equal(dp_mac_blake2s16(out, key, 16, (const uint8_t *)"", 0), 0);
	assert_hex(out, 16, "af4e5d3bb230e9ff9096ca6f7c501f76");
	assert_int_equal(dp_mac_blake2s16(out, key, 33, key, 1), -EINVAL);
}

/* wireguard-go device/kdf_test.go */
struct kdf_vec {
	const char *key, *input, *t0, *t1, *t2;
};

static const struct kdf_vec kdf_vecs[] = {
	{ "746573742d6b6579", "746573742d696e707574",
	  "6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633",
	  "df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a",
	  "fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24" },
	{ "776972656775617264", "776972656775617264",
	  "491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8",
	  "1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f",
	  "31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160" },
	{ "", "",
	  "8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0",
	  "58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e",
	  "0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e" },
};

/* HMAC-BLAKE2s with keys of the vectors' own lengths (8, 9, 0 bytes):
 * tau0 = HMAC(key, in), t_i = HMAC(tau0, t_{i-1} || i). */
static void
test_hmac_kdf_manual(void **state)
{
	uint8_t key[32], in[32], prk[32], t[33];
	size_t i, klen, ilen;

	for (i = 0; i < sizeof(kdf_vecs) / sizeof(kdf_vecs[0]); i++) {
		klen = unhex(key, sizeof(key), kdf_vecs[i].key);
		ilen = unhex(in, sizeof(in), kdf_vecs[i].input);
		assert_int_equal(dp_hmac_blake2s(prk, key, klen, in, ilen), 0);
		t[0] = 1;
		assert_int_equal(dp_hmac_blake2s(t, prk, 32, t, 1), 0);
		assert_hex(t, 32, kdf_vecs[i].t0);
		t[32] = 2;
		assert_int_equal(dp_hmac_blake2s(t, prk, 32, t, 33), 0);
		assert_hex(t, 32, kdf_vecs[i].t1);
		t[32] = 3;
		assert_int_equal(dp_hmac_blake2s(t, prk, 32, t, 33), 0);
		assert_hex(t, 32, kdf_vecs[i].t2);
	}
}

/* dp_kdf takes a 32-byte chaining key; HMAC zero-pads shorter keys to the
 * 64-byte block, so the vectors' keys zero-padded to 32 bytes are equal. */
static void
test_kdf(void **state)
{
	uint8_t ck[32], in[32], t0[32], t1[32], t2[32];
	size_t i, ilen;

	for (i = 0; i < sizeof(kdf_vecs) / sizeof(kdf_vecs[0]); i++) {
		memset(ck, 0, sizeof(ck));
		unhex(ck, sizeof(ck), kdf_vecs[i].key);
		ilen = unhex(in, sizeof(in), kdf_vecs[i].input);
		assert_int_equal(dp_kdf(t0, t1, t2, ck, in, ilen), 0);
		assert_hex(t0, 32, kdf_vecs[i].t0);
		assert_hex(t1, 32, kdf_vecs[i].t1);
		assert_hex(t2, 32, kdf_vecs[i].t2);
		memset(t1, 0, 32);
		assert_int_equal(dp_kdf(t0, t1, NULL, ck, in, ilen), 0);
		assert_hex(t0, 32, kdf_vecs[i].t0);
		assert_hex(t1, 32, kdf_vecs[i].t1);
		assert_int_equal(dp_kdf(t0, NULL, NULL, ck, in, ilen), 0);
		assert_hex(t0, 32, kdf_vecs[i].t0);
		/* Output may alias the chaining key (C = KDF1(C, ...)). */
		assert_int_equal(dp_kdf(ck, NULL, NULL, ck, in, ilen), 0);
		assert_hex(ck, 32, kdf_vecs[i].t0);
	}
	assert_int_equal(ERR_peek_error(), 0);
}

/* ---- keys ---------------------------------------------------------------- */

/* Generated for this test with `wg genkey | tee k | wg pubkey`. */
static const char WG_PRIV[] = "eG705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0F0=";
static const char WG_PUB[] = "7A/4CXoxXqSoHFDJFQP9Pag3ktUvR4Oxj88nLQaYt28=";

static void
test_pubkey_matches_wg(void **state)
{
	uint8_t priv[32], pub[32];
	char b64[45];

	assert_int_equal(dp_key_from_base64(priv, WG_PRIV), 0);
	assert_int_equal(dp_pubkey(pub, priv), 0);
	dp_key_to_base64(b64, pub);
	assert_string_equal(b64, WG_PUB);
	dp_key_to_base64(b64, priv);
	assert_string_equal(b64, WG_PRIV);
}

static void
test_genkey(void **state)
{
	uint8_t a[32], b[32], pa[32];

	assert_int_equal(dp_genkey(a), 0);
	assert_int_equal(dp_genkey(b), 0);
	assert_false(dp_key_equal(a, b));
	/* Clamped as `wg genkey` does. */
	assert_int_equal(a[0] & 7, 0);
	assert_int_equal(a[31] & 0xc0, 0x40);
	assert_int_equal(dp_pubkey(pa, a), 0);
	assert_false(dp_key_is_zero(pa));
}

static void
test_key_roundtrip(void **state)
{
	uint8_t k[32], back[32];
	char b64[45], hex[65];
	int i, j;

	for (i = 0; i < 200; i++) {
		if (i < 2)
			memset(k, i ? 0xff : 0, sizeof(k));
		else
			assert_int_equal(crypto_random(k, sizeof(k), 0), 0);
		dp_key_to_base64(b64, k);
		assert_int_equal(strlen(b64), 44);
		assert_int_equal(dp_key_from_base64(back, b64), 0);
		assert_memory_equal(back, k, 32);
		dp_key_to_hex(hex, k);
		assert_int_equal(strlen(hex), 64);
		assert_int_equal(dp_key_from_hex(back, hex), 0);
		assert_memory_equal(back, k, 32);
		for (j = 0; j < 64; j++)	/* upper case is read as well */
			if (hex[j] >= 'a')
				hex[j] = (char)(hex[j] - 'a' + 'A');
		assert_int_equal(dp_key_from_hex(back, hex), 0);
		assert_memory_equal(back, k, 32);
	}
	memset(k, 0, sizeof(k));
	dp_key_to_base64(b64, k);
	assert_string_equal(b64, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	k[0] = 0xfb;
	k[31] = 0xff;
	dp_key_to_hex(hex, k);
	assert_string_equal(hex,
	    "fb000000000000000000000000000000000000000000000000000000000000ff");
	dp_key_to_base64(b64, k);
	assert_string_equal(b64, "+wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAP8=");
}

static void
test_bad_base64(void **state)
{
	static const char *const bad[] = {
		"",
		"eG705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0F0",	/* 43 */
		"eG705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0F0==",	/* 45 */
		"eG705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0F0A",	/* no '=' */
		"eG705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0F==",	/* 2 '=' */
		"eG705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0F1=",	/* spare bits */
		"eG705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0FP=",
		"eG705jTpdCGZ7y4C0a1nhReBEO_6MqqlxMnd4Huz0F0=",	/* url-safe */
		"eG705jTpdCGZ7y4C0a1nhReBEO-6MqqlxMnd4Huz0F0=",
		"eG705jTpdCGZ7y4C0a1nhReBEO 6MqqlxMnd4Huz0F0=",
		"eG705jTpdCGZ7y4C0a1nhReBEO=6MqqlxMnd4Huz0F0=",	/* '=' inside */
		"!G705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0F0=",
		"eG705jTpdCGZ7y4C0a1nhReBEO/6MqqlxMnd4Huz0@0=",
	};
	uint8_t k[32];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(k, 0x55, sizeof(k));
		assert_int_equal(dp_key_from_base64(k, bad[i]), -EINVAL);
		assert_true(dp_key_is_zero(k));	/* no partial key left behind */
	}
	assert_int_equal(dp_key_from_base64(k, NULL), -EINVAL);
	assert_int_equal(dp_key_from_base64(k, WG_PRIV), 0);
}

/* Every position, every character outside the alphabet. */
static void
test_bad_chars(void **state)
{
	static const char bad_b64[] = "-_ =!@.:\x80\n\t";
	static const char bad_hex[] = "gG:/@` -x\x80";
	const char *hexkey =
	    "fb000000000000000000000000000000000000000000000000000000000000ff";
	char s[66];
	uint8_t k[32];
	size_t i, pos;

	for (pos = 0; pos < 43; pos++) {
		for (i = 0; i < sizeof(bad_b64) - 1; i++) {
			snprintf(s, sizeof(s), "%s", WG_PRIV);
			s[pos] = bad_b64[i];
			assert_int_equal(dp_key_from_base64(k, s), -EINVAL);
		}
	}
	for (pos = 0; pos < 64; pos++) {
		for (i = 0; i < sizeof(bad_hex) - 1; i++) {
			snprintf(s, sizeof(s), "%s", hexkey);
			s[pos] = bad_hex[i];
			assert_int_equal(dp_key_from_hex(k, s), -EINVAL);
		}
	}
	assert_int_equal(dp_key_from_hex(k, ""), -EINVAL);
	assert_int_equal(dp_key_from_hex(k, hexkey + 1), -EINVAL);	/* 63 */
	snprintf(s, sizeof(s), "%s0", hexkey);				/* 65 */
	assert_int_equal(dp_key_from_hex(k, s), -EINVAL);
	assert_int_equal(dp_key_from_hex(k, NULL), -EINVAL);
	assert_int_equal(dp_key_from_hex(k, hexkey), 0);
}

static void
test_key_compare(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };
	int i;

	assert_true(dp_key_is_zero(a));
	assert_true(dp_key_equal(a, b));
	for (i = 0; i < 32; i++) {
		a[i] = 0x80;
		assert_false(dp_key_is_zero(a));
		assert_false(dp_key_equal(a, b));
		a[i] = 1;
		assert_false(dp_key_is_zero(a));
		a[i] = 0;
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_x25519_vectors),
		cmocka_unit_test(test_x25519_low_order),
		cmocka_unit_test(test_chachapoly_rfc8439),
		cmocka_unit_test(test_counter_nonce),
		cmocka_unit_test(test_hchacha20),
		cmocka_unit_test(test_xchachapoly_draft),
		cmocka_unit_test(test_blake2s),
		cmocka_unit_test(test_mac_blake2s16),
		cmocka_unit_test(test_hmac_kdf_manual),
		cmocka_unit_test(test_kdf),
		cmocka_unit_test(test_pubkey_matches_wg),
		cmocka_unit_test(test_genkey),
		cmocka_unit_test(test_key_roundtrip),
		cmocka_unit_test(test_bad_base64),
		cmocka_unit_test(test_bad_chars),
		cmocka_unit_test(test_key_compare),
	};

	if (noise_global_init() != 0) {
		fprintf(stderr, "OpenSSL lacks BLAKE2s/ChaCha20-Poly1305\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
