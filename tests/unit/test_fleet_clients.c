/*
 * Clients in the fleet: the <prefix>clients/<name> record (encode, strict
 * decode), the table kept from puts and deletes, and the routes it implies
 * (a client's address on the peer of the connector serving it; rejected
 * records change nothing).  The CLI's read (`client list|show`): one range
 * request of the prefix to a loopback etcd gateway, its answer validated
 * into the fleet's records and clients; etcd away is an error.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "agent/fleet_clients.h"
#include "dataplane/noise.h"

#define PK1 "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
#define PK2 "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="
#define PK3 "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
#define PK4 "W9bzcPzmbSqVqyz26Ft+qG4IpWTFWZ6dPWMtwAIbHGY="
#define PK5 "bWmrK49UYozifirTZgptOUoc4noKe2x9G5F8S09fPkU="
#define PK6 "rJaegjSh19WTukYg1CT/dLxKniE0O7kyIq2a5E9/TQU="

static void
test_record(void **state)
{
	struct fleet_client c, d;
	char out[512], why[160];
	static const char *bad[][2] = {
		{ "[]", "not a JSON object" },
		{ "{\"public_key\": \"" PK1 "\", \"address\": \"100.96.0.7/32\", \"site\": \"hq\"}",
		  "needs" },
		{ "{\"public_key\": \"" PK1 "\", \"address\": \"100.96.0.7/32\", \"site\": \"hq\", "
		  "\"connector\": \"hq-1\", \"x\": \"1\"}", "unknown member \"x\"" },
		{ "{\"public_key\": \"nope\", \"address\": \"100.96.0.7/32\", \"site\": \"hq\", "
		  "\"connector\": \"hq-1\"}", "\"public_key\" is not" },
		{ "{\"public_key\": \"" PK1 "\", \"address\": \"100.96.0.0/24\", \"site\": \"hq\", "
		  "\"connector\": \"hq-1\"}", "\"address\" is not a host prefix" },
		{ "{\"public_key\": \"" PK1 "\", \"address\": \"100.96.0.7/32\", \"site\": \"a/b\", "
		  "\"connector\": \"hq-1\"}", "\"site\" is not a name" },
		{ "{\"public_key\": \"" PK1 "\", \"address\": \"100.96.0.7/32\", \"site\": \"hq\", "
		  "\"connector\": 7}", "\"connector\" is not a string" },
		{ "{\"public_key\": \"" PK1 "\", \"address\": \"100.96.0.7/32\", \"site\": \"hq\", "
		  "\"connector\": \"hq-1\"} x", "not a JSON object" },
		/* a member name with a terminal escape is not printed as one */
		{ "{\"\\u001b[2J\": \"x\"}", "unknown member \"?[2J\"" },
		{ "{\"\\u001b[2J\": 1}", "\"?[2J\" is not a string" },
	};
	size_t i;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(dp_key_from_base64(c.public_key, PK1), 0);
	assert_int_equal(prefix_parse("100.96.0.7/32", &c.address, 0), 0);
	cr_strlcpy(c.site, "hq", sizeof(c.site));
	cr_strlcpy(c.connector, "hq-1", sizeof(c.connector));
	assert_int_equal(fleet_client_encode(&c, out, sizeof(out)), 0);
	assert_string_equal(out, "{\"public_key\":\"" PK1 "\",\"address\":\"100.96.0.7/32\","
	    "\"site\":\"hq\",\"connector\":\"hq-1\"}");
	assert_int_equal(fleet_client_encode(&c, out, 20), -ENOSPC);
	assert_int_equal(fleet_client_encode(&c, out, sizeof(out)), 0);
	memset(&d, 0, sizeof(d));
	assert_int_equal(fleet_client_decode(out, strlen(out), &d, why, sizeof(why)), 0);
	assert_memory_equal(d.public_key, c.public_key, 32);
	assert_true(prefix_equal(&d.address, &c.address));
	assert_string_equal(d.site, "hq");
	assert_string_equal(d.connector, "hq-1");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&d, 0, sizeof(d));
		assert_int_equal(fleet_client_decode(bad[i][0], strlen(bad[i][0]), &d, why,
		    sizeof(why)), -EINVAL);
		if (strstr(why, bad[i][1]) == NULL)
			fail_msg("record %zu: \"%s\" lacks \"%s\"", i, why, bad[i][1]);
	}
	assert_int_equal(fleet_client_key("/cr/", "alice", out, sizeof(out)), 0);
	assert_string_equal(out, "/cr/clients/alice");
}

