#!/bin/bash
# The AWS provider end to end: cloudroute (agent + providers/aws) against the
# fake EC2 + IMDSv2 of tests/fakecloud over HTTPS with a test CA, every
# SigV4 signature verified by the fake.  All inside one namespace:
#
#   conn: eth0 10.0.0.10/18 (the ENI's address)  -- veth -- lan
#         tun0 (external tunnel, routes 192.168.0.0/22, 172.16.0.0/16, 10.200.0.0/16)
#         fake EC2 API https://127.0.0.1:PORT, IMDS http://127.0.0.1:PORT (i-hq),
#         control http://127.0.0.1:PORT
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/fakeec2.sh"
. "$(dirname "$0")/../lib/cloudseq.sh"

ns_new conn && ns_new lan && ns_new peer || { finish; exit 1; }
veth conn eth0 lan l0
veth conn tun0 peer p0
nsx conn ip addr add 10.0.0.10/18 dev eth0
nsx conn ip addr add 100.96.0.1/11 dev tun0

# Scenario: basic.json plus a foreign route for 172.16.0.0/16 (eni-other) and
# a blackhole route for 10.200.0.0/16 (a terminated connector's ENI).
python3 - "$TOP/tests/fakecloud/scenarios/basic.json" >"$TMP/scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["instances"].append({"id": "i-dead", "state": "terminated"})
s["network_interfaces"].append({"id": "eni-dead", "instance": "i-dead", "subnet": "subnet-hq",
    "ip": "10.0.0.99", "mac": "02:00:0a:00:00:63"})
for t in s["route_tables"]:
    if t["id"] == "rtb-hq":
        t["routes"].append({"destination": "172.16.0.0/16", "network_interface_id": "eni-other"})
        t["routes"].append({"destination": "10.200.0.0/16", "network_interface_id": "eni-dead"})
json.dump(s, sys.stdout)
PY
fakeec2_start conn "$TMP/scenario.json" --log "$TMP/requests.jsonl" --cred-lifetime 900 ||
	{ finish; exit 1; }

mutations() { ctl GET /counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["mutating"])'; }
sdc() { ctl GET /state | python3 -c "
import json, sys
for e in json.load(sys.stdin)['network_interfaces']:
    if e['id'] == 'eni-hq': print(str(e['source_dest_check']).lower())"; }

CFG=$TMP/cr.json
cat >"$CFG" <<JSON
{
  "lan_interface": "eth0",
  "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "mode": "external", "interface": "tun0",
              "routes": ["192.168.0.0/22", "172.16.0.0/16", "10.200.0.0/16"] },
  "cloud": { "provider": "aws", "takeover": "blackhole", "ha_group": "hq" },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 5
}
JSON
CR() { nsx conn "$CLOUDROUTE" -c "$CFG" "$@"; }

CR plan >"$TMP/plan" 2>&1; rc=$?
check_eq "plan exits 2 before apply" 2 "$rc"
check "plan: route for the overlay" grep -q '+ cloud route rtb-hq 100.96.0.0/11 -> eni-hq (this connector)' "$TMP/plan"
check "plan: route for the peer site" grep -q '+ cloud route rtb-hq 192.168.0.0/22 -> eni-hq' "$TMP/plan"
check "plan: foreign route is a conflict" grep -q '! cloud conflict rtb-hq 172.16.0.0/16 -> eni-other (not ours, left alone)' "$TMP/plan"
check "plan: blackhole is taken over" grep -qE '~ cloud route rtb-hq 10.200.0.0/16' "$TMP/plan"
check_eq "plan made no mutating call" 0 "$(mutations)"
check_eq "main table untouched by plan" none "$(route_target rtb-main 100.96.0.0/11)"

