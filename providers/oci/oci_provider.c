/*
 * The OCI provider: detect (IMDS v2 instance document), open (identity
 * from IMDS, credentials, our VNIC, subnet and private IP OCID from the
 * Core API), plan (our VNIC's skipSourceDestCheck, then every route table
 * read with its ETag and merged by oci_plan_table) and close.  apply and
 * teardown are in oci_apply.c.
 *
 * Endpoints: CLOUDROUTE_OCI_METADATA_URL (else http://169.254.169.254),
 * CLOUDROUTE_OCI_API_URL (else https://iaas.<region>.<realm domain>),
 * CLOUDROUTE_OCI_AUTH_URL (else https://auth.<region>.<realm domain>).
 *
 * The tables read by plan are kept (with their etags) for apply, whose
 * first UpdateRouteTable uses that etag: a table changed in between makes
 * it a 412, a re-read and a new merge.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oci_ctx.h"
#include "providers/http.h"
#include "providers/sigv4.h"

#define MAX_PAGES 50

static int
oci_detect(long timeout_ms)
{
	struct oci_instance_md md;
	struct oci_imds m;
	struct buf b;
	int r;

	oci_imds_init(&m, timeout_ms);
	m.probe = 1;                    /* a detection costs one timeout, not three */
	buf_init(&b, 256u << 10);
	memset(&md, 0, sizeof(md));
	r = oci_imds_get(&m, "instance/", &b) == 0 && oci_json_instance(b.data, &md) == 0;
	buf_free(&b);
	return r;
}

int
oci_get(struct oci_ctx *ctx, const char *base, const char *arg, struct oci_result *res)
{
	char path[1024];

	if ((size_t)snprintf(path, sizeof(path), "%s%s", base, arg) >= sizeof(path))
		return -ENAMETOOLONG;
	buf_reset(&res->body);
	return oci_call(&ctx->api, "GET", path, NULL, NULL, res);
}

int
oci_read_vnic(struct oci_ctx *ctx, const char *id, struct oci_vnic *out)
{
	struct oci_result res;
	int r;

	oci_result_init(&res);
	if ((r = oci_get(ctx, "/vnics/", id, &res)) == 0)
		r = oci_json_vnic(res.body.data, out);
	oci_result_free(&res);
	return r;
}

static int
read_subnet(struct oci_ctx *ctx, struct oci_subnet *out)
{
	struct oci_result res;
	int r;

	oci_result_init(&res);
	if ((r = oci_get(ctx, "/subnets/", ctx->vnic.subnet, &res)) == 0)
		r = oci_json_subnet(res.body.data, out);
	oci_result_free(&res);
	return r;
}

static int
identify(struct oci_ctx *ctx)
{
	struct buf b;
	int r;

	buf_init(&b, 256u << 10);
	if ((r = oci_imds_get(&ctx->imds, "instance/", &b)) < 0 ||
	    (r = oci_json_instance(b.data, &ctx->md)) < 0 ||
	    (r = oci_imds_get(&ctx->imds, "vnics/", &b)) < 0 ||
	    (r = oci_json_md_vnics(b.data, &ctx->md)) < 0)
		goto out;
	if ((r = oci_endpoint("CLOUDROUTE_OCI_API_URL", "iaas", ctx->md.region,
	    ctx->md.realm_domain, ctx->api.url, sizeof(ctx->api.url))) < 0 ||
	    (r = oci_endpoint("CLOUDROUTE_OCI_AUTH_URL", "auth", ctx->md.region,
	    ctx->md.realm_domain, ctx->auth_url, sizeof(ctx->auth_url))) < 0 ||
	    (r = http_url_hostport(ctx->api.url, ctx->api.host, sizeof(ctx->api.host))) < 0)
		prov_set_error("invalid OCI endpoint URL \"%s\"", ctx->api.url);
out:
	buf_free(&b);
	return r;
}

/*
 * Our private IP object: ListPrivateIps of our VNIC, every page (opc-next-page
 * -> page=) until the address IMDS gave us; else the VNIC's primary one.
 */
