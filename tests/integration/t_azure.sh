#!/bin/bash
# The Azure provider end to end: cloudroute (agent + providers/azure) against
# the fake ARM + IMDS of tests/fakecloud/azure.py over HTTPS with a test CA;
# the fake checks bearer tokens, api-versions, RBAC and etags, and runs writes
# as long-running operations.  All inside one namespace:
#
#   conn: eth0 10.0.0.4/24 (nic-hq's address)  -- veth -- lan
#         tun0 (external tunnel: 192.168.0.0/22, 172.16.0.0/16, 10.200.0.0/16,
#               10.201.0.0/16)
#         fake ARM https://127.0.0.1:PORT, IMDS http://127.0.0.1:PORT (vm-hq),
#         control http://127.0.0.1:PORT; at the end etcd http://127.0.0.1:2379 and
#         two fleet connectors (vm-hq, vm-peer) of site hq
#
# Route table rt-connectors (the subnet's) starts with: 0.0.0.0/0 Internet,
# a foreign appliance route for 172.16.0.0/16 (conflict), a cloudroute route
# of a deleted connector for 10.200.0.0/16 (taken over) and one of the
# running ha-group peer vm-peer for 10.201.0.0/16.
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"

ns_new conn && ns_new lan && ns_new peer || { finish; exit 1; }
veth conn eth0 lan l0
veth conn tun0 peer p0
nsx conn ip addr add 10.0.0.4/24 dev eth0
nsx conn ip addr add 100.96.0.1/11 dev tun0

python3 - "$TOP/tests/fakecloud/scenarios/azure-basic.json" >"$TMP/scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for t in s["route_tables"]:
    if t["name"] == "rt-connectors":
        t["routes"] += [
            {"name": "vpn-legacy", "prefix": "172.16.0.0/16", "next_hop_type": "VirtualAppliance",
             "next_hop_ip": "10.0.0.9"},
            {"name": "cloudroute-hq-10.200.0.0_16", "prefix": "10.200.0.0/16",
             "next_hop_type": "VirtualAppliance", "next_hop_ip": "10.0.0.99"},
            {"name": "cloudroute-hq-10.201.0.0_16", "prefix": "10.201.0.0/16",
             "next_hop_type": "VirtualAppliance", "next_hop_ip": "10.0.0.5"},
            {"name": "cloudroute-dc-10.202.0.0_16", "prefix": "10.202.0.0/16",
             "next_hop_type": "VirtualAppliance", "next_hop_ip": "10.0.0.97"},
            {"name": "cloudroute-hq-10.203.0.0_16", "prefix": "10.203.0.0/16",
             "next_hop_type": "VirtualAppliance", "next_hop_ip": "10.50.0.9"}]
json.dump(s, sys.stdout)
PY
bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" >/dev/null 2>&1
bg conn python3 "$TOP/tests/fakecloud/azure.py" --scenario "$TMP/scenario.json" \
	--api 127.0.0.1:0 --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" \
	--imds 127.0.0.1:0=vm-hq --imds 127.0.0.1:0=vm-peer --control 127.0.0.1:0 --ready-file "$TMP/ready.json" \
	--log "$TMP/requests.jsonl" --lro-polls 2 --lro-retry-after 0
wait_for 10 test -s "$TMP/ready.json" || { echo "fake azure did not start"; finish; exit 1; }
port() { python3 -c "import json; r=json.load(open('$TMP/ready.json')); print($1)"; }
API=$(port 'r["api"]["port"]'); IMDS=$(port 'r["imds"][0]["port"]'); CTL=$(port 'r["control"]["port"]')
IMDS_PEER=$(port 'r["imds"][1]["port"]')
export CLOUDROUTE_CA_BUNDLE=$TMP/ca/ca.pem CLOUDROUTE_AZURE_API_URL=https://127.0.0.1:$API
export CLOUDROUTE_AZURE_METADATA_URL=http://127.0.0.1:$IMDS CLOUDROUTE_RETRY_BASE_MS=20
unset AZURE_CLIENT_ID

