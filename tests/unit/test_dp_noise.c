/*
 * Unit tests for the WireGuard handshake, transport keypairs and cookies
 * (dataplane/noise.c, cookie.c) between two in-memory peers: the full
 * exchange with and without a PSK as the device layer drives it (macs
 * first, then the Noise messages), data both ways with counters and the
 * replay window, and the failure cases: PSK mismatch, tampered messages,
 * replayed initiations, wrong mac1, low-order keys, cookie replies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "dataplane/noise.h"

struct side {
	struct noise_local local;
	struct noise_handshake hs;	/* toward the other side */
	struct cookie_checker checker;
	struct cookie_maker maker;	/* keyed by the other side's public key */
	struct noise_keypair kp;
	struct sockaddr_in addr;
};

static struct side A, B;		/* A initiates unless a test says otherwise */

static const uint64_t NOW = 1000000;

static void
side_addr(struct side *s, uint16_t port)
{
	memset(&s->addr, 0, sizeof(s->addr));
	s->addr.sin_family = AF_INET;
	s->addr.sin_port = htons(port);
	s->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* Fresh identities for A and B, each configured with the other's key. */
static void
sides_init(const uint8_t *psk_a, const uint8_t *psk_b)
{
	uint8_t priv[NOISE_KEY_LEN];

	memset(&A, 0, sizeof(A));
	memset(&B, 0, sizeof(B));
	assert_int_equal(dp_genkey(priv), 0);
	assert_int_equal(noise_local_set(&A.local, priv), 0);
	assert_int_equal(dp_genkey(priv), 0);
	assert_int_equal(noise_local_set(&B.local, priv), 0);
	assert_int_equal(noise_handshake_init(&A.hs, &A.local, B.local.public_key, psk_a), 0);
	assert_int_equal(noise_handshake_init(&B.hs, &B.local, A.local.public_key, psk_b), 0);
	cookie_checker_init(&A.checker, A.local.public_key);
	cookie_checker_init(&B.checker, B.local.public_key);
	cookie_maker_init(&A.maker, B.local.public_key);
	cookie_maker_init(&B.maker, A.local.public_key);
	side_addr(&A, 40001);
	side_addr(&B, 40002);
}

static int
sides_teardown(void **state)
{
	noise_keypair_destroy(&A.kp);
	noise_keypair_destroy(&B.kp);
	cookie_checker_destroy(&A.checker);
	cookie_checker_destroy(&B.checker);
	noise_local_clear(&A.local);
	noise_local_clear(&B.local);
	return 0;
}

static void
make_initiation(struct side *i, uint32_t idx, const uint8_t *ts,
    struct message_handshake_initiation *msg)
{
	assert_int_equal(noise_create_initiation(&i->hs, &i->local, idx, ts, msg), 0);
	cookie_add_macs(&i->maker, msg, sizeof(*msg), NOW);
	assert_int_equal(i->hs.state, HANDSHAKE_CREATED_INITIATION);
}

/* Responder side of message 1, as the device does it: mac1, consume, find
 * the peer, check the timestamp, adopt.  Returns consume's result. */
static int
take_initiation(struct side *r, struct side *i,
    const struct message_handshake_initiation *msg)
{
	struct noise_handshake scratch;
	uint8_t ts[NOISE_TIMESTAMP_LEN];
	int ret;

	assert_int_equal(cookie_validate(&r->checker, msg, sizeof(*msg),
	    (struct sockaddr *)&i->addr, 0, NOW), COOKIE_VALID_MAC_BUT_NO_COOKIE);
	ret = noise_consume_initiation(&r->local, msg, &scratch, ts);
	if (ret < 0)
		return ret;
	assert_int_equal(scratch.state, HANDSHAKE_CONSUMED_INITIATION);
	assert_true(dp_key_equal(scratch.remote_static, i->local.public_key));
	assert_int_equal(scratch.remote_index, le32toh(msg->sender_index));
	assert_true(noise_timestamp_cmp(ts, r->hs.latest_timestamp) > 0);
	noise_handshake_adopt(&r->hs, &scratch, ts);
	assert_true(dp_key_is_zero(scratch.chaining_key));	/* scratch wiped */
	return 0;
}

/* The whole exchange; returns the initiator's consume_response result. */
static int
handshake(struct side *i, struct side *r)
{
	struct message_handshake_initiation init;
	struct message_handshake_response resp;
	int ret;

	make_initiation(i, 0x11111111, NULL, &init);
	assert_int_equal(take_initiation(r, i, &init), 0);
	assert_int_equal(noise_create_response(&r->hs, 0x22222222, &resp), 0);
	cookie_add_macs(&r->maker, &resp, sizeof(resp), NOW);
	assert_int_equal(le32toh(resp.type), MESSAGE_HANDSHAKE_RESPONSE);
	assert_int_equal(le32toh(resp.receiver_index), 0x11111111);
	assert_int_equal(cookie_validate(&i->checker, &resp, sizeof(resp),
	    (struct sockaddr *)&r->addr, 0, NOW), COOKIE_VALID_MAC_BUT_NO_COOKIE);
	if ((ret = noise_consume_response(&i->hs, &i->local, &resp)) < 0)
		return ret;
	assert_int_equal(noise_begin_session(&i->hs, &i->kp, NOW), 0);
	assert_int_equal(noise_begin_session(&r->hs, &r->kp, NOW), 0);
	return 0;
}

/* One data packet from s to d: header, encrypt, decrypt, replay check. */
static void
send_data(struct side *s, struct side *d, size_t len, unsigned int ws,
    unsigned int wd)
{
	uint8_t pkt[MESSAGE_DATA_HEADER_LEN + 1500 + NOISE_AUTHTAG_LEN], plain[1500];
	struct message_data *m = (struct message_data *)pkt;
	uint64_t ctr;
	size_t i;

	for (i = 0; i < len; i++)
		plain[i] = (uint8_t)(i * 7 + len);
	ctr = __atomic_fetch_add(&s->kp.sending_counter, 1, __ATOMIC_RELAXED);
	m->type = htole32(MESSAGE_DATA);
	m->key_idx = htole32(s->kp.remote_index);
	m->counter = htole64(ctr);
	assert_int_equal(noise_encrypt(&s->kp, ws, ctr, m->encrypted_data, plain, len), 0);
	/* Receiver: find the keypair by index, decrypt in place, replay. */
	assert_int_equal(le32toh(m->key_idx), d->kp.local_index);
	assert_int_equal(noise_decrypt(&d->kp, wd, le64toh(m->counter),
	    m->encrypted_data, m->encrypted_data, len + NOISE_AUTHTAG_LEN), 0);
	assert_memory_equal(m->encrypted_data, plain, len);
	assert_int_equal(replay_check_update(&d->kp.replay, le64toh(m->counter)), 1);
	assert_int_equal(replay_check_update(&d->kp.replay, le64toh(m->counter)), 0);
}

static void
check_session(void)
{
	static const size_t sizes[] = { 0, 1, 15, 16, 17, 100, 1420, 1500 };
	size_t i;

	assert_true(A.kp.valid && B.kp.valid);
	assert_true(A.kp.i_am_initiator);
	assert_false(B.kp.i_am_initiator);
	assert_int_equal(A.kp.local_index, 0x11111111);
	assert_int_equal(A.kp.remote_index, 0x22222222);
	assert_int_equal(B.kp.local_index, 0x22222222);
	assert_int_equal(B.kp.remote_index, 0x11111111);
	/* begin_session zeroed both handshakes but kept their configuration. */
	assert_int_equal(A.hs.state, HANDSHAKE_ZEROED);
	assert_int_equal(B.hs.state, HANDSHAKE_ZEROED);
	assert_true(dp_key_is_zero(A.hs.chaining_key));
	assert_true(dp_key_is_zero(B.hs.ephemeral_private));
	assert_true(dp_key_equal(A.hs.remote_static, B.local.public_key));
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		send_data(&A, &B, sizes[i], (unsigned int)i % DP_MAX_WORKERS, 0);
		send_data(&B, &A, sizes[i], 0, DP_MAX_WORKERS - 1);
	}
	assert_int_equal(A.kp.sending_counter, sizeof(sizes) / sizeof(sizes[0]));
}

