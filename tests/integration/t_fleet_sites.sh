#!/bin/bash
# Site to site through the fleet: `cloudroute run` at each site finds the
# others in a real etcd, configures its tunnel peers and kernel routes from
# their records, and follows joins and leaves (DESIGN.md "Fleet" bounds,
# lease_ttl 2).  No static peers anywhere.
#
#   wan: bridge br0, etcd on 198.18.0.254:2379
#   cX (X = 1 2 3, later 4): eth0 198.18.0.X/24 on br0; tunnel $P-X 100.96.0.X/11;
#        lan0 10.X.0.1/24 -- hX: 10.X.0.2/24, default via 10.X.0.1
#   sites s1 s2 s3 s4, one connector each (cX), no NAT: hosts see each other's
#   addresses, routed by the connectors.
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"
. "$TOP/tests/lib/fleet_sites.sh"
wg_peers() { nsx "c$1" wg show "$P-$1" peers 2>/dev/null | sort | tr '\n' ' '; }
ms() { date +%s%3N; }
# bound WHAT SECONDS CMD...: CMD must succeed within SECONDS; prints the time.
bound() {
	local what=$1 lim=$2 t0 t; shift 2
	t0=$(ms)
	while ! "$@" >/dev/null 2>&1; do
		if [ $(($(ms) - t0)) -gt $((lim * 1000)) ]; then
			FAIL=$((FAIL + 1)); echo "not ok - $what (not within $lim s)"; return 1
		fi
		sleep 0.1
	done
	t=$(($(ms) - t0))
	PASS=$((PASS + 1)); echo "ok - $what ($((t / 1000)).$(printf %03d $((t % 1000))) s, bound $lim s)"
}
has_peer() { nsx "c$1" wg show "$P-$1" peers 2>/dev/null | grep -qx "$(pub "$2")"; }
no_peer() { ! has_peer "$@"; }
no_route() { ! nsx "c$1" ip route show "10.$2.0.0/24" | grep -q .; }

for x in 1 2 3; do site "$x" || { finish; exit 1; }; done
for x in 1 2 3; do run "$x"; done

bound "three sites: h1 reaches h2" 10 reach 1 2
bound "h1 reaches h3" 5 reach 1 3
bound "h2 reaches h3" 5 reach 2 3
check_eq "c1 has exactly c2 and c3 as peers" "$(printf '%s\n' "$(pub 2)" "$(pub 3)" | sort | tr '\n' ' ')" "$(wg_peers 1)"
check "c1 routes s2's subnet into the tunnel" sh -c "ip netns exec $P-c1 ip route show 10.2.0.0/24 | grep -q 'dev $P-1'"
check "c1 allows s3's subnet from c3 only" sh -c \
	"ip netns exec $P-c1 wg show $P-1 allowed-ips | grep '$(pub 3)' | grep -q '10.3.0.0/24'"
check "state_dir/fleet.json: c1 leads s1" grep -q '"role": *"leader"' "$TMP/state1/fleet.json"
nsx c1 "$CLOUDROUTE" -c "$TMP/c1.json" status >"$TMP/status1.txt" 2>&1
check "status: the fleet section with role and members" sh -c \
	"grep -q 'role leader (writes the site.s cloud routes)' $TMP/status1.txt && grep -q 'member s2/c2 (leader) at 198.18.0.2:51820' $TMP/status1.txt"
check "status: fleet peers and their routes are not drift" grep -q '^drift: none' "$TMP/status1.txt"
check "plan: nothing to change while the fleet's peers are in place (exit 0)" \
	nsx c1 "$CLOUDROUTE" -c "$TMP/c1.json" plan
check_eq "status --json: fleet members" 3 "$(nsx c1 "$CLOUDROUTE" -c "$TMP/c1.json" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["fleet"]["members"])')"

nsx c1 "$CLOUDROUTE" -c "$TMP/c1.json" doctor >"$TMP/doctor1.txt" 2>&1
check "doctor: etcd answers, a TTL 2 lease is granted, s1 is led by c1" sh -c \
	"grep -q 'fleet: etcd http://198.18.0.254:2379 answers' $TMP/doctor1.txt &&
	 grep -q 'lease with TTL 2 s granted' $TMP/doctor1.txt &&
	 grep -q 'our record /cloudroute/sites/s1/c1 is registered' $TMP/doctor1.txt &&
	 grep -q 'site s1 is led by c1' $TMP/doctor1.txt"

# A long-running flow between s1 and s2 while s4 joins and leaves.
nsx h2 ping -i 0.1 -w 40 10.1.0.2 >"$TMP/flow.out" 2>&1 &
FLOW=$!
site 4 || { finish; exit 1; }
t0=$(ms); run 4
bound "s4 joins: c1 has its peer (5 s of its record)" 8 has_peer 1 4
bound "h4 reaches h1" 5 reach 4 1
bound "h3 reaches h4" 5 reach 3 4
kill -TERM "${PID[4]}"
bound "s4 leaves (SIGTERM): gone at c1 (lease_ttl + 2 s)" 4 no_peer 1 4
bound "... and at c3" 4 no_peer 3 4
bound "... with its kernel route" 4 no_route 1 4
wait "${PID[4]}" 2>/dev/null
run 4
bound "s4 back" 8 has_peer 2 4
sleep 0.5
kill -9 "${PID[4]}"; wait "${PID[4]}" 2>/dev/null
bound "s4 killed (kill -9): gone at c1 (lease_ttl + 3 s)" 5 no_peer 1 4
bound "... and at c2" 5 no_peer 2 4
wait "$FLOW"
loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$TMP/flow.out")
check_eq "the s2 -> s1 flow lost nothing while s4 came and went" 0 "$loss"

# etcd stopped for 10 s: nothing that works changes; restarted: still working.
etcd_stop
sleep 10
check "etcd away 10 s: h1 still reaches h3" reach 1 3
check "etcd away 10 s: c2 keeps its peers" has_peer 2 1
check "etcd away: doctor says so" sh -c "ip netns exec $P-c1 $CLOUDROUTE -c $TMP/c1.json doctor 2>&1 | grep -q 'PROBLEM fleet: no etcd endpoint answers'"
check "etcd away: status says so" sh -c "ip netns exec $P-c1 $CLOUDROUTE -c $TMP/c1.json status 2>&1 | grep -q 'NOT REACHABLE'"
ETCD_CLIENT_URLS=http://198.18.0.254:2379,http://127.0.0.1:2379 etcd_start wan e 2379 ||
	echo "etcd did not restart"
sleep 3
check "etcd back: h3 reaches h2" reach 3 2
check "etcd back: c1 registered again or kept its lease" sh -c \
	"ETCDCTL_API=3 ip netns exec $P-wan etcdctl --endpoints http://127.0.0.1:2379 get --keys-only --prefix /cloudroute/sites/ | grep -c . | grep -qx 3"

for x in 1 2 3; do kill -TERM "${PID[$x]}"; done
for x in 1 2 3; do wait "${PID[$x]}" 2>/dev/null; done
check_eq "SIGTERM everywhere: every lease revoked, no record left" "" \
	"$(etcd_ctl wan 2379 get --prefix /cloudroute/ 2>&1)"
finish
