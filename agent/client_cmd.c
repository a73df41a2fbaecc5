/*
 * `cloudroute client add|list|show|remove`: remote users.
 *
 *   add NAME [--full-tunnel] [--qr] [--endpoint HOST:PORT] [--keep-key]
 *       new key pair, the next free overlay address, the client written to
 *       state_dir/clients.json, then the peer set on the running tunnel
 *       through its UAPI socket (`set=1` without replace_peers: no other
 *       session is touched); prints the wg-quick profile (or its QR code).
 *   list                 name, address, last handshake, bytes; with a fleet
 *                        every connector's clients (agent/client_list.c)
 *   show NAME [--full-tunnel] [--qr] [--endpoint HOST:PORT]
 *                        the profile again, with today's routes
 *   remove NAME          out of clients.json, then `remove=true` on the tunnel
 *
 * add and remove hold state_dir/clients.lock (flock) around the
 * read-modify-write of clients.json, so concurrent adds never hand out one
 * address twice.  The daemon keeps the peers: it reads clients.json as the
 * "clients" source.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "agent/agent.h"
#include "agent/client_cmd.h"
#include "agent/clients.h"
#include "agent/desired.h"
#include "agent/fleet_clients.h"
#include "agent/tunnel.h"
#include "dataplane/dataplane.h"
#include "providers/provider.h"

#define KEEPALIVE 25
#define HELP_SHOWN (-1)          /* parse_args: --help printed, exit 0 */

struct copts {
	struct opts o;
	const char *verb, *name, *endpoint;
	int full_tunnel, qr, keep_key;
};

/* `show` of another connector's client: the record and its connector's. */
struct served {
	const struct fleet_client *fc;
	const struct fleet_record *srv;
	const struct fleet_view *v;
};

static void
client_usage(FILE *f)
{
	fprintf(f,
	    "usage: cloudroute [-c FILE] client add NAME [--full-tunnel] [--qr] "
	    "[--endpoint HOST:PORT] [--keep-key] [--json]\n"
	    "       cloudroute [-c FILE] client list [--json]\n"
	    "       cloudroute [-c FILE] client show NAME [--full-tunnel] [--qr] "
	    "[--endpoint HOST:PORT] [--json]\n"
	    "       cloudroute [-c FILE] client remove NAME [--json]\n");
}

static int
parse_args(int argc, char **argv, struct copts *c)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "full-tunnel", no_argument, NULL, 'F' },
		{ "qr", no_argument, NULL, 'Q' },
		{ "endpoint", required_argument, NULL, 'E' },
		{ "keep-key", no_argument, NULL, 'K' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pos[3] = { NULL, NULL, NULL };
	int ch, i, npos = 0;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': c->o.config = optarg; break;
		case 'v': c->o.verbose++; break;
		case 'j': c->o.json = 1; break;
		case 'h': client_usage(stdout); return HELP_SHOWN;
		case 'F': c->full_tunnel = 1; break;
		case 'Q': c->qr = 1; break;
		case 'E': c->endpoint = optarg; break;
		case 'K': c->keep_key = 1; break;
		default: return EXIT_USAGE;
		}
	}
	for (i = optind; i < argc; i++) {
		if (npos == 3) {
			fprintf(stderr, "cloudroute: client: unexpected argument \"%s\"\n", argv[i]);
			return EXIT_USAGE;
		}
		pos[npos++] = argv[i];
	}
	/* pos[0] is "client" */
	c->verb = pos[1];
	c->name = pos[2];
	if (c->verb == NULL) {
		fprintf(stderr, "cloudroute: client: add, list, show or remove?\n");
		return EXIT_USAGE;
	}
	if (strcmp(c->verb, "add") != 0 && strcmp(c->verb, "list") != 0 &&
	    strcmp(c->verb, "show") != 0 && strcmp(c->verb, "remove") != 0) {
		fprintf(stderr, "cloudroute: client: unknown verb \"%s\"\n", c->verb);
		return EXIT_USAGE;
	}
	if (strcmp(c->verb, "list") == 0 ? c->name != NULL : c->name == NULL) {
		fprintf(stderr, "cloudroute: client %s: %s\n", c->verb,
		    c->name ? "takes no NAME" : "NAME is required");
		return EXIT_USAGE;
	}
	if (c->name != NULL && !clients_valid_name(c->name)) {
		fprintf(stderr, "cloudroute: client: invalid name \"%s\" (1-47 of [A-Za-z0-9._-], "
		    "starting with a letter or digit)\n", c->name);
		return EXIT_USAGE;
	}
	if (strcmp(c->verb, "add") != 0 && c->keep_key) {
		fprintf(stderr, "cloudroute: client %s: --keep-key is for add\n", c->verb);
		return EXIT_USAGE;
	}
	if ((strcmp(c->verb, "list") == 0 || strcmp(c->verb, "remove") == 0) &&
	    (c->full_tunnel || c->qr || c->endpoint)) {
		fprintf(stderr, "cloudroute: client %s: --full-tunnel, --qr and --endpoint are for "
		    "add and show\n", c->verb);
		return EXIT_USAGE;
	}
	if (c->qr && c->o.json) {
		fprintf(stderr, "cloudroute: client: --qr and --json do not go together\n");
		return EXIT_USAGE;
	}
	if (c->o.config == NULL)
		c->o.config = getenv("CLOUDROUTE_CONFIG");
	if (c->o.config == NULL || *c->o.config == '\0')
		c->o.config = CFG_DEFAULT_PATH;
	return EXIT_OK;
}

