/*
 * AWS apply and teardown: performs exactly the mutations of a plan, one EC2
 * call each, and keeps the provider state object current after every
 * successful call (so a crash loses nothing the agent has persisted):
 *
 *   {"provider":"aws","nic":"eni-..","instance":"i-..",
 *    "source_dest_check_original":true,"tagged":true,
 *    "routes":[{"table":"rtb-..","dst":"100.96.0.0/11"}]}
 *
 * The first error stops the run (nothing further is changed).  Races are
 * absorbed where the outcome is the one wanted: RouteAlreadyExists pointing
 * at us, InvalidRoute.NotFound on delete, a ReplaceRoute whose route vanished
 * becomes a CreateRoute.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "common/jsonutil.h"
#include "providers/http.h"

/* ---- state ---- */

static struct json_object *
state_routes(struct json_object *state)
{
	struct json_object *a;

	if (json_object_object_get_ex(state, "routes", &a) &&
	    json_object_is_type(a, json_type_array))
		return a;
	a = json_object_new_array();
	json_object_object_add(state, "routes", a);
	return a;
}

static int
entry_matches(struct json_object *e, const char *table, const struct prefix *dst)
{
	struct json_object *t, *d;
	struct prefix p;

	return json_object_object_get_ex(e, "table", &t) &&
	    json_object_object_get_ex(e, "dst", &d) &&
	    strcmp(json_object_get_string(t), table) == 0 &&
	    prefix_parse(json_object_get_string(d), &p, 0) == 0 && prefix_equal(&p, dst);
}

static void
state_route_add(struct json_object *state, const char *table, const struct prefix *dst)
{
	struct json_object *a = state_routes(state), *e;
	char buf[PREFIX_STRLEN];
	size_t i;

	for (i = 0; i < json_object_array_length(a); i++)
		if (entry_matches(json_object_array_get_idx(a, i), table, dst))
			return;
	e = json_object_new_object();
	json_object_object_add(e, "table", json_object_new_string(table));
	json_object_object_add(e, "dst", json_object_new_string(prefix_fmt(dst, buf,
	    sizeof(buf))));
	json_object_array_add(a, e);
}

static void
state_route_del(struct json_object *state, const char *table, const struct prefix *dst)
{
	struct json_object *a = state_routes(state);
	size_t i;

	for (i = json_object_array_length(a); i-- > 0;)
		if (entry_matches(json_object_array_get_idx(a, i), table, dst))
			json_object_array_del_idx(a, i, 1);
}

int
aws_state_owned(struct json_object *state, const char *eni, struct aws_owned **out,
    size_t *n)
{
	struct json_object *a, *e, *t, *d;
	const char *nic = cr_json_str(state, "nic");
	size_t i, len;

	*out = NULL;
	*n = 0;
	if (state == NULL || (nic != NULL && eni != NULL && strcmp(nic, eni) != 0) ||
	    !json_object_object_get_ex(state, "routes", &a) ||
	    !json_object_is_type(a, json_type_array))
		return 0;
	len = json_object_array_length(a);
	if (len == 0)
		return 0;
	if ((*out = calloc(len, sizeof(**out))) == NULL)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		e = json_object_array_get_idx(a, i);
		if (!json_object_object_get_ex(e, "table", &t) ||
		    !json_object_object_get_ex(e, "dst", &d) ||
		    cr_strlcpy((*out)[*n].table, json_object_get_string(t),
		    sizeof((*out)[*n].table)) >= sizeof((*out)[*n].table) ||
		    prefix_parse(json_object_get_string(d), &(*out)[*n].dst, 0) < 0) {
			log_warnx("aws: ignoring malformed route entry %zu in state", i);
			continue;
		}
		(*n)++;
	}
	return 0;
}

static void
state_identity(struct aws_ctx *ctx, struct json_object *state)
{
	json_object_object_add(state, "provider", json_object_new_string("aws"));
	json_object_object_add(state, "nic", json_object_new_string(ctx->id.nic));
	json_object_object_add(state, "instance", json_object_new_string(ctx->id.instance));
}

/* ---- EC2 mutations ---- */

static int
mutate(struct aws_ctx *ctx, const char *action, struct aws_params *p)
{
	struct buf resp;
	int r;

	buf_init(&resp, HTTP_MAX_RESPONSE);
	if ((r = aws_ec2_call(&ctx->ec2, action, p, &resp, NULL)) == 0)
		r = aws_xml_return(resp.data, resp.len, action);
	buf_free(&resp);
	aws_params_free(p);
	return r;
}

