#!/bin/bash
# Privilege separation of the cloud client (agent/cloudproc.h): `run` does
# its cloud passes in a child process that holds no capability, has
# no_new_privs and a seccomp filter, and inherits no descriptor of the
# daemon but its socket; the daemon saves the child's checkpoints; a child
# killed with -9 is replaced and the next pass works; a stopped child does
# not hold up SIGTERM.  In a fleet without fleet.endpoint, the public IP for
# our etcd record comes from a cloud process too (the fleet thread parses no
# metadata), and the leader metric says we lead.
#
#   cp: eth0 10.0.0.10/18 (eni-hq, public IP 203.0.113.10) -- veth -- cpl
#       tun0 -- veth -- cpp;  userspace tunnel $P-f (the fleet part)
#       fake EC2 API, IMDS and control, etcd, metrics on 127.0.0.1
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/fakeec2.sh"
. "$(dirname "$0")/../lib/etcd.sh"

ns_new cp && ns_new cpl && ns_new cpp || { finish; exit 1; }
veth cp eth0 cpl l0
veth cp tun0 cpp p0
nsx cp ip addr add 10.0.0.10/18 dev eth0
nsx cp ip addr add 100.96.0.1/11 dev tun0
python3 - "$TOP/tests/fakecloud/scenarios/basic.json" >"$TMP/scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for e in s["network_interfaces"]:
    if e["id"] == "eni-hq":
        e["public_ip"] = "203.0.113.10"
json.dump(s, sys.stdout)
PY
fakeec2_start cp "$TMP/scenario.json" || { finish; exit 1; }
export CLOUDROUTE_DMI_DIR=$TMP/no-dmi
cat >"$TMP/cp.json" <<JSON
{
  "lan_interface": "eth0", "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "mode": "external", "interface": "tun0", "routes": ["192.168.0.0/22"] },
  "cloud": { "provider": "aws" },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 5
}
JSON
status_of() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
child_of() { pgrep -P "$1" | head -1; }
last_cloud() { # the time of the last cloud pass that succeeded, 0 none
	python3 -c "import json; c=json.load(open('$TMP/state/state.json')).get('last_cloud',{}); print(c.get('time', 0) if c.get('ok') else 0)" 2>/dev/null || echo 0
}
passes_ok() { [ "$(last_cloud)" -gt "$1" ]; }   # one succeeded after time $1

bg cp "$CLOUDROUTE" -v -c "$TMP/cp.json" run 2>"$TMP/run.log"
RUNPID=$!
T0=0
check "the first cloud pass succeeds" wait_for 15 passes_ok "$T0"
check_eq "its route is in the cloud" eni-hq "$(route_target rtb-hq 192.168.0.0/22)"
check "the state recorded it (checkpoints saved by the daemon)" grep -q '192.168.0.0/22' "$TMP/state/state.json"
C=$(child_of $RUNPID)
check "a cloud process runs" test -n "$C"
echo "# daemon $RUNPID: CapEff $(status_of $RUNPID CapEff); cloud process $C: CapEff $(status_of "$C" CapEff) CapPrm $(status_of "$C" CapPrm) CapBnd $(status_of "$C" CapBnd) NoNewPrivs $(status_of "$C" NoNewPrivs) Seccomp $(status_of "$C" Seccomp)"
check "the daemon has capabilities" test "$(status_of $RUNPID CapEff)" != 0000000000000000
for k in CapEff CapPrm CapInh CapAmb CapBnd; do
	check_eq "the cloud process: $k empty" 0000000000000000 "$(status_of "$C" $k)"
