/*
 * `cloudroute run`: the daemon.
 *
 * Processes, threads and who owns what:
 *
 *   main thread   the event loop (poll over signalfd, timerfds, the netlink
 *                 monitor, the source registry's eventfd and the cloud
 *                 process's fd).  Owns the config, the composed desired
 *                 state, the tunnel device (dp_device_*) and the host (sysctl,
 *                 nftables, routes).  Never waits on the network: everything
 *                 it does is local (netlink, nftables, the TUN device); the
 *                 one exception is resolving endpoint names (getaddrinfo),
 *                 done when a peer is new, failed last time, or every 5 min.
 *   cloud process a child (`cloudroute __cloud-process`, agent/cloudproc.h)
 *                 that holds no capability, may write no file (Landlock),
 *                 filters its system calls and runs the cloud passes
 *                 (agent/cloud.c cloud_pass) from a self-contained cloud_job,
 *                 with its own provider session, under a deadline: every
 *                 HTTP answer, JSON and XML document of a cloud API is parsed
 *                 there, never in this process.  Over a socketpair the main
 *                 thread hands it a job with the state's "cloud" object, saves
 *                 each checkpoint it sends before it goes on, and takes its
 *                 result (changes, conflicts, routes owned, API call counts);
 *                 every message is checked.  A child that dies, hangs past
 *                 its deadline or says something malformed is killed, the
 *                 pass fails with the reason, the next pass starts a new one.
 *                 `plan`, `apply` and `teardown` run providers in-process.
 *   data plane    the device's own threads (dataplane/device.c).
 *   producers     sources such as the fleet publish snapshots through the
 *                 ds_registry (agent/desired.h) and wake the loop.
 *
 * Locks: `stlock` guards the state (struct state, its JSON and the file):
 * the main thread holds it for a whole host pass, while it records the
 * last result and while it saves a checkpoint of the cloud process.  It is
 * never held across a network call or a wait on the cloud process.
 *
 * Timing:
 *   start    config, lock, state, tunnel device, first host pass, READY=1,
 *            then the first cloud pass in the cloud process (READY does not wait
 *            for the cloud: a slow API delays nothing else);
 *   interval every reconcile_interval s: host pass + cloud pass (after a
 *            failed cloud pass sooner, with backoff from 5 s);
 *   netlink  link/address events: a host pass 1 s after the burst;
 *   sources  a published change: recompose, tunnel + host at once, and a
 *            cloud pass (queued if one is running);
 *   clients  state_dir/clients.json replaced (`client add/remove`, inotify):
 *            recompose, tunnel + host at once;
 *   groups   with peer groups, every PG_TICK_MS: receive counters -> health
 *            -> holders (agent/peergroup.h); on a move, recompose and
 *            configure the tunnel (no host or cloud pass: routes point at
 *            the tunnel, not at a peer);
 *   SIGHUP   reload; a bad config is rejected and the old one kept;
 *   SIGTERM  cancel the cloud pass in flight (SIGTERM to the cloud process:
 *            every HTTP transfer and retry sleep ends within ~100 ms, its
 *            last checkpoint is saved; killed after 1.5 s), exit 0 leaving
 *            host and cloud state in place.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/clients.h"
#include "agent/cloud.h"
#include "agent/cloudproc.h"
#include "agent/desired.h"
#include "agent/feeds.h"
#include "agent/fleet_agent.h"
#include "agent/metrics.h"
#include "common/metrics.h"
#include "agent/peergroup.h"
#include "agent/tunnel.h"
#include "dataplane/dataplane.h"
#include "netcfg/netcfg.h"
#include "providers/http.h"

#define ERRS_MAX (64 * 1024)

struct daemon {
	struct opts opts;
	struct config cfg;
	struct state st;
	pthread_mutex_t stlock;
	struct ds_registry *reg;
	struct fleet_agent *fleet;      /* its own thread, publishing into reg */
	struct desired want;
	struct tunnel_endpoints *eps;
	struct dp_device *dev;
	struct cloudproc *cp;           /* the cloud process: its supervisor */
	int cloud_reopen;               /* its provider session must be reopened */
	int tfd, sfd, mfd, dfd;
	int nfd;                        /* nftables monitor: other tools' rewrites */
	char metrics_listen[64];        /* the endpoint running, "" none */
	struct pg_set *pg;              /* peer groups: health and holders */
	int gfd;                        /* their PG_TICK_MS timer */
	int cfd;                        /* inotify: state_dir/clients.json changed */
	int cloud_pending;              /* a pass is wanted while one runs */
	unsigned int failures;
	char host_errs[4096];
	char cloud_errs[4096];
	int host_ok, cloud_ok;
	struct drift host_drift, cloud_drift;   /* agent/feeds.h */
};

