#!/bin/bash
# Remote users: `cloudroute client add` on a running connector, the profile
# loaded into wireguard-go (`wg-quick strip` + `wg setconf`), `client remove`.
#
#   ns u (user): wireguard-go $P-u, profile from `client add alice`
#     vu 192.168.77.2 --- cw 192.168.77.1
#   ns o (other):  wireguard-go $P-o 100.96.0.50, a static peer of the connector
#     vo 192.168.78.2 --- co 192.168.78.1    ns c: cloudroute run, tunnel 100.96.0.100/24
#   ns app: 192.168.50.10 (whoami on :8080) --- lan0 192.168.50.1
#
# Checks: the profile's AllowedIPs push the app's subnet; the user reaches the
# app through the connector; the static peer's session is not disturbed by
# add or remove; `client remove` cuts the user; clients.json holds no
# private key; `client list`/`show` see the live peer; the QR code decodes
# (zbarimg) to the profile.  Then the same with an IPv6-only overlay
# (fd96::/64): the profile's IPv6 address reaches an IPv6 app.
#
# Then a peer group (two hubs), in namespaces of its own:
#   ns br: cloudroute run, tunnel 100.97.0.10/24; peers hub-a (10.99.0.0/24) and
#          hub-b ("backup_for": "hub-a"); failover_after 3, hold_down 4
#     b1 192.168.81.1 --- ha1 192.168.81.2   ns ha: wireguard-go 100.97.0.1, 10.99.0.10 on lo
#     b2 192.168.82.1 --- hb1 192.168.82.2   ns hb: wireguard-go 100.97.0.2, 10.99.0.10 on lo
# hub-a sends keepalives every second; hub-b sends none (the branch's probes,
# handshake initiations, are what it answers: a hub's own keepalives are
# pushed back by the branch's, so they cannot be relied on).  hub-a is killed: traffic to
# 10.99.0.10 flows through hub-b within failover_after + 2 s (the measured
# time is printed); hub-a returns: the prefix moves back after the hold-down,
# not before.  FAILOVER_AFTER=10 measures with the default.
source "$(dirname "$0")/../lib/netns.sh"
FA=${FAILOVER_AFTER:-3}

ns_new c; ns_new u; ns_new o; ns_new app
veth c cw u vu
veth c co o vo
veth c lan0 app eapp
nsx c ip addr add 192.168.77.1/24 dev cw
nsx u ip addr add 192.168.77.2/24 dev vu
nsx c ip addr add 192.168.78.1/24 dev co
nsx o ip addr add 192.168.78.2/24 dev vo
nsx c ip addr add 192.168.50.1/24 dev lan0
nsx app ip addr add 192.168.50.10/24 dev eapp
nsx app ip route add 100.96.0.0/24 via 192.168.50.1

IC=${P}c; IU=${P}u; IO=${P}o
track_sock "$IC"; track_sock "$IU"; track_sock "$IO"
umask 077
KC=$(wg genkey); KO=$(wg genkey)
echo "$KC" > "$TMP/kc"; echo "$KO" > "$TMP/ko"
PC=$(wg pubkey <<<"$KC"); PO=$(wg pubkey <<<"$KO")

cat > "$TMP/cfg.json" <<EOF
{
  "overlay": ["100.96.0.0/24"],
  "lan_interface": "lan0",
  "local_subnets": ["192.168.50.0/24"],
  "nat": { "masquerade": false },
  "tunnel": { "mode": "userspace", "interface": "$IC",
    "private_key_file": "$TMP/kc", "listen_port": 51820,
    "address": ["100.96.0.100/24"],
    "peers": [ { "name": "other", "public_key": "$PO", "endpoint": "192.168.78.2:51821",
                 "allowed_ips": ["100.96.0.50/32"] } ] },
  "cloud": { "provider": "none" },
  "state_dir": "$TMP/state",
  "sysctl_file": "$TMP/sysctl.conf",
  "reconcile_interval": 60
}
EOF
CRC() { nsx c "$CLOUDROUTE" -c "$TMP/cfg.json" "$@"; }
rc() { "$@" >/dev/null 2>&1; echo $?; }

