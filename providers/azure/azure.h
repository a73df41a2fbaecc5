/*
 * The Azure provider's internals: the ARM/IMDS response model and its
 * json-c parsers (azure_json.c), route names and MAC/resource-id helpers
 * (azure_names.c), the route planner, a pure function over the model
 * (azure_plan.c), the IMDS client with the managed-identity token cache
 * (azure_imds.c) and the ARM client with retries and long-running
 * operations (azure_arm.c).  Only azure_ops leaves the provider.
 */
#ifndef PROV_AZURE_H
#define PROV_AZURE_H

#include <stddef.h>
#include <stdint.h>

#include "common/prefix.h"
#include "common/util.h"
#include "providers/provider.h"
#include "providers/retry.h"

/* api-versions, one per resource provider (ARM rejects a version the
 * resource type does not have).  Microsoft.Network 2024-05-01 and
 * Microsoft.Compute 2024-07-01 are stable versions of the REST specs. */
#define AZ_API_NETWORK   "2024-05-01"
#define AZ_API_COMPUTE   "2024-07-01"
#define AZ_API_IMDS      "2021-02-01"
#define AZ_API_TOKEN     "2018-02-01"
#define AZ_RESOURCE      "https://management.azure.com/"

#define AZ_ID_LEN        512          /* ARM resource ids */
#define AZ_NAME_LEN      96           /* route names: at most 80 */
#define AZ_ROUTE_NAME_MAX 80
#define AZ_MAX_ROUTES    400          /* UDRs per route table */
#define AZ_ROUTE_PREFIX  "cloudroute-"
#define AZ_MAX_IFS       8
#define AZ_MAX_IPS       8
#define AZ_TOKEN_LEN     16384

/* ---- model ---- */

struct az_instance {                  /* IMDS /metadata/instance */
	char subscription[64];
	char resource_group[128];
	char name[128];
	char location[64];
	char zone[16];
	char resource_id[AZ_ID_LEN];      /* may be "" on old platforms */
	struct {
		char mac[13];                 /* 12 upper-case hex digits */
		char ip[64];                  /* first private IPv4 */
		char public_ip[64];
	} ifs[AZ_MAX_IFS];
	size_t n_ifs;
};

struct az_nic {
	char id[AZ_ID_LEN];
	char name[AZ_NAME_LEN];
	char mac[13];                     /* normalised, "" if none */
	int ip_forwarding;                /* 1, 0, -1 unknown */
	char vm[AZ_ID_LEN];               /* virtualMachine.id, "" if detached */
	char subnet[AZ_ID_LEN];           /* of the primary ip configuration */
	char ips[AZ_MAX_IPS][64];         /* primary configuration first */
	size_t n_ips;
	char etag[128];
};

struct az_nic_list {
	struct az_nic *v;
	size_t n, cap;
	char next_link[2048];
};

struct az_route {
	char name[AZ_NAME_LEN];
	int has_dst;                      /* 0: service tag or garbage prefix */
	struct prefix dst;
	char next_hop_type[32];           /* VirtualAppliance, Internet, ... */
	char next_hop_ip[64];
	char etag[128];
};

struct az_route_table {
	char id[AZ_ID_LEN];
	char label[AZ_ID_LEN];            /* as plans show it (az_table_label) */
	char name[AZ_NAME_LEN];
	char etag[128];
	struct az_route *routes;
	size_t n, cap;
};

struct az_error {
	long status;
	char code[128];
	char message[768];
	char request_id[64];              /* x-ms-request-id of the answer, or "" */
};

enum az_op_status {
	AZ_OP_IN_PROGRESS,
	AZ_OP_SUCCEEDED,
	AZ_OP_FAILED,
	AZ_OP_CANCELED,
};

/*
 * Parsers: 0, or -EBADMSG with the reason in prov_last_error() (not JSON,
 * truncated, wrong shape).  Unknown fields are ignored (ARM adds fields in
 * new versions); missing required ones are errors.
 */
int az_json_instance(const char *s, size_t len, struct az_instance *out);
/* {"access_token","expires_on"}: token copied (wiped on error), expiry in
 * seconds since the epoch.  -E2BIG when the token does not fit. */
int az_json_token(const char *s, size_t len, char *token, size_t tlen,
    uint64_t *expires_on);
/* virtualMachines GET: networkProfile.networkInterfaces[].id, primary first. */
int az_json_vm_nics(const char *s, size_t len, char ids[][AZ_ID_LEN], size_t max,
    size_t *n);
/* virtualMachines/instanceView: 1 running, 0 not, from statuses[].code. */
int az_json_vm_running(const char *s, size_t len, int *running);
int az_json_nic(const char *s, size_t len, struct az_nic *out);
/* networkInterfaces list page: value[] appended, nextLink kept. */
int az_json_nic_list(const char *s, size_t len, struct az_nic_list *out);
int az_json_route_table(const char *s, size_t len, struct az_route_table *out);
/* subnets GET: properties.routeTable.id ("" when none). */
int az_json_subnet_table(const char *s, size_t len, char *table, size_t tlen);
/* virtualNetworks GET: every distinct subnets[].properties.routeTable.id. */
int az_json_vnet_tables(const char *s, size_t len, char ids[][AZ_ID_LEN], size_t max,
    size_t *n);
