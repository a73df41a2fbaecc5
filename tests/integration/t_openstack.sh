#!/bin/bash
# The OpenStack provider end to end: cloudroute against the fake Keystone +
# Neutron of tests/fakecloud/openstack.py over HTTPS with a test CA (token
# checked and expiring), metadata on plain http.  All in one namespace:
#
#   conn: eth0 10.0.0.10/24 (port p-conn, MAC fa:16:3e:00:00:0a), default via 10.0.0.1
#         tun0 (external tunnel: 192.168.0.0/22, 172.16.0.0/16, 10.9.0.0/16)
#         fake API https://127.0.0.1:PORT (/identity, /networking),
#         metadata http://127.0.0.1:PORT, control http://127.0.0.1:PORT
#   lan:  l0 10.0.0.1/24 (the tenant router's side)
#
# Router r-main (our subnet) has 10.9.0.0/16 -> 10.0.0.10 from before
# cloudroute (not ours) and 172.16.0.0/16 -> 10.0.0.11 (foreign: a conflict).
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/cloudseq.sh"

ns_new conn && ns_new lan && ns_new peer || { finish; exit 1; }
veth conn eth0 lan l0
veth conn tun0 peer p0
nsx conn ip link set eth0 address fa:16:3e:00:00:0a
nsx conn ip addr add 10.0.0.10/24 dev eth0
nsx lan ip addr add 10.0.0.1/24 dev l0
nsx conn ip route add default via 10.0.0.1
nsx conn ip addr add 100.96.0.1/11 dev tun0

UUID=c0ffee00-0000-4000-8000-00000000000a
bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" >/dev/null 2>&1
bg conn python3 "$TOP/tests/fakecloud/openstack.py" \
	--scenario "$TOP/tests/fakecloud/scenarios/openstack.json" \
	--api 127.0.0.1:0 --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" \
	--metadata "127.0.0.1:0=$UUID" --control 127.0.0.1:0 --ready-file "$TMP/ready.json" \
	--log "$TMP/requests.jsonl" --token-ttl 600
wait_for 10 test -s "$TMP/ready.json" || { echo "fake OpenStack did not start"; finish; exit 1; }
port() { python3 -c "import json; r=json.load(open('$TMP/ready.json')); print($1)"; }
API=$(port 'r["api"]["port"]'); MD=$(port 'r["metadata"][0]["port"]'); CTL=$(port 'r["control"]["port"]')

install -m 600 "$TOP/tests/fakecloud/scenarios/openstack-clouds.yaml" "$TMP/clouds.yaml"
export CLOUDROUTE_CA_BUNDLE=$TMP/ca/ca.pem CLOUDROUTE_OPENSTACK_AUTH_URL=https://127.0.0.1:$API
export CLOUDROUTE_OPENSTACK_METADATA_URL=http://127.0.0.1:$MD CLOUDROUTE_RETRY_BASE_MS=20
export OS_CLIENT_CONFIG_FILE=$TMP/clouds.yaml OS_CLOUD=connector
# No real cloud is ever probed: AWS detection goes to a closed local port.
export CLOUDROUTE_AWS_METADATA_URL=http://127.0.0.1:9 CLOUDROUTE_AWS_API_URL=https://127.0.0.1:9
unset OS_AUTH_URL OS_PASSWORD OS_USERNAME OS_APPLICATION_CREDENTIAL_SECRET

