#!/bin/bash
# The userspace tunnel under load and with its key handling:
#
#   [a] va 10.98.0.1/24 ---------- vb 10.98.0.2/24 [b] ---------- vc 10.98.1.2/24 [c]
#       cloudroute A 10.97.0.1     cloudroute B 10.97.0.2          wireguard-go C 10.97.0.3
#                                  (peer of A)                      (peer of A, via b's routing)
#
# cloudroute <-> cloudroute: ping both ways, bulk iperf3 both directions,
# PSK on both sides; cloudroute <-> wireguard-go bulk; a key file readable by
# others is refused; genkey/pubkey agree with wg.  A runs two crypto helpers
# (the parallel path against B's serial one and against wireguard-go).
. "$(dirname "$0")/../lib/netns.sh"

ns_new a && ns_new b && ns_new c || { finish; exit 1; }
veth a va b vb
veth b vbc c vc
nsx a ip addr add 10.98.0.1/24 dev va
nsx b ip addr add 10.98.0.2/24 dev vb
nsx b ip addr add 10.98.1.1/24 dev vbc
nsx c ip addr add 10.98.1.2/24 dev vc
nsx a ip route add 10.98.1.0/24 via 10.98.0.2
nsx c ip route add default via 10.98.1.1
IA=${P}a; IB=${P}b; IC=${P}c
track_sock "$IA"; track_sock "$IB"; track_sock "$IC"

for k in a b c; do "$CLOUDROUTE" genkey >"$TMP/$k.key"; chmod 600 "$TMP/$k.key"; done
check_eq "pubkey agrees with wg pubkey" "$(wg pubkey <"$TMP/a.key")" "$("$CLOUDROUTE" pubkey <"$TMP/a.key")"
check_not "pubkey rejects garbage" sh -c "echo nope | $CLOUDROUTE pubkey"
PA=$("$CLOUDROUTE" pubkey <"$TMP/a.key"); PB=$("$CLOUDROUTE" pubkey <"$TMP/b.key"); PC=$("$CLOUDROUTE" pubkey <"$TMP/c.key")
wg genpsk >"$TMP/psk"; chmod 600 "$TMP/psk"

conf() { # ns iface addr key lan peers-json
	cat >"$TMP/$1.json" <<JSON
{ "overlay": ["10.97.0.0/24"], "lan_interface": "$5", "local_subnets": ["10.98.0.0/23"],
  "nat": { "masquerade": false },
  "tunnel": { "interface": "$2", "private_key_file": "$4", "listen_port": 51820,
              "address": ["$3/24"], "mtu": 1420, "peers": [ $6 ] },
  "cloud": { "provider": "none" }, "state_dir": "$TMP/state-$1",
  "sysctl_file": "$TMP/sysctl-$1.conf", "reconcile_interval": 60 }
JSON
}
conf a "$IA" 10.97.0.1 "$TMP/a.key" va \
	"{ \"name\": \"b\", \"public_key\": \"$PB\", \"preshared_key_file\": \"$TMP/psk\", \"endpoint\": \"10.98.0.2:51820\", \"allowed_ips\": [\"10.97.0.2/32\"] },
	 { \"name\": \"c\", \"public_key\": \"$PC\", \"endpoint\": \"10.98.1.2:51820\", \"allowed_ips\": [\"10.97.0.3/32\"] }"
conf b "$IB" 10.97.0.2 "$TMP/b.key" vb \
	"{ \"name\": \"a\", \"public_key\": \"$PA\", \"preshared_key_file\": \"$TMP/psk\", \"endpoint\": \"10.98.0.1:51820\", \"allowed_ips\": [\"10.97.0.1/32\"] }"

# A private key readable by others is refused before anything starts.
chmod 644 "$TMP/b.key"
nsx b "$CLOUDROUTE" -c "$TMP/b.json" run >"$TMP/insecure.log" 2>&1; rc=$?
check_eq "run refuses a world-readable key (exit 1)" 1 "$rc"
check "the refusal says why" grep -q 'chmod 600' "$TMP/insecure.log"
check_not "no tunnel interface was created" ip -n "$P-b" link show "$IB"
chmod 600 "$TMP/b.key"

# A shares its batches with crypto helpers whatever the CPU count; B works alone
CLOUDROUTE_CRYPTO_HELPERS=2 bg a "$CLOUDROUTE" -c "$TMP/a.json" run
CLOUDROUTE_CRYPTO_HELPERS=0 bg b "$CLOUDROUTE" -c "$TMP/b.json" run
nsx c env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$IC" >"$TMP/wggo.log" 2>&1 &
_PIDS+=($!)
wait_for 5 nsx c ip link show "$IC"
nsx c wg set "$IC" private-key "$TMP/c.key" listen-port 51820 peer "$PA" endpoint 10.98.0.1:51820 allowed-ips 10.97.0.1/32
nsx c ip addr add 10.97.0.3/24 dev "$IC"
nsx c ip link set "$IC" mtu 1420 up
check "tunnels up" wait_for 10 sh -c "ip -n $P-a addr show $IA | grep -q 10.97.0.1 && ip -n $P-b addr show $IB | grep -q 10.97.0.2"

check "cloudroute<->cloudroute (PSK): ping a -> b" nsx a ping -c 3 -i 0.2 -W 2 10.97.0.2
check "cloudroute<->cloudroute (PSK): ping b -> a" nsx b ping -c 3 -i 0.2 -W 2 10.97.0.1
check "cloudroute<->wireguard-go: ping c -> a" nsx c ping -c 3 -i 0.2 -W 2 10.97.0.1

bulk() { # server-ns server-addr client-ns [-R]
	nsx "$1" iperf3 -s -1 -B "$2" >/dev/null 2>&1 &
	local srv=$!
	sleep 0.5
	nsx "$3" iperf3 -c "$2" -t 3 -J ${4:-} >"$TMP/iperf.json" 2>/dev/null
	wait $srv 2>/dev/null
	python3 -c "
import json, sys
e = json.load(open('$TMP/iperf.json'))['end']
got = e['sum_received']['bytes']; sent = e['sum_sent']['bytes']
print('# %.2f Gbit/s, %d MB' % (e['sum_received']['bits_per_second'] / 1e9, got >> 20))
sys.exit(0 if got > (8 << 20) and got <= sent else 1)"
}
check "bulk a -> b (cloudroute<->cloudroute)" bulk b 10.97.0.2 a
check "bulk b -> a (cloudroute<->cloudroute)" bulk b 10.97.0.2 a -R
check "bulk a -> c (cloudroute -> wireguard-go)" bulk c 10.97.0.3 a
check "bulk c -> a (wireguard-go -> cloudroute)" bulk c 10.97.0.3 a -R
check "status lists peer b after the bulk runs" sh -c "ip netns exec $P-a $CLOUDROUTE -c $TMP/a.json status | grep -q 'peer b:'"

# A mismatched PSK never completes a handshake (b drops its sessions with a
# when its PSK changes on reload).
wg genpsk >"$TMP/psk2"; chmod 600 "$TMP/psk2"
sed -i "s|$TMP/psk\"|$TMP/psk2\"|" "$TMP/b.json"
pkill -HUP -f "$TMP/b.json"
sleep 1
check_not "mismatched PSK: no traffic" nsx a ping -c 2 -i 0.3 -W 1 10.97.0.2
finish
