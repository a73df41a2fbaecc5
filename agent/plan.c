/*
 * Plan container and printing.  An action costs what it holds: its strings
 * are in a per-plan arena, the array is reserved at the count when the
 * planner knows it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/plan.h"
#include "agent/desired.h"
#include "common/util.h"

/* The string arena: chunks from 4 KiB doubling to 64 KiB (a string longer
 * than that gets a chunk of its own), freed together by plan_free. */
#define CHUNK_MIN 4096
#define CHUNK_MAX (64 * 1024)

struct plan_chunk {
	struct plan_chunk *next;
	size_t used, cap;
	char data[];
};

static char *
arena_alloc(struct plan *p, size_t len)
{
	struct plan_chunk *c = p->strs;
	size_t cap;
	char *s;

	if (c == NULL || c->cap - c->used < len) {
		cap = c == NULL ? CHUNK_MIN : c->cap >= CHUNK_MAX / 2 ? CHUNK_MAX : c->cap * 2;
		if (cap < len)
			cap = len;
		if ((c = malloc(sizeof(*c) + cap)) == NULL)
			fatal("plan string");
		c->next = p->strs;
		c->used = 0;
		c->cap = cap;
		p->strs = c;
	}
	s = c->data + c->used;
	c->used += len;
	return s;
}

const char *
plan_str(struct plan *p, const char *s)
{
	size_t len = strlen(s) + 1;

	if (len == 1)
		return "";
	return memcpy(arena_alloc(p, len), s, len);
}

const char *
plan_strf(struct plan *p, const char *fmt, ...)
{
	va_list ap, aq;
	char *s;
	int n;

	va_start(ap, fmt);
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		fatal("plan_strf");
	s = arena_alloc(p, (size_t)n + 1);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

void
plan_reserve(struct plan *p, size_t more)
{
	struct action *nv;

	if (more <= p->cap - p->n)
		return;
	if (more > SIZE_MAX / sizeof(*nv) - p->n ||
	    (nv = reallocarray(p->v, p->n + more, sizeof(*nv))) == NULL)
		fatal("plan_reserve");
	p->v = nv;
	p->cap = p->n + more;
}

struct action *
plan_add(struct plan *p, enum plan_section sec, enum act_kind kind, char sign,
    const char *fmt, ...)
{
	char text[PLAN_TEXT_MAX];
	struct action *a;
	va_list ap;

	if (p->n == p->cap)
		plan_reserve(p, p->cap ? p->cap : 16);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	a = &p->v[p->n++];
	memset(a, 0, sizeof(*a));
	a->sec = sec;
	a->kind = kind;
	a->sign = sign;
	a->text = plan_str(p, text);
	a->key = a->val = a->from = "";
	return a;
}

size_t
plan_changes(const struct plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->v[i].kind != ACT_NOTE && p->v[i].kind != ACT_CONFLICT &&
		    p->v[i].kind != ACT_SYSCTL_FORGET)
			n++;
	return n + prov_plan_mutations(&p->cloud);
}

size_t
plan_conflicts(const struct plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		n += p->v[i].kind == ACT_CONFLICT;
	for (i = 0; i < p->cloud.n; i++)
		n += p->cloud.v[i].action == PROV_CONFLICT;
	return n;
}

size_t
plan_route_conflicts(const struct plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		n += p->v[i].kind == ACT_CONFLICT && p->v[i].sec == SEC_HOST &&
		    p->v[i].dst.family != 0;
	return n;
}

static const char *const sec_names[] = { "host", "tunnel", "cloud" };

/* " [from peer hub, config]" for a cloud route we want; "" otherwise. */
static const char *
cloud_origin(const struct plan *p, const struct prov_change *c, char *buf, size_t len)
{
	buf[0] = '\0';
	if (c->dst.family != 0 && (c->action == PROV_CREATE || c->action == PROV_REPLACE ||
	    c->action == PROV_KEEP))
		desired_origin_fmt(p->desired, &c->dst, buf, len);
	return buf;
}

