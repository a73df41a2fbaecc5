#!/bin/bash
# The GCP provider end to end: cloudroute (agent + providers/gcp) against the
# fake Compute Engine v1 API + OAuth token endpoint (HTTPS, test CA) and
# metadata server (HTTP) of tests/fakecloud/gcp.py, which checks every bearer
# token, verifies service-account JWT signatures with openssl, enforces
# instance fingerprints and route name rules, and finishes operations only
# after they are polled.  All inside one namespace:
#
#   conn: eth0 10.0.0.10/18 (cr-hq's address)  -- veth -- lan
#         tun0 (external tunnel, routes 192.168.0.0/22 172.16.0.0/16
#               10.200.0.0/16 10.201.0.0/16)
#         fake Compute https://127.0.0.1:PORT, metadata http://127.0.0.1:PORT
#         (cr-hq), control http://127.0.0.1:PORT
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/cloudseq.sh"

ns_new conn && ns_new lan && ns_new peer || { finish; exit 1; }
veth conn eth0 lan l0
veth conn tun0 peer p0
nsx conn ip addr add 10.0.0.10/18 dev eth0
nsx conn ip addr add 100.96.0.1/11 dev tun0

# Scenario: gcp-basic.json plus a foreign route for 172.16.0.0/16, routes of
# a deleted and of a stopped connector of ha_group hq, and a service account
# with a key (the key-file flow).
cp "$TOP/tests/unit/data/gcp/sa-key.json" "$TMP/sa-key.json"
python3 - "$TOP/tests/fakecloud/scenarios/gcp-basic.json" "$TMP/sa-key.json" \
	>"$TMP/scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["routes"] += [
    {"name": "peering-172", "destRange": "172.16.0.0/16", "nextHopIp": "10.0.0.11"},
    {"name": "cloudroute-hq-10-200-0-0-16-deadbeef", "destRange": "10.200.0.0/16",
     "next_hop_instance": "europe-west1-c/cr-dead", "description": "cloudroute ha_group=hq"},
    {"name": "cloudroute-hq-10-201-0-0-16-0badf00d", "destRange": "10.201.0.0/16",
     "next_hop_instance": "europe-west1-c/cr-stopped", "description": "cloudroute ha_group=hq"}]
key = json.load(open(sys.argv[2]))
s["service_accounts"].append({"email": key["client_email"], "key_file": sys.argv[2]})
json.dump(s, sys.stdout)
PY
bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" >/dev/null 2>&1
bg conn python3 "$TOP/tests/fakecloud/gcp.py" --scenario "$TMP/scenario.json" \
	--api 127.0.0.1:0 --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" \
	--metadata 127.0.0.1:0=europe-west1-b/cr-hq --control 127.0.0.1:0 \
	--ready-file "$TMP/ready.json" --log "$TMP/requests.jsonl" --max-page 2
wait_for 10 test -s "$TMP/ready.json" || { echo "fake cloud did not start"; finish; exit 1; }
port() { python3 -c "import json; r=json.load(open('$TMP/ready.json')); print($1)"; }
API=$(port 'r["api"]["port"]'); MD=$(port 'r["metadata"][0]["port"]'); CTL=$(port 'r["control"]["port"]')
export CLOUDROUTE_CA_BUNDLE=$TMP/ca/ca.pem CLOUDROUTE_GCP_API_URL=https://127.0.0.1:$API
export CLOUDROUTE_GCP_METADATA_URL=http://127.0.0.1:$MD CLOUDROUTE_RETRY_BASE_MS=20
unset GOOGLE_APPLICATION_CREDENTIALS GCE_METADATA_HOST

