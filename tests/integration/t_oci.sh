#!/bin/bash
# The OCI provider end to end: cloudroute (agent + providers/oci) against the
# fake OCI of tests/fakecloud/oci.py: IMDS v2 with an instance certificate,
# X.509 federation at the auth endpoint, the Core Services calls over HTTPS
# with a test CA, every request signature verified.  All inside one namespace:
#
#   conn: eth0 10.0.1.10/24 (the VNIC's address) -- veth -- lan
#         tun0 (external tunnel, routes 192.168.0.0/22, 172.16.0.0/16, 10.200.0.0/16)
#         fake Core API https://127.0.0.1:PORT, auth https://127.0.0.1:PORT,
#         IMDS http://127.0.0.1:PORT (instance hq) and :PORT (instance peer),
#         control http://127.0.0.1:PORT; at the end etcd http://127.0.0.1:2379
#         and two fleet connectors (hq, peer) of site hq
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/cloudseq.sh"
. "$TOP/tests/lib/etcd.sh"

ns_new conn && ns_new lan && ns_new peer || { finish; exit 1; }
veth conn eth0 lan l0
veth conn tun0 peer p0
nsx conn ip addr add 10.0.1.10/24 dev eth0
nsx conn ip addr add 100.96.0.1/11 dev tun0

RT=ocid1.routetable.oc1.iad.app
ME=ocid1.privateip.oc1.iad.hq
# Scenario: oci.json plus a foreign rule for 172.16.0.0/16 (someone else's
# appliance, not marked ours) and a rule of a dead ha-group connector for
# 10.200.0.0/16 (its private IP no longer exists).
# An API signing key for the ~/.oci/config path (a user of the tenancy).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/api.key" 2>/dev/null
chmod 600 "$TMP/api.key"
openssl pkey -in "$TMP/api.key" -pubout -out "$TMP/api.pub" 2>/dev/null
python3 - "$TOP/tests/fakecloud/scenarios/oci.json" "$TMP/api.pub" >"$TMP/scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["apiKeys"] = [{"user": "ocid1.user.oc1..aaaaaaaaoperator", "fingerprint": "aa:bb:cc:dd",
                 "publicKey": open(sys.argv[2]).read()}]
for t in s["routeTables"]:
    if t["id"] == "ocid1.routetable.oc1.iad.app":
        t["routeRules"].insert(1, {"destination": "172.16.0.0/16", "destinationType": "CIDR_BLOCK",
            "networkEntityId": "ocid1.privateip.oc1.iad.other", "description": "firewall appliance",
            "routeType": "STATIC"})
        t["routeRules"].append({"destination": "10.200.0.0/16", "destinationType": "CIDR_BLOCK",
            "networkEntityId": "ocid1.privateip.oc1.iad.dead",
            "description": "cloudroute ha_group=hq"})
# A newer service: rules carry a member RouteRule lacks (never to be written
# back), and lists come one item a page, our VNIC's secondary IP first.
s["ruleExtra"] = {"timeModified": "2026-01-02T00:00:00.000Z"}
s["pageSize"] = 1
s.setdefault("privateIps", []).append({"id": "ocid1.privateip.oc1.iad.aa2nd",
    "vnicId": "ocid1.vnic.oc1.iad.hq", "ipAddress": "10.0.1.20"})
json.dump(s, sys.stdout)
PY
bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" >/dev/null 2>&1
bg conn python3 "$TOP/tests/fakecloud/oci.py" --scenario "$TMP/scenario.json" \
	--api 127.0.0.1:0 --auth 127.0.0.1:0 --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" \
	--imds 127.0.0.1:0=ocid1.instance.oc1.iad.hq --imds 127.0.0.1:0=ocid1.instance.oc1.iad.peer \
	--control 127.0.0.1:0 \
	--ready-file "$TMP/ready.json" --log "$TMP/requests.jsonl"
