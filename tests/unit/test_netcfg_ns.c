/*
 * netcfg against a real kernel.  These tests change sysctls, nftables,
 * routes, addresses and links, so they run only inside a network namespace
 * made for them: tests/integration/t_netcfg.sh creates it and runs this
 * binary there with CR_NETNS_TEST=1 and the names below.  Anywhere else
 * (e.g. `make check` unit runs) every test is skipped.
 *
 *   CR_NS_LAN    up, 10.0.0.5/18, default route via 10.0.0.1
 *   CR_NS_TUN    up, the "tunnel" (one end of a veth pair), 192.168.60.0/24 on it is a
 *                foreign route (proto static)
 *   CR_NS_DOWN   a link that is down
 *   CR_NS_DOT    a link whose name holds a dot
 *   table ip filter with chain FORWARD policy drop exists (foreign)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "netcfg/netcfg.h"

/*
 * These tests change sysctls, nftables and routes.  The environment variable
 * only says the runner meant to run them; the namespace check is what keeps
 * them off the host: they run only in a network namespace other than init's.
 */
static int
in_own_netns(void)
{
	struct stat self, other;
	struct dirent *de;
	char path[512];
	DIR *d;
	int named = 0;

	if (stat("/proc/self/ns/net", &self) < 0)
		return 0;
	/* Where pid 1 can be seen: never its namespace. */
	if (stat("/proc/1/ns/net", &other) == 0 && other.st_ino == self.st_ino &&
	    other.st_dev == self.st_dev)
		return 0;
	/* And only one that `ip netns add` made (a test's). */
	if ((d = opendir("/var/run/netns")) == NULL)
		return 0;
	while (!named && (de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/var/run/netns/%s", de->d_name);
		named = de->d_name[0] != '.' && stat(path, &other) == 0 &&
		    other.st_ino == self.st_ino && other.st_dev == self.st_dev;
	}
	closedir(d);
	return named;
}

#define NEED_NS() do { \
	if (getenv("CR_NETNS_TEST") == NULL) \
		skip(); \
	if (!in_own_netns()) \
		fail_msg("CR_NETNS_TEST is set but this is the host's network namespace: " \
		    "refusing to change its sysctls, nftables and routes"); \
} while (0)

static const char *
env(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fail_msg("%s not set", name);
	return v;
}

static struct prefix
pfx(const char *s)
{
	struct prefix p;

	assert_int_equal(prefix_parse(s, &p, 1), 0);
	return p;
}

/* The route to dst in the main table, or NULL (r is caller storage). */
static const struct nc_route *
find_route(const char *dst, struct nc_route *r)
{
	struct prefix p = pfx(dst);
	struct nc_route *v = NULL;
	size_t n = 0, i;
	int found = 0;

	assert_int_equal(nc_route_list(&p, &v, &n), 0);
	for (i = 0; i < n; i++) {
		if (prefix_equal(&v[i].dst, &p)) {
			*r = v[i];
			found = 1;
			break;
		}
	}
	free(v);
	return found ? r : NULL;
}

static void
test_sysctl(void **state)
{
	char v[64], key[128];

	(void)state;
	NEED_NS();
	assert_int_equal(nc_sysctl_write("net.ipv4.ip_forward", "1"), 0);
	assert_int_equal(nc_sysctl_read("net.ipv4.ip_forward", v, sizeof(v)), 0);
	assert_string_equal(v, "1");
	assert_int_equal(nc_sysctl_write("net.ipv4.ip_forward", "0"), 0);
	assert_int_equal(nc_sysctl_read("net.ipv4.ip_forward", v, sizeof(v)), 0);
	assert_string_equal(v, "0");
	/* An interface name with a dot keeps it in the path. */
	snprintf(key, sizeof(key), "net.ipv4.conf.%s.rp_filter", env("CR_NS_DOT"));
	assert_int_equal(nc_sysctl_write(key, "2"), 0);
	assert_int_equal(nc_sysctl_read(key, v, sizeof(v)), 0);
	assert_string_equal(v, "2");
	assert_int_equal(nc_sysctl_write(key, "0"), 0);
	assert_int_equal(nc_sysctl_read(key, v, sizeof(v)), 0);
	assert_string_equal(v, "0");
	/* The kernel refuses an out-of-range value; the error says which. */
	assert_int_equal(nc_sysctl_write(key, "abc"), -EINVAL);
	assert_non_null(strstr(nc_last_error(), "rp_filter"));
}

