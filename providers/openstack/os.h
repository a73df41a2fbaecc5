/*
 * The OpenStack provider's internals: clouds.yaml and OS_* credentials
 * (os_clouds.c, libyaml), the Keystone v3 client with the service catalog
 * (os_keystone.c), the Neutron client and its JSON model (os_neutron.c), the
 * metadata client (os_meta.c) and the pure planner (os_plan.c).  Only
 * openstack_ops leaves the provider.
 *
 * Ownership: extra routes and allowed address pairs carry no mark, so ours
 * are exactly those the state records ({"routes": [{router, destination,
 * nexthop}], "pairs": [{ip_address, mac_address}]}), recorded before the call
 * that makes them.
 */
#ifndef PROV_OPENSTACK_H
#define PROV_OPENSTACK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>

#include "common/prefix.h"
#include "common/util.h"
#include "providers/provider.h"

/* ---- credentials: clouds.yaml, secure.yaml, OS_* (os_clouds.c) ---- */

enum os_auth_type {
	OS_AUTH_PASSWORD,
	OS_AUTH_APPCRED,
};

enum os_field {
	OSF_AUTH_URL, OSF_USERNAME, OSF_USER_ID, OSF_PASSWORD,
	OSF_USER_DOMAIN_NAME, OSF_USER_DOMAIN_ID,
	OSF_PROJECT_NAME, OSF_PROJECT_ID, OSF_PROJECT_DOMAIN_NAME, OSF_PROJECT_DOMAIN_ID,
	OSF_DOMAIN_NAME, OSF_DOMAIN_ID,
	OSF_APPCRED_ID, OSF_APPCRED_NAME, OSF_APPCRED_SECRET,
	OSF_AUTH_TYPE, OSF_REGION, OSF_INTERFACE, OSF_CACERT,
	OSF_COUNT,
};

/* One cloud's settings; every string heap-allocated or NULL. */
struct os_cloud {
	char *name;                       /* the cloud's name, or "envvars" */
	char *source;                     /* file it came from, or "environment" */
	char *f[OSF_COUNT];
	int verify;                       /* verify: false is refused */
	enum os_auth_type type;
};

/* Whether a field holds a secret (wiped, never printed). */
int os_field_secret(enum os_field f);
const char *os_field_name(enum os_field f);

/*
 * Parses one clouds.yaml (or secure.yaml) text and merges the cloud named
 * `cloud` into out (values there replace those already set).  cloud NULL:
 * the file must hold exactly one cloud.  *found tells whether the cloud was
 * in the file.  0, or -EINVAL with "file:line:col: reason" in
 * prov_last_error().
 */
int os_clouds_parse(const char *text, size_t len, const char *file, const char *cloud,
    struct os_cloud *out, int *found);
/*
 * As the OpenStack tools do: OS_CLIENT_CONFIG_FILE, else the first of
 * ./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml
 * (.yml too); secure.yaml (OS_CLIENT_SECURE_FILE or the same directories)
 * merged over it; OS_CLOUD names the cloud; without a file entry, OS_* form
 * the "envvars" cloud; OS_* variables override what the file says (as the
 * openstack command-line options they stand for do).  Then validates.
 */
int os_clouds_load(struct os_cloud *out);
/* Chooses the auth type and checks that what it needs is there. */
int os_cloud_finish(struct os_cloud *c);
void os_cloud_free(struct os_cloud *c);

/* ---- Keystone v3 (os_keystone.c) ---- */

struct os_endpoint {
	char *url;
	char *interface;
	char *region;
};

struct os_token {
	char *value;                      /* X-Subject-Token (secret) */
	time_t expires_at;
	time_t issued_at;
	char *project_id;
	char *user_id;
};

/* "https://h:5000/v3" + CLOUDROUTE_OPENSTACK_AUTH_URL -> the tokens URL. */
int os_keystone_tokens_url(const char *auth_url, const char *override,
    char *out, size_t len);
/* The JSON body of POST /v3/auth/tokens (secret: wipe it).  0 or -errno. */
int os_keystone_auth_body(const struct os_cloud *c, struct buf *out);
/*
 * Parses the token response body: expires_at, issued_at, and the endpoint
 * of service type `type` with the interface and region wanted (region NULL:
 * the first).  0 or -EBADMSG / -ENOENT (no such endpoint: explained).
 */
int os_keystone_parse(const char *body, size_t len, const char *type,
    const char *interface, const char *region, struct os_token *tok,
    struct os_endpoint *ep);
