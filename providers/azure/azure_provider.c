/*
 * The Azure provider: detect (IMDS instance document), open (identity:
 * IMDS, then the VM from ARM and its NIC matched by MAC), plan (our NIC,
 * the route tables, the connectors our marked routes point at, then
 * az_plan_compute) and close.  apply and teardown are in azure_apply.c.
 *
 * Endpoints: CLOUDROUTE_AZURE_METADATA_URL (else http://169.254.169.254),
 * CLOUDROUTE_AZURE_API_URL (else https://management.azure.com),
 * CLOUDROUTE_CA_BUNDLE adds a CA (providers/http.c).
 *
 * Reads per pass: NIC, subnet (auto) or VNet (network) or nothing (a list),
 * one GET per route table; the NIC list, the VNet's address space and VM
 * instance views only when a marked route of another connector is in the
 * way (an address on no NIC counts as gone only inside our VNet).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure.h"
#include "providers/http.h"

#define MAX_TABLES 64
#define MAX_PAGES  50

static int
az_detect(long timeout_ms)
{
	struct az_imds m;
	struct az_instance in;
	int r;

	az_imds_init(&m, timeout_ms);
	r = az_imds_instance(&m, &in);
	az_imds_wipe(&m);
	return r == 0 ? 1 : 0;
}

int
az_get(struct az_ctx *ctx, const char *id, const char *api, struct buf *out)
{
	return az_arm_call(&ctx->arm, "GET", id, api, NULL, NULL, out, NULL);
}

int
az_read_nic(struct az_ctx *ctx, const char *id, struct az_nic *out)
{
	struct buf b;
	int r;

	buf_init(&b, HTTP_MAX_RESPONSE);
	if ((r = az_get(ctx, id, AZ_API_NETWORK, &b)) == 0)
		r = az_json_nic(b.data, b.len, out);
	buf_free(&b);
	return r;
}

int
az_read_table(struct az_ctx *ctx, const char *id, struct az_route_table *out)
{
	struct buf b;
	int r;

	buf_init(&b, HTTP_MAX_RESPONSE);
	if ((r = az_get(ctx, id, AZ_API_NETWORK, &b)) == 0)
		r = az_json_route_table(b.data, b.len, out);
	buf_free(&b);
	if (r == 0)
		az_table_label(out->id, ctx->inst.subscription, ctx->inst.resource_group,
		    out->label, sizeof(out->label));
	return r;
}

void
az_tables_free(struct az_route_table *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		az_route_table_free(&v[i]);
	free(v);
}

/* The VM's NIC whose MAC is the primary interface's in IMDS. */
static int
find_nic(struct az_ctx *ctx)
{
	char ids[AZ_MAX_IFS][AZ_ID_LEN];
	struct buf b;
	size_t n = 0, i;
	int r;

	buf_init(&b, HTTP_MAX_RESPONSE);
	r = az_get(ctx, ctx->vm, AZ_API_COMPUTE, &b);
	if (r == 0)
		r = az_json_vm_nics(b.data, b.len, ids, AZ_MAX_IFS, &n);
	buf_free(&b);
	if (r < 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = az_read_nic(ctx, ids[i], &ctx->nic_cache)) < 0)
			return r;
		if (strcmp(ctx->nic_cache.mac, ctx->inst.ifs[0].mac) == 0) {
			ctx->nic_cached = 1;
			return 0;
		}
	}
	prov_set_error("no network interface of VM %s has the MAC address %s that IMDS "
	    "reports", ctx->inst.name, ctx->inst.ifs[0].mac);
	return -ENOENT;
}

