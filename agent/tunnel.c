/*
 * Tunnel planning and device configuration (see tunnel.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agent/desired.h"
#include "agent/tunnel.h"
#include "netcfg/netcfg.h"

/* plan -v: each composed peer and the source(s) that want it. */
static void
plan_peers(struct plan *p)
{
	const struct desired *d = p->desired;
	char list[256], b[PREFIX_STRLEN], key[45];
	size_t i, j, n;

	if (d != NULL)
		plan_reserve(p, d->n_peers);
	for (i = 0; d != NULL && i < d->n_peers; i++) {
		list[0] = '\0';
		for (j = 0, n = 0; j < d->peers[i].allowed_ips.n && n < sizeof(list); j++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", j ? ", " : "",
			    prefix_fmt(&d->peers[i].allowed_ips.v[j], b, sizeof(b)));
		dp_key_to_base64(key, d->peers[i].public_key);
		plan_add(p, SEC_TUNNEL, ACT_NOTE, '.', "peer %s %.8s... allowed-ips %s [from %s]",
		    d->peers[i].name, key, list[0] ? list : "(none)", d->peers[i].source);
	}
}

int
tunnel_plan(const struct config *cfg, struct plan *p)
{
	const char *dev = cfg->tunnel.interface;
	struct prefix_set have = { 0 };
	char b[PREFIX_STRLEN], mtus[16];
	unsigned int mtu = 0;
	struct action *a;
	size_t i;
	int up = 0;

	plan_peers(p);
	if (nc_link_exists(dev) <= 0) {
		if (cfg->tunnel.mode == TUNNEL_EXTERNAL)
			plan_add(p, SEC_TUNNEL, ACT_CONFLICT, '!', "interface %s does not exist "
			    "(external mode: run by another program); its routes wait for it", dev);
		else
			plan_add(p, SEC_TUNNEL, ACT_NOTE, '.', "interface %s is not running here "
			    "(`cloudroute run` runs the tunnel, %zu peer%s)", dev, cfg->tunnel.n_peers,
			    cfg->tunnel.n_peers == 1 ? "" : "s");
		return 0;
	}
	if (cfg->tunnel.mode == TUNNEL_EXTERNAL)
		return 0;
	if (nc_link_get(dev, &up, &mtu) == 0 && (!up || mtu != cfg->tunnel.mtu)) {
		a = plan_add(p, SEC_TUNNEL, ACT_LINK, '~', "link %s mtu %u up", dev, cfg->tunnel.mtu);
		cr_strlcpy(a->ifname, dev, sizeof(a->ifname));
		snprintf(mtus, sizeof(mtus), "%u", cfg->tunnel.mtu);
		a->val = plan_str(p, mtus);
	}
	nc_addr_list(dev, &have);
	for (i = 0; i < cfg->tunnel.address.n; i++) {
		if (prefix_set_has(&have, &cfg->tunnel.address.v[i]))
			continue;
		a = plan_add(p, SEC_TUNNEL, ACT_ADDR_ADD, '+', "address %s on %s",
		    prefix_fmt(&cfg->tunnel.address.v[i], b, sizeof(b)), dev);
		a->dst = cfg->tunnel.address.v[i];
		cr_strlcpy(a->ifname, dev, sizeof(a->ifname));
	}
	prefix_set_free(&have);
	return 0;
}

int
tunnel_read_key(const char *path, uint8_t key[32], struct buf *errs)
{
	struct buf b;
	size_t n;
	int r;

	buf_init(&b, 4096);
	if ((r = file_read_secret(path, 4096, &b)) < 0) {
		buf_printf(errs, "%s: %s%s\n", path, r == -EPERM ? "refused: " : "",
		    file_secret_error());
		goto out;
	}
	n = b.len;
	while (n > 0 && isspace((unsigned char)b.data[n - 1]))
		b.data[--n] = '\0';
	if ((r = dp_key_from_base64(key, b.data)) < 0)
		buf_printf(errs, "%s: not a WireGuard key (base64, as written by "
		    "`cloudroute genkey`)\n", path);
out:
	buf_free(&b);
	return r;
}

void
tunnel_config_free(struct dp_config *dc)
{
	OPENSSL_cleanse(dc->private_key, sizeof(dc->private_key));
	if (dc->peers) {
		OPENSSL_cleanse((void *)dc->peers, dc->n_peers * sizeof(*dc->peers));
		free((void *)dc->peers);
	}
	memset(dc, 0, sizeof(*dc));
}

/*
 * Endpoint names are resolved when a peer is new, retried every build while
 * they fail, and re-resolved every TUNNEL_RERESOLVE_MS (as wireguard-tools'
 * reresolve-dns does).  A peer's endpoint is handed to the device only when
 * it is new or its address changed, so roaming (the peer's latest source
 * address) is not undone by every pass.
 */
#define TUNNEL_RERESOLVE_MS (5 * 60 * 1000)

struct ep_entry {
	uint8_t key[32];
	char *name;                   /* heap, owned by the cache */
	uint64_t resolved_ms;         /* 0: never resolved */
	struct sockaddr_in6 addr;     /* room for either family, as resolved */
	int seen;
};

/* Entries v[0..sorted) are ordered by key (ep_sweep sorts them); the
 * entries a build adds go after them.  No index beside the array: a
 * 10,000-peer cache is its entries and nothing else. */
struct tunnel_endpoints {
	struct ep_entry *v;
	size_t n, cap, sorted;
};

static int
ep_cmp(const void *a, const void *b)
{
	return memcmp(((const struct ep_entry *)a)->key, ((const struct ep_entry *)b)->key, 32);
}

