/*
 * The AWS provider: detect (IMDSv2 token probe), open (identity from
 * metadata, credentials, endpoint), plan (read our ENI and the route tables,
 * then aws_plan_compute) and close.  apply and teardown are in aws_apply.c.
 *
 * Endpoints: CLOUDROUTE_AWS_METADATA_URL, else AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * else http://169.254.169.254; CLOUDROUTE_AWS_API_URL, else
 * AWS_ENDPOINT_URL_EC2, else https://ec2.<region>.amazonaws.com.  Reads use
 * filters rather than id lists so that a table or ENI that vanished is
 * simply absent instead of failing the whole call.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws.h"
#include "providers/http.h"

#define MAX_PAGES 100

static int
aws_detect(void)
{
	struct aws_imds m;
	int r;

	aws_imds_init(&m, 1000);
	r = aws_imds_token(&m);
	aws_imds_wipe(&m);
	return r == 0 ? 1 : 0;
}

static int
md(struct prov_ctx *ctx, const char *path, char *dst, size_t len)
{
	struct buf b;
	int r;

	buf_init(&b, 64 << 10);
	if ((r = aws_imds_get(&ctx->imds, path, &b)) < 0)
		goto out;
	b.data[strcspn(b.data, "\r\n")] = '\0';     /* first line (local-ipv4s) */
	if (b.data[0] == '\0' || cr_strlcpy(dst, b.data, len) >= len) {
		prov_set_error("instance metadata %s: empty or too long", path);
		r = -EBADMSG;
	}
out:
	buf_free(&b);
	return r;
}

static int
identify(struct prov_ctx *ctx)
{
	struct prov_identity *id = &ctx->id;
	char mac[64], p[256];
	int r;

	cr_strlcpy(id->provider, "aws", sizeof(id->provider));
	if ((r = md(ctx, "meta-data/instance-id", id->instance, sizeof(id->instance))) < 0 ||
	    (r = md(ctx, "meta-data/placement/region", id->region, sizeof(id->region))) < 0 ||
	    (r = md(ctx, "meta-data/mac", mac, sizeof(mac))) < 0)
		return r;
#define MACPATH(leaf) (snprintf(p, sizeof(p), \
	"meta-data/network/interfaces/macs/%s/" leaf, mac), p)
	if ((r = md(ctx, MACPATH("interface-id"), id->nic, sizeof(id->nic))) < 0 ||
	    (r = md(ctx, MACPATH("subnet-id"), id->subnet, sizeof(id->subnet))) < 0 ||
	    (r = md(ctx, MACPATH("vpc-id"), id->network, sizeof(id->network))) < 0 ||
	    (r = md(ctx, MACPATH("local-ipv4s"), id->private_ip, sizeof(id->private_ip))) < 0)
		return r;
#undef MACPATH
	return 0;
}

static int
endpoint(struct prov_ctx *ctx)
{
	const char *s = getenv("CLOUDROUTE_AWS_API_URL");
	struct aws_ec2 *e = &ctx->ec2;
	size_t n;
	int r;

	if (s == NULL || *s == '\0')
		s = getenv("AWS_ENDPOINT_URL_EC2");
	if (s != NULL && *s != '\0')
		cr_strlcpy(e->url, s, sizeof(e->url));
	else
		snprintf(e->url, sizeof(e->url), "https://ec2.%s.amazonaws.com", e->region);
	n = strlen(e->url);
	while (n > 0 && e->url[n - 1] == '/')
		e->url[--n] = '\0';
	if ((r = http_url_hostport(e->url, e->host, sizeof(e->host))) < 0)
		prov_set_error("invalid EC2 endpoint URL \"%s\"", e->url);
	return r;
}

static void aws_close(struct prov_ctx *ctx);

static int
aws_open(struct prov_ctx **out, struct prov_identity *id)
{
	struct prov_ctx *ctx;
	int r;

	*out = NULL;
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return -ENOMEM;
	ctx->observed_sdc = -1;
	aws_imds_init(&ctx->imds, 5000);
	if ((r = identify(ctx)) < 0)
		goto out;
	cr_strlcpy(ctx->ec2.region, ctx->id.region, sizeof(ctx->ec2.region));
	ctx->ec2.imds = &ctx->imds;
	if ((r = endpoint(ctx)) < 0 || (r = aws_creds_load(&ctx->imds, &ctx->ec2.creds)) < 0)
		goto out;
	if (id != NULL)
		*id = ctx->id;
	*out = ctx;
	log_debug("aws: instance %s eni %s subnet %s vpc %s region %s endpoint %s",
	    ctx->id.instance, ctx->id.nic, ctx->id.subnet, ctx->id.network,
	    ctx->id.region, ctx->ec2.url);
out:
	if (r < 0)
		aws_close(ctx);
	return r;
}

static void
aws_close(struct prov_ctx *ctx)
{
	if (ctx == NULL)
		return;
	aws_imds_wipe(&ctx->imds);
	aws_creds_wipe(&ctx->ec2.creds);
	free(ctx);
}

