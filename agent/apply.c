/*
 * Executing the host and tunnel actions of a plan.  The original value of a
 * sysctl is written to the state file before the sysctl is changed, so a
 * crash between the two still lets teardown restore it.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/firewall.h"
#include "common/metrics.h"
#include "agent/host.h"
#include "netcfg/netcfg.h"

static void
err_line(struct buf *errs, const char *what, const char *why)
{
	buf_printf(errs, "%s: %s\n", what, why);     /* reported once, by the caller */
}

static int
do_sysctl(struct state *st, const struct action *a, struct buf *errs)
{
	struct json_object *sys = state_obj(st, "sysctl", 1), *o;
	char cur[64];
	int r;

	if (!json_object_object_get_ex(sys, a->key, &o)) {
		if ((r = nc_sysctl_read(a->key, cur, sizeof(cur))) < 0) {
			err_line(errs, a->text, strerror(-r));
			return r;
		}
		o = json_object_new_object();
		state_set_str(o, "original", cur);
		json_object_object_add(sys, a->key, o);
	}
	state_set_str(o, "set", a->val);
	if ((r = state_save(st)) < 0) {
		err_line(errs, a->text, "cannot record the original value; not changing it");
		return r;
	}
	if ((r = nc_sysctl_write(a->key, a->val)) < 0)
		err_line(errs, a->text, strerror(-r));
	return r;
}

static int
do_sysctl_restore(struct state *st, const struct action *a, struct buf *errs)
{
	struct json_object *sys = state_obj(st, "sysctl", 0);
	int r = nc_sysctl_write(a->key, a->val);

	if (r < 0 && r != -ENOENT) {
		err_line(errs, a->text, strerror(-r));
		return r;
	}
	if (sys)
		json_object_object_del(sys, a->key);
	return state_save(st);
}

static int
do_sysctl_file(struct state *st, const struct action *a, struct buf *errs)
{
	char dir[PATH_MAX];
	int r;

	cr_strlcpy(dir, a->key, sizeof(dir));
	state_set_str(st->root, "sysctl_file", a->key);
	if ((r = state_save(st)) < 0)
		return r;
	if ((r = mkdir_p(dirname(dir), 0755)) < 0 ||
	    (r = file_write_atomic(a->key, a->blob, strlen(a->blob), 0644)) < 0)
		err_line(errs, a->text, strerror(-r));
	return r;
}

static int
do_nft(struct state *st, const struct action *a, struct buf *errs)
{
	struct json_object *nft;
	struct buf live;
	char h[65];
	int r;

	if ((r = nc_nft_replace(a->blob)) < 0) {
		err_line(errs, a->text, nc_last_error());
		return r;
	}
	nft = state_obj(st, "nft", 1);
	cr_sha256_hex(a->blob, strlen(a->blob), h);
	state_set_str(nft, "rendered", h);
	buf_init(&live, 4 * 1024 * 1024);
	if (nc_nft_list(&live) == 0) {
		cr_sha256_hex(live.data, live.len, h);
		state_set_str(nft, "listed", h);
	}
	buf_free(&live);
	return state_save(st);
}

static int
do_action(const struct config *cfg, struct state *st, const struct action *a,
    struct buf *errs)
{
	int r = 0;

	switch (a->kind) {
	case ACT_NOTE:
	case ACT_CONFLICT:
		return 0;
	case ACT_SYSCTL:
		return do_sysctl(st, a, errs);
	case ACT_SYSCTL_RESTORE:
		return do_sysctl_restore(st, a, errs);
	case ACT_SYSCTL_FORGET: {
		struct json_object *sys = state_obj(st, "sysctl", 0);

		if (sys)
			json_object_object_del(sys, a->key);
		return 0;
	}
	case ACT_SYSCTL_FILE:
		return do_sysctl_file(st, a, errs);
	case ACT_SYSCTL_FILE_REMOVE:
		if (unlink(a->key) < 0 && errno != ENOENT) {
			r = -errno;
			err_line(errs, a->text, strerror(errno));
			return r;
		}
		json_object_object_del(st->root, "sysctl_file");
		return state_save(st);
	case ACT_NFT_REPLACE:
		return do_nft(st, a, errs);
	case ACT_FW:
		return fw_apply(a, errs);
	case ACT_NFT_DELETE:
		if ((r = nc_nft_delete()) < 0)
			err_line(errs, a->text, nc_last_error());
		json_object_object_del(st->root, "nft");
		return r < 0 ? r : state_save(st);
	case ACT_ROUTE_ADD:
		if ((r = nc_route_add(&a->dst, a->ifname, a->metric)) < 0)
			err_line(errs, a->text, nc_last_error());
		return r;
	case ACT_ROUTE_DEL:
		r = nc_route_del(&a->dst, a->ifname, a->metric);
		if (r < 0 && r != -ENOENT && r != -ESRCH)
			err_line(errs, a->text, nc_last_error());
		return r == -ENOENT || r == -ESRCH ? 0 : r;
	case ACT_ADDR_ADD:
		if ((r = nc_addr_add(a->ifname, &a->dst)) < 0 && r != -EEXIST)
			err_line(errs, a->text, nc_last_error());
		return r == -EEXIST ? 0 : r;
	case ACT_LINK: {
		unsigned long mtu = 0;
		cr_parse_ulong(a->val, 0, 65535, &mtu);
		if ((r = nc_link_set(a->ifname, 1, (unsigned int)mtu)) < 0)
			err_line(errs, a->text, nc_last_error());
		return r;
	}
	}
	(void)cfg;
	return 0;
}

int
host_apply(const struct config *cfg, struct state *st, const struct plan *p,
    struct buf *errs)
{
	static const enum plan_section order[] = { SEC_TUNNEL, SEC_HOST };
	static const char *const names[] = { "host", "tunnel", "cloud" };
	const struct action *a;
	size_t i, k;
	int failed = 0;

	/* Tunnel link and addresses first: routes and rp_filter need the link. */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < p->n; i++) {
			a = &p->v[i];
			if (a->sec != order[k])
				continue;
			if (do_action(cfg, st, a, errs) < 0)
				failed = 1;
			else if (a->kind != ACT_NOTE && a->kind != ACT_CONFLICT)
				mt_add("cloudroute_changes_applied_total", 1, names[a->sec], NULL);
		}
	}
	return failed ? -1 : 0;
}
