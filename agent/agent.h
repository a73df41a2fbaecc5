/*
 * The commands of the cloudroute program (DESIGN.md "Command line").
 * Each returns the process exit status.
 */
#ifndef AG_AGENT_H
#define AG_AGENT_H

#include "agent/config.h"
#include "agent/state.h"

#define EXIT_OK       0
#define EXIT_RUNTIME  1
#define EXIT_CHANGES  2
#define EXIT_USAGE    64
#define EXIT_CONFIG   78

struct opts {
	const char *config;
	const char *state_dir;          /* --state-dir (teardown), or NULL */
	int verbose;
	int json;
};

int cmd_check(const struct opts *o);
int cmd_plan(const struct opts *o);
int cmd_apply(const struct opts *o);
int cmd_teardown(const struct opts *o);
int cmd_status(const struct opts *o);
int cmd_doctor(const struct opts *o);
int cmd_run(const struct opts *o);
/* `client ...` parses its own options (argv as given to main). */
int cmd_client(int argc, char **argv);

/* 0 with CAP_NET_ADMIN, else -EPERM after one clear message. */
int agent_privileged(void);
/* Loads and derives the config; prints errors; EXIT_OK or EXIT_CONFIG. */
int agent_load_config(const struct opts *o, struct config *cfg, int derive);
/* agent_load_config (derived) and state_load; on failure nothing is left
 * to free. */
int agent_open(const struct opts *o, struct config *cfg, struct state *st);
/* Takes state_dir/lock (exclusive, non-blocking): the fd, or -1 with a
 * message when another cloudroute holds it. */
int agent_lock(const char *state_dir);
struct desired;
struct ds_registry;
/* Composes the desired state (config, clients, reg's sources; reg may be
 * NULL), logging what was ignored.  0 or -errno. */
int agent_desired(const struct config *cfg, struct ds_registry *reg, struct desired *d);
/* One reconcile pass: plan everything and apply it.  Fills *changes with the
 * number of changes made; errs with failures.  0 or -1.  d: the desired
 * state (NULL: composed here from the config and clients.json). */
struct cloud_session;
/* cs: a provider session kept open between passes (the daemon), or NULL
 * for one opened and closed here.  A failed pass closes it.  with_cloud 0:
 * host and tunnel only (a link or address changed: no cloud API calls).
 * route_conflicts (NULL: not wanted): the plan's host route conflicts
 * (plan_route_conflicts), when the plan was made. */
int agent_reconcile(const struct config *cfg, const struct desired *d, struct state *st,
    int print, size_t *changes, struct buf *errs, struct cloud_session *cs, int with_cloud,
    size_t *route_conflicts);

#endif
