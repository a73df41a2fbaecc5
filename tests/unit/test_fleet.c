/*
 * Fleet units: keys, record encode/decode/validation, the peers computed
 * from a set of records (table-driven: joins, leaves, overlaps with ours
 * and between sites where the older record wins, leader changes), the
 * election state machine on a fake clock, and the fleet config section.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "agent/config.h"
#include "agent/fleet.h"

#define PK1 "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define PK2 "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
#define PK3 "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
#define PK4 "W9bzcPzmbSqVqyz26Ft+qG4IpWTFWZ6dPWMtwAIbHGY="

static void
test_keys(void **state)
{
	char site[FLEET_NAME_MAX], name[FLEET_NAME_MAX], k[256];
	int kind;

	assert_int_equal(fleet_key_parse("/cr/", "/cr/sites/hq/hq-1", 17, &kind, site, name), 0);
	assert_int_equal(kind, 'S');
	assert_string_equal(site, "hq");
	assert_string_equal(name, "hq-1");
	assert_int_equal(fleet_key_parse("/cr/", "/cr/leaders/hq", 14, &kind, site, name), 0);
	assert_int_equal(kind, 'L');
	assert_string_equal(site, "hq");
	static const char *const bad[] = { "/cr/sites/hq", "/cr/sites/hq/", "/cr/sites//x",
		"/cr/sites/hq/a/b", "/cx/sites/hq/a", "/cr/leaders/", "/cr/leaders/a/b",
		"/cr/other/x", "/cr/sites/h q/a", "/cr/sites/../a", "/cr/sites/hq/a\n" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(fleet_key_parse("/cr/", bad[i], strlen(bad[i]), &kind, site, name),
		    -EINVAL);
	assert_int_equal(fleet_key_site("/cr/", "hq", "hq-1", k, sizeof(k)), 0);
	assert_string_equal(k, "/cr/sites/hq/hq-1");
	assert_int_equal(fleet_key_leader("/cr/", "hq", k, sizeof(k)), 0);
	assert_string_equal(k, "/cr/leaders/hq");
	assert_int_equal(fleet_key_leader("/cr/", "hq", k, 8), -ENAMETOOLONG);
}

static void
test_record(void **state)
{
	static const struct {
		const char *json;
		const char *why;              /* NULL = valid */
	} t[] = {
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"198.51.100.7:51820\",\"address\":"
		  "\"100.96.0.100/32\",\"subnets\":[\"10.0.0.0/18\"]}", NULL },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"[2001:db8::1]:51820\",\"address\":"
		  "\"fd00::1/128\",\"subnets\":[],\"future\":1}", NULL },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"hq.example.net:51820\",\"address\":"
		  "\"100.96.0.100/32\",\"subnets\":[\"10.0.0.0/18\",\"fd10::/64\"]}", NULL },
		{ "not json", "not a JSON object" },
		{ "[1]", "not a JSON object" },
		{ "{\"public_key\":\"" PK1 "\"} trailing", "not a JSON object" },
		{ "{\"public_key\":\"abc\",\"endpoint\":\"1.2.3.4:1\",\"address\":\"1.1.1.1/32\","
		  "\"subnets\":[]}", "\"public_key\"" },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"1.2.3.4\",\"address\":\"1.1.1.1/32\","
		  "\"subnets\":[]}", "\"endpoint\"" },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"1.2.3.4:0\",\"address\":\"1.1.1.1/32\","
		  "\"subnets\":[]}", "\"endpoint\"" },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"1.2.3.4:5\",\"address\":\"100.96.0.0/11\","
		  "\"subnets\":[]}", "\"address\"" },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"1.2.3.4:5\",\"address\":\"1.1.1.1\","
		  "\"subnets\":[]}", "\"address\"" },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"1.2.3.4:5\",\"address\":\"1.1.1.1/32\"}",
		  "\"subnets\"" },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"1.2.3.4:5\",\"address\":\"1.1.1.1/32\","
		  "\"subnets\":[\"10.0.0.1/18\"]}", "subnets[0]" },
		{ "{\"public_key\":\"" PK1 "\",\"endpoint\":\"1.2.3.4:5\",\"address\":\"1.1.1.1/32\","
		  "\"subnets\":[7]}", "subnets[0]" },
		{ "{\"public_key\":5,\"endpoint\":\"1.2.3.4:5\",\"address\":\"1.1.1.1/32\","
		  "\"subnets\":[]}", "\"public_key\"" },
	};
	struct fleet_record r, back;
	struct buf b;
	char why[256];

	for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
		memset(&r, 0, sizeof(r));
		int rc = fleet_record_decode(t[i].json, strlen(t[i].json), &r, why, sizeof(why));
		if (t[i].why == NULL) {
			assert_int_equal(rc, 0);
			/* Round trip. */
			buf_init(&b, 4096);
			assert_int_equal(fleet_record_encode(&r, &b), 0);
			memset(&back, 0, sizeof(back));
			assert_int_equal(fleet_record_decode(b.data, b.len, &back, why, sizeof(why)), 0);
			assert_memory_equal(back.public_key, r.public_key, 32);
			assert_string_equal(back.endpoint, r.endpoint);
			assert_true(prefix_equal(&back.address, &r.address));
			assert_int_equal(back.subnets.n, r.subnets.n);
			fleet_record_free(&back);
			buf_free(&b);
		} else {
			assert_int_equal(rc, -EINVAL);
			if (strstr(why, t[i].why) == NULL)
				fail_msg("case %zu: why \"%s\", want \"%s\"", i, why, t[i].why);
		}
		fleet_record_free(&r);
	}
}

