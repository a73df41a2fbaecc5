/*
 * Peer groups: the health state machine driven by a fake clock, the set
 * built from a config (holders, allowed IPs, the UAPI body that moves
 * prefixes, state carried over a reload), and the config checks.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agent/config.h"
#include "agent/peergroup.h"
#include "dataplane/noise.h"

#define PK1 "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define PK2 "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
#define PK3 "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

#define S 1000ull
#define FO (10 * S)
#define HD (30 * S)

/* A fake clock and members that "receive" when told to. */
struct sim {
	struct pg_member m[3];
	size_t n, holder;
	int alive[3];
};

/* Runs the clock from t0 to t1 in 100 ms ticks; alive members receive
 * every second.  Returns the time of the first holder change (0 none). */
static uint64_t
run(struct sim *s, uint64_t t0, uint64_t t1)
{
	uint64_t t, moved = 0;
	size_t i, h;

	for (t = t0; t < t1; t += 100) {
		for (i = 0; i < s->n; i++)
			if (s->alive[i] && t % S == 0)
				s->m[i].last_rx = t;
		h = pg_choose(s->m, s->n, s->holder, t, FO, HD);
		if (h != s->holder && moved == 0)
			moved = t;
		s->holder = h;
	}
	return moved;
}

static void
sim_init(struct sim *s, size_t n, uint64_t now)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->n = n;
	for (i = 0; i < n; i++) {
		s->m[i].last_rx = now;
		s->alive[i] = 1;
	}
}

static void
test_failover_and_back(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, 0);
	assert_int_equal(run(&s, 0, 60 * S), 0);          /* both healthy: primary holds */
	assert_int_equal(s.holder, 0);
	s.alive[0] = 0;                                    /* last receive at 59 s */
	assert_int_equal(run(&s, 60 * S, 100 * S), 69 * S);   /* failover_after later */
	assert_int_equal(s.holder, 1);
	s.alive[0] = 1;                                    /* back at 100 s */
	assert_int_equal(run(&s, 100 * S, 200 * S), 130 * S); /* after the hold-down */
	assert_int_equal(s.holder, 0);
}

static void
test_no_flapping(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, 0);
	s.alive[0] = 0;
	assert_int_equal(run(&s, 0, 20 * S), 10 * S);     /* silent from the start */
	/* the primary comes and goes every 20 s: never healthy for 30 s */
	for (int k = 0; k < 5; k++) {
		s.alive[0] = 1;
		assert_int_equal(run(&s, (20 + 40 * k) * S, (40 + 40 * k) * S), 0);
		s.alive[0] = 0;
		assert_int_equal(run(&s, (40 + 40 * k) * S, (60 + 40 * k) * S), 0);
		assert_int_equal(s.holder, 1);
	}
}

static void
test_failover_skips_hold_down(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 2, 0);
	s.alive[0] = 0;
	run(&s, 0, 20 * S);
	assert_int_equal(s.holder, 1);
	s.alive[0] = 1;
	run(&s, 20 * S, 25 * S);                           /* primary healthy 5 s of 30 */
	assert_int_equal(s.holder, 1);
	s.alive[1] = 0;                                    /* the backup dies: no waiting */
	assert_int_equal(run(&s, 25 * S, 40 * S), 34 * S);
	assert_int_equal(s.holder, 0);
}

static void
test_all_down_and_three(void **state)
{
	struct sim s;

	(void)state;
	sim_init(&s, 3, 0);
	s.alive[0] = s.alive[1] = 0;
	assert_int_equal(run(&s, 0, 20 * S), 10 * S);
	assert_int_equal(s.holder, 2);                     /* the second backup */
	s.alive[2] = 0;
	assert_int_equal(run(&s, 20 * S, 60 * S), 0);      /* nobody healthy: nothing moves */
	assert_int_equal(s.holder, 2);
	s.alive[1] = 1;                                    /* any healthy one takes over */
	assert_int_equal(run(&s, 60 * S, 70 * S), 60 * S);
	assert_int_equal(s.holder, 1);
	/* the clock starting at 0 with members never heard from: no move in
	 * the first failover_after */
	sim_init(&s, 2, 0);
	s.alive[0] = s.alive[1] = 0;
	assert_int_equal(run(&s, 0, 10 * S), 0);
}

