/*
 * The fleet's fast takeover (DESIGN.md "Fleet": kill -9 of a leader ->
 * traffic through the standby within 3 s, of which etcd's lease expiry
 * takes 1.3-2.5 s).
 *
 * A standby's cloud worker runs a cheap read-only pass planned as if it led
 * (prov_options.leader = 1): the REPLACE changes of that plan are exactly
 * the routes of its site that point at the current leader.  They are kept
 * here.  When the standby wins the election, its first pass writes them at
 * once, without reading anything first (the election is the proof that the
 * old leader is gone), and then runs the normal pass, which verifies
 * everything and records the routes as ours.  A standby also makes the NIC
 * changes of that plan (source/dest check off, ha-group tag), so its NIC
 * forwards the moment the routes move; it never writes a route.
 *
 * Only providers whose apply honours prov_options.partial and .proven take
 * these paths (fleet_takeover_supported); the others' standbys write
 * nothing and their leaders run the normal pass.  Cloud worker thread only.
 */
#ifndef AG_FLEET_TAKEOVER_H
#define AG_FLEET_TAKEOVER_H

#include <stdint.h>

#include "common/prefix.h"
#include "providers/provider.h"

/* A standby re-plans when what it kept is older than this (or the desired
 * prefixes changed); what it kept is written blind only while younger than
 * FLEET_TAKEOVER_MAX_AGE_MS (a route that changed hands since is left to
 * the normal pass). */
#define FLEET_TAKEOVER_REFRESH_MS (20 * 1000)
#define FLEET_TAKEOVER_MAX_AGE_MS (150 * 1000)

struct fleet_takeover {
	struct prov_plan plan;            /* REPLACE changes of the last standby plan */
	struct prefix_set desired;        /* the prefixes it was planned for */
	uint64_t at_ms;                   /* when; 0 = nothing kept */
};

/* 1 when the provider's apply honours partial/proven ("aws", "azure",
 * "gcp", "oci"; not "openstack", which takes no route over). */
int fleet_takeover_supported(const char *provider);
/* 1 when a standby pass should plan again: nothing kept, older than
 * FLEET_TAKEOVER_REFRESH_MS, or planned for other prefixes. */
int fleet_takeover_stale(const struct fleet_takeover *t, const struct prefix_set *desired,
    uint64_t now);
/* Keeps the REPLACE changes of p (a standby's plan made with leader = 1).
 * 0 or -ENOMEM (then nothing is kept). */
int fleet_takeover_keep(struct fleet_takeover *t, const struct prov_plan *p,
    const struct prefix_set *desired, uint64_t now);
/* The NIC changes of p (FORWARDING, TAG) that a standby makes too.  0 or -ENOMEM. */
int fleet_takeover_nic(const struct prov_plan *p, struct prov_plan *out);
/*
 * On winning: the kept REPLACE changes for prefixes still desired, when
 * kept within FLEET_TAKEOVER_MAX_AGE_MS; empty otherwise.  What was kept is
 * used once (t is cleared).  0 or -ENOMEM.
 */
int fleet_takeover_plan(struct fleet_takeover *t, const struct prefix_set *desired,
    uint64_t now, struct prov_plan *out);
void fleet_takeover_free(struct fleet_takeover *t);

#endif
