/*
 * Azure apply and teardown: exactly the mutations of a plan, each one ARM
 * write followed to the end of its long-running operation, and the state
 * object kept current:
 *
 *   {"provider":"azure","vm":"/subscriptions/../virtualMachines/..",
 *    "nic":"/subscriptions/../networkInterfaces/..","private_ip":"10.0.0.4",
 *    "ip_forwarding_original":false,
 *    "routes":[{"table":"/subscriptions/../routeTables/..","name":"cloudroute-..",
 *               "dst":"100.96.0.0/11"}]}
 *
 * A route is recorded (and the state checkpointed) before its PUT, so a
 * crash between the two leaves teardown a table to look in; ownership is
 * still decided by name and next hop when the table is read again.
 *
 * Concurrency: NIC writes are GET-modify-PUT with If-Match; a 412 re-reads
 * and tries again.  Route replacements and deletions carry the etag the
 * plan saw; on 412 the route is read again and the change goes ahead only
 * if the route still is what the plan decided on (else it is left for the
 * next pass).  The first error stops the run.
 *
 * Fleet fast takeover (prov_options.proven, agent/fleet_takeover.h): the
 * new leader PUTs a route named for its own ha_group without If-Match (see
 * replace()); a route under another name is still deleted under its etag.
 * partial: the state's routes that the plan does not name stay recorded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "azure.h"
#include "providers/http.h"
#include "common/jsonutil.h"
#include "providers/pstate.h"

#define NIC_TRIES 3

/* ---- state ---- */

static struct json_object *
state_routes(struct json_object *state)
{
	return pstate_array(state, "routes");
}

static int
entry_is(struct json_object *e, const char *table, const char *name)
{
	struct json_object *t, *n;

	return json_object_object_get_ex(e, "table", &t) &&
	    json_object_object_get_ex(e, "name", &n) &&
	    az_id_equal(json_object_get_string(t), table) &&
	    strcasecmp(json_object_get_string(n), name) == 0;
}

static void
state_route_add(struct json_object *state, const char *table, const char *name,
    const struct prefix *dst)
{
	struct json_object *a = state_routes(state), *e;
	char d[PREFIX_STRLEN];
	size_t i;

	for (i = 0; i < json_object_array_length(a); i++)
		if (entry_is(json_object_array_get_idx(a, i), table, name))
			return;
	e = json_object_new_object();
	json_object_object_add(e, "table", json_object_new_string(table));
	json_object_object_add(e, "name", json_object_new_string(name));
	json_object_object_add(e, "dst", json_object_new_string(prefix_fmt(dst, d, sizeof(d))));
	json_object_array_add(a, e);
}

static void
state_route_del(struct json_object *state, const char *table, const char *name)
{
	struct json_object *a = state_routes(state);
	size_t i;

	for (i = json_object_array_length(a); i-- > 0;)
		if (entry_is(json_object_array_get_idx(a, i), table, name))
			json_object_array_del_idx(a, i, 1);
}

static void
state_identity(struct az_ctx *ctx, struct json_object *state)
{
	json_object_object_add(state, "provider", json_object_new_string("azure"));
	json_object_object_add(state, "vm", json_object_new_string(ctx->vm));
	json_object_object_add(state, "nic", json_object_new_string(ctx->nic));
	json_object_object_add(state, "private_ip", json_object_new_string(ctx->private_ip));
}

/* ---- NIC ---- */

