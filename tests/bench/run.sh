#!/bin/bash
# make bench: TCP through each tunnel pair for $BENCH_SECONDS (10), in two
# namespaces joined by a veth, both ends on this machine's cores:
#
#   [a] veth 10.99.0.1/24 ------------- veth 10.99.0.2/24 [b] ---- [c] 10.98.0.1
#       tunnel 10.100.0.1/24   <====>   tunnel 10.100.0.2/24         (flooder)
#                                       (iperf3 -s)
#
# Rows, all measured in this one run:
#   raw veth (10.99.0.2, at the tunnels' MTU 1420) as the ceiling; cloudroute<->cloudroute
#   with one and with four streams, and with one stream and one crypto helper
#   (CLOUDROUTE_CRYPTO_HELPERS=1: each batch shared with a helper thread; the
#   default has none on two CPUs); cloudroute<->wireguard-go;
#   wireguard-go<->wireguard-go (Debian's); OpenVPN 2.6 userspace AES-256-GCM
#   (--disable-dco); one stream while build/bench/hsflood floods b from c
#   with forged initiations; ping latency (1,000 probes 10 ms apart, p50/p99)
#   through cloudroute and through wireguard-go.  Ratios are to raw veth and
#   to wireguard-go<->wireguard-go; the tunnel processes' CPU seconds per GB
#   carried (both ends; it does not depend on the share of the machine a
#   run got) and the flooder's CPU.  Then tests/bench/mem.sh (memory),
#   tests/bench/reload.sh (10,000 config peers in and out by SIGHUP),
#   tests/bench/handshake.sh (handshakes per second) and the protocol core
#   alone (bench_handshake, bench_crypto, bench_peers).  Not part of make check.
#   BENCH_ONLY=quick: raw veth and the one-stream rows only; BENCH_ONLY=latency:
#   the latency rows only.
. "$(dirname "$0")/../lib/netns.sh"
SECS=${BENCH_SECONDS:-10}
CLOUDROUTE_BENCH=1 "$TOP/tests/install-deps.sh" >/dev/null || exit 1
command -v openvpn >/dev/null || apt-get install -y -qq openvpn >/dev/null

