/*
 * Host planning and application (see host.h).
 *
 * rp_filter: the kernel uses max(conf.all, conf.IFACE).  To make the
 * effective value `target` on the LAN and tunnel interfaces we set those
 * interfaces to target, and lower conf.all only when it is above target; in
 * that case every other interface whose own value was below the old
 * conf.all is raised to it, so its effective value does not change.
 * conf.default is never touched: the tunnel interface gets its value
 * directly, and new interfaces are handled by the next reconcile.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/desired.h"
#include "agent/firewall.h"
#include "agent/host.h"
#include "common/keymap.h"
#include "netcfg/netcfg.h"

#define MAX_SYSCTLS 256

struct kv {
	char key[256];
	char val[32];
	int runtime;            /* not persisted in the drop-in */
};

struct kvlist {
	struct kv v[MAX_SYSCTLS];
	size_t n;
};

static void
kv_set_rt(struct kvlist *l, const char *key, const char *val, int runtime)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, key) == 0)
			break;
	if (i == l->n) {
		if (l->n == MAX_SYSCTLS)
			return;
		l->n++;
	}
	cr_strlcpy(l->v[i].key, key, sizeof(l->v[i].key));
	cr_strlcpy(l->v[i].val, val, sizeof(l->v[i].val));
	l->v[i].runtime = runtime;
}

static void
kv_set(struct kvlist *l, const char *key, const char *val)
{
	kv_set_rt(l, key, val, 0);
}

/* The value recorded as original in the state, else the live one. */
static int
original_value(struct state *st, const char *key, char *val, size_t len)
{
	struct json_object *sys = state_obj(st, "sysctl", 0), *o;
	const char *s;

	if (sys && json_object_object_get_ex(sys, key, &o) &&
	    (s = state_str(o, "original")) != NULL) {
		cr_strlcpy(val, s, len);
		return 0;
	}
	return nc_sysctl_read(key, val, len);
}

static long
to_long(const char *s)
{
	unsigned long v;

	return cr_parse_ulong(s, 0, 1000, &v) == 0 ? (long)v : 0;
}

static void
rp_key(char *out, size_t len, const char *ifname)
{
	if (strlen(ifname) >= IF_NAMESIZE + 64) {
		out[0] = '\0';
		return;
	}
	snprintf(out, len, "net.ipv4.conf.%s.rp_filter", ifname);
}

/*
 * The effective rp_filter of an interface is max(all, its own).  To get
 * `target` on the LAN and the tunnel, `all` is lowered to it when higher, and
 * every other interface whose own value is below the old `all` is raised to
 * it, so that nothing else becomes less strict.  Only `all`, the LAN and the
 * tunnel are persisted: the others are runtime adjustments, and `default` is
 * raised too so that interfaces created later (container veths) start at the
 * old strictness instead of each costing a change.
 */
static void
desired_rp_filter(const struct config *cfg, struct state *st, struct kvlist *l)
{
	const char *targets[2] = { cfg->lan_interface, cfg->tunnel.interface };
	char key[320], val[32], tv[24], ov[24];
	long target = config_rp_filter_target(cfg), orig_all;
	struct dirent *de;
	DIR *d;
	int i;

	snprintf(tv, sizeof(tv), "%ld", target);
	if (original_value(st, "net.ipv4.conf.all.rp_filter", val, sizeof(val)) < 0)
		return;
	orig_all = to_long(val);
	snprintf(ov, sizeof(ov), "%ld", orig_all);
	if (orig_all > target) {
		kv_set(l, "net.ipv4.conf.all.rp_filter", tv);
		if ((d = opendir("/proc/sys/net/ipv4/conf")) != NULL) {
			while ((de = readdir(d)) != NULL) {
				if (de->d_name[0] == '.' || strcmp(de->d_name, "all") == 0 ||
				    strcmp(de->d_name, targets[0]) == 0 ||
				    strcmp(de->d_name, targets[1]) == 0)
					continue;
				rp_key(key, sizeof(key), de->d_name);
				if (original_value(st, key, val, sizeof(val)) == 0 &&
				    to_long(val) < orig_all)
					kv_set_rt(l, key, ov, 1);
			}
			closedir(d);
		}
	}
	for (i = 0; i < 2; i++) {
		if (nc_link_exists(targets[i]) <= 0)
			continue;
		rp_key(key, sizeof(key), targets[i]);
		kv_set(l, key, tv);
	}
}