static int
identify(struct az_ctx *ctx)
{
	struct az_instance *in = &ctx->inst;
	char *s;
	int r;

	if ((r = az_imds_instance(&ctx->imds, in)) < 0)
		return r;
	if (in->resource_id[0])
		cr_strlcpy(ctx->vm, in->resource_id, sizeof(ctx->vm));
	else
		snprintf(ctx->vm, sizeof(ctx->vm), "/subscriptions/%s/resourceGroups/%s/"
		    "providers/Microsoft.Compute/virtualMachines/%s", in->subscription,
		    in->resource_group, in->name);
	if ((r = find_nic(ctx)) < 0)
		return r;
	cr_strlcpy(ctx->nic, ctx->nic_cache.id, sizeof(ctx->nic));
	cr_strlcpy(ctx->private_ip, ctx->nic_cache.n_ips ? ctx->nic_cache.ips[0] :
	    in->ifs[0].ip, sizeof(ctx->private_ip));
	cr_strlcpy(ctx->subnet, ctx->nic_cache.subnet, sizeof(ctx->subnet));
	cr_strlcpy(ctx->vnet, ctx->subnet, sizeof(ctx->vnet));
	if ((s = strstr(ctx->vnet, "/subnets/")) == NULL) {
		prov_set_error("network interface %s: no subnet in its IP configuration",
		    ctx->nic);
		return -EBADMSG;
	}
	*s = '\0';
	return 0;
}

static int
export_identity(const struct az_ctx *c, struct prov_identity *id)
{
	const char *pub = c->inst.ifs[0].public_ip;
	struct prov_identity t = {
		.provider = "azure", .instance = (char *)c->vm, .nic = (char *)c->nic,
		.private_ip = (char *)c->private_ip, .public_ip = pub[0] ? (char *)pub : NULL,
		.subnet = (char *)c->subnet, .network = (char *)c->vnet,
		.region = (char *)c->inst.location,
		.zone = c->inst.zone[0] ? (char *)c->inst.zone : NULL,
	};

	return prov_identity_copy(id, &t);
}

static void az_close(void *vctx);

static int
az_open(void **out, struct prov_identity *id)
{
	struct az_ctx *ctx;
	int r;

	*out = NULL;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return -ENOMEM;
	az_imds_init(&ctx->imds, 5000);
	az_arm_init(&ctx->arm, &ctx->imds);
	if ((r = identify(ctx)) < 0)
		goto out;
	if (id != NULL && (r = export_identity(ctx, id)) < 0)
		goto out;
	*out = ctx;
	log_debug("azure: VM %s NIC %s (%s) subnet %s endpoint %s", ctx->inst.name,
	    az_id_name(ctx->nic), ctx->private_ip, ctx->subnet, ctx->arm.base);
out:
	if (r < 0)
		az_close(ctx);
	return r;
}

static void
az_close(void *vctx)
{
	struct az_ctx *ctx = vctx;

	if (ctx == NULL)
		return;
	az_tables_free(ctx->tables, ctx->n_tables);
	az_imds_wipe(&ctx->imds);
	explicit_bzero(ctx, sizeof(*ctx));
	free(ctx);
}

/* ---- route tables ---- */

struct idlist {
	char v[MAX_TABLES][AZ_ID_LEN];
	size_t n;
};

static int
idlist_add(struct idlist *l, const char *id)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (az_id_equal(l->v[i], id))
			return 0;
	if (l->n == MAX_TABLES) {
		prov_set_error("more than %d route tables", MAX_TABLES);
		return -E2BIG;
	}
	cr_strlcpy(l->v[l->n++], id, AZ_ID_LEN);
	return 0;
}

