/*
 * Tunnel planning and device configuration (see tunnel.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "agent/tunnel.h"
#include "netcfg/netcfg.h"

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
		cr_strlcpy(a->val, mtus, sizeof(a->val));
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
		buf_printf(errs, "%s: %s\n", path, r == -EPERM ?
		    "refused: the key file must be a regular file readable only by its owner "
		    "(chmod 600)" : strerror(-r));
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

int
tunnel_config_build(const struct config *cfg, struct dp_config *dc, struct buf *errs)
{
	struct dp_peer_config *peers;
	socklen_t sl;
	size_t i;
	int r, failed = 0;

	memset(dc, 0, sizeof(*dc));
	if (tunnel_read_key(cfg->tunnel.private_key_file, dc->private_key, errs) < 0)
		failed = 1;
	dc->listen_port = cfg->tunnel.listen_port;
	peers = calloc(cfg->tunnel.n_peers ? cfg->tunnel.n_peers : 1, sizeof(*peers));
	if (peers == NULL)
		return -ENOMEM;
	dc->peers = peers;
	dc->n_peers = cfg->tunnel.n_peers;
	for (i = 0; i < cfg->tunnel.n_peers; i++) {
		const struct cfg_peer *cp = &cfg->tunnel.peers[i];
		struct dp_peer_config *pp = &peers[i];

		cr_strlcpy(pp->name, cp->name, sizeof(pp->name));
		memcpy(pp->public_key, cp->public_key, sizeof(pp->public_key));
		if (cp->has_psk) {
			if (tunnel_read_key(cp->psk_file, pp->preshared_key, errs) < 0)
				failed = 1;
			pp->has_psk = 1;
		}
		if (cp->has_endpoint) {
			r = endpoint_resolve(cp->endpoint, 0, &pp->endpoint, &sl);
			if (r < 0)
				log_warnx("peer %s: cannot resolve endpoint %s now; it can still "
				    "reach us and roaming sets the endpoint", cp->name, cp->endpoint);
			else
				pp->has_endpoint = 1;
		}
		pp->allowed_ips = cp->allowed_ips.v;
		pp->n_allowed_ips = cp->allowed_ips.n;
		pp->persistent_keepalive = cp->keepalive;
	}
	if (failed) {
		tunnel_config_free(dc);
		return -EINVAL;
	}
	return 0;
}