static void
desired_sysctls(const struct config *cfg, struct state *st, struct kvlist *l)
{
	char key[256], val[32];

	l->n = 0;
	kv_set(l, "net.ipv4.ip_forward", "1");
	if (config_uses_ipv6(cfg)) {
		kv_set(l, "net.ipv6.conf.all.forwarding", "1");
		/* Forwarding makes the kernel ignore router advertisements
		 * (accept_ra=1); keep a RA-configured LAN default route alive. */
		snprintf(key, sizeof(key), "net.ipv6.conf.%s.accept_ra", cfg->lan_interface);
		if (original_value(st, key, val, sizeof(val)) == 0 && strcmp(val, "1") == 0)
			kv_set(l, key, "2");
	}
	if (cfg->rp_filter != RP_LEAVE)
		desired_rp_filter(cfg, st, l);
}

static size_t
persisted(const struct kvlist *l)
{
	size_t i, n = 0;

	for (i = 0; i < l->n; i++)
		n += !l->v[i].runtime;
	return n;
}

/* sysctl.d wants '/' separators when a component (an interface) has a dot. */
static void
sysctl_d_key(const char *key, char *out, size_t len)
{
	const char *p;
	size_t o = 0;
	int dotted_if = 0;

	if (strncmp(key, "net.ipv4.conf.", 14) == 0 || strncmp(key, "net.ipv6.conf.", 14) == 0) {
		const char *ifs = key + 14, *last = strrchr(key, '.');
		dotted_if = memchr(ifs, '.', (size_t)(last - ifs)) != NULL;
	}
	if (!dotted_if) {
		cr_strlcpy(out, key, len);
		return;
	}
	/* net/ipv4/conf/<if>/<leaf> */
	for (p = key; *p && o + 1 < len; p++) {
		size_t pos = (size_t)(p - key);
		int sep = *p == '.' && (pos == 3 || pos == 8 || pos == 13 || p == strrchr(key, '.'));
		out[o++] = sep ? '/' : *p;
	}
	out[o] = '\0';
}

static int
plan_sysctls(const struct config *cfg, struct state *st, struct plan *p)
{
	struct kvlist *l = calloc(1, sizeof(*l));
	struct json_object *sys = state_obj(st, "sysctl", 0);
	struct buf file, cur;
	char val[64], dkey[256];
	struct action *a;
	size_t i;

	if (l == NULL)
		return -ENOMEM;
	desired_sysctls(cfg, st, l);
	buf_init(&file, 64 * 1024);
	buf_puts(&file, "# Written by cloudroute: the kernel settings a VPN connector needs.\n"
	    "# Removed by `cloudroute teardown`, which restores the previous values.\n");
	for (i = 0; i < l->n; i++) {
		if (nc_sysctl_read(l->v[i].key, val, sizeof(val)) < 0) {
			plan_add(p, SEC_HOST, ACT_NOTE, '.', "sysctl %s not available", l->v[i].key);
			continue;
		}
		if (!l->v[i].runtime) {
			sysctl_d_key(l->v[i].key, dkey, sizeof(dkey));
			buf_printf(&file, "%s = %s\n", dkey, l->v[i].val);
		}
		if (strcmp(val, l->v[i].val) == 0)
			continue;
		a = plan_add(p, SEC_HOST, ACT_SYSCTL, '~', "sysctl %s %s -> %s", l->v[i].key,
		    val, l->v[i].val);
		a->from = plan_str(p, val);
		a->key = plan_str(p, l->v[i].key);
		a->val = plan_str(p, l->v[i].val);
	}
	if (sys) {
		json_object_object_foreach(sys, key, o) {
			const char *orig = state_str(o, "original");
			int want = 0;
			for (i = 0; i < l->n; i++)
				want |= strcmp(l->v[i].key, key) == 0;
			if (want || orig == NULL)
				continue;
			if (nc_sysctl_read(key, val, sizeof(val)) < 0) {
				/* Its interface went away: nothing to restore, only
				 * the record to drop (not a change of the system). */
				a = plan_add(p, SEC_HOST, ACT_SYSCTL_FORGET, '.', "sysctl %s: "
				    "interface gone, original no longer needed", key);
				a->key = plan_str(p, key);
				continue;
			}
			a = plan_add(p, SEC_HOST, ACT_SYSCTL_RESTORE, '-', "sysctl %s %s -> %s "
			    "(restore original)", key, val, orig);
			a->from = plan_str(p, val);
			a->key = plan_str(p, key);
			a->val = plan_str(p, orig);
		}
	}
	buf_init(&cur, 64 * 1024);
	if (file_read(cfg->sysctl_file, 64 * 1024, &cur) < 0 || strcmp(cur.data, file.data) != 0) {
		a = plan_add(p, SEC_HOST, ACT_SYSCTL_FILE, cur.data ? '~' : '+',
		    "sysctl-file %s (%zu keys)", cfg->sysctl_file, persisted(l));
		a->key = plan_str(p, cfg->sysctl_file);
		a->blob = buf_steal(&file);
	}
	buf_free(&cur);
	buf_free(&file);
	free(l);
	return 0;
}

