#!/bin/bash
# netcfg against a real kernel: sysctls, the nftables table, routes,
# addresses, links and the change monitor, driven by the cmocka binary
# test_netcfg_ns inside a namespace made here.
#
#   +---------------------- $P-net ----------------------+       +-- $P-site --+
#   | $P-l 10.0.0.5/18 (default via 10.0.0.1) ---- veth ----------- $P-s      |
#   | $P-t    veth to $P-tp, up ("tunnel", 100.96.0.100/11; | 10.0.0.1/18 |
#   |         192.168.60.0/24 proto static on it)            +-------------+
#   | $P-d    veth to $P-dp, down
#   | $P.1    veth to $P-1p (a dotted name, for sysctl keys)
#   | table ip filter { chain FORWARD: policy drop }  (foreign)
#   +----------------------------------------------------+
#
# CR_TEST_BIN_DIR: where test_netcfg_ns is (default build-san/tests, as
# `make check` builds unit tests); built there when missing.
source "$(dirname "$0")/../lib/netns.sh"

BIN_DIR=${CR_TEST_BIN_DIR:-build-san/tests}
case $BIN_DIR in /*) ;; *) BIN_DIR=$TOP/$BIN_DIR ;; esac
BIN=$BIN_DIR/test_netcfg_ns
if [ ! -x "$BIN" ]; then
	B=${BIN_DIR%/tests}
	B=${B#"$TOP"/}
	san=; case $B in *san*) san=SANITIZE=1 ;; esac
	make -C "$TOP" --no-print-directory $san B="$B" WERROR=1 "$B/tests/test_netcfg_ns" >"$TMP/build.log" 2>&1 \
		|| { tail -n 30 "$TMP/build.log"; }
fi
check "test binary $BIN exists" test -x "$BIN"

ns_new net
ns_new site
veth net "$P-l" site "$P-s"
nsx net ip addr add 10.0.0.5/18 dev "$P-l"
nsx site ip addr add 10.0.0.1/18 dev "$P-s"
nsx net ip route add default via 10.0.0.1 dev "$P-l"
# veth pairs stand in for dummies (not every kernel has the dummy driver).
nsx net ip link add "$P-t" type veth peer name "$P-tp"
nsx net ip link set "$P-tp" up
nsx net ip link set "$P-t" up
# A permanent address: removing a device's last IPv4 address flushes its routes.
nsx net ip addr add 100.96.0.100/11 dev "$P-t"
nsx net ip link add "$P-d" type veth peer name "$P-dp"
nsx net ip link add "$P.1" type veth peer name "$P-1p"
nsx net ip route add 192.168.60.0/24 dev "$P-t" proto static
nsx net nft -f - <<'NFT'
table ip filter {
	chain FORWARD {
		type filter hook forward priority filter; policy drop;
	}
	chain INPUT {
		type filter hook input priority filter; policy drop;
	}
}
NFT

run_ns_tests() {
	nsx net env CR_NETNS_TEST=1 CR_NS_LAN="$P-l" CR_NS_TUN="$P-t" CR_NS_DOWN="$P-d" \
		CR_NS_DOT="$P.1" "$BIN" >"$TMP/ns.out" 2>&1
	local rc=$?
	cat "$TMP/ns.out"
	[ $rc = 0 ] && grep -q '^\[  PASSED  \] 8 test(s)' "$TMP/ns.out" &&
		! grep -q 'SKIPPED\|FAILED' "$TMP/ns.out"
}
check "netcfg namespace tests (sysctl, nft, routes, ext ack, addrs, links, monitor)" run_ns_tests
# The variable alone never lets them run where init's network lives.  Shown
# without risk: in a new pid namespace (inside our net namespace) pid 1 shares
# the test's network namespace, exactly as on the host.
nsx net unshare --pid --fork --mount-proc env CR_NETNS_TEST=1 CR_NS_LAN="$P-l" \
	CR_NS_TUN="$P-t" CR_NS_DOWN="$P-d" CR_NS_DOT="$P.1" "$BIN" >"$TMP/guard.out" 2>&1
check "the tests refuse a namespace shared with pid 1" grep -q "refusing to change" "$TMP/guard.out"
sed -n 's/^# /  /p' "$TMP/ns.out"

# What the C tests must have left behind: nothing of ours, the foreign parts intact.
check_eq "no cloudroute routes left" "" "$(nsx net ip route show table all proto 117)"
check_not "cloudroute nft table removed" nsx net nft list table inet cloudroute
check "foreign drop chain untouched" nsx net nft list chain ip filter FORWARD
check "foreign route untouched" sh -c "ip -n $P-net route show 192.168.60.0/24 proto static | grep -q $P-t"
check_eq "ip_forward restored" "0" "$(nsx net cat /proc/sys/net/ipv4/ip_forward)"
check_eq "root namespace nft untouched by us" "" "$(nft list tables 2>/dev/null | grep -w cloudroute || true)"

finish
