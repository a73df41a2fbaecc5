#!/bin/bash
# The host half of a connector (issue: foundation), in namespaces built by
# tests/lib/hostsim.sh (diagram there): plan/apply/idempotence/drift/run/
# teardown/bad config, and the guide's first flow with NAT, without NAT,
# with exclusions, and a port forward.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/hostsim.sh"

CR() { nsx conn "$CLOUDROUTE" -c "$CFG" "$@"; }
who() { nsx "$1" python3 "$TOP/tests/lib/whoami.py" get "$2" "$3"; }
snapshot() {
	nsx conn sysctl -a 2>/dev/null | grep -E '^net\.ipv4\.(ip_forward|conf\.[^.]+\.rp_filter)|^net\.ipv6\.conf\.[^.]+\.(forwarding|accept_ra)' | sort
}
nftlist() { nsx conn nft list table inet cloudroute 2>/dev/null; }

hostsim_build || { echo "topology failed"; finish; exit 1; }
CFG=$TMP/cr.json
hostsim_config "$CFG"
# Strict rp_filter the way some distributions ship it, to see it relaxed and restored.
nsx conn sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.eth0.rp_filter=1 net.ipv4.conf.lo.rp_filter=0
BEFORE=$(snapshot)

check "check accepts the config" CR check
check_not "client cannot reach the app before apply" who client 192.168.100.30 8080
CR plan >"$TMP/plan1"; rc=$?
check_eq "plan before apply exits 2" 2 "$rc"
check "plan lists ip_forward" grep -q '~ sysctl net.ipv4.ip_forward 0 -> 1' "$TMP/plan1"
check "plan lists the nft table" grep -q '+ nftables table inet cloudroute' "$TMP/plan1"
check "plan lists the external route" grep -q '+ route 172.16.50.0/24 dev tun0' "$TMP/plan1"
check "plan -v shows derived values" sh -c "ip netns exec $(ns conn) $CLOUDROUTE -c $CFG plan -v | grep -q '\"lan_interface\": \"eth0\"'"

t0=$(date +%s%N)
check "apply succeeds" CR apply
t1=$(date +%s%N)
echo "# apply took $(( (t1 - t0) / 1000000 )) ms"
check_eq "ip_forward is 1" 1 "$(nsx conn sysctl -n net.ipv4.ip_forward)"
check_eq "conf.all.rp_filter lowered to 0" 0 "$(nsx conn sysctl -n net.ipv4.conf.all.rp_filter)"
check_eq "eth0 rp_filter 0" 0 "$(nsx conn sysctl -n net.ipv4.conf.eth0.rp_filter)"
check_eq "tun0 rp_filter 0" 0 "$(nsx conn sysctl -n net.ipv4.conf.tun0.rp_filter)"
check_eq "lo keeps its effective rp_filter (raised to old all)" 1 "$(nsx conn sysctl -n net.ipv4.conf.lo.rp_filter)"
check "table installed" nftlist
check "sysctl file written" grep -q '^net.ipv4.ip_forward = 1' "$TMP/sysctl.d/90-cloudroute.conf"
check "route with our protocol" sh -c "ip -n $(ns conn) route show proto 117 | grep -q '172.16.50.0/24 dev tun0'"
check "state file is private" sh -c "[ \$(stat -c %a $TMP/state/state.json) = 600 ]"
check_eq "NAT: the app sees the connector" 10.0.0.10 "$(who client 192.168.100.30 8080)"

RULES1=$(nftlist); SYS1=$(snapshot)
check "second apply succeeds" CR apply
check_eq "second apply: same ruleset" "$RULES1" "$(nftlist)"
check_eq "second apply: same sysctls" "$SYS1" "$(snapshot)"
CR plan >/dev/null; check_eq "plan after apply exits 0" 0 $?

