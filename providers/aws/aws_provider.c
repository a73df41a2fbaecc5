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
aws_detect(long timeout_ms)
{
	struct aws_imds m;
	int r;

	aws_imds_init(&m, timeout_ms);
	r = aws_imds_token(&m);
	aws_imds_wipe(&m);
	return r == 0 ? 1 : 0;
}

static int
md(struct aws_ctx *ctx, const char *path, char *dst, size_t len)
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

/* Optional metadata: absent (404) is not an error. */
static void
md_opt(struct aws_ctx *ctx, const char *path, char *dst, size_t len)
{
	if (md(ctx, path, dst, len) < 0)
		dst[0] = '\0';
	prov_clear_error();
}

static int
identify(struct aws_ctx *ctx)
{
	struct aws_identity *id = &ctx->id;
	char mac[64], p[256];
	int r;

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
	md_opt(ctx, "meta-data/public-ipv4", id->public_ip, sizeof(id->public_ip));
	md_opt(ctx, "meta-data/placement/availability-zone", id->zone, sizeof(id->zone));
	return 0;
}

static int
export_identity(const struct aws_identity *a, struct prov_identity *id)
{
	struct prov_identity t = {
		.provider = "aws", .instance = (char *)a->instance, .nic = (char *)a->nic,
		.private_ip = (char *)a->private_ip,
		.public_ip = a->public_ip[0] ? (char *)a->public_ip : NULL,
		.subnet = (char *)a->subnet, .network = (char *)a->network,
		.region = (char *)a->region, .zone = a->zone[0] ? (char *)a->zone : NULL,
	};

	return prov_identity_copy(id, &t);
}

static int
endpoint(struct aws_ctx *ctx)
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

static void aws_close(void *vctx);

