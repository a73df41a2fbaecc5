/*
 * `cloudroute doctor`: checks for the causes of "the tunnel is up but
 * nothing flows" that users of comparable tools keep hitting: forwarding
 * off, strict rp_filter, a foreign FORWARD drop policy (Docker, firewalld,
 * ufw), legacy iptables rules nftables cannot see, MTU black holes,
 * conntrack exhaustion, insecure key files, failed reconciles, cloud route
 * conflicts.  Exit 1 when any problem is found.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/timex.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/agent.h"
#include "agent/clients.h"
#include "agent/cloud.h"
#include "agent/fleet_agent.h"
#include "agent/desired.h"
#include "agent/firewall.h"
#include "agent/host.h"
#include "agent/tunnel.h"
#include "dataplane/dataplane.h"
#include "netcfg/netcfg.h"

struct doc {
	int problems, warnings;
};

static void say(struct doc *d, int level, const char *fmt, ...) CR_PRINTF(3, 4);

static void
say(struct doc *d, int level, const char *fmt, ...)
{
	static const char *const tag[] = { "ok     ", "warn   ", "PROBLEM" };
	va_list ap;

	printf("%s ", tag[level]);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (level == 1)
		d->warnings++;
	if (level == 2)
		d->problems++;
}

static long
sysctl_long(const char *key)
{
	char v[64];
	unsigned long n;

	if (nc_sysctl_read(key, v, sizeof(v)) < 0 || cr_parse_ulong(v, 0, ~0UL >> 1, &n) < 0)
		return -1;
	return (long)n;
}

static void
check_sysctls(struct doc *d, const struct config *cfg)
{
	const char *ifs[2] = { cfg->lan_interface, cfg->tunnel.interface };
	long all, v, target = config_rp_filter_target(cfg);
	char key[256];
	int i;

	if (sysctl_long("net.ipv4.ip_forward") == 1)
		say(d, 0, "net.ipv4.ip_forward = 1");
	else
		say(d, 2, "net.ipv4.ip_forward is off: this host does not route (cloudroute apply sets it)");
	if (cfg->rp_filter == RP_LEAVE)
		return;
	all = sysctl_long("net.ipv4.conf.all.rp_filter");
	for (i = 0; i < 2; i++) {
		if (nc_link_exists(ifs[i]) <= 0)
			continue;
		snprintf(key, sizeof(key), "net.ipv4.conf.%s.rp_filter", ifs[i]);
		v = sysctl_long(key);
		v = v > all ? v : all;
		if (v == target)
			say(d, 0, "rp_filter on %s is effectively %ld", ifs[i], v);
		else
			say(d, 2, "rp_filter on %s is effectively %ld (max of conf.all and conf.%s): "
			    "routed replies can be dropped silently", ifs[i], v, ifs[i]);
	}
}

/* Other tables' forward chains that drop: a packet must be accepted by
 * every base chain at the hook, so only accepts inside theirs help. */
struct fw_doc {
	struct doc *d;
	const struct config *cfg;
};

static int
foreign_one(void *ctx, const struct nc_fw_chain *c, const char *rules)
{
	struct fw_doc *f = ctx;
	char name[256];

	if (!c->drops || *rules == '\0')
		return 0;
	fw_name(c, name, sizeof(name));
	if (c->unsafe)
		say(f->d, 2, "%s drops forwarded tunnel traffic; its name cannot be written "
		    "safely, so cloudroute leaves it alone: allow the traffic there", name);
	else if (c->owned)
		say(f->d, 2, "%s drops forwarded tunnel traffic and owns its table: allow "
		    "tunnel <-> local subnets in %s itself", name, c->tool);
	else if (f->cfg->firewall == FIREWALL_LEAVE)
		say(f->d, 2, "%s drops forwarded tunnel traffic and \"firewall\" is \"leave\": "
		    "accept tunnel <-> local subnets in %s %s %s yourself", name, c->family,
		    c->table, c->target);
	else if (nc_fw_in_sync(c, rules))
		say(f->d, 0, "%s: tunnel <-> local subnets accepted in %s (%zu rules marked %s)",
		    name, c->target, c->n_ours, c->mark);
	else
		say(f->d, 2, "%s drops forwarded tunnel traffic and the accepts of cloudroute in "
		    "%s are missing or out of date (cloudroute apply puts them there)", name,
		    c->target);
	return 0;
}

static void
check_foreign(struct doc *d, const struct config *cfg)
{
	struct fw_doc f = { d, cfg };

	if (fw_walk(cfg, NULL, foreign_one, &f) < 0)
		say(d, 1, "cannot read the nftables ruleset: %s", nc_last_error());
}

