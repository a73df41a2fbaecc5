/*
 * The fleet thread: this connector's life in etcd (DESIGN.md "Fleet").
 *
 *   start     read <prefix> whole (the view and its revision R), open one
 *             watch of <prefix> from R+1 (no event missed between the two)
 *   register  grant a lease (lease_ttl), put sites/<site>/<name> with it
 *   keepalive one request every TTL/3
 *   campaign  leaders/<site> by a create-if-absent txn with our lease, at
 *             once whenever the key is seen gone
 *   watch     per-key updates of the view; after each message the peers are
 *             recomputed and, if they or our leadership changed, published
 *   resync    on compaction, a broken stream, etcd unreachable, and every
 *             5 min: re-read and re-watch; the last published peers stay
 *             meanwhile (never a teardown because etcd is away)
 *   leave     fleet_stop(leave=1) (SIGTERM) revokes the lease: our record
 *             and leader key go at once, a standby takes over
 *
 * Threads: one thread of its own runs everything above; it owns the etcd
 * client, the view and the election state.  The only shared data are the
 * status snapshot and the health flag (under f->lock) and the stop flag;
 * results leave through the publish callback, called on the fleet thread
 * without any lock held (the callee hands them to the main loop).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include "agent/fleet.h"
#include "agent/fleet_clients.h"
#include "agent/fleet_health.h"
#include "agent/fleet_run.h"
#include "providers/etcd/etcd.h"
#include "providers/provider.h"

/* The watch is complete by construction; a full re-read this often still
 * repairs whatever a bug or a lost event could have left behind. */
#define FLEET_FULL_READ_MS (300 * 1000)

struct fleet {
	struct fleet_opts o;
	struct cfg_fleet cfg;
	struct etcd_client *c;
	struct fleet_view view;
	struct fleet_clients clients;      /* <prefix>clients/ (fleet_clients.c) */
	struct fleet_elect el;
	struct etcd_watch *w;
	int synced;                        /* view read and watch open */
	int64_t watch_rev;
	uint64_t published_changes;
	uint64_t published_digest;
	int published_leader;
	int dirty;
	uint64_t resync_at;
	uint64_t full_read_at;             /* next periodic re-read (repairs anything missed) */
	unsigned int resync_failures;
	char record[1024];                 /* our record's JSON ("" until the endpoint is known) */
	struct prefix_set subnets;         /* ours (o.self.subnets points here) */
	char site_key[512], leader_key[512];
	pthread_t th;
	pthread_mutex_t lock;              /* guards st, healthy, stop, leave */
	struct fleet_status st;
	struct fleet_status told;          /* last given to on_status (fleet thread) */
	uint64_t told_at;
	uint64_t last_ok_ms;               /* etcd last answered (monotonic) */
	struct fleet_health probe;         /* fleet.health_ping */
	int healthy;                       /* the agent's own checks (fleet_set_health) */
	volatile int stop;
	int leave;
};

static int
stopping(const struct fleet *f)
{
	return __atomic_load_n(&f->stop, __ATOMIC_ACQUIRE);
}

static void
set_error(struct fleet *f, int r, const char *what)
{
	pthread_mutex_lock(&f->lock);
	snprintf(f->st.last_error, sizeof(f->st.last_error), "%s: %s%s%s", what, strerror(-r),
	    *prov_last_error() ? ": " : "", prov_last_error());
	f->st.errors++;
	pthread_mutex_unlock(&f->lock);
}

static int
status_differs(const struct fleet_status *a, const struct fleet_status *b)
{
	return a->role != b->role || a->lease != b->lease || a->may_write != b->may_write ||
	    a->synced != b->synced || a->members != b->members || a->errors != b->errors ||
	    strcmp(a->endpoint, b->endpoint) != 0 || strcmp(a->site_leader, b->site_leader) != 0;
}