/* GET the NIC document, set enableIPForwarding, PUT it back under its etag. */
static int
set_forwarding(struct az_ctx *ctx, int on)
{
	struct json_object *o = NULL, *p, *e;
	struct buf b;
	char etag[128];
	int r = 0, tries;

	buf_init(&b, HTTP_MAX_RESPONSE);
	for (tries = 0; tries < NIC_TRIES; tries++) {
		json_object_put(o);
		if ((r = az_get(ctx, ctx->nic, AZ_API_NETWORK, &b)) < 0)
			break;
		o = json_tokener_parse(b.data);
		if (o == NULL || !json_object_object_get_ex(o, "properties", &p) ||
		    !json_object_is_type(p, json_type_object) ||
		    !json_object_object_get_ex(o, "etag", &e)) {
			prov_set_error("network interface %s: unexpected document",
			    az_id_name(ctx->nic));
			r = -EBADMSG;
			break;
		}
		cr_strlcpy(etag, json_object_get_string(e), sizeof(etag));
		json_object_object_add(p, "enableIPForwarding", json_object_new_boolean(on));
		r = az_arm_call(&ctx->arm, "PUT", ctx->nic, AZ_API_NETWORK,
		    json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), etag, &b, NULL);
		if (r != -ESTALE)
			break;
		log_info("azure: NIC %s changed under us (412): reading it again",
		    az_id_name(ctx->nic));
	}
	json_object_put(o);
	buf_free(&b);
	return r;
}

/* ---- routes ---- */

static const struct az_route *
planned_route(struct az_ctx *ctx, const char *table, const char *name)
{
	size_t i, j;

	for (i = 0; i < ctx->n_tables; i++) {
		if (!az_id_equal(ctx->tables[i].id, table))
			continue;
		for (j = 0; j < ctx->tables[i].n; j++)
			if (strcasecmp(ctx->tables[i].routes[j].name, name) == 0)
				return &ctx->tables[i].routes[j];
	}
	return NULL;
}

static int
route_path(const char *table, const char *name, char *out, size_t len)
{
	if (!az_name_valid(name) || snprintf(out, len, "%s/routes/%s", table, name) >= (int)len)
		return -EINVAL;
	return 0;
}

static int
read_route(struct az_ctx *ctx, const char *table, const char *name, struct az_route *rt)
{
	char path[AZ_ID_LEN + 128];
	struct buf b;
	int r;

	if ((r = route_path(table, name, path, sizeof(path))) < 0)
		return r;
	buf_init(&b, HTTP_MAX_RESPONSE);
	if ((r = az_get(ctx, path, AZ_API_NETWORK, &b)) == 0) {
		/* A route document has the shape of a table's routes[] entry. */
		struct az_route_table t;
		struct buf w;

		buf_init(&w, HTTP_MAX_RESPONSE + 64);
		if ((r = buf_printf(&w, "{\"id\":\"x\",\"properties\":{\"routes\":[%s]}}",
		    b.data)) == 0 && (r = az_json_route_table(w.data, w.len, &t)) == 0) {
			if (t.n == 1)
				*rt = t.routes[0];
			else
				r = -EBADMSG;
			az_route_table_free(&t);
		}
		buf_free(&w);
	}
	buf_free(&b);
	return r;
}

/* A create carries no condition: a same-named route can only be a
 * same-group connector's, and a route under another name for the prefix
 * makes ARM answer RouteConflict. */
static int
put_route(struct az_ctx *ctx, const char *table, const char *name,
    const struct prefix *dst, const char *if_match)
{
	char path[AZ_ID_LEN + 128], body[512], d[PREFIX_STRLEN];
	struct buf b;
	int r;

	if ((r = route_path(table, name, path, sizeof(path))) < 0)
		return r;
	snprintf(body, sizeof(body), "{\"properties\":{\"addressPrefix\":\"%s\","
	    "\"nextHopType\":\"VirtualAppliance\",\"nextHopIpAddress\":\"%s\"}}",
	    prefix_fmt(dst, d, sizeof(d)), ctx->private_ip);
	buf_init(&b, HTTP_MAX_RESPONSE);
	r = az_arm_call(&ctx->arm, "PUT", path, AZ_API_NETWORK, body, if_match, &b, NULL);
	buf_free(&b);
	return r;
}

