#!/bin/bash
# The Prometheus endpoint.  Part 1, the host (tests/lib/hostsim.sh, provider
# none): the daemon in a namespace with "metrics": {"listen":
# "127.0.0.1:9586"}: /metrics answers, the scrape passes `promtool check
# metrics`, a reconcile pass shows up in the counters, our nftables table
# deleted by hand is a host drift repair, a foreign route holding a tunnel
# prefix is a host route conflict, 404/405 for the rest, SIGHUP keeps the
# endpoint, SIGTERM closes it.
#
# Part 2, the cloud: a connector against the fake EC2 (tests/lib/fakeec2.sh)
#   ec: eth0 10.0.0.10/18 (eni-hq) -- veth -- ecl;  tun0 -- veth -- ecp
#       fake EC2 API, IMDS and control on 127.0.0.1, metrics on :9587
# API calls by provider/operation/outcome (DescribeRouteTables ok, CreateRoute
# ok, an injected 500 as http_5xx), routes owned, a conflict, and a route
# deleted behind our back counted as a cloud drift repair.
#
# Part 3, a userspace tunnel: every drop reason is a series, garbage at the
# UDP port and a packet to an address no peer covers are counted.
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
check_eq "no host route conflict yet" 0 "$(value "$TMP/m2" 'cloudroute_route_conflicts{where="host"}')"
check_not "an external tunnel: no drop counters of ours" grep -q '^cloudroute_packets_dropped_total' "$TMP/m2"
# Someone else's route takes 172.16.50.0/24 (one of our tunnel prefixes):
# left alone, a conflict; gone again, the prefix is ours again.
nsx conn ip route replace 172.16.50.0/24 via 10.0.0.1 dev eth0
host_conflict() {
	scrape >"$TMP/m3" && [ "$(value "$TMP/m3" 'cloudroute_route_conflicts{where="host"}')" = 1 ]
}
check "a foreign route for a tunnel prefix: a host conflict" wait_for 15 host_conflict
check_eq "... not counted as owned" 1 "$(value "$TMP/m3" 'cloudroute_routes_owned{where="host"}')"
route_has() { nsx conn ip route show 172.16.50.0/24 | grep -q "$1"; }
check "... left alone" route_has "via 10.0.0.1"
nsx conn ip route del 172.16.50.0/24 via 10.0.0.1 dev eth0
host_no_conflict() {
	scrape >"$TMP/m4" && [ "$(value "$TMP/m4" 'cloudroute_route_conflicts{where="host"}')" = 0 ]
}
check "the foreign route gone: no conflict" wait_for 15 host_no_conflict
route_is_back() { nsx conn ip route show 172.16.50.0/24 | grep -q "dev tun0 proto 117"; }
check "... and our route is back" wait_for 10 route_is_back
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

# ---- part 3: drops of the userspace tunnel ----
#   ua: cloudroute run (tunnel $P"m" 10.79.0.1/24, UDP 51830, one peer
#       10.79.0.2/32 at 192.168.79.2:51831 where nobody listens)
#     v0 192.168.79.1 -- v1 192.168.79.2   ub: sends garbage to 51830
ns_new ua && ns_new ub || { finish; exit 1; }
veth ua v0 ub v1
nsx ua ip addr add 192.168.79.1/24 dev v0
nsx ub ip addr add 192.168.79.2/24 dev v1
IU=${P}m
track_sock "$IU"
(umask 077; wg genkey >"$TMP/ku")
cat >"$TMP/ua.json" <<JSON
{
  "overlay": ["10.79.0.0/24"], "lan_interface": "v0", "local_subnets": ["192.168.79.0/24"],
  "nat": { "masquerade": false },
  "tunnel": { "mode": "userspace", "interface": "$IU", "private_key_file": "$TMP/ku",
    "listen_port": 51830, "address": ["10.79.0.1/24"],
    "peers": [ { "name": "p", "public_key": "$(wg genkey | wg pubkey)",
                 "endpoint": "192.168.79.2:51831", "allowed_ips": ["10.79.0.2/32"] } ] },
  "cloud": { "provider": "none" },
  "metrics": { "listen": "127.0.0.1:9588" },
  "state_dir": "$TMP/ua-state", "sysctl_file": "$TMP/ua-sysctl.conf", "reconcile_interval": 60
}
JSON
uscrape() { nsx ua curl -sf --max-time 5 http://127.0.0.1:9588/metrics; }
dropped() { value "$1" "cloudroute_packets_dropped_total{reason=\"$2\"}"; }
bg ua "$CLOUDROUTE" -c "$TMP/ua.json" run
UAPID=$!
check "the userspace tunnel's endpoint answers" wait_for 10 uscrape
uscrape >"$TMP/u1"
check "promtool check metrics (with drop counters)" promtool check metrics <"$TMP/u1"
REASONS="malformed unknown_receiver session_expired decrypt_failed replay invalid_inner
source_not_allowed no_route no_endpoint no_session queue_full handshake_bad_mac1
handshake_under_load handshake_ratelimited handshake_unknown_peer handshake_invalid
handshake_stale send_failed tun_write_failed socket_overflow"
missing=""
for r in $REASONS; do
	grep -q "^cloudroute_packets_dropped_total{reason=\"$r\"} " "$TMP/u1" || missing="$missing $r"
done
check_eq "every drop reason is a series" "" "$missing"
check_eq "one series per reason" "$(wc -w <<<"$REASONS")" \
	"$(grep -c '^cloudroute_packets_dropped_total{' "$TMP/u1")"
check_eq "nothing malformed yet" 0 "$(dropped "$TMP/u1" malformed)"
# garbage at the listen port, from the other namespace
nsx ub python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for m in (b"garbage", b"\x04" + bytes(40)):
    s.sendto(m, ("192.168.79.1", 51830))'
# a packet into the tunnel for an address no peer's allowed IPs cover
nsx ua ping -c 1 -W 1 10.79.0.9 >/dev/null 2>&1
drops_seen() {
	uscrape >"$TMP/u2" && [ "$(dropped "$TMP/u2" malformed)" = 1 ] &&
	    [ "$(dropped "$TMP/u2" unknown_receiver)" = 1 ] && positive "$(dropped "$TMP/u2" no_route)"
}
check "garbage: malformed 1, unknown_receiver 1; no_route counted" wait_for 10 drops_seen
check "promtool check metrics (after the drops)" promtool check metrics <"$TMP/u2"
echo "# the drop counters:"
grep -E '^cloudroute_packets_dropped_total' "$TMP/u2" | sed 's/^/#   /'
kill -TERM $UAPID; wait $UAPID
finish
