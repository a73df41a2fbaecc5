/*
 * The WireGuard handshake, Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s
 * (whitepaper §5.4.2-§5.4.5; wireguard.com/protocol), and the transport
 * keypairs it yields (§5.4.6).  Steps are labelled with the Noise tokens of
 * the IKpsk2 pattern:
 *
 *   initiation:  e, es, s, ss, {t}        response:  e, ee, se, psk, {}
 *
 * Ci/Cr is the chaining key, Hi/Hr the running hash.  Every intermediate
 * key lives on the stack and is cleansed on every path; a failed step leaves
 * the peer's handshake as it was (consume_response) or zeroed (create_*).
 *
 * Transport: each keypair holds one ChaCha20-Poly1305 context per worker and
 * direction, keyed once when that worker first uses the session; encrypting
 * a packet only sets the nonce (32 zero bits || le64 counter).
 */
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "dataplane/noise.h"
#include "dataplane/noise_crypto.h"

static const char CONSTRUCTION[] = "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
static const char IDENTIFIER[] = "WireGuard v1 zx2c4 Jason@zx2c4.com";

/* C0 = HASH(CONSTRUCTION), H0 = HASH(C0 || IDENTIFIER): the same for all. */
static uint8_t g_ck0[NOISE_HASH_LEN], g_h0[NOISE_HASH_LEN];
static int g_consts_err = -ENOTSUP;
static pthread_once_t g_consts_once = PTHREAD_ONCE_INIT;

static void
consts_compute(void)
{
	if (crypto_hash2(g_ck0, CONSTRUCTION, strlen(CONSTRUCTION), NULL, 0) == 0 &&
	    crypto_hash2(g_h0, g_ck0, sizeof(g_ck0), IDENTIFIER, strlen(IDENTIFIER)) == 0)
		g_consts_err = 0;
}

/* ck, h = the initial chaining key and HASH(H0 || S_pub_responder). */
static int
handshake_start(uint8_t ck[NOISE_HASH_LEN], uint8_t h[NOISE_HASH_LEN],
    const uint8_t responder_static[NOISE_KEY_LEN])
{
	pthread_once(&g_consts_once, consts_compute);
	if (g_consts_err < 0)
		return g_consts_err;
	memcpy(ck, g_ck0, NOISE_HASH_LEN);
	return crypto_hash2(h, g_h0, NOISE_HASH_LEN, responder_static, NOISE_KEY_LEN);
}

static int
mix_hash(uint8_t h[NOISE_HASH_LEN], const uint8_t *data, size_t len)
{
	return crypto_hash2(h, h, NOISE_HASH_LEN, data, len);
}

/* The "e" token: H = HASH(H || e_pub); C = KDF1(C, e_pub). */
static int
mix_ephemeral(uint8_t ck[NOISE_HASH_LEN], uint8_t h[NOISE_HASH_LEN],
    const uint8_t e_pub[NOISE_KEY_LEN])
{
	int ret;

	if ((ret = mix_hash(h, e_pub, NOISE_KEY_LEN)) < 0)
		return ret;
	return dp_kdf(ck, NULL, NULL, ck, e_pub, NOISE_KEY_LEN);
}

/* The DH tokens: (C, k) = KDF2(C, DH(priv, pub)), or C = KDF1 when key is
 * NULL.  An all-zero DH (low-order point) fails. */
static int
mix_dh(uint8_t ck[NOISE_HASH_LEN], uint8_t key[NOISE_KEY_LEN], void *sk,
    const uint8_t pub[NOISE_KEY_LEN])
{
	uint8_t dh[NOISE_KEY_LEN];
	int ret;

	if ((ret = crypto_x25519_derive(dh, sk, pub)) == 0)
		ret = dp_kdf(ck, key, NULL, ck, dh, sizeof(dh));
	OPENSSL_cleanse(dh, sizeof(dh));
	return ret;
}

