/*
 * The OpenStack provider's reading side: detect (metadata probe), open
 * (meta_data.json uuid -> our Neutron port by device_id, matched by the MAC
 * of the default-route interface when the instance has several ports; its
 * network, subnet and fixed IP), the routers we route in, and plan.
 *
 * Routers: "auto" = the routers with a router-interface port holding a
 * fixed IP on *our subnet* (a network may have several routers); "network"
 * = every router with an interface on our network; or the configured ids.
 * Routers recorded in state but no longer targets are read too, so that
 * our routes there are removed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>

#include "os.h"
#include "providers/http.h"

#define META_PATH "/openstack/latest/meta_data.json"
#define MAX_PAGES 100

/* Router interface ports: legacy, DVR, HA (one filter value per query). */
static const char *const router_owners[] = {
	"network:router_interface",
	"network:router_interface_distributed",
	"network:ha_router_replicated_interface",
};

int
os_detect_meta(long timeout_ms)
{
	struct os_client c;
	char uuid[64];
	struct buf b;
	int r;

	memset(&c, 0, sizeof(c));
	os_meta_base(c.meta, sizeof(c.meta), &c.meta_explicit);
	buf_init(&b, 1 << 20);
	r = os_meta_get(&c, META_PATH, timeout_ms, &b) == 0 &&
	    os_json_meta(b.data, b.len, uuid, sizeof(uuid), NULL, 0) == 0;
	buf_free(&b);
	return r;
}

static int
if_mac(const char *ifname, char *mac, size_t len)
{
	char path[128];
	struct buf b;
	int r = -ENOENT;

	if (strchr(ifname, '/') != NULL || ifname[0] == '.')
		return -EINVAL;
	snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
	buf_init(&b, 256);
	if (file_read(path, 256, &b) == 0) {
		b.data[strcspn(b.data, "\n")] = '\0';
		cr_strlcpy(mac, b.data, len);
		r = 0;
	}
	buf_free(&b);
	return r;
}

/* The MAC of the interface holding the IPv4 default route. */
static int
default_mac(char *mac, size_t len)
{
	char line[256], ifname[64];
	unsigned long dst;
	FILE *f;

	if ((f = fopen("/proc/net/route", "re")) == NULL)
		return -errno;
	ifname[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%63s %lx", ifname, &dst) == 2 && dst == 0)
			break;
		else
			ifname[0] = '\0';
	fclose(f);
	return ifname[0] != '\0' ? if_mac(ifname, mac, len) : -ENOENT;
}

/* The only port whose MAC is on one of this host's interfaces, or NULL. */
static const struct os_port *
only_local(const struct os_port *v, size_t n)
{
	const struct os_port *hit = NULL;
	struct dirent *e;
	char mac[64];
	size_t i;
	DIR *d;

	if ((d = opendir("/sys/class/net")) == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || if_mac(e->d_name, mac, sizeof(mac)) < 0)
			continue;
		for (i = 0; i < n; i++)
			if (strcasecmp(v[i].mac, mac) == 0) {
				if (hit != NULL && hit != &v[i]) {
					closedir(d);
					return NULL;
				}
				hit = &v[i];
			}
	}
	closedir(d);
	return hit;
}

/* Our port: the only one; else the default-route interface's; else the only
 * one whose MAC is here. */
static const struct os_port *
choose_port(const struct os_port *v, size_t n, const char *uuid)
{
	const struct os_port *p;
	char mac[64] = "";
	size_t i;

	if (n == 1)
		return &v[0];
	if (n == 0) {
		prov_set_error("no Neutron port has device_id %s (is the instance in the "
		    "credentials' project?)", uuid);
		return NULL;
	}
	if (default_mac(mac, sizeof(mac)) == 0)
		for (i = 0; i < n; i++)
			if (strcasecmp(v[i].mac, mac) == 0)
				return &v[i];
	if ((p = only_local(v, n)) != NULL)
		return p;
	prov_set_error("instance %s has %zu ports and none has the MAC of the default-route "
	    "interface (%s)", uuid, n, mac[0] ? mac : "none");
	return NULL;
}

