/*
 * The OpenStack planner: a pure function from what Neutron shows (our
 * port, the routers' extra routes), what we want (prefixes routed to our
 * fixed IP) and what the state records as ours, to a list of items.
 *
 * Extra routes, per target router and desired prefix P (nexthop N = us):
 *   (P, N) there, recorded         KEEP
 *   (P, N) there, not recorded     KEEP_FOREIGN (there before cloudroute: never ours)
 *   (P, X) there, X != N           CONFLICT (shown, never touched; no ECMP added)
 *   nothing for P                  ADD
 * Recorded routes that are no longer wanted (prefix gone, nexthop changed,
 * router no longer a target): REMOVE when still there, else DROP.
 * Address pairs work the same way on our port, by ip_address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "os.h"

int
os_plan_add_item(struct os_plan *p, const struct os_plan_item *it)
{
	struct os_plan_item *nv;
	size_t ncap;

	if (p->n == p->cap) {
		ncap = p->cap ? 2 * p->cap : 16;
		if ((nv = realloc(p->v, ncap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		p->v = nv;
		p->cap = ncap;
	}
	p->v[p->n++] = *it;
	return 0;
}

void
os_plan_free(struct os_plan *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

static int
item(struct os_plan *p, enum os_act a, int pair, const char *router,
    const struct prefix *dst, const struct prefix *nh, const char *mac)
{
	struct os_plan_item it;

	memset(&it, 0, sizeof(it));
	it.act = a;
	it.pair = pair;
	if (router != NULL)
		cr_strlcpy(it.router, router, sizeof(it.router));
	it.dst = *dst;
	if (nh != NULL)
		it.nexthop = *nh;
	if (mac != NULL)
		cr_strlcpy(it.mac, mac, sizeof(it.mac));
	return os_plan_add_item(p, &it);
}

static int
route_eq(const struct os_route *r, const struct prefix *dst, const struct prefix *nh)
{
	return prefix_equal(&r->dst, dst) && prefix_equal(&r->nexthop, nh);
}

static int
owned_route(const struct os_plan_input *in, const char *router, const struct prefix *dst,
    const struct prefix *nh)
{
	size_t i;

	for (i = 0; i < in->n_owned; i++)
		if (strcmp(in->owned[i].router, router) == 0 &&
		    route_eq(&in->owned[i].r, dst, nh))
			return 1;
	return 0;
}

/* Our nexthop for prefixes of d's family, or NULL. */
static const struct prefix *
nexthop_for(const struct os_plan_input *in, const struct prefix *d)
{
	if (in->our_ip->family == d->family)
		return in->our_ip;
	if (in->our_ip6 != NULL && in->our_ip6->family == d->family)
		return in->our_ip6;
	return NULL;
}

static int
plan_prefix(const struct os_plan_input *in, const struct os_router *rt,
    const struct prefix *d, const struct prefix *me, struct os_plan *out)
{
	int mine = 0, others = 0, r;
	size_t i;

	for (i = 0; i < rt->n_routes; i++) {
		if (!prefix_equal(&rt->routes[i].dst, d))
			continue;
		if (prefix_equal(&rt->routes[i].nexthop, me)) {
			mine = 1;
			continue;
		}
		others = 1;
		if ((r = item(out, OS_CONFLICT, 0, rt->id, d, &rt->routes[i].nexthop, NULL)) < 0)
			return r;
	}
	if (mine)
		return item(out, owned_route(in, rt->id, d, me) ? OS_KEEP : OS_KEEP_FOREIGN,
		    0, rt->id, d, me, NULL);
	return others ? 0 : item(out, OS_ADD, 0, rt->id, d, me, NULL);
}

static const struct os_router *
find_router(const struct os_plan_input *in, const char *id, int *target)
{
	size_t i;

	for (i = 0; i < in->n_routers; i++)
		if (strcmp(in->routers[i].id, id) == 0) {
			*target = i < in->n_targets;
			return &in->routers[i];
		}
	return NULL;
}

/* A recorded route is still wanted when it is what plan_prefix keeps or adds. */
static int
still_wanted(const struct os_plan_input *in, const struct os_owned_route *o, int target)
{
	const struct prefix *me = nexthop_for(in, &o->r.dst);

	return target && me != NULL && prefix_equal(&o->r.nexthop, me) &&
	    in->desired != NULL && prefix_set_has(in->desired, &o->r.dst);
}

static int
plan_owned_routes(const struct os_plan_input *in, struct os_plan *out)
{
	const struct os_owned_route *o;
	const struct os_router *rt;
	size_t i, j;
	int target = 0, there, r;

	for (i = 0; i < in->n_owned; i++) {
		o = &in->owned[i];
		rt = find_router(in, o->router, &target);
		if (rt != NULL && still_wanted(in, o, target))
			continue;
		there = 0;
		for (j = 0; rt != NULL && j < rt->n_routes; j++)
			there |= route_eq(&rt->routes[j], &o->r.dst, &o->r.nexthop);
		if ((r = item(out, there ? OS_REMOVE : OS_DROP, 0, o->router, &o->r.dst,
		    &o->r.nexthop, NULL)) < 0)
			return r;
	}
	return 0;
}

