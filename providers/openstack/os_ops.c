/*
 * openstack_ops: the provider interface glue.  Converts the agent's options
 * into os_opts and the planner's items into prov_change lines, and back for
 * apply:
 *
 *   + cloud route ROUTER 100.96.0.0/11 -> 10.0.0.10 (this connector)
 *   = cloud route ROUTER 10.9.0.0/16 -> 10.0.0.10 (there before cloudroute: not ours)
 *   ! cloud conflict ROUTER 192.168.0.0/22 -> 10.0.0.99 (not ours, left alone)
 *   ~ cloud forwarding PORT allowed address pair 100.96.0.0/11
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "os.h"
#include "openstack.h"
#include "providers/http.h"

#define NOTE_OURS     "(this connector)"
#define NOTE_BEFORE   "(there before cloudroute: not ours, left alone)"
#define NOTE_CONFLICT "(not ours, left alone)"
#define NOTE_PAIR     "allowed address pair "
#define NOTE_UNPAIR   "remove allowed address pair "

static int
os_detect(long timeout_ms)
{
	return os_detect_meta(timeout_ms);
}

static char *
dup(const char *s)
{
	return s != NULL && *s != '\0' ? strdup(s) : NULL;
}

static int
os_open(void **out, struct prov_identity *id)
{
	struct os_ctx *ctx;
	int r;

	*out = NULL;
	if ((r = os_ctx_open(&ctx)) < 0)
		return r;
	if (id != NULL) {
		memset(id, 0, sizeof(*id));
		id->provider = dup("openstack");
		id->instance = dup(ctx->uuid);
		id->nic = dup(ctx->port);
		id->private_ip = dup(ctx->ip_text);
		id->subnet = dup(ctx->subnet);
		id->network = dup(ctx->network);
		id->region = dup(ctx->cl.ep.region);
		id->zone = dup(ctx->az);
		if (id->provider == NULL || id->instance == NULL || id->nic == NULL) {
			prov_identity_free(id);
			os_ctx_close(ctx);
			return -ENOMEM;
		}
	}
	*out = ctx;
	return 0;
}

static void
os_close(void *ctx)
{
	os_ctx_close(ctx);
}

static void
opts_from(const struct prov_options *po, struct os_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pairs = po->disable_source_dest_check;
	o->portsec_off = po->disable_port_security;
	o->desired = po->desired;
	o->checkpoint = po->checkpoint;
	o->checkpoint_arg = po->checkpoint_arg;
	o->tables = po->tables == PROV_TABLES_NETWORK ? OS_TABLES_NETWORK :
	    po->tables == PROV_TABLES_LIST ? OS_TABLES_LIST : OS_TABLES_AUTO;
	if (o->tables == OS_TABLES_LIST) {
		o->routers = po->route_tables;
		o->n_routers = po->n_route_tables;
	}
}

static int
change(struct prov_plan *out, enum prov_action a, const char *table, const struct prefix *dst,
    const char *target, const char *note)
{
	return prov_plan_addv(out, a, table, dst, target, NULL, note);
}

static int
item_change(const struct os_ctx *ctx, const struct os_plan_item *it, struct prov_plan *out)
{
	char nh[PREFIX_STRLEN], note[160], d[PREFIX_STRLEN];

	prefix_addr_fmt(&it->nexthop, nh, sizeof(nh));
	if (it->portsec) {
		if (it->act == OS_ADD)
			return change(out, PROV_FORWARDING, NULL, NULL, ctx->port,
			    "port_security_enabled false");
		if (it->act == OS_REMOVE)
			return change(out, PROV_FORWARDING_RESTORE, NULL, NULL, ctx->port,
			    "port_security_enabled true (as before cloudroute)");
		return 0;
	}
	if (it->pair) {
		prefix_fmt(&it->dst, d, sizeof(d));
		snprintf(note, sizeof(note), "%s%s", it->act == OS_ADD ? NOTE_PAIR : NOTE_UNPAIR, d);
		if (it->act == OS_ADD || it->act == OS_REMOVE)
			return change(out, it->act == OS_ADD ? PROV_FORWARDING :
			    PROV_FORWARDING_RESTORE, NULL, &it->dst, ctx->port, note);
		return 0;
	}
	switch (it->act) {
	case OS_KEEP:
		return change(out, PROV_KEEP, it->router, &it->dst, nh, NOTE_OURS);
	case OS_KEEP_FOREIGN:
		return change(out, PROV_KEEP, it->router, &it->dst, nh, NOTE_BEFORE);
	case OS_ADD:
		return change(out, PROV_CREATE, it->router, &it->dst, nh, NOTE_OURS);
	case OS_REMOVE:
		return change(out, PROV_DELETE, it->router, &it->dst, nh, "(ours, no longer wanted)");
	case OS_CONFLICT:
		return change(out, PROV_CONFLICT, it->router, &it->dst, nh, NOTE_CONFLICT);
	case OS_SKIP:
		prefix_fmt(&it->dst, d, sizeof(d));
		log_debug("openstack: %s not routed: our fixed IP is of the other family", d);
		return 0;
	case OS_DROP:
	default:
		return 0;
	}
}

static int
to_prov(const struct os_ctx *ctx, const struct os_plan *p, struct prov_plan *out)
{
	size_t i;
	int r;

	for (i = 0; i < p->n; i++)
		if ((r = item_change(ctx, &p->v[i], out)) < 0)
			return r;
	return 0;
}

static int
from_prov(const struct prov_plan *pp, struct os_plan *out)
{
	struct os_plan_item it;
	const struct prov_change *c;
	size_t i;

	for (i = 0; i < pp->n; i++) {
		c = &pp->v[i];
		memset(&it, 0, sizeof(it));
		it.dst = c->dst;
		if (c->action == PROV_CREATE || c->action == PROV_DELETE) {
			it.act = c->action == PROV_CREATE ? OS_ADD : OS_REMOVE;
			cr_strlcpy(it.router, c->table != NULL ? c->table : "", sizeof(it.router));
			if (c->target == NULL || prefix_parse_addr(c->target, &it.nexthop) < 0)
				return -EINVAL;
		} else if (c->action == PROV_FORWARDING || c->action == PROV_FORWARDING_RESTORE) {
			it.act = c->action == PROV_FORWARDING ? OS_ADD : OS_REMOVE;
			it.pair = c->dst.family != 0;
			it.portsec = c->dst.family == 0;
		} else {
			continue;
		}
		if (os_plan_add_item(out, &it) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int
os_plan_op(void *pctx, const struct prov_options *po, struct json_object *state,
    struct prov_plan *out)
{
	struct os_ctx *ctx = pctx;
	struct os_plan p = { 0 };
	struct os_opts o;
	int r;

	opts_from(po, &o);
	if ((r = os_ctx_plan(ctx, &o, state, &p)) == 0)
		r = to_prov(ctx, &p, out);
	os_plan_free(&p);
	return r;
}

static int
os_apply_op(void *pctx, const struct prov_options *po, const struct prov_plan *plan,
    struct json_object *state)
{
	struct os_ctx *ctx = pctx;
	struct os_plan p = { 0 };
	struct os_opts o;
	int r;

	opts_from(po, &o);
	if ((r = from_prov(plan, &p)) == 0)
		r = os_ctx_apply(ctx, &o, &p, state);
	log_debug("openstack: %u Neutron calls (%u mutating), %u Keystone", ctx->cl.calls,
	    ctx->cl.mutating_calls, ctx->cl.auths);
	os_plan_free(&p);
	return r;
}

static int
os_teardown_op(void *pctx, const struct prov_options *po, struct json_object *state,
    int dry_run, struct prov_plan *out)
{
	struct os_ctx *ctx = pctx;
	struct os_plan p = { 0 };
	struct os_opts o;
	int r;

	memset(&o, 0, sizeof(o));
	o.checkpoint = po != NULL ? po->checkpoint : NULL;
	o.checkpoint_arg = po != NULL ? po->checkpoint_arg : NULL;
	if ((r = os_ctx_teardown(ctx, &o, state, dry_run, &p)) == 0)
		r = to_prov(ctx, &p, out);
	os_plan_free(&p);
	return r;
}

const struct prov_ops openstack_ops = {
	.name = "openstack",
	.detect = os_detect,
	.open = os_open,
	.plan = os_plan_op,
	.apply = os_apply_op,
	.teardown = os_teardown_op,
	.close = os_close,
};