# the command line: usage errors exit 64 and change nothing
check_eq "client with no verb: 64" 64 "$(rc CRC client)"
check_eq "unknown verb: 64" 64 "$(rc CRC client bogus x)"
check_eq "a bad name: 64" 64 "$(rc CRC client add ../x --endpoint 192.168.77.1:51820)"
check_eq "list takes no --qr: 64" 64 "$(rc CRC client list --qr)"
check_eq "--keep-key is for add: 64" 64 "$(rc CRC client show a --keep-key)"
check_eq "--qr with --json: 64" 64 "$(rc CRC client add a --qr --json)"
check_eq "--full-tunnel without egress: 78" 78 \
    "$(rc CRC client add a --full-tunnel --endpoint 192.168.77.1:51820)"
check_eq "a bad --endpoint: 1" 1 "$(rc CRC client add a --endpoint nope)"
check_eq "no public address known without --endpoint: 1" 1 "$(rc CRC client add a)"
check_eq "remove of an unknown client: 1" 1 "$(rc CRC client remove nobody)"
check_not "none of that wrote a client" grep -qs '"name"' "$TMP/state/clients.json"

bg app python3 "$TOP/tests/lib/whoami.py" serve 8080 192.168.50.10
bg o env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$IO"
wait_for 5 test -S "/var/run/wireguard/$IO.sock"
nsx o wg set "$IO" private-key "$TMP/ko" listen-port 51821 \
    peer "$PC" endpoint 192.168.78.1:51820 allowed-ips 100.96.0.0/24
nsx o ip addr add 100.96.0.50/24 dev "$IO"
nsx o ip link set "$IO" up

bg c "$CLOUDROUTE" -c "$TMP/cfg.json" run
CR=${_PIDS[-1]}
check "cloudroute run brings the tunnel up" wait_for 10 \
    bash -c "ip -n $P-c addr show dev $IC | grep -q 'inet 100.96.0.100/24'"
check "static peer reaches the connector" nsx o ping -c 2 -i 0.2 -W 2 100.96.0.100
hs_before=$(nsx c wg show "$IC" latest-handshakes | awk -v k="$PO" '$1 == k { print $2 }')

# the static peer pings all along: add and remove must not disturb it
nsx o ping -c 60 -i 0.1 -W 1 100.96.0.100 > "$TMP/ping_o" 2>&1 &
PING=$!

CRC client add alice --endpoint 192.168.77.1:51820 > "$TMP/$IU.conf"
check_eq "client add alice" 0 $?
prof=$(cat "$TMP/$IU.conf")
check "profile: address" grep -qx "Address = 100.96.0.1/32" <<<"$prof"
check "profile: pushed routes" grep -qx "AllowedIPs = 100.96.0.0/24, 192.168.50.0/24" <<<"$prof"
check "profile: connector key and endpoint" grep -qx "PublicKey = $PC" <<<"$prof"
check "profile: keepalive" grep -qx "PersistentKeepalive = 25" <<<"$prof"
check "clients.json has alice" grep -q '"name": "alice"' "$TMP/state/clients.json"
check_not "clients.json holds no private key" grep -qi "private" "$TMP/state/clients.json"
check "peer alice on the running tunnel" bash -c \
    "ip netns exec $P-c wg show $IC allowed-ips | grep -q '100.96.0.1/32'"

# the user's side: wg-quick strip, wg setconf, the Address and routes by hand
bg u env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$IU"
wait_for 5 test -S "/var/run/wireguard/$IU.sock"
wg-quick strip "$TMP/$IU.conf" > "$TMP/u.stripped"
check "wg setconf takes the stripped profile" nsx u wg setconf "$IU" "$TMP/u.stripped"
nsx u ip addr add 100.96.0.1/32 dev "$IU"
nsx u ip link set "$IU" up
for r in $(sed -n 's/^AllowedIPs = //p' "$TMP/$IU.conf" | tr -d ','); do
	nsx u ip route add "$r" dev "$IU"
