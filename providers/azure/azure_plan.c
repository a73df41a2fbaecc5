/*
 * The Azure route planner: a pure function from what ARM shows (route
 * tables with their UDRs, our NIC, the state of the connectors our prefixes
 * point at) to a list of changes.  Ownership is in the name: ours start
 * "cloudroute-" and point at our private IP as a VirtualAppliance.  Per
 * target table and desired prefix (Azure allows one route per prefix and
 * table, "RouteConflict"):
 *
 *   no route                                  CREATE cloudroute-<group>-<prefix>
 *   ours (marked, -> our IP)                  KEEP (REPLACE when its name is
 *                                             not the one for our ha_group)
 *   marked, -> an IP no NIC has (gone)        REPLACE if takeover >= blackhole
 *   marked, our group, -> a stopped VM        REPLACE if takeover == group
 *   marked, our group, -> a running VM        KEEP ("held by"), REPLACE when we
 *                                             are the fleet's elected leader
 *   anything else (unmarked, other next hop   CONFLICT, never touched
 *   types, another group's live connector)
 *
 * A create that would take a table past its 400 routes is a CONFLICT that
 * says so.  Routes of ours (any table read) whose prefix is no longer
 * desired there: DELETE.  First of all: FORWARDING when the NIC's
 * enableIPForwarding is off and the config asks for it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "azure.h"
#include "providers/http.h"

static const char *
route_target(const struct az_route *r)
{
	return r->next_hop_ip[0] ? r->next_hop_ip : r->next_hop_type;
}

static const struct az_peer *
find_peer(const struct az_plan_input *in, const char *ip)
{
	size_t i;

	for (i = 0; i < in->n_peers; i++)
		if (strcmp(in->peers[i].ip, ip) == 0)
			return &in->peers[i];
	return NULL;
}

/* Whether the marked route r belongs to our ha_group. */
static int
same_group(const struct az_plan_input *in, const struct az_route *r)
{
	char want[AZ_NAME_LEN], g[AZ_NAME_LEN], wg[AZ_NAME_LEN];
	struct prefix d, wd;

	if (az_route_name_parse(r->name, g, sizeof(g), &d) < 0 ||
	    az_route_name(in->ha_group, &d, want, sizeof(want)) < 0 ||
	    az_route_name_parse(want, wg, sizeof(wg), &wd) < 0)
		return 0;
	return strcasecmp(g, wg) == 0;
}

struct tctx {
	const struct az_plan_input *in;
	const struct az_route_table *t;
	const char *label;
	size_t used;                      /* routes after planned deletes/creates */
	size_t max;
};

static int
plan_marked(struct tctx *x, const struct az_route *m, const struct prefix *want,
    struct prov_plan *out)
{
	const struct az_plan_input *in = x->in;
	const struct az_peer *peer;
	char note[200];
	int group;

	if (strcasecmp(m->next_hop_type, "VirtualAppliance") != 0 || !m->next_hop_ip[0])
		return prov_plan_addv(out, PROV_CONFLICT, x->label, want, route_target(m),
		    m->name, "(cloudroute name but not an appliance route: left alone)");
	group = same_group(in, m);
	peer = find_peer(in, m->next_hop_ip);
	if (peer == NULL || peer->state == AZ_PEER_GONE) {
		if (in->takeover == PROV_TAKEOVER_NEVER)
			return prov_plan_addv(out, PROV_CONFLICT, x->label, want,
			    m->next_hop_ip, m->name,
			    "(its connector is gone, takeover is \"never\": left alone)");
		snprintf(note, sizeof(note), "(takeover: %.64s is on no NIC)", m->next_hop_ip);
		return prov_plan_addv(out, PROV_REPLACE, x->label, want, in->our_ip, m->name,
		    note);
	}
	if (!group)
		return prov_plan_addv(out, PROV_CONFLICT, x->label, want, m->next_hop_ip,
		    m->name, "(another ha-group's connector: left alone)");
	if (in->leader) {
		snprintf(note, sizeof(note), "(fleet leader takes over from %.64s)",
		    m->next_hop_ip);
		return prov_plan_addv(out, PROV_REPLACE, x->label, want, in->our_ip, m->name,
		    note);
	}
	if (in->takeover != PROV_TAKEOVER_GROUP)
		return prov_plan_addv(out, PROV_CONFLICT, x->label, want, m->next_hop_ip,
		    m->name, "(ha-group peer, takeover is not \"group\": left alone)");
	if (peer->state == AZ_PEER_ALIVE) {
		snprintf(note, sizeof(note), "(held by ha-group peer %.64s; taken over when "
		    "it fails)", m->next_hop_ip);
		return prov_plan_addv(out, PROV_KEEP, x->label, want, m->next_hop_ip, m->name,
		    note);
	}
	snprintf(note, sizeof(note), "(takeover from stopped ha-group peer %.64s)",
	    m->next_hop_ip);
	return prov_plan_addv(out, PROV_REPLACE, x->label, want, in->our_ip, m->name, note);
}

