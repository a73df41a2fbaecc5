/*
 * Agent glue to the cloud providers (see cloud.h).
 */
#include <errno.h>
#include <string.h>

#include "agent/cloud.h"
#include "agent/tunnel.h"

void
cloud_desired(const struct config *cfg, struct prefix_set *out)
{
	struct prefix_set all = { 0 };
	size_t i, j;

	if (!cfg->cloud.routes_auto) {
		for (i = 0; i < cfg->cloud.routes.n; i++)
			prefix_set_add(out, &cfg->cloud.routes.v[i]);
		return;
	}
	for (i = 0; i < cfg->overlay.n; i++)
		prefix_set_add(&all, &cfg->overlay.v[i]);
	config_tunnel_prefixes(cfg, &all);
	for (i = 0; i < all.n; i++) {
		int skip = all.v[i].len == 0;
		for (j = 0; j < cfg->local_subnets.n && !skip; j++)
			skip = prefix_overlaps(&all.v[i], &cfg->local_subnets.v[j]);
		if (!skip)
			prefix_set_add(out, &all.v[i]);
	}
	prefix_set_merge(out);
	prefix_set_free(&all);
}

static void
fill_opts(const struct config *cfg, struct cloud_session *cs)
{
	memset(&cs->opts, 0, sizeof(cs->opts));
	cs->opts.disable_source_dest_check = cfg->cloud.disable_source_dest_check;
	cs->opts.tables = cfg->cloud.route_tables_network ? PROV_TABLES_NETWORK :
	    cfg->cloud.route_tables != NULL ? PROV_TABLES_LIST : PROV_TABLES_AUTO;
	cs->opts.route_tables = (const char *const *)cfg->cloud.route_tables;
	cs->opts.n_route_tables = cfg->cloud.n_route_tables;
	prefix_set_free(&cs->desired);
	cloud_desired(cfg, &cs->desired);
	cs->opts.desired = &cs->desired;
	cs->opts.ha_group = cfg->cloud.ha_group;
	cs->opts.takeover = cfg->cloud.takeover == TAKEOVER_NEVER ? PROV_TAKEOVER_NEVER :
	    cfg->cloud.takeover == TAKEOVER_GROUP ? PROV_TAKEOVER_GROUP : PROV_TAKEOVER_BLACKHOLE;
}

static int
cloud_open(const char *provider, struct cloud_session *cs, struct plan *p, struct buf *errs)
{
	int r;

	if (cs->active)
		return 0;
	if ((r = prov_select(provider, &cs->ops)) < 0) {
		if (r == -ENOENT && strcmp(provider, "auto") == 0) {
			plan_add(p, SEC_CLOUD, ACT_NOTE, '.', "no cloud detected (provider \"auto\"); "
			    "cloud routes are not managed");
			return 1;
		}
		buf_printf(errs, "cloud provider %s: %s\n", provider, prov_last_error());
		return r;
	}
	if ((r = cs->ops->open(&cs->ctx, &cs->id)) < 0) {
		buf_printf(errs, "cloud %s: %s\n", cs->ops->name, prov_last_error());
		return r;
	}
	cs->active = 1;
	return 0;
}

int
cloud_plan(const struct config *cfg, struct state *st, struct plan *p,
    struct cloud_session *cs, struct buf *errs)
{
	struct json_object *cst;
	int r;

	if (strcmp(cfg->cloud.provider, "none") == 0)
		return 0;
	if ((r = cloud_open(cfg->cloud.provider, cs, p, errs)) != 0)
		return r < 0 ? r : 0;
	fill_opts(cfg, cs);
	cst = state_obj(st, "cloud", 1);
	prov_plan_free(&p->cloud);
	if ((r = cs->ops->plan(cs->ctx, &cs->opts, cst, &p->cloud)) < 0) {
		buf_printf(errs, "cloud %s: %s\n", cs->ops->name, prov_last_error());
		return r;
	}
	p->cloud_planned = 1;
	return 0;
}

int
cloud_apply(struct cloud_session *cs, struct state *st, const struct plan *p,
    struct buf *errs)
{
	struct json_object *cst;
	int r;

	if (!cs->active || !p->cloud_planned)
		return 0;
	/* What plan recorded (originals) reaches the disk before any change
	 * (without changes the caller's save at the end of the pass suffices).
	 * apply runs even without mutations: it records the routes that are
	 * already ours (a crash after a create, before the state was saved). */
	cst = state_obj(st, "cloud", 1);
	if (prov_plan_mutations(&p->cloud) > 0 && (r = state_save(st)) < 0) {
		buf_printf(errs, "cloud: cannot save the state before changing the cloud\n");
		return r;
	}
	r = cs->ops->apply(cs->ctx, &cs->opts, &p->cloud, cst);
	if (r < 0)
		buf_printf(errs, "cloud %s: %s\n", cs->ops->name, prov_last_error());
	return r;                       /* the caller saves the state (also on failure) */
}

int
cloud_teardown(const struct config *cfg, struct state *st, int dry_run,
    struct plan *p, struct cloud_session *cs, struct buf *errs)
{
	struct json_object *cst = state_obj(st, "cloud", 0);
	const char *prov = state_str(cst, "provider");
	int r;

	if (prov == NULL && cfg != NULL && strcmp(cfg->cloud.provider, "none") != 0 &&
	    strcmp(cfg->cloud.provider, "auto") != 0)
		prov = cfg->cloud.provider;
	if (prov == NULL)
		return 0;               /* nothing recorded in any cloud */
	if ((r = cloud_open(prov, cs, p, errs)) != 0)
		return r < 0 ? r : 0;
	cst = state_obj(st, "cloud", 1);
	prov_plan_free(&p->cloud);
	memset(&cs->opts, 0, sizeof(cs->opts));
	r = cs->ops->teardown(cs->ctx, &cs->opts, cst, dry_run, &p->cloud);
	p->cloud_planned = 1;
	if (r < 0)
		buf_printf(errs, "cloud %s: %s\n", cs->ops->name, prov_last_error());
	if (!dry_run)
		state_save(st);
	return r;
}

void
cloud_close(struct cloud_session *cs)
{
	if (cs->active && cs->ops->close)
		cs->ops->close(cs->ctx);
	prov_identity_free(&cs->id);
	prefix_set_free(&cs->desired);
	memset(cs, 0, sizeof(*cs));
}
