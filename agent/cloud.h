/*
 * The cloud part of a plan: which prefixes the VPC should route to this
 * connector, and the provider session that reads and writes them.
 *
 * A cloud_job is a self-contained snapshot of what a cloud pass needs (the
 * cloud section of the config and the composed cloud prefixes), so that the
 * daemon's cloud worker never reads the main thread's config, which a
 * reload may replace while a pass runs.  It crosses to the cloud process
 * as JSON (agent/cloudjob.c): a new member is one line in its fields[]
 * table (a static assertion there fails the build until it is added).
 */
#ifndef AG_CLOUD_H
#define AG_CLOUD_H

#include "agent/config.h"
#include "agent/desired.h"
#include "agent/fleet_takeover.h"
#include "agent/plan.h"
#include "agent/state.h"
#include "providers/provider.h"

struct cloud_job {
	char provider[16];
	int disable_source_dest_check;
	int disable_port_security;
	enum prov_tables tables;
	char **route_tables;
	size_t n_route_tables;
	char ha_group[64];
	enum prov_takeover takeover;
	int leader;                     /* fleet: 1 leader, 0 standby, -1 none */
	struct prefix_set desired;
};

struct cloud_session {
	const struct prov_ops *ops;
	void *ctx;                      /* the provider's own context */
	struct prov_identity id;
	struct prov_options opts;       /* points into job */
	struct cloud_job job;
	int active;
	struct fleet_takeover takeover;  /* fleet: what a standby would take over */
};

/* What a cloud pass did, for the daemon's log, status and metrics. */
struct cloud_result {
	size_t changes;                 /* mutations made */
	size_t conflicts;               /* routes for our prefixes held by others */
	long owned;                     /* routes recorded as ours after it; -1 unknown */
	char fp[65];                    /* cloud_job_fingerprint of its job */
};

/* Snapshot of cfg's cloud section and d's cloud prefixes.  0 or -ENOMEM. */
int cloud_job_make(const struct config *cfg, const struct desired *d, struct cloud_job *job);
void cloud_job_free(struct cloud_job *job);
/* agent/cloudjob.c: the job as a JSON object (NULL: out of memory), and
 * back (strict: every field, nothing else; 0 or -EINVAL/-ENOMEM); the
 * sha256 of its text (drift: a pass with the same job as the last good one
 * that changes something repaired drift). */
struct json_object *cloud_job_json(const struct cloud_job *job);
int cloud_job_parse(struct json_object *o, struct cloud_job *job);
int cloud_job_fingerprint(const struct cloud_job *job, char fp[65]);

/* Opens the provider (unless "none") and plans into p->cloud, using
 * p->desired (which must be set).  0, or -errno with a line in errs.  cs
 * must be closed with cloud_close. */
int cloud_plan(const struct config *cfg, struct state *st, struct plan *p,
    struct cloud_session *cs, struct buf *errs);
/* Saves the state before changing the cloud; the caller saves it after. */
int cloud_apply(struct cloud_session *cs, struct state *st, const struct plan *p,
    struct buf *errs);

/* Where a pass hands the provider's state object to be saved: after plan
 * when there are changes, at every provider checkpoint and at the end.
 * 0, or -errno (the provider stops before its next call). */
struct cloud_sink {
	int (*publish)(void *arg, struct json_object *cst);
	void *arg;
};

/*
 * One whole cloud pass (plan + apply) for the daemon's cloud process
 * (agent/cloudproc.c).  Works on cst, its own copy of the state's "cloud"
 * object (the caller's), and publishes it through sink, so that the daemon
 * saves it before the provider's next call.  Honours prov_cancelled() and
 * the thread's deadline.  res: what it did.
 * 0, 1 (no cloud: "auto" found none, or "none"; or a fleet standby's pass,
 * which writes no route and whose failures are only logged), or -errno
 * with errs.
 */
int cloud_pass(struct cloud_session *cs, struct cloud_job *job, struct json_object *cst,
    const struct cloud_sink *sink, struct cloud_result *res, struct buf *errs);

/* Removal of what the state records as ours (provider from the state, or
 * the config when given). */
int cloud_teardown(const struct config *cfg, struct state *st, int dry_run,
    struct plan *p, struct cloud_session *cs, struct buf *errs);
void cloud_close(struct cloud_session *cs);

#endif
