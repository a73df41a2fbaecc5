/*
 * `cloudroute client list`: this connector's clients (state_dir/clients.json,
 * each with its peer on the running tunnel) and, with a fleet section, the
 * other connectors' clients from etcd (<prefix>clients/, read in one range
 * request and validated as the fleet thread validates them) with the site
 * and connector that serves each.
 *
 * Text: NAME ADDRESS HANDSHAKE RX TX; with a fleet also SITE CONNECTOR,
 * this connector's own marked "(here)", a client whose connector is not in
 * the fleet now (no record: its lease ran out) "(away)", and "-" for the
 * handshake and bytes of other connectors' clients (only they know them).
 * JSON: {"clients": [ours]}; with a fleet each of ours gains "site",
 * "connector" (and "published" once etcd was read), and the root gains
 * "fleet_clients": [theirs] and "fleet": {"read": true|false[, "error"]}.
 * etcd away: ours only, a note on stderr, exit 0 (what is listed is right;
 * "fleet.read" tells a script that the fleet's part is missing).
 *
 * Also the lookup of another connector's client for `client show|remove`
 * (remove: whose it is, so the operator knows where to remove it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "agent/agent.h"
#include "agent/client_cmd.h"
#include "agent/clients.h"
#include "agent/fleet_clients.h"
#include "dataplane/dataplane.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | \
	JSON_C_TO_STRING_NOSLASHESCAPE)

/* What the fleet says (enabled: the config has a fleet section). */
struct fleet_part {
	int enabled, read;
	struct fleet_clients t;
	struct fleet_view v;
	char error[256];
	const struct fleet_client **theirs;   /* valid, not ours; by site, connector, name */
	size_t n_theirs;
};

static const struct dp_peer_status *
status_of(const struct dp_peer_status *st, size_t n, const uint8_t key[32])
{
	size_t i;

	for (i = 0; i < n; i++)
		if (memcmp(st[i].public_key, key, 32) == 0)
			return &st[i];
	return NULL;
}

static void
fmt_handshake(uint64_t t, char *out, size_t len)
{
	time_t now = time(NULL);

	if (t == 0)
		cr_strlcpy(out, "never", len);
	else if ((uint64_t)now >= t)
		snprintf(out, len, "%llu s ago", (unsigned long long)((uint64_t)now - t));
	else
		cr_strlcpy(out, "just now", len);
}

static int
is_ours(const struct config *cfg, const struct fleet_client *fc)
{
	return strcmp(fc->site, cfg->fleet.site) == 0 &&
	    strcmp(fc->connector, cfg->fleet.name) == 0;
}

/* The record named name in the fleet's table (decoded or not), or NULL. */
static const struct fleet_client *
record_of(const struct fleet_part *f, const char *name)
{
	size_t i;

	for (i = 0; i < f->t.n; i++)
		if (strcmp(f->t.v[i].name, name) == 0)
			return &f->t.v[i];
	return NULL;
}

/* The record fc is our client cl, as clients.json has it. */
static int
same(const struct config *cfg, const struct fleet_client *fc, const struct client *cl)
{
	return is_ours(cfg, fc) && memcmp(fc->public_key, cl->public_key, 32) == 0 &&
	    prefix_equal(&fc->address, &cl->address);
}

/* Our client cl is in etcd (valid, so other connectors route it) as ours. */
static int
published(const struct fleet_part *f, const struct config *cfg, const struct client *cl)
{
	const struct fleet_client *fc = record_of(f, cl->name);

	return fc != NULL && fc->valid && same(cfg, fc, cl);
}

static int
by_server(const void *a, const void *b)
{
	const struct fleet_client *x = *(const struct fleet_client *const *)a;
	const struct fleet_client *y = *(const struct fleet_client *const *)b;
	int d;

	if ((d = strcmp(x->site, y->site)) != 0 || (d = strcmp(x->connector, y->connector)) != 0)
		return d;
	return strcmp(x->name, y->name);
}

/* Notes on stderr where etcd and clients.json disagree about ours. */
static void
disagreements(const struct config *cfg, const struct client_store *cs,
    const struct fleet_part *f)
{
	const struct fleet_client *fc;
	size_t i;

	for (i = 0; i < cs->n; i++) {
		fc = record_of(f, cs->v[i].name);
		if (fc != NULL && (!fc->valid || same(cfg, fc, &cs->v[i])))
			continue;                 /* published, or rejected (logged) */
		if (fc != NULL && !is_ours(cfg, fc))
			log_warnx("fleet: client %s is %s/%s's in etcd (that record stands); "
			    "this connector's is not published", fc->name, fc->site,
			    fc->connector);
		else
			log_warnx("fleet: client %s is not in etcd as this connector has it yet "
			    "(`cloudroute run` publishes it)", cs->v[i].name);
	}
	for (i = 0; i < f->t.n; i++) {
		fc = &f->t.v[i];
		if (fc->valid && is_ours(cfg, fc) && clients_find(cs, fc->name) < 0)
			log_warnx("fleet: %sclients/%s names this connector, but %s/%s has no "
			    "such client (`cloudroute run` withdraws it)", cfg->fleet.prefix,
			    fc->name, cfg->state_dir, CLIENTS_FILE);
	}
}