static int
route_call(struct aws_ctx *ctx, const char *action, const char *table,
    const struct prefix *dst, const char *eni)
{
	struct aws_params p;
	char d[PREFIX_STRLEN];
	int r;

	aws_params_init(&p);
	prefix_fmt(dst, d, sizeof(d));
	if ((r = aws_params_add(&p, "RouteTableId", table)) < 0 ||
	    (r = aws_params_add(&p, dst->family == AF_INET6 ?
	    "DestinationIpv6CidrBlock" : "DestinationCidrBlock", d)) < 0 ||
	    (eni != NULL && (r = aws_params_add(&p, "NetworkInterfaceId", eni)) < 0)) {
		aws_params_free(&p);
		return r;
	}
	return mutate(ctx, action, &p);
}

/*
 * Reads one route as EC2 shows it now: its target ENI (or other target) into
 * tgt, "" when the table has no route for dst.  EC2 has no conditional
 * write, so a REPLACE or DELETE re-reads the route right before it: an HA
 * peer that took the route between our plan and our write keeps it.
 */
static int
route_now(struct aws_ctx *ctx, const char *table, const struct prefix *dst, char *tgt,
    size_t len, int *blackhole)
{
	const char *ids[1] = { table };
	const struct aws_route *rt;
	struct aws_rt_list l = { 0 };
	size_t i, j;
	int r;

	tgt[0] = '\0';
	*blackhole = 0;
	if ((r = aws_read_tables_by_id(ctx, ids, 1, &l)) < 0)
		goto out;
	for (i = 0; i < l.n; i++) {
		for (j = 0; j < l.v[i].n; j++) {
			rt = &l.v[i].routes[j];
			if (!rt->has_dst || !prefix_equal(&rt->dst, dst))
				continue;
			cr_strlcpy(tgt, rt->eni[0] ? rt->eni : rt->instance[0] ? rt->instance :
			    rt->gateway[0] ? rt->gateway : rt->other[0] ? rt->other : "?", len);
			*blackhole = rt->blackhole;
		}
	}
out:
	aws_rt_list_free(&l);
	return r;
}

/* After RouteAlreadyExists: 0 when the route is ours, else -EEXIST. */
static int
route_is_ours(struct aws_ctx *ctx, const char *table, const struct prefix *dst)
{
	char d[PREFIX_STRLEN], tgt[AWS_ID_LEN];
	int r, bh;

	if ((r = route_now(ctx, table, dst, tgt, sizeof(tgt), &bh)) < 0)
		return -EEXIST;
	if (strcmp(tgt, ctx->id.nic) == 0)
		return 0;
	prov_set_error("route %s in %s appeared concurrently and is not ours: left alone",
	    prefix_fmt(dst, d, sizeof(d)), table);
	return -EEXIST;
}

/* REPLACE: only while the route still points where the plan saw it; at
 * once when the fleet's election proved the old target gone (proven). */
static int
do_replace(struct aws_ctx *ctx, const struct prov_change *c, int proven, int *ours)
{
	char d[PREFIX_STRLEN], tgt[AWS_ID_LEN];
	int r, bh;

	*ours = 1;
	if (proven)
		return route_call(ctx, "ReplaceRoute", c->table, &c->dst, ctx->id.nic);
	if ((r = route_now(ctx, c->table, &c->dst, tgt, sizeof(tgt), &bh)) < 0)
		return r;
	if (tgt[0] == '\0')            /* vanished meanwhile: create it */
		return route_call(ctx, "CreateRoute", c->table, &c->dst, ctx->id.nic);
	if (strcmp(tgt, ctx->id.nic) == 0)
		return 0;
	if (c->handle != NULL && strcmp(tgt, c->handle) != 0) {
		log_warnx("aws: route %s in %s now points at %s (was %s): another connector "
		    "took it, left alone", prefix_fmt(&c->dst, d, sizeof(d)), c->table, tgt,
		    c->handle);
		*ours = 0;
		return 0;
	}
	r = route_call(ctx, "ReplaceRoute", c->table, &c->dst, ctx->id.nic);
	if (r == -ENOENT)
		r = route_call(ctx, "CreateRoute", c->table, &c->dst, ctx->id.nic);
	return r;
}

