/*
 * Config loading and validation.  json-c parses (comments allowed); the
 * walk below checks every key against the schema of DESIGN.md and reports
 * each problem at the key's or value's line:col (positions from jsonpos,
 * the typed getters in agent/config_json.c).
 * Unknown keys, wrong types, bad prefixes, ports, endpoints, keys and paths
 * are errors; nothing is silently ignored.
 */
#include <errno.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/config.h"
#include "agent/config_int.h"
#include "agent/jsonpos.h"
#include "common/keymap.h"
#include "dataplane/noise.h"
#include "netcfg/netcfg.h"
#include "providers/provider.h"

#define CFG_MAX_SIZE   (32 * 1024 * 1024)

static const char *const top_keys[] = { "overlay", "lan_interface", "local_subnets", "nat",
	"egress", "rp_filter", "port_forwards", "tunnel", "cloud", "state_dir", "sysctl_file",
	"reconcile_interval", "firewall", "metrics", "fleet", NULL };
static const char *const fleet_keys[] = { "etcd", "ca_file", "cert_file", "key_file", "prefix",
	"site", "name", "endpoint", "lease_ttl", "health_ping", NULL };
static const char *const nat_keys[] = { "masquerade", "exclude", "mss_clamp", NULL };
static const char *const fwd_keys[] = { "protocol", "port", "to", NULL };
static const char *const tunnel_keys[] = { "mode", "interface", "routes", "private_key_file",
	"listen_port", "address", "mtu", "peers", "failover_after", "hold_down", NULL };
static const char *const peer_keys[] = { "name", "public_key", "preshared_key_file",
	"endpoint", "allowed_ips", "persistent_keepalive", "backup_for", NULL };
static const char *const cloud_keys[] = { "provider", "source_dest_check", "route_tables",
	"routes", "ha_group", "takeover", "port_security", NULL };
static const char *const rp_names[] = { "off", "loose", "leave", NULL };
static const char *const mode_names[] = { "userspace", "external", NULL };
static const char *const proto_names[] = { "tcp", "udp", NULL };
static const char *const provider_names[] = { "auto", "aws", "azure", "gcp", "oci", "openstack",
    "none", NULL };
static const char *const sdc_names[] = { "leave", "disable", NULL };
static const char *const ps_names[] = { "keep", "disable", NULL };
static const char *const takeover_names[] = { "never", "blackhole", "group", NULL };
static const char *const firewall_names[] = { "integrate", "leave", NULL };
static const char *const metrics_keys[] = { "listen", NULL };

static void
config_defaults(struct config *cfg)
{
	struct prefix p;

	memset(cfg, 0, sizeof(*cfg));
	prefix_parse("100.96.0.0/11", &p, 0);
	prefix_set_add(&cfg->overlay, &p);
	cfg->nat_masquerade = 1;
	cfg->nat_mss_clamp = 1;
	cfg->rp_filter = RP_OFF;
	cfg->tunnel.mode = TUNNEL_USERSPACE;
	cr_strlcpy(cfg->tunnel.interface, "cr0", sizeof(cfg->tunnel.interface));
	cr_strlcpy(cfg->tunnel.private_key_file, "/etc/cloudroute/private.key",
	    sizeof(cfg->tunnel.private_key_file));
	cfg->tunnel.listen_port = 51820;
	cfg->tunnel.failover_after = 10;
	cfg->tunnel.hold_down = 30;
	cfg->tunnel.mtu = 1420;
	cr_strlcpy(cfg->cloud.provider, "auto", sizeof(cfg->cloud.provider));
	cfg->cloud.disable_source_dest_check = 1;
	cfg->cloud.routes_auto = 1;
	cr_strlcpy(cfg->cloud.ha_group, "default", sizeof(cfg->cloud.ha_group));
	cfg->cloud.takeover = TAKEOVER_BLACKHOLE;
	cr_strlcpy(cfg->state_dir, "/var/lib/cloudroute", sizeof(cfg->state_dir));
	cr_strlcpy(cfg->sysctl_file, "/etc/sysctl.d/90-cloudroute.conf", sizeof(cfg->sysctl_file));
	cfg->reconcile_interval = 60;
	cr_strlcpy(cfg->fleet.prefix, "/cloudroute/", sizeof(cfg->fleet.prefix));
	cfg->fleet.lease_ttl = 2;
}

static int
parse_nat(struct vctx *v, struct json_object *nat, struct config *cfg)
{
	int r = 0;

	if (cv_want_type(v, nat, "/nat", json_type_object, "an object") < 0)
		return -EINVAL;
	r |= cv_check_keys(v, nat, "/nat", nat_keys);
	r |= cv_bool(v, nat, "masquerade", "/nat", &cfg->nat_masquerade);
	r |= cv_prefixes(v, nat, "exclude", "/nat", 0, &cfg->nat_exclude, NULL);
	r |= cv_bool(v, nat, "mss_clamp", "/nat", &cfg->nat_mss_clamp);
	return r ? -EINVAL : 0;
}