/* The "psk" token: (C, tau, k) = KDF3(C, Q); H = HASH(H || tau). */
static int
mix_psk(uint8_t ck[NOISE_HASH_LEN], uint8_t h[NOISE_HASH_LEN],
    uint8_t key[NOISE_KEY_LEN], const uint8_t psk[NOISE_KEY_LEN])
{
	uint8_t tau[NOISE_HASH_LEN];
	int ret;

	if ((ret = dp_kdf(ck, tau, key, ck, psk, NOISE_KEY_LEN)) == 0)
		ret = mix_hash(h, tau, sizeof(tau));
	OPENSSL_cleanse(tau, sizeof(tau));
	return ret;
}

/* msg = AEAD(k, 0, plain, H); H = HASH(H || msg). */
static int
encrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t key[NOISE_KEY_LEN], uint8_t h[NOISE_HASH_LEN])
{
	int ret;

	if ((ret = crypto_aead_seal_once(key, 0, h, NOISE_HASH_LEN, dst, src, len)) < 0)
		return ret;
	return mix_hash(h, dst, len + NOISE_AUTHTAG_LEN);
}

/* plain = AEAD-open(k, 0, msg, H); H = HASH(H || msg).  len includes the tag. */
static int
decrypt_and_hash(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t key[NOISE_KEY_LEN], uint8_t h[NOISE_HASH_LEN])
{
	if (crypto_aead_open_once(key, 0, h, NOISE_HASH_LEN, dst, src, len) < 0)
		return -EBADMSG;
	return mix_hash(h, src, len);
}

/* ---- static identity and per-peer setup ------------------------------------ */

int
noise_local_set(struct noise_local *l, const uint8_t private_key[NOISE_KEY_LEN])
{
	int ret;

	noise_local_clear(l);
	if (dp_key_is_zero(private_key))
		return -EINVAL;
	/* Stored clamped, as the kernel and wireguard-go do. */
	memcpy(l->private_key, private_key, NOISE_KEY_LEN);
	l->private_key[0] &= 248;
	l->private_key[31] = (uint8_t)((l->private_key[31] & 127) | 64);
	if ((l->sk = crypto_x25519_load(l->private_key)) == NULL ||
	    (ret = crypto_x25519_public(l->sk, l->public_key)) < 0) {
		noise_local_clear(l);
		return -EINVAL;
	}
	l->has_identity = 1;
	return 0;
}

void
noise_local_clear(struct noise_local *l)
{
	crypto_x25519_free(l->sk);
	OPENSSL_cleanse(l, sizeof(*l));
}

