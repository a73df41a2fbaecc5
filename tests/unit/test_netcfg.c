/*
 * Unit tests for netcfg that need no privileges: the nft renderer
 * (golden text, table-driven rule presence/absence, determinism, input
 * checks) and the sysctl key -> /proc/sys path mapping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "netcfg/netcfg.h"
#include "netcfg/nc_internal.h"

/* Parses a space-separated list of prefixes into s. */
static void
set_of(struct prefix_set *s, const char *list)
{
	char tmp[512], *save = NULL, *tok;
	struct prefix p;

	memset(s, 0, sizeof(*s));
	if (list == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s", list);
	for (tok = strtok_r(tmp, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		assert_int_equal(prefix_parse(tok, &p, 1), 0);
		assert_int_equal(prefix_set_add(s, &p), 0);
	}
}

struct fwd_in {
	int proto;
	uint16_t port;
	const char *to;
	uint16_t to_port;
};

struct spec_in {
	const char *overlay, *local, *exclude, *tun;
	int masq, egress, mss;
	struct fwd_in fwd[2];
};

/* Renders si into out (initialised here); returns nc_nft_render's result. */
static int
render(const struct spec_in *si, struct buf *out)
{
	struct prefix_set ov, loc, ex, tun;
	struct nc_portfwd f[2];
	struct nc_nft_spec s;
	size_t i, n = 0;
	int r;

	set_of(&ov, si->overlay);
	set_of(&loc, si->local);
	set_of(&ex, si->exclude);
	set_of(&tun, si->tun);
	memset(f, 0, sizeof(f));
	for (i = 0; i < 2 && si->fwd[i].proto; i++, n++) {
		f[i].proto = si->fwd[i].proto;
		f[i].port = si->fwd[i].port;
		assert_int_equal(prefix_parse_addr(si->fwd[i].to, &f[i].to), 0);
		f[i].to_port = si->fwd[i].to_port;
	}
	memset(&s, 0, sizeof(s));
	s.lan_if = "eth0";
	s.tun_if = "cr0";
	s.overlay = &ov;
	s.local_subnets = &loc;
	s.exclude = &ex;
	s.tun_addrs = &tun;
	s.masquerade = si->masq;
	s.egress = si->egress;
	s.mss_clamp = si->mss;
	s.fwds = f;
	s.n_fwds = n;
	buf_init(out, 1 << 20);
	r = nc_nft_render(&s, out);
	prefix_set_free(&ov);
	prefix_set_free(&loc);
	prefix_set_free(&ex);
	prefix_set_free(&tun);
	return r;
}

/* The typical connector of the design document. */
static const struct spec_in typical = {
	"100.96.0.0/11", "10.0.0.0/18", "10.0.0.0/18", "100.96.0.100/11", 1, 0, 1,
	{ { IPPROTO_TCP, 33000, "192.168.100.30", 8080 } },
};

static const char typical_golden[] =
	"table inet cloudroute {\n"
	"\tset overlay4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
	"\t\telements = { 100.96.0.0/11 }\n\t}\n\n"
	"\tset local4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
	"\t\telements = { 10.0.0.0/18 }\n\t}\n\n"
	"\tset exclude4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
	"\t\telements = { 10.0.0.0/18 }\n\t}\n\n"
	"\tset tunaddr4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n"
	"\t\telements = { 100.96.0.100 }\n\t}\n\n"
	"\tchain forward {\n"
	"\t\ttype filter hook forward priority filter; policy accept;\n"
	"\t\tiifname \"cr0\" oifname \"eth0\" tcp flags syn tcp option maxseg size set rt mtu comment \"cloudroute\"\n"
	"\t\tiifname \"eth0\" oifname \"cr0\" tcp flags syn tcp option maxseg size set rt mtu comment \"cloudroute\"\n"
	"\t\tiifname \"cr0\" oifname \"eth0\" ip saddr @overlay4 ip daddr @local4 accept comment \"cloudroute\"\n"
	"\t\tiifname \"eth0\" oifname \"cr0\" ip daddr @overlay4 accept comment \"cloudroute\"\n"
	"\t}\n\n"
	"\tchain postrouting {\n"
	"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
	"\t\tiifname \"cr0\" oifname \"eth0\" ct status dnat masquerade comment \"cloudroute\"\n"
	"\t\toifname \"eth0\" ip saddr @overlay4 ip daddr @exclude4 return comment \"cloudroute\"\n"
	"\t\toifname \"eth0\" ip saddr @overlay4 ip daddr @local4 masquerade comment \"cloudroute\"\n"
	"\t}\n\n"
	"\tchain prerouting {\n"
	"\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
	"\t\tiifname \"cr0\" ip daddr @tunaddr4 tcp dport 33000 dnat ip to 192.168.100.30:8080 comment \"cloudroute\"\n"
	"\t}\n"
	"}\n";

static void
test_render_golden(void **state)
{
	struct buf b;

	(void)state;
	assert_int_equal(render(&typical, &b), 0);
	assert_string_equal(b.data, typical_golden);
	buf_free(&b);
}

/* Snippets that must (or must not) appear for one spec. */
struct render_case {
	const char *name;
	struct spec_in in;
	const char *must[6];
	const char *mustnot[6];
};

#define MSS_FWD "iifname \"cr0\" oifname \"eth0\" tcp flags syn tcp option maxseg size set rt mtu"
#define MSS_REV "iifname \"eth0\" oifname \"cr0\" tcp flags syn tcp option maxseg size set rt mtu"
#define EXCL4 "oifname \"eth0\" ip saddr @overlay4 ip daddr @exclude4 return comment \"cloudroute\"\n"
#define MASQ_LOCAL4 "oifname \"eth0\" ip saddr @overlay4 ip daddr @local4 masquerade"
#define MASQ_ALL4 "oifname \"eth0\" ip saddr @overlay4 masquerade"

static const struct render_case render_cases[] = {
	{ "masquerade with exclude",
	  { "100.96.0.0/11", "10.0.0.0/16", "10.0.5.0/24", NULL, 1, 0, 0, { { 0 } } },
	  { EXCL4, MASQ_LOCAL4, "elements = { 10.0.5.0/24 }" },
	  { MASQ_ALL4, "maxseg", "ct status dnat", "tunaddr4" } },
	{ "masquerade off, no egress: no NAT at all",
	  { "100.96.0.0/11", "10.0.0.0/16", "10.0.5.0/24", NULL, 0, 0, 1, { { 0 } } },
	  { MSS_FWD, MSS_REV, "ip saddr @overlay4 ip daddr @local4 accept" },
	  { "masquerade", "@exclude4 return" } },
	{ "egress without masquerade still NATs everything but exclude",
	  { "100.96.0.0/11", "10.0.0.0/16", "10.0.5.0/24", NULL, 0, 1, 0, { { 0 } } },
	  { EXCL4, MASQ_ALL4, "iifname \"cr0\" oifname \"eth0\" ip saddr @overlay4 accept" },
	  { MASQ_LOCAL4, "ip daddr @local4 accept" } },
	{ "egress off: only local subnets NATed",
	  { "100.96.0.0/11", "10.0.0.0/16", NULL, NULL, 1, 0, 0, { { 0 } } },
	  { MASQ_LOCAL4 },
	  { MASQ_ALL4, "exclude4" } },
	{ "mss off",
	  { "100.96.0.0/11", "10.0.0.0/16", NULL, NULL, 1, 0, 0, { { 0 } } },
	  { "chain forward {" },
	  { "maxseg", "rt mtu" } },
	{ "port forwards v4 and v6",
	  { "100.96.0.0/11 fd00:96::/64", NULL, NULL, "100.96.0.100/11 fd00:96::1/64", 0, 0, 0,
	    { { IPPROTO_TCP, 33000, "192.168.100.30", 8080 },
	      { IPPROTO_UDP, 5353, "fd10::53", 0 } } },
	  { "iifname \"cr0\" oifname \"eth0\" ct status dnat masquerade",
	    "iifname \"cr0\" ip daddr @tunaddr4 tcp dport 33000 dnat ip to 192.168.100.30:8080",
	    "iifname \"cr0\" ip6 daddr @tunaddr6 udp dport 5353 dnat ip6 to fd10::53 comment",
	    "elements = { fd00:96::1 }" },
	  { "oifname \"eth0\" ip saddr @overlay4 masquerade" } },
	{ "port forward without a tunnel address of its family is skipped",
	  { "100.96.0.0/11", NULL, NULL, "100.96.0.100/11", 0, 0, 0,
	    { { IPPROTO_TCP, 80, "fd10::80", 8080 } } },
	  { "chain prerouting {" },
	  { "dnat ip6", "tunaddr6" } },
	{ "v6 prefixes only: no ip rules",
	  { "fd00:96::/64", "fd10::/64 fd10::/48", "fd10:0:0:5::/64", NULL, 1, 0, 0, { { 0 } } },
	  { "type ipv6_addr", "elements = { fd10::/48 }",
	    "oifname \"eth0\" ip6 saddr @overlay6 ip6 daddr @exclude6 return",
	    "oifname \"eth0\" ip6 saddr @overlay6 ip6 daddr @local6 masquerade",
	    "iifname \"eth0\" oifname \"cr0\" ip6 daddr @overlay6 accept" },
	  { " ip saddr", " ip daddr", "overlay4", "fd10::/64" } },
	{ "mixed families, v4 local only",
	  { "100.96.0.0/11 fd00:96::/64", "10.0.0.0/16", NULL, NULL, 1, 0, 0, { { 0 } } },
	  { MASQ_LOCAL4, "iifname \"eth0\" oifname \"cr0\" ip6 daddr @overlay6 accept" },
	  { "ip6 saddr @overlay6 masquerade", "@local6" } },
	{ "host bits cleared, contained prefixes merged, sorted",
	  { "100.96.0.77/11 100.100.0.0/16 10.9.0.0/16", "10.0.0.5/18", NULL, NULL, 1, 0, 0, { { 0 } } },
	  { "elements = { 10.9.0.0/16, 100.96.0.0/11 }", "elements = { 10.0.0.0/18 }" },
	  { "100.100.0.0", "10.0.0.5" } },
};

static void
test_render_cases(void **state)
{
	const struct render_case *c;
	struct buf b;
	size_t i, j;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(render_cases); i++) {
		c = &render_cases[i];
		assert_int_equal(render(&c->in, &b), 0);
		for (j = 0; j < ARRAY_SIZE(c->must) && c->must[j]; j++)
			if (strstr(b.data, c->must[j]) == NULL)
				fail_msg("%s: missing \"%s\" in\n%s", c->name, c->must[j], b.data);
		for (j = 0; j < ARRAY_SIZE(c->mustnot) && c->mustnot[j]; j++)
			if (strstr(b.data, c->mustnot[j]) != NULL)
				fail_msg("%s: unexpected \"%s\" in\n%s", c->name, c->mustnot[j], b.data);
		/* Every table always has the three base chains, policy accept. */
		assert_non_null(strstr(b.data, "type filter hook forward priority filter; policy accept;"));
		assert_non_null(strstr(b.data, "type nat hook postrouting priority srcnat; policy accept;"));
		assert_non_null(strstr(b.data, "type nat hook prerouting priority dstnat; policy accept;"));
		assert_null(strstr(b.data, "drop"));
		buf_free(&b);
	}
}

static void
test_render_deterministic(void **state)
{
	struct spec_in a = typical, b2 = typical;
	struct buf x, y;

	(void)state;
	a.overlay = "100.96.0.0/11 10.200.0.0/16 fd00::/64";
	b2.overlay = "fd00::/64 10.200.0.0/16 100.96.0.0/11 10.200.1.0/24";
	assert_int_equal(render(&a, &x), 0);
	assert_int_equal(render(&b2, &y), 0);
	assert_string_equal(x.data, y.data);
	buf_free(&x);
	buf_free(&y);
}

static void
test_render_rejects(void **state)
{
	struct prefix_set ov;
	struct nc_portfwd f;
	struct nc_nft_spec s;
	struct buf b;
	static const char *const bad_if[] = { "", "eth0\"; flush ruleset", "a b",
	    "0123456789abcdefX", "x\\y" };
	size_t i;

	(void)state;
	set_of(&ov, "100.96.0.0/11");
	buf_init(&b, 1 << 16);
	for (i = 0; i < ARRAY_SIZE(bad_if); i++) {
		memset(&s, 0, sizeof(s));
		s.lan_if = bad_if[i];
		s.tun_if = "cr0";
		s.overlay = &ov;
		assert_int_equal(nc_nft_render(&s, &b), -EINVAL);
		assert_non_null(strstr(nc_last_error(), "interface name"));
	}
	memset(&f, 0, sizeof(f));
	f.proto = IPPROTO_ICMP;
	f.port = 1;
	assert_int_equal(prefix_parse_addr("10.0.0.1", &f.to), 0);
	s.lan_if = "eth0";
	s.fwds = &f;
	s.n_fwds = 1;
	assert_int_equal(nc_nft_render(&s, &b), -EINVAL);
	/* A tiny buffer cap is reported, not overrun. */
	buf_free(&b);
	buf_init(&b, 64);
	s.n_fwds = 0;
	assert_int_equal(nc_nft_render(&s, &b), -E2BIG);
	buf_free(&b);
	prefix_set_free(&ov);
}

struct path_case {
	const char *key;
	const char *path;   /* NULL: must be rejected */
};

static const struct path_case path_cases[] = {
	{ "net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward" },
	{ "net.ipv6.conf.all.forwarding", "/proc/sys/net/ipv6/conf/all/forwarding" },
	{ "net.ipv4.conf.eth0.rp_filter", "/proc/sys/net/ipv4/conf/eth0/rp_filter" },
	{ "net.ipv4.conf.eth0.1.rp_filter", "/proc/sys/net/ipv4/conf/eth0.1/rp_filter" },
	{ "net.ipv6.conf.bond0.100.accept_ra", "/proc/sys/net/ipv6/conf/bond0.100/accept_ra" },
	{ "net.ipv4.neigh.vlan.7.gc_stale_time", "/proc/sys/net/ipv4/neigh/vlan.7/gc_stale_time" },
	{ "net/ipv4/conf/eth0.1/rp_filter", "/proc/sys/net/ipv4/conf/eth0.1/rp_filter" },
	{ "net.core.somaxconn", "/proc/sys/net/core/somaxconn" },
	{ "", NULL },
	{ "net..ipv4", NULL },
	{ "net.ipv4.conf..rp_filter", NULL },
	{ "net.ipv4.conf.eth0.", NULL },
	{ "net/../../etc/passwd", NULL },
	{ "net/./ipv4/ip_forward", NULL },
	{ "/net/ipv4/ip_forward", NULL },
	{ "net.ipv4.conf.a b.rp_filter", NULL },
	{ "net.ipv4.ip_forward.", NULL },
};

static void
test_sysctl_path(void **state)
{
	char path[256];
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(path_cases); i++) {
		r = nc_sysctl_path(path_cases[i].key, path, sizeof(path));
		if (path_cases[i].path == NULL) {
			if (r != -EINVAL)
				fail_msg("key \"%s\" accepted as %s", path_cases[i].key, path);
			continue;
		}
		if (r != 0)
			fail_msg("key \"%s\" rejected", path_cases[i].key);
		assert_string_equal(path, path_cases[i].path);
	}
	/* Too small a buffer is an error, never a truncated path. */
	assert_int_equal(nc_sysctl_path("net.ipv4.ip_forward", path, 20), -EINVAL);
}

