/*
 * The daemon's metric feeds that need more than one line at the call site
 * (common/metrics.h has the families): drift repairs, routes owned and
 * conflicts, the fleet's leader state.  Main thread only.
 *
 * Drift: a pass whose inputs (a fingerprint: the composed desired state for
 * a host pass, the cloud_job for a cloud pass) are those of the last pass
 * that succeeded found the world changed under it, so every change it made
 * repaired drift (a route deleted by hand, another tool rewrote its rules,
 * a cloud route removed in the console).  The first pass after start or a
 * reload has nothing to compare with and counts none.
 */
#ifndef AG_FEEDS_H
#define AG_FEEDS_H

#include "agent/cloud.h"
#include "agent/desired.h"

struct drift {
	char fp[65];                    /* of the last pass that succeeded, "" none */
};

void feed_drift_reset(struct drift *d);
/* A host pass over want: drift repairs, routes owned on the host, route
 * conflicts on the host (SIZE_MAX: the pass made no plan). */
void feed_host_pass(struct drift *d, const struct desired *want, int ok, size_t changes,
    size_t conflicts);
/* A cloud pass (ok: it succeeded; res may be NULL when it did not run). */
void feed_cloud_pass(struct drift *d, const struct cloud_result *res, int ok);
/* After the desired state was composed: cloudroute_fleet_leader{site},
 * cloudroute_fleet_peers. */
void feed_fleet(const struct config *cfg, const struct desired *want);

#endif