ctl POST /reset >/dev/null
check "apply succeeds" CR apply
FIRST=$(ctl GET /counts)
echo "# first apply: $(echo "$FIRST" | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["ec2"], "EC2 calls,", c["mutating"], "mutating,", c["imds"], "IMDS; by action:", c["by_action"])')"
check_eq "source/dest check turned off" false "$(sdc)"
check_eq "overlay routed to us" eni-hq "$(route_target rtb-hq 100.96.0.0/11)"
check_eq "peer site routed to us" eni-hq "$(route_target rtb-hq 192.168.0.0/22)"
check_eq "foreign route untouched" eni-other "$(route_target rtb-hq 172.16.0.0/16)"
check_eq "blackhole taken over" eni-hq "$(route_target rtb-hq 10.200.0.0/16)"
check_eq "main table untouched (subnet has its own table)" none "$(route_target rtb-main 100.96.0.0/11)"

ctl POST /reset >/dev/null
check "second apply succeeds" CR apply
check_eq "second apply: zero mutating calls" 0 "$(mutations)"
echo "# unchanged re-apply: $(ctl GET /counts | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["ec2"], "EC2 calls,", c["mutating"], "mutating")')"
CR plan >/dev/null 2>&1; check_eq "plan exits 0 after apply" 0 $?

# Drift: someone deletes our route; run brings it back.  A route changed to a
# foreign target becomes a conflict.
ctl POST /mutate '{"action":"DeleteRoute","params":{"RouteTableId":"rtb-hq","DestinationCidrBlock":"192.168.0.0/22"}}' >/dev/null
CR plan >"$TMP/plan2" 2>&1; check_eq "deleted route is drift (plan exits 2)" 2 $?
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
check "run restores the deleted route" wait_for 15 route_is rtb-hq 192.168.0.0/22 eni-hq
ctl POST /mutate '{"action":"ReplaceRoute","params":{"RouteTableId":"rtb-hq","DestinationCidrBlock":"192.168.0.0/22","NetworkInterfaceId":"eni-other"}}' >/dev/null
sleep 7
check_eq "a route moved to a foreign target is left alone" eni-other "$(route_target rtb-hq 192.168.0.0/22)"
CR status >"$TMP/status" 2>&1
check "status shows the conflict" grep -q '! cloud conflict rtb-hq 192.168.0.0/22 -> eni-other' "$TMP/status"
kill -TERM $RUNPID; wait $RUNPID
ctl POST /mutate '{"action":"ReplaceRoute","params":{"RouteTableId":"rtb-hq","DestinationCidrBlock":"192.168.0.0/22","NetworkInterfaceId":"eni-hq"}}' >/dev/null

# Throttling storm converges.
ctl POST /mutate '{"action":"DeleteRoute","params":{"RouteTableId":"rtb-hq","DestinationCidrBlock":"192.168.0.0/22"}}' >/dev/null
ctl POST /fault '{"kind":"throttle","count":6}' >/dev/null
check "apply converges through 6 throttled calls" CR apply
check_eq "route back after the storm" eni-hq "$(route_target rtb-hq 192.168.0.0/22)"

# Expired role credentials are refreshed.
ctl POST /expire-credentials '{"instance_id":"i-hq"}' >/dev/null
ctl POST /mutate '{"action":"DeleteRoute","params":{"RouteTableId":"rtb-hq","DestinationCidrBlock":"192.168.0.0/22"}}' >/dev/null
check "apply after credentials expired" CR apply
check_eq "route back with fresh credentials" eni-hq "$(route_target rtb-hq 192.168.0.0/22)"

# A malformed XML answer or an HTML error page: clear error, nothing changed.
ctl POST /mutate '{"action":"DeleteRoute","params":{"RouteTableId":"rtb-hq","DestinationCidrBlock":"192.168.0.0/22"}}' >/dev/null
ctl POST /reset >/dev/null
bad_answer "malformed XML" '{"kind":"malformed","count":1,"actions":["DescribeRouteTables"]}' \
	'xml|malformed|parse'
bad_answer "HTML error page" '{"kind":"html","count":-1,"actions":["DescribeRouteTables"]}' \
	'html|not xml|502'