/* GET /ports?QUERY, following Neutron's "next" links (the server may page). */
static int
list_ports(struct os_ctx *ctx, const char *query, struct os_port **v, size_t *n)
{
	char path[2048], next[1536];
	struct buf b;
	int r = 0, page;

	*v = NULL;
	*n = 0;
	buf_init(&b, HTTP_MAX_RESPONSE);
	snprintf(path, sizeof(path), "/ports?%s", query);
	for (page = 0; page < MAX_PAGES; page++) {
		if ((r = os_neutron(&ctx->cl, "GET", path, NULL, -1, &b, NULL)) < 0 ||
		    (r = os_json_ports_page(b.data, b.len, v, n, next, sizeof(next))) < 0 ||
		    next[0] == '\0')
			break;
		if (strcmp(path + 7, next) == 0) {
			prov_set_error("Neutron port list: the next page is this page");
			r = -EBADMSG;
			break;
		}
		snprintf(path, sizeof(path), "/ports?%s", next);
	}
	if (r == 0 && page == MAX_PAGES) {
		prov_set_error("Neutron port list: more than %d pages", MAX_PAGES);
		r = -E2BIG;
	}
	if (r < 0) {
		os_ports_free(*v, *n);
		*v = NULL;
		*n = 0;
	}
	buf_free(&b);
	return r;
}

static int
identify_port(struct os_ctx *ctx)
{
	struct os_port *v = NULL;
	const struct os_port *p;
	char path[256];
	size_t n = 0, i, m;
	int r;

	snprintf(path, sizeof(path), "device_id=%s", ctx->uuid);
	if ((r = list_ports(ctx, path, &v, &n)) < 0)
		goto out;
	/* Only ours, whatever the server did with the filter. */
	for (i = 0, m = 0; i < n; i++) {
		if (strcmp(v[i].device_id, ctx->uuid) != 0) {
			os_port_free(&v[i]);
			continue;
		}
		v[m++] = v[i];
	}
	n = m;
	if ((p = choose_port(v, n, ctx->uuid)) == NULL) {
		r = -ENOENT;
		goto out;
	}
	/* The first IPv4 fixed IP, else the first one. */
	for (i = 0; i < p->n_ips && p->ips[i].ip.family != AF_INET; i++)
		;
	if (p->n_ips == 0) {
		prov_set_error("Neutron port %s has no fixed IP", p->id);
		r = -ENOENT;
		goto out;
	}
	if (i == p->n_ips)
		i = 0;
	cr_strlcpy(ctx->port, p->id, sizeof(ctx->port));
	cr_strlcpy(ctx->mac, p->mac, sizeof(ctx->mac));
	cr_strlcpy(ctx->network, p->network, sizeof(ctx->network));
	cr_strlcpy(ctx->subnet, p->ips[i].subnet, sizeof(ctx->subnet));
	ctx->ip = p->ips[i].ip;
	for (i = 0; i < p->n_ips; i++)
		if (p->ips[i].ip.family == AF_INET6) {
			ctx->ip6 = p->ips[i].ip;
			break;
		}
	prefix_addr_fmt(&ctx->ip, ctx->ip_text, sizeof(ctx->ip_text));
out:
	os_ports_free(v, n);
	return r;
}

int
os_ctx_open(struct os_ctx **out)
{
	struct os_ctx *ctx;
	struct buf b;
	int r;

	*out = NULL;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return -ENOMEM;
	buf_init(&b, 1 << 20);
	if ((r = os_client_init(&ctx->cl)) < 0)
		goto out;
	if ((r = os_meta_get(&ctx->cl, META_PATH, 5000, &b)) < 0 ||
	    (r = os_json_meta(b.data, b.len, ctx->uuid, sizeof(ctx->uuid), ctx->az,
	    sizeof(ctx->az))) < 0)
		goto out;
	if ((r = os_client_auth(&ctx->cl)) < 0 || (r = identify_port(ctx)) < 0)
		goto out;
	log_debug("openstack: instance %s port %s (%s) ip %s subnet %s network %s, Neutron %s",
	    ctx->uuid, ctx->port, ctx->mac, ctx->ip_text, ctx->subnet, ctx->network,
	    ctx->cl.neutron);
	*out = ctx;
out:
	buf_free(&b);
	if (r < 0)
		os_ctx_close(ctx);
	return r;
}

void
os_ctx_close(struct os_ctx *ctx)
{
	if (ctx == NULL)
		return;
	os_client_wipe(&ctx->cl);
	os_port_free(&ctx->seen);
	free(ctx);
}

int
os_port_now(struct os_ctx *ctx, struct os_port *out)
{
	if (!ctx->have_seen)
		return os_get_port(ctx, out);
	*out = ctx->seen;                  /* a 412 makes the caller GET it afresh */
	memset(&ctx->seen, 0, sizeof(ctx->seen));
	ctx->have_seen = 0;
	return 0;
}