static int
our_private_ip(struct oci_ctx *ctx)
{
	struct oci_private_ip p, primary = { 0 };
	struct oci_result res;
	struct buf path;
	int r = 0, page;

	oci_result_init(&res);
	buf_init(&path, 4096);
	for (page = 0; page < MAX_PAGES; page++) {
		buf_reset(&path);
		if ((r = buf_printf(&path, "/privateIps?vnicId=%s", ctx->md.vnic)) < 0 ||
		    (res.next_page[0] && ((r = buf_puts(&path, "&page=")) < 0 ||
		    (r = sigv4_uri_encode(&path, res.next_page, strlen(res.next_page), 0)) < 0)))
			break;
		buf_reset(&res.body);
		if ((r = oci_call(&ctx->api, "GET", path.data, NULL, NULL, &res)) < 0)
			break;
		r = oci_json_private_ip(res.body.data, ctx->md.private_ip, &p);
		if (r == 0 && strcmp(p.ip, ctx->md.private_ip) == 0) {
			ctx->pip = p;
			goto out;
		}
		if (r == 0 && !primary.id[0])
			primary = p;
		else if (r != 0 && r != -ENOENT)
			break;
		if (!res.next_page[0])
			break;
	}
	if (r == -ENOENT || r == 0) {
		r = primary.id[0] ? 0 : page == MAX_PAGES ? -E2BIG : -ENOENT;
		if (r == 0)
			ctx->pip = primary;
		else
			prov_set_error("ListPrivateIps: no private IP %s on our VNIC%s",
			    ctx->md.private_ip, page == MAX_PAGES ? " in the first pages" : "");
	}
out:
	buf_free(&path);
	oci_result_free(&res);
	return r;
}

static int
export_identity(struct oci_ctx *ctx, struct prov_identity *id)
{
	struct prov_identity t = {
		.provider = (char *)"oci",
		.instance = ctx->md.id,
		.nic = ctx->md.vnic,
		.private_ip = ctx->md.private_ip,
		.public_ip = ctx->vnic.public_ip[0] ? ctx->vnic.public_ip : NULL,
		.subnet = ctx->vnic.subnet,
		.network = ctx->subnet.vcn,
		.region = ctx->md.region,
		.zone = ctx->md.ad[0] ? ctx->md.ad : NULL,
	};

	return prov_identity_copy(id, &t);
}

static void oci_close(void *vctx);

static int
oci_open(void **out, struct prov_identity *id)
{
	struct oci_ctx *ctx;
	int r;

	*out = NULL;
	prov_clear_error();
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return -ENOMEM;
	oci_imds_init(&ctx->imds, 5000);
	ctx->api.prefix = "/" OCI_CORE_VERSION;
	ctx->api.creds = &ctx->creds;
	if ((r = identify(ctx)) < 0)
		goto out;
	if ((r = oci_creds_load(&ctx->creds, &ctx->imds, ctx->auth_url)) < 0)
		goto out;
	ctx->have_creds = 1;
	if ((r = oci_read_vnic(ctx, ctx->md.vnic, &ctx->vnic)) < 0 ||
	    (r = read_subnet(ctx, &ctx->subnet)) < 0 || (r = our_private_ip(ctx)) < 0)
		goto out;
	ctx->vnic_fresh = ctx->subnet_fresh = 1;
	if (id != NULL && (r = export_identity(ctx, id)) < 0)
		goto out;
	log_debug("oci: instance %s vnic %s private IP %s (%s) subnet %s vcn %s region %s "
	    "endpoint %s", ctx->md.id, ctx->md.vnic, ctx->md.private_ip, ctx->pip.id,
	    ctx->vnic.subnet, ctx->subnet.vcn, ctx->md.region, ctx->api.url);
	*out = ctx;
out:
	if (r < 0)
		oci_close(ctx);
	return r;
}

void
oci_cache_clear(struct oci_ctx *ctx)
{
	size_t i;

	for (i = 0; i < ctx->n_tables; i++)
		oci_table_free(&ctx->tables[i]);
	free(ctx->tables);
	ctx->tables = NULL;
	ctx->n_tables = 0;
	for (i = 0; i < ctx->n_targets; i++)
		free(ctx->targets[i].ocid);
	free(ctx->targets);
	ctx->targets = NULL;
	ctx->n_targets = 0;
}

static void
oci_close(void *vctx)
{
	struct oci_ctx *ctx = vctx;

	if (ctx == NULL)
		return;
	oci_cache_clear(ctx);
	if (ctx->have_creds)
		oci_creds_free(&ctx->creds);
	free(ctx);
}