static void
test_handshake_no_psk(void **state)
{
	sides_init(NULL, NULL);
	assert_int_equal(handshake(&A, &B), 0);
	check_session();
}

static void
test_handshake_psk(void **state)
{
	uint8_t psk[NOISE_KEY_LEN];

	assert_int_equal(dp_genkey(psk), 0);
	sides_init(psk, psk);
	assert_int_equal(handshake(&A, &B), 0);
	check_session();
	/* Roles reversed on the same peers: B initiates the next session. */
	assert_int_equal(handshake(&B, &A), 0);
	assert_true(B.kp.i_am_initiator);
	send_data(&A, &B, 64, 1, 2);
	send_data(&B, &A, 64, 2, 1);
}

static void
test_psk_mismatch(void **state)
{
	uint8_t psk[NOISE_KEY_LEN], other[NOISE_KEY_LEN];

	assert_int_equal(dp_genkey(psk), 0);
	assert_int_equal(dp_genkey(other), 0);
	sides_init(psk, other);
	assert_int_equal(handshake(&A, &B), -EBADMSG);
	assert_int_equal(A.hs.state, HANDSHAKE_CREATED_INITIATION);	/* unchanged */
	sides_teardown(state);
	sides_init(psk, NULL);			/* PSK on one side only */
	assert_int_equal(handshake(&A, &B), -EBADMSG);
}