static int
parse_fwd(struct vctx *v, struct json_object *f, const char *path, struct cfg_portfwd *out)
{
	char sub[512], d[256], host[64];
	unsigned long port = 0;
	const char *to;
	int proto = 0, r = 0, g;

	if (cv_want_type(v, f, path, json_type_object, "an object") < 0)
		return -EINVAL;
	r |= cv_check_keys(v, f, path, fwd_keys);
	r |= cv_enum(v, f, "protocol", path, proto_names, &proto);
	out->proto = proto == 0 ? IPPROTO_TCP : IPPROTO_UDP;
	if (!json_object_object_get_ex(f, "port", NULL))
		r |= cv_err(v, path, 0, "%s: \"port\" is required", cv_dotted(path, d, sizeof(d)));
	r |= cv_uint(v, f, "port", path, 1, 65535, &port);
	out->port = (uint16_t)port;
	g = cv_str(v, f, "to", path, &to, sub, sizeof(sub));
	if (g == 0)
		r |= cv_err(v, path, 0, "%s: \"to\" is required (\"address:port\")",
		    cv_dotted(path, d, sizeof(d)));
	else if (g > 0 && (endpoint_split(to, host, sizeof(host), &out->to_port) < 0 ||
	    prefix_parse_addr(host, &out->to) < 0))
		r |= cv_err(v, sub, 0, "%s: \"%s\" is not an address:port (e.g. \"192.168.100.30:8080\")",
		    cv_dotted(sub, d, sizeof(d)), to);
	else if (g < 0)
		r = -1;
	return r ? -EINVAL : 0;
}

static int
parse_key(struct vctx *v, const char *sub, const char *s, uint8_t key[32])
{
	char d[256];

	if (dp_key_from_base64(key, s) < 0)
		return cv_err(v, sub, 0, "%s: not a WireGuard key (44 characters of base64, "
		    "as printed by `cloudroute pubkey` or `wg pubkey`)", cv_dotted(sub, d, sizeof(d)));
	return 0;
}

static int
parse_peer(struct vctx *v, struct json_object *po, const char *path, struct cfg_peer *p)
{
	char sub[512], d[256], host[256], kfile[PATH_MAX] = "";
	unsigned long ka = 0;
	const char *s;
	uint16_t port;
	int r = 0, g;

	if (cv_want_type(v, po, path, json_type_object, "an object") < 0)
		return -EINVAL;
	r |= cv_check_keys(v, po, path, peer_keys);
	g = cv_str(v, po, "name", path, &s, sub, sizeof(sub));
	if (g > 0) {
		if (*s == '\0' || strlen(s) >= CFG_PEER_NAME_LEN)
			r |= cv_err(v, sub, 0, "%s: must be 1-63 characters", cv_dotted(sub, d, sizeof(d)));
		else if ((p->name = strdup(s)) == NULL)
			return -ENOMEM;
	}
	r |= g < 0;
	g = cv_str(v, po, "public_key", path, &s, sub, sizeof(sub));
	if (g == 0)
		r |= cv_err(v, path, 0, "%s: \"public_key\" is required", cv_dotted(path, d, sizeof(d)));
	else if (g > 0)
		r |= parse_key(v, sub, s, p->public_key);
	else
		r = -1;
	if (cv_path(v, po, "preshared_key_file", path, kfile, sizeof(kfile)) < 0)
		r = -1;
	else if (kfile[0] != '\0' && (p->psk_file = strdup(kfile)) == NULL)
		return -ENOMEM;
	p->has_psk = p->psk_file != NULL;
	g = cv_str(v, po, "endpoint", path, &s, sub, sizeof(sub));
	if (g > 0) {
		if (endpoint_split(s, host, sizeof(host), &port) < 0 || strlen(s) >= CFG_ENDPOINT_LEN)
			r |= cv_err(v, sub, 0, "%s: \"%s\" is not host:port (e.g. \"hub.example.net:51820\" "
			    "or \"[2001:db8::1]:51820\")", cv_dotted(sub, d, sizeof(d)), s);
		else if ((p->endpoint = strdup(s)) == NULL)
			return -ENOMEM;
		else
			p->has_endpoint = 1;
	}
	r |= g < 0;
	if (!json_object_object_get_ex(po, "allowed_ips", NULL))
		r |= cv_err(v, path, 0, "%s: \"allowed_ips\" is required", cv_dotted(path, d, sizeof(d)));
	r |= cv_prefixes(v, po, "allowed_ips", path, 0, &p->allowed_ips, NULL);
	r |= cv_uint(v, po, "persistent_keepalive", path, 0, 65535, &ka);
	p->keepalive = (uint16_t)ka;
	g = cv_str(v, po, "backup_for", path, &s, sub, sizeof(sub));
	if (g > 0 && (*s == '\0' || strlen(s) >= CFG_PEER_NAME_LEN))
		r |= cv_err(v, sub, 0, "%s: must name a peer (1-63 characters)", cv_dotted(sub, d, sizeof(d)));
	else if (g > 0 && (p->backup_for = strdup(s)) == NULL)
		return -ENOMEM;
	r |= g < 0;
	return r ? -EINVAL : 0;
}