ctl() { nsx conn curl -sf -X "$1" "http://127.0.0.1:$CTL$2" ${3:+-d "$3"}; }
count() { ctl GET /counts | python3 -c "import json,sys; print(json.load(sys.stdin)['counts']['$1'])"; }
mutations() { count mutating; }
routes_of() { # router -> "dst>nexthop ..." sorted
	ctl GET /state | python3 -c "
import json, sys
s = json.load(sys.stdin)
r = [x for x in s['routers'] if x['id'] == '$1'][0]
print(' '.join(sorted(a['destination'] + '>' + a['nexthop'] for a in r['routes'])))"
}
has_route() { routes_of "$1" | tr ' ' '\n' | grep -qx "$2"; }
pairs_of() {
	ctl GET /state | python3 -c "
import json, sys
s = json.load(sys.stdin)
p = [x for x in s['ports'] if x['id'] == '${1:-p-conn}'][0]
print(' '.join(sorted(a['ip_address'] for a in p['allowed_address_pairs'])))"
}
sgs() { ctl GET /state | python3 -c "
import json, sys
print(','.join([x for x in json.load(sys.stdin)['ports'] if x['id'] == 'p-conn'][0]['security_groups']))"; }

CFG=$TMP/cr.json
cat >"$CFG" <<JSON
{
  "lan_interface": "eth0",
  "local_subnets": ["10.0.0.0/24"],
  "tunnel": { "mode": "external", "interface": "tun0",
              "routes": ["192.168.0.0/22", "172.16.0.0/16", "10.9.0.0/16"] },
  "cloud": { "provider": "openstack" },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 5
}
JSON
CR() { nsx conn "$CLOUDROUTE" -c "$CFG" "$@"; }

# The fake is as strict as Neutron and Keystone where the client could go wrong.
api() { # method path [body] [extra header] -> "STATUS TYPE"
	nsx conn curl -s --cacert "$TMP/ca/ca.pem" -o "$TMP/api.out" -w '%{http_code}' -X "$1" \
		-H "X-Auth-Token: ${TOKEN:-none}" -H 'Content-Type: application/json' \
		${4:+-H "$4"} ${3:+-d "$3"} "https://127.0.0.1:$API$2" >"$TMP/api.code"
	echo "$(cat "$TMP/api.code") $(python3 -c "import json; print(json.load(open('$TMP/api.out')).get('NeutronError', {}).get('type', ''))" 2>/dev/null)"
}
auth='{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"id":"ac-conn","secret":"SECRET"}}}}'
check_eq "fake: wrong secret is 401" "401 " "$(api POST /identity/v3/auth/tokens "${auth/SECRET/wrong}")"
TOKEN=$(nsx conn curl -s --cacert "$TMP/ca/ca.pem" -D - -o /dev/null -H 'Content-Type: application/json' \
	-d "${auth/SECRET/appcred-secret-0001/+=}" "https://127.0.0.1:$API/identity/v3/auth/tokens" |
	tr -d '\r' | sed -n 's/^[Xx]-[Ss]ubject-[Tt]oken: //p')
check "fake: a token is issued" test -n "$TOKEN"
check_eq "fake: no token is 401" "401 " "$(TOKEN=bad api GET /networking/v2.0/ports)"
check_eq "fake: unknown port attribute is 400" "400 HTTPBadRequest" "$(api PUT /networking/v2.0/ports/p-conn '{"port":{"colour":"red"}}')"
check_eq "fake: stale revision is 412" "412 RevisionNumberConstraintFailed" "$(api PUT /networking/v2.0/ports/p-conn '{"port":{"name":"x"}}' 'If-Match: revision_number=99')"
check_eq "fake: nexthop off the router's subnets is 400" "400 InvalidRoutes" "$(api PUT /networking/v2.0/routers/r-b/add_extraroutes '{"router":{"routes":[{"destination":"10.60.0.0/16","nexthop":"10.0.0.10"}]}}')"
check_eq "fake: destination with host bits is 400" "400 HTTPBadRequest" "$(api PUT /networking/v2.0/routers/r-main/add_extraroutes '{"router":{"routes":[{"destination":"10.60.0.1/16","nexthop":"10.0.0.10"}]}}')"
check_eq "fake: unknown filter is 400" "400 HTTPBadRequest" "$(api GET '/networking/v2.0/ports?colour=red')"
check_eq "fake: port security off with security groups is 409" "409 PortSecurityPortHasSecurityGroup" "$(api PUT /networking/v2.0/ports/p-conn '{"port":{"port_security_enabled":false}}')"
unset TOKEN
ctl POST /reset >/dev/null

check "check accepts provider openstack" CR check
CR -v plan >"$TMP/plan" 2>&1; rc=$?
check_eq "plan exits 2 before apply" 2 "$rc"
check "plan: overlay route on r-main" grep -q '+ cloud route r-main 100.96.0.0/11 -> 10.0.0.10 (this connector)' "$TMP/plan"
check "plan: peer route on r-main" grep -q '+ cloud route r-main 192.168.0.0/22 -> 10.0.0.10' "$TMP/plan"
check "plan: foreign nexthop is a conflict" grep -q '! cloud conflict r-main 172.16.0.0/16 -> 10.0.0.11 (not ours, left alone)' "$TMP/plan"
check "plan: route there before cloudroute is kept, not ours" grep -q '= cloud route r-main 10.9.0.0/16 -> 10.0.0.10 (there before cloudroute' "$TMP/plan"
check "plan: address pair for the overlay" grep -q 'allowed address pair 100.96.0.0/11' "$TMP/plan"
check "plan: of the instance's two ports, the default-route interface's (p-conn)" grep -q 'cloud forwarding p-conn allowed' "$TMP/plan"
check_not "plan: nothing on r-b (not our subnet's router)" grep -q 'r-b' "$TMP/plan"
check_not "plan shows no secret" grep -q 'appcred-secret' "$TMP/plan"
check_eq "plan made no mutating call" 0 "$(count mutating)"

ctl POST /reset >/dev/null
check "apply succeeds" CR apply
echo "# first apply: $(ctl GET /counts | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["neutron"], "Neutron calls,", c["mutating"], "mutating,", c["keystone"], "Keystone,", c["metadata"], "metadata; by action:", c["by_action"])')"
check_eq "routes on r-main" "10.9.0.0/16>10.0.0.10 100.96.0.0/11>10.0.0.10 172.16.0.0/16>10.0.0.11 192.168.0.0/22>10.0.0.10" "$(routes_of r-main)"
check_eq "r-b untouched" "" "$(routes_of r-b)"
check_eq "address pairs: theirs kept, ours added" "10.0.0.200 10.9.0.0/16 100.96.0.0/11 172.16.0.0/16 192.168.0.0/22" "$(pairs_of)"
check_eq "security groups kept" sg-default "$(sgs)"
check_eq "never a whole-routes PUT" 0 "$(count whole_routes_put)"
check_eq "security groups never sent" 0 "$(count security_groups_sent)"
check "state records our routes" grep -q '100.96.0.0/11' "$TMP/state/state.json"
check_not "state holds no token or secret" grep -qE 'gAAAAA|appcred-secret' "$TMP/state/state.json"

ctl POST /reset >/dev/null
check "second apply succeeds" CR apply
check_eq "second apply: zero mutating calls" 0 "$(count mutating)"
echo "# unchanged re-apply: $(ctl GET /counts | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["neutron"], "Neutron calls,", c["mutating"], "mutating,", c["keystone"], "Keystone")')"
CR plan >/dev/null 2>&1; check_eq "plan exits 0 after apply" 0 $?

# The cloud's own CA from clouds.yaml (cacert), without CLOUDROUTE_CA_BUNDLE:
# trusted for Keystone and Neutron, as by the OpenStack tools.
sed "s|    interface: public|    interface: public\n    cacert: $TMP/ca/ca.pem|" "$TMP/clouds.yaml" >"$TMP/clouds-ca.yaml"
chmod 600 "$TMP/clouds-ca.yaml"
OS_CLIENT_CONFIG_FILE=$TMP/clouds-ca.yaml CLOUDROUTE_CA_BUNDLE= nsx conn "$CLOUDROUTE" -c "$CFG" plan >"$TMP/ca.out" 2>&1
check_eq "clouds.yaml cacert: plan in sync (exit 0)" 0 $?
sed "s|$TMP/ca/ca.pem|$TMP/nonexistent.pem|" "$TMP/clouds-ca.yaml" >"$TMP/clouds-noca.yaml"
chmod 600 "$TMP/clouds-noca.yaml"
OS_CLIENT_CONFIG_FILE=$TMP/clouds-noca.yaml CLOUDROUTE_CA_BUNDLE= nsx conn "$CLOUDROUTE" -c "$CFG" plan >"$TMP/noca.out" 2>&1
check_eq "clouds.yaml cacert missing: plan fails" 1 $?
check "... naming the file" grep -q "nonexistent.pem" "$TMP/noca.out"

# provider "auto": DMI says OpenStack, the metadata probe confirms; in sync.
mkdir -p "$TMP/dmi"
echo "OpenStack Foundation" >"$TMP/dmi/sys_vendor"; echo "OpenStack Nova" >"$TMP/dmi/product_name"
sed 's|"provider": "openstack"|"provider": "auto"|' "$CFG" >"$TMP/auto.json"
CLOUDROUTE_DMI_DIR=$TMP/dmi nsx conn "$CLOUDROUTE" -c "$TMP/auto.json" plan >"$TMP/auto.out" 2>&1
check_eq "auto detects OpenStack (plan in sync, exit 0)" 0 $?
# route_tables "network": r-b has no interface on our subnet, so it cannot
# take 10.0.0.10 as a nexthop: skipped with a warning, nothing else changes.
sed 's|"provider": "openstack"|"provider": "openstack", "route_tables": "network"|' "$CFG" >"$TMP/net.json"
nsx conn "$CLOUDROUTE" -c "$TMP/net.json" plan >"$TMP/net.out" 2>&1
check_eq "route_tables network: in sync (exit 0)" 0 $?
check "route_tables network: r-b named as unusable" grep -q 'router r-b has no interface on our subnet' "$TMP/net.out"

# Drift: our route and our pair removed behind our back; a concurrent writer
# adds its own extra routes.  apply repairs ours, theirs survive.
ctl POST /mutate '{"op":"remove_routes","router":"r-main","routes":[{"destination":"192.168.0.0/22","nexthop":"10.0.0.10"}]}' >/dev/null
ctl POST /mutate '{"op":"add_routes","router":"r-main","routes":[{"destination":"10.50.0.0/16","nexthop":"10.0.0.11"}]}' >/dev/null
ctl POST /mutate '{"op":"set_pairs","port":"p-conn","pairs":[{"ip_address":"10.0.0.200"},{"ip_address":"100.96.0.0/11"}]}' >/dev/null
CR plan >/dev/null 2>&1; check_eq "drift: plan exits 2" 2 $?
check "apply repairs drift" CR apply
check "drift: our route is back" has_route r-main 192.168.0.0/22\>10.0.0.10
check "concurrent writer's route survived" has_route r-main 10.50.0.0/16\>10.0.0.11
check_eq "drift: pairs back" "10.0.0.200 10.9.0.0/16 100.96.0.0/11 172.16.0.0/16 192.168.0.0/22" "$(pairs_of)"

# An expired token is renewed (Keystone again), and a revoked one on 401.
ctl POST /expire-tokens >/dev/null
ctl POST /mutate '{"op":"remove_routes","router":"r-main","routes":[{"destination":"192.168.0.0/22","nexthop":"10.0.0.10"}]}' >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"unauthorized","count":1,"paths":["/routers/r-main"],"methods":["GET"]}' >/dev/null
check "apply with a revoked token" CR apply
check "token renewed: route back" has_route r-main 192.168.0.0/22\>10.0.0.10
check "Keystone was asked again" test "$(count keystone)" -ge 2

