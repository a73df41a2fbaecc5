/*
 * OCI route rules and the planner.  A route table's rules can only be
 * replaced as a whole list (UpdateRouteTable), so the planner computes the
 * new whole list from the one read, walking it in order:
 *
 *   rule not for a desired prefix       kept as read (JSON object reused,
 *                                       members RouteRule lacks dropped),
 *                                       unless ours -> our private IP: DELETE
 *   rule for a desired prefix:
 *     -> our private IP                 KEEP (a second one of ours: dropped;
 *                                       ours under an old ha_group: REPLACE)
 *     not marked ours                   CONFLICT, never touched
 *     marked, its private IP is gone    REPLACE in place if takeover >=
 *                                       blackhole, else CONFLICT
 *     marked, same ha_group             REPLACE if takeover == group and the
 *                                       peer is dead (or we are the fleet
 *                                       leader); alive: KEEP "held by"
 *     anything else                     CONFLICT, kept as read
 *   desired prefixes with no rule       CREATE, appended at the end
 *
 * "Ours" is the description: it starts with "cloudroute" and names the
 * ha_group ("cloudroute ha_group=<g>").  A rule for our prefix that points
 * at us without the mark is someone else's and is kept (and never removed).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonutil.h"
#include "oci.h"
#include "providers/http.h"

#define PRIVATEIP_PREFIX "ocid1.privateip."

void
oci_rule_description(const char *ha_group, char *out, size_t len)
{
	snprintf(out, len, OCI_MARK " ha_group=%s", ha_group != NULL && *ha_group ?
	    ha_group : "default");
}

void
oci_rule_parse(struct json_object *o, struct oci_rule *r)
{
	const char *dst = cr_json_str(o, "destination"), *type = cr_json_str(o, "destinationType");
	const char *desc = cr_json_str(o, "description"), *g;

	memset(r, 0, sizeof(*r));
	r->obj = o;
	r->target = cr_json_str(o, "networkEntityId");
	if (r->target == NULL)
		r->target = "";
	if (dst == NULL || (type != NULL && strcmp(type, "CIDR_BLOCK") != 0))
		dst = type == NULL ? cr_json_str(o, "cidrBlock") : NULL;
	if (dst != NULL && prefix_parse(dst, &r->dst, 0) == 0)
		r->has_dst = 1;
	if (desc != NULL && strncmp(desc, OCI_MARK, strlen(OCI_MARK)) == 0) {
		r->ours = 1;
		if ((g = strstr(desc, "ha_group=")) != NULL) {
			g += strlen("ha_group=");
			snprintf(r->group, sizeof(r->group), "%.*s", (int)strcspn(g, " ;,"), g);
		}
	}
}

/*
 * Drops the members of a rule that RouteRule (Core Services API reference)
 * does not define.  A rule is written back whole on every UpdateRouteTable
 * and the service refuses unknown members in a request, so a read-only or
 * newer field in the answer must not travel back (the SDKs drop them too,
 * by decoding into their RouteRule model).
 */
static void
rule_known_only(struct json_object *o)
{
	static const char *const known[] = { "cidrBlock", "destination", "destinationType",
	    "networkEntityId", "description", "routeType" };
	char *drop;
	size_t i;

	do {
		drop = NULL;
		json_object_object_foreach(o, k, v) {
			(void)v;
			for (i = 0; i < ARRAY_SIZE(known) && strcmp(k, known[i]) != 0; i++)
				;
			if (i == ARRAY_SIZE(known)) {
				drop = strdup(k);
				break;
			}
		}
		if (drop != NULL)
			json_object_object_del(o, drop);
		free(drop);
	} while (drop != NULL);
}

int
oci_table_parse(const char *json, const char *etag, struct oci_table *out)
{
	struct json_object *rules;
	const char *id;
	size_t i, n;

	memset(out, 0, sizeof(*out));
	if ((out->root = json_tokener_parse(json)) == NULL ||
	    !json_object_is_type(out->root, json_type_object) ||
	    (id = cr_json_str(out->root, "id")) == NULL ||
	    cr_strlcpy(out->id, id, sizeof(out->id)) >= sizeof(out->id) ||
	    !json_object_object_get_ex(out->root, "routeRules", &rules) ||
	    !json_object_is_type(rules, json_type_array)) {
		prov_set_error("GetRouteTable: not a RouteTable document (id, routeRules[])");
		oci_table_free(out);
		return -EBADMSG;
	}
	cr_strlcpy(out->etag, etag != NULL ? etag : "", sizeof(out->etag));
	n = json_object_array_length(rules);
	if (n > 0 && (out->rules = calloc(n, sizeof(*out->rules))) == NULL) {
		oci_table_free(out);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(rules, i);

		if (!json_object_is_type(o, json_type_object)) {
			prov_set_error("GetRouteTable %s: routeRules[%zu] is not an object",
			    out->id, i);
			oci_table_free(out);
			return -EBADMSG;
		}
		rule_known_only(o);
		oci_rule_parse(o, &out->rules[i]);
	}
	out->n = n;
	return 0;
}