int
os_get_port(struct os_ctx *ctx, struct os_port *out)
{
	char path[128];
	struct buf b;
	int r;

	buf_init(&b, HTTP_MAX_RESPONSE);
	snprintf(path, sizeof(path), "/ports/%s", ctx->port);
	if ((r = os_neutron(&ctx->cl, "GET", path, NULL, -1, &b, NULL)) == 0)
		r = os_json_port(b.data, b.len, out);
	buf_free(&b);
	return r;
}

int
os_get_router(struct os_ctx *ctx, const char *id, struct os_router *out)
{
	char path[160];
	struct buf b;
	int r;

	memset(out, 0, sizeof(*out));
	buf_init(&b, HTTP_MAX_RESPONSE);
	snprintf(path, sizeof(path), "/routers/%s", id);
	if ((r = os_neutron(&ctx->cl, "GET", path, NULL, -1, &b, NULL)) == 0)
		r = os_json_router(b.data, b.len, out);
	buf_free(&b);
	return r;
}

struct idlist {
	char (*v)[64];
	size_t n, cap;
};

static int
idlist_has(const struct idlist *l, const char *id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], id) == 0)
			return 1;
	return 0;
}

static int
idlist_add(struct idlist *l, const char *id)
{
	void *nv;

	if (idlist_has(l, id))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		if ((nv = realloc(l->v, l->cap * sizeof(*l->v))) == NULL)
			return -ENOMEM;
		l->v = nv;
	}
	cr_strlcpy(l->v[l->n++], id, sizeof(l->v[0]));
	return 0;
}

/* Router ids with an interface on our network (auto: on our subnet). */
static int
network_routers(struct os_ctx *ctx, int subnet_only, struct idlist *out)
{
	struct idlist seen = { 0 };
	struct os_port *v;
	char path[512];
	size_t n, i, j, k;
	int r = 0;

	/* Neutron takes a nexthop only on a subnet attached to the router, so
	 * "network" still needs an interface on our subnet; others are named.
	 * "auto" stops at the first kind of interface that gives a router. */
	for (k = 0; k < ARRAY_SIZE(router_owners) && r == 0; k++) {
		if (subnet_only && out->n > 0)
			break;
		snprintf(path, sizeof(path), "network_id=%s&device_owner=%s", ctx->network,
		    router_owners[k]);
		if ((r = list_ports(ctx, path, &v, &n)) < 0)
			break;
		for (i = 0; i < n && r == 0; i++) {
			if (v[i].device_id[0] == '\0' ||
			    strcmp(v[i].device_owner, router_owners[k]) != 0)
				continue;
			r = idlist_add(&seen, v[i].device_id);
			for (j = 0; j < v[i].n_ips && r == 0; j++)
				if (strcmp(v[i].ips[j].subnet, ctx->subnet) == 0)
					r = idlist_add(out, v[i].device_id);
		}
		os_ports_free(v, n);
	}
	for (i = 0; i < seen.n && !subnet_only; i++)
		if (!idlist_has(out, seen.v[i]))
			log_warnx("openstack: router %s has no interface on our subnet %s: it "
			    "cannot route to %s (Neutron refuses such a nexthop); skipped",
			    seen.v[i], ctx->subnet, ctx->ip_text);
	free(seen.v);
	if (r == 0 && out->n == 0) {
		prov_set_error("no router has an interface on %s %s: extra routes need one",
		    subnet_only ? "our subnet" : "our network",
		    subnet_only ? ctx->subnet : ctx->network);
		r = -ENOENT;
	}
	return r;
}

struct routers {
	struct os_router *v;
	size_t n, cap;
};