/* Peer groups: each backup_for names a primary that is no backup itself, and
 * a backup's own allowed_ips stay clear of the group's (the primary's). */
static int
parse_groups(struct vctx *v, const char *sub, struct config *cfg)
{
	struct cfg_peer *pv = cfg->tunnel.peers;
	char kpath[640], d[256], b1[PREFIX_STRLEN], b2[PREFIX_STRLEN];
	size_t i, j, a, b, n = cfg->tunnel.n_peers;
	int r = 0;

	for (i = 0; i < n; i++) {
		if (pv[i].backup_for == NULL)
			continue;
		snprintf(kpath, sizeof(kpath), "%s/%zu/backup_for", sub, i);
		for (j = 0; j < n && strcmp(pv[j].name, pv[i].backup_for) != 0; j++)
			;
		if (j == n || j == i) {
			r = cv_err(v, kpath, 0, "%s: %s \"%s\"", cv_dotted(kpath, d, sizeof(d)), j == i ?
			    "a peer cannot be its own backup:" : "no peer in tunnel.peers is named",
			    pv[i].backup_for);
			continue;
		}
		if (pv[j].backup_for != NULL) {
			r = cv_err(v, kpath, 0, "%s: \"%s\" is itself a backup (for \"%s\"); name the "
			    "group's primary", cv_dotted(kpath, d, sizeof(d)), pv[j].name, pv[j].backup_for);
			continue;
		}
		pv[i].backup_of = j + 1;
		for (a = 0; a < pv[i].allowed_ips.n; a++)
			for (b = 0; b < pv[j].allowed_ips.n; b++)
				if (prefix_overlaps(&pv[i].allowed_ips.v[a], &pv[j].allowed_ips.v[b])) {
					snprintf(kpath, sizeof(kpath), "%s/%zu/allowed_ips/%zu", sub, i, a);
					r = cv_err(v, kpath, 0, "%s: %s overlaps %s of the primary \"%s\" (the "
					    "group's prefixes move to a backup by themselves; list only the "
					    "backup's own)", cv_dotted(kpath, d, sizeof(d)),
					    prefix_fmt(&pv[i].allowed_ips.v[a], b1, sizeof(b1)),
					    prefix_fmt(&pv[j].allowed_ips.v[b], b2, sizeof(b2)), pv[j].name);
				}
	}
	return r;
}

/* Peer i's name and key are not those of an earlier peer (keymaps: a
 * 10,000-peer config is checked in milliseconds). */
static int
unique_peer(struct vctx *v, const char *el, const struct cfg_peer *p, size_t i,
    struct keymap *names, struct keymap *keys)
{
	char kpath[640], d[256];
	uint32_t j;
	int r, bad = 0;

	if ((r = keymap_put(names, p->name, strlen(p->name), (uint32_t)i, &j)) < 0)
		return r;
	if (r > 0) {
		snprintf(kpath, sizeof(kpath), "%s/name", el);
		bad = cv_err(v, kpath, 0, "%s: duplicate peer name \"%s\" (also peers[%u])",
		    cv_dotted(kpath, d, sizeof(d)), p->name, j);
	}
	if ((r = keymap_put(keys, p->public_key, 32, (uint32_t)i, &j)) < 0)
		return r;
	if (r > 0) {
		snprintf(kpath, sizeof(kpath), "%s/public_key", el);
		bad = cv_err(v, kpath, 0, "%s: duplicate peer: the same public key as peers[%u]",
		    cv_dotted(kpath, d, sizeof(d)), j);
	}
	return bad;
}