void
oci_table_free(struct oci_table *t)
{
	json_object_put(t->root);
	free(t->rules);
	memset(t, 0, sizeof(*t));
}

void
oci_table_plan_free(struct oci_table_plan *p)
{
	free(p->v);
	json_object_put(p->rules);
	memset(p, 0, sizeof(*p));
}

static int
change(struct oci_table_plan *p, enum prov_action a, const struct prefix *dst,
    const char *target, const char *fmt, ...) CR_PRINTF(5, 6);

static int
change(struct oci_table_plan *p, enum prov_action a, const struct prefix *dst,
    const char *target, const char *fmt, ...)
{
	struct oci_change *c;
	va_list ap;

	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 8;
		struct oci_change *nv = realloc(p->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		p->v = nv;
		p->cap = cap;
	}
	c = &p->v[p->n++];
	memset(c, 0, sizeof(*c));
	c->action = a;
	c->dst = *dst;
	cr_strlcpy(c->target, target, sizeof(c->target));
	va_start(ap, fmt);
	vsnprintf(c->note, sizeof(c->note), fmt, ap);
	va_end(ap);
	if (a == PROV_CREATE || a == PROV_REPLACE || a == PROV_DELETE)
		p->changed = 1;
	return 0;
}

static struct json_object *
our_rule(const struct oci_plan_input *in, const struct prefix *dst)
{
	struct json_object *o = json_object_new_object();
	char d[PREFIX_STRLEN], desc[200];

	if (o == NULL)
		return NULL;
	oci_rule_description(in->ha_group, desc, sizeof(desc));
	json_object_object_add(o, "destination", json_object_new_string(prefix_fmt(dst, d,
	    sizeof(d))));
	json_object_object_add(o, "destinationType", json_object_new_string("CIDR_BLOCK"));
	json_object_object_add(o, "networkEntityId", json_object_new_string(in->me));
	json_object_object_add(o, "description", json_object_new_string(desc));
	return o;
}

static int
push(struct json_object *list, struct json_object *o, int borrowed)
{
	if (o == NULL)
		return -ENOMEM;
	if (json_object_array_add(list, borrowed ? json_object_get(o) : o) != 0) {
		json_object_put(o);
		return -ENOMEM;
	}
	return 0;
}

static enum oci_target_state
target_state(const struct oci_plan_input *in, const char *ocid)
{
	if (strncmp(ocid, PRIVATEIP_PREFIX, strlen(PRIVATEIP_PREFIX)) != 0)
		return OCI_TARGET_ALIVE;      /* gateways, DRGs...: never blackholes */
	return in->target_state != NULL ? in->target_state(in->arg, ocid) : OCI_TARGET_UNKNOWN;
}

static const char *
group_of(const struct oci_plan_input *in)
{
	return in->ha_group != NULL && *in->ha_group ? in->ha_group : "default";
}

static int
same_group(const struct oci_plan_input *in, const struct oci_rule *r)
{
	return r->ours && strcmp(r->group, group_of(in)) == 0;
}

/* A desired prefix's rule that is not pointing at us.  *take: replace it. */
static int
decide_foreign(const struct oci_plan_input *in, const struct oci_rule *r,
    struct oci_table_plan *p, int *take)
{
	const struct prefix *d = &r->dst;
	enum oci_target_state st;

	*take = 0;
	/* Not ours: a conflict, whatever its target (a GetPrivateIp 404 may
	 * also be a compartment our policy does not cover). */
	if (!r->ours)
		return change(p, PROV_CONFLICT, d, r->target, "(not ours, left alone)");
	st = target_state(in, r->target);
	if (st == OCI_TARGET_GONE) {
		if (in->takeover == PROV_TAKEOVER_NEVER)
			return change(p, PROV_CONFLICT, d, r->target,
			    "(target gone, takeover is \"never\": left alone)");
		*take = 1;
		return change(p, PROV_REPLACE, d, in->me,
		    "(takeover of rule -> %.80s, whose private IP is gone)", r->target);
	}
	if (same_group(in, r)) {
		/* The fleet's elected leader takes its site's rules whatever
		 * cloud.takeover says (DESIGN.md "Fleet": the election is the proof). */
		if (in->takeover != PROV_TAKEOVER_GROUP && !in->leader)
			return change(p, PROV_CONFLICT, d, r->target, "(ha-group %.40s peer, "
			    "takeover is not \"group\": left alone)", r->group);
		if (st == OCI_TARGET_DEAD || in->leader) {
			*take = 1;
			return change(p, PROV_REPLACE, d, in->me, "(takeover from ha-group "
			    "%.40s peer %.80s%s)", r->group, r->target, in->leader ?
			    ", fleet leader" : ", its VNIC is down");
		}
		return change(p, PROV_KEEP, d, r->target, "(held by ha-group %.40s peer; "
		    "taken over when it fails)", r->group);
	}
	return change(p, PROV_CONFLICT, d, r->target, "(ha-group %.40s connector, left alone)",
	    r->group[0] ? r->group : "?");
}