/* ---- the view, table-driven ---- */

#define REC(pk, addr, subnets) "{\"public_key\":\"" pk "\",\"endpoint\":\"192.0.2.1:51820\"," \
	"\"address\":\"" addr "\",\"subnets\":[" subnets "]}"

struct op {
	char kind;                    /* 'P' put, 'D' delete, 0 end */
	const char *key;
	const char *value;
	int64_t create_rev;
};

struct want {
	const char *peers;            /* "site/name=allowed,allowed;..." sorted */
	int logged;                   /* rejections logged by this step */
};

struct step {
	struct op ops[6];
	struct want w;
};

static int n_logged;

static void
count_log(void *arg, const struct fleet_view_entry *e)
{
	(void)arg;
	assert_non_null(e->why);          /* a rejection always says why */
	assert_true(e->why[0] != '\0');
	n_logged++;
}

static void
peers_str(const struct fleet_view *v, char *out, size_t len)
{
	struct fleet_peers p;
	char b[PREFIX_STRLEN];
	size_t i, j, o = 0;

	assert_int_equal(fleet_view_peers(v, &p), 0);
	out[0] = '\0';
	for (i = 0; i < p.n; i++) {
		o += (size_t)snprintf(out + o, len - o, "%s%s/%s=", i ? ";" : "", p.v[i].site,
		    p.v[i].name);
		for (j = 0; j < p.v[i].allowed_ips.n; j++)
			o += (size_t)snprintf(out + o, len - o, "%s%s", j ? "," : "",
			    prefix_fmt(&p.v[i].allowed_ips.v[j], b, sizeof(b)));
	}
	fleet_peers_free(&p);
}

