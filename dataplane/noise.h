/*
 * WireGuard protocol core (whitepaper §5; wireguard.com/protocol): the
 * Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake, transport keypairs,
 * cookies (mac1/mac2, cookie reply), the replay window and key encoding.
 * Pure computation on OpenSSL 3 primitives: no sockets, no timers, no
 * threads.  The device layer (device.c, peer.c, timers.c) drives it.
 *
 * Handshake states of one peer (struct noise_handshake):
 *   ZEROED --create_initiation--> CREATED_INITIATION --consume_response--> (begin_session, initiator)
 *   ZEROED --consume_initiation--> CONSUMED_INITIATION --create_response--> (begin_session, responder)
 * noise_begin_session() derives the transport keys and zeroes the handshake.
 *
 * Locking: none inside.  The caller serialises all calls on one handshake.
 * A keypair may be used concurrently for encryption by different workers
 * (each passes its own worker index < DP_MAX_WORKERS); receive-side replay
 * updates take the keypair's replay lock.
 */
#ifndef DP_NOISE_H
#define DP_NOISE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NOISE_KEY_LEN          32
#define NOISE_HASH_LEN         32
#define NOISE_AUTHTAG_LEN      16
#define NOISE_TIMESTAMP_LEN    12
#define COOKIE_LEN             16
#define COOKIE_NONCE_LEN       24
#define DP_MAX_WORKERS         16     /* 8 data workers, 6 crypto helpers, the handshake and timer threads */

/* Protocol constants (whitepaper §6.1), times in milliseconds. */
#define REKEY_AFTER_MESSAGES   (1ULL << 60)
#define REJECT_AFTER_MESSAGES  (UINT64_MAX - (1ULL << 13))   /* 2^64 - 2^13 - 1 */
#define REKEY_AFTER_TIME_MS    120000ULL
#define REJECT_AFTER_TIME_MS   180000ULL
#define REKEY_ATTEMPT_TIME_MS  90000ULL
#define REKEY_TIMEOUT_MS       5000ULL
#define REKEY_TIMEOUT_JITTER_MS 333ULL
#define KEEPALIVE_TIMEOUT_MS   10000ULL
#define COOKIE_SECRET_MAX_AGE_MS 120000ULL
#define COOKIE_SECRET_LATENCY_MS 5000ULL
#define INITIATIONS_MIN_INTERVAL_MS 20ULL    /* per peer, whitepaper §5.1 flood rule */

enum message_type {
	MESSAGE_INVALID = 0,
	MESSAGE_HANDSHAKE_INITIATION = 1,
	MESSAGE_HANDSHAKE_RESPONSE = 2,
	MESSAGE_HANDSHAKE_COOKIE = 3,
	MESSAGE_DATA = 4,
};

/* Wire formats, little-endian integers, exactly as on the wire. */
struct message_macs {
	uint8_t mac1[COOKIE_LEN];
	uint8_t mac2[COOKIE_LEN];
} __attribute__((packed));

struct message_handshake_initiation {
	uint32_t type;                     /* le32: 1 */
	uint32_t sender_index;             /* le32 */
	uint8_t unencrypted_ephemeral[NOISE_KEY_LEN];
	uint8_t encrypted_static[NOISE_KEY_LEN + NOISE_AUTHTAG_LEN];
	uint8_t encrypted_timestamp[NOISE_TIMESTAMP_LEN + NOISE_AUTHTAG_LEN];
	struct message_macs macs;
} __attribute__((packed));                  /* 148 bytes */

struct message_handshake_response {
	uint32_t type;                     /* le32: 2 */
	uint32_t sender_index;
	uint32_t receiver_index;
	uint8_t unencrypted_ephemeral[NOISE_KEY_LEN];
	uint8_t encrypted_nothing[NOISE_AUTHTAG_LEN];
	struct message_macs macs;
} __attribute__((packed));                  /* 92 bytes */

struct message_handshake_cookie {
	uint32_t type;                     /* le32: 3 */
	uint32_t receiver_index;
	uint8_t nonce[COOKIE_NONCE_LEN];
	uint8_t encrypted_cookie[COOKIE_LEN + NOISE_AUTHTAG_LEN];
} __attribute__((packed));                  /* 64 bytes */

struct message_data {
	uint32_t type;                     /* le32: 4 */
	uint32_t key_idx;                  /* receiver index */
	uint64_t counter;                  /* le64 */
	uint8_t encrypted_data[];
} __attribute__((packed));                  /* 16-byte header */

#define MESSAGE_DATA_HEADER_LEN  16
#define MESSAGE_PADDING_MULTIPLE 16
#define MESSAGE_MINIMUM_LENGTH   (MESSAGE_DATA_HEADER_LEN + NOISE_AUTHTAG_LEN)

