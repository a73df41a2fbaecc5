/*
 * The fleet's fast takeover planning (agent/fleet_takeover.c): what a
 * standby keeps from its plan, when it plans again, and what a new leader
 * writes at once (table-driven over a fake clock).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent/fleet_takeover.h"

static struct prefix
pfx(const char *s)
{
	struct prefix p;

	assert_int_equal(prefix_parse(s, &p, 0), 0);
	return p;
}

static void
set_of(struct prefix_set *s, const char *const *v)
{
	struct prefix p;

	memset(s, 0, sizeof(*s));
	for (; *v != NULL; v++) {
		p = pfx(*v);
		assert_int_equal(prefix_set_add(s, &p), 0);
	}
}

/* A standby's plan made with leader = 1: every kind of change. */
static void
standby_plan(struct prov_plan *p)
{
	struct prefix a = pfx("100.96.0.0/11"), b = pfx("10.2.0.0/16"), c = pfx("10.3.0.0/16");
	struct prefix d = pfx("10.9.0.0/16");

	memset(p, 0, sizeof(*p));
	assert_int_equal(prov_plan_addv(p, PROV_FORWARDING, NULL, NULL, "eni-me", NULL,
	    "(source/dest check on -> off)"), 0);
	assert_int_equal(prov_plan_addv(p, PROV_TAG, NULL, NULL, "eni-me", NULL, "(tag)"), 0);
	assert_int_equal(prov_plan_addv(p, PROV_REPLACE, "rtb-1", &a, "eni-me", "eni-leader",
	    "(elected leader of ha: takeover from eni-leader)"), 0);
	assert_int_equal(prov_plan_addv(p, PROV_REPLACE, "rtb-2", &a, "eni-me", "eni-leader",
	    NULL), 0);
	assert_int_equal(prov_plan_addv(p, PROV_REPLACE, "rtb-1", &b, "eni-me", "eni-gone",
	    "(takeover of blackhole route -> eni-gone)"), 0);
	assert_int_equal(prov_plan_addv(p, PROV_KEEP, "rtb-1", &c, "eni-me", NULL, NULL), 0);
	assert_int_equal(prov_plan_addv(p, PROV_CREATE, "rtb-2", &c, "eni-me", NULL, NULL), 0);
	assert_int_equal(prov_plan_addv(p, PROV_CONFLICT, "rtb-2", &b, "igw-1", NULL, NULL), 0);
	assert_int_equal(prov_plan_addv(p, PROV_DELETE, "rtb-1", &d, "eni-me", NULL, NULL), 0);
}

static void
test_keep_and_nic(void **state)
{
	static const char *const want[] = { "100.96.0.0/11", "10.2.0.0/16", "10.3.0.0/16", NULL };
	struct fleet_takeover t = { 0 };
	struct prov_plan p, nic = { 0 };
	struct prefix_set d;
	size_t i;

	(void)state;
	standby_plan(&p);
	set_of(&d, want);
	assert_int_equal(fleet_takeover_keep(&t, &p, &d, 1000), 0);
	/* Only the routes it would take over: never a create, keep or delete. */
	assert_int_equal(t.plan.n, 3);
	for (i = 0; i < t.plan.n; i++)
		assert_int_equal(t.plan.v[i].action, PROV_REPLACE);
	assert_string_equal(t.plan.v[0].handle, "eni-leader");
	assert_int_equal(fleet_takeover_nic(&p, &nic), 0);
	assert_int_equal(nic.n, 2);
	assert_int_equal(nic.v[0].action, PROV_FORWARDING);
	assert_int_equal(nic.v[1].action, PROV_TAG);
	/* Keeping again replaces what was kept. */
	assert_int_equal(fleet_takeover_keep(&t, &nic, &d, 2000), 0);
	assert_int_equal(t.plan.n, 0);
	assert_int_equal(t.at_ms, 2000);
	fleet_takeover_free(&t);
	assert_int_equal(t.at_ms, 0);
	prov_plan_free(&p);
	prov_plan_free(&nic);
	prefix_set_free(&d);
}

