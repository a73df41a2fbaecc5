#!/bin/bash
# Two GCP connectors of one ha_group (takeover "group") against the fake
# Compute API, which here puts no next-hop warnings on routes (the peer's
# state comes from reading its instance): the second leaves the first's routes alone while it runs,
# takes them over when it stops (its own route inserted before the old one
# is deleted: never a moment without a route), and the first, back up, does
# not take them back (no flapping).
#
#   a: eth0 10.0.0.10/18 (cr-hq) --veth-- b: eth0 10.0.0.12/18 (cr-b)
#      tun0 (external)                       tun0 (external)
#      fake Compute https://10.0.0.10:PORT, metadata http://10.0.0.10:P1 (cr-hq)
#      and http://10.0.0.10:P2 (cr-b), control http://127.0.0.1:PORT
. "$(dirname "$0")/../lib/netns.sh"

ns_new a && ns_new b && ns_new pa && ns_new pb || { finish; exit 1; }
veth a eth0 b eth0
veth a tun0 pa p0
veth b tun0 pb p0
nsx a ip addr add 10.0.0.10/18 dev eth0
nsx b ip addr add 10.0.0.12/18 dev eth0
nsx a ip addr add 100.96.0.1/11 dev tun0
nsx b ip addr add 100.96.0.2/11 dev tun0

python3 - "$TOP/tests/fakecloud/scenarios/gcp-basic.json" >"$TMP/scenario.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["instances"].append({"name": "cr-b", "zone": "europe-west1-c", "ip": "10.0.0.12",
                       "can_ip_forward": True,
                       "service_account": "cloudroute@cr-proj.iam.gserviceaccount.com"})
json.dump(s, sys.stdout)
PY
bash "$TOP/tests/fakecloud/mkca.sh" "$TMP/ca" 10.0.0.10 >/dev/null 2>&1
bg a python3 "$TOP/tests/fakecloud/gcp.py" --scenario "$TMP/scenario.json" \
	--api 10.0.0.10:0 --cert "$TMP/ca/server.pem" --key "$TMP/ca/server.key" \
	--metadata 10.0.0.10:0=europe-west1-b/cr-hq --metadata 10.0.0.10:0=europe-west1-c/cr-b \
	--control 127.0.0.1:0 --ready-file "$TMP/ready.json" --log "$TMP/requests.jsonl" \
	--no-route-warnings
wait_for 10 test -s "$TMP/ready.json" || { echo "fake cloud did not start"; finish; exit 1; }
port() { python3 -c "import json; r=json.load(open('$TMP/ready.json')); print($1)"; }
API=$(port 'r["api"]["port"]'); MDA=$(port 'r["metadata"][0]["port"]')
MDB=$(port 'r["metadata"][1]["port"]'); CTL=$(port 'r["control"]["port"]')
export CLOUDROUTE_CA_BUNDLE=$TMP/ca/ca.pem CLOUDROUTE_GCP_API_URL=https://10.0.0.10:$API
export CLOUDROUTE_RETRY_BASE_MS=20
unset GOOGLE_APPLICATION_CREDENTIALS GCE_METADATA_HOST CLOUDROUTE_GCP_METADATA_URL

ctl() { nsx a curl -sf -X "$1" "http://127.0.0.1:$CTL$2" ${3:+-d "$3"}; }
mutations() { ctl GET /counts | python3 -c 'import json,sys; print(json.load(sys.stdin)["counts"]["mutating"])'; }
route_to() {
	ctl GET /state | python3 -c "
import json, sys
out = [r['name'] + '>' + r['nextHopInstance'].rsplit('/', 1)[-1]
       for r in json.load(sys.stdin)['routes']
       if r['destRange'] == '$1' and 'nextHopInstance' in r]
print(' '.join(sorted(out)) or 'none')"
}
held_by() { route_to 192.168.0.0/22 | grep -qE "^cloudroute-hq-[-a-z0-9]+>$1\$"; }