ctl() { nsx conn curl -sf -X "$1" "http://127.0.0.1:$CTL$2" ${3:+-d "$3"}; }
count() { ctl GET /counts | python3 -c "import json,sys; c=json.load(sys.stdin)['counts']; print(c$1)"; }
route() { # name -> "prefix next_hop" or "none"
	ctl GET /state | python3 -c "
import json, sys
r = json.load(sys.stdin)['route_tables']['${2:-rt-connectors}']['routes'].get('$1')
print('%s %s' % (r['prefix'], r['next_hop_ip'] or r['next_hop_type']) if r else 'none')"
}
fwd() { ctl GET /state | python3 -c "import json,sys; print(str(json.load(sys.stdin)['nics']['nic-hq']['ip_forwarding']).lower())"; }

CFG=$TMP/cr.json
write_cfg() { # takeover [route_tables]
	cat >"$CFG" <<JSON
{
  "lan_interface": "eth0",
  "local_subnets": ["10.0.0.0/24"],
  "tunnel": { "mode": "external", "interface": "tun0",
              "routes": ["192.168.0.0/22", "172.16.0.0/16", "10.200.0.0/16", "10.201.0.0/16",
                         "10.202.0.0/16", "10.203.0.0/16"] },
  "cloud": { "provider": "azure", "takeover": "$1", "ha_group": "hq"${2:+, \"route_tables\": $2} },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 5
}
JSON
}
write_cfg blackhole
LOGS=$TMP/all-output
CR() { nsx conn "$CLOUDROUTE" -c "$CFG" "$@" 2>&1 | tee -a "$LOGS"; return "${PIPESTATUS[0]}"; }

CR -v plan >"$TMP/plan"; rc=$?
check_eq "plan exits 2 before apply" 2 "$rc"
check "plan: NIC forwarding" grep -q '~ cloud forwarding nic-hq (NIC IP forwarding off -> on)' "$TMP/plan"
check "plan: route for the overlay" grep -q '+ cloud route rt-connectors 100.96.0.0/11 -> 10.0.0.4 (this connector)' "$TMP/plan"
check "plan: route for the peer site" grep -q '+ cloud route rt-connectors 192.168.0.0/22 -> 10.0.0.4' "$TMP/plan"
check "plan: foreign route is a conflict" grep -q '! cloud conflict rt-connectors 172.16.0.0/16 -> 10.0.0.9 (not ours, left alone)' "$TMP/plan"
check "plan: a gone connector's route is taken over" grep -qE '~ cloud route rt-connectors 10.200.0.0/16 -> 10.0.0.4 .*on no NIC' "$TMP/plan"
check "plan: a running peer's route is not (takeover blackhole)" grep -qE '! cloud conflict rt-connectors 10.201.0.0/16 -> 10.0.0.5' "$TMP/plan"
check_eq "plan made no write" 0 "$(count '["mutating"]')"

ctl POST /reset >/dev/null
check "apply succeeds" CR apply
echo "# first apply: $(ctl GET /counts | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["arm"], "ARM requests (", c["reads"], "reads,", c["mutating"], "writes ) +", c["polls"], "operation polls,", c["imds"], "IMDS; by op:", c["by_op"])')"
check_eq "NIC forwarding on" true "$(fwd)"
check_eq "overlay routed to us" "100.96.0.0/11 10.0.0.4" "$(route cloudroute-hq-100.96.0.0_11)"
check_eq "peer site routed to us" "192.168.0.0/22 10.0.0.4" "$(route cloudroute-hq-192.168.0.0_22)"
check_eq "foreign route untouched" "172.16.0.0/16 10.0.0.9" "$(route vpn-legacy)"
check_eq "gone connector's route taken over" "10.200.0.0/16 10.0.0.4" "$(route cloudroute-hq-10.200.0.0_16)"
check_eq "running peer keeps its route" "10.201.0.0/16 10.0.0.5" "$(route cloudroute-hq-10.201.0.0_16)"
check_eq "an appliance outside the VNet (not visible here) is never taken over" \
	"10.203.0.0/16 10.50.0.9" "$(route cloudroute-hq-10.203.0.0_16)"
check_eq "another group's gone connector: its route replaced by ours" \
	"none 10.202.0.0/16 10.0.0.4" "$(route cloudroute-dc-10.202.0.0_16) $(route cloudroute-hq-10.202.0.0_16)"
check "... and recorded in the state under our name" grep -q '"name":"cloudroute-hq-10.202.0.0_16"' "$TMP/state/state.json"
check_eq "internet route untouched" "0.0.0.0/0 Internet" "$(route to-internet)"
check_eq "other subnet's table untouched" 0 "$(ctl GET /state | python3 -c "import json,sys; print(len(json.load(sys.stdin)['route_tables']['rt-apps']['routes']))")"

ctl POST /reset >/dev/null
check "second apply succeeds" CR apply
check_eq "second apply: zero writes" 0 "$(count '["mutating"]')"
check_eq "second apply: at most one read per resource kind" 1 "$(count '["by_op"]' | python3 -c 'import ast,sys; d=ast.literal_eval(sys.stdin.read()); print(max(v for k, v in d.items() if k.startswith("Get")))')"
echo "# unchanged re-apply: $(ctl GET /counts | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["arm"], "ARM requests,", c["mutating"], "writes; by op:", c["by_op"])')"
CR plan >/dev/null; check_eq "plan exits 0 after apply" 0 $?

# Drift: forwarding turned off and a route deleted behind our back.
ctl POST /nic '{"nic":"nic-hq","ip_forwarding":false}' >/dev/null
ctl POST /route-delete '{"table":"rt-connectors","name":"cloudroute-hq-192.168.0.0_22"}' >/dev/null
CR plan >/dev/null; check_eq "drift shows in plan (exit 2)" 2 $?
check "apply repairs the drift" CR apply
check_eq "forwarding back on" true "$(fwd)"
check_eq "deleted route back" "192.168.0.0/22 10.0.0.4" "$(route cloudroute-hq-192.168.0.0_22)"

# Someone puts their own route on one of our prefixes: left alone, shown.
ctl POST /route-delete '{"table":"rt-connectors","name":"cloudroute-hq-192.168.0.0_22"}' >/dev/null
ctl POST /route '{"table":"rt-connectors","name":"manual-branch","prefix":"192.168.0.0/22","next_hop_type":"VirtualAppliance","next_hop_ip":"10.0.0.50"}' >/dev/null
ctl POST /reset >/dev/null
check "apply with a foreign route on our prefix" CR apply
check_eq "foreign route on our prefix untouched" "192.168.0.0/22 10.0.0.50" "$(route manual-branch)"
check_eq "... with no write" 0 "$(count '["mutating"]')"
CR status >"$TMP/status"
check "status shows the conflict" grep -q '! cloud conflict rt-connectors 192.168.0.0/22 -> 10.0.0.50 (not ours, left alone)' "$TMP/status"
ctl POST /route-delete '{"table":"rt-connectors","name":"manual-branch"}' >/dev/null

# Throttling (429 + Retry-After) and "another operation in progress" (409).
ctl POST /fault '{"kind":"throttle","count":3,"retry_after":1}' >/dev/null
ctl POST /fault '{"kind":"busy","count":2,"actions":["PutRoute"],"retry_after":1}' >/dev/null
ctl POST /fault '{"kind":"error500","count":2,"actions":["GetRouteTable","GetOperation"]}' >/dev/null
check "apply converges through 429s, 409s and 500s" CR apply
check_eq "route back after throttling" "192.168.0.0/22 10.0.0.4" "$(route cloudroute-hq-192.168.0.0_22)"

# A 412 race on the NIC: re-read and retried.
ctl POST /nic '{"nic":"nic-hq","ip_forwarding":false}' >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"race412","count":1,"actions":["PutNic"]}' >/dev/null
check "apply converges through a 412 on the NIC" CR apply
check_eq "forwarding on after the race" true "$(fwd)"
check_eq "the NIC was read again and PUT twice" 2 "$(count '["by_op"]["PutNic"]')"

# A 412 race on a takeover: the route is read again, still the gone
# connector's, so it is replaced under its new etag.
ctl POST /route '{"table":"rt-connectors","name":"cloudroute-hq-10.200.0.0_16","prefix":"10.200.0.0/16","next_hop_type":"VirtualAppliance","next_hop_ip":"10.0.0.98"}' >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"race412","count":1,"actions":["PutRoute"]}' >/dev/null
check "apply converges through a 412 on a takeover" CR apply
check_eq "taken over after the race" "10.200.0.0/16 10.0.0.4" "$(route cloudroute-hq-10.200.0.0_16)"
check_eq "the route was read again and PUT twice" "2 1" "$(count '["by_op"]["PutRoute"]') $(count '["by_op"]["GetRoute"]')"