/* "2026-12-01T20:17:45.000000Z" -> time_t.  0 or -EINVAL. */
int os_parse_time(const char *s, time_t *out);
/* Needs renewal: within min(300 s, a quarter of its lifetime) of expiry. */
int os_token_stale(const struct os_token *t, time_t now);
void os_token_wipe(struct os_token *t);
void os_endpoint_free(struct os_endpoint *e);

/* ---- Neutron model (os_json.c) ---- */

struct os_pair {
	struct prefix ip;                 /* address or CIDR */
	char text[64];                    /* ip_address as Neutron spelled it */
	char mac[32];                     /* "" when absent */
};

struct os_fixed_ip {
	char subnet[64];
	struct prefix ip;                 /* host prefix */
};

struct os_port {
	char id[64];
	char mac[32];
	char network[64];
	char device_owner[64];
	char device_id[64];
	struct os_fixed_ip *ips;
	size_t n_ips;
	struct os_pair *pairs;
	size_t n_pairs;
	int port_security;                /* 1, 0, -1 unknown */
	int n_security_groups;
	long revision;                    /* -1 unknown */
};

struct os_route {
	struct prefix dst;
	struct prefix nexthop;            /* host prefix */
};

struct os_router {
	char id[64];
	char name[128];
	struct os_route *routes;
	size_t n_routes;
	long revision;
};

struct os_neutron_error {
	long status;
	char type[128];
	char message[512];
};

/* {"ports": [...]} (list) or {"port": {...}} (one).  0 or -EBADMSG. */
int os_json_ports(const char *body, size_t len, struct os_port **out, size_t *n);
/* One page appended to (*v, *n) (free them whatever the result); next gets
 * the query of the "next" link of ports_links, or "". */
int os_json_ports_page(const char *body, size_t len, struct os_port **v, size_t *n,
    char *next, size_t nextlen);
int os_json_port(const char *body, size_t len, struct os_port *out);
int os_json_router(const char *body, size_t len, struct os_router *out);
/* {"NeutronError": {"type", "message"}} (or a webob {"message"} body). */
int os_json_error(const char *body, size_t len, struct os_neutron_error *out);
void os_port_free(struct os_port *p);
void os_ports_free(struct os_port *v, size_t n);
void os_router_free(struct os_router *r);
/* {"uuid": ...} of meta_data.json (and availability_zone, project_id). */
int os_json_meta(const char *body, size_t len, char *uuid, size_t ulen, char *az,
    size_t azlen);

/* ---- planner (os_plan.c) ---- */

enum os_act {
	OS_KEEP,              /* there, ours */
	OS_KEEP_FOREIGN,      /* there, pointing at us, not ours */
	OS_ADD,
	OS_REMOVE,
	OS_CONFLICT,          /* our prefix, another nexthop */
	OS_DROP,              /* recorded as ours, gone: forget it (no call) */
	OS_SKIP,              /* not routable here (family) */
};

struct os_owned_route {
	char router[64];
	struct os_route r;
};

struct os_plan_item {
	enum os_act act;
	int pair;                         /* 1: address pair, 0: extra route */
	int portsec;                      /* 1: port_security_enabled (ADD = false) */
	char router[64];                  /* extra routes */
	struct prefix dst;
	struct prefix nexthop;            /* route's nexthop, or the conflict's */
	char mac[32];                     /* pairs */
};

struct os_plan {
	struct os_plan_item *v;
	size_t n, cap;
};

struct os_plan_input {
	const struct prefix *our_ip;      /* our fixed IP (host prefix) */
	const struct prefix *our_ip6;     /* an IPv6 one on the same port, or NULL */
	const struct os_router *routers;  /* target routers first */
	size_t n_routers, n_targets;
	const struct prefix_set *desired;
	const struct os_owned_route *owned;
	size_t n_owned;
	const struct os_port *port;       /* NULL: no address pair planning */
	int want_pairs;                   /* 0: desired prefixes get no pairs */
	int want_portsec_off;             /* config: port_security_enabled false */
	int portsec_recorded;             /* state: we turned it off */
	const struct os_pair *owned_pairs;
	size_t n_owned_pairs;
};

int os_plan_compute(const struct os_plan_input *in, struct os_plan *out);
int os_plan_add_item(struct os_plan *p, const struct os_plan_item *it);
void os_plan_free(struct os_plan *p);
/* 1 when the pair is on the port (an absent MAC means the port's own). */
int os_pair_present(const struct os_port *port, const struct os_pair *p);
/*
 * The port's pair list with `add` appended (those not already there) and
 * `del` removed, as the JSON array for {"port": {"allowed_address_pairs"}}.
 */