static int
parse_peers(struct vctx *v, struct json_object *tun, struct config *cfg)
{
	char sub[512], el[600], dflt[32];
	struct json_object *a = cv_member(tun, "peers", "/tunnel", sub, sizeof(sub));
	struct keymap names = { 0 }, keys = { 0 };
	size_t i, n;
	int r = 0, g;

	if (a == NULL)
		return 0;
	if (cv_want_type(v, a, sub, json_type_array, "an array of peers") < 0)
		return -EINVAL;
	n = json_object_array_length(a);
	if (n > 10000)
		return cv_err(v, sub, 0, "tunnel.peers: too many peers (%zu)", n);
	cfg->tunnel.peers = calloc(n ? n : 1, sizeof(*cfg->tunnel.peers));
	if (cfg->tunnel.peers == NULL || keymap_init(&names, n) < 0 || keymap_init(&keys, n) < 0) {
		keymap_free(&names);
		keymap_free(&keys);
		return -ENOMEM;
	}
	cfg->tunnel.n_peers = n;
	for (i = 0; i < n; i++) {
		struct cfg_peer *p = &cfg->tunnel.peers[i];
		snprintf(el, sizeof(el), "%s/%zu", sub, i);
		if (parse_peer(v, json_object_array_get_idx(a, i), el, p) < 0) {
			r = -EINVAL;
			continue;
		}
		if (p->name == NULL) {
			snprintf(dflt, sizeof(dflt), "peer%zu", i);
			if ((p->name = strdup(dflt)) == NULL) {
				r = -ENOMEM;
				break;
			}
		}
		if ((g = unique_peer(v, el, p, i, &names, &keys)) < 0)
			r = g;
	}
	keymap_free(&names);
	keymap_free(&keys);
	return r ? r : parse_groups(v, sub, cfg);
}

static int
parse_tunnel(struct vctx *v, struct json_object *tun, struct config *cfg)
{
	unsigned long port = cfg->tunnel.listen_port, mtu = cfg->tunnel.mtu;
	unsigned long fo = cfg->tunnel.failover_after, hd = cfg->tunnel.hold_down;
	int mode = (int)cfg->tunnel.mode, r = 0;

	if (cv_want_type(v, tun, "/tunnel", json_type_object, "an object") < 0)
		return -EINVAL;
	r |= cv_check_keys(v, tun, "/tunnel", tunnel_keys);
	r |= cv_enum(v, tun, "mode", "/tunnel", mode_names, &mode);
	cfg->tunnel.mode = (enum cfg_tunnel_mode)mode;
	r |= cv_ifname(v, tun, "interface", "/tunnel", cfg->tunnel.interface,
	    sizeof(cfg->tunnel.interface), NULL);
	r |= cv_prefixes(v, tun, "routes", "/tunnel", 0, &cfg->tunnel.routes, NULL);
	r |= cv_path(v, tun, "private_key_file", "/tunnel", cfg->tunnel.private_key_file,
	    sizeof(cfg->tunnel.private_key_file));
	r |= cv_uint(v, tun, "listen_port", "/tunnel", 0, 65535, &port);
	cfg->tunnel.listen_port = (uint16_t)port;
	r |= cv_prefixes(v, tun, "address", "/tunnel", 1, &cfg->tunnel.address, NULL);
	r |= cv_uint(v, tun, "mtu", "/tunnel", 576, 65535, &mtu);
	cfg->tunnel.mtu = (unsigned int)mtu;
	r |= parse_peers(v, tun, cfg);
	r |= cv_uint(v, tun, "failover_after", "/tunnel", 1, 3600, &fo);
	r |= cv_uint(v, tun, "hold_down", "/tunnel", 0, 86400, &hd);
	cfg->tunnel.failover_after = (unsigned int)fo;
	cfg->tunnel.hold_down = (unsigned int)hd;
	if (cfg->tunnel.mode == TUNNEL_USERSPACE && cfg->tunnel.routes.n > 0)
		r |= cv_err(v, "/tunnel/routes", 1, "tunnel.routes is for external mode only; "
		    "in userspace mode the peers' allowed_ips are routed");
	if (cfg->tunnel.mode == TUNNEL_EXTERNAL && cfg->tunnel.n_peers > 0)
		r |= cv_err(v, "/tunnel/peers", 1, "tunnel.peers is for userspace mode only; "
		    "in external mode list the prefixes in tunnel.routes");
	return r ? -EINVAL : 0;
}

static int
parse_route_tables(struct vctx *v, struct json_object *cloud, struct config *cfg)
{
	char sub[512], el[600], d[256];
	struct json_object *o = cv_member(cloud, "route_tables", "/cloud", sub, sizeof(sub));
	size_t i, n;

	if (o == NULL)
		return 0;
	if (json_object_get_type(o) == json_type_string) {
		if (strcmp(json_object_get_string(o), "auto") == 0)
			return 0;
		if (strcmp(json_object_get_string(o), "network") == 0) {
			cfg->cloud.route_tables_network = 1;
			return 0;
		}
		return cv_err(v, sub, 0, "cloud.route_tables: expected \"auto\", \"network\" or a "
		    "list of route table ids");
	}
	if (cv_want_type(v, o, sub, json_type_array, "\"auto\" or an array of ids") < 0)
		return -EINVAL;
	n = json_object_array_length(o);
	cfg->cloud.route_tables = calloc(n ? n : 1, sizeof(char *));
	if (cfg->cloud.route_tables == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(o, i);
		const char *s;
		snprintf(el, sizeof(el), "%s/%zu", sub, i);
		if (json_object_get_type(e) != json_type_string ||
		    *(s = json_object_get_string(e)) == '\0' || strlen(s) > 500)
			return cv_err(v, el, 0, "%s: expected a route table id string",
			    cv_dotted(el, d, sizeof(d)));
		if ((cfg->cloud.route_tables[i] = strdup(s)) == NULL)
			return -ENOMEM;
		cfg->cloud.n_route_tables = i + 1;
	}
	return 0;
}

