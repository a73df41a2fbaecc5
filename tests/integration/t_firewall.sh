#!/bin/bash
# Living beside Docker and other firewalls, in the namespaces of
# tests/lib/hostsim.sh (diagram there).  Inside the connector's namespace:
# Docker's iptables-nft rules (FORWARD policy DROP, DOCKER-USER,
# DOCKER-ISOLATION) made with the real iptables-nft, and a second nftables
# table with a drop policy on the forward hook.  The guide's first flow is
# blocked before apply (our accept in our own table does not help), carried
# after it, our accepts come back when Docker rewrites its rules, doctor and
# plan name the firewall, "leave" only reports, and teardown restores the
# other tools' rules exactly.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/hostsim.sh"

command -v iptables-nft >/dev/null || { echo "iptables-nft missing (apt-get install iptables)"; echo "0 passed, 1 failed"; exit 1; }
CR() { nsx conn "$CLOUDROUTE" -c "$CFG" "$@"; }
who() { nsx "$1" python3 "$TOP/tests/lib/whoami.py" get "$2" "$3"; }
# The other tools' rules without counters (they move with traffic).
theirs() { nsx conn nft list ruleset 2>/dev/null | sed -e 's/counter packets [0-9]* bytes [0-9]*/counter/' \
	| awk '/^table inet cloudroute/{skip=1} skip&&/^}/{skip=0; next} !skip'; }
docker_rules() {
	local X="nsx conn iptables-nft"
	$X -N DOCKER; $X -N DOCKER-ISOLATION-STAGE-1; $X -N DOCKER-ISOLATION-STAGE-2; $X -N DOCKER-USER
	$X -P FORWARD DROP
	$X -A FORWARD -j DOCKER-USER
	$X -A FORWARD -j DOCKER-ISOLATION-STAGE-1
	$X -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
	$X -A FORWARD -o docker0 -j DOCKER
	$X -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
	$X -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
	$X -A DOCKER-ISOLATION-STAGE-1 -j RETURN
	$X -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
	$X -A DOCKER-ISOLATION-STAGE-2 -j RETURN
	$X -A DOCKER-USER -j RETURN
}

hostsim_build || { echo "topology failed"; finish; exit 1; }
CFG=$TMP/cr.json
hostsim_config "$CFG" '"nat": { "masquerade": false }'
nsx router ip route add 100.96.0.0/11 via 10.0.0.10
docker_rules
# Another admin's own table: forward policy drop, its own accepts kept.
nsx conn nft -f - <<'NFT'
table inet hostfw {
	chain forward {
		type filter hook forward priority filter + 10; policy drop;
		ct state invalid drop
		iifname "docker0" accept
	}
}
NFT
THEIRS0=$(theirs)

