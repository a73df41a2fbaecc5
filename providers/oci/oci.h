/*
 * The OCI provider's internals: request signing (draft-cavage HTTP
 * Signatures as OCI profiles them), the IMDS v2 client, credentials
 * (instance principals through X.509 federation, or an API key from
 * ~/.oci/config), the Core Services API client with its JSON parsers, and
 * the route-rule planner (a pure function over a route table's rule list).
 * Only oci_ops leaves the provider.
 */
#ifndef PROV_OCI_H
#define PROV_OCI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/prefix.h"
#include "common/util.h"
#include "providers/provider.h"

#define OCI_CORE_VERSION   "20160918"
#define OCI_MARK           "cloudroute"       /* our rules' description prefix */
#define OCI_OCID_LEN       256

/* ---- signing (oci_sign.c) ---- */

struct oci_sign_input {
	const char *method;          /* "GET", "PUT", ... */
	const char *target;          /* path and query exactly as sent */
	const char *host;            /* Host header value */
	const char *date;            /* Date header value (oci_http_date) */
	/* PUT/POST/PATCH: the body headers are signed too. */
	const char *content_type;
	const void *body;
	size_t body_len;
	/* The federation endpoint: host is not signed (as the SDKs sign it). */
	int no_host;
};

struct oci_signature {
	char content_sha256[48];     /* base64 SHA-256 of the body ("" without) */
	char content_length[24];
	struct buf signing_string;
	struct buf authorization;    /* value of the Authorization header */
};

/* 1 when OCI signs the body headers for this method (PUT, POST, PATCH). */
int oci_method_has_body(const char *method);
/* RFC 7231 IMF-fixdate, locale independent: "Thu, 05 Jan 2014 21:31:40 GMT". */
void oci_http_date(time_t t, char out[32]);
/*
 * Builds the signing string ("date (request-target) host", plus
 * "content-length content-type x-content-sha256" for body methods), signs
 * it with RSA-SHA256 (PKCS#1 v1.5) and formats the Authorization header.
 * 0 or -errno; out is freed with oci_signature_free in every case.
 */
int oci_sign(const struct oci_sign_input *in, const char *key_id, EVP_PKEY *key,
    struct oci_signature *out);
void oci_signature_free(struct oci_signature *out);

/* ---- tokens and certificates (oci_sign.c) ---- */

/* The "exp" claim of a JWT (not verified: the server checks it).  0 or -EINVAL. */
int oci_jwt_exp(const char *jwt, time_t *exp);
/* The tenancy OCID from a subject attribute "opc-tenant:<ocid>".  0 or -ENOENT. */
int oci_cert_tenancy(X509 *cert, char *out, size_t len);
/* SHA-1 of the DER certificate, lowercase hex pairs joined by ':'. */
int oci_cert_fingerprint(X509 *cert, char out[60]);
/* Parses one PEM certificate.  NULL on error. */
X509 *oci_pem_cert(const char *pem, size_t len);
/* base64 of the DER encoding (PEM body without armour and newlines). */
int oci_cert_b64(X509 *cert, struct buf *out);
int oci_pubkey_b64(EVP_PKEY *key, struct buf *out);
/* A fresh 2048-bit RSA key.  NULL on error. */
EVP_PKEY *oci_rsa_generate(void);
/* A PEM private key (RSA only).  NULL on error. */
EVP_PKEY *oci_pem_key(const char *pem, size_t len, const char *passphrase);

/* ---- IMDS v2 (oci_auth.c) ---- */

struct oci_imds {
	char base[512];              /* scheme://host[:port] */
	int explicit_url;
	long timeout_ms;
	int probe;                   /* detection: one attempt, no retries */
};

void oci_imds_init(struct oci_imds *m, long timeout_ms);
/* GET /opc/v2/<path> with Authorization: Bearer Oracle, into out. */
int oci_imds_get(struct oci_imds *m, const char *path, struct buf *out);

/* ---- credentials (oci_auth.c) ---- */

enum oci_cred_kind {
	OCI_CREDS_INSTANCE,          /* instance principals (X.509 federation) */
	OCI_CREDS_API_KEY,           /* ~/.oci/config */
};

