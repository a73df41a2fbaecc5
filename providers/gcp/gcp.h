/*
 * The GCP provider's internals: the Compute Engine v1 resource model and its
 * JSON parsers (json-c), route names, the route planner (a pure function over
 * that model), the metadata server and OAuth 2.0 token clients (instance
 * service account, or a service-account key file signed RS256), and the
 * Compute API client (retries, operations).  Only gcp_ops leaves the provider.
 *
 * Ownership on GCP: a route is ours when its name starts "cloudroute-" and
 * its nextHopInstance is this instance; its description names the ha_group
 * ("cloudroute ha_group=<group>").  Routes are network-wide and immutable:
 * a replacement is an insert of a new route (its name carries a hash of the
 * instance id, so it never collides with the old one) and then a delete.
 */
#ifndef PROV_GCP_H
#define PROV_GCP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "common/prefix.h"
#include "common/util.h"
#include "providers/provider.h"

extern const struct prov_ops gcp_ops;

#define GCP_NAME_PREFIX   "cloudroute-"
#define GCP_DESC_PREFIX   "cloudroute ha_group="
#define GCP_NAME_MAX      63              /* RFC 1035 label, Compute resource names */
#define GCP_URL_LEN       512
#define GCP_ID_LEN        128
#define GCP_PRIORITY      1000
#define GCP_SCOPE         "https://www.googleapis.com/auth/compute"

/* ---- Compute resource model (gcp_json.c) ---- */

struct gcp_route {
	char name[GCP_ID_LEN];
	char description[256];           /* truncated; only its start matters */
	char network[GCP_URL_LEN];
	int has_dst;
	struct prefix dst;
	long priority;
	char next_hop_instance[GCP_URL_LEN];   /* "" when another kind of next hop */
	char next_hop_other[GCP_URL_LEN];      /* ip / gateway / network / peering / ilb ... */
	char route_type[16];             /* SUBNET, STATIC, BGP, TRANSIT, "" */
	int dead;                        /* a warning says the next hop is gone or stopped */
	char warning[64];                /* that warning's code */
	int checked;                     /* next hop instance read this pass */
};

struct gcp_route_list {
	struct gcp_route *v;
	size_t n, cap;
	char next_page_token[1024];
};

struct gcp_instance {
	char self_link[GCP_URL_LEN];
	char name[GCP_ID_LEN];
	char id[32];
	char zone[GCP_ID_LEN];           /* last path component of "zone" */
	char status[32];
	char fingerprint[64];
	int can_ip_forward;              /* 0 / 1 (absent = false) */
	char network[GCP_URL_LEN];       /* networkInterfaces[0] */
	char subnetwork[GCP_URL_LEN];
	char network_ip[64];
	char nat_ip[64];
	struct json_object *raw;         /* the whole resource (instances.update) */
};

enum gcp_op_status {
	GCP_OP_PENDING,                  /* PENDING or RUNNING: poll again */
	GCP_OP_DONE,
	GCP_OP_FAILED,                   /* DONE with error */
};

struct gcp_operation {
	char name[GCP_ID_LEN];
	char project[GCP_ID_LEN];        /* from selfLink; "" = the client's project */
	char zone[GCP_ID_LEN];           /* "" for a global operation */
	char region[GCP_ID_LEN];         /* regional operations (unused by us) */
	enum gcp_op_status status;
	char error_code[128];            /* first error of a failed operation */
	char error_message[512];
	long http_error_status;
};

struct gcp_error {
	long code;                       /* error.code (the HTTP status) */
	char reason[64];                 /* error.errors[0].reason */
	char message[512];
	char status[64];                 /* error.status ("FAILED_PRECONDITION") */
};

/* Service-account key file (GOOGLE_APPLICATION_CREDENTIALS). */
struct gcp_sa_key {
	char client_email[256];
	char private_key_id[128];
	char token_uri[GCP_URL_LEN];
	char *private_key;               /* PEM, heap, wiped by gcp_sa_key_wipe */
	size_t private_key_len;
};

/*
 * Parsers: 0, or -EBADMSG with the reason in prov_last_error() (not JSON,
 * not an object, wrong "kind", a required field missing or mistyped).
 * Route lists append (pages accumulate); free with gcp_route_list_free.
 */
int gcp_json_routes(const char *s, size_t len, struct gcp_route_list *out);
int gcp_json_route(const char *s, size_t len, struct gcp_route *out);
int gcp_json_instance(const char *s, size_t len, struct gcp_instance *out);
int gcp_json_operation(const char *s, size_t len, struct gcp_operation *out);
/* {"error":{...}}: 0 when it is one, -EBADMSG otherwise (fields left empty). */
int gcp_json_error(const char *s, size_t len, struct gcp_error *out);
/* {"access_token","expires_in","token_type":"Bearer"} */
int gcp_json_token(const char *s, size_t len, struct buf *token, long *expires_in);
int gcp_json_sa_key(const char *s, size_t len, struct gcp_sa_key *out);
void gcp_route_list_free(struct gcp_route_list *l);
void gcp_instance_free(struct gcp_instance *i);
void gcp_sa_key_wipe(struct gcp_sa_key *k);
/* "https://.../projects/p/zones/z/instances/i" -> "projects/p/zones/z/instances/i"
 * (the part that identifies a resource, whatever the host and version). */
