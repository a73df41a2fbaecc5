/*
 * Remote users in the fleet (see fleet_clients.h): the client record, the
 * table the fleet thread keeps of <prefix>clients/, the routes it implies,
 * publishing our clients.json, and the CLI's direct writes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "agent/fleet_clients.h"
#include "dataplane/noise.h"
#include "providers/provider.h"

#define CLIENTS_DIR "clients/"
#define REC_MAX 1024
#define SYNC_WRITES 16

/* ---- the record ---- */

/* n bytes of s for a log line (a key or member name from etcd may hold
 * terminal escapes): other than printable ASCII as '?', at most len - 1. */
static const char *
printable(const char *s, size_t n, char *out, size_t len)
{
	size_t i;

	for (i = 0; i < n && i + 1 < len; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
	return out;
}

int
fleet_client_encode(const struct fleet_client *c, char *out, size_t len)
{
	char pk[45], a[PREFIX_STRLEN];
	int n;

	dp_key_to_base64(pk, c->public_key);
	n = snprintf(out, len, "{\"public_key\":\"%s\",\"address\":\"%s\",\"site\":\"%s\","
	    "\"connector\":\"%s\"}", pk, prefix_fmt(&c->address, a, sizeof(a)), c->site,
	    c->connector);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

static int
take_name(struct json_object *v, char out[FLEET_NAME_MAX])
{
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);

	if (!fleet_name_valid(s, n) || memchr(s, '/', n) != NULL)
		return -EINVAL;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* One member of the record into c: its bit, or -EINVAL with why. */
static int
member(const char *key, struct json_object *v, struct fleet_client *c, char *why, size_t wl)
{
	const char *s = json_object_get_string(v);
	char k[41];

	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, wl, "\"%s\" is not a string", printable(key, strlen(key), k,
		    sizeof(k)));
		return -EINVAL;
	}
	if (strcmp(key, "public_key") == 0) {
		if (strlen(s) == 44 && dp_key_from_base64(c->public_key, s) == 0)
			return 1;
		snprintf(why, wl, "\"public_key\" is not a 32-byte base64 key");
	} else if (strcmp(key, "address") == 0) {
		if (prefix_parse(s, &c->address, 0) == 0 &&
		    c->address.len == (c->address.family == AF_INET ? 32 : 128))
			return 2;
		snprintf(why, wl, "\"address\" is not a host prefix (/32 or /128)");
	} else if (strcmp(key, "site") == 0) {
		if (take_name(v, c->site) == 0)
			return 4;
		snprintf(why, wl, "\"site\" is not a name");
	} else if (strcmp(key, "connector") == 0) {
		if (take_name(v, c->connector) == 0)
			return 8;
		snprintf(why, wl, "\"connector\" is not a name");
	} else {
		snprintf(why, wl, "unknown member \"%s\"", printable(key, strlen(key), k, sizeof(k)));
	}
	return -EINVAL;
}

int
fleet_client_decode(const char *value, size_t len, struct fleet_client *c,
    char *why, size_t whylen)
{
	struct json_tokener *tok = json_tokener_new_ex(4);
	struct json_object *o = NULL;
	int have = 0, b, rc = -EINVAL;

	why[0] = '\0';
	if (tok == NULL)
		return -ENOMEM;
	if (len > REC_MAX || (o = json_tokener_parse_ex(tok, value, (int)len)) == NULL ||
	    json_tokener_get_parse_end(tok) != len || !json_object_is_type(o, json_type_object)) {
		snprintf(why, whylen, "not a JSON object");
		goto out;
	}
	json_object_object_foreach(o, key, val) {
		if ((b = member(key, val, c, why, whylen)) < 0)
			goto out;
		have |= b;
	}
	if (have != 15) {
		snprintf(why, whylen, "needs \"public_key\", \"address\", \"site\" and \"connector\"");
		goto out;
	}
	rc = 0;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return rc;
}

