/*
 * Other firewalls' forward drops in the plan (see firewall.h).  A packet
 * is forwarded only if every base chain at the forward hook accepts it, so
 * for each foreign chain that drops, the accepts go into that chain (or the
 * one its tool keeps for local rules: Docker's DOCKER-USER, ufw's
 * ufw-user-forward).  Each pass compares what is there with what should be
 * (our rules carry a hash of the set), so when the other tool rewrites its
 * rules the next pass puts ours back.  Another tool's policy is never
 * changed; rules without our mark are never touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/desired.h"
#include "agent/firewall.h"
#include "common/metrics.h"

static void
spec_of(const struct config *cfg, const struct prefix_set *extra, struct nc_fw_spec *spec,
    struct prefix_set *side)
{
	size_t i;

	memset(side, 0, sizeof(*side));
	for (i = 0; i < cfg->overlay.n; i++)
		prefix_set_add(side, &cfg->overlay.v[i]);
	config_tunnel_prefixes(cfg, side);
	for (i = 0; extra && i < extra->n; i++)     /* merge drops the duplicates */
		prefix_set_push(side, &extra->v[i]);
	prefix_set_merge(side);
	memset(spec, 0, sizeof(*spec));
	spec->lan_if = cfg->lan_interface;
	spec->tun_if = cfg->tunnel.interface;
	spec->tunnel_side = side;
	spec->local_subnets = &cfg->local_subnets;
	spec->egress = cfg->egress;
}

const char *
fw_name(const struct nc_fw_chain *c, char *buf, size_t len)
{
	size_t i;

	snprintf(buf, len, "%s (%s %s %s%s)", c->tool, c->family, c->table, c->chain,
	    c->policy_drop ? ", policy drop" : c->drops ? ", drop rule" : "");
	for (i = 0; buf[i]; i++)            /* names come from other programs */
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	return buf;
}

static size_t
lines(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* One chain: the action that makes ours equal `rules` ("" = none). */
static int
plan_chain(struct plan *p, const struct nc_fw_chain *c, const char *rules, const char *why)
{
	struct action *a;
	struct buf script;
	char name[256];
	int r;

	if (nc_fw_in_sync(c, rules))
		return 0;
	buf_init(&script, 1024 * 1024);
	fw_name(c, name, sizeof(name));
	if (nc_fw_script(c, rules, &script) < 0 || nc_fw_check(script.data) < 0) {
		/* One chain we cannot handle must not stop the rest of the plan. */
		plan_add(p, SEC_HOST, ACT_CONFLICT, '!', "firewall %s: %s", name, nc_last_error());
		r = 0;
		goto out;
	}
	if (*rules == '\0')
		a = plan_add(p, SEC_HOST, ACT_FW, '-', "firewall %s: %zu rule%s of ours in %s "
		    "(%s)", name, c->n_ours, c->n_ours == 1 ? "" : "s", c->target, why);
	else
		a = plan_add(p, SEC_HOST, ACT_FW, c->n_ours ? '~' : '+', "firewall %s: accept "
		    "tunnel <-> local subnets in %s %s %s (%zu rules%s)", name, c->family, c->table,
		    c->target, lines(rules), c->n_ours ? ", changed outside cloudroute: restore" : "");
	a->key = plan_strf(p, "%s %s %s", c->family, c->table, c->target);
	a->blob = buf_steal(&script);
out:
	buf_free(&script);
	return r;
}

int
fw_walk(const struct config *cfg, const struct prefix_set *extra, fw_walk_fn *fn, void *ctx)
{
	struct nc_fw_chain *v = NULL;
	struct nc_fw_spec spec;
	struct prefix_set side;
	struct buf rules;
	size_t i, n = 0;
	int r;

	if ((r = nc_fw_scan(&v, &n)) < 0) {
		log_warnx("cannot read the nftables ruleset: %s", nc_last_error());
		return r;
	}
	spec_of(cfg, extra, &spec, &side);
	buf_init(&rules, 1024 * 1024);
	for (i = 0; i < n && r == 0; i++) {
		buf_reset(&rules);
		if (v[i].drops && nc_fw_render(&spec, &v[i], &rules) < 0) {
			log_warnx("firewall: %s", nc_last_error());
			continue;       /* that chain only */
		}
		r = fn(ctx, &v[i], rules.data ? rules.data : "");
	}
	buf_free(&rules);
	prefix_set_free(&side);
	free(v);
	return r;
}

struct plan_ctx {
	const struct config *cfg;
	struct plan *p;
};

static int
plan_one(void *ctx, const struct nc_fw_chain *c, const char *rules)
{
	struct plan_ctx *pc = ctx;
	char name[256], where[160];

	if (c->unsafe) {
		if (c->drops)
			plan_add(pc->p, SEC_HOST, ACT_CONFLICT, '!', "firewall %s drops forwarded "
			    "tunnel traffic; its name cannot be written safely, so it is left alone",
			    fw_name(c, name, sizeof(name)));
		return 0;
	}
	snprintf(where, sizeof(where), "%s %s %s", c->family, c->table, c->target);
	if (c->n_ours > 0)
		mt_set("cloudroute_firewall_accept_rules", (double)c->n_ours, c->tool, where, NULL);

	if (!c->drops || *rules == '\0')
		return plan_chain(pc->p, c, "", "no longer needed");
	if (c->owned) {
		plan_add(pc->p, SEC_HOST, ACT_CONFLICT, '!', "firewall %s drops forwarded tunnel "
		    "traffic and owns its table (only it may change it): allow tunnel <-> local "
		    "subnets in %s itself", fw_name(c, name, sizeof(name)), c->tool);
		return 0;
	}
	if (pc->cfg->firewall == FIREWALL_INTEGRATE)
		return plan_chain(pc->p, c, rules, "");
	plan_add(pc->p, SEC_HOST, ACT_CONFLICT, '!', "firewall %s drops forwarded tunnel "
	    "traffic; \"firewall\": \"leave\" changes nothing (accept it in %s %s %s)",
	    fw_name(c, name, sizeof(name)), c->family, c->table, c->target);
	return plan_chain(pc->p, c, "", "firewall is \"leave\"");
}

int
fw_plan(const struct config *cfg, struct plan *p)
{
	struct plan_ctx pc = { cfg, p };

	mt_reset("cloudroute_firewall_accept_rules");
	/* The composed tunnel prefixes: clients and fleet sites too. */
	return fw_walk(cfg, p->desired ? &p->desired->tunnel : NULL, plan_one, &pc);
}

int
fw_teardown_plan(struct plan *p)
{
	struct nc_fw_chain *v = NULL;
	size_t i, n = 0;
	int r;

	if ((r = nc_fw_scan(&v, &n)) < 0)
		return r;
	for (i = 0; i < n && r == 0; i++)
		if (v[i].n_ours > 0 && !v[i].unsafe)
			r = plan_chain(p, &v[i], "", "teardown");
	free(v);
	return r;
}

int
fw_apply(const struct action *a, struct buf *errs)
{
	int r;

	if (a->blob == NULL || (r = nc_fw_run(a->blob)) == 0)
		return 0;
	buf_printf(errs, "%s: %s\n", a->text, nc_last_error());
	log_warnx("%s: %s", a->text, nc_last_error());
	return r;
}