static void
run_steps(const struct step *steps, size_t n)
{
	struct prefix_set ours = { 0 };
	struct fleet_view v;
	struct prefix p;
	char got[2048];

	prefix_parse("10.1.0.0/16", &p, 0);
	prefix_set_add(&ours, &p);
	fleet_view_init(&v, "hq", "hq-1", &ours);
	for (size_t s = 0; s < n; s++) {
		n_logged = 0;
		for (const struct op *o = steps[s].ops; o->kind; o++) {
			if (o->kind == 'P')
				assert_int_equal(fleet_view_put(&v, "/cr/", o->key, strlen(o->key),
				    o->value, strlen(o->value), o->create_rev, o->create_rev, 7), 0);
			else
				assert_int_equal(fleet_view_delete(&v, "/cr/", o->key,
				    strlen(o->key)), 0);
		}
		fleet_view_validate(&v, count_log, NULL);
		peers_str(&v, got, sizeof(got));
		if (strcmp(got, steps[s].w.peers) != 0)
			fail_msg("step %zu: peers \"%s\", want \"%s\"", s, got, steps[s].w.peers);
		if (n_logged != steps[s].w.logged)
			fail_msg("step %zu: %d logged, want %d", s, n_logged, steps[s].w.logged);
	}
	fleet_view_free(&v);
	prefix_set_free(&ours);
}

static void
test_view_join_leave_leader(void **state)
{
	static const struct step steps[] = {
		/* Our own record and leader: no peer for ourselves. */
		{ { { 'P', "/cr/sites/hq/hq-1", REC(PK1, "100.96.0.1/32", "\"10.1.0.0/16\""), 2 },
		    { 'P', "/cr/leaders/hq", "hq-1", 3 } }, { "", 0 } },
		/* A branch joins: a peer with its address; leader: its subnets too. */
		{ { { 'P', "/cr/sites/br/br-1", REC(PK2, "100.96.0.2/32", "\"10.2.0.0/16\""), 4 } },
		  { "br/br-1=100.96.0.2/32", 0 } },
		{ { { 'P', "/cr/leaders/br", "br-1", 5 } },
		  { "br/br-1=100.96.0.2/32,10.2.0.0/16", 0 } },
		/* Its standby joins: address only. Our own standby: address only. */
		{ { { 'P', "/cr/sites/br/br-2", REC(PK3, "100.96.0.3/32", "\"10.2.0.0/16\""), 6 },
		    { 'P', "/cr/sites/hq/hq-2", REC(PK4, "100.96.0.4/32", "\"10.1.0.0/16\""), 7 } },
		  { "br/br-1=100.96.0.2/32,10.2.0.0/16;br/br-2=100.96.0.3/32;hq/hq-2=100.96.0.4/32", 0 } },
		/* Leader change at br: the subnets move to br-2 in one step. */
		{ { { 'D', "/cr/leaders/br", NULL, 0 }, { 'P', "/cr/leaders/br", "br-2", 8 } },
		  { "br/br-1=100.96.0.2/32;br/br-2=100.96.0.3/32,10.2.0.0/16;hq/hq-2=100.96.0.4/32", 0 } },
		/* Our own site's leader moves to hq-2: still no subnets for it (they are local). */
		{ { { 'P', "/cr/leaders/hq", "hq-2", 9 } },
		  { "br/br-1=100.96.0.2/32;br/br-2=100.96.0.3/32,10.2.0.0/16;hq/hq-2=100.96.0.4/32", 0 } },
		/* br-1 leaves, then br-2: gone. */
		{ { { 'D', "/cr/sites/br/br-1", NULL, 0 } },
		  { "br/br-2=100.96.0.3/32,10.2.0.0/16;hq/hq-2=100.96.0.4/32", 0 } },
		{ { { 'D', "/cr/sites/br/br-2", NULL, 0 }, { 'D', "/cr/leaders/br", NULL, 0 } },
		  { "hq/hq-2=100.96.0.4/32", 0 } },
		/* A leader key naming a connector without a record: no subnets anywhere. */
		{ { { 'P', "/cr/leaders/xx", "ghost", 12 } }, { "hq/hq-2=100.96.0.4/32", 0 } },
		/* Keys outside the layout are ignored. */
		{ { { 'P', "/cr/other", "x", 13 }, { 'P', "/cr/sites/bad", "x", 14 } },
		  { "hq/hq-2=100.96.0.4/32", 0 } },
	};

	run_steps(steps, ARRAY_SIZE(steps));
}

