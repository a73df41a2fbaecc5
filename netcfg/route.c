/*
 * Routes in the main table through libnl-route-3.  cloudroute marks its
 * routes with protocol NC_RTPROT_CLOUDROUTE and only ever deletes routes
 * that carry that mark (the kernel matches it: see nc_route_del).  Adding
 * and deleting are one netlink request each, never a dump, so that N
 * routes cost O(N); a dump names each route's device from a small cache.
 */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/cache.h>
#include <netlink/route/route.h>
#include <netlink/route/nexthop.h>

#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

/* The kernel stores IPv6 routes added with metric 0 at this metric. */
#define IP6_RT_PRIO_USER 1024

static uint32_t
norm_metric(int family, uint32_t metric)
{
	return family == AF_INET6 && metric == 0 ? IP6_RT_PRIO_USER : metric;
}

/* Interface names by index, for one dump: routes share a few interfaces,
 * and if_indextoname costs a socket and an ioctl per call. */
#define IFCACHE_N 16
struct ifcache {
	int idx[IFCACHE_N];
	char name[IFCACHE_N][IF_NAMESIZE];
	unsigned int n, next;
};

static void
ifname_of(struct ifcache *c, int ifindex, char *out)
{
	unsigned int i;

	out[0] = '\0';
	if (ifindex <= 0)
		return;
	for (i = 0; c != NULL && i < c->n; i++) {
		if (c->idx[i] == ifindex) {
			memcpy(out, c->name[i], IF_NAMESIZE);
			return;
		}
	}
	if (if_indextoname((unsigned int)ifindex, out) == NULL) {
		out[0] = '\0';
		return;
	}
	if (c == NULL)
		return;
	i = c->n < IFCACHE_N ? c->n++ : c->next++ % IFCACHE_N;
	c->idx[i] = ifindex;
	memcpy(c->name[i], out, IF_NAMESIZE);
}

/* Fills r from a libnl route; -EINVAL if it has no usable destination. */
static int
route_fill(struct rtnl_route *rt, struct nc_route *r, struct ifcache *ic)
{
	struct rtnl_nexthop *nh;
	struct nl_addr *gw;
	int ifindex = 0;

	memset(r, 0, sizeof(*r));
	if (nc_prefix_from_nl(rtnl_route_get_dst(rt), &r->dst) < 0)
		return -EINVAL;
	r->metric = rtnl_route_get_priority(rt);
	r->protocol = rtnl_route_get_protocol(rt);
	/* Multipath: the first nexthop stands for the route. */
	if (rtnl_route_get_nnexthops(rt) > 0 &&
	    (nh = rtnl_route_nexthop_n(rt, 0)) != NULL) {
		ifindex = rtnl_route_nh_get_ifindex(nh);
		gw = rtnl_route_nh_get_gateway(nh);
		if (gw && nc_prefix_from_nl(gw, &r->gateway) == 0) {
			r->gateway.len = (uint8_t)(prefix_addrlen(&r->gateway) * 8);
			r->has_gateway = 1;
		}
	}
	ifname_of(ic, ifindex, r->ifname);
	return 0;
}

static int
route_wanted(struct rtnl_route *rt)
{
	return rtnl_route_get_table(rt) == RT_TABLE_MAIN &&
	    rtnl_route_get_type(rt) == RTN_UNICAST &&
	    (rtnl_route_get_family(rt) == AF_INET || rtnl_route_get_family(rt) == AF_INET6);
}

int
nc_route_list(const struct prefix *within, struct nc_route **out, size_t *n)
{
	struct nc_nl nl;
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	struct nc_route *v = NULL, *nv, cur;
	struct ifcache ic = { .n = 0 };
	size_t cnt = 0, cap = 0;
	int r;

	*out = NULL;
	*n = 0;
	if ((r = nc_nl_open(&nl)) < 0)
		return r;
	r = rtnl_route_alloc_cache(nl.sk, AF_UNSPEC, 0, &cache);
	if ((r = nc_nl_result(&nl, r, "dump routes")) < 0)
		goto out;
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		if (!route_wanted((struct rtnl_route *)o) ||
		    route_fill((struct rtnl_route *)o, &cur, &ic) < 0)
			continue;
		if (within && !prefix_contains(within, &cur.dst))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				r = nc_fail(-ENOMEM, "route list");
				goto out;
			}
			v = nv;
		}
		v[cnt++] = cur;
	}
	*out = v;
	*n = cnt;
	v = NULL;
	r = 0;
