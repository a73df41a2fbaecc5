#!/bin/bash
# The agent core: a daemon that never blocks on the cloud, peers from other
# sources that survive reconciles and reloads, and the AWS HA fixes.
#
#   conn: eth0 10.0.0.10/18 (eni-hq) -- veth -- lan
#         tun0 (external tunnel) -- veth -- peer
#         fake EC2 API https://127.0.0.1:PORT, IMDS http://127.0.0.1:PORT,
#         control http://127.0.0.1:PORT, a NOTIFY_SOCKET listener
#   tb:   cloudroute run, userspace tunnel $P-t, provider none -- veth -- tc
#         (wireguard-go peer is not needed: peers are checked through UAPI)
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/fakeec2.sh"

ns_new conn && ns_new lan && ns_new peer && ns_new tb && ns_new tc || { finish; exit 1; }
veth conn eth0 lan l0
veth conn tun0 peer p0
veth tb eth0 tc c0
nsx conn ip addr add 10.0.0.10/18 dev eth0
nsx conn ip addr add 100.96.0.1/11 dev tun0
nsx tb ip addr add 192.168.90.1/24 dev eth0

# Scenario: basic.json plus a stopped HA peer (same group "hq") that still
# holds 192.168.0.0/22 through its attached ENI.
python3 - "$TOP/tests/fakecloud/scenarios/basic.json" >"$TMP/scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["instances"].append({"id": "i-peer", "state": "stopped"})
s["network_interfaces"].append({"id": "eni-peer", "instance": "i-peer", "subnet": "subnet-hq",
    "ip": "10.0.0.12", "mac": "02:00:0a:00:00:0c", "tags": {"cloudroute:ha-group": "hq"}})
for t in s["route_tables"]:
    if t["id"] == "rtb-hq":
        t["routes"].append({"destination": "192.168.0.0/22", "network_interface_id": "eni-peer"})
json.dump(s, sys.stdout)
PY
fakeec2_start conn "$TMP/scenario.json" || { finish; exit 1; }
export CLOUDROUTE_DMI_DIR=$TMP/no-dmi

aws_config() { # file, tunnel routes (JSON list)
	cat >"$1" <<JSON
{
  "lan_interface": "eth0", "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "mode": "external", "interface": "tun0", "routes": $2 },
  "cloud": { "provider": "aws", "takeover": "group", "ha_group": "hq" },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 5
}
JSON
}
aws_config "$TMP/a.json" '["192.168.0.0/22", "10.55.0.0/16"]'
aws_config "$TMP/b.json" '["192.168.0.0/22"]'

# ---- AWS HA: a stopped same-group peer's route is taken over ----
check "apply takes over from the stopped HA peer" nsx conn "$CLOUDROUTE" -c "$TMP/a.json" apply
check_eq "192.168.0.0/22 now points here" eni-hq "$(route_target rtb-hq 192.168.0.0/22)"
check_eq "10.55.0.0/16 created" eni-hq "$(route_target rtb-hq 10.55.0.0/16)"

# ---- the delete race: another connector takes 10.55.0.0/16 between our
# read and our delete; the route it wrote survives ----
ctl POST /fault '{"kind": "race", "count": 1, "actions": ["DescribeRouteTables"],
  "mutate": {"action": "ReplaceRoute", "params": {"RouteTableId": "rtb-hq",
  "DestinationCidrBlock": "10.55.0.0/16", "NetworkInterfaceId": "eni-other"}}}' >/dev/null
nsx conn "$CLOUDROUTE" -c "$TMP/b.json" apply >"$TMP/race.out" 2>&1
check_eq "the route another connector took meanwhile is left alone" eni-other \
	"$(route_target rtb-hq 10.55.0.0/16)"
check "... and it is no longer recorded as ours" sh -c \
	"! grep -q '10.55.0.0/16' '$TMP/state/state.json'"
ctl POST /faults/clear >/dev/null

# ---- a hung cloud API: READY=1 does not wait for it, SIGTERM is served at once ----
python3 - "$TMP/notify.sock" "$TMP/notify.log" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        msg = s.recv(4096).decode(errors="replace")
        for line in msg.splitlines():
            f.write("%.3f %s\n" % (time.monotonic(), line))