const char *gcp_url_tail(const char *url);
int gcp_same_resource(const char *a, const char *b);
/* The last path component. */
const char *gcp_url_last(const char *url);
/* The project of ".../projects/<p>/...", into out ("" if none). */
const char *gcp_url_project(const char *url, char *out, size_t len);

/* ---- route names and the planner (gcp_plan.c) ---- */

/* 1 when s is a valid Compute resource name: [a-z]([-a-z0-9]{0,61}[a-z0-9])? */
int gcp_name_valid(const char *s);
/*
 * Our route's name for (ha_group, prefix, instance id): "cloudroute-",
 * the group and the prefix in name characters, and 8 hex digits of
 * SHA-256(instance id); shortened with a hash of the full text when over
 * 63 characters.  0 or -EINVAL.
 */
int gcp_route_name(const char *ha_group, const struct prefix *dst,
    const char *instance_id, char out[GCP_NAME_MAX + 1]);
/* "cloudroute ha_group=<group>" */
int gcp_route_desc(const char *ha_group, char *out, size_t len);
/* The ha_group a description names, or NULL. */
const char *gcp_desc_group(const char *desc, char *out, size_t len);

struct gcp_change {
	enum prov_action action;
	struct prefix dst;               /* family 0: instance change */
	char handle[GCP_ID_LEN];         /* route name: CREATE new, REPLACE/DELETE old */
	char target[GCP_URL_LEN];        /* next hop now (CONFLICT/KEEP) or ours */
	char note[160];
};

struct gcp_changes {
	struct gcp_change *v;
	size_t n, cap;
};
void gcp_changes_free(struct gcp_changes *c);

struct gcp_plan_input {
	const char *self_link;           /* our instance's URL */
	const char *instance_id;         /* its numeric id (route names) */
	const char *network;             /* our network's URL */
	int can_ip_forward;              /* -1 unknown */
	int enable_forwarding;           /* config: source_dest_check "disable" */
	const struct gcp_route *routes;  /* every route listed (any network) */
	size_t n_routes;
	const struct prefix_set *desired;
	const char *ha_group;
	enum prov_takeover takeover;
	int leader;                      /* fleet leader: takes over its group's routes */
};

/*
 * Per desired prefix, over the routes of our network with that destRange:
 *   ours (cloudroute-*, next hop us)               KEEP
 *   a foreign route (any other name or next hop)   CONFLICT, ours not added
 *   cloudroute-* of a dead next hop                REPLACE if takeover != never
 *   cloudroute-* of a live ha_group peer           KEEP "held by" (REPLACE for
 *                                                  the fleet leader)
 *   cloudroute-* of another group's live connector CONFLICT
 *   none                                           CREATE
 * Ours whose prefix is no longer desired: DELETE.  Before the routes:
 * FORWARDING when canIpForward is false and the config asks for it.
 * Appends to out.  Pure.
 */
int gcp_plan_compute(const struct gcp_plan_input *in, struct gcp_changes *out);
/* Appends ours (cloudroute-*, next hop us, our network) as DELETE. */
int gcp_plan_teardown(const struct gcp_plan_input *in, struct gcp_changes *out);
/* 1 when r is ours: the name prefix, next hop us, our network. */
int gcp_route_is_ours(const struct gcp_route *r, const char *self_link,
    const char *network);

/* ---- metadata server and tokens (gcp_auth.c) ---- */

struct gcp_md {
	char base[GCP_URL_LEN];          /* scheme://host[:port] */
	int explicit_url;                /* configured: plain http allowed */
	long timeout_ms;
};

struct gcp_auth {
	struct gcp_md *md;
	int use_key;                     /* GOOGLE_APPLICATION_CREDENTIALS */
	struct gcp_sa_key key;
	struct buf token;                /* current access token (wiped) */
	uint64_t expiry_ms;              /* monotonic; 0 = none */
	unsigned int fetches;            /* tokens obtained */
};

/* Endpoint from CLOUDROUTE_GCP_METADATA_URL, GCE_METADATA_HOST, default. */
void gcp_md_init(struct gcp_md *m, long timeout_ms);
/* GET /computeMetadata/v1/<path> into out.  -ENOENT on 404. */
int gcp_md_get(struct gcp_md *m, const char *path, struct buf *out);
/* The same; with need_flavor, an answer without the response header
 * "Metadata-Flavor: Google" is -EPROTO (detection: not a GCE metadata server). */