static void
arm(int tfd, unsigned int ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	its.it_value.tv_sec = ms / 1000;
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (ms == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(tfd, 0, &its, NULL);
}

/* ---- the cloud process (agent/cloudproc.h) ---- */

/* A pass may take its interval, within [30 s, 300 s]: long enough for
 * retries under throttling, short enough to be noticed. */
static uint64_t
pass_ms(const struct config *cfg)
{
	unsigned int s = cfg->reconcile_interval;

	return (uint64_t)(s < 30 ? 30 : s > 300 ? 300 : s) * 1000;
}

static void cloud_finished(struct daemon *d, const struct cloudproc_done *done);

/* Hands the cloud process a pass over the current config and desired
 * state; when one is running, remembers to start another when it ends. */
static void
cloud_request(struct daemon *d, int reopen)
{
	struct cloudproc_done done;
	struct cloud_job job;
	struct buf errs;
	int r;

	d->cloud_reopen |= reopen;
	if (cloudproc_busy(d->cp)) {
		d->cloud_pending = 1;
		return;
	}
	d->cloud_pending = 0;
	if (cloud_job_make(&d->cfg, &d->want, &job) < 0) {
		log_warnx("cloud pass: out of memory");
		return;
	}
	if (d->fleet != NULL && job.leader < 0)
		job.leader = 0;         /* no word from the fleet yet: not elected */
	buf_init(&errs, sizeof(done.errs));
	if ((r = cloudproc_submit(d->cp, &job, d->cloud_reopen, &errs)) == 0) {
		d->cloud_reopen = 0;
	} else {                        /* a pass that could not start failed */
		memset(&done, 0, sizeof(done));
		done.r = r;
		done.res.owned = -1;
		cr_strlcpy(done.errs, errs.data ? errs.data : "", sizeof(done.errs));
		cloud_finished(d, &done);
	}
	buf_free(&errs);
	cloud_job_free(&job);
}

/* ---- the main thread's passes ---- */

static void
record_last(struct daemon *d)
{
	char all[sizeof(d->host_errs) + sizeof(d->cloud_errs)];

	snprintf(all, sizeof(all), "%s%s", d->host_errs, d->cloud_errs);
	pthread_mutex_lock(&d->stlock);
	state_set_last(&d->st, d->host_ok && d->cloud_ok, all);
	state_save(&d->st);
	pthread_mutex_unlock(&d->stlock);
}

/* "last_cloud": when the last cloud pass ended and how (status, tests). */
static void
record_cloud(struct daemon *d, int ok, size_t changes)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "time", json_object_new_int64((int64_t)time(NULL)));
	json_object_object_add(o, "ok", json_object_new_boolean(ok));
	json_object_object_add(o, "changes", json_object_new_int64((int64_t)changes));
	pthread_mutex_lock(&d->stlock);
	json_object_object_add(d->st.root, "last_cloud", o);
	pthread_mutex_unlock(&d->stlock);
}

static int
tunnel_configure(struct daemon *d, const struct config *cfg, const struct desired *want)
{
	struct dp_config dc;
	struct buf errs;
	int r;

	if (cfg->tunnel.mode != TUNNEL_USERSPACE)
		return 0;
	buf_init(&errs, 16 * 1024);
	if ((r = tunnel_config_build(cfg, want, d->eps, &dc, &errs)) < 0) {
		log_warnx("tunnel %s: %s", cfg->tunnel.interface, errs.data);
		buf_free(&errs);
		return r;
	}
	buf_free(&errs);
	if (d->dev == NULL)
		r = dp_device_create(cfg->tunnel.interface, &dc, &d->dev);
	else
		r = dp_device_configure(d->dev, &dc);
	tunnel_config_free(&dc);
	metrics_tunnel_device(d->dev);
	if (r < 0)
		log_warnx("tunnel %s: cannot %s the device: %s", cfg->tunnel.interface,
		    d->dev ? "configure" : "create", strerror(-r));
	return r;
}

/* Recomposes the desired state from the config and every source. */
static int
recompose(struct daemon *d)
{
	struct desired n;

	if (agent_desired(&d->cfg, d->reg, &n) < 0)
		return -1;
	if (pg_desired(d->pg, &d->cfg, &n) < 0) {
		desired_free(&n);
		return -1;
	}
	desired_free(&d->want);
	d->want = n;
	feed_fleet(&d->cfg, &d->want);
	return 0;
}