void
noise_handshake_clear(struct noise_handshake *hs)
{
	hs->state = HANDSHAKE_ZEROED;
	OPENSSL_cleanse(hs->remote_ephemeral, sizeof(hs->remote_ephemeral));
	OPENSSL_cleanse(hs->hash, sizeof(hs->hash));
	OPENSSL_cleanse(hs->chaining_key, sizeof(hs->chaining_key));
	OPENSSL_cleanse(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	hs->local_index = 0;
	hs->remote_index = 0;
}

int
noise_handshake_init_lazy(struct noise_handshake *hs,
    const uint8_t remote_static[NOISE_KEY_LEN], const uint8_t psk[NOISE_KEY_LEN])
{
	noise_handshake_clear(hs);
	memcpy(hs->remote_static, remote_static, NOISE_KEY_LEN);
	if (psk)
		memcpy(hs->preshared_key, psk, NOISE_KEY_LEN);
	else
		memset(hs->preshared_key, 0, NOISE_KEY_LEN);
	OPENSSL_cleanse(hs->precomputed_static_static, NOISE_KEY_LEN);
	hs->ss_state = 0;
	return dp_key_is_zero(remote_static) ? -EINVAL : 0;
}

int
noise_handshake_precompute(struct noise_handshake *hs, const struct noise_local *l)
{
	if (hs->ss_state != 0)
		return hs->ss_state > 0 ? 0 : -EINVAL;
	if (l == NULL || !l->has_identity)
		return -ENOKEY;
	if (crypto_x25519_derive(hs->precomputed_static_static, l->sk, hs->remote_static) < 0) {
		hs->ss_state = -1;              /* a low-order key: it never handshakes */
		return -EINVAL;
	}
	hs->ss_state = 1;
	return 0;
}

int
noise_handshake_init(struct noise_handshake *hs, const struct noise_local *l,
    const uint8_t remote_static[NOISE_KEY_LEN], const uint8_t psk[NOISE_KEY_LEN])
{
	int ret;

	if ((ret = noise_handshake_init_lazy(hs, remote_static, psk)) < 0)
		return ret;
	/* Without a private key yet, initiations fail with -ENOKEY until the
	 * caller runs this again after noise_local_set(). */
	ret = noise_handshake_precompute(hs, l);
	return ret == -ENOKEY ? 0 : ret;
}

/*
 * TAI64N: big-endian 2^62 + 10 + seconds (the label the kernel and
 * wireguard-go use), then big-endian nanoseconds rounded down to 2^24 ns
 * (~17 ms), under the 20 ms initiation interval, so the timestamp does not
 * leak a fine-grained clock (kernel tai64n_now).
 */
void
noise_tai64n_now(uint8_t out[NOISE_TIMESTAMP_LEN])
{
	struct timespec ts;
	uint64_t sec;
	uint32_t nsec;

	clock_gettime(CLOCK_REALTIME, &ts);
	sec = 0x400000000000000aULL + (uint64_t)ts.tv_sec;
	nsec = (uint32_t)ts.tv_nsec & ~((1U << 24) - 1);
	sec = htobe64(sec);
	nsec = htobe32(nsec);
	memcpy(out, &sec, 8);
	memcpy(out + 8, &nsec, 4);
}

int
noise_timestamp_cmp(const uint8_t a[NOISE_TIMESTAMP_LEN],
    const uint8_t b[NOISE_TIMESTAMP_LEN])
{
	return memcmp(a, b, NOISE_TIMESTAMP_LEN);
}

/* ---- message 1: initiation ---------------------------------------------- */

static int
initiation_steps(struct noise_handshake *hs, const struct noise_local *l,
    const uint8_t ts[NOISE_TIMESTAMP_LEN], struct message_handshake_initiation *msg,
    uint8_t ck[NOISE_HASH_LEN], uint8_t h[NOISE_HASH_LEN], uint8_t key[NOISE_KEY_LEN])
{
	void *esk = NULL;
	int ret;

	if ((ret = handshake_start(ck, h, hs->remote_static)) < 0)
		return ret;
	/* e */
	if ((ret = crypto_keypair(hs->ephemeral_private, msg->unencrypted_ephemeral,
	    &esk)) < 0)
		return ret;
	/* es */
	if ((ret = mix_ephemeral(ck, h, msg->unencrypted_ephemeral)) == 0)
		ret = mix_dh(ck, key, esk, hs->remote_static);
	crypto_x25519_free(esk);
	if (ret < 0)
		return ret;
	/* s */
	if ((ret = encrypt_and_hash(msg->encrypted_static, l->public_key,
	    NOISE_KEY_LEN, key, h)) < 0)
		return ret;
	/* ss, precomputed in noise_handshake_init */
	if ((ret = dp_kdf(ck, key, NULL, ck, hs->precomputed_static_static,
	    NOISE_KEY_LEN)) < 0)
		return ret;
	/* {t} */
	return encrypt_and_hash(msg->encrypted_timestamp, ts, NOISE_TIMESTAMP_LEN, key, h);
}

int
noise_create_initiation(struct noise_handshake *hs, const struct noise_local *l,
    uint32_t local_index, const uint8_t *timestamp,
    struct message_handshake_initiation *msg)
{
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_KEY_LEN];
	uint8_t ts[NOISE_TIMESTAMP_LEN];
	int ret;

	noise_handshake_clear(hs);
	memset(msg, 0, sizeof(*msg));
	if (!l->has_identity || dp_key_is_zero(hs->precomputed_static_static))
		return -ENOKEY;
	if (timestamp)
		memcpy(ts, timestamp, sizeof(ts));
	else
		noise_tai64n_now(ts);
	msg->type = htole32(MESSAGE_HANDSHAKE_INITIATION);
	msg->sender_index = htole32(local_index);
	if ((ret = initiation_steps(hs, l, ts, msg, ck, h, key)) < 0) {
		noise_handshake_clear(hs);
		memset(msg, 0, sizeof(*msg));
		goto out;
	}
	memcpy(hs->chaining_key, ck, sizeof(ck));
	memcpy(hs->hash, h, sizeof(h));
	hs->local_index = local_index;
	hs->state = HANDSHAKE_CREATED_INITIATION;
out:
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(h, sizeof(h));
	OPENSSL_cleanse(key, sizeof(key));
	return ret;
}

