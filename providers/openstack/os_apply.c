/*
 * The OpenStack provider's writing side: extra routes through the atomic
 * PUT /v2.0/routers/{id}/add_extraroutes and remove_extraroutes calls (the
 * extraroute-atomic extension; never a PUT of the router's whole routes
 * list, which would race every other writer), allowed address pairs by
 * GET port + PUT {"port": {"allowed_address_pairs": [...]}} with
 * "If-Match: revision_number=N" (re-read on 412; security groups are never
 * sent), teardown, and the state records.
 *
 * Ownership is the state: a route or pair is recorded *before* the call
 * that creates it and the record is saved (opts->checkpoint), so a crash
 * between the call and the agent's own save still knows it is ours.  A
 * refused call takes its records back.  Removal forgets after success.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "common/jsonutil.h"
#include "providers/http.h"

#define PAIR_ATTEMPTS 5

/* ---- state records ---- */

static struct json_object *
arr(struct json_object *state, const char *k, int create)
{
	struct json_object *a;

	if (json_object_object_get_ex(state, k, &a) && json_object_is_type(a, json_type_array))
		return a;
	if (!create)
		return NULL;
	a = json_object_new_array();
	json_object_object_add(state, k, a);
	return a;
}

int
os_state_routes(struct json_object *state, struct os_owned_route **out, size_t *n)
{
	struct json_object *a = arr(state, "routes", 0), *e;
	const char *rt, *d, *nh;
	size_t i;

	*out = NULL;
	*n = 0;
	if (a == NULL)
		return 0;
	if ((*out = calloc(json_object_array_length(a) + 1, sizeof(**out))) == NULL)
		return -ENOMEM;
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		rt = cr_json_str(e, "router");
		d = cr_json_str(e, "destination");
		nh = cr_json_str(e, "nexthop");
		if (rt == NULL || d == NULL || nh == NULL ||
		    prefix_parse(d, &(*out)[*n].r.dst, 0) < 0 ||
		    prefix_parse_addr(nh, &(*out)[*n].r.nexthop) < 0) {
			log_warnx("openstack: state: ignoring a malformed route record");
			continue;
		}
		cr_strlcpy((*out)[*n].router, rt, sizeof((*out)[*n].router));
		(*n)++;
	}
	return 0;
}

int
os_state_pairs(struct json_object *state, const char *port, struct os_pair **out, size_t *n)
{
	struct json_object *a = arr(state, "pairs", 0), *e;
	const char *sp = cr_json_str(state, "port"), *ip, *mac;
	size_t i;

	*out = NULL;
	*n = 0;
	if (a == NULL)
		return 0;
	if (sp != NULL && strcmp(sp, port) != 0) {
		log_warnx("openstack: state records address pairs on port %s, not ours (%s): "
		    "left alone", sp, port);
		return 0;
	}
	if ((*out = calloc(json_object_array_length(a) + 1, sizeof(**out))) == NULL)
		return -ENOMEM;
	for (i = 0; i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if ((ip = cr_json_str(e, "ip_address")) == NULL ||
		    prefix_parse(ip, &(*out)[*n].ip, 1) < 0) {
			log_warnx("openstack: state: ignoring a malformed address pair record");
			continue;
		}
		mac = cr_json_str(e, "mac_address");
		cr_strlcpy((*out)[*n].mac, mac ? mac : "", sizeof((*out)[*n].mac));
		(*n)++;
	}
	return 0;
}

/* Index of the record equal to (router, r) in the routes array, or -1. */
static int
route_idx(struct json_object *a, const char *router, const struct os_route *r)
{
	struct json_object *e;
	struct prefix d, nh;
	const char *s;
	size_t i;

	for (i = 0; a != NULL && i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if ((s = cr_json_str(e, "router")) == NULL || strcmp(s, router) != 0 ||
		    (s = cr_json_str(e, "destination")) == NULL || prefix_parse(s, &d, 0) < 0 ||
		    (s = cr_json_str(e, "nexthop")) == NULL || prefix_parse_addr(s, &nh) < 0)
			continue;
		if (prefix_equal(&d, &r->dst) && prefix_equal(&nh, &r->nexthop))
			return (int)i;
	}
	return -1;
}