static void
test_view_overlaps(void **state)
{
	static const struct step steps[] = {
		{ { { 'P', "/cr/sites/a/a-1", REC(PK1, "100.96.0.11/32", "\"10.20.0.0/16\""), 10 },
		    { 'P', "/cr/leaders/a", "a-1", 11 } },
		  { "a/a-1=100.96.0.11/32,10.20.0.0/16", 0 } },
		/* Overlaps our local_subnets: rejected, logged once. */
		{ { { 'P', "/cr/sites/b/b-1", REC(PK2, "100.96.0.12/32", "\"10.1.128.0/17\""), 12 },
		    { 'P', "/cr/leaders/b", "b-1", 13 } },
		  { "a/a-1=100.96.0.11/32,10.20.0.0/16", 1 } },
		/* Not logged again on the next pass. */
		{ { { 0 } }, { "a/a-1=100.96.0.11/32,10.20.0.0/16", 0 } },
		/* Overlaps site a, which is older: the newer one loses. */
		{ { { 'P', "/cr/sites/c/c-1", REC(PK3, "100.96.0.13/32", "\"10.20.5.0/24\""), 14 },
		    { 'P', "/cr/leaders/c", "c-1", 15 } },
		  { "a/a-1=100.96.0.11/32,10.20.0.0/16", 1 } },
		/* A record that overlaps c's is seen first but is older (lower
		 * create_revision, e.g. from the initial read): it wins over c. */
		{ { { 'D', "/cr/sites/a/a-1", NULL, 0 },
		    { 'P', "/cr/sites/d/d-1", REC(PK4, "100.96.0.14/32", "\"10.20.5.128/25\""), 9 },
		    { 'P', "/cr/leaders/d", "d-1", 16 } },
		  { "d/d-1=100.96.0.14/32,10.20.5.128/25", 1 } },   /* c-1: a new reason, logged */
		/* Same site, same subnets (an HA pair): fine.  Same address: rejected. */
		{ { { 'P', "/cr/sites/d/d-2", REC(PK1, "100.96.0.15/32", "\"10.20.5.128/25\""), 17 },
		    { 'P', "/cr/sites/e/e-1", REC(PK2, "100.96.0.14/32", ""), 18 } },
		  { "d/d-1=100.96.0.14/32,10.20.5.128/25;d/d-2=100.96.0.15/32", 1 } },
		/* Same public key as an older record: rejected.  Malformed JSON: rejected. */
		{ { { 'P', "/cr/sites/f/f-1", REC(PK4, "100.96.0.16/32", ""), 19 },
		    { 'P', "/cr/sites/g/g-1", "{broken", 20 } },
		  { "d/d-1=100.96.0.14/32,10.20.5.128/25;d/d-2=100.96.0.15/32", 2 } },
		/* The malformed one is fixed: accepted. */
		{ { { 'P', "/cr/sites/g/g-1", REC(PK3, "100.96.0.17/32", ""), 20 } },
		  { "d/d-1=100.96.0.14/32,10.20.5.128/25;d/d-2=100.96.0.15/32;g/g-1=100.96.0.17/32", 0 } },
		/* The older conflicting records leave: the newer ones are accepted,
		 * except g-1, whose key is c-1's, and c-1 is older. */
		{ { { 'D', "/cr/sites/d/d-1", NULL, 0 }, { 'D', "/cr/sites/d/d-2", NULL, 0 } },
		  { "c/c-1=100.96.0.13/32,10.20.5.0/24;e/e-1=100.96.0.14/32;f/f-1=100.96.0.16/32", 1 } },
	};

	run_steps(steps, ARRAY_SIZE(steps));
}