done
check "user reaches the app behind the connector" wait_for 10 \
    nsx u python3 "$TOP/tests/lib/whoami.py" get 192.168.50.10 8080
check_eq "the app sees the user's overlay address" "100.96.0.1" \
    "$(nsx u python3 "$TOP/tests/lib/whoami.py" get 192.168.50.10 8080)"
out=$(CRC client list)
check "client list: alice with a handshake" grep -Eq "^alice +100.96.0.1/32 +[0-9]+ s ago" <<<"$out"
kill -HUP "$CR"
sleep 1
check "alice survives SIGHUP (the daemon's clients source)" bash -c \
    "ip netns exec $P-c wg show $IC allowed-ips | grep -q '100.96.0.1/32'"
check "the user still reaches the app after SIGHUP" \
    nsx u python3 "$TOP/tests/lib/whoami.py" get 192.168.50.10 8080
out=$(CRC doctor 2>&1)
check "doctor: alice connected, the clients fit" bash -c \
    "grep -q 'client alice: connected' <<<'$out' && grep -Eq 'ok +1 client in' <<<'$out'"
sed 's|"overlay": \["100.96.0.0/24"\]|"overlay": ["100.98.0.0/24"]|' "$TMP/cfg.json" > "$TMP/cfg2.json"
out=$(nsx c "$CLOUDROUTE" -c "$TMP/cfg2.json" doctor 2>&1)
check "doctor: a client outside a changed overlay is a problem" \
    grep -q "PROBLEM client alice: address 100.96.0.1/32 is outside the overlay" <<<"$out"
out=$(CRC status)
check "status names the client's peer" grep -q "peer client:alice:" <<<"$out"
out=$(CRC client list --json)
check "client list --json: live" grep -q '"live": true' <<<"$out"
out=$(CRC client show alice --endpoint 192.168.77.1:51820)
check "client show: the profile without the private key" \
    bash -c "grep -q 'AllowedIPs = 100.96.0.0/24, 192.168.50.0/24' <<<'$out' && ! grep -q '^PrivateKey' <<<'$out'"
check_not "a duplicate name is refused" CRC client add alice --endpoint 192.168.77.1:51820

# a second user, added concurrently with a third: distinct addresses
CRC client add bob --endpoint 192.168.77.1:51820 > "$TMP/bob.conf" &
B=$!
CRC client add carol --endpoint 192.168.77.1:51820 > "$TMP/carol.conf"
wait $B
ab=$(sed -n 's/^Address = //p' "$TMP/bob.conf"); ac=$(sed -n 's/^Address = //p' "$TMP/carol.conf")
check "concurrent adds: two addresses" bash -c "[ -n '$ab' ] && [ -n '$ac' ] && [ '$ab' != '$ac' ]"
# the QR code a phone scans decodes to the profile, byte for byte
CRC client show carol --endpoint 192.168.77.1:51820 > "$TMP/carol.show"
CRC client show carol --endpoint 192.168.77.1:51820 --qr | python3 "$TOP/tests/lib/qr2pbm.py" \
    > "$TMP/carol.pbm"
zbarimg --nodbus --raw -q "$TMP/carol.pbm" 2>/dev/null | head -c -1 > "$TMP/carol.qr"
check "the QR code decodes to the profile" cmp "$TMP/carol.show" "$TMP/carol.qr"

check "client remove alice" CRC client remove alice
check_not "alice is off the tunnel" bash -c \
    "ip netns exec $P-c wg show $IC allowed-ips | grep -q '100.96.0.1/32'"
check_not "the user is cut off" nsx u python3 "$TOP/tests/lib/whoami.py" get 192.168.50.10 8080
check_not "clients.json: alice gone" grep -q '"name": "alice"' "$TMP/state/clients.json"
check "bob is still on the tunnel" bash -c \
    "ip netns exec $P-c wg show $IC allowed-ips | grep -q '$ab'"