int gcp_md_get_flavor(struct gcp_md *m, const char *path, struct buf *out, int need_flavor);

/* Loads GOOGLE_APPLICATION_CREDENTIALS if set.  0 or -errno. */
int gcp_auth_init(struct gcp_auth *a, struct gcp_md *m);
/* A valid token (refreshed within 2 minutes of expiry). */
int gcp_auth_token(struct gcp_auth *a, const char **token);
void gcp_auth_invalidate(struct gcp_auth *a);
void gcp_auth_wipe(struct gcp_auth *a);
/* The signed JWT (RFC 7519, RS256) asserting k for scope at time now. */
int gcp_jwt_assertion(const struct gcp_sa_key *k, const char *scope, time_t now,
    struct buf *out);
int gcp_base64url(const void *p, size_t n, struct buf *out);

/* ---- Compute Engine v1 (gcp_compute.c) ---- */

struct gcp_compute {
	char base[GCP_URL_LEN];          /* scheme://host[:port], no trailing slash */
	char project[GCP_ID_LEN];
	struct gcp_auth *auth;
	unsigned int calls;              /* requests sent, all attempts */
	unsigned int mutating_calls;
	unsigned int op_timeout_s;       /* bound on waiting for one operation */
};

/* Base from CLOUDROUTE_GCP_API_URL, else https://compute.googleapis.com. */
int gcp_compute_init(struct gcp_compute *c, const char *project, struct gcp_auth *a);
/*
 * One call on "/compute/v1/projects/<project>/<path>" (or on
 * "/compute/v1/<path>" when path starts "projects/": another project, the
 * host project of a Shared VPC) with retries
 * (429, 503, 403 rate limits with Retry-After; 5xx; one token refresh on
 * 401).  0 on 2xx with the body in resp; else the API error in err and
 * -ENOENT (404), -EEXIST (409), -ESTALE (412), -EACCES (403), -EDQUOT
 * (quota), -EINVAL (400), -EAGAIN (still throttled), -EBADMSG, -EIO.
 */
int gcp_call(struct gcp_compute *c, const char *method, const char *path,
    const char *body, struct buf *resp, struct gcp_error *err);
/* Waits for an operation (its wait method, polled) to be DONE. */
int gcp_op_wait(struct gcp_compute *c, struct gcp_operation *op);
/* Sends a write and waits for its operation.  0 when DONE without error. */
int gcp_mutate(struct gcp_compute *c, const char *method, const char *path,
    const char *body, struct gcp_error *err);
int gcp_list_routes(struct gcp_compute *c, const char *network, struct gcp_route_list *out);
int gcp_get_instance(struct gcp_compute *c, const char *zone, const char *name,
    struct gcp_instance *out);
/* instances.get by resource path "projects/p/zones/z/instances/n". */
int gcp_call_get_instance(struct gcp_compute *c, const char *path, struct gcp_instance *out);
/* instances.update with canIpForward = on, first from `cached` (the resource
 * as last read, may be NULL), re-read and retried on 412. */
int gcp_set_ip_forward(struct gcp_compute *c, const char *zone, const char *name, int on,
    struct json_object *cached);
/* Classification of an API error for retries. */
int gcp_error_throttled(long status, const struct gcp_error *e);
/* A 400 that asks to come back later (resourceNotReady, peering in progress). */
int gcp_error_transient(long status, const struct gcp_error *e);

/* ---- the provider (gcp_provider.c reads, gcp_apply.c writes) ---- */

struct gcp_ctx {
	struct gcp_md md;
	struct gcp_auth auth;
	struct gcp_compute api;
	char project[GCP_ID_LEN];
	char zone[GCP_ID_LEN];
	char name[GCP_ID_LEN];           /* instance name */
	char id[32];                     /* instance id (route names) */
	char ip[64], public_ip[64];
	char md_network[GCP_URL_LEN];    /* "projects/<number>/networks/<name>" */
	/* From instances.get at the last plan: */
	char self_link[GCP_URL_LEN];
	char network[GCP_URL_LEN];
	int observed_fwd;                /* canIpForward, -1 unknown */
	struct json_object *self_raw;    /* our instance resource as read */
};

/* Reads our instance (self link, network, canIpForward) into ctx. */
int gcp_read_self(struct gcp_ctx *ctx);
/* Appends the changes to a provider plan (table = network name). */
int gcp_export_changes(struct gcp_ctx *ctx, const struct gcp_changes *c,
    struct prov_plan *out);
/* provider, instance and network into the state. */
void gcp_state_identity(struct gcp_ctx *ctx, struct json_object *state);
int gcp_apply(struct gcp_ctx *ctx, const struct prov_options *opts,
    const struct prov_plan *plan, struct json_object *state);
int gcp_teardown(struct gcp_ctx *ctx, struct json_object *state, int dry_run,
    struct prov_plan *out);

#endif