setup_pair() {
	ns_new a && ns_new b && ns_new c && veth a va b vb && veth c vc b vbc
	nsx a ip addr add 10.99.0.1/24 dev va
	nsx b ip addr add 10.99.0.2/24 dev vb
	nsx b ip addr add 10.98.0.2/24 dev vbc
	nsx c ip addr add 10.98.0.1/24 dev vc
}
teardown_pair() {
	local p
	for p in "${_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in "${_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	_PIDS=()
	# `nsx ... &` backgrounds a shell function: $! is the subshell, so kill
	# what runs inside the namespaces too (a leftover holds the state lock).
	ip netns pids "$P-a" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns pids "$P-b" 2>/dev/null | xargs -r kill -9 2>/dev/null
	ip netns pids "$P-c" 2>/dev/null | xargs -r kill -9 2>/dev/null
	sleep 0.2
	ip netns del "$P-a"; ip netns del "$P-b"; ip netns del "$P-c"
	_NS=()
	rm -f /var/run/wireguard/"$P"*.sock
}

start_wggo() { # ns ifname privfile peerpub endpoint addr
	local n=$1 i=$2
	nsx "$n" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$i" >/dev/null 2>&1 &
	_PIDS+=($!)
	track_sock "$i"
	wait_for 5 nsx "$n" ip link show "$i" || return 1
	nsx "$n" wg set "$i" private-key "$3" listen-port 51820 peer "$4" endpoint "$5:51820" allowed-ips 10.100.0.0/24
	nsx "$n" ip addr add "$6/24" dev "$i"
	nsx "$n" ip link set "$i" mtu 1420 up
}

start_cr() { # ns ifname privfile peerpub endpoint addr
	local n=$1 i=$2 c="$TMP/cr-$1.json"
	cat >"$c" <<JSON
{ "overlay": ["10.100.0.0/24"], "lan_interface": "v$n", "local_subnets": ["10.99.0.0/24"],
  "nat": { "masquerade": false, "mss_clamp": false },
  "tunnel": { "interface": "$i", "private_key_file": "$3", "listen_port": 51820,
              "address": ["$6/24"], "mtu": 1420,
              "peers": [ { "name": "peer", "public_key": "$4", "endpoint": "$5:51820",
                           "allowed_ips": ["10.100.0.0/24"] } ] },
  "cloud": { "provider": "none" }, "state_dir": "$TMP/state-$n",
  "sysctl_file": "$TMP/sysctl-$n.conf", "reconcile_interval": 3600 }
JSON
	nsx "$n" "$CLOUDROUTE" -c "$c" run >"$TMP/cr-$n.log" 2>&1 &
	_PIDS+=($!)
	track_sock "$i"
	wait_for 10 sh -c "ip -n $P-$n addr show dev $i 2>/dev/null | grep -q 10.100.0"
}

start_ovpn() {
	local d=$TMP/ovpn
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
		-subj /CN=bench-ca -keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	for s in a b; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$s" \
			-keyout "$d/$s.key" -out "$d/$s.csr" 2>/dev/null
		openssl x509 -req -in "$d/$s.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
			-days 1 -out "$d/$s.pem" 2>/dev/null
	done
	local common="--dev tun --proto udp --cipher AES-256-GCM --data-ciphers AES-256-GCM --disable-dco --ca $d/ca.pem --dh none --verb 1 --tun-mtu 1420"
	# shellcheck disable=SC2086
	nsx b openvpn $common --tls-server --cert "$d/b.pem" --key "$d/b.key" --lport 1194 \
		--ifconfig 10.100.0.2 10.100.0.1 >"$TMP/ovpn-b.log" 2>&1 &
	_PIDS+=($!)
	# shellcheck disable=SC2086
	nsx a openvpn $common --tls-client --cert "$d/a.pem" --key "$d/a.key" --remote 10.99.0.2 1194 \
		--ifconfig 10.100.0.1 10.100.0.2 >"$TMP/ovpn-a.log" 2>&1 &
	_PIDS+=($!)
	wait_for 20 nsx a ping -c1 -W1 10.100.0.2
}

# iperf3 a -> b: Gbit/s received (one stream, or $STREAMS)
iperf() { # server-address
	nsx b iperf3 -s -1 -B "$1" >/dev/null 2>&1 &
	_PIDS+=($!)
	sleep 0.5
	nsx a iperf3 -c "$1" -t "$SECS" -P "${STREAMS:-1}" -J 2>/dev/null |
		python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null
}

# ping a -> b through the tunnel: "p50 p99" in ms
latency() {
	nsx a ping -c 1000 -i 0.01 -W 1 10.100.0.2 2>/dev/null |
		python3 -c '
import re, sys
t = sorted(float(m) for m in re.findall(r"time=([\d.]+)", sys.stdin.read()))
print("%.3f %.3f" % (t[len(t) // 2], t[min(len(t) - 1, int(len(t) * 0.99))]) if t else "0 0")'
}

up() { # kind_a kind_b
	local ka=$1 kb=$2
	setup_pair || return 1
	if [ "$ka" = ovpn ]; then
		start_ovpn || return 1
	elif [ "$ka" != raw ]; then
		"start_$kb" b "${P}b" "$TMP/b.key" "$(cat "$TMP/a.pub")" 10.99.0.1 10.100.0.2 || true
		"start_$ka" a "${P}a" "$TMP/a.key" "$(cat "$TMP/b.pub")" 10.99.0.2 10.100.0.1 || true
		wait_for 15 nsx a ping -c1 -W1 10.100.0.2 || return 1
	fi
}

# CPU seconds (user + system, all threads) the given processes have used
proc_cpu() {
	python3 -c '
import os, sys
t = 0
for p in sys.argv[1:]:
    try:
        v = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()
        t += int(v[11]) + int(v[12])
    except (OSError, IndexError):
        pass
print("%.2f" % (t / os.sysconf("SC_CLK_TCK")))' "$@"
}
# the tunnel's processes (cloudroute, wireguard-go) in a and b
tunnel_pids() {
	local n p
	for n in a b; do
		for p in $(ip netns pids "$P-$n"); do
			case $(cat "/proc/$p/comm" 2>/dev/null) in cloudroute|wireguard-go) echo "$p" ;; esac
		done
	done
}
# One line for $TMP/cpu.txt: the tunnel's CPU per GB carried, which does
# not depend on how much of the shared machine a run got.
cpu_note() { # label cpu0 cpu1 gbit/s [flooder-cpu-seconds]
	python3 -c '
import sys
label, c0, c1, g, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[-1])
gb = g * secs / 8
s = "%-34s %.2f CPU-s per GB" % (label, (c1 - c0) / gb if gb else 0)
if len(sys.argv) > 6:
    s += "; the flooder used %.0f%% of one CPU" % (100 * float(sys.argv[5]) / secs)
print(s)' "$@" "$SECS" >>"$TMP/cpu.txt"
}

measure() { # label kind_a kind_b [what]: prints the figure(s)
	local label=$1 ka=$2 kb=$3 what=${4:-bulk} v=0 fl c0 c1 f0 f1
	if ! up "$ka" "$kb"; then
		echo "$label: tunnel did not come up" >&2; teardown_pair; echo 0; return 1
	fi
	case $what in
	bulk)
		c0=$(proc_cpu $(tunnel_pids))
		v=$(iperf 10.100.0.2)
		[ "$ka" = ovpn ] || cpu_note "$label" "$c0" "$(proc_cpu $(tunnel_pids))" "${v:-0}" ;;
	raw)    # the tunnels' inner MTU on the bare veth
		nsx a ip link set va mtu 1420; nsx b ip link set vb mtu 1420
		v=$(iperf 10.99.0.2) ;;
	latency) v=$(latency) ;;
	flood)
		nsx c "$TOP/build/bench/hsflood" forged "$(cat "$TMP/b.pub")" 10.98.0.2 51820 \
			$((SECS + 2)) >"$TMP/flood.out" 2>&1 &
		fl=$!
		sleep 0.5
		c0=$(proc_cpu $(tunnel_pids))
		v=$(iperf 10.100.0.2)
		c1=$(proc_cpu $(tunnel_pids))
		wait $fl
		# the flooder's share of one CPU over its whole run
		cpu_note "$label" "$c0" "$c1" "${v:-0}" "$(python3 -c '
