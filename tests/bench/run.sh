#!/bin/bash
# make bench: one iperf3 TCP stream for $BENCH_SECONDS (10) through each
# tunnel pair, in two namespaces joined by a veth, both ends on this
# machine's cores:
#
#   [a] veth 10.99.0.1/24 ------------- veth 10.99.0.2/24 [b]
#       tunnel 10.100.0.1/24   <====>   tunnel 10.100.0.2/24   (iperf3 -s)
#
# Pairs: cloudroute<->cloudroute, cloudroute<->wireguard-go,
# wireguard-go<->wireguard-go (Debian's), OpenVPN 2.6 userspace AES-256-GCM
# (--disable-dco).  Prints Gbit/s and the ratio to wireguard-go<->wireguard-go
# measured in the same run.  Not part of make check.
. "$(dirname "$0")/../lib/netns.sh"
SECS=${BENCH_SECONDS:-10}
CLOUDROUTE_BENCH=1 "$TOP/tests/install-deps.sh" >/dev/null || exit 1
command -v openvpn >/dev/null || apt-get install -y -qq openvpn >/dev/null

setup_pair() {
	ns_new a && ns_new b && veth a va b vb
	nsx a ip addr add 10.99.0.1/24 dev va
	nsx b ip addr add 10.99.0.2/24 dev vb
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
	sleep 0.2
	ip netns del "$P-a"; ip netns del "$P-b"
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

measure() { # label kind_a kind_b
	local label=$1 ka=$2 kb=$3 gbps
	setup_pair || return 1
	if [ "$ka" = ovpn ]; then
		start_ovpn || { echo "$label: tunnel did not come up"; teardown_pair; return 1; }
	else
		"start_$kb" b "${P}b" "$TMP/b.key" "$(cat "$TMP/a.pub")" 10.99.0.1 10.100.0.2 || true
		"start_$ka" a "${P}a" "$TMP/a.key" "$(cat "$TMP/b.pub")" 10.99.0.2 10.100.0.1 || true
		wait_for 15 nsx a ping -c1 -W1 10.100.0.2 || { echo "$label: tunnel did not come up"; teardown_pair; return 1; }
	fi
	nsx b iperf3 -s -1 -B 10.100.0.2 >/dev/null 2>&1 &
	_PIDS+=($!)
	sleep 0.5
	gbps=$(nsx a iperf3 -c 10.100.0.2 -t "$SECS" -J 2>/dev/null |
		python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' 2>/dev/null)
	teardown_pair
	echo "${gbps:-0}"
}

wg genkey >"$TMP/a.key"; wg genkey >"$TMP/b.key"; chmod 600 "$TMP"/*.key
wg pubkey <"$TMP/a.key" >"$TMP/a.pub"; wg pubkey <"$TMP/b.key" >"$TMP/b.pub"

echo "cloudroute bench: one iperf3 TCP stream, ${SECS}s, two namespaces on $(nproc) CPUs"
ref=$(measure "wireguard-go<->wireguard-go" wggo wggo | tail -n1)
crcr=$(measure "cloudroute<->cloudroute" cr cr | tail -n1)
crwg=$(measure "cloudroute<->wireguard-go" cr wggo | tail -n1)
ovpn=$(measure "openvpn" ovpn ovpn | tail -n1)
printf '%-32s %8s %8s\n' pair Gbit/s ratio
for row in "wireguard-go<->wireguard-go:$ref" "cloudroute<->cloudroute:$crcr" \
	"cloudroute<->wireguard-go:$crwg" "OpenVPN 2.6 AES-256-GCM:$ovpn"; do
	name=${row%%:*}; v=${row##*:}
	printf '%-32s %8s %8s\n' "$name" "$v" "$(python3 -c "r=float('$ref'); print('%.2fx' % (float('$v')/r) if r > 0 else 'n/a')")"
done