wait "$PING"
check "the static peer's traffic kept flowing" grep -q " 0% packet loss" "$TMP/ping_o"
hs_after=$(nsx c wg show "$IC" latest-handshakes | awk -v k="$PO" '$1 == k { print $2 }')
check_eq "the static peer's session survived (same handshake)" "$hs_before" "$hs_after"
check "the static peer still reaches the connector" nsx o ping -c 1 -W 2 100.96.0.100
out=$(CRC client add dave --endpoint 192.168.77.1:51820)
check "alice's address is handed out again" grep -qx "Address = 100.96.0.1/32" <<<"$out"
kill -TERM "$CR"
wait "$CR" 2>/dev/null
bg c "$CLOUDROUTE" -c "$TMP/cfg.json" run
CR=${_PIDS[-1]}
check "clients survive a restart" wait_for 10 bash -c \
    "ip netns exec $P-c wg show $IC allowed-ips 2>/dev/null | grep -q '100.96.0.1/32' &&
     ip netns exec $P-c wg show $IC allowed-ips | grep -q '$ab'"
# clients.json replaced by someone else (the daemon watches it): applied at once
python3 - "$TMP/state/clients.json" "$(wg genkey | wg pubkey)" <<'EOF'
import json, os, sys
p, key = sys.argv[1], sys.argv[2]
d = json.load(open(p))
d["clients"].append({"name": "erin", "public_key": key, "address": "100.96.0.77/32"})
open(p + ".new", "w").write(json.dumps(d))
os.rename(p + ".new", p)
EOF
check "a clients.json written by hand is applied within 2 s" wait_for 2 bash -c \
    "ip netns exec $P-c wg show $IC allowed-ips | grep -q '100.96.0.77/32'"

# ---- an IPv6 overlay ------------------------------------------------------------
#   ns u6: wireguard-go, profile from `client add` (fd96::1)  --- 192.168.79.0/24 ---
#   ns c6: cloudroute run, overlay fd96::/64 --- fd50::/64 --- ns a6: app fd50::10
ns_new c6; ns_new u6; ns_new a6
veth c6 w6 u6 v6
veth c6 lan6 a6 e6
nsx c6 ip addr add 192.168.79.1/24 dev w6
nsx u6 ip addr add 192.168.79.2/24 dev v6
nsx c6 ip addr add fd50::1/64 dev lan6 nodad
nsx a6 ip addr add fd50::10/64 dev e6 nodad
nsx a6 ip -6 route add fd96::/64 via fd50::1
IC6=${P}6; IU6=${P}7
track_sock "$IC6"; track_sock "$IU6"
KC6=$(wg genkey); echo "$KC6" > "$TMP/kc6"
cat > "$TMP/cfg6.json" <<EOF
{
  "overlay": ["fd96::/64"],
  "lan_interface": "lan6",
  "local_subnets": ["fd50::/64"],
  "nat": { "masquerade": false },
  "tunnel": { "interface": "$IC6", "private_key_file": "$TMP/kc6", "listen_port": 51820,
    "address": ["fd96::100/64"] },
  "cloud": { "provider": "none" },
  "state_dir": "$TMP/state6",
  "sysctl_file": "$TMP/sysctl6.conf"
}
EOF
bg a6 python3 "$TOP/tests/lib/whoami.py" serve 8080 fd50::10
bg c6 "$CLOUDROUTE" -c "$TMP/cfg6.json" run
check "IPv6 overlay: the connector is up" wait_for 10 \
    bash -c "ip -n $P-c6 addr show dev $IC6 2>/dev/null | grep -q 'inet6 fd96::100/64'"
nsx c6 "$CLOUDROUTE" -c "$TMP/cfg6.json" client add ada --endpoint 192.168.79.1:51820 \
    > "$TMP/$IU6.conf"