PY
_PIDS+=($!)
wait_for 5 test -S "$TMP/notify.sock"
ctl POST /fault '{"kind": "hang", "count": -1}' >/dev/null
NOTIFY_SOCKET=$TMP/notify.sock ip netns exec "$(ns conn)" "$CLOUDROUTE" -c "$TMP/b.json" run \
	>"$TMP/run.log" 2>&1 &
RUNPID=$!
check "READY=1 while the first cloud pass hangs" wait_for 5 grep -q 'READY=1' "$TMP/notify.log"
sleep 1.5                      # the worker is inside a hung EC2 call now
check "the cloud call is in flight" kill -0 $RUNPID
t0=$(date +%s%N)
kill -TERM $RUNPID
wait $RUNPID; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "SIGTERM during a hung cloud call: exit after $ms ms"
check_eq "exit status 0 after SIGTERM" 0 "$rc"
check "SIGTERM served within 2 s (took $ms ms)" test "$ms" -le 2000
check "STOPPING=1 was sent" grep -q 'STOPPING=1' "$TMP/notify.log"
ctl POST /faults/clear >/dev/null

# ---- peers from another source (clients.json) survive reconcile and reload ----
IT=${P}t
track_sock "$IT"
umask 077
wg genkey >"$TMP/kt"
KC=$(wg genkey | wg pubkey); KH=$(wg genkey | wg pubkey)
cat >"$TMP/t.json" <<JSON
{
  "overlay": ["100.96.0.0/11"], "lan_interface": "eth0", "local_subnets": ["192.168.90.0/24"],
  "nat": { "masquerade": false },
  "tunnel": { "mode": "userspace", "interface": "$IT", "private_key_file": "$TMP/kt",
    "listen_port": 51830, "address": ["100.96.0.1/11"],
    "peers": [ { "name": "hub", "public_key": "$KH", "endpoint": "192.168.90.2:51820",
                 "allowed_ips": ["10.60.0.0/16"] } ] },
  "cloud": { "provider": "none" },
  "state_dir": "$TMP/tstate", "sysctl_file": "$TMP/tsysctl.conf", "reconcile_interval": 5
}
JSON
mkdir -p "$TMP/tstate"
printf '{"clients": [{"name": "alice", "public_key": "%s", "address": "100.96.0.7/32"}]}\n' \
	"$KC" >"$TMP/tstate/clients.json"
bg tb "$CLOUDROUTE" -c "$TMP/t.json" run
TPID=$!
peers() { nsx tb wg show "$IT" allowed-ips 2>/dev/null; }
check "the client peer is on the tunnel" wait_for 10 sh -c "ip netns exec $(ns tb) wg show $IT peers | grep -q '$KC'"
check "... with its address" sh -c "ip netns exec $(ns tb) wg show $IT allowed-ips | grep '$KC' | grep -q 100.96.0.7/32"
check "the config peer too" sh -c "ip netns exec $(ns tb) wg show $IT peers | grep -q '$KH'"
nsx tb "$CLOUDROUTE" -c "$TMP/t.json" plan -v >"$TMP/tplan" 2>&1
check "plan -v says where the peer came from" grep -q 'from client:alice' "$TMP/tplan"
check "plan -v says where the config peer came from" grep -q 'peer hub .*from config' "$TMP/tplan"
sleep 6                        # one interval reconcile
check "the client peer survives a reconcile" sh -c "ip netns exec $(ns tb) wg show $IT peers | grep -q '$KC'"
kill -HUP $TPID; sleep 1
check "the client peer survives a SIGHUP" sh -c "ip netns exec $(ns tb) wg show $IT peers | grep -q '$KC'"
check "the daemon still runs" kill -0 $TPID
echo '{"clients": []}' >"$TMP/tstate/clients.json"
kill -HUP $TPID
check "a removed client is gone after the reload" wait_for 5 sh -c \
	"! ip netns exec $(ns tb) wg show $IT peers | grep -q '$KC'"
check "the config peer stays" sh -c "ip netns exec $(ns tb) wg show $IT peers | grep -q '$KH'"
kill -TERM $TPID; wait $TPID
finish