# Expired tokens are refetched after the 401.
ctl POST /expire-tokens >/dev/null
ctl POST /route-delete '{"table":"rt-connectors","name":"cloudroute-hq-192.168.0.0_22"}' >/dev/null
check "apply after the tokens expired" CR apply
check_eq "route back with a fresh token" "192.168.0.0/22 10.0.0.4" "$(route cloudroute-hq-192.168.0.0_22)"

# A failed operation, truncated JSON, an HTML page: clear error, nothing wrong done.
ctl POST /route-delete '{"table":"rt-connectors","name":"cloudroute-hq-192.168.0.0_22"}' >/dev/null
ctl POST /fault '{"kind":"opfail","count":1,"actions":["PutRoute"]}' >/dev/null
CR apply >"$TMP/bad0"; check_eq "failed operation: apply exits 1" 1 $?
check "failed operation: the error says so" grep -q 'operation Failed' "$TMP/bad0"
ctl POST /route-delete '{"table":"rt-connectors","name":"cloudroute-hq-192.168.0.0_22"}' >/dev/null
# An operation that Failed with RetryableError (a referenced resource was
# still Updating): the PUT is sent again and lands.
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"opretry","count":1,"actions":["PutRoute"]}' >/dev/null
check "RetryableError operation: apply succeeds" CR apply
check_eq "... the route is there" "192.168.0.0/22 10.0.0.4" "$(route cloudroute-hq-192.168.0.0_22)"
check_eq "... after a second PUT" 2 "$(count '["by_op"]["PutRoute"]')"
ctl POST /route-delete '{"table":"rt-connectors","name":"cloudroute-hq-192.168.0.0_22"}' >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"malformed","count":1,"actions":["GetRouteTable"]}' >/dev/null
CR apply >"$TMP/bad1"; check_eq "truncated JSON: apply exits 1" 1 $?
check "truncated JSON: the error says so" grep -qi 'truncated\|not a complete JSON' "$TMP/bad1"
check_eq "truncated JSON: no write" 0 "$(count '["mutating"]')"
ctl POST /fault '{"kind":"html","count":-1,"actions":["GetRouteTable"]}' >/dev/null
CR apply >"$TMP/bad2"; check_eq "HTML error page: apply exits 1" 1 $?
check "HTML error page: the error says so" grep -qi 'html' "$TMP/bad2"
check "... with the answer's x-ms-request-id" grep -qE 'x-ms-request-id [0-9a-f-]{36}' "$TMP/bad2"
check_eq "HTML error page: no write" 0 "$(count '["mutating"]')"
ctl POST /faults/clear >/dev/null

