/*
 * `cloudroute status`: what is applied (from the state file and the
 * kernel), drift (a fresh plan), tunnel peers (UAPI of the running
 * daemon), cloud routes and the last errors.  Never prints keys other than
 * peers' public keys' names.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "agent/agent.h"
#include "agent/clients.h"
#include "agent/cloud.h"
#include "agent/fleet_agent.h"
#include "agent/host.h"
#include "agent/peergroup.h"
#include "agent/tunnel.h"
#include "dataplane/dataplane.h"
#include "netcfg/netcfg.h"

static const char *
peer_name(const struct config *cfg, const struct client_store *cl, const uint8_t pub[32],
    char *buf, size_t len)
{
	const struct cfg_peer *p = config_peer_by_key(cfg, pub);
	size_t i;

	if (p != NULL)
		return p->name;
	for (i = 0; i < cl->n; i++)
		if (CRYPTO_memcmp(cl->v[i].public_key, pub, 32) == 0) {
			snprintf(buf, len, "client:%s", cl->v[i].name);
			return buf;
		}
	return "(not in config)";
}

/* Peer groups: who holds each group's prefixes on the running tunnel. */
static struct json_object *
groups_json(const struct config *cfg, const struct dp_peer_status *ps, size_t n)
{
	struct json_object *a = json_object_new_array();
	size_t i, j;
	ssize_t h;

	for (i = 0; i < cfg->tunnel.n_peers; i++) {
		struct json_object *o;
		for (j = 0; j < cfg->tunnel.n_peers && cfg->tunnel.peers[j].backup_of != i + 1; j++)
			;
		if (j == cfg->tunnel.n_peers)
			continue;
		o = json_object_new_object();
		h = pg_live_holder(cfg, i, ps, n);
		json_object_object_add(o, "primary", json_object_new_string(cfg->tunnel.peers[i].name));
		json_object_object_add(o, "holder", h < 0 ? NULL :
		    json_object_new_string(cfg->tunnel.peers[h].name));
		json_object_array_add(a, o);
	}
	return a;
}

static struct json_object *
peers_json(const struct config *cfg, struct dp_peer_status *ps, size_t n)
{
	struct client_store cl;
	struct buf err;
	char nb[80];
	struct json_object *a = json_object_new_array();
	char b[PREFIX_STRLEN + 8];
	size_t i, j;

	buf_init(&err, 4096);
	if (clients_load(cfg->state_dir, &cl, &err) < 0)
		memset(&cl, 0, sizeof(cl));         /* names only; `client list` reports it */
	buf_free(&err);
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_new_object(), *al = json_object_new_array();
		json_object_object_add(o, "name", json_object_new_string(peer_name(cfg, &cl,
		    ps[i].public_key, nb, sizeof(nb))));
		json_object_object_add(o, "endpoint", ps[i].has_endpoint ? json_object_new_string(
		    sockaddr_fmt((struct sockaddr *)&ps[i].endpoint, b, sizeof(b))) : NULL);
		json_object_object_add(o, "latest_handshake",
		    json_object_new_int64((int64_t)ps[i].last_handshake_sec));
		json_object_object_add(o, "rx_bytes", json_object_new_int64((int64_t)ps[i].rx_bytes));
		json_object_object_add(o, "tx_bytes", json_object_new_int64((int64_t)ps[i].tx_bytes));
		json_object_object_add(o, "persistent_keepalive",
		    json_object_new_int(ps[i].persistent_keepalive));
		for (j = 0; j < ps[i].n_allowed_ips; j++)
			json_object_array_add(al, json_object_new_string(
			    prefix_fmt(&ps[i].allowed_ips[j], b, sizeof(b))));
		json_object_object_add(o, "allowed_ips", al);
		json_object_array_add(a, o);
	}
	clients_free(&cl);
	return a;
}

