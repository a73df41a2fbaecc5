#!/bin/bash
# Two GCP connectors of one ha_group (takeover "group") against the fake
# Compute API, which here puts no next-hop warnings on routes (the peer's
# state comes from reading its instance): the second leaves the first's routes alone while it runs,
# takes them over when it stops (its own route inserted before the old one
# is deleted: never a moment without a route), and the first, back up, does
# not take them back (no flapping).  Then the two as a fleet (etcd in a):
# after kill -9 of the leader, the standby's first write is its route's
# insert, with no read before it (the fast takeover).
#
#   a: eth0 10.0.0.10/18 (cr-hq) --veth-- b: eth0 10.0.0.12/18 (cr-b)
#      tun0 (external)                       tun0 (external)
#      fake Compute https://10.0.0.10:PORT, metadata http://10.0.0.10:P1 (cr-hq)
#      and http://10.0.0.10:P2 (cr-b), control http://127.0.0.1:PORT
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"

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

# The fleet's fast takeover (agent/fleet_takeover.h): a and b, site hq, meet
# in a real etcd; the elected one holds the route for cloud.routes, the
# standby only reads.  After kill -9 of the leader the standby wins the
# election and its first Compute write is the insert of its own route, with
# no read of its own before it, then the old route's delete; the normal pass
# that follows writes nothing.  Overlay addresses move to the fleet's tunnels.
nsx a ip addr flush dev tun0
nsx b ip addr flush dev tun0
ETCD_CLIENT_URLS=http://10.0.0.10:2379,http://127.0.0.1:2379 etcd_start a e 2379 ||
	{ echo "etcd did not start"; finish; exit 1; }
T_F=$(date +%s.%N)
# b's Compute calls (method names, in order) logged after epoch time $1.
calls_b() {
	python3 - "$TMP/requests.jsonl" "$1" <<'PY'
import json, sys
after = float(sys.argv[2])
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("source") == "10.0.0.12" and e.get("service") == "compute" and e["time"] >= after:
        print(e.get("method"), e["status"])
PY
}

fconf() { # NAME N IP
	(umask 077; "$CLOUDROUTE" genkey >"$TMP/$1.key")
	track_sock "$P-$1"
	cat >"$TMP/f$1.json" <<JSON
{
  "lan_interface": "eth0", "local_subnets": ["10.0.0.0/18"],
  "nat": { "masquerade": false },
  "tunnel": { "interface": "$P-$1", "private_key_file": "$TMP/$1.key", "listen_port": 51820,
              "address": ["100.96.0.$2/11"] },
  "cloud": { "provider": "gcp", "ha_group": "hq", "routes": ["192.168.0.0/22"] },
  "state_dir": "$TMP/fstate-$1", "sysctl_file": "$TMP/fsysctl-$1.conf", "reconcile_interval": 5,
  "fleet": { "etcd": ["http://10.0.0.10:2379"], "prefix": "/cloudroute/", "site": "hq",
             "name": "$1", "endpoint": "$3:51820", "lease_ttl": 2 }
}
JSON
}
fconf a 1 10.0.0.10; fconf b 2 10.0.0.12
bg a env CLOUDROUTE_GCP_METADATA_URL=http://10.0.0.10:$MDA "$CLOUDROUTE" -c "$TMP/fa.json" run \
	>>"$TMP/fa.log" 2>&1
RUNA=$!
check "a, elected, holds the route" wait_for 20 held_by cr-hq
bg b env CLOUDROUTE_GCP_METADATA_URL=http://10.0.0.10:$MDB "$CLOUDROUTE" -c "$TMP/fb.json" run \
	>>"$TMP/fb.log" 2>&1
b_read() { calls_b "$T_F" | grep -q '^routes.list 200'; }
check "b stands by (reads the routes as if it led)" wait_for 20 b_read
T_B=$(date +%s.%N)
sleep 6
check_eq "the standby wrote nothing" "" "$(calls_b "$T_F" | grep -E '^(routes\.(insert|delete)|instances\.update)' || true)"
check "a still holds the route" held_by cr-hq

# Kill a right after one of b's standby reads (they come every 20 s), so
# that none falls between the kill and the takeover by chance.
python3 - "$TMP/requests.jsonl" "$T_B" <<'PY' >/dev/null
import json, sys, time
end = time.time() + 30
def reads():
    return sum(1 for l in open(sys.argv[1])
               if '"source":"10.0.0.12"' in l and '"routes.list"' in l)
n = reads()
while time.time() < end and reads() == n:
    time.sleep(0.05)
PY
sleep 0.3
t0=$(date +%s.%N)
kill -9 $RUNA
check "b takes the route over" wait_for 10 held_by cr-b
t1=$(date +%s.%N)
echo "# route held by b $(python3 -c "print('%.2f s' % ($t1 - $t0))") after kill -9 of a (lease_ttl 2)"
sleep 4
calls_b "$t0" >"$TMP/after"
python3 - "$TMP/requests.jsonl" "$t0" <<'PY'
import json, sys
t0 = float(sys.argv[2])
ents = [json.loads(l) for l in open(sys.argv[1]) if '"10.0.0.12"' in l]
at = {m: min([e["time"] for e in ents if e.get("method") == m and e["time"] >= t0] or [0])
      for m in ("routes.insert", "routes.delete")}
print("# b's insert %.2f s, the old route's delete %.2f s after the kill" %
      (at["routes.insert"] - t0, at["routes.delete"] - t0))
PY
check_eq "b's first call as leader is its route's insert (no read before it)" "routes.insert 200" \
	"$(grep -v '^globalOperations' "$TMP/after" | head -n 1)"
check_eq "then the old route's delete, and no other write (the normal pass finds all in place)" \
	"routes.insert 200 routes.delete 200" \
	"$(grep -E '^(routes\.(insert|delete)|instances\.update)' "$TMP/after" | tr '\n' ' ' | sed 's/ $//')"
check "the normal pass read the routes after the write" grep -q '^routes.list 200' "$TMP/after"
check "b logged the takeover at once" grep -q 'fleet takeover: 1 route written at once' "$TMP/fb.log"
check_eq "exactly one route left for the prefix" 1 "$(route_to 192.168.0.0/22 | wc -w)"
finish
