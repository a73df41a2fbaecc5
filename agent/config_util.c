/*
 * Config helpers: defaults derived from the running system, the effective
 * configuration as JSON (plan -v), and the prefix sets other parts need.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <json-c/json.h>

#include "agent/config.h"
#include "common/keymap.h"
#include "dataplane/noise.h"
#include "netcfg/netcfg.h"

int
config_derive(struct config *cfg, struct buf *err)
{
	int r;

	if (cfg->lan_interface[0] == '\0') {
		if ((r = nc_default_ifname(cfg->lan_interface, sizeof(cfg->lan_interface))) < 0) {
			buf_printf(err, "%s: lan_interface is not set and there is no default route "
			    "to derive it from; set \"lan_interface\"\n", cfg->path);
			return -EINVAL;
		}
		cfg->lan_interface_derived = 1;
	}
	if (cfg->local_subnets_derived) {
		prefix_set_free(&cfg->local_subnets);
		r = nc_connected_prefixes(cfg->lan_interface, &cfg->local_subnets);
		if (r < 0) {
			buf_printf(err, "%s: cannot read the prefixes of %s to derive local_subnets: %s\n",
			    cfg->path, cfg->lan_interface, strerror(-r));
			return r;
		}
	}
	return 0;
}

void
config_peer_free(struct cfg_peer *p)
{
	prefix_set_free(&p->allowed_ips);
	free(p->name);
	free(p->psk_file);
	free(p->endpoint);
	free(p->backup_for);
	p->name = p->psk_file = p->endpoint = p->backup_for = NULL;
	p->has_psk = p->has_endpoint = 0;
}

void
config_free(struct config *cfg)
{
	size_t i;

	prefix_set_free(&cfg->overlay);
	prefix_set_free(&cfg->local_subnets);
	prefix_set_free(&cfg->nat_exclude);
	prefix_set_free(&cfg->tunnel.routes);
	prefix_set_free(&cfg->tunnel.address);
	prefix_set_free(&cfg->cloud.routes);
	for (i = 0; i < cfg->tunnel.n_peers; i++)
		config_peer_free(&cfg->tunnel.peers[i]);
	free(cfg->tunnel.peers);
	cfg->tunnel.peers = NULL;
	cfg->tunnel.n_peers = 0;
	for (i = 0; i < cfg->cloud.n_route_tables; i++)
		free(cfg->cloud.route_tables[i]);
	free(cfg->cloud.route_tables);
	cfg->cloud.route_tables = NULL;
	cfg->cloud.n_route_tables = 0;
	free(cfg->fwds);
	cfg->fwds = NULL;
	cfg->n_fwds = 0;
}

static struct json_object *
prefixes_json(const struct prefix_set *s)
{
	struct json_object *a = json_object_new_array();
	char b[PREFIX_STRLEN];
	size_t i;

	for (i = 0; i < s->n; i++)
		json_object_array_add(a, json_object_new_string(prefix_fmt(&s->v[i], b, sizeof(b))));
	return a;
}

static struct json_object *
tunnel_json(const struct config *cfg)
{
	struct json_object *t = json_object_new_object(), *peers = json_object_new_array();
	char b[64];
	size_t i;

	json_object_object_add(t, "mode", json_object_new_string(
	    cfg->tunnel.mode == TUNNEL_USERSPACE ? "userspace" : "external"));
	json_object_object_add(t, "interface", json_object_new_string(cfg->tunnel.interface));
	json_object_object_add(t, "routes", prefixes_json(&cfg->tunnel.routes));
	json_object_object_add(t, "private_key_file",
	    json_object_new_string(cfg->tunnel.private_key_file));
	json_object_object_add(t, "listen_port", json_object_new_int(cfg->tunnel.listen_port));
	json_object_object_add(t, "address", prefixes_json(&cfg->tunnel.address));
	json_object_object_add(t, "mtu", json_object_new_int((int)cfg->tunnel.mtu));
	for (i = 0; i < cfg->tunnel.n_peers; i++) {
		const struct cfg_peer *p = &cfg->tunnel.peers[i];
		struct json_object *po = json_object_new_object();
		char pk[45];
		dp_key_to_base64(pk, p->public_key);
		json_object_object_add(po, "name", json_object_new_string(p->name));
		json_object_object_add(po, "public_key", json_object_new_string(pk));
		if (p->has_psk)
			json_object_object_add(po, "preshared_key_file", json_object_new_string(p->psk_file));
		if (p->has_endpoint)
			json_object_object_add(po, "endpoint", json_object_new_string(p->endpoint));
		json_object_object_add(po, "allowed_ips", prefixes_json(&p->allowed_ips));
		json_object_object_add(po, "persistent_keepalive", json_object_new_int(p->keepalive));
		if (p->backup_for != NULL)
			json_object_object_add(po, "backup_for", json_object_new_string(p->backup_for));
		json_object_array_add(peers, po);
	}
	json_object_object_add(t, "peers", peers);
	json_object_object_add(t, "failover_after", json_object_new_int((int)cfg->tunnel.failover_after));
	json_object_object_add(t, "hold_down", json_object_new_int((int)cfg->tunnel.hold_down));
	(void)b;
	return t;
}

static struct json_object *
fleet_json(const struct cfg_fleet *f)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	char b[PREFIX_STRLEN];
	size_t i;

	for (i = 0; i < f->n_etcd; i++)
		json_object_array_add(a, json_object_new_string(f->etcd[i]));
	json_object_object_add(o, "etcd", a);
	if (f->ca_file[0])
		json_object_object_add(o, "ca_file", json_object_new_string(f->ca_file));
	if (f->cert_file[0])
		json_object_object_add(o, "cert_file", json_object_new_string(f->cert_file));
	if (f->key_file[0])
		json_object_object_add(o, "key_file", json_object_new_string(f->key_file));
	json_object_object_add(o, "prefix", json_object_new_string(f->prefix));
	json_object_object_add(o, "site", json_object_new_string(f->site));
	json_object_object_add(o, "name", json_object_new_string(f->name));
	json_object_object_add(o, "endpoint", json_object_new_string(f->endpoint[0] ?
	    f->endpoint : "auto"));
	json_object_object_add(o, "lease_ttl", json_object_new_int((int)f->lease_ttl));
	if (f->has_health_ping)
		json_object_object_add(o, "health_ping", json_object_new_string(
		    prefix_addr_fmt(&f->health_ping, b, sizeof(b))));
	return o;
}

void
config_dump(const struct config *cfg, FILE *out)
{
	static const char *const rp[] = { "off", "loose", "leave" };
	static const char *const tk[] = { "never", "blackhole", "group" };
	struct json_object *root = json_object_new_object(), *nat = json_object_new_object();
	struct json_object *fw = json_object_new_array(), *cloud = json_object_new_object();
	char b[PREFIX_STRLEN], to[PREFIX_STRLEN + 8];
	size_t i;

	json_object_object_add(root, "overlay", prefixes_json(&cfg->overlay));
	json_object_object_add(root, "lan_interface", json_object_new_string(cfg->lan_interface));
	json_object_object_add(root, "local_subnets", prefixes_json(&cfg->local_subnets));
	json_object_object_add(nat, "masquerade", json_object_new_boolean(cfg->nat_masquerade));
	json_object_object_add(nat, "exclude", prefixes_json(&cfg->nat_exclude));
	json_object_object_add(nat, "mss_clamp", json_object_new_boolean(cfg->nat_mss_clamp));
	json_object_object_add(root, "nat", nat);
	json_object_object_add(root, "egress", json_object_new_boolean(cfg->egress));
	json_object_object_add(root, "rp_filter", json_object_new_string(rp[cfg->rp_filter]));
	for (i = 0; i < cfg->n_fwds; i++) {
		struct json_object *f = json_object_new_object();
		json_object_object_add(f, "protocol", json_object_new_string(
		    cfg->fwds[i].proto == IPPROTO_TCP ? "tcp" : "udp"));
		json_object_object_add(f, "port", json_object_new_int(cfg->fwds[i].port));
		snprintf(to, sizeof(to), "%s:%u", prefix_addr_fmt(&cfg->fwds[i].to, b, sizeof(b)),
		    cfg->fwds[i].to_port);
		json_object_object_add(f, "to", json_object_new_string(to));
		json_object_array_add(fw, f);
	}
	json_object_object_add(root, "port_forwards", fw);
	json_object_object_add(root, "firewall", json_object_new_string(
	    cfg->firewall == FIREWALL_LEAVE ? "leave" : "integrate"));
	if (cfg->metrics_listen[0]) {
		struct json_object *m = json_object_new_object();
		json_object_object_add(m, "listen", json_object_new_string(cfg->metrics_listen));
		json_object_object_add(root, "metrics", m);
	}
	json_object_object_add(root, "tunnel", tunnel_json(cfg));
	json_object_object_add(cloud, "provider", json_object_new_string(cfg->cloud.provider));
	json_object_object_add(cloud, "source_dest_check", json_object_new_string(
	    cfg->cloud.disable_source_dest_check ? "disable" : "leave"));
	json_object_object_add(cloud, "port_security", json_object_new_string(
	    cfg->cloud.disable_port_security ? "disable" : "keep"));
	if (cfg->cloud.route_tables) {
		struct json_object *a = json_object_new_array();
		for (i = 0; i < cfg->cloud.n_route_tables; i++)
			json_object_array_add(a, json_object_new_string(cfg->cloud.route_tables[i]));
		json_object_object_add(cloud, "route_tables", a);
	} else {
		json_object_object_add(cloud, "route_tables", json_object_new_string(
		    cfg->cloud.route_tables_network ? "network" : "auto"));
	}
	if (cfg->cloud.routes_auto)
		json_object_object_add(cloud, "routes", json_object_new_string("auto"));
	else
		json_object_object_add(cloud, "routes", prefixes_json(&cfg->cloud.routes));
	json_object_object_add(cloud, "ha_group", json_object_new_string(cfg->cloud.ha_group));
	json_object_object_add(cloud, "takeover", json_object_new_string(tk[cfg->cloud.takeover]));
	json_object_object_add(root, "cloud", cloud);
	if (cfg->fleet.enabled)
		json_object_object_add(root, "fleet", fleet_json(&cfg->fleet));
	json_object_object_add(root, "state_dir", json_object_new_string(cfg->state_dir));
	json_object_object_add(root, "sysctl_file", json_object_new_string(cfg->sysctl_file));
	json_object_object_add(root, "reconcile_interval",
	    json_object_new_int((int)cfg->reconcile_interval));
	fprintf(out, "%s\n", json_object_to_json_string_ext(root,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

void
config_tunnel_prefixes(const struct config *cfg, struct prefix_set *out)
{
	struct keymap seen;
	uint8_t k[18];
	size_t i, j;

	if (cfg->tunnel.mode == TUNNEL_EXTERNAL) {
		for (i = 0; i < cfg->tunnel.routes.n; i++)
			prefix_set_add(out, &cfg->tunnel.routes.v[i]);
		return;
	}
	/* thousands of peers: dedup through a map, not prefix_set_add's scan */
	int fast = keymap_init(&seen, out->n + cfg->tunnel.n_peers) == 0;

	for (i = 0; i < out->n && fast; i++)
		fast = keymap_put(&seen, k, keymap_prefix_key(&out->v[i], k), 0, NULL) >= 0;
	for (i = 0; i < cfg->tunnel.n_peers; i++)
		for (j = 0; j < cfg->tunnel.peers[i].allowed_ips.n; j++) {
			const struct prefix *p = &cfg->tunnel.peers[i].allowed_ips.v[j];
			int r = fast ? keymap_put(&seen, k, keymap_prefix_key(p, k), 0, NULL) : -1;

			if (r == 0)
				prefix_set_push(out, p);
			else if (r < 0)      /* out of memory: the slow way */
				prefix_set_add(out, p);
		}
	keymap_free(&seen);
}