wait_for 20 test -s "$TMP/ready.json" || { echo "fake OCI did not start"; finish; exit 1; }
port() { python3 -c "import json; r=json.load(open('$TMP/ready.json')); print($1)"; }
API=$(port 'r["api"]["port"]'); AUTH=$(port 'r["auth"]["port"]')
IMDS=$(port 'r["imds"][0]["port"]'); CTL=$(port 'r["control"]["port"]')
IMDS_PEER=$(port 'r["imds"][1]["port"]')
export CLOUDROUTE_CA_BUNDLE=$TMP/ca/ca.pem CLOUDROUTE_OCI_API_URL=https://127.0.0.1:$API
export CLOUDROUTE_OCI_AUTH_URL=https://127.0.0.1:$AUTH CLOUDROUTE_OCI_METADATA_URL=http://127.0.0.1:$IMDS
export CLOUDROUTE_RETRY_BASE_MS=20 HOME=$TMP/home
unset OCI_CONFIG_FILE OCI_CLI_PROFILE

ctl() { nsx conn curl -sf -X "$1" "http://127.0.0.1:$CTL$2" ${3:+-d "$3"}; }
count() { ctl GET /counts | python3 -c "import json,sys; c=json.load(sys.stdin)['counts']; print($1)"; }
mutations() { count 'c["mutating"]'; }
rule() { # dst -> "target description" or "none"
	ctl GET /state | python3 -c "
import json, sys
for r in json.load(sys.stdin)['routeTables']['$RT']['rules']:
    if r.get('destination', r.get('cidrBlock')) == '$1':
        print(r['networkEntityId'], r.get('description', '')); sys.exit()
print('none')"
}
target() { rule "$1" | cut -d' ' -f1; }
skip() { ctl GET /state | python3 -c "import json,sys; print(str(json.load(sys.stdin)['vnics']['ocid1.vnic.oc1.iad.hq']['skipSourceDestCheck']).lower())"; }
# The rules that are not ours, in order, as JSON (compared before and after).
foreign() { ctl GET /state | python3 -c "
import json, sys
rs = json.load(sys.stdin)['routeTables']['$RT']['rules']
print(json.dumps([r for r in rs if not r.get('description', '').startswith('cloudroute')], sort_keys=True))"; }

CFG=$TMP/cr.json
cat >"$CFG" <<JSON
{
  "lan_interface": "eth0",
  "local_subnets": ["10.0.0.0/16"],
  "tunnel": { "mode": "external", "interface": "tun0",
              "routes": ["192.168.0.0/22", "172.16.0.0/16", "10.200.0.0/16"] },
  "cloud": { "provider": "oci", "takeover": "blackhole", "ha_group": "hq" },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 5
}
JSON
CR() { nsx conn "$CLOUDROUTE" -c "$CFG" "$@"; }
FOREIGN0=$(foreign)

# The fake is as strict as the service: unsigned, tampered, stale, replayed
# and under-signed requests are refused; etags are enforced; IMDS is v2 only.
SC() { nsx conn python3 "$TOP/tests/fakecloud/ocisignclient.py" "$@"; }
check "by hand: federation with the instance certificate" SC federate \
	--imds "http://127.0.0.1:$IMDS" --auth "https://127.0.0.1:$AUTH" --cacert "$TMP/ca/ca.pem" --out "$TMP/sc"
TOK=$(cat "$TMP/sc/token" 2>/dev/null)
RTURL=https://127.0.0.1:$API/20160918/routeTables/$RT
call() { SC call --cacert "$TMP/ca/ca.pem" --key "$TMP/sc/session.key" --key-id "ST\$$TOK" "$@" | tr '\n' ' ' | sed 's/ $//'; }
check_eq "signed GetRouteTable: 200" "200" "$(call --url "$RTURL")"
check_eq "the same request again is a replay: 401" "200 401 NotAuthenticated" "$(call --url "$RTURL?limit=1" --repeat 2)"
check_eq "no Authorization: 401" "401 NotAuthenticated" "$(call --url "$RTURL" --no-auth)"
check_eq "tampered signature: 401" "401 NotAuthenticated" "$(call --url "$RTURL" --tamper)"
check_eq "Date 10 minutes old: 401" "401 NotAuthenticated" "$(call --url "$RTURL" --date "$(date -u -d '-10 min' '+%a, %d %b %Y %H:%M:%S GMT')")"
check_eq "host not signed: 401" "401 NotAuthenticated" "$(call --url "$RTURL" --headers 'date (request-target)')"
check_eq "PUT without the body headers signed: 401" "401 NotAuthenticated" "$(call --url "$RTURL" --method PUT --body '{}' --headers 'date (request-target) host')"
check_eq "unknown key: 401" "401 NotAuthenticated" "$(SC call --cacert "$TMP/ca/ca.pem" --key "$TMP/sc/session.key" --key-id 'ST$nope' --url "$RTURL")"
check_eq "stale if-match: 412" "412 NoEtagMatch" "$(call --url "$RTURL" --method PUT --body '{"routeRules":[]}' --if-match stale)"
check_eq "unknown field: 400" "400 InvalidParameter" "$(call --url "$RTURL" --method PUT --body '{"routeRules":[],"bogus":1}')"
check_eq "rules unchanged by the refused writes" "$FOREIGN0" "$(foreign)"
check_eq "IMDS v1 is not served" 404 "$(nsx conn curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$IMDS/opc/v1/instance/")"
check_eq "IMDS v2 needs Authorization: Bearer Oracle" 401 "$(nsx conn curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$IMDS/opc/v2/instance/")"
ctl POST /reset >/dev/null