ctl() { nsx conn curl -sf -X "$1" "http://127.0.0.1:$CTL$2" ${3:+-d "$3"}; }
count() { ctl GET /counts | python3 -c "import json,sys; c=json.load(sys.stdin)['counts']; print($1)"; }
mutations() { count 'c["mutating"]'; }
# route_to DST -> "NAME>INSTANCE" for each route of network vpc with that destRange
route_to() {
	ctl GET /state | python3 -c "
import json, sys
s = json.load(sys.stdin)
out = []
for r in s['routes']:
    if r['destRange'] == '$1' and r['network'].endswith('/networks/vpc'):
        hop = r.get('nextHopInstance') or r.get('nextHopIp') or r.get('nextHopGateway') or r.get('nextHopNetwork')
        out.append(r['name'] + '>' + hop.rsplit('/', 1)[-1])
print(' '.join(sorted(out)) or 'none')"
}
ours() { route_to "$1" | grep -qE '^cloudroute-hq-[-a-z0-9]+>cr-hq$'; }
fwd() { ctl GET /state | python3 -c "
import json, sys
for i in json.load(sys.stdin)['instances']:
    if i['name'] == '${1:-cr-hq}': print(str(i['can_ip_forward']).lower())"; }

CFG=$TMP/cr.json
cat >"$CFG" <<JSON
{
  "lan_interface": "eth0",
  "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "mode": "external", "interface": "tun0",
              "routes": ["192.168.0.0/22", "172.16.0.0/16", "10.200.0.0/16", "10.201.0.0/16"] },
  "cloud": { "provider": "gcp", "takeover": "blackhole", "ha_group": "hq" },
  "state_dir": "$TMP/state", "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 5
}
JSON
CR() { nsx conn "$CLOUDROUTE" -c "$CFG" "$@"; }
check "config with provider gcp is accepted" CR check

# ---- the fake is strict ----
nsx conn curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MD/computeMetadata/v1/project/project-id" >"$TMP/c1"
check_eq "fake metadata: no Metadata-Flavor header is 403" 403 "$(cat "$TMP/c1")"
nsx conn curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/ca/ca.pem" -H 'Authorization: Bearer ya29.wrong' \
	"https://127.0.0.1:$API/compute/v1/projects/cr-proj/global/routes" >"$TMP/c2"
check_eq "fake Compute: an unknown token is 401" 401 "$(cat "$TMP/c2")"

CR plan >"$TMP/plan" 2>&1; rc=$?
check_eq "plan exits 2 before apply" 2 "$rc"
check "plan: canIpForward turned on" grep -q '~ cloud forwarding cr-hq (canIpForward false -> true)' "$TMP/plan"
check "plan: route for the overlay" grep -q '+ cloud route vpc 100.96.0.0/11 -> cr-hq (this connector)' "$TMP/plan"
check "plan: route for the peer site" grep -q '+ cloud route vpc 192.168.0.0/22 -> cr-hq' "$TMP/plan"
check "plan: foreign route is a conflict" grep -q '! cloud conflict vpc 172.16.0.0/16 -> 10.0.0.11 (not ours, left alone)' "$TMP/plan"
check "plan: a deleted connector's route is taken over" grep -qE '~ cloud route vpc 10.200.0.0/16 -> cr-hq \(takeover from cr-dead, NEXT_HOP_INSTANCE_NOT_FOUND\)' "$TMP/plan"
check "plan: a stopped connector's route is taken over" grep -qE '~ cloud route vpc 10.201.0.0/16 -> cr-hq \(takeover from cr-stopped, NEXT_HOP_NOT_RUNNING\)' "$TMP/plan"
check_eq "plan made no mutating call" 0 "$(mutations)"
CR -v plan >"$TMP/planv" 2>&1
check "plan -v shows our route's name" grep -qE '100.96.0.0/11 -> cr-hq \(this connector\) \[cloudroute-hq-100-96-0-0-11-[0-9a-f]{8}\]' "$TMP/planv"
check "plan -v shows the old route a takeover deletes" grep -q '10.200.0.0/16 -> cr-hq (takeover from cr-dead, NEXT_HOP_INSTANCE_NOT_FOUND) \[cloudroute-hq-10-200-0-0-16-deadbeef\]' "$TMP/planv"