check "IPv6 overlay: the client's address" grep -qx "Address = fd96::1/128" "$TMP/$IU6.conf"
check "IPv6 overlay: pushed routes" grep -qx "AllowedIPs = fd50::/64, fd96::/64" "$TMP/$IU6.conf"
bg u6 env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$IU6"
wait_for 5 test -S "/var/run/wireguard/$IU6.sock"
wg-quick strip "$TMP/$IU6.conf" > "$TMP/u6.stripped"
nsx u6 wg setconf "$IU6" "$TMP/u6.stripped"
nsx u6 ip addr add fd96::1/128 dev "$IU6" nodad
nsx u6 ip link set "$IU6" up
nsx u6 ip -6 route add fd50::/64 dev "$IU6"
nsx u6 ip -6 route add fd96::/64 dev "$IU6"
check "IPv6 overlay: the user reaches the app" wait_for 10 \
    nsx u6 python3 "$TOP/tests/lib/whoami.py" get fd50::10 8080
check_eq "IPv6 overlay: the app sees the client's address" "fd96::1" \
    "$(nsx u6 python3 "$TOP/tests/lib/whoami.py" get fd50::10 8080)"

# ---- peer group: two hubs -------------------------------------------------------
ns_new br; ns_new ha; ns_new hb
veth br b1 ha ha1
veth br b2 hb hb1
nsx br ip addr add 192.168.81.1/24 dev b1
nsx ha ip addr add 192.168.81.2/24 dev ha1
nsx br ip addr add 192.168.82.1/24 dev b2
nsx hb ip addr add 192.168.82.2/24 dev hb1
nsx br ip link add lan0 type veth peer name lan0p
nsx br ip addr add 192.168.60.1/24 dev lan0
nsx br ip link set lan0 up
nsx ha ip addr add 10.99.0.10/32 dev lo
nsx hb ip addr add 10.99.0.10/32 dev lo
IBR=${P}r; IHA=${P}A; IHB=${P}B
track_sock "$IBR"; track_sock "$IHA"; track_sock "$IHB"
KBR=$(wg genkey); KHA=$(wg genkey); KHB=$(wg genkey)
echo "$KBR" > "$TMP/kbr"; echo "$KHA" > "$TMP/kha"; echo "$KHB" > "$TMP/khb"
PBR=$(wg pubkey <<<"$KBR"); PHA=$(wg pubkey <<<"$KHA"); PHB=$(wg pubkey <<<"$KHB")
cat > "$TMP/br.json" <<EOF
{
  "overlay": ["100.97.0.0/24"],
  "lan_interface": "lan0",
  "local_subnets": ["192.168.60.0/24"],
  "nat": { "masquerade": false },
  "tunnel": { "interface": "$IBR", "private_key_file": "$TMP/kbr", "listen_port": 51820,
    "address": ["100.97.0.10/24"], "failover_after": $FA, "hold_down": 4,
    "peers": [
      { "name": "hub-a", "public_key": "$PHA", "endpoint": "192.168.81.2:51821",
        "allowed_ips": ["10.99.0.0/24"], "persistent_keepalive": 1 },
      { "name": "hub-b", "public_key": "$PHB", "endpoint": "192.168.82.2:51822",
        "backup_for": "hub-a", "allowed_ips": ["100.97.0.2/32"], "persistent_keepalive": 1 } ] },
  "cloud": { "provider": "none" },
  "state_dir": "$TMP/brstate",
  "sysctl_file": "$TMP/brsysctl.conf"
}
EOF
check "check accepts the peer group" nsx br "$CLOUDROUTE" -c "$TMP/br.json" check

hub() { # ns ifname key port tunnel-address branch-endpoint
	rm -f "/var/run/wireguard/$2.sock"
	bg "$1" env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$2"
	HUBPID=${_PIDS[-1]}
	wait_for 5 test -S "/var/run/wireguard/$2.sock" || return 1
	nsx "$1" wg set "$2" private-key "$3" listen-port "$4" peer "$PBR" endpoint "$6" \
	    allowed-ips 100.97.0.10/32,192.168.60.0/24 persistent-keepalive 1 || return 1
	nsx "$1" ip addr add "$5/24" dev "$2"
	nsx "$1" ip link set "$2" up
}
holder() { # which hub has 10.99.0.0/24 on the branch
	local k
	k=$(nsx br wg show "$IBR" allowed-ips | awk '/10.99.0.0\/24/ { print $1 }')
	if [ "$k" = "$PHA" ]; then echo hub-a; elif [ "$k" = "$PHB" ]; then echo hub-b; else echo none; fi
}
ms() { date +%s%3N; }