check "config with provider oci passes check" CR check
CR plan >"$TMP/plan" 2>&1; rc=$?
check_eq "plan exits 2 before apply" 2 "$rc"
check "plan: skipSourceDestCheck" grep -q '~ cloud forwarding ocid1.vnic.oc1.iad.hq (skipSourceDestCheck false -> true)' "$TMP/plan"
check "plan: rule for the overlay" grep -q "+ cloud route $RT 100.96.0.0/11 -> $ME (this connector)" "$TMP/plan"
check "plan: foreign rule is a conflict" grep -q "! cloud conflict $RT 172.16.0.0/16 -> ocid1.privateip.oc1.iad.other (not ours, left alone)" "$TMP/plan"
check "plan: dead connector's rule is taken over" grep -qE "~ cloud route $RT 10.200.0.0/16 -> $ME" "$TMP/plan"
check_eq "plan made no mutating call" 0 "$(mutations)"

ctl POST /reset >/dev/null
check "first apply (instance principals) succeeds" CR apply
echo "# first apply: $(count '"%d Core calls, %d mutating, %d federation, %d IMDS; by op: %s" % (c["core"], c["mutating"], c["auth"], c["imds"], c["by_op"])')"
check_eq "first apply: one federation" 1 "$(count 'c["auth"]')"
check_eq "first apply: two writes (UpdateVnic + one UpdateRouteTable)" 2 "$(mutations)"
check_eq "first apply: no signature refused" 0 "$(count 'c["by_status"].get("401", 0)')"
check_eq "skipSourceDestCheck turned on" true "$(skip)"
check_eq "overlay routed to us" "$ME cloudroute ha_group=hq" "$(rule 100.96.0.0/11)"
check_eq "peer site routed to us" "$ME" "$(target 192.168.0.0/22)"
check_eq "dead connector's rule taken over" "$ME" "$(target 10.200.0.0/16)"
check_eq "foreign rules kept, in order, unchanged" "$FOREIGN0" "$(foreign)"