static void
status_update(struct fleet *f, uint64_t now)
{
	const struct fleet_leader *l;
	struct fleet_status copy;
	size_t i, n = 0;
	int tell;

	for (i = 0; i < f->view.n; i++)
		n += f->view.e[i].valid;
	l = fleet_view_leader(&f->view, f->cfg.site);
	pthread_mutex_lock(&f->lock);
	f->st.role = f->el.role;
	f->st.lease = f->el.lease;
	f->st.may_write = fleet_elect_may_write(&f->el, now);
	f->st.members = n;
	f->st.sites_with_leader = f->view.nl;
	f->st.synced = f->synced && now <= f->last_ok_ms + f->el.ttl_ms + 1000;
	f->st.revision = f->view.revision;
	cr_strlcpy(f->st.endpoint, etcd_endpoint(f->c), sizeof(f->st.endpoint));
	cr_strlcpy(f->st.site_leader, l != NULL ? l->name : "", sizeof(f->st.site_leader));
	copy = f->st;
	pthread_mutex_unlock(&f->lock);
	tell = status_differs(&copy, &f->told) || now >= f->told_at + 5000;
	if (tell && f->o.on_status != NULL) {
		f->told = copy;
		f->told_at = now;
		f->o.on_status(f->o.arg, &copy);
	}
}

static void
log_rejected(void *arg, const struct fleet_view_entry *e)
{
	struct fleet *f = arg;

	log_warnx("fleet: ignoring %ssites/%s/%s: %s", f->cfg.prefix, e->rec.site, e->rec.name,
	    e->why ? e->why : "rejected");
}

/* After a batch of changes: validation, the election's view of our key. */
static void
view_settled(struct fleet *f)
{
	const struct fleet_leader *l;

	fleet_view_validate(&f->view, log_rejected, f);
	l = fleet_view_leader(&f->view, f->cfg.site);
	fleet_elect_holder(&f->el, l != NULL ? l->name : NULL, l != NULL ? l->lease : 0);
	f->dirty = 1;
}

static void
apply_kv(struct fleet *f, const struct etcd_kv *kv)
{
	if (fleet_view_put(&f->view, f->cfg.prefix, kv->key, kv->key_len, kv->value,
	    kv->value_len, kv->create_revision, kv->mod_revision, kv->lease) == -EINVAL)
		log_warnx("fleet: ignoring %s: the leader is not a connector name", kv->key);
	fleet_clients_put(&f->clients, f->cfg.prefix, kv);
}

static int
on_watch(void *arg, const struct etcd_watch_msg *m)
{
	struct fleet *f = arg;
	size_t i;

	for (i = 0; i < m->n_events; i++) {
		const struct etcd_event *ev = &m->events[i];

		if (ev->type == ETCD_EVENT_DELETE) {
			fleet_view_delete(&f->view, f->cfg.prefix, ev->kv.key, ev->kv.key_len);
			fleet_clients_delete(&f->clients, f->cfg.prefix, ev->kv.key, ev->kv.key_len);
			/* Our record gone while we hold a lease: the lease expired. */
			if (f->el.lease != 0 && strcmp(ev->kv.key, f->site_key) == 0 && !stopping(f)) {
				log_warnx("fleet: our record was deleted (lease expired?): registering again");
				fleet_elect_lease_lost(&f->el);
			}
		} else {
			apply_kv(f, &ev->kv);
		}
		if (ev->kv.mod_revision > f->watch_rev)
			f->watch_rev = ev->kv.mod_revision;
	}
	if (m->revision > f->watch_rev)
		f->watch_rev = m->revision;
	if (m->n_events > 0) {
		view_settled(f);
		pthread_mutex_lock(&f->lock);
		f->st.last_event_wall_ms = wall_ms();
		f->st.events += m->n_events;
		pthread_mutex_unlock(&f->lock);
	}
	return 0;
}

/* Re-reads everything under the prefix and watches from there. */
static int
resync(struct fleet *f)
{
	const char *p = f->cfg.prefix;
	struct etcd_watch_req rq = { .key = p, .key_len = strlen(p) };
	struct etcd_kvs kvs;
	char *end;
	size_t i;
	int r;

	etcd_watch_close(f->w);
	f->w = NULL;
	f->synced = 0;
	if ((end = etcd_prefix_end(p, strlen(p), &rq.end_len)) == NULL)
		return -ENOMEM;
	rq.range_end = end;
	if ((r = etcd_range(f->c, p, strlen(p), end, rq.end_len, &kvs)) < 0) {
		set_error(f, r, "fleet: reading the fleet");
		goto out;
	}
	fleet_view_mark(&f->view);
	fleet_clients_mark(&f->clients);
	for (i = 0; i < kvs.n; i++)
		apply_kv(f, &kvs.kvs[i]);
	fleet_view_sweep(&f->view);
	fleet_clients_sweep(&f->clients);
	f->view.revision = kvs.revision;
	f->watch_rev = kvs.revision;
	rq.start_revision = kvs.revision + 1;
	etcd_kvs_free(&kvs);
	view_settled(f);
	if ((r = etcd_watch_open(f->c, &rq, on_watch, f, &f->stop, &f->w)) < 0) {
		set_error(f, r, "fleet: watching the fleet");
		goto out;
	}
	f->synced = 1;
	f->last_ok_ms = now_ms();
	f->full_read_at = f->last_ok_ms + FLEET_FULL_READ_MS;
	log_debug("fleet: %zu keys read at revision %" PRId64 ", watching", f->view.n,
	    f->view.revision);
out:
	free(end);
	return r;
}