# A missing RBAC action: the message names it.
ctl POST /deny '{"identity":"vm-hq-system","actions":["Microsoft.Network/routeTables/routes/write"]}' >/dev/null
CR apply >"$TMP/bad3"
check "denied write names the RBAC action" grep -q 'Microsoft.Network/routeTables/routes/write' "$TMP/bad3"
ctl POST /deny '{"identity":"vm-hq-system","actions":["Microsoft.Network/virtualNetworks/subnets/join/action"]}' >/dev/null
ctl POST /nic '{"nic":"nic-hq","ip_forwarding":false}' >/dev/null
CR apply >"$TMP/bad4"
check "a NIC PUT without subnet join names the linked action" grep -q "LinkedAuthorizationFailed: the managed identity lacks Microsoft.Network/virtualNetworks/subnets/join/action" "$TMP/bad4"
ctl POST /deny '{"identity":"vm-hq-system","actions":[]}' >/dev/null
check "apply after the role is fixed" CR apply
check_eq "forwarding on after the role fix" true "$(fwd)"
check_eq "route back after the role fix" "192.168.0.0/22 10.0.0.4" "$(route cloudroute-hq-192.168.0.0_22)"

# HA: with takeover "group" a running peer holds its route; stopped, it is taken over.
write_cfg group
CR -v plan >"$TMP/plan-group"
check "group: a running peer holds its route" grep -q '= cloud route rt-connectors 10.201.0.0/16 -> 10.0.0.5 (held by ha-group peer' "$TMP/plan-group"
ctl POST /vm-power '{"vm":"vm-peer","power":"deallocated"}' >/dev/null
check "group: apply takes over from a stopped peer" CR apply
check_eq "group: the stopped peer's route is ours" "10.201.0.0/16 10.0.0.4" "$(route cloudroute-hq-10.201.0.0_16)"

