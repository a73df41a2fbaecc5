/*
 * The host half of a plan: sysctls (forwarding, rp_filter, persisted in the
 * drop-in file), cloudroute's nftables table and kernel routes into the
 * tunnel.  Desired state comes from the config, actual state is read from
 * the kernel every time, originals come from the state file.
 */
#ifndef AG_HOST_H
#define AG_HOST_H

#include "agent/config.h"
#include "agent/plan.h"
#include "agent/state.h"

int host_plan(const struct config *cfg, struct state *st, struct plan *p);
/* Plans removal of everything the state file records (and routes with our
 * protocol). */
int host_teardown_plan(struct state *st, struct plan *p);
/* Executes the host and tunnel actions of p, saving state after each step;
 * appends one line per failure to errs.  0 or -1. */
int host_apply(const struct config *cfg, struct state *st, const struct plan *p,
    struct buf *errs);

#endif