static int
delete_route(struct az_ctx *ctx, const char *table, const char *name, const char *if_match)
{
	char path[AZ_ID_LEN + 128];
	struct buf b;
	int r;

	if ((r = route_path(table, name, path, sizeof(path))) < 0)
		return r;
	buf_init(&b, HTTP_MAX_RESPONSE);
	r = az_arm_call(&ctx->arm, "DELETE", path, AZ_API_NETWORK, NULL, if_match, &b, NULL);
	buf_free(&b);
	return r == -ENOENT ? 0 : r;
}

/*
 * A conditional write (If-Match with the etag the plan saw) that got 412:
 * reads the route again; 1 when it still is what the plan decided on (same
 * next hop), with its new etag in etag; 0 when it changed; -errno.
 */
static int
still_as_planned(struct az_ctx *ctx, const char *table, const struct az_route *was,
    char *etag, size_t len)
{
	struct az_route now;
	int r;

	if ((r = read_route(ctx, table, was->name, &now)) < 0)
		return r == -ENOENT ? 0 : r;
	if (strcmp(now.next_hop_ip, was->next_hop_ip) != 0 ||
	    strcasecmp(now.next_hop_type, was->next_hop_type) != 0)
		return 0;
	cr_strlcpy(etag, now.etag, len);
	return 1;
}

/* Delete (theirs for a takeover, ours when unwanted) under the planned etag. */
static int
delete_planned(struct az_ctx *ctx, const char *table, const char *name)
{
	const struct az_route *was = planned_route(ctx, table, name);
	char etag[128];
	int r;

	r = delete_route(ctx, table, name, was != NULL && was->etag[0] ? was->etag : NULL);
	if (r != -ESTALE || was == NULL)
		return r;
	if ((r = still_as_planned(ctx, table, was, etag, sizeof(etag))) <= 0) {
		if (r == 0)
			log_info("azure: route %s changed since the plan: left for the next pass",
			    name);
		return r;
	}
	return delete_route(ctx, table, name, etag);
}

/*
 * proven: the route under our group's name is written unconditionally.  The
 * If-Match of a normal pass asks "does it still point where the plan saw
 * it?", and the etag a standby kept is often stale by the time it wins (the
 * old leader may have re-PUT the route since), which would cost a 412, a
 * GET and a second PUT.  The answer cannot change the decision: a route
 * named for our ha_group belongs to our site's connectors, and the election
 * just proved that its holder is no longer the leader and that we are, so
 * whatever it points at now it must point at us; the PUT is idempotent.
 */
static int
replace(struct az_ctx *ctx, const struct prov_change *c, const char *table,
    const char *ours, int proven)
{
	const struct az_route *was = planned_route(ctx, table, c->handle);
	char etag[128];
	int r;

	if (strcasecmp(c->handle, ours) != 0) {
		/* Another name holds the prefix: it goes first (one route per
		 * prefix and table), then ours is created. */
		if ((r = delete_planned(ctx, table, c->handle)) < 0)
			return r;
		return put_route(ctx, table, ours, &c->dst, NULL);
	}
	if (proven)
		return put_route(ctx, table, ours, &c->dst, NULL);
	r = put_route(ctx, table, ours, &c->dst, was != NULL ? was->etag : NULL);
	if (r != -ESTALE || was == NULL)
		return r;
	if ((r = still_as_planned(ctx, table, was, etag, sizeof(etag))) <= 0) {
		if (r == 0)
			prov_set_error("route %s in %s changed since the plan: not replaced",
			    ours, az_id_name(table));
		return r == 0 ? -ESTALE : r;
	}
	return put_route(ctx, table, ours, &c->dst, etag);
}

