/*
 * Remote users in the fleet: every connector publishes its clients
 * (state_dir/clients.json) under <prefix>clients/<name>, and routes every
 * other connector's clients through that connector (the client's host
 * prefix joins the allowed IPs of the serving connector's peer; kernel and
 * cloud routes follow from the peers, like any fleet prefix).
 *
 *   <prefix>clients/<name> = {"public_key": "<base64>", "address": "100.96.0.7/32",
 *                             "site": "hq", "connector": "hq-1"}
 *
 * Not attached to a lease: a client outlives a restart of its connector
 * (while that connector is gone its clients are simply unreachable).  Its
 * connector publishes it (`client add`, and the daemon for every client in
 * clients.json) and deletes it (`client remove`, and the daemon for a
 * record naming it that clients.json no longer has).  A record is
 * malformed unless it is a JSON object with exactly those four string
 * members: a 32-byte base64 key, a host prefix, and two names.  It is also
 * rejected when its address overlaps our local_subnets or a connector's
 * address or subnets, or an older client's address, or its key is a
 * connector's or an older client's ("older" = lower create_revision).  A
 * rejected record is ignored whole and logged once with its key.
 *
 * The table is owned by the fleet thread (agent/fleet.c); the CLI helpers
 * at the end open a short-lived etcd client of their own.
 */
#ifndef AG_FLEET_CLIENTS_H
#define AG_FLEET_CLIENTS_H

#include <limits.h>
#include <stdint.h>

#include "agent/clients.h"
#include "agent/config.h"
#include "agent/fleet.h"
#include "providers/etcd/etcd.h"

struct fleet_client {
	char name[FLEET_NAME_MAX];        /* from the key */
	uint8_t public_key[32];
	struct prefix address;            /* a host prefix */
	char site[FLEET_NAME_MAX];        /* the connector that serves it */
	char connector[FLEET_NAME_MAX];
	int64_t create_revision;
	int decoded, valid, logged, seen;
	char why[160];
};

struct fleet_clients {
	struct fleet_client *v;
	size_t n, cap;
	char state_dir[PATH_MAX];
	char file_sig[96];                /* clients.json as last published */
	uint64_t next_check_ms;
	int need_sync;                    /* compare ours with etcd again */
};

/* The record JSON of c (compact) into out; -ENOSPC when it does not fit. */
int fleet_client_encode(const struct fleet_client *c, char *out, size_t len);
/* Parses and validates a record value (name and revision are the caller's).
 * 0, or -EINVAL with the reason in why. */
int fleet_client_decode(const char *value, size_t len, struct fleet_client *c,
    char *why, size_t whylen);
int fleet_client_key(const char *prefix, const char *name, char *out, size_t len);

void fleet_clients_init(struct fleet_clients *t, const char *state_dir);
void fleet_clients_free(struct fleet_clients *t);
/* A key put or deleted under the prefix: 1 when it was a client key (taken
 * into the table), 0 when it is not one. */
int fleet_clients_put(struct fleet_clients *t, const char *prefix, const struct etcd_kv *kv);
int fleet_clients_delete(struct fleet_clients *t, const char *prefix, const char *key,
    size_t len);
/* A full re-read: mark, put every key, sweep the rest. */
void fleet_clients_mark(struct fleet_clients *t);
void fleet_clients_sweep(struct fleet_clients *t);
/*
 * Validates the clients against the view and adds each valid one's address
 * to the peer of the connector serving it (none when that is us, or when
 * the connector is not in the view).  Logs each newly rejected record once.
 */
int fleet_clients_route(struct fleet_clients *t, const struct fleet_view *v,
    struct fleet_peers *p, const char *prefix);
/*
 * Publishes our clients: at most once a second, when clients.json changed
 * (or the table did), puts the record of each client whose record is
 * missing or different and deletes records naming us that clients.json no
 * longer has.  A name another connector's record already holds is left
 * alone (logged).  site/name: ours.
 */
void fleet_clients_sync(struct fleet_clients *t, struct etcd_client *c, const char *prefix,
    const char *site, const char *name, uint64_t now);

/* The valid record of the connector serving c, or NULL when the view has
 * none (that connector is away: its lease ran out). */
const struct fleet_record *fleet_clients_server(const struct fleet_view *v,
    const struct fleet_client *c);

/* The routes every site announces in the fleet v, pushed to another
 * connector's client: the overlay, our local_subnets and every valid
 * record's subnets (not aggregated). */
int fleet_clients_pushed_routes(const struct config *cfg, const struct fleet_view *v,
    struct prefix_set *out);

/* ---- for `cloudroute client add|remove|list|show` (cfg has a fleet section) ---- */
/*
 * Addresses the fleet already uses (connectors' and other connectors'
 * clients) into taken; -EEXIST with a message when `name` is another
 * connector's client.  Other errors (etcd away) leave taken as it is.
 */
int fleet_clients_cli_taken(const struct config *cfg, const char *name,
    struct prefix_set *taken, struct buf *err);
/*
 * The fleet as the fleet thread would see it, from one range request of the
 * whole prefix: the connectors' records into v and the client records into
 * t (both initialised here: free them either way), validated alike; a
 * rejected client record is logged with its key (never its value) and left
 * with valid = 0.  0, or <0 with the message in err (etcd away: both empty).
 */
int fleet_clients_cli_read(const struct config *cfg, struct fleet_clients *t,
    struct fleet_view *v, struct buf *err);
/* Puts (add) or deletes (remove, only while the record is ours) one client. */
int fleet_clients_cli_write(const struct config *cfg, const struct client *c, int remove,
    struct buf *err);

#endif