conf() { # NAME
	cat >"$TMP/$1.json" <<JSON
{
  "lan_interface": "eth0",
  "local_subnets": ["10.0.0.0/18"],
  "tunnel": { "mode": "external", "interface": "tun0", "routes": ["192.168.0.0/22"] },
  "cloud": { "provider": "gcp", "takeover": "group", "ha_group": "hq" },
  "state_dir": "$TMP/state-$1", "sysctl_file": "$TMP/sysctl-$1.conf", "reconcile_interval": 5
}
JSON
}
conf a; conf b
CRA() { CLOUDROUTE_GCP_METADATA_URL=http://10.0.0.10:$MDA nsx a "$CLOUDROUTE" -c "$TMP/a.json" "$@"; }
CRB() { CLOUDROUTE_GCP_METADATA_URL=http://10.0.0.10:$MDB nsx b "$CLOUDROUTE" -c "$TMP/b.json" "$@"; }

check "connector a applies" CRA apply
check "a holds the route" held_by cr-hq
CRB -v plan >"$TMP/planb" 2>&1
check "b's plan: held by its running peer" grep -q 'cloud route vpc 192.168.0.0/22 -> cr-hq (held by ha-group hq peer cr-hq; taken over when it fails)' "$TMP/planb"
ctl POST /reset >/dev/null
check "connector b applies" CRB apply
check_eq "b made no mutating call while a runs" 0 "$(mutations)"
check "a still holds the route" held_by cr-hq

# a stops: b's daemon takes over within a few passes.
bg b env CLOUDROUTE_GCP_METADATA_URL=http://10.0.0.10:$MDB "$CLOUDROUTE" -c "$TMP/b.json" run
RUNB=$!
sleep 1
ctl POST /reset >/dev/null
t0=$(date +%s.%N)
ctl POST /instance '{"name":"cr-hq","status":"TERMINATED"}' >/dev/null
check "b takes the route over when a stops" wait_for 20 held_by cr-b
t1=$(date +%s.%N)
echo "# takeover after the stop: $(python3 -c "print('%.1f s' % ($t1 - $t0))") (reconcile_interval 5 s)"
check_eq "exactly one route left for the prefix" 1 "$(route_to 192.168.0.0/22 | wc -w)"
python3 - "$TMP/requests.jsonl" >"$TMP/order" <<'PY'
import json, sys
ents = [json.loads(l) for l in open(sys.argv[1]) if '"seq"' in l]
last_reset = max([i for i, l in enumerate(open(sys.argv[1])) if '"event"' in l] or [-1])
ins = [e["seq"] for e in ents if e.get("method") == "routes.insert" and e["status"] == 200]
dele = [e["seq"] for e in ents if e.get("method") == "routes.delete" and e["status"] == 200]
print("ok" if ins and dele and max(ins) < max(dele) else "bad %s %s" % (ins, dele))
PY
check_eq "b inserted its route before deleting a's" ok "$(cat "$TMP/order")"
kill -TERM $RUNB; wait $RUNB

# a comes back: it leaves b's route alone (no flapping).
ctl POST /instance '{"name":"cr-hq","status":"RUNNING"}' >/dev/null
ctl POST /reset >/dev/null
CRA -v plan >"$TMP/plana" 2>&1
check "a's plan: held by b" grep -q '192.168.0.0/22 -> cr-b (held by ha-group hq peer cr-b' "$TMP/plana"
check "a applies again" CRA apply
check_eq "a made no mutating call for the routes" 0 "$(mutations)"
check "b still holds the route" held_by cr-b

check "b tears down" CRB teardown
check_eq "b's route removed" none "$(route_to 192.168.0.0/22)"
check "a tears down" CRA teardown
ctl GET /state | python3 -c "
import json, sys
s = {i['name']: i for i in json.load(sys.stdin)['instances']}
print(str(s['cr-hq']['can_ip_forward']).lower(), str(s['cr-b']['can_ip_forward']).lower())" >"$TMP/fwd"
check_eq "canIpForward: a's restored, b's (on before cloudroute) left on" "false true" "$(cat "$TMP/fwd")"
finish
