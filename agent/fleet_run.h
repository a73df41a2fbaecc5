/*
 * Running the fleet (agent/fleet.c): the thread that registers this
 * connector in etcd, keeps its lease, campaigns for its site and watches the
 * others; what it learns is published as snapshots (peers + leadership).
 */
#ifndef AG_FLEET_RUN_H
#define AG_FLEET_RUN_H

#include <stdint.h>

#include "agent/config.h"
#include "agent/fleet.h"

/* What this connector advertises. */
struct fleet_self {
	uint8_t public_key[32];
	char endpoint[256];               /* host:port peers dial */
	struct prefix address;            /* host prefix of the first tunnel.address */
	const struct prefix_set *subnets; /* local_subnets */
};

/* One published result; the receiver owns it (fleet_snapshot_free). */
struct fleet_snapshot {
	struct fleet_peers peers;
	int leader;                       /* may write this site's cloud routes now */
	int64_t revision;
};
void fleet_snapshot_free(struct fleet_snapshot *s);

struct fleet_status {
	enum fleet_role role;
	int64_t lease;
	int may_write;
	int synced;
	size_t members;                   /* valid records, ours included */
	size_t sites_with_leader;
	int64_t revision;
	char endpoint[256];               /* etcd endpoint in use */
	char site_leader[FLEET_NAME_MAX];
	uint64_t last_event_wall_ms;
	uint64_t events, errors;
	char last_error[512];
};

struct fleet_opts {
	const struct config *cfg;         /* fleet section, local_subnets: copied */
	struct fleet_self self;
	/* Called on the fleet thread with a new snapshot (ownership passes). */
	void (*publish)(void *arg, struct fleet_snapshot *s);
	/* Optional, on the fleet thread: the status changed (or 5 s passed). */
	void (*on_status)(void *arg, const struct fleet_status *st);
	/* Optional, on the fleet thread, when self.endpoint is "": finds what
	 * peers should dial (the cloud's public IP).  0 or -errno (retried). */
	int (*resolve_endpoint)(void *arg, char *out, size_t len);
	void *arg;
};


struct fleet;
/* Checks the TLS files (the key must be private), opens the client and
 * starts the thread.  0 or -errno (reason logged). */
int fleet_start(const struct fleet_opts *o, struct fleet **out);
/* Stops the thread (within ~100 ms plus one request); leave = revoke the
 * lease first (SIGTERM), else the lease just expires (restart, reload). */
void fleet_stop(struct fleet *f, int leave);
/* The agent's health checks (tunnel up, LAN next hop, cloud routes). */
void fleet_set_health(struct fleet *f, int ok);
void fleet_get_status(struct fleet *f, struct fleet_status *out);
/* The self record from the config: address = first tunnel.address as a host
 * prefix, endpoint = fleet.endpoint, else public_ip:listen_port (public_ip
 * may be NULL: -EINVAL). */
int fleet_self_from_config(const struct config *cfg, const uint8_t public_key[32],
    const char *public_ip, struct fleet_self *out);

#endif
