/*
 * The provider registry (prov_select, with DMI-first detection), the
 * per-thread last error, identities, and the plan container shared by
 * every cloud.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "http.h"
#include "aws/aws.h"
#include "azure/azure.h"
#include "gcp/gcp.h"
#include "oci/oci_ctx.h"
#include "openstack/openstack.h"

static const struct prov_ops *const providers[] = {
	&aws_ops,
	&azure_ops,
	&gcp_ops,
	&oci_ops,
	&openstack_ops,
};

/* The per-thread error text is common/util.c's, shared with netcfg. */
void
prov_set_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cr_verror(fmt, ap);
	va_end(ap);
}

void
prov_clear_error(void)
{
	cr_clear_error();
}

const char *
prov_last_error(void)
{
	return cr_last_error();
}

static const struct prov_ops *
find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < ARRAY_SIZE(providers); i++)
		if (strcmp(providers[i]->name, name) == 0)
			return providers[i];
	return NULL;
}

int
prov_supported(const char *name)
{
	return find(name) != NULL;
}

const char *
prov_supported_list(void)
{
	static __thread char list[256];
	size_t i, n = 0;

	if (list[0] == '\0') {
		n += (size_t)snprintf(list, sizeof(list), "\"auto\"");
		for (i = 0; i < ARRAY_SIZE(providers) && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, ", \"%s\"",
			    providers[i]->name);
		if (n < sizeof(list))
			snprintf(list + n, sizeof(list) - n, ", \"none\"");
	}
	return list;
}

/* Without a DMI answer every provider is probed at once, each in its own
 * thread, so "auto" costs one probe timeout, not one per cloud. */
struct probe {
	const struct prov_ops *ops;
	pthread_t thr;
	int started, result;
};

static void *
probe_main(void *arg)
{
	struct probe *p = arg;

	p->result = p->ops->detect(1000);
	return NULL;
}

static const struct prov_ops *
probe_all(void)
{
	struct probe pr[ARRAY_SIZE(providers)];
	const struct prov_ops *found = NULL;
	size_t i;

	memset(pr, 0, sizeof(pr));
	for (i = 0; i < ARRAY_SIZE(providers); i++) {
		pr[i].ops = providers[i];
		pr[i].started = pthread_create(&pr[i].thr, NULL, probe_main, &pr[i]) == 0;
		if (!pr[i].started)
			pr[i].result = providers[i]->detect(1000);
	}
	for (i = 0; i < ARRAY_SIZE(providers); i++) {
		if (pr[i].started)
			pthread_join(pr[i].thr, NULL);
		if (pr[i].result == 1 && found == NULL)
			found = pr[i].ops;         /* registry order breaks ties */
	}
	return found;
}

int
prov_select(const char *name, const struct prov_ops **out)
{
	const char *dmi;

	*out = NULL;
	if (name == NULL || strcmp(name, "auto") == 0) {
		dmi = prov_detect_dmi();
		if (dmi != NULL && (*out = find(dmi)) != NULL) {
			if ((*out)->detect(2000) == 1)
				return 0;
			/* DMI names a cloud whose metadata does not answer: a
			 * machine image copied elsewhere, or metadata blocked. */
			prov_set_error("DMI says %s but its metadata service did not answer", dmi);
			*out = NULL;
			return -ENOENT;
		}
		if ((*out = probe_all()) != NULL)
			return 0;
		prov_set_error("no cloud detected (no metadata service answered)");
		return -ENOENT;
	}
	if ((*out = find(name)) != NULL)
		return 0;
	prov_set_error("unknown or unsupported cloud provider \"%s\"", name);
	return -ENOENT;
}

void
prov_identity_free(struct prov_identity *id)
{
	free(id->provider);
	free(id->instance);
	free(id->nic);
	free(id->private_ip);
	free(id->public_ip);
	free(id->subnet);
	free(id->network);
	free(id->region);
	free(id->zone);
	memset(id, 0, sizeof(*id));
}

static int
dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	return (*dst = strdup(src)) != NULL ? 0 : -ENOMEM;
}