ctl POST /reset >/dev/null
CR apply >"$TMP/apply1" 2>&1; rc=$?
check_eq "apply succeeds" 0 "$rc"
echo "# first apply: $(count '"%d Compute calls, %d mutating, %d metadata; %s" % (c["compute"], c["mutating"], c["metadata"], {k: v for k, v in c["by_method"].items() if not k.startswith("GET /")})')"
check_eq "first apply: one token from the metadata server" 1 "$(count 'c["by_method"].get("GET /computeMetadata/v1/instance/service-accounts/default/token", 0)')"
check_eq "canIpForward turned on" true "$(fwd)"
check "overlay routed to us" ours 100.96.0.0/11
route_to 100.96.0.0/11 >"$TMP/n1"
check "our route's name: group, prefix, instance hash" grep -qE '^cloudroute-hq-100-96-0-0-11-[0-9a-f]{8}>cr-hq$' "$TMP/n1"
check "peer site routed to us" ours 192.168.0.0/22
check_eq "foreign route untouched" "peering-172>10.0.0.11" "$(route_to 172.16.0.0/16)"
check "deleted connector's route replaced by ours" ours 10.200.0.0/16
check "stopped connector's route replaced by ours" ours 10.201.0.0/16
check_eq "... and the old one is gone" 1 "$(route_to 10.201.0.0/16 | wc -w)"
check_eq "internet route untouched" "default-internet>default-internet-gateway" "$(route_to 0.0.0.0/0)"
ctl GET /state | python3 -c "
import json, sys
s = json.load(sys.stdin)
mine = [r for r in s['routes'] if r['name'].startswith('cloudroute-')]
assert len(mine) == 4, mine
for r in mine:
    assert r['description'] == 'cloudroute ha_group=hq', r
    assert r['priority'] == 1000, r
    assert len(r['name']) <= 63, r
assert all(v == 'DONE' for v in s['operations'].values()), s['operations']
" >"$TMP/chk" 2>&1
check "our routes: name, description, priority; every operation DONE" test ! -s "$TMP/chk"
python3 - "$TMP/requests.jsonl" >"$TMP/order" <<'PY'
import json, sys
ents = [json.loads(l) for l in open(sys.argv[1]) if '"seq"' in l]
ins = [e["seq"] for e in ents if e.get("method") == "routes.insert" and e["status"] == 200]
dele = [e["seq"] for e in ents if e.get("method") == "routes.delete" and e["status"] == 200]
waits = [e["seq"] for e in ents if e.get("method", "").endswith("Operations.wait")]
print("ok" if ins and dele and min(ins) < min(dele) and waits else "bad %s %s" % (ins, dele))
PY
check_eq "takeover inserts ours before deleting the old route (waited for)" ok "$(cat "$TMP/order")"

# "auto": DMI names Google, the metadata probe confirms; GCE_METADATA_HOST
# (host:port, the client libraries' variable) works as the override too.
mkdir -p "$TMP/dmi"
echo Google >"$TMP/dmi/sys_vendor"; echo "Google Compute Engine" >"$TMP/dmi/product_name"
sed 's/"provider": "gcp"/"provider": "auto"/' "$CFG" >"$TMP/auto.json"
CLOUDROUTE_DMI_DIR=$TMP/dmi nsx conn "$CLOUDROUTE" -c "$TMP/auto.json" plan >"$TMP/auto" 2>&1
check_eq "provider auto finds GCP (plan exits 0: in sync)" 0 $?
(unset CLOUDROUTE_GCP_METADATA_URL; GCE_METADATA_HOST=127.0.0.1:$MD CR plan >"$TMP/gce" 2>&1)
check_eq "GCE_METADATA_HOST is honoured" 0 $?