/* Already handled desired prefixes (one bit per desired entry). */
static int
seen_index(const struct oci_plan_input *in, const struct prefix *d)
{
	size_t i;

	for (i = 0; in->desired != NULL && i < in->desired->n; i++)
		if (prefix_equal(&in->desired->v[i], d))
			return (int)i;
	return -1;
}

static int
walk_rules(const struct oci_plan_input *in, const struct oci_table *t,
    struct oci_table_plan *p, unsigned char *seen)
{
	const struct oci_rule *r;
	size_t i;
	int idx, take, rc = 0;

	for (i = 0; i < t->n; i++) {
		r = &t->rules[i];
		idx = r->has_dst ? seen_index(in, &r->dst) : -1;
		if (idx < 0) {
			if (r->ours && r->has_dst && strcmp(r->target, in->me) == 0) {
				if ((rc = change(p, PROV_DELETE, &r->dst, in->me,
				    "(ours, no longer wanted)")) < 0)
					return rc;
				continue;
			}
			if ((rc = push(p->rules, r->obj, 1)) < 0)
				return rc;
			continue;
		}
		if (strcmp(r->target, in->me) == 0) {
			if (seen[idx] && r->ours) {     /* a duplicate of ours: drop it */
				if ((rc = change(p, PROV_DELETE, &r->dst, in->me,
				    "(duplicate of ours)")) < 0)
					return rc;
				continue;
			}
			/* Ours under another ha_group name: the description follows. */
			take = r->ours && !seen[idx] && !same_group(in, r);
			if (take)
				rc = change(p, PROV_REPLACE, &r->dst, in->me, "(ha_group %.40s -> "
				    "%.40s)", r->group, group_of(in));
			else if (!seen[idx])
				rc = change(p, PROV_KEEP, &r->dst, in->me, "%s", r->ours ?
				    "(this connector)" : "(this connector, rule not ours)");
			if (rc < 0)
				return rc;
			seen[idx] = 1;
			if ((rc = push(p->rules, take ? our_rule(in, &r->dst) : r->obj, !take)) < 0)
				return rc;
			continue;
		}
		take = 0;
		if (!seen[idx] && (rc = decide_foreign(in, r, p, &take)) < 0)
			return rc;
		seen[idx] = 1;
		if ((rc = push(p->rules, take ? our_rule(in, &r->dst) : r->obj, !take)) < 0)
			return rc;
	}
	return 0;
}

int
oci_plan_table(const struct oci_plan_input *in, const struct oci_table *t,
    struct oci_table_plan *out)
{
	size_t nd = in->desired != NULL ? in->desired->n : 0, i;
	unsigned char *seen = NULL;
	int r = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (in->me == NULL || in->me[0] == '\0')
		return -EINVAL;
	if ((out->rules = json_object_new_array()) == NULL ||
	    (seen = calloc(nd + 1, 1)) == NULL)
		goto out;
	if ((r = walk_rules(in, t, out, seen)) < 0)
		goto out;
	for (i = 0; i < nd; i++) {
		if (seen[i])
			continue;
		if ((r = change(out, PROV_CREATE, &in->desired->v[i], in->me,
		    "(this connector)")) < 0 ||
		    (r = push(out->rules, our_rule(in, &in->desired->v[i]), 0)) < 0)
			goto out;
	}
	r = 0;
out:
	free(seen);
	if (r < 0)
		oci_table_plan_free(out);
	return r;
}

char *
oci_update_body(struct json_object *rules)
{
	struct json_object *o = json_object_new_object();
	char *s = NULL;
	const char *j;

	if (o == NULL)
		return NULL;
	json_object_object_add(o, "routeRules", json_object_get(rules));
	j = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (j != NULL)
		s = strdup(j);
	json_object_put(o);
	return s;
}