/* ---- library setup ----------------------------------------------------- */

/* Fetches the OpenSSL algorithms once.  0 or -ENOTSUP (no BLAKE2S-256 etc.). */
int noise_global_init(void);

/* ---- keys (key.c) ------------------------------------------------------ */

/* Base64 (44 chars, '=' padded) and hex (64 chars), constant time. 0 / -EINVAL. */
int dp_key_from_base64(uint8_t key[NOISE_KEY_LEN], const char *b64);
void dp_key_to_base64(char b64[45], const uint8_t key[NOISE_KEY_LEN]);
int dp_key_from_hex(uint8_t key[NOISE_KEY_LEN], const char *hex);
void dp_key_to_hex(char hex[65], const uint8_t key[NOISE_KEY_LEN]);
int dp_key_is_zero(const uint8_t key[NOISE_KEY_LEN]);      /* constant time */
int dp_key_equal(const uint8_t a[NOISE_KEY_LEN], const uint8_t b[NOISE_KEY_LEN]);
/* Random clamped Curve25519 private key, as `wg genkey`. */
int dp_genkey(uint8_t priv[NOISE_KEY_LEN]);
/* Public key of a private key, as `wg pubkey`. */
int dp_pubkey(uint8_t pub[NOISE_KEY_LEN], const uint8_t priv[NOISE_KEY_LEN]);

/* ---- static identity --------------------------------------------------- */

struct noise_local {
	int has_identity;
	uint8_t private_key[NOISE_KEY_LEN];
	uint8_t public_key[NOISE_KEY_LEN];
	void *sk;                           /* the private key, loaded once (EVP_PKEY) */
};
/* Sets the private key and derives the public one. 0 or -EINVAL.  l must
 * be zeroed or set before (the loaded key of a set one is freed). */
int noise_local_set(struct noise_local *l, const uint8_t private_key[NOISE_KEY_LEN]);
void noise_local_clear(struct noise_local *l);

/* ---- handshake --------------------------------------------------------- */

enum noise_handshake_state {
	HANDSHAKE_ZEROED,
	HANDSHAKE_CREATED_INITIATION,
	HANDSHAKE_CONSUMED_INITIATION,
	HANDSHAKE_CREATED_RESPONSE,
	HANDSHAKE_CONSUMED_RESPONSE,
};

struct noise_handshake {
	enum noise_handshake_state state;
	uint8_t remote_static[NOISE_KEY_LEN];
	uint8_t remote_ephemeral[NOISE_KEY_LEN];
	uint8_t precomputed_static_static[NOISE_KEY_LEN];  /* DH(s_local, S_remote) */
	uint8_t preshared_key[NOISE_KEY_LEN];              /* zero when none */
	uint8_t hash[NOISE_HASH_LEN];
	uint8_t chaining_key[NOISE_HASH_LEN];
	uint8_t ephemeral_private[NOISE_KEY_LEN];
	uint8_t latest_timestamp[NOISE_TIMESTAMP_LEN];     /* greatest TAI64N accepted */
	int ss_state;                       /* precomputed DH: 0 not yet, 1 done, -1 low order */
	uint32_t local_index;
	uint32_t remote_index;
};

/*
 * Prepares a peer's handshake: remote static key, optional PSK (NULL = none),
 * precomputes DH(s_local, S_remote).  -EINVAL when that DH is all zeros
 * (a low-order remote key).  Keeps latest_timestamp across resets.
 */
int noise_handshake_init(struct noise_handshake *hs, const struct noise_local *l,
    const uint8_t remote_static[NOISE_KEY_LEN], const uint8_t psk[NOISE_KEY_LEN]);
/*
 * The same without the DH (a device with many peers computes it when a
 * peer first handshakes: 10,000 peers load in a fraction of the time), and
 * the DH alone: 0 when done (now or before), -EINVAL for a low-order key,
 * -ENOKEY without a private key.
 */
int noise_handshake_init_lazy(struct noise_handshake *hs,
    const uint8_t remote_static[NOISE_KEY_LEN], const uint8_t psk[NOISE_KEY_LEN]);
int noise_handshake_precompute(struct noise_handshake *hs, const struct noise_local *l);
/* Forgets the in-flight handshake (keys wiped), keeps remote static, PSK, timestamp. */
void noise_handshake_clear(struct noise_handshake *hs);

/* TAI64N of the current wall clock (whitepaper §5.4.2), big-endian. */
void noise_tai64n_now(uint8_t out[NOISE_TIMESTAMP_LEN]);

/*
 * Initiator, message 1.  Fills everything but macs (the caller adds them with
 * cookie_add_macs).  timestamp = NULL uses noise_tai64n_now().
 */
int noise_create_initiation(struct noise_handshake *hs, const struct noise_local *l,
    uint32_t local_index, const uint8_t *timestamp,
    struct message_handshake_initiation *msg);