static int
exec_change(struct az_ctx *ctx, const struct prov_options *opts,
    const struct prov_change *c, struct json_object *state)
{
	char table[AZ_ID_LEN], ours[AZ_NAME_LEN];
	int r;

	if (c->action == PROV_FORWARDING || c->action == PROV_FORWARDING_RESTORE) {
		if (c->action == PROV_FORWARDING &&
		    !json_object_object_get_ex(state, "ip_forwarding_original", NULL))
			json_object_object_add(state, "ip_forwarding_original",
			    json_object_new_boolean(0));
		r = set_forwarding(ctx, c->action == PROV_FORWARDING);
		if (r == 0 && c->action == PROV_FORWARDING_RESTORE)
			json_object_object_del(state, "ip_forwarding_original");
		return r;
	}
	if (c->action == PROV_CONFLICT || c->table == NULL || c->handle == NULL)
		return 0;
	if (az_table_ref(c->table, ctx->inst.subscription, ctx->inst.resource_group, table,
	    sizeof(table)) < 0)
		return -EINVAL;
	if (az_route_name(opts != NULL ? opts->ha_group : "", &c->dst, ours, sizeof(ours)) < 0)
		cr_strlcpy(ours, c->handle, sizeof(ours));
	switch (c->action) {
	case PROV_KEEP:
		if (az_route_is_marked(c->handle) && strcmp(c->target, ctx->private_ip) == 0)
			state_route_add(state, table, c->handle, &c->dst);
		return 0;
	case PROV_DELETE:
		if ((r = delete_planned(ctx, table, c->handle)) == 0)
			state_route_del(state, table, c->handle);
		return r;
	case PROV_CREATE:
	case PROV_REPLACE:
		state_route_add(state, table, ours, &c->dst);
		if ((r = pstate_checkpoint(opts)) < 0)
			return r;
		if (c->action == PROV_CREATE)
			return put_route(ctx, table, ours, &c->dst, NULL);
		r = replace(ctx, c, table, ours, opts != NULL && opts->proven);
		if (r == 0 && strcasecmp(c->handle, ours) != 0)
			state_route_del(state, table, c->handle);
		return r;
	default:
		return 0;
	}
}

/* Whether state entry e is a route the plan kept, created or replaced
 * (a replacement is recorded under our name, not the one it replaced). */
static int
in_plan(struct az_ctx *ctx, const struct prov_options *opts, const struct prov_plan *plan,
    struct json_object *e)
{
	char table[AZ_ID_LEN], ours[AZ_NAME_LEN];
	size_t i;

	for (i = 0; i < plan->n; i++) {
		const struct prov_change *c = &plan->v[i];

		if ((c->action != PROV_KEEP && c->action != PROV_CREATE &&
		    c->action != PROV_REPLACE) || c->table == NULL || c->handle == NULL ||
		    az_table_ref(c->table, ctx->inst.subscription, ctx->inst.resource_group,
		    table, sizeof(table)) < 0)
			continue;
		if (entry_is(e, table, c->handle))
			return 1;
		if (c->action != PROV_KEEP && az_route_name(opts != NULL ? opts->ha_group : "",
		    &c->dst, ours, sizeof(ours)) == 0 && entry_is(e, table, ours))
			return 1;
	}
	return 0;
}

static void
log_calls(struct az_ctx *ctx, const char *what, unsigned int calls0, unsigned int mut0)
{
	if (ctx->arm.calls != calls0)
		log_info("azure: %s made %u ARM requests (%u writes)", what,
		    ctx->arm.calls - calls0, ctx->arm.mutating_calls - mut0);
}

int
az_apply(void *vctx, const struct prov_options *opts, const struct prov_plan *plan,
    struct json_object *state)
{
	struct az_ctx *ctx = vctx;
	unsigned int calls0 = ctx->arm.calls, mut0 = ctx->arm.mutating_calls;
	struct json_object *a;
	char line[512];
	size_t i;
	int r = 0, complete = opts == NULL || !opts->partial;

