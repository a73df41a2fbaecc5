#!/bin/bash
# The Prometheus endpoint.  Part 1, the host (tests/lib/hostsim.sh, provider
# none): the daemon in a namespace with "metrics": {"listen":
# "127.0.0.1:9586"}: /metrics answers, the scrape passes `promtool check
# metrics`, a reconcile pass shows up in the counters, our nftables table
# deleted by hand is a host drift repair, 404/405 for the rest, SIGHUP keeps
# the endpoint, SIGTERM closes it.
#
# Part 2, the cloud: a connector against the fake EC2 (tests/lib/fakeec2.sh)
#   ec: eth0 10.0.0.10/18 (eni-hq) -- veth -- ecl;  tun0 -- veth -- ecp
#       fake EC2 API, IMDS and control on 127.0.0.1, metrics on :9587
# API calls by provider/operation/outcome (DescribeRouteTables ok, CreateRoute
# ok, an injected 500 as http_5xx), routes owned, a conflict, and a route
# deleted behind our back counted as a cloud drift repair.
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/hostsim.sh"
. "$(dirname "$0")/../lib/fakeec2.sh"

hostsim_build || { echo "topology failed"; finish; exit 1; }
CFG=$TMP/cr.json
hostsim_config "$CFG" '"metrics": { "listen": "127.0.0.1:9586" }'
scrape() { nsx conn curl -sf --max-time 5 http://127.0.0.1:9586/metrics; }
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
check "the endpoint answers" wait_for 10 scrape
# (the endpoint is up before the first host pass has ended)
host_pass_seen() { scrape >"$TMP/m1" && grep -q '^cloudroute_reconcile_passes_total{scope="host"} [1-9]' "$TMP/m1"; }
wait_for 10 host_pass_seen
check "promtool check metrics" promtool check metrics <"$TMP/m1"
check "build info" grep -q '^cloudroute_build_info{version="' "$TMP/m1"
check "a reconcile pass counted" grep -qE '^cloudroute_reconcile_passes_total\{scope="[a-z]+"\} [1-9]' "$TMP/m1"
check "changes applied counted" grep -qE '^cloudroute_changes_applied_total\{section="host"\} [1-9]' "$TMP/m1"
check_eq "404 elsewhere" 404 "$(nsx conn curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9586/)"
check_eq "405 for POST" 405 "$(nsx conn curl -s -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1:9586/metrics)"
check_not "not on other addresses" nsx conn curl -sf --max-time 2 http://10.0.0.10:9586/metrics
value() { # file, series (regex-quoted by the caller): its value or 0
	awk -v s="$2" 'index($0, s " ") == 1 { v = $2 } END { print v + 0 }' "$1"
}
positive() { awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }
check "the first host pass repaired nothing" test "$(value "$TMP/m1" 'cloudroute_drift_repairs_total{section="host"}')" = 0
check_eq "routes owned on the host" 2 "$(value "$TMP/m1" 'cloudroute_routes_owned{where="host"}')"
nsx conn nft delete table inet cloudroute
host_repaired() {
	scrape >"$TMP/m2" && positive "$(value "$TMP/m2" 'cloudroute_drift_repairs_total{section="host"}')"
}
check "our nft table deleted by hand: a host drift repair" wait_for 10 host_repaired
check "... and the table is back" nsx conn nft list table inet cloudroute
kill -HUP $RUNPID; sleep 1
check "still served after SIGHUP" scrape
kill -TERM $RUNPID; wait $RUNPID
check_not "closed after SIGTERM" scrape

# ---- part 2: the cloud ----
ns_new ec && ns_new ecl && ns_new ecp || { finish; exit 1; }
veth ec eth0 ecl l0
veth ec tun0 ecp p0
nsx ec ip addr add 10.0.0.10/18 dev eth0
nsx ec ip addr add 100.96.0.1/11 dev tun0
# basic.json plus a route of someone else for one of our prefixes (a conflict)
python3 - "$TOP/tests/fakecloud/scenarios/basic.json" >"$TMP/scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for t in s["route_tables"]:
    if t["id"] == "rtb-hq":
        t["routes"].append({"destination": "10.77.0.0/16", "network_interface_id": "eni-other"})
json.dump(s, sys.stdout)
PY
fakeec2_start ec "$TMP/scenario.json" || { finish; exit 1; }
export CLOUDROUTE_DMI_DIR=$TMP/no-dmi
cat >"$TMP/ec.json" <<JSON
{
  "lan_interface": "eth0", "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "mode": "external", "interface": "tun0",
              "routes": ["192.168.0.0/22", "10.77.0.0/16"] },
  "cloud": { "provider": "aws", "takeover": "never" },
  "metrics": { "listen": "127.0.0.1:9587" },
  "state_dir": "$TMP/ec-state", "sysctl_file": "$TMP/ec-sysctl.conf", "reconcile_interval": 5
}
JSON
escrape() { nsx ec curl -sf --max-time 5 http://127.0.0.1:9587/metrics; }
calls() { # file operation outcome
	value "$1" "cloudroute_cloud_api_calls_total{provider=\"aws\",operation=\"$2\",outcome=\"$3\"}"
}
cloud_pass_seen() {
	escrape >"$TMP/c1" && positive "$(value "$TMP/c1" 'cloudroute_reconcile_passes_total{scope="cloud"}')"
}
bg ec "$CLOUDROUTE" -c "$TMP/ec.json" run
ECPID=$!
check "a cloud pass is counted" wait_for 15 cloud_pass_seen
check "promtool check metrics (with cloud series)" promtool check metrics <"$TMP/c1"
check "DescribeRouteTables counted with outcome ok" positive "$(calls "$TMP/c1" DescribeRouteTables ok)"
check_eq "two CreateRoute (the overlay and 192.168.0.0/22), ok" 2 "$(calls "$TMP/c1" CreateRoute ok)"
check "the metadata calls are counted" positive "$(calls "$TMP/c1" metadata.token ok)"
check_eq "routes owned in the cloud" 2 "$(value "$TMP/c1" 'cloudroute_routes_owned{where="cloud"}')"
check_eq "the foreign route for 10.77.0.0/16 is a conflict" 1 \
	"$(value "$TMP/c1" 'cloudroute_route_conflicts{where="cloud"}')"
check_eq "the first pass repaired nothing" 0 "$(value "$TMP/c1" 'cloudroute_drift_repairs_total{section="cloud"}')"
check "no secret in the scrape" sh -c "! grep -qi 'secret\|AKIA\|token=' '$TMP/c1'"

# A route of ours deleted behind our back: the next pass (same job) repairs it.
ctl POST /mutate '{"action": "DeleteRoute", "params": {"RouteTableId": "rtb-hq",
  "DestinationCidrBlock": "192.168.0.0/22"}}' >/dev/null
