/*
 * OCI apply and teardown.  Route rules are written per table, in one
 * UpdateRouteTable each: the whole new list, with if-match set to the
 * etag it was computed from.  On 412 (someone changed the table since)
 * the table is read again and merged again, so a concurrent writer's rule
 * is never lost; at most RACE_TRIES rounds.  A table whose merge leaves
 * the list as it is gets no write at all.
 *
 * UpdateVnic sets skipSourceDestCheck; the original is recorded by plan
 * and restored by teardown only if cloudroute changed it.  The state is
 * checkpointed before every write (tables we write to) and updated after.
 *
 * Fleet fast takeover (prov_options.proven, agent/fleet_takeover.h): the
 * if-match stays.  A rule list is only ever written whole, so a PUT computed
 * from the standby's kept copy of the table without it would drop or revert
 * any rule changed since that read (the election proves nothing about other
 * rules).  With it, the fast path costs one PUT when the kept copy is still
 * current (plan() left the tables cached with their etags), and a 412, one
 * GetRouteTable and a PUT when it is not: both far fewer calls than a full
 * pass, and never a clobbered rule.  partial: nothing here prunes the state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonutil.h"
#include "oci_ctx.h"
#include "providers/http.h"
#include "providers/pstate.h"

#define RACE_TRIES 5

/* ---- state ---- */

static int
has_str(struct json_object *a, const char *s)
{
	size_t i;

	for (i = 0; i < json_object_array_length(a); i++) {
		struct json_object *e = json_object_array_get_idx(a, i);

		if (json_object_is_type(e, json_type_string) &&
		    strcmp(json_object_get_string(e), s) == 0)
			return 1;
	}
	return 0;
}

