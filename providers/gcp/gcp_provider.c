/*
 * The GCP provider: detect (metadata probe: the answer must say
 * "Metadata-Flavor: Google", as Google's client libraries check), open (identity from the
 * metadata server, credentials, endpoint), plan (one instances.get and one
 * routes.list of our network, then gcp_plan_compute) and close; apply and
 * teardown are in gcp_apply.c.
 *
 * Endpoints: CLOUDROUTE_GCP_METADATA_URL, else GCE_METADATA_HOST (host:port),
 * else http://169.254.169.254 (metadata.google.internal); CLOUDROUTE_GCP_API_URL,
 * else https://compute.googleapis.com.  GCP routes are network-wide:
 * route_tables "auto" and "network" mean the same; a list of ids is refused.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcp.h"
#include "providers/http.h"

static int
gcp_detect(long timeout_ms)
{
	struct gcp_md m;
	struct buf b;
	int r;

	gcp_md_init(&m, timeout_ms);
	buf_init(&b, 4096);
	r = gcp_md_get_flavor(&m, "project/project-id", &b, 1);
	r = r == 0 && b.len > 0 && gcp_name_valid(b.data);
	buf_free(&b);
	prov_clear_error();
	return r;
}

static int
md(struct gcp_ctx *ctx, const char *path, char *dst, size_t len, int optional)
{
	struct buf b;
	int r;

	dst[0] = '\0';
	buf_init(&b, 16 << 10);
	if ((r = gcp_md_get(&ctx->md, path, &b)) < 0) {
		if (optional && r == -ENOENT)
			r = 0;
		else if (r == -ENOENT)
			prov_set_error("metadata %s: not found", path);
		goto out;
	}
	b.data[strcspn(b.data, "\r\n")] = '\0';
	if ((!optional && b.data[0] == '\0') || cr_strlcpy(dst, b.data, len) >= len) {
		prov_set_error("metadata %s: empty or too long", path);
		r = -EBADMSG;
	}
out:
	buf_free(&b);
	return r;
}

static int
identify(struct gcp_ctx *ctx)
{
	char zone[GCP_URL_LEN];
	int r;

	if ((r = md(ctx, "project/project-id", ctx->project, sizeof(ctx->project), 0)) < 0 ||
	    (r = md(ctx, "instance/zone", zone, sizeof(zone), 0)) < 0 ||
	    (r = md(ctx, "instance/name", ctx->name, sizeof(ctx->name), 0)) < 0 ||
	    (r = md(ctx, "instance/id", ctx->id, sizeof(ctx->id), 0)) < 0 ||
	    (r = md(ctx, "instance/network-interfaces/0/ip", ctx->ip, sizeof(ctx->ip), 0)) < 0 ||
	    (r = md(ctx, "instance/network-interfaces/0/network", ctx->md_network,
	    sizeof(ctx->md_network), 0)) < 0 ||
	    (r = md(ctx, "instance/network-interfaces/0/access-configs/0/external-ip",
	    ctx->public_ip, sizeof(ctx->public_ip), 1)) < 0)
		return r;
	/* "projects/123/zones/europe-west1-b" */
	cr_strlcpy(ctx->zone, gcp_url_last(zone), sizeof(ctx->zone));
	if (!gcp_name_valid(ctx->zone) || !gcp_name_valid(ctx->name) ||
	    ctx->id[strspn(ctx->id, "0123456789")] != '\0') {
		prov_set_error("metadata: invalid zone \"%s\", instance name \"%s\" or id \"%s\"",
		    ctx->zone, ctx->name, ctx->id);
		return -EBADMSG;
	}
	return 0;
}

static int
export_identity(const struct gcp_ctx *ctx, struct prov_identity *id)
{
	char inst[512], region[GCP_ID_LEN];
	char *dash;
	struct prov_identity t = { 0 };

	snprintf(inst, sizeof(inst), "projects/%s/zones/%s/instances/%s", ctx->project,
	    ctx->zone, ctx->name);
	cr_strlcpy(region, ctx->zone, sizeof(region));
	if ((dash = strrchr(region, '-')) != NULL)
		*dash = '\0';
	t.provider = (char *)"gcp";
	t.instance = inst;
	t.private_ip = (char *)ctx->ip;
	t.public_ip = ctx->public_ip[0] ? (char *)ctx->public_ip : NULL;
	t.network = (char *)gcp_url_last(ctx->md_network);
	t.region = region;
	t.zone = (char *)ctx->zone;
	return prov_identity_copy(id, &t);
}