check_eq "the route is gone in the cloud" none "$(route_target rtb-hq 192.168.0.0/22)"
cloud_repaired() {
	escrape >"$TMP/c2" && positive "$(value "$TMP/c2" 'cloudroute_drift_repairs_total{section="cloud"}')"
}
check "a cloud drift repair is counted" wait_for 15 cloud_repaired
check_eq "... and the route is back" eni-hq "$(route_target rtb-hq 192.168.0.0/22)"
check_eq "three CreateRoute calls now" 3 "$(calls "$TMP/c2" CreateRoute ok)"

# An injected fault: EC2 answers 500 to the next DescribeRouteTables.
ctl POST /fault '{"kind": "error500", "count": 1, "actions": ["DescribeRouteTables"]}' >/dev/null
fault_seen() { escrape >"$TMP/c3" && positive "$(calls "$TMP/c3" DescribeRouteTables http_5xx)"; }
check "a 500 from EC2 is counted as http_5xx" wait_for 15 fault_seen
echo "# a sample of the scrape:"
grep -E '^cloudroute_(cloud_api_calls_total|routes_owned|route_conflicts|drift_repairs_total)' \
	"$TMP/c3" | sed 's/^/#   /'
check "promtool check metrics (after the fault)" promtool check metrics <"$TMP/c3"
ctl POST /faults/clear >/dev/null
kill -TERM $ECPID; wait $ECPID
finish