int
fleet_client_key(const char *prefix, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s" CLIENTS_DIR "%s", prefix, name);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* 1 with the client's name when key is <prefix>clients/<name>, else 0. */
static int
key_name(const char *prefix, const char *key, size_t len, char name[FLEET_NAME_MAX])
{
	size_t pl = strlen(prefix), dl = strlen(CLIENTS_DIR), n;

	if (len <= pl + dl || memcmp(key, prefix, pl) != 0 || memcmp(key + pl, CLIENTS_DIR, dl) != 0)
		return 0;
	n = len - pl - dl;
	if (n > CLIENTS_NAME_MAX)
		return -EINVAL;
	memcpy(name, key + pl + dl, n);
	name[n] = '\0';
	return clients_valid_name(name) ? 1 : -EINVAL;
}

/* ---- the table ---- */

void
fleet_clients_init(struct fleet_clients *t, const char *state_dir)
{
	memset(t, 0, sizeof(*t));
	cr_strlcpy(t->state_dir, state_dir, sizeof(t->state_dir));
	t->need_sync = 1;
}

void
fleet_clients_free(struct fleet_clients *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

/* The index of name, or t->n.  Linear: a fleet has hundreds of clients,
 * and validation compares every pair anyway. */
static size_t
find(const struct fleet_clients *t, const char *name, int *found)
{
	size_t i;

	for (i = 0; i < t->n && strcmp(t->v[i].name, name) != 0; i++)
		;
	*found = i < t->n;
	return i;
}

static int
same_record(const struct fleet_client *a, const struct fleet_client *b)
{
	return memcmp(a->public_key, b->public_key, 32) == 0 &&
	    prefix_equal(&a->address, &b->address) && strcmp(a->site, b->site) == 0 &&
	    strcmp(a->connector, b->connector) == 0;
}

int
fleet_clients_put(struct fleet_clients *t, const char *prefix, const struct etcd_kv *kv)
{
	char name[FLEET_NAME_MAX], shown[256];
	struct fleet_client c, *e;
	int found, k = key_name(prefix, kv->key, kv->key_len, name);
	size_t i;

	if (k == 0)
		return 0;
	if (k < 0) {
		log_warnx("fleet: ignoring %s: not a client name",
		    printable(kv->key, kv->key_len, shown, sizeof(shown)));
		return 1;
	}
	memset(&c, 0, sizeof(c));
	c.decoded = fleet_client_decode(kv->value, kv->value_len, &c, c.why, sizeof(c.why)) == 0;
	cr_strlcpy(c.name, name, sizeof(c.name));
	c.create_revision = kv->create_revision;
	c.seen = 1;
	i = find(t, name, &found);
	if (!found) {
		if (t->n == t->cap) {
			size_t nc = t->cap ? t->cap * 2 : 16;
			void *p = realloc(t->v, nc * sizeof(*t->v));
			if (p == NULL)
				return 1;             /* the next full read repairs it */
			t->v = p;
			t->cap = nc;
		}
		t->n++;
	} else if (t->v[i].decoded == c.decoded && (c.decoded ? same_record(&t->v[i], &c) :
	    strcmp(t->v[i].why, c.why) == 0)) {
		/* unchanged (a re-read): a rejection is not logged again */
		c.logged = t->v[i].logged;
		cr_strlcpy(c.why, t->v[i].why, sizeof(c.why));
	}
	e = &t->v[i];
	*e = c;
	t->need_sync = 1;
	return 1;
}

int
fleet_clients_delete(struct fleet_clients *t, const char *prefix, const char *key, size_t len)
{
	char name[FLEET_NAME_MAX];
	int found;
	size_t i;

	if (key_name(prefix, key, len, name) != 1)
		return key_name(prefix, key, len, name) != 0;
	i = find(t, name, &found);
	if (found) {
		memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
		t->n--;
	}
	t->need_sync = 1;
	return 1;
}

void
fleet_clients_mark(struct fleet_clients *t)
{
	for (size_t i = 0; i < t->n; i++)
		t->v[i].seen = 0;
}

void
fleet_clients_sweep(struct fleet_clients *t)
{
	size_t i, o;

	for (i = o = 0; i < t->n; i++)
		if (t->v[i].seen)
			t->v[o++] = t->v[i];
	t->n = o;
	t->need_sync = 1;
}

/* ---- routes ---- */

static int
by_age(const void *a, const void *b)
{
	const struct fleet_client *x = *(struct fleet_client *const *)a;
	const struct fleet_client *y = *(struct fleet_client *const *)b;

	if (x->create_revision != y->create_revision)
		return x->create_revision < y->create_revision ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Why client c conflicts with the view or an older accepted client, or 0. */
static int
conflict(const struct fleet_view *v, const struct fleet_client *c,
    struct fleet_client *const *acc, size_t nacc, char *why, size_t wl)
{
	size_t i, j;

	for (i = 0; i < v->local_subnets.n; i++)
		if (prefix_overlaps(&c->address, &v->local_subnets.v[i]))
			return snprintf(why, wl, "address inside our local_subnets"), 1;
	for (i = 0; i < v->n; i++) {
		const struct fleet_record *r = &v->e[i].rec;

		if (!v->e[i].valid)
			continue;
		if (prefix_overlaps(&c->address, &r->address))
			return snprintf(why, wl, "address is connector %s/%s's", r->site, r->name), 1;
		for (j = 0; j < r->subnets.n; j++)
			if (prefix_overlaps(&c->address, &r->subnets.v[j]))
				return snprintf(why, wl, "address inside site %s's subnets", r->site), 1;
		if (memcmp(c->public_key, r->public_key, 32) == 0)
			return snprintf(why, wl, "public key is connector %s/%s's", r->site,
			    r->name), 1;
	}
	for (i = 0; i < nacc; i++) {
		if (prefix_overlaps(&c->address, &acc[i]->address))
			return snprintf(why, wl, "address is client %s's (older)", acc[i]->name), 1;
		if (memcmp(c->public_key, acc[i]->public_key, 32) == 0)
			return snprintf(why, wl, "public key is client %s's (older)", acc[i]->name), 1;
	}
	return 0;
}

const struct fleet_record *
fleet_clients_server(const struct fleet_view *v, const struct fleet_client *c)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (v->e[i].valid && strcmp(v->e[i].rec.site, c->site) == 0 &&
		    strcmp(v->e[i].rec.name, c->connector) == 0)
			return &v->e[i].rec;
	return NULL;
}

/* The peer that carries the traffic of the connector serving c, or NULL. */
static struct fleet_peer *
serving_peer(const struct fleet_view *v, const struct fleet_client *c, struct fleet_peers *p)
{
	const struct fleet_record *r = fleet_clients_server(v, c);
	size_t i;

	for (i = 0; r != NULL && i < p->n; i++)
		if (strcmp(p->v[i].site, r->site) == 0 &&
		    memcmp(p->v[i].public_key, r->public_key, 32) == 0)
			return &p->v[i];
	return NULL;
}

/* Validity of every client, oldest first; newly rejected ones logged. */
static int
validate(struct fleet_clients *t, const struct fleet_view *v, const char *prefix)
{
	struct fleet_client **ord, **acc;
	size_t i, n = 0, nacc = 0;
	char why[160];

	ord = calloc(t->n ? t->n : 1, sizeof(*ord));
	acc = calloc(t->n ? t->n : 1, sizeof(*acc));
	if (ord == NULL || acc == NULL) {
		free(ord);
		free(acc);
		return -ENOMEM;
	}
	for (i = 0; i < t->n; i++) {
		t->v[i].valid = 0;
		if (t->v[i].decoded)
			ord[n++] = &t->v[i];
		else if (!t->v[i].logged)
			log_warnx("fleet: ignoring %s" CLIENTS_DIR "%s: %s", prefix, t->v[i].name,
			    t->v[i].why);
		t->v[i].logged |= !t->v[i].decoded;
	}
	qsort(ord, n, sizeof(*ord), by_age);
	for (i = 0; i < n; i++) {
		struct fleet_client *c = ord[i];

		if (!conflict(v, c, acc, nacc, why, sizeof(why))) {
			c->valid = 1;
			c->why[0] = '\0';
			c->logged = 0;
			acc[nacc++] = c;
			continue;
		}
		if (!c->logged || strcmp(c->why, why) != 0)
			log_warnx("fleet: ignoring %s" CLIENTS_DIR "%s: %s", prefix, c->name, why);
		cr_strlcpy(c->why, why, sizeof(c->why));
		c->logged = 1;
	}
	free(ord);
	free(acc);
	return 0;
}

int
fleet_clients_route(struct fleet_clients *t, const struct fleet_view *v,
    struct fleet_peers *p, const char *prefix)
{
	struct fleet_peer *peer;
	size_t i;
	int r;

	if ((r = validate(t, v, prefix)) < 0)
		return r;
	for (i = 0; i < t->n && r == 0; i++) {
		const struct fleet_client *c = &t->v[i];

		if (!c->valid || (strcmp(c->site, v->self_site) == 0 &&
		    strcmp(c->connector, v->self_name) == 0))
			continue;                 /* ours: a peer of our own tunnel */
		if ((peer = serving_peer(v, c, p)) != NULL)
			r = prefix_set_add(&peer->allowed_ips, &c->address);
	}
	return r;
}

int
fleet_clients_pushed_routes(const struct config *cfg, const struct fleet_view *v,
    struct prefix_set *out)
{
	size_t i, k;
	int r = 0;

	for (i = 0; i < cfg->overlay.n && r == 0; i++)
		r = prefix_set_add(out, &cfg->overlay.v[i]);
	for (i = 0; i < cfg->local_subnets.n && r == 0; i++)
		r = prefix_set_add(out, &cfg->local_subnets.v[i]);
	for (i = 0; i < v->n && r == 0; i++)
		for (k = 0; v->e[i].valid && k < v->e[i].rec.subnets.n && r == 0; k++)
			r = prefix_set_add(out, &v->e[i].rec.subnets.v[k]);
	return r;
}

/* ---- publishing ours ---- */

static void
file_sig(const char *state_dir, char *out, size_t len)
{
	char path[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir, CLIENTS_FILE) >=
	    sizeof(path) || stat(path, &st) < 0)
		snprintf(out, len, "absent");
	else
		snprintf(out, len, "%jd.%09ld/%jd/%ju", (intmax_t)st.st_mtim.tv_sec,
		    st.st_mtim.tv_nsec, (intmax_t)st.st_size, (uintmax_t)st.st_ino);
}

static void
from_client(const struct client *c, const char *site, const char *name,
    struct fleet_client *out)
{
	memset(out, 0, sizeof(*out));
	cr_strlcpy(out->name, c->name, sizeof(out->name));
	memcpy(out->public_key, c->public_key, 32);
	out->address = c->address;
	cr_strlcpy(out->site, site, sizeof(out->site));
	cr_strlcpy(out->connector, name, sizeof(out->connector));
}

static int
put_client(struct etcd_client *c, const char *prefix, const struct fleet_client *fc)
{
	char key[256], val[REC_MAX];
	int r;

	if ((r = fleet_client_key(prefix, fc->name, key, sizeof(key))) < 0 ||
	    (r = fleet_client_encode(fc, val, sizeof(val))) < 0)
		return r;
	return etcd_put(c, key, strlen(key), val, strlen(val), 0, NULL);
}

/*
 * Puts what is missing or different, deletes ours that are gone, at most
 * SYNC_WRITES writes per call (the fleet thread keeps its lease alive
 * between calls): 0 done, 1 more to do, or the first error (the rest is
 * tried again a second later).
 */
static int
publish(struct fleet_clients *t, struct etcd_client *c, const char *prefix,
    const char *site, const char *name, const struct client_store *cs)
{
	struct fleet_client want;
	char key[256];
	size_t i, k, writes = 0;
	int found, r;

	for (i = 0; i < cs->n; i++) {
		const struct fleet_client *e;

		from_client(&cs->v[i], site, name, &want);
		k = find(t, want.name, &found);
		e = found ? &t->v[k] : NULL;
		if (found && e->decoded && same_record(e, &want))
			continue;
		if (found && e->decoded && (strcmp(e->site, site) != 0 ||
		    strcmp(e->connector, name) != 0)) {
			log_warnx("fleet: client %s is already %s/%s's in etcd; not published",
			    want.name, e->site, e->connector);
			continue;
		}
		if (writes++ == SYNC_WRITES)
			return 1;
		if ((r = put_client(c, prefix, &want)) < 0)
			return r;
		log_info("fleet: published client %s", want.name);
	}
	for (i = 0; i < t->n; i++) {
		const struct fleet_client *e = &t->v[i];

		if (!e->decoded || strcmp(e->site, site) != 0 || strcmp(e->connector, name) != 0 ||
		    clients_find(cs, e->name) >= 0)
			continue;
		if (writes++ == SYNC_WRITES)
			return 1;
		if ((r = fleet_client_key(prefix, e->name, key, sizeof(key))) < 0 ||
		    (r = etcd_delete(c, key, strlen(key), NULL, 0, NULL)) < 0)
			return r;
		log_info("fleet: withdrew client %s", e->name);
	}
	return 0;
}

void
fleet_clients_sync(struct fleet_clients *t, struct etcd_client *c, const char *prefix,
    const char *site, const char *name, uint64_t now)
{
	struct client_store cs;
	char sig[sizeof(t->file_sig)];
	struct buf err;
	int r;

	if (now < t->next_check_ms)
		return;
	t->next_check_ms = now + 1000;
	file_sig(t->state_dir, sig, sizeof(sig));
	if (!t->need_sync && strcmp(sig, t->file_sig) == 0)
		return;
	buf_init(&err, 4096);
	if (clients_load(t->state_dir, &cs, &err) < 0) {
		if (strcmp(sig, t->file_sig) != 0)
			log_warnx("fleet: %.*s; the clients in etcd stay as they are",
			    err.len > 0 ? (int)err.len - 1 : 0, err.data ? err.data : "");
		t->need_sync = 0;
	} else {
		r = publish(t, c, prefix, site, name, &cs);
		if (r < 0)
			log_warnx("fleet: publishing clients: %s (retrying)", prov_last_error());
		t->need_sync = r != 0;
		clients_free(&cs);
	}
	cr_strlcpy(t->file_sig, sig, sizeof(t->file_sig));
	buf_free(&err);
}

/* ---- the CLI ---- */

static int
cli_open(const struct config *cfg, struct etcd_client **c, struct buf *err)
{
	const char *eps[CFG_FLEET_MAX_ETCD];
	struct etcd_config ec = { .endpoints = eps, .n_endpoints = cfg->fleet.n_etcd,
		.timeout_ms = 2000, .connect_timeout_ms = 1000 };
	size_t i;
	int r;

	for (i = 0; i < cfg->fleet.n_etcd; i++)
		eps[i] = cfg->fleet.etcd[i];
	ec.ca_file = cfg->fleet.ca_file[0] ? cfg->fleet.ca_file : NULL;
	ec.cert_file = cfg->fleet.cert_file[0] ? cfg->fleet.cert_file : NULL;
	ec.key_file = cfg->fleet.key_file[0] ? cfg->fleet.key_file : NULL;
	if ((r = etcd_open(&ec, c)) < 0)
		buf_printf(err, "fleet: %s\n", prov_last_error());
	return r;
}

/* One key-value of the fleet into taken (conflicts with name: -EEXIST). */
static int
taken_kv(const struct config *cfg, const char *name, const struct etcd_kv *kv,
    struct prefix_set *taken, struct buf *err)
{
	struct fleet_record rec;
	struct fleet_client fc;
	char why[160], cn[FLEET_NAME_MAX];
	int kind, r = 0;

	memset(&rec, 0, sizeof(rec));
	memset(&fc, 0, sizeof(fc));
	if (key_name(cfg->fleet.prefix, kv->key, kv->key_len, cn) == 1) {
		if (fleet_client_decode(kv->value, kv->value_len, &fc, why, sizeof(why)) < 0)
			return 0;
		if (strcmp(cn, name) == 0 && (strcmp(fc.site, cfg->fleet.site) != 0 ||
		    strcmp(fc.connector, cfg->fleet.name) != 0)) {
			buf_printf(err, "client %s already exists in the fleet (served by %s/%s)\n",
			    name, fc.site, fc.connector);
			return -EEXIST;
		}
		return prefix_set_add(taken, &fc.address);
	}
	if (fleet_key_parse(cfg->fleet.prefix, kv->key, kv->key_len, &kind, rec.site,
	    rec.name) == 0 && kind == 'S' &&
	    fleet_record_decode(kv->value, kv->value_len, &rec, why, sizeof(why)) == 0)
		r = prefix_set_add(taken, &rec.address);
	fleet_record_free(&rec);
	return r;
}

/* Every key under the prefix, in one range request (kvs zeroed first). */
static int
read_prefix(const struct config *cfg, struct etcd_kvs *kvs, struct buf *err)
{
	const char *p = cfg->fleet.prefix;
	struct etcd_client *c = NULL;
	size_t end_len;
	char *end;
	int r;

	memset(kvs, 0, sizeof(*kvs));
	if ((end = etcd_prefix_end(p, strlen(p), &end_len)) == NULL)
		return -ENOMEM;
	if ((r = cli_open(cfg, &c, err)) == 0 &&
	    (r = etcd_range(c, p, strlen(p), end, end_len, kvs)) < 0)
		buf_printf(err, "fleet: reading %s: %s\n", p, prov_last_error());
	etcd_close(c);
	free(end);
	return r;
}

int
fleet_clients_cli_taken(const struct config *cfg, const char *name,
    struct prefix_set *taken, struct buf *err)
{
	struct etcd_kvs kvs;
	size_t i;
	int r;

	r = read_prefix(cfg, &kvs, err);
	for (i = 0; i < kvs.n && r == 0; i++)
		r = taken_kv(cfg, name, &kvs.kvs[i], taken, err);
	etcd_kvs_free(&kvs);
	return r;
}

int
fleet_clients_cli_read(const struct config *cfg, struct fleet_clients *t,
    struct fleet_view *v, struct buf *err)
{
	const char *p = cfg->fleet.prefix;
	struct fleet_peers none = { 0 };
	struct etcd_kvs kvs;
	size_t i;
	int r;

	fleet_view_init(v, cfg->fleet.site, cfg->fleet.name, &cfg->local_subnets);
	fleet_clients_init(t, cfg->state_dir);
	if ((r = read_prefix(cfg, &kvs, err)) < 0)
		goto out;
	for (i = 0; i < kvs.n; i++) {
		const struct etcd_kv *kv = &kvs.kvs[i];

		if (fleet_clients_put(t, p, kv) == 0)
			fleet_view_put(v, p, kv->key, kv->key_len, kv->value, kv->value_len,
			    kv->create_revision, kv->mod_revision, kv->lease);
	}
	/* connectors first (a client may not take theirs), then the clients */
	fleet_view_validate(v, NULL, NULL);
	if ((r = fleet_clients_route(t, v, &none, p)) < 0)
		buf_printf(err, "fleet: %s\n", strerror(-r));
out:
	etcd_kvs_free(&kvs);
	return r;
}

int
fleet_clients_cli_write(const struct config *cfg, const struct client *cl, int remove,
    struct buf *err)
{
	struct etcd_client *c = NULL;
	struct fleet_client fc;
	char key[256], val[REC_MAX];
	int r, done;

	from_client(cl, cfg->fleet.site, cfg->fleet.name, &fc);
	if ((r = fleet_client_key(cfg->fleet.prefix, cl->name, key, sizeof(key))) < 0 ||
	    (r = fleet_client_encode(&fc, val, sizeof(val))) < 0 || (r = cli_open(cfg, &c, err)) < 0)
		goto out;
	/* a delete only while the record is still ours, as we wrote it */
	r = remove ? etcd_delete_if(c, key, strlen(key), val, strlen(val), &done) :
	    etcd_put(c, key, strlen(key), val, strlen(val), 0, NULL);
	if (r < 0)
		buf_printf(err, "fleet: %s %s: %s\n", remove ? "deleting" : "writing", key,
		    prov_last_error());
out:
	etcd_close(c);
	return r;
}
