/*
 * Peer groups: the health state machine and the glue that keeps a group's
 * prefixes on its holder (see peergroup.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/peergroup.h"
#include "dataplane/noise.h"

struct pg_group {
	size_t *members;            /* config peer indexes, primary first */
	size_t n;
	size_t holder;              /* index into members */
};

struct pg_key {
	uint8_t key[32];
	uint32_t peer;
};

/* Per config peer: what a group needs and what carries over a reload
 * (120 bytes a peer: a 10,000-peer config without groups costs 1.2 MB). */
struct pg_set {
	struct pg_group *g;
	size_t n_groups;
	struct pg_member *m;        /* per config peer */
	struct pg_member *scratch;  /* one group's members in order, for pg_choose */
	uint64_t *rx;               /* per config peer: last receive counter */
	uint64_t *hs;               /* per config peer: last handshake seen (unix s) */
	uint8_t (*keys)[32];        /* per config peer: carries state over a reload */
	uint32_t *grp;              /* per config peer: 1 + its group's index, 0 none */
	struct pg_key *by_key;      /* every peer's key and index, sorted by key */
	size_t n_peers;
	uint64_t failover_ms, hold_ms;
};

size_t
pg_choose(struct pg_member *m, size_t n, size_t holder, uint64_t now,
    uint64_t failover_ms, uint64_t hold_ms)
{
	size_t i;

	for (i = 0; i < n; i++) {
		int up = now < m[i].last_rx + failover_ms;
		if (up && !m[i].up)
			m[i].since = now;
		m[i].up = up;
	}
	if (holder >= n)
		holder = 0;
	if (m[holder].up) {
		for (i = 0; i < holder; i++)
			if (m[i].up && now - m[i].since >= hold_ms)
				return i;
		return holder;
	}
	for (i = 0; i < n; i++)
		if (m[i].up)
			return i;
	return holder;
}

void
pg_set_free(struct pg_set *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n_groups; i++)
		free(s->g[i].members);
	free(s->g);
	free(s->m);
	free(s->scratch);
	free(s->rx);
	free(s->hs);
	free(s->keys);
	free(s->grp);
	free(s->by_key);
	free(s);
}

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(((const struct pg_key *)a)->key, ((const struct pg_key *)b)->key, 32);
}

/* The config peer index of key in s, or -1. */
static ssize_t
peer_index(const struct pg_set *s, const uint8_t key[32])
{
	const struct pg_key *e;
	struct pg_key k;

	if (s == NULL || s->n_peers == 0)
		return -1;
	memcpy(k.key, key, 32);
	e = bsearch(&k, s->by_key, s->n_peers, sizeof(k), key_cmp);
	return e != NULL ? (ssize_t)e->peer : -1;
}

/* The groups of cfg: each primary with a backup, then its backups in config
 * order; members arrays of the group's size. */
static int
build_groups(const struct config *cfg, struct pg_set *s)
{
	size_t i, n = cfg->tunnel.n_peers, most = 1;
	uint32_t *count = s->grp;           /* members per primary, for now */
	struct pg_group *g;

	for (i = 0; i < n; i++)
		if (cfg->tunnel.peers[i].backup_of != 0)
			count[cfg->tunnel.peers[i].backup_of - 1]++;
	for (i = 0; i < n; i++) {
		if (count[i] == 0 || cfg->tunnel.peers[i].backup_of != 0) {
			count[i] = 0;
			continue;
		}
		g = &s->g[s->n_groups];
		if ((g->members = calloc(count[i] + 1, sizeof(*g->members))) == NULL)
			return -ENOMEM;
		most = count[i] + 1 > most ? count[i] + 1 : most;
		g->members[g->n++] = i;
		count[i] = (uint32_t)++s->n_groups;       /* from here: s->grp */
	}
	for (i = 0; i < n; i++) {
		size_t p = cfg->tunnel.peers[i].backup_of;

		if (p == 0 || s->grp[p - 1] == 0)
			continue;
		g = &s->g[s->grp[p - 1] - 1];
		g->members[g->n++] = i;
		s->grp[i] = s->grp[p - 1];
	}
	return (s->scratch = calloc(most, sizeof(*s->scratch))) != NULL ? 0 : -ENOMEM;
}

/* The holder of old's group that held for the same primary, as an index
 * into g's members (0 when unknown). */
static size_t
old_holder(const struct pg_set *old, const struct pg_group *g, const struct pg_set *s)
{
	size_t i, j;
	ssize_t op = peer_index(old, s->keys[g->members[0]]), oh;

	for (i = 0; op >= 0 && i < old->n_groups; i++) {
		if (old->g[i].members[0] != (size_t)op)
			continue;
		oh = (ssize_t)old->g[i].members[old->g[i].holder];
		for (j = 0; j < g->n; j++)
			if (memcmp(s->keys[g->members[j]], old->keys[oh], 32) == 0)
				return j;
	}
	return 0;
}

