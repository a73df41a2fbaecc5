#!/bin/bash
# make bench, reload rows (issue 15: "adding or removing 10,000 peers
# through the UAPI or SIGHUP takes <= 1 s"): a cloudroute daemon (provider
# none) in a namespace; its config file is replaced by one with
# $RELOAD_PEERS (10,000) peers, each with an endpoint and its own /24 (a hub
# of branch routers), and the daemon gets
# SIGHUP; the time is until the tunnel has every peer and the kernel every
# route into the tunnel.  Then the peers are removed the same way.  RSS
# before, with the peers, and after, and its high-water mark (the reloads'
# transient peak: the new configuration's JSON tree beside the old
# configuration, and the device config; a host plan costs ~100 B a route,
# and the `wg show` below is streamed by the daemon in 64 KiB chunks).
# Not part of make check.
#   bash tests/bench/reload.sh
. "$(dirname "$0")/../lib/netns.sh"
N=${RELOAD_PEERS:-10000}

ns_new m || exit 1
ip link add lan0 netns "$P-m" type veth peer name lan1 netns "$P-m"
nsx m ip link set lan0 up
nsx m ip link set lan1 up
nsx m ip addr add 10.91.0.1/24 dev lan0
IC=${P}r
track_sock "$IC"
umask 077
wg genkey >"$TMP/k"
python3 - "$TMP" "$IC" "$N" <<'EOF'
import base64, json, os, sys
d, ic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
def conf(peers):
    return {"overlay": ["10.64.0.0/10"], "lan_interface": "lan0", "local_subnets": ["10.91.0.0/24"],
            "nat": {"masquerade": False, "mss_clamp": False},
            "tunnel": {"interface": ic, "private_key_file": d + "/k", "listen_port": 51820,
                       "address": ["10.64.0.1/10"], "mtu": 1420, "peers": peers},
            "cloud": {"provider": "none"}, "state_dir": d + "/state",
            "sysctl_file": d + "/sysctl.conf", "reconcile_interval": 3600}
peers = [{"name": "p%d" % i, "public_key": base64.b64encode(os.urandom(32)).decode(),
          "endpoint": "10.91.0.%d:%d" % (2 + i % 200, 20000 + i),
          "allowed_ips": ["10.%d.%d.0/24" % (128 + (i >> 8), i & 255)]} for i in range(n)]
json.dump(conf([]), open(d + "/none.json", "w"), indent=1)
json.dump(conf(peers), open(d + "/many.json", "w"), indent=1)
EOF
cp "$TMP/none.json" "$TMP/cr.json"
bg m "$CLOUDROUTE" -c "$TMP/cr.json" run >"$TMP/daemon.log" 2>&1
wait_for 10 test -S "/var/run/wireguard/$IC.sock" || { echo "cloudroute did not start"; exit 1; }
sleep 1
for p in $(ip netns pids "$P-m"); do [ "$(cat "/proc/$p/comm")" = cloudroute ] && PC=$p; done
[ -n "${PC:-}" ] || { echo "no cloudroute process"; exit 1; }
rss() { awk -v k="^${1:-VmRSS}" '$0 ~ k { printf "%.1f", $2 / 1024 }' "/proc/$PC/status"; }
peers() { nsx m wg show "$IC" peers | wc -l; }
routes() { nsx m ip route show dev "$IC" proto 117 2>/dev/null | wc -l; }
reload() { # reload FILE: seconds until peers and routes match $2
	local t0 t1 end
	cp "$1" "$TMP/cr.json"
	t0=$(date +%s.%N)
	kill -HUP "$PC"
	end=$((SECONDS + 120))
	until [ "$(peers)" -eq "$2" ] && [ "$(routes)" -eq "$2" ]; do
		[ $SECONDS -lt $end ] && kill -0 "$PC" 2>/dev/null || { echo "timeout"; return; }
		sleep 0.02
	done
	t1=$(date +%s.%N)
	python3 -c "print('%.2f' % ($t1 - $t0))"
}
r0=$(rss)
ta=$(reload "$TMP/many.json" "$N")
sleep 1; r1=$(rss)
tr=$(reload "$TMP/none.json" 0)
sleep 1; r2=$(rss); hwm=$(rss VmHWM)
echo "reload (SIGHUP, $N peers with a route each; target <= 1 s)"
printf '%-26s %8s s\n' "add $N peers" "$ta" "remove $N peers" "$tr"
printf '%-26s %8s MB -> %s MB -> %s MB\n' "RSS idle -> peers -> idle" "$r0" "$r1" "$r2"
printf '%-26s %8s MB\n' "RSS high-water mark" "$hwm"
grep -q "rejected" "$TMP/daemon.log" && { echo "the daemon rejected a configuration:"; grep rejected "$TMP/daemon.log"; }
finish >/dev/null