static int
consume_initiation_steps(const struct noise_local *l,
    const struct message_handshake_initiation *msg, struct noise_handshake *out,
    uint8_t ts[NOISE_TIMESTAMP_LEN], uint8_t key[NOISE_KEY_LEN],
    noise_ss_lookup_fn lookup, void *ctx)
{
	uint8_t *ck = out->chaining_key, *h = out->hash;
	int ret;

	if ((ret = handshake_start(ck, h, l->public_key)) < 0)
		return ret;
	/* e */
	memcpy(out->remote_ephemeral, msg->unencrypted_ephemeral, NOISE_KEY_LEN);
	if ((ret = mix_ephemeral(ck, h, out->remote_ephemeral)) < 0)
		return ret;
	/* es */
	if (mix_dh(ck, key, l->sk, out->remote_ephemeral) < 0)
		return -EBADMSG;
	/* s */
	if ((ret = decrypt_and_hash(out->remote_static, msg->encrypted_static,
	    sizeof(msg->encrypted_static), key, h)) < 0)
		return ret;
	/* ss: the peer's precomputed value when the caller knows the peer */
	if (lookup != NULL) {
		if ((ret = lookup(ctx, out->remote_static, out->precomputed_static_static)) < 0)
			return ret;
	} else if (crypto_x25519_derive(out->precomputed_static_static, l->sk,
	    out->remote_static) < 0) {
		return -EBADMSG;
	}
	if ((ret = dp_kdf(ck, key, NULL, ck, out->precomputed_static_static,
	    NOISE_KEY_LEN)) < 0)
		return ret;
	/* {t} */
	return decrypt_and_hash(ts, msg->encrypted_timestamp,
	    sizeof(msg->encrypted_timestamp), key, h);
}

int
noise_consume_initiation(const struct noise_local *l,
    const struct message_handshake_initiation *msg, struct noise_handshake *out,
    uint8_t timestamp[NOISE_TIMESTAMP_LEN])
{
	return noise_consume_initiation_lookup(l, msg, out, timestamp, NULL, NULL);
}

int
noise_consume_initiation_lookup(const struct noise_local *l,
    const struct message_handshake_initiation *msg, struct noise_handshake *out,
    uint8_t timestamp[NOISE_TIMESTAMP_LEN], noise_ss_lookup_fn lookup, void *ctx)
{
	uint8_t key[NOISE_KEY_LEN];
	int ret;

	OPENSSL_cleanse(out, sizeof(*out));
	if (!l->has_identity)
		return -ENOKEY;
	if (le32toh(msg->type) != MESSAGE_HANDSHAKE_INITIATION)
		return -EBADMSG;
	ret = consume_initiation_steps(l, msg, out, timestamp, key, lookup, ctx);
	OPENSSL_cleanse(key, sizeof(key));
	if (ret < 0) {
		OPENSSL_cleanse(out, sizeof(*out));
		OPENSSL_cleanse(timestamp, NOISE_TIMESTAMP_LEN);
		return ret;
	}
	out->remote_index = le32toh(msg->sender_index);
	out->state = HANDSHAKE_CONSUMED_INITIATION;
	return 0;
}

void
noise_handshake_adopt(struct noise_handshake *peer_hs,
    struct noise_handshake *scratch, const uint8_t timestamp[NOISE_TIMESTAMP_LEN])
{
	/* Any initiation of ours in flight is abandoned (kernel does the same). */
	noise_handshake_clear(peer_hs);
	memcpy(peer_hs->remote_ephemeral, scratch->remote_ephemeral, NOISE_KEY_LEN);
	memcpy(peer_hs->hash, scratch->hash, NOISE_HASH_LEN);
	memcpy(peer_hs->chaining_key, scratch->chaining_key, NOISE_HASH_LEN);
	peer_hs->remote_index = scratch->remote_index;
	peer_hs->state = scratch->state;
	memmove(peer_hs->latest_timestamp, timestamp, NOISE_TIMESTAMP_LEN);
	OPENSSL_cleanse(scratch, sizeof(*scratch));
}