static void
put(struct fleet_clients *t, const char *key, const char *value, int64_t rev, int taken)
{
	struct etcd_kv kv = { .key = (char *)key, .key_len = strlen(key), .value = (char *)value,
		.value_len = strlen(value), .create_revision = rev, .mod_revision = rev };

	assert_int_equal(fleet_clients_put(t, "/cr/", &kv), taken);
}

#define SITE(pk, addr, sub) "{\"public_key\": \"" pk "\", \"endpoint\": \"192.0.2.1:51820\", " \
	"\"address\": \"" addr "\", \"subnets\": [\"" sub "\"]}"
#define CLIENT(pk, addr, site, conn) "{\"public_key\": \"" pk "\", \"address\": \"" addr \
	"\", \"site\": \"" site "\", \"connector\": \"" conn "\"}"

/* The allowed IPs of the peer of site/name, as text. */
static const char *
ips_of(const struct fleet_peers *p, const char *name, char *out, size_t len)
{
	char b[PREFIX_STRLEN];
	size_t i, j, o = 0;

	out[0] = '\0';
	for (i = 0; i < p->n; i++) {
		if (strcmp(p->v[i].name, name) != 0)
			continue;
		for (j = 0; j < p->v[i].allowed_ips.n; j++)
			o += (size_t)snprintf(out + o, len - o, "%s%s", j ? " " : "",
			    prefix_fmt(&p->v[i].allowed_ips.v[j], b, sizeof(b)));
	}
	return out;
}

/* hq's view (hq-1) of sites hq and br, and an empty client table. */
static void
two_sites(struct fleet_view *v, struct fleet_clients *t)
{
	fleet_view_init(v, "hq", "hq-1", NULL);
	fleet_clients_init(t, "/nonexistent");
	fleet_view_put(v, "/cr/", "/cr/sites/hq/hq-1", 17, SITE(PK1, "100.96.0.1/32",
	    "10.0.0.0/18"), strlen(SITE(PK1, "100.96.0.1/32", "10.0.0.0/18")), 2, 2, 0);
	fleet_view_put(v, "/cr/", "/cr/sites/br/br-1", 17, SITE(PK2, "100.96.0.3/32",
	    "192.168.0.0/22"), strlen(SITE(PK2, "100.96.0.3/32", "192.168.0.0/22")), 3, 3, 0);
}

