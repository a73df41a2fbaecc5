/*
 * EC2 Query API responses parsed with expat: DescribeRouteTables,
 * DescribeNetworkInterfaces, <return>true</return> replies and the
 * <Response><Errors><Error> envelope.  Elements are matched by their full
 * path below the root element, never by searching the text.  DTDs and
 * entity declarations are refused; anything that is not the expected
 * document (an HTML error page, truncated XML) is -EBADMSG with the reason.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "aws.h"
#include "providers/http.h"

#define XP_MAX_DEPTH 24
#define XP_MAX_TEXT  (64u << 10)

struct xp {
	XML_Parser parser;
	const char *root;            /* expected root element(s), "A|B" */
	char rootname[128];
	char path[1024];             /* below the root: "routeTableSet/item/..." */
	size_t plen[XP_MAX_DEPTH];
	int depth;
	struct buf text;
	char why[256];
	int (*start)(struct xp *x);
	int (*end)(struct xp *x, const char *text);
	void *arg;
	/* scratch for tag pairs */
	char tag_key[256];
	char tag_val[256];
};

static void
xp_fail(struct xp *x, const char *fmt, ...)
{
	va_list ap;

	if (x->why[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(x->why, sizeof(x->why), fmt, ap);
		va_end(ap);
	}
	XML_StopParser(x->parser, XML_FALSE);
}

static int
root_ok(const char *want, const char *name)
{
	size_t n = strlen(name);
	const char *p = want, *bar;

	for (;;) {
		bar = strchr(p, '|');
		if ((size_t)((bar ? bar : p + strlen(p)) - p) == n && strncmp(p, name, n) == 0)
			return 1;
		if (bar == NULL)
			return 0;
		p = bar + 1;
	}
}

static void XMLCALL
on_start(void *arg, const XML_Char *name, const XML_Char **attrs)
{
	struct xp *x = arg;

	(void)attrs;
	size_t l;

	buf_reset(&x->text);
	if (x->depth == 0) {
		if (!root_ok(x->root, name)) {
			xp_fail(x, "unexpected root element <%.60s> (expected <%s>)", name, x->root);
			return;
		}
		cr_strlcpy(x->rootname, name, sizeof(x->rootname));
		x->path[0] = '\0';
		x->plen[x->depth++] = 0;
		return;
	}
	if (x->depth >= XP_MAX_DEPTH) {
		xp_fail(x, "elements nested too deeply");
		return;
	}
	l = x->plen[x->depth - 1];
	if (snprintf(x->path + l, sizeof(x->path) - l, "%s%s", l ? "/" : "", name) >=
	    (int)(sizeof(x->path) - l)) {
		xp_fail(x, "element path too long");
		return;
	}
	x->plen[x->depth++] = strlen(x->path);
	if (x->start != NULL && x->start(x) < 0)
		xp_fail(x, "out of memory");
}

static void XMLCALL
on_end(void *arg, const XML_Char *name)
{
	struct xp *x = arg;

	(void)name;

	if (x->depth > 1 && x->end != NULL &&
	    x->end(x, x->text.data ? x->text.data : "") < 0)
		xp_fail(x, "bad value \"%.80s\" in <%s>", x->text.data ? x->text.data : "",
		    x->path);
	buf_reset(&x->text);
	if (--x->depth > 0)
		x->path[x->plen[x->depth - 1]] = '\0';
}

static void XMLCALL
on_text(void *arg, const XML_Char *s, int len)
{
	struct xp *x = arg;

	if (buf_append(&x->text, s, (size_t)len) < 0)
		xp_fail(x, "text of <%s> too long", x->path);
}

static void XMLCALL
on_doctype(void *arg, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
	(void)sysid;
	(void)pubid;
	(void)has_internal_subset;
	xp_fail(arg, "DOCTYPE <!DOCTYPE %.40s> not allowed (an HTML error page?)", name);
}

static void XMLCALL
on_entity(void *arg, const XML_Char *name, int is_param, const XML_Char *value,
    int value_len, const XML_Char *base, const XML_Char *sysid,
    const XML_Char *pubid, const XML_Char *notation)
{
	(void)name, (void)is_param, (void)value, (void)value_len;
	(void)base, (void)sysid, (void)pubid, (void)notation;
	xp_fail(arg, "entity declarations not allowed");
}

/* A printable excerpt of the body for error messages. */
static void
excerpt(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, j = 0;

	for (i = 0; i < len && j + 1 < outlen && j < 60; i++)
		out[j++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : ' ';
	out[j] = '\0';
}

static int
xp_run(struct xp *x, const char *xml, size_t len)
{
	char ex[64];
	int r = 0;

	buf_init(&x->text, XP_MAX_TEXT);
	if ((x->parser = XML_ParserCreate("UTF-8")) == NULL)
		return -ENOMEM;
	XML_SetUserData(x->parser, x);
	XML_SetElementHandler(x->parser, on_start, on_end);
	XML_SetCharacterDataHandler(x->parser, on_text);
	XML_SetStartDoctypeDeclHandler(x->parser, on_doctype);
	XML_SetEntityDeclHandler(x->parser, on_entity);
	if (len > INT32_MAX ||
	    XML_Parse(x->parser, xml, (int)len, XML_TRUE) != XML_STATUS_OK || x->why[0]) {
		excerpt(xml, len, ex, sizeof(ex));
		if (x->why[0] == '\0')
			snprintf(x->why, sizeof(x->why), "line %lu col %lu: %s",
			    (unsigned long)XML_GetCurrentLineNumber(x->parser),
			    (unsigned long)XML_GetCurrentColumnNumber(x->parser) + 1,
			    XML_ErrorString(XML_GetErrorCode(x->parser)));
		prov_set_error("malformed EC2 response (%s): %s; body starts \"%s\"",
		    x->root, x->why, ex);
		r = -EBADMSG;
	}
	XML_ParserFree(x->parser);
	buf_free(&x->text);
	return r;
}

static int
grow(void **v, size_t *cap, size_t n, size_t size)
{
	void *nv;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 8;
	if ((nv = realloc(*v, ncap * size)) == NULL)
		return -ENOMEM;
	memset((char *)nv + *cap * size, 0, (ncap - *cap) * size);
	*v = nv;
	*cap = ncap;
	return 0;
}

static int
copy_id(char *dst, size_t len, const char *s)
{
	return cr_strlcpy(dst, s, len) < len ? 0 : -EINVAL;
}

/*
 * The pieces every DescribeX list parser shares.  add_item: at the start of
 * an item element, one more zeroed item at the end of the array (1), or not
 * that element (0), or -ENOMEM.  item_field: at the end of an element, the
 * field path below prefix ("xSet/item/") of the last item, or NULL when the
 * element is not inside an item.  parse_list: the document, then every item
 * must pass ok() or the whole answer is -EBADMSG ("what" says why).
 */
static int
add_item(struct xp *x, const char *path, void **v, size_t *cap, size_t *n, size_t size)
{
	int r;

	if (strcmp(x->path, path) != 0)
		return 0;
	if ((r = grow(v, cap, *n, size)) < 0)
		return r;
	memset((char *)*v + (*n)++ * size, 0, size);
	return 1;
}

static const char *
item_field(const struct xp *x, const char *prefix, size_t n_items)
{
	size_t pl = strlen(prefix);

	if (n_items == 0 || strncmp(x->path, prefix, pl) != 0)
		return NULL;
	return x->path + pl;
}

static int
parse_list(struct xp *x, const char *xml, size_t len, char *next_token,
    void *const *v, const size_t *n, size_t size, int (*ok)(const void *item),
    const char *what)
{
	size_t i;
	int r;

	next_token[0] = '\0';
	if ((r = xp_run(x, xml, len)) < 0)
		return r;
	for (i = 0; i < *n; i++) {
		if (!ok((const char *)*v + i * size)) {
			prov_set_error("malformed EC2 response: %s", what);
			return -EBADMSG;
		}
	}
	return 0;
}

/* ---- DescribeRouteTables ---- */

static int
rt_start(struct xp *x)
{
	struct aws_rt_list *l = x->arg;
	struct aws_route_table *t;
	int r;

	if ((r = add_item(x, "routeTableSet/item", (void **)&l->v, &l->cap, &l->n,
	    sizeof(*l->v))) != 0 || l->n == 0)
		return r < 0 ? r : 0;
	t = &l->v[l->n - 1];
	r = add_item(x, "routeTableSet/item/routeSet/item", (void **)&t->routes, &t->cap,
	    &t->n, sizeof(*t->routes));
	return r < 0 ? r : 0;
}

static int
route_field(struct aws_route *rt, const char *f, const char *v)
{
	if (strcmp(f, "destinationCidrBlock") == 0 ||
	    strcmp(f, "destinationIpv6CidrBlock") == 0) {
		rt->has_dst = 1;
		return prefix_parse(v, &rt->dst, 0);
	}
	if (strcmp(f, "networkInterfaceId") == 0)
		return copy_id(rt->eni, sizeof(rt->eni), v);
	if (strcmp(f, "instanceId") == 0)
		return copy_id(rt->instance, sizeof(rt->instance), v);
	if (strcmp(f, "gatewayId") == 0)
		return copy_id(rt->gateway, sizeof(rt->gateway), v);
	if (strcmp(f, "natGatewayId") == 0 || strcmp(f, "transitGatewayId") == 0 ||
	    strcmp(f, "vpcPeeringConnectionId") == 0 ||
	    strcmp(f, "egressOnlyInternetGatewayId") == 0 ||
	    strcmp(f, "carrierGatewayId") == 0 || strcmp(f, "localGatewayId") == 0 ||
	    strcmp(f, "coreNetworkArn") == 0)
		return copy_id(rt->other, sizeof(rt->other), v);
	if (strcmp(f, "state") == 0) {
		rt->blackhole = strcmp(v, "blackhole") == 0;
		return 0;
	}
	if (strcmp(f, "origin") == 0) {
		if (strcmp(v, "CreateRoute") == 0)
			rt->origin = AWS_ORIGIN_CREATE_ROUTE;
		else if (strcmp(v, "CreateRouteTable") == 0)
			rt->origin = AWS_ORIGIN_TABLE;
		else if (strcmp(v, "EnableVgwRoutePropagation") == 0)
			rt->origin = AWS_ORIGIN_PROPAGATED;
		else
			rt->origin = AWS_ORIGIN_OTHER;
	}
	return 0;
}

static int
rt_end(struct xp *x, const char *v)
{
	static const char rprefix[] = "routeSet/item/";
	struct aws_rt_list *l = x->arg;
	struct aws_route_table *t;
	const char *f;

	if (strcmp(x->path, "nextToken") == 0)
		return copy_id(l->next_token, sizeof(l->next_token), v);
	if ((f = item_field(x, "routeTableSet/item/", l->n)) == NULL)
		return 0;
	t = &l->v[l->n - 1];
	if (strcmp(f, "routeTableId") == 0)
		return copy_id(t->id, sizeof(t->id), v);
	if (strcmp(f, "vpcId") == 0)
		return copy_id(t->vpc, sizeof(t->vpc), v);
	if (strcmp(f, "associationSet/item/main") == 0) {
		if (strcmp(v, "true") == 0)
			t->main = 1;
		return 0;
	}
	if (strcmp(f, "associationSet/item/subnetId") == 0) {
		t->n_subnets++;
		return 0;
	}
	if (strncmp(f, rprefix, sizeof(rprefix) - 1) == 0 && t->n > 0 &&
	    strchr(f + sizeof(rprefix) - 1, '/') == NULL)
		return route_field(&t->routes[t->n - 1], f + sizeof(rprefix) - 1, v);
	return 0;
}

static int
rt_ok(const void *item)
{
	return ((const struct aws_route_table *)item)->id[0] != '\0';
}

int
aws_xml_route_tables(const char *xml, size_t len, struct aws_rt_list *out)
{
	struct xp x = { .root = "DescribeRouteTablesResponse", .start = rt_start,
	    .end = rt_end, .arg = out };

	return parse_list(&x, xml, len, out->next_token, (void *const *)&out->v, &out->n,
	    sizeof(*out->v), rt_ok, "route table without routeTableId");
}

void
aws_rt_list_free(struct aws_rt_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].routes);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- DescribeNetworkInterfaces ---- */

static int
eni_start(struct xp *x)
{
	struct aws_eni_list *l = x->arg;
	int r;

	if ((r = add_item(x, "networkInterfaceSet/item", (void **)&l->v, &l->cap, &l->n,
	    sizeof(*l->v))) != 0) {
		if (r > 0)
			l->v[l->n - 1].source_dest_check = -1;
		return r < 0 ? r : 0;
	}
	if (strcmp(x->path, "networkInterfaceSet/item/tagSet/item") == 0)
		x->tag_key[0] = x->tag_val[0] = '\0';
	return 0;
}

static int
eni_end(struct xp *x, const char *v)
{
	struct aws_eni_list *l = x->arg;
	struct aws_eni *e;
	const char *f;

	if (strcmp(x->path, "nextToken") == 0)
		return copy_id(l->next_token, sizeof(l->next_token), v);
	if ((f = item_field(x, "networkInterfaceSet/item/", l->n)) == NULL)
		return 0;
	e = &l->v[l->n - 1];
	if (strcmp(f, "networkInterfaceId") == 0)
		return copy_id(e->id, sizeof(e->id), v);
	if (strcmp(f, "status") == 0)
		return copy_id(e->status, sizeof(e->status), v);
	if (strcmp(f, "subnetId") == 0)
		return copy_id(e->subnet, sizeof(e->subnet), v);
	if (strcmp(f, "vpcId") == 0)
		return copy_id(e->vpc, sizeof(e->vpc), v);
	if (strcmp(f, "attachment/instanceId") == 0)
		return copy_id(e->instance, sizeof(e->instance), v);
	if (strcmp(f, "sourceDestCheck") == 0) {
		if (strcmp(v, "true") == 0)
			e->source_dest_check = 1;
		else if (strcmp(v, "false") == 0)
			e->source_dest_check = 0;
		else
			return -EINVAL;
		return 0;
	}
	if (strcmp(f, "tagSet/item/key") == 0)
		return copy_id(x->tag_key, sizeof(x->tag_key), v);
	if (strcmp(f, "tagSet/item/value") == 0)
		return copy_id(x->tag_val, sizeof(x->tag_val), v);
	if (strcmp(f, "tagSet/item") == 0 && strcmp(x->tag_key, AWS_HA_TAG_KEY) == 0) {
		e->has_ha_tag = 1;
		return copy_id(e->ha_group, sizeof(e->ha_group), x->tag_val);
	}
	return 0;
}

static int
eni_ok(const void *item)
{
	return ((const struct aws_eni *)item)->id[0] != '\0';
}

int
aws_xml_enis(const char *xml, size_t len, struct aws_eni_list *out)
{
	struct xp x = { .root = "DescribeNetworkInterfacesResponse", .start = eni_start,
	    .end = eni_end, .arg = out };

	return parse_list(&x, xml, len, out->next_token, (void *const *)&out->v, &out->n,
	    sizeof(*out->v), eni_ok, "interface without networkInterfaceId");
}

void
aws_eni_list_free(struct aws_eni_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- errors and <return> ---- */

static int
err_end(struct xp *x, const char *v)
{
	struct aws_error *e = x->arg;

	if ((strcmp(x->path, "Errors/Error/Code") == 0 ||
	    strcmp(x->path, "Error/Code") == 0) && e->code[0] == '\0')
		cr_strlcpy(e->code, v, sizeof(e->code));
	else if ((strcmp(x->path, "Errors/Error/Message") == 0 ||
	    strcmp(x->path, "Error/Message") == 0) && e->message[0] == '\0')
		cr_strlcpy(e->message, v, sizeof(e->message));
	else if (strcmp(x->path, "RequestID") == 0 || strcmp(x->path, "RequestId") == 0)
		cr_strlcpy(e->request_id, v, sizeof(e->request_id));
	return 0;
}

int
aws_xml_error(const char *xml, size_t len, struct aws_error *out)
{
	struct xp x = { .root = "Response|ErrorResponse", .end = err_end, .arg = out };
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = xp_run(&x, xml, len)) < 0)
		return r;
	if (out->code[0] == '\0') {
		prov_set_error("malformed EC2 error response: no <Code>");
		return -EBADMSG;
	}
	return 0;
}

