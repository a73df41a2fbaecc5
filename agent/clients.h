/*
 * Remote users ("clients"): the store state_dir/clients.json, address
 * allocation in the overlay, and the wg-quick profile a client imports
 * (as text or as a terminal QR code).
 *
 *   {"clients": [{"name": "alice", "public_key": "<base64>",
 *                 "address": "100.96.0.7/32", "created": "2026-12-01T20:00:00Z"}]}
 *
 * The file holds public keys and addresses only; the daemon reads it as the
 * "clients" source (agent/desired.h).  A private key is kept only when the
 * operator asks (--keep-key), in its own 0600 file state_dir/clients/NAME.key.
 */
#ifndef AG_CLIENTS_H
#define AG_CLIENTS_H

#include <limits.h>
#include <stdint.h>

#include "agent/config.h"
#include "common/prefix.h"
#include "common/util.h"

#define CLIENTS_FILE     "clients.json"
#define CLIENTS_MAX      65536
/* Longest name: the daemon's peer is named "client:NAME" (desired.c). */
#define CLIENTS_NAME_MAX 47
/* Byte-mode capacity of a version 40 QR code at error correction L. */
#define CLIENTS_QR_MAX   2953

struct client {
	char name[64];
	uint8_t public_key[32];
	struct prefix address;        /* a host prefix: /32 or /128 */
	char created[32];             /* RFC 3339, UTC */
};

struct client_store {
	char path[PATH_MAX];
	struct client *v;
	size_t n;
};

/* 1-47 of [A-Za-z0-9._-], starting with a letter or digit. */
int clients_valid_name(const char *name);
/* Reads state_dir/clients.json (absent = empty).  -EINVAL with a message
 * naming the file and the bad entry in err. */
int clients_load(const char *state_dir, struct client_store *cs, struct buf *err);
/* Parses the text of a clients file (path for messages). */
int clients_parse(const char *path, const char *text, size_t len, struct client_store *cs,
    struct buf *err);
/* Writes the file atomically (0600). */
int clients_save(const struct client_store *cs);
/* The JSON text that clients_save writes (caller frees). */
char *clients_format(const struct client_store *cs);
void clients_free(struct client_store *cs);
/* Index of the client, or -1. */
ssize_t clients_find(const struct client_store *cs, const char *name);
int clients_append(struct client_store *cs, const struct client *c);
void clients_delete(struct client_store *cs, size_t i);

/*
 * The lowest free host address in the overlay (prefixes in order):
 * never the network or the last (broadcast) address of an overlay prefix,
 * nor an address inside `taken`.  -ENOSPC when the overlay is full.
 */
int clients_alloc(const struct prefix_set *overlay, const struct prefix_set *taken,
    struct prefix *out);
/* What is taken in cfg's overlay: the connector's tunnel.address, peers'
 * allowed IPs inside the overlay (other connectors) and every client. */
int clients_taken(const struct config *cfg, const struct client_store *cs,
    struct prefix_set *out);

/*
 * Clients the config no longer fits (for doctor): an address outside the
 * overlay (the overlay changed), or one that a tunnel.address or a peer's
 * allowed IP now claims (the daemon gives the config precedence, so that
 * client is cut off).  One line per problem in out; returns their number.
 */
size_t clients_check(const struct config *cfg, const struct client_store *cs, struct buf *out);

/*
 * The routes pushed to a client (its AllowedIPs): the overlay, local_subnets
 * and every peer's allowed IPs, aggregated (contained prefixes dropped,
 * sibling halves joined).  full_tunnel: 0.0.0.0/0 and ::/0, only when the
 * config has egress on (else -EPERM with a message in err).
 */
int clients_routes(const struct config *cfg, int full_tunnel, struct prefix_set *out,
    struct buf *err);
/* Joins sibling prefixes and drops contained ones, in place. */
void clients_aggregate(struct prefix_set *s);

struct client_profile {
	int has_private_key;
	uint8_t private_key[32];
	struct prefix address;
	uint8_t server_public_key[32];
	char endpoint[300];
	const struct prefix_set *allowed_ips;
	uint16_t keepalive;
};
/* The profile in wg-quick format. */
int clients_render(const struct client_profile *p, struct buf *out);
/*
 * The text as a QR code for a terminal (UTF-8 half blocks, white on black
 * with a quiet zone): error correction L, the smallest version that fits.
 * -E2BIG with a message when the text is above CLIENTS_QR_MAX bytes.
 */
int clients_qr(const char *text, struct buf *out, struct buf *err);

/*
 * For the daemon: an inotify fd (non-blocking) that becomes readable when
 * state_dir/clients.json is replaced or written, so a `client add/remove`
 * is composed at once; -errno when inotify is unavailable.
 * clients_watch_changed drains it: 1 when clients.json changed.
 */
int clients_watch_open(const char *state_dir);
int clients_watch_changed(int fd);

/* state_dir/clients/NAME.key: only with --keep-key. */
int clients_key_path(const char *state_dir, const char *name, char *out, size_t len);

#endif
