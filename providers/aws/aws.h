/*
 * The AWS provider's internals: EC2 response model and parsers (expat),
 * the route planner (a pure function over that model), the IMDSv2 client
 * and the EC2 Query API client.  Only aws_ops leaves the provider.
 */
#ifndef PROV_AWS_H
#define PROV_AWS_H

#include <stddef.h>
#include <time.h>

#include "common/prefix.h"
#include "common/util.h"
#include "providers/provider.h"

extern const struct prov_ops aws_ops;

#define AWS_HA_TAG_KEY "cloudroute:ha-group"
#define AWS_ID_LEN 128

/* ---- EC2 response model (aws_xml.c) ---- */

enum aws_origin {
	AWS_ORIGIN_CREATE_ROUTE,          /* static, "CreateRoute" */
	AWS_ORIGIN_TABLE,                 /* local, "CreateRouteTable" */
	AWS_ORIGIN_PROPAGATED,            /* "EnableVgwRoutePropagation" */
	AWS_ORIGIN_OTHER,
};

struct aws_route {
	int has_dst;                      /* 0: prefix-list destination */
	struct prefix dst;
	char eni[AWS_ID_LEN];             /* networkInterfaceId */
	char instance[AWS_ID_LEN];        /* instanceId */
	char gateway[AWS_ID_LEN];         /* gatewayId ("local", igw-, vgw-) */
	char other[AWS_ID_LEN];           /* nat/tgw/peering/egress/... target */
	int blackhole;                    /* state == "blackhole" */
	enum aws_origin origin;
};

struct aws_route_table {
	char id[AWS_ID_LEN];
	char vpc[AWS_ID_LEN];
	int main;                         /* an association with main=true */
	unsigned int n_subnets;           /* explicit subnet associations */
	struct aws_route *routes;
	size_t n, cap;
};

struct aws_rt_list {
	struct aws_route_table *v;
	size_t n, cap;
	char next_token[1024];
};

struct aws_eni {
	char id[AWS_ID_LEN];
	char status[32];                  /* in-use, available, ... */
	char instance[AWS_ID_LEN];        /* attachment/instanceId */
	char subnet[AWS_ID_LEN];
	char vpc[AWS_ID_LEN];
	int source_dest_check;            /* 1, 0, -1 unknown */
	int has_ha_tag;
	char ha_group[256];
};

struct aws_instance {                /* DescribeInstances, what HA needs */
	char id[AWS_ID_LEN];
	char state[32];                   /* pending running stopping stopped ... */
};

struct aws_instance_list {
	struct aws_instance *v;
	size_t n, cap;
	char next_token[1024];
};

struct aws_eni_list {
	struct aws_eni *v;
	size_t n, cap;
	char next_token[1024];
};

struct aws_error {
	char code[128];
	char message[512];
	char request_id[128];
};

/*
 * Each parser checks the root element, rejects DTDs and malformed XML, and
 * returns 0 or -EBADMSG with the reason in prov_last_error().  Lists are
 * appended to (pages accumulate); free them with the matching *_free.
 */
int aws_xml_route_tables(const char *xml, size_t len, struct aws_rt_list *out);
int aws_xml_enis(const char *xml, size_t len, struct aws_eni_list *out);
int aws_xml_instances(const char *xml, size_t len, struct aws_instance_list *out);
void aws_instance_list_free(struct aws_instance_list *l);
/* <Response><Errors><Error><Code>: the first error. */
int aws_xml_error(const char *xml, size_t len, struct aws_error *out);
/* <XxxResponse><return>true</return>: 0, -EBADMSG, or -EIO for "false". */
int aws_xml_return(const char *xml, size_t len, const char *action);
void aws_rt_list_free(struct aws_rt_list *l);
void aws_eni_list_free(struct aws_eni_list *l);

/* ---- planner (aws_plan.c) ---- */

struct aws_owned {                    /* a route recorded in state as ours */
	char table[AWS_ID_LEN];
	struct prefix dst;
};

struct aws_plan_input {
	const char *eni;                  /* ours */
	const struct aws_eni *our_eni;    /* its current attributes, or NULL */
	/* Every table read; the first n_targets are the ones we route in,
	 * the rest were read only to clean up routes recorded as ours. */
	const struct aws_route_table *tables;
	size_t n_tables;
	size_t n_targets;
	const struct prefix_set *desired;
	const struct aws_eni *others;     /* ENIs our prefixes point at now */
	size_t n_others;
	/* The instances of same-group peers (NULL: not read, the ENI's
	 * attachment alone decides). */
	const struct aws_instance *instances;
	size_t n_instances;
	int leader;                       /* fleet: elected leader of our site */
	const struct aws_owned *owned;
	size_t n_owned;
	const char *ha_group;             /* NULL or "": no tag */
	enum prov_takeover takeover;
	int disable_source_dest_check;
};