out:
	free(v);
	if (cache)
		nl_cache_free(cache);
	nc_nl_close(&nl);
	return r;
}

/* A route object for dst via ifindex in the main table with our protocol. */
static struct rtnl_route *
route_build(const struct prefix *dst, int ifindex, uint32_t metric)
{
	struct rtnl_route *rt;
	struct rtnl_nexthop *nh;
	struct nl_addr *a;

	if ((rt = rtnl_route_alloc()) == NULL)
		return NULL;
	if ((a = nc_prefix_to_nl(dst)) == NULL || rtnl_route_set_dst(rt, a) < 0)
		goto fail;
	nl_addr_put(a);
	a = NULL;
	if (ifindex > 0) {              /* 0: any device (a delete) */
		if ((nh = rtnl_route_nh_alloc()) == NULL)
			goto fail;
		rtnl_route_nh_set_ifindex(nh, ifindex);
		rtnl_route_add_nexthop(rt, nh);
	}
	rtnl_route_set_table(rt, RT_TABLE_MAIN);
	rtnl_route_set_protocol(rt, NC_RTPROT_CLOUDROUTE);
	rtnl_route_set_type(rt, RTN_UNICAST);
	/* No gateway: the destination is on the link (the tunnel). */
	rtnl_route_set_scope(rt, RT_SCOPE_LINK);
	rtnl_route_set_priority(rt, norm_metric(dst->family, metric));
	return rt;
fail:
	if (a)
		nl_addr_put(a);
	rtnl_route_put(rt);
	return NULL;
}

int
nc_route_add(const struct prefix *dst, const char *ifname, uint32_t metric)
{
	struct nc_nl nl = { 0 };
	struct rtnl_route *rt = NULL;
	char what[PREFIX_STRLEN + IF_NAMESIZE + 48], pb[PREFIX_STRLEN];
	int idx, r;

	snprintf(what, sizeof(what), "add route %s dev %s metric %u",
	    prefix_fmt(dst, pb, sizeof(pb)), ifname ? ifname : "", metric);
	if (!prefix_is_network(dst)) {
		nc_set_error("%s: host bits set", what);
		return -EINVAL;
	}
	if ((idx = nc_link_index(ifname)) < 0)
		return idx;
	if ((r = nc_nl_open(&nl)) < 0)
		return r;
	if ((rt = route_build(dst, idx, metric)) == NULL) {
		r = nc_fail(-ENOMEM, what);
		goto out;
	}
	nc_nl_reset(&nl);
	/* rtnl_route_add adds NLM_F_CREATE and waits for the ACK. */
	r = nc_nl_result(&nl, rtnl_route_add(nl.sk, rt, NLM_F_EXCL), what);
out:
	if (rt)
		rtnl_route_put(rt);
	nc_nl_close(&nl);
	return r;
}

/* Finds the live route dst [dev ifname] metric; -ENOENT if none. */
static int
route_find(const struct prefix *dst, const char *ifname, uint32_t metric,
    struct nc_route *found)
{
	struct nc_route *v = NULL;
	size_t n = 0, i;
	int r;

	if ((r = nc_route_list(dst, &v, &n)) < 0)
		return r;
	r = -ENOENT;
	for (i = 0; i < n; i++) {
		if (!prefix_equal(&v[i].dst, dst) ||
		    v[i].metric != norm_metric(dst->family, metric) ||
		    (ifname && strcmp(v[i].ifname, ifname) != 0))
			continue;
		*found = v[i];
		r = 0;
		if (v[i].protocol == NC_RTPROT_CLOUDROUTE)
			break;
	}
	free(v);
	return r;
}