static void
test_view_reread(void **state)
{
	static const char a[] = REC(PK1, "100.96.0.11/32", "\"10.20.0.0/16\"");
	static const char b[] = REC(PK2, "100.96.0.12/32", "\"10.21.0.0/16\"");
	struct fleet_view v;
	char got[512];

	fleet_view_init(&v, "hq", "hq-1", NULL);
	fleet_view_put(&v, "/cr/", "/cr/sites/a/a-1", 15, a, strlen(a), 2, 2, 0);
	fleet_view_put(&v, "/cr/", "/cr/sites/b/b-1", 15, b, strlen(b), 3, 3, 0);
	fleet_view_put(&v, "/cr/", "/cr/sites/x/x-1", 15, "junk", 4, 4, 4, 0);
	fleet_view_put(&v, "/cr/", "/cr/leaders/a", 13, "a-1", 3, 5, 5, 0);
	fleet_view_put(&v, "/cr/", "/cr/leaders/b", 13, "b-1", 3, 6, 6, 0);
	n_logged = 0;
	fleet_view_validate(&v, count_log, NULL);
	assert_int_equal(n_logged, 1);
	/* A re-read that no longer has b (its delete was missed): b goes, the
	 * malformed x stays ignored and is not logged again. */
	fleet_view_mark(&v);
	fleet_view_put(&v, "/cr/", "/cr/sites/a/a-1", 15, a, strlen(a), 2, 2, 0);
	fleet_view_put(&v, "/cr/", "/cr/sites/x/x-1", 15, "junk", 4, 4, 4, 0);
	fleet_view_put(&v, "/cr/", "/cr/leaders/a", 13, "a-1", 3, 5, 5, 0);
	fleet_view_sweep(&v);
	n_logged = 0;
	fleet_view_validate(&v, count_log, NULL);
	assert_int_equal(n_logged, 0);
	peers_str(&v, got, sizeof(got));
	assert_string_equal(got, "a/a-1=100.96.0.11/32,10.20.0.0/16");
	assert_null(fleet_view_leader(&v, "b"));
	fleet_view_free(&v);
}

static void
test_view_shared_identity(void **state)
{
	static const struct step steps[] = {
		/* br-1 and br-2 share one identity (key and address): one peer,
		 * following whichever leads; no conflict is logged. */
		{ { { 'P', "/cr/sites/br/br-1", REC(PK2, "100.96.0.40/32", "\"10.2.0.0/16\""), 4 },
		    { 'P', "/cr/sites/br/br-2", REC(PK2, "100.96.0.40/32", "\"10.2.0.0/16\""), 5 },
		    { 'P', "/cr/leaders/br", "br-2", 6 } },
		  { "br/br-2=100.96.0.40/32,10.2.0.0/16", 0 } },
		{ { { 'D', "/cr/leaders/br", NULL, 0 }, { 'P', "/cr/leaders/br", "br-1", 7 } },
		  { "br/br-1=100.96.0.40/32,10.2.0.0/16", 0 } },
		/* No leader: still one peer (the first), address only. */
		{ { { 'D', "/cr/leaders/br", NULL, 0 } }, { "br/br-1=100.96.0.40/32", 0 } },
		/* Our own HA partner with our identity is never a peer of ours. */
		{ { { 'P', "/cr/sites/hq/hq-1", REC(PK1, "100.96.0.1/32", "\"10.1.0.0/16\""), 8 },
		    { 'P', "/cr/sites/hq/hq-2", REC(PK1, "100.96.0.1/32", "\"10.1.0.0/16\""), 9 } },
		  { "br/br-1=100.96.0.40/32", 0 } },
		/* The same key at another site, or with another address: a conflict. */
		{ { { 'P', "/cr/sites/zz/zz-1", REC(PK2, "100.96.0.41/32", ""), 10 },
		    { 'P', "/cr/sites/br/br-3", REC(PK2, "100.96.0.42/32", "\"10.2.0.0/16\""), 11 } },
		  { "br/br-1=100.96.0.40/32", 2 } },
	};

	run_steps(steps, ARRAY_SIZE(steps));
}