static void
test_routes(void **state)
{
	struct fleet_clients t;
	struct fleet_peers p;
	struct fleet_view v;
	char b[256];

	(void)state;
	two_sites(&v, &t);
	fleet_view_put(&v, "/cr/", "/cr/leaders/br", 14, "br-1", 4, 4, 4, 0);
	fleet_view_validate(&v, NULL, NULL);
	/* not a client key: left to the view */
	put(&t, "/cr/sites/br/br-1", "{}", 3, 0);
	put(&t, "/cr/clients/bob", CLIENT(PK3, "100.96.0.9/32", "br", "br-1"), 5, 1);
	put(&t, "/cr/clients/alice", CLIENT(PK4, "100.96.0.7/32", "hq", "hq-1"), 6, 1);
	/* rejected: a connector's address; a younger client's address; junk */
	put(&t, "/cr/clients/eve", CLIENT(PK5, "100.96.0.3/32", "br", "br-1"), 7, 1);
	put(&t, "/cr/clients/mallory", CLIENT(PK6,
	    "100.96.0.9/32", "br", "br-1"), 8, 1);
	put(&t, "/cr/clients/junk", "{\"public_key\": 1}", 9, 1);
	put(&t, "/cr/clients/bad name", CLIENT(PK3, "100.96.0.10/32", "br", "br-1"), 10, 1);
	assert_int_equal(t.n, 5);
	assert_int_equal(fleet_view_peers(&v, &p), 0);
	assert_int_equal(fleet_clients_route(&t, &v, &p, "/cr/"), 0);
	/* bob (served by br-1) is routed through br-1; alice is ours */
	assert_string_equal(ips_of(&p, "br-1", b, sizeof(b)),
	    "100.96.0.3/32 192.168.0.0/22 100.96.0.9/32");
	assert_int_equal(p.n, 1);
	fleet_peers_free(&p);
	/* bob leaves: the route goes */
	assert_int_equal(fleet_clients_delete(&t, "/cr/", "/cr/clients/bob", 15), 1);
	assert_int_equal(fleet_clients_delete(&t, "/cr/", "/cr/leaders/br", 14), 0);
	assert_int_equal(fleet_view_peers(&v, &p), 0);
	assert_int_equal(fleet_clients_route(&t, &v, &p, "/cr/"), 0);
	/* mallory is the only holder of .9 now, and is routed */
	assert_string_equal(ips_of(&p, "br-1", b, sizeof(b)),
	    "100.96.0.3/32 192.168.0.0/22 100.96.0.9/32");
	fleet_peers_free(&p);
	assert_int_equal(fleet_clients_delete(&t, "/cr/", "/cr/clients/mallory", 19), 1);
	/* a full re-read that does not see alice drops her */
	fleet_clients_mark(&t);
	put(&t, "/cr/clients/eve", CLIENT(PK5, "100.96.0.3/32", "br", "br-1"), 7, 1);
	fleet_clients_sweep(&t);
	assert_int_equal(t.n, 1);
	assert_int_equal(fleet_view_peers(&v, &p), 0);
	assert_int_equal(fleet_clients_route(&t, &v, &p, "/cr/"), 0);
	assert_string_equal(ips_of(&p, "br-1", b, sizeof(b)), "100.96.0.3/32 192.168.0.0/22");
	fleet_peers_free(&p);
	fleet_clients_free(&t);
	fleet_view_free(&v);
}

/*
 * What `client list|show` take from a fleet read: the connector serving a
 * client (a valid record of that site and name, else none: away), and the
 * routes pushed to another connector's client (rejected sites' subnets not
 * among them).
 */
static void
test_served(void **state)
{
	struct fleet_clients t;
	struct fleet_view v;
	struct config cfg;
	struct prefix_set routes = { 0 };
	struct prefix p;
	char b[256];
	size_t i, o = 0;
	int found[3] = { 0, 0, 0 };
	const char *names[] = { "bob", "carl", "dora" };

	(void)state;
	two_sites(&v, &t);
	/* younger, and its subnet overlaps br's: rejected */
	fleet_view_put(&v, "/cr/", "/cr/sites/ev/ev-1", 17, SITE(PK5, "100.96.0.5/32",
	    "192.168.1.0/24"), strlen(SITE(PK5, "100.96.0.5/32", "192.168.1.0/24")), 4, 4, 0);
	fleet_view_validate(&v, NULL, NULL);
	put(&t, "/cr/clients/bob", CLIENT(PK3, "100.96.0.9/32", "br", "br-1"), 5, 1);
	put(&t, "/cr/clients/carl", CLIENT(PK4, "100.96.0.10/32", "s9", "c9"), 6, 1);
	put(&t, "/cr/clients/dora", CLIENT(PK6, "100.96.0.11/32", "hq", "br-1"), 7, 1);
	for (i = 0; i < t.n; i++) {
		const struct fleet_record *r = fleet_clients_server(&v, &t.v[i]);

		if (strcmp(t.v[i].name, names[0]) == 0) {
			assert_non_null(r);
			assert_string_equal(r->site, "br");
			assert_string_equal(r->name, "br-1");
			assert_string_equal(r->endpoint, "192.0.2.1:51820");
			found[0] = 1;
		} else {
			/* no such connector; a connector of that name at another site */
			assert_null(r);
			found[strcmp(t.v[i].name, names[1]) == 0 ? 1 : 2] = 1;
		}
	}
	assert_true(found[0] && found[1] && found[2]);
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(prefix_parse("100.96.0.0/11", &p, 0), 0);
	assert_int_equal(prefix_set_add(&cfg.overlay, &p), 0);
	assert_int_equal(prefix_parse("10.0.0.0/18", &p, 0), 0);
	assert_int_equal(prefix_set_add(&cfg.local_subnets, &p), 0);
	assert_int_equal(fleet_clients_pushed_routes(&cfg, &v, &routes), 0);
	b[0] = '\0';
	for (i = 0; i < routes.n; i++) {
		char pf[PREFIX_STRLEN];

		o += (size_t)snprintf(b + o, sizeof(b) - o, "%s%s", i ? " " : "",
		    prefix_fmt(&routes.v[i], pf, sizeof(pf)));
	}
	assert_string_equal(b, "100.96.0.0/11 10.0.0.0/18 192.168.0.0/22");
	prefix_set_free(&routes);
	prefix_set_free(&cfg.overlay);
	prefix_set_free(&cfg.local_subnets);
	fleet_clients_free(&t);
	fleet_view_free(&v);
}