static void
test_sysctl_read_proc(void **state)
{
	char v[64];

	(void)state;
	/* Reading is harmless and every Linux has this key. */
	assert_int_equal(nc_sysctl_read("kernel.ostype", v, sizeof(v)), 0);
	assert_string_equal(v, "Linux");
	assert_int_equal(nc_sysctl_read("kernel.ostype", v, 4), -EOVERFLOW);
	assert_int_equal(nc_sysctl_read("net.ipv4.no_such_key_cr", v, sizeof(v)), -ENOENT);
	assert_non_null(strstr(nc_last_error(), "no_such_key_cr"));
}

static void *
fail_in_thread(void *arg)
{
	char v[8];

	(void)nc_sysctl_read("net.ipv4.other_thread_key", v, sizeof(v));
	return strstr(nc_last_error(), "other_thread_key") != NULL ? arg : NULL;
}

static void
test_last_error_per_thread(void **state)
{
	pthread_t t;
	static int seen;
	void *ret = NULL;
	char v[8];

	(void)state;
	assert_int_equal(nc_sysctl_read("net.ipv4.main_thread_key", v, sizeof(v)), -ENOENT);
	assert_int_equal(pthread_create(&t, NULL, fail_in_thread, &seen), 0);
	assert_int_equal(pthread_join(t, &ret), 0);
	assert_ptr_equal(ret, &seen);
	assert_non_null(strstr(nc_last_error(), "main_thread_key"));
	assert_null(strstr(nc_last_error(), "other_thread_key"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_golden),
		cmocka_unit_test(test_render_cases),
		cmocka_unit_test(test_render_deterministic),
		cmocka_unit_test(test_render_rejects),
		cmocka_unit_test(test_sysctl_path),
		cmocka_unit_test(test_sysctl_read_proc),
		cmocka_unit_test(test_last_error_per_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