static void gcp_close(void *ctx);

static int
gcp_open(void **out, struct prov_identity *id)
{
	struct gcp_ctx *ctx;
	int r;

	*out = NULL;
	prov_clear_error();
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return -ENOMEM;
	ctx->observed_fwd = -1;
	gcp_md_init(&ctx->md, 5000);
	if ((r = identify(ctx)) < 0 || (r = gcp_auth_init(&ctx->auth, &ctx->md)) < 0 ||
	    (r = gcp_compute_init(&ctx->api, ctx->project, &ctx->auth)) < 0)
		goto out;
	if (id != NULL && (r = export_identity(ctx, id)) < 0)
		goto out;
	log_debug("gcp: project %s zone %s instance %s (%s) network %s endpoint %s, "
	    "credentials: %s", ctx->project, ctx->zone, ctx->name, ctx->id, ctx->md_network,
	    ctx->api.base, ctx->auth.use_key ? ctx->auth.key.client_email :
	    "instance service account");
	*out = ctx;
out:
	if (r < 0)
		gcp_close(ctx);
	return r;
}

static void
gcp_close(void *arg)
{
	struct gcp_ctx *ctx = arg;

	if (ctx == NULL)
		return;
	gcp_auth_wipe(&ctx->auth);
	json_object_put(ctx->self_raw);
	free(ctx);
}

int
gcp_read_self(struct gcp_ctx *ctx)
{
	struct gcp_instance in;
	int r;

	if ((r = gcp_get_instance(&ctx->api, ctx->zone, ctx->name, &in)) < 0)
		return r;
	if (in.id[0] && strcmp(in.id, ctx->id) != 0) {
		prov_set_error("instances.get %s: id %s, metadata says %s", ctx->name, in.id,
		    ctx->id);
		r = -EBADMSG;
	} else {
		cr_strlcpy(ctx->self_link, in.self_link, sizeof(ctx->self_link));
		cr_strlcpy(ctx->network, in.network, sizeof(ctx->network));
		ctx->observed_fwd = in.can_ip_forward;
		json_object_put(ctx->self_raw);
		ctx->self_raw = json_object_get(in.raw);
	}
	gcp_instance_free(&in);
	return r;
}

/* What a route points at, for people: an instance or gateway name, an IP. */
static const char *
short_target(const char *url)
{
	return url[0] ? gcp_url_last(url) : NULL;
}

int
gcp_export_changes(struct gcp_ctx *ctx, const struct gcp_changes *c, struct prov_plan *out)
{
	const char *net = gcp_url_last(ctx->network);
	size_t i;
	int r;

	for (i = 0; i < c->n; i++) {
		const struct gcp_change *g = &c->v[i];

		if ((r = prov_plan_addv(out, g->action, g->dst.family ? net : NULL,
		    g->dst.family ? &g->dst : NULL, short_target(g->target),
		    g->handle[0] ? g->handle : NULL, g->note)) < 0)
			return r;
	}
	return 0;
}

/*
 * Other connectors' routes for our prefixes whose next hop Compute did not
 * flag: read each such instance once and mark the route dead when the
 * instance is gone, not RUNNING or cannot forward (a server that computes
 * no route warnings still gets takeover right).  Only when a takeover could
 * follow; a read we may not make leaves the route as it is.
 */
