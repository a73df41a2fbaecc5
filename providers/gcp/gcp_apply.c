/*
 * GCP apply and teardown: performs exactly the mutations of a plan, each a
 * Compute write whose operation is waited for, and keeps the provider state
 * current:
 *
 *   {"provider":"gcp","instance":"<selfLink>","network":"<network URL>",
 *    "can_ip_forward_original":false,
 *    "routes":[{"name":"cloudroute-...","dst":"100.96.0.0/11"}]}
 *
 * Ownership does not depend on the state (a route is ours by its name and
 * next hop, both visible in routes.list), so a crash between a write and the
 * state save loses nothing; the state keeps canIpForward's original for
 * teardown and the routes for status.  The first error stops the run.
 * Races are absorbed where the outcome is the one wanted: an insert that
 * finds the route already there and ours, a delete of a route already gone.
 * Only names starting "cloudroute-" are ever deleted.
 *
 * Fleet fast takeover (prov_options.proven, agent/fleet_takeover.h): a
 * REPLACE reads nothing before it writes in any case (routes are immutable:
 * ours is inserted under our own name, its operation waited for, and only
 * then the old one is deleted and that operation waited for too), so a
 * proven plan runs the same calls; waiting for both operations keeps the
 * prefix never without a route and lets the normal pass that follows find
 * the old route gone (no second write).  partial: the state's routes are
 * added to, never reset.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonutil.h"
#include "gcp.h"
#include "providers/http.h"

/* ---- state ---- */

static struct json_object *
state_routes(struct json_object *state, int reset)
{
	struct json_object *a;

	if (!reset && json_object_object_get_ex(state, "routes", &a) &&
	    json_object_is_type(a, json_type_array))
		return a;
	a = json_object_new_array();
	json_object_object_add(state, "routes", a);
	return a;
}

static void
state_route_add(struct json_object *a, const char *name, const struct prefix *dst)
{
	struct json_object *e;
	char buf[PREFIX_STRLEN];

	e = json_object_new_object();
	json_object_object_add(e, "name", json_object_new_string(name));
	json_object_object_add(e, "dst", json_object_new_string(prefix_fmt(dst, buf,
	    sizeof(buf))));
	json_object_array_add(a, e);
}

void
gcp_state_identity(struct gcp_ctx *ctx, struct json_object *state)
{
	json_object_object_add(state, "provider", json_object_new_string("gcp"));
	json_object_object_add(state, "instance", json_object_new_string(ctx->self_link));
	json_object_object_add(state, "network", json_object_new_string(ctx->network));
}

/* ---- Compute writes ---- */

/* "projects/<network's project>/global/routes[/name]" */
static void
routes_path(struct gcp_ctx *ctx, const char *name, char *out, size_t len)
{
	char proj[GCP_ID_LEN];

	if (!*gcp_url_project(ctx->network, proj, sizeof(proj)))
		cr_strlcpy(proj, ctx->project, sizeof(proj));
	snprintf(out, len, "projects/%s/global/routes%s%s", proj, name ? "/" : "",
	    name ? name : "");
}

static int
route_get(struct gcp_ctx *ctx, const char *name, struct gcp_route *out)
{
	char path[256];
	struct buf b;
	int r;

	buf_init(&b, HTTP_MAX_RESPONSE);
	routes_path(ctx, name, path, sizeof(path));
	if ((r = gcp_call(&ctx->api, "GET", path, NULL, &b, NULL)) == 0)
		r = gcp_json_route(b.data, b.len, out);
	buf_free(&b);
	return r;
}

