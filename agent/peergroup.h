/*
 * Peer groups (redundant tunnels).  A peer of tunnel.peers with
 * "backup_for": "<primary>" joins the primary's group; the group's prefixes
 * (the primary's allowed_ips) sit on exactly one member, its *holder*.
 *
 * Health: a member is healthy while something was received from it less
 * than failover_after seconds ago (the caller feeds receive counters and
 * last-handshake times).  An idle member is probed: after PG_PROBE_MS(fo)
 * without a receive, and then every PG_PROBE_MS(fo), it is sent a handshake
 * initiation (dp_device_probe), which any live WireGuard peer answers.  The
 * hubs' own keepalives are not enough: a persistent keepalive is pushed back
 * by every packet received, so a hub we send keepalives to may never send
 * one (WireGuard's rule, kept by every implementation).
 *
 * The state machine of a group, members in config order (primary first):
 *   - the holder keeps the prefixes while it is healthy, unless a member
 *     before it has been healthy for hold_down seconds without a break
 *     (then that one takes them back: no flapping);
 *   - when the holder is unhealthy, the first healthy member takes them at
 *     once (hold-down does not delay a failover);
 *   - when no member is healthy, nothing moves.
 * At start every member counts as heard from "now", so the primary holds
 * for failover_after seconds before the group can fail over.
 *
 * Everything here is a pure function of the inputs and `now` (monotonic
 * ms), except pg_tick (reads the device).  Called from the main thread only.
 *
 * The daemon: pg_set_new at start and on SIGHUP; pg_desired after every
 * desired_compose (so the tunnel is configured with the group's prefixes on
 * the holder); pg_tick every PG_TICK_MS, and when it reports a move,
 * recompose and configure the tunnel (kernel and cloud routes stay: they
 * point at the tunnel, not at a peer).
 */
#ifndef AG_PEERGROUP_H
#define AG_PEERGROUP_H

#include <stddef.h>
#include <stdint.h>

#include "agent/config.h"
#include "agent/desired.h"
#include "common/util.h"
#include "dataplane/dataplane.h"

/* A receive is seen up to one tick late and acted on up to one tick after
 * failover_after: the failover takes failover_after + at most 2 ticks. */
#define PG_TICK_MS 250
/* Probe interval for failover_after fo_ms: a third of it, at least 1 s
 * (last-handshake times have 1 s resolution). */
#define PG_PROBE_MS(fo_ms) ((fo_ms) / 3 > 1000 ? (fo_ms) / 3 : 1000)

struct pg_member {
	uint64_t last_rx;           /* monotonic ms of the last receive */
	uint64_t since;             /* healthy since (valid when up) */
	uint64_t last_probe;        /* monotonic ms of the last probe, 0 none */
	int up;
};

/*
 * One step of one group: updates members' health (m[0..n-1]) and returns
 * the index of the member that holds the group's prefixes now.
 */
size_t pg_choose(struct pg_member *m, size_t n, size_t holder, uint64_t now,
    uint64_t failover_ms, uint64_t hold_ms);

struct pg_set;

/* The groups of cfg (none is fine).  old (may be NULL): the set of the
 * previous config; health and holders carry over by public key. */
int pg_set_new(const struct config *cfg, const struct pg_set *old, uint64_t now,
    struct pg_set **out);
void pg_set_free(struct pg_set *s);
/* Number of groups. */
size_t pg_set_groups(const struct pg_set *s);
/* The receive counter and last handshake (unix s) of config peer `peer`
 * at `now`; growth of either = a receive. */
void pg_set_observe(struct pg_set *s, size_t peer, uint64_t rx_bytes, uint64_t hs_sec,
    uint64_t now);
/* 1 when group member `peer` is due a probe at `now` (recorded as sent),
 * else 0. */
int pg_set_probe_due(struct pg_set *s, size_t peer, uint64_t now);
/* Steps every group; logs each move; returns the number of moves. */
size_t pg_set_step(struct pg_set *s, const struct config *cfg, uint64_t now);
/* For a group member: the config index of its group's holder; else peer. */
size_t pg_set_holder(const struct pg_set *s, size_t peer);
/*
 * The allowed IPs config peer `peer` carries now: its own, except that the
 * group's prefixes are on the holder (adds to out).  Desired-state
 * composition builds the tunnel's peers with this.
 */
int pg_set_peer_ips(const struct pg_set *s, const struct config *cfg, size_t peer,
    struct prefix_set *out);
/* Moves each group's prefixes, in composed peers, from the primary to the
 * holder (peers matched by public key).  s may be NULL (nothing to do). */
int pg_desired(const struct pg_set *s, const struct config *cfg, struct desired *d);
/*
 * Status of another process's tunnel: which member of the group led by
 * config peer `primary` has the group's prefixes on the device now (its
 * config index), or -1 (not a group's primary, or nobody has them).
 */
ssize_t pg_live_holder(const struct config *cfg, size_t primary,
    const struct dp_peer_status *st, size_t n);
/* Every PG_TICK_MS: the device's receive counters, probes of idle
 * members, then a step.  The number of moves (the caller reconfigures the
 * tunnel), or -errno. */
int pg_tick(struct pg_set *s, const struct config *cfg, struct dp_device *dev, uint64_t now);

#endif