int
pg_set_new(const struct config *cfg, const struct pg_set *old, uint64_t now,
    struct pg_set **out)
{
	size_t i, n = cfg->tunnel.n_peers, k = n ? n : 1;
	struct pg_set *s;
	ssize_t o;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->n_peers = n;
	s->failover_ms = (uint64_t)cfg->tunnel.failover_after * 1000;
	s->hold_ms = (uint64_t)cfg->tunnel.hold_down * 1000;
	s->m = calloc(k, sizeof(*s->m));
	s->rx = calloc(k, sizeof(*s->rx));
	s->hs = calloc(k, sizeof(*s->hs));
	s->keys = calloc(k, sizeof(*s->keys));
	s->grp = calloc(k, sizeof(*s->grp));
	s->by_key = calloc(k, sizeof(*s->by_key));
	s->g = calloc(k / 2 + 1, sizeof(*s->g));       /* a group has two members or more */
	if (s->m == NULL || s->rx == NULL || s->hs == NULL || s->keys == NULL ||
	    s->grp == NULL || s->by_key == NULL || s->g == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		memcpy(s->keys[i], cfg->tunnel.peers[i].public_key, 32);
		memcpy(s->by_key[i].key, s->keys[i], 32);
		s->by_key[i].peer = (uint32_t)i;
		s->m[i].last_rx = now;
		if ((o = peer_index(old, s->keys[i])) >= 0) {
			s->m[i] = old->m[o];
			s->rx[i] = old->rx[o];
			s->hs[i] = old->hs[o];
		}
	}
	if (n > 1)
		qsort(s->by_key, n, sizeof(*s->by_key), key_cmp);
	if (build_groups(cfg, s) < 0)
		goto nomem;
	for (i = 0; i < s->n_groups; i++)
		s->g[i].holder = old_holder(old, &s->g[i], s);
	*out = s;
	return 0;
nomem:
	pg_set_free(s);
	return -ENOMEM;
}

size_t
pg_set_groups(const struct pg_set *s)
{
	return s ? s->n_groups : 0;
}

void
pg_set_observe(struct pg_set *s, size_t peer, uint64_t rx_bytes, uint64_t hs_sec,
    uint64_t now)
{
	if (peer >= s->n_peers)
		return;
	if (rx_bytes > s->rx[peer] || hs_sec > s->hs[peer])
		s->m[peer].last_rx = now;
	s->rx[peer] = rx_bytes;
	s->hs[peer] = hs_sec;
}

size_t
pg_set_step(struct pg_set *s, const struct config *cfg, uint64_t now)
{
	struct pg_member *m = s->scratch;
	size_t i, j, h, moves = 0;

	for (i = 0; i < s->n_groups; i++) {
		struct pg_group *g = &s->g[i];
		for (j = 0; j < g->n; j++)
			m[j] = s->m[g->members[j]];
		h = pg_choose(m, g->n, g->holder, now, s->failover_ms, s->hold_ms);
		for (j = 0; j < g->n; j++)
			s->m[g->members[j]] = m[j];
		if (h == g->holder)
			continue;
		if (m[g->holder].up)
			log_info("peer group %s: prefixes back to %s (healthy for %u s); were on %s",
			    cfg->tunnel.peers[g->members[0]].name, cfg->tunnel.peers[g->members[h]].name,
			    cfg->tunnel.hold_down, cfg->tunnel.peers[g->members[g->holder]].name);
		else
			log_info("peer group %s: prefixes move from %s (nothing received for %u s) "
			    "to %s", cfg->tunnel.peers[g->members[0]].name,
			    cfg->tunnel.peers[g->members[g->holder]].name, cfg->tunnel.failover_after,
			    cfg->tunnel.peers[g->members[h]].name);
		g->holder = h;
		moves++;
	}
	return moves;
}

/* The group config peer `peer` belongs to, or NULL. */
static const struct pg_group *
group_of(const struct pg_set *s, size_t peer)
{
	if (s == NULL || peer >= s->n_peers || s->grp[peer] == 0)
		return NULL;
	return &s->g[s->grp[peer] - 1];
}

int
pg_set_probe_due(struct pg_set *s, size_t peer, uint64_t now)
{
	uint64_t every = PG_PROBE_MS(s->failover_ms);
	struct pg_member *m;

	if (peer >= s->n_peers || group_of(s, peer) == NULL)
		return 0;
	m = &s->m[peer];
	if (now < m->last_rx + every || (m->last_probe != 0 && now < m->last_probe + every))
		return 0;
	m->last_probe = now;
	return 1;
}