hub ha "$IHA" "$TMP/kha" 51821 100.97.0.1 192.168.81.1:51820; HA=$HUBPID
hub hb "$IHB" "$TMP/khb" 51822 100.97.0.2 192.168.82.1:51820
nsx hb wg set "$IHB" peer "$PBR" persistent-keepalive 0
bg br bash -c "exec '$CLOUDROUTE' -c '$TMP/br.json' run 2> '$TMP/br.log'"
BR=${_PIDS[-1]}
check "branch reaches 10.99.0.10 (through hub-a)" wait_for 10 nsx br ping -c 1 -W 1 10.99.0.10
check_eq "hub-a holds the group's prefix" hub-a "$(holder)"
sleep $((FA + 1))        # idle, but the hubs' keepalives keep both healthy
check_eq "still hub-a while both are healthy (idle for failover_after + 1 s)" hub-a "$(holder)"
check_not "no move logged while both are healthy" grep -q "peer group" "$TMP/br.log"

t0=$(ms)
kill -9 "$HA"
wait "$HA" 2>/dev/null
until nsx br ping -c 1 -W 0.2 10.99.0.10 >/dev/null 2>&1; do
	[ $(( $(ms) - t0 )) -gt $(( FA * 1000 + 10000 )) ] && break
	sleep 0.05
done
t1=$(ms)
fo=$((t1 - t0))
echo "# failover: traffic through hub-b $fo ms after hub-a was killed (failover_after $FA s)"
check "traffic via the backup within failover_after + 2 s" test "$fo" -le $(( FA * 1000 + 2000 ))
check_eq "hub-b holds the group's prefix" hub-b "$(holder)"
check "the move is logged" grep -q "peer group hub-a: prefixes move from hub-a" "$TMP/br.log"
out=$(nsx br "$CLOUDROUTE" -c "$TMP/br.json" status)
check "status shows the holder" grep -q "peer group hub-a: prefixes on hub-b" <<<"$out"
out=$(nsx br "$CLOUDROUTE" -c "$TMP/br.json" status --json)
check "status --json shows the holder" grep -q '"holder":"hub-b"' <<<"${out// /}"
kill -HUP "$BR"
sleep 1
check_eq "SIGHUP keeps the holder" hub-b "$(holder)"
check "traffic still flows after SIGHUP" nsx br ping -c 1 -W 1 10.99.0.10

t2=$(ms)
hub ha "$IHA" "$TMP/kha" 51821 100.97.0.1 192.168.81.1:51820
check "hub-a heard from again" wait_for 5 bash -c \
    "ip netns exec $P-ha wg show $IHA latest-handshakes | awk '{ exit !(\$2 > 0) }'"
while [ "$(holder)" = hub-b ] && [ $(( $(ms) - t2 )) -lt 15000 ]; do sleep 0.1; done
t3=$(ms)
back=$((t3 - t2))
echo "# failback: hub-a holds again $back ms after it returned (hold_down 4 s)"
check_eq "back on hub-a after the hold-down" hub-a "$(holder)"
check "not before the hold-down" test "$back" -ge 4000
check "within hold_down + 5 s" test "$back" -le 9000
check "the move back is logged" grep -q "peer group hub-a: prefixes back to hub-a" "$TMP/br.log"
rx0=$(nsx ha wg show "$IHA" transfer | awk '{ print $2 }')
check "traffic flows through hub-a again" nsx br ping -c 3 -i 0.2 -W 1 10.99.0.10
rx1=$(nsx ha wg show "$IHA" transfer | awk '{ print $2 }')
check "hub-a carried it" test "$rx1" -gt "$rx0"
finish