struct filter {
	const char *name;
	const char *const *values;
	size_t n;
};

static int
add_filters(struct aws_params *p, const struct filter *f, size_t nf, const char *token)
{
	size_t i, j;
	int r;

	for (i = 0; i < nf; i++) {
		if ((r = aws_params_addf(p, f[i].name, "Filter.%zu.Name", i + 1)) < 0)
			return r;
		for (j = 0; j < f[i].n; j++)
			if ((r = aws_params_addf(p, f[i].values[j], "Filter.%zu.Value.%zu",
			    i + 1, j + 1)) < 0)
				return r;
	}
	if ((r = aws_params_add(p, "MaxResults", "100")) < 0)
		return r;
	return token[0] ? aws_params_add(p, "NextToken", token) : 0;
}

static int
describe_tables(struct prov_ctx *ctx, const struct filter *f, size_t nf,
    struct aws_rt_list *out)
{
	struct aws_params p;
	struct buf resp;
	char token[1024] = "";
	int r = 0, page;

	buf_init(&resp, HTTP_MAX_RESPONSE);
	for (page = 0; page < MAX_PAGES; page++) {
		aws_params_init(&p);
		if ((r = add_filters(&p, f, nf, token)) == 0 &&
		    (r = aws_ec2_call(&ctx->ec2, "DescribeRouteTables", &p, &resp, NULL)) == 0)
			r = aws_xml_route_tables(resp.data, resp.len, out);
		aws_params_free(&p);
		if (r < 0 || out->next_token[0] == '\0')
			break;
		cr_strlcpy(token, out->next_token, sizeof(token));
	}
	if (r == 0 && page == MAX_PAGES) {
		prov_set_error("DescribeRouteTables: more than %d pages", MAX_PAGES);
		r = -E2BIG;
	}
	buf_free(&resp);
	return r;
}

int
aws_read_tables_by_id(struct prov_ctx *ctx, const char *const *ids, size_t n,
    struct aws_rt_list *out)
{
	struct filter f = { "route-table-id", ids, n };

	return n ? describe_tables(ctx, &f, 1, out) : 0;
}

int
aws_read_enis(struct prov_ctx *ctx, const char *const *ids, size_t n,
    struct aws_eni_list *out)
{
	struct filter f = { "network-interface-id", ids, n };
	struct aws_params p;
	struct buf resp;
	char token[1024] = "";
	int r = 0, page;

	if (n == 0)
		return 0;
	buf_init(&resp, HTTP_MAX_RESPONSE);
	for (page = 0; page < MAX_PAGES; page++) {
		aws_params_init(&p);
		if ((r = add_filters(&p, &f, 1, token)) == 0 &&
		    (r = aws_ec2_call(&ctx->ec2, "DescribeNetworkInterfaces", &p, &resp,
		    NULL)) == 0)
			r = aws_xml_enis(resp.data, resp.len, out);
		aws_params_free(&p);
		if (r < 0 || out->next_token[0] == '\0')
			break;
		cr_strlcpy(token, out->next_token, sizeof(token));
	}
	buf_free(&resp);
	return r;
}

/* The tables we route in: configured ids, our subnet's, else the VPC's main. */
static int
target_tables(struct prov_ctx *ctx, const struct prov_options *opts,
    struct aws_rt_list *out)
{
	const char *subnet[1] = { ctx->id.subnet }, *vpc[1] = { ctx->id.network };
	const char *yes[1] = { "true" };
	struct filter sf = { "association.subnet-id", subnet, 1 };
	struct filter mf[2] = { { "vpc-id", vpc, 1 }, { "association.main", yes, 1 } };
	size_t i, j;
	int r;

	if (opts->route_tables != NULL && opts->n_route_tables > 0) {
		if ((r = aws_read_tables_by_id(ctx, opts->route_tables,
		    opts->n_route_tables, out)) < 0)
			return r;
		for (i = 0; i < opts->n_route_tables; i++) {
			for (j = 0; j < out->n; j++)
				if (strcmp(out->v[j].id, opts->route_tables[i]) == 0)
					break;
			if (j == out->n) {
				prov_set_error("configured route table %s not found",
				    opts->route_tables[i]);
				return -ENOENT;
			}
		}
		return 0;
	}
	if ((r = describe_tables(ctx, &sf, 1, out)) < 0 || out->n > 0)
		return r;
	if ((r = describe_tables(ctx, mf, 2, out)) < 0)
		return r;
	if (out->n == 0) {
		prov_set_error("no route table for subnet %s (no explicit association and "
		    "no main table in %s)", ctx->id.subnet, ctx->id.network);
		return -ENOENT;
	}
	return 0;
}

static int
has_id(const char *const *v, size_t n, const char *id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v[i], id) == 0)
			return 1;
	return 0;
}