static void
add_all(struct prefix_set *s, const char *const *list)
{
	struct prefix p;

	for (; *list; list++) {
		p = pfx(*list);
		assert_int_equal(prefix_set_add(s, &p), 0);
	}
}

/* Several elements per set, both families: nft's line wrapping included. */
static void
render_spec(struct buf *out, const char *overlay)
{
	static const char *const ovl[] = { "fd00:96::/64", "10.200.0.0/16", "fd00:97::/64",
	    "10.201.0.0/16", "10.202.0.0/16", NULL };
	static const char *const locl[] = { "10.0.0.0/18", NULL };
	static const char *const exl[] = { "10.0.1.0/24", "10.0.3.0/24", "fd10::/64", NULL };
	static const char *const tunl[] = { "100.96.0.100/11", "fd00:96::100/64",
	    "fd00:97::100/64", "100.96.0.101/11", NULL };
	struct prefix_set ov = { 0 }, loc = { 0 }, ex = { 0 }, tun = { 0 };
	struct prefix p;
	struct nc_portfwd f[2];
	struct nc_nft_spec s;

	p = pfx(overlay);
	assert_int_equal(prefix_set_add(&ov, &p), 0);
	add_all(&ov, ovl);
	add_all(&loc, locl);
	add_all(&ex, exl);
	add_all(&tun, tunl);
	memset(f, 0, sizeof(f));
	f[0].proto = IPPROTO_TCP;
	f[0].port = 33000;
	assert_int_equal(prefix_parse_addr("10.0.0.30", &f[0].to), 0);
	f[0].to_port = 8080;
	f[1].proto = IPPROTO_UDP;
	f[1].port = 53;
	assert_int_equal(prefix_parse_addr("fd10::53", &f[1].to), 0);
	memset(&s, 0, sizeof(s));
	s.lan_if = env("CR_NS_LAN");
	s.tun_if = env("CR_NS_TUN");
	s.overlay = &ov;
	s.local_subnets = &loc;
	s.exclude = &ex;
	s.tun_addrs = &tun;
	s.masquerade = 1;
	s.mss_clamp = 1;
	s.fwds = f;
	s.n_fwds = 2;
	buf_init(out, 1 << 20);
	assert_int_equal(nc_nft_render(&s, out), 0);
	prefix_set_free(&ov);
	prefix_set_free(&loc);
	prefix_set_free(&ex);
	prefix_set_free(&tun);
}

static void
test_nft(void **state)
{
	struct buf script, l1, l2, l3, fc, script2;

	(void)state;
	NEED_NS();
	buf_init(&l1, 1 << 20);
	buf_init(&l2, 1 << 20);
	buf_init(&l3, 1 << 20);
	buf_init(&fc, 4096);
	assert_int_equal(nc_nft_delete(), 0);          /* absent: still 0 */
	assert_int_equal(nc_nft_list(&l1), -ENOENT);
	render_spec(&script, "100.96.0.0/11");
	assert_int_equal(nc_nft_replace(script.data), 0);
	assert_int_equal(nc_nft_list(&l1), 0);
	/* What we render is exactly what nft lists back. */
	assert_string_equal(l1.data, script.data);
	assert_int_equal(nc_nft_replace(script.data), 0);
	assert_int_equal(nc_nft_list(&l2), 0);
	assert_string_equal(l1.data, l2.data);
	/* A different spec replaces the whole table in one go. */
	render_spec(&script2, "100.64.0.0/10");
	assert_int_equal(nc_nft_replace(script2.data), 0);
	assert_int_equal(nc_nft_list(&l3), 0);
	assert_string_equal(l3.data, script2.data);
	/* A broken script fails as a whole and leaves the table as it was. */
	assert_int_not_equal(nc_nft_replace("table inet cloudroute {\n\tchain x {\n\t\tbogus\n\t}\n}\n"), 0);
	assert_non_null(strstr(nc_last_error(), "nft replace: Error"));
	buf_reset(&l3);
	assert_int_equal(nc_nft_list(&l3), 0);
	assert_string_equal(l3.data, script2.data);
	/* The foreign drop chain set up by the script, and not ours. */
	assert_int_equal(nc_nft_foreign_drop_chains("forward", &fc), 0);
	assert_string_equal(fc.data, "ip filter FORWARD\n");
	buf_reset(&fc);
	assert_int_equal(nc_nft_foreign_drop_chains("prerouting", &fc), 0);
	assert_int_equal(fc.len, 0);
	assert_int_equal(nc_nft_delete(), 0);
	buf_reset(&l3);
	assert_int_equal(nc_nft_list(&l3), -ENOENT);
	assert_int_equal(nc_nft_delete(), 0);
	buf_free(&script);
	buf_free(&script2);
	buf_free(&l1);
	buf_free(&l2);
	buf_free(&l3);
	buf_free(&fc);
}

