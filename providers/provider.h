/*
 * The cloud provider interface (v2).  One vtable per cloud: aws/, azure/,
 * gcp/, oci/, openstack/.  The agent drives one run as:
 *
 *   prov_select(name) -> ops            ("auto": DMI, then that cloud's probe)
 *   ops->open(&ctx, &id)                metadata, credentials, identity
 *   ops->plan(ctx, opts, state, &plan)  reads the cloud, computes changes
 *   ops->apply(ctx, opts, &plan, state) performs them, updates state
 *   ops->teardown(ctx, opts, state, dry_run, &plan)  removes only what is ours
 *   ops->close(ctx)
 *
 * Each provider owns its context type (an opaque pointer to the agent).
 * `state` is the provider's own JSON object inside the agent's state.json
 * (json-c); the provider reads and writes it (originals, routes created),
 * and calls opts->checkpoint() when what it recorded must reach the disk
 * before its next call (e.g. OpenStack: a route is recorded as ours before
 * it is added).  The agent persists the state after plan (originals) and
 * after apply/teardown as well.  plan() makes no mutating API call.
 *
 * Threads: a provider context is used by one thread at a time (the daemon's
 * cloud worker, or the main thread of a one-shot command).  Every HTTP
 * request and retry sleep honours prov_cancelled() and the calling thread's
 * deadline (providers/http.h): a cancelled pass fails with -ECANCELED.
 */
#ifndef PROV_PROVIDER_H
#define PROV_PROVIDER_H

#include <stddef.h>
#include <json-c/json.h>

#include "common/prefix.h"

enum prov_takeover {
	PROV_TAKEOVER_NEVER,
	PROV_TAKEOVER_BLACKHOLE,     /* replace routes whose target is gone */
	PROV_TAKEOVER_GROUP,         /* ... and routes of failed connectors of our ha_group */
};

enum prov_tables {
	PROV_TABLES_AUTO,            /* the table(s) serving our subnet */
	PROV_TABLES_NETWORK,         /* every table of the VPC/VNet/VCN serving a subnet */
	PROV_TABLES_LIST,            /* route_tables[] */
};

struct prov_options {
	int disable_source_dest_check;          /* config "disable" vs "leave" */
	int disable_port_security;              /* OpenStack: port_security_enabled false */
	enum prov_tables tables;
	const char *const *route_tables;        /* PROV_TABLES_LIST */
	size_t n_route_tables;
	const struct prefix_set *desired;       /* prefixes to route to us */
	const char *ha_group;
	enum prov_takeover takeover;
	/* Fleet: this connector is its site's elected leader; it takes over
	 * routes of its own ha_group's connectors even while they run. */
	int leader;
	/* Fleet fast takeover (agent/fleet_takeover.h); a provider that does
	 * not honour them is never given them.  partial: the plan is a subset
	 * of a pass, so state entries it does not name stay recorded.  proven:
	 * its REPLACE changes were planned by a standby that has since won the
	 * election, and are written at once, without re-reading the route. */
	int partial;
	int proven;
	/* Persists the state now (the agent's atomic save).  0 or -errno; a
	 * provider that needs its record on disk before a call stops on error. */
	int (*checkpoint)(void *arg);
	void *checkpoint_arg;
};

/* What open() learned about this instance.  Strings are heap-allocated
 * (any length; NULL when the cloud has no such thing), freed by
 * prov_identity_free. */
struct prov_identity {
	char *provider;              /* "aws", "azure", ... */
	char *instance;              /* instance id / VM resource id / OCID / uuid */
	char *nic;                   /* ENI / NIC resource id / VNIC OCID / port id */
	char *private_ip;
	char *public_ip;             /* NULL when the instance has none */
	char *subnet;
	char *network;               /* VPC / VNet / network / VCN */
	char *region;
	char *zone;                  /* NULL where not applicable */
};
void prov_identity_free(struct prov_identity *id);
int prov_identity_copy(struct prov_identity *dst, const struct prov_identity *src);

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