# Drift: someone turns forwarding off and deletes our route.
nsx conn sysctl -qw net.ipv4.ip_forward=0
CR plan >"$TMP/plan2"; rc=$?
check_eq "drift makes plan exit 2" 2 "$rc"
check "drift is shown" grep -q 'ip_forward 0 -> 1' "$TMP/plan2"
nsx conn nft add rule inet cloudroute forward counter
CR plan >"$TMP/plan3"; rc=$?
check "a changed table is drift" grep -q 'changed outside cloudroute' "$TMP/plan3"
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
check "run repairs ip_forward" wait_for 10 sh -c "[ \$(ip netns exec $(ns conn) sysctl -n net.ipv4.ip_forward) = 1 ]"
check_eq "run restores the ruleset" "$RULES1" "$(nftlist)"
check "apply refuses while run holds the lock" sh -c "! ip netns exec $(ns conn) $CLOUDROUTE -c $CFG apply"
# A bad config on SIGHUP is rejected and the daemon keeps running.
cp "$CFG" "$CFG.good"
echo '{ "overlay": [ "bad" ] }' >"$CFG"
kill -HUP $RUNPID; sleep 1
check "daemon survives a bad reload" kill -0 $RUNPID
cp "$CFG.good" "$CFG"
kill -TERM $RUNPID
check "SIGTERM exits 0" wait $RUNPID
check "SIGTERM leaves the table in place" nftlist
check_eq "status shows no drift" 1 "$(CR status | grep -c 'drift: none')"
check "status --json parses" sh -c "ip netns exec $(ns conn) $CLOUDROUTE -c $CFG status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"drift\"] == 0'"

# Flow variants.
hostsim_config "$CFG" '"nat": { "masquerade": false }'
check "apply with NAT off" CR apply
check_not "NAT off, no route back: no reply" who client 192.168.100.30 8080
nsx router ip route add 100.96.0.0/11 via 10.0.0.10
check_eq "NAT off + route back: the app sees the client" 100.96.0.2 "$(who client 192.168.100.30 8080)"
hostsim_config "$CFG" '"nat": { "masquerade": true, "exclude": ["192.168.100.0/24"] }'
check "apply with exclude" CR apply
check_eq "excluded destination is not NATed" 100.96.0.2 "$(who client 192.168.100.30 8080)"
check_eq "other destination is NATed" 10.0.0.10 "$(who client 10.0.0.1 8081)"
nsx router ip route del 100.96.0.0/11 via 10.0.0.10
hostsim_config "$CFG" '"port_forwards": [ { "protocol": "tcp", "port": 33000, "to": "192.168.100.30:8080" } ]'
check "apply with a port forward" CR apply
check_eq "port forward reaches the app (NATed)" 10.0.0.10 "$(who client 100.96.0.1 33000)"

# A bad config exits 78 and changes nothing.
SYS2=$(snapshot); RULES2=$(nftlist)
printf '{\n  "overlay": ["100.96.0.0/11"],\n  "nat": { "masquerade": "yes" }\n}\n' >"$TMP/bad.json"
nsx conn "$CLOUDROUTE" -c "$TMP/bad.json" apply >"$TMP/bad.out" 2>&1; rc=$?
check_eq "bad config exits 78" 78 "$rc"
check "error names file:line:col" grep -q 'bad.json:3:26: nat.masquerade: expected true or false' "$TMP/bad.out"
check_eq "bad config changed no sysctl" "$SYS2" "$(snapshot)"
check_eq "bad config changed no rule" "$RULES2" "$(nftlist)"

# Teardown restores everything byte for byte.
check "teardown succeeds" CR teardown
check_eq "sysctls restored exactly" "$BEFORE" "$(snapshot)"
check_not "no table left" nftlist
check_not "no sysctl file left" test -e "$TMP/sysctl.d/90-cloudroute.conf"
check_eq "no route of ours left" "" "$(ip -n "$(ns conn)" route show proto 117)"
check_not "no state file left" test -e "$TMP/state/state.json"
check_not "client cut off again" who client 192.168.100.30 8080

# Crash safety: teardown from the state file works after kill -9 mid-run.
hostsim_config "$CFG"
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
wait_for 10 nftlist
kill -9 $RUNPID; wait $RUNPID 2>/dev/null
check "teardown after kill -9" CR teardown
check_eq "sysctls restored after crash" "$BEFORE" "$(snapshot)"
finish