/* ---- election, fake clock ---- */

static void
test_elect_basic(void **state)
{
	struct fleet_elect e;
	uint64_t t = 1000;

	fleet_elect_init(&e, "hq-1", 2);
	assert_int_equal(fleet_elect_next(&e, t), FLEET_ACT_REGISTER);
	fleet_elect_lease(&e, 42, 2, t);
	/* Leader key state unknown yet: no campaign. */
	assert_int_equal(fleet_elect_next(&e, t), FLEET_ACT_NONE);
	fleet_elect_holder(&e, NULL, 0);
	assert_int_equal(e.role, FLEET_CANDIDATE);
	assert_int_equal(fleet_elect_next(&e, t), FLEET_ACT_CAMPAIGN);
	fleet_elect_campaign_done(&e, 1, NULL, 0, t + 5);
	assert_int_equal(e.role, FLEET_LEADER);
	assert_true(fleet_elect_may_write(&e, t + 5));
	/* Keep-alives every TTL/3 = 666 ms. */
	assert_int_equal(fleet_elect_next(&e, t + 600), FLEET_ACT_NONE);
	assert_int_equal(fleet_elect_wait_ms(&e, t + 600), 66);
	assert_int_equal(fleet_elect_next(&e, t + 666), FLEET_ACT_KEEPALIVE);
	fleet_elect_ka_sent(&e, t + 666);
	assert_int_equal(fleet_elect_next(&e, t + 667), FLEET_ACT_NONE);
	fleet_elect_ack(&e, t + 666);
	/* Unanswered keep-alives: writing stops once TTL has passed since the
	 * last answered one was sent. */
	for (uint64_t k = 1; k <= 4; k++)
		fleet_elect_ka_sent(&e, t + 666 + k * 666);
	assert_true(fleet_elect_may_write(&e, t + 666 + 2000));
	assert_false(fleet_elect_may_write(&e, t + 666 + 2001));
	assert_int_equal(e.role, FLEET_LEADER);       /* still leads, as far as it knows */
	/* The answer comes: writing resumes. */
	fleet_elect_ack(&e, t + 666 + 4 * 666);
	assert_true(fleet_elect_may_write(&e, t + 666 + 4 * 666 + 10));
	/* The lease is gone (keep-alive answered TTL 0): register again. */
	fleet_elect_lease_lost(&e);
	assert_int_equal(e.role, FLEET_UNREGISTERED);
	assert_false(fleet_elect_may_write(&e, t + 4000));
	assert_int_equal(fleet_elect_next(&e, t + 4000), FLEET_ACT_REGISTER);
}

static void
test_elect_standby_takeover(void **state)
{
	struct fleet_elect e;
	uint64_t t = 0;

	fleet_elect_init(&e, "hq-2", 2);
	fleet_elect_lease(&e, 43, 2, t);
	fleet_elect_holder(&e, "hq-1", 42);
	assert_int_equal(e.role, FLEET_STANDBY);
	assert_int_equal(fleet_elect_next(&e, t + 10), FLEET_ACT_NONE);
	assert_false(fleet_elect_may_write(&e, t + 10));
	/* A failed request backs off, the keep-alive cadence caps it. */
	fleet_elect_failed(&e, t + 100);
	fleet_elect_failed(&e, t + 100);
	fleet_elect_failed(&e, t + 100);
	fleet_elect_failed(&e, t + 100);
	assert_int_equal(e.retry_at_ms, t + 100 + 666);
	fleet_elect_succeeded(&e);
	/* The leader key goes (lease expired): campaign at once, even in backoff. */
	fleet_elect_failed(&e, t + 200);
	fleet_elect_holder(&e, NULL, 0);
	assert_int_equal(fleet_elect_next(&e, t + 201), FLEET_ACT_CAMPAIGN);
	/* Lost the race: standby under the winner. */
	fleet_elect_campaign_done(&e, 0, "hq-3", 44, t + 202);
	assert_int_equal(e.role, FLEET_STANDBY);
	assert_string_equal(e.holder, "hq-3");
	/* Next time it wins. */
	fleet_elect_holder(&e, NULL, 0);
	fleet_elect_campaign_done(&e, 1, NULL, 0, t + 300);
	assert_int_equal(e.role, FLEET_LEADER);
	assert_true(fleet_elect_may_write(&e, t + 300));
	/* Someone else's value appears (the key was deleted and retaken): standby. */
	fleet_elect_holder(&e, "hq-1", 99);
	assert_int_equal(e.role, FLEET_STANDBY);
	assert_false(fleet_elect_may_write(&e, t + 301));
}