# Tokens of 6 s: the daemon renews them before expires_at, never meeting a 401.
ctl POST /token-ttl '{"seconds": 6}' >/dev/null
ctl POST /expire-tokens >/dev/null
ctl POST /reset >/dev/null
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
sleep 13
kill -TERM $RUNPID; wait $RUNPID 2>/dev/null
check "daemon: token renewed before expiry (Keystone asked again)" test "$(count keystone)" -ge 2
check_eq "daemon: no 401 met" 0 "$(ctl GET /counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["by_status"].get("401", 0))')"
ctl POST /token-ttl '{"seconds": 600}' >/dev/null

# Throttling, 503 and a lost race on the port (412) converge.
ctl POST /mutate '{"op":"set_pairs","port":"p-conn","pairs":[{"ip_address":"10.0.0.200"}]}' >/dev/null
ctl POST /fault '{"kind":"throttle","count":3,"retry_after":0}' >/dev/null
ctl POST /fault '{"kind":"stale","count":2,"methods":["PUT"],"paths":["/ports/"]}' >/dev/null
ctl POST /mutate '{"op":"remove_routes","router":"r-main","routes":[{"destination":"192.168.0.0/22","nexthop":"10.0.0.10"}]}' >/dev/null
ctl POST /fault '{"kind":"conflict","count":1,"paths":["add_extraroutes"]}' >/dev/null
ctl POST /fault '{"kind":"unavailable","count":1,"retry_after":1,"paths":["/routers/r-main"],"methods":["GET"]}' >/dev/null
check "apply converges through 429s, a 503, 412s and a 409" CR apply
check "... the route is back" has_route r-main 192.168.0.0/22\>10.0.0.10
check_eq "pairs after the storm" "10.0.0.200 10.9.0.0/16 100.96.0.0/11 172.16.0.0/16 192.168.0.0/22" "$(pairs_of)"