/* Data failures: tampering, wrong counter, wrong direction, bad worker. */
static void
test_data_failures(void **state)
{
	uint8_t plain[64] = "payload", ct[64 + NOISE_AUTHTAG_LEN], out[64];

	sides_init(NULL, NULL);
	assert_int_equal(handshake(&A, &B), 0);
	assert_int_equal(noise_encrypt(&A.kp, 0, 7, ct, plain, sizeof(plain)), 0);
	assert_int_equal(noise_decrypt(&B.kp, 0, 8, out, ct, sizeof(ct)), -EBADMSG);
	assert_int_equal(noise_decrypt(&A.kp, 0, 7, out, ct, sizeof(ct)), -EBADMSG);
	ct[10] ^= 4;
	assert_int_equal(noise_decrypt(&B.kp, 0, 7, out, ct, sizeof(ct)), -EBADMSG);
	ct[10] ^= 4;
	assert_int_equal(noise_decrypt(&B.kp, 0, 7, out, ct, sizeof(ct) - 1), -EBADMSG);
	assert_int_equal(noise_decrypt(&B.kp, 0, 7, out, ct, NOISE_AUTHTAG_LEN - 1),
	    -EBADMSG);
	assert_int_equal(noise_decrypt(&B.kp, 0, 7, out, ct, sizeof(ct)), 0);
	assert_memory_equal(out, plain, sizeof(plain));
	assert_int_equal(noise_encrypt(&A.kp, DP_MAX_WORKERS, 7, ct, plain, 1), -EINVAL);
	assert_int_equal(noise_encrypt(&A.kp, 0, REJECT_AFTER_MESSAGES, ct, plain, 1),
	    -EKEYEXPIRED);
	assert_int_equal(noise_decrypt(&B.kp, 0, REJECT_AFTER_MESSAGES, out, ct,
	    sizeof(ct)), -EBADMSG);
	noise_keypair_destroy(&A.kp);
	assert_false(A.kp.valid);
	assert_int_equal(noise_encrypt(&A.kp, 0, 8, ct, plain, 1), -EINVAL);
}

