/*
 * Living beside other firewalls (DESIGN.md "firewall"): their forward
 * chains that drop routed overlay traffic, the accepts cloudroute keeps in
 * them ("integrate") or only reports ("leave"), and their removal on
 * teardown.  The nftables side is netcfg/firewall.c.
 */
#ifndef AG_FIREWALL_H
#define AG_FIREWALL_H

#include "agent/config.h"
#include "agent/plan.h"
#include "netcfg/netcfg.h"

/* Plans ACT_FW actions (or conflicts with "leave"); 0 or -errno. */
int fw_plan(const struct config *cfg, struct plan *p);
/* Plans the removal of every rule of ours in other tables. */
int fw_teardown_plan(struct plan *p);
/* Executes one ACT_FW action (a->blob is the nft script). */
int fw_apply(const struct action *a, struct buf *errs);
/* Calls fn for every foreign forward chain and chain holding rules of ours,
 * with the accepts it should hold for cfg ("" if it does not drop or none
 * apply); extra: more tunnel-side prefixes (the composed desired state) or
 * NULL.  Stops at the first fn < 0. */
typedef int fw_walk_fn(void *ctx, const struct nc_fw_chain *c, const char *rules);
int fw_walk(const struct config *cfg, const struct prefix_set *extra, fw_walk_fn *fn,
    void *ctx);
/* "Docker (ip filter FORWARD, policy drop)" */
const char *fw_name(const struct nc_fw_chain *c, char *buf, size_t len);

#endif