static void
test_stale(void **state)
{
	static const char *const want[] = { "100.96.0.0/11", "10.2.0.0/16", NULL };
	static const char *const other[] = { "100.96.0.0/11", NULL };
	static const struct {
		int kept;
		uint64_t now;                 /* kept at 10 s */
		int other_desired;
		int stale;
	} t[] = {
		{ 0, 10000, 0, 1 },            /* nothing kept yet */
		{ 1, 10000, 0, 0 },
		{ 1, 10000 + FLEET_TAKEOVER_REFRESH_MS - 1, 0, 0 },
		{ 1, 10000 + FLEET_TAKEOVER_REFRESH_MS, 0, 1 },
		{ 1, 10001, 1, 1 },            /* a site joined or left */
	};
	struct prefix_set d, o;
	struct prov_plan p;
	size_t i;

	(void)state;
	set_of(&d, want);
	set_of(&o, other);
	standby_plan(&p);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fleet_takeover k = { 0 };

		if (t[i].kept)
			assert_int_equal(fleet_takeover_keep(&k, &p, &d, 10000), 0);
		assert_int_equal(fleet_takeover_stale(&k, t[i].other_desired ? &o : &d, t[i].now),
		    t[i].stale);
		fleet_takeover_free(&k);
	}
	prov_plan_free(&p);
	prefix_set_free(&d);
	prefix_set_free(&o);
}

static void
test_plan_on_winning(void **state)
{
	static const char *const all[] = { "100.96.0.0/11", "10.2.0.0/16", NULL };
	static const char *const left[] = { "100.96.0.0/11", "10.3.0.0/16", NULL };
	static const struct {
		uint64_t age;
		int site_left;                /* 10.2.0.0/16 no longer desired */
		size_t n;                     /* routes written at once */
	} t[] = {
		{ 0, 0, 3 },
		{ FLEET_TAKEOVER_MAX_AGE_MS - 1, 0, 3 },
		{ FLEET_TAKEOVER_MAX_AGE_MS, 0, 0 },   /* too old to write blind */
		{ 500, 1, 2 },                          /* only what is still desired */
	};
	struct prefix_set a, l;
	struct prov_plan p;
	size_t i;

	(void)state;
	set_of(&a, all);
	set_of(&l, left);
	standby_plan(&p);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fleet_takeover k = { 0 };
		struct prov_plan out = { 0 };

		assert_int_equal(fleet_takeover_keep(&k, &p, &a, 5000), 0);
		assert_int_equal(fleet_takeover_plan(&k, t[i].site_left ? &l : &a,
		    5000 + t[i].age, &out), 0);
		assert_int_equal(out.n, t[i].n);
		for (size_t j = 0; j < out.n; j++) {
			assert_int_equal(out.v[j].action, PROV_REPLACE);
			assert_true(prefix_set_has(t[i].site_left ? &l : &a, &out.v[j].dst));
		}
		prov_plan_free(&out);
		/* Used once: a second win (or a later pass) writes nothing blind. */
		assert_int_equal(fleet_takeover_plan(&k, &a, 5001, &out), 0);
		assert_int_equal(out.n, 0);
		assert_int_equal(k.at_ms, 0);
		fleet_takeover_free(&k);
	}
	/* Nothing kept (a standby that never planned): nothing. */
	{
		struct fleet_takeover k = { 0 };
		struct prov_plan out = { 0 };

		assert_int_equal(fleet_takeover_plan(&k, &a, 1, &out), 0);
		assert_int_equal(out.n, 0);
	}
	prov_plan_free(&p);
	prefix_set_free(&a);
	prefix_set_free(&l);
}

static void
test_supported(void **state)
{
	(void)state;
	assert_true(fleet_takeover_supported("aws"));
	assert_true(fleet_takeover_supported("azure"));
	assert_true(fleet_takeover_supported("gcp"));
	assert_true(fleet_takeover_supported("oci"));
	assert_false(fleet_takeover_supported("openstack"));
	assert_false(fleet_takeover_supported("none"));
	assert_false(fleet_takeover_supported("auto"));
	assert_false(fleet_takeover_supported(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keep_and_nic),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_plan_on_winning),
		cmocka_unit_test(test_supported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