done
check_eq "the cloud process: no_new_privs" 1 "$(status_of "$C" NoNewPrivs)"
check_eq "the cloud process: a seccomp filter" 2 "$(status_of "$C" Seccomp)"
check_eq "the cloud process: same uid" "$(status_of $RUNPID Uid)" "$(status_of "$C" Uid)"
FDS=$(ls /proc/"$C"/fd | sort -n | tr '\n' ' ')
check_eq "the cloud process holds only stdio and its socket" "0 1 2 3 " "$FDS"
check "its argv names it" grep -q '__cloud-process' "/proc/$C/cmdline"
check "it gave up file writes (Landlock) and filters its calls" \
	grep -q "cloud process $C: no capabilities, no_new_privs, Landlock: no file writes, seccomp on" "$TMP/run.log"
check_not "... and a sysctl write was refused" grep -q 'Landlock did not stop' "$TMP/run.log"

# kill -9 of the cloud process: reported, replaced, the next pass works.
ctl POST /mutate '{"action": "DeleteRoute", "params": {"RouteTableId": "rtb-hq",
  "DestinationCidrBlock": "192.168.0.0/22"}}' >/dev/null
T1=$(last_cloud)
kill -9 "$C"
check "the next pass (interval) succeeds with a new cloud process" wait_for 15 passes_ok "$T1"
C2=$(child_of $RUNPID)
check "a new cloud process runs" test -n "$C2" -a "$C2" != "$C"
check_eq "... without capabilities" 0000000000000000 "$(status_of "$C2" CapEff)"
check_eq "the deleted route is back" eni-hq "$(route_target rtb-hq 192.168.0.0/22)"
check "the daemon survived" kill -0 $RUNPID

# A stopped (hung) cloud process in the middle of a pass does not hold up SIGTERM.
ctl POST /fault '{"kind": "slow", "delay_ms": 3000, "count": -1}' >/dev/null
kill -HUP $RUNPID          # a pass now
sleep 1
kill -STOP "$C2"
t0=$(date +%s%N)
kill -TERM $RUNPID
wait $RUNPID; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "# SIGTERM with a stopped cloud process: exit after $ms ms"
check_eq "exit status 0" 0 "$rc"
check "within 2 s (took $ms ms)" test "$ms" -le 2000
check_not "the cloud process is gone" kill -0 "$C2"
ctl POST /faults/clear >/dev/null

# ---- a fleet without fleet.endpoint ----
etcd_start cp cp 23790 || { echo "etcd did not start"; finish; exit 1; }
IF=${P}f
track_sock "$IF"
(umask 077; "$CLOUDROUTE" genkey >"$TMP/kf")
cat >"$TMP/f.json" <<JSON
{ "lan_interface": "eth0", "local_subnets": ["10.0.0.0/18"], "nat": { "masquerade": false },
  "tunnel": { "interface": "$IF", "private_key_file": "$TMP/kf", "listen_port": 51821,
              "address": ["100.96.0.1/11"] },
  "cloud": { "provider": "aws", "ha_group": "hq" },
  "metrics": { "listen": "127.0.0.1:9588" },
  "state_dir": "$TMP/fstate", "sysctl_file": "$TMP/fsysctl.conf", "reconcile_interval": 5,
  "fleet": { "etcd": ["http://127.0.0.1:23790"], "prefix": "/cloudroute/", "name": "c1",
             "lease_ttl": 2 } }
JSON
bg cp "$CLOUDROUTE" -c "$TMP/f.json" run
FPID=$!
has_endpoint() {
	etcd_ctl cp 23790 get --print-value-only /cloudroute/sites/hq/c1 2>/dev/null |
		grep -q '"203.0.113.10:51821"'
}
check "our etcd record's endpoint is the public IP from the metadata" wait_for 15 has_endpoint
leads() {
	nsx cp curl -sf --max-time 3 http://127.0.0.1:9588/metrics |
		grep -qx 'cloudroute_fleet_leader{site="hq"} 1'
}
check "metrics: cloudroute_fleet_leader{site=\"hq\"} 1" wait_for 15 leads
check_eq "one cloud process (the identity one has ended)" 1 "$(pgrep -P $FPID | wc -l)"
kill -TERM $FPID; wait $FPID
etcd_stop
finish
