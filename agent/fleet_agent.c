/*
 * The fleet inside the daemon: starts the fleet thread (agent/fleet.c) from
 * the config, turns each published snapshot into the "fleet" desired-state
 * source (agent/desired.h: peers named "fleet:<site>/<name>", cloud_leader),
 * and keeps state_dir/fleet.json (what `status` shows: role, lease, etcd
 * endpoint, members, leader per site, last event, last error).
 *
 * Threads: fleet_agent_start/stop/reload run on the main thread; the
 * callbacks below run on the fleet thread and touch only the registry
 * (which has its own lock), the status file and `last` (fleet thread only
 * while the fleet runs; the main thread reads nothing of it).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/cloudproc.h"
#include "agent/desired.h"
#include "agent/fleet_agent.h"
#include "agent/fleet_run.h"
#include "agent/tunnel.h"
#include "dataplane/noise.h"
#include "providers/provider.h"

/* WireGuard keepalive toward fleet peers: sessions come up at once (a new
 * peer is greeted, not waited for) and stay up through NAT. */
#define FLEET_KEEPALIVE 25

struct fleet_agent {
	struct fleet *f;
	struct ds_registry *reg;
	char status_path[PATH_MAX];
	char provider[16];
	uint16_t listen_port;
	struct cfg_fleet cfg;             /* what it was started with (reload) */
	struct prefix_set subnets;
	struct prefix address;
	struct json_object *members;      /* of the last snapshot (fleet thread) */
	int resolve_logged;               /* endpoint lookup failure said once */
	struct fleet_status last_st;
};

static struct ds_source *
to_source(const struct fleet_snapshot *s)
{
	struct ds_source *src = calloc(1, sizeof(*src));
	size_t i, j;

	if (src == NULL)
		return NULL;
	cr_strlcpy(src->name, "fleet", sizeof(src->name));
	src->cloud_leader = s->leader;
	if (s->peers.n > 0 && (src->peers = calloc(s->peers.n, sizeof(*src->peers))) == NULL)
		goto fail;
	for (i = 0; i < s->peers.n; i++) {
		const struct fleet_peer *p = &s->peers.v[i];
		struct ds_peer *d = &src->peers[i];

		src->n_peers++;         /* freed with src from here on */
		/* Long site/name pairs are cut in the labels only (plan, status). */
		if (ds_str_fmt(&d->source, DS_SOURCE_LEN, "fleet:%s/%s", p->site, p->name) < 0 ||
		    ds_str_fmt(&d->name, DS_NAME_LEN, "%s/%s", p->site, p->name) < 0 ||
		    ds_str_set(&d->endpoint, p->endpoint, DS_ENDPOINT_LEN, 1) < 0)
			goto fail;
		memcpy(d->public_key, p->public_key, 32);
		d->keepalive = FLEET_KEEPALIVE;
		for (j = 0; j < p->allowed_ips.n; j++)
			if (prefix_set_add(&d->allowed_ips, &p->allowed_ips.v[j]) < 0)
				goto fail;
	}
	return src;
fail:
	ds_source_free(src);
	return NULL;
}

static void
write_status(struct fleet_agent *a, const struct fleet_status *st)
{
	struct json_object *o = json_object_new_object();
	char lease[24];
	const char *s;

	snprintf(lease, sizeof(lease), "%" PRIx64, (uint64_t)st->lease);
	json_object_object_add(o, "site", json_object_new_string(a->cfg.site));
	json_object_object_add(o, "name", json_object_new_string(a->cfg.name));
	json_object_object_add(o, "role", json_object_new_string(fleet_role_name(st->role)));
	json_object_object_add(o, "writes_cloud_routes", json_object_new_boolean(st->may_write));
	json_object_object_add(o, "lease", json_object_new_string(st->lease ? lease : ""));
	json_object_object_add(o, "etcd", json_object_new_string(st->endpoint));
	json_object_object_add(o, "etcd_synced", json_object_new_boolean(st->synced));
	json_object_object_add(o, "site_leader", json_object_new_string(st->site_leader));
	json_object_object_add(o, "members", json_object_new_int64((int64_t)st->members));
	json_object_object_add(o, "revision", json_object_new_int64(st->revision));
	json_object_object_add(o, "last_event_ms", json_object_new_int64(
	    (int64_t)st->last_event_wall_ms));
	json_object_object_add(o, "events", json_object_new_int64((int64_t)st->events));
	json_object_object_add(o, "last_error", json_object_new_string(st->last_error));
	json_object_object_add(o, "peers", a->members ? json_object_get(a->members) :
	    json_object_new_array());
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (file_write_atomic(a->status_path, s, strlen(s), 0644) < 0)
		log_debug("fleet: cannot write %s", a->status_path);
	json_object_put(o);
}

static void
on_publish(void *arg, struct fleet_snapshot *s)
{
	struct fleet_agent *a = arg;
	struct json_object *m = json_object_new_array();
	struct ds_source *src = to_source(s);
	char b[PREFIX_STRLEN];
	size_t i;

	for (i = 0; m != NULL && i < s->peers.n; i++) {
		struct json_object *p = json_object_new_object(), *ips = json_object_new_array();
		size_t j;

		json_object_object_add(p, "site", json_object_new_string(s->peers.v[i].site));
		json_object_object_add(p, "name", json_object_new_string(s->peers.v[i].name));
		char pk[45];

		dp_key_to_base64(pk, s->peers.v[i].public_key);
		json_object_object_add(p, "public_key", json_object_new_string(pk));
		json_object_object_add(p, "leader", json_object_new_boolean(s->peers.v[i].leader));
		json_object_object_add(p, "endpoint", json_object_new_string(s->peers.v[i].endpoint ?
		    s->peers.v[i].endpoint : ""));
		for (j = 0; j < s->peers.v[i].allowed_ips.n; j++)
			json_object_array_add(ips, json_object_new_string(
			    prefix_fmt(&s->peers.v[i].allowed_ips.v[j], b, sizeof(b))));
		json_object_object_add(p, "allowed_ips", ips);
		json_object_array_add(m, p);
	}
	json_object_put(a->members);
	a->members = m;
	if (src == NULL || ds_registry_put(a->reg, src) < 0)
		log_warnx("fleet: could not hand the peers to the agent (out of memory)");
	fleet_snapshot_free(s);
	write_status(a, &a->last_st);
}