/* virtualNetworks GET: properties.addressSpace.addressPrefixes. */
int az_json_vnet_space(const char *s, size_t len, struct prefix_set *out);
/* {"error":{"code","message"}} (also the IMDS {"error","error_description"});
 * an HTML or empty body gives code "" and a short description. */
void az_json_error(const char *s, size_t len, long status, struct az_error *out);
/* Azure-AsyncOperation body {"status": ..., "error": {...}}. */
int az_json_op_status(const char *s, size_t len, enum az_op_status *st,
    struct az_error *err);
/* A resource's properties.provisioningState as an operation status
 * (absent = Succeeded; Updating, Creating, Deleting... = in progress). */
int az_json_provisioning_state(const char *s, size_t len, enum az_op_status *st);
void az_route_table_free(struct az_route_table *t);
void az_nic_list_free(struct az_nic_list *l);

/* ---- names (azure_names.c) ---- */

/* "00-0D-3A-11-22-33", "00:0d:3a:11:22:33", "000D3A112233" -> "000D3A112233".
 * 0 or -EINVAL. */
int az_mac_norm(const char *in, char out[13]);
/*
 * Route names: "cloudroute-<group>-<prefix>", the prefix with '_' for '/'
 * and '.' for ':' (Azure allows letters, digits, '_', '.', '-'; at most 80;
 * must end in a letter, digit or '_').  A group that is not made of those
 * characters, or is longer than 24, is written "g" + 16 hex digits of its
 * SHA-256.  0 or -EINVAL/-ENAMETOOLONG.
 */
int az_route_name(const char *group, const struct prefix *dst, char *out, size_t len);
/* 1 when name carries our mark (case-insensitive "cloudroute-"). */
int az_route_is_marked(const char *name);
/* Splits a marked name into its encoded group and prefix.  0 or -EINVAL. */
int az_route_name_parse(const char *name, char *group, size_t glen, struct prefix *dst);
/* A valid Azure route name (charset, length, first/last character). */
int az_name_valid(const char *name);
/* The last path segment of a resource id ("" if none). */
const char *az_id_name(const char *id);
/* Resource id segment after "/<key>/" (case-insensitive), e.g.
 * "resourceGroups", "virtualNetworks".  0 or -ENOENT. */
int az_id_part(const char *id, const char *key, char *out, size_t len);
/* Case-insensitive equality of resource ids (ARM ids are case-insensitive). */
int az_id_equal(const char *a, const char *b);

/* ---- planner (azure_plan.c) ---- */

enum az_peer_state {
	AZ_PEER_GONE,                     /* no NIC has the IP, or it is detached */
	AZ_PEER_STOPPED,                  /* its VM exists but does not run */
	AZ_PEER_ALIVE,
};

struct az_peer {
	char ip[64];
	enum az_peer_state state;
};

struct az_plan_input {
	const char *our_ip;
	const char *nic;                  /* our NIC id (FORWARDING target) */
	int ip_forwarding;                /* our NIC's, 1/0/-1 */
	int disable_source_dest_check;
	/* Every table read; the first n_targets are where we route, the rest
	 * were read only to clean up routes of ours. */
	const struct az_route_table *tables;
	size_t n_tables, n_targets;
	const struct prefix_set *desired;
	const struct az_peer *peers;      /* next hops of marked routes not ours */
	size_t n_peers;
	const char *ha_group;
	enum prov_takeover takeover;
	int leader;
	size_t max_routes;                /* 0 = AZ_MAX_ROUTES */
};

/* 1 when a route is ours: marked and pointing at our IP as an appliance. */
int az_route_is_ours(const struct az_route *r, const char *our_ip);
/* How plan entries name a table: its name when it is in resource group
 * rg of subscription sub, "rg/name" in another group, else the id. */
const char *az_table_label(const char *id, const char *sub, const char *rg,
    char *out, size_t len);
/* The inverse: a label (or an id) back to the route table's id. */
int az_table_ref(const char *label, const char *sub, const char *rg, char *out,
    size_t len);
/* Appends the changes (KEEP and CONFLICT included).  Pure. */
int az_plan_compute(const struct az_plan_input *in, struct prov_plan *out);

/* ---- IMDS and managed identity (azure_imds.c) ---- */

struct az_imds {
	char base[512];                   /* scheme://host[:port] */
	int explicit_url;                 /* configured: plain http allowed */
	long timeout_ms;
	char client_id[128];              /* AZURE_CLIENT_ID, "" = system-assigned */
	char token[AZ_TOKEN_LEN];
	uint64_t token_expires;           /* seconds since the epoch, 0 = none */
	uint64_t token_fetched;           /* when it was fetched, same clock */
	unsigned int calls;
};

