#!/bin/bash
# The fleet contract (DESIGN.md "Fleet") against a real etcd 3.4: membership,
# leases, election and the peers every connector computes, with the bounds
# the contract gives for lease_ttl 2.  Connectors are tests/tools/fleet_node
# (the agent's fleet thread alone, printing each published snapshot), all in
# one namespace with etcd:
#
#   f: etcd http://127.0.0.1:2379
#      sites a (a-1, a-2: an HA pair), b (b-1), c (c-1), later d (d-1)
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"

make -s -C "$TOP" build/tests/tools/fleet_node cloudroute >/dev/null || { echo "build failed"; finish; exit 1; }
NODE=$TOP/build/tests/tools/fleet_node
ns_new f || { finish; exit 1; }
etcd_start f t 2379 || { echo "etcd did not start"; finish; exit 1; }

# node SITE NAME N SUBNET: config for connector N (address 100.96.0.N) of SITE.
node_cfg() {
	local site=$1 name=$2 n=$3 subnet=$4 extra=${5:-}
	(umask 077; "$CLOUDROUTE" genkey >"$TMP/$name.key")
	cat >"$TMP/$name.json" <<JSON
{ "lan_interface": "lo", "local_subnets": [$subnet],
  "tunnel": { "private_key_file": "$TMP/$name.key", "address": ["100.96.0.$n/11"] },
  "cloud": { "provider": "none", "ha_group": "$site" },
  "state_dir": "$TMP/$name-state", "sysctl_file": "$TMP/$name-sysctl.conf",
  "fleet": { "etcd": ["http://127.0.0.1:2399", "http://127.0.0.1:2379"], "prefix": "/t/",
             "name": "$name", "endpoint": "192.0.2.$n:51820", "lease_ttl": 2 $extra } }
JSON
}
declare -A PID
start() { # start NAME
	ip netns exec "$(ns f)" "$NODE" "$TMP/$1.json" "$TMP/$1.status" >>"$TMP/$1.out" 2>>"$TMP/$1.err" &
	PID[$1]=$!
	_PIDS+=($!)
}
# snap [FIRST_AFTER_MS] < OUT: a snapshot as "L<leader> site/name=ips;..." (sorted); the
# last one, or with FIRST_AFTER_MS and WANT the time (ms) of the first one equal to
# WANT published after FIRST_AFTER_MS.
SNAP='
import json, sys
def fmt(s):
    return "L%d " % s["leader"] + ";".join("%s=%s" % (k, ",".join(sorted(v))) for k, v in sorted(s["peers"].items()))
lines = [json.loads(l) for l in sys.stdin if l.strip()]
if len(sys.argv) > 2:
    after, want = int(sys.argv[1]), sys.argv[2]
    hit = [s["t"] for s in lines if s["t"] >= after and fmt(s) == want]
    print(hit[0] - after if hit else "")
else:
    print(fmt(lines[-1]) if lines else "none")'
last() { python3 -c "$SNAP" 2>/dev/null <"$TMP/$1.out" || echo none; }
now_ms() { date +%s%3N; }
# within WHAT BOUND NAME WANT: waits up to BOUND s (+1 s of slack for the wait
# itself) for NAME's last snapshot to be WANT; the time checked against BOUND is
# when NAME published it, counted from T0 (set by mark).
T0=0
mark() { T0=$(now_ms); }
within() {
	local end=$((SECONDS + $2 + 1)) ms
	while [ $SECONDS -le $end ] && [ "$(last "$3")" != "$4" ]; do sleep 0.05; done
	ms=$(python3 -c "$SNAP" "$T0" "$4" <"$TMP/$3.out" 2>/dev/null)
	if [ -n "$ms" ] && [ "$ms" -le $(($2 * 1000)) ]; then
		PASS=$((PASS + 1)); echo "ok - $1 ($(printf '%d.%03d' $((ms / 1000)) $((ms % 1000))) s, bound $2 s)"
	else
		FAIL=$((FAIL + 1)); echo "not ok - $1 (bound $2 s): ${ms:-never}${ms:+ ms}; last: $(last "$3")"
	fi
}

node_cfg a a-1 11 '"10.1.0.0/16"'
node_cfg a a-2 12 '"10.1.0.0/16"'
node_cfg b b-1 21 '"10.2.0.0/16"'
node_cfg c c-1 31 '"10.3.0.0/16", "fd03::/64"'
node_cfg d d-1 41 '"10.4.0.0/16"'
mark; start a-1; sleep 0.3; start a-2; start b-1; start c-1