ctl POST /reset >/dev/null
check "second apply succeeds" CR apply
check_eq "second apply: zero mutating calls" 0 "$(mutations)"
echo "# unchanged re-apply: $(count '"%d Core calls, %d mutating, %d federation" % (c["core"], c["mutating"], c["auth"])')"
CR plan >/dev/null 2>&1; check_eq "plan exits 0 after apply" 0 $?
CR status >"$TMP/status" 2>&1
check "status reports the foreign rule" grep -q "! cloud conflict $RT 172.16.0.0/16" "$TMP/status"
check_not "status shows no security token" grep -q 'ST\$' "$TMP/status"
check_not "state holds no security token" grep -q 'ST\$\|eyJ' "$TMP/state/state.json"

# Drift: our rule removed behind our back comes back; theirs are untouched.
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"192.168.0.0/22"}' >/dev/null
CR plan >/dev/null 2>&1; check_eq "removed rule is drift (plan exits 2)" 2 $?
check "apply repairs drift" CR apply
check_eq "drift repaired" "$ME" "$(target 192.168.0.0/22)"
check_eq "foreign rules still unchanged" "$FOREIGN0" "$(foreign)"

# A concurrent writer adds its rule between our GET and our PUT: 412, re-read,
# re-merge; its rule survives and ours lands.
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"192.168.0.0/22"}' >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"race","count":1,"actions":["GetRouteTable"],"mutate":{"op":"add_rule","table":"'$RT'","index":0,"rule":{"destination":"10.99.0.0/16","destinationType":"CIDR_BLOCK","networkEntityId":"ocid1.drg.oc1.iad.drg","description":"added by terraform"}}}' >/dev/null
check "apply through a 412 race" CR apply
check_eq "the race gave one 412" 1 "$(count 'c["by_status"].get("412", 0)')"
check_eq "the concurrent writer's rule survived" "ocid1.drg.oc1.iad.drg added by terraform" "$(rule 10.99.0.0/16)"
check_eq "our rule landed after the race" "$ME" "$(target 192.168.0.0/22)"
FOREIGN1=$(foreign)

# Throttling (429) and server errors are retried.
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"192.168.0.0/22"}' >/dev/null
ctl POST /fault '{"kind":"throttle","count":3,"retry_after":1}' >/dev/null
ctl POST /fault '{"kind":"error500","count":1,"actions":["UpdateRouteTable"]}' >/dev/null
check "apply converges through 429s and a 500" CR apply
check_eq "rule back after the storm" "$ME" "$(target 192.168.0.0/22)"

# A service that refuses the deprecated cidrBlock beside destination: the
# same rules are written without the alias (destinations unchanged).
ctl POST /mutate '{"op":"strict_cidr","value":true}' >/dev/null
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"192.168.0.0/22"}' >/dev/null
check "apply when cidrBlock beside destination is refused" CR apply
check_eq "rule back under the strict reading" "$ME" "$(target 192.168.0.0/22)"
check_eq "the internet rule kept, without the alias" "ocid1.internetgateway.oc1.iad.igw internet" "$(rule 0.0.0.0/0)"
ctl POST /mutate '{"op":"strict_cidr","value":false}' >/dev/null
FOREIGN1=$(foreign)

# Garbage: a cut JSON document fails clearly and changes nothing.
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"192.168.0.0/22"}' >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"malformed","count":1,"actions":["GetRouteTable"]}' >/dev/null
CR apply >"$TMP/bad1" 2>&1; rc=$?
check_eq "malformed answer: apply exits 1" 1 "$rc"
check "malformed answer: the error says so" grep -q 'not a RouteTable\|not a JSON' "$TMP/bad1"
check_eq "malformed answer: no route-table write" 0 "$(count 'c["by_op"].get("UpdateRouteTable", 0)')"
ctl POST /faults/clear >/dev/null
check "apply after the garbage" CR apply