#define CFG_GROUP "{ \"lan_interface\": \"eth0\", \"state_dir\": \"/nonexistent-cr-pg\", \"tunnel\": { %s \"peers\": [ " \
	"{ \"name\": \"hub-a\", \"public_key\": \"" PK1 "\", \"allowed_ips\": [\"10.0.0.0/16\", " \
	"\"10.1.0.0/16\"] }, " \
	"{ \"name\": \"hub-b\", \"public_key\": \"" PK2 "\", \"backup_for\": \"hub-a\", " \
	"\"allowed_ips\": [\"100.96.0.2/32\"] }, " \
	"{ \"name\": \"other\", \"public_key\": \"" PK3 "\", \"allowed_ips\": [\"10.9.0.0/16\"] } " \
	"] } }"

static void
load(const char *extra, struct config *cfg)
{
	char text[2048];
	struct buf err;

	snprintf(text, sizeof(text), CFG_GROUP, extra);
	buf_init(&err, 4096);
	if (config_parse("t.json", text, strlen(text), cfg, &err) != 0)
		fail_msg("%s", err.data);
	buf_free(&err);
}

static const char *
ips(const struct pg_set *s, const struct config *cfg, size_t peer, char *out, size_t len)
{
	struct prefix_set set = { 0 };
	char b[PREFIX_STRLEN];
	size_t i, o = 0;

	assert_int_equal(pg_set_peer_ips(s, cfg, peer, &set), 0);
	prefix_set_sort(&set);
	out[0] = '\0';
	for (i = 0; i < set.n; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%s", i ? " " : "",
		    prefix_fmt(&set.v[i], b, sizeof(b)));
	prefix_set_free(&set);
	return out;
}

static void
test_set(void **state)
{
	struct config cfg;
	struct pg_set *s, *s2;
	struct desired want;
	struct buf err;
	char b[256];
	uint64_t t;

	(void)state;
	load("\"failover_after\": 3, \"hold_down\": 5,", &cfg);
	assert_int_equal(cfg.tunnel.failover_after, 3);
	assert_int_equal(cfg.tunnel.peers[1].backup_of, 1);
	assert_int_equal(cfg.tunnel.peers[0].backup_of, 0);
	assert_int_equal(pg_set_new(&cfg, NULL, 1000, &s), 0);
	assert_int_equal(pg_set_groups(s), 1);
	assert_int_equal(pg_set_holder(s, 0), 0);
	assert_int_equal(pg_set_holder(s, 1), 0);
	assert_int_equal(pg_set_holder(s, 2), 2);
	assert_string_equal(ips(s, &cfg, 0, b, sizeof(b)), "10.0.0.0/16 10.1.0.0/16");
	assert_string_equal(ips(s, &cfg, 1, b, sizeof(b)), "100.96.0.2/32");
	/* hub-a's counter stops; hub-b's grows */
	for (t = 1000; t <= 5000; t += 1000) {
		pg_set_observe(s, 0, 100, 0, t);
		pg_set_observe(s, 1, t, 0, t);
		assert_int_equal(pg_set_step(s, &cfg, t), t == 4000 ? 1 : 0);
	}
	assert_int_equal(pg_set_holder(s, 0), 1);
	assert_string_equal(ips(s, &cfg, 0, b, sizeof(b)), "");
	assert_string_equal(ips(s, &cfg, 1, b, sizeof(b)), "10.0.0.0/16 10.1.0.0/16 100.96.0.2/32");
	assert_string_equal(ips(s, &cfg, 2, b, sizeof(b)), "10.9.0.0/16");

	/* the composed peers: the group's prefixes go to hub-b, the rest stays */
	buf_init(&err, 4096);
	assert_int_equal(desired_compose(&cfg, NULL, &want, &err), 0);
	assert_int_equal(want.n_peers, 3);
	assert_int_equal(pg_desired(s, &cfg, &want), 0);
	assert_int_equal(want.peers[0].allowed_ips.n, 0);
	prefix_set_sort(&want.peers[1].allowed_ips);
	assert_int_equal(want.peers[1].allowed_ips.n, 3);
	assert_string_equal(prefix_fmt(&want.peers[1].allowed_ips.v[0], b, sizeof(b)), "10.0.0.0/16");
	assert_int_equal(want.peers[2].allowed_ips.n, 1);
	assert_int_equal(want.tunnel.n, 4);            /* kernel routes do not change */
	desired_free(&want);
	assert_int_equal(pg_desired(NULL, &cfg, &want), 0);
	buf_free(&err);

	/* a reload keeps health and the holder (same keys) */
	assert_int_equal(pg_set_new(&cfg, s, 6000, &s2), 0);
	assert_int_equal(pg_set_holder(s2, 0), 1);
	pg_set_free(s);
	/* hub-a back at 6 s: holds again once healthy for 5 s */
	for (t = 6000; t <= 12000; t += 1000) {
		pg_set_observe(s2, 0, 100 + t, 0, t);
		pg_set_observe(s2, 1, t, 0, t);
		assert_int_equal(pg_set_step(s2, &cfg, t), t == 11000 ? 1 : 0);
	}
	assert_int_equal(pg_set_holder(s2, 1), 0);
	pg_set_free(s2);
	config_free(&cfg);
}