ctl POST /reset >/dev/null
check "second apply succeeds" CR apply
check_eq "second apply: zero mutating calls" 0 "$(mutations)"
check_eq "second apply: one instance read" 1 "$(count 'c["by_method"].get("instances.get", 0)')"
echo "# unchanged re-apply: $(count '"%d Compute calls, %d mutating; %s" % (c["compute"], c["mutating"], {k: v for k, v in c["by_method"].items() if not k.startswith("GET /")})')"
CR plan >/dev/null 2>&1; check_eq "plan exits 0 after apply" 0 $?
CR status >"$TMP/status0" 2>&1; check_eq "status exits 0 in sync" 0 $?
check "status lists our routes" grep -q '= cloud route vpc 100.96.0.0/11 -> cr-hq (this connector)' "$TMP/status0"
CR doctor >"$TMP/doctor" 2>&1; rc=$?
check "doctor runs on GCP (exit 0 or 1, no crash)" test "$rc" -le 1

# Drift: our route deleted behind our back comes back.
NAME192=$(route_to 192.168.0.0/22 | cut -d'>' -f1)
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
CR plan >/dev/null 2>&1; check_eq "a deleted route is drift (plan exits 2)" 2 $?
check "apply repairs it" CR apply
check "peer site routed to us again" ours 192.168.0.0/22

# A foreign route for one of our prefixes: left alone, ours not added beside it.
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
ctl POST /mutate '{"method":"routes.insert","body":{"name":"terraform-branch","destRange":"192.168.0.0/22","nextHopIp":"10.0.0.11"}}' >/dev/null
CR apply >/dev/null 2>&1
check_eq "a foreign route is left alone and ours not added" "terraform-branch>10.0.0.11" "$(route_to 192.168.0.0/22)"
CR status >"$TMP/status" 2>&1
check "status shows the conflict" grep -q '! cloud conflict vpc 192.168.0.0/22 -> 10.0.0.11' "$TMP/status"
ctl POST /mutate '{"method":"routes.delete","name":"terraform-branch"}' >/dev/null

# Throttling: 429 and 403 rateLimitExceeded answers, then success.
ctl POST /fault '{"kind":"429","count":3,"retry_after":0}' >/dev/null
ctl POST /fault '{"kind":"ratelimit","count":2}' >/dev/null
ctl POST /fault '{"kind":"503","count":1,"methods":["routes.insert"]}' >/dev/null
ctl POST /fault '{"kind":"500","count":1,"methods":["globalOperations.wait"]}' >/dev/null
ctl POST /fault '{"kind":"notready","count":2,"methods":["routes.insert"]}' >/dev/null
check "apply converges through throttling (and 400 resourceNotReady)" CR apply
check "route back after the storm" ours 192.168.0.0/22

# A server that takes no routes.list filter: everything is listed, the
# other network's routes are ignored, nothing changes.
ctl POST /filter '{"refuse":true}' >/dev/null
ctl POST /reset >/dev/null
check "apply against a server refusing the filter" CR apply
check_eq "... no mutating call" 0 "$(mutations)"
check_eq "... one refused list" 1 "$(count 'c["by_status"].get("400", 0)')"
ctl POST /filter '{"refuse":false}' >/dev/null

# A write whose answer is lost is retried with the same requestId: the
# service answers the first operation, nothing runs twice.
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"lost","count":1,"methods":["routes.insert"]}' >/dev/null
check "apply through a lost answer" CR apply
check "route back after the lost answer" ours 192.168.0.0/22
check_eq "... inserted twice on the wire, no 409" "2 0" "$(count '"%d %d" % (c["by_method"].get("routes.insert", 0), c["by_status"].get("409", 0))')"

# Bad responses change nothing.
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
ctl POST /reset >/dev/null
bad_answer "garbage JSON" '{"kind":"garbage","count":1,"methods":["routes.list"]}' 'not JSON'
bad_answer "HTML error page" '{"kind":"html","count":-1,"methods":["instances.get"]}' \
	'not a Compute error|502'
ctl POST /faults/clear >/dev/null
check "apply after the bad answers" CR apply