/* After a refused delete: why (nothing there, or not ours). */
static int
route_del_why(const struct prefix *dst, const char *ifname, uint32_t metric,
    const char *what)
{
	struct nc_route cur;
	int r;

	if ((r = route_find(dst, ifname, metric, &cur)) < 0) {
		if (r == -ENOENT)
			nc_set_error("%s: no such route", what);
		return r;
	}
	if (cur.protocol != NC_RTPROT_CLOUDROUTE)
		nc_set_error("%s: route has protocol %d, not ours (%d); left alone",
		    what, cur.protocol, NC_RTPROT_CLOUDROUTE);
	else
		nc_set_error("%s: the kernel refused to delete it", what);
	return -ENOENT;
}

/*
 * Deleted by its exact key (destination, main table, metric, device when
 * given) with our protocol: the kernel itself matches the protocol (IPv4
 * fib_table_delete, IPv6 ip6_route_del), so a route that is not ours is
 * never removed, and nothing is listed first (a delete per route stays
 * O(1) with thousands of routes).  Only a refused delete reads the table,
 * to say why.
 */
int
nc_route_del(const struct prefix *dst, const char *ifname, uint32_t metric)
{
	struct nc_nl nl = { 0 };
	struct rtnl_route *rt = NULL;
	char what[PREFIX_STRLEN + IF_NAMESIZE + 48], pb[PREFIX_STRLEN];
	int idx = 0, r;

	snprintf(what, sizeof(what), "delete route %s dev %s metric %u",
	    prefix_fmt(dst, pb, sizeof(pb)), ifname ? ifname : "", metric);
	if (ifname != NULL && *ifname == '\0')
		ifname = NULL;
	if (ifname != NULL && (idx = nc_link_index(ifname)) < 0)
		return idx == -ENODEV ? -ENOENT : idx;   /* no device: no such route */
	if ((r = nc_nl_open(&nl)) < 0)
		return r;
	if ((rt = route_build(dst, idx, metric)) == NULL) {
		r = nc_fail(-ENOMEM, what);
		goto out;
	}
	/* Scope nowhere matches any scope; protocol makes the kernel check ours. */
	rtnl_route_set_scope(rt, RT_SCOPE_NOWHERE);
	nc_nl_reset(&nl);
	r = nc_nl_result(&nl, rtnl_route_delete(nl.sk, rt, 0), what);
	if (r == -ESRCH)
		r = route_del_why(dst, ifname, metric, what);
out:
	if (rt)
		rtnl_route_put(rt);
	nc_nl_close(&nl);
	return r;
}

/* Lowest-metric default route of one family in the main table. */
static int
default_of(struct nl_cache *cache, int family, char *ifname, size_t len)
{
	struct nl_object *o;
	struct nc_route cur;
	uint32_t best = UINT32_MAX;
	int found = 0;

	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		if (rtnl_route_get_family((struct rtnl_route *)o) != family ||
		    !route_wanted((struct rtnl_route *)o) ||
		    route_fill((struct rtnl_route *)o, &cur, NULL) < 0)
			continue;
		if (cur.dst.len != 0 || cur.ifname[0] == '\0')
			continue;
		if (!found || cur.metric < best) {
			cr_strlcpy(ifname, cur.ifname, len);
			best = cur.metric;
			found = 1;
		}
	}
	return found ? 0 : -ENOENT;
}

int
nc_default_ifname(char *ifname, size_t len)
{
	struct nc_nl nl;
	struct nl_cache *cache = NULL;
	int r;

	if ((r = nc_nl_open(&nl)) < 0)
		return r;
	r = rtnl_route_alloc_cache(nl.sk, AF_UNSPEC, 0, &cache);
	if ((r = nc_nl_result(&nl, r, "dump routes")) < 0)
		goto out;
	if ((r = default_of(cache, AF_INET, ifname, len)) == -ENOENT &&
	    (r = default_of(cache, AF_INET6, ifname, len)) == -ENOENT)
		nc_set_error("no default route");
out:
	if (cache)
		nl_cache_free(cache);
	nc_nl_close(&nl);
	return r;
}