static void
test_routes(void **state)
{
	const char *tun;
	struct nc_route r;
	struct prefix p, p6, foreign;

	(void)state;
	NEED_NS();
	tun = env("CR_NS_TUN");
	p = pfx("192.168.50.0/24");
	p6 = pfx("fd99::/64");
	assert_int_equal(nc_route_add(&p, tun, 100), 0);
	assert_non_null(find_route("192.168.50.0/24", &r));
	assert_int_equal(r.protocol, NC_RTPROT_CLOUDROUTE);
	assert_string_equal(r.ifname, tun);
	assert_int_equal(r.metric, 100);
	assert_int_equal(r.has_gateway, 0);
	assert_int_equal(nc_route_add(&p, tun, 100), -EEXIST);
	/* Same destination, other metric: a second route. */
	assert_int_equal(nc_route_add(&p, tun, 200), 0);
	assert_int_equal(nc_route_del(&p, tun, 200), 0);
	assert_int_equal(nc_route_del(&p, tun, 100), 0);
	assert_null(find_route("192.168.50.0/24", &r));
	assert_int_equal(nc_route_del(&p, tun, 100), -ENOENT);
	/* IPv6, metric 0 (the kernel stores 1024). */
	assert_int_equal(nc_route_add(&p6, tun, 0), 0);
	assert_non_null(find_route("fd99::/64", &r));
	assert_int_equal(r.protocol, NC_RTPROT_CLOUDROUTE);
	assert_int_equal(nc_route_del(&p6, tun, 0), 0);
	assert_null(find_route("fd99::/64", &r));
	/* Routes that are not ours stay. */
	foreign = pfx("192.168.60.0/24");
	assert_int_equal(nc_route_del(&foreign, tun, 0), -ENOENT);
	assert_non_null(strstr(nc_last_error(), "not ours"));
	assert_non_null(find_route("192.168.60.0/24", &r));
	assert_int_equal(r.protocol, 4);        /* RTPROT_STATIC */
	/* The gateway of the default route is reported. */
	assert_non_null(find_route("0.0.0.0/0", &r));
	assert_int_equal(r.has_gateway, 1);
	p = pfx("10.0.0.1/32");
	assert_true(prefix_equal(&r.gateway, &p));
	assert_string_equal(r.ifname, env("CR_NS_LAN"));
	/* Host bits are refused before the kernel sees them. */
	p = pfx("192.168.50.1/24");
	assert_int_equal(nc_route_add(&p, tun, 0), -EINVAL);
}

static void
test_route_ext_ack(void **state)
{
	struct prefix p = pfx("192.168.70.0/24");

	(void)state;
	NEED_NS();
	/* The kernel's own words, not just strerror(ENETDOWN). */
	assert_int_equal(nc_route_add(&p, env("CR_NS_DOWN"), 0), -ENETDOWN);
	print_message("# ext ack: %s\n", nc_last_error());
	assert_non_null(strstr(nc_last_error(), "not up"));
	assert_null(strstr(nc_last_error(), "Network is down"));
}