static void
test_elect_stale_and_retry(void **state)
{
	struct fleet_elect e;

	fleet_elect_init(&e, "hq-1", 3);
	fleet_elect_lease(&e, 50, 3, 0);
	/* Our name with an old lease (we restarted): clear it, then campaign. */
	fleet_elect_holder(&e, "hq-1", 49);
	assert_int_equal(e.role, FLEET_CANDIDATE);
	assert_int_equal(fleet_elect_next(&e, 1), FLEET_ACT_CLEAR_STALE);
	fleet_elect_holder(&e, NULL, 0);
	assert_int_equal(fleet_elect_next(&e, 2), FLEET_ACT_CAMPAIGN);
	/* The txn answer was lost but it did succeed: the retry finds our own
	 * name with our lease, which is a win. */
	fleet_elect_campaign_done(&e, 0, "hq-1", 50, 3);
	assert_int_equal(e.role, FLEET_LEADER);
	/* Keep-alive period follows the granted TTL (3 s -> 1 s). */
	assert_int_equal(fleet_elect_next(&e, 999), FLEET_ACT_NONE);
	assert_int_equal(fleet_elect_next(&e, 1000), FLEET_ACT_KEEPALIVE);
}

static void
test_elect_health(void **state)
{
	struct fleet_elect e;

	fleet_elect_init(&e, "hq-1", 2);
	fleet_elect_lease(&e, 42, 2, 0);
	fleet_elect_holder(&e, "hq-1", 42);
	assert_int_equal(e.role, FLEET_LEADER);
	fleet_elect_health(&e, 0);
	assert_false(fleet_elect_may_write(&e, 1));
	assert_int_equal(fleet_elect_next(&e, 1), FLEET_ACT_REVOKE);
	fleet_elect_lease_lost(&e);
	/* Unhealthy: no registering until the checks pass again. */
	assert_int_equal(fleet_elect_next(&e, 2), FLEET_ACT_NONE);
	assert_int_equal(fleet_elect_wait_ms(&e, 2), 1000);
	fleet_elect_health(&e, 1);
	assert_int_equal(fleet_elect_next(&e, 3), FLEET_ACT_REGISTER);
}

/* ---- config ---- */

static int
parse(const char *text, struct config *cfg, struct buf *err)
{
	buf_init(err, 64 * 1024);
	return config_parse("t.json", text, strlen(text), cfg, err);
}

#define BASE "\"lan_interface\": \"eth0\", \"tunnel\": {\"address\": [\"100.96.0.1/11\"]}, " \
	"\"cloud\": {\"provider\": \"none\", \"ha_group\": \"hq\"}, "