static void
routers_free(struct routers *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		os_router_free(&rs->v[i]);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* Reads router id; a missing one is an error only when required. */
static int
read_router(struct os_ctx *ctx, const char *id, int required, struct routers *rs)
{
	struct os_router rt;
	void *nv;
	size_t i;
	int r;

	for (i = 0; i < rs->n; i++)
		if (strcmp(rs->v[i].id, id) == 0)
			return 0;
	if ((r = os_get_router(ctx, id, &rt)) == -ENOENT && !required)
		return 0;
	if (r < 0)
		return r;
	if (rs->n == rs->cap) {
		rs->cap = rs->cap ? 2 * rs->cap : 8;
		if ((nv = realloc(rs->v, rs->cap * sizeof(*rs->v))) == NULL) {
			os_router_free(&rt);
			return -ENOMEM;
		}
		rs->v = nv;
	}
	rs->v[rs->n++] = rt;
	return 0;
}

static int
target_routers(struct os_ctx *ctx, const struct os_opts *o, struct routers *rs)
{
	struct idlist ids = { 0 };
	size_t i;
	int r = 0;

	if (o->tables == OS_TABLES_LIST) {
		for (i = 0; i < o->n_routers && r == 0; i++)
			if ((r = read_router(ctx, o->routers[i], 1, rs)) == -ENOENT)
				prov_set_error("configured router %s not found", o->routers[i]);
		return r;
	}
	if ((r = network_routers(ctx, o->tables == OS_TABLES_AUTO, &ids)) < 0)
		goto out;
	for (i = 0; i < ids.n && r == 0; i++)
		r = read_router(ctx, ids.v[i], 1, rs);
out:
	free(ids.v);
	return r;
}

/* Forgets the records the plan found gone (DROP): nothing to call for them. */
static void
forget_dropped(struct os_ctx *ctx, const struct os_plan *p, struct json_object *state)
{
	struct os_route rt;
	struct os_pair pr;
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->v[i].act != OS_DROP)
			continue;
		if (p->v[i].portsec) {
			json_object_object_del(state, "port_security_original");
		} else if (p->v[i].pair) {
			memset(&pr, 0, sizeof(pr));
			pr.ip = p->v[i].dst;
			os_state_pair(state, ctx->port, &pr, 0);
		} else {
			rt.dst = p->v[i].dst;
			rt.nexthop = p->v[i].nexthop;
			os_state_route(state, p->v[i].router, &rt, 0);
		}
	}
}

int
os_ctx_plan(struct os_ctx *ctx, const struct os_opts *o, struct json_object *state,
    struct os_plan *out)
{
	struct os_owned_route *owned = NULL;
	struct os_pair *pairs = NULL;
	struct routers rs = { 0 };
	struct os_port port = { 0 };
	struct os_plan_input in;
	size_t n_owned = 0, n_pairs = 0, i, n_targets;
	int r, recorded, need_port;

	prov_clear_error();
	if ((r = os_state_routes(state, &owned, &n_owned)) < 0 ||
	    (r = os_state_pairs(state, ctx->port, &pairs, &n_pairs)) < 0 ||
	    (r = target_routers(ctx, o, &rs)) < 0)
		goto out;
	n_targets = rs.n;
	for (i = 0; i < n_owned && r == 0; i++)
		r = read_router(ctx, owned[i].router, 0, &rs);
	recorded = json_object_object_get_ex(state, "port_security_original", NULL);
	need_port = o->pairs || o->portsec_off || n_pairs > 0 || recorded;
	if (r < 0 || (need_port && (r = os_get_port(ctx, &port)) < 0))
		goto out;
	/* The original is on disk before apply can change it (the agent saves
	 * the state between plan and apply). */
	if (o->portsec_off && !recorded && port.port_security == 1)
		json_object_object_add(state, "port_security_original",
		    json_object_new_boolean(1));
	memset(&in, 0, sizeof(in));
	in.our_ip = &ctx->ip;
	in.our_ip6 = ctx->ip6.family != 0 && ctx->ip.family != AF_INET6 ? &ctx->ip6 : NULL;
	in.routers = rs.v;
	in.n_routers = rs.n;
	in.n_targets = n_targets;
	in.desired = o->desired;
	in.owned = owned;
	in.n_owned = n_owned;
	in.port = need_port ? &port : NULL;
	in.want_portsec_off = o->portsec_off;
	in.portsec_recorded = recorded;
	in.owned_pairs = pairs;
	in.n_owned_pairs = n_pairs;
	/* Pairs off (or port security off instead): only ours are removed. */
	in.want_pairs = o->pairs && !o->portsec_off;
	if (r == 0)
		r = os_plan_compute(&in, out);
	if (r == 0)
		forget_dropped(ctx, out, state);
	if (r == 0 && need_port) {
		os_port_free(&ctx->seen);
		ctx->seen = port;
		ctx->have_seen = 1;
		memset(&port, 0, sizeof(port));
	}
out:
	os_port_free(&port);
	routers_free(&rs);
	free(owned);
	free(pairs);
	return r;
}
