#!/bin/bash
# The fleet against a three-member etcd cluster: the member a connector
# talks to is killed; its unary calls and its watch fail over to the next
# endpoint, nothing it shows changes, and later changes still reach it.
#
#   e: etcd members m1 m2 m3 on 127.0.0.1:2379/2479/2579 (peers :2380/2480/2580)
#      fleet_node x-1 (endpoints m1,m2,m3), y-1 and z-1 (endpoints m2,m3,m1)
. "$(dirname "$0")/../lib/netns.sh"
. "$TOP/tests/lib/etcd.sh"

make -s -C "$TOP" build/tests/tools/fleet_node cloudroute >/dev/null || { echo "build failed"; finish; exit 1; }
NODE=$TOP/build/tests/tools/fleet_node
ns_new e || { finish; exit 1; }
CLUSTER=m1=http://127.0.0.1:2380,m2=http://127.0.0.1:2480,m3=http://127.0.0.1:2580
declare -A MPID
member() { # member NAME CLIENT_PORT
	local n=$1 p=$2
	bg e etcd --name "$n" --data-dir "$TMP/etcd-$n" --logger zap --log-outputs "$TMP/etcd-$n.log" \
		--listen-client-urls "http://127.0.0.1:$p" --advertise-client-urls "http://127.0.0.1:$p" \
		--listen-peer-urls "http://127.0.0.1:$((p + 1))" \
		--initial-advertise-peer-urls "http://127.0.0.1:$((p + 1))" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new 2>/dev/null
	MPID[$n]=$!
}
member m1 2379; member m2 2479; member m3 2579
wait_for 20 etcd_ctl e 2379 endpoint health || { echo "cluster did not start"; finish; exit 1; }

node() { # node NAME N ENDPOINTS_JSON
	(umask 077; "$CLOUDROUTE" genkey >"$TMP/$1.key")
	cat >"$TMP/$1.json" <<JSON
{ "lan_interface": "lo", "local_subnets": ["10.$2.0.0/16"],
  "tunnel": { "private_key_file": "$TMP/$1.key", "address": ["100.96.0.$2/11"] },
  "cloud": { "provider": "none" }, "state_dir": "$TMP/$1-state", "sysctl_file": "$TMP/$1.conf",
  "fleet": { "etcd": $3, "prefix": "/c/", "site": "${1%-*}", "name": "$1",
             "endpoint": "192.0.2.$2:51820", "lease_ttl": 2 } }
JSON
	ip netns exec "$(ns e)" "$NODE" "$TMP/$1.json" "$TMP/$1.status" >"$TMP/$1.out" 2>"$TMP/$1.err" &
	_PIDS+=($!)
}
peers() { tail -n 1 "$TMP/$1.out" 2>/dev/null | python3 -c 'import json,sys; print(" ".join(sorted(json.loads(sys.stdin.read())["peers"])))' 2>/dev/null; }
is() { [ "$(peers "$1")" = "$2" ]; }
M123='["http://127.0.0.1:2379", "http://127.0.0.1:2479", "http://127.0.0.1:2579"]'
M231='["http://127.0.0.1:2479", "http://127.0.0.1:2579", "http://127.0.0.1:2379"]'
node x-1 1 "$M123"
node y-1 2 "$M231"
check "x-1 sees y-1" wait_for 5 is x-1 "y/y-1"
check "x-1 talks to m1" grep -q '"endpoint": "http://127.0.0.1:2379"' "$TMP/x-1.status"
kill -9 "${MPID[m1]}"; wait "${MPID[m1]}" 2>/dev/null
# (m1 may have been the raft leader: m2 and m3 answer "no leader" until they elect one)
check "m1 killed: x-1 fails over to m2 or m3" wait_for 8 grep -Eq '"endpoint": "http://127.0.0.1:2[45]79".*"synced": 1|"synced": 1.*"endpoint": "http://127.0.0.1:2[45]79"' "$TMP/x-1.status"
check "x-1 still leads its site and sees y-1" sh -c "grep -q '\"role\": \"leader\"' $TMP/x-1.status && [ \"\$(tail -n 1 $TMP/x-1.out | grep -c y-1)\" = 1 ]"
node z-1 3 "$M231"
check "after the failover a new site reaches x-1 (watch resumed)" wait_for 5 is x-1 "y/y-1 z/z-1"
check_eq "x-1's lease still lives (one registration)" 1 "$(grep -c 'registered' "$TMP/x-1.err")"
finish
