/*
 * The fleet in the daemon (agent/fleet_agent.c): the fleet thread started
 * from the config, publishing the "fleet" desired-state source and keeping
 * state_dir/fleet.json for `status`.  Main thread only.
 */
#ifndef AG_FLEET_AGENT_H
#define AG_FLEET_AGENT_H

#include "agent/config.h"

struct ds_registry;
struct fleet_agent;

/* Nothing (and *out NULL) without a fleet section.  0 or -errno. */
int fleet_agent_start(const struct config *cfg, struct ds_registry *reg,
    struct fleet_agent **out);
/* leave: revoke the lease (SIGTERM), so a standby takes over at once. */
void fleet_agent_stop(struct fleet_agent *a, int leave);
/* After a reload: restarts the session if the fleet section changed. */
int fleet_agent_reload(struct fleet_agent **a, const struct config *cfg,
    struct ds_registry *reg);

/* The daemon's own checks (tunnel up, host pass, cloud routes): an unhealthy
 * leader gives its lease up so that a standby takes over. */
void fleet_agent_health(struct fleet_agent *a, int ok);

/* From state_dir/fleet.json (agent/fleet_status.c), outside the daemon: */
#include <stdio.h>
struct json_object;
/* Puts the last published fleet peers into reg as the "fleet" source. */
int fleet_status_source(const struct config *cfg, struct ds_registry *reg);
/* The file's content plus "status_age_s"; NULL without a fleet section. */
struct json_object *fleet_status_json(const struct config *cfg);
void fleet_status_print(const struct config *cfg, FILE *out);
/* `doctor` checks (agent/fleet_doctor.c); level 0 ok, 1 warning, 2 problem. */
int fleet_doctor(const struct config *cfg, void (*say)(void *arg, int level,
    const char *text), void *arg);

#endif
