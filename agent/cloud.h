/*
 * The cloud part of a plan: which prefixes the VPC should route to this
 * connector, and the provider session that reads and writes them.
 */
#ifndef AG_CLOUD_H
#define AG_CLOUD_H

#include "agent/config.h"
#include "agent/plan.h"
#include "agent/state.h"
#include "providers/provider.h"

struct cloud_session {
	const struct prov_ops *ops;
	void *ctx;                      /* the provider's own context */
	struct prov_identity id;
	struct prov_options opts;
	struct prefix_set desired;
	int active;
};

/* cloud.routes "auto": overlay + tunnel prefixes, minus anything that
 * overlaps local_subnets or is a default route, contained prefixes merged. */
void cloud_desired(const struct config *cfg, struct prefix_set *out);
/* Opens the provider (unless "none") and plans.  0, or -errno with a line
 * in errs.  cs must be closed with cloud_close. */
int cloud_plan(const struct config *cfg, struct state *st, struct plan *p,
    struct cloud_session *cs, struct buf *errs);
/* Saves the state before changing the cloud; the caller saves it after. */
int cloud_apply(struct cloud_session *cs, struct state *st, const struct plan *p,
    struct buf *errs);
/* Removal of what the state records as ours (provider from the state, or
 * the config when given). */
int cloud_teardown(const struct config *cfg, struct state *st, int dry_run,
    struct plan *p, struct cloud_session *cs, struct buf *errs);
void cloud_close(struct cloud_session *cs);

#endif
