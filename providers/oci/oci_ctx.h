/*
 * The OCI provider context shared by oci_provider.c (open, plan) and
 * oci_apply.c (apply, teardown, state).  One thread at a time uses it.
 *
 * Provider state (inside the agent's state.json):
 *   {"provider":"oci","nic":"ocid1.vnic..","private_ip_id":"ocid1.privateip..",
 *    "skip_source_dest_check_original":false,"skip_source_dest_check_changed":true,
 *    "tables":["ocid1.routetable.."],
 *    "routes":[{"table":"ocid1.routetable..","dst":"100.96.0.0/11"}]}
 * "tables" are the tables we ever wrote to (so a table dropped from the
 * config is cleaned up); "routes" mirrors our rules for status.  Ownership
 * itself is the rule's description, so a lost state loses nothing.
 */
#ifndef PROV_OCI_CTX_H
#define PROV_OCI_CTX_H

#include "oci.h"

extern const struct prov_ops oci_ops;

struct oci_target {
	char *ocid;
	enum oci_target_state state;
};

struct oci_ctx {
	struct oci_imds imds;
	struct oci_creds creds;
	int have_creds;
	struct oci_api api;
	char auth_url[512];
	struct oci_instance_md md;
	struct oci_vnic vnic;
	int vnic_fresh;                   /* vnic read by open, not yet by a plan */
	int subnet_fresh;                 /* same for the subnet */
	struct oci_subnet subnet;
	struct oci_private_ip pip;        /* ours: the rules' target */
	int observed_skip;                /* skipSourceDestCheck at the last plan */
	struct oci_table *tables;         /* read by the last plan, with etags */
	size_t n_tables;
	struct oci_target *targets;       /* liveness cache of the last plan */
	size_t n_targets;
};

/* GET <base><arg> (arg: an OCID). */
int oci_get(struct oci_ctx *ctx, const char *base, const char *arg, struct oci_result *res);
int oci_read_vnic(struct oci_ctx *ctx, const char *id, struct oci_vnic *out);
int oci_read_table(struct oci_ctx *ctx, const char *id, struct oci_table *out);
enum oci_target_state oci_target_state(void *arg, const char *ocid);
void oci_plan_input_fill(struct oci_ctx *ctx, const struct prov_options *opts, int target,
    struct oci_plan_input *in);
void oci_cache_clear(struct oci_ctx *ctx);
void oci_ids_free(char **v, size_t n);

/* Tables recorded in state that are not in ids[] (heap copies). */
int oci_state_tables(struct json_object *state, char *const *ids, size_t n,
    char ***extra, size_t *n_extra);

int oci_apply(void *ctx, const struct prov_options *opts, const struct prov_plan *plan,
    struct json_object *state);
int oci_teardown(void *ctx, const struct prov_options *opts, struct json_object *state,
    int dry_run, struct prov_plan *out);

#endif