static int
set_has_v6(const struct prefix_set *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->v[i].family == AF_INET6)
			return 1;
	return 0;
}

int
config_uses_ipv6(const struct config *cfg)
{
	size_t i;
	int r;

	/* Configured prefixes only: a dual-stack LAN's derived subnets say
	 * nothing about whether the overlay carries IPv6. */
	r = set_has_v6(&cfg->overlay) ||
	    (!cfg->local_subnets_derived && set_has_v6(&cfg->local_subnets)) ||
	    set_has_v6(&cfg->tunnel.address);
	if (cfg->tunnel.mode == TUNNEL_EXTERNAL)
		return r || set_has_v6(&cfg->tunnel.routes);
	for (i = 0; i < cfg->tunnel.n_peers && !r; i++)
		r = set_has_v6(&cfg->tunnel.peers[i].allowed_ips);
	return r;
}

const struct cfg_peer *
config_peer_by_key(const struct config *cfg, const uint8_t key[32])
{
	size_t i;

	for (i = 0; i < cfg->tunnel.n_peers; i++)
		if (CRYPTO_memcmp(cfg->tunnel.peers[i].public_key, key, 32) == 0)
			return &cfg->tunnel.peers[i];
	return NULL;
}

long
config_rp_filter_target(const struct config *cfg)
{
	return cfg->rp_filter == RP_LOOSE ? 2 : 0;
}