# route_tables "network": every table with a subnet of the VNet; a list by name.
write_cfg group '"network"'
CR plan >"$TMP/plan-net"
check "network: the apps subnet's table is a target" grep -q '+ cloud route rt-apps 100.96.0.0/11 -> 10.0.0.4' "$TMP/plan-net"
write_cfg group '["rt-apps"]'
CR plan >"$TMP/plan-list"
check "list: the named table is the target" grep -q '+ cloud route rt-apps 192.168.0.0/22 -> 10.0.0.4' "$TMP/plan-list"
check "list: the table left behind is cleaned up" grep -q '\- cloud route rt-connectors 100.96.0.0/11 -> 10.0.0.4' "$TMP/plan-list"
write_cfg group

# The access token reaches no output, no state and no log.
ctl GET /tokens | python3 -c 'import json,sys; [print(t) for t in json.load(sys.stdin)["tokens"]]' >"$TMP/tokens"
nsx conn "$CLOUDROUTE" -c "$CFG" -v status >>"$LOGS" 2>&1
check "tokens were issued" test -s "$TMP/tokens"
check_not "no token in outputs, state or the request log" grep -rqF -f "$TMP/tokens" "$LOGS" "$TMP/state" "$TMP/requests.jsonl"

# A subnet without a route table: plan and doctor say so, with the fix.
ctl POST /subnet '{"vnet":"vnet-hq","subnet":"connectors","route_table":null}' >/dev/null
CR plan >"$TMP/plan-bare"; check_eq "no route table: plan exits 1" 1 $?
check "no route table: plan gives the fix" grep -q 'az network vnet subnet update -g rg-hq --vnet-name vnet-hq -n connectors --route-table' "$TMP/plan-bare"
CR doctor >"$TMP/doctor-bare"
check "no route table: doctor gives the fix" grep -q 'has no route table' "$TMP/doctor-bare"
ctl POST /subnet '{"vnet":"vnet-hq","subnet":"connectors","route_table":"rt-connectors"}' >/dev/null