/* Liveness of another connector's private IP (cached for one pass). */
enum oci_target_state
oci_target_state(void *arg, const char *ocid)
{
	struct oci_ctx *ctx = arg;
	enum oci_target_state st = OCI_TARGET_UNKNOWN;
	struct oci_private_ip pip;
	struct oci_target *nv;
	struct oci_result res;
	struct oci_vnic v;
	size_t i;
	int r;

	for (i = 0; i < ctx->n_targets; i++)
		if (strcmp(ctx->targets[i].ocid, ocid) == 0)
			return ctx->targets[i].state;
	oci_result_init(&res);
	r = oci_get(ctx, "/privateIps/", ocid, &res);
	if (r == -ENOENT) {
		st = OCI_TARGET_GONE;
	} else if (r == 0 && oci_json_private_ip_one(res.body.data, &pip) == 0) {
		r = pip.vnic[0] ? oci_read_vnic(ctx, pip.vnic, &v) : -ENOENT;
		st = r == 0 && strcmp(v.state, "AVAILABLE") == 0 ? OCI_TARGET_ALIVE :
		    r == 0 || r == -ENOENT ? OCI_TARGET_DEAD : OCI_TARGET_UNKNOWN;
	}
	oci_result_free(&res);
	if ((nv = realloc(ctx->targets, (ctx->n_targets + 1) * sizeof(*nv))) != NULL) {
		ctx->targets = nv;
		if ((nv[ctx->n_targets].ocid = strdup(ocid)) != NULL)
			nv[ctx->n_targets++].state = st;
	}
	return st;
}

int
oci_read_table(struct oci_ctx *ctx, const char *id, struct oci_table *out)
{
	struct oci_result res;
	int r;

	oci_result_init(&res);
	if ((r = oci_get(ctx, "/routeTables/", id, &res)) == 0) {
		r = oci_table_parse(res.body.data, res.etag, out);
		if (r == 0 && res.etag[0] == '\0') {
			prov_set_error("GetRouteTable %s: no ETag in the answer", id);
			oci_table_free(out);
			r = -EBADMSG;
		}
	}
	if (r == -ENOENT)
		prov_set_error("route table %s not found (or not readable: %s)", id,
		    prov_last_error());
	oci_result_free(&res);
	return r;
}

void
oci_ids_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The route tables of every subnet of our VCN (ListSubnets, all pages). */
static int
network_tables(struct oci_ctx *ctx, char ***v, size_t *n)
{
	struct oci_result res;
	struct buf path;
	int r = 0, page;

	oci_result_init(&res);
	buf_init(&path, 4096);
	for (page = 0; page < MAX_PAGES; page++) {
		buf_reset(&path);
		if ((r = buf_printf(&path, "/subnets?compartmentId=%s&vcnId=%s&limit=100",
		    ctx->subnet.compartment, ctx->subnet.vcn)) < 0)
			break;
		if (res.next_page[0] && ((r = buf_puts(&path, "&page=")) < 0 ||
		    (r = sigv4_uri_encode(&path, res.next_page, strlen(res.next_page), 0)) < 0))
			break;
		buf_reset(&res.body);
		if ((r = oci_call(&ctx->api, "GET", path.data, NULL, NULL, &res)) < 0 ||
		    (r = oci_json_subnet_tables(res.body.data, v, n)) < 0 || !res.next_page[0])
			break;
	}
	if (r == 0 && page == MAX_PAGES) {
		prov_set_error("ListSubnets: more than %d pages", MAX_PAGES);
		r = -E2BIG;
	}
	buf_free(&path);
	oci_result_free(&res);
	return r;
}

/* The ids of the tables we route in. */
static int
target_tables(struct oci_ctx *ctx, const struct prov_options *opts, char ***v, size_t *n)
{
	struct oci_subnet sn;
	size_t i;
	int r;

	switch (opts->tables) {
	case PROV_TABLES_LIST:
		for (i = 0; i < opts->n_route_tables; i++)
			if ((r = oci_ids_add(v, n, opts->route_tables[i])) < 0)
				return r;
		return 0;
	case PROV_TABLES_NETWORK:
		return network_tables(ctx, v, n);
	case PROV_TABLES_AUTO:
	default:
		/* Read again (the subnet's route table may have been switched),
		 * unless open() has just read it. */
		if (!ctx->subnet_fresh) {
			if ((r = read_subnet(ctx, &sn)) < 0)
				return r;
			ctx->subnet = sn;
		}
		ctx->subnet_fresh = 0;
		return oci_ids_add(v, n, ctx->subnet.route_table);
	}
}