/* The peer groups of cfg (health carried over from d->pg).  0 or -1. */
static int
groups_new(struct daemon *d, const struct config *cfg, struct pg_set **out)
{
	if (pg_set_new(cfg, d->pg, now_ms(), out) < 0) {
		log_warnx("peer groups: out of memory");
		return -1;
	}
	return 0;
}

/* The tick runs while d->pg has groups.  0 or -1. */
static int
groups_arm(struct daemon *d)
{
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (pg_set_groups(d->pg) > 0) {
		its.it_value.tv_sec = its.it_interval.tv_sec = PG_TICK_MS / 1000;
		its.it_value.tv_nsec = its.it_interval.tv_nsec = (PG_TICK_MS % 1000) * 1000000L;
	}
	return timerfd_settime(d->gfd, 0, &its, NULL);
}

/*
 * Health, not just liveness, for the fleet: the tunnel is up, the last host
 * pass worked and the cloud passes do (three failures in a row: one
 * throttled pass must not move leadership).  A LAN next hop is probed by
 * the fleet itself (fleet.health_ping).
 */
static void
report_health(struct daemon *d)
{
	int tunnel = d->cfg.tunnel.mode != TUNNEL_USERSPACE || d->dev != NULL;

	fleet_agent_health(d->fleet, tunnel && d->host_ok && d->failures < 3);
}

/* cloudroute_reconcile_* and cloudroute_changes_applied_total of one pass. */
static void
count_pass(const char *scope, int ok, size_t changes, double secs)
{
	mt_add("cloudroute_reconcile_passes_total", 1, scope, NULL);
	if (!ok)
		mt_add("cloudroute_reconcile_failures_total", 1, scope, NULL);
	else
		mt_set("cloudroute_reconcile_last_success_timestamp_seconds",
		    (double)time(NULL), scope, NULL);
	mt_observe("cloudroute_reconcile_duration_seconds", secs, scope, NULL);
	/* Host and tunnel changes are counted one by one where applied. */
	if (changes > 0 && strcmp(scope, "cloud") == 0)
		mt_add("cloudroute_changes_applied_total", (double)changes, scope, NULL);
}

static void
host_pass(struct daemon *d, const char *why)
{
	struct buf errs;
	size_t changes = 0, conflicts = SIZE_MAX;
	uint64_t t0;
	int r;

	buf_init(&errs, ERRS_MAX);
	t0 = now_ms();
	pthread_mutex_lock(&d->stlock);
	r = agent_reconcile(&d->cfg, &d->want, &d->st, 0, &changes, &errs, NULL, 0, &conflicts);
	pthread_mutex_unlock(&d->stlock);
	count_pass("host", r == 0, changes, (double)(now_ms() - t0) / 1000.0);
	feed_host_pass(&d->host_drift, &d->want, r == 0, changes, conflicts);
	d->host_ok = r == 0;
	report_health(d);
	cr_strlcpy(d->host_errs, errs.data ? errs.data : "", sizeof(d->host_errs));
	if (r < 0)
		log_warnx("%s: host reconcile failed: %s", why, errs.data);
	else if (changes)
		log_info("%s: %zu host change%s applied", why, changes, changes == 1 ? "" : "s");
	buf_free(&errs);
	malloc_trim(0);    /* a pass's nftables cache (~2 MB) back to the system */
}

/* Tunnel (composed peers) and host, from the current desired state. */
static void
local_pass(struct daemon *d, const char *why)
{
	tunnel_configure(d, &d->cfg, &d->want);
	host_pass(d, why);
}

static void
cloud_finished(struct daemon *d, const struct cloudproc_done *done)
{
	size_t changes = done->res.changes;
	unsigned int next;
	int r = done->r;

	count_pass("cloud", r >= 0, changes, done->secs);
	feed_cloud_pass(&d->cloud_drift, &done->res, r >= 0);
	cr_strlcpy(d->cloud_errs, done->errs, sizeof(d->cloud_errs));
	d->cloud_ok = r >= 0;
	if (r < 0) {
		d->failures++;
		next = 5000u << (d->failures > 6 ? 6 : d->failures - 1);
		if (next > d->cfg.reconcile_interval * 1000u)
			next = d->cfg.reconcile_interval * 1000u;
		sd_notifyf(0, "STATUS=degraded: %.200s", d->cloud_errs);
		log_warnx("cloud reconcile failed (retry in %u s): %s", next / 1000, d->cloud_errs);
		arm(d->tfd, next);
	} else {
		if (changes)
			log_info("cloud reconcile: %zu change%s applied", changes,
			    changes == 1 ? "" : "s");
		d->failures = 0;
		sd_notifyf(0, "STATUS=reconciled: %zu cloud change%s", changes,
		    changes == 1 ? "" : "s");
	}
	record_cloud(d, r >= 0, changes);
	record_last(d);
	report_health(d);
}

