/*
 * The one-shot commands: check, plan, apply, teardown, status.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "agent/agent.h"
#include "agent/cloud.h"
#include "agent/desired.h"
#include "agent/fleet_agent.h"
#include "agent/host.h"
#include "agent/jsonpos.h"
#include "agent/tunnel.h"
#include "netcfg/netcfg.h"

int
agent_load_config(const struct opts *o, struct config *cfg, int derive)
{
	struct buf err;
	int r;

	buf_init(&err, 64 * 1024);
	r = config_load(o->config, cfg, &err);
	if (r == 0 && derive && (r = config_derive(cfg, &err)) < 0)
		config_free(cfg);
	if (r < 0) {
		fputs(err.data ? err.data : "configuration error\n", stderr);
		buf_free(&err);
		return EXIT_CONFIG;
	}
	buf_free(&err);
	return EXIT_OK;
}

/* CAP_NET_ADMIN in the effective set (root, or a unit's ambient caps). */
static int
have_net_admin(void)
{
	char line[256];
	unsigned long long caps;
	FILE *f;
	int ok = 0;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "CapEff:", 7) == 0 &&
		    sscanf(line + 7, "%llx", &caps) == 1) {
			ok = (caps >> 12) & 1;          /* CAP_NET_ADMIN */
			break;
		}
	}
	fclose(f);
	return ok;
}

int
agent_privileged(void)
{
	if (have_net_admin())
		return 0;
	fprintf(stderr, "cloudroute: this command reads and changes the host's network "
	    "configuration: run it as root (or with CAP_NET_ADMIN)\n");
	return -EPERM;
}

int
agent_open(const struct opts *o, struct config *cfg, struct state *st)
{
	int r;

	if (agent_privileged() < 0)
		return EXIT_RUNTIME;
	if ((r = agent_load_config(o, cfg, 1)) != EXIT_OK)
		return r;
	if (state_load(cfg->state_dir, st) < 0) {
		config_free(cfg);
		return EXIT_RUNTIME;
	}
	return EXIT_OK;
}

int
agent_lock(const char *state_dir)
{
	char path[PATH_MAX];
	int fd;

	if (mkdir_p(state_dir, 0700) < 0) {
		log_warn("cannot create %s", state_dir);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/lock", state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		log_warn("%s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_warnx("another cloudroute (apply, run or teardown) is working on %s; "
		    "stop it first (systemctl stop cloudroute)", state_dir);
		close(fd);
		return -1;
	}
	return fd;
}

int
agent_desired(const struct config *cfg, struct ds_registry *reg, struct desired *d)
{
	struct ds_registry *fleet = NULL;
	struct buf errs;
	int r;

	/* Outside the daemon, the fleet's last peers (state_dir/fleet.json)
	 * are desired too: plan, status and doctor show no false drift. */
	if (reg == NULL && cfg->fleet.enabled && ds_registry_new(&fleet) == 0) {
		fleet_status_source(cfg, fleet);
		reg = fleet;
	}
	buf_init(&errs, 16 * 1024);
	r = desired_compose(cfg, reg, d, &errs);
	if (errs.len > 0)
		log_warnx("%.*s", (int)(errs.len - 1), errs.data);
	buf_free(&errs);
	ds_registry_free(fleet);
	if (r < 0)
		log_warnx("cannot compose the desired state: %s", strerror(-r));
	return r;
}

static int
plan_all(const struct config *cfg, struct state *st, struct plan *p,
    struct cloud_session *cs, struct buf *errs)
{
	int r = 0;

	if (tunnel_plan(cfg, p) < 0 || host_plan(cfg, st, p) < 0) {
		buf_printf(errs, "host: cannot read the current state: %s\n", nc_last_error());
		r = -1;
	}
	if (cs != NULL && cloud_plan(cfg, st, p, cs, errs) < 0)
		r = -1;
	return r;
}

int
agent_reconcile(const struct config *cfg, const struct desired *d, struct state *st,
    int print, size_t *changes, struct buf *errs, struct cloud_session *keep, int with_cloud,
    size_t *route_conflicts)
{
	struct cloud_session local, *cs = keep ? keep : &local;
	struct desired own;
	struct plan p;
	int r = 0;

	memset(&p, 0, sizeof(p));
	memset(&own, 0, sizeof(own));
	if (keep == NULL)
		memset(&local, 0, sizeof(local));
	if (d == NULL) {
		if (agent_desired(cfg, NULL, &own) < 0)
			return -1;
		d = &own;
	}
	p.desired = d;
	if (plan_all(cfg, st, &p, with_cloud ? cs : NULL, errs) < 0)
		r = -1;
	*changes = plan_changes(&p);
	if (route_conflicts != NULL)
		*route_conflicts = plan_route_conflicts(&p);
	if (print && *changes)
		plan_print(&p, stdout, 0);
	if (host_apply(cfg, st, &p, errs) < 0)
		r = -1;
	if (with_cloud && cloud_apply(cs, st, &p, errs) < 0)
		r = -1;
	state_set_str(st->root, "config", cfg->path);
	state_set_last(st, r == 0, errs->data);
	if (state_save(st) < 0)
		r = -1;
	if (keep == NULL || r < 0)
		cloud_close(cs);
	plan_free(&p);
	desired_free(&own);
	return r;
}

