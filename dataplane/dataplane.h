/*
 * The tunnel device: a TUN interface, UDP sockets and worker threads that run
 * the WireGuard protocol (noise.h), plus the cross-platform UAPI socket
 * /var/run/wireguard/<ifname>.sock so stock `wg` can inspect and set it.
 *
 * The agent creates the device, configures it (and reconfigures it on
 * SIGHUP, syncconf-style), and sets addresses, MTU and routes itself through
 * netcfg.  All functions are called from the agent's main thread.
 */
#ifndef DP_DATAPLANE_H
#define DP_DATAPLANE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/prefix.h"
#include "dataplane/noise.h"

struct dp_device;

struct dp_peer_config {
	char name[64];                          /* for logs/status only */
	uint8_t public_key[NOISE_KEY_LEN];
	int has_psk;
	uint8_t preshared_key[NOISE_KEY_LEN];
	int has_endpoint;
	struct sockaddr_storage endpoint;       /* resolved by the caller */
	const struct prefix *allowed_ips;
	size_t n_allowed_ips;
	uint16_t persistent_keepalive;          /* seconds, 0 = off */
};

struct dp_config {
	uint8_t private_key[NOISE_KEY_LEN];
	uint16_t listen_port;                   /* 0 = random */
	const struct dp_peer_config *peers;
	size_t n_peers;
};

/*
 * Creates the TUN interface `ifname` (left down; the caller sets MTU,
 * addresses and link state), the UDP sockets and the UAPI socket, and starts
 * the worker threads.  -errno on failure, with a logged reason.
 */
int dp_device_create(const char *ifname, const struct dp_config *cfg,
    struct dp_device **out);
/*
 * Brings the device to `cfg` like `wg syncconf`: peers not in cfg are
 * removed, new ones added, changed ones updated in place; a peer whose key
 * and PSK are unchanged keeps its sessions.  A changed private key or
 * listen port is applied too.  The private key in cfg is copied; the caller
 * wipes its own copy.
 */
int dp_device_configure(struct dp_device *dev, const struct dp_config *cfg);
/* Stops threads, closes the TUN (the interface disappears), removes the
 * UAPI socket, wipes every key. */
void dp_device_destroy(struct dp_device *dev);
const char *dp_device_ifname(const struct dp_device *dev);

/*
 * A liveness probe: sends the peer a handshake initiation now, even within
 * REKEY_TIMEOUT of the last one (the caller paces probes).  Any WireGuard
 * peer that is up answers with a response, which shows in the peer's
 * last handshake time, whatever its own keepalive settings (a persistent
 * keepalive is pushed back by traffic from us, so an idle peer we send
 * keepalives to may never send one itself).  0, or -ENOENT (no such peer).
 */
int dp_device_probe(struct dp_device *dev, const uint8_t key[NOISE_KEY_LEN]);

/*
 * Packets the device dropped, by reason: counters since the device was
 * created, kept per device with relaxed atomics (never a lock on the data
 * path).  The label names (dp_drop_reason_name) are the metric's `reason`.
 */
enum dp_drop_reason {
	DP_DROP_MALFORMED,          /* datagram too short/long, wrong length, unknown type */
	DP_DROP_UNKNOWN_RECEIVER,   /* data/response/cookie for a receiver index we lack */
	DP_DROP_SESSION_EXPIRED,    /* data for a session past its age or message limit */
	DP_DROP_DECRYPT_FAILED,     /* data failed to authenticate */
	DP_DROP_REPLAY,             /* data counter already seen or behind the window */
	DP_DROP_INVALID_INNER,      /* decrypted or TUN packet that is not IPv4/IPv6 */
	DP_DROP_SOURCE_NOT_ALLOWED, /* inner source not in the sender's allowed IPs */
	DP_DROP_NO_ROUTE,           /* TUN packet no peer's allowed IPs cover */
	DP_DROP_NO_ENDPOINT,        /* the peer's endpoint is unknown */
	DP_DROP_NO_SESSION,         /* staged for a session that never came */
	DP_DROP_QUEUE_FULL,         /* the staged queue or the handshake queue overflowed */
	DP_DROP_HANDSHAKE_MAC1,     /* handshake message with a bad mac1 */
	DP_DROP_HANDSHAKE_UNDER_LOAD, /* under load without a valid mac2: cookie sent */
	DP_DROP_HANDSHAKE_RATELIMITED, /* handshakes from one source or peer too fast */
	DP_DROP_HANDSHAKE_UNKNOWN_PEER, /* initiation from a key we do not know */
	DP_DROP_HANDSHAKE_INVALID,  /* handshake message failed to authenticate */
	DP_DROP_HANDSHAKE_STALE,    /* initiation with a timestamp not newer (a replay) */
	DP_DROP_SEND_FAILED,        /* the kernel refused a datagram we sent */
	DP_DROP_TUN_WRITE_FAILED,   /* the kernel refused a write to the TUN */
	DP_DROP_SOCKET_OVERFLOW,    /* the kernel's: a UDP socket's receive buffer was full */
	DP_DROP_MAX
};
/* "malformed", "unknown_receiver", ...; NULL outside the enum. */
const char *dp_drop_reason_name(enum dp_drop_reason r);
/*
 * The device's drop counters into out (every reason).  Any thread may call
 * it while the device exists; it takes dev->lock for reading only to read
 * the sockets' kernel counters (SO_MEMINFO).
 */
void dp_device_drops(struct dp_device *dev, uint64_t out[DP_DROP_MAX]);

/* Per-peer status: never carries keys except the peer's public key. */
struct dp_peer_status {
	uint8_t public_key[NOISE_KEY_LEN];
	int has_endpoint;
	struct sockaddr_storage endpoint;
	uint64_t last_handshake_sec;            /* unix time, 0 = never */
	uint64_t rx_bytes, tx_bytes;
	uint16_t persistent_keepalive;
	struct prefix *allowed_ips;
	size_t n_allowed_ips;
};
void dp_peer_status_free(struct dp_peer_status *v, size_t n);

/* Status of a running device in this process. */
int dp_device_status(struct dp_device *dev, struct dp_peer_status **out, size_t *n);
/*
 * Status of a device run by another process (another cloudroute, or
 * wireguard-go), through its UAPI socket with `get=1`.  -ENOENT when the
 * socket does not exist.
 */
int dp_uapi_status(const char *ifname, struct dp_peer_status **out, size_t *n,
    uint16_t *listen_port);
/*
 * Sends one `set=1` request (body: key=value lines, each ending in '\n')
 * to the UAPI socket of a device run by another process.  0, -ENOENT when
 * nobody serves the socket, or the (negative) errno the device answered.
 */
int dp_uapi_set(const char *ifname, const char *body);

#endif