static int build_record(struct fleet *f);

static int
do_register(struct fleet *f, uint64_t now)
{
	int64_t id, ttl;
	int r;

	if (f->o.self.endpoint[0] == '\0') {
		if (f->o.resolve_endpoint == NULL ||
		    (r = f->o.resolve_endpoint(f->o.arg, f->o.self.endpoint,
		    sizeof(f->o.self.endpoint))) < 0) {
			f->o.self.endpoint[0] = '\0';
			set_error(f, -ENOENT, "fleet: no endpoint to advertise");
			return -ENOENT;
		}
		if ((r = build_record(f)) < 0)
			return r;
		log_info("fleet: advertising %s", f->o.self.endpoint);
	}

	if ((r = etcd_lease_grant(f->c, f->cfg.lease_ttl, &id, &ttl)) < 0) {
		set_error(f, r, "fleet: lease grant");
		return r;
	}
	if ((r = etcd_put(f->c, f->site_key, strlen(f->site_key), f->record,
	    strlen(f->record), id, NULL)) < 0) {
		set_error(f, r, "fleet: registering");
		etcd_lease_revoke(f->c, id);
		return r;
	}
	fleet_elect_lease(&f->el, id, ttl, now);
	log_info("fleet: registered %s under lease %" PRIx64 " (TTL %" PRId64 " s)",
	    f->site_key, (uint64_t)id, ttl);
	return 0;
}

static int
do_keepalive(struct fleet *f, uint64_t now)
{
	int64_t ttl;
	int r;

	fleet_elect_ka_sent(&f->el, now);
	r = etcd_lease_keepalive(f->c, f->el.lease, &ttl);
	if (r == 0) {
		fleet_elect_ack(&f->el, now);
	} else if (r == -ENOENT) {
		log_warnx("fleet: lease %" PRIx64 " is gone: registering again",
		    (uint64_t)f->el.lease);
		fleet_elect_lease_lost(&f->el);
		r = 0;
	} else {
		set_error(f, r, "fleet: keep-alive");
	}
	return r;
}

static int
do_campaign(struct fleet *f, uint64_t now)
{
	struct etcd_kv h;
	int won, r;

	r = etcd_create_if_absent(f->c, f->leader_key, strlen(f->leader_key), f->cfg.name,
	    strlen(f->cfg.name), f->el.lease, &won, &h);
	if (r < 0) {
		set_error(f, r, "fleet: campaign");
		return r;
	}
	fleet_elect_campaign_done(&f->el, won, h.value, h.lease, now);
	if (f->el.role == FLEET_LEADER)
		log_info("fleet: leading site %s", f->cfg.site);
	etcd_kv_free(&h);
	f->dirty = 1;
	return 0;
}

static int
do_action(struct fleet *f, enum fleet_action a, uint64_t now)
{
	int done, r = 0;

	switch (a) {
	case FLEET_ACT_NONE:
		return 0;
	case FLEET_ACT_REGISTER:
		r = do_register(f, now);
		break;
	case FLEET_ACT_KEEPALIVE:
		r = do_keepalive(f, now);
		break;
	case FLEET_ACT_CAMPAIGN:
		r = do_campaign(f, now);
		break;
	case FLEET_ACT_CLEAR_STALE:
		r = etcd_delete_if(f->c, f->leader_key, strlen(f->leader_key), f->cfg.name,
		    strlen(f->cfg.name), &done);
		if (r == 0)
			fleet_elect_holder(&f->el, NULL, 0);  /* the watch confirms */
		break;
	case FLEET_ACT_REVOKE:
		log_warnx("fleet: health checks fail%s: giving the lease up",
		    fleet_health_ok(&f->probe) ? "" : " (health_ping unanswered)");
		r = etcd_lease_revoke(f->c, f->el.lease);
		if (r == 0 || r == -ENOENT) {
			fleet_elect_lease_lost(&f->el);
			r = 0;
		}
		break;
	}
	if (r < 0) {
		fleet_elect_failed(&f->el, now);
	} else {
		fleet_elect_succeeded(&f->el);
		if (a == FLEET_ACT_KEEPALIVE || a == FLEET_ACT_REGISTER)
			f->last_ok_ms = now_ms();
	}
	return r;
}

