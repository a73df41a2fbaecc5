#!/bin/bash
# The userspace tunnel through `cloudroute run`, against wireguard-go peers.
#
#   ns a: cloudroute run (tunnel $P-a 10.77.0.1/24, UDP 51820)
#     va 192.168.77.1 ---- vb 192.168.77.2   ns b: wireguard-go $P-b 10.77.0.2, UDP 51821
#     vac 192.168.78.1 --- vc 192.168.78.2   ns c: wireguard-go $P-c 10.77.0.3, UDP 51822
#
# Checks: handshakes initiated from either side, `wg show`/`wg showconf`
# through the UAPI socket, `cloudroute status`, a peer (c) added with SIGHUP
# while b's session keeps flowing and keeps its keys, and clean shutdown
# (socket and interface gone).
source "$(dirname "$0")/../lib/netns.sh"

ns_new a; ns_new b; ns_new c
veth a va b vb
veth a vac c vc
nsx a ip addr add 192.168.77.1/24 dev va
nsx b ip addr add 192.168.77.2/24 dev vb
nsx a ip addr add 192.168.78.1/24 dev vac
nsx c ip addr add 192.168.78.2/24 dev vc

IA=${P}a; IB=${P}b; IC=${P}c
track_sock "$IA"; track_sock "$IB"; track_sock "$IC"
umask 077
KA=$(wg genkey); KB=$(wg genkey); KC=$(wg genkey)
echo "$KA" > "$TMP/ka"; echo "$KB" > "$TMP/kb"; echo "$KC" > "$TMP/kc"
PA=$(wg pubkey <<<"$KA"); PB=$(wg pubkey <<<"$KB"); PC=$(wg pubkey <<<"$KC")

# config with peer b, and with b and c
write_config() {
	local peer_c=""
	if [ "$1" = with_c ]; then
		peer_c=", { \"name\": \"c\", \"public_key\": \"$PC\", \"endpoint\": \"192.168.78.2:51822\",
		    \"allowed_ips\": [\"10.77.0.3/32\"] }"
	fi
	cat > "$TMP/cfg.json.tmp" <<EOF
{
  "overlay": ["10.77.0.0/24"],
  "lan_interface": "va",
  "local_subnets": ["192.168.77.0/24"],
  "nat": { "masquerade": false },
  "tunnel": { "mode": "userspace", "interface": "$IA",
    "private_key_file": "$TMP/ka", "listen_port": 51820,
    "address": ["10.77.0.1/24"], "mtu": 1420,
    "peers": [ { "name": "b", "public_key": "$PB", "endpoint": "192.168.77.2:51821",
                 "allowed_ips": ["10.77.0.2/32"] } $peer_c ] },
  "cloud": { "provider": "none" },
  "state_dir": "$TMP/state",
  "sysctl_file": "$TMP/sysctl.conf",
  "reconcile_interval": 60
}
EOF
	mv "$TMP/cfg.json.tmp" "$TMP/cfg.json"
}

wggo() { # ns ifname key port peer-endpoint address
	bg "$1" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$2"
	wait_for 5 test -S "/var/run/wireguard/$2.sock" || return 1
	nsx "$1" wg set "$2" private-key "$3" listen-port "$4" \
	    peer "$PA" endpoint "$5" allowed-ips 10.77.0.1/32 || return 1
	nsx "$1" ip addr add "$6/24" dev "$2"
	nsx "$1" ip link set "$2" mtu 1420 up
}

check "wireguard-go in b" wggo b "$IB" "$TMP/kb" 51821 192.168.77.1:51820 10.77.0.2

write_config b_only
bg a "$CLOUDROUTE" -c "$TMP/cfg.json" run
CR=${_PIDS[-1]}
check "cloudroute run brings the tunnel up" wait_for 10 \
    bash -c "ip -n $P-a addr show dev $IA | grep -q 'inet 10.77.0.1/24'"
check "UAPI socket exists" test -S "/var/run/wireguard/$IA.sock"

# wireguard-go initiates
check "ping b -> a" nsx b ping -c 3 -i 0.2 -W 2 10.77.0.1
check "ping a -> b" nsx a ping -c 3 -i 0.2 -W 2 10.77.0.2
out=$(nsx a wg show "$IA" 2>&1)
check "wg show: peer b with a handshake" grep -q "latest handshake" <<<"$out"
check "wg show: transfer counted" grep -Eq "transfer: [0-9.]+ [KMG]?i?B received" <<<"$out"
out=$(nsx a wg showconf "$IA" 2>&1)
check "wg showconf: peer and allowed ips" grep -q "AllowedIPs = 10.77.0.2/32" <<<"$out"
out=$(nsx a "$CLOUDROUTE" -c "$TMP/cfg.json" status 2>&1)
check "cloudroute status shows peer b with a handshake" \
    grep -Eq "peer b: endpoint 192.168.77.2:51821, handshake [0-9]+ s ago" <<<"$out"
out=$(nsx a "$CLOUDROUTE" -c "$TMP/cfg.json" status --json 2>&1)
check "cloudroute status --json: listen port" grep -q '"listen_port":51820' <<<"${out// /}"

# c comes up; a keeps pinging b while the config gains c and is reloaded
check "wireguard-go in c" wggo c "$IC" "$TMP/kc" 51822 192.168.78.1:51820 10.77.0.3
hs_before=$(nsx a wg show "$IA" latest-handshakes | awk -v k="$PB" '$1 == k { print $2 }')
nsx a ping -c 40 -i 0.1 -W 1 10.77.0.2 > "$TMP/ping_b" 2>&1 &
PING=$!
sleep 1
write_config with_c
kill -HUP "$CR"
check "c reachable after SIGHUP (we initiate)" wait_for 10 nsx a ping -c 1 -W 1 10.77.0.3
check "ping c -> a" nsx c ping -c 2 -i 0.2 -W 2 10.77.0.1
wait "$PING"
check "b's traffic kept flowing during the reload" grep -q " 0% packet loss" "$TMP/ping_b"
hs_after=$(nsx a wg show "$IA" latest-handshakes | awk -v k="$PB" '$1 == k { print $2 }')
check_eq "b's session survived the reload (same handshake)" "$hs_before" "$hs_after"
check_eq "two peers" 2 "$(nsx a wg show "$IA" peers | wc -l)"

# a peer set through the UAPI socket with stock wg
check "wg set adds a peer" nsx a wg set "$IA" peer "$(wg genkey | wg pubkey)" allowed-ips 10.77.0.9/32
check_eq "three peers" 3 "$(nsx a wg show "$IA" peers | wc -l)"

kill -TERM "$CR"
check "cloudroute exits on SIGTERM" wait_for 5 bash -c "! kill -0 $CR 2>/dev/null"
check_not "UAPI socket removed" test -e "/var/run/wireguard/$IA.sock"
check_not "tunnel interface gone" ip -n "$P-a" link show "$IA"
finish