/*
 * One change.  Strings are owned by the plan (prov_plan_add copies them).
 *   table   route table id, network (GCP), router (OpenStack); NULL for
 *           NIC changes
 *   target  what the route points at now (CONFLICT, KEEP) or will (CREATE)
 *   handle  the provider's own handle for the route: its name (Azure,
 *           GCP: several routes for one prefix are told apart by it), a rule
 *           index, an etag; NULL when the cloud needs none.  Shown by plan -v.
 *   note    human text: "(this connector)", "(not ours, left alone)"
 * apply() gets the whole plan and may batch it per table or network (OCI
 * writes a table's whole rule list in one PUT).
 */
struct prov_change {
	enum prov_action action;
	char *table;
	struct prefix dst;    /* family 0: no destination (NIC changes) */
	char *target;
	char *handle;
	char *note;
};

struct prov_plan {
	struct prov_change *v;
	size_t n, cap;
};
/* Appends a deep copy of c.  0 or -ENOMEM. */
int prov_plan_add(struct prov_plan *p, const struct prov_change *c);
/* Convenience: any string may be NULL; dst may be NULL. */
int prov_plan_addv(struct prov_plan *p, enum prov_action a, const char *table,
    const struct prefix *dst, const char *target, const char *handle, const char *note);
/* Changes that would mutate the cloud (everything but KEEP and CONFLICT). */
size_t prov_plan_mutations(const struct prov_plan *p);
void prov_plan_free(struct prov_plan *p);
/* One line: "+ cloud route rtb-0abc 100.96.0.0/11 -> eni-0123 (this connector)";
 * verbose adds " [handle]". */
const char *prov_change_fmt(const struct prov_change *c, char *buf, size_t len);
const char *prov_change_fmt_v(const struct prov_change *c, int verbose, char *buf,
    size_t len);

struct prov_ops {
	const char *name;
	/* Metadata probe: 1 when this host is on the cloud, 0 not.  Bounded by
	 * timeout_ms; never anything but the link-local metadata address or its
	 * configured override. */
	int (*detect)(long timeout_ms);
	/* id: filled on success (caller frees with prov_identity_free). */
	int (*open)(void **ctx, struct prov_identity *id);
	int (*plan)(void *ctx, const struct prov_options *opts,
	    struct json_object *state, struct prov_plan *out);
	int (*apply)(void *ctx, const struct prov_options *opts,
	    const struct prov_plan *plan, struct json_object *state);
	/* Plans (dry_run) or performs removal of everything recorded as ours;
	 * opts carries checkpoint only (the rest may be zero). */
	int (*teardown)(void *ctx, const struct prov_options *opts,
	    struct json_object *state, int dry_run, struct prov_plan *out);
	void (*close)(void *ctx);
};

/* "aws", "azure", "gcp", "oci", "openstack", or "auto": DMI first
 * (prov_detect_dmi), then only that cloud's metadata probe; without a DMI
 * answer every cloud is probed at once.  -ENOENT if none. */
int prov_select(const char *name, const struct prov_ops **out);
/* 1 when this build has a provider of that name. */
int prov_supported(const char *name);
/* "\"aws\", \"azure\", ..." for messages. */
const char *prov_supported_list(void);
/* The provider named by DMI (CLOUDROUTE_DMI_DIR overrides
 * /sys/class/dmi/id for tests), or NULL. */
const char *prov_detect_dmi(void);
/* JSON that carries secrets (credentials, tokens): parse so that json-c's
 * own buffers are wiped, and release with every string wiped.  NULL when the
 * text is not one complete JSON value. */
struct json_object *prov_json_parse_secret(const char *text, size_t len);
void prov_json_put_secret(struct json_object *o);
/* Last error text of this thread (API error code and message, or reason). */
const char *prov_last_error(void);

#endif