/* The sorted entry with that key and name, or NULL. */
static struct ep_entry *
ep_lookup(struct tunnel_endpoints *c, const uint8_t key[32], const char *name)
{
	struct ep_entry k, *e;
	size_t lo, hi;

	memcpy(k.key, key, 32);
	if (c->sorted == 0 || (e = bsearch(&k, c->v, c->sorted, sizeof(k), ep_cmp)) == NULL)
		return NULL;
	for (lo = (size_t)(e - c->v); lo > 0 && ep_cmp(&c->v[lo - 1], &k) == 0; lo--)
		;
	for (hi = lo; hi < c->sorted && ep_cmp(&c->v[hi], &k) == 0; hi++)
		if (strcmp(c->v[hi].name, name) == 0)
			return &c->v[hi];
	return NULL;
}

/* The entry for key and name, added when new; NULL: no memory (resolve
 * without the cache). */
static struct ep_entry *
ep_find(struct tunnel_endpoints *c, const uint8_t key[32], const char *name)
{
	struct ep_entry *nv;

	if ((nv = ep_lookup(c, key, name)) != NULL)
		return nv;
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 16;

		if ((nv = reallocarray(c->v, ncap, sizeof(*nv))) == NULL)
			return NULL;
		c->v = nv;
		c->cap = ncap;
	}
	nv = &c->v[c->n];
	memset(nv, 0, sizeof(*nv));
	if ((nv->name = strdup(name)) == NULL)
		return NULL;
	memcpy(nv->key, key, 32);
	/* an entry with the same key and another name is swept next build */
	c->n++;
	return nv;
}

/* Drops the entries no peer used in this build and sorts the rest. */
static void
ep_sweep(struct tunnel_endpoints *c)
{
	struct ep_entry *nv;
	size_t i, k = 0;

	for (i = 0; i < c->n; i++) {
		if (!c->v[i].seen) {
			free(c->v[i].name);
			continue;
		}
		c->v[i].seen = 0;
		c->v[k++] = c->v[i];
	}
	c->n = k;
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), ep_cmp);
	c->sorted = c->n;
	if (c->cap > 16 && c->n < c->cap - c->cap / 4) {  /* kept until the next build */
		size_t ncap = c->n > 16 ? c->n : 16;

		if ((nv = reallocarray(c->v, ncap, sizeof(*nv))) != NULL) {
			c->v = nv;
			c->cap = ncap;
		}
	}
}

void
tunnel_endpoints_free(struct tunnel_endpoints *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->n; i++)
		free(c->v[i].name);
	free(c->v);
	free(c);
}

struct tunnel_endpoints *
tunnel_endpoints_new(void)
{
	return calloc(1, sizeof(struct tunnel_endpoints));
}

static void
peer_endpoint(struct tunnel_endpoints *cache, const struct ds_peer *dp,
    struct dp_peer_config *pp)
{
	struct sockaddr_storage ss;
	struct ep_entry *e = NULL;
	uint64_t now = now_ms();
	socklen_t sl;

	if (dp->endpoint == NULL || dp->endpoint[0] == '\0')
		return;
	if (cache != NULL && (e = ep_find(cache, dp->public_key, dp->endpoint)) != NULL) {
		e->seen = 1;
		if (e->resolved_ms != 0 && now - e->resolved_ms < TUNNEL_RERESOLVE_MS)
			return;         /* the device has it (or roamed since) */
	}
	if (endpoint_resolve(dp->endpoint, 0, &ss, &sl) < 0) {
		log_warnx("peer %s: cannot resolve endpoint %s now (retried every pass); it can "
		    "still reach us and roaming sets the endpoint", dp->name, dp->endpoint);
		return;
	}
	if (e != NULL) {
		/* resolved addresses are zero past sl (endpoint_resolve) */
		int changed = e->resolved_ms == 0 || sl > sizeof(e->addr) ||
		    memcmp(&e->addr, &ss, sizeof(e->addr)) != 0;

		memcpy(&e->addr, &ss, sizeof(e->addr));
		e->resolved_ms = now;
		if (!changed)
			return;
	}
	pp->endpoint = ss;
	pp->has_endpoint = 1;
}

int
tunnel_config_build(const struct config *cfg, const struct desired *d,
    struct tunnel_endpoints *cache, struct dp_config *dc, struct buf *errs)
{
	struct dp_peer_config *peers;
	size_t i;
	int failed = 0;

	memset(dc, 0, sizeof(*dc));
	if (tunnel_read_key(cfg->tunnel.private_key_file, dc->private_key, errs) < 0)
		failed = 1;
	dc->listen_port = cfg->tunnel.listen_port;
	peers = calloc(d->n_peers ? d->n_peers : 1, sizeof(*peers));
	if (peers == NULL) {
		tunnel_config_free(dc);        /* the private key is in dc already */
		return -ENOMEM;
	}
	dc->peers = peers;
	dc->n_peers = d->n_peers;
	for (i = 0; i < d->n_peers; i++) {
		const struct ds_peer *cp = &d->peers[i];
		struct dp_peer_config *pp = &peers[i];

		cr_strlcpy(pp->name, cp->name, sizeof(pp->name));
		memcpy(pp->public_key, cp->public_key, sizeof(pp->public_key));
		if (cp->has_psk) {
			if (tunnel_read_key(cp->psk_file, pp->preshared_key, errs) < 0)
				failed = 1;
			pp->has_psk = 1;
		}
		peer_endpoint(cache, cp, pp);
		pp->allowed_ips = cp->allowed_ips.v;
		pp->n_allowed_ips = cp->allowed_ips.n;
		pp->persistent_keepalive = cp->keepalive;
	}
	if (cache != NULL)
		ep_sweep(cache);
	if (failed) {
		tunnel_config_free(dc);
		return -EINVAL;
	}
	return 0;
}