/* DELETE: only while the route still points at our ENI. */
static int
do_delete(struct aws_ctx *ctx, const struct prov_change *c)
{
	char d[PREFIX_STRLEN], tgt[AWS_ID_LEN];
	int r, bh;

	if ((r = route_now(ctx, c->table, &c->dst, tgt, sizeof(tgt), &bh)) < 0)
		return r;
	if (tgt[0] == '\0')
		return 0;
	if (strcmp(tgt, ctx->id.nic) != 0) {
		log_info("aws: route %s in %s now points at %s: no longer ours, left alone",
		    prefix_fmt(&c->dst, d, sizeof(d)), c->table, tgt);
		return 0;
	}
	r = route_call(ctx, "DeleteRoute", c->table, &c->dst, NULL);
	return r == -ENOENT ? 0 : r;
}

static int
set_sdc(struct aws_ctx *ctx, const char *eni, int on)
{
	struct aws_params p;
	int r;

	aws_params_init(&p);
	if ((r = aws_params_add(&p, "NetworkInterfaceId", eni)) < 0 ||
	    (r = aws_params_add(&p, "SourceDestCheck.Value", on ? "true" : "false")) < 0) {
		aws_params_free(&p);
		return r;
	}
	return mutate(ctx, "ModifyNetworkInterfaceAttribute", &p);
}

static int
tag_call(struct aws_ctx *ctx, const char *action, const char *eni, const char *value)
{
	struct aws_params p;
	int r;

	aws_params_init(&p);
	if ((r = aws_params_add(&p, "ResourceId.1", eni)) < 0 ||
	    (r = aws_params_add(&p, "Tag.1.Key", AWS_HA_TAG_KEY)) < 0 ||
	    (value != NULL && (r = aws_params_add(&p, "Tag.1.Value", value)) < 0)) {
		aws_params_free(&p);
		return r;
	}
	return mutate(ctx, action, &p);
}

/* Performs one change and records it in state.  0 or -errno. */
static int
exec_change(struct aws_ctx *ctx, const struct prov_options *opts,
    const struct prov_change *c, struct json_object *state)
{
	int r = 0;

	switch (c->action) {
	case PROV_KEEP:
		state_route_add(state, c->table, &c->dst);
		return 0;
	case PROV_CONFLICT:
		return 0;
	case PROV_FORWARDING:
		if (!json_object_object_get_ex(state, "source_dest_check_original", NULL))
			json_object_object_add(state, "source_dest_check_original",
			    json_object_new_boolean(1));
		return set_sdc(ctx, c->target, 0);
	case PROV_FORWARDING_RESTORE:
		if ((r = set_sdc(ctx, c->target, 1)) == 0)
			json_object_object_del(state, "source_dest_check_original");
		return r;
	case PROV_TAG:
		if (opts == NULL || opts->ha_group == NULL)
			return -EINVAL;
		if ((r = tag_call(ctx, "CreateTags", c->target, opts->ha_group)) == 0)
			json_object_object_add(state, "tagged", json_object_new_boolean(1));
		return r;
	case PROV_CREATE:
		r = route_call(ctx, "CreateRoute", c->table, &c->dst, ctx->id.nic);
		if (r == -EEXIST)
			r = route_is_ours(ctx, c->table, &c->dst);
		break;
	case PROV_REPLACE: {
		int ours;

		if ((r = do_replace(ctx, c, opts != NULL && opts->proven, &ours)) == 0 && !ours)
			return 0;
		break;
	}
	case PROV_DELETE:
		if (c->dst.family == 0) {
			if ((r = tag_call(ctx, "DeleteTags", c->target, NULL)) == 0)
				json_object_object_del(state, "tagged");
			return r;
		}
		if ((r = do_delete(ctx, c)) == 0)
			state_route_del(state, c->table, &c->dst);
		return r;
	}
	if (r == 0)
		state_route_add(state, c->table, &c->dst);
	return r;
}

/* The error names the change that failed; the caller reports it once. */
static void
fail_change(const struct prov_change *c)
{
	char line[512], why[512];

	cr_strlcpy(why, prov_last_error(), sizeof(why));
	prov_set_error("%s: %s", prov_change_fmt(c, line, sizeof(line)), why);
}

static int
in_plan(const struct prov_plan *plan, struct json_object *e)
{
	size_t i;

	for (i = 0; i < plan->n; i++) {
		const struct prov_change *c = &plan->v[i];

		if ((c->action == PROV_KEEP || c->action == PROV_CREATE ||
		    c->action == PROV_REPLACE) && entry_matches(e, c->table, &c->dst))
			return 1;
	}
	return 0;
}