static void
test_no_groups(void **state)
{
	struct config cfg;
	struct buf err;
	struct pg_set *s;
	const char *text = "{ \"lan_interface\": \"eth0\" }";

	(void)state;
	buf_init(&err, 4096);
	assert_int_equal(config_parse("t.json", text, strlen(text), &cfg, &err), 0);
	assert_int_equal(cfg.tunnel.failover_after, 10);
	assert_int_equal(cfg.tunnel.hold_down, 30);
	assert_int_equal(pg_set_new(&cfg, NULL, 0, &s), 0);
	assert_int_equal(pg_set_groups(s), 0);
	assert_int_equal(pg_tick(s, &cfg, NULL, 0), 0);
	pg_set_free(s);
	config_free(&cfg);
	buf_free(&err);
}

/* Groups of three (a primary and two backups) from peer `from` on, then one
 * peer in no group; keys are not in config order. */
static void
load_many(size_t groups, size_t from, struct config *cfg)
{
	struct buf text, err;
	uint8_t key[32];
	char k64[45], bk[80];
	size_t i;

	buf_init(&text, 1 << 21);
	buf_init(&err, 4096);
	buf_puts(&text, "{ \"lan_interface\": \"eth0\", \"tunnel\": { \"peers\": [\n");
	for (i = from; i <= 3 * groups; i++) {
		memset(key, 0, sizeof(key));
		key[0] = (uint8_t)(i & 255);
		key[1] = (uint8_t)(i >> 8);
		key[2] = 7;
		dp_key_to_base64(k64, key);
		snprintf(bk, sizeof(bk), ", \"backup_for\": \"p%zu\"", i - i % 3);
		buf_printf(&text, "%s{ \"name\": \"p%zu\", \"public_key\": \"%s\", "
		    "\"allowed_ips\": [\"10.%zu.%zu.0/24\"]%s }", i > from ? ",\n" : "", i, k64,
		    100 + i / 256, i % 256, i % 3 != 0 && i < 3 * groups ? bk : "");
	}
	buf_puts(&text, "] } }");
	if (config_parse("t.json", text.data, text.len, cfg, &err) != 0)
		fail_msg("%s", err.data);
	buf_free(&text);
	buf_free(&err);
}

/* A thousand groups: each member finds its group, one group fails over on
 * its own, and the holder carries over a reload that renumbers the peers. */
static void
test_many_groups(void **state)
{
	enum { G = 1000 };
	struct prefix_set set = { 0 };
	struct config cfg, cfg2;
	struct pg_set *s, *s2;
	uint64_t t;
	size_t i;

	(void)state;
	load_many(G, 0, &cfg);
	assert_int_equal(pg_set_new(&cfg, NULL, 1000, &s), 0);
	assert_int_equal(pg_set_groups(s), G);
	assert_int_equal(pg_set_holder(s, 3 * 77 + 2), 3 * 77);
	assert_int_equal(pg_set_holder(s, 3 * G), 3 * G);         /* in no group */
	assert_int_equal(pg_set_probe_due(s, 3 * G, 60000), 0);
	for (t = 1000; t <= 12000; t += 250) {
		for (i = 0; i <= 3 * G; i++)                       /* all but p1500 */
			pg_set_observe(s, i, i == 1500 ? 1 : t, 0, t);
		assert_int_equal(pg_set_step(s, &cfg, t), t == 11000 ? 1 : 0);  /* 1000 + 10 s */
	}
	assert_int_equal(pg_set_holder(s, 1500), 1501);
	assert_int_equal(pg_set_holder(s, 1502), 1501);
	assert_int_equal(pg_set_holder(s, 1503), 1503);
	assert_int_equal(pg_set_peer_ips(s, &cfg, 1501, &set), 0);
	assert_int_equal(set.n, 2);
	prefix_set_free(&set);
	/* the first group leaves: every index moves down by three */
	load_many(G, 3, &cfg2);
	assert_int_equal(pg_set_new(&cfg2, s, 12000, &s2), 0);
	assert_int_equal(pg_set_groups(s2), G - 1);
	assert_int_equal(pg_set_holder(s2, 1497), 1498);
	assert_int_equal(pg_set_holder(s2, 1500), 1500);
	pg_set_free(s2);
	pg_set_free(s);
	config_free(&cfg2);
	config_free(&cfg);
}