static int
plan_nft(const struct config *cfg, struct state *st, struct plan *p)
{
	struct json_object *nft = state_obj(st, "nft", 0);
	struct nc_portfwd *fw = NULL;
	struct prefix_set tunaddrs = { 0 };
	struct nc_nft_spec spec;
	struct buf want, live;
	char hw[65], hl[65];
	const char *sr, *sl;
	struct action *a;
	size_t i;
	int r;

	for (i = 0; i < cfg->tunnel.address.n; i++) {
		struct prefix h = cfg->tunnel.address.v[i];
		h.len = h.family == AF_INET ? 32 : 128;
		prefix_set_add(&tunaddrs, &h);
	}
	if (cfg->n_fwds && (fw = calloc(cfg->n_fwds, sizeof(*fw))) == NULL)
		return -ENOMEM;
	for (i = 0; i < cfg->n_fwds; i++) {
		fw[i].proto = cfg->fwds[i].proto;
		fw[i].port = cfg->fwds[i].port;
		fw[i].to = cfg->fwds[i].to;
		fw[i].to_port = cfg->fwds[i].to_port;
	}
	memset(&spec, 0, sizeof(spec));
	spec.lan_if = cfg->lan_interface;
	spec.tun_if = cfg->tunnel.interface;
	spec.overlay = &cfg->overlay;
	spec.local_subnets = &cfg->local_subnets;
	spec.exclude = &cfg->nat_exclude;
	spec.tun_addrs = &tunaddrs;
	spec.masquerade = cfg->nat_masquerade;
	spec.egress = cfg->egress;
	spec.mss_clamp = cfg->nat_mss_clamp;
	spec.fwds = fw;
	spec.n_fwds = cfg->n_fwds;
	buf_init(&want, 1024 * 1024);
	buf_init(&live, 4 * 1024 * 1024);
	if ((r = nc_nft_render(&spec, &want)) < 0) {
		log_warnx("cannot render the nftables table: %s", strerror(-r));
		goto out;
	}
	cr_sha256_hex(want.data, want.len, hw);
	r = nc_nft_list(&live);
	sr = state_str(nft, "rendered");
	sl = state_str(nft, "listed");
	if (r == -ENOENT) {
		a = plan_add(p, SEC_HOST, ACT_NFT_REPLACE, '+', "nftables table inet %s "
		    "(masquerade %s, mss clamp %s, %zu port forward%s)", NC_NFT_TABLE,
		    cfg->nat_masquerade ? (cfg->egress ? "all but excluded" : "to local subnets") :
		    (cfg->egress ? "egress only" : "off"), cfg->nat_mss_clamp ? "on" : "off",
		    cfg->n_fwds, cfg->n_fwds == 1 ? "" : "s");
	} else if (r < 0) {
		log_warnx("cannot list nftables: %s", nc_last_error());
		goto out;
	} else {
		cr_sha256_hex(live.data, live.len, hl);
		if (sr && sl && strcmp(sr, hw) == 0 && strcmp(sl, hl) == 0) {
			r = 0;
			goto out;
		}
		a = plan_add(p, SEC_HOST, ACT_NFT_REPLACE, '~', "nftables table inet %s (%s)",
		    NC_NFT_TABLE, sr && strcmp(sr, hw) == 0 ? "changed outside cloudroute: restore" :
		    "configuration changed");
	}
	a->blob = buf_steal(&want);
	r = 0;
out:
	buf_free(&want);
	buf_free(&live);
	prefix_set_free(&tunaddrs);
	free(fw);
	return r;
}

static void
plan_route_del(struct plan *p, const struct nc_route *rt)
{
	char b[PREFIX_STRLEN];
	struct action *a;

	a = plan_add(p, SEC_HOST, ACT_ROUTE_DEL, '-', "route %s dev %s",
	    prefix_fmt(&rt->dst, b, sizeof(b)), rt->ifname);
	a->dst = rt->dst;
	a->metric = rt->metric;
	cr_strlcpy(a->ifname, rt->ifname, sizeof(a->ifname));
}

/* The kernel's routes by destination: head[] via the map, next[] chains
 * the routes with the same destination (thousands of peers: no scans). */
struct route_index {
	struct keymap by_dst;
	size_t *next;
};