/* FNV-1a over what a snapshot says: an unchanged result is not published. */
static uint64_t
digest(const struct fleet_peers *p)
{
	uint64_t h = 1469598103934665603ULL;
	size_t i, j, k;

	for (i = 0; i < p->n; i++) {
		const struct fleet_peer *x = &p->v[i];
		const void *parts[] = { x->site, x->name, x->endpoint ? x->endpoint : "" };

		for (k = 0; k < ARRAY_SIZE(parts); k++)
			for (const char *c = parts[k]; *c; c++)
				h = (h ^ (uint8_t)*c) * 1099511628211ULL;
		for (k = 0; k < 32; k++)
			h = (h ^ x->public_key[k]) * 1099511628211ULL;
		for (j = 0; j < x->allowed_ips.n; j++)
			for (k = 0; k < sizeof(x->allowed_ips.v[j]); k++)
				h = (h ^ ((const uint8_t *)&x->allowed_ips.v[j])[k]) * 1099511628211ULL;
		h = (h ^ (uint64_t)x->leader ^ 0xff) * 1099511628211ULL;
	}
	return h;
}

static void
maybe_publish(struct fleet *f, uint64_t now)
{
	struct fleet_snapshot *s;
	int leader = fleet_elect_may_write(&f->el, now);
	uint64_t h;

	if (!f->dirty && leader == f->published_leader && f->view.changes == f->published_changes)
		return;
	if ((s = calloc(1, sizeof(*s))) == NULL || fleet_view_peers(&f->view, &s->peers) < 0) {
		free(s);
		return;                       /* tried again on the next round */
	}
	if (fleet_clients_route(&f->clients, &f->view, &s->peers, f->cfg.prefix) < 0) {
		fleet_snapshot_free(s);
		return;
	}
	s->leader = leader;
	s->revision = f->view.revision;
	f->dirty = 0;
	f->published_changes = f->view.changes;
	h = digest(&s->peers);
	if (leader == f->published_leader && h == f->published_digest) {
		fleet_snapshot_free(s);       /* the same peers: nothing to hand over */
		return;
	}
	f->published_leader = leader;
	f->published_digest = h;
	if (f->o.publish != NULL)
		f->o.publish(f->o.arg, s);
	else
		fleet_snapshot_free(s);
}

static void
pause_ms(struct fleet *f, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	struct timespec ts = { 0, 20 * 1000000L };

	while (!stopping(f) && now_ms() < end)
		nanosleep(&ts, NULL);
}