/* A name that is also an etcd key component: 1-63 of [A-Za-z0-9._-]. */
static int
get_label(struct vctx *v, struct json_object *obj, const char *key, const char *path,
    char *out, size_t outlen)
{
	char sub[512], d[256];
	const char *s;
	size_t i, n;
	int r, ok;

	if ((r = cv_str(v, obj, key, path, &s, sub, sizeof(sub))) <= 0)
		return r;
	n = strlen(s);
	ok = n > 0 && n < outlen && n < 64 && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
	for (i = 0; ok && i < n; i++)
		ok = isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.';
	if (!ok)
		return cv_err(v, sub, 0, "%s: \"%s\" must be 1-63 of [A-Za-z0-9._-]",
		    cv_dotted(sub, d, sizeof(d)), s);
	cr_strlcpy(out, s, outlen);
	return 0;
}

static int
parse_cloud(struct vctx *v, struct json_object *cloud, struct config *cfg)
{
	char sub[512];
	struct json_object *o;
	int prov = 0, sdc = 1, ps = 0, tk = (int)cfg->cloud.takeover, r = 0;

	if (cv_want_type(v, cloud, "/cloud", json_type_object, "an object") < 0)
		return -EINVAL;
	r |= cv_check_keys(v, cloud, "/cloud", cloud_keys);
	if (cv_enum(v, cloud, "provider", "/cloud", provider_names, &prov) < 0)
		r = -1;
	else if (strcmp(provider_names[prov], "auto") != 0 &&
	    strcmp(provider_names[prov], "none") != 0 && !prov_supported(provider_names[prov]))
		r |= cv_err(v, "/cloud/provider", 0, "cloud.provider: \"%s\" is not supported by "
		    "this build (supported: %s)", provider_names[prov], prov_supported_list());
	else
		cr_strlcpy(cfg->cloud.provider, provider_names[prov], sizeof(cfg->cloud.provider));
	r |= cv_enum(v, cloud, "source_dest_check", "/cloud", sdc_names, &sdc);
	cfg->cloud.disable_source_dest_check = sdc == 1;
	r |= cv_enum(v, cloud, "port_security", "/cloud", ps_names, &ps);
	cfg->cloud.disable_port_security = ps == 1;
	r |= parse_route_tables(v, cloud, cfg);
	if (strcmp(cfg->cloud.provider, "gcp") == 0 && cfg->cloud.route_tables != NULL)
		r |= cv_err(v, "/cloud/route_tables", 0, "cloud.route_tables: GCP routes are "
		    "network-wide: use \"auto\" or \"network\", not route table ids");
	o = cv_member(cloud, "routes", "/cloud", sub, sizeof(sub));
	if (o && json_object_get_type(o) == json_type_string) {
		if (strcmp(json_object_get_string(o), "auto") != 0)
			r |= cv_err(v, sub, 0, "cloud.routes: expected \"auto\" or a list of prefixes");
	} else if (o) {
		cfg->cloud.routes_auto = 0;
		r |= cv_prefixes(v, cloud, "routes", "/cloud", 0, &cfg->cloud.routes, NULL);
	}
	r |= get_label(v, cloud, "ha_group", "/cloud", cfg->cloud.ha_group,
	    sizeof(cfg->cloud.ha_group));
	r |= cv_enum(v, cloud, "takeover", "/cloud", takeover_names, &tk);
	cfg->cloud.takeover = (enum cfg_takeover)tk;
	return r ? -EINVAL : 0;
}