# A user-assigned identity picked by AZURE_CLIENT_ID (on vm-peer).
sed "s|$TMP/state\"|$TMP/state-peer\"|" "$CFG" >"$TMP/peer.json"
PEER() { nsx conn env CLOUDROUTE_AZURE_METADATA_URL=http://127.0.0.1:$IMDS_PEER "$@" 2>&1 | tee -a "$LOGS"; return "${PIPESTATUS[0]}"; }
PEER AZURE_CLIENT_ID=11111111-aaaa-4bbb-8ccc-000000000002 "$CLOUDROUTE" -c "$TMP/peer.json" -v plan >"$TMP/plan-peer"
check_eq "user-assigned identity: plan works (exit 2)" 2 $?
check "user-assigned identity: vm-peer sees vm-hq holding the routes" grep -q -- '= cloud route rt-connectors 100.96.0.0/11 -> 10.0.0.4 (held by ha-group peer 10.0.0.4' "$TMP/plan-peer"
PEER AZURE_CLIENT_ID=11111111-aaaa-4bbb-8ccc-0000000000ff "$CLOUDROUTE" -c "$TMP/peer.json" plan >"$TMP/plan-peer2"
check_eq "unknown client id: plan exits 1" 1 $?
check "unknown client id: IMDS's reason is shown" grep -q 'Identity not found' "$TMP/plan-peer2"

# Teardown removes exactly ours and restores forwarding.
check "teardown succeeds" CR teardown
check_eq "forwarding restored (off)" false "$(fwd)"
check_eq "overlay route removed" none "$(route cloudroute-hq-100.96.0.0_11)"
check_eq "peer route removed" none "$(route cloudroute-hq-192.168.0.0_22)"
check_eq "taken-over route removed" none "$(route cloudroute-hq-10.200.0.0_16)"
check_eq "taken-over route of the other group removed" none "$(route cloudroute-hq-10.202.0.0_16)"
check_eq "foreign route still there" "172.16.0.0/16 10.0.0.9" "$(route vpn-legacy)"
check_eq "internet route still there" "0.0.0.0/0 Internet" "$(route to-internet)"
check_eq "no host table left" "" "$(nsx conn nft list tables | grep cloudroute)"

# Crash safety: kill -9 while a write's long-running operation is being
# polled (the fake holds the next poll 4 s), i.e. after the cloud changed and
# before the agent could save; the restart converges and teardown still
# knows the original forwarding setting and where our routes are.
crash_during() { # condition that shows the change happened
	local pid
	ctl POST /fault '{"kind":"slow","delay_ms":4000,"count":1,"actions":["GetOperation"]}' >/dev/null
	ip netns exec "$(ns conn)" "$CLOUDROUTE" -c "$CFG" run >>"$LOGS" 2>&1 &
	pid=$!
	wait_for 10 "$@"
	kill -9 $pid
	wait $pid 2>/dev/null
	ctl POST /faults/clear >/dev/null
}
fwd_is() { [ "$(fwd)" = "$1" ]; }
route_is() { [ "$(route "$1")" = "$2" ]; }
crash_during fwd_is true
check_eq "crash 1: forwarding went on, the agent died polling" true "$(fwd)"
crash_during route_is cloudroute-hq-100.96.0.0_11 "100.96.0.0/11 10.0.0.4"
check "apply after the crashes" CR apply
check_eq "converged: overlay routed to us" "100.96.0.0/11 10.0.0.4" "$(route cloudroute-hq-100.96.0.0_11)"
check_eq "converged: peer site routed to us" "192.168.0.0/22 10.0.0.4" "$(route cloudroute-hq-192.168.0.0_22)"
ctl POST /reset >/dev/null
CR apply >/dev/null
check_eq "converged: a further apply writes nothing" 0 "$(count '["mutating"]')"
check "teardown after the crashes" CR teardown
check_eq "crashes lost no route: overlay removed" none "$(route cloudroute-hq-100.96.0.0_11)"
check_eq "crashes lost no original: forwarding off again" false "$(fwd)"
# The fleet's fast takeover (agent/fleet_takeover.h): vm-hq and vm-peer, site
# hq, meet in a real etcd; the elected one holds the route for cloud.routes,
# the standby reads the table as if it led.  The route's etag then changes
# (re-PUT as the old leader may do), so the standby's kept one is stale.  On
# kill -9 of the leader, the standby's first ARM call is the PUT of that
# route, without If-Match (no 412), and it is the only write: the normal
# pass that follows finds everything in place.
nsx conn ip addr flush dev tun0
ctl POST /vm-power '{"vm":"vm-peer","power":"running"}' >/dev/null
etcd_start conn e 2379 || { echo "etcd did not start"; finish; exit 1; }
. "$TOP/tests/lib/fleet_pair.sh"
FP_NS=conn FP_LAN=eth0 FP_SUBNETS='["10.0.0.0/24"]' FP_LOG=$TMP/requests.jsonl
FCLOUD='{ "provider": "azure", "ha_group": "hq", "routes": ["192.168.0.0/22"] }'
fp_conf hq 1 51820 "$FCLOUD"; fp_conf peer 2 51821 "$FCLOUD"
FR=cloudroute-hq-192.168.0.0_22
fp_run hq CLOUDROUTE_AZURE_METADATA_URL="http://127.0.0.1:$IMDS"
check "fleet: hq, elected, holds the route" wait_for 20 route_is $FR "192.168.0.0/22 10.0.0.4"
# A standby reads again only in 30 s.
fp_run_standby peer 'e.get("op") in ("GetRouteTable", "ListRoutes")' \
	CLOUDROUTE_AZURE_METADATA_URL="http://127.0.0.1:$IMDS_PEER" \
	AZURE_CLIENT_ID=11111111-aaaa-4bbb-8ccc-000000000002
ctl POST /route '{"table":"rt-connectors","name":"'$FR'","prefix":"192.168.0.0/22","next_hop_type":"VirtualAppliance","next_hop_ip":"10.0.0.4"}' >/dev/null
fp_kill hq peer route_is $FR "192.168.0.0/22 10.0.0.5"
sleep 3
fp_calls 'e.get("listener") == "arm" and e["op"] != "GetOperation"' >"$TMP/after-peer"
check "peer's first ARM call: the PUT of the route (no read before it, no 412)" \
	grep -qx 'PutRoute 20[01]' <(head -n 1 "$TMP/after-peer")
check_eq "one write in all (the normal pass finds the route in place)" "PutRoute" \
	"$(grep -E '^(Put|Delete)' "$TMP/after-peer" | cut -d' ' -f1 | tr '\n' ' ' | sed 's/ $//')"
check "peer logged the takeover at once" grep -q 'fleet takeover: 1 route written at once' "$TMP/fpeer.log"
check_eq "the foreign route is untouched" "172.16.0.0/16 10.0.0.9" "$(route vpn-legacy)"
finish