void
os_state_route(struct json_object *state, const char *router, const struct os_route *r,
    int add)
{
	struct json_object *a = arr(state, "routes", add), *e;
	char d[PREFIX_STRLEN], nh[PREFIX_STRLEN];
	int i = route_idx(a, router, r);

	if (add && i < 0) {
		e = json_object_new_object();
		json_object_object_add(e, "router", json_object_new_string(router));
		json_object_object_add(e, "destination",
		    json_object_new_string(prefix_fmt(&r->dst, d, sizeof(d))));
		json_object_object_add(e, "nexthop",
		    json_object_new_string(prefix_addr_fmt(&r->nexthop, nh, sizeof(nh))));
		json_object_array_add(a, e);
	} else if (!add && i >= 0) {
		json_object_array_del_idx(a, (size_t)i, 1);
	}
}

void
os_state_pair(struct json_object *state, const char *port, const struct os_pair *p, int add)
{
	struct json_object *a = arr(state, "pairs", add), *e;
	char ip[PREFIX_STRLEN];
	struct prefix x;
	const char *s;
	size_t i;

	for (i = 0; a != NULL && i < json_object_array_length(a); i++) {
		e = json_object_array_get_idx(a, i);
		if ((s = cr_json_str(e, "ip_address")) == NULL || prefix_parse(s, &x, 1) < 0 ||
		    !prefix_equal(&x, &p->ip))
			continue;
		if (!add)
			json_object_array_del_idx(a, i, 1);
		return;
	}
	if (!add)
		return;
	json_object_object_add(state, "port", json_object_new_string(port));
	e = json_object_new_object();
	json_object_object_add(e, "ip_address",
	    json_object_new_string(prefix_fmt(&p->ip, ip, sizeof(ip))));
	if (p->mac[0])
		json_object_object_add(e, "mac_address", json_object_new_string(p->mac));
	json_object_array_add(a, e);
}

static int
checkpoint(const struct os_opts *o)
{
	int r;

	if (o->checkpoint == NULL || (r = o->checkpoint(o->checkpoint_arg)) == 0)
		return 0;
	prov_set_error("cannot save the state before changing the cloud (%s): nothing "
	    "changed", strerror(-r));
	return r;
}

/* Adds a hint for the Neutron errors an operator can act on. */
static void
explain(const struct os_neutron_error *e, const char *what)
{
	char base[600];
	const char *hint = NULL;

	cr_strlcpy(base, prov_last_error(), sizeof(base));
	if (strcmp(e->type, "RoutesExhausted") == 0)
		hint = "the router's extra route quota (neutron max_routes) is reached";
	else if (strcmp(e->type, "InvalidRoutes") == 0)
		hint = "Neutron refused the routes (a nexthop must be on a subnet attached to "
		    "the router)";
	else if (strcmp(e->type, "AllowedAddressPairExhausted") == 0)
		hint = "the port's address pair quota (neutron max_allowed_address_pair) is "
		    "reached; route fewer prefixes or merge them";
	else if (strcmp(e->type, "AddressPairAndPortSecurityRequired") == 0)
		hint = "address pairs need port security enabled on the port";
	else if (e->status == 403)
		hint = "not allowed: the credential (application credential access rules or "
		    "Neutron policy) must allow this call";
	if (hint != NULL)
		prov_set_error("%s: %s (%s)", what, hint, base);
	else
		prov_set_error("%s: %s", what, base);
}

/* ---- extra routes ---- */

static int
is_route(const struct os_plan_item *it)
{
	return !it->pair && !it->portsec;
}

static struct json_object *
routes_body(const struct os_plan *p, const char *router, enum os_act act)
{
	struct json_object *root = json_object_new_object(), *rt = json_object_new_object();
	struct json_object *a = json_object_new_array(), *e;
	char d[PREFIX_STRLEN], nh[PREFIX_STRLEN];
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (!is_route(&p->v[i]) || p->v[i].act != act || strcmp(p->v[i].router, router) != 0)
			continue;
		e = json_object_new_object();
		json_object_object_add(e, "destination",
		    json_object_new_string(prefix_fmt(&p->v[i].dst, d, sizeof(d))));
		json_object_object_add(e, "nexthop",
		    json_object_new_string(prefix_addr_fmt(&p->v[i].nexthop, nh, sizeof(nh))));
		json_object_array_add(a, e);
	}
	json_object_object_add(rt, "routes", a);
	json_object_object_add(root, "router", rt);
	return root;
}