static int
parse_fleet_etcd(struct vctx *v, struct json_object *fl, struct cfg_fleet *f)
{
	char sub[512], el[600], d[256];
	struct json_object *a = cv_member(fl, "etcd", "/fleet", sub, sizeof(sub));
	size_t i, n;
	int r = 0;

	if (a == NULL)
		return cv_err(v, "/fleet", 1, "fleet.etcd: the etcd endpoints are required");
	if (cv_want_type(v, a, sub, json_type_array, "an array of URLs") < 0)
		return -EINVAL;
	n = json_object_array_length(a);
	if (n == 0 || n > CFG_FLEET_MAX_ETCD)
		return cv_err(v, sub, 0, "fleet.etcd: 1 to %d endpoints", CFG_FLEET_MAX_ETCD);
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *s = json_object_get_string(e), *h;

		snprintf(el, sizeof(el), "%s/%zu", sub, i);
		h = json_object_get_type(e) != json_type_string ? NULL :
		    strncmp(s, "https://", 8) == 0 ? s + 8 : strncmp(s, "http://", 7) == 0 ? s + 7 : NULL;
		if (h == NULL || *h == '\0' || *h == '/' || strchr(h, '/') != NULL ||
		    strlen(s) >= sizeof(f->etcd[0]) || strpbrk(s, " \t\r\n?#@") != NULL) {
			r = cv_err(v, el, 0, "%s: expected an endpoint URL like \"https://10.0.0.5:2379\" "
			    "(http or https, no path)", cv_dotted(el, d, sizeof(d)));
			continue;
		}
		cr_strlcpy(f->etcd[i], s, sizeof(f->etcd[i]));
	}
	f->n_etcd = n;
	return r;
}

static int
parse_fleet(struct vctx *v, struct json_object *fl, struct config *cfg)
{
	struct cfg_fleet *f = &cfg->fleet;
	char sub[512], d[256];
	unsigned long ttl = f->lease_ttl;
	uint16_t port;
	char host[256];
	const char *s;
	int r = 0, g;

	if (cv_want_type(v, fl, "/fleet", json_type_object, "an object") < 0)
		return -EINVAL;
	f->enabled = 1;
	r |= cv_check_keys(v, fl, "/fleet", fleet_keys);
	r |= parse_fleet_etcd(v, fl, f);
	r |= cv_path(v, fl, "ca_file", "/fleet", f->ca_file, sizeof(f->ca_file));
	r |= cv_path(v, fl, "cert_file", "/fleet", f->cert_file, sizeof(f->cert_file));
	r |= cv_path(v, fl, "key_file", "/fleet", f->key_file, sizeof(f->key_file));
	if ((f->cert_file[0] == '\0') != (f->key_file[0] == '\0'))
		r |= cv_err(v, f->cert_file[0] ? "/fleet/cert_file" : "/fleet/key_file", 1,
		    "fleet: cert_file and key_file go together");
	g = cv_str(v, fl, "prefix", "/fleet", &s, sub, sizeof(sub));
	if (g > 0 && (s[0] != '/' || s[strlen(s) - 1] != '/' || strlen(s) >= sizeof(f->prefix) ||
	    strpbrk(s, " \t\r\n") != NULL))
		r |= cv_err(v, sub, 0, "%s: \"%s\" must start and end with '/' (e.g. \"/cloudroute/\")",
		    cv_dotted(sub, d, sizeof(d)), s);
	else if (g > 0)
		cr_strlcpy(f->prefix, s, sizeof(f->prefix));
	r |= g < 0;
	r |= get_label(v, fl, "site", "/fleet", f->site, sizeof(f->site));
	r |= get_label(v, fl, "name", "/fleet", f->name, sizeof(f->name));
	g = cv_str(v, fl, "endpoint", "/fleet", &s, sub, sizeof(sub));
	if (g > 0 && (strlen(s) >= sizeof(f->endpoint) ||
	    endpoint_split(s, host, sizeof(host), &port) < 0 || port == 0))
		r |= cv_err(v, sub, 0, "%s: \"%s\" is not host:port", cv_dotted(sub, d, sizeof(d)), s);
	else if (g > 0)
		cr_strlcpy(f->endpoint, s, sizeof(f->endpoint));
	r |= g < 0;
	r |= cv_uint(v, fl, "lease_ttl", "/fleet", 2, 600, &ttl);
	f->lease_ttl = (unsigned int)ttl;
	g = cv_str(v, fl, "health_ping", "/fleet", &s, sub, sizeof(sub));
	if (g > 0 && prefix_parse_addr(s, &f->health_ping) < 0)
		r |= cv_err(v, sub, 0, "%s: \"%s\" is not an IP address", cv_dotted(sub, d, sizeof(d)), s);
	f->has_health_ping = g > 0;
	r |= g < 0;
	return r ? -EINVAL : 0;
}

/* Fleet defaults that depend on other sections or on the host. */
static void
fleet_defaults(struct config *cfg)
{
	struct cfg_fleet *f = &cfg->fleet;
	char h[256];
	size_t i;

	if (!f->enabled)
		return;
	if (f->site[0] == '\0')
		cr_strlcpy(f->site, cfg->cloud.ha_group, sizeof(f->site));
	if (f->name[0] == '\0' && gethostname(h, sizeof(h)) == 0) {
		h[sizeof(h) - 1] = '\0';
		for (i = 0; h[i] && i < sizeof(f->name) - 1; i++)
			if (!isalnum((unsigned char)h[i]) && h[i] != '-' && h[i] != '_')
				break;                  /* the first label of the name */
		h[i] = '\0';
		cr_strlcpy(f->name, i > 0 ? h : "connector", sizeof(f->name));
	}
}