# Garbage answers: clear error, nothing changed.
ctl POST /mutate '{"op":"remove_routes","router":"r-main","routes":[{"destination":"192.168.0.0/22","nexthop":"10.0.0.10"}]}' >/dev/null
ctl POST /reset >/dev/null
bad_answer garbage '{"kind":"garbage","count":-1,"methods":["GET"],"paths":["/routers/"]}' \
	'not a JSON|JSON'
ctl POST /faults/clear >/dev/null
check "apply after the garbage stops" CR apply

# Quota: max_routes reached is explained.
ctl POST /mutate '{"op":"remove_routes","router":"r-main","routes":[{"destination":"192.168.0.0/22","nexthop":"10.0.0.10"}]}' >/dev/null
for i in $(seq 1 26); do ctl POST /mutate "{\"op\":\"add_routes\",\"router\":\"r-main\",\"routes\":[{\"destination\":\"10.$((100 + i)).0.0/16\",\"nexthop\":\"10.0.0.11\"}]}" >/dev/null; done
CR apply >"$TMP/bad2" 2>&1
check "quota: the error names max_routes" grep -q 'max_routes' "$TMP/bad2"
for i in $(seq 1 26); do ctl POST /mutate "{\"op\":\"remove_routes\",\"router\":\"r-main\",\"routes\":[{\"destination\":\"10.$((100 + i)).0.0/16\",\"nexthop\":\"10.0.0.11\"}]}" >/dev/null; done
check "apply after the quota is freed" CR apply
check "status shows the conflict" sh -c "ip netns exec $(ns conn) $CLOUDROUTE -c $CFG status 2>&1 | grep -q '! cloud conflict r-main 172.16.0.0/16 -> 10.0.0.11'"