/*
 * Responder, message 1.  Decrypts the initiator's static key and timestamp
 * into a scratch handshake `out` (state CONSUMED_INITIATION, remote_index
 * set).  The caller then finds the peer by `out->remote_static`, rejects a
 * timestamp not strictly greater than the peer's latest one and initiations
 * arriving faster than INITIATIONS_MIN_INTERVAL_MS, and installs `out` with
 * noise_handshake_adopt().  mac1 must already have been checked.
 * 0, or -EBADMSG (authentication failed / all-zero DH).
 */
int noise_consume_initiation(const struct noise_local *l,
    const struct message_handshake_initiation *msg, struct noise_handshake *out,
    uint8_t timestamp[NOISE_TIMESTAMP_LEN]);
/*
 * The same with the static-static DH taken from the caller: lookup gets the
 * decrypted remote static key and copies the peer's precomputed DH to ss,
 * or returns -errno (an unknown peer: the initiation is refused before a
 * second DH is spent on it).
 */
typedef int (*noise_ss_lookup_fn)(void *ctx, const uint8_t remote_static[NOISE_KEY_LEN],
    uint8_t ss[NOISE_KEY_LEN]);
int noise_consume_initiation_lookup(const struct noise_local *l,
    const struct message_handshake_initiation *msg, struct noise_handshake *out,
    uint8_t timestamp[NOISE_TIMESTAMP_LEN], noise_ss_lookup_fn lookup, void *ctx);
/* Copies the consumed state into the peer's handshake, keeping its PSK and
 * precomputed DH, recording `timestamp` as the latest.  Wipes `scratch`. */
void noise_handshake_adopt(struct noise_handshake *peer_hs,
    struct noise_handshake *scratch, const uint8_t timestamp[NOISE_TIMESTAMP_LEN]);
/* Compares TAI64N timestamps like memcmp (big-endian). */
int noise_timestamp_cmp(const uint8_t a[NOISE_TIMESTAMP_LEN], const uint8_t b[NOISE_TIMESTAMP_LEN]);

/* Responder, message 2 (requires CONSUMED_INITIATION).  Fills all but macs. */
int noise_create_response(struct noise_handshake *hs, uint32_t local_index,
    struct message_handshake_response *msg);

/* Initiator, message 2 (requires CREATED_INITIATION and msg->receiver_index ==
 * hs->local_index).  0 or -EBADMSG; on failure hs is unchanged. */
int noise_consume_response(struct noise_handshake *hs, const struct noise_local *l,
    const struct message_handshake_response *msg);

/* ---- transport keypairs ------------------------------------------------ */

#define REPLAY_WINDOW_BITS  8192           /* >= 2048 required */
#define REPLAY_WORD_BITS    64

struct replay_window {
	uint64_t greatest;                  /* highest counter accepted + 1, 0 = none yet */
	uint64_t bitmap[REPLAY_WINDOW_BITS / REPLAY_WORD_BITS];
};
void replay_init(struct replay_window *w);
/*
 * Counter check and update in one step, to be called only after the packet
 * authenticated.  1 = fresh (recorded), 0 = replayed, too old, or counter
 * >= REJECT_AFTER_MESSAGES.  Not locked.
 */
int replay_check_update(struct replay_window *w, uint64_t counter);

struct noise_keypair {
	uint32_t local_index;               /* our receiver index for this session */
	uint32_t remote_index;              /* put in data messages we send */
	int i_am_initiator;
	uint64_t birthdate_ms;              /* monotonic ms at noise_begin_session */
	uint64_t sending_counter;           /* next counter; use __atomic_fetch_add */
	pthread_mutex_t replay_lock;
	struct replay_window replay;
	/* EVP_CIPHER_CTX per worker, key set once, made on the worker's first
	 * packet (only that worker touches its slot): a session costs the
	 * contexts of the workers that use it, not DP_MAX_WORKERS of each */
	void *send_ctx[DP_MAX_WORKERS];
	void *recv_ctx[DP_MAX_WORKERS];
	uint8_t send_key[NOISE_KEY_LEN], recv_key[NOISE_KEY_LEN];
	int valid;
};

/*
 * Derives the sending/receiving keys (KDF2 of chaining_key; the cipher
 * contexts are made per worker on first use), wipes the handshake (state ZEROED,
 * remote static/PSK/precomputed DH/latest timestamp kept).  Requires
 * CONSUMED_RESPONSE (initiator) or CREATED_RESPONSE (responder).
 */
int noise_begin_session(struct noise_handshake *hs, struct noise_keypair *kp,
    uint64_t now_ms);
void noise_keypair_destroy(struct noise_keypair *kp);