static int
parse_fwds(struct vctx *v, struct json_object *root, struct config *cfg)
{
	char sub[512], el[600], d[256];
	struct json_object *a = cv_member(root, "port_forwards", "", sub, sizeof(sub));
	size_t i, j, n;
	int r = 0;

	if (a == NULL)
		return 0;
	if (cv_want_type(v, a, sub, json_type_array, "an array") < 0)
		return -EINVAL;
	n = json_object_array_length(a);
	if ((cfg->fwds = calloc(n ? n : 1, sizeof(*cfg->fwds))) == NULL)
		return -ENOMEM;
	cfg->n_fwds = n;
	for (i = 0; i < n; i++) {
		snprintf(el, sizeof(el), "%s/%zu", sub, i);
		if (parse_fwd(v, json_object_array_get_idx(a, i), el, &cfg->fwds[i]) < 0) {
			r = -EINVAL;
			continue;
		}
		for (j = 0; j < i; j++)
			if (cfg->fwds[j].proto == cfg->fwds[i].proto &&
			    cfg->fwds[j].port == cfg->fwds[i].port)
				r = cv_err(v, el, 0, "%s: duplicate port forward for %s port %u",
				    cv_dotted(el, d, sizeof(d)),
				    cfg->fwds[i].proto == IPPROTO_TCP ? "tcp" : "udp", cfg->fwds[i].port);
	}
	return r;
}

/* "metrics": { "listen": "ADDRESS:PORT" } with a numeric address. */
static int
parse_metrics(struct vctx *v, struct json_object *m, struct config *cfg)
{
	char sub[512], d[256], host[64];
	const char *s;
	struct prefix a;
	uint16_t port;
	int g;

	if (cv_want_type(v, m, "/metrics", json_type_object, "an object") < 0)
		return -EINVAL;
	if (cv_check_keys(v, m, "/metrics", metrics_keys) < 0)
		return -EINVAL;
	if ((g = cv_str(v, m, "listen", "/metrics", &s, sub, sizeof(sub))) <= 0)
		return g < 0 ? -EINVAL : 0;
	if (endpoint_split(s, host, sizeof(host), &port) < 0 || port == 0 ||
	    prefix_parse_addr(host, &a) < 0 || strlen(s) >= sizeof(cfg->metrics_listen))
		return cv_err(v, sub, 0, "%s: \"%s\" is not address:port (e.g. \"127.0.0.1:9586\" "
		    "or \"[::1]:9586\")", cv_dotted(sub, d, sizeof(d)), s);
	cr_strlcpy(cfg->metrics_listen, s, sizeof(cfg->metrics_listen));
	return 0;
}

static int
parse_root(struct vctx *v, struct json_object *root, struct config *cfg)
{
	struct json_object *o;
	unsigned long ri = cfg->reconcile_interval;
	int rp = (int)cfg->rp_filter, fw = (int)cfg->firewall, r = 0, present = 0;

	if (json_object_get_type(root) != json_type_object)
		return cv_err(v, "", 0, "the configuration must be a JSON object, got %s",
		    cv_type_name(root));
	r |= cv_check_keys(v, root, "", top_keys);
	r |= cv_prefixes(v, root, "overlay", "", 0, &cfg->overlay, &present);
	if (present && cfg->overlay.n == 0 && r == 0)
		r |= cv_err(v, "/overlay", 0, "overlay: at least one prefix is required");
	if (cv_ifname(v, root, "lan_interface", "", cfg->lan_interface,
	    sizeof(cfg->lan_interface), NULL) < 0)
		r = -1;
	present = 0;
	r |= cv_prefixes(v, root, "local_subnets", "", 0, &cfg->local_subnets, &present);
	cfg->local_subnets_derived = !present;
	cfg->lan_interface_derived = cfg->lan_interface[0] == '\0';
	if (json_object_object_get_ex(root, "nat", &o))
		r |= parse_nat(v, o, cfg);
	r |= cv_bool(v, root, "egress", "", &cfg->egress);
	r |= cv_enum(v, root, "rp_filter", "", rp_names, &rp);
	cfg->rp_filter = (enum cfg_rp_filter)rp;
	r |= parse_fwds(v, root, cfg);
	r |= cv_enum(v, root, "firewall", "", firewall_names, &fw);
	cfg->firewall = (enum cfg_firewall)fw;
	if (json_object_object_get_ex(root, "metrics", &o))
		r |= parse_metrics(v, o, cfg);
	if (json_object_object_get_ex(root, "tunnel", &o))
		r |= parse_tunnel(v, o, cfg);
	if (json_object_object_get_ex(root, "cloud", &o))
		r |= parse_cloud(v, o, cfg);
	if (json_object_object_get_ex(root, "fleet", &o))
		r |= parse_fleet(v, o, cfg);
	if (cfg->fleet.enabled && (cfg->tunnel.mode != TUNNEL_USERSPACE || cfg->tunnel.address.n == 0))
		r |= cv_err(v, "/fleet", 1, "fleet needs the userspace tunnel and tunnel.address "
		    "(its first address is what the other connectors route to)");
	if (cfg->fleet.enabled && cfg->fleet.endpoint[0] == '\0' &&
	    strcmp(cfg->cloud.provider, "none") == 0)
		r |= cv_err(v, "/fleet", 1, "fleet.endpoint is required with cloud.provider \"none\" "
		    "(there is no cloud to report this connector's public IP)");
	fleet_defaults(cfg);
	r |= cv_path(v, root, "state_dir", "", cfg->state_dir, sizeof(cfg->state_dir));
	r |= cv_path(v, root, "sysctl_file", "", cfg->sysctl_file, sizeof(cfg->sysctl_file));
	r |= cv_uint(v, root, "reconcile_interval", "", 5, 86400, &ri);
	cfg->reconcile_interval = (unsigned int)ri;
	if (cfg->n_fwds > 0 && cfg->tunnel.address.n == 0)
		r |= cv_err(v, "/port_forwards", 1, "port_forwards need tunnel.address "
		    "(the connector's tunnel address that users connect to)");
	return r ? -EINVAL : 0;
}