struct ret {
	int seen;
	int value;
};

static int
ret_end(struct xp *x, const char *v)
{
	struct ret *rt = x->arg;

	if (strcmp(x->path, "return") == 0) {
		rt->seen = 1;
		rt->value = strcmp(v, "true") == 0;
	}
	return 0;
}

int
aws_xml_return(const char *xml, size_t len, const char *action)
{
	char root[160];
	struct ret rt = { 0, 0 };
	struct xp x = { .root = root, .end = ret_end, .arg = &rt };
	int r;

	snprintf(root, sizeof(root), "%sResponse", action);
	if ((r = xp_run(&x, xml, len)) < 0)
		return r;
	if (!rt.seen) {
		prov_set_error("malformed EC2 response (%s): no <return>", root);
		return -EBADMSG;
	}
	if (!rt.value) {
		prov_set_error("EC2 %s returned false", action);
		return -EIO;
	}
	return 0;
}

/* ---- DescribeInstances (only id and state: what HA needs) ---- */

static int
inst_start(struct xp *x)
{
	struct aws_instance_list *l = x->arg;
	int r;

	r = add_item(x, "reservationSet/item/instancesSet/item", (void **)&l->v, &l->cap,
	    &l->n, sizeof(*l->v));
	return r < 0 ? r : 0;
}