static void print_lines(const struct plan *p, FILE *out, int verbose);

void
plan_print(const struct plan *p, FILE *out, int verbose)
{
	print_lines(p, out, verbose);
	if (plan_changes(p) == 0)
		fprintf(out, "no changes%s\n", plan_conflicts(p) ? " (conflicts left alone)" : "");
	else
		fprintf(out, "%zu change%s pending\n", plan_changes(p), plan_changes(p) == 1 ? "" : "s");
}

void
plan_print_doing(const struct plan *p, FILE *out)
{
	size_t n = plan_changes(p);

	fprintf(out, "%zu change%s%s\n", n, n == 1 ? "" : "s", n ? ":" : "");
	print_lines(p, out, 0);
}

static void
print_lines(const struct plan *p, FILE *out, int verbose)
{
	char line[512], o[160];
	size_t i;
	int s, printed;

	for (s = SEC_HOST; s <= SEC_CLOUD; s++) {
		printed = 0;
		for (i = 0; i < p->n; i++) {
			if ((int)p->v[i].sec != s || (p->v[i].sign == '.' && !verbose))
				continue;
			if (!printed++)
				fprintf(out, "%s:\n", sec_names[s]);
			fprintf(out, "  %c %s\n", p->v[i].sign, p->v[i].text);
		}
		if (s != SEC_CLOUD)
			continue;
		for (i = 0; i < p->cloud.n; i++) {
			if (p->cloud.v[i].action == PROV_KEEP && !verbose)
				continue;
			if (!printed++)
				fprintf(out, "%s:\n", sec_names[s]);
			fprintf(out, "  %s%s\n", prov_change_fmt_v(&p->cloud.v[i], verbose, line,
			    sizeof(line)), cloud_origin(p, &p->cloud.v[i], o, sizeof(o)));
		}
	}
}

static const char *
act_name(char sign)
{
	switch (sign) {
	case '+': return "add";
	case '~': return "change";
	case '-': return "remove";
	case '!': return "conflict";
	case '=': return "keep";
	default: return "note";
	}
}

static void
jstr(struct json_object *o, const char *key, const char *val)
{
	if (val != NULL && val[0])
		json_object_object_add(o, key, json_object_new_string(val));
}

/* kind and object of a host/tunnel action (what it acts on). */
static void
host_fields(const struct action *a, struct json_object *o)
{
	static const char *const kinds[] = {
		[ACT_NOTE] = "note", [ACT_CONFLICT] = "conflict", [ACT_SYSCTL] = "sysctl",
		[ACT_SYSCTL_RESTORE] = "sysctl", [ACT_SYSCTL_FORGET] = "sysctl",
		[ACT_SYSCTL_FILE] = "sysctl-file", [ACT_SYSCTL_FILE_REMOVE] = "sysctl-file",
		[ACT_NFT_REPLACE] = "nftables", [ACT_NFT_DELETE] = "nftables",
		[ACT_ROUTE_ADD] = "route", [ACT_ROUTE_DEL] = "route",
		[ACT_ADDR_ADD] = "address", [ACT_LINK] = "link", [ACT_FW] = "firewall",
	};
	char b[PREFIX_STRLEN];

	if ((size_t)a->kind < sizeof(kinds) / sizeof(kinds[0]) && kinds[a->kind] != NULL)
		jstr(o, "kind", kinds[a->kind]);
	switch (a->kind) {
	case ACT_SYSCTL:
	case ACT_SYSCTL_RESTORE:
	case ACT_SYSCTL_FORGET:
		jstr(o, "object", a->key);
		jstr(o, "from", a->from);
		jstr(o, "to", a->val);
		break;
	case ACT_SYSCTL_FILE:
	case ACT_SYSCTL_FILE_REMOVE:
		jstr(o, "object", a->key);
		break;
	case ACT_NFT_REPLACE:
	case ACT_NFT_DELETE:
		jstr(o, "object", "table inet cloudroute");
		break;
	case ACT_ROUTE_ADD:
	case ACT_ROUTE_DEL:
	case ACT_ADDR_ADD:
		jstr(o, "object", prefix_fmt(&a->dst, b, sizeof(b)));
		jstr(o, "dev", a->ifname);
		break;
	case ACT_LINK:
		jstr(o, "object", a->ifname);
		jstr(o, "to", a->val);
		break;
	case ACT_FW:
		jstr(o, "object", a->key);      /* "ip filter DOCKER-USER" */
		break;
	default:
		break;
	}
}