# The run loop repairs drift on its interval, and keeps working when its
# security token is refused (401: a new federation) and after the instance
# certificate rotated (the old one is no longer accepted by the auth service).
tgt_is() { [ "$(target "$1")" = "$2" ]; }
# The daemon's first cloud pass runs beside its loop, after READY: wait for
# it (it repairs this rule) before counting anything.
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"100.96.0.0/11"}' >/dev/null
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
check "run's first pass restores a removed rule" wait_for 15 tgt_is 100.96.0.0/11 "$ME"
ctl POST /reset >/dev/null
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"100.96.0.0/11"}' >/dev/null
check "run restores the removed rule" wait_for 15 tgt_is 100.96.0.0/11 "$ME"
check_eq "run: no new federation while the token is valid" 0 "$(count 'c["auth"]')"
ctl POST /expire-tokens >/dev/null
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"100.96.0.0/11"}' >/dev/null
check "run: token refused (401), refreshed, rule restored" wait_for 15 tgt_is 100.96.0.0/11 "$ME"
check_eq "run: one new federation after the 401" 1 "$(count 'c["auth"]')"
ctl POST /rotate-certificate '{"instance":"ocid1.instance.oc1.iad.hq"}' >/dev/null
ctl POST /expire-tokens >/dev/null
ctl POST /reset >/dev/null
ctl POST /mutate '{"op":"remove_rule","table":"'$RT'","destination":"100.96.0.0/11"}' >/dev/null
check "run: after certificate rotation the rule is restored" wait_for 15 tgt_is 100.96.0.0/11 "$ME"
check_eq "run: federated with the new certificate" 200 "$(ctl GET '/log?since=0' | python3 -c '
import json, sys
print(([e["status"] for e in json.load(sys.stdin)["entries"] if e["op"] == "X509Federation"] or [0])[-1])')"
kill -TERM $RUNPID; wait $RUNPID

# route_tables as a list of OCIDs: only those tables.
sed 's/"takeover": "blackhole"/"takeover": "blackhole", "route_tables": ["ocid1.routetable.oc1.iad.db"]/' "$CFG" >"$TMP/list.json"
nsx conn "$CLOUDROUTE" -c "$TMP/list.json" plan >"$TMP/list.plan" 2>&1
check "list: plan routes in the configured table" grep -q "+ cloud route ocid1.routetable.oc1.iad.db 100.96.0.0/11 -> $ME" "$TMP/list.plan"
check "list: our rules in the subnet's own table are no longer wanted" grep -q "^ *- cloud route $RT 100.96.0.0/11" "$TMP/list.plan"
sed 's/"takeover": "blackhole"/"takeover": "blackhole", "route_tables": ["ocid1.routetable.oc1.iad.nope"]/' "$CFG" >"$TMP/nope.json"
nsx conn "$CLOUDROUTE" -c "$TMP/nope.json" plan >"$TMP/nope.plan" 2>&1; rc=$?
check_eq "list: an unknown table fails the plan" 1 "$rc"
check "list: the error explains 404" grep -q "NotAuthorizedOrNotFound" "$TMP/nope.plan"