size_t
pg_set_holder(const struct pg_set *s, size_t peer)
{
	const struct pg_group *g = group_of(s, peer);

	return g ? g->members[g->holder] : peer;
}

int
pg_set_peer_ips(const struct pg_set *s, const struct config *cfg, size_t peer,
    struct prefix_set *out)
{
	const struct pg_group *g = group_of(s, peer);
	const struct prefix_set *own = &cfg->tunnel.peers[peer].allowed_ips;
	size_t i;
	int r = 0;

	/* the primary's own list is the group's: it keeps it only while holding */
	if (g == NULL || g->members[0] != peer || g->members[g->holder] == peer)
		for (i = 0; i < own->n && r == 0; i++)
			r = prefix_set_add(out, &own->v[i]);
	if (g != NULL && g->members[0] != peer && g->members[g->holder] == peer) {
		own = &cfg->tunnel.peers[g->members[0]].allowed_ips;
		for (i = 0; i < own->n && r == 0; i++)
			r = prefix_set_add(out, &own->v[i]);
	}
	return r;
}

/* The status entry that has prefix p, or NULL. */
static const struct dp_peer_status *
owner(const struct dp_peer_status *st, size_t n, const struct prefix *p)
{
	size_t i, j;

	for (i = 0; i < n; i++)
		for (j = 0; j < st[i].n_allowed_ips; j++)
			if (prefix_equal(&st[i].allowed_ips[j], p))
				return &st[i];
	return NULL;
}

ssize_t
pg_live_holder(const struct config *cfg, size_t primary, const struct dp_peer_status *st,
    size_t n)
{
	const struct dp_peer_status *o;
	const struct cfg_peer *p;
	size_t i;

	if (primary >= cfg->tunnel.n_peers || cfg->tunnel.peers[primary].backup_of != 0 ||
	    cfg->tunnel.peers[primary].allowed_ips.n == 0)
		return -1;
	if ((o = owner(st, n, &cfg->tunnel.peers[primary].allowed_ips.v[0])) == NULL ||
	    (p = config_peer_by_key(cfg, o->public_key)) == NULL)
		return -1;
	i = (size_t)(p - cfg->tunnel.peers);
	return i == primary || p->backup_of == primary + 1 ? (ssize_t)i : -1;
}

static struct ds_peer *
composed(struct desired *d, const uint8_t key[32])
{
	size_t i;

	for (i = 0; i < d->n_peers; i++)
		if (memcmp(d->peers[i].public_key, key, 32) == 0)
			return &d->peers[i];
	return NULL;
}

int
pg_desired(const struct pg_set *s, const struct config *cfg, struct desired *d)
{
	struct prefix_set keep;
	struct ds_peer *from, *to;
	size_t i, j;
	int r = 0;

	for (i = 0; s != NULL && i < s->n_groups && r == 0; i++) {
		const struct pg_group *g = &s->g[i];
		const struct prefix_set *ips = &cfg->tunnel.peers[g->members[0]].allowed_ips;

		if (g->holder == 0)
			continue;
		from = composed(d, cfg->tunnel.peers[g->members[0]].public_key);
		to = composed(d, cfg->tunnel.peers[g->members[g->holder]].public_key);
		if (from == NULL || to == NULL)
			continue;
		memset(&keep, 0, sizeof(keep));
		for (j = 0; j < from->allowed_ips.n && r == 0; j++)
			if (!prefix_set_has(ips, &from->allowed_ips.v[j]))
				r = prefix_set_add(&keep, &from->allowed_ips.v[j]);
		for (j = 0; j < ips->n && r == 0; j++)
			if (prefix_set_has(&from->allowed_ips, &ips->v[j]))
				r = prefix_set_add(&to->allowed_ips, &ips->v[j]);
		if (r < 0) {
			prefix_set_free(&keep);
			break;
		}
		prefix_set_free(&from->allowed_ips);
		from->allowed_ips = keep;
	}
	return r;
}

int
pg_tick(struct pg_set *s, const struct config *cfg, struct dp_device *dev, uint64_t now)
{
	struct dp_peer_status *st = NULL;
	size_t n = 0, i;
	ssize_t at;
	int r;

	if (s == NULL || s->n_groups == 0 || dev == NULL)
		return 0;
	if ((r = dp_device_status(dev, &st, &n)) < 0)
		return r;
	for (i = 0; i < n; i++) {
		if ((at = peer_index(s, st[i].public_key)) < 0)
			continue;
		pg_set_observe(s, (size_t)at, st[i].rx_bytes, st[i].last_handshake_sec, now);
		if (pg_set_probe_due(s, (size_t)at, now))
			dp_device_probe(dev, st[i].public_key);
	}
	dp_peer_status_free(st, n);
	return (int)pg_set_step(s, cfg, now);
}