/* ---- pieces shared by the verbs ------------------------------------------------ */

static int
lock_clients(const char *state_dir)
{
	char path[PATH_MAX];
	int fd;

	if (mkdir_p(state_dir, 0700) < 0) {
		log_warn("cannot create %s", state_dir);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/clients.lock", state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		log_warn("%s", path);
		return -1;
	}
	if (flock(fd, LOCK_EX) < 0) {
		log_warn("flock %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* The instance's public IP from the cloud's metadata (provider "none": none). */
static int
cloud_public_ip(const struct config *cfg, char *out, size_t len)
{
	const struct prov_ops *ops;
	struct prov_identity id;
	void *ctx = NULL;
	int r;

	if (strcmp(cfg->cloud.provider, "none") == 0 || prov_select(cfg->cloud.provider, &ops) < 0)
		return -ENOENT;
	memset(&id, 0, sizeof(id));
	if ((r = ops->open(&ctx, &id)) < 0) {
		log_warnx("cloud %s: %s", ops->name, prov_last_error());
		return r;
	}
	r = -ENOENT;
	if (id.public_ip != NULL && *id.public_ip != '\0' && strlen(id.public_ip) < len) {
		cr_strlcpy(out, id.public_ip, len);
		r = 0;
	}
	prov_identity_free(&id);
	ops->close(ctx);
	return r;
}

/* Endpoint: --endpoint, else the cloud's public IP with listen_port. */
static int
find_endpoint(const struct copts *c, const struct config *cfg, char *out, size_t len)
{
	char host[256];
	uint16_t port;

	if (c->endpoint != NULL) {
		if (endpoint_split(c->endpoint, host, sizeof(host), &port) < 0 || port == 0 ||
		    strlen(c->endpoint) >= len) {
			fprintf(stderr, "cloudroute: client: --endpoint \"%s\" is not host:port "
			    "(e.g. vpn.example.net:51820 or [2001:db8::1]:51820)\n", c->endpoint);
			return -EINVAL;
		}
		cr_strlcpy(out, c->endpoint, len);
		return 0;
	}
	if (cloud_public_ip(cfg, host, sizeof(host)) < 0) {
		fprintf(stderr, "cloudroute: client: this connector's public address is not known "
		    "(the cloud reports no public IP, or cloud.provider is \"none\"); give the "
		    "address clients dial with --endpoint HOST:PORT\n");
		return -ENOENT;
	}
	snprintf(out, len, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
	    cfg->tunnel.listen_port);
	return 0;
}

static int
server_key(const struct config *cfg, uint8_t pub[32])
{
	uint8_t priv[32];
	struct buf errs;
	int r;

	buf_init(&errs, 4096);
	if ((r = tunnel_read_key(cfg->tunnel.private_key_file, priv, &errs)) == 0 &&
	    (r = dp_pubkey(pub, priv)) < 0)
		buf_printf(&errs, "cannot derive the connector's public key\n");
	if (r < 0)
		fprintf(stderr, "cloudroute: client: %s", errs.data ? errs.data : "key error\n");
	OPENSSL_cleanse(priv, sizeof(priv));
	buf_free(&errs);
	return r;
}

static int
read_kept_key(const struct config *cfg, const char *name, uint8_t key[32])
{
	char path[PATH_MAX];
	struct buf errs;
	int r;

	if (clients_key_path(cfg->state_dir, name, path, sizeof(path)) < 0 ||
	    access(path, F_OK) != 0)
		return -ENOENT;
	buf_init(&errs, 4096);
	if ((r = tunnel_read_key(path, key, &errs)) < 0)
		fprintf(stderr, "cloudroute: client: %s", errs.data);
	buf_free(&errs);
	return r;
}

static int
write_kept_key(const struct config *cfg, const char *name, const uint8_t key[32])
{
	char path[PATH_MAX], dir[PATH_MAX], b64[46];
	int r;

	if (clients_key_path(cfg->state_dir, name, path, sizeof(path)) < 0 ||
	    (size_t)snprintf(dir, sizeof(dir), "%s/clients", cfg->state_dir) >= sizeof(dir))
		return -EINVAL;
	if ((r = mkdir_p(dir, 0700)) < 0)
		return r;
	dp_key_to_base64(b64, key);
	b64[44] = '\n';
	r = file_write_atomic(path, b64, 45, 0600);
	OPENSSL_cleanse(b64, sizeof(b64));
	return r;
}

static void
drop_kept_key(const struct config *cfg, const char *name)
{
	char path[PATH_MAX];

	if (clients_key_path(cfg->state_dir, name, path, sizeof(path)) == 0 &&
	    unlink(path) < 0 && errno != ENOENT)
		log_warn("%s", path);
}

/* The peer on the running tunnel: 1 set, 0 tunnel not running, <0 error. */
static int
set_live(const struct config *cfg, const struct client *cl, int remove)
{
	char hex[65], pf[PREFIX_STRLEN], body[256];
	int r;

	dp_key_to_hex(hex, cl->public_key);
	if (remove)
		snprintf(body, sizeof(body), "public_key=%s\nremove=true\n", hex);
	else
		snprintf(body, sizeof(body), "public_key=%s\nallowed_ip=%s\n", hex,
		    prefix_fmt(&cl->address, pf, sizeof(pf)));
	r = dp_uapi_set(cfg->tunnel.interface, body);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		fprintf(stderr, "cloudroute: client: tunnel %s refused the change: %s\n",
		    cfg->tunnel.interface, strerror(-r));
		return r;
	}
	return 1;
}

/* The profile as JSON; the text may hold the private key: json-c's copies
 * are wiped.  sv: another connector's client (its site and connector too). */
static void
print_json(const struct client *cl, const char *endpoint, const struct prefix_set *routes,
    const char *profile, int live, const struct served *sv)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();
	char pf[PREFIX_STRLEN], b64[45];
	const char *js;
	size_t i;

	dp_key_to_base64(b64, cl->public_key);
	json_object_object_add(o, "name", json_object_new_string(cl->name));
	json_object_object_add(o, "address",
	    json_object_new_string(prefix_fmt(&cl->address, pf, sizeof(pf))));
	json_object_object_add(o, "public_key", json_object_new_string(b64));
	json_object_object_add(o, "endpoint", json_object_new_string(endpoint));
	for (i = 0; i < routes->n; i++)
		json_object_array_add(a, json_object_new_string(
		    prefix_fmt(&routes->v[i], pf, sizeof(pf))));
	json_object_object_add(o, "allowed_ips", a);
	if (live >= 0)
		json_object_object_add(o, "live", json_object_new_boolean(live));
	if (sv != NULL) {
		json_object_object_add(o, "site", json_object_new_string(sv->fc->site));
		json_object_object_add(o, "connector", json_object_new_string(sv->fc->connector));
	}
	json_object_object_add(o, "profile", json_object_new_string(profile));
	js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
	printf("%s\n", js);
	fflush(stdout);
	OPENSSL_cleanse((void *)js, strlen(js));
	js = json_object_get_string(json_object_object_get(o, "profile"));
	OPENSSL_cleanse((void *)js, strlen(js));
	json_object_put(o);
}

/*
 * With a fleet, the tunnel prefixes of the fleet's peers the daemon last saw
 * (state_dir/fleet.json) go into out: all of them (inside = 0: the pushed
 * routes reach every site), or those strictly inside the overlay (inside =
 * 1: other connectors' addresses, taken even while etcd is away).
 */
static int
add_fleet_prefixes(const struct config *cfg, int inside, struct prefix_set *out)
{
	struct desired d;
	size_t i, k;
	int r = 0, in;

	if (!cfg->fleet.enabled || agent_desired(cfg, NULL, &d) < 0)
		return 0;
	for (i = 0; i < d.tunnel.n && r == 0; i++) {
		for (k = 0, in = 0; k < cfg->overlay.n && !in; k++)
			in = prefix_contains(&cfg->overlay.v[k], &d.tunnel.v[i]) &&
			    d.tunnel.v[i].len > cfg->overlay.v[k].len;
		if (!inside || in)
			r = prefix_set_add(out, &d.tunnel.v[i]);
	}
	desired_free(&d);
	return r;
}

/* This connector's endpoint, key and routes for its client cl, or (sv) the
 * serving connector's from its fleet record. */
static int
profile_peer(const struct copts *c, const struct config *cfg, const struct served *sv,
    struct client_profile *pr, struct prefix_set *routes)
{
	struct buf err;
	int r;

	if (sv != NULL) {
		if (c->endpoint != NULL && find_endpoint(c, cfg, pr->endpoint,
		    sizeof(pr->endpoint)) < 0)
			return -EINVAL;
		if (c->endpoint == NULL)
			cr_strlcpy(pr->endpoint, sv->srv->endpoint, sizeof(pr->endpoint));
		memcpy(pr->server_public_key, sv->srv->public_key, 32);
		return fleet_clients_pushed_routes(cfg, sv->v, routes);
	}
	if (find_endpoint(c, cfg, pr->endpoint, sizeof(pr->endpoint)) < 0 ||
	    server_key(cfg, pr->server_public_key) < 0)
		return -EINVAL;
	buf_init(&err, 4096);
	if ((r = clients_routes(cfg, c->full_tunnel, routes, &err)) < 0)
		fprintf(stderr, "cloudroute: client: %s", err.data);
	buf_free(&err);
	if (r == 0 && !c->full_tunnel)
		r = add_fleet_prefixes(cfg, 0, routes);
	return r;
}

/*
 * Renders the profile of cl (private key if known) and prints it as text,
 * QR or JSON.  live: -1 = not applicable (show).  sv: another connector's
 * client (NULL: ours).
 */
static int
emit_profile(const struct copts *c, const struct config *cfg, const struct client *cl,
    const uint8_t *priv, int live, const struct served *sv)
{
	struct client_profile pr;
	struct prefix_set routes = { 0 };
	struct buf text, qr, err;
	int r = EXIT_RUNTIME;

	memset(&pr, 0, sizeof(pr));
	buf_init(&text, 1 << 20);
	buf_init(&qr, 4 << 20);
	buf_init(&err, 4096);
	if (profile_peer(c, cfg, sv, &pr, &routes) < 0)
		goto out;
	clients_aggregate(&routes);
	if (priv != NULL) {
		pr.has_private_key = 1;
		memcpy(pr.private_key, priv, 32);
	}
	pr.address = cl->address;
	pr.allowed_ips = &routes;
	pr.keepalive = KEEPALIVE;
	if (clients_render(&pr, &text) < 0)
		goto out;
	if (c->qr) {
		if (clients_qr(text.data, &qr, &err) < 0) {
			fprintf(stderr, "cloudroute: client: %s", err.data);
			goto out;
		}
		fwrite(qr.data, 1, qr.len, stdout);
	} else if (c->o.json) {
		print_json(cl, pr.endpoint, &routes, text.data, live, sv);
	} else {
		fputs(text.data, stdout);
	}
	r = EXIT_OK;
out:
	OPENSSL_cleanse(&pr, sizeof(pr));
	prefix_set_free(&routes);
	buf_free(&text);
	buf_free(&qr);
	buf_free(&err);
	return r;
}

/* ---- the verbs ------------------------------------------------------------------- */

static void
now_rfc3339(char *out, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * With a fleet, the addresses it already uses join taken.  -1 when the name
 * is another connector's client; etcd away is a warning (the daemon
 * publishes the client when it can).
 */
static int
fleet_taken(const struct config *cfg, const char *name, struct prefix_set *taken)
{
	struct buf err;
	int r;

	if (!cfg->fleet.enabled)
		return 0;
	/* the fleet's connectors the daemon last saw, even when etcd is away */
	if (add_fleet_prefixes(cfg, 1, taken) < 0)
		return -1;
	buf_init(&err, 4096);
	r = fleet_clients_cli_taken(cfg, name, taken, &err);
	if (r == -EEXIST)
		fprintf(stderr, "cloudroute: client add: %s", err.data);
	else if (r < 0)
		log_warnx("%.*s; the address is chosen from this connector's knowledge only",
		    err.len > 0 ? (int)err.len - 1 : 0, err.data ? err.data : "fleet: etcd");
	buf_free(&err);
	return r == -EEXIST ? -1 : 0;
}

/* With a fleet: the client's record in etcd written (add) or deleted. */
static void
fleet_publish(const struct config *cfg, const struct client *cl, int remove)
{
	struct buf err;

	if (!cfg->fleet.enabled)
		return;
	buf_init(&err, 4096);
	if (fleet_clients_cli_write(cfg, cl, remove, &err) < 0)
		log_warnx("%.*s; `cloudroute run` %s it when etcd answers",
		    err.len > 0 ? (int)err.len - 1 : 0, err.data ? err.data : "fleet: etcd",
		    remove ? "withdraws" : "publishes");
	buf_free(&err);
}

/* Under the clients lock: a new client in cs, saved.  0 or an exit status. */
static int
add_locked(const struct copts *c, const struct config *cfg, struct client_store *cs,
    struct client *cl, uint8_t priv[32])
{
	struct prefix_set taken = { 0 };
	struct buf err;
	char pf[PREFIX_STRLEN];
	int r = EXIT_RUNTIME;

	buf_init(&err, 64 * 1024);
	if (clients_load(cfg->state_dir, cs, &err) < 0) {
		fprintf(stderr, "cloudroute: client: %s", err.data ? err.data : "cannot read clients\n");
		goto out;
	}
	if (clients_find(cs, c->name) >= 0) {
		fprintf(stderr, "cloudroute: client add: \"%s\" exists already (`cloudroute client "
		    "show %s`, or remove it first)\n", c->name, c->name);
		goto out;
	}
	if (fleet_taken(cfg, c->name, &taken) < 0)
		goto out;
	if (clients_taken(cfg, cs, &taken) < 0 ||
	    clients_alloc(&cfg->overlay, &taken, &cl->address) < 0) {
		fprintf(stderr, "cloudroute: client add: no free address left in the overlay "
		    "(%s); widen \"overlay\" or remove clients\n",
		    prefix_fmt(&cfg->overlay.v[0], pf, sizeof(pf)));
		goto out;
	}
	cr_strlcpy(cl->name, c->name, sizeof(cl->name));
	now_rfc3339(cl->created, sizeof(cl->created));
	if (dp_genkey(priv) < 0 || dp_pubkey(cl->public_key, priv) < 0) {
		fprintf(stderr, "cloudroute: client add: cannot generate a key\n");
		goto out;
	}
	if (c->keep_key && write_kept_key(cfg, c->name, priv) < 0) {
		fprintf(stderr, "cloudroute: client add: cannot keep the key in %s/clients\n",
		    cfg->state_dir);
		goto out;
	}
	if (clients_append(cs, cl) < 0 || clients_save(cs) < 0) {
		fprintf(stderr, "cloudroute: client add: cannot write %s\n", cs->path);
		drop_kept_key(cfg, c->name);
		goto out;
	}
	r = EXIT_OK;
out:
	prefix_set_free(&taken);
	buf_free(&err);
	return r;
}

static int
client_add(const struct copts *c, const struct config *cfg)
{
	struct client_store cs = { 0 };
	struct client cl;
	uint8_t priv[32], pub[32];
	char ep[300];
	int lock, r, live;

	memset(&cl, 0, sizeof(cl));
	/* Everything that can fail on the config's side fails before a change. */
	if (find_endpoint(c, cfg, ep, sizeof(ep)) < 0 || server_key(cfg, pub) < 0)
		return EXIT_RUNTIME;
	{
		struct prefix_set routes = { 0 };
		struct buf err;
		buf_init(&err, 4096);
		r = clients_routes(cfg, c->full_tunnel, &routes, &err);
		if (r < 0)
			fprintf(stderr, "cloudroute: client add: %s", err.data);
		prefix_set_free(&routes);
		buf_free(&err);
		if (r < 0)
			return EXIT_CONFIG;
	}
	if ((lock = lock_clients(cfg->state_dir)) < 0)
		return EXIT_RUNTIME;
	if ((r = add_locked(c, cfg, &cs, &cl, priv)) != EXIT_OK)
		goto out;
	if ((live = set_live(cfg, &cl, 0)) < 0) {
		/* not live: take it back out, so the store says what runs */
		clients_delete(&cs, cs.n - 1);
		clients_save(&cs);
		drop_kept_key(cfg, c->name);
		r = EXIT_RUNTIME;
		goto out;
	}
	fleet_publish(cfg, &cl, 0);
	close(lock);
	lock = -1;
	if (!live)
		log_info("tunnel %s is not running here; client %s is configured when "
		    "`cloudroute run` starts", cfg->tunnel.interface, c->name);
	r = emit_profile(c, cfg, &cl, priv, live, NULL);
out:
	OPENSSL_cleanse(priv, sizeof(priv));
	if (lock >= 0)
		close(lock);
	clients_free(&cs);
	return r;
}

static int
client_remove(const struct copts *c, const struct config *cfg)
{
	struct client_store cs = { 0 };
	struct client cl;
	struct buf err;
	ssize_t i;
	int lock, r = EXIT_RUNTIME, live = 0;

	buf_init(&err, 64 * 1024);
	if ((lock = lock_clients(cfg->state_dir)) < 0)
		return EXIT_RUNTIME;
	if (clients_load(cfg->state_dir, &cs, &err) < 0) {
		fprintf(stderr, "cloudroute: client: %s", err.data);
		goto out;
	}
	if ((i = clients_find(&cs, c->name)) < 0) {
		client_cmd_not_here(cfg, "remove", c->name);
		goto out;
	}
	cl = cs.v[i];
	clients_delete(&cs, (size_t)i);
	if (clients_save(&cs) < 0) {
		fprintf(stderr, "cloudroute: client remove: cannot write %s\n", cs.path);
		goto out;
	}
	drop_kept_key(cfg, c->name);
	fleet_publish(cfg, &cl, 1);
	if ((live = set_live(cfg, &cl, 1)) < 0)
		goto out;
	if (c->o.json)
		printf("{ \"removed\": \"%s\", \"live\": %s }\n", c->name, live ? "true" : "false");
	else
		printf("client %s removed%s\n", c->name, live ? " (peer removed from the tunnel)" : "");
	r = EXIT_OK;
out:
	close(lock);
	clients_free(&cs);
	buf_free(&err);
	return r;
}

/*
 * `show` of a client that is not ours: with a fleet, another connector's
 * (a valid record in etcd).  The profile dials its connector (key and
 * endpoint from that connector's record) and has no private key: only the
 * client ever had it (or its connector with --keep-key).
 */
static int
show_fleet(const struct copts *c, const struct config *cfg)
{
	const struct fleet_client *fc = NULL;
	struct fleet_clients t;
	struct fleet_view v;
	struct served sv;
	struct client cl;
	struct buf err;
	int r = EXIT_RUNTIME, e;

	if (!cfg->fleet.enabled) {
		fprintf(stderr, "cloudroute: client show: no client \"%s\"\n", c->name);
		return r;
	}
	buf_init(&err, 4096);
	if ((e = client_cmd_fleet_find(cfg, c->name, &t, &v, &fc, &err)) < 0) {
		if (e == -ENOENT)
			fprintf(stderr, "cloudroute: client show: no client \"%s\" here or in the "
			    "fleet\n", c->name);
		else
			fprintf(stderr, "cloudroute: client show: no client \"%s\" here, and the "
			    "fleet's clients were not read: %s", c->name,
			    err.data ? err.data : "etcd\n");
		goto out;
	}
	sv = (struct served){ .fc = fc, .srv = fleet_clients_server(&v, fc), .v = &v };
	if (sv.srv == NULL || c->full_tunnel) {
		fprintf(stderr, "cloudroute: client show: %s is served by %s/%s, %s; `cloudroute "
		    "client show %s%s` there\n", c->name, fc->site, fc->connector, sv.srv == NULL ?
		    "which is not in the fleet now (its key and endpoint are not known)" :
		    "whose egress setting is not known here", c->name,
		    c->full_tunnel ? " --full-tunnel" : "");
		goto out;
	}
	fprintf(stderr, "cloudroute: client show: %s is served by connector %s/%s; the profile "
	    "dials it\n", c->name, fc->site, fc->connector);
	memset(&cl, 0, sizeof(cl));
	cr_strlcpy(cl.name, fc->name, sizeof(cl.name));
	memcpy(cl.public_key, fc->public_key, 32);
	cl.address = fc->address;
	r = emit_profile(c, cfg, &cl, NULL, -1, &sv);
out:
	fleet_clients_free(&t);
	fleet_view_free(&v);
	buf_free(&err);
	return r;
}

static int
client_show(const struct copts *c, const struct config *cfg)
{
	struct client_store cs = { 0 };
	struct buf err;
	uint8_t key[32];
	ssize_t i;
	int r = EXIT_RUNTIME, kept;

	buf_init(&err, 64 * 1024);
	if (clients_load(cfg->state_dir, &cs, &err) < 0) {
		fprintf(stderr, "cloudroute: client: %s", err.data);
		goto out;
	}
	if ((i = clients_find(&cs, c->name)) < 0) {
		r = show_fleet(c, cfg);
		goto out;
	}
	kept = read_kept_key(cfg, c->name, key) == 0;
	r = emit_profile(c, cfg, &cs.v[i], kept ? key : NULL, -1, NULL);
	OPENSSL_cleanse(key, sizeof(key));
out:
	clients_free(&cs);
	buf_free(&err);
	return r;
}

int
cmd_client(int argc, char **argv)
{
	struct copts c;
	struct config cfg;
	int r;

	memset(&c, 0, sizeof(c));
	if ((r = parse_args(argc, argv, &c)) != EXIT_OK) {
		if (r == HELP_SHOWN)
			return EXIT_OK;
		client_usage(stderr);
		return r;
	}
	log_init(1, c.o.verbose, "cloudroute");
	if (noise_global_init() < 0) {
		fprintf(stderr, "cloudroute: OpenSSL lacks BLAKE2s/X25519/ChaCha20-Poly1305\n");
		return EXIT_RUNTIME;
	}
	if ((r = agent_load_config(&c.o, &cfg, 1)) != EXIT_OK)
		return r;
	if (cfg.tunnel.mode != TUNNEL_USERSPACE) {
		fprintf(stderr, "cloudroute: client: remote users need the userspace tunnel "
		    "(tunnel.mode \"userspace\"); in external mode configure them in the "
		    "program that runs %s\n", cfg.tunnel.interface);
		config_free(&cfg);
		return EXIT_CONFIG;
	}
	if (strcmp(c.verb, "add") == 0)
		r = client_add(&c, &cfg);
	else if (strcmp(c.verb, "list") == 0)
		r = client_cmd_list(&cfg, c.o.json);
	else if (strcmp(c.verb, "show") == 0)
		r = client_show(&c, &cfg);
	else
		r = client_remove(&c, &cfg);
	config_free(&cfg);
	return r;
}