/* ---- the CLI's read against a loopback gateway ---- */

/* One connection: the request read (headers and a JSON body), body answered. */
struct gateway {
	int lfd;
	uint16_t port;
	pthread_t th;
	char request[8192];
	const char *answer;
};

static void *
gateway_serve(void *arg)
{
	struct gateway *g = arg;
	char head[256];
	size_t got = 0;
	ssize_t n;
	int fd = accept(g->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	while (got + 1 < sizeof(g->request) &&
	    (n = read(fd, g->request + got, sizeof(g->request) - 1 - got)) > 0) {
		got += (size_t)n;
		g->request[got] = '\0';
		if (strstr(g->request, "\r\n\r\n") != NULL && g->request[got - 1] == '}')
			break;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n", strlen(g->answer));
	if (write(fd, head, strlen(head)) >= 0 && write(fd, g->answer, strlen(g->answer)) >= 0)
		shutdown(fd, SHUT_WR);
	close(fd);
	return NULL;
}

/* A listener on 127.0.0.1 (serving: a thread answers one request). */
static void
gateway_start(struct gateway *g, int serving)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t al = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true((g->lfd = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	assert_int_equal(bind(g->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(g->lfd, 4), 0);
	assert_int_equal(getsockname(g->lfd, (struct sockaddr *)&a, &al), 0);
	g->port = ntohs(a.sin_port);
	if (serving)
		assert_int_equal(pthread_create(&g->th, NULL, gateway_serve, g), 0);
}

static void
fleet_cfg(struct config *cfg, uint16_t port)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->fleet.enabled = 1;
	snprintf(cfg->fleet.etcd[0], sizeof(cfg->fleet.etcd[0]), "http://127.0.0.1:%u", port);
	cfg->fleet.n_etcd = 1;
	cr_strlcpy(cfg->fleet.prefix, "/cr/", sizeof(cfg->fleet.prefix));
	cr_strlcpy(cfg->fleet.site, "hq", sizeof(cfg->fleet.site));
	cr_strlcpy(cfg->fleet.name, "hq-1", sizeof(cfg->fleet.name));
	cr_strlcpy(cfg->state_dir, "/nonexistent", sizeof(cfg->state_dir));
}

/* One mvccpb.KeyValue as the gateway sends it (base64, int64 as strings). */
static void
kv_json(struct buf *b, const char *key, const char *value, int rev)
{
	char k[256], v[1024];

	EVP_EncodeBlock((unsigned char *)k, (const unsigned char *)key, (int)strlen(key));
	EVP_EncodeBlock((unsigned char *)v, (const unsigned char *)value, (int)strlen(value));
	buf_printf(b, "%s{\"key\": \"%s\", \"create_revision\": \"%d\", \"mod_revision\": "
	    "\"%d\", \"version\": \"1\", \"value\": \"%s\"}", b->len > 1 ? ", " : "", k, rev,
	    rev, v);
}

static const struct fleet_client *
named(const struct fleet_clients *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

static void
test_cli_read(void **state)
{
	struct gateway g = { 0 };
	struct fleet_clients t;
	struct fleet_view v;
	struct config cfg;
	struct buf kvs, answer, err;
	const struct fleet_record *r;

	(void)state;
	buf_init(&kvs, 1 << 16);
	buf_init(&answer, 1 << 16);
	buf_init(&err, 4096);
	buf_puts(&kvs, "[");
	kv_json(&kvs, "/cr/clients/alice", CLIENT(PK4, "100.96.0.7/32", "hq", "hq-1"), 6);
	kv_json(&kvs, "/cr/clients/bob", CLIENT(PK3, "100.96.0.9/32", "br", "br-1"), 5);
	kv_json(&kvs, "/cr/clients/eve", CLIENT(PK5, "100.96.0.3/32", "br", "br-1"), 7);
	kv_json(&kvs, "/cr/clients/junk", "{\"public_key\": 1}", 9);
	kv_json(&kvs, "/cr/leaders/br", "br-1", 4);
	kv_json(&kvs, "/cr/sites/br/br-1", SITE(PK2, "100.96.0.3/32", "192.168.0.0/22"), 3);
	kv_json(&kvs, "/cr/sites/hq/hq-1", SITE(PK1, "100.96.0.1/32", "10.0.0.0/18"), 2);
	buf_puts(&kvs, "]");
	buf_printf(&answer, "{\"header\": {\"cluster_id\": \"1\", \"member_id\": \"2\", "
	    "\"revision\": \"9\", \"raft_term\": \"2\"}, \"kvs\": %s, \"count\": \"7\"}", kvs.data);
	g.answer = answer.data;
	gateway_start(&g, 1);
	fleet_cfg(&cfg, g.port);
	assert_int_equal(fleet_clients_cli_read(&cfg, &t, &v, &err), 0);
	pthread_join(g.th, NULL);
	close(g.lfd);
	/* one range of the whole prefix: key "/cr/", range_end "/cr0" */
	assert_non_null(strstr(g.request, "POST /v3/kv/range "));
	assert_non_null(strstr(g.request, "\"key\":\"L2NyLw==\""));
	assert_non_null(strstr(g.request, "\"range_end\":\"L2NyMA==\""));
	/* the connectors into the view, the clients into the table */
	assert_int_equal(v.n, 2);
	assert_int_equal(t.n, 4);
	assert_true(named(&t, "alice")->valid);
	assert_true(named(&t, "bob")->valid);
	assert_false(named(&t, "eve")->valid);            /* br-1's address */
	assert_false(named(&t, "junk")->decoded);
	assert_non_null(r = fleet_clients_server(&v, named(&t, "bob")));
	assert_string_equal(r->endpoint, "192.0.2.1:51820");
	fleet_clients_free(&t);
	fleet_view_free(&v);

	/* etcd away: an error naming the fleet, nothing read */
	memset(&g, 0, sizeof(g));
	gateway_start(&g, 0);
	close(g.lfd);                                     /* refused from now on */
	fleet_cfg(&cfg, g.port);
	buf_reset(&err);
	assert_true(fleet_clients_cli_read(&cfg, &t, &v, &err) < 0);
	assert_non_null(strstr(err.data, "fleet: "));
	assert_int_equal(t.n, 0);
	assert_int_equal(v.n, 0);
	fleet_clients_free(&t);
	fleet_view_free(&v);
	buf_free(&kvs);
	buf_free(&answer);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_served),
		cmocka_unit_test(test_cli_read),
	};

	log_init(1, 0, "test");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