/* The cloud process has something: a checkpoint to save, a result, its end. */
static void
cloud_event(struct daemon *d)
{
	struct cloudproc_done done;

	if (cloudproc_handle(d->cp, &done) == 1) {
		cloud_finished(d, &done);
		if (d->cloud_pending)
			cloud_request(d, 0);
	}
}

/* Starts, moves or stops the metrics endpoint to match the config. */
static int
metrics_apply(struct daemon *d)
{
	struct buf err;
	int r = 0;

	mt_set("cloudroute_build_info", 1, CLOUDROUTE_VERSION, NULL);
	if (strcmp(d->metrics_listen, d->cfg.metrics_listen) == 0)
		return 0;
	if (d->metrics_listen[0])
		metrics_stop();
	d->metrics_listen[0] = '\0';
	if (d->cfg.metrics_listen[0] == '\0')
		return 0;
	buf_init(&err, 1024);
	if ((r = metrics_start(d->cfg.metrics_listen, metrics_collect_tunnel,
	    d->cfg.tunnel.interface, &err)) < 0)
		log_warnx("metrics endpoint %s: %s", d->cfg.metrics_listen, err.data);
	else
		cr_strlcpy(d->metrics_listen, d->cfg.metrics_listen, sizeof(d->metrics_listen));
	buf_free(&err);
	return r;
}

static void
interval_pass(struct daemon *d)
{
	arm(d->tfd, d->cfg.reconcile_interval * 1000u);
	recompose(d);                   /* clients.json may have changed */
	local_pass(d, "reconcile");
	cloud_request(d, 0);
}

static void
reload(struct daemon *d)
{
	struct config ncfg, old;
	struct desired nwant;
	struct pg_set *npg = NULL;

	memset(&nwant, 0, sizeof(nwant));
	sd_notify(0, "RELOADING=1");
	log_info("reloading %s", d->opts.config);
	if (agent_load_config(&d->opts, &ncfg, 1) != EXIT_OK) {
		log_warnx("new configuration rejected; keeping the running one");
		sd_notify(0, "READY=1\nSTATUS=new configuration rejected; running the old one");
		return;
	}
	if (ncfg.tunnel.mode != d->cfg.tunnel.mode ||
	    strcmp(ncfg.tunnel.interface, d->cfg.tunnel.interface) != 0 ||
	    strcmp(ncfg.state_dir, d->cfg.state_dir) != 0) {
		log_warnx("tunnel mode, interface and state_dir cannot change on reload; "
		    "restart cloudroute for that. Keeping the running configuration");
		config_free(&ncfg);
		sd_notify(0, "READY=1");
		return;
	}
	if (groups_new(d, &ncfg, &npg) < 0 || agent_desired(&ncfg, d->reg, &nwant) < 0 ||
	    pg_desired(npg, &ncfg, &nwant) < 0 || tunnel_configure(d, &ncfg, &nwant) < 0) {
		log_warnx("new tunnel configuration rejected; keeping the running one");
		desired_free(&nwant);
		config_free(&ncfg);
		pg_set_free(npg);
		sd_notify(0, "READY=1");
		return;
	}
	old = d->cfg;
	d->cfg = ncfg;
	feed_drift_reset(&d->host_drift);       /* the host may be asked for more */
	config_free(&old);
	pg_set_free(d->pg);
	d->pg = npg;
	groups_arm(d);
	desired_free(&d->want);
	d->want = nwant;
	feed_fleet(&d->cfg, &d->want);
	if (fleet_agent_reload(&d->fleet, &d->cfg, d->reg) < 0)
		log_warnx("fleet: could not restart with the new configuration");
	metrics_apply(d);               /* logged; the old endpoint is gone then */
	host_pass(d, "reload");
	cloud_request(d, 1);            /* the cloud section may have changed */
	arm(d->tfd, d->cfg.reconcile_interval * 1000u);
	malloc_trim(0);                 /* a big config replaced: give the pages back */
	sd_notify(0, "READY=1");
}

