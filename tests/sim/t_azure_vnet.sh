#!/bin/bash
# The connector guide's first flow on a simulated Azure VNet: a remote user
# reaches a private app, and the app's reply comes back only through the
# UDR cloudroute wrote (no NAT) and only while cloudroute keeps the NIC's IP
# forwarding on.  The VNet's router follows the fake ARM (vnetsync.py), so
# the flow works only if cloudroute made the right ARM calls.
#
#   user 100.96.0.2 --(tun0: stand-in for the tunnel)-- conn (cloudroute run)
#                                                        | eth0 10.0.0.4 (nic-hq)
#   app 10.0.1.10 (nic-app) ---- vnet (router: subnet tables rt-connectors,
#                                rt-apps; fake ARM + IMDS on 169.254.169.254)
. "$(dirname "$0")/../lib/netns.sh"

[ -x "$CLOUDROUTE" ] || { echo "not ok - no cloudroute binary at $CLOUDROUTE"; echo "0 passed, 1 failed"; exit 1; }
ns_new vnet && ns_new conn && ns_new app && ns_new user || { finish; exit 1; }
veth conn eth0 vnet h-conn
veth app eth0 vnet h-app
veth conn tun0 user p0
nsx vnet ip addr add 169.254.169.254/32 dev lo
nsx vnet sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
	net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.all.send_redirects=0
for l in "h-conn 10.0.0.1 10.0.0.4" "h-app 10.0.1.1 10.0.1.10"; do
	set -- $l
	nsx vnet ip addr add "$2/32" dev "$1"
	nsx vnet ip route add "$3/32" dev "$1"
	nsx vnet sysctl -qw "net.ipv4.conf.$1.proxy_arp=1" "net.ipv4.conf.$1.rp_filter=0"
done
# Each subnet's traffic is routed by its route table (kernel tables 101, 102).
nsx vnet ip rule add pref 1000 iif h-conn lookup 101
nsx vnet ip rule add pref 1001 iif h-app lookup 102
nsx conn ip addr add 10.0.0.4/24 dev eth0
nsx conn ip route add default via 10.0.0.1
nsx conn ip addr add 100.96.0.1/11 dev tun0
nsx user ip addr add 100.96.0.2/11 dev p0
nsx user ip route add default via 100.96.0.1
nsx app ip addr add 10.0.1.10/24 dev eth0
nsx app ip route add default via 10.0.1.1
bg app python3 "$TOP/tests/lib/whoami.py" serve 8080

bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" 169.254.169.254 >/dev/null 2>&1
bg vnet python3 "$TOP/tests/fakecloud/azure.py" --scenario "$TOP/tests/fakecloud/scenarios/azure-basic.json" \
	--api 169.254.169.254:443 --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" \
	--imds 169.254.169.254:80=vm-hq --control 127.0.0.1:0 --ready-file "$TMP/ready.json" \
	--lro-retry-after 0
wait_for 10 test -s "$TMP/ready.json" || { echo "fake azure did not start"; finish; exit 1; }
CTL=127.0.0.1:$(python3 -c "import json; print(json.load(open('$TMP/ready.json'))['control']['port'])")
bg vnet python3 "$TOP/tests/sim/vnetsync.py" --control "$CTL" --vnet-cidr 10.0.0.0/16 \
	--table rt-connectors=101 --table rt-apps=102 --nic nic-hq=h-conn --nic nic-app=h-app
export CLOUDROUTE_CA_BUNDLE=$TMP/ca/ca.pem CLOUDROUTE_AZURE_API_URL=https://169.254.169.254
export CLOUDROUTE_AZURE_METADATA_URL=http://169.254.169.254 CLOUDROUTE_RETRY_BASE_MS=20

ctl() { nsx vnet curl -sf -X "$1" "http://$CTL$2" ${3:+-d "$3"}; }
reach() { nsx user python3 "$TOP/tests/lib/whoami.py" get 10.0.1.10 8080; }
# The app sees the user's own overlay address: the reply went by the UDR.
reach_direct() { [ "$(reach 2>/dev/null)" = 100.96.0.2 ]; }
cat >"$TMP/cr.json" <<JSON
{
  "lan_interface": "eth0", "local_subnets": ["10.0.0.0/16"],
  "nat": { "masquerade": false },
  "tunnel": { "mode": "external", "interface": "tun0", "routes": [] },
  "cloud": { "provider": "azure", "route_tables": "network", "ha_group": "sim" },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 5
}
JSON

wait_for 5 nsx vnet ip route show table 101 | grep -q throw
check_not "before cloudroute: the user cannot reach the app" reach
bg conn "$CLOUDROUTE" -c "$TMP/cr.json" run >"$TMP/conn.log" 2>&1
RUNPID=$!
check "flow 1: user -> app, the reply via cloudroute's UDR in rt-apps" wait_for 20 reach_direct
check "the router's rt-apps table has the route to the connector" sh -c \
	"ip netns exec $(ns vnet) ip route show table 102 | grep -q '100.96.0.0/11 via 10.0.0.4'"
# Drift while the agent is stopped (so the breakage is seen before the repair).
stop_agent() { kill -TERM "$RUNPID"; wait "$RUNPID" 2>/dev/null; }
start_agent() { bg conn "$CLOUDROUTE" -c "$TMP/cr.json" run >>"$TMP/conn.log" 2>&1; RUNPID=$!; }
stop_agent
ctl POST /nic '{"nic":"nic-hq","ip_forwarding":false}' >/dev/null
check "IP forwarding turned off behind its back: the flow breaks" wait_for 5 sh -c \
	"! ip netns exec $(ns user) python3 $TOP/tests/lib/whoami.py get 10.0.1.10 8080"
start_agent
check "... and cloudroute turns it on again" wait_for 15 reach_direct
stop_agent
ctl POST /route-delete '{"table":"rt-apps","name":"cloudroute-sim-100.96.0.0_11"}' >/dev/null
check "the UDR deleted behind its back: the flow breaks" wait_for 5 sh -c \
	"! ip netns exec $(ns user) python3 $TOP/tests/lib/whoami.py get 10.0.1.10 8080"
start_agent
check "... and cloudroute writes it again" wait_for 15 reach_direct
stop_agent
check "teardown" nsx conn "$CLOUDROUTE" -c "$TMP/cr.json" teardown
check "after teardown the flow is gone again" wait_for 5 sh -c \
	"! ip netns exec $(ns user) python3 $TOP/tests/lib/whoami.py get 10.0.1.10 8080"
check_eq "after teardown nic-hq forwarding is off again" False "$(ctl GET /state | python3 -c 'import json,sys; print(json.load(sys.stdin)["nics"]["nic-hq"]["ip_forwarding"])')"
[ "$FAIL" = 0 ] || { echo "# --- connector log (tail)"; tail -n 20 "$TMP/conn.log" | sed 's/^/#   /'; }
finish