/* Flipping any bit of the authenticated parts breaks message 1. */
static void
test_tampered_initiation(void **state)
{
	static const size_t offsets[] = {
		offsetof(struct message_handshake_initiation, unencrypted_ephemeral) + 3,
		offsetof(struct message_handshake_initiation, encrypted_static) + 0,
		offsetof(struct message_handshake_initiation, encrypted_static) + 40,
		offsetof(struct message_handshake_initiation, encrypted_timestamp) + 5,
		offsetof(struct message_handshake_initiation, encrypted_timestamp) + 27,
	};
	struct message_handshake_initiation init, bad;
	struct noise_handshake scratch;
	uint8_t ts[NOISE_TIMESTAMP_LEN];
	size_t i;

	sides_init(NULL, NULL);
	make_initiation(&A, 1, NULL, &init);
	for (i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
		bad = init;
		((uint8_t *)&bad)[offsets[i]] ^= 0x10;
		assert_int_equal(cookie_validate(&B.checker, &bad, sizeof(bad),
		    (struct sockaddr *)&A.addr, 0, NOW), COOKIE_INVALID_MAC);
		assert_int_equal(noise_consume_initiation(&B.local, &bad, &scratch, ts),
		    -EBADMSG);
		assert_int_equal(scratch.state, HANDSHAKE_ZEROED);
	}
	bad = init;
	bad.type = htole32(MESSAGE_HANDSHAKE_RESPONSE);
	assert_int_equal(noise_consume_initiation(&B.local, &bad, &scratch, ts), -EBADMSG);
	/* A low-order ephemeral key is refused (es would be all zeros). */
	bad = init;
	memset(bad.unencrypted_ephemeral, 0, NOISE_KEY_LEN);
	assert_int_equal(noise_consume_initiation(&B.local, &bad, &scratch, ts), -EBADMSG);
	/* Meant for someone else: B cannot open an initiation made for A. */
	assert_int_equal(noise_consume_initiation(&A.local, &init, &scratch, ts), -EBADMSG);
	assert_int_equal(noise_consume_initiation(&B.local, &init, &scratch, ts), 0);
}

/* The responder's ss from the peer table: the same session, and an unknown
 * key ends the initiation with the lookup's error. */
static int
ss_of_B(void *ctx, const uint8_t remote_static[NOISE_KEY_LEN], uint8_t ss[NOISE_KEY_LEN])
{
	int *calls = ctx;

	(*calls)++;
	if (memcmp(remote_static, B.hs.remote_static, NOISE_KEY_LEN) != 0)
		return -ENOENT;
	memcpy(ss, B.hs.precomputed_static_static, NOISE_KEY_LEN);
	return 0;
}

static void
test_consume_with_lookup(void **state)
{
	struct message_handshake_initiation init;
	struct noise_handshake plain, looked;
	uint8_t ts[NOISE_TIMESTAMP_LEN], ts2[NOISE_TIMESTAMP_LEN];
	uint8_t other[NOISE_KEY_LEN];
	int calls = 0;

	sides_init(NULL, NULL);
	make_initiation(&A, 1, NULL, &init);
	assert_int_equal(noise_consume_initiation(&B.local, &init, &plain, ts), 0);
	assert_int_equal(noise_consume_initiation_lookup(&B.local, &init, &looked, ts2,
	    ss_of_B, &calls), 0);
	assert_int_equal(calls, 1);
	assert_memory_equal(plain.chaining_key, looked.chaining_key, NOISE_HASH_LEN);
	assert_memory_equal(plain.hash, looked.hash, NOISE_HASH_LEN);
	assert_memory_equal(ts, ts2, sizeof(ts));
	/* B no longer knows A */
	assert_int_equal(dp_genkey(other), 0);
	assert_int_equal(dp_pubkey(B.hs.remote_static, other), 0);
	assert_int_equal(noise_consume_initiation_lookup(&B.local, &init, &looked, ts2,
	    ss_of_B, &calls), -ENOENT);
	assert_int_equal(looked.state, HANDSHAKE_ZEROED);
}