static int
route_insert(struct gcp_ctx *ctx, const char *name, const struct prefix *dst,
    const char *ha_group)
{
	struct json_object *o = json_object_new_object();
	struct gcp_route cur;
	char d[PREFIX_STRLEN], desc[256], path[512];
	int r;

	if ((r = gcp_route_desc(ha_group, desc, sizeof(desc))) < 0)
		goto out;
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "description", json_object_new_string(desc));
	json_object_object_add(o, "network", json_object_new_string(ctx->network));
	json_object_object_add(o, "destRange", json_object_new_string(prefix_fmt(dst, d,
	    sizeof(d))));
	json_object_object_add(o, "priority", json_object_new_int(GCP_PRIORITY));
	json_object_object_add(o, "nextHopInstance", json_object_new_string(ctx->self_link));
	routes_path(ctx, NULL, path, sizeof(path));
	r = gcp_mutate(&ctx->api, "POST", path, json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), NULL);
	if (r == -EEXIST) {
		/* Inserted by an earlier, interrupted pass?  Ours only if it says so. */
		int g = route_get(ctx, name, &cur);

		if (g == 0 && gcp_route_is_ours(&cur, ctx->self_link, ctx->network) &&
		    cur.has_dst && prefix_equal(&cur.dst, dst)) {
			r = 0;
		} else if (g == -ENOENT) {
			/* Taken but not there yet: an insert still running. */
			prov_set_error("route %s: an insert of it is still in progress; the "
			    "next pass finds it", name);
			r = -EAGAIN;
		} else {
			prov_set_error("route %s exists and is not ours for %s: left alone", name, d);
		}
	}
	if (r == -EDQUOT)
		log_warnx("gcp: route quota exhausted: see the project's ROUTES quota "
		    "(gcloud compute project-info describe)");
out:
	json_object_put(o);
	return r;
}

static int
route_delete(struct gcp_ctx *ctx, const char *name)
{
	char path[256];
	int r;

	if (name == NULL || strncmp(name, GCP_NAME_PREFIX, strlen(GCP_NAME_PREFIX)) != 0 ||
	    !gcp_name_valid(name)) {
		prov_set_error("refusing to delete route \"%s\": not a cloudroute route",
		    name ? name : "");
		return -EPERM;
	}
	routes_path(ctx, name, path, sizeof(path));
	r = gcp_mutate(&ctx->api, "DELETE", path, NULL, NULL);
	return r == -ENOENT ? 0 : r;
}

/* Performs one change.  0 or -errno. */
static int
exec_change(struct gcp_ctx *ctx, const struct prov_options *opts,
    const struct prov_change *c, struct json_object *state)
{
	const char *group = opts != NULL ? opts->ha_group : NULL;
	char ours[GCP_NAME_MAX + 1];
	int r;

	switch (c->action) {
	case PROV_KEEP:
	case PROV_CONFLICT:
	case PROV_TAG:
		return 0;
	case PROV_FORWARDING:
		if (!json_object_object_get_ex(state, "can_ip_forward_original", NULL))
			json_object_object_add(state, "can_ip_forward_original",
			    json_object_new_boolean(0));
		return gcp_set_ip_forward(&ctx->api, ctx->zone, ctx->name, 1, ctx->self_raw);
	case PROV_FORWARDING_RESTORE:
		if ((r = gcp_set_ip_forward(&ctx->api, ctx->zone, ctx->name, 0, ctx->self_raw)) == 0)
			json_object_object_del(state, "can_ip_forward_original");
		return r;
	case PROV_CREATE:
		if (c->handle == NULL)
			return -EINVAL;
		return route_insert(ctx, c->handle, &c->dst, group);
	case PROV_REPLACE:
		/* Immutable routes: ours first, then the old one goes. */
		if ((r = gcp_route_name(group, &c->dst, ctx->id, ours)) < 0 ||
		    (r = route_insert(ctx, ours, &c->dst, group)) < 0)
			return r;
		return route_delete(ctx, c->handle);
	case PROV_DELETE:
		return route_delete(ctx, c->handle);
	}
	return -EINVAL;
}

static int
recorded(struct json_object *a, const char *name)
{
	struct json_object *n;
	size_t i;

	for (i = 0; i < json_object_array_length(a); i++)
		if (json_object_object_get_ex(json_object_array_get_idx(a, i), "name", &n) &&
		    strcmp(json_object_get_string(n), name) == 0)
			return 1;
	return 0;
}

