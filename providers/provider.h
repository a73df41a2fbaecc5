/*
 * The cloud provider interface.  One vtable per cloud (aws/, later azure/,
 * gcp/, oci/).  The agent drives one run as:
 *
 *   prov_select(name) -> ops            ("auto" probes each detect())
 *   ops->open(&ctx)                     metadata, credentials, identity
 *   ops->plan(ctx, opts, state, &plan)  reads the cloud, computes changes
 *   ops->apply(ctx, opts, &plan, state) performs them, updates state
 *   ops->teardown(ctx, state, &plan)    removes only what is ours
 *   ops->close(ctx)
 *
 * `state` is the provider's own JSON object inside the agent's state.json
 * (json-c); the provider reads and writes it (original source/dest check,
 * NIC tagged, routes created), the agent persists it atomically after each
 * apply/teardown.  plan() makes no mutating API call.
 */
#ifndef PROV_PROVIDER_H
#define PROV_PROVIDER_H

#include <stddef.h>
#include <json-c/json.h>

#include "common/prefix.h"

struct prov_ctx;

enum prov_takeover {
	PROV_TAKEOVER_NEVER,
	PROV_TAKEOVER_BLACKHOLE,     /* replace routes whose target is gone */
	PROV_TAKEOVER_GROUP,         /* ... and routes of connectors in our ha_group */
};

struct prov_options {
	int disable_source_dest_check;          /* config "disable" vs "leave" */
	const char *const *route_tables;        /* NULL = auto */
	size_t n_route_tables;
	const struct prefix_set *desired;       /* prefixes to route to us */
	const char *ha_group;
	enum prov_takeover takeover;
};

struct prov_identity {
	char provider[16];
	char instance[128];
	char nic[128];
	char private_ip[64];
	char subnet[128];
	char network[128];                      /* VPC / VNet / network */
	char region[64];
};

enum prov_action {
	PROV_KEEP,            /* "=" already as desired (status only) */
	PROV_CREATE,          /* "+" */
	PROV_REPLACE,         /* "~" takeover of a blackhole or group route */
	PROV_DELETE,          /* "-" ours, no longer desired */
	PROV_CONFLICT,        /* "!" someone else's route for our prefix */
	PROV_FORWARDING,      /* "~" source/dest check off / IP forwarding on */
	PROV_FORWARDING_RESTORE,
	PROV_TAG,             /* "+" mark our NIC with the ha_group */
};

struct prov_change {
	enum prov_action action;
	char table[128];
	struct prefix dst;
	char target[128];     /* NIC/instance the route points at now (or will) */
	char note[160];       /* human text: "(this connector)", "(not ours, left alone)" */
};

struct prov_plan {
	struct prov_change *v;
	size_t n, cap;
};
int prov_plan_add(struct prov_plan *p, const struct prov_change *c);
/* Changes that would mutate the cloud (everything but KEEP and CONFLICT). */
size_t prov_plan_mutations(const struct prov_plan *p);
void prov_plan_free(struct prov_plan *p);
/* One line: "+ cloud route rtb-0abc 100.96.0.0/11 -> eni-0123 (this connector)". */
const char *prov_change_fmt(const struct prov_change *c, char *buf, size_t len);

struct prov_ops {
	const char *name;
	/* 1 when this host is on the cloud (metadata probe, ~1 s timeout), 0 not. */
	int (*detect)(void);
	int (*open)(struct prov_ctx **out, struct prov_identity *id);
	int (*plan)(struct prov_ctx *ctx, const struct prov_options *opts,
	    struct json_object *state, struct prov_plan *out);
	int (*apply)(struct prov_ctx *ctx, const struct prov_options *opts,
	    const struct prov_plan *plan, struct json_object *state);
	/* Plans (dry_run) or performs removal of everything recorded as ours. */
	int (*teardown)(struct prov_ctx *ctx, struct json_object *state,
	    int dry_run, struct prov_plan *out);
	void (*close)(struct prov_ctx *ctx);
};

/* "aws", ... or "auto" (detect each in turn; -ENOENT if none). */
int prov_select(const char *name, const struct prov_ops **out);
/* Last error text of this thread (API error code and message, or reason). */
const char *prov_last_error(void);

#endif
