#!/bin/bash
# The tunnel under a handshake flood, with a real wireguard-go peer:
#
#   [a] va 10.96.0.1/24 ---- vb 10.96.0.2/24 [b] vbc 10.96.1.2/24 ---- vc 10.96.1.1/24 [c]
#       hsflood (forged                       cloudroute B 10.95.0.2     wireguard-go C 10.95.0.3
#       initiations to b)
#
# While a floods b's port with initiations that carry a valid mac1, b is
# under load: it answers with cookie replies (a few per second per source),
# and wireguard-go's next initiation carries mac2 with b's cookie and gets a
# handshake; traffic with c flows during the flood.  No timing asserts.
. "$(dirname "$0")/../lib/netns.sh"

make -C "$TOP" --no-print-directory build/bench/hsflood >/dev/null || { echo "0 passed, 1 failed"; exit 1; }
HSFLOOD=$TOP/build/bench/hsflood
ns_new a && ns_new b && ns_new c || { finish; exit 1; }
veth a va b vb
veth b vbc c vc
nsx a ip addr add 10.96.0.1/24 dev va
nsx b ip addr add 10.96.0.2/24 dev vb
nsx b ip addr add 10.96.1.2/24 dev vbc
nsx c ip addr add 10.96.1.1/24 dev vc
IB=${P}b; IC=${P}c
track_sock "$IB"; track_sock "$IC"
"$CLOUDROUTE" genkey >"$TMP/b.key"; wg genkey >"$TMP/c.key"; chmod 600 "$TMP"/*.key
PB=$("$CLOUDROUTE" pubkey <"$TMP/b.key"); PC=$(wg pubkey <"$TMP/c.key")

cat >"$TMP/b.json" <<JSON
{ "overlay": ["10.95.0.0/24"], "lan_interface": "vb", "local_subnets": ["10.96.0.0/23"],
  "nat": { "masquerade": false, "mss_clamp": false },
  "tunnel": { "interface": "$IB", "private_key_file": "$TMP/b.key", "listen_port": 51820,
              "address": ["10.95.0.2/24"], "mtu": 1420,
              "peers": [ { "name": "c", "public_key": "$PC", "allowed_ips": ["10.95.0.3/32"] } ] },
  "cloud": { "provider": "none" }, "state_dir": "$TMP/state-b",
  "sysctl_file": "$TMP/sysctl-b.conf", "reconcile_interval": 3600 }
JSON
bg b "$CLOUDROUTE" -c "$TMP/b.json" run
nsx c env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=verbose wireguard-go -f "$IC" >"$TMP/wggo.log" 2>&1 &
_PIDS+=($!)
wait_for 5 nsx c ip link show "$IC"
nsx c wg set "$IC" private-key "$TMP/c.key" listen-port 51820 \
	peer "$PB" endpoint 10.96.1.2:51820 allowed-ips 10.95.0.2/32
nsx c ip addr add 10.95.0.3/24 dev "$IC"
nsx c ip link set "$IC" mtu 1420 up
check "tunnel up" wait_for 10 sh -c "ip -n $P-b addr show $IB | grep -q 10.95.0.2"
check "wireguard-go -> cloudroute before the flood" nsx c ping -c 2 -i 0.2 -W 2 10.95.0.2

# c forgets its session (peer removed and added back): its next packet
# needs a new handshake, which b sees only under load
nsx a "$HSFLOOD" forged "$PB" 10.96.0.2 51820 30 >"$TMP/flood.out" 2>&1 &
FLOOD=$!
_PIDS+=($FLOOD)
sleep 2
nsx c wg set "$IC" peer "$PB" remove
nsx c wg set "$IC" peer "$PB" endpoint 10.96.1.2:51820 allowed-ips 10.95.0.2/32
# wireguard-go resends its initiation after 5 s, then with the cookie's mac2;
# the handshake thread runs below the data path's priority and the kernel
# drops what it cannot read, so an initiation may take a few tries to get in
check "a handshake with wireguard-go completes during the flood" \
	wait_for 25 nsx c ping -c 1 -W 1 10.95.0.2
check "the flood was still running then" kill -0 "$FLOOD"
hs=$(nsx c wg show "$IC" latest-handshakes | awk '{ print $2 }')
check "wireguard-go reports the new handshake" test "${hs:-0}" -gt 0
check "traffic flows during the flood" nsx c ping -c 5 -i 0.2 -W 2 10.95.0.2
wait "$FLOOD"
check "b answered the flood with cookie replies, a few per second" python3 - "$TMP/flood.out" <<'EOF'
import re, sys
m = dict(re.findall(r"(\w+)=([\d.]+)", open(sys.argv[1]).read()))
sent, cookies, secs = int(m["sent"]), int(m["cookies"]), float(m["seconds"])
print("# sent %d forged initiations, got %d cookie replies in %.1f s" % (sent, cookies, secs))
# a source's share is 20 a second; messages queued just before the load
# began (at most a queue's worth each time) are answered too
sys.exit(0 if 0 < cookies <= 20 * secs + 2048 and cookies * 100 < sent else 1)
EOF
check "wireguard-go received a cookie reply from cloudroute" grep -qi "cookie" "$TMP/wggo.log"
check "cloudroute is still running" kill -0 "${_PIDS[0]}"
grep -i cookie "$TMP/wggo.log" | head -3 | sed "s/^/# /"
finish