/* A replayed initiation decrypts fine; its timestamp is what gives it away. */
static void
test_replayed_initiation(void **state)
{
	static const uint8_t t1[NOISE_TIMESTAMP_LEN] = { 0x40, 0, 0, 0, 0x60, 0, 0, 1, 0, 0, 0, 0 };
	static const uint8_t t0[NOISE_TIMESTAMP_LEN] = { 0x40, 0, 0, 0, 0x60, 0, 0, 0, 0xff, 0, 0, 0 };
	static const uint8_t t2[NOISE_TIMESTAMP_LEN] = { 0x40, 0, 0, 0, 0x60, 0, 0, 1, 0, 0, 0, 1 };
	struct message_handshake_initiation init, old, newer;
	struct noise_handshake scratch;
	uint8_t ts[NOISE_TIMESTAMP_LEN];

	sides_init(NULL, NULL);
	make_initiation(&A, 1, t1, &init);
	make_initiation(&A, 2, t0, &old);
	make_initiation(&A, 3, t2, &newer);
	assert_int_equal(take_initiation(&B, &A, &init), 0);
	assert_memory_equal(B.hs.latest_timestamp, t1, sizeof(t1));
	/* Same message again: authentic, but not newer. */
	assert_int_equal(noise_consume_initiation(&B.local, &init, &scratch, ts), 0);
	assert_int_equal(noise_timestamp_cmp(ts, B.hs.latest_timestamp), 0);
	/* An older one (made earlier, captured, sent late). */
	assert_int_equal(noise_consume_initiation(&B.local, &old, &scratch, ts), 0);
	assert_true(noise_timestamp_cmp(ts, B.hs.latest_timestamp) < 0);
	/* One nanosecond-unit later is newer and accepted. */
	assert_int_equal(noise_consume_initiation(&B.local, &newer, &scratch, ts), 0);
	assert_true(noise_timestamp_cmp(ts, B.hs.latest_timestamp) > 0);
	noise_handshake_adopt(&B.hs, &scratch, ts);
	/* The latest timestamp survives the peer's reset and reconfiguration. */
	noise_handshake_clear(&B.hs);
	assert_int_equal(noise_handshake_init(&B.hs, &B.local, A.local.public_key, NULL), 0);
	assert_memory_equal(B.hs.latest_timestamp, t2, sizeof(t2));
}

static void
test_tai64n(void **state)
{
	uint8_t a[NOISE_TIMESTAMP_LEN], b[NOISE_TIMESTAMP_LEN];
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	uint64_t sec;
	uint32_t nsec;

	noise_tai64n_now(a);
	nanosleep(&ts, NULL);
	noise_tai64n_now(b);
	assert_true(noise_timestamp_cmp(b, a) > 0);	/* 20 ms later is newer */
	memcpy(&sec, a, 8);
	memcpy(&nsec, a + 8, 4);
	sec = be64toh(sec);
	nsec = be32toh(nsec);
	assert_true(sec - 0x400000000000000aULL > 1700000000ULL);
	assert_true(sec - 0x400000000000000aULL < 5000000000ULL);
	assert_true(nsec < 1000000000U);
	assert_int_equal(nsec % (1U << 24), 0);	/* coarse, no fine clock leak */
}

static void
test_response_failures(void **state)
{
	struct message_handshake_initiation init;
	struct message_handshake_response resp, bad;

	sides_init(NULL, NULL);
	/* create_response needs a consumed initiation. */
	assert_int_equal(noise_create_response(&B.hs, 5, &resp), -EINVAL);
	make_initiation(&A, 0x1234, NULL, &init);
	assert_int_equal(take_initiation(&B, &A, &init), 0);
	assert_int_equal(noise_create_response(&B.hs, 0x5678, &resp), 0);
	bad = resp;
	bad.receiver_index = htole32(0x1235);
	assert_int_equal(noise_consume_response(&A.hs, &A.local, &bad), -EBADMSG);
	bad = resp;
	bad.encrypted_nothing[0] ^= 1;
	assert_int_equal(noise_consume_response(&A.hs, &A.local, &bad), -EBADMSG);
	bad = resp;
	bad.unencrypted_ephemeral[9] ^= 1;
	assert_int_equal(noise_consume_response(&A.hs, &A.local, &bad), -EBADMSG);
	/* Failures left A's handshake intact: the genuine response works. */
	assert_int_equal(A.hs.state, HANDSHAKE_CREATED_INITIATION);
	assert_int_equal(noise_consume_response(&A.hs, &A.local, &resp), 0);
	assert_int_equal(A.hs.state, HANDSHAKE_CONSUMED_RESPONSE);
	/* ... once: a replayed response finds the wrong state. */
	assert_int_equal(noise_consume_response(&A.hs, &A.local, &resp), -EBADMSG);
	/* begin_session needs a finished handshake. */
	assert_int_equal(noise_begin_session(&B.hs, &B.kp, NOW), 0);
	assert_int_equal(noise_begin_session(&B.hs, &B.kp, NOW), -EINVAL);
}

