/*
 * The fleet as `status` and `doctor` see it from outside the daemon:
 * state_dir/fleet.json, written by the daemon's fleet thread
 * (agent/fleet_agent.c) on every change and every 5 s.  Its peers also
 * stand in for the "fleet" source when status computes drift, so fleet
 * peers and routes are not reported as drift.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "agent/desired.h"
#include "agent/fleet_agent.h"
#include "common/jsonutil.h"
#include "dataplane/noise.h"

#define FLEET_STATUS_MAX (16u << 20)

/* The parsed file and its age in seconds (-1: no file). */
static struct json_object *
load(const struct config *cfg, long *age)
{
	char path[PATH_MAX + 16];
	struct json_object *o;
	struct stat st;
	struct buf b;

	*age = -1;
	snprintf(path, sizeof(path), "%s/fleet.json", cfg->state_dir);
	if (stat(path, &st) < 0)
		return NULL;
	buf_init(&b, FLEET_STATUS_MAX);
	o = file_read(path, FLEET_STATUS_MAX, &b) == 0 ? json_tokener_parse(b.data) : NULL;
	buf_free(&b);
	if (o != NULL && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return NULL;
	}
	*age = (long)(time(NULL) - st.st_mtime);
	return o;
}

/* A string member, "" when absent. */
static const char *
str(struct json_object *o, const char *k)
{
	const char *s = cr_json_str(o, k);

	return s != NULL ? s : "";
}

static int
peer_from_json(struct json_object *p, struct ds_peer *d)
{
	struct json_object *ips;
	struct prefix pre;
	size_t j;

	if (dp_key_from_base64(d->public_key, str(p, "public_key")) < 0)
		return -EINVAL;
	if (ds_str_fmt(&d->source, DS_SOURCE_LEN, "fleet:%.40s/%.40s", str(p, "site"),
	    str(p, "name")) < 0 ||
	    ds_str_fmt(&d->name, DS_NAME_LEN, "%.30s/%.30s", str(p, "site"), str(p, "name")) < 0 ||
	    ds_str_set(&d->endpoint, str(p, "endpoint"), DS_ENDPOINT_LEN, 1) < 0)
		return -ENOMEM;
	d->keepalive = 25;
	if (!json_object_object_get_ex(p, "allowed_ips", &ips) ||
	    !json_object_is_type(ips, json_type_array))
		return -EINVAL;
	for (j = 0; j < json_object_array_length(ips); j++)
		if (prefix_parse(json_object_get_string(json_object_array_get_idx(ips, j)),
		    &pre, 0) == 0 && prefix_set_add(&d->allowed_ips, &pre) < 0)
			return -ENOMEM;
	return 0;
}

int
fleet_status_source(const struct config *cfg, struct ds_registry *reg)
{
	struct json_object *o, *peers, *w;
	struct ds_source *src;
	size_t i, n;
	long age;

	if (!cfg->fleet.enabled || (o = load(cfg, &age)) == NULL)
		return 0;
	if ((src = calloc(1, sizeof(*src))) == NULL)
		goto nomem;
	cr_strlcpy(src->name, "fleet", sizeof(src->name));
	src->cloud_leader = json_object_object_get_ex(o, "writes_cloud_routes", &w) ?
	    json_object_get_boolean(w) : -1;
	if (json_object_object_get_ex(o, "peers", &peers) &&
	    json_object_is_type(peers, json_type_array) &&
	    (n = json_object_array_length(peers)) > 0) {
		if ((src->peers = calloc(n, sizeof(*src->peers))) == NULL)
			goto nomem;
		for (i = 0; i < n; i++)
			if (peer_from_json(json_object_array_get_idx(peers, i),
			    &src->peers[src->n_peers]) == 0)
				src->n_peers++;
			else
				ds_peer_free(&src->peers[src->n_peers]);
	}
	json_object_put(o);
	return ds_registry_put(reg, src);
nomem:
	ds_source_free(src);
	json_object_put(o);
	return -ENOMEM;
}

struct json_object *
fleet_status_json(const struct config *cfg)
{
	struct json_object *o;
	long age;

	if (!cfg->fleet.enabled)
		return NULL;
	if ((o = load(cfg, &age)) == NULL)
		o = json_object_new_object();
	json_object_object_add(o, "status_age_s", json_object_new_int64(age));
	return o;
}

void
fleet_status_print(const struct config *cfg, FILE *out)
{
	struct json_object *o, *peers, *v;
	long age;
	size_t i;
	int64_t ev;

	if (!cfg->fleet.enabled)
		return;
	fprintf(out, "fleet %s/%s (etcd %s):\n", cfg->fleet.site, cfg->fleet.name, cfg->fleet.etcd[0]);
	if ((o = load(cfg, &age)) == NULL) {
		fprintf(out, "  no fleet status yet (is the daemon running?)\n");
		return;
	}
	if (age > 15)
		fprintf(out, "  (as of %ld s ago: the daemon is not running?)\n", age);
	fprintf(out, "  role %s%s, lease %s, site leader %s\n", str(o, "role"),
	    json_object_object_get_ex(o, "writes_cloud_routes", &v) && json_object_get_boolean(v) ?
	    " (writes the site's cloud routes)" : " (writes no cloud routes)",
	    *str(o, "lease") ? str(o, "lease") : "none",
	    *str(o, "site_leader") ? str(o, "site_leader") : "none");
	fprintf(out, "  etcd %s: %s, revision %lld\n", str(o, "etcd"),
	    json_object_object_get_ex(o, "etcd_synced", &v) && json_object_get_boolean(v) ?
	    "in sync" : "NOT REACHABLE (last known peers kept)",
	    (long long)json_object_get_int64(json_object_object_get(o, "revision")));
	ev = json_object_get_int64(json_object_object_get(o, "last_event_ms"));
	fprintf(out, "  members %lld; last event %s%lld s ago\n",
	    (long long)json_object_get_int64(json_object_object_get(o, "members")),
	    ev ? "" : "never, ", ev ? (long long)(time(NULL) - ev / 1000) : 0LL);
	if (*str(o, "last_error"))
		fprintf(out, "  last error: %s\n", str(o, "last_error"));
	if (json_object_object_get_ex(o, "peers", &peers) &&
	    json_object_is_type(peers, json_type_array))
		for (i = 0; i < json_object_array_length(peers); i++) {
			struct json_object *p = json_object_array_get_idx(peers, i);

			fprintf(out, "  member %s/%s%s at %s, allowed %s\n", str(p, "site"),
			    str(p, "name"), json_object_get_boolean(json_object_object_get(p,
			    "leader")) ? " (leader)" : "", str(p, "endpoint"),
			    json_object_to_json_string_ext(json_object_object_get(p, "allowed_ips"),
			    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		}
	json_object_put(o);
}