static void
on_status(void *arg, const struct fleet_status *st)
{
	struct fleet_agent *a = arg;

	a->last_st = *st;
	write_status(a, st);
}

/* fleet.endpoint unset: the cloud's public IP of this instance, asked of a
 * cloud process (agent/cloudproc.h: no metadata answer is parsed here). */
static int
resolve_endpoint(void *arg, char *out, size_t len)
{
	struct fleet_agent *a = arg;
	char ip[64];
	struct buf errs;
	int r, n;

	if (strcmp(a->provider, "none") == 0) {
		if (!a->resolve_logged++)
			log_warnx("fleet: no cloud to ask for a public IP: set fleet.endpoint");
		return -ENOENT;
	}
	buf_init(&errs, 1024);
	if ((r = cloudproc_public_ip(a->provider, ip, sizeof(ip), &errs)) == -ENOENT) {
		if (!a->resolve_logged++)
			log_warnx("fleet: this instance has no public IP: set fleet.endpoint");
	} else if (r < 0) {
		if (!a->resolve_logged++)
			log_warnx("fleet: %s: %s (retrying)", a->provider, errs.data ? errs.data : "");
	} else {
		n = snprintf(out, len, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, a->listen_port);
		r = n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
	}
	buf_free(&errs);
	return r;
}

int
fleet_agent_start(const struct config *cfg, struct ds_registry *reg, struct fleet_agent **out)
{
	struct fleet_opts o = { .cfg = cfg, .publish = on_publish, .on_status = on_status,
	    .resolve_endpoint = resolve_endpoint };
	struct fleet_agent *a;
	uint8_t priv[32], pub[32];
	struct buf errs;
	int r;

	*out = NULL;
	if (!cfg->fleet.enabled)
		return 0;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	a->reg = reg;
	a->cfg = cfg->fleet;
	a->listen_port = cfg->tunnel.listen_port;
	a->address = cfg->tunnel.address.n ? cfg->tunnel.address.v[0] : a->address;
	for (size_t i = 0; i < cfg->local_subnets.n; i++)
		if (prefix_set_add(&a->subnets, &cfg->local_subnets.v[i]) < 0) {
			free(a);
			return -ENOMEM;
		}
	cr_strlcpy(a->provider, cfg->cloud.provider, sizeof(a->provider));
	if (snprintf(a->status_path, sizeof(a->status_path), "%s/fleet.json", cfg->state_dir) >=
	    (int)sizeof(a->status_path)) {
		free(a);
		return -ENAMETOOLONG;
	}
	buf_init(&errs, 4096);
	r = tunnel_read_key(cfg->tunnel.private_key_file, priv, &errs);
	if (r == 0)
		r = dp_pubkey(pub, priv);
	explicit_bzero(priv, sizeof(priv));
	if (r < 0) {
		log_warnx("fleet: %s", errs.data ? errs.data : "cannot read the tunnel key");
		goto fail;
	}
	o.arg = a;
	/* No endpoint yet is fine: resolve_endpoint runs on the fleet thread. */
	if (fleet_self_from_config(cfg, pub, NULL, &o.self) < 0 && cfg->tunnel.address.n == 0) {
		r = -EINVAL;
		goto fail;
	}
	if ((r = fleet_start(&o, &a->f)) < 0)
		goto fail;
	buf_free(&errs);
	*out = a;
	return 0;
fail:
	buf_free(&errs);
	prefix_set_free(&a->subnets);
	free(a);
	return r;
}

void
fleet_agent_stop(struct fleet_agent *a, int leave)
{
	if (a == NULL)
		return;
	fleet_stop(a->f, leave);
	ds_registry_drop(a->reg, "fleet");
	json_object_put(a->members);
	prefix_set_free(&a->subnets);
	free(a);
}

int
fleet_agent_reload(struct fleet_agent **a, const struct config *cfg, struct ds_registry *reg)
{
	int same = *a != NULL && cfg->fleet.enabled &&
	    memcmp(&(*a)->cfg, &cfg->fleet, sizeof(cfg->fleet)) == 0 &&
	    (*a)->listen_port == cfg->tunnel.listen_port &&
	    cfg->tunnel.address.n > 0 && prefix_equal(&(*a)->address, &cfg->tunnel.address.v[0]) &&
	    prefix_set_equal(&(*a)->subnets, &cfg->local_subnets);

	if (same || (*a == NULL && !cfg->fleet.enabled))
		return 0;
	/* Changed: start afresh.  Without leaving: the new registration
	 * replaces our record (same key) and the old lease just expires. */
	log_info("fleet: configuration changed, restarting the fleet session");
	fleet_agent_stop(*a, !cfg->fleet.enabled);
	*a = NULL;
	return fleet_agent_start(cfg, reg, a);
}

void
fleet_agent_health(struct fleet_agent *a, int ok)
{
	if (a != NULL && a->f != NULL)
		fleet_set_health(a->f, ok);
}