/* Tables recorded in state that are not targets: read for cleanup. */
static int
extra_tables(struct prov_ctx *ctx, const struct aws_owned *owned, size_t n_owned,
    struct aws_rt_list *tables)
{
	const char **ids = NULL;
	size_t n = 0, i, j;
	int r = 0;

	if (n_owned == 0)
		return 0;
	if ((ids = calloc(n_owned, sizeof(*ids))) == NULL)
		return -ENOMEM;
	for (i = 0; i < n_owned; i++) {
		for (j = 0; j < tables->n; j++)
			if (strcmp(tables->v[j].id, owned[i].table) == 0)
				break;
		if (j == tables->n && !has_id(ids, n, owned[i].table))
			ids[n++] = owned[i].table;
	}
	if (n > 0)
		r = aws_read_tables_by_id(ctx, ids, n, tables);
	free(ids);
	return r;
}

/* Foreign ENIs that our desired prefixes point at (for ha-group takeover). */
static int
peer_enis(struct prov_ctx *ctx, const struct aws_rt_list *t, size_t n_targets,
    const struct prefix_set *desired, struct aws_eni_list *out)
{
	const char **ids = NULL;
	const struct aws_route *rt;
	size_t n = 0, cap = 0, i, j;
	int r = 0;

	for (i = 0; i < n_targets; i++) {
		for (j = 0; j < t->v[i].n; j++) {
			rt = &t->v[i].routes[j];
			if (!rt->has_dst || !rt->eni[0] || rt->blackhole ||
			    strcmp(rt->eni, ctx->id.nic) == 0 || desired == NULL ||
			    !prefix_set_has(desired, &rt->dst) || has_id(ids, n, rt->eni))
				continue;
			if (n == cap) {
				const char **nv;

				cap = cap ? 2 * cap : 8;
				if ((nv = realloc(ids, cap * sizeof(*ids))) == NULL) {
					r = -ENOMEM;
					goto out;
				}
				ids = nv;
			}
			ids[n++] = rt->eni;
		}
	}
	r = aws_read_enis(ctx, ids, n, out);
out:
	free(ids);
	return r;
}

static int
aws_plan(struct prov_ctx *ctx, const struct prov_options *opts,
    struct json_object *state, struct prov_plan *out)
{
	const char *me[1] = { ctx->id.nic };
	struct aws_eni_list mine = { 0 }, peers = { 0 };
	struct aws_rt_list tables = { 0 };
	struct aws_plan_input in;
	struct aws_owned *owned = NULL;
	size_t n_owned = 0, n_targets;
	int r;

	prov_clear_error();
	if ((r = aws_read_enis(ctx, me, 1, &mine)) < 0)
		goto out;
	if (mine.n != 1) {
		prov_set_error("our network interface %s not found", ctx->id.nic);
		r = -ENOENT;
		goto out;
	}
	ctx->observed_sdc = mine.v[0].source_dest_check;
	/* Record the original before apply can change it: the agent saves the
	 * state between plan and apply, so a crash right after the
	 * ModifyNetworkInterfaceAttribute call cannot lose it. */
	if (opts->disable_source_dest_check && ctx->observed_sdc >= 0 &&
	    !json_object_object_get_ex(state, "source_dest_check_original", NULL))
		json_object_object_add(state, "source_dest_check_original",
		    json_object_new_boolean(ctx->observed_sdc));
	cr_strlcpy(ctx->observed_group, mine.v[0].has_ha_tag ? mine.v[0].ha_group : "",
	    sizeof(ctx->observed_group));
	if ((r = aws_state_owned(state, ctx->id.nic, &owned, &n_owned)) < 0 ||
	    (r = target_tables(ctx, opts, &tables)) < 0)
		goto out;
	n_targets = tables.n;
	if ((r = extra_tables(ctx, owned, n_owned, &tables)) < 0 ||
	    (r = peer_enis(ctx, &tables, n_targets, opts->desired, &peers)) < 0)
		goto out;
	memset(&in, 0, sizeof(in));
	in.eni = ctx->id.nic;
	in.our_eni = &mine.v[0];
	in.tables = tables.v;
	in.n_tables = tables.n;
	in.n_targets = n_targets;
	in.desired = opts->desired;
	in.others = peers.v;
	in.n_others = peers.n;
	in.owned = owned;
	in.n_owned = n_owned;
	in.ha_group = opts->ha_group;
	in.takeover = opts->takeover;
	in.disable_source_dest_check = opts->disable_source_dest_check;
	r = aws_plan_compute(&in, out);
out:
	free(owned);
	aws_eni_list_free(&mine);
	aws_eni_list_free(&peers);
	aws_rt_list_free(&tables);
	return r;
}

const struct prov_ops aws_ops = {
	.name = "aws",
	.detect = aws_detect,
	.open = aws_open,
	.plan = aws_plan,
	.apply = aws_apply,
	.teardown = aws_teardown,
	.close = aws_close,
};