void az_imds_init(struct az_imds *m, long timeout_ms);
/* GET base + path (with its query) with "Metadata: true".  Retries 429,
 * 5xx, 404, 410 briefly as the IMDS documentation asks. */
int az_imds_get(struct az_imds *m, const char *path, struct buf *out);
int az_imds_instance(struct az_imds *m, struct az_instance *out);
/* The cached token, fetched when there is none, force is set, or it
 * expires within 5 minutes.  The pointer is into m. */
int az_imds_token(struct az_imds *m, int force, const char **token);
void az_imds_wipe(struct az_imds *m);

/* ---- ARM (azure_arm.c) ---- */

struct az_arm {
	char base[512];                   /* https://management.azure.com */
	struct az_imds *imds;
	struct retry_policy policy;
	unsigned int calls;               /* requests sent, polls included */
	unsigned int mutating_calls;      /* PUT/PATCH/POST/DELETE */
	unsigned int max_polls;           /* long-running operation polls */
};

void az_arm_init(struct az_arm *a, struct az_imds *m);

/*
 * One answer to a poll of a long-running operation: the
 * Azure-AsyncOperation status document, the Location URL (202 = not yet,
 * other 2xx = done), or the resource itself (its provisioningState).
 * 429/5xx mean "ask again".  err is filled for FAILED, CANCELED (the
 * operation's error) and ERROR (the answer's).
 */
enum az_poll_kind {
	AZ_POLL_LOCATION,
	AZ_POLL_ASYNC,
	AZ_POLL_RESOURCE,
};
enum az_lro_step {
	AZ_LRO_WAIT,
	AZ_LRO_DONE,
	AZ_LRO_FAILED,
	AZ_LRO_CANCELED,
	AZ_LRO_ERROR,
};
enum az_lro_step az_lro_step(enum az_poll_kind kind, long status, const char *body,
    size_t len, struct az_error *err);
/* 1 when an ARM error code (of an answer or of a Failed operation) asks for
 * the same request again later. */
int az_error_retryable(const char *code);
struct http_response;
/* The answer's wait hint as a Retry-After value: retry-after-ms or
 * x-ms-retry-after-ms (rounded up to seconds, written to buf), else the
 * Retry-After header ("" when none). */
const char *az_retry_after(const struct http_response *resp, char *buf, size_t len);
/*
 * One ARM request to base + path + "?api-version=" + ver (path is a
 * resource id plus suffix).  Retries throttling (429, Retry-After,
 * RetryableErrorDueToAnotherOperation) and 5xx with backoff, fetches a
 * new token once on 401, follows a long-running operation to its end
 * (Azure-AsyncOperation, else Location) for 201/202.  The final body is
 * in *resp (caller frees, may be empty).  Errors carry ARM's code and
 * message in err and prov_last_error(): -ENOENT (404), -EACCES (403),
 * -ESTALE (412, the caller re-reads), -EEXIST (409), -EAGAIN (still
 * throttled), -EBADMSG, -EIO (operation Failed/Canceled, other status).
 */
int az_arm_call(struct az_arm *a, const char *method, const char *path,
    const char *api_version, const char *body, const char *if_match,
    struct buf *resp, struct az_error *err);
/*
 * A URL ARM handed us (operation, nextLink) as one we may send the token
 * to: on our endpoint as it is, or on the public endpoint when ours is an
 * override (the override replaces scheme://host[:port], paths unchanged).
 * 0, or -EBADMSG for any other host.
 */
int az_arm_link(const struct az_arm *a, const char *url, char *out, size_t len);
/* GET of a nextLink (a whole URL, which must be on the ARM endpoint). */
int az_arm_get_link(struct az_arm *a, const char *url, struct buf *resp,
    struct az_error *err);

/* ---- the provider (azure_provider.c reads, azure_apply.c writes) ---- */

extern const struct prov_ops azure_ops;

struct az_ctx {
	struct az_imds imds;
	struct az_arm arm;
	struct az_instance inst;
	char vm[AZ_ID_LEN];
	char nic[AZ_ID_LEN];
	char subnet[AZ_ID_LEN];
	char vnet[AZ_ID_LEN];
	char private_ip[64];
	struct az_nic nic_cache;          /* read by open(), used by the first plan */
	int nic_cached;
	/* The tables of the last plan (apply takes etags from them). */
	struct az_route_table *tables;
	size_t n_tables;
};

/* GETs one resource (path = its id) into out.  -ENOENT when absent. */
int az_get(struct az_ctx *ctx, const char *id, const char *api, struct buf *out);
int az_read_nic(struct az_ctx *ctx, const char *id, struct az_nic *out);
int az_read_table(struct az_ctx *ctx, const char *id, struct az_route_table *out);
void az_tables_free(struct az_route_table *v, size_t n);
int az_apply(void *ctx, const struct prov_options *opts, const struct prov_plan *plan,
    struct json_object *state);
int az_teardown(void *ctx, const struct prov_options *opts, struct json_object *state,
    int dry_run, struct prov_plan *out);

#endif
