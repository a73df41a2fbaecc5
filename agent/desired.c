/*
 * Desired state from sources (see desired.h): the registry of published
 * sources, the clients.json reader and the composition.
 *
 * Composition rules:
 *   - peers are keyed by public key; the same key from several sources is
 *     one peer whose allowed IPs are the union; the first source (config,
 *     then clients, then the registry in name order) gives endpoint,
 *     keepalive and PSK;
 *   - a prefix already held by one peer is not given to another (WireGuard
 *     routes a prefix to exactly one peer; config wins, later sources are
 *     told in errs);
 *   - tunnel prefixes: every peer's allowed IPs (userspace), or
 *     tunnel.routes (external), plus the sources' extra routes;
 *   - cloud prefixes: cloud.routes, or with "auto" the overlay plus the
 *     tunnel prefixes minus defaults and anything overlapping
 *     local_subnets, contained prefixes merged.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "agent/clients.h"
#include "agent/desired.h"
#include "common/keymap.h"
#include "dataplane/noise.h"

#define MAX_SOURCES 8

struct ds_registry {
	pthread_mutex_t lock;
	struct ds_source *v[MAX_SOURCES];
	int efd;
};

int
ds_registry_new(struct ds_registry **out)
{
	struct ds_registry *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -ENOMEM;
	if ((r->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		free(r);
		return -errno;
	}
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return 0;
}

void
ds_peer_free(struct ds_peer *p)
{
	prefix_set_free(&p->allowed_ips);
	free(p->source);
	free(p->name);
	free(p->endpoint);
	free(p->psk_file);
	p->source = p->name = p->endpoint = p->psk_file = NULL;
}

int
ds_str_set(char **out, const char *s, size_t max, int empty_null)
{
	char *n = NULL;

	if (s != NULL && (s[0] != '\0' || !empty_null) && (n = strndup(s, max - 1)) == NULL)
		return -ENOMEM;
	free(*out);
	*out = n;
	return 0;
}

int
ds_str_fmt(char **out, size_t max, const char *fmt, ...)
{
	char b[DS_ENDPOINT_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, max < sizeof(b) ? max : sizeof(b), fmt, ap);
	va_end(ap);
	return ds_str_set(out, b, sizeof(b), 0);
}

/* A heap copy of s (NULL stays NULL); 0 or -ENOMEM. */
static int
dup_or_null(char **out, const char *s)
{
	*out = NULL;
	return s != NULL && (*out = strdup(s)) == NULL ? -ENOMEM : 0;
}

int
ds_peer_copy(struct ds_peer *dst, const struct ds_peer *src)
{
	size_t n;

	*dst = *src;
	dst->source = dst->name = dst->endpoint = dst->psk_file = NULL;
	memset(&dst->allowed_ips, 0, sizeof(dst->allowed_ips));
	if (dup_or_null(&dst->source, src->source) < 0 || dup_or_null(&dst->name, src->name) < 0 ||
	    dup_or_null(&dst->endpoint, src->endpoint) < 0 ||
	    dup_or_null(&dst->psk_file, src->psk_file) < 0)
		goto fail;
	if ((n = src->allowed_ips.n) > 0) {
		if ((dst->allowed_ips.v = reallocarray(NULL, n, sizeof(*src->allowed_ips.v))) == NULL)
			goto fail;
		memcpy(dst->allowed_ips.v, src->allowed_ips.v, n * sizeof(*src->allowed_ips.v));
		dst->allowed_ips.n = dst->allowed_ips.cap = n;
	}
	return 0;
fail:
	ds_peer_free(dst);
	return -ENOMEM;
}

void
ds_source_free(struct ds_source *src)
{
	size_t i;

	if (src == NULL)
		return;
	for (i = 0; i < src->n_peers; i++)
		ds_peer_free(&src->peers[i]);
	free(src->peers);
	prefix_set_free(&src->routes);
	free(src);
}