static int
target_ids(struct az_ctx *ctx, const struct prov_options *opts, struct idlist *ids)
{
	char id[AZ_ID_LEN], sn[128], vn[128];
	struct buf b;
	size_t i, n = 0;
	int r = 0;

	if (opts->tables == PROV_TABLES_LIST) {
		for (i = 0; i < opts->n_route_tables && r == 0; i++) {
			if (az_table_ref(opts->route_tables[i], ctx->inst.subscription,
			    ctx->inst.resource_group, id, sizeof(id)) < 0) {
				prov_set_error("route table \"%s\": not a name, group/name or "
				    "resource id", opts->route_tables[i]);
				return -EINVAL;
			}
			r = idlist_add(ids, id);
		}
		return r;
	}
	buf_init(&b, HTTP_MAX_RESPONSE);
	if (opts->tables == PROV_TABLES_NETWORK) {
		char (*v)[AZ_ID_LEN] = calloc(MAX_TABLES, AZ_ID_LEN);

		if (v == NULL) {
			r = -ENOMEM;
			goto out;
		}
		if ((r = az_get(ctx, ctx->vnet, AZ_API_NETWORK, &b)) == 0 &&
		    (r = az_json_vnet_tables(b.data, b.len, v, MAX_TABLES, &n)) == 0)
			for (i = 0; i < n && r == 0; i++)
				r = idlist_add(ids, v[i]);
		free(v);
		if (r == 0 && ids->n == 0) {
			prov_set_error("no subnet of virtual network %s has a route table",
			    az_id_name(ctx->vnet));
			r = -ENOENT;
		}
		goto out;
	}
	if ((r = az_get(ctx, ctx->subnet, AZ_API_NETWORK, &b)) < 0 ||
	    (r = az_json_subnet_table(b.data, b.len, id, sizeof(id))) < 0)
		goto out;
	if (id[0] == '\0') {
		az_id_part(ctx->subnet, "subnets", sn, sizeof(sn));
		az_id_part(ctx->subnet, "virtualNetworks", vn, sizeof(vn));
		prov_set_error("subnet %s of virtual network %s has no route table: create one "
		    "and associate it (az network vnet subnet update -g %s --vnet-name %s -n %s "
		    "--route-table NAME), or list tables in cloud.route_tables; cloudroute does "
		    "not change subnet associations", sn, vn, ctx->inst.resource_group, vn, sn);
		r = -ENOENT;
		goto out;
	}
	r = idlist_add(ids, id);
out:
	buf_free(&b);
	return r;
}