# route_tables "network" with takeover "group": every subnet's table of the
# VCN.  In the db table a live ha-group peer holds 192.168.0.0/22; once its
# VNIC is down, the rule is taken over.
DB=ocid1.routetable.oc1.iad.db
PEER=ocid1.privateip.oc1.iad.peer
sed 's/"takeover": "blackhole"/"takeover": "group", "route_tables": "network"/' "$CFG" >"$TMP/net.json"
ctl POST /mutate '{"op":"add_rule","table":"'$DB'","rule":{"destination":"192.168.0.0/22","destinationType":"CIDR_BLOCK","networkEntityId":"'$PEER'","description":"cloudroute ha_group=hq"}}' >/dev/null
dbtarget() { ctl GET /state | python3 -c "
import json, sys
for r in json.load(sys.stdin)['routeTables']['$DB']['rules']:
    if r.get('destination') == '$1': print(r['networkEntityId']); sys.exit()
print('none')"; }
check "network: apply" nsx conn "$CLOUDROUTE" -c "$TMP/net.json" apply
check_eq "network: the db table gets the overlay" "$ME" "$(dbtarget 100.96.0.0/11)"
check_eq "network: a live ha-group peer keeps its rule" "$PEER" "$(dbtarget 192.168.0.0/22)"
ctl POST /mutate '{"op":"vnic_state","vnic":"ocid1.vnic.oc1.iad.peer","state":"TERMINATED"}' >/dev/null
check "network: apply after the peer failed" nsx conn "$CLOUDROUTE" -c "$TMP/net.json" apply
check_eq "network: the failed peer's rule is taken over" "$ME" "$(dbtarget 192.168.0.0/22)"

# Teardown removes exactly ours and restores skipSourceDestCheck.
check "teardown succeeds" CR teardown
check_eq "overlay rule removed" none "$(rule 100.96.0.0/11)"
check_eq "peer rule removed" none "$(rule 192.168.0.0/22)"
check_eq "taken-over rule removed" none "$(rule 10.200.0.0/16)"
check_eq "foreign rules exactly as before" "$FOREIGN1" "$(foreign)"
check_eq "skipSourceDestCheck restored" false "$(skip)"
check_eq "db table: ours removed" none "$(dbtarget 100.96.0.0/11)"
check_eq "db table: the taken-over rule removed" none "$(dbtarget 192.168.0.0/22)"
ctl POST /reset >/dev/null
check "second teardown is a no-op" CR teardown
check_eq "second teardown: zero mutating calls" 0 "$(mutations)"
check_eq "no host table left" "" "$(nsx conn nft list tables | grep cloudroute)"

# Crash safety: kill -9 right after UpdateVnic was carried out (the fake
# holds its answer for 4 s), then again after UpdateRouteTable; a restart
# converges, and teardown still knows cloudroute turned the check off.
skip_is() { [ "$(skip)" = "$1" ]; }
crash_after 15 UpdateVnic skip_is true
check_eq "crash 1: the check went off, the agent died before the answer" true "$(skip)"
crash_after 15 UpdateRouteTable tgt_is 100.96.0.0/11 "$ME"
check "apply after the crashes" CR apply
check_eq "converged: overlay routed to us" "$ME" "$(target 100.96.0.0/11)"
check_eq "converged: one rule per prefix" 1 "$(ctl GET /state | python3 -c "
import json, sys
print(sum(1 for r in json.load(sys.stdin)['routeTables']['$RT']['rules'] if r.get('destination') == '100.96.0.0/11'))")"
check "teardown after the crashes" CR teardown
check_eq "crashes lost no original: skipSourceDestCheck back to false" false "$(skip)"
check_eq "crashes: no rule of ours left" none "$(rule 100.96.0.0/11)"
check_eq "crashes: foreign rules exactly as before" "$FOREIGN1" "$(foreign)"

# API key from ~/.oci/config (OCI_CONFIG_FILE): no federation; a key file
# readable by others is refused.
cat >"$TMP/oci-config" <<INI
[DEFAULT]
user=ocid1.user.oc1..aaaaaaaaoperator
fingerprint=aa:bb:cc:dd
key_file=$TMP/api.key
tenancy=ocid1.tenancy.oc1..aaaaaaaafaketenancy
region=us-ashburn-1
INI
ctl POST /reset >/dev/null
CR plan >"$TMP/apikey.plan" 2>&1; rc=$?
check_eq "plan without a config file still uses instance principals" 1 "$(count 'c["auth"]')"
export OCI_CONFIG_FILE=$TMP/oci-config
ctl POST /reset >/dev/null
CR plan >"$TMP/apikey.plan" 2>&1; rc=$?
check_eq "API key: plan works (changes pending after teardown)" 2 "$rc"
check_eq "API key: no federation" 0 "$(count 'c["auth"]')"
check_eq "API key: no signature refused" 0 "$(count 'c["by_status"].get("401", 0)')"
chmod 644 "$TMP/api.key"
CR plan >"$TMP/apikey.bad" 2>&1; rc=$?
check_eq "API key readable by others: plan fails" 1 "$rc"
check "API key readable by others: the error says so" grep -q 'readable by group or others' "$TMP/apikey.bad"
unset OCI_CONFIG_FILE

# The fleet's fast takeover (agent/fleet_takeover.h): connectors hq and peer
# of site hq meet in a real etcd; the elected one holds the rule for
# cloud.routes, the standby reads the table as if it led and keeps it (with
# its etag).  On kill -9 of the leader, the standby's first Core call is the
# UpdateRouteTable of that table under the kept etag; when someone else
# changed the table in between, that PUT gets 412 and the table is read and
# merged again, so the other rule stays.  The normal pass then writes nothing.
nsx conn ip addr flush dev tun0
ctl POST /mutate '{"op":"vnic_state","vnic":"ocid1.vnic.oc1.iad.peer","state":"AVAILABLE"}' >/dev/null
etcd_start conn e 2379 || { echo "etcd did not start"; finish; exit 1; }
. "$TOP/tests/lib/fleet_pair.sh"
FP_NS=conn FP_LAN=eth0 FP_SUBNETS='["10.0.0.0/16"]' FP_LOG=$TMP/requests.jsonl
FCLOUD='{ "provider": "oci", "ha_group": "hq", "routes": ["192.168.0.0/22"] }'
fp_conf hq 1 51820 "$FCLOUD"; fp_conf peer 2 51821 "$FCLOUD"
has_target() { [ "$(target 192.168.0.0/22)" = "$1" ]; }
core() { sleep 3; fp_calls 'e["service"] == "core"' >"$TMP/after-$1"; }
writes() { grep -E '^Update' "$TMP/after-$1" | tr '\n' ' ' | sed 's/ $//'; }
fp_run hq CLOUDROUTE_OCI_METADATA_URL="http://127.0.0.1:$IMDS"
check "fleet: hq, elected, holds the rule" wait_for 20 has_target "$ME"
READ='e["op"] == "GetRouteTable"'   # a standby reads again only in 30 s
fp_run_standby peer "$READ" CLOUDROUTE_OCI_METADATA_URL="http://127.0.0.1:$IMDS_PEER"
ctl POST /mutate '{"op":"add_rule","table":"'$RT'","rule":{"destination":"10.77.0.0/16","destinationType":"CIDR_BLOCK","networkEntityId":"ocid1.privateip.oc1.iad.other","description":"added meanwhile","routeType":"STATIC"}}' >/dev/null
FOREIGN2=$(foreign)
fp_kill hq peer has_target "$PEER"
core peer
check_eq "peer's first call: the PUT under its kept etag (412: the table changed)" \
	"UpdateRouteTable 412" "$(head -n 1 "$TMP/after-peer")"
check_eq "then the merged PUT after one read; the normal pass writes nothing" \
	"UpdateRouteTable 412 UpdateRouteTable 200" "$(writes peer)"
check_eq "the rule added meanwhile is kept (nothing clobbered)" "$FOREIGN2" "$(foreign)"
check "peer logged the takeover at once" grep -q 'fleet takeover: 1 route written at once' "$TMP/fpeer.log"
fp_run_standby hq "$READ" CLOUDROUTE_OCI_METADATA_URL="http://127.0.0.1:$IMDS"
fp_kill peer hq has_target "$ME"
core hq
check_eq "hq's first call: the PUT under its kept etag, at once" "UpdateRouteTable 200" \
	"$(head -n 1 "$TMP/after-hq")"
check_eq "hq: one write in all (the normal pass finds the rule in place)" "UpdateRouteTable 200" \
	"$(writes hq)"
check_eq "rules not ours still as they were" "$FOREIGN2" "$(foreign)"

finish