int
aws_apply(struct aws_ctx *ctx, const struct prov_options *opts,
    const struct prov_plan *plan, struct json_object *state)
{
	struct json_object *a;
	unsigned int calls0 = ctx->ec2.calls, mut0 = ctx->ec2.mutating_calls;
	size_t i;
	int r = 0;

	prov_clear_error();
	state_identity(ctx, state);
	if (!json_object_object_get_ex(state, "source_dest_check_original", NULL) &&
	    ctx->observed_sdc >= 0)
		json_object_object_add(state, "source_dest_check_original",
		    json_object_new_boolean(ctx->observed_sdc));
	for (i = 0; i < plan->n; i++) {
		if ((r = exec_change(ctx, opts, &plan->v[i], state)) < 0) {
			fail_change(&plan->v[i]);
			goto out;
		}
	}
	if (opts != NULL && opts->partial)
		goto out;               /* a subset: the rest stays recorded */
	/* Complete: ours is what the plan kept, created or replaced. */
	a = state_routes(state);
	for (i = json_object_array_length(a); i-- > 0;)
		if (!in_plan(plan, json_object_array_get_idx(a, i)))
			json_object_array_del_idx(a, i, 1);
out:
	if (ctx->ec2.calls != calls0)
		log_info("aws: apply made %u API calls (%u mutating)", ctx->ec2.calls - calls0,
		    ctx->ec2.mutating_calls - mut0);
	return r;
}

/* Plans the removal of what state records as ours. */
static int
teardown_plan(struct aws_ctx *ctx, struct json_object *state, const char *nic,
    struct prov_plan *out)
{
	struct aws_eni_list enis = { 0 };
	struct aws_rt_list tables = { 0 };
	struct aws_owned *owned = NULL;
	struct aws_plan_input in;
	char note[160];
	const char **ids = NULL;
	size_t n_owned = 0, n = 0, i;
	int r;

	if ((r = aws_state_owned(state, nic, &owned, &n_owned)) < 0)
		goto out;
	if (n_owned > 0 && (ids = calloc(n_owned, sizeof(*ids))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n_owned; i++) {
		size_t j;

		for (j = 0; j < n && strcmp(ids[j], owned[i].table) != 0; j++)
			;
		if (j == n)
			ids[n++] = owned[i].table;
	}
	if ((r = aws_read_tables_by_id(ctx, ids, n, &tables)) < 0 ||
	    (r = aws_read_enis(ctx, &nic, 1, &enis)) < 0)
		goto out;
	if (enis.n == 1 && cr_json_bool(state, "source_dest_check_original", 0) &&
	    enis.v[0].source_dest_check == 0 &&
	    (r = prov_plan_addv(out, PROV_FORWARDING_RESTORE, NULL, NULL, nic, NULL,
	    "(source/dest check off -> on, as before cloudroute)")) < 0)
		goto out;
	if (enis.n == 1 && cr_json_bool(state, "tagged", 0) && enis.v[0].has_ha_tag) {
		snprintf(note, sizeof(note), "(%s=%.100s)", AWS_HA_TAG_KEY, enis.v[0].ha_group);
		if ((r = prov_plan_addv(out, PROV_DELETE, NULL, NULL, nic, NULL, note)) < 0)
			goto out;
	}
	/* Every recorded route counts as "no longer desired". */
	memset(&in, 0, sizeof(in));
	in.eni = nic;
	in.tables = tables.v;
	in.n_tables = tables.n;
	in.owned = owned;
	in.n_owned = n_owned;
	r = aws_plan_compute(&in, out);
out:
	free(ids);
	free(owned);
	aws_eni_list_free(&enis);
	aws_rt_list_free(&tables);
	return r;
}

int
aws_teardown(struct aws_ctx *ctx, struct json_object *state, int dry_run,
    struct prov_plan *out)
{
	const char *nic = cr_json_str(state, "nic");
	size_t i, first = out->n;
	int r;

	prov_clear_error();
	if (nic == NULL)
		return 0;                /* nothing was ever applied */
	if ((r = teardown_plan(ctx, state, nic, out)) < 0 || dry_run)
		return r;
	for (i = first; i < out->n; i++) {
		if ((r = exec_change(ctx, NULL, &out->v[i], state)) < 0) {
			fail_change(&out->v[i]);
			return r;
		}
	}
	/* Whatever remains recorded no longer points at us. */
	json_object_object_add(state, "routes", json_object_new_array());
	json_object_object_del(state, "tagged");
	json_object_object_del(state, "source_dest_check_original");
	return 0;
}