/* Tables recorded in state (routes of ours) that are not targets. */
static int
state_ids(struct json_object *state, const char *nic, struct idlist *ids)
{
	struct json_object *a, *e, *t, *n;
	size_t i;
	int r;

	if (state == NULL || (json_object_object_get_ex(state, "nic", &n) &&
	    nic != NULL && !az_id_equal(json_object_get_string(n), nic)) ||
	    !json_object_object_get_ex(state, "routes", &a) ||
	    !json_object_is_type(a, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if (json_object_object_get_ex(e, "table", &t) &&
		    json_object_is_type(t, json_type_string) &&
		    (r = idlist_add(ids, json_object_get_string(t))) < 0)
			return r;
	}
	return 0;
}

/* Reads the tables; a target that is missing is an error, a recorded
 * one only for cleanup is skipped. */
static int
read_tables(struct az_ctx *ctx, const struct idlist *ids, size_t n_targets,
    struct az_route_table **out, size_t *n)
{
	struct az_route_table *v;
	size_t i;
	int r = 0;

	*out = NULL;
	*n = 0;
	if ((v = calloc(ids->n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < ids->n; i++) {
		r = az_read_table(ctx, ids->v[i], &v[*n]);
		if (r == -ENOENT && i >= n_targets) {
			r = 0;
			continue;
		}
		if (r == -ENOENT)
			prov_set_error("route table %s not found", az_id_name(ids->v[i]));
		if (r < 0)
			break;
		(*n)++;
	}
	if (r < 0) {
		az_tables_free(v, *n);
		*n = 0;
		return r;
	}
	*out = v;
	return 0;
}

/* ---- the connectors other marked routes point at ---- */

static int
needs_peer(const struct az_route *rt, const char *our_ip, const struct prefix_set *want)
{
	return rt->has_dst && az_route_is_marked(rt->name) &&
	    strcasecmp(rt->next_hop_type, "VirtualAppliance") == 0 && rt->next_hop_ip[0] &&
	    strcmp(rt->next_hop_ip, our_ip) != 0 && want != NULL &&
	    prefix_set_has(want, &rt->dst);
}

static int
list_nics(struct az_ctx *ctx, struct az_nic_list *l)
{
	char path[256], link[2048];
	struct buf b;
	int r, page;

	snprintf(path, sizeof(path), "/subscriptions/%s/providers/Microsoft.Network/"
	    "networkInterfaces", ctx->inst.subscription);
	buf_init(&b, HTTP_MAX_RESPONSE);
	r = az_arm_call(&ctx->arm, "GET", path, AZ_API_NETWORK, NULL, NULL, &b, NULL);
	for (page = 0; r == 0 && page < MAX_PAGES; page++) {
		if ((r = az_json_nic_list(b.data, b.len, l)) < 0 || l->next_link[0] == '\0')
			break;
		cr_strlcpy(link, l->next_link, sizeof(link));
		r = az_arm_get_link(&ctx->arm, link, &b, NULL);
	}
	buf_free(&b);
	return r;
}

/* 1 when ip is in the address space of our VNet, 0 not, -errno (unknown).
 * The space is read once per pass, on first need. */
static int
in_our_vnet(struct az_ctx *ctx, struct prefix_set *space, int *read, const char *ip)
{
	struct prefix a;
	struct buf b;
	int r = 0;

	if (prefix_parse_addr(ip, &a) < 0)
		return 0;
	if (*read == 0) {
		buf_init(&b, HTTP_MAX_RESPONSE);
		if ((r = az_get(ctx, ctx->vnet, AZ_API_NETWORK, &b)) == 0)
			r = az_json_vnet_space(b.data, b.len, space);
		buf_free(&b);
		*read = r == 0 ? 1 : r;
	}
	if (*read < 0)
		return *read;
	return prefix_set_covers(space, &a);
}

struct vnet_space {
	struct prefix_set set;
	int read;                         /* 0 not yet, 1 read, -errno failed */
};

static enum az_peer_state
peer_state(struct az_ctx *ctx, const struct az_nic_list *nics, struct vnet_space *vs,
    const char *ip, int want_power)
{
	const struct az_nic *n = NULL;
	char path[AZ_ID_LEN + 32];
	struct buf b;
	size_t i, j;
	int running = 1;

	for (i = 0; i < nics->n && n == NULL; i++)
		for (j = 0; j < nics->v[i].n_ips; j++)
			if (strcmp(nics->v[i].ips[j], ip) == 0)
				n = &nics->v[i];
	/* On no NIC of this subscription: gone only if the address is in our
	 * VNet (an appliance in a peered network or another subscription is
	 * simply not visible from here, and is never taken over). */
	if (n == NULL)
		return in_our_vnet(ctx, &vs->set, &vs->read, ip) == 1 ? AZ_PEER_GONE :
		    AZ_PEER_ALIVE;
	if (!n->vm[0])
		return AZ_PEER_GONE;
	if (!want_power)
		return AZ_PEER_ALIVE;
	snprintf(path, sizeof(path), "%s/instanceView", n->vm);
	buf_init(&b, HTTP_MAX_RESPONSE);
	if (az_get(ctx, path, AZ_API_COMPUTE, &b) == 0)
		az_json_vm_running(b.data, b.len, &running);
	else
		running = 1;           /* unknown: never take over on a failed read */
	buf_free(&b);
	return running ? AZ_PEER_ALIVE : AZ_PEER_STOPPED;
}

static int
read_peers(struct az_ctx *ctx, const struct prov_options *opts,
    const struct az_route_table *t, size_t n_targets, struct az_peer **out, size_t *n)
{
	struct az_nic_list nics = { 0 };
	struct vnet_space vs = { { 0 }, 0 };
	struct az_peer *v = NULL;
	size_t i, j, k, cap = 0;
	int r = 0, listed = 0, power = opts->takeover == PROV_TAKEOVER_GROUP && !opts->leader;

	*n = 0;
	for (i = 0; i < n_targets; i++) {
		for (j = 0; j < t[i].n; j++) {
			const struct az_route *rt = &t[i].routes[j];

			if (!needs_peer(rt, ctx->private_ip, opts->desired))
				continue;
			for (k = 0; k < *n && strcmp(v[k].ip, rt->next_hop_ip) != 0; k++)
				;
			if (k < *n)
				continue;
			if (!listed && (r = list_nics(ctx, &nics)) < 0)
				goto out;
			listed = 1;
			if (*n == cap) {
				struct az_peer *nv;

				cap = cap ? 2 * cap : 8;
				if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
					r = -ENOMEM;
					goto out;
				}
				v = nv;
			}
			cr_strlcpy(v[*n].ip, rt->next_hop_ip, sizeof(v[0].ip));
			v[*n].state = peer_state(ctx, &nics, &vs, rt->next_hop_ip, power);
			(*n)++;
		}
	}
out:
	az_nic_list_free(&nics);
	prefix_set_free(&vs.set);
	if (r < 0) {
		free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	return r;
}

static int
az_plan(void *vctx, const struct prov_options *opts, struct json_object *state,
    struct prov_plan *out)
{
	struct az_ctx *ctx = vctx;
	struct az_plan_input in;
	struct az_peer *peers = NULL;
	struct idlist *ids;
	struct az_nic nic;
	size_t n_targets, n_peers = 0;
	int r;

	prov_clear_error();
	if ((ids = calloc(1, sizeof(*ids))) == NULL)
		return -ENOMEM;
	if (ctx->nic_cached) {
		nic = ctx->nic_cache;
		ctx->nic_cached = 0;
	} else if ((r = az_read_nic(ctx, ctx->nic, &nic)) < 0) {
		goto out;
	}
	/* The original is recorded before apply can change it: the agent
	 * saves the state between plan and apply. */
	if (opts->disable_source_dest_check && nic.ip_forwarding >= 0 &&
	    !json_object_object_get_ex(state, "ip_forwarding_original", NULL))
		json_object_object_add(state, "ip_forwarding_original",
		    json_object_new_boolean(nic.ip_forwarding));
	if ((r = target_ids(ctx, opts, ids)) < 0)
		goto out;
	n_targets = ids->n;
	if ((r = state_ids(state, ctx->nic, ids)) < 0)
		goto out;
	az_tables_free(ctx->tables, ctx->n_tables);
	ctx->tables = NULL;
	ctx->n_tables = 0;
	if ((r = read_tables(ctx, ids, n_targets, &ctx->tables, &ctx->n_tables)) < 0 ||
	    (r = read_peers(ctx, opts, ctx->tables, n_targets, &peers, &n_peers)) < 0)
		goto out;
	memset(&in, 0, sizeof(in));
	in.our_ip = ctx->private_ip;
	in.nic = ctx->nic;
	in.ip_forwarding = nic.ip_forwarding;
	in.disable_source_dest_check = opts->disable_source_dest_check;
	in.tables = ctx->tables;
	in.n_tables = ctx->n_tables;
	in.n_targets = n_targets < ctx->n_tables ? n_targets : ctx->n_tables;
	in.desired = opts->desired;
	in.peers = peers;
	in.n_peers = n_peers;
	in.ha_group = opts->ha_group != NULL ? opts->ha_group : "";
	in.takeover = opts->takeover;
	in.leader = opts->leader;
	r = az_plan_compute(&in, out);
out:
	free(peers);
	free(ids);
	return r;
}

const struct prov_ops azure_ops = {
	.name = "azure",
	.detect = az_detect,
	.open = az_open,
	.plan = az_plan,
	.apply = az_apply,
	.teardown = az_teardown,
	.close = az_close,
};