static int
plan_forwarding(struct oci_ctx *ctx, const struct prov_options *opts,
    struct json_object *state, struct prov_plan *out)
{
	int r;

	/* open() has just read it: the first plan uses that answer. */
	if (!ctx->vnic_fresh && (r = oci_read_vnic(ctx, ctx->md.vnic, &ctx->vnic)) < 0)
		return r;
	ctx->vnic_fresh = 0;
	ctx->observed_skip = ctx->vnic.skip_sdc;
	if (!opts->disable_source_dest_check || ctx->vnic.skip_sdc != 0)
		return 0;
	/* Recorded before apply can change it (the agent saves after plan). */
	if (!json_object_object_get_ex(state, "skip_source_dest_check_original", NULL))
		json_object_object_add(state, "skip_source_dest_check_original",
		    json_object_new_boolean(0));
	return prov_plan_addv(out, PROV_FORWARDING, NULL, NULL, ctx->md.vnic, NULL,
	    "(skipSourceDestCheck false -> true)");
}

/* Plans one table into out; the table stays cached in ctx for apply. */
static int
plan_one(struct oci_ctx *ctx, const struct prov_options *opts, const char *id, int target,
    struct prov_plan *out)
{
	struct oci_plan_input in;
	struct oci_table_plan tp;
	struct oci_table *t, *nv;
	size_t i;
	int r;

	if ((nv = realloc(ctx->tables, (ctx->n_tables + 1) * sizeof(*nv))) == NULL)
		return -ENOMEM;
	ctx->tables = nv;
	t = &ctx->tables[ctx->n_tables];
	if ((r = oci_read_table(ctx, id, t)) < 0)
		return r;
	ctx->n_tables++;
	oci_plan_input_fill(ctx, opts, target, &in);
	if ((r = oci_plan_table(&in, t, &tp)) < 0)
		return r;
	for (i = 0; i < tp.n && r == 0; i++)
		r = prov_plan_addv(out, tp.v[i].action, t->id, &tp.v[i].dst, tp.v[i].target,
		    t->etag, tp.v[i].note);
	oci_table_plan_free(&tp);
	return r;
}

void
oci_plan_input_fill(struct oci_ctx *ctx, const struct prov_options *opts, int target,
    struct oci_plan_input *in)
{
	memset(in, 0, sizeof(*in));
	in->me = ctx->pip.id;
	in->desired = target ? opts->desired : NULL;
	in->ha_group = opts->ha_group;
	in->takeover = opts->takeover;
	in->leader = opts->leader;
	in->target_state = oci_target_state;
	in->arg = ctx;
}

static int
oci_plan(void *vctx, const struct prov_options *opts, struct json_object *state,
    struct prov_plan *out)
{
	struct oci_ctx *ctx = vctx;
	char **ids = NULL, **extra = NULL;
	size_t n = 0, n_extra = 0, i;
	int r;

	prov_clear_error();
	oci_cache_clear(ctx);
	if (opts->tables != PROV_TABLES_AUTO)
		ctx->subnet_fresh = 0;
	json_object_object_add(state, "provider", json_object_new_string("oci"));
	if ((r = plan_forwarding(ctx, opts, state, out)) < 0 ||
	    (r = target_tables(ctx, opts, &ids, &n)) < 0 ||
	    (r = oci_state_tables(state, ids, n, &extra, &n_extra)) < 0)
		goto out;
	for (i = 0; i < n && r == 0; i++)
		r = plan_one(ctx, opts, ids[i], 1, out);
	/* Tables we wrote to before and no longer route in: remove ours. */
	for (i = 0; i < n_extra && r == 0; i++) {
		r = plan_one(ctx, opts, extra[i], 0, out);
		if (r == -ENOENT) {
			log_info("oci: route table %s is gone; forgetting it", extra[i]);
			r = 0;
		}
	}
out:
	oci_ids_free(ids, n);
	oci_ids_free(extra, n_extra);
	return r;
}

const struct prov_ops oci_ops = {
	.name = "oci",
	.detect = oci_detect,
	.open = oci_open,
	.plan = oci_plan,
	.apply = oci_apply,
	.teardown = oci_teardown,
	.close = oci_close,
};