static int
check_peers(struct gcp_ctx *ctx, const struct prov_options *opts, struct gcp_route_list *l)
{
	struct gcp_instance in;
	struct gcp_route *r;
	const char *why;
	char path[GCP_URL_LEN];
	size_t i, j;
	int g;

	if (opts->takeover == PROV_TAKEOVER_NEVER || opts->desired == NULL)
		return 0;
	for (i = 0; i < l->n; i++) {
		r = &l->v[i];
		if (r->dead || !r->next_hop_instance[0] || !r->has_dst ||
		    strncmp(r->name, GCP_NAME_PREFIX, strlen(GCP_NAME_PREFIX)) != 0 ||
		    gcp_same_resource(r->next_hop_instance, ctx->self_link) ||
		    !gcp_same_resource(r->network, ctx->network) ||
		    !prefix_set_has(opts->desired, &r->dst))
			continue;
		/* Same next hop as an earlier route: same verdict. */
		for (j = 0; j < i; j++)
			if (l->v[j].checked && strcmp(l->v[j].next_hop_instance,
			    r->next_hop_instance) == 0)
				break;
		if (j < i) {
			r->dead = l->v[j].dead;
			cr_strlcpy(r->warning, l->v[j].warning, sizeof(r->warning));
			r->checked = 1;
			continue;
		}
		cr_strlcpy(path, gcp_url_tail(r->next_hop_instance), sizeof(path));
		if (strncmp(path, "projects/", 9) != 0)
			continue;
		why = NULL;
		if ((g = gcp_call_get_instance(&ctx->api, path, &in)) == -ENOENT)
			why = "NEXT_HOP_INSTANCE_NOT_FOUND";
		else if (g == 0 && strcmp(in.status, "RUNNING") != 0)
			why = "NEXT_HOP_NOT_RUNNING";
		else if (g == 0 && !in.can_ip_forward)
			why = "NEXT_HOP_CANNOT_IP_FORWARD";
		if (g == 0)
			gcp_instance_free(&in);
		else if (g != -ENOENT && g != -EACCES)
			return g;       /* the API is failing: no verdict, no pass */
		r->checked = 1;
		if (why != NULL) {
			r->dead = 1;
			cr_strlcpy(r->warning, why, sizeof(r->warning));
		}
	}
	prov_clear_error();
	return 0;
}

static int
gcp_plan(void *arg, const struct prov_options *opts, struct json_object *state,
    struct prov_plan *out)
{
	struct gcp_ctx *ctx = arg;
	struct gcp_route_list routes = { 0 };
	struct gcp_changes ch = { 0 };
	struct gcp_plan_input in;
	int r;

	prov_clear_error();
	if (opts->tables == PROV_TABLES_LIST && opts->n_route_tables > 0) {
		prov_set_error("cloud.route_tables: GCP routes are network-wide; use \"auto\" "
		    "or \"network\", not route table ids");
		return -EINVAL;
	}
	if ((r = gcp_read_self(ctx)) < 0)
		goto out;
	gcp_state_identity(ctx, state);
	/* Record the original before apply can change it (saved by the agent
	 * between plan and apply: a crash after the update cannot lose it). */
	if (opts->disable_source_dest_check &&
	    !json_object_object_get_ex(state, "can_ip_forward_original", NULL))
		json_object_object_add(state, "can_ip_forward_original",
		    json_object_new_boolean(ctx->observed_fwd));
	if ((r = gcp_list_routes(&ctx->api, ctx->network, &routes)) < 0 ||
	    (r = check_peers(ctx, opts, &routes)) < 0)
		goto out;
	memset(&in, 0, sizeof(in));
	in.self_link = ctx->self_link;
	in.instance_id = ctx->id;
	in.network = ctx->network;
	in.can_ip_forward = ctx->observed_fwd;
	in.enable_forwarding = opts->disable_source_dest_check;
	in.routes = routes.v;
	in.n_routes = routes.n;
	in.desired = opts->desired;
	in.ha_group = opts->ha_group;
	in.takeover = opts->takeover;
	in.leader = opts->leader;
	if ((r = gcp_plan_compute(&in, &ch)) == 0)
		r = gcp_export_changes(ctx, &ch, out);
out:
	gcp_changes_free(&ch);
	gcp_route_list_free(&routes);
	return r;
}

static int
gcp_apply_v(void *ctx, const struct prov_options *opts, const struct prov_plan *plan,
    struct json_object *state)
{
	return gcp_apply(ctx, opts, plan, state);
}

static int
gcp_teardown_v(void *ctx, const struct prov_options *opts, struct json_object *state,
    int dry_run, struct prov_plan *out)
{
	(void)opts;
	return gcp_teardown(ctx, state, dry_run, out);
}

const struct prov_ops gcp_ops = {
	.name = "gcp",
	.detect = gcp_detect,
	.open = gcp_open,
	.plan = gcp_plan,
	.apply = gcp_apply_v,
	.teardown = gcp_teardown_v,
	.close = gcp_close,
};
