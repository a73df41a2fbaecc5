/*
 * `cloudroute run`: the daemon.
 *
 *   start: load config, take the state lock, create the tunnel device
 *          (userspace mode), reconcile once, sd_notify READY=1.
 *   loop:  reconcile everything every reconcile_interval seconds (sooner,
 *          with backoff from 5 s, after a failed pass); host and tunnel only
 *          1 s after a burst of netlink link/address events (a busy host
 *          with containers coming and going must not cost cloud API calls);
 *          SIGHUP: RELOADING=1, load the new config; a bad one is rejected
 *          and the old one kept; peers are updated in place (sessions of
 *          unchanged peers survive), then reconcile and READY=1;
 *          SIGTERM/SIGINT: STOPPING=1, exit 0, leaving host and cloud
 *          state in place (the tunnel interface goes with the process).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "agent/agent.h"
#include "agent/cloud.h"
#include "agent/tunnel.h"
#include "dataplane/dataplane.h"
#include "netcfg/netcfg.h"

struct daemon {
	struct opts opts;
	struct config cfg;
	struct state st;
	struct dp_device *dev;
	struct cloud_session cs;        /* kept open: credentials and identity cached */
	int tfd, sfd, mfd;
	int dfd;                        /* debounce of netlink events */
	unsigned int failures;
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

static int
tunnel_up(struct daemon *d, const struct config *cfg)
{
	struct dp_config dc;
	struct buf errs;
	int r;

	if (cfg->tunnel.mode != TUNNEL_USERSPACE)
		return 0;
	buf_init(&errs, 16 * 1024);
	if ((r = tunnel_config_build(cfg, &dc, &errs)) < 0) {
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
	if (r < 0)
		log_warnx("tunnel %s: cannot %s the device: %s", cfg->tunnel.interface,
		    d->dev ? "configure" : "create", strerror(-r));
	return r;
}

static void
reconcile_host(struct daemon *d)
{
	struct buf errs;
	size_t changes = 0;

	buf_init(&errs, 64 * 1024);
	if (agent_reconcile(&d->cfg, &d->st, 0, &changes, &errs, &d->cs, 0) < 0)
		log_warnx("host reconcile after a link change failed: %s", errs.data);
	else if (changes)
		log_info("link change: %zu host change%s applied", changes, changes == 1 ? "" : "s");
	buf_free(&errs);
}

static void
reconcile(struct daemon *d)
{
	struct buf errs;
	size_t changes = 0;
	unsigned int next;
	int r;

	buf_init(&errs, 64 * 1024);
	r = agent_reconcile(&d->cfg, &d->st, 0, &changes, &errs, &d->cs, 1);
	if (r < 0) {
		d->failures++;
		next = 5000u << (d->failures > 6 ? 6 : d->failures - 1);
		if (next > d->cfg.reconcile_interval * 1000u)
			next = d->cfg.reconcile_interval * 1000u;
		sd_notifyf(0, "STATUS=degraded: %.200s", errs.data);
		log_warnx("reconcile failed (retry in %u s): %s", next / 1000, errs.data);
	} else {
		if (changes)
			log_info("reconcile: %zu change%s applied", changes, changes == 1 ? "" : "s");
		d->failures = 0;
		next = d->cfg.reconcile_interval * 1000u;
		sd_notifyf(0, "STATUS=reconciled: %zu change%s", changes, changes == 1 ? "" : "s");
	}
	arm(d->tfd, next);
	buf_free(&errs);
}

static void
reload(struct daemon *d)
{
	struct config ncfg;

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
	if (tunnel_up(d, &ncfg) < 0) {
		log_warnx("new tunnel configuration rejected; keeping the running one");
		config_free(&ncfg);
		sd_notify(0, "READY=1");
		return;
	}
	config_free(&d->cfg);
	d->cfg = ncfg;
	cloud_close(&d->cs);            /* the cloud section may have changed */
	reconcile(d);
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

static int
loop(struct daemon *d)
{
	struct pollfd pfd[4];
	uint64_t ticks;

	for (;;) {
		pfd[0] = (struct pollfd){ .fd = d->sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = d->tfd, .events = POLLIN };
		pfd[2] = (struct pollfd){ .fd = d->dfd, .events = POLLIN };
		pfd[3] = (struct pollfd){ .fd = d->mfd, .events = POLLIN };
		if (poll(pfd, d->mfd >= 0 ? 4 : 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_warn("poll");
			return -1;
		}
		if ((pfd[0].revents & POLLIN) && handle_signal(d))
			return 0;
		if (pfd[1].revents & POLLIN) {
			if (read(d->tfd, &ticks, sizeof(ticks)) > 0)
				reconcile(d);
		}
		if (pfd[2].revents & POLLIN) {
			if (read(d->dfd, &ticks, sizeof(ticks)) > 0)
				reconcile_host(d);
		}
		if (d->mfd >= 0 && (pfd[3].revents & POLLIN) && nc_monitor_drain(d->mfd) > 0)
			arm(d->dfd, 1000);   /* debounce bursts of link/address events */
	}
}

int
cmd_run(const struct opts *o)
{
	struct daemon d;
	sigset_t mask;
	int r, lock, fg;

	memset(&d, 0, sizeof(d));
	d.opts = *o;
	d.mfd = d.tfd = d.sfd = d.dfd = -1;
	fg = getenv("JOURNAL_STREAM") == NULL && getenv("NOTIFY_SOCKET") == NULL;
	log_init(fg, o->verbose, "cloudroute");
	if ((r = agent_load_config(o, &d.cfg, 1)) != EXIT_OK)
		return r;
	if ((lock = agent_lock(d.cfg.state_dir)) < 0) {
		config_free(&d.cfg);
		return EXIT_RUNTIME;
	}
	r = EXIT_RUNTIME;
	if (state_load(d.cfg.state_dir, &d.st) < 0)
		goto out;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((d.sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0 ||
	    (d.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0 ||
	    (d.dfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0) {
		log_warn("signalfd/timerfd");
		goto out;
	}
	if ((d.mfd = nc_monitor_open()) < 0)
		log_warnx("netlink monitor unavailable; reconciling on the interval only");
	if (tunnel_up(&d, &d.cfg) < 0)
		goto out;
	reconcile(&d);
	sd_notify(0, "READY=1");
	log_info("running: tunnel %s (%s), reconcile every %u s", d.cfg.tunnel.interface,
	    d.cfg.tunnel.mode == TUNNEL_USERSPACE ? "userspace" : "external",
	    d.cfg.reconcile_interval);
	r = loop(&d) < 0 ? EXIT_RUNTIME : EXIT_OK;
	sd_notify(0, "STOPPING=1");
out:
	cloud_close(&d.cs);
	if (d.dev)
		dp_device_destroy(d.dev);
	if (d.mfd >= 0)
		nc_monitor_close(d.mfd);
	if (d.tfd >= 0)
		close(d.tfd);
	if (d.dfd >= 0)
		close(d.dfd);
	if (d.sfd >= 0)
		close(d.sfd);
	if (d.st.root)
		state_free(&d.st);
	close(lock);
	config_free(&d.cfg);
	return r;
}