static void
test_wrong_mac1(void **state)
{
	struct message_handshake_initiation init, bad;
	struct cookie_checker third;
	uint8_t priv[NOISE_KEY_LEN], pub[NOISE_KEY_LEN];

	sides_init(NULL, NULL);
	make_initiation(&A, 1, NULL, &init);
	assert_int_equal(cookie_validate(&B.checker, &init, sizeof(init),
	    (struct sockaddr *)&A.addr, 0, NOW), COOKIE_VALID_MAC_BUT_NO_COOKIE);
	/* mac1 is keyed by the receiver's public key: a third party rejects it. */
	assert_int_equal(dp_genkey(priv), 0);
	assert_int_equal(dp_pubkey(pub, priv), 0);
	cookie_checker_init(&third, pub);
	assert_int_equal(cookie_validate(&third, &init, sizeof(init),
	    (struct sockaddr *)&A.addr, 0, NOW), COOKIE_INVALID_MAC);
	cookie_checker_destroy(&third);
	bad = init;
	bad.macs.mac1[15] ^= 1;
	assert_int_equal(cookie_validate(&B.checker, &bad, sizeof(bad),
	    (struct sockaddr *)&A.addr, 0, NOW), COOKIE_INVALID_MAC);
	bad = init;
	bad.sender_index ^= 1;
	assert_int_equal(cookie_validate(&B.checker, &bad, sizeof(bad),
	    (struct sockaddr *)&A.addr, 0, NOW), COOKIE_INVALID_MAC);
	assert_int_equal(cookie_validate(&B.checker, &init, sizeof(init) - 1,
	    (struct sockaddr *)&A.addr, 0, NOW), COOKIE_INVALID_MAC);
	assert_int_equal(cookie_validate(&B.checker, &init, 32,
	    (struct sockaddr *)&A.addr, 0, NOW), COOKIE_INVALID_MAC);
	/* Without a cookie, mac2 is zeros. */
	assert_memory_equal(init.macs.mac2, (uint8_t[COOKIE_LEN]){ 0 }, COOKIE_LEN);
}

/* Under load B answers with a cookie reply; A's next initiation then
 * carries a mac2 that B accepts, for A's address only. */
static void
cookie_round_trip(struct sockaddr *asrc, struct sockaddr *other)
{
	struct message_handshake_initiation init, init2;
	struct message_handshake_cookie reply, bad;
	uint64_t later;

	make_initiation(&A, 0xabcd, NULL, &init);
	assert_int_equal(cookie_validate(&B.checker, &init, sizeof(init), asrc, 1, NOW),
	    COOKIE_VALID_MAC_BUT_NO_COOKIE);
	assert_int_equal(cookie_create_reply(&B.checker, &init, sizeof(init),
	    le32toh(init.sender_index), asrc, &reply, NOW), 0);
	assert_int_equal(le32toh(reply.type), MESSAGE_HANDSHAKE_COOKIE);
	assert_int_equal(le32toh(reply.receiver_index), 0xabcd);
	bad = reply;
	bad.encrypted_cookie[3] ^= 1;
	assert_int_equal(cookie_consume_reply(&A.maker, &bad, NOW), -EBADMSG);
	assert_int_equal(cookie_consume_reply(&A.maker, &reply, NOW + 10), 0);
	/* A reply answers one mac1: the same one again is refused. */
	assert_int_equal(cookie_consume_reply(&A.maker, &reply, NOW + 10), -EBADMSG);

	assert_int_equal(noise_create_initiation(&A.hs, &A.local, 0xabce, NULL, &init2), 0);
	cookie_add_macs(&A.maker, &init2, sizeof(init2), NOW + 20);
	assert_memory_not_equal(init2.macs.mac2, (uint8_t[COOKIE_LEN]){ 0 }, COOKIE_LEN);
	assert_int_equal(cookie_validate(&B.checker, &init2, sizeof(init2), asrc, 1,
	    NOW + 20), COOKIE_VALID_MAC_WITH_COOKIE);
	assert_int_equal(cookie_validate(&B.checker, &init2, sizeof(init2), asrc, 0,
	    NOW + 20), COOKIE_VALID_MAC_BUT_NO_COOKIE);
	assert_int_equal(cookie_validate(&B.checker, &init2, sizeof(init2), other, 1,
	    NOW + 20), COOKIE_VALID_MAC_BUT_NO_COOKIE);
	/* The maker stops using its cookie before the checker's secret expires. */
	later = NOW + 10 + COOKIE_SECRET_MAX_AGE_MS - COOKIE_SECRET_LATENCY_MS;
	assert_int_equal(noise_create_initiation(&A.hs, &A.local, 7, NULL, &init2), 0);
	cookie_add_macs(&A.maker, &init2, sizeof(init2), later);
	assert_memory_equal(init2.macs.mac2, (uint8_t[COOKIE_LEN]){ 0 }, COOKIE_LEN);
}

