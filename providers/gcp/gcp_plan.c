/*
 * GCP route names and the route planner: a pure function from what Compute
 * shows (the routes of the project, our instance's canIpForward) to a list
 * of changes.  The rules are AWS's (providers/aws/aws_plan.c) adapted to
 * routes that are network-wide, immutable and may coexist for one destRange:
 * a "replacement" inserts ours, then deletes the old one, and ours is never
 * added beside a route that is not ours.  A connector's route is recognised
 * by its name ("cloudroute-") and its ha_group by its description; it is
 * dead when Compute flags the next hop (NEXT_HOP_INSTANCE_NOT_FOUND,
 * NEXT_HOP_NOT_RUNNING, ...): no extra instance reads are needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcp.h"

/* ---- names ---- */

int
gcp_name_valid(const char *s)
{
	size_t i, n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n > GCP_NAME_MAX || s[0] < 'a' || s[0] > 'z' || s[n - 1] == '-')
		return 0;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/* Lowercase letters and digits kept, anything else becomes '-'. */
static void
name_chars(const char *in, size_t max, struct buf *out)
{
	size_t i;
	char c;

	for (i = 0; in[i] && i < max; i++) {
		c = in[i];
		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
			c = '-';
		buf_append(out, &c, 1);
	}
}

int
gcp_route_name(const char *ha_group, const struct prefix *dst, const char *instance_id,
    char out[GCP_NAME_MAX + 1])
{
	char addr[PREFIX_STRLEN], ih[65], gh[65];
	struct buf b, full;
	int r = -EINVAL;

	buf_init(&b, 1024);
	buf_init(&full, 1024);
	if (dst == NULL || dst->family == 0 || instance_id == NULL || !*instance_id ||
	    cr_sha256_hex(instance_id, strlen(instance_id), ih) < 0)
		goto out;
	if (ha_group == NULL || !*ha_group)
		ha_group = "default";
	prefix_addr_fmt(dst, addr, sizeof(addr));
	buf_puts(&b, GCP_NAME_PREFIX);
	name_chars(ha_group, 64, &b);
	buf_puts(&b, "-");
	name_chars(addr, sizeof(addr), &b);
	buf_printf(&b, "-%u-%.8s", dst->len, ih);
	if (b.len > GCP_NAME_MAX) {
		/* Too long: the group's start, then a hash of group and prefix. */
		buf_printf(&full, "%s/%s/%u", ha_group, addr, dst->len);
		if (cr_sha256_hex(full.data, full.len, gh) < 0)
			goto out;
		buf_reset(&b);
		buf_puts(&b, GCP_NAME_PREFIX);
		name_chars(ha_group, 30, &b);
		buf_printf(&b, "-%.12s-%.8s", gh, ih);
	}
	if (!gcp_name_valid(b.data) || cr_strlcpy(out, b.data, GCP_NAME_MAX + 1) > GCP_NAME_MAX)
		goto out;
	r = 0;
out:
	buf_free(&b);
	buf_free(&full);
	return r;
}