	prov_clear_error();
	state_identity(ctx, state);
	for (i = 0; i < plan->n; i++) {
		if ((r = exec_change(ctx, opts, &plan->v[i], state)) < 0) {
			log_warnx("azure: %s: %s", prov_change_fmt(&plan->v[i], line,
			    sizeof(line)), prov_last_error());
			complete = 0;
			break;
		}
	}
	/* Complete (and not a subset of a pass): ours is what the plan kept,
	 * created or replaced. */
	a = state_routes(state);
	for (i = json_object_array_length(a); complete && i-- > 0;)
		if (!in_plan(ctx, opts, plan, json_object_array_get_idx(a, i)))
			json_object_array_del_idx(a, i, 1);
	log_calls(ctx, "apply", calls0, mut0);
	return r;
}

/* ---- teardown ---- */

static int
teardown_plan(struct az_ctx *ctx, struct json_object *state, struct prov_plan *out)
{
	struct json_object *a, *e, *t;
	struct az_route_table tab;
	struct az_nic nic;
	char seen[16][AZ_ID_LEN];
	size_t i, j, n_seen = 0;
	int r;

	if ((r = az_read_nic(ctx, ctx->nic, &nic)) < 0)
		return r;
	if (!cr_json_bool(state, "ip_forwarding_original", 1) && nic.ip_forwarding == 1 &&
	    (r = prov_plan_addv(out, PROV_FORWARDING_RESTORE, NULL, NULL, az_id_name(ctx->nic),
	    ctx->nic, "(NIC IP forwarding on -> off, as before cloudroute)")) < 0)
		return r;
	a = state_routes(state);
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(e, "table", &t))
			continue;
		for (j = 0; j < n_seen && !az_id_equal(seen[j], json_object_get_string(t)); j++)
			;
		if (j < n_seen || n_seen == ARRAY_SIZE(seen))
			continue;
		cr_strlcpy(seen[n_seen++], json_object_get_string(t), AZ_ID_LEN);
		if ((r = az_read_table(ctx, json_object_get_string(t), &tab)) == -ENOENT)
			continue;
		if (r < 0)
			return r;
		/* Ours by name and next hop, whatever the state says of them. */
		for (j = 0; j < tab.n && r == 0; j++)
			if (tab.routes[j].has_dst && az_route_is_ours(&tab.routes[j],
			    ctx->private_ip))
				r = prov_plan_addv(out, PROV_DELETE, tab.label, &tab.routes[j].dst,
				    ctx->private_ip, tab.routes[j].name, "(ours)");
		az_route_table_free(&tab);
		if (r < 0)
			return r;
	}
	return 0;
}

int
az_teardown(void *vctx, const struct prov_options *opts, struct json_object *state,
    int dry_run, struct prov_plan *out)
{
	struct az_ctx *ctx = vctx;
	const char *nic = cr_json_str(state, "nic");
	unsigned int calls0 = ctx->arm.calls, mut0 = ctx->arm.mutating_calls;
	char line[512];
	size_t i, first = out->n;
	int r;

	prov_clear_error();
	if (nic == NULL)
		return 0;                /* nothing was ever applied */
	if (!az_id_equal(nic, ctx->nic)) {
		prov_set_error("the state belongs to NIC %s, this VM's is %s: nothing removed",
		    nic, ctx->nic);
		return -EINVAL;
	}
	az_tables_free(ctx->tables, ctx->n_tables);
	ctx->tables = NULL;
	ctx->n_tables = 0;
	if ((r = teardown_plan(ctx, state, out)) < 0 || dry_run)
		return r;
	for (i = first; i < out->n; i++) {
		if ((r = exec_change(ctx, opts, &out->v[i], state)) < 0) {
			log_warnx("azure: %s: %s", prov_change_fmt(&out->v[i], line,
			    sizeof(line)), prov_last_error());
			return r;
		}
	}
	json_object_object_add(state, "routes", json_object_new_array());
	json_object_object_del(state, "ip_forwarding_original");
	log_calls(ctx, "teardown", calls0, mut0);
	return 0;
}