# A stale fingerprint (someone updated the instance meanwhile) is re-read.
ctl POST /instance '{"name":"cr-hq","can_ip_forward":false}' >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"stale","count":1,"methods":["instances.update"]}' >/dev/null
check "apply through a stale fingerprint" CR apply
check_eq "canIpForward on after the 412" true "$(fwd)"
check_eq "... the fake answered 412 once" 1 "$(count 'c["by_status"].get("412", 0)')"

# The organisation policy forbids IP forwarding: said clearly.
ctl POST /instance '{"name":"cr-hq","can_ip_forward":false}' >/dev/null
ctl POST /org-policy '{"deny_ip_forward":true}' >/dev/null
CR apply >"$TMP/org" 2>&1; rc=$?
check_eq "org policy: apply exits 1" 1 "$rc"
check "org policy: the error names the constraint" grep -q 'organisation policy forbids IP forwarding.*vmCanIpForward' "$TMP/org"
ctl POST /org-policy '{"deny_ip_forward":false}' >/dev/null
check "apply once the policy allows it" CR apply

# Missing IAM permission: the message names it.
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
ctl POST /deny '{"email":"cloudroute@cr-proj.iam.gserviceaccount.com","permissions":["compute.routes.create"]}' >/dev/null
CR apply >"$TMP/iam" 2>&1
check "denied routes.insert names the permission" grep -q "compute.routes.create" "$TMP/iam"
ctl POST /deny '{"email":"cloudroute@cr-proj.iam.gserviceaccount.com","permissions":[]}' >/dev/null
check "apply after the permission is granted" CR apply

# The project's route quota is exhausted: the operation's QUOTA_EXCEEDED is explained.
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
ctl POST /quota '{"routes":1}' >/dev/null
CR apply >"$TMP/quota" 2>&1; rc=$?
check_eq "route quota exhausted: apply exits 1" 1 "$rc"
check "route quota exhausted: explained" grep -q 'QUOTA_EXCEEDED.*quota for routes' "$TMP/quota"
ctl POST /quota '{"routes":250}' >/dev/null

# An expired token is refreshed (401, one retry with a new token).
ctl POST /expire-tokens >/dev/null
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
check "apply after the token expired" CR apply
check "route back with a fresh token" ours 192.168.0.0/22

# Service-account key file: RS256 JWT exchanged at the token_uri.
python3 - "$TMP/sa-key.json" "https://127.0.0.1:$API/token" <<'PY'
import json, sys
k = json.load(open(sys.argv[1])); k["token_uri"] = sys.argv[2]
json.dump(k, open(sys.argv[1], "w"))
PY
chmod 0644 "$TMP/sa-key.json"
GOOGLE_APPLICATION_CREDENTIALS=$TMP/sa-key.json CR plan >"$TMP/key1" 2>&1; rc=$?
check_eq "a key file readable by others is refused" 1 "$rc"
check "... with a clear message" grep -q 'GOOGLE_APPLICATION_CREDENTIALS.*refused' "$TMP/key1"
chmod 0600 "$TMP/sa-key.json"
ctl POST /reset >/dev/null
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
GOOGLE_APPLICATION_CREDENTIALS=$TMP/sa-key.json CR apply >"$TMP/key2" 2>&1; rc=$?
check_eq "apply with the key file" 0 "$rc"
check_eq "... one JWT exchanged at the token endpoint" 1 "$(count 'c["token"]')"
check_eq "... no metadata token used" 0 "$(count 'c["by_method"].get("GET /computeMetadata/v1/instance/service-accounts/default/token", 0)')"
check "... and the route is back" ours 192.168.0.0/22
python3 - "$TMP/sa-key.json" "$TMP/bad-key.json" <<'PY'
import json, subprocess, sys
k = json.load(open(sys.argv[1]))
k["private_key"] = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
    "rsa_keygen_bits:2048"], capture_output=True, check=True).stdout.decode()