int
config_parse(const char *path, const char *text, size_t len, struct config *cfg,
    struct buf *err)
{
	struct json_tokener *tok = NULL;
	struct json_object *root = NULL;
	struct jpos jp;
	struct vctx v = { path, &jp, err, 0 };
	enum json_tokener_error jerr;
	unsigned int line, col;
	int r;

	config_defaults(cfg);
	cr_strlcpy(cfg->path, path, sizeof(cfg->path));
	memset(&jp, 0, sizeof(jp));
	if (memchr(text, '\0', len) != NULL) {
		jpos_linecol(text, strlen(text), &line, &col);
		buf_printf(err, "%s:%u:%u: NUL byte in configuration\n", path, line, col);
		config_free(cfg);
		return -EINVAL;
	}
	if ((tok = json_tokener_new()) == NULL) {
		config_free(cfg);
		return -ENOMEM;
	}
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue || (root == NULL && jerr == json_tokener_success)) {
		jpos_linecol(text, len, &line, &col);
		buf_printf(err, "%s:%u:%u: unexpected end of file (unterminated object, array "
		    "or string)\n", path, line, col);
		r = -EINVAL;
		goto out;
	}
	if (jerr != json_tokener_success) {
		jpos_linecol(text, json_tokener_get_parse_end(tok), &line, &col);
		buf_printf(err, "%s:%u:%u: invalid JSON: %s\n", path, line, col,
		    json_tokener_error_desc(jerr));
		r = -EINVAL;
		goto out;
	}
	{
		/* Anything but whitespace/comments after the value is an error. */
		size_t end = json_tokener_get_parse_end(tok);
		struct jpos tail;
		if (end < len && jpos_scan(text + end, len - end, &tail) == 0) {
			jpos_free(&tail);
			jpos_linecol(text, end, &line, &col);
			buf_printf(err, "%s:%u:%u: unexpected data after the configuration object\n",
			    path, line, col);
			r = -EINVAL;
			goto out;
		}
		if (end < len)
			jpos_free(&tail);
	}
	if ((r = jpos_scan(text, len, &jp)) < 0) {
		buf_printf(err, "%s:1:1: could not index the configuration\n", path);
		goto out;
	}
	if (jp.has_dup) {
		buf_printf(err, "%s:%u:%u: duplicate key \"%s\"\n", path, jp.dup_line,
		    jp.dup_col, jp.dup_key);
		r = -EINVAL;
		goto out;
	}
	r = parse_root(&v, root, cfg);
out:
	jpos_free(&jp);
	json_object_put(root);
	json_tokener_free(tok);
	if (r < 0)
		config_free(cfg);
	return r;
}

int
config_load(const char *path, struct config *cfg, struct buf *err)
{
	struct buf text;
	int r;

	buf_init(&text, CFG_MAX_SIZE);
	if ((r = file_read(path, CFG_MAX_SIZE, &text)) < 0) {
		buf_printf(err, "%s: %s\n", path, r == -EFBIG ? "file too large" : strerror(-r));
		buf_free(&text);
		return r;
	}
	r = config_parse(path, text.data, text.len, cfg, err);
	buf_free(&text);
	return r;
}