ctl POST /faults/clear >/dev/null

# Missing IAM permission: the message names the action.
ctl POST /deny '{"role":"cloudroute-connector","actions":["CreateRoute"]}' >/dev/null
CR apply >"$TMP/bad3" 2>&1
check "denied CreateRoute names the IAM action" grep -q 'ec2:CreateRoute' "$TMP/bad3"
ctl POST /deny '{"role":"cloudroute-connector","actions":[]}' >/dev/null
check "apply after the permission is granted" CR apply

# A link or address change repairs the host at once without cloud API calls
# (containers coming and going must not cost EC2 quota).
sed 's/"reconcile_interval": 5/"reconcile_interval": 3600/' "$CFG" >"$TMP/slow.json"
T0=$(date +%s)
bg conn "$CLOUDROUTE" -c "$TMP/slow.json" run
RUNPID=$!
# The first cloud pass runs beside the loop: wait until this run's ended.
cloud_pass_done() { python3 -c "
import json, sys
s = json.load(open('$TMP/state/state.json'))
sys.exit(0 if s.get('last_cloud', {}).get('time', 0) >= $T0 else 1)" 2>/dev/null; }
wait_for 15 cloud_pass_done
ctl POST /reset >/dev/null
nsx conn sysctl -qw net.ipv4.ip_forward=0
nsx conn ip addr add 10.0.0.77/18 dev eth0
check "a link event repairs the host within seconds" wait_for 5 sh -c \
	"[ \$(ip netns exec $(ns conn) sysctl -n net.ipv4.ip_forward) = 1 ]"
check_eq "... with no EC2 call" 0 "$(ctl GET /counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["ec2"])')"
kill -TERM $RUNPID; wait $RUNPID
nsx conn ip addr del 10.0.0.77/18 dev eth0

# Teardown removes only ours and restores the check.
check "teardown succeeds" CR teardown
check_eq "overlay route removed" none "$(route_target rtb-hq 100.96.0.0/11)"
check_eq "peer route removed" none "$(route_target rtb-hq 192.168.0.0/22)"
check_eq "taken-over route removed" none "$(route_target rtb-hq 10.200.0.0/16)"
check_eq "foreign route still there" eni-other "$(route_target rtb-hq 172.16.0.0/16)"
check_eq "igw route still there" igw-hq "$(route_target rtb-hq 0.0.0.0/0)"
check_eq "source/dest check restored" true "$(sdc)"
check_eq "no host table left" "" "$(nsx conn nft list tables | grep cloudroute)"

# Crash safety: kill -9 exactly between a cloud change and the state write
# (the fake carries the call out, then holds the answer for 4 s), then
# restart; the result converges and teardown still knows what was ours and
# that the check was on before cloudroute.
sdc_is() { [ "$(sdc)" = "$1" ]; }
check_eq "check is on again before the crash tests" true "$(sdc)"
crash_after 10 ModifyNetworkInterfaceAttribute sdc_is false
check_eq "crash 1: the check went off, the agent died before saving" false "$(sdc)"
crash_after 10 CreateRoute route_is rtb-hq 100.96.0.0/11 eni-hq
check "apply after the crashes" CR apply
check_eq "converged: overlay routed to us" eni-hq "$(route_target rtb-hq 100.96.0.0/11)"
check_eq "converged: peer site routed to us" eni-hq "$(route_target rtb-hq 192.168.0.0/22)"
check_eq "converged: check off" false "$(sdc)"
ctl POST /reset >/dev/null
CR apply >/dev/null 2>&1
check_eq "converged: a further apply changes nothing" 0 "$(mutations)"
check "teardown after the crashes" CR teardown
check_eq "crashes lost no route: overlay removed" none "$(route_target rtb-hq 100.96.0.0/11)"
check_eq "crashes lost no route: peer removed" none "$(route_target rtb-hq 192.168.0.0/22)"
check_eq "crashes lost no original: check back on" true "$(sdc)"
finish