json.dump(k, open(sys.argv[2], "w"))
PY
chmod 0600 "$TMP/bad-key.json"
GOOGLE_APPLICATION_CREDENTIALS=$TMP/bad-key.json CR plan >"$TMP/key3" 2>&1; rc=$?
check_eq "a JWT signed with the wrong key is refused" 1 "$rc"
check "... the token endpoint's reason is shown" grep -q 'invalid_grant.*Invalid JWT Signature' "$TMP/key3"

# No token ever reaches our output, the state or the fake's request log.
check_not "no token in cloudroute's output" grep -rq 'ya29\.' "$TMP"/plan* "$TMP"/apply1 "$TMP"/bad* "$TMP"/key* "$TMP"/status "$TMP"/status0 "$TMP"/doctor "$TMP"/org "$TMP"/iam "$TMP"/quota
check_not "no token or key in the state" grep -rqE 'ya29\.|PRIVATE KEY' "$TMP/state"
check_not "no token in the request log" grep -q 'ya29\.' "$TMP/requests.jsonl"

# Daemon: a deleted route comes back on the reconcile interval; the token
# is fetched once and reused across passes.
ctl POST /reset >/dev/null
bg conn "$CLOUDROUTE" -c "$CFG" run
RUNPID=$!
sleep 1
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
check "run restores a deleted route" wait_for 15 ours 192.168.0.0/22
sleep 6
echo "# daemon: $(count 'c["by_method"].get("routes.list", 0)') routes.list calls, $(count 'c["by_method"].get("GET /computeMetadata/v1/instance/service-accounts/default/token", 0)') token fetches"
check_eq "daemon: one token for every pass" 1 "$(count 'c["by_method"].get("GET /computeMetadata/v1/instance/service-accounts/default/token", 0)')"
kill -TERM $RUNPID; wait $RUNPID

# Crash safety: kill -9 while a route insert's operation is being waited
# for; the operation finishes without us, and the next apply converges with
# nothing duplicated.
ctl POST /mutate "{\"method\":\"routes.delete\",\"name\":\"$NAME192\"}" >/dev/null
ctl POST /reset >/dev/null
ctl POST /fault '{"kind":"slow","delay_ms":4000,"count":1,"methods":["globalOperations.wait"]}' >/dev/null
ip netns exec "$(ns conn)" "$CLOUDROUTE" -c "$CFG" run >/dev/null 2>&1 &
CRASH=$!
wait_for 15 sh -c "[ \$(ip netns exec $(ns conn) curl -sf http://127.0.0.1:$CTL/counts | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"counts\"][\"by_method\"].get(\"routes.insert\", 0))') -ge 1 ]"
kill -9 $CRASH; wait $CRASH 2>/dev/null
ctl POST /faults/clear >/dev/null
sleep 6
check "apply after the crash" CR apply
check "converged: the route is ours" ours 192.168.0.0/22
check_eq "converged: exactly one route for the prefix" 1 "$(route_to 192.168.0.0/22 | wc -w)"
ctl POST /reset >/dev/null
CR apply >/dev/null 2>&1
check_eq "converged: a further apply changes nothing" 0 "$(mutations)"

# Teardown removes exactly ours and restores canIpForward.
check "teardown succeeds" CR teardown
check_eq "overlay route removed" none "$(route_to 100.96.0.0/11)"
check_eq "peer route removed" none "$(route_to 192.168.0.0/22)"
check_eq "taken-over routes removed" "none none" "$(route_to 10.200.0.0/16) $(route_to 10.201.0.0/16)"
check_eq "foreign route still there" "peering-172>10.0.0.11" "$(route_to 172.16.0.0/16)"
check_eq "internet route still there" "default-internet>default-internet-gateway" "$(route_to 0.0.0.0/0)"
check_eq "subnet route still there" 1 "$(route_to 10.0.0.0/18 | wc -w)"
check_eq "canIpForward restored" false "$(fwd)"
ctl POST /reset >/dev/null
CR teardown >/dev/null 2>&1
check_eq "a second teardown changes nothing" 0 "$(mutations)"
finish
