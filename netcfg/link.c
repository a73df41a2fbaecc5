/*
 * Links and addresses through libnl-route-3: look up, bring up/down, set
 * the MTU, list/add/delete addresses.  Each call opens its own socket and
 * asks the kernel afresh, so callers always see the current state.
 */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <netlink/netlink.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>
#include <netlink/route/addr.h>

#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

int
nc_link_index(const char *ifname)
{
	unsigned int idx;

	if (nc_ifname_check(ifname) < 0)
		return -EINVAL;
	if ((idx = if_nametoindex(ifname)) == 0) {
		nc_set_error("%s: no such interface", ifname);
		return -ENODEV;
	}
	return (int)idx;
}

int
nc_link_exists(const char *ifname)
{
	return nc_ifname_check(ifname) == 0 && if_nametoindex(ifname) != 0;
}

int
nc_link_get(const char *ifname, int *up, unsigned int *mtu)
{
	struct nc_nl nl;
	struct rtnl_link *link = NULL;
	char what[IF_NAMESIZE + 16];
	int r;

	if ((r = nc_ifname_check(ifname)) < 0)
		return r;
	if ((r = nc_nl_open(&nl)) < 0)
		return r;
	snprintf(what, sizeof(what), "get link %s", ifname);
	r = nc_nl_result(&nl, rtnl_link_get_kernel(nl.sk, 0, ifname, &link), what);
	if (r < 0)
		goto out;
	if (up)
		*up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
	if (mtu)
		*mtu = rtnl_link_get_mtu(link);
out:
	if (link)
		rtnl_link_put(link);
	nc_nl_close(&nl);
	return r;
}

int
nc_link_set(const char *ifname, int up, unsigned int mtu)
{
	struct nc_nl nl;
	struct rtnl_link *link = NULL, *change = NULL;
	char what[IF_NAMESIZE + 32];
	int r;

	if ((r = nc_ifname_check(ifname)) < 0)
		return r;
	if (up < 0 && mtu == 0)
		return 0;
	if ((r = nc_nl_open(&nl)) < 0)
		return r;
	snprintf(what, sizeof(what), "get link %s", ifname);
	r = nc_nl_result(&nl, rtnl_link_get_kernel(nl.sk, 0, ifname, &link), what);
	if (r < 0)
		goto out;
	if ((change = rtnl_link_alloc()) == NULL) {
		r = nc_fail(-ENOMEM, "link change");
		goto out;
	}
	if (up > 0)
		rtnl_link_set_flags(change, IFF_UP);
	else if (up == 0)
		rtnl_link_unset_flags(change, IFF_UP);
	if (mtu)
		rtnl_link_set_mtu(change, mtu);
	snprintf(what, sizeof(what), "set link %s%s mtu %u", ifname,
	    up > 0 ? " up" : up == 0 ? " down" : "", mtu);
	nc_nl_reset(&nl);
	r = nc_nl_result(&nl, rtnl_link_change(nl.sk, link, change, 0), what);
out:
	if (change)
		rtnl_link_put(change);
	if (link)
		rtnl_link_put(link);
	nc_nl_close(&nl);
	return r;
}

int
nc_addr_list(const char *ifname, struct prefix_set *out)
{
	struct nc_nl nl;
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	struct rtnl_addr *a;
	struct prefix p;
	int idx, r;

	if ((idx = nc_link_index(ifname)) < 0)
		return idx;
	if ((r = nc_nl_open(&nl)) < 0)
		return r;
	if ((r = nc_nl_result(&nl, rtnl_addr_alloc_cache(nl.sk, &cache), "dump addresses")) < 0)
		goto out;
	for (o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		a = (struct rtnl_addr *)o;
		if (rtnl_addr_get_ifindex(a) != idx ||
		    rtnl_addr_get_scope(a) != RT_SCOPE_UNIVERSE ||
		    rtnl_addr_get_local(a) == NULL)
			continue;
		if (nc_prefix_from_nl(rtnl_addr_get_local(a), &p) < 0)
			continue;
		p.len = (uint8_t)rtnl_addr_get_prefixlen(a);
		if ((r = prefix_set_add(out, &p)) < 0) {
			nc_fail(r, "address list");
			goto out;
		}
	}
	prefix_set_sort(out);
out:
	if (cache)
		nl_cache_free(cache);
	nc_nl_close(&nl);
	return r;
}

/* Add (add != 0) or delete one address. */
static int
addr_change(const char *ifname, const struct prefix *addr, int add)
{
	struct nc_nl nl = { 0 };
	struct rtnl_addr *a = NULL;
	struct nl_addr *local = NULL;
	char what[IF_NAMESIZE + PREFIX_STRLEN + 32], pb[PREFIX_STRLEN];
	int idx, r;

	if ((idx = nc_link_index(ifname)) < 0)
		return idx;
	prefix_fmt(addr, pb, sizeof(pb));
	snprintf(what, sizeof(what), "%s address %s on %s", add ? "add" : "delete",
	    pb, ifname);
	if ((r = nc_nl_open(&nl)) < 0)
		return r;
	a = rtnl_addr_alloc();
	local = nc_prefix_to_nl(addr);
	if (a == NULL || local == NULL) {
		r = nc_fail(-ENOMEM, what);
		goto out;
	}
	rtnl_addr_set_ifindex(a, idx);
	rtnl_addr_set_family(a, addr->family);
	if ((r = rtnl_addr_set_local(a, local)) < 0) {
		r = nc_nl_result(&nl, r, what);
		goto out;
	}
	rtnl_addr_set_prefixlen(a, addr->len);
	/* A tunnel address has nobody to collide with: skip DAD, usable at once. */
	if (add && addr->family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	nc_nl_reset(&nl);
	r = add ? rtnl_addr_add(nl.sk, a, NLM_F_EXCL) : rtnl_addr_delete(nl.sk, a, 0);
	r = nc_nl_result(&nl, r, what);
out:
	if (local)
		nl_addr_put(local);
	if (a)
		rtnl_addr_put(a);
	nc_nl_close(&nl);
	return r;
}

int
nc_addr_add(const char *ifname, const struct prefix *addr)
{
	return addr_change(ifname, addr, 1);
}

int
nc_addr_del(const char *ifname, const struct prefix *addr)
{
	return addr_change(ifname, addr, 0);
}

int
nc_connected_prefixes(const char *ifname, struct prefix_set *out)
{
	struct prefix_set all = { 0 };
	struct prefix net;
	size_t i;
	int r;

	if ((r = nc_addr_list(ifname, &all)) < 0)
		goto out;
	for (i = 0; i < all.n; i++) {
		prefix_network(&all.v[i], &net);
		if ((r = prefix_set_add(out, &net)) < 0) {
			nc_fail(r, "connected prefixes");
			goto out;
		}
	}
	prefix_set_sort(out);
out:
	prefix_set_free(&all);
	return r;
}
