#!/bin/bash
# Privilege separation of the cloud client (agent/cloudproc.h): `run` does
# its cloud passes in a child process that holds no capability, has
# no_new_privs and a seccomp filter, and inherits no descriptor of the
# daemon but its socket; the daemon saves the child's checkpoints; a child
# killed with -9 is replaced and the next pass works; a stopped child does
# not hold up SIGTERM.
#
#   cp: eth0 10.0.0.10/18 (eni-hq) -- veth -- cpl;  tun0 -- veth -- cpp
#       fake EC2 API, IMDS and control on 127.0.0.1
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/fakeec2.sh"

ns_new cp && ns_new cpl && ns_new cpp || { finish; exit 1; }
veth cp eth0 cpl l0
veth cp tun0 cpp p0
nsx cp ip addr add 10.0.0.10/18 dev eth0
nsx cp ip addr add 100.96.0.1/11 dev tun0
fakeec2_start cp "$TOP/tests/fakecloud/scenarios/basic.json" || { finish; exit 1; }
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

bg cp "$CLOUDROUTE" -c "$TMP/cp.json" run
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
finish