struct json_object *os_pairs_merge(const struct os_port *port, const struct os_pair *add,
    size_t n_add, const struct os_pair *del, size_t n_del);

/* ---- API clients (os_api.c) ---- */

struct os_client {
	struct os_cloud cloud;
	char tokens_url[1024];
	struct os_token tok;
	struct os_endpoint ep;            /* Neutron, from the catalog */
	char neutron[1024];               /* base, ending in /v2.0 */
	char meta[512];                   /* metadata scheme://host[:port] */
	int meta_explicit;
	const char *ca_file;              /* the cloud's cacert (in cloud), or NULL */
	unsigned int calls, mutating_calls, auths;
};

/* Credentials, the tokens URL (CLOUDROUTE_OPENSTACK_AUTH_URL), the metadata
 * base (CLOUDROUTE_OPENSTACK_METADATA_URL).  No request yet. */
int os_client_init(struct os_client *c);
void os_client_wipe(struct os_client *c);
/* POST /v3/auth/tokens; fills tok, ep and neutron. */
int os_client_auth(struct os_client *c);
/*
 * One Neutron request (path below /v2.0, e.g. "/ports?device_id=X"), body
 * JSON or NULL, if_match >= 0 adds "If-Match: revision_number=N".  Renews
 * the token when stale and once on 401; retries 429/503/5xx and transport
 * errors (Retry-After honoured).  2xx: 0 with the body in out.  Else
 * -EINVAL (400), -EACCES (403), -ENOENT (404), -EBUSY (409), -ESTALE (412),
 * -EAGAIN (still throttled), -EIO; err gets NeutronError's type and message.
 */
int os_neutron(struct os_client *c, const char *method, const char *path,
    const char *body, long if_match, struct buf *out, struct os_neutron_error *err);
/* GET the metadata path ("/openstack/latest/meta_data.json"). */
int os_meta_get(struct os_client *c, const char *path, long timeout_ms, struct buf *out);
/* The metadata base alone (detect). */
void os_meta_base(char *out, size_t len, int *explicit_url);

/* ---- the provider (os_provider.c reads, os_apply.c writes, os_ops.c glue) ---- */

enum os_tables { OS_TABLES_AUTO, OS_TABLES_NETWORK, OS_TABLES_LIST };

struct os_opts {
	int pairs;                        /* manage allowed_address_pairs */
	int portsec_off;                  /* port_security_enabled false instead */
	enum os_tables tables;
	const char *const *routers;       /* OS_TABLES_LIST */
	size_t n_routers;
	const struct prefix_set *desired;
	int (*checkpoint)(void *arg);     /* NULL: nothing to call */
	void *checkpoint_arg;
};

struct os_ctx {
	struct os_client cl;
	char uuid[64];
	char az[64];
	char port[64];
	char mac[32];
	char network[64];
	char subnet[64];
	struct prefix ip;                 /* our fixed IP (IPv4 if any) */
	struct prefix ip6;                /* family 0: none (else IPv6 routes use it) */
	char ip_text[64];
	struct os_port seen;              /* our port as the last plan read it */
	int have_seen;                    /* apply's first PUT uses its revision */
};
/* Our port: the one the plan read (once), else a fresh GET. */
int os_port_now(struct os_ctx *ctx, struct os_port *out);

int os_ctx_open(struct os_ctx **out);
void os_ctx_close(struct os_ctx *ctx);
/* 1 when the OpenStack metadata service answers within timeout_ms. */
int os_detect_meta(long timeout_ms);
/* Reads the cloud and plans; forgets (in state) records whose object is gone. */
int os_ctx_plan(struct os_ctx *ctx, const struct os_opts *o, struct json_object *state,
    struct os_plan *out);
int os_ctx_apply(struct os_ctx *ctx, const struct os_opts *o, const struct os_plan *p,
    struct json_object *state);
int os_ctx_teardown(struct os_ctx *ctx, const struct os_opts *o, struct json_object *state,
    int dry_run, struct os_plan *out);
int os_get_port(struct os_ctx *ctx, struct os_port *out);
int os_get_router(struct os_ctx *ctx, const char *id, struct os_router *out);

/* State records (os_apply.c). */
int os_state_routes(struct json_object *state, struct os_owned_route **out, size_t *n);
int os_state_pairs(struct json_object *state, const char *port, struct os_pair **out,
    size_t *n);
void os_state_route(struct json_object *state, const char *router, const struct os_route *r,
    int add);
void os_state_pair(struct json_object *state, const char *port, const struct os_pair *p,
    int add);

#endif