static void
round_once(struct fleet *f)
{
	uint64_t now = now_ms(), wait;
	int healthy, r;

	pthread_mutex_lock(&f->lock);
	healthy = f->healthy;
	pthread_mutex_unlock(&f->lock);
	fleet_health_tick(&f->probe, now);
	fleet_elect_health(&f->el, healthy && fleet_health_ok(&f->probe));
	if (!f->synced && now >= f->resync_at) {
		if (resync(f) < 0) {
			f->resync_failures++;
			f->resync_at = now + (f->resync_failures < 4 ? 250u << f->resync_failures : 2000);
		} else {
			f->resync_failures = 0;
		}
	}
	while (!stopping(f) && do_action(f, fleet_elect_next(&f->el, now_ms()), now_ms()) == 0 &&
	    fleet_elect_next(&f->el, now_ms()) != FLEET_ACT_NONE)
		;
	now = now_ms();
	/* etcd silent for 3 TTLs while the stream looks open (a stopped or
	 * partitioned server): drop the watch, so that reconnecting re-reads
	 * everything instead of trusting a stream that may have lost events. */
	if (f->synced && f->el.lease != 0 && now > f->last_ok_ms + 3 * f->el.ttl_ms) {
		log_warnx("fleet: etcd has not answered for %" PRIu64 " ms: reconnecting",
		    now - f->last_ok_ms);
		etcd_watch_close(f->w);
		f->w = NULL;
		f->synced = 0;
	}
	if (f->synced && now >= f->full_read_at) {
		log_debug("fleet: periodic re-read");
		etcd_watch_close(f->w);
		f->w = NULL;
		f->synced = 0;                 /* resync on the next round */
	}
	if (f->synced)
		fleet_clients_sync(&f->clients, f->c, f->cfg.prefix, f->cfg.site, f->cfg.name, now);
	maybe_publish(f, now);
	status_update(f, now);
	wait = fleet_elect_wait_ms(&f->el, now);
	if (wait > 100)
		wait = 100;
	if (f->w == NULL) {
		pause_ms(f, wait ? wait : 1);
		return;
	}
	if ((r = etcd_watch_poll(f->w, (int)(wait ? wait : 1))) != 0) {
		if (r != -ECANCELED) {
			set_error(f, r, "fleet: watch");
			log_warnx("fleet: watch ended (%s): reading again", strerror(-r));
		}
		etcd_watch_close(f->w);
		f->w = NULL;
		f->synced = 0;
	}
}

static void *
fleet_main(void *arg)
{
	struct fleet *f = arg;
	int leave;

	while (!stopping(f))
		round_once(f);
	etcd_watch_close(f->w);
	f->w = NULL;
	pthread_mutex_lock(&f->lock);
	leave = f->leave;
	pthread_mutex_unlock(&f->lock);
	if (leave && f->el.lease != 0) {
		/* SIGTERM: our keys go now, a standby campaigns at once. */
		int r = etcd_lease_revoke(f->c, f->el.lease);

		if (r < 0 && r != -ENOENT)
			log_warnx("fleet: revoking the lease: %s", prov_last_error());
		else
			log_info("fleet: left (lease revoked)");
	}
	return NULL;
}

void
fleet_snapshot_free(struct fleet_snapshot *s)
{
	if (s == NULL)
		return;
	fleet_peers_free(&s->peers);
	free(s);
}

int
fleet_self_from_config(const struct config *cfg, const uint8_t public_key[32],
    const char *public_ip, struct fleet_self *out)
{
	char b[PREFIX_STRLEN];
	int n;

	memset(out, 0, sizeof(*out));
	memcpy(out->public_key, public_key, 32);
	if (cfg->tunnel.address.n == 0)
		return -EINVAL;
	out->address = cfg->tunnel.address.v[0];
	out->address.len = out->address.family == AF_INET ? 32 : 128;
	out->subnets = &cfg->local_subnets;
	if (cfg->fleet.endpoint[0] != '\0') {
		cr_strlcpy(out->endpoint, cfg->fleet.endpoint, sizeof(out->endpoint));
		return 0;
	}
	if (public_ip == NULL || *public_ip == '\0')
		return -EINVAL;
	n = snprintf(out->endpoint, sizeof(out->endpoint), strchr(public_ip, ':') ?
	    "[%s]:%u" : "%s:%u", public_ip, cfg->tunnel.listen_port);
	(void)b;
	return n > 0 && (size_t)n < sizeof(out->endpoint) ? 0 : -EINVAL;
}

/* A client key readable by others is refused, as the tunnel key is. */
static int
check_key_file(const char *path)
{
	struct stat st;

	if (*path == '\0')
		return 0;
	if (stat(path, &st) < 0) {
		log_warn("fleet: %s", path);
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		log_warnx("fleet: %s: the etcd client key must be a file readable by its owner "
		    "only (chmod 600)", path);
		return -EPERM;
	}
	return 0;
}