static void
test_cookie_reply_v4(void **state)
{
	struct sockaddr_in other;

	sides_init(NULL, NULL);
	other = A.addr;
	other.sin_port = htons(40003);
	cookie_round_trip((struct sockaddr *)&A.addr, (struct sockaddr *)&other);
}

static void
test_cookie_reply_v6(void **state)
{
	struct sockaddr_in6 a6, other;

	sides_init(NULL, NULL);
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	a6.sin6_port = htons(51820);
	assert_int_equal(inet_pton(AF_INET6, "fd00::1", &a6.sin6_addr), 1);
	other = a6;
	other.sin6_addr.s6_addr[15] = 2;
	cookie_round_trip((struct sockaddr *)&a6, (struct sockaddr *)&other);
}

/* The checker's secret rotates: an old cookie stops validating. */
static void
test_cookie_secret_rotation(void **state)
{
	struct message_handshake_initiation init;
	struct message_handshake_cookie reply;
	struct sockaddr *src;

	sides_init(NULL, NULL);
	src = (struct sockaddr *)&A.addr;
	make_initiation(&A, 1, NULL, &init);
	assert_int_equal(cookie_create_reply(&B.checker, &init, sizeof(init), 1, src,
	    &reply, NOW), 0);
	assert_int_equal(cookie_consume_reply(&A.maker, &reply, NOW), 0);
	assert_int_equal(noise_create_initiation(&A.hs, &A.local, 2, NULL, &init), 0);
	cookie_add_macs(&A.maker, &init, sizeof(init), NOW + 1);
	assert_int_equal(cookie_validate(&B.checker, &init, sizeof(init), src, 1,
	    NOW + COOKIE_SECRET_MAX_AGE_MS - 1), COOKIE_VALID_MAC_WITH_COOKIE);
	assert_int_equal(cookie_validate(&B.checker, &init, sizeof(init), src, 1,
	    NOW + COOKIE_SECRET_MAX_AGE_MS), COOKIE_VALID_MAC_BUT_NO_COOKIE);
	/* Unsupported address family: no cookie, no reply. */
	src->sa_family = AF_UNIX;
	assert_int_equal(cookie_validate(&B.checker, &init, sizeof(init), src, 1, NOW),
	    COOKIE_VALID_MAC_BUT_NO_COOKIE);
	assert_int_equal(cookie_create_reply(&B.checker, &init, sizeof(init), 1, src,
	    &reply, NOW), -EAFNOSUPPORT);
	src->sa_family = AF_INET;
}

/* Workers encrypt on one keypair at once, each with its own context and
 * counters from the shared atomic; every packet then decrypts. */
#define MT_WORKERS 4
#define MT_PKTS 200
#define MT_LEN 256

static uint8_t mt_out[MT_WORKERS * MT_PKTS][MT_LEN + NOISE_AUTHTAG_LEN];
static uint64_t mt_ctr[MT_WORKERS * MT_PKTS];

static void *
mt_worker(void *arg)
{
	unsigned int w = (unsigned int)(uintptr_t)arg;
	uint8_t plain[MT_LEN];
	int i;

	for (i = 0; i < MT_PKTS; i++) {
		uint64_t c = __atomic_fetch_add(&A.kp.sending_counter, 1, __ATOMIC_RELAXED);
		size_t slot = w * MT_PKTS + (size_t)i;

		memset(plain, (int)(c & 0xff), sizeof(plain));
		mt_ctr[slot] = c;
		if (noise_encrypt(&A.kp, w, c, mt_out[slot], plain, sizeof(plain)) != 0)
			return (void *)1;
	}
	return NULL;
}

