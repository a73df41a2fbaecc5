/*
 * WireGuard key encoding: base64 (44 characters, one '=') for config files
 * and `wg`, hex (64 characters) for the UAPI.  Keys are secrets, so encoding
 * and decoding use arithmetic masks instead of table lookups or branches on
 * key bytes (the approach of wireguard-tools encoding.c); only the length
 * and the overall success are data-dependent.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dataplane/noise.h"

#define B64_LEN 44

/* v in 0..63 -> 'A'-'Z', 'a'-'z', '0'-'9', '+', '/' without branches. */
static char
b64_char(int v)
{
	return (char)(v + 'A' + (((25 - v) >> 8) & 6) - (((51 - v) >> 8) & 75) -
	    (((61 - v) >> 8) & 15) + (((62 - v) >> 8) & 3));
}

/* -1 when lo <= c <= hi, else 0 (arithmetic shift of a negative int). */
static int
in_range(int c, int lo, int hi)
{
	return ((lo - 1 - c) & (c - (hi + 1))) >> 8;
}

/* Value of a base64 character, or -1. */
static int
b64_value(int c)
{
	int v = -1;

	v += in_range(c, 'A', 'Z') & (c - 'A' + 1);
	v += in_range(c, 'a', 'z') & (c - 'a' + 27);
	v += in_range(c, '0', '9') & (c - '0' + 53);
	v += in_range(c, '+', '+') & 63;
	v += in_range(c, '/', '/') & 64;
	return v;
}

void
dp_key_to_base64(char b64[45], const uint8_t key[NOISE_KEY_LEN])
{
	int i;

	for (i = 0; i < NOISE_KEY_LEN / 3; i++) {
		const uint8_t *k = key + 3 * i;

		b64[4 * i + 0] = b64_char(k[0] >> 2);
		b64[4 * i + 1] = b64_char(((k[0] << 4) | (k[1] >> 4)) & 63);
		b64[4 * i + 2] = b64_char(((k[1] << 2) | (k[2] >> 6)) & 63);
		b64[4 * i + 3] = b64_char(k[2] & 63);
	}
	b64[40] = b64_char(key[30] >> 2);
	b64[41] = b64_char(((key[30] << 4) | (key[31] >> 4)) & 63);
	b64[42] = b64_char((key[31] << 2) & 63);
	b64[43] = '=';
	b64[44] = '\0';
}

int
dp_key_from_base64(uint8_t key[NOISE_KEY_LEN], const char *b64)
{
	int i, bad = 0;

	if (b64 == NULL || strlen(b64) != B64_LEN || b64[B64_LEN - 1] != '=') {
		OPENSSL_cleanse(key, NOISE_KEY_LEN);	/* same state on every failure */
		return -EINVAL;
	}
	for (i = 0; i < B64_LEN / 4; i++) {
		const char *s = b64 + 4 * i;
		int a = b64_value((unsigned char)s[0]);
		int b = b64_value((unsigned char)s[1]);
		int c = b64_value((unsigned char)s[2]);
		/* The last group's '=' counts as 0 and leaves 2 spare bits. */
		int d = i == B64_LEN / 4 - 1 ? 0 : b64_value((unsigned char)s[3]);
		/* Unsigned: shifting a negative int left is undefined. */
		unsigned int v = ((unsigned int)a << 18) | ((unsigned int)b << 12) |
		    ((unsigned int)c << 6) | (unsigned int)d;

		/* Any -1 makes v negative; the sign bit flags it. */
		bad |= (int)((unsigned int)(a | b | c | d) >> 31);
		key[3 * i] = (uint8_t)(v >> 16);
		key[3 * i + 1] = (uint8_t)(v >> 8);
		if (i < B64_LEN / 4 - 1)
			key[3 * i + 2] = (uint8_t)v;
		else
			bad |= (int)(v & 0xff);	/* non-canonical trailing bits */
	}
	if (bad) {
		OPENSSL_cleanse(key, NOISE_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void
dp_key_to_hex(char hex[65], const uint8_t key[NOISE_KEY_LEN])
{
	int i;

	for (i = 0; i < NOISE_KEY_LEN; i++) {
		int hi = key[i] >> 4, lo = key[i] & 15;

		/* 0..9 -> '0'..'9', 10..15 -> 'a'..'f' (87 = 'a' - 10). */
		hex[2 * i] = (char)(48 + hi + (((9 - hi) >> 8) & 39));
		hex[2 * i + 1] = (char)(48 + lo + (((9 - lo) >> 8) & 39));
	}
	hex[64] = '\0';
}

/* Value of a hex digit (either case), or -1. */
static int
hex_value(int c)
{
	int v = -1;

	v += in_range(c, '0', '9') & (c - '0' + 1);
	v += in_range(c, 'a', 'f') & (c - 'a' + 11);
	v += in_range(c, 'A', 'F') & (c - 'A' + 11);
	return v;
}

int
dp_key_from_hex(uint8_t key[NOISE_KEY_LEN], const char *hex)
{
	int i, bad = 0;

	if (hex == NULL || strlen(hex) != 2 * NOISE_KEY_LEN) {
		OPENSSL_cleanse(key, NOISE_KEY_LEN);
		return -EINVAL;
	}
	for (i = 0; i < NOISE_KEY_LEN; i++) {
		int hi = hex_value((unsigned char)hex[2 * i]);
		int lo = hex_value((unsigned char)hex[2 * i + 1]);

		bad |= (int)((unsigned int)(hi | lo) >> 31);
		key[i] = (uint8_t)(((unsigned int)hi << 4) | ((unsigned int)lo & 15));
	}
	if (bad) {
		OPENSSL_cleanse(key, NOISE_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

int
dp_key_is_zero(const uint8_t key[NOISE_KEY_LEN])
{
	unsigned int acc = 0;
	int i;

	for (i = 0; i < NOISE_KEY_LEN; i++)
		acc |= key[i];
	/* acc in 0..255: (acc - 1) underflows to set bit 8 only when acc == 0. */
	return (int)(((acc - 1) >> 8) & 1);
}

int
dp_key_equal(const uint8_t a[NOISE_KEY_LEN], const uint8_t b[NOISE_KEY_LEN])
{
	return CRYPTO_memcmp(a, b, NOISE_KEY_LEN) == 0;
}
