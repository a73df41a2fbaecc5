/*
 * The daemon's metric feeds (see feeds.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "agent/feeds.h"
#include "common/metrics.h"

void
feed_drift_reset(struct drift *d)
{
	d->fp[0] = '\0';
}

/* Counts changes as repairs when fp is the last good pass's; remembers fp
 * when the pass succeeded. */
static void
drift_pass(struct drift *d, const char *section, const char *fp, int ok, size_t changes)
{
	if (changes > 0 && fp[0] && strcmp(d->fp, fp) == 0)
		mt_add("cloudroute_drift_repairs_total", (double)changes, section, NULL);
	if (ok)
		cr_strlcpy(d->fp, fp, sizeof(d->fp));
	else
		d->fp[0] = '\0';        /* the next pass may finish this one's work */
}

static int
put_set(struct buf *b, const char *tag, const struct prefix_set *s)
{
	char p[PREFIX_STRLEN];
	size_t i;
	int r = buf_printf(b, "%s:", tag);

	for (i = 0; i < s->n && r == 0; i++)
		r = buf_printf(b, "%s,", prefix_fmt(&s->v[i], p, sizeof(p)));
	return r;
}

/* sha256 of what a host pass is asked to make: peers, routes, cloud
 * prefixes.  "" when it cannot be computed. */
static void
desired_fp(const struct desired *w, char fp[65])
{
	struct buf b;
	size_t i, k;
	int r;

	fp[0] = '\0';
	buf_init(&b, 16u << 20);
	r = put_set(&b, "tunnel", &w->tunnel);
	if (r == 0)
		r = put_set(&b, "cloud", &w->cloud);
	for (i = 0; i < w->n_peers && r == 0; i++) {
		r = buf_puts(&b, "peer:");
		for (k = 0; k < sizeof(w->peers[i].public_key) && r == 0; k++)
			r = buf_printf(&b, "%02x", w->peers[i].public_key[k]);
		if (r == 0)
			r = buf_printf(&b, "@%s/%u/", w->peers[i].endpoint ? w->peers[i].endpoint : "",
			    w->peers[i].keepalive);
		if (r == 0)
			r = put_set(&b, "ips", &w->peers[i].allowed_ips);
	}
	if (r == 0)
		cr_sha256_hex(b.data ? b.data : "", b.len, fp);
	buf_free(&b);
}

void
feed_host_pass(struct drift *d, const struct desired *want, int ok, size_t changes,
    size_t conflicts)
{
	char fp[65];

	desired_fp(want, fp);
	drift_pass(d, "host", fp, ok, changes);
	/* a prefix a foreign route holds is not ours: left alone, not owned */
	if (ok && conflicts <= want->tunnel.n)
		mt_set("cloudroute_routes_owned", (double)(want->tunnel.n - conflicts), "host",
		    NULL);
	if (conflicts != SIZE_MAX)
		mt_set("cloudroute_route_conflicts", (double)conflicts, "host", NULL);
}

void
feed_cloud_pass(struct drift *d, const struct cloud_result *res, int ok)
{
	if (res == NULL) {
		feed_drift_reset(d);
		return;
	}
	drift_pass(d, "cloud", res->fp, ok, res->changes);
	if (ok) {
		mt_set("cloudroute_route_conflicts", (double)res->conflicts, "cloud", NULL);
		if (res->owned >= 0)
			mt_set("cloudroute_routes_owned", (double)res->owned, "cloud", NULL);
	}
}

void
feed_fleet(const struct config *cfg, const struct desired *want)
{
	char other[DS_SOURCE_LEN];
	size_t i, n = 0;

	if (!cfg->fleet.enabled)
		return;
	/* One site per connector: a site it left (a reload) is forgotten. */
	mt_reset("cloudroute_fleet_leader");
	mt_set("cloudroute_fleet_leader", want->cloud_leader == 1, cfg->fleet.site, NULL);
	snprintf(other, sizeof(other), "fleet:%s/", cfg->fleet.site);
	for (i = 0; i < want->n_peers; i++)
		if (strncmp(want->peers[i].source, "fleet:", 6) == 0 &&
		    strncmp(want->peers[i].source, other, strlen(other)) != 0)
			n++;
	mt_set("cloudroute_fleet_peers", (double)n, NULL);
}