static int
inst_end(struct xp *x, const char *v)
{
	struct aws_instance_list *l = x->arg;
	struct aws_instance *i;
	const char *f;

	if (strcmp(x->path, "nextToken") == 0)
		return copy_id(l->next_token, sizeof(l->next_token), v);
	if ((f = item_field(x, "reservationSet/item/instancesSet/item/", l->n)) == NULL)
		return 0;
	i = &l->v[l->n - 1];
	if (strcmp(f, "instanceId") == 0)
		return copy_id(i->id, sizeof(i->id), v);
	if (strcmp(f, "instanceState/name") == 0)
		return copy_id(i->state, sizeof(i->state), v);
	return 0;
}

static int
inst_ok(const void *item)
{
	const struct aws_instance *i = item;

	return i->id[0] != '\0' && i->state[0] != '\0';
}

int
aws_xml_instances(const char *xml, size_t len, struct aws_instance_list *out)
{
	struct xp x = { .root = "DescribeInstancesResponse", .start = inst_start,
	    .end = inst_end, .arg = out };

	return parse_list(&x, xml, len, out->next_token, (void *const *)&out->v, &out->n,
	    sizeof(*out->v), inst_ok, "instance without instanceId or instanceState");
}

void
aws_instance_list_free(struct aws_instance_list *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}