/* Decides one desired prefix in one table. */
static int
plan_prefix(struct tctx *x, const struct prefix *want, struct prov_plan *out)
{
	const struct az_plan_input *in = x->in;
	const struct az_route *m = NULL, *rt;
	char ours[AZ_NAME_LEN], note[160];
	struct prefix me;
	size_t i;
	int r;

	/* A UDR's next hop is of its prefix's family (Azure refuses a mix). */
	if (prefix_parse_addr(in->our_ip, &me) < 0 || me.family != want->family)
		return prov_plan_addv(out, PROV_CONFLICT, x->label, want, in->our_ip, NULL,
		    "(this connector's NIC has no address of that family: not routed)");
	if ((r = az_route_name(in->ha_group, want, ours, sizeof(ours))) < 0) {
		prov_set_error("no valid Azure route name for this prefix and ha_group");
		return r;
	}
	for (i = 0; i < x->t->n; i++) {
		rt = &x->t->routes[i];
		if (!rt->has_dst || !prefix_equal(&rt->dst, want))
			continue;
		if (az_route_is_ours(rt, in->our_ip)) {
			if (strcasecmp(rt->name, ours) == 0)
				return prov_plan_addv(out, PROV_KEEP, x->label, want, in->our_ip,
				    rt->name, "(this connector)");
			return prov_plan_addv(out, PROV_REPLACE, x->label, want, in->our_ip,
			    rt->name, "(ours, renamed for this ha_group)");
		}
		/* An unmarked twin is the one that decides (it is never touched). */
		if (m == NULL || !az_route_is_marked(rt->name))
			m = rt;
	}
	if (m == NULL) {
		if (x->used >= x->max) {
			snprintf(note, sizeof(note), "(route table full: %zu routes, Azure allows "
			    "%zu; not added)", x->t->n, x->max);
			return prov_plan_addv(out, PROV_CONFLICT, x->label, want, in->our_ip,
			    ours, note);
		}
		x->used++;
		return prov_plan_addv(out, PROV_CREATE, x->label, want, in->our_ip, ours,
		    "(this connector)");
	}
	if (!az_route_is_marked(m->name))
		return prov_plan_addv(out, PROV_CONFLICT, x->label, want, route_target(m),
		    m->name, "(not ours, left alone)");
	return plan_marked(x, m, want, out);
}

static int
wanted_here(const struct az_plan_input *in, size_t ti, const struct prefix *p)
{
	return ti < in->n_targets && in->desired != NULL && prefix_set_has(in->desired, p);
}

/* Ours, no longer desired in that table. */
static int
plan_deletes(const struct az_plan_input *in, size_t ti, const char *label,
    size_t *deleted, struct prov_plan *out)
{
	const struct az_route_table *t = &in->tables[ti];
	size_t i;
	int r;

	*deleted = 0;
	for (i = 0; i < t->n; i++) {
		const struct az_route *rt = &t->routes[i];

		if (!rt->has_dst || !az_route_is_ours(rt, in->our_ip) ||
		    wanted_here(in, ti, &rt->dst))
			continue;
		if ((r = prov_plan_addv(out, PROV_DELETE, label, &rt->dst, in->our_ip,
		    rt->name, "(ours, no longer wanted)")) < 0)
			return r;
		(*deleted)++;
	}
	return 0;
}

int
az_plan_compute(const struct az_plan_input *in, struct prov_plan *out)
{
	struct tctx x;
	size_t i, j, deleted;
	int r;

	if (in->our_ip == NULL || in->our_ip[0] == '\0')
		return -EINVAL;
	if (in->disable_source_dest_check && in->ip_forwarding == 0 && in->nic != NULL &&
	    (r = prov_plan_addv(out, PROV_FORWARDING, NULL, NULL, az_id_name(in->nic),
	    in->nic, "(NIC IP forwarding off -> on)")) < 0)
		return r;
	for (i = 0; i < in->n_tables; i++) {
		memset(&x, 0, sizeof(x));
		x.in = in;
		x.t = &in->tables[i];
		x.label = x.t->label[0] ? x.t->label : x.t->id;
		x.max = in->max_routes ? in->max_routes : AZ_MAX_ROUTES;
		if ((r = plan_deletes(in, i, x.label, &deleted, out)) < 0)
			return r;
		x.used = x.t->n - deleted;
		for (j = 0; i < in->n_targets && in->desired != NULL && j < in->desired->n; j++)
			if ((r = plan_prefix(&x, &in->desired->v[j], out)) < 0)
				return r;
	}
	return 0;
}