struct oci_creds {
	enum oci_cred_kind kind;
	EVP_PKEY *key;               /* session key, or the API key */
	struct buf key_id;           /* "ST$<token>" or tenancy/user/fingerprint */
	time_t expiry;               /* security token "exp"; 0 = none */
	char tenancy[OCI_OCID_LEN];
	char cert_fp[60];            /* instance certificate the token came from */
	time_t cert_checked;         /* last look at identity/cert.pem */
	char auth_url[512];          /* federation endpoint base */
	char region[64];             /* from ~/.oci/config (API key) */
	struct oci_imds *imds;
	unsigned int federations;    /* POST /v1/x509 sent */
};

/*
 * Loads credentials: OCI_CONFIG_FILE (or OCI_CLI_PROFILE) set -> API key;
 * else instance principals; when the instance has no identity certificate
 * and ~/.oci/config exists, the API key.  auth_url is the federation base
 * (CLOUDROUTE_OCI_AUTH_URL or https://auth.<region>.<realm domain>).
 */
int oci_creds_load(struct oci_creds *c, struct oci_imds *imds, const char *auth_url);
/* Refreshes a security token near expiry (force: now).  0 or -errno. */
int oci_creds_refresh(struct oci_creds *c, int force);
void oci_creds_free(struct oci_creds *c);

/* The ~/.oci/config profile (oci_config.c).  Strings empty when absent. */
struct oci_config_profile {
	char user[OCI_OCID_LEN];
	char tenancy[OCI_OCID_LEN];
	char fingerprint[128];
	char key_file[1024];
	char region[64];
	char pass_phrase[256];
};
/* Parses INI text; "DEFAULT" values are inherited by other profiles.
 * 0, -ENOENT (no such profile) or -EINVAL (with file:line in the error). */
int oci_config_parse(const char *text, const char *path, const char *profile,
    struct oci_config_profile *out);

/* ---- Core Services API (oci_api.c) ---- */

struct oci_api {
	char url[512];               /* e.g. https://iaas.us-ashburn-1.oraclecloud.com */
	char host[300];              /* Host header and signed host */
	const char *prefix;          /* "/20160918" (Core), "" (federation) */
	int no_host;                 /* federation: host not signed */
	struct oci_creds *creds;     /* NULL: the fixed key below */
	const char *fixed_key_id;
	EVP_PKEY *fixed_key;
	unsigned int calls;          /* requests sent (all attempts) */
	unsigned int mutating_calls;
};

struct oci_result {
	long status;
	struct buf body;
	char etag[256];
	char request_id[160];
	char next_page[1024];
};

void oci_result_init(struct oci_result *r);
void oci_result_free(struct oci_result *r);
/*
 * One API call (path below /20160918, with its query) with retries: 429 and
 * 5xx back off (Retry-After honoured), 401 refreshes the security token
 * once.  body may be NULL; if_match adds the if-match header.  0 on 2xx;
 * -ESTALE on 412 (etag changed), -ENOENT on 404 (explained: a missing IAM
 * policy shows as NotAuthorizedOrNotFound), -EACCES on 401/403, -EAGAIN
 * when still throttled, -EIO/-EBADMSG otherwise; the error text names the
 * code, message and opc-request-id.
 */
int oci_call(struct oci_api *api, const char *method, const char *path,
    const char *body, const char *if_match, struct oci_result *res);
/* The endpoint base: $env, else https://<service>.<region>.<realm domain>. */
int oci_endpoint(const char *env, const char *service, const char *region,
    const char *realm_domain, char *out, size_t len);

/* ---- JSON models (oci_json.c) ---- */

struct oci_instance_md {
	char id[OCI_OCID_LEN];
	char compartment[OCI_OCID_LEN];
	char region[64];             /* canonical, e.g. us-ashburn-1 */
	char realm_domain[64];       /* e.g. oraclecloud.com */
	char ad[128];                /* availabilityDomain, "" when absent */
	char vnic[OCI_OCID_LEN];     /* primary VNIC (from /opc/v2/vnics/) */
	char private_ip[64];
};

struct oci_vnic {
	char id[OCI_OCID_LEN];
	char subnet[OCI_OCID_LEN];
	char private_ip[64];
	char public_ip[64];
	char state[32];              /* lifecycleState */
	int skip_sdc;                /* skipSourceDestCheck: 1, 0, -1 unknown */
};