/* With a fleet: etcd read into f (a note on stderr when it cannot be). */
static int
fleet_read(const struct config *cfg, const struct client_store *cs, struct fleet_part *f)
{
	struct buf err;
	size_t i;
	int r;

	memset(f, 0, sizeof(*f));
	if (!(f->enabled = cfg->fleet.enabled))
		return 0;
	buf_init(&err, 4096);
	r = fleet_clients_cli_read(cfg, &f->t, &f->v, &err);
	if (r < 0) {
		snprintf(f->error, sizeof(f->error), "%.*s", err.len > 0 ? (int)err.len - 1 : 0,
		    err.data ? err.data : "");
		log_warnx("%s; the fleet's clients were not read: only this connector's are "
		    "listed", f->error[0] ? f->error : "fleet: etcd");
		buf_free(&err);
		return 0;
	}
	buf_free(&err);
	f->read = 1;
	if ((f->theirs = calloc(f->t.n ? f->t.n : 1, sizeof(*f->theirs))) == NULL)
		return -1;
	for (i = 0; i < f->t.n; i++)
		if (f->t.v[i].valid && !is_ours(cfg, &f->t.v[i]))
			f->theirs[f->n_theirs++] = &f->t.v[i];
	qsort(f->theirs, f->n_theirs, sizeof(*f->theirs), by_server);
	disagreements(cfg, cs, f);
	return 0;
}

static void
fleet_part_free(struct fleet_part *f)
{
	free(f->theirs);
	if (f->enabled) {
		fleet_clients_free(&f->t);
		fleet_view_free(&f->v);
	}
}

/* One of our clients in `list --json` (ps: its peer on the tunnel, or NULL). */
static struct json_object *
ours_json(const struct config *cfg, const struct fleet_part *f, const struct client *cl,
    const struct dp_peer_status *ps)
{
	struct json_object *o = json_object_new_object();
	char pf[PREFIX_STRLEN], b64[45];

	dp_key_to_base64(b64, cl->public_key);
	json_object_object_add(o, "name", json_object_new_string(cl->name));
	json_object_object_add(o, "address",
	    json_object_new_string(prefix_fmt(&cl->address, pf, sizeof(pf))));
	json_object_object_add(o, "public_key", json_object_new_string(b64));
	json_object_object_add(o, "created", json_object_new_string(cl->created));
	json_object_object_add(o, "live", json_object_new_boolean(ps != NULL));
	json_object_object_add(o, "last_handshake",
	    json_object_new_int64(ps ? (int64_t)ps->last_handshake_sec : 0));
	json_object_object_add(o, "rx_bytes", json_object_new_int64(ps ? (int64_t)ps->rx_bytes : 0));
	json_object_object_add(o, "tx_bytes", json_object_new_int64(ps ? (int64_t)ps->tx_bytes : 0));
	if (f->enabled) {
		json_object_object_add(o, "site", json_object_new_string(cfg->fleet.site));
		json_object_object_add(o, "connector", json_object_new_string(cfg->fleet.name));
	}
	if (f->read)
		json_object_object_add(o, "published",
		    json_object_new_boolean(published(f, cfg, cl)));
	return o;
}

/* Another connector's client in `list --json`. */
static struct json_object *
theirs_json(const struct fleet_part *f, const struct fleet_client *fc)
{
	struct json_object *o = json_object_new_object();
	char pf[PREFIX_STRLEN], b64[45];

	dp_key_to_base64(b64, fc->public_key);
	json_object_object_add(o, "name", json_object_new_string(fc->name));
	json_object_object_add(o, "address",
	    json_object_new_string(prefix_fmt(&fc->address, pf, sizeof(pf))));
	json_object_object_add(o, "public_key", json_object_new_string(b64));
	json_object_object_add(o, "site", json_object_new_string(fc->site));
	json_object_object_add(o, "connector", json_object_new_string(fc->connector));
	json_object_object_add(o, "connector_present",
	    json_object_new_boolean(fleet_clients_server(&f->v, fc) != NULL));
	return o;
}

static void
print_json(const struct config *cfg, const struct fleet_part *f, const struct client_store *cs,
    const struct dp_peer_status *st, size_t n, int running)
{
	struct json_object *root = json_object_new_object(), *a = json_object_new_array(), *fl;
	size_t i;

	for (i = 0; i < cs->n; i++)
		json_object_array_add(a, ours_json(cfg, f, &cs->v[i],
		    running ? status_of(st, n, cs->v[i].public_key) : NULL));
	json_object_object_add(root, "clients", a);
	if (f->enabled) {
		a = json_object_new_array();
		for (i = 0; i < f->n_theirs; i++)
			json_object_array_add(a, theirs_json(f, f->theirs[i]));
		json_object_object_add(root, "fleet_clients", a);
		fl = json_object_new_object();
		json_object_object_add(fl, "read", json_object_new_boolean(f->read));
		if (!f->read)
			json_object_object_add(fl, "error", json_object_new_string(f->error));
		json_object_object_add(root, "fleet", fl);
	}
	printf("%s\n", json_object_to_json_string_ext(root, JSON_FLAGS));
	json_object_put(root);
}