static void
test_concurrent_workers(void **state)
{
	pthread_t th[MT_WORKERS];
	uint8_t plain[MT_LEN];
	void *res;
	size_t i;

	sides_init(NULL, NULL);
	assert_int_equal(handshake(&A, &B), 0);
	for (i = 0; i < MT_WORKERS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, mt_worker,
		    (void *)(uintptr_t)i), 0);
	for (i = 0; i < MT_WORKERS; i++) {
		assert_int_equal(pthread_join(th[i], &res), 0);
		assert_null(res);
	}
	for (i = 0; i < MT_WORKERS * MT_PKTS; i++) {
		assert_int_equal(noise_decrypt(&B.kp, (unsigned int)i % DP_MAX_WORKERS,
		    mt_ctr[i], plain, mt_out[i], sizeof(mt_out[i])), 0);
		assert_int_equal(plain[MT_LEN - 1], mt_ctr[i] & 0xff);
		assert_int_equal(replay_check_update(&B.kp.replay, mt_ctr[i]), 1);
	}
	assert_int_equal(A.kp.sending_counter, MT_WORKERS * MT_PKTS);
}

static void
test_bad_keys(void **state)
{
	static const uint8_t zero[NOISE_KEY_LEN];
	struct message_handshake_initiation init;
	struct noise_handshake hs;
	struct noise_local nol = { .has_identity = 0 };
	uint8_t order8[NOISE_KEY_LEN] = {
		0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3,
		0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32,
		0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
	};

	sides_init(NULL, NULL);
	memset(&hs, 0, sizeof(hs));
	assert_int_equal(noise_handshake_init(&hs, &A.local, zero, NULL), -EINVAL);
	assert_int_equal(noise_create_initiation(&hs, &A.local, 1, NULL, &init), -ENOKEY);
	assert_int_equal(noise_handshake_init(&hs, &A.local, order8, NULL), -EINVAL);
	assert_int_equal(noise_create_initiation(&hs, &A.local, 1, NULL, &init), -ENOKEY);
	assert_int_equal(noise_local_set(&nol, zero), -EINVAL);
	assert_false(nol.has_identity);
	/* A peer configured before the private key: no initiation until re-init. */
	assert_int_equal(noise_handshake_init(&hs, &nol, B.local.public_key, NULL), 0);
	assert_int_equal(noise_create_initiation(&hs, &A.local, 1, NULL, &init), -ENOKEY);
	assert_int_equal(noise_handshake_init(&hs, &A.local, B.local.public_key, NULL), 0);
	assert_int_equal(noise_create_initiation(&hs, &A.local, 1, NULL, &init), 0);
	noise_handshake_clear(&hs);
	assert_true(dp_key_is_zero(hs.ephemeral_private));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_handshake_no_psk, sides_teardown),
		cmocka_unit_test_teardown(test_handshake_psk, sides_teardown),
		cmocka_unit_test_teardown(test_psk_mismatch, sides_teardown),
		cmocka_unit_test_teardown(test_data_failures, sides_teardown),
		cmocka_unit_test_teardown(test_tampered_initiation, sides_teardown),
		cmocka_unit_test_teardown(test_replayed_initiation, sides_teardown),
		cmocka_unit_test_teardown(test_consume_with_lookup, sides_teardown),
		cmocka_unit_test(test_tai64n),
		cmocka_unit_test_teardown(test_response_failures, sides_teardown),
		cmocka_unit_test_teardown(test_wrong_mac1, sides_teardown),
		cmocka_unit_test_teardown(test_cookie_reply_v4, sides_teardown),
		cmocka_unit_test_teardown(test_cookie_reply_v6, sides_teardown),
		cmocka_unit_test_teardown(test_cookie_secret_rotation, sides_teardown),
		cmocka_unit_test_teardown(test_concurrent_workers, sides_teardown),
		cmocka_unit_test_teardown(test_bad_keys, sides_teardown),
	};

	if (noise_global_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