import re, sys
m = dict(re.findall(r"(\w+)=([\d.]+)", open(sys.argv[1]).read()))
print("%.2f" % (float(m.get("cpu", 0)) / max(float(m.get("seconds", 1)), 0.1) * float(sys.argv[2])))' \
			"$TMP/flood.out" "$SECS")"
		echo "flood: $(cat "$TMP/flood.out")" >&2 ;;
	esac
	teardown_pair
	echo "${v:-0}"
}

wg genkey >"$TMP/a.key"; wg genkey >"$TMP/b.key"; chmod 600 "$TMP"/*.key
wg pubkey <"$TMP/a.key" >"$TMP/a.pub"; wg pubkey <"$TMP/b.key" >"$TMP/b.pub"

echo "cloudroute bench: TCP, ${SECS}s per row, namespaces on $(nproc) CPUs, MTU 1420"
if [ "${BENCH_ONLY:-}" = latency ]; then   # the latency rows alone, for A/B runs
	echo "cloudroute $(measure "latency cloudroute" cr cr latency | tail -n1)"
	echo "wireguard-go $(measure "latency wireguard-go" wggo wggo latency | tail -n1)"
	exit 0
fi
raw=$(measure "raw veth" raw raw raw | tail -n1)
ref=$(measure "wireguard-go<->wireguard-go" wggo wggo | tail -n1)
crcr=$(measure "cloudroute<->cloudroute" cr cr | tail -n1)
crcr1=$(CLOUDROUTE_CRYPTO_HELPERS=1 measure "cloudroute<->cloudroute, 1 helper" cr cr | tail -n1)
if [ "${BENCH_ONLY:-}" = quick ]; then    # the one-stream rows alone, for A/B runs
	echo "raw $raw cloudroute $crcr one-helper $crcr1"; sed 's/^/  /' "$TMP/cpu.txt"; exit 0
fi
crcr4=$(STREAMS=4 measure "cloudroute<->cloudroute x4" cr cr | tail -n1)
crwg=$(measure "cloudroute<->wireguard-go" cr wggo | tail -n1)
ovpn=$(measure "openvpn" ovpn ovpn | tail -n1)
crfl=$(measure "cloudroute under flood" cr cr flood | tail -n1)
lcr=$(measure "latency cloudroute" cr cr latency | tail -n1)
lwg=$(measure "latency wireguard-go" wggo wggo latency | tail -n1)
ratio() { python3 -c "a, b = float('$1' or 0), float('$2' or 0); print('%.2fx' % (a / b) if b > 0 else 'n/a')"; }
printf '%-34s %8s %9s %9s\n' pair Gbit/s "vs raw" "vs wg-go"
for row in "raw veth (ceiling):$raw" "wireguard-go<->wireguard-go:$ref" \
	"cloudroute<->cloudroute:$crcr" "cloudroute<->cloudroute, 4 streams:$crcr4" \
	"cloudroute, 1 crypto helper:$crcr1" \
	"cloudroute<->wireguard-go:$crwg" "OpenVPN 2.6 AES-256-GCM:$ovpn" \
	"cloudroute under handshake flood:$crfl"; do
	name=${row%%:*}; v=${row##*:}
	printf '%-34s %8s %9s %9s\n' "$name" "$v" "$(ratio "$v" "$raw")" "$(ratio "$v" "$ref")"
done
printf '%-34s %8s\n' "flood / undisturbed" "$(ratio "$crfl" "$crcr")"
# the same per CPU-second of the tunnel (the flooder's own CPU, taken from the
# same two vCPUs, out of the picture): undisturbed CPU-s per GB / flooded
cpugb() { sed -n "s/^$1 *\([0-9.]*\) CPU-s per GB.*/\1/p" "$TMP/cpu.txt" | head -n1; }
printf '%-34s %8s\n' "flood / undisturbed, per CPU-s" \
	"$(ratio "$(cpugb 'cloudroute<->cloudroute')" "$(cpugb 'cloudroute under flood')")"
printf '%-34s %8s %8s  (ms)\n' "latency" p50 p99
printf '%-34s %8s %8s\n' "cloudroute<->cloudroute" ${lcr}
printf '%-34s %8s %8s\n' "wireguard-go<->wireguard-go" ${lwg}
echo
echo "CPU of the tunnel's processes (both ends) per GB carried, same runs:"
sed 's/^/  /' "$TMP/cpu.txt"
echo
"$TOP/tests/bench/mem.sh" | grep -v '^cloudroute:'
echo
bash "$TOP/tests/bench/reload.sh" | grep -v '^cloudroute:'
echo
"$TOP/tests/bench/handshake.sh" | grep -v '^cloudroute:'
echo
echo "protocol core, one thread (thread CPU time):"
"$TOP/build/bench/bench_handshake" 2000 | sed 's/^/  /'
"$TOP/build/bench/bench_crypto" 200000 | sed 's/^/  /'
"$TOP/build/bench/bench_peers" 10000 | sed 's/^/  /'