int
os_pair_present(const struct os_port *port, const struct os_pair *p)
{
	const char *want = p->mac[0] ? p->mac : port->mac, *have;
	size_t i;

	/* An absent mac_address means the port's own MAC (Neutron fills it in). */
	for (i = 0; i < port->n_pairs; i++) {
		have = port->pairs[i].mac[0] ? port->pairs[i].mac : port->mac;
		if (prefix_equal(&port->pairs[i].ip, &p->ip) && strcasecmp(have, want) == 0)
			return 1;
	}
	return 0;
}

static int
pair_owned(const struct os_plan_input *in, const struct prefix *ip)
{
	size_t i;

	for (i = 0; i < in->n_owned_pairs; i++)
		if (prefix_equal(&in->owned_pairs[i].ip, ip))
			return 1;
	return 0;
}

static int
plan_pairs(const struct os_plan_input *in, struct os_plan *out)
{
	const struct os_port *port = in->port;
	struct os_pair want;
	size_t i;
	int r, ps_off = port->port_security == 0 || !in->want_pairs || in->want_portsec_off;

	for (i = 0; !ps_off && in->desired != NULL && i < in->desired->n; i++) {
		memset(&want, 0, sizeof(want));
		want.ip = in->desired->v[i];
		if (os_pair_present(port, &want))
			r = item(out, pair_owned(in, &want.ip) ? OS_KEEP : OS_KEEP_FOREIGN, 1, NULL,
			    &want.ip, NULL, port->mac);
		else
			r = item(out, OS_ADD, 1, NULL, &want.ip, NULL, port->mac);
		if (r < 0)
			return r;
	}
	for (i = 0; i < in->n_owned_pairs; i++) {
		const struct os_pair *o = &in->owned_pairs[i];

		if (!ps_off && in->desired != NULL && prefix_set_has(in->desired, &o->ip))
			continue;
		if ((r = item(out, os_pair_present(port, o) ? OS_REMOVE : OS_DROP, 1, NULL,
		    &o->ip, NULL, o->mac)) < 0)
			return r;
	}
	return 0;
}

/* port_security_enabled: off when configured; back on when we turned it off. */
static int
plan_portsec(const struct os_plan_input *in, struct os_plan *out)
{
	struct os_plan_item it;
	int ps = in->port->port_security;

	memset(&it, 0, sizeof(it));
	it.portsec = 1;
	if (in->want_portsec_off && ps == 1)
		it.act = OS_ADD;
	else if (!in->want_portsec_off && in->portsec_recorded && ps == 0)
		it.act = OS_REMOVE;
	else if (!in->want_portsec_off && in->portsec_recorded)
		it.act = OS_DROP;
	else
		return 0;
	return os_plan_add_item(out, &it);
}

int
os_plan_compute(const struct os_plan_input *in, struct os_plan *out)
{
	const struct prefix *d, *me;
	size_t i, j;
	int r;

	for (i = 0; in->desired != NULL && i < in->desired->n; i++) {
		d = &in->desired->v[i];
		if ((me = nexthop_for(in, d)) == NULL) {
			if ((r = item(out, OS_SKIP, 0, NULL, d, NULL, NULL)) < 0)
				return r;
			continue;
		}
		for (j = 0; j < in->n_targets; j++)
			if ((r = plan_prefix(in, &in->routers[j], d, me, out)) < 0)
				return r;
	}
	if ((r = plan_owned_routes(in, out)) < 0)
		return r;
	if (in->port == NULL)
		return 0;
	if ((r = plan_portsec(in, out)) < 0)
		return r;
	return plan_pairs(in, out);
}

static struct json_object *
pair_json(const char *ip, const char *mac)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ip_address", json_object_new_string(ip));
	if (mac != NULL && *mac != '\0')
		json_object_object_add(o, "mac_address", json_object_new_string(mac));
	return o;
}

static int
in_list(const struct os_pair *v, size_t n, const struct os_pair *p, const struct os_port *port)
{
	struct os_port one = *port;
	size_t i;

	one.pairs = (struct os_pair *)p;
	one.n_pairs = 1;
	for (i = 0; i < n; i++)
		if (os_pair_present(&one, &v[i]))
			return 1;
	return 0;
}

struct json_object *
os_pairs_merge(const struct os_port *port, const struct os_pair *addv, size_t n_add,
    const struct os_pair *del, size_t n_del)
{
	struct json_object *a = json_object_new_array();
	char ip[PREFIX_STRLEN];
	size_t i;

	for (i = 0; i < port->n_pairs; i++) {
		if (in_list(del, n_del, &port->pairs[i], port))
			continue;
		json_object_array_add(a, pair_json(port->pairs[i].text[0] ? port->pairs[i].text :
		    prefix_fmt(&port->pairs[i].ip, ip, sizeof(ip)), port->pairs[i].mac));
	}
	for (i = 0; i < n_add; i++) {
		if (os_pair_present(port, &addv[i]))
			continue;
		json_object_array_add(a, pair_json(prefix_fmt(&addv[i].ip, ip, sizeof(ip)),
		    NULL));
	}
	return a;
}
