/*
 * WireGuard's DoS mitigation (whitepaper §5.3, §5.4.4, §5.4.7):
 *
 *   mac1 = MAC(HASH("mac1----" || S_pub_receiver), msg[0 : offset(mac1)])
 *   mac2 = MAC(cookie, msg[0 : offset(mac2)])          (zeros without a cookie)
 *   cookie = MAC(R_secret, src IP bytes || src port, big-endian)
 *   reply  = XAEAD(HASH("cookie--" || S_pub_sender), random 24-byte nonce,
 *                  cookie, aad = mac1 of the message that triggered it)
 *
 * The checker (ours, keyed by our public key) holds R_secret, regenerated
 * every COOKIE_SECRET_MAX_AGE_MS under its lock.  A maker (one per peer)
 * remembers the last mac1 it sent, the only mac1 a cookie reply may answer,
 * and uses a received cookie for COOKIE_SECRET_MAX_AGE - LATENCY.
 * Comparisons of MACs are constant-time.
 */
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dataplane/noise.h"
#include "dataplane/noise_crypto.h"

static const char LABEL_MAC1[] = "mac1----";
static const char LABEL_COOKIE[] = "cookie--";

#define MACS_LEN sizeof(struct message_macs)

static void
label_key(uint8_t out[NOISE_KEY_LEN], const char *label,
    const uint8_t pub[NOISE_KEY_LEN])
{
	if (crypto_hash2(out, label, strlen(label), pub, NOISE_KEY_LEN) < 0)
		memset(out, 0, NOISE_KEY_LEN);	/* MACs then never verify */
}

void
cookie_checker_init(struct cookie_checker *c, const uint8_t local_pub[NOISE_KEY_LEN])
{
	memset(c, 0, sizeof(*c));
	label_key(c->mac1_key, LABEL_MAC1, local_pub);
	label_key(c->cookie_encryption_key, LABEL_COOKIE, local_pub);
	/* secret_birthdate_ms 0: a fresh secret is drawn at first use. */
	pthread_mutex_init(&c->lock, NULL);
}

void
cookie_checker_destroy(struct cookie_checker *c)
{
	pthread_mutex_destroy(&c->lock);
	OPENSSL_cleanse(c, sizeof(*c));
}

void
cookie_maker_init(struct cookie_maker *m, const uint8_t remote_pub[NOISE_KEY_LEN])
{
	OPENSSL_cleanse(m, sizeof(*m));
	label_key(m->mac1_key, LABEL_MAC1, remote_pub);
	label_key(m->cookie_decryption_key, LABEL_COOKIE, remote_pub);
}