static void
record_routes(struct json_object *state, const struct os_plan *p, const char *router,
    enum os_act act, int add)
{
	struct os_route r;
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (!is_route(&p->v[i]) || p->v[i].act != act || strcmp(p->v[i].router, router) != 0)
			continue;
		r.dst = p->v[i].dst;
		r.nexthop = p->v[i].nexthop;
		os_state_route(state, router, &r, add);
	}
}

/*
 * A 404 from add/remove_extraroutes: either the router is gone (a remove
 * is then done: our routes went with it), or Neutron lacks the
 * extraroute-atomic extension (API reference: "Add extra routes to router",
 * Train and later), which answers 404 for the action itself while the
 * router is there.  Only a GET of the router tells them apart.
 */
static int
no_such_action(struct os_ctx *ctx, const char *router, const char *verb, enum os_act act)
{
	char path[200];
	struct buf out;
	int r;

	buf_init(&out, HTTP_MAX_RESPONSE);
	snprintf(path, sizeof(path), "/routers/%s", router);
	r = os_neutron(&ctx->cl, "GET", path, NULL, -1, &out, NULL);
	buf_free(&out);
	if (r == -ENOENT)
		return act == OS_REMOVE ? 0 : -ENOENT;
	if (r < 0)
		return r;
	prov_set_error("%s on router %s: HTTP 404 while the router exists: this Neutron "
	    "has no extraroute-atomic extension (openstack extension show extraroute-atomic); "
	    "cloudroute changes extra routes only through it (a PUT of the whole list would "
	    "drop a route another writer added meanwhile)", verb, router);
	return -EOPNOTSUPP;
}

static int
router_call(struct os_ctx *ctx, const struct os_opts *o, const struct os_plan *p,
    const char *router, enum os_act act, struct json_object *state)
{
	struct json_object *body = routes_body(p, router, act);
	const char *verb = act == OS_ADD ? "add_extraroutes" : "remove_extraroutes";
	struct os_neutron_error err;
	char path[200], what[160];
	struct buf out;
	int r;

	buf_init(&out, HTTP_MAX_RESPONSE);
	snprintf(path, sizeof(path), "/routers/%s/%s", router, verb);
	if (act == OS_ADD) {
		record_routes(state, p, router, act, 1);
		if ((r = checkpoint(o)) < 0) {
			record_routes(state, p, router, act, 0);
			goto out;
		}
	}
	r = os_neutron(&ctx->cl, "PUT", path,
	    json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), -1, &out, &err);
	if (r == -ENOENT)
		r = no_such_action(ctx, router, verb, act);
	if (r == 0 && act == OS_REMOVE)
		record_routes(state, p, router, act, 0);
	if (r < 0) {
		/* Refused for sure: not ours.  Transport errors keep the records
		 * (the call may have happened; the next plan sorts it out). */
		if (act == OS_ADD && (r == -EINVAL || r == -EBUSY || r == -EACCES ||
		    r == -ENOENT || r == -EOPNOTSUPP))
			record_routes(state, p, router, act, 0);
		if (r != -EOPNOTSUPP) {
			snprintf(what, sizeof(what), "%s on router %s", verb, router);
			explain(&err, what);
		}
	}
out:
	buf_free(&out);
	json_object_put(body);
	return r;
}

/*
 * The additions for one router that are still missing: the router is read
 * again first, so that a route someone else added since the plan (the same
 * one, or another nexthop for our prefix) is never recorded as ours.
 */
static int
still_missing(struct os_ctx *ctx, const struct os_plan *p, const char *router,
    struct os_plan *out)
{
	struct os_router cur;
	size_t i, j;
	int r, there;

	if ((r = os_get_router(ctx, router, &cur)) < 0)
		return r;
	for (i = 0; i < p->n && r == 0; i++) {
		if (!is_route(&p->v[i]) || p->v[i].act != OS_ADD ||
		    strcmp(p->v[i].router, router) != 0)
			continue;
		for (j = 0, there = 0; j < cur.n_routes && !there; j++)
			there = prefix_equal(&cur.routes[j].dst, &p->v[i].dst);
		if (!there)
			r = os_plan_add_item(out, &p->v[i]);
	}
	os_router_free(&cur);
	return r;
}

static int
apply_routes(struct os_ctx *ctx, const struct os_opts *o, const struct os_plan *p,
    enum os_act act, struct json_object *state)
{
	struct os_plan fresh;
	size_t i, j;
	int r, seen;