/* Is something bound to UDP port?  /proc/net/udp{,6}: "sl: ADDR:PORT ..."
 * with the port in hex. */
static int
udp_bound(unsigned int port)
{
	static const char *const files[] = { "/proc/net/udp", "/proc/net/udp6" };
	const char *l;
	unsigned int p;
	struct buf b;
	size_t i;
	int found = 0;

	for (i = 0; i < 2 && !found; i++) {
		buf_init(&b, 4u << 20);
		if (file_read(files[i], 4u << 20, &b) == 0 && b.data)
			for (l = b.data; l && !found; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
				found = sscanf(l, " %*u: %*[0-9A-Fa-f]:%x", &p) == 1 && p == port;
		buf_free(&b);
	}
	return found;
}

static void
check_udp_port(struct doc *d, const struct config *cfg)
{
	if (cfg->tunnel.mode != TUNNEL_USERSPACE || cfg->tunnel.listen_port == 0 ||
	    nc_link_exists(cfg->tunnel.interface) <= 0)
		return;
	if (udp_bound(cfg->tunnel.listen_port))
		say(d, 0, "udp port %u is bound", cfg->tunnel.listen_port);
	else
		say(d, 2, "tunnel %s exists but nothing listens on udp port %u: peers cannot "
		    "reach it", cfg->tunnel.interface, cfg->tunnel.listen_port);
}

/* Cloud signatures and tokens carry the time: AWS SigV4 is refused beyond
 * 5 minutes of skew.  adjtimex() in read-only mode says whether the kernel
 * clock is kept synchronized (NTP, chrony, timesyncd). */
static void
check_clock(struct doc *d)
{
	struct timex tx;
	int st;

	memset(&tx, 0, sizeof(tx));
	if ((st = adjtimex(&tx)) < 0)
		return;
	if (st == TIME_ERROR)
		say(d, 1, "the system clock is not synchronized (no NTP): cloud API signatures "
		    "are refused once it drifts (AWS: 5 minutes); run chrony or systemd-timesyncd");
	else
		say(d, 0, "the system clock is synchronized (estimated error %ld us)",
		    (long)tx.esterror);
}

/* In a container on AWS, IMDSv2's token answer (hop limit 1 by default)
 * dies one hop short of the container: identity and credentials fail. */
static void
check_container(struct doc *d, const struct config *cfg)
{
	struct buf b;
	const char *what = NULL;

	if (strcmp(cfg->cloud.provider, "aws") != 0 && strcmp(cfg->cloud.provider, "auto") != 0)
		return;
	buf_init(&b, 256);
	if (file_read("/run/systemd/container", 256, &b) == 0 && b.len > 0)
		what = b.data;
	else if (access("/.dockerenv", F_OK) == 0)
		what = "docker";
	else if (access("/run/.containerenv", F_OK) == 0)
		what = "podman";
	if (what)
		say(d, 1, "running in a container (%.*s): on AWS the instance's IMDSv2 hop limit "
		    "must be 2 or more (aws ec2 modify-instance-metadata-options "
		    "--http-put-response-hop-limit 2), or the metadata service stays silent",
		    (int)strcspn(what, "\n"), what);
	buf_free(&b);
}

static void
check_firewall(struct doc *d, const struct config *cfg)
{
	struct buf b, legacy;
	size_t i;

	buf_init(&b, 64 * 1024);
	if (nc_nft_list(&b) == 0)
		say(d, 0, "nftables table inet %s is installed", NC_NFT_TABLE);
	else
		say(d, 2, "nftables table inet %s is missing (cloudroute apply installs it)", NC_NFT_TABLE);
	buf_free(&b);
	check_foreign(d, cfg);
	/* The tunnel's own UDP port arrives through the input hook. */
	buf_init(&b, 64 * 1024);
	if (cfg->tunnel.mode == TUNNEL_USERSPACE && nc_nft_foreign_drop_chains("input", &b) == 0 &&
	    b.len > 0) {
		for (i = 0; i < b.len; i++)
			if (b.data[i] == '\n')
				b.data[i] = i + 1 < b.len ? ',' : '\0';
		say(d, 1, "input chains with a drop policy (%s): make sure they accept udp port %u "
		    "or no peer can reach this connector", b.data, cfg->tunnel.listen_port);
	}
	buf_free(&b);
	buf_init(&legacy, 4096);
	if (file_read("/proc/net/ip_tables_names", 4096, &legacy) == 0 && legacy.len > 0)
		say(d, 1, "legacy iptables tables are loaded (%.*s): their rules are invisible to "
		    "nftables; check `iptables-legacy -S FORWARD`", (int)strcspn(legacy.data, "\n"),
		    legacy.data);
	buf_free(&legacy);
}

static void
check_lan(struct doc *d, const struct config *cfg)
{
	int up = 0;
	unsigned int mtu = 0;

	if (nc_link_exists(cfg->lan_interface) <= 0)
		say(d, 2, "lan_interface %s does not exist: nothing is routed to or from the "
		    "site until it appears", cfg->lan_interface);
	else if (nc_link_get(cfg->lan_interface, &up, &mtu) == 0 && !up)
		say(d, 2, "lan_interface %s is down", cfg->lan_interface);
}

static void
check_tunnel(struct doc *d, const struct config *cfg)
{
	unsigned int lan_mtu = 0, tun_mtu = 0;
	int up = 0;
	uint8_t k[32];
	struct buf errs;

	if (nc_link_get(cfg->tunnel.interface, &up, &tun_mtu) < 0) {
		say(d, 2, "tunnel interface %s does not exist (%s)", cfg->tunnel.interface,
		    cfg->tunnel.mode == TUNNEL_USERSPACE ? "is `cloudroute run` running?" :
		    "is the program that runs it up?");
	} else if (!up) {
		say(d, 2, "tunnel interface %s is down", cfg->tunnel.interface);
	} else {
		say(d, 0, "tunnel interface %s is up, mtu %u", cfg->tunnel.interface, tun_mtu);
	}
	if (cfg->tunnel.mode == TUNNEL_USERSPACE) {
		buf_init(&errs, 4096);
		if (tunnel_read_key(cfg->tunnel.private_key_file, k, &errs) < 0)
			say(d, 2, "private key: %.*s", (int)strcspn(errs.data, "\n"), errs.data);
		else
			say(d, 0, "private key file %s is private", cfg->tunnel.private_key_file);
		explicit_bzero(k, sizeof(k));
		buf_free(&errs);
		/* WireGuard adds 60 (IPv4) or 80 (IPv6) bytes to each packet. */
		if (nc_link_get(cfg->lan_interface, &up, &lan_mtu) == 0 &&
		    cfg->tunnel.mtu + 80 > lan_mtu)
			say(d, 1, "tunnel mtu %u + 80 bytes of WireGuard overhead exceeds %s mtu %u: "
			    "large packets fragment or vanish (set tunnel.mtu to %u)", cfg->tunnel.mtu,
			    cfg->lan_interface, lan_mtu, lan_mtu > 80 ? lan_mtu - 80 : 0);
	}
}

static void
check_peers(struct doc *d, const struct config *cfg)
{
	struct dp_peer_status *ps = NULL;
	struct client_store cl;
	struct buf err;
	size_t n = 0, i, j;
	uint16_t port;
	time_t now = time(NULL);

	if (cfg->tunnel.mode != TUNNEL_USERSPACE ||
	    dp_uapi_status(cfg->tunnel.interface, &ps, &n, &port) < 0)
		return;
	buf_init(&err, 4096);
	if (clients_load(cfg->state_dir, &cl, &err) < 0)
		memset(&cl, 0, sizeof(cl));             /* check_clients reports it */
	buf_free(&err);
	for (i = 0; i < n; i++) {
		const struct cfg_peer *cp = config_peer_by_key(cfg, ps[i].public_key);
		const char *name = cp != NULL ? cp->name : "(unknown)";
		for (j = 0; cp == NULL && j < cl.n; j++)
			if (memcmp(cl.v[j].public_key, ps[i].public_key, 32) == 0)
				break;
		if (cp == NULL && j < cl.n) {
			/* remote users come and go: not a problem */
			say(d, 0, "client %s: %s", cl.v[j].name, ps[i].last_handshake_sec ?
			    "connected" : "not connected yet");
			continue;
		}
		if (ps[i].last_handshake_sec == 0)
			say(d, 1, "peer %s: no handshake yet (endpoint reachable? UDP port %u open "
			    "in the security group / NSG / firewall?)", name, port);
		else if (now - (time_t)ps[i].last_handshake_sec > 180)
			say(d, 1, "peer %s: last handshake %ld s ago", name,
			    (long)(now - (time_t)ps[i].last_handshake_sec));
		else
			say(d, 0, "peer %s: handshake %ld s ago", name,
			    (long)(now - (time_t)ps[i].last_handshake_sec));
	}
	clients_free(&cl);
	dp_peer_status_free(ps, n);
}

/* Remote users: the store readable, and every client still fits the config. */
static void
check_clients(struct doc *d, const struct config *cfg)
{
	struct client_store cs;
	struct buf err, out;
	const char *p, *nl;

	if (cfg->tunnel.mode != TUNNEL_USERSPACE)
		return;
	buf_init(&err, 4096);
	buf_init(&out, 64 * 1024);
	if (clients_load(cfg->state_dir, &cs, &err) < 0) {
		say(d, 2, "%.*s (the daemon ignores the clients: none can connect)",
		    (int)strcspn(err.data ? err.data : "clients", "\n"), err.data ? err.data : "clients");
	} else if (cs.n > 0) {
		if (clients_check(cfg, &cs, &out) == 0)
			say(d, 0, "%zu client%s in %s", cs.n, cs.n == 1 ? "" : "s", cs.path);
		for (p = out.data; p != NULL && *p; p = nl + 1) {
			nl = strchr(p, '\n');
			say(d, 2, "%.*s", (int)(nl - p), p);
		}
		clients_free(&cs);
	}
	buf_free(&err);
	buf_free(&out);
}

static void
check_conntrack(struct doc *d)
{
	long count = sysctl_long("net.netfilter.nf_conntrack_count");
	long max = sysctl_long("net.netfilter.nf_conntrack_max");

	if (count < 0 || max <= 0)
		return;
	if (count * 10 > max * 9)
		say(d, 2, "conntrack table %ld/%ld full: new flows are dropped (raise "
		    "net.netfilter.nf_conntrack_max)", count, max);
	else
		say(d, 0, "conntrack table %ld/%ld", count, max);
}

static void
check_state(struct doc *d, const struct config *cfg, struct state *st)
{
	struct json_object *last = state_obj(st, "last", 0), *ok, *e;
	struct cloud_session cs;
	struct desired want;
	struct plan p;
	struct buf errs;
	char line[512];
	size_t i;

	if (last && json_object_object_get_ex(last, "ok", &ok) && !json_object_get_boolean(ok)) {
		json_object_object_get_ex(last, "errors", &e);
		say(d, 2, "the last reconcile failed: %s", e ? json_object_to_json_string(e) : "?");
	}
	memset(&p, 0, sizeof(p));
	memset(&cs, 0, sizeof(cs));
	buf_init(&errs, 16 * 1024);
	if (agent_desired(cfg, NULL, &want) < 0) {
		say(d, 2, "cannot compose the desired state");
		buf_free(&errs);
		return;
	}
	p.desired = &want;
	if (cloud_plan(cfg, st, &p, &cs, &errs) < 0)
		say(d, 2, "cloud: %.*s", (int)strcspn(errs.data, "\n"), errs.data);
	for (i = 0; i < p.cloud.n; i++) {
		if (p.cloud.v[i].action == PROV_CONFLICT)
			say(d, 1, "%s", prov_change_fmt(&p.cloud.v[i], line, sizeof(line)));
		else if (p.cloud.v[i].action != PROV_KEEP)
			say(d, 1, "cloud drift: %s", prov_change_fmt(&p.cloud.v[i], line, sizeof(line)));
	}
	cloud_close(&cs);
	plan_free(&p);
	desired_free(&want);
	buf_free(&errs);
}

static void
say_fleet(void *arg, int level, const char *text)
{
	say(arg, level, "%s", text);
}

int
cmd_doctor(const struct opts *o)
{
	struct config cfg;
	struct state st;
	struct doc d = { 0, 0 };
	int r;

	if (agent_privileged() < 0)
		return EXIT_RUNTIME;
	if ((r = agent_load_config(o, &cfg, 1)) != EXIT_OK)
		return r;
	say(&d, 0, "configuration %s is valid", cfg.path);
	check_sysctls(&d, &cfg);
	check_firewall(&d, &cfg);
	check_lan(&d, &cfg);
	check_container(&d, &cfg);
	check_clock(&d);
	check_udp_port(&d, &cfg);
	check_tunnel(&d, &cfg);
	check_peers(&d, &cfg);
	check_clients(&d, &cfg);
	check_conntrack(&d);
	fleet_doctor(&cfg, say_fleet, &d);
	if (state_load(cfg.state_dir, &st) == 0) {
		check_state(&d, &cfg, &st);
		state_free(&st);
	}
	printf("%d problem%s, %d warning%s\n", d.problems, d.problems == 1 ? "" : "s",
	    d.warnings, d.warnings == 1 ? "" : "s");
	config_free(&cfg);
	return d.problems ? EXIT_RUNTIME : EXIT_OK;
}