static void
test_addrs(void **state)
{
	struct prefix_set s = { 0 }, c = { 0 };
	struct prefix a = pfx("10.77.0.5/24"), a6 = pfx("fd77::5/64"), net = pfx("10.77.0.0/24");
	const char *tun;

	(void)state;
	NEED_NS();
	tun = env("CR_NS_TUN");
	assert_int_equal(nc_addr_add(tun, &a), 0);
	assert_int_equal(nc_addr_add(tun, &a), -EEXIST);
	assert_int_equal(nc_addr_add(tun, &a6), 0);
	assert_int_equal(nc_addr_list(tun, &s), 0);
	assert_true(prefix_set_has(&s, &a));
	assert_true(prefix_set_has(&s, &a6));
	assert_int_equal(nc_connected_prefixes(tun, &c), 0);
	assert_true(prefix_set_has(&c, &net));
	assert_false(prefix_set_has(&c, &a));
	assert_int_equal(nc_addr_del(tun, &a), 0);
	assert_int_equal(nc_addr_del(tun, &a6), 0);
	assert_int_equal(nc_addr_del(tun, &a), -EADDRNOTAVAIL);
	prefix_set_free(&s);
	assert_int_equal(nc_addr_list(tun, &s), 0);
	assert_false(prefix_set_has(&s, &a));
	assert_false(prefix_set_has(&s, &a6));
	prefix_set_free(&s);
	prefix_set_free(&c);
	/* The LAN's connected prefix, as lan_interface defaults need it. */
	net = pfx("10.0.0.0/18");
	assert_int_equal(nc_connected_prefixes(env("CR_NS_LAN"), &c), 0);
	assert_true(prefix_set_has(&c, &net));
	prefix_set_free(&c);
	assert_int_equal(nc_addr_list("cr-nonexist0", &s), -ENODEV);
}

static void
test_links(void **state)
{
	const char *d;
	unsigned int mtu;
	int up;

	(void)state;
	NEED_NS();
	d = env("CR_NS_DOWN");
	assert_true(nc_link_index(d) > 0);
	assert_int_equal(nc_link_exists(d), 1);
	assert_int_equal(nc_link_exists("cr-nonexist0"), 0);
	assert_int_equal(nc_link_index("cr-nonexist0"), -ENODEV);
	assert_int_equal(nc_link_get(d, &up, &mtu), 0);
	assert_int_equal(up, 0);
	assert_int_equal(nc_link_set(d, 1, 1380), 0);
	assert_int_equal(nc_link_get(d, &up, &mtu), 0);
	assert_int_equal(up, 1);
	assert_int_equal(mtu, 1380);
	assert_int_equal(nc_link_set(d, -1, 1400), 0);  /* mtu only */
	assert_int_equal(nc_link_get(d, &up, &mtu), 0);
	assert_int_equal(up, 1);
	assert_int_equal(mtu, 1400);
	assert_int_equal(nc_link_set(d, 0, 0), 0);      /* down only */
	assert_int_equal(nc_link_get(d, &up, &mtu), 0);
	assert_int_equal(up, 0);
	assert_int_equal(mtu, 1400);
	/* The kernel refuses an MTU below the minimum, with a reason. */
	assert_int_not_equal(nc_link_set(d, -1, 10), 0);
	print_message("# mtu 10: %s\n", nc_last_error());
	assert_int_equal(nc_link_get("cr-nonexist0", &up, &mtu), -ENODEV);
}

static void
test_default_ifname(void **state)
{
	char ifn[IF_NAMESIZE];

	(void)state;
	NEED_NS();
	assert_int_equal(nc_default_ifname(ifn, sizeof(ifn)), 0);
	assert_string_equal(ifn, env("CR_NS_LAN"));
}

static void
test_monitor(void **state)
{
	struct prefix a = pfx("10.78.0.1/24");
	struct pollfd pfd;
	int fd;

	(void)state;
	NEED_NS();
	fd = nc_monitor_open();
	assert_true(fd >= 0);
	assert_int_equal(nc_monitor_drain(fd), 0);      /* nothing yet */
	assert_int_equal(nc_addr_add(env("CR_NS_TUN"), &a), 0);
	pfd.fd = fd;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(nc_monitor_drain(fd), 1);
	assert_int_equal(nc_monitor_drain(fd), 0);      /* drained */
	assert_int_equal(nc_addr_del(env("CR_NS_TUN"), &a), 0);
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(nc_monitor_drain(fd), 1);
	/* A link change counts too. */
	assert_int_equal(nc_link_set(env("CR_NS_TUN"), -1, 1300), 0);
	assert_int_equal(poll(&pfd, 1, 2000), 1);
	assert_int_equal(nc_monitor_drain(fd), 1);
	nc_monitor_close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sysctl),
		cmocka_unit_test(test_nft),
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_route_ext_ack),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_default_ifname),
		cmocka_unit_test(test_monitor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