static int
route_index(struct route_index *x, const struct nc_route *rt, size_t n)
{
	uint8_t k[18];
	uint32_t head;
	size_t i;
	int r;

	if ((x->next = calloc(n ? n : 1, sizeof(*x->next))) == NULL ||
	    keymap_init(&x->by_dst, n) < 0)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		size_t kl = keymap_prefix_key(&rt[i].dst, k);

		x->next[i] = SIZE_MAX;
		if ((r = keymap_put(&x->by_dst, k, kl, (uint32_t)i, &head)) < 0)
			return r;
		if (r > 0) {               /* in front of the chain */
			x->next[i] = head;
			keymap_set(&x->by_dst, k, kl, (uint32_t)i);
		}
	}
	return 0;
}

static void
route_index_free(struct route_index *x)
{
	keymap_free(&x->by_dst);
	free(x->next);
}

/* A wanted tunnel prefix against the kernel's routes: 1 when our route is
 * in place, else 0 with *foreign the route not ours holding it (or NULL). */
static int
route_in_place(const char *dev, const struct prefix *d, const struct nc_route *rt,
    const struct route_index *x, const struct nc_route **foreign)
{
	uint8_t k[18];
	uint32_t at;
	size_t j;

	*foreign = NULL;
	if (keymap_get(&x->by_dst, k, keymap_prefix_key(d, k), &at))
		for (j = at; j != SIZE_MAX; j = x->next[j]) {
			if (rt[j].protocol == NC_RTPROT_CLOUDROUTE && strcmp(rt[j].ifname, dev) == 0)
				return 1;
			if (rt[j].protocol != NC_RTPROT_CLOUDROUTE)
				*foreign = &rt[j];
		}
	return 0;
}

/* The action for a wanted tunnel prefix that is not in place. */
static void
plan_route(const struct config *cfg, struct plan *p, const struct prefix *d,
    const struct nc_route *f, int dev_up)
{
	char b[PREFIX_STRLEN], g[PREFIX_STRLEN], o[160];
	const char *dev = cfg->tunnel.interface;
	struct action *a;

	if (f != NULL) {
		a = plan_add(p, SEC_HOST, ACT_CONFLICT, '!', "route %s %s%s dev %s proto %d "
		    "(not ours, left alone)", prefix_fmt(d, b, sizeof(b)),
		    f->has_gateway ? "via " : "",
		    f->has_gateway ? prefix_addr_fmt(&f->gateway, g, sizeof(g)) : "",
		    f->ifname, f->protocol);
		a->dst = *d;            /* a route conflict (plan_route_conflicts) */
		cr_strlcpy(a->ifname, f->ifname, sizeof(a->ifname));
		return;
	}
	if (!dev_up) {
		plan_add(p, SEC_HOST, ACT_NOTE, '.', "route %s dev %s waits for the tunnel "
		    "interface", prefix_fmt(d, b, sizeof(b)), dev);
		return;
	}
	a = plan_add(p, SEC_HOST, ACT_ROUTE_ADD, '+', "route %s dev %s%s",
	    prefix_fmt(d, b, sizeof(b)), dev, desired_origin_fmt(p->desired, d, o, sizeof(o)));
	a->dst = *d;
	cr_strlcpy(a->ifname, dev, sizeof(a->ifname));
}

/* A route of ours that is not wanted (or not on the tunnel): removed. */
static int
route_stale(const struct keymap *wanted, const struct nc_route *r, const char *dev)
{
	uint8_t k[18];
	uint32_t v;

	return r->protocol == NC_RTPROT_CLOUDROUTE &&
	    !(keymap_get(wanted, k, keymap_prefix_key(&r->dst, k), &v) &&
	    strcmp(r->ifname, dev) == 0);
}

/*
 * The wanted prefixes (without those a connected route covers) against the
 * kernel's routes, in two passes: the first counts the actions and fills
 * `wanted`, so that the plan is reserved at its size (10,000 routes: one
 * allocation), the second adds them.
 */
