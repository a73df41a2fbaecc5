/*
 * The provider registry (prov_select), the per-thread last error, and the
 * plan container shared by every cloud.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "http.h"
#include "aws/aws.h"

static const struct prov_ops *const providers[] = {
	&aws_ops,
};

static __thread char last_error[512];

void
prov_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
}

void
prov_clear_error(void)
{
	last_error[0] = '\0';
}

const char *
prov_last_error(void)
{
	return last_error;
}

int
prov_select(const char *name, const struct prov_ops **out)
{
	size_t i;

	*out = NULL;
	if (name == NULL || strcmp(name, "auto") == 0) {
		for (i = 0; i < ARRAY_SIZE(providers); i++) {
			if (providers[i]->detect() == 1) {
				*out = providers[i];
				return 0;
			}
		}
		prov_set_error("no cloud detected (no metadata service answered)");
		return -ENOENT;
	}
	for (i = 0; i < ARRAY_SIZE(providers); i++) {
		if (strcmp(providers[i]->name, name) == 0) {
			*out = providers[i];
			return 0;
		}
	}
	prov_set_error("unknown or unsupported cloud provider \"%s\"", name);
	return -ENOENT;
}

int
prov_plan_add(struct prov_plan *p, const struct prov_change *c)
{
	struct prov_change *nv;
	size_t ncap;

	if (p->n == p->cap) {
		ncap = p->cap ? p->cap * 2 : 16;
		nv = realloc(p->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		p->v = nv;
		p->cap = ncap;
	}
	p->v[p->n++] = *c;
	return 0;
}

size_t
prov_plan_mutations(const struct prov_plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->n; i++)
		if (p->v[i].action != PROV_KEEP && p->v[i].action != PROV_CONFLICT)
			n++;
	return n;
}

void
prov_plan_free(struct prov_plan *p)
{
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

static char
action_symbol(enum prov_action a)
{
	switch (a) {
	case PROV_KEEP:
		return '=';
	case PROV_CREATE:
	case PROV_TAG:
		return '+';
	case PROV_DELETE:
		return '-';
	case PROV_CONFLICT:
		return '!';
	case PROV_REPLACE:
	case PROV_FORWARDING:
	case PROV_FORWARDING_RESTORE:
	default:
		return '~';
	}
}

/*
 * Route changes:  "+ cloud route rtb-0abc 100.96.0.0/11 -> eni-0123 (note)"
 * Conflicts:      "! cloud conflict rtb-0abc 192.168.0.0/22 -> eni-0999 (note)"
 * NIC changes:    "~ cloud forwarding eni-0123 (note)", "+ cloud tag eni-0123 (note)"
 * A DELETE without a destination is the removal of our NIC tag.
 */
const char *
prov_change_fmt(const struct prov_change *c, char *buf, size_t len)
{
	char dst[PREFIX_STRLEN];
	const char *sep = c->note[0] ? " " : "";
	char sym = action_symbol(c->action);

	if (c->action == PROV_FORWARDING || c->action == PROV_FORWARDING_RESTORE) {
		snprintf(buf, len, "%c cloud forwarding %s%s%s", sym, c->target, sep, c->note);
	} else if (c->action == PROV_TAG ||
	    (c->action == PROV_DELETE && c->dst.family == 0)) {
		snprintf(buf, len, "%c cloud tag %s%s%s", sym, c->target, sep, c->note);
	} else {
		prefix_fmt(&c->dst, dst, sizeof(dst));
		snprintf(buf, len, "%c cloud %s %s %s -> %s%s%s", sym,
		    c->action == PROV_CONFLICT ? "conflict" : "route", c->table, dst,
		    c->target[0] ? c->target : "?", sep, c->note);
	}
	return buf;
}
