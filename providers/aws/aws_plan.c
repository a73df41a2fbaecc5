/*
 * The AWS route planner: a pure function from what EC2 shows (route tables,
 * our ENI, the ENIs our prefixes point at) and what the state records as
 * ours, to a list of changes.  Rules, per table and desired prefix:
 *
 *   no route                              CREATE -> our ENI
 *   route -> our ENI                      KEEP
 *   local / propagated / gateway route    CONFLICT (never touched)
 *   blackhole                             REPLACE if takeover >= blackhole
 *   -> ENI tagged with our ha_group       REPLACE if takeover == group and that
 *                                         peer is not alive (ENI not in use by
 *                                         an instance, or its instance not
 *                                         "running"), or if we are the site's
 *                                         elected leader (fleet); an alive
 *                                         peer keeps it
 *                                         (KEEP, "held by"): two running
 *                                         connectors would otherwise take the
 *                                         route from each other on every pass
 *   anything else                         CONFLICT
 *
 * Routes recorded as ours, still pointing at our ENI, whose prefix is no
 * longer desired: DELETE.  Before the routes: FORWARDING (source/dest check
 * off) when asked and still on, TAG when our ENI lacks our ha_group tag.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "aws.h"

static const char *
route_target(const struct aws_route *rt)
{
	if (rt->eni[0])
		return rt->eni;
	if (rt->instance[0])
		return rt->instance;
	if (rt->gateway[0])
		return rt->gateway;
	if (rt->other[0])
		return rt->other;
	return "?";
}

static const struct aws_eni *
find_eni(const struct aws_plan_input *in, const char *id)
{
	size_t i;

	for (i = 0; i < in->n_others; i++)
		if (strcmp(in->others[i].id, id) == 0)
			return &in->others[i];
	return NULL;
}

static int
is_untouchable(const struct aws_route *rt)
{
	return rt->origin == AWS_ORIGIN_TABLE || rt->origin == AWS_ORIGIN_PROPAGATED ||
	    strcmp(rt->gateway, "local") == 0;
}

static int
add(struct prov_plan *out, enum prov_action a, const char *table,
    const struct prefix *dst, const char *target, const char *note)
{
	return prov_plan_addv(out, a, table, dst, target, NULL, note);
}

/* REPLACE carries what the route pointed at when planned as its handle:
 * apply re-reads the route and replaces it only if that is still so. */
static int
add_replace(struct prov_plan *out, const char *table, const struct prefix *dst,
    const char *eni, const char *was, const char *note)
{
	return prov_plan_addv(out, PROV_REPLACE, table, dst, eni, was, note);
}

static const struct aws_instance *
find_instance(const struct aws_plan_input *in, const char *id)
{
	size_t i;

	for (i = 0; i < in->n_instances; i++)
		if (strcmp(in->instances[i].id, id) == 0)
			return &in->instances[i];
	return NULL;
}

/*
 * Is the connector behind a peer ENI alive?  Its ENI must be attached to an
 * instance, and when the instances were read (DescribeInstances), that
 * instance must be "running": a stopped, stopping or crashed instance keeps
 * its ENI attached, so the attachment alone proves nothing.
 */
static int
peer_alive(const struct aws_plan_input *in, const struct aws_eni *peer, const char **why)
{
	const struct aws_instance *inst;

	*why = peer->status;
	if (!peer->instance[0] || strcmp(peer->status, "in-use") != 0)
		return 0;
	if (in->instances == NULL)
		return 1;
	if ((inst = find_instance(in, peer->instance)) == NULL) {
		*why = "instance gone";
		return 0;
	}
	*why = inst->state;
	return strcmp(inst->state, "running") == 0;
}