struct oci_subnet {
	char id[OCI_OCID_LEN];
	char vcn[OCI_OCID_LEN];
	char compartment[OCI_OCID_LEN];
	char route_table[OCI_OCID_LEN];
};

struct oci_private_ip {
	char id[OCI_OCID_LEN];
	char ip[64];
	char vnic[OCI_OCID_LEN];
	int primary;
};

/* Each parser: 0 or -EBADMSG with the reason in prov_last_error(). */
int oci_json_instance(const char *s, struct oci_instance_md *out);
int oci_json_md_vnics(const char *s, struct oci_instance_md *out);
int oci_json_vnic(const char *s, struct oci_vnic *out);
int oci_json_subnet(const char *s, struct oci_subnet *out);
/* Appends a copy of id to the list unless it is there.  0 or -ENOMEM. */
int oci_ids_add(char ***v, size_t *n, const char *id);
/* ListSubnets page: route table ids appended to *v (deduplicated). */
int oci_json_subnet_tables(const char *s, char ***v, size_t *n);
/* ListPrivateIps: the entry whose ipAddress is ip (else the primary). */
int oci_json_private_ip(const char *s, const char *ip, struct oci_private_ip *out);
/* GetPrivateIp: one PrivateIp. */
int oci_json_private_ip_one(const char *s, struct oci_private_ip *out);
/* {"token": "..."} into out (wiped by the caller). */
int oci_json_token(const char *s, struct buf *out);
/* The error envelope {"code","message"}; empty strings when absent. */
void oci_json_error(const char *s, char *code, size_t clen, char *msg, size_t mlen);

/* ---- route rules and the planner (oci_plan.c) ---- */

struct oci_rule {
	struct json_object *obj;     /* the rule as read (RouteRule members only) */
	int has_dst;                 /* a CIDR destination we could parse */
	struct prefix dst;
	const char *target;          /* networkEntityId, or "" */
	int ours;                    /* description starts with OCI_MARK */
	char group[128];             /* the ha_group our description names */
};

struct oci_table {
	char id[OCI_OCID_LEN];
	char etag[256];
	struct json_object *root;    /* the whole RouteTable document */
	struct oci_rule *rules;
	size_t n;
};

/* Reads one rule object (borrowed into r->obj). */
void oci_rule_parse(struct json_object *o, struct oci_rule *r);
/* Parses a RouteTable (GetRouteTable body).  0 or -EBADMSG. */
int oci_table_parse(const char *json, const char *etag, struct oci_table *out);
void oci_table_free(struct oci_table *t);

enum oci_target_state {
	OCI_TARGET_UNKNOWN,          /* lookup failed: treated as alive */
	OCI_TARGET_GONE,             /* the private IP no longer exists */
	OCI_TARGET_DEAD,             /* exists, its VNIC is not AVAILABLE */
	OCI_TARGET_ALIVE,
};

/* One decision of the planner (strings point into the input or static). */
struct oci_change {
	enum prov_action action;
	struct prefix dst;
	char target[OCI_OCID_LEN];
	char note[200];
};

struct oci_plan_input {
	const char *me;              /* our private IP OCID */
	const struct prefix_set *desired;   /* NULL or empty: remove ours */
	const char *ha_group;
	enum prov_takeover takeover;
	int leader;                  /* fleet leader: group routes taken even alive */
	/* Liveness of another private IP (only asked for privateip targets). */
	enum oci_target_state (*target_state)(void *arg, const char *ocid);
	void *arg;
};

struct oci_table_plan {
	struct oci_change *v;
	size_t n, cap;
	struct json_object *rules;   /* the new whole list (owned), or NULL */
	int changed;                 /* rules differ from what was read */
};

/*
 * Computes the new rule list of one table: every rule that is not ours
 * kept as read, in order; ours added, kept, replaced (takeover) or removed.
 * Pure apart from in->target_state.  0 or -ENOMEM.
 */
int oci_plan_table(const struct oci_plan_input *in, const struct oci_table *t,
    struct oci_table_plan *out);
void oci_table_plan_free(struct oci_table_plan *p);
/* Our rule's description for a group: "cloudroute ha_group=<g>". */
void oci_rule_description(const char *ha_group, char *out, size_t len);
/* {"routeRules":[...]} for UpdateRouteTable; caller frees the string. */
char *oci_update_body(struct json_object *rules);

#endif