/*
 * A peer whose public key is our own would be dropped by the device (a
 * WireGuard interface cannot be its own peer): refused at check time, at the
 * peer's public_key.  Returns how many were found (reported on stderr).
 */
static int
own_key_peers(const struct config *cfg, const uint8_t priv[32])
{
	unsigned int line = 0, col = 0;
	char path[64];
	struct jpos jp;
	struct buf text;
	uint8_t pub[32];
	size_t i;
	int n = 0, have_pos;

	if (dp_pubkey(pub, priv) < 0)
		return 0;
	memset(&jp, 0, sizeof(jp));
	buf_init(&text, 1 << 20);
	have_pos = file_read(cfg->path, 1 << 20, &text) == 0 &&
	    jpos_scan(text.data, text.len, &jp) == 0;
	for (i = 0; i < cfg->tunnel.n_peers; i++) {
		if (CRYPTO_memcmp(cfg->tunnel.peers[i].public_key, pub, 32) != 0)
			continue;
		snprintf(path, sizeof(path), "/tunnel/peers/%zu/public_key", i);
		if (!have_pos || jpos_find(&jp, path, 0, &line, &col) < 0)
			line = col = 0;
		fprintf(stderr, "%s:%u:%u: tunnel.peers[%zu].public_key: this is the connector's "
		    "own public key (from %s); a peer must be another host\n", cfg->path, line,
		    col, i, cfg->tunnel.private_key_file);
		n++;
	}
	jpos_free(&jp);
	buf_free(&text);
	return n;
}

int
cmd_check(const struct opts *o)
{
	struct config cfg;
	struct buf errs;
	uint8_t k[32];
	int r;

	if ((r = agent_load_config(o, &cfg, 1)) != EXIT_OK)
		return r;
	buf_init(&errs, 64 * 1024);
	if (cfg.tunnel.mode == TUNNEL_USERSPACE &&
	    tunnel_read_key(cfg.tunnel.private_key_file, k, &errs) < 0)
		r = EXIT_CONFIG;
	else if (cfg.tunnel.mode == TUNNEL_USERSPACE && own_key_peers(&cfg, k) > 0)
		r = EXIT_CONFIG;
	for (size_t i = 0; i < cfg.tunnel.n_peers; i++)
		if (cfg.tunnel.peers[i].has_psk &&
		    tunnel_read_key(cfg.tunnel.peers[i].psk_file, k, &errs) < 0)
			r = EXIT_CONFIG;
	explicit_bzero(k, sizeof(k));
	if (r != EXIT_OK && errs.len > 0)
		fprintf(stderr, "%s: %s", cfg.path, errs.data);
	else
		printf("configuration OK\n");
	if (o->verbose && r == EXIT_OK)
		config_dump(&cfg, stdout);
	buf_free(&errs);
	config_free(&cfg);
	return r;
}

int
cmd_plan(const struct opts *o)
{
	struct desired d;
	struct cloud_session cs;
	struct config cfg;
	struct state st;
	struct plan p;
	struct buf errs;
	int r;

	if ((r = agent_open(o, &cfg, &st)) != EXIT_OK)
		return r;
	memset(&p, 0, sizeof(p));
	memset(&cs, 0, sizeof(cs));
	memset(&d, 0, sizeof(d));
	buf_init(&errs, 64 * 1024);
	if (agent_desired(&cfg, NULL, &d) < 0) {
		r = EXIT_RUNTIME;
		goto out;
	}
	p.desired = &d;
	if (o->verbose) {
		char b[PREFIX_STRLEN], og[160];
		printf("effective configuration (%s):\n", cfg.path);
		config_dump(&cfg, stdout);
		printf("cloud prefixes:");
		for (size_t i = 0; i < d.cloud.n; i++)
			printf(" %s%s", prefix_fmt(&d.cloud.v[i], b, sizeof(b)),
			    desired_origin_fmt(&d, &d.cloud.v[i], og, sizeof(og)));
		printf("%s\n", d.cloud.n ? "" : " (none)");
	}
	r = plan_all(&cfg, &st, &p, &cs, &errs);
	if (o->json) {
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "changes", json_object_new_int((int)plan_changes(&p)));
		json_object_object_add(j, "conflicts", json_object_new_int((int)plan_conflicts(&p)));
		json_object_object_add(j, "plan", plan_json(&p));
		printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY |
		    JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(j);
	} else {
		plan_print(&p, stdout, o->verbose);
	}
	if (r < 0) {
		fputs(errs.data, stderr);
		r = EXIT_RUNTIME;
	} else {
		r = plan_changes(&p) ? EXIT_CHANGES : EXIT_OK;
	}