/* Decides one desired prefix in one table. */
static int
plan_prefix(const struct aws_plan_input *in, const struct aws_route_table *t,
    const struct prefix *want, struct prov_plan *out)
{
	const struct aws_route *m = NULL, *rt;
	const struct aws_eni *peer;
	const char *why = "";
	char note[160];
	size_t i;

	for (i = 0; i < t->n; i++) {
		rt = &t->routes[i];
		if (!rt->has_dst || !prefix_equal(&rt->dst, want))
			continue;
		if (strcmp(rt->eni, in->eni) == 0)
			return add(out, PROV_KEEP, t->id, want, in->eni, "(this connector)");
		/* A local or propagated twin wins over a static one. */
		if (m == NULL || is_untouchable(rt))
			m = rt;
	}
	if (m == NULL)
		return add(out, PROV_CREATE, t->id, want, in->eni, "(this connector)");
	if (is_untouchable(m) || (m->gateway[0] && !m->blackhole)) {
		snprintf(note, sizeof(note), "(%s route, never touched)",
		    m->origin == AWS_ORIGIN_PROPAGATED ? "propagated" :
		    strcmp(m->gateway, "local") == 0 || m->origin == AWS_ORIGIN_TABLE ?
		    "local" : "gateway");
		return add(out, PROV_CONFLICT, t->id, want, route_target(m), note);
	}
	if (m->blackhole) {
		if (in->takeover == PROV_TAKEOVER_NEVER)
			return add(out, PROV_CONFLICT, t->id, want, route_target(m),
			    "(blackhole, takeover is \"never\": left alone)");
		snprintf(note, sizeof(note), "(takeover of blackhole route -> %.64s)",
		    route_target(m));
		return add_replace(out, t->id, want, in->eni, route_target(m), note);
	}
	peer = m->eni[0] ? find_eni(in, m->eni) : NULL;
	if (peer != NULL && peer->has_ha_tag && in->ha_group != NULL &&
	    in->ha_group[0] && strcmp(peer->ha_group, in->ha_group) == 0) {
		if (in->leader) {
			snprintf(note, sizeof(note), "(elected leader of %.40s: takeover from "
			    "%.40s)", in->ha_group, m->eni);
			return add_replace(out, t->id, want, in->eni, m->eni, note);
		}
		if (in->takeover == PROV_TAKEOVER_GROUP && peer_alive(in, peer, &why)) {
			snprintf(note, sizeof(note), "(held by ha-group %.40s peer on %.40s; "
			    "taken over when it fails)", in->ha_group, peer->instance);
			return add(out, PROV_KEEP, t->id, want, m->eni, note);
		}
		if (in->takeover == PROV_TAKEOVER_GROUP) {
			snprintf(note, sizeof(note), "(takeover from ha-group %.40s peer %.40s%s%.20s)",
			    in->ha_group, m->eni, why[0] ? ", " : "", why);
			return add_replace(out, t->id, want, in->eni, m->eni, note);
		}
		snprintf(note, sizeof(note), "(ha-group %.40s peer, takeover is not \"group\": "
		    "left alone)", in->ha_group);
		return add(out, PROV_CONFLICT, t->id, want, m->eni, note);
	}
	return add(out, PROV_CONFLICT, t->id, want, route_target(m), "(not ours, left alone)");
}

static const struct aws_route_table *
find_table(const struct aws_plan_input *in, const char *id)
{
	size_t i;

	for (i = 0; i < in->n_tables; i++)
		if (strcmp(in->tables[i].id, id) == 0)
			return &in->tables[i];
	return NULL;
}

/* Recorded routes no longer desired that still point at us. */
static int
plan_deletes(const struct aws_plan_input *in, struct prov_plan *out)
{
	const struct aws_route_table *t;
	const struct aws_owned *o;
	size_t i, j;
	int r;

	for (i = 0; i < in->n_owned; i++) {
		o = &in->owned[i];
		if ((t = find_table(in, o->table)) == NULL)
			continue;      /* table not read: nothing known, nothing done */
		/* Still wanted in a table we serve: plan_prefix() decided it. */
		if (in->desired != NULL && prefix_set_has(in->desired, &o->dst) &&
		    (size_t)(t - in->tables) < in->n_targets)
			continue;
		for (j = 0; j < t->n; j++) {
			if (t->routes[j].has_dst && prefix_equal(&t->routes[j].dst, &o->dst) &&
			    strcmp(t->routes[j].eni, in->eni) == 0) {
				if ((r = add(out, PROV_DELETE, t->id, &o->dst, in->eni,
				    "(ours, no longer wanted)")) < 0)
					return r;
				break;
			}
		}
	}
	return 0;
}

static int
plan_nic(const struct aws_plan_input *in, struct prov_plan *out)
{
	char note[160];
	int r;

	if (in->our_eni == NULL)
		return 0;
	if (in->disable_source_dest_check && in->our_eni->source_dest_check == 1 &&
	    (r = add(out, PROV_FORWARDING, NULL, NULL, in->eni,
	    "(source/dest check on -> off)")) < 0)
		return r;
	if (in->ha_group != NULL && in->ha_group[0] &&
	    (!in->our_eni->has_ha_tag || strcmp(in->our_eni->ha_group, in->ha_group) != 0)) {
		snprintf(note, sizeof(note), "(%s=%.100s)", AWS_HA_TAG_KEY, in->ha_group);
		if ((r = add(out, PROV_TAG, NULL, NULL, in->eni, note)) < 0)
			return r;
	}
	return 0;
}

int
aws_plan_compute(const struct aws_plan_input *in, struct prov_plan *out)
{
	size_t i, j;
	int r;

	if (in->eni == NULL || in->eni[0] == '\0')
		return -EINVAL;
	if ((r = plan_nic(in, out)) < 0)
		return r;
	for (i = 0; i < in->n_targets && i < in->n_tables; i++) {
		for (j = 0; in->desired != NULL && j < in->desired->n; j++) {
			if ((r = plan_prefix(in, &in->tables[i], &in->desired->v[j], out)) < 0)
				return r;
		}
	}
	return plan_deletes(in, out);
}