int
prov_identity_copy(struct prov_identity *dst, const struct prov_identity *src)
{
	int r = 0;

	memset(dst, 0, sizeof(*dst));
	r |= dup_opt(&dst->provider, src->provider);
	r |= dup_opt(&dst->instance, src->instance);
	r |= dup_opt(&dst->nic, src->nic);
	r |= dup_opt(&dst->private_ip, src->private_ip);
	r |= dup_opt(&dst->public_ip, src->public_ip);
	r |= dup_opt(&dst->subnet, src->subnet);
	r |= dup_opt(&dst->network, src->network);
	r |= dup_opt(&dst->region, src->region);
	r |= dup_opt(&dst->zone, src->zone);
	if (r != 0) {
		prov_identity_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static void
change_free(struct prov_change *c)
{
	free(c->table);
	free(c->target);
	free(c->handle);
	free(c->note);
}

int
prov_plan_add(struct prov_plan *p, const struct prov_change *c)
{
	struct prov_change *nv, n;
	size_t ncap;

	if (p->n == p->cap) {
		ncap = p->cap ? p->cap * 2 : 16;
		nv = realloc(p->v, ncap * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		p->v = nv;
		p->cap = ncap;
	}
	n = *c;
	if (dup_opt(&n.table, c->table) | dup_opt(&n.target, c->target) |
	    dup_opt(&n.handle, c->handle) | dup_opt(&n.note, c->note)) {
		change_free(&n);
		return -ENOMEM;
	}
	p->v[p->n++] = n;
	return 0;
}

int
prov_plan_addv(struct prov_plan *p, enum prov_action a, const char *table,
    const struct prefix *dst, const char *target, const char *handle, const char *note)
{
	struct prov_change c;

	memset(&c, 0, sizeof(c));
	c.action = a;
	c.table = (char *)table;
	if (dst != NULL)
		c.dst = *dst;
	c.target = (char *)target;
	c.handle = (char *)handle;
	c.note = (char *)note;
	return prov_plan_add(p, &c);
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
	size_t i;

	for (i = 0; i < p->n; i++)
		change_free(&p->v[i]);
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

#define S(x) ((x) != NULL ? (x) : "")

/*
 * Route changes:  "+ cloud route rtb-0abc 100.96.0.0/11 -> eni-0123 (note)"
 * Conflicts:      "! cloud conflict rtb-0abc 192.168.0.0/22 -> eni-0999 (note)"
 * NIC changes:    "~ cloud forwarding eni-0123 (note)", "+ cloud tag eni-0123 (note)"
 * A DELETE without a destination is the removal of our NIC tag.  verbose
 * adds the provider's handle: " [cloudroute-100-96-0-0-11]".
 */
const char *
prov_change_fmt_v(const struct prov_change *c, int verbose, char *buf, size_t len)
{
	char dst[PREFIX_STRLEN];
	const char *note = S(c->note), *sep = note[0] ? " " : "";
	char sym = action_symbol(c->action);
	int hv = verbose && c->handle != NULL && c->handle[0];

	if (c->action == PROV_FORWARDING || c->action == PROV_FORWARDING_RESTORE) {
		snprintf(buf, len, "%c cloud forwarding %s%s%s", sym, S(c->target), sep, note);
	} else if (c->action == PROV_TAG ||
	    (c->action == PROV_DELETE && c->dst.family == 0)) {
		snprintf(buf, len, "%c cloud tag %s%s%s", sym, S(c->target), sep, note);
	} else {
		prefix_fmt(&c->dst, dst, sizeof(dst));
		snprintf(buf, len, "%c cloud %s %s %s -> %s%s%s%s%s%s", sym,
		    c->action == PROV_CONFLICT ? "conflict" : "route", S(c->table), dst,
		    c->target && c->target[0] ? c->target : "?", sep, note,
		    hv ? " [" : "", hv ? c->handle : "", hv ? "]" : "");
	}
	return buf;
}

const char *
prov_change_fmt(const struct prov_change *c, char *buf, size_t len)
{
	return prov_change_fmt_v(c, 0, buf, len);
}