out:
	cloud_close(&cs);
	plan_free(&p);
	desired_free(&d);
	buf_free(&errs);
	state_free(&st);
	config_free(&cfg);
	return r;
}

int
cmd_apply(const struct opts *o)
{
	struct config cfg;
	struct state st;
	struct buf errs;
	size_t changes = 0;
	int r, lock;

	if (agent_privileged() < 0)
		return EXIT_RUNTIME;
	if ((r = agent_load_config(o, &cfg, 1)) != EXIT_OK)
		return r;
	if ((lock = agent_lock(cfg.state_dir)) < 0) {
		config_free(&cfg);
		return EXIT_RUNTIME;
	}
	if (state_load(cfg.state_dir, &st) < 0) {
		close(lock);
		config_free(&cfg);
		return EXIT_RUNTIME;
	}
	buf_init(&errs, 64 * 1024);
	r = agent_reconcile(&cfg, NULL, &st, 1, &changes, &errs, NULL, 1, NULL);
	if (r < 0) {
		fprintf(stderr, "cloudroute: apply failed:\n%s", errs.data);
		r = EXIT_RUNTIME;
	} else {
		printf("applied %zu change%s\n", changes, changes == 1 ? "" : "s");
		r = EXIT_OK;
	}
	buf_free(&errs);
	state_free(&st);
	close(lock);
	config_free(&cfg);
	return r;
}

/*
 * A config that does not validate may still name its state_dir: read it as
 * far as the JSON goes, so that teardown works on the right directory.
 */
static int
broken_config_state_dir(const char *path, char *out, size_t len)
{
	struct json_tokener *tok;
	struct json_object *root = NULL, *v;
	struct buf text;
	int r = -ENOENT;

	buf_init(&text, 1 << 20);
	if (file_read(path, 1 << 20, &text) < 0 || (tok = json_tokener_new()) == NULL)
		goto out;
	json_tokener_set_flags(tok, 0);
	root = json_tokener_parse_ex(tok, text.data, (int)text.len);
	json_tokener_free(tok);
	if (root != NULL && json_object_object_get_ex(root, "state_dir", &v) &&
	    json_object_is_type(v, json_type_string) && json_object_get_string(v)[0] == '/' &&
	    cr_strlcpy(out, json_object_get_string(v), len) < len)
		r = 0;
out:
	json_object_put(root);
	buf_free(&text);
	return r;
}

int
cmd_teardown(const struct opts *o)
{
	struct cloud_session cs;
	struct config cfg, *cp = NULL;
	struct state st;
	struct plan p;
	struct buf errs;
	char dir[PATH_MAX] = "/var/lib/cloudroute";
	const char *state_dir = dir;
	int r, lock;

	if (agent_privileged() < 0)
		return EXIT_RUNTIME;
	/* The state file is the authority: a broken config must not stop teardown. */
	if (o->state_dir != NULL) {
		state_dir = o->state_dir;
	} else if (agent_load_config(o, &cfg, 0) == EXIT_OK) {
		cp = &cfg;
		state_dir = cfg.state_dir;
	} else {
		broken_config_state_dir(o->config, dir, sizeof(dir));
		fprintf(stderr, "cloudroute: tearing down from %s/state.json only\n", state_dir);
	}
	if (cp == NULL && o->state_dir != NULL && agent_load_config(o, &cfg, 0) == EXIT_OK)
		cp = &cfg;
	/* Never create a state directory for a host that has none. */
	if (access(state_dir, F_OK) < 0) {
		printf("nothing to tear down (no %s)\n", state_dir);
		r = EXIT_OK;
		goto out_cfg;
	}
	if ((lock = agent_lock(state_dir)) < 0) {
		r = EXIT_RUNTIME;
		goto out_cfg;
	}
	if (state_load(state_dir, &st) < 0) {
		r = EXIT_RUNTIME;
		goto out_lock;
	}
	memset(&p, 0, sizeof(p));
	memset(&cs, 0, sizeof(cs));
	buf_init(&errs, 64 * 1024);
	host_teardown_plan(&st, &p);
	r = cloud_teardown(cp, &st, 0, &p, &cs, &errs);
	plan_print_doing(&p, stdout);
	if (host_apply(cp, &st, &p, &errs) < 0 || r < 0) {
		fprintf(stderr, "cloudroute: teardown incomplete (state kept for a retry):\n%s",
		    errs.data);
		r = EXIT_RUNTIME;
	} else {
		state_remove(&st);
		printf("teardown complete\n");
		r = EXIT_OK;
	}
	cloud_close(&cs);
	plan_free(&p);
	buf_free(&errs);
	state_free(&st);
out_lock:
	close(lock);
out_cfg:
	if (cp)
		config_free(cp);
	return r;
}