static int
handle_signal(struct daemon *d)
{
	struct signalfd_siginfo si;

	if (read(d->sfd, &si, sizeof(si)) != sizeof(si))
		return 0;
	if (si.ssi_signo == SIGHUP) {
		reload(d);
		return 0;
	}
	log_info("signal %u: exiting; host and cloud state stay in place", si.ssi_signo);
	return 1;
}

enum { FD_SIG, FD_TIMER, FD_DEBOUNCE, FD_WORKER, FD_SOURCES, FD_GROUPS, FD_CLIENTS, FD_NFT,
	FD_MONITOR, FD_N };

static int
loop(struct daemon *d)
{
	struct pollfd pfd[FD_N];
	uint64_t ticks;
	int i, n;

	for (;;) {
		pfd[FD_SIG] = (struct pollfd){ .fd = d->sfd, .events = POLLIN };
		pfd[FD_TIMER] = (struct pollfd){ .fd = d->tfd, .events = POLLIN };
		pfd[FD_DEBOUNCE] = (struct pollfd){ .fd = d->dfd, .events = POLLIN };
		pfd[FD_WORKER] = (struct pollfd){ .fd = cloudproc_fd(d->cp), .events = POLLIN };
		pfd[FD_SOURCES] = (struct pollfd){ .fd = ds_registry_fd(d->reg), .events = POLLIN };
		pfd[FD_GROUPS] = (struct pollfd){ .fd = d->gfd, .events = POLLIN };
		pfd[FD_CLIENTS] = (struct pollfd){ .fd = d->cfd, .events = POLLIN };
		pfd[FD_NFT] = (struct pollfd){ .fd = d->nfd, .events = POLLIN };
		pfd[FD_MONITOR] = (struct pollfd){ .fd = d->mfd, .events = POLLIN };
		n = d->mfd >= 0 ? FD_N : FD_N - 1;
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			return -1;
		}
		for (i = 0; i < n; i++)
			if (pfd[i].revents & (POLLERR | POLLNVAL))
				log_warnx("event source %d failed", i);
		if ((pfd[FD_SIG].revents & POLLIN) && handle_signal(d))
			return 0;
		if ((pfd[FD_WORKER].revents & POLLIN))
			cloud_event(d);
		if ((pfd[FD_SOURCES].revents & POLLIN)) {
			ds_registry_ack(d->reg);
			if (recompose(d) == 0) {
				/* The cloud first: a new fleet leader's routes must
				 * not wait for the host pass. */
				cloud_request(d, 0);
				local_pass(d, "sources changed");
			}
		}
		if ((pfd[FD_TIMER].revents & POLLIN) && read(d->tfd, &ticks, sizeof(ticks)) > 0)
			interval_pass(d);
		if ((pfd[FD_DEBOUNCE].revents & POLLIN) && read(d->dfd, &ticks, sizeof(ticks)) > 0)
			host_pass(d, "link change");
		if ((pfd[FD_GROUPS].revents & POLLIN) && read(d->gfd, &ticks, sizeof(ticks)) > 0 &&
		    pg_tick(d->pg, &d->cfg, d->dev, now_ms()) > 0 && recompose(d) == 0)
			tunnel_configure(d, &d->cfg, &d->want);   /* a group's prefixes moved */
		if ((pfd[FD_CLIENTS].revents & POLLIN) && clients_watch_changed(d->cfd) &&
		    recompose(d) == 0)
			local_pass(d, "clients.json changed");   /* `client add/remove` */
		/* Docker or a firewall manager rewrote its rules: ours in its
		 * chains may be gone (host pass after the burst). */
		if ((pfd[FD_NFT].revents & POLLIN) && nc_nft_monitor_drain(d->nfd) > 0)
			arm(d->dfd, 1000);
		if (n == FD_N && (pfd[FD_MONITOR].revents & POLLIN) && nc_monitor_drain(d->mfd) > 0)
			arm(d->dfd, 1000);   /* debounce bursts of link/address events */
	}
}