/* ---- message 2: response ------------------------------------------------- */

int
noise_create_response(struct noise_handshake *hs, uint32_t local_index,
    struct message_handshake_response *msg)
{
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_KEY_LEN];
	uint8_t e_priv[NOISE_KEY_LEN];
	void *esk = NULL;
	int ret = -EINVAL;

	memset(msg, 0, sizeof(*msg));
	if (hs->state != HANDSHAKE_CONSUMED_INITIATION)
		return -EINVAL;
	memcpy(ck, hs->chaining_key, sizeof(ck));
	memcpy(h, hs->hash, sizeof(h));
	msg->type = htole32(MESSAGE_HANDSHAKE_RESPONSE);
	msg->sender_index = htole32(local_index);
	msg->receiver_index = htole32(hs->remote_index);
	/* e */
	if ((ret = crypto_keypair(e_priv, msg->unencrypted_ephemeral, &esk)) < 0 ||
	    (ret = mix_ephemeral(ck, h, msg->unencrypted_ephemeral)) < 0)
		goto fail;
	/* ee, se */
	if ((ret = mix_dh(ck, NULL, esk, hs->remote_ephemeral)) < 0 ||
	    (ret = mix_dh(ck, NULL, esk, hs->remote_static)) < 0)
		goto fail;
	/* psk */
	if ((ret = mix_psk(ck, h, key, hs->preshared_key)) < 0)
		goto fail;
	/* {} */
	if ((ret = encrypt_and_hash(msg->encrypted_nothing, NULL, 0, key, h)) < 0)
		goto fail;
	memcpy(hs->chaining_key, ck, sizeof(ck));
	memcpy(hs->hash, h, sizeof(h));
	hs->local_index = local_index;
	hs->state = HANDSHAKE_CREATED_RESPONSE;
	goto out;
fail:
	noise_handshake_clear(hs);
	memset(msg, 0, sizeof(*msg));
out:
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(h, sizeof(h));
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(e_priv, sizeof(e_priv));
	crypto_x25519_free(esk);
	return ret;
}

int
noise_consume_response(struct noise_handshake *hs, const struct noise_local *l,
    const struct message_handshake_response *msg)
{
	uint8_t ck[NOISE_HASH_LEN], h[NOISE_HASH_LEN], key[NOISE_KEY_LEN];
	uint8_t e[NOISE_KEY_LEN], nothing[1];
	void *esk = NULL;
	int ret = -EBADMSG;

	if (hs->state != HANDSHAKE_CREATED_INITIATION || !l->has_identity ||
	    le32toh(msg->type) != MESSAGE_HANDSHAKE_RESPONSE ||
	    le32toh(msg->receiver_index) != hs->local_index)
		return -EBADMSG;
	memcpy(ck, hs->chaining_key, sizeof(ck));
	memcpy(h, hs->hash, sizeof(h));
	memcpy(e, msg->unencrypted_ephemeral, sizeof(e));
	/* e */
	if (mix_ephemeral(ck, h, e) < 0)
		goto out;
	/* ee, se */
	if ((esk = crypto_x25519_load(hs->ephemeral_private)) == NULL ||
	    mix_dh(ck, NULL, esk, e) < 0 || mix_dh(ck, NULL, l->sk, e) < 0)
		goto out;
	/* psk */
	if (mix_psk(ck, h, key, hs->preshared_key) < 0)
		goto out;
	/* {} */
	if (decrypt_and_hash(nothing, msg->encrypted_nothing,
	    sizeof(msg->encrypted_nothing), key, h) < 0)
		goto out;
	memcpy(hs->remote_ephemeral, e, sizeof(e));
	memcpy(hs->chaining_key, ck, sizeof(ck));
	memcpy(hs->hash, h, sizeof(h));
	OPENSSL_cleanse(hs->ephemeral_private, sizeof(hs->ephemeral_private));
	hs->remote_index = le32toh(msg->sender_index);
	hs->state = HANDSHAKE_CONSUMED_RESPONSE;
	ret = 0;
out:
	crypto_x25519_free(esk);
	OPENSSL_cleanse(ck, sizeof(ck));
	OPENSSL_cleanse(h, sizeof(h));
	OPENSSL_cleanse(key, sizeof(key));
	return ret;
}

