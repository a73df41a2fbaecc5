#!/bin/bash
# make bench, handshake rows: full handshakes per second with cloudroute and
# with wireguard-go as the responder, each pinned to one CPU (taskset -c 0),
# answering valid initiations from 256 peers that build/bench/hsflood sends
# from another namespace (pinned to the other CPU when there is one), at
# most 64 unanswered at a time.  Under that load both responders demand
# cookies; hsflood answers them, so the rate includes the cookie round trip.
#
#   [r] vr 10.93.0.1/24 -------- vg 10.93.0.2/24 [g]
#       responder :51820                          hsflood
#
# Not part of make check.
. "$(dirname "$0")/../lib/netns.sh"
HSFLOOD=${HSFLOOD:-$TOP/build/bench/hsflood}
SECS=${BENCH_HS_SECONDS:-4}
CPU_G=$(( $(nproc) > 1 ? 1 : 0 ))

one() { # kind: prints handshakes per second
	local kind=$1 ifn="${P}h" out="$TMP/hs-$1.out" fifo="$TMP/go-$1" pub r
	ns_new r && ns_new g && veth r vr g vg || return 1
	nsx r ip addr add 10.93.0.1/24 dev vr
	nsx g ip addr add 10.93.0.2/24 dev vg
	wg genkey >"$TMP/r.key"; chmod 600 "$TMP/r.key"
	pub=$(wg pubkey <"$TMP/r.key")
	track_sock "$ifn"
	if [ "$kind" = cloudroute ]; then
		cat >"$TMP/r.json" <<JSON
{ "overlay": ["10.94.0.0/24"], "lan_interface": "vr", "local_subnets": ["10.93.0.0/24"],
  "nat": { "masquerade": false, "mss_clamp": false },
  "tunnel": { "interface": "$ifn", "private_key_file": "$TMP/r.key", "listen_port": 51820,
              "address": ["10.94.0.1/24"], "mtu": 1420, "peers": [] },
  "cloud": { "provider": "none" }, "state_dir": "$TMP/state-r",
  "sysctl_file": "$TMP/sysctl-r.conf", "reconcile_interval": 3600 }
JSON
		bg r taskset -c 0 "$CLOUDROUTE" -c "$TMP/r.json" run
	else
		nsx r env WG_PROCESS_FOREGROUND=1 taskset -c 0 wireguard-go -f "$ifn" >/dev/null 2>&1 &
		_PIDS+=($!)
		wait_for 5 test -S "/var/run/wireguard/$ifn.sock"
		nsx r wg set "$ifn" private-key "$TMP/r.key" listen-port 51820
		nsx r ip link set "$ifn" up
	fi
	wait_for 10 test -S "/var/run/wireguard/$ifn.sock" || return 1
	mkfifo "$fifo"
	nsx g taskset -c "$CPU_G" "$HSFLOOD" valid "$pub" 10.93.0.1 51820 "$SECS" 256 \
		"$TMP/peers-$kind.conf" <"$fifo" >"$out" 2>&1 &
	_PIDS+=($!)
	exec 9>"$fifo"
	wait_for 60 grep -q ready "$out" || { exec 9>&-; return 1; }
	nsx r wg addconf "$ifn" "$TMP/peers-$kind.conf"
	echo go >&9
	exec 9>&-
	if [ -n "${PERF_HS:-}" ] && [ "$kind" = cloudroute ]; then
		perf record -o "$PERF_HS" -g -p "$(ip netns pids "$P-r" | head -n1)" -- sleep 2 >/dev/null 2>&1
	fi
	wait_for $((SECS + 10)) grep -q seconds= "$out"
	python3 - "$out" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
m = dict(re.findall(r"(\w+)=([\d.]+)", t))
print("%.0f %s %s %s" % (float(m["responses"]) / float(m["seconds"]), m["responses"], m["cookies"], m["seconds"]))
PY
	for p in "${_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	ip netns pids "$P-r" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns pids "$P-g" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns del "$P-r"; ip netns del "$P-g"
	# one() runs in $(...): the EXIT trap never sees its sockets.
	rm -f "/var/run/wireguard/$ifn.sock"
	_NS=(); _PIDS=()
}

cr=$(one cloudroute | tail -n1)
wgg=$(one wireguard-go | tail -n1)
echo "handshakes per second, responder on one CPU (responses, cookie replies, seconds)"
printf '%-22s %8s   (%s)\n' cloudroute "${cr%% *}" "${cr#* }"
printf '%-22s %8s   (%s)\n' wireguard-go "${wgg%% *}" "${wgg#* }"
python3 -c "a='${cr%% *}'; b='${wgg%% *}'; print('%-22s %8.2fx' % ('ratio', float(a) / float(b)) if a and b and float(b) > 0 else '')"
