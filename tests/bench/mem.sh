#!/bin/bash
# make bench, memory rows: RSS of cloudroute's tunnel and of wireguard-go,
# idle and with 1,000 and 10,000 peers configured the same way for both
# (through the UAPI with `wg addconf`, so both get exactly the same peers),
# the per-peer slope, how long adding and removing 10,000 peers takes, the
# CPU each process uses while idle with 10,000 peers (utime + stime from
# /proc/<pid>/stat over IDLE_SECONDS, 30 by default: timer upkeep), and RSS
# across a churn of 10,000 peers added and removed five times.
#
#   [m] lan0 (veth) -- cloudroute  ${P}c (no peers in its config file)
#                   -- wireguard-go ${P}g
#
# RSS is VmRSS (it includes the shared libraries' resident pages) with the
# anonymous part (RssAnon) beside it.  Not part of make check.
. "$(dirname "$0")/../lib/netns.sh"

ns_new m || exit 1
ip link add lan0 netns "$P-m" type veth peer name lan1 netns "$P-m"
nsx m ip link set lan0 up
nsx m ip link set lan1 up
nsx m ip addr add 10.91.0.1/24 dev lan0
IC=${P}c; IG=${P}g
track_sock "$IC"; track_sock "$IG"
umask 077
wg genkey >"$TMP/k"

cat >"$TMP/cr.json" <<JSON
{ "overlay": ["10.92.0.0/24"], "lan_interface": "lan0", "local_subnets": ["10.91.0.0/24"],
  "nat": { "masquerade": false, "mss_clamp": false },
  "tunnel": { "interface": "$IC", "private_key_file": "$TMP/k", "listen_port": 51820,
              "address": ["10.92.0.1/24"], "mtu": 1420, "peers": [] },
  "cloud": { "provider": "none" }, "state_dir": "$TMP/state",
  "sysctl_file": "$TMP/sysctl.conf", "reconcile_interval": 3600 }
JSON
bg m "$CLOUDROUTE" -c "$TMP/cr.json" run
nsx m env WG_PROCESS_FOREGROUND=1 wireguard-go -f "$IG" >/dev/null 2>&1 &
_PIDS+=($!)
wait_for 10 test -S "/var/run/wireguard/$IC.sock" || { echo "cloudroute did not start"; exit 1; }
wait_for 10 test -S "/var/run/wireguard/$IG.sock" || { echo "wireguard-go did not start"; exit 1; }
nsx m wg set "$IG" private-key "$TMP/k" listen-port 51821
sleep 1

pid_of() { # the process named $1 in our namespace
	local p
	for p in $(ip netns pids "$P-m"); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$1" ] && { echo "$p"; return; }
	done
}
PC=$(pid_of cloudroute); PG=$(pid_of wireguard-go)
[ -n "$PC" ] && [ -n "$PG" ] || { echo "no process ids"; exit 1; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
anon() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status"; }
mb() { python3 -c "print('%.1f' % ($1 / 1024))"; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # comm has no spaces
IDLE=${IDLE_SECONDS:-30}

python3 - "$TMP" <<'EOF'
import base64, os, sys
d = sys.argv[1]
for n in (1000, 10000):
    with open("%s/peers%d.conf" % (d, n), "w") as f:
        for i in range(n):
            f.write("[Peer]\nPublicKey = %s\nAllowedIPs = 10.%d.%d.%d/32\n" % (
                base64.b64encode(os.urandom(32)).decode(), 100 + (i >> 16), (i >> 8) & 255, i & 255))
EOF
# removal with setconf: a whole configuration, so it keeps the key and port
# (setconf sets what the file does not say to zero)
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$(cat "$TMP/k")" >"$TMP/none-c.conf"
printf '[Interface]\nPrivateKey = %s\nListenPort = 51821\n' "$(cat "$TMP/k")" >"$TMP/none-g.conf"

declare -A R A T TR CPU
measure() { # label
	R[$1-c]=$(rss "$PC"); A[$1-c]=$(anon "$PC")
	R[$1-g]=$(rss "$PG"); A[$1-g]=$(anon "$PG")
}
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); python3 -c "print('%.2f' % ($t1 - $t0))"; }

measure idle
for n in 1000 10000; do
	T[$n-c]=$(secs nsx m wg addconf "$IC" "$TMP/peers$n.conf")
	T[$n-g]=$(secs nsx m wg addconf "$IG" "$TMP/peers$n.conf")
	sleep 1
	measure "$n"
	if [ "$n" = 10000 ]; then
		got=$(nsx m wg show "$IC" peers | wc -l)
		c0=$(ticks "$PC"); g0=$(ticks "$PG")
		sleep "$IDLE"
		CPU[c]=$(( $(ticks "$PC") - c0 )); CPU[g]=$(( $(ticks "$PG") - g0 ))
	fi
	TR[$n-c]=$(secs nsx m wg setconf "$IC" "$TMP/none-c.conf")
	TR[$n-g]=$(secs nsx m wg setconf "$IG" "$TMP/none-g.conf")
done

echo "memory: RSS in MB (anonymous part in brackets), peers added with wg addconf"
printf '%-22s %16s %16s %8s\n' peers cloudroute wireguard-go ratio
for l in idle 1000 10000; do
	printf '%-22s %8s (%5s) %8s (%5s) %7sx\n' "$l" "$(mb "${R[$l-c]}")" "$(mb "${A[$l-c]}")" \
		"$(mb "${R[$l-g]}")" "$(mb "${A[$l-g]}")" \
		"$(python3 -c "print('%.2f' % (${R[$l-c]} / ${R[$l-g]}))")"
done
printf '%-22s %13s KB %13s KB\n' "per peer (slope)" \
	"$(python3 -c "print('%.2f' % ((${R[10000-c]} - ${R[idle-c]}) / 10000))")" \
	"$(python3 -c "print('%.2f' % ((${R[10000-g]} - ${R[idle-g]}) / 10000))")"
printf '%-22s %15s s %15s s\n' "add 10,000 peers" "${T[10000-c]}" "${T[10000-g]}"
printf '%-22s %15s s %15s s\n' "remove 10,000 peers" "${TR[10000-c]}" "${TR[10000-g]}"
hz=$(getconf CLK_TCK)
pct() { python3 -c "print('%.2f' % (100.0 * $1 / $hz / $IDLE))"; }
printf '%-22s %13s %% %14s %%   (CPU over %s s)\n' "idle, 10,000 peers" "$(pct "${CPU[c]}")" \
	"$(pct "${CPU[g]}")" "$IDLE"

# churn: RSS after each of five rounds of 10,000 in and out
start=$(rss "$PC"); line=""
for round in 1 2 3 4 5; do
	nsx m wg addconf "$IC" "$TMP/peers10000.conf"
	nsx m wg setconf "$IC" "$TMP/none-c.conf"
	line="$line $(mb "$(rss "$PC")")"
done
end=$(rss "$PC")
printf '%-22s %s MB -> %s MB (%s %%)\n' "churn 5 x 10,000" "$(mb "$start")" "$line" \
	"$(python3 -c "print('%+.1f' % (100.0 * ($end - $start) / $start))")"
[ "$got" = 10000 ] || echo "warning: cloudroute listed $got of 10000 peers"