# Crash safety: kill -9 between add_extraroutes and the agent's own save.
# The new prefix 10.77.0.0/16 was never ours before: only the record written
# before the call (opts->checkpoint) can tell teardown that it is.
sed 's|"10.9.0.0/16"\]|"10.9.0.0/16", "10.77.0.0/16"]|' "$CFG" >"$TMP/cr2.json"
ctl POST /fault '{"kind":"slow","delay_ms":4000,"count":1,"apply":true,"paths":["add_extraroutes"]}' >/dev/null
ip netns exec "$(ns conn)" "$CLOUDROUTE" -c "$TMP/cr2.json" apply >/dev/null 2>&1 &
pid=$!
wait_for 10 has_route r-main 10.77.0.0/16\>10.0.0.10
kill -9 $pid; wait $pid 2>/dev/null
ctl POST /faults/clear >/dev/null
check "crash: the route was added" has_route r-main 10.77.0.0/16\>10.0.0.10
check "crash: the state recorded it as ours before the call" grep -q '10.77.0.0/16' "$TMP/state/state.json"
ctl POST /reset >/dev/null
nsx conn "$CLOUDROUTE" -c "$TMP/cr2.json" apply >/dev/null 2>&1
check_eq "crash: the next apply changes no route" 0 "$(ctl GET /counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["by_action"].get("PUT /routers/add_extraroutes", 0))')"

