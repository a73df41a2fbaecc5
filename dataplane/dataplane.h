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