static void
test_config_errors(void **state)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ "{\"tunnel\": {\"peers\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\", "
		  "\"allowed_ips\": []}, {\"name\": \"b\", \"public_key\": \"" PK2 "\", "
		  "\"allowed_ips\": [], \"backup_for\": \"c\"}]}}",
		  "t.json:1:228: tunnel.peers[1].backup_for: no peer in tunnel.peers is named \"c\"" },
		{ "{\"tunnel\": {\"peers\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\", "
		  "\"allowed_ips\": [], \"backup_for\": \"a\"}]}}",
		  "tunnel.peers[0].backup_for: a peer cannot be its own backup: \"a\"" },
		{ "{\"tunnel\": {\"peers\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\", "
		  "\"allowed_ips\": []}, {\"name\": \"b\", \"public_key\": \"" PK2 "\", "
		  "\"allowed_ips\": [], \"backup_for\": \"a\"}, {\"name\": \"c\", \"public_key\": \""
		  PK3 "\", \"allowed_ips\": [], \"backup_for\": \"b\"}]}}",
		  "tunnel.peers[2].backup_for: \"b\" is itself a backup (for \"a\")" },
		{ "{\"tunnel\": {\"peers\": [{\"name\": \"a\", \"public_key\": \"" PK1 "\", "
		  "\"allowed_ips\": [\"10.0.0.0/8\"]}, {\"name\": \"b\", \"public_key\": \"" PK2 "\", "
		  "\"allowed_ips\": [\"10.1.0.0/16\"], \"backup_for\": \"a\"}]}}",
		  "tunnel.peers[1].allowed_ips[0]: 10.1.0.0/16 overlaps 10.0.0.0/8 of the primary \"a\"" },
		{ "{\"tunnel\": {\"failover_after\": 0}}",
		  "t.json:1:31: tunnel.failover_after: 0 is out of range (1..3600)" },
		{ "{\"tunnel\": {\"hold_down\": \"x\"}}", "tunnel.hold_down: expected an integer" },
		{ "{\"tunnel\": {\"peers\": [{\"public_key\": \"" PK1 "\", \"allowed_ips\": [], "
		  "\"backup_for\": 3}]}}", "tunnel.peers[0].backup_for: expected a string" },
	};
	struct config cfg;
	struct buf err;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		buf_init(&err, 4096);
		assert_int_equal(config_parse("t.json", cases[i].text, strlen(cases[i].text),
		    &cfg, &err), -EINVAL);
		if (strstr(err.data, cases[i].msg) == NULL)
			fail_msg("case %zu: \"%s\" not in \"%s\"", i, cases[i].msg, err.data);
		buf_free(&err);
	}
}

/*
 * An idle member we send keepalives to sends none back (its persistent
 * keepalive is pushed back by ours): it is probed after a third of
 * failover_after (at least 1 s) without a receive, then every interval;
 * the handshake its answer completes counts as a receive, so it stays
 * healthy.  A member that does not answer fails over.
 */
static void
test_probes(void **state)
{
	struct config cfg;
	struct pg_set *s;
	uint64_t t, hs = 0;
	int probes = 0;

	(void)state;
	load("\"failover_after\": 3, \"hold_down\": 5,", &cfg);
	assert_int_equal(pg_set_new(&cfg, NULL, 1000, &s), 0);
	assert_int_equal(pg_set_probe_due(s, 2, 5000), 0);        /* not in a group */
	pg_set_observe(s, 0, 100, 0, 1000);
	pg_set_observe(s, 1, 100, 0, 1000);
	assert_int_equal(pg_set_probe_due(s, 0, 1500), 0);
	for (t = 1500; t <= 10000; t += 500) {
		pg_set_observe(s, 0, 100, 0, t);               /* hub-a: dead, silent */
		pg_set_observe(s, 1, 100, hs, t);              /* hub-b: answers probes */
		if (pg_set_probe_due(s, 1, t)) {
			probes++;
			hs = t / 1000;
		}
		assert_int_equal(pg_set_step(s, &cfg, t), t == 4000 ? 1 : 0);
		if (t >= 3000 && t < 4000)
			assert_int_equal(pg_set_probe_due(s, 0, t), t == 3000);
	}
	assert_int_equal(pg_set_holder(s, 0), 1);
	assert_in_range(probes, 4, 9);
	pg_set_free(s);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failover_and_back),
		cmocka_unit_test(test_no_flapping),
		cmocka_unit_test(test_failover_skips_hold_down),
		cmocka_unit_test(test_all_down_and_three),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_probes),
		cmocka_unit_test(test_no_groups),
		cmocka_unit_test(test_many_groups),
		cmocka_unit_test(test_config_errors),
	};

	log_init(1, 0, "test");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