static int
aws_open(void **out, struct prov_identity *id)
{
	struct aws_ctx *ctx;
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
	if (id != NULL && (r = export_identity(&ctx->id, id)) < 0)
		goto out;
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
aws_close(void *vctx)
{
	struct aws_ctx *ctx = vctx;

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

/* One Describe* call with every page.  next_token points into the list
 * that parse() appends to (the parser sets it from each page). */
static int
describe_paged(struct aws_ctx *ctx, const char *action, const struct filter *f, size_t nf,
    int (*parse)(const char *, size_t, void *), void *list, const char *next_token)
{
	struct aws_params p;
	struct buf resp;
	char token[1024] = "";
	int r = 0, page;

	buf_init(&resp, HTTP_MAX_RESPONSE);
	for (page = 0; page < MAX_PAGES; page++) {
		aws_params_init(&p);
		if ((r = add_filters(&p, f, nf, token)) == 0 &&
		    (r = aws_ec2_call(&ctx->ec2, action, &p, &resp, NULL)) == 0)
			r = parse(resp.data, resp.len, list);
		aws_params_free(&p);
		if (r < 0 || next_token[0] == '\0')
			break;
		cr_strlcpy(token, next_token, sizeof(token));
	}
	if (r == 0 && page == MAX_PAGES) {
		prov_set_error("%s: more than %d pages", action, MAX_PAGES);
		r = -E2BIG;
	}
	buf_free(&resp);
	return r;
}

static int
parse_tables(const char *xml, size_t len, void *l)
{
	return aws_xml_route_tables(xml, len, l);
}

static int
parse_enis(const char *xml, size_t len, void *l)
{
	return aws_xml_enis(xml, len, l);
}

static int
parse_instances(const char *xml, size_t len, void *l)
{
	return aws_xml_instances(xml, len, l);
}

static int
describe_tables(struct aws_ctx *ctx, const struct filter *f, size_t nf,
    struct aws_rt_list *out)
{
	return describe_paged(ctx, "DescribeRouteTables", f, nf, parse_tables, out,
	    out->next_token);
}

int
aws_read_tables_by_id(struct aws_ctx *ctx, const char *const *ids, size_t n,
    struct aws_rt_list *out)
{
	struct filter f = { "route-table-id", ids, n };

	return n ? describe_tables(ctx, &f, 1, out) : 0;
}

int
aws_read_enis(struct aws_ctx *ctx, const char *const *ids, size_t n,
    struct aws_eni_list *out)
{
	struct filter f = { "network-interface-id", ids, n };

	return n ? describe_paged(ctx, "DescribeNetworkInterfaces", &f, 1, parse_enis, out,
	    out->next_token) : 0;
}

int
aws_read_instances(struct aws_ctx *ctx, const char *const *ids, size_t n,
    struct aws_instance_list *out)
{
	struct filter f = { "instance-id", ids, n };

	return n ? describe_paged(ctx, "DescribeInstances", &f, 1, parse_instances, out,
	    out->next_token) : 0;
}

/* Every table of our VPC that serves a subnet: the main table (it serves
 * every subnet without an explicit association) and each table with at
 * least one subnet association.  Unassociated tables serve nobody. */
static int
network_tables(struct aws_ctx *ctx, struct aws_rt_list *out)
{
	const char *vpc[1] = { ctx->id.network };
	struct filter vf = { "vpc-id", vpc, 1 };
	size_t i, k = 0;
	int r;

	if ((r = describe_tables(ctx, &vf, 1, out)) < 0)
		return r;
	for (i = 0; i < out->n; i++) {
		if (out->v[i].main || out->v[i].n_subnets > 0) {
			if (k != i) {
				struct aws_route_table t = out->v[k];

				out->v[k] = out->v[i];
				out->v[i] = t;
			}
			k++;
		}
	}
	for (i = k; i < out->n; i++)
		free(out->v[i].routes);
	out->n = k;
	if (out->n == 0) {
		prov_set_error("no route table serves a subnet of %s", ctx->id.network);
		return -ENOENT;
	}
	return 0;
}

/* The tables we route in: configured ids, the whole VPC's, our subnet's,
 * else the VPC's main. */
static int
target_tables(struct aws_ctx *ctx, const struct prov_options *opts,
    struct aws_rt_list *out)
{
	const char *subnet[1] = { ctx->id.subnet }, *vpc[1] = { ctx->id.network };
	const char *yes[1] = { "true" };
	struct filter sf = { "association.subnet-id", subnet, 1 };
	struct filter mf[2] = { { "vpc-id", vpc, 1 }, { "association.main", yes, 1 } };
	size_t i, j;
	int r;

	if (opts->tables == PROV_TABLES_NETWORK)
		return network_tables(ctx, out);
	if (opts->tables == PROV_TABLES_LIST && opts->n_route_tables > 0) {
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
extra_tables(struct aws_ctx *ctx, const struct aws_owned *owned, size_t n_owned,
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
peer_enis(struct aws_ctx *ctx, const struct aws_rt_list *t, size_t n_targets,
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

/* The instances behind same-group peer ENIs that look attached: only they
 * can hold a route we would otherwise take over (DescribeInstances is not
 * called when there is none, so a VPC without HA peers costs nothing). */
static int
peer_instances(struct aws_ctx *ctx, const struct prov_options *opts,
    const struct aws_eni_list *peers, struct aws_instance_list *out, int *read)
{
	const char **ids;
	size_t i, n = 0;
	int r;

	*read = 0;
	if (opts->takeover != PROV_TAKEOVER_GROUP || opts->leader || opts->ha_group == NULL ||
	    !opts->ha_group[0] || peers->n == 0)
		return 0;
	if ((ids = calloc(peers->n, sizeof(*ids))) == NULL)
		return -ENOMEM;
	for (i = 0; i < peers->n; i++) {
		const struct aws_eni *e = &peers->v[i];

		if (e->has_ha_tag && strcmp(e->ha_group, opts->ha_group) == 0 &&
		    e->instance[0] && strcmp(e->status, "in-use") == 0 &&
		    !has_id(ids, n, e->instance))
			ids[n++] = e->instance;
	}
	r = aws_read_instances(ctx, ids, n, out);
	*read = n > 0 && r == 0;
	free(ids);
	return r;
}

static int
aws_plan(void *vctx, const struct prov_options *opts,
    struct json_object *state, struct prov_plan *out)
{
	struct aws_ctx *ctx = vctx;
	const char *me[1] = { ctx->id.nic };
	struct aws_eni_list mine = { 0 }, peers = { 0 };
	struct aws_instance_list insts = { 0 };
	struct aws_rt_list tables = { 0 };
	struct aws_plan_input in;
	struct aws_owned *owned = NULL;
	size_t n_owned = 0, n_targets;
	int r, insts_read = 0;

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
	    (r = peer_enis(ctx, &tables, n_targets, opts->desired, &peers)) < 0 ||
	    (r = peer_instances(ctx, opts, &peers, &insts, &insts_read)) < 0)
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
	if (insts_read) {
		in.instances = insts.v;
		in.n_instances = insts.n;
	}
	in.leader = opts->leader;
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
	aws_instance_list_free(&insts);
	aws_rt_list_free(&tables);
	return r;
}

static int
aws_apply_v(void *ctx, const struct prov_options *opts, const struct prov_plan *plan,
    struct json_object *state)
{
	return aws_apply(ctx, opts, plan, state);
}

static int
aws_teardown_v(void *ctx, const struct prov_options *opts, struct json_object *state,
    int dry_run, struct prov_plan *out)
{
	(void)opts;
	return aws_teardown(ctx, state, dry_run, out);
}

const struct prov_ops aws_ops = {
	.name = "aws",
	.detect = aws_detect,
	.open = aws_open,
	.plan = aws_plan,
	.apply = aws_apply_v,
	.teardown = aws_teardown_v,
	.close = aws_close,
};