static void
print_text(const struct config *cfg, const struct fleet_part *f, const struct client_store *cs,
    const struct dp_peer_status *st, size_t n, int running)
{
	char pf[PREFIX_STRLEN], hs[32];
	size_t i;

	if (f->enabled)
		printf("%-24s %-26s %-16s %12s %12s %-16s %s\n", "NAME", "ADDRESS", "HANDSHAKE",
		    "RX", "TX", "SITE", "CONNECTOR");
	else
		printf("%-24s %-26s %-16s %12s %12s\n", "NAME", "ADDRESS", "HANDSHAKE", "RX", "TX");
	for (i = 0; i < cs->n; i++) {
		const struct client *cl = &cs->v[i];
		const struct dp_peer_status *ps = running ? status_of(st, n, cl->public_key) : NULL;

		prefix_fmt(&cl->address, pf, sizeof(pf));
		if (ps == NULL)
			cr_strlcpy(hs, running ? "not on tunnel" : "tunnel down", sizeof(hs));
		else
			fmt_handshake(ps->last_handshake_sec, hs, sizeof(hs));
		printf("%-24s %-26s %-16s %12llu %12llu", cl->name, pf, hs,
		    (unsigned long long)(ps ? ps->rx_bytes : 0),
		    (unsigned long long)(ps ? ps->tx_bytes : 0));
		if (f->enabled)
			printf(" %-16s %s (here)", cfg->fleet.site, cfg->fleet.name);
		putchar('\n');
	}
	for (i = 0; i < f->n_theirs; i++) {
		const struct fleet_client *fc = f->theirs[i];

		printf("%-24s %-26s %-16s %12s %12s %-16s %s%s\n", fc->name,
		    prefix_fmt(&fc->address, pf, sizeof(pf)), "-", "-", "-", fc->site,
		    fc->connector, fleet_clients_server(&f->v, fc) ? "" : " (away)");
	}
}

int
client_cmd_list(const struct config *cfg, int json)
{
	struct client_store cs = { 0 };
	struct dp_peer_status *st = NULL;
	struct fleet_part f;
	struct buf err;
	size_t n = 0;
	int running, r = EXIT_RUNTIME;

	buf_init(&err, 64 * 1024);
	if (clients_load(cfg->state_dir, &cs, &err) < 0) {
		fprintf(stderr, "cloudroute: client: %s", err.data);
		buf_free(&err);
		return EXIT_RUNTIME;
	}
	buf_free(&err);
	if (fleet_read(cfg, &cs, &f) < 0) {
		fprintf(stderr, "cloudroute: client list: out of memory\n");
		goto out;
	}
	running = dp_uapi_status(cfg->tunnel.interface, &st, &n, NULL) == 0;
	if (json)
		print_json(cfg, &f, &cs, st, n, running);
	else
		print_text(cfg, &f, &cs, st, n, running);
	r = EXIT_OK;
out:
	fleet_part_free(&f);
	dp_peer_status_free(st, n);
	clients_free(&cs);
	return r;
}

int
client_cmd_fleet_find(const struct config *cfg, const char *name, struct fleet_clients *t,
    struct fleet_view *v, const struct fleet_client **fc, struct buf *err)
{
	size_t i;
	int r;

	*fc = NULL;
	if ((r = fleet_clients_cli_read(cfg, t, v, err)) < 0)
		return r;
	for (i = 0; i < t->n; i++)
		if (t->v[i].valid && strcmp(t->v[i].name, name) == 0 && !is_ours(cfg, &t->v[i])) {
			*fc = &t->v[i];
			return 0;
		}
	return -ENOENT;
}

void
client_cmd_not_here(const struct config *cfg, const char *verb, const char *name)
{
	const struct fleet_client *fc = NULL;
	struct fleet_clients t;
	struct fleet_view v;
	struct buf err;

	if (cfg->fleet.enabled) {
		buf_init(&err, 4096);
		if (client_cmd_fleet_find(cfg, name, &t, &v, &fc, &err) == 0)
			fprintf(stderr, "cloudroute: client %s: no client \"%s\" here: it is %s/%s's; "
			    "`cloudroute client %s %s` there\n", verb, name, fc->site, fc->connector,
			    verb, name);
		fleet_clients_free(&t);
		fleet_view_free(&v);
		buf_free(&err);
	}
	if (fc == NULL)
		fprintf(stderr, "cloudroute: client %s: no client \"%s\"\n", verb, name);
}