static int
build_record(struct fleet *f)
{
	struct fleet_record r;
	struct buf b;
	size_t i;
	int rc;

	memset(&r, 0, sizeof(r));
	memcpy(r.public_key, f->o.self.public_key, 32);
	r.address = f->o.self.address;
	rc = (r.endpoint = strdup(f->o.self.endpoint)) == NULL ? -ENOMEM : 0;
	for (i = 0; rc == 0 && f->o.self.subnets != NULL && i < f->o.self.subnets->n; i++)
		rc = prefix_set_add(&r.subnets, &f->o.self.subnets->v[i]);
	if (rc < 0) {
		fleet_record_free(&r);
		return rc;
	}
	buf_init(&b, sizeof(f->record) - 1);
	rc = r.endpoint[0] != '\0' ? fleet_record_encode(&r, &b) : 0;   /* else later */
	if (rc == 0 && b.data != NULL)
		cr_strlcpy(f->record, b.data, sizeof(f->record));
	buf_free(&b);
	fleet_record_free(&r);
	if (rc == 0)
		rc = fleet_key_site(f->cfg.prefix, f->cfg.site, f->cfg.name, f->site_key,
		    sizeof(f->site_key));
	if (rc == 0)
		rc = fleet_key_leader(f->cfg.prefix, f->cfg.site, f->leader_key,
		    sizeof(f->leader_key));
	return rc;
}

static int
open_client(struct fleet *f)
{
	const char *eps[CFG_FLEET_MAX_ETCD];
	struct etcd_config ec = { .endpoints = eps, .n_endpoints = f->cfg.n_etcd };
	size_t i;
	int r;

	for (i = 0; i < f->cfg.n_etcd; i++)
		eps[i] = f->cfg.etcd[i];
	ec.ca_file = f->cfg.ca_file;
	ec.cert_file = f->cfg.cert_file;
	ec.key_file = f->cfg.key_file;
	/* Short: a keep-alive is due every TTL/3, a stuck call must not hide two. */
	ec.timeout_ms = f->cfg.lease_ttl * 500L > 1000 ? f->cfg.lease_ttl * 500L : 1000;
	ec.connect_timeout_ms = 500;
	if ((r = check_key_file(f->cfg.key_file)) < 0)
		return r;
	if ((r = etcd_open(&ec, &f->c)) < 0)
		log_warnx("fleet: %s", prov_last_error());
	return r;
}

int
fleet_start(const struct fleet_opts *o, struct fleet **out)
{
	struct fleet *f;
	int r;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -ENOMEM;
	f->o = *o;
	f->cfg = o->cfg->fleet;
	f->healthy = 1;
	f->published_leader = -1;
	pthread_mutex_init(&f->lock, NULL);
	fleet_view_init(&f->view, f->cfg.site, f->cfg.name, &o->cfg->local_subnets);
	fleet_clients_init(&f->clients, o->cfg->state_dir);
	fleet_elect_init(&f->el, f->cfg.name, f->cfg.lease_ttl);
	for (size_t i = 0; o->self.subnets != NULL && i < o->self.subnets->n; i++)
		if (prefix_set_add(&f->subnets, &o->self.subnets->v[i]) < 0) {
			r = -ENOMEM;
			goto fail;
		}
	f->o.self.subnets = &f->subnets;
	f->probe.fd = -1;
	if (f->cfg.has_health_ping && (r = fleet_health_open(&f->probe, &f->cfg.health_ping)) < 0)
		log_warnx("fleet: health_ping: no ICMP socket (%s); probing nothing",
		    strerror(-r));
	if ((r = build_record(f)) < 0 || (r = open_client(f)) < 0)
		goto fail;
	f->o.cfg = NULL;                  /* not kept: the caller's */
	if ((r = -pthread_create(&f->th, NULL, fleet_main, f)) < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	fleet_health_close(&f->probe);
	etcd_close(f->c);
	fleet_view_free(&f->view);
	fleet_clients_free(&f->clients);
	prefix_set_free(&f->subnets);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return r;
}

void
fleet_stop(struct fleet *f, int leave)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->lock);
	f->leave = leave;
	pthread_mutex_unlock(&f->lock);
	__atomic_store_n(&f->stop, 1, __ATOMIC_RELEASE);
	etcd_watch_cancel(f->c);
	pthread_join(f->th, NULL);
	fleet_health_close(&f->probe);
	etcd_close(f->c);
	fleet_view_free(&f->view);
	fleet_clients_free(&f->clients);
	prefix_set_free(&f->subnets);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void
fleet_set_health(struct fleet *f, int ok)
{
	pthread_mutex_lock(&f->lock);
	f->healthy = ok != 0;
	pthread_mutex_unlock(&f->lock);
}

void
fleet_get_status(struct fleet *f, struct fleet_status *out)
{
	pthread_mutex_lock(&f->lock);
	*out = f->st;
	pthread_mutex_unlock(&f->lock);
}
