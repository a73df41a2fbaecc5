# Two fleet connectors of site hq in one namespace, for a provider's
# integration test of the fleet's fast takeover (agent/fleet_takeover.h).
# Source after netns.sh and etcd.sh, with etcd on 127.0.0.1:2379 of that
# namespace; set FP_NS (namespace), FP_LAN (lan_interface), FP_SUBNETS
# (local_subnets, JSON list) and FP_LOG (the fake's request log, JSON lines
# with "time" and "op").
#   fp_conf NAME N PORT CLOUD   $TMP/fNAME.json: tunnel $P-NAME on UDP PORT
#                               (100.96.0.N/11), "cloud": CLOUD (JSON), lease_ttl 2
#   fp_run NAME [VAR=VALUE]...  cloudroute run with that environment (log
#                               $TMP/fNAME.log); its pid in FPID[NAME]
#   fp_kill NAME TAKER CMD...   kill -9 NAME, checks that CMD holds within 10 s
#                               (TAKER's takeover), prints the time; FP_T0 = when
#   fp_calls FILTER             "op status" of the log's entries since FP_T0 for
#                               which the Python expression FILTER (over e) holds
#   fp_run_standby NAME FILTER [VAR=VALUE]...  fp_run, then waits (up to 20 s) for
#                               two entries matching FILTER (the leader's read
#                               when NAME joins, NAME's own as a standby)
declare -A FPID
fp_conf() {
	(umask 077; "$CLOUDROUTE" genkey >"$TMP/f$1.key")
	track_sock "$P-$1"
	cat >"$TMP/f$1.json" <<JSON
{ "lan_interface": "$FP_LAN", "local_subnets": $FP_SUBNETS, "nat": { "masquerade": false },
  "tunnel": { "interface": "$P-$1", "private_key_file": "$TMP/f$1.key", "listen_port": $3,
              "address": ["100.96.0.$2/11"] },
  "cloud": $4,
  "state_dir": "$TMP/fstate-$1", "sysctl_file": "$TMP/fsysctl-$1.conf", "reconcile_interval": 30,
  "fleet": { "etcd": ["http://127.0.0.1:2379"], "prefix": "/cloudroute/", "site": "hq",
             "name": "$1", "endpoint": "127.0.0.1:$3", "lease_ttl": 2 } }
JSON
}
fp_run() {
	local name=$1; shift
	ip netns exec "$P-$FP_NS" env "$@" "$CLOUDROUTE" -c "$TMP/f$name.json" run \
		>>"$TMP/f$name.log" 2>&1 &
	FPID[$name]=$!
	_PIDS+=($!)
}
fp_kill() {
	local name=$1 taker=$2 t1; shift 2
	FP_T0=$(date +%s.%N)
	kill -9 "${FPID[$name]}"
	check "$taker takes the route over after kill -9 of $name" wait_for 10 "$@"
	"$@" || tail -n 30 "$TMP/f$taker.log" | sed 's/^/#   /'
	t1=$(date +%s.%N)
	echo "# route on $taker $(python3 -c "print('%.2f s' % ($t1 - $FP_T0))") after kill -9 of $name (lease_ttl 2)"
}
fp_calls() {
	python3 - "$FP_LOG" "$FP_T0" "$1" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e.get("time", 0) >= float(sys.argv[2]) and eval(sys.argv[3], {"e": e}):
        print(e.get("op"), e.get("status"))
PY
}
fp_run_standby() {
	local name=$1 filter=$2 end=$((SECONDS + 20)); shift 2
	FP_T0=$(date +%s.%N)
	fp_run "$name" "$@"
	while [ $SECONDS -le $end ] && [ "$(fp_calls "$filter" | wc -l)" -lt 2 ]; do sleep 0.2; done
	sleep 1
}