	for (i = 0; i < p->n; i++) {
		if (!is_route(&p->v[i]) || p->v[i].act != act)
			continue;
		for (j = 0, seen = 0; j < i && !seen; j++)
			seen = is_route(&p->v[j]) && p->v[j].act == act &&
			    strcmp(p->v[j].router, p->v[i].router) == 0;
		if (seen)
			continue;
		if (act == OS_REMOVE) {
			r = router_call(ctx, o, p, p->v[i].router, act, state);
		} else {
			memset(&fresh, 0, sizeof(fresh));
			if ((r = still_missing(ctx, p, p->v[i].router, &fresh)) == 0 && fresh.n > 0)
				r = router_call(ctx, o, &fresh, p->v[i].router, act, state);
			os_plan_free(&fresh);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- address pairs ---- */

struct pairs {
	struct os_pair *v;
	size_t n;
};

static int
collect_pairs(const struct os_plan *p, enum os_act act, struct pairs *out)
{
	size_t i;

	out->n = 0;
	if ((out->v = calloc(p->n + 1, sizeof(*out->v))) == NULL)
		return -ENOMEM;
	for (i = 0; i < p->n; i++)
		if (p->v[i].pair && p->v[i].act == act) {
			out->v[out->n].ip = p->v[i].dst;
			out->n++;
		}
	return 0;
}

/* One GET + PUT round; -ESTALE when the port changed under us. */
static int
pairs_round(struct os_ctx *ctx, const struct os_opts *o, const struct pairs *add,
    const struct pairs *del, struct json_object *state)
{
	struct json_object *body = NULL, *pt;
	struct os_neutron_error err;
	struct os_port port;
	struct pairs fresh = { NULL, 0 };
	char path[128];
	struct buf out;
	size_t i;
	int r, gone;

	buf_init(&out, HTTP_MAX_RESPONSE);
	if ((r = os_port_now(ctx, &port)) < 0)
		goto out;
	if ((fresh.v = calloc(add->n + 1, sizeof(*fresh.v))) == NULL) {
		r = -ENOMEM;
		goto done;
	}
	/* With port security off no pair is needed (and Neutron takes none). */
	for (i = 0; i < add->n && port.port_security != 0; i++)
		if (!os_pair_present(&port, &add->v[i]))
			fresh.v[fresh.n++] = add->v[i];
	for (i = 0, gone = 1; i < del->n; i++)
		gone &= !os_pair_present(&port, &del->v[i]);
	if (fresh.n == 0 && gone) {
		/* Nothing left to write (another writer got there first). */
		for (i = 0; i < del->n; i++)
			os_state_pair(state, ctx->port, &del->v[i], 0);
		goto done;
	}
	for (i = 0; i < fresh.n; i++)
		os_state_pair(state, ctx->port, &fresh.v[i], 1);
	if (fresh.n > 0 && (r = checkpoint(o)) < 0)
		goto undo;
	body = json_object_new_object();
	pt = json_object_new_object();
	json_object_object_add(pt, "allowed_address_pairs",
	    os_pairs_merge(&port, fresh.v, fresh.n, del->v, del->n));
	json_object_object_add(body, "port", pt);
	snprintf(path, sizeof(path), "/ports/%s", ctx->port);
	r = os_neutron(&ctx->cl, "PUT", path,
	    json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), port.revision,
	    &out, &err);
	if (r == 0) {
		for (i = 0; i < del->n; i++)
			os_state_pair(state, ctx->port, &del->v[i], 0);
		goto done;
	}
	if (r != -ESTALE)
		explain(&err, "allowed_address_pairs on our port");
undo:
	/* Not applied for sure (412, refused, state not saved): not ours.  A
	 * transport error keeps them: the PUT may have happened. */
	if (r != -ETIMEDOUT && r != -EIO && r != -EAGAIN && r != -ECONNREFUSED)
		for (i = 0; i < fresh.n; i++)
			os_state_pair(state, ctx->port, &fresh.v[i], 0);
done:
	os_port_free(&port);
out:
	free(fresh.v);
	json_object_put(body);
	buf_free(&out);
	return r;
}

static int
apply_pairs(struct os_ctx *ctx, const struct os_opts *o, const struct os_plan *p,
    struct json_object *state)
{
	struct pairs add = { 0 }, del = { 0 };
	int r, attempt;

	if ((r = collect_pairs(p, OS_ADD, &add)) < 0 || (r = collect_pairs(p, OS_REMOVE, &del)) < 0)
		goto out;
	if (add.n == 0 && del.n == 0)
		goto out;
	for (attempt = 0; attempt < PAIR_ATTEMPTS; attempt++)
		if ((r = pairs_round(ctx, o, &add, &del, state)) != -ESTALE)
			goto out;
	prov_set_error("port %s changed under every one of %d updates (HTTP 412): "
	    "another writer is busy; retried next pass", ctx->port, PAIR_ATTEMPTS);
out:
	free(add.v);
	free(del.v);
	return r;
}

/* ---- port_security_enabled ---- */

static int
portsec_round(struct os_ctx *ctx, int enable)
{
	struct os_neutron_error err;
	struct os_port port;
	char path[128], body[96];
	struct buf out;
	int r;

	if ((r = os_port_now(ctx, &port)) < 0)
		return r;
	buf_init(&out, HTTP_MAX_RESPONSE);
	snprintf(path, sizeof(path), "/ports/%s", ctx->port);
	snprintf(body, sizeof(body), "{\"port\":{\"port_security_enabled\":%s}}",
	    enable ? "true" : "false");
	if (port.port_security != enable)
		r = os_neutron(&ctx->cl, "PUT", path, body, port.revision, &out, &err);
	if (r < 0 && r != -ESTALE) {
		if (strcmp(err.type, "PortSecurityPortHasSecurityGroup") == 0)
			prov_set_error("Neutron refuses port_security_enabled false while port %s "
			    "has security groups; remove them first (openstack port set "
			    "--no-security-group %s): cloudroute never changes security groups, "
			    "or use \"port_security\": \"keep\" (address pairs)", ctx->port,
			    ctx->port);
		else if (strcmp(err.type, "AddressPairAndPortSecurityRequired") == 0)
			prov_set_error("Neutron refuses port_security_enabled false while port %s "
			    "has allowed address pairs that are not cloudroute's; remove them "
			    "first", ctx->port);
		else
			explain(&err, "port_security_enabled on our port");
	}
	os_port_free(&port);
	buf_free(&out);
	return r;
}

static int
apply_portsec(struct os_ctx *ctx, const struct os_plan *p, struct json_object *state)
{
	int r = 0, attempt, enable = -1;
	size_t i;

	for (i = 0; i < p->n; i++)
		if (p->v[i].portsec && (p->v[i].act == OS_ADD || p->v[i].act == OS_REMOVE))
			enable = p->v[i].act == OS_REMOVE;
	if (enable < 0)
		return 0;
	for (attempt = 0; attempt < PAIR_ATTEMPTS; attempt++)
		if ((r = portsec_round(ctx, enable)) != -ESTALE)
			break;
	if (r == -ESTALE)
		prov_set_error("port %s changed under every update (HTTP 412)", ctx->port);
	if (r == 0 && enable)
		json_object_object_del(state, "port_security_original");
	return r;
}

int
os_ctx_apply(struct os_ctx *ctx, const struct os_opts *o, const struct os_plan *p,
    struct json_object *state)
{
	int r;

	prov_clear_error();
	/* Pairs first: the router sends traffic here only once the port takes
	 * it; and ours must be gone before port security can be turned off. */
	if ((r = apply_pairs(ctx, o, p, state)) < 0 || (r = apply_portsec(ctx, p, state)) < 0 ||
	    (r = apply_routes(ctx, o, p, OS_ADD, state)) < 0 ||
	    (r = apply_routes(ctx, o, p, OS_REMOVE, state)) < 0)
		return r;
	return 0;
}

int
os_ctx_teardown(struct os_ctx *ctx, const struct os_opts *o, struct json_object *state,
    int dry_run, struct os_plan *out)
{
	struct prefix_set none = { 0 };
	struct os_opts t = *o;
	int r;

	/* Nothing desired, no target router: the plan removes exactly ours. */
	t.pairs = 0;
	t.portsec_off = 0;
	t.tables = OS_TABLES_LIST;
	t.routers = NULL;
	t.n_routers = 0;
	t.desired = &none;
	if ((r = os_ctx_plan(ctx, &t, state, out)) < 0 || dry_run)
		return r;
	return os_ctx_apply(ctx, &t, out, state);
}