static void
test_config(void **state)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{ "{" BASE "\"fleet\": {}}", "t.json:1:118: fleet.etcd: the etcd endpoints are required" },
		{ "{" BASE "\"fleet\": {\"etcd\": []}}", "t.json:1:136: fleet.etcd: 1 to 8" },
		{ "{" BASE "\"fleet\": {\"etcd\": [\"http://a:1/x\"]}}", "t.json:1:137: fleet.etcd[0]" },
		{ "{" BASE "\"fleet\": {\"etcd\": [\"http://a:1\"], \"ttl\": 2}}",
		  "t.json:1:152: unknown key \"ttl\" in fleet" },
		{ "{" BASE "\"fleet\": {\"etcd\": [\"http://a:1\"], \"lease_ttl\": 1}}",
		  "t.json:1:165: fleet.lease_ttl: 1 is out of range" },
		{ "{" BASE "\"fleet\": {\"etcd\": [\"http://a:1\"], \"name\": \"a b\"}}",
		  "t.json:1:160: fleet.name" },
		{ "{" BASE "\"fleet\": {\"etcd\": [\"http://a:1\"], \"prefix\": \"cr\"}}",
		  "t.json:1:162: fleet.prefix" },
		{ "{" BASE "\"fleet\": {\"etcd\": [\"http://a:1\"], \"key_file\": \"/k\"}}",
		  "t.json:1:152: fleet: cert_file and key_file go together" },
		{ "{\"lan_interface\": \"eth0\", \"fleet\": {\"etcd\": [\"http://a:1\"]}}",
		  "t.json:1:27: fleet needs the userspace tunnel and tunnel.address" },
		{ "{" BASE "\"fleet\": {\"etcd\": [\"http://a:1\"]}}",
		  "t.json:1:118: fleet.endpoint is required with cloud.provider \"none\"" },
	};
	struct config cfg;
	struct buf err;

	assert_int_equal(parse("{" BASE "\"fleet\": {\"etcd\": [\"https://10.0.0.5:2379\", "
	    "\"http://10.0.0.6:2379\"], \"ca_file\": \"/etc/ca.pem\", \"name\": \"hq-1\", "
	    "\"endpoint\": \"203.0.113.10:51820\", \"health_ping\": \"10.0.0.1\"}}", &cfg, &err), 0);
	assert_true(cfg.fleet.enabled);
	assert_int_equal(cfg.fleet.n_etcd, 2);
	assert_string_equal(cfg.fleet.site, "hq");          /* default: cloud.ha_group */
	assert_string_equal(cfg.fleet.prefix, "/cloudroute/");
	assert_int_equal(cfg.fleet.lease_ttl, 2);
	assert_string_equal(cfg.fleet.name, "hq-1");
	assert_true(cfg.fleet.has_health_ping);
	config_free(&cfg);
	buf_free(&err);
	assert_int_equal(parse("{" BASE "\"fleet\": {\"etcd\": [\"http://a:1\"], \"site\": \"x\", \"endpoint\": \"192.0.2.1:51820\"}}",
	    &cfg, &err), 0);
	assert_string_equal(cfg.fleet.site, "x");
	assert_true(cfg.fleet.name[0] != '\0');             /* default: the host name */
	config_free(&cfg);
	buf_free(&err);
	assert_int_equal(parse("{" BASE "\"state_dir\": \"/tmp\"}", &cfg, &err), 0);
	assert_false(cfg.fleet.enabled);
	config_free(&cfg);
	buf_free(&err);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int r = parse(bad[i].text, &cfg, &err);

		if (r == 0 || err.data == NULL || strncmp(err.data, bad[i].want,
		    strlen(bad[i].want)) != 0)
			fail_msg("case %zu: got %d \"%s\", want \"%s...\"", i, r,
			    err.data ? err.data : "", bad[i].want);
		buf_free(&err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_view_join_leave_leader),
		cmocka_unit_test(test_view_overlaps),
		cmocka_unit_test(test_view_reread),
		cmocka_unit_test(test_view_shared_identity),
		cmocka_unit_test(test_elect_basic),
		cmocka_unit_test(test_elect_standby_takeover),
		cmocka_unit_test(test_elect_stale_and_retry),
		cmocka_unit_test(test_elect_health),
		cmocka_unit_test(test_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
