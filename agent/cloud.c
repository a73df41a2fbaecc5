/*
 * Agent glue to the cloud providers (see cloud.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cloud.h"

int
cloud_job_make(const struct config *cfg, const struct desired *d, struct cloud_job *job)
{
	size_t i;

	memset(job, 0, sizeof(*job));
	cr_strlcpy(job->provider, cfg->cloud.provider, sizeof(job->provider));
	job->disable_source_dest_check = cfg->cloud.disable_source_dest_check;
	job->disable_port_security = cfg->cloud.disable_port_security;
	job->tables = cfg->cloud.route_tables_network ? PROV_TABLES_NETWORK :
	    cfg->cloud.route_tables != NULL ? PROV_TABLES_LIST : PROV_TABLES_AUTO;
	if (cfg->cloud.n_route_tables > 0) {
		job->route_tables = calloc(cfg->cloud.n_route_tables, sizeof(char *));
		if (job->route_tables == NULL)
			return -ENOMEM;
		for (i = 0; i < cfg->cloud.n_route_tables; i++) {
			if ((job->route_tables[i] = strdup(cfg->cloud.route_tables[i])) == NULL) {
				cloud_job_free(job);
				return -ENOMEM;
			}
			job->n_route_tables = i + 1;
		}
	}
	cr_strlcpy(job->ha_group, cfg->cloud.ha_group, sizeof(job->ha_group));
	job->takeover = cfg->cloud.takeover == TAKEOVER_NEVER ? PROV_TAKEOVER_NEVER :
	    cfg->cloud.takeover == TAKEOVER_GROUP ? PROV_TAKEOVER_GROUP : PROV_TAKEOVER_BLACKHOLE;
	job->leader = d != NULL ? d->cloud_leader : -1;
	for (i = 0; d != NULL && i < d->cloud.n; i++) {
		if (prefix_set_add(&job->desired, &d->cloud.v[i]) < 0) {
			cloud_job_free(job);
			return -ENOMEM;
		}
	}
	return 0;
}

void
cloud_job_free(struct cloud_job *job)
{
	size_t i;

	for (i = 0; i < job->n_route_tables; i++)
		free(job->route_tables[i]);
	free(job->route_tables);
	prefix_set_free(&job->desired);
	memset(job, 0, sizeof(*job));
}

static void
job_opts(struct cloud_job *job, struct prov_options *o)
{
	memset(o, 0, sizeof(*o));
	o->disable_source_dest_check = job->disable_source_dest_check;
	o->disable_port_security = job->disable_port_security;
	o->tables = job->tables;
	o->route_tables = (const char *const *)job->route_tables;
	o->n_route_tables = job->n_route_tables;
	o->desired = &job->desired;
	o->ha_group = job->ha_group;
	o->takeover = job->takeover;
	o->leader = job->leader == 1;
}

/* 0 open, 1 no cloud here ("auto" found none), -errno. */
static int
cloud_open(const char *provider, struct cloud_session *cs, struct plan *p, struct buf *errs)
{
	int r;

	if (cs->active)
		return 0;
	if ((r = prov_select(provider, &cs->ops)) < 0) {
		if (r == -ENOENT && strcmp(provider, "auto") == 0) {
			if (p != NULL)
				plan_add(p, SEC_CLOUD, ACT_NOTE, '.', "no cloud detected (provider "
				    "\"auto\": %s); cloud routes are not managed", prov_last_error());
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
	cloud_job_free(&cs->job);
	if ((r = cloud_job_make(cfg, p->desired, &cs->job)) < 0)
		return r;
	job_opts(&cs->job, &cs->opts);
	cst = state_obj(st, "cloud", 1);
	prov_plan_free(&p->cloud);
	if ((r = cs->ops->plan(cs->ctx, &cs->opts, cst, &p->cloud)) < 0) {
		buf_printf(errs, "cloud %s: %s\n", cs->ops->name, prov_last_error());
		return r;
	}
	p->cloud_planned = 1;
	return 0;
}

static int
save_cb(void *arg)
{
	return state_save(arg);
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
	cs->opts.checkpoint = save_cb;
	cs->opts.checkpoint_arg = st;
	r = cs->ops->apply(cs->ctx, &cs->opts, &p->cloud, cst);
	if (r < 0)
		buf_printf(errs, "cloud %s: %s\n", cs->ops->name, prov_last_error());
	return r;                       /* the caller saves the state (also on failure) */
}

/* ---- the cloud process's pass ---- */

struct publish {
	const struct cloud_sink *sink;
	struct json_object *cst;        /* the pass's own copy */
};

static int
publish(void *arg)
{
	struct publish *pb = arg;

	return pb->sink->publish(pb->sink->arg, pb->cst);
}

/* The routes the provider's state records as ours ("routes": every
 * provider keeps that list), -1 when it has none. */
static long
owned_routes(struct json_object *cst)
{
	struct json_object *a;

	return json_object_object_get_ex(cst, "routes", &a) &&
	    json_object_is_type(a, json_type_array) ? (long)json_object_array_length(a) : -1;
}

/*
 * Fleet (agent/fleet_takeover.h).  A standby plans as if it led, keeps the
 * routes it would take over and leaves only its NIC changes in *plan (at
 * most every FLEET_TAKEOVER_REFRESH_MS: 1 = nothing to do).  A new leader
 * first writes what it kept, at once.
 */
static int
fleet_standby_plan(struct cloud_session *cs, struct json_object *cst, struct prov_plan *plan)
{
	struct prov_options o = cs->opts;
	struct prov_plan all = { 0 };
	int r;

	o.leader = 1;                   /* what it would do as leader: plan() never writes */
	if ((r = cs->ops->plan(cs->ctx, &o, cst, &all)) == 0 &&
	    (r = fleet_takeover_keep(&cs->takeover, &all, o.desired, now_ms())) == 0)
		r = fleet_takeover_nic(&all, plan);
	prov_plan_free(&all);
	cs->opts.partial = 1;           /* its apply touches the NIC changes only */
	return r;
}

static void
fleet_takeover_now(struct cloud_session *cs)
{
	struct prov_options o = cs->opts;
	struct prov_plan fast = { 0 };
	struct json_object *scratch;

	if (fleet_takeover_plan(&cs->takeover, o.desired, now_ms(), &fast) < 0 || fast.n == 0 ||
	    (scratch = json_object_new_object()) == NULL) {
		prov_plan_free(&fast);
		return;
	}
	/* No state yet: the normal pass right after records the routes (one
	 * that points at our NIC is ours even if we crash in between). */
	o.partial = o.proven = 1;
	log_debug("fleet takeover: writing %zu route%s", fast.n, fast.n == 1 ? "" : "s");
	if (cs->ops->apply(cs->ctx, &o, &fast, scratch) < 0)
		log_warnx("fleet takeover: %s (the normal pass follows)", prov_last_error());
	else
		log_info("fleet takeover: %zu route%s written at once", fast.n,
		    fast.n == 1 ? "" : "s");
	json_object_put(scratch);
	prov_plan_free(&fast);
}

static int
pass(struct cloud_session *cs, struct cloud_job *job, struct json_object *cst,
    const struct cloud_sink *sink, struct cloud_result *res, struct buf *errs)
{
	struct prov_plan plan = { 0 };
	struct publish pb = { sink, cst };
	size_t *changes = &res->changes;
	char line[512];
	size_t i;
	int r;

	memset(res, 0, sizeof(*res));
	res->owned = -1;
	cloud_job_fingerprint(job, res->fp);
	if (strcmp(job->provider, "none") == 0 || (job->leader == 0 &&
	    strcmp(job->provider, "auto") != 0 && !fleet_takeover_supported(job->provider)))
		return 1;               /* no cloud, or a fleet standby: writes nothing */
	if ((r = cloud_open(job->provider, cs, NULL, errs)) != 0)
		return r;
	job_opts(job, &cs->opts);
	if (job->leader == 0 && (!fleet_takeover_supported(cs->ops->name) ||
	    !fleet_takeover_stale(&cs->takeover, &job->desired, now_ms())))
		return 1;
	if (job->leader == 1)
		fleet_takeover_now(cs);
	r = job->leader == 0 ? fleet_standby_plan(cs, pb.cst, &plan) :
	    cs->ops->plan(cs->ctx, &cs->opts, pb.cst, &plan);
	if (r < 0) {
		buf_printf(errs, "cloud %s: %s\n", cs->ops->name, prov_last_error());
		goto out;
	}
	if (job->leader == 0 && plan.n == 0)
		goto out;               /* a standby with its NIC as wanted */
	*changes = prov_plan_mutations(&plan);
	for (i = 0; i < plan.n; i++) {
		if (plan.v[i].action != PROV_KEEP)
			log_info("%s", prov_change_fmt(&plan.v[i], line, sizeof(line)));
		if (plan.v[i].action == PROV_CONFLICT)
			res->conflicts++;
	}
	if (*changes > 0 && (r = publish(&pb)) < 0) {
		buf_printf(errs, "cloud: cannot save the state before changing the cloud\n");
		goto out;
	}
	cs->opts.checkpoint = publish;
	cs->opts.checkpoint_arg = &pb;
	if ((r = cs->ops->apply(cs->ctx, &cs->opts, &plan, pb.cst)) < 0)
		buf_printf(errs, "cloud %s: %s\n", cs->ops->name, prov_last_error());
	if (publish(&pb) < 0 && r == 0) {
		buf_printf(errs, "cloud: cannot save the state\n");
		r = -EIO;
	}
	res->owned = owned_routes(pb.cst);
out:
	cs->opts.checkpoint = NULL;
	prov_plan_free(&plan);
	return r;
}

int
cloud_pass(struct cloud_session *cs, struct cloud_job *job, struct json_object *cst,
    const struct cloud_sink *sink, struct cloud_result *res, struct buf *errs)
{
	struct buf serrs;
	int r;

	if (job->leader != 0)
		return pass(cs, job, cst, sink, res, errs);
	/* A fleet standby's pass only prepares a takeover: a failure is logged,
	 * never counted against the connector's health (a standby that cannot
	 * read the cloud now still stands by; as leader its passes say why). */
	buf_init(&serrs, 4096);
	if ((r = pass(cs, job, cst, sink, res, &serrs)) < 0) {
		log_warnx("cloud, as a fleet standby: %.*s", serrs.len > 0 ? (int)serrs.len - 1 : 0,
		    serrs.data ? serrs.data : "");
		cloud_close(cs);
		r = 1;
	}
	buf_free(&serrs);
	return r;
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
	cs->opts.checkpoint = save_cb;
	cs->opts.checkpoint_arg = st;
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
	cloud_job_free(&cs->job);
	fleet_takeover_free(&cs->takeover);
	memset(cs, 0, sizeof(cs[0]));
}