A1="a/a-1=10.1.0.0/16,100.96.0.11/32"
A2s="a/a-2=100.96.0.12/32"
B="b/b-1=10.2.0.0/16,100.96.0.21/32"
C="c/c-1=10.3.0.0/16,100.96.0.31/32,fd03::/64"
D="d/d-1=10.4.0.0/16,100.96.0.41/32"
within "three sites: b sees a's leader and standby, and c" 5 b-1 "L1 $A1;$A2s;$C"
within "c sees a and b" 5 c-1 "L1 $A1;$A2s;$B"
within "a-1 leads a; a's standby is a peer without subnets" 5 a-1 "L1 $A2s;$B;$C"
within "a-2 is standby (no cloud routes)" 5 a-2 "L0 a/a-1=100.96.0.11/32;$B;$C"
check_eq "leader key" a-1 "$(etcd_ctl f 2379 get --print-value-only /t/leaders/a)"
check "status file: role and first endpoint failed over" grep -q '"role": "leader".*"endpoint": "http://127.0.0.1:2379"' "$TMP/a-1.status"

# A fourth site joins: a peer everywhere within 5 s.
mark; start d-1
within "d joins: b has it" 5 b-1 "L1 $A1;$A2s;$C;$D"
within "d joins: a-2 has it" 5 a-2 "L0 a/a-1=100.96.0.11/32;$B;$C;$D"
within "d sees everyone" 5 d-1 "L1 $A1;$A2s;$B;$C"
# It leaves by SIGTERM: gone everywhere within lease_ttl + 2 s.
mark; kill -TERM "${PID[d-1]}"
within "d leaves (SIGTERM): gone at b" 4 b-1 "L1 $A1;$A2s;$C"
within "d leaves (SIGTERM): gone at c" 4 c-1 "L1 $A1;$A2s;$B"
check_eq "its keys are gone" "" "$(etcd_ctl f 2379 get --prefix /t/sites/d)"
# Joins again and is killed: gone within lease_ttl + 3 s.
mark; start d-1
within "d back" 5 b-1 "L1 $A1;$A2s;$C;$D"
sleep 0.5
mark; kill -9 "${PID[d-1]}"; wait "${PID[d-1]}" 2>/dev/null
within "d killed (kill -9): gone at b" 5 b-1 "L1 $A1;$A2s;$C"
within "d killed (kill -9): gone at a-1" 5 a-1 "L1 $A2s;$B;$C"

# HA: SIGTERM of a's leader -> a-2 leads within 1 s, b moves a's subnets to it.
A2="a/a-2=10.1.0.0/16,100.96.0.12/32"
mark; kill -TERM "${PID[a-1]}"
within "a-1 SIGTERM: a-2 leads" 1 a-2 "L1 $B;$C"
within "a-1 SIGTERM: b routes a's subnets to a-2" 3 b-1 "L1 $A2;$C"
check_eq "leader key now a-2" a-2 "$(etcd_ctl f 2379 get --print-value-only /t/leaders/a)"
# a-1 comes back as standby; kill -9 of the leader a-2: a-1 leads after the lease expires.
mark; start a-1
within "a-1 back as standby" 5 a-1 "L0 $A2s;$B;$C"
mark; kill -9 "${PID[a-2]}"; wait "${PID[a-2]}" 2>/dev/null
within "a-2 killed: a-1 leads (lease_ttl + 3 s)" 5 a-1 "L1 $B;$C"
within "a-2 killed: c routes a's subnets to a-1" 5 c-1 "L1 $A1;$B"

# A lost lease (revoked behind its back): the connector registers under a new
# one and campaigns again; the others see it come back.
lease=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["lease"])' "$TMP/a-1.status")
mark; etcd_ctl f 2379 lease revoke "$lease" >/dev/null
within "a-1's lease revoked: it registers again and leads (c sees a through a-1)" 3 c-1 "L1 $A1;$B"
check "a-1 runs under a new lease" sh -c "sleep 0.5; ! grep -q '\"lease\": \"$lease\"' $TMP/a-1.status"
check_eq "a-1 leads again" a-1 "$(etcd_ctl f 2379 get --print-value-only /t/leaders/a)"

