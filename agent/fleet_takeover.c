/*
 * The fleet's fast takeover (see fleet_takeover.h): what a standby keeps
 * from its read-only passes, and the writes its first pass as leader makes
 * before anything else.  Cloud worker thread only.
 */
#include <errno.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/fleet_takeover.h"
#include "common/log.h"
#include "common/util.h"

/*
 * OpenStack is not among them: its extra routes carry no mark, so a route to
 * another connector's address is a conflict it never takes over, and a
 * standby's plan has no REPLACE to keep.
 */
int
fleet_takeover_supported(const char *provider)
{
	static const char *const fast[] = { "aws", "azure", "gcp", "oci" };
	size_t i;

	for (i = 0; provider != NULL && i < sizeof(fast) / sizeof(fast[0]); i++)
		if (strcmp(provider, fast[i]) == 0)
			return 1;
	return 0;
}

int
fleet_takeover_stale(const struct fleet_takeover *t, const struct prefix_set *desired,
    uint64_t now)
{
	return t->at_ms == 0 || now >= t->at_ms + FLEET_TAKEOVER_REFRESH_MS ||
	    !prefix_set_equal(&t->desired, desired);
}

void
fleet_takeover_free(struct fleet_takeover *t)
{
	prov_plan_free(&t->plan);
	prefix_set_free(&t->desired);
	memset(t, 0, sizeof(*t));
}

int
fleet_takeover_keep(struct fleet_takeover *t, const struct prov_plan *p,
    const struct prefix_set *desired, uint64_t now)
{
	size_t i;

	fleet_takeover_free(t);
	for (i = 0; i < p->n; i++)
		if (p->v[i].action == PROV_REPLACE && p->v[i].dst.family != 0 &&
		    prov_plan_add(&t->plan, &p->v[i]) < 0)
			goto nomem;
	for (i = 0; desired != NULL && i < desired->n; i++)
		if (prefix_set_add(&t->desired, &desired->v[i]) < 0)
			goto nomem;
	t->at_ms = now ? now : 1;
	return 0;
nomem:
	fleet_takeover_free(t);
	return -ENOMEM;
}

int
fleet_takeover_nic(const struct prov_plan *p, struct prov_plan *out)
{
	size_t i;
	int r;

	for (i = 0; i < p->n; i++) {
		if (p->v[i].action != PROV_FORWARDING && p->v[i].action != PROV_TAG)
			continue;
		if ((r = prov_plan_add(out, &p->v[i])) < 0)
			return r;
	}
	return 0;
}

int
fleet_takeover_plan(struct fleet_takeover *t, const struct prefix_set *desired,
    uint64_t now, struct prov_plan *out)
{
	const struct prov_change *c;
	size_t i;
	int r = 0;

	if (t->at_ms != 0 && now < t->at_ms + FLEET_TAKEOVER_MAX_AGE_MS) {
		for (i = 0; i < t->plan.n && r == 0; i++) {
			c = &t->plan.v[i];
			if (desired != NULL && prefix_set_has(desired, &c->dst))
				r = prov_plan_add(out, c);
		}
	}
	fleet_takeover_free(t);
	if (r < 0)
		prov_plan_free(out);
	return r;
}