void
ds_registry_free(struct ds_registry *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < MAX_SOURCES; i++)
		ds_source_free(r->v[i]);
	close(r->efd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

int
ds_registry_fd(struct ds_registry *r)
{
	return r->efd;
}

void
ds_registry_ack(struct ds_registry *r)
{
	uint64_t v;

	while (read(r->efd, &v, sizeof(v)) == sizeof(v))
		;
}

static void
wake(struct ds_registry *r)
{
	uint64_t one = 1;

	if (write(r->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is already non-zero, the loop will wake. */
	}
}

int
ds_registry_put(struct ds_registry *r, struct ds_source *src)
{
	struct ds_source *old = NULL;
	size_t i, slot = MAX_SOURCES;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < MAX_SOURCES; i++) {
		if (r->v[i] != NULL && strcmp(r->v[i]->name, src->name) == 0) {
			slot = i;
			break;
		}
		if (r->v[i] == NULL && slot == MAX_SOURCES)
			slot = i;
	}
	if (slot == MAX_SOURCES) {
		pthread_mutex_unlock(&r->lock);
		ds_source_free(src);
		return -ENOSPC;
	}
	old = r->v[slot];
	r->v[slot] = src;
	pthread_mutex_unlock(&r->lock);
	ds_source_free(old);
	wake(r);
	return 0;
}

void
ds_registry_drop(struct ds_registry *r, const char *name)
{
	struct ds_source *old = NULL;
	size_t i;

	pthread_mutex_lock(&r->lock);
	for (i = 0; i < MAX_SOURCES; i++) {
		if (r->v[i] != NULL && strcmp(r->v[i]->name, name) == 0) {
			old = r->v[i];
			r->v[i] = NULL;
		}
	}
	pthread_mutex_unlock(&r->lock);
	if (old != NULL) {
		ds_source_free(old);
		wake(r);
	}
}

/* ---- composition ---- */

/* Lookups during one composition (10,000 peers must compose in
 * milliseconds): public key -> peer, prefix -> the peer holding it, prefix ->
 * origin, prefix -> member of the tunnel set. */
struct ds_index {
	struct keymap keys, held, origins, tunnel;
	size_t cap_peers, cap_origin;
};

static int
index_new(struct desired *d, size_t expect)
{
	struct ds_index *x = calloc(1, sizeof(*x));

	if (x == NULL)
		return -ENOMEM;
	d->idx = x;
	if (keymap_init(&x->keys, expect) < 0 || keymap_init(&x->held, expect) < 0 ||
	    keymap_init(&x->origins, expect) < 0 || keymap_init(&x->tunnel, expect) < 0)
		return -ENOMEM;
	return 0;
}

static void
index_free(struct desired *d)
{
	struct ds_index *x = d->idx;

	if (x == NULL)
		return;
	keymap_free(&x->keys);
	keymap_free(&x->held);
	keymap_free(&x->origins);
	keymap_free(&x->tunnel);
	free(x);
	d->idx = NULL;
}

/* Gives back what *v has allocated beyond n elements: 0, or -1 (kept as is). */
static int
fit(void **v, size_t n, size_t size)
{
	void *nv;

	if (n == 0 || (nv = reallocarray(*v, n, size)) == NULL)
		return -1;
	*v = nv;
	return 0;
}

/* Room for one more element in *v (n used, *cap allocated); 0 or -ENOMEM. */
static int
grow(void **v, size_t n, size_t *cap, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if ((nv = reallocarray(*v, ncap, size)) == NULL)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/*
 * The origins' strings: copies packed into chunks, freed with the desired
 * state.  Origins come in runs (one source, one peer's prefixes), so a
 * string equal to the last one of its kind is shared, not copied again.
 */
#define POOL_CHUNK 16384

struct pool_chunk {
	struct pool_chunk *next;
	size_t used, size;
	char data[];
};

struct ds_strpool {
	struct pool_chunk *head;      /* the newest chunk */
	const char *last[2];          /* 0: sources, 1: peer names */
};

static void
pool_free(struct ds_strpool *sp)
{
	struct pool_chunk *c, *next;

	if (sp == NULL)
		return;
	for (c = sp->head; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	free(sp);
}

/* A pooled copy of s (kind: 0 a source, 1 a peer name), NULL: no memory. */
static const char *
pool_str(struct ds_strpool *sp, const char *s, int kind)
{
	struct pool_chunk *c = sp->head;
	size_t len = strlen(s) + 1;
	char *out;

	if (sp->last[kind] != NULL && strcmp(sp->last[kind], s) == 0)
		return sp->last[kind];
	if (c == NULL || c->size - c->used < len) {
		size_t size = len > POOL_CHUNK ? len : POOL_CHUNK;

		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->next = sp->head;
		c->used = 0;
		c->size = size;
		sp->head = c;
	}
	out = c->data + c->used;
	memcpy(out, s, len);
	c->used += len;
	sp->last[kind] = out;
	return out;
}

static int
origin_cmp(const void *a, const void *b)
{
	return prefix_cmp(&((const struct ds_origin *)a)->dst, &((const struct ds_origin *)b)->dst);
}

static int
origin_add(struct desired *d, const struct prefix *p, const char *source, const char *peer)
{
	struct ds_index *x = d->idx;
	struct ds_origin *o;
	uint8_t k[18];
	int r;

	if ((r = keymap_put(&x->origins, k, keymap_prefix_key(p, k), (uint32_t)d->n_origin,
	    NULL)) != 0)
		return r > 0 ? 0 : r;
	if ((r = grow((void **)&d->origin, d->n_origin, &x->cap_origin, sizeof(*o))) < 0)
		return r;
	o = &d->origin[d->n_origin];
	memset(o, 0, sizeof(*o));
	o->dst = *p;
	if ((o->source = pool_str(d->strs, source, 0)) == NULL ||
	    (peer != NULL && peer[0] != '\0' && (o->peer = pool_str(d->strs, peer, 1)) == NULL))
		return -ENOMEM;
	d->n_origin++;
	return 0;
}

/* Adds p to the tunnel set once. */
static int
tunnel_add(struct desired *d, const struct prefix *p)
{
	uint8_t k[18];
	int r;

	if ((r = keymap_put(&d->idx->tunnel, k, keymap_prefix_key(p, k), 0, NULL)) != 0)
		return r > 0 ? 0 : r;
	return prefix_set_push(&d->tunnel, p);
}

/* "config,client:alice": at most DS_SOURCE_LEN - 1 characters. */
static int
join_source(struct ds_peer *p, const char *src)
{
	size_t n = strlen(p->source), add = strlen(src);
	char *ns;

	if (strstr(p->source, src) != NULL || n + 1 + add >= DS_SOURCE_LEN)
		return 0;
	if ((ns = realloc(p->source, n + 1 + add + 1)) == NULL)
		return -ENOMEM;
	ns[n] = ',';
	memcpy(ns + n + 1, src, add + 1);
	p->source = ns;
	return 0;
}

/* The composed peer with in's key, created from in when new; NULL and *r. */
static struct ds_peer *
peer_for(struct desired *d, const struct ds_peer *in, uint32_t *at, int *r)
{
	struct ds_index *x = d->idx;
	struct ds_peer *p, t;

	if ((*r = keymap_put(&x->keys, in->public_key, 32, (uint32_t)d->n_peers, at)) > 0) {
		if ((*r = join_source(&d->peers[*at], in->source)) < 0)
			return NULL;
		return &d->peers[*at];
	}
	if (*r < 0 || (*r = grow((void **)&d->peers, d->n_peers, &x->cap_peers, sizeof(*p))) < 0)
		return NULL;
	*at = (uint32_t)d->n_peers;
	p = &d->peers[d->n_peers];
	t = *in;
	memset(&t.allowed_ips, 0, sizeof(t.allowed_ips));   /* merge_peer adds them */
	if ((*r = ds_peer_copy(p, &t)) < 0)
		return NULL;
	d->n_peers++;
	return p;
}

static int
merge_peer(struct desired *d, const struct ds_peer *in, struct buf *errs)
{
	char b[PREFIX_STRLEN];
	struct ds_peer *p;
	uint32_t at, h;
	uint8_t k[18];
	size_t i, kl;
	int r;

	if ((p = peer_for(d, in, &at, &r)) == NULL)
		return r;
	for (i = 0; i < in->allowed_ips.n; i++) {
		const struct prefix *a = &in->allowed_ips.v[i];

		kl = keymap_prefix_key(a, k);
		if ((r = keymap_put(&d->idx->held, k, kl, at, &h)) < 0)
			return r;
		if (r > 0 && h != at) {
			buf_printf(errs, "%s: peer %s: allowed IP %s is already routed to peer %s "
			    "(%s); ignored\n", in->source, in->name, prefix_fmt(a, b, sizeof(b)),
			    d->peers[h].name, d->peers[h].source);
			continue;
		}
		if (r == 0 && (r = prefix_set_push(&p->allowed_ips, a)) < 0)
			return r;
		if ((r = origin_add(d, a, in->source, in->name)) < 0)
			return r;
	}
	return 0;
}

static int
config_peers(const struct config *cfg, struct desired *d, struct buf *errs)
{
	char src[] = "config";
	struct ds_peer p;
	size_t i, j;
	int r = 0;

	for (i = 0; i < cfg->tunnel.n_peers && r == 0; i++) {
		const struct cfg_peer *cp = &cfg->tunnel.peers[i];

		/* borrowed strings (merge_peer copies them), own allowed IPs */
		memset(&p, 0, sizeof(p));
		p.source = src;
		p.name = cp->name;
		memcpy(p.public_key, cp->public_key, 32);
		if (cp->has_endpoint)
			p.endpoint = cp->endpoint;
		p.keepalive = cp->keepalive;
		p.has_psk = cp->has_psk;
		p.psk_file = cp->psk_file;
		for (j = 0; j < cp->allowed_ips.n && r == 0; j++)
			r = prefix_set_add(&p.allowed_ips, &cp->allowed_ips.v[j]);
		if (r == 0)
			r = merge_peer(d, &p, errs);
		prefix_set_free(&p.allowed_ips);
	}
	return r;
}

/*
 * The clients source: state_dir/clients.json read by clients_load, the one
 * parser of that file (strict: the file and the bad entry are named).  A
 * file that does not parse changes nothing: the clients of the last good
 * read stay, and the error is reported once (not at every composition).
 * Compositions run on one thread at a time (the daemon's main thread).
 */
static struct {
	char path[PATH_MAX];
	struct client_store cs;
	int have;
	char err[512];
} last_clients;

static int
client_store_current(const struct config *cfg, struct buf *errs)
{
	struct client_store cs;
	struct buf e;
	int r;

	buf_init(&e, 4096);
	r = clients_load(cfg->state_dir, &cs, &e);
	if (r == -ENOMEM) {
		buf_free(&e);
		return r;
	}
	if (r == 0) {
		clients_free(&last_clients.cs);
		last_clients.cs = cs;
		last_clients.have = 1;
		last_clients.err[0] = '\0';
		cr_strlcpy(last_clients.path, cs.path, sizeof(last_clients.path));
	} else if (last_clients.have && strcmp(last_clients.path, cs.path) != 0) {
		clients_free(&last_clients.cs);   /* another state_dir: nothing carries over */
		last_clients.have = 0;
	}
	if (r < 0 && strcmp(last_clients.err, e.data ? e.data : "") != 0) {
		cr_strlcpy(last_clients.err, e.data ? e.data : "", sizeof(last_clients.err));
		buf_printf(errs, "%.*s; %s\n", e.len > 0 ? (int)e.len - 1 : 0, e.data ? e.data : "",
		    last_clients.have ? "keeping the clients read before" : "no clients served");
	}
	buf_free(&e);
	return 0;
}

static int
client_peers(const struct config *cfg, struct desired *d, struct buf *errs)
{
	const struct client *c;
	char label[DS_NAME_LEN];
	struct ds_peer p;
	size_t i;
	int r;

	if ((r = client_store_current(cfg, errs)) < 0 || !last_clients.have)
		return r;
	for (i = 0; i < last_clients.cs.n; i++) {
		c = &last_clients.cs.v[i];
		/* borrowed strings (merge_peer copies them), own allowed IPs */
		memset(&p, 0, sizeof(p));
		memcpy(p.public_key, c->public_key, 32);
		snprintf(label, sizeof(label), "client:%.*s", CLIENTS_NAME_MAX, c->name);
		p.source = p.name = label;
		if ((r = prefix_set_add(&p.allowed_ips, &c->address)) == 0)
			r = merge_peer(d, &p, errs);
		prefix_set_free(&p.allowed_ips);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
registry_sources(struct ds_registry *reg, struct desired *d, struct buf *errs)
{
	const struct ds_source *s;
	size_t i, j;
	int r = 0;

	if (reg == NULL)
		return 0;
	pthread_mutex_lock(&reg->lock);
	for (i = 0; i < MAX_SOURCES && r == 0; i++) {
		if ((s = reg->v[i]) == NULL)
			continue;
		if (s->cloud_leader >= 0)
			d->cloud_leader = s->cloud_leader;
		for (j = 0; j < s->n_peers && r == 0; j++)
			r = merge_peer(d, &s->peers[j], errs);
		for (j = 0; j < s->routes.n && r == 0; j++)
			if ((r = tunnel_add(d, &s->routes.v[j])) == 0)
				r = origin_add(d, &s->routes.v[j], s->name, NULL);
	}
	pthread_mutex_unlock(&reg->lock);
	return r;
}

static int
cloud_prefixes(const struct config *cfg, struct desired *d)
{
	struct prefix_set all = { 0 };
	size_t i, j;
	int r = 0;

	if (!cfg->cloud.routes_auto) {
		for (i = 0; i < cfg->cloud.routes.n && r == 0; i++)
			if ((r = prefix_set_add(&d->cloud, &cfg->cloud.routes.v[i])) == 0)
				r = origin_add(d, &cfg->cloud.routes.v[i], "config", NULL);
		return r;
	}
	for (i = 0; i < cfg->overlay.n && r == 0; i++)
		if ((r = prefix_set_add(&all, &cfg->overlay.v[i])) == 0)
			r = origin_add(d, &cfg->overlay.v[i], "config", "overlay");
	for (i = 0; i < d->tunnel.n && r == 0; i++)      /* d->tunnel has no duplicates */
		if (!prefix_set_has(&cfg->overlay, &d->tunnel.v[i]))
			r = prefix_set_push(&all, &d->tunnel.v[i]);
	for (i = 0; i < all.n && r == 0; i++) {          /* nor has all */
		int skip = all.v[i].len == 0;

		for (j = 0; j < cfg->local_subnets.n && !skip; j++)
			skip = prefix_overlaps(&all.v[i], &cfg->local_subnets.v[j]);
		if (!skip)
			r = prefix_set_push(&d->cloud, &all.v[i]);
	}
	prefix_set_merge(&d->cloud);
	prefix_set_free(&all);
	return r;
}

int
desired_compose(const struct config *cfg, struct ds_registry *reg, struct desired *out,
    struct buf *errs)
{
	size_t i, j;
	int r;

	memset(out, 0, sizeof(*out));
	out->cloud_leader = -1;
	if ((out->strs = calloc(1, sizeof(*out->strs))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = index_new(out, cfg->tunnel.n_peers + 64)) < 0)
		goto out;
	if (cfg->tunnel.mode == TUNNEL_USERSPACE) {
		if ((r = config_peers(cfg, out, errs)) < 0 ||
		    (r = client_peers(cfg, out, errs)) < 0)
			goto out;
	} else {
		for (i = 0; i < cfg->tunnel.routes.n; i++)
			if ((r = tunnel_add(out, &cfg->tunnel.routes.v[i])) < 0 ||
			    (r = origin_add(out, &cfg->tunnel.routes.v[i], "config", NULL)) < 0)
				goto out;
	}
	if ((r = registry_sources(reg, out, errs)) < 0)
		goto out;
	for (i = 0; i < out->n_peers; i++)
		for (j = 0; j < out->peers[i].allowed_ips.n; j++)
			if ((r = tunnel_add(out, &out->peers[i].allowed_ips.v[j])) < 0)
				goto out;
	if ((r = cloud_prefixes(cfg, out)) == 0 && out->n_origin > 1)
		qsort(out->origin, out->n_origin, sizeof(*out->origin), origin_cmp);
	if (r == 0) {          /* kept until the next composition: no slack */
		fit((void **)&out->peers, out->n_peers, sizeof(*out->peers));
		fit((void **)&out->origin, out->n_origin, sizeof(*out->origin));
		if (fit((void **)&out->tunnel.v, out->tunnel.n, sizeof(*out->tunnel.v)) == 0)
			out->tunnel.cap = out->tunnel.n;
		if (fit((void **)&out->cloud.v, out->cloud.n, sizeof(*out->cloud.v)) == 0)
			out->cloud.cap = out->cloud.n;
		for (i = 0; i < out->n_peers; i++) {
			struct prefix_set *ips = &out->peers[i].allowed_ips;

			if (fit((void **)&ips->v, ips->n, sizeof(*ips->v)) == 0)
				ips->cap = ips->n;
		}
	}
out:
	index_free(out);
	if (r < 0)
		desired_free(out);
	return r;
}

void
desired_free(struct desired *d)
{
	size_t i;

	for (i = 0; i < d->n_peers; i++)
		ds_peer_free(&d->peers[i]);
	free(d->peers);
	prefix_set_free(&d->tunnel);
	prefix_set_free(&d->cloud);
	free(d->origin);
	pool_free(d->strs);
	memset(d, 0, sizeof(*d));
	d->cloud_leader = -1;
}

/* Exact match first (origins are sorted by desired_compose); else the first
 * origin inside p (a merged prefix). */
const struct ds_origin *
desired_origin(const struct desired *d, const struct prefix *p)
{
	struct ds_origin key;
	const struct ds_origin *o;
	size_t i;

	key.dst = *p;
	if (d->n_origin > 0 &&
	    (o = bsearch(&key, d->origin, d->n_origin, sizeof(key), origin_cmp)) != NULL)
		return o;
	for (i = 0; i < d->n_origin; i++)
		if (prefix_contains(p, &d->origin[i].dst))
			return &d->origin[i];
	return NULL;
}

const char *
desired_origin_fmt(const struct desired *d, const struct prefix *p, char *buf, size_t len)
{
	const struct ds_origin *o = d != NULL ? desired_origin(d, p) : NULL;

	if (o == NULL)
		buf[0] = '\0';
	else if (o->peer != NULL && strcmp(o->peer, "overlay") == 0)
		snprintf(buf, len, " [from the overlay, %s]", o->source);
	else if (o->peer != NULL)
		snprintf(buf, len, " [from peer %s, %s]", o->peer, o->source);
	else
		snprintf(buf, len, " [from %s]", o->source);
	return buf;
}