/* IPv4 or IPv6 address bytes followed by the port as on the wire. */
static int
src_bytes(uint8_t out[18], size_t *len, const struct sockaddr *src)
{
	if (src == NULL)
		return -EINVAL;
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)src;

		memcpy(out, &sin->sin_addr, 4);
		memcpy(out + 4, &sin->sin_port, 2);
		*len = 6;
		return 0;
	}
	if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)src;

		memcpy(out, &sin6->sin6_addr, 16);
		memcpy(out + 16, &sin6->sin6_port, 2);
		*len = 18;
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* cookie = MAC(R_secret, src); rotates R_secret when it is too old. */
static int
make_cookie(struct cookie_checker *c, uint8_t cookie[COOKIE_LEN],
    const struct sockaddr *src, uint64_t now)
{
	uint8_t in[18];
	size_t n;
	int ret;

	if ((ret = src_bytes(in, &n, src)) < 0)
		return ret;
	pthread_mutex_lock(&c->lock);
	/* Unsigned age: a clock that went backwards also means "rotate". */
	if (c->secret_birthdate_ms == 0 ||
	    now - c->secret_birthdate_ms >= COOKIE_SECRET_MAX_AGE_MS) {
		if ((ret = crypto_random(c->secret, sizeof(c->secret), 1)) < 0)
			goto out;
		c->secret_birthdate_ms = now ? now : 1;
	}
	ret = dp_mac_blake2s16(cookie, c->secret, sizeof(c->secret), in, n);
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void
cookie_add_macs(struct cookie_maker *m, void *msg, size_t len, uint64_t now)
{
	struct message_macs *macs;
	uint8_t *p = msg;

	if (len < MACS_LEN)
		return;
	macs = (struct message_macs *)(p + len - MACS_LEN);
	if (dp_mac_blake2s16(macs->mac1, m->mac1_key, NOISE_KEY_LEN, p,
	    len - MACS_LEN) < 0) {
		memset(macs, 0, MACS_LEN);
		m->have_sent_mac1 = 0;
		return;
	}
	memcpy(m->last_mac1_sent, macs->mac1, COOKIE_LEN);
	m->have_sent_mac1 = 1;
	if (m->cookie_birthdate_ms != 0 && now >= m->cookie_birthdate_ms &&
	    now - m->cookie_birthdate_ms <
	    COOKIE_SECRET_MAX_AGE_MS - COOKIE_SECRET_LATENCY_MS) {
		if (dp_mac_blake2s16(macs->mac2, m->cookie, COOKIE_LEN, p,
		    len - COOKIE_LEN) == 0)
			return;
	}
	memset(macs->mac2, 0, COOKIE_LEN);
}

enum cookie_mac_state
cookie_validate(struct cookie_checker *c, const void *msg, size_t len,
    const struct sockaddr *src, int check_cookie, uint64_t now)
{
	const struct message_macs *macs;
	const uint8_t *p = msg;
	uint8_t mac[COOKIE_LEN], cookie[COOKIE_LEN] = { 0 };
	enum cookie_mac_state st = COOKIE_INVALID_MAC;

	if (len <= MACS_LEN)
		return COOKIE_INVALID_MAC;
	macs = (const struct message_macs *)(p + len - MACS_LEN);
	if (dp_mac_blake2s16(mac, c->mac1_key, NOISE_KEY_LEN, p, len - MACS_LEN) < 0 ||
	    CRYPTO_memcmp(mac, macs->mac1, COOKIE_LEN) != 0)
		goto out;
	st = COOKIE_VALID_MAC_BUT_NO_COOKIE;
	if (!check_cookie || make_cookie(c, cookie, src, now) < 0)
		goto out;
	if (dp_mac_blake2s16(mac, cookie, COOKIE_LEN, p, len - COOKIE_LEN) == 0 &&
	    CRYPTO_memcmp(mac, macs->mac2, COOKIE_LEN) == 0)
		st = COOKIE_VALID_MAC_WITH_COOKIE;
out:
	OPENSSL_cleanse(cookie, sizeof(cookie));
	return st;
}

/* sender_index: the triggering message's sender index, in host order. */
int
cookie_create_reply(struct cookie_checker *c, const void *msg, size_t len,
    uint32_t sender_index, const struct sockaddr *src,
    struct message_handshake_cookie *out, uint64_t now)
{
	const struct message_macs *macs;
	uint8_t cookie[COOKIE_LEN];
	int ret;

	memset(out, 0, sizeof(*out));
	if (len <= MACS_LEN)
		return -EINVAL;
	macs = (const struct message_macs *)((const uint8_t *)msg + len - MACS_LEN);
	out->type = htole32(MESSAGE_HANDSHAKE_COOKIE);
	out->receiver_index = htole32(sender_index);
	if ((ret = crypto_random(out->nonce, sizeof(out->nonce), 0)) < 0 ||
	    (ret = make_cookie(c, cookie, src, now)) < 0)
		goto out;
	ret = dp_xchacha20poly1305_encrypt(out->encrypted_cookie, cookie, COOKIE_LEN,
	    macs->mac1, COOKIE_LEN, out->nonce, c->cookie_encryption_key);
out:
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	OPENSSL_cleanse(cookie, sizeof(cookie));
	return ret;
}

int
cookie_consume_reply(struct cookie_maker *m,
    const struct message_handshake_cookie *msg, uint64_t now)
{
	uint8_t cookie[COOKIE_LEN];
	int ret = -EBADMSG;

	if (!m->have_sent_mac1 || le32toh(msg->type) != MESSAGE_HANDSHAKE_COOKIE)
		return -EBADMSG;
	if (dp_xchacha20poly1305_decrypt(cookie, msg->encrypted_cookie,
	    sizeof(msg->encrypted_cookie), m->last_mac1_sent, COOKIE_LEN,
	    msg->nonce, m->cookie_decryption_key) < 0)
		goto out;
	memcpy(m->cookie, cookie, COOKIE_LEN);
	m->cookie_birthdate_ms = now ? now : 1;
	/* One reply per mac1 sent (kernel: have_sent_mac1 = false). */
	m->have_sent_mac1 = 0;
	ret = 0;
out:
	OPENSSL_cleanse(cookie, sizeof(cookie));
	return ret;
}