/* ---- transport keypairs ---------------------------------------------------- */

static void
keypair_free_ctxs(struct noise_keypair *kp)
{
	int w;

	for (w = 0; w < DP_MAX_WORKERS; w++) {
		crypto_aead_free(kp->send_ctx[w]);
		crypto_aead_free(kp->recv_ctx[w]);
		kp->send_ctx[w] = kp->recv_ctx[w] = NULL;
	}
}

/* The kp must be zeroed or destroyed (a valid one is destroyed first). */
int
noise_begin_session(struct noise_handshake *hs, struct noise_keypair *kp,
    uint64_t now)
{
	uint8_t first[NOISE_KEY_LEN], second[NOISE_KEY_LEN];
	const uint8_t *send, *recv;
	int initiator, ret;

	if (hs->state == HANDSHAKE_CONSUMED_RESPONSE)
		initiator = 1;
	else if (hs->state == HANDSHAKE_CREATED_RESPONSE)
		initiator = 0;
	else
		return -EINVAL;
	if (kp->valid)
		noise_keypair_destroy(kp);
	memset(kp, 0, sizeof(*kp));
	/* (T_send, T_recv) = KDF2(C, e) for the initiator, swapped for the responder. */
	if ((ret = dp_kdf(first, second, NULL, hs->chaining_key, NULL, 0)) < 0)
		goto out;
	send = initiator ? first : second;
	recv = initiator ? second : first;
	memcpy(kp->send_key, send, NOISE_KEY_LEN);
	memcpy(kp->recv_key, recv, NOISE_KEY_LEN);
	if ((ret = -pthread_mutex_init(&kp->replay_lock, NULL)) < 0)
		goto out;
	replay_init(&kp->replay);
	kp->local_index = hs->local_index;
	kp->remote_index = hs->remote_index;
	kp->i_am_initiator = initiator;
	kp->birthdate_ms = now;
	kp->sending_counter = 0;
	kp->valid = 1;
	noise_handshake_clear(hs);
out:
	OPENSSL_cleanse(first, sizeof(first));
	OPENSSL_cleanse(second, sizeof(second));
	return ret;
}

void
noise_keypair_destroy(struct noise_keypair *kp)
{
	if (kp->valid) {
		keypair_free_ctxs(kp);
		pthread_mutex_destroy(&kp->replay_lock);
	}
	OPENSSL_cleanse(kp, sizeof(*kp));
}

int
noise_encrypt(struct noise_keypair *kp, unsigned int worker, uint64_t counter,
    uint8_t *dst, const uint8_t *src, size_t len)
{
	uint8_t nonce[CHACHA_NONCE_LEN];

	if (!kp->valid || worker >= DP_MAX_WORKERS)
		return -EINVAL;
	/* The nonce must never repeat; the caller should have rekeyed long ago. */
	if (counter >= REJECT_AFTER_MESSAGES)
		return -EKEYEXPIRED;
	if (kp->send_ctx[worker] == NULL &&
	    (kp->send_ctx[worker] = crypto_aead_new(kp->send_key, 1)) == NULL)
		return -ENOMEM;
	crypto_counter_nonce(nonce, counter);
	return crypto_aead_seal(kp->send_ctx[worker], nonce, NULL, 0, dst, src, len);
}

int
noise_decrypt(struct noise_keypair *kp, unsigned int worker, uint64_t counter,
    uint8_t *dst, const uint8_t *src, size_t len)
{
	uint8_t nonce[CHACHA_NONCE_LEN];

	if (!kp->valid || worker >= DP_MAX_WORKERS)
		return -EINVAL;
	if (counter >= REJECT_AFTER_MESSAGES || len < NOISE_AUTHTAG_LEN)
		return -EBADMSG;
	if (kp->recv_ctx[worker] == NULL &&
	    (kp->recv_ctx[worker] = crypto_aead_new(kp->recv_key, 0)) == NULL)
		return -ENOMEM;
	crypto_counter_nonce(nonce, counter);
	return crypto_aead_open(kp->recv_ctx[worker], nonce, NULL, 0, dst, src, len);
}