/* The routes ours after a complete run: what the plan kept or created. */
static void
record_routes(struct gcp_ctx *ctx, const struct prov_options *opts,
    const struct prov_plan *plan, struct json_object *state)
{
	struct json_object *a = state_routes(state, opts == NULL || !opts->partial);
	char ours[GCP_NAME_MAX + 1];
	size_t i;

	for (i = 0; i < plan->n; i++) {
		const struct prov_change *c = &plan->v[i];

		if (c->action == PROV_CREATE && c->handle != NULL && !recorded(a, c->handle))
			state_route_add(a, c->handle, &c->dst);
		else if (c->action == PROV_KEEP && c->note != NULL && c->handle != NULL &&
		    strcmp(c->note, "(this connector)") == 0 && !recorded(a, c->handle))
			state_route_add(a, c->handle, &c->dst);
		else if (c->action == PROV_REPLACE &&
		    gcp_route_name(opts->ha_group, &c->dst, ctx->id, ours) == 0 &&
		    !recorded(a, ours))
			state_route_add(a, ours, &c->dst);
	}
}

int
gcp_apply(struct gcp_ctx *ctx, const struct prov_options *opts,
    const struct prov_plan *plan, struct json_object *state)
{
	unsigned int calls0 = ctx->api.calls, mut0 = ctx->api.mutating_calls;
	char line[512];
	size_t i;
	int r = 0;

	prov_clear_error();
	if (!ctx->self_link[0]) {
		prov_set_error("gcp: apply without a plan");
		return -EINVAL;
	}
	gcp_state_identity(ctx, state);
	for (i = 0; i < plan->n; i++) {
		if ((r = exec_change(ctx, opts, &plan->v[i], state)) < 0) {
			log_warnx("gcp: %s: %s", prov_change_fmt(&plan->v[i], line, sizeof(line)),
			    prov_last_error());
			goto out;
		}
	}
	record_routes(ctx, opts, plan, state);
out:
	if (ctx->api.calls != calls0)
		log_info("gcp: apply made %u API calls (%u mutating)", ctx->api.calls - calls0,
		    ctx->api.mutating_calls - mut0);
	return r;
}

static int
teardown_plan(struct gcp_ctx *ctx, struct json_object *state, struct prov_plan *out)
{
	struct gcp_route_list routes = { 0 };
	struct gcp_changes ch = { 0 };
	struct gcp_plan_input in;
	int r;

	if ((r = gcp_read_self(ctx)) < 0 ||
	    (r = gcp_list_routes(&ctx->api, ctx->network, &routes)) < 0)
		goto out;
	memset(&in, 0, sizeof(in));
	in.self_link = ctx->self_link;
	in.network = ctx->network;
	in.routes = routes.v;
	in.n_routes = routes.n;
	if ((r = gcp_plan_teardown(&in, &ch)) < 0 || (r = gcp_export_changes(ctx, &ch, out)) < 0)
		goto out;
	/* After the routes (no route left pointing at a host that drops it), and
	 * only when cloudroute turned it on. */
	if (!cr_json_bool(state, "can_ip_forward_original", 1) && ctx->observed_fwd == 1)
		r = prov_plan_addv(out, PROV_FORWARDING_RESTORE, NULL, NULL, ctx->name, NULL,
		    "(canIpForward true -> false, as before cloudroute)");
out:
	gcp_changes_free(&ch);
	gcp_route_list_free(&routes);
	return r;
}

int
gcp_teardown(struct gcp_ctx *ctx, struct json_object *state, int dry_run,
    struct prov_plan *out)
{
	char line[512];
	size_t i, first = out->n;
	int r;

	prov_clear_error();
	if (state == NULL || (!json_object_object_get_ex(state, "instance", NULL) &&
	    !json_object_object_get_ex(state, "can_ip_forward_original", NULL)))
		return 0;                /* nothing was ever planned here */
	if ((r = teardown_plan(ctx, state, out)) < 0 || dry_run)
		return r;
	for (i = first; i < out->n; i++) {
		if ((r = exec_change(ctx, NULL, &out->v[i], state)) < 0) {
			log_warnx("gcp: %s: %s", prov_change_fmt(&out->v[i], line, sizeof(line)),
			    prov_last_error());
			return r;
		}
	}
	state_routes(state, 1);
	json_object_object_del(state, "can_ip_forward_original");
	return 0;
}