static int
plan_route_actions(const struct config *cfg, struct plan *p, const struct prefix_set *want,
    const struct prefix_set *connected, const struct nc_route *rt, size_t n, int dev_up)
{
	const char *dev = cfg->tunnel.interface;
	const struct nc_route *f;
	struct route_index x = { 0 };
	struct keymap wanted = { 0 };
	size_t i, need = 0;
	uint8_t k[18];
	int r;

	if ((r = route_index(&x, rt, n)) < 0 || (r = keymap_init(&wanted, want->n)) < 0)
		goto out;
	for (i = 0; i < want->n; i++) {
		if (prefix_set_has(connected, &want->v[i]))
			continue;              /* the kernel's connected route covers it */
		if ((r = keymap_put(&wanted, k, keymap_prefix_key(&want->v[i], k), 0, NULL)) < 0)
			goto out;
		need += !route_in_place(dev, &want->v[i], rt, &x, &f);
	}
	for (i = 0; i < n; i++)
		need += (size_t)route_stale(&wanted, &rt[i], dev);
	plan_reserve(p, need);
	for (i = 0; i < want->n; i++)
		if (!prefix_set_has(connected, &want->v[i]) &&
		    !route_in_place(dev, &want->v[i], rt, &x, &f))
			plan_route(cfg, p, &want->v[i], f, dev_up);
	for (i = 0; i < n; i++)
		if (route_stale(&wanted, &rt[i], dev))
			plan_route_del(p, &rt[i]);
	r = 0;
out:
	route_index_free(&x);
	keymap_free(&wanted);
	return r;
}

static int
plan_routes(const struct config *cfg, struct state *st, struct plan *p)
{
	struct prefix_set want = { 0 }, connected = { 0 };
	int dev_up = nc_link_exists(cfg->tunnel.interface) > 0;
	struct nc_route *rt = NULL;
	size_t i, n = 0;
	int r;

	if (p->desired != NULL) {          /* composed without duplicates */
		for (i = 0; i < p->desired->tunnel.n; i++)
			prefix_set_push(&want, &p->desired->tunnel.v[i]);
	} else {
		config_tunnel_prefixes(cfg, &want);
	}
	for (i = 0; i < cfg->tunnel.address.n; i++) {
		struct prefix np;
		prefix_network(&cfg->tunnel.address.v[i], &np);
		prefix_set_add(&connected, &np);
	}
	if ((r = nc_route_list(NULL, &rt, &n)) < 0)
		log_warnx("cannot list routes: %s", nc_last_error());
	else
		r = plan_route_actions(cfg, p, &want, &connected, rt, n, dev_up);
	(void)st;
	free(rt);
	prefix_set_free(&want);
	prefix_set_free(&connected);
	return r;
}

int
host_plan(const struct config *cfg, struct state *st, struct plan *p)
{
	int r;

	/* It may appear later (a NIC hot-plugged, a VLAN made by another unit):
	 * said loudly, but not a failure of the boot. */
	if (nc_link_exists(cfg->lan_interface) <= 0)
		plan_add(p, SEC_HOST, ACT_CONFLICT, '!', "lan_interface %s does not exist (yet): "
		    "its rp_filter, NAT and MSS rules wait for it", cfg->lan_interface);
	if ((r = plan_sysctls(cfg, st, p)) < 0)
		return r;
	if ((r = plan_nft(cfg, st, p)) < 0)
		return r;
	if ((r = fw_plan(cfg, p)) < 0)
		return r;
	return plan_routes(cfg, st, p);
}

int
host_teardown_plan(struct state *st, struct plan *p)
{
	struct json_object *sys = state_obj(st, "sysctl", 0);
	const char *file = state_str(st->root, "sysctl_file");
	struct nc_route *rt = NULL;
	char val[64];
	struct buf live;
	struct action *a;
	size_t j, n = 0;

	buf_init(&live, 4 * 1024 * 1024);
	if (nc_nft_list(&live) == 0)
		plan_add(p, SEC_HOST, ACT_NFT_DELETE, '-', "nftables table inet %s", NC_NFT_TABLE);
	buf_free(&live);
	fw_teardown_plan(p);
	if (nc_route_list(NULL, &rt, &n) == 0) {
		plan_reserve(p, n);
		for (j = 0; j < n; j++) {
			if (rt[j].protocol != NC_RTPROT_CLOUDROUTE)
				continue;
			plan_route_del(p, &rt[j]);
		}
		free(rt);
	}
	if (sys) {
		json_object_object_foreach(sys, key, o) {
			const char *orig = state_str(o, "original");
			if (orig == NULL || nc_sysctl_read(key, val, sizeof(val)) < 0)
				continue;
			if (strcmp(val, orig) == 0) {
				plan_add(p, SEC_HOST, ACT_NOTE, '.', "sysctl %s is %s already",
				    key, orig);
				continue;
			} else {
				a = plan_add(p, SEC_HOST, ACT_SYSCTL_RESTORE, '-', "sysctl %s %s -> %s "
				    "(restore original)", key, val, orig);
			}
			a->key = plan_str(p, key);
			a->val = plan_str(p, orig);
		}
	}
	if (file && access(file, F_OK) == 0) {
		a = plan_add(p, SEC_HOST, ACT_SYSCTL_FILE_REMOVE, '-', "sysctl-file %s", file);
		a->key = plan_str(p, file);
	}
	return 0;
}