# Malformed and overlapping records are ignored, logged once, and change nothing.
etcd_ctl f 2379 put /t/sites/x/x-1 '{"public_key": "nope"}' >/dev/null
etcd_ctl f 2379 put /t/sites/y/y-1 "{\"public_key\": \"$("$CLOUDROUTE" genkey | "$CLOUDROUTE" pubkey)\", \"endpoint\": \"192.0.2.99:51820\", \"address\": \"100.96.0.99/32\", \"subnets\": [\"10.2.128.0/17\"]}" >/dev/null
etcd_ctl f 2379 put /t/leaders/y y-1 >/dev/null
sleep 1
check_eq "malformed and overlapping records: no peer" "L1 $A1;$B" "$(last c-1)"
check_eq "the malformed record is logged once" 1 "$(grep -c 'sites/x/x-1' "$TMP/c-1.err")"
check "the overlapping one names the older site" grep -q 'sites/y/y-1: subnet 10.2.128.0/17 overlaps site b' "$TMP/c-1.err"
etcd_ctl f 2379 del --prefix /t/sites/x >/dev/null; etcd_ctl f 2379 del --prefix /t/sites/y >/dev/null

# Every snapshot of a-1, b-1, c-1 since mark has the peers of the last one before it.
same_peers_since_mark() { python3 -c '
import json, sys
for name in ("a-1", "b-1", "c-1"):
    lines = [json.loads(l) for l in open(sys.argv[1] + "/" + name + ".out")]
    after = [l for l in lines if l["t"] >= int(sys.argv[2])]
    before = [l for l in lines if l["t"] < int(sys.argv[2])][-1]
    for l in after:
        assert l["peers"] == before["peers"], (name, l)
' "$TMP" "$T0"; }

# etcd stopped for 10 s: nothing published changes; restarted: leases and roles resume.
mark; etcd_stop
sleep 10
# The peers stay; a leader whose keep-alives go unanswered for longer than
# lease_ttl stops writing cloud routes (L0): another may lead by now.
check_eq "etcd away 10 s: a-1 keeps its peers, writes no routes" "L0 $B;$C" "$(last a-1)"
check_eq "etcd away 10 s: b-1 keeps its peers, writes no routes" "L0 $A1;$C" "$(last b-1)"
check "etcd away 10 s: no snapshot dropped a peer or a subnet" same_peers_since_mark
mark; etcd_start f t 2379 || echo "etcd did not restart"
check "etcd restarted: no snapshot dropped a peer or a subnet" same_peers_since_mark
within "etcd back: a-1 leads again" 8 a-1 "L1 $B;$C"
within "etcd back: b-1 routes a through a-1" 8 b-1 "L1 $A1;$C"
within "etcd back: c-1 unchanged" 8 c-1 "L1 $A1;$B"
check "etcd back: a-1 keeps or retakes the leader key" sh -c \
	"[ \"\$(ETCDCTL_API=3 ip netns exec $(ns f) etcdctl --endpoints http://127.0.0.1:2379 get --print-value-only /t/leaders/a)\" = a-1 ]"

# Health: a leader whose LAN target stops answering gives its lease up, the
# standby takes over; when the target answers again it comes back as standby.
ns_new g && veth f hp0 g hp1
nsx f ip addr add 10.99.0.1/24 dev hp0
nsx g ip addr add 10.99.0.2/24 dev hp1
node_cfg h h-1 51 '"10.5.0.0/16"' ', "health_ping": "10.99.0.2"'
node_cfg h h-2 52 '"10.5.0.0/16"'
mark; start h-1
H1="h/h-1=10.5.0.0/16,100.96.0.51/32"
H2="h/h-2=10.5.0.0/16,100.96.0.52/32"
within "h-1 leads site h" 5 b-1 "L1 $A1;$C;$H1"
mark; start h-2
within "h-2 standby" 5 h-2 "L0 $A1;$B;$C;h/h-1=100.96.0.51/32"
mark; nsx g ip link set hp1 down
within "h-1's LAN target is down: h-2 leads (3 misses at 0.5 s, then the revoke)" 3 h-2 "L1 $A1;$B;$C"
within "... and b routes site h through h-2" 3 b-1 "L1 $A1;$C;$H2"
check "h-1 says why" grep -q 'health_ping unanswered' "$TMP/h-1.err"
mark; nsx g ip link set hp1 up
within "the target answers again: h-1 is back, as standby" 5 b-1 "L1 $A1;$C;h/h-1=100.96.0.51/32;$H2"

finish