static void
cloud_fields(const struct plan *p, const struct prov_change *c, struct json_object *o)
{
	const struct ds_origin *og;
	char b[PREFIX_STRLEN];

	if (c->action == PROV_FORWARDING || c->action == PROV_FORWARDING_RESTORE) {
		jstr(o, "kind", "forwarding");
		jstr(o, "object", c->target);
		return;
	}
	if (c->dst.family == 0) {
		jstr(o, "kind", "tag");
		jstr(o, "object", c->target);
		return;
	}
	jstr(o, "kind", "route");
	jstr(o, "table", c->table);
	jstr(o, "object", prefix_fmt(&c->dst, b, sizeof(b)));
	if (c->action == PROV_CREATE || c->action == PROV_REPLACE || c->action == PROV_KEEP)
		jstr(o, "to", c->target);
	if (c->action == PROV_REPLACE)
		jstr(o, "from", c->handle);
	if (c->action == PROV_CONFLICT || c->action == PROV_DELETE)
		jstr(o, "from", c->target);
	jstr(o, "handle", c->handle);
	jstr(o, "note", c->note);
	if (p->desired != NULL && c->action != PROV_CONFLICT && c->action != PROV_DELETE &&
	    (og = desired_origin(p->desired, &c->dst)) != NULL)
		jstr(o, "source", og->source);
}

/*
 * One object per change: section, op ("+", ...), action ("add", "change",
 * "remove", "conflict", "keep", "note"), kind, object, from, to (and for
 * cloud routes table, handle, source), plus "what", the line plan prints.
 */
struct json_object *
plan_json(const struct plan *p)
{
	struct json_object *a = json_object_new_array();
	char line[512], sign[2] = { 0, 0 };
	size_t i;

	for (i = 0; i < p->n; i++) {
		struct json_object *o = json_object_new_object();
		sign[0] = p->v[i].sign;
		json_object_object_add(o, "section", json_object_new_string(sec_names[p->v[i].sec]));
		json_object_object_add(o, "op", json_object_new_string(sign));
		json_object_object_add(o, "action", json_object_new_string(act_name(sign[0])));
		host_fields(&p->v[i], o);
		json_object_object_add(o, "what", json_object_new_string(p->v[i].text));
		json_object_array_add(a, o);
	}
	for (i = 0; i < p->cloud.n; i++) {
		struct json_object *o = json_object_new_object();

		prov_change_fmt(&p->cloud.v[i], line, sizeof(line));
		sign[0] = line[0];
		json_object_object_add(o, "section", json_object_new_string("cloud"));
		json_object_object_add(o, "op", json_object_new_string(sign));
		json_object_object_add(o, "action", json_object_new_string(act_name(sign[0])));
		cloud_fields(p, &p->cloud.v[i], o);
		json_object_object_add(o, "what", json_object_new_string(line + 2));
		json_object_array_add(a, o);
	}
	return a;
}

void
plan_free(struct plan *p)
{
	struct plan_chunk *c;
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i].blob);
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
	while ((c = p->strs) != NULL) {
		p->strs = c->next;
		free(c);
	}
	prov_plan_free(&p->cloud);
	p->cloud_planned = 0;
}