int
gcp_route_desc(const char *ha_group, char *out, size_t len)
{
	int n = snprintf(out, len, "%s%s", GCP_DESC_PREFIX,
	    ha_group != NULL && *ha_group ? ha_group : "default");

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

const char *
gcp_desc_group(const char *desc, char *out, size_t len)
{
	size_t n = strlen(GCP_DESC_PREFIX);

	if (desc == NULL || strncmp(desc, GCP_DESC_PREFIX, n) != 0 || !desc[n])
		return NULL;
	cr_strlcpy(out, desc + n, len);
	out[strcspn(out, " \t\r\n")] = '\0';
	return out;
}

/* ---- planner ---- */

void
gcp_changes_free(struct gcp_changes *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

static int
add(struct gcp_changes *out, enum prov_action a, const struct prefix *dst,
    const char *handle, const char *target, const char *note)
{
	struct gcp_change *nv, *c;
	size_t ncap;

	if (out->n == out->cap) {
		ncap = out->cap ? 2 * out->cap : 16;
		if ((nv = realloc(out->v, ncap * sizeof(*nv))) == NULL)
			return -ENOMEM;
		out->v = nv;
		out->cap = ncap;
	}
	c = &out->v[out->n++];
	memset(c, 0, sizeof(*c));
	c->action = a;
	if (dst != NULL)
		c->dst = *dst;
	cr_strlcpy(c->handle, handle ? handle : "", sizeof(c->handle));
	cr_strlcpy(c->target, target ? target : "", sizeof(c->target));
	cr_strlcpy(c->note, note ? note : "", sizeof(c->note));
	return 0;
}

int
gcp_route_is_ours(const struct gcp_route *r, const char *self_link, const char *network)
{
	return strncmp(r->name, GCP_NAME_PREFIX, strlen(GCP_NAME_PREFIX)) == 0 &&
	    gcp_same_resource(r->next_hop_instance, self_link) &&
	    (network == NULL || gcp_same_resource(r->network, network));
}

/* Another connector's route: our name prefix, an instance next hop. */
static int
is_marked(const struct gcp_route *r)
{
	return strncmp(r->name, GCP_NAME_PREFIX, strlen(GCP_NAME_PREFIX)) == 0 &&
	    r->next_hop_instance[0];
}

static const char *
target_of(const struct gcp_route *r)
{
	return r->next_hop_instance[0] ? r->next_hop_instance :
	    r->next_hop_other[0] ? r->next_hop_other : "?";
}

static int
same_group(const struct gcp_plan_input *in, const struct gcp_route *r)
{
	char g[128];

	return in->ha_group != NULL && *in->ha_group &&
	    gcp_desc_group(r->description, g, sizeof(g)) != NULL &&
	    strcmp(g, in->ha_group) == 0;
}

/* We may replace this connector's route. */
static int
can_take(const struct gcp_plan_input *in, const struct gcp_route *r)
{
	return (in->leader && same_group(in, r)) ||
	    (r->dead && in->takeover != PROV_TAKEOVER_NEVER);
}

static int
relevant(const struct gcp_plan_input *in, const struct gcp_route *r,
    const struct prefix *want)
{
	return r->has_dst && prefix_equal(&r->dst, want) &&
	    gcp_same_resource(r->network, in->network);
}

/* Why a connector's route we may not take stays: KEEP "held by" or CONFLICT. */
static int
hold(const struct gcp_plan_input *in, const struct gcp_route *m, const struct prefix *want,
    struct gcp_changes *out)
{
	char note[160], g[64];

	if (m->dead)
		return add(out, PROV_CONFLICT, want, m->name, target_of(m),
		    "(dead connector's route, takeover is \"never\": left alone)");
	if (same_group(in, m) && in->takeover == PROV_TAKEOVER_GROUP) {
		snprintf(note, sizeof(note), "(held by ha-group %.40s peer %.60s; taken over "
		    "when it fails)", in->ha_group, gcp_url_last(m->next_hop_instance));
		return add(out, PROV_KEEP, want, m->name, target_of(m), note);
	}
	if (same_group(in, m))
		snprintf(note, sizeof(note), "(ha-group %.40s peer, takeover is not "
		    "\"group\": left alone)", in->ha_group);
	else
		snprintf(note, sizeof(note), "(connector of ha-group %.40s, left alone)",
		    gcp_desc_group(m->description, g, sizeof(g)) ? g : "?");
	return add(out, PROV_CONFLICT, want, m->name, target_of(m), note);
}

/* Decides one desired prefix. */
static int
plan_prefix(const struct gcp_plan_input *in, const struct prefix *want,
    const char *our_name, struct gcp_changes *out)
{
	const struct gcp_route *r, *mine = NULL, *foreign = NULL, *held = NULL;
	char note[160];
	size_t i, n_take = 0;
	int rc;

	for (i = 0; i < in->n_routes; i++) {
		r = &in->routes[i];
		if (!relevant(in, r, want))
			continue;
		if (gcp_route_is_ours(r, in->self_link, in->network))
			mine = mine ? mine : r;
		else if (!is_marked(r))
			foreign = foreign ? foreign : r;
		else if (!can_take(in, r))
			held = held ? held : r;
		else
			n_take++;
	}
	if (mine == NULL && foreign != NULL)
		return add(out, PROV_CONFLICT, want, foreign->name, target_of(foreign),
		    gcp_same_resource(foreign->next_hop_instance, in->self_link) ?
		    "(not ours, already points here: left alone)" : "(not ours, left alone)");
	if (mine == NULL && held != NULL)
		return hold(in, held, want, out);
	if (mine != NULL && (rc = add(out, PROV_KEEP, want, mine->name, in->self_link,
	    "(this connector)")) < 0)
		return rc;
	if (mine == NULL && n_take == 0)
		return add(out, PROV_CREATE, want, our_name, in->self_link, "(this connector)");
	/* Connectors' routes we take over: insert ours, then delete each; once
	 * ours exists, what is left of a takeover is deleted. */
	for (i = 0; i < in->n_routes; i++) {
		r = &in->routes[i];
		if (!relevant(in, r, want) || !is_marked(r) ||
		    gcp_route_is_ours(r, in->self_link, in->network) || !can_take(in, r))
			continue;
		snprintf(note, sizeof(note), "(takeover from %.60s%s%.40s)",
		    gcp_url_last(r->next_hop_instance), r->dead ? ", " : "",
		    r->dead ? r->warning : "");
		if ((rc = add(out, mine ? PROV_DELETE : PROV_REPLACE, want, r->name,
		    mine ? target_of(r) : in->self_link, note)) < 0)
			return rc;
	}
	return 0;
}

static int
plan_deletes(const struct gcp_plan_input *in, struct gcp_changes *out, int all)
{
	const struct gcp_route *r;
	size_t i, j;
	int rc, dup;

	for (i = 0; i < in->n_routes; i++) {
		r = &in->routes[i];
		if (!gcp_route_is_ours(r, in->self_link, in->network))
			continue;
		/* A second route of ours for one prefix (the group was renamed). */
		for (dup = 0, j = 0; j < i && !dup; j++)
			dup = gcp_route_is_ours(&in->routes[j], in->self_link, in->network) &&
			    in->routes[j].has_dst && r->has_dst &&
			    prefix_equal(&in->routes[j].dst, &r->dst);
		if (!all && !dup && r->has_dst && in->desired != NULL &&
		    prefix_set_has(in->desired, &r->dst))
			continue;
		if ((rc = add(out, PROV_DELETE, r->has_dst ? &r->dst : NULL, r->name,
		    in->self_link, all ? "(ours)" : dup ? "(ours, duplicate)" :
		    "(ours, no longer wanted)")) < 0)
			return rc;
	}
	return 0;
}

int
gcp_plan_compute(const struct gcp_plan_input *in, struct gcp_changes *out)
{
	char name[GCP_NAME_MAX + 1];
	size_t j;
	int rc;

	if (in->self_link == NULL || !*in->self_link || in->network == NULL || !*in->network)
		return -EINVAL;
	if (in->enable_forwarding && in->can_ip_forward == 0 &&
	    (rc = add(out, PROV_FORWARDING, NULL, NULL, in->self_link,
	    "(canIpForward false -> true)")) < 0)
		return rc;
	for (j = 0; in->desired != NULL && j < in->desired->n; j++) {
		if ((rc = gcp_route_name(in->ha_group, &in->desired->v[j], in->instance_id,
		    name)) < 0 ||
		    (rc = plan_prefix(in, &in->desired->v[j], name, out)) < 0)
			return rc;
	}
	return plan_deletes(in, out, 0);
}

int
gcp_plan_teardown(const struct gcp_plan_input *in, struct gcp_changes *out)
{
	if (in->self_link == NULL || !*in->self_link)
		return -EINVAL;
	return plan_deletes(in, out, 1);
}