/*
 * ChaCha20-Poly1305 with the 64-bit counter as nonce (4 zero bytes || le64).
 * encrypt: src len bytes -> dst len + 16 bytes (dst may equal src).
 * decrypt: src len bytes (>= 16) -> dst len - 16 bytes; -EBADMSG on a bad tag.
 * worker < DP_MAX_WORKERS selects the caller's context (no allocation).
 */
int noise_encrypt(struct noise_keypair *kp, unsigned int worker, uint64_t counter,
    uint8_t *dst, const uint8_t *src, size_t len);
int noise_decrypt(struct noise_keypair *kp, unsigned int worker, uint64_t counter,
    uint8_t *dst, const uint8_t *src, size_t len);

/* ---- cookies (whitepaper §5.4.4, §5.4.7) -------------------------------- */

struct cookie_checker {                     /* ours, keyed by our public key */
	uint8_t mac1_key[NOISE_KEY_LEN];       /* HASH("mac1----" || S_pub_local) */
	uint8_t cookie_encryption_key[NOISE_KEY_LEN]; /* HASH("cookie--" || S_pub_local) */
	uint8_t secret[NOISE_HASH_LEN];        /* random, rotated every 2 minutes */
	uint64_t secret_birthdate_ms;
	pthread_mutex_t lock;
};
struct cookie_maker {                       /* per peer, keyed by its public key */
	uint8_t mac1_key[NOISE_KEY_LEN];
	uint8_t cookie_decryption_key[NOISE_KEY_LEN];
	uint8_t cookie[COOKIE_LEN];
	uint64_t cookie_birthdate_ms;          /* 0 = no cookie */
	uint8_t last_mac1_sent[COOKIE_LEN];
	int have_sent_mac1;
};

void cookie_checker_init(struct cookie_checker *c, const uint8_t local_pub[NOISE_KEY_LEN]);
void cookie_checker_destroy(struct cookie_checker *c);
void cookie_maker_init(struct cookie_maker *m, const uint8_t remote_pub[NOISE_KEY_LEN]);

/* Adds mac1, and mac2 when a cookie younger than COOKIE_SECRET_MAX_AGE -
 * COOKIE_SECRET_LATENCY is held; msg is a whole initiation or response. */
void cookie_add_macs(struct cookie_maker *m, void *msg, size_t len, uint64_t now_ms);

enum cookie_mac_state {
	COOKIE_INVALID_MAC,
	COOKIE_VALID_MAC_BUT_NO_COOKIE,
	COOKIE_VALID_MAC_WITH_COOKIE,
};
/* Checks mac1 (always) and, when check_cookie, mac2 against the cookie
 * for src (IP and port). */
enum cookie_mac_state cookie_validate(struct cookie_checker *c, const void *msg,
    size_t len, const struct sockaddr *src, int check_cookie, uint64_t now_ms);
/* Builds a cookie reply to msg (initiation or response) from src. */
int cookie_create_reply(struct cookie_checker *c, const void *msg, size_t len,
    uint32_t sender_index, const struct sockaddr *src,
    struct message_handshake_cookie *out, uint64_t now_ms);
/* Decrypts a cookie reply into m (needs a sent mac1). 0 or -EBADMSG. */
int cookie_consume_reply(struct cookie_maker *m,
    const struct message_handshake_cookie *msg, uint64_t now_ms);

/* ---- primitives exposed for tests -------------------------------------- */

/* HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2) from OpenSSL's ChaCha20. */
int dp_hchacha20(uint8_t out[32], const uint8_t key[32], const uint8_t nonce16[16]);
/* XChaCha20-Poly1305 (§2.3), aad may be NULL.  dst: len + 16 / len - 16. */
int dp_xchacha20poly1305_encrypt(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[24], const uint8_t key[32]);
int dp_xchacha20poly1305_decrypt(uint8_t *dst, const uint8_t *src, size_t len,
    const uint8_t *aad, size_t aadlen, const uint8_t nonce[24], const uint8_t key[32]);
/* HASH = BLAKE2s-256, HMAC-BLAKE2s, MAC = keyed BLAKE2s-128, X25519. */
int dp_blake2s(uint8_t out[32], const uint8_t *in, size_t len);
int dp_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen,
    const uint8_t *in, size_t len);
int dp_mac_blake2s16(uint8_t out[16], const uint8_t *key, size_t keylen,
    const uint8_t *in, size_t len);
/* KDF1..3 of the whitepaper: any of out2/out3 may be NULL. */
int dp_kdf(uint8_t out1[32], uint8_t out2[32], uint8_t out3[32],
    const uint8_t ck[32], const uint8_t *in, size_t len);
/* X25519; -EINVAL when the result is all zeros. */
int dp_x25519(uint8_t out[32], const uint8_t priv[32], const uint8_t pub[32]);

#endif