/* Appends the changes (KEEP and CONFLICT included) to out.  Pure. */
int aws_plan_compute(const struct aws_plan_input *in, struct prov_plan *out);

/* ---- IMDSv2 (aws_imds.c) ---- */

struct aws_imds {
	char base[512];                   /* scheme://host[:port] */
	int explicit_url;                 /* configured: plain http allowed */
	char token[256];
	uint64_t token_expiry_ms;         /* monotonic */
	long timeout_ms;
};

struct aws_creds {
	char access_key[128];
	char secret_key[256];
	char token[4096];
	time_t expiration;                /* 0 = static (environment) */
	char role[256];
};

void aws_imds_init(struct aws_imds *m, long timeout_ms);
/* GET /latest/<path> with the session token into out (NUL-terminated). */
int aws_imds_get(struct aws_imds *m, const char *path, struct buf *out);
/* Fetches a token (the IMDSv2 PUT); detect() uses it alone. */
int aws_imds_token(struct aws_imds *m);
void aws_imds_wipe(struct aws_imds *m);

/* Environment credentials, else the instance role.  0 or -errno. */
int aws_creds_load(struct aws_imds *m, struct aws_creds *c);
/* 1 when role credentials are within 5 minutes of expiring. */
int aws_creds_stale(const struct aws_creds *c, time_t now);
void aws_creds_wipe(struct aws_creds *c);
/* "2024-01-02T03:04:05Z" -> time_t.  0 or -EINVAL. */
int aws_parse_iso8601(const char *s, time_t *out);

/* ---- EC2 Query API (aws_ec2.c) ---- */

struct aws_ec2 {
	char url[512];                    /* endpoint, e.g. https://ec2.us-east-1.amazonaws.com */
	char host[300];                   /* signing host[:port] */
	char region[64];
	struct aws_creds creds;
	struct aws_imds *imds;            /* for role credential refresh */
	unsigned int calls;               /* API requests sent (all attempts) */
	unsigned int mutating_calls;
};

/* Form parameters of one call: "Action" and "Version" are added. */
struct aws_params {
	struct buf body;
};
void aws_params_init(struct aws_params *p);
int aws_params_add(struct aws_params *p, const char *key, const char *value);
int aws_params_addf(struct aws_params *p, const char *value, const char *keyfmt, ...)
    CR_PRINTF(3, 4);
void aws_params_free(struct aws_params *p);

/*
 * Performs one Query API call with retries.  On success the response
 * body is in *resp (caller frees).  Errors: the EC2 error code in err (when
 * there was one), -EACCES (UnauthorizedOperation/AuthFailure), -ENOENT
 * (*.NotFound), -EEXIST (*AlreadyExists), -EBADMSG (not an EC2 response),
 * -EAGAIN (still throttled after every retry), other -errno.
 */
int aws_ec2_call(struct aws_ec2 *ec2, const char *action, struct aws_params *p,
    struct buf *resp, struct aws_error *err);

/* ---- the provider (aws_provider.c reads, aws_apply.c writes) ---- */

/* What IMDS says about this instance (EC2 ids are short and bounded). */
struct aws_identity {
	char instance[AWS_ID_LEN];
	char nic[AWS_ID_LEN];
	char private_ip[64];
	char public_ip[64];               /* "" when the instance has none */
	char subnet[AWS_ID_LEN];
	char network[AWS_ID_LEN];
	char region[64];
	char zone[64];
};

struct aws_ctx {
	struct aws_imds imds;
	struct aws_ec2 ec2;
	struct aws_identity id;
	int observed_sdc;                 /* our ENI's check at the last plan, -1 */
	char observed_group[256];         /* our ENI's ha-group tag at the last plan */
};

/* DescribeRouteTables for the given ids (route-table-id filter), all pages. */
int aws_read_tables_by_id(struct aws_ctx *ctx, const char *const *ids, size_t n,
    struct aws_rt_list *out);
/* DescribeNetworkInterfaces for the given ids (network-interface-id filter). */
int aws_read_enis(struct aws_ctx *ctx, const char *const *ids, size_t n,
    struct aws_eni_list *out);

/* The provider's apply and teardown (aws_apply.c). */
int aws_apply(struct aws_ctx *ctx, const struct prov_options *opts,
    const struct prov_plan *plan, struct json_object *state);
int aws_teardown(struct aws_ctx *ctx, struct json_object *state, int dry_run,
    struct prov_plan *out);
/* DescribeInstances for the given ids (instance-id filter), all pages. */
int aws_read_instances(struct aws_ctx *ctx, const char *const *ids, size_t n,
    struct aws_instance_list *out);

/* Routes recorded in state as ours (empty when state names another ENI). */
int aws_state_owned(struct json_object *state, const char *eni,
    struct aws_owned **out, size_t *n);

#endif
