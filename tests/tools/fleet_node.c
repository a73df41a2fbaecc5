/*
 * One fleet member without the rest of the agent, for namespace tests of
 * the fleet contract against a real etcd:
 *   fleet_node CONFIG [STATUS_FILE]
 * loads a cloudroute config (fleet section, tunnel key and address,
 * local_subnets), runs the fleet thread and prints every published snapshot
 * as one JSON line on stdout:
 *   {"t": <wall ms>, "leader": 0|1, "peers": {"site/name": ["allowed", ...]}}
 * SIGTERM leaves (lease revoked), SIGINT stops without leaving.  With
 * STATUS_FILE, the fleet status is written there (JSON) every 200 ms.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "agent/config.h"
#include "agent/fleet_run.h"
#include "agent/tunnel.h"
#include "dataplane/noise.h"

static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void
publish(void *arg, struct fleet_snapshot *s)
{
	struct json_object *o = json_object_new_object(), *peers = json_object_new_object();
	char k[160], b[PREFIX_STRLEN];
	size_t i, j;

	(void)arg;
	json_object_object_add(o, "t", json_object_new_int64((int64_t)wall_ms()));
	json_object_object_add(o, "leader", json_object_new_int(s->leader));
	for (i = 0; i < s->peers.n; i++) {
		struct json_object *a = json_object_new_array();

		for (j = 0; j < s->peers.v[i].allowed_ips.n; j++)
			json_object_array_add(a, json_object_new_string(
			    prefix_fmt(&s->peers.v[i].allowed_ips.v[j], b, sizeof(b))));
		snprintf(k, sizeof(k), "%s/%s", s->peers.v[i].site, s->peers.v[i].name);
		json_object_object_add(peers, k, a);
	}
	json_object_object_add(o, "peers", peers);
	pthread_mutex_lock(&out_lock);
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
	json_object_put(o);
	fleet_snapshot_free(s);
}

static void
write_status(struct fleet *f, const char *path)
{
	struct fleet_status st;
	FILE *fp;
	char tmp[4200];

	fleet_get_status(f, &st);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fp = fopen(tmp, "w")) == NULL)
		return;
	fprintf(fp, "{\"role\": \"%s\", \"lease\": \"%" PRIx64 "\", \"may_write\": %d, "
	    "\"synced\": %d, \"members\": %zu, \"site_leader\": \"%s\", \"endpoint\": \"%s\", "
	    "\"events\": %" PRIu64 ", \"errors\": %" PRIu64 "}\n", fleet_role_name(st.role),
	    (uint64_t)st.lease, st.may_write, st.synced, st.members, st.site_leader, st.endpoint,
	    st.events, st.errors);
	fclose(fp);
	rename(tmp, path);
}

int
main(int argc, char **argv)
{
	struct fleet_opts o = { .publish = publish };
	struct timespec ts = { 0, 200 * 1000000L };
	uint8_t priv[32], pub[32];
	struct config cfg;
	struct fleet *f;
	struct buf err;
	sigset_t set;
	siginfo_t si;
	int sig = 0, r;

	if (argc < 2) {
		fprintf(stderr, "usage: fleet_node CONFIG [STATUS_FILE]\n");
		return 64;
	}
	log_init(1, getenv("FLEET_NODE_DEBUG") != NULL, "fleet_node");
	buf_init(&err, 65536);
	if (config_load(argv[1], &cfg, &err) < 0 ||
	    tunnel_read_key(cfg.tunnel.private_key_file, priv, &err) < 0) {
		fprintf(stderr, "%s", err.data ? err.data : "config error\n");
		return 78;
	}
	dp_pubkey(pub, priv);
	explicit_bzero(priv, sizeof(priv));
	if (!cfg.fleet.enabled || fleet_self_from_config(&cfg, pub, NULL, &o.self) < 0) {
		fprintf(stderr, "fleet_node: the config needs a fleet section with an endpoint\n");
		return 78;
	}
	o.cfg = &cfg;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if ((r = fleet_start(&o, &f)) < 0) {
		fprintf(stderr, "fleet_node: %s\n", strerror(-r));
		return 1;
	}
	while (sig <= 0) {
		if (argc > 2)
			write_status(f, argv[2]);
		sig = sigtimedwait(&set, &si, &ts);
	}
	fleet_stop(f, sig == SIGTERM);
	config_free(&cfg);
	buf_free(&err);
	return 0;
}