check_not "flow blocked by Docker's FORWARD DROP before apply" who client 192.168.100.30 8080
CR plan >"$TMP/plan1"; rc=$?
check_eq "plan exits 2" 2 "$rc"
check "plan names Docker and DOCKER-USER" grep -q "+ firewall Docker (ip filter FORWARD, policy drop): accept tunnel <-> local subnets in ip filter DOCKER-USER ([0-9]* rules)" "$TMP/plan1"
check "plan names the other nftables table" grep -q '+ firewall nftables (inet hostfw forward, policy drop): accept .* in inet hostfw forward' "$TMP/plan1"
check "plan --json: kind firewall, object the chain" sh -c "ip netns exec $(ns conn) $CLOUDROUTE -c $CFG plan --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
def walk(o):
    if isinstance(o, dict):
        if o.get(\"kind\") == \"firewall\" and o.get(\"object\") == \"ip filter DOCKER-USER\":
            sys.exit(0)
        for v in o.values(): walk(v)
    elif isinstance(o, list):
        for v in o: walk(v)
walk(d); sys.exit(1)'"
check_not "doctor finds the problem" CR doctor
CR doctor >"$TMP/doc1" 2>&1
check "doctor names Docker" grep -qi 'Docker (ip filter FORWARD, policy drop).*drops' "$TMP/doc1"

check "apply succeeds" CR apply
check_eq "flow carried after apply (no NAT: the app sees the client)" 100.96.0.2 "$(who client 192.168.100.30 8080)"
check "iptables-nft still reads Docker's table" nsx conn iptables-nft -S DOCKER-USER
nsx conn iptables-nft -S DOCKER-USER >"$TMP/du"
check "our accepts are first in DOCKER-USER, marked" sh -c "sed -n 2p '$TMP/du' | grep -q -- '-A DOCKER-USER -s 100.96.0.0/11 -d 10.0.0.0/18 -i tun0 -o eth0 .*--comment \"\\?cloudroute:'"
check_eq "Docker's FORWARD policy is still DROP" "-P FORWARD DROP" "$(nsx conn iptables-nft -S FORWARD | head -n1)"
check "policy of the other table untouched" sh -c "ip netns exec $(ns conn) nft list chain inet hostfw forward | grep -q 'policy drop'"
CR plan >/dev/null; check_eq "plan after apply exits 0" 0 $?
check "doctor is happy" CR doctor
CR doctor >"$TMP/doc2" 2>&1
check "doctor says whether the clock is kept synchronized" grep -qE '^(ok|warn) +the system clock is (synchronized|not synchronized)' "$TMP/doc2"
check "doctor says what was done" grep -q 'Docker (ip filter FORWARD, policy drop): tunnel <-> local subnets accepted in DOCKER-USER' "$TMP/doc2"

# Docker restarts and rewrites its chains: ours come back on the next pass.
nsx conn iptables-nft -F DOCKER-USER; nsx conn iptables-nft -A DOCKER-USER -j RETURN
check_not "flow blocked after Docker flushed DOCKER-USER" who client 192.168.100.30 8080
CR plan >"$TMP/plan2"
check "plan shows the accepts again" grep -q '+ firewall Docker' "$TMP/plan2"
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
check "the daemon puts them back" wait_for 15 who client 192.168.100.30 8080
# A rule someone inserts above ours counts as drift too.
nsx conn iptables-nft -I DOCKER-USER -s 198.51.100.0/24 -j DROP
check "a rule above ours is repaired (ours first again)" wait_for 15 sh -c \
	"ip netns exec $(ns conn) iptables-nft -S DOCKER-USER | sed -n 2p | grep -q cloudroute:"
kill -TERM $RUNPID; wait $RUNPID
nsx conn iptables-nft -D DOCKER-USER -s 198.51.100.0/24 -j DROP

# "leave": report only, and what we had added goes.
hostsim_config "$CFG" '"nat": { "masquerade": false }, "firewall": "leave"'
CR plan >"$TMP/plan3"
check "leave: plan shows the conflict" grep -q '! firewall Docker (ip filter FORWARD, policy drop) drops forwarded tunnel traffic; "firewall": "leave"' "$TMP/plan3"
check "leave: plan removes our rules" grep -q '^ *- firewall Docker.*rules of ours in DOCKER-USER' "$TMP/plan3"
check "leave: apply" CR apply
check_not "leave: flow blocked again" who client 192.168.100.30 8080
check_not "leave: doctor reports it" CR doctor
hostsim_config "$CFG" '"nat": { "masquerade": false }'
check "integrate again" CR apply
check "flow carried again" who client 192.168.100.30 8080

# Egress: overlay out to anywhere; back only as replies where nft may say so.
hostsim_config "$CFG" '"nat": { "masquerade": false }, "egress": true'
check "egress: apply" CR apply
nsx conn iptables-nft -S DOCKER-USER >"$TMP/du2"
check "egress: iptables reads the out rule" grep -q -- '-A DOCKER-USER -s 100.96.0.0/11 -i tun0 -o eth0 .*-j ACCEPT' "$TMP/du2"
check "egress: ... and the way back" grep -q -- '-A DOCKER-USER -d 100.96.0.0/11 -i eth0 -o tun0 .*-j ACCEPT' "$TMP/du2"
check "egress: replies only in a plain nftables table" sh -c "ip netns exec $(ns conn) nft list chain inet hostfw forward | grep -q 'iifname \"eth0\" oifname \"tun0\" ip daddr 100.96.0.0/11 ct state established,related counter'"
check "flow still carried" who client 192.168.100.30 8080
hostsim_config "$CFG" '"nat": { "masquerade": false }'

check "teardown" CR teardown
check_eq "teardown restores the other tools' rules exactly" "$THEIRS0" "$(theirs)"
check_not "no rule of ours left anywhere" sh -c "ip netns exec $(ns conn) nft list ruleset | grep -q cloudroute"

# ufw's layout (ip6tables-nft, FORWARD policy DROP, user rules in
# ufw-user-forward reached from ufw-before-forward), IPv6 prefixes.
ns_new u6
nsx u6 ip link add eth0 type veth peer name eth0p
nsx u6 ip link set eth0 up
nsx u6 ip link add tun0 type veth peer name tun0p
nsx u6 ip link set tun0 up
X="nsx u6 ip6tables-nft"
$X -N ufw-before-forward; $X -N ufw-user-forward; $X -N ufw-after-forward
$X -P FORWARD DROP
$X -A FORWARD -j ufw-before-forward
$X -A FORWARD -j ufw-after-forward
$X -A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
$X -A ufw-before-forward -j ufw-user-forward
U6BEFORE=$(nsx u6 nft list ruleset 2>/dev/null)
cat >"$TMP/u6.json" <<JSON
{ "overlay": ["fd00:96::/64"], "lan_interface": "eth0", "local_subnets": ["fd00:10::/64"],
  "tunnel": { "mode": "external", "interface": "tun0" }, "cloud": { "provider": "none" },
  "state_dir": "$TMP/u6state", "sysctl_file": "$TMP/u6sysctl.conf" }
JSON
U6() { nsx u6 "$CLOUDROUTE" -c "$TMP/u6.json" "$@"; }
U6 plan >"$TMP/plan6"
check "ufw: plan targets ufw-user-forward" grep -q '+ firewall ufw (ip6 filter FORWARD, policy drop): accept tunnel <-> local subnets in ip6 filter ufw-user-forward (2 rules)' "$TMP/plan6"
check "ufw: apply" U6 apply
check "ufw: ip6tables reads our rules" sh -c "ip netns exec $(ns u6) ip6tables-nft -S ufw-user-forward | grep -q -- '-A ufw-user-forward -s fd00:96::/64 -d fd00:10::/64 -i tun0 -o eth0'"
U6 plan >/dev/null; check_eq "ufw: in sync after apply" 0 $?
check "ufw: teardown" U6 teardown
check_eq "ufw: their rules restored exactly" "$U6BEFORE" "$(nsx u6 nft list ruleset 2>/dev/null | sed 's/counter packets [0-9]* bytes [0-9]*/counter packets 0 bytes 0/')"

# A table with the owner flag (firewalld 2): only its owner may change it,
# so plan and doctor say so and nothing is attempted.  `nft -i` holds it.
(printf 'add table inet owned { flags owner; }\nadd chain inet owned forward { type filter hook forward priority 0; policy drop; }\n'; sleep 8) | nsx u6 nft -i >/dev/null 2>&1 &
OWNPID=$!
wait_for 3 sh -c "ip netns exec $(ns u6) nft list table inet owned"
cat >"$TMP/u4.json" <<JSON
{ "lan_interface": "eth0", "local_subnets": ["10.1.0.0/24"],
  "tunnel": { "mode": "external", "interface": "tun0" }, "cloud": { "provider": "none" },
  "state_dir": "$TMP/u4state", "sysctl_file": "$TMP/u4sysctl.conf" }
JSON
nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" plan >"$TMP/plan7"
check "owner flag: plan shows the conflict" grep -q '! firewall nftables (inet owned forward, policy drop) drops forwarded tunnel traffic and owns its table' "$TMP/plan7"
check_not "owner flag: nothing planned for it" grep -q '+ firewall nftables (inet owned' "$TMP/plan7"
kill $OWNPID 2>/dev/null; wait $OWNPID 2>/dev/null

# firewalld's layout (nftables backend): policy accept, a final reject.
nsx u6 nft -f - <<'NFT'
table inet firewalld {
	chain filter_FORWARD {
		type filter hook forward priority filter + 10; policy accept;
		ct state established,related accept
		reject with icmpx admin-prohibited
	}
}
NFT
FWD0=$(nsx u6 nft list table inet firewalld)
nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" plan >"$TMP/plan8"
check "firewalld: a final reject counts as a drop" grep -q '+ firewall firewalld (inet firewalld filter_FORWARD, drop rule): accept tunnel <-> local subnets in inet firewalld filter_FORWARD (2 rules)' "$TMP/plan8"
check "firewalld: apply" nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" apply
check "firewalld: ours come first" sh -c "ip netns exec $(ns u6) nft list chain inet firewalld filter_FORWARD | sed -n 4p | grep -q 'comment \"cloudroute:'"
check "firewalld: teardown" nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" teardown
check_eq "firewalld: its table restored exactly" "$FWD0" "$(nsx u6 nft list table inet firewalld)"

# A chain whose name is not fit for a script (made through the JSON API)
# is reported and never written into one.
printf '%s' '{"nftables": [{"add": {"table": {"family": "inet", "name": "weird"}}}, {"add": {"chain": {"family": "inet", "table": "weird", "name": "x\nflush ruleset", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}}]}' | nsx u6 nft -j -f -
nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" plan >"$TMP/plan9"
check "odd name: plan shows the conflict" grep -q '! firewall nftables (inet weird x?flush ruleset, policy drop) drops forwarded tunnel traffic; its name cannot be written safely' "$TMP/plan9"
check "odd name: apply changes nothing there" nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" apply
check "odd name: the ruleset was not flushed" nsx u6 nft list table inet weird
nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" teardown >/dev/null 2>&1
nsx u6 nft delete table inet weird

# A chain named like an nft keyword ("fwd": only JSON can make it): nft
# would refuse the script, so plan says so instead of failing every apply.
printf '%s' '{"nftables": [{"add": {"table": {"family": "inet", "name": "kw"}}}, {"add": {"chain": {"family": "inet", "table": "kw", "name": "fwd", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}}}]}' | nsx u6 nft -j -f -
nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" plan >"$TMP/plan10"
check "keyword name: plan shows nft's refusal as a conflict" grep -q '! firewall nftables (inet kw fwd, policy drop): nft check: ' "$TMP/plan10"
check "keyword name: apply still succeeds" nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" apply
nsx u6 "$CLOUDROUTE" -c "$TMP/u4.json" teardown >/dev/null 2>&1
nsx u6 nft delete table inet kw

# doctor warns about an input drop policy in front of the tunnel's UDP port.
nsx u6 iptables-nft -P INPUT DROP
printf '{ "lan_interface": "eth0", "local_subnets": ["10.1.0.0/24"], "tunnel": { "private_key_file": "%s/nokey", "listen_port": 51999 }, "cloud": { "provider": "none" }, "state_dir": "%s/u5", "sysctl_file": "%s/u5.conf" }' "$TMP" "$TMP" "$TMP" >"$TMP/u5.json"
nsx u6 "$CLOUDROUTE" -c "$TMP/u5.json" doctor >"$TMP/doc5" 2>&1
check "doctor: input drop policy in front of the UDP port" grep -q 'warn    input chains with a drop policy (ip filter INPUT): make sure they accept udp port 51999' "$TMP/doc5"

# doctor: the tunnel's UDP port is bound (seen locally), or it is not.
ns_new ud
nsx ud ip link add eth0 type veth peer name eth1
nsx ud ip link set eth0 up
nsx ud ip addr add 10.2.0.1/24 dev eth0
"$CLOUDROUTE" genkey >"$TMP/udk" 2>/dev/null; chmod 600 "$TMP/udk"
cat >"$TMP/ud.json" <<JSON
{ "lan_interface": "eth0", "local_subnets": ["10.2.0.0/24"],
  "tunnel": { "interface": "u$P", "private_key_file": "$TMP/udk", "address": ["100.96.0.1/11"],
              "listen_port": 51777, "peers": [ { "name": "hub",
              "public_key": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=", "allowed_ips": ["100.96.0.0/11"] } ] },
  "cloud": { "provider": "none" }, "state_dir": "$TMP/udst", "sysctl_file": "$TMP/ud.conf" }
JSON
track_sock "u$P"
bg ud "$CLOUDROUTE" -c "$TMP/ud.json" run
UDPID=$!
wait_for 10 nsx ud ip link show "u$P"
nsx ud "$CLOUDROUTE" -c "$TMP/ud.json" doctor >"$TMP/doc6" 2>&1
check "doctor: udp port bound" grep -q 'ok      udp port 51777 is bound' "$TMP/doc6"
sed 's/51777/51778/' "$TMP/ud.json" >"$TMP/ud2.json"
nsx ud "$CLOUDROUTE" -c "$TMP/ud2.json" doctor >"$TMP/doc7" 2>&1
check "doctor: nothing on the configured port is a problem" grep -q 'PROBLEM tunnel u.* exists but nothing listens on udp port 51778' "$TMP/doc7"
kill $UDPID; wait $UDPID 2>/dev/null

# doctor names a LAN interface that does not exist.
sed 's/"lan_interface": "eth0"/"lan_interface": "eth9"/' "$CFG" >"$TMP/eth9.json"
nsx conn "$CLOUDROUTE" -c "$TMP/eth9.json" doctor >"$TMP/doc3" 2>&1; rc=$?
check_eq "doctor with a missing lan_interface exits 1" 1 "$rc"
check "... and names it" grep -q 'PROBLEM lan_interface eth9 does not exist' "$TMP/doc3"
finish