static void
print_text(const struct config *cfg, struct state *st, const struct plan *p,
    struct json_object *peers, struct json_object *groups, int tunnel_up, const char *errs)
{
	struct json_object *last = state_obj(st, "last", 0), *sys = state_obj(st, "sysctl", 0), *v;
	char line[512], val[64];
	time_t now = time(NULL);
	size_t i;

	printf("config %s, state %s\n", cfg->path, st->path);
	if (last && json_object_object_get_ex(last, "time", &v)) {
		time_t t = (time_t)json_object_get_int64(v);
		struct json_object *ok = NULL, *e = NULL;
		char ts[64];
		strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
		json_object_object_get_ex(last, "ok", &ok);
		json_object_object_get_ex(last, "errors", &e);
		printf("last reconcile: %s (%ld s ago): %s\n", ts, (long)(now - t),
		    json_object_get_boolean(ok) ? "ok" : "FAILED");
		for (i = 0; e && i < json_object_array_length(e); i++)
			printf("  error: %s\n", json_object_get_string(json_object_array_get_idx(e, i)));
	} else {
		printf("last reconcile: never (run `cloudroute apply` or start the service)\n");
	}
	printf("host:\n");
	if (sys) {
		json_object_object_foreach(sys, key, o) {
			if (nc_sysctl_read(key, val, sizeof(val)) < 0)
				cr_strlcpy(val, "?", sizeof(val));
			printf("  sysctl %s = %s (was %s)\n", key, val, state_str(o, "original"));
		}
	}
	printf("  nftables table inet %s: %s\n", NC_NFT_TABLE,
	    state_obj(st, "nft", 0) ? "installed" : "not installed");
	printf("tunnel %s (%s): %s\n", cfg->tunnel.interface,
	    cfg->tunnel.mode == TUNNEL_USERSPACE ? "userspace" : "external",
	    tunnel_up ? "up" : "not present");
	for (i = 0; peers && i < json_object_array_length(peers); i++) {
		struct json_object *o = json_object_array_get_idx(peers, i), *x;
		int64_t hs;
		json_object_object_get_ex(o, "latest_handshake", &x);
		hs = json_object_get_int64(x);
		printf("  peer %s:", json_object_get_string(json_object_object_get(o, "name")));
		if (json_object_object_get_ex(o, "endpoint", &x) && x)
			printf(" endpoint %s,", json_object_get_string(x));
		if (hs)
			printf(" handshake %lld s ago,", (long long)(now - hs));
		else
			printf(" no handshake yet,");
		printf(" rx %lld B, tx %lld B, allowed %s\n",
		    (long long)json_object_get_int64(json_object_object_get(o, "rx_bytes")),
		    (long long)json_object_get_int64(json_object_object_get(o, "tx_bytes")),
		    json_object_to_json_string_ext(json_object_object_get(o, "allowed_ips"),
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	}
	for (i = 0; groups && i < json_object_array_length(groups); i++) {
		struct json_object *o = json_object_array_get_idx(groups, i), *h;
		h = json_object_object_get(o, "holder");
		printf("  peer group %s: prefixes on %s\n",
		    json_object_get_string(json_object_object_get(o, "primary")),
		    h ? json_object_get_string(h) : "(nobody)");
	}
	fleet_status_print(cfg, stdout);
	printf("cloud (%s):\n", cfg->cloud.provider);
	for (i = 0; i < p->cloud.n; i++)
		printf("  %s\n", prov_change_fmt(&p->cloud.v[i], line, sizeof(line)));
	if (plan_changes(p) == 0) {
		printf("drift: none\n");
	} else {
		printf("drift: %zu change%s pending (`cloudroute apply` or the daemon fixes it):\n",
		    plan_changes(p), plan_changes(p) == 1 ? "" : "s");
		for (i = 0; i < p->n; i++)
			if (p->v[i].kind != ACT_NOTE && p->v[i].kind != ACT_CONFLICT)
				printf("  %c %s\n", p->v[i].sign, p->v[i].text);
	}
	for (i = 0; i < p->n; i++)
		if (p->v[i].kind == ACT_CONFLICT)
			printf("conflict: %s\n", p->v[i].text);
	if (errs && *errs)
		printf("errors now:\n%s", errs);
}

/* DESIGN.md: 0 in sync, 2 drift or changes pending, 1 the last pass failed. */
static int
status_exit(struct state *st, const struct plan *p)
{
	struct json_object *last = state_obj(st, "last", 0), *ok;

	if (last != NULL && json_object_object_get_ex(last, "ok", &ok) &&
	    !json_object_get_boolean(ok))
		return EXIT_RUNTIME;
	return plan_changes(p) > 0 ? EXIT_CHANGES : EXIT_OK;
}

int
cmd_status(const struct opts *o)
{
	struct dp_peer_status *ps = NULL;
	struct json_object *peers = NULL, *groups = NULL;
	struct cloud_session cs;
	struct config cfg;
	struct desired want;
	struct state st;
	struct plan p;
	struct buf errs;
	size_t np = 0;
	uint16_t lport = 0;
	int r, tunnel_up;

	if ((r = agent_open(o, &cfg, &st)) != EXIT_OK)
		return r;
	memset(&p, 0, sizeof(p));
	memset(&cs, 0, sizeof(cs));
	buf_init(&errs, 64 * 1024);
	memset(&want, 0, sizeof(want));
	if (agent_desired(&cfg, NULL, &want) == 0)   /* with the fleet's last peers */
		p.desired = &want;
	tunnel_plan(&cfg, &p);
	host_plan(&cfg, &st, &p);
	if (p.desired != NULL)
		cloud_plan(&cfg, &st, &p, &cs, &errs);
	tunnel_up = nc_link_exists(cfg.tunnel.interface) > 0;
	if (cfg.tunnel.mode == TUNNEL_USERSPACE &&
	    dp_uapi_status(cfg.tunnel.interface, &ps, &np, &lport) == 0) {
		peers = peers_json(&cfg, ps, np);
		groups = groups_json(&cfg, ps, np);
		dp_peer_status_free(ps, np);
	}
	if (o->json) {
		struct json_object *j = json_object_new_object(), *t = json_object_new_object();
		struct json_object *last = state_obj(&st, "last", 0);
		json_object_object_add(j, "config", json_object_new_string(cfg.path));
		json_object_object_add(j, "last", last ? json_object_get(last) : NULL);
		json_object_object_add(j, "sysctl", json_object_get(state_obj(&st, "sysctl", 0)));
		json_object_object_add(j, "nft_installed",
		    json_object_new_boolean(state_obj(&st, "nft", 0) != NULL));
		json_object_object_add(t, "interface", json_object_new_string(cfg.tunnel.interface));
		json_object_object_add(t, "up", json_object_new_boolean(tunnel_up));
		json_object_object_add(t, "listen_port", json_object_new_int(lport));
		json_object_object_add(t, "peers", peers ? json_object_get(peers) : json_object_new_array());
		json_object_object_add(t, "groups", groups ? json_object_get(groups) :
		    json_object_new_array());
		json_object_object_add(j, "tunnel", t);
		if (cfg.fleet.enabled)
			json_object_object_add(j, "fleet", fleet_status_json(&cfg));
		json_object_object_add(j, "drift", json_object_new_int((int)plan_changes(&p)));
		json_object_object_add(j, "plan", plan_json(&p));
		json_object_object_add(j, "errors", json_object_new_string(errs.data ? errs.data : ""));
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else {
		print_text(&cfg, &st, &p, peers, groups, tunnel_up, errs.data);
	}
	r = status_exit(&st, &p);
	json_object_put(peers);
	json_object_put(groups);
	cloud_close(&cs);
	plan_free(&p);
	desired_free(&want);
	buf_free(&errs);
	state_free(&st);
	config_free(&cfg);
	return r;
}