static int
setup_fds(struct daemon *d)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* Blocked before any thread starts, so every thread inherits it and
	 * only the signalfd sees these signals. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d->sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0 ||
	    (d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0 ||
	    (d->dfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0 ||
	    (d->gfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0) {
		log_warn("signalfd/timerfd");
		return -1;
	}
	if ((d->cfd = clients_watch_open(d->cfg.state_dir)) < 0)
		log_warnx("cannot watch %s/clients.json (%s); clients are read every "
		    "reconcile_interval", d->cfg.state_dir, strerror(-d->cfd));
	if ((d->mfd = nc_monitor_open()) < 0)
		log_warnx("netlink monitor unavailable; reconciling on the interval only");
	if ((d->nfd = nc_nft_monitor_open()) < 0)
		log_warnx("nftables monitor unavailable; other firewalls' rewrites are "
		    "repaired on the interval only");
	if (ds_registry_new(&d->reg) < 0 || (d->eps = tunnel_endpoints_new()) == NULL) {
		log_warnx("out of memory");
		return -1;
	}
	return 0;
}

static void
teardown_daemon(struct daemon *d)
{
	fleet_agent_stop(d->fleet, 1);  /* leave first: a standby takes over now */
	cloudproc_free(d->cp);          /* cancels the pass in flight */
	metrics_tunnel_device(NULL);
	if (d->dev)
		dp_device_destroy(d->dev);
	if (d->mfd >= 0)
		nc_monitor_close(d->mfd);
	if (d->nfd >= 0)
		close(d->nfd);
	metrics_stop();
	if (d->tfd >= 0)
		close(d->tfd);
	if (d->dfd >= 0)
		close(d->dfd);
	if (d->gfd >= 0)
		close(d->gfd);
	if (d->cfd >= 0)
		close(d->cfd);
	pg_set_free(d->pg);
	if (d->sfd >= 0)
		close(d->sfd);
	desired_free(&d->want);
	ds_registry_free(d->reg);
	tunnel_endpoints_free(d->eps);
	if (d->st.root)
		state_free(&d->st);
	pthread_mutex_destroy(&d->stlock);
}

int
cmd_run(const struct opts *o)
{
	struct daemon d;
	int r, lock, fg;

	/* two malloc arenas, not one per thread: no thread allocates per packet */
	mallopt(M_ARENA_MAX, 2);
	memset(&d, 0, sizeof(d));
	d.opts = *o;
	d.mfd = d.tfd = d.sfd = d.dfd = d.gfd = d.cfd = d.nfd = -1;
	d.host_ok = d.cloud_ok = 1;
	pthread_mutex_init(&d.stlock, NULL);
	fg = getenv("JOURNAL_STREAM") == NULL && getenv("NOTIFY_SOCKET") == NULL;
	log_init(fg, o->verbose, "cloudroute");
	if (agent_privileged() < 0) {
		pthread_mutex_destroy(&d.stlock);
		return EXIT_RUNTIME;
	}
	if ((r = agent_load_config(o, &d.cfg, 1)) != EXIT_OK) {
		pthread_mutex_destroy(&d.stlock);
		return r;
	}
	if ((lock = agent_lock(d.cfg.state_dir)) < 0) {
		pthread_mutex_destroy(&d.stlock);
		config_free(&d.cfg);
		return EXIT_RUNTIME;
	}
	r = EXIT_RUNTIME;
	if (state_load(d.cfg.state_dir, &d.st) < 0 || setup_fds(&d) < 0 ||
	    groups_new(&d, &d.cfg, &d.pg) < 0 || groups_arm(&d) < 0 ||
	    recompose(&d) < 0 || tunnel_configure(&d, &d.cfg, &d.want) < 0 ||
	    cloudproc_new(&d.st, &d.stlock, pass_ms(&d.cfg), fg, o->verbose, &d.cp) < 0 ||
	    fleet_agent_start(&d.cfg, d.reg, &d.fleet) < 0 ||
	    metrics_apply(&d) < 0)
		goto out;
	/* last_cloud describes this run's passes only. */
	json_object_object_del(d.st.root, "last_cloud");
	host_pass(&d, "start");
	record_last(&d);
	sd_notify(0, "READY=1");
	log_info("running: tunnel %s (%s), reconcile every %u s", d.cfg.tunnel.interface,
	    d.cfg.tunnel.mode == TUNNEL_USERSPACE ? "userspace" : "external",
	    d.cfg.reconcile_interval);
	cloud_request(&d, 0);
	arm(d.tfd, d.cfg.reconcile_interval * 1000u);
	r = loop(&d) < 0 ? EXIT_RUNTIME : EXIT_OK;
	sd_notify(0, "STOPPING=1");
out:
	teardown_daemon(&d);
	close(lock);
	config_free(&d.cfg);
	return r;
}