# A Neutron without extraroute-atomic answers 404 for the actions while the
# router is there: a clear error, no whole-list PUT, and teardown neither
# removes nor forgets our routes (the 404 is not taken for a router gone).
ctl POST /extensions '{"extraroute_atomic": false}' >/dev/null
ctl POST /mutate '{"op":"remove_routes","router":"r-main","routes":[{"destination":"192.168.0.0/22","nexthop":"10.0.0.10"}]}' >/dev/null
ctl POST /reset >/dev/null
nsx conn "$CLOUDROUTE" -c "$TMP/cr2.json" apply >"$TMP/noext" 2>&1; rc=$?
check_eq "no extraroute-atomic: apply fails" 1 "$rc"
check "... and names the extension" grep -q 'extraroute-atomic' "$TMP/noext"
check_eq "... never a whole-routes PUT" 0 "$(count whole_routes_put)"
nsx conn "$CLOUDROUTE" -c "$TMP/cr2.json" teardown >"$TMP/noext2" 2>&1; rc=$?
check_eq "no extraroute-atomic: teardown fails" 1 "$rc"
check "... our routes still there" has_route r-main 100.96.0.0/11\>10.0.0.10
check "... and still recorded as ours" grep -q '100.96.0.0/11' "$TMP/state/state.json"
ctl POST /extensions '{"extraroute_atomic": true}' >/dev/null
check "apply once the extension is back" nsx conn "$CLOUDROUTE" -c "$TMP/cr2.json" apply

# Teardown: exactly ours go; theirs and the route from before cloudroute stay.
check "teardown succeeds" CR teardown
check_eq "teardown: routes left" "10.50.0.0/16>10.0.0.11 10.9.0.0/16>10.0.0.10 172.16.0.0/16>10.0.0.11" "$(routes_of r-main)"
check_eq "teardown: pairs left" "10.0.0.200" "$(pairs_of)"
check_eq "teardown: security groups kept" sg-default "$(sgs)"

# port_security "disable": refused (and explained) while security groups
# remain; once the operator removed them, our pairs go and port security is
# turned off; teardown turns it back on.
portsec() { ctl GET /state | python3 -c "
import json, sys
print(str([x for x in json.load(sys.stdin)['ports'] if x['id'] == 'p-conn'][0]['port_security_enabled']).lower())"; }
sed 's|"provider": "openstack"|"provider": "openstack", "port_security": "disable"|' "$CFG" >"$TMP/ps.json"
check "port_security disable: check accepts it" nsx conn "$CLOUDROUTE" -c "$TMP/ps.json" check
nsx conn "$CLOUDROUTE" -c "$TMP/ps.json" apply >"$TMP/ps1" 2>&1; rc=$?
check_eq "port security with security groups: apply fails" 1 "$rc"
check "... and says to remove the security groups" grep -q 'no-security-group' "$TMP/ps1"
check_eq "... port security still on" true "$(portsec)"
ctl POST /mutate '{"op":"set_security_groups","port":"p-conn","security_groups":[]}' >/dev/null
ctl POST /mutate '{"op":"set_pairs","port":"p-conn","pairs":[]}' >/dev/null
check "port security off once the groups are gone" nsx conn "$CLOUDROUTE" -c "$TMP/ps.json" apply
check_eq "port_security_enabled false" false "$(portsec)"
check_eq "routes still added" "10.9.0.0/16>10.0.0.10 100.96.0.0/11>10.0.0.10 172.16.0.0/16>10.0.0.11 192.168.0.0/22>10.0.0.10" "$(routes_of r-main | sed 's/10.50.0.0\/16>10.0.0.11 //')"
ctl POST /reset >/dev/null
nsx conn "$CLOUDROUTE" -c "$TMP/ps.json" apply >/dev/null 2>&1
check_eq "port security off: re-apply makes no write" 0 "$(count mutating)"
check "teardown restores port security" nsx conn "$CLOUDROUTE" -c "$TMP/ps.json" teardown
check_eq "port_security_enabled true again" true "$(portsec)"
check_eq "teardown: only theirs left" "10.50.0.0/16>10.0.0.11 10.9.0.0/16>10.0.0.10 172.16.0.0/16>10.0.0.11" "$(routes_of r-main)"
finish
