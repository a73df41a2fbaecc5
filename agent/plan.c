/*
 * Plan container and printing.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/plan.h"
#include "agent/desired.h"
#include "common/util.h"

struct action *
plan_add(struct plan *p, enum plan_section sec, enum act_kind kind, char sign,
    const char *fmt, ...)
{
	struct action *a;
	va_list ap;

	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 16;
		struct action *nv = reallocarray(p->v, ncap, sizeof(*nv));
		if (nv == NULL)
			fatal("plan_add");
		p->v = nv;
		p->cap = ncap;
	}
	a = &p->v[p->n++];
	memset(a, 0, sizeof(*a));
	a->sec = sec;
	a->kind = kind;
	a->sign = sign;
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
	return a;
}

size_t
plan_changes(const struct plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->v[i].kind != ACT_NOTE && p->v[i].kind != ACT_CONFLICT)
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

void
plan_print(const struct plan *p, FILE *out, int verbose)
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
	if (plan_changes(p) == 0)
		fprintf(out, "no changes%s\n", plan_conflicts(p) ? " (conflicts left alone)" : "");
	else
		fprintf(out, "%zu change%s pending\n", plan_changes(p), plan_changes(p) == 1 ? "" : "s");
}

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
		json_object_object_add(o, "what", json_object_new_string(p->v[i].text));
		json_object_array_add(a, o);
	}
	for (i = 0; i < p->cloud.n; i++) {
		struct json_object *o = json_object_new_object();
		const struct prov_change *c = &p->cloud.v[i];
		const struct ds_origin *og;

		prov_change_fmt(c, line, sizeof(line));
		sign[0] = line[0];
		json_object_object_add(o, "section", json_object_new_string("cloud"));
		json_object_object_add(o, "op", json_object_new_string(sign));
		json_object_object_add(o, "what", json_object_new_string(line + 2));
		if (c->handle != NULL)
			json_object_object_add(o, "handle", json_object_new_string(c->handle));
		if (p->desired != NULL && c->dst.family != 0 && c->action != PROV_CONFLICT &&
		    c->action != PROV_DELETE && (og = desired_origin(p->desired, &c->dst)) != NULL)
			json_object_object_add(o, "source", json_object_new_string(og->source));
		json_object_array_add(a, o);
	}
	return a;
}

void
plan_free(struct plan *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->v[i].blob);
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
	prov_plan_free(&p->cloud);
	p->cloud_planned = 0;
}