int
oci_state_tables(struct json_object *state, char *const *ids, size_t n, char ***extra,
    size_t *n_extra)
{
	struct json_object *a;
	size_t i, j;

	*extra = NULL;
	*n_extra = 0;
	if (!json_object_object_get_ex(state, "tables", &a) ||
	    !json_object_is_type(a, json_type_array))
		return 0;
	for (i = 0; i < json_object_array_length(a); i++) {
		struct json_object *e = json_object_array_get_idx(a, i);
		const char *s;

		if (!json_object_is_type(e, json_type_string))
			continue;
		s = json_object_get_string(e);
		for (j = 0; j < n && strcmp(ids[j], s) != 0; j++)
			;
		if (j == n && oci_ids_add(extra, n_extra, s) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void
state_identity(struct oci_ctx *ctx, struct json_object *state)
{
	json_object_object_add(state, "provider", json_object_new_string("oci"));
	json_object_object_add(state, "nic", json_object_new_string(ctx->md.vnic));
	json_object_object_add(state, "private_ip_id", json_object_new_string(ctx->pip.id));
}

/* "routes": our rules in table t after a write (or a read). */
static void
state_routes(struct oci_ctx *ctx, struct json_object *state, const char *table,
    struct json_object *rules)
{
	struct json_object *a = pstate_array(state, "routes"), *e, *t;
	struct oci_rule r;
	char d[PREFIX_STRLEN];
	size_t i;

	for (i = json_object_array_length(a); i-- > 0;) {
		e = json_object_array_get_idx(a, i);
		if (json_object_object_get_ex(e, "table", &t) &&
		    strcmp(json_object_get_string(t), table) == 0)
			json_object_array_del_idx(a, i, 1);
	}
	for (i = 0; rules != NULL && i < json_object_array_length(rules); i++) {
		oci_rule_parse(json_object_array_get_idx(rules, i), &r);
		if (!r.ours || !r.has_dst || strcmp(r.target, ctx->pip.id) != 0)
			continue;
		e = json_object_new_object();
		json_object_object_add(e, "table", json_object_new_string(table));
		json_object_object_add(e, "dst", json_object_new_string(prefix_fmt(&r.dst, d,
		    sizeof(d))));
		json_object_array_add(a, e);
	}
}

/* ---- writes ---- */

static int
update_vnic(struct oci_ctx *ctx, int skip)
{
	struct oci_result res;
	char path[600];
	int r;

	snprintf(path, sizeof(path), "/vnics/%s", ctx->md.vnic);
	oci_result_init(&res);
	r = oci_call(&ctx->api, "PUT", path, skip ? "{\"skipSourceDestCheck\":true}" :
	    "{\"skipSourceDestCheck\":false}", NULL, &res);
	oci_result_free(&res);
	return r;
}

static struct oci_table *
cached(struct oci_ctx *ctx, const char *id)
{
	size_t i;

	for (i = 0; i < ctx->n_tables; i++)
		if (strcmp(ctx->tables[i].id, id) == 0)
			return &ctx->tables[i];
	return NULL;
}

/*
 * The rules with the deprecated cidrBlock dropped where destination says the
 * same: the API reference warns that requests with both may be rejected,
 * while GetRouteTable may return both.  Only used when a write with the
 * rules as read was refused for that reason.  NULL on allocation failure.
 */
static struct json_object *
without_cidr_alias(struct json_object *rules)
{
	struct json_object *out = json_object_new_array(), *o, *c, *d;
	size_t i;

	for (i = 0; out != NULL && i < json_object_array_length(rules); i++) {
		o = NULL;
		if (json_object_deep_copy(json_object_array_get_idx(rules, i), &o, NULL) != 0) {
			json_object_put(out);
			return NULL;
		}
		if (json_object_object_get_ex(o, "cidrBlock", &c) &&
		    json_object_object_get_ex(o, "destination", &d) &&
		    json_object_equal(c, d))
			json_object_object_del(o, "cidrBlock");
		json_object_array_add(out, o);
	}
	return out;
}

static int
put_body(struct oci_ctx *ctx, const char *path, const char *etag, struct json_object *rules,
    struct oci_result *res)
{
	char *body;
	int r;

	if ((body = oci_update_body(rules)) == NULL)
		return -ENOMEM;
	r = oci_call(&ctx->api, "PUT", path, body, etag, res);
	free(body);
	return r;
}

/* PUT the new list under the etag; the answer replaces the cached table. */
static int
put_rules(struct oci_ctx *ctx, struct oci_table *t, struct json_object *rules)
{
	struct json_object *alt;
	struct oci_result res;
	struct oci_table nt;
	char path[600];
	int r;

	snprintf(path, sizeof(path), "/routeTables/%s", t->id);
	oci_result_init(&res);
	r = put_body(ctx, path, t->etag, rules, &res);
	if (r == -EIO && res.status == 400 && strstr(prov_last_error(), "cidrBlock") != NULL) {
		log_info("oci: route table %s: the service refuses cidrBlock beside destination; "
		    "writing the same rules without the deprecated alias", t->id);
		if ((alt = without_cidr_alias(rules)) == NULL) {
			r = -ENOMEM;
		} else {
			r = put_body(ctx, path, t->etag, alt, &res);
			json_object_put(alt);
		}
	}
	if (r == 0 && oci_table_parse(res.body.data, res.etag, &nt) == 0) {
		oci_table_free(t);
		*t = nt;
	} else if (r == 0) {
		t->etag[0] = '\0';         /* unknown now: the next use re-reads */
	}
	oci_result_free(&res);
	return r;
}

/* Teardown: what was done, as plan changes. */
static int
report(struct prov_plan *out, const char *table, const struct oci_table_plan *tp)
{
	size_t i;
	int r = 0;

	for (i = 0; out != NULL && i < tp->n && r == 0; i++)
		r = prov_plan_addv(out, tp->v[i].action, table, &tp->v[i].dst, tp->v[i].target,
		    NULL, tp->v[i].note);
	return r;
}

/*
 * Converges one table: merge, write when changed, and on 412 read and merge
 * again.  target: the table is one we route in (else only removals).
 */
static int
sync_table(struct oci_ctx *ctx, const struct prov_options *opts, const char *id,
    int target, int remove_all, struct json_object *state, struct prov_plan *out)
{
	struct oci_plan_input in;
	struct oci_table_plan tp;
	struct oci_table fresh, *t = cached(ctx, id);
	int r = 0, round;

	memset(&fresh, 0, sizeof(fresh));
	oci_plan_input_fill(ctx, opts, target && !remove_all, &in);
	for (round = 0; round < RACE_TRIES; round++) {
		if (t == NULL || t->etag[0] == '\0' || round > 0) {
			oci_table_free(&fresh);
			if ((r = oci_read_table(ctx, id, &fresh)) < 0)
				return r;
			t = &fresh;
		}
		if ((r = oci_plan_table(&in, t, &tp)) < 0)
			break;
		if (!tp.changed) {
			state_routes(ctx, state, id, tp.rules);
			oci_table_plan_free(&tp);
			break;
		}
		if (!has_str(pstate_array(state, "tables"), id))
			json_object_array_add(pstate_array(state, "tables"),
			    json_object_new_string(id));
		if ((r = pstate_checkpoint(opts)) == 0 && (r = put_rules(ctx, t, tp.rules)) == 0) {
			state_routes(ctx, state, id, tp.rules);
			r = report(out, id, &tp);
		}
		oci_table_plan_free(&tp);
		if (r != -ESTALE)
			break;
		log_info("oci: route table %s changed under us (412); reading it again", id);
	}
	if (r == -ESTALE)
		prov_set_error("route table %s: still changing after %d tries", id, RACE_TRIES);
	oci_table_free(&fresh);
	return r;
}

/* The tables the plan changes (each once, in plan order). */
static int
changed_tables(const struct prov_plan *plan, char ***v, size_t *n)
{
	const struct prov_change *c;
	size_t i;

	for (i = 0; i < plan->n; i++) {
		c = &plan->v[i];
		if (c->table == NULL || (c->action != PROV_CREATE && c->action != PROV_REPLACE &&
		    c->action != PROV_DELETE))
			continue;
		if (oci_ids_add(v, n, c->table) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Tables holding a rule of ours that the plan keeps are recorded for
 * teardown: a fleet takeover writes them into a scratch state, and the
 * next pass finds nothing to change there. */
static void
record_kept(const struct prov_plan *plan, struct json_object *state)
{
	const struct prov_change *c;
	size_t i;

	for (i = 0; i < plan->n; i++) {
		c = &plan->v[i];
		if (c->action == PROV_KEEP && c->table != NULL && c->note != NULL &&
		    strcmp(c->note, "(this connector)") == 0 &&
		    !has_str(pstate_array(state, "tables"), c->table))
			json_object_array_add(pstate_array(state, "tables"),
			    json_object_new_string(c->table));
	}
}

/* Whether the table was planned as a target (desired prefixes) or cleanup:
 * every desired prefix gives a target table one change that is not a
 * DELETE (KEEP, CREATE, REPLACE or CONFLICT). */
static int
planned_as_target(const struct prov_plan *plan, const char *table)
{
	size_t i;

	for (i = 0; i < plan->n; i++)
		if (plan->v[i].table != NULL && strcmp(plan->v[i].table, table) == 0 &&
		    plan->v[i].action != PROV_DELETE)
			return 1;
	return 0;
}

int
oci_apply(void *vctx, const struct prov_options *opts, const struct prov_plan *plan,
    struct json_object *state)
{
	struct oci_ctx *ctx = vctx;
	char **ids = NULL;
	size_t n = 0, i;
	int r = 0;

	prov_clear_error();
	state_identity(ctx, state);
	for (i = 0; i < plan->n && r == 0; i++) {
		if (plan->v[i].action != PROV_FORWARDING)
			continue;
		json_object_object_add(state, "skip_source_dest_check_changed",
		    json_object_new_boolean(1));
		if ((r = pstate_checkpoint(opts)) == 0 && (r = update_vnic(ctx, 1)) == 0)
			ctx->observed_skip = 1;
	}
	if (r < 0 || (r = changed_tables(plan, &ids, &n)) < 0)
		goto out;
	record_kept(plan, state);
	for (i = 0; i < n && r == 0; i++)
		r = sync_table(ctx, opts, ids[i], planned_as_target(plan, ids[i]), 0, state,
		    NULL);
out:
	oci_ids_free(ids, n);
	return r;
}

static int
teardown_table(struct oci_ctx *ctx, const struct prov_options *opts, const char *id,
    struct json_object *state, int dry_run, struct prov_plan *out)
{
	struct oci_plan_input in;
	struct oci_table_plan tp;
	struct oci_table t;
	size_t i;
	int r;

	if (!dry_run)
		return sync_table(ctx, opts, id, 0, 1, state, out);
	if ((r = oci_read_table(ctx, id, &t)) < 0)
		return r;
	oci_plan_input_fill(ctx, opts, 0, &in);
	if ((r = oci_plan_table(&in, &t, &tp)) == 0) {
		for (i = 0; i < tp.n && r == 0; i++)
			r = prov_plan_addv(out, tp.v[i].action, t.id, &tp.v[i].dst,
			    tp.v[i].target, t.etag, tp.v[i].note);
		oci_table_plan_free(&tp);
	}
	oci_table_free(&t);
	return r;
}

static int
restore_forwarding(struct oci_ctx *ctx, const struct prov_options *opts,
    struct json_object *state, int dry_run, struct prov_plan *out)
{
	int r;

	if (!cr_json_bool(state, "skip_source_dest_check_changed", 0) ||
	    cr_json_bool(state, "skip_source_dest_check_original", 1))
		return 0;
	if ((r = prov_plan_addv(out, PROV_FORWARDING_RESTORE, NULL, NULL, ctx->md.vnic, NULL,
	    "(skipSourceDestCheck true -> false, as it was)")) < 0 || dry_run)
		return r;
	if ((r = update_vnic(ctx, 0)) < 0)
		return r;
	json_object_object_del(state, "skip_source_dest_check_changed");
	json_object_object_del(state, "skip_source_dest_check_original");
	return pstate_checkpoint(opts);
}

int
oci_teardown(void *vctx, const struct prov_options *opts, struct json_object *state,
    int dry_run, struct prov_plan *out)
{
	struct oci_ctx *ctx = vctx;
	char **ids = NULL;
	size_t n = 0, i;
	int r;

	prov_clear_error();
	oci_cache_clear(ctx);
	/* The tables recorded, and our subnet's table: ownership is the rule's
	 * description, so even a lost state tears down what is there. */
	if ((r = oci_state_tables(state, NULL, 0, &ids, &n)) < 0 ||
	    (ctx->subnet.route_table[0] &&
	    (r = oci_ids_add(&ids, &n, ctx->subnet.route_table)) < 0))
		goto out;
	for (i = 0; i < n && r == 0; i++) {
		r = teardown_table(ctx, opts, ids[i], state, dry_run, out);
		if (r == -ENOENT) {
			log_info("oci: route table %s is gone", ids[i]);
			r = 0;
		}
	}
	if (r == 0)
		r = restore_forwarding(ctx, opts, state, dry_run, out);
	if (r == 0 && !dry_run) {
		json_object_object_del(state, "tables");
		json_object_object_del(state, "routes");
	}
out:
	oci_ids_free(ids, n);
	return r;
}
